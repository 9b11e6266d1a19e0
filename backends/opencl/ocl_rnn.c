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
 * float (ref's in double); the conformance tolerance covers it.
 */
#include <string.h>

#include "ocl_internal.h"

enum { SEQ_LSTM, SEQ_GRU, SEQ_RNN };

/* Sizes and attributes of one call. */
typedef struct ocl_seq {
    int cell;
    int64_t T, B, I, H, G; /* G gates: 4, 3, 1 */
    int bf, reverse, relu, has_bias;
} ocl_seq;

static int64_t seq_row(const ocl_seq *g, int64_t t, int64_t b)
{
    return g->bf ? b * g->T + t : t * g->B + b;
}

/* Input position of step s (s = 0 is the first step computed). */
static int64_t seq_t(const ocl_seq *g, int64_t s)
{
    return g->reverse ? g->T - 1 - s : s;
}

/* Rows between batch elements b and b + 1 of one step. */
static int64_t seq_rstride(const ocl_seq *g)
{
    return g->bf ? g->T : 1;
}

/* reverse, batch_first and (rnn) nonlinearity. */
static strata_status seq_attrs(const strata_kernel_call *call, ocl_seq *g)
{
    int64_t rev = strata_attr_get_int(call->attrs, call->n_attrs, "reverse", 0);
    int64_t bf = strata_attr_get_int(call->attrs, call->n_attrs, "batch_first", 0);
    if ((rev != 0 && rev != 1) || (bf != 0 && bf != 1))
        return kc_error(call, STRATA_E_INVALID, "reverse and batch_first must be 0 or 1, got %lld and %lld",
                        (long long)rev, (long long)bf);
    g->reverse = (int)rev;
    g->bf = (int)bf;
    g->relu = 0;
    if (g->cell == SEQ_RNN) {
        const char *nl = kc_attr_string(call, "nonlinearity", "tanh");
        if (!nl)
            return STRATA_E_INVALID;
        if (strcmp(nl, "tanh") && strcmp(nl, "relu"))
            return kc_error(call, STRATA_E_INVALID, "nonlinearity must be \"tanh\" or \"relu\", got \"%s\"", nl);
        g->relu = !strcmp(nl, "relu");
    }
    return STRATA_OK;
}

/* Checks that @p t is (s0, s1[, s2]) (rank @p ndim). */
static strata_status seq_need(const strata_kernel_call *call, const strata_tensor_desc *t, const char *what, int ndim,
                              int64_t s0, int64_t s1, int64_t s2)
{
    const int64_t want[3] = {s0, s1, s2};
    int ok = t->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++)
        ok = t->shape[k] == want[k];
    if (!ok) {
        char a[96], b[96];
        return kc_error(call, STRATA_E_SHAPE, "%s must have shape %s, got %s", what,
                        kc_shape_str(a, sizeof a, ndim, want), kc_shape_str(b, sizeof b, t->ndim, t->shape));
    }
    return STRATA_OK;
}

/* A sequence tensor (layout, C): (T, B, C), or (B, T, C) batch-first. */
static strata_status seq_need_seq(const strata_kernel_call *call, const ocl_seq *g, const strata_tensor_desc *t,
                                  const char *what, int64_t C)
{
    return seq_need(call, t, what, 3, g->bf ? g->B : g->T, g->bf ? g->T : g->B, C);
}

/* T, B and H from the sequence tensor @p s (x or dy) and, for a forward
 * op, I and H from x and w_ih. */
static strata_status seq_geom(const strata_kernel_call *call, int cell, int forward, ocl_seq *g)
{
    memset(g, 0, sizeof *g);
    g->cell = cell;
    g->G = cell == SEQ_LSTM ? 4 : cell == SEQ_GRU ? 3 : 1;
    strata_status s = kc_check_all_f32(call);
    if (s == STRATA_OK)
        s = seq_attrs(call, g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *x = &call->inputs[0];
    char a[96];
    if (x->ndim != 3)
        return kc_error(call, STRATA_E_SHAPE, "input 0 must have rank 3, got %s",
                        kc_shape_str(a, sizeof a, x->ndim, x->shape));
    g->T = g->bf ? x->shape[1] : x->shape[0];
    g->B = g->bf ? x->shape[0] : x->shape[1];
    if (forward) {
        const strata_tensor_desc *w = &call->inputs[1];
        g->I = x->shape[2];
        g->H = w->ndim == 2 ? w->shape[0] / g->G : 0;
        if (w->ndim != 2 || g->H < 1 || w->shape[0] != g->G * g->H)
            return kc_error(call, STRATA_E_SHAPE, "w_ih must be (%lld H, I), got %s", (long long)g->G,
                            kc_shape_str(a, sizeof a, w->ndim, w->shape));
    } else {
        g->H = x->shape[2];
    }
    if (g->T < 1 || g->B < 1 || g->H < 1 || (forward && g->I < 1))
        return kc_error(call, STRATA_E_SHAPE, "sequence length %lld, batch %lld, sizes %lld and %lld must be positive",
                        (long long)g->T, (long long)g->B, (long long)g->I, (long long)g->H);
    return STRATA_OK;
}

/* The forward op's inputs and outputs against @p g. */
static strata_status seq_check_forward(const strata_kernel_call *call, ocl_seq *g)
{
    const int ns = g->cell == SEQ_LSTM ? 2 : 1, n_out = g->cell == SEQ_LSTM ? 4 : g->cell == SEQ_GRU ? 3 : 2;
    strata_status s = kc_check_arity(call, 3 + ns, 5 + ns, n_out);
    if (s == STRATA_OK && call->n_inputs == 4 + ns)
        s = kc_error(call, STRATA_E_INVALID, "takes both biases or neither, got %d inputs", (int)call->n_inputs);
    if (s == STRATA_OK)
        s = seq_geom(call, g->cell, 1, g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t GH = g->G * g->H, B = g->B, H = g->H;
    g->has_bias = call->n_inputs == 5 + ns;
    if ((s = seq_need(call, &in[1], "w_ih", 2, GH, g->I, 0)) || (s = seq_need(call, &in[2], "w_hh", 2, GH, H, 0)) ||
        (s = seq_need(call, &in[3], "h0", 2, B, H, 0)) || (ns == 2 && (s = seq_need(call, &in[4], "c0", 2, B, H, 0))) ||
        (g->has_bias && ((s = seq_need(call, &in[3 + ns], "b_ih", 1, GH, 0, 0)) ||
                         (s = seq_need(call, &in[4 + ns], "b_hh", 1, GH, 0, 0)))))
        return s;
    if ((s = seq_need_seq(call, g, &out[0], "y", H)) || (s = seq_need(call, &out[1], "h_n", 2, B, H, 0)))
        return s;
    if (g->cell == SEQ_LSTM &&
        ((s = seq_need(call, &out[2], "c_n", 2, B, H, 0)) || (s = seq_need_seq(call, g, &out[3], "ws", 5 * H))))
        return s;
    if (g->cell == SEQ_GRU && (s = seq_need_seq(call, g, &out[2], "ws", 4 * H)))
        return s;
    return STRATA_OK;
}

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
static strata_status seq_step_forward(const strata_kernel_call *call, ocl_device *d, const ocl_seq *g, cl_mem gx,
                                      cl_mem gh, int64_t s)
{
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t H = g->H, rs = seq_rstride(g);
    cl_long row0 = seq_row(g, seq_t(g, s), 0), rstride = rs, B = g->B, cH = H;
    cl_int last = s == g->T - 1, relu = g->relu;
    cl_mem y = ocl_mem(&out[0]), hn = ocl_mem(&out[1]);
    cl_long y_off = ocl_off(&out[0]), hn_off = ocl_off(&out[1]);
    size_t global = (size_t)(g->B * H);
    /* the previous state (c_{t-1} for LSTM, h_{t-1} for GRU): the initial
     * one, or the previous step's rows of ws or y */
    const int64_t prow0 = s ? seq_row(g, seq_t(g, s - 1), 0) : 0;
    if (g->cell == SEQ_LSTM) {
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
    if (g->cell == SEQ_GRU) {
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
    ocl_seq g = {.cell = cell};
    strata_status s = seq_check_forward(call, &g);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int ns = cell == SEQ_LSTM ? 2 : 1;
    const int64_t H = g.H, GH = g.G * H, R = g.T * g.B, rs = seq_rstride(&g);
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
        cl_long h_off = ocl_off(h) + (st ? seq_row(&g, seq_t(&g, st - 1), 0) * H : 0), h_sm = st ? rs * H : H;
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
    return seq_forward(call, SEQ_LSTM);
}

OCL_KERNEL(gru_seq)
{
    return seq_forward(call, SEQ_GRU);
}

OCL_KERNEL(rnn_seq)
{
    return seq_forward(call, SEQ_RNN);
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
    ocl_seq g;
    strata_status s = kc_check_arity(call, 6, 6, 3);
    if (s == STRATA_OK)
        s = seq_geom(call, SEQ_LSTM, 0, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = seq_rstride(&g);
    if ((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) || (s = seq_need(call, &in[2], "dc_n", 2, B, H, 0)) ||
        (s = seq_need(call, &in[3], "w_hh", 2, 4 * H, H, 0)) || (s = seq_need(call, &in[4], "c0", 2, B, H, 0)) ||
        (s = seq_need_seq(call, &g, &in[5], "ws", 5 * H)) || (s = seq_need_seq(call, &g, &out[0], "da", 4 * H)) ||
        (s = seq_need(call, &out[1], "dh0", 2, B, H, 0)) || (s = seq_need(call, &out[2], "dc0", 2, B, H, 0)))
        return s;
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
        cl_long row0 = seq_row(&g, seq_t(&g, st), 0), prow0 = st ? seq_row(&g, seq_t(&g, st - 1), 0) : 0;
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
    ocl_seq g;
    strata_status s = kc_check_arity(call, 6, 6, 3);
    if (s == STRATA_OK)
        s = seq_geom(call, SEQ_GRU, 0, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = seq_rstride(&g);
    if ((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) || (s = seq_need(call, &in[2], "w_hh", 2, 3 * H, H, 0)) ||
        (s = seq_need(call, &in[3], "h0", 2, B, H, 0)) || (s = seq_need_seq(call, &g, &in[4], "y", H)) ||
        (s = seq_need_seq(call, &g, &in[5], "ws", 4 * H)) || (s = seq_need_seq(call, &g, &out[0], "dgi", 3 * H)) ||
        (s = seq_need_seq(call, &g, &out[1], "dgh", 3 * H)) || (s = seq_need(call, &out[2], "dh0", 2, B, H, 0)))
        return s;
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
        cl_long row0 = seq_row(&g, seq_t(&g, st), 0), prow0 = st ? seq_row(&g, seq_t(&g, st - 1), 0) : 0;
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
    ocl_seq g;
    strata_status s = kc_check_arity(call, 4, 4, 2);
    if (s == STRATA_OK)
        s = seq_geom(call, SEQ_RNN, 0, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    const int64_t B = g.B, H = g.H, rs = seq_rstride(&g);
    if ((s = seq_need(call, &in[1], "dh_n", 2, B, H, 0)) || (s = seq_need(call, &in[2], "w_hh", 2, H, H, 0)) ||
        (s = seq_need_seq(call, &g, &in[3], "y", H)) || (s = seq_need_seq(call, &g, &out[0], "da", H)) ||
        (s = seq_need(call, &out[1], "dh0", 2, B, H, 0)))
        return s;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = seq_copy_state(call, &out[1], &in[1])))
        return s;
    cl_mem da = ocl_mem(&out[0]), dh = ocl_mem(&out[1]), dy = ocl_mem(&in[0]), y = ocl_mem(&in[3]);
    cl_long da_off = ocl_off(&out[0]), dh_off = ocl_off(&out[1]), dy_off = ocl_off(&in[0]), y_off = ocl_off(&in[3]);
    cl_long rstride = rs, cB = B, cH = H;
    cl_int relu = g.relu;
    size_t global = (size_t)(B * H);
    for (int64_t st = g.T - 1; st >= 0 && s == STRATA_OK; st--) {
        cl_long row0 = seq_row(&g, seq_t(&g, st), 0);
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
