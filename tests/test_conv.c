/*
 * test_conv.c - the conv plugin (plugins/conv, docs/conv.md), loaded from
 * this build tree, through the public API only:
 *
 *   - finite-difference gradient checks (support/gradcheck.h) of every
 *     differentiable conv op, including the backward ops themselves (their
 *     backward is the double backward of conv2d), and of every conv layer's
 *     input and parameters: odd sizes, stride > 1, padding, dilation,
 *     groups, batch 1;
 *   - forward values: small hand-computed cases, and conv2d /
 *     conv_transpose2d against their defining sums on random data;
 *   - conv_transpose2d is the adjoint of conv2d:
 *     <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for several geometries;
 *   - batch norm's running statistics (PyTorch's momentum convention,
 *     unbiased running variance) through the op and the layers;
 *   - parameter names, shapes and PyTorch's default initialisation;
 *   - bad input through op calls and through model specs: the status and a
 *     message naming the op or layer and the values.
 *
 * Everything runs on ref with small shapes (the whole file takes well under
 * a second). test_harness_detects_wrong_gradient shows that the checker
 * catches a wrong conv gradient.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

static strata_runtime *g_rt;
static strata_device *g_dev;

/* PAIR("stride", 2, 1): a two-integer attribute (height, width). */
#define PAIR(name, a, b) strata_attr_ints(name, (const int64_t[]){a, b}, 2)
/* ONE("kernel_size", 3): a one-integer list, as a spec writes `kernel_size: 3`. */
#define ONE(name, a) strata_attr_ints(name, (const int64_t[]){a}, 1)
/* NEEDLES("a", "b"): a NULL-terminated list of strings. */
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

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

static void test_plugin_loaded(void **state)
{
    (void)state;
    gc_assert_plugin_from_build_tree("conv");
}

/* ======================================================================= */
/* Small helpers                                                           */
/* ======================================================================= */

/* Calls @p op with gradients off and returns its first output (the others
 * are released). */
static strata_tensor *call1(const char *op, strata_tensor *const *in, int n_in, const strata_attr *at, int n_at,
                            int n_out)
{
    strata_tensor *out[4] = {NULL, NULL, NULL, NULL};
    int prev = strata_set_grad_enabled(g_rt, 0);
    strata_status rc = strata_op_call(g_rt, op, in, n_in, at, n_at, out, n_out);
    strata_set_grad_enabled(g_rt, prev);
    if (rc)
        fail_msg("%s -> %s: %s", op, strata_status_name(rc), strata_last_error());
    for (int k = 1; k < n_out; k++)
        strata_tensor_release(out[k]);
    return out[0];
}

static void assert_shape(strata_tensor *t, const int64_t *shape, int ndim, const char *what)
{
    if (strata_tensor_ndim(t) != ndim)
        fail_msg("%s: rank %d, expected %d", what, strata_tensor_ndim(t), ndim);
    for (int k = 0; k < ndim; k++)
        if (strata_tensor_shape(t)[k] != shape[k])
            fail_msg("%s: dim %d is %lld, expected %lld", what, k, (long long)strata_tensor_shape(t)[k],
                     (long long)shape[k]);
}

static void assert_i64(strata_tensor *t, const int64_t *want, int64_t n, const char *what)
{
    assert_int_equal(strata_tensor_dtype(t), STRATA_I64);
    assert_int_equal(strata_tensor_numel(t), n);
    int64_t *got = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    assert_non_null(got);
    ST_OK(strata_tensor_read(t, got, sizeof(int64_t) * (size_t)n));
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s[%lld]: got %lld, expected %lld", what, (long long)i, (long long)got[i], (long long)want[i]);
    free(got);
}

/* Expects @p status from @p op on @p in (released here) with a message
 * holding every needle. */
static void expect_op_error(const char *op, strata_tensor **in, int n_in, const strata_attr *at, int n_at, int n_out,
                            strata_status status, const char *const *needles)
{
    strata_tensor *out[4] = {NULL, NULL, NULL, NULL};
    strata_clear_error();
    strata_status rc = strata_op_call(g_rt, op, in, n_in, at, n_at, out, n_out);
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(in[k]);
    if (rc != status) {
        for (int k = 0; k < n_out; k++)
            strata_tensor_release(out[k]);
        fail_msg("%s: expected %s, got %s: %s", op, strata_status_name(status), strata_status_name(rc),
                 strata_last_error());
    }
    for (int k = 0; k < n_out; k++)
        assert_null(out[k]);
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

/* ======================================================================= */
/* The harness can fail                                                    */
/* ======================================================================= */

typedef struct lying {
    strata_tensor *x, *w;
    int mode; /* the finite differences see 0: 1.1 conv2d(x, w); 1: a dilated conv2d; 2: conv2d(x, w) */
} lying;

/* While recording: y = conv2d(x, w), padding 1. Without recording (the
 * finite differences) either 1.1 times that, or the same output shape from
 * a kernel dilated by 2 (padding 2): a backward with the wrong scale or the
 * wrong tap positions. */
static strata_status lying_forward(void *user, strata_tensor **outs, int *n_outs)
{
    lying *c = user;
    strata_tensor *in[2] = {c->x, c->w};
    int rec = strata_grad_enabled(g_rt);
    int64_t pad = !rec && c->mode == 1 ? 2 : 1, dil = pad;
    *n_outs = 1;
    strata_status rc = strata_op_call(g_rt, "conv::conv2d", in, 2,
                                      ATTRS(PAIR("padding", pad, pad), PAIR("dilation", dil, dil)), outs, 1);
    if (rc || rec || c->mode != 0)
        return rc;
    strata_tensor *y = outs[0];
    rc = strata_op_call(g_rt, "core::scale", &y, 1, ATTRS(strata_attr_float("alpha", 1.1)), outs, 1);
    strata_tensor_release(y);
    return rc;
}

static void test_harness_detects_wrong_gradient(void **state)
{
    (void)state;
    lying c = {.x = tv(D_ANY, 1, SHAPE(1, 2, 5, 5)), .w = tv(D_ANY, 2, SHAPE(3, 2, 3, 3))};
    gc_case g = {.what = "self-test",
                 .vars = {{"x", c.x}, {"w", c.w}},
                 .n_vars = 2,
                 .fwd = lying_forward,
                 .user = &c,
                 .quiet = 1};
    /* the analytic gradient 1/1.1 of the true one: every element of x (50) and w (54) mismatches */
    assert_int_equal(gradcheck(&g), 50 + 54);
    /* the wrong taps: most elements mismatch */
    c.mode = 1;
    int bad = gradcheck(&g);
    if (bad < (50 + 54) / 2)
        fail_msg("a gradient of the wrong dilation gave only %d mismatches of %d", bad, 50 + 54);
    /* and the honest conv2d passes */
    c.mode = 2;
    assert_int_equal(gradcheck(&g), 0);
    strata_tensor_release(c.x);
    strata_tensor_release(c.w);
}

/* ======================================================================= */
/* Gradient checks: ops                                                    */
/* ======================================================================= */

static void test_conv2d_grad(void **state)
{
    (void)state;
    int bad = 0;
    op_case c1 = {.op = "conv::conv2d",
                  .in = {tv(D_ANY, 1, SHAPE(2, 3, 5, 5)), tv(D_ANY, 2, SHAPE(4, 3, 3, 3)), tv(D_ANY, 3, SHAPE(4))},
                  .n_in = 3};
    bad += run_op("conv2d x(2,3,5,5) w(4,3,3,3) b(4), defaults", &c1);
    op_case c2 = {.op = "conv::conv2d",
                  .in = {tv(D_ANY, 4, SHAPE(1, 2, 7, 5)), tv(D_ANY, 5, SHAPE(3, 2, 3, 2)), tv(D_ANY, 6, SHAPE(3))},
                  .n_in = 3,
                  .attrs = ATTRS(PAIR("stride", 2, 3), PAIR("padding", 1, 0))};
    bad += run_op("conv2d batch 1 x(1,2,7,5) w(3,2,3,2) b stride (2,3) padding (1,0)", &c2);
    bad += op2("conv2d x(2,2,6,5) w(2,2,3,3) dilation (2,1) padding (2,1), no bias", "conv::conv2d",
               tv(D_ANY, 7, SHAPE(2, 2, 6, 5)), tv(D_ANY, 8, SHAPE(2, 2, 3, 3)),
               ATTRS(PAIR("dilation", 2, 1), PAIR("padding", 2, 1)));
    op_case c4 = {.op = "conv::conv2d",
                  .in = {tv(D_ANY, 9, SHAPE(1, 4, 5, 4)), tv(D_ANY, 10, SHAPE(6, 2, 3, 3)), tv(D_ANY, 11, SHAPE(6))},
                  .n_in = 3,
                  .attrs = ATTRS(PAIR("stride", 2, 2), PAIR("padding", 1, 1), strata_attr_int("groups", 2))};
    bad += run_op("conv2d groups 2 x(1,4,5,4) w(6,2,3,3) b stride 2 padding 1", &c4);
    op_case c5 = {.op = "conv::conv2d",
                  .in = {tv(D_ANY, 12, SHAPE(2, 3, 5, 5)), tv(D_ANY, 13, SHAPE(3, 1, 3, 3)), tv(D_ANY, 14, SHAPE(3))},
                  .n_in = 3,
                  .attrs = ATTRS(ONE("padding", 2), ONE("dilation", 2), strata_attr_int("groups", 3))};
    bad += run_op("conv2d depthwise (groups 3) x(2,3,5,5) w(3,1,3,3) padding 2 dilation 2", &c5);
    bad += op2("conv2d stride 3 skips rows and columns x(1,2,6,7) w(2,2,2,2)", "conv::conv2d",
               tv(D_ANY, 15, SHAPE(1, 2, 6, 7)), tv(D_ANY, 16, SHAPE(2, 2, 2, 2)), ATTRS(strata_attr_int("stride", 3)));
    bad += op2("conv2d kernel = padded input (1x1 output) x(2,1,3,4) w(2,1,5,6) padding 1", "conv::conv2d",
               tv(D_ANY, 17, SHAPE(2, 1, 3, 4)), tv(D_ANY, 18, SHAPE(2, 1, 5, 6)), ATTRS(ONE("padding", 1)));
    op_case c9 = {.op = "conv::conv2d",
                  .in = {tv(D_ANY, 21, SHAPE(2, 2, 4, 5)), tv(D_ANY, 22, SHAPE(3, 2, 2, 3))},
                  .n_in = 2,
                  .attrs = ATTRS(ONE("stride", 2), ONE("padding", 1)),
                  .pre_op = "core::permute",
                  .pre_attrs = ATTRS(strata_attr_ints("dims", (const int64_t[]){0, 1, 3, 2}, 4))};
    bad += run_op("conv2d x = permute((2,2,4,5), (0,1,3,2)) (not contiguous) w(3,2,2,3) stride 2 padding 1", &c9);
    bad += op2("conv2d 1x1 kernel stride 2 groups 2 x(1,4,5,5) w(2,2,1,1)", "conv::conv2d",
               tv(D_ANY, 19, SHAPE(1, 4, 5, 5)), tv(D_ANY, 20, SHAPE(2, 2, 1, 1)),
               ATTRS(ONE("stride", 2), strata_attr_int("groups", 2)));
    ASSERT_GC_OK(bad);
}

/* The backward ops are differentiable too (their backward is conv2d's
 * double backward): each is checked in both of its inputs. */
static void test_conv2d_backward_ops_grad(void **state)
{
    (void)state;
    int bad = 0;
    /* x (N, 4, 7, 6) -> dy (N, 6, 4, 3) with stride 2, padding 1, groups 2: row 6 and column 5 of x
     * are reached by one tap only */
    bad += op2("conv2d_backward_data dy(1,6,4,3) w(6,2,3,3) input_size (7,6) stride 2 padding 1 groups 2",
               "conv::conv2d_backward_data", tv(D_ANY, 1, SHAPE(1, 6, 4, 3)), tv(D_ANY, 2, SHAPE(6, 2, 3, 3)),
               ATTRS(PAIR("input_size", 7, 6), ONE("stride", 2), ONE("padding", 1), strata_attr_int("groups", 2)));
    bad += op2("conv2d_backward_data dy(2,2,2,3) w(2,3,3,2) input_size (6,6) dilation (2,1) stride (1,2)",
               "conv::conv2d_backward_data", tv(D_ANY, 3, SHAPE(2, 2, 2, 3)), tv(D_ANY, 4, SHAPE(2, 3, 3, 2)),
               ATTRS(PAIR("input_size", 6, 6), PAIR("dilation", 2, 1), PAIR("stride", 1, 2)));
    bad += op2("conv2d_backward_weight dy(1,6,4,3) x(1,4,7,6) kernel_size (3,3) stride 2 padding 1 groups 2",
               "conv::conv2d_backward_weight", tv(D_ANY, 5, SHAPE(1, 6, 4, 3)), tv(D_ANY, 6, SHAPE(1, 4, 7, 6)),
               ATTRS(PAIR("kernel_size", 3, 3), ONE("stride", 2), ONE("padding", 1), strata_attr_int("groups", 2)));
    bad += op2("conv2d_backward_weight dy(2,2,2,3) x(2,3,6,6) kernel_size (3,2) dilation (2,1) stride (1,2)",
               "conv::conv2d_backward_weight", tv(D_ANY, 7, SHAPE(2, 2, 2, 3)), tv(D_ANY, 8, SHAPE(2, 3, 6, 6)),
               ATTRS(PAIR("kernel_size", 3, 2), PAIR("dilation", 2, 1), PAIR("stride", 1, 2)));
    ASSERT_GC_OK(bad);
}

static void test_conv1d_grad(void **state)
{
    (void)state;
    int bad = 0;
    op_case c1 = {.op = "conv::conv1d",
                  .in = {tv(D_ANY, 1, SHAPE(2, 4, 9)), tv(D_ANY, 2, SHAPE(6, 2, 3)), tv(D_ANY, 3, SHAPE(6))},
                  .n_in = 3,
                  .attrs = ATTRS(strata_attr_int("stride", 2), strata_attr_int("padding", 1),
                                 strata_attr_int("dilation", 2), strata_attr_int("groups", 2))};
    bad += run_op("conv1d x(2,4,9) w(6,2,3) b stride 2 padding 1 dilation 2 groups 2", &c1);
    bad += op2("conv1d batch 1 x(1,3,7) w(2,3,4) stride 3, no bias", "conv::conv1d", tv(D_ANY, 4, SHAPE(1, 3, 7)),
               tv(D_ANY, 5, SHAPE(2, 3, 4)), ATTRS(ONE("stride", 3)));
    ASSERT_GC_OK(bad);
}

static void test_conv_transpose2d_grad(void **state)
{
    (void)state;
    int bad = 0;
    op_case c1 = {.op = "conv::conv_transpose2d",
                  .in = {tv(D_ANY, 1, SHAPE(1, 4, 3, 4)), tv(D_ANY, 2, SHAPE(4, 3, 3, 3)), tv(D_ANY, 3, SHAPE(3))},
                  .n_in = 3,
                  .attrs = ATTRS(ONE("stride", 2), ONE("padding", 1), ONE("output_padding", 1))};
    bad += run_op("conv_transpose2d x(1,4,3,4) w(4,3,3,3) b stride 2 padding 1 output_padding 1", &c1);
    op_case c2 = {.op = "conv::conv_transpose2d",
                  .in = {tv(D_ANY, 4, SHAPE(2, 4, 3, 3)), tv(D_ANY, 5, SHAPE(4, 1, 2, 3)), tv(D_ANY, 6, SHAPE(2))},
                  .n_in = 3,
                  .attrs = ATTRS(PAIR("stride", 1, 2), PAIR("dilation", 2, 1), PAIR("padding", 1, 0),
                                 strata_attr_int("groups", 2))};
    bad += run_op("conv_transpose2d groups 2 x(2,4,3,3) w(4,1,2,3) b stride (1,2) dilation (2,1) padding (1,0)", &c2);
    bad += op2("conv_transpose2d batch 1 x(1,2,2,3) w(2,2,3,3) stride 3 output_padding 2, no bias",
               "conv::conv_transpose2d", tv(D_ANY, 7, SHAPE(1, 2, 2, 3)), tv(D_ANY, 8, SHAPE(2, 2, 3, 3)),
               ATTRS(ONE("stride", 3), ONE("output_padding", 2)));
    bad += op2("conv_transpose2d x(1,2,3,3) w(2,2,2,2) stride 2 dilation 3 padding 1 output_padding 1",
               "conv::conv_transpose2d", tv(D_ANY, 9, SHAPE(1, 2, 3, 3)), tv(D_ANY, 10, SHAPE(2, 2, 2, 2)),
               ATTRS(ONE("stride", 2), ONE("dilation", 3), ONE("padding", 1), ONE("output_padding", 1)));
    ASSERT_GC_OK(bad);
}

static void test_pool_grad(void **state)
{
    (void)state;
    int bad = 0;
    /* max: distinct values 0.1 apart, so h = 0.01 never moves a maximum */
    op_case m1 = {.op = "conv::max_pool2d",
                  .in = {tv(D_DISTINCT, 1, SHAPE(2, 2, 5, 5))},
                  .n_in = 1,
                  .attrs = ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1)),
                  .n_outputs = 2,
                  .n_used = 1};
    bad += run_op("max_pool2d x(2,2,5,5) kernel 3 stride 2 padding 1", &m1);
    op_case m2 = {.op = "conv::max_pool2d",
                  .in = {tv(D_DISTINCT, 2, SHAPE(1, 3, 7, 5))},
                  .n_in = 1,
                  .attrs = ATTRS(PAIR("kernel_size", 2, 3)),
                  .n_outputs = 2,
                  .n_used = 1};
    bad += run_op("max_pool2d batch 1 x(1,3,7,5) kernel (2,3) (stride = kernel, leftovers dropped)", &m2);
    op_case m3 = {.op = "conv::max_pool2d",
                  .in = {tv(D_DISTINCT, 3, SHAPE(1, 2, 6, 6))},
                  .n_in = 1,
                  .attrs = ATTRS(ONE("kernel_size", 3), ONE("stride", 1)),
                  .n_outputs = 2,
                  .n_used = 1};
    bad += run_op("max_pool2d x(1,2,6,6) kernel 3 stride 1 (overlapping windows)", &m3);

    /* max_pool2d_backward in dy, with the indices of a real forward */
    strata_tensor *xm = tv(D_DISTINCT, 4, SHAPE(2, 2, 5, 5)), *pm[2] = {NULL, NULL};
    ST_OK(strata_op_call(g_rt, "conv::max_pool2d", &xm, 1, ATTRS(ONE("kernel_size", 3), ONE("stride", 2)), pm, 2));
    strata_tensor_release(xm);
    strata_tensor_release(pm[0]);
    bad += op2("max_pool2d_backward dy(2,2,2,2) indices input_size (5,5) (overlapping windows)",
               "conv::max_pool2d_backward", tv(D_ANY, 5, SHAPE(2, 2, 2, 2)), pm[1], ATTRS(PAIR("input_size", 5, 5)));

    for (int cip = 0; cip < 2; cip++) {
        char what[128];
        snprintf(what, sizeof what, "avg_pool2d x(2,2,5,6) kernel 3 stride 2 padding 1 count_include_pad %d", cip);
        bad += op1(what, "conv::avg_pool2d", tv(D_ANY, 6u + (uint32_t)cip, SHAPE(2, 2, 5, 6)),
                   ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1),
                         strata_attr_int("count_include_pad", cip)));
        snprintf(what, sizeof what,
                 "avg_pool2d_backward dy(1,2,3,3) input_size (5,6) kernel 3 stride 2 padding 1 "
                 "count_include_pad %d",
                 cip);
        bad += op1(what, "conv::avg_pool2d_backward", tv(D_ANY, 8u + (uint32_t)cip, SHAPE(1, 2, 3, 3)),
                   ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1),
                         strata_attr_int("count_include_pad", cip), PAIR("input_size", 5, 6)));
    }
    bad += op1("avg_pool2d batch 1 x(1,3,7,5) kernel (3,2) (stride = kernel)", "conv::avg_pool2d",
               tv(D_ANY, 10, SHAPE(1, 3, 7, 5)), ATTRS(PAIR("kernel_size", 3, 2)));
    bad += op1("global_avg_pool2d x(2,3,3,5)", "conv::global_avg_pool2d", tv(D_ANY, 11, SHAPE(2, 3, 3, 5)), NOATTRS);
    bad += op1("global_avg_pool2d batch 1 x(1,2,1,1)", "conv::global_avg_pool2d", tv(D_ANY, 12, SHAPE(1, 2, 1, 1)),
               NOATTRS);
    ASSERT_GC_OK(bad);
}

/* x, weight, bias are the variables; the running statistics are constants
 * (the op defines no gradient for them, as PyTorch). */
static int bn_case(const char *what, strata_tensor *x, uint32_t seed, int training, double eps)
{
    int64_t C = strata_tensor_shape(x)[1];
    op_case c = {.op = "conv::batch_norm",
                 .in = {x, tv(D_POS, seed, SHAPE(C)), tv(D_ANY, seed + 1, SHAPE(C)), tv(D_ANY, seed + 2, SHAPE(C)),
                        tv(D_POS, seed + 3, SHAPE(C))},
                 .n_in = 5,
                 .attrs = ATTRS(strata_attr_int("training", training), strata_attr_float("eps", eps)),
                 .n_outputs = 3,
                 .n_used = 1,
                 .constant_inputs = 1u << 3 | 1u << 4};
    return run_op(what, &c);
}

static void test_batch_norm_grad(void **state)
{
    (void)state;
    int bad = 0;
    bad += bn_case("batch_norm training x(4,3)", tv(D_ANY, 1, SHAPE(4, 3)), 10, 1, 1e-5);
    bad += bn_case("batch_norm training x(2,3,5)", tv(D_ANY, 2, SHAPE(2, 3, 5)), 20, 1, 1e-5);
    bad += bn_case("batch_norm training x(2,2,3,3) eps 0.1", tv(D_ANY, 3, SHAPE(2, 2, 3, 3)), 30, 1, 0.1);
    bad += bn_case("batch_norm training batch 1 x(1,3,2,3)", tv(D_ANY, 4, SHAPE(1, 3, 2, 3)), 40, 1, 1e-5);
    bad += bn_case("batch_norm eval x(2,3,5)", tv(D_ANY, 5, SHAPE(2, 3, 5)), 50, 0, 1e-5);
    bad += bn_case("batch_norm eval batch 1 x(1,2,3,3)", tv(D_ANY, 6, SHAPE(1, 2, 3, 3)), 60, 0, 1e-5);
    ASSERT_GC_OK(bad);
}

static void test_dropout2d(void **state)
{
    (void)state;
    const double p = 0.5;
    op_case c = {.op = "conv::dropout2d",
                 .in = {tv(D_ANY, 1, SHAPE(3, 4, 2, 3))},
                 .n_in = 1,
                 .attrs = ATTRS(strata_attr_float("p", p), strata_attr_int("seed", 5), strata_attr_int("offset", 2)),
                 .n_outputs = 2,
                 .n_used = 1};
    ASSERT_GC_OK(run_op("dropout2d p=0.5 seed 5 offset 2 x(3,4,2,3)", &c));

    /* whole channels: mask (N, C, 1, ...) of 0 or 1/(1-p), y = x * mask; p 0.3,
     * where 1/(1-p) and 1/p differ (at 0.5 a scale of 1/p passed) */
    const double pc = 0.3;
    static const int64_t shapes[2][4] = {{3, 4, 2, 3}, {2, 5, 4, 0}};
    for (int s = 0; s < 2; s++) {
        int nd = shapes[s][3] ? 4 : 3;
        strata_tensor *x = tv(D_AWAY, 2u + (uint32_t)s, shapes[s], nd), *out[2] = {NULL, NULL};
        ST_OK(strata_op_call(g_rt, "conv::dropout2d", &x, 1,
                             ATTRS(strata_attr_float("p", pc), strata_attr_int("seed", 9),
                                   strata_attr_int("offset", 0)),
                             out, 2));
        int64_t mshape[4] = {shapes[s][0], shapes[s][1], 1, 1};
        assert_shape(out[0], shapes[s], nd, "dropout2d y");
        assert_shape(out[1], mshape, nd, "dropout2d mask");
        int64_t n, ny, nm;
        float *xv = read_f32(x, &n), *yv = read_f32(out[0], &ny), *mv = read_f32(out[1], &nm);
        int64_t S = n / nm;
        int kept = 0, dropped = 0;
        for (int64_t i = 0; i < nm; i++) {
            if (mv[i] == 0.0f)
                dropped++;
            else if (fabs(mv[i] - 1.0 / (1.0 - pc)) < 1e-6)
                kept++;
            else
                fail_msg("dropout2d: mask[%lld] = %.8g is neither 0 nor 1/(1-p)", (long long)i, (double)mv[i]);
            for (int64_t k = 0; k < S; k++)
                if (yv[i * S + k] != xv[i * S + k] * mv[i])
                    fail_msg("dropout2d: y[%lld] = %.8g, expected x * mask = %.8g", (long long)(i * S + k),
                             (double)yv[i * S + k], (double)(xv[i * S + k] * mv[i]));
        }
        assert_true(kept > 0 && dropped > 0);
        /* channel (n, c) draws element n C + c of the Philox stream: core::dropout's mask of N C values */
        strata_tensor *flat = tv(D_ANY, 4, SHAPE(nm)), *dout[2] = {NULL, NULL};
        ST_OK(strata_op_call(g_rt, "core::dropout", &flat, 1,
                             ATTRS(strata_attr_float("p", pc), strata_attr_int("seed", 9),
                                   strata_attr_int("offset", 0)),
                             dout, 2));
        assert_close_f32(dout[1], mv, nm, 0, "dropout2d mask against core::dropout's");
        strata_tensor_release(dout[0]);
        strata_tensor_release(dout[1]);
        strata_tensor_release(flat);
        free(xv);
        free(yv);
        free(mv);
        strata_tensor_release(out[0]);
        strata_tensor_release(out[1]);
        strata_tensor_release(x);
    }
}

/* ======================================================================= */
/* Gradient checks: layers                                                 */
/* ======================================================================= */

/* A model of one f32 input "x" of examples @p ex and one layer of @p type
 * named @p name: the cases of the layer checks below. */
static strata_model *layer_model(const char *type, const char *name, const int64_t *ex, int ex_ndim,
                                 const strata_attr *at, int n_at)
{
    strata_model *m = model_new();
    model_input(m, "x", STRATA_F32, ex, ex_ndim);
    model_layer(m, type, name, at, n_at, NULL, NULL);
    return m;
}

static void test_layer_conv_grads(void **state)
{
    (void)state;
    int bad = 0;
    strata_model *m = layer_model("conv2d", "conv", SHAPE(3, 6, 5),
                                  ATTRS(strata_attr_int("out_channels", 4), PAIR("kernel_size", 3, 2),
                                        PAIR("stride", 2, 1), PAIR("padding", 1, 0), PAIR("dilation", 1, 2)));
    bad += run_model("layer conv2d 3->4 kernel (3,2) stride (2,1) padding (1,0) dilation (1,2), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 3, 6, 5))}, 1, 0);

    m = layer_model("conv2d", "conv", SHAPE(4, 5, 5),
                    ATTRS(strata_attr_int("out_channels", 2), ONE("kernel_size", 3), ONE("padding", 1),
                          strata_attr_int("groups", 2), strata_attr_int("bias", 0)));
    bad += run_model("layer conv2d 4->2 groups 2 padding 1 no bias, batch 1", m,
                     (strata_tensor *[]){tv(D_ANY, 2, SHAPE(1, 4, 5, 5))}, 1, 0);

    m = layer_model("conv1d", "conv", SHAPE(3, 7),
                    ATTRS(strata_attr_int("out_channels", 2), ONE("kernel_size", 3), ONE("stride", 2),
                          ONE("padding", 1)));
    bad += run_model("layer conv1d 3->2 kernel 3 stride 2 padding 1, batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 3, SHAPE(2, 3, 7))}, 1, 0);

    m = layer_model("conv_transpose2d", "up", SHAPE(4, 3, 3),
                    ATTRS(strata_attr_int("out_channels", 2), ONE("kernel_size", 3), ONE("stride", 2),
                          ONE("padding", 1), ONE("output_padding", 1)));
    bad += run_model("layer conv_transpose2d 4->2 kernel 3 stride 2 padding 1 output_padding 1, batch 1", m,
                     (strata_tensor *[]){tv(D_ANY, 4, SHAPE(1, 4, 3, 3))}, 1, 0);

    m = layer_model("conv_transpose2d", "up", SHAPE(4, 3, 3),
                    ATTRS(strata_attr_int("out_channels", 6), PAIR("kernel_size", 2, 3), strata_attr_int("groups", 2),
                          PAIR("dilation", 1, 2)));
    bad += run_model("layer conv_transpose2d 4->6 groups 2 kernel (2,3) dilation (1,2), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 5, SHAPE(2, 4, 3, 3))}, 1, 0);
    ASSERT_GC_OK(bad);
}

static void test_layer_pool_grads(void **state)
{
    (void)state;
    int bad = 0;
    strata_model *m = layer_model("max_pool2d", "pool", SHAPE(2, 5, 5),
                                  ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1)));
    bad += run_model("layer max_pool2d kernel 3 stride 2 padding 1, batch 2", m,
                     (strata_tensor *[]){tv(D_DISTINCT, 1, SHAPE(2, 2, 5, 5))}, 1, 0);

    m = layer_model("avg_pool2d", "pool", SHAPE(2, 5, 4),
                    ATTRS(PAIR("kernel_size", 3, 2), ONE("padding", 1), strata_attr_int("count_include_pad", 0)));
    bad += run_model("layer avg_pool2d kernel (3,2) padding 1 count_include_pad 0, batch 1", m,
                     (strata_tensor *[]){tv(D_ANY, 2, SHAPE(1, 2, 5, 4))}, 1, 0);

    m = layer_model("global_avg_pool2d", "gap", SHAPE(3, 2, 3), NOATTRS);
    bad += run_model("layer global_avg_pool2d (3,2,3), batch 2", m,
                     (strata_tensor *[]){tv(D_ANY, 3, SHAPE(2, 3, 2, 3))}, 1, 0);
    ASSERT_GC_OK(bad);
}

static void test_layer_norm_dropout_grads(void **state)
{
    (void)state;
    int bad = 0;
    for (int training = 0; training < 2; training++) {
        char what[128];
        strata_model *m = layer_model("batch_norm2d", "bn", SHAPE(3, 2, 3), NOATTRS);
        snprintf(what, sizeof what, "layer batch_norm2d (3,2,3), batch 2, %s", training ? "training" : "eval");
        bad +=
            run_model(what, m, (strata_tensor *[]){tv(D_ANY, 1u + (uint32_t)training, SHAPE(2, 3, 2, 3))}, 1, training);

        m = layer_model("batch_norm1d", "bn", SHAPE(3, 4), ATTRS(strata_attr_float("eps", 1e-3)));
        snprintf(what, sizeof what, "layer batch_norm1d (C, L) = (3,4) eps 1e-3, batch 2, %s",
                 training ? "training" : "eval");
        bad += run_model(what, m, (strata_tensor *[]){tv(D_ANY, 3u + (uint32_t)training, SHAPE(2, 3, 4))}, 1, training);

        m = layer_model("batch_norm1d", "bn", SHAPE(4), NOATTRS);
        snprintf(what, sizeof what, "layer batch_norm1d (C) = (4), batch 3, %s", training ? "training" : "eval");
        bad += run_model(what, m, (strata_tensor *[]){tv(D_ANY, 5u + (uint32_t)training, SHAPE(3, 4))}, 1, training);
    }

    /* a small ConvNet block: every parameter through the others */
    strata_model *m = layer_model("conv2d", "conv", SHAPE(2, 4, 4),
                                  ATTRS(strata_attr_int("out_channels", 3), ONE("kernel_size", 3), ONE("padding", 1)));
    model_layer(m, "batch_norm2d", "bn", NOATTRS, NULL, NULL);
    model_layer(m, "global_avg_pool2d", "gap", NOATTRS, NULL, NULL);
    model_layer(m, "linear", "fc", ATTRS(strata_attr_int("out_features", 2)), NULL, NULL);
    bad += run_model("layers conv2d + batch_norm2d + global_avg_pool2d + linear, batch 2, training", m,
                     (strata_tensor *[]){tv(D_ANY, 7, SHAPE(2, 2, 4, 4))}, 1, 1);

    /* dropout2d: eval is the identity; training draws one mask per check (the generator is rewound) */
    for (int training = 0; training < 2; training++) {
        m = layer_model("dropout2d", "drop", SHAPE(3, 2, 2), ATTRS(strata_attr_float("p", 0.5)));
        bad += run_model(training ? "layer dropout2d p=0.5 training, batch 2" : "layer dropout2d p=0.5 eval, batch 2",
                         m, (strata_tensor *[]){tv(D_ANY, 8u + (uint32_t)training, SHAPE(2, 3, 2, 2))}, 1, training);
    }
    ASSERT_GC_OK(bad);
}

/* ======================================================================= */
/* Forward values                                                          */
/* ======================================================================= */

static void test_conv2d_values(void **state)
{
    (void)state;
    /* x = 1..9 as 3x3 */
    strata_tensor *x = tf((const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9}, SHAPE(1, 1, 3, 3));
    strata_tensor *w2 = tf((const float[]){1, 1, 1, 1}, SHAPE(1, 1, 2, 2));
    strata_tensor *w3 = tf((const float[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, SHAPE(1, 1, 3, 3));
    strata_tensor *wd = tf((const float[]){1, 0, 0, -1}, SHAPE(1, 1, 2, 2));
    strata_tensor *b = tf((const float[]){0.5f}, SHAPE(1));
    strata_tensor *y;

    /* 2x2 sums of 1..9 */
    y = call1("conv::conv2d", (strata_tensor *[]){x, w2}, 2, NOATTRS, 1);
    assert_shape(y, SHAPE(1, 1, 2, 2), "conv2d 3x3 * 2x2");
    assert_close_f32(y, (const float[]){12, 16, 24, 28}, 4, 0, "conv2d 3x3 * 2x2");
    strata_tensor_release(y);
    /* with a bias */
    y = call1("conv::conv2d", (strata_tensor *[]){x, w2, b}, 3, NOATTRS, 1);
    assert_close_f32(y, (const float[]){12.5f, 16.5f, 24.5f, 28.5f}, 4, 0, "conv2d + bias");
    strata_tensor_release(y);
    /* 3x3 ones, padding 1, stride 2: the corner windows hold 2x2 of x */
    y = call1("conv::conv2d", (strata_tensor *[]){x, w3}, 2, ATTRS(ONE("padding", 1), ONE("stride", 2)), 1);
    assert_shape(y, SHAPE(1, 1, 2, 2), "conv2d padding 1 stride 2");
    assert_close_f32(y, (const float[]){12, 16, 24, 28}, 4, 0, "conv2d padding 1 stride 2");
    strata_tensor_release(y);
    /* 3x3 ones, padding 1: every 3x3 neighbourhood sum */
    y = call1("conv::conv2d", (strata_tensor *[]){x, w3}, 2, ATTRS(ONE("padding", 1)), 1);
    assert_close_f32(y, (const float[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 9, 0, "conv2d padding 1");
    strata_tensor_release(y);
    /* padding (0, 1), stride (1, 2): rows 0..1, columns -1, 1 */
    y = call1("conv::conv2d", (strata_tensor *[]){x, wd}, 2, ATTRS(PAIR("padding", 0, 1), PAIR("stride", 1, 2)), 1);
    assert_shape(y, SHAPE(1, 1, 2, 2), "conv2d padding (0,1) stride (1,2)");
    /* y[i, j] = x[i, 2j - 1] - x[i + 1, 2j]: (0 - 4), (2 - 6), (0 - 7), (5 - 9) */
    assert_close_f32(y, (const float[]){-4, -4, -7, -4}, 4, 0, "conv2d padding (0,1) stride (1,2)");
    strata_tensor_release(y);
    /* dilation 2: the four corners */
    y = call1("conv::conv2d", (strata_tensor *[]){x, w2}, 2, ATTRS(ONE("dilation", 2)), 1);
    assert_shape(y, SHAPE(1, 1, 1, 1), "conv2d dilation 2");
    assert_close_f32(y, (const float[]){20}, 1, 0, "conv2d dilation 2");
    strata_tensor_release(y);

    /* groups 2: channel 0 [1..4] meets w0 = ones, channel 1 [5..8] meets w1 = [1 0; 0 -1] */
    strata_tensor *xg = tf((const float[]){1, 2, 3, 4, 5, 6, 7, 8}, SHAPE(1, 2, 2, 2));
    strata_tensor *wg = tf((const float[]){1, 1, 1, 1, 1, 0, 0, -1}, SHAPE(2, 1, 2, 2));
    y = call1("conv::conv2d", (strata_tensor *[]){xg, wg}, 2, ATTRS(strata_attr_int("groups", 2)), 1);
    assert_shape(y, SHAPE(1, 2, 1, 1), "conv2d groups 2");
    assert_close_f32(y, (const float[]){10, -3}, 2, 0, "conv2d groups 2");
    strata_tensor_release(y);
    /* the same weight with groups 1 reads both channels: (1 1 1 1 | 1 0 0 -1) would need 2 input channels */
    strata_tensor *wg1 = tf((const float[]){1, 1, 1, 1, 1, 0, 0, -1}, SHAPE(1, 2, 2, 2));
    y = call1("conv::conv2d", (strata_tensor *[]){xg, wg1}, 2, NOATTRS, 1);
    assert_close_f32(y, (const float[]){10 + 5 - 8}, 1, 0, "conv2d groups 1 over 2 channels");
    strata_tensor_release(y);

    /* conv1d: [1..5] * [1, 0, -1], and with stride 2 padding 1 */
    strata_tensor *x1 = tf((const float[]){1, 2, 3, 4, 5}, SHAPE(1, 1, 5));
    strata_tensor *w1 = tf((const float[]){1, 0, -1}, SHAPE(1, 1, 3));
    y = call1("conv::conv1d", (strata_tensor *[]){x1, w1}, 2, NOATTRS, 1);
    assert_shape(y, SHAPE(1, 1, 3), "conv1d");
    assert_close_f32(y, (const float[]){-2, -2, -2}, 3, 0, "conv1d");
    strata_tensor_release(y);
    y = call1("conv::conv1d", (strata_tensor *[]){x1, w1}, 2,
              ATTRS(strata_attr_int("stride", 2), strata_attr_int("padding", 1)), 1);
    assert_close_f32(y, (const float[]){-2, -2, 4}, 3, 0, "conv1d stride 2 padding 1");
    strata_tensor_release(y);

    strata_tensor *all[] = {x, w2, w3, wd, b, xg, wg, wg1, x1, w1};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        strata_tensor_release(all[k]);
}

static void test_conv_transpose2d_values(void **state)
{
    (void)state;
    strata_tensor *x = tf((const float[]){1, 2, 3, 4}, SHAPE(1, 1, 2, 2));
    strata_tensor *w = tf((const float[]){1, 10, 100, 1000}, SHAPE(1, 1, 2, 2));
    strata_tensor *ones = tf((const float[]){1, 1, 1, 1}, SHAPE(1, 1, 2, 2));
    strata_tensor *b = tf((const float[]){0.5f}, SHAPE(1));
    strata_tensor *y;

    /* stride 2: every x[i, j] stamps x[i, j] w at (2i, 2j), no overlap */
    y = call1("conv::conv_transpose2d", (strata_tensor *[]){x, w}, 2, ATTRS(ONE("stride", 2)), 1);
    assert_shape(y, SHAPE(1, 1, 4, 4), "conv_transpose2d stride 2");
    assert_close_f32(y, (const float[]){1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000}, 16, 0,
                     "conv_transpose2d stride 2");
    strata_tensor_release(y);
    /* stride 1, ones: the stamps overlap and add */
    y = call1("conv::conv_transpose2d", (strata_tensor *[]){x, ones}, 2, NOATTRS, 1);
    assert_shape(y, SHAPE(1, 1, 3, 3), "conv_transpose2d stride 1");
    assert_close_f32(y, (const float[]){1, 3, 2, 4, 10, 6, 3, 7, 4}, 9, 0, "conv_transpose2d stride 1");
    strata_tensor_release(y);
    /* padding 1 crops one row and column off every side */
    y = call1("conv::conv_transpose2d", (strata_tensor *[]){x, ones}, 2, ATTRS(ONE("padding", 1)), 1);
    assert_shape(y, SHAPE(1, 1, 1, 1), "conv_transpose2d padding 1");
    assert_close_f32(y, (const float[]){10}, 1, 0, "conv_transpose2d padding 1");
    strata_tensor_release(y);
    /* stride 2, output_padding 1, bias 0.5: one more row and column, which hold only the bias */
    y = call1("conv::conv_transpose2d", (strata_tensor *[]){x, w, b}, 3,
              ATTRS(ONE("stride", 2), ONE("output_padding", 1)), 1);
    assert_shape(y, SHAPE(1, 1, 5, 5), "conv_transpose2d output_padding 1");
    assert_close_f32(y, (const float[]){1.5f,    10.5f, 2.5f,  20.5f, 0.5f,  100.5f, 1000.5f, 200.5f,  2000.5f,
                                        0.5f,    3.5f,  30.5f, 4.5f,  40.5f, 0.5f,   300.5f,  3000.5f, 400.5f,
                                        4000.5f, 0.5f,  0.5f,  0.5f,  0.5f,  0.5f,   0.5f},
                     25, 0, "conv_transpose2d stride 2 output_padding 1 bias 0.5");
    strata_tensor_release(y);

    /* groups 2 with two output channels per group: weight (C_in 2, OC/groups 2, 1, 1) */
    strata_tensor *xg = tf((const float[]){1, 2}, SHAPE(1, 2, 1, 1));
    strata_tensor *wg = tf((const float[]){1, 2, 3, 4}, SHAPE(2, 2, 1, 1));
    y = call1("conv::conv_transpose2d", (strata_tensor *[]){xg, wg}, 2, ATTRS(strata_attr_int("groups", 2)), 1);
    assert_shape(y, SHAPE(1, 4, 1, 1), "conv_transpose2d groups 2");
    /* outputs 0, 1 from x0 (w 1, 2); outputs 2, 3 from x1 (w 3, 4) */
    assert_close_f32(y, (const float[]){1, 2, 6, 8}, 4, 0, "conv_transpose2d groups 2");
    strata_tensor_release(y);

    strata_tensor *all[] = {x, w, ones, b, xg, wg};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        strata_tensor_release(all[k]);
}

/* conv2d and conv_transpose2d against their defining sums (double), on
 * random data with every attribute away from its default. */
typedef struct geom {
    const char *what;
    int64_t N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, groups;
} geom;

static void conv2d_by_definition(double *y, const float *x, const float *w, const float *b, const geom *g, int64_t OH,
                                 int64_t OW)
{
    const int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->OC; o++)
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t kh = 0; kh < g->KH; kh++)
                            for (int64_t kw = 0; kw < g->KW; kw++) {
                                int64_t ih = i * g->sh - g->ph + kh * g->dh, iw = j * g->sw - g->pw + kw * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                                    continue;
                                int64_t ci = o / OCg * Cg + c;
                                s += (double)w[((o * Cg + c) * g->KH + kh) * g->KW + kw] *
                                     x[((n * g->C + ci) * g->H + ih) * g->W + iw];
                            }
                    y[((n * g->OC + o) * OH + i) * OW + j] = s;
                }
}

/* y (N, OC, OH, OW) = conv_transpose2d(x (N, C, H, W), w (C, OC/groups, KH, KW)) + b: every input
 * pixel stamps its weights at (i sh - ph + kh dh, j sw - pw + kw dw). */
static void conv_transpose2d_by_definition(double *y, const float *x, const float *w, const float *b, const geom *g,
                                           int64_t OH, int64_t OW)
{
    const int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->OC; o++)
            for (int64_t q = 0; q < OH * OW; q++)
                y[(n * g->OC + o) * OH * OW + q] = b ? b[o] : 0.0;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t i = 0; i < g->H; i++)
                for (int64_t j = 0; j < g->W; j++)
                    for (int64_t o = 0; o < OCg; o++)
                        for (int64_t kh = 0; kh < g->KH; kh++)
                            for (int64_t kw = 0; kw < g->KW; kw++) {
                                int64_t oh = i * g->sh - g->ph + kh * g->dh, ow = j * g->sw - g->pw + kw * g->dw;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                                    continue;
                                int64_t oc = c / Cg * OCg + o;
                                y[((n * g->OC + oc) * OH + oh) * OW + ow] +=
                                    (double)x[((n * g->C + c) * g->H + i) * g->W + j] *
                                    w[((c * OCg + o) * g->KH + kh) * g->KW + kw];
                            }
}

static void assert_close_double(strata_tensor *t, const double *want, int64_t n, double tol, const char *what)
{
    int64_t got_n;
    float *got = read_f32(t, &got_n);
    assert_int_equal(got_n, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
            fail_msg("%s[%lld]: got %.8g, expected %.8g", what, (long long)i, (double)got[i], want[i]);
    free(got);
}

static void test_conv_by_definition(void **state)
{
    (void)state;
    static const geom gs[] = {
        {"conv2d x(2,4,7,6) w(6,2,3,2) stride (2,1) padding (1,2) dilation (2,3) groups 2", 2, 4, 7, 6, 6, 3, 2, 2, 1,
         1, 2, 2, 3, 2},
        {"conv2d x(1,3,5,5) w(3,1,2,3) stride 3 padding (0,1) depthwise", 1, 3, 5, 5, 3, 2, 3, 3, 3, 0, 1, 1, 1, 3},
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++) {
        const geom *g = &gs[k];
        int64_t Cg = g->C / g->groups, OCg = g->OC / g->groups;
        strata_attr at[5] = {PAIR("stride", g->sh, g->sw), PAIR("padding", g->ph, g->pw),
                             PAIR("dilation", g->dh, g->dw), strata_attr_int("groups", g->groups),
                             PAIR("output_padding", 0, 0)};

        /* conv2d */
        strata_tensor *x = tv(D_ANY, 10u + (uint32_t)k, SHAPE(g->N, g->C, g->H, g->W));
        strata_tensor *w = tv(D_ANY, 20u + (uint32_t)k, SHAPE(g->OC, Cg, g->KH, g->KW));
        strata_tensor *b = tv(D_ANY, 30u + (uint32_t)k, SHAPE(g->OC));
        strata_tensor *y = call1("conv::conv2d", (strata_tensor *[]){x, w, b}, 3, at, 4, 1);
        int64_t OH = (g->H + 2 * g->ph - g->dh * (g->KH - 1) - 1) / g->sh + 1;
        int64_t OW = (g->W + 2 * g->pw - g->dw * (g->KW - 1) - 1) / g->sw + 1;
        assert_shape(y, SHAPE(g->N, g->OC, OH, OW), g->what);
        int64_t n;
        float *xv = read_f32(x, &n), *wv = read_f32(w, &n), *bv = read_f32(b, &n);
        double *want = malloc(sizeof(double) * (size_t)(g->N * g->OC * OH * OW));
        assert_non_null(want);
        conv2d_by_definition(want, xv, wv, bv, g, OH, OW);
        assert_close_double(y, want, g->N * g->OC * OH * OW, 1e-6, g->what);
        free(want);
        free(xv);
        free(wv);
        free(bv);
        strata_tensor_release(y);
        strata_tensor_release(x);
        strata_tensor_release(w);
        strata_tensor_release(b);

        /* conv_transpose2d with the same attributes, read as (C_in = C, OC), output_padding (1, 0) where
         * the stride allows */
        int64_t opad_h = g->sh > 1 ? 1 : 0;
        at[4] = PAIR("output_padding", opad_h, 0);
        x = tv(D_ANY, 40u + (uint32_t)k, SHAPE(g->N, g->C, g->H, g->W));
        w = tv(D_ANY, 50u + (uint32_t)k, SHAPE(g->C, OCg, g->KH, g->KW));
        b = tv(D_ANY, 60u + (uint32_t)k, SHAPE(g->OC));
        y = call1("conv::conv_transpose2d", (strata_tensor *[]){x, w, b}, 3, at, 5, 1);
        OH = (g->H - 1) * g->sh - 2 * g->ph + g->dh * (g->KH - 1) + opad_h + 1;
        OW = (g->W - 1) * g->sw - 2 * g->pw + g->dw * (g->KW - 1) + 1;
        char what[160];
        snprintf(what, sizeof what, "conv_transpose2d with the attributes of %s", g->what);
        assert_shape(y, SHAPE(g->N, g->OC, OH, OW), what);
        xv = read_f32(x, &n), wv = read_f32(w, &n), bv = read_f32(b, &n);
        want = malloc(sizeof(double) * (size_t)(g->N * g->OC * OH * OW));
        assert_non_null(want);
        conv_transpose2d_by_definition(want, xv, wv, bv, g, OH, OW);
        assert_close_double(y, want, g->N * g->OC * OH * OW, 1e-6, what);
        free(want);
        free(xv);
        free(wv);
        free(bv);
        strata_tensor_release(y);
        strata_tensor_release(x);
        strata_tensor_release(w);
        strata_tensor_release(b);
    }
}

/* x (1, 1, 4, 4):
 *   1 5 2 0
 *   3 4 8 7
 *   6 6 1 2
 *   0 9 3 3 */
static const float POOL_X[16] = {1, 5, 2, 0, 3, 4, 8, 7, 6, 6, 1, 2, 0, 9, 3, 3};

static void test_pool_values(void **state)
{
    (void)state;
    strata_tensor *x = tf(POOL_X, SHAPE(1, 1, 4, 4)), *out[2] = {NULL, NULL}, *y;

    /* max 2x2: the bottom-right window ties (3 at 14 and 15): the first wins */
    ST_OK(strata_op_call(g_rt, "conv::max_pool2d", &x, 1, ATTRS(ONE("kernel_size", 2)), out, 2));
    assert_shape(out[0], SHAPE(1, 1, 2, 2), "max_pool2d 2x2");
    assert_close_f32(out[0], (const float[]){5, 8, 9, 3}, 4, 0, "max_pool2d 2x2");
    assert_shape(out[1], SHAPE(1, 1, 2, 2), "max_pool2d 2x2 indices");
    assert_i64(out[1], (const int64_t[]){1, 6, 13, 14}, 4, "max_pool2d 2x2 indices");
    strata_tensor_release(out[0]);
    strata_tensor_release(out[1]);

    /* max 3x3 stride 2 padding 1: windows rows/cols {-1..1, 1..3}; the padding never wins */
    ST_OK(strata_op_call(g_rt, "conv::max_pool2d", &x, 1,
                         ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1)), out, 2));
    assert_close_f32(out[0], (const float[]){5, 8, 9, 9}, 4, 0, "max_pool2d 3x3 stride 2 padding 1");
    assert_i64(out[1], (const int64_t[]){1, 6, 13, 13}, 4, "max_pool2d 3x3 stride 2 padding 1 indices");
    /* its backward scatter-adds: index 13 is the maximum of two windows */
    strata_tensor *dy = tf((const float[]){1, 2, 3, 4}, SHAPE(1, 1, 2, 2));
    y = call1("conv::max_pool2d_backward", (strata_tensor *[]){dy, out[1]}, 2, ATTRS(PAIR("input_size", 4, 4)), 1);
    assert_shape(y, SHAPE(1, 1, 4, 4), "max_pool2d_backward");
    assert_close_f32(y, (const float[]){0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 7, 0, 0}, 16, 0, "max_pool2d_backward");
    strata_tensor_release(y);
    strata_tensor_release(dy);
    strata_tensor_release(out[0]);
    strata_tensor_release(out[1]);

    /* all-negative input with padding: the maximum is a real element, never the padding's -inf or 0 */
    strata_tensor *xn = tf((const float[]){-3, -1, -2, -4}, SHAPE(1, 1, 2, 2));
    ST_OK(strata_op_call(g_rt, "conv::max_pool2d", &xn, 1,
                         ATTRS(ONE("kernel_size", 2), ONE("stride", 1), ONE("padding", 1)), out, 2));
    assert_close_f32(out[0], (const float[]){-3, -1, -1, -2, -1, -1, -2, -2, -4}, 9, 0, "max_pool2d of negatives");
    assert_i64(out[1], (const int64_t[]){0, 1, 1, 2, 1, 1, 2, 2, 3}, 9, "max_pool2d of negatives indices");
    strata_tensor_release(out[0]);
    strata_tensor_release(out[1]);
    strata_tensor_release(xn);

    /* avg 2x2 */
    y = call1("conv::avg_pool2d", &x, 1, ATTRS(ONE("kernel_size", 2)), 1);
    assert_close_f32(y, (const float[]){3.25f, 4.25f, 5.25f, 2.25f}, 4, 1e-6, "avg_pool2d 2x2");
    strata_tensor_release(y);
    /* avg 3x3 stride 2 padding 1: window sums 13, 26, 28, 43 over 9 taps (count_include_pad 1) or over
     * the 4, 6, 6, 9 taps inside the input */
    y = call1("conv::avg_pool2d", &x, 1, ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1)), 1);
    assert_close_f32(y, (const float[]){13.0f / 9, 26.0f / 9, 28.0f / 9, 43.0f / 9}, 4, 1e-6,
                     "avg_pool2d count_include_pad 1");
    strata_tensor_release(y);
    y = call1(
        "conv::avg_pool2d", &x, 1,
        ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1), strata_attr_int("count_include_pad", 0)), 1);
    assert_close_f32(y, (const float[]){13.0f / 4, 26.0f / 6, 28.0f / 6, 43.0f / 9}, 4, 1e-6,
                     "avg_pool2d count_include_pad 0");
    strata_tensor_release(y);
    /* its backward spreads dy / divisor over each window */
    dy = tf((const float[]){4, 6, 6, 9}, SHAPE(1, 1, 2, 2));
    y = call1("conv::avg_pool2d_backward", &dy, 1,
              ATTRS(ONE("kernel_size", 3), ONE("stride", 2), ONE("padding", 1), strata_attr_int("count_include_pad", 0),
                    PAIR("input_size", 4, 4)),
              1);
    /* each window adds 1 to its taps: rows/cols 0 belong to one window, 1 to two, 2..3 to one */
    assert_close_f32(y, (const float[]){1, 2, 1, 1, 2, 4, 2, 2, 1, 2, 1, 1, 1, 2, 1, 1}, 16, 1e-6,
                     "avg_pool2d_backward count_include_pad 0");
    strata_tensor_release(y);
    strata_tensor_release(dy);

    /* global average: 60 / 16 */
    y = call1("conv::global_avg_pool2d", &x, 1, NOATTRS, 1);
    assert_shape(y, SHAPE(1, 1), "global_avg_pool2d");
    assert_close_f32(y, (const float[]){3.75f}, 1, 1e-6, "global_avg_pool2d");
    strata_tensor_release(y);
    strata_tensor_release(x);
}

/* x (N 2, C 2, L 2): channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3),
 * channel 1 holds 2, 4, 6, 8 (mean 5, biased variance 5, unbiased 20/3). */
static const float BN_X[8] = {1, 2, 2, 4, 3, 4, 6, 8};

/* NaNs in a max-pool window: a NaN beats every number and the last NaN the
 * earlier ones (PyTorch's (val > maxval) || isnan(val): index 3 of
 * [1, nan, 3, nan]), on every backend that runs here. */
static void test_max_pool_nan(void **state)
{
    (void)state;
    const char *backends[] = {"ref", "cpu", "opencl"};
    const float x[8] = {1.0f, NAN, 3.0f, NAN, 2.0f, 5.0f, NAN, 4.0f};
    const int64_t want[2] = {3, 2};
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        strata_device *dev = NULL;
        if (strata_device_get(g_rt, backends[b], 0, &dev) != STRATA_OK)
            continue;
        strata_tensor *in = NULL, *out[2] = {NULL, NULL};
        ST_OK(strata_tensor_from_host(dev, STRATA_F32, 4, (const int64_t[]){2, 1, 1, 4}, x, &in));
        const int64_t k[2] = {1, 4};
        const strata_attr a = strata_attr_ints("kernel_size", k, 2);
        ST_OK(strata_op_call(g_rt, "conv::max_pool2d", &in, 1, &a, 1, out, 2));
        float y[2];
        int64_t idx[2];
        ST_OK(strata_tensor_read(out[0], y, sizeof y));
        ST_OK(strata_tensor_read(out[1], idx, sizeof idx));
        for (int i = 0; i < 2; i++)
            if (!isnan(y[i]) || idx[i] != want[i])
                fail_msg("%s: window %d gives %g at %lld, expected NaN at %lld", backends[b], i, (double)y[i],
                         (long long)idx[i], (long long)want[i]);
        strata_tensor_release(out[0]);
        strata_tensor_release(out[1]);
        strata_tensor_release(in);
    }
    strata_clear_error();
}

/* dropout2d of channels with no elements (x (2, 5, 4, 0)) still draws
 * the (2, 5, 1, 1) mask, the same on every backend as on ref (opencl
 * refused such an x). */
static void test_dropout2d_empty_channels(void **state)
{
    (void)state;
    const char *backends[] = {"ref", "cpu", "opencl"};
    float want[10], got[10];
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        strata_device *dev = NULL;
        if (strata_device_get(g_rt, backends[b], 0, &dev) != STRATA_OK) {
            assert_true(b > 0); /* ref is always there */
            continue;
        }
        strata_tensor *x = NULL, *out[2] = {NULL, NULL};
        ST_OK(strata_tensor_zeros(dev, STRATA_F32, 4, (const int64_t[]){2, 5, 4, 0}, &x));
        ST_OK(strata_op_call(g_rt, "conv::dropout2d", &x, 1,
                             ATTRS(strata_attr_float("p", 0.5), strata_attr_int("seed", 9), strata_attr_int("offset", 0)),
                             out, 2));
        assert_int_equal(strata_tensor_numel(out[1]), 10);
        ST_OK(strata_tensor_read(out[1], b ? got : want, sizeof got));
        if (b && memcmp(got, want, sizeof got))
            fail_msg("%s: dropout2d's mask of empty channels differs from ref's", backends[b]);
        strata_tensor_release(out[0]);
        strata_tensor_release(out[1]);
        strata_tensor_release(x);
    }
    strata_clear_error();
}

static void test_batch_norm_values(void **state)
{
    (void)state;
    strata_tensor *x = tf(BN_X, SHAPE(2, 2, 2));
    strata_tensor *w = tf((const float[]){1, 2}, SHAPE(2)), *b = tf((const float[]){0, 1}, SHAPE(2));
    strata_tensor *rm = tf((const float[]){1, -1}, SHAPE(2)), *rv = tf((const float[]){4, 0.25f}, SHAPE(2));
    strata_tensor *in[5] = {x, w, b, rm, rv}, *out[3] = {NULL, NULL, NULL};

    /* training, eps 0: normalised with the batch's mean and biased variance */
    ST_OK(strata_op_call(g_rt, "conv::batch_norm", in, 5,
                         ATTRS(strata_attr_int("training", 1), strata_attr_float("eps", 0.0)), out, 3));
    const double i0 = 1.0 / sqrt(1.25), i1 = 1.0 / sqrt(5.0);
    assert_close_f32(out[0],
                     (const float[]){(float)(-1.5 * i0), (float)(-0.5 * i0), (float)(2 * -3 * i1 + 1),
                                     (float)(2 * -1 * i1 + 1), (float)(0.5 * i0), (float)(1.5 * i0),
                                     (float)(2 * 1 * i1 + 1), (float)(2 * 3 * i1 + 1)},
                     8, 1e-6, "batch_norm training y");
    assert_close_f32(out[1], (const float[]){2.5f, 5.0f}, 2, 1e-6, "batch_norm training mean");
    assert_close_f32(out[2], (const float[]){(float)i0, (float)i1}, 2, 1e-6, "batch_norm training invstd");
    for (int k = 0; k < 3; k++)
        strata_tensor_release(out[k]);
    /* the default eps (1e-5) enters the invstd */
    ST_OK(strata_op_call(g_rt, "conv::batch_norm", in, 5, ATTRS(strata_attr_int("training", 1)), out, 3));
    assert_close_f32(out[2], (const float[]){(float)(1.0 / sqrt(1.25 + 1e-5)), (float)(1.0 / sqrt(5.0 + 1e-5))}, 2,
                     1e-7, "batch_norm training invstd, default eps");
    for (int k = 0; k < 3; k++)
        strata_tensor_release(out[k]);

    /* eval (the default): the running statistics; channel 0 (x - 1) / 2, channel 1 2 (x + 1) / 0.5 + 1 */
    ST_OK(strata_op_call(g_rt, "conv::batch_norm", in, 5, ATTRS(strata_attr_float("eps", 0.0)), out, 3));
    assert_close_f32(out[0], (const float[]){0, 0.5f, 13, 21, 1, 1.5f, 29, 37}, 8, 1e-5, "batch_norm eval y");
    assert_close_f32(out[1], (const float[]){1, -1}, 2, 0, "batch_norm eval mean");
    assert_close_f32(out[2], (const float[]){0.5f, 2.0f}, 2, 1e-7, "batch_norm eval invstd");
    for (int k = 0; k < 3; k++)
        strata_tensor_release(out[k]);

    /* running statistics, in place: running = (1 - m) running + m batch, with the unbiased variance */
    strata_tensor *nbt = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_I64, 0, (const int64_t[]){1}, (const int64_t[]){7}, &nbt));
    strata_tensor *uin[4] = {rm, x, rv, nbt}, *uout[3] = {rm, rv, nbt};
    strata_op_invocation inv;
    memset(&inv, 0, sizeof inv);
    inv.struct_size = sizeof inv;
    inv.op = "conv::batch_norm_update_stats";
    inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
    inv.inputs = uin;
    inv.n_inputs = 4;
    inv.outputs = uout;
    inv.n_outputs = 3;
    ST_OK(strata_op_invoke(g_rt, &inv)); /* momentum 0.1 */
    assert_close_f32(rm, (const float[]){0.9f * 1 + 0.1f * 2.5f, 0.9f * -1 + 0.1f * 5}, 2, 1e-6,
                     "running_mean, momentum 0.1");
    assert_close_f32(rv, (const float[]){(float)(0.9 * 4 + 0.1 * 5.0 / 3), (float)(0.9 * 0.25 + 0.1 * 20.0 / 3)}, 2,
                     1e-6, "running_var (unbiased), momentum 0.1");
    assert_i64(nbt, (const int64_t[]){8}, 1, "num_batches_tracked");
    strata_attr m = strata_attr_float("momentum", 1.0);
    inv.attrs = &m;
    inv.n_attrs = 1;
    ST_OK(strata_op_invoke(g_rt, &inv)); /* momentum 1: the batch's statistics */
    assert_close_f32(rm, (const float[]){2.5f, 5.0f}, 2, 1e-6, "running_mean, momentum 1");
    assert_close_f32(rv, (const float[]){(float)(5.0 / 3), (float)(20.0 / 3)}, 2, 1e-6, "running_var, momentum 1");
    assert_i64(nbt, (const int64_t[]){9}, 1, "num_batches_tracked");

    strata_tensor_release(nbt);
    for (int k = 0; k < 5; k++)
        strata_tensor_release(in[k]);
}

/* ======================================================================= */
/* conv_transpose2d is the adjoint of conv2d                               */
/* ======================================================================= */

static double dot(strata_tensor *a, strata_tensor *b, double *abs_sum)
{
    int64_t na, nb;
    float *av = read_f32(a, &na), *bv = read_f32(b, &nb);
    assert_int_equal(na, nb);
    double s = 0.0, as = 0.0;
    for (int64_t i = 0; i < na; i++) {
        s += (double)av[i] * bv[i];
        as += fabs((double)av[i] * bv[i]);
    }
    free(av);
    free(bv);
    *abs_sum = as;
    return s;
}

static void test_transpose_is_adjoint(void **state)
{
    (void)state;
    static const geom gs[] = {
        {"stride 1, no padding", 2, 3, 5, 4, 2, 3, 2, 1, 1, 0, 0, 1, 1, 1},
        {"stride 2, padding 1, odd sizes (output_padding (0, 1))", 1, 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1},
        {"stride (2,3), padding (0,1), dilation (2,1)", 2, 2, 8, 7, 2, 3, 2, 2, 3, 0, 1, 2, 1, 1},
        {"groups 2, stride 2, dilation 2, padding 2", 1, 4, 7, 7, 6, 3, 3, 2, 2, 2, 2, 2, 2, 2},
        {"depthwise (groups 3), stride 3, padding 2", 2, 3, 6, 5, 3, 3, 3, 3, 3, 2, 2, 1, 1, 3},
        {"groups 2, 1x1 kernel, stride 2", 1, 2, 5, 5, 4, 1, 1, 2, 2, 0, 0, 1, 1, 2},
        {"batch 1, kernel = padded input (1x1 output)", 1, 2, 3, 4, 2, 5, 6, 1, 1, 1, 1, 1, 1, 1},
        {"stride 2, dilation 3 > stride, padding 1 (output_padding (1, 1))", 2, 2, 8, 9, 3, 3, 2, 2, 2, 1, 1, 3, 3, 1},
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++) {
        const geom *g = &gs[k];
        strata_tensor *x = tv(D_ANY, 100u + (uint32_t)k, SHAPE(g->N, g->C, g->H, g->W));
        strata_tensor *w = tv(D_ANY, 200u + (uint32_t)k, SHAPE(g->OC, g->C / g->groups, g->KH, g->KW));
        strata_attr at[6] = {PAIR("stride", g->sh, g->sw), PAIR("padding", g->ph, g->pw),
                             PAIR("dilation", g->dh, g->dw), strata_attr_int("groups", g->groups)};
        strata_tensor *cx = call1("conv::conv2d", (strata_tensor *[]){x, w}, 2, at, 4, 1);
        const int64_t *ys = strata_tensor_shape(cx);
        strata_tensor *y = tv(D_ANY, 300u + (uint32_t)k, ys, 4);
        /* the rows and columns conv2d's floor drop come back as output_padding */
        int64_t oph = (g->H + 2 * g->ph - g->dh * (g->KH - 1) - 1) % g->sh;
        int64_t opw = (g->W + 2 * g->pw - g->dw * (g->KW - 1) - 1) % g->sw;
        at[4] = PAIR("output_padding", oph, opw);
        strata_tensor *ty = call1("conv::conv_transpose2d", (strata_tensor *[]){y, w}, 2, at, 5, 1);
        char what[160];
        snprintf(what, sizeof what, "conv_transpose2d(y, w), %s", g->what);
        assert_shape(ty, SHAPE(g->N, g->C, g->H, g->W), what);
        double s1, s2, a1, a2;
        double lhs = dot(cx, y, &a1), rhs = dot(x, ty, &a2);
        if (!(fabs(lhs - rhs) <= 1e-5 * (a1 + a2)))
            fail_msg("%s: <conv2d(x, w), y> = %.9g but <x, conv_transpose2d(y, w)> = %.9g", g->what, lhs, rhs);
        /* conv2d's backward-data op is the same map */
        at[4] = PAIR("input_size", g->H, g->W);
        strata_tensor *bd = call1("conv::conv2d_backward_data", (strata_tensor *[]){y, w}, 2, at, 5, 1);
        s1 = dot(bd, bd, &a1);
        s2 = dot(bd, ty, &a2);
        if (!(fabs(s1 - s2) <= 1e-6 * a1))
            fail_msg("%s: conv2d_backward_data(y, w) differs from conv_transpose2d(y, w)", g->what);
        strata_tensor_release(bd);
        strata_tensor_release(ty);
        strata_tensor_release(y);
        strata_tensor_release(cx);
        strata_tensor_release(w);
        strata_tensor_release(x);
    }
}

/* ======================================================================= */
/* Layers: parameters, initialisation, running statistics                  */
/* ======================================================================= */

/* Parameter @p i of @p m is named @p name with @p shape, and its values
 * are all @p value (uniform = 0) or lie in U(-value, value) and are not all
 * equal (uniform = 1; uniform = 2: and spread over at least half the range,
 * for tensors with many elements). */
static void check_param(strata_model *m, int i, const char *name, const int64_t *shape, int ndim, double value,
                        int uniform)
{
    const char *got = NULL;
    strata_tensor *t = NULL;
    ST_OK(strata_model_param(m, i, &got, &t));
    assert_string_equal(got, name);
    assert_shape(t, shape, ndim, name);
    int64_t n;
    float *v = read_f32(t, &n);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
        lo = fmin(lo, v[k]);
        hi = fmax(hi, v[k]);
    }
    free(v);
    if (!uniform) {
        if (lo != value || hi != value)
            fail_msg("%s: values in [%g, %g], expected all %g", name, lo, hi, value);
    } else if (lo < -value || hi > value || !(hi > lo) || (uniform == 2 && hi - lo < value)) {
        fail_msg("%s: values in [%g, %g], expected U(-%g, %g)", name, lo, hi, value, value);
    }
}

static void check_out_shape(strata_model *m, const int64_t *shape, int ndim, const char *what)
{
    int nd = 0;
    const int64_t *s = strata_model_output_shape(m, 0, &nd);
    assert_int_equal(nd, ndim);
    for (int k = 0; k < ndim; k++)
        if (s[k] != shape[k])
            fail_msg("%s: output dim %d is %lld, expected %lld", what, k, (long long)s[k], (long long)shape[k]);
}

static void test_layer_params_and_init(void **state)
{
    (void)state;
    /* conv2d: weight (OC, C/groups, KH, KW), bias (OC), both U(-1/sqrt(fan_in), +), fan_in = C/groups KH KW */
    strata_model *m = layer_model("conv2d", "conv", SHAPE(3, 8, 8),
                                  ATTRS(strata_attr_int("out_channels", 16), PAIR("kernel_size", 3, 2)));
    assert_int_equal(strata_model_param_count(m), 2);
    check_param(m, 0, "conv.weight", SHAPE(16, 3, 3, 2), 1.0 / sqrt(18.0), 2);
    check_param(m, 1, "conv.bias", SHAPE(16), 1.0 / sqrt(18.0), 1);
    check_out_shape(m, SHAPE(16, 6, 7), "conv2d");
    strata_model_destroy(m);

    m = layer_model("conv2d", "conv", SHAPE(4, 8, 8),
                    ATTRS(strata_attr_int("out_channels", 6), ONE("kernel_size", 3), strata_attr_int("groups", 2),
                          strata_attr_int("bias", 0), ONE("stride", 2), ONE("padding", 1)));
    assert_int_equal(strata_model_param_count(m), 1);
    check_param(m, 0, "conv.weight", SHAPE(6, 2, 3, 3), 1.0 / sqrt(18.0), 2);
    check_out_shape(m, SHAPE(6, 4, 4), "conv2d groups 2 stride 2 padding 1");
    strata_model_destroy(m);

    /* conv1d: weight (OC, C/groups, K) */
    m = layer_model("conv1d", "c1", SHAPE(3, 10),
                    ATTRS(strata_attr_int("out_channels", 8), ONE("kernel_size", 3), ONE("dilation", 2)));
    check_param(m, 0, "c1.weight", SHAPE(8, 3, 3), 1.0 / 3.0, 2);
    check_param(m, 1, "c1.bias", SHAPE(8), 1.0 / 3.0, 1);
    check_out_shape(m, SHAPE(8, 6), "conv1d dilation 2");
    strata_model_destroy(m);

    /* conv_transpose2d: weight (C_in, OC/groups, KH, KW), fan_in = OC/groups KH KW (weight.size(1) KH KW) */
    m = layer_model("conv_transpose2d", "up", SHAPE(4, 5, 5),
                    ATTRS(strata_attr_int("out_channels", 6), PAIR("kernel_size", 2, 3), strata_attr_int("groups", 2),
                          ONE("stride", 2)));
    check_param(m, 0, "up.weight", SHAPE(4, 3, 2, 3), 1.0 / sqrt(18.0), 2);
    check_param(m, 1, "up.bias", SHAPE(6), 1.0 / sqrt(18.0), 1);
    check_out_shape(m, SHAPE(6, 10, 11), "conv_transpose2d stride 2");
    strata_model_destroy(m);

    /* batch norm: weight 1, bias 0; buffers running_mean 0, running_var 1, num_batches_tracked 0 (i64, 0-d) */
    m = layer_model("batch_norm2d", "bn", SHAPE(3, 4, 4), NOATTRS);
    assert_int_equal(strata_model_param_count(m), 2);
    check_param(m, 0, "bn.weight", SHAPE(3), 1.0, 0);
    check_param(m, 1, "bn.bias", SHAPE(3), 0.0, 0);
    assert_int_equal(strata_model_buffer_count(m), 3);
    static const char *const bufs[3] = {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
    for (int k = 0; k < 3; k++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_buffer(m, k, &name, &t));
        assert_string_equal(name, bufs[k]);
        if (k < 2) {
            assert_shape(t, SHAPE(3), name);
            assert_close_f32(t, k ? (const float[]){1, 1, 1} : (const float[]){0, 0, 0}, 3, 0, name);
        } else {
            assert_int_equal(strata_tensor_ndim(t), 0);
            assert_i64(t, (const int64_t[]){0}, 1, name);
        }
    }
    check_out_shape(m, SHAPE(3, 4, 4), "batch_norm2d");
    strata_model_destroy(m);

    /* pools and global average pooling have no parameters */
    m = layer_model("max_pool2d", "p1", SHAPE(2, 7, 7), ATTRS(ONE("kernel_size", 2)));
    model_layer(m, "avg_pool2d", "p2", ATTRS(ONE("kernel_size", 3), ONE("stride", 1), ONE("padding", 1)), NULL, NULL);
    check_out_shape(m, SHAPE(2, 3, 3), "max_pool2d 2 + avg_pool2d 3/1/1");
    model_layer(m, "global_avg_pool2d", "gap", NOATTRS, NULL, NULL);
    check_out_shape(m, SHAPE(2), "global_avg_pool2d");
    assert_int_equal(strata_model_param_count(m), 0);
    strata_model_destroy(m);
}

static void read_buffers(strata_model *m, float rm[2], float rv[2], int64_t *nbt)
{
    strata_tensor *t = NULL;
    const char *name = NULL;
    ST_OK(strata_model_buffer(m, 0, &name, &t));
    ST_OK(strata_tensor_read(t, rm, 2 * sizeof(float)));
    ST_OK(strata_model_buffer(m, 1, &name, &t));
    ST_OK(strata_tensor_read(t, rv, 2 * sizeof(float)));
    ST_OK(strata_model_buffer(m, 2, &name, &t));
    ST_OK(strata_tensor_read(t, nbt, sizeof(int64_t)));
}

/* The layers update their running statistics in training only, as
 * PyTorch: running = (1 - momentum) running + momentum batch, the variance
 * unbiased; eval normalises with them. */
static void test_layer_batch_norm_running_stats(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        /* batch_norm2d on (2, 1, 2) with the default momentum 0.1, batch_norm1d on (2, 2) with 0.5 */
        double mom = kind ? 0.5 : 0.1;
        strata_model *m = kind ? layer_model("batch_norm1d", "bn", SHAPE(2, 2),
                                             ATTRS(strata_attr_float("momentum", mom)))
                               : layer_model("batch_norm2d", "bn", SHAPE(2, 1, 2), NOATTRS);
        strata_tensor *x = kind ? tf(BN_X, SHAPE(2, 2, 2)) : tf(BN_X, SHAPE(2, 2, 1, 2)), *y = NULL;
        const double mean[2] = {2.5, 5.0}, var[2] = {1.25, 5.0}, uvar[2] = {5.0 / 3, 20.0 / 3};
        double erm[2] = {0, 0}, erv[2] = {1, 1};
        float rm[2], rv[2];
        int64_t nbt;
        const char *what = kind ? "batch_norm1d momentum 0.5" : "batch_norm2d";
        for (int step = 1; step <= 2; step++) {
            ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
            /* training output: the batch's statistics */
            float want[8];
            for (int i = 0; i < 8; i++) {
                int c = i / 2 % 2;
                want[i] = (float)((BN_X[i] - mean[c]) / sqrt(var[c] + 1e-5));
            }
            assert_close_f32(y, want, 8, 1e-5, what);
            strata_tensor_release(y);
            strata_graph_reset(strata_runtime_graph(g_rt));
            for (int c = 0; c < 2; c++) {
                erm[c] = (1 - mom) * erm[c] + mom * mean[c];
                erv[c] = (1 - mom) * erv[c] + mom * uvar[c];
            }
            read_buffers(m, rm, rv, &nbt);
            for (int c = 0; c < 2; c++)
                if (fabs(rm[c] - erm[c]) > 1e-6 || fabs(rv[c] - erv[c]) > 1e-6)
                    fail_msg("%s step %d channel %d: running_mean %.8g running_var %.8g, expected %.8g and %.8g", what,
                             step, c, (double)rm[c], (double)rv[c], erm[c], erv[c]);
            assert_int_equal(nbt, step);
        }
        /* eval: the running statistics, and no update */
        ST_OK(strata_model_forward(m, &x, 1, &y, 1, 0));
        float want[8];
        for (int i = 0; i < 8; i++) {
            int c = i / 2 % 2;
            want[i] = (float)((BN_X[i] - erm[c]) / sqrt(erv[c] + 1e-5));
        }
        assert_close_f32(y, want, 8, 1e-5, what);
        strata_tensor_release(y);
        strata_graph_reset(strata_runtime_graph(g_rt));
        read_buffers(m, rm, rv, &nbt);
        assert_int_equal(nbt, 2);
        assert_true(fabs(rm[0] - erm[0]) < 1e-6 && fabs(rv[1] - erv[1]) < 1e-6);
        strata_tensor_release(x);
        strata_model_destroy(m);
    }
}

/* A batch-norm layer updates its running statistics in place after each training forward, also between two
 * runs in one graph (a GAN's discriminator on real and fake images): the backward does not read them, so it is
 * allowed; writing the weight it does read is refused (autograd's in-place check). */
static void test_layer_batch_norm_twice_in_one_graph(void **state)
{
    (void)state;
    strata_model *m = layer_model("batch_norm1d", "bn", SHAPE(2, 2), NOATTRS);
    strata_tensor *x = tf(BN_X, SHAPE(2, 2, 2)), *y[2] = {NULL, NULL}, *p = NULL, *l = NULL, *w = NULL;
    const char *name = NULL;
    strata_graph *g = strata_runtime_graph(g_rt);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < 2; k++)
            ST_OK(strata_model_forward(m, &x, 1, &y[k], 1, 1));
        ST_OK(strata_op_call(g_rt, "core::mul", y, 2, NULL, 0, &p, 1));
        ST_OK(strata_op_call(g_rt, "core::sum", &p, 1, NULL, 0, &l, 1));
        ST_OK(strata_model_param(m, 0, &name, &w));
        assert_string_equal(name, "bn.weight");
        if (pass == 0) {
            ST_OK(strata_backward(g, l));
            assert_non_null(strata_tensor_grad(w));
        } else {
            const float ones[2] = {1, 1};
            ST_OK(strata_tensor_write(w, ones, sizeof ones));
            assert_int_equal(strata_backward(g, l), STRATA_E_STATE);
            assert_non_null(strstr(strata_last_error(), "backward of conv::batch_norm: its input 1 (f32 (2)) was "
                                                        "modified in place"));
        }
        strata_graph_reset(g);
        strata_tensor_release(l);
        strata_tensor_release(p);
        strata_tensor_release(y[0]);
        strata_tensor_release(y[1]);
    }
    float rm[2], rv[2];
    int64_t nbt;
    read_buffers(m, rm, rv, &nbt);
    assert_int_equal(nbt, 4);
    strata_tensor_release(x);
    strata_model_destroy(m);
}

/* ======================================================================= */
/* Bad input                                                               */
/* ======================================================================= */

static void test_bad_input_ops(void **state)
{
    (void)state;
    /* kernel larger than the padded input */
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 3, 3)), tv(D_ANY, 2, SHAPE(1, 1, 5, 5))}, 2, NOATTRS,
                    1, STRATA_E_SHAPE, NEEDLES("conv::conv2d", "kernel height 5", "padded input height 3 + 2 x 0 = 3"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 5, 6)), tv(D_ANY, 2, SHAPE(1, 1, 3, 6))}, 2,
                    ATTRS(PAIR("dilation", 1, 2), ONE("padding", 1)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv2d", "kernel width 6 (dilation 2: spans 11)", "6 + 2 x 1 = 8"));
    expect_op_error("conv::conv1d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 1, 4)), tv(D_ANY, 2, SHAPE(1, 1, 5))}, 2,
                    NOATTRS, 1, STRATA_E_SHAPE, NEEDLES("conv::conv1d", "kernel length 5", "input length 4"));
    expect_op_error("conv::max_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 3, 3))}, 1,
                    ATTRS(ONE("kernel_size", 4)), 2, STRATA_E_SHAPE,
                    NEEDLES("conv::max_pool2d", "kernel height 4", "padded input height 3"));
    expect_op_error("conv::avg_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 5, 2))}, 1,
                    ATTRS(PAIR("kernel_size", 2, 5), ONE("padding", 1)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::avg_pool2d", "kernel width 5", "padded input width 2 + 2 x 1 = 4"));

    /* empty planes: a window of only padding read past an empty buffer on opencl, means of nothing were NaN */
    expect_op_error("conv::max_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 0, 4))}, 1,
                    ATTRS(ONE("kernel_size", 2), ONE("stride", 1), ONE("padding", 1)), 2, STRATA_E_SHAPE,
                    NEEDLES("conv::max_pool2d", "empty plane", "H 0"));
    expect_op_error("conv::global_avg_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 3, 0))}, 1, NOATTRS, 1,
                    STRATA_E_SHAPE, NEEDLES("conv::global_avg_pool2d", "empty plane", "W 0"));
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 0, 3)), tv(D_ANY, 2, SHAPE(2, 3, 2, 2))}, 2, NOATTRS,
                    1, STRATA_E_SHAPE, NEEDLES("conv::conv_transpose2d", "height is 0"));
    /* sizes that overflowed 64 bits into wrong shapes, and attributes the ops would ignore (not in their schemas:
     * the core refuses them) */
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 5, 5)), tv(D_ANY, 2, SHAPE(1, 2, 3, 3))}, 2,
                    ATTRS(ONE("stride", 4611686018427387904LL)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv_transpose2d", "'stride'", "out of range"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 5, 5)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(ONE("dilation", 4611686018427387904LL)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "'dilation'", "out of range"));
    expect_op_error("conv::max_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 5, 5))}, 1,
                    ATTRS(ONE("kernel_size", 2), ONE("dilation", 2)), 2, STRATA_E_INVALID,
                    NEEDLES("conv::max_pool2d", "unknown attribute 'dilation'"));
    expect_op_error("conv::avg_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 5, 5))}, 1,
                    ATTRS(ONE("kernel_size", 2), ONE("ceil_mode", 1)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::avg_pool2d", "unknown attribute 'ceil_mode'"));
    expect_op_error("conv::conv1d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 1, 6)), tv(D_ANY, 2, SHAPE(1, 1, 3))}, 2,
                    ATTRS(ONE("output_padding", 1)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv1d", "unknown attribute 'output_padding'"));
    /* the kinds of the schemas (ABI 1.4): a list of integers or one integer for the windows; not a number */
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 5, 5)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(strata_attr_float("stride", 1.5)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "'stride' must be a list of integers or an integer, got 1.5"));
    expect_op_error("conv::conv1d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 1, 6)), tv(D_ANY, 2, SHAPE(1, 1, 3))}, 2,
                    ATTRS(strata_attr_string("stride", "2")), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv1d", "'stride' must be a list of integers or an integer, got a string"));
    expect_op_error("conv::batch_norm_update_stats",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2)), tv(D_ANY, 2, SHAPE(3, 2)), tv(D_ANY, 3, SHAPE(2)),
                                        tv(D_ANY, 4, SHAPE(1))},
                    4, ATTRS(strata_attr_float("momentun", 0.5)), 3, STRATA_E_INVALID,
                    NEEDLES("conv::batch_norm_update_stats", "unknown attribute 'momentun'", "it takes: momentum"));
    expect_op_error("conv::avg_pool2d_backward", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 2, 2, 2))}, 1,
                    ATTRS(ONE("input_size", 4)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::avg_pool2d_backward", "attribute 'kernel_size' is required"));

    /* channels not divisible by groups */
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 3, 4, 4)), tv(D_ANY, 2, SHAPE(4, 1, 3, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 2)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv2d", "input channels 3", "groups 2"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 4, 4, 4)), tv(D_ANY, 2, SHAPE(3, 2, 3, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 2)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv2d", "output channels 3", "groups 2"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 4, 4, 4)), tv(D_ANY, 2, SHAPE(2, 4, 3, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 2)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv2d", "4 input channels per group", "2 per group"));
    expect_op_error("conv::conv1d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 3, 5)), tv(D_ANY, 2, SHAPE(2, 1, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 2)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv1d", "3 in", "groups 2"));
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 3, 2, 2)), tv(D_ANY, 2, SHAPE(3, 1, 3, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 2)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv_transpose2d", "input channels 3", "groups 2"));

    /* zero or negative stride (and the other ranges) */
    expect_op_error(
        "conv::conv2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
        ATTRS(ONE("stride", 0)), 1, STRATA_E_INVALID, NEEDLES("conv::conv2d", "stride must be positive, got (0, 0)"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(PAIR("stride", 1, -2)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "stride must be positive, got (1, -2)"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(strata_attr_int("groups", 0)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "groups must be positive, got 0"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(PAIR("padding", -1, 0)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "padding must not be negative, got (-1, 0)"));
    expect_op_error("conv::conv2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(PAIR("output_padding", 1, 0)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv2d", "unknown attribute 'output_padding'"));
    expect_op_error("conv::conv1d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 5)), tv(D_ANY, 2, SHAPE(1, 1, 3))}, 2,
                    ATTRS(strata_attr_int("stride", -1)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv1d", "stride must be positive, got -1"));
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(ONE("stride", 0)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv_transpose2d", "stride must be positive, got (0, 0)"));
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(ONE("stride", 2), PAIR("output_padding", 1, 2)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::conv_transpose2d", "output_padding (1, 2)", "stride (2, 2)"));
    expect_op_error("conv::conv_transpose2d",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 1, 2)), tv(D_ANY, 2, SHAPE(1, 1, 1, 1))}, 2,
                    ATTRS(ONE("padding", 1)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv_transpose2d", "output height would be -1", "padding 1"));
    expect_op_error("conv::max_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4))}, 1,
                    ATTRS(ONE("kernel_size", 2), ONE("stride", 0)), 2, STRATA_E_INVALID,
                    NEEDLES("conv::max_pool2d", "stride must be positive, got (0, 0)"));
    expect_op_error("conv::avg_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4))}, 1,
                    ATTRS(ONE("kernel_size", 2), PAIR("stride", -1, 1)), 1, STRATA_E_INVALID,
                    NEEDLES("conv::avg_pool2d", "stride must be positive, got (-1, 1)"));
    expect_op_error("conv::max_pool2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 4, 4))}, 1,
                    ATTRS(ONE("kernel_size", 2), ONE("padding", 2)), 2, STRATA_E_INVALID,
                    NEEDLES("conv::max_pool2d", "padding (2, 2)", "half the kernel size (2, 2)"));
    expect_op_error("conv::conv2d_backward_data",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2, NOATTRS,
                    1, STRATA_E_INVALID, NEEDLES("conv::conv2d_backward_data", "input_size"));
    expect_op_error("conv::conv2d_backward_data",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), tv(D_ANY, 2, SHAPE(1, 1, 3, 3))}, 2,
                    ATTRS(PAIR("input_size", 5, 5)), 1, STRATA_E_SHAPE,
                    NEEDLES("conv::conv2d_backward_data", "dy has spatial size (2, 2)", "gives (3, 3)"));

    /* max_pool2d_backward with an index outside the plane */
    expect_op_error(
        "conv::max_pool2d_backward",
        (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), ti64((const int64_t[]){0, 5, 16, 3}, SHAPE(1, 1, 2, 2))},
        2, ATTRS(PAIR("input_size", 4, 4)), 1, STRATA_E_INVALID,
        NEEDLES("conv::max_pool2d_backward", "index 16 at flat position 2", "(4, 4) plane"));
    /* ... and with a window (optional) that does not give dy's shape, or is invalid */
    expect_op_error(
        "conv::max_pool2d_backward",
        (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), ti64((const int64_t[]){0, 2, 8, 10}, SHAPE(1, 1, 2, 2))},
        2, ATTRS(PAIR("input_size", 4, 4), ONE("kernel_size", 2), ONE("stride", 1)), 1, STRATA_E_SHAPE,
        NEEDLES("conv::max_pool2d_backward", "dy has spatial size (2, 2)", "gives (3, 3)"));
    expect_op_error(
        "conv::max_pool2d_backward",
        (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), ti64((const int64_t[]){0, 2, 8, 10}, SHAPE(1, 1, 2, 2))},
        2, ATTRS(PAIR("input_size", 4, 4), ONE("kernel_size", 2), ONE("stride", 0)), 1, STRATA_E_INVALID,
        NEEDLES("conv::max_pool2d_backward", "stride must be positive, got (0, 0)"));
    expect_op_error(
        "conv::max_pool2d_backward",
        (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 1, 2, 2)), ti64((const int64_t[]){0, 2, 8, 10}, SHAPE(1, 1, 2, 2))},
        2, ATTRS(PAIR("input_size", 4, 4), ONE("stride", 2)), 1, STRATA_E_INVALID,
        NEEDLES("conv::max_pool2d_backward", "kernel_size must be given"));

    /* batch norm with a mismatched channel count */
    expect_op_error("conv::batch_norm",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 3, 4)), tv(D_ANY, 2, SHAPE(4)), tv(D_ANY, 3, SHAPE(3)),
                                        tv(D_ANY, 4, SHAPE(3)), tv(D_POS, 5, SHAPE(3))},
                    5, NOATTRS, 3, STRATA_E_SHAPE,
                    NEEDLES("conv::batch_norm", "weight (input 1) has 4 elements for 3 channels"));
    expect_op_error("conv::batch_norm",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 3, 2, 2)), tv(D_ANY, 2, SHAPE(3)), tv(D_ANY, 3, SHAPE(3)),
                                        tv(D_ANY, 4, SHAPE(3)), tv(D_POS, 5, SHAPE(2))},
                    5, NOATTRS, 3, STRATA_E_SHAPE,
                    NEEDLES("conv::batch_norm", "running_var (input 4) has 2 elements for 3 channels"));
    expect_op_error("conv::batch_norm",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(1, 3)), tv(D_ANY, 2, SHAPE(3)), tv(D_ANY, 3, SHAPE(3)),
                                        tv(D_ANY, 4, SHAPE(3)), tv(D_POS, 5, SHAPE(3))},
                    5, ATTRS(strata_attr_int("training", 1)), 3, STRATA_E_INVALID,
                    NEEDLES("conv::batch_norm", "more than one value per channel", "has 1 per channel"));
    expect_op_error("conv::batch_norm",
                    (strata_tensor *[]){tv(D_ANY, 1, SHAPE(2, 3)), tv(D_ANY, 2, SHAPE(3)), tv(D_ANY, 3, SHAPE(3)),
                                        tv(D_ANY, 4, SHAPE(3)), tv(D_POS, 5, SHAPE(3))},
                    5, ATTRS(strata_attr_float("eps", INFINITY)), 3, STRATA_E_INVALID,
                    NEEDLES("conv::batch_norm", "eps must be a finite number >= 0, got inf"));
    strata_tensor *nbt = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_I64, 0, (const int64_t[]){1}, (const int64_t[]){0}, &nbt));
    expect_op_error(
        "conv::batch_norm_update_stats",
        (strata_tensor *[]){tv(D_ANY, 1, SHAPE(4)), tv(D_ANY, 2, SHAPE(2, 3, 2)), tv(D_POS, 3, SHAPE(3)), nbt}, 4,
        NOATTRS, 3, STRATA_E_SHAPE,
        NEEDLES("conv::batch_norm_update_stats", "running_mean (input 0) has 4 elements for 3 channels"));
    /* wrong rank */
    expect_op_error("conv::conv2d", (strata_tensor *[]){tv(D_ANY, 1, SHAPE(3, 4, 4)), tv(D_ANY, 2, SHAPE(1, 3, 3, 3))},
                    2, NOATTRS, 1, STRATA_E_SHAPE, NEEDLES("conv::conv2d", "rank 4", "(3, 4, 4)"));
}

/* Parses @p text, which must parse, builds it, and expects @p status with a
 * message that starts with @p prefix (the spec's file:line and the layer)
 * and holds every needle. */
static void expect_build_error(const char *text, strata_status status, const char *prefix, const char *const *needles)
{
    strata_spec *s = NULL;
    ST_OK(strata_spec_parse(g_rt, text, strlen(text), "conv.yaml", &s));
    strata_model *m = NULL;
    strata_status st = strata_spec_build_model(s, g_dev, &m);
    strata_spec_destroy(s);
    if (st != status)
        fail_msg("expected %s, got %s: %s", strata_status_name(status), strata_status_name(st), strata_last_error());
    assert_null(m);
    if (strncmp(strata_last_error(), prefix, strlen(prefix)) != 0)
        fail_msg("expected the message to start with \"%s\", got \"%s\"", prefix, strata_last_error());
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

#define SPEC_HEAD(input) "model:\n  input: " input "\n  layers:\n"

/* expect_build_error for a spec of input @p input and one unnamed layer
 * "{type: @p type, @p rest}": the message starts with the layer's line
 * and names it, "layer '0' (@p type)", and holds every needle. */
static void expect_layer0_error(const char *input, const char *type, const char *rest, strata_status status,
                                const char *const *needles)
{
    char text[512], prefix[128], layer[64];
    snprintf(text, sizeof text, SPEC_HEAD("%s") "    - {type: %s%s%s}\n", input, type, rest[0] ? ", " : "", rest);
    snprintf(prefix, sizeof prefix, "conv.yaml:4: layer 0 (type '%s', name '0'): ", type);
    snprintf(layer, sizeof layer, "layer '0' (%s)", type);
    expect_build_error(text, status, prefix, NEEDLES(layer));
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

static void test_bad_input_spec(void **state)
{
    (void)state;
    /* one unnamed layer: the message starts with its line and names it, "layer '0' (type)" */
    static const struct {
        const char *input, *type, *rest; /* the layer is {type: TYPE, REST} */
        strata_status status;
        const char *needles[3]; /* NULL-terminated */
    } cases[] = {
        /* kernel larger than the padded input */
        {"[1, 4, 4]", "conv2d", "out_channels: 2, kernel_size: 5", STRATA_E_SHAPE,
         {"kernel height 5", "padded input height 4 + 2 x 0 = 4"}},
        {"[3, 10]", "conv1d", "out_channels: 2, kernel_size: 4, dilation: 4", STRATA_E_SHAPE,
         {"kernel length 4 (dilation 4: spans 13)", "input length 10"}},
        {"[1, 8, 8]", "conv2d", "out_channels: 2, kernel_size: [3, 3, 3]", STRATA_E_INVALID,
         {"'kernel_size' takes one or two integers", "got 3"}},
        /* channels not divisible by groups */
        {"[3, 8, 8]", "conv2d", "out_channels: 4, kernel_size: 3, groups: 2", STRATA_E_INVALID,
         {"in_channels 3", "groups 2"}},
        {"[4, 8, 8]", "conv2d", "out_channels: 3, kernel_size: 3, groups: 2", STRATA_E_INVALID,
         {"out_channels 3", "groups 2"}},
        {"[4, 8, 8]", "conv_transpose2d", "out_channels: 6, kernel_size: 3, groups: 4", STRATA_E_INVALID,
         {"out_channels 6", "groups 4"}},
        {"[4, 8, 8]", "conv2d", "out_channels: 4, kernel_size: 3, groups: 0", STRATA_E_INVALID,
         {"groups must be positive, got 0"}},
        {"[3, 8, 8]", "conv2d", "in_channels: 4, out_channels: 4, kernel_size: 3", STRATA_E_SHAPE,
         {"in_channels is 4 but the input has 3 channels"}},
        /* bias is a switch: 2 was taken for 1 */
        {"[1, 8, 8]", "conv2d", "out_channels: 2, kernel_size: 3, bias: 2", STRATA_E_INVALID,
         {"bias must be 0 or 1, got 2"}},
        {"[4]", "linear", "out_features: 2, bias: -1", STRATA_E_INVALID, {"(linear): bias must be 0 or 1, got -1"}},
        /* an empty kernel_size: it said "must be positive, got (-1, -1)", a placeholder */
        {"[1, 8, 8]", "conv2d", "out_channels: 2, kernel_size: []", STRATA_E_INVALID,
         {"kernel_size is required (k or [kh, kw]), got an empty list"}},
        {"[1, 8]", "conv1d", "out_channels: 2, kernel_size: []", STRATA_E_INVALID,
         {"kernel_size is required (k or [k]), got an empty list"}},
        {"[1, 8, 8]", "max_pool2d", "kernel_size: []", STRATA_E_INVALID, {"kernel_size is required"}},
        {"[1, 8, 8]", "avg_pool2d", "kernel_size: [], stride: 2", STRATA_E_INVALID, {"kernel_size is required"}},
        /* zero or negative stride */
        {"[1, 8, 8]", "conv2d", "out_channels: 2, kernel_size: 3, stride: 0", STRATA_E_INVALID,
         {"stride must be positive, got (0, 0)"}},
        {"[1, 8, 8]", "conv2d", "out_channels: 2, kernel_size: 3, stride: [1, -2]", STRATA_E_INVALID,
         {"stride must be positive, got (1, -2)"}},
        {"[1, 8]", "conv1d", "out_channels: 2, kernel_size: 3, stride: -1", STRATA_E_INVALID,
         {"stride must be positive, got -1"}},
        {"[1, 8, 8]", "conv_transpose2d", "out_channels: 2, kernel_size: 3, stride: 0", STRATA_E_INVALID,
         {"stride must be positive, got (0, 0)"}},
        {"[1, 8, 8]", "max_pool2d", "kernel_size: 2, stride: 0", STRATA_E_INVALID,
         {"stride must be positive, got (0, 0)"}},
        {"[1, 8, 8]", "avg_pool2d", "kernel_size: 2, stride: [2, -1]", STRATA_E_INVALID,
         {"stride must be positive, got (2, -1)"}},
        /* batch norm with a mismatched channel count, or the wrong rank */
        {"[5, 7]", "batch_norm1d", "num_features: 7", STRATA_E_SHAPE,
         {"num_features is 7 but the input has 5 channels"}},
        {"[3, 4, 4]", "batch_norm1d", "", STRATA_E_SHAPE, {"(C) or (C, L)", "got (3, 4, 4)"}},
        {"[3, 4]", "batch_norm2d", "", STRATA_E_SHAPE, {"(C, H, W)", "got (3, 4)"}},
        {"[3, 4, 4]", "batch_norm2d", "eps: -0.001", STRATA_E_INVALID,
         {"eps must be a finite number >= 0, got -0.001"}},
        /* an infinite eps zeroed every output and trained to chance */
        {"[3, 4]", "batch_norm1d", "eps: .inf", STRATA_E_INVALID, {"eps must be a finite number >= 0, got inf"}},
        {"[3, 4, 4]", "batch_norm2d", "eps: .nan", STRATA_E_INVALID, {"eps must be a finite number >= 0, got nan"}},
        {"[3, 4, 4]", "batch_norm2d", "momentum: 1.5", STRATA_E_INVALID, {"momentum must be in [0, 1], got 1.5"}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        expect_layer0_error(cases[k].input, cases[k].type, cases[k].rest, cases[k].status, cases[k].needles);

    /* a named layer, and layers after the first: the kernel too large, num_features off */
    expect_build_error(
        SPEC_HEAD(
            "[1, 9, 4]") "    - {type: conv2d, out_channels: 2, kernel_size: 3}\n"
                         "    - {type: conv2d, name: c2, out_channels: 2, kernel_size: [2, 2], dilation: [1, 2]}\n",
        STRATA_E_SHAPE, "conv.yaml:5: layer 1 (type 'conv2d', name 'c2'): ",
        NEEDLES("layer 'c2' (conv2d)", "kernel width 2 (dilation 2: spans 3)", "input width 2"));
    expect_build_error(SPEC_HEAD("[2, 3, 3]") "    - {type: max_pool2d, name: pool, kernel_size: 4}\n", STRATA_E_SHAPE,
                       "conv.yaml:4: layer 0 (type 'max_pool2d', name 'pool'): ",
                       NEEDLES("layer 'pool' (max_pool2d)", "kernel height 4", "input height 3"));
    expect_build_error(SPEC_HEAD("[1, 8, 8]") "    - {type: conv2d, out_channels: 3, kernel_size: 3}\n"
                                              "    - {type: batch_norm2d, name: bn, num_features: 4}\n",
                       STRATA_E_SHAPE, "conv.yaml:5: layer 1 (type 'batch_norm2d', name 'bn'): ",
                       NEEDLES("layer 'bn' (batch_norm2d)", "num_features is 4 but the input has 3 channels"));

    /* a valid ConvNet spec builds, with PyTorch's parameter names */
    static const char ok[] = SPEC_HEAD(
        "[1, 12, 12]") "    - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}\n"
                       "    - {type: batch_norm2d}\n"
                       "    - {type: relu}\n"
                       "    - {type: max_pool2d, kernel_size: 2}\n"
                       "    - {type: conv_transpose2d, out_channels: 2, kernel_size: 2, stride: 2}\n"
                       "    - {type: avg_pool2d, kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}\n"
                       "    - {type: dropout2d, p: 0.25}\n"
                       "    - {type: global_avg_pool2d}\n";
    strata_spec *s = NULL;
    ST_OK(strata_spec_parse(g_rt, ok, strlen(ok), "ok.yaml", &s));
    /* the window attributes left out are recorded with the value the layer applies (they read "[]") */
    static const char *const applied[] = {
        "model.layers[0] (conv2d): stride = 1\n",         "model.layers[0] (conv2d): dilation = 1\n",
        "model.layers[3] (max_pool2d): stride = (the kernel size)\n",
        "model.layers[3] (max_pool2d): padding = 0\n",    "model.layers[4] (conv_transpose2d): padding = 0\n",
        "model.layers[4] (conv_transpose2d): output_padding = 0\n",
        "model.layers[4] (conv_transpose2d): dilation = 1\n",
    };
    const char *dflt = strata_spec_defaults(s);
    for (size_t k = 0; k < sizeof applied / sizeof *applied; k++)
        if (!strstr(dflt, applied[k]))
            fail_msg("the defaults lack '%s':\n%s", applied[k], dflt);
    if (strstr(dflt, "= []"))
        fail_msg("a default recorded as []:\n%s", dflt);
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, g_dev, &m));
    static const char *const names[] = {"0.weight", "1.weight", "1.bias", "4.weight", "4.bias"};
    assert_int_equal(strata_model_param_count(m), 5);
    for (int k = 0; k < 5; k++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, k, &name, &t));
        assert_string_equal(name, names[k]);
    }
    check_out_shape(m, SHAPE(2), "the valid spec");
    strata_model_destroy(m);
    strata_spec_destroy(s);
}

/* Errors that only a forward can see name the layer too. */
static void test_bad_input_forward(void **state)
{
    (void)state;
    strata_model *m = layer_model("batch_norm1d", "bn", SHAPE(4), NOATTRS);
    strata_tensor *x = tv(D_ANY, 1, SHAPE(1, 4)), *y = NULL;
    assert_int_equal(strata_model_forward(m, &x, 1, &y, 1, 1), STRATA_E_INVALID);
    assert_null(y);
    tu_assert_error_contains("layer 'bn' (batch_norm1d)");
    tu_assert_error_contains("more than one value per channel");
    /* eval mode normalises a batch of 1 */
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 0));
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_loaded),
        cmocka_unit_test(test_harness_detects_wrong_gradient),
        cmocka_unit_test(test_conv2d_grad),
        cmocka_unit_test(test_conv2d_backward_ops_grad),
        cmocka_unit_test(test_conv1d_grad),
        cmocka_unit_test(test_conv_transpose2d_grad),
        cmocka_unit_test(test_pool_grad),
        cmocka_unit_test(test_batch_norm_grad),
        cmocka_unit_test(test_dropout2d),
        cmocka_unit_test(test_layer_conv_grads),
        cmocka_unit_test(test_layer_pool_grads),
        cmocka_unit_test(test_layer_norm_dropout_grads),
        cmocka_unit_test(test_conv2d_values),
        cmocka_unit_test(test_conv_transpose2d_values),
        cmocka_unit_test(test_conv_by_definition),
        cmocka_unit_test(test_pool_values),
        cmocka_unit_test(test_max_pool_nan),
        cmocka_unit_test(test_dropout2d_empty_channels),
        cmocka_unit_test(test_batch_norm_values),
        cmocka_unit_test(test_transpose_is_adjoint),
        cmocka_unit_test(test_layer_params_and_init),
        cmocka_unit_test(test_layer_batch_norm_running_stats),
        cmocka_unit_test(test_layer_batch_norm_twice_in_one_graph),
        cmocka_unit_test(test_bad_input_ops),
        cmocka_unit_test(test_bad_input_spec),
        cmocka_unit_test(test_bad_input_forward),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
