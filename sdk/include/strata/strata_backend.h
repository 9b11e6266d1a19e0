/*
 * strata_backend.h - the ABI for backends (compute devices).
 *
 * A backend is a plugin (see strata_plugin.h: one entry symbol, init gets
 * the host table) whose init calls host->register_backend() with a
 * strata_backend_def, then host->register_kernel() for each op it
 * implements. For every op it lacks, the core runs the op's composite
 * definition, or the host fallback (copies to host memory, a host kernel,
 * copies back, one warning per op and backend; STRATA_STRICT=1 makes it an error).
 *
 * A backend that finds no device (no driver, no GPU) still registers, with
 * device_count() returning 0 and unavailable() saying why in words. It must
 * not fail init for that: strata info shows the reason.
 *
 * The core calls device_count() once, when the runtime first needs this
 * backend's devices (a device named by --backend or STRATA_BACKEND, the
 * default device reaching this backend's priority, strata info), from the
 * thread using the runtime, and perhaps never; device_name() and
 * unavailable() come after it. A slow driver probe belongs there rather
 * than in init, so a process that never uses the backend never pays for it.
 */
#ifndef STRATA_BACKEND_H
#define STRATA_BACKEND_H

#include <math.h>

#include "strata_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Flags of strata_backend_def.flags. */
enum {
    /** Storage is ordinary host memory: data pointers are host addresses,
     *  and an op's host_kernel (plugins' ops have one; the core's ops do
     *  not) runs on it directly, without copies. An op with neither a
     *  kernel here nor a host_kernel still runs on a host backend with
     *  copies. */
    STRATA_BACKEND_HOST_MEMORY = 1u << 0
};

/**
 * A backend. All function pointers receive def->self. Pointers marked
 * optional may be NULL.
 * @since 1.0
 */
struct strata_backend_def {
    size_t struct_size;
    void *ext;
    const char *name;  /* "ref", "cpu", "cuda", "opencl": [a-z0-9_]+ */
    int32_t priority;  /* default device = highest priority with a device; ref is 0 */
    uint32_t flags;
    void *self;

    int (*device_count)(void *self);
    /** Human name of device @p dev ("NVIDIA H100 (sm_90, 80 GiB)"). */
    const char *(*device_name)(void *self, int dev);
    /** Why there is no device ("no CUDA driver found"); optional. */
    const char *(*unavailable)(void *self);

    /** Device memory. Optional for HOST_MEMORY backends (the core then uses
     *  aligned host allocations). alloc of 0 bytes may return NULL. */
    strata_status (*alloc)(void *self, int dev, size_t bytes, void **out);
    void (*free)(void *self, int dev, void *ptr);
    /** Copies; offsets in bytes from the buffer handle. Optional for
     *  HOST_MEMORY backends. Blocking with respect to the host. */
    strata_status (*copy_to_host)(void *self, int dev, void *dst, const void *src, size_t src_offset,
                                  size_t bytes);
    strata_status (*copy_from_host)(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                    size_t bytes);
    strata_status (*copy_on_device)(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                    size_t src_offset, size_t bytes);
    /** Waits for queued work; optional. */
    strata_status (*synchronize)(void *self, int dev);

    /** Capability query: 1 if this backend's kernel for @p op handles these
     *  inputs and attrs on @p dev. Optional: NULL means "every op I
     *  registered a kernel for, any shape". */
    int (*supports_op)(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                       int n_inputs, const strata_attr *attrs, int n_attrs);

    /** Frees self at runtime destruction; optional. */
    void (*destroy)(void *self);
};

/* ======================================================================= */
/* Philox4x32-10: the one random number generator of every backend         */
/* ======================================================================= */

/*
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC 2011), with the published multipliers and Weyl constants.
 *
 * Strata's stream: element i of a random op with attrs seed S and offset O
 * takes 32-bit word (i % 4) of philox(counter = {c0, c1, 0, 0}, key =
 * {S lo, S hi}) where c = O + i / 4 split into c0 (low) and c1 (high).
 * uniform = (word >> 8) * 2^-24, in [0, 1).
 * normal element i: Box-Muller, sqrt(-2 ln u1) cos(2 pi u2), with u1 and
 * u2 from words 2*(i%2) and 2*(i%2)+1 of counter O + i / 2 (u1 in (0, 1]).
 * Every backend must produce these exact values.
 */
typedef struct strata_philox_block {
    uint32_t v[4];
} strata_philox_block;

static inline strata_philox_block strata_philox4x32(uint64_t counter, uint64_t seed)
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    strata_philox_block b = {{c0, c1, c2, c3}};
    return b;
}

/** Uniform float in [0, 1) for element @p i of the stream (seed, offset). */
static inline float strata_philox_uniform(uint64_t seed, uint64_t offset, uint64_t i)
{
    strata_philox_block b = strata_philox4x32(offset + i / 4, seed);
    return (float)(b.v[i % 4] >> 8) * (1.0f / 16777216.0f);
}

/** Standard normal for element @p i: Box-Muller over words (2*(i%2),
 *  2*(i%2)+1) of block offset + i/2, u1 in (0, 1], computed in double. */
static inline float strata_philox_normal(uint64_t seed, uint64_t offset, uint64_t i)
{
    strata_philox_block b = strata_philox4x32(offset + i / 2, seed);
    unsigned w = (unsigned)(2 * (i % 2));
    double u1 = ((double)(b.v[w] >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(b.v[w + 1] >> 8) * (1.0 / 16777216.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/** Counter blocks a random op of @p n elements consumes: the core advances
 *  the runtime's offset by this so consecutive ops never overlap. */
static inline uint64_t strata_philox_blocks(uint64_t n)
{
    return (n + 1) / 2 + 1;
}

#ifdef __cplusplus
}
#endif
#endif /* STRATA_BACKEND_H */
