/*
 * ref_common.c - the tensor walkers shared by the ref kernels (the checks
 * of a call are backends/common's kcall.c).
 */
#include <string.h>

#include "ref_internal.h"

/* ---- walking tensors ------------------------------------------------------ */

void ref_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

int ref_broadcast_strides(int out_ndim, const int64_t *out_shape, int ndim, const int64_t *shape,
                          const int64_t *src_strides, int64_t *strides)
{
    int64_t contiguous[STRATA_MAX_DIMS];
    if (ndim > out_ndim)
        return 0;
    if (!src_strides) {
        ref_contiguous_strides(ndim, shape, contiguous);
        src_strides = contiguous;
    }
    int lead = out_ndim - ndim; /* missing leading dims of the source */
    for (int d = 0; d < out_ndim; d++) {
        int sd = d - lead;
        if (sd < 0) {
            strides[d] = 0;
        } else if (shape[sd] == out_shape[d]) {
            strides[d] = shape[sd] == 1 ? 0 : src_strides[sd];
        } else if (shape[sd] == 1) {
            strides[d] = 0;
        } else {
            return 0;
        }
    }
    return 1;
}

int ref_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_ndim, int64_t *out_shape)
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

void ref_walk_init(ref_walk *w, int ndim, const int64_t *shape, int n_ops)
{
    memset(w, 0, sizeof *w);
    w->ndim = ndim;
    w->n_ops = n_ops;
    for (int d = 0; d < ndim; d++)
        w->shape[d] = shape[d];
}

void ref_walk_next(ref_walk *w)
{
    for (int d = w->ndim - 1; d >= 0; d--) {
        w->idx[d]++;
        for (int k = 0; k < w->n_ops; k++)
            w->off[k] += w->stride[k][d];
        if (w->idx[d] < w->shape[d])
            return;
        /* carry: rewind this dim and advance the next outer one */
        for (int k = 0; k < w->n_ops; k++)
            w->off[k] -= w->stride[k][d] * w->shape[d];
        w->idx[d] = 0;
    }
}

void ref_reduction_init(ref_reduction *r, const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS])
{
    int64_t strides[STRATA_MAX_DIMS];
    int64_t kept_shape[STRATA_MAX_DIMS], red_shape[STRATA_MAX_DIMS];
    int64_t kept_stride[STRATA_MAX_DIMS], red_stride[STRATA_MAX_DIMS];
    int n_kept = 0, n_red = 0;

    ref_contiguous_strides(x->ndim, x->shape, strides);
    r->n_out = 1;
    r->n_red = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask[d]) {
            red_shape[n_red] = x->shape[d];
            red_stride[n_red++] = strides[d];
            r->n_red *= x->shape[d];
        } else {
            kept_shape[n_kept] = x->shape[d];
            kept_stride[n_kept++] = strides[d];
            r->n_out *= x->shape[d];
        }
    }
    ref_walk_init(&r->kept, n_kept, kept_shape, 1);
    ref_walk_init(&r->red, n_red, red_shape, 1);
    for (int d = 0; d < n_kept; d++)
        r->kept.stride[0][d] = kept_stride[d];
    for (int d = 0; d < n_red; d++)
        r->red.stride[0][d] = red_stride[d];
}

ref_axis_split ref_split_at(const strata_tensor_desc *x, int axis)
{
    ref_axis_split s = {1, x->shape[axis], 1};
    for (int d = 0; d < axis; d++)
        s.outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        s.inner *= x->shape[d];
    return s;
}
