/* alloc.c - storage through a device's backend. Host-memory backends with
 * no allocator of their own get 64-byte aligned host blocks. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

strata_status st_storage_alloc(strata_device *dev, size_t bytes, int zero, st_storage **out)
{
    st_storage *s = st_calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM;
    s->refcount = 1;
    s->dev = dev;
    s->bytes = bytes;
    const strata_backend_def *b = &dev->be->def;
    if (b->alloc) {
        strata_clear_error();
        strata_status rc = st_fault_alloc_hit() ? st_error(STRATA_E_NOMEM, "out of device memory (injected fault)")
                                                : b->alloc(b->self, dev->index, bytes, &s->data);
        if (rc != STRATA_OK) {
            free(s);
            if (!strata_last_error()[0])
                st_error(rc, "%s", strata_status_text(rc));
            return st_error_context(rc, "%s: allocating %zu bytes", dev->name, bytes);
        }
        if (zero && bytes) {
            if (dev->host_memory) {
                memset(s->data, 0, bytes);
            } else {
                void *z = st_fault_alloc_hit() ? NULL : calloc(1, bytes);
                if (!z) {
                    b->free(b->self, dev->index, s->data);
                    free(s);
                    return st_error(STRATA_E_NOMEM, "out of memory zeroing %zu bytes", bytes);
                }
                rc = b->copy_from_host(b->self, dev->index, s->data, 0, z, bytes);
                free(z);
                if (rc != STRATA_OK) {
                    b->free(b->self, dev->index, s->data);
                    free(s);
                    return rc;
                }
            }
        }
    } else {
        size_t rounded = (bytes + 63) & ~(size_t)63;
        s->data = st_fault_alloc_hit() ? NULL : aligned_alloc(64, rounded ? rounded : 64);
        if (!s->data) {
            free(s);
            return st_error(STRATA_E_NOMEM, "%s: out of memory allocating %zu bytes", dev->name, bytes);
        }
        if (zero)
            memset(s->data, 0, rounded ? rounded : 64);
    }
    __atomic_add_fetch(&dev->rt->live_storages, 1, __ATOMIC_RELAXED);
    *out = s;
    return STRATA_OK;
}

void st_storage_release(st_storage *s)
{
    if (!s || --s->refcount > 0)
        return;
    __atomic_sub_fetch(&s->dev->rt->live_storages, 1, __ATOMIC_RELAXED);
    const strata_backend_def *b = &s->dev->be->def;
    if (b->alloc) {
        if (b->free)
            b->free(b->self, s->dev->index, s->data);
    } else {
        free(s->data);
    }
    free(s);
}
