/*
 * ocl_internal.h - private pieces shared by the files of the opencl backend.
 *
 * The opencl backend runs Strata's ops as OpenCL C kernels (the kernels/ folder,
 * embedded in the shared object at build time) on any OpenCL 1.2 device:
 * a GPU's vendor driver, or PoCL on the CPU. It links only the ICD loader
 * (libOpenCL), so one build runs on every vendor's driver.
 *
 * Device memory: a storage handle (strata_tensor_desc.data) is a cl_mem;
 * byte_offset says where the tensor starts in it. Kernels take (buffer,
 * element offset) pairs for that reason: sub-buffers would need offsets
 * aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN, which views do not respect.
 *
 * Each device has one context, one in-order queue, and one program built
 * from the embedded sources on first use (cached on disk, ocl_program.c).
 * Kernels launch asynchronously; copies to the host block.
 *
 * Kernels follow the other backends' order: check arity and dtypes, read
 * attributes, check the shapes the core inferred, then launch.
 */
#ifndef OCL_INTERNAL_H
#define OCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/strata_backend.h"

/* The host's function table, set once by ocl_init and never changed. */
extern const strata_host_api *ocl_host;

/* Every kernel of the embedded program, by function name (X-macro). */
#define OCL_KERNEL_LIST(X)                                                                                     \
    X(copy_strided_u16)                                                                                        \
    X(copy_strided_u32)                                                                                        \
    X(copy_strided_u64)                                                                                        \
    X(binary_same)                                                                                             \
    X(binary_bcast)                                                                                            \
    X(unary)                                                                                                   \
    X(unary_backward)                                                                                          \
    X(cast)                                                                                                    \
    X(gemm)                                                                                                    \
    X(gemm_dot)                                                                                                \
    X(gemm_axpy)                                                                                               \
    X(reduce_sum)                                                                                              \
    X(reduce_max)                                                                                              \
    X(softmax_rows)                                                                                            \
    X(softmax_backward_rows)                                                                                   \
    X(cross_entropy_rows)                                                                                      \
    X(cross_entropy_backward_rows)                                                                             \
    X(bce_with_logits)                                                                                         \
    X(bce_with_logits_backward)                                                                                \
    X(sgd_step)                                                                                                \
    X(adam_step)                                                                                               \
    X(philox_uniform)                                                                                          \
    X(philox_normal)                                                                                           \
    X(philox_dropout)                                                                                          \
    X(conv2d_fwd)                                                                                              \
    X(conv2d_bwd_data)                                                                                         \
    X(conv2d_bwd_weight)                                                                                       \
    X(conv_im2col)                                                                                             \
    X(conv_col2im)                                                                                             \
    X(conv_pack_dy)                                                                                            \
    X(conv_bias_rows)                                                                                          \
    X(conv_im2col_el)                                                                                          \
    X(conv_col2im_el)                                                                                          \
    X(conv_pack_dy_el)                                                                                         \
    X(conv_bias_rows_el)                                                                                       \
    X(max_pool2d_fwd)                                                                                          \
    X(max_pool2d_bwd)                                                                                          \
    X(avg_pool2d_fwd)                                                                                          \
    X(avg_pool2d_bwd)                                                                                          \
    X(embedding_fwd)                                                                                           \
    X(embedding_bwd)                                                                                           \
    X(gather_fwd)                                                                                              \
    X(gather_bwd)                                                                                              \
    X(one_hot_fwd)                                                                                             \
    X(scatter_strided)                                                                                         \
    X(rmsprop_step)                                                                                            \
    X(adagrad_step)                                                                                            \
    X(bn_fwd)                                                                                                  \
    X(bn_bwd)                                                                                                  \
    X(bn_update_stats)                                                                                         \
    X(dropout2d_fwd)                                                                                           \
    X(ema_update)                                                                                              \
    X(lstm_step_fwd)                                                                                           \
    X(lstm_step_bwd)                                                                                           \
    X(gru_step_fwd)                                                                                            \
    X(gru_step_bwd)                                                                                            \
    X(rnn_step_fwd)                                                                                            \
    X(rnn_step_bwd)                                                                                            \
    X(add_into)                                                                                                \
    X(mn_encode_fwd)                                                                                           \
    X(mn_encode_bwd)                                                                                           \
    X(mn_slot_mask)

typedef enum ocl_kernel_id {
#define OCL_KID(name) OCL_K_##name,
    OCL_KERNEL_LIST(OCL_KID)
#undef OCL_KID
        OCL_K_COUNT
} ocl_kernel_id;

/* ---- devices (ocl_backend.c) ---------------------------------------------- */

/* A cached free buffer (ocl_memory.c). */
typedef struct ocl_block {
    cl_mem mem;
    size_t bytes; /* the size class it was created with */
} ocl_block;

typedef struct ocl_device {
    int platform_index, device_index; /* as enumerated: STRATA_OPENCL_DEVICE=p:d */
    cl_platform_id platform;
    cl_device_id id;
    char name[256];      /* "Portable Computing Language / pthread-... [0:0] (OpenCL 3.0 PoCL, 62 GiB)" */
    char cache_key[512]; /* device name, vendor, driver and platform versions */
    int fp64;            /* cl_khr_fp64 */
    size_t max_wg;       /* work-group size every kernel accepts (a power of two once built) */
    int gemm_ok;         /* the GEMM's 16x16 groups fit (known once built) */
    int cpu_type;        /* CL_DEVICE_TYPE_CPU */
    int is_cpu;          /* a CPU device: the float8 GEMMs instead of the tiled one (not under STRATA_OPENCL_TILED_GEMM) */
    int sync_each;       /* STRATA_OPENCL_SYNC=1: wait for every kernel (profiling) */
    int conv_direct;     /* STRATA_OPENCL_DIRECT_CONV: 1 direct kernels only, 0 GEMM wherever it can, -1 by size */
    int conv_el;         /* the im2col path's kernels give an item each element (not a CPU device; or
                          * STRATA_OPENCL_CONV_ITEMS=element), not each plane or row */
    cl_ulong global_mem;

    pthread_mutex_t lock; /* context creation, the program, kernel args, the pool */
    cl_context ctx;       /* created on first use */
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[OCL_K_COUNT];
    int build_tried;        /* the program was built (or failed): do not retry */
    strata_status build_rc; /* its result */
    char build_error[2048]; /* the message of a failed build */

    /* caching allocator: buffers freed by the core, reused by size class */
    ocl_block *free_blocks;
    int n_free, cap_free;
    size_t cached_bytes;
} ocl_device;

typedef struct ocl_backend {
    strata_runtime *rt; /* for the log while listing devices */
    int listed;         /* the devices were enumerated (on first need) */
    int n_devices;
    ocl_device *devs;
    char why_not[512]; /* why there is no device, in words */
} ocl_backend;

/** Creates the context and queue once. Takes d->lock itself. */
strata_status ocl_device_open(ocl_device *d);
/** Opens the device and builds the program once; later calls return the
 *  first result (a failed build is reported again). Takes d->lock itself. */
strata_status ocl_device_ready(ocl_device *d);

/* ---- memory (ocl_memory.c) ------------------------------------------------ */

strata_status ocl_alloc(void *self, int dev, size_t bytes, void **out);
void ocl_free(void *self, int dev, void *ptr);
strata_status ocl_copy_to_host(void *self, int dev, void *dst, const void *src, size_t src_offset, size_t bytes);
strata_status ocl_copy_from_host(void *self, int dev, void *dst, size_t dst_offset, const void *src, size_t bytes);
strata_status ocl_copy_on_device(void *self, int dev, void *dst, size_t dst_offset, const void *src,
                                 size_t src_offset, size_t bytes);
strata_status ocl_synchronize(void *self, int dev);
/** Releases every cached buffer of @p d (caller holds no lock). */
void ocl_pool_trim(ocl_device *d);
/** A scratch buffer of @p bytes for a kernel's temporaries; ocl_free it. */
strata_status ocl_scratch(ocl_device *d, size_t bytes, cl_mem *out);

/* ---- the program (ocl_program.c) ------------------------------------------ */

/** Builds (or loads from the disk cache) the program of @p d and creates
 *  its kernels; d->lock held. Reports a build failure with the log. */
strata_status ocl_program_build(ocl_device *d);
/** The cache directory in use ("" when caching is off). */
const char *ocl_cache_dir(char *buf, size_t n);

/* The embedded kernel sources (generated by embed_cl.cmake). */
extern const char ocl_kernel_source[];
extern const size_t ocl_kernel_source_len;

/* ---- errors and launching (ocl_common.c) ---------------------------------- */

/* kc_error and the checks of a call and its attributes (kc_check_arity,
 * kc_check_numel, kc_reduction_of, ...): kcall.h, backends/common. */
#include "kcall.h"

/** Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *ocl_cl_error_name(cl_int err);
/** Reports a failed OpenCL call @p what with its error code. */
strata_status ocl_cl_fail(const char *where, const char *what, cl_int err);

/** The backend and device of a kernel call; ready (program built). */
strata_status ocl_call_device(const strata_kernel_call *call, ocl_device **out);

/** One kernel argument: size and a pointer to the value. */
typedef struct ocl_arg {
    size_t size;
    const void *value;
} ocl_arg;
#define OCL_ARG(v) ((ocl_arg){sizeof(v), &(v)})

/** Sets the arguments of kernel @p k and enqueues it over @p dims dims of
 *  @p global items (rounded up to @p local when local is given). */
strata_status ocl_launch(const strata_kernel_call *call, ocl_device *d, ocl_kernel_id k, int dims,
                         const size_t *global, const size_t *local, int n_args, const ocl_arg *args);

/** The cl_mem and element offset of a tensor's storage. */
static inline cl_mem ocl_mem(const strata_tensor_desc *t)
{
    return (cl_mem)t->data;
}
static inline cl_long ocl_off(const strata_tensor_desc *t)
{
    size_t es = strata_dtype_size(t->dtype);
    return (cl_long)(t->byte_offset / (es ? es : 1));
}

/** The first @p n (at most 8) of @p v, the rest 0: a kernel's cl_long8
 *  shape or stride argument. */
static inline cl_long8 ocl_long8(const int64_t *v, int n)
{
    cl_long8 r;
    for (int k = 0; k < 8; k++)
        r.s[k] = k < n ? v[k] : 0;
    return r;
}

/** Rounds @p n up to a multiple of @p m. */
static inline size_t ocl_round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* ---- checks (ocl_common.c) ------------------------------------------------ */

/** Reads the index tensor @p idx to the host and checks every element
 *  against [0, limit): STRATA_E_INVALID naming the first bad one. */
strata_status ocl_check_indices(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *idx,
                                int64_t limit, const char *what, const char *row_word);

/** Sums @p n_red consecutive groups... see ocl_reduce.c: y[j] = scale *
 *  sum over r of x[off(j) + off(r)] with shapes/strides of the kept and
 *  reduced dims (at most 8 each). */
strata_status ocl_reduce_launch(const strata_kernel_call *call, ocl_device *d, cl_mem y, cl_long y_off, cl_mem x,
                                cl_long x_off, int64_t n_out, int nk, const int64_t *kshape,
                                const int64_t *kstride, int nr, const int64_t *rshape, const int64_t *rstride,
                                float scale);

/* ---- the GEMM (ocl_gemm.c) ------------------------------------------------- */

/* c (batch, M, N) (from c_off, row-major) = a (M, K) b (K, N) [+ bias (N)]
 * per batch, a and b read through strides (gemm.cl):
 *   a(m, k) = a[a_off + batch a_bs + m a_sm + k a_sk]
 *   b(k, n) = b[b_off + batch b_bs + k b_sk + n b_sn] */
typedef struct ocl_gemm_args {
    cl_mem c, a, b, bias;
    cl_long c_off, c_bs, a_off, a_bs, a_sm, a_sk, b_off, b_bs, b_sk, b_sn, bias_off; /* c_bs 0: M N */
    cl_int has_bias;
    cl_long M, N, K;
} ocl_gemm_args;

/** Enqueues the GEMM @p g over @p batches batches: the float8 kernels on
 *  CPU devices where the strides allow, else the tiled kernel. */
strata_status ocl_gemm_launch(const strata_kernel_call *call, ocl_device *d, const ocl_gemm_args *g, int64_t batches);

/* ---- convolutions as GEMMs (ocl_conv_gemm.c) ------------------------------ */

/* Convolution geometry in conv2d's terms: x (N, C, H, W), w (OC, C/groups,
 * KH, KW), y (N, OC, OH, OW); s stride, p padding, d dilation, (h, w) each. */
typedef struct ocl_conv_geom {
    int64_t N, C, H, W, OC, KH, KW, OH, OW;
    int64_t s[2], p[2], d[2], groups;
} ocl_conv_geom;

/** Packs @p g into the long16 conv.cl reads (N, C, H, W, OC, KH, KW, OH,
 *  OW, sh, sw, ph, pw, dh, dw, groups); STRATA_E_SHAPE when the channels
 *  do not divide into the groups. */
strata_status ocl_conv_pack(const strata_kernel_call *call, const ocl_conv_geom *g, cl_long16 *out);

/** Images per im2col chunk for @p g on @p d (forward and data gradient:
 *  col (C KH KW, OH OW) per image; with @p weight_grad also dy's repacked
 *  rows), or 0 when the direct kernel runs it instead: groups > 1, one
 *  image's columns past the scratch bound, STRATA_OPENCL_DIRECT_CONV=1, or
 *  a layer too small to gain. */
int64_t ocl_conv_gemm_chunk(const ocl_device *d, const ocl_conv_geom *g, int weight_grad);

/** y (N, OC, OH, OW) = w (OC, C KH KW) col(x) per image [+ b (OC)], the
 *  images @p chunk at a time. */
strata_status ocl_conv_gemm_forward(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                    int64_t chunk, const strata_tensor_desc *Y, const strata_tensor_desc *X,
                                    const strata_tensor_desc *Wt, const strata_tensor_desc *B);
/** dx (N, C, H, W) = col2im(w^T dy) per image [+ b (C), conv_transpose2d's]. */
strata_status ocl_conv_gemm_backward_data(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                          int64_t chunk, const strata_tensor_desc *DX, const strata_tensor_desc *DY,
                                          const strata_tensor_desc *Wt, const strata_tensor_desc *B);
/** dw (OC, C KH KW) = sum over the images of dy (OC, OH OW) col(x)^T. */
strata_status ocl_conv_gemm_backward_weight(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                            int64_t chunk, const strata_tensor_desc *DW, const strata_tensor_desc *DY,
                                            const strata_tensor_desc *X);

/* ---- capability query (ocl_backend.c) ------------------------------------- */

int ocl_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                    int n_inputs, const strata_attr *attrs, int n_attrs);

/* ---- kernels (one declaration per registered op) -------------------------- */

#define OCL_KERNEL(name) strata_status ocl_##name(const strata_kernel_call *call)

/* ocl_elementwise.c */
OCL_KERNEL(add);
OCL_KERNEL(sub);
OCL_KERNEL(mul);
OCL_KERNEL(div);
OCL_KERNEL(neg);
OCL_KERNEL(exp);
OCL_KERNEL(log);
OCL_KERNEL(sqrt);
OCL_KERNEL(abs);
OCL_KERNEL(relu);
OCL_KERNEL(leaky_relu);
OCL_KERNEL(sigmoid);
OCL_KERNEL(tanh);
OCL_KERNEL(gelu);
OCL_KERNEL(pow);
OCL_KERNEL(scale);
OCL_KERNEL(cast);
OCL_KERNEL(eltwise_backward);
/* ocl_gemm.c */
OCL_KERNEL(matmul);
OCL_KERNEL(linear);
/* ocl_reduce.c */
OCL_KERNEL(sum);
OCL_KERNEL(mean);
OCL_KERNEL(sum_to_shape);
OCL_KERNEL(max);
OCL_KERNEL(argmax);
OCL_KERNEL(max_backward);
/* ocl_softmax.c */
OCL_KERNEL(softmax);
OCL_KERNEL(log_softmax);
OCL_KERNEL(softmax_backward);
OCL_KERNEL(log_softmax_backward);
OCL_KERNEL(cross_entropy);
OCL_KERNEL(cross_entropy_backward);
OCL_KERNEL(bce_with_logits);
OCL_KERNEL(bce_with_logits_backward);
/* ocl_copy.c */
OCL_KERNEL(copy);
OCL_KERNEL(fill);
/* ocl_random.c */
OCL_KERNEL(uniform);
OCL_KERNEL(normal);
OCL_KERNEL(dropout);
/* ocl_optim.c */
OCL_KERNEL(sgd_step);
OCL_KERNEL(adam_step);
OCL_KERNEL(rmsprop_step);
OCL_KERNEL(adagrad_step);
OCL_KERNEL(ema_update); /* gan::ema_update */
/* ocl_index.c */
OCL_KERNEL(embedding);
OCL_KERNEL(embedding_backward);
OCL_KERNEL(gather);
OCL_KERNEL(gather_backward);
OCL_KERNEL(one_hot);
OCL_KERNEL(concat);
OCL_KERNEL(slice_backward);

/* ocl_conv.c (the conv plugin's ops, registered by name) */
OCL_KERNEL(conv2d);
OCL_KERNEL(conv2d_backward_data);
OCL_KERNEL(conv2d_backward_weight);
OCL_KERNEL(conv_transpose2d);
OCL_KERNEL(max_pool2d);
OCL_KERNEL(max_pool2d_backward);
OCL_KERNEL(avg_pool2d);
OCL_KERNEL(avg_pool2d_backward);
OCL_KERNEL(global_avg_pool2d);
/* ocl_bnorm.c */
OCL_KERNEL(batch_norm);
OCL_KERNEL(batch_norm_backward);
OCL_KERNEL(batch_norm_update_stats);
OCL_KERNEL(dropout2d);

/* ocl_rnn.c (the lstm plugin's sequence ops, registered by name) */
OCL_KERNEL(lstm_seq);
OCL_KERNEL(lstm_seq_backward);
OCL_KERNEL(gru_seq);
OCL_KERNEL(gru_seq_backward);
OCL_KERNEL(rnn_seq);
OCL_KERNEL(rnn_seq_backward);

/* ocl_memnet.c (the memnet plugin's ops, registered by name) */
OCL_KERNEL(mn_encode);
OCL_KERNEL(mn_encode_backward);
OCL_KERNEL(mn_slot_mask);

#endif /* OCL_INTERNAL_H */
