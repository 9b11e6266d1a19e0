/*
 * ref_reduce.c - sum, mean, max (and its gradient), argmax and
 * sum_to_shape over arbitrary sets of axes. Sums accumulate in double.
 */
#include <string.h>

#include "ref_internal.h"

/* Shape of x reduced over mask: reduced dims dropped, or kept as 1. */
static void ref_reduced_shape(const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS], int keepdim, int *ndim,
                              int64_t *shape)
{
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!mask[d])
            shape[n++] = x->shape[d];
        else if (keepdim)
            shape[n++] = 1;
    }
    *ndim = n;
}

/* STRATA_E_SHAPE unless @p y (named @p what) is x reduced over mask. */
static strata_status ref_check_reduced(const strata_kernel_call *call, const strata_tensor_desc *x,
                                       const int mask[STRATA_MAX_DIMS], int keepdim, const strata_tensor_desc *y,
                                       const char *what)
{
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    ref_reduced_shape(x, mask, keepdim, &ndim, shape);
    int same = y->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = y->shape[d] == shape[d];
    if (!same) {
        char sx[128], sy[128], se[128];
        return kc_error(call, STRATA_E_SHAPE, "%s has shape %s; reducing %s gives %s", what,
                        kc_shape_str(sy, sizeof sy, y->ndim, y->shape),
                        kc_shape_str(sx, sizeof sx, x->ndim, x->shape), kc_shape_str(se, sizeof se, ndim, shape));
    }
    return STRATA_OK;
}

typedef enum ref_reduce_fn { REF_SUM, REF_MEAN, REF_MAX } ref_reduce_fn;

/* y = reduce(x) over attr axes (absent/empty = all), attr keepdim. */
static strata_status ref_reduce(const strata_kernel_call *call, ref_reduce_fn fn)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    int keepdim = strata_attr_get_int(call->attrs, call->n_attrs, "keepdim", 0) != 0;
    int mask[STRATA_MAX_DIMS];
    if ((s = kc_axes_mask(call, X->ndim, mask)) != STRATA_OK)
        return s;
    if ((s = ref_check_reduced(call, X, mask, keepdim, Y, "output")) != STRATA_OK)
        return s;
    ref_reduction r;
    ref_reduction_init(&r, X, mask);
    if (fn == REF_MAX && r.n_red == 0 && r.n_out > 0)
        return kc_error(call, STRATA_E_INVALID, "max over zero elements");

    float *y = strata_desc_ptr(Y);       // (n_out)
    const float *x = strata_desc_ptr(X); // (x's shape)
    ref_walk kept = r.kept;
    for (int64_t o = 0; o < r.n_out; o++, ref_walk_next(&kept)) {
        const float *group = x + kept.off[0];
        ref_walk red = r.red;
        if (fn == REF_MAX) {
            double best = group[red.off[0]];
            for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red))
                if (ref_beats(group[red.off[0]], best))
                    best = group[red.off[0]];
            y[o] = (float)best;
        } else {
            double sum = 0.0;
            for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red))
                sum += group[red.off[0]];
            y[o] = (float)(fn == REF_MEAN ? sum / (double)r.n_red : sum);
        }
    }
    return STRATA_OK;
}

REF_KERNEL(sum) { return ref_reduce(call, REF_SUM); }
REF_KERNEL(mean) { return ref_reduce(call, REF_MEAN); }
REF_KERNEL(max) { return ref_reduce(call, REF_MAX); }

/* y (i64) = index along attr axis (-1) of the first maximum; keepdim. */
REF_KERNEL(argmax)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "x");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (Y->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "output has dtype %s; argmax gives i64", strata_dtype_name(Y->dtype));
    int keepdim = strata_attr_get_int(call->attrs, call->n_attrs, "keepdim", 0) != 0;
    int axis = 0;
    if ((s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis)))
        return s;
    int mask[STRATA_MAX_DIMS] = {0};
    mask[axis] = 1;
    if ((s = ref_check_reduced(call, X, mask, keepdim, Y, "output")) != STRATA_OK)
        return s;
    ref_reduction r;
    ref_reduction_init(&r, X, mask);
    if (r.n_red == 0 && r.n_out > 0)
        return kc_error(call, STRATA_E_INVALID, "argmax over zero elements");

    int64_t *y = strata_desc_ptr(Y);     // (n_out)
    const float *x = strata_desc_ptr(X); // (x's shape)
    ref_walk kept = r.kept;
    for (int64_t o = 0; o < r.n_out; o++, ref_walk_next(&kept)) {
        const float *group = x + kept.off[0];
        ref_walk red = r.red;
        double best = group[0];
        int64_t best_j = 0;
        for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red)) {
            if (ref_beats(group[red.off[0]], best)) {
                best = group[red.off[0]];
                best_j = j;
            }
        }
        y[o] = best_j;
    }
    return STRATA_OK;
}

/* dx = dy at the first maximal element of each reduced group of x, else 0.
 * Inputs dy (y's shape), x[, y]; y is not read (the max is found again). */
REF_KERNEL(max_backward)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DX = &call->outputs[0];
    int mask[STRATA_MAX_DIMS];
    if ((s = kc_axes_mask(call, X->ndim, mask)) != STRATA_OK)
        return s;
    if ((s = kc_check_same_shape(call, DX, "dx", X, "x")) != STRATA_OK)
        return s;
    ref_reduction r;
    ref_reduction_init(&r, X, mask);
    if ((s = kc_check_numel(call, DY, "dy", r.n_out)) != STRATA_OK)
        return s;
    /* dy is read in group order, the same with or without keepdim. */

    float *dx = strata_desc_ptr(DX);       // (x's shape)
    const float *dy = strata_desc_ptr(DY); // (n_out)
    const float *x = strata_desc_ptr(X);   // (x's shape)
    if (strata_desc_numel(DX) == 0)
        return STRATA_OK;
    memset(dx, 0, (size_t)strata_desc_numel(DX) * sizeof *dx);
    ref_walk kept = r.kept;
    for (int64_t o = 0; o < r.n_out; o++, ref_walk_next(&kept)) {
        ref_walk red = r.red;
        int64_t best_off = kept.off[0];
        double best = x[best_off];
        for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red)) {
            int64_t off = kept.off[0] + red.off[0];
            if (ref_beats(x[off], best)) {
                best = x[off];
                best_off = off;
            }
        }
        dx[best_off] = dy[o];
    }
    return STRATA_OK;
}

/* y = x summed down to attr shape, the shape x broadcasts from: dims that
 * are missing from shape, or 1 in shape, are summed. */
REF_KERNEL(sum_to_shape)
{
    int mask[STRATA_MAX_DIMS];
    strata_status s = kc_check_sum_to_shape(call, mask);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    ref_reduction r;
    ref_reduction_init(&r, X, mask);

    float *y = strata_desc_ptr(Y);       // (shape) = the kept dims of x, row-major
    const float *x = strata_desc_ptr(X); // (x's shape)
    ref_walk kept = r.kept;
    for (int64_t o = 0; o < r.n_out; o++, ref_walk_next(&kept)) {
        ref_walk red = r.red;
        double sum = 0.0;
        for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red))
            sum += x[kept.off[0] + red.off[0]];
        y[o] = (float)sum;
    }
    return STRATA_OK;
}
