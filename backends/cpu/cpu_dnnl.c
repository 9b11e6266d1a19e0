/*
 * cpu_dnnl.c - the linear layer's forward as a oneDNN matmul primitive
 * (y = x w^T + b with the bias fused), with a small cache of primitives
 * keyed by shape.
 *
 * Why a primitive here and dnnl_sgemm elsewhere: measured on the W1 shapes,
 * the primitive's brgemm kernels with the fused bias beat sgemm plus a
 * separate bias pass for x w^T ((128, 512) x (512, 512)^T: 179 us against
 * 220 us on 2 threads), while for the backward products (NN and TN) sgemm
 * is as fast or faster and needs no cache.
 *
 * Creating a primitive costs far more than running one (descriptor, JIT),
 * so each distinct (rows, out, in, bias) keeps one, with its memory objects,
 * in a table of CPU_DNNL_CACHE entries replaced round-robin. One mutex
 * guards the table and the execution (memory handles are set per call), so
 * concurrent runtimes stay correct; the primitive itself uses every thread.
 * The engine and stream are made on first use, not at load, to keep
 * `strata info` fast.
 */
#include <pthread.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_internal.h"

#define CPU_DNNL_CACHE 16

typedef struct cpu_dnnl_entry {
    int64_t rows, out, in;
    int bias;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, b, dst;
} cpu_dnnl_entry;

static pthread_mutex_t cpu_dnnl_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t cpu_dnnl_engine;
static dnnl_stream_t cpu_dnnl_stream;
static int cpu_dnnl_broken; /* engine creation failed: never try again */
static cpu_dnnl_entry cpu_dnnl_cache[CPU_DNNL_CACHE];
static int cpu_dnnl_used, cpu_dnnl_next;

static void cpu_dnnl_entry_free(cpu_dnnl_entry *e)
{
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    if (e->src)
        dnnl_memory_destroy(e->src);
    if (e->wei)
        dnnl_memory_destroy(e->wei);
    if (e->b)
        dnnl_memory_destroy(e->b);
    if (e->dst)
        dnnl_memory_destroy(e->dst);
    memset(e, 0, sizeof *e);
}

/* Builds the primitive for (rows, out, in, bias) into @p e; 0 on success.
 * Refuses oneDNN's reference implementation: sgemm is faster than that. */
static int cpu_dnnl_entry_make(cpu_dnnl_entry *e, int64_t rows, int64_t out, int64_t in, int bias)
{
    dnnl_memory_desc_t src_md, wei_md, b_md, dst_md;
    dnnl_dims_t src_dims = {rows, in}, wei_dims = {in, out}, b_dims = {1, out}, dst_dims = {rows, out};
    dnnl_dims_t wei_strides = {1, in}; /* w is stored (out, in): element (k, n) at n * in + k */
    if (dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_f32, dnnl_ab) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&wei_md, 2, wei_dims, dnnl_f32, wei_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, dnnl_f32, dnnl_ab) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab) != dnnl_success)
        return 1;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &src_md, &wei_md, bias ? &b_md : NULL, &dst_md) != dnnl_success)
        return 1;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &md, NULL, cpu_dnnl_engine, NULL) != dnnl_success)
        return 1;
    const char *impl = NULL;
    int ok = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
             strncmp(impl, "ref", 3) != 0;
    ok = ok && dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    ok = ok && dnnl_memory_create(&e->src, &src_md, cpu_dnnl_engine, DNNL_MEMORY_NONE) == dnnl_success;
    ok = ok && dnnl_memory_create(&e->wei, &wei_md, cpu_dnnl_engine, DNNL_MEMORY_NONE) == dnnl_success;
    ok = ok && (!bias || dnnl_memory_create(&e->b, &b_md, cpu_dnnl_engine, DNNL_MEMORY_NONE) == dnnl_success);
    ok = ok && dnnl_memory_create(&e->dst, &dst_md, cpu_dnnl_engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cpu_dnnl_entry_free(e);
        return 1;
    }
    e->rows = rows;
    e->out = out;
    e->in = in;
    e->bias = bias;
    return 0;
}

/* The cached entry for the shape, made (evicting round-robin) if missing;
 * NULL when oneDNN cannot give a fast primitive. Called with the lock held. */
static cpu_dnnl_entry *cpu_dnnl_lookup(int64_t rows, int64_t out, int64_t in, int bias)
{
    for (int k = 0; k < cpu_dnnl_used; k++) {
        cpu_dnnl_entry *e = &cpu_dnnl_cache[k];
        if (e->rows == rows && e->out == out && e->in == in && e->bias == bias)
            return e;
    }
    if (!cpu_dnnl_engine && !cpu_dnnl_broken) {
        if (dnnl_engine_create(&cpu_dnnl_engine, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&cpu_dnnl_stream, cpu_dnnl_engine, dnnl_stream_default_flags) != dnnl_success) {
            if (cpu_dnnl_engine)
                dnnl_engine_destroy(cpu_dnnl_engine);
            cpu_dnnl_engine = NULL;
            cpu_dnnl_broken = 1;
        }
    }
    if (cpu_dnnl_broken)
        return NULL;
    int slot = cpu_dnnl_used < CPU_DNNL_CACHE ? cpu_dnnl_used : cpu_dnnl_next;
    cpu_dnnl_entry *e = &cpu_dnnl_cache[slot];
    cpu_dnnl_entry_free(e); /* the evicted shape, if any */
    if (cpu_dnnl_used < CPU_DNNL_CACHE)
        cpu_dnnl_used++;
    else
        cpu_dnnl_next = (cpu_dnnl_next + 1) % CPU_DNNL_CACHE;
    if (cpu_dnnl_entry_make(e, rows, out, in, bias)) {
        /* remember the failure as an entry without a primitive */
        e->rows = rows;
        e->out = out;
        e->in = in;
        e->bias = bias;
    }
    return e;
}

int cpu_dnnl_linear(float *y, const float *x, const float *w, const float *bias, int64_t rows, int64_t out,
                    int64_t in)
{
    int done = 0;
    pthread_mutex_lock(&cpu_dnnl_lock);
    cpu_dnnl_entry *e = cpu_dnnl_lookup(rows, out, in, bias != NULL);
    if (e && e->prim) {
        dnnl_memory_set_data_handle(e->src, (void *)x);
        dnnl_memory_set_data_handle(e->wei, (void *)w);
        if (bias)
            dnnl_memory_set_data_handle(e->b, (void *)bias);
        dnnl_memory_set_data_handle(e->dst, y);
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->wei}, {DNNL_ARG_DST, e->dst}, {DNNL_ARG_BIAS, e->b}};
        done = dnnl_primitive_execute(e->prim, cpu_dnnl_stream, bias ? 4 : 3, args) == dnnl_success &&
               dnnl_stream_wait(cpu_dnnl_stream) == dnnl_success;
    }
    pthread_mutex_unlock(&cpu_dnnl_lock);
    return done;
}

void cpu_dnnl_shutdown(void)
{
    pthread_mutex_lock(&cpu_dnnl_lock);
    for (int k = 0; k < CPU_DNNL_CACHE; k++)
        cpu_dnnl_entry_free(&cpu_dnnl_cache[k]);
    cpu_dnnl_used = cpu_dnnl_next = 0;
    if (cpu_dnnl_stream)
        dnnl_stream_destroy(cpu_dnnl_stream);
    if (cpu_dnnl_engine)
        dnnl_engine_destroy(cpu_dnnl_engine);
    cpu_dnnl_stream = NULL;
    cpu_dnnl_engine = NULL;
    cpu_dnnl_broken = 0;
    pthread_mutex_unlock(&cpu_dnnl_lock);
}
