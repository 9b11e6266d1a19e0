/*
 * cpu_conv_gemm.c - the small matrix products under the convolutions
 * (cpu_conv.c), in register tiles vectorised for the FMA units:
 *
 *   cpu_conv_gemm     c (M, N) = start + a (M, K) b (K, N)      tiles of 6 x 16
 *   cpu_conv_gemm_nt  c (M, N) += sum_i a_i (M, P) b_i (N, P)^T  tiles of 3 x 4 rows of 8 lanes
 *
 * The rows of b (and a's columns in cpu_conv_gemm) are reached through
 * offset tables, so one routine reads an im2col buffer, a weight tensor or
 * its transpose, or the taps of a zero-padded image directly (the
 * convolution without im2col: row k of "col" is the padded image shifted by
 * tap k's offset).
 *
 * Why not dnnl_sgemm: the products are small (a few to a few hundred rows
 * and inner terms, tens to a thousand columns) and come by the hundred per
 * op; sgemm's packing and dispatch cost more than the arithmetic there, and
 * it cannot read through offset tables. Each tile keeps its accumulators in
 * registers (12 AVX2 registers); the loops are plain C that GCC vectorises
 * (measured 95 GFLOP/s on one core of the W2 machine against 102 with AVX2
 * intrinsics).
 */
#include "cpu_conv.h"

#define CPU_TILE_MR 6
#define CPU_TILE_NR 16

typedef void (*cpu_tile_fn)(float *restrict c, int64_t ldc, int64_t ncols, const float *restrict a, int64_t a_rs,
                            const int64_t *restrict ak, const float *restrict b, const int64_t *restrict bk,
                            int64_t K, const float *init_row, int accumulate);

/*
 * One tile: c[m, 0..ncols) = start[m] + sum_k a[m a_rs + ak[k]] b[bk[k] + 0..NR)
 * for m < MR (ncols <= NR). start is c's values (accumulate), init_row[m],
 * or 0. b's rows are read for NR columns; the columns past ncols do not
 * reach c. MR and NR are literals so the accumulators stay in registers.
 */
#define CPU_TILE_DEF(MR, NR)                                                                                       \
    static void cpu_tile_##MR##x##NR(float *restrict c, int64_t ldc, int64_t ncols, const float *restrict a,      \
                                     int64_t a_rs, const int64_t *restrict ak, const float *restrict b,           \
                                     const int64_t *restrict bk, int64_t K, const float *init_row, int accumulate) \
    {                                                                                                             \
        float acc[MR][NR];                                                                                        \
        for (int m = 0; m < MR; m++)                                                                              \
            for (int v = 0; v < NR; v++)                                                                          \
                acc[m][v] = accumulate ? (v < ncols ? c[m * ldc + v] : 0.0f) : init_row ? init_row[m] : 0.0f;    \
        for (int64_t k = 0; k < K; k++) {                                                                         \
            const float *restrict bv = b + bk[k]; /* (NR) */                                                     \
            const float *restrict ac = a + ak[k]; /* column k of a, rows a_rs apart */                           \
            _Pragma("GCC unroll 6") for (int m = 0; m < MR; m++)                                                  \
            {                                                                                                     \
                const float am = ac[m * a_rs];                                                                    \
                _Pragma("omp simd") for (int v = 0; v < NR; v++) acc[m][v] = CPU_FMA(am, bv[v], acc[m][v]);      \
            }                                                                                                     \
        }                                                                                                         \
        if (ncols == NR) {                                                                                        \
            for (int m = 0; m < MR; m++)                                                                          \
                for (int v = 0; v < NR; v++)                                                                      \
                    c[m * ldc + v] = acc[m][v];                                                                   \
        } else {                                                                                                  \
            for (int m = 0; m < MR; m++)                                                                          \
                for (int v = 0; v < ncols; v++)                                                                   \
                    c[m * ldc + v] = acc[m][v];                                                                   \
        }                                                                                                         \
    }

CPU_TILE_DEF(1, 8)
CPU_TILE_DEF(2, 8)
CPU_TILE_DEF(3, 8)
CPU_TILE_DEF(4, 8)
CPU_TILE_DEF(5, 8)
CPU_TILE_DEF(6, 8)
CPU_TILE_DEF(1, 16)
CPU_TILE_DEF(2, 16)
CPU_TILE_DEF(3, 16)
CPU_TILE_DEF(4, 16)
CPU_TILE_DEF(5, 16)
CPU_TILE_DEF(6, 16)

static const cpu_tile_fn cpu_tiles8[CPU_TILE_MR] = {cpu_tile_1x8, cpu_tile_2x8, cpu_tile_3x8,
                                                    cpu_tile_4x8, cpu_tile_5x8, cpu_tile_6x8};
static const cpu_tile_fn cpu_tiles16[CPU_TILE_MR] = {cpu_tile_1x16, cpu_tile_2x16, cpu_tile_3x16,
                                                     cpu_tile_4x16, cpu_tile_5x16, cpu_tile_6x16};

void cpu_conv_gemm(float *c, int64_t ldc, const float *a, int64_t a_rs, const int64_t *ak, const float *b,
                   const int64_t *bk, int64_t M, int64_t N, int64_t K, const float *init_row, int accumulate)
{
    /* Column panels outermost: a panel of b (K x 16) stays in L1 while
     * every row block of a passes over it. Rows are split so no block is
     * much smaller than the others (16 rows: 5 + 5 + 6, not 6 + 6 + 4). */
    int64_t n_blocks = (M + CPU_TILE_MR - 1) / CPU_TILE_MR;
    for (int64_t n0 = 0; n0 < N; n0 += CPU_TILE_NR) {
        int64_t cols = N - n0;
        int wide = cols >= CPU_TILE_NR;
        /* Chosen here, not as (wide ? t16 : t8)[i] in the call: gcc 12's
         * -fsanitize=object-size misreads that form as an overrun. */
        const cpu_tile_fn *tiles = wide ? cpu_tiles16 : cpu_tiles8;
        for (int64_t w0 = 0; w0 < (wide ? CPU_TILE_NR : cols); w0 += wide ? CPU_TILE_NR : 8) {
            int64_t nc = wide ? CPU_TILE_NR : cols - w0 < 8 ? cols - w0 : 8;
            for (int64_t blk = 0, m0 = 0; blk < n_blocks; blk++) {
                int64_t m1 = M * (blk + 1) / n_blocks;
                tiles[m1 - m0 - 1](c + m0 * ldc + n0 + w0, ldc, nc, a + m0 * a_rs, a_rs, ak, b + n0 + w0, bk, K,
                                   init_row ? init_row + m0 : NULL, accumulate);
                m0 = m1;
            }
        }
    }
}

/* ---- c += a b^T ------------------------------------------------------------- */

#define CPU_NT_MR 3
#define CPU_NT_NR 4

typedef void (*cpu_nt_fn)(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,
                          const float *restrict b, const int64_t *restrict bn, int64_t P, int64_t n_img, int64_t a_is,
                          int64_t b_is);

/* c[m, n] += sum_i sum_p a[i a_is + m lda + p] b[i b_is + bn[n] + p] for
 * m < MR, n < NR, i < n_img; P a multiple of 8. Eight lanes per (m, n)
 * pair, summed once at the end (over every image: with LeNet's 140
 * positions per image, summing per image cost a third of the tile). */
#define CPU_NT_DEF(MR, NR)                                                                                         \
    static void cpu_nt_##MR##x##NR(float *restrict c, int64_t ldc, const float *restrict a, int64_t lda,         \
                                   const float *restrict b, const int64_t *restrict bn, int64_t P, int64_t n_img, \
                                   int64_t a_is, int64_t b_is)                                                    \
    {                                                                                                             \
        float acc[MR][NR][8] = {{{0.0f}}};                                                                        \
        for (int64_t i = 0; i < n_img; i++) {                                                                     \
            const float *restrict ai = a + i * a_is;                                                              \
            const float *restrict bp[NR];                                                                         \
            for (int n = 0; n < NR; n++)                                                                          \
                bp[n] = b + i * b_is + bn[n];                                                                     \
            for (int64_t p = 0; p < P; p += 8) {                                                                  \
                _Pragma("GCC unroll 3") for (int m = 0; m < MR; m++)                                              \
                {                                                                                                 \
                    const float *restrict am = ai + m * lda + p;                                                  \
                    _Pragma("GCC unroll 4") for (int n = 0; n < NR; n++)                                          \
                    {                                                                                             \
                        _Pragma("omp simd") for (int v = 0; v < 8; v++) acc[m][n][v] =                            \
                            CPU_FMA(am[v], bp[n][p + v], acc[m][n][v]);                                           \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (int m = 0; m < MR; m++)                                                                              \
            for (int n = 0; n < NR; n++) {                                                                        \
                const float *l = acc[m][n];                                                                       \
                c[m * ldc + n] += ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));              \
            }                                                                                                     \
    }

CPU_NT_DEF(1, 1)
CPU_NT_DEF(1, 2)
CPU_NT_DEF(1, 3)
CPU_NT_DEF(1, 4)
CPU_NT_DEF(2, 1)
CPU_NT_DEF(2, 2)
CPU_NT_DEF(2, 3)
CPU_NT_DEF(2, 4)
CPU_NT_DEF(3, 1)
CPU_NT_DEF(3, 2)
CPU_NT_DEF(3, 3)
CPU_NT_DEF(3, 4)

static const cpu_nt_fn cpu_nts[CPU_NT_MR][CPU_NT_NR] = {
    {cpu_nt_1x1, cpu_nt_1x2, cpu_nt_1x3, cpu_nt_1x4},
    {cpu_nt_2x1, cpu_nt_2x2, cpu_nt_2x3, cpu_nt_2x4},
    {cpu_nt_3x1, cpu_nt_3x2, cpu_nt_3x3, cpu_nt_3x4},
};

void cpu_conv_gemm_nt(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, const int64_t *bn,
                      int64_t M, int64_t N, int64_t P, int64_t n_img, int64_t a_is, int64_t b_is)
{
    /* Blocks as even as the tile allows (25 columns: 4+4+4+4+3+3+3, not 4 x 6 + 1). */
    int64_t mb = (M + CPU_NT_MR - 1) / CPU_NT_MR, nb = (N + CPU_NT_NR - 1) / CPU_NT_NR;
    for (int64_t bm = 0, m0 = 0; bm < mb; bm++) {
        int64_t m1 = M * (bm + 1) / mb;
        for (int64_t bj = 0, n0 = 0; bj < nb; bj++) {
            int64_t n1 = N * (bj + 1) / nb;
            cpu_nts[m1 - m0 - 1][n1 - n0 - 1](c + m0 * ldc + n0, ldc, a + m0 * lda, lda, b, bn + n0, P, n_img, a_is,
                                              b_is);
            n0 = n1;
        }
        m0 = m1;
    }
}
