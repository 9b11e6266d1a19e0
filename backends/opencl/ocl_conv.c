/*
 * ocl_conv.c - the conv plugin's ops on the kernels of conv.cl: convolution
 * (forward, data and weight gradients; conv_transpose2d is the data
 * gradient's map with the roles of input and output swapped), max and
 * average pooling with their backward, and global average pooling (the
 * reduction of reduce.cl). Registered by name: they resolve when the conv
 * plugin loads. The plugin's shape inference has already checked the
 * geometry (docs/conv.md), so kernels check only what they rely on.
 *
 * A convolution runs as im2col + the GEMM (ocl_conv_gemm.c) where
 * ocl_conv_gemm_chunk says so, else as the direct kernels of conv.cl (one
 * item per output, or per weight for the weight gradient): groups > 1,
 * layers of a few thousand multiply-adds, one image's columns past the
 * scratch bound, and everything under STRATA_OPENCL_DIRECT_CONV=1
 * (STRATA_OPENCL_DIRECT_CONV=0 sends every layer it can to the GEMM).
 */
#include <string.h>

#include "ocl_internal.h"

/* Attr @p name as (height, width): an int, or a list of one or two ints. */
static strata_status ocl_attr_pair(const strata_kernel_call *call, const char *name, int64_t dflt, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    out[0] = out[1] = dflt;
    if (!a)
        return STRATA_OK;
    if (a->kind == STRATA_ATTR_INT) {
        out[0] = out[1] = a->i;
        return STRATA_OK;
    }
    if (a->kind == STRATA_ATTR_INTS && a->n <= 2) {
        if (a->n >= 1)
            out[0] = out[1] = a->ints[0];
        if (a->n == 2)
            out[1] = a->ints[1];
        return STRATA_OK;
    }
    return kc_error(call, STRATA_E_INVALID, "'%s' must be an integer or a list of two integers", name);
}

static strata_status ocl_rank4(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->ndim != 4 || d->dtype != STRATA_F32) {
        char b[128];
        return kc_error(call, STRATA_E_SHAPE, "%s must be f32 (N, C, H, W), got %s", what,
                        kc_shape_str(b, sizeof b, d->ndim, d->shape));
    }
    return STRATA_OK;
}

static strata_status ocl_conv_attrs(const strata_kernel_call *call, ocl_conv_geom *g)
{
    strata_status st;
    if ((st = ocl_attr_pair(call, "stride", 1, g->s)) || (st = ocl_attr_pair(call, "padding", 0, g->p)) ||
        (st = ocl_attr_pair(call, "dilation", 1, g->d)))
        return st;
    g->groups = strata_attr_get_int(call->attrs, call->n_attrs, "groups", 1);
    if (g->s[0] < 1 || g->s[1] < 1 || g->d[0] < 1 || g->d[1] < 1 || g->p[0] < 0 || g->p[1] < 0 || g->groups < 1)
        return kc_error(call, STRATA_E_INVALID, "stride and dilation must be positive, padding not negative");
    return STRATA_OK;
}

/* The checks every convolution kernel starts with: arity (2 inputs, or up
 * to @p max_in with a bias), f32, rank 4 for the three tensors named in
 * that order, and the attributes into @p g. */
static strata_status ocl_conv_check(const strata_kernel_call *call, int max_in, const strata_tensor_desc *a,
                                    const char *an, const strata_tensor_desc *b, const char *bn,
                                    const strata_tensor_desc *c, const char *cn, ocl_conv_geom *g)
{
    strata_status s = kc_check_f32_call(call, 2, max_in, 1);
    if (s == STRATA_OK && !(s = ocl_rank4(call, a, an)) && !(s = ocl_rank4(call, b, bn)))
        s = ocl_rank4(call, c, cn);
    return s == STRATA_OK ? ocl_conv_attrs(call, g) : s;
}

strata_status ocl_conv_pack(const strata_kernel_call *call, const ocl_conv_geom *g, cl_long16 *out)
{
    if (g->C % g->groups || g->OC % g->groups)
        return kc_error(call, STRATA_E_SHAPE, "channels %lld and %lld are not divisible by groups %lld",
                        (long long)g->C, (long long)g->OC, (long long)g->groups);
    const int64_t v[16] = {g->N,    g->C,    g->H,    g->W,    g->OC,   g->KH,   g->KW,   g->OH,
                           g->OW,   g->s[0], g->s[1], g->p[0], g->p[1], g->d[0], g->d[1], g->groups};
    memset(out, 0, sizeof *out);
    for (int k = 0; k < 16; k++)
        out->s[k] = v[k];
    return STRATA_OK;
}

/* The data-gradient kernel over dx-like output Y from dy-like input D and
 * weight Wt (with optional bias). */
static strata_status ocl_conv_bwd_data_launch(const strata_kernel_call *call, const ocl_conv_geom *g,
                                              const strata_tensor_desc *Y, const strata_tensor_desc *D,
                                              const strata_tensor_desc *Wt, const strata_tensor_desc *B)
{
    cl_long16 geom;
    strata_status s = ocl_conv_pack(call, g, &geom);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    int64_t chunk = ocl_conv_gemm_chunk(d, g, 0);
    if (chunk > 0)
        return ocl_conv_gemm_backward_data(call, d, g, chunk, Y, D, Wt, B);
    cl_mem y = ocl_mem(Y), dy = ocl_mem(D), w = ocl_mem(Wt), b = B ? ocl_mem(B) : NULL;
    cl_long dy_off = ocl_off(D), w_off = ocl_off(Wt), b_off = B ? ocl_off(B) : 0;
    cl_int has_bias = B != NULL;
    size_t global = (size_t)(g->N * g->C * g->H * g->W);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(w), OCL_ARG(w_off),
                      OCL_ARG(b), OCL_ARG(b_off), OCL_ARG(has_bias), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_conv2d_bwd_data, 1, &global, NULL, 9, args);
}

OCL_KERNEL(conv2d)
{
    const strata_tensor_desc *X = &call->inputs[0], *Wt = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *B = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    ocl_conv_geom g;
    strata_status s = ocl_conv_check(call, 3, X, "x", Wt, "w", Y, "y", &g);
    if (s != STRATA_OK)
        return s;
    g.N = X->shape[0], g.C = X->shape[1], g.H = X->shape[2], g.W = X->shape[3];
    g.OC = Wt->shape[0], g.KH = Wt->shape[2], g.KW = Wt->shape[3], g.OH = Y->shape[2], g.OW = Y->shape[3];
    if (Wt->shape[1] * g.groups != g.C || Y->shape[1] != g.OC || Y->shape[0] != g.N)
        return kc_error(call, STRATA_E_SHAPE, "x, w and y do not agree");
    cl_long16 geom;
    ocl_device *d = NULL;
    if ((s = ocl_conv_pack(call, &g, &geom)) || (s = ocl_call_device(call, &d)))
        return s;
    int64_t chunk = ocl_conv_gemm_chunk(d, &g, 0);
    if (chunk > 0)
        return ocl_conv_gemm_forward(call, d, &g, chunk, Y, X, Wt, B);
    cl_mem y = ocl_mem(Y), x = ocl_mem(X), w = ocl_mem(Wt), b = B ? ocl_mem(B) : NULL;
    cl_long x_off = ocl_off(X), w_off = ocl_off(Wt), b_off = B ? ocl_off(B) : 0;
    cl_int has_bias = B != NULL;
    size_t global = (size_t)strata_desc_numel(Y);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(w), OCL_ARG(w_off),
                      OCL_ARG(b), OCL_ARG(b_off), OCL_ARG(has_bias), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_conv2d_fwd, 1, &global, NULL, 9, args);
}

/* dx (N, C, H, W) from dy (N, OC, OH, OW) and w (OC, C/groups, KH, KW). */
OCL_KERNEL(conv2d_backward_data)
{
    const strata_tensor_desc *DY = &call->inputs[0], *Wt = &call->inputs[1], *DX = &call->outputs[0];
    ocl_conv_geom g;
    strata_status s = ocl_conv_check(call, 2, DY, "dy", Wt, "w", DX, "dx", &g);
    if (s != STRATA_OK)
        return s;
    g.N = DX->shape[0], g.C = DX->shape[1], g.H = DX->shape[2], g.W = DX->shape[3];
    g.OC = Wt->shape[0], g.KH = Wt->shape[2], g.KW = Wt->shape[3], g.OH = DY->shape[2], g.OW = DY->shape[3];
    if (Wt->shape[1] * g.groups != g.C || DY->shape[1] != g.OC || DY->shape[0] != g.N)
        return kc_error(call, STRATA_E_SHAPE, "dy, w and dx do not agree");
    return ocl_conv_bwd_data_launch(call, &g, DX, DY, Wt, NULL);
}

/* dw (OC, C/groups, KH, KW) from dy (N, OC, OH, OW) and x (N, C, H, W). */
OCL_KERNEL(conv2d_backward_weight)
{
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DW = &call->outputs[0];
    ocl_conv_geom g;
    strata_status s = ocl_conv_check(call, 2, DY, "dy", X, "x", DW, "dw", &g);
    if (s != STRATA_OK)
        return s;
    g.N = X->shape[0], g.C = X->shape[1], g.H = X->shape[2], g.W = X->shape[3];
    g.OC = DW->shape[0], g.KH = DW->shape[2], g.KW = DW->shape[3], g.OH = DY->shape[2], g.OW = DY->shape[3];
    if (DW->shape[1] * g.groups != g.C || DY->shape[1] != g.OC || DY->shape[0] != g.N)
        return kc_error(call, STRATA_E_SHAPE, "dy, x and dw do not agree");
    cl_long16 geom;
    ocl_device *d = NULL;
    if ((s = ocl_conv_pack(call, &g, &geom)) || (s = ocl_call_device(call, &d)))
        return s;
    int64_t chunk = ocl_conv_gemm_chunk(d, &g, 1);
    if (chunk > 0)
        return ocl_conv_gemm_backward_weight(call, d, &g, chunk, DW, DY, X);
    int64_t terms = g.N * g.OH; /* rows the group's items share */
    size_t wg = 1, max = d->max_wg < 256 ? d->max_wg : 256;
    while (wg * 2 <= max && (int64_t)wg < terms)
        wg <<= 1;
    cl_mem dw = ocl_mem(DW), dy = ocl_mem(DY), x = ocl_mem(X);
    cl_long dy_off = ocl_off(DY), x_off = ocl_off(X);
    size_t global = (size_t)strata_desc_numel(DW) * wg;
    ocl_arg args[] = {OCL_ARG(dw), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_conv2d_bwd_weight, 1, &global, &wg, 6, args);
}

/* y (N, OC, OH, OW) = the adjoint of conv2d: x (N, C_in, H, W) read as the
 * data gradient's dy, w (C_in, OC/groups, KH, KW) as its weight. */
OCL_KERNEL(conv_transpose2d)
{
    const strata_tensor_desc *X = &call->inputs[0], *Wt = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *B = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    ocl_conv_geom g;
    strata_status s = ocl_conv_check(call, 3, X, "x", Wt, "w", Y, "y", &g);
    if (s != STRATA_OK)
        return s;
    /* in the data gradient's terms: "dx" = y, "dy" = x */
    g.N = Y->shape[0], g.C = Y->shape[1], g.H = Y->shape[2], g.W = Y->shape[3];
    g.OC = X->shape[1], g.KH = Wt->shape[2], g.KW = Wt->shape[3], g.OH = X->shape[2], g.OW = X->shape[3];
    if (Wt->shape[0] != g.OC || Wt->shape[1] * g.groups != g.C || X->shape[0] != g.N)
        return kc_error(call, STRATA_E_SHAPE, "x, w and y do not agree");
    return ocl_conv_bwd_data_launch(call, &g, Y, X, Wt, B);
}

/* ---- pooling --------------------------------------------------------------- */

/* Pooling geometry of x (N, C, H, W) and y (N, C, OH, OW), packed:
 * NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw, count_include_pad. */
static strata_status ocl_pool_geom(const strata_kernel_call *call, const strata_tensor_desc *x,
                                   const strata_tensor_desc *y, cl_long16 *out)
{
    int64_t k[2], s[2], p[2];
    strata_status st;
    if ((st = ocl_attr_pair(call, "kernel_size", -1, k)) || (st = ocl_attr_pair(call, "stride", -1, s)) ||
        (st = ocl_attr_pair(call, "padding", 0, p)))
        return st;
    const strata_attr *sa = strata_attr_find(call->attrs, call->n_attrs, "stride");
    if (!sa || (sa->kind == STRATA_ATTR_INTS && sa->n == 0))
        s[0] = k[0], s[1] = k[1];
    const int64_t H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || p[0] < 0 || p[1] < 0 || 2 * p[0] > k[0] || 2 * p[1] > k[1] ||
        H + 2 * p[0] < k[0] || W + 2 * p[1] < k[1] || OH != (H + 2 * p[0] - k[0]) / s[0] + 1 ||
        OW != (W + 2 * p[1] - k[1]) / s[1] + 1 || x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1])
        return kc_error(call, STRATA_E_SHAPE, "the window attributes do not map the input onto the output");
    const int64_t v[12] = {x->shape[0] * x->shape[1], H, W, OH, OW, k[0], k[1], s[0], s[1], p[0], p[1],
                           strata_attr_get_int(call->attrs, call->n_attrs, "count_include_pad", 1) != 0};
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 12; i++)
        out->s[i] = v[i];
    return STRATA_OK;
}

OCL_KERNEL(max_pool2d)
{
    strata_status s = kc_check_arity(call, 1, 1, 2);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0], *I = &call->outputs[1];
    cl_long16 geom;
    if (s == STRATA_OK && !(s = ocl_rank4(call, X, "x")) && !(s = ocl_rank4(call, Y, "y")))
        s = ocl_pool_geom(call, X, Y, &geom);
    if (s == STRATA_OK && (I->dtype != STRATA_I64 || strata_desc_numel(I) != strata_desc_numel(Y)))
        s = kc_error(call, STRATA_E_DTYPE, "indices must be i64 of y's shape");
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem y = ocl_mem(Y), ind = ocl_mem(I), x = ocl_mem(X);
    cl_long x_off = ocl_off(X);
    size_t global = (size_t)strata_desc_numel(Y);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(ind), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_max_pool2d_fwd, 1, &global, NULL, 5, args);
}

/* dx (N, C, H, W) = scatter-add of dy at the indices (positions h W + w). */
OCL_KERNEL(max_pool2d_backward)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    const strata_tensor_desc *DY = &call->inputs[0], *I = &call->inputs[1], *DX = &call->outputs[0];
    if (s == STRATA_OK && !(s = ocl_rank4(call, DY, "dy")))
        s = ocl_rank4(call, DX, "dx");
    if (s == STRATA_OK && I->dtype != STRATA_I64)
        s = kc_error(call, STRATA_E_DTYPE, "indices must be i64");
    if (s == STRATA_OK)
        s = kc_check_numel(call, I, "indices", strata_desc_numel(DY));
    if (s == STRATA_OK && (DY->shape[0] != DX->shape[0] || DY->shape[1] != DX->shape[1]))
        s = kc_error(call, STRATA_E_SHAPE, "dy and dx differ in batch or channels");
    ocl_device *d = NULL;
    int64_t HW = DX->shape[2] * DX->shape[3];
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s == STRATA_OK)
        s = ocl_check_indices(call, d, I, HW, "index", "position");
    if (s != STRATA_OK)
        return s;
    cl_mem dx = ocl_mem(DX), dy = ocl_mem(DY), ind = ocl_mem(I), acc = NULL;
    cl_long dy_off = ocl_off(DY), ind_off = ocl_off(I), planes = DX->shape[0] * DX->shape[1], hw = HW;
    cl_long P = DY->shape[2] * DY->shape[3];
    size_t global = (size_t)planes;
    if ((s = ocl_scratch(d, (size_t)(planes * HW) * (d->fp64 ? 8 : 4), &acc)) != STRATA_OK)
        return s;
    ocl_arg args[] = {OCL_ARG(dx),      OCL_ARG(acc),    OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(ind),
                      OCL_ARG(ind_off), OCL_ARG(planes), OCL_ARG(hw), OCL_ARG(P)};
    s = ocl_launch(call, d, OCL_K_max_pool2d_bwd, 1, &global, NULL, 9, args);
    if (acc)
        ocl_free(call->backend_self, call->device, acc);
    return s;
}

OCL_KERNEL(avg_pool2d)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    cl_long16 geom;
    if (s == STRATA_OK && !(s = ocl_rank4(call, X, "x")) && !(s = ocl_rank4(call, Y, "y")))
        s = ocl_pool_geom(call, X, Y, &geom);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem y = ocl_mem(Y), x = ocl_mem(X);
    cl_long x_off = ocl_off(X);
    size_t global = (size_t)strata_desc_numel(Y);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_avg_pool2d_fwd, 1, &global, NULL, 4, args);
}

OCL_KERNEL(avg_pool2d_backward)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    cl_long16 geom;
    if (s == STRATA_OK && !(s = ocl_rank4(call, DY, "dy")) && !(s = ocl_rank4(call, DX, "dx")))
        s = ocl_pool_geom(call, DX, DY, &geom); /* dx has the forward input's shape */
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem dx = ocl_mem(DX), dy = ocl_mem(DY);
    cl_long dy_off = ocl_off(DY);
    size_t global = (size_t)strata_desc_numel(DX);
    ocl_arg args[] = {OCL_ARG(dx), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(geom)};
    return ocl_launch(call, d, OCL_K_avg_pool2d_bwd, 1, &global, NULL, 4, args);
}

/* y (N, C) = mean of x (N, C, H, W) over H and W. */
OCL_KERNEL(global_avg_pool2d)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (s == STRATA_OK)
        s = ocl_rank4(call, X, "x");
    if (s == STRATA_OK)
        s = kc_check_numel(call, Y, "y", X->shape[0] * X->shape[1]);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    int64_t HW = X->shape[2] * X->shape[3];
    int64_t ks[1] = {X->shape[0] * X->shape[1]}, kst[1] = {HW}, rs[1] = {HW}, rst[1] = {1};
    return ocl_reduce_launch(call, d, ocl_mem(Y), ocl_off(Y), ocl_mem(X), ocl_off(X), ks[0], 1, ks, kst, 1, rs, rst,
                             (float)(1.0 / (double)HW));
}
