/*
 * memn2n_layer.c - the layer type memn2n: an end-to-end memory network
 * (Sukhbaatar et al. 2015) with K hops over a memory of M sentences.
 *
 *   inputs   story (M, J) int   word ids of the memory sentences, slot 0 the
 *                               most recent; empty slots and padding hold
 *                               padding_idx
 *            query (Jq) int     the question's word ids
 *   outputs  logits (V)         answer scores over the vocabulary
 *            attention (K, M)   each hop's weights over the memory slots
 *
 *   u_1 = encode(B, query);  for hop k = 1..K:
 *     m_i = encode(A_k, story_i) + T_A^k[i],  c_i = encode(C_k, story_i) + T_C^k[i]
 *     p = softmax(m u_k)            (p = m u_k during a linear start); with
 *                                   mask_empty: 1, empty slots (all padding)
 *                                   get p = 0 (off by default: it measured
 *                                   worse on bAbI, docs/memnet.md)
 *     u_{k+1} = u_k + sum_i p_i c_i (adjacent)  or  H u_k + sum_i p_i c_i (layerwise)
 *   logits = W u_{K+1}
 *
 * Tying "adjacent": parameters embed_0 .. embed_K (V, d) with A_k = embed_{k-1},
 * C_k = embed_k, B = embed_0 and W = embed_K, the temporal encodings likewise
 * temporal_0 .. temporal_K (M, d). Tying "layerwise": embed_A, embed_B,
 * embed_C, embed_W (V, d), temporal_A, temporal_C (M, d) shared by every hop,
 * and H (d, d). encode is memnet::encode (position encoding, the authors' code
 * form or the paper's, or bag of words).
 * All parameters are drawn from N(0, init_std).
 *
 * The buffer "softmax" (one value, saved in checkpoints) is 1 normally; a
 * trainer sets it to 0 for a linear start (the paper's LS: the memory
 * softmaxes removed for the first epochs) and back to 1 afterwards.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memnet_internal.h"

#define SPEC(NAME, KIND, REQ, DI, DF, DS, DOC)                                                                         \
    {                                                                                                                  \
        sizeof(strata_attr_spec), NAME, KIND, REQ, DI, DF, DS, DOC                                                     \
    }
#define MN_MAX_HOPS 16

static const strata_attr_spec memn2n_spec[] = {
    SPEC("vocab_size", STRATA_ATTR_INT, 1, 0, 0, NULL, "words V (ids 0 .. V-1, including the padding word)"),
    SPEC("embedding_dim", STRATA_ATTR_INT, 0, 20, 0, NULL, "dimension d of the embeddings"),
    SPEC("hops", STRATA_ATTR_INT, 0, 3, 0, NULL, "memory hops K"),
    SPEC("tying", STRATA_ATTR_STRING, 0, 0, 0, "adjacent", "\"adjacent\" or \"layerwise\" weight tying"),
    SPEC("encoding", STRATA_ATTR_STRING, 0, 0, 0, "position", "sentence encoding: \"position\" (the authors' code), \"position_paper\" or \"bow\""),
    SPEC("temporal", STRATA_ATTR_INT, 0, 1, 0, NULL, "learned temporal encoding per memory slot (1) or none (0)"),
    SPEC("padding_idx", STRATA_ATTR_INT, 0, 0, 0, NULL, "the nil word id that contributes nothing (-1: none)"),
    SPEC("init_std", STRATA_ATTR_FLOAT, 0, 0, 0.1, NULL, "standard deviation of the N(0, s) initialisation"),
    SPEC("mask_empty", STRATA_ATTR_INT, 0, 0, 0, NULL, "empty memory slots (all padding) take no attention (1)"),
};

/* Parameter slots of the layer state (borrowed from the model). */
typedef struct memn2n {
    int64_t V, d, K, M;
    int layerwise, temporal, enc, mask_empty; /* enc: MN_ENC_* */
    int64_t pad;
    strata_tensor *embed[MN_MAX_HOPS + 1]; /* adjacent: K + 1; layerwise: A, B, C, W */
    strata_tensor *temp[MN_MAX_HOPS + 1];  /* adjacent: K + 1; layerwise: T_A, T_C */
    strata_tensor *H;
    strata_tensor *softmax; /* buffer (1) */
} memn2n;

enum { LW_A, LW_B, LW_C, LW_W };

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

static int is_index(int32_t dtype)
{
    return dtype == STRATA_I64 || dtype == STRATA_I32;
}

static strata_status add_param(const strata_layer_create_call *c, const char *name, int64_t rows, int64_t cols,
                               double std, strata_tensor **out)
{
    strata_status rc = c->host->layer_add_param(c->layer, name, STRATA_F32, 2, (const int64_t[]){rows, cols}, out);
    return rc ? rc : c->host->init_normal(*out, 0.0, std);
}

static strata_status memn2n_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    char w[160], s1[96], s2[96];
    snprintf(w, sizeof w, "layer '%s' (memn2n)", h->layer_name(c->layer));
    const strata_attr *at = c->attrs;
    const int na = c->n_attrs;
    const int64_t V = strata_attr_get_int(at, na, "vocab_size", 0), d = strata_attr_get_int(at, na, "embedding_dim", 20);
    const int64_t K = strata_attr_get_int(at, na, "hops", 3), temporal = strata_attr_get_int(at, na, "temporal", 1);
    const int64_t pad = strata_attr_get_int(at, na, "padding_idx", 0);
    const int64_t mask_empty = strata_attr_get_int(at, na, "mask_empty", 0);
    const double std = strata_attr_get_float(at, na, "init_std", 0.1);
    const strata_attr *ty = strata_attr_find(at, na, "tying");
    const char *tying = ty && ty->kind == STRATA_ATTR_STRING && ty->s ? ty->s : "adjacent";
    int enc = MN_ENC_POSITION;
    strata_status rc = mn_read_encoding(h, w, at, na, &enc);
    if (rc)
        return rc;
    if (strcmp(tying, "adjacent") && strcmp(tying, "layerwise"))
        return h->set_error(STRATA_E_INVALID, "%s: tying must be \"adjacent\" or \"layerwise\", got \"%s\"", w, tying);
    if (V < 1 || d < 1)
        return h->set_error(STRATA_E_INVALID, "%s: vocab_size and embedding_dim must be positive, got %lld and %lld",
                            w, (long long)V, (long long)d);
    if (K < 1 || K > MN_MAX_HOPS)
        return h->set_error(STRATA_E_INVALID, "%s: hops must be in [1, %d], got %lld", w, MN_MAX_HOPS, (long long)K);
    if ((temporal != 0 && temporal != 1) || (mask_empty != 0 && mask_empty != 1))
        return h->set_error(STRATA_E_INVALID, "%s: temporal and mask_empty must be 0 or 1, got %lld and %lld", w,
                            (long long)temporal, (long long)mask_empty);
    if (pad < -1 || pad >= V)
        return h->set_error(STRATA_E_INVALID, "%s: padding_idx must be -1 or in [0, %lld), got %lld", w, (long long)V,
                            (long long)pad);
    if (!(std > 0.0) || !isfinite(std))
        return h->set_error(STRATA_E_INVALID, "%s: init_std must be a finite number > 0, got %g", w, std);
    if (c->n_inputs != 2)
        return h->set_error(STRATA_E_INVALID, "%s takes two inputs, story (M, J) and query (J), got %d", w,
                            (int)c->n_inputs);
    const strata_tensor_desc *st = &c->inputs[0], *q = &c->inputs[1];
    if (!is_index(st->dtype) || st->ndim != 2 || !is_index(q->dtype) || q->ndim != 1)
        return h->set_error(STRATA_E_SHAPE,
                            "%s expects integer word ids: story (M, J) and query (J) per example, got story %s dtype "
                            "%d and query %s dtype %d",
                            w, mn_shape_str(s1, sizeof s1, st->ndim, st->shape), (int)st->dtype,
                            mn_shape_str(s2, sizeof s2, q->ndim, q->shape), (int)q->dtype);
    memn2n *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->V = V, s->d = d, s->K = K, s->M = st->shape[0];
    s->layerwise = !strcmp(tying, "layerwise"), s->temporal = (int)temporal, s->enc = enc, s->pad = pad;
    s->mask_empty = (int)mask_empty;
    char name[32];
    if (s->layerwise) {
        static const char *const en[4] = {"embed_A", "embed_B", "embed_C", "embed_W"};
        for (int k = 0; k < 4 && !rc; k++)
            rc = add_param(c, en[k], V, d, std, &s->embed[k]);
        for (int k = 0; k < 2 && temporal && !rc; k++)
            rc = add_param(c, k ? "temporal_C" : "temporal_A", s->M, d, std, &s->temp[k]);
        if (!rc)
            rc = add_param(c, "H", d, d, std, &s->H);
    } else {
        for (int64_t k = 0; k <= K && !rc; k++) {
            snprintf(name, sizeof name, "embed_%lld", (long long)k);
            rc = add_param(c, name, V, d, std, &s->embed[k]);
        }
        for (int64_t k = 0; k <= K && temporal && !rc; k++) {
            snprintf(name, sizeof name, "temporal_%lld", (long long)k);
            rc = add_param(c, name, s->M, d, std, &s->temp[k]);
        }
    }
    if (!rc)
        rc = h->layer_add_buffer(c->layer, "softmax", STRATA_F32, 1, (const int64_t[]){1}, &s->softmax);
    if (!rc)
        rc = h->tensor_write(s->softmax, &(float){1.0f}, sizeof(float));
    if (rc)
        return rc;
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = 1;
    c->outputs[0].shape[0] = V;
    c->outputs[1].dtype = STRATA_F32;
    c->outputs[1].ndim = 2;
    c->outputs[1].shape[0] = K, c->outputs[1].shape[1] = s->M;
    return STRATA_OK;
}

/* A list of owned references released together. A forward keeps up to 10 K + 7 (layer-wise tying with
 * mask_empty): 8 K + 16 overflowed into n at K = 14 to 16 and crashed. */
#define MN_TMP_CAP (12 * MN_MAX_HOPS + 16)
typedef struct tmp_list {
    strata_tensor *t[MN_TMP_CAP];
    int n, full; /* full: one more would not fit (not kept: leaked, never written past the end) */
} tmp_list;

static strata_tensor *keep(tmp_list *l, strata_tensor *t)
{
    if (l->n < MN_TMP_CAP)
        l->t[l->n++] = t;
    else
        l->full = 1;
    return t;
}

static strata_status encode(const strata_layer_forward_call *c, const memn2n *s, strata_tensor *E, strata_tensor *x,
                            strata_tensor *T, tmp_list *l, strata_tensor **out)
{
    strata_attr at[2] = {strata_attr_string("encoding", mn_encoding_name(s->enc)),
                         strata_attr_int("padding_idx", s->pad)};
    strata_tensor *in[3] = {E, x, T};
    strata_status rc = mn_op(c->host, c->rt, "memnet::encode", in, T ? 3 : 2, at, 2, out);
    if (!rc)
        keep(l, *out);
    return rc;
}

/* The step of op @p op on @p in, kept in @p l; *out borrowed. */
#define STEP(op, ...)                                                                                                  \
    do {                                                                                                               \
        strata_tensor *in_[] = {__VA_ARGS__};                                                                          \
        if ((rc = mn_op(h, rt, op, in_, (int)(sizeof in_ / sizeof in_[0]), at_, n_at_, &t_)))                         \
            goto done;                                                                                                 \
        keep(&l, t_);                                                                                                  \
    } while (0)

static strata_status memn2n_forward(const strata_layer_forward_call *c)
{
    const strata_host_api *h = c->host;
    const memn2n *s = c->state;
    strata_runtime *rt = c->rt;
    strata_tensor *story = c->inputs[0], *query = c->inputs[1];
    const int64_t Bt = h->tensor_shape(story)[0], M = s->M, d = s->d, K = s->K;
    tmp_list l = {.n = 0};
    strata_tensor *t_ = NULL, *u = NULL, *att[MN_MAX_HOPS];
    const strata_attr *at_ = NULL;
    int n_at_ = 0;
    float soft = 1.0f;
    strata_status rc = h->tensor_read(s->softmax, &soft, sizeof soft);
    if (rc)
        return rc;
    /* the sentence embeddings: adjacent tying shares embed_k between C_k and A_{k+1} */
    strata_tensor *enc[MN_MAX_HOPS + 1] = {NULL};
    const int n_enc = s->layerwise ? 2 : (int)K + 1;
    for (int k = 0; k < n_enc; k++) {
        strata_tensor *E = s->layerwise ? s->embed[k ? LW_C : LW_A] : s->embed[k];
        if ((rc = encode(c, s, E, story, s->temporal ? s->temp[k] : NULL, &l, &enc[k])))
            goto done;
    }
    if ((rc = encode(c, s, s->embed[s->layerwise ? LW_B : 0], query, NULL, &l, &u)))
        goto done;
    const int64_t u3[3] = {Bt, d, 1}, p3[3] = {Bt, 1, M}, two[2] = {Bt, M}, o2[2] = {Bt, d};
    /* empty slots (all padding) take no attention: -1e9 on their scores before
     * the softmax, a zero weight during a linear start */
    strata_tensor *keep2 = NULL, *bias = NULL;
    if (s->mask_empty && s->pad >= 0) {
        strata_attr at[2] = {strata_attr_int("padding_idx", s->pad), strata_attr_int("num_embeddings", s->V)};
        strata_attr sh = strata_attr_ints("shape", two, 2);
        strata_attr sc[2] = {strata_attr_float("alpha", 1e9), strata_attr_float("beta", -1e9)};
        at_ = at, n_at_ = 2;
        STEP("memnet::slot_mask", story);
        at_ = &sh, n_at_ = 1;
        STEP("core::reshape", t_);
        keep2 = t_;
        at_ = sc, n_at_ = 2;
        STEP("core::scale", keep2);
        bias = t_;
    }
    for (int64_t k = 0; k < K; k++) {
        strata_tensor *m = s->layerwise ? enc[0] : enc[k], *cm = s->layerwise ? enc[1] : enc[k + 1];
        strata_attr sh = strata_attr_ints("shape", u3, 3);
        at_ = &sh, n_at_ = 1;
        STEP("core::reshape", u);
        at_ = NULL, n_at_ = 0;
        STEP("core::matmul", m, t_); /* (Bt, M, 1) scores */
        sh = strata_attr_ints("shape", two, 2);
        at_ = &sh, n_at_ = 1;
        STEP("core::reshape", t_);
        if (soft != 0.0f) {
            strata_attr ax = strata_attr_int("axis", -1);
            if (bias) {
                at_ = NULL, n_at_ = 0;
                STEP("core::add", t_, bias);
            }
            at_ = &ax, n_at_ = 1;
            STEP("core::softmax", t_);
        } else if (keep2) {
            at_ = NULL, n_at_ = 0;
            STEP("core::mul", t_, keep2);
        }
        at_ = NULL, n_at_ = 0;
        sh = strata_attr_ints("shape", p3, 3);
        at_ = &sh, n_at_ = 1;
        STEP("core::reshape", t_);
        att[k] = t_;
        at_ = NULL, n_at_ = 0;
        STEP("core::matmul", att[k], cm); /* (Bt, 1, d) */
        sh = strata_attr_ints("shape", o2, 2);
        at_ = &sh, n_at_ = 1;
        STEP("core::reshape", t_);
        strata_tensor *o = t_;
        at_ = NULL, n_at_ = 0;
        if (s->layerwise) {
            STEP("core::linear", u, s->H);
            STEP("core::add", t_, o);
        } else {
            STEP("core::add", u, o);
        }
        u = t_;
    }
    at_ = NULL, n_at_ = 0;
    STEP("core::linear", u, s->embed[s->layerwise ? LW_W : K]);
    c->outputs[0] = h->tensor_retain(t_);
    if (K == 1) {
        c->outputs[1] = h->tensor_retain(att[0]);
    } else {
        strata_attr ax = strata_attr_int("axis", 1);
        rc = h->op_call(rt, "core::concat", att, (int)K, &ax, 1, &c->outputs[1], 1);
    }
done:
    for (int k = 0; k < l.n; k++)
        h->tensor_release(l.t[k]);
    if (!rc && l.full)
        rc = h->set_error(STRATA_E_INTERNAL, "memn2n: more than %d temporaries in one forward (hops %lld)",
                          MN_TMP_CAP, (long long)K);
    if (rc) {
        for (int k = 0; k < c->n_outputs; k++) {
            h->tensor_release(c->outputs[k]);
            c->outputs[k] = NULL;
        }
    }
    return rc;
}

static const strata_layer_type memn2n_type = {
    .struct_size = sizeof(strata_layer_type),
    .name = "memn2n",
    .attrs = memn2n_spec,
    .n_attrs = (int32_t)(sizeof memn2n_spec / sizeof memn2n_spec[0]),
    .min_inputs = 2,
    .max_inputs = 2,
    .n_outputs = 2,
    .create = memn2n_create,
    .forward = memn2n_forward,
    .destroy = free_state,
    .doc = "end-to-end memory network (MemN2N): inputs story (M, J), query (J) word ids; outputs logits (V), "
           "attention (K, M)"};

strata_status memnet_register_layers(const strata_host_api *h, strata_plugin *p)
{
    return h->register_layer(p, &memn2n_type);
}
