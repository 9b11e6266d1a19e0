/* test_cli_options.c - every command of the strata program reads its
 * options from one table (tools/cli_opts.c).
 *
 * `--help` / `-h` prints the command's usage and options and exits 0
 * (before 2026-12-02 it was an "unknown option" everywhere but `strata
 * check`); an unknown option, a missing value, a stray argument, an option
 * of another command (eval given --epochs) or a missing required option is
 * a usage error (exit 2) naming the command and the option, before any
 * file is read.
 *
 * Every numeric option is read whole and range-checked (cli_parse_int):
 * a value that is not a whole number, has trailing characters, overflows
 * or is out of range is a usage error naming the option, the range and
 * the value. Until 2026-12-02 most options went through atoll:
 * `--epochs abc` trained the spec's 100 epochs and `--epochs 3x` ran 3. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char dir[256];
static char models[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    snprintf(models, sizeof models, "%s", tu_source_path("models"));
    return tu_make_temp_dir(dir, sizeof dir, "cli-options");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

typedef struct {
    const char *args;    /* after `strata`; %s is the models directory */
    const char *usage;   /* the help's first line starts with it */
    const char *options; /* options it must list, separated by commas */
} help_case;

static void test_help(void **state)
{
    (void)state;
    static const help_case cases[] = {
        {"train --help", "usage: strata train SPEC --out DIR", "--epochs,--resume,--detect-anomaly"},
        {"help train", "usage: strata train SPEC --out DIR", "--epochs,--resume,--detect-anomaly"},
        {"help eval %s/memn2n-babi.yaml", "usage: strata eval SPEC --checkpoint FILE --data DIR", "--json,--task"},
        {"train %s/lenet-fashion.yaml -h", "usage: strata train SPEC --out DIR", "--batch-size,--checkpoint-every"},
        {"eval %s/lenet-fashion.yaml --help", "usage: strata eval SPEC --checkpoint FILE", "--checkpoint,--backend"},
        {"train %s/memn2n-babi.yaml --help", "usage: strata train SPEC --data DIR --task N|all", "--repeats,--data"},
        {"eval %s/memn2n-babi.yaml --help", "usage: strata eval SPEC --checkpoint FILE --data DIR", "--json,--task"},
        {"memnet-explain --help", "usage: strata memnet-explain --checkpoint FILE", "--story,--spec,--task N"},
        {"train %s/dcgan-fashion.yaml --help", "usage: strata train GAN_SPEC --out DIR", "--steps,--resume"},
        {"train %s/autoencoder-fashion.yaml --help", "usage: strata train AUTOENCODER_SPEC", "--epochs,--out"},
        {"eval %s/autoencoder-fashion.yaml --help", "usage: strata eval AUTOENCODER_SPEC", "--json,--checkpoint"},
        {"train %s/seq2seq-reverse.yaml --help", "usage: strata train SEQ2SEQ_SPEC", "--steps,--resume"},
        {"train %s/char-lstm-kjv.yaml --help", "usage: strata train SPEC --out DIR", "--steps,--resume,--quiet"},
        {"version --help", "usage: strata version", ""},
        {"sample --help", "usage: strata sample --checkpoint", "--count,--out"},
        {"predict --help", "usage: strata predict SPEC --checkpoint FILE", "--input,--top,--invert,--json,--set"},
        {"summary --help", "usage: strata summary SPEC", "--batch-size,--json,--backend,--set"},
        {"pack-images --help", "usage: strata pack-images TRAIN_DIR [TEST_DIR] --out PREFIX", "--out,--rgb"},
        {"report --help", "usage: strata report RUN", "--out"},
        {"fid --help", "usage: strata fid --classifier CKPT", "--real,--classifier-spec"},
        {"generate --help", "usage: strata generate --checkpoint FILE", "--prime,--temperature"},
        {"visualize --help", "usage: strata visualize --checkpoint FILE", "--input,--out"},
        {"babi-gen --help", "usage: strata babi-gen --task N|all", "--verify,--check"},
        {"bench --help", "usage: strata bench [W1 W2 ...]", "--op,--shape,--profile"},
        {"info --help", "usage: strata info", "--json"},
        {"check -h", "usage: strata check --backend NAME", "--plugin,--trials,--large,--seed"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[1024];
        snprintf(args, sizeof args, cases[k].args, models);
        tu_expect_cli_ok(dir, tu_run_cli(dir, args));
        char *out = tu_slurp(dir, "out");
        assert_non_null(out);
        if (strncmp(out, cases[k].usage, strlen(cases[k].usage)) != 0)
            fail_msg("strata %s: the help starts\n%.200s\nnot '%s'", args, out, cases[k].usage);
        assert_non_null(strstr(out, "-h, --help"));
        char opts[256];
        snprintf(opts, sizeof opts, "%s", cases[k].options);
        for (char *o = strtok(opts, ","); o; o = strtok(NULL, ",")) {
            char line[64];
            snprintf(line, sizeof line, "\n  %s ", o);
            if (!strstr(out, line))
                fail_msg("strata %s: the help does not list %s:\n%s", args, o, out);
        }
        free(out);
    }
}

/* --help with a spec that picks no help (it cannot be read; a GAN's, which eval does not take): the command's
 * own help and a note naming the spec, exit 0 (it was the spec's error, exit 1 or 2). */
static void test_help_without_spec(void **state)
{
    (void)state;
    static const struct {
        const char *args, *usage, *note;
    } cases[] = {
        {"train nonexist.yaml --help", "usage: strata train SPEC --out DIR", "the spec nonexist.yaml could not be"},
        {"eval -h nonexist.yaml", "usage: strata eval SPEC --checkpoint FILE", "the spec nonexist.yaml could not be"},
        {"help train nonexist.yaml", "usage: strata train SPEC --out DIR", "the spec nonexist.yaml could not be"},
        {"eval %s/dcgan-fashion.yaml --help", "usage: strata eval SPEC --checkpoint FILE", "a GAN has no test set"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[1024];
        snprintf(args, sizeof args, cases[k].args, models);
        tu_expect_cli_ok(dir, tu_run_cli(dir, args));
        char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
        assert_non_null(out);
        assert_non_null(err);
        if (strncmp(out, cases[k].usage, strlen(cases[k].usage)) || !strstr(err, cases[k].note))
            fail_msg("strata %s printed\n%.300s\nand\n%s", args, out, err);
        free(out);
        free(err);
    }
}

typedef struct {
    const char *args;   /* after `strata`; %s is the models directory */
    const char *needle; /* in the error */
} bad_case;

/* Each case exits 2 with its needle in the error. */
static void expect_usage_errors(const bad_case *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char args[1024];
        snprintf(args, sizeof args, cases[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 2, cases[k].needle);
    }
}

/* generate's prime is text: "--x" is taken as it is (the check for a forgotten value refused it) */
static void test_prime_like_option(void **state)
{
    (void)state;
    tu_expect_cli_err(dir, tu_run_cli(dir, "generate --checkpoint nowhere.safetensors --prime --x"), 1,
                      "checkpoint nowhere.safetensors: No such file");
}

static void test_usage_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* unknown options and stray arguments name the command */
        {"train %s/lenet-fashion.yaml --out r --bogus", "train: unknown option '--bogus'"},
        {"train %s/lenet-fashion.yaml --out r extra", "train: unexpected argument 'extra'"},
        {"info --verbose", "info: unknown option '--verbose'"}, /* with a hint: test_typo_hints */
        /* a flag before the spec is not taken for an option's value (the spec picks the trainer) */
        {"eval --per-class %s/autoencoder-fashion.yaml --checkpoint c", "eval: unknown option '--per-class'"},
        {"eval --json --per-class %s/memn2n-babi.yaml --checkpoint c --data d --task 1", "unknown option '--per-class'"},
        /* a bad number and a flag given a value are named with their command, as every usage error */
        {"train %s/lenet-fashion.yaml --out r --steps -1", "train: --steps must be a whole number >= 1, got '-1'"},
        {"info --json=1", "info: '--json=1': --json is a flag and takes no value"},
        /* a missing value names what it should be */
        {"train %s/lenet-fashion.yaml --out", "train: --out needs a value (DIR)"},
        {"generate --checkpoint", "generate: --checkpoint needs a value (FILE)"},
        {"babi-gen --task 1 --out", "babi-gen: --out needs a value (DIR)"},
        /* ... and is not taken from the next option: `--out --help` made a directory named --help */
        {"train %s/lenet-fashion.yaml --out --help", "train: --out needs a value (DIR)"},
        {"train %s/lenet-fashion.yaml --out --epochs 2", "train: --out needs a value (DIR)"},
        /* ... nor from an option of another command or mode: `--out --json` trained into a directory named --json */
        {"train %s/mlp-fashion.yaml --steps 2 --out --json", "train: --out needs a value (DIR)"},
        {"generate --checkpoint --per-class", "generate: --checkpoint needs a value (FILE)"},
        /* ... but a prime is text, which may begin "--" (test_prime_like_option); --help is still not one */
        {"generate --checkpoint c --prime --help", "generate: --prime needs a value (TEXT)"},
        /* an empty backend name is a missing one, not the default device */
        {"train %s/lenet-fashion.yaml --out r --backend ''", "train: --backend needs a value (NAME)"},
        {"generate --checkpoint c --backend ''", "generate: --backend needs a value (NAME)"},
        /* an option of `strata train` given to eval, sample or fid */
        {"eval %s/lenet-fashion.yaml --checkpoint c --epochs 3", "eval: unknown option '--epochs'"},
        {"eval %s/lenet-fashion.yaml --checkpoint c --quiet", "eval: unknown option '--quiet'"},
        {"eval %s/memn2n-babi.yaml --checkpoint c --data d --task 1 --repeats 2", "eval: unknown option '--repeats'"},
        {"eval %s/autoencoder-fashion.yaml --checkpoint c --resume r", "eval: unknown option '--resume'"},
        {"eval %s/seq2seq-reverse.yaml --checkpoint c --checkpoint-every 5", "eval: unknown option"},
        {"sample --checkpoint g --out s.png --resume r", "sample: unknown option '--resume'"},
        {"fid --classifier c --generator g --steps 5", "fid: unknown option '--steps'"},
        /* a classifier's option given for a language model: not unknown, but not for this spec */
        {"train %s/char-lstm-kjv.yaml --out r --epochs 2",
         "train: option '--epochs' does not apply to this spec; `strata train SPEC --help` lists the options of "
         "SPEC's trainer"},
        {"train %s/dcgan-fashion.yaml --out r --epochs 2",
         "train: unknown option '--epochs'; `strata train SPEC --help` lists the options of SPEC's trainer"},
        {"version --bogus", "version: unknown option '--bogus'"},
        /* required options */
        {"train", "train needs a model spec"},
        {"train %s/lenet-fashion.yaml", "train needs --out DIR (or --resume DIR)"},
        {"eval %s/lenet-fashion.yaml", "eval needs --checkpoint FILE"},
        {"train %s/memn2n-babi.yaml --out r --task 1", "train needs --data DIR"},
        {"train %s/memn2n-babi.yaml --out r --data d", "train needs --task N|all"},
        {"memnet-explain --checkpoint c --data d --task 1", "memnet-explain needs --story S"},
        {"train %s/dcgan-fashion.yaml", "train needs --out DIR"},
        {"sample --checkpoint g", "sample needs --out FILE.png"},
        {"fid --generator g", "fid needs --classifier CKPT"},
        {"generate", "generate needs --checkpoint FILE"},
        {"visualize --checkpoint c --out d", "visualize needs --spec SPEC"},
        {"visualize a.yaml --spec b.yaml --checkpoint c --out d", "the spec is given twice (a.yaml and --spec b.yaml)"},
        /* ... as in every command that takes both (the last one given won) */
        {"sample a.yaml --spec b.yaml --checkpoint g --out s.png",
         "sample: the spec is given twice (a.yaml and --spec b.yaml)"},
        {"fid --spec b.yaml a.yaml --classifier c --generator g",
         "fid: the spec is given twice (a.yaml and --spec b.yaml)"},
        {"eval %s/memn2n-babi.yaml --spec b.yaml --checkpoint c --data d --task 1",
         "memn2n-babi.yaml and --spec b.yaml); give it once"},
        {"memnet-explain --spec b.yaml a.yaml --checkpoint c --data d --task 1 --story 1",
         "memnet-explain: the spec is given twice (a.yaml and --spec b.yaml)"},
        {"babi-gen --out d", "babi-gen needs --task N|all"},
        {"check --op relu", "check needs --backend NAME"},
        {"babi-gen --task 3 --check f --out d", "--check FILE only reads; drop --out d"},
        /* --resume names the run directory; another --out contradicts it */
        {"train %s/lenet-fashion.yaml --resume a --out b", "--resume a continues in that directory; drop --out b"},
        /* ranges */
        {"sample --checkpoint g --out s.png --count 5000", "--count must be a whole number in [1, 4096]"},
        {"fid --classifier c --generator g --count 1", "--count must be a whole number >= 2"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof cases[0]);
}

/* --set KEY=VALUE changes the spec's text where the value stands (or adds
 * the key to its mapping); the run records the result as spec.yaml. */
static void write_variant(const char *name, const char *from, const char *to);

static void test_set_overrides(void **state)
{
    (void)state;
    char args[PATH_MAX + 1024];
    snprintf(args, sizeof args,
             "train %s/mlp-fashion.yaml --out set-run --steps 1 --quiet --set optimizer.lr=0.01 --set "
             "train.batch_size=4 --set data.augment.hflip=0.5 --set model.layers.1.out_features=8 --set "
             "schedule.type=constant",
             models);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *spec = tu_slurp(dir, "set-run/spec.yaml");
    assert_non_null(spec);
    static const char *want[] = {
        "optimizer: {type: sgd, lr: 0.01, momentum: 0.9}", "  batch_size: 4\n", "  augment: {hflip: 0.5}\n",
        "    - {type: linear, out_features: 8}   # 1.weight", "schedule: {type: constant}",
        "# W1: multilayer perceptron on Fashion-MNIST", /* the rest as written */
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(spec, want[k]))
            fail_msg("set-run/spec.yaml lacks '%s':\n%s", want[k], spec);
    free(spec);
    /* the model was built from it: 784*8+8 + 8*512+512 + 512*10+10 parameters */
    char *sum = tu_slurp(dir, "set-run/summary.json");
    assert_non_null(sum);
    if (!strstr(sum, "\"parameters\": 16018"))
        fail_msg("summary.json: %s", sum);
    free(sum);

    /* a key the spec's schema lacks, or a bad value: the spec's own errors, exit 1 */
    static const bad_case spec_errors[] = {
        {"train %s/mlp-fashion.yaml --out r --set optimizer.lrr=0.1", "unknown key 'lrr' in optimizer"},
        {"train %s/mlp-fashion.yaml --out r --set optimizer.lr=abc", "'lr' expects a number, got 'abc'"},
        /* the error names the change that broke the spec: its line is one of the changed text */
        {"train %s/mlp-fashion.yaml --out r --set train.epochs=1 --set optimizer.lrr=0.1 --set train.batch_size=4",
         "--set optimizer.lrr=0.1: E_FORMAT: "},
        {"train %s/mlp-fashion.yaml --out r --set train.epochs=-5 --set optimizer.lr=0.1",
         "--set train.epochs=-5: E_FORMAT: "},
        /* a change the next one completes (a step schedule needs its step_size) is not blamed, even with the bad
         * value between them; nor is a later change that moves the lines of the message */
        {"train %s/mlp-fashion.yaml --out r --set schedule.type=step --set schedule.step_size=2 --set "
         "train.epochs=x",
         "--set train.epochs=x: E_FORMAT: "},
        {"train %s/mlp-fashion.yaml --out r --set schedule.type=step --set schedule.gamma=x --set "
         "schedule.step_size=2",
         "--set schedule.gamma=x: E_FORMAT: "},
        {"train %s/mlp-fashion.yaml --out r --set 'optimizer={type: sgd, lr: 0.1, lr: 0.2}' --set "
         "data.val_fraction=0.1",
         "--set optimizer={type: sgd, lr: 0.1, lr: 0.2}: E_FORMAT: "},
        {"train %s/mlp-fashion.yaml --out r --set model.layers.9.type=relu", "'9' is not an index of this 6-item list"},
        {"train %s/mlp-fashion.yaml --out r --set model.layers=[]", "model.layers is a block of settings"},
        {"train %s/mlp-fashion.yaml --out r --set optimizer.lr.x=1", "'optimizer.lr' is a value, with no member 'x'"},
        {"eval %s/memn2n-babi.yaml --checkpoint c --data d --task 1 --set bogus=1", "unknown key 'bogus'"},
        /* the image classifier's keys, refused where no trainer reads them */
        {"train %s/char-lstm-kjv.yaml --out r --set train.keep_best=val_accuracy",
         "train.keep_best: a language model is scored by val_loss, not val_accuracy"},
        {"train %s/seq2seq-reverse.yaml --out r --set train.keep_best=val_loss",
         "train.keep_best is read only for task: classification, language_model; this spec is task: seq2seq"},
        {"train %s/dcgan-fashion.yaml --out r --set train.patience=2",
         "train.patience is read only for task: classification, language_model; this spec is task: gan"},
        {"train %s/autoencoder-fashion.yaml --out r --set data.val_fraction=0.1",
         "data.val_fraction is read only for task: classification, language_model, question_answering; this spec is "
         "task: autoencoder"},
    };
    for (size_t k = 0; k < sizeof spec_errors / sizeof spec_errors[0]; k++) {
        snprintf(args, sizeof args, spec_errors[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, spec_errors[k].needle);
    }
    /* a value refused when the model or optimizer is built: the line cited holds the change, not what the file
     * has there (mlp-fashion.yaml:31 says lr: 0.05), so the change is named; of several on the line, the one the
     * message is about */
    static const bad_case build_errors[] = {
        {"summary %s/mlp-fashion.yaml --set optimizer.lr=-1",
         "lr must be a non-negative number, got -1 (line 31 as changed by --set optimizer.lr=-1)\n"},
        {"train %s/mlp-fashion.yaml --out r --set optimizer.momentum=0.5 --set optimizer.lr=-1",
         "got -1 (line 31 as changed by --set optimizer.lr=-1)\n"},
        {"summary %s/mlp-fashion.yaml --set train.epochs=3 --set model.layers.1.out_features=0",
         "mlp-fashion.yaml:23: layer 1 (type 'linear', name '1'): layer '1' (linear): out_features must be positive, "
         "got 0 (line 23 as changed by --set model.layers.1.out_features=0)\n"},
    };
    for (size_t k = 0; k < sizeof build_errors / sizeof build_errors[0]; k++) {
        snprintf(args, sizeof args, build_errors[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, build_errors[k].needle);
    }
    /* a build error on a line no change touched has no note */
    write_variant("negative-lr.yaml", "lr: 0.05", "lr: -0.05");
    tu_expect_cli_err(dir, tu_run_cli(dir, "summary negative-lr.yaml --set train.epochs=3"), 1, "got -0.05\n");
    /* ... and on a line that holds a change whose key the message does not name, the note says what the line
     * holds, not that the change made the value (it read "line 31 as changed by --set optimizer.momentum=0.5") */
    tu_expect_cli_err(dir, tu_run_cli(dir, "summary negative-lr.yaml --set optimizer.momentum=0.5"), 1,
                      "got -0.05 (line 31 holds --set optimizer.momentum=0.5)\n");
    /* a message naming the key with a capital ("Nesterov momentum needs ...") names the change */
    write_variant("no-momentum.yaml", "momentum: 0.9", "momentum: 0");
    tu_expect_cli_err(dir, tu_run_cli(dir, "summary no-momentum.yaml --set optimizer.nesterov=true"), 1,
                      "(line 31 as changed by --set optimizer.nesterov=true)\n");
    /* not KEY=VALUE: a usage error */
    snprintf(args, sizeof args, "train %s/mlp-fashion.yaml --out r --set optimizer.lr", models);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 2, "--set optimizer.lr: expected KEY=VALUE");
}

/* Writes dir/name: a copy of models/mlp-fashion.yaml with @p from (one
 * occurrence) replaced by @p to. */
static void write_variant(const char *name, const char *from, const char *to)
{
    char *spec = tu_slurp(models, "mlp-fashion.yaml");
    assert_non_null(spec);
    char *at = strstr(spec, from);
    if (!at)
        fail_msg("mlp-fashion.yaml lacks '%s'", from);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%.*s%s%s", (int)(at - spec), spec, to, at + strlen(from));
    assert_int_equal(fclose(f), 0);
    free(spec);
}

/* YAML that --set cannot edit in place is refused, naming the line, rather
 * than changed in a way the user did not ask for; block scalars, keys with
 * no value and specs that only --set makes valid work. Until 2026-12-03
 * an edit through an alias rewrote the anchor's value silently, an anchor
 * or tag was dropped, a block scalar swallowed the next line, `{type}`
 * became `{type constant}` and a spec was validated before its overrides. */
static void test_set_yaml_forms(void **state)
{
    (void)state;
    write_variant("alias.yaml", "  eval_batch_size: 1000", "  eval_batch_size: &bs 1000\n  log_every: *bs");
    write_variant("tag.yaml", "seed: 1", "seed: !!int 1");
    write_variant("block.yaml", "name: mlp-fashion", "name: |\n  mlp\n  fashion");
    write_variant("novalue.yaml", "schedule: {type: cosine}", "schedule: {type}");
    write_variant("invalid.yaml", "lr: 0.05", "lr: fast");
    write_variant("dup.yaml", "  log_every: 50", "  log_every: 50\n  epochs: 3");
    static const bad_case refused[] = {
        {"train alias.yaml --out r --set train.log_every=5", "alias.yaml:37: train.log_every is the value anchored here (&name)"},
        {"train alias.yaml --out r --set train.eval_batch_size=5", "alias.yaml:37: train.eval_batch_size is the value anchored"},
        {"train tag.yaml --out r --set seed=2", "tag.yaml:4: this value has a YAML tag"},
        {"train %s/mlp-fashion.yaml --out r --set model.layers.99999999999999999999.type=relu", "is not an index"},
        {"train invalid.yaml --out r", "'lr' expects a number, got 'fast'"},
        /* the file's own error with --set given: its own line (a change adds one above it), no change blamed */
        {"train invalid.yaml --out r --set data.val_fraction=0.1", "error: loading the spec: E_FORMAT: invalid.yaml:31: "},
        /* ... also when its message holds a line number of its own */
        {"train dup.yaml --out r --set data.val_fraction=0.1", "error: loading the spec: E_FORMAT: dup.yaml:39: duplicate "
                                                               "key 'epochs' in train (first at line 35)"},
        /* one change fixes the file, another breaks it: that one is named */
        {"train invalid.yaml --out r --set optimizer.lr=0.1 --set train.epochs=y", "--set train.epochs=y: E_FORMAT: "},
        {"train %s/mlp-fashion.yaml --out r --set 'seed=a: b'", "mlp-fashion.yaml:4: with this value the spec is no longer YAML"},
        {"train %s/mlp-fashion.yaml --out r --set 'optimizer.lr=1]'", "with this value the spec is no longer YAML"},
    };
    char args[PATH_MAX + 256];
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        snprintf(args, sizeof args, refused[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, refused[k].needle);
    }
    /* KEY is names and indexes joined by dots: anything else is a usage error */
    static const bad_case usage[] = {
        {"train %s/mlp-fashion.yaml --out r --set model.layers.+1.type=relu", "--set model.layers.+1.type=relu: expected"},
        {"train %s/mlp-fashion.yaml --out r --set 'model.layers. 1.type=relu'", "expected KEY=VALUE with KEY a dotted"},
        {"train %s/mlp-fashion.yaml --out r --set 'optimizer: lr=1'", "expected KEY=VALUE with KEY a dotted path"},
    };
    for (size_t k = 0; k < sizeof usage / sizeof usage[0]; k++) {
        snprintf(args, sizeof args, usage[k].args, models);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), 2, usage[k].needle);
    }
    static const struct {
        const char *args, *want;
    } edited[] = {
        {"train block.yaml --out b --steps 1 --quiet --set name=mlp2", "name: mlp2\nseed: 1\n"},
        {"train novalue.yaml --out n --steps 1 --quiet --set schedule.type=constant", "schedule: {type: constant}"},
        {"train invalid.yaml --out i --steps 1 --quiet --set optimizer.lr=0.01", "lr: 0.01, momentum"},
    };
    for (size_t k = 0; k < sizeof edited / sizeof edited[0]; k++) {
        tu_expect_cli_ok(dir, tu_run_cli(dir, edited[k].args));
        const char *out = strstr(edited[k].args, "--out ") + 6;
        char name[64];
        snprintf(name, sizeof name, "%c/spec.yaml", out[0]);
        char *spec = tu_slurp(dir, name);
        assert_non_null(spec);
        if (!strstr(spec, edited[k].want))
            fail_msg("%s lacks '%s':\n%s", name, edited[k].want, spec);
        free(spec);
    }
}

static void test_bad_numbers(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* the image trainer */
        {"train %s/lenet-fashion.yaml --out r --epochs abc", "--epochs must be a whole number >= 1, got 'abc'"},
        {"train %s/lenet-fashion.yaml --out r --epochs 3x", "--epochs must be a whole number >= 1, got '3x'"},
        {"train %s/lenet-fashion.yaml --out r --steps 0", "--steps must be a whole number >= 1, got '0'"},
        {"train %s/lenet-fashion.yaml --out r --batch-size -4", "--batch-size must be a whole number >= 1, got '-4'"},
        {"train %s/lenet-fashion.yaml --out r --seed abc", "--seed must be a whole number >= 0, got 'abc'"},
        {"train %s/lenet-fashion.yaml --out r --seed 99999999999999999999", "got '99999999999999999999'"},
        {"train %s/lenet-fashion.yaml --out r --checkpoint-every 2.5", "--checkpoint-every must be a whole number"},
        /* memory networks */
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --epochs abc", "--epochs must be a whole number >= 1"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --repeats -2", "--repeats must be a whole number >= 1"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --batch-size 0", "--batch-size must be a whole number"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --seed x", "--seed must be a whole number >= 0"},
        {"train %s/memn2n-babi.yaml --data d --task 1 --out r --steps 1e3", "--steps must be a whole number >= 1"},
        /* GAN, autoencoder, seq2seq, language model sampling */
        {"train %s/dcgan-fashion.yaml --out r --steps -1", "--steps must be a whole number >= 1, got '-1'"},
        {"train %s/autoencoder-fashion.yaml --out r --epochs 1.5", "--epochs must be a whole number >= 1, got '1.5'"},
        {"train %s/seq2seq-reverse.yaml --out r --seed ''", "--seed must be a whole number >= 0, got ''"},
        {"generate --checkpoint c --length -1", "--length must be a whole number >= 0, got '-1'"},
        {"generate --checkpoint c --temperature ''", "--temperature must be a number >= 0 (0 picks the likeliest), got ''"},
        {"generate --checkpoint c --temperature 1x", "--temperature must be a number >= 0 (0 picks the likeliest), got '1x'"},
        /* tools */
        {"bench W1 --steps 0", "--steps must be a whole number in [1, 10000000], got '0'"},
        {"bench W1 --warmup many", "--warmup must be a whole number in [0, 10000000], got 'many'"},
        {"bench W1 --steps 100000000000", "--steps must be a whole number in [1, 10000000]"}, /* crashed */
        {"bench --op matmul --shape 16x16x16junk", "--op matmul needs --shape MxNxK"},
        {"bench --op matmul --shape 16x16x16 --warmup 9", "--warmup does not apply to --op"},
        {"bench --op matmul --shape 16x16x16 --profile", "--profile does not apply to --op"},
        {"bench --op matmul --shape 16x16x16 W3", "W3 does not apply to --op"},
        {"bench --op matmul --shape 16x16x16 --steps 100", "--op times at most 64 calls"},
        {"check --backend ref --op nonexistent_op", "no registered op has 'nonexistent_op' in its name"},
        {"check --backend ref --trials x", "--trials must be a whole number in [1, 1000000], got 'x'"},
        {"check --backend ref --seed 12q", "--seed must be a whole number >= 0 (0x... for hex), got '12q'"},
        {"check --backend ref --seed ' 5'", "--seed must be a whole number >= 0 (0x... for hex), got ' 5'"},
        {"train %s/lenet-fashion.yaml --out r --epochs +3", "--epochs must be a whole number >= 1, got '+3'"},
        {"train %s/lenet-fashion.yaml --out r --steps ' 7'", "--steps must be a whole number >= 1, got ' 7'"},
        {"babi-gen --task 1 --out b --train 0", "--train must be a whole number in [1, 100000000], got '0'"},
        /* babi-gen's task and generate's temperature were read by strtoll/strtod, which skip blanks and take
         * '+' and hex: now as every other number */
        {"babi-gen --task ' 1' --out b", "babi-gen: unknown task ' 1' (expected 1..20 or all)"},
        {"babi-gen --task +1 --out b", "babi-gen: unknown task '+1'"},
        {"generate --checkpoint c --temperature ' 0.5'",
         "--temperature must be a number >= 0 (0 picks the likeliest), got ' 0.5'"},
        {"generate --checkpoint c --temperature 0x10", "got '0x10'"},
        {"generate --checkpoint c --temperature nan", "got 'nan'"},
    };
    expect_usage_errors(cases, sizeof cases / sizeof cases[0]);
}

/* A likely typo gets the name it is close to: a command, an option of the
 * command in the spec's mode, a spec or checkpoint file beside the one
 * named. Nothing close, no hint. */
static void test_typo_hints(void **state)
{
    (void)state;
    static const bad_case hinted[] = {
        {"trian %s/mlp-fashion.yaml", "unknown command 'trian'; did you mean 'train'? (`strata help` lists them)"},
        {"benhc W1", "did you mean 'bench'?"},
        {"memnet-explian --story 1", "did you mean 'memnet-explain'?"},
        {"train %s/lenet-fashion.yaml --out r --epoch 2", "unknown option '--epoch' (did you mean '--epochs'?)"},
        {"train %s/lenet-fashion.yaml --out r -epochs 2", "(did you mean '--epochs'?)"},
        {"bench W1 --stpes 3", "bench: unknown option '--stpes' (did you mean '--steps'?); `strata bench --help`"},
        {"train %s/memn2n-babi.yaml --out r --data d --taks 1", "(did you mean '--task'?)"},
        {"info --hepl", "(did you mean '--help'?)"},
        /* --opt=value is not a typo of --opt */
        {"train %s/lenet-fashion.yaml --out r --steps=3", "'--steps=3': give the value as the next argument (--steps 3)"},
    };
    expect_usage_errors(hinted, sizeof hinted / sizeof hinted[0]);

    /* far apart, or short: --checkpoint is 6 edits from --checkpoint-every, --seed 2 from --spec, --top 1 from --op */
    static const char *const plain[] = {"frobnicate",          "info --verbose", "bench W1 --bogus",
                                        "bench W1 --top 3",    "visualize --seed 1",
                                        "train t.yaml --out r --checkpoint c", "x"};
    tu_write_text(dir, "t.yaml", "model: {input: [2], layers: [{type: linear, out_features: 2}]}\n");
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
        assert_int_equal(tu_run_cli(dir, plain[k]), 2);
        char *err = tu_slurp(dir, "err");
        assert_non_null(err);
        if (strstr(err, "did you mean"))
            fail_msg("`strata %s` suggested a name far from it: %s", plain[k], err);
        free(err);
    }
    char *err = tu_slurp(dir, "err"); /* an unknown command: one line, not the whole usage */
    assert_non_null(err);
    assert_string_equal(err, "strata: error: unknown command 'x'; `strata help` lists the commands\n");
    free(err);

    /* a file that does not exist, with one of a close name beside it */
    char args[PATH_MAX + 64], want[PATH_MAX + 64];
    snprintf(args, sizeof args, "train %s/mlp-fashon.yaml --out r", models);
    snprintf(want, sizeof want, "strata: note: did you mean '%s/mlp-fashion.yaml'?", models);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, want);
    snprintf(args, sizeof args, "summary %s/lenet-fashoin.yaml", models);
    snprintf(want, sizeof want, "did you mean '%s/lenet-fashion.yaml'?", models);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, want);
    tu_write_text(dir, "checkpoint.safetensors", "not read");
    tu_expect_cli_err(dir, tu_run_cli(dir, "sample --checkpoint checkpoint.safetensor --out s.png"), 1,
                      "did you mean 'checkpoint.safetensors'?");
    /* a run directory of another kind given for a generator: said so (was "not a regular file") */
    char notgan[PATH_MAX];
    snprintf(notgan, sizeof notgan, "%s/notgan", dir);
    assert_int_equal(mkdir(notgan, 0755), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "sample --checkpoint notgan --out s.png"), 1,
                      "--checkpoint notgan: a directory without generator.safetensors, so not the run of a GAN");
    tu_expect_cli_err(dir, tu_run_cli(dir, "fid --classifier checkpoint.safetensors --generator notgan"), 1,
                      "--generator notgan: a directory without generator.safetensors");
    snprintf(args, sizeof args, "eval %s/mlp-fashion.yaml --checkpoint ./checkpoint.safetensor", models);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, "did you mean './checkpoint.safetensors'?");
    /* from a checkout's root, a spec named without its folder */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/models", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    tu_write_text(sub, "tiny.yaml", "model: {input: [2], layers: [{type: linear, out_features: 2}]}\n");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train tiny.yaml --out r"), 1,
                      "strata: note: did you mean 'models/tiny.yaml'?");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train tinny.yaml --out r"), 1, /* and a close name there */
                      "strata: note: did you mean 'models/tiny.yaml'?");
    /* named without its extension, there or beside */
    tu_expect_cli_err(dir, tu_run_cli(dir, "train tiny --out r"), 1, "strata: note: did you mean 'models/tiny.yaml'?");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train models/tiny --out r"), 1,
                      "strata: note: did you mean 'models/tiny.yaml'?");
    /* ... a spec's extension only: a checkpoint named so is not sent to the spec */
    tu_expect_cli_err(dir, tu_run_cli(dir, "eval models/tiny.yaml --checkpoint tiny"), 1, "checkpoint tiny: ");
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, "did you mean 'models/tiny.yaml'"))
        fail_msg("a missing checkpoint was pointed at a spec: %s", err);
    free(err);
    snprintf(args, sizeof args, "train %s/no-such-model.yaml --out r", models);
    assert_int_equal(tu_run_cli(dir, args), 1);
    err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (strstr(err, "did you mean"))
        fail_msg("a spec with no close name beside it got a hint: %s", err);
    free(err);
}

/* `strata check --seed 0` runs the cases of seed 0: the conformance runner took a seed of 0 for "the default"
 * and ran 0x5eed's under the name of --seed 0. */
static void test_check_seed_zero(void **state)
{
    (void)state;
    tu_expect_cli_ok(dir, tu_run_cli(dir, "check --backend ref --op relu --trials 1 --large 0 --seed 0"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    if (!strstr(out, ", seed 0x0\n"))
        fail_msg("check --seed 0 does not name seed 0:\n%s", out);
    free(out);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "check --backend ref --op relu --trials 1 --large 0"));
    out = tu_slurp(dir, "out");
    assert_non_null(out);
    if (!strstr(out, ", seed 0x5eed\n"))
        fail_msg("check without --seed does not run the default seed 0x5eed:\n%s", out);
    free(out);
}

/* sample and fid take a generator's (and a classifier's) spec from the
 * checkpoint; one that records none names the option that gives it, and a
 * file that cannot be read is not called spec-less. */
static void test_checkpoint_without_spec(void **state)
{
    (void)state;
    const float w[2] = {1, 2};
    char run[400];
    snprintf(run, sizeof run, "%s/run", dir);
    assert_int_equal(mkdir(run, 0755), 0);
    const tu_sft_tensor t[1] = {{"w", "F32", 1, {2}, w, sizeof w}};
    tu_write_sft(dir, "nospec.safetensors", t, 1);
    tu_expect_cli_err(dir, tu_run_cli(dir, "fid --classifier nospec.safetensors --generator nospec.safetensors"), 1,
                      "nospec.safetensors records no spec (metadata \"spec\") and has no spec.yaml beside it; give it "
                      "with --classifier-spec");
    tu_expect_cli_err(dir, tu_run_cli(dir, "fid --classifier nospec.safetensors --classifier-spec c.yaml "
                                           "--generator nospec.safetensors"),
                      1, "nospec.safetensors records no spec (metadata \"spec\") and has no spec.yaml beside it; give it "
                         "with --spec");
    /* a classifier's run records its spec as RUN/spec.yaml: fid takes it from there */
    tu_write_sft(dir, "run/checkpoint.safetensors", t, 1);
    tu_write_text(dir, "run/spec.yaml", "model: {input: [2], layers: [{type: linear, out_features: 2}]}\n");
    tu_expect_cli_err(dir, tu_run_cli(dir, "fid --classifier run --generator nospec.safetensors"), 1,
                      "nospec.safetensors records no spec (metadata \"spec\") and has no spec.yaml beside it; give it "
                      "with --spec");
    tu_expect_cli_err(dir, tu_run_cli(dir, "sample --checkpoint nospec.safetensors --out s.png"), 1,
                      "give it with --spec");
    tu_expect_cli_err(dir, tu_run_cli(dir, "sample --checkpoint absent.safetensors --out s.png"), 1,
                      "reading absent.safetensors: E_IO");
}

/* A model that cannot be an image classifier is refused before training
 * (it used to fail at the first step, after the run directory was made,
 * with the cross-entropy's message), and so are too few classes for the
 * labels and a data.classes list of another length. */
static void test_classifier_model_checked(void **state)
{
    (void)state;
    write_variant("few.yaml", "out_features: 10}", "out_features: 5}");
    write_variant("names.yaml", "Bag, Ankle boot]", "Bag]");
    write_variant("ok.yaml", "seed: 1", "seed: 1");
    write_variant("two.yaml", "out_features: 10}    # 5.weight (10, 512), 5.bias (10): logits",
                  "out_features: 10, name: logits}\n  outputs: [logits, \"1\"]");
    static const bad_case cases[] = {
        {"train few.yaml --out r --steps 1", "the training labels go up to 9, and the model gives 5 classes"},
        {"train names.yaml --out r --steps 1", "data.classes names 9 classes, the model gives 10"},
        {"train two.yaml --out r --steps 1", "it has several outputs (model.outputs)"},
        /* data settings that make the inputs Inf (an eval printed an accuracy of them, a crop overflowed) */
        {"train few.yaml --out r --steps 1 --set data.mean=1e39", "normalising the data (data.mean, data.std)"},
        {"train few.yaml --out r --steps 1 --set data.scale=1e-40", "divided by the scale 1e-40 is too large for f32"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        tu_expect_cli_err(dir, tu_run_cli(dir, cases[k].args), 1, cases[k].needle);
        char *made = tu_slurp(dir, "r/metrics.jsonl");
        if (made)
            fail_msg("'%s' made a run before it was refused", cases[k].args);
    }
    tu_expect_cli_err(dir, tu_run_cli(dir, "train ok.yaml --out r --steps 1 --set "
                                           "data.augment.crop_padding=9223372036854775807"),
                      1, "crop_padding 9223372036854775807 is more than the images' shorter side (28)");
    /* channels-last images (numpy's (N, H, W, C)) with augmentation: refused, not flipped along their 3 colours,
     * also for a model that takes them flat (its layout check does not see the order) */
    float x[4 * 6 * 6 * 3];
    for (size_t k = 0; k < sizeof x / sizeof *x; k++)
        x[k] = (float)(k % 7);
    const int64_t y[4] = {0, 1, 0, 1};
    const tu_sft_tensor hwc[2] = {
        {"x", "F32", 4, {4, 6, 6, 3}, x, sizeof x},
        {"y", "I64", 1, {4}, y, sizeof y},
    };
    tu_write_sft(dir, "hwc.safetensors", hwc, 2);
    tu_write_text(dir, "hwc.yaml",
                  "data: {format: safetensors, train: {file: hwc.safetensors, inputs: x, labels: y}, "
                  "augment: {hflip: 0.5}}\n"
                  "model: {input: [108], layers: [{type: linear, out_features: 2}]}\n"
                  "optimizer: {type: sgd}\ntrain: {batch_size: 2}\n");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train hwc.yaml --out r --steps 1 --backend ref"), 1,
                      "the data set's examples are (6, 6, 3), channels last as it looks");
    /* ... but (27, 2, 2), 27 planes of a 2 x 2 board, is channels first and flips */
    const tu_sft_tensor planes[2] = {
        {"x", "F32", 4, {4, 27, 2, 2}, x, sizeof x},
        {"y", "I64", 1, {4}, y, sizeof y},
    };
    tu_write_sft(dir, "hwc.safetensors", planes, 2);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train hwc.yaml --out r2 --steps 1 --backend ref --quiet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_without_spec),
        cmocka_unit_test(test_check_seed_zero),
        cmocka_unit_test(test_classifier_model_checked),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_prime_like_option),
        cmocka_unit_test(test_typo_hints),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_set_yaml_forms),
        cmocka_unit_test(test_help_without_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
