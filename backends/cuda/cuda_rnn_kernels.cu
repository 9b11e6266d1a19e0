/*
 * cuda_rnn_kernels.cu - the gate math of one step of the lstm plugin's
 * sequence ops, one thread per (b, j), j < H (cuda_rnn_kernels.h says what
 * each reads and writes). PyTorch's equations and gate order;
 * plugins/lstm/lstm_seq.c, gru_seq.c and rnn_seq.c hold the reference,
 * which sums in double; here each value is float, as the GEMMs before it.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_rnn_kernels.h"
#include "cuda_grid.h"

__device__ static float cr_sigmoid(float v)
{
    return v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
}

/* b_hh[j], or 0 without biases */
__device__ static float cr_bias(const float *bhh, int64_t j)
{
    return bhh ? bhh[j] : 0.0f;
}

__global__ void cr_lstm_step_fwd(float *y, float *ws, float *hn, float *cn, const float *gx, const float *gh,
                                 const float *bhh, const float *cp, int64_t cp_bs, cuda_seq_step s, int last)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float *ax = gx + r * 4 * H, *ah = gh + b * 4 * H;
        const float i = cr_sigmoid(ax[j] + ah[j] + cr_bias(bhh, j));
        const float f = cr_sigmoid(ax[H + j] + ah[H + j] + cr_bias(bhh, H + j));
        const float g = tanhf(ax[2 * H + j] + ah[2 * H + j] + cr_bias(bhh, 2 * H + j));
        const float o = cr_sigmoid(ax[3 * H + j] + ah[3 * H + j] + cr_bias(bhh, 3 * H + j));
        const float c = f * cp[b * cp_bs + j] + i * g;
        const float h = o * tanhf(c);
        float *w = ws + r * 5 * H;
        w[j] = i, w[H + j] = f, w[2 * H + j] = g, w[3 * H + j] = o, w[4 * H + j] = c;
        y[r * H + j] = h;
        if (last) {
            hn[k] = h;
            cn[k] = c;
        }
    }
}

extern "C" cudaError_t cuda_k_lstm_step_fwd(cudaStream_t st, float *y, float *ws, float *hn, float *cn,
                                            const float *gx, const float *gh, const float *bhh, const float *cp,
                                            int64_t cp_bs, cuda_seq_step s, int last)
{
    cr_lstm_step_fwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(y, ws, hn, cn, gx, gh, bhh, cp, cp_bs, s, last);
    return cudaGetLastError();
}

__global__ void cr_lstm_step_bwd(float *da, float *dc, const float *dh, const float *dy, const float *ws,
                                 const float *cp, int64_t cp_bs, cuda_seq_step s)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float *w = ws + r * 5 * H;
        const float i = w[j], f = w[H + j], g = w[2 * H + j], o = w[3 * H + j], c = w[4 * H + j];
        const float dhv = dy[r * H + j] + dh[k];
        const float tc = tanhf(c);
        const float dcv = dc[k] + dhv * o * (1.0f - tc * tc);
        float *d = da + r * 4 * H;
        d[j] = dcv * g * i * (1.0f - i);
        d[H + j] = dcv * cp[b * cp_bs + j] * f * (1.0f - f);
        d[2 * H + j] = dcv * i * (1.0f - g * g);
        d[3 * H + j] = dhv * tc * o * (1.0f - o);
        dc[k] = dcv * f;
    }
}

extern "C" cudaError_t cuda_k_lstm_step_bwd(cudaStream_t st, float *da, float *dc, const float *dh, const float *dy,
                                            const float *ws, const float *cp, int64_t cp_bs, cuda_seq_step s)
{
    cr_lstm_step_bwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(da, dc, dh, dy, ws, cp, cp_bs, s);
    return cudaGetLastError();
}

__global__ void cr_gru_step_fwd(float *y, float *ws, float *hn, const float *gi, const float *gh, const float *bhh,
                                const float *hp, int64_t hp_bs, cuda_seq_step s, int last)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float *ai = gi + r * 3 * H, *ah = gh + b * 3 * H;
        const float ghn = ah[2 * H + j] + cr_bias(bhh, 2 * H + j);
        const float rr = cr_sigmoid(ai[j] + ah[j] + cr_bias(bhh, j));
        const float z = cr_sigmoid(ai[H + j] + ah[H + j] + cr_bias(bhh, H + j));
        const float n = tanhf(ai[2 * H + j] + rr * ghn);
        const float h = (1.0f - z) * n + z * hp[b * hp_bs + j];
        float *w = ws + r * 4 * H;
        w[j] = rr, w[H + j] = z, w[2 * H + j] = n, w[3 * H + j] = ghn;
        y[r * H + j] = h;
        if (last)
            hn[k] = h;
    }
}

extern "C" cudaError_t cuda_k_gru_step_fwd(cudaStream_t st, float *y, float *ws, float *hn, const float *gi,
                                           const float *gh, const float *bhh, const float *hp, int64_t hp_bs,
                                           cuda_seq_step s, int last)
{
    cr_gru_step_fwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(y, ws, hn, gi, gh, bhh, hp, hp_bs, s, last);
    return cudaGetLastError();
}

__global__ void cr_gru_step_bwd(float *dgi, float *dgh, float *dz, const float *dg, const float *dy, const float *ws,
                                const float *hp, int64_t hp_bs, cuda_seq_step s)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float *w = ws + r * 4 * H;
        const float rr = w[j], z = w[H + j], n = w[2 * H + j], ghn = w[3 * H + j];
        const float dhv = dy[r * H + j] + dz[k] + (dg ? dg[k] : 0.0f);
        const float dn = dhv * (1.0f - z) * (1.0f - n * n);
        const float dzv = dhv * (hp[b * hp_bs + j] - n) * z * (1.0f - z);
        const float dr = dn * ghn * rr * (1.0f - rr);
        float *di = dgi + r * 3 * H, *dd = dgh + r * 3 * H;
        di[j] = dd[j] = dr;
        di[H + j] = dd[H + j] = dzv;
        di[2 * H + j] = dn;
        dd[2 * H + j] = dn * rr;
        dz[k] = dhv * z;
    }
}

extern "C" cudaError_t cuda_k_gru_step_bwd(cudaStream_t st, float *dgi, float *dgh, float *dz, const float *dg,
                                           const float *dy, const float *ws, const float *hp, int64_t hp_bs,
                                           cuda_seq_step s)
{
    cr_gru_step_bwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(dgi, dgh, dz, dg, dy, ws, hp, hp_bs, s);
    return cudaGetLastError();
}

__global__ void cr_rnn_step_fwd(float *y, float *hn, const float *gx, const float *gh, const float *bhh,
                                cuda_seq_step s, int relu, int last)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float a = gx[r * H + j] + gh[k] + cr_bias(bhh, j);
        const float h = relu ? (a <= 0.0f ? 0.0f : a) : tanhf(a);
        y[r * H + j] = h;
        if (last)
            hn[k] = h;
    }
}

extern "C" cudaError_t cuda_k_rnn_step_fwd(cudaStream_t st, float *y, float *hn, const float *gx, const float *gh,
                                           const float *bhh, cuda_seq_step s, int relu, int last)
{
    cr_rnn_step_fwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(y, hn, gx, gh, bhh, s, relu, last);
    return cudaGetLastError();
}

/* relu'(0) = 0, as ref */
__global__ void cr_rnn_step_bwd(float *da, const float *dh, const float *dy, const float *y, cuda_seq_step s,
                                int relu)
{
    const int64_t H = s.H;
    CUDA_FOR(k, s.B * H)
    {
        const int64_t b = k / H, j = k - b * H, r = s.row0 + b * s.rstride;
        const float v = y[r * H + j];
        const float dhv = dy[r * H + j] + dh[k];
        da[r * H + j] = relu ? (v <= 0.0f ? 0.0f : dhv) : dhv * (1.0f - v * v);
    }
}

extern "C" cudaError_t cuda_k_rnn_step_bwd(cudaStream_t st, float *da, const float *dh, const float *dy,
                                           const float *y, cuda_seq_step s, int relu)
{
    cr_rnn_step_bwd<<<cuda_blocks(s.B * s.H), CUDA_THREADS, 0, st>>>(da, dh, dy, y, s, relu);
    return cudaGetLastError();
}

__global__ void cr_add_into(float *y, const float *x, int64_t n)
{
    CUDA_FOR(k, n)
    y[k] += x[k];
}

extern "C" cudaError_t cuda_k_add_into(cudaStream_t st, float *y, const float *x, int64_t n)
{
    cr_add_into<<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(y, x, n);
    return cudaGetLastError();
}
