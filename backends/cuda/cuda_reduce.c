/*
 * cuda_reduce.c - sum, mean, max (and its gradient), argmax, sum_to_shape
 * and the softmax family on the device. The core inferred and checked the
 * output shapes; a reduction is planned as in ref (kept dims = one group
 * per output element, reduced dims = the group) and run by cuda_run_reduce.
 */
#include "cuda_ops.h"

/* Chunks per group for cuda_k_reduce_split: about 4096 elements each, for
 * sums and means of at most 64 groups of 16384 or more; 0: one block per
 * group (cuda_k_reduce). A whole-tensor sum (gradient clipping's norms)
 * otherwise runs on one block of the GPU. */
static int64_t reduce_parts(int fn, int64_t n_out, int64_t n_red)
{
    if (fn == CUDA_RED_MAX || n_out > 64 || n_red < 16384)
        return 0;
    const int64_t parts = n_red / 4096;
    return parts > 1024 ? 1024 : parts;
}

strata_status cuda_run_reduce(cuda_device *d, int fn, float *y, const float *x, int64_t n_out, int64_t n_red,
                              const cuda_walk *kept, const cuda_walk *red)
{
    const int64_t parts = reduce_parts(fn, n_out, n_red);
    if (!parts) {
        CUDA_TRY(cuda_k_reduce(d->stream, fn, y, x, n_out, n_red, kept, red));
        return STRATA_OK;
    }
    double *part = NULL;
    if (cuda_temp_alloc(d, sizeof(double) * (size_t)(n_out * parts), (void **)&part) != STRATA_OK) {
        /* no room for the parts: one block per group, slower but in place */
        CUDA_TRY(cuda_k_reduce(d->stream, fn, y, x, n_out, n_red, kept, red));
        return STRATA_OK;
    }
    cudaError_t e = cuda_k_reduce_split(d->stream, fn, y, x, n_out, n_red, kept, red, part, parts);
    cuda_temp_free(d, part); /* in stream order: reused only by later work */
    if (e != cudaSuccess)
        return cuda_fail_rt(e, "cuda_k_reduce_split(...)", __FILE__, __LINE__);
    return STRATA_OK;
}

static strata_status cuda_reduce(const strata_kernel_call *call, int fn)
{
    CUDA_OK(kc_check_f32_call(call, 1, 1, 1));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    int mask[STRATA_MAX_DIMS];
    CUDA_OK(kc_axes_mask(call, X->ndim, mask));
    cuda_walk kept, red;
    int64_t n_out = 0, n_red = 0;
    cuda_reduction_plan(X, mask, &kept, &n_out, &red, &n_red);
    if (strata_desc_numel(Y) != n_out)
        return kc_error(call, STRATA_E_SHAPE, "output has %lld elements; the reduction gives %lld",
                        (long long)strata_desc_numel(Y), (long long)n_out);
    if (fn == CUDA_RED_MAX && n_red == 0 && n_out > 0)
        return kc_error(call, STRATA_E_INVALID, "max over zero elements");
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    return cuda_run_reduce(d, fn, cuda_ptr(Y), cuda_ptr(X), n_out, n_red, &kept, &red);
}

CUDA_KERNEL(sum) { return cuda_reduce(call, CUDA_RED_SUM); }
CUDA_KERNEL(mean) { return cuda_reduce(call, CUDA_RED_MEAN); }
CUDA_KERNEL(max) { return cuda_reduce(call, CUDA_RED_MAX); }

/* y (i64) = index along attr axis (-1) of the first maximum. */
CUDA_KERNEL(argmax)
{
    CUDA_OK(kc_check_arity(call, 1, 1, 1));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (X->dtype != STRATA_F32 || Y->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "argmax reads f32 and gives i64");
    int axis = 0;
    CUDA_OK(kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis));
    int mask[STRATA_MAX_DIMS] = {0};
    mask[axis] = 1;
    cuda_walk kept, red;
    int64_t n_out = 0, n_red = 0;
    cuda_reduction_plan(X, mask, &kept, &n_out, &red, &n_red);
    if (n_red == 0 && n_out > 0)
        return kc_error(call, STRATA_E_INVALID, "argmax over zero elements");
    if (strata_desc_numel(Y) != n_out)
        return kc_error(call, STRATA_E_SHAPE, "output has %lld elements; expected %lld",
                        (long long)strata_desc_numel(Y), (long long)n_out);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_argmax(d->stream, cuda_ptr(Y), cuda_ptr(X), n_out, n_red, &kept, &red));
    return STRATA_OK;
}

/* dx = dy at the first maximal element of each reduced group of x, else 0. */
CUDA_KERNEL(max_backward)
{
    CUDA_OK(kc_check_f32_call(call, 2, 3, 1));
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DX = &call->outputs[0];
    int mask[STRATA_MAX_DIMS];
    CUDA_OK(kc_axes_mask(call, X->ndim, mask));
    cuda_walk kept, red;
    int64_t n_out = 0, n_red = 0;
    cuda_reduction_plan(X, mask, &kept, &n_out, &red, &n_red);
    if (strata_desc_numel(DY) != n_out || strata_desc_numel(DX) != strata_desc_numel(X))
        return kc_error(call, STRATA_E_SHAPE, "dy must have %lld elements and dx x's shape", (long long)n_out);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_max_backward(d->stream, cuda_ptr(DX), cuda_ptr(DY), cuda_ptr(X), strata_desc_numel(X), n_out,
                                 n_red, &kept, &red));
    return STRATA_OK;
}

/* y = x summed down to attr shape (else the output's shape): dims missing
 * from it, or 1 in it, are summed. */
CUDA_KERNEL(sum_to_shape)
{
    int mask[STRATA_MAX_DIMS];
    CUDA_OK(kc_check_sum_to_shape(call, mask));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    cuda_walk kept, red;
    int64_t n_out = 0, n_red = 0;
    cuda_reduction_plan(X, mask, &kept, &n_out, &red, &n_red);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_OK(cuda_run_reduce(d, CUDA_RED_SUM, cuda_ptr(Y), cuda_ptr(X), n_out, n_red, &kept, &red));
    return STRATA_OK;
}

/* ---- softmax ---------------------------------------------------------------- */

/* Arity, f32, attr axis (-1), same numel everywhere; the (outer, n, inner) split. */
static strata_status cuda_softmax_setup(const strata_kernel_call *call, int n_in, int64_t *outer, int64_t *n,
                                        int64_t *inner)
{
    CUDA_OK(kc_check_f32_call(call, n_in, n_in, 1));
    const strata_tensor_desc *X = &call->inputs[n_in - 1];
    int axis = 0;
    CUDA_OK(kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis));
    int64_t numel = strata_desc_numel(X);
    for (int k = 0; k < n_in; k++)
        if (strata_desc_numel(&call->inputs[k]) != numel)
            return kc_error(call, STRATA_E_SHAPE, "inputs differ in size");
    if (strata_desc_numel(&call->outputs[0]) != numel)
        return kc_error(call, STRATA_E_SHAPE, "output differs in size from the input");
    *outer = 1;
    *n = X->shape[axis];
    *inner = 1;
    for (int k = 0; k < axis; k++)
        *outer *= X->shape[k];
    for (int k = axis + 1; k < X->ndim; k++)
        *inner *= X->shape[k];
    return STRATA_OK;
}

static strata_status cuda_softmax_forward(const strata_kernel_call *call, int log_space)
{
    int64_t outer = 0, n = 0, inner = 0;
    CUDA_OK(cuda_softmax_setup(call, 1, &outer, &n, &inner));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_softmax(d->stream, log_space, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->inputs[0]), outer, n,
                            inner));
    return STRATA_OK;
}

static strata_status cuda_softmax_backward_impl(const strata_kernel_call *call, int log_space)
{
    int64_t outer = 0, n = 0, inner = 0;
    CUDA_OK(cuda_softmax_setup(call, 2, &outer, &n, &inner));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_softmax_backward(d->stream, log_space, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->inputs[0]),
                                     cuda_ptr(&call->inputs[1]), outer, n, inner));
    return STRATA_OK;
}

CUDA_KERNEL(softmax) { return cuda_softmax_forward(call, 0); }
CUDA_KERNEL(log_softmax) { return cuda_softmax_forward(call, 1); }
CUDA_KERNEL(softmax_backward) { return cuda_softmax_backward_impl(call, 0); }
CUDA_KERNEL(log_softmax_backward) { return cuda_softmax_backward_impl(call, 1); }
