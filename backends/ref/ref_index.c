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
    int64_t V = 0, D = 0, P = 0;
    strata_status s = kc_check_embedding(call, 0, &V, &D, &P);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *W = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];

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
    int64_t V = 0, D = 0, P = 0;
    strata_status s = kc_check_embedding(call, 1, &V, &D, &P);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DW = &call->outputs[0];

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
 * Fills a walker over idx's shape (for gather from X along axis, checked
 * by kc_check_gather) whose off[0] is the x offset of the element with the
 * index set to 0 along axis; returns x's stride along axis.
 */
static int64_t ref_gather_walk(const strata_tensor_desc *X, const strata_tensor_desc *IDX, int axis, ref_walk *w)
{
    int64_t x_strides[STRATA_MAX_DIMS];
    ref_contiguous_strides(X->ndim, X->shape, x_strides);
    ref_walk_init(w, IDX->ndim, IDX->shape, 1);
    for (int d = 0; d < X->ndim; d++)
        w->stride[0][d] = d == axis ? 0 : x_strides[d];
    return x_strides[axis];
}

/* torch.gather: y[i..] = x[i.. with i_axis replaced by idx[i..]]; y has idx's shape. */
REF_KERNEL(gather)
{
    int axis = 0;
    strata_status s = kc_check_gather(call, 0, &axis);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    ref_walk w;
    int64_t axis_stride = ref_gather_walk(X, IDX, axis, &w);

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
    int axis = 0;
    strata_status s = kc_check_gather(call, 1, &axis);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DX = &call->outputs[0];
    ref_walk w;
    int64_t axis_stride = ref_gather_walk(DX, IDX, axis, &w);

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
    int64_t P = 0, C = 0;
    strata_status s = kc_check_one_hot(call, &P, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *IDX = &call->inputs[0], *Y = &call->outputs[0];

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
