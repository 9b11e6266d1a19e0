/* typo.c - "did you mean": the distance and the rule of typo.h. Compiled
 * into libstrata (the spec parser's messages) and into the strata CLI; until
 * 2026-12-05 each had its own, and the spec parser's counted a swap ("reul"
 * for "relu") as two edits, too many for a hint. */
#include <stdio.h>
#include <string.h>

#include "typo.h"

/* Edits from @p a to @p b: insertions, deletions, substitutions and swaps
 * of two neighbouring characters (the optimal-string-alignment distance),
 * in three rolling rows (a swap looks back to the one before the previous);
 * 99 for names longer than 63 bytes. */
static int typo_distance(const char *a, const char *b)
{
    enum { MAXN = 63 };
    const size_t la = strlen(a), lb = strlen(b);
    if (la > MAXN || lb > MAXN)
        return 99;
    int rows[3][MAXN + 1];
    int *before = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int d = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && before[j - 2] + 1 < d)
                d = before[j - 2] + 1;
            cur[j] = d;
        }
        int *t = before;
        before = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* 1 when @p a and @p b differ only in two neighbouring characters swapped ("rl" for "lr"). */
static int typo_swap(const char *a, const char *b)
{
    const size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && !strcmp(a + i + 2, b + i + 2);
}

/* 1 when @p a and @p b differ only in the case of ASCII letters ("SGD" for "sgd"). */
static int typo_case_only(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && ((*a | 0x20) != (*b | 0x20) || (*a | 0x20) < 'a' || (*a | 0x20) > 'z'))
            return 0;
    return !*a && !*b;
}

/* The part of @p name a typo is judged on, into @p out: without leading
 * dashes ("--epochs": "epochs") and its last @p drop characters (an
 * extension it shares with the other name: ".yaml", shared by every spec,
 * would make any two names look close). */
static void typo_core(const char *name, size_t drop, char *out, size_t size)
{
    name += strspn(name, "-");
    const size_t n = strlen(name);
    snprintf(out, size, "%.*s", (int)(n > drop ? n - drop : n), name);
}

const char *st_typo_closest(const char *typed, const char *const *names, int n)
{
    const char *ext = strrchr(typed, '.');
    const size_t ext_len = ext ? strlen(ext) : 0;
    const char *best = NULL;
    int best_d = 0;
    char a[128], b[128];
    for (int k = 0; k < n; k++) {
        if (!names[k] || !strcmp(names[k], typed))
            continue;
        const size_t len = strlen(names[k]);
        const size_t drop = ext && len > ext_len && !strcmp(names[k] + len - ext_len, ext) ? ext_len : 0;
        typo_core(typed, drop, a, sizeof a);
        typo_core(names[k], drop, b, sizeof b);
        const size_t shorter = strlen(a) < strlen(b) ? strlen(a) : strlen(b);
        /* a name differing only in case is the closest of all, whatever its length; under 3 characters ("op",
         * "x": everything is 1 edit from them) only a swap of neighbours counts ("rl" for "lr") */
        const int case_only = typo_case_only(a, b);
        if (shorter < 3 && !case_only && !typo_swap(a, b))
            continue;
        const int most = shorter >= 6 ? 2 : 1; /* 1 edit in a short name, 2 in a longer one */
        const int d = case_only ? 0 : typo_distance(a, b);
        if (d <= most && (!best || d < best_d || (d == best_d && strcmp(names[k], best) < 0))) {
            best = names[k];
            best_d = d;
        }
    }
    return best;
}
