/* testutil.c - helpers shared by the CMocka tests. */
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

strata_runtime *tu_runtime(void)
{
    strata_runtime *rt = NULL;
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.seed = 1234;
    ST_OK(strata_runtime_create(&o, &rt));
    return rt;
}

strata_device *tu_ref(strata_runtime *rt)
{
    strata_device *d = NULL;
    ST_OK(strata_device_get(rt, "ref", 0, &d));
    return d;
}

const char *tu_build_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("STRATA_TEST_BUILD");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : ".", rel);
    return buf;
}

const char *tu_source_path(const char *rel)
{
    static char buf[4096];
    const char *s = getenv("STRATA_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", s ? s : ".", rel);
    return buf;
}

const char *tu_data_path(const char *rel)
{
    static char buf[4096];
    const char *b = getenv("STRATA_TEST_DATA");
    snprintf(buf, sizeof buf, "%s/%s", b ? b : "tests/data", rel);
    return buf;
}

const char *tu_write_temp(const char *suffix, const void *data, size_t len)
{
    static char path[4096];
    static int counter;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/strata-test-%d-%d%s", tmp ? tmp : "/tmp", (int)getpid(), counter++,
             suffix ? suffix : "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

void tu_assert_error_contains(const char *needle)
{
    const char *msg = strata_last_error();
    if (!strstr(msg, needle))
        fail_msg("expected the error message to contain \"%s\", got \"%s\"", needle, msg);
}

int tu_make_temp_dir(char *dir, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, size, "%s/strata-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    return n > 0 && (size_t)n < size && mkdtemp(dir) ? 0 : -1;
}

static int tu_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int tu_remove_dir(const char *dir)
{
    return nftw(dir, tu_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_run_cli(const char *dir, const char *args)
{
    char cmd[PATH_MAX + 4096], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out 2>err", dir, bin, args);
    int st = system(cmd);
    assert_true(st != -1);
    if (!WIFEXITED(st))
        fail_msg("strata %s: killed by a signal", args);
    return WEXITSTATUS(st);
}

int tu_run_cli_fsize(const char *dir, long long max_bytes, const char *args)
{
    char cmd[PATH_MAX + 4096], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out 2>err", dir, bin, args);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a full disk for files past max_bytes, without root: EFBIG, SIGXFSZ ignored across exec */
        struct rlimit lim = {(rlim_t)max_bytes, (rlim_t)max_bytes};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st))
        fail_msg("strata %s: killed by a signal", args);
    return WEXITSTATUS(st);
}

void tu_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    if (dir)
        snprintf(path, sizeof path, "%s/%s", dir, name);
    else
        snprintf(path, sizeof path, "%s", name);
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void tu_write_text(const char *dir, const char *name, const char *text)
{
    tu_write_file(dir, name, text, strlen(text));
}

void tu_write_sft(const char *dir, const char *name, const tu_sft_tensor *t, int n)
{
    char hdr[4096] = "{\"__metadata__\":{\"by\":\"test\"}";
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        size_t used = strlen(hdr);
        used += (size_t)snprintf(hdr + used, sizeof hdr - used, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[k].name,
                                 t[k].dtype);
        for (int d = 0; d < t[k].ndim; d++)
            used += (size_t)snprintf(hdr + used, sizeof hdr - used, d ? ",%lld" : "%lld", (long long)t[k].shape[d]);
        snprintf(hdr + used, sizeof hdr - used, "],\"data_offsets\":[%zu,%zu]}", off, off + t[k].bytes);
        off += t[k].bytes;
    }
    strcat(hdr, "}");
    const size_t hlen = strlen(hdr), total = 8 + hlen + off;
    uint8_t *buf = malloc(total);
    assert_non_null(buf);
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)((uint64_t)hlen >> (8 * b));
    memcpy(buf + 8, hdr, hlen);
    off = 8 + hlen;
    for (int k = 0; k < n; k++) {
        memcpy(buf + off, t[k].data, t[k].bytes);
        off += t[k].bytes;
    }
    tu_write_file(dir, name, buf, total);
    free(buf);
}

void tu_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

long long tu_best_record(const char *dir, const char *file, const char *key, const char *id, int highest,
                         long long *best_id)
{
    char *m = tu_slurp(dir, file), k[64], i[64];
    if (!m)
        fail_msg("%s/%s is missing", dir, file);
    snprintf(k, sizeof k, "\"%s\":", key);
    snprintf(i, sizeof i, "{\"%s\":%%lld", id);
    long long count = 0;
    double best = 0;
    *best_id = -1;
    for (char *p = strstr(m, k); p; p = strstr(p + 1, k)) {
        char *rec = p;
        while (rec > m && rec[-1] != '\n')
            rec--;
        long long at;
        if (sscanf(rec, i, &at) != 1)
            fail_msg("a record of %s/%s does not start with \"%s\": %.80s", dir, file, id, rec);
        double v = strtod(p + strlen(k), NULL);
        if (!count++ || (highest ? v > best : v < best))
            best = v, *best_id = at;
    }
    free(m);
    return count;
}

void tu_write_text_inserted(const char *dir, const char *src, const char *dst, const char *before, const char *line)
{
    char *text = tu_slurp(dir, src);
    assert_non_null(text);
    const char *at = strstr(text, before);
    if (!at)
        fail_msg("%s/%s has no \"%s\" to insert before", dir, src, before);
    const size_t n = strlen(text) + strlen(line) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, line, at);
    tu_write_text(dir, dst, out);
    free(out);
    free(text);
}

long long tu_last_good_step(const char *dir)
{
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    const char *p = strstr(err, "the state after step ");
    if (!p)
        fail_msg("no last good state in: %s", err);
    long long good = atoll(p + strlen("the state after step "));
    free(err);
    return good;
}

char *tu_slurp(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *b = malloc(cap);
    assert_non_null(b);
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            assert_non_null(nb);
            b = nb;
        }
    }
    b[n] = '\0';
    fclose(f);
    return b;
}

int tu_run_cli_interrupted(const char *dir, const char *watch, const char *needle, int lines, const char *const *argv)
{
    char bin[PATH_MAX], *args[64];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    int n = 0;
    args[n++] = bin;
    for (; argv[n - 1] && n < 63; n++)
        args[n] = (char *)argv[n - 1];
    args[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0 || !freopen("out", "w", stdout) || !freopen("err", "w", stderr))
            _exit(127);
        execv(bin, args);
        _exit(127);
    }
    int st = 0, seen = 0;
    for (int tries = 0; tries < 6000 && seen < lines; tries++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *err = tu_slurp(dir, "err");
            fail_msg("strata %s ended (status %d) before %d '%s' in %s: %s", argv[0], st, lines, needle, watch,
                     err ? err : "");
        }
        char *text = tu_slurp(dir, watch);
        seen = text ? tu_count(text, needle) : 0;
        free(text);
        if (seen < lines)
            usleep(10000);
    }
    if (seen < lines) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("strata %s: fewer than %d '%s' in %s after 60 s", argv[0], lines, needle, watch);
    }
    assert_int_equal(kill(pid, SIGINT), 0);
    int ended = 0;
    for (int tries = 0; tries < 6000 && !ended; tries++) {
        ended = waitpid(pid, &st, WNOHANG) == pid;
        if (!ended)
            usleep(10000);
    }
    if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("strata %s: still running 60 s after SIGINT", argv[0]);
    }
    if (!WIFEXITED(st))
        fail_msg("strata %s: killed by signal %d after SIGINT; it should save the run and exit", argv[0],
                 WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    return WEXITSTATUS(st);
}

int tu_run_clif(const char *dir, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return tu_run_cli(dir, args);
}

void tu_expect_cli_ok(const char *dir, int code)
{
    if (code != 0) {
        char *err = tu_slurp(dir, "err");
        fail_msg("strata exited %d: %s", code, err ? err : "(no stderr)");
    }
}

void tu_expect_cli_err(const char *dir, int code, int want, const char *needle)
{
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (code != want || !strstr(err, needle))
        fail_msg("expected exit %d and \"%s\" on stderr, got %d: %s", want, needle, code, err);
    free(err);
}

char *tu_metrics(const char *dir, const char *run)
{
    char name[512];
    snprintf(name, sizeof name, "%s/metrics.jsonl", run);
    char *m = tu_slurp(dir, name);
    assert_non_null(m);
    char *o = m;
    for (const char *p = m; *p;) {
        if (!strncmp(p, ",\"seconds\":", 11)) {
            p += 11;
            while (*p && *p != ',' && *p != '}')
                p++;
            continue;
        }
        *o++ = *p++;
    }
    *o = '\0';
    return m;
}

long long tu_checkpoint_step(const char *dir, const char *path)
{
    char file[1024], buf[4096];
    size_t n = strlen(path);
    int is_file = n > 12 && !strcmp(path + n - 12, ".safetensors");
    snprintf(file, sizeof file, "%s/%s%s", dir, path, is_file ? "" : "/checkpoint.safetensors");
    ST_OK(strata_checkpoint_metadata(file, "train.state", buf, sizeof buf));
    const char *p = strstr(buf, "\"step\":");
    assert_non_null(p);
    return atoll(p + 7);
}

void tu_write_bars_idx(const char *dir, int n, int side)
{
    const size_t px = (size_t)side * (size_t)side;
    uint8_t *img = calloc(16 + (size_t)n * px, 1), *lbl = calloc(8 + (size_t)n, 1);
    assert_non_null(img);
    assert_non_null(lbl);
    tu_put_be32(img, 0x0803), tu_put_be32(img + 4, (uint32_t)n), tu_put_be32(img + 8, (uint32_t)side);
    tu_put_be32(img + 12, (uint32_t)side);
    tu_put_be32(lbl, 0x0801), tu_put_be32(lbl + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const int cls = i % 3, pos = 1 + (i / 3) % (side - 2);
        uint8_t *p = img + 16 + (size_t)i * px;
        for (int k = 0; k < side; k++)
            p[cls == 0 ? k * side + pos : cls == 1 ? pos * side + k : k * side + k] = 200;
        p[(size_t)(i * 7) % px] += 50;
        lbl[8 + i] = (uint8_t)cls;
    }
    tu_write_file(dir, "images.idx", img, 16 + (size_t)n * px);
    tu_write_file(dir, "labels.idx", lbl, 8 + (size_t)n);
    free(img);
    free(lbl);
}

char *tu_squeeze(const char *s)
{
    char *out = malloc(strlen(s) + 2), *o = out;
    assert_non_null(out);
    *o++ = '\n';
    int line_start = 1;
    for (; *s; s++) {
        if (*s == ' ') {
            if (!line_start && s[1] != ' ' && s[1] != '\n' && s[1])
                *o++ = ' ';
            continue;
        }
        *o++ = *s;
        line_start = *s == '\n';
    }
    *o = '\0';
    return out;
}

int tu_count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}
