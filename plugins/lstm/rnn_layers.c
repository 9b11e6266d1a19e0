/*
 * rnn_layers.c - the layer types lstm, gru and rnn: PyTorch's nn.LSTM,
 * nn.GRU and nn.RNN (attribute names, equations, gate order, parameter
 * names, shapes and initialisation), so a checkpoint loads into the torch
 * module of the same configuration.
 *
 *   inputs   x (B, T, in) with batch_first: 1, else (T, B, in)
 *            [h0 (B, L D, H)] [c0 (B, L D, H), lstm only]; absent = zeros
 *   outputs  y (B, T, D H) or (T, B, D H), h_n (B, L D, H) [, c_n (B, L D, H)]
 *
 * L = num_layers, D = 2 when bidirectional, else 1. The states are
 * BATCH-FIRST (PyTorch's are (L D, B, H)): every model input and output in
 * Strata has the batch first. With batch_first: 0 the model's leading
 * dimension is T, so the states cannot be batched model values: initial
 * states are refused and h_n, c_n are unbatched outputs.
 *
 * Parameters per layer k and direction (suffix "_reverse" for the second):
 * weight_ih_l{k} (G H, in_k), weight_hh_l{k} (G H, H), bias_ih_l{k},
 * bias_hh_l{k} (G H), with in_0 = input_size, in_k = D H; all U(-1/sqrt H,
 * 1/sqrt H). Each layer and direction runs one fused sequence op
 * (lstm::lstm_seq, gru_seq, rnn_seq); dropout acts on the outputs of every
 * layer but the last, in training.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_internal.h"

#define SPEC(NAME, KIND, REQ, DI, DF, DS, DOC)                                                                         \
    {                                                                                                                  \
        sizeof(strata_attr_spec), NAME, KIND, REQ, DI, DF, DS, DOC                                                     \
    }
#define RNN_MAX_LAYERS 64
/* hidden and input sizes: far above any real layer, low enough that G H (D H + H) cannot overflow int64 */
#define RNN_MAX_HIDDEN ((int64_t)1 << 24)

typedef struct rnn_layer {
    int cell, relu, bf, has_bias;
    int64_t L, D, H;
    double dropout;
    strata_tensor *p[RNN_MAX_LAYERS * 2][4]; /* w_ih, w_hh, b_ih, b_hh; borrowed from the model */
} rnn_layer;

#define COMMON_SPECS                                                                                                   \
    SPEC("input_size", STRATA_ATTR_INT, 0, -1, 0, NULL, "features of x (taken from the input when -1)"),               \
        SPEC("hidden_size", STRATA_ATTR_INT, 1, 0, 0, NULL, "features of the hidden state H"),                         \
        SPEC("num_layers", STRATA_ATTR_INT, 0, 1, 0, NULL, "stacked recurrent layers"),                                \
        SPEC("bias", STRATA_ATTR_INT, 0, 1, 0, NULL, "use bias_ih and bias_hh (1) or not (0)"),                        \
        SPEC("batch_first", STRATA_ATTR_INT, 0, 0, 0, NULL, "x and y are (B, T, F) (1) or (T, B, F) (0)"),             \
        SPEC("dropout", STRATA_ATTR_FLOAT, 0, 0, 0.0, NULL,                                                            \
             "dropout on the outputs of every layer but the last (training)"),                                         \
        SPEC("bidirectional", STRATA_ATTR_INT, 0, 0, 0, NULL, "also run each layer backwards in time (1)")

static const strata_attr_spec lstm_spec[] = {COMMON_SPECS};
static const strata_attr_spec rnn_spec[] = {
    COMMON_SPECS,
    SPEC("nonlinearity", STRATA_ATTR_STRING, 0, 0, 0, "tanh", "\"tanh\" or \"relu\""),
};

static const char *cell_name(int cell)
{
    return cell == CELL_LSTM ? "lstm" : cell == CELL_GRU ? "gru" : "rnn";
}

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

static strata_status rnn_create(const strata_layer_create_call *c, int cell)
{
    const strata_host_api *h = c->host;
    char w[160], s1[96], s2[96];
    snprintf(w, sizeof w, "layer '%s' (%s)", h->layer_name(c->layer), cell_name(cell));
    const strata_attr *at = c->attrs;
    const int na = c->n_attrs;
    int64_t in_size = strata_attr_get_int(at, na, "input_size", -1);
    int64_t H = strata_attr_get_int(at, na, "hidden_size", 0);
    int64_t L = strata_attr_get_int(at, na, "num_layers", 1);
    int64_t bias = strata_attr_get_int(at, na, "bias", 1);
    int64_t bf = strata_attr_get_int(at, na, "batch_first", 0);
    int64_t bidir = strata_attr_get_int(at, na, "bidirectional", 0);
    double dropout = strata_attr_get_float(at, na, "dropout", 0.0);
    int relu = 0;
    if (cell == CELL_RNN) {
        const strata_attr *nl = strata_attr_find(at, na, "nonlinearity");
        const char *v = nl && nl->kind == STRATA_ATTR_STRING && nl->s ? nl->s : "tanh";
        if (strcmp(v, "tanh") && strcmp(v, "relu"))
            return h->set_error(STRATA_E_INVALID, "%s: nonlinearity must be \"tanh\" or \"relu\", got \"%s\"", w, v);
        relu = !strcmp(v, "relu");
    }
    if (H < 1 || H > RNN_MAX_HIDDEN)
        return h->set_error(STRATA_E_INVALID, "%s: hidden_size must be in [1, %lld], got %lld", w,
                            (long long)RNN_MAX_HIDDEN, (long long)H);
    if (in_size < -1 || in_size == 0 || in_size > RNN_MAX_HIDDEN)
        return h->set_error(STRATA_E_INVALID, "%s: input_size must be -1 (from the input) or in [1, %lld], got %lld",
                            w, (long long)RNN_MAX_HIDDEN, (long long)in_size);
    if (L < 1 || L > RNN_MAX_LAYERS)
        return h->set_error(STRATA_E_INVALID, "%s: num_layers must be in [1, %d], got %lld", w, RNN_MAX_LAYERS,
                            (long long)L);
    if ((bias != 0 && bias != 1) || (bf != 0 && bf != 1) || (bidir != 0 && bidir != 1))
        return h->set_error(STRATA_E_INVALID,
                            "%s: bias, batch_first and bidirectional must be 0 or 1, got %lld, %lld, %lld", w,
                            (long long)bias, (long long)bf, (long long)bidir);
    if (!(dropout >= 0.0 && dropout < 1.0))
        return h->set_error(STRATA_E_INVALID, "%s: dropout must be in [0, 1), got %g", w, dropout);
    if (dropout > 0.0 && L == 1) /* as PyTorch warns: the setting is kept (a checkpoint's spec) but does nothing */
        h->log(c->rt, STRATA_LOG_WARN,
               "%s: dropout %g has no effect with num_layers 1: it acts between stacked layers, on the outputs of "
               "every layer but the last (use num_layers >= 2, or a dropout layer after this one)",
               w, dropout);
    const strata_tensor_desc *x = &c->inputs[0];
    const char *layout =
        bf ? "(T, input_size) per example (batch_first: 1)" : "(B, input_size) per step (batch_first: 0)";
    if (x->dtype != STRATA_F32 || x->ndim != 2)
        return h->set_error(x->dtype != STRATA_F32 ? STRATA_E_DTYPE : STRATA_E_SHAPE,
                            "%s expects f32 x of shape %s, got %s %s%s", w, layout, strata_dtype_name(x->dtype),
                            rnn_shape_str(s1, sizeof s1, x->ndim, x->shape),
                            x->dtype != STRATA_F32 ? " (token ids go through an embedding layer first)" : "");
    if (x->shape[0] < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: x %s has %s %lld; it must be positive", w,
                            rnn_shape_str(s1, sizeof s1, x->ndim, x->shape), bf ? "sequence length" : "batch size",
                            (long long)x->shape[0]);
    if (x->shape[1] < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: x %s has input size 0", w,
                            rnn_shape_str(s1, sizeof s1, x->ndim, x->shape));
    if (in_size >= 0 && in_size != x->shape[1])
        return h->set_error(STRATA_E_SHAPE, "%s: input_size is %lld but the input has %lld features (x %s)", w,
                            (long long)in_size, (long long)x->shape[1],
                            rnn_shape_str(s1, sizeof s1, x->ndim, x->shape));
    in_size = x->shape[1];
    const int64_t D = bidir ? 2 : 1, G = rnn_gates(cell);
    const int64_t st_shape[2] = {L * D, H};
    if (c->n_inputs > 1 && !bf)
        return h->set_error(STRATA_E_INVALID,
                            "%s: initial states need batch_first: 1 (Strata's states are batch-first, (B, %lld, %lld), "
                            "and with batch_first: 0 the model's leading dimension is the time)",
                            w, (long long)(L * D), (long long)H);
    for (int k = 1; k < c->n_inputs; k++) {
        const strata_tensor_desc *st = &c->inputs[k];
        if (st->dtype != STRATA_F32 || st->ndim != 2 || st->shape[0] != L * D || st->shape[1] != H)
            return h->set_error(STRATA_E_SHAPE,
                                "%s: %s (input %d) must be f32 (batch, num_layers x directions, hidden_size) = "
                                "(batch, %lld, %lld), got (batch, ...) %s",
                                w, k == 1 ? "h0" : "c0", k, (long long)(L * D), (long long)H,
                                rnn_shape_str(s2, sizeof s2, st->ndim, st->shape));
    }
    rnn_layer *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->cell = cell, s->relu = relu, s->bf = (int)bf, s->has_bias = (int)bias;
    s->L = L, s->D = D, s->H = H, s->dropout = dropout;
    const double bound = 1.0 / sqrt((double)H);
    for (int64_t l = 0; l < L; l++) {
        for (int64_t d = 0; d < D; d++) {
            strata_tensor **p = s->p[l * D + d];
            const int64_t in_l = l ? D * H : in_size;
            const char *suf = d ? "_reverse" : "";
            char name[4][64];
            snprintf(name[0], sizeof name[0], "weight_ih_l%lld%s", (long long)l, suf);
            snprintf(name[1], sizeof name[1], "weight_hh_l%lld%s", (long long)l, suf);
            snprintf(name[2], sizeof name[2], "bias_ih_l%lld%s", (long long)l, suf);
            snprintf(name[3], sizeof name[3], "bias_hh_l%lld%s", (long long)l, suf);
            const int64_t shp[4][2] = {{G * H, in_l}, {G * H, H}, {G * H, 0}, {G * H, 0}};
            for (int k = 0; k < (bias ? 4 : 2); k++) {
                strata_status rc = h->layer_add_param(c->layer, name[k], STRATA_F32, k < 2 ? 2 : 1, shp[k], &p[k]);
                if (!rc)
                    rc = h->init_uniform(p[k], -bound, bound);
                if (rc)
                    return rc;
            }
        }
    }
    rnn_desc(&c->outputs[0], 2, x->shape[0], D * H, 0);
    for (int k = 1; k < c->n_outputs; k++) {
        if (bf) {
            rnn_desc(&c->outputs[k], 2, st_shape[0], st_shape[1], 0);
        } else {
            c->outputs[k].dtype = STRATA_F32;
            c->outputs[k].ndim = -1; /* unbatched: its leading dimension is B, the model's is T */
        }
    }
    return STRATA_OK;
}

static strata_status lstm_create(const strata_layer_create_call *c)
{
    return rnn_create(c, CELL_LSTM);
}
static strata_status gru_create(const strata_layer_create_call *c)
{
    return rnn_create(c, CELL_GRU);
}
static strata_status rnn_create_fn(const strata_layer_create_call *c)
{
    return rnn_create(c, CELL_RNN);
}

/* New reference: the (B, H) state of layer-direction k from (B, L D, H), or zeros. */
static strata_status state_in(const strata_layer_forward_call *c, strata_tensor *st, int64_t k, int64_t B, int64_t H,
                              strata_tensor *zeros, strata_tensor **out)
{
    if (!st) {
        *out = c->host->tensor_retain(zeros);
        return STRATA_OK;
    }
    strata_tensor *v = NULL;
    strata_status rc = rnn_slice(c->host, c->rt, st, 1, k, k + 1, &v);
    if (!rc)
        rc = rnn_reshape(c->host, c->rt, v, 2, (const int64_t[]){B, H}, out);
    c->host->tensor_release(v);
    return rc;
}

static strata_status rnn_forward_layer(const strata_layer_forward_call *c)
{
    const strata_host_api *h = c->host;
    const rnn_layer *s = c->state;
    strata_runtime *rt = c->rt;
    strata_tensor *x = c->inputs[0];
    const int64_t *xs = h->tensor_shape(x);
    const int64_t B = s->bf ? xs[0] : xs[1], H = s->H, LD = s->L * s->D;
    strata_tensor *h0 = c->n_inputs > 1 ? c->inputs[1] : NULL;
    strata_tensor *c0 = s->cell == CELL_LSTM && c->n_inputs > 2 ? c->inputs[2] : NULL;
    const int ns = rnn_n_state(s->cell), n_out = s->cell == CELL_LSTM ? 4 : s->cell == CELL_GRU ? 3 : 2;
    const char *op = s->cell == CELL_LSTM ? "lstm::lstm_seq" : s->cell == CELL_GRU ? "lstm::gru_seq" : "lstm::rnn_seq";
    strata_tensor *zeros = NULL, *cur = h->tensor_retain(x);
    rnn_list hn = {0}, cn = {0}, tmp = {0};
    strata_status rc = STRATA_OK;
    if ((!h0 || (s->cell == CELL_LSTM && !c0)) &&
        (rc = h->tensor_zeros(h->tensor_device(x), STRATA_F32, 2, (const int64_t[]){B, H}, &zeros)))
        goto done;
    for (int64_t l = 0; l < s->L; l++) {
        strata_tensor *ydir[2] = {NULL, NULL};
        for (int64_t d = 0; d < s->D && !rc; d++) {
            const int64_t k = l * s->D + d;
            strata_tensor *const *p = s->p[k];
            strata_tensor *hk = NULL, *ck = NULL;
            if ((rc = state_in(c, h0, k, B, H, zeros, &hk)) || (rc = rnn_list_push(h, &tmp, hk)))
                break;
            if (ns == 2 && ((rc = state_in(c, c0, k, B, H, zeros, &ck)) || (rc = rnn_list_push(h, &tmp, ck))))
                break;
            strata_tensor *in[7];
            int n_in = 0;
            in[n_in++] = cur, in[n_in++] = p[0], in[n_in++] = p[1], in[n_in++] = hk;
            if (ns == 2)
                in[n_in++] = ck;
            if (s->has_bias)
                in[n_in++] = p[2], in[n_in++] = p[3];
            strata_attr at[3] = {strata_attr_int("reverse", d), strata_attr_int("batch_first", s->bf),
                                 strata_attr_string("nonlinearity", s->relu ? "relu" : "tanh")};
            strata_tensor *out[4] = {NULL, NULL, NULL, NULL};
            if ((rc = h->op_call(rt, op, in, n_in, at, s->cell == CELL_RNN ? 3 : 2, out, n_out)))
                break;
            ydir[d] = out[0];
            strata_tensor *hr = NULL, *cr = NULL;
            rc = rnn_reshape(h, rt, out[1], 3, (const int64_t[]){B, 1, H}, &hr);
            if (!rc)
                rc = rnn_list_push(h, &hn, hr);
            if (!rc && ns == 2) {
                rc = rnn_reshape(h, rt, out[2], 3, (const int64_t[]){B, 1, H}, &cr);
                if (!rc)
                    rc = rnn_list_push(h, &cn, cr);
            }
            for (int j = 1; j < n_out; j++) /* the recorded node keeps the workspace for the backward */
                h->tensor_release(out[j]);
        }
        h->tensor_release(cur);
        cur = NULL;
        if (!rc)
            rc = rnn_concat(h, rt, ydir, (int)s->D, 2, &cur);
        h->tensor_release(ydir[0]);
        h->tensor_release(ydir[1]);
        if (rc)
            goto done;
        if (l + 1 < s->L && c->training && s->dropout > 0.0) {
            strata_attr a = strata_attr_float("p", s->dropout);
            strata_tensor *dout[2] = {NULL, NULL};
            if ((rc = h->op_call(rt, "core::dropout", &cur, 1, &a, 1, dout, 2)))
                goto done;
            h->tensor_release(cur);
            h->tensor_release(dout[1]);
            cur = dout[0];
        }
        rnn_list_free(h, &tmp);
    }
    if ((rc = rnn_concat(h, rt, hn.t, (int)LD, 1, &c->outputs[1])))
        goto done;
    if (ns == 2 && (rc = rnn_concat(h, rt, cn.t, (int)LD, 1, &c->outputs[2])))
        goto done;
    c->outputs[0] = cur;
    cur = NULL;
done:
    h->tensor_release(cur);
    h->tensor_release(zeros);
    rnn_list_free(h, &hn);
    rnn_list_free(h, &cn);
    rnn_list_free(h, &tmp);
    if (rc) {
        for (int k = 0; k < c->n_outputs; k++) {
            h->tensor_release(c->outputs[k]);
            c->outputs[k] = NULL;
        }
    }
    return rc;
}

#define NSPEC(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

static const strata_layer_type rnn_layer_types[] = {
    {.struct_size = sizeof(strata_layer_type),
     .name = "lstm",
     .attrs = lstm_spec,
     .n_attrs = NSPEC(lstm_spec),
     .min_inputs = 1,
     .max_inputs = 3,
     .n_outputs = 3,
     .create = lstm_create,
     .forward = rnn_forward_layer,
     .destroy = free_state,
     .doc = "LSTM (nn.LSTM): inputs x [, h0, c0]; outputs y, h_n, c_n; states batch-first (B, L D, H)"},
    {.struct_size = sizeof(strata_layer_type),
     .name = "gru",
     .attrs = lstm_spec,
     .n_attrs = NSPEC(lstm_spec),
     .min_inputs = 1,
     .max_inputs = 2,
     .n_outputs = 2,
     .create = gru_create,
     .forward = rnn_forward_layer,
     .destroy = free_state,
     .doc = "GRU (nn.GRU): inputs x [, h0]; outputs y, h_n; states batch-first (B, L D, H)"},
    {.struct_size = sizeof(strata_layer_type),
     .name = "rnn",
     .attrs = rnn_spec,
     .n_attrs = NSPEC(rnn_spec),
     .min_inputs = 1,
     .max_inputs = 2,
     .n_outputs = 2,
     .create = rnn_create_fn,
     .forward = rnn_forward_layer,
     .destroy = free_state,
     .doc = "Elman RNN (nn.RNN), tanh or relu: inputs x [, h0]; outputs y, h_n; states batch-first (B, L D, H)"},
};

strata_status lstm_register_layers(const strata_host_api *h, strata_plugin *p)
{
    for (size_t k = 0; k < sizeof rnn_layer_types / sizeof rnn_layer_types[0]; k++) {
        strata_status rc = h->register_layer(p, &rnn_layer_types[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
