/*
 * cpu_channel.c - per-channel ops over (N, C, S...) tensors on the cpu
 * backend:
 *
 *   conv::dropout2d  x -> y, mask (N, C, 1, ...)   p (0.5), seed, offset
 *       (the conv plugin's channel dropout, plugins/conv/dropout2d.c)
 *   core::sum        the cpu_sum kernel, with one case taken first: a sum
 *       over every axis but 1 of a tensor of rank >= 3, which is how the
 *       conv plugin computes a convolution's bias gradient (conv_bias_grad).
 *       cpu_reduce.c's plan has no pattern for "all but the second axis" and
 *       walks it element by element; per channel it is a few contiguous
 *       runs. Every other sum goes to cpu_sum unchanged.
 */
#include <string.h>

#include "cpu_conv.h"

void cpu_channel_sizes(const strata_tensor_desc *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int k = 2; k < x->ndim; k++)
        *S *= x->shape[k];
}

double cpu_channel_sum(const float *x, int64_t N, int64_t C, int64_t S, int64_t c)
{
    double sum = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + (n * C + c) * S; // (S)
#pragma omp simd reduction(+ : sum)
        for (int64_t s = 0; s < S; s++)
            sum += (double)r[s];
    }
    return sum;
}

strata_status cpu_check_nc(const strata_kernel_call *call, const strata_tensor_desc *x)
{
    char b[128];
    if (x->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "x must be (N, C, ...), got %s",
                        kc_shape_str(b, sizeof b, x->ndim, x->shape));
    return STRATA_OK;
}

/* 1 if @p call sums x (N, C, S...) over every axis but 1 into (C) or
 * (1, C, 1, ...) with keepdim: the case cpu_sum_channels takes. */
static int cpu_is_channel_sum(const strata_kernel_call *call)
{
    if (call->n_inputs != 1 || call->n_outputs != 1)
        return 0;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (X->dtype != STRATA_F32 || Y->dtype != STRATA_F32 || X->ndim < 3)
        return 0;
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "axes");
    if (!a || a->kind != STRATA_ATTR_INTS || a->n != X->ndim - 1)
        return 0;
    int seen[STRATA_MAX_DIMS] = {0};
    for (int k = 0; k < a->n; k++) {
        int64_t ax = a->ints[k] < 0 ? a->ints[k] + X->ndim : a->ints[k];
        if (ax < 0 || ax >= X->ndim || ax == 1 || seen[ax])
            return 0;
        seen[ax] = 1;
    }
    int keepdim = strata_attr_get_int(call->attrs, call->n_attrs, "keepdim", 0) != 0;
    if (!keepdim)
        return Y->ndim == 1 && Y->shape[0] == X->shape[1];
    if (Y->ndim != X->ndim)
        return 0;
    for (int d = 0; d < Y->ndim; d++)
        if (Y->shape[d] != (d == 1 ? X->shape[1] : 1))
            return 0;
    return 1;
}

/* y[c] = sum over n, s of x (N, C, S) in double (as ref), rounded once. */
CPU_KERNEL(sum_channels)
{
    if (!cpu_is_channel_sum(call))
        return cpu_sum(call);
    const strata_tensor_desc *X = &call->inputs[0];
    int64_t N, C, S;
    cpu_channel_sizes(X, &N, &C, &S);
    float *y = strata_desc_ptr(&call->outputs[0]); // (C)
    const float *x = strata_desc_ptr(X);           // (N, C, S)
#pragma omp parallel for schedule(static) if (C > 1 && N * C * S >= CPU_PAR_MIN)
    for (int64_t c = 0; c < C; c++)
        y[c] = (float)cpu_channel_sum(x, N, C, S, c);
    return STRATA_OK;
}

/* Channel (n, c) is kept iff element n C + c of the Philox stream (seed,
 * offset) is >= p; mask = keep / (1 - p), y = x mask over the channel. */
CPU_KERNEL(dropout2d)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 2);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0], *Mk = &call->outputs[1];
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, Y, "y", X, "x");
    if (s == STRATA_OK)
        s = cpu_check_nc(call, X);
    if (s == STRATA_OK)
        s = kc_check_numel(call, Mk, "mask", X->shape[0] * X->shape[1]);
    if (s != STRATA_OK)
        return s;
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p < 1.0))
        return kc_error(call, STRATA_E_INVALID, "p must be in [0, 1), got %g", p);
    uint64_t seed = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "seed", 0);
    uint64_t offset = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "offset", 0);
    const double kept = 1.0 / (1.0 - p);

    float *y = strata_desc_ptr(Y);       // (NC, S)
    float *mask = strata_desc_ptr(Mk);   // (NC)
    const float *x = strata_desc_ptr(X); // (NC, S)
    const int64_t NC = X->shape[0] * X->shape[1];
    const int64_t S = NC ? strata_desc_numel(X) / NC : 0;
#pragma omp parallel for schedule(static) if (NC > 1 && NC * S >= CPU_PAR_MIN)
    for (int64_t i = 0; i < NC; i++) {
        int keep = (double)strata_philox_uniform(seed, offset, (uint64_t)i) >= p;
        const float m = (float)(keep ? kept : 0.0);
        mask[i] = m;
        const float *xr = x + i * S;
        float *yr = y + i * S;
        /* a float product is correctly rounded: the bits of ref's (float)((double)x m) */
#pragma omp simd
        for (int64_t q = 0; q < S; q++)
            yr[q] = xr[q] * m;
    }
    return STRATA_OK;
}
