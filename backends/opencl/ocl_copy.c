/*
 * ocl_copy.c - core::copy (any strides, including 0, to a contiguous
 * tensor: moved as bits, so every dtype of 2, 4 or 8 bytes) and core::fill
 * (clEnqueueFillBuffer with the value's bit pattern).
 */
#include <string.h>

#include "ocl_internal.h"

OCL_KERNEL(copy)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    size_t es = strata_dtype_size(X->dtype);
    if (Y->dtype != X->dtype || (es != 2 && es != 4 && es != 8))
        return kc_error(call, STRATA_E_DTYPE, "copies f32, f16, bf16, i32 and i64 tensors to the same dtype");
    int64_t n = strata_desc_numel(X);
    if ((s = kc_check_numel(call, Y, "output", n)) != STRATA_OK)
        return s;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    if (!n)
        return STRATA_OK;
    cl_long8 shape, stride;
    memset(&shape, 0, sizeof shape);
    memset(&stride, 0, sizeof stride);
    int nd = 0;
    int contiguous = 1;
    int64_t run = 1;
    for (int k = X->ndim - 1; k >= 0; k--) {
        if (X->shape[k] != 1 && X->strides[k] != run)
            contiguous = 0;
        run *= X->shape[k];
    }
    if (contiguous) {
        cl_int err = clEnqueueCopyBuffer(d->queue, ocl_mem(X), ocl_mem(Y), X->byte_offset, Y->byte_offset,
                                         (size_t)n * es, 0, NULL, NULL);
        return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clEnqueueCopyBuffer", err);
    }
    for (int k = 0; k < X->ndim; k++) {
        if (X->shape[k] == 1)
            continue; /* size-1 dims move nothing */
        shape.s[nd] = X->shape[k];
        stride.s[nd++] = X->strides[k];
    }
    cl_mem y = ocl_mem(Y), x = ocl_mem(X);
    cl_long x_off = ocl_off(X), nn = n;
    cl_int cnd = nd;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(nn), OCL_ARG(cnd), OCL_ARG(shape),
                      OCL_ARG(stride)};
    const ocl_kernel_id k = es == 2 ? OCL_K_copy_strided_u16 : es == 4 ? OCL_K_copy_strided_u32 : OCL_K_copy_strided_u64;
    return ocl_launch(call, d, k, 1, &g, NULL, 7, args);
}

/* y = value everywhere; f32, i32 or i64 (an int attr value stays exact). */
OCL_KERNEL(fill)
{
    strata_status s = kc_check_arity(call, 0, 0, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *Y = &call->outputs[0];
    if ((s = kc_check_shape_attr(call, "shape", Y)) != STRATA_OK)
        return s;
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "value");
    int exact_int = a && a->kind == STRATA_ATTR_INT;
    double fv = !a ? 0.0 : exact_int ? (double)a->i : a->f;
    int64_t iv = !a ? 0 : exact_int ? a->i : (int64_t)a->f;
    unsigned char pattern[8];
    size_t ps;
    switch (Y->dtype) {
    case STRATA_F32: {
        float f = (float)fv;
        memcpy(pattern, &f, ps = 4);
        break;
    }
    case STRATA_I32: {
        int32_t i = (int32_t)iv;
        memcpy(pattern, &i, ps = 4);
        break;
    }
    case STRATA_I64:
        memcpy(pattern, &iv, ps = 8);
        break;
    default:
        return kc_error(call, STRATA_E_DTYPE, "cannot fill this dtype; expected f32, i32 or i64");
    }
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    int64_t n = strata_desc_numel(Y);
    if (!n)
        return STRATA_OK;
    cl_int err =
        clEnqueueFillBuffer(d->queue, ocl_mem(Y), pattern, ps, Y->byte_offset, (size_t)n * ps, 0, NULL, NULL);
    return err == CL_SUCCESS ? STRATA_OK : ocl_cl_fail(d->name, "clEnqueueFillBuffer", err);
}
