/*
 * conv_layers.c - the layer types of the conv plugin, with PyTorch's
 * attribute names, parameter names and shapes, and default initialisation,
 * so a checkpoint loads into the equivalent torch.nn.Sequential:
 *
 *   conv1d, conv2d      nn.Conv1d / nn.Conv2d        weight (OC, C/groups, [KH,] KW), bias (OC)
 *   conv_transpose2d    nn.ConvTranspose2d           weight (C, OC/groups, KH, KW), bias (OC)
 *   max_pool2d          nn.MaxPool2d
 *   avg_pool2d          nn.AvgPool2d
 *   global_avg_pool2d   nn.AdaptiveAvgPool2d(1) + nn.Flatten: (C, H, W) -> (C)
 *   batch_norm1d/2d     nn.BatchNorm1d / 2d          weight, bias; buffers running_mean,
 *                                                    running_var, num_batches_tracked (i64, shape ())
 *   dropout2d           nn.Dropout2d
 *
 * Sizes of 2-D windows (kernel_size, stride, padding, dilation,
 * output_padding) are lists of integers: [h, w], or one integer for both
 * (a spec may write `kernel_size: 5` or `kernel_size: [5, 3]`). An empty list
 * (the schema's default) means the PyTorch default.
 *
 * Written against the host table only, in the style of core/layers/layers.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

/* ---- helpers ------------------------------------------------------------- */

#define SPEC(NAME, KIND, REQ, DI, DF, DOC) {sizeof(strata_attr_spec), NAME, KIND, REQ, DI, DF, NULL, DOC}
/* An optional window attribute, given empty; APPLIED is the value the layer uses then (the defaults record) */
#define SPEC_WINDOW(NAME, APPLIED, DOC) {sizeof(strata_attr_spec), NAME, STRATA_ATTR_INTS, 0, 0, 0, APPLIED, DOC}

/* "layer 'conv1' (conv2d)" for messages. */
static const char *who(const strata_layer_create_call *c, const char *type, char *buf, size_t n)
{
    snprintf(buf, n, "layer '%s' (%s)", c->host->layer_name(c->layer), type);
    return buf;
}

/* Input 0 is f32 with a per-example rank of @p ndim (the batch excluded). */
static strata_status need_input(const strata_layer_create_call *c, const char *w, int ndim, const char *layout)
{
    const strata_tensor_desc *x = &c->inputs[0];
    char s[96];
    if (x->dtype != STRATA_F32)
        return c->host->set_error(STRATA_E_DTYPE, "%s expects f32 input, got dtype %d", w, (int)x->dtype);
    if (x->ndim != ndim)
        return c->host->set_error(STRATA_E_SHAPE, "%s expects examples of shape %s, got %s (rank %d)", w, layout,
                                  conv_shape_str(s, sizeof s, x->ndim, x->shape), x->ndim);
    return STRATA_OK;
}

/* A window size: two values for 2-D layers, one (stored twice) for 1-D. */
static strata_status size_attr(const strata_layer_create_call *c, const char *w, const char *name, int64_t dflt,
                               int dims, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(c->attrs, c->n_attrs, name);
    /* an empty list stands for a window attribute left out (its default); the kernel has none */
    if (!strcmp(name, "kernel_size") && a && a->kind == STRATA_ATTR_INTS && a->n == 0)
        return c->host->set_error(STRATA_E_INVALID, "%s: kernel_size is required (%s), got an empty list", w,
                                  dims == 1 ? "k or [k]" : "k or [kh, kw]");
    if (dims == 1 && a && a->kind == STRATA_ATTR_INTS && a->n > 1)
        return c->host->set_error(STRATA_E_INVALID, "%s: '%s' takes one integer, got a list of %d", w, name,
                                  (int)a->n);
    return conv_attr_pair(c->host, w, c->attrs, c->n_attrs, name, dflt, out);
}

/* "(3, 5)" for 2-D sizes, "5" for 1-D ones (stored in element 1). */
static const char *pair_str(char *buf, size_t n, const int64_t v[2], int dims)
{
    if (dims == 1)
        snprintf(buf, n, "%lld", (long long)v[1]);
    else
        snprintf(buf, n, "(%lld, %lld)", (long long)v[0], (long long)v[1]);
    return buf;
}

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

/* ---- convolutions ---------------------------------------------------------- */

enum { K_CONV1D, K_CONV2D, K_CONVT2D };

typedef struct conv_layer {
    int kind;
    strata_tensor *w, *b; /* borrowed from the model; b may be NULL */
    conv_params p;
} conv_layer;

static const strata_attr_spec conv_attrs_spec[] = {
    SPEC("in_channels", STRATA_ATTR_INT, 0, -1, 0, "input channels (taken from the input when -1)"),
    SPEC("out_channels", STRATA_ATTR_INT, 1, 0, 0, "output channels"),
    SPEC("kernel_size", STRATA_ATTR_INTS, 1, 0, 0, "kernel size: k or [kh, kw]"),
    SPEC_WINDOW("stride", "1", "stride: s or [sh, sw] (default 1)"),
    SPEC_WINDOW("padding", "0", "zero padding on each side: p or [ph, pw] (default 0)"),
    SPEC_WINDOW("dilation", "1", "spacing of the kernel taps: d or [dh, dw] (default 1)"),
    SPEC("groups", STRATA_ATTR_INT, 0, 1, 0, "blocked connections: in and out channels split into this many groups"),
    SPEC("bias", STRATA_ATTR_INT, 0, 1, 0, "add a learned bias (1) or not (0)"),
};

static const strata_attr_spec convt_attrs_spec[] = {
    SPEC("in_channels", STRATA_ATTR_INT, 0, -1, 0, "input channels (taken from the input when -1)"),
    SPEC("out_channels", STRATA_ATTR_INT, 1, 0, 0, "output channels"),
    SPEC("kernel_size", STRATA_ATTR_INTS, 1, 0, 0, "kernel size: k or [kh, kw]"),
    SPEC_WINDOW("stride", "1", "stride: s or [sh, sw] (default 1)"),
    SPEC_WINDOW("padding", "0", "implicit padding removed from each side of the output (default 0)"),
    SPEC_WINDOW("output_padding", "0", "extra rows/columns on one side of the output (default 0)"),
    SPEC_WINDOW("dilation", "1", "spacing of the kernel taps (default 1)"),
    SPEC("groups", STRATA_ATTR_INT, 0, 1, 0, "blocked connections"),
    SPEC("bias", STRATA_ATTR_INT, 0, 1, 0, "add a learned bias (1) or not (0)"),
};

static strata_status conv_create(const strata_layer_create_call *c, int kind)
{
    const strata_host_api *h = c->host;
    const char *type = kind == K_CONV1D ? "conv1d" : kind == K_CONV2D ? "conv2d" : "conv_transpose2d";
    char w[160];
    who(c, type, w, sizeof w);
    int dims = kind == K_CONV1D ? 1 : 2;
    strata_status rc = need_input(c, w, dims + 1, dims == 1 ? "(C, L)" : "(C, H, W)");
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0];
    int64_t C = x->shape[0];
    int64_t in_hw[2] = {dims == 1 ? 1 : x->shape[1], x->shape[dims]};
    int64_t in_c = strata_attr_get_int(c->attrs, c->n_attrs, "in_channels", -1);
    int64_t OC = strata_attr_get_int(c->attrs, c->n_attrs, "out_channels", 0);
    int64_t bias = strata_attr_get_int(c->attrs, c->n_attrs, "bias", 1);
    if (bias != 0 && bias != 1)
        return h->set_error(STRATA_E_INVALID, "%s: bias must be 0 or 1, got %lld", w, (long long)bias);
    conv_layer *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->kind = kind;
    conv_params *p = &s->p;
    int64_t k[2];
    if ((rc = size_attr(c, w, "kernel_size", -1, dims, k)) || (rc = size_attr(c, w, "stride", 1, dims, p->stride)) ||
        (rc = size_attr(c, w, "padding", 0, dims, p->padding)) ||
        (rc = size_attr(c, w, "dilation", 1, dims, p->dilation)) ||
        (rc = size_attr(c, w, "output_padding", 0, dims, p->output_padding)))
        return rc;
    p->groups = strata_attr_get_int(c->attrs, c->n_attrs, "groups", 1);
    if (dims == 1) { /* the height of the conv2d a conv1d runs */
        k[0] = 1, p->stride[0] = 1, p->padding[0] = 0, p->dilation[0] = 1;
    }
    if (in_c >= 0 && in_c != C)
        return h->set_error(STRATA_E_SHAPE, "%s: in_channels is %lld but the input has %lld channels", w,
                            (long long)in_c, (long long)C);
    if (OC <= 0)
        return h->set_error(STRATA_E_INVALID, "%s: out_channels must be positive, got %lld", w, (long long)OC);
    char v[64];
    if (k[0] < 1 || k[1] < 1)
        return h->set_error(STRATA_E_INVALID, "%s: kernel_size must be positive, got %s", w,
                            pair_str(v, sizeof v, k, dims));
    for (int d = 0; d < 2; d++) {
        if (p->stride[d] < 1)
            return h->set_error(STRATA_E_INVALID, "%s: stride must be positive, got %s", w,
                                pair_str(v, sizeof v, p->stride, dims));
        if (p->dilation[d] < 1)
            return h->set_error(STRATA_E_INVALID, "%s: dilation must be positive, got %s", w,
                                pair_str(v, sizeof v, p->dilation, dims));
        if (p->padding[d] < 0)
            return h->set_error(STRATA_E_INVALID, "%s: padding must not be negative, got %s", w,
                                pair_str(v, sizeof v, p->padding, dims));
        if (p->output_padding[d] < 0)
            return h->set_error(STRATA_E_INVALID, "%s: output_padding must not be negative, got %s", w,
                                pair_str(v, sizeof v, p->output_padding, dims));
    }
    if (p->groups < 1)
        return h->set_error(STRATA_E_INVALID, "%s: groups must be positive, got %lld", w, (long long)p->groups);
    if (C % p->groups || OC % p->groups)
        return h->set_error(STRATA_E_INVALID,
                            "%s: in_channels %lld and out_channels %lld must both be divisible by groups %lld", w,
                            (long long)C, (long long)OC, (long long)p->groups);
    int64_t out_hw[2];
    static const char *const axis[2] = {"height", "width"};
    for (int d = 0; d < 2; d++) {
        if (kind == K_CONVT2D) {
            if (p->output_padding[d] >= p->stride[d])
                return h->set_error(STRATA_E_INVALID,
                                    "%s: output_padding (%lld, %lld) must be smaller than the stride (%lld, %lld)", w,
                                    (long long)p->output_padding[0], (long long)p->output_padding[1],
                                    (long long)p->stride[0], (long long)p->stride[1]);
            rc = conv_transpose_out_len(h, w, axis[d], in_hw[d], k[d], p->stride[d], p->padding[d], p->dilation[d],
                                        p->output_padding[d], &out_hw[d]);
        } else {
            rc = conv_out_len(h, w, dims == 1 ? "length" : axis[d], in_hw[d], k[d], p->stride[d], p->padding[d],
                              p->dilation[d], &out_hw[d]);
        }
        if (rc)
            return rc;
    }
    /* PyTorch's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias the same,
     * with fan_in = weight.size(1) * KH * KW (for the transposed conv: OC/groups * KH * KW) */
    int64_t ws[4], bs[1] = {OC};
    if (kind == K_CONVT2D)
        ws[0] = C, ws[1] = OC / p->groups;
    else
        ws[0] = OC, ws[1] = C / p->groups;
    ws[2] = k[0], ws[3] = k[1];
    int wn = 4;
    if (dims == 1)
        ws[2] = k[1], wn = 3;
    double fan_in = (double)(ws[1] * k[0] * k[1]);
    double bound = 1.0 / sqrt(fan_in);
    if ((rc = h->layer_add_param(c->layer, "weight", STRATA_F32, wn, ws, &s->w)) ||
        (rc = h->init_uniform(s->w, -bound, bound)))
        return rc;
    if (bias && ((rc = h->layer_add_param(c->layer, "bias", STRATA_F32, 1, bs, &s->b)) ||
                 (rc = h->init_uniform(s->b, -bound, bound))))
        return rc;
    strata_tensor_desc *o = &c->outputs[0];
    *o = *x;
    o->shape[0] = OC;
    if (dims == 1) {
        o->shape[1] = out_hw[1];
    } else {
        o->shape[1] = out_hw[0];
        o->shape[2] = out_hw[1];
    }
    return STRATA_OK;
}

static strata_status conv1d_create(const strata_layer_create_call *c)
{
    return conv_create(c, K_CONV1D);
}
static strata_status conv2d_create(const strata_layer_create_call *c)
{
    return conv_create(c, K_CONV2D);
}
static strata_status convt2d_create(const strata_layer_create_call *c)
{
    return conv_create(c, K_CONVT2D);
}

static strata_status conv_forward(const strata_layer_forward_call *c)
{
    const conv_layer *s = c->state;
    conv_attrs at;
    memset(&at, 0, sizeof at);
    strata_tensor *in[3] = {c->inputs[0], s->w, s->b};
    int n_in = s->b ? 3 : 2;
    const char *op;
    if (s->kind == K_CONV1D) {
        at.a[at.n++] = strata_attr_int("stride", s->p.stride[1]);
        at.a[at.n++] = strata_attr_int("padding", s->p.padding[1]);
        at.a[at.n++] = strata_attr_int("dilation", s->p.dilation[1]);
        conv_attrs_int(&at, "groups", s->p.groups);
        op = "conv::conv1d";
    } else {
        conv_attrs_conv(&at, &s->p);
        op = "conv::conv2d";
        if (s->kind == K_CONVT2D) {
            conv_attrs_pair(&at, "output_padding", s->p.output_padding[0], s->p.output_padding[1]);
            op = "conv::conv_transpose2d";
        }
    }
    return c->host->op_call(c->rt, op, in, n_in, at.a, at.n, c->outputs, 1);
}

/* ---- pooling ---------------------------------------------------------------- */

typedef struct pool_layer {
    int64_t k[2], s[2], p[2];
    int count_include_pad;
} pool_layer;

static const strata_attr_spec max_pool_spec[] = {
    SPEC("kernel_size", STRATA_ATTR_INTS, 1, 0, 0, "window: k or [kh, kw]"),
    SPEC_WINDOW("stride", "(the kernel size)", "stride: s or [sh, sw] (default: the kernel size)"),
    SPEC_WINDOW("padding", "0", "implicit -inf padding on each side, at most half the kernel (default 0)"),
};

static const strata_attr_spec avg_pool_spec[] = {
    SPEC("kernel_size", STRATA_ATTR_INTS, 1, 0, 0, "window: k or [kh, kw]"),
    SPEC_WINDOW("stride", "(the kernel size)", "stride: s or [sh, sw] (default: the kernel size)"),
    SPEC_WINDOW("padding", "0", "implicit zero padding on each side, at most half the kernel (default 0)"),
    SPEC("count_include_pad", STRATA_ATTR_INT, 0, 1, 0, "1: divide by the window size; 0: by the taps inside the input"),
};

static strata_status pool_create(const strata_layer_create_call *c, const char *type)
{
    const strata_host_api *h = c->host;
    char w[160];
    who(c, type, w, sizeof w);
    strata_status rc = need_input(c, w, 3, "(C, H, W)");
    if (rc)
        return rc;
    pool_layer *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    if ((rc = size_attr(c, w, "kernel_size", -1, 2, s->k)) || (rc = size_attr(c, w, "stride", -1, 2, s->s)) ||
        (rc = size_attr(c, w, "padding", 0, 2, s->p)))
        return rc;
    const strata_attr *sa = strata_attr_find(c->attrs, c->n_attrs, "stride");
    if (!sa || (sa->kind == STRATA_ATTR_INTS && sa->n == 0))
        s->s[0] = s->k[0], s->s[1] = s->k[1];
    const int64_t cip = strata_attr_get_int(c->attrs, c->n_attrs, "count_include_pad", 1);
    if (cip != 0 && cip != 1)
        return h->set_error(STRATA_E_INVALID, "%s: count_include_pad must be 0 or 1, got %lld", w, (long long)cip);
    s->count_include_pad = (int)cip;
    if (s->k[0] < 1 || s->k[1] < 1)
        return h->set_error(STRATA_E_INVALID, "%s: kernel_size must be positive, got (%lld, %lld)", w,
                            (long long)s->k[0], (long long)s->k[1]);
    if (s->s[0] < 1 || s->s[1] < 1)
        return h->set_error(STRATA_E_INVALID, "%s: stride must be positive, got (%lld, %lld)", w, (long long)s->s[0],
                            (long long)s->s[1]);
    if (s->p[0] < 0 || s->p[1] < 0 || s->p[0] > s->k[0] / 2 || s->p[1] > s->k[1] / 2)
        return h->set_error(STRATA_E_INVALID,
                            "%s: padding (%lld, %lld) must be between 0 and half the kernel size (%lld, %lld)", w,
                            (long long)s->p[0], (long long)s->p[1], (long long)s->k[0], (long long)s->k[1]);
    const strata_tensor_desc *x = &c->inputs[0];
    strata_tensor_desc *o = &c->outputs[0];
    *o = *x;
    if ((rc = conv_out_len(h, w, "height", x->shape[1], s->k[0], s->s[0], s->p[0], 1, &o->shape[1])) ||
        (rc = conv_out_len(h, w, "width", x->shape[2], s->k[1], s->s[1], s->p[1], 1, &o->shape[2])))
        return rc;
    return STRATA_OK;
}

static strata_status max_pool_create(const strata_layer_create_call *c)
{
    return pool_create(c, "max_pool2d");
}
static strata_status avg_pool_create(const strata_layer_create_call *c)
{
    return pool_create(c, "avg_pool2d");
}

static void pool_attrs(const pool_layer *s, conv_attrs *at)
{
    memset(at, 0, sizeof *at);
    conv_attrs_pair(at, "kernel_size", s->k[0], s->k[1]);
    conv_attrs_pair(at, "stride", s->s[0], s->s[1]);
    conv_attrs_pair(at, "padding", s->p[0], s->p[1]);
}

static strata_status max_pool_forward(const strata_layer_forward_call *c)
{
    conv_attrs at;
    pool_attrs(c->state, &at);
    strata_tensor *out[2] = {NULL, NULL};
    strata_status rc = c->host->op_call(c->rt, "conv::max_pool2d", c->inputs, 1, at.a, at.n, out, 2);
    if (rc)
        return rc;
    c->host->tensor_release(out[1]); /* the recorded node keeps the indices alive */
    c->outputs[0] = out[0];
    return STRATA_OK;
}

static strata_status avg_pool_forward(const strata_layer_forward_call *c)
{
    const pool_layer *s = c->state;
    conv_attrs at;
    pool_attrs(s, &at);
    conv_attrs_int(&at, "count_include_pad", s->count_include_pad);
    return c->host->op_call(c->rt, "conv::avg_pool2d", c->inputs, 1, at.a, at.n, c->outputs, 1);
}

static strata_status global_avg_create(const strata_layer_create_call *c)
{
    char w[160];
    strata_status rc = need_input(c, who(c, "global_avg_pool2d", w, sizeof w), 3, "(C, H, W)");
    if (rc)
        return rc;
    c->outputs[0] = c->inputs[0];
    c->outputs[0].ndim = 1;
    return STRATA_OK;
}

static strata_status global_avg_forward(const strata_layer_forward_call *c)
{
    return c->host->op_call(c->rt, "conv::global_avg_pool2d", c->inputs, 1, NULL, 0, c->outputs, 1);
}

/* ---- batch norm ---------------------------------------------------------------- */

typedef struct bn_layer {
    strata_tensor *w, *b, *mean, *var, *count; /* borrowed from the model */
    double eps, momentum;
} bn_layer;

static const strata_attr_spec bn_spec[] = {
    SPEC("num_features", STRATA_ATTR_INT, 0, -1, 0, "channels C (taken from the input when -1)"),
    SPEC("eps", STRATA_ATTR_FLOAT, 0, 0, 1e-5, "added to the variance"),
    SPEC("momentum", STRATA_ATTR_FLOAT, 0, 0, 0.1, "weight of the batch in the running statistics"),
};

static strata_status fill_ones(const strata_host_api *h, strata_tensor *t, int64_t n)
{
    float *ones = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!ones)
        return h->set_error(STRATA_E_NOMEM, "batch norm: out of memory: %zu bytes for the initial weight",
                            sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    strata_status rc = h->tensor_write(t, ones, sizeof(float) * (size_t)n);
    free(ones);
    return rc;
}

static strata_status bn_create(const strata_layer_create_call *c, const char *type, int rank_lo, int rank_hi,
                               const char *layout)
{
    const strata_host_api *h = c->host;
    char w[160];
    who(c, type, w, sizeof w);
    const strata_tensor_desc *x = &c->inputs[0];
    strata_status rc = need_input(c, w, x->ndim >= rank_lo && x->ndim <= rank_hi ? x->ndim : rank_lo, layout);
    if (rc)
        return rc;
    int64_t C = x->shape[0];
    int64_t nf = strata_attr_get_int(c->attrs, c->n_attrs, "num_features", -1);
    if (nf >= 0 && nf != C)
        return h->set_error(STRATA_E_SHAPE, "%s: num_features is %lld but the input has %lld channels", w,
                            (long long)nf, (long long)C);
    bn_layer *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->eps = strata_attr_get_float(c->attrs, c->n_attrs, "eps", 1e-5);
    s->momentum = strata_attr_get_float(c->attrs, c->n_attrs, "momentum", 0.1);
    if (!(s->eps >= 0.0) || !isfinite(s->eps)) /* an infinite eps zeroes every output: training to chance */
        return h->set_error(STRATA_E_INVALID, "%s: eps must be a finite number >= 0, got %g", w, s->eps);
    if (!(s->momentum >= 0.0 && s->momentum <= 1.0))
        return h->set_error(STRATA_E_INVALID, "%s: momentum must be in [0, 1], got %g", w, s->momentum);
    int64_t cs[1] = {C};
    /* PyTorch's defaults: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0 */
    if ((rc = h->layer_add_param(c->layer, "weight", STRATA_F32, 1, cs, &s->w)) || (rc = fill_ones(h, s->w, C)) ||
        (rc = h->layer_add_param(c->layer, "bias", STRATA_F32, 1, cs, &s->b)) ||
        (rc = h->layer_add_buffer(c->layer, "running_mean", STRATA_F32, 1, cs, &s->mean)) ||
        (rc = h->layer_add_buffer(c->layer, "running_var", STRATA_F32, 1, cs, &s->var)) ||
        (rc = fill_ones(h, s->var, C)) ||
        (rc = h->layer_add_buffer(c->layer, "num_batches_tracked", STRATA_I64, 0, NULL, &s->count)))
        return rc;
    c->outputs[0] = *x;
    return STRATA_OK;
}

static strata_status bn1d_create(const strata_layer_create_call *c)
{
    return bn_create(c, "batch_norm1d", 1, 2, "(C) or (C, L)");
}
static strata_status bn2d_create(const strata_layer_create_call *c)
{
    return bn_create(c, "batch_norm2d", 3, 3, "(C, H, W)");
}

static strata_status bn_forward(const strata_layer_forward_call *c)
{
    const strata_host_api *h = c->host;
    const bn_layer *s = c->state;
    strata_tensor *in[5] = {c->inputs[0], s->w, s->b, s->mean, s->var};
    strata_attr at[2] = {strata_attr_int("training", c->training != 0), strata_attr_float("eps", s->eps)};
    strata_tensor *out[3] = {NULL, NULL, NULL};
    strata_status rc = h->op_call(c->rt, "conv::batch_norm", in, 5, at, 2, out, 3);
    if (rc)
        return rc;
    h->tensor_release(out[1]); /* the recorded node keeps mean and invstd for the backward */
    h->tensor_release(out[2]);
    c->outputs[0] = out[0];
    if (!c->training)
        return STRATA_OK;
    /* the running statistics, in place: ops never mutate their inputs, so the
     * buffers are given as provided outputs */
    strata_tensor *uin[4] = {s->mean, c->inputs[0], s->var, s->count};
    strata_tensor *uout[3] = {s->mean, s->var, s->count};
    strata_attr m = strata_attr_float("momentum", s->momentum);
    strata_op_invocation inv = {0};
    inv.struct_size = sizeof inv;
    inv.op = "conv::batch_norm_update_stats";
    inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
    inv.inputs = uin;
    inv.n_inputs = 4;
    inv.attrs = &m;
    inv.n_attrs = 1;
    inv.outputs = uout;
    inv.n_outputs = 3;
    rc = h->op_invoke(c->rt, &inv);
    if (rc) {
        h->tensor_release(c->outputs[0]);
        c->outputs[0] = NULL;
    }
    return rc;
}

/* ---- dropout2d ------------------------------------------------------------------- */

static const strata_attr_spec dropout2d_spec[] = {
    SPEC("p", STRATA_ATTR_FLOAT, 0, 0, 0.5, "probability of zeroing a whole channel"),
};

static strata_status dropout2d_create(const strata_layer_create_call *c)
{
    char w[160];
    who(c, "dropout2d", w, sizeof w);
    const strata_tensor_desc *x = &c->inputs[0];
    if (x->dtype != STRATA_F32 || x->ndim < 1)
        return c->host->set_error(STRATA_E_SHAPE, "%s expects f32 examples (C, ...), got dtype %d rank %d", w,
                                  (int)x->dtype, x->ndim);
    double p = strata_attr_get_float(c->attrs, c->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p <= 1.0))
        return c->host->set_error(STRATA_E_INVALID, "%s: p must be in [0, 1], got %g", w, p);
    double *s = malloc(sizeof *s);
    if (!s)
        return c->host->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *s = p;
    *c->state = s;
    c->outputs[0] = *x;
    return STRATA_OK;
}

static strata_status dropout2d_forward(const strata_layer_forward_call *c)
{
    double p = *(const double *)c->state;
    if (!c->training || p == 0.0) {
        c->outputs[0] = c->host->tensor_retain(c->inputs[0]);
        return STRATA_OK;
    }
    if (p == 1.0) { /* every channel dropped: x * 0, as PyTorch (NaN and Inf give NaN; the gradient is 0) */
        strata_attr zero = strata_attr_float("alpha", 0.0);
        return c->host->op_call(c->rt, "core::scale", c->inputs, 1, &zero, 1, c->outputs, 1);
    }
    strata_attr a = strata_attr_float("p", p);
    strata_tensor *out[2] = {NULL, NULL};
    strata_status rc = c->host->op_call(c->rt, "conv::dropout2d", c->inputs, 1, &a, 1, out, 2);
    if (rc)
        return rc;
    c->host->tensor_release(out[1]); /* the recorded node keeps the mask */
    c->outputs[0] = out[0];
    return STRATA_OK;
}

/* ---- table ------------------------------------------------------------------------- */

#define LAYER(NAME, ATTRS, NATTRS, CREATE, FORWARD, DESTROY, DOC)                                              \
    {                                                                                                          \
        .struct_size = sizeof(strata_layer_type), .name = NAME, .attrs = ATTRS, .n_attrs = NATTRS,             \
        .min_inputs = 1, .max_inputs = 1, .n_outputs = 1, .create = CREATE, .forward = FORWARD,                \
        .destroy = DESTROY, .doc = DOC                                                                         \
    }
#define NSPEC(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

static const strata_layer_type conv_layer_types[] = {
    LAYER("conv1d", conv_attrs_spec, NSPEC(conv_attrs_spec), conv1d_create, conv_forward, free_state,
          "1-D convolution over (C, L) (nn.Conv1d)"),
    LAYER("conv2d", conv_attrs_spec, NSPEC(conv_attrs_spec), conv2d_create, conv_forward, free_state,
          "2-D convolution over (C, H, W) (nn.Conv2d)"),
    LAYER("conv_transpose2d", convt_attrs_spec, NSPEC(convt_attrs_spec), convt2d_create, conv_forward, free_state,
          "transposed 2-D convolution (nn.ConvTranspose2d)"),
    LAYER("max_pool2d", max_pool_spec, NSPEC(max_pool_spec), max_pool_create, max_pool_forward, free_state,
          "2-D max pooling (nn.MaxPool2d)"),
    LAYER("avg_pool2d", avg_pool_spec, NSPEC(avg_pool_spec), avg_pool_create, avg_pool_forward, free_state,
          "2-D average pooling (nn.AvgPool2d)"),
    LAYER("global_avg_pool2d", NULL, 0, global_avg_create, global_avg_forward, NULL,
          "mean over H and W: (C, H, W) -> (C)"),
    LAYER("batch_norm1d", bn_spec, NSPEC(bn_spec), bn1d_create, bn_forward, free_state,
          "batch normalisation of (C) or (C, L) (nn.BatchNorm1d)"),
    LAYER("batch_norm2d", bn_spec, NSPEC(bn_spec), bn2d_create, bn_forward, free_state,
          "batch normalisation of (C, H, W) (nn.BatchNorm2d)"),
    LAYER("dropout2d", dropout2d_spec, NSPEC(dropout2d_spec), dropout2d_create, dropout2d_forward, free_state,
          "zeroes whole channels in training (nn.Dropout2d)"),
};

strata_status conv_register_layers(const strata_host_api *h, strata_plugin *p)
{
    for (size_t k = 0; k < sizeof conv_layer_types / sizeof conv_layer_types[0]; k++) {
        strata_status rc = h->register_layer(p, &conv_layer_types[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
