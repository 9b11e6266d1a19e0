/*
 * cpu_shape.c - the shape ops that move data: copy (the one strided
 * kernel), concat and slice_backward. They work on any element type by
 * moving 2-, 4- or 8-byte words.
 */
#include <string.h>

#include "cpu_internal.h"

/* Bytes below which a copy stays on the calling thread. */
#define CPU_COPY_PAR_BYTES (1 << 20)

/* One row of a strided copy: y (L) contiguous = x (L at stride sx), es-byte elements. */
static void cpu_copy_row(char *restrict y, const char *restrict x, int64_t sx, int64_t L, size_t es)
{
    if (sx == 1) {
        memcpy(y, x, (size_t)L * es);
        return;
    }
    switch (es) {
    case 4: {
        uint32_t *yy = (uint32_t *)y;
        const uint32_t *xx = (const uint32_t *)x;
        if (sx == 0) {
            uint32_t v = xx[0];
            for (int64_t j = 0; j < L; j++)
                yy[j] = v;
        } else {
            for (int64_t j = 0; j < L; j++)
                yy[j] = xx[j * sx];
        }
        return;
    }
    case 8: {
        uint64_t *yy = (uint64_t *)y;
        const uint64_t *xx = (const uint64_t *)x;
        for (int64_t j = 0; j < L; j++)
            yy[j] = xx[j * sx];
        return;
    }
    case 2: {
        uint16_t *yy = (uint16_t *)y;
        const uint16_t *xx = (const uint16_t *)x;
        for (int64_t j = 0; j < L; j++)
            yy[j] = xx[j * sx];
        return;
    }
    default:
        for (int64_t j = 0; j < L; j++)
            memcpy(y + (size_t)j * es, x + j * sx * (int64_t)es, es);
        return;
    }
}

/* y (contiguous) = x read through its strides (any, including 0). */
CPU_KERNEL(copy)
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
    if (n == 0)
        return STRATA_OK;

    int64_t st[CPU_ITER_MAX_OPS][STRATA_MAX_DIMS];
    cpu_contiguous_strides(Y->ndim, Y->shape, st[0]);
    for (int d = 0; d < X->ndim; d++)
        st[1][d] = X->strides[d];
    cpu_iter it;
    cpu_iter_init(&it, X->ndim, X->shape, 2, (const int64_t(*)[STRATA_MAX_DIMS])st);
    int64_t L = it.shape[it.ndim - 1], rows = n / L, sx = it.stride[1][it.ndim - 1];
    int par = (size_t)n * es >= CPU_COPY_PAR_BYTES && rows > 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[CPU_ITER_MAX_OPS];
        cpu_iter_row_offsets(&it, r, off);
        cpu_copy_row(y + off[0] * (int64_t)es, x + off[1] * (int64_t)es, sx, L, es);
    }
    return STRATA_OK;
}

/* y = x0, x1, ... joined along attr axis (0); every other dim agrees. */
CPU_KERNEL(concat)
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
    cpu_axis_split sp = cpu_split_at(Y, axis);
    char *y = strata_desc_ptr(Y);
    size_t row = (size_t)(sp.n * sp.inner) * es; /* one outer slab of y */
    int par = (size_t)sp.outer * row >= CPU_COPY_PAR_BYTES && sp.outer > 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t o = 0; o < sp.outer; o++) {
        size_t at = 0;
        for (int k = 0; k < call->n_inputs; k++) {
            const char *x = strata_desc_ptr(&call->inputs[k]);
            size_t chunk = (size_t)(call->inputs[k].shape[axis] * sp.inner) * es; /* one slab of input k */
            if (chunk > 0)
                memcpy(y + (size_t)o * row + at, x + (size_t)o * chunk, chunk);
            at += chunk;
        }
    }
    return STRATA_OK;
}

/* dx = zeros of attr shape with dy placed where x[.., start:end:step, ..]
 * (Python slicing, clamped) read along attr axis. */
CPU_KERNEL(slice_backward)
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
    cpu_axis_split sp = cpu_split_at(DX, axis);
    int64_t total = strata_desc_numel(DX);
    if (total == 0)
        return STRATA_OK;
    memset(dx, 0, (size_t)total * sizeof *dx);
    size_t inner_bytes = (size_t)sp.inner * sizeof *dx;
    for (int64_t o = 0; o < sp.outer; o++)
        for (int64_t j = 0; j < count; j++)
            memcpy(dx + (o * n + start + j * step) * sp.inner, dy + (o * count + j) * sp.inner, inner_bytes);
    return STRATA_OK;
}
