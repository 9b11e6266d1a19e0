/* test_bench_cli.c - `strata bench --op`: matmul, conv2d and conv2d's two
 * gradients run on the ref backend and report their op, shape and rate
 * (--json); a missing or malformed --shape and an unknown op are usage
 * errors (exit 2) that name the op and the expected form. A language
 * model's workload (W3) runs without its text, on random characters. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

/* `bench --op OP --shape SHAPE` on ref: exit 0 and one JSON line naming
 * the op, the shape and a positive median time (the GFLOP/s of a tiny
 * shape may print as 0.0). */
static void expect_op_runs(const char *op, const char *shape, const char *shape_text)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "bench --op %s --shape %s --backend ref --steps 3 --json", op, shape));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char want[200], text[1024];
    snprintf(want, sizeof want, "\"op\": \"%s\"", op);
    snprintf(text, sizeof text, "%s", out);
    const char *m = strstr(out, "\"median_ms\": "), *p10 = strstr(out, "\"p10_ms\": "),
               *p90 = strstr(out, "\"p90_ms\": ");
    double ms = 0, lo = 0, hi = 0;
    /* the spread brackets the median */
    int ok = strstr(out, want) && strstr(out, shape_text) && strstr(out, "\"backend\": \"ref\"") && m && p10 &&
             p90 && sscanf(m + 13, "%lf", &ms) == 1 && ms > 0 && sscanf(p10 + 10, "%lf", &lo) == 1 &&
             sscanf(p90 + 10, "%lf", &hi) == 1 && lo <= ms && ms <= hi && strstr(out, "\"others_cpu\": ");
    free(out);
    if (!ok)
        fail_msg("bench --op %s --shape %s printed: %s", op, shape, text);
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
    /* a ninth number: groups (the weight has C / groups input channels) */
    const char *grouped = "2x4x6x6 * 6x2x3x3 stride 1 pad 1 groups 2";
    expect_op_runs("conv2d", "2x4x6x6x6x3x1x1x2", grouped);
    expect_op_runs("conv2d_backward_data", "2x4x6x6x6x3x1x1x2", grouped);
    expect_op_runs("conv2d_backward_weight", "2x4x6x6x6x3x1x1x2", grouped);
}

/* STRATA_CPU_CONV picks the cpu backend's convolution: with "onednn" a
 * 16 -> 16 layer runs oneDNN's primitive (its verbose log shows the
 * execution), with "tiles" it never does. What the conformance tests
 * test_conformance_cpu_conv_* rely on. */
static void test_cpu_conv_choice(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *cpu = NULL;
    int have_cpu = strata_device_get(rt, "cpu", 0, &cpu) == STRATA_OK;
    strata_runtime_destroy(rt);
    if (!have_cpu)
        skip();
    setenv("ONEDNN_VERBOSE", "1", 1);
    setenv("DNNL_VERBOSE", "1", 1);
    const char *modes[2] = {"onednn", "tiles"};
    for (int k = 0; k < 2; k++) {
        setenv("STRATA_CPU_CONV", modes[k], 1);
        tu_expect_cli_ok(dir, tu_run_cli(dir, "bench --op conv2d --shape 2x16x8x8x16x3x1x1 --backend cpu --steps 3"));
        char *out = tu_slurp(dir, "out");
        assert_non_null(out);
        int ran = strstr(out, "verbose,exec,cpu,convolution") != NULL;
        free(out);
        if (ran != (k == 0))
            fail_msg("STRATA_CPU_CONV=%s: oneDNN's convolution %s", modes[k], ran ? "ran" : "did not run");
    }
    unsetenv("STRATA_CPU_CONV");
    unsetenv("ONEDNN_VERBOSE");
    unsetenv("DNNL_VERBOSE");
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
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d --shape 1x3x4x4x2x3x1x1x2 --backend ref"), 2,
                      "C and OC divisible by GROUPS");
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d --shape 1x2x4x4x2x3x1x1x0 --backend ref"), 2,
                      "C and OC divisible by GROUPS");
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op max_pool2d --shape 1x1x4x4x2x2 --backend ref"), 2,
                      "--op max_pool2d is not available (ops: matmul, conv2d, conv2d_backward_data");
    /* inputs past half the memory: refused before allocating (the system killed a 16 GiB conv input) */
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --op conv2d --shape 1x1x300000x300000x1x1 --backend ref"), 2,
                      "the inputs alone take ");
    /* --shape without --op ran all five workloads; a models folder that is not there "skipped" them, exit 0 */
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench --shape 8x8x8 --backend ref"), 2, "--shape applies to --op");
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench W1 --models /nonexistent --steps 2 --backend ref"), 1,
                      "the workloads' specs are looked up in /nonexistent, which is not a directory");
    /* an unknown workload is refused before any runs: `bench W1 W9` timed W1 first */
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench W1 W9 --backend ref --steps 1 --warmup 0"), 2,
                      "unknown workload 'W9' (W1..W5)");
    char *ran = tu_slurp(dir, "out");
    assert_non_null(ran);
    if (strstr(ran, "W1"))
        fail_msg("bench W1 W9 ran W1 before refusing W9: %s", ran);
    free(ran);
    /* a workload asked for by name and not run is a failure */
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty-models", dir);
    assert_int_equal(mkdir(empty, 0777), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "bench W1 --models empty-models --steps 2 --backend ref"), 1, "");
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "W1  skipped: needs"));
    free(out);
}

/* W3 from --models DIR whose spec names a text file that is not there:
 * bench says so and times random characters (as the PyTorch peer does),
 * where `train` refuses the spec naming the file. */
static void test_lm_without_text(void **state)
{
    (void)state;
    tu_write_text(dir, "char-lstm-kjv.yaml",
                  "task: language_model\n"
                  "data: {format: text, path: missing.txt, prepare: tools/prepare-kjv.sh, seq_len: 8}\n"
                  "model:\n"
                  "  inputs: [{name: tokens, shape: [8], dtype: i64}]\n"
                  "  layers:\n"
                  "    - {type: embedding, num_embeddings: 12, embedding_dim: 4}\n"
                  "    - {type: linear, out_features: 12}\n"
                  "optimizer: {type: adam}\n"
                  "train: {batch_size: 4}\n");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "bench W3 --models %s --backend ref --steps 2 --warmup 0 --json", dir));
    char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
    assert_non_null(out);
    assert_non_null(err);
    int ok = strstr(out, "\"workload\": \"W3\"") && strstr(out, "\"unit\": \"characters/s\"") &&
             strstr(out, "\"batch\": 4") && strstr(err, "'missing.txt' not found (create it with: tools/prepare-kjv.sh)") &&
             strstr(err, "timing on random characters");
    if (!ok)
        fail_msg("bench W3 without its text printed: %s / %s", out, err);
    free(out);
    free(err);
    char spec[400];
    snprintf(spec, sizeof spec, "%s/char-lstm-kjv.yaml", dir);
    tu_expect_cli_err(dir, tu_run_clif(dir, "train %s --out %s/run --steps 1", spec, dir), 1,
                      "text file 'missing.txt' not found");
}

/* Every workload runs a step of its real model on the cpu backend (W5's discriminator with batch norm, run on
 * real and fake images in one graph, failed the first version of autograd's in-place check with nothing else
 * noticing). */
static void test_workloads_run(void **state)
{
    (void)state;
    for (int w = 1; w <= 5; w++)
        tu_expect_cli_ok(dir, tu_run_clif(dir, "bench W%d --backend cpu --steps 1 --warmup 0", w));
}

/* A workload's figures come with their spread, the rates of the 90th and 10th percentile step times, around the
 * median's; and the share of the machine other processes took (null under half a second, a fraction otherwise). */
static void test_workload_spread(void **state)
{
    (void)state;
    tu_expect_cli_ok(dir, tu_run_clif(dir, "bench W1 --backend ref --steps 5 --warmup 0 --json"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    const char *r = strstr(out, "\"rate\": "), *lo = strstr(out, "\"rate_p10\": "), *hi = strstr(out, "\"rate_p90\": "),
               *o = strstr(out, "\"others_cpu\": ");
    double rate = 0, slow = 0, fast = 0, others = -1;
    int ok = r && lo && hi && o && sscanf(r + 8, "%lf", &rate) == 1 && sscanf(lo + 12, "%lf", &slow) == 1 &&
             sscanf(hi + 12, "%lf", &fast) == 1 && slow <= rate && rate <= fast && rate > 0 &&
             (!strncmp(o + 14, "null}", 5) || (sscanf(o + 14, "%lf", &others) == 1 && others >= 0 && others <= 1));
    if (!ok)
        fail_msg("bench W1 --json printed: %s", out);
    free(out);
    tu_expect_cli_ok(dir, tu_run_clif(dir, "bench W1 --backend ref --steps 5 --warmup 0"));
    out = tu_slurp(dir, "out");
    assert_non_null(out);
    if (!strstr(out, "80% of steps "))
        fail_msg("bench W1 printed: %s", out);
    free(out);
}

/* A workload's figures that cannot be written (standard output on a full disk) fail the command: each workload
 * runs in a child that ends with _exit, past main's check of standard output. */
static void test_full_stdout(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 512], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' bench W1 --backend ref --steps 2 --warmup 0 --json >/dev/full 2>err",
             dir, bin);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    tu_expect_cli_err(dir, WEXITSTATUS(st), 1, "strata bench: writing standard output: No space left on device");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_cpu_conv_choice),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lm_without_text),
        cmocka_unit_test(test_workloads_run),
        cmocka_unit_test(test_workload_spread),
        cmocka_unit_test(test_full_stdout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
