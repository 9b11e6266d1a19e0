/* report.c - RUN/report.html (report.h): the run's summary.json as a
 * table, each group of metrics.jsonl's numbers drawn against the step as
 * an inline SVG chart with a legend (last, min and max of every series),
 * the PNGs the run wrote (samples, reconstructions), the spec as it was
 * read and the files with their sizes. One HTML file with no script and
 * nothing fetched from a network; images are linked by relative paths, so
 * the page is read from inside the run directory.
 *
 * Series: every numeric field of metrics.jsonl's records but "step" (the x
 * axis), "epoch", "repeat" and "seconds", one series per field and per
 * repeated run (memory networks train several runs in one directory: their
 * records carry "repeat"). null values (no validation set) are counted,
 * not drawn. Fields go to charts by their names: learning rates ("lr",
 * "*_lr"), accuracies ("*acc*", "exact_match"), errors ("*error*"),
 * losses ("*loss*", "*mse*"); any other field gets a chart of its own
 * (the first MAX_OTHER_CHARTS such fields; the page counts the rest). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "report.h"
#include "dist.h"
#include "write_atomic.h"

/* Chart geometry (SVG user units): the plot area inside the margins. */
#define CH_W 760
#define CH_H 300
#define CH_L 70
#define CH_R 20
#define CH_T 30
#define CH_B 40
#define CH_PW (CH_W - CH_L - CH_R)
#define CH_PH (CH_H - CH_T - CH_B)
/* Values drawn: beyond this the chart's span would overflow a double. */
#define REPORT_MAX_VALUE 1e300
/* An axis spans at least this: a tick step of a narrower span (values of
 * 1e-323) underflows to 0, and 0 steps gave NaN coordinates. */
#define REPORT_MIN_SPAN 1e-300
/* Series this short get a marker at every point (per-epoch figures). */
#define MARKED_POINTS 60
/* Images shown: every PNG of the run directory, the latest of samples/. */
#define MAX_IMAGES 16
#define MAX_SAMPLES 8
/* The spec is shown whole up to this size. */
#define MAX_SPEC_BYTES (1 << 20)
#define MAX_FILES 200 /* rows of the Files table */
/* Charts of fields of no known kind, each alone: past these a field is left
 * out (and counted), so that the charts of the kinds (loss, accuracy,
 * error, learning rate) always have their room. */
#define MAX_OTHER_CHARTS 60
#define MAX_CHARTS (MAX_OTHER_CHARTS + 4)

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_COLOURS (sizeof palette / sizeof palette[0])

typedef struct point {
    double x, y;
} point;

typedef struct series {
    char *key;     /* the metrics field */
    int64_t run;   /* its "repeat", 0 when the records have none */
    point *p;      /* finite values, in record order */
    size_t n, cap;
    size_t nulls;  /* null values */
    size_t huge;   /* values (or steps) past REPORT_MAX_VALUE, not drawn */
    int chart;     /* index into the report's charts */
} series;

/* Chart kinds, in the order the page shows them. */
enum { K_LOSS, K_ACCURACY, K_ERROR, K_OTHER, K_LR };

typedef struct chart {
    int kind;
    const char *first; /* the key that opened it: a K_OTHER chart's title */
} chart;

typedef struct report {
    const char *dir;
    /* what the page's image links start with: "" beside the run, else the run's absolute path and '/' (a
     * page written elsewhere with --out had links relative to the run, which showed no image) */
    char img_base[PATH_MAX + 2];
    series *s;
    size_t n_s, cap_s;
    json_t *index; /* "RUN:KEY" -> the series' index in s, or -1 for a field left out */
    chart c[MAX_CHARTS];
    int n_c, n_other;  /* charts, of them K_OTHER */
    size_t left_out;   /* series of fields past MAX_OTHER_CHARTS */
    size_t records, bad;
    long first_bad;
    int64_t max_run;
} report;

/* ---- output helpers --------------------------------------------------------- */

/* @p s with &, <, >, " and ' escaped for HTML text and attributes. */
static void put_esc_n(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        switch (s[i]) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        case '\0': /* not text: shown as the replacement character */
            fputs("&#65533;", f);
            break;
        default:
            fputc(s[i], f);
        }
    }
}

static void put_esc(FILE *f, const char *s)
{
    put_esc_n(f, s, s ? strlen(s) : 0);
}

/* 1 when @p path is a regular file (a FIFO of that name would block the page). */
static int regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A relative path as a URL path: bytes outside [A-Za-z0-9._/-] percent-encoded. */
static void put_url(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
            ch == '_' || ch == '/' || ch == '-')
            fputc(ch, f);
        else
            fprintf(f, "%%%02X", ch);
    }
}

/* A figure as a table shows it: 6 significant digits. */
static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("-", f);
}

/* ---- reading metrics.jsonl -------------------------------------------------- */

static int chart_kind(const char *key)
{
    const size_t n = strlen(key);
    if (!strcmp(key, "lr") || (n > 3 && !strcmp(key + n - 3, "_lr")) || !strncmp(key, "lr_", 3))
        return K_LR;
    if (strstr(key, "acc") || strstr(key, "exact_match"))
        return K_ACCURACY;
    if (strstr(key, "error"))
        return K_ERROR;
    if (strstr(key, "loss") || strstr(key, "mse"))
        return K_LOSS;
    return K_OTHER;
}

static const char *const kind_title[] = {"loss", "accuracy", "error", NULL, "learning rate"};

/* The chart a series of @p key goes to, opened when new; -1 when a field
 * of no known kind finds MAX_OTHER_CHARTS open. */
static int chart_for(report *r, const char *key)
{
    const int kind = chart_kind(key);
    for (int i = 0; i < r->n_c; i++)
        if (r->c[i].kind == kind && (kind != K_OTHER || !strcmp(r->c[i].first, key)))
            return i;
    if (kind == K_OTHER && r->n_other == MAX_OTHER_CHARTS)
        return -1;
    r->n_other += kind == K_OTHER;
    chart *c = &r->c[r->n_c];
    c->kind = kind;
    c->first = key;
    return r->n_c++;
}

/* The series of @p key in run @p run, made when new; NULL when out of
 * memory or the field is left out. Found through r->index: a search of
 * every series for every field of every record took minutes for a file
 * of thousands of fields. */
static series *series_for(report *r, const char *key, int64_t run)
{
    if (!r->index && !(r->index = json_object()))
        return NULL;
    char small[256], *name = small; /* "RUN:KEY": the run's digits end at the first ':' */
    const size_t len = strlen(key) + 24;
    if (len > sizeof small && !(name = malloc(len)))
        return NULL;
    snprintf(name, len, "%lld:%s", (long long)run, key);
    series *s = NULL;
    json_t *known = json_object_get(r->index, name);
    if (known) {
        const json_int_t i = json_integer_value(known);
        s = i >= 0 ? &r->s[i] : NULL;
        goto done;
    }
    if (r->n_s == r->cap_s) {
        size_t cap = r->cap_s ? 2 * r->cap_s : 16;
        series *grown = realloc(r->s, cap * sizeof *grown);
        if (!grown)
            goto done;
        r->s = grown;
        r->cap_s = cap;
    }
    s = &r->s[r->n_s];
    memset(s, 0, sizeof *s);
    s->key = strdup(key);
    s->run = run;
    json_t *at = s->key ? json_integer((json_int_t)r->n_s) : NULL;
    if (!at || json_object_set_new_nocheck(r->index, name, at) != 0) { /* out of memory */
        free(s->key);
        s = NULL;
        goto done;
    }
    if ((s->chart = chart_for(r, s->key)) < 0) { /* more charts than a page holds: the field is left out */
        json_integer_set(at, -1);
        r->left_out++;
        free(s->key);
        s = NULL;
        goto done;
    }
    r->n_s++;
done:
    if (name != small)
        free(name);
    return s;
}

static int series_add(series *s, double x, double y)
{
    if (isnan(y)) {
        s->nulls++;
        return 0;
    }
    if (!(fabs(y) <= REPORT_MAX_VALUE && fabs(x) <= REPORT_MAX_VALUE)) {
        s->huge++;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        point *p = realloc(s->p, cap * sizeof *p);
        if (!p)
            return 1;
        s->p = p;
        s->cap = cap;
    }
    s->p[s->n++] = (point){x, y};
    return 0;
}

static int skipped_field(const char *key)
{
    return !strcmp(key, "step") || !strcmp(key, "epoch") || !strcmp(key, "repeat") || !strcmp(key, "seconds");
}

/* One record: its numbers into their series at x = its step (else the record's number). */
static int add_record(report *r, json_t *rec)
{
    json_t *st = json_object_get(rec, "step"), *rep = json_object_get(rec, "repeat");
    const double x = json_is_number(st) ? json_number_value(st) : (double)r->records;
    const int64_t run = json_is_integer(rep) ? (int64_t)json_integer_value(rep) : 0;
    if (run > r->max_run)
        r->max_run = run;
    const char *key;
    json_t *v;
    json_object_foreach(rec, key, v)
    {
        if (skipped_field(key) || !(json_is_number(v) || json_is_null(v)))
            continue;
        series *s = series_for(r, key, run);
        if (s && series_add(s, x, json_is_null(v) ? NAN : json_number_value(v)))
            return 1;
    }
    return 0;
}

/* RUN/metrics.jsonl into r's series; a missing file is no error (*found 0). 0, or 1 after a message. */
static int read_metrics(report *r, const char *path, int *found)
{
    struct stat st;
    *found = 0;
    const int there = stat(path, &st) == 0;
    if (!there && errno == ENOENT)
        return 0;
    if (there && !S_ISREG(st.st_mode)) { /* a FIFO would block the page forever */
        fprintf(stderr, "strata: error: %s is not a regular file\n", path);
        return 1;
    }
    FILE *f = fopen(path, "r");
    *found = f != NULL;
    if (!f) {
        fprintf(stderr, "strata: error: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long no = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        no++;
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n'))
            k++;
        if (k == (size_t)len)
            continue;
        json_t *rec = json_loadb(line, (size_t)len, JSON_DECODE_ANY, NULL);
        if (!json_is_object(rec)) {
            if (!r->bad++)
                r->first_bad = no;
        } else {
            r->records++;
            if (add_record(r, rec)) {
                fprintf(stderr, "strata: error: %s: out of memory reading it\n", path);
                rc = 1;
            }
        }
        json_decref(rec);
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "strata: error: cannot read %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    free(line);
    fclose(f);
    if (!rc && r->bad)
        fprintf(stderr,
                "strata: warning: %s:%ld: not a JSON object (a run stopped while writing it?); "
                "%zu such line%s left out of the report\n",
                path, r->first_bad, r->bad, r->bad == 1 ? "" : "s");
    return rc;
}

/* ---- charts ----------------------------------------------------------------- */

/* A tick spacing of 1, 2 or 5 times a power of ten giving about @p n ticks over @p span. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

typedef struct axis {
    double lo, hi, step;
} axis;

/* The axis over [lo, hi], widened to whole ticks (a single value, or
 * values closer than a tick's precision, get room around them). */
static axis make_axis(double lo, double hi, int ticks, int widen)
{
    if (hi - lo <= fabs(hi) * 1e-12 || hi - lo < REPORT_MIN_SPAN) {
        double pad = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1.0;
        if (pad < REPORT_MIN_SPAN)
            pad = REPORT_MIN_SPAN;
        lo -= pad;
        hi += pad;
    }
    axis a = {lo, hi, nice_step(hi - lo, ticks)};
    if (widen) {
        a.lo = floor(lo / a.step) * a.step;
        a.hi = ceil(hi / a.step) * a.step;
    }
    return a;
}

static double to_x(const axis *a, double x)
{
    return CH_L + (x - a->lo) / (a->hi - a->lo) * CH_PW;
}

static double to_y(const axis *a, double y)
{
    return CH_T + (1.0 - (y - a->lo) / (a->hi - a->lo)) * CH_PH;
}

/* Ticks from @p first every a->step up to a->hi: how many after the first (at most 100). */
static int tick_count(const axis *a, double first)
{
    const double n = floor((a->hi - first) / a->step + 1e-9);
    return n >= 0 && n <= 100 ? (int)n : n > 100 ? 100 : -1;
}

static void draw_ticks(FILE *f, const axis *xa, const axis *ya)
{
    fprintf(f, "<g class=\"grid\">\n");
    /* counted, not stepped: y += step stalls where step is below y's precision */
    for (int k = 0, n = tick_count(ya, ya->lo); k <= n; k++) {
        const double y = ya->lo + k * ya->step;
        const double py = to_y(ya, y), v = fabs(y) < ya->step * 1e-9 ? 0.0 : y;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/><text x=\"%d\" y=\"%.1f\" class=\"yl\">%g</text>\n",
                CH_L, py, CH_L + CH_PW, py, CH_L - 6, py + 4, v);
    }
    const double x0 = ceil(xa->lo / xa->step) * xa->step;
    for (int k = 0, n = tick_count(xa, x0); k <= n; k++) {
        const double x = x0 + k * xa->step, px = to_x(xa, x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/><text x=\"%.1f\" y=\"%d\" class=\"xl\">%g</text>\n",
                px, CH_T, px, CH_T + CH_PH, px, CH_T + CH_PH + 16, x);
    }
    fprintf(f, "</g>\n");
}

/* The series' label: its key, and its run when the directory has several. */
static void put_label(FILE *f, const report *r, const series *s)
{
    put_esc(f, s->key);
    if (r->max_run > 1)
        fprintf(f, " (run %lld)", (long long)s->run);
}

/* The points drawn for @p s: every point, or REPORT_MAX_POINTS bucket means. */
static void draw_series(FILE *f, const report *r, const series *s, const axis *xa, const axis *ya, const char *colour)
{
    const size_t n = s->n, m = n > REPORT_MAX_POINTS ? REPORT_MAX_POINTS : n;
    fprintf(f, "<polyline data-series=\"");
    put_label(f, r, s);
    fprintf(f, "\" stroke=\"%s\" points=\"", colour);
    for (size_t b = 0; b < m; b++) {
        const size_t lo = b * n / m, hi = (b + 1) * n / m;
        double sx = 0.0, sy = 0.0;
        for (size_t i = lo; i < hi; i++)
            sx += s->p[i].x, sy += s->p[i].y;
        fprintf(f, "%s%.1f,%.1f", b ? " " : "", to_x(xa, sx / (double)(hi - lo)), to_y(ya, sy / (double)(hi - lo)));
    }
    fprintf(f, "\"/>\n");
    if (n <= MARKED_POINTS)
        for (size_t i = 0; i < n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", to_x(xa, s->p[i].x),
                    to_y(ya, s->p[i].y), colour);
}

/* The legend: each series' colour, points, last, min and max (over every record, not the drawn means). */
static void draw_legend(FILE *f, const report *r, int ci)
{
    fprintf(f, "<table class=\"legend\"><tr><th></th><th>series</th><th>values</th><th>last</th><th>min</th>"
               "<th>max</th></tr>\n");
    size_t k = 0;
    for (size_t i = 0; i < r->n_s; i++) {
        const series *s = &r->s[i];
        if (s->chart != ci)
            continue;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < s->n; j++) {
            lo = fmin(lo, s->p[j].y);
            hi = fmax(hi, s->p[j].y);
        }
        fprintf(f, "<tr><td><span class=\"sw\" style=\"background:%s\"></span></td><td>", palette[k++ % N_COLOURS]);
        put_label(f, r, s);
        fprintf(f, "</td><td>%zu", s->n);
        if (s->nulls)
            fprintf(f, " (and %zu null)", s->nulls);
        if (s->huge)
            fprintf(f, " (and %zu beyond &#177;1e300, not drawn)", s->huge);
        fprintf(f, "</td><td>");
        put_num(f, s->n ? s->p[s->n - 1].y : NAN);
        fprintf(f, "</td><td>");
        put_num(f, lo);
        fprintf(f, "</td><td>");
        put_num(f, hi);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
}

/* Chart @p ci over steps [x0, x1] (the whole run's, so the charts line up):
 * nothing when none of its series has a finite value. Returns 1 when drawn. */
static int draw_chart(FILE *f, const report *r, int ci, double x0, double x1)
{
    double y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < r->n_s; i++)
        for (size_t j = 0; r->s[i].chart == ci && j < r->s[i].n; j++)
            y0 = fmin(y0, r->s[i].p[j].y), y1 = fmax(y1, r->s[i].p[j].y);
    const char *title = r->c[ci].kind == K_OTHER ? r->c[ci].first : kind_title[r->c[ci].kind];
    fprintf(f, "<section class=\"chart\">\n<h3>");
    put_esc(f, title);
    fprintf(f, "</h3>\n");
    const int drawn = y0 <= y1;
    if (drawn) {
        const axis xa = make_axis(x0, x1, 8, 0), ya = make_axis(y0, y1, 5, 1);
        fprintf(f, "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"", CH_W, CH_H,
                CH_W, CH_H);
        put_esc(f, title);
        fprintf(f, " against step\">\n");
        draw_ticks(f, &xa, &ya);
        fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", CH_L, CH_T, CH_PW, CH_PH);
        fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xt\">step</text>\n", CH_L + CH_PW / 2, CH_H - 4);
        size_t k = 0;
        for (size_t i = 0; i < r->n_s; i++)
            if (r->s[i].chart == ci)
                draw_series(f, r, &r->s[i], &xa, &ya, palette[k++ % N_COLOURS]);
        fprintf(f, "</svg>\n");
    } else {
        fprintf(f, "<p>No finite values.</p>\n");
    }
    draw_legend(f, r, ci);
    fprintf(f, "</section>\n");
    return drawn;
}

/* ---- the other sections ----------------------------------------------------- */

static void put_summary(FILE *f, const char *path, json_t *sum)
{
    fprintf(f, "<h2>Summary</h2>\n");
    if (!json_is_object(sum)) {
        fprintf(f, "<p>%s</p>\n", access(path, F_OK) == 0 ? "summary.json is not a JSON object."
                                                           : "No summary.json: the run has not finished, or "
                                                             "was stopped.");
        return;
    }
    fprintf(f, "<table class=\"kv\">\n");
    const char *key;
    json_t *v;
    json_object_foreach(sum, key, v)
    {
        fprintf(f, "<tr><th>");
        put_esc(f, key);
        fprintf(f, "</th><td>");
        if (json_is_string(v)) {
            put_esc(f, json_string_value(v));
        } else if (json_is_real(v)) {
            put_num(f, json_real_value(v));
        } else {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            put_esc(f, text ? text : "?");
            free(text);
        }
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of all the regular files in @p dir (ending in @p
 * suffix when given); *n their count. NULL when none or unreadable. All of
 * them, not the first MAX_FILES that readdir gives (in no order): the
 * latest of samples/ are the last of every name. */
static char **list_files(const char *dir, const char *suffix, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const size_t len = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
        if (e->d_name[0] == '.' || (suffix && (len <= sl || strcmp(e->d_name + len - sl, suffix))))
            continue;
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *grown);
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[*n] = strdup(e->d_name)))
            break;
        ++*n;
    }
    closedir(d);
    if (names)
        qsort(names, *n, sizeof *names, by_name);
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void put_image(FILE *f, const char *base, const char *rel)
{
    fprintf(f, "<figure><img src=\"");
    put_url(f, base);
    put_url(f, rel);
    fprintf(f, "\" alt=\"");
    put_esc(f, rel);
    fprintf(f, "\"><figcaption>");
    put_esc(f, rel);
    fprintf(f, "</figcaption></figure>\n");
}

/* The run's PNGs and the latest MAX_SAMPLES of samples/. Returns how many. */
static int put_images(FILE *f, const char *dir, const char *base)
{
    size_t n = 0, ns = 0;
    char **top = list_files(dir, ".png", &n);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/samples", dir);
    char **samples = list_files(sub, ".png", &ns);
    int shown = 0;
    if (n + ns) {
        fprintf(f, "<h2>Images</h2>\n<div class=\"images\">\n");
        for (size_t i = 0; i < n && shown < MAX_IMAGES; i++, shown++)
            put_image(f, base, top[i]);
        for (size_t i = ns > MAX_SAMPLES ? ns - MAX_SAMPLES : 0; i < ns && shown < MAX_IMAGES; i++, shown++) {
            char rel[300];
            snprintf(rel, sizeof rel, "samples/%.250s", samples[i]);
            put_image(f, base, rel);
        }
        fprintf(f, "</div>\n");
        if (ns > MAX_SAMPLES)
            fprintf(f, "<p>The latest %d of %zu images in samples/.</p>\n", MAX_SAMPLES, ns);
    }
    free_list(top, n);
    free_list(samples, ns);
    return shown;
}

static void put_spec(FILE *f, const char *path)
{
    FILE *in = regular_file(path) ? fopen(path, "r") : NULL;
    if (!in)
        return;
    fprintf(f, "<h2>Spec</h2>\n<pre>");
    char buf[4096];
    size_t got, total = 0;
    while (total < MAX_SPEC_BYTES && (got = fread(buf, 1, sizeof buf, in)) > 0) {
        put_esc_n(f, buf, got);
        total += got;
    }
    fprintf(f, "</pre>\n");
    if (total >= MAX_SPEC_BYTES)
        fprintf(f, "<p>(cut at %d bytes)</p>\n", MAX_SPEC_BYTES);
    fclose(in);
}

static void put_files(FILE *f, const char *dir)
{
    size_t n = 0;
    char **names = list_files(dir, NULL, &n);
    if (n) {
        fprintf(f, "<h2>Files</h2>\n<table class=\"kv\">\n");
        size_t listed = 0, shown = 0;
        for (size_t i = 0; i < n; i++) {
            char path[4400];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            /* not the page itself, nor a write in progress */
            if (!strcmp(names[i], "report.html") || strstr(names[i], ".tmp.") || stat(path, &st) != 0 ||
                listed++ >= MAX_FILES)
                continue;
            fprintf(f, "<tr><th>");
            put_esc(f, names[i]);
            fprintf(f, "</th><td>%lld bytes</td></tr>\n", (long long)st.st_size);
            shown++;
        }
        fprintf(f, "</table>\n");
        if (listed > shown)
            fprintf(f, "<p>The first %zu of %zu files.</p>\n", shown, listed);
    }
    free_list(names, n);
}

static const char style[] =
    "body{font-family:sans-serif;margin:2em;max-width:820px;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}"
    "h3{font-size:1em;margin:1.5em 0 .3em}"
    "table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 10px 2px 0;text-align:left;"
    "vertical-align:top}table.kv th{font-weight:normal;color:#555}"
    "table.legend td:nth-child(n+3){text-align:right;font-variant-numeric:tabular-nums}"
    ".sw{display:inline-block;width:14px;height:4px;vertical-align:middle}"
    "svg{display:block}svg text{font-size:11px;fill:#444}.yl{text-anchor:end}.xl,.xt{text-anchor:middle}"
    ".grid line{stroke:#e5e5e5}.frame{fill:none;stroke:#999}polyline{fill:none;stroke-width:1.5}"
    ".images{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figure img{max-width:380px;"
    "image-rendering:pixelated}figcaption{font-size:.8em;color:#555}"
    "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}";

/* ---- the page --------------------------------------------------------------- */

static int by_kind(const report *r, int a, int b)
{
    return r->c[a].kind != r->c[b].kind ? r->c[a].kind - r->c[b].kind : a - b;
}

/* The page of r into f; the number of charts drawn. */
static int put_page(FILE *f, report *r, int have_metrics)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", r->dir);
    /* the spec's name (summary.json "name"), the label spec.md promises, before the directory */
    json_error_t jerr;
    json_t *sum = regular_file(path) ? json_load_file(path, 0, &jerr) : NULL;
    const char *name = json_string_value(json_object_get(sum, "name"));
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    if (name) {
        put_esc(f, name);
        fprintf(f, " - ");
    }
    fprintf(f, "Strata run ");
    put_esc(f, r->dir);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
    if (name) {
        put_esc(f, name);
        fprintf(f, ": ");
    }
    fprintf(f, "Strata run <code>");
    put_esc(f, r->dir);
    fprintf(f, "</code></h1>\n<p>Written by strata %s from the run directory's files.</p>\n", strata_version_string());
    put_summary(f, path, sum);
    json_decref(sum);

    fprintf(f, "<h2>Training curves</h2>\n");
    int drawn = 0;
    if (!have_metrics) {
        fprintf(f, "<p>No metrics.jsonl.</p>\n");
    } else {
        fprintf(f, "<p>%zu records of metrics.jsonl", r->records);
        if (r->bad)
            fprintf(f, " (%zu line%s that %s not JSON left out, the first at line %ld)", r->bad,
                    r->bad == 1 ? "" : "s", r->bad == 1 ? "is" : "are", r->first_bad);
        fprintf(f, ", against the optimizer step. A curve of more than %d values is drawn as the means of %d "
                   "buckets of consecutive records; the legend's figures are over every value.</p>\n",
                REPORT_MAX_POINTS, REPORT_MAX_POINTS);
        int order[MAX_CHARTS];
        for (int i = 0; i < r->n_c; i++)
            order[i] = i;
        for (int i = 1; i < r->n_c; i++) /* insertion sort by kind, stable */
            for (int j = i; j > 0 && by_kind(r, order[j - 1], order[j]) > 0; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        double x0 = INFINITY, x1 = -INFINITY;
        for (size_t i = 0; i < r->n_s; i++)
            for (size_t j = 0; j < r->s[i].n; j++)
                x0 = fmin(x0, r->s[i].p[j].x), x1 = fmax(x1, r->s[i].p[j].x);
        for (int i = 0; i < r->n_c; i++)
            drawn += draw_chart(f, r, order[i], x0, x1);
        if (!r->n_c)
            fprintf(f, "<p>The records hold no numbers to draw.</p>\n");
        if (r->left_out)
            fprintf(f, "<p>Left out: %zu series of fields past the first %d that have a chart of their own.</p>\n",
                    r->left_out, MAX_OTHER_CHARTS);
    }
    put_images(f, r->dir, r->img_base);
    snprintf(path, sizeof path, "%s/spec.yaml", r->dir);
    put_spec(f, path);
    put_files(f, r->dir);
    fprintf(f, "</body>\n</html>\n");
    return drawn;
}

static void report_free(report *r)
{
    for (size_t i = 0; i < r->n_s; i++) {
        free(r->s[i].key);
        free(r->s[i].p);
    }
    free(r->s);
    json_decref(r->index);
}

int report_write(const char *run_dir, const char *out_path, int *n_charts)
{
    struct stat st;
    const int there = stat(run_dir, &st) == 0;
    if (!there || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "strata: error: %s: %s\n", run_dir, there ? "not a directory (a run directory)" : strerror(errno));
        return 1;
    }
    char metrics[4200], sum[4200], spec[4200], out[4200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run_dir);
    snprintf(sum, sizeof sum, "%s/summary.json", run_dir);
    snprintf(spec, sizeof spec, "%s/spec.yaml", run_dir);
    snprintf(out, sizeof out, "%s/report.html", run_dir);
    report r;
    memset(&r, 0, sizeof r);
    r.dir = run_dir;
    int have_metrics = 0;
    if (read_metrics(&r, metrics, &have_metrics)) {
        report_free(&r);
        return 1;
    }
    if (!have_metrics && access(sum, F_OK) != 0 && access(spec, F_OK) != 0) {
        fprintf(stderr, "strata: error: %s holds no run: no metrics.jsonl, summary.json or spec.yaml\n", run_dir);
        report_free(&r);
        return 1;
    }
    if (!out_path) /* a write a killed run left behind (report.html.tmp.XXXXXX) */
        train_ckpt_remove_temps_of(run_dir, "report.html");
    if (out_path) { /* a page in another folder links the images by the run's absolute path */
        char od[4200], real_run[PATH_MAX], real_out[PATH_MAX];
        snprintf(od, sizeof od, "%s", out_path);
        char *slash = strrchr(od, '/');
        if (slash)
            *slash = '\0';
        const char *odir = slash ? (od[0] ? od : "/") : ".";
        if (realpath(run_dir, real_run) && (!realpath(odir, real_out) || strcmp(real_run, real_out)))
            snprintf(r.img_base, sizeof r.img_base, "%s/", real_run);
    }
    char *page = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&page, &len);
    int drawn = f ? put_page(f, &r, have_metrics) : 0;
    report_free(&r);
    if (!f || fclose(f) != 0 || !page) {
        free(page);
        fprintf(stderr, "strata: error: cannot write %s: out of memory\n", out_path ? out_path : out);
        return 1;
    }
    int rc = cli_write_atomic(out_path ? out_path : out, page, len);
    free(page);
    if (!rc && n_charts)
        *n_charts = drawn;
    return rc;
}

void report_after_training(const char *run_dir, int quiet)
{
    /* a data-parallel run's files are rank 0's; a new run stopped before its first step has none of its own */
    if (!dist_is_root() || cli_interrupted_untrained())
        return;
    char out[4200];
    snprintf(out, sizeof out, "%s/report.html", run_dir);
    if (report_write(run_dir, NULL, NULL) != 0)
        fprintf(stderr, "strata: warning: the run's report was not written (strata report %s tries again)\n",
                run_dir);
    else if (!quiet)
        printf("report: %s\n", out);
}
