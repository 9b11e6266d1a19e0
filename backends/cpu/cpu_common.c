/*
 * cpu_common.c - checks, attribute parsing, shape helpers and the merged
 * iteration (cpu_iter) shared by the cpu kernels.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu_internal.h"

/* ---- errors --------------------------------------------------------------- */

strata_status cpu_error(const strata_kernel_call *call, strata_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *op = call && call->op ? call->op : "cpu";
    if (cpu_host && cpu_host->set_error)
        cpu_host->set_error(status, "%s: %s", op, msg);
    return status;
}

const char *cpu_dtype_name(int32_t dtype)
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

const char *cpu_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
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

strata_status cpu_check_arity(const strata_kernel_call *call, int min_in, int max_in, int n_out)
{
    if (call->n_inputs < min_in || call->n_inputs > max_in) {
        if (min_in == max_in)
            return cpu_error(call, STRATA_E_INVALID, "expected %d inputs, got %d", min_in, (int)call->n_inputs);
        return cpu_error(call, STRATA_E_INVALID, "expected %d to %d inputs, got %d", min_in, max_in,
                         (int)call->n_inputs);
    }
    if (call->n_outputs != n_out)
        return cpu_error(call, STRATA_E_INVALID, "expected %d outputs, got %d", n_out, (int)call->n_outputs);
    return STRATA_OK;
}

strata_status cpu_check_f32(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_F32)
        return cpu_error(call, STRATA_E_DTYPE, "%s has dtype %s; the cpu kernel takes f32", what,
                         cpu_dtype_name(d->dtype));
    return STRATA_OK;
}

strata_status cpu_check_all_f32(const strata_kernel_call *call)
{
    for (int k = 0; k < call->n_inputs; k++)
        if (call->inputs[k].dtype != STRATA_F32)
            return cpu_error(call, STRATA_E_DTYPE, "input %d has dtype %s; the cpu kernel takes f32", k,
                             cpu_dtype_name(call->inputs[k].dtype));
    for (int k = 0; k < call->n_outputs; k++)
        if (call->outputs[k].dtype != STRATA_F32)
            return cpu_error(call, STRATA_E_DTYPE, "output %d has dtype %s; the cpu kernel takes f32", k,
                             cpu_dtype_name(call->outputs[k].dtype));
    return STRATA_OK;
}

strata_status cpu_check_index_dtype(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_I32 && d->dtype != STRATA_I64)
        return cpu_error(call, STRATA_E_DTYPE, "%s has dtype %s; expected i32 or i64", what,
                         cpu_dtype_name(d->dtype));
    return STRATA_OK;
}

strata_status cpu_check_numel(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                              int64_t numel)
{
    int64_t have = strata_desc_numel(d);
    if (have != numel) {
        char sh[128];
        return cpu_error(call, STRATA_E_SHAPE, "%s has shape %s (%lld elements); expected %lld elements", what,
                         cpu_shape_str(sh, sizeof sh, d->ndim, d->shape), (long long)have, (long long)numel);
    }
    return STRATA_OK;
}

strata_status cpu_check_same_shape(const strata_kernel_call *call, const strata_tensor_desc *a, const char *what_a,
                                   const strata_tensor_desc *b, const char *what_b)
{
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++)
        same = a->shape[d] == b->shape[d];
    if (!same) {
        char sa[128], sb[128];
        return cpu_error(call, STRATA_E_SHAPE, "%s has shape %s but %s has shape %s", what_a,
                         cpu_shape_str(sa, sizeof sa, a->ndim, a->shape), what_b,
                         cpu_shape_str(sb, sizeof sb, b->ndim, b->shape));
    }
    return STRATA_OK;
}

strata_status cpu_check_shape_attr(const strata_kernel_call *call, const char *name, const strata_tensor_desc *d)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return STRATA_OK;
    int same = a->kind == STRATA_ATTR_INTS && a->n == d->ndim && (a->ints || a->n == 0);
    for (int k = 0; same && k < d->ndim; k++)
        same = a->ints[k] == d->shape[k];
    if (!same) {
        char sd[128];
        return cpu_error(call, STRATA_E_SHAPE, "attr %s does not match the output's %s", name,
                         cpu_shape_str(sd, sizeof sd, d->ndim, d->shape));
    }
    return STRATA_OK;
}

strata_status cpu_check_indices(const strata_kernel_call *call, const strata_tensor_desc *idx, int64_t limit,
                                const char *what)
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
        return cpu_error(call, STRATA_E_INVALID, "%s %lld at position %lld is outside [0, %lld)", what,
                         (long long)cpu_index_at(idx, bad), (long long)bad, (long long)limit);
    return STRATA_OK;
}

/* ---- attributes ----------------------------------------------------------- */

strata_status cpu_axis(const strata_kernel_call *call, const char *attr, int64_t axis, int ndim, int *out)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return cpu_error(call, STRATA_E_INVALID, "%s %lld is outside a tensor of %d dims", attr, (long long)axis,
                         ndim);
    *out = (int)a;
    return STRATA_OK;
}

strata_status cpu_axes_mask(const strata_kernel_call *call, int ndim, int mask[STRATA_MAX_DIMS])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "axes");
    int all = !a || (a->kind == STRATA_ATTR_INTS && a->n == 0);
    for (int d = 0; d < STRATA_MAX_DIMS; d++)
        mask[d] = all && d < ndim;
    if (all)
        return STRATA_OK;
    if (a->kind == STRATA_ATTR_INT) {
        int d = 0;
        strata_status s = cpu_axis(call, "axes entry", a->i, ndim, &d);
        if (s == STRATA_OK)
            mask[d] = 1;
        return s;
    }
    if (a->kind != STRATA_ATTR_INTS || !a->ints)
        return cpu_error(call, STRATA_E_INVALID, "attr axes must be a list of ints");
    for (int k = 0; k < a->n; k++) {
        int d = 0;
        strata_status s = cpu_axis(call, "axes entry", a->ints[k], ndim, &d);
        if (s != STRATA_OK)
            return s;
        mask[d] = 1;
    }
    return STRATA_OK;
}

const char *cpu_attr_string(const strata_kernel_call *call, const char *name, const char *dflt)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return dflt;
    if (a->kind != STRATA_ATTR_STRING || !a->s) {
        cpu_error(call, STRATA_E_INVALID, "attr %s must be a string", name);
        return NULL;
    }
    return a->s;
}

strata_status cpu_reduction_mode_of(const strata_kernel_call *call, cpu_reduction_mode *out)
{
    const char *s = cpu_attr_string(call, "reduction", "mean");
    if (!s)
        return STRATA_E_INVALID;
    if (strcmp(s, "mean") == 0)
        *out = CPU_RED_MEAN;
    else if (strcmp(s, "sum") == 0)
        *out = CPU_RED_SUM;
    else if (strcmp(s, "none") == 0)
        *out = CPU_RED_NONE;
    else
        return cpu_error(call, STRATA_E_INVALID, "reduction \"%s\" is not one of \"mean\", \"sum\", \"none\"", s);
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
