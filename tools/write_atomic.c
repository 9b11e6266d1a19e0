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

int cli_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        fprintf(stderr, "strata: error: cannot write %s: path too long\n", path);
        return 1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fchmod(fd, 0644); /* mkstemp's 0600 is too private for a page or a summary */
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
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(e));
        return 1;
    }
    cli_sync_parent(path);
    return 0;
}
