/*
 * losses.c - the GAN losses as ops, each defined by a composite of core ops
 * so that autograd differentiates them on every backend:
 *
 *   gan::d_loss  real_logits (N, ...), fake_logits (M, ...) -> loss ()
 *   gan::g_loss  fake_logits (M, ...)                       -> loss ()
 *
 * attr kind (string, default "non_saturating"). With r = D(x) the
 * discriminator's logits on real data, f = D(G(z)) those on generated data,
 * E the mean over all elements, sp(t) = log(1 + e^t) (softplus, via
 * core::bce_with_logits against zeros: stable for any t):
 *
 *   kind            d_loss                          g_loss
 *   minimax         E sp(-r) + E sp(f)              -E sp(f)        = E log(1 - sigmoid f)
 *   non_saturating  as minimax                      E sp(-f)        = -E log sigmoid f
 *   least_squares   0.5 E (r - 1)^2 + 0.5 E f^2     0.5 E (f - 1)^2
 *   hinge           E relu(1 - r) + E relu(1 + f)   -E f
 *   wasserstein     E f - E r                       -E f
 *
 * (Goodfellow et al. 2014; Mao et al. 2017 with a = 0, b = c = 1; Lim & Ye
 * 2017, Miyato et al. 2018; Arjovsky et al. 2017.) kind "wgan_gp" is
 * refused with STRATA_E_UNSUPPORTED: its gradient penalty is the norm of a
 * gradient, whose own gradient needs double backward, and Strata's backward
 * runs unrecorded (strata_plugin.h).
 */
#include <string.h>

#include "gan_internal.h"

typedef enum gan_kind { K_MINIMAX, K_NON_SATURATING, K_LEAST_SQUARES, K_HINGE, K_WASSERSTEIN } gan_kind;

static const char *const kind_names[] = {"minimax", "non_saturating", "least_squares", "hinge", "wasserstein"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
#define KIND_LIST "minimax, non_saturating, least_squares, hinge, wasserstein"

static strata_status read_kind(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                               gan_kind *kind)
{
    const strata_attr *a = strata_attr_find(attrs, n, "kind");
    if (a && (a->kind != STRATA_ATTR_STRING || !a->s))
        return h->set_error(STRATA_E_INVALID, "%s: attr kind must be a string, one of %s", op, KIND_LIST);
    const char *v = a ? a->s : "non_saturating";
    for (int k = 0; k < N_KINDS; k++)
        if (!strcmp(v, kind_names[k])) {
            *kind = (gan_kind)k;
            return STRATA_OK;
        }
    if (!strcmp(v, "wgan_gp"))
        return h->set_error(STRATA_E_UNSUPPORTED,
                            "%s: kind \"wgan_gp\" is not supported: the WGAN-GP gradient penalty "
                            "E[(||grad_x D(x_hat)||_2 - 1)^2] needs the gradient of a gradient (double backward), "
                            "which Strata's autograd does not do (backward runs unrecorded, so a gradient cannot "
                            "itself be differentiated); use kind \"wasserstein\" with spectral normalisation "
                            "(sn_linear, sn_conv2d layers) or kind \"hinge\" instead",
                            op);
    return h->set_error(STRATA_E_INVALID, "%s: unknown kind \"%s\" (kinds: %s)", op, v, KIND_LIST);
}

/* Logits input @p k: f32, (N, ...) with N >= 1 and no empty dimension. */
static strata_status check_logits(const strata_host_api *h, const char *op, const strata_tensor_desc *x, int k,
                                  const char *name)
{
    char s[96];
    if (x->dtype != STRATA_F32)
        return h->set_error(STRATA_E_DTYPE, "%s: %s (input %d) must be f32, got dtype %d", op, name, k, (int)x->dtype);
    if (x->ndim < 1 || gan_numel(x->ndim, x->shape) < 1)
        return h->set_error(STRATA_E_SHAPE, "%s: %s (input %d) must be (N, ...) with at least one element, got %s", op,
                            name, k, gan_shape_str(s, sizeof s, x->ndim, x->shape));
    return STRATA_OK;
}

static strata_status check_inputs(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                                  const strata_attr *attrs, int n_attrs, gan_kind *kind)
{
    strata_status rc = read_kind(h, op, attrs, n_attrs, kind);
    if (rc)
        return rc;
    if (n_in == 1)
        return check_logits(h, op, &in[0], 0, "fake_logits");
    if ((rc = check_logits(h, op, &in[0], 0, "real_logits")) || (rc = check_logits(h, op, &in[1], 1, "fake_logits")))
        return rc;
    const strata_tensor_desc *r = &in[0], *f = &in[1];
    if (r->ndim != f->ndim || memcmp(r->shape + 1, f->shape + 1, sizeof(int64_t) * (size_t)(r->ndim - 1))) {
        char a[96], b[96];
        return h->set_error(STRATA_E_SHAPE,
                            "%s: real_logits (input 0) %s and fake_logits (input 1) %s must have the same shape "
                            "after the batch dimension",
                            op, gan_shape_str(a, sizeof a, r->ndim, r->shape),
                            gan_shape_str(b, sizeof b, f->ndim, f->shape));
    }
    return STRATA_OK;
}

static strata_status infer_loss(const strata_infer_call *c)
{
    gan_kind kind;
    strata_status rc = check_inputs(gan_host(c->user), c->op, c->inputs, c->n_inputs, c->attrs, c->n_attrs, &kind);
    if (rc)
        return rc;
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = 0; /* a 0-d loss */
    return STRATA_OK;
}

/* ---- the composite ----------------------------------------------------------- */

/* Owned intermediate references, released together. */
typedef struct tmp_list {
    strata_tensor *t[16];
    int n;
} tmp_list;

typedef struct loss_ctx {
    const strata_host_api *h;
    strata_runtime *rt;
    tmp_list l;
} loss_ctx;

/* Runs @p op; the result is kept in the list (borrowed through *out). */
static strata_status step(loss_ctx *x, const char *op, strata_tensor *a, strata_tensor *b, const strata_attr *at,
                          int n_at, strata_tensor **out)
{
    strata_tensor *in[2] = {a, b};
    strata_status rc = gan_op(x->h, x->rt, op, in, b ? 2 : 1, at, n_at, out);
    if (!rc)
        x->l.t[x->l.n++] = *out;
    return rc;
}

static strata_status scale(loss_ctx *x, strata_tensor *t, double alpha, double beta, strata_tensor **out)
{
    strata_attr at[2] = {strata_attr_float("alpha", alpha), strata_attr_float("beta", beta)};
    return step(x, "core::scale", t, NULL, at, 2, out);
}

static strata_status mean(loss_ctx *x, strata_tensor *t, strata_tensor **out)
{
    return step(x, "core::mean", t, NULL, NULL, 0, out);
}

/* E sp(sign t): bce_with_logits(sign t, 0) = max(u, 0) + log(1 + exp(-|u|)) = sp(u). */
static strata_status softplus_mean(loss_ctx *x, strata_tensor *t, double sign, strata_tensor **out)
{
    const strata_host_api *h = x->h;
    strata_tensor *u = t, *zeros = NULL;
    strata_status rc = STRATA_OK;
    if (sign < 0 && (rc = scale(x, t, -1.0, 0.0, &u)))
        return rc;
    if ((rc = h->tensor_zeros(h->tensor_device(t), STRATA_F32, h->tensor_ndim(t), h->tensor_shape(t), &zeros)))
        return rc;
    x->l.t[x->l.n++] = zeros;
    strata_attr red = strata_attr_string("reduction", "mean");
    return step(x, "core::bce_with_logits", u, zeros, &red, 1, out);
}

/* E (t - c)^2 */
static strata_status sq_mean(loss_ctx *x, strata_tensor *t, double c, strata_tensor **out)
{
    strata_tensor *d = NULL, *sq = NULL;
    strata_status rc;
    if ((rc = scale(x, t, 1.0, -c, &d)) || (rc = step(x, "core::mul", d, d, NULL, 0, &sq)))
        return rc;
    return mean(x, sq, out);
}

/* E relu(alpha t + beta) */
static strata_status relu_mean(loss_ctx *x, strata_tensor *t, double alpha, double beta, strata_tensor **out)
{
    strata_tensor *s = NULL, *r = NULL;
    strata_status rc;
    if ((rc = scale(x, t, alpha, beta, &s)) || (rc = step(x, "core::relu", s, NULL, NULL, 0, &r)))
        return rc;
    return mean(x, r, out);
}

static strata_status d_loss_of(loss_ctx *x, gan_kind kind, strata_tensor *r, strata_tensor *f, strata_tensor **out)
{
    strata_tensor *a = NULL, *b = NULL, *s = NULL;
    strata_status rc;
    switch (kind) {
    case K_MINIMAX:
    case K_NON_SATURATING: /* -log sigmoid(r) - log(1 - sigmoid(f)) */
        if ((rc = softplus_mean(x, r, -1.0, &a)) || (rc = softplus_mean(x, f, 1.0, &b)))
            return rc;
        return step(x, "core::add", a, b, NULL, 0, out);
    case K_LEAST_SQUARES:
        if ((rc = sq_mean(x, r, 1.0, &a)) || (rc = sq_mean(x, f, 0.0, &b)) ||
            (rc = step(x, "core::add", a, b, NULL, 0, &s)))
            return rc;
        return scale(x, s, 0.5, 0.0, out);
    case K_HINGE:
        if ((rc = relu_mean(x, r, -1.0, 1.0, &a)) || (rc = relu_mean(x, f, 1.0, 1.0, &b)))
            return rc;
        return step(x, "core::add", a, b, NULL, 0, out);
    case K_WASSERSTEIN:
        if ((rc = mean(x, f, &a)) || (rc = mean(x, r, &b)))
            return rc;
        return step(x, "core::sub", a, b, NULL, 0, out);
    }
    return x->h->set_error(STRATA_E_INTERNAL, "gan::d_loss: kind %d", (int)kind);
}

static strata_status g_loss_of(loss_ctx *x, gan_kind kind, strata_tensor *f, strata_tensor **out)
{
    strata_tensor *a = NULL;
    strata_status rc;
    switch (kind) {
    case K_MINIMAX: /* log(1 - sigmoid(f)) = -sp(f) */
        if ((rc = softplus_mean(x, f, 1.0, &a)))
            return rc;
        return scale(x, a, -1.0, 0.0, out);
    case K_NON_SATURATING: /* -log sigmoid(f) = sp(-f) */
        return softplus_mean(x, f, -1.0, out);
    case K_LEAST_SQUARES:
        if ((rc = sq_mean(x, f, 1.0, &a)))
            return rc;
        return scale(x, a, 0.5, 0.0, out);
    case K_HINGE:
    case K_WASSERSTEIN:
        if ((rc = mean(x, f, &a)))
            return rc;
        return scale(x, a, -1.0, 0.0, out);
    }
    return x->h->set_error(STRATA_E_INTERNAL, "gan::g_loss: kind %d", (int)kind);
}

static strata_status composite_loss(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    strata_tensor_desc d[2];
    for (int k = 0; k < c->n_inputs; k++) {
        d[k].struct_size = sizeof d[k];
        strata_status rc = h->tensor_desc(c->inputs[k], &d[k]);
        if (rc)
            return rc;
    }
    gan_kind kind;
    strata_status rc = check_inputs(h, c->op, d, c->n_inputs, c->attrs, c->n_attrs, &kind);
    if (rc)
        return rc;
    loss_ctx x = {.h = h, .rt = c->rt, .l = {.n = 0}};
    strata_tensor *y = NULL;
    rc = c->n_inputs == 2 ? d_loss_of(&x, kind, c->inputs[0], c->inputs[1], &y) : g_loss_of(&x, kind, c->inputs[0], &y);
    if (!rc)
        c->outputs[0] = h->tensor_retain(y);
    for (int k = 0; k < x.l.n; k++)
        h->tensor_release(x.l.t[k]);
    return rc;
}

/* The one attribute the losses take (checked by the core on every call, ABI 1.4). */
static const strata_attr_spec loss_attrs[1] = {
    {sizeof(strata_attr_spec), "kind", STRATA_ATTR_STRING, 0, 0, 0.0, "non_saturating", KIND_LIST},
};

strata_status gan_register_losses(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def defs[2] = {
        {.struct_size = sizeof(strata_op_def),
         .name = "gan::d_loss",
         .version = 1,
         .min_inputs = 2,
         .max_inputs = 2,
         .n_outputs = 1,
         .infer = infer_loss,
         .composite = composite_loss,
         .user = (void *)(uintptr_t)h,
         .doc = "discriminator loss: (real_logits (N, ...), fake_logits (M, ...)) -> (); kind minimax | "
                "non_saturating | least_squares | hinge | wasserstein",
         .attrs = loss_attrs,
         .n_attrs = 1},
        {.struct_size = sizeof(strata_op_def),
         .name = "gan::g_loss",
         .version = 1,
         .min_inputs = 1,
         .max_inputs = 1,
         .n_outputs = 1,
         .infer = infer_loss,
         .composite = composite_loss,
         .user = (void *)(uintptr_t)h,
         .doc = "generator loss: fake_logits (M, ...) -> (); kind minimax | non_saturating | least_squares | hinge "
                "| wasserstein",
         .attrs = loss_attrs,
         .n_attrs = 1},
    };
    for (int k = 0; k < 2; k++) {
        strata_status rc = h->register_op(p, &defs[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
