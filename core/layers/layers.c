/* layers.c - the built-in layer types, registered through the same
 * strata_layer_type ABI a plugin uses and written only against the host
 * table, so they double as examples for plugin authors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* ---- helpers ------------------------------------------------------------- */

static strata_status same_shape_out(const strata_layer_create_call *c)
{
    c->outputs[0] = c->inputs[0];
    return STRATA_OK;
}

static strata_status need_float_input(const strata_layer_create_call *c)
{
    if (c->inputs[0].dtype != STRATA_F32)
        return c->host->set_error(STRATA_E_DTYPE, "layer '%s' expects f32 input, got %s",
                                  c->host->layer_name(c->layer), strata_dtype_name(c->inputs[0].dtype));
    return STRATA_OK;
}

/* forward = one op on input 0 with fixed attrs */
static strata_status unary_forward(const strata_layer_forward_call *c, const char *op, const strata_attr *a, int na)
{
    return c->host->op_call(c->rt, op, c->inputs, 1, a, na, c->outputs, 1);
}

/* ---- linear -------------------------------------------------------------- */

static const strata_attr_spec linear_attrs[] = {
    {sizeof(strata_attr_spec), "in_features", STRATA_ATTR_INT, 0, -1, 0, NULL, "input size (inferred when -1)"},
    {sizeof(strata_attr_spec), "out_features", STRATA_ATTR_INT, 1, 0, 0, NULL, "output size"},
    {sizeof(strata_attr_spec), "bias", STRATA_ATTR_INT, 0, 1, 0, NULL, "add a learned bias (1) or not (0)"},
};

typedef struct {
    strata_tensor *w, *b; /* borrowed from the model */
} linear_state;

static strata_status linear_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    strata_status rc = need_float_input(c);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0];
    int64_t in_f = strata_attr_get_int(c->attrs, c->n_attrs, "in_features", -1);
    int64_t out_f = strata_attr_get_int(c->attrs, c->n_attrs, "out_features", 0);
    int64_t bias = strata_attr_get_int(c->attrs, c->n_attrs, "bias", 1);
    if (bias != 0 && bias != 1)
        return h->set_error(STRATA_E_INVALID, "layer '%s' (linear): bias must be 0 or 1, got %lld",
                            h->layer_name(c->layer), (long long)bias);
    if (x->ndim < 1)
        return h->set_error(STRATA_E_SHAPE, "layer '%s' (linear): input must have a feature dimension",
                            h->layer_name(c->layer));
    int64_t have = x->shape[x->ndim - 1];
    if (in_f < -1)
        return h->set_error(STRATA_E_INVALID, "layer '%s' (linear): in_features is the input's feature count, or -1 "
                                              "to take it from the input; got %lld",
                            h->layer_name(c->layer), (long long)in_f);
    if (in_f >= 0 && in_f != have)
        return h->set_error(STRATA_E_SHAPE,
                            "layer '%s' (linear): in_features is %lld but the input has %lld features "
                            "(per-example shape of rank %d)",
                            h->layer_name(c->layer), (long long)in_f, (long long)have, x->ndim);
    if (out_f <= 0)
        return h->set_error(STRATA_E_INVALID, "layer '%s' (linear): out_features must be positive, got %lld",
                            h->layer_name(c->layer), (long long)out_f);
    linear_state *s = st_calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM; /* st_calloc said how much */
    *c->state = s;
    int64_t ws[2] = {out_f, have}, bs[1] = {out_f};
    /* PyTorch's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias the same bound */
    double bound = have > 0 ? 1.0 / sqrt((double)have) : 0.0;
    if ((rc = h->layer_add_param(c->layer, "weight", STRATA_F32, 2, ws, &s->w)) ||
        (rc = h->init_uniform(s->w, -bound, bound)))
        return rc;
    if (bias && ((rc = h->layer_add_param(c->layer, "bias", STRATA_F32, 1, bs, &s->b)) ||
                 (rc = h->init_uniform(s->b, -bound, bound))))
        return rc;
    c->outputs[0] = *x;
    c->outputs[0].shape[x->ndim - 1] = out_f;
    return STRATA_OK;
}

static strata_status linear_forward(const strata_layer_forward_call *c)
{
    linear_state *s = c->state;
    strata_tensor *in[3] = {c->inputs[0], s->w, s->b};
    return c->host->op_call(c->rt, "core::linear", in, s->b ? 3 : 2, NULL, 0, c->outputs, 1);
}

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

/* ---- flatten ------------------------------------------------------------- */

static const strata_attr_spec flatten_attrs[] = {
    {sizeof(strata_attr_spec), "start_dim", STRATA_ATTR_INT, 0, 1, 0, NULL, "first dim to flatten (batch is 0)"},
    {sizeof(strata_attr_spec), "end_dim", STRATA_ATTR_INT, 0, -1, 0, NULL, "last dim to flatten"},
};

static strata_status flatten_create(const strata_layer_create_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    int full = x->ndim + 1; /* with the batch dimension */
    int64_t s = strata_attr_get_int(c->attrs, c->n_attrs, "start_dim", 1);
    int64_t e = strata_attr_get_int(c->attrs, c->n_attrs, "end_dim", -1);
    if (s < 0)
        s += full;
    if (e < 0)
        e += full;
    const int64_t s_given = strata_attr_get_int(c->attrs, c->n_attrs, "start_dim", 1);
    if (s == 0) /* nn.Flatten(0, ...) merges the batch: a layer's output keeps it first */
        return c->host->set_error(STRATA_E_INVALID,
                                  "layer '%s' (flatten): start_dim %lld is the batch dimension, which every layer's "
                                  "output keeps first; flatten from dim 1 (the default)",
                                  c->host->layer_name(c->layer), (long long)s_given);
    if (s < 1 || e >= full || s > e)
        return c->host->set_error(STRATA_E_INVALID,
                                  "layer '%s' (flatten): start_dim %lld and end_dim %lld select no dims of an input "
                                  "of rank %d with the batch (dims count the batch as 0)",
                                  c->host->layer_name(c->layer), (long long)s_given,
                                  (long long)strata_attr_get_int(c->attrs, c->n_attrs, "end_dim", -1), full);
    strata_tensor_desc *o = &c->outputs[0];
    *o = *x;
    int n = 0;
    for (int k = 1; k < full; k++) {
        if (k < s || k > e) {
            o->shape[n++] = x->shape[k - 1];
        } else if (k == s) {
            int64_t p = 1;
            for (int j = (int)s; j <= e; j++)
                if (__builtin_mul_overflow(p, x->shape[j - 1], &p))
                    return c->host->set_error(STRATA_E_SHAPE, "layer '%s' (flatten): the flattened size overflows "
                                                              "int64",
                                              c->host->layer_name(c->layer));
            o->shape[n++] = p;
        }
    }
    o->ndim = n;
    strata_tensor_desc *keep = st_malloc(sizeof *keep);
    if (!keep)
        return STRATA_E_NOMEM; /* st_malloc said how much */
    *keep = *o;
    *c->state = keep;
    return STRATA_OK;
}

static strata_status flatten_forward(const strata_layer_forward_call *c)
{
    /* target = (batch, the per-example output shape recorded at create) */
    const strata_host_api *h = c->host;
    const strata_tensor_desc *o = c->state;
    int64_t shape[STRATA_MAX_DIMS];
    shape[0] = h->tensor_shape(c->inputs[0])[0];
    memcpy(shape + 1, o->shape, sizeof(int64_t) * (size_t)o->ndim);
    strata_attr a = strata_attr_ints("shape", shape, o->ndim + 1);
    return h->op_call(c->rt, "core::reshape", c->inputs, 1, &a, 1, c->outputs, 1);
}

/* ---- activations ---------------------------------------------------------- */

static strata_status act_create(const strata_layer_create_call *c)
{
    strata_status rc = need_float_input(c);
    return rc ? rc : same_shape_out(c);
}

#define ACT_FORWARD(NAME, OP)                                                                                  \
    static strata_status NAME##_forward(const strata_layer_forward_call *c)                                    \
    {                                                                                                          \
        return unary_forward(c, OP, NULL, 0);                                                                  \
    }
ACT_FORWARD(relu, "core::relu")
ACT_FORWARD(sigmoid, "core::sigmoid")
ACT_FORWARD(tanh, "core::tanh")
ACT_FORWARD(gelu, "core::gelu")

static const strata_attr_spec leaky_attrs[] = {
    {sizeof(strata_attr_spec), "negative_slope", STRATA_ATTR_FLOAT, 0, 0, 0.01, NULL, "slope for x < 0"},
};

typedef struct {
    double value;
} scalar_state;

static strata_status scalar_create(const strata_layer_create_call *c, const char *attr, double dflt)
{
    strata_status rc = act_create(c);
    if (rc)
        return rc;
    scalar_state *s = st_calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM; /* st_malloc said how much */
    s->value = strata_attr_get_float(c->attrs, c->n_attrs, attr, dflt);
    if (!isfinite(s->value)) {
        const double bad = s->value;
        free(s);
        return c->host->set_error(STRATA_E_INVALID, "layer '%s': %s must be a finite number, got %g",
                                  c->host->layer_name(c->layer), attr, bad);
    }
    *c->state = s;
    return STRATA_OK;
}

static strata_status leaky_create(const strata_layer_create_call *c)
{
    return scalar_create(c, "negative_slope", 0.01);
}

static strata_status leaky_forward(const strata_layer_forward_call *c)
{
    strata_attr a = strata_attr_float("alpha", ((scalar_state *)c->state)->value);
    return unary_forward(c, "core::leaky_relu", &a, 1);
}

/* ---- dropout ------------------------------------------------------------- */

static const strata_attr_spec dropout_attrs[] = {
    {sizeof(strata_attr_spec), "p", STRATA_ATTR_FLOAT, 0, 0, 0.5, NULL, "probability of zeroing an element"},
};

static strata_status dropout_create(const strata_layer_create_call *c)
{
    double p = strata_attr_get_float(c->attrs, c->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p <= 1.0))
        return c->host->set_error(STRATA_E_INVALID, "layer '%s' (dropout): p must be in [0, 1], got %g",
                                  c->host->layer_name(c->layer), p);
    return scalar_create(c, "p", 0.5);
}

static strata_status dropout_forward(const strata_layer_forward_call *c)
{
    double p = ((scalar_state *)c->state)->value;
    if (!c->training || p == 0.0) {
        c->outputs[0] = c->host->tensor_retain(c->inputs[0]);
        return STRATA_OK;
    }
    if (p == 1.0) { /* everything dropped: x * 0, as PyTorch (NaN and Inf give NaN; the gradient is 0) */
        strata_attr zero = strata_attr_float("alpha", 0.0);
        return c->host->op_call(c->rt, "core::scale", c->inputs, 1, &zero, 1, c->outputs, 1);
    }
    strata_attr a = strata_attr_float("p", p);
    strata_tensor *out[2] = {NULL, NULL};
    strata_status rc = c->host->op_call(c->rt, "core::dropout", c->inputs, 1, &a, 1, out, 2);
    if (rc)
        return rc;
    c->host->tensor_release(out[1]); /* the recorded node keeps the mask alive */
    c->outputs[0] = out[0];
    return STRATA_OK;
}

/* ---- embedding ----------------------------------------------------------- */

static const strata_attr_spec embedding_attrs[] = {
    {sizeof(strata_attr_spec), "num_embeddings", STRATA_ATTR_INT, 1, 0, 0, NULL, "vocabulary size"},
    {sizeof(strata_attr_spec), "embedding_dim", STRATA_ATTR_INT, 1, 0, 0, NULL, "vector size"},
    {sizeof(strata_attr_spec), "padding_idx", STRATA_ATTR_INT, 0, -1, 0, NULL,
     "a row that starts at zero and gets no gradient (-1: none)"},
};

typedef struct {
    strata_tensor *weight;
    int64_t padding_idx; /* -1: none */
} embedding_state;

/* Row @p p of the (v, d) weight @p w set to zero, as nn.Embedding starts its padding row. */
static strata_status zero_weight_row(const strata_host_api *h, strata_tensor *w, int64_t v, int64_t d, int64_t p)
{
    size_t bytes = sizeof(float) * (size_t)v * (size_t)d;
    float *host = st_malloc(bytes);
    if (!host)
        return STRATA_E_NOMEM;
    strata_status rc = h->tensor_read(w, host, bytes);
    if (!rc) {
        memset(host + p * d, 0, sizeof(float) * (size_t)d);
        rc = h->tensor_write(w, host, bytes);
    }
    free(host);
    return rc;
}

static strata_status embedding_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    int64_t v = strata_attr_get_int(c->attrs, c->n_attrs, "num_embeddings", 0);
    int64_t d = strata_attr_get_int(c->attrs, c->n_attrs, "embedding_dim", 0);
    if (v <= 0 || d <= 0)
        return h->set_error(STRATA_E_INVALID, "layer '%s' (embedding): num_embeddings (%lld) and embedding_dim "
                                              "(%lld) must be positive",
                            h->layer_name(c->layer), (long long)v, (long long)d);
    if (c->inputs[0].dtype != STRATA_I32 && c->inputs[0].dtype != STRATA_I64)
        return h->set_error(STRATA_E_DTYPE, "layer '%s' (embedding): input must be integer indices (i32/i64)",
                            h->layer_name(c->layer));
    if (c->inputs[0].ndim + 2 > STRATA_MAX_DIMS)
        return h->set_error(STRATA_E_SHAPE, "layer '%s' (embedding): input rank too large", h->layer_name(c->layer));
    int64_t pad = strata_attr_get_int(c->attrs, c->n_attrs, "padding_idx", -1);
    if (pad < -1 || pad >= v) /* PyTorch counts a negative one from the end; here -1 is none, so say so */
        return h->set_error(STRATA_E_INVALID, "layer '%s' (embedding): padding_idx %lld is not a row of %lld "
                                              "(0 to %lld, or -1 for none; PyTorch's padding_idx -k is row %lld - k)",
                            h->layer_name(c->layer), (long long)pad, (long long)v, (long long)v - 1, (long long)v);
    embedding_state *st = st_calloc(1, sizeof *st);
    if (!st)
        return STRATA_E_NOMEM; /* st_calloc said how much */
    *c->state = st;
    st->padding_idx = pad;
    int64_t ws[2] = {v, d};
    strata_status rc;
    /* PyTorch's default: N(0, 1), the padding row zero */
    if ((rc = h->layer_add_param(c->layer, "weight", STRATA_F32, 2, ws, &st->weight)) ||
        (rc = h->init_normal(st->weight, 0.0, 1.0)) ||
        (pad >= 0 && (rc = zero_weight_row(h, st->weight, v, d, pad))))
        return rc;
    strata_tensor_desc *o = &c->outputs[0];
    *o = c->inputs[0];
    o->dtype = STRATA_F32;
    o->shape[o->ndim++] = d;
    return STRATA_OK;
}

static strata_status embedding_forward(const strata_layer_forward_call *c)
{
    const embedding_state *st = c->state;
    strata_tensor *in[2] = {st->weight, c->inputs[0]};
    strata_attr pad = strata_attr_int("padding_idx", st->padding_idx);
    return c->host->op_call(c->rt, "core::embedding", in, 2, &pad, st->padding_idx >= 0, c->outputs, 1);
}

/* ---- losses (two inputs: prediction and target) -------------------------- */

static const strata_attr_spec loss_attrs[] = {
    {sizeof(strata_attr_spec), "reduction", STRATA_ATTR_STRING, 0, 0, 0, "mean", "mean, sum or none"},
};

static strata_status loss_create(const strata_layer_create_call *c)
{
    const strata_attr *r = strata_attr_find(c->attrs, c->n_attrs, "reduction");
    const char *red = r && r->s ? r->s : "mean";
    if (strcmp(red, "mean") && strcmp(red, "sum") && strcmp(red, "none"))
        return c->host->set_error(STRATA_E_INVALID, "layer '%s': reduction '%s' is not mean, sum or none",
                                  c->host->layer_name(c->layer), red);
    strata_tensor_desc *o = &c->outputs[0];
    *o = c->inputs[0];
    o->dtype = STRATA_F32;
    if (strcmp(red, "none") != 0)
        o->ndim = -1; /* unbatched scalar */
    else if (c->inputs[1].dtype != STRATA_F32) /* cross-entropy: per example */
        o->ndim = 0;
    char *copy = st_calloc(1, 8);
    if (!copy)
        return STRATA_E_NOMEM; /* st_malloc said how much */
    strcpy(copy, red);
    *c->state = copy;
    return STRATA_OK;
}

/* cross_entropy: logits and integer class labels, known when the model is built */
static strata_status ce_create(const strata_layer_create_call *c)
{
    const int32_t t = c->inputs[1].dtype;
    if (t != STRATA_I32 && t != STRATA_I64)
        return c->host->set_error(STRATA_E_DTYPE, "layer '%s' (cross_entropy): its second input holds class labels "
                                                  "(i32 or i64), got %s",
                                  c->host->layer_name(c->layer), strata_dtype_name(t));
    return loss_create(c);
}

/* mse, bce_with_logits: a prediction and a target of the same f32 shape */
static strata_status pair_loss_create(const strata_layer_create_call *c)
{
    const strata_tensor_desc *a = &c->inputs[0], *b = &c->inputs[1];
    if (a->dtype != STRATA_F32 || b->dtype != STRATA_F32 || a->ndim != b->ndim ||
        memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)(a->ndim > 0 ? a->ndim : 0))) {
        char sa[128], sb[128];
        return c->host->set_error(STRATA_E_SHAPE, "layer '%s': prediction %s %s and target %s %s must be f32 of one "
                                                  "shape (per example)",
                                  c->host->layer_name(c->layer), strata_dtype_name(a->dtype),
                                  st_shape_str(sa, sizeof sa, a->ndim, a->shape), strata_dtype_name(b->dtype),
                                  st_shape_str(sb, sizeof sb, b->ndim, b->shape));
    }
    return loss_create(c);
}

#define LOSS_FORWARD(NAME, OP)                                                                                 \
    static strata_status NAME##_forward(const strata_layer_forward_call *c)                                    \
    {                                                                                                          \
        strata_attr a = strata_attr_string("reduction", (const char *)c->state);                              \
        return c->host->op_call(c->rt, OP, c->inputs, 2, &a, 1, c->outputs, 1);                                \
    }
LOSS_FORWARD(ce, "core::cross_entropy")
LOSS_FORWARD(mse, "core::mse")
LOSS_FORWARD(bce, "core::bce_with_logits")

/* ---- table --------------------------------------------------------------- */

#define LAYER(NAME, ATTRS, NATTRS, MINI, MAXI, CREATE, FORWARD, DESTROY, DOC)                                   \
    {                                                                                                          \
        .struct_size = sizeof(strata_layer_type), .name = NAME, .attrs = ATTRS, .n_attrs = NATTRS,             \
        .min_inputs = MINI, .max_inputs = MAXI, .n_outputs = 1, .create = CREATE, .forward = FORWARD,          \
        .destroy = DESTROY, .doc = DOC                                                                         \
    }

static const strata_layer_type core_layers[] = {
    LAYER("linear", linear_attrs, 3, 1, 1, linear_create, linear_forward, free_state, "y = x W^T + b (nn.Linear)"),
    LAYER("flatten", flatten_attrs, 2, 1, 1, flatten_create, flatten_forward, free_state,
          "flattens all dims after the batch (nn.Flatten)"),
    LAYER("relu", NULL, 0, 1, 1, act_create, relu_forward, NULL, "max(x, 0)"),
    LAYER("leaky_relu", leaky_attrs, 1, 1, 1, leaky_create, leaky_forward, free_state, "x > 0 ? x : slope x"),
    LAYER("sigmoid", NULL, 0, 1, 1, act_create, sigmoid_forward, NULL, "logistic function"),
    LAYER("tanh", NULL, 0, 1, 1, act_create, tanh_forward, NULL, "hyperbolic tangent"),
    LAYER("gelu", NULL, 0, 1, 1, act_create, gelu_forward, NULL, "Gaussian error linear unit (exact)"),
    LAYER("dropout", dropout_attrs, 1, 1, 1, dropout_create, dropout_forward, free_state,
          "inverted dropout in training, identity in eval"),
    LAYER("embedding", embedding_attrs, 3, 1, 1, embedding_create, embedding_forward, free_state,
          "lookup table (nn.Embedding)"),
    LAYER("cross_entropy", loss_attrs, 1, 2, 2, ce_create, ce_forward, free_state,
          "softmax cross-entropy: inputs (logits, integer labels)"),
    LAYER("mse", loss_attrs, 1, 2, 2, pair_loss_create, mse_forward, free_state,
          "mean squared error: (prediction, target)"),
    LAYER("bce_with_logits", loss_attrs, 1, 2, 2, pair_loss_create, bce_forward, free_state,
          "binary cross-entropy on logits: (logits, target)"),
};

strata_status st_register_core_layers(st_plugin *p)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(core_layers); k++) {
        strata_status rc = st_register_layer(p, &core_layers[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
