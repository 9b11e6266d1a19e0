/* test_check_plugin.c - `strata check --plugin FILE` of a third party's op
 * whose only implementation is its own host kernel: ref runs that kernel
 * too, so comparing the backend with ref cannot find a wrong backward; the
 * finite differences of the op's forward must (sdk/conformance,
 * cf_fd_check). good_plugin.so's fixture::double (y = 2 x, dx = 2 dy)
 * passes and says how many gradient elements were checked that way;
 * wrong_backward.so, the same plugin with dx = 3 dy, fails naming the
 * element and both values.
 *
 * Two slips that load fine and fail quietly are said: an op without a
 * backward reached by an input that needs a gradient, and a kernel for a
 * backend no plugin provides ("CPU"), when discovery ends
 * (author_slips.so).
 *
 * A kernel op's row says how many trials its kernel ran (the backend's
 * supports_op may decline the rest), and the large trials of add include
 * same shapes (fake_device_backend.so and its variants). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "checkplugin");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

static void run_check_op(const char *fixture, const char *op, int want, const char *needle)
{
    char so[PATH_MAX], args[PATH_MAX + 128];
    snprintf(so, sizeof so, "%s", tu_build_path(fixture));
    snprintf(args, sizeof args, "check --backend cpu --plugin '%s' --op %s --large 0", so, op);
    const int code = tu_run_cli(dir, args);
    char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
    if (code != want || !out || !strstr(out, needle))
        fail_msg("strata %s: exit %d (expected %d), no '%s' in\n%s\n%s", args, code, want, needle, out ? out : "",
                 err ? err : "");
    free(out), free(err);
}

static void run_check(const char *fixture, int want, const char *needle)
{
    run_check_op(fixture, "fixture::double", want, needle);
}

static void test_good_backward_passes(void **state)
{
    (void)state;
    /* NAME:N as train and bench take a device (it read "backend cpu:0 is not loaded") */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "check --backend cpu:0 --op core::relu --large 0"));
    run_check("tests/fixtures/good_plugin.so", 0, "gradient element(s) checked by finite differences");
    /* two inputs of one shape: the case with a permuted first input gave the second the unpermuted shape, and
     * every such op failed (ref refused the call) */
    run_check_op("tests/fixtures/good_plugin.so", "fixture::product", 0, "fixture::product");
    /* an op whose schema requires an attribute (1.4): checked with the attribute's default (it had "no recipe") */
    run_check_op("tests/fixtures/good_plugin.so", "fixture::affine", 0, "gradient element(s) checked by finite");
    /* an op flagged STRATA_OP_NO_GRAD: its forward alone (every generic case asked for a backward and failed) */
    run_check_op("tests/fixtures/good_plugin.so", "fixture::sign", 0, "fixture::sign");
    /* an op of four inputs: no recipe, not generic: skipped and said so (it failed a correct plugin) */
    run_check_op("tests/fixtures/no_recipe.so", "fixture::quad", 0, "SKIP (no recipe)");
    run_check_op("tests/fixtures/no_recipe.so", "fixture::quad", 0, "1 op(s) of the plugins named skipped");
    /* an op whose probe call fails (not for its inputs: its kernel) is a failure, never skipped for lack of a
     * recipe; so is one nothing can run */
    run_check_op("tests/fixtures/no_recipe.so", "fixture::broken", 1, "it failed: E_INTERNAL");
    run_check_op("tests/fixtures/no_recipe.so", "fixture::inert", 1, "it failed: E_UNSUPPORTED");
    /* strata info tells an op that nothing can run from one that falls back (both read "composite/fallback") */
    assert_int_equal(setenv("STRATA_PLUGIN_PATH", tu_build_path("tests/fixtures/no_recipe.so"), 1), 0);
    const int code = tu_run_cli(dir, "info");
    unsetenv("STRATA_PLUGIN_PATH");
    char *out = tu_slurp(dir, "out");
    assert_int_equal(code, 0);
    if (!out || !strstr(out, "fixture::inert") ||
        !strstr(strstr(out, "fixture::inert"), "kernels: (none: no kernel, host kernel or composite; calls fail)"))
        fail_msg("strata info does not say fixture::inert cannot run:\n%s", out ? out : "");
    free(out);
}

static void test_wrong_backward_fails(void **state)
{
    (void)state;
    run_check("tests/fixtures/wrong_backward.so", 1, "by the op's backward");
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "by finite differences of its forward"));
    free(out);
}

static void test_author_slips_are_said(void **state)
{
    (void)state;
    char so[PATH_MAX], args[PATH_MAX + 128];
    snprintf(so, sizeof so, "%s", tu_build_path("tests/fixtures/author_slips.so"));
    assert_int_equal(setenv("STRATA_PLUGIN_PATH", so, 1), 0);
    const int code = tu_run_cli(dir, "info");
    unsetenv("STRATA_PLUGIN_PATH");
    tu_expect_cli_ok(dir, code);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "plugin 'fixture_author_slips' registered kernels for backend 'CPU' (core::relu, ...), which no "
                     "loaded plugin provides: they will not run"))
        fail_msg("no warning of the kernel for backend CPU:\n%s", err);
    if (!strstr(err, "plugin 'fixture_author_slips' registered a kernel for op 'fixture::stpo' on 'cpu', which no "
                     "loaded plugin registers: it will not run"))
        fail_msg("no warning of the kernel for op fixture::stpo:\n%s", err);
    free(err);
    /* info --json gives the schema an op's calls are checked against (ABI 1.4), a layer's and an optimizer's */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "info --json"));
    char *raw = tu_slurp(dir, "out"), *js = strdup(raw ? raw : "");
    size_t w = 0; /* without the blanks of the indentation (no value here has one) */
    for (const char *r = js; *r; r++)
        if (*r != ' ' && *r != '\n')
            js[w++] = *r;
    js[w] = '\0';
    if (!strstr(js, "\"name\":\"gan::ema_update\",\"plugin\":\"gan\",\"version\":1,\"kernels\"") ||
        !strstr(js, "\"attributes\":[{\"name\":\"decay\",\"kind\":\"float\",\"required\":true,\"default\":null"))
        fail_msg("info --json lacks gan::ema_update's schema:\n%.2000s", js);
    free(raw), free(js);
    snprintf(args, sizeof args, "check --backend cpu --plugin '%s' --op fixture::stop --large 0", so);
    tu_run_cli(dir, args); /* (its forward passes: y = x on both) */
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (tu_count(err, "fixture::stop (plugin 'fixture_author_slips') has no backward and no composite") != 1)
        fail_msg("not warned once of the op without a backward:\n%s", err);
    /* loaded by --plugin, not discovered: its kernels of an op nobody registers are said too */
    if (!strstr(err, "registered a kernel for op 'fixture::stpo' on 'cpu', which no loaded plugin registers yet"))
        fail_msg("no warning of the kernel for fixture::stpo after strata_plugin_load:\n%s", err);
    free(err);
    /* a backward that hands the incoming gradient back without retaining it: reported, not a double free */
    snprintf(args, sizeof args, "check --backend cpu --plugin '%s' --op fixture::pass --large 0", so);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, "conformance FAILED");
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    if (!strstr(out, "backward of fixture::pass: it returned grad_outputs[0] as the gradient of input 0 without a "
                     "reference of its own"))
        fail_msg("the backward's missing reference is not reported:\n%s", out);
    free(out);
}

/* `strata check --backend NAME --plugin FIXTURE --op core::add`, the fixture being that backend: its exit status
 * and output (caller frees). */
static char *check_add(const char *backend, const char *fixture, int want)
{
    char so[PATH_MAX], args[PATH_MAX + 128];
    snprintf(so, sizeof so, "%s", tu_build_path(fixture));
    snprintf(args, sizeof args, "check --backend %s --plugin '%s' --op core::add", backend, so);
    const int code = tu_run_cli(dir, args);
    char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
    if (code != want || !out)
        fail_msg("strata %s: exit %d (expected %d)\n%s\n%s", args, code, want, out ? out : "", err ? err : "");
    free(err);
    return out;
}

static void assert_says(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("no '%s' in\n%s", needle, out);
}

/* A kernel op's row says on how many trials the backend's kernel ran: fixture_host's add takes only same shapes,
 * so most trials (broadcasts) ran on the fallback, and the row read "kernel ... pass" as if the kernel passed
 * them all. A kernel that never ran is a warning; a row with no forward compared shows "-", not 0.00e+00. */
static void test_declined_trials_are_counted(void **state)
{
    (void)state;
    char *out = check_add("fixture_host", "tests/fixtures/fake_device_backend.so", 0);
    assert_says(out, "kernel 2/8 ");
    assert_says(out, "(fixture_host's supports_op declined 6 of 8 trials, which ran on the fallback: the kernel was "
                     "compared on 2)");
    assert_says(out, "1 op(s) with a kernel had trials its supports_op declined");
    free(out);

    out = check_add("fixture_declining", "tests/fixtures/declining_backend.so", 0);
    assert_says(out, "kernel 0/8 ");
    assert_says(out, "warning: fixture_declining's supports_op declined all 8 trials of core::add: its kernel never "
                     "ran, the row checks the fallback only");
    assert_says(out, "0 failed, 0 failing case(s)\nconformance: fixture_declining: 1 op(s) with a kernel had trials "
                     "its supports_op declined (they ran on the fallback), 1 of them no trial on the kernel at all");
    free(out);

    /* every forward failed: no error to show */
    out = check_add("fixture_declining", "tests/fixtures/failing_add.so", 1);
    const char *row = strstr(out, "\ncore::add ");
    if (!row || !strstr(row, "kernel 8/8 ") || !strstr(row, "     -            -  "))
        fail_msg("the row of core::add should show '-' for both errors:\n%s", out);
    free(out);
}

/* An add kernel wrong only above 1000 elements, that takes only same shapes: the one large trial was a broadcast,
 * which it declined, so it passed; a large same-shape trial now finds it. */
static void test_large_same_shape_trial(void **state)
{
    (void)state;
    char *out = check_add("fixture_host", "tests/fixtures/wrong_big_add.so", 1);
    assert_says(out, "core::add on fixture_host, case 6 (");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_backward_passes),
        cmocka_unit_test(test_wrong_backward_fails),
        cmocka_unit_test(test_author_slips_are_said),
        cmocka_unit_test(test_declined_trials_are_counted),
        cmocka_unit_test(test_large_same_shape_trial),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
