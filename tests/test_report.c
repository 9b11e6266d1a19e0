/* test_report.c - RUN/report.html (`strata report`, tools/report.c) end to
 * end: a run directory written by hand, with a curve of known values, a
 * torn last line, null values, repeated runs, a spec with markup in it and
 * sample images, and a real `strata train` run.
 *
 * The charts' geometry is checked, not only their presence: a curve of
 * 2,000 values is drawn as 600 bucket means whose x rises and whose y runs
 * from the top of the plot (the largest value) to its bottom (the
 * smallest); every point lies inside the plot area. The spec's markup comes
 * out escaped, the page holds no script, and bad uses fail with a message
 * naming the directory or file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "testutil.h"

/* tools/report.c's plot area and bucket count */
#define PLOT_L 70.0
#define PLOT_R 740.0
#define PLOT_T 30.0
#define PLOT_B 260.0
#define MAX_POINTS 600

static char dir[512];

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "report");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* dir/RUN/NAME */
static void put(const char *run, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/%s", dir, run, name);
    tu_write_file(NULL, path, text, strlen(text));
}

static void make_dir(const char *rel)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* The points of the polyline of series @p name in @p html, into xs/ys; their number. */
static int polyline(const char *html, const char *name, double *xs, double *ys, int cap)
{
    char needle[256];
    snprintf(needle, sizeof needle, "<polyline data-series=\"%s\"", name);
    const char *p = strstr(html, needle);
    assert_non_null(p);
    p = strstr(p, "points=\"");
    assert_non_null(p);
    p += strlen("points=\"");
    int n = 0;
    while (*p && *p != '"') {
        double x = 0, y = 0;
        int used = 0;
        assert_int_equal(sscanf(p, "%lf,%lf%n", &x, &y, &used), 2);
        assert_true(n < cap);
        xs[n] = x, ys[n] = y, n++;
        p += used;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* No temporary file of an atomic write is left in dir/RUN. */
static void expect_no_temporaries(const char *run)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, run);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp"))
            fail_msg("left behind: %s/%s", path, e->d_name);
    closedir(d);
}

static void test_report_of_a_written_run(void **state)
{
    (void)state;
    make_dir("run");
    make_dir("run/samples");
    /* 2,000 steps of batch_loss falling from 2 to 0 in a straight line, two epoch records, a torn line */
    size_t cap = 1 << 20, len = 0;
    char *m = malloc(cap);
    assert_non_null(m);
    for (int i = 1; i <= 2000; i++) {
        len += (size_t)snprintf(m + len, cap - len, "{\"step\":%d,\"epoch\":%d,\"batch_loss\":%.6f,\"lr\":0.1}\n", i,
                                i > 1000 ? 2 : 1, 2.0 * (2000 - i) / 1999.0);
        if (i % 1000 == 0)
            len += (size_t)snprintf(m + len, cap - len,
                                    "{\"epoch\":%d,\"step\":%d,\"loss\":1.5,\"accuracy\":0.6%d,\"test_loss\":1.4,"
                                    "\"test_accuracy\":0.7%d,\"val_loss\":null,\"seconds\":3.5}\n",
                                    i / 1000, i, i / 1000, i / 1000);
    }
    len += (size_t)snprintf(m + len, cap - len, "{\"step\": 2001, \"batch_lo");
    put("run", "metrics.jsonl", m);
    free(m);
    put("run", "summary.json", "{\"test_accuracy\": 0.8123, \"best\": {\"metric\": \"val_loss\", \"epoch\": 2}}");
    put("run", "spec.yaml", "name: \"<script>alert(1)</script> & co\"\n");
    put("run", "samples.png", "not decoded");
    put("run", "report.html.tmp.AbC123", "a write a killed run left behind");
    for (int k = 0; k < 10; k++) {
        char name[64];
        snprintf(name, sizeof name, "samples/step_%06d.png", 100 * k);
        put("run", name, "not decoded");
    }
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report run"));
    char *out = tu_slurp(dir, "out"), *err = tu_slurp(dir, "err");
    assert_non_null(strstr(out, "wrote run/report.html (3 charts)"));
    /* 2,000 step records and 2 epoch records before the torn line */
    assert_non_null(strstr(err, "run/metrics.jsonl:2003: not a JSON object"));
    assert_non_null(strstr(err, "1 such line left out"));
    free(out), free(err);

    char *html = tu_slurp(dir, "run/report.html");
    assert_non_null(html);
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "name: &quot;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co&quot;"));
    assert_int_equal(tu_count(html, "<svg"), 3);
    const char *loss = strstr(html, "<h3>loss</h3>"), *acc = strstr(html, "<h3>accuracy</h3>"),
               *lr = strstr(html, "<h3>learning rate</h3>");
    assert_true(loss && acc && lr && loss < acc && acc < lr);
    assert_non_null(strstr(html, "2002 records of metrics.jsonl (1 line that is not JSON left out"));

    /* the curve: 600 bucket means, x rising, from the plot's top (2.0) to its bottom (0.0) */
    static double xs[4000], ys[4000];
    int n = polyline(html, "batch_loss", xs, ys, 4000);
    assert_int_equal(n, MAX_POINTS);
    for (int i = 0; i < n; i++) {
        assert_true(xs[i] >= PLOT_L - 0.05 && xs[i] <= PLOT_R + 0.05);
        assert_true(ys[i] >= PLOT_T - 0.05 && ys[i] <= PLOT_B + 0.05);
        if (i)
            assert_true(xs[i] > xs[i - 1] && ys[i] > ys[i - 1]);
    }
    assert_true(ys[0] < PLOT_T + 1.0 && ys[n - 1] > PLOT_B - 1.0);
    assert_true(xs[0] < PLOT_L + 1.0 && xs[n - 1] > PLOT_R - 1.0);
    /* the epoch figures: every point drawn, and marked */
    assert_int_equal(polyline(html, "test_accuracy", xs, ys, 4000), 2);
    assert_true(xs[0] > 300.0 && xs[0] < 410.0 && xs[1] > PLOT_R - 0.5); /* steps 1000 and 2000 of 1..2000 */
    /* the legend: last, min and max over every value; nulls counted */
    assert_non_null(strstr(html, "<td>test_accuracy</td><td>2</td><td>0.72</td><td>0.71</td><td>0.72</td>"));
    assert_non_null(strstr(html, "<td>val_loss</td><td>0 (and 2 null)</td>"));
    assert_non_null(strstr(html, "<td>batch_loss</td><td>2000</td><td>0</td><td>0</td><td>2</td>"));
    assert_null(strstr(html, "data-series=\"seconds\"")); /* a time, not a curve */

    /* the summary, the images (the run's own and the latest 8 of samples/), the files */
    assert_non_null(strstr(html, "<th>test_accuracy</th><td>0.8123</td>"));
    assert_non_null(strstr(html, "<th>best</th><td>{&quot;metric&quot;:&quot;val_loss&quot;"));
    assert_non_null(strstr(html, "<img src=\"samples.png\""));
    assert_null(strstr(html, "samples/step_000100.png"));
    assert_non_null(strstr(html, "<img src=\"samples/step_000200.png\""));
    assert_non_null(strstr(html, "<img src=\"samples/step_000900.png\""));
    assert_int_equal(tu_count(html, "<img src=\"samples/"), 8);
    assert_non_null(strstr(html, "The latest 8 of 10 images in samples/."));
    assert_non_null(strstr(html, "<th>metrics.jsonl</th>"));
    free(html);
    expect_no_temporaries("run");

    /* --out elsewhere; the directory's own report.html stays as it was */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report run --out other.html"));
    char *other = tu_slurp(dir, "other.html");
    assert_non_null(other);
    assert_int_equal(tu_count(other, "<svg"), 3);
    assert_non_null(strstr(other, "<th>summary.json</th>"));
    assert_null(strstr(other, "<th>report.html</th>")); /* the files listed are the run's, not its page */
    /* its images are linked by the run's absolute path (relative to the run, the page showed none) */
    char want[1024];
    snprintf(want, sizeof want, "<img src=\"%s/run/samples.png\"", dir);
    if (!strstr(other, want))
        fail_msg("no '%s' in the page written elsewhere", want);
    free(other);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report run --out run/again.html")); /* beside the run: relative */
    other = tu_slurp(dir, "run/again.html");
    assert_non_null(strstr(other, "<img src=\"samples.png\""));
    free(other);
}

/* Memory networks train several runs into one directory: one curve per run. */
static void test_repeated_runs_get_a_curve_each(void **state)
{
    (void)state;
    make_dir("reps");
    put("reps", "metrics.jsonl",
        "{\"repeat\":1,\"epoch\":1,\"step\":1,\"batch_loss\":3.0,\"lr\":0.01}\n"
        "{\"repeat\":1,\"epoch\":1,\"step\":2,\"batch_loss\":2.0,\"lr\":0.01}\n"
        "{\"repeat\":1,\"epoch\":1,\"step\":2,\"loss\":2.5,\"error\":0.4,\"val_error\":0.5,\"lr\":0.01}\n"
        "{\"repeat\":1,\"step\":2,\"final_train_error\":0.4,\"final_val_error\":null,\"best\":true}\n"
        "{\"repeat\":2,\"epoch\":1,\"step\":1,\"batch_loss\":2.5,\"lr\":0.01}\n"
        "{\"repeat\":2,\"epoch\":1,\"step\":2,\"batch_loss\":1.0,\"lr\":0.01}\n"
        "\n"
        "{\"repeat\":2,\"epoch\":1,\"step\":2,\"loss\":1.7,\"error\":0.2,\"val_error\":0.3,\"lr\":0.01}\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report reps"));
    char *err = tu_slurp(dir, "err");
    assert_null(strstr(err, "warning")); /* a blank line is not a torn record */
    free(err);
    char *html = tu_slurp(dir, "reps/report.html");
    assert_non_null(html);
    static double xs[16], ys[16];
    assert_int_equal(polyline(html, "batch_loss (run 1)", xs, ys, 16), 2);
    assert_true(ys[0] < ys[1]); /* 3.0 above 2.0 */
    assert_int_equal(polyline(html, "batch_loss (run 2)", xs, ys, 16), 2);
    assert_int_equal(polyline(html, "val_error (run 2)", xs, ys, 16), 1);
    assert_non_null(strstr(html, "<h3>error</h3>"));
    assert_null(strstr(html, "data-series=\"best")); /* a flag, not a number */
    assert_non_null(strstr(html, "No summary.json"));
    free(html);
}

/* Values at the ends of a double's range give a finite page: past
 * +-1e300 they are counted, not drawn (1e308 and -1e308 spanned an
 * infinite range: NaN coordinates); values that differ below a tick's
 * precision are drawn with room around them. */
static void test_extreme_values(void **state)
{
    (void)state;
    make_dir("ext");
    put("ext", "metrics.jsonl",
        "{\"step\":1,\"wide\":1e299,\"flat\":1e16,\"odd\":1e308}\n"
        "{\"step\":2,\"wide\":-1e299,\"flat\":10000000000000002,\"odd\":-1e308}\n"
        "{\"step\":3,\"wide\":0,\"flat\":1e16,\"odd\":2}\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report ext"));
    char *html = tu_slurp(dir, "ext/report.html");
    assert_non_null(html);
    assert_null(strstr(html, "nan"));
    assert_null(strstr(html, "inf"));
    static double xs[8], ys[8];
    assert_int_equal(polyline(html, "wide", xs, ys, 8), 3);
    assert_true(ys[0] < ys[2] && ys[2] < ys[1]); /* 1e299 on top, -1e299 at the bottom */
    assert_int_equal(polyline(html, "flat", xs, ys, 8), 3);
    assert_int_equal(polyline(html, "odd", xs, ys, 8), 1);
    assert_non_null(strstr(html, "<td>odd</td><td>1 (and 2 beyond &#177;1e300, not drawn)</td>"));
    for (const char *p = html; (p = strstr(p, "<polyline")); p++) {
        const char *pts = strstr(p, "points=\"") + 8;
        double x = 0, y = 0;
        for (int used = 0; sscanf(pts, "%lf,%lf%n", &x, &y, &used) == 2; pts += used) {
            assert_true(x >= PLOT_L - 0.05 && x <= PLOT_R + 0.05 && y >= PLOT_T - 0.05 && y <= PLOT_B + 0.05);
            while (pts[used] == ' ')
                used++;
        }
    }
    free(html);
}

/* Every point of every polyline of @p html lies in the plot area (so none is NaN). */
static void expect_points_in_plot(const char *html)
{
    for (const char *p = html; (p = strstr(p, "<polyline")); p++) {
        const char *pts = strstr(p, "points=\"") + 8;
        while (*pts != '"') {
            double x = 0, y = 0;
            int used = 0;
            assert_int_equal(sscanf(pts, "%lf,%lf%n", &x, &y, &used), 2);
            assert_true(x >= PLOT_L - 0.05 && x <= PLOT_R + 0.05 && y >= PLOT_T - 0.05 && y <= PLOT_B + 0.05);
            for (pts += used; *pts == ' '; pts++)
                ;
        }
    }
}

/* Values a tick step cannot resolve (a subnormal's span: the step
 * underflowed to 0 and every coordinate was NaN) get room around them, as
 * a single value does. */
static void test_tiny_values(void **state)
{
    (void)state;
    make_dir("tiny");
    put("tiny", "metrics.jsonl",
        "{\"step\":1,\"flat\":5e-324,\"rise\":0,\"fall\":-1e-320}\n"
        "{\"step\":2,\"flat\":5e-324,\"rise\":5e-324,\"fall\":-2e-320}\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report tiny"));
    char *html = tu_slurp(dir, "tiny/report.html");
    assert_non_null(html);
    assert_null(strstr(html, "nan"));
    assert_null(strstr(html, "inf"));
    static double xs[8], ys[8];
    assert_int_equal(polyline(html, "flat", xs, ys, 8), 2);
    assert_int_equal(polyline(html, "rise", xs, ys, 8), 2);
    assert_int_equal(polyline(html, "fall", xs, ys, 8), 2);
    expect_points_in_plot(html);
    free(html);
}

/* Thousands of fields in every record: each field finds its series at
 * once (a search of every series for every field took minutes: 30,000
 * fields in 8 records ran 20 s), and they all get drawn. */
static void test_many_fields(void **state)
{
    (void)state;
    enum { FIELDS = 30000, RECORDS = 8 };
    make_dir("many");
    size_t cap = (size_t)FIELDS * 24 * RECORDS + 4096, len = 0;
    char *m = malloc(cap);
    assert_non_null(m);
    for (int r = 1; r <= RECORDS; r++) {
        len += (size_t)snprintf(m + len, cap - len, "{\"step\":%d", r);
        for (int k = 0; k < FIELDS; k++)
            len += (size_t)snprintf(m + len, cap - len, ",\"loss_%d\":%d", k, k + r);
        len += (size_t)snprintf(m + len, cap - len, "}\n");
    }
    put("many", "metrics.jsonl", m);
    free(m);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report many"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (secs > 5.0)
        fail_msg("strata report took %.1f s for %d fields in %d records", secs, FIELDS, RECORDS);
    char *html = tu_slurp(dir, "many/report.html");
    assert_non_null(html);
    /* counted with memmem over what is left: strstr under ASan measures the whole page each call */
    int polylines = 0;
    const size_t page_len = strlen(html);
    static const char needle[] = "<polyline data-series=";
    for (const char *p = html; (p = memmem(p, page_len - (size_t)(p - html), needle, sizeof needle - 1)); p++)
        polylines++;
    assert_int_equal(polylines, FIELDS);
    assert_non_null(strstr(html, "<td>loss_29999</td><td>8</td><td>30007</td><td>30000</td><td>30007</td>"));
    free(html);
}

/* Fields of no known kind get a chart each, up to 60; past them they are
 * counted on the page, and the kinds' charts are still drawn (70 such
 * fields before "loss" and "accuracy" in each record took every one of the
 * page's 64 charts, and the loss and accuracy curves were left out without
 * a word). */
static void test_fields_past_the_chart_cap(void **state)
{
    (void)state;
    make_dir("cap");
    char m[8192];
    size_t len = 0;
    for (int r = 1; r <= 3; r++) {
        len += (size_t)snprintf(m + len, sizeof m - len, "{\"step\":%d", r);
        for (int k = 0; k < 70; k++)
            len += (size_t)snprintf(m + len, sizeof m - len, ",\"f%d\":%d", k, k + r);
        len += (size_t)snprintf(m + len, sizeof m - len, ",\"loss\":%d,\"accuracy\":0.%d}\n", 4 - r, r);
    }
    put("cap", "metrics.jsonl", m);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report cap"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "(62 charts)"));
    free(out);
    char *html = tu_slurp(dir, "cap/report.html");
    assert_non_null(html);
    assert_int_equal(tu_count(html, "<svg"), 62);
    static double xs[8], ys[8];
    assert_int_equal(polyline(html, "loss", xs, ys, 8), 3);
    assert_int_equal(polyline(html, "accuracy", xs, ys, 8), 3);
    assert_int_equal(polyline(html, "f59", xs, ys, 8), 3);
    assert_null(strstr(html, "data-series=\"f60\""));
    assert_non_null(strstr(html, "Left out: 10 series of fields past the first 60 that have a chart of their own."));
    free(html);
}

/* A GAN's samples/ of 300 images: the page shows the latest 8 of all of
 * them (the directory was read up to 200 names in readdir's order, so the
 * "latest" were the latest of an arbitrary 200), and the Files table says
 * how many it leaves out. */
static void test_many_samples(void **state)
{
    (void)state;
    make_dir("gan");
    make_dir("gan/samples");
    put("gan", "metrics.jsonl", "{\"step\":1,\"d_loss\":1.0}\n");
    for (int k = 0; k < 300; k++) {
        char name[64];
        snprintf(name, sizeof name, "samples/step_%06d.png", k);
        put("gan", name, "not decoded");
        snprintf(name, sizeof name, "file_%03d.txt", k);
        put("gan", name, "x");
    }
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report gan"));
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report gan")); /* again, with report.html among the files */
    char *html = tu_slurp(dir, "gan/report.html");
    assert_non_null(html);
    assert_int_equal(tu_count(html, "<img src=\"samples/"), 8);
    for (int k = 292; k < 300; k++) {
        char img[64];
        snprintf(img, sizeof img, "<img src=\"samples/step_%06d.png\"", k);
        if (!strstr(html, img))
            fail_msg("the latest samples lack step_%06d.png", k);
    }
    assert_non_null(strstr(html, "The latest 8 of 300 images in samples/."));
    assert_non_null(strstr(html, "<th>file_000.txt</th>"));
    assert_null(strstr(html, "<th>file_250.txt</th>"));
    assert_non_null(strstr(html, "The first 200 of 301 files.")); /* and metrics.jsonl */
    free(html);
}

static void test_bad_uses(void **state)
{
    (void)state;
    tu_expect_cli_err(dir, tu_run_cli(dir, "report missing"), 1, "missing: No such file or directory");
    make_dir("empty");
    tu_expect_cli_err(dir, tu_run_cli(dir, "report empty"), 1,
                      "empty holds no run: no metrics.jsonl, summary.json or spec.yaml");
    tu_write_text(dir, "file", "x");
    tu_expect_cli_err(dir, tu_run_cli(dir, "report file"), 1, "file: not a directory");
    /* a FIFO in a file's place is refused, not waited on; FIFOs for the summary and spec are left out */
    make_dir("fifo");
    char path[1200];
    snprintf(path, sizeof path, "%s/fifo/metrics.jsonl", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "report fifo"), 1, "fifo/metrics.jsonl is not a regular file");
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/fifo/summary.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/fifo/spec.yaml", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    put("fifo", "metrics.jsonl", "{\"step\":1,\"loss\":1}\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report fifo"));
    /* a NUL in the spec does not end it; a name with ".tmp" in it is a file like any other */
    make_dir("nul");
    snprintf(path, sizeof path, "%s/nul/spec.yaml", dir);
    tu_write_file(NULL, path, "a: 1\0b: <2>\n", 13);
    put("nul", "x.tmpl", "a template");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report nul"));
    char *page = tu_slurp(dir, "nul/report.html");
    assert_non_null(page);
    assert_non_null(strstr(page, "a: 1&#65533;b: &lt;2&gt;"));
    assert_non_null(strstr(page, "<th>x.tmpl</th>"));
    free(page);
    tu_expect_cli_err(dir, tu_run_cli(dir, "report"), 2, "report needs a run directory");
    make_dir("only-spec");
    put("only-spec", "spec.yaml", "name: x\n");
    tu_expect_cli_err(dir, tu_run_cli(dir, "report only-spec --out no/such/dir/r.html"), 1,
                      "cannot write no/such/dir/r.html");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "report only-spec"));
    char *html = tu_slurp(dir, "only-spec/report.html");
    assert_non_null(html);
    assert_non_null(strstr(html, "No metrics.jsonl."));
    assert_int_equal(tu_count(html, "<svg"), 0);
    free(html);
}

/* `strata train` writes the report at the end, and says where unless --quiet. */
static void test_training_writes_the_report(void **state)
{
    (void)state;
    tu_write_bars_idx(dir, 24, 8);
    char spec[4096];
    snprintf(spec, sizeof spec,
             "name: report-tiny\nseed: 1\n"
             "data:\n  format: idx\n"
             "  train: {images: %s/images.idx, labels: %s/labels.idx}\n"
             "  test: {images: %s/images.idx, labels: %s/labels.idx}\n"
             "  scale: 255\n"
             "model:\n  input: [1, 8, 8]\n  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, out_features: 3}\n"
             "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.1}\n"
             "train: {epochs: 2, batch_size: 8}\n",
             dir, dir, dir, dir);
    tu_write_text(dir, "tiny.yaml", spec);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train tiny.yaml --out t1 --backend ref"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "report: t1/report.html\n"));
    free(out);
    char *html = tu_slurp(dir, "t1/report.html");
    assert_non_null(html);
    assert_int_equal(tu_count(html, "<svg"), 3); /* loss, accuracy, learning rate */
    assert_non_null(strstr(html, "<th>test_accuracy</th>"));
    assert_non_null(strstr(html, "name: report-tiny"));
    /* the spec's name labels the run (spec.md said so; nothing read it) */
    assert_non_null(strstr(html, "<title>report-tiny - Strata run t1</title>"));
    assert_non_null(strstr(html, "<h1>report-tiny: Strata run <code>t1</code></h1>"));
    char *sum = tu_slurp(dir, "t1/summary.json");
    assert_non_null(sum);
    assert_non_null(strstr(sum, "\"name\": \"report-tiny\""));
    free(sum);
    static double xs[16], ys[16];
    assert_int_equal(polyline(html, "batch_loss", xs, ys, 16), 6); /* 3 batches an epoch, 2 epochs */
    free(html);
    expect_no_temporaries("t1");

    tu_expect_cli_ok(dir, tu_run_cli(dir, "train tiny.yaml --out t2 --backend ref --quiet"));
    out = tu_slurp(dir, "out");
    assert_null(strstr(out, "report:"));
    free(out);
    html = tu_slurp(dir, "t2/report.html");
    assert_non_null(html);
    free(html);
}

/* dir/gan.yaml: a GAN of 2 steps on 16 bars, no grids but the final one. */
static void write_gan_spec(void)
{
    tu_write_bars_idx(dir, 16, 8);
    char spec[4096];
    snprintf(spec, sizeof spec,
             "seed: 1\ntask: gan\n"
             "data:\n  format: idx\n  train: {images: %s/images.idx, labels: %s/labels.idx}\n  scale: 255\n"
             "gan: {loss: hinge, noise_dim: 4, sample_every: 0, sample_count: 4}\n"
             "generator:\n  model:\n    input: [4]\n    layers:\n"
             "      - {type: linear, out_features: 64}\n      - {type: tanh}\n"
             "      - {type: unflatten, shape: [1, 8, 8]}\n"
             "  optimizer: {type: adam, lr: 0.001}\n"
             "discriminator:\n  model:\n    input: [1, 8, 8]\n    layers:\n"
             "      - {type: flatten}\n      - {type: linear, out_features: 1}\n"
             "  optimizer: {type: adam, lr: 0.001}\n"
             "train: {steps: 2, batch_size: 8}\n",
             dir, dir);
    tu_write_text(dir, "gan.yaml", spec);
}

/* A trainer that fails after training writes no report, the GAN and the
 * memory network as the others: its final sample grid not written (here
 * samples.png is a directory), `strata train` exits 1 and RUN holds no
 * report.html (the GAN wrote one quietly, as for a run stopped by Ctrl-C). */
static void test_failed_run_writes_no_report(void **state)
{
    (void)state;
    write_gan_spec();
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train gan.yaml --out ok --backend ref"));
    char *html = tu_slurp(dir, "ok/report.html");
    assert_non_null(html);
    free(html);

    make_dir("bad");
    make_dir("bad/samples.png");
    assert_int_equal(tu_run_cli(dir, "train gan.yaml --out bad --backend ref"), 1);
    char *out = tu_slurp(dir, "out");
    assert_null(strstr(out, "report:"));
    free(out);
    char path[1200];
    snprintf(path, sizeof path, "%s/bad/report.html", dir);
    struct stat st;
    if (stat(path, &st) == 0)
        fail_msg("a failed run wrote %s", path);
}

/* The mode of @p rel under dir (its permission bits). */
static unsigned mode_of(const char *rel)
{
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (stat(path, &st) != 0)
        fail_msg("no %s", path);
    return (unsigned)(st.st_mode & 07777);
}

/* The files a run writes whole (temporary file, rename) take the umask as
 * open() would, and one rewritten keeps its mode: report.html, summary.json
 * and the PNGs were made 0644 whatever the umask, a private page public. */
static void test_written_files_keep_umask(void **state)
{
    (void)state;
    write_gan_spec();
    const mode_t old = umask(077);
    int code = tu_run_cli(dir, "train gan.yaml --out private --backend ref");
    umask(old);
    tu_expect_cli_ok(dir, code);
    assert_int_equal(mode_of("private/report.html"), 0600);
    assert_int_equal(mode_of("private/summary.json"), 0600);
    assert_int_equal(mode_of("private/samples.png"), 0600);
    assert_int_equal(mode_of("private/metrics.jsonl"), 0600);
    char path[1200];
    snprintf(path, sizeof path, "%s/private/report.html", dir);
    assert_int_equal(chmod(path, 0640), 0);
    umask(022);
    code = tu_run_cli(dir, "report private");
    umask(old);
    tu_expect_cli_ok(dir, code);
    assert_int_equal(mode_of("private/report.html"), 0640);
    /* the checkpoints too (the core's writer), through a resume under another umask */
    assert_int_equal(mode_of("private/generator.safetensors"), 0600);
    umask(022);
    code = tu_run_cli(dir, "train gan.yaml --resume private --steps 3 --backend ref");
    umask(old);
    tu_expect_cli_ok(dir, code);
    assert_int_equal(mode_of("private/generator.safetensors"), 0600);
    assert_int_equal(mode_of("private/discriminator.safetensors"), 0600);
    /* a symbolic link in its place is renamed to .prev, not linked: the file written anew takes its mode too */
    char from[1200], to[1200];
    snprintf(from, sizeof from, "%s/private/discriminator.safetensors", dir);
    snprintf(to, sizeof to, "%s/private/d-store.safetensors", dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(symlink("d-store.safetensors", from), 0);
    umask(022);
    code = tu_run_cli(dir, "train gan.yaml --resume private --steps 4 --backend ref");
    umask(old);
    tu_expect_cli_ok(dir, code);
    assert_int_equal(mode_of("private/discriminator.safetensors"), 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_of_a_written_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_runs_get_a_curve_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extreme_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiny_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_past_the_chart_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_training_writes_the_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_files_keep_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_run_writes_no_report, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
