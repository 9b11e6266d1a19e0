/*
 * test_swish.c - tests of the swish plugin, through libstrata's public API
 * only (what an application sees):
 *  - the plugin loads and registers its op and layer;
 *  - forward values against the formula, on every backend with a device;
 *  - the backward against central finite differences of L = sum(y .* r);
 *  - the layer in a model built from a YAML spec, trained a few steps;
 *  - bad input is refused with a message (dtype, unknown spec key).
 * SWISH_PLUGIN_FILE (set by CMake) is the swish.so just built.
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
 * this build's swish.so, searched first (plugin_path): a copy installed
 * earlier is then refused as a duplicate, so the tests always run this
 * build's, never a stale installed one. */
static int setup(void **state)
{
    strata_runtime_options o = {.struct_size = sizeof o, .plugin_path = SWISH_PLUGIN_FILE};
    strata_runtime *rt = NULL;
    if (strata_runtime_create(&o, &rt) != STRATA_OK) {
        fprintf(stderr, "creating the runtime: %s\n", strata_last_error());
        return -1;
    }
    char want[PATH_MAX], got[PATH_MAX];
    int loaded = 0;
    if (!realpath(SWISH_PLUGIN_FILE, want)) {
        fprintf(stderr, "%s: not found\n", SWISH_PLUGIN_FILE);
        strata_runtime_destroy(rt);
        return -1;
    }
    for (int i = 0; i < strata_plugin_count(rt); i++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, i, &r) == STRATA_OK && realpath(r.path, got) && !strcmp(got, want)) {
            if (!r.loaded)
                fprintf(stderr, "loading %s: %s\n", SWISH_PLUGIN_FILE, r.reason);
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

static strata_device *ref_device(strata_runtime *rt)
{
    strata_device *dev = NULL;
    OK(strata_device_get(rt, "ref", 0, &dev));
    return dev;
}

static double swish_ref(double x, double beta)
{
    return x / (1.0 + exp(-beta * x));
}

static void test_plugin_registers(void **state)
{
    strata_runtime *rt = *state;
    int found = 0;
    for (int i = 0; i < strata_plugin_count(rt); i++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        OK(strata_plugin_get(rt, i, &r));
        if (!strcmp(r.name, "swish") && r.loaded) { /* this build's: setup checked its path */
            found++;
            assert_int_equal(r.abi_major, STRATA_ABI_MAJOR);
        }
    }
    assert_int_equal(found, 1);
    int op = 0, layer = 0;
    for (int i = 0; i < strata_registry_count(rt, STRATA_REGISTRY_OP); i++) {
        const char *name = NULL, *plugin = NULL;
        int version = 0;
        OK(strata_registry_get(rt, STRATA_REGISTRY_OP, i, &name, &version, &plugin, NULL));
        op |= !strcmp(name, "swish::swish") && version == 1 && !strcmp(plugin, "swish");
    }
    for (int i = 0; i < strata_registry_count(rt, STRATA_REGISTRY_LAYER); i++) {
        const char *name = NULL, *plugin = NULL;
        int version = 0;
        OK(strata_registry_get(rt, STRATA_REGISTRY_LAYER, i, &name, &version, &plugin, NULL));
        layer |= !strcmp(name, "swish");
    }
    assert_true(op);
    assert_true(layer);
}

/* y = swish(x; beta) on every backend with a device, against the formula. */
static void test_forward_every_backend(void **state)
{
    strata_runtime *rt = *state;
    enum { N = 37 };
    float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = -6.0f + 12.0f * (float)i / (N - 1);
    const double betas[] = {1.0, 0.5, 2.0};
    int tested = 0;
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record rec = {.struct_size = sizeof rec};
        OK(strata_backend_get(rt, b, &rec));
        if (rec.device_count < 1)
            continue;
        strata_device *dev = NULL;
        OK(strata_device_get(rt, rec.name, 0, &dev));
        for (size_t k = 0; k < sizeof betas / sizeof betas[0]; k++) {
            strata_tensor *tx = NULL, *ty = NULL;
            OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){N}, x, &tx));
            strata_attr a = strata_attr_float("beta", betas[k]);
            OK(strata_op_call(rt, "swish::swish", &tx, 1, &a, 1, &ty, 1));
            OK(strata_tensor_read(ty, y, sizeof y));
            for (int i = 0; i < N; i++) {
                double want = swish_ref(x[i], betas[k]);
                if (fabs(y[i] - want) > 1e-5 * (1.0 + fabs(want)))
                    fail_msg("backend %s, beta %g, x %g: got %.8g, want %.8g", rec.name, betas[k], x[i], y[i], want);
            }
            strata_tensor_release(tx);
            strata_tensor_release(ty);
        }
        tested++;
    }
    assert_true(tested > 0);
}

/* L = sum(swish(x) .* r); compares dL/dx with central differences. */
static double loss_at(strata_runtime *rt, strata_device *dev, const float *x, const float *r, int n, double beta)
{
    strata_tensor *tx = NULL, *tr = NULL, *y = NULL, *yr = NULL, *l = NULL;
    OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){n}, x, &tx));
    OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){n}, r, &tr));
    strata_attr a = strata_attr_float("beta", beta);
    OK(strata_op_call(rt, "swish::swish", &tx, 1, &a, 1, &y, 1));
    OK(strata_mul(rt, y, tr, &yr));
    OK(strata_sum_all(rt, yr, &l));
    double v = 0;
    OK(strata_tensor_item(l, &v));
    strata_tensor_release(tx);
    strata_tensor_release(tr);
    strata_tensor_release(y);
    strata_tensor_release(yr);
    strata_tensor_release(l);
    return v;
}

static void test_gradient(void **state)
{
    strata_runtime *rt = *state;
    strata_device *dev = ref_device(rt);
    enum { N = 11 };
    float x[N], r[N], g[N];
    for (int i = 0; i < N; i++) {
        x[i] = -3.0f + 0.55f * (float)i;
        r[i] = 0.3f + 0.1f * (float)(i % 4) - 0.2f * (float)(i % 2);
    }
    const double beta = 1.5, h = 1e-2;
    strata_tensor *tx = NULL, *tr = NULL, *y = NULL, *yr = NULL, *l = NULL;
    OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){N}, x, &tx));
    OK(strata_tensor_set_requires_grad(tx, 1));
    OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){N}, r, &tr));
    int prev = strata_set_grad_enabled(rt, 1);
    strata_attr a = strata_attr_float("beta", beta);
    OK(strata_op_call(rt, "swish::swish", &tx, 1, &a, 1, &y, 1));
    OK(strata_mul(rt, y, tr, &yr));
    OK(strata_sum_all(rt, yr, &l));
    OK(strata_backward(strata_runtime_graph(rt), l));
    assert_non_null(strata_tensor_grad(tx));
    OK(strata_tensor_read(strata_tensor_grad(tx), g, sizeof g));
    strata_graph_reset(strata_runtime_graph(rt));
    strata_set_grad_enabled(rt, 0);
    for (int i = 0; i < N; i++) {
        float xp[N], xm[N];
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        xp[i] += (float)h;
        xm[i] -= (float)h;
        double fd = (loss_at(rt, dev, xp, r, N, beta) - loss_at(rt, dev, xm, r, N, beta)) / (2 * h);
        if (fabs(fd - g[i]) > 1e-3 * (1.0 + fabs(fd)))
            fail_msg("dL/dx[%d] at x = %g: backward %.6g, finite difference %.6g", i, x[i], g[i], fd);
    }
    strata_set_grad_enabled(rt, prev);
    strata_tensor_release(tx);
    strata_tensor_release(tr);
    strata_tensor_release(y);
    strata_tensor_release(yr);
    strata_tensor_release(l);
}

/* The layer from a spec: builds, runs forward, trains a few SGD steps. */
static void test_layer_in_spec(void **state)
{
    strata_runtime *rt = *state;
    strata_device *dev = ref_device(rt);
    static const char spec_text[] = "name: swish-mlp\n"
                                    "model:\n"
                                    "  input: [4]\n"
                                    "  layers:\n"
                                    "    - {type: linear, out_features: 8}\n"
                                    "    - {type: swish, beta: 1.0}\n"
                                    "    - {type: linear, out_features: 1}\n"
                                    "optimizer: {type: sgd, lr: 0.05}\n";
    strata_spec *spec = NULL;
    strata_model *m = NULL;
    strata_optimizer *opt = NULL;
    OK(strata_spec_parse(rt, spec_text, strlen(spec_text), "swish-mlp.yaml", &spec));
    OK(strata_spec_build_model(spec, dev, &m));
    OK(strata_spec_create_optimizer(spec, m, &opt));
    const char *type = NULL;
    OK(strata_model_layer_info(m, 1, NULL, &type));
    assert_string_equal(type, "swish");

    /* regress y = x0 - x1 on 16 fixed examples */
    enum { B = 16 };
    float xb[B * 4], yb[B];
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < 4; j++)
            xb[i * 4 + j] = (float)sin(1.3 * i + 0.7 * j);
        yb[i] = xb[i * 4] - xb[i * 4 + 1];
    }
    strata_tensor *tx = NULL, *ty = NULL;
    OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){B, 4}, xb, &tx));
    OK(strata_tensor_from_host(dev, STRATA_F32, 2, (int64_t[]){B, 1}, yb, &ty));
    double first = 0, last = 0;
    int prev = strata_set_grad_enabled(rt, 1);
    for (int step = 0; step < 30; step++) {
        strata_tensor *out = NULL, *d = NULL, *d2 = NULL, *l = NULL;
        strata_model_zero_grad(m);
        OK(strata_model_forward(m, &tx, 1, &out, 1, 1));
        OK(strata_sub(rt, out, ty, &d));
        OK(strata_mul(rt, d, d, &d2));
        OK(strata_mean_all(rt, d2, &l));
        OK(strata_backward(strata_runtime_graph(rt), l));
        OK(strata_optimizer_step(opt));
        double v = 0;
        OK(strata_tensor_item(l, &v));
        if (step == 0)
            first = v;
        last = v;
        strata_graph_reset(strata_runtime_graph(rt));
        strata_tensor_release(out);
        strata_tensor_release(d);
        strata_tensor_release(d2);
        strata_tensor_release(l);
    }
    strata_set_grad_enabled(rt, prev);
    if (!(last < first))
        fail_msg("mean squared error did not fall in 30 steps: %g -> %g", first, last);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    strata_optimizer_destroy(opt);
    strata_model_destroy(m);
    strata_spec_destroy(spec);
}

static void test_bad_input(void **state)
{
    strata_runtime *rt = *state;
    strata_device *dev = ref_device(rt);
    /* an integer tensor: refused by the op's infer, with a message naming the op */
    int32_t xi[3] = {1, 2, 3};
    strata_tensor *tx = NULL, *ty = NULL;
    OK(strata_tensor_from_host(dev, STRATA_I32, 1, (int64_t[]){3}, xi, &tx));
    assert_int_equal(strata_op_call(rt, "swish::swish", &tx, 1, NULL, 0, &ty, 1), STRATA_E_DTYPE);
    assert_non_null(strstr(strata_last_error(), "swish::swish"));
    assert_null(ty);
    strata_tensor_release(tx);

    /* an attribute the op does not take: the core refuses it by the op's schema, naming both */
    float xf[3] = {1, 2, 3};
    OK(strata_tensor_from_host(dev, STRATA_F32, 1, (int64_t[]){3}, xf, &tx));
    strata_attr typo = strata_attr_float("betta", 2.0);
    assert_int_equal(strata_op_call(rt, "swish::swish", &tx, 1, &typo, 1, &ty, 1), STRATA_E_INVALID);
    assert_non_null(strstr(strata_last_error(), "swish::swish: unknown attribute 'betta'"));
    assert_null(ty);
    strata_tensor_release(tx);

    /* an unknown key of the layer: the spec parser names it */
    static const char bad[] = "model:\n  input: [4]\n  layers:\n    - {type: swish, gamma: 2}\n";
    strata_spec *spec = NULL;
    strata_model *m = NULL;
    strata_status s = strata_spec_parse(rt, bad, strlen(bad), "bad.yaml", &spec);
    if (s == STRATA_OK) {
        s = strata_spec_build_model(spec, dev, &m);
        strata_model_destroy(m);
        strata_spec_destroy(spec);
    }
    assert_int_not_equal(s, STRATA_OK);
    assert_non_null(strstr(strata_last_error(), "gamma"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_registers),  cmocka_unit_test(test_forward_every_backend),
        cmocka_unit_test(test_gradient),          cmocka_unit_test(test_layer_in_spec),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
