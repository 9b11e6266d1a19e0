/* test_lm_resume.c - checkpoints and --resume of the language-model trainer
 * (tools/cmd_train_lm.c) and the seq2seq trainer (tools/cmd_seq2seq.c), end
 * to end on tiny synthetic data (ref backend): a run stopped after k steps
 * and resumed to N gives metrics.jsonl records identical to an
 * uninterrupted run of N steps (same batches, same dropout masks, same
 * optimizer state); the checkpoints still serve eval and generate; a
 * non-finite loss stops training after saving the last good state; bad
 * uses of the flags fail with a message naming the file, never a crash. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char dir[512];

static void write_text(const char *name, const char *text)
{
    tu_write_file(dir, name, text, strlen(text));
}

/* dir/tiny.txt: 4000 characters of words in a fixed pseudo-random order
 * (the vocabulary: 'a'..'z' minus a few, space and newline). */
static void write_corpus(void)
{
    static const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "cat",
                                  "sat", "on", "a", "mat"};
    char text[4100];
    size_t n = 0;
    uint32_t s = 12345;
    while (n < 4000) {
        s = s * 1103515245u + 12345u;
        const char *w = words[(s >> 16) % (sizeof words / sizeof *words)];
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", w, (s >> 8) % 9 ? " " : "\n");
    }
    write_text("tiny.txt", text);
}

/* An LM with dropout (so the random state matters) and Adam; evaluations
 * (and checkpoints) every 5 steps. */
static const char *lm_spec = "name: lm-resume\nseed: 5\n"
                             "data: {format: text, path: tiny.txt, seq_len: 16, val_fraction: 0.1}\n"
                             "model:\n"
                             "  inputs: [{name: tokens, shape: [16], dtype: i64}]\n"
                             "  layers:\n"
                             "    - {type: embedding, num_embeddings: 32, embedding_dim: 16}\n"
                             "    - {type: dropout, p: 0.3}\n"
                             "    - {type: linear, out_features: 32}\n"
                             "optimizer: %s\n"
                             "train: {steps: 12, eval_every: 5, batch_size: 8, eval_batch_size: 64}\n";

/* A seq2seq encoder-decoder with dropout on the encoder's input; the
 * hidden linear layer makes a huge learning rate overflow the logits. */
static const char *s2s_spec = "seed: 2\n"
                              "data: {format: seq2seq_reverse, train_size: 200, test_size: 20, min_len: 2, "
                              "max_len: 5}\n"
                              "model:\n"
                              "  inputs:\n"
                              "    - {name: src, shape: [5], dtype: i64}\n"
                              "    - {name: tgt_in, shape: [5], dtype: i64}\n"
                              "  layers:\n"
                              "    - {type: embedding, name: es, num_embeddings: 12, embedding_dim: 8, inputs: src}\n"
                              "    - {type: dropout, name: dr, p: 0.2, inputs: es}\n"
                              "    - {type: lstm, name: enc, hidden_size: 16, batch_first: 1, inputs: dr}\n"
                              "    - {type: embedding, name: ed, num_embeddings: 12, embedding_dim: 8, inputs: tgt_in}\n"
                              "    - {type: lstm, name: dec, hidden_size: 16, batch_first: 1, "
                              "inputs: [ed, \"enc:1\", \"enc:2\"]}\n"
                              "    - {type: linear, name: h, out_features: 16, inputs: dec}\n"
                              "    - {type: linear, name: o, out_features: 12, inputs: h}\n"
                              "  outputs: [o]\n"
                              "optimizer: %s\n"
                              "train: {steps: 9, batch_size: 8, log_every: 0}\n";

static void write_spec(const char *name, const char *fmt, const char *optimizer)
{
    char text[4096];
    int n = snprintf(text, sizeof text, fmt, optimizer);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, name, text, (size_t)n);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "lm-resume"), 0);
    write_corpus();
    write_spec("lm.yaml", lm_spec, "{type: adam, lr: 0.01}");
    write_spec("lm-diverge.yaml", lm_spec, "{type: sgd, lr: 1.0e+38}");
    write_spec("s2s.yaml", s2s_spec, "{type: adam, lr: 0.01}");
    write_spec("s2s-diverge.yaml", s2s_spec, "{type: sgd, lr: 1.0e+38}");
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

/* The number after @p prefix in dir/out (the final report). */
static double reported(const char *prefix)
{
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    const char *p = strstr(out, prefix);
    if (!p)
        fail_msg("no \"%s\" in: %s", prefix, out);
    double v = strtod(p + strlen(prefix), NULL);
    free(out);
    return v;
}

static void test_lm_resume_matches_uninterrupted(void **state)
{
    (void)state;
    expect_ok(cli("train lm.yaml --out full --backend ref --quiet"));
    char *full = records("full");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 12);
    assert_int_equal(tu_count(full, "\"val_loss\""), 3); /* steps 5, 10 and the end, 12 */
    const double full_val = reported("validation loss: ");

    /* stopped after 7 (checkpoints at 3, 5 (an evaluation), 6, 7 (the end)), then resumed to 12 */
    expect_ok(cli("train lm.yaml --out part --steps 7 --checkpoint-every 3 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("part"), 7);
    char *part = records("part");
    assert_int_equal(tu_count(part, "\"batch_loss\""), 7);
    assert_int_equal(tu_count(part, "\"end_of_run\""), 1);
    free(part);
    expect_ok(cli("train lm.yaml --resume part --checkpoint-every 3 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("part"), 12);
    part = records("part");
    if (strcmp(part, full) != 0)
        fail_msg("resumed run's metrics differ:\n--- uninterrupted\n%s--- stopped at 7 and resumed\n%s", full, part);
    free(part);
    assert_true(reported("validation loss: ") == full_val);

    /* stopped at an evaluation (10), resumed */
    expect_ok(cli("train lm.yaml --out again --steps 10 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("again"), 10);
    expect_ok(cli("train lm.yaml --resume again --backend ref --quiet"));
    part = records("again");
    assert_string_equal(part, full);
    free(part);

    /* what a run killed after step 6 leaves: records to 6, the checkpoint of
     * step 4 (the one a 4-step run ends with) and a torn temporary */
    expect_ok(cli("train lm.yaml --out killed --steps 6 --checkpoint-every 2 --backend ref --quiet"));
    char src[1024], dst[1024];
    expect_ok(cli("train lm.yaml --out killed4 --steps 4 --backend ref --quiet"));
    snprintf(src, sizeof src, "%s/killed4/checkpoint.safetensors", dir);
    snprintf(dst, sizeof dst, "%s/killed/checkpoint.safetensors", dir);
    assert_int_equal(rename(src, dst), 0);
    write_text("killed/checkpoint.safetensors.tmp.999", "torn");
    assert_int_equal(checkpoint_step("killed"), 4);
    expect_ok(cli("train lm.yaml --resume killed --backend ref --quiet"));
    part = records("killed");
    assert_string_equal(part, full);
    free(part);
    snprintf(dst, sizeof dst, "%s/killed/checkpoint.safetensors.tmp.999", dir);
    assert_int_not_equal(access(dst, F_OK), 0);

    /* the resumed checkpoint carries the vocabulary: eval and generate read it */
    expect_ok(cli("eval lm.yaml --checkpoint part/checkpoint.safetensors --backend ref"));
    expect_ok(cli("generate --checkpoint part/checkpoint.safetensors --spec lm.yaml --prime the --length 10 "
                  "--backend ref"));

    /* resuming a finished run changes nothing (its summary.json keeps the run's timing, not a resume's
     * "tokens_per_second": 0) and still reports */
    char *sum_before = tu_slurp(dir, "full/summary.json");
    expect_ok(cli("train lm.yaml --resume full --backend ref --quiet"));
    part = records("full");
    assert_string_equal(part, full);
    free(part);
    char *sum_after = tu_slurp(dir, "full/summary.json");
    assert_non_null(sum_before);
    assert_non_null(sum_after);
    assert_string_equal(sum_before, sum_after);
    free(sum_before), free(sum_after);
    assert_true(reported("validation loss: ") == full_val);
    free(full);
}

/* "best: ..." and "stopped early ..." of dir/out, without the run directory. */
static char *best_report(void)
{
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char *b = strstr(out, "stopped early at step ");
    if (!b || !strstr(b, "\nbest: step "))
        fail_msg("no early stop and best model in: %s", out);
    char *r = strndup(b, (size_t)(strchr(strstr(b, "\nbest: "), '(') - b));
    free(out);
    return r;
}

/* A language model keeps its best model by validation loss at its
 * evaluations (every 5 steps) and stops after two without a better one; a
 * run stopped between two evaluations and resumed does the same. */
static void test_lm_keep_best(void **state)
{
    (void)state;
    const char *opts = "--backend ref --quiet --set train.keep_best=val_loss --set train.patience=2 "
                       "--set optimizer.lr=0.3";
    expect_ok(cli("train lm.yaml --out lb --steps 60 %s", opts));
    char *whole = best_report();
    /* the best is the lowest val_loss of the evaluations in metrics.jsonl, the stop two evaluations on */
    long long best_step;
    const long long evaluations = tu_best_record(dir, "lb/metrics.jsonl", "val_loss", "step", 0, &best_step);
    const long long last = 5 * evaluations;
    assert_true(last < 60); /* it did stop early */
    char want[128];
    snprintf(want, sizeof want, "stopped early at step %lld: no better val_loss in 2 evaluations\nbest: step %lld, ",
             best_step + 10, best_step);
    if (strncmp(whole, want, strlen(want)))
        fail_msg("'%s', but metrics.jsonl has the lowest val_loss at step %lld", whole, best_step);

    expect_ok(cli("train lm.yaml --out lr --steps 23 %s", opts));
    expect_ok(cli("train lm.yaml --resume lr --steps 60 %s", opts));
    char *resumed = best_report();
    assert_string_equal(resumed, whole);
    free(resumed), free(whole);
    /* the evaluation at the run's end (step 12, between eval_every's 10 and 15) does not choose, as a --steps
     * stop's does not (a run stopped at 12 and resumed past it would not make it): a note says so */
    expect_err(cli("train lm.yaml --out le --backend ref --set train.keep_best=val_loss"), 0,
               "note: train.keep_best chooses among the evaluations every 5 steps; the one at the run's end "
               "(step 12) is not one of them");
    expect_err(cli("train lm.yaml --out lf --backend ref --set train.keep_best=val_loss --set train.steps=4"), 0,
               "warning: train.keep_best chooses among the evaluations every 5 steps, and a run of 4 steps "
               "(train.steps) makes none: no best model will be kept");
    /* best.safetensors carries the vocabulary */
    expect_ok(cli("generate --checkpoint lb/best.safetensors --spec lm.yaml --prime the --length 5 --backend ref"));
    expect_err(cli("train lm.yaml --out lx %s --set train.eval_every=0", opts), 1,
               "a language model keeps its best model (train.keep_best: val_loss; train.patience with it) at its "
               "evaluations: set train.eval_every");
    /* nothing held out: every evaluation would be NaN, no best model kept, no early stop; refused */
    expect_err(cli("train lm.yaml --out lv %s --set data.val_fraction=0", opts), 1,
               "train.keep_best and train.patience judge the validation loss, and there is no validation text");
    /* without them it trains, and an evaluation's line says there is no window, not "val loss nan" */
    expect_err(cli("train lm.yaml --out lw --steps 5 --backend ref --set data.val_fraction=0"), 0,
               "| val loss - (no validation window) |");
}

/* Ctrl-C during SPEC's run: it ends with 130 after saving where it
 * stands; resumed to 7 steps further, its records are those of a run of
 * that many steps that was never interrupted. */
static void interrupted_then_resumed(const char *spec, const char *run, const char *whole)
{
    const char *const argv[] = {"train", spec, "--out", run, "--steps", "100000000", "--backend", "ref", "--quiet",
                                NULL};
    char watch[256];
    snprintf(watch, sizeof watch, "%s/metrics.jsonl", run);
    int code = tu_run_cli_interrupted(dir, watch, "\"batch_loss\"", 12, argv);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (code != 130 || !strstr(err, "interrupted (SIGINT) after step"))
        fail_msg("%s: exit %d: %s", spec, code, err);
    free(err);
    const long long k = checkpoint_step(run);
    assert_true(k >= 12);
    expect_ok(cli("train %s --resume %s --steps %lld --backend ref --quiet", spec, run, k + 7));
    expect_ok(cli("train %s --out %s --steps %lld --backend ref --quiet", spec, whole, k + 7));
    char *a = records(run), *b = records(whole);
    if (strcmp(a, b) != 0)
        fail_msg("%s interrupted at step %lld and resumed:\n%s--- not interrupted:\n%s", spec, k, a, b);
    free(a);
    free(b);
}

static void test_interrupt_and_resume(void **state)
{
    (void)state;
    interrupted_then_resumed("lm.yaml", "lcut", "lwhole");
    interrupted_then_resumed("s2s.yaml", "scut", "swhole");
}

static void test_s2s_resume_matches_uninterrupted(void **state)
{
    (void)state;
    expect_ok(cli("train s2s.yaml --out sfull --backend ref"));
    char *full = records("sfull");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 9);
    assert_int_equal(checkpoint_step("sfull"), 9);
    const double full_em = reported("exact match: ");

    /* stopped after 4 (checkpoints at 3 and 4, the end), then resumed to 9 */
    expect_ok(cli("train s2s.yaml --out spart --steps 4 --checkpoint-every 3 --backend ref"));
    assert_int_equal(checkpoint_step("spart"), 4);
    expect_ok(cli("train s2s.yaml --resume spart --checkpoint-every 3 --backend ref"));
    assert_int_equal(checkpoint_step("spart"), 9);
    char *part = records("spart");
    if (strcmp(part, full) != 0)
        fail_msg("resumed run's metrics differ:\n--- uninterrupted\n%s--- stopped at 4 and resumed\n%s", full, part);
    free(part);
    /* the same weights: the same greedy decodings */
    assert_true(reported("exact match: ") == full_em);

    /* from a --checkpoint-every checkpoint of a run that went on (killed at 7) */
    expect_ok(cli("train s2s.yaml --out skill --steps 7 --checkpoint-every 3 --backend ref"));
    expect_ok(cli("train s2s.yaml --out skill6 --steps 6 --backend ref"));
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/skill6/checkpoint.safetensors", dir);
    snprintf(dst, sizeof dst, "%s/skill/checkpoint.safetensors", dir);
    assert_int_equal(rename(src, dst), 0);
    expect_ok(cli("train s2s.yaml --resume skill --backend ref"));
    part = records("skill");
    assert_string_equal(part, full);
    free(part);

    /* model.safetensors stays the output eval reads; the checkpoint loads too */
    expect_ok(cli("eval s2s.yaml --checkpoint spart/model.safetensors --backend ref"));
    assert_true(reported("exact match: ") == full_em);
    expect_ok(cli("eval s2s.yaml --checkpoint spart/checkpoint.safetensors --backend ref"));

    /* resuming a finished run changes nothing (summary.json included) and still reports */
    char *sum_before = tu_slurp(dir, "sfull/summary.json");
    expect_ok(cli("train s2s.yaml --resume sfull --backend ref"));
    part = records("sfull");
    assert_string_equal(part, full);
    free(part);
    char *sum_after = tu_slurp(dir, "sfull/summary.json");
    assert_non_null(sum_before);
    assert_non_null(sum_after);
    assert_string_equal(sum_before, sum_after);
    free(sum_before), free(sum_after);
    assert_true(reported("exact match: ") == full_em);
    free(full);
}

/* A huge learning rate: the loss overflows; the run stops with the last
 * good state in RUN/checkpoint.safetensors and the good steps' records. */
static void expect_nan_stop(const char *spec, const char *run)
{
    int code = cli("train %s --out %s --steps 20 --backend ref", spec, run);
    expect_err(code, 1, "the loss became");
    expect_err(code, 1, "the last good one");
    char resume[256];
    snprintf(resume, sizeof resume, "--resume %s", run);
    expect_err(code, 1, resume);
    long long good = tu_last_good_step(dir);
    assert_true(good >= 1);
    assert_int_equal(checkpoint_step(run), good);
    char *rec = records(run);
    assert_int_equal(tu_count(rec, "\"batch_loss\""), (int)good);
    free(rec);
}

static void test_nan_loss_saves_last_good_state(void **state)
{
    (void)state;
    expect_nan_stop("lm-diverge.yaml", "lnan");
    /* the saved state is a language model's: eval reads its vocabulary */
    expect_ok(cli("eval lm.yaml --checkpoint lnan/checkpoint.safetensors --backend ref"));
    expect_nan_stop("s2s-diverge.yaml", "snan");
    /* --detect-anomaly names the op, and saves the same state (seq2seq's train refused the flag, though the help
     * said every trainer took it) */
    int code = cli("train s2s-diverge.yaml --out sanom --steps 20 --backend ref --detect-anomaly");
    expect_err(code, 1, "anomaly detected");
    expect_err(code, 1, "the last good one");
    assert_int_equal(checkpoint_step("sanom"), checkpoint_step("snan"));
}

/* generate's default prime when the vocabulary has no newline is token 0, and a NUL byte is a token: it read
 * before its buffer (an empty string prime). A recurrent layer left at batch_first: 0 in a language model is
 * warned about (its recurrence ran across the batch, silently). */
static void test_generate_nul_prime_and_time_major_warning(void **state)
{
    (void)state;
    char text[600];
    for (int k = 0; k < 600; k++)
        text[k] = "\0ABC"[(k * 7 + k / 5) % 4];
    tu_write_file(dir, "nul.bin", text, sizeof text);
    static const char *spec = "seed: 1\n"
                              "data: {format: text, path: nul.bin, mode: bytes, seq_len: 8, val_fraction: 0.1}\n"
                              "model:\n"
                              "  inputs:\n"
                              "    - {name: tokens, shape: [8], dtype: i64}\n"
                              "    - {name: h0, shape: [1, 8]}\n"
                              "  layers:\n"
                              "    - {type: embedding, name: e, num_embeddings: 4, embedding_dim: 4, inputs: tokens}\n"
                              "    - {type: gru, name: g, hidden_size: 8, %s inputs: [e, h0]}\n"
                              "    - {type: linear, name: o, out_features: 4, inputs: g}\n"
                              "  outputs: [o, \"g:1\"]\n"
                              "optimizer: {type: adam, lr: 0.01}\n"
                              "train: {steps: 2, batch_size: 4, eval_batch_size: 8}\n";
    char t[1024];
    int n = snprintf(t, sizeof t, spec, "batch_first: 1,");
    tu_write_file(dir, "nul.yaml", t, (size_t)n);
    expect_ok(cli("train nul.yaml --out nulrun --backend ref --quiet"));
    char *err = tu_slurp(dir, "err");
    assert_null(strstr(err, "batch_first: 0"));
    free(err);
    expect_ok(cli("generate --checkpoint nulrun --length 6 --backend ref"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    assert_int_equal(out[0], '\0'); /* the prime, token 0 */
    free(out);
    /* initial states need batch_first: 1, so the time-major layer here takes no h0 */
    static const char *tm = "seed: 1\n"
                            "data: {format: text, path: tiny.txt, seq_len: 16, val_fraction: 0.1}\n"
                            "model:\n"
                            "  inputs: [{name: tokens, shape: [16], dtype: i64}]\n"
                            "  layers:\n"
                            "    - {type: embedding, num_embeddings: 32, embedding_dim: 8}\n"
                            "    - {type: lstm, name: l, hidden_size: 8}\n"
                            "    - {type: linear, out_features: 32}\n"
                            "optimizer: {type: adam, lr: 0.01}\n"
                            "train: {steps: 1, batch_size: 4, eval_batch_size: 8}\n";
    tu_write_file(dir, "tm.yaml", tm, strlen(tm));
    expect_ok(cli("train tm.yaml --out tmrun --backend ref --quiet"));
    err = tu_slurp(dir, "err");
    assert_non_null(strstr(err, "layer 'l' (lstm) has batch_first: 0"));
    free(err);
}

/* The state outputs after the logits in another order than the state inputs: `strata generate` fed c_n as
 * h0 and h_n as c0 (same shapes), silently. Refused by train and generate, naming both; the right order trains. */
static void test_state_outputs_out_of_order(void **state)
{
    (void)state;
    static const char *spec = "seed: 1\n"
                              "data: {format: text, path: tiny.txt, seq_len: 8, val_fraction: 0.1}\n"
                              "model:\n"
                              "  inputs:\n"
                              "    - {name: tokens, shape: [8], dtype: i64}\n"
                              "    - {name: h0, shape: [1, 8]}\n"
                              "    - {name: c0, shape: [1, 8]}\n"
                              "  layers:\n"
                              "    - {type: embedding, name: e, num_embeddings: 32, embedding_dim: 4, inputs: tokens}\n"
                              "    - {type: lstm, name: l, hidden_size: 8, batch_first: 1, inputs: [e, h0, c0]}\n"
                              "    - {type: linear, name: o, out_features: 32, inputs: l}\n"
                              "  outputs: [o, %s]\n"
                              "optimizer: {type: adam, lr: 0.01}\n"
                              "train: {steps: 2, batch_size: 4, eval_batch_size: 8}\n";
    char t[1024];
    int n = snprintf(t, sizeof t, spec, "\"l:1\", \"l:2\"");
    tu_write_file(dir, "st_ok.yaml", t, (size_t)n);
    n = snprintf(t, sizeof t, spec, "\"l:2\", \"l:1\"");
    tu_write_file(dir, "st_swap.yaml", t, (size_t)n);
    static const char *why = "st_swap.yaml: model output 1 (\"l:2\") is the final state of l's input 2 (c0), but it "
                             "is paired with model input 1 (h0)";
    expect_err(cli("train st_swap.yaml --out stbad --backend ref --quiet"), 1, why);
    expect_ok(cli("train st_ok.yaml --out stok --backend ref --quiet"));
    expect_ok(cli("generate --checkpoint stok --length 4 --backend ref"));
    expect_err(cli("generate --checkpoint stok --spec st_swap.yaml --length 4 --backend ref"), 1, why);

    /* NaN weights in a checkpoint: generate printed the prime then token 0 for ever (exit 0), a resume stopped
     * at its first step blaming the learning rate; both name the parameter now */
    char *ck = tu_slurp(dir, "stok/checkpoint.safetensors");
    assert_non_null(ck);
    const char *w = strstr(ck + 8, "\"o.weight\":{\"data_offsets\":[");
    assert_non_null(w);
    long long hlen = 0, begin = -1;
    memcpy(&hlen, ck, 8); /* little-endian, as the file */
    assert_int_equal(sscanf(w + strlen("\"o.weight\":{\"data_offsets\":["), "%lld", &begin), 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/stok/checkpoint.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 8 + hlen + begin, SEEK_SET), 0);
    assert_int_equal(fwrite("\xff\xff\xff\x7f", 1, 4, f), 4); /* a NaN, the first element */
    assert_int_equal(fclose(f), 0);
    free(ck);
    expect_err(cli("generate --checkpoint stok --length 4 --backend ref"), 1,
               "stok/checkpoint.safetensors: parameter 'o.weight' holds 1 non-finite value(s) of 256");
    expect_err(cli("train st_ok.yaml --resume stok --steps 4 --backend ref"), 1,
               "parameter 'o.weight' holds 1 non-finite value(s) of 256 (NaN or Inf): it cannot be resumed");
}

/* A model whose weights depend on its window (a flatten before a linear layer), sampled from a prime shorter than
 * the window: generate rebuilt it for the prime's length, printed the prime, then failed to load the checkpoint
 * (blaming it). It reads the prime padded on the left to its window now, with the default prime's token. */
static void test_generate_window_model(void **state)
{
    (void)state;
    static const char *spec = "seed: 1\n"
                              "data: {format: text, path: tiny.txt, seq_len: 8, val_fraction: 0.1}\n"
                              "model:\n"
                              "  inputs: [{name: tokens, shape: [8], dtype: i64}]\n"
                              "  layers:\n"
                              "    - {type: embedding, num_embeddings: 32, embedding_dim: 4}\n"
                              "    - {type: flatten}\n"
                              "    - {type: linear, name: h, out_features: 16}\n"
                              "    - {type: relu}\n"
                              "    - {type: linear, out_features: 256}\n"
                              "    - {type: unflatten, shape: [8, 32]}\n"
                              "optimizer: {type: adam, lr: 0.01}\n"
                              "train: {steps: 2, batch_size: 4, eval_batch_size: 8}\n";
    tu_write_text(dir, "win.yaml", spec);
    expect_ok(cli("train win.yaml --out winrun --backend ref --quiet"));
    static const char *primes[] = {"--prime the", "", "--prime 'the quick brown'"};
    for (int k = 0; k < 3; k++) {
        expect_ok(cli("generate --checkpoint winrun %s --length 12 --backend ref", primes[k]));
        char *out = tu_slurp(dir, "out");
        assert_non_null(out);
        const size_t plen = k == 0 ? 3 : k == 1 ? 1 : 15; /* the default prime: a newline */
        assert_int_equal(strlen(out), plen + 12 + 1);
        assert_int_equal(out[plen + 12], '\n');
        free(out);
    }
}

/* Rewrites the metadata "text.vocab" of dir/@p file from @p from to @p to, of the same length (the header keeps
 * its size): a hand-made checkpoint. */
static void edit_vocab(const char *file, const char *from, const char *to)
{
    assert_int_equal(strlen(from), strlen(to));
    char *ck = tu_slurp(dir, file);
    assert_non_null(ck);
    char needle[128];
    snprintf(needle, sizeof needle, "\"text.vocab\":\"%s\"", from);
    const char *at = strstr(ck + 8, needle);
    if (!at)
        fail_msg("no %s in %s", needle, file);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(at - ck) + (long)strlen("\"text.vocab\":\""), SEEK_SET), 0);
    assert_int_equal(fwrite(to, 1, strlen(to), f), strlen(to));
    assert_int_equal(fclose(f), 0);
    free(ck);
}

/* Checkpoints whose vocabulary does not suit the model or is no vocabulary: refused before sampling, naming the
 * checkpoint. An embedding narrower than the vocabulary failed mid-sample after the prime; a character listed
 * twice was blamed on "vocabulary" (generate) or the text file (eval). */
static void test_checkpoint_vocab_checked(void **state)
{
    (void)state;
    char text[400];
    for (int k = 0; k < (int)sizeof text - 1; k++)
        text[k] = "abcd"[(k * 7 + k / 3) % 4];
    text[sizeof text - 1] = '\0';
    write_text("abcd.txt", text);
    static const char *spec = "seed: 1\n"
                              "data: {format: text, path: abcd.txt, seq_len: 4, val_fraction: 0.1}\n"
                              "model:\n"
                              "  inputs: [{name: tokens, shape: [4], dtype: i64}]\n"
                              "  layers:\n"
                              "    - {type: embedding, num_embeddings: 4, embedding_dim: 4}\n"
                              "    - {type: linear, out_features: 8}\n"
                              "optimizer: {type: adam, lr: 0.01}\n"
                              "train: {steps: 2, batch_size: 4, eval_batch_size: 8}\n";
    tu_write_text(dir, "abcd.yaml", spec);
    expect_ok(cli("train abcd.yaml --out wide --backend ref --quiet"));
    expect_ok(cli("train abcd.yaml --out twice --backend ref --quiet"));
    expect_ok(cli("train abcd.yaml --out good --backend ref --quiet"));
    /* six tokens for an embedding of four; 'C' (67) is token 5 */
    edit_vocab("wide/checkpoint.safetensors", "97 98 99 100", "1 2 3 4 5 67");
    expect_err(cli("generate --checkpoint wide --prime C --length 5 --backend ref"), 1,
               "the model cannot read the vocabulary's tokens 0 to 5 (the 6 distinct characters of "
               "wide/checkpoint.safetensors (metadata text.vocab))");
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    assert_string_equal(out, ""); /* not even the prime */
    free(out);
    /* 'a' twice: "097" reads as 97 */
    edit_vocab("twice/checkpoint.safetensors", "97 98 99 100", "97 98 99 097");
    static const char *why = "twice/checkpoint.safetensors: metadata text.vocab lists U+0061 'a' twice";
    expect_err(cli("generate --checkpoint twice --length 5 --backend ref"), 1, why);
    expect_err(cli("eval abcd.yaml --checkpoint twice --backend ref"), 1, why);
    /* an empty text: said so (it blamed data.val_fraction) */
    write_text("empty.txt", "");
    expect_err(cli("eval abcd.yaml --checkpoint good --backend ref --set data.path=empty.txt"), 1,
               "the text empty.txt is empty (0 tokens)");
}

/* A resume on another text of the same characters (data.path changed, the file rewritten) trained on silently;
 * it warns now, naming both texts. A resume on the text it recorded does not. */
static void test_resume_other_text(void **state)
{
    (void)state;
    expect_ok(cli("train lm.yaml --out textrun --steps 2 --backend ref --quiet"));
    char *text = tu_slurp(dir, "tiny.txt");
    assert_non_null(text);
    size_t n = strlen(text);
    for (size_t k = 0; k < n / 2; k++) {
        char c = text[k];
        text[k] = text[n - 1 - k];
        text[n - 1 - k] = c;
    }
    write_text("rev.txt", text);
    free(text);
    expect_ok(cli("train lm.yaml --resume textrun --steps 4 --backend ref --quiet --set data.path=rev.txt"));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    /* both texts by their real paths, which mean the same from any directory (the first version recorded the
     * path as found, relative to where training started) */
    char real[PATH_MAX], now[PATH_MAX + 64], was[PATH_MAX + 128];
    assert_non_null(realpath(dir, real));
    snprintf(now, sizeof now, "warning: the text %s/rev.txt (", real);
    snprintf(was, sizeof was, " tokens) is not the one textrun/checkpoint.safetensors was trained on (%s/tiny.txt, ",
             real);
    if (!strstr(err, now) || !strstr(err, was))
        fail_msg("no warning of another text in: %s", err);
    free(err);
    expect_ok(cli("train lm.yaml --resume textrun --steps 6 --backend ref --quiet --set data.path=rev.txt"));
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    assert_null(strstr(err, "is not the one"));
    free(err);
}

/* The shipped layout, a spec in models/ whose data.path ../data/x.txt is found next to it: RUN/spec.yaml kept the
 * path as written, so eval and --resume with it failed to find the text from anywhere. It records the path found
 * (absolute) now; a resume from the original spec still finds the spec unchanged. */
static void test_run_spec_finds_text(void **state)
{
    (void)state;
    char proj[600], path[700];
    snprintf(proj, sizeof proj, "%s/proj", dir);
    const char *sub[] = {"proj", "proj/models", "proj/data"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, sub[k]);
        assert_int_equal(mkdir(path, 0777), 0);
    }
    char *text = tu_slurp(dir, "tiny.txt");
    assert_non_null(text);
    write_text("proj/data/sub.txt", text);
    free(text);
    char spec[4096];
    int n = snprintf(spec, sizeof spec, lm_spec, "{type: adam, lr: 0.01}");
    assert_true(n > 0 && n < (int)sizeof spec);
    char *p = strstr(spec, "path: tiny.txt");
    assert_non_null(p);
    char fixed[4200];
    snprintf(fixed, sizeof fixed, "%.*spath: ../data/sub.txt%s", (int)(p - spec), spec, p + strlen("path: tiny.txt"));
    write_text("proj/models/sub.yaml", fixed);
    tu_expect_cli_ok(proj, tu_run_clif(proj, "train models/sub.yaml --out runs/x --steps 2 --backend ref --quiet"));
    /* from another directory, with the run's own spec */
    expect_ok(cli("eval proj/runs/x/spec.yaml --checkpoint proj/runs/x --backend ref"));
    expect_ok(cli("train proj/runs/x/spec.yaml --resume proj/runs/x --steps 4 --backend ref --quiet"));
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    assert_null(strstr(err, "the spec differs"));
    free(err);
    /* and from the original spec, as it was started */
    tu_expect_cli_ok(proj, tu_run_clif(proj, "train models/sub.yaml --resume runs/x --steps 6 --backend ref --quiet"));
    err = tu_slurp(proj, "err");
    assert_non_null(err);
    assert_null(strstr(err, "the spec differs"));
    free(err);
    /* a path relative to the current directory is recorded absolute too: the run's spec finds the text from
     * elsewhere, and a resume that reaches the same text by another relative path records the same spec (it
     * warned that the spec differed) */
    tu_expect_cli_ok(proj, tu_run_clif(proj, "train models/sub.yaml --out runs/y --steps 2 --backend ref --quiet "
                                             "--set data.path=data/sub.txt"));
    expect_ok(cli("eval proj/runs/y/spec.yaml --checkpoint proj/runs/y --backend ref"));
    snprintf(path, sizeof path, "%s/models", proj);
    tu_expect_cli_ok(path, tu_run_clif(path, "train sub.yaml --resume ../runs/y --steps 4 --backend ref --quiet"));
    err = tu_slurp(path, "err");
    assert_non_null(err);
    assert_null(strstr(err, "the spec differs"));
    free(err);
    /* and an absolute path to it, through ./ (it was recorded as typed) */
    char real[PATH_MAX];
    assert_non_null(realpath(proj, real));
    tu_expect_cli_ok(path, tu_run_clif(path, "train sub.yaml --resume ../runs/y --steps 6 --backend ref --quiet "
                                             "--set data.path=%s/./data/sub.txt", real));
    err = tu_slurp(path, "err");
    assert_non_null(err);
    assert_null(strstr(err, "the spec differs"));
    free(err);
}

static void test_bad_usage(void **state)
{
    (void)state;
    static const char *specs[] = {"lm.yaml", "s2s.yaml"};
    /* a checkpoint without training state: the weights seq2seq exports */
    expect_ok(cli("train s2s.yaml --out weights --steps 1 --backend ref"));
    char path[1024];
    snprintf(path, sizeof path, "%s/plain", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/corrupt", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    tu_write_file(dir, "corrupt/checkpoint.safetensors", "\x10\0\0\0\0\0\0\0{\"a\":", 13);
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/weights/model.safetensors", dir);
    snprintf(dst, sizeof dst, "%s/plain/checkpoint.safetensors", dir);
    assert_int_equal(rename(src, dst), 0);
    for (int k = 0; k < 2; k++) {
        const char *s = specs[k];
        expect_err(cli("train %s --out x --checkpoint-every 0 --backend ref", s), 2, "--checkpoint-every");
        expect_err(cli("train %s --out x --checkpoint-every 3x --backend ref", s), 2, "--checkpoint-every");
        expect_err(cli("train %s --resume a --out b --backend ref", s), 2, "--resume a");
        expect_err(cli("train %s --resume nowhere --backend ref", s), 1, "nowhere");
        expect_err(cli("train %s --resume plain --backend ref", s), 1, "plain/checkpoint.safetensors has no training state");
        expect_err(cli("train %s --resume corrupt --backend ref", s), 1, "corrupt/checkpoint.safetensors");
    }
    /* a language model's weights without its vocabulary (as PyTorch writes them) name the two entries it needs */
    expect_err(cli("eval lm.yaml --checkpoint plain/checkpoint.safetensors --backend ref"), 1,
               "has no vocabulary (metadata text.mode): not a language-model checkpoint of `strata train` (one "
               "written elsewhere, by PyTorch say, needs the metadata text.mode");
    /* another trainer's checkpoint is refused, not loaded into the wrong model */
    expect_ok(cli("train lm.yaml --out lmrun --steps 2 --backend ref --quiet"));
    expect_err(cli("train s2s.yaml --resume lmrun --backend ref"), 1, "lmrun/checkpoint.safetensors");
    /* --quiet: only the final report */
    for (int k = 0; k < 2; k++) {
        expect_ok(cli("train %s --out quiet%d --steps 1 --quiet --backend ref", specs[k], k));
        char *out = tu_slurp(dir, "out");
        assert_non_null(out);
        assert_int_equal(tu_count(out, "\n"), 1);
        if (k == 0) /* "(1 steps," */
            assert_non_null(strstr(out, " nats/char (1 step, "));
        free(out);
    }
    /* the batches a resumed run draws depend on their size */
    expect_err(cli("train lm.yaml --resume lmrun --batch-size 4 --backend ref"), 2, "used batches of 8, this one 4");
    expect_err(cli("train lm.yaml --resume weights --backend ref"), 1, "weights");
    /* a text of the same vocabulary size but another character: the first difference is named */
    char *text = tu_slurp(dir, "tiny.txt");
    assert_non_null(text);
    for (char *c = text; *c; c++)
        *c = *c == 'x' ? 'X' : *c;
    write_text("tiny2.txt", text);
    free(text);
    expect_err(cli("train lm.yaml --resume lmrun --backend ref --set data.path=tiny2.txt"), 1,
               "the text's U+0058 'X'");
    /* too little training text: refused before the run directory is made (it failed at the first batch) */
    expect_err(cli("train lm.yaml --out short --backend ref --set data.val_fraction=0.999"), 1,
               "tokens; a window of 16 needs 17");
    snprintf(path, sizeof path, "%s/short", dir);
    assert_int_equal(access(path, F_OK), -1);
    /* an embedding narrower than the vocabulary: refused before training (it failed at the first batch with a
     * token past it, perhaps the end-of-run evaluation, and the run's steps were lost) */
    expect_err(cli("train lm.yaml --out narrow --backend ref --set model.layers.0.num_embeddings=5"), 1,
               "the model cannot read the vocabulary's tokens 0 to ");
    char *err = tu_slurp(dir, "err");
    assert_non_null(strstr(err, "an embedding's num_embeddings must be at least"));
    free(err);
    snprintf(path, sizeof path, "%s/narrow", dir);
    assert_int_equal(access(path, F_OK), -1);
    /* no held-out text: eval says so (it printed a NaN loss, and with --json failed to print it) */
    expect_err(cli("eval lm.yaml --checkpoint lmrun --backend ref --set data.val_fraction=0 --json"), 1,
               "no validation text to evaluate on (data.val_fraction holds out too little for one window of 16 "
               "tokens)");
}

/* A full disk under metrics.jsonl (files limited to 1000 bytes: some 18
 * step records; the checkpoint, larger, comes at the run's end) stops the
 * language model and seq2seq with the file's error, not a run that lost its
 * records and said nothing of them until the checkpoint failed too. */
static void test_metrics_write_error(void **state)
{
    (void)state;
    int code = tu_run_cli_fsize(dir, 1000, "train lm.yaml --out lfull_disk --steps 40 --set train.eval_every=100 "
                                           "--backend ref --quiet");
    expect_err(code, 1, "cannot write lfull_disk/metrics.jsonl: File too large");
    code = tu_run_cli_fsize(dir, 1000, "train s2s.yaml --out sfull_disk --steps 40 --backend ref --quiet");
    expect_err(code, 1, "cannot write sfull_disk/metrics.jsonl: File too large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lm_resume_matches_uninterrupted),
        cmocka_unit_test(test_lm_keep_best),
        cmocka_unit_test(test_s2s_resume_matches_uninterrupted),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_nan_loss_saves_last_good_state),
        cmocka_unit_test(test_metrics_write_error),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_generate_nul_prime_and_time_major_warning),
        cmocka_unit_test(test_state_outputs_out_of_order),
        cmocka_unit_test(test_generate_window_model),
        cmocka_unit_test(test_checkpoint_vocab_checked),
        cmocka_unit_test(test_resume_other_text),
        cmocka_unit_test(test_run_spec_finds_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
