/* testutil.h - helpers shared by the CMocka tests. */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "strata/strata.h"

/** Fails the test with strata_last_error() when @p expr is not STRATA_OK. */
#define ST_OK(expr)                                                                                            \
    do {                                                                                                       \
        strata_status st_ok_s_ = (expr);                                                                       \
        if (st_ok_s_ != STRATA_OK)                                                                             \
            fail_msg("%s -> %s: %s", #expr, strata_status_name(st_ok_s_), strata_last_error());                \
    } while (0)

/** A runtime that loads only the plugins of this build tree (lib/strata). */
strata_runtime *tu_runtime(void);
/** The ref device of @p rt. */
strata_device *tu_ref(strata_runtime *rt);
/** Path under the build tree / test data dir (static buffer, one at a time). */
const char *tu_build_path(const char *rel);
/** $STRATA_SOURCE_DIR/@p rel (the source tree's models/, tools/...; a static buffer). */
const char *tu_source_path(const char *rel);
const char *tu_data_path(const char *rel);
/** Writes @p len bytes to a fresh temp file; returns its path (static). */
const char *tu_write_temp(const char *suffix, const void *data, size_t len);
/** Makes a fresh directory $TMPDIR/strata-NAME-XXXXXX (/tmp when TMPDIR
 *  is unset or empty) and writes its path to @p dir; 0, or -1 when it
 *  cannot be made or the path does not fit @p size. */
int tu_make_temp_dir(char *dir, size_t size, const char *name);
/** Removes @p dir and everything below it (links are removed, not
 *  followed); 0, or -1 when something could not be removed. */
int tu_remove_dir(const char *dir);
/** Runs `strata ARGS` (this build's bin/strata) in @p dir with stdout and
 *  stderr to dir/out and dir/err; fails the test if it was killed by a
 *  signal. Returns its exit status. */
int tu_run_cli(const char *dir, const char *args);
/** tu_run_cli with files limited to @p max_bytes (RLIMIT_FSIZE, SIGXFSZ
 *  ignored): a write past it fails with EFBIG, a full disk without root.
 *  dir/out and dir/err count too. */
int tu_run_cli_fsize(const char *dir, long long max_bytes, const char *args);
/** Writes @p len bytes of @p data to dir/name (@p dir NULL: @p name is the
 *  whole path), replacing the file; fails the test when it cannot. */
void tu_write_file(const char *dir, const char *name, const void *data, size_t len);
/** tu_write_file of the string @p text. */
void tu_write_text(const char *dir, const char *name, const char *text);
/** dir/@p dst: the text of dir/@p src with @p line inserted before the first @p before in it (a spec's
 *  variant: a layer more, a key more); fails the test when @p before is not there. */
void tu_write_text_inserted(const char *dir, const char *src, const char *dst, const char *before, const char *line);
/** Stores @p v big-endian at p[0..4) (IDX headers). */
void tu_put_be32(uint8_t *p, uint32_t v);
/** The whole file dir/name, NUL-terminated (malloc'ed), or NULL when missing. */
char *tu_slurp(const char *dir, const char *name);
/** The N of "the state after step N (the last good one)" in dir/err, the last command's stderr (a run stopped
 *  by a non-finite loss or an anomaly); fails the test when it is not there. */
long long tu_last_good_step(const char *dir);
/** Starts `strata ARGV...` (NULL-terminated; this build's bin/strata) in
 *  @p dir with stdout and stderr to dir/out and dir/err, waits until
 *  dir/@p watch holds @p lines occurrences of @p needle (a run's progress),
 *  sends SIGINT and returns the exit status. Fails the test if the program
 *  ended before, took over 60 s to get there, did not end within 60 s of
 *  the signal, or died of it. */
int tu_run_cli_interrupted(const char *dir, const char *watch, const char *needle, int lines, const char *const *argv);
/** tu_run_cli with printf-style arguments. */
int tu_run_clif(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Fails the test, with dir/err, unless the command's exit status @p code is 0. */
void tu_expect_cli_ok(const char *dir, int code);
/** Fails the test unless the command exited @p want with @p needle in dir/err. */
void tu_expect_cli_err(const char *dir, int code, int want, const char *needle);
/** Over the records (JSON lines) of dir/@p file that have @p key: their
 *  number, and in *best_id the @p id ("epoch", "step", the record's first
 *  key) of the first with the lowest value (the highest when @p highest). */
long long tu_best_record(const char *dir, const char *file, const char *key, const char *id, int highest,
                         long long *best_id);
/** dir/images.idx (n, side, side) ubyte and dir/labels.idx: three classes
 *  of bars (vertical, horizontal, diagonal; label i % 3) with one brighter
 *  pixel each, for tests that train a tiny classifier, GAN or autoencoder. */
void tu_write_bars_idx(const char *dir, int n, int side);
/** @p s with its lines' leading blanks dropped and every other run of
 *  blanks made one space, after a '\n' (malloc'ed): a table row then reads
 *  "\n0 0 conv2d [6, 28, 28] 156\n" whatever the column widths. */
char *tu_squeeze(const char *s);
/** Occurrences of @p needle in @p s. */
int tu_count(const char *s, const char *needle);
/** dir/RUN/metrics.jsonl without its "seconds" fields, which differ
 *  between runs (malloc'ed); fails the test when the file is missing. */
char *tu_metrics(const char *dir, const char *run);
/** The "step" of the train.state in dir/PATH: a checkpoint file, or a run
 *  directory (its checkpoint.safetensors). */
long long tu_checkpoint_step(const char *dir, const char *path);
/** 1 when checkpoints dir/@p a and dir/@p b hold the same model tensors
 *  (every tensor but the optimizer's "optimizer.*" state: names, shapes
 *  and bytes), else 0; fails the test when either cannot be read.
 *  (support/tu_checkpoint.c: not in the ABI compatibility test) */
int tu_same_model_tensors(const char *dir, const char *a, const char *b);
/** One tensor of a safetensors file: name, dtype, shape, little-endian bytes. */
typedef struct {
    const char *name, *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} tu_sft_tensor;
/** dir/name: a safetensors file of @p n tensors (the 8-byte header length,
 *  the JSON header, the data), written as the format's definition says. */
void tu_write_sft(const char *dir, const char *name, const tu_sft_tensor *t, int n);
/** Asserts strata_last_error() contains @p needle. */
void tu_assert_error_contains(const char *needle);

#endif
