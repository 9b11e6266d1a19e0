/* write_atomic.h - files written whole or not at all (write_atomic.c): what
 * the run directory's pages, summaries and images need, as checkpoints have. */
#ifndef STRATA_WRITE_ATOMIC_H
#define STRATA_WRITE_ATOMIC_H

#include <stddef.h>

/** Writes @p len bytes of @p data to @p path whole or not at all: a
 *  temporary file next to it (PATH.tmp.XXXXXX), fsync, rename, then
 *  cli_sync_parent. 0; 1 after "strata: error: cannot write PATH: why". */
int cli_write_atomic(const char *path, const void *data, size_t len);

/** fsync of the directory holding @p path, so a rename into it is on the
 *  disk too; best effort (some file systems refuse it). */
void cli_sync_parent(const char *path);

#endif
