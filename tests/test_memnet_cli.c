/* test_memnet_cli.c - `strata train / eval / memnet-explain` of a memory
 * network on bAbI files written by `strata babi-gen` (tools/cmd_memnet.c,
 * docs/memnet.md): a short single-task run learns task 1, eval reproduces
 * the training run's test error from the checkpoint, the explanation shows
 * each hop's attention, and bad input gets clear errors. */
#include <setjmp.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

static char dir[512];
static char spec_arg[PATH_MAX + 8];

#define run_cli(...) tu_run_clif(dir, __VA_ARGS__)

/* One short run: no linear start, one epoch, one repeat. */
#define QUICK "--epochs 1 --repeats 1 --quiet --set data.linear_start=0"

static char *slurp(const char *name)
{
    char *b = tu_slurp(dir, name);
    assert_non_null(b);
    return b;
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static double json_number(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    assert_non_null(p);
    p = strchr(p + strlen(key), ':');
    assert_non_null(p);
    return atof(p + 1);
}

static void expect_err(int code, int want, const char *needle)
{
    tu_expect_cli_err(dir, code, want, needle);
}

static void shell(const char *fmt, const char *arg)
{
    char cmd[PATH_MAX + 4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), fmt, arg);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
}

static int setup(void **state)
{
    (void)state;
    if (tu_make_temp_dir(dir, sizeof dir, "memnet"))
        return -1;
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", tu_source_path("models/memn2n-babi.yaml"));
    snprintf(spec_arg, sizeof spec_arg, "'%s'", src);
    if (tu_run_cli(dir, "babi-gen --task 1 --train 1000 --test 200 --seed 3 --out data") != 0)
        return -1;
    /* "quick": a one-epoch model of task 1 for the error cases below */
    char cmd[PATH_MAX + 200];
    snprintf(cmd, sizeof cmd, "train %s " QUICK " --data data --task 1 --out quick", spec_arg);
    return tu_run_cli(dir, cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

static void test_train_eval_explain(void **state)
{
    (void)state;
    /* the paper's recipe, shortened: 20 epochs of linear start, 30 more, one run */
    assert_int_equal(run_cli("train %s --data data --task 1 --out run --epochs 30 --repeats 1", spec_arg), 0);
    char *out = slurp("out"), *sum = slurp("run/summary.json");
    assert_contains(out, "linear start");
    double err = json_number(sum, "\"mean\"");
    if (err > 0.05)
        fail_msg("task 1 test error %.3f after a short run; expected at most 0.05\n%s", err, out);
    free(out);

    assert_int_equal(run_cli("eval %s --checkpoint run/checkpoint.safetensors --data data --task 1 --json", spec_arg),
                     0);
    out = slurp("out");
    assert_contains(out, "\"tasks\"");
    double again = json_number(out, "\"mean\"");
    if (again != err && !(again > err - 1e-9 && again < err + 1e-9))
        fail_msg("eval from the checkpoint gives %.6f, training reported %.6f", again, err);
    free(out);
    free(sum);
    /* without SPEC: the run's spec.yaml, or --spec's (both were refused as the classifier's unknown options, the
     * help's "default: RUN/spec.yaml" unreachable) */
    assert_int_equal(run_cli("eval --checkpoint run --data data --task 1 --json"), 0);
    out = slurp("out");
    if (json_number(out, "\"mean\"") != again)
        fail_msg("eval with the run's spec.yaml printed: %s", out);
    free(out);
    assert_int_equal(run_cli("eval --spec run/spec.yaml --checkpoint run/checkpoint.safetensors --data data --task 1 "
                             "--json"),
                     0);
    out = slurp("out");
    if (json_number(out, "\"mean\"") != again)
        fail_msg("eval --spec run/spec.yaml printed: %s", out);
    free(out);
    /* a checkpoint away from its run: the spec it records (memnet.spec), as the help of --spec says */
    shell("%s", "cp run/checkpoint.safetensors lone.safetensors");
    assert_int_equal(run_cli("eval --checkpoint lone.safetensors --data data --task 1 --json"), 0);
    out = slurp("out");
    if (json_number(out, "\"mean\"") != again)
        fail_msg("eval of a lone checkpoint printed: %s", out);
    free(out);
    out = slurp("err"); /* said as such, not as "the run's" */
    assert_contains(out, ", the one the checkpoint records\n");
    free(out);
    /* --spec with no value: said so (the next option's value, a directory, was read as the spec) */
    expect_err(run_cli("eval --checkpoint run --spec --data data --task 1"), 2, "--spec needs a value (SPEC)");

    assert_int_equal(run_cli("memnet-explain --checkpoint run/checkpoint.safetensors --data data --task 1 --story 2"),
                     0);
    out = slurp("out");
    assert_contains(out, "hop 1");
    assert_contains(out, "hop 3");
    assert_contains(out, "question: where is");
    free(out);
    /* a story without questions: nothing to show is an error, not an empty success */
    shell("%s", "mkdir -p noq && cp data/qa1_single-supporting-fact_train.txt noq/ && printf '1 Mary went to the "
                "kitchen.\\n2 John went to the garden.\\n' > noq/qa1_single-supporting-fact_test.txt");
    assert_int_equal(run_cli("memnet-explain --checkpoint run/checkpoint.safetensors --data noq --task 1 --story 1"),
                     1);
    out = slurp("err");
    assert_contains(out, "story 1 of task 1's test file has no questions");
    free(out);
}

static void test_bad_input(void **state)
{
    (void)state;
    assert_int_equal(run_cli("train %s --data data --task 21 --out bad", spec_arg), 2);
    char *err = slurp("err");
    assert_contains(err, "--task '21'");
    free(err);
    assert_int_equal(run_cli("train %s --data data --task 2 --out bad", spec_arg), 1);
    err = slurp("err");
    assert_contains(err, "no bAbI train file for task 2 in data");
    assert_contains(err, "babi-gen");
    free(err);
    /* a malformed file: the reader names file and line */
    assert_int_equal(run_cli("babi-gen --task 4 --train 10 --test 10 --out broken"), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd '%s' && printf '1 Mary went home.\\nx Where is Mary?\\tgarden\\t1\\n' > "
                              "broken/qa4_two-arg-relations_train.txt", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run_cli("train %s --data broken --task 4 --out bad", spec_arg), 1);
    err = slurp("err");
    assert_contains(err, "qa4_two-arg-relations_train.txt:2");
    free(err);
    /* a spec whose train.select is neither rule: the spec loader names file, line and value */
    char sed[8400];
    snprintf(sed, sizeof sed, "sed 's/select: validation_error/select: nonsense/' %s > '%s/badsel.yaml'", spec_arg, dir);
    assert_int_equal(system(sed), 0);
    assert_int_equal(run_cli("train badsel.yaml --data data --task 1 --out bad"), 1);
    err = slurp("err");
    assert_contains(err, "badsel.yaml:");
    assert_contains(err, "train.select must be one of validation_error, training_error, got 'nonsense'");
    free(err);
    /* two files of a task: refused, naming both (readdir's order picked one) */
    shell("%s", "mkdir -p twice && cp data/qa1_* twice/ && cp data/qa1_single-supporting-fact_train.txt "
                "twice/qa1_zz_train.txt");
    assert_int_equal(run_cli("train %s --data twice --task 1 --out bad", spec_arg), 1);
    err = slurp("err");
    assert_contains(err, "two bAbI train files for task 1 in twice: qa1_single-supporting-fact_train.txt and "
                         "qa1_zz_train.txt");
    free(err);
    /* random noise is a probability (1.5 was taken as 1) */
    assert_int_equal(run_cli("train %s --data data --task 1 --out bad --set data.random_noise=1.5", spec_arg), 1);
    err = slurp("err");
    assert_contains(err, "data.random_noise is a probability in [0, 1], got 1.5");
    free(err);
    /* eval of a checkpoint that is not a memory network's */
    assert_int_equal(run_cli("eval %s --checkpoint data/qa1_single-supporting-fact_test.txt --data data --task 1",
                             spec_arg),
                     1);
    err = slurp("err");
    assert_contains(err, "strata: error");
    free(err);
    /* a checkpoint that is not there: said so, not "records no spec" */
    assert_int_equal(run_cli("memnet-explain --checkpoint nothere --data data --task 1 --story 1"), 1);
    err = slurp("err");
    assert_contains(err, "checkpoint nothere: No such file or directory");
    free(err);
}

/* With repeats, the run kept is the one of lowest validation error (ties:
 * lower training error), and the summary reports that run's figures. */
static void test_best_run_by_validation(void **state)
{
    (void)state;
    assert_int_equal(run_cli("train %s --data data --task 1 --out sel --epochs 2 --repeats 3 --quiet", spec_arg), 0);
    char *m = slurp("sel/metrics.jsonl"), *sum = slurp("sel/summary.json");
    double best_va = 2.0, best_tr = 2.0;
    int runs = 0;
    for (char *line = strtok(m, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"final_train_error\""))
            continue;
        double tr = json_number(line, "\"final_train_error\""), va = json_number(line, "\"final_val_error\"");
        if (va < best_va || (va == best_va && tr < best_tr))
            best_va = va, best_tr = tr;
        runs++;
    }
    assert_int_equal(runs, 3);
    assert_true(fabs(json_number(sum, "\"val_error\"") - best_va) < 1e-9);
    assert_true(fabs(json_number(sum, "\"train_error\"") - best_tr) < 1e-9);
    free(m);
    free(sum);
}

/* With no validation questions (data.val_fraction 0) the records hold null
 * validation figures, not 0, and the runs are chosen by training error
 * (they held 0.0, and every run tied at it). */
static void test_no_validation_questions(void **state)
{
    (void)state;
    assert_int_equal(run_cli("train %s --data data --task 1 --out noval --epochs 2 --repeats 2 --quiet --set "
                             "data.val_fraction=0",
                             spec_arg),
                     0);
    char *m = slurp("noval/metrics.jsonl"), *sum = slurp("noval/summary.json"), *err = slurp("err");
    assert_non_null(m);
    assert_non_null(sum);
    assert_non_null(err);
    if (strstr(m, "\"val_error\":0") || !strstr(m, "\"val_error\":null") || !strstr(m, "\"final_val_error\":null") ||
        !strstr(sum, "\"val_error\": null") || !strstr(err, "no validation questions") ||
        !strstr(err, "chosen by training error"))
        fail_msg("val_fraction 0: metrics %.300s... summary %s, stderr %s", m, sum, err);
    free(m);
    free(sum);
    free(err);
}

/* A spec without optimizer.lr trains at its optimizer's default rate (Adam's
 * 0.001, as the spec's recorded defaults say), not the recipe's 0.01. */
static void test_optimizer_default_rate(void **state)
{
    (void)state;
    assert_int_equal(run_cli("train %s --data data --task 1 --out adam --epochs 1 --repeats 1 --set "
                             "data.linear_start=0 --set 'optimizer={type: adam}'",
                             spec_arg),
                     0);
    char *out = slurp("out");
    if (!strstr(out, "lr 0.00100"))
        fail_msg("expected Adam's default rate 0.001 in: %s", out);
    free(out);
}

/* Empty bAbI files are valid sets. Test files that are all empty are an
 * error for eval (was a double free: realloc to 0 bytes freed the arrays),
 * not a mean of 0.0%; one empty among others is a warning and its task is
 * left out. An empty training file is an error naming it. */
static void test_empty_files(void **state)
{
    (void)state;
    shell("%s", "mkdir -p empty && : > empty/qa1_x_test.txt && : > empty/qa2_x_test.txt");
    int code = run_cli("eval %s --checkpoint quick --data empty --task 1,2 --json", spec_arg);
    expect_err(code, 1, "no test questions in empty for task(s) 1,2");
    expect_err(code, 1, "empty/qa2_x_test.txt holds no questions: task 2 is not scored");
    char *out = slurp("out");
    if (strstr(out, "mean"))
        fail_msg("no mean expected without test questions: %s", out);
    free(out);

    shell("%s", "mkdir -p half && cp data/qa1_* half/ && : > half/qa2_x_test.txt");
    code = run_cli("eval %s --checkpoint quick --data half --task 1,2 --json", spec_arg);
    expect_err(code, 0, "half/qa2_x_test.txt holds no questions");
    out = slurp("out");
    assert_contains(out, "{\"tasks\":{\"1\":");
    if (strstr(out, "\"2\""))
        fail_msg("task 2 has no test questions and no score: %s", out);
    free(out);

    /* training: an empty test file leaves the mean null, an empty training file is refused */
    shell("%s", "mkdir -p notest && cp data/qa1_*_train.txt notest/ && : > notest/qa1_x_test.txt");
    assert_int_equal(run_cli("train %s " QUICK " --data notest --task 1 --out notest_run", spec_arg), 0);
    char *sum = slurp("notest_run/summary.json");
    assert_contains(sum, "\"mean\": null");
    free(sum);
    shell("%s", "mkdir -p notrain && cp data/qa1_*_test.txt notrain/ && : > notrain/qa1_x_train.txt");
    expect_err(run_cli("train %s " QUICK " --data notrain --task 1 --out bad", spec_arg), 1,
               "notrain/qa1_x_train.txt holds no questions: nothing to train task 1 on");
}

/* A --batch-size beyond the training questions is one batch of them all;
 * 2^61 made B*M*J wrap to a tiny malloc, then the batch overflowed it. */
static void test_huge_batch(void **state)
{
    (void)state;
    const char *const sizes[] = {"2305843009213693952", "9223372036854775807"};
    for (int k = 0; k < 2; k++) {
        int code = run_cli("train %s " QUICK " --data data --task 1 --out huge --batch-size %s", spec_arg, sizes[k]);
        expect_err(code, 0, "is more than the 900 training questions: each batch holds them all");
        char *m = slurp("huge/metrics.jsonl");
        assert_int_equal(tu_count(m, "\"batch_loss\""), 1);
        free(m);
    }
}

/* dir/@p dst: checkpoint dir/@p src with its metadata as `strata train`
 * wrote it before memnet.words: the vocabulary space-joined in memnet.vocab,
 * and without the keys @p drop (NULL-terminated). */
static void to_old_form(const char *src, const char *dst, const char *const *drop)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    const long size = ftell(f);
    unsigned char *b = malloc((size_t)size);
    assert_non_null(b);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t hn = 0;
    for (int k = 7; k >= 0; k--)
        hn = hn << 8 | b[k];
    json_error_t e;
    json_t *h = json_loadb((const char *)b + 8, (size_t)hn, 0, &e), *meta = json_object_get(h, "__metadata__");
    assert_non_null(meta);
    json_t *words = json_loads(json_string_value(json_object_get(meta, "memnet.words")), 0, &e);
    assert_true(json_is_array(words));
    char joined[8192] = "";
    size_t i;
    json_t *w;
    json_array_foreach(words, i, w) {
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), i ? " %s" : "%s", json_string_value(w));
    }
    json_decref(words);
    json_object_del(meta, "memnet.words");
    json_object_set_new(meta, "memnet.vocab", json_string(joined));
    for (int k = 0; drop && drop[k]; k++)
        json_object_del(meta, drop[k]);
    char *text = json_dumps(h, JSON_COMPACT);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    unsigned char len[8];
    for (int k = 0; k < 8; k++)
        len[k] = (unsigned char)(padded >> (8 * k));
    snprintf(path, sizeof path, "%s/%s", dir, dst);
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(len, 1, 8, f);
    fwrite(text, 1, n, f);
    for (size_t k = n; k < padded; k++)
        fputc(' ', f);
    fwrite(b + 8 + hn, 1, (size_t)size - 8 - hn, f);
    assert_int_equal(fclose(f), 0);
    free(text);
    json_decref(h);
    free(b);
}

/* An answer with spaces ("x , y": the reader trims the whole answer, not
 * around its commas) is one word of the vocabulary. Joined by spaces in the
 * checkpoint it came back as three, and eval failed on the embeddings'
 * shape; the vocabulary is a JSON array now, and checkpoints of the old
 * form still load. */
static void test_answer_with_spaces(void **state)
{
    (void)state;
    const char *text = "1 a b.\n2 c d?\t x , y \t1\n3 e.\n4 f?\tliving room\t3\n";
    shell("%s", "mkdir -p spaced");
    tu_write_text(dir, "spaced/qa1_s_train.txt", text);
    tu_write_text(dir, "spaced/qa1_s_test.txt", text);
    assert_int_equal(run_cli("train %s " QUICK " --data spaced --task 1 --out spaced_run", spec_arg), 0);
    int code = run_cli("eval %s --checkpoint spaced_run --data spaced --task 1 --json", spec_arg);
    expect_err(code, 0, "");
    char *out = slurp("out");
    assert_contains(out, "{\"tasks\":{\"1\":");
    free(out);
    expect_err(run_cli("memnet-explain --checkpoint spaced_run --data spaced --task 1 --story 1"), 0, "");
    out = slurp("out");
    assert_contains(out, "answer: x , y  prediction:");
    free(out);

    /* a checkpoint of the old form: the same answers from memnet.vocab */
    assert_int_equal(run_cli("eval %s --checkpoint quick --data data --task 1 --json", spec_arg), 0);
    char *want = slurp("out");
    to_old_form("quick/checkpoint.safetensors", "old.safetensors", NULL);
    expect_err(run_cli("eval %s --checkpoint old.safetensors --data data --task 1 --json", spec_arg), 0, "");
    out = slurp("out");
    assert_string_equal(out, want);
    free(out);
    free(want);
}

/* --task: a repeated task was taken (every question twice, the held-out
 * twins in the training set, and d of a joint model); strtol let " 1",
 * "+1" and "1," through. */
static void test_task_lists(void **state)
{
    (void)state;
    expect_err(run_cli("train %s " QUICK " --data data --task 1,1 --out bad", spec_arg), 2,
               "--task '1,1': task 1 is listed twice");
    const char *const bad[] = {"1,", " 1", "+1", ",1", "1,,2", "1 ", "0"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char want[64];
        snprintf(want, sizeof want, "--task '%s': expected a task number", bad[k]);
        expect_err(run_cli("eval %s --checkpoint quick --data data --task '%s'", spec_arg, bad[k]), 2, want);
    }
    /* memnet-explain's one task: its message offered lists and "all", which it then refused */
    expect_err(run_cli("memnet-explain --checkpoint quick --data data --task 1,2 --story 1"), 2,
               "--task '1,2': expected a task number in 1..20\n");
    /* --data a file: said so (it suggested `babi-gen --out FILE`, which fails) */
    expect_err(run_cli("train %s " QUICK " --data data/qa1_single-supporting-fact_test.txt --task 1 --out f", spec_arg),
               1, "is not a directory: give the directory of the bAbI files");
}

/* Bytes that are not UTF-8 cannot go into the checkpoint's JSON metadata:
 * a word of the data is refused up front with file, line and byte (it was
 * a bare "E_NOMEM:" at the first checkpoint, after an epoch), and so is a
 * --data path; a spec path that is not UTF-8 is left out of the metadata. */
static void test_not_utf8(void **state)
{
    (void)state;
    shell("%s", "mkdir -p latin1 && cp data/qa1_*_test.txt latin1/");
    tu_write_text(dir, "latin1/qa1_l_train.txt", "1 Mary went to the caf\xe9.\n2 Where is Mary?\tcaf\xe9\t1\n");
    int code = run_cli("train %s " QUICK " --data latin1 --task 1 --out latin1_run", spec_arg);
    expect_err(code, 1, "latin1/qa1_l_train.txt:1: byte 23 (0xE9) is not UTF-8");
    char *m = tu_slurp(dir, "latin1_run/metrics.jsonl");
    if (m)
        fail_msg("refused after training began: %s", m);

    shell("%s", "mkdir -p \"$(printf 'd\\351')\" && cp data/* \"$(printf 'd\\351')/\"");
    code = run_cli("train %s " QUICK " --data \"$(printf 'd\\351')\" --task 1 --out bad", spec_arg);
    expect_err(code, 1, "the path is not UTF-8");

    char cmd[PATH_MAX + 100];
    snprintf(cmd, sizeof cmd, "cp %s \"$(printf 's\\351.yaml')\"", spec_arg);
    shell("%s", cmd);
    code = run_cli("train \"$(printf 's\\351.yaml')\" " QUICK " --data data --task 1 --out spec_latin1");
    expect_err(code, 0, "");
    code = run_cli("eval \"$(printf 's\\351.yaml')\" --checkpoint spec_latin1 --data data --task 1 --json");
    expect_err(code, 0, "");
}

/* linear_start + epochs wrapped past INT64_MAX: no step ran and the run
 * reported success with a validation error of 0. */
static void test_epochs_bound(void **state)
{
    (void)state;
    expect_err(run_cli("train %s --data data --task 1 --out bad --epochs 9223372036854775807", spec_arg), 2,
               "9223372036854775807 epochs after data.linear_start 20 overflow the epoch count; give at most "
               "9223372036854775787");
    expect_err(run_cli("train %s --data data --task 1 --out bad --set train.epochs=9223372036854775800", spec_arg),
               2, "overflow the epoch count");
}

/* `strata ARGS` in dir/@p sub, output to dir/out and dir/err; its exit status. */
static int run_in(const char *sub, const char *args)
{
    char bin[PATH_MAX], cmd[PATH_MAX + 4096];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s/%s' && '%s' %s >../out 2>../err", dir, sub, bin, args);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* The spec of a checkpoint: memnet-explain recorded the spec path as typed,
 * without --set, so from another directory it could not open it, and eval
 * with the spec file of a run trained with --set encoding=bow scored it as
 * position encoding. Now the run's spec.yaml beside the checkpoint comes
 * first, and a spec whose memn2n layer differs from the recorded one is
 * refused naming the attribute and both values; a checkpoint without that
 * record (written before) still loads. */
static void test_checkpoint_spec(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 100];
    snprintf(cmd, sizeof cmd, "cp %s rel.yaml && mkdir -p elsewhere", spec_arg);
    shell("%s", cmd);
    assert_int_equal(run_cli("train rel.yaml " QUICK " --data data --task 1 --out bow --set "
                             "model.layers.0.encoding=bow"),
                     0);
    expect_err(run_in("elsewhere", "memnet-explain --checkpoint ../bow --data ../data --task 1 --story 1"), 0, "");
    char *out = slurp("out");
    assert_contains(out, "hop 3");
    free(out);
    expect_err(run_cli("eval rel.yaml --checkpoint bow --data data --task 1"), 1,
               "bow/checkpoint.safetensors was trained with encoding bow in layer 'mn', the spec rel.yaml has "
               "encoding position: give the run's spec (its spec.yaml) or --set model.layers.0.encoding=bow");
    expect_err(run_cli("memnet-explain rel.yaml --checkpoint bow --data data --task 1 --story 1"), 1,
               "trained with encoding bow");
    expect_err(run_cli("eval rel.yaml --checkpoint bow --data data --task 1 --set model.layers.0.encoding=bow"), 0,
               "");
    expect_err(run_cli("eval bow/spec.yaml --checkpoint bow --data data --task 1 --set model.layers.0.hops=2"), 1,
               "was trained with hops 3 in layer 'mn', the spec bow/spec.yaml has hops 2");
    /* no record, no check: as before */
    const char *const drop[] = {"memnet.hops", "memnet.tying", "memnet.encoding", "memnet.temporal",
                                "memnet.mask_empty", "memnet.padding_idx", NULL};
    to_old_form("bow/checkpoint.safetensors", "old_bow.safetensors", drop);
    expect_err(run_cli("eval rel.yaml --checkpoint old_bow.safetensors --data data --task 1"), 0, "");
}

/* Eval of data the model was not trained on (other tasks) warned only of
 * unknown words; statements past the memory M its training data's stories
 * set were dropped silently, and memnet-explain warned of nothing. */
static void test_eval_warnings(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int k = 1; k <= 40; k++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d Mary went to the kitchen.\n", k);
    strcat(text, "41 Where is Zork?\tkitchen\t40\n");
    shell("%s", "mkdir -p long");
    tu_write_text(dir, "long/qa1_l_test.txt", text);
    int code = run_cli("eval %s --checkpoint quick --data long --task 1", spec_arg);
    expect_err(code, 0, "1 word(s) outside the model's vocabulary read as nil");
    expect_err(code, 0, "statement(s) older than the model's memory of ");
    code = run_cli("memnet-explain --checkpoint quick --data long --task 1 --story 1");
    expect_err(code, 0, "1 word(s) outside the model's vocabulary read as nil");
    expect_err(code, 0, "statement(s) older than the model's memory of ");
    /* the recipe's own cut (data.memory_size) is no surprise: no warning */
    shell("%s", "mkdir -p long2 && cp data/qa1_* long2/ && "
                "cp long/qa1_l_test.txt long2/qa1_single-supporting-fact_test.txt");
    expect_err(run_cli("train %s " QUICK " --data long2 --task 1 --out cut --set data.memory_size=5", spec_arg), 0, "");
    code = run_cli("eval %s --checkpoint cut --data long2 --task 1", spec_arg);
    char *err = slurp("err");
    if (code != 0 || strstr(err, "older than the model's memory"))
        fail_msg("exit %d: %s", code, err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_eval_explain),
        cmocka_unit_test(test_optimizer_default_rate),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_best_run_by_validation),
        cmocka_unit_test(test_no_validation_questions),
        cmocka_unit_test(test_empty_files),
        cmocka_unit_test(test_huge_batch),
        cmocka_unit_test(test_answer_with_spaces),
        cmocka_unit_test(test_task_lists),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_epochs_bound),
        cmocka_unit_test(test_checkpoint_spec),
        cmocka_unit_test(test_eval_warnings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
