/*
 * ref_index.c - ops driven by integer index tensors (i32 or i64):
 * embedding, gather, their scatter-add gradients, and one_hot. An index
 * outside its range is an error naming the op, the position and the value.
 * The scatter-adds accumulate in a double scratch buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "ref_internal.h"

/* Index element i, checked against [0, limit). */
static strata_status ref_index_checked(const strata_kernel_call *call, const strata_tensor_desc *idx, int64_t i,
                                       int64_t limit, int64_t *out)
{
    int64_t v = ref_index_at(idx, i);
    if (v < 0 || v >= limit)
        return kc_error(call, STRATA_E_INVALID, "index %lld at position %lld is outside [0, %lld)", (long long)v,
                        (long long)i, (long long)limit);
    *out = v;
    return STRATA_OK;
}

/* A zeroed double buffer of n elements, or NULL with STRATA_E_NOMEM reported. */
static double *ref_scratch(const strata_kernel_call *call, int64_t n)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    if (!p)
        kc_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes for %lld accumulators",
                 sizeof *p * (size_t)(n > 0 ? n : 1), (long long)n);
    return p;
}

/* y[p, :] = w[idx[p], :]; w (V, D), idx (P) (any shape), y (P, D). */
REF_KERNEL(embedding)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "w");
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[1], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "output");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *W = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    if (W->ndim != 2)
        return kc_error(call, STRATA_E_SHAPE, "w must be (V, D), got %d dims", (int)W->ndim);
    int64_t V = W->shape[0], D = W->shape[1], P = strata_desc_numel(IDX);
    if ((s = kc_check_numel(call, Y, "output", P * D)) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (P, D)
    const float *w = strata_desc_ptr(W); // (V, D)
    for (int64_t p = 0; p < P; p++) {
        int64_t v = 0;
        if ((s = ref_index_checked(call, IDX, p, V, &v)) != STRATA_OK)
            return s;
        for (int64_t d = 0; d < D; d++)
            y[p * D + d] = w[v * D + d];
    }
    return STRATA_OK;
}

/* dw[v, :] = sum over p with idx[p] == v of dy[p, :]; dy (P, D), dw (V, D). */
REF_KERNEL(embedding_backward)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "dy");
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[1], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "dw");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DW = &call->outputs[0];
    if (DW->ndim != 2)
        return kc_error(call, STRATA_E_SHAPE, "dw must be (V, D), got %d dims", (int)DW->ndim);
    int64_t V = DW->shape[0], D = DW->shape[1], P = strata_desc_numel(IDX);
    int64_t num = strata_attr_get_int(call->attrs, call->n_attrs, "num_embeddings", V);
    if (num != V)
        return kc_error(call, STRATA_E_SHAPE, "num_embeddings %lld but dw has %lld rows", (long long)num,
                        (long long)V);
    if ((s = kc_check_numel(call, DY, "dy", P * D)) != STRATA_OK)
        return s;

    float *dw = strata_desc_ptr(DW);       // (V, D)
    const float *dy = strata_desc_ptr(DY); // (P, D)
    double *acc = ref_scratch(call, V * D); // (V, D)
    if (!acc)
        return STRATA_E_NOMEM;
    for (int64_t p = 0; p < P; p++) {
        int64_t v = 0;
        if ((s = ref_index_checked(call, IDX, p, V, &v)) != STRATA_OK) {
            free(acc);
            return s;
        }
        for (int64_t d = 0; d < D; d++)
            acc[v * D + d] += dy[p * D + d];
    }
    for (int64_t k = 0; k < V * D; k++)
        dw[k] = (float)acc[k];
    free(acc);
    return STRATA_OK;
}

/*
 * Checks x (the gathered-from shape: x_ndim, x_shape) against idx for
 * gather along axis: same rank, idx no larger than x on the other dims.
 * Fills a walker over idx's shape whose off[0] is the x offset of the
 * element with the index set to 0 along axis; *axis_stride is x's stride
 * along axis.
 */
static strata_status ref_gather_plan(const strata_kernel_call *call, int x_ndim, const int64_t *x_shape,
                                     const strata_tensor_desc *IDX, int *axis, ref_walk *w, int64_t *axis_stride)
{
    strata_status s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", 0), x_ndim, axis);
    if (s != STRATA_OK)
        return s;
    int ok = IDX->ndim == x_ndim;
    for (int d = 0; ok && d < x_ndim; d++)
        ok = d == *axis || IDX->shape[d] <= x_shape[d];
    if (!ok) {
        char sx[128], si[128];
        return kc_error(call, STRATA_E_SHAPE, "idx %s does not fit x %s outside axis %d",
                        kc_shape_str(si, sizeof si, IDX->ndim, IDX->shape),
                        kc_shape_str(sx, sizeof sx, x_ndim, x_shape), *axis);
    }
    int64_t x_strides[STRATA_MAX_DIMS];
    ref_contiguous_strides(x_ndim, x_shape, x_strides);
    ref_walk_init(w, IDX->ndim, IDX->shape, 1);
    for (int d = 0; d < x_ndim; d++)
        w->stride[0][d] = d == *axis ? 0 : x_strides[d];
    *axis_stride = x_strides[*axis];
    return STRATA_OK;
}

/* torch.gather: y[i..] = x[i.. with i_axis replaced by idx[i..]]; y has idx's shape. */
REF_KERNEL(gather)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "x");
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[1], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "output");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    int axis = 0;
    int64_t axis_stride = 0;
    ref_walk w;
    if ((s = ref_gather_plan(call, X->ndim, X->shape, IDX, &axis, &w, &axis_stride)) != STRATA_OK ||
        (s = kc_check_same_shape(call, Y, "output", IDX, "idx")) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (idx's shape)
    const float *x = strata_desc_ptr(X); // (x's shape)
    int64_t n = strata_desc_numel(IDX);
    for (int64_t i = 0; i < n; i++, ref_walk_next(&w)) {
        int64_t v = 0;
        if ((s = ref_index_checked(call, IDX, i, X->shape[axis], &v)) != STRATA_OK)
            return s;
        y[i] = x[w.off[0] + v * axis_stride];
    }
    return STRATA_OK;
}

/* dx = zeros of attr shape (x's), then dx[i.. with i_axis = idx[i..]] += dy[i..]. */
REF_KERNEL(gather_backward)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "dy");
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[1], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "dx");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DX = &call->outputs[0];
    if ((s = kc_check_shape_attr(call, "shape", DX)) != STRATA_OK)
        return s;
    int axis = 0;
    int64_t axis_stride = 0;
    ref_walk w;
    if ((s = ref_gather_plan(call, DX->ndim, DX->shape, IDX, &axis, &w, &axis_stride)) != STRATA_OK ||
        (s = kc_check_same_shape(call, DY, "dy", IDX, "idx")) != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(DX);       // (x's shape)
    const float *dy = strata_desc_ptr(DY); // (idx's shape)
    int64_t n = strata_desc_numel(IDX), nx = strata_desc_numel(DX);
    double *acc = ref_scratch(call, nx); // (x's shape)
    if (!acc)
        return STRATA_E_NOMEM;
    for (int64_t i = 0; i < n; i++, ref_walk_next(&w)) {
        int64_t v = 0;
        if ((s = ref_index_checked(call, IDX, i, DX->shape[axis], &v)) != STRATA_OK) {
            free(acc);
            return s;
        }
        acc[w.off[0] + v * axis_stride] += dy[i];
    }
    for (int64_t k = 0; k < nx; k++)
        dx[k] = (float)acc[k];
    free(acc);
    return STRATA_OK;
}

/* y[p, c] = (c == idx[p]); idx (P) (any shape), y (P, C) f32. */
REF_KERNEL(one_hot)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[0], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "output");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *IDX = &call->inputs[0], *Y = &call->outputs[0];
    if (Y->ndim < 1)
        return kc_error(call, STRATA_E_SHAPE, "output must have a class dim");
    int64_t C = Y->shape[Y->ndim - 1], P = strata_desc_numel(IDX);
    int64_t num = strata_attr_get_int(call->attrs, call->n_attrs, "num_classes", C);
    if (num != C)
        return kc_error(call, STRATA_E_SHAPE, "num_classes %lld but the output's last dim is %lld",
                        (long long)num, (long long)C);
    if ((s = kc_check_numel(call, Y, "output", P * C)) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y); // (P, C)
    for (int64_t p = 0; p < P; p++) {
        int64_t v = 0;
        if ((s = ref_index_checked(call, IDX, p, C, &v)) != STRATA_OK)
            return s;
        for (int64_t c = 0; c < C; c++)
            y[p * C + c] = c == v ? 1.0f : 0.0f;
    }
    return STRATA_OK;
}
