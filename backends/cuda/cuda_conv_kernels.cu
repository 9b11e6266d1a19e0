/*
 * cuda_conv_kernels.cu - kernels of the conv plugin's ops that cuDNN does
 * not cover as Strata defines them: the per-channel bias of conv2d and
 * conv_transpose2d, and pooling (max pooling returns the flat index of the
 * first maximum, which the backward op consumes; cuDNN's pooling keeps no
 * indices). Formulas as plugins/conv/pool.c.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_kernels.h"
#include "cuda_grid.h"

__global__ void cc_channel_bias(float *y, const float *bias, int64_t C, int64_t HW, int64_t n)
{
    CUDA_FOR(i, n)
    y[i] += bias[(i / HW) % C];
}

extern "C" cudaError_t cuda_k_channel_bias(cudaStream_t st, float *y, const float *bias, int64_t N, int64_t C,
                                           int64_t HW)
{
    int64_t n = N * C * HW;
    if (n > 0)
        cc_channel_bias<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, bias, C, HW, n);
    return cudaGetLastError();
}

__global__ void cc_max_pool(float *y, int64_t *idx, const float *x, cuda_pool_geom g)
{
    CUDA_FOR(o, g.NC * g.OH * g.OW)
    {
        int64_t j = o % g.OW, i = (o / g.OW) % g.OH, nc = o / (g.OW * g.OH);
        const float *plane = x + nc * g.H * g.W;
        float best = -INFINITY;
        int64_t at = -1;
        for (int64_t kh = 0; kh < g.KH; kh++) {
            int64_t ih = i * g.sh - g.ph + kh;
            if (ih < 0 || ih >= g.H)
                continue;
            for (int64_t kw = 0; kw < g.KW; kw++) {
                int64_t iw = j * g.sw - g.pw + kw;
                if (iw < 0 || iw >= g.W)
                    continue;
                float v = plane[ih * g.W + iw];
                if (at < 0 || v > best || v != v) {
                    best = v;
                    at = ih * g.W + iw;
                }
            }
        }
        y[o] = best;
        idx[o] = at;
    }
}

extern "C" cudaError_t cuda_k_max_pool(cudaStream_t st, float *y, int64_t *idx, const float *x, cuda_pool_geom g)
{
    int64_t n = g.NC * g.OH * g.OW;
    if (n > 0)
        cc_max_pool<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, idx, x, g);
    return cudaGetLastError();
}

/* flags[0]: the first output whose index is outside [0, H W) (atomicMin, as
 * the index kernels' bad); flags[1]: set when an index in range lies outside
 * its own window (indices not from max_pool2d), for the serial path. */
__global__ void cc_max_pool_check(const int64_t *idx, cuda_pool_geom g, unsigned long long *flags)
{
    int64_t P = g.OH * g.OW, HW = g.H * g.W;
    CUDA_FOR(o, g.NC * P)
    {
        int64_t at = idx[o];
        if (at < 0 || at >= HW) {
            atomicMin(&flags[0], (unsigned long long)o);
            continue;
        }
        if (g.KH < 1) /* no window given: only the plane is checked */
            continue;
        int64_t i = (o / g.OW) % g.OH, j = o % g.OW, h0 = i * g.sh - g.ph, w0 = j * g.sw - g.pw;
        int64_t ih = at / g.W, iw = at % g.W;
        if (ih < h0 || ih >= h0 + g.KH || iw < w0 || iw >= w0 + g.KW)
            flags[1] = 1;
    }
}

/* One thread per input element: the windows covering (h, w), in ascending
 * output order, add their dy where their index is (h, w), summed in double:
 * the same additions in the same order as ref's scatter (plugins/conv/pool.c),
 * so dx matches it bit for bit and does not depend on thread timing, as
 * atomicAdd's float sums did when windows overlap. */
__global__ void cc_max_pool_backward_gather(float *dx, const float *dy, const int64_t *idx, cuda_pool_geom g)
{
    int64_t P = g.OH * g.OW, HW = g.H * g.W;
    CUDA_FOR(q, g.NC * HW)
    {
        int64_t nc = q / HW, r = q % HW, h = r / g.W, w = r % g.W;
        /* windows i with i sh - ph <= h <= i sh - ph + KH - 1 */
        int64_t lo_h = h + g.ph - g.KH + 1, lo_w = w + g.pw - g.KW + 1;
        int64_t i0 = lo_h <= 0 ? 0 : (lo_h + g.sh - 1) / g.sh, j0 = lo_w <= 0 ? 0 : (lo_w + g.sw - 1) / g.sw;
        int64_t i1 = (h + g.ph) / g.sh, j1 = (w + g.pw) / g.sw;
        i1 = i1 < g.OH - 1 ? i1 : g.OH - 1;
        j1 = j1 < g.OW - 1 ? j1 : g.OW - 1;
        const int64_t *ip = idx + nc * P;
        const float *gp = dy + nc * P;
        double sum = 0.0;
        for (int64_t i = i0; i <= i1; i++)
            for (int64_t j = j0; j <= j1; j++)
                if (ip[i * g.OW + j] == r)
                    sum += gp[i * g.OW + j];
        dx[q] = (float)sum;
    }
}

/* No window given, or indices outside their windows: ref's scatter itself,
 * one thread per (n, c) plane, into @p acc (NC H W doubles). Slow, and not
 * taken for max_pool2d's own gradient, which passes its window. */
__global__ void cc_max_pool_backward_serial(float *dx, const float *dy, const int64_t *idx, cuda_pool_geom g,
                                            double *acc)
{
    int64_t P = g.OH * g.OW, HW = g.H * g.W;
    CUDA_FOR(nc, g.NC)
    {
        double *plane = acc + nc * HW;
        for (int64_t q = 0; q < HW; q++)
            plane[q] = 0.0;
        for (int64_t p = 0; p < P; p++)
            plane[idx[nc * P + p]] += dy[nc * P + p];
        for (int64_t q = 0; q < HW; q++)
            dx[nc * HW + q] = (float)plane[q];
    }
}

extern "C" cudaError_t cuda_k_max_pool_check(cudaStream_t st, const int64_t *idx, cuda_pool_geom g,
                                             unsigned long long *flags)
{
    int64_t ny = g.NC * g.OH * g.OW;
    if (ny > 0)
        cc_max_pool_check<<<cuda_blocks(ny), CUDA_THREADS, 0, st>>>(idx, g, flags);
    return cudaGetLastError();
}

extern "C" cudaError_t cuda_k_max_pool_backward(cudaStream_t st, float *dx, const float *dy, const int64_t *idx,
                                                cuda_pool_geom g, double *acc)
{
    int64_t nx = g.NC * g.H * g.W;
    if (nx <= 0)
        return cudaSuccess;
    if (acc)
        cc_max_pool_backward_serial<<<cuda_blocks(g.NC), CUDA_THREADS, 0, st>>>(dx, dy, idx, g, acc);
    else
        cc_max_pool_backward_gather<<<cuda_blocks(nx), CUDA_THREADS, 0, st>>>(dx, dy, idx, g);
    return cudaGetLastError();
}

__device__ double cc_divisor(const cuda_pool_geom &g, int64_t i, int64_t j)
{
    if (g.count_include_pad)
        return (double)(g.KH * g.KW);
    int64_t h0 = i * g.sh - g.ph, w0 = j * g.sw - g.pw;
    int64_t h1 = h0 + g.KH, w1 = w0 + g.KW;
    h0 = h0 < 0 ? 0 : h0;
    w0 = w0 < 0 ? 0 : w0;
    h1 = h1 > g.H ? g.H : h1;
    w1 = w1 > g.W ? g.W : w1;
    return (double)((h1 - h0) * (w1 - w0));
}

__global__ void cc_avg_pool(float *y, const float *x, cuda_pool_geom g)
{
    CUDA_FOR(o, g.NC * g.OH * g.OW)
    {
        int64_t j = o % g.OW, i = (o / g.OW) % g.OH, nc = o / (g.OW * g.OH);
        const float *plane = x + nc * g.H * g.W;
        double sum = 0.0;
        for (int64_t kh = 0; kh < g.KH; kh++) {
            int64_t ih = i * g.sh - g.ph + kh;
            if (ih < 0 || ih >= g.H)
                continue;
            for (int64_t kw = 0; kw < g.KW; kw++) {
                int64_t iw = j * g.sw - g.pw + kw;
                if (iw >= 0 && iw < g.W)
                    sum += plane[ih * g.W + iw];
            }
        }
        y[o] = (float)(sum / cc_divisor(g, i, j));
    }
}

extern "C" cudaError_t cuda_k_avg_pool(cudaStream_t st, float *y, const float *x, cuda_pool_geom g)
{
    int64_t n = g.NC * g.OH * g.OW;
    if (n > 0)
        cc_avg_pool<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, x, g);
    return cudaGetLastError();
}

/* Gathered per input element (no atomics): windows i with
 * i sh - ph <= h <= i sh - ph + KH - 1, likewise j. */
__global__ void cc_avg_pool_backward(float *dx, const float *dy, cuda_pool_geom g)
{
    CUDA_FOR(q, g.NC * g.H * g.W)
    {
        int64_t w = q % g.W, h = (q / g.W) % g.H, nc = q / (g.W * g.H);
        const float *dplane = dy + nc * g.OH * g.OW;
        int64_t i_lo = h + g.ph - g.KH + 1, j_lo = w + g.pw - g.KW + 1;
        i_lo = i_lo <= 0 ? 0 : (i_lo + g.sh - 1) / g.sh;
        j_lo = j_lo <= 0 ? 0 : (j_lo + g.sw - 1) / g.sw;
        int64_t i_hi = (h + g.ph) / g.sh, j_hi = (w + g.pw) / g.sw;
        i_hi = i_hi >= g.OH ? g.OH - 1 : i_hi;
        j_hi = j_hi >= g.OW ? g.OW - 1 : j_hi;
        double sum = 0.0;
        for (int64_t i = i_lo; i <= i_hi; i++)
            for (int64_t j = j_lo; j <= j_hi; j++)
                sum += dplane[i * g.OW + j] / cc_divisor(g, i, j);
        dx[q] = (float)sum;
    }
}

extern "C" cudaError_t cuda_k_avg_pool_backward(cudaStream_t st, float *dx, const float *dy, cuda_pool_geom g)
{
    int64_t n = g.NC * g.H * g.W;
    if (n > 0)
        cc_avg_pool_backward<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(dx, dy, g);
    return cudaGetLastError();
}

/* ---- batch norm ------------------------------------------------------------ */

/* Sum over the block in double; every thread gets it. */
__device__ double cc_block_sum(double v)
{
    __shared__ double part[32];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    double total = 0.0;
    for (int k = 0; k < (int)((blockDim.x + 31) >> 5); k++)
        total += part[k];
    return total;
}

/* Element j of channel c of x (N, C, S), j < N S. */
__device__ __forceinline__ int64_t cc_bn_at(int64_t j, int64_t c, int64_t C, int64_t S)
{
    int64_t n = j / S;
    return (n * C + c) * S + (j - n * S);
}

/* Mean and biased variance of channel c, two passes. */
__device__ void cc_bn_stats(const float *x, int64_t c, int64_t N, int64_t C, int64_t S, double *mean, double *var)
{
    int64_t M = N * S;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x)
        s += x[cc_bn_at(j, c, C, S)];
    double m = cc_block_sum(s) / (double)M;
    double q = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
        double dv = x[cc_bn_at(j, c, C, S)] - m;
        q += dv * dv;
    }
    *mean = m;
    *var = cc_block_sum(q) / (double)M;
}

__global__ void cc_batch_norm(float *y, float *mean_out, float *invstd_out, const float *x, const float *weight,
                              const float *bias, const float *rm, const float *rv, int training, double eps,
                              int64_t N, int64_t C, int64_t S)
{
    int64_t c = blockIdx.x;
    double mean, var;
    if (training) {
        cc_bn_stats(x, c, N, C, S, &mean, &var);
    } else {
        mean = rm[c];
        var = rv[c];
    }
    double invstd = training && var == 0.0 && eps == 0.0 ? 0.0 : 1.0 / sqrt(var + eps); /* as PyTorch */
    double a = invstd * weight[c], b = bias[c];
    for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
        int64_t i = cc_bn_at(j, c, C, S);
        y[i] = (float)((x[i] - mean) * a + b);
    }
    if (threadIdx.x == 0) {
        mean_out[c] = (float)mean;
        invstd_out[c] = (float)invstd;
    }
}

extern "C" cudaError_t cuda_k_batch_norm(cudaStream_t st, float *y, float *mean_out, float *invstd_out,
                                         const float *x, const float *weight, const float *bias, const float *rm,
                                         const float *rv, int training, double eps, int64_t N, int64_t C, int64_t S)
{
    if (C > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    if (C > 0)
        cc_batch_norm<<<(unsigned)C, CUDA_THREADS, 0, st>>>(y, mean_out, invstd_out, x, weight, bias, rm, rv, training,
                                                          eps, N, C, S);
    return cudaGetLastError();
}

__global__ void cc_batch_norm_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                                       const float *weight, const float *mean, const float *invstd, int training,
                                       int64_t N, int64_t C, int64_t S)
{
    int64_t c = blockIdx.x;
    const double M = (double)(N * S), mu = mean[c], is = invstd[c];
    double s_dy = 0.0, s_dyx = 0.0;
    for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
        int64_t i = cc_bn_at(j, c, C, S);
        s_dy += dy[i];
        s_dyx += dy[i] * (x[i] - mu) * is;
    }
    s_dy = cc_block_sum(s_dy);
    s_dyx = cc_block_sum(s_dyx);
    if (threadIdx.x == 0) {
        if (dbias)
            dbias[c] = (float)s_dy;
        if (dweight)
            dweight[c] = (float)s_dyx;
    }
    const double k = weight[c] * is;
    for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
        int64_t i = cc_bn_at(j, c, C, S);
        if (training) {
            double xhat = (x[i] - mu) * is;
            dx[i] = (float)(k * (dy[i] - s_dy / M - xhat * s_dyx / M));
        } else {
            dx[i] = (float)(k * dy[i]);
        }
    }
}

extern "C" cudaError_t cuda_k_batch_norm_backward(cudaStream_t st, float *dx, float *dweight, float *dbias,
                                                  const float *dy, const float *x, const float *weight,
                                                  const float *mean, const float *invstd, int training, int64_t N,
                                                  int64_t C, int64_t S)
{
    if (C > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    if (C > 0)
        cc_batch_norm_backward<<<(unsigned)C, CUDA_THREADS, 0, st>>>(dx, dweight, dbias, dy, x, weight, mean, invstd,
                                                                   training, N, C, S);
    return cudaGetLastError();
}

__global__ void cc_batch_norm_update_stats(float *rm_out, float *rv_out, int64_t *nbt_out, const float *rm,
                                           const float *x, const float *rv, const int64_t *nbt, double momentum,
                                           int64_t N, int64_t C, int64_t S)
{
    int64_t c = blockIdx.x;
    const double M = (double)(N * S);
    double mean, var;
    cc_bn_stats(x, c, N, C, S, &mean, &var);
    if (threadIdx.x == 0) {
        double old_m = rm[c], old_v = rv[c];
        rm_out[c] = (float)((1.0 - momentum) * old_m + momentum * mean);
        rv_out[c] = (float)((1.0 - momentum) * old_v + momentum * var * M / (M - 1.0));
        if (c == 0)
            *nbt_out = *nbt + 1;
    }
}

__global__ void cc_count_batch(int64_t *nbt_out, const int64_t *nbt)
{
    *nbt_out = *nbt + 1;
}

extern "C" cudaError_t cuda_k_batch_norm_update_stats(cudaStream_t st, float *rm_out, float *rv_out,
                                                      int64_t *nbt_out, const float *rm, const float *x,
                                                      const float *rv, const int64_t *nbt, double momentum, int64_t N,
                                                      int64_t C, int64_t S)
{
    if (C > CUDA_MAX_GRID_ROWS)
        return cudaErrorInvalidConfiguration;
    if (C > 0)
        cc_batch_norm_update_stats<<<(unsigned)C, CUDA_THREADS, 0, st>>>(rm_out, rv_out, nbt_out, rm, x, rv, nbt,
                                                                       momentum, N, C, S);
    else /* no channels: the batch still counts, as ref counts it */
        cc_count_batch<<<1, 1, 0, st>>>(nbt_out, nbt);
    return cudaGetLastError();
}
