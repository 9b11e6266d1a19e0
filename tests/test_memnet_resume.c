/* test_memnet_resume.c - checkpoints and --resume of a memory network's
 * `strata train` (tools/cmd_memnet.c), end to end on a tiny task 1 written
 * by `strata babi-gen` (ref backend, 2 runs of 1 + 2 epochs, 7 batches an
 * epoch): runs stopped by --steps in the middle of an epoch, at a run's end
 * and after a NaN, then resumed, write the metrics.jsonl records of an
 * uninterrupted run and end with the same best-of-2 model (eval's JSON);
 * bad uses of --resume fail with a message, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char dir[512];

/* dir/NAME: a small memn2n (d 8, 2 hops, memory 10) and its recipe. */
static void write_spec(const char *name, const char *lr, int linear_start)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: memnet-resume\nseed: 5\n"
             "data:\n  format: babi\n  layer: mn\n  memory_size: 10\n  val_fraction: 0.1\n  random_noise: 0.1\n"
             "  linear_start: %d\n  linear_start_lr: 0.005\n  lr_decay_every: 1\n  lr_decay: 0.5\n"
             "model:\n  inputs:\n    - {name: story, shape: [10, 6], dtype: i64}\n"
             "    - {name: query, shape: [6], dtype: i64}\n"
             "  layers:\n    - {type: memn2n, name: mn, vocab_size: 1, embedding_dim: 8, hops: 2, tying: adjacent,\n"
             "       encoding: position, temporal: 1, init_std: 0.1, inputs: [story, query]}\n"
             "  outputs: [mn, \"mn:1\"]\n"
             "optimizer: {type: sgd, lr: %s}\n"
             "train: {epochs: 2, batch_size: 16, clip_grad_norm: 40, repeats: 2}\n",
             linear_start, lr);
    tu_write_text(dir, name, text);
}

static int setup(void **state)
{
    (void)state;
    if (tu_make_temp_dir(dir, sizeof dir, "mnres"))
        return -1;
    write_spec("tiny.yaml", "0.01", 1);
    write_spec("diverge.yaml", "1.0e+38", 0);
    /* 120 questions: 12 held out, 108 in 7 batches of 16 */
    return tu_run_cli(dir, "babi-gen --task 1 --train 120 --test 40 --seed 3 --out data") == 0 ? 0 : -1;
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

static char *slurp(const char *name)
{
    char *s = tu_slurp(dir, name);
    if (!s)
        fail_msg("no %s/%s", dir, name);
    return s;
}

/* `strata eval --json` of dir/RUN/checkpoint.safetensors (malloc'ed). */
static char *eval_json(const char *run)
{
    expect_ok(cli("eval tiny.yaml --checkpoint %s/checkpoint.safetensors --data data --task 1 --json --backend ref",
                  run));
    return slurp("out");
}

static void expect_same(const char *what, const char *want, const char *got)
{
    if (strcmp(want, got) != 0)
        fail_msg("%s differs:\n--- uninterrupted\n%s--- resumed\n%s", what, want, got);
}

#define TRAIN "train tiny.yaml --data data --task 1 --backend ref --quiet"

static void test_resume_matches_uninterrupted(void **state)
{
    (void)state;
    expect_ok(cli(TRAIN " --out full"));
    char *full = records("full"), *full_eval = eval_json("full");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 42); /* 2 runs x 3 epochs x 7 batches */
    assert_int_equal(tu_count(full, "\"val_error\""), 6);           /* epoch records */
    assert_int_equal(tu_count(full, "\"final_train_error\""), 2);   /* run records */
    assert_int_equal(checkpoint_step("full"), 42);
    char *out = slurp("full/summary.json");
    assert_non_null(strstr(out, "\"repeats\": 2"));
    free(out);

    /* stopped 3 batches into epoch 2 of run 1 (checkpoints at 4, 7 (epoch end), 8, 10),
     * then at step 30 (run 2, epoch 2, after a checkpoint at 28), then to the end */
    expect_ok(cli(TRAIN " --out part --steps 10 --checkpoint-every 4"));
    assert_int_equal(checkpoint_step("part"), 10);
    out = slurp("err");
    assert_non_null(strstr(out, "--resume part --checkpoint-every 4\n"));
    free(out);
    char *part = records("part");
    assert_int_equal(tu_count(part, "\"batch_loss\""), 10);
    free(part);
    expect_ok(cli("train tiny.yaml --resume part --steps 30 --checkpoint-every 4 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("part"), 30);
    expect_ok(cli("train tiny.yaml --resume part --backend ref --quiet"));
    part = records("part");
    expect_same("metrics.jsonl", full, part);
    free(part);
    part = eval_json("part");
    expect_same("eval --json", full_eval, part);
    free(part);

    /* stopped where run 1 ends (the best so far saved, run 2 not started) */
    expect_ok(cli(TRAIN " --out edge --steps 21"));
    assert_int_equal(checkpoint_step("edge"), 21);
    expect_ok(cli("train tiny.yaml --resume edge --data data --task 1 --backend ref --quiet"));
    part = records("edge");
    expect_same("metrics.jsonl", full, part);
    free(part);
    part = eval_json("edge");
    expect_same("eval --json", full_eval, part);
    free(part);

    /* resuming a finished run trains nothing and reports the same answer */
    expect_ok(cli("train tiny.yaml --resume full --backend ref --quiet"));
    part = records("full");
    expect_same("metrics.jsonl", full, part);
    free(part);
    out = slurp("out");
    assert_non_null(strstr(out, "test error"));
    free(out);
    part = eval_json("full");
    expect_same("eval --json", full_eval, part);
    free(part);
    /* and memnet-explain still reads the final checkpoint */
    expect_ok(cli("memnet-explain --checkpoint full/checkpoint.safetensors --data data --task 1 --story 1 --backend "
                  "ref"));
    free(full);
    free(full_eval);
}

/* Ctrl-C: the run ends with 130 after saving where it stands; resumed to 7
 * steps further, its records are those of a run stopped there by --steps. */
static void test_interrupt_and_resume(void **state)
{
    (void)state;
    static const char *const argv[] = {"train", "tiny.yaml", "--data", "data", "--task", "1", "--epochs", "100000",
                                       "--out", "cut", "--backend", "ref", "--quiet", NULL};
    int code = tu_run_cli_interrupted(dir, "cut/metrics.jsonl", "\"batch_loss\"", 12, argv);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (code != 130 || !strstr(err, "interrupted (SIGINT) after step") || !strstr(err, "--resume cut"))
        fail_msg("exit %d: %s", code, err);
    free(err);
    const long long k = checkpoint_step("cut");
    assert_true(k >= 12);
    expect_ok(cli("train tiny.yaml --resume cut --steps %lld --backend ref --quiet", k + 7));
    expect_ok(cli(TRAIN " --epochs 100000 --out whole --steps %lld", k + 7));
    char *a = records("cut"), *b = records("whole");
    expect_same("metrics.jsonl", b, a);
    free(a);
    free(b);
}

static void test_nan_loss_saves_last_good_state(void **state)
{
    (void)state;
    int code = cli("train diverge.yaml --data data --task 1 --out nan --backend ref --quiet");
    expect_err(code, 1, "the loss became");
    expect_err(code, 1, "--resume nan");
    long long good = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("nan"), good);
    char *rec = records("nan");
    assert_int_equal(tu_count(rec, "\"batch_loss\""), (int)good);
    free(rec);
    /* the same recipe diverges at the same step again, from the saved state */
    code = cli("train diverge.yaml --resume nan --backend ref --quiet");
    expect_err(code, 1, "the loss became");
    assert_int_equal(checkpoint_step("nan"), good);
    /* with anomaly detection (STRATA_DETECT_ANOMALY, or --detect-anomaly, which memnet's train lacked though the
     * help said every trainer took it) the op is named and the last good state saved too (it exited 1 without a
     * word) */
    assert_int_equal(setenv("STRATA_DETECT_ANOMALY", "1", 1), 0);
    code = cli("train diverge.yaml --data data --task 1 --out anom --backend ref --quiet");
    unsetenv("STRATA_DETECT_ANOMALY");
    expect_err(code, 1, "anomaly detected");
    expect_err(code, 1, "(the last good one) is in anom/checkpoint.safetensors");
    code = cli("train diverge.yaml --data data --task 1 --out anom2 --backend ref --quiet --detect-anomaly");
    expect_err(code, 1, "anomaly detected");
    expect_err(code, 1, "(the last good one) is in anom2/checkpoint.safetensors");
}

static void test_resume_errors(void **state)
{
    (void)state;
    expect_ok(cli(TRAIN " --out small --steps 3"));
    expect_err(cli("train tiny.yaml --resume nowhere --backend ref"), 1, "nowhere");
    char path[1024];
    snprintf(path, sizeof path, "%s/empty", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    expect_err(cli("train tiny.yaml --resume empty --backend ref"), 1, "no checkpoint.safetensors in it");
    /* a checkpoint without training state (best.safetensors is one) */
    expect_ok(cli(TRAIN " --out plain --steps 21"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd '%s' && mv plain/best.safetensors plain/checkpoint.safetensors", dir);
    assert_int_equal(system(cmd), 0);
    expect_err(cli("train tiny.yaml --resume plain --backend ref"), 1, "no training state");
    expect_err(cli("train tiny.yaml --resume small --out elsewhere --backend ref"), 2, "--resume small");
    expect_err(cli("train tiny.yaml --resume small --task 2 --backend ref"), 2, "trains task(s) 1, not 2");
    expect_err(cli("train tiny.yaml --resume small --epochs 5 --backend ref"), 2, "--epochs 2");
    expect_err(cli("train tiny.yaml --resume small --repeats 3 --backend ref"), 2, "--repeats 2");
    /* a run trained with --set of the layer resumed with the plain spec: refused, naming the attribute (it went
     * on with the other encoding, and the run's spec.yaml no longer matched its checkpoint); the run's own
     * spec.yaml resumes it */
    assert_int_equal(cli("train tiny.yaml --data data --task 1 --backend ref --out bowrun --steps 3 "
                         "--set model.layers.0.encoding=bow"),
                     0);
    /* the hint is the command line with --resume, less --steps: its --set and --backend kept (the run's spec.yaml
     * it named went on on the default backend) */
    char *said = tu_slurp(dir, "err");
    if (!strstr(said, "this continues it:\n  strata train tiny.yaml --data data --task 1 --backend ref --resume bowrun "
                      "--set model.layers.0.encoding=bow\n"))
        fail_msg("the --steps stop's hint: %s", said);
    free(said);
    expect_ok(cli("train tiny.yaml --data data --task 1 --backend ref --resume bowrun "
                  "--set model.layers.0.encoding=bow --steps 4 --quiet"));
    expect_err(cli("train tiny.yaml --resume bowrun --backend ref"), 1, "was trained with encoding bow");
    expect_ok(cli("train bowrun/spec.yaml --resume bowrun --steps 5 --backend ref --quiet"));
    /* the trainer's nil word is id 0: another padding_idx skipped a real word and embedded the nil one */
    expect_err(cli(TRAIN " --out pidx --set model.layers.0.padding_idx=5"), 1,
               "the memn2n layer's padding_idx is 5, but the trainer gives the nil word");
    expect_err(cli(TRAIN " --out x --checkpoint-every 0"), 2, "--checkpoint-every");
    expect_err(cli(TRAIN " --out x --steps 0"), 2, "--steps");
    /* another data directory is refused, naming both (it was taken when its vocabulary and questions fitted) */
    assert_int_equal(cli("babi-gen --task 1 --train 120 --test 40 --seed 3 --out other"), 0);
    expect_err(cli("train tiny.yaml --resume small --data other --backend ref"), 2, "/data, not ");
    expect_err(cli("train tiny.yaml --resume small --data other --backend ref"), 2, "/other: resume it with the data "
                                                                                    "it started with");
    expect_err(cli("train tiny.yaml --resume small --data ./data/ --backend ref --steps 4 --quiet"), 0, "");
    /* the run's directory with other questions (task 1's vocabulary is the same), then another vocabulary */
    snprintf(cmd, sizeof cmd, "cd '%s' && cp -r data moving", dir);
    assert_int_equal(system(cmd), 0);
    expect_ok(cli(TRAIN " --out moved --steps 3 --data moving"));
    assert_int_equal(cli("babi-gen --task 1 --train 60 --test 20 --seed 9 --out moving"), 0);
    expect_err(cli("train tiny.yaml --resume moved --backend ref"), 1, "the data it started with");
    snprintf(cmd, sizeof cmd, "cd '%s' && for f in data/qa1_*; do sed 's/Mary/Zelda/g' $f > moving/${f#data/}; done",
             dir);
    assert_int_equal(system(cmd), 0);
    expect_err(cli("train tiny.yaml --resume moved --task 1 --backend ref"), 1, "vocabulary: the run's has");
    expect_err(cli("train tiny.yaml --resume moved --task 1 --backend ref"), 1, "('mary' is not in the data)");
    /* a run whose directory is gone takes another, with a note, when it holds the same questions */
    snprintf(cmd, sizeof cmd, "cd '%s' && rm -r moving && cp -r data moved_data", dir);
    assert_int_equal(system(cmd), 0);
    expect_err(cli("train tiny.yaml --resume moved --data moved_data --steps 4 --backend ref --quiet"), 0,
               "/moving is not there; reading moved_data instead");
    /* the run's own task and data serve when the command gives none; it goes on */
    expect_ok(cli("train tiny.yaml --resume small --steps 6 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("small"), 6);
}

/* A changed spec is not blamed on the data: the message names what differs
 * (here the memory M) with both values and where each comes from. */
static void test_resume_names_the_difference(void **state)
{
    (void)state;
    expect_ok(cli(TRAIN " --out mem3 --steps 2 --set data.memory_size=3"));
    int code = cli("train tiny.yaml --resume mem3 --backend ref");
    expect_err(code, 1, "memory M: the run's is 3 statements, here 10 = min(the spec's data.memory_size 10, the data's "
                        "longest story ");
    expect_err(code, 1, "came from its spec's data.memory_size");
    char *err = slurp("err");
    if (strstr(err, "vocabulary") || strstr(err, "sentence length") || strstr(err, "question length"))
        fail_msg("only M differs: %s", err);
    free(err);
    expect_ok(cli("train tiny.yaml --resume mem3 --backend ref --steps 3 --quiet --set data.memory_size=3"));
}

/* A full disk under metrics.jsonl (files limited to 1000 bytes: some 10
 * step records; in batches of 1 the first checkpoint, larger, comes after
 * an epoch of them) stops the run with the file's error, not a run that
 * lost its records and said nothing of them until the checkpoint failed. */
static void test_metrics_write_error(void **state)
{
    (void)state;
    int code = tu_run_cli_fsize(dir, 1000, TRAIN " --out full_disk --set train.batch_size=1");
    expect_err(code, 1, "cannot write full_disk/metrics.jsonl: File too large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_matches_uninterrupted),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_nan_loss_saves_last_good_state),
        cmocka_unit_test(test_resume_errors),
        cmocka_unit_test(test_resume_names_the_difference),
        cmocka_unit_test(test_metrics_write_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
