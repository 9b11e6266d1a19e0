/*
 * cuda_kernels.cu - the cuda backend's own kernels (launchers declared in
 * cuda_kernels.h). Written to be read next to the ref backend: the same
 * formulas, with sums accumulated in double where ref sums, and the random
 * ops bit for bit the Philox stream of strata_backend.h.
 *
 * Layout: elementwise maps use grid-stride loops over 64-bit indices;
 * reductions, softmax and the row losses give one block to each group
 * (row), or one thread to each group when groups are short.
 */
#include <math.h>
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_kernels.h"
#include "cuda_grid.h"

/* Offset of element i of operand k under walk w. */
__device__ __forceinline__ int64_t ck_offset(const cuda_walk &w, int k, int64_t i)
{
    int64_t off = 0;
    for (int d = w.ndim - 1; d >= 0; d--) {
        int64_t s = w.shape[d];
        int64_t q = i / s;
        off += (i - q * s) * w.stride[k][d];
        i = q;
    }
    return off;
}

/* ---- elementwise ---------------------------------------------------------- */

__global__ void ck_binary(int fn, float *y, const float *a, const float *b, int64_t n, cuda_walk w)
{
    CUDA_FOR(i, n)
    {
        float av = a[ck_offset(w, 0, i)], bv = b[ck_offset(w, 1, i)];
        float r;
        switch (fn) {
        case CUDA_ADD: r = av + bv; break;
        case CUDA_SUB: r = av - bv; break;
        case CUDA_MUL: r = av * bv; break;
        default: r = av / bv; break;
        }
        y[i] = r;
    }
}

/* Same shapes: no index arithmetic. */
__global__ void ck_binary_flat(int fn, float *y, const float *a, const float *b, int64_t n)
{
    CUDA_FOR(i, n)
    {
        float av = a[i], bv = b[i];
        y[i] = fn == CUDA_ADD ? av + bv : fn == CUDA_SUB ? av - bv : fn == CUDA_MUL ? av * bv : av / bv;
    }
}

extern "C" cudaError_t cuda_k_binary(cudaStream_t st, int fn, float *y, const float *a, const float *b, int64_t n,
                                     const cuda_walk *w)
{
    if (n <= 0)
        return cudaSuccess;
    int flat = 1;
    int64_t expect = 1;
    for (int d = w->ndim - 1; d >= 0 && flat; d--) {
        flat = (w->shape[d] == 1) || (w->stride[0][d] == expect && w->stride[1][d] == expect);
        expect *= w->shape[d];
    }
    if (flat)
        ck_binary_flat<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(fn, y, a, b, n);
    else
        ck_binary<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(fn, y, a, b, n, *w);
    return cudaGetLastError();
}

#define CK_INV_SQRT2 0.70710678118654752440f
#define CK_INV_SQRT_2PI 0.39894228040143267794f

__device__ __forceinline__ float ck_logistic(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

__global__ void ck_unary(int fn, float *y, const float *x, float alpha, float beta, float exponent, int64_t n)
{
    CUDA_FOR(i, n)
    {
        float v = x[i], r;
        switch (fn) {
        case CUDA_NEG: r = -v; break;
        case CUDA_EXP: r = expf(v); break;
        case CUDA_LOG: r = logf(v); break;
        case CUDA_SQRT: r = sqrtf(v); break;
        case CUDA_ABS: r = fabsf(v); break;
        case CUDA_RELU: r = v <= 0.0f ? 0.0f : v; break; /* NaN stays NaN, as PyTorch */
        case CUDA_LEAKY_RELU: r = v > 0.0f ? v : alpha * v; break;
        case CUDA_SIGMOID: r = ck_logistic(v); break;
        case CUDA_TANH: r = tanhf(v); break;
        case CUDA_GELU: r = 0.5f * v * (1.0f + erff(v * CK_INV_SQRT2)); break;
        case CUDA_POW: r = powf(v, exponent); break;
        default: r = (float)((double)alpha * v + (double)beta); break; /* scale */
        }
        y[i] = r;
    }
}

extern "C" cudaError_t cuda_k_unary(cudaStream_t st, int fn, float *y, const float *x, double alpha, double beta,
                                    double exponent, int64_t n)
{
    if (n <= 0)
        return cudaSuccess;
    ck_unary<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(fn, y, x, (float)alpha, (float)beta, (float)exponent, n);
    return cudaGetLastError();
}

/* strata_dtype codes core::cast converts between. */
#define CK_F32 1
#define CK_F16 4

/* x[i] of dtype from (f32, f16 or bf16) as a float: exact; an f16 NaN
 * keeps its sign and payload, quiet, as strata_half.h. */
__device__ float ck_cast_load(const void *x, int64_t i, int from)
{
    if (from == CK_F32)
        return ((const float *)x)[i];
    const unsigned h = ((const unsigned short *)x)[i];
    if (from != CK_F16)
        return __uint_as_float(h << 16);
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu))
        return __uint_as_float((h & 0x8000u) << 16 | 0x7FC00000u | (h & 0x3FFu) << 13);
    return __half2float(__ushort_as_half((unsigned short)h));
}

/* Rounding is the libraries' (to nearest even); a NaN is made here as
 * strata_half.h makes it (quiet, its sign, its payload's top bits), where
 * __float2half_rn and __float2bfloat16_rn give one canonical NaN. */
__global__ void ck_cast(int from, int to, void *y, const void *x, int64_t n)
{
    CUDA_FOR(i, n)
    {
        const float v = ck_cast_load(x, i, from);
        const unsigned u = __float_as_uint(v);
        const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
        unsigned short *yh = (unsigned short *)y;
        if (to == CK_F32)
            ((float *)y)[i] = v;
        else if (to == CK_F16)
            yh[i] = nan ? (unsigned short)((u >> 16 & 0x8000u) | 0x7E00u | (u >> 13 & 0x1FFu))
                        : __half_as_ushort(__float2half_rn(v));
        else
            yh[i] = nan ? (unsigned short)(u >> 16 | 0x0040u) : __bfloat16_as_ushort(__float2bfloat16_rn(v));
    }
}

extern "C" cudaError_t cuda_k_cast(cudaStream_t st, int from, int to, void *y, const void *x, int64_t n)
{
    if (n <= 0)
        return cudaSuccess;
    ck_cast<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(from, to, y, x, n);
    return cudaGetLastError();
}

__global__ void ck_unary_backward(int fn, float *dx, const float *dy, const float *x, float alpha, float exponent,
                                  int64_t n)
{
    CUDA_FOR(i, n)
    {
        float v = x[i], d;
        switch (fn) {
        case CUDA_EXP: d = expf(v); break;
        case CUDA_LOG: d = 1.0f / v; break;
        case CUDA_SQRT: d = 0.5f / sqrtf(v); break;
        case CUDA_ABS: d = v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : 0.0f; break;
        case CUDA_RELU: d = v <= 0.0f ? 0.0f : 1.0f; break;
        case CUDA_LEAKY_RELU: d = v > 0.0f ? 1.0f : alpha; break;
        case CUDA_SIGMOID: {
            float s = ck_logistic(v);
            d = s * (1.0f - s);
            break;
        }
        case CUDA_TANH: {
            float t = tanhf(v);
            d = 1.0f - t * t;
            break;
        }
        case CUDA_GELU:
            d = 0.5f * (1.0f + erff(v * CK_INV_SQRT2)) + v * CK_INV_SQRT_2PI * expf(-0.5f * v * v);
            break;
        case CUDA_POW: d = exponent == 0.0f ? 0.0f : exponent * powf(v, exponent - 1.0f); break;
        default: d = -1.0f; break; /* neg */
        }
        dx[i] = dy[i] * d;
    }
}

extern "C" cudaError_t cuda_k_unary_backward(cudaStream_t st, int fn, float *dx, const float *dy, const float *x,
                                             double alpha, double exponent, int64_t n)
{
    if (n <= 0)
        return cudaSuccess;
    ck_unary_backward<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(fn, dx, dy, x, (float)alpha, (float)exponent, n);
    return cudaGetLastError();
}

template <typename T> __global__ void ck_strided_copy(T *y, const T *x, int64_t n, cuda_walk w)
{
    CUDA_FOR(i, n)
    y[i] = x[ck_offset(w, 0, i)];
}

extern "C" cudaError_t cuda_k_strided_copy(cudaStream_t st, void *y, const void *x, int elem_bytes, int64_t n,
                                           const cuda_walk *w)
{
    if (n <= 0)
        return cudaSuccess;
    if (elem_bytes == 8)
        ck_strided_copy<int64_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>((int64_t *)y, (const int64_t *)x, n, *w);
    else if (elem_bytes == 2) /* f16, bf16 */
        ck_strided_copy<uint16_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>((uint16_t *)y, (const uint16_t *)x, n, *w);
    else
        ck_strided_copy<int32_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>((int32_t *)y, (const int32_t *)x, n, *w);
    return cudaGetLastError();
}

__global__ void ck_bias_add(float *y, const float *bias, int64_t R, int64_t OUT)
{
    CUDA_FOR(i, R * OUT)
    y[i] += bias[i % OUT];
}

extern "C" cudaError_t cuda_k_bias_add(cudaStream_t st, float *y, const float *bias, int64_t R, int64_t OUT)
{
    if (R * OUT <= 0)
        return cudaSuccess;
    ck_bias_add<<<cuda_blocks(R * OUT), CUDA_THREADS, 0, st>>>(y, bias, R, OUT);
    return cudaGetLastError();
}

/* ---- creation and random ------------------------------------------------- */

template <typename T> __global__ void ck_fill(T *y, T v, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] = v;
}

extern "C" cudaError_t cuda_k_fill_f32(cudaStream_t st, float *y, float v, int64_t n)
{
    if (n > 0)
        ck_fill<float><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, v, n);
    return cudaGetLastError();
}
extern "C" cudaError_t cuda_k_fill_i32(cudaStream_t st, int32_t *y, int32_t v, int64_t n)
{
    if (n > 0)
        ck_fill<int32_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, v, n);
    return cudaGetLastError();
}
extern "C" cudaError_t cuda_k_fill_i64(cudaStream_t st, int64_t *y, int64_t v, int64_t n)
{
    if (n > 0)
        ck_fill<int64_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, v, n);
    return cudaGetLastError();
}

/* Philox4x32-10 of strata_backend.h: counter {c lo, c hi, 0, 0}, key seed. */
__device__ __forceinline__ uint4 ck_philox(uint64_t counter, uint64_t seed)
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ uint32_t ck_word(uint4 b, unsigned w)
{
    return w == 0 ? b.x : w == 1 ? b.y : w == 2 ? b.z : b.w;
}

/* strata_philox_uniform: word i % 4 of block offset + i / 4, as a float in [0, 1). */
__device__ __forceinline__ float ck_uniform(uint64_t seed, uint64_t offset, uint64_t i)
{
    uint4 b = ck_philox(offset + i / 4, seed);
    return (float)(ck_word(b, (unsigned)(i % 4)) >> 8) * (1.0f / 16777216.0f);
}

/* strata_philox_normal: Box-Muller in double over words 2(i%2), 2(i%2)+1 of block offset + i / 2. */
__device__ __forceinline__ float ck_normal(uint64_t seed, uint64_t offset, uint64_t i)
{
    uint4 b = ck_philox(offset + i / 2, seed);
    unsigned w = (unsigned)(2 * (i % 2));
    double u1 = __dmul_rn(__dadd_rn((double)(ck_word(b, w) >> 8), 1.0), 1.0 / 16777216.0);
    double u2 = __dmul_rn((double)(ck_word(b, w + 1) >> 8), 1.0 / 16777216.0);
    return (float)__dmul_rn(sqrt(__dmul_rn(-2.0, log(u1))), cos(__dmul_rn(6.283185307179586, u2)));
}

/* The _rn intrinsics keep nvcc from contracting into FMAs: ref rounds each step. */
__global__ void ck_uniform_kernel(float *y, uint64_t seed, uint64_t offset, double low, double high, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] = (float)__dadd_rn(low, __dmul_rn(__dadd_rn(high, -low), (double)ck_uniform(seed, offset, (uint64_t)i)));
}

__global__ void ck_normal_kernel(float *y, uint64_t seed, uint64_t offset, double mean, double std, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] = (float)__dadd_rn(mean, __dmul_rn(std, (double)ck_normal(seed, offset, (uint64_t)i)));
}

__global__ void ck_dropout(float *y, float *mask, const float *x, uint64_t seed, uint64_t offset, double p,
                           double kept_scale, int64_t n)
{
    CUDA_FOR(i, n)
    {
        int keep = (double)ck_uniform(seed, offset, (uint64_t)i) >= p;
        float m = (float)(keep ? kept_scale : 0.0);
        mask[i] = m;
        y[i] = (float)__dmul_rn((double)x[i], (double)m);
    }
}

extern "C" cudaError_t cuda_k_uniform(cudaStream_t st, float *y, uint64_t seed, uint64_t offset, double low,
                                      double high, int64_t n)
{
    if (n > 0)
        ck_uniform_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, seed, offset, low, high, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_normal(cudaStream_t st, float *y, uint64_t seed, uint64_t offset, double mean,
                                     double std, int64_t n)
{
    if (n > 0)
        ck_normal_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, seed, offset, mean, std, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_dropout(cudaStream_t st, float *y, float *mask, const float *x, uint64_t seed,
                                      uint64_t offset, double p, double kept_scale, int64_t n)
{
    if (n > 0)
        ck_dropout<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, mask, x, seed, offset, p, kept_scale, n);
    return cudaGetLastError();
}

__global__ void ck_dropout2d(float *y, float *mask, const float *x, uint64_t seed, uint64_t offset, double p,
                             double kept_scale, int64_t NC, int64_t S)
{
    CUDA_FOR(k, NC * S)
    {
        int64_t i = k / S;
        int keep = (double)ck_uniform(seed, offset, (uint64_t)i) >= p;
        float m = (float)(keep ? kept_scale : 0.0);
        if (k == i * S)
            mask[i] = m;
        y[k] = (float)__dmul_rn((double)x[k], (double)m);
    }
}

__global__ void ck_dropout2d_mask(float *mask, uint64_t seed, uint64_t offset, double p, double kept_scale,
                                  int64_t NC)
{
    CUDA_FOR(i, NC)
    {
        mask[i] = (float)((double)ck_uniform(seed, offset, (uint64_t)i) >= p ? kept_scale : 0.0);
    }
}

extern "C" cudaError_t cuda_k_dropout2d(cudaStream_t st, float *y, float *mask, const float *x, uint64_t seed,
                                        uint64_t offset, double p, double kept_scale, int64_t NC, int64_t S)
{
    if (NC * S > 0)
        ck_dropout2d<<<cuda_blocks(NC * S), CUDA_THREADS, 0, st>>>(y, mask, x, seed, offset, p, kept_scale, NC, S);
    else if (NC > 0) /* channels with no elements still draw their mask, as ref does */
        ck_dropout2d_mask<<<cuda_blocks(NC), CUDA_THREADS, 0, st>>>(mask, seed, offset, p, kept_scale, NC);
    return cudaGetLastError();
}

/* ---- block reductions ----------------------------------------------------- */

/* Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
template <typename T> __device__ T ck_block_sum(T v)
{
    __shared__ T part[32];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads(); /* part[] may still be read from a previous call */
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    T total = 0;
    int n_warps = (blockDim.x + 31) >> 5;
    for (int k = 0; k < n_warps; k++)
        total += part[k];
    return total;
}

/* Max of v over the block (NaN ignored, as ref's `>` scan); every thread gets it. */
__device__ float ck_block_max(float v)
{
    __shared__ float part[32];
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    float m = -INFINITY;
    int n_warps = (blockDim.x + 31) >> 5;
    for (int k = 0; k < n_warps; k++)
        m = fmaxf(m, part[k]);
    return m;
}

/* ref_beats: v replaces best when larger, or NaN over a number; ties keep the first. */
__device__ __forceinline__ int ck_beats(float v, float best)
{
    return v > best || (v != v && best == best);
}

/* (value, position) of the first maximum over the block. */
__device__ void ck_block_argmax(float &v, int64_t &j)
{
    __shared__ float pv[CUDA_THREADS];
    __shared__ int64_t pj[CUDA_THREADS];
    __syncthreads();
    pv[threadIdx.x] = v;
    pj[threadIdx.x] = j;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            float ov = pv[threadIdx.x + s];
            int64_t oj = pj[threadIdx.x + s];
            float mv = pv[threadIdx.x];
            int64_t mj = pj[threadIdx.x];
            int take = oj >= 0 && (mj < 0 || ck_beats(ov, mv) || (!ck_beats(mv, ov) && oj < mj));
            if (take) {
                pv[threadIdx.x] = ov;
                pj[threadIdx.x] = oj;
            }
        }
        __syncthreads();
    }
    v = pv[0];
    j = pj[0];
}

/* ---- reductions over axes ------------------------------------------------- */

/* Short groups: one thread per group. */
__global__ void ck_reduce_thread(int fn, float *y, const float *x, int64_t n_out, int64_t n_red, cuda_walk kept,
                                 cuda_walk red)
{
    CUDA_FOR(o, n_out)
    {
        const float *g = x + ck_offset(kept, 0, o);
        if (fn == CUDA_RED_MAX) {
            float best = g[0];
            for (int64_t j = 0; j < n_red; j++) {
                float v = g[ck_offset(red, 0, j)];
                if (ck_beats(v, best))
                    best = v;
            }
            y[o] = best;
        } else {
            double s = 0.0;
            for (int64_t j = 0; j < n_red; j++)
                s += g[ck_offset(red, 0, j)];
            y[o] = (float)(fn == CUDA_RED_MEAN ? s / (double)n_red : s);
        }
    }
}

/* Long groups: one block per group. */
__global__ void ck_reduce_block(int fn, float *y, const float *x, int64_t n_red, cuda_walk kept, cuda_walk red)
{
    int64_t o = blockIdx.x;
    const float *g = x + ck_offset(kept, 0, o);
    if (fn == CUDA_RED_MAX) {
        float best = 0.0f;
        int64_t bj = -1;
        for (int64_t j = threadIdx.x; j < n_red; j += blockDim.x) {
            float v = g[ck_offset(red, 0, j)];
            if (bj < 0 || ck_beats(v, best)) {
                best = v;
                bj = j;
            }
        }
        ck_block_argmax(best, bj);
        if (threadIdx.x == 0)
            y[o] = best;
    } else {
        double s = 0.0;
        for (int64_t j = threadIdx.x; j < n_red; j += blockDim.x)
            s += g[ck_offset(red, 0, j)];
        s = ck_block_sum<double>(s);
        if (threadIdx.x == 0)
            y[o] = (float)(fn == CUDA_RED_MEAN ? s / (double)n_red : s);
    }
}

/* Long groups, few of them (a whole tensor's sum): group o cut into
 * gridDim.x chunks of @p chunk elements; block (p, o) writes its chunk's
 * sum, in double, to part[o gridDim.x + p]. */
__global__ void ck_reduce_split(double *part, const float *x, int64_t n_red, int64_t chunk, cuda_walk kept,
                                cuda_walk red)
{
    const int64_t o = blockIdx.y, p = blockIdx.x, lo = p * chunk, hi = lo + chunk < n_red ? lo + chunk : n_red;
    const float *g = x + ck_offset(kept, 0, o);
    double s = 0.0;
    for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x)
        s += g[ck_offset(red, 0, j)];
    s = ck_block_sum<double>(s);
    if (threadIdx.x == 0)
        part[o * gridDim.x + p] = s;
}

/* y[o] = the sum (or mean) of group o's n_parts partial sums. */
__global__ void ck_reduce_parts(int fn, float *y, const double *part, int64_t n_parts, int64_t n_red)
{
    const int64_t o = blockIdx.x;
    double s = 0.0;
    for (int64_t p = threadIdx.x; p < n_parts; p += blockDim.x)
        s += part[o * n_parts + p];
    s = ck_block_sum<double>(s);
    if (threadIdx.x == 0)
        y[o] = (float)(fn == CUDA_RED_MEAN ? s / (double)n_red : s);
}

extern "C" cudaError_t cuda_k_reduce_split(cudaStream_t st, int fn, float *y, const float *x, int64_t n_out,
                                           int64_t n_red, const cuda_walk *kept, const cuda_walk *red, double *part,
                                           int64_t n_parts)
{
    if (n_out <= 0)
        return cudaSuccess;
    if (fn == CUDA_RED_MAX || n_out > 65535 || n_parts < 1 || n_parts > n_red || n_parts > CUDA_MAX_BLOCKS)
        return cudaErrorInvalidConfiguration;
    const int64_t chunk = (n_red + n_parts - 1) / n_parts;
    ck_reduce_split<<<dim3((unsigned)n_parts, (unsigned)n_out), CUDA_THREADS, 0, st>>>(part, x, n_red, chunk, *kept,
                                                                                     *red);
    ck_reduce_parts<<<(unsigned)n_out, CUDA_THREADS, 0, st>>>(fn, y, part, n_parts, n_red);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_reduce(cudaStream_t st, int fn, float *y, const float *x, int64_t n_out, int64_t n_red,
                                     const cuda_walk *kept, const cuda_walk *red)
{
    if (n_out <= 0)
        return cudaSuccess;
    if (n_red == 0) { /* sum of nothing is 0, mean of nothing NaN (0/0), as ref */
        ck_fill<float><<<cuda_blocks(n_out), CUDA_THREADS, 0, st>>>(y, fn == CUDA_RED_MEAN ? NAN : 0.0f, n_out);
    } else if (n_red < 64 || n_out > (int64_t)INT32_MAX) {
        ck_reduce_thread<<<cuda_blocks(n_out), CUDA_THREADS, 0, st>>>(fn, y, x, n_out, n_red, *kept, *red);
    } else {
        ck_reduce_block<<<(unsigned)n_out, CUDA_THREADS, 0, st>>>(fn, y, x, n_red, *kept, *red);
    }
    return cudaGetLastError();
}

__global__ void ck_argmax(int64_t *y, const float *x, int64_t n_red, cuda_walk kept, cuda_walk red)
{
    int64_t o = blockIdx.x;
    const float *g = x + ck_offset(kept, 0, o);
    float best = 0.0f;
    int64_t bj = -1;
    for (int64_t j = threadIdx.x; j < n_red; j += blockDim.x) {
        float v = g[ck_offset(red, 0, j)];
        if (bj < 0 || ck_beats(v, best)) {
            best = v;
            bj = j;
        }
    }
    ck_block_argmax(best, bj);
    if (threadIdx.x == 0)
        y[o] = bj;
}

extern "C" cudaError_t cuda_k_argmax(cudaStream_t st, int64_t *y, const float *x, int64_t n_out, int64_t n_red,
                                     const cuda_walk *kept, const cuda_walk *red)
{
    if (n_out <= 0)
        return cudaSuccess;
    if (n_out > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_argmax<<<(unsigned)n_out, n_red < 256 ? 32 : CUDA_THREADS, 0, st>>>(y, x, n_red, *kept, *red);
    return cudaGetLastError();
}

__global__ void ck_max_backward(float *dx, const float *dy, const float *x, int64_t n_red, cuda_walk kept,
                                cuda_walk red)
{
    int64_t o = blockIdx.x;
    int64_t base = ck_offset(kept, 0, o);
    float best = 0.0f;
    int64_t bj = -1;
    for (int64_t j = threadIdx.x; j < n_red; j += blockDim.x) {
        float v = x[base + ck_offset(red, 0, j)];
        if (bj < 0 || ck_beats(v, best)) {
            best = v;
            bj = j;
        }
    }
    ck_block_argmax(best, bj);
    if (threadIdx.x == 0 && bj >= 0)
        dx[base + ck_offset(red, 0, bj)] = dy[o];
}

extern "C" cudaError_t cuda_k_max_backward(cudaStream_t st, float *dx, const float *dy, const float *x, int64_t n_x,
                                           int64_t n_out, int64_t n_red, const cuda_walk *kept,
                                           const cuda_walk *red)
{
    if (n_x <= 0)
        return cudaSuccess;
    cudaError_t e = cudaMemsetAsync(dx, 0, (size_t)n_x * sizeof(float), st);
    if (e != cudaSuccess || n_out <= 0)
        return e;
    if (n_out > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_max_backward<<<(unsigned)n_out, n_red < 256 ? 32 : CUDA_THREADS, 0, st>>>(dx, dy, x, n_red, *kept, *red);
    return cudaGetLastError();
}

/* ---- softmax -------------------------------------------------------------- */

/* One block per row (o, i): elements x[o n inner + j inner + i], j < n. */
__global__ void ck_softmax(int log_space, float *y, const float *x, int64_t n, int64_t inner)
{
    int64_t row = blockIdx.x, o = row / inner, i = row - o * inner;
    const float *xr = x + o * n * inner + i;
    float *yr = y + o * n * inner + i;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        m = fmaxf(m, xr[j * inner]);
    m = ck_block_max(m);
    double s = 0.0; /* summed in double, as ref does: a long row's float sum lost digits */
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        s += (double)expf(xr[j * inner] - m);
    s = ck_block_sum<double>(s);
    double log_s = log(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float z = xr[j * inner] - m;
        yr[j * inner] = (float)(log_space ? (double)z - log_s : (double)expf(z) / s);
    }
}

__global__ void ck_softmax_backward(int log_space, float *dx, const float *dy, const float *y, int64_t n,
                                    int64_t inner)
{
    int64_t row = blockIdx.x, o = row / inner, i = row - o * inner;
    int64_t base = o * n * inner + i;
    double dot = 0.0; /* in double, as ref: y (dy - dot) cancels where dy is near dot */
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        int64_t k = base + j * inner;
        dot += log_space ? (double)dy[k] : (double)dy[k] * y[k];
    }
    dot = ck_block_sum<double>(dot);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        int64_t k = base + j * inner;
        dx[k] = (float)(log_space ? dy[k] - (double)expf(y[k]) * dot : y[k] * (dy[k] - dot));
    }
}

static unsigned ck_row_threads(int64_t n)
{
    return n <= 32 ? 32 : n <= 128 ? 128 : CUDA_THREADS;
}

extern "C" cudaError_t cuda_k_softmax(cudaStream_t st, int log_space, float *y, const float *x, int64_t outer,
                                      int64_t n, int64_t inner)
{
    if (outer * inner <= 0 || n <= 0)
        return cudaSuccess;
    if (outer * inner > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_softmax<<<(unsigned)(outer * inner), ck_row_threads(n), 0, st>>>(log_space, y, x, n, inner);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_softmax_backward(cudaStream_t st, int log_space, float *dx, const float *dy,
                                               const float *y, int64_t outer, int64_t n, int64_t inner)
{
    if (outer * inner <= 0 || n <= 0)
        return cudaSuccess;
    if (outer * inner > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_softmax_backward<<<(unsigned)(outer * inner), ck_row_threads(n), 0, st>>>(log_space, dx, dy, y, n, inner);
    return cudaGetLastError();
}

/* ---- losses --------------------------------------------------------------- */

__device__ __forceinline__ int64_t ck_index(const void *idx, int idx64, int64_t p)
{
    return idx64 ? ((const int64_t *)idx)[p] : (int64_t)((const int32_t *)idx)[p];
}

/* log sum_c exp(row[c] - m) over the block, m the row's max (in *max), summed in double: logsumexp(row) - m,
 * kept apart from m as in ref (m + log(s) rounds the log away at large m). */
__device__ double ck_row_log_sum(const float *row, int64_t C, double *max)
{
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        m = fmaxf(m, row[c]);
    m = ck_block_max(m);
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        s += exp((double)row[c] - (double)m);
    s = ck_block_sum<double>(s);
    *max = m;
    return log(s);
}

__global__ void ck_cross_entropy(int mode, float *loss, double *rows, const float *logits, const void *labels,
                                 int idx64, int64_t C, unsigned long long *bad)
{
    int64_t n = blockIdx.x;
    const float *row = logits + n * C;
    int64_t label = ck_index(labels, idx64, n);
    int ok = label >= 0 && label < C;
    double m, ls = ck_row_log_sum(row, C, &m);
    if (threadIdx.x != 0)
        return;
    if (!ok)
        atomicMin(bad, (unsigned long long)n);
    double ln = ok ? ls - ((double)row[label] - m) : 0.0;
    if (mode == CUDA_LOSS_NONE)
        loss[n] = (float)ln;
    else
        rows[n] = ln;
}

/* out[0] = (float)(sum(v) * scale), one block. */
__global__ void ck_sum_doubles(float *out, const double *v, int64_t n, double scale)
{
    double s = 0.0;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
        s += v[k];
    s = ck_block_sum<double>(s);
    if (threadIdx.x == 0)
        out[0] = (float)(s * scale);
}

extern "C" cudaError_t cuda_k_cross_entropy(cudaStream_t st, int mode, float *loss, double *rows,
                                            const float *logits, const void *labels, int idx64, int64_t N,
                                            int64_t C, unsigned long long *bad)
{
    if (N <= 0) {
        if (mode != CUDA_LOSS_NONE)
            ck_fill<float><<<1, 32, 0, st>>>(loss, mode == CUDA_LOSS_MEAN ? NAN : 0.0f, 1);
        return cudaGetLastError();
    }
    if (N > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_cross_entropy<<<(unsigned)N, ck_row_threads(C), 0, st>>>(mode, loss, rows, logits, labels, idx64, C, bad);
    if (mode != CUDA_LOSS_NONE)
        ck_sum_doubles<<<1, 1024, 0, st>>>(loss, rows, N, mode == CUDA_LOSS_MEAN ? 1.0 / (double)N : 1.0);
    return cudaGetLastError();
}

__global__ void ck_cross_entropy_backward(int mode, float *dlogits, const float *dy, const float *logits,
                                          const void *labels, int idx64, int64_t N, int64_t C,
                                          unsigned long long *bad)
{
    int64_t n = blockIdx.x;
    const float *row = logits + n * C;
    float *drow = dlogits + n * C;
    int64_t label = ck_index(labels, idx64, n);
    if (label < 0 || label >= C) {
        if (threadIdx.x == 0)
            atomicMin(bad, (unsigned long long)n);
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
            drow[c] = 0.0f;
        return;
    }
    double m, ls = ck_row_log_sum(row, C, &m);
    double g = mode == CUDA_LOSS_NONE ? (double)dy[n] : mode == CUDA_LOSS_MEAN ? (double)dy[0] / (double)N : dy[0];
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        double p = exp(((double)row[c] - m) - ls);
        drow[c] = (float)((p - (c == label ? 1.0 : 0.0)) * g);
    }
}

extern "C" cudaError_t cuda_k_cross_entropy_backward(cudaStream_t st, int mode, float *dlogits, const float *dy,
                                                     const float *logits, const void *labels, int idx64, int64_t N,
                                                     int64_t C, unsigned long long *bad)
{
    if (N <= 0) /* C == 0 still runs: every label is out of range, as ref reports */
        return cudaSuccess;
    if (N > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    ck_cross_entropy_backward<<<(unsigned)N, ck_row_threads(C), 0, st>>>(mode, dlogits, dy, logits, labels, idx64,
                                                                          N, C, bad);
    return cudaGetLastError();
}

__global__ void ck_bce(int mode, float *loss, double *terms, const float *x, const float *t, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double xi = x[i];
        double li = (xi > 0 ? xi : 0.0) - xi * (double)t[i] + log1p(exp(-fabs(xi)));
        if (mode == CUDA_LOSS_NONE)
            loss[i] = (float)li;
        else
            terms[i] = li;
    }
}

extern "C" cudaError_t cuda_k_bce_with_logits(cudaStream_t st, int mode, float *loss, double *terms, const float *x,
                                              const float *t, int64_t n)
{
    if (n <= 0) {
        if (mode != CUDA_LOSS_NONE)
            ck_fill<float><<<1, 32, 0, st>>>(loss, mode == CUDA_LOSS_MEAN ? NAN : 0.0f, 1);
        return cudaGetLastError();
    }
    ck_bce<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(mode, loss, terms, x, t, n);
    if (mode != CUDA_LOSS_NONE)
        ck_sum_doubles<<<1, 1024, 0, st>>>(loss, terms, n, mode == CUDA_LOSS_MEAN ? 1.0 / (double)n : 1.0);
    return cudaGetLastError();
}

__global__ void ck_bce_backward(int mode, float *dx, const float *dy, const float *x, const float *t, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double g = mode == CUDA_LOSS_NONE ? (double)dy[i] : mode == CUDA_LOSS_MEAN ? (double)dy[0] / (double)n : dy[0];
        double xi = x[i];
        double s = xi >= 0 ? 1.0 / (1.0 + exp(-xi)) : exp(xi) / (1.0 + exp(xi));
        dx[i] = (float)((s - (double)t[i]) * g);
    }
}

extern "C" cudaError_t cuda_k_bce_with_logits_backward(cudaStream_t st, int mode, float *dx, const float *dy,
                                                       const float *x, const float *t, int64_t n)
{
    if (n > 0)
        ck_bce_backward<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(mode, dx, dy, x, t, n);
    return cudaGetLastError();
}

/* ---- embedding ------------------------------------------------------------ */

/* Flags the first of @p n indices outside [0, limit): the check of ops that copy nothing (a zero size), which
 * still refuse bad indices as ref does. */
__global__ void ck_check_index(const void *idx, int idx64, int64_t n, int64_t limit, unsigned long long *bad)
{
    CUDA_FOR(i, n)
    {
        int64_t v = ck_index(idx, idx64, i);
        if (v < 0 || v >= limit)
            atomicMin(bad, (unsigned long long)i);
    }
}

__global__ void ck_embedding(float *y, const float *w, const void *idx, int idx64, int64_t P, int64_t V, int64_t D,
                             unsigned long long *bad)
{
    CUDA_FOR(k, P * D)
    {
        int64_t p = k / D, d = k - p * D;
        int64_t v = ck_index(idx, idx64, p);
        if (v < 0 || v >= V) {
            if (d == 0)
                atomicMin(bad, (unsigned long long)p);
            y[k] = 0.0f;
        } else {
            y[k] = w[v * D + d];
        }
    }
}

extern "C" cudaError_t cuda_k_embedding(cudaStream_t st, float *y, const float *w, const void *idx, int idx64,
                                        int64_t P, int64_t V, int64_t D, unsigned long long *bad)
{
    if (P * D > 0)
        ck_embedding<<<cuda_blocks(P * D), CUDA_THREADS, 0, st>>>(y, w, idx, idx64, P, V, D, bad);
    else if (P > 0)
        ck_check_index<<<cuda_blocks(P), CUDA_THREADS, 0, st>>>(idx, idx64, P, V, bad);
    return cudaGetLastError();
}

__global__ void ck_embedding_scatter(double *acc, const float *dy, const void *idx, int idx64, int64_t P, int64_t V,
                                     int64_t D, unsigned long long *bad)
{
    CUDA_FOR(k, P * D)
    {
        int64_t p = k / D, d = k - p * D;
        int64_t v = ck_index(idx, idx64, p);
        if (v < 0 || v >= V) {
            if (d == 0)
                atomicMin(bad, (unsigned long long)p);
        } else {
            atomicAdd(&acc[v * D + d], (double)dy[k]);
        }
    }
}

__global__ void ck_doubles_to_floats(float *y, const double *x, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] = (float)x[i];
}

extern "C" cudaError_t cuda_k_embedding_backward(cudaStream_t st, float *dw, double *acc, const float *dy,
                                                 const void *idx, int idx64, int64_t P, int64_t V, int64_t D,
                                                 unsigned long long *bad)
{
    if (V * D <= 0) {
        if (P > 0)
            ck_check_index<<<cuda_blocks(P), CUDA_THREADS, 0, st>>>(idx, idx64, P, V, bad);
        return cudaGetLastError();
    }
    cudaError_t e = cudaMemsetAsync(acc, 0, (size_t)(V * D) * sizeof(double), st);
    if (e != cudaSuccess)
        return e;
    if (P * D > 0)
        ck_embedding_scatter<<<cuda_blocks(P * D), CUDA_THREADS, 0, st>>>(acc, dy, idx, idx64, P, V, D, bad);
    ck_doubles_to_floats<<<cuda_blocks(V * D), CUDA_THREADS, 0, st>>>(dw, acc, V * D);
    return cudaGetLastError();
}

/* ---- optimizer updates (ref_optim.c's formulas, per element in double) ---- */

__global__ void ck_sgd(float *p_out, float *buf_out, const float *p, const float *g, const float *buf, double lr,
                       double momentum, double dampening, double wd, int nesterov, int first, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double pi = p[i], gi = g[i], bi = buf[i];
        gi += wd != 0 ? wd * pi : 0; /* 0 * inf is NaN */
        if (momentum != 0.0) {
            bi = first ? gi : momentum * bi + (1.0 - dampening) * gi;
            gi = nesterov ? gi + momentum * bi : bi;
        }
        pi -= lr * gi;
        p_out[i] = (float)pi;
        buf_out[i] = (float)bi;
    }
}

extern "C" cudaError_t cuda_k_sgd(cudaStream_t st, float *p_out, float *buf_out, const float *p, const float *g,
                                  const float *buf, double lr, double momentum, double dampening, double wd,
                                  int nesterov, int first, int64_t n)
{
    if (n > 0)
        ck_sgd<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(p_out, buf_out, p, g, buf, lr, momentum, dampening, wd, nesterov,
                                                    first, n);
    return cudaGetLastError();
}

__global__ void ck_adam(float *p_out, float *m_out, float *v_out, const float *p, const float *g, const float *m,
                        const float *v, double lr, double b1, double b2, double eps, double wd, int decoupled,
                        double step_size, double sqrt_bc2, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double pi = p[i], gi = g[i], mi = m[i], vi = v[i];
        if (decoupled)
            pi *= 1.0 - lr * wd;
        else
            gi += wd != 0 ? wd * pi : 0; /* 0 * inf is NaN */
        mi = b1 * mi + (1.0 - b1) * gi;
        vi = b2 * vi + (1.0 - b2) * gi * gi;
        pi -= step_size * mi / (sqrt(vi) / sqrt_bc2 + eps);
        p_out[i] = (float)pi;
        m_out[i] = (float)mi;
        v_out[i] = (float)vi;
    }
}

extern "C" cudaError_t cuda_k_adam(cudaStream_t st, float *p_out, float *m_out, float *v_out, const float *p,
                                   const float *g, const float *m, const float *v, double lr, double b1, double b2,
                                   double eps, double wd, int decoupled, double step_size, double sqrt_bc2,
                                   int64_t n)
{
    if (n > 0)
        ck_adam<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(p_out, m_out, v_out, p, g, m, v, lr, b1, b2, eps, wd, decoupled,
                                                     step_size, sqrt_bc2, n);
    return cudaGetLastError();
}

__global__ void ck_rmsprop(float *p_out, float *sq_out, float *buf_out, const float *p, const float *g,
                           const float *sq, const float *buf, double lr, double alpha, double eps, double wd,
                           double momentum, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double pi = p[i], gi = g[i], si = sq[i], bi = buf[i];
        gi += wd != 0 ? wd * pi : 0; /* 0 * inf is NaN */
        si = alpha * si + (1.0 - alpha) * gi * gi;
        double d = sqrt(si) + eps;
        if (momentum > 0.0) {
            bi = momentum * bi + gi / d;
            pi -= lr * bi;
        } else {
            pi -= lr * gi / d;
        }
        p_out[i] = (float)pi;
        sq_out[i] = (float)si;
        buf_out[i] = (float)bi;
    }
}

extern "C" cudaError_t cuda_k_rmsprop(cudaStream_t st, float *p_out, float *sq_out, float *buf_out, const float *p,
                                      const float *g, const float *sq, const float *buf, double lr, double alpha,
                                      double eps, double wd, double momentum, int64_t n)
{
    if (n > 0)
        ck_rmsprop<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(p_out, sq_out, buf_out, p, g, sq, buf, lr, alpha, eps, wd,
                                                        momentum, n);
    return cudaGetLastError();
}

__global__ void ck_adagrad(float *p_out, float *sum_out, const float *p, const float *g, const float *sum, double clr,
                           double eps, double wd, int64_t n)
{
    CUDA_FOR(i, n)
    {
        double pi = p[i], gi = g[i], si = sum[i];
        gi += wd != 0 ? wd * pi : 0; /* 0 * inf is NaN */
        si += gi * gi;
        pi -= clr * gi / (sqrt(si) + eps);
        p_out[i] = (float)pi;
        sum_out[i] = (float)si;
    }
}

extern "C" cudaError_t cuda_k_adagrad(cudaStream_t st, float *p_out, float *sum_out, const float *p, const float *g,
                                      const float *sum, double clr, double eps, double wd, int64_t n)
{
    if (n > 0)
        ck_adagrad<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(p_out, sum_out, p, g, sum, clr, eps, wd, n);
    return cudaGetLastError();
}

/* the gan plugin's ema_update: out = decay ema + (1 - decay) p, in double as
 * plugins/gan/ema.c (out usually ema itself) */
__global__ void ck_ema(float *out, const float *ema, const float *p, double decay, int64_t n)
{
    const double keep = 1.0 - decay;
    CUDA_FOR(i, n)
    out[i] = (float)(decay * (double)ema[i] + keep * (double)p[i]);
}

extern "C" cudaError_t cuda_k_ema(cudaStream_t st, float *out, const float *ema, const float *p, double decay,
                                  int64_t n)
{
    if (n > 0)
        ck_ema<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(out, ema, p, decay, n);
    return cudaGetLastError();
}

/* ---- data movement and indexing ------------------------------------------- */

template <typename T> __global__ void ck_strided_scatter(T *y, const T *x, int64_t n, cuda_walk w)
{
    CUDA_FOR(i, n)
    y[ck_offset(w, 0, i)] = x[i];
}

extern "C" cudaError_t cuda_k_strided_scatter(cudaStream_t st, void *y, const void *x, int elem_bytes, int64_t n,
                                              const cuda_walk *w)
{
    if (n <= 0)
        return cudaSuccess;
    if (elem_bytes == 8)
        ck_strided_scatter<int64_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>((int64_t *)y, (const int64_t *)x, n, *w);
    else
        ck_strided_scatter<int32_t><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>((int32_t *)y, (const int32_t *)x, n, *w);
    return cudaGetLastError();
}

__global__ void ck_one_hot(float *y, const void *idx, int idx64, int64_t P, int64_t C, unsigned long long *bad)
{
    CUDA_FOR(k, P * C)
    {
        int64_t p = k / C, c = k - p * C;
        int64_t v = ck_index(idx, idx64, p);
        if ((v < 0 || v >= C) && c == 0)
            atomicMin(bad, (unsigned long long)p);
        y[k] = c == v ? 1.0f : 0.0f;
    }
}

extern "C" cudaError_t cuda_k_one_hot(cudaStream_t st, float *y, const void *idx, int idx64, int64_t P, int64_t C,
                                      unsigned long long *bad)
{
    if (P * C > 0)
        ck_one_hot<<<cuda_blocks(P * C), CUDA_THREADS, 0, st>>>(y, idx, idx64, P, C, bad);
    return cudaGetLastError();
}

__global__ void ck_gather(float *y, const float *x, const void *idx, int idx64, int64_t n, int64_t axis_stride,
                          int64_t limit, cuda_walk w, unsigned long long *bad)
{
    CUDA_FOR(i, n)
    {
        int64_t v = ck_index(idx, idx64, i);
        if (v < 0 || v >= limit) {
            atomicMin(bad, (unsigned long long)i);
            y[i] = 0.0f;
        } else {
            y[i] = x[ck_offset(w, 0, i) + v * axis_stride];
        }
    }
}

extern "C" cudaError_t cuda_k_gather(cudaStream_t st, float *y, const float *x, const void *idx, int idx64, int64_t n,
                                     int64_t axis_stride, int64_t limit, const cuda_walk *w, unsigned long long *bad)
{
    if (n > 0)
        ck_gather<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, x, idx, idx64, n, axis_stride, limit, *w, bad);
    return cudaGetLastError();
}

__global__ void ck_gather_scatter(double *acc, const float *dy, const void *idx, int idx64, int64_t n,
                                  int64_t axis_stride, int64_t limit, cuda_walk w, unsigned long long *bad)
{
    CUDA_FOR(i, n)
    {
        int64_t v = ck_index(idx, idx64, i);
        if (v < 0 || v >= limit)
            atomicMin(bad, (unsigned long long)i);
        else
            atomicAdd(&acc[ck_offset(w, 0, i) + v * axis_stride], (double)dy[i]);
    }
}

extern "C" cudaError_t cuda_k_gather_backward(cudaStream_t st, float *dx, double *acc, const float *dy,
                                              const void *idx, int idx64, int64_t n, int64_t nx, int64_t axis_stride,
                                              int64_t limit, const cuda_walk *w, unsigned long long *bad)
{
    if (nx <= 0) {
        if (n > 0)
            ck_check_index<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(idx, idx64, n, limit, bad);
        return cudaGetLastError();
    }
    cudaError_t e = cudaMemsetAsync(acc, 0, (size_t)nx * sizeof(double), st);
    if (e != cudaSuccess)
        return e;
    if (n > 0)
        ck_gather_scatter<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(acc, dy, idx, idx64, n, axis_stride, limit, *w, bad);
    ck_doubles_to_floats<<<cuda_blocks(nx), CUDA_THREADS, 0, st>>>(dx, acc, nx);
    return cudaGetLastError();
}
