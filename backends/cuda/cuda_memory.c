/*
 * cuda_memory.c - per-device state, the caching allocator and host copies.
 *
 * Allocator (after PyTorch's): sizes are rounded up (512 B under 1 MiB,
 * 2 MiB above); a freed block goes to the device's cache and is handed out
 * again for a request of at least half its size. Reuse is safe without
 * events because every user of the memory is queued on the device's one
 * stream: the next owner's work runs after the previous owner's. When
 * cudaMalloc fails, the cache is returned to the driver and the allocation
 * tried once more.
 *
 * Copies to and from the host go through a pinned staging buffer (up to
 * its size; larger ones copy from pageable memory directly), so small
 * copies are true DMA transfers; copy_to_host waits on an event, spinning
 * (the events have no cudaEventBlockingSync: a blocking wait's wake-up is
 * slow next to the short waits of a training step).
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "cuda_libs.h"

#define CUDA_STAGING_BYTES ((size_t)8 << 20)
#define CUDA_SMALL_LIMIT ((size_t)1 << 20)

struct cuda_block {
    void *ptr;
    size_t bytes;
    cuda_block *next;
};

static size_t cuda_round(size_t bytes)
{
    size_t unit = bytes <= CUDA_SMALL_LIMIT ? 512 : ((size_t)2 << 20);
    return (bytes + unit - 1) / unit * unit;
}

static size_t cuda_hash(const cuda_device *d, const void *ptr)
{
    return ((uintptr_t)ptr >> 9) % d->live_cap;
}

/* ---- devices -------------------------------------------------------------- */

/* Destroys what cuda_device_create made (any part of it). */
static void cuda_device_teardown(cuda_device *d)
{
    if (d->staging)
        cudaFreeHost(d->staging);
    if (d->done)
        cudaEventDestroy(d->done);
    if (d->staged)
        cudaEventDestroy(d->staged);
    if (d->stream)
        cudaStreamDestroy(d->stream);
    free(d->live);
    d->staging = NULL;
    d->staging_bytes = 0;
    d->done = d->staged = NULL;
    d->stream = NULL;
    d->live = NULL;
    d->live_cap = 0;
}

static strata_status cuda_device_create(cuda_device *d)
{
    strata_status s = STRATA_OK;
    cudaError_t e = cudaSetDevice(d->index);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&d->done, cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&d->staged, cudaEventDisableTiming);
    if (e != cudaSuccess) {
        s = cuda_fail_rt(e, "creating the stream and events of the device", __FILE__, __LINE__);
        cuda_device_teardown(d);
        return s;
    }
    d->live_cap = 4096;
    d->live = calloc(d->live_cap, sizeof *d->live);
    if (!d->live) {
        cuda_device_teardown(d);
        return cuda_host->set_error(STRATA_E_NOMEM, "cuda: out of host memory for the allocator's table");
    }
    /* Without pinned memory copies still work, from pageable memory. */
    if (cudaHostAlloc(&d->staging, CUDA_STAGING_BYTES, cudaHostAllocDefault) == cudaSuccess) {
        d->staging_bytes = CUDA_STAGING_BYTES;
    } else {
        (void)cudaGetLastError();
        d->staging = NULL;
        d->staging_bytes = 0;
    }
    d->ready = 1;
    return STRATA_OK;
}

strata_status cuda_device_get(cuda_backend *be, int dev, cuda_device **out)
{
    if (!be || dev < 0 || dev >= be->n_devices)
        return cuda_host->set_error(STRATA_E_INVALID, "cuda: device %d does not exist (%d device(s))", dev,
                                    be ? be->n_devices : 0);
    cuda_device *d = &be->devices[dev];
    if (!d->ready) {
        CUDA_OK(cuda_device_create(d));
    } else {
        /* The current device is per thread and anyone may change it:
         * asking is a runtime-local read, no driver call. */
        int cur = -1;
        if (cudaGetDevice(&cur) != cudaSuccess || cur != d->index)
            CUDA_TRY(cudaSetDevice(d->index));
    }
    *out = d;
    return STRATA_OK;
}

strata_status cuda_call_device(const strata_kernel_call *call, cuda_device **out)
{
    return cuda_device_get(call->backend_self, call->device, out);
}

static void cuda_free_list(cuda_block *b)
{
    while (b) {
        cuda_block *next = b->next;
        cudaFree(b->ptr);
        free(b);
        b = next;
    }
}

void cuda_device_release(cuda_device *d)
{
    if (!d->ready)
        return;
    cudaSetDevice(d->index);
    cudaStreamSynchronize(d->stream);
    cuda_libs_release(d);
    /* Blocks still live belong to tensors that outlived the runtime. */
    for (size_t k = 0; k < d->live_cap; k++)
        cuda_free_list(d->live[k]);
    cuda_free_list(d->cached);
    d->cached = NULL;
    d->workspace = NULL; /* one of the blocks freed above */
    d->workspace_bytes = 0;
    cuda_device_teardown(d);
    d->ready = 0;
}

/* ---- the caching allocator ----------------------------------------------- */

/* Returns every cached block of @p d to the driver. */
static void cuda_empty_cache(cuda_device *d)
{
    cudaStreamSynchronize(d->stream);
    cuda_free_list(d->cached);
    d->cached = NULL;
    d->bytes_cached = 0;
}

static strata_status cuda_block_alloc(cuda_device *d, size_t bytes, void **out)
{
    size_t need = cuda_round(bytes);
    cuda_block *b = NULL;
    for (cuda_block **pp = &d->cached; *pp; pp = &(*pp)->next) {
        if ((*pp)->bytes >= need) {
            if ((*pp)->bytes / 2 <= need) { /* sorted: the first fit is the best fit */
                b = *pp;
                *pp = b->next;
                d->bytes_cached -= b->bytes;
            }
            break;
        }
    }
    if (!b) {
        b = malloc(sizeof *b);
        if (!b)
            return cuda_host->set_error(STRATA_E_NOMEM, "cuda: out of host memory");
        b->bytes = need;
        cudaError_t e = cudaMalloc(&b->ptr, need);
        if (e == cudaErrorMemoryAllocation && d->cached) {
            (void)cudaGetLastError();
            cuda_empty_cache(d);
            e = cudaMalloc(&b->ptr, need);
        }
        if (e != cudaSuccess) {
            free(b);
            strata_status s = cuda_fail_rt(e, "cudaMalloc(&ptr, bytes)", __FILE__, __LINE__);
            return cuda_host->set_error(s, "cuda:%d: cannot allocate %zu bytes (%zu in use, %zu cached): %s",
                                        d->index, need, d->bytes_live, d->bytes_cached,
                                        e == cudaErrorMemoryAllocation ? "out of device memory"
                                                                       : cudaGetErrorName(e));
        }
    }
    size_t h = cuda_hash(d, b->ptr);
    b->next = d->live[h];
    d->live[h] = b;
    d->bytes_live += b->bytes;
    if (d->bytes_live > d->bytes_peak)
        d->bytes_peak = d->bytes_live;
    *out = b->ptr;
    return STRATA_OK;
}

static void cuda_block_free(cuda_device *d, void *ptr)
{
    if (!ptr)
        return;
    cuda_block **pp = &d->live[cuda_hash(d, ptr)];
    while (*pp && (*pp)->ptr != ptr)
        pp = &(*pp)->next;
    cuda_block *b = *pp;
    if (!b)
        return; /* not ours: never happens through the core */
    *pp = b->next;
    d->bytes_live -= b->bytes;
    cuda_block **at = &d->cached;
    while (*at && (*at)->bytes < b->bytes)
        at = &(*at)->next;
    b->next = *at;
    *at = b;
    d->bytes_cached += b->bytes;
}

strata_status cuda_mem_alloc(void *self, int dev, size_t bytes, void **out)
{
    *out = NULL;
    if (!bytes)
        return STRATA_OK;
    cuda_device *d;
    CUDA_OK(cuda_device_get(self, dev, &d));
    return cuda_block_alloc(d, bytes, out);
}

void cuda_mem_free(void *self, int dev, void *ptr)
{
    cuda_device *d;
    if (ptr && cuda_device_get(self, dev, &d) == STRATA_OK)
        cuda_block_free(d, ptr);
}

strata_status cuda_temp_alloc(cuda_device *d, size_t bytes, void **out)
{
    *out = NULL;
    return bytes ? cuda_block_alloc(d, bytes, out) : STRATA_OK;
}

void cuda_temp_free(cuda_device *d, void *ptr)
{
    cuda_block_free(d, ptr);
}

strata_status cuda_workspace(cuda_device *d, size_t bytes, void **out)
{
    if (bytes > d->workspace_bytes) {
        cuda_block_free(d, d->workspace); /* stream order: the last user finishes first */
        d->workspace = NULL;
        d->workspace_bytes = 0;
        CUDA_OK(cuda_block_alloc(d, bytes, &d->workspace));
        d->workspace_bytes = bytes;
    }
    *out = d->workspace;
    return STRATA_OK;
}

/* ---- copies ---------------------------------------------------------------- */

strata_status cuda_copy_to_host(void *self, int dev, void *dst, const void *src, size_t src_offset, size_t bytes)
{
    if (!bytes)
        return STRATA_OK;
    cuda_device *d;
    CUDA_OK(cuda_device_get(self, dev, &d));
    const char *from = (const char *)src + src_offset;
    if (d->staging && bytes <= d->staging_bytes) {
        /* Earlier uses of the staging buffer are ahead of us on the stream. */
        CUDA_TRY(cudaMemcpyAsync(d->staging, from, bytes, cudaMemcpyDeviceToHost, d->stream));
        CUDA_TRY(cudaEventRecord(d->done, d->stream));
        CUDA_TRY(cudaEventSynchronize(d->done));
        memcpy(dst, d->staging, bytes);
        return STRATA_OK;
    }
    CUDA_TRY(cudaMemcpyAsync(dst, from, bytes, cudaMemcpyDeviceToHost, d->stream));
    CUDA_TRY(cudaEventRecord(d->done, d->stream));
    CUDA_TRY(cudaEventSynchronize(d->done));
    return STRATA_OK;
}

strata_status cuda_copy_from_host(void *self, int dev, void *dst, size_t dst_offset, const void *src, size_t bytes)
{
    if (!bytes)
        return STRATA_OK;
    cuda_device *d;
    CUDA_OK(cuda_device_get(self, dev, &d));
    char *to = (char *)dst + dst_offset;
    if (d->staging && bytes <= d->staging_bytes) {
        /* The host may write the buffer only after its last transfer left it;
         * then the copy runs on the stream while the caller goes on. */
        CUDA_TRY(cudaEventSynchronize(d->staged));
        memcpy(d->staging, src, bytes);
        CUDA_TRY(cudaMemcpyAsync(to, d->staging, bytes, cudaMemcpyHostToDevice, d->stream));
        CUDA_TRY(cudaEventRecord(d->staged, d->stream));
        return STRATA_OK;
    }
    /* From pageable memory the call returns once src has been consumed. */
    CUDA_TRY(cudaMemcpyAsync(to, src, bytes, cudaMemcpyHostToDevice, d->stream));
    return STRATA_OK;
}

strata_status cuda_copy_on_device(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                  size_t src_offset, size_t bytes)
{
    if (!bytes)
        return STRATA_OK;
    cuda_device *d;
    CUDA_OK(cuda_device_get(self, dev, &d));
    CUDA_TRY(cudaMemcpyAsync((char *)dst + dst_offset, (const char *)src + src_offset, bytes,
                             cudaMemcpyDeviceToDevice, d->stream));
    return STRATA_OK;
}

strata_status cuda_synchronize(void *self, int dev)
{
    cuda_device *d;
    CUDA_OK(cuda_device_get(self, dev, &d));
    CUDA_TRY(cudaEventRecord(d->done, d->stream));
    CUDA_TRY(cudaEventSynchronize(d->done));
    return STRATA_OK;
}
