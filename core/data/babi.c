/*
 * babi.c - the bAbI question-answering format (Weston et al. 2015, the
 * tasks_1-20_v1-2 files): stories of numbered statements and questions
 * ("ID question<TAB>answer<TAB>supporting ids"), tokenised as the MemN2N
 * authors do (lower-case, split on white space, trailing . ? , ! dropped).
 *
 * Every string and small array lives in one arena owned by the set, so a
 * load is a few hundred allocations for a 10k-question file and destroy
 * frees a short list of blocks and two arrays.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The 1.0 layout of the public struct is frozen (DESIGN.md rule 5): fields
 * are only ever added at the end. */
#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(strata_babi_question) == 96, "strata_babi_question 1.0 layout is frozen");
_Static_assert(offsetof(strata_babi_question, answer) == 48, "strata_babi_question 1.0 layout is frozen");
_Static_assert(offsetof(strata_babi_question, line) == 88, "strata_babi_question 1.0 layout is frozen");
#endif

#define BABI_MAX_LINE ((size_t)64 * 1024) /* bytes of one line, without its '\n' */
#define BABI_MAX_BYTES ((size_t)1 << 31)  /* of a whole file */
#define BABI_MAX_DIGITS 18                /* an ID or supporting id stays inside int64 */
#define BABI_BLOCK ((size_t)64 * 1024)    /* arena block size (a bigger request gets its own) */

/* ---- arena ------------------------------------------------------------- */

typedef struct babi_block {
    struct babi_block *next;
    size_t cap, used;  /* bytes of data */
    max_align_t data[]; /* cap bytes */
} babi_block;

/* @p n bytes aligned for any type from the set's arena; NULL (E_NOMEM) on failure. */
static void *arena_alloc(babi_block **arena, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    babi_block *b = *arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BABI_BLOCK ? n : BABI_BLOCK;
        babi_block *nb = st_malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->cap = cap;
        nb->used = 0;
        nb->next = b;
        *arena = b = nb;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(babi_block *b)
{
    while (b) {
        babi_block *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- the set ----------------------------------------------------------- */

typedef struct babi_stmt {
    const char *const *words; /* (n_words) in the arena */
    int32_t n_words;
} babi_stmt;

typedef struct babi_q {
    int64_t story, context_first, context_count, line;
    const char *const *words; /* (n_words) */
    const char *answer;
    const char *const *parts;  /* (n_parts) */
    const int64_t *supporting; /* (n_supporting) global statement indices; NULL when none */
    int32_t n_words, n_parts, n_supporting;
} babi_q;

struct strata_babi {
    babi_block *arena;
    babi_stmt *stmts; /* (n_stmts) in file order, all stories */
    int64_t n_stmts, cap_stmts;
    babi_q *qs; /* (n_qs) */
    int64_t n_qs, cap_qs;
    int64_t n_stories;
};

/* Grows *arr (of @p elem bytes each) to hold at least @p need elements. */
static strata_status grow(void **arr, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return STRATA_OK;
    int64_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = st_realloc(*arr, (size_t)c * elem);
    if (!p)
        return STRATA_E_NOMEM;
    *arr = p;
    *cap = c;
    return STRATA_OK;
}

/* ---- messages ------------------------------------------------------------ */

typedef struct babi_parse {
    strata_babi *b;
    const char *name;
    int64_t line;     /* 1-based number of the line being read */
    int64_t prev_id;  /* ID of the previous non-blank line; 0 before the first */
    int64_t first;    /* global index of the current story's first statement */
    int64_t *map;     /* (prev_id) per line ID - 1 of the story: global statement index, -1 for a question */
    int64_t cap_map;
} babi_parse;

/* Writes s[0..n) as a C-quoted string into buf, escaping control bytes and
 * cutting long values ("..."), for messages. Returns buf. */
static const char *quote(char *buf, size_t size, const char *s, size_t n)
{
    const size_t keep = 60;
    size_t o = 0, k = 0;
    buf[o++] = '"';
    for (; k < n && o + 8 < size; k++) {
        unsigned char c = (unsigned char)s[k];
        if (k >= keep && (c & 0xC0) != 0x80) /* cut at a UTF-8 character boundary */
            break;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c == '\t')
            o += (size_t)snprintf(buf + o, size - o, "\\t");
        else if (c == '\r')
            o += (size_t)snprintf(buf + o, size - o, "\\r");
        else if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02X", c);
        else
            buf[o++] = (char)c;
    }
    if (k < n)
        o += (size_t)snprintf(buf + o, size - o, "...");
    snprintf(buf + o, size - o, "\"");
    return buf;
}

/* STRATA_E_FORMAT with "NAME:LINE: " and the formatted text. */
static strata_status fail(const babi_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static strata_status fail(const babi_parse *p, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return st_error(STRATA_E_FORMAT, "%s:%lld: %s", p->name, (long long)p->line, what);
}

/* ---- tokens -------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_strip(char c)
{
    return c == '.' || c == '?' || c == ',' || c == '!';
}

/* Tokenises s[0..n) into the arena: words lower-cased (ASCII), trailing
 * . ? , ! removed, empty words dropped. *words is NULL when there are none. */
static strata_status tokenize(strata_babi *b, const char *s, size_t n, const char *const **words, int32_t *count)
{
    size_t bytes = 0;
    int32_t nw = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i]))
            i++;
        size_t j = i;
        while (j < n && !is_space(s[j]))
            j++;
        size_t e = j;
        while (e > i && is_strip(s[e - 1]))
            e--;
        if (e > i) {
            nw++;
            bytes += e - i + 1;
        }
        i = j;
    }
    *words = NULL;
    *count = 0;
    if (!nw)
        return STRATA_OK;
    const char **w = arena_alloc(&b->arena, sizeof(char *) * (size_t)nw);
    char *chars = arena_alloc(&b->arena, bytes);
    if (!w || !chars)
        return STRATA_E_NOMEM;
    int32_t k = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i]))
            i++;
        size_t j = i;
        while (j < n && !is_space(s[j]))
            j++;
        size_t e = j;
        while (e > i && is_strip(s[e - 1]))
            e--;
        if (e > i) {
            w[k++] = chars;
            for (size_t c = i; c < e; c++)
                *chars++ = s[c] >= 'A' && s[c] <= 'Z' ? (char)(s[c] - 'A' + 'a') : s[c];
            *chars++ = '\0';
        }
        i = j;
    }
    *words = w;
    *count = nw;
    return STRATA_OK;
}

/* A NUL-terminated copy of s[0..n) in the arena. */
static char *arena_strndup(strata_babi *b, const char *s, size_t n)
{
    char *d = arena_alloc(&b->arena, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Trims white space off both ends of s[*i..*e). */
static void trim(const char *s, size_t *i, size_t *e)
{
    while (*i < *e && is_space(s[*i]))
        (*i)++;
    while (*e > *i && is_space(s[*e - 1]))
        (*e)--;
}

/* Parses s[0..n) as a decimal number of 1..BABI_MAX_DIGITS digits; -1 if it is not one. */
static int64_t parse_uint(const char *s, size_t n)
{
    if (n < 1 || n > BABI_MAX_DIGITS)
        return -1;
    int64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

/* ---- lines --------------------------------------------------------------- */

static strata_status parse_answer(babi_parse *p, babi_q *q, const char *s, size_t n, const char *qtext, size_t qn)
{
    strata_babi *b = p->b;
    char v[128];
    size_t i = 0, e = n;
    trim(s, &i, &e);
    if (i == e)
        return fail(p, "empty answer to the question %s", quote(v, sizeof v, qtext, qn));
    if (!(q->answer = arena_strndup(b, s + i, e - i)))
        return STRATA_E_NOMEM;
    int32_t np = 1;
    for (size_t k = i; k < e; k++)
        np += s[k] == ',';
    const char **parts = arena_alloc(&b->arena, sizeof(char *) * (size_t)np);
    if (!parts)
        return STRATA_E_NOMEM;
    size_t start = i;
    for (int32_t k = 0; k < np; k++) {
        size_t end = start;
        while (end < e && s[end] != ',')
            end++;
        size_t pi = start, pe = end;
        trim(s, &pi, &pe);
        if (pi == pe)
            return fail(p, "empty part %d of the comma-separated answer %s", (int)k + 1,
                        quote(v, sizeof v, s + i, e - i));
        if (!(parts[k] = arena_strndup(b, s + pi, pe - pi)))
            return STRATA_E_NOMEM;
        start = end + 1;
    }
    q->parts = parts;
    q->n_parts = np;
    return STRATA_OK;
}

static strata_status parse_supporting(babi_parse *p, babi_q *q, int64_t id, const char *s, size_t n)
{
    char v[128];
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            break;
        while (i < n && !is_space(s[i]))
            i++;
        ns++;
    }
    if (!ns)
        return STRATA_OK;
    int64_t *sup = arena_alloc(&p->b->arena, sizeof(int64_t) * (size_t)ns);
    if (!sup)
        return STRATA_E_NOMEM;
    int32_t k = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            break;
        size_t j = i;
        while (j < n && !is_space(s[j]))
            j++;
        /* digits, optionally after a '-': a number; beyond int64 it is out of range too */
        size_t m = i + (s[i] == '-');
        int numeric = m < j;
        for (size_t c = m; c < j; c++)
            numeric &= s[c] >= '0' && s[c] <= '9';
        if (!numeric)
            return fail(p, "supporting id %s is not a number", quote(v, sizeof v, s + i, j - i));
        int64_t sid = m == i ? parse_uint(s + i, j - i) : -1;
        if (sid < 1 || sid >= id)
            return fail(p, "supporting id %s is not an earlier line of the story (lines 1..%lld)",
                        quote(v, sizeof v, s + i, j - i), (long long)id - 1);
        if (p->map[sid - 1] < 0)
            return fail(p, "supporting id %s is a question, not a statement", quote(v, sizeof v, s + i, j - i));
        sup[k++] = p->map[sid - 1];
        i = j;
    }
    q->supporting = sup;
    q->n_supporting = ns;
    return STRATA_OK;
}

/* One line s[0..n) without its '\n'; blank lines are skipped. */
static strata_status parse_line(babi_parse *p, const char *s, size_t n)
{
    strata_babi *b = p->b;
    char v[128];
    strata_status rc;
    if (n > BABI_MAX_LINE)
        return fail(p, "line of %zu bytes is longer than the limit of %zu (starts %s)", n, BABI_MAX_LINE,
                    quote(v, sizeof v, s, n));
    const char *nul = memchr(s, '\0', n);
    if (nul)
        return fail(p, "NUL byte at column %zu (%s)", (size_t)(nul - s) + 1, quote(v, sizeof v, s, n));
    while (n && s[n - 1] == '\r')
        n--;
    size_t i = 0;
    while (i < n && is_space(s[i]))
        i++;
    if (i == n)
        return STRATA_OK;

    /* the ID: digits, then a space */
    size_t w = 0; /* the first word, for messages */
    while (w < n && !is_space(s[w]))
        w++;
    size_t d = s[0] == '-', d0 = d;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    if (d == d0)
        return fail(p, "the line does not start with a numeric ID (%s)", quote(v, sizeof v, s, n));
    if (d < w)
        return fail(p, "the ID %s is not a number", quote(v, sizeof v, s, w));
    if (d - d0 > BABI_MAX_DIGITS)
        return fail(p, "the ID %s is out of range", quote(v, sizeof v, s, w));
    int64_t id = parse_uint(s + d0, d - d0);
    if (s[0] == '-')
        id = -id;
    if (id <= 0)
        return fail(p, "the ID must be positive (%lld)", (long long)id);
    if (id != 1 && id != p->prev_id + 1) {
        if (p->prev_id == 0)
            return fail(p, "the file must start with ID 1, the first line of a story (%lld)", (long long)id);
        return fail(p, "ID out of sequence: expected %lld, or 1 to start a new story (%lld)",
                    (long long)p->prev_id + 1, (long long)id);
    }
    if (d == n)
        return fail(p, "no text after the ID (%lld)", (long long)id);
    if (s[d] != ' ')
        return fail(p, "expected a space after the ID %lld, found %s", (long long)id, quote(v, sizeof v, s + d, 1));
    if (id == 1) {
        b->n_stories++;
        p->first = b->n_stmts;
    }
    p->prev_id = id;
    if ((rc = grow((void **)&p->map, &p->cap_map, id, sizeof *p->map)))
        return rc;

    /* the text: a statement, or question TAB answer [TAB supporting ids] */
    const char *t = s + d + 1;
    size_t tn = n - d - 1;
    size_t tab1 = tn, tab2 = tn;
    int tabs = 0;
    for (size_t k = 0; k < tn; k++)
        if (t[k] == '\t') {
            if (tabs == 0)
                tab1 = k;
            else if (tabs == 1)
                tab2 = k;
            tabs++;
        }
    if (tabs == 0) {
        if ((rc = grow((void **)&b->stmts, &b->cap_stmts, b->n_stmts + 1, sizeof *b->stmts)))
            return rc;
        babi_stmt *st = &b->stmts[b->n_stmts];
        if ((rc = tokenize(b, t, tn, &st->words, &st->n_words)))
            return rc;
        if (!st->n_words)
            return fail(p, "statement %lld has no words (%s)", (long long)id, quote(v, sizeof v, t, tn));
        p->map[id - 1] = b->n_stmts++;
        return STRATA_OK;
    }
    if (tabs > 2)
        return fail(p,
                    "question line with %d tab-separated fields; expected question, answer and optionally "
                    "supporting ids (%s)",
                    tabs + 1, quote(v, sizeof v, t, tn));
    if ((rc = grow((void **)&b->qs, &b->cap_qs, b->n_qs + 1, sizeof *b->qs)))
        return rc;
    babi_q *q = &b->qs[b->n_qs];
    memset(q, 0, sizeof *q);
    q->story = b->n_stories - 1;
    q->context_first = p->first;
    q->context_count = b->n_stmts - p->first;
    q->line = p->line;
    if ((rc = tokenize(b, t, tab1, &q->words, &q->n_words)))
        return rc;
    if (!q->n_words)
        return fail(p, "question %lld has no words (%s)", (long long)id, quote(v, sizeof v, t, tn));
    if ((rc = parse_answer(p, q, t + tab1 + 1, tab2 - tab1 - 1, t, tab1)))
        return rc;
    if (tabs == 2 && (rc = parse_supporting(p, q, id, t + tab2 + 1, tn - tab2 - 1)))
        return rc;
    p->map[id - 1] = -1;
    b->n_qs++;
    return STRATA_OK;
}

static strata_status babi_build(const char *data, size_t len, const char *name, strata_babi **out)
{
    if (len > BABI_MAX_BYTES)
        return st_error(STRATA_E_INVALID, "%s: %zu bytes is more than the limit of %zu", name, len, BABI_MAX_BYTES);
    strata_babi *b = st_calloc(1, sizeof *b);
    if (!b)
        return STRATA_E_NOMEM;
    babi_parse p = {.b = b, .name = name};
    strata_status rc = STRATA_OK;
    /* a UTF-8 byte order mark (editors on Windows write one): skipped, not
     * "does not start with a numeric ID" for an invisible prefix */
    const size_t start = len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3) ? 3 : 0;
    for (size_t pos = start; pos < len && !rc;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        p.line++;
        rc = parse_line(&p, data + pos, end - pos);
        pos = end + 1;
    }
    free(p.map);
    if (rc) {
        strata_babi_destroy(b);
        return rc;
    }
    *out = b;
    return STRATA_OK;
}

/* ---- public API ---------------------------------------------------------- */

strata_status strata_babi_from_memory(const void *data, size_t len, const char *name, strata_babi **out)
{
    if ((!data && len) || !out)
        return st_error(STRATA_E_INVALID, "strata_babi_from_memory: %s must not be NULL", out ? "data" : "out");
    return babi_build(data, len, name ? name : "<babi>", out);
}

strata_status strata_babi_load(const char *path, strata_babi **out)
{
    if (!path || !out)
        return st_error(STRATA_E_INVALID, "strata_babi_load: %s must not be NULL", out ? "path" : "out");
    void *buf = NULL;
    size_t len = 0;
    strata_status rc = st_read_file(path, "bAbI file", BABI_MAX_BYTES, STRATA_E_INVALID, "", &buf, &len);
    if (!rc)
        rc = babi_build(buf, len, path, out);
    free(buf);
    return rc;
}

void strata_babi_destroy(strata_babi *b)
{
    if (!b)
        return;
    arena_free(b->arena);
    free(b->stmts);
    free(b->qs);
    free(b);
}

int64_t strata_babi_story_count(const strata_babi *b)
{
    return b ? b->n_stories : 0;
}

int64_t strata_babi_statement_count(const strata_babi *b)
{
    return b ? b->n_stmts : 0;
}

int64_t strata_babi_question_count(const strata_babi *b)
{
    return b ? b->n_qs : 0;
}

const char *const *strata_babi_statement(const strata_babi *b, int64_t i, int32_t *n_words)
{
    if (n_words)
        *n_words = 0;
    if (!b || i < 0 || i >= b->n_stmts)
        return NULL;
    if (n_words)
        *n_words = b->stmts[i].n_words;
    return b->stmts[i].words;
}

strata_status strata_babi_question_get(const strata_babi *b, int64_t i, strata_babi_question *out)
{
    if (!b || !out)
        return st_error(STRATA_E_INVALID, "strata_babi_question_get: %s must not be NULL", b ? "out" : "the set");
    if (out->struct_size < sizeof *out)
        return st_error(STRATA_E_INVALID, "strata_babi_question_get: struct_size %zu is smaller than %zu",
                        out->struct_size, sizeof *out);
    if (i < 0 || i >= b->n_qs)
        return st_error(STRATA_E_INVALID, "strata_babi_question_get: question %lld is outside [0, %lld)", (long long)i,
                        (long long)b->n_qs);
    const babi_q *q = &b->qs[i];
    out->story = q->story;
    out->context_first = q->context_first;
    out->context_count = q->context_count;
    out->words = q->words;
    out->n_words = q->n_words;
    out->answer = q->answer;
    out->answer_parts = q->parts;
    out->n_answer_parts = q->n_parts;
    out->supporting = q->supporting;
    out->n_supporting = q->n_supporting;
    out->line = q->line;
    return STRATA_OK;
}
