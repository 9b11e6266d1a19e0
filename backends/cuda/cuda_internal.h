/*
 * cuda_internal.h - private pieces shared by the files of the cuda backend.
 *
 * The cuda backend runs Strata's ops on NVIDIA GPUs: cuBLAS for the GEMMs,
 * cuDNN for the conv plugin's convolutions, pooling and batch norm, and its
 * own kernels (cuda_*.cu) for everything else. It is built against the
 * toolkit's headers and the static CUDA runtime, and opens cuBLAS and cuDNN
 * with dlopen on first use (cuda_libs.c), so the shared object loads on a
 * machine with no driver, no GPU and no cuBLAS: it then registers zero
 * devices and says why.
 *
 * Per device: one stream (every kernel, copy and library call is queued on
 * it, so the order of ops is the order of calls), a caching allocator
 * (cuda_memory.c; freed blocks are reused in stream order, never returned
 * to the driver until an allocation fails or the runtime ends), a pinned
 * staging buffer for host copies and an event to wait on.
 *
 * Every CUDA, cuBLAS and cuDNN call goes through CUDA_TRY / CUBLAS_TRY /
 * CUDNN_TRY, which turn a failure into a strata_status with the call, the
 * code's name and number and the source line in the message.
 */
#ifndef CUDA_INTERNAL_H
#define CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "cuda_kernels.h"
#include "strata/strata_backend.h"

/* The host's function table, set once by cuda_init and never changed. */
extern const strata_host_api *cuda_host;

/* ---- the backend's state ------------------------------------------------- */

typedef struct cuda_block cuda_block; /* cuda_memory.c */

/** One GPU. Everything past `name` is created on first use (cuda_device_get). */
typedef struct cuda_device {
    int index;
    char name[160];
    int ready;            /* stream, events and staging buffer exist */
    cudaStream_t stream;  /* every operation of this device */
    cudaEvent_t done;     /* recorded to wait for the stream from the host */
    cudaEvent_t staged;   /* the last transfer out of/into `staging` is done */
    void *staging;        /* pinned host buffer, staging_bytes; NULL: pageable copies */
    size_t staging_bytes;
    /* caching allocator (cuda_memory.c) */
    cuda_block **live;    /* open hash: device pointer -> block, live_cap buckets */
    size_t live_cap;
    cuda_block *cached;   /* free blocks, sorted by size */
    size_t bytes_live, bytes_cached, bytes_peak;
    void *blas;           /* cublasHandle_t, NULL until the first GEMM */
    void *dnn;            /* cudnnHandle_t, NULL until the first cuDNN op */
    void *conv_plans;     /* cuDNN convolution plans (cuda_conv.c), NULL until the first */
    void *workspace;      /* library scratch (cuDNN), workspace_bytes */
    size_t workspace_bytes;
} cuda_device;

/** The backend (strata_backend_def.self): one per runtime. */
typedef struct cuda_backend {
    int probed; /* cuda_probe ran (on the core's first device_count) */
    int n_devices;
    cuda_device *devices;
    char why_not[256]; /* reason for zero devices */
} cuda_backend;

/* ---- errors (cuda_common.c) ---------------------------------------------- */

/* kc_error and the checks of a call and its attributes (kc_check_arity,
 * kc_axes_mask, kc_reduction_of, ...): kcall.h, backends/common. */
#include "kcall.h"

/** "EXPR failed: cudaErrorX (text, code N) at FILE:LINE"; E_NOMEM for
 *  cudaErrorMemoryAllocation, else E_BACKEND. */
strata_status cuda_fail_rt(cudaError_t e, const char *expr, const char *file, int line);
strata_status cuda_fail_blas(int status, const char *expr, const char *file, int line);
strata_status cuda_fail_dnn(int status, const char *expr, const char *file, int line);

#define CUDA_TRY(expr)                                                                                         \
    do {                                                                                                       \
        cudaError_t e_ = (expr);                                                                               \
        if (e_ != cudaSuccess)                                                                                 \
            return cuda_fail_rt(e_, #expr, __FILE__, __LINE__);                                                \
    } while (0)
#define CUBLAS_TRY(expr)                                                                                       \
    do {                                                                                                       \
        int e_ = (int)(expr);                                                                                  \
        if (e_ != 0)                                                                                           \
            return cuda_fail_blas(e_, #expr, __FILE__, __LINE__);                                              \
    } while (0)
#define CUDNN_TRY(expr)                                                                                        \
    do {                                                                                                       \
        int e_ = (int)(expr);                                                                                  \
        if (e_ != 0)                                                                                           \
            return cuda_fail_dnn(e_, #expr, __FILE__, __LINE__);                                               \
    } while (0)
/** Propagates a strata_status. */
#define CUDA_OK(expr)                                                                                          \
    do {                                                                                                       \
        strata_status s_ = (expr);                                                                             \
        if (s_ != STRATA_OK)                                                                                   \
            return s_;                                                                                         \
    } while (0)

/* ---- devices and memory (cuda_memory.c) ---------------------------------- */

/** Device @p dev of @p be, made current on this thread and created on first
 *  use (stream, events, staging buffer). */
strata_status cuda_device_get(cuda_backend *be, int dev, cuda_device **out);
/** The device a kernel call runs on. */
strata_status cuda_call_device(const strata_kernel_call *call, cuda_device **out);
/** Frees what cuda_device_get created and every cached block. */
void cuda_device_release(cuda_device *d);

strata_status cuda_mem_alloc(void *self, int dev, size_t bytes, void **out);
void cuda_mem_free(void *self, int dev, void *ptr);
strata_status cuda_copy_to_host(void *self, int dev, void *dst, const void *src, size_t src_offset, size_t bytes);
strata_status cuda_copy_from_host(void *self, int dev, void *dst, size_t dst_offset, const void *src, size_t bytes);
strata_status cuda_copy_on_device(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                  size_t src_offset, size_t bytes);
strata_status cuda_synchronize(void *self, int dev);
/** Scratch memory of at least @p bytes on @p d for one library call (grown,
 *  never shrunk; valid until the next call on the stream asks for more). */
strata_status cuda_workspace(cuda_device *d, size_t bytes, void **out);
/** Temporary device buffer from the caching allocator; release with cuda_temp_free. */
strata_status cuda_temp_alloc(cuda_device *d, size_t bytes, void **out);
void cuda_temp_free(cuda_device *d, void *ptr);

/* ---- kernel helpers (cuda_common.c) ------------------------------------- */

/** The walk of a reduction of contiguous @p x over the dims in @p mask:
 *  kept dims (one group per output element) and reduced dims, merged as
 *  kc_red_plan merges them (fewer dims to decode per element). */
void cuda_reduction_plan(const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS], cuda_walk *kept,
                         int64_t *n_out, cuda_walk *red, int64_t *n_red);
/** Strides (into w->stride[k]) reading contiguous @p src as if broadcast to
 *  w's shape; 0 when the shapes do not broadcast. */
int cuda_broadcast_strides(cuda_walk *w, int k, const strata_tensor_desc *src);
/** Sum, mean or max (CUDA_RED_*) of the groups of x (cuda_reduction_plan)
 *  into y: one thread or one block per group, or few long groups split
 *  over many blocks (cuda_reduce.c). */
strata_status cuda_run_reduce(cuda_device *d, int fn, float *y, const float *x, int64_t n_out, int64_t n_red,
                              const cuda_walk *kept, const cuda_walk *red);
/** A device u64 preset to ~0 for the index kernels' out-of-range report. */
strata_status cuda_bad_alloc(cuda_device *d, unsigned long long **out);
/** Reads it back (waits for the stream) and frees it; when an index was out
 *  of range, E_INVALID: "WHAT V at POSITION_NAME P is outside [0, limit)". */
strata_status cuda_bad_check(const strata_kernel_call *call, cuda_device *d, unsigned long long *bad,
                             const strata_tensor_desc *idx, int64_t limit, const char *what, const char *where);

/** Device address of the first element of @p t. */
static inline void *cuda_ptr(const strata_tensor_desc *t)
{
    return (char *)t->data + t->byte_offset;
}

#endif /* CUDA_INTERNAL_H */
