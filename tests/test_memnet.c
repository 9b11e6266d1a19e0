/*
 * test_memnet.c - the memnet plugin (plugins/memnet, docs/memnet.md), loaded
 * from this build tree, through the public API only:
 *
 *   - memnet::encode against its definition written out in plain C here
 *     (position encoding and bag of words, padding, temporal encoding only
 *     on slots that hold a word), and the host kernels against the
 *     composite-only twins (*_unfused); memnet::slot_mask;
 *   - finite-difference gradient checks of encode (E and T) and of its
 *     composite twin;
 *   - the memn2n layer against the paper's equations written out here, and
 *     its gradients with each option: adjacent and layer-wise tying,
 *     position encoding or bag of words, temporal encoding on or off, linear
 *     start (softmax buffer 0) on or off, one hop and three;
 *   - bad input: word ids outside the vocabulary, wrong shapes and options:
 *     the status and a message naming the op or layer and the values.
 *
 * Everything runs on ref with small shapes.
 */
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
#define STR(name, v) strata_attr_string(name, v)

/* The values of @p t (malloc'd). */
static float *values(strata_tensor *t)
{
    int64_t n = 0;
    return read_f32(t, &n);
}

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
    gc_assert_plugin_from_build_tree("memnet");
}

/* ======================================================================= */
/* encode                                                                  */
/* ======================================================================= */

/* Encodings by index: bag of words, the authors' position encoding, the paper's. */
static const char *const k_enc[3] = {"bow", "position", "position_paper"};

/* Word weight l_kj of encoding @p enc (k_enc), 1-based j (word) and k
 * (dimension): the MemN2N authors' code, 1 + 4 (j - (J+1)/2)(k - (d+1)/2) /
 * (J d), or Sukhbaatar et al. 2015, section 4.1, (1 - j/J) - (k/d)(1 - 2j/J). */
static double pe(int enc, int64_t j, int64_t k, int64_t J, int64_t d)
{
    if (enc == 1)
        return 1.0 + 4.0 * ((double)j - (double)(J + 1) / 2.0) * ((double)k - (double)(d + 1) / 2.0) / (double)(J * d);
    if (enc == 2)
        return (1.0 - (double)j / J) - ((double)k / d) * (1.0 - 2.0 * (double)j / J);
    return 1.0;
}

/* y (R, d) = sum_j l_j E[x[r, j]] (+ T[r % M]) with words == pad skipped. */
static void encode_ref(double *y, const float *E, const int64_t *x, const float *T, int64_t R, int64_t J, int64_t d,
                       int64_t M, int position, int64_t pad)
{
    for (int64_t r = 0; r < R; r++)
        for (int64_t k = 0; k < d; k++) {
            int empty = 1; /* an empty slot holds no time either */
            for (int64_t j = 0; j < J; j++)
                empty &= x[r * J + j] == pad;
            double s = T && !empty ? T[(r % M) * d + k] : 0.0;
            for (int64_t j = 0; j < J; j++) {
                int64_t v = x[r * J + j];
                if (v != pad)
                    s += pe(position, j + 1, k + 1, J, d) * E[v * d + k];
            }
            y[r * d + k] = s;
        }
}

/* words: a (2, 3, 4) block with padding (0) at the ends of sentences */
static const int64_t k_words[24] = {3, 1, 4, 0, 5, 2, 0, 0, 6, 6, 1, 2, 0, 0, 0, 0, 2, 3, 5, 1, 4, 0, 0, 0};

static void check_encode_values(const char *op, int position, int64_t pad, int temporal)
{
    const int64_t V = 7, d = 5, J = 4, M = 3, R = 6;
    strata_tensor *E = tv(D_ANY, 1, SHAPE(V, d)), *T = tv(D_ANY, 2, SHAPE(M, d));
    strata_tensor *x = ti64(k_words, SHAPE(2, M, J)), *y = NULL;
    strata_attr at[2] = {STR("encoding", k_enc[position]), I64("padding_idx", pad)};
    ST_OK(strata_op_call(g_rt, op, (strata_tensor *[]){E, x, T}, temporal ? 3 : 2, at, 2, &y, 1));
    const int64_t *ys = strata_tensor_shape(y);
    assert_int_equal(strata_tensor_ndim(y), 3);
    assert_true(ys[0] == 2 && ys[1] == M && ys[2] == d);
    float *Eh = values(E), *Th = values(T);
    double want[30];
    encode_ref(want, Eh, k_words, temporal ? Th : NULL, R, J, d, M, position, pad);
    float wantf[30];
    for (int k = 0; k < 30; k++)
        wantf[k] = (float)want[k];
    char what[96];
    snprintf(what, sizeof what, "%s %s pad %lld%s", op, k_enc[position], (long long)pad,
             temporal ? " temporal" : "");
    assert_close_f32(y, wantf, 30, 1e-5, what);
    free(Eh);
    free(Th);
    strata_tensor_release(E);
    strata_tensor_release(T);
    strata_tensor_release(x);
    strata_tensor_release(y);
}

static void test_encode_values(void **state)
{
    (void)state;
    static const char *const ops[2] = {"memnet::encode", "memnet::encode_unfused"};
    for (int o = 0; o < 2; o++)
        for (int position = 0; position < 3; position++)
            for (int temporal = 0; temporal < 2; temporal++) {
                check_encode_values(ops[o], position, 0, temporal);
                check_encode_values(ops[o], position, -1, temporal);
            }
}

/* encode_backward (host kernel) equals its composite, and both equal the
 * scatter-add written out here. */
static void test_encode_backward_values(void **state)
{
    (void)state;
    const int64_t V = 7, d = 5, J = 4, R = 6;
    for (int position = 0; position < 3; position++) {
        strata_tensor *dy = tv(D_ANY, 3, SHAPE(2, 3, d)), *x = ti64(k_words, SHAPE(2, 3, J));
        float *dyh = values(dy);
        float want[35];
        double acc[35] = {0};
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < J; j++)
                for (int64_t k = 0; k < d && k_words[r * J + j] != 0; k++)
                    acc[k_words[r * J + j] * d + k] += pe(position, j + 1, k + 1, J, d) * dyh[r * d + k];
        for (int k = 0; k < 35; k++)
            want[k] = (float)acc[k];
        static const char *const ops[2] = {"memnet::encode_backward", "memnet::encode_backward_unfused"};
        for (int o = 0; o < 2; o++) {
            strata_attr at[3] = {STR("encoding", k_enc[position]), I64("padding_idx", 0),
                                 I64("num_embeddings", V)};
            strata_tensor *dE = NULL;
            ST_OK(strata_op_call(g_rt, ops[o], (strata_tensor *[]){dy, x}, 2, at, 3, &dE, 1));
            assert_close_f32(dE, want, 35, 1e-5, ops[o]);
            strata_tensor_release(dE);
        }
        free(dyh);
        strata_tensor_release(dy);
        strata_tensor_release(x);
    }
}

static void test_slot_mask(void **state)
{
    (void)state;
    strata_tensor *x = ti64(k_words, SHAPE(2, 3, 4)), *m = NULL;
    static const float want[6] = {1, 1, 1, 0, 1, 1}, ones[6] = {1, 1, 1, 1, 1, 1};
    ST_OK(strata_op_call(g_rt, "memnet::slot_mask", &x, 1, ATTRS(I64("num_embeddings", 7)), &m, 1));
    assert_int_equal(strata_tensor_ndim(m), 3);
    assert_int_equal(strata_tensor_shape(m)[2], 1);
    assert_close_f32(m, want, 6, 0.0, "slot_mask");
    strata_tensor_release(m);
    ST_OK(strata_op_call(g_rt, "memnet::slot_mask", &x, 1, ATTRS(I64("num_embeddings", 7), I64("padding_idx", -1)),
                         &m, 1));
    assert_close_f32(m, ones, 6, 0.0, "slot_mask without padding");
    strata_tensor_release(m);
    strata_tensor_release(x);
}

static int encode_grad(const char *op, int position, int64_t pad, int temporal, int rank2)
{
    char what[96];
    snprintf(what, sizeof what, "%s %s pad %lld%s%s", op, k_enc[position], (long long)pad,
             temporal ? " temporal" : "", rank2 ? " (R, J)" : "");
    strata_attr at[2] = {STR("encoding", k_enc[position]), I64("padding_idx", pad)};
    op_case c = {.op = op, .n_in = 2, .attrs = at, .n_attrs = 2};
    c.in[0] = tv(D_ANY, 4, SHAPE(7, 5));
    c.in[1] = rank2 ? ti64(k_words, SHAPE(6, 4)) : ti64(k_words, SHAPE(2, 3, 4));
    if (temporal)
        c.in[c.n_in++] = rank2 ? tv(D_ANY, 5, SHAPE(6, 5)) : tv(D_ANY, 5, SHAPE(3, 5));
    return run_op(what, &c);
}

static void test_encode_grads(void **state)
{
    (void)state;
    int bad = 0;
    static const char *const ops[2] = {"memnet::encode", "memnet::encode_unfused"};
    for (int o = 0; o < 2; o++)
        for (int position = 0; position < 3; position++) {
            bad += encode_grad(ops[o], position, 0, 1, 0);
            bad += encode_grad(ops[o], position, -1, 0, 0);
            bad += encode_grad(ops[o], position, 0, 0, 1);
            bad += encode_grad(ops[o], position, 2, 1, 1);
        }
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* The layer                                                               */
/* ======================================================================= */

typedef struct mn_opts {
    int layerwise, position, temporal, linear, hops, mask;
} mn_opts;

enum { B_ = 2, M_ = 4, J_ = 3, V_ = 9, D_ = 4 };

static const int64_t k_story[B_ * M_ * J_] = {1, 2, 3, 4, 5, 0, 6, 0, 0, 0, 0, 0,
                                              7, 8, 1, 2, 2, 3, 8, 4, 6, 5, 1, 0};
static const int64_t k_query[B_ * J_] = {2, 7, 0, 8, 1, 3};

static strata_model *mn_model(const mn_opts *o)
{
    strata_model *m = model_new();
    model_input(m, "story", STRATA_I64, SHAPE(M_, J_));
    model_input(m, "query", STRATA_I64, SHAPE(J_));
    model_layer(m, "memn2n", "mn",
                ATTRS(I64("vocab_size", V_), I64("embedding_dim", D_), I64("hops", o->hops),
                      STR("tying", o->layerwise ? "layerwise" : "adjacent"),
                      STR("encoding", k_enc[o->position]), I64("temporal", o->temporal),
                      /* without the softmaxes the hops multiply: smaller weights keep
                         the float32 loss precise enough for finite differences */
                      strata_attr_float("init_std", o->linear ? 0.3 : 0.5), I64("mask_empty", o->mask)),
                "story", "query");
    ST_OK(strata_model_add_output(m, "mn"));
    ST_OK(strata_model_add_output(m, "mn:1"));
    if (o->linear) {
        for (int k = 0; k < strata_model_buffer_count(m); k++) {
            const char *name = NULL;
            strata_tensor *t = NULL;
            ST_OK(strata_model_buffer(m, k, &name, &t));
            if (!strcmp(name, "mn.softmax"))
                ST_OK(strata_tensor_write(t, &(float){0.0f}, sizeof(float)));
        }
    }
    return m;
}

/* The named parameter's values (malloc'd) or NULL. */
static float *param(strata_model *m, const char *name)
{
    for (int k = 0; k < strata_model_param_count(m); k++) {
        const char *n = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, k, &n, &t));
        if (!strcmp(n, name))
            return values(t);
    }
    return NULL;
}

/* The paper's equations for example b, written out: logits (V) and attention (K M). */
static void memn2n_ref(strata_model *m, const mn_opts *o, int b, double *logits, double *att)
{
    float *E[8] = {NULL}, *T[8] = {NULL}, *H = NULL;
    int K = o->hops;
    char name[32];
    if (o->layerwise) {
        static const char *const en[4] = {"mn.embed_A", "mn.embed_B", "mn.embed_C", "mn.embed_W"};
        for (int k = 0; k < 4; k++)
            E[k] = param(m, en[k]);
        T[0] = o->temporal ? param(m, "mn.temporal_A") : NULL;
        T[1] = o->temporal ? param(m, "mn.temporal_C") : NULL;
        H = param(m, "mn.H");
    } else {
        for (int k = 0; k <= K; k++) {
            snprintf(name, sizeof name, "mn.embed_%d", k);
            E[k] = param(m, name);
            snprintf(name, sizeof name, "mn.temporal_%d", k);
            T[k] = o->temporal ? param(m, name) : NULL;
        }
    }
    double u[D_], mem[M_][D_], out[M_][D_];
    const int64_t *q = k_query + b * J_, *st = k_story + b * M_ * J_;
    encode_ref(u, E[o->layerwise ? 1 : 0], q, NULL, 1, J_, D_, 1, o->position, 0);
    for (int k = 0; k < K; k++) {
        float *A = o->layerwise ? E[0] : E[k], *C = o->layerwise ? E[2] : E[k + 1];
        float *TA = o->layerwise ? T[0] : T[k], *TC = o->layerwise ? T[1] : T[k + 1];
        encode_ref(&mem[0][0], A, st, TA, M_, J_, D_, M_, o->position, 0);
        encode_ref(&out[0][0], C, st, TC, M_, J_, D_, M_, o->position, 0);
        double p[M_], mx = -1e300, z = 0.0;
        int empty[M_];
        for (int i = 0; i < M_; i++) {
            empty[i] = o->mask && st[i * J_] == 0 && st[i * J_ + 1] == 0 && st[i * J_ + 2] == 0;
            p[i] = 0.0;
            for (int c = 0; c < D_; c++)
                p[i] += mem[i][c] * u[c];
            mx = p[i] > mx && !empty[i] ? p[i] : mx;
        }
        for (int i = 0; i < M_; i++) { /* empty slots take no attention */
            if (!o->linear)
                z += (p[i] = empty[i] ? 0.0 : exp(p[i] - mx));
            else if (empty[i])
                p[i] = 0.0;
        }
        for (int i = 0; i < M_ && !o->linear; i++)
            p[i] /= z;
        double un[D_];
        for (int c = 0; c < D_; c++) {
            un[c] = 0.0;
            if (o->layerwise)
                for (int e = 0; e < D_; e++)
                    un[c] += H[c * D_ + e] * u[e];
            else
                un[c] = u[c];
            for (int i = 0; i < M_; i++)
                un[c] += p[i] * out[i][c];
        }
        memcpy(u, un, sizeof u);
        for (int i = 0; i < M_; i++)
            att[k * M_ + i] = p[i];
    }
    float *W = o->layerwise ? E[3] : E[K];
    for (int v = 0; v < V_; v++) {
        logits[v] = 0.0;
        for (int c = 0; c < D_; c++)
            logits[v] += W[v * D_ + c] * u[c];
    }
    for (int k = 0; k < 8; k++) {
        free(E[k]);
        free(T[k]);
    }
    free(H);
}

static const mn_opts k_cases[] = {
    {.layerwise = 0, .position = 1, .temporal = 1, .linear = 0, .hops = 3},
    {.layerwise = 0, .position = 0, .temporal = 0, .linear = 0, .hops = 1},
    {.layerwise = 0, .position = 1, .temporal = 1, .linear = 1, .hops = 3},
    {.layerwise = 0, .position = 1, .temporal = 1, .linear = 0, .hops = 2, .mask = 1},
    {.layerwise = 0, .position = 0, .temporal = 1, .linear = 1, .hops = 2, .mask = 1},
    {.layerwise = 1, .position = 1, .temporal = 1, .linear = 0, .hops = 3},
    {.layerwise = 1, .position = 0, .temporal = 0, .linear = 1, .hops = 2},
    {.layerwise = 0, .position = 2, .temporal = 1, .linear = 1, .hops = 2},
};

static void test_layer_matches_equations(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof k_cases / sizeof k_cases[0]; c++) {
        const mn_opts *o = &k_cases[c];
        strata_model *m = mn_model(o);
        strata_tensor *in[2] = {ti64(k_story, SHAPE(B_, M_, J_)), ti64(k_query, SHAPE(B_, J_))}, *out[2] = {0};
        ST_OK(strata_model_forward(m, in, 2, out, 2, 0));
        float want_l[B_ * V_], want_a[B_ * 3 * M_];
        for (int b = 0; b < B_; b++) {
            double lg[V_], at[3 * M_];
            memn2n_ref(m, o, b, lg, at);
            for (int v = 0; v < V_; v++)
                want_l[b * V_ + v] = (float)lg[v];
            for (int i = 0; i < o->hops * M_; i++)
                want_a[b * o->hops * M_ + i] = (float)at[i];
        }
        char what[96];
        /* float32 keeps about 7 digits: without the softmaxes (linear start)
         * three hops reach logits in the thousands */
        double big = 1.0;
        for (int i = 0; i < B_ * V_; i++)
            big = fabs(want_l[i]) > big ? fabs(want_l[i]) : big;
        snprintf(what, sizeof what, "memn2n case %zu logits", c);
        assert_close_f32(out[0], want_l, B_ * V_, 1e-4 * big, what);
        snprintf(what, sizeof what, "memn2n case %zu attention", c);
        assert_close_f32(out[1], want_a, B_ * o->hops * M_, 1e-4 * big, what);
        for (int k = 0; k < 2; k++) {
            strata_tensor_release(in[k]);
            strata_tensor_release(out[k]);
        }
        strata_model_destroy(m);
    }
}

/* The most hops the layer takes, with the most temporaries (layer-wise tying, masked empty slots): a list of
 * 8 K + 16 overflowed into its count at 14 to 16 hops and crashed, forward and backward. */
static void test_layer_most_hops(void **state)
{
    (void)state;
    for (int layerwise = 0; layerwise < 2; layerwise++) {
        const mn_opts o = {.layerwise = layerwise, .position = 1, .temporal = 1, .hops = 16, .mask = 1};
        strata_model *m = mn_model(&o);
        strata_tensor *in[2] = {ti64(k_story, SHAPE(B_, M_, J_)), ti64(k_query, SHAPE(B_, J_))}, *out[2] = {0};
        ST_OK(strata_model_forward(m, in, 2, out, 2, 1));
        assert_int_equal(strata_tensor_dim(out[1], 1), 16);
        assert_int_equal(strata_tensor_dim(out[1], 2), M_);
        strata_tensor *loss = NULL;
        ST_OK(strata_op_call(g_rt, "core::sum", &out[0], 1, NULL, 0, &loss, 1));
        ST_OK(strata_backward(strata_runtime_graph(g_rt), loss));
        float a[B_ * 16 * M_];
        ST_OK(strata_tensor_read(out[1], a, sizeof a));
        for (int i = 0; i < B_ * 16 * M_; i++)
            assert_true(isfinite(a[i]));
        strata_tensor_release(loss);
        for (int k = 0; k < 2; k++) {
            strata_tensor_release(in[k]);
            strata_tensor_release(out[k]);
        }
        strata_graph_reset(strata_runtime_graph(g_rt));
        strata_model_destroy(m);
    }
}

typedef struct layer_case {
    strata_model *m;
    strata_tensor *in[2];
} layer_case;

static strata_status layer_fwd(void *user, strata_tensor **outs, int *n_outs)
{
    layer_case *c = user;
    *n_outs = 2;
    return strata_model_forward(c->m, c->in, 2, outs, 2, 1);
}

static void test_layer_grads(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t c = 0; c < sizeof k_cases / sizeof k_cases[0]; c++) {
        const mn_opts *o = &k_cases[c];
        layer_case lc = {.m = mn_model(o),
                         .in = {ti64(k_story, SHAPE(B_, M_, J_)), ti64(k_query, SHAPE(B_, J_))}};
        char what[160];
        snprintf(what, sizeof what, "memn2n %s %s%s%s%s, %d hops", o->layerwise ? "layerwise" : "adjacent",
                 k_enc[o->position], o->temporal ? " TE" : "", o->linear ? " linear start" : "",
                 o->mask ? " masked" : "", o->hops);
        gc_case g = {.what = what, .fwd = layer_fwd, .user = &lc};
        int np = strata_model_param_count(lc.m);
        assert_true(np <= GC_MAX_VARS);
        for (int p = 0; p < np; p++) {
            ST_OK(strata_model_param(lc.m, p, &g.vars[g.n_vars].name, &g.vars[g.n_vars].t));
            g.n_vars++;
        }
        bad += gradcheck(&g);
        strata_model_destroy(lc.m);
        strata_tensor_release(lc.in[0]);
        strata_tensor_release(lc.in[1]);
    }
    ASSERT_GC_OK(bad);
}

static void test_layer_params(void **state)
{
    (void)state;
    mn_opts o = {.position = 1, .temporal = 1, .hops = 3};
    strata_model *m = mn_model(&o);
    assert_int_equal(strata_model_param_count(m), 8); /* embed_0..3, temporal_0..3 */
    assert_int_equal(strata_model_num_scalars(m), 4 * V_ * D_ + 4 * M_ * D_);
    strata_model_destroy(m);
    o.layerwise = 1;
    m = mn_model(&o);
    assert_int_equal(strata_model_param_count(m), 7); /* A, B, C, W, T_A, T_C, H */
    strata_model_destroy(m);
}

/* ======================================================================= */
/* Bad input                                                               */
/* ======================================================================= */

static void test_bad_input(void **state)
{
    (void)state;
    strata_tensor *E = tv(D_ANY, 1, SHAPE(7, 5)), *y = NULL;
    strata_tensor *x = ti64((const int64_t[]){1, 2, 9, 0}, SHAPE(2, 2));
    strata_clear_error();
    assert_int_equal(strata_op_call(g_rt, "memnet::encode", (strata_tensor *[]){E, x}, 2, NULL, 0, &y, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("memnet::encode");
    tu_assert_error_contains("word id 9");
    tu_assert_error_contains("[0, 7)");
    assert_null(y);
    strata_tensor *T = tv(D_ANY, 1, SHAPE(3, 5));
    assert_int_equal(strata_op_call(g_rt, "memnet::encode", (strata_tensor *[]){E, x, T}, 3, NULL, 0, &y, 1),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("T (input 2)");
    tu_assert_error_contains("(3, 5)");
    assert_int_equal(strata_op_call(g_rt, "memnet::encode", (strata_tensor *[]){E, x}, 2,
                                    ATTRS(STR("encoding", "tfidf")), &y, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("\"tfidf\"");
    /* padding_idx -1 means no padding: a word id -1 is out of range as in the composite (it was skipped) */
    strata_tensor *xneg = ti64((const int64_t[]){1, -1, 2, 0}, SHAPE(2, 2));
    static const char *const ops[2] = {"memnet::encode", "memnet::encode_unfused"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(strata_op_call(g_rt, ops[k], (strata_tensor *[]){E, xneg}, 2,
                                        ATTRS(I64("padding_idx", -1)), &y, 1),
                         STRATA_E_INVALID);
        tu_assert_error_contains("-1");
        assert_null(y);
    }
    strata_tensor_release(xneg);
    strata_tensor_release(E);
    strata_tensor_release(x);
    strata_tensor_release(T);

    strata_model *m = model_new();
    model_input(m, "story", STRATA_I64, SHAPE(M_, J_));
    model_input(m, "query", STRATA_I64, SHAPE(J_));
    const char *ins[2] = {"story", "query"};
    strata_clear_error();
    assert_int_equal(strata_model_add_layer(m, "memn2n", "mn", ATTRS(I64("vocab_size", 9), STR("tying", "none")), ins,
                                            2),
                     STRATA_E_INVALID);
    tu_assert_error_contains("layer 'mn' (memn2n)");
    tu_assert_error_contains("\"none\"");
    assert_int_equal(strata_model_add_layer(m, "memn2n", "mn", ATTRS(I64("vocab_size", 9), I64("hops", 0)), ins, 2),
                     STRATA_E_INVALID);
    tu_assert_error_contains("hops must be in [1, 16], got 0");
    const char *swapped[2] = {"query", "story"};
    assert_int_equal(strata_model_add_layer(m, "memn2n", "mn", ATTRS(I64("vocab_size", 9)), swapped, 2),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("story (M, J) and query (J)");
    /* an infinite init_std filled every parameter with non-numbers */
    assert_int_equal(strata_model_add_layer(m, "memn2n", "mn",
                                            ATTRS(I64("vocab_size", 9), strata_attr_float("init_std", INFINITY)), ins,
                                            2),
                     STRATA_E_INVALID);
    tu_assert_error_contains("init_std must be a finite number > 0, got inf");
    strata_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loaded),
        cmocka_unit_test(test_encode_values),
        cmocka_unit_test(test_encode_backward_values),
        cmocka_unit_test(test_slot_mask),
        cmocka_unit_test(test_encode_grads),
        cmocka_unit_test(test_layer_matches_equations),
        cmocka_unit_test(test_layer_grads),
        cmocka_unit_test(test_layer_most_hops),
        cmocka_unit_test(test_layer_params),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
