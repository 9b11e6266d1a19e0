/*
 * cmd_memnet.c - question answering with a memory network (data.format:
 * babi; docs/memnet.md):
 *
 *   strata train SPEC --data DIR --task N|all --out RUN [--steps N] [--checkpoint-every N]
 *   strata train SPEC --resume RUN [--steps N] [--checkpoint-every N]
 *   strata eval SPEC --checkpoint RUN/checkpoint.safetensors --data DIR --task N|all [--json]
 *   strata memnet-explain --checkpoint FILE --data DIR --task N --story S
 *
 * DIR holds bAbI files named as the official ones, qa{N}_{name}_train.txt
 * and qa{N}_{name}_test.txt (or DIR/en/...). The vocabulary is every word
 * of the chosen tasks' training and test files plus each answer as one
 * token ("n,w"), sorted, after id 0, the nil word that pads sentences and
 * empty memory slots. A question's memory is the last M statements of its
 * story before it, slot 0 the most recent (the temporal encoding's index).
 *
 * The recipe (Sukhbaatar et al. 2015, section 4.2): SGD, gradient norm
 * clipped, learning rate decayed every data.lr_decay_every epochs, a
 * fraction data.val_fraction of the training questions held out; linear
 * start (the memory softmaxes removed, learning rate data.linear_start_lr)
 * for data.linear_start epochs (a fixed count, as in the authors' code; the
 * paper's text ends it when the validation loss stops falling); random noise: while training, an empty memory slot is inserted
 * before each statement with probability data.random_noise, only where the
 * rest of the story still fits: the noise never drops a statement (a story
 * as long as the memory gets no blanks).
 *
 * Checkpoints: RUN/checkpoint.safetensors at every epoch end (and every
 * --checkpoint-every steps) holds the model and optimizer in training with
 * the position in train.state (its extra: the run of the repeats, the
 * shuffling and noise generator, the best run so far) and the order of the
 * training questions (memnet.order: the shuffles permute it epoch after
 * epoch); the best run so far is in RUN/best.safetensors. Between runs and
 * at the end, checkpoint.safetensors is the best model, the one eval reads.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"

#define MN_TASKS 20
#define MN_MAX_WORD 64

typedef struct {
    const char *spec_path, *out_dir, *checkpoint, *backend, *data_dir, *task_arg;
    int64_t epochs, seed, batch, story, repeats;
    int64_t steps;          /* train: stop after this many optimizer steps (every run counted); 0: never */
    train_resume_args ckpt; /* train: --resume, --checkpoint-every */
    int have_seed, json, quiet, detect_anomaly;
} mn_args;

/* Sorted words; id 0 is the nil word "<nil>". */
typedef struct {
    char **w;
    int64_t n, cap;
} mn_vocab;

/* Vectorised questions. */
typedef struct {
    int64_t n, M, J, Jq;
    int32_t *ctx;     /* n x M x J word ids, slot 0 the most recent statement */
    int32_t *n_ctx;   /* statements in memory (<= M) */
    int32_t *query;   /* n x Jq */
    int32_t *answer;  /* n */
    int32_t *task;    /* n */
    int64_t *story;   /* n: story index in its file */
    int64_t unknown;  /* words not in the vocabulary (read as nil) */
    int64_t truncated; /* sentences longer than J words */
    int64_t dropped;   /* statements older than the memory's M, left out */
} mn_set;

typedef struct {
    int tasks[MN_TASKS];
    int n_tasks;
    strata_babi *train[MN_TASKS], *test[MN_TASKS];
    char *train_path[MN_TASKS], *test_path[MN_TASKS]; /* for messages */
} mn_files;

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *model;
    strata_optimizer *opt;
    strata_tensor *softmax; /* the layer's linear-start switch (borrowed) */
    const char *layer;
    mn_vocab vocab;
    int64_t M, J, Jq, d;
    char attr[6][32]; /* the memn2n layer's values of mn_layer_keys, as the spec gives them (or their defaults) */
    int64_t M_spec, M_data; /* train: data.memory_size and the longest story; M is the smaller */
    dist_host dist;         /* a data-parallel run's host copies (dist.h) */
} mn_ctx;

/* The memn2n attributes besides the sizes that change what a trained model
 * computes, with the layer's defaults (plugins/memnet/memn2n_layer.c). The
 * checkpoint records them (memnet.hops, ...), and eval and explain refuse a
 * spec that gives others: encoding: bow read back as position loaded
 * without complaint and scored wrong. */
static const struct {
    const char *name, *dflt;
    int is_int;
} mn_layer_keys[6] = {
    {"hops", "3", 1},        {"tying", "adjacent", 0},  {"encoding", "position", 0},
    {"temporal", "1", 1},    {"mask_empty", "0", 1},    {"padding_idx", "0", 1},
};

static uint64_t mn_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double mn_unit(uint64_t *s)
{
    return (double)(mn_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Why this file's own last step failed where the library holds no message
 * (building a checkpoint's metadata); said by mn_fail instead of
 * strata_last_error(), which would be empty or stale. */
static char mn_why[256];

/* cli_fail, or mn_why when it is set. */
static int mn_fail(const char *what, strata_status rc)
{
    if (!mn_why[0])
        return cli_fail(what, rc);
    fprintf(stderr, "strata: error: %s: %s\n", what, mn_why);
    return 1;
}

/* ---- arguments -------------------------------------------------------------- */

enum { MN_TRAIN = 1, MN_EVAL = 2, MN_EXPLAIN = 4 };

/* @p mode: the command (train, eval or memnet-explain) whose options are taken. */
static int mn_parse(int argc, char **argv, mn_args *a, unsigned mode)
{
    memset(a, 0, sizeof *a);
    a->story = -1;
    const cli_opt opts[] = {
        {.name = "--data", .type = CLI_STRING, .dst = &a->data_dir, .value = "DIR",
         .help = "the bAbI files (qaN_*_train.txt, qaN_*_test.txt), e.g. from strata babi-gen"},
        {.name = "--task", .type = CLI_STRING, .dst = &a->task_arg, .value = "N|all", .modes = MN_TRAIN,
         .help = "a task, a list (1,2,3) or all: joint training over every task"},
        {.name = "--task", .type = CLI_STRING, .dst = &a->task_arg, .value = "N|all", .modes = MN_EVAL,
         .help = "a task, a list (1,2,3) or all: the tasks whose test files are scored"},
        {.name = "--task", .type = CLI_STRING, .dst = &a->task_arg, .value = "N", .modes = MN_EXPLAIN,
         .help = "the task whose test story is shown"},
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .modes = MN_TRAIN,
         .help = "the run directory: checkpoint.safetensors, metrics.jsonl"},
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE",
         .modes = MN_EVAL | MN_EXPLAIN, .help = "the trained model (RUN/checkpoint.safetensors, or RUN)",
         .in_dir = "checkpoint.safetensors"},
        {.name = "--spec", .type = CLI_STRING, .dst = &a->spec_path, .value = "SPEC", .modes = MN_EVAL | MN_EXPLAIN,
         .help = "the model spec (default: RUN/spec.yaml beside the checkpoint, else the one it records)"},
        {.name = "--story", .type = CLI_INT, .dst = &a->story, .value = "S", .lo = 1, .hi = LLONG_MAX,
         .modes = MN_EXPLAIN, .help = "the 1-based story of the task's test file"},
        {.name = "--epochs", .type = CLI_INT, .dst = &a->epochs, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = MN_TRAIN, .help = "epochs per run (default: the spec's, 100)"},
        {.name = "--repeats", .type = CLI_INT, .dst = &a->repeats, .value = "R", .lo = 1, .hi = LLONG_MAX,
         .modes = MN_TRAIN, .help = "runs from different initialisations; the best is kept"},
        {.name = "--batch-size", .type = CLI_INT, .dst = &a->batch, .value = "B", .lo = 1, .hi = LLONG_MAX,
         .modes = MN_TRAIN, .help = "questions per batch (default: the spec's, 32)"},
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .given = &a->have_seed, .modes = MN_TRAIN, .help = "initialisation, shuffling and noise"},
        {.name = "--steps", .type = CLI_INT, .dst = &a->steps, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = MN_TRAIN, .help = "stop after N optimizer steps, every run counted"},
        CLI_SET_OPTION(0),
        CLI_RESUME_OPTIONS(&a->ckpt, MN_TRAIN),
        CLI_BACKEND_OPTION(&a->backend),
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .modes = MN_EVAL,
         .help = "{\"tasks\": {\"1\": error, ...}, \"mean\": error} instead of the table"},
        {.name = "--quiet", .type = CLI_FLAG, .dst = &a->quiet, .modes = MN_TRAIN, .help = "no progress lines"},
        CLI_DETECT_ANOMALY_OPTION(&a->detect_anomaly, MN_TRAIN),
        {0},
    };
    const cli_command cmds[] = {
        {.name = "train", .mode = MN_TRAIN, .positional = &a->spec_path, .opts = opts,
         .synopsis = "SPEC --data DIR --task N|all --out DIR [options]\nSPEC --resume DIR [options]",
         .about = "Trains a memory network (data.format: babi) on bAbI tasks: single-task or joint.",
         .notes = "--resume continues with the run's data, tasks and recipe (docs/memnet.md)."},
        {.name = "eval", .mode = MN_EVAL, .positional = &a->spec_path, .opts = opts,
         .synopsis = "SPEC --checkpoint FILE --data DIR --task N|all [options]",
         .about = "Test error of a memory network per bAbI task, and the mean."},
        {.name = "memnet-explain", .mode = MN_EXPLAIN, .positional = &a->spec_path, .opts = opts,
         .synopsis = "--checkpoint FILE --data DIR --task N --story S [options]",
         .about = "A test story with each hop's attention over its sentences (the paper's Figure 2)."},
    };
    const cli_command *c = &cmds[mode == MN_TRAIN ? 0 : mode == MN_EVAL ? 1 : 2];
    int r = cli_parse(c, argc, argv);
    if (r)
        return r;
    if (mode == MN_TRAIN) {
        if ((r = cli_require(c, a->spec_path, "a model spec")) || (r = train_resume_finish(&a->ckpt, &a->out_dir)))
            return r;
        if (a->ckpt.resume) /* the run's data and tasks unless given */
            return 0;
        if ((r = cli_require(c, a->out_dir, "--out DIR (or --resume DIR)")))
            return r;
    } else if ((r = cli_require(c, a->checkpoint, "--checkpoint FILE"))) {
        return r;
    }
    if ((r = cli_require(c, a->data_dir, "--data DIR")) || (r = cli_require(c, a->task_arg, mode == MN_EXPLAIN ? "--task N" : "--task N|all")))
        return r;
    return mode == MN_EXPLAIN && a->story < 1 ? cli_require(c, NULL, "--story S") : 0;
}

/* "3" -> {3}; "all" -> 1..20; "1,2,3" -> {1, 2, 3}. Only digits and single
 * commas: strtol's leading blanks and '+' and an empty item ("1,") are
 * refused, and so is a repeated task, which would have trained on every
 * question twice (its validation twins in the training set) as a joint model. */
static int mn_parse_tasks(const char *arg, mn_files *f, int one)
{
    f->n_tasks = 0;
    const char *forms = one ? "" : ", a list like 1,2,3, or all"; /* memnet-explain shows one task */
    if (!arg) {
        fprintf(stderr, "strata: error: --task N%s is required (N in 1..%d%s)\n", one ? "" : "|all", MN_TASKS,
                one ? "" : ", or a list like 1,2,3");
        return 2;
    }
    if (!strcmp(arg, "all") && !one) {
        for (int t = 1; t <= MN_TASKS; t++)
            f->tasks[f->n_tasks++] = t;
        return 0;
    }
    for (const char *p = arg;; p++) {
        int t = 0, digits = 0;
        for (; *p >= '0' && *p <= '9' && t <= MN_TASKS; p++, digits++)
            t = t * 10 + (*p - '0');
        if (!digits || t < 1 || t > MN_TASKS || (*p && (*p != ',' || one))) {
            fprintf(stderr, "strata: error: --task '%s': expected a task number in 1..%d%s\n", arg, MN_TASKS, forms);
            return 2;
        }
        for (int k = 0; k < f->n_tasks; k++)
            if (f->tasks[k] == t) {
                fprintf(stderr, "strata: error: --task '%s': task %d is listed twice\n", arg, t);
                return 2;
            }
        f->tasks[f->n_tasks++] = t;
        if (!*p)
            return 0;
    }
}

/* ---- files ------------------------------------------------------------------ */

/* The file qa{task}_*_{split}.txt in @p dir or @p dir/en into @p out. Two
 * that match in one directory are an error naming both: readdir's order
 * would have picked one at random. */
static int mn_find_file(const char *dir, int task, const char *split, char *out, size_t size)
{
    char prefix[32], suffix[32], sub[4096], first[256];
    snprintf(prefix, sizeof prefix, "qa%d_", task);
    snprintf(suffix, sizeof suffix, "_%s.txt", split);
    const size_t lp = strlen(prefix), ls = strlen(suffix);
    for (int pass = 0; pass < 2; pass++) {
        snprintf(sub, sizeof sub, pass ? "%s/en" : "%s", dir);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *e;
        int found = 0;
        while ((e = readdir(d))) {
            const size_t n = strlen(e->d_name);
            if (strncmp(e->d_name, prefix, lp) != 0 || n <= ls || strcmp(e->d_name + n - ls, suffix) != 0)
                continue;
            if (found) {
                const int lt = strcmp(first, e->d_name) < 0;
                fprintf(stderr, "strata: error: two bAbI %s files for task %d in %s: %s and %s; keep one\n", split,
                        task, sub, lt ? first : e->d_name, lt ? e->d_name : first);
                closedir(d);
                return 1;
            }
            snprintf(first, sizeof first, "%s", e->d_name);
            found = snprintf(out, size, "%s/%s", sub, e->d_name) < (int)size;
        }
        closedir(d);
        if (found)
            return 0;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) { /* babi-gen --out FILE would fail: no hint to it */
        fprintf(stderr, "strata: error: --data %s is not a directory: give the directory of the bAbI files "
                        "(qa1_*_train.txt, ...)\n",
                dir);
        return 1;
    }
    fprintf(stderr,
            "strata: error: no bAbI %s file for task %d in %s (expected %s*%s, as in tasks_1-20_v1-2/en; "
            "`strata babi-gen --task %d --out %s` writes one)\n",
            split, task, dir, prefix, suffix, task, dir);
    return 1;
}

/* Training's files must be UTF-8: their words become the vocabulary, which
 * the checkpoint holds as JSON text, and jansson refuses other bytes (that
 * failed at the first checkpoint, after an epoch, as a bare E_NOMEM). 0, or
 * 1 after a message naming file, line and byte. */
static int mn_check_utf8(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "strata: error: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long no = 0;
    int r = 0;
    while (!r && (n = getline(&line, &cap, f)) > 0) {
        no++;
        const size_t at = cli_utf8_prefix(line, (size_t)n);
        if (at < (size_t)n) {
            fprintf(stderr, "strata: error: %s:%lld: byte %zu (0x%02X) is not UTF-8; the vocabulary goes into the "
                            "checkpoint as JSON text, which must be (convert the file, e.g. iconv -f latin1 -t "
                            "utf-8)\n",
                    path, no, at + 1, (unsigned char)line[at]);
            r = 1;
        }
    }
    free(line);
    fclose(f);
    return r;
}

static int mn_load_files(mn_files *f, const char *dir, int need_train)
{
    char path[4096];
    for (int k = 0; k < f->n_tasks; k++) {
        for (int split = need_train ? 0 : 1; split < 2; split++) {
            strata_babi **slot = split ? &f->test[k] : &f->train[k];
            char **slot_path = split ? &f->test_path[k] : &f->train_path[k];
            if (mn_find_file(dir, f->tasks[k], split ? "test" : "train", path, sizeof path))
                return 1;
            if (!(*slot_path = strdup(path)))
                return cli_fail("reading the bAbI data", STRATA_E_NOMEM);
            strata_status rc = strata_babi_load(path, slot);
            if (rc)
                return cli_fail("reading the bAbI data", rc);
            if (need_train && mn_check_utf8(path)) /* training: every chosen file gives words */
                return 1;
        }
    }
    return 0;
}

/* Files without questions (valid bAbI sets): a training file is an error,
 * there is nothing to train its task on; a test file leaves its task
 * unscored, with a warning. 1 after a message. */
static int mn_check_empty(const mn_files *f)
{
    for (int k = 0; k < f->n_tasks; k++) {
        if (f->train[k] && strata_babi_question_count(f->train[k]) == 0) {
            fprintf(stderr, "strata: error: %s holds no questions: nothing to train task %d on\n", f->train_path[k],
                    f->tasks[k]);
            return 1;
        }
        if (f->test[k] && strata_babi_question_count(f->test[k]) == 0 && dist_is_root())
            fprintf(stderr, "strata: warning: %s holds no questions: task %d is not scored\n", f->test_path[k],
                    f->tasks[k]);
    }
    return 0;
}

static void mn_files_free(mn_files *f)
{
    for (int k = 0; k < MN_TASKS; k++) {
        strata_babi_destroy(f->train[k]);
        strata_babi_destroy(f->test[k]);
        free(f->train_path[k]);
        free(f->test_path[k]);
    }
}

/* ---- vocabulary ------------------------------------------------------------- */

static int mn_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mn_vocab_add(mn_vocab *v, const char *w)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 256;
        char **nw = realloc(v->w, sizeof(char *) * (size_t)cap);
        if (!nw)
            return 1;
        v->w = nw, v->cap = cap;
    }
    if (!(v->w[v->n] = strdup(w)))
        return 1;
    v->n++;
    return 0;
}

static void mn_vocab_free(mn_vocab *v)
{
    for (int64_t k = 0; k < v->n; k++)
        free(v->w[k]);
    free(v->w);
    memset(v, 0, sizeof *v);
}

/* Sorts words 1.. and drops duplicates. */
static void mn_vocab_finish(mn_vocab *v)
{
    if (v->n < 2)
        return;
    qsort(v->w + 1, (size_t)(v->n - 1), sizeof(char *), mn_cmp);
    int64_t o = 1;
    for (int64_t k = 1; k < v->n; k++) {
        if (o > 1 && !strcmp(v->w[o - 1], v->w[k]))
            free(v->w[k]);
        else
            v->w[o++] = v->w[k];
    }
    v->n = o;
}

static int32_t mn_word_id(const mn_vocab *v, const char *w)
{
    int64_t lo = 1, hi = v->n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        int c = strcmp(v->w[mid], w);
        if (!c)
            return (int32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

static int mn_vocab_from_set(mn_vocab *v, const strata_babi *b)
{
    for (int64_t i = 0; i < strata_babi_statement_count(b); i++) {
        int32_t n = 0;
        const char *const *w = strata_babi_statement(b, i, &n);
        for (int32_t k = 0; k < n; k++)
            if (mn_vocab_add(v, w[k]))
                return 1;
    }
    for (int64_t i = 0; i < strata_babi_question_count(b); i++) {
        strata_babi_question q = {.struct_size = sizeof q};
        if (strata_babi_question_get(b, i, &q))
            return 1;
        for (int32_t k = 0; k < q.n_words; k++)
            if (mn_vocab_add(v, q.words[k]))
                return 1;
        if (mn_vocab_add(v, q.answer))
            return 1;
    }
    return 0;
}

/* Metadata value @p key of checkpoint @p ck, whatever its size, into *out (malloc'ed). */
static strata_status mn_meta_alloc(const char *ck, const char *key, char **out)
{
    size_t size = 1 << 16;
    strata_status rc;
    *out = NULL;
    while (1) {
        free(*out);
        if (!(*out = malloc(size)))
            return STRATA_E_NOMEM;
        rc = strata_checkpoint_metadata(ck, key, *out, size);
        if (rc != STRATA_E_INVALID || size > (1u << 26))
            break;
        size *= 4;
    }
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Words 1.. as the JSON text of an array of strings (the checkpoint's
 * memnet.words): an answer keeps its spaces ("living room", "x , y"),
 * which the space-joined memnet.vocab of earlier checkpoints lost. */
static char *mn_vocab_json(const mn_vocab *v)
{
    json_t *arr = json_array();
    int bad = !arr;
    for (int64_t k = 1; !bad && k < v->n; k++) {
        json_t *w = json_string(v->w[k]); /* NULL for bytes that are not UTF-8, or no memory */
        if (!w && cli_utf8_prefix(v->w[k], strlen(v->w[k])) < strlen(v->w[k])) {
            snprintf(mn_why, sizeof mn_why, "the word '%.60s' is not UTF-8, and the vocabulary is saved as JSON text",
                     v->w[k]);
            json_decref(arr);
            return NULL;
        }
        bad = json_array_append_new(arr, w) != 0;
    }
    char *s = bad ? NULL : json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!s)
        snprintf(mn_why, sizeof mn_why, "out of memory saving the vocabulary");
    return s;
}

/* The vocabulary of checkpoint @p ck into @p v (empty): memnet.words, or
 * the space-separated memnet.vocab of checkpoints written before it. 0, or
 * 1 after a message. */
static int mn_vocab_read(const char *ck, mn_vocab *v)
{
    char *text = NULL;
    strata_status rc = mn_meta_alloc(ck, "memnet.words", &text);
    const int old = rc == STRATA_E_NOT_FOUND;
    if (old)
        rc = mn_meta_alloc(ck, "memnet.vocab", &text);
    if (rc)
        return cli_fail("reading the checkpoint's vocabulary (memnet.words)", rc);
    int r = mn_vocab_add(v, "<nil>") ? 2 : 0; /* 1: malformed, 2: out of memory */
    if (old) {
        for (char *tok = strtok(text, " "); !r && tok; tok = strtok(NULL, " "))
            r = mn_vocab_add(v, tok) ? 2 : 0;
    } else if (!r) {
        json_error_t err;
        json_t *arr = json_loads(text, 0, &err), *w;
        size_t k;
        r = json_is_array(arr) ? 0 : 1;
        json_array_foreach(arr, k, w) {
            /* sorted and distinct, as written: word ids are found by binary search */
            const char *word = json_string_value(w);
            if (!word || (v->n > 1 && strcmp(v->w[v->n - 1], word) >= 0)) {
                r = 1;
                break;
            }
            if (mn_vocab_add(v, word)) {
                r = 2;
                break;
            }
        }
        json_decref(arr);
    }
    free(text);
    if (r == 1)
        fprintf(stderr, "strata: error: %s: memnet.words is not a sorted JSON array of distinct words\n", ck);
    else if (r == 2)
        fprintf(stderr, "strata: error: out of memory reading the vocabulary of %s\n", ck);
    return r != 0;
}

/* ---- vectorising ------------------------------------------------------------ */

/* Longest statement, question and memory over @p sets. */
static void mn_sizes(strata_babi *const *sets, int n, int64_t *J, int64_t *Jq, int64_t *M)
{
    *J = *Jq = *M = 1;
    for (int s = 0; s < n; s++) {
        const strata_babi *b = sets[s];
        if (!b)
            continue;
        for (int64_t i = 0; i < strata_babi_statement_count(b); i++) {
            int32_t nw = 0;
            strata_babi_statement(b, i, &nw);
            *J = nw > *J ? nw : *J;
        }
        for (int64_t i = 0; i < strata_babi_question_count(b); i++) {
            strata_babi_question q = {.struct_size = sizeof q};
            if (strata_babi_question_get(b, i, &q))
                continue;
            *Jq = q.n_words > *Jq ? q.n_words : *Jq;
            *M = q.context_count > *M ? q.context_count : *M;
        }
    }
}

/* Bytes of @p a x @p b x @p c elements of @p elem bytes into *out; 1 when
 * that does not fit a size_t (a huge --batch-size, or sizes from a crafted
 * checkpoint), where the wrapped product would under-allocate. */
static int mn_bytes(size_t elem, int64_t a, int64_t b, int64_t c, size_t *out)
{
    return a < 0 || b < 0 || c < 0 || __builtin_mul_overflow(elem, (size_t)a, out) ||
           __builtin_mul_overflow(*out, (size_t)b, out) || __builtin_mul_overflow(*out, (size_t)c, out);
}

/* realloc of @p p to @p a x @p b x @p c elements of @p elem bytes; NULL on overflow or failure. */
static void *mn_realloc(void *p, size_t elem, int64_t a, int64_t b, int64_t c)
{
    size_t n;
    return mn_bytes(elem, a, b, c, &n) || !n ? NULL : realloc(p, n);
}

static void mn_set_free(mn_set *s)
{
    free(s->ctx);
    free(s->n_ctx);
    free(s->query);
    free(s->answer);
    free(s->task);
    free(s->story);
    memset(s, 0, sizeof *s);
}

/* Word ids of @p n words into row @p out of @p J slots (nil-padded). */
static void mn_encode_words(mn_set *s, const mn_vocab *v, const char *const *w, int32_t n, int64_t J, int32_t *out)
{
    if (n > J)
        s->truncated++;
    for (int64_t k = 0; k < J; k++) {
        out[k] = 0;
        if (k < n && !(out[k] = mn_word_id(v, w[k])))
            s->unknown++;
    }
}

/* Appends every question of @p b (task @p task) to @p s. */
static int mn_set_add(mn_set *s, const mn_vocab *v, const strata_babi *b, int task)
{
    const int64_t nq = strata_babi_question_count(b), n = s->n + nq, M = s->M, J = s->J, Jq = s->Jq;
    if (!nq) /* an empty file is a valid set; realloc to 0 bytes would free the arrays */
        return 0;
    int32_t *ctx = mn_realloc(s->ctx, sizeof(int32_t), n, M, J);
    if (ctx)
        s->ctx = ctx;
    int32_t *nc = mn_realloc(s->n_ctx, sizeof(int32_t), n, 1, 1);
    if (nc)
        s->n_ctx = nc;
    int32_t *qu = mn_realloc(s->query, sizeof(int32_t), n, Jq, 1);
    if (qu)
        s->query = qu;
    int32_t *an = mn_realloc(s->answer, sizeof(int32_t), n, 1, 1);
    if (an)
        s->answer = an;
    int32_t *ta = mn_realloc(s->task, sizeof(int32_t), n, 1, 1);
    if (ta)
        s->task = ta;
    int64_t *st = mn_realloc(s->story, sizeof(int64_t), n, 1, 1);
    if (st)
        s->story = st;
    if (!ctx || !nc || !qu || !an || !ta || !st)
        return 1;
    for (int64_t i = 0; i < nq; i++) {
        strata_babi_question q = {.struct_size = sizeof q};
        if (strata_babi_question_get(b, i, &q))
            return 1;
        const int64_t r = s->n + i, used = q.context_count < M ? q.context_count : M;
        int32_t *c = s->ctx + r * M * J;
        memset(c, 0, sizeof(int32_t) * (size_t)(M * J));
        for (int64_t slot = 0; slot < used; slot++) {
            int32_t nw = 0;
            const char *const *w = strata_babi_statement(b, q.context_first + q.context_count - 1 - slot, &nw);
            mn_encode_words(s, v, w, nw, J, c + slot * J);
        }
        s->n_ctx[r] = (int32_t)used;
        s->dropped += q.context_count - used;
        mn_encode_words(s, v, q.words, q.n_words, Jq, s->query + r * Jq);
        if (!(s->answer[r] = mn_word_id(v, q.answer)))
            s->unknown++;
        s->task[r] = task;
        s->story[r] = q.story;
    }
    s->n = n;
    return 0;
}

/* Batch @p idx[0..B) of @p s into host arrays story (B, M, J), query (B, Jq),
 * answer (B). With @p noise > 0, an empty slot goes before each statement
 * with that probability (random noise, training only). */
static void mn_batch(const mn_set *s, const int64_t *idx, int64_t B, double noise, uint64_t *rng, int64_t *story,
                     int64_t *query, int64_t *answer)
{
    const int64_t M = s->M, J = s->J, Jq = s->Jq;
    memset(story, 0, sizeof(int64_t) * (size_t)(B * M * J));
    for (int64_t b = 0; b < B; b++) {
        const int64_t r = idx[b];
        const int32_t *c = s->ctx + r * M * J;
        int64_t slot = 0;
        for (int64_t k = 0; k < s->n_ctx[r] && slot < M; k++) {
            /* a blank only where the statements still to come fit after it:
             * noise never pushes a statement out of the memory */
            if (noise > 0.0 && mn_unit(rng) < noise && M - slot > s->n_ctx[r] - k)
                slot++;
            for (int64_t j = 0; j < J; j++)
                story[(b * M + slot) * J + j] = c[k * J + j];
            slot++;
        }
        for (int64_t j = 0; j < Jq; j++)
            query[b * Jq + j] = s->query[r * Jq + j];
        answer[b] = s->answer[r];
    }
}

/* ---- the model ------------------------------------------------------------------ */

static void mn_ctx_free(mn_ctx *c)
{
    mn_vocab_free(&c->vocab);
    strata_optimizer_destroy(c->opt);
    strata_model_destroy(c->model);
    strata_spec_destroy(c->spec);
    strata_runtime_destroy(c->rt);
    free(c->dist.buf);
    memset(c, 0, sizeof *c);
}

/* Runtime, device and spec (seeded from the spec or --seed). */
static int mn_open(mn_ctx *c, const mn_args *a, const char *spec_path)
{
    strata_status rc = cli_runtime_create(0, &c->rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (a->detect_anomaly)
        strata_set_detect_anomaly(c->rt, 1);
    if (cli_spec_load(c->rt, spec_path, &c->spec))
        return 1;
    int64_t seed = 1;
    strata_spec_get_int(c->spec, "seed", 1, &seed);
    strata_runtime_seed(c->rt, (uint64_t)(a->have_seed ? a->seed : seed));
    strata_spec_get_string(c->spec, "data.layer", "mn", &c->layer);
    if ((rc = cli_device_get(c->rt, a->backend, &c->dev)))
        return cli_fail("choosing a device", rc);
    return 0;
}

/* Index of layer c->layer in c->spec's model.layers; -1 when there is none
 * (mn_build says so). */
static int mn_layer_index(const mn_ctx *c)
{
    for (int i = 0;; i++) {
        char path[64];
        const char *v = NULL;
        snprintf(path, sizeof path, "model.layers.%d.type", i);
        if (strata_spec_get_string(c->spec, path, NULL, &v) || !v)
            return -1;
        snprintf(path, sizeof path, "model.layers.%d.name", i);
        if (!strata_spec_get_string(c->spec, path, NULL, &v) && v && !strcmp(v, c->layer))
            return i;
    }
}

/* c->attr from the spec: the values of mn_layer_keys, defaults where absent. */
static void mn_layer_attrs(mn_ctx *c)
{
    const int li = mn_layer_index(c);
    for (int k = 0; k < 6; k++) {
        char path[96];
        snprintf(path, sizeof path, "model.layers.%d.%s", li, mn_layer_keys[k].name);
        snprintf(c->attr[k], sizeof c->attr[k], "%s", mn_layer_keys[k].dflt);
        if (li < 0)
            continue;
        if (mn_layer_keys[k].is_int) {
            int64_t v = 0;
            if (!strata_spec_get_int(c->spec, path, atoll(mn_layer_keys[k].dflt), &v))
                snprintf(c->attr[k], sizeof c->attr[k], "%lld", (long long)v);
        } else {
            const char *v = NULL;
            if (!strata_spec_get_string(c->spec, path, NULL, &v) && v)
                snprintf(c->attr[k], sizeof c->attr[k], "%s", v);
        }
    }
    strata_clear_error(); /* absent keys and layers: not errors */
}

/* Eval and explain: the spec's memn2n layer must compute what checkpoint
 * @p ck was trained as (its memnet.hops, ...; one written before they were
 * recorded has none, and loads as before). 0, or 1 after a message naming
 * the attribute and both values. */
static int mn_check_layer(const mn_ctx *c, const char *ck)
{
    const int li = mn_layer_index(c);
    if (li < 0) /* no such layer: mn_build says so */
        return 0;
    int recorded = 0;
    for (int k = 0; k < 6; k++) {
        char key[64], run[64];
        snprintf(key, sizeof key, "memnet.%s", mn_layer_keys[k].name);
        strata_status rc = strata_checkpoint_metadata(ck, key, run, sizeof run);
        if (rc == STRATA_E_NOT_FOUND) {
            strata_clear_error();
            continue;
        }
        recorded++;
        if (rc)
            return cli_fail("reading the checkpoint's memory network metadata", rc);
        if (strcmp(run, c->attr[k]) != 0) {
            fprintf(stderr, "strata: error: %s was trained with %s %s in layer '%s', the spec %s has %s %s: give the "
                            "run's spec (its spec.yaml) or --set model.layers.%d.%s=%s\n",
                    ck, mn_layer_keys[k].name, run, c->layer, strata_spec_path(c->spec), mn_layer_keys[k].name,
                    c->attr[k], li, mn_layer_keys[k].name, run);
            return 1;
        }
    }
    if (!recorded) /* the weights' names and shapes still check hops, tying and temporal */
        fprintf(stderr, "strata: warning: %s records none of the memn2n layer's attributes (a checkpoint written "
                        "before 2026-12-03): its encoding, mask_empty and padding_idx are taken from the spec %s "
                        "unchecked\n",
                ck, strata_spec_path(c->spec));
    return 0;
}

/* Builds the model for the sizes in @p c (and the optimizer when training). */
static int mn_build(mn_ctx *c, int need_opt)
{
    strata_status rc;
    if ((rc = strata_spec_set_input_shape(c->spec, "story", 2, (const int64_t[]){c->M, c->J})) ||
        (rc = strata_spec_set_input_shape(c->spec, "query", 1, (const int64_t[]){c->Jq})) ||
        (rc = strata_spec_set_layer_int(c->spec, c->layer, "vocab_size", c->vocab.n)) ||
        (c->d > 0 && (rc = strata_spec_set_layer_int(c->spec, c->layer, "embedding_dim", c->d))))
        return cli_fail("fitting the spec to the data (a memory network spec has inputs story and query and a "
                        "memn2n layer named by data.layer)",
                        rc);
    if ((rc = strata_spec_build_model(c->spec, c->dev, &c->model)))
        return cli_fail("building the model", rc);
    int nd = 0;
    const int64_t *os = strata_model_output_shape(c->model, 0, &nd);
    if (!os || nd != 1 || os[0] != c->vocab.n) {
        fprintf(stderr, "strata: error: %s: the model's first output must be the answer logits (%lld) over the "
                        "vocabulary\n",
                strata_spec_path(c->spec), (long long)c->vocab.n);
        return 1;
    }
    char want[256];
    snprintf(want, sizeof want, "%s.softmax", c->layer);
    for (int k = 0; k < strata_model_buffer_count(c->model); k++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        if (!strata_model_buffer(c->model, k, &name, &t) && !strcmp(name, want))
            c->softmax = t;
    }
    if (!c->softmax) {
        fprintf(stderr, "strata: error: %s: no memn2n layer named '%s' (data.layer)\n", strata_spec_path(c->spec),
                c->layer);
        return 1;
    }
    if (need_opt && (rc = strata_spec_create_optimizer(c->spec, c->model, &c->opt)))
        return cli_fail("creating the optimizer", rc);
    return 0;
}

static strata_status mn_set_softmax(mn_ctx *c, int on)
{
    float v = on ? 1.0f : 0.0f;
    return strata_tensor_write(c->softmax, &v, sizeof v);
}

/* Logits (B, V) and attention (B, K, M) of a host batch. */
static strata_status mn_forward(mn_ctx *c, int64_t B, const int64_t *story, const int64_t *query, int training,
                                strata_tensor **logits, strata_tensor **att)
{
    strata_tensor *in[2] = {NULL, NULL}, *out[2] = {NULL, NULL};
    strata_status rc = strata_tensor_from_host(c->dev, STRATA_I64, 3, (const int64_t[]){B, c->M, c->J}, story, &in[0]);
    if (!rc)
        rc = strata_tensor_from_host(c->dev, STRATA_I64, 2, (const int64_t[]){B, c->Jq}, query, &in[1]);
    if (!rc)
        rc = strata_model_forward(c->model, in, 2, out, 2, training);
    strata_tensor_release(in[0]);
    strata_tensor_release(in[1]);
    *logits = out[0];
    if (att)
        *att = out[1];
    else
        strata_tensor_release(out[1]);
    return rc;
}

/* Host buffers of one batch. */
typedef struct {
    int64_t *story, *query, *answer, *idx;
    float *logits;
} mn_bufs;

/* Buffers of @p B questions (training: at most the training questions, so
 * a larger --batch-size costs nothing); 1 when a size overflows or malloc fails. */
static int mn_bufs_alloc(mn_bufs *b, const mn_ctx *c, int64_t B)
{
    b->story = mn_realloc(NULL, sizeof(int64_t), B, c->M, c->J);
    b->query = mn_realloc(NULL, sizeof(int64_t), B, c->Jq, 1);
    b->answer = mn_realloc(NULL, sizeof(int64_t), B, 1, 1);
    b->idx = mn_realloc(NULL, sizeof(int64_t), B, 1, 1);
    b->logits = mn_realloc(NULL, sizeof(float), B, c->vocab.n, 1);
    return b->story && b->query && b->answer && b->idx && b->logits ? 0 : 1;
}

static void mn_bufs_free(mn_bufs *b)
{
    free(b->story);
    free(b->query);
    free(b->answer);
    free(b->idx);
    free(b->logits);
}

/* Cross-entropy of the logits against the batch's answers, summed over the
 * batch when @p sum (the authors' code: lr 0.01 and the clipping at 40 are
 * for the summed loss), else the mean; *wrong counts argmax misses. */
static strata_status mn_loss(mn_ctx *c, strata_tensor *logits, const mn_bufs *b, int64_t B, int sum,
                             strata_tensor **loss, int64_t *wrong)
{
    strata_tensor *y = NULL;
    strata_attr red = strata_attr_string("reduction", sum ? "sum" : "mean");
    strata_status rc = strata_tensor_from_host(c->dev, STRATA_I64, 1, (const int64_t[]){B}, b->answer, &y);
    if (!rc)
        rc = strata_op_call(c->rt, "core::cross_entropy", (strata_tensor *[]){logits, y}, 2, &red, 1, loss, 1);
    strata_tensor_release(y);
    if (!rc && wrong) {
        const int64_t V = c->vocab.n;
        rc = strata_tensor_read(logits, b->logits, sizeof(float) * (size_t)(B * V));
        for (int64_t i = 0; !rc && i < B; i++) {
            const float *p = b->logits + i * V;
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                best = p[v] > p[best] ? v : best;
            *wrong += best != b->answer[i];
        }
    }
    return rc;
}

/* One training step on the batch @p b of @p B questions: the summed loss
 * (*lv), the misses added to *wrong, the update. A non-finite loss returns
 * STRATA_E_NUMERIC (*lv set) before the update. In a data-parallel run
 * (dist.h) each rank computes its share of the questions (the loss is a
 * sum: the shares' gradients add up with weight 1), and *lv and the misses
 * are the whole batch's. */
static strata_status mn_step(mn_ctx *c, const mn_bufs *b, int64_t B, double clip, double *lv, int64_t *wrong)
{
    int64_t lo = 0, hi = B;
    dist_share(B, &lo, &hi); /* [0, B) in a single process */
    const int64_t n = hi - lo, rows = n ? n : 1; /* an empty share steps on question 0 with weight 0 */
    if (!n)
        lo = 0;
    const mn_bufs s = {.story = b->story + lo * c->M * c->J, .query = b->query + lo * c->Jq,
                       .answer = b->answer + lo, .idx = b->idx + lo, .logits = b->logits};
    dist_rng_mark mark;
    dist_rng_own(c->rt, &mark); /* each rank draws its own dropout masks */
    strata_tensor *lg = NULL, *loss = NULL;
    int64_t w = 0;
    strata_status rc = mn_forward(c, rows, s.story, s.query, 1, &lg, NULL);
    if (!rc)
        rc = mn_loss(c, lg, &s, rows, 1, &loss, &w);
    strata_tensor_release(lg);
    if (!rc)
        rc = strata_tensor_item(loss, lv);
    if (!rc && dist_size() > 1) {
        double v[3] = {n ? *lv : 0.0, n ? (double)w : 0.0, n ? dist_rng_drawn(c->rt, &mark) : 0.0};
        if (dist_sum_f64(v, 3))
            rc = STRATA_E_BACKEND;
        *lv = v[0], w = (int64_t)v[1];
        dist_rng_join(c->rt, &mark, v[2]);
    }
    *wrong += w;
    if (!rc && !isfinite(*lv))
        rc = STRATA_E_NUMERIC;
    if (rc) { /* never applied: the model stays the last good state */
        strata_tensor_release(loss);
        strata_model_zero_grad(c->model);
        strata_graph_reset(strata_runtime_graph(c->rt));
        return rc;
    }
    return dist_update(c->rt, c->model, c->opt, &c->dist, loss, clip, n ? 1.0 : 0.0);
}

/* Mean loss and error over questions @p idx[0..n) of @p s, per task into
 * err_task (fraction; -1 for tasks without questions) when not NULL. In a
 * data-parallel run every rank calls it: each evaluates its share of the
 * questions and the counts are summed. */
static strata_status mn_evaluate(mn_ctx *c, const mn_set *s, const int64_t *idx, int64_t n, double *loss,
                                 double *err, double *err_task)
{
    const int64_t chunk = 256;
    int64_t lo, hi;
    dist_share(n, &lo, &hi); /* [0, n) in a single process */
    mn_bufs b;
    strata_status rc = mn_bufs_alloc(&b, c, chunk) ? STRATA_E_NOMEM : STRATA_OK;
    int prev = strata_set_grad_enabled(c->rt, 0);
    double lsum = 0.0;
    int64_t wrong = 0, per_n[MN_TASKS + 1] = {0}, per_w[MN_TASKS + 1] = {0};
    for (int64_t first = lo; !rc && first < hi; first += chunk) {
        const int64_t B = hi - first < chunk ? hi - first : chunk;
        for (int64_t i = 0; i < B; i++)
            b.idx[i] = idx ? idx[first + i] : first + i;
        mn_batch(s, b.idx, B, 0.0, NULL, b.story, b.query, b.answer);
        strata_tensor *lg = NULL, *l = NULL;
        double lv = 0.0;
        rc = mn_forward(c, B, b.story, b.query, 0, &lg, NULL);
        if (!rc)
            rc = mn_loss(c, lg, &b, B, 0, &l, &wrong);
        if (!rc)
            rc = strata_tensor_item(l, &lv);
        lsum += lv * (double)B;
        for (int64_t i = 0; !rc && i < B; i++) {
            const int t = s->task[b.idx[i]];
            const float *p = b.logits + i * c->vocab.n;
            int64_t best = 0;
            for (int64_t v = 1; v < c->vocab.n; v++)
                best = p[v] > p[best] ? v : best;
            per_n[t]++;
            per_w[t] += best != b.answer[i];
        }
        strata_tensor_release(lg);
        strata_tensor_release(l);
        strata_graph_reset(strata_runtime_graph(c->rt));
    }
    strata_set_grad_enabled(c->rt, prev);
    mn_bufs_free(&b);
    if (!rc && dist_size() > 1) { /* the shares' sums, on every rank */
        double sums[2 + 2 * (MN_TASKS + 1)] = {lsum, (double)wrong};
        for (int t = 0; t <= MN_TASKS; t++)
            sums[2 + t] = (double)per_n[t], sums[2 + MN_TASKS + 1 + t] = (double)per_w[t];
        if (dist_sum_f64(sums, sizeof sums / sizeof sums[0]))
            rc = STRATA_E_BACKEND;
        lsum = sums[0], wrong = (int64_t)sums[1];
        for (int t = 0; t <= MN_TASKS; t++)
            per_n[t] = (int64_t)sums[2 + t], per_w[t] = (int64_t)sums[2 + MN_TASKS + 1 + t];
    }
    *loss = n ? lsum / (double)n : 0.0;
    *err = n ? (double)wrong / (double)n : 0.0;
    for (int t = 1; err_task && t <= MN_TASKS; t++)
        err_task[t] = per_n[t] ? (double)per_w[t] / (double)per_n[t] : -1.0;
    return rc;
}

/* ---- reports ------------------------------------------------------------------ */

/* The per-task table on stdout; *mean over the tasks evaluated (NaN, shown
 * as "-" and null in JSON, when none had test questions: not a 0% error). */
static void mn_print_table(const double *err_task, double *mean)
{
    int n = 0;
    double sum = 0.0;
    printf("task  test error\n");
    for (int t = 1; t <= MN_TASKS; t++) {
        if (err_task[t] < 0)
            continue;
        printf("%4d  %9.1f%%\n", t, 100.0 * err_task[t]);
        sum += err_task[t];
        n++;
    }
    *mean = n ? sum / n : NAN;
    if (n)
        printf("mean  %9.1f%%  (%d task%s)\n", 100.0 * *mean, n, n == 1 ? "" : "s");
    else
        printf("mean  %10s  (no test questions)\n", "-");
}

static json_t *mn_tasks_json(const double *err_task, double *mean)
{
    json_t *tasks = json_object();
    int n = 0;
    double sum = 0.0;
    for (int t = 1; t <= MN_TASKS; t++) {
        if (err_task[t] < 0)
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", t);
        json_object_set_new(tasks, key, json_real(err_task[t]));
        sum += err_task[t];
        n++;
    }
    *mean = n ? sum / n : NAN;
    return tasks;
}

/* ---- train ------------------------------------------------------------------- */

/* What one training run reports. */
typedef struct {
    double tr_loss, tr_err, va_loss, va_err;
} mn_run_result;

typedef struct {
    int64_t epochs, batch, linear_start, decay_every;
    double lr, ls_lr, decay, noise, clip, val_fraction;
    int select_val; /* train.select: keep the run of lowest validation (1) or training (0) error */
} mn_recipe;

/* The recipe from the spec and the command line (the spec loader has checked the values). */
static void mn_read_recipe(const mn_ctx *c, const mn_args *a, mn_recipe *r)
{
    strata_spec_get_int(c->spec, "train.epochs", 100, &r->epochs);
    strata_spec_get_int(c->spec, "train.batch_size", 32, &r->batch);
    strata_spec_get_float(c->spec, "train.clip_grad_norm", 40.0, &r->clip);
    /* without optimizer.lr, the optimizer's own default (what the spec records), read before any checkpoint */
    r->lr = c->opt ? strata_optimizer_lr(c->opt) : 0.01;
    strata_spec_get_float(c->spec, "optimizer.lr", r->lr, &r->lr);
    strata_spec_get_int(c->spec, "data.linear_start", 20, &r->linear_start);
    strata_spec_get_float(c->spec, "data.linear_start_lr", 0.005, &r->ls_lr);
    strata_spec_get_int(c->spec, "data.lr_decay_every", 25, &r->decay_every);
    strata_spec_get_float(c->spec, "data.lr_decay", 0.5, &r->decay);
    strata_spec_get_float(c->spec, "data.random_noise", 0.1, &r->noise);
    strata_spec_get_float(c->spec, "data.val_fraction", 0.1, &r->val_fraction);
    if (a->epochs > 0)
        r->epochs = a->epochs;
    if (a->batch > 0)
        r->batch = a->batch;
    const char *sel = "validation_error";
    strata_spec_get_string(c->spec, "train.select", sel, &sel);
    r->select_val = strcmp(sel, "training_error") != 0;
}

/* Is run @p r better than the best so far, @p b? By the chosen error, ties
 * going to the other error, then to the earlier run. */
static int mn_better(const mn_recipe *rp, const mn_run_result *r, const mn_run_result *b)
{
    const double r1 = rp->select_val ? r->va_err : r->tr_err, b1 = rp->select_val ? b->va_err : b->tr_err;
    const double r2 = rp->select_val ? r->tr_err : r->va_err, b2 = rp->select_val ? b->tr_err : b->va_err;
    return r1 < b1 || (r1 == b1 && r2 < b2);
}

#define MN_CKPT "checkpoint.safetensors"
#define MN_BEST "best.safetensors"

/* "1,2,3": the task list as the checkpoint records it (memnet.tasks). */
static void mn_tasks_str(const mn_files *f, char *buf, size_t size)
{
    buf[0] = 0;
    for (int k = 0; k < f->n_tasks; k++)
        snprintf(buf + strlen(buf), size - strlen(buf), k ? ",%d" : "%d", f->tasks[k]);
}

/* The checkpoint's metadata: vocabulary, sizes, tasks and spec. */
static json_t *mn_meta_json(const mn_ctx *c, const mn_files *f, const char *spec_path)
{
    char *vocab = mn_vocab_json(&c->vocab), tasks[96], num[4][24];
    if (!vocab)
        return NULL;
    mn_tasks_str(f, tasks, sizeof tasks);
    snprintf(num[0], sizeof num[0], "%lld", (long long)c->M);
    snprintf(num[1], sizeof num[1], "%lld", (long long)c->J);
    snprintf(num[2], sizeof num[2], "%lld", (long long)c->Jq);
    snprintf(num[3], sizeof num[3], "%lld", (long long)c->d);
    json_error_t err;
    json_t *m = json_pack_ex(&err, 0, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "task", "question_answering",
                             "memnet.words", vocab, "memnet.memory", num[0], "memnet.sentence_len", num[1],
                             "memnet.query_len", num[2], "memnet.embedding_dim", num[3], "memnet.tasks", tasks);
    free(vocab);
    char cap[24];
    snprintf(cap, sizeof cap, "%lld", (long long)c->M_spec);
    int bad = m && json_object_set_new(m, "memnet.memory_size", json_string(cap));
    for (int k = 0; m && !bad && k < 6; k++) {
        char key[64];
        snprintf(key, sizeof key, "memnet.%s", mn_layer_keys[k].name);
        bad = json_object_set_new(m, key, json_string(c->attr[k]));
    }
    /* a path that is not UTF-8 cannot be JSON text: left out (RUN/spec.yaml serves) */
    if (m && !bad && cli_utf8_prefix(spec_path, strlen(spec_path)) == strlen(spec_path))
        bad = json_object_set_new(m, "memnet.spec", json_string(spec_path));
    if (bad) {
        snprintf(err.text, sizeof err.text, "out of memory");
        json_decref(m);
        m = NULL;
    }
    if (!m)
        snprintf(mn_why, sizeof mn_why, "building the checkpoint's metadata: %s", err.text);
    return m;
}

/* Fisher-Yates over idx[0..n). */
static void mn_shuffle(int64_t *idx, int64_t n, uint64_t *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(mn_rand(rng) % (uint64_t)(i + 1)), t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

/* Where `strata train` stands: the checkpoint's train.state (step, epoch,
 * batch, sum_loss, correct = seen - wrong; extra: the rest) and memnet.order. */
typedef struct {
    int64_t rep;      /* the run in progress (0-based); repeats when every run is done */
    int64_t ep, nb;   /* its epoch (0-based, the linear start's included) and the batches done in it */
    int64_t step;     /* optimizer steps of every run so far */
    int shuffled;     /* the order holds epoch ep's shuffle already */
    uint64_t rng;     /* the generator of the shuffles and the random noise */
    double lsum;      /* the epoch's summed loss ... */
    int64_t wrong;    /* ... and misses so far */
    int64_t best_rep; /* the best run so far (mn_better; in best.safetensors); -1: none yet */
    mn_run_result best;
} mn_pos;

/* A training session: data, recipe and where it writes. */
typedef struct {
    mn_ctx *c;
    const mn_files *f;
    const mn_args *a;
    const mn_set *train;
    int64_t *order, n_tr; /* the training questions, order[0..n_tr), reshuffled every epoch */
    const int64_t *val;   /* the held-out ones, val[0..n_val) */
    int64_t n_val;
    mn_recipe rp;
    int64_t repeats, seed;
    const char *data_path; /* the real path of --data, for resumes to compare; NULL when unknown or not UTF-8 */
    const char *spec_path; /* the spec's real path (memnet.spec: eval and explain find it from any directory) */
    FILE *metrics;
} mn_trainer;

/* Writes RUN/checkpoint.safetensors: the model and optimizer as they are, at position @p p. */
static strata_status mn_save(const mn_trainer *t, const mn_pos *p)
{
    const int64_t seen = p->nb > t->n_tr / t->rp.batch ? t->n_tr : p->nb * t->rp.batch; /* no overflow */
    train_state s = {.step = p->step, .epoch = p->ep, .batch = p->nb, .data_seed = (uint64_t)t->seed,
                     .sum_loss = p->lsum, .correct = seen - p->wrong, .seen = seen, .batch_size = t->rp.batch};
    strata_runtime_rng_state(t->c->rt, &s.rng_seed, &s.rng_offset);
    char tasks[96];
    mn_tasks_str(t->f, tasks, sizeof tasks);
    json_t *more = mn_meta_json(t->c, t->f, t->spec_path);
    json_error_t err;
    s.extra = json_pack_ex(&err, 0, "{s:I, s:b, s:I, s:I, s:I, s:s, s:s}", "repeat", (json_int_t)p->rep, "shuffled",
                           p->shuffled, "repeats", (json_int_t)t->repeats, "epochs", (json_int_t)t->rp.epochs,
                           "linear_start", (json_int_t)t->rp.linear_start, "tasks", tasks, "data", t->a->data_dir);
    if (more && !s.extra)
        snprintf(mn_why, sizeof mn_why, "building the checkpoint's train.state: %s", err.text);
    int bad = !more || !s.extra || train_extra_set_u64(s.extra, "rng", p->rng);
    if (!bad && t->data_path)
        bad = json_object_set_new(s.extra, "data_path", json_string(t->data_path));
    if (!bad && p->best_rep >= 0)
        bad = json_object_set_new(s.extra, "best",
                                  json_pack("{s:I, s:f, s:f, s:o, s:o}", "repeat", (json_int_t)p->best_rep,
                                            "train_loss", p->best.tr_loss, "train_error", p->best.tr_err, "val_loss",
                                            cli_json_num(p->best.va_loss), "val_error", cli_json_num(p->best.va_err)));
    /* the permutation the shuffles carry from epoch to epoch */
    char *order = bad ? NULL : malloc((size_t)t->n_tr * 21 + 1), *o = order;
    for (int64_t i = 0; order && i < t->n_tr; i++)
        o += sprintf(o, i ? ",%lld" : "%lld", (long long)t->order[i]);
    if (order) {
        *o = 0;
        bad = json_object_set_new(more, "memnet.order", json_string(order));
    }
    if ((bad || !order) && !mn_why[0])
        snprintf(mn_why, sizeof mn_why, "out of memory building the checkpoint's metadata");
    strata_status rc = bad || !order ? STRATA_E_NOMEM
                                     : train_ckpt_save_meta(t->a->out_dir, MN_CKPT, t->c->model, t->c->opt, &s, more);
    free(order);
    json_decref(more);
    json_decref(s.extra);
    return rc;
}

/* Set by mn_record: its STRATA_E_IO has been told. */
static int mn_metrics_lost;

/* Appends one record to metrics.jsonl: STRATA_E_IO, told, when it cannot. */
static strata_status mn_record(const mn_trainer *t, json_t *rec)
{
    if (train_metrics_json(t->metrics, t->a->out_dir, rec))
        mn_metrics_lost = 1;
    return mn_metrics_lost ? STRATA_E_IO : STRATA_OK;
}

/* Rewrites RUN/metrics.jsonl keeping the records of the first @p step
 * steps (every record carries the step of every run so far: epochs and
 * runs restart, so train_metrics_truncate's rule does not fit). */
static int mn_record_kept(const char *line, const void *ctx)
{
    json_error_t err;
    json_t *o = json_loads(line, 0, &err), *st = json_object_get(o, "step");
    const int keep = json_is_integer(st) && json_integer_value(st) <= *(const int64_t *)ctx;
    json_decref(o);
    return keep;
}

static int mn_metrics_truncate(const char *dir, int64_t step)
{
    return train_metrics_filter(dir, mn_record_kept, &step);
}

/* A non-finite loss: saves @p good (the position before the batch; the
 * update was not applied, so the model is that state) and says how to go on. */
/* Set by mn_nan_stop: its STRATA_E_NUMERIC has been told (another, an anomaly of a data-parallel run, has not). */
static int mn_numeric_told;

static strata_status mn_nan_stop(const mn_trainer *t, const mn_pos *good, double lv)
{
    mn_numeric_told = 1;
    char why[1024];
    train_numeric_cause(lv, why, sizeof why); /* before the save overwrites the last error */
    dist_settled(); /* every rank of a data-parallel run stops here (the loss is their sum) */
    strata_status sv = mn_save(t, good);
    if (!dist_is_root()) /* rank 0 tells */
        return STRATA_E_NUMERIC;
    if (why[0])
        fprintf(stderr, "\nstrata: error: %s, at step %lld (run %lld, epoch %lld, batch %lld); stopping\n", why,
                (long long)good->step + 1, (long long)good->rep + 1, (long long)good->ep + 1, (long long)good->nb + 1);
    else
        fprintf(stderr, "\nstrata: error: the loss became %s at step %lld (run %lld, epoch %lld, batch %lld); "
                        "stopping\n",
                isnan(lv) ? "NaN" : lv > 0 ? "+Inf" : "-Inf", (long long)good->step + 1, (long long)good->rep + 1,
                (long long)good->ep + 1, (long long)good->nb + 1);
    if (sv)
        mn_fail("could not save the last good state", sv);
    else {
        fprintf(stderr,
                "strata: the state after step %lld (the last good one) is in %s/" MN_CKPT "; lower the learning "
                "rate, clip the gradients or check the data, then this continues from it:\n",
                (long long)good->step, t->a->out_dir);
        cli_put_resume_command(t->a->spec_path, t->a->out_dir);
    }
    return STRATA_E_NUMERIC;
}

/* Whether Ctrl-C stopped the run (on any rank of a data-parallel one). */
static int mn_interrupted;

/* In a data-parallel run (dist.h): 0 when every rank's parameters are rank
 * 0's, else 1 after a message, every rank stopping together. */
static int mn_check_replicas(mn_ctx *c, const char *when, int64_t n)
{
    if (!dist_check_replicas(c->model, &c->dist, "parameters", when, n))
        return 0;
    dist_settled();
    return 1;
}

/* --steps or Ctrl-C: 1 (after a checkpoint at @p p) when the run stops here. */
static int mn_stop_here(const mn_trainer *t, const mn_pos *p, strata_status *rc)
{
    mn_interrupted = cli_stop_agreed();
    if (!mn_interrupted && (t->a->steps <= 0 || p->step < t->a->steps))
        return 0;
    *rc = mn_save(t, p);
    return 1;
}

/* Trains run p->rep from where @p p stands to its end: linear_start epochs
 * without the memory softmaxes at linear_start_lr, then epochs epochs with
 * them, the learning rate decayed every decay_every of those. Checkpoints
 * at every epoch end but the last (the caller's, when the run is judged)
 * and every --checkpoint-every steps; *stop when --steps ended it. A
 * non-finite loss returns STRATA_E_NUMERIC after saving the last good state. */
static strata_status mn_train_run(const mn_trainer *t, mn_pos *p, mn_run_result *out, int *stop)
{
    mn_ctx *c = t->c;
    const mn_recipe *rp = &t->rp;
    mn_bufs b;
    strata_status rc = mn_bufs_alloc(&b, c, rp->batch < t->n_tr ? rp->batch : t->n_tr) ? STRATA_E_NOMEM : STRATA_OK;
    const int64_t total = rp->linear_start + rp->epochs, ls = rp->linear_start > 0 ? rp->linear_start : 0;
    const int quiet = t->a->quiet || t->repeats > 1;
    while (!rc && p->ep < total) {
        const int in_ls = p->ep < ls;
        const int64_t k = p->ep - ls; /* epochs after the linear start */
        const double lr =
            in_ls ? rp->ls_lr : rp->lr * pow(rp->decay, rp->decay_every > 0 ? (double)(k / rp->decay_every) : 0.0);
        if ((rc = mn_set_softmax(c, !in_ls)))
            break;
        strata_optimizer_set_lr(c->opt, lr);
        for (int64_t first = p->nb * rp->batch; !rc && first < t->n_tr; first += rp->batch) {
            if ((*stop = mn_stop_here(t, p, &rc)))
                break;
            if (!p->shuffled) {
                mn_shuffle(t->order, t->n_tr, &p->rng);
                p->shuffled = 1;
            }
            const mn_pos before = *p;
            const int64_t B = t->n_tr - first < rp->batch ? t->n_tr - first : rp->batch;
            memcpy(b.idx, t->order + first, sizeof(int64_t) * (size_t)B);
            mn_batch(t->train, b.idx, B, rp->noise, &p->rng, b.story, b.query, b.answer);
            double lv = 0.0;
            rc = mn_step(c, &b, B, rp->clip, &lv, &p->wrong);
            if (train_numeric_stop(rc, lv)) { /* a non-finite loss, or --detect-anomaly's report */
                rc = mn_nan_stop(t, &before, lv);
                break;
            }
            if (rc)
                break;
            p->lsum += lv;
            p->nb++;
            p->step++;
            if ((rc = mn_record(t, json_pack("{s:I, s:I, s:I, s:f, s:f}", "repeat", (json_int_t)p->rep + 1,
                                             "epoch", (json_int_t)p->ep + 1, "step", (json_int_t)p->step,
                                             "batch_loss", lv, "lr", lr))))
                break;
            if (t->a->ckpt.checkpoint_every > 0 && p->step % t->a->ckpt.checkpoint_every == 0 && first + B < t->n_tr)
                rc = mn_save(t, p);
        }
        if (rc || *stop)
            break;
        out->tr_loss = p->lsum / (double)t->n_tr, out->tr_err = (double)p->wrong / (double)t->n_tr;
        out->va_loss = out->va_err = NAN; /* no validation questions: null in the records */
        if (t->n_val && (rc = mn_evaluate(c, t->train, t->val, t->n_val, &out->va_loss, &out->va_err, NULL)))
            break;
        const int64_t ep = p->ep + 1;
        if (!quiet && (ep % 10 == 0 || ep == total || ep == rp->linear_start)) {
            char val[64] = "no validation questions"; /* (it printed nan) */
            if (t->n_val)
                snprintf(val, sizeof val, "val loss %.4f error %.3f", out->va_loss, out->va_err);
            printf("epoch %3lld/%lld  lr %.5f%s  train loss %.4f error %.3f  %s\n", (long long)ep, (long long)total,
                   lr, in_ls ? " (linear start)" : "", out->tr_loss, out->tr_err, val);
        }
        if ((rc = mn_record(t, json_pack("{s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:f}", "repeat",
                                         (json_int_t)p->rep + 1, "epoch", (json_int_t)ep, "step", (json_int_t)p->step,
                                         "loss", out->tr_loss, "error", out->tr_err, "val_loss",
                                         cli_json_num(out->va_loss), "val_error", cli_json_num(out->va_err), "lr",
                                         lr))))
            break;
        p->ep = ep, p->nb = 0, p->shuffled = 0, p->lsum = 0.0, p->wrong = 0;
        if (mn_check_replicas(c, "after epoch", ep)) {
            rc = STRATA_E_NUMERIC; /* told, as a non-finite loss is */
            break;
        }
        if (p->ep < total)
            rc = mn_save(t, p);
    }
    if (!rc && !*stop && total <= ls) /* ended inside the linear start */
        rc = mn_set_softmax(c, 1);
    /* the training error of the final model, without noise (the paper keeps the run where it is lowest) */
    double l = 0.0;
    if (!rc && !*stop)
        rc = mn_evaluate(c, t->train, t->order, t->n_tr, &l, &out->tr_err, NULL);
    mn_bufs_free(&b);
    return rc;
}

/* Ends run p->rep: keeps it in best.safetensors when it is the best so far
 * (mn_better), then checkpoints the position of the next run with
 * the best model so far (after the last run: the answer eval reads). */
static strata_status mn_finish_run(const mn_trainer *t, mn_pos *p, const mn_run_result *res)
{
    mn_ctx *c = t->c;
    int best = p->best_rep < 0 || mn_better(&t->rp, res, &p->best);
    /* rank 0's choice on every rank: the ranks' errors are equal unless their
     * arithmetic differs (thread counts), and the models must not part */
    dist_broadcast(&best, sizeof best);
    if (t->repeats > 1)
        printf("run %lld/%lld: training error %.3f, validation error %.3f%s\n", (long long)p->rep + 1,
               (long long)t->repeats, res->tr_err, res->va_err, best ? "  (best so far)" : "");
    strata_status rc = mn_record(t, json_pack("{s:I, s:I, s:f, s:o, s:b}", "repeat", (json_int_t)p->rep + 1, "step",
                                              (json_int_t)p->step, "final_train_error", res->tr_err,
                                              "final_val_error", cli_json_num(res->va_err), "best", best));
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/" MN_BEST, t->a->out_dir);
    if (best) {
        json_t *m = mn_meta_json(c, t->f, t->spec_path);
        char *meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (m && !meta)
            snprintf(mn_why, sizeof mn_why, "out of memory building the checkpoint's metadata");
        json_decref(m);
        /* a data-parallel run's files are rank 0's; the others read this one
         * after the next run's steps, which rank 0 joins once it is written */
        rc = !meta ? STRATA_E_NOMEM : dist_is_root() ? strata_checkpoint_save(path, c->model, c->opt, meta) : STRATA_OK;
        free(meta);
        p->best_rep = p->rep, p->best = *res;
    } else {
        rc = strata_checkpoint_load(path, c->model, c->opt);
    }
    p->rep++, p->ep = 0, p->nb = 0, p->shuffled = 0, p->lsum = 0.0, p->wrong = 0;
    return rc ? rc : mn_save(t, p);
}

/* --resume: the run's own task list, data, recipe and seed, from the
 * checkpoint's train.state where the command line does not give them, and
 * an error where it gives others. Strings go to @p tasks and @p data. */
static int mn_resume_args(mn_args *a, const train_state *ts, char *tasks, size_t tasks_size, char *data,
                          size_t data_size)
{
    json_t *x = ts->extra;
    const char *ck_tasks = json_string_value(json_object_get(x, "tasks"));
    const char *ck_data = json_string_value(json_object_get(x, "data"));
    uint64_t rng;
    if (!ck_tasks || !ck_data || !json_is_integer(json_object_get(x, "repeat")) ||
        !json_is_integer(json_object_get(x, "repeats")) || !json_is_integer(json_object_get(x, "epochs")) ||
        !json_is_integer(json_object_get(x, "linear_start")) || !json_is_boolean(json_object_get(x, "shuffled")) ||
        train_extra_get_u64(x, "rng", &rng)) {
        fprintf(stderr, "strata: error: %s/" MN_CKPT " was not written by `strata train` of a memory network (its "
                        "train.state lacks the runs' state); it cannot be resumed as one\n",
                a->out_dir);
        return 1;
    }
    if (a->task_arg) {
        mn_files f = {0};
        char given[96];
        if (mn_parse_tasks(a->task_arg, &f, 0))
            return 2;
        mn_tasks_str(&f, given, sizeof given);
        if (strcmp(given, ck_tasks) != 0) {
            fprintf(stderr, "strata: error: the run in %s trains task(s) %s, not %s; resume it with --task %s (or "
                            "no --task)\n",
                    a->out_dir, ck_tasks, a->task_arg, ck_tasks);
            return 2;
        }
    }
    snprintf(tasks, tasks_size, "%s", ck_tasks);
    a->task_arg = tasks;
    /* the run's data directory: its real path as recorded (data_path), else,
     * for checkpoints written before that, --data as typed then */
    const char *ck_path = json_string_value(json_object_get(x, "data_path"));
    char run_real[PATH_MAX], given_real[PATH_MAX];
    const int run_there = realpath(ck_path ? ck_path : ck_data, run_real) != NULL;
    if (!a->data_dir) {
        snprintf(data, data_size, "%s", ck_path && run_there ? ck_path : ck_data);
        a->data_dir = data;
    } else if (realpath(a->data_dir, given_real) && run_there && strcmp(run_real, given_real) != 0) {
        fprintf(stderr, "strata: error: the run in %s was trained on the data in %s, not %s: resume it with the data "
                        "it started with (no --data)\n",
                a->out_dir, run_real, given_real);
        return 2;
    } else if (!run_there && dist_is_root()) { /* a data-parallel run: rank 0 tells */
        fprintf(stderr, "strata: note: the run's data directory %s is not there; reading %s instead (its vocabulary "
                        "and questions must be the run's)\n",
                ck_path ? ck_path : ck_data, a->data_dir);
    }
    const struct {
        const char *flag, *key;
        int64_t *given;
        int64_t run;
    } same[] = {
        {"--epochs", "epochs", &a->epochs, json_integer_value(json_object_get(x, "epochs"))},
        {"--repeats", "repeats", &a->repeats, json_integer_value(json_object_get(x, "repeats"))},
        {"--batch-size", "batch_size", &a->batch, ts->batch_size},
    };
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
        if (*same[k].given > 0 && *same[k].given != same[k].run) {
            fprintf(stderr, "strata: error: the run in %s has %s %lld, this command %lld: its position counts "
                            "those (drop %s or give %s %lld)\n",
                    a->out_dir, same[k].key, (long long)same[k].run, (long long)*same[k].given, same[k].flag,
                    same[k].flag, (long long)same[k].run);
            return 2;
        }
        *same[k].given = same[k].run;
    }
    if (a->have_seed)
        train_resume_note_seed(ts->data_seed, a->seed, "has", 0);
    a->seed = (int64_t)ts->data_seed, a->have_seed = 1;
    return 0;
}

/* --resume, once the model is built for the data: checks the data gives
 * the run's vocabulary and sizes, loads model and optimizer, and restores
 * the random states, the position and the order of the training questions. */
static int mn_resume(mn_trainer *t, const train_state *ts, mn_pos *p)
{
    mn_ctx *c = t->c;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/" MN_CKPT, t->a->out_dir);
    mn_layer_attrs(c); /* the layer as trained: a spec without the run's --set changes resumed another model */
    if (mn_check_layer(c, ck))
        return 1;
    mn_vocab saved = {0};
    if (mn_vocab_read(ck, &saved))
        return 1;
    strata_status rc = STRATA_OK;
    int64_t sizes[3] = {0};
    const char *keys[3] = {"memnet.memory", "memnet.sentence_len", "memnet.query_len"};
    for (int k = 0; !rc && k < 3; k++) {
        char buf[32];
        if (!(rc = strata_checkpoint_metadata(ck, keys[k], buf, sizeof buf)))
            sizes[k] = atoll(buf);
    }
    if (rc) {
        mn_vocab_free(&saved);
        return cli_fail("reading the run's sizes", rc);
    }
    /* the first word only one of the two sorted vocabularies has */
    const char *only_run = NULL, *only_here = NULL;
    for (int64_t i = 1, j = 1; !only_run && !only_here && (i < saved.n || j < c->vocab.n);) {
        const int cmp = i == saved.n ? 1 : j == c->vocab.n ? -1 : strcmp(saved.w[i], c->vocab.w[j]);
        if (cmp < 0)
            only_run = saved.w[i];
        else if (cmp > 0)
            only_here = c->vocab.w[j];
        i += cmp == 0, j += cmp == 0;
    }
    const int vocab_differs = only_run || only_here || saved.n != c->vocab.n;
    if (vocab_differs || sizes[0] != c->M || sizes[1] != c->J || sizes[2] != c->Jq) {
        /* say which, with both values: a spec's data.memory_size changed read as "another vocabulary" */
        fprintf(stderr, "strata: error: the run in %s cannot go on with this data and spec:\n", t->a->out_dir);
        if (vocab_differs)
            fprintf(stderr, "  vocabulary: the run's has %lld words, the data in %s gives %lld ('%s' is not in %s)\n",
                    (long long)saved.n, t->a->data_dir, (long long)c->vocab.n,
                    only_run ? only_run : only_here ? only_here : "", only_run ? "the data" : "the run's");
        if (sizes[0] != c->M) /* M = min(data.memory_size, the longest story): say which sets each */
            fprintf(stderr, "  memory M: the run's is %lld statements, here %lld = min(the spec's data.memory_size "
                            "%lld, the data's longest story %lld)%s\n",
                    (long long)sizes[0], (long long)c->M, (long long)c->M_spec, (long long)c->M_data,
                    c->M == c->M_spec && c->M_spec < c->M_data ? ": the spec sets it here"
                    : sizes[0] < c->M_data ? ": the run's, below that story, came from its spec's data.memory_size "
                                             "(or other data)"
                                           : "");
        if (sizes[1] != c->J)
            fprintf(stderr, "  sentence length J: the run's is %lld words, the data's longest statement %lld\n",
                    (long long)sizes[1], (long long)c->J);
        if (sizes[2] != c->Jq)
            fprintf(stderr, "  question length Jq: the run's is %lld words, the data's longest question %lld\n",
                    (long long)sizes[2], (long long)c->Jq);
        fprintf(stderr, "resume the run with the data it started with and its spec (%s/spec.yaml)\n", t->a->out_dir);
        mn_vocab_free(&saved);
        return 1;
    }
    mn_vocab_free(&saved);
    if ((rc = strata_checkpoint_load(ck, c->model, c->opt)))
        return cli_fail("loading the checkpoint to resume", rc);
    if (cli_refuse_nonfinite_params(c->model, ck, "it cannot be resumed"))
        return 1;
    strata_runtime_set_rng_state(c->rt, ts->rng_seed, ts->rng_offset);
    json_t *x = ts->extra, *best = json_object_get(x, "best");
    p->rep = json_integer_value(json_object_get(x, "repeat"));
    p->shuffled = json_is_true(json_object_get(x, "shuffled"));
    train_extra_get_u64(x, "rng", &p->rng);
    p->ep = ts->epoch, p->nb = ts->batch, p->step = ts->step;
    p->lsum = ts->sum_loss, p->wrong = ts->seen - ts->correct;
    p->best_rep = -1;
    if (json_is_object(best)) {
        p->best_rep = json_integer_value(json_object_get(best, "repeat"));
        p->best.tr_loss = json_number_value(json_object_get(best, "train_loss"));
        p->best.tr_err = json_number_value(json_object_get(best, "train_error"));
        p->best.va_loss = cli_json_num_value(json_object_get(best, "val_loss"));
        p->best.va_err = cli_json_num_value(json_object_get(best, "val_error"));
    }
    const int64_t total = t->rp.linear_start + t->rp.epochs;
    if (p->rep < 0 || p->rep > t->repeats || p->ep > total || p->nb < 0 || p->nb > t->n_tr / t->rp.batch ||
        (p->rep > 0 && p->best_rep < 0) ||
        json_integer_value(json_object_get(x, "linear_start")) != t->rp.linear_start) {
        fprintf(stderr, "strata: error: %s: the position in train.state (run %lld, epoch %lld, batch %lld) does not "
                        "fit this recipe (%lld runs of %lld + %lld epochs): was data.linear_start changed?\n",
                ck, (long long)p->rep + 1, (long long)p->ep + 1, (long long)p->nb, (long long)t->repeats,
                (long long)t->rp.linear_start, (long long)t->rp.epochs);
        return 1;
    }
    /* the permutation of the training questions: the same ones as the held-out split leaves */
    char *order = NULL;
    if ((rc = mn_meta_alloc(ck, "memnet.order", &order)))
        return cli_fail("reading the order of the training questions (memnet.order)", rc);
    char *mark = calloc((size_t)t->train->n + 1, 1);
    int64_t n = 0;
    for (int64_t i = 0; mark && i < t->n_tr; i++)
        mark[t->order[i]] = 1;
    for (char *q = order, *end; mark && *q && n < t->n_tr; q = *end ? end + 1 : end, n++) {
        long long v = strtoll(q, &end, 10);
        if (end == q || (*end && *end != ',') || v < 0 || v >= t->train->n || mark[v] != 1)
            break;
        mark[v] = 2;
        t->order[n] = v;
    }
    const int ok = mark && n == t->n_tr;
    free(mark);
    free(order);
    if (!ok) {
        fprintf(stderr, "strata: error: %s: memnet.order is not a permutation of the %lld training questions the "
                        "data in %s leaves: resume the run with the data it started with\n",
                ck, (long long)t->n_tr, t->a->data_dir);
        return 1;
    }
    train_resume_warn_backend(ts, c->dev);
    if (mn_metrics_truncate(t->a->out_dir, p->step))
        return 1;
    if (!t->a->quiet)
        fprintf(stderr, "strata: resuming %s at step %lld (run %lld, epoch %lld, batch %lld)\n", t->a->out_dir,
                (long long)p->step, (long long)p->rep + 1, (long long)p->ep + 1, (long long)p->nb);
    return 0;
}

int cmd_memnet_train(int argc, char **argv)
{
    mn_args a;
    mn_files f = {0};
    mn_ctx c = {0};
    mn_set train = {0}, test = {0};
    int64_t *order = NULL;
    FILE *metrics = NULL;
    train_state ts = {0};
    char ck_tasks[96], ck_data[4096];
    int report = 0; /* 0 none; 1 quietly (stopped); 2 at the end of the run */
    int r = mn_parse(argc, argv, &a, MN_TRAIN);
    if (r)
        return CLI_EXIT(r);
    a.quiet |= !dist_is_root(); /* rank 0 tells how a data-parallel run goes */
    if (a.ckpt.resume) {
        train_ckpt_remove_temps(a.out_dir);
        if (train_ckpt_read_state(a.out_dir, MN_CKPT, &ts, 0))
            return 1;
        if ((r = mn_resume_args(&a, &ts, ck_tasks, sizeof ck_tasks, ck_data, sizeof ck_data)))
            goto out;
    }
    if (cli_utf8_prefix(a.data_dir, strlen(a.data_dir)) < strlen(a.data_dir)) { /* train.state holds it as JSON */
        fprintf(stderr, "strata: error: --data '%s': the path is not UTF-8, and the checkpoint records it as JSON "
                        "text; give it by a UTF-8 name (a symbolic link serves)\n",
                a.data_dir);
        r = 1;
        goto out;
    }
    if ((r = mn_parse_tasks(a.task_arg, &f, 0)) || (r = mn_open(&c, &a, a.spec_path)) ||
        (r = mn_load_files(&f, a.data_dir, 1)) || (r = mn_check_empty(&f)) ||
        (r = train_out_prepare(a.out_dir, a.ckpt.resume != NULL)))
        goto out;
    /* vocabulary and sizes from every chosen file */
    strata_babi *all[2 * MN_TASKS];
    for (int k = 0; k < f.n_tasks; k++)
        all[2 * k] = f.train[k], all[2 * k + 1] = f.test[k];
    r = mn_vocab_add(&c.vocab, "<nil>");
    for (int k = 0; !r && k < 2 * f.n_tasks; k++)
        r = mn_vocab_from_set(&c.vocab, all[k]);
    if (r) {
        fprintf(stderr, "strata: error: out of memory building the vocabulary\n");
        goto out;
    }
    mn_vocab_finish(&c.vocab);
    int64_t mem = 50, M, seed = 1, repeats = 1;
    strata_spec_get_int(c.spec, "data.memory_size", 50, &mem);
    strata_spec_get_int(c.spec, "seed", 1, &seed);
    strata_spec_get_int(c.spec, "train.repeats", 1, &repeats);
    seed = a.have_seed ? a.seed : seed;
    repeats = a.repeats > 0 ? a.repeats : repeats;
    mn_sizes(all, 2 * f.n_tasks, &c.J, &c.Jq, &M);
    c.M = M < mem ? M : mem;
    c.M_spec = mem, c.M_data = M;
    if (f.n_tasks > 1)
        strata_spec_get_int(c.spec, "data.joint_embedding_dim", 50, &c.d);
    mn_layer_attrs(&c);
    if (strcmp(c.attr[5], "0") != 0) { /* the reader's nil word, empty slots and padding are id 0 */
        fprintf(stderr, "strata: error: %s: the memn2n layer's padding_idx is %s, but the trainer gives the nil word "
                        "(padding and empty memory slots) id 0: leave padding_idx out or set it to 0\n",
                a.spec_path, c.attr[5]);
        r = 1;
        goto out;
    }
    if ((r = mn_build(&c, 1)))
        goto out;
    for (int k = 0; k < strata_model_param_count(c.model) && !c.d; k++) {
        strata_tensor *t = NULL;
        const char *name = NULL;
        if (!strata_model_param(c.model, k, &name, &t) && strata_tensor_ndim(t) == 2)
            c.d = strata_tensor_shape(t)[1];
    }
    train.M = test.M = c.M, train.J = test.J = c.J, train.Jq = test.Jq = c.Jq;
    for (int k = 0; !r && k < f.n_tasks; k++)
        r = mn_set_add(&train, &c.vocab, f.train[k], f.tasks[k]) || mn_set_add(&test, &c.vocab, f.test[k], f.tasks[k]);
    if (r) {
        fprintf(stderr, "strata: error: out of memory vectorising the questions\n");
        goto out;
    }
    char data_real[PATH_MAX];
    const int data_known =
        realpath(a.data_dir, data_real) && cli_utf8_prefix(data_real, strlen(data_real)) == strlen(data_real);
    char spec_real[PATH_MAX];
    mn_trainer t = {.c = &c, .f = &f, .a = &a, .train = &train, .repeats = repeats, .seed = seed,
                    .data_path = data_known ? data_real : NULL,
                    .spec_path = realpath(a.spec_path, spec_real) ? spec_real : a.spec_path};
    mn_read_recipe(&c, &a, &t.rp);
    if (t.rp.epochs > INT64_MAX - t.rp.linear_start) { /* the epoch count would wrap: no step run, "success" */
        fprintf(stderr, "strata: error: %lld epochs after data.linear_start %lld overflow the epoch count; give at "
                        "most %lld (--epochs or train.epochs)\n",
                (long long)t.rp.epochs, (long long)t.rp.linear_start, (long long)(INT64_MAX - t.rp.linear_start));
        r = 2;
        goto out;
    }
    /* hold out a fraction of the training questions */
    mn_pos p = {.best_rep = -1, .rng = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 7};
    if (!(order = malloc(sizeof(int64_t) * (size_t)(train.n ? train.n : 1)))) {
        r = cli_fail("holding out validation questions", STRATA_E_NOMEM);
        goto out;
    }
    for (int64_t i = 0; i < train.n; i++)
        order[i] = i;
    mn_shuffle(order, train.n, &p.rng);
    const int64_t n_val = (int64_t)floor(t.rp.val_fraction * (double)train.n), n_tr = train.n - n_val;
    if (n_tr < 1) {
        fprintf(stderr, "strata: error: no training questions left after holding out %lld for validation\n",
                (long long)n_val);
        r = 1;
        goto out;
    }
    t.order = order, t.n_tr = n_tr, t.val = order + n_tr, t.n_val = n_val;
    if (t.rp.batch > n_tr && dist_is_root())
        fprintf(stderr, "strata: note: batch size %lld is more than the %lld training questions: each batch holds "
                        "them all\n",
                (long long)t.rp.batch, (long long)n_tr);
    if (!n_val && t.rp.select_val) { /* nothing to choose by: the paper's rule */
        if (dist_is_root())
            fprintf(stderr, "strata: note: no validation questions (data.val_fraction %g of %lld): the runs are "
                            "chosen by training error\n",
                    t.rp.val_fraction, (long long)train.n);
        t.rp.select_val = 0;
    }
    if (a.ckpt.resume && (r = mn_resume(&t, &ts, &p)))
        goto out;
    train_spec_record(a.out_dir, c.spec, a.ckpt.resume != NULL); /* (a resume refused leaves it as it was) */
    if (a.ckpt.resume)
        train_resume_nothing_left(p.step, a.steps, p.rep, t.repeats, "runs (train.repeats)", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", a.out_dir);
    if (!(t.metrics = metrics = train_metrics_open(path, a.ckpt.resume != NULL))) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        r = 1;
        goto out;
    }
    cli_note_defaults(c.spec, a.quiet, a.ckpt.resume != NULL);
    if (!a.quiet) /* --quiet: the final report alone, as the other trainers */
        printf("strata: training %s on %s: tasks %s, %lld parameters (V %lld, d %lld, memory %lld x %lld words, query "
           "%lld); %lld training, %lld validation, %lld test questions; %lld + %lld epochs (linear start + rest), "
           "batch %lld, best of %lld run%s by %s error\n",
           a.spec_path, strata_device_name(c.dev), a.task_arg, (long long)strata_model_num_scalars(c.model),
           (long long)c.vocab.n, (long long)c.d, (long long)c.M, (long long)c.J, (long long)c.Jq, (long long)n_tr,
           (long long)n_val, (long long)test.n, (long long)t.rp.linear_start, (long long)t.rp.epochs,
           (long long)t.rp.batch, (long long)repeats, repeats == 1 ? "" : "s", t.rp.select_val ? "validation" : "training");
    if (!a.quiet)
        run_note_data_parallel(t.rp.batch, a.out_dir);
    const double t0 = cli_now();
    strata_status rc = STRATA_OK;
    int stop = 0;
    if (mn_check_replicas(&c, a.ckpt.resume ? "at the checkpoint" : "before training", -1)) {
        r = 1;
        goto out;
    }
    while (!rc && !stop && p.rep < repeats) {
        if (p.ep == 0 && p.nb == 0 && !p.shuffled) { /* a run's start */
            if ((stop = mn_stop_here(&t, &p, &rc)))
                break;
            if (p.rep > 0 || a.ckpt.resume) { /* fresh weights from the run's seed */
                strata_optimizer_destroy(c.opt);
                strata_model_destroy(c.model);
                c.opt = NULL, c.model = NULL, c.softmax = NULL;
                strata_runtime_seed(c.rt, (uint64_t)seed + (uint64_t)p.rep); /* --seed LLONG_MAX: no signed wrap */
                if ((r = mn_build(&c, 1)))
                    goto out;
            }
        }
        mn_run_result res = {0};
        if (!(rc = mn_train_run(&t, &p, &res, &stop)) && !stop)
            rc = mn_finish_run(&t, &p, &res);
    }
    if (rc) {
        r = (rc == STRATA_E_NUMERIC && mn_numeric_told) || (rc == STRATA_E_IO && mn_metrics_lost)
                ? 1
                : mn_fail("training the memory network", rc);
        goto out;
    }
    r = train_metrics_close(metrics, a.out_dir, 0); /* all its records are in: a failure is told before any success */
    t.metrics = metrics = NULL;
    if (r)
        goto out;
    if (stop) /* reported quietly; a failure after here is not reported */
        report = 1;
    if (stop)
        dist_settled(); /* every rank stopped here together */
    if (stop && mn_interrupted) {
        r = cli_interrupt_exit(a.spec_path, a.out_dir, p.step);
        goto out;
    }
    if (stop) {
        /* the command line with --resume, its --set changes and --backend kept (`RUN/spec.yaml --resume RUN`
         * went on on the default backend), less its --steps, which would stop the resumed run where it is */
        fflush(stdout);
        fprintf(stderr, "strata: stopped after step %lld (--steps) in run %lld, epoch %lld; this continues it:\n",
                (long long)p.step, (long long)p.rep + 1, (long long)p.ep + 1);
        cli_put_resume_command_without(a.spec_path, a.out_dir, "--steps");
        goto out;
    }
    /* the model is the best run's, as RUN/checkpoint.safetensors holds it (every rank's: each tests its share) */
    double err_task[MN_TASKS + 1], te_err = 0.0, te_loss = 0.0;
    if ((rc = mn_set_softmax(&c, 1)) || (rc = mn_evaluate(&c, &test, NULL, test.n, &te_loss, &te_err, err_task))) {
        r = cli_fail("evaluating the memory network", rc);
        goto out;
    }
    if (!dist_is_root()) /* a data-parallel run: rank 0 reports */
        goto out;
    const double secs = cli_now() - t0;
    double mean = 0.0;
    mn_print_table(err_task, &mean);
    json_t *sum = json_pack("{s:o, s:o, s:f, s:f, s:o, s:o, s:I, s:I, s:I, s:s, s:f}", "tasks",
                            mn_tasks_json(err_task, &mean), "mean", cli_json_num(mean), "train_loss", p.best.tr_loss,
                            "train_error", p.best.tr_err, "val_loss", cli_json_num(p.best.va_loss), "val_error",
                            cli_json_num(p.best.va_err), "epochs",
                            (json_int_t)t.rp.epochs, "linear_start_epochs", (json_int_t)t.rp.linear_start, "repeats",
                            (json_int_t)repeats, "device", strata_device_name(c.dev), "seconds", secs);
    cli_summary_name(sum, c.spec);
    snprintf(path, sizeof path, "%s/summary.json", a.out_dir);
    r = cli_write_json(path, sum);
    json_decref(sum);
    if (test.n)
        printf("test error %.1f%% (mean over tasks %.1f%%); %.1f s on %s; checkpoint %s/" MN_CKPT "\n",
               100.0 * te_err, 100.0 * mean, secs, strata_device_name(c.dev), a.out_dir);
    else
        printf("no test questions: test error not measured; %.1f s on %s; checkpoint %s/" MN_CKPT "\n", secs,
               strata_device_name(c.dev), a.out_dir);
    report = 2;
out:
    if (train_metrics_close(metrics, a.out_dir, mn_metrics_lost) && !r)
        r = 1;
    if (report)
        report_after_training(a.out_dir, report == 1 || a.quiet);
    json_decref(ts.extra);
    free(order);
    mn_set_free(&train);
    mn_set_free(&test);
    mn_files_free(&f);
    mn_ctx_free(&c);
    return r;
}

/* ---- eval and explain ----------------------------------------------------------- */

/* Eval and explain: what of the test data the checkpoint's model cannot
 * see, which a model trained on other tasks meets. Statements past the
 * memory are said only when the training data's longest story, not
 * data.memory_size (c->M_spec), set M: past that they are the recipe's. */
static void mn_warn_set(const mn_ctx *c, const mn_set *s)
{
    if (s->unknown || s->truncated)
        fprintf(stderr, "strata: warning: %lld word(s) outside the model's vocabulary read as nil, %lld sentence(s) "
                        "longer than the model's %lld words cut\n",
                (long long)s->unknown, (long long)s->truncated, (long long)c->J);
    const int64_t mem = c->M_spec;
    if (s->dropped && c->M < mem)
        fprintf(stderr, "strata: warning: %lld statement(s) older than the model's memory of %lld dropped (the "
                        "longest story it was trained on; data.memory_size is %lld)\n",
                (long long)s->dropped, (long long)c->M, (long long)mem);
}

static int mn_meta_int(const char *ckpt, const char *key, int64_t *out)
{
    char buf[64];
    strata_status rc = strata_checkpoint_metadata(ckpt, key, buf, sizeof buf);
    if (rc)
        return cli_fail("reading the checkpoint's memory network metadata (written by strata train with "
                        "data.format: babi)",
                        rc);
    *out = atoll(buf);
    return 0;
}

/* Sizes and vocabulary from the checkpoint, then the model with its weights. */
static int mn_open_checkpoint(mn_ctx *c, const mn_args *a)
{
    const char *ck = a->checkpoint;
    char small[4200];
    if (cli_check_checkpoint(ck)) /* not "records no spec" for a file that is not there */
        return 1;
    /* the spec: given; else the run's spec.yaml beside the checkpoint, as
     * trained (--set included, found from any directory); else the path
     * the checkpoint records */
    const char *spec = a->spec_path, *how;
    if (!spec && cli_checkpoint_spec(ck, small, sizeof small, &how))
        spec = small;
    if (!spec) {
        fprintf(stderr, "strata: error: %s records no spec and has no spec.yaml beside it; give one with --spec\n", ck);
        return 2;
    }
    strata_clear_error();
    int r = mn_open(c, a, spec);
    if (!r)
        mn_layer_attrs(c);
    if (r || (r = mn_check_layer(c, ck)) || (r = mn_meta_int(ck, "memnet.memory", &c->M)) ||
        (r = mn_meta_int(ck, "memnet.sentence_len", &c->J)) ||
        (r = mn_meta_int(ck, "memnet.query_len", &c->Jq)) || (r = mn_meta_int(ck, "memnet.embedding_dim", &c->d)))
        return r;
    /* the memory size it was trained with; before it was recorded, the spec's */
    char cap[32];
    c->M_spec = 50;
    if (!strata_checkpoint_metadata(ck, "memnet.memory_size", cap, sizeof cap))
        c->M_spec = atoll(cap);
    else
        strata_spec_get_int(c->spec, "data.memory_size", 50, &c->M_spec);
    strata_clear_error();
    if (mn_vocab_read(ck, &c->vocab))
        return 1;
    if ((r = mn_build(c, 0)))
        return r;
    strata_status rc = strata_checkpoint_load(ck, c->model, NULL);
    if (rc)
        return cli_fail_file("loading the checkpoint", rc, ck);
    return mn_set_softmax(c, 1) ? cli_fail("restoring the softmax", STRATA_E_INVALID) : 0;
}

int cmd_memnet_eval(int argc, char **argv)
{
    mn_args a;
    mn_files f = {0};
    mn_ctx c = {0};
    mn_set test = {0};
    int r = mn_parse(argc, argv, &a, MN_EVAL);
    if (r)
        return CLI_EXIT(r);
    if (cli_checkpoint_present(a.checkpoint)) /* before the data are read */
        return 1;
    if ((r = mn_parse_tasks(a.task_arg, &f, 0)) || (r = mn_open_checkpoint(&c, &a)) ||
        (r = mn_load_files(&f, a.data_dir, 0)) || (r = mn_check_empty(&f)))
        goto out;
    test.M = c.M, test.J = c.J, test.Jq = c.Jq;
    for (int k = 0; !r && k < f.n_tasks; k++)
        r = mn_set_add(&test, &c.vocab, f.test[k], f.tasks[k]);
    if (r) {
        fprintf(stderr, "strata: error: out of memory vectorising the questions\n");
        goto out;
    }
    if (!test.n) { /* nothing scored is not a 0% error */
        fprintf(stderr, "strata: error: no test questions in %s for task(s) %s: nothing to evaluate\n", a.data_dir,
                a.task_arg);
        r = 1;
        goto out;
    }
    mn_warn_set(&c, &test);
    double loss = 0.0, err = 0.0, err_task[MN_TASKS + 1], mean = 0.0;
    strata_status rc = mn_evaluate(&c, &test, NULL, test.n, &loss, &err, err_task);
    if (rc) {
        r = cli_fail("evaluating", rc);
        goto out;
    }
    if (a.json) {
        json_t *o = json_pack("{s:o, s:f}", "tasks", mn_tasks_json(err_task, &mean), "mean", 0.0);
        json_object_set_new(o, "mean", cli_json_num(mean));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        mn_print_table(err_task, &mean);
        printf("%lld test questions, loss %.4f, error %.1f%% (%s)\n", (long long)test.n, loss, 100.0 * err,
               strata_device_name(c.dev));
    }
out:
    mn_set_free(&test);
    mn_files_free(&f);
    mn_ctx_free(&c);
    return r;
}

/* The words of a row of word ids, nil dropped. */
static void mn_words(const mn_vocab *v, const int64_t *ids, int64_t n, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (int64_t k = 0; k < n && at < size; k++)
        if (ids[k])
            at += (size_t)snprintf(buf + at, size - at, at ? " %s" : "%s", v->w[ids[k]]);
}

int cmd_memnet_explain(int argc, char **argv)
{
    mn_args a;
    mn_files f = {0};
    mn_ctx c = {0};
    mn_set test = {0};
    int r = mn_parse(argc, argv, &a, MN_EXPLAIN);
    if (r)
        return CLI_EXIT(r);
    if ((r = mn_parse_tasks(a.task_arg, &f, 1)))
        return r;
    if ((r = mn_open_checkpoint(&c, &a)) || (r = mn_load_files(&f, a.data_dir, 0)))
        goto out;
    test.M = c.M, test.J = c.J, test.Jq = c.Jq;
    if (mn_set_add(&test, &c.vocab, f.test[0], f.tasks[0])) {
        fprintf(stderr, "strata: error: out of memory vectorising the questions\n");
        r = 1;
        goto out;
    }
    mn_warn_set(&c, &test);
    const int64_t stories = strata_babi_story_count(f.test[0]);
    if (a.story > stories) {
        fprintf(stderr, "strata: error: --story %lld: the test file of task %d has %lld stories\n", (long long)a.story,
                f.tasks[0], (long long)stories);
        r = 2;
        goto out;
    }
    int nd = 0;
    const int64_t *as = strata_model_output_shape(c.model, 1, &nd);
    if (!as || nd != 2) {
        fprintf(stderr, "strata: error: the spec's model must output the attention (K, M) second (outputs: [mn, "
                        "\"mn:1\"])\n");
        r = 1;
        goto out;
    }
    const int64_t K = as[0], M = c.M, J = c.J, V = c.vocab.n;
    mn_bufs b;
    strata_status rc = mn_bufs_alloc(&b, &c, 1) ? STRATA_E_NOMEM : STRATA_OK;
    float *att = malloc(sizeof(float) * (size_t)(K * M));
    char line[1024];
    rc = rc ? rc : att ? STRATA_OK : STRATA_E_NOMEM;
    strata_set_grad_enabled(c.rt, 0);
    int64_t shown = 0;
    for (int64_t q = 0; !rc && q < test.n; q++) {
        if (test.story[q] != a.story - 1)
            continue;
        shown++;
        b.idx[0] = q;
        mn_batch(&test, b.idx, 1, 0.0, NULL, b.story, b.query, b.answer);
        strata_tensor *lg = NULL, *at = NULL;
        rc = mn_forward(&c, 1, b.story, b.query, 0, &lg, &at);
        if (!rc)
            rc = strata_tensor_read(lg, b.logits, sizeof(float) * (size_t)V);
        if (!rc)
            rc = strata_tensor_read(at, att, sizeof(float) * (size_t)(K * M));
        strata_tensor_release(lg);
        strata_tensor_release(at);
        if (rc)
            break;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            best = b.logits[v] > b.logits[best] ? v : best;
        printf("\n%-48s", "story (oldest first)");
        for (int64_t k = 0; k < K; k++)
            printf("  hop %lld", (long long)(k + 1));
        printf("\n");
        double rest[16] = {0}, any = 0; /* the hops' attention on the empty memory slots (mask_empty: 0) */
        for (int64_t slot = test.n_ctx[q] - 1; slot >= 0; slot--) {
            mn_words(&c.vocab, b.story + slot * J, J, line, sizeof line);
            printf("  %-46.46s", line);
            for (int64_t k = 0; k < K; k++)
                printf("  %5.2f", att[k * M + slot]);
            printf("\n");
        }
        for (int64_t k = 0; k < K && k < 16; k++) {
            for (int64_t slot = test.n_ctx[q]; slot < M; slot++)
                rest[k] += att[k * M + slot];
            any = rest[k] > any ? rest[k] : any;
        }
        if (any >= 0.005) { /* the columns did not sum to 1, unexplained */
            printf("  %-46.46s", "(empty memory slots)");
            for (int64_t k = 0; k < K && k < 16; k++)
                printf("  %5.2f", rest[k]);
            printf("\n");
        }
        mn_words(&c.vocab, b.query, c.Jq, line, sizeof line);
        printf("question: %s?  answer: %s  prediction: %s%s\n", line, c.vocab.w[b.answer[0]], c.vocab.w[best],
               best == b.answer[0] ? "" : "  (wrong)");
    }
    free(att);
    mn_bufs_free(&b);
    if (rc)
        r = cli_fail("explaining", rc);
    else if (!shown) { /* nothing to show is not a success */
        fprintf(stderr, "strata: error: story %lld of task %d's test file has no questions: nothing to explain\n",
                (long long)a.story, f.tasks[0]);
        r = 1;
    }
out:
    mn_set_free(&test);
    mn_files_free(&f);
    mn_ctx_free(&c);
    return r;
}

/* ---- W4 -------------------------------------------------------------------------- */

int memnet_bench(const char *spec, const char *backend, int64_t warmup, int64_t steps, int profile,
                 void (*report)(strata_runtime *rt, strata_device *dev, const double *times, int64_t batch,
                                double loss, void *user),
                 void *user)
{
    mn_args a = {.backend = backend};
    mn_ctx c = {0};
    mn_bufs b = {0};
    const int64_t V = 40, B = 32, total = warmup + steps;
    double *times = calloc((size_t)total, sizeof *times), clip = 40.0, loss = 0.0;
    int r = times ? mn_open(&c, &a, spec) : 1;
    if (r)
        goto out;
    c.M = 50, c.J = 12, c.Jq = 12;
    for (int64_t k = 0; k < V && !r; k++) {
        char w[16];
        snprintf(w, sizeof w, k ? "w%02lld" : "<nil>", (long long)k);
        r = mn_vocab_add(&c.vocab, w);
    }
    if (r || (r = mn_build(&c, 1)) || (r = mn_bufs_alloc(&b, &c, B)))
        goto out;
    strata_spec_get_float(c.spec, "train.clip_grad_norm", 40.0, &clip);
    uint64_t rng = 1;
    for (int64_t i = 0; i < B * c.M * c.J; i++)
        b.story[i] = (int64_t)(mn_rand(&rng) % (uint64_t)V);
    for (int64_t i = 0; i < B * c.Jq; i++)
        b.query[i] = (int64_t)(mn_rand(&rng) % (uint64_t)V);
    for (int64_t i = 0; i < B; i++)
        b.answer[i] = (int64_t)(mn_rand(&rng) % (uint64_t)V);
    strata_status rc = STRATA_OK;
    for (int64_t s = 0; s < total && !rc; s++) {
        if (s == warmup && profile) {
            strata_profile_reset(c.rt);
            strata_profile_enable(c.rt, 1);
        }
        const double t0 = cli_now();
        strata_tensor *lg = NULL, *l = NULL;
        rc = mn_forward(&c, B, b.story, b.query, 1, &lg, NULL);
        if (!rc)
            rc = mn_loss(&c, lg, &b, B, 0, &l, NULL); /* the peer's mean loss */
        strata_tensor_release(lg);
        strata_status up = cli_update(c.rt, c.model, c.opt, l, clip, rc ? NULL : &loss);
        rc = rc ? rc : up;
        strata_device_synchronize(c.dev);
        times[s] = cli_now() - t0;
    }
    if (rc)
        r = cli_fail("W4", rc);
    else
        report(c.rt, c.dev, times, B, loss, user);
out:
    mn_bufs_free(&b);
    free(times);
    mn_ctx_free(&c);
    return r;
}
