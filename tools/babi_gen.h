/* babi_gen.h - pieces shared by the bAbI generator (babi_gen_tasks.c), its
 * checker (babi_gen_check.c) and the command (babi_gen.c). docs/babi.md. */
#ifndef STRATA_BABI_GEN_H
#define STRATA_BABI_GEN_H

#include <stddef.h>
#include <stdint.h>

enum { BG_NTASKS = 20 };

/* xorshift-style generator (splitmix64); one stream per task and split. */
typedef struct {
    uint64_t s;
} bg_rng;

uint64_t bg_next(bg_rng *r);
/** Uniform in [0, n); n >= 1. */
int bg_int(bg_rng *r, int n);

/* One file being written: the text, the story's line counter, the number
 * of questions so far and the number wanted. */
typedef struct {
    char *buf;
    size_t len, cap;
    int line;  /* ID of the last line of the current story */
    int nq;    /* questions written */
    int limit; /* questions wanted */
    int nomem;
} bg_out;

/** Starts a new story: IDs restart at 1. */
void bg_story(bg_out *o);
/** Appends a statement line; returns its ID. */
int bg_stmt(bg_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends "ID question \tanswer\tids" (ids sorted ascending, duplicates
 *  dropped); @p q ends with '?'. */
void bg_question(bg_out *o, const char *q, const char *answer, const int *sup, int nsup);
/** 1 when the file has all its questions. */
int bg_full(const bg_out *o);

/** Task @p task (1..20): official file-name stem ("qa1_single-supporting-fact"). */
const char *bg_task_name(int task);
/** Generates one story of task @p task into @p o. */
void bg_gen_story(int task, bg_out *o, bg_rng *r);

/* Vocabulary shared by generator and checker. */
extern const char *const bg_people[4];    /* Mary John Daniel Sandra */
extern const char *const bg_places[6];    /* bathroom hallway kitchen office bedroom garden */
extern const char *const bg_objects[3];   /* football apple milk */
extern const char *const bg_move_verbs[5];
extern const char *const bg_get_verbs[4];
extern const char *const bg_drop_verbs[4];
extern const char *const bg_give_verbs[3];
extern const char *const bg_connectives[4]; /* "After that", "Then", ... */
extern const char *const bg_people2[4];     /* Bill Fred Jeff Mary (task 5) */
extern const char *const bg_people3[4];     /* Fred Mary Bill Julie (tasks 10, 14) */
extern const char *const bg_places3[6];     /* school park office cinema kitchen bedroom */
extern const char *const bg_times[4];       /* yesterday ... this evening */
extern const char *const bg_numbers[4];     /* none one two three */

/** Index of @p w in @p list of @p n words, or -1. */
int bg_find(const char *const *list, int n, const char *w);

/** Checks every question of the file at @p path (written for @p task):
 *  IDs, supporting facts and the answer derived from the supporting facts.
 *  Prints "path:line: reason" for each failure (at most 10); returns the
 *  number of failures, or -1 when the file cannot be read. */
int bg_check_file(const char *path, int task);

#endif
