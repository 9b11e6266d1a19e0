/*
 * cpu_internal.h - private pieces shared by the files of the cpu backend.
 *
 * The cpu backend is the fast host backend: GEMMs go to oneDNN (dnnl_sgemm,
 * and a cached matmul primitive for linear's forward; oneDNN picks its own
 * JIT kernels for the machine); the conv plugin's convolutions run on the
 * register tiles of cpu_conv_gemm.c, or on oneDNN's blocked convolution
 * primitives for layers with many channels (cpu_conv.c and cpu_conv_dnnl.c
 * say when and why); everything else is OpenMP C written so the compiler
 * vectorises the inner loops. Results match the ref backend within float
 * tolerance; ops whose ref result is one rounding of exact or double math
 * (add/sub/mul/div, scale, relu, copies, the random ops, the optimizer
 * steps) give the same bits.
 *
 * Kernels follow one order: check arity and dtypes, read attributes, check
 * the shapes the core inferred, then the loops (outputs, inputs, sizes).
 */
#ifndef CPU_INTERNAL_H
#define CPU_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/strata_backend.h"

/* Elements below which a loop runs on the calling thread: forking the
 * OpenMP team costs a few microseconds, more than the loop itself. */
#define CPU_PAR_MIN 32768
/* The same for loops that do heavy work per element (exp, Philox). */
#define CPU_PAR_MIN_HEAVY 4096

/* Splits [0, n) into one contiguous chunk [lo, hi) per thread when n
 * reaches @p min_par (else one chunk on the calling thread) and runs the
 * statement given last (variadic, so commas inside it need no parentheses). */
#define CPU_PARALLEL_RANGE(n, min_par, lo, hi, ...)                                                            \
    do {                                                                                                       \
        int nt_ = (n) >= (min_par) ? cpu_threads() : 1;                                                        \
        _Pragma("omp parallel for schedule(static) num_threads(nt_) if (nt_ > 1)")                             \
        for (int c_ = 0; c_ < nt_; c_++) {                                                                     \
            int64_t lo = (n) * c_ / nt_, hi = (n) * (c_ + 1) / nt_;                                            \
            __VA_ARGS__;                                                                                       \
        }                                                                                                      \
    } while (0)

/* Errors, the checks of a call and its attributes: kc_* of kcall.h
 * (backends/common), shared with the other backends. */
#include "kcall.h"

/* ---- checks (cpu_common.c) ---------------------------------------------- */

/**
 * Checks every element of the index tensor @p idx against [0, limit):
 * STRATA_E_INVALID naming the first bad one, "WHAT V at POS_WORD I is
 * outside [0, limit)" ("index 4 at position 1", "label 12 at row 3").
 * Kernels run it before their (possibly parallel) loops so the loops
 * cannot fail.
 */
strata_status cpu_check_indices(const strata_kernel_call *call, const strata_tensor_desc *idx, int64_t limit,
                                const char *what, const char *pos_word);

/** Element @p i of an i32 or i64 tensor (dtype checked beforehand). */
static inline int64_t cpu_index_at(const strata_tensor_desc *d, int64_t i)
{
    const void *p = strata_desc_ptr(d);
    return d->dtype == STRATA_I32 ? (int64_t)((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* ---- shapes (cpu_common.c) ---------------------------------------------- */

/** Row-major strides of a contiguous tensor. */
void cpu_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/** NumPy broadcast of two shapes; 0 if they do not broadcast. */
int cpu_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_ndim, int64_t *out_shape);
/**
 * Strides that read a contiguous tensor of (ndim, shape) as if broadcast to
 * (out_ndim, out_shape): 0 on stretched and missing leading dims.
 * Returns 0 when the shapes do not broadcast.
 */
int cpu_broadcast_strides(int out_ndim, const int64_t *out_shape, int ndim, const int64_t *shape,
                          int64_t *strides);

/** A contiguous tensor seen as (outer, n, inner) around one axis. */
typedef struct cpu_axis_split {
    int64_t outer, n, inner;
} cpu_axis_split;
cpu_axis_split cpu_split_at(const strata_tensor_desc *x, int axis);

/**
 * Up to 3 operands walked over one shape, with the dims merged wherever
 * every operand steps through them as one (a contiguous run, or stride 0
 * throughout): (N, C) + (C) becomes two dims, (N, C) + (N, C) one.
 * dims[0] is the outermost; the innermost is dims[ndim - 1].
 */
#define CPU_ITER_MAX_OPS 3
typedef struct cpu_iter {
    int ndim; /* >= 1 */
    int n_ops;
    int64_t shape[STRATA_MAX_DIMS];
    int64_t stride[CPU_ITER_MAX_OPS][STRATA_MAX_DIMS];
} cpu_iter;

/** Builds the merged iteration over @p shape with per-operand strides. */
void cpu_iter_init(cpu_iter *it, int ndim, const int64_t *shape, int n_ops,
                   const int64_t (*strides)[STRATA_MAX_DIMS]);
/** Element offsets of each operand at row @p row (the index over every dim
 *  but the innermost, row-major). */
void cpu_iter_row_offsets(const cpu_iter *it, int64_t row, int64_t *off);

/* ---- threads (cpu_backend.c) --------------------------------------------- */

/** Threads the backend runs its OpenMP loops with. */
int cpu_threads(void);

/* ---- oneDNN matmul primitives (cpu_dnnl.c) --------------------------------- */

/**
 * y (rows, out) = x (rows, in) w^T (w stored (out, in)) + bias (out, or
 * NULL) with a cached oneDNN matmul primitive. Returns 1 when done, 0 when
 * no fast primitive is available (the caller then uses dnnl_sgemm).
 * Thread-safe.
 */
int cpu_dnnl_linear(float *y, const float *x, const float *w, const float *bias, int64_t rows, int64_t out,
                    int64_t in);
/** Frees the cached primitives, stream and engine (plugin shutdown). */
void cpu_dnnl_shutdown(void);

/* ---- the conv plugin's ops (cpu_conv.c, cpu_pool.c; more in cpu_conv.h) -- */

/** Attr @p name as (height, width): an int (both), a list of one (both) or
 *  two ints; @p dflt for both when absent or an empty list. */
strata_status cpu_attr_pair(const strata_kernel_call *call, const char *name, int64_t dflt, int64_t out[2]);

/* ---- vectorisable math (float in, float out) ----------------------------- */

/* a * b + c, fused (one rounding) where the ISA has FMA; the library's
 * fmaf would be a slow software call without it. */
#if defined(__FMA__)
#define CPU_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define CPU_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* A float's bits (cpu_expf builds 2^n in them). A named type: clang 14
 * rejects an anonymous union declared inside an `omp declare simd` function. */
typedef union cpu_f32_bits {
    int32_t i;
    float f;
} cpu_f32_bits;

/*
 * exp(x) for f32, written so `#pragma omp simd` loops vectorise it:
 * x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2_hi is exact),
 * exp(r) by its degree-7 Taylor polynomial (truncation below 2^-26 on the
 * range), 2^n put in the exponent bits in two factors so results down to
 * the denormals stay right. About 1 ulp; inf above 88.72, 0 below -103.97,
 * NaN stays NaN. n is rounded with the 1.5 * 2^23 trick, which needs the
 * default rounding mode and no -ffast-math reassociation.
 */
#pragma omp declare simd notinbranch
static inline float cpu_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x > 88.7228393f ? 88.7228393f : x;
    xc = xc < -103.972084f ? -103.972084f : xc;
    xc = x != x ? 0.0f : xc;
    float n = (xc * log2e + round_magic) - round_magic;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = CPU_FMA(p, r, 1.0f / 720.0f);
    p = CPU_FMA(p, r, 1.0f / 120.0f);
    p = CPU_FMA(p, r, 1.0f / 24.0f);
    p = CPU_FMA(p, r, 1.0f / 6.0f);
    p = CPU_FMA(p, r, 0.5f);
    p = CPU_FMA(p, r, 1.0f);
    p = CPU_FMA(p, r, 1.0f);
    int32_t ni = (int32_t)n;
    int32_t n1 = ni < -126 ? -126 : ni > 127 ? 127 : ni;
    int32_t n2 = ni - n1; /* in [-24, 1]: nonzero near overflow and for denormals */
    cpu_f32_bits s1, s2;
    s1.i = (n1 + 127) << 23;
    s2.i = (n2 + 127) << 23;
    float y = p * s1.f * s2.f;
    y = x > 88.7228393f ? INFINITY : y;
    return x != x ? x : y;
}

/** Logistic function, stable for either sign: e = exp(-|x|). */
#pragma omp declare simd notinbranch
static inline float cpu_sigmoidf(float x)
{
    float e = cpu_expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/** tanh: odd Taylor series up to x^15 for |x| < 0.5 (error < 5e-9),
 *  else sign(x) (1 - 2 / (exp(2|x|) + 1)), which has no cancellation there. */
#pragma omp declare simd notinbranch
static inline float cpu_tanhf(float x)
{
    float a = fabsf(x);
    float x2 = x * x;
    float p = -929569.0f / 638512875.0f;
    p = CPU_FMA(p, x2, 21844.0f / 6081075.0f);
    p = CPU_FMA(p, x2, -1382.0f / 155925.0f);
    p = CPU_FMA(p, x2, 62.0f / 2835.0f);
    p = CPU_FMA(p, x2, -17.0f / 315.0f);
    p = CPU_FMA(p, x2, 2.0f / 15.0f);
    p = CPU_FMA(p, x2, -1.0f / 3.0f);
    float small = CPU_FMA(x * x2, p, x);
    float big = 1.0f - 2.0f / (cpu_expf(2.0f * a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.5f ? small : big;
}

/* ---- kernels (one declaration per registered op) ------------------------- */

#define CPU_KERNEL(name) strata_status cpu_##name(const strata_kernel_call *call)

/* cpu_elementwise.c */
CPU_KERNEL(add);
CPU_KERNEL(sub);
CPU_KERNEL(mul);
CPU_KERNEL(div);
CPU_KERNEL(neg);
CPU_KERNEL(exp);
CPU_KERNEL(log);
CPU_KERNEL(sqrt);
CPU_KERNEL(abs);
CPU_KERNEL(relu);
CPU_KERNEL(leaky_relu);
CPU_KERNEL(sigmoid);
CPU_KERNEL(tanh);
CPU_KERNEL(gelu);
CPU_KERNEL(pow);
CPU_KERNEL(scale);
CPU_KERNEL(cast);
CPU_KERNEL(eltwise_backward);
/* cpu_gemm.c */
CPU_KERNEL(matmul);
CPU_KERNEL(linear);
/* cpu_reduce.c */
CPU_KERNEL(sum);
CPU_KERNEL(mean);
CPU_KERNEL(max);
CPU_KERNEL(argmax);
CPU_KERNEL(max_backward);
CPU_KERNEL(sum_to_shape);
/* cpu_softmax.c */
CPU_KERNEL(softmax);
CPU_KERNEL(log_softmax);
CPU_KERNEL(softmax_backward);
CPU_KERNEL(log_softmax_backward);
/* cpu_loss.c */
CPU_KERNEL(cross_entropy);
CPU_KERNEL(cross_entropy_backward);
CPU_KERNEL(bce_with_logits);
CPU_KERNEL(bce_with_logits_backward);
/* cpu_shape.c */
CPU_KERNEL(copy);
CPU_KERNEL(concat);
CPU_KERNEL(slice_backward);
/* cpu_index.c */
CPU_KERNEL(embedding);
CPU_KERNEL(embedding_backward);
CPU_KERNEL(gather);
CPU_KERNEL(gather_backward);
CPU_KERNEL(one_hot);
/* cpu_random.c */
CPU_KERNEL(fill);
CPU_KERNEL(uniform);
CPU_KERNEL(normal);
CPU_KERNEL(dropout);
/* cpu_optim.c */
CPU_KERNEL(sgd_step);
CPU_KERNEL(adam_step);
CPU_KERNEL(rmsprop_step);
CPU_KERNEL(adagrad_step);
/* cpu_conv.c (ops of the conv plugin, registered by name) */
CPU_KERNEL(conv2d);
CPU_KERNEL(conv2d_backward_data);
CPU_KERNEL(conv2d_backward_weight);
CPU_KERNEL(conv_transpose2d);
/* cpu_pool.c */
CPU_KERNEL(max_pool2d);
CPU_KERNEL(max_pool2d_backward);
CPU_KERNEL(avg_pool2d);
CPU_KERNEL(avg_pool2d_backward);
CPU_KERNEL(global_avg_pool2d);
/* cpu_bnorm.c */
CPU_KERNEL(batch_norm);
CPU_KERNEL(batch_norm_backward);
CPU_KERNEL(batch_norm_update_stats);
/* cpu_channel.c */
CPU_KERNEL(dropout2d);
CPU_KERNEL(sum_channels); /* core::sum: per-channel sums first, else cpu_sum */

/* cpu_lstm.c (ops of the lstm plugin, registered by name) */
CPU_KERNEL(lstm_seq);
CPU_KERNEL(lstm_seq_backward);
CPU_KERNEL(gru_seq);
CPU_KERNEL(gru_seq_backward);
CPU_KERNEL(rnn_seq);
CPU_KERNEL(rnn_seq_backward);

#endif /* CPU_INTERNAL_H */
