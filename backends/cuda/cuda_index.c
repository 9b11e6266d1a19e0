/*
 * cuda_index.c - the data-movement and index ops beyond copy: concat,
 * slice_backward, gather (torch.gather) with its scatter-add gradient, and
 * one_hot. The calls are checked as ref's (backends/common/kcall.c);
 * out-of-range indices are errors, reported as cuda_loss.c does.
 */
#include <limits.h>
#include <string.h>

#include "cuda_ops.h"

/* y = x0, x1, ... joined along attr axis (0): input k is (outer, n_k inner)
 * rows landing at column offset at_k of y's (outer, total inner) rows. */
CUDA_KERNEL(concat)
{
    if (call->n_inputs < 1 || call->n_outputs != 1)
        return kc_error(call, STRATA_E_INVALID, "expected at least 1 input and 1 output");
    const strata_tensor_desc *Y = &call->outputs[0];
    size_t es = strata_dtype_size(Y->dtype);
    int axis = 0;
    CUDA_OK(kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", 0), Y->ndim, &axis));
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= Y->shape[k];
    for (int k = axis + 1; k < Y->ndim; k++)
        inner *= Y->shape[k];
    int64_t total = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        const strata_tensor_desc *X = &call->inputs[k];
        if (X->dtype != Y->dtype || (es != 4 && es != 8) || X->ndim != Y->ndim)
            return kc_error(call, STRATA_E_DTYPE, "input %d does not match the output's dtype and rank", k);
        total += X->shape[axis];
    }
    if (total != Y->shape[axis])
        return kc_error(call, STRATA_E_SHAPE, "inputs add up to %lld along axis %d; output has %lld",
                        (long long)total, axis, (long long)Y->shape[axis]);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    char *y = cuda_ptr(Y);
    size_t pitch = (size_t)(total * inner) * es;
    int64_t at = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        int64_t nk = call->inputs[k].shape[axis];
        size_t width = (size_t)(nk * inner) * es;
        char *dst = y + (size_t)(at * inner) * es;
        const char *src = cuda_ptr(&call->inputs[k]);
        if (width > 0 && outer > 0 && (outer == 1 || pitch > (size_t)INT_MAX)) {
            /* one row, or rows longer than a 2-D copy's pitch may be (cudaDevAttrMaxPitch: 2^31 - 1 bytes on
             * current GPUs): a plain copy per row */
            for (int64_t r = 0; r < outer; r++)
                CUDA_TRY(cudaMemcpyAsync(dst + (size_t)r * pitch, src + (size_t)r * width, width,
                                         cudaMemcpyDeviceToDevice, d->stream));
        } else if (width > 0 && outer > 0) {
            CUDA_TRY(cudaMemcpy2DAsync(dst, pitch, src, width, width, (size_t)outer, cudaMemcpyDeviceToDevice,
                                       d->stream));
        }
        at += nk;
    }
    return STRATA_OK;
}

/* dx = zeros of dx's shape with dy placed where x[.., start:end:step, ..]
 * (Python slicing, clamped) read along attr axis. */
CUDA_KERNEL(slice_backward)
{
    kc_slice sl;
    CUDA_OK(kc_check_slice_backward(call, &sl));
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    const int axis = sl.axis;
    const int64_t n = sl.n, start = sl.start, step = sl.step, count = sl.count;
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= DX->shape[k];
    for (int k = axis + 1; k < DX->ndim; k++)
        inner *= DX->shape[k];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    int64_t nx = strata_desc_numel(DX);
    if (nx == 0)
        return STRATA_OK;
    CUDA_TRY(cudaMemsetAsync(cuda_ptr(DX), 0, (size_t)nx * sizeof(float), d->stream));
    /* dy (outer, count, inner) lands at dx + start inner with strides (n inner, step inner, 1) */
    cuda_walk w;
    memset(&w, 0, sizeof w);
    w.ndim = 3;
    w.shape[0] = outer, w.shape[1] = count, w.shape[2] = inner;
    /* one row never steps: a huge step (x[1::2**63-1]) times inner overflowed */
    w.stride[0][0] = n * inner, w.stride[0][1] = (count > 1 ? step : 1) * inner, w.stride[0][2] = 1;
    CUDA_TRY(cuda_k_strided_scatter(d->stream, (float *)cuda_ptr(DX) + start * inner, cuda_ptr(DY), 4,
                                    outer * count * inner, &w));
    return STRATA_OK;
}

/* The walk of torch.gather over idx's shape into x (x_ndim, x_shape),
 * after kc_check_gather: x's strides with 0 along @p axis; *axis_stride is
 * x's stride along it. */
static void cuda_gather_plan(int x_ndim, const int64_t *x_shape, const strata_tensor_desc *IDX, int axis,
                             cuda_walk *w, int64_t *axis_stride)
{
    memset(w, 0, sizeof *w);
    w->ndim = x_ndim;
    int64_t s = 1;
    for (int k = x_ndim - 1; k >= 0; k--) {
        w->shape[k] = IDX->shape[k];
        w->stride[0][k] = k == axis ? 0 : s;
        if (k == axis)
            *axis_stride = s;
        s *= x_shape[k];
    }
}

CUDA_KERNEL(gather)
{
    int axis = 0;
    CUDA_OK(kc_check_gather(call, 0, &axis));
    const strata_tensor_desc *X = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    int64_t axis_stride = 0, n = strata_desc_numel(IDX);
    cuda_walk w;
    cuda_gather_plan(X->ndim, X->shape, IDX, axis, &w, &axis_stride);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    cudaError_t e = cuda_k_gather(d->stream, cuda_ptr(Y), cuda_ptr(X), cuda_ptr(IDX), IDX->dtype == STRATA_I64, n,
                                  axis_stride, X->shape[axis], &w, bad);
    if (e != cudaSuccess) {
        cuda_temp_free(d, bad);
        return cuda_fail_rt(e, "cuda_k_gather(...)", __FILE__, __LINE__);
    }
    return cuda_bad_check(call, d, bad, IDX, X->shape[axis], "index", "position");
}

CUDA_KERNEL(gather_backward)
{
    int axis = 0;
    CUDA_OK(kc_check_gather(call, 1, &axis));
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DX = &call->outputs[0];
    int64_t axis_stride = 0, n = strata_desc_numel(IDX), nx = strata_desc_numel(DX);
    cuda_walk w;
    cuda_gather_plan(DX->ndim, DX->shape, IDX, axis, &w, &axis_stride);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    void *acc = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    strata_status s = cuda_temp_alloc(d, (size_t)nx * sizeof(double), &acc);
    if (s == STRATA_OK) {
        cudaError_t e = cuda_k_gather_backward(d->stream, cuda_ptr(DX), acc, cuda_ptr(DY), cuda_ptr(IDX),
                                               IDX->dtype == STRATA_I64, n, nx, axis_stride, DX->shape[axis], &w, bad);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_gather_backward(...)", __FILE__, __LINE__);
    }
    cuda_temp_free(d, acc);
    if (s != STRATA_OK) {
        cuda_temp_free(d, bad);
        return s;
    }
    return cuda_bad_check(call, d, bad, IDX, DX->shape[axis], "index", "position");
}

/* y[p, c] = (c == idx[p]); idx (P) (any shape), y (P, C) f32. */
CUDA_KERNEL(one_hot)
{
    int64_t P = 0, C = 0;
    CUDA_OK(kc_check_one_hot(call, &P, &C));
    const strata_tensor_desc *IDX = &call->inputs[0], *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    cudaError_t e = cuda_k_one_hot(d->stream, cuda_ptr(Y), cuda_ptr(IDX), IDX->dtype == STRATA_I64, P, C, bad);
    if (e != cudaSuccess) {
        cuda_temp_free(d, bad);
        return cuda_fail_rt(e, "cuda_k_one_hot(...)", __FILE__, __LINE__);
    }
    return cuda_bad_check(call, d, bad, IDX, C, "index", "position");
}
