/*
 * rnn_seq.c - lstm::rnn_seq (one Elman RNN layer, one direction, a whole
 * sequence), its BPTT op lstm::rnn_seq_backward and the composite-only twin
 * lstm::rnn_seq_unfused. PyTorch's nn.RNN:
 *
 *   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh or relu
 *
 *   lstm::rnn_seq (x, w_ih, w_hh, h0 [, b_ih, b_hh]) -> y, h_n
 *       attrs reverse, batch_first, nonlinearity ("tanh" | "relu")
 *   lstm::rnn_seq_backward (dy, dh_n, w_hh, y) -> da (layout, H), dh0
 *       da: the gradient of the pre-activation (relu'(0) = 0)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_internal.h"

static void rnn_forward(float *y, float *hn, const float *x, const float *w_ih, const float *w_hh, const float *h0,
                        const float *b_ih, const float *b_hh, const rnn_geom *g, double *a, double *h)
{
    const int64_t H = g->H, I = g->I;
    for (int64_t k = 0; k < g->B * H; k++)
        h[k] = h0[k];
    for (int64_t s = 0; s < g->T; s++) {
        const int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const float *xr = x + rnn_row(g, t, b) * I; // (I)
            for (int64_t j = 0; j < H; j++) {
                double acc = b_ih ? (double)b_ih[j] + (double)b_hh[j] : 0.0;
                const float *wi = w_ih + j * I, *wh = w_hh + j * H;
                for (int64_t k = 0; k < I; k++)
                    acc += (double)wi[k] * xr[k];
                for (int64_t k = 0; k < H; k++)
                    acc += (double)wh[k] * h[b * H + k];
                a[b * H + j] = acc;
            }
        }
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            for (int64_t j = 0; j < H; j++) {
                double v = a[b * H + j];
                v = g->relu ? (v <= 0.0 ? 0.0 : v) : tanh(v); /* relu keeps NaN, as PyTorch */
                h[b * H + j] = v;
                y[r * H + j] = (float)v;
            }
        }
    }
    for (int64_t k = 0; k < g->B * H; k++)
        hn[k] = (float)h[k];
}

static void rnn_backward(float *da, float *dh0, const float *dy, const float *dhn, const float *w_hh, const float *y,
                         const rnn_geom *g, double *dh, double *dhp)
{
    const int64_t H = g->H;
    for (int64_t k = 0; k < g->B * H; k++)
        dh[k] = dhn[k];
    for (int64_t s = g->T - 1; s >= 0; s--) {
        const int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            float *dar = da + r * H;
            for (int64_t j = 0; j < H; j++) {
                double v = y[r * H + j];
                double dhv = (double)dy[r * H + j] + dh[b * H + j];
                dar[j] = (float)(g->relu ? (v <= 0.0 ? 0.0 : dhv) : dhv * (1.0 - v * v));
                dhp[b * H + j] = 0.0;
            }
            rnn_add_dh(dhp + b * H, dar, w_hh, H, H);
        }
        memcpy(dh, dhp, sizeof(double) * (size_t)(g->B * H));
    }
    for (int64_t k = 0; k < g->B * H; k++)
        dh0[k] = (float)dh[k];
}

#define P(k) ((const float *)strata_desc_ptr(&c->inputs[k]))
#define PO(k) ((float *)strata_desc_ptr(&c->outputs[k]))

static strata_status infer_rnn_seq(const strata_infer_call *c)
{
    return rnn_infer_seq(c, CELL_RNN, 0);
}

static strata_status kernel_rnn_seq(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = rnn_geom_forward(h, c->op, CELL_RNN, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *a = rnn_scratch(h, c->op, sizeof(double) * (size_t)(2 * g.B * g.H));
    if (!a)
        return STRATA_E_NOMEM;
    rnn_forward(PO(0), PO(1), P(0), P(1), P(2), P(3), g.has_bias ? P(4) : NULL, g.has_bias ? P(5) : NULL, &g, a,
                a + g.B * g.H);
    free(a);
    return STRATA_OK;
}

static strata_status composite_rnn_seq(const strata_composite_call *c)
{
    return rnn_composite(c, CELL_RNN);
}

/* dy, dh_n, w_hh (H, H), y (layout, H) */
static strata_status geom_backward(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                   const strata_attr *attrs, int n_attrs, rnn_geom *g)
{
    strata_status rc = rnn_read_attrs(h, op, attrs, n_attrs, CELL_RNN, g);
    if (rc)
        return rc;
    const strata_tensor_desc *dy = &in[0];
    char s[96];
    if (dy->dtype != STRATA_F32 || dy->ndim != 3)
        return h->set_error(STRATA_E_SHAPE, "%s: dy (input 0) must be f32 of rank 3, got %s", op,
                            rnn_shape_str(s, sizeof s, dy->ndim, dy->shape));
    g->T = g->bf ? dy->shape[1] : dy->shape[0];
    g->B = g->bf ? dy->shape[0] : dy->shape[1];
    g->H = dy->shape[2];
    g->I = 0;
    if ((rc = rnn_need_positive(h, op, dy, g)))
        return rc;
    if ((rc = rnn_need_shape(h, op, in, 1, "dh_n (B, H)", 2, g->B, g->H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 2, "w_hh (H, H)", 2, g->H, g->H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 3, "y (layout, H)", 3, dy->shape[0], dy->shape[1], g->H)))
        return rc;
    return STRATA_OK;
}

static strata_status infer_rnn_seq_backward(const strata_infer_call *c)
{
    rnn_geom g;
    strata_status rc = geom_backward(rnn_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    rnn_desc_seq(&c->outputs[0], &g, g.H);
    rnn_desc(&c->outputs[1], 2, g.B, g.H, 0);
    return STRATA_OK;
}

static strata_status kernel_rnn_seq_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = geom_backward(h, c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *d = rnn_scratch(h, c->op, sizeof(double) * (size_t)(2 * g.B * g.H));
    if (!d)
        return STRATA_E_NOMEM;
    rnn_backward(PO(0), PO(1), P(0), P(1), P(2), P(3), &g, d, d + g.B * g.H);
    free(d);
    return STRATA_OK;
}

static strata_status backward_rnn_seq(const strata_backward_call *c)
{
    strata_tensor *extra[2] = {c->inputs[2], c->outputs[0]};
    return rnn_backward_seq(c, CELL_RNN, "lstm::rnn_seq_backward", extra, 2, 2, 0);
}

/* The attributes it, its backward op and rnn_seq_unfused take (checked by the core on every call, ABI 1.4). */
static const strata_attr_spec rnn_seq_attrs[3] = {
    RNN_SEQ_ATTRS,
    RNN_SEQ_ATTR("nonlinearity", STRATA_ATTR_STRING, 0, "tanh", "tanh or relu"),
};

strata_status lstm_register_rnn_seq(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def fwd = {
        .name = "lstm::rnn_seq",
        .min_inputs = 4,
        .max_inputs = 6,
        .n_outputs = 2,
        .infer = infer_rnn_seq,
        .backward = backward_rnn_seq,
        .composite = composite_rnn_seq,
        .host_kernel = kernel_rnn_seq,
        .doc = "one Elman RNN layer over a sequence: (x, w_ih, w_hh, h0 [, b_ih, b_hh]) -> y, h_n; reverse, "
               "batch_first, nonlinearity",
        .attrs = rnn_seq_attrs,
        .n_attrs = 3};
    const strata_op_def bwd = {
        .name = "lstm::rnn_seq_backward",
        .min_inputs = 4,
        .max_inputs = 4,
        .n_outputs = 2,
        .infer = infer_rnn_seq_backward,
        .host_kernel = kernel_rnn_seq_backward,
        .doc = "BPTT of rnn_seq: (dy, dh_n, w_hh, y) -> d(pre-activation), dh0",
        .attrs = rnn_seq_attrs,
        .n_attrs = 3};
    return rnn_register_seq(h, p, &fwd, &bwd, "lstm::rnn_seq_unfused",
                            "rnn_seq by its composite definition only (core ops, every backend)");
}
