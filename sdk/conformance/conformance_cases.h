/*
 * conformance_cases.h - the backend conformance suite: every op registered
 * in a runtime is run on one backend and on ref (the oracle) with identical
 * inputs, over random shapes and values, and the two are compared:
 * forward outputs, and for differentiable ops the gradient of every input
 * under L = sum(y .* r) for a fixed random r. Optimizer steps run in place
 * (STRATA_INVOKE_OUTPUTS_PROVIDED) and compare the parameter and slots.
 *
 * Needs only the public SDK (strata.h): no CMocka, no core internals, so
 * `strata check --backend NAME` can link it as it is. The cases are a table
 * of recipes keyed by op name (conformance_cases.c); a backend needs no
 * code here to be tested. An op registered in the runtime without a recipe
 * is probed as a generic elementwise op, and fails when that does not fit,
 * so a new op cannot slip through untested (tests/test_conformance.c also
 * insists on a recipe for every bundled op).
 *
 * Tolerances, per element: |got - ref| <= tol * max(1, |ref|), with tol
 * stated per op in the recipe table (exact, 1 ulp, 1e-5, or 1e-4 scaled by
 * the summed length K). See conformance_cases.c for the table.
 */
#ifndef STRATA_CONFORMANCE_CASES_H
#define STRATA_CONFORMANCE_CASES_H

#include <stdint.h>
#include <stdio.h>

#include "strata/strata.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Called once per failing (op, case) with a one-line description: backend,
 * op, trial, the inputs and attrs, and what differed (where, ref value, got,
 * error and tolerance). @p line is borrowed for the call.
 */
typedef void (*conformance_fail_fn)(void *user, const char *line);

/** Options of conformance_run_ex(). Zero-initialise, set struct_size. */
typedef struct conformance_options {
    size_t struct_size;
    /** Random trials per op (0 = 5). Ops with a fixed case list (eltwise_backward
     *  runs each fn) use their own count; error cases come on top. */
    int trials;
    /** Base seed of the case generator (0 = the default, 0x5eed). */
    uint64_t seed;
    /** Run only ops whose name contains this string; NULL or "" = every op. */
    const char *op_filter;
    /** Device index of the backend under test (0). */
    int device;
    /** Failure callback; may be NULL. */
    conformance_fail_fn on_fail;
    void *user;
    /** Nonzero: list every case (inputs, attrs) in the report as it runs. */
    int verbose;
    /** Large-shape trials per op (10k-130k elements, GEMMs past library
     *  thresholds), after the random ones: 0 = 1, negative = none. */
    int large_trials;
    /** Nonzero: only the ops @p backend claims, i.e. those strata_registry_get()
     *  lists as running natively on it (a kernel of its own, or the op's host
     *  kernel on a host-memory backend), plus the ops of @p plugins.
     *  0: every registered op (the rest run through composites or the
     *  host fallback). */
    int claimed_only;
    /** Names of plugins whose ops are always run (their ops need no recipe:
     *  see conformance_run_ex). */
    const char *const *plugins;
    int n_plugins;
    /** Nonzero: @p seed is used as it is, 0 included (`strata check --seed 0`); 0: a seed of 0 stands for the
     *  default, as before this field (a caller with a struct_size that ends before it gets that). */
    int seed_given;
} conformance_options;

/**
 * Runs every op registered in @p rt on device 0 of @p backend and on ref,
 * writing one table row per op (op, backend, implementation, trials, max
 * relative error forward and backward, tolerance, pass/fail) and a line per
 * failing case to @p report (may be NULL). @p backend may be "ref": ref is
 * then compared with itself (a self-consistency pass).
 *
 * An op without a recipe in the table (a third party's) is probed as a
 * generic op: 1, 2 or 3 same-shape f32 inputs with values in [-2, 2] and no
 * attrs; the first arity ref accepts is compared like an elementwise op
 * (tolerance 1e-4). An op that takes none of these has no recipe and fails.
 *
 * @returns the number of failures (failing cases plus registered ops without
 *   a recipe); -1 when the backend is not loaded or has no device (the
 *   reason is written to @p report).
 */
int conformance_run(strata_runtime *rt, const char *backend, FILE *report);

/** Same, with options (NULL = defaults). */
int conformance_run_ex(strata_runtime *rt, const char *backend, const conformance_options *opts, FILE *report);

/** Number of recipes in the table, and the op name of recipe @p i (NULL if out of range). */
int conformance_recipe_count(void);
const char *conformance_recipe_op(int i);

/** 1 if the table has a recipe for @p op at @p version. */
int conformance_has_recipe(const char *op, int version);

#ifdef __cplusplus
}
#endif
#endif /* STRATA_CONFORMANCE_CASES_H */
