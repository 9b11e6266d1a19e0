/* babi_gen_check.c - `strata babi-gen --verify`: re-reads a written task
 * file and, for every question, derives the answer from the question and
 * its supporting facts (their text and their order), with rules of its own
 * per task, and compares it with the recorded answer. It shares only the
 * vocabulary with the generator. It also reads the rest of the story before
 * the question to check that the supporting facts are the latest word (no
 * later move of the person, give of the object, ...), and, for tasks 11 and
 * 13, the statement just before a pronoun line to resolve the pronoun, as
 * the official supporting fact there is the pronoun line only. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "babi_gen.h"
#include "write_atomic.h"

enum { CAP = 48, MAXSUP = 64 };

typedef struct {
    int id, is_q;
    char text[256], answer[64];
    int sup[MAXSUP], nsup;
} ck_line;

/* '%' in @p pat matches a non-empty span, the shortest that lets the rest match. */
static int pm_rec(const char *s, const char *p, char (*cap)[CAP], int k)
{
    if (!*p)
        return !*s;
    if (*p != '%')
        return *s == *p && pm_rec(s + 1, p + 1, cap, k);
    size_t len = strlen(s);
    for (size_t n = 1; n <= len; n++) {
        if (pm_rec(s + n, p + 1, cap, k + 1)) {
            if (n >= CAP)
                return 0;
            memcpy(cap[k], s, n);
            cap[k][n] = '\0';
            return 1;
        }
    }
    return 0;
}

static int pm(const char *s, const char *pat, char (*cap)[CAP])
{
    return pm_rec(s, pat, cap, 0);
}

/* Copies @p src into dst[n], truncating. */
static void cpy(char *dst, size_t n, const char *src)
{
    size_t k = strlen(src);
    if (k >= n)
        k = n - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
}

enum { F_NONE, F_MOVE, F_CONJ, F_PRON, F_GET, F_DROP, F_GIVE, F_ISIN, F_NOTIN, F_EITHER, F_DIR, F_POS, F_BIGGER,
       F_AFRAID, F_ISA, F_IS };

typedef struct {
    int kind;
    char a[CAP], b[CAP], c[CAP]; /* subject; second subject / object; place / receiver */
    int tm, line;
} ck_fact;

static const char *const ck_dirs[4] = {"north", "south", "east", "west"};
static const char *const ck_rel[4] = {"above", "below", "to the right of", "to the left of"};
static const char *const ck_time_cap[4] = {"Yesterday", "This morning", "This afternoon", "This evening"};

static int set3(ck_fact *f, int kind, char (*cap)[CAP], int a, int b, int c, int tm)
{
    f->kind = kind;
    f->tm = tm;
    cpy(f->a, CAP, a >= 0 ? cap[a] : "");
    cpy(f->b, CAP, b >= 0 ? cap[b] : "");
    cpy(f->c, CAP, c >= 0 ? cap[c] : "");
    return kind;
}

/* Reads one statement into a fact; returns its kind, F_NONE when no template fits. */
static int ck_parse(const char *s, ck_fact *f)
{
    char cap[4][CAP], pat[128];
    memset(f, 0, sizeof *f);
    f->tm = -1;
    for (int v = 0; v < 5; v++) {
        const char *verb = bg_move_verbs[v];
        for (int t = 0; t < 4; t++) {
            snprintf(pat, sizeof pat, "%s %% %s the %%.", ck_time_cap[t], verb);
            if (pm(s, pat, cap))
                return set3(f, F_MOVE, cap, 0, -1, 1, t);
            snprintf(pat, sizeof pat, "%% %s the %% %s.", verb, bg_times[t]);
            if (pm(s, pat, cap))
                return set3(f, F_MOVE, cap, 0, -1, 1, t);
        }
        for (int c = 0; c < 4; c++) {
            snprintf(pat, sizeof pat, "%s %% %s the %%.", bg_connectives[c], verb);
            if (pm(s, pat, cap))
                return set3(f, F_PRON, cap, 0, -1, 1, -1);
        }
        snprintf(pat, sizeof pat, "%% and %% %s the %%.", verb);
        if (pm(s, pat, cap))
            return set3(f, F_CONJ, cap, 0, 1, 2, -1);
        snprintf(pat, sizeof pat, "%% %s the %%.", verb);
        if (pm(s, pat, cap))
            return set3(f, F_MOVE, cap, 0, -1, 1, -1);
    }
    for (int v = 0; v < 4; v++) {
        snprintf(pat, sizeof pat, "%% %s the %% there.", bg_get_verbs[v]);
        if (pm(s, pat, cap))
            return set3(f, F_GET, cap, 0, 1, -1, -1);
    }
    for (int v = 0; v < 3; v++) {
        snprintf(pat, sizeof pat, "%% %s the %% to %%.", bg_give_verbs[v]);
        if (pm(s, pat, cap))
            return set3(f, F_GIVE, cap, 0, 1, 2, -1);
    }
    for (int v = 0; v < 4; v++) {
        snprintf(pat, sizeof pat, "%% %s the %%.", bg_drop_verbs[v]);
        if (pm(s, pat, cap) && !strchr(cap[0], ' '))
            return set3(f, F_DROP, cap, 0, 1, -1, -1);
    }
    if (pm(s, "% is either in the % or the %.", cap))
        return set3(f, F_EITHER, cap, 0, 1, 2, -1);
    if (pm(s, "% is not in the %.", cap) || pm(s, "% is no longer in the %.", cap))
        return set3(f, F_NOTIN, cap, 0, -1, 1, -1);
    if (pm(s, "% is in the %.", cap))
        return set3(f, F_ISIN, cap, 0, -1, 1, -1);
    for (int d = 0; d < 4; d++) {
        snprintf(pat, sizeof pat, "The %% is %s the %%.", ck_rel[d]);
        if (pm(s, pat, cap))
            return set3(f, F_POS, cap, 0, 1, -1, d);
        snprintf(pat, sizeof pat, "The %% is %s of the %%.", ck_dirs[d]);
        if (pm(s, pat, cap))
            return set3(f, F_DIR, cap, 0, 1, -1, d);
    }
    if (pm(s, "The % is bigger than the %.", cap))
        return set3(f, F_BIGGER, cap, 0, 1, -1, -1);
    if (pm(s, "The % fits in the %.", cap) || pm(s, "The % fits inside the %.", cap))
        return set3(f, F_BIGGER, cap, 1, 0, -1, -1);
    if (pm(s, "% are afraid of %.", cap))
        return set3(f, F_AFRAID, cap, 0, 1, -1, -1);
    if (pm(s, "% is a %.", cap))
        return set3(f, F_ISA, cap, 0, 1, -1, -1);
    if (pm(s, "% is %.", cap))
        return set3(f, F_IS, cap, 0, 1, -1, -1);
    return F_NONE;
}

static int ck_dir_index(const char *w)
{
    return bg_find(ck_dirs, 4, w);
}

static int ck_opp(int d)
{
    return d ^ 1;
}

typedef struct {
    const ck_line *story; /* the story up to the question */
    int n;
    ck_fact f[MAXSUP];
    int nf;
    char ans[128], why[160];
} ck_ctx;

__attribute__((format(printf, 2, 3))) static int ck_fail(ck_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return 1;
}

#define FAIL(...) ck_fail(c, __VA_ARGS__)

static int need(ck_ctx *c, int nf)
{
    return c->nf == nf ? 0 : FAIL("expected %d supporting fact(s), got %d", nf, c->nf);
}

static int set_ans(ck_ctx *c, const char *a)
{
    cpy(c->ans, sizeof c->ans, a);
    return 0;
}

/* The place a fact puts @p who in: a move, conjunction or "is in". */
static const char *place_of(const ck_fact *f, const char *who)
{
    if ((f->kind == F_MOVE || f->kind == F_ISIN) && !strcmp(f->a, who))
        return f->c;
    if (f->kind == F_CONJ && (!strcmp(f->a, who) || !strcmp(f->b, who)))
        return f->c;
    return NULL;
}

/* The statement before line @p id of the story, parsed; its line ID, 0 when none. */
static int previous_fact(const ck_ctx *c, int id, ck_fact *out)
{
    for (int i = c->n - 1; i >= 0; i--)
        if (c->story[i].id < id && !c->story[i].is_q) {
            ck_parse(c->story[i].text, out);
            return c->story[i].id;
        }
    return 0;
}

/* Line @p id of the story parsed into @p f; 0 when it is a question. */
static int statement(const ck_ctx *c, int id, ck_fact *f)
{
    if (c->story[id - 1].is_q)
        return 0;
    ck_parse(c->story[id - 1].text, f);
    return 1;
}

/* Whether statement @p id of the story places @p who (a move, conjunction,
 * "is (not / either) in", or a pronoun line whose antecedent is about them). */
static int places(const ck_ctx *c, int id, const char *who)
{
    ck_fact f;
    ck_parse(c->story[id - 1].text, &f);
    while (f.kind == F_PRON) /* about its antecedent: the statement before, itself resolved */
        if (!(id = previous_fact(c, id, &f)))
            return 0;
    if (f.kind == F_MOVE || f.kind == F_ISIN || f.kind == F_NOTIN || f.kind == F_EITHER)
        return !strcmp(f.a, who);
    return f.kind == F_CONJ && (!strcmp(f.a, who) || !strcmp(f.b, who));
}

/* The first statement after line @p after (before the question, or before
 * line @p before when nonzero) that places @p who; 0 when none: a supporting
 * fact must be the latest word on where someone is. */
static int placed_later(const ck_ctx *c, const char *who, int after, int before)
{
    for (int id = after + 1; id <= c->n && (!before || id < before); id++)
        if (!c->story[id - 1].is_q && places(c, id, who))
            return id;
    return 0;
}

/* The first statement after line @p after that gets, drops or gives (@p
 * gives_only: gives) the object @p obj, by @p by, to @p to (each when not
 * NULL); 0 when none. */
static int object_later(const ck_ctx *c, int gives_only, const char *obj, const char *by, const char *to, int after)
{
    for (int id = after + 1; id <= c->n; id++) {
        ck_fact f;
        if (!statement(c, id, &f))
            continue;
        const int kind = f.kind == F_GIVE || (!gives_only && (f.kind == F_GET || f.kind == F_DROP));
        if (kind && (!obj || !strcmp(f.b, obj)) && (!by || !strcmp(f.a, by)) &&
            (!to || (f.kind == F_GIVE && !strcmp(f.c, to))))
            return id;
    }
    return 0;
}

static int chk_where_person(ck_ctx *c, const char *q, int task)
{
    char cap[4][CAP];
    if (!pm(q, "Where is %?", cap))
        return FAIL("question not understood");
    if (need(c, 1))
        return 1;
    const ck_fact *f = &c->f[0];
    if (f->kind == F_PRON) {
        ck_fact ante;
        if (!previous_fact(c, f->line, &ante))
            return FAIL("pronoun with no antecedent");
        if (task == 11) {
            static const char *const she[2] = {"Mary", "Sandra"}, *const he[2] = {"John", "Daniel"};
            int female = bg_find(she, 2, ante.a) >= 0, male = bg_find(he, 2, ante.a) >= 0;
            if (ante.kind != F_MOVE || !((female && !strcmp(f->a, "she")) || (male && !strcmp(f->a, "he"))))
                return FAIL("pronoun '%s' does not refer to the previous statement's subject", f->a);
            if (strcmp(ante.a, cap[0]))
                return FAIL("the pronoun line is about %s, not %s", ante.a, cap[0]);
        } else {
            if (ante.kind != F_CONJ || strcmp(f->a, "they"))
                return FAIL("'they' does not refer to two people");
            if (strcmp(ante.a, cap[0]) && strcmp(ante.b, cap[0]))
                return FAIL("the pronoun line is about %s and %s, not %s", ante.a, ante.b, cap[0]);
        }
    } else if (!place_of(f, cap[0]))
        return FAIL("the supporting fact does not place %s", cap[0]);
    const int later = placed_later(c, cap[0], f->line, 0);
    return later ? FAIL("statement %d places %s after supporting fact %d", later, cap[0], f->line) : set_ans(c, f->c);
}

static int chk_where_object(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "Where is the %?", cap))
        return FAIL("question not understood");
    if (need(c, 2))
        return 1;
    int o = -1, m = -1;
    for (int i = 0; i < 2; i++) {
        if ((c->f[i].kind == F_GET || c->f[i].kind == F_DROP) && !strcmp(c->f[i].b, cap[0]))
            o = i;
        else if (c->f[i].kind == F_MOVE)
            m = i;
    }
    if (o < 0 || m < 0 || strcmp(c->f[o].a, c->f[m].a))
        return FAIL("need a get/drop of the %s and a move of the same person", cap[0]);
    if (c->f[o].kind == F_DROP && m > o)
        return FAIL("the move comes after the drop");
    int later = object_later(c, 0, cap[0], NULL, NULL, c->f[o].line);
    if (later)
        return FAIL("statement %d moves the %s after supporting fact %d", later, cap[0], c->f[o].line);
    /* holding it: the person's last move; dropped: the last move before the drop */
    later = placed_later(c, c->f[m].a, c->f[m].line, c->f[o].kind == F_DROP ? c->f[o].line : 0);
    if (later)
        return FAIL("statement %d moves %s after supporting fact %d", later, c->f[m].a, c->f[m].line);
    return set_ans(c, c->f[m].c);
}

static int chk_where_was(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "Where was the % before the %?", cap))
        return FAIL("question not understood");
    if (need(c, 3))
        return 1;
    int g = -1;
    for (int i = 0; i < 3; i++)
        if (c->f[i].kind == F_GET && !strcmp(c->f[i].b, cap[0]))
            g = i;
    if (g < 0)
        return FAIL("no supporting fact picks up the %s", cap[0]);
    const char *seq[3];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (i == g)
            continue;
        if (c->f[i].kind != F_MOVE || strcmp(c->f[i].a, c->f[g].a))
            return FAIL("fact %d is not a move of %s", c->f[i].line, c->f[g].a);
        if (i < g && g - i > 1)
            return FAIL("two moves before the pick-up");
        seq[n++] = c->f[i].c;
    }
    if (strcmp(seq[n - 1], cap[1]))
        return FAIL("the %s's last place is %s, not %s", cap[0], seq[n - 1], cap[1]);
    if (!strcmp(seq[n - 2], cap[1]))
        return FAIL("the two places are the same");
    /* the two moves (m1 before m2): nothing moves the holder between them, and the object stays with the
     * holder from the get to the last move */
    const int m1 = g == 0 ? 1 : 0, m2 = g == 2 ? 1 : 2;
    const int between = placed_later(c, c->f[g].a, c->f[m1].line, c->f[m2].line);
    if (between)
        return FAIL("statement %d moves %s between supporting facts %d and %d", between, c->f[g].a, c->f[m1].line,
                    c->f[m2].line);
    const int handed = object_later(c, 0, cap[0], NULL, NULL, c->f[g].line);
    if (handed && handed < c->f[m2].line)
        return FAIL("statement %d moves the %s before supporting fact %d", handed, cap[0], c->f[m2].line);
    return set_ans(c, seq[n - 2]);
}

static int chk_two_arg(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (need(c, 1))
        return 1;
    const ck_fact *f = &c->f[0];
    int d, fd = f->tm;
    if (f->kind != F_DIR)
        return FAIL("the supporting fact is not a direction");
    if (pm(q, "What is % of the %?", cap) && (d = ck_dir_index(cap[0])) >= 0) {
        if (d == fd && !strcmp(f->b, cap[1]))
            return set_ans(c, f->a);
        if (d == ck_opp(fd) && !strcmp(f->a, cap[1]))
            return set_ans(c, f->b);
        return FAIL("the supporting fact does not say what is %s of the %s", cap[0], cap[1]);
    }
    if (pm(q, "What is the % % of?", cap) && (d = ck_dir_index(cap[1])) >= 0) {
        if (d == fd && !strcmp(f->a, cap[0]))
            return set_ans(c, f->b);
        if (d == ck_opp(fd) && !strcmp(f->b, cap[0]))
            return set_ans(c, f->a);
        return FAIL("the supporting fact does not say what the %s is %s of", cap[0], cap[1]);
    }
    return FAIL("question not understood");
}

static int chk_give(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (need(c, 1))
        return 1;
    const ck_fact *f = &c->f[0];
    if (f->kind != F_GIVE)
        return FAIL("the supporting fact is not a give");
    /* the latest give that fits the question: no later statement gives the same */
    int later;
    const char *ans;
    if (pm(q, "Who gave the % to %?", cap)) {
        if (strcmp(cap[0], f->b) || strcmp(cap[1], f->c))
            return FAIL("the give is of another object or receiver");
        later = object_later(c, 1, f->b, NULL, f->c, f->line), ans = f->a;
    } else if (pm(q, "Who gave the %?", cap) || pm(q, "Who received the %?", cap)) {
        if (strcmp(cap[0], f->b))
            return FAIL("the give is of another object");
        later = object_later(c, 1, f->b, NULL, NULL, f->line), ans = q[4] == 'g' ? f->a : f->c;
    } else if (pm(q, "Who did % give the % to?", cap)) {
        if (strcmp(cap[0], f->a) || strcmp(cap[1], f->b))
            return FAIL("the give is by another person or of another object");
        later = object_later(c, 1, f->b, f->a, NULL, f->line), ans = f->c;
    } else if (pm(q, "What did % give to %?", cap)) {
        if (strcmp(cap[0], f->a) || strcmp(cap[1], f->c))
            return FAIL("the give is by or to someone else");
        later = object_later(c, 1, NULL, f->a, f->c, f->line), ans = f->b;
    } else
        return FAIL("question not understood");
    return later ? FAIL("statement %d is a later give that fits the question", later) : set_ans(c, ans);
}

/* Tasks 6, 9, 10: "Is P in the L?" from the one fact told of P. */
static int chk_is_in(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "Is % in the %?", cap))
        return FAIL("question not understood");
    if (need(c, 1))
        return 1;
    const ck_fact *f = &c->f[0];
    if (strcmp(f->a, cap[0]))
        return FAIL("the supporting fact is not about %s", cap[0]);
    const int later = placed_later(c, cap[0], f->line, 0);
    if (later)
        return FAIL("statement %d places %s after supporting fact %d", later, cap[0], f->line);
    if (f->kind == F_MOVE || f->kind == F_ISIN)
        return set_ans(c, strcmp(f->c, cap[1]) ? "no" : "yes");
    if (f->kind == F_NOTIN)
        return strcmp(f->c, cap[1]) ? FAIL("'not in the %s' says nothing of the %s", f->c, cap[1]) : set_ans(c, "no");
    if (f->kind == F_EITHER)
        return set_ans(c, !strcmp(f->b, cap[1]) || !strcmp(f->c, cap[1]) ? "maybe" : "no");
    return FAIL("the supporting fact does not place %s", cap[0]);
}

/* qsort order of two strings. */
static int by_string(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Tasks 7, 8: replay the person's object lines in order. */
static int chk_carrying(ck_ctx *c, const char *q, int list)
{
    char cap[4][CAP];
    if (!(list ? pm(q, "What is % carrying?", cap) : pm(q, "How many objects is % carrying?", cap)))
        return FAIL("question not understood");
    if (c->nf < 1)
        return FAIL("no supporting facts");
    char held[8][CAP];
    int n = 0;
    for (int i = 0; i < c->nf; i++) {
        const ck_fact *f = &c->f[i];
        int gain = (f->kind == F_GET && !strcmp(f->a, cap[0])) || (f->kind == F_GIVE && !strcmp(f->c, cap[0]));
        int lose = (f->kind == F_DROP || f->kind == F_GIVE) && !strcmp(f->a, cap[0]);
        if (!gain && !lose)
            return FAIL("fact %d is not an object action of %s", f->line, cap[0]);
        int at = -1;
        for (int j = 0; j < n; j++)
            if (!strcmp(held[j], f->b))
                at = j;
        if (gain) {
            if (at >= 0 || n == 8)
                return FAIL("fact %d: %s already holds the %s", f->line, cap[0], f->b);
            cpy(held[n++], CAP, f->b);
        } else {
            if (at < 0)
                return FAIL("fact %d: %s does not hold the %s", f->line, cap[0], f->b);
            memmove(held[at], held[at + 1], sizeof held[0] * (size_t)(n - at - 1));
            n--;
        }
    }
    /* every object action of the person is among them */
    for (int id = 1, i = 0; id <= c->n; id++) {
        ck_fact f;
        if (i < c->nf && c->f[i].line == id) {
            i++;
            continue;
        }
        if (!statement(c, id, &f))
            continue;
        if (((f.kind == F_GET || f.kind == F_DROP || f.kind == F_GIVE) && !strcmp(f.a, cap[0])) ||
            (f.kind == F_GIVE && !strcmp(f.c, cap[0])))
            return FAIL("statement %d changes what %s carries and is not a supporting fact", id, cap[0]);
    }
    if (!list)
        return n > 3 ? FAIL("more than three objects") : set_ans(c, bg_numbers[n]);
    /* the set in alphabetical order */
    qsort(held, (size_t)n, sizeof held[0], by_string);
    c->ans[0] = '\0';
    for (int j = 0; j < n; j++)
        snprintf(c->ans + strlen(c->ans), sizeof c->ans - strlen(c->ans), "%s%s", j ? "," : "", held[j]);
    return n ? 0 : set_ans(c, "nothing");
}

static int chk_time(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "Where was % before the %?", cap))
        return FAIL("question not understood");
    if (need(c, 2))
        return 1;
    const ck_fact *a = &c->f[0], *b = &c->f[1];
    if (a->kind != F_MOVE || b->kind != F_MOVE || a->tm < 0 || b->tm < 0)
        return FAIL("need two timed moves");
    if (strcmp(a->a, cap[0]) || strcmp(b->a, cap[0]))
        return FAIL("the moves are not both of %s", cap[0]);
    if (a->tm == b->tm)
        return FAIL("the two moves have the same time");
    if (a->tm > b->tm) {
        const ck_fact *t = a;
        a = b, b = t;
    }
    if (strcmp(b->c, cap[1]))
        return FAIL("the later move is to the %s, not the %s", b->c, cap[1]);
    for (int id = 1; id <= c->n; id++) { /* no move of the person in between */
        ck_fact f;
        if (statement(c, id, &f) && f.kind == F_MOVE && !strcmp(f.a, cap[0]) && f.tm > a->tm && f.tm < b->tm)
            return FAIL("statement %d moves %s between the two supporting facts' times", id, cap[0]);
    }
    return set_ans(c, a->c);
}

/* Task 15: singular/plural animal names. */
static const char *const ck_sg[4] = {"mouse", "sheep", "wolf", "cat"};
static const char *const ck_pl[4] = {"mice", "sheep", "wolves", "cats"};

static int chk_deduction(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "What is % afraid of?", cap))
        return FAIL("question not understood");
    if (need(c, 2))
        return 1;
    const ck_fact *isa = NULL, *rule = NULL;
    for (int i = 0; i < 2; i++) {
        if (c->f[i].kind == F_ISA)
            isa = &c->f[i];
        if (c->f[i].kind == F_AFRAID)
            rule = &c->f[i];
    }
    if (!isa || !rule || strcasecmp(isa->a, cap[0]))
        return FAIL("need '%s is a ...' and an 'afraid of' rule", cap[0]);
    int k = bg_find(ck_sg, 4, isa->b);
    if (k < 0 || strcasecmp(rule->a, ck_pl[k]))
        return FAIL("the rule is not about %s", k >= 0 ? ck_pl[k] : isa->b);
    int j = bg_find(ck_pl, 4, rule->b);
    return j < 0 ? FAIL("unknown animal '%s'", rule->b) : set_ans(c, ck_sg[j]);
}

static int chk_induction(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    if (!pm(q, "What color is %?", cap))
        return FAIL("question not understood");
    const char *species = NULL, *color = NULL;
    for (int i = 0; i < c->nf; i++)
        if (c->f[i].kind == F_ISA && !strcmp(c->f[i].a, cap[0]))
            species = c->f[i].b;
    if (!species)
        return FAIL("no supporting fact tells what %s is", cap[0]);
    for (int i = 0; i < c->nf; i++) {
        const ck_fact *f = &c->f[i];
        if (f->kind != F_ISA || !strcmp(f->a, cap[0]) || strcmp(f->b, species))
            continue;
        for (int j = 0; j < c->nf; j++)
            if (c->f[j].kind == F_IS && !strcmp(c->f[j].a, f->a)) {
                if (color && strcmp(color, c->f[j].b))
                    return FAIL("two %ss of different colours", species);
                color = c->f[j].b;
            }
    }
    return color ? set_ans(c, color) : FAIL("no other %s's colour is among the supporting facts", species);
}

/* Task 17: place the shapes of the two facts on a grid. */
static int chk_positional(ck_ctx *c, const char *q)
{
    static const int dx[4] = {0, 0, 1, -1}, dy[4] = {1, -1, 0, 0};
    char cap[4][CAP], name[3][CAP];
    int x[3], y[3], n = 0, d = -1;
    if (need(c, 2))
        return 1;
    for (int k = 0; k < 4 && d < 0; k++) {
        char pat[96];
        snprintf(pat, sizeof pat, "Is the %% %s the %%?", ck_rel[k]);
        if (pm(q, pat, cap))
            d = k;
    }
    if (d < 0)
        return FAIL("question not understood");
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 2; i++) {
            const ck_fact *f = &c->f[i];
            if (f->kind != F_POS)
                return FAIL("fact %d is not a relation of shapes", f->line);
            int ia = -1, ib = -1;
            for (int j = 0; j < n; j++) {
                if (!strcmp(name[j], f->a))
                    ia = j;
                if (!strcmp(name[j], f->b))
                    ib = j;
            }
            if (n == 0) {
                cpy(name[0], CAP, f->b);
                x[0] = y[0] = 0, ib = n++;
            }
            if (ia < 0 && ib >= 0 && n < 3) {
                cpy(name[n], CAP, f->a);
                x[n] = x[ib] + dx[f->tm], y[n++] = y[ib] + dy[f->tm];
            } else if (ib < 0 && ia >= 0 && n < 3) {
                cpy(name[n], CAP, f->b);
                x[n] = x[ia] - dx[f->tm], y[n++] = y[ia] - dy[f->tm];
            }
        }
    int a = -1, b = -1;
    for (int j = 0; j < n; j++) {
        if (!strcmp(name[j], cap[0]))
            a = j;
        if (!strcmp(name[j], cap[1]))
            b = j;
    }
    if (a < 0 || b < 0 || a == b)
        return FAIL("the facts do not relate the %s and the %s", cap[0], cap[1]);
    int diff = d < 2 ? y[a] - y[b] : x[a] - x[b];
    if (!diff)
        return FAIL("the two shapes are level along that axis");
    int want = d == 0 || d == 2 ? 1 : -1;
    return set_ans(c, diff * want > 0 ? "yes" : "no");
}

static int chk_size(ck_ctx *c, const char *q)
{
    char cap[4][CAP];
    const char *big = NULL, *small = NULL;
    if (pm(q, "Is the % bigger than the %?", cap))
        big = cap[0], small = cap[1];
    else if (pm(q, "Does the % fit in the %?", cap))
        big = cap[1], small = cap[0];
    else
        return FAIL("question not understood");
    if (need(c, 2))
        return 1;
    const ck_fact *f = c->f;
    if (f[0].kind != F_BIGGER || f[1].kind != F_BIGGER)
        return FAIL("need two size facts");
    /* a chain x > m > y, in either order of the facts */
    const char *x = NULL, *y = NULL;
    if (!strcmp(f[0].b, f[1].a))
        x = f[0].a, y = f[1].b;
    else if (!strcmp(f[1].b, f[0].a))
        x = f[1].a, y = f[0].b;
    else
        return FAIL("the size facts do not form a chain");
    if (!strcmp(big, x) && !strcmp(small, y))
        return set_ans(c, "yes");
    if (!strcmp(big, y) && !strcmp(small, x))
        return set_ans(c, "no");
    return FAIL("the chain %s > %s does not relate the %s and the %s", x, y, big, small);
}

static int chk_path(ck_ctx *c, const char *q)
{
    static const char *const letter[4] = {"n", "s", "e", "w"};
    char cap[4][CAP];
    if (!pm(q, "How do you go from the % to the %?", cap))
        return FAIL("question not understood");
    if (need(c, 2))
        return 1;
    /* each fact "The A is d of the B." is two steps: B -d-> A and A -opp(d)-> B */
    for (int first = 0; first < 2; first++) {
        const ck_fact *f1 = &c->f[first], *f2 = &c->f[1 - first];
        if (f1->kind != F_DIR || f2->kind != F_DIR)
            return FAIL("need two direction facts");
        for (int s1 = 0; s1 < 2; s1++)
            for (int s2 = 0; s2 < 2; s2++) {
                const char *from1 = s1 ? f1->a : f1->b, *to1 = s1 ? f1->b : f1->a;
                const char *from2 = s2 ? f2->a : f2->b, *to2 = s2 ? f2->b : f2->a;
                int d1 = s1 ? ck_opp(f1->tm) : f1->tm, d2 = s2 ? ck_opp(f2->tm) : f2->tm;
                if (!strcmp(from1, cap[0]) && !strcmp(to1, from2) && !strcmp(to2, cap[1])) {
                    snprintf(c->ans, sizeof c->ans, "%s,%s", letter[d1], letter[d2]);
                    return 0;
                }
            }
    }
    return FAIL("the facts give no way from the %s to the %s", cap[0], cap[1]);
}

static int chk_motivation(ck_ctx *c, const char *q)
{
    static const char *const mot[4] = {"hungry", "thirsty", "tired", "bored"};
    static const char *const dest[4] = {"kitchen", "kitchen", "bedroom", "garden"};
    static const char *const want[4] = {"apple", "milk", "pajamas", "football"};
    char cap[4][CAP];
    if (need(c, 1))
        return 1;
    const ck_fact *f = &c->f[0];
    int m = f->kind == F_IS ? bg_find(mot, 4, f->b) : -1;
    if (m < 0)
        return FAIL("the supporting fact is not a motivation");
    if (pm(q, "Where will % go?", cap))
        return strcasecmp(cap[0], f->a) ? FAIL("the fact is about %s", f->a) : set_ans(c, dest[m]);
    if (pm(q, "Why did % go to the %?", cap)) {
        if (strcasecmp(cap[0], f->a) || strcmp(cap[1], dest[m]))
            return FAIL("being %s does not send %s to the %s", mot[m], cap[0], cap[1]);
        return set_ans(c, mot[m]);
    }
    if (pm(q, "Why did % get the %?", cap)) {
        if (strcasecmp(cap[0], f->a) || strcmp(cap[1], want[m]))
            return FAIL("being %s does not make %s get the %s", mot[m], cap[0], cap[1]);
        return set_ans(c, mot[m]);
    }
    return FAIL("question not understood");
}

static int ck_answer(int task, ck_ctx *c, const char *q)
{
    switch (task) {
    case 1:
    case 11:
    case 12:
    case 13: return chk_where_person(c, q, task);
    case 2: return chk_where_object(c, q);
    case 3: return chk_where_was(c, q);
    case 4: return chk_two_arg(c, q);
    case 5: return chk_give(c, q);
    case 6:
    case 9:
    case 10: return chk_is_in(c, q);
    case 7: return chk_carrying(c, q, 0);
    case 8: return chk_carrying(c, q, 1);
    case 14: return chk_time(c, q);
    case 15: return chk_deduction(c, q);
    case 16: return chk_induction(c, q);
    case 17: return chk_positional(c, q);
    case 18: return chk_size(c, q);
    case 19: return chk_path(c, q);
    default: return chk_motivation(c, q);
    }
}

/* Splits "ID text" / "ID question? \tanswer\tids"; 0 on success. */
__attribute__((format(printf, 3, 4))) static int ck_why(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return 1;
}

static int ck_read_line(char *s, ck_line *l, char *why, size_t why_size)
{
    memset(l, 0, sizeof *l);
    char *end = NULL;
    long id = strtol(s, &end, 10);
    if (end == s || *end != ' ' || id < 1)
        return ck_why(why, why_size, "no line ID");
    l->id = (int)id;
    char *text = end + 1, *tab = strchr(text, '\t');
    if (!tab) {
        if (strlen(text) >= sizeof l->text || !*text || text[strlen(text) - 1] != '.')
            return ck_why(why, why_size, "a statement must end with '.'");
        cpy(l->text, sizeof l->text, text);
        return 0;
    }
    l->is_q = 1;
    *tab = '\0';
    char *ans = tab + 1, *tab2 = strchr(ans, '\t');
    if (!tab2 || strchr(tab2 + 1, '\t'))
        return ck_why(why, why_size, "a question line needs 3 tab-separated fields");
    *tab2 = '\0';
    size_t n = strlen(text);
    if (n && text[n - 1] == ' ')
        text[--n] = '\0';
    if (!n || text[n - 1] != '?' || n >= sizeof l->text)
        return ck_why(why, why_size, "a question must end with '?'");
    cpy(l->text, sizeof l->text, text);
    if (!*ans || strchr(ans, ' ') || strlen(ans) >= sizeof l->answer)
        return ck_why(why, why_size, "bad answer field '%s'", ans);
    cpy(l->answer, sizeof l->answer, ans);
    for (char *p = tab2 + 1; *p;) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > INT_MAX || l->nsup == MAXSUP)
            return ck_why(why, why_size, "bad supporting fact list");
        l->sup[l->nsup++] = (int)v;
        p = end;
        while (*p == ' ')
            p++;
    }
    if (!l->nsup)
        return ck_why(why, why_size, "no supporting facts");
    return 0;
}

int bg_check_file(const char *path, int task)
{
    FILE *fp = cli_fopen_regular(path); /* a directory or a FIFO: said, not read as an empty file */
    if (!fp) {
        fprintf(stderr, "strata: error: babi-gen: cannot read %s: %s\n", path,
                errno == EINVAL ? "not a regular file" : strerror(errno));
        return -1;
    }
    int cap = 1024, n = 0, bad = 0, lineno = 0, questions = 0;
    ck_line *story = malloc(sizeof *story * (size_t)cap);
    ck_ctx *c = malloc(sizeof *c);
    if (!story || !c) {
        free(story), free(c), fclose(fp);
        fprintf(stderr, "strata: error: babi-gen: out of memory checking %s\n", path);
        return -1;
    }
    char buf[1200], why[200];
#define REPORT(...)                                                                                                    \
    do {                                                                                                               \
        if (bad++ < 10) {                                                                                              \
            fprintf(stderr, "%s:%d: ", path, lineno);                                                                  \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)
    while (fgets(buf, sizeof buf, fp)) {
        lineno++;
        size_t len = strlen(buf);
        if (!len || (buf[len - 1] != '\n' && !feof(fp))) { /* the last line may go without its newline */
            REPORT("line too long (over %d bytes), or it holds a NUL byte", (int)sizeof buf - 2);
            continue;
        }
        if (buf[len - 1] == '\n')
            buf[--len] = '\0';
        if (len && buf[len - 1] == '\r') /* CRLF line ends, as the reader takes them */
            buf[--len] = '\0';
        ck_line l;
        if (ck_read_line(buf, &l, why, sizeof why)) {
            REPORT("%s", why);
            continue;
        }
        if (l.id == 1)
            n = 0;
        else if (n == 0 || l.id != story[n - 1].id + 1) {
            REPORT("line ID %d does not follow %d", l.id, n ? story[n - 1].id : 0);
            n = 0;
            continue;
        }
        if (n == cap) {
            ck_line *s2 = realloc(story, sizeof *story * (size_t)(cap *= 2));
            if (!s2) {
                REPORT("out of memory");
                break;
            }
            story = s2;
        }
        story[n++] = l;
        if (!l.is_q)
            continue;
        questions++;
        memset(c, 0, sizeof *c);
        c->story = story;
        c->n = n - 1;
        int ok = 1;
        for (int i = 0; i < l.nsup && ok; i++) {
            int s = l.sup[i];
            if (s >= l.id || s < 1 || story[s - 1].is_q) {
                REPORT("supporting fact %d is not an earlier statement of the story", s);
                ok = 0;
            } else if (i > 0 && s <= l.sup[i - 1]) {
                REPORT("supporting facts are not in increasing order");
                ok = 0;
            } else {
                ck_parse(story[s - 1].text, &c->f[c->nf]);
                c->f[c->nf].line = s;
                if (c->f[c->nf++].kind == F_NONE) {
                    REPORT("supporting fact %d not understood: %s", s, story[s - 1].text);
                    ok = 0;
                }
            }
        }
        if (!ok)
            continue;
        if (ck_answer(task, c, l.text))
            REPORT("%s: %s", l.text, c->why);
        else if (strcmp(c->ans, l.answer))
            REPORT("%s: the supporting facts give '%s', the file says '%s'", l.text, c->ans, l.answer);
    }
    if (ferror(fp))
        REPORT("reading it failed: %s", strerror(errno));
    else if (!questions && !bad)
        REPORT("the file holds no questions: nothing to check");
#undef REPORT
    fclose(fp);
    free(story);
    free(c);
    if (bad > 10)
        fprintf(stderr, "%s: ... %d problems in all\n", path, bad);
    return bad;
}
