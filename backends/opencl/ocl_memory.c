/*
 * ocl_memory.c - device memory: a caching allocator per device, and the
 * copies the core asks for.
 *
 * Training allocates the same sizes every step, so freed buffers are kept
 * on a per-device free list by size class (powers of two up to 1 MiB, then
 * whole MiB) and handed out again; creating OpenCL buffers is slow on some
 * drivers. At most a quarter of the device memory (2 GiB at most) stays
 * cached; a failed allocation releases the cache and tries once more.
 * Reuse is safe without waiting: the queue is in order, so a kernel that
 * writes a reused buffer runs after every kernel that read the old tensor.
 */
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

#define OCL_MIB ((size_t)1 << 20)

static size_t ocl_size_class(size_t bytes)
{
    if (bytes > OCL_MIB)
        return ocl_round_up(bytes, OCL_MIB);
    size_t c = 256;
    while (c < bytes)
        c <<= 1;
    return c;
}

static size_t ocl_cache_cap(const ocl_device *d)
{
    size_t cap = (size_t)(d->global_mem / 4);
    size_t max = (size_t)2 << 30;
    return cap && cap < max ? cap : max;
}

static ocl_device *ocl_dev(void *self, int dev)
{
    ocl_backend *b = self;
    return b && dev >= 0 && dev < b->n_devices ? &b->devs[dev] : NULL;
}

void ocl_pool_trim(ocl_device *d)
{
    pthread_mutex_lock(&d->lock);
    for (int k = 0; k < d->n_free; k++)
        clReleaseMemObject(d->free_blocks[k].mem);
    d->n_free = 0;
    d->cached_bytes = 0;
    pthread_mutex_unlock(&d->lock);
}

/* A cached block of class @p cls, or NULL; d->lock held. */
static cl_mem ocl_pool_take(ocl_device *d, size_t cls)
{
    for (int k = d->n_free - 1; k >= 0; k--) {
        if (d->free_blocks[k].bytes == cls) {
            cl_mem m = d->free_blocks[k].mem;
            d->free_blocks[k] = d->free_blocks[--d->n_free];
            d->cached_bytes -= cls;
            return m;
        }
    }
    return NULL;
}

static strata_status ocl_alloc_on(ocl_device *d, size_t bytes, cl_mem *out)
{
    *out = NULL;
    if (!bytes)
        return STRATA_OK;
    strata_status s = ocl_device_open(d);
    if (s != STRATA_OK)
        return s;
    size_t cls = ocl_size_class(bytes);
    pthread_mutex_lock(&d->lock);
    cl_mem m = ocl_pool_take(d, cls);
    pthread_mutex_unlock(&d->lock);
    if (m) {
        *out = m;
        return STRATA_OK;
    }
    cl_int err = CL_SUCCESS;
    cl_ulong max_alloc = 0;
    if (clGetDeviceInfo(d->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL) == CL_SUCCESS &&
        max_alloc && cls > max_alloc) /* out of memory for this device, not a backend failure */
        return ocl_host->set_error(STRATA_E_NOMEM,
                                   "%s: a buffer of %zu bytes is larger than the device's largest allocation (%llu "
                                   "bytes, CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                                   d->name, cls, (unsigned long long)max_alloc);
    m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, cls, NULL, &err);
    if (!m) { /* release what the cache holds and try once more */
        ocl_pool_trim(d);
        m = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, cls, NULL, &err);
    }
    if (!m)
        return ocl_cl_fail(d->name, "clCreateBuffer", err);
    *out = m;
    return STRATA_OK;
}

strata_status ocl_alloc(void *self, int dev, size_t bytes, void **out)
{
    ocl_device *d = ocl_dev(self, dev);
    if (!d)
        return ocl_host->set_error(STRATA_E_INVALID, "opencl: no device %d", dev);
    cl_mem m = NULL;
    strata_status s = ocl_alloc_on(d, bytes, &m);
    *out = m;
    return s;
}

void ocl_free(void *self, int dev, void *ptr)
{
    ocl_device *d = ocl_dev(self, dev);
    cl_mem m = ptr;
    if (!d || !m)
        return;
    size_t bytes = 0;
    if (clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS) {
        clReleaseMemObject(m);
        return;
    }
    pthread_mutex_lock(&d->lock);
    int keep = d->cached_bytes + bytes <= ocl_cache_cap(d);
    if (keep && d->n_free == d->cap_free) {
        int cap = d->cap_free ? d->cap_free * 2 : 64;
        ocl_block *nb = realloc(d->free_blocks, sizeof *nb * (size_t)cap);
        if (nb) {
            d->free_blocks = nb;
            d->cap_free = cap;
        } else {
            keep = 0;
        }
    }
    if (keep) {
        d->free_blocks[d->n_free].mem = m;
        d->free_blocks[d->n_free].bytes = bytes;
        d->n_free++;
        d->cached_bytes += bytes;
    }
    pthread_mutex_unlock(&d->lock);
    if (!keep)
        clReleaseMemObject(m);
}

strata_status ocl_scratch(ocl_device *d, size_t bytes, cl_mem *out)
{
    return ocl_alloc_on(d, bytes, out);
}

strata_status ocl_copy_to_host(void *self, int dev, void *dst, const void *src, size_t src_offset, size_t bytes)
{
    ocl_device *d = ocl_dev(self, dev);
    if (!bytes)
        return STRATA_OK;
    if (!d || !d->queue || !src)
        return ocl_host->set_error(STRATA_E_INVALID, "opencl: copy to the host from an unknown buffer");
    cl_int err = clEnqueueReadBuffer(d->queue, (cl_mem)src, CL_TRUE, src_offset, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clEnqueueReadBuffer", err);
}

strata_status ocl_copy_from_host(void *self, int dev, void *dst, size_t dst_offset, const void *src, size_t bytes)
{
    ocl_device *d = ocl_dev(self, dev);
    if (!bytes)
        return STRATA_OK;
    if (!d || !d->queue || !dst)
        return ocl_host->set_error(STRATA_E_INVALID, "opencl: copy from the host to an unknown buffer");
    /* blocking: the caller may free or reuse src as soon as this returns */
    cl_int err = clEnqueueWriteBuffer(d->queue, (cl_mem)dst, CL_TRUE, dst_offset, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clEnqueueWriteBuffer", err);
}

strata_status ocl_copy_on_device(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                 size_t src_offset, size_t bytes)
{
    ocl_device *d = ocl_dev(self, dev);
    if (!bytes)
        return STRATA_OK;
    if (!d || !d->queue || !dst || !src)
        return ocl_host->set_error(STRATA_E_INVALID, "opencl: device copy between unknown buffers");
    cl_int err =
        clEnqueueCopyBuffer(d->queue, (cl_mem)src, (cl_mem)dst, src_offset, dst_offset, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clEnqueueCopyBuffer", err);
}

strata_status ocl_synchronize(void *self, int dev)
{
    ocl_device *d = ocl_dev(self, dev);
    if (!d || !d->queue)
        return STRATA_OK;
    cl_int err = clFinish(d->queue);
    return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clFinish", err);
}
