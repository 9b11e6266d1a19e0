/* test_anomaly.c - strata_set_detect_anomaly: the first op whose output
 * holds a NaN or an Inf fails with STRATA_E_NUMERIC and a message naming
 * the op, the element, the layer (forward or backward) and the inputs'
 * shapes; off, the same ops run and give the non-finite values;
 * STRATA_DETECT_ANOMALY=1 turns it on for new runtimes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static strata_tensor *vec(strata_device *dev, const float *v, int64_t n)
{
    strata_tensor *t;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, &n, v, &t));
    return t;
}

static void expect_numeric(strata_status s, const char *const *needles)
{
    if (s != STRATA_E_NUMERIC)
        fail_msg("expected E_NUMERIC, got %s: %s", strata_status_name(s), strata_last_error());
    for (int k = 0; needles[k]; k++)
        tu_assert_error_contains(needles[k]);
}

static void test_op_output(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const float v[4] = {1.0f, 4.0f, -1.0f, 9.0f};
    strata_tensor *x = vec(dev, v, 4), *y = NULL;
    /* off: sqrt(-1) is a NaN like any other value */
    assert_int_equal(strata_set_detect_anomaly(rt, 1), 0);
    assert_int_equal(strata_set_detect_anomaly(rt, 0), 1);
    ST_OK(strata_op_call(rt, "core::sqrt", &x, 1, NULL, 0, &y, 1));
    float out[4];
    ST_OK(strata_tensor_read(y, out, sizeof out));
    assert_true(isnan(out[2]));
    strata_tensor_release(y);
    y = NULL;
    /* on: the op fails, and names itself, the element, the shapes */
    strata_set_detect_anomaly(rt, 1);
    expect_numeric(strata_op_call(rt, "core::sqrt", &x, 1, NULL, 0, &y, 1),
                   (const char *[]){"core::sqrt", "NaN", "element 2 of output 0", "(4) f32", "outside any layer",
                                    "inputs: (4) f32", NULL});
    assert_null(y);
    /* 1/0: +Inf; an input already holding a NaN is pointed out */
    const float z[4] = {1.0f, 0.0f, 2.0f, 3.0f}, n[4] = {NAN, 1.0f, 1.0f, 1.0f};
    strata_tensor *zt = vec(dev, z, 4), *nt = vec(dev, n, 4);
    strata_tensor *in[2] = {x, zt};
    expect_numeric(strata_op_call(rt, "core::div", in, 2, NULL, 0, &y, 1),
                   (const char *[]){"core::div", "+Inf", "element 1", NULL});
    in[1] = nt;
    expect_numeric(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1),
                   (const char *[]){"core::add", "(4) f32 holding NaN", NULL});
    /* computed in place (the input given as the output): the op is named, its input
     * called finite, and the output left as it was (core::copy was blamed, the NaN copied) */
    strata_tensor *w = vec(dev, v, 4);
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::sqrt",
                                .flags = STRATA_INVOKE_OUTPUTS_PROVIDED, .inputs = &w, .n_inputs = 1,
                                .outputs = &w, .n_outputs = 1};
    expect_numeric(strata_op_invoke(rt, &inv),
                   (const char *[]){"anomaly detected: core::sqrt", "element 2 of output 0", "inputs: (4) f32", NULL});
    assert_null(strstr(strata_last_error(), "holding"));
    float kept[4];
    ST_OK(strata_tensor_read(w, kept, sizeof kept));
    assert_memory_equal(kept, v, sizeof kept);
    strata_tensor_release(w);
    /* finite results pass */
    in[1] = x;
    ST_OK(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1));
    strata_tensor_release(y);
    strata_tensor_release(zt);
    strata_tensor_release(nt);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

/* A 2-layer model whose first layer overflows: the report names it. */
static void test_layer_forward_and_backward(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_model *m;
    ST_OK(strata_model_create(dev, &m));
    int64_t in_shape[1] = {3};
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, in_shape));
    strata_attr a1 = strata_attr_int("out_features", 2);
    ST_OK(strata_model_add_layer(m, "linear", "fc1", &a1, 1, NULL, 0));
    ST_OK(strata_model_add_layer(m, "relu", "act", NULL, 0, NULL, 0));
    strata_set_detect_anomaly(rt, 1);
    strata_tensor *w;
    const char *name;
    ST_OK(strata_model_param(m, 0, &name, &w));
    assert_string_equal(name, "fc1.weight");
    const float big[6] = {3e38f, 3e38f, 3e38f, 1, 1, 1};
    ST_OK(strata_tensor_write(w, big, sizeof big));
    const float xv[6] = {1, 1, 1, 1, 1, 1};
    int64_t xs[2] = {2, 3};
    strata_tensor *x, *y = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, xs, xv, &x));
    expect_numeric(strata_model_forward(m, &x, 1, &y, 1, 1),
                   (const char *[]){"core::linear", "+Inf", "in the forward of layer 'fc1' (linear)",
                                    "inputs: (2, 3) f32, (2, 3) f32, (2) f32", NULL});
    strata_graph_reset(strata_runtime_graph(rt));

    /* backward: sqrt is finite at 0, its derivative is not */
    const float zero[2] = {0.0f, 4.0f};
    strata_tensor *p = vec(dev, zero, 2), *s = NULL, *l = NULL;
    ST_OK(strata_tensor_set_requires_grad(p, 1));
    ST_OK(strata_op_call(rt, "core::sqrt", &p, 1, NULL, 0, &s, 1));
    ST_OK(strata_op_call(rt, "core::sum", &s, 1, NULL, 0, &l, 1));
    expect_numeric(strata_backward(strata_runtime_graph(rt), l),
                   (const char *[]){"+Inf", "in the backward of core::sqrt", NULL});
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_release(l);
    strata_tensor_release(s);
    strata_tensor_release(p);
    strata_tensor_release(x);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* A backward that fails part-way leaves no gradient behind on the
 * intermediates: a second backward of the same graph, anomaly detection off,
 * gives the same leaf gradient as a first one would (not twice a branch). */
static void test_failed_backward_retry(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const float v[2] = {0.0f, 1.0f};
    strata_tensor *x = vec(dev, v, 2), *e = NULL, *r = NULL, *se = NULL, *sr = NULL, *l = NULL;
    ST_OK(strata_tensor_set_requires_grad(x, 1));
    ST_OK(strata_op_call(rt, "core::exp", &x, 1, NULL, 0, &e, 1));
    ST_OK(strata_op_call(rt, "core::sqrt", &x, 1, NULL, 0, &r, 1));
    ST_OK(strata_op_call(rt, "core::sum", &e, 1, NULL, 0, &se, 1));
    ST_OK(strata_op_call(rt, "core::sum", &r, 1, NULL, 0, &sr, 1));
    strata_tensor *parts[2] = {se, sr};
    ST_OK(strata_op_call(rt, "core::add", parts, 2, NULL, 0, &l, 1));
    strata_set_detect_anomaly(rt, 1);
    expect_numeric(strata_backward(strata_runtime_graph(rt), l),
                   (const char *[]){"in the backward of core::sqrt", NULL});
    strata_set_detect_anomaly(rt, 0);
    strata_tensor_zero_grad(x);
    ST_OK(strata_backward(strata_runtime_graph(rt), l));
    float g[2];
    ST_OK(strata_tensor_read(strata_tensor_grad(x), g, sizeof g));
    assert_true(isinf(g[0]));
    assert_float_equal(g[1], expf(1.0f) + 0.5f, 1e-5);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor *all[6] = {l, sr, se, r, e, x};
    for (int k = 0; k < 6; k++)
        strata_tensor_release(all[k]);
    strata_runtime_destroy(rt);
}

static void test_environment(void **state)
{
    (void)state;
    setenv("STRATA_DETECT_ANOMALY", "1", 1);
    strata_runtime *rt = tu_runtime();
    unsetenv("STRATA_DETECT_ANOMALY");
    assert_int_equal(strata_set_detect_anomaly(rt, 1), 1);
    strata_runtime_destroy(rt);
    rt = tu_runtime();
    assert_int_equal(strata_set_detect_anomaly(rt, 0), 0);
    strata_runtime_destroy(rt);
    assert_int_equal(strata_set_detect_anomaly(NULL, 1), 0);
    /* false, no, off (any case) are off too: "false" turned it on, halving the throughput */
    static const char *const off[] = {"0", "", "false", "No", "OFF"};
    for (size_t k = 0; k < sizeof off / sizeof *off; k++) {
        setenv("STRATA_DETECT_ANOMALY", off[k], 1);
        rt = tu_runtime();
        unsetenv("STRATA_DETECT_ANOMALY");
        if (strata_set_detect_anomaly(rt, 0) != 0)
            fail_msg("STRATA_DETECT_ANOMALY=%s turned it on", off[k]);
        strata_runtime_destroy(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_output),
        cmocka_unit_test(test_layer_forward_and_backward),
        cmocka_unit_test(test_failed_backward_retry), cmocka_unit_test(test_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
