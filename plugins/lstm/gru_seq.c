/*
 * gru_seq.c - lstm::gru_seq (one GRU layer, one direction, a whole
 * sequence), its BPTT op lstm::gru_seq_backward and the composite-only twin
 * lstm::gru_seq_unfused. PyTorch's equations and gate order (r, z, n):
 *
 *   gi = W_ih x_t + b_ih,  gh = W_hh h_{t-1} + b_hh        (B, 3H) each
 *   r = sigmoid(gi_r + gh_r),  z = sigmoid(gi_z + gh_z)
 *   n = tanh(gi_n + r gh_n)
 *   h_t = (1 - z) n + z h_{t-1}
 *
 *   lstm::gru_seq (x, w_ih, w_hh, h0 [, b_ih, b_hh]) -> y, h_n, ws
 *       ws (layout, 4H) = [r, z, n, gh_n] per step (not differentiable)
 *   lstm::gru_seq_backward (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0
 *       dgi, dgh (layout, 3H): gradients of gi and gh (they differ in the
 *       n block: dgh_n = dgi_n r)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_internal.h"

static double sigm(double v)
{
    return v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
}

static void gru_forward(float *y, float *hn, float *ws, const float *x, const float *w_ih, const float *w_hh,
                        const float *h0, const float *b_ih, const float *b_hh, const rnn_geom *g, double *gi,
                        double *gh, double *h)
{
    const int64_t H = g->H, I = g->I, G3 = 3 * H;
    for (int64_t k = 0; k < g->B * H; k++)
        h[k] = h0[k];
    for (int64_t s = 0; s < g->T; s++) {
        const int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const float *xr = x + rnn_row(g, t, b) * I; // (I)
            for (int64_t j = 0; j < G3; j++) {
                double ai = b_ih ? b_ih[j] : 0.0, ah = b_hh ? b_hh[j] : 0.0;
                const float *wi = w_ih + j * I, *wh = w_hh + j * H;
                for (int64_t k = 0; k < I; k++)
                    ai += (double)wi[k] * xr[k];
                for (int64_t k = 0; k < H; k++)
                    ah += (double)wh[k] * h[b * H + k];
                gi[b * G3 + j] = ai;
                gh[b * G3 + j] = ah;
            }
        }
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            const double *ai = gi + b * G3, *ah = gh + b * G3;
            float *wr = ws + r * 4 * H; // (4H)
            for (int64_t j = 0; j < H; j++) {
                double rr = sigm(ai[j] + ah[j]), z = sigm(ai[H + j] + ah[H + j]);
                double n = tanh(ai[2 * H + j] + rr * ah[2 * H + j]);
                double hv = (1.0 - z) * n + z * h[b * H + j];
                h[b * H + j] = hv;
                y[r * H + j] = (float)hv;
                wr[j] = (float)rr, wr[H + j] = (float)z, wr[2 * H + j] = (float)n, wr[3 * H + j] = (float)ah[2 * H + j];
            }
        }
    }
    for (int64_t k = 0; k < g->B * H; k++)
        hn[k] = (float)h[k];
}

static void gru_backward(float *dgi, float *dgh, float *dh0, const float *dy, const float *dhn, const float *w_hh,
                         const float *h0, const float *y, const float *ws, const rnn_geom *g, double *dh, double *dhp)
{
    const int64_t H = g->H, G3 = 3 * H;
    for (int64_t k = 0; k < g->B * H; k++)
        dh[k] = dhn[k];
    for (int64_t s = g->T - 1; s >= 0; s--) {
        const int64_t t = rnn_t(g, s);
        for (int64_t b = 0; b < g->B; b++) {
            const int64_t r = rnn_row(g, t, b);
            const float *wr = ws + r * 4 * H;
            const float *hprev = s ? y + rnn_row(g, rnn_t(g, s - 1), b) * H : h0 + b * H;
            float *di = dgi + r * G3, *dhh = dgh + r * G3;
            for (int64_t j = 0; j < H; j++) {
                double rr = wr[j], z = wr[H + j], n = wr[2 * H + j], ghn = wr[3 * H + j];
                double dhv = (double)dy[r * H + j] + dh[b * H + j];
                double dn = dhv * (1.0 - z) * (1.0 - n * n);
                double dz = dhv * ((double)hprev[j] - n) * z * (1.0 - z);
                double dr = dn * ghn * rr * (1.0 - rr);
                di[j] = dhh[j] = (float)dr;
                di[H + j] = dhh[H + j] = (float)dz;
                di[2 * H + j] = (float)dn;
                dhh[2 * H + j] = (float)(dn * rr);
                dhp[b * H + j] = dhv * z;
            }
            rnn_add_dh(dhp + b * H, dhh, w_hh, G3, H);
        }
        memcpy(dh, dhp, sizeof(double) * (size_t)(g->B * H));
    }
    for (int64_t k = 0; k < g->B * H; k++)
        dh0[k] = (float)dh[k];
}

#define P(k) ((const float *)strata_desc_ptr(&c->inputs[k]))
#define PO(k) ((float *)strata_desc_ptr(&c->outputs[k]))

static strata_status infer_gru_seq(const strata_infer_call *c)
{
    return rnn_infer_seq(c, CELL_GRU, 4);
}

static strata_status kernel_gru_seq(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = rnn_geom_forward(h, c->op, CELL_GRU, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *a = rnn_scratch(h, c->op, sizeof(double) * (size_t)(g.B * 7 * g.H));
    if (!a)
        return STRATA_E_NOMEM;
    gru_forward(PO(0), PO(1), PO(2), P(0), P(1), P(2), P(3), g.has_bias ? P(4) : NULL, g.has_bias ? P(5) : NULL, &g, a,
                a + 3 * g.B * g.H, a + 6 * g.B * g.H);
    free(a);
    return STRATA_OK;
}

static strata_status composite_gru_seq(const strata_composite_call *c)
{
    return rnn_composite(c, CELL_GRU);
}

/* dy, dh_n, w_hh (3H, H), h0 (B, H), y (layout, H), ws (layout, 4H) */
static strata_status geom_backward(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                   const strata_attr *attrs, int n_attrs, rnn_geom *g)
{
    strata_status rc = rnn_read_attrs(h, op, attrs, n_attrs, CELL_GRU, g);
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
    const int64_t A0 = dy->shape[0], A1 = dy->shape[1], H = g->H;
    if ((rc = rnn_need_shape(h, op, in, 1, "dh_n (B, H)", 2, g->B, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 2, "w_hh (3H, H)", 2, 3 * H, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 3, "h0 (B, H)", 2, g->B, H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 4, "y (layout, H)", 3, A0, A1, H)) ||
        (rc = rnn_need_shape(h, op, in, 5, "ws (layout, 4H)", 3, A0, A1, 4 * H)))
        return rc;
    return STRATA_OK;
}

static strata_status infer_gru_seq_backward(const strata_infer_call *c)
{
    rnn_geom g;
    strata_status rc = geom_backward(rnn_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    rnn_desc_seq(&c->outputs[0], &g, 3 * g.H);
    rnn_desc_seq(&c->outputs[1], &g, 3 * g.H);
    rnn_desc(&c->outputs[2], 2, g.B, g.H, 0);
    return STRATA_OK;
}

static strata_status kernel_gru_seq_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = rnn_host(c->user);
    rnn_geom g;
    strata_status rc = geom_backward(h, c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    double *d = rnn_scratch(h, c->op, sizeof(double) * (size_t)(2 * g.B * g.H));
    if (!d)
        return STRATA_E_NOMEM;
    gru_backward(PO(0), PO(1), PO(2), P(0), P(1), P(2), P(3), P(4), P(5), &g, d, d + g.B * g.H);
    free(d);
    return STRATA_OK;
}

static strata_status backward_gru_seq(const strata_backward_call *c)
{
    strata_tensor *extra[4] = {c->inputs[2], c->inputs[3], c->outputs[0], c->outputs[2]};
    return rnn_backward_seq(c, CELL_GRU, "lstm::gru_seq_backward", extra, 4, 3, 1);
}

/* The attributes it, its backward op and gru_seq_unfused take (checked by the core on every call, ABI 1.4). */
static const strata_attr_spec gru_seq_attrs[2] = {RNN_SEQ_ATTRS};

strata_status lstm_register_gru_seq(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def fwd = {
        .name = "lstm::gru_seq",
        .min_inputs = 4,
        .max_inputs = 6,
        .n_outputs = 3,
        .infer = infer_gru_seq,
        .backward = backward_gru_seq,
        .composite = composite_gru_seq,
        .host_kernel = kernel_gru_seq,
        .doc = "one GRU layer over a sequence: (x, w_ih, w_hh, h0 [, b_ih, b_hh]) -> y, h_n, ws; reverse, "
               "batch_first",
        .attrs = gru_seq_attrs,
        .n_attrs = 2};
    const strata_op_def bwd = {
        .name = "lstm::gru_seq_backward",
        .min_inputs = 6,
        .max_inputs = 6,
        .n_outputs = 3,
        .infer = infer_gru_seq_backward,
        .host_kernel = kernel_gru_seq_backward,
        .doc = "BPTT of gru_seq: (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0",
        .attrs = gru_seq_attrs,
        .n_attrs = 2};
    return rnn_register_seq(h, p, &fwd, &bwd, "lstm::gru_seq_unfused",
                            "gru_seq by its composite definition only (core ops, every backend)");
}
