/*
 * test_abi_compat.c - binary compatibility across ABI versions (issue 10):
 *  - the SDK templates (the swish layer plugin and the example backend),
 *    compiled against the frozen 1.0 headers (tests/abi/v1.0), load into
 *    the current core and work: ops, the layer in a model, the backend's
 *    kernels;
 *  - a plugin built for a newer minor than the core's loads; the core tells
 *    it its own minor (host->abi_minor, host->struct_size) and the plugin
 *    uses only what that provides;
 *  - a plugin built for another major is refused before its init runs, with
 *    a message naming both versions and the file; the runtime keeps working;
 *  - a 1.0 caller's strata_lr_schedule (48 bytes) is read as 1.0: none of
 *    the 1.1 members (warmup, milestones) beyond its struct_size.
 * Layouts are checked at compile time by sdk/abi/abi_layout.c; the exported
 * functions by tools/abi-check.sh (abidiff against sdk/abi/).
 */
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/strata_plugin.h"
#include "testutil.h"

static int setup(void **state)
{
    *state = tu_runtime();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    strata_runtime_destroy(*state);
    return 0;
}

/* The plugin record of real path @p path, or fails. */
static strata_plugin_record record_of(strata_runtime *rt, const char *path)
{
    char real[PATH_MAX];
    assert_non_null(realpath(path, real));
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        ST_OK(strata_plugin_get(rt, k, &r));
        if (!strcmp(r.path, real))
            return r;
    }
    fail_msg("no plugin record for %s", real);
    strata_plugin_record none = {0};
    return none;
}

static void test_v1_0_layer_plugin(void **state)
{
    strata_runtime *rt = *state;
    ST_OK(strata_plugin_load(rt, COMPAT_SWISH_V1_0));
    strata_plugin_record r = record_of(rt, COMPAT_SWISH_V1_0);
    assert_true(r.loaded);
    assert_int_equal(r.abi_major, 1);
    assert_int_equal(r.abi_minor, 0);

    /* the op: values and gradient path */
    strata_device *ref = tu_ref(rt);
    float x[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f}, y[5];
    strata_tensor *tx = NULL, *ty = NULL;
    ST_OK(strata_tensor_from_host(ref, STRATA_F32, 1, (int64_t[]){5}, x, &tx));
    ST_OK(strata_op_call(rt, "swish::swish", &tx, 1, NULL, 0, &ty, 1));
    ST_OK(strata_tensor_read(ty, y, sizeof y));
    for (int i = 0; i < 5; i++)
        assert_float_equal(y[i], x[i] / (1.0 + exp(-x[i])), 1e-6);
    strata_tensor_release(tx);
    strata_tensor_release(ty);

    /* the layer in a model, forward and backward */
    strata_model *m = NULL;
    ST_OK(strata_model_create(ref, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (int64_t[]){3}));
    strata_attr lin = strata_attr_int("out_features", 4), beta = strata_attr_float("beta", 2.0);
    ST_OK(strata_model_add_layer(m, "linear", "fc", &lin, 1, NULL, 0));
    ST_OK(strata_model_add_layer(m, "swish", "act", &beta, 1, NULL, 0));
    float xb[6] = {0.1f, -0.2f, 0.3f, 1.0f, 0.5f, -1.5f};
    strata_tensor *in = NULL, *out = NULL, *loss = NULL;
    ST_OK(strata_tensor_from_host(ref, STRATA_F32, 2, (int64_t[]){2, 3}, xb, &in));
    int prev = strata_set_grad_enabled(rt, 1);
    ST_OK(strata_model_forward(m, &in, 1, &out, 1, 1));
    ST_OK(strata_sum_all(rt, out, &loss));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    strata_tensor *w = NULL;
    ST_OK(strata_model_param(m, 0, NULL, &w));
    assert_non_null(strata_tensor_grad(w));
    strata_graph_reset(strata_runtime_graph(rt));
    strata_set_grad_enabled(rt, prev);
    strata_tensor_release(in);
    strata_tensor_release(out);
    strata_tensor_release(loss);
    strata_model_destroy(m);
}

static void test_v1_0_backend(void **state)
{
    strata_runtime *rt = *state;
    ST_OK(strata_plugin_load(rt, COMPAT_EXAMPLE_V1_0));
    assert_true(record_of(rt, COMPAT_EXAMPLE_V1_0).loaded);
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "example", 0, &dev));
    float a[4] = {1, 2, 3, 4}, b[4] = {0.5f, -1, 2, 8}, y[4];
    strata_tensor *ta = NULL, *tb = NULL, *t1 = NULL, *t2 = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){2, 2}, a, &ta));
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){2, 2}, b, &tb));
    ST_OK(strata_mul(rt, ta, tb, &t1));            /* the backend's kernel */
    ST_OK(strata_matmul(rt, t1, tb, 0, 1, &t2)); /* declined by supports_op: the core's fallback */
    ST_OK(strata_tensor_read(t1, y, sizeof y));
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], a[i] * b[i], 0);
    ST_OK(strata_tensor_read(t2, y, sizeof y));
    /* t1 = [[0.5, -2], [6, 32]], b^T rows (0.5, -1), (2, 8) */
    const float want[4] = {0.25f + 2.0f, 1.0f - 16.0f, 3.0f - 32.0f, 12.0f + 256.0f};
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], want[i], 1e-5);
    strata_tensor_release(ta);
    strata_tensor_release(tb);
    strata_tensor_release(t1);
    strata_tensor_release(t2);
}

static void test_newer_minor(void **state)
{
    strata_runtime *rt = *state;
    ST_OK(strata_plugin_load(rt, NEWER_MINOR_FIXTURE));
    strata_plugin_record r = record_of(rt, NEWER_MINOR_FIXTURE);
    assert_true(r.loaded);
    assert_int_equal(r.abi_major, STRATA_ABI_MAJOR);
    assert_int_equal(r.abi_minor, STRATA_ABI_MINOR + 1);

    void *h = dlopen(r.path, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    void (*report)(uint32_t *, size_t *, int *) = NULL;
    *(void **)&report = dlsym(h, "newer_minor_report");
    assert_non_null(report);
    uint32_t minor = 0;
    size_t size = 0;
    int used_newer = -1;
    report(&minor, &size, &used_newer);
    dlclose(h);
    uint32_t core_major = 0, core_minor = 0;
    strata_abi_version(&core_major, &core_minor);
    assert_int_equal(minor, core_minor);            /* the core told it its own minor */
    assert_int_equal(size, sizeof(strata_host_api)); /* and the size of its table */
    assert_int_equal(used_newer, 0);                /* so it did without the newer function */

    float x[3] = {1, -2, 0.5f}, y[3];
    strata_tensor *tx = NULL, *ty = NULL;
    ST_OK(strata_tensor_from_host(tu_ref(rt), STRATA_F32, 1, (int64_t[]){3}, x, &tx));
    ST_OK(strata_op_call(rt, "fixture_newer::triple", &tx, 1, NULL, 0, &ty, 1));
    ST_OK(strata_tensor_read(ty, y, sizeof y));
    for (int i = 0; i < 3; i++)
        assert_float_equal(y[i], 3 * x[i], 0);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
}

static void test_newer_major_refused(void **state)
{
    strata_runtime *rt = *state;
    assert_int_equal(strata_plugin_load(rt, NEWER_MAJOR_FIXTURE), STRATA_E_ABI);
    char want[64];
    snprintf(want, sizeof want, "ABI %d.0", STRATA_ABI_MAJOR + 1);
    tu_assert_error_contains(want);
    snprintf(want, sizeof want, "provides ABI %d.%d", STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    tu_assert_error_contains(want);
    tu_assert_error_contains("wrong_abi.so");
    strata_plugin_record r = record_of(rt, NEWER_MAJOR_FIXTURE);
    assert_false(r.loaded);
    assert_int_equal(r.status, STRATA_E_ABI);
    /* the runtime keeps working */
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_zeros(tu_ref(rt), STRATA_F32, 1, (int64_t[]){2}, &t));
    strata_tensor_release(t);
}

/* v1_0_schedule.c, compiled against the 1.0 headers */
double v1_0_step_lr(double base_lr, int64_t step);

static void test_v1_0_schedule(void **state)
{
    (void)state;
    /* StepLR(step_size 2, gamma 0.5): no warmup read from past the struct */
    assert_true(v1_0_step_lr(1.0, 0) == 1.0);
    assert_true(v1_0_step_lr(1.0, 1) == 1.0);
    assert_true(v1_0_step_lr(1.0, 3) == 0.5);
    assert_true(v1_0_step_lr(1.0, 4) == 0.25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v1_0_layer_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_0_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_minor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_major_refused, setup, teardown),
        cmocka_unit_test(test_v1_0_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
