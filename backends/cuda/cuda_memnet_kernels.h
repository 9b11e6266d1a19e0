/*
 * cuda_memnet_kernels.h - launchers of the memnet plugin's kernels
 * (cuda_memnet_kernels.cu), callable from C; plugins/memnet/encode.c
 * defines the ops. As cuda_kernels.h: each queues its kernel(s) on @p st,
 * returns the launch status and does not synchronise; pointers are device
 * addresses, sizes element counts.
 */
#ifndef CUDA_MEMNET_KERNELS_H
#define CUDA_MEMNET_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Word weights l_kj (attr "encoding"), in the order of the plugin's MN_ENC_*. */
enum { CUDA_MN_BOW, CUDA_MN_POSITION, CUDA_MN_POSITION_PAPER };

/** One call's sizes: x (R, J) word ids (x64: i64, else i32), R rows of J
 *  words; V words of d dimensions; M memory slots (0: no temporal
 *  encoding; row r is slot r % M); pad the padding word (-1: none). */
typedef struct cuda_mn_geom {
    int64_t R, J, V, d, M, pad;
    int enc;  /* CUDA_MN_* */
    int x64;
} cuda_mn_geom;

/* bad: one device u64 preset to ~0 (cuda_bad_alloc); receives the smallest
 * flat position of x whose word is neither padding nor in [0, V). Such
 * words are skipped. */

/** y (R, d): y[r] = sum_j l_j * E[x[r, j]], plus T[r % M] when T is given
 *  and row r holds a word; E (V, d), T (M, d) or NULL. */
cudaError_t cuda_k_mn_encode(cudaStream_t st, float *y, const float *E, const void *x, const float *T,
                             cuda_mn_geom g, unsigned long long *bad);
/** dE (V, d) = sum over (r, j) with x[r, j] = v of l_j * dy[r]; dy (R, d);
 *  acc: V d doubles of scratch (summed in double, rounded once). */
cudaError_t cuda_k_mn_encode_backward(cudaStream_t st, float *dE, double *acc, const float *dy, const void *x,
                                      cuda_mn_geom g, unsigned long long *bad);
/** m (R): 1 where row r holds a word other than pad (every row when pad is -1), else 0. */
cudaError_t cuda_k_mn_slot_mask(cudaStream_t st, float *m, const void *x, cuda_mn_geom g);

#ifdef __cplusplus
}
#endif
#endif /* CUDA_MEMNET_KERNELS_H */
