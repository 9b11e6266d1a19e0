/*
 * cpu_conv_dnnl.c - large convolutions through oneDNN's convolution
 * primitives, with blocked memory chosen by oneDNN (format "any": nChw8c
 * activations, OIhw8i8o weights on AVX2) and reorders from and to the plain
 * NCHW tensors of the ABI around each call.
 *
 * When (cpu_conv_dnnl_wins): groups 1, and on AVX2 at least 16 input and
 * output channels for the forward, 8 for the backward ops (the table at
 * CPU_CONV_DNNL_MIN_CH_*; a
 * ResNet-like 64 -> 64 3 x 3 layer at 56 x 56, batch 8, 2 threads: forward
 * 10.3 ms against 14.0 with cpu_conv.c's tiles, backward data 10.3 against
 * 14.6, backward weights 14.0 against 32.1, reorders included). Below that
 * the tiles win or tie (LeNet's 6 -> 16 layer, 2 threads: 0.31 / 0.36-0.46
 * / 0.35-0.42 ms here against 0.30 / 0.44 / 0.37; its 1 -> 6 layer: 0.28 /
 * 1.15 / 1.01 against 0.16 / 0.33 / 0.15), and with plain NCHW memory
 * oneDNN only offers im2col + sgemm ("gemm:jit"), slower than both.
 * Implementations named "ref" or "gemm" (which oneDNN picks, for one, when
 * the channels are not a multiple of 8) are refused, and the caller's
 * tiles run instead.
 *
 * Creating a primitive costs far more than running one (descriptors, JIT),
 * so each distinct (kind, geometry, bias) keeps its primitive, reorders and
 * memory objects in a table of CPU_CONV_DNNL_CACHE entries replaced
 * round-robin; a failed creation is remembered too. The blocked tensors
 * live in one workspace that grows to the largest layer's need and is
 * shared by every entry: one mutex guards the table, the workspace and the
 * execution (memory handles are set per call), so concurrent runtimes stay
 * correct while the primitive itself uses every thread. The engine and
 * stream are made on first use, not at load, to keep `strata info` fast.
 */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_conv.h"

#define CPU_CONV_DNNL_CACHE 64
/* Input and output channels from which oneDNN's blocked kernels, reorders
 * included, beat cpu_conv.c's tiles (measured, one thread, batch 32, 3 x 3;
 * forward / backward data / backward weights in ms, oneDNN against tiles):
 *   8 -> 8 at 28 x 28     0.76 / 0.48 / 0.47  against  0.49 / 0.93 / 0.54
 *   8 -> 16 at 14 x 14    0.24 / 0.21 / 0.24  against  0.25 / 0.35 / 0.32
 *   16 -> 16 at 14 x 14   0.46 / 0.34 / 0.45  against  0.45 / 0.66 / 0.59
 *   32 -> 64 at 8 x 8     0.86 / 0.73 / 1.03  against  1.68 / 1.27 / 1.68 */
#define CPU_CONV_DNNL_MIN_CH_FORWARD 16
#define CPU_CONV_DNNL_MIN_CH_BACKWARD 8
/*
 * Where oneDNN runs AVX-512 (its nChw16c kernels), it wins on far smaller
 * layers. Measured on a 2-core Xeon with AVX-512, 2 threads, `strata bench
 * --op OP --shape ...` with the tiles forced and with oneDNN forced, ms
 * (forward / backward data / backward weights):
 *   64x1x28x28 -> 6, 5x5 pad 2 (LeNet 1)    tiles 0.15 / 0.30 / 0.16    oneDNN 0.24 / 2.0 / 0.20
 *   64x1x28x28 -> 16, 3x3 pad 1             tiles 0.27 / 0.24 / 0.21    oneDNN 0.19 / 0.94 / 0.18
 *   64x3x32x32 -> 16, 3x3 pad 1             tiles 0.56 / 0.70 / 0.57    oneDNN 0.39 / 1.3 / 0.37
 *   64x6x14x14 -> 16, 5x5 (LeNet 2)         tiles 0.28 / 0.45 / 0.35    oneDNN 0.12 / 0.29 / 0.28
 *   32x8x28x28 -> 8, 3x3 pad 1              tiles 0.25 / 0.46 / 0.27    oneDNN 0.21 / 0.46 / 0.18
 *   32x16x14x14 -> 6, 3x3 pad 1             tiles 0.09 / 0.23 / 0.12    oneDNN 0.11 / 0.11 / 0.12
 *   32x4x16x16 -> 32, 3x3 pad 1             tiles 0.17 / 0.18 / 0.19    oneDNN 0.10 / 0.26 / 0.24
 *   32x12x16x16 -> 12, 3x3 pad 1            tiles 0.15 / 0.27 / 0.20    oneDNN 0.10 / 0.15 / 0.25
 *   64x1x28x28 -> 64, 4x4 stride 2 pad 1    tiles 0.33 / 0.30 / 0.42    oneDNN 0.29 / 1.4 / 0.20
 *   64x3x32x32 -> 16, 3x3 stride 2 pad 1    tiles 0.26 / 0.29 / 0.31    oneDNN 0.08 / 0.38 / 0.07
 * So there: the forward from 8 output channels, the backward data from 6
 * input channels (its output; with fewer, oneDNN's kernels are several
 * times slower) and 6 output channels, the backward weights from 8 output
 * channels (two losses above, 32x4 -> 32 and 32x12 -> 12, against larger
 * gains on first layers).
 */
#define CPU_CONV_DNNL512_MIN_OC_FORWARD 8
#define CPU_CONV_DNNL512_MIN_CH_DATA 6
#define CPU_CONV_DNNL512_MIN_OC_WEIGHT 8

static pthread_once_t cpu_conv_dnnl_isa_once = PTHREAD_ONCE_INIT;
static int cpu_conv_dnnl_avx512;
static cpu_conv_choice cpu_conv_dnnl_choice = CPU_CONV_AUTO; /* STRATA_CPU_CONV, set at load */

int cpu_conv_dnnl_choose(const char *v)
{
    if (!v || !*v || !strcmp(v, "auto"))
        cpu_conv_dnnl_choice = CPU_CONV_AUTO;
    else if (!strcmp(v, "tiles"))
        cpu_conv_dnnl_choice = CPU_CONV_TILES;
    else if (!strcmp(v, "onednn"))
        cpu_conv_dnnl_choice = CPU_CONV_ONEDNN;
    else {
        cpu_conv_dnnl_choice = CPU_CONV_AUTO;
        return -1;
    }
    return 0;
}

static void cpu_conv_dnnl_isa(void)
{
    /* the ISA oneDNN will use: the machine's, capped by ONEDNN_MAX_CPU_ISA */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    cpu_conv_dnnl_avx512 = (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

/* oneDNN 2.6's convolutions split their work for omp_get_max_threads()
 * threads, and some (the backward weights) wait at a barrier for all of
 * them: inside a caller's parallel region, whose nested regions get one
 * thread, they never return (test_conformance_cpu_nested). The tiles take
 * any team. (OMP_THREAD_LIMIT is applied to the thread count at load.) */
static int cpu_conv_dnnl_safe(void)
{
    return !omp_in_parallel();
}

/* Whether oneDNN's primitives beat cpu_conv.c's tiles on a layer of @p g (measured, above). */
static int cpu_conv_dnnl_wins(cpu_conv_kind kind, const cpu_conv_geom *g)
{
    if (g->groups != 1 || g->N < 1 || cpu_conv_dnnl_choice == CPU_CONV_TILES || !cpu_conv_dnnl_safe())
        return 0;
    if (cpu_conv_dnnl_choice == CPU_CONV_ONEDNN)
        return 1;
    pthread_once(&cpu_conv_dnnl_isa_once, cpu_conv_dnnl_isa);
    if (cpu_conv_dnnl_avx512) {
        if (kind == CPU_CONV_FORWARD)
            return g->OC >= CPU_CONV_DNNL512_MIN_OC_FORWARD;
        if (kind == CPU_CONV_BACKWARD_DATA)
            return g->C >= CPU_CONV_DNNL512_MIN_CH_DATA && g->OC >= CPU_CONV_DNNL512_MIN_CH_DATA;
        return g->OC >= CPU_CONV_DNNL512_MIN_OC_WEIGHT;
    }
    const int64_t min_ch = kind == CPU_CONV_FORWARD ? CPU_CONV_DNNL_MIN_CH_FORWARD : CPU_CONV_DNNL_MIN_CH_BACKWARD;
    return g->C >= min_ch && g->OC >= min_ch;
}

/* Arguments of one call: the user's plain tensors (0: out, 1: in0, 2: in1,
 * 3: bias) and, for each of 0..2, the blocked copy the primitive reads or
 * writes (or the user's own memory when the layouts agree). */
typedef struct cpu_conv_dnnl_entry {
    int used;
    cpu_conv_kind kind;
    cpu_conv_geom g;
    int bias;
    dnnl_primitive_t prim;           /* NULL: no fast primitive for this key */
    dnnl_primitive_t reorder[3];     /* user <-> blocked for out, in0, in1; NULL when not needed */
    dnnl_memory_t user[4], inner[3]; /* inner[k] NULL when user[k] is used directly */
    size_t inner_bytes[3];
    int arg[3];                      /* DNNL_ARG_* of out, in0, in1 */
} cpu_conv_dnnl_entry;

static pthread_mutex_t cpu_conv_dnnl_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t cpu_conv_dnnl_engine;
static dnnl_stream_t cpu_conv_dnnl_stream;
static int cpu_conv_dnnl_broken; /* engine creation failed: never try again */
static cpu_conv_dnnl_entry cpu_conv_dnnl_cache[CPU_CONV_DNNL_CACHE];
static int cpu_conv_dnnl_used, cpu_conv_dnnl_next;
static void *cpu_conv_dnnl_ws; /* the blocked tensors of the running call */
static size_t cpu_conv_dnnl_ws_bytes;

static void cpu_conv_dnnl_entry_free(cpu_conv_dnnl_entry *e)
{
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    for (int k = 0; k < 3; k++) {
        if (e->reorder[k])
            dnnl_primitive_destroy(e->reorder[k]);
        if (e->inner[k])
            dnnl_memory_destroy(e->inner[k]);
    }
    for (int k = 0; k < 4; k++)
        if (e->user[k])
            dnnl_memory_destroy(e->user[k]);
    memset(e, 0, sizeof *e);
}

static int cpu_conv_dnnl_same_key(const cpu_conv_dnnl_entry *e, cpu_conv_kind kind, const cpu_conv_geom *g, int bias)
{
    const cpu_conv_geom *a = &e->g;
    return e->used && e->kind == kind && e->bias == bias && a->N == g->N && a->C == g->C && a->H == g->H &&
           a->W == g->W && a->OC == g->OC && a->KH == g->KH && a->KW == g->KW && a->OH == g->OH && a->OW == g->OW &&
           a->sh == g->sh && a->sw == g->sw && a->ph == g->ph && a->pw == g->pw && a->dh == g->dh &&
           a->dw == g->dw && a->groups == g->groups;
}

/* The blocked memory for user tensor @p k, its reorder (user to blocked
 * when @p into, else blocked to user); 0 on success. */
static int cpu_conv_dnnl_bind(cpu_conv_dnnl_entry *e, int k, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *want, int into)
{
    if (dnnl_memory_create(&e->user[k], user_md, cpu_conv_dnnl_engine, DNNL_MEMORY_NONE) != dnnl_success)
        return 1;
    if (dnnl_memory_desc_equal(user_md, want))
        return 0;
    e->inner_bytes[k] = dnnl_memory_desc_get_size(want);
    if (dnnl_memory_create(&e->inner[k], want, cpu_conv_dnnl_engine, DNNL_MEMORY_NONE) != dnnl_success)
        return 1;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_status_t st = into ? dnnl_reorder_primitive_desc_create(&rpd, user_md, cpu_conv_dnnl_engine, want,
                                                                  cpu_conv_dnnl_engine, NULL)
                            : dnnl_reorder_primitive_desc_create(&rpd, want, cpu_conv_dnnl_engine, user_md,
                                                                  cpu_conv_dnnl_engine, NULL);
    if (st != dnnl_success)
        return 1;
    st = dnnl_primitive_create(&e->reorder[k], rpd);
    dnnl_primitive_desc_destroy(rpd);
    return st != dnnl_success;
}

/* Builds the primitive for (kind, g, bias) into @p e; 0 on success. */
static int cpu_conv_dnnl_make(cpu_conv_dnnl_entry *e, cpu_conv_kind kind, const cpu_conv_geom *g, int bias)
{
    dnnl_dims_t xd = {g->N, g->C, g->H, g->W}, wd = {g->OC, g->C, g->KH, g->KW}, yd = {g->N, g->OC, g->OH, g->OW};
    dnnl_dims_t bd = {g->OC}, strides = {g->sh, g->sw}, dil = {g->dh - 1, g->dw - 1}, pl = {g->ph, g->pw};
    /* right padding as oneDNN counts it: what the last window reaches past the input */
    dnnl_dims_t pr = {(g->OH - 1) * g->sh + (g->KH - 1) * g->dh + 1 - g->H - g->ph,
                      (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1 - g->W - g->pw};
    dnnl_memory_desc_t x_any, w_any, y_any, x_md, w_md, y_md, b_md;
    if (dnnl_memory_desc_init_by_tag(&x_any, 4, xd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&y_any, 4, yd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&x_md, 4, xd, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_md, 4, wd, dnnl_f32, dnnl_oihw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&y_md, 4, yd, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a) != dnnl_success)
        return 1;
    /* the forward descriptor: the primitive itself, or the hint a backward one needs */
    dnnl_convolution_desc_t fd, bd_desc;
    if (dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &x_any, &w_any,
                                                   bias ? &b_md : NULL, &y_any, strides, dil, pl, pr) != dnnl_success)
        return 1;
    dnnl_primitive_desc_t hint = NULL, pd = NULL;
    if (dnnl_primitive_desc_create(&hint, &fd, NULL, cpu_conv_dnnl_engine, NULL) != dnnl_success)
        return 1;
    dnnl_status_t st = dnnl_success;
    if (kind == CPU_CONV_FORWARD) {
        pd = hint;
        hint = NULL;
    } else if (kind == CPU_CONV_BACKWARD_DATA) {
        st = dnnl_dilated_convolution_backward_data_desc_init(&bd_desc, dnnl_convolution_direct, &x_any, &w_any,
                                                              &y_any, strides, dil, pl, pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &bd_desc, NULL, cpu_conv_dnnl_engine, hint);
    } else {
        st = dnnl_dilated_convolution_backward_weights_desc_init(&bd_desc, dnnl_convolution_direct, &x_any, &w_any,
                                                                 NULL, &y_any, strides, dil, pl, pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(&pd, &bd_desc, NULL, cpu_conv_dnnl_engine, hint);
    }
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    if (st != dnnl_success || !pd)
        return 1;
    const char *impl = NULL;
    int ok = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
             strncmp(impl, "ref", 3) != 0 && !strstr(impl, "gemm");
    /* out, in0, in1 as (user layout, the primitive's layout, DNNL_ARG_*, copied in?) */
    const dnnl_memory_desc_t *user[3], *want[3];
    if (kind == CPU_CONV_FORWARD) {
        user[0] = &y_md, user[1] = &x_md, user[2] = &w_md;
        want[0] = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        want[1] = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        want[2] = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e->arg[0] = DNNL_ARG_DST, e->arg[1] = DNNL_ARG_SRC, e->arg[2] = DNNL_ARG_WEIGHTS;
    } else if (kind == CPU_CONV_BACKWARD_DATA) {
        user[0] = &x_md, user[1] = &y_md, user[2] = &w_md;
        want[0] = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0);
        want[1] = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
        want[2] = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e->arg[0] = DNNL_ARG_DIFF_SRC, e->arg[1] = DNNL_ARG_DIFF_DST, e->arg[2] = DNNL_ARG_WEIGHTS;
    } else {
        user[0] = &w_md, user[1] = &y_md, user[2] = &x_md;
        want[0] = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0);
        want[1] = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
        want[2] = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        e->arg[0] = DNNL_ARG_DIFF_WEIGHTS, e->arg[1] = DNNL_ARG_DIFF_DST, e->arg[2] = DNNL_ARG_SRC;
    }
    for (int k = 0; ok && k < 3; k++)
        ok = want[k] && cpu_conv_dnnl_bind(e, k, user[k], want[k], k > 0) == 0;
    ok = ok && (!bias || dnnl_memory_create(&e->user[3], &b_md, cpu_conv_dnnl_engine, DNNL_MEMORY_NONE) ==
                             dnnl_success);
    ok = ok && dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return !ok;
}

/* The cached entry for the key, made (evicting round-robin) if missing;
 * NULL when there is no engine. Called with the lock held. */
static cpu_conv_dnnl_entry *cpu_conv_dnnl_lookup(cpu_conv_kind kind, const cpu_conv_geom *g, int bias)
{
    for (int k = 0; k < cpu_conv_dnnl_used; k++)
        if (cpu_conv_dnnl_same_key(&cpu_conv_dnnl_cache[k], kind, g, bias))
            return &cpu_conv_dnnl_cache[k];
    if (!cpu_conv_dnnl_engine && !cpu_conv_dnnl_broken) {
        if (dnnl_engine_create(&cpu_conv_dnnl_engine, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&cpu_conv_dnnl_stream, cpu_conv_dnnl_engine, dnnl_stream_default_flags) !=
                dnnl_success) {
            if (cpu_conv_dnnl_engine)
                dnnl_engine_destroy(cpu_conv_dnnl_engine);
            cpu_conv_dnnl_engine = NULL;
            cpu_conv_dnnl_broken = 1;
        }
    }
    if (cpu_conv_dnnl_broken)
        return NULL;
    int slot = cpu_conv_dnnl_used < CPU_CONV_DNNL_CACHE ? cpu_conv_dnnl_used : cpu_conv_dnnl_next;
    cpu_conv_dnnl_entry *e = &cpu_conv_dnnl_cache[slot];
    cpu_conv_dnnl_entry_free(e); /* the evicted key, if any */
    if (cpu_conv_dnnl_used < CPU_CONV_DNNL_CACHE)
        cpu_conv_dnnl_used++;
    else
        cpu_conv_dnnl_next = (cpu_conv_dnnl_next + 1) % CPU_CONV_DNNL_CACHE;
    if (cpu_conv_dnnl_make(e, kind, g, bias))
        cpu_conv_dnnl_entry_free(e); /* remembered below as a key without a primitive */
    e->used = 1;
    e->kind = kind;
    e->g = *g;
    e->bias = bias;
    return e;
}

/* Grows the workspace to @p bytes; 0 on success. Called with the lock held. */
static int cpu_conv_dnnl_reserve(size_t bytes)
{
    if (bytes <= cpu_conv_dnnl_ws_bytes)
        return 0;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0)
        return 1;
    free(cpu_conv_dnnl_ws);
    cpu_conv_dnnl_ws = p;
    cpu_conv_dnnl_ws_bytes = bytes;
    return 0;
}

/* Runs @p prim on the stream with @p n args; 0 on success. */
static int cpu_conv_dnnl_exec(dnnl_primitive_t prim, int n, const dnnl_exec_arg_t *args)
{
    return dnnl_primitive_execute(prim, cpu_conv_dnnl_stream, n, args) != dnnl_success;
}

int cpu_conv_dnnl(cpu_conv_kind kind, float *out, const float *in0, const float *in1, const float *bias,
                  const cpu_conv_geom *g)
{
    if ((bias && kind != CPU_CONV_FORWARD) || !cpu_conv_dnnl_wins(kind, g))
        return 0;
    int done = 0;
    pthread_mutex_lock(&cpu_conv_dnnl_lock);
    cpu_conv_dnnl_entry *e = cpu_conv_dnnl_lookup(kind, g, bias != NULL);
    size_t need = 0, off[3] = {0, 0, 0};
    for (int k = 0; e && e->prim && k < 3; k++) {
        off[k] = need;
        need += (e->inner_bytes[k] + 63) / 64 * 64;
    }
    if (e && e->prim && cpu_conv_dnnl_reserve(need) == 0) {
        void *ptr[4] = {out, (void *)in0, (void *)in1, (void *)bias};
        int ok = 1;
        for (int k = 0; k < 4; k++)
            if (e->user[k])
                ok = ok && dnnl_memory_set_data_handle(e->user[k], ptr[k]) == dnnl_success;
        for (int k = 0; k < 3; k++)
            if (e->inner[k])
                ok = ok && dnnl_memory_set_data_handle(e->inner[k], (char *)cpu_conv_dnnl_ws + off[k]) ==
                               dnnl_success;
        /* inputs into the primitive's layouts */
        for (int k = 1; ok && k < 3; k++) {
            if (e->reorder[k]) {
                dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->user[k]}, {DNNL_ARG_TO, e->inner[k]}};
                ok = cpu_conv_dnnl_exec(e->reorder[k], 2, r) == 0;
            }
        }
        dnnl_exec_arg_t args[4];
        int n = 0;
        for (int k = 0; k < 3; k++)
            args[n++] = (dnnl_exec_arg_t){e->arg[k], e->inner[k] ? e->inner[k] : e->user[k]};
        if (bias)
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->user[3]};
        ok = ok && cpu_conv_dnnl_exec(e->prim, n, args) == 0;
        if (ok && e->reorder[0]) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->inner[0]}, {DNNL_ARG_TO, e->user[0]}};
            ok = cpu_conv_dnnl_exec(e->reorder[0], 2, r) == 0;
        }
        done = ok && dnnl_stream_wait(cpu_conv_dnnl_stream) == dnnl_success;
    }
    pthread_mutex_unlock(&cpu_conv_dnnl_lock);
    return done;
}

void cpu_conv_dnnl_shutdown(void)
{
    pthread_mutex_lock(&cpu_conv_dnnl_lock);
    for (int k = 0; k < CPU_CONV_DNNL_CACHE; k++)
        cpu_conv_dnnl_entry_free(&cpu_conv_dnnl_cache[k]);
    cpu_conv_dnnl_used = cpu_conv_dnnl_next = 0;
    free(cpu_conv_dnnl_ws);
    cpu_conv_dnnl_ws = NULL;
    cpu_conv_dnnl_ws_bytes = 0;
    if (cpu_conv_dnnl_stream)
        dnnl_stream_destroy(cpu_conv_dnnl_stream);
    if (cpu_conv_dnnl_engine)
        dnnl_engine_destroy(cpu_conv_dnnl_engine);
    cpu_conv_dnnl_stream = NULL;
    cpu_conv_dnnl_engine = NULL;
    cpu_conv_dnnl_broken = 0;
    pthread_mutex_unlock(&cpu_conv_dnnl_lock);
}
