/*
 * cuda_ops.c - the kernel table and the capability query.
 *
 * supports_op declines what a kernel here does not handle (another dtype,
 * a library that could not be opened): the core then runs the op on the
 * host with copies, where the host kernel also gives the precise error for
 * a bad call.
 */
#include <string.h>

#include "cuda_libs.h"
#include "cuda_ops.h"

const cuda_kernel_entry cuda_kernels[] = {
    {NULL, NULL, 0},
};

static int cuda_is_index(int32_t dtype)
{
    return dtype == STRATA_I32 || dtype == STRATA_I64;
}

int cuda_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                     int n_inputs, const strata_attr *attrs, int n_attrs)
{
    (void)self;
    (void)dev;
    (void)version;
    (void)attrs;
    (void)n_attrs;
    const cuda_kernel_entry *e = cuda_kernels;
    while (e->op && strcmp(e->op, op) != 0)
        e++;
    if (!e->op)
        return 0;
    if (e->needs & CUDA_NEED_IDX) {
        if (n_inputs < 2 || !cuda_is_index(inputs[n_inputs - 1].dtype))
            return 0;
        for (int k = 0; k < n_inputs - 1; k++)
            if (inputs[k].dtype != STRATA_F32)
                return 0;
    } else if (e->needs & CUDA_NEED_F32) {
        for (int k = 0; k < n_inputs; k++)
            if (inputs[k].dtype != STRATA_F32)
                return 0;
    }
    if ((e->needs & CUDA_NEED_BLAS) && !cuda_blas_load())
        return 0;
    if ((e->needs & CUDA_NEED_DNN) && !cuda_dnn_load())
        return 0;
    return 1;
}
