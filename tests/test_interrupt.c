/* test_interrupt.c - Ctrl-C and SIGTERM at known points of `strata train`
 * (the STRATA_TEST_SIGNAL hook of tools/interrupt.c), end to end on a
 * synthetic 8x8 IDX set (ref backend): a signal in an autoencoder epoch's
 * last step followed by a kill in the evaluation keeps that epoch's record
 * for the resumed run; a signal before a new run's first step leaves the
 * earlier run in its directory as it was; a second signal of the other kind
 * ends the process at once. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define N_IMAGES 40 /* batch 8: 5 batches an epoch */
#define SIDE 8

static char dir[512];

static void write_ae_spec(void)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 3\ntask: autoencoder\n"
                     "data:\n  format: idx\n"
                     "  train: {images: images.idx, labels: labels.idx}\n"
                     "  test: {images: images.idx, labels: labels.idx}\n"
                     "  scale: 255\n"
                     "autoencoder: {code_size: 4}\n"
                     "model:\n  input: [%d]\n  layers:\n"
                     "    - {type: linear, out_features: 4}\n    - {type: dropout, p: 0.2}\n"
                     "    - {type: linear, out_features: %d}\n    - {type: sigmoid}\n"
                     "optimizer: {type: adam, lr: 0.01}\n"
                     "train: {epochs: 3, batch_size: 8}\n",
                     SIDE * SIDE, SIDE * SIDE);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, "ae.yaml", text, (size_t)n);
}

static void write_mlp_spec(void)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 3\n"
                     "data:\n  format: idx\n"
                     "  train: {images: images.idx, labels: labels.idx}\n"
                     "  test: {images: images.idx, labels: labels.idx}\n"
                     "  scale: 255\n  val_fraction: 0.2\n"
                     "model:\n  input: [1, %d, %d]\n  layers:\n"
                     "    - {type: flatten}\n"
                     "    - {type: linear, out_features: 16}\n"
                     "    - {type: relu}\n"
                     "    - {type: linear, out_features: 3}\n"
                     "loss: cross_entropy\noptimizer: {type: adam, lr: 0.01}\n"
                     "train: {epochs: 2, batch_size: 8, keep_best: val_accuracy}\n",
                     SIDE, SIDE);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, "mlp.yaml", text, (size_t)n);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "interrupt"), 0);
    tu_write_bars_idx(dir, N_IMAGES, SIDE);
    write_ae_spec();
    write_mlp_spec();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

#define cli(...) tu_run_clif(dir, __VA_ARGS__)

/* `STRATA_TEST_SIGNAL=@p sig strata ARGS` in dir (stdout and stderr to dir/out and dir/err); its wait status,
 * which may be a death by a signal. */
static int cli_signalled(const char *sig, const char *args)
{
    char cmd[PATH_MAX + 4096], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s' && STRATA_TEST_SIGNAL='%s' exec '%s' %s >out 2>err", dir, sig, bin, args);
    int st = system(cmd);
    assert_true(st != -1);
    return st;
}

/* The exit status @p want (not a death by a signal) with @p needle on stderr. */
static void expect_exit(int st, int want, const char *needle)
{
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != want || !strstr(err, needle))
        fail_msg("status %#x (want exit %d and \"%s\"): %s", st, want, needle, err);
    free(err);
}

/* The whole file dir/run/name, or fails the test. */
static char *slurp(const char *run, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", run, name);
    char *text = tu_slurp(dir, path);
    if (!text)
        fail_msg("%s/%s is missing", run, name);
    return text;
}

/* Ctrl-C in the last step of epoch 1 (step 5), then SIGKILL once the stop's checkpoint is written (in the
 * evaluation that follows it, as mpirun's SIGKILL follows its SIGTERM): the checkpoint said epoch 2 had begun,
 * and the resumed run never wrote epoch 1's record. */
static void test_ae_stop_in_last_step_then_killed(void **state)
{
    (void)state;
    tu_expect_cli_ok(dir, cli("train ae.yaml --out ae_whole --backend ref --quiet"));
    const int st = cli_signalled("INT@5+kill", "train ae.yaml --out ae_cut --backend ref --quiet");
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        fail_msg("status %#x: not killed after the stop's checkpoint", st);
    assert_int_equal(tu_checkpoint_step(dir, "ae_cut"), 5);
    tu_expect_cli_ok(dir, cli("train ae.yaml --resume ae_cut --backend ref --quiet"));
    char *cut = tu_metrics(dir, "ae_cut"), *whole = tu_metrics(dir, "ae_whole");
    if (strcmp(cut, whole) != 0)
        fail_msg("stopped in step 5, killed and resumed:\n%s--- not interrupted:\n%s", cut, whole);
    free(cut);
    free(whole);
}

/* A signal as a new run starts (while its data loads) in a directory that holds a run: nothing is trained, and
 * the earlier run's files are as they were (its best model, summary and records were deleted, its spec
 * replaced and its checkpoint overwritten by one of step 0). */
static void earlier_run_kept(const char *spec, const char *run, const char *const *files)
{
    tu_expect_cli_ok(dir, cli("train %s --out %s --backend ref --quiet --steps 7", spec, run));
    char *before[8] = {0};
    for (int k = 0; files[k]; k++)
        before[k] = slurp(run, files[k]);
    char args[512];
    snprintf(args, sizeof args, "train %s --out %s --backend ref --quiet --steps 3 --set seed=9", spec, run);
    expect_exit(cli_signalled("INT@0", args), 130, "before the first step: nothing was trained");
    for (int k = 0; files[k]; k++) {
        char *after = slurp(run, files[k]);
        if (strcmp(before[k], after) != 0)
            fail_msg("%s/%s changed:\n%s\n--- before:\n%s", run, files[k], after, before[k]);
        free(after);
        free(before[k]);
    }
    assert_int_equal(tu_checkpoint_step(dir, run), 7);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, "--resume") && !strstr(err, "would continue it instead"))
        fail_msg("a resume hint for a run that was not saved: %s", err);
    free(err);
}

static void test_stop_before_first_step_keeps_earlier_run(void **state)
{
    (void)state;
    static const char *const mlp[] = {"spec.yaml", "metrics.jsonl", "summary.json", "best.safetensors", NULL};
    static const char *const ae[] = {"spec.yaml", "metrics.jsonl", "summary.json", NULL};
    earlier_run_kept("mlp.yaml", "mlp_old", mlp);
    earlier_run_kept("ae.yaml", "ae_old", ae);
    /* a new directory: no checkpoint, and nothing to resume */
    expect_exit(cli_signalled("INT@0", "train mlp.yaml --out mlp_new --backend ref --quiet"), 130,
                "nothing was trained, and no checkpoint was written in mlp_new");
    char path[600];
    snprintf(path, sizeof path, "%s/mlp_new/checkpoint.safetensors", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* SIGINT, then SIGTERM before the step ends: the second signal ends the process at once, whichever the first
 * was (only the first one's handler was reset, and the run went on to save and exit 143). */
static void test_second_signal_of_other_kind(void **state)
{
    (void)state;
    int st = cli_signalled("INT,TERM@2", "train mlp.yaml --out two --backend ref --quiet");
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
        fail_msg("SIGINT then SIGTERM: status %#x, not ended by SIGTERM", st);
    st = cli_signalled("TERM,INT@2", "train mlp.yaml --out two --backend ref --quiet");
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGINT)
        fail_msg("SIGTERM then SIGINT: status %#x, not ended by SIGINT", st);
    /* one signal: the step ends and the run is saved */
    expect_exit(cli_signalled("TERM@2", "train mlp.yaml --out two --backend ref --quiet"), 143,
                "interrupted (SIGTERM) after step 2");
    assert_int_equal(tu_checkpoint_step(dir, "two"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ae_stop_in_last_step_then_killed),
        cmocka_unit_test(test_stop_before_first_step_keeps_earlier_run),
        cmocka_unit_test(test_second_signal_of_other_kind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
