/*
 * cpu_lstm.c - the lstm plugin's recurrent sequence ops on the cpu backend,
 * registered by name (plugins/lstm defines the ops; see lstm_seq.c and
 * gru_seq.c there and docs/lstm.md for their semantics):
 *
 *   lstm::lstm_seq          (x, w_ih, w_hh, h0, c0 [, b_ih, b_hh]) -> y, h_n, c_n, ws
 *   lstm::lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws)         -> da, dh0, dc0
 *   lstm::gru_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n, ws
 *   lstm::gru_seq_backward  (dy, dh_n, w_hh, h0, y, ws)            -> dgi, dgh, dh0
 *   lstm::rnn_seq           (x, w_ih, w_hh, h0 [, b_ih, b_hh])     -> y, h_n
 *   lstm::rnn_seq_backward  (dy, dh_n, w_hh, y)                    -> da, dh0
 *
 *   x (T, B, I) or (B, T, I) (attr batch_first), y (.., .., H), states (B, H);
 *   row r(t, b) of the (T B, ...) view is t B + b, or b T + t batch-first;
 *   attr reverse runs t = T-1 .. 0.
 *
 * Forward: one dnnl_sgemm for the input projection of every step, written
 * straight into the workspace rows (ldc = the workspace width), then per
 * step one dnnl_sgemm over all gates, h_{t-1} W_hh^T, accumulated onto it
 * (beta = 1; LSTM, RNN) or into a (B, G H) buffer (GRU), and the gate math
 * in one vectorised pass (cpu_sigmoidf, cpu_tanhf); the threads split the
 * batch for the whole sequence (BATCH_SPLIT below). Backward: the gate gradients per step and one dnnl_sgemm
 * da_t W_hh for dh_{t-1}; the GEMMs over all steps (dx, dW_ih, dW_hh)
 * are core::matmul calls the plugin's backward makes.
 *
 * Sums run in float (ref's in double); the conformance tolerance covers it.
 */
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_internal.h"

/* The sizes of a call are a kc_seq (kcall.h); the cpu reads T, B, H, bf and reverse. */

/* T, B from input 0 (x or dy); H from dy (@p backward) or from w_hh (input 2). */
static strata_status seq_geom_read(const strata_kernel_call *call, int backward, kc_seq *g)
{
    const strata_tensor_desc *x3 = &call->inputs[0];
    memset(g, 0, sizeof *g);
    g->bf = (int)strata_attr_get_int(call->attrs, call->n_attrs, "batch_first", 0) != 0;
    g->reverse = (int)strata_attr_get_int(call->attrs, call->n_attrs, "reverse", 0) != 0;
    if (x3->ndim != 3 || x3->dtype != STRATA_F32)
        return kc_error(call, STRATA_E_SHAPE, "input 0 must be f32 of rank 3, got rank %d", x3->ndim);
    g->T = g->bf ? x3->shape[1] : x3->shape[0];
    g->B = g->bf ? x3->shape[0] : x3->shape[1];
    g->H = backward ? x3->shape[2] : call->inputs[2].shape[1];
    return STRATA_OK;
}

/* n floats (at least one); NULL with an E_NOMEM message */
static float *alloc_floats(const strata_kernel_call *call, int64_t n)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!p)
        kc_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes for %lld floats", sizeof(float) * (size_t)(n ? n : 1),
                 (long long)n);
    return p;
}

static strata_status sgemm(const strata_kernel_call *call, char ta, char tb, int64_t M, int64_t N, int64_t K,
                           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
    if (st != dnnl_success)
        return kc_error(call, STRATA_E_BACKEND, "dnnl_sgemm(%c%c, M=%lld, N=%lld, K=%lld) failed with status %d", ta,
                        tb, (long long)M, (long long)N, (long long)K, (int)st);
    return STRATA_OK;
}

/*
 * Threads split the BATCH, each running every step of its rows: the
 * recurrence of one batch row never reads another's, so the threads need
 * no synchronisation inside the sequence (one fork and join per kernel
 * call, not one or two per step: on a busy machine a join waits for a
 * descheduled thread, which cost ~5 ms per step on W3's shapes with the
 * per-step GEMMs threaded). dnnl_sgemm called inside the region runs on
 * its thread. Below CPU_SEQ_SPLIT_MIN elements per step (or one row) the
 * sequence runs on the calling thread, the per-step GEMMs threaded by
 * oneDNN. @p body sees its rows [b0, b1) and sets rc_ on failure (the
 * message of a failure on a worker thread stays on that thread; the status
 * is returned).
 */
#define CPU_SEQ_SPLIT_MIN 4096
#define CPU_SEQ_MAX_THREADS 256
#define BATCH_SPLIT(g, rc, b0, b1, ...)                                                                        \
    do {                                                                                                       \
        int nt_ = (g)->B * (g)->H >= CPU_SEQ_SPLIT_MIN ? cpu_threads() : 1;                                   \
        nt_ = nt_ > (g)->B ? (int)(g)->B : nt_;                                                                \
        nt_ = nt_ > CPU_SEQ_MAX_THREADS ? CPU_SEQ_MAX_THREADS : nt_ < 1 ? 1 : nt_;                            \
        strata_status rcs_[CPU_SEQ_MAX_THREADS];                                                               \
        _Pragma("omp parallel for schedule(static) num_threads(nt_) if (nt_ > 1)")                             \
        for (int c_ = 0; c_ < nt_; c_++) {                                                                     \
            const int64_t b0 = (g)->B * c_ / nt_, b1 = (g)->B * (c_ + 1) / nt_;                                 \
            strata_status rc_ = STRATA_OK;                                                                     \
            __VA_ARGS__;                                                                                       \
            rcs_[c_] = rc_;                                                                                    \
        }                                                                                                      \
        for (int c_ = 0; c_ < nt_; c_++)                                                                       \
            if (rcs_[c_] && !(rc))                                                                             \
                (rc) = rcs_[c_];                                                                               \
    } while (0)

/* bsum (n) = b_ih + b_hh, or zeros */
static float *bias_sum(const strata_kernel_call *call, int k_bias, int64_t n)
{
    float *s = alloc_floats(call, n);
    if (!s)
        return NULL;
    if (call->n_inputs > k_bias + 1) {
        const float *bi = strata_desc_ptr(&call->inputs[k_bias]), *bh = strata_desc_ptr(&call->inputs[k_bias + 1]);
        for (int64_t j = 0; j < n; j++)
            s[j] = bi[j] + bh[j];
    } else {
        memset(s, 0, sizeof(float) * (size_t)n);
    }
    return s;
}

/* ======================================================================= */
/* LSTM                                                                     */
/* ======================================================================= */

/* One step's gate math for batch rows [lo, hi): a (rows of the workspace,
 * pre-activations in the first 4H) becomes [i, f, g, o, c]; y gets h. */
static void lstm_step(float *restrict ws, float *restrict y, const float *restrict c0, const float *restrict bsum,
                      const kc_seq *g, int64_t s, int64_t lo, int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        const int64_t r = kc_seq_row(g, t, b);
        float *restrict a = ws + r * 5 * H; // (5H)
        const float *restrict cp = s ? ws + kc_seq_row(g, kc_seq_t(g, s - 1), b) * 5 * H + 4 * H : c0 + b * H; // (H)
        float *restrict yr = y + r * H; // (H)
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            float i = cpu_sigmoidf(a[j] + bsum[j]);
            float f = cpu_sigmoidf(a[H + j] + bsum[H + j]);
            float gg = cpu_tanhf(a[2 * H + j] + bsum[2 * H + j]);
            float o = cpu_sigmoidf(a[3 * H + j] + bsum[3 * H + j]);
            float c = f * cp[j] + i * gg;
            a[j] = i, a[H + j] = f, a[2 * H + j] = gg, a[3 * H + j] = o, a[4 * H + j] = c;
            yr[j] = o * cpu_tanhf(c);
        }
    }
}

CPU_KERNEL(lstm_seq)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 0, &g);
    if (rc)
        return rc;
    const int64_t I = call->inputs[0].shape[2], H = g.H, G4 = 4 * H, R = g.T * g.B;
    const float *x = strata_desc_ptr(&call->inputs[0]);    // (R, I)
    const float *w_ih = strata_desc_ptr(&call->inputs[1]); // (4H, I)
    const float *w_hh = strata_desc_ptr(&call->inputs[2]); // (4H, H)
    const float *h0 = strata_desc_ptr(&call->inputs[3]);   // (B, H)
    const float *c0 = strata_desc_ptr(&call->inputs[4]);   // (B, H)
    float *y = strata_desc_ptr(&call->outputs[0]);         // (R, H)
    float *hn = strata_desc_ptr(&call->outputs[1]);        // (B, H)
    float *cn = strata_desc_ptr(&call->outputs[2]);        // (B, H)
    float *ws = strata_desc_ptr(&call->outputs[3]);        // (R, 5H)
    float *bsum = bias_sum(call, 5, G4);
    if (!bsum)
        return STRATA_E_NOMEM;
    const int64_t bs = kc_seq_rstride(&g);
    /* the input projection of every step, into the first 4H columns of ws */
    rc = sgemm(call, 'N', 'T', R, G4, I, x, I, w_ih, I, 0.0f, ws, 5 * H);
    if (!rc)
        BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = 0; s < g.T && !rc_; s++) {
            const float *hp = s ? y + kc_seq_row(&g, kc_seq_t(&g, s - 1), b0) * H : h0 + b0 * H;
            rc_ = sgemm(call, 'N', 'T', b1 - b0, G4, H, hp, s ? bs * H : H, w_hh, H, 1.0f,
                        ws + kc_seq_row(&g, kc_seq_t(&g, s), b0) * 5 * H, bs * 5 * H);
            if (!rc_)
                lstm_step(ws, y, c0, bsum, &g, s, b0, b1);
        });
    if (!rc) {
        const int64_t tl = kc_seq_t(&g, g.T - 1);
        for (int64_t b = 0; b < g.B; b++) {
            const int64_t r = kc_seq_row(&g, tl, b);
            memcpy(hn + b * H, y + r * H, sizeof(float) * (size_t)H);
            memcpy(cn + b * H, ws + r * 5 * H + 4 * H, sizeof(float) * (size_t)H);
        }
    }
    free(bsum);
    return rc;
}

/* One step of BPTT for batch rows [lo, hi): da from dy + dh and dc; dc becomes dc_{t-1}. */
static void lstm_step_backward(float *restrict da, float *restrict dc, const float *restrict dh,
                               const float *restrict dy, const float *restrict c0, const float *restrict ws,
                               const kc_seq *g, int64_t s, int64_t lo, int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        const int64_t r = kc_seq_row(g, t, b);
        const float *restrict w = ws + r * 5 * H; // (5H)
        const float *restrict cp = s ? ws + kc_seq_row(g, kc_seq_t(g, s - 1), b) * 5 * H + 4 * H : c0 + b * H;
        const float *restrict dyr = dy + r * H;
        const float *restrict dhb = dh + b * H;
        float *restrict dcb = dc + b * H;
        float *restrict dar = da + r * 4 * H; // (4H)
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            float i = w[j], f = w[H + j], gg = w[2 * H + j], o = w[3 * H + j], c = w[4 * H + j];
            float dhv = dyr[j] + dhb[j];
            float tc = cpu_tanhf(c);
            float dcv = dcb[j] + dhv * o * (1.0f - tc * tc);
            dar[j] = dcv * gg * i * (1.0f - i);
            dar[H + j] = dcv * cp[j] * f * (1.0f - f);
            dar[2 * H + j] = dcv * i * (1.0f - gg * gg);
            dar[3 * H + j] = dhv * tc * o * (1.0f - o);
            dcb[j] = dcv * f;
        }
    }
}

CPU_KERNEL(lstm_seq_backward)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 1, &g);
    if (rc)
        return rc;
    const int64_t H = g.H;
    const float *dy = strata_desc_ptr(&call->inputs[0]);   // (R, H)
    const float *dhn = strata_desc_ptr(&call->inputs[1]);  // (B, H)
    const float *dcn = strata_desc_ptr(&call->inputs[2]);  // (B, H)
    const float *w_hh = strata_desc_ptr(&call->inputs[3]); // (4H, H)
    const float *c0 = strata_desc_ptr(&call->inputs[4]);   // (B, H)
    const float *ws = strata_desc_ptr(&call->inputs[5]);   // (R, 5H)
    float *da = strata_desc_ptr(&call->outputs[0]);        // (R, 4H)
    float *dh = strata_desc_ptr(&call->outputs[1]);        // (B, H): dh_t, ends as dh0
    float *dc = strata_desc_ptr(&call->outputs[2]);        // (B, H): dc_t, ends as dc0
    memcpy(dh, dhn, sizeof(float) * (size_t)(g.B * H));
    memcpy(dc, dcn, sizeof(float) * (size_t)(g.B * H));
    const int64_t bs = kc_seq_rstride(&g);
    BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = g.T - 1; s >= 0 && !rc_; s--) {
        lstm_step_backward(da, dc, dh, dy, c0, ws, &g, s, b0, b1);
        rc_ = sgemm(call, 'N', 'N', b1 - b0, H, 4 * H, da + kc_seq_row(&g, kc_seq_t(&g, s), b0) * 4 * H, bs * 4 * H, w_hh,
                    H, 0.0f, dh + b0 * H, H);
    });
    return rc;
}

/* ======================================================================= */
/* GRU                                                                      */
/* ======================================================================= */

/* gi (R, 3H) input projections with b_ih; gh (B, 3H) this step's h W_hh^T + b_hh. */
static void gru_step(float *restrict ws, float *restrict y, const float *restrict h0, const float *restrict gi,
                     const float *restrict gh, const kc_seq *g, int64_t s, int64_t lo, int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        const int64_t r = kc_seq_row(g, t, b);
        const float *restrict ai = gi + r * 3 * H, *restrict ah = gh + b * 3 * H;
        const float *restrict hp = s ? y + kc_seq_row(g, kc_seq_t(g, s - 1), b) * H : h0 + b * H;
        float *restrict w = ws + r * 4 * H;
        float *restrict yr = y + r * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            float rr = cpu_sigmoidf(ai[j] + ah[j]);
            float z = cpu_sigmoidf(ai[H + j] + ah[H + j]);
            float n = cpu_tanhf(ai[2 * H + j] + rr * ah[2 * H + j]);
            w[j] = rr, w[H + j] = z, w[2 * H + j] = n, w[3 * H + j] = ah[2 * H + j];
            yr[j] = (1.0f - z) * n + z * hp[j];
        }
    }
}

CPU_KERNEL(gru_seq)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 0, &g);
    if (rc)
        return rc;
    const int64_t I = call->inputs[0].shape[2], H = g.H, G3 = 3 * H, R = g.T * g.B;
    const int has_bias = call->n_inputs > 5;
    const float *x = strata_desc_ptr(&call->inputs[0]);    // (R, I)
    const float *w_ih = strata_desc_ptr(&call->inputs[1]); // (3H, I)
    const float *w_hh = strata_desc_ptr(&call->inputs[2]); // (3H, H)
    const float *h0 = strata_desc_ptr(&call->inputs[3]);   // (B, H)
    const float *b_ih = has_bias ? strata_desc_ptr(&call->inputs[4]) : NULL;
    const float *b_hh = has_bias ? strata_desc_ptr(&call->inputs[5]) : NULL;
    float *y = strata_desc_ptr(&call->outputs[0]);  // (R, H)
    float *hn = strata_desc_ptr(&call->outputs[1]); // (B, H)
    float *ws = strata_desc_ptr(&call->outputs[2]); // (R, 4H)
    float *gi = alloc_floats(call, (R + g.B) * G3);
    if (!gi)
        return STRATA_E_NOMEM;
    float *gh = gi + R * G3; // (B, 3H)
    const int64_t bs = kc_seq_rstride(&g);
    for (int64_t r = 0; r < R; r++) /* beta = 1 below adds x W_ih^T to the bias */
        for (int64_t j = 0; j < G3; j++)
            gi[r * G3 + j] = b_ih ? b_ih[j] : 0.0f;
    rc = sgemm(call, 'N', 'T', R, G3, I, x, I, w_ih, I, 1.0f, gi, G3);
    if (!rc)
        BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = 0; s < g.T && !rc_; s++) {
            for (int64_t b = b0; b < b1; b++)
                for (int64_t j = 0; j < G3; j++)
                    gh[b * G3 + j] = b_hh ? b_hh[j] : 0.0f;
            const float *hp = s ? y + kc_seq_row(&g, kc_seq_t(&g, s - 1), b0) * H : h0 + b0 * H;
            rc_ = sgemm(call, 'N', 'T', b1 - b0, G3, H, hp, s ? bs * H : H, w_hh, H, 1.0f, gh + b0 * G3, G3);
            if (!rc_)
                gru_step(ws, y, h0, gi, gh, &g, s, b0, b1);
        });
    if (!rc) {
        const int64_t tl = kc_seq_t(&g, g.T - 1);
        for (int64_t b = 0; b < g.B; b++)
            memcpy(hn + b * H, y + kc_seq_row(&g, tl, b) * H, sizeof(float) * (size_t)H);
    }
    free(gi);
    return rc;
}

static void gru_step_backward(float *restrict dgi, float *restrict dgh, float *restrict dhn, const float *restrict dh,
                              const float *restrict dy, const float *restrict h0, const float *restrict y,
                              const float *restrict ws, const kc_seq *g, int64_t s, int64_t lo, int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        const int64_t r = kc_seq_row(g, t, b);
        const float *restrict w = ws + r * 4 * H;
        const float *restrict hp = s ? y + kc_seq_row(g, kc_seq_t(g, s - 1), b) * H : h0 + b * H;
        const float *restrict dyr = dy + r * H, *restrict dhb = dh + b * H;
        float *restrict di = dgi + r * 3 * H, *restrict dg = dgh + r * 3 * H, *restrict dnext = dhn + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            float rr = w[j], z = w[H + j], n = w[2 * H + j], ghn = w[3 * H + j];
            float dhv = dyr[j] + dhb[j];
            float dn = dhv * (1.0f - z) * (1.0f - n * n);
            float dz = dhv * (hp[j] - n) * z * (1.0f - z);
            float dr = dn * ghn * rr * (1.0f - rr);
            di[j] = dr, dg[j] = dr;
            di[H + j] = dz, dg[H + j] = dz;
            di[2 * H + j] = dn;
            dg[2 * H + j] = dn * rr;
            dnext[j] = dhv * z;
        }
    }
}

CPU_KERNEL(gru_seq_backward)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 1, &g);
    if (rc)
        return rc;
    const int64_t H = g.H;
    const float *dy = strata_desc_ptr(&call->inputs[0]);   // (R, H)
    const float *dhn = strata_desc_ptr(&call->inputs[1]);  // (B, H)
    const float *w_hh = strata_desc_ptr(&call->inputs[2]); // (3H, H)
    const float *h0 = strata_desc_ptr(&call->inputs[3]);   // (B, H)
    const float *y = strata_desc_ptr(&call->inputs[4]);    // (R, H)
    const float *ws = strata_desc_ptr(&call->inputs[5]);   // (R, 4H)
    float *dgi = strata_desc_ptr(&call->outputs[0]);       // (R, 3H)
    float *dgh = strata_desc_ptr(&call->outputs[1]);       // (R, 3H)
    float *dh = strata_desc_ptr(&call->outputs[2]);        // (B, H): dh_t, ends as dh0
    float *tmp = alloc_floats(call, g.B * H);
    if (!tmp)
        return STRATA_E_NOMEM;
    memcpy(dh, dhn, sizeof(float) * (size_t)(g.B * H));
    const int64_t bs = kc_seq_rstride(&g);
    BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = g.T - 1; s >= 0 && !rc_; s--) {
        gru_step_backward(dgi, dgh, tmp, dh, dy, h0, y, ws, &g, s, b0, b1);
        /* dh_{t-1} = dh z + dgh_t W_hh */
        rc_ = sgemm(call, 'N', 'N', b1 - b0, H, 3 * H, dgh + kc_seq_row(&g, kc_seq_t(&g, s), b0) * 3 * H, bs * 3 * H,
                    w_hh, H, 1.0f, tmp + b0 * H, H);
        memcpy(dh + b0 * H, tmp + b0 * H, sizeof(float) * (size_t)((b1 - b0) * H));
    });
    free(tmp);
    return rc;
}

/* ======================================================================= */
/* Elman RNN (tanh or relu)                                                 */
/* ======================================================================= */

static int rnn_relu(const strata_kernel_call *call)
{
    for (int k = 0; k < call->n_attrs; k++)
        if (!strcmp(call->attrs[k].name, "nonlinearity") && call->attrs[k].kind == STRATA_ATTR_STRING &&
            call->attrs[k].s && !strcmp(call->attrs[k].s, "relu"))
            return 1;
    return 0;
}

/* y rows of step s: act(y + bsum), y holding x W_ih^T + h W_hh^T */
static void rnn_step(float *restrict y, const float *restrict bsum, int relu, const kc_seq *g, int64_t s, int64_t lo,
                     int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        float *restrict yr = y + kc_seq_row(g, t, b) * H;
        if (relu) {
#pragma omp simd
            for (int64_t j = 0; j < H; j++) {
                float v = yr[j] + bsum[j];
                yr[j] = v <= 0.0f ? 0.0f : v;
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < H; j++)
                yr[j] = cpu_tanhf(yr[j] + bsum[j]);
        }
    }
}

CPU_KERNEL(rnn_seq)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 0, &g);
    if (rc)
        return rc;
    const int64_t I = call->inputs[0].shape[2], H = g.H, R = g.T * g.B;
    const int relu = rnn_relu(call);
    const float *x = strata_desc_ptr(&call->inputs[0]);    // (R, I)
    const float *w_ih = strata_desc_ptr(&call->inputs[1]); // (H, I)
    const float *w_hh = strata_desc_ptr(&call->inputs[2]); // (H, H)
    const float *h0 = strata_desc_ptr(&call->inputs[3]);   // (B, H)
    float *y = strata_desc_ptr(&call->outputs[0]);         // (R, H)
    float *hn = strata_desc_ptr(&call->outputs[1]);        // (B, H)
    float *bsum = bias_sum(call, 4, H);
    if (!bsum)
        return STRATA_E_NOMEM;
    const int64_t bs = kc_seq_rstride(&g);
    rc = sgemm(call, 'N', 'T', R, H, I, x, I, w_ih, I, 0.0f, y, H);
    if (!rc)
        BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = 0; s < g.T && !rc_; s++) {
            const float *hp = s ? y + kc_seq_row(&g, kc_seq_t(&g, s - 1), b0) * H : h0 + b0 * H;
            rc_ = sgemm(call, 'N', 'T', b1 - b0, H, H, hp, s ? bs * H : H, w_hh, H, 1.0f,
                        y + kc_seq_row(&g, kc_seq_t(&g, s), b0) * H, bs * H);
            if (!rc_)
                rnn_step(y, bsum, relu, &g, s, b0, b1);
        });
    if (!rc) {
        const int64_t tl = kc_seq_t(&g, g.T - 1);
        for (int64_t b = 0; b < g.B; b++)
            memcpy(hn + b * H, y + kc_seq_row(&g, tl, b) * H, sizeof(float) * (size_t)H);
    }
    free(bsum);
    return rc;
}

static void rnn_step_backward(float *restrict da, const float *restrict dh, const float *restrict dy,
                              const float *restrict y, int relu, const kc_seq *g, int64_t s, int64_t lo, int64_t hi)
{
    const int64_t H = g->H, t = kc_seq_t(g, s);
    for (int64_t b = lo; b < hi; b++) {
        const int64_t r = kc_seq_row(g, t, b);
        const float *restrict yr = y + r * H, *restrict dyr = dy + r * H, *restrict dhb = dh + b * H;
        float *restrict dar = da + r * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            float d = dyr[j] + dhb[j], v = yr[j];
            dar[j] = relu ? (v <= 0.0f ? 0.0f : d) : d * (1.0f - v * v);
        }
    }
}

CPU_KERNEL(rnn_seq_backward)
{
    kc_seq g;
    strata_status rc = seq_geom_read(call, 1, &g);
    if (rc)
        return rc;
    const int64_t H = g.H;
    const int relu = rnn_relu(call);
    const float *dy = strata_desc_ptr(&call->inputs[0]);   // (R, H)
    const float *dhn = strata_desc_ptr(&call->inputs[1]);  // (B, H)
    const float *w_hh = strata_desc_ptr(&call->inputs[2]); // (H, H)
    const float *y = strata_desc_ptr(&call->inputs[3]);    // (R, H)
    float *da = strata_desc_ptr(&call->outputs[0]);        // (R, H)
    float *dh = strata_desc_ptr(&call->outputs[1]);        // (B, H): dh_t, ends as dh0
    memcpy(dh, dhn, sizeof(float) * (size_t)(g.B * H));
    const int64_t bs = kc_seq_rstride(&g);
    BATCH_SPLIT(&g, rc, b0, b1, for (int64_t s = g.T - 1; s >= 0 && !rc_; s--) {
        rnn_step_backward(da, dh, dy, y, relu, &g, s, b0, b1);
        rc_ = sgemm(call, 'N', 'N', b1 - b0, H, H, da + kc_seq_row(&g, kc_seq_t(&g, s), b0) * H, bs * H, w_hh, H, 0.0f,
                    dh + b0 * H, H);
    });
    return rc;
}
