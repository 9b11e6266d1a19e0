/*
 * cpu_optim.c - in-place optimizer updates with PyTorch's formulas.
 *
 * Inputs are (p, g, slots...), outputs (p, slots...), and the outputs are
 * normally the same storage as the matching inputs (so no restrict here).
 * Element i is read completely before element i is written, and no
 * element depends on another, so aliasing is safe and the loops
 * vectorise. Arithmetic is double per element, stored back as f32, as in
 * ref: these loops are bound by memory traffic, not by the math.
 */

#include "cpu_internal.h"

#define CPU_OPTIM_MAX_IO 4

/* The checks of kc_check_optim, then the data pointers: in[k] / out[k]
 * receive them, *n the element count. */
static strata_status cpu_optim_setup(const strata_kernel_call *call, int n_in, const float **in, float **out,
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

#define CPU_F(name, dflt) strata_attr_get_float(call->attrs, call->n_attrs, (name), (dflt))
#define CPU_I(name, dflt) strata_attr_get_int(call->attrs, call->n_attrs, (name), (dflt))

/* The L2 term wd p of the gradient, skipped when wd is 0 (as PyTorch): 0 * inf
 * would turn an infinite parameter into NaN. */
static inline double cpu_decay(double wd, double p)
{
    return wd != 0.0 ? wd * p : 0.0;
}

/* SGD over [lo, hi); see cpu_sgd_step. */
static void cpu_sgd_range(float *p_out, float *buf_out, const float *p, const float *g, const float *buf, int64_t lo,
                          int64_t hi, double lr, double momentum, double dampening, double wd, int nesterov,
                          int first)
{
    if (momentum == 0.0) {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            double pi = p[i], bi = buf[i];
            double gi = (double)g[i] + cpu_decay(wd, pi);
            p_out[i] = (float)(pi - lr * gi);
            buf_out[i] = (float)bi;
        }
    } else if (first) {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            double pi = p[i];
            double gi = (double)g[i] + cpu_decay(wd, pi);
            double bi = gi;
            gi = nesterov ? gi + momentum * bi : bi;
            p_out[i] = (float)(pi - lr * gi);
            buf_out[i] = (float)bi;
        }
    } else {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            double pi = p[i];
            double gi = (double)g[i] + cpu_decay(wd, pi);
            double bi = momentum * (double)buf[i] + (1.0 - dampening) * gi;
            gi = nesterov ? gi + momentum * bi : bi;
            p_out[i] = (float)(pi - lr * gi);
            buf_out[i] = (float)bi;
        }
    }
}

/*
 * SGD with momentum; inputs p, g, buf; outputs p, buf.
 *   g += wd p
 *   if momentum: buf = first ? g : momentum buf + (1 - dampening) g
 *                g = nesterov ? g + momentum buf : buf
 *   p -= lr g
 */
CPU_KERNEL(sgd_step)
{
    const float *in[CPU_OPTIM_MAX_IO];
    float *out[CPU_OPTIM_MAX_IO];
    int64_t n = 0;
    strata_status s = cpu_optim_setup(call, 3, in, out, &n);
    if (s != STRATA_OK)
        return s;
    double lr = CPU_F("lr", 1e-3), momentum = CPU_F("momentum", 0.0), dampening = CPU_F("dampening", 0.0);
    double wd = CPU_F("weight_decay", 0.0);
    int nesterov = CPU_I("nesterov", 0) != 0, first = CPU_I("first", 0) != 0;

    const float *p = in[0], *g = in[1], *buf = in[2]; // (n) each
    float *p_out = out[0], *buf_out = out[1];         // (n) each, usually p and buf
    CPU_PARALLEL_RANGE(n, CPU_PAR_MIN, lo, hi,
                       cpu_sgd_range(p_out, buf_out, p, g, buf, lo, hi, lr, momentum, dampening, wd, nesterov,
                                     first));
    return STRATA_OK;
}

/*
 * Adam / AdamW; inputs p, g, m, v; outputs p, m, v; t = attr step.
 *   decoupled: p *= 1 - lr wd        else: g += wd p
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
CPU_KERNEL(adam_step)
{
    const float *in[CPU_OPTIM_MAX_IO];
    float *out[CPU_OPTIM_MAX_IO];
    int64_t n = 0, t = 1;
    strata_status s = cpu_optim_setup(call, 4, in, out, &n);
    if (s == STRATA_OK)
        s = kc_optim_step(call, &t);
    if (s != STRATA_OK)
        return s;
    double lr = CPU_F("lr", 1e-3), b1 = CPU_F("beta1", 0.9), b2 = CPU_F("beta2", 0.999);
    double eps = CPU_F("eps", 1e-8), wd = CPU_F("weight_decay", 0.0);
    int decoupled = CPU_I("decoupled", 0) != 0;
    double step_size = lr / (1.0 - pow(b1, (double)t));
    double sqrt_bc2 = sqrt(1.0 - pow(b2, (double)t));
    double p_scale = decoupled ? 1.0 - lr * wd : 1.0, g_wd = decoupled ? 0.0 : wd;

    const float *p = in[0], *g = in[1], *m = in[2], *v = in[3]; // (n) each
    float *p_out = out[0], *m_out = out[1], *v_out = out[2];    // (n) each
    CPU_PARALLEL_RANGE(n, CPU_PAR_MIN, lo, hi, {
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)
        {
            double pi = (double)p[i] * p_scale;
            double gi = (double)g[i] + cpu_decay(g_wd, (double)p[i]);
            double mi = b1 * (double)m[i] + (1.0 - b1) * gi;
            double vi = b2 * (double)v[i] + (1.0 - b2) * gi * gi;
            pi -= step_size * mi / (sqrt(vi) / sqrt_bc2 + eps);
            p_out[i] = (float)pi;
            m_out[i] = (float)mi;
            v_out[i] = (float)vi;
        }
    });
    return STRATA_OK;
}

/*
 * RMSprop; inputs p, g, sq, buf; outputs p, sq, buf.
 *   g += wd p;  sq = alpha sq + (1 - alpha) g^2;  d = sqrt(sq) + eps
 *   momentum > 0: buf = momentum buf + g / d;  p -= lr buf
 *   else:         p -= lr g / d
 */
CPU_KERNEL(rmsprop_step)
{
    const float *in[CPU_OPTIM_MAX_IO];
    float *out[CPU_OPTIM_MAX_IO];
    int64_t n = 0;
    strata_status s = cpu_optim_setup(call, 4, in, out, &n);
    if (s != STRATA_OK)
        return s;
    double lr = CPU_F("lr", 1e-2), alpha = CPU_F("alpha", 0.99), eps = CPU_F("eps", 1e-8);
    double wd = CPU_F("weight_decay", 0.0), momentum = CPU_F("momentum", 0.0);

    const float *p = in[0], *g = in[1], *sq = in[2], *buf = in[3]; // (n) each
    float *p_out = out[0], *sq_out = out[1], *buf_out = out[2];    // (n) each
    CPU_PARALLEL_RANGE(n, CPU_PAR_MIN, lo, hi, {
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)
        {
            double pi = p[i], bi = buf[i];
            double gi = (double)g[i] + cpu_decay(wd, pi);
            double si = alpha * (double)sq[i] + (1.0 - alpha) * gi * gi;
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
    });
    return STRATA_OK;
}

/*
 * Adagrad; inputs p, g, sum; outputs p, sum; t = attr step.
 *   g += wd p;  clr = lr / (1 + (t - 1) lr_decay)
 *   sum += g^2;  p -= clr g / (sqrt(sum) + eps)
 */
CPU_KERNEL(adagrad_step)
{
    const float *in[CPU_OPTIM_MAX_IO];
    float *out[CPU_OPTIM_MAX_IO];
    int64_t n = 0, t = 1;
    strata_status s = cpu_optim_setup(call, 3, in, out, &n);
    if (s == STRATA_OK)
        s = kc_optim_step(call, &t);
    if (s != STRATA_OK)
        return s;
    double lr = CPU_F("lr", 1e-2), lr_decay = CPU_F("lr_decay", 0.0), wd = CPU_F("weight_decay", 0.0);
    double eps = CPU_F("eps", 1e-10);
    double clr = lr / (1.0 + (double)(t - 1) * lr_decay);

    const float *p = in[0], *g = in[1], *sum = in[2]; // (n) each
    float *p_out = out[0], *sum_out = out[1];         // (n) each
    CPU_PARALLEL_RANGE(n, CPU_PAR_MIN, lo, hi, {
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)
        {
            double pi = p[i];
            double gi = (double)g[i] + cpu_decay(wd, pi);
            double si = (double)sum[i] + gi * gi;
            p_out[i] = (float)(pi - clr * gi / (sqrt(si) + eps));
            sum_out[i] = (float)si;
        }
    });
    return STRATA_OK;
}
