/*
 * test_ref_kernels.c - the ref backend's kernels, called directly.
 *
 * Loads build/lib/strata/ref.so with dlopen, runs its init against a mock
 * host table (records registrations and the last error message), then
 * calls kernels on small hand-built descriptors and compares with values
 * computed by hand. Needs nothing from core/: it runs before the core does.
 *
 * Standalone build:
 *   gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isdk/include \
 *       tests/test_ref_kernels.c -o /tmp/trk -lcmocka -ldl -lm
 *   STRATA_TEST_BUILD=$PWD/build /tmp/trk
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "strata/strata_backend.h"

/* ======================================================================= */
/* Mock host                                                               */
/* ======================================================================= */

#define MAX_KERNELS 128

typedef struct mock_kernel {
    char op[64];
    strata_kernel_fn fn;
} mock_kernel;

static void *g_dl;
static const strata_plugin_desc *g_desc;
static strata_host_api g_host;
static strata_backend_def g_backend;
static int g_n_backends;
static mock_kernel g_kernels[MAX_KERNELS];
static int g_n_kernels;
static char g_error[1024];
static strata_status g_error_status;

static strata_status mock_set_error(strata_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    g_error_status = status;
    return status;
}

static void mock_log(strata_runtime *rt, int level, const char *fmt, ...)
{
    (void)rt;
    (void)level;
    (void)fmt;
}

static strata_status mock_register_backend(strata_plugin *plugin, const strata_backend_def *def)
{
    (void)plugin;
    if (!def || def->struct_size != sizeof *def)
        return mock_set_error(STRATA_E_ABI, "bad backend struct_size");
    g_backend = *def;
    g_n_backends++;
    return STRATA_OK;
}

static strata_status mock_register_kernel(strata_plugin *plugin, const char *backend, const char *op,
                                          int32_t version, strata_kernel_fn fn, void *user)
{
    (void)plugin;
    (void)user;
    if (strcmp(backend, "ref") != 0 || version != 1 || !fn)
        return mock_set_error(STRATA_E_INVALID, "bad kernel registration for %s", op);
    for (int k = 0; k < g_n_kernels; k++)
        if (strcmp(g_kernels[k].op, op) == 0)
            return mock_set_error(STRATA_E_EXISTS, "duplicate kernel %s", op);
    if (g_n_kernels == MAX_KERNELS || strlen(op) >= sizeof g_kernels[0].op)
        return mock_set_error(STRATA_E_NOMEM, "kernel table full");
    strcpy(g_kernels[g_n_kernels].op, op);
    g_kernels[g_n_kernels].fn = fn;
    g_n_kernels++;
    return STRATA_OK;
}

static strata_kernel_fn find_kernel(const char *op)
{
    for (int k = 0; k < g_n_kernels; k++)
        if (strcmp(g_kernels[k].op, op) == 0)
            return g_kernels[k].fn;
    return NULL;
}

static int setup_module(void **state)
{
    (void)state;
    const char *build = getenv("STRATA_TEST_BUILD");
    char path[4096];
    snprintf(path, sizeof path, "%s/lib/strata/ref.so", build ? build : "build");
    g_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!g_dl) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    strata_plugin_entry_fn entry = (strata_plugin_entry_fn)dlsym(g_dl, STRATA_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "%s has no %s\n", path, STRATA_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    g_desc = entry();

    g_host.struct_size = sizeof g_host;
    g_host.abi_major = STRATA_ABI_MAJOR;
    g_host.abi_minor = STRATA_ABI_MINOR;
    g_host.set_error = mock_set_error;
    g_host.log = mock_log;
    g_host.register_backend = mock_register_backend;
    g_host.register_kernel = mock_register_kernel;

    void *user = NULL;
    strata_status s = g_desc->init(&g_host, (strata_plugin *)&g_host, &user);
    if (s != STRATA_OK) {
        fprintf(stderr, "ref init failed (%d): %s\n", (int)s, g_error);
        return -1;
    }
    return 0;
}

static int teardown_module(void **state)
{
    (void)state;
    if (g_dl)
        dlclose(g_dl);
    return 0;
}

/* ======================================================================= */
/* Helpers                                                                 */
/* ======================================================================= */

#define SH(...) ((const int64_t[]){__VA_ARGS__})
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A contiguous descriptor over @p data. */
static strata_tensor_desc td(int32_t dtype, void *data, int ndim, const int64_t *shape)
{
    strata_tensor_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.dtype = dtype;
    d.ndim = ndim;
    int64_t stride = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        d.shape[k] = shape[k];
        d.strides[k] = stride;
        stride *= shape[k];
    }
    d.data = data;
    return d;
}

static strata_tensor_desc f32(float *data, int ndim, const int64_t *shape)
{
    return td(STRATA_F32, data, ndim, shape);
}

/* Fills an output with NaN, so an element a kernel forgets to write shows. */
static void poison(float *p, int n)
{
    for (int k = 0; k < n; k++)
        p[k] = NAN;
}

static strata_status run(const char *op, const strata_tensor_desc *in, int n_in, const strata_tensor_desc *out,
                         int n_out, const strata_attr *attrs, int n_attrs)
{
    strata_kernel_fn fn = find_kernel(op);
    if (!fn)
        fail_msg("no kernel registered for %s", op);
    strata_kernel_call c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.op = op;
    c.inputs = in;
    c.n_inputs = n_in;
    c.outputs = out;
    c.n_outputs = n_out;
    c.attrs = attrs;
    c.n_attrs = n_attrs;
    g_error[0] = '\0';
    g_error_status = STRATA_OK;
    return fn(&c);
}

#define RUN_OK(...)                                                                                            \
    do {                                                                                                       \
        strata_status run_ok_s_ = run(__VA_ARGS__);                                                            \
        if (run_ok_s_ != STRATA_OK)                                                                            \
            fail_msg("%s failed (%d): %s", #__VA_ARGS__, (int)run_ok_s_, g_error);                             \
    } while (0)

/* |got - want| <= tol (1 + |want|) for every element. */
static void expect_near(const float *got, const double *want, int n, double tol)
{
    for (int k = 0; k < n; k++) {
        double err = fabs((double)got[k] - want[k]);
        if (!(err <= tol * (1.0 + fabs(want[k]))))
            fail_msg("element %d: got %.9g, want %.9g", k, (double)got[k], want[k]);
    }
}

#define TOL 1e-6

static void expect_error(strata_status got, strata_status want, const char *needle)
{
    if (got != want)
        fail_msg("status %d, want %d (message: %s)", (int)got, (int)want, g_error);
    if (needle && !strstr(g_error, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", g_error, needle);
}

/* The last error message contains @p needle. */
static void expect_message(const char *needle)
{
    if (!strstr(g_error, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", g_error, needle);
}

/* ======================================================================= */
/* Registration                                                            */
/* ======================================================================= */

static void test_registration(void **state)
{
    (void)state;
    assert_string_equal(g_desc->name, "ref");
    assert_string_equal(g_desc->version, "1.0.0");
    assert_int_equal(g_desc->abi_major, STRATA_ABI_MAJOR);
    assert_int_equal(g_n_backends, 1);
    assert_string_equal(g_backend.name, "ref");
    assert_int_equal(g_backend.priority, 0);
    assert_true(g_backend.flags & STRATA_BACKEND_HOST_MEMORY);
    assert_int_equal(g_backend.device_count(g_backend.self), 1);
    assert_string_equal(g_backend.device_name(g_backend.self, 0), "host (plain C reference)");
    assert_null(g_backend.alloc);
    assert_null(g_backend.free);

    static const char *const with_kernel[] = {
        "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "abs", "relu", "leaky_relu", "sigmoid", "tanh",
        "gelu", "pow", "scale", "cast", "eltwise_backward", "matmul", "linear", "sum", "mean", "max", "argmax",
        "max_backward", "sum_to_shape", "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
        "cross_entropy", "cross_entropy_backward", "bce_with_logits", "bce_with_logits_backward", "copy",
        "concat", "slice_backward", "embedding", "embedding_backward", "gather", "gather_backward", "one_hot",
        "fill", "uniform", "normal", "dropout", "sgd_step", "adam_step", "rmsprop_step", "adagrad_step"};
    static const char *const without[] = {"reshape", "permute", "slice", "expand", "split", "mse"};
    char name[64];
    for (int k = 0; k < LEN(with_kernel); k++) {
        snprintf(name, sizeof name, "core::%s", with_kernel[k]);
        if (!find_kernel(name))
            fail_msg("no kernel for %s", name);
    }
    for (int k = 0; k < LEN(without); k++) {
        snprintf(name, sizeof name, "core::%s", without[k]);
        assert_null(find_kernel(name));
    }
    assert_int_equal(g_n_kernels, LEN(with_kernel));
}

/* ======================================================================= */
/* Elementwise                                                             */
/* ======================================================================= */

static void test_add_broadcast(void **state)
{
    (void)state;
    /* (2, 3) + (3): b repeats down the rows */
    float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30}, y[6];
    poison(y, 6);
    strata_tensor_desc in[] = {f32(a, 2, SH(2, 3)), f32(b, 1, SH(3))}, out[] = {f32(y, 2, SH(2, 3))};
    RUN_OK("core::add", in, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){11, 22, 33, 14, 25, 36}, 6, 0);

    /* (2, 1) + (1, 3) -> (2, 3): both stretch */
    float c[] = {1, 2}, d[] = {10, 20, 30};
    poison(y, 6);
    strata_tensor_desc in2[] = {f32(c, 2, SH(2, 1)), f32(d, 2, SH(1, 3))};
    RUN_OK("core::add", in2, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){11, 21, 31, 12, 22, 32}, 6, 0);

    /* sub and mul, with a 0-d operand on the left */
    float s[] = {100};
    poison(y, 6);
    strata_tensor_desc in3[] = {f32(s, 0, NULL), f32(a, 2, SH(2, 3))};
    RUN_OK("core::sub", in3, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){99, 98, 97, 96, 95, 94}, 6, 0);
    poison(y, 6);
    RUN_OK("core::mul", in2, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){10, 20, 30, 20, 40, 60}, 6, 0);

    /* (2, 3) + (2) do not broadcast */
    strata_tensor_desc bad[] = {f32(a, 2, SH(2, 3)), f32(c, 1, SH(2))};
    expect_error(run("core::add", bad, 2, out, 1, NULL, 0), STRATA_E_SHAPE, "core::add");

    /* i32 is not a dtype of add */
    int32_t ia[] = {1, 2, 3};
    strata_tensor_desc bad_dtype[] = {td(STRATA_I32, ia, 1, SH(3)), f32(b, 1, SH(3))};
    strata_tensor_desc out3[] = {f32(y, 1, SH(3))};
    expect_error(run("core::add", bad_dtype, 2, out3, 1, NULL, 0), STRATA_E_DTYPE, "i32");
}

static void test_div(void **state)
{
    (void)state;
    float a[] = {1, 2, 3, 4}, b[] = {2, 4}, y[4];
    poison(y, 4);
    strata_tensor_desc in[] = {f32(a, 2, SH(2, 2)), f32(b, 2, SH(2, 1))}, out[] = {f32(y, 2, SH(2, 2))};
    RUN_OK("core::div", in, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){0.5, 1, 0.75, 1}, 4, 0);
}

static void test_unary(void **state)
{
    (void)state;
    float x[] = {-1, 0, 2}, y[3];
    strata_tensor_desc in[] = {f32(x, 1, SH(3))}, out[] = {f32(y, 1, SH(3))};

    poison(y, 3);
    RUN_OK("core::relu", in, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){0, 0, 2}, 3, 0);

    /* gelu(x) = x Phi(x): Phi(1) = 0.8413447460685429 */
    float g[] = {-1, 0, 1};
    strata_tensor_desc gin[] = {f32(g, 1, SH(3))};
    poison(y, 3);
    RUN_OK("core::gelu", gin, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){-0.15865525393145707, 0, 0.8413447460685429}, 3, TOL);

    /* sigmoid(-2), sigmoid(0), sigmoid(2) */
    float sx[] = {-2, 0, 2};
    strata_tensor_desc sin_[] = {f32(sx, 1, SH(3))};
    poison(y, 3);
    RUN_OK("core::sigmoid", sin_, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){0.11920292202211755, 0.5, 0.8807970779778823}, 3, TOL);

    strata_attr alpha[] = {strata_attr_float("alpha", 0.1)};
    poison(y, 3);
    RUN_OK("core::leaky_relu", sin_, 1, out, 1, alpha, 1);
    expect_near(y, (const double[]){-0.2, 0, 2}, 3, TOL);
    poison(y, 3);
    RUN_OK("core::leaky_relu", sin_, 1, out, 1, NULL, 0); /* default alpha 0.01 */
    expect_near(y, (const double[]){-0.02, 0, 2}, 3, TOL);

    strata_attr ex[] = {strata_attr_float("exponent", 2)};
    poison(y, 3);
    RUN_OK("core::pow", sin_, 1, out, 1, ex, 1);
    expect_near(y, (const double[]){4, 0, 4}, 3, 0);
    expect_error(run("core::pow", sin_, 1, out, 1, NULL, 0), STRATA_E_INVALID, "exponent");

    strata_attr ab[] = {strata_attr_float("alpha", 2), strata_attr_float("beta", 1)};
    poison(y, 3);
    RUN_OK("core::scale", sin_, 1, out, 1, ab, 2);
    expect_near(y, (const double[]){-3, 1, 5}, 3, 0);

    poison(y, 3);
    RUN_OK("core::abs", in, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){1, 0, 2}, 3, 0);
    poison(y, 3);
    RUN_OK("core::neg", in, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){1, 0, -2}, 3, 0);
    poison(y, 3);
    RUN_OK("core::exp", in, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){exp(-1.0), 1, exp(2.0)}, 3, TOL);
    poison(y, 3);
    RUN_OK("core::tanh", in, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){tanh(-1.0), 0, tanh(2.0)}, 3, TOL);

    float pos[] = {1, 4, 9};
    strata_tensor_desc pin[] = {f32(pos, 1, SH(3))};
    poison(y, 3);
    RUN_OK("core::sqrt", pin, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){1, 2, 3}, 3, 0);
    poison(y, 3);
    RUN_OK("core::log", pin, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){0, log(4.0), log(9.0)}, 3, TOL);
}

/* dx for one element: dy * f'(x). */
static double backward_one(const char *fn, float dy, float x, const strata_attr *extra)
{
    float dyv[] = {dy}, xv[] = {x}, yv[] = {0}, dx[] = {NAN};
    strata_tensor_desc in[] = {f32(dyv, 1, SH(1)), f32(xv, 1, SH(1)), f32(yv, 1, SH(1))};
    strata_tensor_desc out[] = {f32(dx, 1, SH(1))};
    strata_attr at[2] = {strata_attr_string("fn", fn)};
    int n = 1;
    if (extra)
        at[n++] = *extra;
    RUN_OK("core::eltwise_backward", in, 3, out, 1, at, n);
    return dx[0];
}

static void test_eltwise_backward(void **state)
{
    (void)state;
    /* relu'(0) = 0 and abs'(0) = 0 */
    float dy[] = {1, 2, 3}, x[] = {-1, 0, 2}, yv[3] = {0}, dx[3];
    strata_tensor_desc in[] = {f32(dy, 1, SH(3)), f32(x, 1, SH(3)), f32(yv, 1, SH(3))};
    strata_tensor_desc out[] = {f32(dx, 1, SH(3))};
    strata_attr relu[] = {strata_attr_string("fn", "relu")};
    poison(dx, 3);
    RUN_OK("core::eltwise_backward", in, 3, out, 1, relu, 1);
    expect_near(dx, (const double[]){0, 0, 3}, 3, 0);
    strata_attr abs_[] = {strata_attr_string("fn", "abs")};
    poison(dx, 3);
    RUN_OK("core::eltwise_backward", in, 3, out, 1, abs_, 1);
    expect_near(dx, (const double[]){-1, 0, 3}, 3, 0);

    strata_attr a02 = strata_attr_float("alpha", 0.2), e3 = strata_attr_float("exponent", 3);
    strata_attr e0 = strata_attr_float("exponent", 0);
    double got[] = {
        backward_one("sigmoid", 2, 0, NULL),    /* 2 * 0.25 */
        backward_one("tanh", 1, 0.5f, NULL),    /* 1 - tanh(0.5)^2 */
        backward_one("log", 3, 2, NULL),        /* 3 / 2 */
        backward_one("pow", 1, 2, &e3),         /* 3 * 2^2 */
        backward_one("leaky_relu", 5, -1, &a02), /* 5 * 0.2 */
        backward_one("gelu", 1, 1, NULL),       /* Phi(1) + phi(1) */
        backward_one("exp", 2, 1, NULL),        /* 2 e */
        backward_one("sqrt", 1, 4, NULL),       /* 1 / (2 sqrt 4) */
        backward_one("leaky_relu", 5, 0, &a02), /* at 0 the slope is alpha, as PyTorch's (x > 0 ? 1 : alpha) */
        backward_one("pow", 2, 0, &e0),         /* exponent 0: 0, even at x = 0 (not 0 * 0^-1 = NaN) */
    };
    double want[] = {0.5, 0.7864477329659274, 1.5, 12, 1.0, 1.0833154705876864, 2 * exp(1.0), 0.25, 1.0, 0};
    float gotf[LEN(got)];
    for (int k = 0; k < LEN(got); k++)
        gotf[k] = (float)got[k];
    expect_near(gotf, want, LEN(want), TOL);

    strata_attr bad[] = {strata_attr_string("fn", "cosh")};
    expect_error(run("core::eltwise_backward", in, 3, out, 1, bad, 1), STRATA_E_INVALID, "cosh");
}

/* ======================================================================= */
/* Linear algebra                                                          */
/* ======================================================================= */

static void test_matmul(void **state)
{
    (void)state;
    /* A (2, 3) B (3, 2) = [[58, 64], [139, 154]] */
    float A[] = {1, 2, 3, 4, 5, 6}, B[] = {7, 8, 9, 10, 11, 12};
    float At[] = {1, 4, 2, 5, 3, 6}, Bt[] = {7, 9, 11, 8, 10, 12}; /* stored transposed */
    const double want[] = {58, 64, 139, 154};
    float y[8];
    strata_tensor_desc out[] = {f32(y, 2, SH(2, 2))};

    strata_tensor_desc in[] = {f32(A, 2, SH(2, 3)), f32(B, 2, SH(3, 2))};
    poison(y, 4);
    RUN_OK("core::matmul", in, 2, out, 1, NULL, 0);
    expect_near(y, want, 4, 0);

    strata_tensor_desc in_ta[] = {f32(At, 2, SH(3, 2)), f32(B, 2, SH(3, 2))};
    strata_attr ta[] = {strata_attr_int("trans_a", 1)};
    poison(y, 4);
    RUN_OK("core::matmul", in_ta, 2, out, 1, ta, 1);
    expect_near(y, want, 4, 0);

    strata_tensor_desc in_tb[] = {f32(A, 2, SH(2, 3)), f32(Bt, 2, SH(2, 3))};
    strata_attr tb[] = {strata_attr_int("trans_b", 1)};
    poison(y, 4);
    RUN_OK("core::matmul", in_tb, 2, out, 1, tb, 1);
    expect_near(y, want, 4, 0);

    strata_tensor_desc in_tt[] = {f32(At, 2, SH(3, 2)), f32(Bt, 2, SH(2, 3))};
    strata_attr tt[] = {strata_attr_int("trans_a", 1), strata_attr_int("trans_b", 1)};
    poison(y, 4);
    RUN_OK("core::matmul", in_tt, 2, out, 1, tt, 2);
    expect_near(y, want, 4, 0);

    /* batched a (2, 2, 3) (second batch = 2 A) times 2-D b: b is shared */
    float A2[] = {1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12};
    const double want2[] = {58, 64, 139, 154, 116, 128, 278, 308};
    strata_tensor_desc out3[] = {f32(y, 3, SH(2, 2, 2))};
    strata_tensor_desc in_b1[] = {f32(A2, 3, SH(2, 2, 3)), f32(B, 2, SH(3, 2))};
    poison(y, 8);
    RUN_OK("core::matmul", in_b1, 2, out3, 1, NULL, 0);
    expect_near(y, want2, 8, 0);

    /* 2-D a times batched b (2, 3, 2) (second batch = 2 B) */
    float B2[] = {7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 22, 24};
    strata_tensor_desc in_b2[] = {f32(A, 2, SH(2, 3)), f32(B2, 3, SH(2, 3, 2))};
    poison(y, 8);
    RUN_OK("core::matmul", in_b2, 2, out3, 1, NULL, 0);
    expect_near(y, want2, 8, 0);

    /* batch dims (2, 1) and (1) broadcast to (2, 1) */
    strata_tensor_desc out4[] = {f32(y, 4, SH(2, 1, 2, 2))};
    strata_tensor_desc in_b3[] = {f32(A2, 4, SH(2, 1, 2, 3)), f32(B, 3, SH(1, 3, 2))};
    poison(y, 8);
    RUN_OK("core::matmul", in_b3, 2, out4, 1, NULL, 0);
    expect_near(y, want2, 8, 0);

    /* K mismatch */
    strata_tensor_desc bad[] = {f32(A, 2, SH(2, 3)), f32(B, 2, SH(2, 3))};
    expect_error(run("core::matmul", bad, 2, out, 1, NULL, 0), STRATA_E_SHAPE, "core::matmul");
}

static void test_linear(void **state)
{
    (void)state;
    float x[] = {1, 2, 3, 4, 5, 6}, w[] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, b[] = {10, -1}, y[4];
    strata_tensor_desc out[] = {f32(y, 2, SH(2, 2))};
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3)), f32(w, 2, SH(2, 3)), f32(b, 1, SH(2))};
    poison(y, 4);
    RUN_OK("core::linear", in, 3, out, 1, NULL, 0);
    expect_near(y, (const double[]){8, 2, 8, 6.5}, 4, 0);
    poison(y, 4);
    RUN_OK("core::linear", in, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){-2, 3, -2, 7.5}, 4, 0);
}

/* ======================================================================= */
/* Reductions                                                              */
/* ======================================================================= */

/* Runs a reduction op of x (2, 3) = [[1, 5, 3], [4, 2, 6]] into y of (ndim, shape). */
static void reduce_case(const char *op, const int64_t *axes, int n_axes, int keepdim, int ndim,
                        const int64_t *shape, const double *want, int n)
{
    float x[] = {1, 5, 3, 4, 2, 6}, y[6];
    poison(y, 6);
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3))}, out[] = {f32(y, ndim, shape)};
    strata_attr at[2];
    int na = 0;
    if (axes)
        at[na++] = strata_attr_ints("axes", axes, n_axes);
    at[na++] = strata_attr_int("keepdim", keepdim);
    RUN_OK(op, in, 1, out, 1, at, na);
    expect_near(y, want, n, TOL);
}

static void test_reduce(void **state)
{
    (void)state;
    const int64_t ax0[] = {0}, ax1[] = {1}, axm1[] = {-1}, both[] = {0, 1};
    reduce_case("core::sum", ax0, 1, 0, 1, SH(3), (const double[]){5, 7, 9}, 3);
    reduce_case("core::sum", ax0, 1, 1, 2, SH(1, 3), (const double[]){5, 7, 9}, 3);
    reduce_case("core::sum", ax1, 1, 0, 1, SH(2), (const double[]){9, 12}, 2);
    reduce_case("core::sum", axm1, 1, 1, 2, SH(2, 1), (const double[]){9, 12}, 2);
    reduce_case("core::sum", NULL, 0, 0, 0, NULL, (const double[]){21}, 1);
    reduce_case("core::sum", ax0, 0, 1, 2, SH(1, 1), (const double[]){21}, 1); /* empty axes = all */
    reduce_case("core::sum", both, 2, 0, 0, NULL, (const double[]){21}, 1);
    reduce_case("core::mean", ax0, 1, 0, 1, SH(3), (const double[]){2.5, 3.5, 4.5}, 3);
    reduce_case("core::mean", ax1, 1, 1, 2, SH(2, 1), (const double[]){3, 4}, 2);
    reduce_case("core::mean", NULL, 0, 1, 2, SH(1, 1), (const double[]){3.5}, 1);
    reduce_case("core::max", ax0, 1, 1, 2, SH(1, 3), (const double[]){4, 5, 6}, 3);
    reduce_case("core::max", ax1, 1, 0, 1, SH(2), (const double[]){5, 6}, 2);
    reduce_case("core::max", NULL, 0, 0, 0, NULL, (const double[]){6}, 1);

    /* (2, 2, 2) = 1..8 summed over dims 0 and 2 */
    float x3[] = {1, 2, 3, 4, 5, 6, 7, 8}, y[2];
    const int64_t ax02[] = {0, -1};
    strata_attr at[] = {strata_attr_ints("axes", ax02, 2)};
    strata_tensor_desc in[] = {f32(x3, 3, SH(2, 2, 2))}, out[] = {f32(y, 1, SH(2))};
    poison(y, 2);
    RUN_OK("core::sum", in, 1, out, 1, at, 1);
    expect_near(y, (const double[]){14, 22}, 2, 0);

    /* a wrong output shape and an axis out of range */
    strata_tensor_desc bad_out[] = {f32(y, 1, SH(3))};
    expect_error(run("core::sum", in, 1, bad_out, 1, at, 1), STRATA_E_SHAPE, "core::sum");
    const int64_t ax5[] = {5};
    strata_attr bad_axis[] = {strata_attr_ints("axes", ax5, 1)};
    expect_error(run("core::sum", in, 1, out, 1, bad_axis, 1), STRATA_E_INVALID, "5");
}

static void test_argmax(void **state)
{
    (void)state;
    float x[] = {1, 5, 5, 7, 2, 7};
    int64_t y[3] = {-9, -9, -9};
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3))};
    strata_tensor_desc out[] = {td(STRATA_I64, y, 1, SH(2))};
    RUN_OK("core::argmax", in, 1, out, 1, NULL, 0); /* axis -1: first maximum */
    assert_int_equal(y[0], 1);
    assert_int_equal(y[1], 0);

    strata_attr at[] = {strata_attr_int("axis", 0), strata_attr_int("keepdim", 1)};
    strata_tensor_desc out0[] = {td(STRATA_I64, y, 2, SH(1, 3))};
    RUN_OK("core::argmax", in, 1, out0, 1, at, 2);
    assert_int_equal(y[0], 1);
    assert_int_equal(y[1], 0);
    assert_int_equal(y[2], 1);
}

static void test_max_backward(void **state)
{
    (void)state;
    float x[] = {1, 5, 5, 7, 2, 7}, ymax[] = {5, 7}, dy[] = {10, 20}, dx[6];
    const int64_t ax1[] = {1};
    strata_attr at[] = {strata_attr_ints("axes", ax1, 1)};
    strata_tensor_desc in[] = {f32(dy, 1, SH(2)), f32(x, 2, SH(2, 3)), f32(ymax, 1, SH(2))};
    strata_tensor_desc out[] = {f32(dx, 2, SH(2, 3))};
    poison(dx, 6);
    RUN_OK("core::max_backward", in, 3, out, 1, at, 1);
    expect_near(dx, (const double[]){0, 10, 0, 20, 0, 0}, 6, 0);

    /* over everything: the first 7 (row-major) takes it */
    float dy1[] = {3}, y1[] = {7};
    strata_tensor_desc in_all[] = {f32(dy1, 0, NULL), f32(x, 2, SH(2, 3)), f32(y1, 0, NULL)};
    poison(dx, 6);
    RUN_OK("core::max_backward", in_all, 3, out, 1, NULL, 0);
    expect_near(dx, (const double[]){0, 0, 0, 3, 0, 0}, 6, 0);
}

/* A NaN wins max, as PyTorch's: the first NaN of a group is its max, its
 * argmax and where max_backward sends dy (a later NaN does not replace it). */
static void test_max_nan(void **state)
{
    (void)state;
    float x[] = {1, NAN, 3, 4, NAN, NAN}, y[2], dy[] = {10, 20}, dx[6];
    int64_t iy[2] = {-9, -9};
    const int64_t ax1[] = {1};
    strata_attr at[] = {strata_attr_ints("axes", ax1, 1)};
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3))}, out[] = {f32(y, 1, SH(2))};
    poison(y, 2);
    RUN_OK("core::max", in, 1, out, 1, at, 1);
    if (!isnan(y[0]) || !isnan(y[1]))
        fail_msg("max over rows (1, nan, 3) and (4, nan, nan): got %g and %g, want nan and nan", (double)y[0],
                 (double)y[1]);

    strata_tensor_desc iout[] = {td(STRATA_I64, iy, 1, SH(2))};
    RUN_OK("core::argmax", in, 1, iout, 1, NULL, 0);
    assert_int_equal(iy[0], 1);
    assert_int_equal(iy[1], 1);

    strata_tensor_desc bin[] = {f32(dy, 1, SH(2)), f32(x, 2, SH(2, 3)), f32(y, 1, SH(2))};
    strata_tensor_desc bout[] = {f32(dx, 2, SH(2, 3))};
    poison(dx, 6);
    RUN_OK("core::max_backward", bin, 3, bout, 1, at, 1);
    expect_near(dx, (const double[]){0, 10, 0, 0, 20, 0}, 6, 0);
}

static void test_sum_to_shape(void **state)
{
    (void)state;
    float x[] = {1, 2, 3, 4, 5, 6}, y[3];
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3))};

    const int64_t s3[] = {3};
    strata_attr a3[] = {strata_attr_ints("shape", s3, 1)};
    strata_tensor_desc o3[] = {f32(y, 1, SH(3))};
    poison(y, 3);
    RUN_OK("core::sum_to_shape", in, 1, o3, 1, a3, 1);
    expect_near(y, (const double[]){5, 7, 9}, 3, 0);

    const int64_t s21[] = {2, 1};
    strata_attr a21[] = {strata_attr_ints("shape", s21, 2)};
    strata_tensor_desc o21[] = {f32(y, 2, SH(2, 1))};
    poison(y, 3);
    RUN_OK("core::sum_to_shape", in, 1, o21, 1, a21, 1);
    expect_near(y, (const double[]){6, 15}, 2, 0);

    strata_attr a0[] = {strata_attr_ints("shape", NULL, 0)};
    strata_tensor_desc o0[] = {f32(y, 0, NULL)};
    poison(y, 3);
    RUN_OK("core::sum_to_shape", in, 1, o0, 1, a0, 1);
    expect_near(y, (const double[]){21}, 1, 0);

    const int64_t s2[] = {2};
    strata_attr bad[] = {strata_attr_ints("shape", s2, 1)};
    strata_tensor_desc o2[] = {f32(y, 1, SH(2))};
    expect_error(run("core::sum_to_shape", in, 1, o2, 1, bad, 1), STRATA_E_SHAPE, "core::sum_to_shape");
}

/* ======================================================================= */
/* Softmax and losses                                                      */
/* ======================================================================= */

static void test_softmax(void **state)
{
    (void)state;
    /* row 0: softmax(1, 2, 3); row 1: huge equal logits stay finite */
    float x[] = {1, 2, 3, 1000, 1000, 1000}, y[6], ly[6];
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3))}, out[] = {f32(y, 2, SH(2, 3))}, lout[] = {f32(ly, 2, SH(2, 3))};
    poison(y, 6);
    RUN_OK("core::softmax", in, 1, out, 1, NULL, 0);
    const double p[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748218};
    expect_near(y, (const double[]){p[0], p[1], p[2], 1.0 / 3, 1.0 / 3, 1.0 / 3}, 6, TOL);
    for (int r = 0; r < 2; r++)
        assert_true(fabs((double)y[3 * r] + y[3 * r + 1] + y[3 * r + 2] - 1.0) < 1e-6);

    poison(ly, 6);
    RUN_OK("core::log_softmax", in, 1, lout, 1, NULL, 0);
    expect_near(ly, (const double[]){log(p[0]), log(p[1]), log(p[2]), -log(3.0), -log(3.0), -log(3.0)}, 6, TOL);
    for (int r = 0; r < 2; r++)
        assert_true(fabs(exp(ly[3 * r]) + exp(ly[3 * r + 1]) + exp(ly[3 * r + 2]) - 1.0) < 1e-6);

    /* along axis 0 of (2, 2): equal columns give 1/2 */
    float x2[] = {0, 1, 0, 1}, y2[4];
    strata_attr ax0[] = {strata_attr_int("axis", 0)};
    strata_tensor_desc in2[] = {f32(x2, 2, SH(2, 2))}, out2[] = {f32(y2, 2, SH(2, 2))};
    poison(y2, 4);
    RUN_OK("core::softmax", in2, 1, out2, 1, ax0, 1);
    expect_near(y2, (const double[]){0.5, 0.5, 0.5, 0.5}, 4, TOL);

    /* along axis 0 of (3, 2): column 0 is (1, 2, 3), column 1 all 1000; each
     * column is shifted by its own max (a max taken across the columns
     * would underflow column 0 to 0 / 0) */
    float x3[] = {1, 1000, 2, 1000, 3, 1000}, y3[6];
    strata_tensor_desc in3[] = {f32(x3, 2, SH(3, 2))}, out3[] = {f32(y3, 2, SH(3, 2))};
    poison(y3, 6);
    RUN_OK("core::softmax", in3, 1, out3, 1, ax0, 1);
    expect_near(y3, (const double[]){p[0], 1.0 / 3, p[1], 1.0 / 3, p[2], 1.0 / 3}, 6, TOL);
    poison(y3, 6);
    RUN_OK("core::log_softmax", in3, 1, out3, 1, ax0, 1);
    expect_near(y3, (const double[]){log(p[0]), -log(3.0), log(p[1]), -log(3.0), log(p[2]), -log(3.0)}, 6, TOL);

    /* softmax_backward with dy = e0: dx = y (e0 - y0) */
    float dy[] = {1, 0, 0, 0, 0, 0}, dx[6];
    strata_tensor_desc bin[] = {f32(dy, 2, SH(2, 3)), f32(y, 2, SH(2, 3))}, bout[] = {f32(dx, 2, SH(2, 3))};
    poison(dx, 6);
    RUN_OK("core::softmax_backward", bin, 2, bout, 1, NULL, 0);
    expect_near(dx, (const double[]){p[0] * (1 - p[0]), -p[1] * p[0], -p[2] * p[0], 0, 0, 0}, 6, TOL);

    /* log_softmax_backward with dy = 1: dx = 1 - 3 softmax */
    float ones[] = {1, 1, 1, 1, 1, 1};
    strata_tensor_desc lbin[] = {f32(ones, 2, SH(2, 3)), f32(ly, 2, SH(2, 3))};
    poison(dx, 6);
    RUN_OK("core::log_softmax_backward", lbin, 2, bout, 1, NULL, 0);
    expect_near(dx, (const double[]){1 - 3 * p[0], 1 - 3 * p[1], 1 - 3 * p[2], 0, 0, 0}, 6, 1e-5);
}

static void test_cross_entropy(void **state)
{
    (void)state;
    /* row 0 logits (1, 2, 3) label 2; row 1 (1, 1, 1) label 0 */
    float logits[] = {1, 2, 3, 1, 1, 1}, loss[2];
    int64_t labels[] = {2, 0};
    int32_t labels32[] = {2, 0};
    const double l0 = 0.40760596444438046, l1 = 1.0986122886681098;
    strata_tensor_desc in[] = {f32(logits, 2, SH(2, 3)), td(STRATA_I64, labels, 1, SH(2))};
    strata_tensor_desc in32[] = {f32(logits, 2, SH(2, 3)), td(STRATA_I32, labels32, 1, SH(2))};
    strata_tensor_desc scalar[] = {f32(loss, 0, NULL)}, per_row[] = {f32(loss, 1, SH(2))};

    poison(loss, 2);
    RUN_OK("core::cross_entropy", in, 2, scalar, 1, NULL, 0); /* mean by default */
    expect_near(loss, (const double[]){(l0 + l1) / 2}, 1, TOL);
    strata_attr sum[] = {strata_attr_string("reduction", "sum")};
    poison(loss, 2);
    RUN_OK("core::cross_entropy", in32, 2, scalar, 1, sum, 1);
    expect_near(loss, (const double[]){l0 + l1}, 1, TOL);
    strata_attr none[] = {strata_attr_string("reduction", "none")};
    poison(loss, 2);
    RUN_OK("core::cross_entropy", in, 2, per_row, 1, none, 1);
    expect_near(loss, (const double[]){l0, l1}, 2, TOL);

    /* backward, mean: (softmax - onehot) / N */
    const double p[] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748218};
    float dy1[] = {1}, dl[6];
    strata_tensor_desc bin[] = {f32(dy1, 0, NULL), f32(logits, 2, SH(2, 3)), td(STRATA_I64, labels, 1, SH(2))};
    strata_tensor_desc bout[] = {f32(dl, 2, SH(2, 3))};
    poison(dl, 6);
    RUN_OK("core::cross_entropy_backward", bin, 3, bout, 1, NULL, 0);
    expect_near(dl, (const double[]){p[0] / 2, p[1] / 2, (p[2] - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6}, 6,
                TOL);

    /* backward, none: each row scaled by its dy */
    float dy2[] = {2, 1};
    strata_tensor_desc bin2[] = {f32(dy2, 1, SH(2)), f32(logits, 2, SH(2, 3)), td(STRATA_I32, labels32, 1, SH(2))};
    poison(dl, 6);
    RUN_OK("core::cross_entropy_backward", bin2, 3, bout, 1, none, 1);
    expect_near(dl, (const double[]){2 * p[0], 2 * p[1], 2 * (p[2] - 1), 1.0 / 3 - 1, 1.0 / 3, 1.0 / 3}, 6, TOL);

    /* logits (0, 1000, 999), label 2: logsumexp shifted by the row's max, not by
     * logit 0 (exp(1000) would overflow even in double) */
    float big[] = {0, 1000, 999}, dbig[3];
    int64_t big_label[] = {2};
    const double s1 = 1.0 / (1.0 + exp(-1.0)); /* softmax: (0, s1, 1 - s1) */
    strata_tensor_desc in_big[] = {f32(big, 2, SH(1, 3)), td(STRATA_I64, big_label, 1, SH(1))};
    poison(loss, 2);
    RUN_OK("core::cross_entropy", in_big, 2, scalar, 1, NULL, 0);
    expect_near(loss, (const double[]){1.0 + log1p(exp(-1.0))}, 1, TOL);
    strata_tensor_desc bin_big[] = {f32(dy1, 0, NULL), in_big[0], in_big[1]};
    strata_tensor_desc bout_big[] = {f32(dbig, 2, SH(1, 3))};
    poison(dbig, 3);
    RUN_OK("core::cross_entropy_backward", bin_big, 3, bout_big, 1, NULL, 0);
    expect_near(dbig, (const double[]){0, s1, -s1}, 3, TOL);

    /* a label outside [0, C) is an error naming the op, the row and the label */
    int64_t bad_labels[] = {0, 12};
    strata_tensor_desc bad[] = {f32(logits, 2, SH(2, 3)), td(STRATA_I64, bad_labels, 1, SH(2))};
    expect_error(run("core::cross_entropy", bad, 2, scalar, 1, NULL, 0), STRATA_E_INVALID, "label 12");
    expect_message("core::cross_entropy: label 12 at row 1 is outside [0, 3)");
    int32_t neg_labels[] = {-1, 0};
    strata_tensor_desc bad2[] = {f32(logits, 2, SH(2, 3)), td(STRATA_I32, neg_labels, 1, SH(2))};
    expect_error(run("core::cross_entropy_backward", (strata_tensor_desc[]){bin[0], bad2[0], bad2[1]}, 3, bout, 1,
                     NULL, 0),
                 STRATA_E_INVALID, "label -1 at row 0");

    /* float labels are a dtype error */
    strata_tensor_desc bad3[] = {f32(logits, 2, SH(2, 3)), f32(logits, 1, SH(2))};
    expect_error(run("core::cross_entropy", bad3, 2, scalar, 1, NULL, 0), STRATA_E_DTYPE, "f32");
}

static void test_bce_with_logits(void **state)
{
    (void)state;
    float x[] = {0, 2, -1}, t[] = {1, 0, 0.5f}, loss[3];
    const double l[] = {0.6931471805599453, 2.1269280110429727, 0.8132616875182228};
    strata_tensor_desc in[] = {f32(x, 1, SH(3)), f32(t, 1, SH(3))};
    strata_tensor_desc scalar[] = {f32(loss, 0, NULL)}, each[] = {f32(loss, 1, SH(3))};
    poison(loss, 3);
    RUN_OK("core::bce_with_logits", in, 2, scalar, 1, NULL, 0);
    expect_near(loss, (const double[]){(l[0] + l[1] + l[2]) / 3}, 1, TOL);
    strata_attr sum[] = {strata_attr_string("reduction", "sum")};
    poison(loss, 3);
    RUN_OK("core::bce_with_logits", in, 2, scalar, 1, sum, 1);
    expect_near(loss, (const double[]){l[0] + l[1] + l[2]}, 1, TOL);
    strata_attr none[] = {strata_attr_string("reduction", "none")};
    poison(loss, 3);
    RUN_OK("core::bce_with_logits", in, 2, each, 1, none, 1);
    expect_near(loss, l, 3, TOL);

    /* backward, mean: (sigmoid(x) - t) / numel */
    float dy[] = {1}, dx[3];
    strata_tensor_desc bin[] = {f32(dy, 0, NULL), f32(x, 1, SH(3)), f32(t, 1, SH(3))};
    strata_tensor_desc bout[] = {f32(dx, 1, SH(3))};
    poison(dx, 3);
    RUN_OK("core::bce_with_logits_backward", bin, 3, bout, 1, NULL, 0);
    expect_near(dx, (const double[]){-0.16666666666666666, 0.29359902599262744, -0.07701952621000163}, 3, TOL);

    /* logits of +-800: max(x, 0) - x t + log1p(exp(-|x|)) stays finite
     * (x - x t + log1p(exp(-x)), equal on paper, overflows at x = -800) */
    float xb[] = {-800, 800}, tb[] = {0.25f, 0.25f};
    strata_tensor_desc inb[] = {f32(xb, 1, SH(2)), f32(tb, 1, SH(2))}, eachb[] = {f32(loss, 1, SH(2))};
    poison(loss, 3);
    RUN_OK("core::bce_with_logits", inb, 2, eachb, 1, none, 1);
    expect_near(loss, (const double[]){200, 600}, 2, TOL);

    strata_attr bad[] = {strata_attr_string("reduction", "avg")};
    expect_error(run("core::bce_with_logits", in, 2, scalar, 1, bad, 1), STRATA_E_INVALID, "avg");
}

/* ======================================================================= */
/* Shapes                                                                  */
/* ======================================================================= */

static void test_copy(void **state)
{
    (void)state;
    float base[] = {1, 2, 3, 4, 5, 6}, y[6];
    strata_tensor_desc out[] = {f32(y, 2, SH(3, 2))};

    /* the transpose of (2, 3): shape (3, 2), strides (1, 3) */
    strata_tensor_desc xt = f32(base, 2, SH(3, 2));
    xt.strides[0] = 1;
    xt.strides[1] = 3;
    poison(y, 6);
    RUN_OK("core::copy", &xt, 1, out, 1, NULL, 0);
    expect_near(y, (const double[]){1, 4, 2, 5, 3, 6}, 6, 0);

    /* (3) expanded to (2, 3): stride 0 on the new dim */
    strata_tensor_desc xe = f32(base, 2, SH(2, 3));
    xe.strides[0] = 0;
    xe.strides[1] = 1;
    strata_tensor_desc out_e[] = {f32(y, 2, SH(2, 3))};
    poison(y, 6);
    RUN_OK("core::copy", &xe, 1, out_e, 1, NULL, 0);
    expect_near(y, (const double[]){1, 2, 3, 1, 2, 3}, 6, 0);

    /* a strided slice with a byte offset: base[1::2] */
    strata_tensor_desc xs = f32(base, 1, SH(3));
    xs.strides[0] = 2;
    xs.byte_offset = sizeof(float);
    strata_tensor_desc out_s[] = {f32(y, 1, SH(3))};
    poison(y, 6);
    RUN_OK("core::copy", &xs, 1, out_s, 1, NULL, 0);
    expect_near(y, (const double[]){2, 4, 6}, 3, 0);

    /* i64 transposed */
    int64_t ib[] = {1, 2, 3, 4}, iy[4] = {0};
    strata_tensor_desc xi = td(STRATA_I64, ib, 2, SH(2, 2));
    xi.strides[0] = 1;
    xi.strides[1] = 2;
    strata_tensor_desc out_i[] = {td(STRATA_I64, iy, 2, SH(2, 2))};
    RUN_OK("core::copy", &xi, 1, out_i, 1, NULL, 0);
    assert_int_equal(iy[0], 1);
    assert_int_equal(iy[1], 3);
    assert_int_equal(iy[2], 2);
    assert_int_equal(iy[3], 4);
}

static void test_concat(void **state)
{
    (void)state;
    float a[] = {1, 2}, b[] = {3, 4, 5, 6}, y[6];
    strata_tensor_desc in[] = {f32(a, 2, SH(2, 1)), f32(b, 2, SH(2, 2))}, out[] = {f32(y, 2, SH(2, 3))};
    strata_attr ax1[] = {strata_attr_int("axis", -1)};
    poison(y, 6);
    RUN_OK("core::concat", in, 2, out, 1, ax1, 1);
    expect_near(y, (const double[]){1, 3, 4, 2, 5, 6}, 6, 0);

    strata_tensor_desc in0[] = {f32(a, 2, SH(1, 2)), f32(b, 2, SH(2, 2))}, out0[] = {f32(y, 2, SH(3, 2))};
    strata_attr ax0[] = {strata_attr_int("axis", 0)};
    poison(y, 6);
    RUN_OK("core::concat", in0, 2, out0, 1, ax0, 1);
    expect_near(y, (const double[]){1, 2, 3, 4, 5, 6}, 6, 0);

    expect_error(run("core::concat", in, 2, out, 1, ax0, 1), STRATA_E_SHAPE, "core::concat");
}

static void test_slice_backward(void **state)
{
    (void)state;
    /* x (2, 5), slice axis 1, 1:5:2 reads columns 1 and 3 */
    float dy[] = {1, 2, 3, 4}, dx[10];
    const int64_t shape[] = {2, 5};
    strata_tensor_desc in[] = {f32(dy, 2, SH(2, 2))}, out[] = {f32(dx, 2, SH(2, 5))};
    strata_attr at[] = {strata_attr_ints("shape", shape, 2), strata_attr_int("axis", 1), strata_attr_int("start", 1),
                        strata_attr_int("end", 5), strata_attr_int("step", 2)};
    poison(dx, 10);
    RUN_OK("core::slice_backward", in, 1, out, 1, at, 5);
    expect_near(dx, (const double[]){0, 1, 0, 2, 0, 0, 3, 0, 4, 0}, 10, 0);

    /* the same slice written Python's way: -4:100:2 (clamped) */
    strata_attr at2[] = {strata_attr_ints("shape", shape, 2), strata_attr_int("axis", -1),
                         strata_attr_int("start", -4), strata_attr_int("end", 100), strata_attr_int("step", 2)};
    poison(dx, 10);
    RUN_OK("core::slice_backward", in, 1, out, 1, at2, 5);
    expect_near(dx, (const double[]){0, 1, 0, 2, 0, 0, 3, 0, 4, 0}, 10, 0);

    /* ::2 (start and end absent) reads columns 0, 2 and 4 */
    float dy3[] = {1, 2, 3, 4, 5, 6};
    strata_tensor_desc in3[] = {f32(dy3, 2, SH(2, 3))};
    strata_attr at3[] = {strata_attr_ints("shape", shape, 2), strata_attr_int("axis", 1), strata_attr_int("step", 2)};
    poison(dx, 10);
    RUN_OK("core::slice_backward", in3, 1, out, 1, at3, 3);
    expect_near(dx, (const double[]){1, 0, 2, 0, 3, 4, 0, 5, 0, 6}, 10, 0);

    /* dy of the wrong length along the axis */
    expect_error(run("core::slice_backward", in, 1, out, 1, at3, 3), STRATA_E_SHAPE, "gives 3");
}

/* ======================================================================= */
/* Indexing                                                                */
/* ======================================================================= */

static void test_embedding(void **state)
{
    (void)state;
    float w[] = {0, 1, 10, 11, 20, 21, 30, 31}, y[6];
    int32_t idx[] = {2, 0, 2};
    strata_tensor_desc in[] = {f32(w, 2, SH(4, 2)), td(STRATA_I32, idx, 1, SH(3))}, out[] = {f32(y, 2, SH(3, 2))};
    poison(y, 6);
    RUN_OK("core::embedding", in, 2, out, 1, NULL, 0);
    expect_near(y, (const double[]){20, 21, 0, 1, 20, 21}, 6, 0);

    /* i64 indices of shape (1, 3) give (1, 3, 2) */
    int64_t idx64[] = {3, 1, 0};
    strata_tensor_desc in64[] = {f32(w, 2, SH(4, 2)), td(STRATA_I64, idx64, 2, SH(1, 3))};
    strata_tensor_desc out64[] = {f32(y, 3, SH(1, 3, 2))};
    poison(y, 6);
    RUN_OK("core::embedding", in64, 2, out64, 1, NULL, 0);
    expect_near(y, (const double[]){30, 31, 10, 11, 0, 1}, 6, 0);

    /* backward: rows of dy added into the rows they came from */
    float dy[] = {1, 2, 3, 4, 5, 6}, dw[8];
    strata_attr at[] = {strata_attr_int("num_embeddings", 4)};
    strata_tensor_desc bin[] = {f32(dy, 2, SH(3, 2)), td(STRATA_I32, idx, 1, SH(3))};
    strata_tensor_desc bout[] = {f32(dw, 2, SH(4, 2))};
    poison(dw, 8);
    RUN_OK("core::embedding_backward", bin, 2, bout, 1, at, 1);
    expect_near(dw, (const double[]){3, 4, 0, 0, 6, 8, 0, 0}, 8, 0);

    int32_t bad_idx[] = {1, 4, 0};
    strata_tensor_desc bad[] = {f32(w, 2, SH(4, 2)), td(STRATA_I32, bad_idx, 1, SH(3))};
    expect_error(run("core::embedding", bad, 2, out, 1, NULL, 0), STRATA_E_INVALID, "index 4 at position 1");
}

static void test_gather(void **state)
{
    (void)state;
    float x[] = {1, 2, 3, 4, 5, 6}, y[4];
    int64_t idx[] = {2, 0, 1, 1};
    strata_attr ax1[] = {strata_attr_int("axis", 1)};
    strata_tensor_desc in[] = {f32(x, 2, SH(2, 3)), td(STRATA_I64, idx, 2, SH(2, 2))};
    strata_tensor_desc out[] = {f32(y, 2, SH(2, 2))};
    poison(y, 4);
    RUN_OK("core::gather", in, 2, out, 1, ax1, 1);
    expect_near(y, (const double[]){3, 1, 5, 5}, 4, 0);

    int32_t idx0[] = {1, 0, 1};
    strata_attr ax0[] = {strata_attr_int("axis", 0)};
    strata_tensor_desc in0[] = {f32(x, 2, SH(2, 3)), td(STRATA_I32, idx0, 2, SH(1, 3))};
    strata_tensor_desc out0[] = {f32(y, 2, SH(1, 3))};
    poison(y, 4);
    RUN_OK("core::gather", in0, 2, out0, 1, ax0, 1);
    expect_near(y, (const double[]){4, 2, 6}, 3, 0);

    /* backward: scatter-add into x's shape */
    float dy[] = {1, 2, 3, 4}, dx[6];
    const int64_t shape[] = {2, 3};
    strata_attr bat[] = {strata_attr_int("axis", 1), strata_attr_ints("shape", shape, 2)};
    strata_tensor_desc bin[] = {f32(dy, 2, SH(2, 2)), td(STRATA_I64, idx, 2, SH(2, 2))};
    strata_tensor_desc bout[] = {f32(dx, 2, SH(2, 3))};
    poison(dx, 6);
    RUN_OK("core::gather_backward", bin, 2, bout, 1, bat, 2);
    expect_near(dx, (const double[]){2, 0, 1, 0, 7, 0}, 6, 0);

    int64_t bad_idx[] = {0, 3, 1, 1};
    strata_tensor_desc bad[] = {f32(x, 2, SH(2, 3)), td(STRATA_I64, bad_idx, 2, SH(2, 2))};
    expect_error(run("core::gather", bad, 2, out, 1, ax1, 1), STRATA_E_INVALID, "index 3");
}

static void test_one_hot(void **state)
{
    (void)state;
    int32_t idx[] = {2, 0};
    float y[6];
    strata_attr at[] = {strata_attr_int("num_classes", 3)};
    strata_tensor_desc in[] = {td(STRATA_I32, idx, 1, SH(2))}, out[] = {f32(y, 2, SH(2, 3))};
    poison(y, 6);
    RUN_OK("core::one_hot", in, 1, out, 1, at, 1);
    expect_near(y, (const double[]){0, 0, 1, 1, 0, 0}, 6, 0);

    int64_t bad_idx[] = {0, 3};
    strata_tensor_desc bad[] = {td(STRATA_I64, bad_idx, 1, SH(2))};
    expect_error(run("core::one_hot", bad, 1, out, 1, at, 1), STRATA_E_INVALID, "index 3 at position 1");
}

/* ======================================================================= */
/* Random and creation                                                     */
/* ======================================================================= */

static void test_fill(void **state)
{
    (void)state;
    const int64_t shape[] = {2, 2};
    float y[4];
    strata_attr at[] = {strata_attr_ints("shape", shape, 2), strata_attr_float("value", 1.5)};
    strata_tensor_desc out[] = {f32(y, 2, shape)};
    poison(y, 4);
    RUN_OK("core::fill", NULL, 0, out, 1, at, 2);
    expect_near(y, (const double[]){1.5, 1.5, 1.5, 1.5}, 4, 0);

    int64_t iy[4] = {0};
    strata_attr ati[] = {strata_attr_ints("shape", shape, 2), strata_attr_int("value", 7),
                         strata_attr_int("dtype", STRATA_I64)};
    strata_tensor_desc outi[] = {td(STRATA_I64, iy, 2, shape)};
    RUN_OK("core::fill", NULL, 0, outi, 1, ati, 3);
    for (int k = 0; k < 4; k++)
        assert_int_equal(iy[k], 7);

    int32_t iy32[4] = {0};
    strata_attr at32[] = {strata_attr_ints("shape", shape, 2), strata_attr_int("value", -3)};
    strata_tensor_desc out32[] = {td(STRATA_I32, iy32, 2, shape)};
    RUN_OK("core::fill", NULL, 0, out32, 1, at32, 2);
    for (int k = 0; k < 4; k++)
        assert_int_equal(iy32[k], -3);
}

#define NRAND 4000

static void test_uniform_normal(void **state)
{
    (void)state;
    static float y[NRAND], y2[NRAND];
    const int64_t shape[] = {NRAND};
    strata_tensor_desc out[] = {f32(y, 1, shape)}, out2[] = {f32(y2, 1, shape)};
    strata_attr at[] = {strata_attr_ints("shape", shape, 1), strata_attr_int("seed", 42),
                        strata_attr_int("offset", 0)};
    poison(y, NRAND);
    RUN_OK("core::uniform", NULL, 0, out, 1, at, 3);
    double mean = 0;
    for (int i = 0; i < NRAND; i++) {
        assert_true(y[i] >= 0.0f && y[i] < 1.0f);
        assert_true(y[i] == strata_philox_uniform(42, 0, (uint64_t)i));
        mean += y[i];
    }
    mean /= NRAND;
    assert_true(fabs(mean - 0.5) < 0.03);

    /* deterministic for a seed; another seed differs */
    poison(y2, NRAND);
    RUN_OK("core::uniform", NULL, 0, out2, 1, at, 3);
    assert_memory_equal(y, y2, sizeof y);
    strata_attr at7[] = {strata_attr_ints("shape", shape, 1), strata_attr_int("seed", 7), strata_attr_int("offset", 0)};
    RUN_OK("core::uniform", NULL, 0, out2, 1, at7, 3);
    assert_memory_not_equal(y, y2, sizeof y);

    /* offset 5 starts at block 5: element 0 equals element 20 of offset 0 */
    strata_attr at_off[] = {strata_attr_ints("shape", shape, 1), strata_attr_int("seed", 42),
                            strata_attr_int("offset", 5)};
    RUN_OK("core::uniform", NULL, 0, out2, 1, at_off, 3);
    assert_true(y2[0] == y[20] && y2[3] == y[23]);

    /* low/high */
    strata_attr lh[] = {strata_attr_ints("shape", shape, 1), strata_attr_int("seed", 42), strata_attr_int("offset", 0),
                        strata_attr_float("low", -2), strata_attr_float("high", 3)};
    RUN_OK("core::uniform", NULL, 0, out2, 1, lh, 5);
    for (int i = 0; i < NRAND; i++) {
        assert_true(y2[i] >= -2.0f && y2[i] < 3.0f);
        assert_true(fabs((double)y2[i] - (-2.0 + 5.0 * y[i])) < 1e-6);
    }

    /* normal: the documented stream, roughly N(0, 1) */
    RUN_OK("core::normal", NULL, 0, out, 1, at, 3);
    double m = 0, sq = 0;
    for (int i = 0; i < NRAND; i++) {
        assert_true(y[i] == strata_philox_normal(42, 0, (uint64_t)i));
        m += y[i];
        sq += (double)y[i] * y[i];
    }
    m /= NRAND;
    assert_true(fabs(m) < 0.1);
    assert_true(fabs(sq / NRAND - m * m - 1.0) < 0.1);
    strata_attr ms[] = {strata_attr_ints("shape", shape, 1), strata_attr_int("seed", 42), strata_attr_int("offset", 0),
                        strata_attr_float("mean", 3), strata_attr_float("std", 2)};
    RUN_OK("core::normal", NULL, 0, out2, 1, ms, 5);
    for (int i = 0; i < NRAND; i++)
        assert_true(fabs((double)y2[i] - (3.0 + 2.0 * y[i])) < 1e-5);
}

static void test_dropout(void **state)
{
    (void)state;
    static float x[NRAND], y[NRAND], mask[NRAND];
    for (int i = 0; i < NRAND; i++)
        x[i] = (float)(i % 7) - 3.0f;
    const int64_t shape[] = {NRAND};
    strata_tensor_desc in[] = {f32(x, 1, shape)}, out[] = {f32(y, 1, shape), f32(mask, 1, shape)};
    strata_attr at[] = {strata_attr_float("p", 0.25), strata_attr_int("seed", 9), strata_attr_int("offset", 3)};
    poison(y, NRAND);
    poison(mask, NRAND);
    RUN_OK("core::dropout", in, 1, out, 2, at, 3);
    const float kept = (float)(1.0 / 0.75);
    int n_kept = 0;
    for (int i = 0; i < NRAND; i++) {
        int keep = strata_philox_uniform(9, 3, (uint64_t)i) >= 0.25f;
        assert_true(mask[i] == (keep ? kept : 0.0f));
        assert_true(y[i] == x[i] * mask[i]);
        n_kept += keep;
    }
    assert_true(fabs((double)n_kept / NRAND - 0.75) < 0.03);

    strata_attr bad[] = {strata_attr_float("p", 1.5)};
    expect_error(run("core::dropout", in, 1, out, 2, bad, 1), STRATA_E_INVALID, "1.5");
}

/* ======================================================================= */
/* Optimizer updates (outputs alias inputs, as the core calls them)        */
/* ======================================================================= */

static void sgd_case(const strata_attr *at, int n_at, const double *want_p, const double *want_buf)
{
    float p[] = {1, 2}, g[] = {0.5f, -1}, buf[] = {0.1f, 0.2f};
    strata_tensor_desc in[] = {f32(p, 1, SH(2)), f32(g, 1, SH(2)), f32(buf, 1, SH(2))};
    strata_tensor_desc out[] = {in[0], in[2]};
    RUN_OK("core::sgd_step", in, 3, out, 2, at, n_at);
    expect_near(p, want_p, 2, TOL);
    expect_near(buf, want_buf, 2, TOL);
}

static void test_sgd(void **state)
{
    (void)state;
    /* g' = g + 0.01 p = (0.51, -0.98); buf = 0.9 buf + g' = (0.6, -0.8) */
    strata_attr base[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentum", 0.9),
                          strata_attr_float("dampening", 0), strata_attr_float("weight_decay", 0.01),
                          strata_attr_int("nesterov", 0), strata_attr_int("first", 0)};
    sgd_case(base, 6, (const double[]){0.94, 2.08}, (const double[]){0.6, -0.8});

    /* nesterov: g = g' + 0.9 buf = (1.05, -1.7) */
    base[4] = strata_attr_int("nesterov", 1);
    sgd_case(base, 6, (const double[]){0.895, 2.17}, (const double[]){0.6, -0.8});

    /* first step: buf = g' */
    base[4] = strata_attr_int("nesterov", 0);
    base[5] = strata_attr_int("first", 1);
    sgd_case(base, 6, (const double[]){0.949, 2.098}, (const double[]){0.51, -0.98});

    /* no momentum: buf untouched */
    strata_attr plain[] = {strata_attr_float("lr", 0.1), strata_attr_float("weight_decay", 0.01)};
    sgd_case(plain, 2, (const double[]){0.949, 2.098}, (const double[]){0.1, 0.2});
}

static void test_adam(void **state)
{
    (void)state;
    /* t = 2, L2 decay: g' = -0.8, m = 0.01, v = 0.0163,
     * p = 2 - 0.01/0.19 * 0.01 / (sqrt(0.0163)/sqrt(0.0199) + 1e-8) */
    float p[] = {2}, g[] = {-1}, m[] = {0.1f}, v[] = {0.01f};
    strata_tensor_desc in[] = {f32(p, 1, SH(1)), f32(g, 1, SH(1)), f32(m, 1, SH(1)), f32(v, 1, SH(1))};
    strata_tensor_desc out[] = {in[0], in[2], in[3]};
    strata_attr at[] = {strata_attr_float("lr", 0.01),          strata_attr_float("beta1", 0.9),
                        strata_attr_float("beta2", 0.99),       strata_attr_float("eps", 1e-8),
                        strata_attr_float("weight_decay", 0.1), strata_attr_int("decoupled", 0),
                        strata_attr_int("step", 2)};
    RUN_OK("core::adam_step", in, 4, out, 3, at, 7);
    expect_near(p, (const double[]){1.9994184606184626}, 1, TOL);
    expect_near(m, (const double[]){0.01}, 1, 1e-5);
    expect_near(v, (const double[]){0.0163}, 1, 1e-5);

    /* AdamW: p = 2 (1 - 0.001) = 1.998, then m = -0.01, v = 0.0199 */
    p[0] = 2;
    m[0] = 0.1f;
    v[0] = 0.01f;
    at[5] = strata_attr_int("decoupled", 1);
    RUN_OK("core::adam_step", in, 4, out, 3, at, 7);
    expect_near(p, (const double[]){1.9985263157842106}, 1, TOL);
    expect_near(m, (const double[]){-0.01}, 1, 1e-5);
    expect_near(v, (const double[]){0.0199}, 1, 1e-5);

    strata_attr bad[] = {strata_attr_int("step", 0)};
    expect_error(run("core::adam_step", in, 4, out, 3, bad, 1), STRATA_E_INVALID, "step 0");
}

static void test_rmsprop(void **state)
{
    (void)state;
    /* sq = 0.9 0.1 + 0.1 0.25 = 0.115; d = sqrt(0.115) + 1e-8;
     * momentum: buf = 0.5 0.2 + 0.5 / d; p = 1 - 0.01 buf */
    float p[] = {1}, g[] = {0.5f}, sq[] = {0.1f}, buf[] = {0.2f};
    strata_tensor_desc in[] = {f32(p, 1, SH(1)), f32(g, 1, SH(1)), f32(sq, 1, SH(1)), f32(buf, 1, SH(1))};
    strata_tensor_desc out[] = {in[0], in[2], in[3]};
    strata_attr at[] = {strata_attr_float("lr", 0.01), strata_attr_float("alpha", 0.9), strata_attr_float("eps", 1e-8),
                        strata_attr_float("weight_decay", 0), strata_attr_float("momentum", 0.5)};
    RUN_OK("core::rmsprop_step", in, 4, out, 3, at, 5);
    expect_near(p, (const double[]){0.9842558048192929}, 1, TOL);
    expect_near(sq, (const double[]){0.115}, 1, TOL);
    expect_near(buf, (const double[]){1.574419518070712}, 1, TOL);

    p[0] = 1;
    sq[0] = 0.1f;
    buf[0] = 0.2f;
    at[4] = strata_attr_float("momentum", 0);
    RUN_OK("core::rmsprop_step", in, 4, out, 3, at, 5);
    expect_near(p, (const double[]){0.9852558048192929}, 1, TOL);
    expect_near(buf, (const double[]){0.2}, 1, TOL);
}

static void test_adagrad(void **state)
{
    (void)state;
    /* t = 3: clr = 0.1 / (1 + 2 0.5) = 0.05; sum = 1 + 4 = 5; p = 1 - 0.05 2 / (sqrt 5 + 1e-10) */
    float p[] = {1}, g[] = {2}, sum[] = {1};
    strata_tensor_desc in[] = {f32(p, 1, SH(1)), f32(g, 1, SH(1)), f32(sum, 1, SH(1))};
    strata_tensor_desc out[] = {in[0], in[2]};
    strata_attr at[] = {strata_attr_float("lr", 0.1), strata_attr_float("lr_decay", 0.5),
                        strata_attr_float("weight_decay", 0), strata_attr_float("eps", 1e-10),
                        strata_attr_int("step", 3)};
    RUN_OK("core::adagrad_step", in, 3, out, 2, at, 5);
    expect_near(p, (const double[]){1 - 0.1 / sqrt(5.0)}, 1, TOL);
    expect_near(sum, (const double[]){5}, 1, 0);
}

/* ======================================================================= */
/* Misuse                                                                  */
/* ======================================================================= */

static void test_arity_errors(void **state)
{
    (void)state;
    float a[] = {1}, y[1];
    strata_tensor_desc in[] = {f32(a, 1, SH(1))}, out[] = {f32(y, 1, SH(1))};
    expect_error(run("core::add", in, 1, out, 1, NULL, 0), STRATA_E_INVALID, "expected 2 inputs");
    expect_error(run("core::relu", in, 1, out, 0, NULL, 0), STRATA_E_INVALID, "outputs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_add_broadcast),
        cmocka_unit_test(test_div),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_eltwise_backward),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_max_backward),
        cmocka_unit_test(test_max_nan),
        cmocka_unit_test(test_sum_to_shape),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_bce_with_logits),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_slice_backward),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_uniform_normal),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_arity_errors),
    };
    return cmocka_run_group_tests(tests, setup_module, teardown_module);
}
