/*
 * fuzz_report.c - RUN/report.html from a run directory's files
 * (report_write, tools/report.c, compiled into the harness from the
 * command-line tool's sources): the input is the run's metrics.jsonl, and
 * the same bytes are its summary.json and spec.yaml, so the JSON lines
 * reader, the summary table and the spec's escaping all read it.
 *
 * The page must be written whole (ending in "</html>\n") and must never
 * hold "<script" nor a "nan" or "inf" coordinate: every byte of the input
 * reaches the page only escaped, and every drawn value is finite.
 *
 * Seeds: tests/fuzz/corpus/report/ (the metrics of short classifier,
 * memory-network and GAN runs, cut down; torn and odd lines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "report.h"

/* report_write clears report.html temporaries of a killed write through the
 * trainers' helper (tools/train_ckpt.c, which needs the whole tool): the
 * harness writes its page elsewhere and has none to clear. */
void train_ckpt_remove_temps_of(const char *dir, const char *file);
void train_ckpt_remove_temps_of(const char *dir, const char *file)
{
    (void)dir;
    (void)file;
}

/* report_after_training (not fuzzed) asks the trainers' signal handling (tools/interrupt.c) whether the run
 * trained anything: it always did here. */
int cli_interrupted_untrained(void);
int cli_interrupted_untrained(void)
{
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *metrics = fz_write_file("metrics.jsonl", data, size);
    if (!metrics || !fz_write_file("summary.json", data, size) || !fz_write_file("spec.yaml", data, size))
        return 0;
    char run[4096], out[4200];
    snprintf(run, sizeof run, "%.*s", (int)(strrchr(metrics, '/') - metrics), metrics);
    snprintf(out, sizeof out, "%s/page.html", run);
    FILE *saved = stderr; /* warnings about torn lines, one per input: not the fuzzer's output */
    stderr = fopen("/dev/null", "w");
    int charts = -1;
    const int rc = report_write(run, out, &charts);
    fclose(stderr);
    stderr = saved;
    if (rc != 0) {
        fprintf(stderr, "fuzz_report: report_write failed on a directory that holds a run\n");
        abort();
    }
    FILE *f = fopen(out, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *page = malloc((size_t)n + 1);
    if (!page || fread(page, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    page[n] = '\0';
    if (n < 8 || strcmp(page + n - 8, "</html>\n") != 0 || strstr(page, "<script") || charts < 0) {
        fprintf(stderr, "fuzz_report: the page is cut short, holds a script or reports no chart count\n");
        abort();
    }
    for (const char *p = page; (p = strstr(p, "points=\"")); p++) {
        const char *end = strchr(p + 8, '"');
        for (const char *q = p + 8; end && q < end; q++)
            if (*q == 'n' || *q == 'i') { /* nan, inf, -nan */
                fprintf(stderr, "fuzz_report: a non-finite coordinate\n");
                abort();
            }
    }
    free(page);
    return 0;
}
