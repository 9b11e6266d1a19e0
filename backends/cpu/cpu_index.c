/*
 * cpu_index.c - ops driven by integer index tensors (i32 or i64):
 * embedding, gather, their scatter-add gradients, and one_hot. Every index
 * is checked before the loops run (an index outside its range is an error
 * naming the op, the position and the value), so the loops cannot fail.
 * The scatter-adds accumulate in a double scratch buffer, as ref does.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

/* A zeroed double buffer of n elements, or NULL with STRATA_E_NOMEM reported. */
static double *cpu_scratch(const strata_kernel_call *call, int64_t n)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    if (!p)
        kc_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes for %lld accumulators",
                 sizeof *p * (size_t)(n > 0 ? n : 1), (long long)n);
    return p;
}

/* y[p, :] = w[idx[p], :]; w (V, D), idx (P) (any shape), y (P, D). */
CPU_KERNEL(embedding)
{
    int64_t V = 0, D = 0, P = 0;
    strata_status s = kc_check_embedding(call, 0, &V, &D, &P);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *W = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    if ((s = cpu_check_indices(call, IDX, V, "index", "position")) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (P, D)
    const float *w = strata_desc_ptr(W); // (V, D)
    if (D == 0)
        return STRATA_OK;
#pragma omp parallel for schedule(static) if (P * D >= CPU_PAR_MIN && P > 1)
    for (int64_t p = 0; p < P; p++)
        memcpy(y + p * D, w + cpu_index_at(IDX, p) * D, (size_t)D * sizeof *y);
    return STRATA_OK;
}

/* dw[v, :] = sum over p with idx[p] == v of dy[p, :]; dy (P, D), dw (V, D). */
CPU_KERNEL(embedding_backward)
{
    int64_t V = 0, D = 0, P = 0;
    strata_status s = kc_check_embedding(call, 1, &V, &D, &P);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DW = &call->outputs[0];
    if ((s = cpu_check_indices(call, IDX, V, "index", "position")) != STRATA_OK)
        return s;

    float *dw = strata_desc_ptr(DW);       // (V, D)
    const float *dy = strata_desc_ptr(DY); // (P, D)
    double *acc = cpu_scratch(call, V * D); // (V, D)
    if (!acc)
        return STRATA_E_NOMEM;
    /* Threads own disjoint column ranges, so no two write one accumulator
     * and each sums its rows in index order. */
    int nt = P * D >= CPU_PAR_MIN && D >= 64 ? cpu_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int c = 0; c < nt; c++) {
        int64_t d0 = D * c / nt, d1 = D * (c + 1) / nt;
        for (int64_t p = 0; p < P; p++) {
            double *ar = acc + cpu_index_at(IDX, p) * D;
            const float *dr = dy + p * D;
#pragma omp simd
            for (int64_t d = d0; d < d1; d++)
                ar[d] += (double)dr[d];
        }
    }
    for (int64_t k = 0; k < V * D; k++)
        dw[k] = (float)acc[k];
    free(acc);
    return STRATA_OK;
}

/*
 * For each element i of idx (row-major), the x offset of the element it
 * names: the position of i with its axis coordinate replaced by idx[i].
 * Calls body with i and that offset; serial (the scatter needs order).
 */
#define CPU_GATHER_WALK(IDX, x_ndim, x_shape, axis, i, xoff, body)                                             \
    do {                                                                                                       \
        int64_t xs_[STRATA_MAX_DIMS], pos_[STRATA_MAX_DIMS] = {0}, base_ = 0;                                  \
        cpu_contiguous_strides((x_ndim), (x_shape), xs_);                                                      \
        int64_t n_ = strata_desc_numel(IDX);                                                                   \
        for (int64_t i = 0; i < n_; i++) {                                                                     \
            int64_t xoff = base_ + cpu_index_at((IDX), i) * xs_[(axis)];                                       \
            body;                                                                                              \
            for (int d_ = (IDX)->ndim - 1; d_ >= 0; d_--) {                                                    \
                int64_t step_ = d_ == (axis) ? 0 : xs_[d_];                                                    \
                if (++pos_[d_] < (IDX)->shape[d_]) {                                                           \
                    base_ += step_;                                                                            \
                    break;                                                                                     \
                }                                                                                              \
                base_ -= step_ * (pos_[d_] - 1);                                                               \
                pos_[d_] = 0;                                                                                  \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

/* torch.gather: y[i..] = x[i.. with i_axis replaced by idx[i..]]; y has idx's shape. */
CPU_KERNEL(gather)
{
    int axis = 0;
    strata_status s = kc_check_gather(call, 0, &axis);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    if ((s = cpu_check_indices(call, IDX, X->shape[axis], "index", "position")) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (idx's shape)
    const float *x = strata_desc_ptr(X); // (x's shape)
    CPU_GATHER_WALK(IDX, X->ndim, X->shape, axis, i, xoff, y[i] = x[xoff]);
    return STRATA_OK;
}

/* dx = zeros of attr shape (x's), then dx[i.. with i_axis = idx[i..]] += dy[i..]. */
CPU_KERNEL(gather_backward)
{
    int axis = 0;
    strata_status s = kc_check_gather(call, 1, &axis);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DX = &call->outputs[0];
    if ((s = cpu_check_indices(call, IDX, DX->shape[axis], "index", "position")) != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(DX);       // (x's shape)
    const float *dy = strata_desc_ptr(DY); // (idx's shape)
    int64_t nx = strata_desc_numel(DX);
    double *acc = cpu_scratch(call, nx); // (x's shape)
    if (!acc)
        return STRATA_E_NOMEM;
    CPU_GATHER_WALK(IDX, DX->ndim, DX->shape, axis, i, xoff, acc[xoff] += (double)dy[i]);
    for (int64_t k = 0; k < nx; k++)
        dx[k] = (float)acc[k];
    free(acc);
    return STRATA_OK;
}

/* y[p, c] = (c == idx[p]); idx (P) (any shape), y (P, C) f32. */
CPU_KERNEL(one_hot)
{
    int64_t P = 0, C = 0;
    strata_status s = kc_check_one_hot(call, &P, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *IDX = &call->inputs[0], *Y = &call->outputs[0];
    if ((s = cpu_check_indices(call, IDX, C, "index", "position")) != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y); // (P, C)
    if (P * C == 0)
        return STRATA_OK;
    memset(y, 0, (size_t)(P * C) * sizeof *y);
    for (int64_t p = 0; p < P; p++)
        y[p * C + cpu_index_at(IDX, p)] = 1.0f;
    return STRATA_OK;
}
