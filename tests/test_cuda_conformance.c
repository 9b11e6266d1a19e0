/*
 * test_cuda_conformance.c - the conformance suite on the cuda backend
 * against ref (`ctest -L gpu`). Exits 77 (ctest reports it skipped, with
 * the reason printed) when this build has no cuda backend or the machine
 * has no usable GPU; runs every op on cuda:0 when it has one.
 * tools/gpu-check.sh runs it with more trials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_cases.h"
#include "testutil.h"

static int n_failures;

static void on_fail(void *user, const char *line)
{
    (void)user;
    n_failures++;
    print_error("conformance failure: %s\n", line);
}

static void test_cuda_matches_ref(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    conformance_options o = {.struct_size = sizeof o, .on_fail = on_fail};
    const char *v;
    if ((v = getenv("STRATA_CONFORMANCE_TRIALS")) && *v)
        o.trials = atoi(v);
    o.op_filter = getenv("STRATA_CONFORMANCE_OP");
    int n = conformance_run_ex(rt, "cuda", &o, stdout);
    fflush(stdout);
    strata_runtime_destroy(rt);
    if (n != 0)
        fail_msg("%d conformance failure(s) on cuda (each printed above)", n < 0 ? -1 : n);
}

int main(void)
{
    strata_runtime *rt = tu_runtime();
    int devices = -1;
    char why[256] = "this build has no cuda backend";
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        if (strata_backend_get(rt, b, &r) == STRATA_OK && !strcmp(r.name, "cuda")) {
            devices = r.device_count;
            snprintf(why, sizeof why, "%s", r.unavailable);
        }
    }
    strata_runtime_destroy(rt);
    if (devices < 1) {
        printf("test_cuda_conformance: skipped: no CUDA device (%s)\n", why);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cuda_matches_ref)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
