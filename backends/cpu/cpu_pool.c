/*
 * cpu_pool.c - the conv plugin's pooling ops on the cpu backend (semantics
 * in plugins/conv/pool.c):
 *
 *   conv::max_pool2d           x -> y, indices (i64)   kernel_size, stride (= kernel), padding
 *   conv::max_pool2d_backward  (dy, indices) -> dx     input_size [H, W]
 *   conv::avg_pool2d           x -> y                  kernel_size, stride, padding, count_include_pad (1)
 *   conv::avg_pool2d_backward  dy -> dx                the same, plus input_size
 *   conv::global_avg_pool2d    x (N, C, H, W) -> (N, C)
 *
 * OpenMP loops over the (n, c) planes, each plane on one thread. Windows
 * of 2 x 2 at stride 2 without padding (LeNet's, VGG's) take a branch-free
 * path that vectorises along the output row; every other geometry walks
 * each window. max_pool2d gives the host kernel's bits: indices are flat
 * positions h W + w in the plane, the first maximum in row-major window
 * order wins ties, and the first NaN wins over numbers. Averages sum in
 * float (ref: double; the tolerance is 1e-4 scaled by the window size).
 * For these plane-at-a-time loops oneDNN's pooling would add reorders and
 * could not give the i64 indices, so it is not used.
 */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cpu_internal.h"

typedef struct cpu_pool_geom {
    int64_t NC, H, W; /* planes and the input's size */
    int64_t KH, KW, sh, sw, ph, pw;
    int64_t OH, OW;
    int count_include_pad;
} cpu_pool_geom;

/* 1 if v replaces best in max order. */
static inline int cpu_pool_beats(float v, float best)
{
    return v > best || v != v; /* PyTorch's rule: a NaN wins, the last of several */
}

/* The attrs into @p g for an input x (N, C, H, W) and output y (N, C, OH,
 * OW), both rank 4, checked as the plugin checks them (padding at most half
 * the kernel). */
static strata_status cpu_pool_geom_of(const strata_kernel_call *call, const strata_tensor_desc *x,
                                      const strata_tensor_desc *y, cpu_pool_geom *g)
{
    const int64_t NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    int64_t k[2], s[2], p[2];
    strata_status st;
    if ((st = cpu_attr_pair(call, "kernel_size", -1, k)) || (st = cpu_attr_pair(call, "stride", -1, s)) ||
        (st = cpu_attr_pair(call, "padding", 0, p)))
        return st;
    const strata_attr *sa = strata_attr_find(call->attrs, call->n_attrs, "stride");
    if (!sa || (sa->kind == STRATA_ATTR_INTS && sa->n == 0))
        s[0] = k[0], s[1] = k[1];
    if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || p[0] < 0 || p[1] < 0 || 2 * p[0] > k[0] || 2 * p[1] > k[1])
        return kc_error(call, STRATA_E_INVALID,
                        "kernel_size (%lld, %lld) and stride (%lld, %lld) must be positive, padding (%lld, %lld) "
                        "between 0 and half the kernel",
                        (long long)k[0], (long long)k[1], (long long)s[0], (long long)s[1], (long long)p[0],
                        (long long)p[1]);
    g->NC = NC, g->H = H, g->W = W, g->OH = OH, g->OW = OW;
    g->KH = k[0], g->KW = k[1], g->sh = s[0], g->sw = s[1], g->ph = p[0], g->pw = p[1];
    g->count_include_pad = strata_attr_get_int(call->attrs, call->n_attrs, "count_include_pad", 1) != 0;
    if (H + 2 * g->ph < g->KH || W + 2 * g->pw < g->KW || OH != (H + 2 * g->ph - g->KH) / g->sh + 1 ||
        OW != (W + 2 * g->pw - g->KW) / g->sw + 1)
        return kc_error(call, STRATA_E_SHAPE,
                        "a (%lld, %lld) window (stride (%lld, %lld), padding (%lld, %lld)) over (%lld, %lld) does "
                        "not give (%lld, %lld)",
                        (long long)g->KH, (long long)g->KW, (long long)g->sh, (long long)g->sw, (long long)g->ph,
                        (long long)g->pw, (long long)H, (long long)W, (long long)OH, (long long)OW);
    return STRATA_OK;
}

/* Rank 4 of @p d, and batch and channels equal to @p ref's. */
static strata_status cpu_pool_rank4(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                                    const strata_tensor_desc *ref)
{
    char b[128];
    if (d->ndim != 4 || (ref && (d->shape[0] != ref->shape[0] || d->shape[1] != ref->shape[1])))
        return kc_error(call, STRATA_E_SHAPE, "%s must be (N, C, H, W)%s, got %s", what,
                        ref ? " with the input's N and C" : "", kc_shape_str(b, sizeof b, d->ndim, d->shape));
    return STRATA_OK;
}

/* The window of output (i, j) clipped to the input: rows [*h0, *h1), columns [*w0, *w1). */
static inline void cpu_pool_window(const cpu_pool_geom *g, int64_t i, int64_t j, int64_t *h0, int64_t *h1,
                                   int64_t *w0, int64_t *w1)
{
    int64_t a = i * g->sh - g->ph, b = j * g->sw - g->pw;
    *h0 = a < 0 ? 0 : a;
    *w0 = b < 0 ? 0 : b;
    *h1 = a + g->KH < g->H ? a + g->KH : g->H;
    *w1 = b + g->KW < g->W ? b + g->KW : g->W;
}

static int cpu_pool_is_2x2(const cpu_pool_geom *g)
{
    return g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* ---- max ------------------------------------------------------------------------- */

/* y, idx (OH, OW) = max and argmax of the windows of one plane x (H, W). */
static void cpu_max_pool_plane(float *restrict y, int64_t *restrict idx, const float *restrict x,
                               const cpu_pool_geom *g)
{
    if (cpu_pool_is_2x2(g)) {
        for (int64_t i = 0; i < g->OH; i++) {
            const float *r0 = x + 2 * i * g->W, *r1 = r0 + g->W; // (W) each
            const int64_t p0 = 2 * i * g->W, p1 = p0 + g->W;
            float *yi = y + i * g->OW;
            int64_t *ii = idx + i * g->OW;
#pragma omp simd
            for (int64_t j = 0; j < g->OW; j++) {
                float best = r0[2 * j], v;
                int64_t at = p0 + 2 * j;
                v = r0[2 * j + 1];
                int t = cpu_pool_beats(v, best);
                best = t ? v : best;
                at = t ? p0 + 2 * j + 1 : at;
                v = r1[2 * j];
                t = cpu_pool_beats(v, best);
                best = t ? v : best;
                at = t ? p1 + 2 * j : at;
                v = r1[2 * j + 1];
                t = cpu_pool_beats(v, best);
                best = t ? v : best;
                at = t ? p1 + 2 * j + 1 : at;
                yi[j] = best;
                ii[j] = at;
            }
        }
        return;
    }
    for (int64_t i = 0; i < g->OH; i++) {
        for (int64_t j = 0; j < g->OW; j++) {
            int64_t h0, h1, w0, w1;
            cpu_pool_window(g, i, j, &h0, &h1, &w0, &w1); /* never empty: padding <= kernel / 2 */
            float best = x[h0 * g->W + w0];
            int64_t at = h0 * g->W + w0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    float v = x[h * g->W + w];
                    if (cpu_pool_beats(v, best)) {
                        best = v;
                        at = h * g->W + w;
                    }
                }
            y[i * g->OW + j] = best;
            idx[i * g->OW + j] = at;
        }
    }
}

/* x (N, C, H, W) -> y (N, C, OH, OW), indices (N, C, OH, OW) i64 */
CPU_KERNEL(max_pool2d)
{
    strata_status s = kc_check_arity(call, 1, 1, 2);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0], *I = &call->outputs[1];
    if (s == STRATA_OK)
        s = kc_check_f32(call, X, "x");
    if (s == STRATA_OK)
        s = kc_check_f32(call, Y, "y");
    if (s == STRATA_OK && I->dtype != STRATA_I64)
        s = kc_error(call, STRATA_E_DTYPE, "indices have dtype %s; max_pool2d gives i64", strata_dtype_name(I->dtype));
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, X, "x", NULL);
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, Y, "y", X);
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, I, "indices", Y, "y");
    cpu_pool_geom g;
    if (s == STRATA_OK)
        s = cpu_pool_geom_of(call, X, Y, &g);
    if (s != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (NC, OH, OW)
    int64_t *idx = strata_desc_ptr(I);   // (NC, OH, OW)
    const float *x = strata_desc_ptr(X); // (NC, H, W)
    const int64_t HW = g.H * g.W, P = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (g.NC > 1 && g.NC * HW >= CPU_PAR_MIN)
    for (int64_t nc = 0; nc < g.NC; nc++)
        cpu_max_pool_plane(y + nc * P, idx + nc * P, x + nc * HW, &g);
    return STRATA_OK;
}

/* dx (H, W) of one plane = the scatter-add of dy (P) at idx, in float, with
 * cnt (H W bytes) counting the values each position gets. Returns 1 when
 * some position got three or more (float sums of three can differ from
 * ref's double ones), 2 when an index is outside the plane, else 0. */
static int cpu_max_unpool_plane(float *restrict dx, unsigned char *restrict cnt, const float *restrict dy,
                                const int64_t *restrict idx, int64_t P, int64_t HW)
{
    int many = 0;
    memset(dx, 0, sizeof(float) * (size_t)HW);
    memset(cnt, 0, (size_t)HW);
    for (int64_t p = 0; p < P; p++) {
        int64_t at = idx[p];
        if ((uint64_t)at >= (uint64_t)HW)
            return 2;
        dx[at] += dy[p];
        many |= ++cnt[at] > 2;
    }
    return many;
}

/* The same through a double plane (acc, H W doubles), as the host kernel
 * sums: the bits of ref's result whatever the overlap. */
static void cpu_max_unpool_plane_double(float *restrict dx, double *restrict acc, const float *restrict dy,
                                        const int64_t *restrict idx, int64_t P, int64_t HW)
{
    memset(acc, 0, sizeof(double) * (size_t)HW);
    for (int64_t p = 0; p < P; p++)
        acc[idx[p]] += (double)dy[p];
#pragma omp simd
    for (int64_t q = 0; q < HW; q++)
        dx[q] = (float)acc[q];
}

/* dy (N, C, OH, OW), indices (N, C, OH, OW) i64 -> dx (N, C, H, W): each dy
 * added at its index in the plane; an index outside the plane is an error.
 * max_pool2d's gradient is checked bit for bit against ref, which sums in
 * double: a position that gets one or two values has the same float sum
 * either way, so planes are summed in float and only a plane where some
 * position gets three (overlapping windows) is summed again in double. */
CPU_KERNEL(max_pool2d_backward)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    const strata_tensor_desc *DY = &call->inputs[0], *I = &call->inputs[1], *DX = &call->outputs[0];
    if (s == STRATA_OK)
        s = kc_check_f32(call, DY, "dy");
    if (s == STRATA_OK)
        s = kc_check_f32(call, DX, "dx");
    if (s == STRATA_OK && I->dtype != STRATA_I64)
        s = kc_error(call, STRATA_E_DTYPE, "indices have dtype %s; expected i64", strata_dtype_name(I->dtype));
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, DY, "dy", NULL);
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, DX, "dx", DY);
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, I, "indices", DY, "dy");
    if (s != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(DX);         // (NC, H, W)
    const float *dy = strata_desc_ptr(DY);   // (NC, P)
    const int64_t *idx = strata_desc_ptr(I); // (NC, P)
    const int64_t NC = DY->shape[0] * DY->shape[1], P = DY->shape[2] * DY->shape[3];
    const int64_t H = DX->shape[2], W = DX->shape[3], HW = H * W;
    const int nt = NC > 1 && NC * HW >= CPU_PAR_MIN ? cpu_threads() : 1;
    /* per thread: a double plane and a count plane */
    const int64_t per = HW * (int64_t)(sizeof(double) + 1);
    char *scratch = malloc((size_t)(per * nt + 1));
    if (!scratch)
        return kc_error(call, STRATA_E_NOMEM, "out of memory: %lld bytes for %d planes of %lld positions",
                        (long long)(per * nt + 1), nt, (long long)HW);
    int bad = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(| : bad)
    {
        char *mine = scratch + (nt > 1 ? omp_get_thread_num() : 0) * per;
        double *acc = (double *)(void *)mine;                  // (H, W)
        unsigned char *cnt = (unsigned char *)(acc + HW);      // (H, W)
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < NC; nc++) {
            int r = cpu_max_unpool_plane(dx + nc * HW, cnt, dy + nc * P, idx + nc * P, P, HW);
            if (r == 1)
                cpu_max_unpool_plane_double(dx + nc * HW, acc, dy + nc * P, idx + nc * P, P, HW);
            bad |= r == 2;
        }
    }
    free(scratch);
    if (bad) {
        for (int64_t q = 0; q < NC * P; q++)
            if ((uint64_t)idx[q] >= (uint64_t)HW)
                return kc_error(call, STRATA_E_INVALID,
                                "index %lld at flat position %lld is outside the (%lld, %lld) plane",
                                (long long)idx[q], (long long)q, (long long)H, (long long)W);
    }
    return STRATA_OK;
}

/* ---- avg ------------------------------------------------------------------------- */

/* 1 / the divisor of window (i, j): KH KW, or its taps inside the input. */
static inline float cpu_pool_inv_divisor(const cpu_pool_geom *g, int64_t i, int64_t j)
{
    if (g->count_include_pad)
        return 1.0f / (float)(g->KH * g->KW);
    int64_t h0, h1, w0, w1;
    cpu_pool_window(g, i, j, &h0, &h1, &w0, &w1);
    return 1.0f / (float)((h1 - h0) * (w1 - w0));
}

/* y (OH, OW) = mean of each window of one plane x (H, W). */
static void cpu_avg_pool_plane(float *restrict y, const float *restrict x, const cpu_pool_geom *g)
{
    if (cpu_pool_is_2x2(g)) {
        for (int64_t i = 0; i < g->OH; i++) {
            const float *r0 = x + 2 * i * g->W, *r1 = r0 + g->W;
            float *yi = y + i * g->OW;
#pragma omp simd
            for (int64_t j = 0; j < g->OW; j++)
                yi[j] = ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1])) * 0.25f;
        }
        return;
    }
    for (int64_t i = 0; i < g->OH; i++) {
        for (int64_t j = 0; j < g->OW; j++) {
            int64_t h0, h1, w0, w1;
            cpu_pool_window(g, i, j, &h0, &h1, &w0, &w1);
            float sum = 0.0f;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++)
                    sum += x[h * g->W + w];
            y[i * g->OW + j] = sum * cpu_pool_inv_divisor(g, i, j);
        }
    }
}

/* dx (H, W) of one plane: each dy (OH, OW) / divisor spread over its window. */
static void cpu_avg_pool_plane_backward(float *restrict dx, const float *restrict dy, const cpu_pool_geom *g)
{
    if (cpu_pool_is_2x2(g)) {
        memset(dx, 0, sizeof(float) * (size_t)(g->H * g->W)); /* odd sizes leave a last row/column untouched */
        for (int64_t i = 0; i < g->OH; i++) {
            float *r0 = dx + 2 * i * g->W, *r1 = r0 + g->W;
            const float *di = dy + i * g->OW;
#pragma omp simd
            for (int64_t j = 0; j < g->OW; j++) {
                float v = di[j] * 0.25f;
                r0[2 * j] = v;
                r0[2 * j + 1] = v;
                r1[2 * j] = v;
                r1[2 * j + 1] = v;
            }
        }
        return;
    }
    memset(dx, 0, sizeof(float) * (size_t)(g->H * g->W));
    for (int64_t i = 0; i < g->OH; i++) {
        for (int64_t j = 0; j < g->OW; j++) {
            int64_t h0, h1, w0, w1;
            cpu_pool_window(g, i, j, &h0, &h1, &w0, &w1);
            float v = dy[i * g->OW + j] * cpu_pool_inv_divisor(g, i, j);
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++)
                    dx[h * g->W + w] += v;
        }
    }
}

/* avg_pool2d (x -> y) and its backward (dy -> dx): one f32 input and
 * output, rank 4, the output with the input's N and C, and @p g the
 * geometry from x (or dx) to y (or dy). */
static strata_status cpu_avg_pool_check(const strata_kernel_call *call, int backward, cpu_pool_geom *g)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *In = &call->inputs[0], *Out = &call->outputs[0];
    if (s == STRATA_OK)
        s = kc_check_all_f32(call);
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, In, backward ? "dy" : "x", NULL);
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, Out, backward ? "dx" : "y", In);
    if (s == STRATA_OK)
        s = backward ? cpu_pool_geom_of(call, Out, In, g) : cpu_pool_geom_of(call, In, Out, g);
    return s;
}

/* x (N, C, H, W) -> y (N, C, OH, OW) */
CPU_KERNEL(avg_pool2d)
{
    cpu_pool_geom g;
    strata_status s = cpu_avg_pool_check(call, 0, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];

    float *y = strata_desc_ptr(Y);       // (NC, OH, OW)
    const float *x = strata_desc_ptr(X); // (NC, H, W)
    const int64_t HW = g.H * g.W, P = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (g.NC > 1 && g.NC * HW >= CPU_PAR_MIN)
    for (int64_t nc = 0; nc < g.NC; nc++)
        cpu_avg_pool_plane(y + nc * P, x + nc * HW, &g);
    return STRATA_OK;
}

/* dy (N, C, OH, OW) -> dx (N, C, H, W); H, W from input_size */
CPU_KERNEL(avg_pool2d_backward)
{
    cpu_pool_geom g;
    strata_status s = cpu_avg_pool_check(call, 1, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];

    float *dx = strata_desc_ptr(DX);       // (NC, H, W)
    const float *dy = strata_desc_ptr(DY); // (NC, OH, OW)
    const int64_t HW = g.H * g.W, P = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (g.NC > 1 && g.NC * HW >= CPU_PAR_MIN)
    for (int64_t nc = 0; nc < g.NC; nc++)
        cpu_avg_pool_plane_backward(dx + nc * HW, dy + nc * P, &g);
    return STRATA_OK;
}

/* x (N, C, H, W) -> y (N, C): the mean of each plane, summed in double. */
CPU_KERNEL(global_avg_pool2d)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (s == STRATA_OK)
        s = kc_check_all_f32(call);
    if (s == STRATA_OK)
        s = cpu_pool_rank4(call, X, "x", NULL);
    if (s == STRATA_OK && (Y->ndim != 2 || Y->shape[0] != X->shape[0] || Y->shape[1] != X->shape[1])) {
        char b[128];
        s = kc_error(call, STRATA_E_SHAPE, "output must be (N, C) = (%lld, %lld), got %s", (long long)X->shape[0],
                     (long long)X->shape[1], kc_shape_str(b, sizeof b, Y->ndim, Y->shape));
    }
    if (s != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(Y);       // (NC)
    const float *x = strata_desc_ptr(X); // (NC, HW)
    const int64_t NC = X->shape[0] * X->shape[1], HW = X->shape[2] * X->shape[3];
#pragma omp parallel for schedule(static) if (NC > 1 && NC * HW >= CPU_PAR_MIN)
    for (int64_t nc = 0; nc < NC; nc++) {
        const float *plane = x + nc * HW;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t q = 0; q < HW; q++)
            sum += (double)plane[q];
        y[nc] = (float)(sum / (double)HW);
    }
    return STRATA_OK;
}
