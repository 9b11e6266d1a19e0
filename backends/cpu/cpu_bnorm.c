/*
 * cpu_bnorm.c - the conv plugin's batch normalisation on the cpu backend
 * (semantics in plugins/conv/batch_norm.c), over axis 1 of x (N, C, S...),
 * M = N S values per channel:
 *
 *   conv::batch_norm              (x, weight, bias, running_mean, running_var) -> y, mean, invstd
 *   conv::batch_norm_backward     (dy, x, weight, mean, invstd) -> dx, dweight, dbias
 *   conv::batch_norm_update_stats (running_mean, x, running_var, num_batches_tracked) -> the three buffers
 *
 * Per-channel statistics are two passes in double, as the host kernel's
 * (the sums vectorise in double lanes); the elementwise passes run in float
 * with per-channel constants. Channels are spread over the threads; for
 * x (N, C) (BatchNorm1d, one value per row and channel) in blocks of
 * channels walked row by row, which keeps the loops on contiguous memory.
 */
#include <math.h>

#include "cpu_conv.h"

/* Mean and biased variance of channel c of x (N, C, S), two passes in double. */
static void cpu_bn_stats(const float *x, int64_t N, int64_t C, int64_t S, int64_t c, double *mean, double *var)
{
    double m = cpu_channel_sum(x, N, C, S, c) / (double)(N * S), sq = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sq)
        for (int64_t s = 0; s < S; s++) {
            double d = (double)r[s] - m;
            sq += d * d;
        }
    }
    *mean = m;
    *var = sq / (double)(N * S);
}

/*
 * The same statistics for x (N, C) (S = 1, BatchNorm1d), channels [c0, c1)
 * at most CPU_BN_BLOCK: rows outer, channels inner, so the loops run along
 * contiguous memory and vectorise (a loop per channel would stride by C).
 * Each channel's sums take its values in the same order as cpu_bn_stats,
 * so the results are the same bits.
 */
#define CPU_BN_BLOCK 256
static void cpu_bn_stats_rows(const float *x, int64_t N, int64_t C, int64_t c0, int64_t c1, double *mean,
                              double *var)
{
    const int64_t w = c1 - c0;
    for (int64_t j = 0; j < w; j++)
        mean[j] = var[j] = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + n * C + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            mean[j] += (double)r[j];
    }
    for (int64_t j = 0; j < w; j++)
        mean[j] /= (double)N;
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + n * C + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) {
            double d = (double)r[j] - mean[j];
            var[j] += d * d;
        }
    }
    for (int64_t j = 0; j < w; j++)
        var[j] /= (double)N;
}

/* 1 / sqrt(var + eps); a constant channel with eps 0 gets 0 in training, so
 * y is the bias and no infinity is formed, as PyTorch does. */
static double cpu_bn_invstd(double var, double eps, int training)
{
    return training && var == 0.0 && eps == 0.0 ? 0.0 : 1.0 / sqrt(var + eps);
}

/* x (N, C, ...) of rank >= 2, and inputs [first, last] (named by @p names)
 * vectors of C. */
static strata_status cpu_bn_check(const strata_kernel_call *call, const strata_tensor_desc *x, int first, int last,
                                  const char *const *names)
{
    strata_status s = cpu_check_nc(call, x);
    for (int k = first; k <= last && s == STRATA_OK; k++)
        s = kc_check_numel(call, &call->inputs[k], names[k], x->shape[1]);
    return s;
}

/* Outputs (x's shape, C, C), named by @p names, of batch_norm and its backward. */
static strata_status cpu_bn_check_outputs(const strata_kernel_call *call, const strata_tensor_desc *x,
                                          const char *const *names)
{
    strata_status s = kc_check_same_shape(call, &call->outputs[0], names[0], x, "x");
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[1], names[1], x->shape[1]);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[2], names[2], x->shape[1]);
    return s;
}

/* Threads for a loop over C channels of M values each. */
#define CPU_BN_PAR(C, M) ((C) > 1 && (C) * (M) >= CPU_PAR_MIN)

/*
 * y = (x - mean) invstd weight + bias per channel; mean, invstd (C) out.
 * training: the batch's mean and biased variance; else running_mean/var.
 */
CPU_KERNEL(batch_norm)
{
    strata_status s = kc_check_f32_call(call, 5, 5, 3);
    const strata_tensor_desc *X = &call->inputs[0];
    if (s == STRATA_OK)
        s = cpu_bn_check(call, X, 1, 4,
                         (const char *const[]){"x", "weight", "bias", "running_mean", "running_var"});
    if (s == STRATA_OK)
        s = cpu_bn_check_outputs(call, X, (const char *const[]){"y", "mean", "invstd"});
    if (s != STRATA_OK)
        return s;
    int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    double eps = strata_attr_get_float(call->attrs, call->n_attrs, "eps", 1e-5);
    int64_t N, C, S;
    cpu_channel_sizes(X, &N, &C, &S);
    if (training && N * S <= 1)
        return kc_error(call, STRATA_E_INVALID, "training needs more than one value per channel, got %lld",
                        (long long)(N * S));

    float *y = strata_desc_ptr(&call->outputs[0]);           // (N, C, S)
    float *mean_out = strata_desc_ptr(&call->outputs[1]);    // (C)
    float *invstd_out = strata_desc_ptr(&call->outputs[2]);  // (C)
    const float *x = strata_desc_ptr(X);                     // (N, C, S)
    const float *weight = strata_desc_ptr(&call->inputs[1]); // (C)
    const float *bias = strata_desc_ptr(&call->inputs[2]);   // (C)
    const float *rm = strata_desc_ptr(&call->inputs[3]);     // (C)
    const float *rv = strata_desc_ptr(&call->inputs[4]);     // (C)
    if (training && S == 1) {
        const int64_t blocks = (C + CPU_BN_BLOCK - 1) / CPU_BN_BLOCK;
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(blocks, N * CPU_BN_BLOCK))
        for (int64_t bk = 0; bk < blocks; bk++) {
            const int64_t c0 = bk * CPU_BN_BLOCK, c1 = c0 + CPU_BN_BLOCK < C ? c0 + CPU_BN_BLOCK : C, w = c1 - c0;
            double mean[CPU_BN_BLOCK], var[CPU_BN_BLOCK];
            float mu[CPU_BN_BLOCK], a[CPU_BN_BLOCK];
            cpu_bn_stats_rows(x, N, C, c0, c1, mean, var);
            for (int64_t j = 0; j < w; j++) {
                double invstd = cpu_bn_invstd(var[j], eps, 1);
                mu[j] = (float)mean[j];
                a[j] = (float)(invstd * weight[c0 + j]);
                mean_out[c0 + j] = (float)mean[j];
                invstd_out[c0 + j] = (float)invstd;
            }
            for (int64_t n = 0; n < N; n++) {
                const float *xr = x + n * C + c0;
                float *yr = y + n * C + c0;
#pragma omp simd
                for (int64_t j = 0; j < w; j++)
                    yr[j] = CPU_FMA(xr[j] - mu[j], a[j], bias[c0 + j]);
            }
        }
        return STRATA_OK;
    }
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(C, N * S))
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (training) {
            cpu_bn_stats(x, N, C, S, c, &mean, &var);
        } else {
            mean = rm[c];
            var = rv[c];
        }
        double invstd = cpu_bn_invstd(var, eps, training);
        const float mu = (float)mean, a = (float)(invstd * weight[c]), b = bias[c];
        for (int64_t n = 0; n < N; n++) {
            const float *xr = x + (n * C + c) * S;
            float *yr = y + (n * C + c) * S;
#pragma omp simd
            for (int64_t q = 0; q < S; q++)
                yr[q] = CPU_FMA(xr[q] - mu, a, b);
        }
        mean_out[c] = (float)mean;
        invstd_out[c] = (float)invstd;
    }
    return STRATA_OK;
}

/*
 * xhat = (x - mean) invstd; dbias = sum dy, dweight = sum dy xhat;
 * dx = weight invstd (dy - dbias / M - xhat dweight / M) (training), or
 * weight invstd dy (eval).
 */
CPU_KERNEL(batch_norm_backward)
{
    strata_status s = kc_check_f32_call(call, 5, 5, 3);
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1];
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, DY, "dy", X, "x");
    if (s == STRATA_OK)
        s = cpu_bn_check(call, X, 2, 4, (const char *const[]){"dy", "x", "weight", "mean", "invstd"});
    if (s == STRATA_OK)
        s = cpu_bn_check_outputs(call, X, (const char *const[]){"dx", "dweight", "dbias"});
    if (s != STRATA_OK)
        return s;
    int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    int64_t N, C, S;
    cpu_channel_sizes(X, &N, &C, &S);

    float *dx = strata_desc_ptr(&call->outputs[0]);          // (N, C, S)
    float *dweight = strata_desc_ptr(&call->outputs[1]);     // (C)
    float *dbias = strata_desc_ptr(&call->outputs[2]);       // (C)
    const float *dy = strata_desc_ptr(DY);                   // (N, C, S)
    const float *x = strata_desc_ptr(X);                     // (N, C, S)
    const float *weight = strata_desc_ptr(&call->inputs[2]); // (C)
    const float *mean = strata_desc_ptr(&call->inputs[3]);   // (C)
    const float *invstd = strata_desc_ptr(&call->inputs[4]); // (C)
    const double M = (double)(N * S);
    if (S == 1) { /* as below, rows outer and channels inner (see cpu_bn_stats_rows) */
        const int64_t blocks = (C + CPU_BN_BLOCK - 1) / CPU_BN_BLOCK;
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(blocks, N * CPU_BN_BLOCK))
        for (int64_t bk = 0; bk < blocks; bk++) {
            const int64_t c0 = bk * CPU_BN_BLOCK, c1 = c0 + CPU_BN_BLOCK < C ? c0 + CPU_BN_BLOCK : C, w = c1 - c0;
            double sum_dy[CPU_BN_BLOCK], sum_dy_xhat[CPU_BN_BLOCK];
            float k[CPU_BN_BLOCK], c1v[CPU_BN_BLOCK], c2v[CPU_BN_BLOCK];
            for (int64_t j = 0; j < w; j++)
                sum_dy[j] = sum_dy_xhat[j] = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const float *dr = dy + n * C + c0, *xr = x + n * C + c0;
                const float *mr = mean + c0, *ir = invstd + c0;
#pragma omp simd
                for (int64_t j = 0; j < w; j++) {
                    sum_dy[j] += (double)dr[j];
                    sum_dy_xhat[j] += (double)dr[j] * (((double)xr[j] - (double)mr[j]) * (double)ir[j]);
                }
            }
            for (int64_t j = 0; j < w; j++) {
                dbias[c0 + j] = (float)sum_dy[j];
                dweight[c0 + j] = (float)sum_dy_xhat[j];
                k[j] = (float)(weight[c0 + j] * (double)invstd[c0 + j]);
                c1v[j] = training ? (float)(sum_dy[j] / M) : 0.0f;
                c2v[j] = training ? (float)(sum_dy_xhat[j] / M) : 0.0f;
            }
            for (int64_t n = 0; n < N; n++) {
                const float *dr = dy + n * C + c0, *xr = x + n * C + c0, *mr = mean + c0, *ir = invstd + c0;
                float *out = dx + n * C + c0;
                if (!training) { /* dx = k dy: x takes no part (its inf or NaN made xhat * 0 NaN) */
#pragma omp simd
                    for (int64_t j = 0; j < w; j++)
                        out[j] = k[j] * dr[j];
                    continue;
                }
#pragma omp simd
                for (int64_t j = 0; j < w; j++) {
                    float xhat = (xr[j] - mr[j]) * ir[j];
                    out[j] = k[j] * (dr[j] - c1v[j] - xhat * c2v[j]);
                }
            }
        }
        return STRATA_OK;
    }
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(C, N * S))
    for (int64_t c = 0; c < C; c++) {
        const double mu = mean[c], is = invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *dr = dy + (n * C + c) * S, *xr = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
            for (int64_t q = 0; q < S; q++) {
                sum_dy += (double)dr[q];
                sum_dy_xhat += (double)dr[q] * (((double)xr[q] - mu) * is);
            }
        }
        dbias[c] = (float)sum_dy;
        dweight[c] = (float)sum_dy_xhat;
        const float k = (float)(weight[c] * is), muf = mean[c], isf = invstd[c];
        const float c1 = training ? (float)(sum_dy / M) : 0.0f, c2 = training ? (float)(sum_dy_xhat / M) : 0.0f;
        for (int64_t n = 0; n < N; n++) {
            const float *dr = dy + (n * C + c) * S, *xr = x + (n * C + c) * S;
            float *out = dx + (n * C + c) * S;
            if (!training) { /* dx = k dy, as above */
#pragma omp simd
                for (int64_t q = 0; q < S; q++)
                    out[q] = k * dr[q];
                continue;
            }
#pragma omp simd
            for (int64_t q = 0; q < S; q++) {
                float xhat = (xr[q] - muf) * isf;
                out[q] = k * (dr[q] - c1 - xhat * c2);
            }
        }
    }
    return STRATA_OK;
}

/*
 * running_mean = (1 - m) running_mean + m mean(x); running_var = (1 - m)
 * running_var + m var(x) M / (M - 1); num_batches_tracked += 1. Outputs
 * may alias the inputs (the in-place update): each channel reads its old
 * values before writing.
 */
CPU_KERNEL(batch_norm_update_stats)
{
    strata_status s = kc_check_arity(call, 4, 4, 3);
    const strata_tensor_desc *X = &call->inputs[1], *NBT = &call->inputs[3];
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "running_mean");
    if (s == STRATA_OK)
        s = kc_check_f32(call, X, "x");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[2], "running_var");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "running_mean");
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[1], "running_var");
    if (s == STRATA_OK)
        s = cpu_check_nc(call, X);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[0], "running_mean", X->shape[1]);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[2], "running_var", X->shape[1]);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "running_mean output", X->shape[1]);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[1], "running_var output", X->shape[1]);
    if (s == STRATA_OK && (NBT->dtype != STRATA_I64 || strata_desc_numel(NBT) != 1 ||
                           call->outputs[2].dtype != STRATA_I64 || strata_desc_numel(&call->outputs[2]) != 1))
        s = kc_error(call, STRATA_E_SHAPE, "num_batches_tracked (input 3 and output 2) must be one i64 value");
    if (s != STRATA_OK)
        return s;
    double m = strata_attr_get_float(call->attrs, call->n_attrs, "momentum", 0.1);
    int64_t N, C, S;
    cpu_channel_sizes(X, &N, &C, &S);
    if (N * S <= 1)
        return kc_error(call, STRATA_E_INVALID,
                        "the unbiased variance needs more than one value per channel, got %lld", (long long)(N * S));

    float *rm_out = strata_desc_ptr(&call->outputs[0]);      // (C), may be rm
    float *rv_out = strata_desc_ptr(&call->outputs[1]);      // (C), may be rv
    int64_t *nbt_out = strata_desc_ptr(&call->outputs[2]);   // (1), may be nbt
    const float *rm = strata_desc_ptr(&call->inputs[0]);     // (C)
    const float *x = strata_desc_ptr(X);                     // (N, C, S)
    const float *rv = strata_desc_ptr(&call->inputs[2]);     // (C)
    const int64_t *nbt = strata_desc_ptr(NBT);               // (1)
    const double M = (double)(N * S);
    if (S == 1) {
        const int64_t blocks = (C + CPU_BN_BLOCK - 1) / CPU_BN_BLOCK;
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(blocks, N * CPU_BN_BLOCK))
        for (int64_t bk = 0; bk < blocks; bk++) {
            const int64_t c0 = bk * CPU_BN_BLOCK, c1 = c0 + CPU_BN_BLOCK < C ? c0 + CPU_BN_BLOCK : C;
            double mean[CPU_BN_BLOCK], var[CPU_BN_BLOCK];
            cpu_bn_stats_rows(x, N, C, c0, c1, mean, var);
            for (int64_t c = c0; c < c1; c++) {
                double old_m = rm[c], old_v = rv[c];
                rm_out[c] = (float)((1.0 - m) * old_m + m * mean[c - c0]);
                rv_out[c] = (float)((1.0 - m) * old_v + m * var[c - c0] * M / (M - 1.0));
            }
        }
        *nbt_out = *nbt + 1;
        return STRATA_OK;
    }
#pragma omp parallel for schedule(static) if (CPU_BN_PAR(C, N * S))
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        cpu_bn_stats(x, N, C, S, c, &mean, &var);
        double old_m = rm[c], old_v = rv[c];
        rm_out[c] = (float)((1.0 - m) * old_m + m * mean);
        rv_out[c] = (float)((1.0 - m) * old_v + m * var * M / (M - 1.0));
    }
    *nbt_out = *nbt + 1;
    return STRATA_OK;
}
