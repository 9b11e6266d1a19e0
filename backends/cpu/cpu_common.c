/*
 * cpu_common.c - the index check, shape helpers and the merged iteration
 * (cpu_iter) shared by the cpu kernels (the checks of a call are
 * backends/common's kcall.c).
 */
#include "cpu_internal.h"

/* ---- checks --------------------------------------------------------------- */

strata_status cpu_check_indices(const strata_kernel_call *call, const strata_tensor_desc *idx, int64_t limit,
                                const char *what, const char *pos_word)
{
    int64_t n = strata_desc_numel(idx);
    const void *p = strata_desc_ptr(idx);
    int64_t bad = -1;
    if (idx->dtype == STRATA_I32) {
        const int32_t *v = p; // (n)
        for (int64_t i = 0; i < n && bad < 0; i++)
            if (v[i] < 0 || v[i] >= limit)
                bad = i;
    } else {
        const int64_t *v = p; // (n)
        for (int64_t i = 0; i < n && bad < 0; i++)
            if (v[i] < 0 || v[i] >= limit)
                bad = i;
    }
    if (bad >= 0)
        return kc_error(call, STRATA_E_INVALID, "%s %lld at %s %lld is outside [0, %lld)", what,
                        (long long)cpu_index_at(idx, bad), pos_word, (long long)bad, (long long)limit);
    return STRATA_OK;
}

/* ---- shapes --------------------------------------------------------------- */

void cpu_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

int cpu_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_ndim, int64_t *out_shape)
{
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int da = d - (n - na), db = d - (n - nb);
        int64_t sa = da >= 0 ? a[da] : 1, sb = db >= 0 ? b[db] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return 0;
        out_shape[d] = sa == 1 ? sb : sa;
    }
    *out_ndim = n;
    return 1;
}

int cpu_broadcast_strides(int out_ndim, const int64_t *out_shape, int ndim, const int64_t *shape,
                          int64_t *strides)
{
    int64_t own[STRATA_MAX_DIMS];
    if (ndim > out_ndim)
        return 0;
    cpu_contiguous_strides(ndim, shape, own);
    int lead = out_ndim - ndim;
    for (int d = 0; d < out_ndim; d++) {
        int sd = d - lead;
        if (sd < 0 || shape[sd] == 1)
            strides[d] = 0;
        else if (shape[sd] == out_shape[d])
            strides[d] = own[sd];
        else
            return 0;
    }
    return 1;
}

cpu_axis_split cpu_split_at(const strata_tensor_desc *x, int axis)
{
    cpu_axis_split s = {1, x->shape[axis], 1};
    for (int d = 0; d < axis; d++)
        s.outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        s.inner *= x->shape[d];
    return s;
}

/* ---- merged iteration ----------------------------------------------------- */

void cpu_iter_init(cpu_iter *it, int ndim, const int64_t *shape, int n_ops,
                   const int64_t (*strides)[STRATA_MAX_DIMS])
{
    it->n_ops = n_ops;
    it->ndim = 0;
    /* Drop dims of size 1 (they never move an offset), then merge dim d into
     * the dim after it when, for every operand, stepping d equals stepping
     * the whole of the next dim. */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        int n = it->ndim;
        if (n > 0) {
            int merge = 1;
            for (int k = 0; merge && k < n_ops; k++)
                merge = it->stride[k][n - 1] == strides[k][d] * shape[d];
            if (merge) {
                it->shape[n - 1] *= shape[d];
                for (int k = 0; k < n_ops; k++)
                    it->stride[k][n - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[n] = shape[d];
        for (int k = 0; k < n_ops; k++)
            it->stride[k][n] = strides[k][d];
        it->ndim = n + 1;
    }
    if (it->ndim == 0) { /* a single element */
        it->ndim = 1;
        it->shape[0] = 1;
        for (int k = 0; k < n_ops; k++)
            it->stride[k][0] = 0;
    }
}

void cpu_iter_row_offsets(const cpu_iter *it, int64_t row, int64_t *off)
{
    for (int k = 0; k < it->n_ops; k++)
        off[k] = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = row % it->shape[d];
        row /= it->shape[d];
        for (int k = 0; k < it->n_ops; k++)
            off[k] += i * it->stride[k][d];
    }
}
