/* tensor.c - tensor headers, views, host reads and writes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "strata/strata_half.h"

int64_t st_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    return n;
}

void st_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        strides[k] = s;
        s *= shape[k] > 0 ? shape[k] : 1;
    }
}

static strata_status check_geometry(int dtype, int ndim, const int64_t *shape, size_t *bytes)
{
    if (ndim < 0 || ndim > STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "tensor rank %d is outside [0, %d]", ndim, STRATA_MAX_DIMS);
    if (!shape && ndim)
        return st_error(STRATA_E_INVALID, "tensor of rank %d with a NULL shape", ndim);
    size_t es = strata_dtype_size(dtype);
    if (!es)
        return st_error(STRATA_E_DTYPE, "tensor dtype %d (%s) is not supported", dtype, strata_dtype_name(dtype));
    uint64_t n = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0)
            return st_error(STRATA_E_INVALID, "tensor dimension %d is negative (%lld)", k, (long long)shape[k]);
        if (shape[k] && n > (UINT64_MAX / 16) / (uint64_t)shape[k])
            return st_error(STRATA_E_INVALID, "tensor size overflows at dimension %d (%lld)", k,
                            (long long)shape[k]);
        n *= (uint64_t)shape[k];
    }
    *bytes = (size_t)(n * es);
    return STRATA_OK;
}

strata_status st_tensor_new(strata_device *dev, int dtype, int ndim, const int64_t *shape, int zero,
                            strata_tensor **out)
{
    if (!dev || !out)
        return st_error(STRATA_E_INVALID, "tensor: device and output must not be NULL");
    size_t bytes = 0;
    strata_status rc = check_geometry(dtype, ndim, shape, &bytes);
    if (rc)
        return rc;
    strata_tensor *t = st_calloc(1, sizeof *t);
    if (!t)
        return STRATA_E_NOMEM;
    /* device memory is zeroed by the backend's fill kernel where it has one,
     * else by a copy from a zeroed host block (st_storage_alloc) */
    const int zero_by_kernel = zero && bytes && !dev->host_memory;
    rc = st_storage_alloc(dev, bytes, zero && !zero_by_kernel, &t->st);
    if (rc) {
        free(t);
        return rc;
    }
    t->refcount = 1;
    t->rt = dev->rt;
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    st_contiguous_strides(ndim, t->shape, t->strides);
    t->is_leaf = 1;
    if (zero_by_kernel) {
        int done = 0;
        rc = st_zero_on_device(t, &done);
        if (!rc && !done)
            rc = st_storage_zero(t->st);
        if (rc) {
            strata_tensor_release(t);
            return rc;
        }
    }
    *out = t;
    return STRATA_OK;
}

/* 0 when every element of the view lies inside @p bytes of storage (a view
 * op's inferred geometry is a plugin's word, and shape products can wrap). */
static strata_status check_view_extent(int dtype, int ndim, const int64_t *shape, const int64_t *strides,
                                       size_t byte_offset, size_t bytes)
{
    if (ndim < 0 || ndim > STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "view rank %d is outside [0, %d]", ndim, STRATA_MAX_DIMS);
    int64_t lo = 0, hi = 0; /* element offsets reached, relative to byte_offset */
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0)
            return st_error(STRATA_E_INVALID, "view dimension %d is negative (%lld)", k, (long long)shape[k]);
        if (!shape[k])
            return STRATA_OK; /* no elements */
    }
    /* a stride-0 view (expand) stays inside any storage at any size, but its size in bytes must fit
     * strata_tensor_numel and the reads: (2^62 + 1) x 4 wrapped to 4 elements, read whole with 16 bytes */
    const int64_t es = (int64_t)strata_dtype_size(dtype);
    int64_t n = es;
    for (int k = 0; k < ndim; k++) {
        if (__builtin_mul_overflow(n, shape[k], &n)) {
            char sh[128];
            return st_error(STRATA_E_SHAPE, "a view of shape %s has more elements than a tensor can hold",
                            st_shape_str(sh, sizeof sh, ndim, shape));
        }
    }
    for (int k = 0; k < ndim; k++) {
        int64_t reach;
        if (__builtin_mul_overflow(shape[k] - 1, strides[k], &reach) ||
            __builtin_add_overflow(reach < 0 ? lo : hi, reach, reach < 0 ? &lo : &hi))
            goto outside;
    }
    int64_t first, last;
    if (__builtin_mul_overflow(lo, es, &first) || __builtin_add_overflow(hi, 1, &last) ||
        __builtin_mul_overflow(last, es, &last) ||
        (first < 0 && -(uint64_t)first > byte_offset) || byte_offset > bytes ||
        (uint64_t)last > bytes - byte_offset)
        goto outside;
    return STRATA_OK;
outside:;
    char sh[128];
    return st_error(STRATA_E_SHAPE, "a view of shape %s at byte %zu reaches outside its %zu-byte storage",
                    st_shape_str(sh, sizeof sh, ndim, shape), byte_offset, bytes);
}

strata_status st_tensor_view(strata_tensor *base, int ndim, const int64_t *shape, const int64_t *strides,
                             size_t byte_offset, strata_tensor **out)
{
    strata_status rc = check_view_extent(base->dtype, ndim, shape, strides, byte_offset, base->st->bytes);
    if (rc)
        return rc;
    strata_tensor *t = st_calloc(1, sizeof *t);
    if (!t)
        return STRATA_E_NOMEM;
    t->refcount = 1;
    t->rt = base->rt;
    t->st = base->st;
    t->st->refcount++;
    t->dtype = base->dtype;
    t->ndim = ndim;
    if (ndim) {
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
        memcpy(t->strides, strides, sizeof(int64_t) * (size_t)ndim);
    }
    t->byte_offset = byte_offset;
    t->is_leaf = 1;
    *out = t;
    return STRATA_OK;
}

void st_tensor_fill_desc(const strata_tensor *t, strata_tensor_desc *d)
{
    memset(d, 0, sizeof *d);
    d->struct_size = sizeof *d;
    d->dtype = t->dtype;
    d->ndim = t->ndim;
    for (int k = 0; k < t->ndim; k++) {
        d->shape[k] = t->shape[k];
        d->strides[k] = t->strides[k];
    }
    d->data = t->st ? t->st->data : NULL;
    d->byte_offset = t->byte_offset;
}

void *st_tensor_host_ptr(const strata_tensor *t)
{
    if (!t->st->dev->host_memory)
        return NULL;
    return (char *)t->st->data + t->byte_offset;
}

strata_status strata_tensor_zeros(strata_device *dev, strata_dtype dtype, int ndim, const int64_t *shape,
                                  strata_tensor **out)
{
    return st_tensor_new(dev, (int)dtype, ndim, shape, 1, out);
}

strata_status strata_tensor_from_host(strata_device *dev, strata_dtype dtype, int ndim, const int64_t *shape,
                                      const void *data, strata_tensor **out)
{
    strata_tensor *t;
    strata_status rc = st_tensor_new(dev, (int)dtype, ndim, shape, 0, &t);
    if (rc)
        return rc;
    if (!data && t->st->bytes) {
        rc = st_error(STRATA_E_INVALID, "strata_tensor_from_host: NULL data for %zu bytes", t->st->bytes);
        strata_tensor_release(t);
        return rc;
    }
    rc = strata_tensor_write(t, data, t->st->bytes);
    if (rc) {
        strata_tensor_release(t);
        return rc;
    }
    *out = t;
    return STRATA_OK;
}

strata_tensor *strata_tensor_retain(strata_tensor *t)
{
    if (t)
        t->refcount++;
    return t;
}

void strata_tensor_release(strata_tensor *t)
{
    if (!t || --t->refcount > 0)
        return;
    strata_tensor_release(t->grad);
    strata_tensor_release(t->tmp_grad);
    st_storage_release(t->st);
    free(t);
}

int strata_tensor_ndim(const strata_tensor *t)
{
    return t ? t->ndim : -1;
}
const int64_t *strata_tensor_shape(const strata_tensor *t)
{
    return t ? t->shape : NULL;
}
const int64_t *strata_tensor_strides(const strata_tensor *t)
{
    return t ? t->strides : NULL;
}
int64_t strata_tensor_dim(const strata_tensor *t, int axis)
{
    if (!t)
        return -1;
    if (axis < 0)
        axis += t->ndim;
    if (axis < 0 || axis >= t->ndim)
        return -1;
    return t->shape[axis];
}
int64_t strata_tensor_numel(const strata_tensor *t)
{
    return t ? st_numel(t->ndim, t->shape) : 0;
}
strata_dtype strata_tensor_dtype(const strata_tensor *t)
{
    return t ? (strata_dtype)t->dtype : (strata_dtype)0; /* no dtype of the enum */
}
strata_device *strata_tensor_device(const strata_tensor *t)
{
    return t ? t->st->dev : NULL;
}

int strata_tensor_is_contiguous(const strata_tensor *t)
{
    if (!t)
        return 0;
    if (st_numel(t->ndim, t->shape) == 0)
        return 1; /* nothing to lay out */
    int64_t s = 1;
    for (int k = t->ndim - 1; k >= 0; k--) {
        if (t->shape[k] != 1 && t->strides[k] != s)
            return 0;
        s *= t->shape[k];
    }
    return 1;
}

/* Copies the elements of a strided view, in row-major order, from host
 * memory @p base (the storage) to @p dst. */
static void gather_strided(void *dst, const char *base, const strata_tensor *t)
{
    size_t es = strata_dtype_size(t->dtype);
    int64_t n = st_numel(t->ndim, t->shape);
    int64_t idx[STRATA_MAX_DIMS] = {0};
    char *out = dst;
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++)
            off += idx[d] * t->strides[d];
        memcpy(out + (size_t)i * es, base + t->byte_offset + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
}

/* Reads elements without running any op, so it works on every backend,
 * including one that lacks a core::copy kernel (the host fallback relies
 * on this). Non-contiguous views on device memory copy the storage to the
 * host and gather there. */
strata_status strata_tensor_read(const strata_tensor *t, void *dst, size_t bytes)
{
    if (!t || (!dst && bytes))
        return st_error(STRATA_E_INVALID, "strata_tensor_read: NULL argument");
    size_t want = (size_t)strata_tensor_numel(t) * strata_dtype_size(t->dtype);
    if (bytes != want)
        return st_error(STRATA_E_INVALID, "strata_tensor_read: buffer is %zu bytes, tensor holds %zu", bytes, want);
    if (!bytes)
        return STRATA_OK;
    strata_device *dev = t->st->dev;
    const strata_backend_def *b = &dev->be->def;
    int contig = strata_tensor_is_contiguous(t);
    if (dev->host_memory && !b->copy_to_host) {
        if (contig)
            memcpy(dst, (char *)t->st->data + t->byte_offset, bytes);
        else
            gather_strided(dst, t->st->data, t);
        return STRATA_OK;
    }
    strata_status rc;
    if (contig) {
        rc = b->copy_to_host(b->self, dev->index, dst, t->st->data, t->byte_offset, bytes);
    } else {
        char *whole = st_malloc(t->st->bytes ? t->st->bytes : 1);
        if (!whole)
            return STRATA_E_NOMEM;
        rc = b->copy_to_host(b->self, dev->index, whole, t->st->data, 0, t->st->bytes);
        if (!rc)
            gather_strided(dst, whole, t);
        free(whole);
    }
    if (rc)
        st_error_context(rc, "%s: copying %zu bytes to the host", dev->name, bytes);
    return rc;
}

strata_status strata_tensor_write(strata_tensor *t, const void *src, size_t bytes)
{
    if (!t || (!src && bytes))
        return st_error(STRATA_E_INVALID, "strata_tensor_write: NULL argument");
    size_t want = (size_t)strata_tensor_numel(t) * strata_dtype_size(t->dtype);
    if (bytes != want)
        return st_error(STRATA_E_INVALID, "strata_tensor_write: buffer is %zu bytes, tensor holds %zu", bytes,
                        want);
    if (!strata_tensor_is_contiguous(t))
        return st_error(STRATA_E_INVALID, "strata_tensor_write: tensor is a non-contiguous view");
    strata_device *dev = t->st->dev;
    if (!bytes)
        return STRATA_OK;
    t->st->version++;
    if (dev->host_memory && !dev->be->def.copy_from_host) {
        memcpy((char *)t->st->data + t->byte_offset, src, bytes);
        return STRATA_OK;
    }
    strata_status rc =
        dev->be->def.copy_from_host(dev->be->def.self, dev->index, t->st->data, t->byte_offset, src, bytes);
    if (rc)
        st_error_context(rc, "%s: copying %zu bytes from the host", dev->name, bytes);
    return rc;
}

strata_status strata_tensor_item(const strata_tensor *t, double *out)
{
    if (!t || !out)
        return st_error(STRATA_E_INVALID, "strata_tensor_item: NULL %s", t ? "output" : "tensor");
    if (strata_tensor_numel(t) != 1)
        return st_error(STRATA_E_SHAPE, "strata_tensor_item: tensor has %lld elements, expected 1",
                        (long long)strata_tensor_numel(t));
    union {
        float f;
        int32_t i;
        int64_t l;
        uint16_t h;
    } v;
    strata_status rc = strata_tensor_read(t, &v, strata_dtype_size(t->dtype));
    if (rc)
        return rc;
    switch (t->dtype) {
    case STRATA_F32:
        *out = v.f;
        break;
    case STRATA_I32:
        *out = v.i;
        break;
    case STRATA_F16:
        *out = strata_f16_to_f32(v.h);
        break;
    case STRATA_BF16:
        *out = strata_bf16_to_f32(v.h);
        break;
    default:
        *out = (double)v.l;
        break;
    }
    return STRATA_OK;
}

strata_status strata_tensor_to(strata_tensor *t, strata_device *dev, strata_tensor **out)
{
    if (!t || !dev || !out)
        return st_error(STRATA_E_INVALID, "strata_tensor_to: NULL argument");
    size_t bytes = (size_t)strata_tensor_numel(t) * strata_dtype_size(t->dtype);
    void *host = st_malloc(bytes ? bytes : 1);
    if (!host)
        return STRATA_E_NOMEM;
    strata_status rc = strata_tensor_read(t, host, bytes);
    if (!rc)
        rc = strata_tensor_from_host(dev, (strata_dtype)t->dtype, t->ndim, t->shape, host, out);
    free(host);
    return rc;
}

strata_status strata_tensor_set_requires_grad(strata_tensor *t, int on)
{
    if (!t)
        return st_error(STRATA_E_INVALID, "strata_tensor_set_requires_grad: NULL tensor");
    if (on && t->dtype != STRATA_F32)
        return st_error(STRATA_E_DTYPE, "only f32 tensors can require gradients (this one is %s)",
                        strata_dtype_name(t->dtype));
    if (!t->is_leaf)
        return st_error(STRATA_E_STATE, "requires_grad can only be set on leaf tensors");
    t->requires_grad = on ? 1 : 0;
    return STRATA_OK;
}

int strata_tensor_requires_grad(const strata_tensor *t)
{
    return t ? t->requires_grad : 0;
}

strata_tensor *strata_tensor_grad(const strata_tensor *t)
{
    return t ? t->grad : NULL;
}

void strata_tensor_zero_grad(strata_tensor *t)
{
    if (!t)
        return;
    strata_tensor_release(t->grad);
    t->grad = NULL;
}
