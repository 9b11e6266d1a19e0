/*
 * gemm.cl - one tiled GEMM for matmul and linear.
 *
 * c (batch, M, N) (from c_off, batch c_bs apart: M N, or more for a
 * grouped convolution's slices of a wider output) = a (M, K) b (K, N)
 * [+ bias (N)] per batch, with a and b read through strides, so
 * transposed operands need no copy:
 *   a(m, k) = a[a_off + batch a_bs + m a_sm + k a_sk]
 *   b(k, n) = b[b_off + batch b_bs + k b_sk + n b_sn]
 * A 16x16 work-group computes a 64x64 tile of c, each item a 4x4 block
 * (rows ty + 16 i, columns tx + 16 j), stepping through K 16 at a time
 * with both tiles staged in local memory. Accumulation is f32 (fma).
 */
#define GEMM_TM 64
#define GEMM_TN 64
#define GEMM_TK 16

__kernel __attribute__((reqd_work_group_size(16, 16, 1))) void
gemm(__global float *c, long c_off, long c_bs, __global const float *a, long a_off, long a_bs, long a_sm, long a_sk,
     __global const float *b, long b_off, long b_bs, long b_sk, long b_sn, __global const float *bias, long bias_off,
     int has_bias, long M, long N, long K)
{
    __local float As[GEMM_TK][GEMM_TM + 1]; /* As[k][m] */
    __local float Bs[GEMM_TK][GEMM_TN + 1]; /* Bs[k][n] */
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * 16 + tx;
    const long n0 = (long)get_group_id(0) * GEMM_TN, m0 = (long)get_group_id(1) * GEMM_TM;
    const long batch = get_global_id(2);
    a += a_off + batch * a_bs;
    b += b_off + batch * b_bs;
    c += c_off + batch * c_bs;

    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.0f;

    for (long k0 = 0; k0 < K; k0 += GEMM_TK) {
        /* 1024 elements per tile, 4 per item; consecutive items walk the
         * operand's unit-stride dimension so loads coalesce */
        for (int l = 0; l < 4; l++) {
            int e = tid + l * 256, mm, kk;
            if (a_sk == 1) {
                kk = e % GEMM_TK;
                mm = e / GEMM_TK;
            } else {
                mm = e % GEMM_TM;
                kk = e / GEMM_TM;
            }
            long gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = gm < M && gk < K ? a[gm * a_sm + gk * a_sk] : 0.0f;
        }
        for (int l = 0; l < 4; l++) {
            int e = tid + l * 256, nn, kk;
            if (b_sk == 1) {
                kk = e % GEMM_TK;
                nn = e / GEMM_TK;
            } else {
                nn = e % GEMM_TN;
                kk = e / GEMM_TN;
            }
            long gk = k0 + kk, gn = n0 + nn;
            Bs[kk][nn] = gk < K && gn < N ? b[gk * b_sk + gn * b_sn] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < GEMM_TK; kk++) {
            float ar[4], br[4];
            for (int i = 0; i < 4; i++)
                ar[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < 4; j++)
                br[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < 4; i++) {
        long m = m0 + ty + 16 * i;
        if (m >= M)
            continue;
        for (int j = 0; j < 4; j++) {
            long n = n0 + tx + 16 * j;
            if (n < N)
                c[m * N + n] = acc[i][j] + (has_bias ? bias[bias_off + n] : 0.0f);
        }
    }
}

/*
 * CPU-shaped GEMMs (ocl_gemm.c uses them on CL_DEVICE_TYPE_CPU devices,
 * such as PoCL, where local-memory tiles and barriers cost more than they
 * save): no local memory, explicit float8 vectors the CPU compiler maps to
 * SIMD registers. Same arguments and result as gemm.
 *
 * gemm_dot: a(m, k) and b(k, n) both unit-stride in k (linear's x w^T):
 * each item computes c[m, n..n+3] as four dot products over k.
 */
__kernel void gemm_dot(__global float *c, long c_off, long c_bs, __global const float *a, long a_off, long a_bs, long a_sm,
                       long a_sk, __global const float *b, long b_off, long b_bs, long b_sk, long b_sn,
                       __global const float *bias, long bias_off, int has_bias, long M, long N, long K)
{
    const long n0 = get_global_id(0) * 4, m = get_global_id(1), batch = get_global_id(2);
    if (m >= M || n0 >= N)
        return;
    __global const float *ar = a + a_off + batch * a_bs + m * a_sm;
    b += b_off + batch * b_bs;
    c += c_off + batch * c_bs + m * N;
    const int nn = N - n0 < 4 ? (int)(N - n0) : 4;
    __global const float *br[4];
    for (int j = 0; j < 4; j++)
        br[j] = b + (n0 + (j < nn ? j : 0)) * b_sn;
    float8 acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
    long k = 0;
    for (; k + 8 <= K; k += 8) {
        float8 av = vload8(0, ar + k);
        acc0 = fma(av, vload8(0, br[0] + k), acc0);
        acc1 = fma(av, vload8(0, br[1] + k), acc1);
        acc2 = fma(av, vload8(0, br[2] + k), acc2);
        acc3 = fma(av, vload8(0, br[3] + k), acc3);
    }
    float s[4];
    s[0] = acc0.s0 + acc0.s1 + acc0.s2 + acc0.s3 + acc0.s4 + acc0.s5 + acc0.s6 + acc0.s7;
    s[1] = acc1.s0 + acc1.s1 + acc1.s2 + acc1.s3 + acc1.s4 + acc1.s5 + acc1.s6 + acc1.s7;
    s[2] = acc2.s0 + acc2.s1 + acc2.s2 + acc2.s3 + acc2.s4 + acc2.s5 + acc2.s6 + acc2.s7;
    s[3] = acc3.s0 + acc3.s1 + acc3.s2 + acc3.s3 + acc3.s4 + acc3.s5 + acc3.s6 + acc3.s7;
    for (; k < K; k++)
        for (int j = 0; j < 4; j++)
            s[j] = fma(ar[k], br[j][k], s[j]);
    for (int j = 0; j < nn; j++)
        c[n0 + j] = s[j] + (has_bias ? bias[bias_off + n0 + j] : 0.0f);
}

/* gemm_axpy: b(k, n) unit-stride in n (matmul's a b and the backward
 * GEMMs): each item computes c[m..m+3, n..n+7] as rank-1 updates over k. */
__kernel void gemm_axpy(__global float *c, long c_off, long c_bs, __global const float *a, long a_off, long a_bs, long a_sm,
                        long a_sk, __global const float *b, long b_off, long b_bs, long b_sk, long b_sn,
                        __global const float *bias, long bias_off, int has_bias, long M, long N, long K)
{
    const long n0 = get_global_id(0) * 8, m0 = get_global_id(1) * 4, batch = get_global_id(2);
    if (m0 >= M || n0 >= N)
        return;
    a += a_off + batch * a_bs;
    b += b_off + batch * b_bs;
    c += c_off + batch * c_bs;
    const int mm = M - m0 < 4 ? (int)(M - m0) : 4;
    const long r1 = m0 + (1 < mm ? 1 : 0), r2 = m0 + (2 < mm ? 2 : 0), r3 = m0 + (3 < mm ? 3 : 0);
    float8 acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
    if (n0 + 8 <= N) {
        for (long k = 0; k < K; k++) {
            float8 bv = vload8(0, b + k * b_sk + n0);
            acc0 = fma((float8)(a[m0 * a_sm + k * a_sk]), bv, acc0);
            acc1 = fma((float8)(a[r1 * a_sm + k * a_sk]), bv, acc1);
            acc2 = fma((float8)(a[r2 * a_sm + k * a_sk]), bv, acc2);
            acc3 = fma((float8)(a[r3 * a_sm + k * a_sk]), bv, acc3);
        }
    } else {
        const int nn = (int)(N - n0);
        for (long k = 0; k < K; k++) {
            float t[8];
            for (int j = 0; j < 8; j++)
                t[j] = j < nn ? b[k * b_sk + n0 + j] : 0.0f;
            float8 bv = vload8(0, t);
            acc0 = fma((float8)(a[m0 * a_sm + k * a_sk]), bv, acc0);
            acc1 = fma((float8)(a[r1 * a_sm + k * a_sk]), bv, acc1);
            acc2 = fma((float8)(a[r2 * a_sm + k * a_sk]), bv, acc2);
            acc3 = fma((float8)(a[r3 * a_sm + k * a_sk]), bv, acc3);
        }
    }
    float r[4][8];
    vstore8(acc0, 0, r[0]);
    vstore8(acc1, 0, r[1]);
    vstore8(acc2, 0, r[2]);
    vstore8(acc3, 0, r[3]);
    for (int i = 0; i < mm; i++)
        for (int j = 0; j < 8 && n0 + j < N; j++)
            c[(m0 + i) * N + n0 + j] = r[i][j] + (has_bias ? bias[bias_off + n0 + j] : 0.0f);
}
