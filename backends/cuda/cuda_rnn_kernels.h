/*
 * cuda_rnn_kernels.h - launchers of the gate kernels of the lstm plugin's
 * sequence ops (cuda_rnn_kernels.cu), callable from C; cuda_rnn.c queues
 * one GEMM and one of these per step.
 *
 * Sequence tensors (y, ws, dy, da, ...) are (T B, C) row-major matrices;
 * the rows of one step are row0 + b rstride for batch element b. gx
 * (T B, G H) is the input projection of every step, x W_ih^T + b_ih; gh
 * (B, G H) the recurrent one of this step, h_{t-1} W_hh^T, and bhh its
 * bias (NULL: none). A previous state (c_{t-1}, h_{t-1}) is read as
 * p[b p_bs + j]: the initial state (p_bs = H) or the previous step's rows.
 * Pointers are device addresses with the tensors' offsets applied; each
 * launcher queues on @p st and returns the launch status.
 */
#ifndef CUDA_RNN_KERNELS_H
#define CUDA_RNN_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The rows of one step and the sizes (every kernel below). */
typedef struct cuda_seq_step {
    int64_t row0, rstride, B, H;
} cuda_seq_step;

/** LSTM: ws rows (5H) = [i, f, g, o, c], y rows h; h_n and c_n when @p last. */
cudaError_t cuda_k_lstm_step_fwd(cudaStream_t st, float *y, float *ws, float *hn, float *cn, const float *gx,
                                 const float *gh, const float *bhh, const float *cp, int64_t cp_bs, cuda_seq_step s,
                                 int last);
/** LSTM BPTT: da rows (4H) from dy, dh (B, H, the recurrent term) and dc
 *  (B, H), which becomes dc_{t-1}. */
cudaError_t cuda_k_lstm_step_bwd(cudaStream_t st, float *da, float *dc, const float *dh, const float *dy,
                                 const float *ws, const float *cp, int64_t cp_bs, cuda_seq_step s);
/** GRU: ws rows (4H) = [r, z, n, gh_n] (gh_n with b_hh), y rows h; h_n when @p last. */
cudaError_t cuda_k_gru_step_fwd(cudaStream_t st, float *y, float *ws, float *hn, const float *gi, const float *gh,
                                const float *bhh, const float *hp, int64_t hp_bs, cuda_seq_step s, int last);
/** GRU BPTT: dh_t = dy + dz + dg (dg, the recurrent term, NULL on the first
 *  step computed); dgi and dgh rows (3H); dz becomes dh_t z. */
cudaError_t cuda_k_gru_step_bwd(cudaStream_t st, float *dgi, float *dgh, float *dz, const float *dg, const float *dy,
                                const float *ws, const float *hp, int64_t hp_bs, cuda_seq_step s);
/** Elman RNN: y rows act(gx + gh + bhh), tanh or relu; h_n when @p last. */
cudaError_t cuda_k_rnn_step_fwd(cudaStream_t st, float *y, float *hn, const float *gx, const float *gh,
                                const float *bhh, cuda_seq_step s, int relu, int last);
/** Elman RNN BPTT: da rows (dy + dh) act'(a), from the saved y. */
cudaError_t cuda_k_rnn_step_bwd(cudaStream_t st, float *da, const float *dh, const float *dy, const float *y,
                                cuda_seq_step s, int relu);
/** y += x over n elements. */
cudaError_t cuda_k_add_into(cudaStream_t st, float *y, const float *x, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
