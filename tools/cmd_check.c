/*
 * cmd_check.c - `strata check --backend NAME [--plugin FILE]...`: the
 * backend conformance suite (sdk/conformance/) as a command, for a vendor
 * porting Strata. Every op the backend claims (registered a kernel for) and
 * every op of the plugins named with --plugin runs on the backend and on
 * ref with the same random inputs, forward and backward; the table says
 * pass or FAIL per op, and the exit status is 1 when anything failed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conformance_cases.h"

static void check_usage(FILE *f)
{
    fprintf(f, "usage: strata check --backend NAME [--plugin FILE]... [--all] [--op SUBSTRING] [--trials N]\n"
               "                    [--large N] [--seed S] [--device N] [--verbose]\n\n"
               "  --backend NAME   the backend under test (compared with ref)\n"
               "  --plugin FILE    load this plugin or backend (.so, or a .json manifest) first, and check\n"
               "                   its ops too; repeatable\n"
               "  --all            every registered op, not only those the backend has kernels for\n"
               "  --op SUBSTRING   only ops whose name contains it\n"
               "  --trials N       random trials per op (5); --large N: large-shape trials (1; 0 = none)\n"
               "  --seed S         case generator seed; --device N: device index (0)\n"
               "  --verbose        list every case\n"
               "exit status: 0 all passed, 1 a failure (or the backend did not load), 2 bad usage\n");
}

/* Loads @p path; returns the plugin's name (borrowed from rt) or NULL. */
static const char *load_plugin(strata_runtime *rt, const char *path)
{
    strata_status s = strata_plugin_load(rt, path);
    if (s != STRATA_OK && s != STRATA_E_EXISTS) {
        fprintf(stderr, "strata check: cannot load %s: %s: %s\n", path, strata_status_name(s), strata_last_error());
        return NULL;
    }
    /* loaded now or found by discovery already: the record with its real path */
    char real[PATH_MAX];
    const char *want = realpath(path, real) ? real : path;
    for (int k = strata_plugin_count(rt) - 1; k >= 0; k--) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, k, &r) == STRATA_OK && r.loaded && !strcmp(r.path, want))
            return r.name;
    }
    /* a manifest: the library it names is the newest loaded record */
    for (int k = strata_plugin_count(rt) - 1; k >= 0; k--) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, k, &r) == STRATA_OK && r.loaded && s == STRATA_OK)
            return r.name;
    }
    fprintf(stderr, "strata check: %s is not a loaded plugin\n", path);
    return NULL;
}

/* Why a backend is missing: the plugins that failed to load. */
static void print_failed_plugins(strata_runtime *rt)
{
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r = {.struct_size = sizeof r};
        if (strata_plugin_get(rt, k, &r) == STRATA_OK && !r.loaded)
            fprintf(stderr, "  not loaded: %s (%s): %s\n", r.path, r.origin, r.reason);
    }
}

int cmd_check(int argc, char **argv)
{
    const char *backend = NULL;
    const char *plugins[16];
    int n_plugins = 0;
    conformance_options o = {.struct_size = sizeof o, .claimed_only = 1};
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int64_t n = 0;
        int takes = !strcmp(a, "--backend") || !strcmp(a, "--plugin") || !strcmp(a, "--op") ||
                    !strcmp(a, "--trials") || !strcmp(a, "--large") || !strcmp(a, "--seed") || !strcmp(a, "--device");
        if (takes && !v) {
            fprintf(stderr, "strata check: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--backend")) {
            backend = v;
        } else if (!strcmp(a, "--plugin")) {
            if (n_plugins == (int)(sizeof plugins / sizeof plugins[0])) {
                fprintf(stderr, "strata check: at most %d --plugin options\n", n_plugins);
                return 2;
            }
            plugins[n_plugins++] = v;
        } else if (!strcmp(a, "--op")) {
            o.op_filter = v;
        } else if (!strcmp(a, "--trials")) {
            if (cli_parse_int(a, v, 1, 1000000, &n))
                return 2;
            o.trials = (int)n;
        } else if (!strcmp(a, "--large")) {
            if (cli_parse_int(a, v, 0, 1000000, &n))
                return 2;
            o.large_trials = n > 0 ? (int)n : -1;
        } else if (!strcmp(a, "--device")) {
            if (cli_parse_int(a, v, 0, 1000000, &n))
                return 2;
            o.device = (int)n;
        } else if (!strcmp(a, "--seed")) {
            char *end = NULL;
            errno = 0;
            o.seed = strtoull(v, &end, 0);
            if (!isdigit((unsigned char)v[0]) || *end || errno) {
                fprintf(stderr, "strata: error: --seed must be a whole number >= 0 (0x... for hex), got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--all")) {
            o.claimed_only = 0;
        } else if (!strcmp(a, "--verbose")) {
            o.verbose = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            check_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "strata check: unknown option '%s'\n\n", a);
            check_usage(stderr);
            return 2;
        }
        k += takes;
    }
    if (!backend) {
        fprintf(stderr, "strata check: --backend NAME is required\n\n");
        check_usage(stderr);
        return 2;
    }

    strata_runtime *rt = NULL;
    strata_status rc = strata_runtime_create(NULL, &rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    const char *names[16];
    for (int k = 0; k < n_plugins; k++) {
        names[k] = load_plugin(rt, plugins[k]);
        if (!names[k]) {
            strata_runtime_destroy(rt);
            return 1;
        }
    }
    o.plugins = names;
    o.n_plugins = n_plugins;
    int failures = conformance_run_ex(rt, backend, &o, stdout);
    fflush(stdout);
    if (failures < 0)
        print_failed_plugins(rt);
    strata_runtime_destroy(rt);
    if (failures != 0)
        fprintf(stderr, "strata check: %s: %s\n", backend,
                failures < 0 ? "the backend could not be tested" : "conformance FAILED");
    return failures != 0;
}
