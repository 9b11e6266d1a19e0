/*
 * conv_gemm.cl - the pieces around the GEMM that run a convolution as
 * matrix products (ocl_conv_gemm.c): im2col, the col2im sum, the weight
 * gradient's repacking of dy, and the forward's bias.
 *
 * Geometry is conv.cl's long16 (CONV_GEOM), groups 1 only. The columns of
 * one image, col (C KH KW, OH OW), row r = (c KH + kh) KW + kw, column
 * p = i OW + j:
 *   col[r, p] = x[n, c, i sh - ph + kh dh, j sw - pw + kw dw]   (0 in the padding)
 * A chunk of nb images holds element (n, r, p) at n s_n + r s_r + p, so
 * the forward's (nb, CKK, P) and the weight gradient's (CKK, nb P) come
 * from one kernel.
 *
 * Items own whole planes (one row r of col for one image, one channel of
 * dx): the index arithmetic and the padding bounds are worked out once per
 * plane or row, not per element, which is what costs on a CPU device
 * (PoCL: im2col of W2's second layer 0.7 ms with an item per element row,
 * 0.5 ms with an item per plane). A GPU wants the opposite: the *_el
 * kernels at the end give each element its own item, so neighbouring items
 * touch neighbouring addresses and there are enough of them to fill the
 * device; each writes what its plane kernel writes, the same sums in the
 * same order (bit-identical).
 */

/* The columns j in [*j0, *j1) of an output row whose tap lands inside the
 * input row (0 <= w0 + j sw < W), clamped to [0, OW). */
inline void conv_cols_inside(long w0, long sw, long W, long OW, long *j0, long *j1)
{
    long a = w0 >= 0 ? 0 : (-w0 + sw - 1) / sw;
    long b = W - 1 - w0 < 0 ? 0 : (W - 1 - w0) / sw + 1;
    *j0 = min(a, OW);
    *j1 = max(*j0, min(b, OW));
}

/* col rows of images n0 .. n0 + nb - 1 of x: one item per (r, n), the
 * two dims of the range, each writing the row's OH OW columns. */
__kernel void conv_im2col(__global float *col, long s_n, long s_r, __global const float *x, long x_off, long n0,
                          long16 geom)
{
    CONV_GEOM;
    const long r = get_global_id(0), n = get_global_id(1);
    const long kw = r % KW, kh = (r / KW) % KH, c = r / (KH * KW), w0 = kw * dw - pw;
    __global float *out = col + n * s_n + r * s_r; /* (OH, OW) */
    long j0, j1;
    conv_cols_inside(w0, sw, W, OW, &j0, &j1);
    __global const float *xp = x + x_off + ((n0 + n) * C + c) * H * W;
    for (long i = 0; i < OH; i++, out += OW) {
        const long h = i * sh - ph + kh * dh;
        const long a = h >= 0 && h < H ? j0 : OW, b = h >= 0 && h < H ? j1 : OW;
        const long xb = h * W + w0; /* + j sw: x's column w0 + j sw */
        long j = 0;
        for (; j < a; j++)
            out[j] = 0.0f;
        for (; j < b; j++)
            out[j] = xp[xb + j * sw];
        for (; j < OW; j++)
            out[j] = 0.0f;
    }
}

/* dx[n0 + n, c] (H, W) = the sum of the col entries that land on each
 * element [+ b[c]], col (nb, CKK, P) holding w^T dy per image. One item
 * per (c, n) plane sums into its own plane, taps in (kh, kw) order (a tap
 * reaches an element at most once), so there are no races and every
 * element's sum has one fixed order. */
__kernel void conv_col2im(__global float *dx, long dx_off, __global const float *col, __global const float *b,
                          long b_off, int has_bias, long n0, long16 geom)
{
    CONV_GEOM;
    const long KK = KH * KW, P = OH * OW;
    const long c = get_global_id(0), n = get_global_id(1);
    __global float *out = dx + dx_off + ((n0 + n) * C + c) * H * W; /* (H, W) */
    __global const float *cr = col + (n * C + c) * KK * P;          /* (KH, KW, OH, OW) */
    for (long e = 0; e < H * W; e++)
        out[e] = 0.0f;
    for (long kh = 0; kh < KH; kh++)
        for (long kw = 0; kw < KW; kw++, cr += P) {
            const long w0 = kw * dw - pw; /* the column of j = 0 */
            long j0, j1;
            conv_cols_inside(w0, sw, W, OW, &j0, &j1);
            for (long i = 0; i < OH; i++) {
                const long h = i * sh - ph + kh * dh;
                if (h < 0 || h >= H)
                    continue;
                __global float *o = out + h * W + w0; /* + j sw */
                for (long j = j0; j < j1; j++)
                    o[j * sw] += cr[i * OW + j];
            }
        }
    if (has_bias) {
        const float bc = b[b_off + c];
        for (long e = 0; e < H * W; e++)
            out[e] += bc;
    }
}

/* dyt (OC, nb P) = dy's images n0 .. n0 + nb - 1, channel-major, so the
 * weight gradient's GEMM sums over (n, p) as one inner dimension. One
 * item per (o, n). */
__kernel void conv_pack_dy(__global float *dyt, __global const float *dy, long dy_off, long n0, long nb, long16 geom)
{
    CONV_GEOM;
    const long P = OH * OW;
    const long row = get_global_id(0);
    if (row >= OC * nb)
        return;
    const long n = row % nb, o = row / nb;
    __global float *out = dyt + (o * nb + n) * P;
    __global const float *in = dy + dy_off + ((n0 + n) * OC + o) * P;
    for (long p = 0; p < P; p++)
        out[p] = in[p];
}

/* y[q, :] += b[q % OC] for rows q of P elements (y (N, OC, P)). */
__kernel void conv_bias_rows(__global float *y, long y_off, __global const float *b, long b_off, long rows, long OC,
                             long P)
{
    const long q = get_global_id(0);
    if (q >= rows)
        return;
    const float bq = b[b_off + q % OC];
    __global float *out = y + y_off + q * P;
    for (long p = 0; p < P; p++)
        out[p] += bq;
}

/* ---- one item per element (a GPU) --------------------------------------------- */

/* conv_im2col's element (p, r, n): the three dims of the range. */
__kernel void conv_im2col_el(__global float *col, long s_n, long s_r, __global const float *x, long x_off, long n0,
                             long16 geom)
{
    CONV_GEOM;
    const long p = get_global_id(0), r = get_global_id(1), n = get_global_id(2);
    const long i = p / OW, j = p - i * OW;
    const long kw = r % KW, kh = (r / KW) % KH, c = r / (KH * KW);
    const long h = i * sh - ph + kh * dh, w = j * sw - pw + kw * dw;
    col[n * s_n + r * s_r + p] =
        h >= 0 && h < H && w >= 0 && w < W ? x[x_off + ((n0 + n) * C + c) * H * W + h * W + w] : 0.0f;
}

/* conv_col2im's element (e, c, n), e = h W + w: the taps that reach it,
 * in (kh, kw) order, then the bias. */
__kernel void conv_col2im_el(__global float *dx, long dx_off, __global const float *col, __global const float *b,
                             long b_off, int has_bias, long n0, long16 geom)
{
    CONV_GEOM;
    const long KK = KH * KW, P = OH * OW;
    const long e = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    const long h = e / W, w = e - h * W;
    __global const float *cr = col + (n * C + c) * KK * P; /* (KH, KW, OH, OW) */
    float s = 0.0f;
    for (long kh = 0; kh < KH; kh++) {
        const long hi = h + ph - kh * dh; /* i sh */
        if (hi < 0 || hi % sh || hi / sh >= OH)
            continue;
        for (long kw = 0; kw < KW; kw++) {
            const long wj = w + pw - kw * dw; /* j sw */
            if (wj >= 0 && wj % sw == 0 && wj / sw < OW)
                s += cr[(kh * KW + kw) * P + hi / sh * OW + wj / sw];
        }
    }
    if (has_bias)
        s += b[b_off + c];
    dx[dx_off + ((n0 + n) * C + c) * H * W + e] = s;
}

/* conv_pack_dy's element (p, row), row = o nb + n. */
__kernel void conv_pack_dy_el(__global float *dyt, __global const float *dy, long dy_off, long n0, long nb,
                              long16 geom)
{
    CONV_GEOM;
    const long P = OH * OW;
    const long p = get_global_id(0), row = get_global_id(1);
    const long n = row % nb, o = row / nb;
    dyt[row * P + p] = dy[dy_off + ((n0 + n) * OC + o) * P + p];
}

/* conv_bias_rows's element (p, q). */
__kernel void conv_bias_rows_el(__global float *y, long y_off, __global const float *b, long b_off, long rows, long OC,
                                long P)
{
    const long p = get_global_id(0), q = get_global_id(1);
    y[y_off + q * P + p] += b[b_off + q % OC];
}
