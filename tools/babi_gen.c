/* babi_gen.c - `strata babi-gen`: writes the 20 bAbI question-answering
 * tasks (Weston et al. 2015) in the official v1.2 text format, one train
 * and one test file per task, and optionally checks them (--verify).
 * The stories come from babi_gen_tasks.c, the checker from
 * babi_gen_check.c; docs/babi.md describes both. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "babi_gen.h"
#include "cli.h"
#include "write_atomic.h"

uint64_t bg_next(bg_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int bg_int(bg_rng *r, int n)
{
    return (int)(bg_next(r) % (uint64_t)n);
}

static void bg_append(bg_out *o, const char *s, size_t n)
{
    if (o->nomem)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1 << 16;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->nomem = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

void bg_story(bg_out *o)
{
    o->line = 0;
}

int bg_stmt(bg_out *o, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char line[300];
    int n = snprintf(line, sizeof line, "%d %s\n", ++o->line, text);
    bg_append(o, line, (size_t)n);
    return o->line;
}

static int bg_cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

void bg_question(bg_out *o, const char *q, const char *answer, const int *sup, int nsup)
{
    int s[64];
    int n = nsup < 64 ? nsup : 64;
    memcpy(s, sup, sizeof(int) * (size_t)n);
    qsort(s, (size_t)n, sizeof(int), bg_cmp_int);
    char line[1024];
    int k = snprintf(line, sizeof line, "%d %s \t%s\t", ++o->line, q, answer);
    for (int i = 0; i < n && k < (int)sizeof line - 16; i++) {
        if (i > 0 && s[i] == s[i - 1])
            continue;
        k += snprintf(line + k, sizeof line - (size_t)k, "%s%d", i ? " " : "", s[i]);
    }
    line[k++] = '\n';
    bg_append(o, line, (size_t)k);
    o->nq++;
}

int bg_full(const bg_out *o)
{
    return o->nq >= o->limit;
}

typedef struct {
    int tasks[BG_NTASKS], ntasks;
    const char *out_dir;
    int64_t ntrain, ntest;
    uint64_t seed;
    int verify;
    const char *check; /* --check FILE: only check an existing file */
} bg_args;

static int bg_parse(int argc, char **argv, bg_args *a)
{
    memset(a, 0, sizeof *a);
    a->ntrain = a->ntest = 1000;
    const char *task = NULL;
    int64_t seed = 1;
    const cli_opt opts[] = {
        {.name = "--task", .type = CLI_STRING, .dst = &task, .value = "N|all", .help = "the task, 1..20, or all"},
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR",
         .help = "where qaN_<name>_train.txt and qaN_<name>_test.txt go"},
        {.name = "--train", .type = CLI_INT, .dst = &a->ntrain, .value = "Q", .lo = 1, .hi = 100000000,
         .help = "training questions per task (default 1000)"},
        {.name = "--test", .type = CLI_INT, .dst = &a->ntest, .value = "Q", .lo = 1, .hi = 100000000,
         .help = "test questions per task (default 1000)"},
        {.name = "--seed", .type = CLI_INT, .dst = &seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .help = "the world's random seed (default 1); the same seed writes the same files"},
        {.name = "--verify", .type = CLI_FLAG, .dst = &a->verify,
         .help = "check every written question against the task's rules"},
        {.name = "--check", .type = CLI_STRING, .dst = &a->check, .value = "FILE",
         .help = "only check an existing bAbI file against task N's rules"},
        {0},
    };
    const cli_command c = {.name = "babi-gen", .opts = opts,
                           .synopsis = "--task N|all --out DIR [options]\n--task N --check FILE",
                           .about = "Writes bAbI-format question-answering tasks (Weston et al. 2015; docs/babi.md)."};
    int r = cli_parse(&c, argc, argv);
    if (r || (r = cli_require(&c, task, "--task N|all")))
        return r;
    a->seed = (uint64_t)seed;
    if (a->check && a->out_dir)
        return cli_usage_error(&c, "--check FILE only reads; drop --out %s", a->out_dir);
    if (!a->check && (r = cli_require(&c, a->out_dir, "--out DIR")))
        return r;
    if (!strcmp(task, "all") && !a->check) {
        for (int t = 1; t <= BG_NTASKS; t++)
            a->tasks[a->ntasks++] = t;
        return 0;
    }
    int64_t t = 0;
    if (cli_read_int(task, 1, BG_NTASKS, &t)) { /* as every number option: not ' 1' nor '+1' */
        fprintf(stderr, "strata: error: babi-gen: unknown task '%s' (expected 1..20%s)\n", task,
                a->check ? "" : " or all");
        return 2;
    }
    a->tasks[a->ntasks++] = (int)t;
    return 0;
}

/* Writes @p o's text to dir/name whole or not at all (cli_write_atomic). */
static int bg_write(const char *dir, const char *name, const bg_out *o, char *path, size_t path_size)
{
    if (snprintf(path, path_size, "%s/%s", dir, name) >= (int)path_size) {
        fprintf(stderr, "strata: error: babi-gen: path too long: %s/%s\n", dir, name);
        return 1;
    }
    return cli_write_atomic(path, o->buf, o->len);
}

int cmd_babi_gen(int argc, char **argv)
{
    bg_args a;
    int r = bg_parse(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    if (a.check) {
        int bad = bg_check_file(a.check, a.tasks[0]);
        if (bad > 0) /* (< 0: said why it could not check) */
            fprintf(stderr, "strata: error: babi-gen: %s: %d problem(s)\n", a.check, bad);
        else if (bad == 0)
            printf("strata: %s: every answer follows from its supporting facts\n", a.check);
        return bad ? 1 : 0;
    }
    if ((r = cli_make_dir(a.out_dir)))
        return r;
    int failures = 0;
    for (int k = 0; k < a.ntasks; k++) {
        int task = a.tasks[k];
        for (int split = 0; split < 2; split++) {
            /* independent streams: the seed mixed with task and split */
            bg_rng rng = {a.seed * 0xD1B54A32D192ED03ull ^ ((uint64_t)task << 8 | (uint64_t)split)};
            for (int i = 0; i < 4; i++)
                rng.s ^= bg_next(&rng);
            bg_out o = {0};
            o.limit = (int)(split ? a.ntest : a.ntrain);
            while (!bg_full(&o) && !o.nomem) {
                bg_story(&o);
                bg_gen_story(task, &o, &rng);
            }
            if (o.nomem) {
                free(o.buf);
                fprintf(stderr, "strata: error: babi-gen: out of memory generating task %d\n", task);
                return 1;
            }
            char name[128], path[4200];
            snprintf(name, sizeof name, "%s_%s.txt", bg_task_name(task), split ? "test" : "train");
            r = bg_write(a.out_dir, name, &o, path, sizeof path);
            free(o.buf);
            if (r)
                return r;
            printf("strata: wrote %s (%d questions)\n", path, o.nq);
            if (a.verify) {
                int bad = bg_check_file(path, task);
                if (bad < 0)
                    return 1;
                failures += bad;
            }
        }
    }
    if (a.verify) {
        if (failures) {
            fprintf(stderr, "strata: error: babi-gen: --verify found %d wrong question(s)\n", failures);
            return 1;
        }
        printf("strata: verified: every answer follows from its supporting facts\n");
    }
    return 0;
}
