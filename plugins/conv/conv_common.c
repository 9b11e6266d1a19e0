/* conv_common.c - attribute parsing, output sizes and small helpers shared
 * by the conv plugin's ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

static strata_status attr_pair(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                               const char *name, int64_t dflt, int64_t out[2]);

strata_status conv_attr_pair(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                             const char *name, int64_t dflt, int64_t out[2])
{
    strata_status rc = attr_pair(h, op, attrs, n, name, dflt, out);
    for (int k = 0; k < 2 && !rc; k++)
        if (out[k] > CONV_MAX_ATTR || out[k] < -CONV_MAX_ATTR) /* sizes from them cannot overflow */
            rc = h->set_error(STRATA_E_INVALID, "%s: '%s' (%lld, %lld) is out of range: at most %lld", op, name,
                              (long long)out[0], (long long)out[1], (long long)CONV_MAX_ATTR);
    return rc;
}

static strata_status attr_pair(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                               const char *name, int64_t dflt, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(attrs, n, name);
    out[0] = out[1] = dflt;
    if (!a)
        return STRATA_OK;
    switch (a->kind) {
    case STRATA_ATTR_INT:
        out[0] = out[1] = a->i;
        return STRATA_OK;
    case STRATA_ATTR_INTS:
        if (a->n == 0)
            return STRATA_OK;
        if (a->n == 1) {
            out[0] = out[1] = a->ints[0];
            return STRATA_OK;
        }
        if (a->n == 2) {
            out[0] = a->ints[0];
            out[1] = a->ints[1];
            return STRATA_OK;
        }
        return h->set_error(STRATA_E_INVALID, "%s: '%s' takes one or two integers (height, width), got %d", op,
                            name, (int)a->n);
    default:
        return h->set_error(STRATA_E_INVALID, "%s: '%s' must be an integer or a list of two integers", op, name);
    }
}

strata_status conv_read_params(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                               conv_params *p)
{
    strata_status rc;
    if ((rc = conv_attr_pair(h, op, attrs, n, "stride", 1, p->stride)) ||
        (rc = conv_attr_pair(h, op, attrs, n, "padding", 0, p->padding)) ||
        (rc = conv_attr_pair(h, op, attrs, n, "dilation", 1, p->dilation)) ||
        (rc = conv_attr_pair(h, op, attrs, n, "output_padding", 0, p->output_padding)))
        return rc;
    p->groups = strata_attr_get_int(attrs, n, "groups", 1);
    for (int k = 0; k < 2; k++) {
        if (p->stride[k] < 1)
            return h->set_error(STRATA_E_INVALID, "%s: stride must be positive, got (%lld, %lld)", op,
                                (long long)p->stride[0], (long long)p->stride[1]);
        if (p->dilation[k] < 1)
            return h->set_error(STRATA_E_INVALID, "%s: dilation must be positive, got (%lld, %lld)", op,
                                (long long)p->dilation[0], (long long)p->dilation[1]);
        if (p->padding[k] < 0)
            return h->set_error(STRATA_E_INVALID, "%s: padding must not be negative, got (%lld, %lld)", op,
                                (long long)p->padding[0], (long long)p->padding[1]);
        if (p->output_padding[k] < 0)
            return h->set_error(STRATA_E_INVALID, "%s: output_padding must not be negative, got (%lld, %lld)", op,
                                (long long)p->output_padding[0], (long long)p->output_padding[1]);
    }
    if (p->groups < 1)
        return h->set_error(STRATA_E_INVALID, "%s: groups must be positive, got %lld", op, (long long)p->groups);
    if ((p->output_padding[0] || p->output_padding[1]) && !strstr(op, "transpose"))
        return h->set_error(STRATA_E_INVALID, "%s: output_padding (%lld, %lld) is conv_transpose2d's; this op "
                                              "would ignore it",
                            op, (long long)p->output_padding[0], (long long)p->output_padding[1]);
    return STRATA_OK;
}

strata_status conv_out_len(const strata_host_api *h, const char *op, const char *axis, int64_t in, int64_t k,
                           int64_t s, int64_t p, int64_t d, int64_t *out)
{
    if (k < 1)
        return h->set_error(STRATA_E_INVALID, "%s: kernel %s must be positive, got %lld", op, axis, (long long)k);
    if (in < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: the input's %s is %lld; it must be positive", op, axis,
                            (long long)in);
    int64_t span, padded; /* the dilated kernel; the padded input */
    if (__builtin_mul_overflow(d, k - 1, &span) || __builtin_add_overflow(span, 1, &span) ||
        __builtin_mul_overflow(p, 2, &padded) || __builtin_add_overflow(padded, in, &padded))
        return h->set_error(STRATA_E_INVALID,
                            "%s: kernel %s %lld, dilation %lld, padding %lld and input %lld overflow 64-bit sizes",
                            op, axis, (long long)k, (long long)d, (long long)p, (long long)in);
    if (span > padded)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: kernel %s %lld (dilation %lld: spans %lld) is larger than the padded input %s "
                            "%lld + 2 x %lld = %lld",
                            op, axis, (long long)k, (long long)d, (long long)span, axis, (long long)in, (long long)p,
                            (long long)padded);
    *out = (padded - span) / s + 1;
    return STRATA_OK;
}

strata_status conv_transpose_out_len(const strata_host_api *h, const char *op, const char *axis, int64_t in,
                                     int64_t k, int64_t s, int64_t p, int64_t d, int64_t op_, int64_t *out)
{
    if (k < 1)
        return h->set_error(STRATA_E_INVALID, "%s: kernel %s must be positive, got %lld", op, axis, (long long)k);
    if (op_ >= s && op_ >= d)
        return h->set_error(STRATA_E_INVALID,
                            "%s: output_padding %lld along the %s must be smaller than the stride (%lld) or the "
                            "dilation (%lld)",
                            op, (long long)op_, axis, (long long)s, (long long)d);
    if (in < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: the input's %s is %lld; it must be positive", op, axis,
                            (long long)in);
    int64_t o, t;
    if (__builtin_mul_overflow(in - 1, s, &o) || __builtin_mul_overflow(p, 2, &t) || __builtin_sub_overflow(o, t, &o) ||
        __builtin_mul_overflow(d, k - 1, &t) || __builtin_add_overflow(o, t, &o) || __builtin_add_overflow(o, op_, &o) ||
        __builtin_add_overflow(o, 1, &o))
        return h->set_error(STRATA_E_INVALID,
                            "%s: output %s overflows 64 bits (input %lld, kernel %lld, stride %lld, padding %lld, "
                            "dilation %lld)",
                            op, axis, (long long)in, (long long)k, (long long)s, (long long)p, (long long)d);
    if (o < 1)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: output %s would be %lld (input %lld, kernel %lld, stride %lld, padding %lld, "
                            "dilation %lld, output_padding %lld)",
                            op, axis, (long long)o, (long long)in, (long long)k, (long long)s, (long long)p,
                            (long long)d, (long long)op_);
    *out = o;
    return STRATA_OK;
}

void conv_attrs_pair(conv_attrs *at, const char *name, int64_t v0, int64_t v1)
{
    at->store[at->n][0] = v0;
    at->store[at->n][1] = v1;
    at->a[at->n] = strata_attr_ints(name, at->store[at->n], 2);
    at->n++;
}

void conv_attrs_int(conv_attrs *at, const char *name, int64_t v)
{
    at->a[at->n++] = strata_attr_int(name, v);
}

void conv_attrs_conv(conv_attrs *at, const conv_params *p)
{
    conv_attrs_pair(at, "stride", p->stride[0], p->stride[1]);
    conv_attrs_pair(at, "padding", p->padding[0], p->padding[1]);
    conv_attrs_pair(at, "dilation", p->dilation[0], p->dilation[1]);
    conv_attrs_int(at, "groups", p->groups);
}

void conv_desc_like(strata_tensor_desc *out, const strata_tensor_desc *in)
{
    out->dtype = in->dtype;
    out->ndim = in->ndim;
    memcpy(out->shape, in->shape, sizeof in->shape);
}

void conv_desc_4d(strata_tensor_desc *out, int32_t dtype, int64_t a, int64_t b, int64_t c, int64_t d)
{
    out->dtype = dtype;
    out->ndim = 4;
    out->shape[0] = a, out->shape[1] = b, out->shape[2] = c, out->shape[3] = d;
}

strata_status conv_size_attr(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                             const char *name, const char *dims, int64_t size[2])
{
    strata_status rc = conv_attr_pair(h, op, attrs, n, name, -1, size);
    if (!rc && (size[0] < 1 || size[1] < 1))
        rc = h->set_error(STRATA_E_INVALID, "%s: attribute %s [%s] is required and positive", op, name, dims);
    return rc;
}

strata_status conv_check_bias(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                              int64_t channels)
{
    if (n_in > 2 && (in[2].ndim != 1 || in[2].shape[0] != channels))
        return h->set_error(STRATA_E_SHAPE, "%s: bias has %lld elements for %lld output channels", op,
                            (long long)(in[2].ndim == 1 ? in[2].shape[0] : -1), (long long)channels);
    return STRATA_OK;
}

const char *conv_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
    return buf;
}

strata_status conv_need_f32(const strata_infer_call *c, int k, const char *what, int ndim)
{
    const strata_host_api *h = conv_host(c->user);
    const strata_tensor_desc *d = &c->inputs[k];
    char s[128];
    if (d->dtype != STRATA_F32)
        return h->set_error(STRATA_E_DTYPE, "%s: %s (input %d) must be f32, got dtype %d", c->op, what, k,
                            (int)d->dtype);
    if ((ndim >= 0 && d->ndim != ndim) || (ndim < 0 && d->ndim < -ndim))
        return h->set_error(STRATA_E_SHAPE, "%s: %s (input %d) must have rank %s%d, got shape %s", c->op, what, k,
                            ndim < 0 ? "at least " : "", ndim < 0 ? -ndim : ndim,
                            conv_shape_str(s, sizeof s, d->ndim, d->shape));
    return STRATA_OK;
}

void *conv_scratch(const strata_host_api *h, const char *op, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        h->set_error(STRATA_E_NOMEM, "%s: out of memory for %zu bytes of scratch", op, bytes);
    return p;
}

strata_status conv_bias_grad(const strata_backward_call *c, strata_tensor *g, strata_tensor **out)
{
    int nd = c->host->tensor_ndim(g);
    int64_t axes[STRATA_MAX_DIMS];
    int n = 0;
    for (int k = 0; k < nd; k++)
        if (k != 1)
            axes[n++] = k;
    strata_attr a = strata_attr_ints("axes", axes, n);
    return c->host->op_call(c->rt, "core::sum", &g, 1, &a, 1, out, 1);
}

strata_status conv_register_ops(const strata_host_api *h, strata_plugin *p, const strata_op_def *defs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        strata_status rc = h->register_op(p, &defs[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}

strata_status conv_call(const strata_backward_call *c, const char *op, strata_tensor *const *in, int n_in,
                        const conv_attrs *at, strata_tensor **out)
{
    return c->host->op_call(c->rt, op, in, n_in, at ? at->a : NULL, at ? at->n : 0, out, 1);
}
