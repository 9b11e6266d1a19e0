/*
 * gemm.cl - one tiled GEMM for matmul and linear.
 *
 * c (batch, M, N) (from c_off) = a (M, K) b (K, N) [+ bias (N)] per batch, with a and b
 * read through strides, so transposed operands need no copy:
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
gemm(__global float *c, long c_off, __global const float *a, long a_off, long a_bs, long a_sm, long a_sk,
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
    c += c_off + batch * M * N;

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
