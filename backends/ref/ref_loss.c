/*
 * ref_loss.c - cross entropy over logits and binary cross entropy with
 * logits, with their gradients. Losses accumulate in double.
 *
 * reduction: "none" keeps one loss per row (cross_entropy) or element
 * (bce); "sum" and "mean" give a 0-d tensor. cross_entropy's mean divides
 * by N (rows), bce's by numel.
 */
#include <math.h>

#include "ref_internal.h"

/* Label of row n, checked against [0, C). */
static strata_status ref_ce_label(const strata_kernel_call *call, const strata_tensor_desc *T, int64_t n, int64_t C,
                                  int64_t *out)
{
    int64_t label = ref_index_at(T, n);
    if (label < 0 || label >= C)
        return kc_error(call, STRATA_E_INVALID, "label %lld at row %lld is outside [0, %lld)", (long long)label,
                        (long long)n, (long long)C);
    *out = label;
    return STRATA_OK;
}

/* log sum_c exp(row[c] - m), m the row's max (in *@p max): logsumexp(row) - m.
 * Kept apart from m, which is added back only as row[c] - m: at logits of
 * 1e16, m + log(sum) rounds the log away (the loss of [1e16, 1e16] was 0). */
static double ref_log_sum(const float *row, int64_t C, double *max)
{
    double m = -INFINITY;
    for (int64_t c = 0; c < C; c++)
        if (row[c] > m)
            m = row[c];
    double sum = 0.0;
    for (int64_t c = 0; c < C; c++)
        sum += exp(row[c] - m);
    *max = m;
    return log(sum);
}

/* loss[n] = logsumexp(logits[n, :]) - logits[n, label[n]], then reduced. */
REF_KERNEL(cross_entropy)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 0, &mode, &N, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *L = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];

    float *loss = strata_desc_ptr(Y);         // (N) for "none", else (1)
    const float *logits = strata_desc_ptr(L); // (N, C)
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        int64_t label = 0;
        if ((s = ref_ce_label(call, T, n, C, &label)) != STRATA_OK)
            return s;
        const float *row = logits + n * C;
        double m, ln = ref_log_sum(row, C, &m);
        ln -= row[label] - m;
        if (mode == KC_RED_NONE)
            loss[n] = (float)ln;
        total += ln;
    }
    if (mode != KC_RED_NONE)
        loss[0] = (float)(mode == KC_RED_MEAN ? total / (double)N : total);
    return STRATA_OK;
}

/* dlogits[n, c] = (softmax(logits[n])[c] - (c == label[n])) * dy[n]  (/ N for mean);
 * dy is (N) for "none", else one value. */
REF_KERNEL(cross_entropy_backward)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    strata_status s = kc_check_cross_entropy(call, 1, &mode, &N, &C);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *L = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DL = &call->outputs[0];

    float *dlogits = strata_desc_ptr(DL);     // (N, C)
    const float *dy = strata_desc_ptr(DY);    // (N) or (1)
    const float *logits = strata_desc_ptr(L); // (N, C)
    for (int64_t n = 0; n < N; n++) {
        int64_t label = 0;
        if ((s = ref_ce_label(call, T, n, C, &label)) != STRATA_OK)
            return s;
        const float *row = logits + n * C;
        double m, ls = ref_log_sum(row, C, &m);
        double g = mode == KC_RED_NONE ? dy[n] : mode == KC_RED_MEAN ? dy[0] / (double)N : dy[0];
        for (int64_t c = 0; c < C; c++) {
            double p = exp((row[c] - m) - ls);
            dlogits[n * C + c] = (float)((p - (c == label ? 1.0 : 0.0)) * g);
        }
    }
    return STRATA_OK;
}

/* loss_i = max(x_i, 0) - x_i t_i + log(1 + exp(-|x_i|)), then reduced. */
REF_KERNEL(bce_with_logits)
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
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double xi = x[i];
        double li = (xi > 0 ? xi : 0.0) - xi * t[i] + log1p(exp(-fabs(xi)));
        if (mode == KC_RED_NONE)
            loss[i] = (float)li;
        total += li;
    }
    if (mode != KC_RED_NONE)
        loss[0] = (float)(mode == KC_RED_MEAN ? total / (double)n : total);
    return STRATA_OK;
}

/* dx_i = (sigmoid(x_i) - t_i) * dy  (/ numel for mean); dy is (x's shape)
 * for "none", else one value. */
REF_KERNEL(bce_with_logits_backward)
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
    for (int64_t i = 0; i < n; i++) {
        double g = mode == KC_RED_NONE ? dy[i] : mode == KC_RED_MEAN ? dy[0] / (double)n : dy[0];
        dx[i] = (float)((ref_logistic(x[i]) - t[i]) * g);
    }
    return STRATA_OK;
}
