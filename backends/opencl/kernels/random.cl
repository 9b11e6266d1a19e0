/*
 * random.cl - Philox4x32-10 exactly as strata_backend.h defines Strata's
 * stream, so every backend draws the same numbers: element i of (seed,
 * offset) takes word i % 4 of block offset + i / 4 (uniform), or words
 * 2 (i % 2), 2 (i % 2) + 1 of block offset + i / 2 (normal).
 */

#ifdef OCL_FP64
typedef double2 ocl_real2; /* (low, high), (mean, std): exact attrs */
#else
typedef float2 ocl_real2;
#endif

inline uint4 ocl_philox(ulong counter, ulong seed)
{
    uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        uint n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return (uint4)(c0, c1, c2, c3);
}

/* The 24-bit integer k of uniform element i (u = k 2^-24). */
inline uint ocl_uniform_bits(ulong seed, ulong offset, long i)
{
    uint4 b = ocl_philox(offset + (ulong)i / 4, seed);
    int w = (int)(i % 4);
    uint v = w == 0 ? b.x : w == 1 ? b.y : w == 2 ? b.z : b.w;
    return v >> 8;
}

/* y[i] = low + (high - low) u_i, computed in double and rounded once, as
 * ref does (the backend claims the op only on devices with fp64). */
__kernel void philox_uniform(__global float *y, long n, ulong seed, ulong offset, ocl_real2 low_high)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float u = (float)ocl_uniform_bits(seed, offset, i) * (1.0f / 16777216.0f);
#ifdef OCL_FP64
    y[i] = (float)(low_high.x + (low_high.y - low_high.x) * (double)u);
#else
    y[i] = low_high.x + (low_high.y - low_high.x) * u;
#endif
}

/* y[i] = mean + std n_i; n_i by Box-Muller in double (u1 in (0, 1]). */
__kernel void philox_normal(__global float *y, long n, ulong seed, ulong offset, ocl_real2 mean_std)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    uint4 b = ocl_philox(offset + (ulong)i / 2, seed);
    uint w0 = (i % 2) ? b.z : b.x, w1 = (i % 2) ? b.w : b.y;
#ifdef OCL_FP64
    double u1 = ((double)(w0 >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(w1 >> 8) * (1.0 / 16777216.0);
    float z = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    y[i] = (float)(mean_std.x + mean_std.y * (double)z);
#else
    float u1 = ((float)(w0 >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = (float)(w1 >> 8) * (1.0f / 16777216.0f);
    y[i] = mean_std.x + mean_std.y * sqrt(-2.0f * log(u1)) * cos(6.283185307f * u2);
#endif
}

/* keep_i = k_i >= thr (thr = ceil(p 2^24): the same as u_i >= p);
 * mask_i = keep_i ? kept_scale : 0; y_i = x_i mask_i. */
__kernel void philox_dropout(__global float *y, __global float *mask, __global const float *x, long x_off, long n,
                             ulong seed, ulong offset, uint thr, float kept_scale)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float m = ocl_uniform_bits(seed, offset, i) >= thr ? kept_scale : 0.0f;
    mask[i] = m;
    y[i] = x[x_off + i] * m;
}
