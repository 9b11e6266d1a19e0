/* rnn_common.c - attributes, shape checks, the composite definition and the
 * GEMM half of the backward, shared by the lstm plugin's sequence ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_internal.h"

/* ---- attributes and shapes ------------------------------------------------ */

strata_status rnn_read_attrs(const strata_host_api *h, const char *op, const strata_attr *attrs, int n, int cell,
                             rnn_geom *g)
{
    g->cell = cell;
    g->G = rnn_gates(cell);
    int64_t rev = strata_attr_get_int(attrs, n, "reverse", 0);
    int64_t bf = strata_attr_get_int(attrs, n, "batch_first", 0);
    if ((rev != 0 && rev != 1) || (bf != 0 && bf != 1))
        return h->set_error(STRATA_E_INVALID, "%s: reverse and batch_first must be 0 or 1, got %lld and %lld", op,
                            (long long)rev, (long long)bf);
    g->reverse = (int)rev;
    g->bf = (int)bf;
    g->relu = 0;
    if (cell == CELL_RNN) {
        const strata_attr *a = strata_attr_find(attrs, n, "nonlinearity");
        if (a) {
            if (a->kind != STRATA_ATTR_STRING || !a->s || (strcmp(a->s, "tanh") && strcmp(a->s, "relu")))
                return h->set_error(STRATA_E_INVALID, "%s: nonlinearity must be \"tanh\" or \"relu\", got %s%s%s", op,
                                    a->kind == STRATA_ATTR_STRING && a->s ? "\"" : "",
                                    a->kind == STRATA_ATTR_STRING && a->s ? a->s : "a non-string",
                                    a->kind == STRATA_ATTR_STRING && a->s ? "\"" : "");
            g->relu = !strcmp(a->s, "relu");
        }
    }
    return STRATA_OK;
}

const char *rnn_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int k = 0; k < ndim && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, k ? ", %lld" : "%lld", (long long)shape[k]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
    return buf;
}

strata_status rnn_need_shape(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int k,
                             const char *what, int ndim, int64_t s0, int64_t s1, int64_t s2)
{
    const strata_tensor_desc *d = &in[k];
    int64_t want[3] = {s0, s1, s2};
    char a[96], b[96];
    if (d->dtype != STRATA_F32)
        return h->set_error(STRATA_E_DTYPE, "%s: %s (input %d) must be f32, got %s", op, what, k,
                            strata_dtype_name(d->dtype));
    int ok = d->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = d->shape[i] == want[i];
    if (!ok)
        return h->set_error(STRATA_E_SHAPE, "%s: %s (input %d) must have shape %s, got %s", op, what, k,
                            rnn_shape_str(a, sizeof a, ndim, want), rnn_shape_str(b, sizeof b, d->ndim, d->shape));
    return STRATA_OK;
}

strata_status rnn_need_positive(const strata_host_api *h, const char *op, const strata_tensor_desc *dy,
                                const rnn_geom *g)
{
    char s[96];
    if (g->T < 1 || g->B < 1 || g->H < 1)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: dy (input 0) %s has sequence length %lld, batch %lld, hidden size %lld; all must be "
                            "positive",
                            op, rnn_shape_str(s, sizeof s, dy->ndim, dy->shape), (long long)g->T, (long long)g->B,
                            (long long)g->H);
    return STRATA_OK;
}

strata_status rnn_geom_forward(const strata_host_api *h, const char *op, int cell, const strata_tensor_desc *in,
                               int n_in, const strata_attr *attrs, int n_attrs, rnn_geom *g)
{
    strata_status rc = rnn_read_attrs(h, op, attrs, n_attrs, cell, g);
    if (rc)
        return rc;
    int ns = rnn_n_state(cell);
    if (n_in != 3 + ns && n_in != 5 + ns)
        return h->set_error(STRATA_E_INVALID,
                            "%s takes x, w_ih, w_hh, %s and optionally both b_ih and b_hh (%d or %d inputs), got %d",
                            op, ns == 2 ? "h0, c0" : "h0", 3 + ns, 5 + ns, n_in);
    g->has_bias = n_in == 5 + ns;
    const strata_tensor_desc *x = &in[0], *wih = &in[1];
    char s[96];
    if (x->dtype != STRATA_F32 || x->ndim != 3)
        return h->set_error(x->dtype != STRATA_F32 ? STRATA_E_DTYPE : STRATA_E_SHAPE,
                            "%s: x (input 0) must be f32 %s, got %s %s", op, g->bf ? "(B, T, I)" : "(T, B, I)",
                            strata_dtype_name(x->dtype), rnn_shape_str(s, sizeof s, x->ndim, x->shape));
    g->T = g->bf ? x->shape[1] : x->shape[0];
    g->B = g->bf ? x->shape[0] : x->shape[1];
    g->I = x->shape[2];
    if (g->T < 1 || g->B < 1 || g->I < 1)
        return h->set_error(
            STRATA_E_SHAPE, "%s: x %s has sequence length %lld, batch %lld, input size %lld; all must be positive", op,
            rnn_shape_str(s, sizeof s, x->ndim, x->shape), (long long)g->T, (long long)g->B, (long long)g->I);
    if (wih->dtype != STRATA_F32 || wih->ndim != 2 || wih->shape[0] % g->G || wih->shape[0] < g->G)
        return h->set_error(STRATA_E_SHAPE, "%s: w_ih (input 1) must be f32 (%lld H, I) with H >= 1, got shape %s",
                            op,
                            (long long)g->G, rnn_shape_str(s, sizeof s, wih->ndim, wih->shape));
    g->H = wih->shape[0] / g->G;
    const int64_t GH = g->G * g->H;
    if ((rc = rnn_need_shape(h, op, in, 1, "w_ih (G H, I)", 2, GH, g->I, 0)) ||
        (rc = rnn_need_shape(h, op, in, 2, "w_hh (G H, H)", 2, GH, g->H, 0)) ||
        (rc = rnn_need_shape(h, op, in, 3, "h0 (B, H)", 2, g->B, g->H, 0)) ||
        (ns == 2 && (rc = rnn_need_shape(h, op, in, 4, "c0 (B, H)", 2, g->B, g->H, 0))))
        return rc;
    if (g->has_bias && ((rc = rnn_need_shape(h, op, in, 3 + ns, "b_ih (G H)", 1, GH, 0, 0)) ||
                        (rc = rnn_need_shape(h, op, in, 4 + ns, "b_hh (G H)", 1, GH, 0, 0))))
        return rc;
    return STRATA_OK;
}

void rnn_desc(strata_tensor_desc *d, int ndim, int64_t s0, int64_t s1, int64_t s2)
{
    d->dtype = STRATA_F32;
    d->ndim = ndim;
    d->shape[0] = s0;
    d->shape[1] = s1;
    d->shape[2] = s2;
}

void rnn_desc_seq(strata_tensor_desc *d, const rnn_geom *g, int64_t C)
{
    rnn_desc(d, 3, g->bf ? g->B : g->T, g->bf ? g->T : g->B, C);
}

void *rnn_scratch(const strata_host_api *h, const char *op, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        h->set_error(STRATA_E_NOMEM, "%s: out of memory for %zu bytes of scratch", op, bytes);
    return p;
}

/* ---- op-call helpers --------------------------------------------------------- */

strata_status rnn_list_push(const strata_host_api *h, rnn_list *l, strata_tensor *t)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        strata_tensor **p = realloc(l->t, sizeof *p * (size_t)cap);
        if (!p) {
            h->tensor_release(t);
            return h->set_error(STRATA_E_NOMEM, "lstm: out of memory: %zu bytes for a tensor list",
                                sizeof *p * (size_t)cap);
        }
        l->t = p;
        l->cap = cap;
    }
    l->t[l->n++] = t;
    return STRATA_OK;
}

void rnn_list_free(const strata_host_api *h, rnn_list *l)
{
    for (int k = 0; k < l->n; k++)
        h->tensor_release(l->t[k]);
    free(l->t);
    memset(l, 0, sizeof *l);
}

strata_status rnn_op1(const strata_host_api *h, strata_runtime *rt, const char *op, strata_tensor *const *in, int n_in,
                      const strata_attr *attrs, int n_attrs, strata_tensor **out)
{
    *out = NULL;
    return h->op_call(rt, op, in, n_in, attrs, n_attrs, out, 1);
}

/* The core passes at most 64 tensors per call; 32 per concat keeps clear of it. */
#define RNN_CONCAT_GROUP 32

strata_status rnn_concat(const strata_host_api *h, strata_runtime *rt, strata_tensor *const *ts, int n, int axis,
                         strata_tensor **out)
{
    strata_attr a = strata_attr_int("axis", axis);
    if (n == 1) {
        *out = h->tensor_retain(ts[0]);
        return STRATA_OK;
    }
    if (n <= RNN_CONCAT_GROUP)
        return rnn_op1(h, rt, "core::concat", ts, n, &a, 1, out);
    rnn_list parts = {0};
    strata_status rc = STRATA_OK;
    for (int k = 0; k < n && !rc; k += RNN_CONCAT_GROUP) {
        int m = n - k < RNN_CONCAT_GROUP ? n - k : RNN_CONCAT_GROUP;
        strata_tensor *p = NULL;
        rc = rnn_concat(h, rt, ts + k, m, axis, &p);
        if (!rc)
            rc = rnn_list_push(h, &parts, p);
    }
    if (!rc)
        rc = rnn_concat(h, rt, parts.t, parts.n, axis, out);
    rnn_list_free(h, &parts);
    return rc;
}

strata_status rnn_slice(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int axis, int64_t start,
                        int64_t end, strata_tensor **out)
{
    strata_attr a[3] = {strata_attr_int("axis", axis), strata_attr_int("start", start), strata_attr_int("end", end)};
    return rnn_op1(h, rt, "core::slice", &t, 1, a, 3, out);
}

strata_status rnn_reshape(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int ndim,
                          const int64_t *shape, strata_tensor **out)
{
    strata_attr a = strata_attr_ints("shape", shape, ndim);
    return rnn_op1(h, rt, "core::reshape", &t, 1, &a, 1, out);
}

/* ---- the composite ------------------------------------------------------------ */

/* Scratch of one composite step: every intermediate goes in @p tmp. */
#define TMP(expr)                                                                                                      \
    do {                                                                                                               \
        strata_tensor *t_ = NULL;                                                                                      \
        if ((rc = (expr)) || (rc = rnn_list_push(h, &tmp, t_)))                                                        \
            goto done;                                                                                                 \
        last = t_;                                                                                                     \
    } while (0)
#define OP1(name, ...)                                                                                                 \
    rnn_op1(h, rt, name, (strata_tensor *[]){__VA_ARGS__},                                                             \
            (int)(sizeof((strata_tensor *[]){__VA_ARGS__}) / sizeof(strata_tensor *)), NULL, 0, &t_)
#define GATE(src, k) rnn_slice(h, rt, src, 1, (k)*H, ((k) + 1) * H, &t_)

strata_status rnn_composite(const strata_composite_call *c, int cell)
{
    const strata_host_api *h = c->host;
    strata_runtime *rt = c->rt;
    strata_tensor_desc d[8];
    for (int k = 0; k < c->n_inputs && k < 8; k++) {
        memset(&d[k], 0, sizeof d[k]);
        d[k].struct_size = sizeof d[k];
        strata_status rc = h->tensor_desc(c->inputs[k], &d[k]);
        if (rc)
            return rc;
    }
    rnn_geom g;
    strata_status rc = rnn_geom_forward(h, c->op, cell, d, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    const int ns = rnn_n_state(cell);
    const int64_t H = g.H, B = g.B, GH = g.G * g.H;
    const int ta = g.bf ? 1 : 0; /* the time axis */
    strata_tensor *x = c->inputs[0], *w_ih = c->inputs[1], *w_hh = c->inputs[2];
    strata_tensor *b_ih = g.has_bias ? c->inputs[3 + ns] : NULL, *b_hh = g.has_bias ? c->inputs[4 + ns] : NULL;
    rnn_list tmp = {0};
    strata_tensor *last = NULL;
    strata_tensor **ys = calloc((size_t)g.T, sizeof *ys), **wss = calloc((size_t)g.T, sizeof *wss);
    strata_tensor *hcur = h->tensor_retain(c->inputs[3]);
    strata_tensor *ccur = cell == CELL_LSTM ? h->tensor_retain(c->inputs[4]) : NULL;
    strata_tensor *gx = NULL;
    if (!ys || !wss) {
        rc = h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for the step lists", c->op,
                          2 * sizeof *ys * (size_t)g.T);
        goto done;
    }
    {
        strata_tensor *lin[3] = {x, w_ih, b_ih};
        if ((rc = rnn_op1(h, rt, "core::linear", lin, b_ih ? 3 : 2, NULL, 0, &gx))) /* (layout, G H) */
            goto done;
    }
    const int64_t step_shape[3] = {g.bf ? B : 1, g.bf ? 1 : B, 0};
    for (int64_t s = 0; s < g.T; s++) {
        int64_t t = rnn_t(&g, s);
        strata_tensor *gxt, *gh, *hnew, *cnew = NULL, *ws = NULL;
        TMP(rnn_slice(h, rt, gx, ta, t, t + 1, &t_));
        TMP(rnn_reshape(h, rt, last, 2, (const int64_t[]){B, GH}, &t_));
        gxt = last;
        {
            strata_tensor *lin[3] = {hcur, w_hh, b_hh};
            TMP(rnn_op1(h, rt, "core::linear", lin, b_hh ? 3 : 2, NULL, 0, &t_)); /* (B, G H) */
            gh = last;
        }
        if (cell == CELL_LSTM) {
            strata_tensor *a, *gi, *gf, *gg, *go;
            TMP(OP1("core::add", gxt, gh));
            a = last;
            TMP(GATE(a, 0));
            TMP(OP1("core::sigmoid", last));
            gi = last;
            TMP(GATE(a, 1));
            TMP(OP1("core::sigmoid", last));
            gf = last;
            TMP(GATE(a, 2));
            TMP(OP1("core::tanh", last));
            gg = last;
            TMP(GATE(a, 3));
            TMP(OP1("core::sigmoid", last));
            go = last;
            strata_tensor *fc, *ig;
            TMP(OP1("core::mul", gf, ccur));
            fc = last;
            TMP(OP1("core::mul", gi, gg));
            ig = last;
            TMP(OP1("core::add", fc, ig));
            cnew = last;
            TMP(OP1("core::tanh", cnew));
            TMP(OP1("core::mul", go, last));
            hnew = last;
            strata_tensor *parts[5] = {gi, gf, gg, go, cnew};
            TMP(rnn_concat(h, rt, parts, 5, 1, &t_));
            ws = last;
        } else if (cell == CELL_GRU) {
            strata_tensor *r, *z, *n, *ghn;
            TMP(GATE(gxt, 0));
            strata_tensor *xr = last;
            TMP(GATE(gh, 0));
            TMP(OP1("core::add", xr, last));
            TMP(OP1("core::sigmoid", last));
            r = last;
            TMP(GATE(gxt, 1));
            strata_tensor *xz = last;
            TMP(GATE(gh, 1));
            TMP(OP1("core::add", xz, last));
            TMP(OP1("core::sigmoid", last));
            z = last;
            TMP(GATE(gh, 2));
            ghn = last;
            TMP(OP1("core::mul", r, ghn));
            strata_tensor *rh = last;
            TMP(GATE(gxt, 2));
            TMP(OP1("core::add", last, rh));
            TMP(OP1("core::tanh", last));
            n = last;
            /* h' = (1 - z) n + z h = n + z (h - n) */
            TMP(OP1("core::sub", hcur, n));
            TMP(OP1("core::mul", z, last));
            TMP(OP1("core::add", n, last));
            hnew = last;
            strata_tensor *parts[4] = {r, z, n, ghn};
            TMP(rnn_concat(h, rt, parts, 4, 1, &t_));
            ws = last;
        } else {
            TMP(OP1("core::add", gxt, gh));
            TMP(OP1(g.relu ? "core::relu" : "core::tanh", last));
            hnew = last;
        }
        int64_t sh[3] = {step_shape[0], step_shape[1], H};
        if ((rc = rnn_reshape(h, rt, hnew, 3, sh, &ys[t])))
            goto done;
        if (ws) {
            sh[2] = h->tensor_shape(ws)[1];
            if ((rc = rnn_reshape(h, rt, ws, 3, sh, &wss[t])))
                goto done;
        }
        h->tensor_release(hcur);
        hcur = h->tensor_retain(hnew);
        if (cnew) {
            h->tensor_release(ccur);
            ccur = h->tensor_retain(cnew);
        }
        rnn_list_free(h, &tmp);
    }
    /* outputs: y, h_n [, c_n] [, ws] */
    if ((rc = rnn_concat(h, rt, ys, (int)g.T, ta, &c->outputs[0])))
        goto done;
    c->outputs[1] = h->tensor_retain(hcur);
    int k = 2;
    if (cell == CELL_LSTM)
        c->outputs[k++] = h->tensor_retain(ccur);
    if (cell != CELL_RNN && (rc = rnn_concat(h, rt, wss, (int)g.T, ta, &c->outputs[k])))
        goto done;
done:
    (void)last;
    rnn_list_free(h, &tmp);
    for (int64_t t = 0; ys && t < g.T; t++)
        h->tensor_release(ys[t]);
    for (int64_t t = 0; wss && t < g.T; t++)
        h->tensor_release(wss[t]);
    free(ys);
    free(wss);
    h->tensor_release(hcur);
    h->tensor_release(ccur);
    h->tensor_release(gx);
    if (rc) {
        for (int j = 0; j < c->n_outputs; j++) {
            h->tensor_release(c->outputs[j]);
            c->outputs[j] = NULL;
        }
    }
    return rc;
}

/* ---- the backward's GEMMs --------------------------------------------------------- */

strata_status rnn_zeros_like(const strata_backward_call *c, strata_tensor *like, strata_tensor **out)
{
    const strata_host_api *h = c->host;
    return h->tensor_zeros(h->tensor_device(like), STRATA_F32, h->tensor_ndim(like), h->tensor_shape(like), out);
}

/* new reference: t viewed as (rows, cols) */
static strata_status as_2d(const strata_backward_call *c, strata_tensor *t, int64_t rows, int64_t cols,
                           strata_tensor **out)
{
    return rnn_reshape(c->host, c->rt, t, 2, (const int64_t[]){rows, cols}, out);
}

/* out = a^T b over rows: a (R, M), b (R, N) -> (M, N). (A transposed copy
 * of a and a plain product was tried: the product ran twice as fast on
 * oneDNN at W3's shapes, but core::copy of the transposed view cost as much
 * as it saved.) */
static strata_status gemm_tn(const strata_backward_call *c, strata_tensor *a, strata_tensor *b, strata_tensor **out)
{
    strata_attr at = strata_attr_int("trans_a", 1);
    strata_tensor *in[2] = {a, b};
    return rnn_op1(c->host, c->rt, "core::matmul", in, 2, &at, 1, out);
}

static strata_status sum_rows(const strata_backward_call *c, strata_tensor *a2d, strata_tensor **out)
{
    strata_attr at = strata_attr_ints("axes", (const int64_t[]){0}, 1);
    return rnn_op1(c->host, c->rt, "core::sum", &a2d, 1, &at, 1, out);
}

strata_status rnn_backward_gemms(const strata_backward_call *c, const rnn_geom *g, strata_tensor *dgi,
                                 strata_tensor *dgh)
{
    const strata_host_api *h = c->host;
    strata_runtime *rt = c->rt;
    const int ns = rnn_n_state(g->cell);
    const int64_t R = g->T * g->B, GH = g->G * g->H;
    const int ta = g->bf ? 1 : 0;
    strata_tensor *dgi2 = NULL, *dgh2 = NULL, *x2 = NULL, *hprev = NULL, *hprev2 = NULL, *h0e = NULL, *ys = NULL;
    strata_status rc;
    if ((rc = as_2d(c, dgi, R, GH, &dgi2)) || (rc = as_2d(c, dgh, R, GH, &dgh2)))
        goto done;
    if (c->needs_grad[0]) { /* dx = dgi w_ih */
        strata_tensor *in[2] = {dgi2, c->inputs[1]}, *dx2 = NULL;
        if ((rc = rnn_op1(h, rt, "core::matmul", in, 2, NULL, 0, &dx2)))
            goto done;
        rc = rnn_reshape(h, rt, dx2, h->tensor_ndim(c->inputs[0]), h->tensor_shape(c->inputs[0]), &c->grad_inputs[0]);
        h->tensor_release(dx2);
        if (rc)
            goto done;
    }
    if (c->needs_grad[1]) { /* dw_ih = dgi^T x */
        if ((rc = as_2d(c, c->inputs[0], R, g->I, &x2)) || (rc = gemm_tn(c, dgi2, x2, &c->grad_inputs[1])))
            goto done;
    }
    if (c->needs_grad[2]) { /* dw_hh = dgh^T hprev */
        int64_t sh[3] = {g->bf ? g->B : 1, g->bf ? 1 : g->B, g->H};
        if ((rc = rnn_reshape(h, rt, c->inputs[3], 3, sh, &h0e)))
            goto done;
        if (g->T == 1) {
            hprev = h->tensor_retain(h0e);
        } else {
            if ((rc = rnn_slice(h, rt, c->outputs[0], ta, g->reverse ? 1 : 0, g->reverse ? g->T : g->T - 1, &ys)))
                goto done;
            strata_tensor *parts[2] = {g->reverse ? ys : h0e, g->reverse ? h0e : ys};
            if ((rc = rnn_concat(h, rt, parts, 2, ta, &hprev)))
                goto done;
        }
        if ((rc = as_2d(c, hprev, R, g->H, &hprev2)) || (rc = gemm_tn(c, dgh2, hprev2, &c->grad_inputs[2])))
            goto done;
    }
    if (g->has_bias && c->needs_grad[3 + ns] && (rc = sum_rows(c, dgi2, &c->grad_inputs[3 + ns])))
        goto done;
    if (g->has_bias && c->needs_grad[4 + ns]) {
        if (dgh == dgi && c->grad_inputs[3 + ns])
            c->grad_inputs[4 + ns] = h->tensor_retain(c->grad_inputs[3 + ns]);
        else
            rc = sum_rows(c, dgh2, &c->grad_inputs[4 + ns]);
    }
done:
    h->tensor_release(dgi2);
    h->tensor_release(dgh2);
    h->tensor_release(x2);
    h->tensor_release(hprev);
    h->tensor_release(hprev2);
    h->tensor_release(h0e);
    h->tensor_release(ys);
    return rc;
}

/* ---- shared op plumbing -------------------------------------------------------- */

strata_status rnn_infer_seq(const strata_infer_call *c, int cell, int64_t ws_mult)
{
    rnn_geom g;
    strata_status rc =
        rnn_geom_forward(rnn_host(c->user), c->op, cell, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    int k = 0;
    rnn_desc_seq(&c->outputs[k++], &g, g.H);
    for (int s = 0; s < rnn_n_state(cell); s++)
        rnn_desc(&c->outputs[k++], 2, g.B, g.H, 0);
    if (ws_mult)
        rnn_desc_seq(&c->outputs[k], &g, ws_mult * g.H);
    return STRATA_OK;
}

strata_status rnn_backward_seq(const strata_backward_call *c, int cell, const char *bptt, strata_tensor *const *extra,
                               int n_extra, int n_out, int separate_dgh)
{
    const strata_host_api *h = c->host;
    const int ns = rnn_n_state(cell), n_gy = 1 + ns;
    strata_tensor_desc d[7];
    for (int k = 0; k < c->n_inputs; k++) {
        memset(&d[k], 0, sizeof d[k]);
        d[k].struct_size = sizeof d[k];
        h->tensor_desc(c->inputs[k], &d[k]);
    }
    rnn_geom g;
    strata_status rc = rnn_geom_forward(h, c->op, cell, d, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    strata_tensor *z[3] = {NULL, NULL, NULL}, *out[3] = {NULL, NULL, NULL};
    strata_tensor *in[6];
    for (int k = 0; k < n_gy; k++) {
        in[k] = c->grad_outputs[k];
        if (!in[k]) {
            if ((rc = rnn_zeros_like(c, c->outputs[k], &z[k])))
                goto done;
            in[k] = z[k];
        }
    }
    for (int k = 0; k < n_extra; k++)
        in[n_gy + k] = extra[k];
    if ((rc = h->op_call(c->rt, bptt, in, n_gy + n_extra, c->attrs, c->n_attrs, out, n_out)))
        goto done;
    if ((rc = rnn_backward_gemms(c, &g, out[0], out[separate_dgh ? 1 : 0])))
        goto done;
    for (int s = 0; s < ns; s++)
        if (c->needs_grad[3 + s])
            c->grad_inputs[3 + s] = h->tensor_retain(out[n_out - ns + s]);
done:
    for (int k = 0; k < 3; k++) {
        h->tensor_release(z[k]);
        h->tensor_release(out[k]);
    }
    return rc;
}

strata_status rnn_register_seq(const strata_host_api *h, strata_plugin *p, const strata_op_def *fwd,
                               const strata_op_def *bwd, const char *unfused_name, const char *unfused_doc)
{
    strata_op_def defs[3] = {*fwd, *bwd, *fwd};
    defs[2].name = unfused_name;
    defs[2].doc = unfused_doc;
    defs[2].backward = NULL;
    defs[2].host_kernel = NULL;
    for (int k = 0; k < 3; k++) {
        defs[k].struct_size = sizeof(strata_op_def);
        defs[k].version = 1;
        defs[k].user = (void *)(uintptr_t)h;
        strata_status rc = h->register_op(p, &defs[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
