/* write_atomic.h - files written whole or not at all (write_atomic.c): what
 * the run directory's pages, summaries and images need, as checkpoints have;
 * and input files opened without waiting on a FIFO. */
#ifndef STRATA_WRITE_ATOMIC_H
#define STRATA_WRITE_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

/** Writes @p len bytes of @p data to @p path whole or not at all: a
 *  temporary file next to it (PATH.tmp.XXXXXX), fsync, rename, then
 *  cli_sync_parent. 0; 1 after "strata: error: cannot write PATH: why". */
int cli_write_atomic(const char *path, const void *data, size_t len);

/** cli_write_atomic for a file the command can do without: its failure is
 *  "strata: warning: cannot write PATH: why (@p note)". 0 or 1. */
int cli_write_atomic_or_warn(const char *path, const void *data, size_t len, const char *note);

/** The file a write of @p path through a temporary file and rename
 *  replaces, into @p out: @p path itself (absent or a regular file), or
 *  the file a symbolic link at @p path names (written through, as open()
 *  would). 0; 1 after "strata: error: cannot write PATH: why" when @p path
 *  is a directory, a device, a FIFO or a socket (the rename would put a
 *  plain file in its place) or a link to nothing. */
int cli_write_target(const char *path, char *out, size_t size);

/** fopen(@p path, "rb") of a regular file; a FIFO, a device or a directory
 *  is refused before anything waits on it. NULL with errno set (EINVAL
 *  for a file that is not regular): callers say strerror(errno), or "not a
 *  regular file" for EINVAL. */
FILE *cli_fopen_regular(const char *path);

/** The rest of @p f (malloc'ed, NUL-terminated, *@p len bytes); NULL when
 *  it cannot be read or memory runs out. */
char *cli_read_all(FILE *f, size_t *len);

/** The mode of the temporary file @p fd that is renamed over @p target:
 *  the mode of @p target when it exists (a rewrite keeps a private file
 *  private), else what open() would give a new file, 0666 less the umask. */
void cli_write_mode(int fd, const char *target);

/** fsync of the directory holding @p path, so a rename into it is on the
 *  disk too; best effort (some file systems refuse it). */
void cli_sync_parent(const char *path);

#endif
