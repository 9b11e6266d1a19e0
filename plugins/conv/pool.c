/*
 * pool.c - 2-D pooling over NCHW tensors, with host kernels:
 *
 *   conv::max_pool2d           x -> y, indices (i64)      kernel_size, stride (= kernel), padding
 *   conv::max_pool2d_backward  (dy, indices) -> dx         input_size [H, W]; optional: the
 *                                                          forward's kernel_size, stride, padding
 *   conv::avg_pool2d           x -> y                     kernel_size, stride, padding, count_include_pad (1)
 *   conv::avg_pool2d_backward  dy -> dx                   the same, plus input_size [H, W]
 *   conv::global_avg_pool2d    x (N, C, H, W) -> (N, C)
 *
 * Window (i, j) covers rows i sh - ph .. i sh - ph + KH - 1 (likewise
 * columns); taps in the padding are skipped by max (as -inf) and count as
 * zeros for avg when count_include_pad is set (PyTorch's default), so the
 * divisor is KH KW; otherwise it is the number of taps inside the input.
 * indices are flat positions h W + w in the (H, W) plane, the first maximum
 * in row-major window order winning ties, as PyTorch's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

typedef struct pool_geom {
    int64_t N, C, H, W; /* input */
    int64_t KH, KW, sh, sw, ph, pw;
    int64_t OH, OW;
    int count_include_pad;
} pool_geom;

/* kernel_size, stride (default: the kernel), padding (at most half the
 * kernel, as PyTorch requires), count_include_pad; H and W from @p H, @p W. */
static strata_status pool_geom_of(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                                  int64_t N, int64_t C, int64_t H, int64_t W, pool_geom *g)
{
    int64_t k[2], s[2], p[2];
    strata_status rc;
    static const char *const unsupported[] = {"dilation", "ceil_mode", "divisor_override", "return_indices"};
    for (size_t u = 0; u < sizeof unsupported / sizeof unsupported[0]; u++)
        if (strata_attr_find(attrs, n, unsupported[u]))
            return h->set_error(STRATA_E_INVALID, "%s: attribute '%s' is not supported (this op would ignore it)", op,
                                unsupported[u]);
    if (H < 1 || W < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: x (N, C, H, W) has an empty plane, H %lld and W %lld must be positive",
                            op, (long long)H, (long long)W);
    if ((rc = conv_attr_pair(h, op, attrs, n, "kernel_size", -1, k)) ||
        (rc = conv_attr_pair(h, op, attrs, n, "stride", -1, s)) ||
        (rc = conv_attr_pair(h, op, attrs, n, "padding", 0, p)))
        return rc;
    if (k[0] < 1 || k[1] < 1)
        return h->set_error(STRATA_E_INVALID, "%s: kernel_size must be given and positive, got (%lld, %lld)", op,
                            (long long)k[0], (long long)k[1]);
    const strata_attr *sa = strata_attr_find(attrs, n, "stride");
    if (!sa || (sa->kind == STRATA_ATTR_INTS && sa->n == 0))
        s[0] = k[0], s[1] = k[1];
    if (s[0] < 1 || s[1] < 1)
        return h->set_error(STRATA_E_INVALID, "%s: stride must be positive, got (%lld, %lld)", op, (long long)s[0],
                            (long long)s[1]);
    if (p[0] < 0 || p[1] < 0 || p[0] > k[0] / 2 || p[1] > k[1] / 2)
        return h->set_error(STRATA_E_INVALID,
                            "%s: padding (%lld, %lld) must be between 0 and half the kernel size (%lld, %lld)", op,
                            (long long)p[0], (long long)p[1], (long long)k[0], (long long)k[1]);
    g->N = N, g->C = C, g->H = H, g->W = W;
    g->KH = k[0], g->KW = k[1], g->sh = s[0], g->sw = s[1], g->ph = p[0], g->pw = p[1];
    g->count_include_pad = (int)strata_attr_get_int(attrs, n, "count_include_pad", 1) != 0;
    if ((rc = conv_out_len(h, op, "height", H, g->KH, g->sh, g->ph, 1, &g->OH)) ||
        (rc = conv_out_len(h, op, "width", W, g->KW, g->sw, g->pw, 1, &g->OW)))
        return rc;
    return STRATA_OK;
}

/* ======================================================================= */
/* Kernels                                                                  */
/* ======================================================================= */

/* Window (i, j) clipped to the input: rows [*h0, *h1), columns [*w0, *w1)
 * (the loops visit only these, however far a huge padding reaches). */
static void window_of(const pool_geom *g, int64_t i, int64_t j, int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1)
{
    int64_t a = i * g->sh - g->ph, b = j * g->sw - g->pw;
    *h1 = a + g->KH > g->H ? g->H : a + g->KH;
    *w1 = b + g->KW > g->W ? g->W : b + g->KW;
    *h0 = a < 0 ? 0 : a;
    *w0 = b < 0 ? 0 : b;
}

/* y, idx (N, C, OH, OW) = max and argmax of each window of x (N, C, H, W). */
static void max_pool2d_forward(float *y, int64_t *idx, const float *x, const pool_geom *g)
{
    for (int64_t nc = 0; nc < g->N * g->C; nc++) {
        const float *plane = x + nc * g->H * g->W;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++) {
                float best = -INFINITY;
                int64_t at = -1, h0, h1, w0, w1;
                window_of(g, i, j, &h0, &h1, &w0, &w1);
                for (int64_t ih = h0; ih < h1; ih++) {
                    for (int64_t iw = w0; iw < w1; iw++) {
                        float v = plane[ih * g->W + iw];
                        if (at < 0 || v > best || isnan(v)) { /* PyTorch's rule: the last NaN wins */
                            best = v;
                            at = ih * g->W + iw;
                        }
                    }
                }
                int64_t o = (nc * g->OH + i) * g->OW + j;
                y[o] = best;
                idx[o] = at;
            }
        }
    }
}

/* dx (N, C, H, W) = scatter-add of dy (N, C, OH, OW) to the positions in idx.
 * @p plane is scratch of H W doubles. Returns the flat output index of the
 * first out-of-range index, or -1. */
static int64_t max_pool2d_backward(float *dx, const float *dy, const int64_t *idx, int64_t NC, int64_t HW, int64_t P,
                                   double *plane)
{
    for (int64_t nc = 0; nc < NC; nc++) {
        for (int64_t q = 0; q < HW; q++)
            plane[q] = 0.0;
        for (int64_t p = 0; p < P; p++) {
            int64_t at = idx[nc * P + p];
            if (at < 0 || at >= HW)
                return nc * P + p;
            plane[at] += dy[nc * P + p];
        }
        for (int64_t q = 0; q < HW; q++)
            dx[nc * HW + q] = (float)plane[q];
    }
    return -1;
}

/* Taps of window (i, j) inside the input (for count_include_pad = 0). */
static int64_t window_count(const pool_geom *g, int64_t i, int64_t j)
{
    int64_t h0, h1, w0, w1;
    window_of(g, i, j, &h0, &h1, &w0, &w1);
    return h1 > h0 && w1 > w0 ? (h1 - h0) * (w1 - w0) : 0;
}

static double window_divisor(const pool_geom *g, int64_t i, int64_t j)
{
    return g->count_include_pad ? (double)g->KH * (double)g->KW : (double)window_count(g, i, j);
}

/* y (N, C, OH, OW) = mean of each window of x (N, C, H, W). */
static void avg_pool2d_forward(float *y, const float *x, const pool_geom *g)
{
    for (int64_t nc = 0; nc < g->N * g->C; nc++) {
        const float *plane = x + nc * g->H * g->W;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++) {
                double sum = 0.0;
                int64_t h0, h1, w0, w1;
                window_of(g, i, j, &h0, &h1, &w0, &w1);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        sum += plane[ih * g->W + iw];
                y[(nc * g->OH + i) * g->OW + j] = (float)(sum / window_divisor(g, i, j));
            }
        }
    }
}

/* dx (N, C, H, W): each dy[i, j] / divisor spread over its window. @p plane: H W doubles. */
static void avg_pool2d_backward(float *dx, const float *dy, const pool_geom *g, double *plane)
{
    for (int64_t nc = 0; nc < g->N * g->C; nc++) {
        for (int64_t q = 0; q < g->H * g->W; q++)
            plane[q] = 0.0;
        for (int64_t i = 0; i < g->OH; i++) {
            for (int64_t j = 0; j < g->OW; j++) {
                double v = dy[(nc * g->OH + i) * g->OW + j] / window_divisor(g, i, j);
                int64_t h0, h1, w0, w1;
                window_of(g, i, j, &h0, &h1, &w0, &w1);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        plane[ih * g->W + iw] += v;
            }
        }
        for (int64_t q = 0; q < g->H * g->W; q++)
            dx[nc * g->H * g->W + q] = (float)plane[q];
    }
}

/* y (N, C) = mean of each (H, W) plane of x (N, C, H, W). */
static void global_avg_pool2d_forward(float *y, const float *x, int64_t NC, int64_t HW)
{
    for (int64_t nc = 0; nc < NC; nc++) {
        double sum = 0.0;
        for (int64_t q = 0; q < HW; q++)
            sum += x[nc * HW + q];
        y[nc] = (float)(sum / (double)HW);
    }
}

/* ======================================================================= */
/* Ops                                                                      */
/* ======================================================================= */

/* The geometry of a pooling of @p x (N, C, H, W), from a kernel call's attrs. */
static strata_status pool_geom_x(const strata_kernel_call *c, const strata_tensor_desc *x, pool_geom *g)
{
    const int64_t *xs = x->shape;
    return pool_geom_of(conv_host(c->user), c->op, c->attrs, c->n_attrs, xs[0], xs[1], xs[2], xs[3], g);
}

/* Infers output 0 (N, C, OH, OW) f32 of a pooling of input 0, x (N, C, H, W). */
static strata_status infer_pool(const strata_infer_call *c, pool_geom *g)
{
    const int64_t *xs = c->inputs[0].shape;
    strata_status rc = conv_need_f32(c, 0, "x (N, C, H, W)", 4);
    if (!rc)
        rc = pool_geom_of(conv_host(c->user), c->op, c->attrs, c->n_attrs, xs[0], xs[1], xs[2], xs[3], g);
    if (!rc)
        conv_desc_4d(&c->outputs[0], STRATA_F32, g->N, g->C, g->OH, g->OW);
    return rc;
}

static strata_status check_dy(const strata_host_api *h, const char *op, const pool_geom *g, const int64_t *dys)
{
    if (dys[2] != g->OH || dys[3] != g->OW)
        return h->set_error(STRATA_E_SHAPE, "%s: dy has spatial size (%lld, %lld); pooling (%lld, %lld) gives (%lld, %lld)",
                            op, (long long)dys[2], (long long)dys[3], (long long)g->H, (long long)g->W,
                            (long long)g->OH, (long long)g->OW);
    return STRATA_OK;
}

/* ---- max ------------------------------------------------------------------ */

static strata_status infer_max_pool(const strata_infer_call *c)
{
    pool_geom g;
    strata_status rc = infer_pool(c, &g);
    if (rc)
        return rc;
    conv_desc_4d(&c->outputs[1], STRATA_I64, g.N, g.C, g.OH, g.OW);
    return STRATA_OK;
}

static strata_status kernel_max_pool(const strata_kernel_call *c)
{
    pool_geom g;
    strata_status rc = pool_geom_x(c, &c->inputs[0], &g);
    if (rc)
        return rc;
    max_pool2d_forward((float *)strata_desc_ptr(&c->outputs[0]), (int64_t *)strata_desc_ptr(&c->outputs[1]),
                       (const float *)strata_desc_ptr(&c->inputs[0]), &g);
    return STRATA_OK;
}

/* The forward's window attributes for its gradient op (kernel_size, stride,
 * padding, count_include_pad, those given), and input_size from @p size
 * (x's shape) unless NULL. */
static void pool_attrs(const strata_backward_call *c, conv_attrs *at, const int64_t *size)
{
    static const char *const names[] = {"kernel_size", "stride", "padding", "count_include_pad"};
    memset(at, 0, sizeof *at);
    for (int k = 0; k < 4; k++) {
        const strata_attr *a = strata_attr_find(c->attrs, c->n_attrs, names[k]);
        if (a)
            at->a[at->n++] = *a;
    }
    if (size)
        conv_attrs_pair(at, "input_size", size[2], size[3]);
}

/* The window geometry travels with the gradient: max_pool2d_backward is a
 * scatter of dy at the indices and needs only input_size, but a backend can
 * then gather over each input's windows instead (cuda: deterministic). */
static strata_status backward_max_pool(const strata_backward_call *c)
{
    if (!c->grad_outputs[0] || !c->needs_grad[0])
        return STRATA_OK;
    conv_attrs at;
    pool_attrs(c, &at, c->host->tensor_shape(c->inputs[0]));
    strata_tensor *in[2] = {c->grad_outputs[0], c->outputs[1]};
    return conv_call(c, "conv::max_pool2d_backward", in, 2, &at, &c->grad_inputs[0]);
}

/* input_size, and optionally the forward's window (kernel_size, stride,
 * padding), which must then give dy's shape. */
static strata_status infer_max_pool_backward(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    int64_t size[2];
    char a[96], b[96];
    strata_status rc = conv_need_f32(c, 0, "dy (N, C, OH, OW)", 4);
    if (!rc)
        rc = conv_size_attr(h, c->op, c->attrs, c->n_attrs, "input_size", "H, W", size);
    if (rc)
        return rc;
    const strata_tensor_desc *dy = &c->inputs[0], *idx = &c->inputs[1];
    if (strata_attr_find(c->attrs, c->n_attrs, "kernel_size") || strata_attr_find(c->attrs, c->n_attrs, "stride") ||
        strata_attr_find(c->attrs, c->n_attrs, "padding")) { /* a window: kernel_size required */
        pool_geom g;
        if ((rc = pool_geom_of(h, c->op, c->attrs, c->n_attrs, dy->shape[0], dy->shape[1], size[0], size[1], &g)) ||
            (rc = check_dy(h, c->op, &g, dy->shape)))
            return rc;
    }
    if (idx->dtype != STRATA_I64 || idx->ndim != 4 || memcmp(idx->shape, dy->shape, sizeof(int64_t) * 4))
        return h->set_error(STRATA_E_SHAPE, "%s: indices must be i64 of dy's shape %s, got dtype %d shape %s", c->op,
                            conv_shape_str(a, sizeof a, dy->ndim, dy->shape), (int)idx->dtype,
                            conv_shape_str(b, sizeof b, idx->ndim, idx->shape));
    conv_desc_4d(&c->outputs[0], STRATA_F32, dy->shape[0], dy->shape[1], size[0], size[1]);
    return STRATA_OK;
}

static strata_status kernel_max_pool_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    const int64_t *ds = c->inputs[0].shape, *xs = c->outputs[0].shape;
    int64_t HW = xs[2] * xs[3];
    double *plane = conv_scratch(h, c->op, sizeof(double) * (size_t)HW);
    if (!plane)
        return STRATA_E_NOMEM;
    const int64_t *idx = (const int64_t *)strata_desc_ptr(&c->inputs[1]);
    int64_t bad = max_pool2d_backward((float *)strata_desc_ptr(&c->outputs[0]),
                                      (const float *)strata_desc_ptr(&c->inputs[0]), idx, ds[0] * ds[1], HW,
                                      ds[2] * ds[3], plane);
    free(plane);
    if (bad >= 0)
        return h->set_error(STRATA_E_INVALID, "%s: index %lld at flat position %lld is outside the (%lld, %lld) plane",
                            c->op, (long long)idx[bad], (long long)bad, (long long)xs[2], (long long)xs[3]);
    return STRATA_OK;
}

/* dx = scatter(dy, idx) is linear in dy: d(dy) = gather(G, idx) over each plane */
static strata_status backward_max_pool_backward(const strata_backward_call *c)
{
    strata_tensor *G = c->grad_outputs[0];
    if (!G || !c->needs_grad[0])
        return STRATA_OK;
    const strata_host_api *h = c->host;
    const int64_t *gs = h->tensor_shape(G), *ds = h->tensor_shape(c->inputs[0]);
    int64_t g3[3] = {gs[0], gs[1], gs[2] * gs[3]}, i3[3] = {ds[0], ds[1], ds[2] * ds[3]};
    int64_t d4[4] = {ds[0], ds[1], ds[2], ds[3]};
    strata_attr ag = strata_attr_ints("shape", g3, 3), ai = strata_attr_ints("shape", i3, 3);
    strata_attr ax = strata_attr_int("axis", 2), ad = strata_attr_ints("shape", d4, 4);
    strata_tensor *gr = NULL, *ir = NULL, *out = NULL;
    strata_status rc = h->op_call(c->rt, "core::reshape", &G, 1, &ag, 1, &gr, 1);
    if (!rc)
        rc = h->op_call(c->rt, "core::reshape", (strata_tensor *const *)&c->inputs[1], 1, &ai, 1, &ir, 1);
    if (!rc) {
        strata_tensor *in[2] = {gr, ir};
        rc = h->op_call(c->rt, "core::gather", in, 2, &ax, 1, &out, 1);
    }
    if (!rc)
        rc = h->op_call(c->rt, "core::reshape", &out, 1, &ad, 1, &c->grad_inputs[0], 1);
    h->tensor_release(gr);
    h->tensor_release(ir);
    h->tensor_release(out);
    return rc;
}

/* ---- avg ------------------------------------------------------------------ */

static strata_status infer_avg_pool(const strata_infer_call *c)
{
    pool_geom g;
    return infer_pool(c, &g);
}

static strata_status kernel_avg_pool(const strata_kernel_call *c)
{
    pool_geom g;
    strata_status rc = pool_geom_x(c, &c->inputs[0], &g);
    if (rc)
        return rc;
    avg_pool2d_forward((float *)strata_desc_ptr(&c->outputs[0]), (const float *)strata_desc_ptr(&c->inputs[0]), &g);
    return STRATA_OK;
}

static strata_status backward_avg_pool(const strata_backward_call *c)
{
    if (!c->grad_outputs[0] || !c->needs_grad[0])
        return STRATA_OK;
    conv_attrs at;
    pool_attrs(c, &at, c->host->tensor_shape(c->inputs[0]));
    return conv_call(c, "conv::avg_pool2d_backward", &c->grad_outputs[0], 1, &at, &c->grad_inputs[0]);
}

static strata_status infer_avg_pool_backward(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    pool_geom g;
    int64_t size[2];
    const int64_t *ds = c->inputs[0].shape;
    strata_status rc = conv_need_f32(c, 0, "dy (N, C, OH, OW)", 4);
    if (!rc)
        rc = conv_size_attr(h, c->op, c->attrs, c->n_attrs, "input_size", "H, W", size);
    if (!rc)
        rc = pool_geom_of(h, c->op, c->attrs, c->n_attrs, ds[0], ds[1], size[0], size[1], &g);
    if (!rc)
        rc = check_dy(h, c->op, &g, ds);
    if (rc)
        return rc;
    conv_desc_4d(&c->outputs[0], STRATA_F32, g.N, g.C, g.H, g.W);
    return STRATA_OK;
}

static strata_status kernel_avg_pool_backward(const strata_kernel_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    pool_geom g;
    strata_status rc = pool_geom_x(c, &c->outputs[0], &g);
    if (rc)
        return rc;
    double *plane = conv_scratch(h, c->op, sizeof(double) * (size_t)(g.H * g.W));
    if (!plane)
        return STRATA_E_NOMEM;
    avg_pool2d_backward((float *)strata_desc_ptr(&c->outputs[0]), (const float *)strata_desc_ptr(&c->inputs[0]), &g,
                        plane);
    free(plane);
    return STRATA_OK;
}

/* dx = P^T dy is linear: d(dy) = P G, the forward pool */
static strata_status backward_avg_pool_backward(const strata_backward_call *c)
{
    if (!c->grad_outputs[0] || !c->needs_grad[0])
        return STRATA_OK;
    conv_attrs at;
    pool_attrs(c, &at, NULL);
    return conv_call(c, "conv::avg_pool2d", &c->grad_outputs[0], 1, &at, &c->grad_inputs[0]);
}

/* ---- global avg --------------------------------------------------------------- */

static strata_status infer_global_avg(const strata_infer_call *c)
{
    strata_status rc = conv_need_f32(c, 0, "x (N, C, H, W)", 4);
    if (rc)
        return rc;
    const int64_t *xs = c->inputs[0].shape;
    if (xs[2] < 1 || xs[3] < 1) /* the mean of nothing */
        return conv_host(c->user)->set_error(STRATA_E_SHAPE,
                                             "%s: x (N, C, H, W) has an empty plane, H %lld and W %lld must be positive",
                                             c->op, (long long)xs[2], (long long)xs[3]);
    strata_tensor_desc *y = &c->outputs[0];
    y->dtype = STRATA_F32;
    y->ndim = 2;
    y->shape[0] = c->inputs[0].shape[0], y->shape[1] = c->inputs[0].shape[1];
    return STRATA_OK;
}

static strata_status kernel_global_avg(const strata_kernel_call *c)
{
    const int64_t *xs = c->inputs[0].shape;
    global_avg_pool2d_forward((float *)strata_desc_ptr(&c->outputs[0]), (const float *)strata_desc_ptr(&c->inputs[0]),
                              xs[0] * xs[1], xs[2] * xs[3]);
    return STRATA_OK;
}

/* dx[n, c, h, w] = dy[n, c] / (H W): scale, view as (N, C, 1, 1), expand, copy */
static strata_status backward_global_avg(const strata_backward_call *c)
{
    strata_tensor *dy = c->grad_outputs[0];
    if (!dy || !c->needs_grad[0])
        return STRATA_OK;
    const strata_host_api *h = c->host;
    const int64_t *xs = h->tensor_shape(c->inputs[0]);
    int64_t s4[4] = {xs[0], xs[1], 1, 1}, x4[4] = {xs[0], xs[1], xs[2], xs[3]};
    strata_attr as = strata_attr_float("alpha", 1.0 / (double)(xs[2] * xs[3]));
    strata_attr ar = strata_attr_ints("shape", s4, 4), ae = strata_attr_ints("shape", x4, 4);
    strata_tensor *sc = NULL, *r = NULL, *e = NULL;
    strata_status rc = h->op_call(c->rt, "core::scale", &dy, 1, &as, 1, &sc, 1);
    if (!rc)
        rc = h->op_call(c->rt, "core::reshape", &sc, 1, &ar, 1, &r, 1);
    if (!rc)
        rc = h->op_call(c->rt, "core::expand", &r, 1, &ae, 1, &e, 1);
    if (!rc)
        rc = h->op_call(c->rt, "core::copy", &e, 1, NULL, 0, &c->grad_inputs[0], 1);
    h->tensor_release(sc);
    h->tensor_release(r);
    h->tensor_release(e);
    return rc;
}

/* ---- registration --------------------------------------------------------------- */

#define POOL_OP(NAME, NIN, NOUT, FLAGS, INFER, BACKWARD, KERNEL, ATTRS, NATTRS, DOC)                         \
    {                                                                                                          \
        .struct_size = sizeof(strata_op_def), .name = NAME, .version = 1, .min_inputs = NIN, .max_inputs = NIN, \
        .n_outputs = NOUT, .flags = FLAGS, .infer = INFER, .backward = BACKWARD, .host_kernel = KERNEL,        \
        .user = (void *)(uintptr_t)h, .doc = DOC, .attrs = ATTRS, .n_attrs = NATTRS                            \
    }

/* The attributes each op takes (checked by the core on every call, ABI 1.4): max_pool2d's window (entries 1-3),
 * avg_pool2d's with count_include_pad (1-4), its backward's with input_size (0-4); max_pool2d_backward's window
 * is optional. No dilation, ceil_mode, divisor_override or return_indices: the kernels would ignore them. */
#define POOL_ATTR(NAME, KIND, REQ, I, DOC) CONV_OP_ATTR(NAME, KIND, REQ, I, 0.0, DOC)
static const strata_attr_spec pool_attrs_spec[5] = {
    POOL_ATTR("input_size", STRATA_ATTR_INTS, 1, 4, "[H, W] of x (the backward ops)"),
    POOL_ATTR("kernel_size", STRATA_ATTR_INTS, 1, 2, "[KH, KW], or [k] for both"),
    POOL_ATTR("stride", STRATA_ATTR_INTS, 0, 0, "[h, w] or [s] (the kernel size)"),
    POOL_ATTR("padding", STRATA_ATTR_INTS, 0, 0, "[h, w] or [p], at most half the kernel (0)"),
    POOL_ATTR("count_include_pad", STRATA_ATTR_INT, 0, 1, "1: padding taps count in the divisor (avg)"),
};
static const strata_attr_spec max_backward_attrs[4] = {
    POOL_ATTR("input_size", STRATA_ATTR_INTS, 1, 4, "[H, W] of x"),
    POOL_ATTR("kernel_size", STRATA_ATTR_INTS, 0, 0, "the forward's (optional: needed with stride or padding)"),
    POOL_ATTR("stride", STRATA_ATTR_INTS, 0, 0, "the forward's (the kernel size)"),
    POOL_ATTR("padding", STRATA_ATTR_INTS, 0, 0, "the forward's (0)"),
};
#undef POOL_ATTR

strata_status conv_register_pool(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def defs[] = {
        POOL_OP("conv::max_pool2d", 1, 2, 0, infer_max_pool, backward_max_pool, kernel_max_pool, pool_attrs_spec + 1, 3,
                "2-D max pooling: x -> y, indices (i64, flat in H W); kernel_size, stride, padding"),
        POOL_OP("conv::max_pool2d_backward", 2, 1, 0, infer_max_pool_backward, backward_max_pool_backward,
                kernel_max_pool_backward, max_backward_attrs, 4,
                "gradient of max_pool2d: (dy, indices) -> dx; input_size [H, W] (and optionally the forward's window)"),
        POOL_OP("conv::avg_pool2d", 1, 1, 0, infer_avg_pool, backward_avg_pool, kernel_avg_pool, pool_attrs_spec + 1, 4,
                "2-D average pooling; kernel_size, stride, padding, count_include_pad (1)"),
        POOL_OP("conv::avg_pool2d_backward", 1, 1, 0, infer_avg_pool_backward, backward_avg_pool_backward,
                kernel_avg_pool_backward, pool_attrs_spec, 5,
                "gradient of avg_pool2d: dy -> dx; its attrs and input_size [H, W]"),
        POOL_OP("conv::global_avg_pool2d", 1, 1, 0, infer_global_avg, backward_global_avg, kernel_global_avg,
                pool_attrs_spec, 0, "mean over H and W: (N, C, H, W) -> (N, C)"),
    };
    return conv_register_ops(h, p, defs, sizeof defs / sizeof defs[0]);
}
