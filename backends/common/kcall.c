/*
 * kcall.c - the checks and attribute readers of kcall.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kcall.h"

#include "strata/strata_half.h"

static const strata_host_api *kc_host;
static const char *kc_backend = "backend";

void kc_init(const strata_host_api *host, const char *backend)
{
    kc_host = host;
    kc_backend = backend;
}

/* ---- errors --------------------------------------------------------------- */

strata_status kc_error(const strata_kernel_call *call, strata_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *op = call && call->op ? call->op : kc_backend;
    if (kc_host && kc_host->set_error)
        kc_host->set_error(status, "%s: %s", op, msg);
    return status;
}

const char *kc_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
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

strata_status kc_check_arity(const strata_kernel_call *call, int min_in, int max_in, int n_out)
{
    if (call->n_inputs < min_in || call->n_inputs > max_in) {
        if (min_in == max_in)
            return kc_error(call, STRATA_E_INVALID, "expected %d inputs, got %d", min_in, (int)call->n_inputs);
        return kc_error(call, STRATA_E_INVALID, "expected %d to %d inputs, got %d", min_in, max_in,
                        (int)call->n_inputs);
    }
    if (call->n_outputs != n_out)
        return kc_error(call, STRATA_E_INVALID, "expected %d outputs, got %d", n_out, (int)call->n_outputs);
    return STRATA_OK;
}

strata_status kc_check_f32(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_F32)
        return kc_error(call, STRATA_E_DTYPE, "%s has dtype %s; the %s kernel takes f32", what,
                        strata_dtype_name(d->dtype), kc_backend);
    return STRATA_OK;
}

strata_status kc_check_all_f32(const strata_kernel_call *call)
{
    char what[32];
    for (int k = 0; k < call->n_inputs + call->n_outputs; k++) {
        int in = k < call->n_inputs, j = in ? k : k - call->n_inputs;
        snprintf(what, sizeof what, "%s %d", in ? "input" : "output", j);
        strata_status s = kc_check_f32(call, in ? &call->inputs[j] : &call->outputs[j], what);
        if (s != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

strata_status kc_check_f32_call(const strata_kernel_call *call, int min_in, int max_in, int n_out)
{
    strata_status s = kc_check_arity(call, min_in, max_in, n_out);
    return s != STRATA_OK ? s : kc_check_all_f32(call);
}

strata_status kc_check_index_dtype(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what)
{
    if (d->dtype != STRATA_I32 && d->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "%s has dtype %s; expected i32 or i64", what,
                        strata_dtype_name(d->dtype));
    return STRATA_OK;
}

strata_status kc_check_numel(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                             int64_t numel)
{
    int64_t have = strata_desc_numel(d);
    if (have != numel) {
        char sh[128];
        return kc_error(call, STRATA_E_SHAPE, "%s has shape %s (%lld elements); expected %lld elements", what,
                        kc_shape_str(sh, sizeof sh, d->ndim, d->shape), (long long)have, (long long)numel);
    }
    return STRATA_OK;
}

strata_status kc_check_same_shape(const strata_kernel_call *call, const strata_tensor_desc *a, const char *what_a,
                                  const strata_tensor_desc *b, const char *what_b)
{
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++)
        same = a->shape[d] == b->shape[d];
    if (!same) {
        char sa[128], sb[128];
        return kc_error(call, STRATA_E_SHAPE, "%s has shape %s but %s has shape %s", what_a,
                        kc_shape_str(sa, sizeof sa, a->ndim, a->shape), what_b,
                        kc_shape_str(sb, sizeof sb, b->ndim, b->shape));
    }
    return STRATA_OK;
}

strata_status kc_check_shape_attr(const strata_kernel_call *call, const char *name, const strata_tensor_desc *d)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return STRATA_OK;
    int same = a->kind == STRATA_ATTR_INTS && a->n == d->ndim && (a->ints || a->n == 0);
    for (int k = 0; same && k < d->ndim; k++)
        same = a->ints[k] == d->shape[k];
    if (!same) {
        char sd[128];
        return kc_error(call, STRATA_E_SHAPE, "attr %s does not match the output's %s", name,
                        kc_shape_str(sd, sizeof sd, d->ndim, d->shape));
    }
    return STRATA_OK;
}

strata_status kc_check_optim(const strata_kernel_call *call, int n_in, int64_t *n)
{
    strata_status s = kc_check_f32_call(call, n_in, n_in, n_in - 1);
    if (s != STRATA_OK)
        return s;
    *n = strata_desc_numel(&call->inputs[0]);
    char what[32];
    for (int k = 1; k < n_in && s == STRATA_OK; k++) {
        if (k == 1)
            snprintf(what, sizeof what, "g");
        else
            snprintf(what, sizeof what, "slot %d", k - 2);
        s = kc_check_numel(call, &call->inputs[k], what, *n);
    }
    for (int k = 0; k < n_in - 1 && s == STRATA_OK; k++) {
        snprintf(what, sizeof what, "output %d", k);
        s = kc_check_numel(call, &call->outputs[k], what, *n);
    }
    return s;
}

strata_status kc_check_cast(const strata_kernel_call *call, int64_t *n)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *x = &call->inputs[0], *y = &call->outputs[0];
    for (int k = 0; k < 2 && s == STRATA_OK; k++) {
        const int dt = k ? y->dtype : x->dtype;
        if (dt != STRATA_F32 && dt != STRATA_F16 && dt != STRATA_BF16)
            s = kc_error(call, STRATA_E_DTYPE, "%s has dtype %s; expected f32, f16 or bf16", k ? "output" : "input",
                         strata_dtype_name(dt));
    }
    const int64_t want = strata_attr_get_int(call->attrs, call->n_attrs, "dtype", y->dtype);
    if (s == STRATA_OK && want != y->dtype)
        s = kc_error(call, STRATA_E_DTYPE, "output has dtype %s but attribute dtype is %lld (%s)",
                     strata_dtype_name(y->dtype), (long long)want, strata_dtype_name((int32_t)want));
    *n = s == STRATA_OK ? strata_desc_numel(x) : 0;
    return s == STRATA_OK ? kc_check_numel(call, y, "output", *n) : s;
}

void kc_cast_host(int from, int to, const void *src, void *dst, int64_t n)
{
    const float *xf = src;
    const uint16_t *xh = src;
    float *yf = dst;
    uint16_t *yh = dst;
    for (int64_t i = 0; i < n; i++) {
        const float v = from == STRATA_F32 ? xf[i] : from == STRATA_F16 ? strata_f16_to_f32(xh[i])
                                                                          : strata_bf16_to_f32(xh[i]);
        if (to == STRATA_F32)
            yf[i] = v;
        else
            yh[i] = to == STRATA_F16 ? strata_f32_to_f16(v) : strata_f32_to_bf16(v);
    }
}

strata_status kc_check_ema(const strata_kernel_call *call, int64_t *n, double *decay)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    *n = s == STRATA_OK ? strata_desc_numel(&call->inputs[0]) : 0;
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[1], "param", *n);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "ema output", *n);
    if (s != STRATA_OK)
        return s;
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "decay");
    if (!a || (a->kind != STRATA_ATTR_FLOAT && a->kind != STRATA_ATTR_INT))
        return kc_error(call, STRATA_E_INVALID, "attr decay (a float in [0, 1]) is required");
    *decay = a->kind == STRATA_ATTR_INT ? (double)a->i : a->f;
    if (!(*decay >= 0.0 && *decay <= 1.0))
        return kc_error(call, STRATA_E_INVALID, "decay must be in [0, 1], got %g", *decay);
    return STRATA_OK;
}

strata_status kc_check_cross_entropy(const strata_kernel_call *call, int backward, kc_reduction *mode, int64_t *N,
                                     int64_t *C)
{
    strata_status s = kc_check_arity(call, 2 + backward, 2 + backward, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *L = &call->inputs[backward], *T = &call->inputs[backward + 1], *out = &call->outputs[0];
    if ((s = kc_check_f32(call, L, "logits")) != STRATA_OK || (s = kc_check_index_dtype(call, T, "labels")) != STRATA_OK ||
        (s = kc_check_f32(call, out, backward ? "dlogits" : "loss")) != STRATA_OK ||
        (backward && (s = kc_check_f32(call, &call->inputs[0], "dy")) != STRATA_OK))
        return s;
    if (L->ndim != 2 || T->ndim != 1 || T->shape[0] != L->shape[0]) {
        char sl[128], st[128];
        return kc_error(call, STRATA_E_SHAPE, "logits %s and labels %s are not (N, C) and (N)",
                        kc_shape_str(sl, sizeof sl, L->ndim, L->shape), kc_shape_str(st, sizeof st, T->ndim, T->shape));
    }
    *N = L->shape[0];
    *C = L->shape[1];
    if ((s = kc_reduction_of(call, mode)) != STRATA_OK)
        return s;
    int64_t n = *mode == KC_RED_NONE ? *N : 1;
    if (!backward)
        return kc_check_numel(call, out, "loss", n);
    if ((s = kc_check_numel(call, &call->inputs[0], "dy", n)) != STRATA_OK)
        return s;
    return kc_check_same_shape(call, out, "dlogits", L, "logits");
}

/* Two inputs and one output: input 0 (@p what_in) and the output
 * (@p what_out) f32, input 1 ("idx") i32 or i64. */
static strata_status kc_check_indexed(const strata_kernel_call *call, const char *what_in, const char *what_out)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], what_in);
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[1], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], what_out);
    return s;
}

strata_status kc_check_sum_to_shape(const strata_kernel_call *call, int mask[STRATA_MAX_DIMS])
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    int t_ndim = Y->ndim;
    const int64_t *t_shape = Y->shape;
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "shape");
    if (a && a->kind == STRATA_ATTR_INTS && a->n <= STRATA_MAX_DIMS && (a->ints || a->n == 0)) {
        t_ndim = a->n;
        t_shape = a->ints;
    } else if (a) {
        return kc_error(call, STRATA_E_INVALID, "attr shape must be a list of at most %d ints", STRATA_MAX_DIMS);
    }
    int ok = t_ndim <= X->ndim && Y->ndim == t_ndim;
    for (int d = 0; ok && d < t_ndim; d++)
        ok = Y->shape[d] == t_shape[d];
    for (int d = 0; d < STRATA_MAX_DIMS; d++)
        mask[d] = 0;
    for (int d = 0; ok && d < X->ndim; d++) {
        int td = d - (X->ndim - t_ndim);
        if (td < 0 || (t_shape[td] == 1 && X->shape[d] != 1))
            mask[d] = 1;
        else
            ok = t_shape[td] == X->shape[d];
    }
    if (!ok) {
        char sx[128], st[128], sy[128];
        return kc_error(call, STRATA_E_SHAPE, "x %s does not broadcast from shape %s (output %s)",
                        kc_shape_str(sx, sizeof sx, X->ndim, X->shape), kc_shape_str(st, sizeof st, t_ndim, t_shape),
                        kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape));
    }
    return STRATA_OK;
}

void kc_red_plan_init(kc_red_plan *p, const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS])
{
    p->n = 0;
    p->n_out = 1;
    p->n_red = 1;
    for (int d = 0; d < x->ndim; d++) {
        const int64_t sz = x->shape[d];
        const int r = mask[d] != 0;
        if (r)
            p->n_red *= sz;
        else
            p->n_out *= sz;
        if (sz == 1)
            continue;
        if (p->n > 0 && p->red[p->n - 1] == r) {
            p->size[p->n - 1] *= sz;
        } else {
            p->size[p->n] = sz;
            p->red[p->n] = r;
            p->n++;
        }
    }
    int64_t run = 1;
    for (int d = p->n - 1; d >= 0; d--) {
        p->stride[d] = run;
        run *= p->size[d];
    }
}

int kc_red_plan_side(const kc_red_plan *p, int want_red, int64_t shape[STRATA_MAX_DIMS],
                     int64_t stride[STRATA_MAX_DIMS])
{
    int n = 0;
    for (int d = 0; d < p->n; d++) {
        if (p->red[d] != want_red)
            continue;
        shape[n] = p->size[d];
        stride[n++] = p->stride[d];
    }
    return n;
}

strata_status kc_check_slice_backward(const strata_kernel_call *call, kc_slice *sl)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    const strata_attr *at = call->attrs;
    int na = call->n_attrs;
    if ((s = kc_check_shape_attr(call, "shape", DX)) != STRATA_OK)
        return s;
    if ((s = kc_axis(call, "axis", strata_attr_get_int(at, na, "axis", 0), DX->ndim, &sl->axis)) != STRATA_OK)
        return s;
    const int64_t n = DX->shape[sl->axis];
    int64_t step = strata_attr_get_int(at, na, "step", 1);
    int64_t start = strata_attr_get_int(at, na, "start", 0);
    int64_t end = strata_attr_get_int(at, na, "end", n);
    if (step <= 0)
        return kc_error(call, STRATA_E_INVALID, "step %lld must be positive", (long long)step);
    if (start < 0)
        start += n;
    start = start < 0 ? 0 : start > n ? n : start;
    if (end < 0)
        end += n;
    end = end < 0 ? 0 : end > n ? n : end;
    const int64_t count = end > start ? (end - start - 1) / step + 1 : 0; /* no overflow for a huge step */
    int ok = DY->ndim == DX->ndim;
    for (int d = 0; ok && d < DX->ndim; d++)
        ok = DY->shape[d] == (d == sl->axis ? count : DX->shape[d]);
    if (!ok) {
        char sy[128], sx[128];
        return kc_error(call, STRATA_E_SHAPE, "dy has shape %s; slicing %s along axis %d gives %lld",
                        kc_shape_str(sy, sizeof sy, DY->ndim, DY->shape),
                        kc_shape_str(sx, sizeof sx, DX->ndim, DX->shape), sl->axis, (long long)count);
    }
    sl->n = n, sl->start = start, sl->step = step, sl->count = count;
    return STRATA_OK;
}

strata_status kc_check_embedding(const strata_kernel_call *call, int backward, int64_t *V, int64_t *D, int64_t *P)
{
    strata_status s = kc_check_indexed(call, backward ? "dy" : "w", backward ? "dw" : "output");
    if (s != STRATA_OK)
        return s;
    /* The table, (V, D): w forward, dw backward; the rows, P * D: y forward, dy backward. */
    const strata_tensor_desc *W = backward ? &call->outputs[0] : &call->inputs[0];
    const strata_tensor_desc *R = backward ? &call->inputs[0] : &call->outputs[0];
    if (W->ndim != 2)
        return kc_error(call, STRATA_E_SHAPE, "%s must be (V, D), got %d dims", backward ? "dw" : "w", (int)W->ndim);
    *V = W->shape[0];
    *D = W->shape[1];
    *P = strata_desc_numel(&call->inputs[1]);
    if (backward) {
        int64_t num = strata_attr_get_int(call->attrs, call->n_attrs, "num_embeddings", *V);
        if (num != *V)
            return kc_error(call, STRATA_E_SHAPE, "num_embeddings %lld but dw has %lld rows", (long long)num,
                            (long long)*V);
    }
    return kc_check_numel(call, R, backward ? "dy" : "output", *P * *D);
}

/* Attr "axis" of a gather from @p x into *axis; STRATA_E_SHAPE unless idx
 * fits x off that axis. */
static strata_status kc_gather_axis(const strata_kernel_call *call, const strata_tensor_desc *x,
                                    const strata_tensor_desc *idx, int *axis)
{
    strata_status s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", 0), x->ndim, axis);
    if (s != STRATA_OK)
        return s;
    int ok = idx->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = d == *axis || idx->shape[d] <= x->shape[d];
    if (!ok) {
        char sx[128], si[128];
        return kc_error(call, STRATA_E_SHAPE, "idx %s does not fit x %s outside axis %d",
                        kc_shape_str(si, sizeof si, idx->ndim, idx->shape),
                        kc_shape_str(sx, sizeof sx, x->ndim, x->shape), *axis);
    }
    return STRATA_OK;
}

strata_status kc_check_gather(const strata_kernel_call *call, int backward, int *axis)
{
    strata_status s = kc_check_indexed(call, backward ? "dy" : "x", backward ? "dx" : "output");
    if (s != STRATA_OK)
        return s;
    /* Gathered from: x forward, dx backward; idx's shape: y forward, dy backward. */
    const strata_tensor_desc *IDX = &call->inputs[1];
    const strata_tensor_desc *X = backward ? &call->outputs[0] : &call->inputs[0];
    const strata_tensor_desc *Y = backward ? &call->inputs[0] : &call->outputs[0];
    if (backward && (s = kc_check_shape_attr(call, "shape", X)) != STRATA_OK)
        return s;
    if ((s = kc_gather_axis(call, X, IDX, axis)) != STRATA_OK)
        return s;
    return kc_check_same_shape(call, Y, backward ? "dy" : "output", IDX, "idx");
}

strata_status kc_check_one_hot(const strata_kernel_call *call, int64_t *P, int64_t *C)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = kc_check_index_dtype(call, &call->inputs[0], "idx");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "output");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *Y = &call->outputs[0];
    if (Y->ndim < 1)
        return kc_error(call, STRATA_E_SHAPE, "output must have a class dim");
    *C = Y->shape[Y->ndim - 1];
    *P = strata_desc_numel(&call->inputs[0]);
    int64_t num = strata_attr_get_int(call->attrs, call->n_attrs, "num_classes", *C);
    if (num != *C)
        return kc_error(call, STRATA_E_SHAPE, "num_classes %lld but the output's last dim is %lld", (long long)num,
                        (long long)*C);
    return kc_check_numel(call, Y, "output", *P * *C);
}

/* ---- attributes ----------------------------------------------------------- */

strata_status kc_axis(const strata_kernel_call *call, const char *attr, int64_t axis, int ndim, int *out)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return kc_error(call, STRATA_E_INVALID, "%s %lld is outside a tensor of %d dims", attr, (long long)axis, ndim);
    *out = (int)a;
    return STRATA_OK;
}

strata_status kc_axes_mask(const strata_kernel_call *call, int ndim, int mask[STRATA_MAX_DIMS])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "axes");
    int all = !a || (a->kind == STRATA_ATTR_INTS && a->n == 0);
    for (int d = 0; d < STRATA_MAX_DIMS; d++)
        mask[d] = all && d < ndim;
    if (all)
        return STRATA_OK;
    if (a->kind == STRATA_ATTR_INT) {
        int d = 0;
        strata_status s = kc_axis(call, "axes entry", a->i, ndim, &d);
        if (s == STRATA_OK)
            mask[d] = 1;
        return s;
    }
    if (a->kind != STRATA_ATTR_INTS || !a->ints)
        return kc_error(call, STRATA_E_INVALID, "attr axes must be a list of ints");
    for (int k = 0; k < a->n; k++) {
        int d = 0;
        strata_status s = kc_axis(call, "axes entry", a->ints[k], ndim, &d);
        if (s != STRATA_OK)
            return s;
        mask[d] = 1;
    }
    return STRATA_OK;
}

const char *kc_attr_string(const strata_kernel_call *call, const char *name, const char *dflt)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return dflt;
    if (a->kind != STRATA_ATTR_STRING || !a->s) {
        kc_error(call, STRATA_E_INVALID, "attr %s must be a string", name);
        return NULL;
    }
    return a->s;
}

strata_status kc_optim_step(const strata_kernel_call *call, int64_t *t)
{
    *t = strata_attr_get_int(call->attrs, call->n_attrs, "step", 1);
    if (*t < 1)
        return kc_error(call, STRATA_E_INVALID, "step %lld must be at least 1", (long long)*t);
    return STRATA_OK;
}

strata_status kc_reduction_of(const strata_kernel_call *call, kc_reduction *out)
{
    const char *s = kc_attr_string(call, "reduction", "mean");
    if (!s)
        return STRATA_E_INVALID;
    if (strcmp(s, "mean") == 0)
        *out = KC_RED_MEAN;
    else if (strcmp(s, "sum") == 0)
        *out = KC_RED_SUM;
    else if (strcmp(s, "none") == 0)
        *out = KC_RED_NONE;
    else
        return kc_error(call, STRATA_E_INVALID, "reduction \"%s\" is not one of \"mean\", \"sum\", \"none\"", s);
    return STRATA_OK;
}
