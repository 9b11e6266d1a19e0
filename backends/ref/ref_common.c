/*
 * ref_common.c - checks, attribute parsing and the tensor walkers shared by
 * the ref kernels.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ref_internal.h"

/* ---- errors --------------------------------------------------------------- */

strata_status ref_error(const strata_kernel_call *call, strata_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *op = call && call->op ? call->op : "ref";
    if (ref_host && ref_host->set_error)
        ref_host->set_error(status, "%s: %s", op, msg);
    return status;
}

const char *ref_dtype_name(int32_t dtype)
{
    switch (dtype) {
    case STRATA_F32:
        return "f32";
    case STRATA_I32:
        return "i32";
    case STRATA_I64:
        return "i64";
    case STRATA_F16:
        return "f16";
    case STRATA_BF16:
        return "bf16";
    default:
        return "an unknown dtype";
    }
}

const char *ref_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int w = snprintf(buf, n, "(");
    used = w > 0 ? (size_t)w : 0;
    for (int d = 0; d < ndim && used < n; d++) {
        w = snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)shape[d]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < n)
        snprintf(buf + used, n - used, ")");
    return buf;
}

/* ---- checks --------------------------------------------------------------- */

strata_status ref_check_arity(const strata_kernel_call *call, int min_in, int max_in, int n_out)
{
    if (call->n_inputs < min_in || call->n_inputs > max_in) {
        if (min_in == max_in)
            return ref_error(call, STRATA_E_INVALID, "expected %d inputs, got %d", min_in, (int)call->n_inputs);
        return ref_error(call, STRATA_E_INVALID, "expected %d to %d inputs, got %d", min_in, max_in,
                         (int)call->n_inputs);
    }
    if (call->n_outputs != n_out)
        return ref_error(call, STRATA_E_INVALID, "expected %d outputs, got %d", n_out, (int)call->n_outputs);
    return STRATA_OK;
}

strata_status ref_check_f32(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_F32)
        return ref_error(call, STRATA_E_DTYPE, "%s has dtype %s; the ref kernel takes f32", what,
                         ref_dtype_name(d->dtype));
    return STRATA_OK;
}

strata_status ref_check_all_f32(const strata_kernel_call *call)
{
    char what[32];
    for (int k = 0; k < call->n_inputs; k++) {
        snprintf(what, sizeof what, "input %d", k);
        strata_status s = ref_check_f32(call, &call->inputs[k], what);
        if (s != STRATA_OK)
            return s;
    }
    for (int k = 0; k < call->n_outputs; k++) {
        snprintf(what, sizeof what, "output %d", k);
        strata_status s = ref_check_f32(call, &call->outputs[k], what);
        if (s != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

strata_status ref_check_index_dtype(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_I32 && d->dtype != STRATA_I64)
        return ref_error(call, STRATA_E_DTYPE, "%s has dtype %s; expected i32 or i64", what,
                         ref_dtype_name(d->dtype));
    return STRATA_OK;
}

strata_status ref_check_numel(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                              int64_t numel)
{
    int64_t have = strata_desc_numel(d);
    if (have != numel) {
        char sh[128];
        return ref_error(call, STRATA_E_SHAPE, "%s has shape %s (%lld elements); expected %lld elements", what,
                         ref_shape_str(sh, sizeof sh, d->ndim, d->shape), (long long)have, (long long)numel);
    }
    return STRATA_OK;
}

strata_status ref_check_same_shape(const strata_kernel_call *call, const strata_tensor_desc *a, const char *what_a,
                                   const strata_tensor_desc *b, const char *what_b)
{
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++)
        same = a->shape[d] == b->shape[d];
    if (!same) {
        char sa[128], sb[128];
        return ref_error(call, STRATA_E_SHAPE, "%s has shape %s but %s has shape %s", what_a,
                         ref_shape_str(sa, sizeof sa, a->ndim, a->shape), what_b,
                         ref_shape_str(sb, sizeof sb, b->ndim, b->shape));
    }
    return STRATA_OK;
}

/* ---- attributes ----------------------------------------------------------- */

strata_status ref_axis(const strata_kernel_call *call, const char *attr, int64_t axis, int ndim, int *out)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return ref_error(call, STRATA_E_INVALID, "%s %lld is outside a tensor of %d dims", attr, (long long)axis,
                         ndim);
    *out = (int)a;
    return STRATA_OK;
}

strata_status ref_axes_mask(const strata_kernel_call *call, int ndim, int mask[STRATA_MAX_DIMS])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "axes");
    int all = !a || (a->kind == STRATA_ATTR_INTS && a->n == 0);
    for (int d = 0; d < STRATA_MAX_DIMS; d++)
        mask[d] = all && d < ndim;
    if (all)
        return STRATA_OK;
    if (a->kind == STRATA_ATTR_INT) {
        int d = 0;
        strata_status s = ref_axis(call, "axes entry", a->i, ndim, &d);
        if (s == STRATA_OK)
            mask[d] = 1;
        return s;
    }
    if (a->kind != STRATA_ATTR_INTS || !a->ints)
        return ref_error(call, STRATA_E_INVALID, "attr axes must be a list of ints");
    for (int k = 0; k < a->n; k++) {
        int d = 0;
        strata_status s = ref_axis(call, "axes entry", a->ints[k], ndim, &d);
        if (s != STRATA_OK)
            return s;
        mask[d] = 1;
    }
    return STRATA_OK;
}

const char *ref_attr_string(const strata_kernel_call *call, const char *name, const char *dflt)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return dflt;
    if (a->kind != STRATA_ATTR_STRING || !a->s) {
        ref_error(call, STRATA_E_INVALID, "attr %s must be a string", name);
        return NULL;
    }
    return a->s;
}

strata_status ref_reduction_mode_of(const strata_kernel_call *call, ref_reduction_mode *out)
{
    const char *s = ref_attr_string(call, "reduction", "mean");
    if (!s)
        return STRATA_E_INVALID;
    if (strcmp(s, "mean") == 0)
        *out = REF_RED_MEAN;
    else if (strcmp(s, "sum") == 0)
        *out = REF_RED_SUM;
    else if (strcmp(s, "none") == 0)
        *out = REF_RED_NONE;
    else
        return ref_error(call, STRATA_E_INVALID, "reduction \"%s\" is not one of \"mean\", \"sum\", \"none\"", s);
    return STRATA_OK;
}

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
