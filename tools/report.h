/* report.h - RUN/report.html: a run directory as one page a browser opens
 * without a network: the summary, the training curves of metrics.jsonl as
 * inline SVG charts, the images the run wrote, the spec and the files. */
#ifndef STRATA_REPORT_H
#define STRATA_REPORT_H

#include <stddef.h>

/** Most points one drawn curve has: a longer series is averaged in this
 *  many buckets of consecutive records (the legend's figures use every record). */
#define REPORT_MAX_POINTS 600

/**
 * Writes the report of run directory @p run_dir to @p out_path (NULL:
 * RUN/report.html), atomically (a temporary file, fsync, rename). Lines of
 * metrics.jsonl that are not JSON objects (a run killed mid-line) are
 * skipped with one warning naming the first. @p n_charts, when not NULL,
 * gets the number of charts drawn.
 * @returns 0; 1 after "strata: error: ..." when the directory holds no run
 * (none of metrics.jsonl, summary.json, spec.yaml) or the page cannot be
 * written.
 */
int report_write(const char *run_dir, const char *out_path, int *n_charts);

/** report_write(@p run_dir, NULL) at the end of a trainer: "report: PATH" on
 *  stdout unless @p quiet; a failure is a warning, not the run's failure
 *  (the checkpoint is what the run is for). Rank 0's alone in a
 *  data-parallel run (dist.h). */
void report_after_training(const char *run_dir, int quiet);

#endif
