/*
 * cuda_common.c - turning CUDA, cuBLAS and cuDNN status codes into
 * strata_status with a message that names the call, the code and the line.
 */
#include <string.h>

#include "cuda_internal.h"
#include "cuda_libs.h"

strata_status cuda_fail_rt(cudaError_t e, const char *expr, const char *file, int line)
{
    /* A failed allocation is the only error that does not stay set on the
     * context; reading it here keeps it from being reported again later. */
    if (e == cudaErrorMemoryAllocation)
        (void)cudaGetLastError();
    strata_status s = e == cudaErrorMemoryAllocation ? STRATA_E_NOMEM : STRATA_E_BACKEND;
    return cuda_host->set_error(s, "cuda: %s failed: %s (%s, code %d) at %s:%d", expr, cudaGetErrorName(e),
                                cudaGetErrorString(e), (int)e, file, line);
}

strata_status cuda_fail_blas(int status, const char *expr, const char *file, int line)
{
    const char *name = cuda_blas_status_name(status);
    strata_status s = status == 3 /* CUBLAS_STATUS_ALLOC_FAILED */ ? STRATA_E_NOMEM : STRATA_E_BACKEND;
    return cuda_host->set_error(s, "cuda: %s failed: %s (code %d) at %s:%d", expr, name, status, file, line);
}

strata_status cuda_fail_dnn(int status, const char *expr, const char *file, int line)
{
    const char *name = cuda_dnn_status_name(status);
    /* allocation failures: ALLOC_FAILED is 2 in cuDNN 8; cuDNN 9 has host (4003) and device (4004) ones */
    const int nomem = status == 2 || status == 4003 || status == 4004;
    strata_status s = nomem ? STRATA_E_NOMEM : STRATA_E_BACKEND;
    return cuda_host->set_error(s, "cuda: %s failed: %s (code %d) at %s:%d", expr, name, status, file, line);
}

/* ---- reductions and broadcasts ---------------------------------------------- */

static void cuda_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

_Static_assert(CUDA_WALK_MAX_DIMS == STRATA_MAX_DIMS, "a cuda_walk holds every dim of a plan");

void cuda_reduction_plan(const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS], cuda_walk *kept,
                         int64_t *n_out, cuda_walk *red, int64_t *n_red)
{
    kc_red_plan p;
    kc_red_plan_init(&p, x, mask);
    memset(kept, 0, sizeof *kept);
    memset(red, 0, sizeof *red);
    kept->ndim = kc_red_plan_side(&p, 0, kept->shape, kept->stride[0]);
    red->ndim = kc_red_plan_side(&p, 1, red->shape, red->stride[0]);
    *n_out = p.n_out;
    *n_red = p.n_red;
}

int cuda_broadcast_strides(cuda_walk *w, int k, const strata_tensor_desc *src)
{
    int64_t strides[STRATA_MAX_DIMS];
    if (src->ndim > w->ndim)
        return 0;
    cuda_contiguous_strides(src->ndim, src->shape, strides);
    int lead = w->ndim - src->ndim;
    for (int d = 0; d < w->ndim; d++) {
        int sd = d - lead;
        if (sd < 0 || src->shape[sd] == 1)
            w->stride[k][d] = 0;
        else if (src->shape[sd] == w->shape[d])
            w->stride[k][d] = strides[sd];
        else
            return 0;
    }
    return 1;
}

strata_status cuda_bad_alloc(cuda_device *d, unsigned long long **out)
{
    void *p = NULL;
    CUDA_OK(cuda_temp_alloc(d, sizeof(unsigned long long), &p));
    cudaError_t e = cudaMemsetAsync(p, 0xff, sizeof(unsigned long long), d->stream);
    if (e != cudaSuccess) { /* the flag would stay allocated */
        cuda_temp_free(d, p);
        return cuda_fail_rt(e, "cudaMemsetAsync(flag, 0xff, ...)", __FILE__, __LINE__);
    }
    *out = p;
    return STRATA_OK;
}

strata_status cuda_bad_check(const strata_kernel_call *call, cuda_device *d, unsigned long long *bad,
                             const strata_tensor_desc *idx, int64_t limit, const char *what, const char *where)
{
    unsigned long long pos = 0;
    strata_status s = cuda_copy_to_host(call->backend_self, call->device, &pos, bad, 0, sizeof pos);
    cuda_temp_free(d, bad);
    if (s != STRATA_OK || pos == ~0ull)
        return s;
    size_t esz = idx->dtype == STRATA_I64 ? 8 : 4;
    int64_t v64 = 0;
    int32_t v32 = 0;
    CUDA_OK(cuda_copy_to_host(call->backend_self, call->device, esz == 8 ? (void *)&v64 : (void *)&v32, idx->data,
                              idx->byte_offset + (size_t)pos * esz, esz));
    long long v = esz == 8 ? (long long)v64 : (long long)v32;
    return kc_error(call, STRATA_E_INVALID, "%s %lld at %s %llu is outside [0, %lld)", what, v, where, pos,
                    (long long)limit);
}
