/*
 * memnet.cl - the memnet plugin's sentence encoding (plugins/memnet/encode.c
 * is the reference). x (R, J) word ids (i32 or i64, checked on the host
 * before launch), words equal to pad (-1: none) contribute nothing; l_j
 * the word weights, 1-based j and k: the position encoding of the authors'
 * code (position 1)
 *   l_kj = 1 + 4 (j - (J+1)/2)(k - (d+1)/2) / (J d),
 * the paper's (position 2)
 *   l_kj = (1 - j/J) - (k/d)(1 - 2j/J),
 * or all ones (bag of words, position 0).
 */

inline float mn_weight(long j, long k, long J, long d, int position)
{
    if (position == 1)
        return 1.0f + 4.0f * ((float)(j + 1) - 0.5f * (float)(J + 1)) * ((float)(k + 1) - 0.5f * (float)(d + 1)) /
                          (float)(J * d);
    if (position == 2) {
        const float jf = (float)(j + 1) / (float)J, kf = (float)(k + 1) / (float)d;
        return (1.0f - jf) - kf * (1.0f - 2.0f * jf);
    }
    return 1.0f;
}

/* y (R, d): y[r] = sum_j l_j E[x[r, j]] (+ tm[r mod M] when has_t and the
 * row holds a word). One item per (r, k). */
__kernel void mn_encode_fwd(__global float *y, long y_off, __global const float *e, long e_off, __global const int *x,
                            long x_off, int is64, __global const float *tm, long t_off, int has_t, long R, long J,
                            long d, long M, long pad, int position)
{
    const long i = get_global_id(0);
    if (i >= R * d)
        return;
    const long r = i / d, k = i - r * d;
    int any = 0;
    for (long j = 0; j < J && !any; j++)
        any = ocl_label(x, x_off, is64, r * J + j) != pad;
    float acc = has_t && any ? tm[t_off + (r % M) * d + k] : 0.0f;
    for (long j = 0; j < J; j++) {
        const long v = ocl_label(x, x_off, is64, r * J + j);
        if (v != pad)
            acc += mn_weight(j, k, J, d, position) * e[e_off + v * d + k];
    }
    y[y_off + i] = acc;
}

/* dE (V, d) = sum over (r, j) with x[r, j] = v of l_j dy[r]: one item per
 * column k owns it (no races), as embedding_bwd. */
__kernel void mn_encode_bwd(__global float *de, long de_off, __global const float *dy, long dy_off,
                            __global const int *x, long x_off, int is64, long R, long J, long V, long d, long pad,
                            int position)
{
    const long k = get_global_id(0);
    if (k >= d)
        return;
    for (long v = 0; v < V; v++)
        de[de_off + v * d + k] = 0.0f;
    for (long r = 0; r < R; r++) {
        const float g = dy[dy_off + r * d + k];
        for (long j = 0; j < J; j++) {
            const long v = ocl_label(x, x_off, is64, r * J + j);
            if (v != pad)
                de[de_off + v * d + k] += mn_weight(j, k, J, d, position) * g;
        }
    }
}

/* m (R) = 1 where row r holds a word other than pad (always with pad -1). */
__kernel void mn_slot_mask(__global float *m, long m_off, __global const int *x, long x_off, int is64, long R, long J,
                           long pad)
{
    const long r = get_global_id(0);
    if (r >= R)
        return;
    int any = pad < 0;
    for (long j = 0; j < J && !any; j++)
        any = ocl_label(x, x_off, is64, r * J + j) != pad;
    m[m_off + r] = any ? 1.0f : 0.0f;
}
