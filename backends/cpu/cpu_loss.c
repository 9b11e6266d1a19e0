/*
 * cpu_loss.c - cross entropy over logits and binary cross entropy with
 * logits, with their gradients. Row log-sum-exps use f32 exponentials
 * summed in double; losses are totalled in double, per thread in a fixed
 * order, so a run repeats bit for bit.
 *
 * reduction: "none" keeps one loss per row (cross_entropy) or element
 * (bce); "sum" and "mean" give a 0-d tensor. cross_entropy's mean divides
 * by N (rows), bce's by numel.
 */
#include "cpu_internal.h"

/* At most this many threads keep a partial total. */
#define CPU_LOSS_MAX_PARTS 256

/* log sum_c exp(row[c] - m), m the row's max (in *@p max): logsumexp(row) - m,
 * kept apart from m as in ref (m + log(sum) rounds the log away at large m). */
static double cpu_log_sum(const float *restrict row, int64_t C, double *max)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t c = 0; c < C; c++)
        m = row[c] > m ? row[c] : m;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; c++)
        sum += (double)cpu_expf(row[c] - m);
    *max = m;
    return log(sum);
}

/* Threads for a loop over @p rows rows of @p work elements in all. */
static int cpu_loss_threads(int64_t rows, int64_t work)
{
    int nt = work >= CPU_PAR_MIN_HEAVY ? cpu_threads() : 1;
    if (nt > rows)
        nt = rows > 0 ? (int)rows : 1;
    return nt > CPU_LOSS_MAX_PARTS ? CPU_LOSS_MAX_PARTS : nt;
}

/* loss[n] = logsumexp(logits[n, :]) - logits[n, label[n]], then reduced. */
CPU_KERNEL(cross_entropy)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 0, &mode, &N, &C);
    if (s == STRATA_OK)
        s = cpu_check_indices(call, &call->inputs[1], C, "label", "row");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *L = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];

    float *loss = strata_desc_ptr(Y);         // (N) for "none", else (1)
    const float *logits = strata_desc_ptr(L); // (N, C)
    double part[CPU_LOSS_MAX_PARTS];
    int nt = cpu_loss_threads(N, N * C);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int c = 0; c < nt; c++) {
        double total = 0.0;
        for (int64_t n = N * c / nt; n < N * (c + 1) / nt; n++) {
            const float *row = logits + n * C;
            double m, ln = cpu_log_sum(row, C, &m);
            ln -= (double)row[cpu_index_at(T, n)] - m;
            if (mode == KC_RED_NONE)
                loss[n] = (float)ln;
            total += ln;
        }
        part[c] = total;
    }
    if (mode != KC_RED_NONE) {
        double total = 0.0;
        for (int c = 0; c < nt; c++)
            total += part[c];
        loss[0] = (float)(mode == KC_RED_MEAN ? total / (double)N : total);
    }
    return STRATA_OK;
}

/* dlogits[n, c] = (softmax(logits[n])[c] - (c == label[n])) * dy[n]  (/ N for mean);
 * dy is (N) for "none", else one value. */
CPU_KERNEL(cross_entropy_backward)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 1, &mode, &N, &C);
    if (s == STRATA_OK)
        s = cpu_check_indices(call, &call->inputs[2], C, "label", "row");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *L = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DL = &call->outputs[0];

    float *dlogits = strata_desc_ptr(DL);     // (N, C)
    const float *dy = strata_desc_ptr(DY);    // (N) or (1)
    const float *logits = strata_desc_ptr(L); // (N, C)
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN_HEAVY && N > 1)
    for (int64_t n = 0; n < N; n++) {
        const float *row = logits + n * C; // (C)
        float *drow = dlogits + n * C;     // (C)
        double m, ls = cpu_log_sum(row, C, &m);
        double g = mode == KC_RED_NONE ? dy[n] : mode == KC_RED_MEAN ? dy[0] / (double)N : dy[0];
        float gf = (float)g;
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            drow[c] = cpu_expf((float)(((double)row[c] - m) - ls)) * gf;
        int64_t label = cpu_index_at(T, n);
        float p = cpu_expf((float)(((double)row[label] - m) - ls));
        drow[label] = (float)(((double)p - 1.0) * g);
    }
    return STRATA_OK;
}

/* loss_i = max(x_i, 0) - x_i t_i + log(1 + exp(-|x_i|)), then reduced. */
CPU_KERNEL(bce_with_logits)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    if ((s = kc_reduction_of(call, &mode)) != STRATA_OK ||
        (s = kc_check_same_shape(call, T, "t", X, "x")) != STRATA_OK)
        return s;
    int64_t n = strata_desc_numel(X);
    if ((s = kc_check_numel(call, Y, "loss", mode == KC_RED_NONE ? n : 1)) != STRATA_OK)
        return s;

    float *loss = strata_desc_ptr(Y);    // (x's shape) for "none", else (1)
    const float *x = strata_desc_ptr(X); // (n)
    const float *t = strata_desc_ptr(T); // (n)
    double part[CPU_LOSS_MAX_PARTS];
    int nt = cpu_loss_threads(n, n);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int c = 0; c < nt; c++) {
        double total = 0.0;
        for (int64_t i = n * c / nt; i < n * (c + 1) / nt; i++) {
            double xi = x[i];
            double li = (xi > 0 ? xi : 0.0) - xi * (double)t[i] + log1p(exp(-fabs(xi)));
            if (mode == KC_RED_NONE)
                loss[i] = (float)li;
            total += li;
        }
        part[c] = total;
    }
    if (mode != KC_RED_NONE) {
        double total = 0.0;
        for (int c = 0; c < nt; c++)
            total += part[c];
        loss[0] = (float)(mode == KC_RED_MEAN ? total / (double)n : total);
    }
    return STRATA_OK;
}

/* Logistic function in double (sigmoid - t cancels when they are close). */
static inline double cpu_logistic(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* dx_i = (sigmoid(x_i) - t_i) * dy  (/ numel for mean); dy is (x's shape)
 * for "none", else one value. */
CPU_KERNEL(bce_with_logits_backward)
{
    strata_status s = kc_check_f32_call(call, 3, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DX = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    if ((s = kc_reduction_of(call, &mode)) != STRATA_OK ||
        (s = kc_check_same_shape(call, T, "t", X, "x")) != STRATA_OK ||
        (s = kc_check_same_shape(call, DX, "dx", X, "x")) != STRATA_OK)
        return s;
    int64_t n = strata_desc_numel(X);
    if ((s = kc_check_numel(call, DY, "dy", mode == KC_RED_NONE ? n : 1)) != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(DX);       // (n)
    const float *dy = strata_desc_ptr(DY); // (n) or (1)
    const float *x = strata_desc_ptr(X);   // (n)
    const float *t = strata_desc_ptr(T);   // (n)
    if (n == 0)
        return STRATA_OK;
    if (mode == KC_RED_NONE) {
        CPU_PARALLEL_RANGE(n, CPU_PAR_MIN_HEAVY, lo, hi, {
            for (int64_t i = lo; i < hi; i++)
                dx[i] = (float)((cpu_logistic(x[i]) - (double)t[i]) * (double)dy[i]);
        });
    } else {
        double g = mode == KC_RED_MEAN ? dy[0] / (double)n : dy[0];
        CPU_PARALLEL_RANGE(n, CPU_PAR_MIN_HEAVY, lo, hi, {
            for (int64_t i = lo; i < hi; i++)
                dx[i] = (float)((cpu_logistic(x[i]) - (double)t[i]) * g);
        });
    }
    return STRATA_OK;
}
