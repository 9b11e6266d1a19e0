/*
 * cuda_memnet_kernels.cu - the memnet plugin's sentence encoding, its
 * gradient and the slot mask (launchers in cuda_memnet_kernels.h), with the
 * formulas of plugins/memnet/encode.c, the reference.
 *
 * encode: one thread per output element (r, k); it adds the row's J words
 * in ref's order with ref's roundings (f32 products and sums, no FMA
 * contraction), so it gives ref's numbers. encode_backward: one thread per
 * (r, j, k) adds its term, a product of two floats and so exact in double,
 * into a (V, d) double buffer with atomics, rounded to f32 once: only the
 * order of the double sums differs from ref's (r, j) order. The word
 * weights are computed per element, in double as mn_word_weights, then
 * rounded to f32.
 */
#include <stdint.h>

#include "cuda_memnet_kernels.h"
#include "cuda_grid.h"

/* Word id at flat position i of x. */
__device__ __forceinline__ int64_t cm_word(const void *x, int x64, int64_t i)
{
    return x64 ? ((const int64_t *)x)[i] : (int64_t)((const int32_t *)x)[i];
}

/* ref's is_pad: with pad -1 (none) a word -1 is out of range like any other. */
__device__ __forceinline__ int cm_is_pad(int64_t v, int64_t pad)
{
    return pad >= 0 && v == pad;
}

/* l_kj for word slot j0 and dimension k0 (0-based; the formulas' j and k
 * are 1-based) of J slots and d dimensions, as mn_word_weights: in double,
 * rounded to f32. The product of the paper's formula is kept out of an FMA
 * so that it rounds as on the host. */
__device__ float cm_weight(int enc, int64_t j0, int64_t k0, int64_t J, int64_t d)
{
    const double j = (double)(j0 + 1), k = (double)(k0 + 1);
    double l = 1.0;
    if (enc == CUDA_MN_POSITION)
        l = 1.0 + 4.0 * (j - (double)(J + 1) / 2.0) * (k - (double)(d + 1) / 2.0) / (double)(J * d);
    else if (enc == CUDA_MN_POSITION_PAPER)
        l = (1.0 - j / (double)J) - __dmul_rn(k / (double)d, 1.0 - 2.0 * j / (double)J);
    return (float)l;
}

/* y (R, d), E (V, d), x (R, J), T (M, d) or NULL. */
__global__ void cm_encode(float *y, const float *E, const void *x, const float *T, cuda_mn_geom g,
                          unsigned long long *bad)
{
    CUDA_FOR(i, g.R * g.d)
    {
        const int64_t r = i / g.d, k = i - r * g.d;
        const int64_t row = r * g.J; /* flat position of the row's first word */
        int any = 0;
        for (int64_t j = 0; j < g.J && !any; j++)
            any = !cm_is_pad(cm_word(x, g.x64, row + j), g.pad);
        float acc = T && any ? T[(r % g.M) * g.d + k] : 0.0f;
        for (int64_t j = 0; j < g.J; j++) {
            const int64_t v = cm_word(x, g.x64, row + j);
            if (cm_is_pad(v, g.pad))
                continue;
            if (v < 0 || v >= g.V) {
                if (k == 0)
                    atomicMin(bad, (unsigned long long)(row + j));
                continue;
            }
            acc = __fadd_rn(acc, __fmul_rn(cm_weight(g.enc, j, k, g.J, g.d), E[v * g.d + k]));
        }
        y[i] = acc;
    }
}

extern "C" cudaError_t cuda_k_mn_encode(cudaStream_t st, float *y, const float *E, const void *x, const float *T,
                                        cuda_mn_geom g, unsigned long long *bad)
{
    if (g.M < 1)
        T = NULL;
    if (g.R * g.d > 0)
        cm_encode<<<cuda_blocks(g.R * g.d), CUDA_THREADS, 0, st>>>(y, E, x, T, g, bad);
    return cudaGetLastError();
}

/* acc (V, d) += l_j dy[r] at row x[r, j] for every word; dy (R, d), x (R, J). */
__global__ void cm_encode_scatter(double *acc, const float *dy, const void *x, cuda_mn_geom g,
                                  unsigned long long *bad)
{
    CUDA_FOR(i, g.R * g.J * g.d)
    {
        const int64_t p = i / g.d, k = i - p * g.d; /* p: the word's flat position, r J + j */
        const int64_t r = p / g.J, j = p - r * g.J;
        const int64_t v = cm_word(x, g.x64, p);
        if (cm_is_pad(v, g.pad))
            continue;
        if (v < 0 || v >= g.V) {
            if (k == 0)
                atomicMin(bad, (unsigned long long)p);
            continue;
        }
        atomicAdd(&acc[v * g.d + k], (double)cm_weight(g.enc, j, k, g.J, g.d) * (double)dy[r * g.d + k]);
    }
}

__global__ void cm_round(float *y, const double *x, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] = (float)x[i];
}

extern "C" cudaError_t cuda_k_mn_encode_backward(cudaStream_t st, float *dE, double *acc, const float *dy,
                                                 const void *x, cuda_mn_geom g, unsigned long long *bad)
{
    const int64_t n = g.V * g.d;
    if (n <= 0)
        return cudaSuccess;
    cudaError_t e = cudaMemsetAsync(acc, 0, (size_t)n * sizeof(double), st);
    if (e != cudaSuccess)
        return e;
    if (g.R * g.J * g.d > 0)
        cm_encode_scatter<<<cuda_blocks(g.R * g.J * g.d), CUDA_THREADS, 0, st>>>(acc, dy, x, g, bad);
    cm_round<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(dE, acc, n);
    return cudaGetLastError();
}

/* m (R), x (R, J). */
__global__ void cm_slot_mask(float *m, const void *x, cuda_mn_geom g)
{
    CUDA_FOR(r, g.R)
    {
        int any = g.pad < 0;
        for (int64_t j = 0; j < g.J && !any; j++)
            any = !cm_is_pad(cm_word(x, g.x64, r * g.J + j), g.pad);
        m[r] = any ? 1.0f : 0.0f;
    }
}

extern "C" cudaError_t cuda_k_mn_slot_mask(cudaStream_t st, float *m, const void *x, cuda_mn_geom g)
{
    if (g.R > 0)
        cm_slot_mask<<<cuda_blocks(g.R), CUDA_THREADS, 0, st>>>(m, x, g);
    return cudaGetLastError();
}
