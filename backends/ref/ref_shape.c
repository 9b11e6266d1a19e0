/*
 * ref_shape.c - the shape ops that move data: copy (the one strided
 * kernel), concat and slice_backward. They work on any element type by
 * moving bytes.
 */
#include <string.h>

#include "ref_internal.h"

/* y (contiguous) = x read through its strides (any, including 0). */
REF_KERNEL(copy)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    size_t es = strata_dtype_size(X->dtype);
    if (es == 0 || Y->dtype != X->dtype)
        return kc_error(call, STRATA_E_DTYPE, "cannot copy %s into %s", strata_dtype_name(X->dtype),
                        strata_dtype_name(Y->dtype));
    if ((s = kc_check_same_shape(call, Y, "output", X, "input")) != STRATA_OK)
        return s;

    char *y = strata_desc_ptr(Y);       // (shape), contiguous, es bytes per element
    const char *x = strata_desc_ptr(X); // (shape), element offsets from X->strides
    int64_t n = strata_desc_numel(Y);
    ref_walk w;
    ref_walk_init(&w, X->ndim, X->shape, 1);
    for (int d = 0; d < X->ndim; d++)
        w.stride[0][d] = X->strides[d];
    for (int64_t i = 0; i < n; i++, ref_walk_next(&w))
        memcpy(y + (size_t)i * es, x + w.off[0] * (int64_t)es, es);
    return STRATA_OK;
}

/* y = x0, x1, ... joined along attr axis (0); every other dim agrees. */
REF_KERNEL(concat)
{
    if (call->n_inputs < 1 || call->n_outputs != 1)
        return kc_error(call, STRATA_E_INVALID, "expected at least 1 input and 1 output, got %d and %d",
                        (int)call->n_inputs, (int)call->n_outputs);
    const strata_tensor_desc *Y = &call->outputs[0];
    size_t es = strata_dtype_size(Y->dtype);
    int axis = 0;
    strata_status s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", 0), Y->ndim,
                              &axis);
    if (s != STRATA_OK)
        return s;

    int64_t total = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        const strata_tensor_desc *X = &call->inputs[k];
        if (X->dtype != Y->dtype || es == 0)
            return kc_error(call, STRATA_E_DTYPE, "input %d has dtype %s, output %s", k, strata_dtype_name(X->dtype),
                            strata_dtype_name(Y->dtype));
        int ok = X->ndim == Y->ndim;
        for (int d = 0; ok && d < Y->ndim; d++)
            ok = d == axis || X->shape[d] == Y->shape[d];
        if (!ok) {
            char sx[128], sy[128];
            return kc_error(call, STRATA_E_SHAPE, "input %d has shape %s; output %s along axis %d", k,
                            kc_shape_str(sx, sizeof sx, X->ndim, X->shape),
                            kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape), axis);
        }
        total += X->shape[axis];
    }
    if (total != Y->shape[axis])
        return kc_error(call, STRATA_E_SHAPE, "inputs add up to %lld along axis %d; output has %lld",
                        (long long)total, axis, (long long)Y->shape[axis]);

    /* y (outer, total, inner); input k (outer, n_k, inner) lands at [.., at_k, ..] */
    ref_axis_split sp = ref_split_at(Y, axis);
    char *y = strata_desc_ptr(Y);
    int64_t at = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        const char *x = strata_desc_ptr(&call->inputs[k]);
        int64_t nk = call->inputs[k].shape[axis];
        size_t chunk = (size_t)(nk * sp.inner) * es; /* one outer slab of input k */
        for (int64_t o = 0; chunk > 0 && o < sp.outer; o++)
            memcpy(y + (size_t)((o * sp.n + at) * sp.inner) * es, x + (size_t)o * chunk, chunk);
        at += nk;
    }
    return STRATA_OK;
}

/* dx = zeros of attr shape with dy placed where x[.., start:end:step, ..]
 * (Python slicing, clamped) read along attr axis. */
REF_KERNEL(slice_backward)
{
    kc_slice sl;
    strata_status s = kc_check_slice_backward(call, &sl);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    const int axis = sl.axis;
    const int64_t n = sl.n, start = sl.start, step = sl.step, count = sl.count;

    float *dx = strata_desc_ptr(DX);       // (outer, n, inner)
    const float *dy = strata_desc_ptr(DY); // (outer, count, inner)
    ref_axis_split sp = ref_split_at(DX, axis);
    if (strata_desc_numel(DX) == 0)
        return STRATA_OK;
    memset(dx, 0, (size_t)strata_desc_numel(DX) * sizeof *dx);
    for (int64_t o = 0; o < sp.outer; o++)
        for (int64_t j = 0; j < count; j++)
            for (int64_t i = 0; i < sp.inner; i++)
                dx[(o * n + start + j * step) * sp.inner + i] = dy[(o * count + j) * sp.inner + i];
    return STRATA_OK;
}
