/* test_plugin_refusal.c - a plugin that registers something malformed or
 * duplicate (tests/fixtures/bad_registration.c, one .so per case: empty or
 * NULL names, NULL function pointers, a struct_size too small, an op,
 * kernel or layer that exists already, an optimizer without step, and a
 * plugin that ignores a refusal and returns STRATA_OK) is refused with a
 * message naming the problem; what it registered before is rolled back;
 * the runtime stays usable: built-in ops run and a good plugin loads after
 * it. (Wrong ABI, missing entry symbol, failing init and missing
 * dependencies are in test_loader.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *build_path(const char *fmt, const char *name)
{
    static char b[4096], rel[1024];
    const char *build = getenv("STRATA_TEST_BUILD");
    snprintf(rel, sizeof rel, fmt, name);
    snprintf(b, sizeof b, "%s/%s", build ? build : "build", rel);
    return b;
}

static strata_runtime *isolated(void)
{
    strata_runtime_options o = {.struct_size = sizeof o, .flags = STRATA_RUNTIME_NO_DISCOVERY};
    strata_runtime *rt;
    ST_OK(strata_runtime_create(&o, &rt));
    ST_OK(strata_plugin_load(rt, build_path("%s", "lib/strata/ref.so")));
    return rt;
}

static int op_registered(strata_runtime *rt, const char *name)
{
    for (int i = 0; i < strata_registry_count(rt, STRATA_REGISTRY_OP); i++) {
        const char *n = NULL;
        ST_OK(strata_registry_get(rt, STRATA_REGISTRY_OP, i, &n, NULL, NULL, NULL));
        if (!strcmp(n, name))
            return 1;
    }
    return 0;
}

/* The runtime still computes: core::add on ref. */
static void assert_usable(strata_runtime *rt)
{
    strata_device *dev = tu_ref(rt);
    const float v[3] = {1, 2, 3};
    int64_t n = 3;
    strata_tensor *a, *y;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, &n, v, &a));
    strata_tensor *in[2] = {a, a};
    ST_OK(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1));
    float out[3];
    ST_OK(strata_tensor_read(y, out, sizeof out));
    assert_true(out[0] == 2 && out[1] == 4 && out[2] == 6);
    strata_tensor_release(y);
    strata_tensor_release(a);
}

typedef struct {
    const char *name; /* bad_<name>.so */
    const char *needle; /* in the message and the plugin record's reason */
} bad_case;

static const bad_case cases[] = {
    {"op_empty_name", "is not of the form domain::name"},
    {"op_null_name", "'(null)' from plugin 'fixture_bad_op_null_name' is not of the form domain::name"},
    {"op_no_infer", "fixture_bad::op from plugin 'fixture_bad_op_no_infer' has no infer function"},
    {"op_small_struct", "struct_size 8 is smaller than the 1.0 layout"},
    {"op_schema_twice", "fixture_bad::op: attribute schema entry 1 (alpha): its name is listed twice"},
    {"op_schema_kind", "fixture_bad::op: attribute schema entry 0 (mode): its kind is unknown"},
    {"op_schema_many", "fixture_bad::op lists 17 attributes; 0 to 16"},
    {"op_duplicate", "core::add version 1 is already registered by plugin 'core'"},
    {"kernel_null_fn", "NULL backend, op or function"},
    {"kernel_duplicate", "core::add v1 on backend 'ref' is already registered by 'ref'"},
    {"layer_empty_name", "unnamed layer type from plugin 'fixture_bad_layer_empty_name'"},
    {"layer_no_forward", "'fixture_bad_layer' has no forward function"},
    {"layer_small_struct", "struct_size 16 is smaller than the 1.0 layout"},
    {"layer_duplicate", "layer type 'linear' is already registered by plugin 'core'"},
    {"optimizer_no_step", "'fixture_bad_sgd' lacks step"},
    {"ignored", "init returned STRATA_OK but 1 registration(s) were refused; the first: register_op: "
                "fixture_bad::op from plugin 'fixture_bad_ignored' has no infer function"},
};

static void test_bad_registrations(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bad_case *c = &cases[k];
        strata_runtime *rt = isolated();
        int before = strata_plugin_count(rt);
        strata_clear_error();
        strata_status s = strata_plugin_load(rt, build_path("tests/fixtures/bad_%s.so", c->name));
        if (s != STRATA_E_PLUGIN || !strstr(strata_last_error(), c->needle))
            fail_msg("bad_%s.so: expected E_PLUGIN and \"%s\", got %s: %s", c->name, c->needle,
                     strata_status_name(s), strata_last_error());
        /* recorded as failed, with the reason */
        assert_int_equal(strata_plugin_count(rt), before + 1);
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(rt, before, &r));
        assert_int_equal(r.loaded, 0);
        assert_int_equal(r.status, STRATA_E_PLUGIN);
        if (!strstr(r.reason, c->needle))
            fail_msg("bad_%s.so: record reason \"%s\" lacks \"%s\"", c->name, r.reason, c->needle);
        /* its good op went with it; the rest still works */
        assert_false(op_registered(rt, "fixture_bad::ok"));
        assert_false(op_registered(rt, "fixture_bad::op"));
        assert_true(op_registered(rt, "core::add"));
        assert_usable(rt);
        strata_model *m;
        ST_OK(strata_model_create(tu_ref(rt), &m));
        int64_t shape[1] = {3};
        ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, shape));
        strata_attr a = strata_attr_int("out_features", 2);
        ST_OK(strata_model_add_layer(m, "linear", "fc", &a, 1, NULL, 0));
        assert_int_equal(strata_model_add_layer(m, "fixture_bad_layer", NULL, NULL, 0, NULL, 0),
                         STRATA_E_NOT_FOUND);
        strata_model_destroy(m);
        ST_OK(strata_plugin_load(rt, build_path("tests/fixtures/%s.so", "good_plugin")));
        assert_true(op_registered(rt, "fixture::double"));
        strata_runtime_destroy(rt);
    }
}

/* All of them into one runtime, then the good plugin: it still loads. */
static void test_all_in_one_runtime(void **state)
{
    (void)state;
    strata_runtime *rt = isolated();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        assert_int_equal(strata_plugin_load(rt, build_path("tests/fixtures/bad_%s.so", cases[k].name)),
                         STRATA_E_PLUGIN);
    ST_OK(strata_plugin_load(rt, build_path("tests/fixtures/%s.so", "good_plugin")));
    assert_usable(rt);
    assert_false(op_registered(rt, "fixture_bad::ok"));
    strata_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_registrations),
        cmocka_unit_test(test_all_in_one_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
