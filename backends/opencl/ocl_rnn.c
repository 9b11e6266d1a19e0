/*
 * ocl_rnn.c - the lstm plugin's sequence ops on the device, registered by
 * name (plugins/lstm defines them; lstm_seq.c, gru_seq.c and rnn_seq.c
 * there are the reference):
 *
 *   lstm::lstm_seq          (x, w_ih, w_hh, h0, c0 [, b_ih, b_hh]) -> y, h_n, c_n, ws
 *   lstm::lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws)         -> da, dh0, dc0
 *   lstm::gru_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n, ws
 *   lstm::gru_seq_backward  (dy, dh_n, w_hh, h0, y, ws)            -> dgi, dgh, dh0
 *   lstm::rnn_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n
 *   lstm::rnn_seq_backward  (dy, dh_n, w_hh, y)                    -> da, dh0
 *
 *   x (T, B, I) or (B, T, I) (attr batch_first), y (.., .., H), states
 *   (B, H); row r(t, b) of the (T B, ...) view is t B + b, or b T + t
 *   batch-first; attr reverse runs t = T-1 .. 0.
 *
 * Forward: one GEMM (gemm.cl) for the input projection of every step,
 * gx = x W_ih^T + b_ih (T B, G H), then per step one GEMM for the
 * recurrent projection gh = h_{t-1} W_hh^T + b_hh (B, G H), reading
 * h_{t-1} straight from y's rows, and one gate kernel (rnn.cl). Backward
 * (BPTT): per step one gate-gradient kernel and one GEMM for the recurrent
 * term dh_{t-1} = d_t W_hh, written into the dh0 output, which holds the
 * running state (dc0 likewise). The GEMMs over all steps (dx, dW_ih,
 * dW_hh) are core::matmul calls the plugin's backward makes.
 *
 * Everything stays queued on the device: no host round trip. Sums run in
 * float (ref's in double); the conformance tolerance covers it. The checks
 * of a call are kc_seq.c's (backends/common, shared with cuda).
 */
#include <string.h>

#include "ocl_internal.h"

/* c (M, N) at c_off = a (M, K) b (K, N) [+ bias]; see ocl_gemm_args. */
static strata_status seq_gemm(const strata_kernel_call *call, ocl_device *d, cl_mem c, cl_long c_off, cl_mem a,
                              cl_long a_off, cl_long a_sm, cl_mem b, cl_long b_off, cl_long b_sk, cl_long b_sn,
                              const strata_tensor_desc *bias, int64_t M, int64_t N, int64_t K)
{
    ocl_gemm_args g;
    memset(&g, 0, sizeof g);
    g.c = c;
    g.c_off = c_off;
    g.a = a;
    g.a_off = a_off;
    g.a_sm = a_sm;
    g.a_sk = 1;
    g.b = b;
    g.b_off = b_off;
    g.b_sk = b_sk;
    g.b_sn = b_sn;
    if (bias) {
        g.bias = ocl_mem(bias);
        g.bias_off = ocl_off(bias);
        g.has_bias = 1;
    }
    g.M = M;
    g.N = N;
    g.K = K;
    return ocl_gemm_launch(call, d, &g, 1);
}

/* One forward step's gate kernel: step s at input position t (rows row0 +
 * b rs), the previous state's rows at prow0 (s > 0). */
static strata_status seq_step_forward(const strata_kernel_call *call, ocl_device *d, const kc_seq *g, cl_mem gx,
                                      cl_mem gh, int64_t s)
{
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t H = g->H, rs = kc_seq_rstride(g);
    cl_long row0 = kc_seq_row(g, kc_seq_t(g, s), 0), rstride = rs, B = g->B, cH = H;
    cl_int last = s == g->T - 1, relu = g->relu;
    cl_mem y = ocl_mem(&out[0]), hn = ocl_mem(&out[1]);
    cl_long y_off = ocl_off(&out[0]), hn_off = ocl_off(&out[1]);
    size_t global = (size_t)(g->B * H);
    /* the previous state (c_{t-1} for LSTM, h_{t-1} for GRU): the initial
     * one, or the previous step's rows of ws or y */
    const int64_t prow0 = s ? kc_seq_row(g, kc_seq_t(g, s - 1), 0) : 0;
    if (g->cell == KC_SEQ_LSTM) {
        cl_mem ws = ocl_mem(&out[3]), cn = ocl_mem(&out[2]);
        cl_long ws_off = ocl_off(&out[3]), cn_off = ocl_off(&out[2]);
        cl_mem cp = s ? ws : ocl_mem(&in[4]);
        cl_long cp_off = s ? ws_off + prow0 * 5 * H + 4 * H : ocl_off(&in[4]), cp_bs = s ? rs * 5 * H : H;
        ocl_arg args[] = {OCL_ARG(y),      OCL_ARG(y_off),  OCL_ARG(ws),     OCL_ARG(ws_off), OCL_ARG(hn),
                          OCL_ARG(hn_off), OCL_ARG(cn),     OCL_ARG(cn_off), OCL_ARG(gx),     OCL_ARG(gh),
                          OCL_ARG(cp),     OCL_ARG(cp_off), OCL_ARG(cp_bs),  OCL_ARG(row0),   OCL_ARG(rstride),
                          OCL_ARG(B),      OCL_ARG(cH),     OCL_ARG(last)};
        return ocl_launch(call, d, OCL_K_lstm_step_fwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
    }
    if (g->cell == KC_SEQ_GRU) {
        cl_mem ws = ocl_mem(&out[2]);
        cl_long ws_off = ocl_off(&out[2]);
        cl_mem hp = s ? y : ocl_mem(&in[3]);
        cl_long hp_off = s ? y_off + prow0 * H : ocl_off(&in[3]), hp_bs = s ? rs * H : H;
        ocl_arg args[] = {OCL_ARG(y),       OCL_ARG(y_off),  OCL_ARG(ws),    OCL_ARG(ws_off),
                          OCL_ARG(hn),      OCL_ARG(hn_off), OCL_ARG(gx),    OCL_ARG(gh),
                          OCL_ARG(hp),      OCL_ARG(hp_off), OCL_ARG(hp_bs), OCL_ARG(row0),
                          OCL_ARG(rstride), OCL_ARG(B),      OCL_ARG(cH),    OCL_ARG(last)};
        return ocl_launch(call, d, OCL_K_gru_step_fwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
    }
    ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(y_off),   OCL_ARG(hn), OCL_ARG(hn_off), OCL_ARG(gx),   OCL_ARG(gh),
                      OCL_ARG(row0), OCL_ARG(rstride), OCL_ARG(B),  OCL_ARG(cH),     OCL_ARG(relu), OCL_ARG(last)};
    return ocl_launch(call, d, OCL_K_rnn_step_fwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}

static strata_status seq_forward(const strata_kernel_call *call, int cell)
{
    kc_seq g = {.cell = cell};
    strata_status s = kc_check_seq_forward(call, cell, &g);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int ns = cell == KC_SEQ_LSTM ? 2 : 1;
    const int64_t H = g.H, GH = g.G * H, R = g.T * g.B, rs = kc_seq_rstride(&g);
    const strata_tensor_desc *b_ih = g.has_bias ? &in[3 + ns] : NULL, *b_hh = g.has_bias ? &in[4 + ns] : NULL;
    cl_mem gx = NULL, gh = NULL; /* (T B, G H), (B, G H) */
    if ((s = ocl_scratch(d, sizeof(float) * (size_t)(R * GH), &gx)) == STRATA_OK)
        s = ocl_scratch(d, sizeof(float) * (size_t)(g.B * GH), &gh);
    /* gx = x W_ih^T + b_ih for every step at once */
    if (s == STRATA_OK)
        s = seq_gemm(call, d, gx, 0, ocl_mem(&in[0]), ocl_off(&in[0]), g.I, ocl_mem(&in[1]), ocl_off(&in[1]), 1, g.I,
                     b_ih, R, GH, g.I);
    for (int64_t st = 0; st < g.T && s == STRATA_OK; st++) {
        /* gh = h_{t-1} W_hh^T + b_hh, h_{t-1} from h0 or the previous step's rows of y */
        const strata_tensor_desc *h = st ? &out[0] : &in[3];
        cl_long h_off = ocl_off(h) + (st ? kc_seq_row(&g, kc_seq_t(&g, st - 1), 0) * H : 0), h_sm = st ? rs * H : H;
        s = seq_gemm(call, d, gh, 0, ocl_mem(h), h_off, h_sm, ocl_mem(&in[2]), ocl_off(&in[2]), 1, H, b_hh, g.B, GH, H);
        if (s == STRATA_OK)
            s = seq_step_forward(call, d, &g, gx, gh, st);
    }
    ocl_free(call->backend_self, call->device, gx);
    ocl_free(call->backend_self, call->device, gh);
    return s;
}

OCL_KERNEL(lstm_seq)
{
    return seq_forward(call, KC_SEQ_LSTM);
}

OCL_KERNEL(gru_seq)
{
    return seq_forward(call, KC_SEQ_GRU);
}

OCL_KERNEL(rnn_seq)
{
    return seq_forward(call, KC_SEQ_RNN);
}

/* ---- BPTT ----------------------------------------------------------------- */

/* Copies the (B, H) state @p src into the output @p dst (the running state). */
static strata_status seq_copy_state(const strata_kernel_call *call, const strata_tensor_desc *dst,
                                    const strata_tensor_desc *src)
{
    return ocl_copy_on_device(call->backend_self, call->device, ocl_mem(dst), dst->byte_offset, ocl_mem(src),
                              src->byte_offset, sizeof(float) * (size_t)strata_desc_numel(src));
}

/* lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws) -> da, dh0, dc0 */
OCL_KERNEL(lstm_seq_backward)
{
    kc_seq g;
    strata_status s = kc_check_seq_backward(call, KC_SEQ_LSTM, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = seq_copy_state(call, &out[1], &in[1])) ||
        (s = seq_copy_state(call, &out[2], &in[2])))
        return s;
    cl_mem da = ocl_mem(&out[0]), dh = ocl_mem(&out[1]), dc = ocl_mem(&out[2]), dy = ocl_mem(&in[0]);
    cl_mem ws = ocl_mem(&in[5]);
    cl_long da_off = ocl_off(&out[0]), dh_off = ocl_off(&out[1]), dc_off = ocl_off(&out[2]), dy_off = ocl_off(&in[0]);
    cl_long ws_off = ocl_off(&in[5]), rstride = rs, cB = B, cH = H;
    size_t global = (size_t)(B * H);
    for (int64_t st = g.T - 1; st >= 0 && s == STRATA_OK; st--) {
        cl_long row0 = kc_seq_row(&g, kc_seq_t(&g, st), 0), prow0 = st ? kc_seq_row(&g, kc_seq_t(&g, st - 1), 0) : 0;
        cl_mem cp = st ? ws : ocl_mem(&in[4]);
        cl_long cp_off = st ? ws_off + prow0 * 5 * H + 4 * H : ocl_off(&in[4]), cp_bs = st ? rs * 5 * H : H;
        ocl_arg args[] = {OCL_ARG(da),     OCL_ARG(da_off), OCL_ARG(dc),     OCL_ARG(dc_off), OCL_ARG(dh),
                          OCL_ARG(dh_off), OCL_ARG(dy),     OCL_ARG(dy_off), OCL_ARG(ws),     OCL_ARG(ws_off),
                          OCL_ARG(cp),     OCL_ARG(cp_off), OCL_ARG(cp_bs),  OCL_ARG(row0),   OCL_ARG(rstride),
                          OCL_ARG(cB),     OCL_ARG(cH)};
        s = ocl_launch(call, d, OCL_K_lstm_step_bwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
        /* dh_{t-1} = da_t (B, 4H) W_hh (4H, H) */
        if (s == STRATA_OK)
            s = seq_gemm(call, d, dh, dh_off, da, da_off + row0 * 4 * H, rs * 4 * H, ocl_mem(&in[3]), ocl_off(&in[3]),
                         H, 1, NULL, B, H, 4 * H);
    }
    return s;
}

/* gru_seq_backward (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0 */
OCL_KERNEL(gru_seq_backward)
{
    kc_seq g;
    strata_status s = kc_check_seq_backward(call, KC_SEQ_GRU, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = seq_copy_state(call, &out[2], &in[1])))
        return s;
    /* dh_t = dy + dz + dg: dz (the dh0 output) the direct term, dg (scratch) the GEMM's */
    cl_mem dg = NULL;
    if ((s = ocl_scratch(d, sizeof(float) * (size_t)(B * H), &dg)) != STRATA_OK)
        return s;
    cl_mem dgi = ocl_mem(&out[0]), dgh = ocl_mem(&out[1]), dz = ocl_mem(&out[2]), dy = ocl_mem(&in[0]);
    cl_mem ws = ocl_mem(&in[5]);
    cl_long dgi_off = ocl_off(&out[0]), dgh_off = ocl_off(&out[1]), dz_off = ocl_off(&out[2]);
    cl_long dy_off = ocl_off(&in[0]), ws_off = ocl_off(&in[5]), dg_off = 0, rstride = rs, cB = B, cH = H;
    size_t global = (size_t)(B * H);
    for (int64_t st = g.T - 1; st >= 0 && s == STRATA_OK; st--) {
        cl_long row0 = kc_seq_row(&g, kc_seq_t(&g, st), 0), prow0 = st ? kc_seq_row(&g, kc_seq_t(&g, st - 1), 0) : 0;
        cl_mem hp = st ? ocl_mem(&in[4]) : ocl_mem(&in[3]);
        cl_long hp_off = st ? ocl_off(&in[4]) + prow0 * H : ocl_off(&in[3]), hp_bs = st ? rs * H : H;
        cl_int has_dg = st != g.T - 1;
        ocl_arg args[] = {OCL_ARG(dgi),    OCL_ARG(dgi_off), OCL_ARG(dgh),     OCL_ARG(dgh_off), OCL_ARG(dz),
                          OCL_ARG(dz_off), OCL_ARG(dg),      OCL_ARG(dg_off),  OCL_ARG(has_dg),  OCL_ARG(dy),
                          OCL_ARG(dy_off), OCL_ARG(ws),      OCL_ARG(ws_off),  OCL_ARG(hp),      OCL_ARG(hp_off),
                          OCL_ARG(hp_bs),  OCL_ARG(row0),    OCL_ARG(rstride), OCL_ARG(cB),      OCL_ARG(cH)};
        s = ocl_launch(call, d, OCL_K_gru_step_bwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
        /* dg = dgh_t (B, 3H) W_hh (3H, H) */
        if (s == STRATA_OK)
            s = seq_gemm(call, d, dg, 0, dgh, dgh_off + row0 * 3 * H, rs * 3 * H, ocl_mem(&in[2]), ocl_off(&in[2]), H,
                         1, NULL, B, H, 3 * H);
    }
    if (s == STRATA_OK) { /* dh0 = dz + dg */
        cl_long n = B * H;
        ocl_arg args[] = {OCL_ARG(dz), OCL_ARG(dz_off), OCL_ARG(dg), OCL_ARG(dg_off), OCL_ARG(n)};
        s = ocl_launch(call, d, OCL_K_add_into, 1, &global, NULL, 5, args);
    }
    ocl_free(call->backend_self, call->device, dg);
    return s;
}

/* rnn_seq_backward (dy, dh_n, w_hh, y) -> da, dh0 */
OCL_KERNEL(rnn_seq_backward)
{
    kc_seq g;
    strata_status s = kc_check_seq_backward(call, KC_SEQ_RNN, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = kc_seq_rstride(&g);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = seq_copy_state(call, &out[1], &in[1])))
        return s;
    cl_mem da = ocl_mem(&out[0]), dh = ocl_mem(&out[1]), dy = ocl_mem(&in[0]), y = ocl_mem(&in[3]);
    cl_long da_off = ocl_off(&out[0]), dh_off = ocl_off(&out[1]), dy_off = ocl_off(&in[0]), y_off = ocl_off(&in[3]);
    cl_long rstride = rs, cB = B, cH = H;
    cl_int relu = g.relu;
    size_t global = (size_t)(B * H);
    for (int64_t st = g.T - 1; st >= 0 && s == STRATA_OK; st--) {
        cl_long row0 = kc_seq_row(&g, kc_seq_t(&g, st), 0);
        ocl_arg args[] = {OCL_ARG(da),     OCL_ARG(da_off), OCL_ARG(dh),    OCL_ARG(dh_off), OCL_ARG(dy),
                          OCL_ARG(dy_off), OCL_ARG(y),      OCL_ARG(y_off), OCL_ARG(row0),   OCL_ARG(rstride),
                          OCL_ARG(cB),     OCL_ARG(cH),     OCL_ARG(relu)};
        s = ocl_launch(call, d, OCL_K_rnn_step_bwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
        /* dh_{t-1} = da_t (B, H) W_hh (H, H) */
        if (s == STRATA_OK)
            s = seq_gemm(call, d, dh, dh_off, da, da_off + row0 * H, rs * H, ocl_mem(&in[2]), ocl_off(&in[2]), H, 1,
                         NULL, B, H, H);
    }
    return s;
}
