/*
 * ocl_softmax.c - softmax and log_softmax along an axis and their
 * backward, cross-entropy over (N, C) logits and BCE with logits (forward
 * and backward), as the row kernels of softmax.cl. Reduced losses sum the
 * per-row (per-element) terms with the reduction of reduce.cl.
 */
#include "ocl_internal.h"

/* Work-group size for rows of @p n elements: a power of two <= 256. */
static size_t ocl_row_wg(const ocl_device *d, int64_t n)
{
    size_t max = d->max_wg < 256 ? d->max_wg : 256, wg = 1;
    while (wg * 2 <= max && (int64_t)wg < n)
        wg <<= 1;
    return wg;
}

/* (outer, n, inner) of a contiguous tensor around axis attr "axis" (-1). */
static strata_status ocl_rows(const strata_kernel_call *call, const strata_tensor_desc *X, int64_t *outer,
                              int64_t *n, int64_t *inner)
{
    int axis = 0;
    int64_t a = strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1);
    strata_status s = kc_axis(call, "axis", a, X->ndim ? X->ndim : 1, &axis); /* a scalar is one dim */
    if (s != STRATA_OK)
        return s;
    *outer = 1;
    *inner = 1;
    *n = X->ndim ? X->shape[axis] : 1;
    for (int d = 0; d < axis && d < X->ndim; d++)
        *outer *= X->shape[d];
    for (int d = axis + 1; d < X->ndim; d++)
        *inner *= X->shape[d];
    return STRATA_OK;
}

static strata_status ocl_softmax_fwd(const strata_kernel_call *call, int is_log)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    int64_t outer, n, inner;
    if (s == STRATA_OK)
        s = ocl_rows(call, &call->inputs[0], &outer, &n, &inner);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "output", strata_desc_numel(&call->inputs[0]));
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    if (!n)
        return STRATA_OK;
    cl_mem y = ocl_mem(&call->outputs[0]), x = ocl_mem(&call->inputs[0]);
    cl_long x_off = ocl_off(&call->inputs[0]), cn = n, cin = inner;
    cl_int lg = is_log;
    size_t wg = ocl_row_wg(d, n), global = (size_t)(outer * inner) * wg;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(cn), OCL_ARG(cin), OCL_ARG(lg)};
    return ocl_launch(call, d, OCL_K_softmax_rows, 1, &global, &wg, 6, args);
}

OCL_KERNEL(softmax) { return ocl_softmax_fwd(call, 0); }
OCL_KERNEL(log_softmax) { return ocl_softmax_fwd(call, 1); }

/* inputs dy, y (the forward output); output dx; attr axis. */
static strata_status ocl_softmax_bwd(const strata_kernel_call *call, int is_log)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    const strata_tensor_desc *DY = &call->inputs[0], *Y = &call->inputs[1], *DX = &call->outputs[0];
    int64_t outer, n, inner;
    if (s == STRATA_OK)
        s = ocl_rows(call, Y, &outer, &n, &inner);
    if (s == STRATA_OK)
        s = kc_check_numel(call, DY, "dy", strata_desc_numel(Y));
    if (s == STRATA_OK)
        s = kc_check_numel(call, DX, "dx", strata_desc_numel(Y));
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    if (!n)
        return STRATA_OK;
    cl_mem dx = ocl_mem(DX), dy = ocl_mem(DY), y = ocl_mem(Y);
    cl_long dy_off = ocl_off(DY), y_off = ocl_off(Y), cn = n, cin = inner;
    cl_int lg = is_log;
    size_t wg = ocl_row_wg(d, n), global = (size_t)(outer * inner) * wg;
    ocl_arg args[] = {OCL_ARG(dx),    OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(y),
                      OCL_ARG(y_off), OCL_ARG(cn), OCL_ARG(cin),    OCL_ARG(lg)};
    return ocl_launch(call, d, OCL_K_softmax_backward_rows, 1, &global, &wg, 8, args);
}

OCL_KERNEL(softmax_backward) { return ocl_softmax_bwd(call, 0); }
OCL_KERNEL(log_softmax_backward) { return ocl_softmax_bwd(call, 1); }

/* Sums @p n values of buffer @p v into Y[0] (times scale). */
static strata_status ocl_sum_into(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *Y, cl_mem v,
                                  int64_t n, float scale)
{
    int64_t rs[1] = {n}, rst[1] = {1};
    return ocl_reduce_launch(call, d, ocl_mem(Y), ocl_off(Y), v, 0, 1, 0, NULL, NULL, 1, rs, rst, scale);
}

OCL_KERNEL(cross_entropy)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 0, &mode, &N, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *L = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK ||
        (s = ocl_check_indices(call, d, T, C, "label", "row")) != STRATA_OK)
        return s;
    cl_mem rows = NULL;
    if (mode != KC_RED_NONE && (s = ocl_scratch(d, (size_t)N * sizeof(float), &rows)) != STRATA_OK)
        return s;
    cl_mem out = mode == KC_RED_NONE ? ocl_mem(Y) : rows, l = ocl_mem(L), t = ocl_mem(T);
    cl_long l_off = ocl_off(L), t_off = ocl_off(T), cc = C;
    cl_int is64 = T->dtype == STRATA_I64;
    size_t wg = ocl_row_wg(d, C), global = (size_t)N * wg;
    ocl_arg args[] = {OCL_ARG(out), OCL_ARG(l), OCL_ARG(l_off), OCL_ARG(t), OCL_ARG(t_off), OCL_ARG(is64), OCL_ARG(cc)};
    if (C > 0)
        s = ocl_launch(call, d, OCL_K_cross_entropy_rows, 1, &global, &wg, 7, args);
    if (s == STRATA_OK && mode != KC_RED_NONE)
        s = ocl_sum_into(call, d, Y, rows, N, mode == KC_RED_MEAN ? (float)(1.0 / (double)N) : 1.0f);
    if (rows)
        ocl_free(call->backend_self, call->device, rows);
    return s;
}

OCL_KERNEL(cross_entropy_backward)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 1, &mode, &N, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *L = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DL = &call->outputs[0];
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK ||
        (s = ocl_check_indices(call, d, T, C, "label", "row")) != STRATA_OK)
        return s;
    cl_mem dl = ocl_mem(DL), dy = ocl_mem(DY), l = ocl_mem(L), t = ocl_mem(T);
    cl_long dy_off = ocl_off(DY), l_off = ocl_off(L), t_off = ocl_off(T), cc = C;
    cl_int per_row = mode == KC_RED_NONE, is64 = T->dtype == STRATA_I64;
    cl_float scale = mode == KC_RED_MEAN ? (float)(1.0 / (double)N) : 1.0f;
    size_t wg = ocl_row_wg(d, C), global = (size_t)N * wg;
    ocl_arg args[] = {OCL_ARG(dl),    OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(per_row), OCL_ARG(l), OCL_ARG(l_off),
                      OCL_ARG(t),     OCL_ARG(t_off), OCL_ARG(is64), OCL_ARG(cc),     OCL_ARG(scale)};
    if (C == 0)
        return STRATA_OK;
    return ocl_launch(call, d, OCL_K_cross_entropy_backward_rows, 1, &global, &wg, 11, args);
}

OCL_KERNEL(bce_with_logits)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    int64_t n = strata_desc_numel(X);
    if ((s = kc_reduction_of(call, &mode)) != STRATA_OK || (s = kc_check_numel(call, T, "t", n)) != STRATA_OK ||
        (s = kc_check_numel(call, Y, "loss", mode == KC_RED_NONE ? n : 1)) != STRATA_OK)
        return s;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    cl_mem terms = NULL;
    if (mode != KC_RED_NONE && (s = ocl_scratch(d, (size_t)n * sizeof(float), &terms)) != STRATA_OK)
        return s;
    cl_mem out = mode == KC_RED_NONE ? ocl_mem(Y) : terms, x = ocl_mem(X), t = ocl_mem(T);
    cl_long x_off = ocl_off(X), t_off = ocl_off(T), nn = n;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(out), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(t), OCL_ARG(t_off), OCL_ARG(nn)};
    s = ocl_launch(call, d, OCL_K_bce_with_logits, 1, &g, NULL, 6, args);
    if (s == STRATA_OK && mode != KC_RED_NONE)
        s = ocl_sum_into(call, d, Y, terms, n, mode == KC_RED_MEAN ? (float)(1.0 / (double)n) : 1.0f);
    if (terms)
        ocl_free(call->backend_self, call->device, terms);
    return s;
}

OCL_KERNEL(bce_with_logits_backward)
{
    strata_status s = kc_check_f32_call(call, 3, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DX = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    int64_t n = strata_desc_numel(X);
    if ((s = kc_reduction_of(call, &mode)) != STRATA_OK || (s = kc_check_numel(call, T, "t", n)) != STRATA_OK ||
        (s = kc_check_numel(call, DX, "dx", n)) != STRATA_OK ||
        (s = kc_check_numel(call, DY, "dy", mode == KC_RED_NONE ? n : 1)) != STRATA_OK)
        return s;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    cl_mem dx = ocl_mem(DX), dy = ocl_mem(DY), x = ocl_mem(X), t = ocl_mem(T);
    cl_long dy_off = ocl_off(DY), x_off = ocl_off(X), t_off = ocl_off(T), nn = n;
    cl_int per = mode == KC_RED_NONE;
    cl_float scale = mode == KC_RED_MEAN ? (float)(1.0 / (double)n) : 1.0f;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(dx), OCL_ARG(dy),    OCL_ARG(dy_off), OCL_ARG(per), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(t), OCL_ARG(t_off),  OCL_ARG(nn),  OCL_ARG(scale)};
    return ocl_launch(call, d, OCL_K_bce_with_logits_backward, 1, &g, NULL, 10, args);
}
