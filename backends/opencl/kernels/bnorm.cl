/*
 * bnorm.cl - the conv plugin's batch normalisation and channel dropout.
 * x is (N, C, S) with S the product of the dims after C; one work-group
 * per channel c walks its M = N S values (n, c, s) at n C S + c S + s.
 * Statistics are two-pass (mean, then the mean square deviation), of the
 * values less the channel's first: a constant channel's variance is then
 * exactly 0 (its float sum need not be exact, and 1e-9 for 0 made invstd
 * 1e8 where PyTorch's is 0 with eps 0), and a large offset costs no digits
 * (a first value that is not finite, or beyond 1e30, shifts by 0).
 */
#define BN_WG 256

/* Sum over the group of v (every item gets it); part holds BN_WG floats. */
inline float bn_group_sum(__local float *part, float v)
{
    const int lid = get_local_id(0), ls = get_local_size(0);
    part[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls / 2; w > 0; w >>= 1) {
        if (lid < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

#define BN_AT(r) ((((r) / S) * C + c) * S + (r) % S)

/* Batch mean and biased variance of channel c (group-wide). */
inline void bn_stats(__local float *part, __global const float *x, long N, long C, long S, long c, float *mean,
                     float *var)
{
    const int lid = get_local_id(0), ls = get_local_size(0);
    const long M = N * S;
    /* an Inf first value would make every difference NaN, and one near the float range overflow them: 0 then */
    const float first = x[BN_AT(0)], x0 = isfinite(first) && fabs(first) < 1e30f ? first : 0.0f;
    float s = 0.0f;
    for (long r = lid; r < M; r += ls)
        s += x[BN_AT(r)] - x0;
    const float md = bn_group_sum(part, s) / (float)M; /* the mean less x0 */
    float q = 0.0f;
    for (long r = lid; r < M; r += ls) {
        float d = (x[BN_AT(r)] - x0) - md;
        q += d * d;
    }
    *mean = x0 + md;
    *var = bn_group_sum(part, q) / (float)M;
}

/* y = (x - mean) invstd w + b; training: batch statistics, else the
 * running ones. mean and invstd (C) get the statistics used. */
__kernel void bn_fwd(__global float *y, __global float *mean_out, __global float *invstd_out, __global const float *x,
                     long x_off, __global const float *w, long w_off, __global const float *b, long b_off,
                     __global const float *rm, long rm_off, __global const float *rv, long rv_off, long N, long C,
                     long S, int training, float eps)
{
    __local float part[BN_WG];
    const long c = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    x += x_off;
    float mean, var;
    if (training) {
        bn_stats(part, x, N, C, S, c, &mean, &var);
    } else {
        mean = rm[rm_off + c];
        var = rv[rv_off + c];
    }
    /* a constant channel with eps 0 gets invstd 0 in training, so y is the bias (as PyTorch) */
    const float invstd = training && var == 0.0f && eps == 0.0f ? 0.0f : 1.0f / sqrt(var + eps), scale = invstd * w[w_off + c], shift = b[b_off + c];
    for (long r = lid; r < N * S; r += ls) {
        long k = BN_AT(r);
        y[k] = (x[k] - mean) * scale + shift;
    }
    if (lid == 0) {
        mean_out[c] = mean;
        invstd_out[c] = invstd;
    }
}

/* xhat = (x - mean) invstd: dbias = sum dy, dweight = sum dy xhat; training:
 * dx = w invstd (dy - dbias / M - xhat dweight / M), eval: dx = w invstd dy. */
__kernel void bn_bwd(__global float *dx, __global float *dw, __global float *db, __global const float *dy, long dy_off,
                     __global const float *x, long x_off, __global const float *w, long w_off,
                     __global const float *mean, long mean_off, __global const float *invstd, long inv_off, long N,
                     long C, long S, int training)
{
    __local float part[BN_WG];
    const long c = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    const long M = N * S;
    dy += dy_off;
    x += x_off;
    const float m = mean[mean_off + c], is = invstd[inv_off + c], wc = w[w_off + c];
    float sdy = 0.0f, sdx = 0.0f;
    for (long r = lid; r < M; r += ls) {
        long k = BN_AT(r);
        sdy += dy[k];
        sdx += dy[k] * (x[k] - m) * is;
    }
    const float dbias = bn_group_sum(part, sdy), dweight = bn_group_sum(part, sdx);
    for (long r = lid; r < M; r += ls) {
        long k = BN_AT(r);
        float g = dy[k];
        if (training)
            g -= (dbias + (x[k] - m) * is * dweight) / (float)M;
        dx[k] = wc * is * g;
    }
    if (lid == 0) {
        dw[c] = dweight;
        db[c] = dbias;
    }
}

/* running_mean = (1 - mom) running_mean + mom mean(x); running_var =
 * (1 - mom) running_var + mom var(x) M / (M - 1); nbt + 1 (group 0). */
__kernel void bn_update_stats(__global float *rm_out, __global float *rv_out, __global long *nbt_out,
                              __global const float *rm, long rm_off, __global const float *x, long x_off,
                              __global const float *rv, long rv_off, __global const long *nbt, long nbt_off, long N,
                              long C, long S, float mom)
{
    __local float part[BN_WG];
    const long c = get_group_id(0);
    float mean, var;
    bn_stats(part, x + x_off, N, C, S, c, &mean, &var);
    if (get_local_id(0) != 0)
        return;
    const float M = (float)(N * S);
    rm_out[c] = (1.0f - mom) * rm[rm_off + c] + mom * mean;
    rv_out[c] = (1.0f - mom) * rv[rv_off + c] + mom * var * M / (M - 1.0f);
    if (c == 0)
        nbt_out[0] = nbt[nbt_off] + 1;
}

/* Channel (n, c) kept iff Philox uniform element n C + c >= p (the integer
 * test of random.cl); mask (N C) = keep kept_scale, y = x mask. */
__kernel void dropout2d_fwd(__global float *y, __global float *mask, __global const float *x, long x_off, long NC,
                            long S, ulong seed, ulong offset, uint thr, float kept_scale)
{
    long i = get_global_id(0);
    if (S == 0) { /* no elements: the mask is still defined, one item per channel */
        if (i < NC)
            mask[i] = ocl_uniform_bits(seed, offset, i) >= thr ? kept_scale : 0.0f;
        return;
    }
    if (i >= NC * S)
        return;
    long nc = i / S;
    float m = ocl_uniform_bits(seed, offset, nc) >= thr ? kept_scale : 0.0f;
    y[i] = x[x_off + i] * m;
    if (i - nc * S == 0)
        mask[nc] = m;
}
