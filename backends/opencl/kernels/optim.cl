/*
 * optim.cl - in-place optimizer updates with PyTorch's formulas (docs/ops.md).
 * Outputs (p, slots) usually alias the inputs; each element is read fully
 * before it is written, so that is safe.
 */

/* SGD: g += wd p; momentum: buf = first ? g : momentum buf + (1 - dampening) g,
 * g = nesterov ? g + momentum buf : buf; p -= lr g. */
__kernel void sgd_step(__global float *p_out, __global float *buf_out, __global const float *p, long p_off,
                       __global const float *g, long g_off, __global const float *buf, long buf_off, long n, float lr,
                       float momentum, float dampening, float wd, int nesterov, int first)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float pi = p[p_off + i], gi = g[g_off + i], bi = buf[buf_off + i];
    if (wd != 0.0f) /* 0 wd of an infinite p would make it NaN */
        gi += wd * pi;
    if (momentum != 0.0f) {
        bi = first ? gi : momentum * bi + (1.0f - dampening) * gi;
        gi = nesterov ? gi + momentum * bi : bi;
    }
    p_out[i] = pi - lr * gi;
    buf_out[i] = bi;
}

/* Adam / AdamW: decoupled: p *= 1 - lr wd, else g += wd p;
 * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= step_size m / (sqrt(v) / sqrt_bc2 + eps), with step_size = lr / (1 - b1^t)
 * and sqrt_bc2 = sqrt(1 - b2^t) computed on the host in double, as are
 * c1 = 1 - b1 and c2 = 1 - b2 (1 - 0.99999f is 1.0001e-5). */
__kernel void adam_step(__global float *p_out, __global float *m_out, __global float *v_out, __global const float *p,
                        long p_off, __global const float *g, long g_off, __global const float *m, long m_off,
                        __global const float *v, long v_off, long n, float lr, float b1, float b2, float eps,
                        float wd, int decoupled, float step_size, float sqrt_bc2, float c1, float c2)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float pi = p[p_off + i], gi = g[g_off + i], mi = m[m_off + i], vi = v[v_off + i];
    if (decoupled)
        pi *= 1.0f - lr * wd;
    else
        if (wd != 0.0f) /* 0 wd of an infinite p would make it NaN */
        gi += wd * pi;
    mi = b1 * mi + c1 * gi;
    vi = b2 * vi + c2 * gi * gi;
    pi -= step_size * mi / (sqrt(vi) / sqrt_bc2 + eps);
    p_out[i] = pi;
    m_out[i] = mi;
    v_out[i] = vi;
}

/* RMSprop: g += wd p; sq = alpha sq + (1 - alpha) g^2 (1 - alpha from the host); d = sqrt(sq) + eps;
 * momentum > 0: buf = momentum buf + g / d, p -= lr buf; else p -= lr g / d. */
__kernel void rmsprop_step(__global float *p_out, __global float *sq_out, __global float *buf_out,
                           __global const float *p, long p_off, __global const float *g, long g_off,
                           __global const float *sq, long sq_off, __global const float *buf, long buf_off, long n,
                           float lr, float alpha, float eps, float wd, float momentum, float c_alpha)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float pi = p[p_off + i], gi = g[g_off + i], si = sq[sq_off + i], bi = buf[buf_off + i];
    if (wd != 0.0f) /* 0 wd of an infinite p would make it NaN */
        gi += wd * pi;
    si = alpha * si + c_alpha * gi * gi;
    float d = sqrt(si) + eps;
    if (momentum > 0.0f) {
        bi = momentum * bi + gi / d;
        pi -= lr * bi;
    } else {
        pi -= lr * gi / d;
    }
    p_out[i] = pi;
    sq_out[i] = si;
    buf_out[i] = bi;
}

/* Adagrad: g += wd p; sum += g^2; p -= clr g / (sqrt(sum) + eps), clr from the host. */
__kernel void adagrad_step(__global float *p_out, __global float *sum_out, __global const float *p, long p_off,
                           __global const float *g, long g_off, __global const float *sum, long sum_off, long n,
                           float clr, float wd, float eps)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float pi = p[p_off + i], gi = g[g_off + i], si = sum[sum_off + i];
    if (wd != 0.0f) /* 0 wd of an infinite p would make it NaN */
        gi += wd * pi;
    si += gi * gi;
    p_out[i] = pi - clr * gi / (sqrt(si) + eps);
    sum_out[i] = si;
}

/* The gan plugin's ema_update: out = decay ema + (1 - decay) p (out usually ema). */
__kernel void ema_update(__global float *out, __global const float *ema, long e_off, __global const float *p,
                         long p_off, long n, float decay, float keep)
{
    long i = get_global_id(0);
    if (i < n)
        out[i] = decay * ema[e_off + i] + keep * p[p_off + i];
}
