/*
 * cuda_eltwise.c - broadcasting binary ops, unary maps and their
 * derivative, strided copies, fill and the Philox random ops (kernels in
 * cuda_kernels.cu). Shapes were inferred and checked by the core; these
 * check what a kernel relies on (dtypes, attributes) and launch.
 */
#include <string.h>

#include "cuda_ops.h"

/* ---- binary ops with NumPy broadcasting ----------------------------------- */

static strata_status cuda_binary(const strata_kernel_call *call, int fn)
{
    CUDA_OK(kc_check_f32_call(call, 2, 2, 1));
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    cuda_walk w;
    memset(&w, 0, sizeof w);
    w.ndim = Y->ndim;
    memcpy(w.shape, Y->shape, sizeof(int64_t) * (size_t)Y->ndim);
    if (!cuda_broadcast_strides(&w, 0, A) || !cuda_broadcast_strides(&w, 1, B))
        return kc_error(call, STRATA_E_SHAPE, "inputs do not broadcast to the output's shape");
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_binary(d->stream, fn, cuda_ptr(Y), cuda_ptr(A), cuda_ptr(B), strata_desc_numel(Y), &w));
    return STRATA_OK;
}

CUDA_KERNEL(add) { return cuda_binary(call, CUDA_ADD); }
CUDA_KERNEL(sub) { return cuda_binary(call, CUDA_SUB); }
CUDA_KERNEL(mul) { return cuda_binary(call, CUDA_MUL); }
CUDA_KERNEL(div) { return cuda_binary(call, CUDA_DIV); }

/* ---- unary maps ------------------------------------------------------------ */

typedef struct cuda_unary_params {
    double alpha, beta, exponent;
} cuda_unary_params;

static strata_status cuda_unary_params_of(const strata_kernel_call *call, int fn, cuda_unary_params *p)
{
    const strata_attr *at = call->attrs;
    int n = call->n_attrs;
    p->alpha = strata_attr_get_float(at, n, "alpha", fn == CUDA_LEAKY_RELU ? 0.01 : 1.0);
    p->beta = strata_attr_get_float(at, n, "beta", 0.0);
    p->exponent = strata_attr_get_float(at, n, "exponent", 1.0);
    if (fn == CUDA_POW && !strata_attr_find(at, n, "exponent"))
        return kc_error(call, STRATA_E_INVALID, "attr exponent is required");
    return STRATA_OK;
}

static strata_status cuda_unary(const strata_kernel_call *call, int fn)
{
    cuda_unary_params p;
    CUDA_OK(kc_check_f32_call(call, 1, 1, 1));
    CUDA_OK(cuda_unary_params_of(call, fn, &p));
    int64_t n = strata_desc_numel(&call->inputs[0]);
    if (strata_desc_numel(&call->outputs[0]) != n)
        return kc_error(call, STRATA_E_SHAPE, "output has %lld elements, input %lld",
                        (long long)strata_desc_numel(&call->outputs[0]), (long long)n);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_unary(d->stream, fn, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->inputs[0]), p.alpha, p.beta,
                          p.exponent, n));
    return STRATA_OK;
}

CUDA_KERNEL(neg) { return cuda_unary(call, CUDA_NEG); }
CUDA_KERNEL(exp) { return cuda_unary(call, CUDA_EXP); }
CUDA_KERNEL(log) { return cuda_unary(call, CUDA_LOG); }
CUDA_KERNEL(sqrt) { return cuda_unary(call, CUDA_SQRT); }
CUDA_KERNEL(abs) { return cuda_unary(call, CUDA_ABS); }
CUDA_KERNEL(relu) { return cuda_unary(call, CUDA_RELU); }
CUDA_KERNEL(leaky_relu) { return cuda_unary(call, CUDA_LEAKY_RELU); }
CUDA_KERNEL(sigmoid) { return cuda_unary(call, CUDA_SIGMOID); }
CUDA_KERNEL(tanh) { return cuda_unary(call, CUDA_TANH); }
CUDA_KERNEL(gelu) { return cuda_unary(call, CUDA_GELU); }
CUDA_KERNEL(pow) { return cuda_unary(call, CUDA_POW); }
CUDA_KERNEL(scale) { return cuda_unary(call, CUDA_SCALE); }

/* core::cast between f32, f16 and bf16 (cuda_fp16.h's and cuda_bf16.h's
 * round-to-nearest-even conversions). */
CUDA_KERNEL(cast)
{
    int64_t n;
    CUDA_OK(kc_check_cast(call, &n));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_cast(d->stream, call->inputs[0].dtype, call->outputs[0].dtype, cuda_ptr(&call->outputs[0]),
                         cuda_ptr(&call->inputs[0]), n));
    return STRATA_OK;
}

/* The fns eltwise_backward accepts (docs/ops.md). */
static const struct {
    const char *name;
    int fn;
} cuda_backward_fns[] = {
    {"exp", CUDA_EXP},   {"log", CUDA_LOG},         {"sqrt", CUDA_SQRT},    {"abs", CUDA_ABS},
    {"relu", CUDA_RELU}, {"leaky_relu", CUDA_LEAKY_RELU}, {"sigmoid", CUDA_SIGMOID}, {"tanh", CUDA_TANH},
    {"gelu", CUDA_GELU}, {"pow", CUDA_POW},
};

/* dx = dy * f'(x); inputs dy, x[, y] of one shape (y is not read). */
CUDA_KERNEL(eltwise_backward)
{
    CUDA_OK(kc_check_f32_call(call, 2, 3, 1));
    const char *name = kc_attr_string(call, "fn", NULL);
    if (!name)
        return strata_attr_find(call->attrs, call->n_attrs, "fn")
                   ? STRATA_E_INVALID
                   : kc_error(call, STRATA_E_INVALID, "attr fn (string) is required");
    int fn = -1;
    for (size_t k = 0; k < sizeof cuda_backward_fns / sizeof cuda_backward_fns[0]; k++)
        if (!strcmp(cuda_backward_fns[k].name, name))
            fn = cuda_backward_fns[k].fn;
    if (fn < 0)
        return kc_error(call, STRATA_E_INVALID,
                        "fn \"%s\" is not one of exp log sqrt abs relu leaky_relu sigmoid tanh gelu pow", name);
    cuda_unary_params p;
    CUDA_OK(cuda_unary_params_of(call, fn, &p));
    int64_t n = strata_desc_numel(&call->inputs[1]);
    if (strata_desc_numel(&call->inputs[0]) != n || strata_desc_numel(&call->outputs[0]) != n)
        return kc_error(call, STRATA_E_SHAPE, "dy, x and dx must have %lld elements each", (long long)n);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_unary_backward(d->stream, fn, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->inputs[0]),
                                   cuda_ptr(&call->inputs[1]), p.alpha, p.exponent, n));
    return STRATA_OK;
}

/* ---- copies ----------------------------------------------------------------- */

/* y = x, contiguous, from any view of x (STRATA_OP_STRIDED). */
CUDA_KERNEL(copy)
{
    CUDA_OK(kc_check_arity(call, 1, 1, 1));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    size_t esz = strata_dtype_size(X->dtype);
    if ((esz != 2 && esz != 4 && esz != 8) || Y->dtype != X->dtype)
        return kc_error(call, STRATA_E_DTYPE, "copies f32, f16, bf16, i32 and i64 tensors into the same dtype");
    int64_t n = strata_desc_numel(X);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    int contiguous = 1;
    int64_t expect = 1;
    for (int k = X->ndim - 1; k >= 0; k--) {
        if (X->shape[k] != 1 && X->strides[k] != expect)
            contiguous = 0;
        expect *= X->shape[k];
    }
    if (contiguous) {
        CUDA_TRY(cudaMemcpyAsync(cuda_ptr(Y), cuda_ptr(X), (size_t)n * esz, cudaMemcpyDeviceToDevice, d->stream));
        return STRATA_OK;
    }
    cuda_walk w;
    memset(&w, 0, sizeof w);
    w.ndim = X->ndim;
    memcpy(w.shape, X->shape, sizeof(int64_t) * (size_t)X->ndim);
    memcpy(w.stride[0], X->strides, sizeof(int64_t) * (size_t)X->ndim);
    CUDA_TRY(cuda_k_strided_copy(d->stream, cuda_ptr(Y), cuda_ptr(X), (int)esz, n, &w));
    return STRATA_OK;
}

/* ---- creation and random ------------------------------------------------- */

CUDA_KERNEL(fill)
{
    CUDA_OK(kc_check_arity(call, 0, 0, 1));
    const strata_tensor_desc *Y = &call->outputs[0];
    CUDA_OK(kc_check_shape_attr(call, "shape", Y));
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "value");
    int exact_int = a && a->kind == STRATA_ATTR_INT;
    double fv = !a ? 0.0 : exact_int ? (double)a->i : a->f;
    int64_t iv = !a ? 0 : exact_int ? a->i : (int64_t)a->f;
    int64_t n = strata_desc_numel(Y);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    switch (Y->dtype) {
    case STRATA_F32:
        CUDA_TRY(cuda_k_fill_f32(d->stream, cuda_ptr(Y), (float)fv, n));
        return STRATA_OK;
    case STRATA_I32:
        CUDA_TRY(cuda_k_fill_i32(d->stream, cuda_ptr(Y), (int32_t)iv, n));
        return STRATA_OK;
    case STRATA_I64:
        CUDA_TRY(cuda_k_fill_i64(d->stream, cuda_ptr(Y), iv, n));
        return STRATA_OK;
    default:
        return kc_error(call, STRATA_E_DTYPE, "cannot fill dtype %d; expected f32, i32 or i64", (int)Y->dtype);
    }
}

static void cuda_philox_attrs(const strata_kernel_call *call, uint64_t *seed, uint64_t *offset)
{
    *seed = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "seed", 0);
    *offset = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "offset", 0);
}

CUDA_KERNEL(uniform)
{
    CUDA_OK(kc_check_f32_call(call, 0, 0, 1));
    CUDA_OK(kc_check_shape_attr(call, "shape", &call->outputs[0]));
    double low = strata_attr_get_float(call->attrs, call->n_attrs, "low", 0.0);
    double high = strata_attr_get_float(call->attrs, call->n_attrs, "high", 1.0);
    uint64_t seed, offset;
    cuda_philox_attrs(call, &seed, &offset);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_uniform(d->stream, cuda_ptr(&call->outputs[0]), seed, offset, low, high,
                            strata_desc_numel(&call->outputs[0])));
    return STRATA_OK;
}

CUDA_KERNEL(normal)
{
    CUDA_OK(kc_check_f32_call(call, 0, 0, 1));
    CUDA_OK(kc_check_shape_attr(call, "shape", &call->outputs[0]));
    double mean = strata_attr_get_float(call->attrs, call->n_attrs, "mean", 0.0);
    double std = strata_attr_get_float(call->attrs, call->n_attrs, "std", 1.0);
    uint64_t seed, offset;
    cuda_philox_attrs(call, &seed, &offset);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_normal(d->stream, cuda_ptr(&call->outputs[0]), seed, offset, mean, std,
                           strata_desc_numel(&call->outputs[0])));
    return STRATA_OK;
}

/* keep_i = u_i >= p; mask_i = keep_i / (1 - p); y_i = x_i mask_i. */
CUDA_KERNEL(dropout)
{
    CUDA_OK(kc_check_f32_call(call, 1, 1, 2));
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p <= 1.0))
        return kc_error(call, STRATA_E_INVALID, "p %g is outside [0, 1]", p);
    double kept_scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    uint64_t seed, offset;
    cuda_philox_attrs(call, &seed, &offset);
    int64_t n = strata_desc_numel(&call->inputs[0]);
    if (strata_desc_numel(&call->outputs[0]) != n || strata_desc_numel(&call->outputs[1]) != n)
        return kc_error(call, STRATA_E_SHAPE, "y and mask must have x's %lld elements", (long long)n);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_dropout(d->stream, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->outputs[1]),
                            cuda_ptr(&call->inputs[0]), seed, offset, p, kept_scale, n));
    return STRATA_OK;
}

/* conv::dropout2d (the conv plugin's): x (N, C, ...) -> y, mask (N, C, 1, ...):
 * whole channels dropped, channel n C + c drawing element n C + c. */
CUDA_KERNEL(dropout2d)
{
    CUDA_OK(kc_check_f32_call(call, 1, 1, 2));
    const strata_tensor_desc *X = &call->inputs[0];
    if (X->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "x must be (N, C, ...)");
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p < 1.0))
        return kc_error(call, STRATA_E_INVALID, "p must be in [0, 1), got %g", p);
    int64_t NC = X->shape[0] * X->shape[1];
    int64_t S = NC ? strata_desc_numel(X) / NC : 0;
    uint64_t seed, offset;
    cuda_philox_attrs(call, &seed, &offset);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_dropout2d(d->stream, cuda_ptr(&call->outputs[0]), cuda_ptr(&call->outputs[1]), cuda_ptr(X), seed,
                              offset, p, 1.0 / (1.0 - p), NC, S));
    return STRATA_OK;
}
