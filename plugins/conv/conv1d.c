/*
 * conv1d.c - conv::conv1d: a 1-D convolution as a composite over conv2d.
 *
 *   x (N, C, L), w (OC, C/groups, K), b (OC) -> y (N, OC, OL)
 *   OL = (L + 2 p - d (K - 1) - 1) / s + 1
 *
 * x and w are viewed with a height of 1 ((N, C, 1, L), (OC, C/groups, 1, K)),
 * conv::conv2d runs with stride [1, s], padding [0, p], dilation [1, d], and
 * the result is viewed back as (N, OC, OL). The composite has no backward of
 * its own: gradients flow through the reshapes and conv2d, so it runs on
 * every backend that runs conv2d.
 */
#include <string.h>

#include "conv_internal.h"

/* stride, padding, dilation of a 1-D op: an int or a list of one. */
static strata_status read_1d(const strata_host_api *h, const char *op, const strata_attr *attrs, int n, int64_t *s,
                             int64_t *p, int64_t *d, int64_t *groups)
{
    const char *names[3] = {"stride", "padding", "dilation"};
    int64_t *vals[3] = {s, p, d};
    const int64_t dflt[3] = {1, 0, 1};
    for (int k = 0; k < 3; k++) {
        const strata_attr *a = strata_attr_find(attrs, n, names[k]);
        *vals[k] = dflt[k];
        if (!a)
            continue;
        if (a->kind == STRATA_ATTR_INT)
            *vals[k] = a->i;
        else if (a->kind == STRATA_ATTR_INTS && a->n == 1)
            *vals[k] = a->ints[0];
        else if (!(a->kind == STRATA_ATTR_INTS && a->n == 0))
            return h->set_error(STRATA_E_INVALID, "%s: '%s' takes one integer", op, names[k]);
    }
    *groups = strata_attr_get_int(attrs, n, "groups", 1);
    if (strata_attr_find(attrs, n, "output_padding"))
        return h->set_error(STRATA_E_INVALID, "%s: attribute 'output_padding' is conv_transpose2d's; this op would "
                                              "ignore it", op);
    for (int k = 0; k < 3; k++)
        if (*vals[k] > CONV_MAX_ATTR || *vals[k] < -CONV_MAX_ATTR)
            return h->set_error(STRATA_E_INVALID, "%s: '%s' %lld is out of range: at most %lld", op, names[k],
                                (long long)*vals[k], (long long)CONV_MAX_ATTR);
    if (*s < 1)
        return h->set_error(STRATA_E_INVALID, "%s: stride must be positive, got %lld", op, (long long)*s);
    if (*d < 1)
        return h->set_error(STRATA_E_INVALID, "%s: dilation must be positive, got %lld", op, (long long)*d);
    if (*p < 0)
        return h->set_error(STRATA_E_INVALID, "%s: padding must not be negative, got %lld", op, (long long)*p);
    if (*groups < 1)
        return h->set_error(STRATA_E_INVALID, "%s: groups must be positive, got %lld", op, (long long)*groups);
    return STRATA_OK;
}

static strata_status infer_conv1d(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    int64_t s, p, d, groups, OL;
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "x (N, C, L)", 3)) || (rc = conv_need_f32(c, 1, "weight (OC, C/groups, K)", 3)) ||
        (c->n_inputs > 2 && (rc = conv_need_f32(c, 2, "bias (OC)", 1))) ||
        (rc = read_1d(h, c->op, c->attrs, c->n_attrs, &s, &p, &d, &groups)))
        return rc;
    const int64_t *xs = c->inputs[0].shape, *ws = c->inputs[1].shape;
    if (xs[1] % groups || ws[0] % groups)
        return h->set_error(STRATA_E_SHAPE, "%s: channels (%lld in, %lld out) are not divisible by groups %lld",
                            c->op, (long long)xs[1], (long long)ws[0], (long long)groups);
    if (ws[1] != xs[1] / groups)
        return h->set_error(STRATA_E_SHAPE, "%s: the weight has %lld input channels per group, the input %lld", c->op,
                            (long long)ws[1], (long long)(xs[1] / groups));
    if ((rc = conv_check_bias(h, c->op, c->inputs, c->n_inputs, ws[0])) ||
        (rc = conv_out_len(h, c->op, "length", xs[2], ws[2], s, p, d, &OL)))
        return rc;
    strata_tensor_desc *y = &c->outputs[0];
    y->dtype = STRATA_F32;
    y->ndim = 3;
    y->shape[0] = xs[0], y->shape[1] = ws[0], y->shape[2] = OL;
    return STRATA_OK;
}

/* new reference of @p t viewed with a height of 1 inserted before the last dim */
static strata_status add_height(const strata_composite_call *c, strata_tensor *t, strata_tensor **out)
{
    const int64_t *s = c->host->tensor_shape(t);
    int64_t shape[4] = {s[0], s[1], 1, s[2]};
    strata_attr a = strata_attr_ints("shape", shape, 4);
    return c->host->op_call(c->rt, "core::reshape", &t, 1, &a, 1, out, 1);
}

static strata_status composite_conv1d(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    int64_t s, p, d, groups;
    strata_status rc = read_1d(h, c->op, c->attrs, c->n_attrs, &s, &p, &d, &groups);
    if (rc)
        return rc;
    strata_tensor *x4 = NULL, *w4 = NULL, *y4 = NULL;
    if ((rc = add_height(c, c->inputs[0], &x4)) || (rc = add_height(c, c->inputs[1], &w4)))
        goto done;
    conv_attrs at;
    memset(&at, 0, sizeof at);
    conv_attrs_pair(&at, "stride", 1, s);
    conv_attrs_pair(&at, "padding", 0, p);
    conv_attrs_pair(&at, "dilation", 1, d);
    conv_attrs_int(&at, "groups", groups);
    strata_tensor *in[3] = {x4, w4, c->n_inputs > 2 ? c->inputs[2] : NULL};
    if ((rc = h->op_call(c->rt, "conv::conv2d", in, c->n_inputs, at.a, at.n, &y4, 1)))
        goto done;
    const int64_t *ys = h->tensor_shape(y4);
    int64_t shape[3] = {ys[0], ys[1], ys[3]};
    strata_attr a = strata_attr_ints("shape", shape, 3);
    rc = h->op_call(c->rt, "core::reshape", &y4, 1, &a, 1, c->outputs, 1);
done:
    h->tensor_release(x4);
    h->tensor_release(w4);
    h->tensor_release(y4);
    return rc;
}

/* The attributes it takes (checked by the core on every call, ABI 1.4): an integer each, or a list of one, as
 * read_1d reads them (the conv1d layer passes integers). */
static const strata_attr_spec conv1d_attrs[4] = {
    CONV_OP_ATTR("stride", STRATA_ATTR_INTS, 0, 1, 0.0, "s or [s] (1)"),
    CONV_OP_ATTR("padding", STRATA_ATTR_INTS, 0, 0, 0.0, "zeros at each end, p or [p] (0)"),
    CONV_OP_ATTR("dilation", STRATA_ATTR_INTS, 0, 1, 0.0, "d or [d] (1)"),
    CONV_OP_ATTR("groups", STRATA_ATTR_INT, 0, 1, 0.0, "channel groups (1)"),
};

strata_status conv_register_conv1d(const strata_host_api *h, strata_plugin *p)
{
    strata_op_def d = {.struct_size = sizeof d,
                       .name = "conv::conv1d",
                       .version = 1,
                       .min_inputs = 2,
                       .max_inputs = 3,
                       .n_outputs = 1,
                       .infer = infer_conv1d,
                       .composite = composite_conv1d,
                       .user = (void *)(uintptr_t)h,
                       .doc = "1-D convolution (N, C, L): (x, weight (OC, C/groups, K) [, bias]); stride, padding, "
                              "dilation, groups; composite over conv2d",
                       .attrs = conv1d_attrs,
                       .n_attrs = 4};
    return h->register_op(p, &d);
}
