/*
 * cpu_reduce.c - sum, mean, max (and its gradient), argmax and
 * sum_to_shape over arbitrary sets of axes. Sums accumulate in double.
 *
 * A reduction first merges neighbouring dims that are both kept or both
 * reduced (and drops dims of size 1), so most calls become one of:
 *   [R]        everything          -> one parallel dot-like sum
 *   [K, R]     the last axes       -> one sum per contiguous row
 *   [R, K]     the leading axes    -> column sums, e.g. sum_to_shape
 *                                     (128, 512) -> (512) for a bias grad
 *   [K, R, K]  a middle block      -> column sums per outer slab
 *   [R, K, R]  all but a middle dim -> per-channel sums, e.g. a conv bias
 *                                     grad (N, C, H, W) -> (C)
 * and anything else takes a plain index walk.
 */
#include <string.h>

#include "cpu_internal.h"

/* ---- the merged plan (kc_red_plan, shared with the GPU backends) ---------- */

/* Pattern tags for the fast paths. */
enum { CPU_PAT_NONE, CPU_PAT_COPY, CPU_PAT_ALL, CPU_PAT_ROWS, CPU_PAT_COLS, CPU_PAT_SLAB_COLS, CPU_PAT_MID_KEPT, CPU_PAT_GENERIC };

static int cpu_red_pattern(const kc_red_plan *p)
{
    if (p->n_out == 0 || p->n_red == 0)
        return CPU_PAT_NONE;
    if (p->n == 0 || (p->n == 1 && !p->red[0]))
        return CPU_PAT_COPY;
    if (p->n == 1)
        return CPU_PAT_ALL;
    if (p->n == 2)
        return p->red[1] ? CPU_PAT_ROWS : CPU_PAT_COLS;
    if (p->n == 3 && p->red[1])
        return CPU_PAT_SLAB_COLS;
    if (p->n == 3)
        return CPU_PAT_MID_KEPT;
    return CPU_PAT_GENERIC;
}

/* x offset of output element o's first element and of reduced element j
 * (both row-major over the kept / reduced merged dims). */
static int64_t cpu_red_offset(const kc_red_plan *p, int64_t idx, int want_red)
{
    int64_t off = 0;
    for (int d = p->n - 1; d >= 0; d--) {
        if (p->red[d] != want_red)
            continue;
        off += (idx % p->size[d]) * p->stride[d];
        idx /= p->size[d];
    }
    return off;
}

/* ---- sums ------------------------------------------------------------------ */

/* Sum of x[0..n) in double. */
static double cpu_sum_range(const float *restrict x, int64_t n)
{
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += (double)x[i];
    return acc;
}

/* Columns per block of the column sums: a double accumulator on the stack. */
#define CPU_COL_BLOCK 256

/* y[k] = sum_r x[r * K + k] / div for k in [k0, k1) (k1 - k0 <= CPU_COL_BLOCK). */
static void cpu_col_sum_block(float *restrict y, const float *restrict x, int64_t R, int64_t K, int64_t k0,
                              int64_t k1, double div)
{
    double acc[CPU_COL_BLOCK];
    int64_t w = k1 - k0;
    for (int64_t j = 0; j < w; j++)
        acc[j] = 0.0;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * K + k0; // (w)
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            acc[j] += (double)xr[j];
    }
    for (int64_t j = 0; j < w; j++)
        y[k0 + j] = (float)(acc[j] / div);
}

/* y (K) = column sums of x (R, K) / div. Parallel over column blocks, or
 * over row ranges (combined in a fixed order) when K is narrow. */
static void cpu_col_sums(float *restrict y, const float *restrict x, int64_t R, int64_t K, double div)
{
    int64_t n = R * K;
    int nt = n >= CPU_PAR_MIN ? cpu_threads() : 1;
    int64_t blocks = (K + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
    if (nt > 1 && K <= 64) {
        double part[64][64]; /* [thread][column], at most 64 threads take part */
        if (nt > 64)
            nt = 64;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int c = 0; c < nt; c++) {
            int64_t lo = R * c / nt, hi = R * (c + 1) / nt;
            double *acc = part[c];
            for (int64_t k = 0; k < K; k++)
                acc[k] = 0.0;
            for (int64_t r = lo; r < hi; r++) {
                const float *xr = x + r * K;
#pragma omp simd
                for (int64_t k = 0; k < K; k++)
                    acc[k] += (double)xr[k];
            }
        }
        for (int64_t k = 0; k < K; k++) {
            double t = 0.0;
            for (int c = 0; c < nt; c++)
                t += part[c][k];
            y[k] = (float)(t / div);
        }
        return;
    }
    if (nt > 1 && blocks < nt) {
        /* too few full blocks for the team: split the columns evenly */
        int64_t per = (K + nt - 1) / nt;
        if (per <= CPU_COL_BLOCK) {
#pragma omp parallel for schedule(static) num_threads(nt)
            for (int c = 0; c < nt; c++) {
                int64_t k0 = per * c, k1 = k0 + per < K ? k0 + per : K;
                if (k0 < k1)
                    cpu_col_sum_block(y, x, R, K, k0, k1, div);
            }
            return;
        }
    }
#pragma omp parallel for schedule(static) if (nt > 1)
    for (int64_t bl = 0; bl < blocks; bl++) {
        int64_t k0 = bl * CPU_COL_BLOCK, k1 = k0 + CPU_COL_BLOCK < K ? k0 + CPU_COL_BLOCK : K;
        cpu_col_sum_block(y, x, R, K, k0, k1, div);
    }
}

/* y (n_out) = sums of x over the plan's reduced dims, / div. */
static void cpu_reduce_sum(float *restrict y, const float *restrict x, const kc_red_plan *p, double div)
{
    int64_t n = p->n_out * p->n_red;
    switch (cpu_red_pattern(p)) {
    case CPU_PAT_NONE:
        for (int64_t o = 0; o < p->n_out; o++)
            y[o] = 0.0f;
        return;
    case CPU_PAT_COPY:
        if (div == 1.0) {
            memcpy(y, x, (size_t)n * sizeof *y);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)((double)x[i] / div);
        }
        return;
    case CPU_PAT_ALL: {
        int nt = n >= CPU_PAR_MIN ? cpu_threads() : 1;
        double part[256];
        if (nt > 256)
            nt = 256;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int c = 0; c < nt; c++) {
            int64_t lo = n * c / nt, hi = n * (c + 1) / nt;
            part[c] = cpu_sum_range(x + lo, hi - lo);
        }
        double t = 0.0;
        for (int c = 0; c < nt; c++)
            t += part[c];
        y[0] = (float)(t / div);
        return;
    }
    case CPU_PAT_ROWS: {
        int64_t R = p->size[1];
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && p->n_out > 1)
        for (int64_t o = 0; o < p->n_out; o++)
            y[o] = (float)(cpu_sum_range(x + o * R, R) / div);
        return;
    }
    case CPU_PAT_COLS:
        cpu_col_sums(y, x, p->size[0], p->size[1], div);
        return;
    case CPU_PAT_SLAB_COLS: {
        int64_t O = p->size[0], R = p->size[1], K = p->size[2];
        if (O >= cpu_threads() && n >= CPU_PAR_MIN) {
#pragma omp parallel for schedule(static)
            for (int64_t o = 0; o < O; o++)
                for (int64_t k0 = 0; k0 < K; k0 += CPU_COL_BLOCK)
                    cpu_col_sum_block(y + o * K, x + o * R * K, R, K, k0,
                                      k0 + CPU_COL_BLOCK < K ? k0 + CPU_COL_BLOCK : K, div);
        } else {
            for (int64_t o = 0; o < O; o++)
                cpu_col_sums(y + o * K, x + o * R * K, R, K, div);
        }
        return;
    }
    case CPU_PAT_MID_KEPT: {
        int64_t A = p->size[0], K = p->size[1], I = p->size[2];
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && K > 1)
        for (int64_t k = 0; k < K; k++) {
            double acc = 0.0;
            for (int64_t a = 0; a < A; a++)
                acc += cpu_sum_range(x + (a * K + k) * I, I);
            y[k] = (float)(acc / div);
        }
        return;
    }
    default:
        break;
    }
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t o = 0; o < p->n_out; o++) {
        const float *g = x + cpu_red_offset(p, o, 0);
        double acc = 0.0;
        for (int64_t j = 0; j < p->n_red; j++)
            acc += (double)g[cpu_red_offset(p, j, 1)];
        y[o] = (float)(acc / div);
    }
}

/* ---- max ------------------------------------------------------------------- */

/* max() order with NaN winning (the first NaN, as ref): 1 if v replaces best. */
static inline int cpu_beats(float v, float best)
{
    return v > best || (v != v && best == best);
}

/* Max of x[0..n) (n >= 1); NaN if any element is NaN. */
static float cpu_max_range(const float *restrict x, int64_t n)
{
    float m = x[0];
    int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t i = 0; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        nan |= x[i] != x[i];
    }
    return nan ? NAN : m;
}

/* y (n_out) = max of x over the plan's reduced dims (n_red >= 1). */
static void cpu_reduce_max(float *restrict y, const float *restrict x, const kc_red_plan *p)
{
    int64_t n = p->n_out * p->n_red;
    int pat = cpu_red_pattern(p);
    if (pat == CPU_PAT_COPY) {
        memcpy(y, x, (size_t)n * sizeof *y);
        return;
    }
    if (pat == CPU_PAT_ALL || pat == CPU_PAT_ROWS) {
        int64_t R = p->n_red;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && p->n_out > 1)
        for (int64_t o = 0; o < p->n_out; o++)
            y[o] = cpu_max_range(x + o * R, R);
        return;
    }
    if (pat == CPU_PAT_COLS || pat == CPU_PAT_SLAB_COLS) {
        int64_t O = pat == CPU_PAT_COLS ? 1 : p->size[0];
        int64_t R = p->size[pat == CPU_PAT_COLS ? 0 : 1], K = p->size[pat == CPU_PAT_COLS ? 1 : 2];
        for (int64_t o = 0; o < O; o++) {
            float *yo = y + o * K;             // (K)
            const float *xo = x + o * R * K;   // (R, K)
            memcpy(yo, xo, (size_t)K * sizeof *yo);
            for (int64_t r = 1; r < R; r++) {
                const float *xr = xo + r * K;
#pragma omp simd
                for (int64_t k = 0; k < K; k++)
                    yo[k] = (xr[k] > yo[k] || xr[k] != xr[k]) ? xr[k] : yo[k];
            }
        }
        return;
    }
    for (int64_t o = 0; o < p->n_out; o++) {
        const float *g = x + cpu_red_offset(p, o, 0);
        float best = g[0];
        for (int64_t j = 0; j < p->n_red; j++) {
            float v = g[cpu_red_offset(p, j, 1)];
            if (cpu_beats(v, best))
                best = v;
        }
        y[o] = best;
    }
}

/* ---- the ops --------------------------------------------------------------- */

/* Shape of x reduced over mask: reduced dims dropped, or kept as 1. */
static strata_status cpu_check_reduced(const strata_kernel_call *call, const strata_tensor_desc *x,
                                       const int mask[STRATA_MAX_DIMS], int keepdim, const strata_tensor_desc *y,
                                       const char *what)
{
    int n = 0;
    int64_t shape[STRATA_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (!mask[d])
            shape[n++] = x->shape[d];
        else if (keepdim)
            shape[n++] = 1;
    }
    int same = y->ndim == n;
    for (int d = 0; same && d < n; d++)
        same = y->shape[d] == shape[d];
    if (!same) {
        char sx[128], sy[128], se[128];
        return kc_error(call, STRATA_E_SHAPE, "%s has shape %s; reducing %s gives %s", what,
                        kc_shape_str(sy, sizeof sy, y->ndim, y->shape),
                        kc_shape_str(sx, sizeof sx, x->ndim, x->shape), kc_shape_str(se, sizeof se, n, shape));
    }
    return STRATA_OK;
}

typedef enum cpu_reduce_fn { CPU_SUM, CPU_MEAN, CPU_MAX } cpu_reduce_fn;

/* y = reduce(x) over attr axes (absent/empty = all), attr keepdim. */
static strata_status cpu_reduce(const strata_kernel_call *call, cpu_reduce_fn fn)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    int keepdim = strata_attr_get_int(call->attrs, call->n_attrs, "keepdim", 0) != 0;
    int mask[STRATA_MAX_DIMS];
    if ((s = kc_axes_mask(call, X->ndim, mask)) != STRATA_OK)
        return s;
    if ((s = cpu_check_reduced(call, X, mask, keepdim, Y, "output")) != STRATA_OK)
        return s;
    kc_red_plan p;
    kc_red_plan_init(&p, X, mask);
    if (fn == CPU_MAX && p.n_red == 0 && p.n_out > 0)
        return kc_error(call, STRATA_E_INVALID, "max over zero elements");

    float *y = strata_desc_ptr(Y);       // (n_out)
    const float *x = strata_desc_ptr(X); // (x's shape)
    if (fn == CPU_MAX) {
        if (p.n_out > 0)
            cpu_reduce_max(y, x, &p);
    } else if (fn == CPU_MEAN && p.n_red == 0) {
        for (int64_t o = 0; o < p.n_out; o++)
            y[o] = NAN; /* 0 / 0, as ref */
    } else {
        cpu_reduce_sum(y, x, &p, fn == CPU_MEAN ? (double)p.n_red : 1.0);
    }
    return STRATA_OK;
}

CPU_KERNEL(sum) { return cpu_reduce(call, CPU_SUM); }
CPU_KERNEL(mean) { return cpu_reduce(call, CPU_MEAN); }
CPU_KERNEL(max) { return cpu_reduce(call, CPU_MAX); }

/* y (i64) = index along attr axis (-1) of the first maximum; keepdim. */
CPU_KERNEL(argmax)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->inputs[0], "x");
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    if (Y->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "output has dtype %s; argmax gives i64", strata_dtype_name(Y->dtype));
    int keepdim = strata_attr_get_int(call->attrs, call->n_attrs, "keepdim", 0) != 0;
    int axis = 0;
    if ((s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis)))
        return s;
    int mask[STRATA_MAX_DIMS] = {0};
    mask[axis] = 1;
    if ((s = cpu_check_reduced(call, X, mask, keepdim, Y, "output")) != STRATA_OK)
        return s;
    cpu_axis_split sp = cpu_split_at(X, axis);
    if (sp.n == 0 && sp.outer * sp.inner > 0)
        return kc_error(call, STRATA_E_INVALID, "argmax over zero elements");

    int64_t *y = strata_desc_ptr(Y);     // (outer, inner)
    const float *x = strata_desc_ptr(X); // (outer, n, inner)
    int64_t n = sp.n, inner = sp.inner;
#pragma omp parallel for schedule(static) if (sp.outer * n * inner >= CPU_PAR_MIN && sp.outer > 1)
    for (int64_t o = 0; o < sp.outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * n * inner + i; // (n) at stride inner
            float best = xr[0];
            int64_t best_j = 0;
            for (int64_t j = 1; j < n; j++) {
                if (cpu_beats(xr[j * inner], best)) {
                    best = xr[j * inner];
                    best_j = j;
                }
            }
            y[o * inner + i] = best_j;
        }
    }
    return STRATA_OK;
}

/* dx = dy at the first maximal element of each reduced group of x, else 0.
 * Inputs dy (n_out), x[, y]; y is not read (the max is found again). */
CPU_KERNEL(max_backward)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DX = &call->outputs[0];
    int mask[STRATA_MAX_DIMS];
    if ((s = kc_axes_mask(call, X->ndim, mask)) != STRATA_OK)
        return s;
    if ((s = kc_check_same_shape(call, DX, "dx", X, "x")) != STRATA_OK)
        return s;
    kc_red_plan p;
    kc_red_plan_init(&p, X, mask);
    if ((s = kc_check_numel(call, DY, "dy", p.n_out)) != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(DX);       // (x's shape)
    const float *dy = strata_desc_ptr(DY); // (n_out)
    const float *x = strata_desc_ptr(X);   // (x's shape)
    int64_t n = strata_desc_numel(DX);
    if (n == 0)
        return STRATA_OK;
    memset(dx, 0, (size_t)n * sizeof *dx);
    int pat = cpu_red_pattern(&p);
    if (pat == CPU_PAT_COPY) {
        memcpy(dx, dy, (size_t)n * sizeof *dx);
        return STRATA_OK;
    }
    if (pat == CPU_PAT_ALL || pat == CPU_PAT_ROWS) {
        int64_t R = p.n_red;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN && p.n_out > 1)
        for (int64_t o = 0; o < p.n_out; o++) {
            const float *xr = x + o * R;
            float best = xr[0];
            int64_t bj = 0;
            for (int64_t j = 1; j < R; j++)
                if (cpu_beats(xr[j], best)) {
                    best = xr[j];
                    bj = j;
                }
            dx[o * R + bj] = dy[o];
        }
        return STRATA_OK;
    }
    for (int64_t o = 0; o < p.n_out; o++) {
        int64_t base = cpu_red_offset(&p, o, 0);
        int64_t best_off = base;
        float best = x[base];
        for (int64_t j = 0; j < p.n_red; j++) {
            int64_t off = base + cpu_red_offset(&p, j, 1);
            if (cpu_beats(x[off], best)) {
                best = x[off];
                best_off = off;
            }
        }
        dx[best_off] = dy[o];
    }
    return STRATA_OK;
}

/* y = x summed down to attr shape, the shape x broadcasts from: dims that
 * are missing from shape, or 1 in shape, are summed. */
CPU_KERNEL(sum_to_shape)
{
    int mask[STRATA_MAX_DIMS];
    strata_status s = kc_check_sum_to_shape(call, mask);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    kc_red_plan p;
    kc_red_plan_init(&p, X, mask);
    cpu_reduce_sum(strata_desc_ptr(Y), strata_desc_ptr(X), &p, 1.0);
    return STRATA_OK;
}
