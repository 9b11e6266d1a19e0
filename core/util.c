/* util.c - allocation helpers, attribute copies, logging. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Allocation fault injection: allocation number fault_at (1-based, counted
 * from the last st_fault_alloc_set) fails; 0 = none. Process-wide on
 * purpose: a test or STRATA_FAULT_ALLOC=N reaches every runtime's
 * allocations. -1: not read from the environment yet. */
static _Atomic int64_t fault_at = -1;
static _Atomic int64_t fault_seen;
static _Atomic int fault_from_env; /* STRATA_FAULT_ALLOC set it: the hit is told on stderr */

/* Not in the public headers, but exported for the tests (test_alloc_fault). */
#define ST_TEST_EXPORT __attribute__((visibility("default")))

ST_TEST_EXPORT void st_fault_alloc_set(int64_t n)
{
    atomic_store(&fault_from_env, 0);
    atomic_store(&fault_seen, 0);
    atomic_store(&fault_at, n > 0 ? n : 0);
}

ST_TEST_EXPORT int64_t st_fault_alloc_count(void)
{
    return atomic_load(&fault_seen);
}

int st_fault_alloc_hit(void)
{
    int64_t at = atomic_load(&fault_at);
    if (at < 0) {
        const char *e = getenv("STRATA_FAULT_ALLOC");
        int64_t want = e && *e ? strtoll(e, NULL, 10) : 0;
        int64_t unread = -1;
        if (atomic_compare_exchange_strong(&fault_at, &unread, want > 0 ? want : 0))
            atomic_store(&fault_from_env, want > 0);
        at = atomic_load(&fault_at);
    }
    int64_t k = atomic_fetch_add(&fault_seen, 1) + 1;
    if (at <= 0 || k != at)
        return 0;
    if (atomic_load(&fault_from_env)) /* so a run that succeeds anyway is told from one that never got there */
        fprintf(stderr, "strata: STRATA_FAULT_ALLOC=%lld: failing this allocation\n", (long long)at);
    return 1;
}

void *st_malloc(size_t n)
{
    void *p = st_fault_alloc_hit() ? NULL : malloc(n ? n : 1);
    if (!p)
        st_error(STRATA_E_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *st_calloc(size_t n, size_t m)
{
    void *p = st_fault_alloc_hit() ? NULL : calloc(n ? n : 1, m ? m : 1);
    if (!p)
        st_error(STRATA_E_NOMEM, "out of memory allocating %zu x %zu bytes", n, m);
    return p;
}

void *st_realloc(void *p, size_t n)
{
    void *q = st_fault_alloc_hit() ? NULL : realloc(p, n ? n : 1);
    if (!q)
        st_error(STRATA_E_NOMEM, "out of memory reallocating to %zu bytes", n);
    return q;
}

char *st_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = st_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

strata_status st_grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return STRATA_OK;
    int ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = st_realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return STRATA_E_NOMEM;
    *arr = p;
    *cap = ncap;
    return STRATA_OK;
}

/* One block: the attr array, then names, strings and arrays, so one free()
 * releases everything. */
strata_attr *st_attrs_copy(const strata_attr *attrs, int n)
{
    if (n <= 0)
        return NULL;
    size_t bytes = sizeof(strata_attr) * (size_t)n;
    for (int k = 0; k < n; k++) {
        bytes += strlen(attrs[k].name ? attrs[k].name : "") + 1;
        if (attrs[k].kind == STRATA_ATTR_STRING && attrs[k].s)
            bytes += strlen(attrs[k].s) + 1;
        if (attrs[k].kind == STRATA_ATTR_INTS && attrs[k].n > 0)
            bytes += sizeof(int64_t) * (size_t)attrs[k].n + 8;
        if (attrs[k].kind == STRATA_ATTR_FLOATS && attrs[k].n > 0)
            bytes += sizeof(double) * (size_t)attrs[k].n + 8;
    }
    char *block = st_malloc(bytes + 16);
    if (!block)
        return NULL;
    strata_attr *out = (strata_attr *)block;
    char *p = block + sizeof(strata_attr) * (size_t)n;
    for (int k = 0; k < n; k++) {
        out[k] = attrs[k];
        out[k].struct_size = sizeof(strata_attr);
        const char *name = attrs[k].name ? attrs[k].name : "";
        size_t ln = strlen(name) + 1;
        memcpy(p, name, ln);
        out[k].name = p;
        p += ln;
        if (attrs[k].kind == STRATA_ATTR_STRING && attrs[k].s) {
            size_t ls = strlen(attrs[k].s) + 1;
            memcpy(p, attrs[k].s, ls);
            out[k].s = p;
            p += ls;
        }
        if ((attrs[k].kind == STRATA_ATTR_INTS || attrs[k].kind == STRATA_ATTR_FLOATS) && attrs[k].n > 0) {
            p = (char *)(((uintptr_t)p + 7) & ~(uintptr_t)7);
            size_t lb = 8 * (size_t)attrs[k].n;
            memcpy(p, attrs[k].kind == STRATA_ATTR_INTS ? (const void *)attrs[k].ints : (const void *)attrs[k].floats,
                   lb);
            if (attrs[k].kind == STRATA_ATTR_INTS)
                out[k].ints = (const int64_t *)p;
            else
                out[k].floats = (const double *)p;
            p += lb;
        }
    }
    return out;
}

int st_env_flag(const char *name, int unset)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return unset;
    return strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no") && strcasecmp(v, "off");
}

int st_debug_enabled(const char *topic)
{
    const char *d = getenv("STRATA_DEBUG");
    if (!d || !*d)
        return 0;
    if (strcmp(d, "1") == 0 || strcmp(d, "all") == 0)
        return 1;
    return strstr(d, topic) != NULL;
}

void st_log(strata_runtime *rt, int level, const char *fmt, ...)
{
    (void)rt;
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level > STRATA_LOG_WARN && !st_debug_enabled("log"))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata: %s: ", names[level < 0 ? 0 : level > 3 ? 3 : level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

strata_status st_fopen_regular(const char *path, FILE **out, struct stat *sb)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* O_NONBLOCK: a FIFO opens at once */
    if (fd < 0)
        return st_error(STRATA_E_IO, "%s: cannot open: %s", path, strerror(errno));
    strata_status s = STRATA_OK;
    if (fstat(fd, sb) != 0)
        s = st_error(STRATA_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb->st_mode))
        s = st_error(STRATA_E_IO, "%s: not a regular file", path);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(*out = fdopen(fd, "rb")))
        s = st_error(STRATA_E_IO, "%s: cannot open: %s", path, strerror(errno));
    if (s)
        close(fd);
    return s;
}

strata_status st_read_file(const char *path, const char *what, size_t max_bytes, strata_status too_big,
                           const char *too_big_prefix, void **buf_out, size_t *len_out)
{
    FILE *f = fopen(path, "rb"); /* (a FIFO too: `strata train <(...)`) */
    if (!f)
        return st_error(STRATA_E_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max_bytes) {
        fclose(f); /* said before a byte is read */
        return st_error(too_big, "%s: %s%lld bytes, larger than the limit of %zu bytes", path, too_big_prefix,
                        (long long)sb.st_size, max_bytes);
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    strata_status rc = STRATA_OK;
    for (;;) {
        if (len == cap) {
            if (cap > max_bytes) { /* more than max_bytes read (a stream): the limit, not a doubling past it */
                rc = st_error(too_big, "%s: %slarger than the limit of %zu bytes", path, too_big_prefix, max_bytes);
                break;
            }
            cap = cap ? (cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2) : 4096;
            char *p = st_realloc(buf, cap);
            if (!p) {
                rc = STRATA_E_NOMEM;
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = st_error(STRATA_E_IO, "cannot read %s '%s': %s", what, path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *buf_out = buf;
    *len_out = len;
    return STRATA_OK;
}
