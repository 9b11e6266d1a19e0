/*
 * test_loader.c - plugin discovery and loading (DESIGN.md rules 3, 4, 8, 9).
 *
 * Loads the fixture plugins of tests/fixtures/ (built into
 * $STRATA_TEST_BUILD/tests/fixtures/) and the real ref backend
 * ($STRATA_TEST_BUILD/lib/strata/ref.so), good and broken, explicitly and
 * through discovery (STRATA_PLUGIN_PATH, manifests), and checks for each:
 * the returned status, that strata_last_error() names the file and the
 * reason, the plugin record (loaded, status, reason, origin, real path),
 * and that the runtime keeps working afterwards.
 *
 * Every environment variable a test sets and every temporary file it makes
 * is undone by the teardown, also when the test fails. Steps that crashed
 * the process on a core bug run first in a forked child (run_in_child), so
 * such a bug fails its own test with a message and the others still run.
 * STRATA_TEST_FILTER=glob runs a subset (cmocka_set_test_filter).
 *
 * Leak check (plugins stay mapped so their frames symbolise):
 *   STRATA_NO_DLCLOSE=1 STRATA_TEST_BUILD=$PWD/build \
 *     valgrind --leak-check=full --error-exitcode=1 build/tests/test_loader
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/strata_plugin.h"
#include "testutil.h"

/* ======================================================================= */
/* Environment, temporary files and runtimes, undone by the teardown       */
/* ======================================================================= */

#define MAX_ENV 16
static struct {
    char *name;
    char *old; /* NULL: was unset */
} g_env[MAX_ENV];
static int g_n_env;

/** Sets (value != NULL) or unsets @p name, remembering the first old value. */
static void env_set(const char *name, const char *value)
{
    int seen = 0;
    for (int k = 0; k < g_n_env; k++)
        if (!strcmp(g_env[k].name, name))
            seen = 1;
    if (!seen) {
        assert_true(g_n_env < MAX_ENV);
        const char *old = getenv(name);
        g_env[g_n_env].name = strdup(name);
        g_env[g_n_env].old = old ? strdup(old) : NULL;
        g_n_env++;
    }
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
}

static void env_restore_all(void)
{
    for (int k = g_n_env - 1; k >= 0; k--) {
        if (g_env[k].old)
            setenv(g_env[k].name, g_env[k].old, 1);
        else
            unsetenv(g_env[k].name);
        free(g_env[k].name);
        free(g_env[k].old);
    }
    g_n_env = 0;
}

#define MAX_TMP 64
static char *g_tmp[MAX_TMP]; /* in creation order; removed in reverse */
static int g_n_tmp;

static const char *track_tmp(const char *path)
{
    assert_true(g_n_tmp < MAX_TMP);
    g_tmp[g_n_tmp] = strdup(path);
    assert_non_null(g_tmp[g_n_tmp]);
    return g_tmp[g_n_tmp++];
}

static void tmp_remove_all(void)
{
    for (int k = g_n_tmp - 1; k >= 0; k--) {
        struct stat sb;
        if (lstat(g_tmp[k], &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                tu_remove_dir(g_tmp[k]); /* with what plugins left there (PoCL caches under $HOME) */
            else
                unlink(g_tmp[k]);
        }
        free(g_tmp[k]);
    }
    g_n_tmp = 0;
}

/** A fresh empty directory under $TMPDIR or /tmp (tracked). */
static const char *tmp_dir(void)
{
    char buf[PATH_MAX];
    assert_int_equal(tu_make_temp_dir(buf, sizeof buf, "loader"), 0);
    return track_tmp(buf);
}

static const char *tmp_subdir(const char *parent, const char *name)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", parent, name);
    assert_int_equal(mkdir(buf, 0700), 0);
    return track_tmp(buf);
}

static const char *tmp_file(const char *dir, const char *name, const char *text)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return track_tmp(buf);
}

static const char *tmp_symlink(const char *dir, const char *name, const char *target)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    assert_int_equal(symlink(target, buf), 0);
    return track_tmp(buf);
}

#define MAX_RT 8
static strata_runtime *g_rts[MAX_RT];

static strata_runtime *rt_track(strata_runtime *rt)
{
    for (int k = 0; k < MAX_RT; k++)
        if (!g_rts[k]) {
            g_rts[k] = rt;
            return rt;
        }
    fail_msg("too many live runtimes in one test");
    return rt;
}

static void rt_destroy(strata_runtime *rt)
{
    for (int k = 0; k < MAX_RT; k++)
        if (g_rts[k] == rt)
            g_rts[k] = NULL;
    strata_runtime_destroy(rt);
}

/** A runtime with discovery (the environment decides what it finds). */
static strata_runtime *rt_discover(const char *plugin_path)
{
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.seed = 1234;
    o.plugin_path = plugin_path;
    strata_runtime *rt = NULL;
    ST_OK(strata_runtime_create(&o, &rt));
    return rt_track(rt);
}

/** A runtime that loads nothing by itself. */
static strata_runtime *rt_isolated(void)
{
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.seed = 1234;
    o.flags = STRATA_RUNTIME_NO_DISCOVERY;
    strata_runtime *rt = NULL;
    ST_OK(strata_runtime_create(&o, &rt));
    return rt_track(rt);
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < MAX_RT; k++) {
        strata_runtime_destroy(g_rts[k]);
        g_rts[k] = NULL;
    }
    env_restore_all();
    tmp_remove_all();
    return 0;
}

/* ======================================================================= */
/* Paths, records, registries                                              */
/* ======================================================================= */

/** $STRATA_TEST_BUILD/tests/fixtures/NAME.so (8 rotating buffers). */
static const char *fx(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    const char *build = getenv("STRATA_TEST_BUILD");
    snprintf(b, PATH_MAX, "%s/tests/fixtures/%s.so", build ? build : "build", name);
    return b;
}

static const char *ref_so(void)
{
    static char b[PATH_MAX];
    const char *build = getenv("STRATA_TEST_BUILD");
    snprintf(b, sizeof b, "%s/lib/strata/ref.so", build ? build : "build");
    return b;
}

/** realpath() into a rotating buffer; fails the test if it does not exist. */
static const char *real(const char *path)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    if (!realpath(path, b))
        fail_msg("realpath(%s): %s (were the fixtures built?)", path, strerror(errno));
    return b;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#define ASSERT_STATUS(expr, want)                                                                              \
    do {                                                                                                       \
        strata_status got_ = (expr);                                                                           \
        if (got_ != (want))                                                                                    \
            fail_msg("%s -> %s, expected %s (message: \"%s\")", #expr, strata_status_name(got_),               \
                     strata_status_name(want), strata_last_error());                                           \
    } while (0)

static void assert_contains(const char *what, const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected %s to contain \"%s\", got \"%s\"", what, needle, hay ? hay : "(null)");
}

/** Index of the record whose path is @p path, or -1; @p n_out counts them. */
static int record_by_path(strata_runtime *rt, const char *path, strata_plugin_record *out, int *n_out)
{
    int found = -1, n = 0;
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(rt, k, &r));
        if (!strcmp(r.path, path)) {
            if (found < 0 && out)
                *out = r;
            if (found < 0)
                found = k;
            n++;
        }
    }
    if (n_out)
        *n_out = n;
    return found;
}

static void assert_loaded_record(strata_runtime *rt, const char *path, const char *name, const char *origin)
{
    strata_plugin_record r;
    int n = 0;
    if (record_by_path(rt, real(path), &r, &n) < 0)
        fail_msg("no plugin record for %s", real(path));
    assert_int_equal(n, 1);
    if (!r.loaded)
        fail_msg("%s is recorded as failed: %s (%s)", path, r.reason, strata_status_name(r.status));
    assert_int_equal(r.status, STRATA_OK);
    assert_string_equal(r.reason, "");
    assert_string_equal(r.name, name);
    assert_string_equal(r.origin, origin);
    assert_int_equal(r.abi_major, STRATA_ABI_MAJOR);
}

/** The record at @p path must say failed with @p status, a reason holding
 *  @p needle, and origin @p origin. */
static void assert_failed_record(strata_runtime *rt, const char *path, strata_status status, const char *needle,
                                 const char *origin)
{
    strata_plugin_record r;
    int n = 0;
    if (record_by_path(rt, path, &r, &n) < 0)
        fail_msg("no plugin record for %s", path);
    assert_int_equal(n, 1);
    assert_int_equal(r.loaded, 0);
    if (r.status != status)
        fail_msg("record of %s has status %s, expected %s", path, strata_status_name(r.status),
                 strata_status_name(status));
    assert_true(r.reason[0] != '\0');
    assert_contains("the record's reason", r.reason, needle);
    assert_string_equal(r.origin, origin);
}

/**
 * strata_plugin_load(fixture) must fail with @p want; the message must name
 * the file and contain @p needle; exactly one new record, failed, with the
 * same status and a reason containing @p needle.
 */
static void expect_failed_load(strata_runtime *rt, const char *fixture, strata_status want, const char *needle)
{
    const char *path = fx(fixture);
    char rp[PATH_MAX];
    snprintf(rp, sizeof rp, "%s", real(path));
    int before = strata_plugin_count(rt);
    strata_clear_error();
    ASSERT_STATUS(strata_plugin_load(rt, path), want);
    tu_assert_error_contains(base_name(path));
    tu_assert_error_contains(needle);
    assert_int_equal(strata_plugin_count(rt), before + 1);
    assert_failed_record(rt, rp, want, needle, "explicit");
}

/** Index of @p name among the registered entries of @p kind, or -1. */
static int registry_find(strata_runtime *rt, strata_registry_kind kind, const char *name, const char **plugin,
                         const char **kernels)
{
    for (int k = 0; k < strata_registry_count(rt, kind); k++) {
        const char *n = NULL, *p = NULL, *kn = NULL;
        int v = 0;
        ST_OK(strata_registry_get(rt, kind, k, &n, &v, &p, kernels ? &kn : NULL));
        if (!strcmp(n, name)) {
            if (plugin)
                *plugin = p;
            if (kernels)
                *kernels = kn;
            return k;
        }
    }
    return -1;
}

static int backend_find(strata_runtime *rt, const char *name, strata_backend_record *out)
{
    for (int k = 0; k < strata_backend_count(rt); k++) {
        strata_backend_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_backend_get(rt, k, &r));
        if (!strcmp(r.name, name)) {
            if (out)
                *out = r;
            return k;
        }
    }
    return -1;
}

/* ======================================================================= */
/* Tensors                                                                 */
/* ======================================================================= */

static strata_tensor *tensor(strata_device *dev, int ndim, const int64_t *shape, const float *data)
{
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, ndim, shape, data, &t));
    return t;
}

static void assert_values(const strata_tensor *t, const float *want, int n)
{
    assert_int_equal(strata_tensor_numel(t), n);
    float got[64];
    assert_true(n <= 64);
    ST_OK(strata_tensor_read(t, got, sizeof(float) * (size_t)n));
    for (int i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
            fail_msg("element %d is %g, expected %g", i, (double)got[i], (double)want[i]);
}

/** Runs core::add on ref and checks the values: the runtime still works. */
static void assert_runtime_works(strata_runtime *rt)
{
    strata_device *ref = NULL;
    ST_OK(strata_device_get(rt, "ref", 0, &ref));
    const int64_t shape[1] = {3};
    const float av[3] = {1, 2, 3}, bv[3] = {10, 20, 30}, want[3] = {11, 22, 33};
    strata_tensor *a = tensor(ref, 1, shape, av), *b = tensor(ref, 1, shape, bv), *in[2] = {a, b}, *y = NULL;
    ST_OK(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1));
    assert_values(y, want, 3);
    strata_tensor_release(y);
    strata_tensor_release(a);
    strata_tensor_release(b);
    strata_graph_reset(strata_runtime_graph(rt));
}

/** A runtime with ref and good_plugin loaded explicitly. */
static strata_runtime *rt_ref_good(void)
{
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("good_plugin")));
    return rt;
}

/* ======================================================================= */
/* Capturing stderr (warnings, STRATA_DEBUG=loader traces)                 */
/* ======================================================================= */

typedef struct capture {
    int saved;
    const char *path;
} capture;

static void capture_begin(capture *c, const char *dir)
{
    c->path = tmp_file(dir, "stderr.txt", "");
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    int fd = open(c->path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_true(dup2(fd, 2) >= 0);
    close(fd);
}

/** Restores stderr; returns what was written (caller frees). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    if (n > 0)
        assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* ======================================================================= */
/* Crash isolation                                                         */
/* ======================================================================= */

/* A step that might crash the process (a core bug) runs first in a forked
 * child, so a crash fails that one test with a clear message instead of
 * killing the whole binary. The child uses no CMocka asserts: it returns 0
 * for "fine" or another code with a message in @p msg. */
typedef int (*child_fn)(char *msg, size_t n);

static void run_in_child(const char *what, child_fn fn)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* CMocka's handlers would longjmp back into the test runner */
        const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
            signal(sigs[k], SIG_DFL);
        close(fds[0]);
        char msg[2048] = "";
        int rc = fn(msg, sizeof msg);
        ssize_t w = write(fds[1], msg, strlen(msg));
        (void)w;
        close(fds[1]);
        _exit(rc);
    }
    close(fds[1]);
    char buf[2048];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("%s: the process died with signal %d (%s)%s%s", what, WTERMSIG(st), strsignal(WTERMSIG(st)),
                 buf[0] ? "; last words: " : "", buf);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s: %s", what, buf[0] ? buf : "failed");
}

static strata_runtime *child_runtime(void)
{
    strata_runtime_options o = {0};
    o.struct_size = sizeof o;
    o.flags = STRATA_RUNTIME_NO_DISCOVERY;
    strata_runtime *rt = NULL;
    return strata_runtime_create(&o, &rt) == STRATA_OK ? rt : NULL;
}

/* Loads wrong_abi.so; the interesting part is that it returns at all. */
static int child_load_wrong_abi(char *msg, size_t n)
{
    strata_runtime *rt = child_runtime();
    if (!rt) {
        snprintf(msg, n, "runtime: %s", strata_last_error());
        return 1;
    }
    strata_status s = strata_plugin_load(rt, fx("wrong_abi"));
    snprintf(msg, n, "strata_plugin_load returned %s: %s", strata_status_name(s), strata_last_error());
    strata_runtime_destroy(rt);
    return 0;
}

#define WRONG_ABI_PROBE                                                                                        \
    run_in_child("strata_plugin_load(wrong_abi.so) [known core bug: core/loader.c reads the plugin's "          \
                 "descriptor (desc->abi_major/abi_minor) for the E_ABI message after dlclose() unmapped it]",   \
                 child_load_wrong_abi)

/* ======================================================================= */
/* The good plugin                                                         */
/* ======================================================================= */

static void test_good_plugin_loads(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    int n_ops = strata_registry_count(rt, STRATA_REGISTRY_OP);
    int n_layers = strata_registry_count(rt, STRATA_REGISTRY_LAYER);
    int n_optims = strata_registry_count(rt, STRATA_REGISTRY_OPTIMIZER);
    assert_int_equal(registry_find(rt, STRATA_REGISTRY_OP, "fixture::double", NULL, NULL), -1);

    ST_OK(strata_plugin_load(rt, fx("good_plugin")));
    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "explicit");
    strata_plugin_record r;
    record_by_path(rt, real(fx("good_plugin")), &r, NULL);
    assert_string_equal(r.version, "0.1.0");
    assert_int_equal(r.abi_minor, STRATA_ABI_MINOR);

    /* what it registered is listed, attributed to it */
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OP), n_ops + 5); /* double, triple, product, affine, sign */
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_LAYER), n_layers + 1);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OPTIMIZER), n_optims + 1);
    const char *plugin = NULL, *kernels = NULL;
    assert_true(registry_find(rt, STRATA_REGISTRY_OP, "fixture::double", &plugin, &kernels) >= 0);
    assert_string_equal(plugin, "fixture_good");
    assert_contains("the kernel list of fixture::double", kernels, "ref"); /* via its host_kernel */
    assert_true(registry_find(rt, STRATA_REGISTRY_LAYER, "fixture_scale", &plugin, NULL) >= 0);
    assert_string_equal(plugin, "fixture_good");
    assert_true(registry_find(rt, STRATA_REGISTRY_OPTIMIZER, "fixture_sgd", &plugin, NULL) >= 0);
    assert_string_equal(plugin, "fixture_good");

    /* the op runs on ref through its host_kernel (ref has no kernel for it) */
    strata_device *ref = NULL;
    ST_OK(strata_device_get(rt, "ref", 0, &ref));
    const int64_t shape[2] = {2, 3};
    const float xv[6] = {1, -2, 3, 0.5f, 0, -7}, want[6] = {2, -4, 6, 1, 0, -14};
    strata_tensor *x = tensor(ref, 2, shape, xv), *y = NULL;
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, NULL, 0, &y, 1));
    assert_int_equal(strata_tensor_ndim(y), 2);
    assert_int_equal(strata_tensor_dim(y, 0), 2);
    assert_int_equal(strata_tensor_dim(y, 1), 3);
    assert_ptr_equal(strata_tensor_device(y), ref);
    assert_values(y, want, 6);
    strata_tensor_release(y);
    strata_tensor_release(x);

    /* its schema as registered (strata_registry_attrs): the op's own entries; none for the core's ops (checked by
     * a table of their own) and for ops without one; a layer's */
    const strata_attr_spec *sch = NULL;
    int n_sch = -1;
    ST_OK(strata_registry_attrs(rt, STRATA_REGISTRY_OP, registry_find(rt, STRATA_REGISTRY_OP, "fixture::affine", NULL,
                                                                      NULL),
                                &sch, &n_sch));
    assert_int_equal(n_sch, 3);
    assert_string_equal(sch[0].name, "alpha");
    assert_int_equal(sch[0].required, 1);
    ST_OK(strata_registry_attrs(rt, STRATA_REGISTRY_OP, registry_find(rt, STRATA_REGISTRY_OP, "core::add", NULL, NULL),
                                &sch, &n_sch));
    assert_null(sch);
    assert_int_equal(n_sch, 0);
    ST_OK(strata_registry_attrs(rt, STRATA_REGISTRY_OP,
                                registry_find(rt, STRATA_REGISTRY_OP, "fixture::product", NULL, NULL), &sch, &n_sch));
    assert_null(sch);
    ST_OK(strata_registry_attrs(rt, STRATA_REGISTRY_LAYER,
                                registry_find(rt, STRATA_REGISTRY_LAYER, "fixture_scale", NULL, NULL), &sch, &n_sch));
    assert_int_equal(n_sch, 1);
    assert_string_equal(sch[0].name, "factor");
    ASSERT_STATUS(strata_registry_attrs(rt, STRATA_REGISTRY_OP, -1, &sch, &n_sch), STRATA_E_INVALID);

    /* a plugin op with an attribute schema (1.4): the core checks its calls as it checks its own ops' */
    x = tensor(ref, 2, shape, xv);
    const strata_attr ab[2] = {strata_attr_float("alpha", 2.0), strata_attr_int("beta", 1)}; /* an int is a number */
    const float affine_want[6] = {3, -3, 7, 2, 1, -13};
    ST_OK(strata_op_call(rt, "fixture::affine", &x, 1, ab, 2, &y, 1));
    assert_values(y, affine_want, 6);
    strata_tensor_release(y);
    static const struct {
        strata_attr a[2];
        int n;
        const char *needle;
    } bad_attrs[] = {
        {{{.name = "alpha", .kind = STRATA_ATTR_FLOAT, .f = 2}, {.name = "betta", .kind = STRATA_ATTR_FLOAT, .f = 1}},
         2, "fixture::affine: unknown attribute 'betta' (it takes: alpha, beta, steps)"},
        {{{.name = "beta", .kind = STRATA_ATTR_FLOAT, .f = 1}}, 1, "fixture::affine: attribute 'alpha' is required"},
        {{{.name = "alpha", .kind = STRATA_ATTR_STRING, .s = "2"}}, 1,
         "fixture::affine: attribute 'alpha' must be a number, got a string"},
        {{{.name = "alpha", .kind = STRATA_ATTR_FLOAT, .f = 2}, {.name = "steps", .kind = STRATA_ATTR_FLOAT, .f = 2.5}},
         2, "fixture::affine: attribute 'steps' must be an integer, got 2.5"},
    };
    for (size_t k = 0; k < sizeof bad_attrs / sizeof bad_attrs[0]; k++) {
        y = NULL;
        ASSERT_STATUS(strata_op_call(rt, "fixture::affine", &x, 1, bad_attrs[k].a, bad_attrs[k].n, &y, 1),
                      STRATA_E_INVALID);
        tu_assert_error_contains(bad_attrs[k].needle);
        assert_null(y);
    }
    ASSERT_STATUS(strata_op_call(rt, "fixture::affine", &x, 1, NULL, 0, &y, 1), STRATA_E_INVALID); /* none given */
    tu_assert_error_contains("attribute 'alpha' is required");
    /* fixture::triple takes none; fixture::double (the 1.1 layout) and ::product (no schema) are not checked */
    ASSERT_STATUS(strata_op_call(rt, "fixture::triple", &x, 1, ab, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("fixture::triple: unknown attribute 'alpha' (it takes none)");
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, ab, 2, &y, 1));
    strata_tensor_release(y);
    strata_tensor_release(x);

    /* its infer reports errors through the host table */
    const int64_t ishape[1] = {2};
    const int32_t iv[2] = {1, 2};
    strata_tensor *xi = NULL, *yi = NULL;
    ST_OK(strata_tensor_from_host(ref, STRATA_I32, 1, ishape, iv, &xi));
    ASSERT_STATUS(strata_op_call(rt, "fixture::double", &xi, 1, NULL, 0, &yi, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("fixture::double");
    assert_null(yi);
    strata_tensor_release(xi);

    /* the same file again: refused, no new record */
    int n_rec = strata_plugin_count(rt);
    ASSERT_STATUS(strata_plugin_load(rt, fx("good_plugin")), STRATA_E_EXISTS);
    tu_assert_error_contains("good_plugin.so");
    tu_assert_error_contains("already loaded");
    assert_int_equal(strata_plugin_count(rt), n_rec);

    /* ... also under another spelling of the path ... */
    char odd[PATH_MAX];
    const char *build = getenv("STRATA_TEST_BUILD");
    snprintf(odd, sizeof odd, "%s/tests/../tests/fixtures/./good_plugin.so", build ? build : "build");
    ASSERT_STATUS(strata_plugin_load(rt, odd), STRATA_E_EXISTS);
    assert_int_equal(strata_plugin_count(rt), n_rec);

    /* ... and through a symlink: de-duplicated by real path */
    const char *dir = tmp_dir();
    const char *link = tmp_symlink(dir, "another_name.so", real(fx("good_plugin")));
    ASSERT_STATUS(strata_plugin_load(rt, link), STRATA_E_EXISTS);
    tu_assert_error_contains(real(fx("good_plugin")));
    assert_int_equal(strata_plugin_count(rt), n_rec);
    int n_same = 0;
    record_by_path(rt, real(fx("good_plugin")), NULL, &n_same);
    assert_int_equal(n_same, 1);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OP), n_ops + 5); /* double, triple, product, affine, sign */

    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_good_plugin_gradient(void **state)
{
    (void)state;
    strata_runtime *rt = rt_ref_good();
    strata_device *ref = tu_ref(rt);
    const int64_t shape[1] = {4};
    const float xv[4] = {1, 2, -3, 4};
    strata_tensor *x = tensor(ref, 1, shape, xv);
    ST_OK(strata_tensor_set_requires_grad(x, 1));

    /* loss = sum(double(x)): d loss / dx = 2 */
    strata_tensor *y = NULL, *loss = NULL;
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, NULL, 0, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    double v = 0;
    ST_OK(strata_tensor_item(loss, &v));
    assert_true(fabs(v - 8.0) < 1e-6);
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    const float g2[4] = {2, 2, 2, 2};
    assert_non_null(strata_tensor_grad(x));
    assert_values(strata_tensor_grad(x), g2, 4);
    strata_tensor_release(loss);
    strata_tensor_release(y);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_zero_grad(x);

    /* registered in the 1.1 layout: the core does not know what its backward reads, so a write into its
     * output between forward and backward is not refused (it was not before 1.2 either) */
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, NULL, 0, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    ST_OK(strata_tensor_write(y, xv, sizeof xv));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    assert_values(strata_tensor_grad(x), g2, 4);
    strata_tensor_release(loss);
    strata_tensor_release(y);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_zero_grad(x);

    /* fixture::triple has a host kernel and a composite but no backward: with x requiring grad the
     * composite runs (its core::scale records), so d sum(triple(x)) / dx = 3; without, the kernel */
    ST_OK(strata_op_call(rt, "fixture::triple", &x, 1, NULL, 0, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    const float g3[4] = {3, 3, 3, 3}, y3[4] = {3, 6, -9, 12};
    assert_values(strata_tensor_grad(x), g3, 4);
    assert_values(y, y3, 4);
    strata_tensor_release(loss);
    strata_tensor_release(y);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_zero_grad(x);
    {
        int prev = strata_set_grad_enabled(rt, 0);
        ST_OK(strata_op_call(rt, "fixture::triple", &x, 1, NULL, 0, &y, 1));
        strata_set_grad_enabled(rt, prev);
        assert_values(y, y3, 4);
        assert_int_equal(strata_graph_size(strata_runtime_graph(rt)), 0);
        strata_tensor_release(y);
    }

    /* chained with core ops: loss = sum(double(double(x)) * x) -> 8 x */
    strata_tensor *d1 = NULL, *d2 = NULL, *p = NULL;
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, NULL, 0, &d1, 1));
    ST_OK(strata_op_call(rt, "fixture::double", &d1, 1, NULL, 0, &d2, 1));
    strata_tensor *mi[2] = {d2, x};
    ST_OK(strata_op_call(rt, "core::mul", mi, 2, NULL, 0, &p, 1));
    ST_OK(strata_op_call(rt, "core::sum", &p, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    const float g8[4] = {8, 16, -24, 32};
    assert_values(strata_tensor_grad(x), g8, 4);
    strata_tensor_release(loss);
    strata_tensor_release(p);
    strata_tensor_release(d2);
    strata_tensor_release(d1);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_release(x);

    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_good_plugin_layer_in_model(void **state)
{
    (void)state;
    strata_runtime *rt = rt_ref_good();
    strata_device *ref = tu_ref(rt);
    strata_model *m = NULL;
    ST_OK(strata_model_create(ref, &m));
    const int64_t in_shape[1] = {3};
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, in_shape));
    strata_attr f3 = strata_attr_float("factor", 3.0);
    ST_OK(strata_model_add_layer(m, "fixture_scale", "triple", &f3, 1, NULL, 0)); /* core::scale */
    ST_OK(strata_model_add_layer(m, "fixture_scale", "twice", NULL, 0, NULL, 0)); /* default 2: fixture::double */
    assert_int_equal(strata_model_param_count(m), 0);
    int ndim = 0;
    const int64_t *os = strata_model_output_shape(m, 0, &ndim);
    assert_int_equal(ndim, 1);
    assert_int_equal(os[0], 3);

    /* a bad attribute is caught by the core against the plugin's schema */
    strata_attr bad = strata_attr_float("facter", 3.0);
    ASSERT_STATUS(strata_model_add_layer(m, "fixture_scale", "bad", &bad, 1, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("facter");

    const int64_t xs[2] = {2, 3};
    const float xv[6] = {1, 2, 3, -1, -2, 0.5f}, want[6] = {6, 12, 18, -6, -12, 3};
    strata_tensor *x = tensor(ref, 2, xs, xv), *y = NULL;
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 0));
    assert_values(y, want, 6);
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_model_destroy(m);

    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_good_plugin_optimizer(void **state)
{
    (void)state;
    strata_runtime *rt = rt_ref_good();
    strata_device *ref = tu_ref(rt);
    strata_model *m = NULL;
    ST_OK(strata_model_create(ref, &m));
    const int64_t in_shape[1] = {4};
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, in_shape));
    strata_attr out_f = strata_attr_int("out_features", 2);
    ST_OK(strata_model_add_layer(m, "linear", "fc", &out_f, 1, NULL, 0));
    ST_OK(strata_model_add_layer(m, "fixture_scale", "s", NULL, 0, NULL, 0));
    assert_int_equal(strata_model_param_count(m), 2);

    const int64_t xs[2] = {3, 4};
    const float xv[12] = {1, 2, 3, 4, -1, 0, 1, 2, 0.5f, 0.25f, -0.5f, 1};
    strata_tensor *x = tensor(ref, 2, xs, xv), *y = NULL, *loss = NULL;
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));

    /* expected: p - lr * g, from the values before the step */
    const double lr = 0.25;
    float want[2][8];
    int64_t numel[2];
    for (int i = 0; i < 2; i++) {
        const char *name = NULL;
        strata_tensor *p = NULL;
        ST_OK(strata_model_param(m, i, &name, &p));
        numel[i] = strata_tensor_numel(p);
        assert_true(numel[i] <= 8);
        float pv[8], gv[8];
        ST_OK(strata_tensor_read(p, pv, sizeof(float) * (size_t)numel[i]));
        assert_non_null(strata_tensor_grad(p));
        ST_OK(strata_tensor_read(strata_tensor_grad(p), gv, sizeof(float) * (size_t)numel[i]));
        for (int k = 0; k < numel[i]; k++)
            want[i][k] = (float)(pv[k] - lr * gv[k]);
    }
    /* the bias gradient of sum(2 (x W^T + b)) is 2 * batch = 6 */
    const char *bname = NULL;
    strata_tensor *bias = NULL;
    ST_OK(strata_model_param(m, 1, &bname, &bias));
    assert_string_equal(bname, "fc.bias");
    const float gb[2] = {6, 6};
    assert_values(strata_tensor_grad(bias), gb, 2);

    strata_optimizer *opt = NULL;
    strata_attr lr_attr = strata_attr_float("lr", lr);
    ST_OK(strata_optimizer_create(m, "fixture_sgd", &lr_attr, 1, &opt));
    assert_string_equal(strata_optimizer_type_name(opt), "fixture_sgd");
    ST_OK(strata_optimizer_step(opt));
    assert_int_equal(strata_optimizer_steps(opt), 1);
    for (int i = 0; i < 2; i++) {
        const char *name = NULL;
        strata_tensor *p = NULL;
        ST_OK(strata_model_param(m, i, &name, &p));
        assert_values(p, want[i], (int)numel[i]);
    }

    strata_optimizer_destroy(opt);
    strata_tensor_release(loss);
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_model_destroy(m);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

/* ======================================================================= */
/* Broken plugins: each is refused with a reason, the runtime keeps going  */
/* ======================================================================= */

static void test_wrong_abi_major(void **state)
{
    (void)state;
    WRONG_ABI_PROBE;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    int n_ops = strata_registry_count(rt, STRATA_REGISTRY_OP);
    char theirs[32], ours[32];
    snprintf(theirs, sizeof theirs, "ABI %d.0", STRATA_ABI_MAJOR + 1);
    snprintf(ours, sizeof ours, "ABI %d.%d", STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
    expect_failed_load(rt, "wrong_abi", STRATA_E_ABI, theirs);
    tu_assert_error_contains(ours);
    tu_assert_error_contains("fixture_wrong_abi");

    strata_plugin_record r;
    record_by_path(rt, real(fx("wrong_abi")), &r, NULL);
    assert_contains("the record's reason", r.reason, ours);
    assert_string_equal(r.name, "fixture_wrong_abi");
    assert_int_equal(r.abi_major, STRATA_ABI_MAJOR + 1);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OP), n_ops);
    /* a descriptor that ends after its ABI version (another major's layout): the versions, not its size */
    expect_failed_load(rt, "wrong_abi_small", STRATA_E_ABI, theirs);
    tu_assert_error_contains(ours);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_missing_entry_symbol(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    expect_failed_load(rt, "no_entry", STRATA_E_PLUGIN, STRATA_PLUGIN_ENTRY_SYMBOL);
    strata_plugin_record r;
    record_by_path(rt, real(fx("no_entry")), &r, NULL);
    assert_string_equal(r.name, "no_entry.so"); /* failed before it could say its name */
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_failing_init(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    int n_ops = strata_registry_count(rt, STRATA_REGISTRY_OP);
    int n_layers = strata_registry_count(rt, STRATA_REGISTRY_LAYER);
    int n_optims = strata_registry_count(rt, STRATA_REGISTRY_OPTIMIZER);
    int n_backends = strata_backend_count(rt);

    expect_failed_load(rt, "failing_init", STRATA_E_PLUGIN, "no device here");
    tu_assert_error_contains("E_BACKEND"); /* the plugin's own status is kept in the message */
    strata_plugin_record r;
    record_by_path(rt, real(fx("failing_init")), &r, NULL);
    assert_string_equal(r.name, "fixture_failing");

    /* what its init registered before failing is gone */
    assert_int_equal(registry_find(rt, STRATA_REGISTRY_OP, "fixture::doomed", NULL, NULL), -1);
    assert_int_equal(registry_find(rt, STRATA_REGISTRY_LAYER, "fixture_doomed", NULL, NULL), -1);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OP), n_ops);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_LAYER), n_layers);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OPTIMIZER), n_optims);
    assert_int_equal(strata_backend_count(rt), n_backends);

    strata_device *ref = tu_ref(rt);
    /* its layer type is unknown, and the message says a plugin did not load, with its reason */
    strata_model *dm = NULL;
    ST_OK(strata_model_create(ref, &dm));
    ST_OK(strata_model_add_input(dm, "x", STRATA_F32, 1, (const int64_t[]){2}));
    ASSERT_STATUS(strata_model_add_layer(dm, "fixture_doomed", NULL, NULL, 0, NULL, 0), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("unknown layer type 'fixture_doomed'");
    tu_assert_error_contains("1 plugin(s) did not load, which may provide it: ");
    tu_assert_error_contains("no device here");
    strata_model_destroy(dm);
    /* a spec's unknown layer type says so too (what `strata train` reads) */
    const char *text = "model:\n  inputs: [{name: x, shape: [2]}]\n  layers:\n    - {type: fixture_doomed}\n";
    strata_spec *sp = NULL;
    ASSERT_STATUS(strata_spec_parse(rt, text, strlen(text), "doomed.yaml", &sp), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("doomed.yaml:4: unknown layer type 'fixture_doomed'");
    tu_assert_error_contains("1 plugin(s) did not load, which may provide it: ");
    tu_assert_error_contains("no device here");
    assert_null(sp);
    const int64_t shape[1] = {2};
    const float xv[2] = {1, 2};
    strata_tensor *x = tensor(ref, 1, shape, xv), *y = NULL;
    ASSERT_STATUS(strata_op_call(rt, "fixture::doomed", &x, 1, NULL, 0, &y, 1), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("fixture::doomed");
    assert_null(y);
    strata_model *m = NULL;
    ST_OK(strata_model_create(ref, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, shape));
    ASSERT_STATUS(strata_model_add_layer(m, "fixture_doomed", NULL, NULL, 0, NULL, 0), STRATA_E_NOT_FOUND);
    strata_model_destroy(m);
    strata_tensor_release(x);

    /* the kernel listing of every op still works (no dangling kernel) */
    for (int k = 0; k < strata_registry_count(rt, STRATA_REGISTRY_OP); k++) {
        const char *n = NULL, *kn = NULL;
        ST_OK(strata_registry_get(rt, STRATA_REGISTRY_OP, k, &n, NULL, NULL, &kn));
    }
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_unresolved_dependency(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    expect_failed_load(rt, "unresolved", STRATA_E_PLUGIN, "fixture_missing_dependency");
    tu_assert_error_contains("undefined symbol"); /* dlerror()'s text */
    tu_assert_error_contains("dlopen");
    strata_plugin_record r;
    record_by_path(rt, real(fx("unresolved")), &r, NULL);
    assert_contains("the record's reason", r.reason, "undefined symbol");
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_duplicate_plugin_name(void **state)
{
    (void)state;
    strata_runtime *rt = rt_ref_good();
    int n_ops = strata_registry_count(rt, STRATA_REGISTRY_OP);
    capture cap;
    capture_begin(&cap, tmp_dir());
    expect_failed_load(rt, "dup_name", STRATA_E_EXISTS, "fixture_good");
    char *err = capture_end(&cap);
    tu_assert_error_contains(real(fx("good_plugin"))); /* names the one loaded first */
    /* said on stderr too: a plugin taking a bundled one's name leaves the bundled one out of every run */
    assert_contains("stderr", err, "warning: plugin ");
    assert_contains("stderr", err, real(fx("dup_name")));
    assert_contains("stderr", err, "(strata_plugin_load) is not loaded: a plugin named 'fixture_good' is already loaded");
    free(err);
    strata_plugin_record r;
    record_by_path(rt, real(fx("dup_name")), &r, NULL);
    assert_string_equal(r.name, "fixture_good");
    assert_string_equal(r.version, "9.9.9");
    /* refused before its init ran */
    assert_int_equal(registry_find(rt, STRATA_REGISTRY_OP, "fixture::dup_marker", NULL, NULL), -1);
    assert_int_equal(strata_registry_count(rt, STRATA_REGISTRY_OP), n_ops);
    /* the first one is untouched */
    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "explicit");
    const char *plugin = NULL;
    assert_true(registry_find(rt, STRATA_REGISTRY_OP, "fixture::double", &plugin, NULL) >= 0);
    assert_string_equal(plugin, "fixture_good");
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_missing_file(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    const char *dir = tmp_dir();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/not_there.so", dir);
    int before = strata_plugin_count(rt);
    ASSERT_STATUS(strata_plugin_load(rt, path), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("not_there.so");
    tu_assert_error_contains(strerror(ENOENT));
    assert_int_equal(strata_plugin_count(rt), before + 1);
    assert_failed_record(rt, path, STRATA_E_NOT_FOUND, strerror(ENOENT), "explicit");

    /* a file that is not a shared object at all */
    const char *junk = tmp_file(dir, "junk.so", "this is not an ELF file\n");
    ASSERT_STATUS(strata_plugin_load(rt, junk), STRATA_E_PLUGIN);
    tu_assert_error_contains("junk.so");
    assert_failed_record(rt, real(junk), STRATA_E_PLUGIN, "dlopen", "explicit");

    ASSERT_STATUS(strata_plugin_load(rt, ""), STRATA_E_INVALID);
    ASSERT_STATUS(strata_plugin_load(NULL, fx("good_plugin")), STRATA_E_INVALID);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

/* Every fixture into one runtime, failures first: the good ones still load
 * and everything works (what `strata info` shows on a messy machine). */
static void test_all_fixtures_in_one_runtime(void **state)
{
    (void)state;
    WRONG_ABI_PROBE;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    assert_true(strata_plugin_load(rt, fx("wrong_abi")) != STRATA_OK);
    assert_true(strata_plugin_load(rt, fx("no_entry")) != STRATA_OK);
    assert_true(strata_plugin_load(rt, fx("failing_init")) != STRATA_OK);
    assert_true(strata_plugin_load(rt, fx("unresolved")) != STRATA_OK);
    ST_OK(strata_plugin_load(rt, fx("zero_device_backend")));
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    ST_OK(strata_plugin_load(rt, fx("good_plugin")));
    assert_true(strata_plugin_load(rt, fx("dup_name")) != STRATA_OK);
    /* core + ref + 8 fixtures */
    assert_int_equal(strata_plugin_count(rt), 10);
    int loaded = 0;
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(rt, k, &r));
        loaded += r.loaded;
        if (!r.loaded)
            assert_true(r.reason[0] != '\0' && r.status != STRATA_OK);
    }
    assert_int_equal(loaded, 5); /* core, ref, nodev, host, good */
    strata_plugin_record r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    ASSERT_STATUS(strata_plugin_get(rt, 10, &r), STRATA_E_INVALID);
    r.struct_size = sizeof r - 1;
    ASSERT_STATUS(strata_plugin_get(rt, 0, &r), STRATA_E_INVALID);

    strata_device *ref = tu_ref(rt);
    const int64_t shape[1] = {2};
    const float xv[2] = {3, 4}, want[2] = {6, 8};
    strata_tensor *x = tensor(ref, 1, shape, xv), *y = NULL;
    ST_OK(strata_op_call(rt, "fixture::double", &x, 1, NULL, 0, &y, 1));
    assert_values(y, want, 2);
    strata_tensor_release(y);
    strata_tensor_release(x);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

/* ======================================================================= */
/* Discovery                                                               */
/* ======================================================================= */

/** Points every discovery source except lib/strata at empty directories. */
static void isolate_discovery_env(void)
{
    const char *empty = tmp_dir();
    env_set("STRATA_PLUGIN_PATH", NULL);
    env_set("STRATA_MANIFEST_DIR", empty);
    env_set("HOME", empty);
    env_set("XDG_CONFIG_HOME", empty);
    env_set("STRATA_DEBUG", NULL);
    env_set("STRATA_BACKEND", NULL);
}

/** "../../..." up to / from @p dir's real path, then @p target's real path. */
static void relative_to(const char *dir, const char *target, char *out, size_t n)
{
    char rd[PATH_MAX], rt_[PATH_MAX];
    snprintf(rd, sizeof rd, "%s", real(dir));
    snprintf(rt_, sizeof rt_, "%s", real(target));
    out[0] = '\0';
    for (const char *c = rd; *c; c++)
        if (*c == '/')
            strncat(out, "../", n - strlen(out) - 1);
    strncat(out, rt_ + 1, n - strlen(out) - 1);
}

static void test_manifests(void **state)
{
    (void)state;
    isolate_discovery_env();
    const char *mdir = tmp_dir();
    char rel[PATH_MAX], json[PATH_MAX + 64];
    relative_to(mdir, fx("good_plugin"), rel, sizeof rel);
    assert_true(rel[0] != '/');
    snprintf(json, sizeof json, "{\"library\": \"%s\", \"name\": \"fixture_good\"}\n", rel);
    const char *bad_json = tmp_file(mdir, "a_bad_json.json", "{ \"library\": \"x.so\", \n");
    const char *no_lib = tmp_file(mdir, "b_no_library.json", "{\"name\": \"nothing\"}\n");
    tmp_file(mdir, "c_missing_lib.json", "{\"library\": \"does_not_exist.so\"}\n");
    const char *good = tmp_file(mdir, "d_good.json", json);
    const char *not_obj = tmp_file(mdir, "e_not_object.json", "[\"good_plugin.so\"]\n");
    const char *lib_num = tmp_file(mdir, "f_library_number.json", "{\"library\": 42}\n");
    tmp_file(mdir, "notes.txt", "{\"library\": \"ignored.so\"}\n");
    env_set("STRATA_MANIFEST_DIR", mdir);

    strata_runtime *rt = rt_discover(NULL);
    assert_failed_record(rt, real(bad_json), STRATA_E_FORMAT, "invalid JSON", "manifest");
    assert_failed_record(rt, real(no_lib), STRATA_E_FORMAT, "\"library\"", "manifest");
    assert_failed_record(rt, real(not_obj), STRATA_E_FORMAT, "JSON object", "manifest");
    assert_failed_record(rt, real(lib_num), STRATA_E_FORMAT, "\"library\"", "manifest");
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/does_not_exist.so", mdir);
    assert_failed_record(rt, missing, STRATA_E_NOT_FOUND, strerror(ENOENT), "manifest");
    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "manifest");
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(rt, k, &r));
        assert_null(strstr(r.path, "notes.txt"));
        assert_null(strstr(r.path, "ignored.so"));
    }
    /* discovery clears the message of what it skipped */
    assert_string_equal(strata_last_error(), "");
    assert_true(registry_find(rt, STRATA_REGISTRY_OP, "fixture::double", NULL, NULL) >= 0);
    assert_runtime_works(rt); /* ref from lib/strata next to libstrata.so */
    rt_destroy(rt);

    /* the same manifests loaded explicitly */
    rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, good));
    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "explicit");
    ASSERT_STATUS(strata_plugin_load(rt, good), STRATA_E_EXISTS);
    ASSERT_STATUS(strata_plugin_load(rt, bad_json), STRATA_E_FORMAT);
    tu_assert_error_contains("a_bad_json.json");
    tu_assert_error_contains("invalid JSON");
    assert_failed_record(rt, real(bad_json), STRATA_E_FORMAT, "invalid JSON", "explicit");
    ASSERT_STATUS(strata_plugin_load(rt, no_lib), STRATA_E_FORMAT);
    tu_assert_error_contains("b_no_library.json");
    tu_assert_error_contains("\"library\"");
    assert_runtime_works(rt);
    rt_destroy(rt);

    /* reached through a link, a manifest's relative library is found beside the manifest itself (it was looked
     * for beside the link); a missing library names the manifest */
    char link_path[PATH_MAX + 32], missing_json[PATH_MAX + 32];
    snprintf(link_path, sizeof link_path, "%s/deeper", tmp_dir()); /* not where the relative path leads */
    assert_int_equal(mkdir(link_path, 0700), 0);
    strcat(link_path, "/linked.json");
    assert_int_equal(symlink(real(good), link_path), 0);
    rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, link_path));
    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "explicit");
    snprintf(missing_json, sizeof missing_json, "%s/c_missing_lib.json", mdir);
    ASSERT_STATUS(strata_plugin_load(rt, missing_json), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("manifest");
    tu_assert_error_contains("c_missing_lib.json");
    rt_destroy(rt);
}

/* Loading a bad manifest a second time is refused like any duplicate, and,
 * like every failing call, says so in strata_last_error(). */
static void test_bad_manifest_reload(void **state)
{
    (void)state;
    const char *mdir = tmp_dir();
    const char *bad = tmp_file(mdir, "bad.json", "{\"name\": \"no library here\"}\n");
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ASSERT_STATUS(strata_plugin_load(rt, bad), STRATA_E_FORMAT);
    int n = strata_plugin_count(rt);
    strata_clear_error();
    ASSERT_STATUS(strata_plugin_load(rt, bad), STRATA_E_EXISTS);
    assert_int_equal(strata_plugin_count(rt), n);
    if (!strstr(strata_last_error(), "bad.json"))
        fail_msg("strata_plugin_load(bad.json) a second time returned E_EXISTS with the message \"%s\"; expected "
                 "one naming the manifest [core bug: load_manifest() in core/loader.c returns STRATA_E_EXISTS "
                 "for an already-recorded bad manifest without calling st_error()]",
                 strata_last_error());
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_user_manifest_dir(void **state)
{
    (void)state;
    isolate_discovery_env();
    char json[PATH_MAX + 32];
    snprintf(json, sizeof json, "{\"library\": \"%s\"}\n", real(fx("zero_device_backend")));

    /* $XDG_CONFIG_HOME/strata/plugins.d */
    const char *xdg = tmp_dir();
    const char *d = tmp_subdir(tmp_subdir(xdg, "strata"), "plugins.d");
    tmp_file(d, "nodev.json", json);
    env_set("XDG_CONFIG_HOME", xdg);
    strata_runtime *rt = rt_discover(NULL);
    assert_loaded_record(rt, fx("zero_device_backend"), "fixture_nodev", "manifest");
    assert_true(backend_find(rt, "fixture_nodev", NULL) >= 0);
    assert_runtime_works(rt);
    rt_destroy(rt);

    /* ~/.config/strata/plugins.d when XDG_CONFIG_HOME is unset */
    const char *home = tmp_dir();
    d = tmp_subdir(tmp_subdir(tmp_subdir(home, ".config"), "strata"), "plugins.d");
    tmp_file(d, "nodev.json", json);
    env_set("XDG_CONFIG_HOME", NULL);
    env_set("HOME", home);
    rt = rt_discover(NULL);
    assert_loaded_record(rt, fx("zero_device_backend"), "fixture_nodev", "manifest");
    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_plugin_path(void **state)
{
    (void)state;
    isolate_discovery_env();
    const char *pdir = tmp_dir();
    tmp_symlink(pdir, "a_good.so", real(fx("good_plugin")));
    tmp_symlink(pdir, "b_nodev.so", real(fx("zero_device_backend")));
    tmp_file(pdir, "readme.txt", "not a plugin\n");
    tmp_file(pdir, ".hidden.so", "hidden files are skipped\n");

    /* a missing directory, empty entries, a directory, a file, and a file
     * the directory already gave (de-duplicated by real path) */
    char list[4 * PATH_MAX];
    snprintf(list, sizeof list, "/nonexistent/strata-plugins::%s:%s:%s", pdir, fx("fake_device_backend"),
             fx("good_plugin"));
    env_set("STRATA_PLUGIN_PATH", list);
    env_set("STRATA_DEBUG", "loader");
    capture cap;
    capture_begin(&cap, tmp_dir());
    strata_runtime *rt = rt_discover(NULL);
    char *trace = capture_end(&cap);

    assert_loaded_record(rt, fx("good_plugin"), "fixture_good", "path");
    assert_loaded_record(rt, fx("zero_device_backend"), "fixture_nodev", "path");
    assert_loaded_record(rt, fx("fake_device_backend"), "fixture_host", "path");
    for (int k = 0; k < strata_plugin_count(rt); k++) {
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(rt, k, &r));
        assert_null(strstr(r.path, "readme.txt"));
        assert_null(strstr(r.path, ".hidden.so"));
        assert_null(strstr(r.path, "/nonexistent/"));
        if (!strcmp(r.path, real(ref_so())))
            assert_string_equal(r.origin, "libdir");
    }
    assert_true(backend_find(rt, "fixture_host", NULL) >= 0);

    /* STRATA_DEBUG=loader: every path tried and why it was taken or skipped */
    assert_contains("the loader trace", trace, "strata: loader: ");
    assert_contains("the loader trace", trace, "/nonexistent/strata-plugins");
    char line[PATH_MAX + 32];
    snprintf(line, sizeof line, "scanning %s", pdir);
    assert_contains("the loader trace", trace, line);
    snprintf(line, sizeof line, "trying %s/a_good.so (path)", pdir);
    assert_contains("the loader trace", trace, line);
    assert_contains("the loader trace", trace, "duplicate");
    assert_contains("the loader trace", trace, "loaded ");
    assert_contains("the loader trace", trace, "plugin 'fixture_good'");
    free(trace);

    assert_runtime_works(rt);
    rt_destroy(rt);
}

static void test_option_plugin_path(void **state)
{
    (void)state;
    isolate_discovery_env();
    /* searched before STRATA_PLUGIN_PATH, recorded as "option" */
    env_set("STRATA_PLUGIN_PATH", fx("zero_device_backend"));
    strata_runtime *rt = rt_discover(fx("zero_device_backend"));
    assert_loaded_record(rt, fx("zero_device_backend"), "fixture_nodev", "option");
    assert_runtime_works(rt);
    rt_destroy(rt);

    /* STRATA_RUNTIME_NO_DISCOVERY: nothing but the built-ins */
    env_set("STRATA_PLUGIN_PATH", fx("good_plugin"));
    rt = rt_isolated();
    assert_int_equal(strata_plugin_count(rt), 1);
    strata_plugin_record r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    ST_OK(strata_plugin_get(rt, 0, &r));
    assert_string_equal(r.origin, "builtin");
    assert_int_equal(r.loaded, 1);
    assert_int_equal(strata_backend_count(rt), 0);
    rt_destroy(rt);
}

/* ======================================================================= */
/* Backends: no device, host fallback, STRATA_STRICT                       */
/* ======================================================================= */

static void test_zero_device_backend(void **state)
{
    (void)state;
    env_set("STRATA_BACKEND", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("zero_device_backend"))); /* no device is not a failure */
    assert_loaded_record(rt, fx("zero_device_backend"), "fixture_nodev", "explicit");

    strata_backend_record b;
    int idx = backend_find(rt, "fixture_nodev", &b);
    assert_true(idx >= 0);
    assert_int_equal(b.device_count, 0);
    assert_string_equal(b.unavailable, "fixture: no accelerator present");
    assert_string_equal(b.plugin, "fixture_nodev");
    assert_int_equal(b.priority, 100);
    assert_string_equal(strata_backend_device_name(rt, idx, 0), "");
    strata_backend_record rb;
    assert_true(backend_find(rt, "ref", &rb) >= 0);
    assert_int_equal(rb.device_count, 1);
    assert_string_equal(rb.unavailable, "");

    strata_device *d = NULL;
    ASSERT_STATUS(strata_device_get(rt, "fixture_nodev", 0, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("fixture_nodev");
    tu_assert_error_contains("fixture: no accelerator present");
    assert_null(d);

    /* the default device skips a backend without devices, whatever its priority */
    ST_OK(strata_device_get(rt, NULL, 0, &d));
    assert_string_equal(strata_device_backend(d), "ref");
    /* ... but asking for it by STRATA_BACKEND says why it cannot be had */
    env_set("STRATA_BACKEND", "fixture_nodev");
    d = NULL;
    ASSERT_STATUS(strata_device_get(rt, NULL, 0, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("fixture: no accelerator present");
    env_set("STRATA_BACKEND", NULL);

    /* a device as `strata info` names it, "ref:0", here or in STRATA_BACKEND */
    d = NULL;
    ST_OK(strata_device_get(rt, "ref:0", 0, &d));
    assert_string_equal(strata_device_backend(d), "ref");
    env_set("STRATA_BACKEND", "ref:0");
    d = NULL;
    ST_OK(strata_device_get(rt, NULL, 0, &d));
    assert_string_equal(strata_device_backend(d), "ref");
    env_set("STRATA_BACKEND", NULL);
    d = NULL;
    ASSERT_STATUS(strata_device_get(rt, "ref:1", 0, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("backend 'ref' has 1 device(s); device 1 does not exist");
    ASSERT_STATUS(strata_device_get(rt, "ref:1", 2, &d), STRATA_E_INVALID);
    tu_assert_error_contains("'ref:1' names device 1 and index asks for device 2");
    ASSERT_STATUS(strata_device_get(rt, "ref:x", 0, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("'ref:x' is not a device: a backend's devices are NAME:N");
    ASSERT_STATUS(strata_device_get(rt, ":0", 0, &d), STRATA_E_NOT_FOUND);
    ASSERT_STATUS(strata_device_get(rt, "fixture_nodev:0", 0, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("fixture: no accelerator present");
    assert_null(d);

    assert_runtime_works(rt);
    rt_destroy(rt);
}

typedef int (*calls_fn)(void);

/** A counter fixture_host exports (fixture_host_add_calls, ..._count_calls). */
static int host_counter(const char *symbol)
{
    void *h = dlopen(real(fx("fake_device_backend")), RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    calls_fn fn = NULL;
    *(void **)&fn = dlsym(h, symbol);
    assert_non_null(fn);
    int n = fn();
    dlclose(h);
    return n;
}

/** Number of calls of fixture_host's native core::add kernel so far. */
static int host_add_calls(void)
{
    return host_counter("fixture_host_add_calls");
}

/* A backend's devices are asked for when first needed, once: a process that
 * never touches a backend never pays for its driver probe (PoCL's costs
 * 0.1 s and 60 MB), and the default device never probes a backend below the
 * one that wins. */
static void test_devices_listed_on_first_need(void **state)
{
    (void)state;
    env_set("STRATA_BACKEND", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend"))); /* dlopened now: the counter is there */
    const int before = host_counter("fixture_host_count_calls");
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("zero_device_backend")));
    assert_int_equal(host_counter("fixture_host_count_calls"), before); /* not at registration */

    strata_device *d = NULL;
    ST_OK(strata_device_get(rt, NULL, 0, &d)); /* nodev (100) has none, ref (0) wins, host (-1) is not asked */
    assert_string_equal(strata_device_backend(d), "ref");
    assert_int_equal(host_counter("fixture_host_count_calls"), before);

    ST_OK(strata_device_get(rt, "fixture_host", 0, &d));
    assert_string_equal(strata_device_backend(d), "fixture_host");
    ST_OK(strata_device_get(rt, "fixture_host:0", 0, &d));
    assert_int_equal(host_counter("fixture_host_count_calls"), before + 1); /* once */

    /* the listing (strata info) sees every backend's devices */
    int host_devices = -1;
    for (int k = 0; k < strata_backend_count(rt); k++) {
        strata_backend_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_backend_get(rt, k, &r));
        if (!strcmp(r.name, "fixture_host"))
            host_devices = r.device_count;
    }
    assert_int_equal(host_devices, 1);
    assert_int_equal(host_counter("fixture_host_count_calls"), before + 1);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

/* core::add of (1, 2, 3) on @p dev with itself gives (2, 4, 6). */
static void assert_self_add(strata_runtime *rt, strata_device *dev)
{
    const int64_t shape[1] = {3};
    const float av[3] = {1, 2, 3}, want[3] = {2, 4, 6};
    strata_tensor *a = tensor(dev, 1, shape, av), *aa[2] = {a, a}, *y = NULL;
    ST_OK(strata_op_call(rt, "core::add", aa, 2, NULL, 0, &y, 1));
    assert_values(y, want, 3);
    strata_tensor_release(y);
    strata_tensor_release(a);
}

/* The host fallback asks host backends in priority order: an op on a device-memory backend falls back to ref
 * (priority 0), and fixture_host (-1, registered first, with a core::add kernel of its own) never has its
 * devices listed; it used to be, being first in the list. */
static void test_fallback_lists_only_what_it_needs(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("device_mem_backend")));
    const int before = host_counter("fixture_host_count_calls");
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "fixture_devmem", 0, &dev));
    assert_self_add(rt, dev);
    assert_int_equal(host_counter("fixture_host_count_calls"), before);
    rt_destroy(rt);
}

static strata_device *host_device(strata_runtime *rt)
{
    strata_device *d = NULL;
    ST_OK(strata_device_get(rt, "fixture_host", 0, &d));
    assert_string_equal(strata_device_backend(d), "fixture_host");
    return d;
}

static void test_host_fallback(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    env_set("STRATA_BACKEND", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    strata_device *dev = host_device(rt);
    strata_device *d = NULL;
    ST_OK(strata_device_get(rt, NULL, 0, &d));
    assert_string_equal(strata_device_backend(d), "ref"); /* priority -1 < 0 */

    const int64_t shape[2] = {2, 3}, rshape[1] = {3};
    const float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {0.5f, -1, 2, 0, 3, -2}, cv[3] = {10, 20, 30};
    strata_tensor *a = tensor(dev, 2, shape, av), *b = tensor(dev, 2, shape, bv), *c = tensor(dev, 1, rshape, cv);
    strata_tensor *ab[2] = {a, b}, *ac[2] = {a, c}, *y = NULL;

    /* core::add, same shapes: the backend's own kernel */
    int calls = host_add_calls();
    ST_OK(strata_op_call(rt, "core::add", ab, 2, NULL, 0, &y, 1));
    const float sum[6] = {1.5f, 1, 5, 4, 8, 4};
    assert_values(y, sum, 6);
    assert_ptr_equal(strata_tensor_device(y), dev);
    assert_int_equal(host_add_calls(), calls + 1);
    strata_tensor_release(y);

    /* core::mul: no kernel on fixture_host -> host fallback, one warning */
    const char *dir = tmp_dir();
    capture cap;
    capture_begin(&cap, dir);
    strata_status s = strata_op_call(rt, "core::mul", ab, 2, NULL, 0, &y, 1);
    char *err = capture_end(&cap);
    if (s != STRATA_OK)
        fail_msg("core::mul on fixture_host -> %s: %s", strata_status_name(s), strata_last_error());
    assert_contains("stderr", err, "warning");
    assert_contains("stderr", err, "core::mul has no kernel on fixture_host:0");
    free(err);
    const float prod[6] = {0.5f, -2, 6, 0, 15, -12};
    assert_values(y, prod, 6);
    assert_ptr_equal(strata_tensor_device(y), dev);
    assert_int_equal(host_add_calls(), calls + 1);
    strata_tensor_release(y);

    /* once per op: the second call is silent */
    capture_begin(&cap, dir);
    s = strata_op_call(rt, "core::mul", ab, 2, NULL, 0, &y, 1);
    err = capture_end(&cap);
    ST_OK(s);
    assert_null(strstr(err, "core::mul"));
    free(err);
    assert_values(y, prod, 6);
    strata_tensor_release(y);

    /* core::add with broadcasting: its supports_op says no -> fallback too */
    capture_begin(&cap, dir);
    s = strata_op_call(rt, "core::add", ac, 2, NULL, 0, &y, 1);
    err = capture_end(&cap);
    ST_OK(s);
    /* the kernel is there and declined: said so, with the inputs it declined, not "no kernel" */
    assert_contains("stderr", err,
                    "core::add on fixture_host:0: the backend's supports_op declined this call "
                    "(f32 (2, 3), f32 (3)); running it on ref:0 with copies");
    assert_null(strstr(err, "has no kernel"));
    free(err);
    const float bsum[6] = {11, 22, 33, 14, 25, 36};
    assert_values(y, bsum, 6);
    assert_ptr_equal(strata_tensor_device(y), dev);
    assert_int_equal(host_add_calls(), calls + 1);
    strata_tensor_release(y);

    strata_tensor_release(a);
    strata_tensor_release(b);
    strata_tensor_release(c);
    assert_runtime_works(rt);
    rt_destroy(rt);
}

/* Backward through fallback ops: sum's backward expands (a stride-0 view)
 * and copies it on fixture_host, which has no core::copy kernel. */
static int child_fallback_gradient(char *msg, size_t n)
{
    strata_runtime *rt = child_runtime();
    if (!rt) {
        snprintf(msg, n, "runtime: %s", strata_last_error());
        return 1;
    }
    int code = 1;
    strata_device *dev = NULL;
    strata_tensor *a = NULL, *sq = NULL, *loss = NULL;
    const int64_t shape[2] = {2, 3};
    const float av[6] = {1, 2, 3, 4, 5, 6};
    float g[6] = {0};
    strata_status s;
    if ((s = strata_plugin_load(rt, ref_so())) || (s = strata_plugin_load(rt, fx("fake_device_backend"))) ||
        (s = strata_device_get(rt, "fixture_host", 0, &dev)) ||
        (s = strata_tensor_from_host(dev, STRATA_F32, 2, shape, av, &a)) ||
        (s = strata_tensor_set_requires_grad(a, 1))) {
        snprintf(msg, n, "setup: %s: %s", strata_status_name(s), strata_last_error());
        goto done;
    }
    strata_tensor *aa[2] = {a, a};
    if ((s = strata_op_call(rt, "core::mul", aa, 2, NULL, 0, &sq, 1)) ||
        (s = strata_op_call(rt, "core::sum", &sq, 1, NULL, 0, &loss, 1))) {
        snprintf(msg, n, "forward: %s: %s", strata_status_name(s), strata_last_error());
        goto done;
    }
    snprintf(msg, n, "strata_backward(sum(a * a)) with a on fixture_host started");
    if ((s = strata_backward(strata_runtime_graph(rt), loss))) {
        snprintf(msg, n, "backward: %s: %s", strata_status_name(s), strata_last_error());
        goto done;
    }
    if (!strata_tensor_grad(a) || strata_tensor_read(strata_tensor_grad(a), g, sizeof g)) {
        snprintf(msg, n, "no readable gradient: %s", strata_last_error());
        goto done;
    }
    for (int i = 0; i < 6; i++)
        if (fabsf(g[i] - 2.0f * av[i]) > 1e-5f) {
            snprintf(msg, n, "d loss / d a[%d] is %g, expected %g", i, (double)g[i], 2.0 * av[i]);
            goto done;
        }
    code = 0;
done:
    strata_tensor_release(loss);
    strata_tensor_release(sq);
    strata_tensor_release(a);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_runtime_destroy(rt);
    return code;
}

static void test_host_fallback_gradient(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    run_in_child("gradient through host-fallback ops on fixture_host [known core bug when it crashes: core::copy "
                 "of a non-contiguous tensor on a backend without a core::copy kernel recurses forever: "
                 "dispatch.c run_fallback -> strata_tensor_to -> contiguous() -> core::copy -> run_fallback ...]",
                 child_fallback_gradient);
}

/* A runtime under STRATA_STRICT=1 with ref and @p fixture. */
static strata_runtime *rt_strict_with(const char *fixture)
{
    env_set("STRATA_STRICT", "1"); /* read when the runtime is created */
    strata_runtime *rt = rt_isolated();
    env_set("STRATA_STRICT", NULL);
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx(fixture)));
    return rt;
}

static void test_strict_forbids_fallback(void **state)
{
    (void)state;
    strata_runtime *rt = rt_strict_with("fake_device_backend");
    strata_device *dev = host_device(rt);

    const int64_t shape[1] = {3};
    const float av[3] = {1, 2, 3}, bv[3] = {4, 5, 6};
    strata_tensor *a = tensor(dev, 1, shape, av), *b = tensor(dev, 1, shape, bv), *ab[2] = {a, b}, *y = NULL;
    /* the native kernel is fine */
    ST_OK(strata_op_call(rt, "core::add", ab, 2, NULL, 0, &y, 1));
    const float sum[3] = {5, 7, 9};
    assert_values(y, sum, 3);
    strata_tensor_release(y);
    y = NULL;
    /* the fallback is an error naming the op and the device */
    ASSERT_STATUS(strata_op_call(rt, "core::mul", ab, 2, NULL, 0, &y, 1), STRATA_E_UNSUPPORTED);
    tu_assert_error_contains("core::mul");
    tu_assert_error_contains("fixture_host");
    tu_assert_error_contains("STRATA_STRICT");
    assert_null(y);
    /* a call its kernel declines (add with broadcasting) says so: the kernel is there */
    const int64_t one[1] = {1};
    const float cv[1] = {10};
    strata_tensor *c = tensor(dev, 1, one, cv), *ac[2] = {a, c};
    ASSERT_STATUS(strata_op_call(rt, "core::add", ac, 2, NULL, 0, &y, 1), STRATA_E_UNSUPPORTED);
    tu_assert_error_contains("core::add on fixture_host:0: the backend's supports_op declined this call "
                             "(f32 (3), f32 (1)) (STRATA_STRICT=1 forbids the host fallback)");
    assert_null(strstr(strata_last_error(), "has no kernel"));
    assert_null(y);
    strata_tensor_release(c);
    strata_tensor_release(a);
    strata_tensor_release(b);
    assert_runtime_works(rt); /* ref has its own kernels */
    rt_destroy(rt);

    /* STRATA_STRICT=0 is not strict */
    env_set("STRATA_STRICT", "0");
    rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    dev = host_device(rt);
    a = tensor(dev, 1, shape, av);
    b = tensor(dev, 1, shape, bv);
    strata_tensor *ab2[2] = {a, b};
    env_set("STRATA_DEBUG", NULL);
    capture cap;
    capture_begin(&cap, tmp_dir());
    strata_status s = strata_op_call(rt, "core::mul", ab2, 2, NULL, 0, &y, 1);
    free(capture_end(&cap));
    ST_OK(s);
    const float prod[3] = {4, 10, 18};
    assert_values(y, prod, 3);
    strata_tensor_release(y);
    strata_tensor_release(a);
    strata_tensor_release(b);
    rt_destroy(rt);
}

/* Without any backend that has a kernel for it, the fallback has nowhere to
 * go: a clear error, not a crash. */
static void test_no_fallback_target(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    strata_device *dev = host_device(rt);
    const int64_t shape[1] = {2};
    const float av[2] = {1, 2}, bv[2] = {3, 4};
    strata_tensor *a = tensor(dev, 1, shape, av), *b = tensor(dev, 1, shape, bv), *ab[2] = {a, b}, *y = NULL;
    ASSERT_STATUS(strata_op_call(rt, "core::mul", ab, 2, NULL, 0, &y, 1), STRATA_E_UNSUPPORTED);
    tu_assert_error_contains("core::mul");
    tu_assert_error_contains("fixture_host");
    assert_null(y);
    ST_OK(strata_op_call(rt, "core::add", ab, 2, NULL, 0, &y, 1));
    const float sum[2] = {4, 6};
    assert_values(y, sum, 2);
    strata_tensor_release(y);
    strata_tensor_release(a);
    strata_tensor_release(b);
    rt_destroy(rt);
}

/* A backend that declines its own kernel for a call: the fallback runs the op on another backend (ref, of lower
 * priority), not on the same device with that kernel (it gave 999 for 1 + 1). */
static void test_fallback_skips_declining_backend(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("declining_backend")));
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "fixture_declining", 0, &dev));
    assert_self_add(rt, dev);
}

/* The fallback warning is said once per op and backend: core::add declined on fixture_host used to hide the
 * warning for core::add declined on fixture_declining (the flag was per op). */
static void test_fallback_warns_per_backend(void **state)
{
    (void)state;
    env_set("STRATA_STRICT", NULL);
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, ref_so()));
    ST_OK(strata_plugin_load(rt, fx("fake_device_backend")));
    ST_OK(strata_plugin_load(rt, fx("declining_backend")));
    strata_device *host = host_device(rt), *dc = NULL;
    ST_OK(strata_device_get(rt, "fixture_declining", 0, &dc));
    const int64_t shape[2] = {2, 3}, rshape[1] = {3};
    const float av[6] = {1, 2, 3, 4, 5, 6}, cv[3] = {10, 20, 30};
    const char *dir = tmp_dir();
    for (int round = 0; round < 2; round++) {
        /* fixture_host's add takes only same shapes: a broadcast is declined */
        strata_tensor *a = tensor(host, 2, shape, av), *c = tensor(host, 1, rshape, cv), *ac[2] = {a, c}, *y = NULL;
        capture cap;
        capture_begin(&cap, dir);
        strata_status s = strata_op_call(rt, "core::add", ac, 2, NULL, 0, &y, 1);
        char *err = capture_end(&cap);
        ST_OK(s);
        if (round == 0)
            assert_contains("stderr", err, "core::add on fixture_host:0: the backend's supports_op declined this call");
        else
            assert_null(strstr(err, "core::add")); /* once per op and backend */
        free(err);
        strata_tensor_release(y);
        strata_tensor_release(a);
        strata_tensor_release(c);

        /* fixture_declining declines every add: its own warning, not hidden by fixture_host's */
        a = tensor(dc, 1, rshape, cv);
        strata_tensor *aa[2] = {a, a};
        y = NULL;
        capture_begin(&cap, dir);
        s = strata_op_call(rt, "core::add", aa, 2, NULL, 0, &y, 1);
        err = capture_end(&cap);
        ST_OK(s);
        if (round == 0)
            assert_contains("stderr", err,
                            "core::add on fixture_declining:0: the backend's supports_op declined this call "
                            "(f32 (3), f32 (3)); running it on ref:0 with copies");
        else
            assert_null(strstr(err, "core::add"));
        free(err);
        const float want[3] = {20, 40, 60};
        assert_values(y, want, 3);
        strata_tensor_release(y);
        strata_tensor_release(a);
    }
}

/* A device-memory backend that registers core::fill but declines it: a zeroed tensor there is cleared by the
 * core's host copy, not by the declined call (which went to the host fallback, an error under STRATA_STRICT). */
static void test_zeros_where_fill_is_declined(void **state)
{
    (void)state;
    strata_runtime *rt = rt_strict_with("device_mem_backend");
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "fixture_devmem", 0, &dev));
    const int64_t shape[1] = {4};
    const float want[4] = {0};
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_zeros(dev, STRATA_F32, 1, shape, &t));
    assert_values(t, want, 4);
    strata_tensor_release(t);
}

/* A plugin loaded first registers a kernel for ref: when ref loads, its own kernel takes the place back (ref
 * used to be refused and unloaded whole, E_EXISTS), and relu on ref is ref's. */
static void test_backend_kernel_takes_precedence(void **state)
{
    (void)state;
    strata_runtime *rt = rt_isolated();
    ST_OK(strata_plugin_load(rt, fx("kernel_for_ref")));
    ST_OK(strata_plugin_load(rt, ref_so()));
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "ref", 0, &dev));
    const int64_t shape[1] = {3};
    const float xv[3] = {-1, 0, 2}, want[3] = {0, 0, 2};
    strata_tensor *x = tensor(dev, 1, shape, xv), *y = NULL;
    ST_OK(strata_op_call(rt, "core::relu", &x, 1, NULL, 0, &y, 1));
    assert_values(y, want, 3);
    strata_tensor_release(y);
    strata_tensor_release(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_good_plugin_loads, teardown),
        cmocka_unit_test_teardown(test_good_plugin_gradient, teardown),
        cmocka_unit_test_teardown(test_good_plugin_layer_in_model, teardown),
        cmocka_unit_test_teardown(test_good_plugin_optimizer, teardown),
        cmocka_unit_test_teardown(test_wrong_abi_major, teardown),
        cmocka_unit_test_teardown(test_missing_entry_symbol, teardown),
        cmocka_unit_test_teardown(test_failing_init, teardown),
        cmocka_unit_test_teardown(test_unresolved_dependency, teardown),
        cmocka_unit_test_teardown(test_duplicate_plugin_name, teardown),
        cmocka_unit_test_teardown(test_missing_file, teardown),
        cmocka_unit_test_teardown(test_all_fixtures_in_one_runtime, teardown),
        cmocka_unit_test_teardown(test_manifests, teardown),
        cmocka_unit_test_teardown(test_bad_manifest_reload, teardown),
        cmocka_unit_test_teardown(test_user_manifest_dir, teardown),
        cmocka_unit_test_teardown(test_plugin_path, teardown),
        cmocka_unit_test_teardown(test_option_plugin_path, teardown),
        cmocka_unit_test_teardown(test_zero_device_backend, teardown),
        cmocka_unit_test_teardown(test_host_fallback, teardown),
        cmocka_unit_test_teardown(test_devices_listed_on_first_need, teardown),
        cmocka_unit_test_teardown(test_fallback_skips_declining_backend, teardown),
        cmocka_unit_test_teardown(test_fallback_warns_per_backend, teardown),
        cmocka_unit_test_teardown(test_zeros_where_fill_is_declined, teardown),
        cmocka_unit_test_teardown(test_fallback_lists_only_what_it_needs, teardown),
        cmocka_unit_test_teardown(test_backend_kernel_takes_precedence, teardown),
        cmocka_unit_test_teardown(test_host_fallback_gradient, teardown),
        cmocka_unit_test_teardown(test_strict_forbids_fallback, teardown),
        cmocka_unit_test_teardown(test_no_fallback_target, teardown),
    };
    /* STRATA_TEST_FILTER=test_name (a glob) runs a subset */
    const char *filter = getenv("STRATA_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
