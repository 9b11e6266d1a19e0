/* test_alloc_fault_plugins.c - allocation failure inside the backends and
 * layer plugins, by fault injection. test_alloc_fault fails the core's own
 * allocations (st_fault_alloc_set); the backends and plugins call malloc,
 * calloc, realloc and posix_memalign themselves, out of the core's reach.
 *
 * Mechanism: this executable defines malloc, calloc, realloc,
 * posix_memalign, aligned_alloc and free. A definition in the executable
 * takes precedence over libc's for every shared object loaded, dlopen'ed
 * plugins included, so each call lands here and is forwarded to glibc's
 * own allocator (__libc_malloc and friends). While the injection is armed,
 * an allocation whose immediate caller (__builtin_return_address(0)) lies
 * in a Strata object - libstrata.so or a shared object under the build's
 * lib/strata/ - is counted, and the N-th fails. The Strata objects' address
 * ranges are taken with dl_iterate_phdr once a runtime's plugins are
 * loaded, so the check is a range compare (no loader lock, no allocation
 * inside malloc). Allocations by libc, oneDNN, OpenMP, an OpenCL driver,
 * the dynamic loader and cmocka are never counted nor failed, so the count
 * is the same from run to run. The other way, handing the plugins an
 * allocation function through the SDK's host API, would change the ABI and
 * still not reach the backends' own scratch buffers.
 *
 * The step under test builds four small models and trains each for one
 * step (Adam: forward, cross-entropy, backward, update), then destroys them:
 *   - linear -> unflatten -> conv2d -> batch_norm2d -> relu -> dropout2d ->
 *     max_pool2d -> conv_transpose2d -> sn_conv2d -> avg_pool2d -> flatten
 *     -> batch_norm1d -> sn_linear (conv and gan plugins),
 *   - embedding -> 2-layer bidirectional lstm with dropout -> gru -> relu
 *     rnn -> flatten -> linear (lstm plugin; index kernels of the backend),
 *   - memn2n, adjacent and layerwise tying, position encoding, temporal
 *     terms, empty slots masked, two hops (memnet plugin).
 * Every allocation of libstrata.so and of the objects loaded (ref, cpu,
 * opencl, conv, lstm, memnet, gan) is counted: the plugins' own, and the
 * core's ones that the plugins' host calls make (so the plugins' paths
 * after a failed host call are walked too); about 2,200 per step.
 *
 * The step runs once to count its allocations, then again for N = 1 .. that
 * count with allocation N failing. Every run must end in STRATA_E_NOMEM
 * with a message giving the size in bytes (or in STRATA_OK, when the failed
 * allocation had a fallback), never a crash or another status. No leak: the
 * heap in use (mallinfo2, per-thread cache off) and the blocks the Strata
 * objects hold (the hook tracks every block they allocate until it is
 * freed) must be what they were before. On ref and cpu every N is tried
 * (up to FULL_SWEEP, then every STRIDE-th); on opencl (PoCL in CI; skipped
 * without a device) every N up to OCL_FULL, then every OCL_STRIDE-th, as
 * each run launches kernels; there the driver's threads move the heap on
 * their own, so only the Strata objects' blocks are compared. About 2 s
 * on ref, 3 s on cpu, 8 s on PoCL on a quiet machine.
 *
 * Under AddressSanitizer, which owns malloc itself, the interposition is
 * compiled out and the sweep uses the core's hook instead (the plugins'
 * error paths after a failed host call are still walked, LeakSanitizer
 * checks for leaks); the plugins' own allocations are then not failed.
 */
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "strata/strata_ops.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif
#define INTERPOSE (!UNDER_ASAN)
#define HEAP_CHECK (!UNDER_ASAN) /* under ASan, LeakSanitizer checks instead */

enum { FULL_SWEEP = 4000, STRIDE = 7, OCL_FULL = 400, OCL_STRIDE = 5 };

/* ---- the allocator hook -------------------------------------------------- */

#if INTERPOSE
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

enum { MAX_RANGES = 128, MAX_OBJECTS = 32 };
static struct {
    uintptr_t lo, hi;
    int obj;
} g_range[MAX_RANGES];
static int g_n_range;
static char g_obj_name[MAX_OBJECTS][64];
static int g_n_obj;
static _Atomic int64_t g_obj_count[MAX_OBJECTS];
static _Atomic int g_armed, g_tracking;
enum { LIVE_BITS = 17, LIVE_CAP = 1 << LIVE_BITS };
static struct {
    void *p;
    size_t n;
} g_live[LIVE_CAP];
static int64_t g_live_blocks;
static size_t g_live_bytes;
static int g_live_overflow;
static atomic_flag g_live_lock = ATOMIC_FLAG_INIT;
static _Atomic int64_t g_seen, g_fail_at;
/* The build hides symbols by default; these must reach the dynamic symbol
 * table (the target links with ENABLE_EXPORTS) to interpose libc's. */
#define HOOK_EXPORT __attribute__((visibility("default")))

/* libstrata.so or a plugin/backend of this build (lib/strata/NAME.so) */
static int is_strata_object(const char *path)
{
    return strstr(path, "/libstrata.so") || strstr(path, "/lib/strata/");
}

static int collect_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !is_strata_object(info->dlpi_name) || g_n_obj == MAX_OBJECTS)
        return 0;
    const char *base = strrchr(info->dlpi_name, '/');
    snprintf(g_obj_name[g_n_obj], sizeof g_obj_name[0], "%s", base + 1);
    for (int k = 0; k < info->dlpi_phnum && g_n_range < MAX_RANGES; k++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        g_range[g_n_range].lo = info->dlpi_addr + ph->p_vaddr;
        g_range[g_n_range].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        g_range[g_n_range].obj = g_n_obj;
        g_n_range++;
    }
    g_n_obj++;
    return 0;
}

/* The object index of a Strata caller @p ra, -1 for any other (or while
 * nothing is tracked). */
static int strata_caller(const void *ra)
{
    if (!atomic_load_explicit(&g_tracking, memory_order_acquire))
        return -1;
    uintptr_t a = (uintptr_t)ra;
    for (int k = 0; k < g_n_range; k++)
        if (a >= g_range[k].lo && a < g_range[k].hi)
            return g_range[k].obj;
    return -1;
}

/* 1 when this allocation by Strata object @p obj (-1: not Strata) is to fail. */
static int fault_hit(int obj)
{
    if (obj < 0 || !atomic_load_explicit(&g_armed, memory_order_acquire))
        return 0;
    atomic_fetch_add(&g_obj_count[obj], 1);
    return atomic_fetch_add(&g_seen, 1) + 1 == atomic_load(&g_fail_at);
}

/* The blocks Strata objects hold (allocated by them, not yet freed by
 * anyone): a linear-probing set, deletion by backward shift. It is the leak
 * check where the heap as a whole moves on its own (an OpenCL driver's
 * threads), and a second one elsewhere. */
static size_t live_slot(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> (64 - LIVE_BITS));
}

static void live_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&g_live_lock, memory_order_acquire))
        ;
}

static void live_unlock(void)
{
    atomic_flag_clear_explicit(&g_live_lock, memory_order_release);
}

static void live_add(void *p, size_t n)
{
    live_lock();
    if (g_live_blocks >= LIVE_CAP / 2) {
        g_live_overflow = 1;
    } else {
        size_t i = live_slot(p);
        while (g_live[i].p)
            i = (i + 1) & (LIVE_CAP - 1);
        g_live[i].p = p;
        g_live[i].n = n;
        g_live_blocks++;
        g_live_bytes += n;
    }
    live_unlock();
}

/* Forgets @p p; 1 when it was a Strata block. */
static int live_remove(void *p)
{
    live_lock();
    size_t i = live_slot(p);
    while (g_live[i].p && g_live[i].p != p)
        i = (i + 1) & (LIVE_CAP - 1);
    int found = g_live[i].p != NULL;
    if (found) {
        g_live_blocks--;
        g_live_bytes -= g_live[i].n;
        for (size_t j = i;;) {
            j = (j + 1) & (LIVE_CAP - 1);
            if (!g_live[j].p)
                break;
            size_t k = live_slot(g_live[j].p);
            /* j's entry may move back to the hole at i unless its home k lies cyclically in (i, j] */
            if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
                g_live[i] = g_live[j];
                i = j;
            }
        }
        g_live[i].p = NULL;
    }
    live_unlock();
    return found;
}

HOOK_EXPORT void *malloc(size_t n)
{
    int obj = strata_caller(__builtin_return_address(0));
    if (fault_hit(obj)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(n);
    if (p && obj >= 0)
        live_add(p, n);
    return p;
}

HOOK_EXPORT void *calloc(size_t n, size_t m)
{
    int obj = strata_caller(__builtin_return_address(0));
    if (fault_hit(obj)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_calloc(n, m);
    if (p && obj >= 0)
        live_add(p, n * m);
    return p;
}

HOOK_EXPORT void *realloc(void *p, size_t n)
{
    int obj = strata_caller(__builtin_return_address(0));
    if (fault_hit(obj)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __libc_realloc(p, n);
    /* p is gone unless the call failed (realloc(p, 0) frees p) */
    int tracked = p && (q || !n) && atomic_load(&g_tracking) && live_remove(p);
    if (q && (obj >= 0 || tracked))
        live_add(q, n);
    return q;
}

HOOK_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int obj = strata_caller(__builtin_return_address(0));
    if (fault_hit(obj))
        return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    if (obj >= 0)
        live_add(p, n);
    *out = p;
    return 0;
}

HOOK_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    int obj = strata_caller(__builtin_return_address(0));
    if (fault_hit(obj)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_memalign(align, n);
    if (p && obj >= 0)
        live_add(p, n);
    return p;
}

HOOK_EXPORT void free(void *p)
{
    if (p && atomic_load_explicit(&g_tracking, memory_order_acquire))
        live_remove(p);
    __libc_free(p);
}

/* Takes the Strata objects' address ranges; called, disarmed, once the
 * plugins of a runtime are loaded (a runtime's plugins go with it). */
static void hook_scan(void)
{
    g_n_range = g_n_obj = 0;
    dl_iterate_phdr(collect_ranges, NULL);
    atomic_store_explicit(&g_tracking, 1, memory_order_release);
}

/* Stops tracking before the runtime (and its plugins) go. */
static void hook_unscan(void)
{
    atomic_store_explicit(&g_tracking, 0, memory_order_release);
    live_lock();
    memset(g_live, 0, sizeof g_live);
    g_live_blocks = 0;
    g_live_bytes = 0;
    live_unlock();
}

/* Blocks and bytes the Strata objects hold now. */
static void hook_live(int64_t *blocks, int64_t *bytes)
{
    live_lock();
    *blocks = g_live_blocks;
    *bytes = (int64_t)g_live_bytes;
    live_unlock();
    assert_false(g_live_overflow);
}

/* Arms the hook: allocation @p n (1-based) fails, 0 = none; counts restart. */
static void hook_set(int64_t n)
{
    atomic_store(&g_seen, 0);
    atomic_store(&g_fail_at, n);
    atomic_store_explicit(&g_armed, 1, memory_order_release);
}

static void hook_off(void)
{
    atomic_store_explicit(&g_armed, 0, memory_order_release);
}

static int64_t hook_count(void)
{
    return atomic_load(&g_seen);
}

/* "libstrata.so.1 612, ref.so 40, ..." of the last counting run */
static void hook_breakdown(char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (int k = 0; k < g_n_obj && at < cap; k++) {
        int64_t c = atomic_load(&g_obj_count[k]);
        if (c)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s %lld", at ? ", " : "", g_obj_name[k], (long long)c);
    }
}

static void hook_reset_breakdown(void)
{
    for (int k = 0; k < MAX_OBJECTS; k++)
        atomic_store(&g_obj_count[k], 0);
}
#else
static void hook_scan(void)
{
}

static void hook_unscan(void)
{
}

static void hook_live(int64_t *blocks, int64_t *bytes)
{
    *blocks = *bytes = 0; /* LeakSanitizer's job */
}

static void hook_set(int64_t n)
{
    st_fault_alloc_set(n);
}

static void hook_off(void)
{
    st_fault_alloc_set(0);
}

static int64_t hook_count(void)
{
    return st_fault_alloc_count();
}

static void hook_breakdown(char *buf, size_t cap)
{
    snprintf(buf, cap, "the core's hook only (ASan)");
}

static void hook_reset_breakdown(void)
{
}
#endif

static size_t heap_in_use(void)
{
#if HEAP_CHECK
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

/* ---- the step under test ------------------------------------------------- */

#define B 2

/* A runtime with the two host backends (and opencl when @p opencl) and the
 * four layer plugins only. */
static strata_runtime *make_runtime(int opencl)
{
    static const char *const libs[] = {"ref", "cpu", "conv", "lstm", "memnet", "gan", "opencl"};
    strata_runtime_options o = {.struct_size = sizeof o, .flags = STRATA_RUNTIME_NO_DISCOVERY, .seed = 11};
    strata_runtime *rt;
    ST_OK(strata_runtime_create(&o, &rt));
    for (size_t k = 0; k < sizeof libs / sizeof libs[0] - !opencl; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "lib/strata/%s.so", libs[k]);
        ST_OK(strata_plugin_load(rt, tu_build_path(rel)));
    }
    return rt;
}

/* One Adam step of @p m on @p in with class labels @p labels. */
static strata_status train_once(strata_runtime *rt, strata_model *m, strata_tensor *const *in, int n_in,
                                strata_tensor *labels)
{
    strata_optimizer *o = NULL;
    strata_tensor *logits = NULL, *loss = NULL;
    strata_attr lr = strata_attr_float("lr", 0.01);
    strata_graph *g = strata_runtime_graph(rt);
    strata_status rc = strata_optimizer_create(m, "adam", &lr, 1, &o);
    if (!rc)
        rc = strata_model_forward(m, in, n_in, &logits, 1, 1);
    if (!rc)
        rc = strata_cross_entropy(rt, logits, labels, &loss);
    if (!rc)
        rc = strata_backward(g, loss);
    if (!rc)
        rc = strata_optimizer_step(o);
    strata_model_zero_grad(m);
    strata_graph_reset(g);
    strata_tensor_release(loss);
    strata_tensor_release(logits);
    strata_optimizer_destroy(o);
    return rc;
}

#define LAYER(type, name, ...)                                                                                 \
    do {                                                                                                       \
        const strata_attr at_[] = {__VA_ARGS__};                                                               \
        if (!rc)                                                                                               \
            rc = strata_model_add_layer(m, type, name, at_, (int)(sizeof at_ / sizeof at_[0]), NULL, 0);       \
    } while (0)
#define LAYER0(type, name)                                                                                     \
    do {                                                                                                       \
        if (!rc)                                                                                               \
            rc = strata_model_add_layer(m, type, name, NULL, 0, NULL, 0);                                      \
    } while (0)
#define INTS(name, ...) strata_attr_ints(name, (const int64_t[]){__VA_ARGS__}, sizeof((int64_t[]){__VA_ARGS__}) / 8)

/* z (8) -> linear 32 -> (2, 4, 4) -> conv 3x3 -> batch norm -> relu -> dropout2d -> max pool 2 ->
 * transposed conv 2x2 stride 2 -> spectral-norm conv 3x3 -> avg pool 2 -> (12) -> batch norm ->
 * sn_linear 3 */
static strata_status conv_step(strata_runtime *rt, strata_device *dev)
{
    static const float zv[B * 8] = {0.5f, -1, 2, 0, 1, -0.5f, 0.25f, 1, -2, 1, 0.25f, 0, 0, 1, -1, 0.5f};
    static const int64_t yv[B] = {0, 2};
    const int64_t zs[2] = {B, 8}, ys[1] = {B}, ex[1] = {8};
    strata_model *m = NULL;
    strata_tensor *z = NULL, *y = NULL;
    strata_status rc = strata_model_create(dev, &m);
    if (!rc)
        rc = strata_model_add_input(m, "z", STRATA_F32, 1, ex);
    LAYER("linear", "fc0", strata_attr_int("out_features", 32));
    LAYER("unflatten", "u", INTS("shape", 2, 4, 4));
    LAYER("conv2d", "conv", strata_attr_int("out_channels", 3), INTS("kernel_size", 3), INTS("padding", 1));
    LAYER0("batch_norm2d", "bn");
    LAYER0("relu", "act");
    LAYER("dropout2d", "drop", strata_attr_float("p", 0.25));
    LAYER("max_pool2d", "pool", INTS("kernel_size", 2));
    LAYER("conv_transpose2d", "up", strata_attr_int("out_channels", 2), INTS("kernel_size", 2), INTS("stride", 2));
    LAYER("sn_conv2d", "snc", strata_attr_int("out_channels", 3), INTS("kernel_size", 3), INTS("padding", 1));
    LAYER("avg_pool2d", "avg", INTS("kernel_size", 2));
    LAYER0("flatten", "flat");
    LAYER0("batch_norm1d", "bn1");
    LAYER("sn_linear", "head", strata_attr_int("out_features", 3));
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_F32, 2, zs, zv, &z);
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 1, ys, yv, &y);
    if (!rc)
        rc = train_once(rt, m, &z, 1, y);
    strata_tensor_release(z);
    strata_tensor_release(y);
    strata_model_destroy(m);
    return rc;
}

/* word ids (3) -> embedding 2 -> two-layer bidirectional lstm 3 (batch first) -> gru 3 -> relu rnn 2 ->
 * (6) -> linear 3 */
static strata_status rnn_step(strata_runtime *rt, strata_device *dev)
{
    static const int64_t xv[B * 3] = {1, 4, 2, 5, 0, 3};
    static const int64_t yv[B] = {1, 0};
    const int64_t xs[2] = {B, 3}, ys[1] = {B}, ex[1] = {3};
    strata_model *m = NULL;
    strata_tensor *x = NULL, *y = NULL;
    strata_status rc = strata_model_create(dev, &m);
    if (!rc)
        rc = strata_model_add_input(m, "x", STRATA_I64, 1, ex);
    LAYER("embedding", "emb", strata_attr_int("num_embeddings", 6), strata_attr_int("embedding_dim", 2));
    LAYER("lstm", "lstm", strata_attr_int("hidden_size", 3), strata_attr_int("num_layers", 2),
          strata_attr_int("bidirectional", 1), strata_attr_float("dropout", 0.25), strata_attr_int("batch_first", 1));
    LAYER("gru", "gru", strata_attr_int("hidden_size", 3), strata_attr_int("batch_first", 1));
    LAYER("rnn", "rnn", strata_attr_int("hidden_size", 2), strata_attr_string("nonlinearity", "relu"),
          strata_attr_int("batch_first", 1));
    LAYER0("flatten", "flat");
    LAYER("linear", "fc", strata_attr_int("out_features", 3));
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 2, xs, xv, &x);
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 1, ys, yv, &y);
    if (!rc)
        rc = train_once(rt, m, &x, 1, y);
    strata_tensor_release(x);
    strata_tensor_release(y);
    strata_model_destroy(m);
    return rc;
}

/* story (3, 2) and query (2) word ids -> memn2n (vocabulary 6, two hops), @p tying "adjacent" or
 * "layerwise" */
static strata_status memnet_step(strata_runtime *rt, strata_device *dev, const char *tying)
{
    static const int64_t sv[B * 3 * 2] = {1, 2, 3, 0, 4, 5, 2, 2, 5, 1, 0, 0}, qv[B * 2] = {3, 1, 4, 0};
    static const int64_t yv[B] = {4, 1};
    const int64_t ss[3] = {B, 3, 2}, qs[2] = {B, 2}, ys[1] = {B}, s_ex[2] = {3, 2}, q_ex[1] = {2};
    const char *const ins[2] = {"story", "query"};
    const strata_attr at[] = {strata_attr_int("vocab_size", 6),      strata_attr_int("embedding_dim", 4),
                              strata_attr_int("hops", 2),            strata_attr_string("encoding", "position"),
                              strata_attr_int("temporal", 1),        strata_attr_float("init_std", 0.5),
                              strata_attr_string("tying", tying),    strata_attr_int("mask_empty", 1)};
    strata_model *m = NULL;
    strata_tensor *in[2] = {NULL, NULL}, *y = NULL;
    strata_status rc = strata_model_create(dev, &m);
    if (!rc)
        rc = strata_model_add_input(m, "story", STRATA_I64, 2, s_ex);
    if (!rc)
        rc = strata_model_add_input(m, "query", STRATA_I64, 1, q_ex);
    if (!rc)
        rc = strata_model_add_layer(m, "memn2n", "mn", at, (int)(sizeof at / sizeof at[0]), ins, 2);
    if (!rc)
        rc = strata_model_add_output(m, "mn");
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 3, ss, sv, &in[0]);
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 2, qs, qv, &in[1]);
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 1, ys, yv, &y);
    if (!rc)
        rc = train_once(rt, m, in, 2, y);
    strata_tensor_release(in[0]);
    strata_tensor_release(in[1]);
    strata_tensor_release(y);
    strata_model_destroy(m);
    return rc;
}

/* The four models, one step each; the first failure. */
static strata_status full_step(strata_runtime *rt, strata_device *dev)
{
    strata_status rc = conv_step(rt, dev);
    if (!rc)
        rc = rnn_step(rt, dev);
    if (!rc)
        rc = memnet_step(rt, dev, "adjacent");
    if (!rc)
        rc = memnet_step(rt, dev, "layerwise");
    return rc;
}

/* ---- the sweep ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every N up to @p full, then every @p stride-th from @p full + @p offset. */
static void run_over_n(const char *backend, int64_t full, int64_t stride, int64_t offset)
{
    double t0 = now_s();
    /* an OpenCL driver allocates on its own threads: only Strata's blocks are compared there */
    const int heap_check = HEAP_CHECK && strcmp(backend, "opencl") != 0;
    strata_runtime *rt = make_runtime(!strcmp(backend, "opencl"));
    strata_device *dev;
    if (strata_device_get(rt, backend, 0, &dev) != STRATA_OK) {
        print_message("[ skipped  ] no %s device: %s\n", backend, strata_last_error());
        strata_runtime_destroy(rt);
        skip();
    }
    hook_scan();
    /* warm-up: whatever is allocated once and kept (caches, thread pools,
     * oneDNN's workspace, the graph's node array) is allocated now */
    ST_OK(full_step(rt, dev));
    ST_OK(full_step(rt, dev));
    size_t base = heap_in_use();
    int64_t live_base[2], live[2];
    hook_live(&live_base[0], &live_base[1]);
    hook_reset_breakdown();
    hook_set(0);
    strata_status first = full_step(rt, dev);
    int64_t total = hook_count();
    hook_off();
    ST_OK(first);
    char where[1024];
    hook_breakdown(where, sizeof where);
    assert_true(total > 100);
    if (heap_check)
        assert_int_equal(heap_in_use(), base);
    hook_live(&live[0], &live[1]);
    assert_int_equal(live[0], live_base[0]);
    assert_int_equal(live[1], live_base[1]);
    int64_t nomem = 0, ok = 0, tried = 0, bad = 0;
    for (int64_t n = 1; n <= total; n += n < full ? 1 : stride) {
        if (n == full)
            n += offset % stride;
        tried++;
        strata_clear_error();
        hook_set(n);
        strata_status rc = full_step(rt, dev);
        hook_off();
        const char *msg = strata_last_error();
        char why[200] = "";
        if (rc == STRATA_OK)
            ok++; /* the failed allocation had a fallback */
        else if (rc != STRATA_E_NOMEM)
            snprintf(why, sizeof why, "expected E_NOMEM, got %s", strata_status_name(rc));
        else if (nomem++, !strstr(msg, "bytes"))
            snprintf(why, sizeof why, "E_NOMEM without the size in bytes");
        size_t now = heap_in_use();
        if (heap_check && now != base) {
            size_t at = strlen(why);
            snprintf(why + at, sizeof why - at, "%sheap: %zd bytes leaked", at ? "; " : "", (ssize_t)(now - base));
            base = now; /* report each leak once */
        }
        hook_live(&live[0], &live[1]);
        if (live[0] != live_base[0] || live[1] != live_base[1]) {
            size_t at = strlen(why);
            snprintf(why + at, sizeof why - at, "%sStrata holds %lld more blocks, %lld more bytes", at ? "; " : "",
                     (long long)(live[0] - live_base[0]), (long long)(live[1] - live_base[1]));
            live_base[0] = live[0], live_base[1] = live[1];
        }
        /* every finding is listed, then the test fails */
        if (why[0] && bad++ < 40)
            print_error("%s: allocation %lld of %lld failed: %s: %s: \"%s\"\n", backend, (long long)n,
                        (long long)total, why, strata_status_name(rc), msg);
    }
    if (bad)
        fail_msg("%s: %lld of %lld failed allocations handled badly", backend, (long long)bad, (long long)tried);
    /* and the runtime still works */
    ST_OK(full_step(rt, dev));
    hook_unscan();
    strata_runtime_destroy(rt);
    print_message("[ figures  ] %s: %lld allocations in the step (%s); %lld failed in turn (every one up to %lld, "
                  "then every %lld-th): %lld E_NOMEM, %lld recovered, 0 leaks (%s); %.1f s\n",
                  backend, (long long)total, where, (long long)tried, (long long)full, (long long)stride,
                  (long long)nomem, (long long)ok,
                  UNDER_ASAN    ? "LeakSanitizer checks under ASan"
                  : heap_check ? "the heap and Strata's own blocks"
                               : "Strata's own blocks",
                  now_s() - t0);
}

static void test_step_ref(void **state)
{
    (void)state;
    run_over_n("ref", FULL_SWEEP, STRIDE, 0);
}

static void test_step_cpu(void **state)
{
    (void)state;
    run_over_n("cpu", FULL_SWEEP, STRIDE, 3);
}

/* opencl (PoCL in CI): each step launches kernels and reads back, so every
 * allocation up to OCL_FULL, then a stride; skipped without a device. */
static void test_step_opencl(void **state)
{
    (void)state;
    run_over_n("opencl", OCL_FULL, OCL_STRIDE, 0);
}

int main(int argc, char **argv)
{
    (void)argc;
#if HEAP_CHECK
    /* freed blocks must leave "in use" at once: no per-thread cache */
    const char *tun = getenv("GLIBC_TUNABLES");
    if (!tun || !strstr(tun, "glibc.malloc.tcache_count=0")) {
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
        execv("/proc/self/exe", argv);
        perror("test_alloc_fault_plugins: re-exec without the malloc cache");
        return 1;
    }
#else
    (void)argv;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_ref),
        cmocka_unit_test(test_step_cpu),
        cmocka_unit_test(test_step_opencl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
