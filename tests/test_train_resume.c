/* test_train_resume.c - checkpoints of `strata train` and --resume, end to
 * end on a synthetic 8x8 IDX set (ref backend): a run stopped after k steps
 * and resumed to N gives metrics.jsonl records identical to an uninterrupted
 * run of N steps (same batches, same dropout masks, same optimizer state);
 * --checkpoint-every writes the training position into the checkpoint; a
 * non-finite loss stops training after saving the last good state, and
 * --detect-anomaly names the op and layer that produced it; bad uses
 * of the flags fail with a message, never a crash. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define N_IMAGES 40 /* batch 8: 5 batches an epoch */
#define SIDE 8

static char dir[512];

/* dir/NAME: an MLP with dropout (so the random state matters) and Adam. */
static void write_spec(const char *name, const char *optimizer)
{
    char text[2048], path[600];
    int n = snprintf(text, sizeof text,
                     "name: resume-tiny\nseed: 3\n"
                     "data:\n  format: idx\n"
                     "  train: {images: %s/images.idx, labels: %s/labels.idx}\n"
                     "  test: {images: %s/images.idx, labels: %s/labels.idx}\n"
                     "  scale: 255\n"
                     "model:\n  input: [1, %d, %d]\n  layers:\n"
                     "    - {type: flatten}\n"
                     "    - {type: linear, out_features: 16, name: fc1}\n"
                     "    - {type: relu}\n"
                     "    - {type: dropout, p: 0.3}\n"
                     "    - {type: linear, out_features: 3, name: fc2}\n"
                     "loss: cross_entropy\noptimizer: %s\n"
                     "train: {epochs: 1, batch_size: 8, eval_batch_size: 16}\n",
                     dir, dir, dir, dir, SIDE, SIDE, optimizer);
    assert_true(n > 0 && n < (int)sizeof text);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tu_write_file(NULL, path, text, (size_t)n);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "resume"), 0);
    tu_write_bars_idx(dir, N_IMAGES, SIDE);
    write_spec("adam.yaml", "{type: adam, lr: 0.01}");
    write_spec("diverge.yaml", "{type: sgd, lr: 1.0e+38}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* Runs `strata ARGS` in dir; returns its exit status. */
#define cli(...) tu_run_clif(dir, __VA_ARGS__)
#define records(run) tu_metrics(dir, run)
#define checkpoint_step(path) tu_checkpoint_step(dir, path)

static void expect_ok(int code)
{
    tu_expect_cli_ok(dir, code);
}

static void expect_err(int code, int want, const char *needle)
{
    tu_expect_cli_err(dir, code, want, needle);
}

/* Fails the test when the last command said @p needle on stderr. */
static void expect_no_err(const char *needle)
{
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, needle))
        fail_msg("\"%s\" on stderr: %s", needle, err);
    free(err);
}

static void test_resume_matches_uninterrupted(void **state)
{
    (void)state;
    /* 13 steps: epochs 1 and 2 whole, 3 steps into epoch 3 */
    expect_ok(cli("train adam.yaml --out full --steps 13 --backend ref --quiet"));
    char *full = records("full");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 13);
    assert_int_equal(tu_count(full, "\"test_loss\""), 3);

    /* stopped after 7 (mid-epoch 2, checkpoints at 3, 5 (epoch end), 6, 7),
     * then resumed to 13 */
    expect_ok(cli("train adam.yaml --out part --steps 7 --checkpoint-every 3 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("part"), 7);
    char *part = records("part");
    assert_int_equal(tu_count(part, "\"batch_loss\""), 7);
    free(part);
    expect_ok(cli("train adam.yaml --resume part --steps 13 --checkpoint-every 3 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("part"), 13);
    part = records("part");
    if (strcmp(part, full) != 0)
        fail_msg("resumed run's metrics differ:\n--- uninterrupted\n%s--- stopped at 7 and resumed\n%s", full, part);
    free(part);

    /* resumed again at a whole-epoch boundary (10 = end of epoch 2) */
    expect_ok(cli("train adam.yaml --out again --steps 10 --backend ref --quiet"));
    expect_ok(cli("train adam.yaml --resume again --steps 13 --backend ref --quiet"));
    part = records("again");
    assert_string_equal(part, full);
    free(part);
    /* a line that is not a record (an edit gone wrong) is left out on resume, and said */
    char *text = tu_slurp(dir, "again/metrics.jsonl");
    assert_non_null(text);
    size_t len = strlen(text) + 32;
    char *spoilt = malloc(len);
    assert_non_null(spoilt);
    snprintf(spoilt, len, "{\"step\": xx}\n%s", text);
    tu_write_text(dir, "again/metrics.jsonl", spoilt);
    free(spoilt), free(text);
    expect_ok(cli("train adam.yaml --resume again --steps 13 --backend ref --quiet"));
    char *warned = tu_slurp(dir, "err");
    assert_non_null(strstr(warned, "again/metrics.jsonl: 1 line(s) that are not JSON records were left out"));
    free(warned);
    part = records("again");
    assert_string_equal(part, full);
    free(part);

    /* the same checkpoint loads for eval; --json prints the same figures, in
     * any evaluation batch (5 does not divide the test set) */
    expect_ok(cli("eval adam.yaml --checkpoint part/checkpoint.safetensors --backend ref"));
    char *line = tu_slurp(dir, "out");
    assert_non_null(line);
    const char *acc = strstr(line, "test accuracy: ");
    assert_non_null(acc);
    expect_ok(cli("eval adam.yaml --checkpoint part/checkpoint.safetensors --backend ref --json --batch-size 5"));
    char *json = tu_slurp(dir, "out");
    assert_non_null(json);
    const char *jacc = strstr(json, "{\"test_accuracy\":");
    if (!jacc || !strstr(json, "\"test_loss\":") || !strstr(json, "\"backend\":\"ref\""))
        fail_msg("eval --json printed: %s", json);
    assert_true(fabs(atof(acc + strlen("test accuracy: ")) - atof(jacc + strlen("{\"test_accuracy\":"))) < 1e-4);
    /* no SPEC: the run's own spec.yaml, said on stderr, the same figures */
    expect_ok(cli("eval --checkpoint part --backend ref --json --batch-size 5"));
    char *again = tu_slurp(dir, "out"), *said = tu_slurp(dir, "err");
    assert_non_null(again);
    assert_non_null(said);
    if (strcmp(again, json) || !strstr(said, "the spec is part/spec.yaml, the run's"))
        fail_msg("eval --checkpoint part printed: %s%s", again, said);
    free(json);
    free(again);
    free(said);
    free(line);

    /* resuming a finished run (stopped by --steps within an epoch) changes nothing, its summary.json
     * included, and still reports */
    char *sum_before = tu_slurp(dir, "full/summary.json");
    expect_ok(cli("train adam.yaml --resume full --steps 13 --backend ref --quiet"));
    part = records("full");
    assert_string_equal(part, full);
    free(part);
    char *sum_after = tu_slurp(dir, "full/summary.json");
    assert_non_null(sum_before);
    assert_non_null(sum_after);
    assert_string_equal(sum_before, sum_after);
    free(sum_before), free(sum_after);
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "test accuracy"));
    free(out);
    free(full);
}

/* Ctrl-C: the run finishes the step in progress, writes the checkpoint of
 * where it stands and exits 130; --resume then continues it as if it had
 * never stopped (the same records as a run that was not interrupted). */
static void test_interrupt_and_resume(void **state)
{
    (void)state;
    static const char *const argv[] = {"train", "adam.yaml", "--out", "cut", "--steps", "100000000",
                                       "--backend", "ref", "--quiet", NULL};
    int code = tu_run_cli_interrupted(dir, "cut/metrics.jsonl", "\"batch_loss\"", 12, argv);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    /* the hint is the same command line with --resume: the same --steps and --backend */
    if (code != 130 || !strstr(err, "interrupted (SIGINT) after step") ||
        !strstr(err, "this continues it:\n  strata train adam.yaml --resume cut --steps 100000000 --backend ref --quiet\n"))
        fail_msg("exit %d: %s", code, err);
    free(err);
    const int64_t k = checkpoint_step("cut");
    assert_true(k >= 12);
    expect_ok(cli("train adam.yaml --resume cut --steps %lld --backend ref --quiet", (long long)k + 7));
    expect_ok(cli("train adam.yaml --out whole --steps %lld --backend ref --quiet", (long long)k + 7));
    char *cut = records("cut"), *whole = records("whole");
    if (strcmp(cut, whole) != 0)
        fail_msg("interrupted at step %lld and resumed:\n%s--- not interrupted:\n%s", (long long)k, cut, whole);
    free(cut);
    free(whole);
}

/* A resume with another spec: RUN/spec.yaml records the one the run follows now (eval, report and the hint
 * `strata train RUN/spec.yaml --resume RUN` read it; it kept the first one), written whole with its mode; the
 * earlier one is kept as RUN/spec.prev.yaml, and the warning says both. */
static void test_resume_with_changed_spec_records_it(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out respec --steps 2 --backend ref --quiet"));
    char path[1024];
    snprintf(path, sizeof path, "%s/respec/spec.yaml", dir);
    assert_int_equal(chmod(path, 0600), 0);
    char *first = tu_slurp(dir, "respec/spec.yaml");
    assert_non_null(first);
    assert_non_null(strstr(first, "lr: 0.01"));
    expect_ok(cli("train adam.yaml --resume respec --steps 4 --backend ref --quiet --set optimizer.lr=0.05"));
    char *err = tu_slurp(dir, "err"), *now = tu_slurp(dir, "respec/spec.yaml"),
         *prev = tu_slurp(dir, "respec/spec.prev.yaml");
    assert_non_null(err);
    if (!strstr(err, "the resumed run follows the new one, which it now records (the earlier one is kept as "
                     "spec.prev.yaml)"))
        fail_msg("no warning that spec.yaml changed: %s", err);
    if (!now || !strstr(now, "0.05") || strstr(now, "lr: 0.01"))
        fail_msg("spec.yaml is not the spec the run follows:\n%s", now ? now : "(missing)");
    if (!prev || strcmp(prev, first) != 0)
        fail_msg("spec.prev.yaml is not the earlier spec:\n%s", prev ? prev : "(missing)");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* spec.prev.yaml as private as the spec it keeps (it took the umask) */
    snprintf(path, sizeof path, "%s/respec/spec.prev.yaml", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the run's own spec resumes it as it now is: no warning */
    expect_ok(cli("train respec/spec.yaml --resume respec --steps 5 --backend ref --quiet"));
    expect_no_err("the spec differs");
    /* a new run in the directory does not leave the earlier run's spec.prev.yaml beside its own spec.yaml */
    expect_ok(cli("train adam.yaml --out respec --steps 1 --backend ref --quiet"));
    assert_int_equal(access(path, F_OK), -1);
    free(err);
    free(now);
    free(prev);
    free(first);
}

/* --resume with another training set (--set data.train.images=...): epochs of another number of batches are
 * refused, naming both sizes (it resumed at "epoch 1, batch 4" of a 2-batch epoch and stretched the schedule
 * over the new epochs); as many batches of other examples get a warning. */
static void test_resume_with_other_training_data(void **state)
{
    (void)state;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/small", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    tu_write_bars_idx(sub, 16, SIDE); /* 2 batches */
    snprintf(sub, sizeof sub, "%s/some", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    tu_write_bars_idx(sub, 36, SIDE); /* 5 batches, the last of 4 */
    expect_ok(cli("train adam.yaml --out otherdata --steps 4 --backend ref --quiet"));
    expect_err(cli("train adam.yaml --resume otherdata --backend ref --quiet "
                   "--set data.train.images=%s/small/images.idx --set data.train.labels=%s/small/labels.idx",
                   dir, dir),
               2, "trained on 40 examples, 5 batches an epoch, and its training data now gives 16 examples, 2 batches");
    assert_int_equal(checkpoint_step("otherdata"), 4);
    expect_ok(cli("train adam.yaml --resume otherdata --backend ref --quiet "
                  "--set data.train.images=%s/some/images.idx --set data.train.labels=%s/some/labels.idx",
                  dir, dir));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "trained on 40 examples, and its training data now has 36 (5 batches an epoch, as before)"))
        fail_msg("no warning about the other examples: %s", err);
    free(err);
}

static void test_resume_cleans_temporaries(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out tmps --steps 4 --checkpoint-every 2 --backend ref --quiet"));
    /* what a run killed in the middle of a write leaves */
    char path[1024];
    snprintf(path, sizeof path, "%s/tmps/checkpoint.safetensors.tmp.12345", dir);
    tu_write_file(NULL, path, "torn", 4);
    expect_ok(cli("train adam.yaml --resume tmps --steps 6 --backend ref --quiet"));
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(checkpoint_step("tmps"), 6);
}

/* --out naming a directory that already holds a run: the new run replaces
 * it, and says so (a new directory gets no note). */
static void test_out_over_earlier_run(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out over --steps 2 --backend ref --quiet"));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, "already holds a run"))
        fail_msg("a new run directory got the note: %s", err);
    free(err);
    expect_ok(cli("train adam.yaml --out over --steps 1 --backend ref --quiet"));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "note: over already holds a run (checkpoint.safetensors); this one replaces it"))
        fail_msg("no note: %s", err);
    free(err);
    assert_int_equal(checkpoint_step("over"), 1);
}

/* A run directory in use by another training (here this test, holding its lock as a running `strata train`
 * does) is refused, new run or resume, naming the process; the two runs' files used to mix. Its lock gone
 * (the process ended), the directory trains again. */
static void test_out_in_use(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out busy --steps 2 --backend ref --quiet"));
    char path[1024];
    snprintf(path, sizeof path, "%s/busy/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0666);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "4242\n", 5, 0), 5);
    expect_err(cli("train adam.yaml --out busy --steps 1 --backend ref"), 1,
               "busy is in use by another training (process 4242)");
    /* a new run in busy before its first checkpoint keeps the old run's files as FILE.replaced: a refused
     * resume must not put them back over the live run's (it did, before taking the lock) */
    char replaced[1100];
    snprintf(replaced, sizeof replaced, "%s/busy/spec.yaml.replaced", dir);
    tu_write_file(NULL, replaced, "name: old\n", 10);
    expect_err(cli("train adam.yaml --resume busy --steps 4 --backend ref"), 1, "busy is in use by another training");
    assert_int_equal(access(replaced, F_OK), 0);
    char *spec = tu_slurp(dir, "busy/spec.yaml");
    assert_non_null(spec);
    assert_null(strstr(spec, "name: old"));
    free(spec);
    assert_int_equal(unlink(replaced), 0);
    assert_int_equal(checkpoint_step("busy"), 2); /* untouched */
    close(fd);
    expect_ok(cli("train adam.yaml --resume busy --steps 4 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("busy"), 4);
}

/* The progress of an epoch that --steps ends early counts to that step, not to the epoch's 5 batches. */
static void test_progress_counts_to_steps(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out pg --steps 3 --set train.log_every=1 --backend ref"));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "epoch 1/1: 3/3 batches") || strstr(err, "/5 batches"))
        fail_msg("the progress lines do not count to --steps 3:\n%s", err);
    free(err);
    /* resumed at step 3 to step 4: the bar goes from 3 to 4 */
    expect_ok(cli("train adam.yaml --resume pg --steps 4 --set train.log_every=1 --backend ref"));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "epoch 1/1: 4/4 batches"))
        fail_msg("the resumed run's progress does not count to --steps 4:\n%s", err);
    free(err);
}

/* dir/NAME: adam.yaml with data.classes @p classes (a YAML list). */
static void write_classes_spec(const char *name, const char *classes)
{
    char line[256];
    snprintf(line, sizeof line, "  classes: %s\n", classes);
    tu_write_text_inserted(dir, "adam.yaml", name, "  format: idx\n", line);
}

/* eval and predict with a spec that orders the classes otherwise than the run's spec.yaml warn, naming
 * the first class that differs: labels match by number, and the accuracy was silently another one. */
static void test_eval_class_order(void **state)
{
    (void)state;
    write_classes_spec("abc.yaml", "[ant, bee, cat]");
    write_classes_spec("cba.yaml", "[cat, bee, ant]");
    expect_ok(cli("train abc.yaml --out cls --steps 2 --backend ref --quiet"));
    expect_ok(cli("eval abc.yaml --checkpoint cls --backend ref"));
    expect_no_err("classes are matched by number");
    expect_ok(cli("eval cba.yaml --checkpoint cls/checkpoint.safetensors --backend ref"));
    expect_err(0, 0, "cba.yaml names class 0 'cat', and cls/spec.yaml, the spec the checkpoint was trained with, "
                     "'ant': classes are matched by number, so the checkpoint's 'ant' counts as 'cat'");
    expect_ok(cli("eval adam.yaml --checkpoint cls --backend ref")); /* no names: nothing to compare */
    expect_no_err("classes");
}

/* --resume takes the run's directory: a checkpoint file (as torch.load takes) is refused naming the
 * directory, and a directory that is not there is not created. */
static void test_resume_names_directory(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out rd --steps 2 --backend ref --quiet"));
    expect_err(cli("train adam.yaml --resume rd/checkpoint.safetensors --backend ref"), 1,
               "--resume rd/checkpoint.safetensors is a file; --resume takes the run's directory (--resume rd)");
    expect_err(cli("train adam.yaml --resume gone --backend ref"), 1, "--resume gone: No such file or directory");
    /* --seed on --resume: the run keeps its own seed (3, the spec's), and says so */
    expect_ok(cli("train adam.yaml --resume rd --steps 3 --seed 9 --backend ref"));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "strata: note: the run shuffles its data with seed 3 (from the checkpoint), not 9\n"))
        fail_msg("train --resume rd --seed 9 printed no note of the run's seed:\n%s", err);
    free(err);
    /* a --steps the run has already done: said (it evaluated and exited 0 without a word), step unchanged */
    expect_ok(cli("train adam.yaml --resume rd --steps 2 --backend ref --quiet"));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "strata: note: the run is at step 3 and 2 steps are asked for: nothing is left to train"))
        fail_msg("train --resume rd --steps 2 at step 3 printed:\n%s", err);
    free(err);
    assert_int_equal(tu_checkpoint_step(dir, "rd"), 3);
    /* ... and the epochs a run has done, whatever --steps says (the review found the note missing there) */
    expect_ok(cli("train adam.yaml --out re --epochs 1 --backend ref --quiet"));
    expect_ok(cli("train adam.yaml --resume re --steps 1000 --backend ref --quiet"));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (!strstr(err, "strata: note: the run has done all 1 epochs it is asked for: nothing is left to train (a "
                     "larger --epochs goes on)"))
        fail_msg("train --resume re after its epoch printed:\n%s", err);
    free(err);
    /* the spec's epochs done, a larger --steps goes on (the epochs as the steps stretch them): no note */
    expect_ok(cli("train adam.yaml --out rf --backend ref --quiet"));
    const long long done = tu_checkpoint_step(dir, "rf");
    expect_ok(cli("train adam.yaml --resume rf --steps %lld --backend ref --quiet", done + 3));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, "nothing is left to train"))
        fail_msg("train --resume rf --steps %lld (at step %lld) printed:\n%s", done + 3, done, err);
    free(err);
    assert_int_equal(tu_checkpoint_step(dir, "rf"), done + 3);
    char path[1024];
    snprintf(path, sizeof path, "%s/gone", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_nan_loss_saves_last_good_state(void **state)
{
    (void)state;
    int code = cli("train diverge.yaml --out nan --steps 20 --backend ref --quiet");
    expect_err(code, 1, "the loss became");
    expect_err(code, 1, "the last good one");
    /* the hint is the command line as typed, --out as --resume: the same --steps and --backend */
    expect_err(code, 1, "this continues from it:\n  strata train diverge.yaml --resume nan --steps 20 --backend ref "
                        "--quiet\n");
    long long good = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("nan"), good);
    /* the saved parameters are finite: the update of the bad step never ran */
    strata_runtime *rt = tu_runtime();
    strata_spec *s;
    strata_model *m;
    char path[1024];
    snprintf(path, sizeof path, "%s/diverge.yaml", dir);
    ST_OK(strata_spec_load(rt, path, &s));
    ST_OK(strata_spec_build_model(s, tu_ref(rt), &m));
    snprintf(path, sizeof path, "%s/nan/checkpoint.safetensors", dir);
    ST_OK(strata_checkpoint_load(path, m, NULL));
    for (int i = 0; i < strata_model_param_count(m); i++) {
        strata_tensor *t;
        const char *name;
        ST_OK(strata_model_param(m, i, &name, &t));
        int64_t n = strata_tensor_numel(t);
        float *v = malloc(sizeof(float) * (size_t)n);
        assert_non_null(v);
        ST_OK(strata_tensor_read(t, v, sizeof(float) * (size_t)n));
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(v[k]))
                fail_msg("%s[%lld] = %g in the last good state", name, (long long)k, v[k]);
        free(v);
    }
    strata_model_destroy(m);
    strata_spec_destroy(s);
    strata_runtime_destroy(rt);
    /* the metrics hold the good steps only */
    char *rec = records("nan");
    assert_int_equal(tu_count(rec, "\"batch_loss\""), (int)good);
    free(rec);
    /* with batch norm: its running statistics are the last good step's too (the failing step's forward pass
     * had moved them, to Inf, and they were saved so), the tensors of an uninterrupted run of that many steps */
    tu_write_text_inserted(dir, "diverge.yaml", "diverge_bn.yaml", "    - {type: relu}\n",
                           "    - {type: batch_norm1d, name: bn}\n");
    code = cli("train diverge_bn.yaml --out bnnan --steps 20 --backend ref --quiet");
    expect_err(code, 1, "the last good one");
    good = tu_last_good_step(dir);
    expect_ok(cli("train diverge_bn.yaml --out bngood --steps %lld --backend ref --quiet", good));
    assert_true(tu_same_model_tensors(dir, "bnnan/checkpoint.safetensors", "bngood/checkpoint.safetensors"));
}

/* --detect-anomaly stops at the op that first overflows, in its layer */
static void test_detect_anomaly(void **state)
{
    (void)state;
    int code = cli("train diverge.yaml --out anomaly --steps 20 --detect-anomaly --backend ref --quiet");
    expect_err(code, 1, "anomaly detected: core::linear produced");
    expect_err(code, 1, "in the forward of layer 'fc");
    expect_err(code, 1, "inputs: (8, ");
    /* the last good state is saved, as for a NaN loss (it saved nothing): the anomaly was found before the update */
    expect_err(code, 1, "(the last good one) is in anomaly/checkpoint.safetensors");
    const long long good = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("anomaly"), good);
    /* and it resumes from there */
    code = cli("train diverge.yaml --resume anomaly --steps 20 --detect-anomaly --backend ref --quiet");
    expect_err(code, 1, "anomaly detected");
}

/* --steps with an explicit --epochs: the epochs stay a cap (--epochs 2
 * --steps 100 trained 100 steps over as many epochs as they took). */
static void test_epochs_cap_steps(void **state)
{
    (void)state;
    expect_ok(cli("train adam.yaml --out cap --epochs 2 --steps 100 --backend ref --quiet"));
    char *m = records("cap"), *sum = tu_slurp(dir, "cap/summary.json");
    assert_non_null(sum);
    const int per_epoch = N_IMAGES / 8;
    if (tu_count(m, "\"batch_loss\"") != 2 * per_epoch || !strstr(sum, "\"epochs\": 2"))
        fail_msg("--epochs 2 --steps 100: %d steps (want %d), summary %s", tu_count(m, "\"batch_loss\""),
                 2 * per_epoch, sum);
    free(m);
    free(sum);
    /* and --steps still stops inside the epochs */
    expect_ok(cli("train adam.yaml --out cap3 --epochs 2 --steps 3 --backend ref --quiet"));
    m = records("cap3");
    assert_int_equal(tu_count(m, "\"batch_loss\""), 3);
    free(m);
}

/* A resumed run keeps its length, which its schedule spans: resumed without
 * --epochs it takes the checkpoint's (the spec says 1) and repeats the
 * uninterrupted run; another --epochs is taken with a warning. Until
 * 2026-12-07 both resumed silently on another schedule. A checkpoint
 * written with another thread count says the bits may differ. */
static void test_resume_keeps_epochs(void **state)
{
    (void)state;
    const char *cos = "--set schedule.type=cosine --backend ref";
    expect_ok(cli("train adam.yaml --out ep_full --epochs 3 --steps 8 --quiet %s", cos));
    expect_ok(cli("train adam.yaml --out ep --epochs 3 --steps 4 --quiet %s", cos));
    expect_ok(cli("train adam.yaml --out ep2 --epochs 3 --steps 4 --quiet %s", cos));
    expect_err(cli("train adam.yaml --resume ep2 --epochs 4 --steps 5 %s", cos), 0,
               "warning: the run in ep2 has 3 epoch(s) and resumes with --epochs 4: a schedule over");
    /* a run that followed its spec (1 epoch) warns the same */
    expect_ok(cli("train adam.yaml --out ep3 --steps 2 --quiet %s", cos));
    expect_err(cli("train adam.yaml --resume ep3 --epochs 4 --steps 3 %s", cos), 0,
               "warning: the run in ep3 has 1 epoch(s) and resumes with --epochs 4");
    /* the run's count is the one it trained with, --set included: the same count on the resume is no change */
    expect_ok(cli("train adam.yaml --out ep4 --steps 2 --quiet --set train.epochs=3 %s", cos));
    expect_ok(cli("train adam.yaml --resume ep4 --epochs 3 --steps 3 %s", cos));
    expect_no_err("epoch(s) and resumes with");
    expect_err(cli("train adam.yaml --resume ep --steps 8 %s", cos), 0,
               "note: the run in ep has 3 epoch(s), from its --epochs (the spec says 1;");
    char *full = records("ep_full"), *ep = records("ep");
    if (strcmp(full, ep) != 0)
        fail_msg("resumed without --epochs:\n--- uninterrupted\n%s--- resumed\n%s", full, ep);
    free(ep);
    free(full);
    /* the first run's --epochs still cap a --steps past them (2 epochs of N_IMAGES / 8 steps) */
    expect_ok(cli("train adam.yaml --out cap_full --epochs 2 --steps 100 --quiet %s", cos));
    expect_ok(cli("train adam.yaml --out cap_part --epochs 2 --steps 3 --quiet %s", cos));
    expect_ok(cli("train adam.yaml --resume cap_part --steps 100 --quiet %s", cos));
    full = records("cap_full"), ep = records("cap_part");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 2 * (N_IMAGES / 8));
    if (strcmp(full, ep) != 0)
        fail_msg("--epochs 2 --steps 3 resumed with --steps 100:\n--- uninterrupted\n%s--- resumed\n%s", full, ep);
    free(ep);
    free(full);
    /* the same device with another thread count: a warning (ref's description has no count: cpu's) */
    expect_ok(cli("train adam.yaml --out th --steps 2 --backend cpu --quiet"));
    expect_ok(cli("train adam.yaml --resume th --steps 3 --backend cpu --quiet"));
    expect_no_err("warning");
    setenv("STRATA_NUM_THREADS", "7", 1);
    const int code = cli("train adam.yaml --resume th --steps 4 --backend cpu");
    unsetenv("STRATA_NUM_THREADS");
    expect_err(code, 0, "warning: the checkpoint was written on host CPU");
    expect_err(code, 0, "7 threads): the losses may");
}

/* A full disk under metrics.jsonl (files limited to 1500 bytes: its 20th
 * record or so in batches of 1; the checkpoint, larger, comes at the
 * epoch's end, step 40) stops the run with the file's error, not a run
 * that lost its records and said nothing of them until a checkpoint failed
 * too. */
static void test_metrics_write_error(void **state)
{
    (void)state;
    int code = tu_run_cli_fsize(dir, 1500, "train adam.yaml --set train.batch_size=1 --out full_disk --steps 30 "
                                           "--backend ref --quiet");
    expect_err(code, 1, "cannot write full_disk/metrics.jsonl: File too large");
    expect_no_err("checkpoint");
}

static void test_bad_usage(void **state)
{
    (void)state;
    expect_err(cli("train adam.yaml --out x --checkpoint-every 0 --backend ref"), 2, "--checkpoint-every");
    expect_err(cli("train adam.yaml --out x --checkpoint-every 3x --backend ref"), 2, "--checkpoint-every");
    expect_err(cli("train adam.yaml --resume a --out b --backend ref"), 2, "--resume a");
    expect_err(cli("train adam.yaml --resume nowhere --backend ref"), 1, "nowhere");
    /* the position counts batches of the first run's size */
    expect_ok(cli("train adam.yaml --out bs --steps 3 --backend ref --quiet"));
    expect_err(cli("train adam.yaml --resume bs --steps 6 --batch-size 4 --backend ref"), 2, "used batches of 8");
    /* another backend may go on with the run, with a warning that the losses will differ */
    expect_ok(cli("train adam.yaml --resume bs --steps 5 --backend cpu --quiet"));
    char *warn = tu_slurp(dir, "err");
    assert_non_null(warn);
    if (!strstr(warn, "the run started on backend ref and resumes on cpu"))
        fail_msg("no backend warning on resuming a ref run on cpu; stderr:\n%s", warn);
    free(warn);
    /* a checkpoint without training state (written by the API) cannot be resumed */
    char path[1024];
    snprintf(path, sizeof path, "%s/plain", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    expect_err(cli("train adam.yaml --resume plain --backend ref"), 1, "plain");
    /* a validation split of a one-example set names the spec and the fraction */
    char one[700], text[1600];
    snprintf(one, sizeof one, "%s/one", dir);
    assert_int_equal(mkdir(one, 0777), 0);
    tu_write_bars_idx(one, 1, SIDE);
    snprintf(text, sizeof text,
             "data: {format: idx, train: {images: %s/images.idx, labels: %s/labels.idx}, val_fraction: 0.5}\n"
             "model: {input: [1, %d, %d], layers: [{type: flatten}, {type: linear, out_features: 3}]}\n"
             "optimizer: {type: sgd}\n",
             one, one, SIDE, SIDE);
    tu_write_text(dir, "one.yaml", text);
    expect_err(cli("train one.yaml --out o1 --backend ref"), 1,
               "one.yaml: data.val_fraction 0.5: the training set has 1 example(s); nothing to hold out");
    /* a corrupt checkpoint is reported, not loaded */
    snprintf(path, sizeof path, "%s/plain/checkpoint.safetensors", dir);
    tu_write_file(NULL, path, "\x10\0\0\0\0\0\0\0{\"a\":", 13);
    expect_err(cli("train adam.yaml --resume plain --backend ref"), 1, "checkpoint.safetensors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_matches_uninterrupted),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_epochs_cap_steps),
        cmocka_unit_test(test_resume_keeps_epochs),
        cmocka_unit_test(test_resume_with_changed_spec_records_it),
        cmocka_unit_test(test_resume_with_other_training_data),
        cmocka_unit_test(test_resume_cleans_temporaries),
        cmocka_unit_test(test_out_over_earlier_run),
        cmocka_unit_test(test_out_in_use),
        cmocka_unit_test(test_resume_names_directory),
        cmocka_unit_test(test_progress_counts_to_steps),
        cmocka_unit_test(test_eval_class_order),
        cmocka_unit_test(test_nan_loss_saves_last_good_state),
        cmocka_unit_test(test_detect_anomaly),
        cmocka_unit_test(test_metrics_write_error),
        cmocka_unit_test(test_bad_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
