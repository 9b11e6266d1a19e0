/*
 * cuda_kernels.h - launchers of the backend's own CUDA kernels
 * (cuda_kernels.cu), callable from C. Each queues its kernel(s) on @p st
 * and returns the launch status (cudaGetLastError); none synchronises.
 * Arguments follow the kernels' order: outputs, inputs, attributes, sizes.
 * Every pointer is a device address; sizes are element counts.
 */
#ifndef CUDA_KERNELS_H
#define CUDA_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_WALK_MAX_DIMS 8
/* Launches of one block per row take at most 2^31 - 1 rows (gridDim.x): more would wrap the (unsigned) block
 * count and leave rows unwritten, so such a launcher returns cudaErrorInvalidConfiguration instead. */
#define CUDA_MAX_GRID_ROWS 2147483647LL
#define CUDA_WALK_MAX_OPS 3

/** Element offsets of up to three operands walked over one shape in
 *  row-major order: element i (of prod(shape)) of operand k is at
 *  sum_d idx_d(i) * stride[k][d] (strides 0 on broadcast dims). */
typedef struct cuda_walk {
    int ndim;
    int64_t shape[CUDA_WALK_MAX_DIMS];
    int64_t stride[CUDA_WALK_MAX_OPS][CUDA_WALK_MAX_DIMS];
} cuda_walk;

/* elementwise (cuda_kernels.cu) */
enum { CUDA_ADD, CUDA_SUB, CUDA_MUL, CUDA_DIV };
enum {
    CUDA_NEG,
    CUDA_EXP,
    CUDA_LOG,
    CUDA_SQRT,
    CUDA_ABS,
    CUDA_RELU,
    CUDA_LEAKY_RELU,
    CUDA_SIGMOID,
    CUDA_TANH,
    CUDA_GELU,
    CUDA_POW,
    CUDA_SCALE
};
/** y = a fn b; a and b read through w->stride[0] / [1] (y contiguous, n = prod(w->shape)). */
cudaError_t cuda_k_binary(cudaStream_t st, int fn, float *y, const float *a, const float *b, int64_t n,
                          const cuda_walk *w);
/** y = f(x); alpha, beta, exponent as ref_elementwise.c. */
cudaError_t cuda_k_unary(cudaStream_t st, int fn, float *y, const float *x, double alpha, double beta,
                         double exponent, int64_t n);
/** y = x converted from dtype @p from to @p to (strata_dtype codes: f32,
 *  f16, bf16), rounding to nearest even; x, y (n). */
cudaError_t cuda_k_cast(cudaStream_t st, int from, int to, void *y, const void *x, int64_t n);
/** dx = dy * f'(x). */
cudaError_t cuda_k_unary_backward(cudaStream_t st, int fn, float *dx, const float *dy, const float *x, double alpha,
                                  double exponent, int64_t n);
/** y = x read through w->stride[0] (any strides); elem_bytes 2, 4 or 8. */
cudaError_t cuda_k_strided_copy(cudaStream_t st, void *y, const void *x, int elem_bytes, int64_t n,
                                const cuda_walk *w);
/** y read through w->stride[0] is written from contiguous x: the inverse of
 *  cuda_k_strided_copy (y's other elements are left as they are). */
cudaError_t cuda_k_strided_scatter(cudaStream_t st, void *y, const void *x, int elem_bytes, int64_t n,
                                   const cuda_walk *w);
/** y[p, c] = (c == idx[p]); y (P, C); bad as for the index kernels. */
cudaError_t cuda_k_one_hot(cudaStream_t st, float *y, const void *idx, int idx64, int64_t P, int64_t C,
                           unsigned long long *bad);
/** torch.gather: y[i] = x[base(i) + idx[i] axis_stride], base from w->stride[0]
 *  over idx's shape (w->shape), idx values checked against [0, limit). */
cudaError_t cuda_k_gather(cudaStream_t st, float *y, const float *x, const void *idx, int idx64, int64_t n,
                          int64_t axis_stride, int64_t limit, const cuda_walk *w, unsigned long long *bad);
/** dx (nx elements) = scatter-add of dy at the gather positions; acc: nx doubles. */
cudaError_t cuda_k_gather_backward(cudaStream_t st, float *dx, double *acc, const float *dy, const void *idx,
                                   int idx64, int64_t n, int64_t nx, int64_t axis_stride, int64_t limit,
                                   const cuda_walk *w, unsigned long long *bad);
/** y[r, o] += bias[o]; y (R, OUT). */
cudaError_t cuda_k_bias_add(cudaStream_t st, float *y, const float *bias, int64_t R, int64_t OUT);

/* creation and random */
cudaError_t cuda_k_fill_f32(cudaStream_t st, float *y, float v, int64_t n);
cudaError_t cuda_k_fill_i32(cudaStream_t st, int32_t *y, int32_t v, int64_t n);
cudaError_t cuda_k_fill_i64(cudaStream_t st, int64_t *y, int64_t v, int64_t n);
/** Philox stream (seed, offset) exactly as strata_backend.h defines it. */
cudaError_t cuda_k_uniform(cudaStream_t st, float *y, uint64_t seed, uint64_t offset, double low, double high,
                           int64_t n);
cudaError_t cuda_k_normal(cudaStream_t st, float *y, uint64_t seed, uint64_t offset, double mean, double std,
                          int64_t n);
cudaError_t cuda_k_dropout(cudaStream_t st, float *y, float *mask, const float *x, uint64_t seed, uint64_t offset,
                           double p, double kept_scale, int64_t n);
/** conv::dropout2d: channel i of x (NC, S) kept iff uniform element i >= p. */
cudaError_t cuda_k_dropout2d(cudaStream_t st, float *y, float *mask, const float *x, uint64_t seed, uint64_t offset,
                             double p, double kept_scale, int64_t NC, int64_t S);

/* reductions: x seen as groups; group o starts at the offset of kept's
 * element o (stride[0]), its j-th element at red's element j (stride[0]) */
enum { CUDA_RED_SUM, CUDA_RED_MEAN, CUDA_RED_MAX };
cudaError_t cuda_k_reduce(cudaStream_t st, int fn, float *y, const float *x, int64_t n_out, int64_t n_red,
                          const cuda_walk *kept, const cuda_walk *red);
/** Sum or mean (not max) of few long groups: each group cut into n_parts
 *  chunks summed by a block each, in double, into part (n_out n_parts
 *  doubles of scratch), then the parts added in order (deterministic);
 *  n_out at most 65535, n_parts in [1, n_red]. */
cudaError_t cuda_k_reduce_split(cudaStream_t st, int fn, float *y, const float *x, int64_t n_out, int64_t n_red,
                                const cuda_walk *kept, const cuda_walk *red, double *part, int64_t n_parts);
/** y (i64) = position j of the first maximum of each group. */
cudaError_t cuda_k_argmax(cudaStream_t st, int64_t *y, const float *x, int64_t n_out, int64_t n_red,
                          const cuda_walk *kept, const cuda_walk *red);
/** dx = 0, then dx[first max of group o] = dy[o]; n_x elements in dx. */
cudaError_t cuda_k_max_backward(cudaStream_t st, float *dx, const float *dy, const float *x, int64_t n_x,
                                int64_t n_out, int64_t n_red, const cuda_walk *kept, const cuda_walk *red);
/** softmax / log_softmax over n with x, y (outer, n, inner). */
cudaError_t cuda_k_softmax(cudaStream_t st, int log_space, float *y, const float *x, int64_t outer, int64_t n,
                           int64_t inner);
cudaError_t cuda_k_softmax_backward(cudaStream_t st, int log_space, float *dx, const float *dy, const float *y,
                                    int64_t outer, int64_t n, int64_t inner);

/* losses and indexing. idx64: the index tensor is i64 (else i32). bad: one
 * device u64, preset to ~0 by the caller; receives the smallest position
 * whose index was out of range (those positions are skipped). */
enum { CUDA_LOSS_NONE, CUDA_LOSS_MEAN, CUDA_LOSS_SUM };
/** loss: (N) for NONE, else (1); rows: N doubles of scratch. */
cudaError_t cuda_k_cross_entropy(cudaStream_t st, int mode, float *loss, double *rows, const float *logits,
                                 const void *labels, int idx64, int64_t N, int64_t C, unsigned long long *bad);
cudaError_t cuda_k_cross_entropy_backward(cudaStream_t st, int mode, float *dlogits, const float *dy,
                                          const float *logits, const void *labels, int idx64, int64_t N, int64_t C,
                                          unsigned long long *bad);
/** loss: (n) for NONE, else (1); terms: n doubles of scratch. */
cudaError_t cuda_k_bce_with_logits(cudaStream_t st, int mode, float *loss, double *terms, const float *x,
                                   const float *t, int64_t n);
cudaError_t cuda_k_bce_with_logits_backward(cudaStream_t st, int mode, float *dx, const float *dy, const float *x,
                                            const float *t, int64_t n);
/** y[p, :] = w[idx[p], :]; w (V, D), y (P, D). */
cudaError_t cuda_k_embedding(cudaStream_t st, float *y, const float *w, const void *idx, int idx64, int64_t P,
                             int64_t V, int64_t D, unsigned long long *bad);
/** dw = scatter-add of dy rows at idx; acc: V*D doubles of scratch. */
cudaError_t cuda_k_embedding_backward(cudaStream_t st, float *dw, double *acc, const float *dy, const void *idx,
                                      int idx64, int64_t P, int64_t V, int64_t D, unsigned long long *bad);

/* optimizer updates, in place (outputs may alias inputs) */
cudaError_t cuda_k_sgd(cudaStream_t st, float *p_out, float *buf_out, const float *p, const float *g,
                       const float *buf, double lr, double momentum, double dampening, double wd, int nesterov,
                       int first, int64_t n);
cudaError_t cuda_k_adam(cudaStream_t st, float *p_out, float *m_out, float *v_out, const float *p, const float *g,
                        const float *m, const float *v, double lr, double b1, double b2, double eps, double wd,
                        int decoupled, double step_size, double sqrt_bc2, int64_t n);
cudaError_t cuda_k_rmsprop(cudaStream_t st, float *p_out, float *sq_out, float *buf_out, const float *p,
                           const float *g, const float *sq, const float *buf, double lr, double alpha, double eps,
                           double wd, double momentum, int64_t n);
cudaError_t cuda_k_adagrad(cudaStream_t st, float *p_out, float *sum_out, const float *p, const float *g,
                           const float *sum, double clr, double eps, double wd, int64_t n);
/** gan::ema_update: out = decay ema + (1 - decay) p, in double. */
cudaError_t cuda_k_ema(cudaStream_t st, float *out, const float *ema, const float *p, double decay, int64_t n);

/* NCHW window ops (cuda_conv_kernels.cu): x (N, C, H, W), y (N, C, OH, OW);
 * window (i, j) covers rows i sh - ph .. + KH - 1, columns likewise. */
typedef struct cuda_pool_geom {
    int64_t NC, H, W, OH, OW, KH, KW, sh, sw, ph, pw;
    int count_include_pad;
} cuda_pool_geom;
/** y[n, c, :, :] += bias[c]. */
cudaError_t cuda_k_channel_bias(cudaStream_t st, float *y, const float *bias, int64_t N, int64_t C, int64_t HW);
/** y, idx = max and flat (h W + w) position of the first max of each window. */
cudaError_t cuda_k_max_pool(cudaStream_t st, float *y, int64_t *idx, const float *x, cuda_pool_geom g);
/** flags[0] (set to ~0 first): the first output whose index is outside the
 *  plane, as the index kernels' bad; flags[1] (set to 0 first): 1 when an
 *  index lies outside its window. */
cudaError_t cuda_k_max_pool_check(cudaStream_t st, const int64_t *idx, cuda_pool_geom g, unsigned long long *flags);
/** dx[plane, q] = sum of dy where idx is q, in output order, in double (as
 *  ref); @p acc NULL: every index inside its window (a gather), else NC H W
 *  doubles of scratch for a scatter. */
cudaError_t cuda_k_max_pool_backward(cudaStream_t st, float *dx, const float *dy, const int64_t *idx,
                                     cuda_pool_geom g, double *acc);
cudaError_t cuda_k_avg_pool(cudaStream_t st, float *y, const float *x, cuda_pool_geom g);
/** dx[h, w] = sum over the windows covering (h, w) of dy / divisor. */
cudaError_t cuda_k_avg_pool_backward(cudaStream_t st, float *dx, const float *dy, cuda_pool_geom g);

/* batch norm over x (N, C, S): one block per channel, sums in double, the
 * formulas of plugins/conv/batch_norm.c */
cudaError_t cuda_k_batch_norm(cudaStream_t st, float *y, float *mean_out, float *invstd_out, const float *x,
                              const float *weight, const float *bias, const float *rm, const float *rv, int training,
                              double eps, int64_t N, int64_t C, int64_t S);
cudaError_t cuda_k_batch_norm_backward(cudaStream_t st, float *dx, float *dweight, float *dbias, const float *dy,
                                       const float *x, const float *weight, const float *mean, const float *invstd,
                                       int training, int64_t N, int64_t C, int64_t S);
/** running stats (outputs may alias inputs); nbt_out = nbt + 1. */
cudaError_t cuda_k_batch_norm_update_stats(cudaStream_t st, float *rm_out, float *rv_out, int64_t *nbt_out,
                                           const float *rm, const float *x, const float *rv, const int64_t *nbt,
                                           double momentum, int64_t N, int64_t C, int64_t S);

#ifdef __cplusplus
}
#endif
#endif /* CUDA_KERNELS_H */
