/*
 * ref_optim.c - in-place optimizer updates with PyTorch's formulas.
 *
 * Inputs are (p, g, slots...), outputs (p, slots...), and the outputs are
 * normally the same storage as the matching inputs. Each element is read
 * completely before any output element is written, so aliasing is safe.
 * Arithmetic is double per element, stored back as f32.
 */
#include <math.h>

#include "ref_internal.h"

#define REF_OPTIM_MAX_IO 4

/* The checks of kc_check_optim, then the data pointers: in[k] / out[k]
 * receive them, *n the element count. */
static strata_status ref_optim_setup(const strata_kernel_call *call, int n_in, const float **in, float **out,
                                     int64_t *n)
{
    strata_status s = kc_check_optim(call, n_in, n);
    if (s != STRATA_OK)
        return s;
    for (int k = 0; k < n_in; k++)
        in[k] = strata_desc_ptr(&call->inputs[k]);
    for (int k = 0; k < n_in - 1; k++)
        out[k] = strata_desc_ptr(&call->outputs[k]);
    return STRATA_OK;
}

#define REF_F(name, dflt) strata_attr_get_float(call->attrs, call->n_attrs, (name), (dflt))
#define REF_I(name, dflt) strata_attr_get_int(call->attrs, call->n_attrs, (name), (dflt))

/*
 * SGD with momentum; inputs p, g, buf; outputs p, buf.
 *   g += wd p
 *   if momentum: buf = first ? g : momentum buf + (1 - dampening) g
 *                g = nesterov ? g + momentum buf : buf
 *   p -= lr g
 */
REF_KERNEL(sgd_step)
{
    const float *in[REF_OPTIM_MAX_IO];
    float *out[REF_OPTIM_MAX_IO];
    int64_t n = 0;
    strata_status s = ref_optim_setup(call, 3, in, out, &n);
    if (s != STRATA_OK)
        return s;
    double lr = REF_F("lr", 1e-3), momentum = REF_F("momentum", 0.0), dampening = REF_F("dampening", 0.0);
    double wd = REF_F("weight_decay", 0.0);
    int nesterov = REF_I("nesterov", 0) != 0, first = REF_I("first", 0) != 0;

    const float *p = in[0], *g = in[1], *buf = in[2]; // (n) each
    float *p_out = out[0], *buf_out = out[1];         // (n) each, usually p and buf
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i], gi = g[i], bi = buf[i];
        gi += wd != 0.0 ? wd * pi : 0.0; /* 0 * inf is NaN: skipped, as PyTorch */
        if (momentum != 0.0) {
            bi = first ? gi : momentum * bi + (1.0 - dampening) * gi;
            gi = nesterov ? gi + momentum * bi : bi;
        }
        pi -= lr * gi;
        p_out[i] = (float)pi;
        buf_out[i] = (float)bi;
    }
    return STRATA_OK;
}

/*
 * Adam / AdamW; inputs p, g, m, v; outputs p, m, v; t = attr step.
 *   decoupled: p *= 1 - lr wd        else: g += wd p
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
REF_KERNEL(adam_step)
{
    const float *in[REF_OPTIM_MAX_IO];
    float *out[REF_OPTIM_MAX_IO];
    int64_t n = 0, t = 1;
    strata_status s = ref_optim_setup(call, 4, in, out, &n);
    if (s == STRATA_OK)
        s = kc_optim_step(call, &t);
    if (s != STRATA_OK)
        return s;
    double lr = REF_F("lr", 1e-3), b1 = REF_F("beta1", 0.9), b2 = REF_F("beta2", 0.999);
    double eps = REF_F("eps", 1e-8), wd = REF_F("weight_decay", 0.0);
    int decoupled = REF_I("decoupled", 0) != 0;
    double step_size = lr / (1.0 - pow(b1, (double)t));
    double sqrt_bc2 = sqrt(1.0 - pow(b2, (double)t));

    const float *p = in[0], *g = in[1], *m = in[2], *v = in[3]; // (n) each
    float *p_out = out[0], *m_out = out[1], *v_out = out[2];    // (n) each
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i], gi = g[i], mi = m[i], vi = v[i];
        if (decoupled)
            pi *= 1.0 - lr * wd;
        else
            gi += wd != 0.0 ? wd * pi : 0.0; /* 0 * inf is NaN: skipped, as PyTorch */
        mi = b1 * mi + (1.0 - b1) * gi;
        vi = b2 * vi + (1.0 - b2) * gi * gi;
        pi -= step_size * mi / (sqrt(vi) / sqrt_bc2 + eps);
        p_out[i] = (float)pi;
        m_out[i] = (float)mi;
        v_out[i] = (float)vi;
    }
    return STRATA_OK;
}

/*
 * RMSprop; inputs p, g, sq, buf; outputs p, sq, buf.
 *   g += wd p;  sq = alpha sq + (1 - alpha) g^2;  d = sqrt(sq) + eps
 *   momentum > 0: buf = momentum buf + g / d;  p -= lr buf
 *   else:         p -= lr g / d
 */
REF_KERNEL(rmsprop_step)
{
    const float *in[REF_OPTIM_MAX_IO];
    float *out[REF_OPTIM_MAX_IO];
    int64_t n = 0;
    strata_status s = ref_optim_setup(call, 4, in, out, &n);
    if (s != STRATA_OK)
        return s;
    double lr = REF_F("lr", 1e-2), alpha = REF_F("alpha", 0.99), eps = REF_F("eps", 1e-8);
    double wd = REF_F("weight_decay", 0.0), momentum = REF_F("momentum", 0.0);

    const float *p = in[0], *g = in[1], *sq = in[2], *buf = in[3]; // (n) each
    float *p_out = out[0], *sq_out = out[1], *buf_out = out[2];    // (n) each
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i], gi = g[i], si = sq[i], bi = buf[i];
        gi += wd != 0.0 ? wd * pi : 0.0; /* 0 * inf is NaN: skipped, as PyTorch */
        si = alpha * si + (1.0 - alpha) * gi * gi;
        double d = sqrt(si) + eps;
        if (momentum > 0.0) {
            bi = momentum * bi + gi / d;
            pi -= lr * bi;
        } else {
            pi -= lr * gi / d;
        }
        p_out[i] = (float)pi;
        sq_out[i] = (float)si;
        buf_out[i] = (float)bi;
    }
    return STRATA_OK;
}

/*
 * Adagrad; inputs p, g, sum; outputs p, sum; t = attr step.
 *   g += wd p;  clr = lr / (1 + (t - 1) lr_decay)
 *   sum += g^2;  p -= clr g / (sqrt(sum) + eps)
 */
REF_KERNEL(adagrad_step)
{
    const float *in[REF_OPTIM_MAX_IO];
    float *out[REF_OPTIM_MAX_IO];
    int64_t n = 0, t = 1;
    strata_status s = ref_optim_setup(call, 3, in, out, &n);
    if (s == STRATA_OK)
        s = kc_optim_step(call, &t);
    if (s != STRATA_OK)
        return s;
    double lr = REF_F("lr", 1e-2), lr_decay = REF_F("lr_decay", 0.0), wd = REF_F("weight_decay", 0.0);
    double eps = REF_F("eps", 1e-10);
    double clr = lr / (1.0 + (double)(t - 1) * lr_decay);

    const float *p = in[0], *g = in[1], *sum = in[2]; // (n) each
    float *p_out = out[0], *sum_out = out[1];         // (n) each
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i], gi = g[i], si = sum[i];
        gi += wd != 0.0 ? wd * pi : 0.0; /* 0 * inf is NaN: skipped, as PyTorch */
        si += gi * gi;
        pi -= clr * gi / (sqrt(si) + eps);
        p_out[i] = (float)pi;
        sum_out[i] = (float)si;
    }
    return STRATA_OK;
}
