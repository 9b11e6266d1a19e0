/* test_seq2seq.c - `strata train` / `strata eval` on a tiny seq2seq spec
 * (data.format: seq2seq_reverse, tools/cmd_seq2seq.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static char dir[512];

static int run_cli(const char *args)
{
    return tu_run_cli(dir, args);
}

static char *slurp(const char *name)
{
    char *b = tu_slurp(dir, name);
    assert_non_null(b);
    return b;
}

static void write_spec(const char *name, const char *data, const char *inputs)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f,
            "seed: 1\n"
            "data: {format: seq2seq_reverse, train_size: 5000, test_size: 200%s}\n"
            "model:\n"
            "  inputs:\n%s"
            "  layers:\n"
            "    - {type: embedding, name: es, num_embeddings: 12, embedding_dim: 32, inputs: src}\n"
            "    - {type: lstm, name: enc, hidden_size: 64, batch_first: 1, inputs: es}\n"
            "    - {type: embedding, name: ed, num_embeddings: 12, embedding_dim: 32, inputs: tgt_in}\n"
            "    - {type: lstm, name: dec, hidden_size: 64, batch_first: 1, inputs: [ed, \"enc:1\", \"enc:2\"]}\n"
            "    - {type: linear, name: o, out_features: 12, inputs: dec}\n"
            "optimizer: {type: adam, lr: 0.01}\n"
            "train: {steps: 300, batch_size: 64, log_every: 0}\n",
            data, inputs);
    fclose(f);
}

static const char *good_inputs = "    - {name: src, shape: [6], dtype: i64}\n"
                                 "    - {name: tgt_in, shape: [6], dtype: i64}\n";

static double exact_match(const char *text)
{
    const char *p = strstr(text, "exact match: ");
    assert_non_null(p);
    return atof(p + strlen("exact match: "));
}

static void test_train_eval(void **state)
{
    (void)state;
    write_spec("s.yaml", ", min_len: 3, max_len: 6", good_inputs);
    assert_int_equal(run_cli("train s.yaml --out run"), 0);
    char *out = slurp("out");
    double em = exact_match(out);
    free(out);
    assert_true(em > 0.5); /* chance is about 10^-3 */
    char *sum = slurp("run/summary.json");
    assert_non_null(strstr(sum, "\"exact_match\""));
    free(sum);
    assert_int_equal(run_cli("eval s.yaml --checkpoint run/model.safetensors"), 0);
    out = slurp("out");
    assert_true(exact_match(out) == em);
    free(out);
    assert_int_equal(run_cli("eval s.yaml --checkpoint run/model.safetensors --json"), 0);
    out = slurp("out");
    const char *j = strstr(out, "{\"exact_match\":");
    if (!j)
        fail_msg("eval --json printed: %s", out);
    assert_true(fabs(atof(j + strlen("{\"exact_match\":")) - em) < 1e-4);
    free(out);
}

/* schedule: reaches the updates: a step schedule with gamma 0 stops them
 * after its first step_size steps (the records carry each step's rate). */
static void test_schedule(void **state)
{
    (void)state;
    write_spec("s.yaml", ", min_len: 3, max_len: 6", good_inputs);
    const char *stop = "--set schedule.type=step --set schedule.step_size=2 --set schedule.gamma=0";
    char args[256];
    snprintf(args, sizeof args, "train s.yaml --out r2 --steps 2 %s", stop);
    assert_int_equal(run_cli(args), 0);
    snprintf(args, sizeof args, "train s.yaml --out r5 --steps 5 %s", stop);
    assert_int_equal(run_cli(args), 0);
    assert_int_equal(run_cli("train s.yaml --out c5 --steps 5"), 0);
    assert_true(tu_same_model_tensors(dir, "r2/model.safetensors", "r5/model.safetensors"));
    assert_false(tu_same_model_tensors(dir, "r5/model.safetensors", "c5/model.safetensors"));
    char *m = slurp("r5/metrics.jsonl");
    assert_int_equal(tu_count(m, "\"lr\":0.01"), 2);
    assert_int_equal(tu_count(m, "\"lr\":0.0}"), 3);
    free(m);

    /* a warmup of 2 steps from 0, then linear decay to half the rate over the 4 steps left */
    assert_int_equal(run_cli("train s.yaml --out w6 --set train.steps=6 --set schedule.type=linear "
                             "--set schedule.warmup=2 --set schedule.end_factor=0.5"),
                     0);
    static const double want[6] = {0.0, 0.005, 0.01, 0.00875, 0.0075, 0.00625};
    m = slurp("w6/metrics.jsonl");
    const char *p = m;
    for (int k = 0; k < 6; k++) {
        p = strstr(p, "\"lr\":");
        assert_non_null(p);
        p += 5;
        if (fabs(strtod(p, NULL) - want[k]) > 1e-12)
            fail_msg("step %d: lr %s, expected %g", k + 1, p, want[k]);
    }
    free(m);
}

static void expect_error(const char *data, const char *inputs, const char *needle)
{
    write_spec("bad.yaml", data, inputs);
    assert_int_not_equal(run_cli("train bad.yaml --out bad"), 0);
    char *err = slurp("err");
    if (!strstr(err, needle))
        fail_msg("expected '%s' in: %s", needle, err);
    free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_error(", min_len: 7, max_len: 6", good_inputs, "min_len <= max_len");
    expect_error(", max_len: 8", good_inputs, "max_len = T");
    expect_error("", "    - {name: src, shape: [6], dtype: i64}\n    - {name: tgt_in, shape: [5], dtype: i64}\n", "two inputs");
    expect_error(", min_len: 0", good_inputs, "min_len");
    /* the message says what the model has, not only what it should have */
    expect_error("", "    - {name: src, shape: [6], dtype: i64}\n    - {name: tgt_in, shape: [5], dtype: i64}\n",
                 "this one has 2 inputs ([6] i64, [5] i64) and its first output is [5, 12]");
    /* an embedding narrower than the 12 tokens: refused before training, naming the spec and the layer (it failed
     * at the first step, without them, and left the run directory) */
    write_spec("n.yaml", "", good_inputs);
    static const char *const narrow[] = {"train n.yaml --out narrow --set model.layers.0.num_embeddings=5",
                                         "train n.yaml --out narrow --set model.layers.2.num_embeddings=11",
                                         "eval n.yaml --checkpoint n.yaml --set model.layers.0.num_embeddings=5"};
    for (size_t k = 0; k < sizeof narrow / sizeof *narrow; k++) {
        assert_int_equal(run_cli(narrow[k]), 1);
        char *err = slurp("err");
        if (!strstr(err, "n.yaml: the model cannot read the tokens 0 to 11") ||
            !strstr(err, k == 1 ? "layer 'ed' (embedding)" : "layer 'es' (embedding)") ||
            !strstr(err, "num_embeddings must be at least 12"))
            fail_msg("%s: expected the narrow embedding named in: %s", narrow[k], err);
        free(err);
        char path[700];
        snprintf(path, sizeof path, "%s/narrow", dir);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    assert_int_not_equal(run_cli("eval s.yaml"), 0); /* no --checkpoint */
    /* sizes whose token arrays overflow: refused naming the key (a calloc of a wrapped size segfaulted) */
    write_spec("big.yaml", "", good_inputs);
    static const char *const big[][2] = {
        {"train big.yaml --out big --set data.train_size=2305843009213693952", "data.train_size 2305843009213693952"},
        {"train big.yaml --out big --set data.test_size=2305843009213693952", "data.test_size 2305843009213693952"},
        {"train big.yaml --out big --batch-size 2305843009213693952", "train.batch_size 2305843009213693952"},
        {"eval big.yaml --checkpoint big.yaml --set data.test_size=2305843009213693952", "data.test_size"},
    };
    for (size_t k = 0; k < sizeof big / sizeof *big; k++) {
        assert_int_equal(run_cli(big[k][0]), 1);
        char *err = slurp("err");
        if (!strstr(err, big[k][1]) || !strstr(err, "is too large"))
            fail_msg("%s: expected '%s ... is too large' in: %s", big[k][0], big[k][1], err);
        free(err);
    }
    /* --batch-size is train.batch_size, recorded in the run's spec.yaml */
    assert_int_equal(run_cli("train big.yaml --out b8 --steps 2 --batch-size 8"), 0);
    char *rec = slurp("b8/spec.yaml");
    assert_non_null(strstr(rec, "batch_size: 8"));
    free(rec);
}

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "s2s");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_eval),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
