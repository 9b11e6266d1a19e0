/* write_atomic.c - files written whole or not at all (write_atomic.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "write_atomic.h"

void cli_sync_parent(const char *path)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

FILE *cli_fopen_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), e = 0; /* O_NONBLOCK: a FIFO opens at once */
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        e = errno;
    FILE *f = e ? NULL : fdopen(fd, "rb");
    if (!f) {
        e = e ? e : errno;
        close(fd);
        errno = e;
    }
    return f;
}

char *cli_read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *s = malloc(cap);
    for (size_t got; s && (got = fread(s + n, 1, cap - 1 - n, f)) > 0;) {
        n += got;
        char *more = n == cap - 1 ? realloc(s, cap *= 2) : s;
        if (!more)
            free(s);
        s = more;
    }
    if (s && ferror(f)) {
        free(s);
        s = NULL;
    }
    if (s) {
        s[n] = '\0';
        *len = n;
    }
    return s;
}

/* "cannot write PATH: why": an error, or with @p note a warning that ends "(note)" */
static void tell(const char *path, const char *why, const char *note)
{
    if (note)
        fprintf(stderr, "strata: warning: cannot write %s: %s (%s)\n", path, why, note);
    else
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, why);
}

static int write_target(const char *path, char *out, size_t size, const char *note)
{
    struct stat st;
    const char *why = NULL;
    char *real = NULL;
    if (lstat(path, &st) != 0) /* a new file (or one the write will say it cannot make) */
        st.st_mode = S_IFREG;
    else if (S_ISLNK(st.st_mode) && (!(real = realpath(path, NULL)) || stat(real, &st) != 0))
        why = errno == ENOENT ? "it is a symbolic link to a file that does not exist" : strerror(errno);
    if (!why && !S_ISREG(st.st_mode))
        why = S_ISDIR(st.st_mode)                          ? "it is a directory"
              : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "it is a device, not a regular file"
              : S_ISFIFO(st.st_mode)                       ? "it is a FIFO, not a regular file"
                                                           : "it is not a regular file";
    if (!why && snprintf(out, size, "%s", real ? real : path) >= (int)size)
        why = "path too long";
    free(real);
    /* its directory, which the temporary file goes in: a missing one is said before any work, not after */
    char parent[4096];
    if (!why && snprintf(parent, sizeof parent, "%s", out) < (int)sizeof parent) {
        const char *d = dirname(parent); /* "." for a bare name, "/" at the root */
        if (stat(d, &st) != 0)
            why = strerror(errno);
        else if (!S_ISDIR(st.st_mode))
            why = "its directory is not a directory";
        else if (access(d, W_OK | X_OK) != 0)
            why = strerror(errno);
    }
    if (why)
        tell(path, why, note);
    return why != NULL;
}

int cli_write_target(const char *path, char *out, size_t size)
{
    return write_target(path, out, size, NULL);
}

void cli_write_mode(int fd, const char *target)
{
    struct stat st;
    if (stat(target, &st) == 0) {
        fchmod(fd, st.st_mode & 07777);
        return;
    }
    /* read by setting it back at once: the CLI creates no file in another thread meanwhile */
    const mode_t mask = umask(022);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
}

static int write_atomic(const char *path, const void *data, size_t len, const char *note)
{
    char tmp[4200], target[4096];
    if (write_target(path, target, sizeof target, note))
        return 1;
    path = target;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        tell(path, "path too long", note);
        return 1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tell(path, strerror(errno), note);
        return 1;
    }
    cli_write_mode(fd, path); /* mkstemp's 0600 is too private for a page or a summary */
    const char *p = data;
    size_t left = len;
    int e = 0;
    while (left && !e) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno != EINTR)
            e = errno;
        else if (w > 0)
            p += w, left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        tell(path, strerror(e), note);
        return 1;
    }
    cli_sync_parent(path);
    return 0;
}

int cli_write_atomic(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, NULL);
}

int cli_write_atomic_or_warn(const char *path, const void *data, size_t len, const char *note)
{
    return write_atomic(path, data, len, note);
}
