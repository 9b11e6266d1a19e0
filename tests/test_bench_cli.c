/* test_bench_cli.c - `strata bench --op`: matmul, conv2d and conv2d's two
 * gradients run on the ref backend and report their op, shape and rate
 * (--json); a missing or malformed --shape and an unknown op are usage
 * errors (exit 2) that name the op and the expected form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "bench-cli");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* `bench --op OP --shape SHAPE` on ref: exit 0 and one JSON line naming the op, the shape and a positive rate. */
static void expect_op_runs(const char *op, const char *shape, const char *shape_text)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "bench --op %s --shape %s --backend ref --steps 3 --json", op, shape));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char want[200];
    snprintf(want, sizeof want, "\"op\": \"%s\"", op);
    if (!strstr(out, want) || !strstr(out, shape_text) || !strstr(out, "\"backend\": \"ref\""))
        fail_msg("bench --op %s --shape %s printed: %s", op, shape, out);
    double gflops = 0;
    const char *g = strstr(out, "\"gflops\": ");
    assert_non_null(g);
    assert_int_equal(sscanf(g + 10, "%lf", &gflops), 1);
    assert_true(gflops > 0);
    free(out);
}

static void test_ops(void **state)
{
    (void)state;
    expect_op_runs("matmul", "16x8x4", "16x8x4");
    const char *conv = "2x3x9x9 * 4x3x3x3 stride 2 pad 1";
    expect_op_runs("conv2d", "2x3x9x9x4x3x2x1", conv);
    expect_op_runs("conv2d_backward_data", "2x3x9x9x4x3x2x1", conv);
    expect_op_runs("conv2d_backward_weight", "2x3x9x9x4x3x2x1", conv);
    expect_op_runs("conv2d_backward_weight", "1x2x5x5x3x5", "1x2x5x5 * 3x2x5x5 stride 1 pad 0");
}

static void test_errors(void **state)
{
    (void)state;
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d_backward_data --shape 2x3 --backend ref"), 2,
                      "--op conv2d_backward_data needs --shape NxCxHxWxOCxK");
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d_backward_weight --backend ref"), 2,
                      "--op conv2d_backward_weight needs --shape");
    /* the kernel must fit the padded input */
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d --shape 1x1x4x4x2x7 --backend ref"), 2,
                      "no larger than the padded input");
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op max_pool2d --shape 1x1x4x4x2x2 --backend ref"), 2,
                      "--op max_pool2d is not available (ops: matmul, conv2d, conv2d_backward_data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
