/*
 * cpu_softmax.c - softmax and log_softmax along one axis, and their
 * gradients. A tensor is seen as (outer, n, inner) around the axis. With
 * inner == 1 (the usual last axis) each row is contiguous; otherwise the
 * loops run over blocks of the inner dim so the vector lanes stay
 * contiguous. Exponentials are f32 (cpu_expf), sums double.
 */
#include "cpu_internal.h"

/* Inner positions handled together in the strided case. */
#define CPU_SM_BLOCK 128

/* Shared prologue: arity, f32, attr axis (-1), same shape everywhere. */
static strata_status cpu_softmax_setup(const strata_kernel_call *call, int n_in, cpu_axis_split *sp)
{
    strata_status s = kc_check_f32_call(call, n_in, n_in, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[n_in - 1];
    int axis = 0;
    s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis);
    for (int k = 0; s == STRATA_OK && k < n_in - 1; k++)
        s = kc_check_same_shape(call, &call->inputs[k], k ? "input" : "dy", X, "y");
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, &call->outputs[0], "output", X, "input");
    if (s == STRATA_OK)
        *sp = cpu_split_at(X, axis);
    return s;
}

/* One contiguous row: y (n) = softmax or log_softmax of x (n). */
static void cpu_softmax_row(float *restrict y, const float *restrict x, int64_t n, int log_space)
{
    float m = -INFINITY; /* NaNs never win, as in ref */
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    double sum = 0.0;
    if (log_space) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++)
            sum += (double)cpu_expf(x[j] - m);
        double ls = log(sum); /* (x - m) - log(sum): m + log(sum) rounds the log away at large m, as ref */
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            y[j] = (float)(((double)x[j] - (double)m) - ls);
    } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) {
            float e = cpu_expf(x[j] - m);
            y[j] = e;
            sum += (double)e;
        }
        float inv = (float)(1.0 / sum);
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            y[j] *= inv;
    }
}

/* Strided block: y, x (n, inner) at columns [0, w) of one outer slab. */
static void cpu_softmax_cols(float *restrict y, const float *restrict x, int64_t n, int64_t inner, int64_t w,
                             int log_space)
{
    float m[CPU_SM_BLOCK];
    double sum[CPU_SM_BLOCK];
    for (int64_t i = 0; i < w; i++) {
        m[i] = -INFINITY;
        sum[i] = 0.0;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *xr = x + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < w; i++)
            m[i] = xr[i] > m[i] ? xr[i] : m[i];
    }
    for (int64_t j = 0; j < n; j++) {
        const float *xr = x + j * inner;
        float *yr = y + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < w; i++) {
            float e = cpu_expf(xr[i] - m[i]);
            if (!log_space)
                yr[i] = e;
            sum[i] += (double)e;
        }
    }
    if (log_space) {
        double ls[CPU_SM_BLOCK];
        for (int64_t i = 0; i < w; i++)
            ls[i] = log(sum[i]);
        for (int64_t j = 0; j < n; j++) {
            const float *xr = x + j * inner;
            float *yr = y + j * inner;
#pragma omp simd
            for (int64_t i = 0; i < w; i++)
                yr[i] = (float)(((double)xr[i] - (double)m[i]) - ls[i]);
        }
    } else {
        float inv[CPU_SM_BLOCK];
        for (int64_t i = 0; i < w; i++)
            inv[i] = (float)(1.0 / sum[i]);
        for (int64_t j = 0; j < n; j++) {
            float *yr = y + j * inner;
#pragma omp simd
            for (int64_t i = 0; i < w; i++)
                yr[i] *= inv[i];
        }
    }
}

/* y = softmax(x) or log_softmax(x) along axis; x, y (outer, n, inner). */
static strata_status cpu_softmax_forward(const strata_kernel_call *call, int log_space)
{
    cpu_axis_split sp = {0, 0, 0};
    strata_status s = cpu_softmax_setup(call, 1, &sp);
    if (s != STRATA_OK)
        return s;
    float *y = strata_desc_ptr(&call->outputs[0]);      // (outer, n, inner)
    const float *x = strata_desc_ptr(&call->inputs[0]); // (outer, n, inner)
    int64_t n = sp.n, inner = sp.inner, total = sp.outer * n * inner;
    if (total == 0)
        return STRATA_OK;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (total >= CPU_PAR_MIN_HEAVY && sp.outer > 1)
        for (int64_t o = 0; o < sp.outer; o++)
            cpu_softmax_row(y + o * n, x + o * n, n, log_space);
        return STRATA_OK;
    }
    int64_t blocks = (inner + CPU_SM_BLOCK - 1) / CPU_SM_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (total >= CPU_PAR_MIN_HEAVY)
    for (int64_t o = 0; o < sp.outer; o++)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t i0 = b * CPU_SM_BLOCK, w = inner - i0 < CPU_SM_BLOCK ? inner - i0 : CPU_SM_BLOCK;
            int64_t base = o * n * inner + i0;
            cpu_softmax_cols(y + base, x + base, n, inner, w, log_space);
        }
    return STRATA_OK;
}

CPU_KERNEL(softmax) { return cpu_softmax_forward(call, 0); }
CPU_KERNEL(log_softmax) { return cpu_softmax_forward(call, 1); }

/*
 * softmax:     dx = y * (dy - sum_j(dy * y))
 * log_softmax: dx = dy - exp(y) * sum_j(dy)
 * One contiguous row: dx, dy, y (n). The difference is taken in double.
 */
static void cpu_softmax_bw_row(float *restrict dx, const float *restrict dy, const float *restrict y, int64_t n,
                               int log_space)
{
    double dot = 0.0;
    if (log_space) {
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < n; j++)
            dot += (double)dy[j];
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            dx[j] = (float)((double)dy[j] - (double)cpu_expf(y[j]) * dot);
    } else {
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < n; j++)
            dot += (double)dy[j] * (double)y[j];
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            dx[j] = (float)((double)y[j] * ((double)dy[j] - dot));
    }
}

/* Strided block of width w: dx, dy, y (n, inner) at columns [0, w). */
static void cpu_softmax_bw_cols(float *restrict dx, const float *restrict dy, const float *restrict y, int64_t n,
                                int64_t inner, int64_t w, int log_space)
{
    double dot[CPU_SM_BLOCK];
    for (int64_t i = 0; i < w; i++)
        dot[i] = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const float *dyr = dy + j * inner, *yr = y + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < w; i++)
            dot[i] += log_space ? (double)dyr[i] : (double)dyr[i] * (double)yr[i];
    }
    for (int64_t j = 0; j < n; j++) {
        const float *dyr = dy + j * inner, *yr = y + j * inner;
        float *dxr = dx + j * inner;
        if (log_space) {
#pragma omp simd
            for (int64_t i = 0; i < w; i++)
                dxr[i] = (float)((double)dyr[i] - (double)cpu_expf(yr[i]) * dot[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < w; i++)
                dxr[i] = (float)((double)yr[i] * ((double)dyr[i] - dot[i]));
        }
    }
}

static strata_status cpu_softmax_backward_impl(const strata_kernel_call *call, int log_space)
{
    cpu_axis_split sp = {0, 0, 0};
    strata_status s = cpu_softmax_setup(call, 2, &sp);
    if (s != STRATA_OK)
        return s;
    float *dx = strata_desc_ptr(&call->outputs[0]);      // (outer, n, inner)
    const float *dy = strata_desc_ptr(&call->inputs[0]); // (outer, n, inner)
    const float *y = strata_desc_ptr(&call->inputs[1]);  // (outer, n, inner)
    int64_t n = sp.n, inner = sp.inner, total = sp.outer * n * inner;
    if (total == 0)
        return STRATA_OK;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (total >= CPU_PAR_MIN_HEAVY && sp.outer > 1)
        for (int64_t o = 0; o < sp.outer; o++)
            cpu_softmax_bw_row(dx + o * n, dy + o * n, y + o * n, n, log_space);
        return STRATA_OK;
    }
    int64_t blocks = (inner + CPU_SM_BLOCK - 1) / CPU_SM_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (total >= CPU_PAR_MIN_HEAVY)
    for (int64_t o = 0; o < sp.outer; o++)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t i0 = b * CPU_SM_BLOCK, w = inner - i0 < CPU_SM_BLOCK ? inner - i0 : CPU_SM_BLOCK;
            int64_t base = o * n * inner + i0;
            cpu_softmax_bw_cols(dx + base, dy + base, y + base, n, inner, w, log_space);
        }
    return STRATA_OK;
}

CPU_KERNEL(softmax_backward) { return cpu_softmax_backward_impl(call, 0); }
CPU_KERNEL(log_softmax_backward) { return cpu_softmax_backward_impl(call, 1); }
