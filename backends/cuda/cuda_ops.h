/*
 * cuda_ops.h - the ops the cuda backend has kernels for, and what each
 * needs (cuda_ops.c holds the table and supports_op).
 */
#ifndef CUDA_OPS_H
#define CUDA_OPS_H

#include "cuda_internal.h"

/** What a kernel needs beyond a device; supports_op checks these. */
enum {
    CUDA_NEED_F32 = 1u << 0,  /* every input is f32 */
    CUDA_NEED_BLAS = 1u << 1, /* cuBLAS opened */
    CUDA_NEED_DNN = 1u << 2,  /* cuDNN opened */
    CUDA_NEED_IDX = 1u << 3   /* the last input is i32/i64 indices, the others f32 */
};

typedef struct cuda_kernel_entry {
    const char *op;
    strata_kernel_fn fn;
    unsigned needs;
} cuda_kernel_entry;

/** The table, ended by an entry with op NULL. */
extern const cuda_kernel_entry cuda_kernels[];

int cuda_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                     int n_inputs, const strata_attr *attrs, int n_attrs);

#define CUDA_KERNEL(name) strata_status cuda_##name(const strata_kernel_call *call)

#endif /* CUDA_OPS_H */
