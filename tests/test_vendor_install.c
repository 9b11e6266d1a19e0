/*
 * test_vendor_install.c - a vendor backend installed outside Strata's tree
 * is found through one manifest (issue 10), by the `strata` program as a
 * user runs it:
 *  - a manifest in the user directory ($XDG_CONFIG_HOME/strata/plugins.d)
 *    naming a backend elsewhere: `strata info` lists the backend and its
 *    device; STRATA_DEBUG=loader shows the manifest read and the library
 *    loaded;
 *  - the same from the system directory ($STRATA_MANIFEST_DIR);
 *  - a manifest naming a missing library: listed with the reason, and the
 *    other backends still work;
 *  - `strata check --backend` on the manifest's backend passes.
 * The "vendor backend" is the fake_device_backend fixture (fixture_host).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char dir[PATH_MAX];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh work dir with config/strata/plugins.d and system/ (both empty). */
static int setup(void **state)
{
    (void)state;
    if (tu_make_temp_dir(dir, sizeof dir, "vendor"))
        return -1;
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/config", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/config/strata", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/config/strata/plugins.d", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/system", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/config", dir);
    setenv("XDG_CONFIG_HOME", p, 1);
    snprintf(p, sizeof p, "%s/system", dir);
    setenv("STRATA_MANIFEST_DIR", p, 1);
    setenv("STRATA_DEBUG", "loader", 1);
    unsetenv("STRATA_PLUGIN_PATH");
    unsetenv("STRATA_BACKEND");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* Writes MANIFEST_DIR/vendor.json naming @p library; returns its path (static). */
static const char *write_manifest(const char *manifest_dir, const char *library)
{
    static char path[2 * PATH_MAX];
    char text[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s/vendor.json", dir, manifest_dir);
    snprintf(text, sizeof text, "{\"name\": \"fixture_host\", \"abi\": \"1.0\", \"library\": \"%s\"}\n", library);
    write_text(path, text);
    return path;
}

static void assert_contains(const char *text, const char *needle, const char *what)
{
    if (!text || !strstr(text, needle))
        fail_msg("%s does not contain \"%s\":\n%s", what, needle, text ? text : "(missing)");
}

static void found_through(const char *manifest_dir)
{
    char lib[PATH_MAX];
    assert_non_null(realpath(tu_build_path("tests/fixtures/fake_device_backend.so"), lib));
    const char *manifest = write_manifest(manifest_dir, lib);
    assert_int_equal(tu_run_cli(dir, "info"), 0);
    char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
    assert_contains(out, "fixture_host priority -1, 1 device(s)", "strata info");
    assert_contains(out, "fake host device (test fixture)", "strata info");
    char want[2 * PATH_MAX + 128];
    snprintf(want, sizeof want, "reading manifest %s", manifest);
    assert_contains(err, want, "STRATA_DEBUG=loader output");
    snprintf(want, sizeof want, "loaded %s: plugin 'fixture_host'", lib);
    assert_contains(err, want, "STRATA_DEBUG=loader output");
    free(out);
    free(err);
    unlink(manifest);
}

static void test_user_manifest(void **state)
{
    (void)state;
    found_through("config/strata/plugins.d");
}

static void test_system_manifest(void **state)
{
    (void)state;
    found_through("system");
}

static void test_missing_library(void **state)
{
    (void)state;
    char lib[PATH_MAX + 32];
    snprintf(lib, sizeof lib, "%s/nowhere/vendor.so", dir);
    const char *manifest = write_manifest("config/strata/plugins.d", lib);
    assert_int_equal(tu_run_cli(dir, "info"), 0);
    char *out = tu_slurp(dir, "out");
    assert_contains(out, "plugins that failed to load", "strata info");
    assert_contains(out, lib, "strata info");
    assert_contains(out, "cannot resolve path", "strata info");
    assert_contains(out, "(the library of manifest ", "strata info"); /* names the manifest to fix */
    assert_contains(out, manifest, "strata info");
    assert_contains(out, "ref:0", "strata info"); /* the rest still works */
    free(out);
    unlink(manifest);
}

static void test_check_manifest_backend(void **state)
{
    (void)state;
    char lib[PATH_MAX];
    assert_non_null(realpath(tu_build_path("tests/fixtures/fake_device_backend.so"), lib));
    const char *manifest = write_manifest("config/strata/plugins.d", lib);
    int rc = tu_run_cli(dir, "check --backend fixture_host --op core::add --trials 2 --large 0");
    char *out = tu_slurp(dir, "out");
    if (rc != 0)
        fail_msg("strata check exited %d:\n%s", rc, out ? out : "");
    assert_contains(out, "core::add", "strata check");
    assert_contains(out, "pass", "strata check");
    free(out);
    unlink(manifest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_manifest),
        cmocka_unit_test(test_system_manifest),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_check_manifest_backend),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
