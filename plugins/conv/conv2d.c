/*
 * conv2d.c - conv::conv2d and its two backward ops, with their host kernels.
 *
 *   conv::conv2d                 (x, w [, b]) -> y
 *   conv::conv2d_backward_data   (dy, w)      -> dx   attr input_size [H, W]
 *   conv::conv2d_backward_weight (dy, x)      -> dw   attr kernel_size [KH, KW]
 *
 * All three take stride, padding, dilation (an int or [h, w]) and groups.
 * The three are bilinear maps of one family, so each one's backward is
 * written with the other two (and conv_transpose2d reuses the data kernel as
 * its forward):
 *
 *   y[n, o, i, j]  = b[o] + sum_{c, kh, kw} w[o, c, kh, kw] x[n, g c, i sh - ph + kh dh, j sw - pw + kw dw]
 *   dx = conv^T(dy, w)        (the adjoint of x -> conv(x, w))
 *   dw = sum_n dy[n] (x) x[n] (the derivative in w)
 *
 * where "g c" is channel c of the input group of output channel o, and taps
 * that fall in the zero padding contribute nothing.
 *
 * The kernels lower each image and group to a matrix product through an
 * im2col buffer (rows = (c, kh, kw) taps, columns = output positions), with
 * the innermost loop running over contiguous memory, and accumulate in
 * double.
 */
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

/* ======================================================================= */
/* Kernels                                                                  */
/* ======================================================================= */

int64_t conv_col_floats(const conv_geom *g)
{
    return (g->C / g->groups) * g->KH * g->KW * g->OH * g->OW;
}

/* col (Cg KH KW, OH OW): col[(c KH + kh) KW + kw][i OW + j] = x[c0 + c, i sh - ph + kh dh, j sw - pw + kw dw]
 * (0 in the padding), for one image x (C, H, W). */
static void im2col(float *col, const float *x, int64_t c0, const conv_geom *g)
{
    const int64_t Cg = g->C / g->groups, P = g->OH * g->OW;
    for (int64_t c = 0; c < Cg; c++) {
        const float *plane = x + (c0 + c) * g->H * g->W; /* (H, W) */
        for (int64_t kh = 0; kh < g->KH; kh++) {
            for (int64_t kw = 0; kw < g->KW; kw++) {
                float *row = col + ((c * g->KH + kh) * g->KW + kw) * P; /* (OH, OW) */
                for (int64_t i = 0; i < g->OH; i++) {
                    int64_t ih = i * g->sh - g->ph + kh * g->dh;
                    float *r = row + i * g->OW;
                    if (ih < 0 || ih >= g->H) {
                        memset(r, 0, sizeof(float) * (size_t)g->OW);
                        continue;
                    }
                    const float *src = plane + ih * g->W;
                    for (int64_t j = 0; j < g->OW; j++) {
                        int64_t iw = j * g->sw - g->pw + kw * g->dw;
                        r[j] = iw >= 0 && iw < g->W ? src[iw] : 0.0f;
                    }
                }
            }
        }
    }
}

/* The transpose of im2col's matrix: colT (OH OW, Cg KH KW). */
static void im2col_T(float *colT, const float *x, int64_t c0, const conv_geom *g)
{
    const int64_t Cg = g->C / g->groups, K = Cg * g->KH * g->KW;
    for (int64_t i = 0; i < g->OH; i++) {
        for (int64_t j = 0; j < g->OW; j++) {
            float *r = colT + (i * g->OW + j) * K; /* (K) */
            for (int64_t c = 0; c < Cg; c++) {
                const float *plane = x + (c0 + c) * g->H * g->W;
                for (int64_t kh = 0; kh < g->KH; kh++) {
                    int64_t ih = i * g->sh - g->ph + kh * g->dh;
                    float *rk = r + (c * g->KH + kh) * g->KW;
                    for (int64_t kw = 0; kw < g->KW; kw++) {
                        int64_t iw = j * g->sw - g->pw + kw * g->dw;
                        rk[kw] = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W ? plane[ih * g->W + iw] : 0.0f;
                    }
                }
            }
        }
    }
}

void conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv_geom *g, float *col,
                    double *acc)
{
    const int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
    const int64_t K = Cg * g->KH * g->KW, P = g->OH * g->OW;
    for (int64_t n = 0; n < g->N; n++) {
        const float *xn = x + n * g->C * g->H * g->W; /* (C, H, W) */
        for (int64_t grp = 0; grp < g->groups; grp++) {
            im2col(col, xn, grp * Cg, g);
            for (int64_t o = grp * OCg; o < (grp + 1) * OCg; o++) {
                const float *wo = w + o * K; /* (K) */
                double bias = b ? (double)b[o] : 0.0;
                for (int64_t p = 0; p < P; p++)
                    acc[p] = bias;
                /* acc (P) += w[o, k] * col[k, :], four taps at a time */
                int64_t k = 0;
                for (; k + 4 <= K; k += 4) {
                    const double w0 = wo[k], w1 = wo[k + 1], w2 = wo[k + 2], w3 = wo[k + 3];
                    const float *c0 = col + k * P, *c1 = c0 + P, *c2 = c1 + P, *c3 = c2 + P;
                    for (int64_t p = 0; p < P; p++)
                        acc[p] += w0 * c0[p] + w1 * c1[p] + w2 * c2[p] + w3 * c3[p];
                }
                for (; k < K; k++) {
                    const double wk = wo[k];
                    const float *ck = col + k * P;
                    for (int64_t p = 0; p < P; p++)
                        acc[p] += wk * ck[p];
                }
                float *yo = y + (n * g->OC + o) * P; /* (OH, OW) */
                for (int64_t p = 0; p < P; p++)
                    yo[p] = (float)acc[p];
            }
        }
    }
}

void conv2d_backward_data(float *dx, const float *dy, const float *w, const float *b, const conv_geom *g,
                          double *acc)
{
    const int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
    const int64_t K = Cg * g->KH * g->KW, P = g->OH * g->OW, HW = g->H * g->W;
    double *row = acc;     /* (P): one row of dcol = w^T dy */
    double *img = acc + P; /* (C, H, W): dx of one image */
    for (int64_t n = 0; n < g->N; n++) {
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t q = 0; q < HW; q++)
                img[c * HW + q] = b ? (double)b[c] : 0.0;
        const float *dyn = dy + n * g->OC * P; /* (OC, OH, OW) */
        for (int64_t grp = 0; grp < g->groups; grp++) {
            for (int64_t k = 0; k < K; k++) {
                /* row (P) = sum_o w[o, k] dy[o, :] over the group's output channels */
                for (int64_t p = 0; p < P; p++)
                    row[p] = 0.0;
                for (int64_t o = grp * OCg; o < (grp + 1) * OCg; o++) {
                    const double wk = w[o * K + k];
                    const float *dyo = dyn + o * P;
                    for (int64_t p = 0; p < P; p++)
                        row[p] += wk * dyo[p];
                }
                /* col2im: tap k = (c, kh, kw) sends row[i, j] back to x[c, i sh - ph + kh dh, j sw - pw + kw dw] */
                const int64_t c = k / (g->KH * g->KW), kh = k / g->KW % g->KH, kw = k % g->KW;
                double *plane = img + (grp * Cg + c) * HW;
                for (int64_t i = 0; i < g->OH; i++) {
                    int64_t ih = i * g->sh - g->ph + kh * g->dh;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    for (int64_t j = 0; j < g->OW; j++) {
                        int64_t iw = j * g->sw - g->pw + kw * g->dw;
                        if (iw >= 0 && iw < g->W)
                            plane[ih * g->W + iw] += row[i * g->OW + j];
                    }
                }
            }
        }
        float *dxn = dx + n * g->C * HW;
        for (int64_t q = 0; q < g->C * HW; q++)
            dxn[q] = (float)img[q];
    }
}

void conv2d_backward_weight(float *dw, const float *dy, const float *x, const conv_geom *g, float *colT,
                            double *acc)
{
    const int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
    const int64_t K = Cg * g->KH * g->KW, P = g->OH * g->OW;
    for (int64_t q = 0; q < g->OC * K; q++)
        acc[q] = 0.0;
    for (int64_t n = 0; n < g->N; n++) {
        const float *xn = x + n * g->C * g->H * g->W;
        const float *dyn = dy + n * g->OC * P;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            im2col_T(colT, xn, grp * Cg, g);
            for (int64_t o = grp * OCg; o < (grp + 1) * OCg; o++) {
                double *ao = acc + o * K; /* (K): dw[o] */
                const float *dyo = dyn + o * P;
                /* dw[o, :] += dy[o, p] colT[p, :], two positions at a time */
                int64_t p = 0;
                for (; p + 2 <= P; p += 2) {
                    const double d0 = dyo[p], d1 = dyo[p + 1];
                    const float *r0 = colT + p * K, *r1 = r0 + K;
                    for (int64_t k = 0; k < K; k++)
                        ao[k] += d0 * r0[k] + d1 * r1[k];
                }
                for (; p < P; p++) {
                    const double d0 = dyo[p];
                    const float *r0 = colT + p * K;
                    for (int64_t k = 0; k < K; k++)
                        ao[k] += d0 * r0[k];
                }
            }
        }
    }
    for (int64_t q = 0; q < g->OC * K; q++)
        dw[q] = (float)acc[q];
}

/* ======================================================================= */
/* Shapes                                                                   */
/* ======================================================================= */

/* Fills @p g for x (N, C, H, W) and a kernel (OC, Cg, KH, KW) and checks the
 * channel counts against groups and the kernel against the padded input. */
static strata_status conv2d_geom(const strata_host_api *h, const char *op, const int64_t *xs, int64_t OC, int64_t Cg,
                                 int64_t KH, int64_t KW, const conv_params *p, conv_geom *g)
{
    g->N = xs[0], g->C = xs[1], g->H = xs[2], g->W = xs[3];
    g->OC = OC, g->KH = KH, g->KW = KW;
    g->sh = p->stride[0], g->sw = p->stride[1], g->ph = p->padding[0], g->pw = p->padding[1];
    g->dh = p->dilation[0], g->dw = p->dilation[1], g->groups = p->groups;
    if (g->C % g->groups)
        return h->set_error(STRATA_E_SHAPE, "%s: input channels %lld are not divisible by groups %lld", op,
                            (long long)g->C, (long long)g->groups);
    if (g->OC % g->groups)
        return h->set_error(STRATA_E_SHAPE, "%s: output channels %lld are not divisible by groups %lld", op,
                            (long long)g->OC, (long long)g->groups);
    if (Cg != g->C / g->groups)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: the weight has %lld input channels per group, but the input has %lld channels in "
                            "%lld group(s) (%lld per group)",
                            op, (long long)Cg, (long long)g->C, (long long)g->groups, (long long)(g->C / g->groups));
    strata_status rc = conv_out_len(h, op, "height", g->H, KH, g->sh, g->ph, g->dh, &g->OH);
    if (!rc)
        rc = conv_out_len(h, op, "width", g->W, KW, g->sw, g->pw, g->dw, &g->OW);
    return rc;
}

static strata_status check_out_spatial(const strata_host_api *h, const char *op, const conv_geom *g,
                                       const int64_t *dys)
{
    if (dys[2] != g->OH || dys[3] != g->OW)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: dy has spatial size (%lld, %lld) but the convolution of a (%lld, %lld) input gives "
                            "(%lld, %lld)",
                            op, (long long)dys[2], (long long)dys[3], (long long)g->H, (long long)g->W,
                            (long long)g->OH, (long long)g->OW);
    return STRATA_OK;
}

/* x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) */
static strata_status geom_conv2d(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                                 const strata_attr *attrs, int n_attrs, conv_geom *g)
{
    conv_params p;
    strata_status rc = conv_read_params(h, op, attrs, n_attrs, &p);
    if (rc)
        return rc;
    const int64_t *ws = in[1].shape;
    if ((rc = conv2d_geom(h, op, in[0].shape, ws[0], ws[1], ws[2], ws[3], &p, g)))
        return rc;
    return conv_check_bias(h, op, in, n_in, g->OC);
}

/* The convolution's attributes and the backward op's required size
 * attribute @p name (conv_size_attr). */
static strata_status read_params_and_size(const strata_host_api *h, const char *op, const strata_attr *attrs,
                                          int n_attrs, conv_params *p, const char *name, const char *dims,
                                          int64_t size[2])
{
    strata_status rc = conv_read_params(h, op, attrs, n_attrs, p);
    return rc ? rc : conv_size_attr(h, op, attrs, n_attrs, name, dims, size);
}

/* dy (N, OC, OH, OW), w (OC, C/groups, KH, KW); attr input_size [H, W] */
static strata_status geom_backward_data(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                        const strata_attr *attrs, int n_attrs, conv_geom *g)
{
    conv_params p;
    int64_t size[2];
    strata_status rc = read_params_and_size(h, op, attrs, n_attrs, &p, "input_size", "H, W", size);
    if (rc)
        return rc;
    const int64_t *dys = in[0].shape, *ws = in[1].shape;
    if (dys[1] != ws[0])
        return h->set_error(STRATA_E_SHAPE, "%s: dy has %lld channels, the weight %lld output channels", op,
                            (long long)dys[1], (long long)ws[0]);
    int64_t xs[4] = {dys[0], ws[1] * p.groups, size[0], size[1]};
    if ((rc = conv2d_geom(h, op, xs, ws[0], ws[1], ws[2], ws[3], &p, g)))
        return rc;
    return check_out_spatial(h, op, g, dys);
}

/* dy (N, OC, OH, OW), x (N, C, H, W); attr kernel_size [KH, KW] */
static strata_status geom_backward_weight(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                                          const strata_attr *attrs, int n_attrs, conv_geom *g)
{
    conv_params p;
    int64_t ks[2];
    strata_status rc = read_params_and_size(h, op, attrs, n_attrs, &p, "kernel_size", "KH, KW", ks);
    if (rc)
        return rc;
    const int64_t *dys = in[0].shape, *xs = in[1].shape;
    if (dys[0] != xs[0])
        return h->set_error(STRATA_E_SHAPE, "%s: dy has batch %lld, x batch %lld", op, (long long)dys[0],
                            (long long)xs[0]);
    if (xs[1] % p.groups)
        return h->set_error(STRATA_E_SHAPE, "%s: input channels %lld are not divisible by groups %lld", op,
                            (long long)xs[1], (long long)p.groups);
    if ((rc = conv2d_geom(h, op, xs, dys[1], xs[1] / p.groups, ks[0], ks[1], &p, g)))
        return rc;
    return check_out_spatial(h, op, g, dys);
}

/* ======================================================================= */
/* Ops                                                                      */
/* ======================================================================= */

static strata_status infer_conv2d(const strata_infer_call *c)
{
    conv_geom g;
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "x (N, C, H, W)", 4)) || (rc = conv_need_f32(c, 1, "weight (OC, C/groups, KH, KW)", 4)) ||
        (c->n_inputs > 2 && (rc = conv_need_f32(c, 2, "bias (OC)", 1))) ||
        (rc = geom_conv2d(conv_host(c->user), c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g)))
        return rc;
    conv_desc_4d(&c->outputs[0], STRATA_F32, g.N, g.OC, g.OH, g.OW);
    return STRATA_OK;
}

static strata_status kernel_conv2d(const strata_kernel_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    conv_geom g;
    strata_status rc = geom_conv2d(h, c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    float *col = conv_scratch(h, c->op, sizeof(float) * (size_t)conv_col_floats(&g));
    double *acc = conv_scratch(h, c->op, sizeof(double) * (size_t)(g.OH * g.OW));
    if (col && acc)
        conv2d_forward((float *)strata_desc_ptr(&c->outputs[0]), (const float *)strata_desc_ptr(&c->inputs[0]),
                       (const float *)strata_desc_ptr(&c->inputs[1]),
                       c->n_inputs > 2 ? (const float *)strata_desc_ptr(&c->inputs[2]) : NULL, &g, col, acc);
    rc = col && acc ? STRATA_OK : STRATA_E_NOMEM;
    free(col);
    free(acc);
    return rc;
}

/* Conv attributes of a recorded call, plus a size attribute when @p size_name is set. */
static strata_status bw_attrs(const strata_backward_call *c, conv_attrs *at, const char *size_name, int64_t s0,
                              int64_t s1)
{
    conv_params p;
    strata_status rc = conv_read_params(c->host, c->op, c->attrs, c->n_attrs, &p);
    if (rc)
        return rc;
    memset(at, 0, sizeof *at);
    conv_attrs_conv(at, &p);
    if (size_name)
        conv_attrs_pair(at, size_name, s0, s1);
    return STRATA_OK;
}

/* y = conv(x, w) + b: dx = backward_data(dy, w), dw = backward_weight(dy, x), db = sum(dy) */
static strata_status backward_conv2d(const strata_backward_call *c)
{
    strata_tensor *dy = c->grad_outputs[0];
    if (!dy)
        return STRATA_OK;
    const strata_host_api *h = c->host;
    const int64_t *xs = h->tensor_shape(c->inputs[0]), *ws = h->tensor_shape(c->inputs[1]);
    conv_attrs at;
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0] && !(rc = bw_attrs(c, &at, "input_size", xs[2], xs[3]))) {
        strata_tensor *in[2] = {dy, c->inputs[1]};
        rc = conv_call(c, "conv::conv2d_backward_data", in, 2, &at, &c->grad_inputs[0]);
    }
    if (!rc && c->needs_grad[1] && !(rc = bw_attrs(c, &at, "kernel_size", ws[2], ws[3]))) {
        strata_tensor *in[2] = {dy, c->inputs[0]};
        rc = conv_call(c, "conv::conv2d_backward_weight", in, 2, &at, &c->grad_inputs[1]);
    }
    if (!rc && c->n_inputs > 2 && c->needs_grad[2])
        rc = conv_bias_grad(c, dy, &c->grad_inputs[2]);
    return rc;
}

static strata_status infer_backward_data(const strata_infer_call *c)
{
    conv_geom g;
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "dy (N, OC, OH, OW)", 4)) ||
        (rc = conv_need_f32(c, 1, "weight (OC, C/groups, KH, KW)", 4)) ||
        (rc = geom_backward_data(conv_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g)))
        return rc;
    conv_desc_4d(&c->outputs[0], STRATA_F32, g.N, g.C, g.H, g.W);
    return STRATA_OK;
}

strata_status conv_kernel_backward_data(const strata_kernel_call *c, const conv_geom *g, const float *b)
{
    const size_t n_acc = (size_t)(g->OH * g->OW + g->C * g->H * g->W);
    double *acc = conv_scratch(conv_host(c->user), c->op, sizeof(double) * n_acc);
    if (!acc)
        return STRATA_E_NOMEM;
    conv2d_backward_data((float *)strata_desc_ptr(&c->outputs[0]), (const float *)strata_desc_ptr(&c->inputs[0]),
                         (const float *)strata_desc_ptr(&c->inputs[1]), b, g, acc);
    free(acc);
    return STRATA_OK;
}

static strata_status kernel_backward_data(const strata_kernel_call *c)
{
    conv_geom g;
    strata_status rc = geom_backward_data(conv_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g);
    return rc ? rc : conv_kernel_backward_data(c, &g, NULL);
}

/* dx = conv^T(dy, w), linear in each: d(dy) = conv(G, w), d(w) = backward_weight(dy, G) */
static strata_status backward_backward_data(const strata_backward_call *c)
{
    strata_tensor *G = c->grad_outputs[0];
    if (!G)
        return STRATA_OK;
    const int64_t *ws = c->host->tensor_shape(c->inputs[1]);
    conv_attrs at;
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0] && !(rc = bw_attrs(c, &at, NULL, 0, 0))) {
        strata_tensor *in[2] = {G, c->inputs[1]};
        rc = conv_call(c, "conv::conv2d", in, 2, &at, &c->grad_inputs[0]);
    }
    if (!rc && c->needs_grad[1] && !(rc = bw_attrs(c, &at, "kernel_size", ws[2], ws[3]))) {
        strata_tensor *in[2] = {c->inputs[0], G};
        rc = conv_call(c, "conv::conv2d_backward_weight", in, 2, &at, &c->grad_inputs[1]);
    }
    return rc;
}

static strata_status infer_backward_weight(const strata_infer_call *c)
{
    conv_geom g;
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "dy (N, OC, OH, OW)", 4)) || (rc = conv_need_f32(c, 1, "x (N, C, H, W)", 4)) ||
        (rc = geom_backward_weight(conv_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &g)))
        return rc;
    conv_desc_4d(&c->outputs[0], STRATA_F32, g.OC, g.C / g.groups, g.KH, g.KW);
    return STRATA_OK;
}

static strata_status kernel_backward_weight(const strata_kernel_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    conv_geom g;
    strata_status rc = geom_backward_weight(h, c->op, c->inputs, c->attrs, c->n_attrs, &g);
    if (rc)
        return rc;
    float *colT = conv_scratch(h, c->op, sizeof(float) * (size_t)conv_col_floats(&g));
    double *acc = conv_scratch(h, c->op, sizeof(double) * (size_t)(g.OC * (g.C / g.groups) * g.KH * g.KW));
    if (colT && acc)
        conv2d_backward_weight((float *)strata_desc_ptr(&c->outputs[0]),
                               (const float *)strata_desc_ptr(&c->inputs[0]),
                               (const float *)strata_desc_ptr(&c->inputs[1]), &g, colT, acc);
    rc = colT && acc ? STRATA_OK : STRATA_E_NOMEM;
    free(colT);
    free(acc);
    return rc;
}

/* dw = sum dy (x) x, linear in each: d(dy) = conv(x, G), d(x) = backward_data(dy, G) */
static strata_status backward_backward_weight(const strata_backward_call *c)
{
    strata_tensor *G = c->grad_outputs[0];
    if (!G)
        return STRATA_OK;
    const int64_t *xs = c->host->tensor_shape(c->inputs[1]);
    conv_attrs at;
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0] && !(rc = bw_attrs(c, &at, NULL, 0, 0))) {
        strata_tensor *in[2] = {c->inputs[1], G};
        rc = conv_call(c, "conv::conv2d", in, 2, &at, &c->grad_inputs[0]);
    }
    if (!rc && c->needs_grad[1] && !(rc = bw_attrs(c, &at, "input_size", xs[2], xs[3]))) {
        strata_tensor *in[2] = {c->inputs[0], G};
        rc = conv_call(c, "conv::conv2d_backward_data", in, 2, &at, &c->grad_inputs[1]);
    }
    return rc;
}

/* The attributes each op takes (checked by the core on every call, ABI 1.4): conv2d's window (entries 1-4);
 * backward_data's adds input_size (entry 0), backward_weight's kernel_size (entry 5), both required. */
static const strata_attr_spec conv2d_attrs[6] = {
    CONV_OP_ATTR("input_size", STRATA_ATTR_INTS, 1, 4, 0.0, "[H, W] of x (backward_data)"),
    CONV_OP_GEOM_ATTRS,
    CONV_OP_ATTR("kernel_size", STRATA_ATTR_INTS, 1, 3, 0.0, "[KH, KW] of the weight (backward_weight)"),
};

strata_status conv_register_conv2d(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def defs[] = {
        {.struct_size = sizeof(strata_op_def), .name = "conv::conv2d", .version = 1, .min_inputs = 2,
         .max_inputs = 3, .n_outputs = 1, .infer = infer_conv2d, .backward = backward_conv2d,
         .host_kernel = kernel_conv2d, .user = (void *)(uintptr_t)h,
         .doc = "2-D convolution, NCHW: (x, weight (OC, C/groups, KH, KW) [, bias]); stride, padding, dilation, groups",
         .attrs = conv2d_attrs + 1, .n_attrs = 4},
        {.struct_size = sizeof(strata_op_def), .name = "conv::conv2d_backward_data", .version = 1, .min_inputs = 2,
         .max_inputs = 2, .n_outputs = 1, .infer = infer_backward_data, .backward = backward_backward_data,
         .host_kernel = kernel_backward_data, .user = (void *)(uintptr_t)h,
         .doc = "gradient of conv2d in x: (dy, weight) -> dx; input_size [H, W]", .attrs = conv2d_attrs,
         .n_attrs = 5},
        {.struct_size = sizeof(strata_op_def), .name = "conv::conv2d_backward_weight", .version = 1,
         .min_inputs = 2, .max_inputs = 2, .n_outputs = 1, .infer = infer_backward_weight,
         .backward = backward_backward_weight, .host_kernel = kernel_backward_weight, .user = (void *)(uintptr_t)h,
         .doc = "gradient of conv2d in the weight: (dy, x) -> dw; kernel_size [KH, KW]", .attrs = conv2d_attrs + 1,
         .n_attrs = 5},
    };
    return conv_register_ops(h, p, defs, sizeof defs / sizeof defs[0]);
}
