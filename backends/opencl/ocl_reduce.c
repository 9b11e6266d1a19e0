/*
 * ocl_reduce.c - sum and mean over axes, and sum_to_shape, on the one
 * group-per-output reduction of reduce.cl (sums in f32, pairwise within a
 * group; ref sums in double: the conformance tolerance scales with the
 * reduced length).
 */
#include <math.h>
#include <string.h>

#include "ocl_internal.h"

strata_status ocl_reduce_launch(const strata_kernel_call *call, ocl_device *d, cl_mem y, cl_long y_off, cl_mem x,
                                cl_long x_off, int64_t n_out, int nk, const int64_t *kshape,
                                const int64_t *kstride, int nr, const int64_t *rshape, const int64_t *rstride,
                                float scale)
{
    cl_long8 ks = ocl_long8(kshape, nk), kst = ocl_long8(kstride, nk), rs = ocl_long8(rshape, nr),
             rst = ocl_long8(rstride, nr);
    cl_long n_red = 1;
    for (int k = 0; k < nr; k++)
        n_red *= rshape[k];
    if (nr == 0) { /* nothing reduced: one element per group */
        nr = 1;
        rs.s[0] = 1;
        rst.s[0] = 0;
    }
    size_t wg = 1;
    size_t max = d->max_wg < 256 ? d->max_wg : 256;
    while (wg < max && (cl_long)wg < n_red)
        wg <<= 1;
    if (wg > max)
        wg >>= 1;
    cl_int cnk = nk, cnr = nr;
    cl_float sc = scale;
    size_t global = (size_t)n_out * wg, local = wg;
    ocl_arg args[] = {OCL_ARG(y),   OCL_ARG(y_off), OCL_ARG(x),  OCL_ARG(x_off), OCL_ARG(n_red), OCL_ARG(cnk),
                      OCL_ARG(ks),  OCL_ARG(kst),   OCL_ARG(cnr), OCL_ARG(rs),   OCL_ARG(rst),   OCL_ARG(sc)};
    return ocl_launch(call, d, OCL_K_reduce_sum, 1, &global, &local, 12, args);
}

/* Splits X's dims by @p mask into kept and reduced (kc_red_plan: merged, so
 * (N, C, H, W) summed over N, H and W walks two reduced dims, N and H W, and
 * the kernel's inner loop needs no division per element) and launches the
 * sum; n_out is checked against Y. */
static strata_status ocl_reduce_masked(const strata_kernel_call *call, const strata_tensor_desc *X,
                                       const strata_tensor_desc *Y, const int *mask, int mean)
{
    kc_red_plan p;
    kc_red_plan_init(&p, X, mask);
    int64_t ks[STRATA_MAX_DIMS], kst[STRATA_MAX_DIMS], rs[STRATA_MAX_DIMS], rst[STRATA_MAX_DIMS];
    const int nk = kc_red_plan_side(&p, 0, ks, kst), nr = kc_red_plan_side(&p, 1, rs, rst);
    const int64_t n_out = p.n_out, n_red = p.n_red;
    strata_status s = kc_check_numel(call, Y, "output", n_out);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    float scale = mean ? (float)(1.0 / (double)n_red) : 1.0f;
    if (mean && n_red == 0)
        scale = NAN; /* 0 / 0, as ref */
    return ocl_reduce_launch(call, d, ocl_mem(Y), ocl_off(Y), ocl_mem(X), ocl_off(X), n_out, nk, ks, kst, nr, rs, rst,
                             scale);
}

static strata_status ocl_reduce(const strata_kernel_call *call, int mean)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    int mask[STRATA_MAX_DIMS];
    if (s == STRATA_OK)
        s = kc_axes_mask(call, call->inputs[0].ndim, mask);
    if (s != STRATA_OK)
        return s;
    return ocl_reduce_masked(call, &call->inputs[0], &call->outputs[0], mask, mean);
}

OCL_KERNEL(sum) { return ocl_reduce(call, 0); }
OCL_KERNEL(mean) { return ocl_reduce(call, 1); }

/* y (shape) = x summed down to shape, which x broadcasts from. */
OCL_KERNEL(sum_to_shape)
{
    int mask[STRATA_MAX_DIMS];
    strata_status s = kc_check_sum_to_shape(call, mask);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    return ocl_reduce_masked(call, X, Y, mask, 0);
}

/* ---- max, argmax, max_backward ---------------------------------------------- */

/* Launches reduce_max over X split by @p mask (mode 0 max into Y, 1 argmax
 * into Y (i64), 2 max_backward: DX zero-filled, then dy scattered). */
static strata_status ocl_max_family(const strata_kernel_call *call, const strata_tensor_desc *X, const int *mask,
                                    int mode, const strata_tensor_desc *Y, const strata_tensor_desc *DY,
                                    const strata_tensor_desc *DX)
{
    kc_red_plan p;
    kc_red_plan_init(&p, X, mask);
    int64_t kshape[STRATA_MAX_DIMS], kstride[STRATA_MAX_DIMS], rshape[STRATA_MAX_DIMS], rstride[STRATA_MAX_DIMS];
    cl_int nk = kc_red_plan_side(&p, 0, kshape, kstride), nr = kc_red_plan_side(&p, 1, rshape, rstride);
    const cl_long n_out = p.n_out, n_red = p.n_red;
    cl_long8 ks = ocl_long8(kshape, nk), kst = ocl_long8(kstride, nk), rs = ocl_long8(rshape, nr),
             rst = ocl_long8(rstride, nr);
    if (nr == 0) { /* nothing reduced: one element per group */
        nr = 1;
        rs.s[0] = 1;
    }
    strata_status s = STRATA_OK;
    if (mode < 2)
        s = kc_check_numel(call, Y, "output", n_out);
    else
        s = kc_check_numel(call, DY, "dy", n_out);
    if (s == STRATA_OK && mode < 2 && n_red == 0 && n_out > 0)
        s = kc_error(call, STRATA_E_INVALID, "%s over zero elements", mode ? "argmax" : "max");
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_mem y = mode == 0 ? ocl_mem(Y) : NULL, yi = mode == 1 ? ocl_mem(Y) : NULL;
    cl_mem dx = mode == 2 ? ocl_mem(DX) : NULL, dy = mode == 2 ? ocl_mem(DY) : NULL;
    cl_long dy_off = mode == 2 ? ocl_off(DY) : 0;
    if (mode == 2) {
        int64_t nx = strata_desc_numel(X);
        if (!nx)
            return STRATA_OK;
        cl_float zero = 0.0f;
        cl_int err = clEnqueueFillBuffer(d->queue, dx, &zero, sizeof zero, 0, (size_t)nx * sizeof zero, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            return ocl_cl_fail(d->name, "clEnqueueFillBuffer", err);
        if (n_red == 0)
            return STRATA_OK;
    }
    cl_mem x = ocl_mem(X);
    cl_long x_off = ocl_off(X);
    cl_int cmode = mode;
    size_t wg = 1, max = d->max_wg < 256 ? d->max_wg : 256;
    while (wg * 2 <= max && (cl_long)wg < n_red)
        wg <<= 1;
    size_t global = (size_t)n_out * wg;
    ocl_arg args[] = {OCL_ARG(y),   OCL_ARG(yi),    OCL_ARG(dx), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(n_red), OCL_ARG(nk), OCL_ARG(ks), OCL_ARG(kst),  OCL_ARG(nr),
                      OCL_ARG(rs),  OCL_ARG(rst),   OCL_ARG(cmode)};
    return ocl_launch(call, d, OCL_K_reduce_max, 1, &global, &wg, 15, args);
}

OCL_KERNEL(max)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    int mask[STRATA_MAX_DIMS];
    if (s == STRATA_OK)
        s = kc_axes_mask(call, call->inputs[0].ndim, mask);
    if (s != STRATA_OK)
        return s;
    return ocl_max_family(call, &call->inputs[0], mask, 0, &call->outputs[0], NULL, NULL);
}

/* The index of the first maximum along attr axis (-1); output i64. */
OCL_KERNEL(argmax)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (X->dtype != STRATA_F32 || Y->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "argmax reads f32 and gives i64");
    int axis = 0;
    if ((s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis)))
        return s;
    int mask[STRATA_MAX_DIMS] = {0};
    mask[axis] = 1;
    return ocl_max_family(call, X, mask, 1, Y, NULL, NULL);
}

/* dx = dy at the first maximal element of each reduced group of x, else 0;
 * inputs dy, x[, y] (y not read). */
OCL_KERNEL(max_backward)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DX = &call->outputs[0];
    int mask[STRATA_MAX_DIMS];
    if (s == STRATA_OK)
        s = kc_axes_mask(call, X->ndim, mask);
    if (s == STRATA_OK)
        s = kc_check_numel(call, DX, "dx", strata_desc_numel(X));
    if (s != STRATA_OK)
        return s;
    return ocl_max_family(call, X, mask, 2, NULL, DY, DX);
}
