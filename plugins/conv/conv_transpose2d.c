/*
 * conv_transpose2d.c - conv::conv_transpose2d: the adjoint of conv2d.
 *
 *   x (N, C_in, H, W), w (C_in, OC/groups, KH, KW) as PyTorch, b (OC)
 *   -> y (N, OC, OH, OW), OH = (H - 1) sh - 2 ph + dh (KH - 1) + output_padding_h + 1
 *
 * Seen from conv2d, w is the weight of a convolution from OC to C_in
 * channels and y = conv^T(x, w) + b: the forward is conv2d's backward-data
 * kernel, and the backward is conv2d itself (for x) and conv2d's
 * backward-weight op with the roles of x and dy swapped (for w).
 * output_padding must be smaller than the stride, so that conv2d maps y's
 * size back to x's exactly.
 */
#include <string.h>

#include "conv_internal.h"

/* g describes the convolution y -> x (g.C = OC, g.H = OH; g.OC = C_in, g.OH = H). */
static strata_status geom_transpose(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                                    const strata_attr *attrs, int n_attrs, conv_geom *g)
{
    conv_params p;
    strata_status rc = conv_read_params(h, op, attrs, n_attrs, &p);
    if (rc)
        return rc;
    const int64_t *xs = in[0].shape, *ws = in[1].shape;
    for (int k = 0; k < 2; k++)
        if (p.output_padding[k] >= p.stride[k])
            return h->set_error(STRATA_E_INVALID,
                                "%s: output_padding (%lld, %lld) must be smaller than the stride (%lld, %lld)", op,
                                (long long)p.output_padding[0], (long long)p.output_padding[1],
                                (long long)p.stride[0], (long long)p.stride[1]);
    if (xs[1] != ws[0])
        return h->set_error(STRATA_E_SHAPE, "%s: x has %lld channels, the weight (C_in, OC/groups, KH, KW) %lld", op,
                            (long long)xs[1], (long long)ws[0]);
    if (xs[1] % p.groups)
        return h->set_error(STRATA_E_SHAPE, "%s: input channels %lld are not divisible by groups %lld", op,
                            (long long)xs[1], (long long)p.groups);
    g->N = xs[0], g->OC = xs[1], g->OH = xs[2], g->OW = xs[3];
    g->C = ws[1] * p.groups, g->KH = ws[2], g->KW = ws[3];
    g->sh = p.stride[0], g->sw = p.stride[1], g->ph = p.padding[0], g->pw = p.padding[1];
    g->dh = p.dilation[0], g->dw = p.dilation[1], g->groups = p.groups;
    if ((rc = conv_transpose_out_len(h, op, "height", g->OH, g->KH, g->sh, g->ph, g->dh, p.output_padding[0],
                                     &g->H)) ||
        (rc = conv_transpose_out_len(h, op, "width", g->OW, g->KW, g->sw, g->pw, g->dw, p.output_padding[1], &g->W)))
        return rc;
    return conv_check_bias(h, op, in, n_in, g->C);
}

static strata_status infer_transpose(const strata_infer_call *c)
{
    conv_geom g;
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "x (N, C_in, H, W)", 4)) ||
        (rc = conv_need_f32(c, 1, "weight (C_in, OC/groups, KH, KW)", 4)) ||
        (c->n_inputs > 2 && (rc = conv_need_f32(c, 2, "bias (OC)", 1))) ||
        (rc = geom_transpose(conv_host(c->user), c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g)))
        return rc;
    conv_desc_4d(&c->outputs[0], STRATA_F32, g.N, g.C, g.H, g.W);
    return STRATA_OK;
}

static strata_status kernel_transpose(const strata_kernel_call *c)
{
    conv_geom g;
    strata_status rc = geom_transpose(conv_host(c->user), c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    return conv_kernel_backward_data(c, &g, c->n_inputs > 2 ? (const float *)strata_desc_ptr(&c->inputs[2]) : NULL);
}

/* y = conv^T(x, w) + b: dx = conv(dy, w), dw = backward_weight(x, dy), db = sum(dy) */
static strata_status backward_transpose(const strata_backward_call *c)
{
    strata_tensor *dy = c->grad_outputs[0];
    if (!dy)
        return STRATA_OK;
    const strata_host_api *h = c->host;
    conv_params p;
    strata_status rc = conv_read_params(h, c->op, c->attrs, c->n_attrs, &p);
    if (rc)
        return rc;
    const int64_t *ws = h->tensor_shape(c->inputs[1]);
    conv_attrs at;
    memset(&at, 0, sizeof at);
    conv_attrs_conv(&at, &p);
    if (c->needs_grad[0]) {
        strata_tensor *in[2] = {dy, c->inputs[1]};
        rc = conv_call(c, "conv::conv2d", in, 2, &at, &c->grad_inputs[0]);
    }
    if (!rc && c->needs_grad[1]) {
        conv_attrs_pair(&at, "kernel_size", ws[2], ws[3]);
        strata_tensor *in[2] = {c->inputs[0], dy};
        rc = conv_call(c, "conv::conv2d_backward_weight", in, 2, &at, &c->grad_inputs[1]);
    }
    if (!rc && c->n_inputs > 2 && c->needs_grad[2])
        rc = conv_bias_grad(c, dy, &c->grad_inputs[2]);
    return rc;
}

/* The attributes it takes (checked by the core on every call, ABI 1.4): conv2d's window and output_padding. */
static const strata_attr_spec transpose_attrs[5] = {
    CONV_OP_GEOM_ATTRS,
    CONV_OP_ATTR("output_padding", STRATA_ATTR_INTS, 0, 0, 0.0, "[h, w] or [p]: rows and columns added (0)"),
};

strata_status conv_register_conv_transpose2d(const strata_host_api *h, strata_plugin *p)
{
    strata_op_def d = {.struct_size = sizeof d,
                       .name = "conv::conv_transpose2d",
                       .version = 1,
                       .min_inputs = 2,
                       .max_inputs = 3,
                       .n_outputs = 1,
                       .infer = infer_transpose,
                       .backward = backward_transpose,
                       .host_kernel = kernel_transpose,
                       .user = (void *)(uintptr_t)h,
                       .doc = "transposed 2-D convolution (the adjoint of conv2d): (x, weight (C_in, OC/groups, KH, "
                              "KW) [, bias]); stride, padding, output_padding, dilation, groups",
                       .attrs = transpose_attrs,
                       .n_attrs = 5};
    return h->register_op(p, &d);
}
