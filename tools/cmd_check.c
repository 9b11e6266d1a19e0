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

/* Loads @p path; returns the plugin's name (borrowed from rt) or NULL. */
static const char *load_plugin(strata_runtime *rt, const char *path)
{
    strata_status s = strata_plugin_load(rt, path);
    char why[512] = ""; /* E_EXISTS: an installed plugin of the same name, say */
    if (s == STRATA_E_EXISTS)
        snprintf(why, sizeof why, " (%s)", strata_last_error());
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
    fprintf(stderr, "strata check: %s is not a loaded plugin%s\n", path, why);
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
    const char *backend = NULL, *seed = NULL;
    const char *plugins[16];
    int n_plugins = 0;
    int64_t trials = 0, large = 1, device = 0; /* the options' defaults: conformance_options' zeros */
    int all = 0, verbose = 0;
    conformance_options o = {.struct_size = sizeof o};
    const cli_opt opts[] = {
        {.name = "--backend", .type = CLI_STRING, .dst = &backend, .value = "NAME",
         .help = "the backend under test (compared with ref)"},
        {.name = "--plugin", .type = CLI_LIST, .dst = plugins, .value = "FILE", .hi = 16, .given = &n_plugins,
         .help = "load this plugin or backend (.so, or a .json manifest) first and check its ops too; repeatable"},
        {.name = "--all", .type = CLI_FLAG, .dst = &all,
         .help = "every registered op, not only those the backend has kernels for"},
        {.name = "--op", .type = CLI_STRING, .dst = &o.op_filter, .value = "SUBSTRING",
         .help = "only ops whose name contains it"},
        {.name = "--trials", .type = CLI_INT, .dst = &trials, .value = "N", .lo = 1, .hi = 1000000,
         .help = "random trials per op (default 5)"},
        {.name = "--large", .type = CLI_INT, .dst = &large, .value = "N", .lo = 0, .hi = 1000000,
         .help = "large-shape trials per op (default 1; 0: none)"},
        {.name = "--seed", .type = CLI_STRING, .dst = &seed, .value = "S",
         .help = "the case generator's seed (0x... for hex; default 0x5eed)"},
        {.name = "--device", .type = CLI_INT, .dst = &device, .value = "N", .lo = 0, .hi = 1000000,
         .help = "the backend's device index (default 0)"},
        {.name = "--verbose", .type = CLI_FLAG, .dst = &verbose, .help = "list every case"},
        {0},
    };
    const cli_command c = {
        .name = "check", .opts = opts, .synopsis = "--backend NAME [--plugin FILE]... [options]",
        .about = "Conformance of a backend's ops against ref, forward and backward, on random inputs.",
        .notes = "exit status: 0 all passed, 1 a failure (or the backend did not load), 2 bad usage"};
    int r = cli_parse(&c, argc, argv);
    if (r || (r = cli_require(&c, backend, "--backend NAME")))
        return CLI_EXIT(r);
    if (seed) {
        char *end = NULL;
        errno = 0;
        o.seed = strtoull(seed, &end, 0);
        if (!isdigit((unsigned char)seed[0]) || *end || errno) {
            fprintf(stderr, "strata: error: --seed must be a whole number >= 0 (0x... for hex), got '%s'\n", seed);
            return 2;
        }
        o.seed_given = 1; /* 0 is a seed like any other, not the default 0x5eed */
    }
    /* "opencl:1", a device as train and bench take it: backend and --device (it read "not loaded") */
    static char be_name[64];
    const char *colon = strrchr(backend, ':');
    if (colon && colon > backend && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
        strlen(colon + 1) <= 6 && (size_t)(colon - backend) < sizeof be_name) {
        const int64_t n = atoll(colon + 1);
        if (device != 0 && device != n) {
            fprintf(stderr, "strata: error: --backend %s names device %lld and --device %lld another\n", backend,
                    (long long)n, (long long)device);
            return 2;
        }
        snprintf(be_name, sizeof be_name, "%.*s", (int)(colon - backend), backend);
        backend = be_name;
        device = n;
    }
    o.trials = (int)trials;
    o.large_trials = large > 0 ? (int)large : -1;
    o.device = (int)device;
    o.claimed_only = !all;
    o.verbose = verbose;

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
    if (o.op_filter && o.op_filter[0]) { /* a typo would pass, testing nothing */
        int matched = 0;
        for (int i = 0; i < strata_registry_count(rt, STRATA_REGISTRY_OP) && !matched; i++) {
            const char *name = NULL;
            matched = !strata_registry_get(rt, STRATA_REGISTRY_OP, i, &name, NULL, NULL, NULL) &&
                      strstr(name, o.op_filter);
        }
        if (!matched) {
            fprintf(stderr, "strata check: no registered op has '%s' in its name (see `strata info`)\n",
                    o.op_filter);
            strata_runtime_destroy(rt);
            return 2;
        }
    }
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
