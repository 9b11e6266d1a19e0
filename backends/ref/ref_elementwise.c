/*
 * ref_elementwise.c - broadcasting binary ops, unary maps and their
 * derivative (core::eltwise_backward). Values are computed in double and
 * rounded once to f32.
 */
#include <math.h>
#include <string.h>

#include "ref_internal.h"

/* ---- binary ops with NumPy broadcasting ----------------------------------- */

typedef enum ref_binary_fn { REF_ADD, REF_SUB, REF_MUL, REF_DIV } ref_binary_fn;

static double ref_binary_value(ref_binary_fn fn, double a, double b)
{
    switch (fn) {
    case REF_ADD:
        return a + b;
    case REF_SUB:
        return a - b;
    case REF_MUL:
        return a * b;
    case REF_DIV:
        return a / b;
    }
    return 0.0;
}

/* y = a fn b; a, b any broadcastable shapes, y their broadcast shape. */
static strata_status ref_binary(const strata_kernel_call *call, ref_binary_fn fn)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];

    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    char sa[128], sb[128], sy[128];
    if (!ref_broadcast_shape(A->ndim, A->shape, B->ndim, B->shape, &ndim, shape))
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
    const float *a = strata_desc_ptr(A); // (a's shape), read with stride 0 on stretched dims
    const float *b = strata_desc_ptr(B); // (b's shape), likewise
    int64_t n = strata_desc_numel(Y);

    ref_walk w;
    ref_walk_init(&w, ndim, shape, 2);
    ref_broadcast_strides(ndim, shape, A->ndim, A->shape, NULL, w.stride[0]);
    ref_broadcast_strides(ndim, shape, B->ndim, B->shape, NULL, w.stride[1]);
    for (int64_t i = 0; i < n; i++, ref_walk_next(&w))
        y[i] = (float)ref_binary_value(fn, a[w.off[0]], b[w.off[1]]);
    return STRATA_OK;
}

REF_KERNEL(add) { return ref_binary(call, REF_ADD); }
REF_KERNEL(sub) { return ref_binary(call, REF_SUB); }
REF_KERNEL(mul) { return ref_binary(call, REF_MUL); }
REF_KERNEL(div) { return ref_binary(call, REF_DIV); }

/* ---- unary maps and their derivatives ------------------------------------- */

typedef enum ref_unary_fn {
    REF_NEG,
    REF_EXP,
    REF_LOG,
    REF_SQRT,
    REF_ABS,
    REF_RELU,
    REF_LEAKY_RELU,
    REF_SIGMOID,
    REF_TANH,
    REF_GELU,
    REF_POW,
    REF_SCALE
} ref_unary_fn;

/* The attributes a unary map may read. */
typedef struct ref_unary_params {
    double alpha;    /* leaky_relu slope, scale factor */
    double beta;     /* scale offset */
    double exponent; /* pow */
} ref_unary_params;

#define REF_INV_SQRT2 0.70710678118654752440
#define REF_INV_SQRT_2PI 0.39894228040143267794

static double ref_unary_value(ref_unary_fn fn, double x, const ref_unary_params *p)
{
    switch (fn) {
    case REF_NEG:
        return -x;
    case REF_EXP:
        return exp(x);
    case REF_LOG:
        return log(x);
    case REF_SQRT:
        return sqrt(x);
    case REF_ABS:
        return fabs(x);
    case REF_RELU:
        return x <= 0 ? 0.0 : x; /* NaN stays NaN, as PyTorch */
    case REF_LEAKY_RELU:
        return x > 0 ? x : p->alpha * x;
    case REF_SIGMOID:
        return ref_logistic(x);
    case REF_TANH:
        return tanh(x);
    case REF_GELU:
        return 0.5 * x * (1.0 + erf(x * REF_INV_SQRT2));
    case REF_POW:
        return pow(x, p->exponent);
    case REF_SCALE:
        return p->alpha * x + p->beta;
    }
    return 0.0;
}

/* f'(x), computed from x in double (more exact than reusing the f32 y). */
static double ref_unary_deriv(ref_unary_fn fn, double x, const ref_unary_params *p)
{
    switch (fn) {
    case REF_NEG:
        return -1.0;
    case REF_EXP:
        return exp(x);
    case REF_LOG:
        return 1.0 / x;
    case REF_SQRT:
        return 0.5 / sqrt(x);
    case REF_ABS:
        return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; /* abs'(0) = 0 */
    case REF_RELU:
        return x <= 0 ? 0.0 : 1.0; /* relu'(0) = 0; NaN passes the gradient, as PyTorch */
    case REF_LEAKY_RELU:
        return x > 0 ? 1.0 : p->alpha;
    case REF_SIGMOID: {
        double s = ref_logistic(x);
        return s * (1.0 - s);
    }
    case REF_TANH: {
        double t = tanh(x);
        return 1.0 - t * t;
    }
    case REF_GELU: /* Phi(x) + x phi(x) */
        return 0.5 * (1.0 + erf(x * REF_INV_SQRT2)) + x * REF_INV_SQRT_2PI * exp(-0.5 * x * x);
    case REF_POW: /* as PyTorch: exponent 0 gives a zero gradient, even at x = 0 */
        return p->exponent == 0.0 ? 0.0 : p->exponent * pow(x, p->exponent - 1.0);
    case REF_SCALE:
        return p->alpha;
    }
    return 0.0;
}

static strata_status ref_unary_params_of(const strata_kernel_call *call, ref_unary_fn fn, ref_unary_params *p)
{
    const strata_attr *at = call->attrs;
    int n = call->n_attrs;
    p->alpha = strata_attr_get_float(at, n, "alpha", fn == REF_LEAKY_RELU ? 0.01 : 1.0);
    p->beta = strata_attr_get_float(at, n, "beta", 0.0);
    p->exponent = strata_attr_get_float(at, n, "exponent", 1.0);
    if (fn == REF_POW && !strata_attr_find(at, n, "exponent"))
        return kc_error(call, STRATA_E_INVALID, "attr exponent is required");
    return STRATA_OK;
}

/* y = f(x), elementwise; x and y have the same shape. */
static strata_status ref_unary(const strata_kernel_call *call, ref_unary_fn fn)
{
    ref_unary_params p;
    strata_status s = kc_check_f32_call(call, 1, 1, 1);
    if (s == STRATA_OK)
        s = ref_unary_params_of(call, fn, &p);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "output", strata_desc_numel(&call->inputs[0]));
    if (s != STRATA_OK)
        return s;

    float *y = strata_desc_ptr(&call->outputs[0]);      // (n)
    const float *x = strata_desc_ptr(&call->inputs[0]); // (n)
    int64_t n = strata_desc_numel(&call->inputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)ref_unary_value(fn, x[i], &p);
    return STRATA_OK;
}

REF_KERNEL(neg) { return ref_unary(call, REF_NEG); }
REF_KERNEL(exp) { return ref_unary(call, REF_EXP); }
REF_KERNEL(log) { return ref_unary(call, REF_LOG); }
REF_KERNEL(sqrt) { return ref_unary(call, REF_SQRT); }
REF_KERNEL(abs) { return ref_unary(call, REF_ABS); }
REF_KERNEL(relu) { return ref_unary(call, REF_RELU); }
REF_KERNEL(leaky_relu) { return ref_unary(call, REF_LEAKY_RELU); }
REF_KERNEL(sigmoid) { return ref_unary(call, REF_SIGMOID); }
REF_KERNEL(tanh) { return ref_unary(call, REF_TANH); }
REF_KERNEL(gelu) { return ref_unary(call, REF_GELU); }
REF_KERNEL(pow) { return ref_unary(call, REF_POW); }
REF_KERNEL(scale) { return ref_unary(call, REF_SCALE); }

/* y = x converted to y's dtype (f32, f16, bf16): strata_half.h's rounding. */
REF_KERNEL(cast)
{
    int64_t n;
    strata_status s = kc_check_cast(call, &n);
    if (s == STRATA_OK)
        kc_cast_host(call->inputs[0].dtype, call->outputs[0].dtype, strata_desc_ptr(&call->inputs[0]),
                     strata_desc_ptr(&call->outputs[0]), n);
    return s;
}

/* The fns eltwise_backward accepts (docs/ops.md). */
static const struct {
    const char *name;
    ref_unary_fn fn;
} ref_backward_fns[] = {
    {"exp", REF_EXP},
    {"log", REF_LOG},
    {"sqrt", REF_SQRT},
    {"abs", REF_ABS},
    {"relu", REF_RELU},
    {"leaky_relu", REF_LEAKY_RELU},
    {"sigmoid", REF_SIGMOID},
    {"tanh", REF_TANH},
    {"gelu", REF_GELU},
    {"pow", REF_POW},
};

/* dx = dy * f'(x); inputs dy, x[, y] all of one shape. y, the forward
 * output, is accepted but not read: f'(x) is recomputed from x in double. */
REF_KERNEL(eltwise_backward)
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
    for (size_t k = 0; k < sizeof ref_backward_fns / sizeof ref_backward_fns[0]; k++)
        if (strcmp(ref_backward_fns[k].name, name) == 0)
            found = (int)k;
    if (found < 0)
        return kc_error(call, STRATA_E_INVALID,
                        "fn \"%s\" is not one of exp log sqrt abs relu leaky_relu sigmoid tanh gelu pow", name);
    ref_unary_fn fn = ref_backward_fns[found].fn;

    ref_unary_params p;
    int64_t n = strata_desc_numel(&call->inputs[1]);
    s = ref_unary_params_of(call, fn, &p);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[0], "dy", n);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "dx", n);
    if (s != STRATA_OK)
        return s;

    float *dx = strata_desc_ptr(&call->outputs[0]);      // (n)
    const float *dy = strata_desc_ptr(&call->inputs[0]); // (n)
    const float *x = strata_desc_ptr(&call->inputs[1]);  // (n)
    for (int64_t i = 0; i < n; i++)
        dx[i] = (float)((double)dy[i] * ref_unary_deriv(fn, x[i], &p));
    return STRATA_OK;
}
