/*
 * encode.c - memnet::encode, the sentence embedding of a memory network, and
 * its backward:
 *
 *   memnet::encode           E (V, d), x (..., J) int [, T (M, d)] -> y (..., d)
 *       y[r] = sum_j l_j * E[x[r, j]]  (+ T[m] for the rows of memory slot m)
 *   memnet::encode_backward  dy (..., d), x (..., J) int -> dE (V, d)
 *       dE[v] = sum over (r, j) with x[r, j] = v of l_j * dy[r]
 *
 * attrs: encoding "position" or "position_paper" (l_j the position
 * encoding, a vector of d weights per word slot; mn_word_weights) or "bow"
 * (l_j = 1); padding_idx
 * (0; -1 for none): words equal to it contribute nothing (the "nil" word
 * that pads sentences and empty memory slots); encode_backward also takes
 * num_embeddings = V. With T, x has rank >= 2 and x's second-to-last
 * dimension is the M memory slots: T is the temporal encoding of each slot,
 * added only to the slots that hold a word (an empty slot, all padding,
 * encodes to zero: it holds nothing, not even a time).
 *
 *   memnet::slot_mask  x (..., J) int -> m (..., 1): 1 where the row holds a
 *       word other than padding_idx, else 0 (num_embeddings: the composite's
 *       one_hot width)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memnet_internal.h"

#define SHP(buf, d) mn_shape_str(buf, sizeof buf, (d)->ndim, (d)->shape)

const char *mn_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && at < n; k++)
        at += (size_t)snprintf(buf + at, n - at, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (at < n)
        snprintf(buf + at, n - at, ndim == 1 ? ",)" : ")");
    return buf;
}

strata_status mn_reshape(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int ndim,
                         const int64_t *shape, strata_tensor **out)
{
    strata_attr a = strata_attr_ints("shape", shape, ndim);
    return mn_op(h, rt, "core::reshape", &t, 1, &a, 1, out);
}

static const char *const mn_encodings[] = {"bow", "position", "position_paper"};

const char *mn_encoding_name(int enc)
{
    return mn_encodings[enc];
}

void mn_word_weights(float *w, int64_t J, int64_t d, int enc)
{
    for (int64_t j = 1; j <= J; j++)
        for (int64_t k = 1; k <= d; k++) {
            const double jd = (double)j, kd = (double)k;
            double l = 1.0;
            if (enc == MN_ENC_POSITION)
                l = 1.0 + 4.0 * (jd - (double)(J + 1) / 2.0) * (kd - (double)(d + 1) / 2.0) / (double)(J * d);
            else if (enc == MN_ENC_POSITION_PAPER)
                l = (1.0 - jd / (double)J) - (kd / (double)d) * (1.0 - 2.0 * jd / (double)J);
            w[(j - 1) * d + (k - 1)] = (float)l;
        }
}

strata_status mn_read_encoding(const strata_host_api *h, const char *what, const strata_attr *attrs, int n,
                               int *enc)
{
    const strata_attr *a = strata_attr_find(attrs, n, "encoding");
    const char *v = a && a->kind == STRATA_ATTR_STRING && a->s ? a->s : "position";
    for (int i = 0; i < (int)(sizeof mn_encodings / sizeof *mn_encodings); i++)
        if (!strcmp(v, mn_encodings[i])) {
            *enc = i;
            return STRATA_OK;
        }
    return h->set_error(STRATA_E_INVALID,
                        "%s: encoding must be \"position\", \"position_paper\" or \"bow\", got \"%s\"", what, v);
}

/* Sizes and attributes of one call. */
typedef struct enc_geom {
    int64_t V, d, J, R, M; /* R rows of J words; M slots (0: no temporal encoding) */
    int64_t pad;
    int enc; /* MN_ENC_* */
} enc_geom;

static int is_index(int32_t dtype)
{
    return dtype == STRATA_I64 || dtype == STRATA_I32;
}

static inline int64_t index_at(const strata_tensor_desc *x, int64_t i)
{
    const void *p = strata_desc_ptr(x);
    return x->dtype == STRATA_I64 ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

/* Validates x (input @p xi) and the attrs; V from @p V (> 0). */
static strata_status geom_of(const strata_host_api *h, const char *op, const strata_tensor_desc *x, int64_t V,
                             int64_t d, const strata_attr *attrs, int n_attrs, enc_geom *g)
{
    char s[96];
    strata_status rc = mn_read_encoding(h, op, attrs, n_attrs, &g->enc);
    if (rc)
        return rc;
    if (!is_index(x->dtype) || x->ndim < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: x must be an i32 or i64 tensor (..., J) of word ids, got dtype %d %s",
                            op, (int)x->dtype, SHP(s, x));
    g->V = V, g->d = d, g->J = x->shape[x->ndim - 1], g->M = 0;
    g->R = 1;
    for (int k = 0; k + 1 < x->ndim; k++)
        g->R *= x->shape[k];
    g->pad = strata_attr_get_int(attrs, n_attrs, "padding_idx", 0);
    if (g->pad < -1 || g->pad >= V)
        return h->set_error(STRATA_E_INVALID, "%s: padding_idx must be -1 (none) or in [0, %lld), got %lld", op,
                            (long long)V, (long long)g->pad);
    if (g->J < 1 || d < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: x %s needs at least one word slot and d >= 1 (d = %lld)", op,
                            SHP(s, x), (long long)d);
    return STRATA_OK;
}

/* Forward geometry: E (V, d), x, [T (M, d)]. */
static strata_status geom_forward(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                                  const strata_attr *attrs, int n_attrs, enc_geom *g)
{
    char s[96], s2[96];
    const strata_tensor_desc *E = &in[0], *x = &in[1];
    if (E->dtype != STRATA_F32 || E->ndim != 2 || E->shape[0] < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: E (input 0) must be an f32 embedding matrix (V, d), got %s", op,
                            SHP(s, E));
    strata_status rc = geom_of(h, op, x, E->shape[0], E->shape[1], attrs, n_attrs, g);
    if (rc || n_in < 3)
        return rc;
    const strata_tensor_desc *T = &in[2];
    if (T->dtype != STRATA_F32 || T->ndim != 2 || T->shape[1] != g->d || x->ndim < 2 ||
        x->shape[x->ndim - 2] != T->shape[0])
        return h->set_error(STRATA_E_SHAPE,
                            "%s: T (input 2) must be f32 (M, d) with d = %lld and x (..., M, J), got T %s and x %s",
                            op, (long long)g->d, SHP(s, T), SHP(s2, x));
    g->M = T->shape[0];
    return STRATA_OK;
}

static strata_status infer_encode(const strata_infer_call *c)
{
    enc_geom g;
    strata_status rc = geom_forward(mn_host(c->user), c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[1];
    strata_tensor_desc *y = &c->outputs[0];
    y->dtype = STRATA_F32;
    y->ndim = x->ndim;
    memcpy(y->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    y->shape[x->ndim - 1] = g.d;
    return STRATA_OK;
}

/* The word weights (J d) of @p g, or NULL with an E_NOMEM message. */
static float *weights_of(const strata_host_api *h, const char *op, const enc_geom *g)
{
    float *w = malloc(sizeof(float) * (size_t)(g->J * g->d));
    if (!w)
        h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for %lld word weights", op,
                     sizeof(float) * (size_t)(g->J * g->d), (long long)(g->J * g->d));
    else
        mn_word_weights(w, g->J, g->d, g->enc);
    return w;
}

/* 1 when word id @p v is the padding (never when @p pad is -1: no padding,
 * so -1 is an id out of range like any other). */
static int is_pad(int64_t v, int64_t pad)
{
    return pad >= 0 && v == pad;
}

/* 1 when row @p r of x (J words) holds a word other than @p pad. */
static int row_has_word(const strata_tensor_desc *x, int64_t r, int64_t J, int64_t pad)
{
    for (int64_t j = 0; j < J; j++)
        if (!is_pad(index_at(x, r * J + j), pad))
            return 1;
    return 0;
}

/* The first word of x outside [0, V) (padding aside): its flat index, or -1. */
static int64_t bad_word(const strata_tensor_desc *x, const enc_geom *g)
{
    for (int64_t i = 0; i < g->R * g->J; i++) {
        int64_t v = index_at(x, i);
        if ((v < 0 || v >= g->V) && !is_pad(v, g->pad))
            return i;
    }
    return -1;
}

static strata_status word_error(const strata_host_api *h, const char *op, const strata_tensor_desc *x,
                                const enc_geom *g, int64_t i)
{
    return h->set_error(STRATA_E_INVALID, "%s: word id %lld at flat position %lld of x is outside the vocabulary [0, %lld)",
                        op, (long long)index_at(x, i), (long long)i, (long long)g->V);
}

static strata_status kernel_encode(const strata_kernel_call *c)
{
    const strata_host_api *h = mn_host(c->user);
    enc_geom g;
    strata_status rc = geom_forward(h, c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[1];
    int64_t bad = bad_word(x, &g);
    if (bad >= 0)
        return word_error(h, c->op, x, &g, bad);
    float *w = weights_of(h, c->op, &g);
    if (!w)
        return STRATA_E_NOMEM;
    const float *E = strata_desc_ptr(&c->inputs[0]);
    const float *T = g.M ? strata_desc_ptr(&c->inputs[2]) : NULL;
    float *y = strata_desc_ptr(&c->outputs[0]);
    const int64_t d = g.d;
    for (int64_t r = 0; r < g.R; r++) {
        float *restrict yr = y + r * d;
        if (T && row_has_word(x, r, g.J, g.pad))
            memcpy(yr, T + (r % g.M) * d, sizeof(float) * (size_t)d);
        else
            memset(yr, 0, sizeof(float) * (size_t)d);
        for (int64_t j = 0; j < g.J; j++) {
            int64_t v = index_at(x, r * g.J + j);
            if (is_pad(v, g.pad))
                continue;
            const float *restrict e = E + v * d, *restrict wj = w + j * d;
            for (int64_t k = 0; k < d; k++)
                yr[k] += wj[k] * e[k];
        }
    }
    free(w);
    return STRATA_OK;
}

/* ---- backward ------------------------------------------------------------ */

/* dy (..., d), x (..., J); V from attr num_embeddings. */
static strata_status geom_backward(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                   const strata_attr *attrs, int n_attrs, enc_geom *g)
{
    char s[96], s2[96];
    const strata_tensor_desc *dy = &in[0], *x = &in[1];
    int64_t V = strata_attr_get_int(attrs, n_attrs, "num_embeddings", 0);
    if (V < 1)
        return h->set_error(STRATA_E_INVALID, "%s: num_embeddings must be given and positive, got %lld", op,
                            (long long)V);
    if (dy->dtype != STRATA_F32 || dy->ndim != x->ndim || dy->ndim < 1 ||
        memcmp(dy->shape, x->shape, sizeof(int64_t) * (size_t)(x->ndim - 1)))
        return h->set_error(STRATA_E_SHAPE, "%s: dy must be f32 (..., d) with x's leading dimensions, got dy %s, x %s",
                            op, SHP(s, dy), SHP(s2, x));
    return geom_of(h, op, x, V, dy->shape[dy->ndim - 1], attrs, n_attrs, g);
}

static strata_status infer_encode_backward(const strata_infer_call *c)
{
    enc_geom g;
    strata_status rc = geom_backward(mn_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    strata_tensor_desc *dE = &c->outputs[0];
    dE->dtype = STRATA_F32;
    dE->ndim = 2;
    dE->shape[0] = g.V, dE->shape[1] = g.d;
    return STRATA_OK;
}

static strata_status kernel_encode_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = mn_host(c->user);
    enc_geom g;
    strata_status rc = geom_backward(h, c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[1];
    int64_t bad = bad_word(x, &g);
    if (bad >= 0)
        return word_error(h, c->op, x, &g, bad);
    const int64_t d = g.d;
    float *w = weights_of(h, c->op, &g);
    double *acc = calloc((size_t)(g.V * d), sizeof(double));
    if (!w || !acc) {
        free(w);
        free(acc);
        return w ? h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for a (%lld, %lld) gradient", c->op,
                                sizeof(double) * (size_t)(g.V * d), (long long)g.V, (long long)d)
                 : STRATA_E_NOMEM;
    }
    const float *dy = strata_desc_ptr(&c->inputs[0]);
    for (int64_t r = 0; r < g.R; r++) {
        const float *dr = dy + r * d;
        for (int64_t j = 0; j < g.J; j++) {
            int64_t v = index_at(x, r * g.J + j);
            if (is_pad(v, g.pad))
                continue;
            double *a = acc + v * d;
            const float *wj = w + j * d;
            for (int64_t k = 0; k < d; k++)
                a[k] += (double)wj[k] * dr[k];
        }
    }
    float *dE = strata_desc_ptr(&c->outputs[0]);
    for (int64_t i = 0; i < g.V * d; i++)
        dE[i] = (float)acc[i];
    free(w);
    free(acc);
    return STRATA_OK;
}

/* ---- composites: the definition, with core ops ---------------------------- */

static strata_status slot_mask(const strata_host_api *h, strata_runtime *rt, strata_tensor *x, const enc_geom *g,
                               strata_tensor **out);

/* t (..., J, d) times the word weights and, with padding, the mask of real
 * words (from one_hot of x, which needs no comparison op). New reference. */
static strata_status weigh_words(const strata_host_api *h, strata_runtime *rt, const char *op, strata_tensor *t,
                                 strata_tensor *x, const enc_geom *g, strata_tensor **out)
{
    *out = NULL;
    float *w = weights_of(h, op, g);
    if (!w)
        return STRATA_E_NOMEM;
    strata_tensor *wt = NULL, *oh = NULL, *pad = NULL, *keep = NULL, *y = NULL;
    strata_status rc = h->tensor_from_host(h->tensor_device(t), STRATA_F32, 2, (const int64_t[]){g->J, g->d}, w, &wt);
    free(w);
    if (!rc)
        rc = mn_op(h, rt, "core::mul", (strata_tensor *[]){t, wt}, 2, NULL, 0, &y);
    if (!rc && g->pad >= 0) {
        strata_attr c1 = strata_attr_int("num_classes", g->V);
        strata_attr sl[3] = {strata_attr_int("axis", -1), strata_attr_int("start", g->pad),
                             strata_attr_int("end", g->pad + 1)};
        strata_attr sc[2] = {strata_attr_float("alpha", -1.0), strata_attr_float("beta", 1.0)};
        strata_tensor *masked = NULL;
        if (!(rc = mn_op(h, rt, "core::one_hot", &x, 1, &c1, 1, &oh)) &&
            !(rc = mn_op(h, rt, "core::slice", &oh, 1, sl, 3, &pad)) &&
            !(rc = mn_op(h, rt, "core::scale", &pad, 1, sc, 2, &keep)) &&
            !(rc = mn_op(h, rt, "core::mul", (strata_tensor *[]){y, keep}, 2, NULL, 0, &masked))) {
            h->tensor_release(y);
            y = masked;
        }
    }
    h->tensor_release(wt);
    h->tensor_release(oh);
    h->tensor_release(pad);
    h->tensor_release(keep);
    if (rc)
        h->tensor_release(y);
    else
        *out = y;
    return rc;
}

static strata_status descs_of(const strata_host_api *h, strata_tensor *const *ts, int n, strata_tensor_desc *d)
{
    for (int k = 0; k < n; k++) {
        d[k].struct_size = sizeof d[k];
        strata_status rc = h->tensor_desc(ts[k], &d[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}

static strata_status composite_encode(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    strata_tensor_desc d[3];
    enc_geom g;
    strata_status rc = descs_of(h, c->inputs, c->n_inputs, d);
    if (!rc)
        rc = geom_forward(h, c->op, d, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    strata_tensor *emb = NULL, *wd = NULL, *s = NULL;
    strata_attr ax = strata_attr_ints("axes", (const int64_t[]){-2}, 1);
    if (!(rc = mn_op(h, c->rt, "core::embedding", (strata_tensor *[]){c->inputs[0], c->inputs[1]}, 2, NULL, 0, &emb)) &&
        !(rc = weigh_words(h, c->rt, c->op, emb, c->inputs[1], &g, &wd)) &&
        !(rc = mn_op(h, c->rt, "core::sum", &wd, 1, &ax, 1, &s))) {
        strata_tensor *mask = NULL, *t = NULL;
        if (g.M && !(rc = slot_mask(h, c->rt, c->inputs[1], &g, &mask)) &&
            !(rc = mn_op(h, c->rt, "core::mul", (strata_tensor *[]){mask, c->inputs[2]}, 2, NULL, 0, &t)))
            rc = mn_op(h, c->rt, "core::add", (strata_tensor *[]){s, t}, 2, NULL, 0, &c->outputs[0]);
        else if (!g.M)
            c->outputs[0] = h->tensor_retain(s);
        h->tensor_release(mask);
        h->tensor_release(t);
    }
    h->tensor_release(emb);
    h->tensor_release(wd);
    h->tensor_release(s);
    return rc;
}

static strata_status composite_encode_backward(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    strata_tensor_desc d[2];
    enc_geom g;
    strata_status rc = descs_of(h, c->inputs, 2, d);
    if (!rc)
        rc = geom_backward(h, c->op, d, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    if (d[0].ndim + 1 > STRATA_MAX_DIMS)
        return h->set_error(STRATA_E_SHAPE, "%s: dy has too many dimensions (%d)", c->op, (int)d[0].ndim);
    int64_t shp[STRATA_MAX_DIMS];
    memcpy(shp, d[0].shape, sizeof(int64_t) * (size_t)d[0].ndim);
    shp[d[0].ndim - 1] = 1, shp[d[0].ndim] = g.d; /* (..., 1, d) */
    strata_tensor *dy1 = NULL, *wd = NULL;
    strata_attr V = strata_attr_int("num_embeddings", g.V);
    if (!(rc = mn_reshape(h, c->rt, c->inputs[0], d[0].ndim + 1, shp, &dy1)) &&
        !(rc = weigh_words(h, c->rt, c->op, dy1, c->inputs[1], &g, &wd)))
        rc = mn_op(h, c->rt, "core::embedding_backward", (strata_tensor *[]){wd, c->inputs[1]}, 2, &V, 1,
                   &c->outputs[0]);
    h->tensor_release(dy1);
    h->tensor_release(wd);
    return rc;
}

/* ---- slot_mask ------------------------------------------------------------ */

static strata_status geom_mask(const strata_host_api *h, const char *op, const strata_tensor_desc *x,
                               const strata_attr *attrs, int n_attrs, enc_geom *g)
{
    int64_t V = strata_attr_get_int(attrs, n_attrs, "num_embeddings", 0);
    if (V < 1)
        return h->set_error(STRATA_E_INVALID, "%s: num_embeddings must be given and positive, got %lld", op,
                            (long long)V);
    return geom_of(h, op, x, V, 1, attrs, n_attrs, g);
}

static strata_status infer_slot_mask(const strata_infer_call *c)
{
    enc_geom g;
    strata_status rc = geom_mask(mn_host(c->user), c->op, &c->inputs[0], c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    strata_tensor_desc *y = &c->outputs[0];
    y->dtype = STRATA_F32;
    y->ndim = c->inputs[0].ndim;
    memcpy(y->shape, c->inputs[0].shape, sizeof(int64_t) * (size_t)y->ndim);
    y->shape[y->ndim - 1] = 1;
    return STRATA_OK;
}

static strata_status kernel_slot_mask(const strata_kernel_call *c)
{
    enc_geom g;
    strata_status rc = geom_mask(mn_host(c->user), c->op, &c->inputs[0], c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    float *y = strata_desc_ptr(&c->outputs[0]);
    for (int64_t r = 0; r < g.R; r++)
        y[r] = g.pad < 0 || row_has_word(&c->inputs[0], r, g.J, g.pad) ? 1.0f : 0.0f;
    return STRATA_OK;
}

/* m (..., 1) = max over the J words of "not padding" (from one_hot of x). */
static strata_status slot_mask(const strata_host_api *h, strata_runtime *rt, strata_tensor *x, const enc_geom *g,
                               strata_tensor **out)
{
    const int64_t *xs = h->tensor_shape(x);
    const int nd = h->tensor_ndim(x);
    *out = NULL;
    if (g->pad < 0) {
        int64_t shp[STRATA_MAX_DIMS];
        memcpy(shp, xs, sizeof(int64_t) * (size_t)nd);
        shp[nd - 1] = 1;
        strata_attr at[2] = {strata_attr_ints("shape", shp, nd), strata_attr_float("value", 1.0)};
        return h->op_create(h->tensor_device(x), "core::fill", at, 2, out);
    }
    strata_attr c1 = strata_attr_int("num_classes", g->V);
    strata_attr sl[3] = {strata_attr_int("axis", -1), strata_attr_int("start", g->pad),
                         strata_attr_int("end", g->pad + 1)};
    strata_attr sc[2] = {strata_attr_float("alpha", -1.0), strata_attr_float("beta", 1.0)};
    strata_attr mx = strata_attr_ints("axes", (const int64_t[]){-2}, 1);
    strata_tensor *oh = NULL, *pad = NULL, *real = NULL;
    strata_status rc;
    if (!(rc = mn_op(h, rt, "core::one_hot", &x, 1, &c1, 1, &oh)) &&
        !(rc = mn_op(h, rt, "core::slice", &oh, 1, sl, 3, &pad)) &&
        !(rc = mn_op(h, rt, "core::scale", &pad, 1, sc, 2, &real)))
        rc = mn_op(h, rt, "core::max", &real, 1, &mx, 1, out); /* (..., J, 1) -> (..., 1) */
    h->tensor_release(oh);
    h->tensor_release(pad);
    h->tensor_release(real);
    return rc;
}

static strata_status composite_slot_mask(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    strata_tensor_desc d[1];
    enc_geom g;
    strata_status rc = descs_of(h, c->inputs, 1, d);
    if (!rc)
        rc = geom_mask(h, c->op, d, c->attrs, c->n_attrs, &g);
    return rc ? rc : slot_mask(h, c->rt, c->inputs[0], &g, &c->outputs[0]);
}

/* dE by encode_backward, dT by summing dy (on the slots that hold words) down to (M, d). */
static strata_status backward_encode(const strata_backward_call *c)
{
    const strata_host_api *h = c->host;
    strata_tensor *dy = c->grad_outputs[0];
    if (!dy)
        return STRATA_OK;
    const int64_t *Es = h->tensor_shape(c->inputs[0]);
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0]) {
        strata_attr at[3] = {strata_attr_int("num_embeddings", Es[0]),
                             strata_attr_int("padding_idx", strata_attr_get_int(c->attrs, c->n_attrs, "padding_idx", 0)),
                             strata_attr_string("encoding", "position")};
        int enc = MN_ENC_POSITION;
        if ((rc = mn_read_encoding(h, c->op, c->attrs, c->n_attrs, &enc)))
            return rc;
        at[2].s = mn_encoding_name(enc);
        rc = mn_op(h, c->rt, "memnet::encode_backward", (strata_tensor *[]){dy, c->inputs[1]}, 2, at, 3,
                   &c->grad_inputs[0]);
    }
    if (!rc && c->n_inputs > 2 && c->needs_grad[2]) {
        strata_attr sh = strata_attr_ints("shape", h->tensor_shape(c->inputs[2]), 2);
        strata_attr at[2] = {strata_attr_int("padding_idx", strata_attr_get_int(c->attrs, c->n_attrs, "padding_idx", 0)),
                             strata_attr_int("num_embeddings", Es[0])};
        strata_tensor *mask = NULL, *dm = NULL;
        if (!(rc = mn_op(h, c->rt, "memnet::slot_mask", &c->inputs[1], 1, at, 2, &mask)) &&
            !(rc = mn_op(h, c->rt, "core::mul", (strata_tensor *[]){dy, mask}, 2, NULL, 0, &dm)))
            rc = mn_op(h, c->rt, "core::sum_to_shape", &dm, 1, &sh, 1, &c->grad_inputs[2]);
        h->tensor_release(mask);
        h->tensor_release(dm);
    }
    return rc;
}

/* The attributes each op takes (checked by the core on every call, ABI 1.4): encode's two, and the backward's and
 * the mask's num_embeddings (required) before them. */
#define MN_ATTR(NAME, KIND, REQ, I, S, DOC) {sizeof(strata_attr_spec), NAME, KIND, REQ, I, 0.0, S, DOC}
static const strata_attr_spec mn_attrs[3] = {
    MN_ATTR("num_embeddings", STRATA_ATTR_INT, 1, 8, NULL, "V, the rows of E (the backward's and the mask's)"),
    MN_ATTR("encoding", STRATA_ATTR_STRING, 0, 0, "position", "position, position_paper or bow"),
    MN_ATTR("padding_idx", STRATA_ATTR_INT, 0, 0, NULL, "the nil word, which adds nothing (-1: none)"),
};

strata_status memnet_register_encode(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def defs[2] = {
        {.struct_size = sizeof(strata_op_def),
         .name = "memnet::encode",
         .version = 1,
         .min_inputs = 2,
         .max_inputs = 3,
         .n_outputs = 1,
         .infer = infer_encode,
         .backward = backward_encode,
         .composite = composite_encode,
         .host_kernel = kernel_encode,
         .user = (void *)(uintptr_t)h,
         .doc = "sentence embedding: (E (V, d), x (..., J) int [, T (M, d)]) -> sum_j l_j E[x_j] (+ T[slot]); "
                "encoding position|position_paper|bow, padding_idx",
         .attrs = mn_attrs + 1,
         .n_attrs = 2},
        {.struct_size = sizeof(strata_op_def),
         .name = "memnet::encode_backward",
         .version = 1,
         .min_inputs = 2,
         .max_inputs = 2,
         .n_outputs = 1,
         .infer = infer_encode_backward,
         .composite = composite_encode_backward,
         .host_kernel = kernel_encode_backward,
         .user = (void *)(uintptr_t)h,
         .doc = "gradient of encode's E: (dy (..., d), x (..., J) int) -> dE (V, d); num_embeddings, encoding, "
                "padding_idx",
         .attrs = mn_attrs,
         .n_attrs = 3},
    };
    const strata_op_def mask = {.struct_size = sizeof(strata_op_def),
                                .name = "memnet::slot_mask",
                                .version = 1,
                                .min_inputs = 1,
                                .max_inputs = 1,
                                .n_outputs = 1,
                                .flags = STRATA_OP_NO_GRAD,
                                .infer = infer_slot_mask,
                                .composite = composite_slot_mask,
                                .host_kernel = kernel_slot_mask,
                                .user = (void *)(uintptr_t)h,
                                .doc = "(x (..., J) int) -> (..., 1): 1 where a row holds a word other than "
                                       "padding_idx; num_embeddings",
                                .attrs = mn_attrs,
                                .n_attrs = 3};
    strata_status rm = h->register_op(p, &mask);
    if (rm)
        return rm;
    /* the composite-only twins (tests: the definition the kernels match) */
    static const char *const twin[2] = {"memnet::encode_unfused", "memnet::encode_backward_unfused"};
    for (int k = 0; k < 4; k++) {
        strata_op_def d = defs[k % 2];
        if (k >= 2) {
            d.name = twin[k - 2];
            d.backward = NULL;
            d.host_kernel = NULL;
            d.doc = k == 2 ? "encode by its composite definition only (core ops, every backend)"
                           : "encode_backward by its composite definition only";
        }
        strata_status rc = h->register_op(p, &d);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
