/*
 * lstm_seq.c - lstm::lstm_seq (one LSTM layer, one direction, a whole
 * sequence), its BPTT op lstm::lstm_seq_backward and the composite-only twin
 * lstm::lstm_seq_unfused. PyTorch's equations and gate order (i, f, g, o):
 *
 *   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh            (B, 4H)
 *   i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
 *   c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)
 *
 *   lstm::lstm_seq (x, w_ih, w_hh, h0, c0 [, b_ih, b_hh]) -> y, h_n, c_n, ws
 *       ws (layout, 5H) = [i, f, g, o, c_t] per step: what the backward
 *       reads (not differentiable: a gradient reaching it is ignored)
 *   lstm::lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws) -> da, dh0, dc0
 *       da (layout, 4H): the gradient of the pre-activations a_t
 *
 * The backward of lstm_seq runs lstm_seq_backward for the sequential part
 * (one (B, 4H) x (4H, H) product per step) and then three GEMMs over all
 * steps at once with core ops (rnn_backward_gemms), so the big products run
 * on the backend's GEMM.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_internal.h"

/* ======================================================================= */
/* Kernels (plain C, double accumulation: the oracle)                      */
/* ======================================================================= */

static double sigm(double v)
{
    return v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
}

/* y, h_n, c_n, ws from x, weights and the initial state; see the file comment. */
static void lstm_forward(float *y, float *hn, float *cn, float *ws, const float *x, const float *w_ih,
                         const float *w_hh, const float *h0, const float *c0, const float *b_ih, const float *b_hh,
                         const rnn_geom *g, double *a, double *h, double *cst)
{
    const int64_t H = g->H, I = g->I, G4 = 4 * H;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t j = 0; j < H; j++) {
            h[b * H + j] = h0[b * H + j];
            cst[b * H + j] = c0[b * H + j];
        }
    for (int64_t s = 0; s < g->T; s++) {
        int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            const float *xr = x + r * I; // (I)
            double *ab = a + b * G4;     // (4H)
            for (int64_t j = 0; j < G4; j++) {
                double acc = b_ih ? (double)b_ih[j] + (double)b_hh[j] : 0.0;
                const float *wi = w_ih + j * I, *wh = w_hh + j * H;
                for (int64_t k = 0; k < I; k++)
                    acc += (double)wi[k] * xr[k];
                for (int64_t k = 0; k < H; k++)
                    acc += (double)wh[k] * h[b * H + k];
                ab[j] = acc;
            }
        }
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            const double *ab = a + b * G4;
            float *wr = ws + r * 5 * H; // (5H)
            for (int64_t j = 0; j < H; j++) {
                double i = sigm(ab[j]), f = sigm(ab[H + j]), gg = tanh(ab[2 * H + j]), o = sigm(ab[3 * H + j]);
                double cv = f * cst[b * H + j] + i * gg;
                double hv = o * tanh(cv);
                cst[b * H + j] = cv;
                h[b * H + j] = hv;
                y[r * H + j] = (float)hv;
                wr[j] = (float)i, wr[H + j] = (float)f, wr[2 * H + j] = (float)gg, wr[3 * H + j] = (float)o;
                wr[4 * H + j] = (float)cv;
            }
        }
    }
    for (int64_t k = 0; k < g->B * H; k++) {
        hn[k] = (float)h[k];
        cn[k] = (float)cst[k];
    }
}

/* BPTT: da (layout, 4H), dh0, dc0 from dy, dh_n, dc_n and the saved gates. */
static void lstm_backward(float *da, float *dh0, float *dc0, const float *dy, const float *dhn, const float *dcn,
                          const float *w_hh, const float *c0, const float *ws, const rnn_geom *g, double *dh,
                          double *dc, double *dhp)
{
    const int64_t H = g->H, G4 = 4 * H;
    for (int64_t k = 0; k < g->B * H; k++) {
        dh[k] = dhn[k];
        dc[k] = dcn[k];
    }
    for (int64_t s = g->T - 1; s >= 0; s--) {
        const int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            const float *wr = ws + r * 5 * H;
            const float *cprev = s ? ws + rnn_row(g, rnn_t(g, s - 1), b) * 5 * H + 4 * H : c0 + b * H;
            float *dar = da + r * G4;
            for (int64_t j = 0; j < H; j++) {
                double i = wr[j], f = wr[H + j], gg = wr[2 * H + j], o = wr[3 * H + j], cv = wr[4 * H + j];
                double dhv = (double)dy[r * H + j] + dh[b * H + j];
                double tc = tanh(cv);
                double dcv = dc[b * H + j] + dhv * o * (1.0 - tc * tc);
                dar[j] = (float)(dcv * gg * i * (1.0 - i));
                dar[H + j] = (float)(dcv * cprev[j] * f * (1.0 - f));
                dar[2 * H + j] = (float)(dcv * i * (1.0 - gg * gg));
                dar[3 * H + j] = (float)(dhv * tc * o * (1.0 - o));
                dc[b * H + j] = dcv * f;
            }
            for (int64_t k = 0; k < H; k++)
                dhp[b * H + k] = 0.0;
            rnn_add_dh(dhp + b * H, dar, w_hh, G4, H);
        }
        memcpy(dh, dhp, sizeof(double) * (size_t)(g->B * H));
    }
    for (int64_t k = 0; k < g->B * H; k++) {
        dh0[k] = (float)dh[k];
        dc0[k] = (float)dc[k];
    }
}

/* ======================================================================= */
/* Ops                                                                      */
/* ======================================================================= */

static strata_status infer_lstm_seq(const strata_infer_call *c)
{
    return rnn_infer_seq(c, CELL_LSTM, 5);
}

#define P(k) ((const float *)strata_desc_ptr(&c->inputs[k]))
#define PO(k) ((float *)strata_desc_ptr(&c->outputs[k]))

static strata_status kernel_lstm_seq(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = rnn_geom_forward(h, c->op, CELL_LSTM, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *a = rnn_scratch(h, c->op, sizeof(double) * (size_t)(g.B * 6 * g.H));
    if (!a)
        return STRATA_E_NOMEM;
    lstm_forward(PO(0), PO(1), PO(2), PO(3), P(0), P(1), P(2), P(3), P(4), g.has_bias ? P(5) : NULL,
                 g.has_bias ? P(6) : NULL, &g, a, a + g.B * 4 * g.H, a + g.B * 5 * g.H);
    free(a);
    return STRATA_OK;
}

static strata_status composite_lstm_seq(const strata_composite_call *c)
{
    return rnn_composite(c, CELL_LSTM);
}

/* dy, dh_n, dc_n, w_hh (4H, H), c0 (B, H), ws (layout, 5H) */
static strata_status geom_backward(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                   const strata_attr *attrs, int n_attrs, rnn_geom *g)
{
    strata_status rc = rnn_read_attrs(h, op, attrs, n_attrs, CELL_LSTM, g);
    if (rc)
        return rc;
    const strata_tensor_desc *dy = &in[0], *w = &in[3];
    char s[96];
    if (dy->dtype != STRATA_F32 || dy->ndim != 3 || w->ndim != 2)
        return h->set_error(STRATA_E_SHAPE, "%s: dy (input 0) must be f32 of rank 3, w_hh (input 3) of rank 2; got %s",
                            op, rnn_shape_str(s, sizeof s, dy->ndim, dy->shape));
    g->T = g->bf ? dy->shape[1] : dy->shape[0];
    g->B = g->bf ? dy->shape[0] : dy->shape[1];
    g->H = dy->shape[2];
    g->I = 0;
    if ((rc = rnn_need_positive(h, op, dy, g)))
        return rc;
    const int64_t A0 = dy->shape[0], A1 = dy->shape[1], H = g->H;
    if ((rc = rnn_need_shape(h, op, in, 1, "dh_n (B, H)", 2, g->B, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 2, "dc_n (B, H)", 2, g->B, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 3, "w_hh (4H, H)", 2, 4 * H, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 4, "c0 (B, H)", 2, g->B, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 5, "ws (layout, 5H)", 3, A0, A1, 5 * H)))
        return rc;
    return STRATA_OK;
}

static strata_status infer_lstm_seq_backward(const strata_infer_call *c)
{
    rnn_geom g;
    strata_status rc = geom_backward(rnn_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    rnn_desc_seq(&c->outputs[0], &g, 4 * g.H);
    rnn_desc(&c->outputs[1], 2, g.B, g.H, 0);
    rnn_desc(&c->outputs[2], 2, g.B, g.H, 0);
    return STRATA_OK;
}

static strata_status kernel_lstm_seq_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = geom_backward(h, c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *d = rnn_scratch(h, c->op, sizeof(double) * (size_t)(3 * g.B * g.H));
    if (!d)
        return STRATA_E_NOMEM;
    lstm_backward(PO(0), PO(1), PO(2), P(0), P(1), P(2), P(3), P(4), P(5), &g, d, d + g.B * g.H, d + 2 * g.B * g.H);
    free(d);
    return STRATA_OK;
}

static strata_status backward_lstm_seq(const strata_backward_call *c)
{
    strata_tensor *extra[3] = {c->inputs[2], c->inputs[4], c->outputs[3]};
    return rnn_backward_seq(c, CELL_LSTM, "lstm::lstm_seq_backward", extra, 3, 3, 0);
}

/* The attributes it, its backward op and lstm_seq_unfused take (checked by the core on every call, ABI 1.4). */
static const strata_attr_spec lstm_seq_attrs[2] = {RNN_SEQ_ATTRS};

strata_status lstm_register_lstm_seq(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def fwd = {
        .name = "lstm::lstm_seq",
        .min_inputs = 5,
        .max_inputs = 7,
        .n_outputs = 4,
        .infer = infer_lstm_seq,
        .backward = backward_lstm_seq,
        .composite = composite_lstm_seq,
        .host_kernel = kernel_lstm_seq,
        .doc = "one LSTM layer over a sequence: (x, w_ih, w_hh, h0, c0 [, b_ih, b_hh]) -> y, h_n, c_n, ws; "
               "reverse, batch_first",
        .attrs = lstm_seq_attrs,
        .n_attrs = 2};
    const strata_op_def bwd = {
        .name = "lstm::lstm_seq_backward",
        .min_inputs = 6,
        .max_inputs = 6,
        .n_outputs = 3,
        .infer = infer_lstm_seq_backward,
        .host_kernel = kernel_lstm_seq_backward,
        .doc = "BPTT of lstm_seq: (dy, dh_n, dc_n, w_hh, c0, ws) -> d(pre-activations), dh0, dc0",
        .attrs = lstm_seq_attrs,
        .n_attrs = 2};
    return rnn_register_seq(h, p, &fwd, &bwd, "lstm::lstm_seq_unfused",
                            "lstm_seq by its composite definition only (core ops, every backend)");
}
