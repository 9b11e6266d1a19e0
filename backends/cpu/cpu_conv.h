/*
 * cpu_conv.h - private pieces shared by the cpu backend's files for the conv
 * plugin's ops: the convolution geometry (cpu_conv.c reads it from the attrs
 * and tensors), the register-tile products (cpu_conv_gemm.c), the oneDNN
 * primitives used for large layers (cpu_conv_dnnl.c) and the per-channel
 * helpers of cpu_bnorm.c and cpu_channel.c (defined in cpu_channel.c).
 */
#ifndef CPU_CONV_H
#define CPU_CONV_H

#include "cpu_internal.h"

/* One 2-D convolution seen from the forward side:
 *   x (N, C, H, W) * w (OC, C/groups, KH, KW) -> y (N, OC, OH, OW),
 *   OH = (H + 2 ph - dh (KH - 1) - 1) / sh + 1 (likewise OW).
 * The backward ops and conv_transpose2d use it with x and y's roles swapped. */
typedef struct cpu_conv_geom {
    int64_t N, C, H, W;    /* the convolution's input (x, or dx) */
    int64_t OC, KH, KW;    /* the weight (OC, C/groups, KH, KW) */
    int64_t OH, OW;        /* the convolution's output (y, or dy) */
    int64_t sh, sw, ph, pw, dh, dw, groups;
    int64_t Cg, OCg, K, P; /* C/groups, OC/groups, taps Cg KH KW, positions OH OW */
} cpu_conv_geom;

/* ---- register tiles (cpu_conv_gemm.c) ------------------------------------ */

/**
 * c (M, N) = start + a (M, K) b (K, N) in register tiles.
 * a's element (m, k) is a[m * a_rs + ak[k]]; b's row k starts at b + bk[k]
 * and must be readable up to N rounded up to a multiple of 8 (values there
 * never reach c); c's rows lie at stride ldc, and only N columns are
 * written. start is c itself when @p accumulate, else init_row[m] (NULL:
 * 0). Runs on the calling thread.
 */
void cpu_conv_gemm(float *c, int64_t ldc, const float *a, int64_t a_rs, const int64_t *ak, const float *b,
                   const int64_t *bk, int64_t M, int64_t N, int64_t K, const float *init_row, int accumulate);
/**
 * c (M, N) += sum over n_img pairs of a_i (M, P) b_i^T:
 * c[m, n] += sum_i sum_p a[i * a_is + m * lda + p] b[i * b_is + bn[n] + p],
 * with P a multiple of 8 (callers pad a's rows with zeros, and b's rows
 * must be readable and finite that far). Runs on the calling thread.
 */
void cpu_conv_gemm_nt(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, const int64_t *bn,
                      int64_t M, int64_t N, int64_t P, int64_t n_img, int64_t a_is, int64_t b_is);

/* ---- oneDNN primitives for large layers (cpu_conv_dnnl.c) ------------------- */

typedef enum cpu_conv_kind {
    CPU_CONV_FORWARD,       /* out y = conv(in0 x, in1 w) + bias (or none) */
    CPU_CONV_BACKWARD_DATA, /* out dx = conv^T(in0 dy, in1 w); bias must be NULL */
    CPU_CONV_BACKWARD_WEIGHT /* out dw = d conv / d w at (in0 dy, in1 x); bias must be NULL */
} cpu_conv_kind;

/**
 * Runs @p kind of the convolution @p g through a cached oneDNN primitive
 * with blocked memory (nChw8c and the like), reordering the plain NCHW
 * tensors in and out. Returns 1 when done; 0 when the layer is outside the
 * sizes where that is measured faster than cpu_conv.c's tiles, or oneDNN
 * offers no fast (jit) primitive for it, or it failed: the caller then
 * runs its own kernels. Thread-safe (one lock around the cache and the
 * execution).
 */
int cpu_conv_dnnl(cpu_conv_kind kind, float *out, const float *in0, const float *in1, const float *bias,
                  const cpu_conv_geom *g);
/** Where convolutions run: STRATA_CPU_CONV=auto (the default: oneDNN where
 * measured faster, cpu_conv_dnnl.c), tiles (never oneDNN) or onednn (oneDNN
 * wherever it has a jit primitive; groups 1). */
typedef enum cpu_conv_choice { CPU_CONV_AUTO, CPU_CONV_TILES, CPU_CONV_ONEDNN } cpu_conv_choice;
/** Sets the choice from the value of STRATA_CPU_CONV (NULL or "": auto);
 * -1 for an unknown value, which leaves auto. Called at load. */
int cpu_conv_dnnl_choose(const char *value);
/** Frees the cached primitives, buffers, stream and engine (plugin shutdown). */
void cpu_conv_dnnl_shutdown(void);

/* ---- per-channel helpers over x (N, C, S...) (cpu_channel.c) ----------------- */

/** x (N, C, S...) as three sizes, S the product of the axes after C. */
void cpu_channel_sizes(const strata_tensor_desc *x, int64_t *N, int64_t *C, int64_t *S);
/** Sum of channel @p c of x (N, C, S) in double, as ref sums. */
double cpu_channel_sum(const float *x, int64_t N, int64_t C, int64_t S, int64_t c);
/** STRATA_E_SHAPE with a message unless @p x (named "x") has rank >= 2. */
strata_status cpu_check_nc(const strata_kernel_call *call, const strata_tensor_desc *x);

#endif /* CPU_CONV_H */
