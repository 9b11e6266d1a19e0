/* alloc.c - storage through a device's backend. Host-memory backends with
 * no allocator of their own get 64-byte aligned host blocks. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Freed host blocks are kept for the next storage of the same rounded size.
 * A training step frees and allocates the same sizes every step; given back
 * to malloc, blocks at the top of its heap are returned to the system and
 * their pages faulted in again on the next step (on one virtual machine that
 * was 245 page faults and 3.3 ms of W4's 5.5 ms step). Blocks from 4 KB
 * (below, malloc's own bins reuse them) up to 64 MB; 128 MB cached at most,
 * the blocks freed longest ago given back first.
 * STRATA_HOST_CACHE=0 turns it off (what a leak or use-after-free checker
 * wants: a cached block is neither). */
#define HOST_CACHE_MIN_BLOCK ((size_t)4096)
#define HOST_CACHE_MAX_BLOCK ((size_t)64 << 20)
#define HOST_CACHE_BYTES ((size_t)128 << 20)

/* The size of a host block for @p bytes: 64-byte multiples, 64 at least. */
static size_t host_block_size(size_t bytes)
{
    size_t rounded = (bytes + 63) & ~(size_t)63;
    return rounded ? rounded : 64;
}

st_host_cache *st_host_cache_new(void)
{
    if (!st_env_flag("STRATA_HOST_CACHE", 1)) /* off: freed blocks go back at once, for the memory checkers */
        return NULL;
    st_host_cache *c = calloc(1, sizeof *c); /* not st_calloc: fault injection counts tensors' memory */
    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

void st_host_cache_free(st_host_cache *c)
{
    if (!c)
        return;
    for (int k = 0; k < c->n; k++)
        free(c->block[k]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Removes entry @p k, keeping the others in the order they were freed. */
static void host_cache_remove(st_host_cache *c, int k)
{
    c->bytes -= c->size[k];
    c->n--;
    memmove(&c->size[k], &c->size[k + 1], sizeof c->size[0] * (size_t)(c->n - k));
    memmove(&c->block[k], &c->block[k + 1], sizeof c->block[0] * (size_t)(c->n - k));
}

/* A cached block of exactly @p size bytes, the latest freed, or NULL. */
static void *host_cache_take(st_host_cache *c, size_t size)
{
    if (!c || size < HOST_CACHE_MIN_BLOCK || size > HOST_CACHE_MAX_BLOCK)
        return NULL;
    void *p = NULL;
    pthread_mutex_lock(&c->lock);
    for (int k = c->n - 1; k >= 0; k--) {
        if (c->size[k] != size)
            continue;
        p = c->block[k];
        host_cache_remove(c, k);
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return p;
}

/* Keeps @p p (@p size bytes) for reuse, making room by freeing the blocks
 * freed longest ago (sizes a finished phase, such as evaluation, used stay
 * pinned otherwise); frees it when it is outside the cached sizes. */
static void host_cache_put(st_host_cache *c, void *p, size_t size)
{
    if (!c || size < HOST_CACHE_MIN_BLOCK || size > HOST_CACHE_MAX_BLOCK) {
        free(p);
        return;
    }
    void *evicted[ST_HOST_CACHE_ENTRIES];
    int n_evicted = 0;
    pthread_mutex_lock(&c->lock);
    while (c->n == ST_HOST_CACHE_ENTRIES || c->bytes + size > HOST_CACHE_BYTES) {
        evicted[n_evicted++] = c->block[0];
        host_cache_remove(c, 0);
    }
    c->size[c->n] = size;
    c->block[c->n++] = p;
    c->bytes += size;
    pthread_mutex_unlock(&c->lock);
    for (int k = 0; k < n_evicted; k++)
        free(evicted[k]);
}

strata_status st_storage_zero(st_storage *s)
{
    strata_device *dev = s->dev;
    const strata_backend_def *b = &dev->be->def;
    if (!s->bytes)
        return STRATA_OK;
    if (dev->host_memory || !b->copy_from_host) {
        memset(s->data, 0, s->bytes);
        return STRATA_OK;
    }
    void *z = st_fault_alloc_hit() ? NULL : calloc(1, s->bytes);
    if (!z)
        return st_error(STRATA_E_NOMEM, "out of memory zeroing %zu bytes", s->bytes);
    strata_status rc = b->copy_from_host(b->self, dev->index, s->data, 0, z, s->bytes);
    free(z);
    return rc;
}

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
        if (!s->data && bytes) { /* strata_backend.h allows NULL for 0 bytes only: a copy would crash in it */
            free(s);
            return st_error(STRATA_E_BACKEND, "%s: the backend's alloc returned STRATA_OK and no memory for %zu bytes",
                            dev->name, bytes);
        }
        if (zero && (rc = st_storage_zero(s)) != STRATA_OK) {
            b->free(b->self, dev->index, s->data);
            free(s);
            return rc;
        }
    } else {
        size_t rounded = host_block_size(bytes);
        if (!st_fault_alloc_hit() && !(s->data = host_cache_take(dev->rt->host_cache, rounded)))
            s->data = aligned_alloc(64, rounded);
        if (!s->data) {
            free(s);
            return st_error(STRATA_E_NOMEM, "%s: out of memory allocating %zu bytes", dev->name, bytes);
        }
        if (zero)
            memset(s->data, 0, rounded);
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
        host_cache_put(s->dev->rt->host_cache, s->data, host_block_size(s->bytes));
    }
    free(s);
}
