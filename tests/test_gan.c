/*
 * test_gan.c - the gan plugin (plugins/gan, docs/gan.md), loaded from this
 * build tree, through the public API only:
 *
 *   - gan::d_loss and gan::g_loss of every kind against the formulas written
 *     out here in double, and finite-difference gradient checks of both
 *     inputs of each;
 *   - kind "wgan_gp" refused with STRATA_E_UNSUPPORTED and a message that
 *     says why (double backward) and what to use instead;
 *   - gan::ema_update in place (outputs provided) against its formula;
 *   - the unflatten layer: values, shape and gradients;
 *   - sn_linear and sn_conv2d: the output against W / sigma with sigma from
 *     the stored u (eval), gradients with u fixed (eval), u updated in
 *     training only, and sigma converging to the largest singular value
 *     (a known 2x2 matrix; random matrices against a power iteration here);
 *   - bad input: unknown kind, wrong shapes and dtypes, decay out of range,
 *     unflatten size mismatch: the status and a message naming the op or
 *     layer and the values.
 *
 * Everything runs on ref with small shapes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

static strata_runtime *g_rt;
static strata_device *g_dev;

#define I64(name, v) strata_attr_int(name, v)
#define STR(name, v) strata_attr_string(name, v)

static const char *const k_kinds[] = {"minimax", "non_saturating", "least_squares", "hinge", "wasserstein"};
#define N_KINDS ((int)(sizeof k_kinds / sizeof k_kinds[0]))

static int setup(void **state)
{
    (void)state;
    gc_setup(&g_rt, &g_dev);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gc_teardown(&g_rt);
    return 0;
}

static void test_plugin_loaded(void **state)
{
    (void)state;
    gc_assert_plugin_from_build_tree("gan");
    gc_assert_plugin_from_build_tree("conv"); /* sn_conv2d computes with conv::conv2d */
}

/* ======================================================================= */
/* Losses                                                                  */
/* ======================================================================= */

/* Logits of @p n elements in [-1.5, 1.5], kept 0.05 away from +-1 (the kinks
 * of the hinge loss) so finite differences of step 1e-2 see no kink. */
static void logit_data(float *d, int64_t n, uint32_t seed)
{
    fill_data(d, n, D_ANY, seed);
    for (int64_t i = 0; i < n; i++)
        if (fabs(fabs(d[i]) - 1.0) < 0.05)
            d[i] += 0.1f;
}

static strata_tensor *logits(uint32_t seed, const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    float *d = malloc(sizeof(float) * (size_t)n);
    assert_non_null(d);
    logit_data(d, n, seed);
    strata_tensor *t = tf(d, shape, ndim);
    free(d);
    return t;
}

static double softplus(double t)
{
    return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
}

static double sigmoid(double t)
{
    return 1.0 / (1.0 + exp(-t));
}

/* The losses written out from the papers' formulas (E = mean). */
static double d_loss_ref(const char *kind, const float *r, int64_t nr, const float *f, int64_t nf)
{
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < nr; i++) {
        double x = r[i];
        if (!strcmp(kind, "minimax") || !strcmp(kind, "non_saturating"))
            a += -log(sigmoid(x)); /* -log D(x) */
        else if (!strcmp(kind, "least_squares"))
            a += 0.5 * (x - 1.0) * (x - 1.0);
        else if (!strcmp(kind, "hinge"))
            a += fmax(0.0, 1.0 - x);
        else
            a += -x;
    }
    for (int64_t i = 0; i < nf; i++) {
        double x = f[i];
        if (!strcmp(kind, "minimax") || !strcmp(kind, "non_saturating"))
            b += -log(1.0 - sigmoid(x)); /* -log(1 - D(G(z))) */
        else if (!strcmp(kind, "least_squares"))
            b += 0.5 * x * x;
        else if (!strcmp(kind, "hinge"))
            b += fmax(0.0, 1.0 + x);
        else
            b += x;
    }
    return a / (double)nr + b / (double)nf;
}

static double g_loss_ref(const char *kind, const float *f, int64_t nf)
{
    double a = 0.0;
    for (int64_t i = 0; i < nf; i++) {
        double x = f[i];
        if (!strcmp(kind, "minimax"))
            a += log(1.0 - sigmoid(x));
        else if (!strcmp(kind, "non_saturating"))
            a += -log(sigmoid(x));
        else if (!strcmp(kind, "least_squares"))
            a += 0.5 * (x - 1.0) * (x - 1.0);
        else
            a += -x; /* hinge, wasserstein */
    }
    return a / (double)nf;
}

static void test_loss_values(void **state)
{
    (void)state;
    /* real (3, 2), fake (4, 2), with large logits where a naive log(sigmoid) would lose precision */
    float r[6], f[8];
    logit_data(r, 6, 11);
    logit_data(f, 8, 12);
    r[0] = 12.0f, f[1] = -14.0f, f[2] = 9.0f;
    strata_tensor *rt = tf(r, SHAPE(3, 2)), *ft = tf(f, SHAPE(4, 2));
    for (int k = 0; k < N_KINDS; k++) {
        strata_attr at = STR("kind", k_kinds[k]);
        strata_tensor *d = NULL, *g = NULL;
        ST_OK(strata_op_call(g_rt, "gan::d_loss", (strata_tensor *[]){rt, ft}, 2, &at, 1, &d, 1));
        ST_OK(strata_op_call(g_rt, "gan::g_loss", &ft, 1, &at, 1, &g, 1));
        assert_int_equal(strata_tensor_ndim(d), 0);
        assert_int_equal(strata_tensor_ndim(g), 0);
        char what[64];
        snprintf(what, sizeof what, "d_loss %s", k_kinds[k]);
        assert_close_f32(d, (const float[]){(float)d_loss_ref(k_kinds[k], r, 6, f, 8)}, 1, 1e-5, what);
        snprintf(what, sizeof what, "g_loss %s", k_kinds[k]);
        assert_close_f32(g, (const float[]){(float)g_loss_ref(k_kinds[k], f, 8)}, 1, 1e-5, what);
        strata_tensor_release(d);
        strata_tensor_release(g);
    }
    /* the default kind is non_saturating */
    strata_tensor *g = NULL;
    ST_OK(strata_op_call(g_rt, "gan::g_loss", &ft, 1, NULL, 0, &g, 1));
    assert_close_f32(g, (const float[]){(float)g_loss_ref("non_saturating", f, 8)}, 1, 1e-5, "g_loss default");
    strata_tensor_release(g);
    /* minimax's generator loss is log(1 - D(G(z))) = -softplus(f): a spot value */
    float one[1] = {0.0f};
    strata_tensor *z = tf(one, SHAPE(1, 1));
    ST_OK(strata_op_call(g_rt, "gan::g_loss", &z, 1, (const strata_attr[]){STR("kind", "minimax")}, 1, &g, 1));
    assert_close_f32(g, (const float[]){(float)-softplus(0.0)}, 1, 1e-6, "minimax g_loss at 0 = log(1/2)");
    strata_tensor_release(g);
    strata_tensor_release(z);
    strata_tensor_release(rt);
    strata_tensor_release(ft);
}

static void test_loss_grads(void **state)
{
    (void)state;
    int bad = 0;
    for (int k = 0; k < N_KINDS; k++) {
        char what[96];
        strata_attr at = STR("kind", k_kinds[k]);
        snprintf(what, sizeof what, "gan::d_loss %s, real (3, 2), fake (5, 2)", k_kinds[k]);
        bad += op2(what, "gan::d_loss", logits(20 + (uint32_t)k, SHAPE(3, 2)), logits(40 + (uint32_t)k, SHAPE(5, 2)),
                   &at, 1);
        snprintf(what, sizeof what, "gan::d_loss %s, real (4,), fake (2,)", k_kinds[k]);
        bad += op2(what, "gan::d_loss", logits(60 + (uint32_t)k, SHAPE(4)), logits(80 + (uint32_t)k, SHAPE(2)), &at, 1);
        snprintf(what, sizeof what, "gan::g_loss %s, fake (3, 1, 2)", k_kinds[k]);
        bad += op1(what, "gan::g_loss", logits(100 + (uint32_t)k, SHAPE(3, 1, 2)), &at, 1);
    }
    ASSERT_GC_OK(bad);
}

static void test_wgan_gp_refused(void **state)
{
    (void)state;
    strata_tensor *r = logits(1, SHAPE(2, 1)), *f = logits(2, SHAPE(2, 1)), *y = NULL;
    strata_attr at = STR("kind", "wgan_gp");
    strata_clear_error();
    assert_int_equal(strata_op_call(g_rt, "gan::d_loss", (strata_tensor *[]){r, f}, 2, &at, 1, &y, 1),
                     STRATA_E_UNSUPPORTED);
    assert_null(y);
    tu_assert_error_contains("gan::d_loss");
    tu_assert_error_contains("gradient penalty");
    tu_assert_error_contains("double backward");
    tu_assert_error_contains("backward runs unrecorded");
    tu_assert_error_contains("\"wasserstein\" with spectral normalisation");
    tu_assert_error_contains("\"hinge\"");
    assert_int_equal(strata_op_call(g_rt, "gan::g_loss", &f, 1, &at, 1, &y, 1), STRATA_E_UNSUPPORTED);
    tu_assert_error_contains("gan::g_loss");
    strata_tensor_release(r);
    strata_tensor_release(f);
}

/* ======================================================================= */
/* EMA                                                                     */
/* ======================================================================= */

static strata_status ema_invoke(strata_tensor *ema, strata_tensor *p, const strata_attr *at, int n_at)
{
    strata_op_invocation inv = {0};
    inv.struct_size = sizeof inv;
    inv.op = "gan::ema_update";
    inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
    inv.inputs = (strata_tensor *[]){ema, p};
    inv.n_inputs = 2;
    inv.attrs = at;
    inv.n_attrs = n_at;
    inv.outputs = &ema;
    inv.n_outputs = 1;
    return strata_op_invoke(g_rt, &inv);
}

static void test_ema_values(void **state)
{
    (void)state;
    static const double decays[] = {0.9, 0.999, 0.0, 1.0, 0.5};
    for (size_t d = 0; d < sizeof decays / sizeof decays[0]; d++) {
        float e0[12], p0[12], want[12];
        fill_data(e0, 12, D_WIDE, 7);
        fill_data(p0, 12, D_WIDE, 8);
        strata_tensor *e = tf(e0, SHAPE(3, 4)), *p = tf(p0, SHAPE(3, 4));
        strata_attr at = strata_attr_float("decay", decays[d]);
        /* two steps in place */
        ST_OK(ema_invoke(e, p, &at, 1));
        ST_OK(ema_invoke(e, p, &at, 1));
        for (int i = 0; i < 12; i++) {
            double x = e0[i];
            for (int s = 0; s < 2; s++)
                x = (double)(float)(decays[d] * x + (1.0 - decays[d]) * p0[i]);
            want[i] = (float)x;
        }
        char what[64];
        snprintf(what, sizeof what, "ema decay %g", decays[d]);
        assert_close_f32(e, want, 12, 1e-6, what);
        assert_close_f32(p, p0, 12, 0.0, "param unchanged by ema_update");
        strata_tensor_release(e);
        strata_tensor_release(p);
    }
    /* decay 1 keeps the ema bit for bit; decay 0 copies the param */
    float e0[3] = {0.1f, -2.5f, 3.0f}, p0[3] = {7.0f, 8.0f, -9.0f};
    strata_tensor *e = tf(e0, SHAPE(3)), *p = tf(p0, SHAPE(3));
    ST_OK(ema_invoke(e, p, (const strata_attr[]){strata_attr_float("decay", 1.0)}, 1));
    assert_close_f32(e, e0, 3, 0.0, "ema decay 1");
    ST_OK(ema_invoke(e, p, (const strata_attr[]){strata_attr_float("decay", 0.0)}, 1));
    assert_close_f32(e, p0, 3, 0.0, "ema decay 0");
    /* not recorded: a param that requires grad gives an ema that does not */
    ST_OK(strata_tensor_set_requires_grad(p, 1));
    strata_tensor *y = NULL;
    ST_OK(strata_op_call(g_rt, "gan::ema_update", (strata_tensor *[]){e, p}, 2,
                         (const strata_attr[]){strata_attr_float("decay", 0.5)}, 1, &y, 1));
    assert_close_f32(y, p0, 3, 0.0, "ema as a new tensor");
    strata_tensor_release(y);
    strata_tensor_release(e);
    strata_tensor_release(p);
}

/* ======================================================================= */
/* unflatten                                                               */
/* ======================================================================= */

static void test_unflatten(void **state)
{
    (void)state;
    strata_model *m = model_new();
    model_input(m, "z", STRATA_F32, SHAPE(12));
    model_layer(m, "unflatten", "u", ATTRS(strata_attr_ints("shape", (const int64_t[]){3, 2, 2}, 3)), "z", NULL);
    float zv[24];
    fill_data(zv, 24, D_ANY, 3);
    strata_tensor *z = tf(zv, SHAPE(2, 12)), *y = NULL;
    ST_OK(strata_model_forward(m, &z, 1, &y, 1, 1));
    assert_int_equal(strata_tensor_ndim(y), 4);
    const int64_t *ys = strata_tensor_shape(y);
    assert_true(ys[0] == 2 && ys[1] == 3 && ys[2] == 2 && ys[3] == 2);
    assert_close_f32(y, zv, 24, 0.0, "unflatten values");
    strata_tensor_release(y);
    strata_tensor_release(z);
    strata_model_destroy(m);

    int bad = 0;
    m = model_new();
    model_input(m, "z", STRATA_F32, SHAPE(12));
    model_layer(m, "unflatten", "u", ATTRS(strata_attr_ints("shape", (const int64_t[]){3, 4}, 2)), "z", NULL);
    bad +=
        run_model("layer unflatten (12,) -> (3, 4), batch 2", m, (strata_tensor *[]){tv(D_ANY, 4, SHAPE(2, 12))}, 1, 1);
    /* (4, 3) -> (2, 6) behind a linear: the gradient reaches the weight through the view */
    m = model_new();
    model_input(m, "z", STRATA_F32, SHAPE(4, 3));
    model_layer(m, "unflatten", "u", ATTRS(strata_attr_ints("shape", (const int64_t[]){2, 6}, 2)), "z", NULL);
    model_layer(m, "linear", "fc", ATTRS(I64("out_features", 2)), "u", NULL);
    bad += run_model("layer unflatten (4, 3) -> (2, 6) then linear, batch 3", m,
                     (strata_tensor *[]){tv(D_ANY, 5, SHAPE(3, 4, 3))}, 1, 1);
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Spectral normalisation                                                  */
/* ======================================================================= */

/* The model's tensor named @p name (parameter or buffer), borrowed. */
static strata_tensor *named(strata_model *m, const char *name)
{
    for (int k = 0; k < strata_model_param_count(m); k++) {
        const char *n = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, k, &n, &t));
        if (!strcmp(n, name))
            return t;
    }
    for (int k = 0; k < strata_model_buffer_count(m); k++) {
        const char *n = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_buffer(m, k, &n, &t));
        if (!strcmp(n, name))
            return t;
    }
    fail_msg("model has no tensor named %s", name);
    return NULL;
}

static void normalize(double *a, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += a[i] * a[i];
    s = sqrt(s);
    for (int i = 0; i < n; i++)
        a[i] /= s;
}

/* sigma = u^T W v with v = normalize(W^T u): the eval-mode estimate from the stored u. W (O, R). */
static double sigma_from_u(const float *W, const float *u, int O, int R)
{
    double v[64];
    assert_true(R <= 64);
    for (int j = 0; j < R; j++) {
        v[j] = 0.0;
        for (int i = 0; i < O; i++)
            v[j] += (double)W[i * R + j] * u[i];
    }
    normalize(v, R);
    double s = 0.0;
    for (int i = 0; i < O; i++)
        for (int j = 0; j < R; j++)
            s += u[i] * (double)W[i * R + j] * v[j];
    return s;
}

/* The largest singular value of W (O, R): power iteration on W^T W, run to convergence. */
static double spectral_norm_ref(const float *W, int O, int R)
{
    double v[64], w[64];
    assert_true(R <= 64 && O <= 64);
    for (int j = 0; j < R; j++)
        v[j] = 1.0 + 0.1 * j;
    normalize(v, R);
    double lambda = 0.0;
    for (int it = 0; it < 5000; it++) {
        double t[64];
        for (int i = 0; i < O; i++) {
            t[i] = 0.0;
            for (int j = 0; j < R; j++)
                t[i] += (double)W[i * R + j] * v[j];
        }
        for (int j = 0; j < R; j++) {
            w[j] = 0.0;
            for (int i = 0; i < O; i++)
                w[j] += (double)W[i * R + j] * t[i];
        }
        lambda = 0.0;
        for (int j = 0; j < R; j++)
            lambda += w[j] * w[j];
        lambda = sqrt(lambda); /* ||W^T W v|| -> sigma^2 */
        for (int j = 0; j < R; j++)
            v[j] = w[j] / lambda;
    }
    return sqrt(lambda);
}

static float *tensor_values(strata_tensor *t)
{
    int64_t n = 0;
    return read_f32(t, &n);
}

/* sn_linear in eval: y = x (W / sigma)^T + b with sigma from the stored u; u unchanged. */
static void test_sn_linear_values(void **state)
{
    (void)state;
    enum { IN = 5, OUT = 4, B = 3 };
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(IN));
    model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", OUT)), "x", NULL);
    assert_int_equal(strata_model_param_count(m), 2); /* weight, bias */
    float *W = tensor_values(named(m, "d.weight")), *b = tensor_values(named(m, "d.bias"));
    float *u = tensor_values(named(m, "d.u"));
    double un = 0.0;
    for (int i = 0; i < OUT; i++)
        un += (double)u[i] * u[i];
    assert_true(fabs(un - 1.0) < 1e-5); /* u starts as a unit vector */
    float xv[B * IN], want[B * OUT];
    fill_data(xv, B * IN, D_ANY, 9);
    double sigma = sigma_from_u(W, u, OUT, IN);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b[o];
            for (int i = 0; i < IN; i++)
                s += xv[n * IN + i] * (double)W[o * IN + i] / sigma;
            want[n * OUT + o] = (float)s;
        }
    strata_tensor *x = tf(xv, SHAPE(B, IN)), *y = NULL;
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 0));
    assert_close_f32(y, want, B * OUT, 1e-5, "sn_linear eval");
    assert_close_f32(named(m, "d.u"), u, OUT, 0.0, "u is not updated in eval");
    strata_tensor_release(y);
    /* one training forward: u = normalize(W normalize(W^T u)), written back */
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
    double v[IN], u1[OUT];
    for (int j = 0; j < IN; j++) {
        v[j] = 0.0;
        for (int i = 0; i < OUT; i++)
            v[j] += (double)W[i * IN + j] * u[i];
    }
    normalize(v, IN);
    for (int i = 0; i < OUT; i++) {
        u1[i] = 0.0;
        for (int j = 0; j < IN; j++)
            u1[i] += (double)W[i * IN + j] * v[j];
    }
    normalize(u1, OUT);
    float u1f[OUT];
    for (int i = 0; i < OUT; i++)
        u1f[i] = (float)u1[i];
    assert_close_f32(named(m, "d.u"), u1f, OUT, 1e-6, "u after one training forward");
    double s1 = 0.0; /* training sigma = u1^T W v */
    for (int i = 0; i < OUT; i++)
        for (int j = 0; j < IN; j++)
            s1 += u1[i] * (double)W[i * IN + j] * v[j];
    for (int n = 0; n < B; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b[o];
            for (int i = 0; i < IN; i++)
                s += xv[n * IN + i] * (double)W[o * IN + i] / s1;
            want[n * OUT + o] = (float)s;
        }
    assert_close_f32(y, want, B * OUT, 1e-5, "sn_linear training");
    strata_tensor_release(y);
    strata_tensor_release(x);
    free(W);
    free(b);
    free(u);
    strata_model_destroy(m);
}

/* Gradients with u fixed (eval): d/dW goes through sigma with u and v constant,
 * which in eval is also the exact derivative (v = W^T u / ||W^T u||). */
static void test_sn_grads(void **state)
{
    (void)state;
    int bad = 0;
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(5));
    model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", 4)), "x", NULL);
    bad += run_model("layer sn_linear 5->4 (eval: u fixed), batch 3", m,
                     (strata_tensor *[]){tv(D_ANY, 21, SHAPE(3, 5))}, 1, 0);
    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(2, 3));
    model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", 2), I64("bias", 0), I64("n_power_iterations", 3)), "x",
                NULL);
    bad += run_model("layer sn_linear (2, 3)->(2, 2) no bias (eval), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 22, SHAPE(2, 2, 3))}, 1, 0);
    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(2, 5, 4));
    model_layer(m, "sn_conv2d", "c",
                ATTRS(I64("out_channels", 3), strata_attr_ints("kernel_size", (const int64_t[]){3}, 1),
                      strata_attr_ints("stride", (const int64_t[]){2, 1}, 2),
                      strata_attr_ints("padding", (const int64_t[]){1}, 1)),
                "x", NULL);
    bad += run_model("layer sn_conv2d 2->3 kernel 3 stride (2, 1) padding 1 (eval), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 23, SHAPE(2, 2, 5, 4))}, 1, 0);
    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(3, 4, 4));
    model_layer(
        m, "sn_conv2d", "c",
        ATTRS(I64("out_channels", 2), strata_attr_ints("kernel_size", (const int64_t[]){2, 3}, 2), I64("bias", 0)), "x",
        NULL);
    bad += run_model("layer sn_conv2d 3->2 kernel (2, 3) no bias (eval), batch 1", m,
                     (strata_tensor *[]){tv(D_ANY, 24, SHAPE(1, 3, 4, 4))}, 1, 0);
    ASSERT_GC_OK(bad);
}

/* Training: the gradient treats the power iteration's u' and v as constants
 * (the paper; PyTorch's spectral_norm). For L = sum(y .* r), y = x (W / s)^T,
 * s = u'^T W v and G = r^T x (OUT, IN):
 *     dL/dW = G / s - (sum(G .* W) / s^2) u' v^T. */
static void test_sn_training_grad(void **state)
{
    (void)state;
    enum { IN = 4, OUT = 3, B = 5 };
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(IN));
    model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", OUT), I64("bias", 0)), "x", NULL);
    float *W = tensor_values(named(m, "d.weight")), *u0 = tensor_values(named(m, "d.u"));
    double v[IN], u[OUT], s = 0.0;
    for (int j = 0; j < IN; j++) {
        v[j] = 0.0;
        for (int i = 0; i < OUT; i++)
            v[j] += (double)W[i * IN + j] * u0[i];
    }
    normalize(v, IN);
    for (int i = 0; i < OUT; i++) {
        u[i] = 0.0;
        for (int j = 0; j < IN; j++)
            u[i] += (double)W[i * IN + j] * v[j];
    }
    normalize(u, OUT);
    for (int i = 0; i < OUT; i++)
        for (int j = 0; j < IN; j++)
            s += u[i] * (double)W[i * IN + j] * v[j];
    float xv[B * IN], rv[B * OUT];
    fill_data(xv, B * IN, D_ANY, 41);
    fill_data(rv, B * OUT, D_ANY, 42);
    strata_graph *graph = strata_runtime_graph(g_rt);
    strata_graph_reset(graph);
    strata_model_zero_grad(m);
    strata_tensor *x = tf(xv, SHAPE(B, IN)), *r = tf(rv, SHAPE(B, OUT)), *y = NULL, *yr = NULL, *loss = NULL;
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
    ST_OK(strata_op_call(g_rt, "core::mul", (strata_tensor *[]){y, r}, 2, NULL, 0, &yr, 1));
    ST_OK(strata_op_call(g_rt, "core::sum", &yr, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(graph, loss));
    double G[OUT * IN], gw = 0.0;
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) {
            G[o * IN + i] = 0.0;
            for (int n = 0; n < B; n++)
                G[o * IN + i] += (double)rv[n * OUT + o] * xv[n * IN + i];
            gw += G[o * IN + i] * W[o * IN + i];
        }
    float want[OUT * IN];
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++)
            want[o * IN + i] = (float)(G[o * IN + i] / s - gw / (s * s) * u[o] * v[i]);
    const strata_tensor *gt = strata_tensor_grad(named(m, "d.weight"));
    assert_non_null(gt);
    assert_close_f32((strata_tensor *)gt, want, OUT * IN, 1e-4, "sn_linear training dL/dW (u', v constant)");
    strata_graph_reset(graph);
    strata_tensor_release(loss);
    strata_tensor_release(yr);
    strata_tensor_release(y);
    strata_tensor_release(r);
    strata_tensor_release(x);
    free(W);
    free(u0);
    strata_model_destroy(m);
}

/* Many training forwards of sn_linear (no bias) on the identity give y = (W / sigma)^T:
 * sigma must reach the largest singular value. */
static double trained_sigma(strata_model *m, const float *W, int O, int R, int steps)
{
    float eye[64 * 64] = {0};
    for (int i = 0; i < R; i++)
        eye[i * R + i] = 1.0f;
    strata_tensor *x = tf(eye, (const int64_t[]){R, R}, 2), *y = NULL;
    for (int s = 0; s < steps; s++) {
        strata_tensor_release(y);
        y = NULL;
        ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
    }
    float *yv = tensor_values(y); /* y[i][o] = W[o][i] / sigma */
    int bi = 0, bo = 0;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < R; i++)
            if (fabsf(W[o * R + i]) > fabsf(W[bo * R + bi]))
                bo = o, bi = i;
    double sigma = (double)W[bo * R + bi] / (double)yv[bi * O + bo];
    free(yv);
    strata_tensor_release(y);
    strata_tensor_release(x);
    return sigma;
}

static void test_sigma_converges(void **state)
{
    (void)state;
    /* W = [[3, 0], [4, 5]]: W^T W = [[25, 20], [20, 25]], eigenvalues 45 and 5, sigma = sqrt(45) */
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(2));
    model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", 2), I64("bias", 0)), "x", NULL);
    const float W2[4] = {3.0f, 0.0f, 4.0f, 5.0f};
    ST_OK(strata_tensor_write(named(m, "d.weight"), W2, sizeof W2));
    double s = trained_sigma(m, W2, 2, 2, 30);
    if (fabs(s - sqrt(45.0)) > 1e-4 * sqrt(45.0))
        fail_msg("sigma of [[3, 0], [4, 5]]: got %.8g, expected sqrt(45) = %.8g", s, sqrt(45.0));
    strata_model_destroy(m);

    /* random (O, R) matrices against the power iteration written here */
    static const int shapes[][2] = {{4, 3}, {3, 7}, {6, 6}};
    for (int k = 0; k < 3; k++) {
        int O = shapes[k][0], R = shapes[k][1];
        m = model_new();
        model_input(m, "x", STRATA_F32, (const int64_t[]){R}, 1);
        model_layer(m, "sn_linear", "d", ATTRS(I64("out_features", O), I64("bias", 0), I64("n_power_iterations", 5)),
                    "x", NULL);
        float *W = tensor_values(named(m, "d.weight"));
        double want = spectral_norm_ref(W, O, R), got = trained_sigma(m, W, O, R, 200);
        if (fabs(got - want) > 1e-4 * want)
            fail_msg("sigma of a random (%d, %d) matrix: got %.8g, expected %.8g", O, R, got, want);
        /* eval afterwards: the stored u gives the same sigma */
        float *u = tensor_values(named(m, "d.u"));
        double ev = sigma_from_u(W, u, O, R);
        if (fabs(ev - want) > 1e-4 * want)
            fail_msg("eval sigma of a random (%d, %d) matrix: got %.8g, expected %.8g", O, R, ev, want);
        free(u);
        free(W);
        strata_model_destroy(m);
    }
}

/* sn_conv2d: W (OC, C, KH, KW) is normalised as the matrix (OC, C KH KW):
 * after convergence the eval output is conv2d(x, W / sigma) + b. */
static void test_sn_conv2d_sigma(void **state)
{
    (void)state;
    enum { C = 2, OC = 3, K = 3, H = 5 };
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(C, H, H));
    model_layer(m, "sn_conv2d", "c",
                ATTRS(I64("out_channels", OC), strata_attr_ints("kernel_size", (const int64_t[]){K}, 1),
                      strata_attr_ints("padding", (const int64_t[]){1}, 1)),
                "x", NULL);
    strata_tensor *x = tv(D_ANY, 31, SHAPE(2, C, H, H)), *y = NULL;
    for (int s = 0; s < 100; s++) {
        ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
        strata_tensor_release(y);
        y = NULL;
    }
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 0));
    const int64_t *ys = strata_tensor_shape(y);
    assert_true(ys[0] == 2 && ys[1] == OC && ys[2] == H && ys[3] == H);
    float *W = tensor_values(named(m, "c.weight"));
    double sigma = spectral_norm_ref(W, OC, C * K * K);
    float Ws[OC * C * K * K];
    for (int i = 0; i < OC * C * K * K; i++)
        Ws[i] = (float)(W[i] / sigma);
    strata_tensor *wt = tf(Ws, SHAPE(OC, C, K, K)), *yr = NULL;
    ST_OK(strata_op_call(g_rt, "conv::conv2d", (strata_tensor *[]){x, wt, named(m, "c.bias")}, 3,
                         ATTRS(I64("padding", 1)), &yr, 1));
    float *want = tensor_values(yr);
    assert_close_f32(y, want, 2 * OC * H * H, 1e-4, "sn_conv2d after convergence");
    free(want);
    free(W);
    strata_tensor_release(yr);
    strata_tensor_release(wt);
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_model_destroy(m);
}

/* ======================================================================= */
/* Bad input                                                               */
/* ======================================================================= */

static void test_bad_input(void **state)
{
    (void)state;
    strata_tensor *r = logits(1, SHAPE(3, 2)), *f = logits(2, SHAPE(4, 3)), *f2 = logits(3, SHAPE(4, 2)), *y = NULL;
    strata_clear_error();
    assert_int_equal(strata_op_call(g_rt, "gan::d_loss", (strata_tensor *[]){r, f2}, 2,
                                    (const strata_attr[]){STR("kind", "relativistic")}, 1, &y, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("gan::d_loss");
    tu_assert_error_contains("\"relativistic\"");
    tu_assert_error_contains("minimax, non_saturating, least_squares, hinge, wasserstein");
    assert_int_equal(strata_op_call(g_rt, "gan::g_loss", &f2, 1, (const strata_attr[]){I64("kind", 2)}, 1, &y, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("attribute 'kind' must be a string, got an integer");
    assert_int_equal(strata_op_call(g_rt, "gan::d_loss", (strata_tensor *[]){r, f}, 2, NULL, 0, &y, 1), STRATA_E_SHAPE);
    tu_assert_error_contains("gan::d_loss");
    tu_assert_error_contains("real_logits (input 0) (3, 2)");
    tu_assert_error_contains("fake_logits (input 1) (4, 3)");
    strata_tensor *idx = ti64((const int64_t[]){1, 0}, SHAPE(2));
    assert_int_equal(strata_op_call(g_rt, "gan::g_loss", &idx, 1, NULL, 0, &y, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("fake_logits (input 0) must be f32");
    strata_tensor *empty = NULL;
    ST_OK(strata_tensor_zeros(g_dev, STRATA_F32, 2, (const int64_t[]){0, 1}, &empty));
    assert_int_equal(strata_op_call(g_rt, "gan::d_loss", (strata_tensor *[]){empty, f2}, 2, NULL, 0, &y, 1),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("real_logits (input 0) must be (N, ...) with at least one element, got (0, 1)");
    assert_null(y);

    /* ema_update */
    assert_int_equal(ema_invoke(f2, r, (const strata_attr[]){strata_attr_float("decay", 0.9)}, 1), STRATA_E_SHAPE);
    tu_assert_error_contains("gan::ema_update");
    tu_assert_error_contains("ema (input 0) (4, 2) and param (input 1) (3, 2)");
    strata_tensor *f3 = logits(4, SHAPE(4, 2));
    assert_int_equal(ema_invoke(f2, f3, (const strata_attr[]){strata_attr_float("decay", 1.5)}, 1), STRATA_E_INVALID);
    tu_assert_error_contains("decay must be in [0, 1], got 1.5");
    assert_int_equal(ema_invoke(f2, f3, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("gan::ema_update: attribute 'decay' is required");

    /* layers */
    strata_model *m = model_new();
    model_input(m, "z", STRATA_F32, SHAPE(12));
    const char *in[1] = {"z"};
    strata_clear_error();
    assert_int_equal(strata_model_add_layer(m, "unflatten", "u",
                                            ATTRS(strata_attr_ints("shape", (const int64_t[]){3, 5}, 2)), in, 1),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("layer 'u' (unflatten)");
    tu_assert_error_contains("12 elements per example (shape (12,))");
    tu_assert_error_contains("shape (3, 5) holds 15");
    assert_int_equal(strata_model_add_layer(m, "unflatten", "u",
                                            ATTRS(strata_attr_ints("shape", (const int64_t[]){12, 0}, 2)), in, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("positive sizes");
    /* 4 (2^62 + 3) wraps to 12 in 64 bits, the input's count: refused when built, not at the first forward */
    const int64_t wraps[2] = {4, 4611686018427387907};
    assert_int_equal(strata_model_add_layer(m, "unflatten", "u", ATTRS(strata_attr_ints("shape", wraps, 2)), in, 1),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("shape (4, 4611686018427387907): the product of its sizes overflows");
    assert_int_equal(
        strata_model_add_layer(m, "sn_linear", "d", ATTRS(I64("in_features", 7), I64("out_features", 2)), in, 1),
        STRATA_E_SHAPE);
    tu_assert_error_contains("layer 'd' (sn_linear): in_features is 7 but the input has 12 features");
    assert_int_equal(
        strata_model_add_layer(m, "sn_linear", "d", ATTRS(I64("out_features", 2), I64("n_power_iterations", 0)), in, 1),
        STRATA_E_INVALID);
    tu_assert_error_contains("n_power_iterations must be 1 to 1000, got 0");
    assert_int_equal(strata_model_add_layer(m, "sn_linear", "d",
                                            ATTRS(I64("out_features", 2), I64("n_power_iterations", 1000000000)), in, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("n_power_iterations must be 1 to 1000, got 1000000000");
    /* an infinite eps divided the weight by infinity: a layer of zeros */
    assert_int_equal(strata_model_add_layer(m, "sn_linear", "d",
                                            ATTRS(I64("out_features", 2), strata_attr_float("eps", INFINITY)), in, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("layer 'd' (sn_linear): eps must be a finite number > 0, got inf");
    assert_int_equal(strata_model_add_layer(m, "sn_linear", "d",
                                            ATTRS(I64("out_features", 2), strata_attr_float("eps", 0.0)), in, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("eps must be a finite number > 0, got 0");
    assert_int_equal(
        strata_model_add_layer(m, "sn_conv2d", "c",
                               ATTRS(I64("out_channels", 2), strata_attr_ints("kernel_size", (const int64_t[]){3}, 1)),
                               in, 1),
        STRATA_E_SHAPE);
    tu_assert_error_contains("layer 'c' (sn_conv2d) expects examples of shape (C, H, W), got (12,)");
    strata_model_destroy(m);
    m = model_new();
    model_input(m, "img", STRATA_F32, SHAPE(1, 2, 2));
    const char *img[1] = {"img"};
    assert_int_equal(
        strata_model_add_layer(m, "sn_conv2d", "c",
                               ATTRS(I64("out_channels", 2), strata_attr_ints("kernel_size", (const int64_t[]){3}, 1)),
                               img, 1),
        STRATA_E_SHAPE);
    tu_assert_error_contains("the kernel height 3 is larger than the padded input height 2");
    /* kernel_size: [] said "must be positive ... got kernel_size (-1, -1)", a placeholder */
    assert_int_equal(strata_model_add_layer(m, "sn_conv2d", "c",
                                            ATTRS(I64("out_channels", 2), strata_attr_ints("kernel_size", NULL, 0)),
                                            img, 1),
                     STRATA_E_INVALID);
    tu_assert_error_contains("layer 'c' (sn_conv2d): kernel_size is required (k or [kh, kw]), got an empty list");
    strata_model_destroy(m);

    strata_tensor_release(r);
    strata_tensor_release(f);
    strata_tensor_release(f2);
    strata_tensor_release(f3);
    strata_tensor_release(idx);
    strata_tensor_release(empty);
}

/* A runtime with ref and gan but not conv: sn_conv2d is refused when the
 * model is built, naming the missing op and plugin; sn_linear still works. */
static void test_sn_conv2d_without_conv(void **state)
{
    (void)state;
    strata_runtime *rt = NULL;
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.flags = STRATA_RUNTIME_NO_DISCOVERY;
    ST_OK(strata_runtime_create(&o, &rt));
    ST_OK(strata_plugin_load(rt, tu_build_path("lib/strata/ref.so")));
    ST_OK(strata_plugin_load(rt, tu_build_path("lib/strata/gan.so")));
    strata_device *dev = tu_ref(rt);
    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    ST_OK(strata_model_add_input(m, "img", STRATA_F32, 3, (const int64_t[]){2, 4, 4}));
    ST_OK(strata_model_add_input(m, "v", STRATA_F32, 1, (const int64_t[]){4}));
    const char *img[1] = {"img"}, *v[1] = {"v"};
    strata_clear_error();
    assert_int_equal(strata_model_add_layer(m, "sn_conv2d", "c",
                                            ATTRS(I64("out_channels", 2),
                                                  strata_attr_ints("kernel_size", (const int64_t[]){3}, 1)),
                                            img, 1),
                     STRATA_E_NOT_FOUND);
    tu_assert_error_contains("layer 'c' (sn_conv2d) needs the op conv::conv2d of the conv plugin");
    tu_assert_error_contains("not loaded");
    ST_OK(strata_model_add_layer(m, "sn_linear", "d", ATTRS(I64("out_features", 3)), v, 1));
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loaded),
        cmocka_unit_test(test_loss_values),
        cmocka_unit_test(test_loss_grads),
        cmocka_unit_test(test_wgan_gp_refused),
        cmocka_unit_test(test_ema_values),
        cmocka_unit_test(test_unflatten),
        cmocka_unit_test(test_sn_linear_values),
        cmocka_unit_test(test_sn_grads),
        cmocka_unit_test(test_sn_training_grad),
        cmocka_unit_test(test_sigma_converges),
        cmocka_unit_test(test_sn_conv2d_sigma),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_sn_conv2d_without_conv),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
