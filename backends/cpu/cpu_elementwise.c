/*
 * cpu_elementwise.c - broadcasting binary ops, unary maps and their
 * derivative (core::eltwise_backward).
 *
 * Binary ops merge the broadcast into as few dims as possible (cpu_iter),
 * so same-shape, row-vector ((N, C) + (C)), column ((N, C) + (N, 1)) and
 * scalar operands all end in a unit-stride or stride-0 inner loop. f32
 * add/sub/mul/div are correctly rounded, so they equal ref's double
 * result rounded once. Unary maps use float math (cpu_expf and friends)
 * except gelu and pow, which stay in double through libm.
 */
#include <string.h>

#ifdef __F16C__
#include <immintrin.h>
#endif

#include "cpu_internal.h"
#include "strata/strata_half.h"

/* ---- binary ops with NumPy broadcasting ----------------------------------- */

typedef enum cpu_binary_fn { CPU_ADD, CPU_SUB, CPU_MUL, CPU_DIV } cpu_binary_fn;

/* One inner row: y[j] = a[j * sa] fn b[j * sb], sa and sb 0 or anything. */
#define CPU_BINARY_ROW(OP)                                                                                     \
    do {                                                                                                       \
        if (sa == 1 && sb == 1) {                                                                              \
            _Pragma("omp simd") for (int64_t j = 0; j < L; j++) y[j] = a[j] OP b[j];                          \
        } else if (sa == 1 && sb == 0) {                                                                       \
            const float bv = b[0];                                                                             \
            _Pragma("omp simd") for (int64_t j = 0; j < L; j++) y[j] = a[j] OP bv;                            \
        } else if (sa == 0 && sb == 1) {                                                                       \
            const float av = a[0];                                                                             \
            _Pragma("omp simd") for (int64_t j = 0; j < L; j++) y[j] = av OP b[j];                            \
        } else {                                                                                               \
            for (int64_t j = 0; j < L; j++)                                                                    \
                y[j] = a[j * sa] OP b[j * sb];                                                                 \
        }                                                                                                      \
    } while (0)

/* y (L) = a (L at stride sa) fn b (L at stride sb). */
static void cpu_binary_row(cpu_binary_fn fn, float *restrict y, const float *restrict a, int64_t sa,
                           const float *restrict b, int64_t sb, int64_t L)
{
    switch (fn) {
    case CPU_ADD:
        CPU_BINARY_ROW(+);
        break;
    case CPU_SUB:
        CPU_BINARY_ROW(-);
        break;
    case CPU_MUL:
        CPU_BINARY_ROW(*);
        break;
    case CPU_DIV:
        CPU_BINARY_ROW(/);
        break;
    }
}

/* y = a fn b; a, b any broadcastable shapes, y their broadcast shape. */
static strata_status cpu_binary(const strata_kernel_call *call, cpu_binary_fn fn)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];

    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    char sa[128], sb[128], sy[128];
    if (!cpu_broadcast_shape(A->ndim, A->shape, B->ndim, B->shape, &ndim, shape))
        return kc_error(call, STRATA_E_SHAPE, "shapes %s and %s do not broadcast",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    int same = Y->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = Y->shape[d] == shape[d];
    if (!same)
        return kc_error(call, STRATA_E_SHAPE, "output has shape %s; %s and %s broadcast to %s",
                        kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape),
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape),
                        kc_shape_str(sy, sizeof sy, ndim, shape));

    float *y = strata_desc_ptr(Y);       // (broadcast shape)
    const float *a = strata_desc_ptr(A); // (a's shape), stride 0 on stretched dims
    const float *b = strata_desc_ptr(B); // (b's shape), likewise
    int64_t n = strata_desc_numel(Y);
    if (n == 0)
        return STRATA_OK;

    int64_t st[CPU_ITER_MAX_OPS][STRATA_MAX_DIMS];
    cpu_contiguous_strides(ndim, shape, st[0]);
    cpu_broadcast_strides(ndim, shape, A->ndim, A->shape, st[1]);
    cpu_broadcast_strides(ndim, shape, B->ndim, B->shape, st[2]);
    cpu_iter it;
    cpu_iter_init(&it, ndim, shape, 3, (const int64_t(*)[STRATA_MAX_DIMS])st);
    int64_t L = it.shape[it.ndim - 1], rows = n / L;
    int64_t ia = it.stride[1][it.ndim - 1], ib = it.stride[2][it.ndim - 1];

    if (rows == 1) {
        /* one long row: split it into chunks, one per thread */
        int nt = n >= CPU_PAR_MIN ? cpu_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int c = 0; c < nt; c++) {
            int64_t lo = L * c / nt, hi = L * (c + 1) / nt;
            cpu_binary_row(fn, y + lo, a + lo * ia, ia, b + lo * ib, ib, hi - lo);
        }
        return STRATA_OK;
    }
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[CPU_ITER_MAX_OPS];
        cpu_iter_row_offsets(&it, r, off);
        cpu_binary_row(fn, y + off[0], a + off[1], ia, b + off[2], ib, L);
    }
    return STRATA_OK;
}

CPU_KERNEL(add) { return cpu_binary(call, CPU_ADD); }
CPU_KERNEL(sub) { return cpu_binary(call, CPU_SUB); }
CPU_KERNEL(mul) { return cpu_binary(call, CPU_MUL); }
CPU_KERNEL(div) { return cpu_binary(call, CPU_DIV); }

/* ---- unary maps ------------------------------------------------------------ */

typedef enum cpu_unary_fn {
    CPU_NEG,
    CPU_EXP,
    CPU_LOG,
    CPU_SQRT,
    CPU_ABS,
    CPU_RELU,
    CPU_LEAKY_RELU,
    CPU_SIGMOID,
    CPU_TANH,
    CPU_GELU,
    CPU_POW,
    CPU_SCALE
} cpu_unary_fn;

/* The attributes a unary map may read. */
typedef struct cpu_unary_params {
    double alpha;    /* leaky_relu slope, scale factor */
    double beta;     /* scale offset */
    double exponent; /* pow */
} cpu_unary_params;

#define CPU_INV_SQRT2 0.70710678118654752440
#define CPU_INV_SQRT_2PI 0.39894228040143267794

static strata_status cpu_unary_params_of(const strata_kernel_call *call, cpu_unary_fn fn, cpu_unary_params *p)
{
    const strata_attr *at = call->attrs;
    int n = call->n_attrs;
    p->alpha = strata_attr_get_float(at, n, "alpha", fn == CPU_LEAKY_RELU ? 0.01 : 1.0);
    p->beta = strata_attr_get_float(at, n, "beta", 0.0);
    p->exponent = strata_attr_get_float(at, n, "exponent", 1.0);
    if (fn == CPU_POW && !strata_attr_find(at, n, "exponent"))
        return kc_error(call, STRATA_E_INVALID, "attr exponent is required");
    return STRATA_OK;
}

/* y[i] = f(x[i]) for i in [0, n). */
static void cpu_unary_range(cpu_unary_fn fn, const cpu_unary_params *p, float *restrict y, const float *restrict x,
                            int64_t n)
{
    const double alpha = p->alpha, beta = p->beta, e = p->exponent;
    switch (fn) {
    case CPU_NEG:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = -x[i];
        break;
    case CPU_EXP:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = cpu_expf(x[i]);
        break;
    case CPU_LOG:
        for (int64_t i = 0; i < n; i++)
            y[i] = logf(x[i]);
        break;
    case CPU_SQRT:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = sqrtf(x[i]);
        break;
    case CPU_ABS:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = fabsf(x[i]);
        break;
    case CPU_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] <= 0.0f ? 0.0f : x[i]; /* NaN stays NaN, as PyTorch */
        break;
    case CPU_LEAKY_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : (float)(alpha * (double)x[i]);
        break;
    case CPU_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = cpu_sigmoidf(x[i]);
        break;
    case CPU_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = cpu_tanhf(x[i]);
        break;
    case CPU_GELU:
        for (int64_t i = 0; i < n; i++) {
            double xi = x[i];
            y[i] = (float)(0.5 * xi * (1.0 + erf(xi * CPU_INV_SQRT2)));
        }
        break;
    case CPU_POW:
        if (e == 1.0) {
            memmove(y, x, (size_t)n * sizeof *y);
        } else if (e == 2.0) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                y[i] = x[i] * x[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)pow((double)x[i], e);
        }
        break;
    case CPU_SCALE:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(alpha * (double)x[i] + beta);
        break;
    }
}

/* Work per element, for the parallel threshold: libm calls are heavy. */
static int cpu_unary_heavy(cpu_unary_fn fn)
{
    return fn == CPU_EXP || fn == CPU_LOG || fn == CPU_SIGMOID || fn == CPU_TANH || fn == CPU_GELU ||
           fn == CPU_POW;
}

/* y = f(x), elementwise; x and y have the same number of elements. */
static strata_status cpu_unary(const strata_kernel_call *call, cpu_unary_fn fn)
{
    cpu_unary_params p;
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = cpu_unary_params_of(call, fn, &p);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "output", strata_desc_numel(&call->inputs[0]));
    if (s != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(&call->outputs[0]);      // (n)
    const float *x = strata_desc_ptr(&call->inputs[0]); // (n)
    int64_t n = strata_desc_numel(&call->inputs[0]);
    int64_t min_par = cpu_unary_heavy(fn) ? CPU_PAR_MIN_HEAVY : CPU_PAR_MIN;
    CPU_PARALLEL_RANGE(n, min_par, lo, hi, cpu_unary_range(fn, &p, y + lo, x + lo, hi - lo));
    return STRATA_OK;
}

CPU_KERNEL(neg) { return cpu_unary(call, CPU_NEG); }
CPU_KERNEL(exp) { return cpu_unary(call, CPU_EXP); }
CPU_KERNEL(log) { return cpu_unary(call, CPU_LOG); }
CPU_KERNEL(sqrt) { return cpu_unary(call, CPU_SQRT); }
CPU_KERNEL(abs) { return cpu_unary(call, CPU_ABS); }
CPU_KERNEL(relu) { return cpu_unary(call, CPU_RELU); }
CPU_KERNEL(leaky_relu) { return cpu_unary(call, CPU_LEAKY_RELU); }
CPU_KERNEL(sigmoid) { return cpu_unary(call, CPU_SIGMOID); }
CPU_KERNEL(tanh) { return cpu_unary(call, CPU_TANH); }
CPU_KERNEL(gelu) { return cpu_unary(call, CPU_GELU); }
CPU_KERNEL(pow) { return cpu_unary(call, CPU_POW); }
CPU_KERNEL(scale) { return cpu_unary(call, CPU_SCALE); }

/* ---- core::cast: f32, f16 and bf16 ---------------------------------------- */

/* n values from dtype `from` at src to `to` at dst, rounding as
 * strata_half.h does: F16C's vcvtps2ph with round-to-nearest-even gives the
 * same bits (a NaN stays quiet with its payload's top bits), and the
 * header's bf16 conversions have no branch, so their loops vectorize.
 * Pairs with neither side f32 go through the header one value at a time. */
static void cpu_cast_range(int from, int to, const void *src, void *dst, int64_t n)
{
    int64_t i = 0;
    if (from == STRATA_F32 && to == STRATA_BF16) {
        const float *restrict x = src;
        uint16_t *restrict y = dst;
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            y[j] = strata_f32_to_bf16(x[j]);
        return;
    }
    if (from == STRATA_BF16 && to == STRATA_F32) {
        const uint16_t *restrict x = src;
        float *restrict y = dst;
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            y[j] = strata_bf16_to_f32(x[j]);
        return;
    }
#ifdef __F16C__
    if (from == STRATA_F32 && to == STRATA_F16) {
        const float *x = src;
        uint16_t *y = dst;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(y + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    } else if (from == STRATA_F16 && to == STRATA_F32) {
        const uint16_t *x = src;
        float *y = dst;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    }
#endif
    const size_t si = strata_dtype_size(from), so = strata_dtype_size(to);
    kc_cast_host(from, to, (const char *)src + i * si, (char *)dst + i * so, n - i);
}

CPU_KERNEL(cast)
{
    int64_t n;
    strata_status s = kc_check_cast(call, &n);
    if (s != STRATA_OK)
        return s;
    const int from = call->inputs[0].dtype, to = call->outputs[0].dtype;
    const size_t si = strata_dtype_size(from), so = strata_dtype_size(to);
    const char *x = strata_desc_ptr(&call->inputs[0]); // (n) of from
    char *y = strata_desc_ptr(&call->outputs[0]);      // (n) of to
    CPU_PARALLEL_RANGE(n, CPU_PAR_MIN, lo, hi, cpu_cast_range(from, to, x + lo * si, y + lo * so, hi - lo));
    return STRATA_OK;
}

/* ---- derivatives ----------------------------------------------------------- */

/* dx[i] = dy[i] * f'(x[i]) for i in [0, n). Zero derivatives multiply
 * (dy * 0) rather than store 0, so a NaN or inf dy propagates as in ref. */
static void cpu_deriv_range(cpu_unary_fn fn, const cpu_unary_params *p, float *restrict dx,
                            const float *restrict dy, const float *restrict x, int64_t n)
{
    const double alpha = p->alpha, e = p->exponent;
    switch (fn) {
    case CPU_EXP:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * cpu_expf(x[i]);
        break;
    case CPU_LOG:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] / x[i];
        break;
    case CPU_SQRT:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = (float)((double)dy[i] * (0.5 / sqrt((double)x[i])));
        break;
    case CPU_ABS:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : x[i] < 0.0f ? -dy[i] : dy[i] * 0.0f;
        break;
    case CPU_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = x[i] <= 0.0f ? dy[i] * 0.0f : dy[i];
        break;
    case CPU_LEAKY_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : (float)((double)dy[i] * alpha);
        break;
    case CPU_SIGMOID: /* s (1 - s) = e / (1 + e)^2, e = exp(-|x|): no cancellation */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float ex = cpu_expf(-fabsf(x[i]));
            float d = 1.0f + ex;
            dx[i] = dy[i] * (ex / (d * d));
        }
        break;
    case CPU_TANH: /* 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|) */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float ex = cpu_expf(-2.0f * fabsf(x[i]));
            float d = 1.0f + ex;
            dx[i] = dy[i] * (4.0f * ex / (d * d));
        }
        break;
    case CPU_GELU: /* Phi(x) + x phi(x) */
        for (int64_t i = 0; i < n; i++) {
            double xi = x[i];
            double g = 0.5 * (1.0 + erf(xi * CPU_INV_SQRT2)) + xi * CPU_INV_SQRT_2PI * exp(-0.5 * xi * xi);
            dx[i] = (float)((double)dy[i] * g);
        }
        break;
    case CPU_POW: /* as PyTorch: exponent 0 gives a zero gradient, even at x = 0 */
        if (e == 0.0) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dx[i] = dy[i] * 0.0f;
        } else if (e == 1.0) {
            memmove(dx, dy, (size_t)n * sizeof *dx);
        } else if (e == 2.0) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dx[i] = (float)((double)dy[i] * (2.0 * (double)x[i]));
        } else {
            for (int64_t i = 0; i < n; i++)
                dx[i] = (float)((double)dy[i] * (e * pow((double)x[i], e - 1.0)));
        }
        break;
    default:
        break;
    }
}

/* The fns eltwise_backward accepts (docs/ops.md). */
static const struct {
    const char *name;
    cpu_unary_fn fn;
} cpu_backward_fns[] = {
    {"exp", CPU_EXP},
    {"log", CPU_LOG},
    {"sqrt", CPU_SQRT},
    {"abs", CPU_ABS},
    {"relu", CPU_RELU},
    {"leaky_relu", CPU_LEAKY_RELU},
    {"sigmoid", CPU_SIGMOID},
    {"tanh", CPU_TANH},
    {"gelu", CPU_GELU},
    {"pow", CPU_POW},
};

/* dx = dy * f'(x); inputs dy, x[, y] all of one size. y is not read: the
 * derivative is computed from x in forms without cancellation. */
CPU_KERNEL(eltwise_backward)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;

    const char *name = kc_attr_string(call, "fn", NULL);
    if (!name)
        return strata_attr_find(call->attrs, call->n_attrs, "fn")
                   ? STRATA_E_INVALID
                   : kc_error(call, STRATA_E_INVALID, "attr fn (string) is required");
    int found = -1;
    for (size_t k = 0; k < sizeof cpu_backward_fns / sizeof cpu_backward_fns[0]; k++)
        if (strcmp(cpu_backward_fns[k].name, name) == 0)
            found = (int)k;
    if (found < 0)
        return kc_error(call, STRATA_E_INVALID,
                        "fn \"%s\" is not one of exp log sqrt abs relu leaky_relu sigmoid tanh gelu pow", name);
    cpu_unary_fn fn = cpu_backward_fns[found].fn;

    cpu_unary_params p;
    int64_t n = strata_desc_numel(&call->inputs[1]);
    s = cpu_unary_params_of(call, fn, &p);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[0], "dy", n);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "dx", n);
    if (s != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(&call->outputs[0]);      // (n)
    const float *dy = strata_desc_ptr(&call->inputs[0]); // (n)
    const float *x = strata_desc_ptr(&call->inputs[1]);  // (n)
    int64_t min_par = cpu_unary_heavy(fn) ? CPU_PAR_MIN_HEAVY : CPU_PAR_MIN;
    CPU_PARALLEL_RANGE(n, min_par, lo, hi, cpu_deriv_range(fn, &p, dx + lo, dy + lo, x + lo, hi - lo));
    return STRATA_OK;
}
