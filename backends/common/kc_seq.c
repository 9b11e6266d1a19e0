/*
 * kc_seq.c - the checks of a call of the lstm plugin's sequence ops
 * (lstm_seq, gru_seq, rnn_seq and their BPTT ops), shared by the device
 * backends that run them (opencl, cuda). plugins/lstm defines the ops and
 * makes the same checks in its own words for the host kernels.
 */
#include <string.h>

#include "kcall.h"

/* reverse, batch_first and (rnn) nonlinearity. */
static strata_status seq_attrs(const strata_kernel_call *call, kc_seq *g)
{
    int64_t rev = strata_attr_get_int(call->attrs, call->n_attrs, "reverse", 0);
    int64_t bf = strata_attr_get_int(call->attrs, call->n_attrs, "batch_first", 0);
    if ((rev != 0 && rev != 1) || (bf != 0 && bf != 1))
        return kc_error(call, STRATA_E_INVALID, "reverse and batch_first must be 0 or 1, got %lld and %lld",
                        (long long)rev, (long long)bf);
    g->reverse = (int)rev;
    g->bf = (int)bf;
    g->relu = 0;
    if (g->cell == KC_SEQ_RNN) {
        const char *nl = kc_attr_string(call, "nonlinearity", "tanh");
        if (!nl)
            return STRATA_E_INVALID;
        if (strcmp(nl, "tanh") && strcmp(nl, "relu"))
            return kc_error(call, STRATA_E_INVALID, "nonlinearity must be \"tanh\" or \"relu\", got \"%s\"", nl);
        g->relu = !strcmp(nl, "relu");
    }
    return STRATA_OK;
}

/* Checks that @p t is (s0, s1[, s2]) (rank @p ndim). */
static strata_status seq_need(const strata_kernel_call *call, const strata_tensor_desc *t, const char *what, int ndim,
                              int64_t s0, int64_t s1, int64_t s2)
{
    const int64_t want[3] = {s0, s1, s2};
    int ok = t->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++)
        ok = t->shape[k] == want[k];
    if (!ok) {
        char a[96], b[96];
        return kc_error(call, STRATA_E_SHAPE, "%s must have shape %s, got %s", what,
                        kc_shape_str(a, sizeof a, ndim, want), kc_shape_str(b, sizeof b, t->ndim, t->shape));
    }
    return STRATA_OK;
}

/* A sequence tensor (layout, C): (T, B, C), or (B, T, C) batch-first. */
static strata_status seq_need_seq(const strata_kernel_call *call, const kc_seq *g, const strata_tensor_desc *t,
                                  const char *what, int64_t C)
{
    return seq_need(call, t, what, 3, g->bf ? g->B : g->T, g->bf ? g->T : g->B, C);
}

/* T, B and H from input 0 (x or dy) and, for a forward op, I and H from x
 * and w_ih. */
static strata_status seq_geom(const strata_kernel_call *call, int cell, int forward, kc_seq *g)
{
    memset(g, 0, sizeof *g);
    g->cell = cell;
    g->G = cell == KC_SEQ_LSTM ? 4 : cell == KC_SEQ_GRU ? 3 : 1;
    strata_status s = kc_check_all_f32(call);
    if (s == STRATA_OK)
        s = seq_attrs(call, g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *x = &call->inputs[0];
    char a[96];
    if (x->ndim != 3)
        return kc_error(call, STRATA_E_SHAPE, "input 0 must have rank 3, got %s",
                        kc_shape_str(a, sizeof a, x->ndim, x->shape));
    g->T = g->bf ? x->shape[1] : x->shape[0];
    g->B = g->bf ? x->shape[0] : x->shape[1];
    if (forward) {
        const strata_tensor_desc *w = &call->inputs[1];
        g->I = x->shape[2];
        g->H = w->ndim == 2 ? w->shape[0] / g->G : 0;
        if (w->ndim != 2 || g->H < 1 || w->shape[0] != g->G * g->H)
            return kc_error(call, STRATA_E_SHAPE, "w_ih must be (%lld H, I), got %s", (long long)g->G,
                            kc_shape_str(a, sizeof a, w->ndim, w->shape));
    } else {
        g->H = x->shape[2];
    }
    if (g->T < 1 || g->B < 1 || g->H < 1 || (forward && g->I < 1))
        return kc_error(call, STRATA_E_SHAPE, "sequence length %lld, batch %lld, sizes %lld and %lld must be positive",
                        (long long)g->T, (long long)g->B, (long long)g->I, (long long)g->H);
    return STRATA_OK;
}

strata_status kc_check_seq_forward(const strata_kernel_call *call, int cell, kc_seq *g)
{
    const int ns = cell == KC_SEQ_LSTM ? 2 : 1, n_out = cell == KC_SEQ_LSTM ? 4 : cell == KC_SEQ_GRU ? 3 : 2;
    strata_status s = kc_check_arity(call, 3 + ns, 5 + ns, n_out);
    if (s == STRATA_OK && call->n_inputs == 4 + ns)
        s = kc_error(call, STRATA_E_INVALID, "takes both biases or neither, got %d inputs", (int)call->n_inputs);
    if (s == STRATA_OK)
        s = seq_geom(call, cell, 1, g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t GH = g->G * g->H, B = g->B, H = g->H;
    g->has_bias = call->n_inputs == 5 + ns;
    if ((s = seq_need(call, &in[1], "w_ih", 2, GH, g->I, 0)) || (s = seq_need(call, &in[2], "w_hh", 2, GH, H, 0)) ||
        (s = seq_need(call, &in[3], "h0", 2, B, H, 0)) || (ns == 2 && (s = seq_need(call, &in[4], "c0", 2, B, H, 0))) ||
        (g->has_bias && ((s = seq_need(call, &in[3 + ns], "b_ih", 1, GH, 0, 0)) ||
                         (s = seq_need(call, &in[4 + ns], "b_hh", 1, GH, 0, 0)))))
        return s;
    if ((s = seq_need_seq(call, g, &out[0], "y", H)) || (s = seq_need(call, &out[1], "h_n", 2, B, H, 0)))
        return s;
    if (cell == KC_SEQ_LSTM &&
        ((s = seq_need(call, &out[2], "c_n", 2, B, H, 0)) || (s = seq_need_seq(call, g, &out[3], "ws", 5 * H))))
        return s;
    if (cell == KC_SEQ_GRU && (s = seq_need_seq(call, g, &out[2], "ws", 4 * H)))
        return s;
    return STRATA_OK;
}

strata_status kc_check_seq_backward(const strata_kernel_call *call, int cell, kc_seq *g)
{
    const int n_in = cell == KC_SEQ_RNN ? 4 : 6, n_out = cell == KC_SEQ_RNN ? 2 : 3;
    strata_status s = kc_check_arity(call, n_in, n_in, n_out);
    if (s == STRATA_OK)
        s = seq_geom(call, cell, 0, g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g->B, H = g->H;
    if (cell == KC_SEQ_LSTM) /* (dy, dh_n, dc_n, w_hh, c0, ws) -> da, dh0, dc0 */
        (void)((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) || (s = seq_need(call, &in[2], "dc_n", 2, B, H, 0)) ||
               (s = seq_need(call, &in[3], "w_hh", 2, 4 * H, H, 0)) || (s = seq_need(call, &in[4], "c0", 2, B, H, 0)) ||
               (s = seq_need_seq(call, g, &in[5], "ws", 5 * H)) || (s = seq_need_seq(call, g, &out[0], "da", 4 * H)) ||
               (s = seq_need(call, &out[1], "dh0", 2, B, H, 0)) || (s = seq_need(call, &out[2], "dc0", 2, B, H, 0)));
    else if (cell == KC_SEQ_GRU) /* (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0 */
        (void)((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) ||
               (s = seq_need(call, &in[2], "w_hh", 2, 3 * H, H, 0)) || (s = seq_need(call, &in[3], "h0", 2, B, H, 0)) ||
               (s = seq_need_seq(call, g, &in[4], "y", H)) || (s = seq_need_seq(call, g, &in[5], "ws", 4 * H)) ||
               (s = seq_need_seq(call, g, &out[0], "dgi", 3 * H)) ||
               (s = seq_need_seq(call, g, &out[1], "dgh", 3 * H)) || (s = seq_need(call, &out[2], "dh0", 2, B, H, 0)));
    else /* (dy, dh_n, w_hh, y) -> da, dh0 */
        (void)((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) || (s = seq_need(call, &in[2], "w_hh", 2, H, H, 0)) ||
               (s = seq_need_seq(call, g, &in[3], "y", H)) || (s = seq_need_seq(call, g, &out[0], "da", H)) ||
               (s = seq_need(call, &out[1], "dh0", 2, B, H, 0)));
    return s;
}
