/*
 * cuda_rnn.c - the lstm plugin's sequence ops on the GPU, registered by name
 * (plugins/lstm defines them; its lstm_seq.c, gru_seq.c and rnn_seq.c are
 * the reference, and the opencl backend's ocl_rnn.c the same design):
 *
 *   lstm::lstm_seq          (x, w_ih, w_hh, h0, c0 [, b_ih, b_hh]) -> y, h_n, c_n, ws
 *   lstm::lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws)         -> da, dh0, dc0
 *   lstm::gru_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n, ws
 *   lstm::gru_seq_backward  (dy, dh_n, w_hh, h0, y, ws)            -> dgi, dgh, dh0
 *   lstm::rnn_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n
 *   lstm::rnn_seq_backward  (dy, dh_n, w_hh, y)                    -> da, dh0
 *
 * Forward: one cuBLAS GEMM for the input projection of every step,
 * gx = x W_ih^T (+ b_ih) (T B, G H), then per step one GEMM for the
 * recurrent projection gh = h_{t-1} W_hh^T (B, G H), reading h_{t-1}
 * straight from y's rows, and one gate kernel that adds b_hh
 * (cuda_rnn_kernels.cu). Backward (BPTT): per step one gate-gradient kernel
 * and one GEMM for the recurrent term dh_{t-1} = d_t W_hh, written into the
 * dh0 output, which holds the running state (dc0 likewise). The GEMMs over
 * all steps (dx, dW_ih, dW_hh) are core::matmul calls the plugin's backward
 * makes. Everything is queued on the device's stream: no host round trip.
 * The checks of a call are kc_seq.c's (shared with opencl).
 */
#include <limits.h>

#include "cuda_libs.h"
#include "cuda_ops.h"
#include "cuda_rnn_kernels.h"

/* c (M, N) = a (M, K) op(b), row-major with row strides lda, ldb, ldc; b is
 * (K, N), or (N, K) when trans_b. */
static strata_status seq_gemm(cuda_device *d, int trans_b, int64_t M, int64_t N, int64_t K, const float *a,
                              int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
        return cuda_host->set_error(STRATA_E_UNSUPPORTED,
                                    "cuda: a recurrent GEMM of (%lld x %lld x %lld) exceeds cuBLAS's int sizes",
                                    (long long)M, (long long)N, (long long)K);
    cublasHandle_t h;
    CUDA_OK(cuda_blas_handle(d, &h));
    const float one = 1.0f, zero = 0.0f;
    /* column-major: c^T (N, M) = op(b)^T a^T */
    CUBLAS_TRY(cuda_blas.cublasSgemmStridedBatched(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M,
                                                    (int)K, &one, b, (int)ldb, 0, a, (int)lda, 0, &zero, c, (int)ldc,
                                                    0, 1));
    return STRATA_OK;
}

/* The rows of step s (input position kc_seq_t(g, s)). */
static cuda_seq_step seq_step(const kc_seq *g, int64_t s)
{
    cuda_seq_step st = {kc_seq_row(g, kc_seq_t(g, s), 0), kc_seq_rstride(g), g->B, g->H};
    return st;
}

/* Row offset (in rows) of the step before s, whose state step s reads. */
static int64_t seq_prev_row(const kc_seq *g, int64_t s)
{
    return kc_seq_row(g, kc_seq_t(g, s - 1), 0);
}

/* One forward step's gate kernel (the GEMM before it wrote gh). */
static cudaError_t seq_step_forward(const strata_kernel_call *call, cudaStream_t stream, const kc_seq *g,
                                    const float *gx, const float *gh, const float *bhh, int64_t s)
{
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t H = g->H, rs = kc_seq_rstride(g);
    const cuda_seq_step st = seq_step(g, s);
    const int last = s == g->T - 1;
    float *y = cuda_ptr(&out[0]), *hn = cuda_ptr(&out[1]);
    if (g->cell == KC_SEQ_LSTM) {
        /* c_{t-1}: c0, or the previous step's rows of ws (column block 4) */
        float *ws = cuda_ptr(&out[3]);
        const float *cp = s ? ws + seq_prev_row(g, s) * 5 * H + 4 * H : (const float *)cuda_ptr(&in[4]);
        return cuda_k_lstm_step_fwd(stream, y, ws, hn, cuda_ptr(&out[2]), gx, gh, bhh, cp, s ? rs * 5 * H : H, st,
                                    last);
    }
    if (g->cell == KC_SEQ_GRU) {
        /* h_{t-1}: h0, or the previous step's rows of y */
        const float *hp = s ? y + seq_prev_row(g, s) * H : (const float *)cuda_ptr(&in[3]);
        return cuda_k_gru_step_fwd(stream, y, cuda_ptr(&out[2]), hn, gx, gh, bhh, hp, s ? rs * H : H, st, last);
    }
    return cuda_k_rnn_step_fwd(stream, y, hn, gx, gh, bhh, st, g->relu, last);
}

static strata_status seq_forward(const strata_kernel_call *call, int cell)
{
    kc_seq g;
    cuda_device *d;
    CUDA_OK(kc_check_seq_forward(call, cell, &g));
    CUDA_OK(cuda_call_device(call, &d));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int ns = cell == KC_SEQ_LSTM ? 2 : 1;
    const int64_t H = g.H, GH = g.G * H, R = g.T * g.B, rs = kc_seq_rstride(&g);
    const float *b_ih = g.has_bias ? cuda_ptr(&in[3 + ns]) : NULL, *b_hh = g.has_bias ? cuda_ptr(&in[4 + ns]) : NULL;
    float *gx = NULL; /* (T B, G H), then gh (B, G H) */
    CUDA_OK(cuda_temp_alloc(d, sizeof(float) * (size_t)((R + g.B) * GH), (void **)&gx));
    float *gh = gx + R * GH;
    /* gx = x W_ih^T + b_ih for every step at once */
    strata_status s = seq_gemm(d, 1, R, GH, g.I, cuda_ptr(&in[0]), g.I, cuda_ptr(&in[1]), g.I, gx, GH);
    if (s == STRATA_OK && b_ih) {
        cudaError_t e = cuda_k_bias_add(d->stream, gx, b_ih, R, GH);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_bias_add", __FILE__, __LINE__);
    }
    for (int64_t st = 0; st < g.T && s == STRATA_OK; st++) {
        /* gh = h_{t-1} W_hh^T, h_{t-1} from h0 or the previous step's rows of y */
        const float *h = st ? (const float *)cuda_ptr(&out[0]) + seq_prev_row(&g, st) * H : cuda_ptr(&in[3]);
        s = seq_gemm(d, 1, g.B, GH, H, h, st ? rs * H : H, cuda_ptr(&in[2]), H, gh, GH);
        if (s == STRATA_OK) {
            cudaError_t e = seq_step_forward(call, d->stream, &g, gx, gh, b_hh, st);
            if (e != cudaSuccess)
                s = cuda_fail_rt(e, "the gate kernel", __FILE__, __LINE__);
        }
    }
    cuda_temp_free(d, gx);
    return s;
}

CUDA_KERNEL(lstm_seq)
{
    return seq_forward(call, KC_SEQ_LSTM);
}

CUDA_KERNEL(gru_seq)
{
    return seq_forward(call, KC_SEQ_GRU);
}

CUDA_KERNEL(rnn_seq)
{
    return seq_forward(call, KC_SEQ_RNN);
}

/* ---- BPTT ----------------------------------------------------------------- */

/* Copies the (B, H) state @p src into the output @p dst (the running state). */
static strata_status seq_copy_state(cuda_device *d, const strata_tensor_desc *dst, const strata_tensor_desc *src)
{
    CUDA_TRY(cudaMemcpyAsync(cuda_ptr(dst), cuda_ptr(src), sizeof(float) * (size_t)strata_desc_numel(src),
                             cudaMemcpyDeviceToDevice, d->stream));
    return STRATA_OK;
}

/* lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws) -> da, dh0, dc0 */
CUDA_KERNEL(lstm_seq_backward)
{
    kc_seq g;
    cuda_device *d;
    CUDA_OK(kc_check_seq_backward(call, KC_SEQ_LSTM, &g));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_OK(seq_copy_state(d, &out[1], &in[1]));
    CUDA_OK(seq_copy_state(d, &out[2], &in[2]));
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    float *da = cuda_ptr(&out[0]), *dh = cuda_ptr(&out[1]), *dc = cuda_ptr(&out[2]);
    const float *dy = cuda_ptr(&in[0]), *w_hh = cuda_ptr(&in[3]), *ws = cuda_ptr(&in[5]);
    for (int64_t s = g.T - 1; s >= 0; s--) {
        const cuda_seq_step st = seq_step(&g, s);
        const float *cp = s ? ws + seq_prev_row(&g, s) * 5 * H + 4 * H : (const float *)cuda_ptr(&in[4]);
        CUDA_TRY(cuda_k_lstm_step_bwd(d->stream, da, dc, dh, dy, ws, cp, s ? rs * 5 * H : H, st));
        /* dh_{t-1} = da_t (B, 4H) W_hh (4H, H) */
        CUDA_OK(seq_gemm(d, 0, B, H, 4 * H, da + st.row0 * 4 * H, rs * 4 * H, w_hh, H, dh, H));
    }
    return STRATA_OK;
}

/* gru_seq_backward (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0 */
CUDA_KERNEL(gru_seq_backward)
{
    kc_seq g;
    cuda_device *d;
    CUDA_OK(kc_check_seq_backward(call, KC_SEQ_GRU, &g));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_OK(seq_copy_state(d, &out[2], &in[1]));
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    /* dh_t = dy + dz + dg: dz (the dh0 output) the direct term, dg (scratch) the GEMM's */
    float *dg = NULL;
    CUDA_OK(cuda_temp_alloc(d, sizeof(float) * (size_t)(B * H), (void **)&dg));
    float *dgi = cuda_ptr(&out[0]), *dgh = cuda_ptr(&out[1]), *dz = cuda_ptr(&out[2]);
    const float *dy = cuda_ptr(&in[0]), *w_hh = cuda_ptr(&in[2]), *y = cuda_ptr(&in[4]), *ws = cuda_ptr(&in[5]);
    strata_status s = STRATA_OK;
    for (int64_t t = g.T - 1; t >= 0 && s == STRATA_OK; t--) {
        const cuda_seq_step st = seq_step(&g, t);
        const float *hp = t ? y + seq_prev_row(&g, t) * H : (const float *)cuda_ptr(&in[3]);
        cudaError_t e =
            cuda_k_gru_step_bwd(d->stream, dgi, dgh, dz, t != g.T - 1 ? dg : NULL, dy, ws, hp, t ? rs * H : H, st);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_gru_step_bwd", __FILE__, __LINE__);
        /* dg = dgh_t (B, 3H) W_hh (3H, H) */
        if (s == STRATA_OK)
            s = seq_gemm(d, 0, B, H, 3 * H, dgh + st.row0 * 3 * H, rs * 3 * H, w_hh, H, dg, H);
    }
    if (s == STRATA_OK) { /* dh0 = dz + dg */
        cudaError_t e = cuda_k_add_into(d->stream, dz, dg, B * H);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_add_into", __FILE__, __LINE__);
    }
    cuda_temp_free(d, dg);
    return s;
}

/* rnn_seq_backward (dy, dh_n, w_hh, y) -> da, dh0 */
CUDA_KERNEL(rnn_seq_backward)
{
    kc_seq g;
    cuda_device *d;
    CUDA_OK(kc_check_seq_backward(call, KC_SEQ_RNN, &g));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_OK(seq_copy_state(d, &out[1], &in[1]));
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    float *da = cuda_ptr(&out[0]), *dh = cuda_ptr(&out[1]);
    const float *dy = cuda_ptr(&in[0]), *w_hh = cuda_ptr(&in[2]), *y = cuda_ptr(&in[3]);
    for (int64_t s = g.T - 1; s >= 0; s--) {
        const cuda_seq_step st = seq_step(&g, s);
        CUDA_TRY(cuda_k_rnn_step_bwd(d->stream, da, dh, dy, y, st, g.relu));
        /* dh_{t-1} = da_t (B, H) W_hh (H, H) */
        CUDA_OK(seq_gemm(d, 0, B, H, H, da + st.row0 * H, rs * H, w_hh, H, dh, H));
    }
    return STRATA_OK;
}
