/*
 * conv.cl - the conv plugin's ops: direct 2-D convolution (forward, data
 * and weight gradients; the transposed convolution is the data gradient
 * with a bias), max and average pooling and their backward.
 *
 * Geometry travels as one long16 (see ocl_conv.c):
 *   N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups
 * x (N, C, H, W), w (OC, C/groups, KH, KW), y (N, OC, OH, OW), all NCHW.
 */
#define CONV_GEOM                                                                                              \
    long g_[16];                                                                                               \
    vstore16(geom, 0, g_);                                                                                     \
    const long N = g_[0], C = g_[1], H = g_[2], W = g_[3], OC = g_[4], KH = g_[5], KW = g_[6], OH = g_[7],      \
               OW = g_[8], sh = g_[9], sw = g_[10], ph = g_[11], pw = g_[12], dh = g_[13], dw = g_[14],         \
               G = g_[15];                                                                                     \
    const long Cg = C / G, OCg = OC / G

/* y[n, o, i, j] = b[o] + sum_{c < Cg, kh, kw} w[o, c, kh, kw] x[n, g Cg + c, i sh - ph + kh dh, j sw - pw + kw dw]. */
__kernel void conv2d_fwd(__global float *y, __global const float *x, long x_off, __global const float *w, long w_off,
                         __global const float *b, long b_off, int has_bias, long16 geom)
{
    CONV_GEOM;
    const long idx = get_global_id(0);
    if (idx >= N * OC * OH * OW)
        return;
    const long j = idx % OW, i = (idx / OW) % OH, o = (idx / (OW * OH)) % OC, n = idx / (OW * OH * OC);
    const long grp = o / OCg;
    float acc = 0.0f;
    for (long c = 0; c < Cg; c++) {
        __global const float *xp = x + x_off + ((n * C + grp * Cg + c) * H) * W;
        __global const float *wp = w + w_off + ((o * Cg + c) * KH) * KW;
        for (long kh = 0; kh < KH; kh++) {
            long h = i * sh - ph + kh * dh;
            if (h < 0 || h >= H)
                continue;
            for (long kw = 0; kw < KW; kw++) {
                long ww = j * sw - pw + kw * dw;
                if (ww >= 0 && ww < W)
                    acc = fma(wp[kh * KW + kw], xp[h * W + ww], acc);
            }
        }
    }
    y[idx] = acc + (has_bias ? b[b_off + o] : 0.0f);
}

/* dx[n, c, h, w] = sum over o of c's group, kh, kw with h = i sh - ph + kh dh
 * (likewise w) of w[o, c % Cg, kh, kw] dy[n, o, i, j]; plus b[c] when
 * has_bias (the transposed convolution, whose geometry ocl_conv.c maps
 * onto this one). */
__kernel void conv2d_bwd_data(__global float *dx, __global const float *dy, long dy_off, __global const float *w,
                              long w_off, __global const float *b, long b_off, int has_bias, long16 geom)
{
    CONV_GEOM;
    const long idx = get_global_id(0);
    if (idx >= N * C * H * W)
        return;
    const long x_w = idx % W, h = (idx / W) % H, c = (idx / (W * H)) % C, n = idx / (W * H * C);
    const long grp = c / Cg, cc = c - grp * Cg;
    float acc = 0.0f;
    for (long kh = 0; kh < KH; kh++) {
        long t = h + ph - kh * dh;
        if (t < 0 || t % sh)
            continue;
        long i = t / sh;
        if (i >= OH)
            continue;
        for (long kw = 0; kw < KW; kw++) {
            long u = x_w + pw - kw * dw;
            if (u < 0 || u % sw)
                continue;
            long j = u / sw;
            if (j >= OW)
                continue;
            for (long o = grp * OCg; o < (grp + 1) * OCg; o++)
                acc = fma(w[w_off + ((o * Cg + cc) * KH + kh) * KW + kw], dy[dy_off + ((n * OC + o) * OH + i) * OW + j],
                          acc);
        }
    }
    dx[idx] = acc + (has_bias ? b[b_off + c] : 0.0f);
}

/* dw[o, c, kh, kw] = sum over n, i, j of dy[n, o, i, j] x[n, g Cg + c, ...]:
 * one work-group per weight element, its items striding over (n, i). */
#define CONV_WG 256
__kernel void conv2d_bwd_weight(__global float *dwt, __global const float *dy, long dy_off, __global const float *x,
                                long x_off, long16 geom)
{
    CONV_GEOM;
    __local float part[CONV_WG];
    const long idx = get_group_id(0);
    const int lid = get_local_id(0), ls = get_local_size(0);
    const long kw = idx % KW, kh = (idx / KW) % KH, c = (idx / (KW * KH)) % Cg, o = idx / (KW * KH * Cg);
    const long grp = o / OCg;
    /* items stride over the output rows (n, i); the columns j run inside,
     * so the index arithmetic is per row, not per term */
    const long lo = pw - kw * dw, hi = W - 1 + pw - kw * dw; /* j sw in [lo, hi] keeps the tap inside */
    const long j0 = lo > 0 ? (lo + sw - 1) / sw : 0, j1 = hi < 0 ? 0 : min(OW, hi / sw + 1);
    float acc = 0.0f;
    for (long r = lid; r < N * OH; r += ls) {
        const long n = r / OH, i = r - n * OH, h = i * sh - ph + kh * dh;
        if (h < 0 || h >= H)
            continue;
        const long yb = dy_off + (n * OC + o) * OH * OW + i * OW;
        const long xb = x_off + ((n * C + grp * Cg + c) * H + h) * W - lo; /* + j sw: column j sw - lo */
        for (long j = j0; j < j1; j++)
            acc = fma(dy[yb + j], x[xb + j * sw], acc);
    }
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ls / 2; s > 0; s >>= 1) {
        if (lid < s)
            part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        dwt[idx] = part[0];
}

/* Pooling geometry (long16): NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw,
 * count_include_pad. */
#define POOL_GEOM                                                                                              \
    long g_[16];                                                                                               \
    vstore16(geom, 0, g_);                                                                                     \
    const long NC = g_[0], H = g_[1], W = g_[2], OH = g_[3], OW = g_[4], KH = g_[5], KW = g_[6], sh = g_[7],    \
               sw = g_[8], ph = g_[9], pw = g_[10];                                                            \
    const int include_pad = g_[11] != 0

/* y = max over each window (padding never chosen), idx = h W + w of the
 * first maximum in row-major window order; a NaN wins. */
__kernel void max_pool2d_fwd(__global float *y, __global long *ind, __global const float *x, long x_off, long16 geom)
{
    POOL_GEOM;
    const long idx = get_global_id(0);
    if (idx >= NC * OH * OW)
        return;
    const long j = idx % OW, i = (idx / OW) % OH, pl = idx / (OW * OH);
    __global const float *xp = x + x_off + pl * H * W;
    const long a = i * sh - ph, bb = j * sw - pw;
    const long h0 = max(a, 0L), h1 = min(a + KH, H), w0 = max(bb, 0L), w1 = min(bb + KW, W);
    float best = xp[h0 * W + w0];
    long at = h0 * W + w0;
    for (long h = h0; h < h1; h++)
        for (long w = w0; w < w1; w++) {
            float v = xp[h * W + w];
            if (v > best || isnan(v)) {
                best = v;
                at = h * W + w;
            }
        }
    y[idx] = best;
    ind[idx] = at;
}

/* dx (plane of H W) = scatter-add of dy at the indices; one item per plane
 * (no races; indices checked on the host). With fp64 the sums go through
 * the double scratch acc (planes H W), so a pixel that several windows
 * chose gets one rounding, as ref gives; the backend claims the op only
 * on such devices. */
#ifdef OCL_FP64
typedef double pool_acc_t;
#else
typedef float pool_acc_t;
#endif
__kernel void max_pool2d_bwd(__global float *dx, __global pool_acc_t *acc, __global const float *dy, long dy_off,
                             __global const long *ind, long ind_off, long planes, long HW, long P)
{
    const long pl = get_global_id(0);
    if (pl >= planes)
        return;
    __global float *d = dx + pl * HW;
    __global pool_acc_t *a = acc + pl * HW;
    for (long k = 0; k < HW; k++)
        a[k] = 0;
    for (long q = 0; q < P; q++)
        a[ind[ind_off + pl * P + q]] += (pool_acc_t)dy[dy_off + pl * P + q];
    for (long k = 0; k < HW; k++)
        d[k] = (float)a[k];
}

inline float pool_inv_divisor(long i, long j, long H, long W, long KH, long KW, long sh, long sw, long ph, long pw,
                              int include_pad)
{
    if (include_pad)
        return 1.0f / (float)(KH * KW);
    long a = i * sh - ph, bb = j * sw - pw;
    long h0 = max(a, 0L), h1 = min(a + KH, H), w0 = max(bb, 0L), w1 = min(bb + KW, W);
    return 1.0f / (float)((h1 - h0) * (w1 - w0));
}

/* y = mean over each window (padding counts as zeros). */
__kernel void avg_pool2d_fwd(__global float *y, __global const float *x, long x_off, long16 geom)
{
    POOL_GEOM;
    const long idx = get_global_id(0);
    if (idx >= NC * OH * OW)
        return;
    const long j = idx % OW, i = (idx / OW) % OH, pl = idx / (OW * OH);
    __global const float *xp = x + x_off + pl * H * W;
    const long a = i * sh - ph, bb = j * sw - pw;
    const long h0 = max(a, 0L), h1 = min(a + KH, H), w0 = max(bb, 0L), w1 = min(bb + KW, W);
    float s = 0.0f;
    for (long h = h0; h < h1; h++)
        for (long w = w0; w < w1; w++)
            s += xp[h * W + w];
    y[idx] = s * pool_inv_divisor(i, j, H, W, KH, KW, sh, sw, ph, pw, include_pad);
}

/* dx[h, w] = sum over the windows that hold (h, w) of dy / divisor. */
__kernel void avg_pool2d_bwd(__global float *dx, __global const float *dy, long dy_off, long16 geom)
{
    POOL_GEOM;
    const long idx = get_global_id(0);
    if (idx >= NC * H * W)
        return;
    const long w = idx % W, h = (idx / W) % H, pl = idx / (W * H);
    __global const float *dp = dy + dy_off + pl * OH * OW;
    /* windows i with i sh - ph <= h < i sh - ph + KH */
    long i0 = h + ph - KH + 1, j0 = w + pw - KW + 1;
    i0 = i0 <= 0 ? 0 : (i0 + sh - 1) / sh;
    j0 = j0 <= 0 ? 0 : (j0 + sw - 1) / sw;
    const long i1 = min((h + ph) / sh, OH - 1), j1 = min((w + pw) / sw, OW - 1);
    float s = 0.0f;
    for (long i = i0; i <= i1; i++)
        for (long j = j0; j <= j1; j++)
            s += dp[i * OW + j] * pool_inv_divisor(i, j, H, W, KH, KW, sh, sw, ph, pw, include_pad);
    dx[idx] = s;
}
