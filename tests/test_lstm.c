/*
 * test_lstm.c - the lstm plugin (plugins/lstm, docs/lstm.md), loaded from
 * this build tree, through the public API only:
 *
 *   - finite-difference gradient checks (support/gradcheck.h) of
 *     lstm::lstm_seq, gru_seq and rnn_seq (tanh and relu) in every input:
 *     several steps, T = 1, with and without bias, reverse, batch_first,
 *     gradients reaching only y, only the final states, or both; and of
 *     their composite-only twins (*_unfused);
 *   - each fused op equals its composite definition (every output);
 *   - the layers lstm, gru, rnn against PyTorch's equations written out in
 *     plain C here (stacked, bidirectional, with and without initial
 *     states), and their gradients through models with several inputs and
 *     outputs;
 *   - parameter names, shapes and PyTorch's U(-1/sqrt(H), 1/sqrt(H)) init;
 *   - bad input: sequence length 0, input_size / hidden size mismatches in
 *     a stacked spec, initial states of the wrong shape: the status and a
 *     message naming the op or layer and the values.
 *
 * Everything runs on ref with small shapes.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

static strata_runtime *g_rt;
static strata_device *g_dev;

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define I64(name, v) strata_attr_int(name, v)

static int setup(void **state)
{
    (void)state;
    gc_setup(&g_rt, &g_dev);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gc_teardown(&g_rt);
    return 0;
}

static void test_plugin_loaded(void **state)
{
    (void)state;
    gc_assert_plugin_from_build_tree("lstm");
}

/* ======================================================================= */
/* Op cases                                                                */
/* ======================================================================= */

enum { LSTM, GRU, RNN };
static const char *const seq_op[3] = {"lstm::lstm_seq", "lstm::gru_seq", "lstm::rnn_seq"};
static const char *const unfused_op[3] = {"lstm::lstm_seq_unfused", "lstm::gru_seq_unfused", "lstm::rnn_seq_unfused"};
static const int n_gates[3] = {4, 3, 1};
static const int n_outs[3] = {4, 3, 2};
static const int n_state[3] = {2, 1, 1};

typedef struct seq_cfg {
    int cell;
    int64_t T, B, I, H;
    int bias, reverse, bf, relu;
} seq_cfg;

/* The inputs of a sequence op for @p c: x, w_ih, w_hh, h0 [, c0] [, b_ih, b_hh]. */
static int seq_inputs(const seq_cfg *c, uint32_t seed, strata_tensor **in)
{
    const int64_t GH = n_gates[c->cell] * c->H;
    int n = 0;
    in[n++] = c->bf ? tv(D_ANY, seed, SHAPE(c->B, c->T, c->I)) : tv(D_ANY, seed, SHAPE(c->T, c->B, c->I));
    in[n++] = tv(D_ANY, seed + 1, SHAPE(GH, c->I));
    in[n++] = tv(D_ANY, seed + 2, SHAPE(GH, c->H));
    in[n++] = tv(D_ANY, seed + 3, SHAPE(c->B, c->H));
    if (c->cell == LSTM)
        in[n++] = tv(D_ANY, seed + 4, SHAPE(c->B, c->H));
    if (c->bias) {
        in[n++] = tv(D_ANY, seed + 5, SHAPE(GH));
        in[n++] = tv(D_ANY, seed + 6, SHAPE(GH));
    }
    return n;
}

static int seq_attrs(const seq_cfg *c, strata_attr *at)
{
    at[0] = I64("reverse", c->reverse);
    at[1] = I64("batch_first", c->bf);
    at[2] = strata_attr_string("nonlinearity", c->relu ? "relu" : "tanh");
    return c->cell == RNN ? 3 : 2;
}

static const char *cfg_str(const seq_cfg *c, const char *op, char *buf, size_t n)
{
    snprintf(buf, n, "%s T %lld B %lld I %lld H %lld%s%s%s%s", op, (long long)c->T, (long long)c->B, (long long)c->I,
             (long long)c->H, c->bias ? " bias" : " no bias", c->reverse ? " reverse" : "", c->bf ? " batch_first" : "",
             c->relu ? " relu" : "");
    return buf;
}

static const seq_cfg g_cfgs[] = {
    {LSTM, 4, 2, 3, 3, 1, 0, 0, 0}, {LSTM, 3, 3, 2, 2, 0, 1, 0, 0}, {LSTM, 3, 2, 3, 2, 1, 1, 1, 0},
    {LSTM, 1, 2, 2, 3, 1, 0, 1, 0}, {GRU, 4, 2, 3, 3, 1, 0, 0, 0},  {GRU, 3, 3, 2, 2, 0, 1, 0, 0},
    {GRU, 3, 2, 3, 2, 1, 1, 1, 0},  {GRU, 1, 1, 2, 3, 1, 0, 0, 0},  {RNN, 4, 2, 3, 3, 1, 0, 0, 0},
    {RNN, 3, 2, 2, 3, 0, 1, 1, 0},  {RNN, 4, 2, 3, 3, 1, 0, 0, 1},  {RNN, 3, 3, 2, 2, 1, 1, 1, 1},
};
#define N_CFGS ((int)(sizeof g_cfgs / sizeof g_cfgs[0]))

static int check_op_grad(const seq_cfg *c, const char *op, int n_used, uint32_t seed)
{
    strata_attr at[3];
    op_case oc = {.op = op, .n_attrs = seq_attrs(c, at), .attrs = at, .n_outputs = n_outs[c->cell]};
    oc.n_in = seq_inputs(c, seed, oc.in);
    /* the workspace output (LSTM, GRU) never enters the loss */
    oc.n_used = n_used ? n_used : (c->cell == RNN ? 2 : n_outs[c->cell] - 1);
    if (c->relu) /* relu's kink: smaller steps, and the data keeps the pre-activations off zero mostly */
        oc.h = 1e-3, oc.tol = 5e-3;
    char what[160];
    return run_op(cfg_str(c, op, what, sizeof what), &oc);
}

static void test_seq_op_grads(void **state)
{
    (void)state;
    int bad = 0;
    for (int k = 0; k < N_CFGS; k++)
        bad += check_op_grad(&g_cfgs[k], seq_op[g_cfgs[k].cell], 0, 10u * (uint32_t)k + 1u);
    /* only y reaches the loss: the final-state gradients are absent (zeros) */
    bad += check_op_grad(&g_cfgs[0], seq_op[LSTM], 1, 200);
    bad += check_op_grad(&g_cfgs[4], seq_op[GRU], 1, 210);
    bad += check_op_grad(&g_cfgs[8], seq_op[RNN], 1, 220);
    ASSERT_GC_OK(bad);
}

static void test_unfused_op_grads(void **state)
{
    (void)state;
    int bad = 0;
    for (int k = 0; k < N_CFGS; k += 2)
        bad += check_op_grad(&g_cfgs[k], unfused_op[g_cfgs[k].cell], 0, 10u * (uint32_t)k + 3u);
    ASSERT_GC_OK(bad);
}

/* Max |a - b| over two f32 tensors of equal shape. */
static double max_diff(strata_tensor *a, strata_tensor *b, const char *what)
{
    int64_t na, nb;
    assert_int_equal(strata_tensor_ndim(a), strata_tensor_ndim(b));
    for (int d = 0; d < strata_tensor_ndim(a); d++)
        if (strata_tensor_shape(a)[d] != strata_tensor_shape(b)[d])
            fail_msg("%s: dim %d is %lld vs %lld", what, d, (long long)strata_tensor_shape(a)[d],
                     (long long)strata_tensor_shape(b)[d]);
    float *pa = read_f32(a, &na), *pb = read_f32(b, &nb);
    assert_int_equal(na, nb);
    double m = 0;
    for (int64_t i = 0; i < na; i++)
        m = fmax(m, fabs((double)pa[i] - (double)pb[i]));
    free(pa);
    free(pb);
    return m;
}

static void test_fused_equals_composite(void **state)
{
    (void)state;
    int prev = strata_set_grad_enabled(g_rt, 0);
    for (int k = 0; k < N_CFGS; k++) {
        const seq_cfg *c = &g_cfgs[k];
        strata_tensor *in[8];
        strata_attr at[3];
        int n_in = seq_inputs(c, 300u + (uint32_t)k, in), n_at = seq_attrs(c, at), no = n_outs[c->cell];
        strata_tensor *a[4] = {NULL}, *b[4] = {NULL};
        ST_OK(strata_op_call(g_rt, seq_op[c->cell], in, n_in, at, n_at, a, no));
        ST_OK(strata_op_call(g_rt, unfused_op[c->cell], in, n_in, at, n_at, b, no));
        char what[160];
        cfg_str(c, seq_op[c->cell], what, sizeof what);
        for (int j = 0; j < no; j++) {
            double d = max_diff(a[j], b[j], what);
            if (!(d <= 1e-5))
                fail_msg("%s: output %d differs from the composite by %g", what, j, d);
            strata_tensor_release(a[j]);
            strata_tensor_release(b[j]);
        }
        for (int j = 0; j < n_in; j++)
            strata_tensor_release(in[j]);
    }
    strata_set_grad_enabled(g_rt, prev);
}

/* ======================================================================= */
/* PyTorch's equations, written out                                         */
/* ======================================================================= */

static double sg(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* PyTorch's nn.LSTM / nn.GRU / nn.RNN(tanh) forward, batch-first x (B, T, in),
 * states (B, L D, H) as Strata keeps them; p[l D + d][0..3] = w_ih, w_hh,
 * b_ih, b_hh (NULL biases: none). y (B, T, D H). */
static void torch_rnn(int cell, int64_t L, int64_t D, int64_t H, int64_t in, int64_t T, int64_t B, const float *x,
                      float *const (*p)[4], const float *h0, const float *c0, double *y, double *hn, double *cn)
{
    const int64_t G = n_gates[cell];
    double *cur = malloc(sizeof(double) * (size_t)(B * T * (in > D * H ? in : D * H)));
    double *nxt = malloc(sizeof(double) * (size_t)(B * T * D * H));
    double *a = malloc(sizeof(double) * (size_t)(G * H)), *ah = malloc(sizeof(double) * (size_t)(G * H));
    double *hs = malloc(sizeof(double) * (size_t)H), *cs = malloc(sizeof(double) * (size_t)H);
    for (int64_t i = 0; i < B * T * in; i++)
        cur[i] = x[i];
    int64_t width = in;
    for (int64_t l = 0; l < L; l++) {
        for (int64_t d = 0; d < D; d++) {
            float *const *w = p[l * D + d];
            for (int64_t b = 0; b < B; b++) {
                for (int64_t j = 0; j < H; j++) {
                    hs[j] = h0 ? h0[(b * L * D + l * D + d) * H + j] : 0.0;
                    cs[j] = c0 ? c0[(b * L * D + l * D + d) * H + j] : 0.0;
                }
                for (int64_t s = 0; s < T; s++) {
                    int64_t t = d ? T - 1 - s : s;
                    const double *xt = cur + (b * T + t) * width;
                    for (int64_t r = 0; r < G * H; r++) {
                        double vi = w[2] ? w[2][r] : 0.0, vh = w[3] ? w[3][r] : 0.0;
                        for (int64_t k = 0; k < width; k++)
                            vi += w[0][r * width + k] * xt[k];
                        for (int64_t k = 0; k < H; k++)
                            vh += w[1][r * H + k] * hs[k];
                        a[r] = vi;
                        ah[r] = vh;
                    }
                    for (int64_t j = 0; j < H; j++) {
                        double hv;
                        if (cell == LSTM) {
                            double i = sg(a[j] + ah[j]), f = sg(a[H + j] + ah[H + j]);
                            double gg = tanh(a[2 * H + j] + ah[2 * H + j]), o = sg(a[3 * H + j] + ah[3 * H + j]);
                            cs[j] = f * cs[j] + i * gg;
                            hv = o * tanh(cs[j]);
                        } else if (cell == GRU) {
                            double r = sg(a[j] + ah[j]), z = sg(a[H + j] + ah[H + j]);
                            double n = tanh(a[2 * H + j] + r * ah[2 * H + j]);
                            hv = (1 - z) * n + z * hs[j];
                        } else {
                            hv = tanh(a[j] + ah[j]);
                        }
                        nxt[(b * T + t) * D * H + d * H + j] = hv;
                    }
                    for (int64_t j = 0; j < H; j++)
                        hs[j] = nxt[(b * T + t) * D * H + d * H + j];
                }
                for (int64_t j = 0; j < H; j++) {
                    hn[(b * L * D + l * D + d) * H + j] = hs[j];
                    if (cn)
                        cn[(b * L * D + l * D + d) * H + j] = cs[j];
                }
            }
        }
        width = D * H;
        memcpy(cur, nxt, sizeof(double) * (size_t)(B * T * D * H));
    }
    memcpy(y, cur, sizeof(double) * (size_t)(B * T * D * H));
    free(cur);
    free(nxt);
    free(a);
    free(ah);
    free(hs);
    free(cs);
}

static strata_tensor *param(strata_model *m, const char *name)
{
    for (int i = 0; i < strata_model_param_count(m); i++) {
        const char *n = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, i, &n, &t));
        if (!strcmp(n, name))
            return t;
    }
    fail_msg("no parameter '%s'", name);
    return NULL;
}

static void assert_close_d(strata_tensor *t, const double *want, int64_t n, double tol, const char *what)
{
    int64_t got_n;
    float *got = read_f32(t, &got_n);
    assert_int_equal(got_n, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s[%lld]: got %.8g, expected %.8g", what, (long long)i, (double)got[i], want[i]);
    free(got);
}

static const char *const type_name[3] = {"lstm", "gru", "rnn"};

/* A model "rnn" of @p cell with inputs x (T, in) [h0, c0 (L D, H)] and all outputs. */
static strata_model *rnn_model(int cell, int64_t L, int bidir, int64_t H, int64_t in, int64_t T, int states, int bias,
                               double dropout)
{
    strata_model *m = model_new();
    const int64_t D = bidir ? 2 : 1;
    model_input(m, "x", STRATA_F32, SHAPE(T, in));
    const char *ins[3] = {"x", "h0", "c0"};
    int n_states = states ? n_state[cell] : 0;
    if (n_states)
        model_input(m, "h0", STRATA_F32, SHAPE(L * D, H));
    if (n_states > 1)
        model_input(m, "c0", STRATA_F32, SHAPE(L * D, H));
    strata_attr at[7] = {I64("hidden_size", H), I64("num_layers", L), I64("bidirectional", bidir),
                         I64("batch_first", 1), I64("bias", bias),    strata_attr_float("dropout", dropout),
                         I64("input_size", in)};
    ST_OK(strata_model_add_layer(m, type_name[cell], "rnn", at, 7, ins, 1 + n_states));
    ST_OK(strata_model_add_output(m, "rnn"));
    ST_OK(strata_model_add_output(m, "rnn:1"));
    if (cell == LSTM)
        ST_OK(strata_model_add_output(m, "rnn:2"));
    return m;
}

static void check_layer_values(int cell, int64_t L, int bidir, int states, int bias)
{
    const int64_t H = 3, in = 2, T = 4, B = 2, D = bidir ? 2 : 1;
    strata_model *m = rnn_model(cell, L, bidir, H, in, T, states, bias, 0.0);
    float *(p[8])[4];
    memset(p, 0, sizeof p);
    float *bufs[32];
    int nb = 0;
    for (int64_t l = 0; l < L; l++)
        for (int64_t d = 0; d < D; d++)
            for (int k = 0; k < (bias ? 4 : 2); k++) {
                static const char *const pre[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
                char name[64];
                snprintf(name, sizeof name, "rnn.%s_l%lld%s", pre[k], (long long)l, d ? "_reverse" : "");
                int64_t n;
                p[l * D + d][k] = bufs[nb++] = read_f32(param(m, name), &n);
            }
    strata_tensor *x = tv(D_ANY, 7, SHAPE(B, T, in));
    strata_tensor *h0 = states ? tv(D_ANY, 8, SHAPE(B, L * D, H)) : NULL;
    strata_tensor *c0 = states && cell == LSTM ? tv(D_ANY, 9, SHAPE(B, L * D, H)) : NULL;
    strata_tensor *inputs[3] = {x, h0, c0};
    int n_in = 1 + (states ? n_state[cell] : 0), n_o = cell == LSTM ? 3 : 2;
    strata_tensor *out[3] = {NULL, NULL, NULL};
    ST_OK(strata_model_forward(m, inputs, n_in, out, n_o, 0));
    int64_t n;
    float *xh = read_f32(x, &n), *h0h = h0 ? read_f32(h0, &n) : NULL, *c0h = c0 ? read_f32(c0, &n) : NULL;
    double *y = malloc(sizeof(double) * (size_t)(B * T * D * H)),
           *hn = malloc(sizeof(double) * (size_t)(B * L * D * H));
    double *cn = malloc(sizeof(double) * (size_t)(B * L * D * H));
    torch_rnn(cell, L, D, H, in, T, B, xh, p, h0h, c0h, y, hn, cell == LSTM ? cn : NULL);
    char what[128];
    snprintf(what, sizeof what, "%s L %lld%s%s%s y", type_name[cell], (long long)L, bidir ? " bidirectional" : "",
             states ? " with h0" : "", bias ? "" : " no bias");
    assert_close_d(out[0], y, B * T * D * H, 2e-5, what);
    assert_close_d(out[1], hn, B * L * D * H, 2e-5, "h_n");
    if (cell == LSTM)
        assert_close_d(out[2], cn, B * L * D * H, 2e-5, "c_n");
    for (int k = 0; k < n_o; k++)
        strata_tensor_release(out[k]);
    for (int k = 0; k < nb; k++)
        free(bufs[k]);
    free(xh);
    free(h0h);
    free(c0h);
    free(y);
    free(hn);
    free(cn);
    for (int k = 0; k < 3; k++)
        strata_tensor_release(inputs[k]);
    strata_model_destroy(m);
}

static void test_layers_match_torch_equations(void **state)
{
    (void)state;
    for (int cell = 0; cell < 3; cell++) {
        check_layer_values(cell, 1, 0, 0, 1);
        check_layer_values(cell, 2, 1, 1, 1);
        check_layer_values(cell, 2, 0, 1, 0);
        check_layer_values(cell, 1, 1, 0, 1);
    }
}

/* ======================================================================= */
/* Layer gradients (every model input, parameter and output)                */
/* ======================================================================= */

typedef struct layer_case {
    strata_model *m;
    strata_tensor *in[3];
    int n_in, n_out, training;
    uint64_t seed, offset;
} layer_case;

static strata_status layer_fwd(void *user, strata_tensor **outs, int *n_outs)
{
    layer_case *c = user;
    strata_runtime_set_rng_state(g_rt, c->seed, c->offset);
    *n_outs = c->n_out;
    return strata_model_forward(c->m, c->in, c->n_in, outs, c->n_out, c->training);
}

static int check_layer_grad(int cell, int64_t L, int bidir, int states, int bias, double dropout, int training)
{
    const int64_t H = 2, in = 3, T = 3, B = 2, D = bidir ? 2 : 1;
    layer_case lc = {.m = rnn_model(cell, L, bidir, H, in, T, states, bias, dropout), .training = training};
    lc.n_out = cell == LSTM ? 3 : 2;
    lc.in[lc.n_in++] = tv(D_ANY, 21, SHAPE(B, T, in));
    if (states) {
        lc.in[lc.n_in++] = tv(D_ANY, 22, SHAPE(B, L * D, H));
        if (cell == LSTM)
            lc.in[lc.n_in++] = tv(D_ANY, 23, SHAPE(B, L * D, H));
    }
    char what[160];
    snprintf(what, sizeof what, "layer %s L %lld%s%s%s dropout %g%s", type_name[cell], (long long)L,
             bidir ? " bidirectional" : "", states ? " with states" : "", bias ? "" : " no bias", dropout,
             training ? " training" : "");
    gc_case g = {.what = what, .fwd = layer_fwd, .user = &lc};
    static const char *const in_names[3] = {"x", "h0", "c0"};
    for (int k = 0; k < lc.n_in; k++) {
        g.vars[g.n_vars].name = in_names[k];
        g.vars[g.n_vars++].t = lc.in[k];
    }
    int np = strata_model_param_count(lc.m);
    assert_true(g.n_vars + np <= GC_MAX_VARS);
    for (int p = 0; p < np; p++) {
        ST_OK(strata_model_param(lc.m, p, &g.vars[g.n_vars].name, &g.vars[g.n_vars].t));
        g.n_vars++;
    }
    strata_runtime_rng_state(g_rt, &lc.seed, &lc.offset);
    int bad = gradcheck(&g);
    strata_model_destroy(lc.m);
    for (int k = 0; k < lc.n_in; k++)
        strata_tensor_release(lc.in[k]);
    return bad;
}

static void test_layer_grads(void **state)
{
    (void)state;
    int bad = 0;
    bad += check_layer_grad(LSTM, 1, 1, 1, 1, 0.0, 1);
    bad += check_layer_grad(LSTM, 2, 0, 1, 1, 0.0, 1);
    bad += check_layer_grad(LSTM, 2, 1, 0, 0, 0.0, 1);
    bad += check_layer_grad(LSTM, 2, 0, 0, 1, 0.5, 1); /* dropout between the layers, one mask */
    bad += check_layer_grad(GRU, 1, 1, 1, 1, 0.0, 1);
    bad += check_layer_grad(GRU, 2, 0, 1, 1, 0.0, 0);
    bad += check_layer_grad(RNN, 2, 1, 1, 0, 0.0, 1);
    bad += check_layer_grad(RNN, 1, 0, 0, 1, 0.0, 1);
    ASSERT_GC_OK(bad);
}

static void test_dropout_only_in_training(void **state)
{
    (void)state;
    strata_model *m = rnn_model(LSTM, 2, 0, 4, 3, 5, 0, 1, 0.5);
    strata_tensor *x = tv(D_ANY, 31, SHAPE(2, 5, 3));
    strata_tensor *e1[3], *e2[3], *t1[3];
    ST_OK(strata_model_forward(m, &x, 1, e1, 3, 0));
    ST_OK(strata_model_forward(m, &x, 1, e2, 3, 0));
    ST_OK(strata_model_forward(m, &x, 1, t1, 3, 1));
    assert_true(max_diff(e1[0], e2[0], "eval twice") == 0.0);
    assert_true(max_diff(e1[0], t1[0], "eval vs training") > 1e-4);
    for (int k = 0; k < 3; k++) {
        strata_tensor_release(e1[k]);
        strata_tensor_release(e2[k]);
        strata_tensor_release(t1[k]);
    }
    strata_tensor_release(x);
    strata_model_destroy(m);
}

/* ======================================================================= */
/* Parameters                                                              */
/* ======================================================================= */

static void check_param(strata_model *m, int i, const char *name, const int64_t *shape, int ndim, double bound)
{
    const char *n = NULL;
    strata_tensor *t = NULL;
    ST_OK(strata_model_param(m, i, &n, &t));
    if (strcmp(n, name))
        fail_msg("parameter %d is '%s', expected '%s'", i, n, name);
    assert_int_equal(strata_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++)
        if (strata_tensor_shape(t)[d] != shape[d])
            fail_msg("%s: dim %d is %lld, expected %lld", name, d, (long long)strata_tensor_shape(t)[d],
                     (long long)shape[d]);
    int64_t cnt;
    float *v = read_f32(t, &cnt);
    double lo = 1e9, hi = -1e9;
    for (int64_t k = 0; k < cnt; k++) {
        lo = fmin(lo, v[k]);
        hi = fmax(hi, v[k]);
    }
    free(v);
    if (lo < -bound || hi > bound)
        fail_msg("%s: values in [%g, %g], outside U(-%g, %g)", name, lo, hi, bound, bound);
    if (cnt >= 200 && (lo > -0.8 * bound || hi < 0.8 * bound))
        fail_msg("%s: values in [%g, %g] do not fill U(-%g, %g)", name, lo, hi, bound, bound);
}

static void test_layer_params_and_init(void **state)
{
    (void)state;
    /* PyTorch's order: per layer, per direction: weight_ih, weight_hh, bias_ih, bias_hh */
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(7, 10));
    model_layer(m, "lstm", "lstm",
                ATTRS(I64("hidden_size", 16), I64("num_layers", 2), I64("bidirectional", 1), I64("batch_first", 1)),
                NULL, NULL);
    assert_int_equal(strata_model_param_count(m), 16);
    const double b = 0.25;
    check_param(m, 0, "lstm.weight_ih_l0", SHAPE(64, 10), b);
    check_param(m, 1, "lstm.weight_hh_l0", SHAPE(64, 16), b);
    check_param(m, 2, "lstm.bias_ih_l0", SHAPE(64), b);
    check_param(m, 3, "lstm.bias_hh_l0", SHAPE(64), b);
    check_param(m, 4, "lstm.weight_ih_l0_reverse", SHAPE(64, 10), b);
    check_param(m, 7, "lstm.bias_hh_l0_reverse", SHAPE(64), b);
    check_param(m, 8, "lstm.weight_ih_l1", SHAPE(64, 32), b);
    check_param(m, 13, "lstm.weight_hh_l1_reverse", SHAPE(64, 16), b);
    int nd;
    const int64_t *s0 = strata_model_output_shape(m, 0, &nd);
    assert_int_equal(nd, 2);
    assert_int_equal(s0[0], 7);
    assert_int_equal(s0[1], 32);
    strata_model_destroy(m);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(5, 3));
    model_layer(m, "gru", "g", ATTRS(I64("hidden_size", 4), I64("bias", 0), I64("batch_first", 1)), NULL, NULL);
    assert_int_equal(strata_model_param_count(m), 2);
    check_param(m, 0, "g.weight_ih_l0", SHAPE(12, 3), 0.5);
    check_param(m, 1, "g.weight_hh_l0", SHAPE(12, 4), 0.5);
    strata_model_destroy(m);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(5, 3));
    model_layer(m, "rnn", "r", ATTRS(I64("hidden_size", 9), strata_attr_string("nonlinearity", "relu")), NULL, NULL);
    check_param(m, 0, "r.weight_ih_l0", SHAPE(9, 3), 1.0 / 3.0);
    check_param(m, 3, "r.bias_hh_l0", SHAPE(9), 1.0 / 3.0);
    strata_model_destroy(m);
}

/* batch_first: 0 (PyTorch's default): x (T, B, in), the model's leading dimension is T */
static void test_time_first_layout(void **state)
{
    (void)state;
    const int64_t T = 4, B = 2, in = 3, H = 2;
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(B, in));
    model_layer(m, "lstm", "lstm", ATTRS(I64("hidden_size", H)), NULL, NULL);
    /* the states are unbatched outputs here ((B, 1, H) while the model's batch is T) */
    ST_OK(strata_model_add_output(m, "lstm"));
    ST_OK(strata_model_add_output(m, "lstm:1"));
    ST_OK(strata_model_add_output(m, "lstm:2"));
    strata_model *mb = rnn_model(LSTM, 1, 0, H, in, T, 0, 1, 0.0);
    for (int i = 0; i < 4; i++) { /* same parameters in both */
        const char *n;
        strata_tensor *a, *b2;
        ST_OK(strata_model_param(m, i, &n, &a));
        ST_OK(strata_model_param(mb, i, &n, &b2));
        int64_t cnt;
        float *v = read_f32(b2, &cnt);
        ST_OK(strata_tensor_write(a, v, sizeof(float) * (size_t)cnt));
        free(v);
    }
    strata_tensor *xt = tv(D_ANY, 41, SHAPE(T, B, in)), *xv = NULL, *xb = NULL, *yt3[3] = {NULL}, *yb[3] = {NULL};
    ST_OK(strata_op_call(g_rt, "core::permute", &xt, 1, ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0, 2}, 3)),
                         &xv, 1));
    ST_OK(strata_op_call(g_rt, "core::copy", &xv, 1, NOATTRS, &xb, 1));
    strata_tensor_release(xv);
    ST_OK(strata_model_forward(m, &xt, 1, yt3, 3, 0));
    ST_OK(strata_model_forward(mb, &xb, 1, yb, 3, 0));
    strata_tensor *yt = NULL;
    ST_OK(strata_op_call(g_rt, "core::permute", &yb[0], 1,
                         ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0, 2}, 3)), &yt, 1));
    assert_true(max_diff(yt3[0], yt, "time-first vs batch-first") <= 1e-6);
    assert_true(max_diff(yt3[1], yb[1], "h_n time-first vs batch-first") <= 1e-6);
    assert_true(max_diff(yt3[2], yb[2], "c_n time-first vs batch-first") <= 1e-6);
    strata_tensor_release(xt);
    strata_tensor_release(xb);
    strata_tensor_release(yt);
    for (int k = 0; k < 3; k++) {
        strata_tensor_release(yb[k]);
        strata_tensor_release(yt3[k]);
    }
    strata_model_destroy(m);
    strata_model_destroy(mb);
}

/* ======================================================================= */
/* Bad input                                                               */
/* ======================================================================= */

static void expect_op_error(const char *op, strata_tensor **in, int n_in, const strata_attr *at, int n_at, int n_out,
                            strata_status status, const char *const *needles)
{
    strata_tensor *out[4] = {NULL, NULL, NULL, NULL};
    strata_clear_error();
    strata_status rc = strata_op_call(g_rt, op, in, n_in, at, n_at, out, n_out);
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(in[k]);
    if (rc != status)
        fail_msg("%s: expected %s, got %s: %s", op, strata_status_name(status), strata_status_name(rc),
                 strata_last_error());
    for (int k = 0; k < n_out; k++)
        assert_null(out[k]);
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

static void test_bad_input_ops(void **state)
{
    (void)state;
    /* sequence length 0 */
    expect_op_error("lstm::lstm_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(0, 2, 3)), tv(D_ANY, 2, SHAPE(8, 3)),
                                        tv(D_ANY, 3, SHAPE(8, 2)), tv(D_ANY, 4, SHAPE(2, 2)),
                                        tv(D_ANY, 5, SHAPE(2, 2))},
                    5, NOATTRS, 4, STRATA_E_SHAPE, NEEDLES("lstm::lstm_seq", "sequence length 0"));
    /* a BPTT op with hidden size 0 (ran on ref, failed in the cpu kernel's GEMM with a status number) */
    expect_op_error("lstm::rnn_seq_backward",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(3, 2, 0)), tv(D_ANY, 2, SHAPE(2, 0)),
                                        tv(D_ANY, 3, SHAPE(0, 0)), tv(D_ANY, 4, SHAPE(3, 2, 0))},
                    4, NOATTRS, 2, STRATA_E_SHAPE, NEEDLES("lstm::rnn_seq_backward", "hidden size 0"));
    /* h0 of the wrong shape */
    expect_op_error("lstm::gru_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(6, 3)),
                                        tv(D_ANY, 3, SHAPE(6, 2)), tv(D_ANY, 4, SHAPE(3, 2))},
                    4, NOATTRS, 3, STRATA_E_SHAPE, NEEDLES("lstm::gru_seq", "h0 (B, H)", "(2, 2)", "got (3, 2)"));
    /* w_hh not (G H, H) */
    expect_op_error("lstm::lstm_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(8, 3)),
                                        tv(D_ANY, 3, SHAPE(8, 3)), tv(D_ANY, 4, SHAPE(2, 2)),
                                        tv(D_ANY, 5, SHAPE(2, 2))},
                    5, NOATTRS, 4, STRATA_E_SHAPE, NEEDLES("lstm::lstm_seq", "w_hh", "(8, 2)", "got (8, 3)"));
    /* w_ih rows not a multiple of the gates */
    expect_op_error("lstm::lstm_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(6, 3)),
                                        tv(D_ANY, 3, SHAPE(6, 2)), tv(D_ANY, 4, SHAPE(2, 2)),
                                        tv(D_ANY, 5, SHAPE(2, 2))},
                    5, NOATTRS, 4, STRATA_E_SHAPE, NEEDLES("lstm::lstm_seq", "w_ih", "(4 H, I)", "(6, 3)"));
    /* one bias only */
    expect_op_error("lstm::rnn_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(2, 3)),
                                        tv(D_ANY, 3, SHAPE(2, 2)), tv(D_ANY, 4, SHAPE(2, 2)), tv(D_ANY, 5, SHAPE(2))},
                    5, NOATTRS, 2, STRATA_E_INVALID, NEEDLES("lstm::rnn_seq", "both b_ih and b_hh", "got 5"));
    expect_op_error("lstm::rnn_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(2, 3)),
                                        tv(D_ANY, 3, SHAPE(2, 2)), tv(D_ANY, 4, SHAPE(2, 2))},
                    4, ATTRS(strata_attr_string("nonlinearity", "sigmoid")), 2, STRATA_E_INVALID,
                    NEEDLES("lstm::rnn_seq", "nonlinearity", "\"sigmoid\""));
    /* the schemas (ABI 1.4): a typo, and nonlinearity, which only rnn_seq takes */
    expect_op_error("lstm::gru_seq",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(6, 3)),
                                        tv(D_ANY, 3, SHAPE(6, 2)), tv(D_ANY, 4, SHAPE(2, 2))},
                    4, ATTRS(I64("batch_frist", 1)), 3, STRATA_E_INVALID,
                    NEEDLES("lstm::gru_seq", "unknown attribute 'batch_frist'", "reverse, batch_first"));
    expect_op_error("lstm::lstm_seq_unfused",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 2, 3)), tv(D_ANY, 2, SHAPE(8, 3)),
                                        tv(D_ANY, 3, SHAPE(8, 2)), tv(D_ANY, 4, SHAPE(2, 2)),
                                        tv(D_ANY, 5, SHAPE(2, 2))},
                    5, ATTRS(strata_attr_string("nonlinearity", "relu")), 4, STRATA_E_INVALID,
                    NEEDLES("lstm::lstm_seq_unfused", "unknown attribute 'nonlinearity'"));
}

static void expect_build_error(const char *text, strata_status status, const char *const *needles)
{
    strata_spec *s = NULL;
    ST_OK(strata_spec_parse(g_rt, text, strlen(text), "lstm.yaml", &s));
    strata_model *m = NULL;
    strata_status st = strata_spec_build_model(s, g_dev, &m);
    strata_spec_destroy(s);
    if (st != status)
        fail_msg("expected %s, got %s: %s", strata_status_name(status), strata_status_name(st), strata_last_error());
    assert_null(m);
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

static void test_bad_input_spec(void **state)
{
    (void)state;
    /* the second layer of a stack declares the wrong input size (the first gives 2 x 8) */
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n"
                       "    - {type: lstm, name: l1, hidden_size: 8, batch_first: 1, bidirectional: 1}\n"
                       "    - {type: lstm, name: l2, hidden_size: 8, input_size: 8, batch_first: 1}\n",
                       STRATA_E_SHAPE,
                       NEEDLES("lstm.yaml:5", "layer 'l2' (lstm)", "input_size is 8", "has 16 features"));
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n"
                       "    - {type: gru, name: g, hidden_size: 8, input_size: 3, batch_first: 1}\n",
                       STRATA_E_SHAPE, NEEDLES("layer 'g' (gru)", "input_size is 3", "has 4 features"));
    /* (a sequence length 0 never reaches a batch-first layer: model inputs have positive dimensions) */
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n    - {type: lstm, name: l, hidden_size: 0}\n",
                       STRATA_E_INVALID, NEEDLES("layer 'l' (lstm)", "hidden_size must be in [1, 16777216], got 0"));
    /* sizes whose parameter shapes would overflow (4 H wrapped to 0 rows), and a negative input_size */
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n"
                       "    - {type: lstm, name: l, hidden_size: 4611686018427387904}\n",
                       STRATA_E_INVALID, NEEDLES("layer 'l' (lstm)", "got 4611686018427387904"));
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n"
                       "    - {type: gru, name: g, hidden_size: 4, input_size: -5}\n",
                       STRATA_E_INVALID, NEEDLES("layer 'g' (gru)", "input_size must be -1", "got -5"));
    /* token ids straight into a recurrent layer: the dtype by name */
    expect_build_error("model:\n  inputs:\n    - {name: t, shape: [5, 1], dtype: i64}\n  layers:\n"
                       "    - {type: lstm, name: l, hidden_size: 4, batch_first: 1}\n",
                       STRATA_E_DTYPE, NEEDLES("layer 'l' (lstm)", "got i64 (5, 1)", "embedding layer"));
    expect_build_error(
        "model:\n  input: [5, 4]\n  layers:\n    - {type: lstm, name: l, hidden_size: 4, dropout: 1.5}\n",
        STRATA_E_INVALID, NEEDLES("layer 'l' (lstm)", "dropout must be in [0, 1), got 1.5"));
    expect_build_error("model:\n  input: [5, 4]\n  layers:\n"
                       "    - {type: rnn, name: r, hidden_size: 4, nonlinearity: sigmoid}\n",
                       STRATA_E_INVALID, NEEDLES("layer 'r' (rnn)", "\"sigmoid\""));
    /* a stacked spec whose states do not match the hidden size */
    expect_build_error("model:\n  inputs:\n    - {name: x, shape: [5, 4]}\n    - {name: h0, shape: [2, 6]}\n"
                       "  layers:\n    - {type: gru, name: g, hidden_size: 8, num_layers: 2, batch_first: 1, "
                       "inputs: [x, h0]}\n",
                       STRATA_E_SHAPE, NEEDLES("layer 'g' (gru)", "h0 (input 1)", "(batch, 2, 8)", "(2, 6)"));
    expect_build_error("model:\n  inputs:\n    - {name: x, shape: [5, 4]}\n    - {name: h0, shape: [1, 8]}\n"
                       "  layers:\n    - {type: lstm, name: l, hidden_size: 8, bidirectional: 1, batch_first: 1, "
                       "inputs: [x, h0, h0]}\n",
                       STRATA_E_SHAPE, NEEDLES("layer 'l' (lstm)", "h0 (input 1)", "(batch, 2, 8)", "(1, 8)"));
    /* states with a time-first layout */
    expect_build_error("model:\n  inputs:\n    - {name: x, shape: [5, 4]}\n    - {name: h0, shape: [1, 8]}\n"
                       "  layers:\n    - {type: gru, name: g, hidden_size: 8, inputs: [x, h0]}\n",
                       STRATA_E_INVALID, NEEDLES("layer 'g' (gru)", "batch_first: 1"));
}

/* A time-first model sees the sequence length as its batch: an empty batch
 * is a sequence of length 0, refused by the op with the layer named. */
static void test_bad_input_forward(void **state)
{
    (void)state;
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(2, 3));
    model_layer(m, "lstm", "enc", ATTRS(I64("hidden_size", 4)), NULL, NULL);
    strata_tensor *x = tv(D_ANY, 1, SHAPE(0, 2, 3)), *y = NULL;
    strata_clear_error();
    assert_int_equal(strata_model_forward(m, &x, 1, &y, 1, 0), STRATA_E_SHAPE);
    assert_null(y);
    tu_assert_error_contains("layer 'enc' (lstm)");
    tu_assert_error_contains("sequence length 0");
    strata_tensor_release(x);
    strata_model_destroy(m);

    /* states of the wrong batch: the model's own check names the input */
    m = rnn_model(GRU, 1, 0, 4, 3, 5, 1, 1, 0.0);
    strata_tensor *in[2] = {tv(D_ANY, 2, SHAPE(2, 5, 3)), tv(D_ANY, 3, SHAPE(3, 1, 4))}, *out[2] = {NULL, NULL};
    assert_int_equal(strata_model_forward(m, in, 2, out, 2, 0), STRATA_E_SHAPE);
    tu_assert_error_contains("h0");
    strata_tensor_release(in[0]);
    strata_tensor_release(in[1]);
    strata_model_destroy(m);
}

/* dropout acts between stacked layers: with num_layers 1 it does nothing, which was silent (PyTorch warns) */
static void test_dropout_single_layer_warns(void **state)
{
    (void)state;
    char dir[512];
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "lstm-dropout"), 0);
    static const struct {
        const char *layer;
        int warns;
    } cases[] = {
        {"{type: lstm, name: l, hidden_size: 4, batch_first: 1, dropout: 0.5}", 1},
        {"{type: gru, name: g, hidden_size: 4, batch_first: 1, dropout: 0.25, num_layers: 1}", 1},
        {"{type: rnn, name: r, hidden_size: 4, batch_first: 1, dropout: 0.5}", 1},
        {"{type: lstm, name: l, hidden_size: 4, batch_first: 1, dropout: 0.5, num_layers: 2}", 0},
        {"{type: lstm, name: l, hidden_size: 4, batch_first: 1}", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char spec[512];
        snprintf(spec, sizeof spec, "model:\n  input: [5, 4]\n  layers:\n    - %s\n", cases[k].layer);
        tu_write_text(dir, "s.yaml", spec);
        tu_expect_cli_ok(dir, tu_run_cli(dir, "summary s.yaml"));
        char *err = tu_slurp(dir, "err");
        assert_non_null(err);
        const int warned = strstr(err, "has no effect with num_layers 1") != NULL;
        if (warned != cases[k].warns)
            fail_msg("%s: expected %s warning, stderr: %s", cases[k].layer, cases[k].warns ? "a" : "no", err);
        if (k == 1 && !strstr(err, "strata: warning: layer 'g' (gru): dropout 0.25 has no effect"))
            fail_msg("the warning should name the layer and the value: %s", err);
        free(err);
    }
    assert_int_equal(tu_remove_dir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loaded),
        cmocka_unit_test(test_seq_op_grads),
        cmocka_unit_test(test_unfused_op_grads),
        cmocka_unit_test(test_fused_equals_composite),
        cmocka_unit_test(test_layers_match_torch_equations),
        cmocka_unit_test(test_layer_grads),
        cmocka_unit_test(test_dropout_only_in_training),
        cmocka_unit_test(test_layer_params_and_init),
        cmocka_unit_test(test_time_first_layout),
        cmocka_unit_test(test_bad_input_ops),
        cmocka_unit_test(test_bad_input_spec),
        cmocka_unit_test(test_bad_input_forward),
        cmocka_unit_test(test_dropout_single_layer_warns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
