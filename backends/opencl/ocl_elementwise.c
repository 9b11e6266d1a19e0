/*
 * ocl_elementwise.c - broadcasting binary ops, unary maps and their
 * derivative (core::eltwise_backward), as the kernels of elementwise.cl.
 * Arithmetic is f32 on the device (ref computes in double): add, sub and
 * mul give ref's bits; the maps agree within the conformance tolerance.
 */
#include <string.h>

#include "ocl_internal.h"

/* Op codes of elementwise.cl. */
enum { OCL_ADD, OCL_SUB, OCL_MUL, OCL_DIV };
enum {
    OCL_NEG,
    OCL_EXP,
    OCL_LOG,
    OCL_SQRT,
    OCL_ABS,
    OCL_RELU,
    OCL_LEAKY_RELU,
    OCL_SIGMOID,
    OCL_TANH,
    OCL_GELU,
    OCL_POW,
    OCL_SCALE
};

/* Broadcast shape of a and b into out (NumPy rules); 0 if they do not. */
static int ocl_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int *nd, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int64_t da = d - (n - na) >= 0 ? a[d - (n - na)] : 1;
        int64_t db = d - (n - nb) >= 0 ? b[d - (n - nb)] : 1;
        if (da != db && da != 1 && db != 1)
            return 0;
        out[d] = da == 1 ? db : da;
    }
    *nd = n;
    return 1;
}

/* Strides (in elements) that read a contiguous (nx, xs) tensor as if
 * broadcast to (nd, shape): 0 on stretched and missing dims. */
static void ocl_bcast_strides(int nd, const int64_t *shape, int nx, const int64_t *xs, cl_long *st)
{
    int64_t run = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int k = d - (nd - nx);
        if (k < 0) {
            st[d] = 0;
            continue;
        }
        st[d] = xs[k] == 1 && shape[d] != 1 ? 0 : run;
        run *= xs[k];
    }
}

static strata_status ocl_binary(const strata_kernel_call *call, int op)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    int nd = 0;
    int64_t shape[STRATA_MAX_DIMS];
    char sa[128], sb[128];
    if (!ocl_broadcast(A->ndim, A->shape, B->ndim, B->shape, &nd, shape))
        return kc_error(call, STRATA_E_SHAPE, "shapes %s and %s do not broadcast",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    int64_t n = strata_desc_numel(Y);
    int same = Y->ndim == nd;
    for (int d = 0; same && d < nd; d++)
        same = Y->shape[d] == shape[d];
    if (!same)
        return kc_error(call, STRATA_E_SHAPE, "output does not have the broadcast shape of %s and %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;

    cl_mem y = ocl_mem(Y), a = ocl_mem(A), b = ocl_mem(B);
    cl_long a_off = ocl_off(A), b_off = ocl_off(B), nn = n;
    cl_int cop = op;
    size_t g = (size_t)n;
    if (strata_desc_numel(A) == n && strata_desc_numel(B) == n) {
        ocl_arg args[] = {OCL_ARG(y), OCL_ARG(a), OCL_ARG(a_off), OCL_ARG(b), OCL_ARG(b_off), OCL_ARG(nn), OCL_ARG(cop)};
        return ocl_launch(call, d, OCL_K_binary_same, 1, &g, NULL, 7, args);
    }
    cl_long st_a[8] = {0}, st_b[8] = {0}, sh[8] = {0};
    ocl_bcast_strides(nd, shape, A->ndim, A->shape, st_a);
    ocl_bcast_strides(nd, shape, B->ndim, B->shape, st_b);
    for (int k = 0; k < nd; k++)
        sh[k] = shape[k];
    cl_long8 shape8 = ocl_long8(sh, nd), sa8 = ocl_long8(st_a, nd), sb8 = ocl_long8(st_b, nd);
    cl_int cnd = nd;
    ocl_arg args[] = {OCL_ARG(y),   OCL_ARG(a),      OCL_ARG(a_off), OCL_ARG(b),   OCL_ARG(b_off), OCL_ARG(nn),
                      OCL_ARG(cnd), OCL_ARG(shape8), OCL_ARG(sa8),   OCL_ARG(sb8), OCL_ARG(cop)};
    return ocl_launch(call, d, OCL_K_binary_bcast, 1, &g, NULL, 11, args);
}

OCL_KERNEL(add) { return ocl_binary(call, OCL_ADD); }
OCL_KERNEL(sub) { return ocl_binary(call, OCL_SUB); }
OCL_KERNEL(mul) { return ocl_binary(call, OCL_MUL); }
OCL_KERNEL(div) { return ocl_binary(call, OCL_DIV); }

/* The attributes a map reads: alpha (leaky_relu slope 0.01, scale 1), beta, exponent. */
static strata_status ocl_unary_params(const strata_kernel_call *call, int fn, cl_float *alpha, cl_float *beta,
                                      cl_float *expo)
{
    const strata_attr *at = call->attrs;
    int n = call->n_attrs;
    *alpha = (cl_float)strata_attr_get_float(at, n, "alpha", fn == OCL_LEAKY_RELU ? 0.01 : 1.0);
    *beta = (cl_float)strata_attr_get_float(at, n, "beta", 0.0);
    *expo = (cl_float)strata_attr_get_float(at, n, "exponent", 1.0);
    if (fn == OCL_POW && !strata_attr_find(at, n, "exponent"))
        return kc_error(call, STRATA_E_INVALID, "attr exponent is required");
    return STRATA_OK;
}

static strata_status ocl_unary(const strata_kernel_call *call, int fn)
{
    cl_float alpha, beta, expo;
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = ocl_unary_params(call, fn, &alpha, &beta, &expo);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "output", strata_desc_numel(&call->inputs[0]));
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem y = ocl_mem(&call->outputs[0]), x = ocl_mem(&call->inputs[0]);
    cl_long x_off = ocl_off(&call->inputs[0]), n = strata_desc_numel(&call->inputs[0]);
    cl_int cfn = fn;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y),   OCL_ARG(x),     OCL_ARG(x_off), OCL_ARG(n),
                      OCL_ARG(cfn), OCL_ARG(alpha), OCL_ARG(beta),  OCL_ARG(expo)};
    return ocl_launch(call, d, OCL_K_unary, 1, &g, NULL, 8, args);
}

OCL_KERNEL(neg) { return ocl_unary(call, OCL_NEG); }
OCL_KERNEL(exp) { return ocl_unary(call, OCL_EXP); }
OCL_KERNEL(log) { return ocl_unary(call, OCL_LOG); }
OCL_KERNEL(sqrt) { return ocl_unary(call, OCL_SQRT); }
OCL_KERNEL(abs) { return ocl_unary(call, OCL_ABS); }
OCL_KERNEL(relu) { return ocl_unary(call, OCL_RELU); }
OCL_KERNEL(leaky_relu) { return ocl_unary(call, OCL_LEAKY_RELU); }
OCL_KERNEL(sigmoid) { return ocl_unary(call, OCL_SIGMOID); }
OCL_KERNEL(tanh) { return ocl_unary(call, OCL_TANH); }
OCL_KERNEL(gelu) { return ocl_unary(call, OCL_GELU); }
OCL_KERNEL(pow) { return ocl_unary(call, OCL_POW); }
OCL_KERNEL(scale) { return ocl_unary(call, OCL_SCALE); }

/* core::cast between f32, f16 and bf16 (elementwise.cl's cast). */
OCL_KERNEL(cast)
{
    int64_t numel;
    strata_status s = kc_check_cast(call, &numel);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem y = ocl_mem(&call->outputs[0]), x = ocl_mem(&call->inputs[0]);
    cl_long x_off = ocl_off(&call->inputs[0]), n = numel;
    cl_int from = call->inputs[0].dtype, to = call->outputs[0].dtype;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(n), OCL_ARG(from), OCL_ARG(to)};
    return ocl_launch(call, d, OCL_K_cast, 1, &g, NULL, 6, args);
}

/* The fns eltwise_backward accepts (docs/ops.md). */
static const struct {
    const char *name;
    int fn;
} ocl_backward_fns[] = {
    {"exp", OCL_EXP},         {"log", OCL_LOG},         {"sqrt", OCL_SQRT}, {"abs", OCL_ABS},   {"relu", OCL_RELU},
    {"leaky_relu", OCL_LEAKY_RELU}, {"sigmoid", OCL_SIGMOID}, {"tanh", OCL_TANH}, {"gelu", OCL_GELU}, {"pow", OCL_POW},
};

/* dx = dy * f'(x); inputs dy, x[, y] of one shape (y is not read). */
OCL_KERNEL(eltwise_backward)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const char *name = kc_attr_string(call, "fn", NULL);
    if (!name)
        return strata_attr_find(call->attrs, call->n_attrs, "fn")
                   ? STRATA_E_INVALID
                   : kc_error(call, STRATA_E_INVALID, "attr fn (string) is required");
    int fn = -1;
    for (size_t k = 0; k < sizeof ocl_backward_fns / sizeof ocl_backward_fns[0]; k++)
        if (!strcmp(ocl_backward_fns[k].name, name))
            fn = ocl_backward_fns[k].fn;
    if (fn < 0)
        return kc_error(call, STRATA_E_INVALID,
                        "fn \"%s\" is not one of exp log sqrt abs relu leaky_relu sigmoid tanh gelu pow", name);
    cl_float alpha, beta, expo;
    int64_t n = strata_desc_numel(&call->inputs[1]);
    s = ocl_unary_params(call, fn, &alpha, &beta, &expo);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[0], "dy", n);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "dx", n);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem dx = ocl_mem(&call->outputs[0]), dy = ocl_mem(&call->inputs[0]), x = ocl_mem(&call->inputs[1]);
    cl_long dy_off = ocl_off(&call->inputs[0]), x_off = ocl_off(&call->inputs[1]), nn = n;
    cl_int cfn = fn;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(dx), OCL_ARG(dy),  OCL_ARG(dy_off), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(nn), OCL_ARG(cfn),  OCL_ARG(alpha), OCL_ARG(expo)};
    return ocl_launch(call, d, OCL_K_unary_backward, 1, &g, NULL, 9, args);
}
