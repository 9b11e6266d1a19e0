/*
 * test_conformance.c - every loaded backend against ref, op by op
 * (`ctest -L conformance`). The cases and the comparison live in
 * sdk/conformance/conformance_cases.c, which `strata check --backend NAME` reuses.
 *
 * Each backend other than ref that has a device runs every registered op
 * (forward, backward, in-place optimizer steps, error cases) against ref;
 * a backend without a device is skipped with its reason. When ref is the
 * only backend, ref runs against itself so the suite never tests nothing.
 *
 * Environment (for debugging a port):
 *   STRATA_CONFORMANCE_OP=matmul      only ops whose name contains this
 *   STRATA_CONFORMANCE_TRIALS=20      random trials per op (5)
 *   STRATA_CONFORMANCE_LARGE=3        large-shape trials per op (1; 0 = none)
 *   STRATA_CONFORMANCE_SEED=7         case generator seed (0x5eed)
 *   STRATA_CONFORMANCE_BACKEND=cpu    only this backend
 *   STRATA_CONFORMANCE_SKIP=opencl    not these backends (comma list; ctest runs
 *                                     opencl as its own test, test_conformance_opencl)
 *   STRATA_CONFORMANCE_VERBOSE=1      list every case as it runs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conformance_cases.h"
#include "testutil.h"

/* Failures: each line is printed as it comes (CMocka truncates one message
 * at 1024 characters); the final message names the failing ops. */
typedef struct failure_list {
    int count;
    char ops[1024]; /* "core::linear on cpu, core::dropout on cpu" */
    size_t len;
} failure_list;

static void collect_failure(void *user, const char *line)
{
    failure_list *f = user;
    f->count++;
    print_error("conformance failure: %s\n", line);
    /* lines start with "OP on BACKEND," */
    const char *comma = strchr(line, ',');
    size_t n = comma ? (size_t)(comma - line) : strcspn(line, " ");
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(n < 100 ? n : 100), line);
    if (!strstr(f->ops, key) && f->len + strlen(key) + 3 < sizeof f->ops)
        f->len += (size_t)snprintf(f->ops + f->len, sizeof f->ops - f->len, "%s%s", f->len ? "; " : "", key);
}

static conformance_options options_from_env(failure_list *f)
{
    conformance_options o = {.struct_size = sizeof o};
    const char *v;
    if ((v = getenv("STRATA_CONFORMANCE_TRIALS")) && *v)
        o.trials = atoi(v);
    if ((v = getenv("STRATA_CONFORMANCE_SEED")) && *v)
        o.seed = strtoull(v, NULL, 0);
    if ((v = getenv("STRATA_CONFORMANCE_LARGE")) && *v)
        o.large_trials = atoi(v) > 0 ? atoi(v) : -1;
    o.op_filter = getenv("STRATA_CONFORMANCE_OP");
    o.verbose = (v = getenv("STRATA_CONFORMANCE_VERBOSE")) && *v && strcmp(v, "0");
    o.on_fail = collect_failure;
    o.user = f;
    return o;
}

/* Every op registered in the runtime has a recipe (new ops cannot slip through untested). */
static void test_every_registered_op_has_a_recipe(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    int n = strata_registry_count(rt, STRATA_REGISTRY_OP), missing = 0;
    assert_true(n > 0);
    char list[4096] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *name = NULL, *plugin = NULL;
        int version = 0;
        ST_OK(strata_registry_get(rt, STRATA_REGISTRY_OP, i, &name, &version, &plugin, NULL));
        if (!conformance_has_recipe(name, version)) {
            missing++;
            if (len < sizeof list)
                len += (size_t)snprintf(list + len, sizeof list - len, " %s v%d (from %s)", name, version, plugin);
        }
    }
    strata_runtime_destroy(rt);
    if (missing)
        fail_msg("%d registered op(s) without a conformance recipe:%s", missing, list);
}

/* 1 if @p name is an entry of the comma list @p list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Every backend with a device against ref; ref against itself when alone. */
static void test_backends_match_ref(void **state)
{
    (void)state;
    const char *nested = getenv("STRATA_CONFORMANCE_IN_PARALLEL");
    if (nested && *nested && strcmp(nested, "0"))
        skip(); /* that run is test_cpu_inside_parallel_region's */
    strata_runtime *rt = tu_runtime();
    failure_list f = {0};
    conformance_options o = options_from_env(&f);
    const char *only = getenv("STRATA_CONFORMANCE_BACKEND");
    const char *skip = getenv("STRATA_CONFORMANCE_SKIP");
    int tested = 0, errors = 0;

    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        ST_OK(strata_backend_get(rt, b, &r));
        if (!strcmp(r.name, "ref") || (only && *only && strcmp(only, r.name)))
            continue;
        if (skip && *skip && listed(skip, r.name)) {
            printf("conformance: skipping backend %s (STRATA_CONFORMANCE_SKIP)\n", r.name);
            continue;
        }
        if (r.device_count < 1) {
            printf("conformance: skipping backend %s: no device (%s)\n", r.name, r.unavailable);
            continue;
        }
        tested++;
        int n = conformance_run_ex(rt, r.name, &o, stdout);
        if (n < 0)
            errors++;
    }
    if (!tested) {
        printf("conformance: no backend other than ref is loaded (or has a device); "
               "running ref against itself (self-consistency pass)\n");
        if (conformance_run_ex(rt, "ref", &o, stdout) < 0)
            errors++;
    }
    fflush(stdout);
    strata_runtime_destroy(rt);

    if (errors || f.count)
        fail_msg("%d conformance failure(s)%s (each printed above): %s", f.count,
                 errors ? ", and a backend could not be run" : "", f.ops);
}

/* STRATA_CONFORMANCE_IN_PARALLEL=1: the cpu backend called from inside a
 * caller's OpenMP parallel region, where its own regions get one thread
 * however many it plans for (conv2d_backward_weight split its work by
 * thread number and lost all but the first thread's share). Assertions stay
 * outside the region: CMocka's failure path must not leave it. */
static void test_cpu_inside_parallel_region(void **state)
{
    (void)state;
    const char *v = getenv("STRATA_CONFORMANCE_IN_PARALLEL");
    if (!v || !*v || !strcmp(v, "0"))
        skip();
    strata_runtime *rt = tu_runtime();
    strata_device *cpu = NULL;
    if (strata_device_get(rt, "cpu", 0, &cpu) != STRATA_OK) {
        strata_runtime_destroy(rt);
        skip();
    }
    failure_list f = {0};
    conformance_options o = options_from_env(&f);
    int n = -1, team = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        {
#ifdef _OPENMP
            team = omp_get_num_threads();
#endif
            n = conformance_run_ex(rt, "cpu", &o, stdout);
        }
    }
    fflush(stdout);
    strata_runtime_destroy(rt);
    printf("conformance inside a parallel region of %d threads\n", team);
    if (n != 0 || f.count)
        fail_msg("cpu inside a parallel region: %d conformance failure(s) (each printed above): %s", f.count, f.ops);
}

/* Under OMP_DYNAMIC=true (ctest test_conformance_cpu_dynamic) the cpu backend turns dynamic teams off for the
 * threads that run its kernels: on a loaded machine libgomp handed out smaller teams than oneDNN split its work
 * for (NaN at the first step, wrong GEMMs, backward convolutions that never returned), and load is not
 * something a test can count on, so this checks the setting itself. */
static void test_cpu_dynamic_teams_off(void **state)
{
    (void)state;
    const char *v = getenv("OMP_DYNAMIC");
    if (!v || strcmp(v, "true"))
        skip();
#ifdef _OPENMP
    strata_runtime *rt = tu_runtime();
    strata_device *cpu = NULL;
    if (strata_device_get(rt, "cpu", 0, &cpu) != STRATA_OK) {
        strata_runtime_destroy(rt);
        skip();
    }
    const float xv[4] = {1, -2, 3, -4};
    strata_tensor *x = NULL, *y = NULL;
    assert_int_equal(strata_tensor_from_host(cpu, STRATA_F32, 1, (const int64_t[]){4}, xv, &x), STRATA_OK);
    assert_int_equal(strata_op_call(rt, "core::relu", &x, 1, NULL, 0, &y, 1), STRATA_OK);
    if (omp_get_dynamic())
        fail_msg("OMP_DYNAMIC=true: dynamic OpenMP teams are still on after a cpu kernel ran");
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_registered_op_has_a_recipe),
        cmocka_unit_test(test_backends_match_ref),
        cmocka_unit_test(test_cpu_inside_parallel_region),
        cmocka_unit_test(test_cpu_dynamic_teams_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
