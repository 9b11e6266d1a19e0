/*
 * test_example.c - tests of the example backend through libstrata's public
 * API: it loads with one device; its kernels give ref's results; what it
 * declines (mul with broadcasting) or lacks (exp, and every backward) still
 * runs through the core's fallback; a model trains on it.
 * EXAMPLE_BACKEND_FILE (set by CMake) is the example.so just built.
 */
#define _XOPEN_SOURCE 700 /* realpath, PATH_MAX: the tests compare plugin paths */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <strata/strata.h>

#define OK(expr)                                                                                               \
    do {                                                                                                       \
        strata_status s_ = (expr);                                                                             \
        if (s_ != STRATA_OK)                                                                                   \
            fail_msg("%s: %s: %s", #expr, strata_status_name(s_), strata_last_error());                        \
    } while (0)

/* A runtime with the installed backends (discovered next to libstrata) and
 * this build's example.so, searched first (plugin_path): a copy installed
 * earlier is then refused as a duplicate, so the tests always run this
 * build's, never a stale installed one. */
static int setup(void **state)
{
    strata_runtime_options o = {.struct_size = sizeof o, .plugin_path = EXAMPLE_BACKEND_FILE};
    strata_runtime *rt = NULL;
    if (strata_runtime_create(&o, &rt) != STRATA_OK) {
        fprintf(stderr, "creating the runtime: %s\n", strata_last_error());
        return -1;
    }
    char want[PATH_MAX], got[PATH_MAX];
    int loaded = 0;
    if (!realpath(EXAMPLE_BACKEND_FILE, want)) {
        fprintf(stderr, "%s: not found\n", EXAMPLE_BACKEND_FILE);
        strata_runtime_destroy(rt);
        return -1;
    }
    for (int i = 0; i < strata_plugin_count(rt); i++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, i, &r) == STRATA_OK && realpath(r.path, got) && !strcmp(got, want)) {
            if (!r.loaded)
                fprintf(stderr, "loading %s: %s\n", EXAMPLE_BACKEND_FILE, r.reason);
            loaded = r.loaded;
        }
    }
    if (!loaded) {
        strata_runtime_destroy(rt);
        return -1;
    }
    *state = rt;
    return 0;
}

static int teardown(void **state)
{
    strata_runtime_destroy(*state);
    return 0;
}

static strata_device *device(strata_runtime *rt, const char *backend)
{
    strata_device *dev = NULL;
    OK(strata_device_get(rt, backend, 0, &dev));
    return dev;
}

static void test_registers_one_device(void **state)
{
    strata_runtime *rt = *state;
    int found = 0;
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        OK(strata_backend_get(rt, b, &r));
        if (strcmp(r.name, "example"))
            continue;
        found = 1;
        assert_int_equal(r.device_count, 1);
        assert_non_null(strstr(strata_backend_device_name(rt, b, 0), "example"));
    }
    assert_true(found);
}

/* Runs @p op on both devices with the same inputs; compares outputs. */
static void same_as_ref(strata_runtime *rt, const char *op, int n_in, const int *ndims, const int64_t (*shapes)[2],
                        const strata_attr *attrs, int n_attrs)
{
    strata_device *devs[2] = {device(rt, "example"), device(rt, "ref")};
    float out[2][64];
    int64_t n_out = 0;
    for (int d = 0; d < 2; d++) {
        strata_tensor *in[2] = {NULL, NULL}, *y = NULL;
        for (int k = 0; k < n_in; k++) {
            float v[64];
            for (int i = 0; i < 64; i++)
                v[i] = (float)sin(0.7 * i + 1.9 * k) * 2.0f;
            OK(strata_tensor_from_host(devs[d], STRATA_F32, ndims[k], shapes[k], v, &in[k]));
        }
        OK(strata_op_call(rt, op, in, n_in, attrs, n_attrs, &y, 1));
        assert_ptr_equal(strata_tensor_device(y), devs[d]);
        n_out = strata_tensor_numel(y);
        assert_true(n_out <= 64);
        OK(strata_tensor_read(y, out[d], (size_t)n_out * sizeof(float)));
        for (int k = 0; k < n_in; k++)
            strata_tensor_release(in[k]);
        strata_tensor_release(y);
    }
    for (int64_t i = 0; i < n_out; i++)
        if (fabsf(out[0][i] - out[1][i]) > 1e-5f * (1.0f + fabsf(out[1][i])))
            fail_msg("%s element %lld: example %.8g, ref %.8g", op, (long long)i, out[0][i], out[1][i]);
}

static void test_kernels_match_ref(void **state)
{
    strata_runtime *rt = *state;
    const int two[2] = {2, 2}, one[1] = {1};
    same_as_ref(rt, "core::add", 2, two, (const int64_t[][2]){{3, 5}, {3, 5}}, NULL, 0);
    same_as_ref(rt, "core::mul", 2, two, (const int64_t[][2]){{4, 4}, {4, 4}}, NULL, 0);
    same_as_ref(rt, "core::relu", 1, one, (const int64_t[][2]){{17, 0}}, NULL, 0);
    same_as_ref(rt, "core::matmul", 2, two, (const int64_t[][2]){{3, 7}, {7, 4}}, NULL, 0);
}

/* What supports_op declines, and ops without a kernel, still work. */
static void test_fallback(void **state)
{
    strata_runtime *rt = *state;
    const int two[2] = {2, 2}, one[1] = {1};
    same_as_ref(rt, "core::mul", 2, two, (const int64_t[][2]){{4, 4}, {1, 4}}, NULL, 0); /* broadcast: declined */
    strata_attr tb = strata_attr_int("trans_b", 1);
    same_as_ref(rt, "core::matmul", 2, two, (const int64_t[][2]){{3, 7}, {4, 7}}, &tb, 1); /* transposed: declined */
    same_as_ref(rt, "core::exp", 1, one, (const int64_t[][2]){{9, 0}}, NULL, 0);           /* no kernel at all */
}

/* A small model trains on the example device (backward through fallbacks). */
static void test_training_step(void **state)
{
    strata_runtime *rt = *state;
    strata_device *dev = device(rt, "example");
    static const char spec_text[] = "model:\n  input: [3]\n  layers:\n"
                                    "    - {type: linear, out_features: 6}\n    - {type: relu}\n"
                                    "    - {type: linear, out_features: 1}\n"
                                    "optimizer: {type: sgd, lr: 0.05}\n";
    strata_spec *spec = NULL;
    strata_model *m = NULL;
    strata_optimizer *opt = NULL;
    OK(strata_spec_parse(rt, spec_text, strlen(spec_text), "example.yaml", &spec));
    OK(strata_spec_build_model(spec, dev, &m));
    OK(strata_spec_create_optimizer(spec, m, &opt));
    enum { B = 8 };
    float x[B * 3], t[B];
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < 3; j++)
            x[i * 3 + j] = (float)cos(0.9 * i + 0.4 * j);
        t[i] = x[i * 3] + 0.5f * x[i * 3 + 2];
    }
    strata_tensor *tx = NULL, *tt = NULL;
    OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){B, 3}, x, &tx));
    OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){B, 1}, t, &tt));
    int prev = strata_set_grad_enabled(rt, 1);
    double first = 0, last = 0;
    for (int step = 0; step < 20; step++) {
        strata_tensor *y = NULL, *d = NULL, *d2 = NULL, *l = NULL;
        strata_model_zero_grad(m);
        OK(strata_model_forward(m, &tx, 1, &y, 1, 1));
        OK(strata_sub(rt, y, tt, &d));
        OK(strata_mul(rt, d, d, &d2));
        OK(strata_mean_all(rt, d2, &l));
        OK(strata_backward(strata_runtime_graph(rt), l));
        OK(strata_optimizer_step(opt));
        OK(strata_tensor_item(l, step ? &last : &first));
        strata_graph_reset(strata_runtime_graph(rt));
        strata_tensor_release(y);
        strata_tensor_release(d);
        strata_tensor_release(d2);
        strata_tensor_release(l);
    }
    strata_set_grad_enabled(rt, prev);
    if (!(last < first))
        fail_msg("loss did not fall on the example device: %g -> %g", first, last);
    strata_tensor_release(tx);
    strata_tensor_release(tt);
    strata_optimizer_destroy(opt);
    strata_model_destroy(m);
    strata_spec_destroy(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers_one_device),
        cmocka_unit_test(test_kernels_match_ref),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_training_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
