/*
 * test_gradcheck.c - finite-difference gradient checks of every
 * differentiable core op and every built-in layer, through the public API
 * only (strata_op_call, strata_model_*, strata_backward, strata_tensor_grad).
 *
 * The checker (gradcheck(), with its data helpers) is in support/gradcheck.c;
 * gradcheck.h describes the method. Defaults: h = 1e-2, tol = 1e-3 (f32
 * forward, double-accumulating ref kernels); every case passes with them
 * (the largest |fd - g| / (1 + |fd|) is printed at the end, about 3e-4).
 * Kinks and curvature are kept away from: relu/leaky_relu/abs inputs satisfy
 * |x| >= 0.2, max inputs are distinct by >= 0.1, log/sqrt/pow inputs are in
 * [0.5, 2], divisors satisfy |b| >= 0.5.
 *
 * Each CMocka test runs all its cases, prints the mismatches of each case
 * (op, variable, element index, fd, analytic; the first 12 and a count) and
 * fails at the end if there was one. test_harness_detects_wrong_gradient
 * shows that a 10% error in a gradient is caught.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

static strata_runtime *g_rt;
static strata_device *g_dev;

/* ======================================================================= */
/* Fixture                                                                 */
/* ======================================================================= */

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

/* ======================================================================= */
/* Forward values (hand-computed)                                          */
/* ======================================================================= */

static void test_forward_values(void **state)
{
    (void)state;
    strata_tensor *x = tf((const float[]){1, 2, 3}, SHAPE(3)), *y = NULL;
    ST_OK(strata_op_call(g_rt, "core::softmax", &x, 1, NOATTRS, &y, 1));
    assert_close_f32(y, (const float[]){0.09003057f, 0.24472847f, 0.66524096f}, 3, 1e-6, "softmax([1,2,3])");
    strata_tensor_release(y);
    ST_OK(strata_op_call(g_rt, "core::log_softmax", &x, 1, NOATTRS, &y, 1));
    assert_close_f32(y, (const float[]){-2.40760596f, -1.40760596f, -0.40760596f}, 3, 1e-6, "log_softmax([1,2,3])");
    strata_tensor_release(y);
    strata_tensor_release(x);

    /* logits [[1,2,3],[1,1,1]], labels [2,0]: losses 0.40760596 and log 3 */
    strata_tensor *lg = tf((const float[]){1, 2, 3, 1, 1, 1}, SHAPE(2, 3));
    strata_tensor *lb = ti64((const int64_t[]){2, 0}, SHAPE(2));
    strata_tensor *in[2] = {lg, lb};
    ST_OK(strata_cross_entropy(g_rt, lg, lb, &y));
    assert_int_equal(strata_tensor_ndim(y), 0);
    assert_close_f32(y, (const float[]){0.75310912f}, 1, 1e-6, "cross_entropy mean");
    strata_tensor_release(y);
    ST_OK(strata_op_call(g_rt, "core::cross_entropy", in, 2, ATTRS(strata_attr_string("reduction", "sum")), &y, 1));
    assert_close_f32(y, (const float[]){1.50621825f}, 1, 1e-6, "cross_entropy sum");
    strata_tensor_release(y);
    ST_OK(strata_op_call(g_rt, "core::cross_entropy", in, 2, ATTRS(strata_attr_string("reduction", "none")), &y, 1));
    assert_close_f32(y, (const float[]){0.40760596f, 1.09861229f}, 2, 1e-6, "cross_entropy none");
    strata_tensor_release(y);
    /* its gradient (mean): (softmax - onehot) / 2 */
    ST_OK(strata_tensor_set_requires_grad(lg, 1));
    ST_OK(strata_cross_entropy(g_rt, lg, lb, &y));
    ST_OK(strata_backward(strata_runtime_graph(g_rt), y));
    assert_close_f32(strata_tensor_grad(lg),
                     (const float[]){0.04501529f, 0.12236424f, -0.16737952f, -0.33333333f, 0.16666667f, 0.16666667f},
                     6, 1e-6, "d cross_entropy / d logits");
    strata_tensor_release(y);
    strata_graph_reset(strata_runtime_graph(g_rt));
    strata_tensor_release(lg);
    strata_tensor_release(lb);

    strata_tensor *a = tf((const float[]){1, 2, 3, 4}, SHAPE(2, 2)), *b = tf((const float[]){5, 6, 7, 8}, SHAPE(2, 2));
    ST_OK(strata_matmul(g_rt, a, b, 0, 0, &y));
    assert_close_f32(y, (const float[]){19, 22, 43, 50}, 4, 0, "[[1,2],[3,4]] @ [[5,6],[7,8]]");
    strata_tensor_release(y);
    ST_OK(strata_matmul(g_rt, a, b, 1, 1, &y)); /* a^T b^T = [[23,31],[34,46]] */
    assert_close_f32(y, (const float[]){23, 31, 34, 46}, 4, 0, "a^T @ b^T");
    strata_tensor_release(y);
    strata_tensor_release(a);
    strata_tensor_release(b);

    /* max with ties: the gradient goes to the first maximum of each group */
    strata_tensor *mx = tf((const float[]){1, 3, 3, 2, 2, 0}, SHAPE(2, 3));
    ST_OK(strata_tensor_set_requires_grad(mx, 1));
    ST_OK(strata_op_call(g_rt, "core::max", &mx, 1, ATTRS(strata_attr_ints("axes", (const int64_t[]){1}, 1)), &y, 1));
    assert_close_f32(y, (const float[]){3, 2}, 2, 0, "max over axis 1");
    strata_tensor *ms = NULL;
    ST_OK(strata_sum_all(g_rt, y, &ms));
    ST_OK(strata_backward(strata_runtime_graph(g_rt), ms));
    assert_close_f32(strata_tensor_grad(mx), (const float[]){0, 1, 0, 1, 0, 0}, 6, 0, "d max / dx with ties");
    strata_tensor_release(ms);
    strata_tensor_release(y);
    strata_graph_reset(strata_runtime_graph(g_rt));
    strata_tensor_release(mx);

    /* bce_with_logits(0, 1) = log 2; gelu(1) = 0.8413447 */
    strata_tensor *z = tf((const float[]){0, 1}, SHAPE(2)), *t = tf((const float[]){1, 0}, SHAPE(2));
    ST_OK(strata_op_call(g_rt, "core::bce_with_logits", (strata_tensor *[]){z, t}, 2,
                         ATTRS(strata_attr_string("reduction", "none")), &y, 1));
    assert_close_f32(y, (const float[]){0.69314718f, 1.31326169f}, 2, 1e-6, "bce_with_logits");
    strata_tensor_release(y);
    ST_OK(strata_op_call(g_rt, "core::gelu", &z, 1, NOATTRS, &y, 1));
    assert_close_f32(y, (const float[]){0.0f, 0.84134475f}, 2, 1e-6, "gelu");
    strata_tensor_release(y);
    strata_tensor_release(z);
    strata_tensor_release(t);
}

/* ======================================================================= */
/* The harness can fail                                                    */
/* ======================================================================= */

/* y = 2x while recording, 2.2x without: the analytic gradient (2 r) is
 * wrong by 10% for the finite difference, so every element must mismatch. */
static strata_status lying_forward(void *user, strata_tensor **outs, int *n_outs)
{
    strata_tensor *x = user;
    double alpha = strata_grad_enabled(g_rt) ? 2.0 : 2.2;
    *n_outs = 1;
    return strata_op_call(g_rt, "core::scale", &x, 1, ATTRS(strata_attr_float("alpha", alpha)), outs, 1);
}

static void test_harness_detects_wrong_gradient(void **state)
{
    (void)state;
    strata_tensor *x = tv(D_ANY, 1, SHAPE(3, 4));
    gc_case c = {.what = "self-test", .vars = {{"x", x}}, .n_vars = 1, .fwd = lying_forward, .user = x, .quiet = 1};
    assert_int_equal(gradcheck(&c), 12);
    strata_tensor_release(x);
}

/* ======================================================================= */
/* Graphs: shared intermediates, accumulation                              */
/* ======================================================================= */

/* t = tanh(x) feeds three nodes: y0 = t * t + t, y1 = exp(t) * x */
static strata_status diamond_forward(void *user, strata_tensor **outs, int *n_outs)
{
    strata_tensor *x = user, *t = NULL, *tt = NULL, *e = NULL;
    ST_OK(strata_tanh(g_rt, x, &t));
    ST_OK(strata_mul(g_rt, t, t, &tt));
    ST_OK(strata_add(g_rt, tt, t, &outs[0]));
    ST_OK(strata_exp(g_rt, t, &e));
    ST_OK(strata_mul(g_rt, e, x, &outs[1]));
    strata_tensor_release(t);
    strata_tensor_release(tt);
    strata_tensor_release(e);
    *n_outs = 2;
    return STRATA_OK;
}

/* y = x[0:2] * x[1:3] along axis 0: two overlapping views of one leaf */
static strata_status overlap_forward(void *user, strata_tensor **outs, int *n_outs)
{
    strata_tensor *x = user, *a = NULL, *b = NULL;
    ST_OK(strata_op_call(g_rt, "core::slice", &x, 1,
                         ATTRS(strata_attr_int("axis", 0), strata_attr_int("start", 0), strata_attr_int("end", 2)), &a,
                         1));
    ST_OK(strata_op_call(g_rt, "core::slice", &x, 1,
                         ATTRS(strata_attr_int("axis", 0), strata_attr_int("start", 1), strata_attr_int("end", 3)), &b,
                         1));
    ST_OK(strata_mul(g_rt, a, b, &outs[0]));
    strata_tensor_release(a);
    strata_tensor_release(b);
    *n_outs = 1;
    return STRATA_OK;
}

static void test_graph(void **state)
{
    (void)state;
    strata_tensor *x = tv(D_ANY, 1, SHAPE(3, 4));
    gc_case c = {.what = "t = tanh(x); t*t + t and exp(t)*x", .vars = {{"x", x}}, .n_vars = 1,
                 .fwd = diamond_forward, .user = x};
    int bad = gradcheck(&c);
    gc_case o = {.what = "x[0:2] * x[1:3] (overlapping slices of one leaf)", .vars = {{"x", x}}, .n_vars = 1,
                 .fwd = overlap_forward, .user = x};
    bad += gradcheck(&o);
    strata_tensor *sq = tv(D_ANY, 2, SHAPE(3, 3));
    op_case pt = {.op = "core::add",
                  .in = {sq, sq},
                  .n_in = 2,
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0}, 2))};
    bad += run_op("x^T + x (a leaf and its permuted view)", &pt);
    ASSERT_GC_OK(bad);

    /* backward accumulates into leaves: two passes give twice the gradient */
    ST_OK(strata_tensor_set_requires_grad(x, 1));
    for (int pass = 0; pass < 2; pass++) {
        strata_tensor *y = NULL, *s = NULL;
        ST_OK(strata_exp(g_rt, x, &y));
        ST_OK(strata_sum_all(g_rt, y, &s));
        ST_OK(strata_backward(strata_runtime_graph(g_rt), s));
        strata_tensor_release(y);
        strata_tensor_release(s);
        strata_graph_reset(strata_runtime_graph(g_rt));
    }
    int64_t n, ng;
    float *xv = read_f32(x, &n), *gv = read_f32(strata_tensor_grad(x), &ng);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(gv[i] - 2.0 * exp((double)xv[i])) <= 1e-5 * (1.0 + 2.0 * exp((double)xv[i]))))
            fail_msg("two backward passes of sum(exp(x)): grad[%lld] = %.8g, expected 2 exp(x) = %.8g", (long long)i,
                     (double)gv[i], 2.0 * exp((double)xv[i]));
    free(xv);
    free(gv);
    strata_tensor_zero_grad(x);
    assert_null(strata_tensor_grad(x));
    strata_tensor_release(x);
}

/* ======================================================================= */
/* Elementwise                                                             */
/* ======================================================================= */

static void test_binary(void **state)
{
    (void)state;
    static const char *ops[4] = {"core::add", "core::sub", "core::mul", "core::div"};
    char what[96];
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        int div = k == 3;
        data_kind bk = div ? D_DIVISOR : D_ANY;
        snprintf(what, sizeof what, "%s (3,1,5) (3,1,5)", ops[k]);
        bad += op2(what, ops[k], tv(D_ANY, 10u + (uint32_t)k, SHAPE(3, 1, 5)),
                   tv(bk, 20u + (uint32_t)k, SHAPE(3, 1, 5)), NOATTRS);
        snprintf(what, sizeof what, "%s (2,3,4) (3,1)", ops[k]);
        bad += op2(what, ops[k], tv(D_ANY, 30u + (uint32_t)k, SHAPE(2, 3, 4)), tv(bk, 40u + (uint32_t)k, SHAPE(3, 1)),
                   NOATTRS);
        snprintf(what, sizeof what, "%s (1,) (2,3)", ops[k]);
        bad += op2(what, ops[k], tv(D_ANY, 50u + (uint32_t)k, SHAPE(1)), tv(bk, 60u + (uint32_t)k, SHAPE(2, 3)),
                   NOATTRS);
        snprintf(what, sizeof what, "%s (2,1,4) (3,1)", ops[k]); /* both sides broadcast */
        bad += op2(what, ops[k], tv(D_ANY, 70u + (uint32_t)k, SHAPE(2, 1, 4)), tv(bk, 80u + (uint32_t)k, SHAPE(3, 1)),
                   NOATTRS);
    }
    /* one tensor as both operands: the two gradients accumulate */
    strata_tensor *x = tv(D_AWAY, 90, SHAPE(3, 4));
    bad += op2("mul x*x (same tensor twice)", "core::mul", x, x, NOATTRS);
    x = tv(D_AWAY, 91, SHAPE(3, 4));
    bad += op2("div x/x (same tensor twice)", "core::div", x, x, NOATTRS);
    ASSERT_GC_OK(bad);
}

static void test_unary(void **state)
{
    (void)state;
    int bad = 0;
    bad += op1("neg", "core::neg", tv(D_ANY, 1, SHAPE(3, 5)), NOATTRS);
    bad += op1("exp", "core::exp", tv(D_ANY, 2, SHAPE(3, 5)), NOATTRS);
    bad += op1("log (positive)", "core::log", tv(D_POS, 3, SHAPE(3, 5)), NOATTRS);
    bad += op1("sqrt (positive)", "core::sqrt", tv(D_POS, 4, SHAPE(3, 5)), NOATTRS);
    bad += op1("abs (away from 0)", "core::abs", tv(D_AWAY, 5, SHAPE(3, 5)), NOATTRS);
    bad += op1("relu (away from 0)", "core::relu", tv(D_AWAY, 6, SHAPE(2, 1, 7)), NOATTRS);
    bad += op1("leaky_relu (default alpha)", "core::leaky_relu", tv(D_AWAY, 7, SHAPE(3, 5)), NOATTRS);
    bad += op1("leaky_relu alpha=0.2", "core::leaky_relu", tv(D_AWAY, 8, SHAPE(3, 5)),
               ATTRS(strata_attr_float("alpha", 0.2)));
    bad += op1("sigmoid", "core::sigmoid", tv(D_WIDE, 9, SHAPE(3, 5)), NOATTRS);
    bad += op1("tanh", "core::tanh", tv(D_WIDE, 10, SHAPE(3, 5)), NOATTRS);
    bad += op1("gelu", "core::gelu", tv(D_WIDE, 11, SHAPE(3, 5)), NOATTRS);
    bad += op1("pow 2", "core::pow", tv(D_POS, 12, SHAPE(3, 5)), ATTRS(strata_attr_float("exponent", 2.0)));
    bad += op1("pow 2 (negative inputs too)", "core::pow", tv(D_ANY, 13, SHAPE(3, 5)),
               ATTRS(strata_attr_float("exponent", 2.0)));
    bad += op1("pow 3", "core::pow", tv(D_POS, 14, SHAPE(3, 5)), ATTRS(strata_attr_float("exponent", 3.0)));
    bad += op1("pow 0.5", "core::pow", tv(D_POS, 15, SHAPE(3, 5)), ATTRS(strata_attr_float("exponent", 0.5)));
    bad += op1("pow -1", "core::pow", tv(D_POS, 18, SHAPE(3, 5)), ATTRS(strata_attr_float("exponent", -1.0)));
    bad += op1("pow 0 (zero gradient)", "core::pow", tv(D_POS, 19, SHAPE(3, 5)),
               ATTRS(strata_attr_float("exponent", 0.0)));
    bad += op1("scale alpha=2.5 beta=-1", "core::scale", tv(D_ANY, 16, SHAPE(3, 5)),
               ATTRS(strata_attr_float("alpha", 2.5), strata_attr_float("beta", -1.0)));
    bad += op1("scale (defaults)", "core::scale", tv(D_ANY, 17, SHAPE(3, 5)), NOATTRS);
    /* the only cast a gradient flows through (f16 and bf16 carry none: test_half.c) */
    bad += op1("cast to f32", "core::cast", tv(D_ANY, 20, SHAPE(3, 5)), ATTRS(strata_attr_int("dtype", STRATA_F32)));
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Linear algebra                                                          */
/* ======================================================================= */

static int mm(const char *what, strata_tensor *a, strata_tensor *b, int ta, int tb)
{
    return op2(what, "core::matmul", a, b,
               ATTRS(strata_attr_int("trans_a", ta), strata_attr_int("trans_b", tb)));
}

static void test_matmul(void **state)
{
    (void)state;
    int bad = 0;
    bad += mm("matmul (3,4)x(4,5)", tv(D_ANY, 1, SHAPE(3, 4)), tv(D_ANY, 2, SHAPE(4, 5)), 0, 0);
    bad += mm("matmul trans_a (4,3)^T x(4,5)", tv(D_ANY, 3, SHAPE(4, 3)), tv(D_ANY, 4, SHAPE(4, 5)), 1, 0);
    bad += mm("matmul trans_b (3,4)x(5,4)^T", tv(D_ANY, 5, SHAPE(3, 4)), tv(D_ANY, 6, SHAPE(5, 4)), 0, 1);
    bad += mm("matmul trans_a trans_b (4,3)^T x(5,4)^T", tv(D_ANY, 7, SHAPE(4, 3)), tv(D_ANY, 8, SHAPE(5, 4)), 1, 1);
    bad += mm("matmul batched (2,3,4)x(2,4,5)", tv(D_ANY, 9, SHAPE(2, 3, 4)), tv(D_ANY, 10, SHAPE(2, 4, 5)), 0, 0);
    bad += mm("matmul broadcast batch (2,3,4)x(4,5)", tv(D_ANY, 11, SHAPE(2, 3, 4)), tv(D_ANY, 12, SHAPE(4, 5)), 0,
              0);
    bad += mm("matmul broadcast batch (3,4)x(2,4,5)", tv(D_ANY, 13, SHAPE(3, 4)), tv(D_ANY, 14, SHAPE(2, 4, 5)), 0,
              0);
    bad += mm("matmul broadcast batch (1,3,4)x(2,1,4,5)", tv(D_ANY, 15, SHAPE(1, 3, 4)),
              tv(D_ANY, 16, SHAPE(2, 1, 4, 5)), 0, 0);
    bad += mm("matmul batched trans_a trans_b (2,4,3)^T x(5,4)^T", tv(D_ANY, 17, SHAPE(2, 4, 3)),
              tv(D_ANY, 18, SHAPE(5, 4)), 1, 1);
    bad += mm("matmul outer (3,1)x(1,5)", tv(D_ANY, 19, SHAPE(3, 1)), tv(D_ANY, 20, SHAPE(1, 5)), 0, 0);
    /* a permuted (non-contiguous) left operand */
    op_case pc = {.op = "core::matmul",
                  .in = {tv(D_ANY, 21, SHAPE(4, 3)), tv(D_ANY, 22, SHAPE(4, 5))},
                  .n_in = 2,
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0}, 2))};
    bad += run_op("matmul permute(a)(3,4)x(4,5)", &pc);
    ASSERT_GC_OK(bad);
}

static void test_linear(void **state)
{
    (void)state;
    int bad = 0;
    op_case c1 = {.op = "core::linear",
                  .in = {tv(D_ANY, 1, SHAPE(3, 4)), tv(D_ANY, 2, SHAPE(5, 4)), tv(D_ANY, 3, SHAPE(5))},
                  .n_in = 3};
    bad += run_op("linear x(3,4) w(5,4) b(5)", &c1);
    bad += op2("linear x(3,4) w(5,4) no bias", "core::linear", tv(D_ANY, 4, SHAPE(3, 4)), tv(D_ANY, 5, SHAPE(5, 4)),
               NOATTRS);
    op_case c3 = {.op = "core::linear",
                  .in = {tv(D_ANY, 6, SHAPE(2, 3, 4)), tv(D_ANY, 7, SHAPE(5, 4)), tv(D_ANY, 8, SHAPE(5))},
                  .n_in = 3};
    bad += run_op("linear 3-D x(2,3,4) w(5,4) b(5)", &c3);
    bad += op2("linear 3-D x(2,1,4) w(3,4) no bias", "core::linear", tv(D_ANY, 9, SHAPE(2, 1, 4)),
               tv(D_ANY, 10, SHAPE(3, 4)), NOATTRS);
    op_case cp = {.op = "core::linear",
                  .in = {tv(D_ANY, 11, SHAPE(4, 2, 3)), tv(D_ANY, 12, SHAPE(5, 4)), tv(D_ANY, 13, SHAPE(5))},
                  .n_in = 3,
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 2, 0}, 3))};
    bad += run_op("linear x = permute((4,2,3), (1,2,0)) w(5,4) b(5)", &cp);
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Reductions                                                              */
/* ======================================================================= */

static void test_reductions(void **state)
{
    (void)state;
    static const char *ops[3] = {"core::sum", "core::mean", "core::max"};
    static const int64_t ax0[1] = {0}, ax1[1] = {1}, ax02[2] = {0, 2}, axm1[1] = {-1};
    struct {
        const char *name;
        const int64_t *axes;
        int n; /* -1: attr absent (all) */
    } sets[5] = {{"[0]", ax0, 1}, {"[1]", ax1, 1}, {"[0,2]", ax02, 2}, {"all", NULL, -1}, {"[-1]", axm1, 1}};
    char what[96];
    int bad = 0;
    for (int o = 0; o < 3; o++) {
        data_kind kind = o == 2 ? D_DISTINCT : D_ANY;
        for (int s = 0; s < 5; s++) {
            for (int keep = 0; keep < 2; keep++) {
                strata_attr at[2];
                int na = 0;
                if (sets[s].n >= 0)
                    at[na++] = strata_attr_ints("axes", sets[s].axes, sets[s].n);
                at[na++] = strata_attr_int("keepdim", keep);
                snprintf(what, sizeof what, "%s axes %s keepdim %d (3,4,5)", ops[o], sets[s].name, keep);
                bad += op1(what, ops[o], tv(kind, 100u + (uint32_t)(o * 10 + s * 2 + keep), SHAPE(3, 4, 5)), at, na);
            }
        }
        /* over a size-1 axis, and over every axis listed explicitly */
        snprintf(what, sizeof what, "%s axes [1] (3,1,5)", ops[o]);
        bad += op1(what, ops[o], tv(kind, 200u + (uint32_t)o, SHAPE(3, 1, 5)), ATTRS(strata_attr_ints("axes", ax1, 1)));
        op_case pc = {.op = ops[o],
                      .in = {tv(kind, 220u + (uint32_t)o, SHAPE(4, 3, 2))},
                      .n_in = 1,
                      .attrs = ATTRS(strata_attr_ints("axes", ax0, 1), strata_attr_int("keepdim", 1)),
                      .pre_op = "core::permute",
                      .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){2, 0, 1}, 3))};
        snprintf(what, sizeof what, "%s axes [0] keepdim 1 of permute((4,3,2), (2,0,1))", ops[o]);
        bad += run_op(what, &pc);
        snprintf(what, sizeof what, "%s axes [] (empty = all) (2,3)", ops[o]);
        bad += op1(what, ops[o], tv(kind, 230u + (uint32_t)o, SHAPE(2, 3)), ATTRS(strata_attr_ints("axes", NULL, 0)));
        snprintf(what, sizeof what, "%s axes [0,1,2] keepdim 1 (2,3,2)", ops[o]);
        bad += op1(what, ops[o], tv(kind, 210u + (uint32_t)o, SHAPE(2, 3, 2)),
                   ATTRS(strata_attr_ints("axes", (const int64_t[]){0, 1, 2}, 3), strata_attr_int("keepdim", 1)));
    }
    ASSERT_GC_OK(bad);
}

static void test_sum_to_shape(void **state)
{
    (void)state;
    int bad = 0;
    bad += op1("sum_to_shape (2,3,4)->(3,1)", "core::sum_to_shape", tv(D_ANY, 1, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){3, 1}, 2)));
    bad += op1("sum_to_shape (2,3,4)->(1,4)", "core::sum_to_shape", tv(D_ANY, 2, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){1, 4}, 2)));
    bad += op1("sum_to_shape (2,3,4)->(2,1,4)", "core::sum_to_shape", tv(D_ANY, 3, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){2, 1, 4}, 3)));
    bad += op1("sum_to_shape (3,5)->(1,)", "core::sum_to_shape", tv(D_ANY, 4, SHAPE(3, 5)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){1}, 1)));
    bad += op1("sum_to_shape (3,5)->(3,5) (identity)", "core::sum_to_shape", tv(D_ANY, 5, SHAPE(3, 5)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){3, 5}, 2)));
    ASSERT_GC_OK(bad);
}

static void test_softmax(void **state)
{
    (void)state;
    static const char *ops[2] = {"core::softmax", "core::log_softmax"};
    char what[96];
    int bad = 0;
    for (int o = 0; o < 2; o++) {
        snprintf(what, sizeof what, "%s axis -1 (3,5)", ops[o]);
        bad += op1(what, ops[o], tv(D_WIDE, 1u + (uint32_t)o, SHAPE(3, 5)), ATTRS(strata_attr_int("axis", -1)));
        snprintf(what, sizeof what, "%s axis 0 (3,5)", ops[o]);
        bad += op1(what, ops[o], tv(D_WIDE, 3u + (uint32_t)o, SHAPE(3, 5)), ATTRS(strata_attr_int("axis", 0)));
        snprintf(what, sizeof what, "%s default axis (2,1,4)", ops[o]);
        bad += op1(what, ops[o], tv(D_WIDE, 5u + (uint32_t)o, SHAPE(2, 1, 4)), NOATTRS);
        snprintf(what, sizeof what, "%s axis 1 (2,3,4)", ops[o]);
        bad += op1(what, ops[o], tv(D_WIDE, 7u + (uint32_t)o, SHAPE(2, 3, 4)), ATTRS(strata_attr_int("axis", 1)));
        op_case pc = {.op = ops[o],
                      .in = {tv(D_WIDE, 9u + (uint32_t)o, SHAPE(5, 3))},
                      .n_in = 1,
                      .attrs = ATTRS(strata_attr_int("axis", -1)),
                      .pre_op = "core::permute",
                      .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0}, 2))};
        snprintf(what, sizeof what, "%s axis -1 of permute((5,3), (1,0))", ops[o]);
        bad += run_op(what, &pc);
    }
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Losses                                                                  */
/* ======================================================================= */

static void test_losses(void **state)
{
    (void)state;
    static const char *reds[3] = {"mean", "sum", "none"};
    char what[96];
    int bad = 0;
    for (int r = 0; r < 3; r++) {
        strata_attr red = strata_attr_string("reduction", reds[r]);
        snprintf(what, sizeof what, "cross_entropy %s logits (4,5) labels i64", reds[r]);
        bad += op2(what, "core::cross_entropy", tv(D_WIDE, 1u + (uint32_t)r, SHAPE(4, 5)),
                   ti64((const int64_t[]){1, 0, 4, 1}, SHAPE(4)), &red, 1);
        snprintf(what, sizeof what, "mse %s (3,4)", reds[r]);
        bad += op2(what, "core::mse", tv(D_ANY, 10u + (uint32_t)r, SHAPE(3, 4)),
                   tv(D_ANY, 20u + (uint32_t)r, SHAPE(3, 4)), &red, 1);
        snprintf(what, sizeof what, "bce_with_logits %s (3,4) (x and target)", reds[r]);
        bad += op2(what, "core::bce_with_logits", tv(D_WIDE, 30u + (uint32_t)r, SHAPE(3, 4)),
                   tv(D_PROB, 40u + (uint32_t)r, SHAPE(3, 4)), &red, 1);
    }
    bad += op2("cross_entropy (default mean) logits (1,3) labels i64", "core::cross_entropy",
               tv(D_WIDE, 50, SHAPE(1, 3)), ti64((const int64_t[]){2}, SHAPE(1)), NOATTRS);
    bad += op2("cross_entropy mean logits (3,4) labels i32", "core::cross_entropy", tv(D_WIDE, 51, SHAPE(3, 4)),
               ti32((const int32_t[]){3, 3, 0}, SHAPE(3)), NOATTRS);
    bad += op2("mse (default mean) (2,1,3)", "core::mse", tv(D_ANY, 52, SHAPE(2, 1, 3)), tv(D_ANY, 53, SHAPE(2, 1, 3)),
               NOATTRS);
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Shapes                                                                  */
/* ======================================================================= */

static void test_shape_ops(void **state)
{
    (void)state;
    int bad = 0;
    bad += op1("reshape (2,3,4)->(4,-1)", "core::reshape", tv(D_ANY, 1, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){4, -1}, 2)));
    bad += op1("reshape (2,3,4)->(6,1,4)", "core::reshape", tv(D_ANY, 2, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){6, 1, 4}, 3)));
    bad += op1("permute (2,3,4) dims (2,0,1)", "core::permute", tv(D_ANY, 3, SHAPE(2, 3, 4)),
               ATTRS(strata_attr_ints("dims", (const int64_t[]){2, 0, 1}, 3)));
    bad += op1("permute (2,1,3) dims (-1,0,1)", "core::permute", tv(D_ANY, 4, SHAPE(2, 1, 3)),
               ATTRS(strata_attr_ints("dims", (const int64_t[]){-1, 0, 1}, 3)));
    bad += op1("slice (5,3) axis 0 start -4 step 2", "core::slice", tv(D_ANY, 5, SHAPE(5, 3)),
               ATTRS(strata_attr_int("axis", 0), strata_attr_int("start", -4), strata_attr_int("step", 2)));
    bad += op1("slice (2,7,3) axis 1 start 1 end 6 step 2", "core::slice", tv(D_ANY, 6, SHAPE(2, 7, 3)),
               ATTRS(strata_attr_int("axis", 1), strata_attr_int("start", 1), strata_attr_int("end", 6),
                     strata_attr_int("step", 2)));
    bad += op1("slice (3,5) axis -1 start -3 end -1", "core::slice", tv(D_ANY, 7, SHAPE(3, 5)),
               ATTRS(strata_attr_int("axis", -1), strata_attr_int("start", -3), strata_attr_int("end", -1)));
    bad += op1("slice (7,2) axis 0 end 100 step 3", "core::slice", tv(D_ANY, 24, SHAPE(7, 2)),
               ATTRS(strata_attr_int("axis", 0), strata_attr_int("end", 100), strata_attr_int("step", 3)));
    bad += op1("expand (3,1)->(2,3,4)", "core::expand", tv(D_ANY, 8, SHAPE(3, 1)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){2, 3, 4}, 3)));
    bad += op1("expand (1,3)->(5,-1)", "core::expand", tv(D_ANY, 9, SHAPE(1, 3)),
               ATTRS(strata_attr_ints("shape", (const int64_t[]){5, -1}, 2)));

    /* copy of a permuted view; reshape and a binary op of one */
    op_case cp = {.op = "core::copy",
                  .in = {tv(D_ANY, 10, SHAPE(3, 5))},
                  .n_in = 1,
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0}, 2))};
    bad += run_op("copy of permute (3,5) dims (1,0)", &cp);
    op_case cs = {.op = "core::copy",
                  .in = {tv(D_ANY, 11, SHAPE(6, 3))},
                  .n_in = 1,
                  .pre_op = "core::slice",
                  .pre_attrs =
                      ATTRS(strata_attr_int("axis", 0), strata_attr_int("start", 1), strata_attr_int("step", 2))};
    bad += run_op("copy of slice (6,3) axis 0 start 1 step 2", &cs);
    op_case rp = {.op = "core::reshape",
                  .in = {tv(D_ANY, 12, SHAPE(2, 3, 4))},
                  .n_in = 1,
                  .attrs = ATTRS(strata_attr_ints("shape", (const int64_t[]){-1}, 1)),
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){2, 1, 0}, 3))};
    bad += run_op("reshape (-1) of permute (2,3,4) dims (2,1,0)", &rp);
    op_case ep = {.op = "core::exp",
                  .in = {tv(D_ANY, 13, SHAPE(3, 4))},
                  .n_in = 1,
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){1, 0}, 2))};
    bad += run_op("exp of permute (3,4) dims (1,0)", &ep);
    op_case ex = {.op = "core::mul",
                  .in = {tv(D_ANY, 14, SHAPE(3, 1)), tv(D_ANY, 15, SHAPE(2, 3, 4))},
                  .n_in = 2,
                  .pre_op = "core::expand",
                  .pre_attrs = ATTRS(strata_attr_ints("shape", (const int64_t[]){2, 3, 4}, 3))};
    bad += run_op("mul of expand (3,1)->(2,3,4) and (2,3,4)", &ex);

    op_case cc = {.op = "core::concat",
                  .in = {tv(D_ANY, 16, SHAPE(2, 1, 3)), tv(D_ANY, 17, SHAPE(2, 3, 3)), tv(D_ANY, 18, SHAPE(2, 2, 3))},
                  .n_in = 3,
                  .attrs = ATTRS(strata_attr_int("axis", 1))};
    bad += run_op("concat (2,1,3) (2,3,3) (2,2,3) axis 1", &cc);
    op_case cn = {.op = "core::concat",
                  .in = {tv(D_ANY, 19, SHAPE(3, 2)), tv(D_ANY, 20, SHAPE(3, 1)), tv(D_ANY, 21, SHAPE(3, 3))},
                  .n_in = 3,
                  .attrs = ATTRS(strata_attr_int("axis", -1))};
    bad += run_op("concat (3,2) (3,1) (3,3) axis -1", &cn);

    op_case sp = {.op = "core::split",
                  .in = {tv(D_ANY, 22, SHAPE(2, 6, 3))},
                  .n_in = 1,
                  .attrs = ATTRS(strata_attr_int("axis", 1), strata_attr_ints("sizes", (const int64_t[]){1, 3, 2}, 3)),
                  .n_outputs = 3};
    bad += run_op("split (2,6,3) axis 1 sizes (1,3,2), 3 outputs", &sp);
    op_case sp2 = {.op = "core::split",
                   .in = {tv(D_ANY, 23, SHAPE(5, 2))},
                   .n_in = 1,
                   .attrs = ATTRS(strata_attr_int("axis", 0), strata_attr_ints("sizes", (const int64_t[]){2, 3}, 2)),
                   .n_outputs = 2,
                   .n_used = 1};
    bad += run_op("split (5,2) axis 0 sizes (2,3), only output 0 used", &sp2);
    ASSERT_GC_OK(bad);
}

/* A split with an empty piece. Needs a freshly created (3,0) tensor to be
 * contiguous (the harness builds r for every output with from_host). */
static void test_split_zero_size(void **state)
{
    (void)state;
    strata_tensor *e = NULL;
    ST_OK(strata_tensor_zeros(g_dev, STRATA_F32, 2, (const int64_t[]){3, 0}, &e));
    int contiguous = strata_tensor_is_contiguous(e);
    long long s0 = (long long)strata_tensor_strides(e)[0], s1 = (long long)strata_tensor_strides(e)[1];
    strata_tensor_release(e);
    if (!contiguous)
        fail_msg("strata_tensor_zeros((3,0)) is not contiguous (strides %lld,%lld), so strata_tensor_write and "
                 "strata_tensor_from_host refuse it",
                 s0, s1);
    op_case sp = {.op = "core::split",
                  .in = {tv(D_ANY, 25, SHAPE(3, 5))},
                  .n_in = 1,
                  .attrs = ATTRS(strata_attr_int("axis", -1), strata_attr_ints("sizes", (const int64_t[]){2, 0, 3}, 3)),
                  .n_outputs = 3};
    ASSERT_GC_OK(run_op("split (3,5) axis -1 sizes (2,0,3)", &sp));
}

/* ======================================================================= */
/* Indexing and dropout                                                    */
/* ======================================================================= */

static void test_indexing(void **state)
{
    (void)state;
    int bad = 0;
    bad += op2("embedding w(4,3) idx i64 (2,3) with repeats", "core::embedding", tv(D_ANY, 1, SHAPE(4, 3)),
               ti64((const int64_t[]){0, 2, 2, 3, 0, 2}, SHAPE(2, 3)), NOATTRS);
    bad += op2("embedding w(5,1) idx i64 (4) (row 1 unused)", "core::embedding", tv(D_ANY, 2, SHAPE(5, 1)),
               ti64((const int64_t[]){4, 4, 0, 2}, SHAPE(4)), NOATTRS);
    bad += op2("embedding w(3,2) idx i32 (3)", "core::embedding", tv(D_ANY, 3, SHAPE(3, 2)),
               ti32((const int32_t[]){2, 0, 2}, SHAPE(3)), NOATTRS);
    bad += op2("gather x(3,4) axis 1 idx i64 (3,5) with repeats", "core::gather", tv(D_ANY, 4, SHAPE(3, 4)),
               ti64((const int64_t[]){0, 3, 3, 1, 0, 2, 2, 2, 1, 0, 3, 0, 1, 1, 3}, SHAPE(3, 5)),
               ATTRS(strata_attr_int("axis", 1)));
    bad += op2("gather x(3,4) axis 0 idx i64 (2,4)", "core::gather", tv(D_ANY, 5, SHAPE(3, 4)),
               ti64((const int64_t[]){2, 0, 1, 2, 2, 2, 0, 1}, SHAPE(2, 4)), ATTRS(strata_attr_int("axis", 0)));
    bad += op2("gather x(3,4) axis -1 idx i64 (2,3) (smaller than x)", "core::gather", tv(D_ANY, 6, SHAPE(3, 4)),
               ti64((const int64_t[]){3, 3, 0, 1, 2, 1}, SHAPE(2, 3)), ATTRS(strata_attr_int("axis", -1)));
    ASSERT_GC_OK(bad);
}

static void test_dropout_op(void **state)
{
    (void)state;
    const double p = 0.4;
    int bad = 0;
    /* the finite difference sees the same mask every time: seed and offset fixed */
    op_case c = {.op = "core::dropout",
                 .in = {tv(D_ANY, 1, SHAPE(4, 5))},
                 .n_in = 1,
                 .attrs = ATTRS(strata_attr_float("p", p), strata_attr_int("seed", 7), strata_attr_int("offset", 3)),
                 .n_outputs = 2,
                 .n_used = 1};
    bad += run_op("dropout p=0.4 seed 7 offset 3 (4,5)", &c);
    ASSERT_GC_OK(bad);

    /* d sum(y) / dx is exactly the mask, whose entries are 0 or 1/(1-p) */
    strata_tensor *x = tv(D_ANY, 2, SHAPE(4, 5)), *out[2] = {NULL, NULL}, *s = NULL;
    ST_OK(strata_tensor_set_requires_grad(x, 1));
    ST_OK(strata_op_call(g_rt, "core::dropout", &x, 1,
                         ATTRS(strata_attr_float("p", p), strata_attr_int("seed", 7), strata_attr_int("offset", 3)),
                         out, 2));
    ST_OK(strata_sum_all(g_rt, out[0], &s));
    ST_OK(strata_backward(strata_runtime_graph(g_rt), s));
    int64_t n, nm;
    float *g = read_f32(strata_tensor_grad(x), &n), *mask = read_f32(out[1], &nm);
    assert_int_equal(n, nm);
    int kept = 0, dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        if (g[i] != mask[i])
            fail_msg("dropout: dx[%lld] = %.8g but mask[%lld] = %.8g", (long long)i, (double)g[i], (long long)i,
                     (double)mask[i]);
        if (mask[i] == 0.0f)
            dropped++;
        else if (fabs(mask[i] - 1.0 / (1.0 - p)) < 1e-6)
            kept++;
        else
            fail_msg("dropout: mask[%lld] = %.8g is neither 0 nor 1/(1-p)", (long long)i, (double)mask[i]);
    }
    assert_true(kept > 0 && dropped > 0);
    free(g);
    free(mask);
    strata_tensor_release(s);
    strata_tensor_release(out[0]);
    strata_tensor_release(out[1]);
    strata_graph_reset(strata_runtime_graph(g_rt));
    strata_tensor_release(x);
}

/* ======================================================================= */
/* Layers                                                                  */
/* ======================================================================= */

static void test_layer_linear(void **state)
{
    (void)state;
    int bad = 0;
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(5));
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 3)), NULL, NULL);
    bad += run_model("layer linear 5->3 (bias), batch 4", m, (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4, 5))}, 1, 0);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(4));
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 1), strata_attr_int("bias", 0)), NULL, NULL);
    bad += run_model("layer linear 4->1 (no bias), batch 3", m, (strata_tensor *[]){tv(D_ANY, 2, SHAPE(3, 4))}, 1, 0);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(2, 3));
    model_layer(m, "flatten", "flat", NOATTRS, NULL, NULL);
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 3)), NULL, NULL);
    bad += run_model("layers flatten + linear 6->3, batch 2", m, (strata_tensor *[]){tv(D_ANY, 3, SHAPE(2, 2, 3))}, 1,
                     0);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(3, 4));
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 2)), NULL, NULL);
    bad += run_model("layer linear 4->2 on per-example (3,4), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 4, SHAPE(2, 3, 4))}, 1, 0);
    ASSERT_GC_OK(bad);
}

static void test_layer_activations(void **state)
{
    (void)state;
    struct {
        const char *type;
        data_kind kind;
        strata_attr attr;
        int n_attr;
    } acts[6] = {
        {"relu", D_AWAY, {0}, 0},
        {"leaky_relu", D_AWAY, {0}, 0},
        {"leaky_relu", D_AWAY, strata_attr_float("negative_slope", 0.3), 1},
        {"sigmoid", D_WIDE, {0}, 0},
        {"tanh", D_WIDE, {0}, 0},
        {"gelu", D_WIDE, {0}, 0},
    };
    char what[96];
    int bad = 0;
    for (int k = 0; k < 6; k++) {
        strata_model *m = model_new();
        model_input(m, "x", STRATA_F32, SHAPE(5));
        model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 3)), NULL, NULL);
        model_layer(m, acts[k].type, "act", acts[k].n_attr ? &acts[k].attr : NULL, acts[k].n_attr, NULL, NULL);
        snprintf(what, sizeof what, "layers linear 5->3 + %s%s, batch 2", acts[k].type,
                 acts[k].n_attr ? " slope 0.3" : "");
        bad += run_model(what, m, (strata_tensor *[]){tv(D_ANY, 10u + (uint32_t)k, SHAPE(2, 5))}, 1, 0);

        m = model_new();
        model_input(m, "x", STRATA_F32, SHAPE(1, 5));
        model_layer(m, acts[k].type, "act", acts[k].n_attr ? &acts[k].attr : NULL, acts[k].n_attr, NULL, NULL);
        snprintf(what, sizeof what, "layer %s%s alone, input (3,1,5)", acts[k].type,
                 acts[k].n_attr ? " slope 0.3" : "");
        bad += run_model(what, m, (strata_tensor *[]){tv(acts[k].kind, 20u + (uint32_t)k, SHAPE(3, 1, 5))}, 1, 0);
    }
    ASSERT_GC_OK(bad);
}

static void test_layer_embedding(void **state)
{
    (void)state;
    int bad = 0;
    strata_model *m = model_new();
    model_input(m, "tokens", STRATA_I64, SHAPE(3));
    model_layer(m, "embedding", "emb",
                ATTRS(strata_attr_int("num_embeddings", 5), strata_attr_int("embedding_dim", 3)), NULL, NULL);
    bad += run_model("layer embedding 5x3, i64 input (2,3) with repeats", m,
                     (strata_tensor *[]){ti64((const int64_t[]){1, 4, 1, 0, 1, 4}, SHAPE(2, 3))}, 1, 0);

    m = model_new();
    model_input(m, "tokens", STRATA_I64, SHAPE(2));
    model_layer(m, "embedding", "emb",
                ATTRS(strata_attr_int("num_embeddings", 4), strata_attr_int("embedding_dim", 3)), NULL, NULL);
    model_layer(m, "flatten", "flat", NOATTRS, NULL, NULL);
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 2)), NULL, NULL);
    bad += run_model("layers embedding 4x3 + flatten + linear 6->2, i64 input (3,2)", m,
                     (strata_tensor *[]){ti64((const int64_t[]){3, 3, 0, 3, 2, 0}, SHAPE(3, 2))}, 1, 0);
    ASSERT_GC_OK(bad);
}

static void test_layer_dropout(void **state)
{
    (void)state;
    int bad = 0;
    /* eval: identity */
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(6));
    model_layer(m, "dropout", "drop", ATTRS(strata_attr_float("p", 0.5)), NULL, NULL);
    bad += run_model("layer dropout p=0.5 eval (identity), input (3,6)", m,
                     (strata_tensor *[]){tv(D_ANY, 1, SHAPE(3, 6))}, 1, 0);

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(4));
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 6)), NULL, NULL);
    model_layer(m, "dropout", "drop", ATTRS(strata_attr_float("p", 0.3)), NULL, NULL);
    bad += run_model("layers linear 4->6 + dropout p=0.3 eval, batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 2, SHAPE(2, 4))}, 1, 0);

    /* training: the runtime's generator is rewound before every forward */
    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(6));
    model_layer(m, "dropout", "drop", ATTRS(strata_attr_float("p", 0.5)), NULL, NULL);
    {
        /* sanity: training mode really drops (some 0, the rest 2x) */
        strata_tensor *x = tv(D_AWAY, 3, SHAPE(3, 6)), *y = NULL;
        uint64_t s0, o0;
        strata_runtime_rng_state(g_rt, &s0, &o0);
        int prev = strata_set_grad_enabled(g_rt, 0);
        ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
        strata_set_grad_enabled(g_rt, prev);
        strata_runtime_set_rng_state(g_rt, s0, o0);
        int64_t n, ny;
        float *xv = read_f32(x, &n), *yv = read_f32(y, &ny);
        int zero = 0, twice = 0;
        for (int64_t i = 0; i < n; i++) {
            zero += yv[i] == 0.0f;
            twice += fabs((double)yv[i] - 2.0 * (double)xv[i]) < 1e-6;
        }
        assert_int_equal(zero + twice, n);
        assert_true(zero > 0 && twice > 0);
        free(xv);
        free(yv);
        strata_tensor_release(y);
        bad += run_model("layer dropout p=0.5 training, input (3,6)", m, &x, 1, 1);
    }

    m = model_new();
    model_input(m, "x", STRATA_F32, SHAPE(4));
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 5)), NULL, NULL);
    model_layer(m, "dropout", "drop", ATTRS(strata_attr_float("p", 0.4)), NULL, NULL);
    bad += run_model("layers linear 4->5 + dropout p=0.4 training, batch 3", m,
                     (strata_tensor *[]){tv(D_ANY, 4, SHAPE(3, 4))}, 1, 1);
    ASSERT_GC_OK(bad);
}

static void test_layer_losses(void **state)
{
    (void)state;
    static const char *reds[3] = {"mean", "sum", "none"};
    char what[128];
    int bad = 0;
    for (int r = 0; r < 3; r++) {
        strata_attr red = strata_attr_string("reduction", reds[r]);

        /* cross_entropy on logits directly, and after a linear layer */
        strata_model *m = model_new();
        model_input(m, "logits", STRATA_F32, SHAPE(5));
        model_input(m, "labels", STRATA_I64, NULL, 0);
        model_layer(m, "cross_entropy", "loss", &red, 1, "logits", "labels");
        snprintf(what, sizeof what, "layer cross_entropy %s, logits (4,5), labels i64", reds[r]);
        bad += run_model(what, m,
                         (strata_tensor *[]){tv(D_WIDE, 1u + (uint32_t)r, SHAPE(4, 5)),
                                             ti64((const int64_t[]){4, 0, 2, 2}, SHAPE(4))},
                         2, 0);

        m = model_new();
        model_input(m, "x", STRATA_F32, SHAPE(3));
        model_input(m, "labels", STRATA_I64, NULL, 0);
        model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 4)), "x", NULL);
        model_layer(m, "cross_entropy", "loss", &red, 1, "fc", "labels");
        snprintf(what, sizeof what, "layers linear 3->4 + cross_entropy %s, batch 3", reds[r]);
        bad += run_model(what, m,
                         (strata_tensor *[]){tv(D_ANY, 10u + (uint32_t)r, SHAPE(3, 3)),
                                             ti64((const int64_t[]){3, 1, 3}, SHAPE(3))},
                         2, 0);

        /* mse and bce_with_logits: gradients w.r.t. prediction and target */
        m = model_new();
        model_input(m, "pred", STRATA_F32, SHAPE(4));
        model_input(m, "target", STRATA_F32, SHAPE(4));
        model_layer(m, "mse", "loss", &red, 1, "pred", "target");
        snprintf(what, sizeof what, "layer mse %s, (3,4) and (3,4)", reds[r]);
        bad += run_model(what, m,
                         (strata_tensor *[]){tv(D_ANY, 20u + (uint32_t)r, SHAPE(3, 4)),
                                             tv(D_ANY, 30u + (uint32_t)r, SHAPE(3, 4))},
                         2, 0);

        m = model_new();
        model_input(m, "logits", STRATA_F32, SHAPE(4));
        model_input(m, "target", STRATA_F32, SHAPE(4));
        model_layer(m, "bce_with_logits", "loss", &red, 1, "logits", "target");
        snprintf(what, sizeof what, "layer bce_with_logits %s, (3,4) and (3,4)", reds[r]);
        bad += run_model(what, m,
                         (strata_tensor *[]){tv(D_WIDE, 40u + (uint32_t)r, SHAPE(3, 4)),
                                             tv(D_PROB, 50u + (uint32_t)r, SHAPE(3, 4))},
                         2, 0);

        m = model_new();
        model_input(m, "x", STRATA_F32, SHAPE(3));
        model_input(m, "target", STRATA_F32, SHAPE(2));
        model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 2)), "x", NULL);
        model_layer(m, "bce_with_logits", "loss", &red, 1, "fc", "target");
        snprintf(what, sizeof what, "layers linear 3->2 + bce_with_logits %s, batch 3", reds[r]);
        bad += run_model(what, m,
                         (strata_tensor *[]){tv(D_ANY, 60u + (uint32_t)r, SHAPE(3, 3)),
                                             tv(D_PROB, 70u + (uint32_t)r, SHAPE(3, 2))},
                         2, 0);
    }
    ASSERT_GC_OK(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_values),
        cmocka_unit_test(test_harness_detects_wrong_gradient),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_sum_to_shape),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_split_zero_size),
        cmocka_unit_test(test_indexing),
        cmocka_unit_test(test_dropout_op),
        cmocka_unit_test(test_layer_linear),
        cmocka_unit_test(test_layer_activations),
        cmocka_unit_test(test_layer_embedding),
        cmocka_unit_test(test_layer_dropout),
        cmocka_unit_test(test_layer_losses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
