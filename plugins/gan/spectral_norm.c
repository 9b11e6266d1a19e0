/*
 * spectral_norm.c - spectral normalisation (Miyato et al. 2018): layers
 * whose weight W is divided by an estimate of its largest singular value
 * sigma(W), which bounds the layer's Lipschitz constant by 1:
 *
 *   sn_linear   as the core's linear:  y = x (W / sigma)^T + b,  W (out, in)
 *   sn_conv2d   as conv's conv2d:      y = conv2d(x, W / sigma) + b,  W (OC, C, KH, KW)
 *               (computed by the op conv::conv2d of the conv plugin)
 *
 * Parameters weight and bias (PyTorch's names and default initialisation);
 * buffer u (out) the left singular vector estimate, drawn from N(0, 1) and
 * normalised at creation, saved in checkpoints. With W viewed as a matrix
 * (out, rest) and normalize(a) = a / max(||a||, eps):
 *
 *   training  n_power_iterations times: v = normalize(W^T u), u = normalize(W v);
 *             u is written back to the buffer (no gradient)
 *   eval      v = normalize(W^T u) with the stored u, which is not updated
 *   both      sigma = u^T W v, computed with ops from W, so the gradient
 *             reaches W through sigma with u and v held constant (as the
 *             paper and PyTorch's spectral_norm do)
 *
 * The power iteration runs on the host in double from W read with
 * tensor_read (one read of W and two small uploads per forward).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gan_internal.h"

#define SPEC(NAME, KIND, REQ, DI, DF, DOC)                                                                             \
    {                                                                                                                  \
        sizeof(strata_attr_spec), NAME, KIND, REQ, DI, DF, NULL, DOC                                                   \
    }
/* An optional window attribute, given empty; APPLIED is the value the layer uses then (the defaults record) */
#define SPEC_WINDOW(NAME, APPLIED, DOC) {sizeof(strata_attr_spec), NAME, STRATA_ATTR_INTS, 0, 0, 0, APPLIED, DOC}

static const strata_attr_spec sn_linear_spec[] = {
    SPEC("in_features", STRATA_ATTR_INT, 0, -1, 0, "input size (inferred when -1)"),
    SPEC("out_features", STRATA_ATTR_INT, 1, 0, 0, "output size"),
    SPEC("bias", STRATA_ATTR_INT, 0, 1, 0, "add a learned bias (1) or not (0)"),
    SPEC("n_power_iterations", STRATA_ATTR_INT, 0, 1, 0, "power iterations per training forward (1 to 1000)"),
    SPEC("eps", STRATA_ATTR_FLOAT, 0, 0, 1e-12, "normalize(a) = a / max(||a||, eps)"),
};

static const strata_attr_spec sn_conv2d_spec[] = {
    SPEC("in_channels", STRATA_ATTR_INT, 0, -1, 0, "input channels (taken from the input when -1)"),
    SPEC("out_channels", STRATA_ATTR_INT, 1, 0, 0, "output channels"),
    SPEC("kernel_size", STRATA_ATTR_INTS, 1, 0, 0, "kernel size: k or [kh, kw]"),
    SPEC_WINDOW("stride", "1", "stride: s or [sh, sw] (default 1)"),
    SPEC_WINDOW("padding", "0", "zero padding on each side: p or [ph, pw] (default 0)"),
    SPEC("bias", STRATA_ATTR_INT, 0, 1, 0, "add a learned bias (1) or not (0)"),
    SPEC("n_power_iterations", STRATA_ATTR_INT, 0, 1, 0, "power iterations per training forward (1 to 1000)"),
    SPEC("eps", STRATA_ATTR_FLOAT, 0, 0, 1e-12, "normalize(a) = a / max(||a||, eps)"),
};

typedef struct sn_layer {
    int conv;
    strata_tensor *w, *b, *u; /* borrowed from the model; b may be NULL */
    int64_t out, rest;        /* W viewed as (out, rest) */
    int64_t iters;
    double eps;
    int64_t stride[2], padding[2];
    char who[160];
} sn_layer;

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

/* ---- creation ------------------------------------------------------------ */

/* Reads attr @p name as a pair: an INT or a list of 1 (both) or 2; absent or empty: @p dflt. */
static strata_status read_pair(const strata_host_api *h, const char *w, const strata_attr *attrs, int n,
                               const char *name, int64_t dflt, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(attrs, n, name);
    out[0] = out[1] = dflt;
    if (!a)
        return STRATA_OK;
    if (!strcmp(name, "kernel_size") && a->kind == STRATA_ATTR_INTS && a->n == 0) /* an empty list is "left out" */
        return h->set_error(STRATA_E_INVALID, "%s: kernel_size is required (k or [kh, kw]), got an empty list", w);
    if (a->kind == STRATA_ATTR_INT) {
        out[0] = out[1] = a->i;
    } else if (a->kind == STRATA_ATTR_INTS && a->n <= 2) {
        if (a->n >= 1)
            out[0] = out[1] = a->ints[0];
        if (a->n == 2)
            out[1] = a->ints[1];
    } else {
        return h->set_error(STRATA_E_INVALID, "%s: '%s' takes one integer or a list of two", w, name);
    }
    return STRATA_OK;
}

/* Far more than converging sigma takes (PyTorch's default is 1); a value
 * past it is a typo that would stall every training step. */
#define SN_MAX_ITERS 1000

/* Common attributes, the buffer u and the state. */
static strata_status sn_common(const strata_layer_create_call *c, const char *w, sn_layer **out)
{
    const strata_host_api *h = c->host;
    int64_t iters = strata_attr_get_int(c->attrs, c->n_attrs, "n_power_iterations", 1);
    double eps = strata_attr_get_float(c->attrs, c->n_attrs, "eps", 1e-12);
    if (iters < 1 || iters > SN_MAX_ITERS) /* every training forward runs them all */
        return h->set_error(STRATA_E_INVALID, "%s: n_power_iterations must be 1 to %d, got %lld", w, SN_MAX_ITERS,
                            (long long)iters);
    if (!(eps > 0.0) || !isfinite(eps)) /* an infinite eps divides the weight by infinity: all zeros */
        return h->set_error(STRATA_E_INVALID, "%s: eps must be a finite number > 0, got %g", w, eps);
    if (c->inputs[0].dtype != STRATA_F32)
        return h->set_error(STRATA_E_DTYPE, "%s expects f32 input, got dtype %d", w, (int)c->inputs[0].dtype);
    sn_layer *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->iters = iters;
    s->eps = eps;
    snprintf(s->who, sizeof s->who, "%s", w);
    *out = s;
    return STRATA_OK;
}

/* Parameters weight (@p wn dims @p ws) and bias (ws[0]), as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * the buffer u (out) from N(0, 1), normalised. */
static strata_status sn_params(const strata_layer_create_call *c, sn_layer *s, int wn, const int64_t *ws, int bias)
{
    const strata_host_api *h = c->host;
    s->out = ws[0];
    s->rest = gan_numel(wn - 1, ws + 1);
    double bound = s->rest > 0 ? 1.0 / sqrt((double)s->rest) : 0.0;
    strata_status rc;
    if ((rc = h->layer_add_param(c->layer, "weight", STRATA_F32, wn, ws, &s->w)) ||
        (rc = h->init_uniform(s->w, -bound, bound)))
        return rc;
    if (bias && ((rc = h->layer_add_param(c->layer, "bias", STRATA_F32, 1, ws, &s->b)) ||
                 (rc = h->init_uniform(s->b, -bound, bound))))
        return rc;
    if ((rc = h->layer_add_buffer(c->layer, "u", STRATA_F32, 1, ws, &s->u)) || (rc = h->init_normal(s->u, 0.0, 1.0)))
        return rc;
    float *u = malloc(sizeof(float) * (size_t)s->out);
    if (!u)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for u", s->who,
                            sizeof(float) * (size_t)s->out);
    if (!(rc = h->tensor_read(s->u, u, sizeof(float) * (size_t)s->out))) {
        double nrm = 0.0;
        for (int64_t i = 0; i < s->out; i++)
            nrm += (double)u[i] * u[i];
        nrm = fmax(sqrt(nrm), s->eps);
        for (int64_t i = 0; i < s->out; i++)
            u[i] = (float)(u[i] / nrm);
        rc = h->tensor_write(s->u, u, sizeof(float) * (size_t)s->out);
    }
    free(u);
    return rc;
}

static strata_status sn_linear_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    char w[160];
    gan_layer_who(c, "sn_linear", w, sizeof w);
    const strata_tensor_desc *x = &c->inputs[0];
    int64_t in_f = strata_attr_get_int(c->attrs, c->n_attrs, "in_features", -1);
    int64_t out_f = strata_attr_get_int(c->attrs, c->n_attrs, "out_features", 0);
    const int64_t bias = strata_attr_get_int(c->attrs, c->n_attrs, "bias", 1);
    if (bias != 0 && bias != 1)
        return h->set_error(STRATA_E_INVALID, "%s: bias must be 0 or 1, got %lld", w, (long long)bias);
    if (x->ndim < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: input must have a feature dimension", w);
    int64_t have = x->shape[x->ndim - 1];
    if (in_f >= 0 && in_f != have)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: in_features is %lld but the input has %lld features (per-example shape of rank %d)", w,
                            (long long)in_f, (long long)have, x->ndim);
    if (out_f <= 0)
        return h->set_error(STRATA_E_INVALID, "%s: out_features must be positive, got %lld", w, (long long)out_f);
    if (have < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: the input has no features", w);
    sn_layer *s = NULL;
    strata_status rc = sn_common(c, w, &s);
    if (rc || (rc = sn_params(c, s, 2, (const int64_t[]){out_f, have}, bias)))
        return rc;
    c->outputs[0] = *x;
    c->outputs[0].shape[x->ndim - 1] = out_f;
    return STRATA_OK;
}

/* conv::conv2d on tiny zeros: a clear error at model build time when the conv plugin is missing. */
static strata_status probe_conv(const strata_host_api *h, const strata_layer_create_call *c, const char *w)
{
    strata_device *dev = h->layer_device(c->layer);
    const int64_t one[4] = {1, 1, 1, 1};
    strata_tensor *x = NULL, *k = NULL, *y = NULL;
    strata_status rc = h->tensor_zeros(dev, STRATA_F32, 4, one, &x);
    if (!rc)
        rc = h->tensor_zeros(dev, STRATA_F32, 4, one, &k);
    if (!rc) {
        int prev = h->set_grad_enabled(c->rt, 0);
        rc = gan_op(h, c->rt, "conv::conv2d", (strata_tensor *[]){x, k}, 2, NULL, 0, &y);
        h->set_grad_enabled(c->rt, prev);
        if (rc == STRATA_E_NOT_FOUND)
            rc = h->set_error(STRATA_E_NOT_FOUND,
                              "%s needs the op conv::conv2d of the conv plugin, which is not loaded in this runtime "
                              "(put conv.so on STRATA_PLUGIN_PATH or next to gan.so; `strata info` lists the plugins)",
                              w);
    }
    h->tensor_release(x);
    h->tensor_release(k);
    h->tensor_release(y);
    return rc;
}

static strata_status sn_conv2d_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    char w[160], s1[96];
    gan_layer_who(c, "sn_conv2d", w, sizeof w);
    const strata_tensor_desc *x = &c->inputs[0];
    if (x->ndim != 3)
        return h->set_error(STRATA_E_SHAPE, "%s expects examples of shape (C, H, W), got %s (rank %d)", w,
                            gan_shape_str(s1, sizeof s1, x->ndim, x->shape), x->ndim);
    const int64_t C = x->shape[0];
    int64_t in_c = strata_attr_get_int(c->attrs, c->n_attrs, "in_channels", -1);
    int64_t OC = strata_attr_get_int(c->attrs, c->n_attrs, "out_channels", 0);
    const int64_t bias = strata_attr_get_int(c->attrs, c->n_attrs, "bias", 1);
    if (bias != 0 && bias != 1)
        return h->set_error(STRATA_E_INVALID, "%s: bias must be 0 or 1, got %lld", w, (long long)bias);
    int64_t k[2], st[2], pd[2];
    strata_status rc;
    if ((rc = read_pair(h, w, c->attrs, c->n_attrs, "kernel_size", -1, k)) ||
        (rc = read_pair(h, w, c->attrs, c->n_attrs, "stride", 1, st)) ||
        (rc = read_pair(h, w, c->attrs, c->n_attrs, "padding", 0, pd)))
        return rc;
    if (in_c >= 0 && in_c != C)
        return h->set_error(STRATA_E_SHAPE, "%s: in_channels is %lld but the input has %lld channels", w,
                            (long long)in_c, (long long)C);
    if (OC <= 0)
        return h->set_error(STRATA_E_INVALID, "%s: out_channels must be positive, got %lld", w, (long long)OC);
    if (k[0] < 1 || k[1] < 1 || st[0] < 1 || st[1] < 1 || pd[0] < 0 || pd[1] < 0)
        return h->set_error(STRATA_E_INVALID,
                            "%s: kernel_size and stride must be positive and padding not negative, got kernel_size "
                            "(%lld, %lld), stride (%lld, %lld), padding (%lld, %lld)",
                            w, (long long)k[0], (long long)k[1], (long long)st[0], (long long)st[1], (long long)pd[0],
                            (long long)pd[1]);
    int64_t ohw[2];
    for (int d = 0; d < 2; d++) {
        int64_t span = x->shape[1 + d] + 2 * pd[d];
        if (span < k[d])
            return h->set_error(STRATA_E_SHAPE, "%s: the kernel %s %lld is larger than the padded input %s %lld", w,
                                d ? "width" : "height", (long long)k[d], d ? "width" : "height", (long long)span);
        ohw[d] = (span - k[d]) / st[d] + 1;
    }
    if ((rc = probe_conv(h, c, w)))
        return rc;
    sn_layer *s = NULL;
    if ((rc = sn_common(c, w, &s)) || (rc = sn_params(c, s, 4, (const int64_t[]){OC, C, k[0], k[1]}, bias)))
        return rc;
    s->conv = 1;
    memcpy(s->stride, st, sizeof st);
    memcpy(s->padding, pd, sizeof pd);
    strata_tensor_desc *o = &c->outputs[0];
    *o = *x;
    o->shape[0] = OC, o->shape[1] = ohw[0], o->shape[2] = ohw[1];
    return STRATA_OK;
}

/* ---- forward ---------------------------------------------------------------- */

/* a (n) /= max(||a||, eps) */
static void normalize(double *a, int64_t n, double eps)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * a[i];
    s = fmax(sqrt(s), eps);
    for (int64_t i = 0; i < n; i++)
        a[i] /= s;
}

/* The power iteration on the host: u (out), v (rest) from W (out, rest) and
 * the stored u; in training u is updated and written back. */
static strata_status power_iteration(const strata_host_api *h, const sn_layer *s, int training, float *u32, float *v32)
{
    const int64_t O = s->out, R = s->rest;
    float *W = malloc(sizeof(float) * (size_t)(O * R)); /* (O, R) */
    double *u = malloc(sizeof(double) * (size_t)O), *v = calloc((size_t)R, sizeof(double));
    strata_status rc = STRATA_OK;
    if (!W || !u || !v) {
        rc = h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for the power iteration (%lld x %lld)", s->who,
                          (sizeof(float) * (size_t)O + sizeof(double)) * (size_t)R + sizeof(double) * (size_t)O,
                          (long long)O, (long long)R);
        goto done;
    }
    if ((rc = h->tensor_read(s->w, W, sizeof(float) * (size_t)(O * R))) ||
        (rc = h->tensor_read(s->u, u32, sizeof(float) * (size_t)O)))
        goto done;
    for (int64_t i = 0; i < O; i++)
        u[i] = u32[i];
    for (int64_t it = 0; it < (training ? s->iters : 1); it++) {
        for (int64_t j = 0; j < R; j++) /* v = W^T u */
            v[j] = 0.0;
        for (int64_t i = 0; i < O; i++)
            for (int64_t j = 0; j < R; j++)
                v[j] += (double)W[i * R + j] * u[i];
        normalize(v, R, s->eps);
        if (!training)
            break;
        for (int64_t i = 0; i < O; i++) { /* u = W v */
            double a = 0.0;
            for (int64_t j = 0; j < R; j++)
                a += (double)W[i * R + j] * v[j];
            u[i] = a;
        }
        normalize(u, O, s->eps);
    }
    for (int64_t i = 0; i < O; i++)
        u32[i] = (float)u[i];
    for (int64_t j = 0; j < R; j++)
        v32[j] = (float)v[j];
    if (training)
        rc = h->tensor_write(s->u, u32, sizeof(float) * (size_t)O);
done:
    free(W);
    free(u);
    free(v);
    return rc;
}

/* W / sigma with sigma = u^T W v recorded from W (u, v constants). New reference. */
static strata_status sn_weight(const strata_layer_forward_call *c, const sn_layer *s, strata_tensor **out)
{
    const strata_host_api *h = c->host;
    strata_runtime *rt = c->rt;
    *out = NULL;
    float *u = malloc(sizeof(float) * (size_t)s->out), *v = malloc(sizeof(float) * (size_t)s->rest);
    strata_tensor *ut = NULL, *vt = NULL, *w2 = NULL, *wv = NULL, *p = NULL, *sigma = NULL;
    strata_status rc;
    if (!u || !v) {
        rc = h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for u and v", s->who,
                          sizeof(float) * (size_t)(s->out + s->rest));
        goto done;
    }
    if ((rc = power_iteration(h, s, c->training, u, v)))
        goto done;
    strata_device *dev = h->tensor_device(s->w);
    const int64_t us[2] = {1, s->out}, vs[2] = {1, s->rest}, ws[2] = {s->out, s->rest};
    strata_attr sh = strata_attr_ints("shape", ws, 2);
    if ((rc = h->tensor_from_host(dev, STRATA_F32, 2, us, u, &ut)) ||
        (rc = h->tensor_from_host(dev, STRATA_F32, 2, vs, v, &vt)) ||
        (rc = gan_op(h, rt, "core::reshape", &s->w, 1, &sh, 1, &w2)) ||
        (rc = gan_op(h, rt, "core::linear", (strata_tensor *[]){vt, w2}, 2, NULL, 0, &wv)) || /* (1, out) = (W v)^T */
        (rc = gan_op(h, rt, "core::mul", (strata_tensor *[]){wv, ut}, 2, NULL, 0, &p)) ||
        (rc = gan_op(h, rt, "core::sum", &p, 1, NULL, 0, &sigma)))
        goto done;
    rc = gan_op(h, rt, "core::div", (strata_tensor *[]){s->w, sigma}, 2, NULL, 0, out);
done:
    free(u);
    free(v);
    h->tensor_release(ut);
    h->tensor_release(vt);
    h->tensor_release(w2);
    h->tensor_release(wv);
    h->tensor_release(p);
    h->tensor_release(sigma);
    return rc;
}

static strata_status sn_forward(const strata_layer_forward_call *c)
{
    const strata_host_api *h = c->host;
    const sn_layer *s = c->state;
    strata_tensor *wsn = NULL;
    strata_status rc = sn_weight(c, s, &wsn);
    if (rc)
        return rc;
    strata_tensor *in[3] = {c->inputs[0], wsn, s->b};
    if (!s->conv) {
        rc = h->op_call(c->rt, "core::linear", in, s->b ? 3 : 2, NULL, 0, c->outputs, 1);
    } else {
        strata_attr at[4] = {strata_attr_ints("stride", s->stride, 2), strata_attr_ints("padding", s->padding, 2),
                             strata_attr_ints("dilation", (const int64_t[]){1, 1}, 2), strata_attr_int("groups", 1)};
        rc = h->op_call(c->rt, "conv::conv2d", in, s->b ? 3 : 2, at, 4, c->outputs, 1);
        if (rc == STRATA_E_NOT_FOUND)
            rc = h->set_error(STRATA_E_NOT_FOUND,
                              "%s needs the op conv::conv2d of the conv plugin, which is not loaded", s->who);
    }
    h->tensor_release(wsn);
    return rc;
}

static const strata_layer_type sn_types[2] = {
    {.struct_size = sizeof(strata_layer_type),
     .name = "sn_linear",
     .attrs = sn_linear_spec,
     .n_attrs = (int32_t)(sizeof sn_linear_spec / sizeof sn_linear_spec[0]),
     .min_inputs = 1,
     .max_inputs = 1,
     .n_outputs = 1,
     .create = sn_linear_create,
     .forward = sn_forward,
     .destroy = free_state,
     .doc = "linear layer with spectral normalisation: y = x (W / sigma(W))^T + b; buffer u"},
    {.struct_size = sizeof(strata_layer_type),
     .name = "sn_conv2d",
     .attrs = sn_conv2d_spec,
     .n_attrs = (int32_t)(sizeof sn_conv2d_spec / sizeof sn_conv2d_spec[0]),
     .min_inputs = 1,
     .max_inputs = 1,
     .n_outputs = 1,
     .create = sn_conv2d_create,
     .forward = sn_forward,
     .destroy = free_state,
     .doc = "2-D convolution with spectral normalisation (needs the conv plugin); buffer u"},
};

strata_status gan_register_spectral_norm(const strata_host_api *h, strata_plugin *p)
{
    for (int k = 0; k < 2; k++) {
        strata_status rc = h->register_layer(p, &sn_types[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
