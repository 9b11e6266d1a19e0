/*
 * ocl_index.c - embedding, gather, their scatter-add gradients, one_hot
 * (index.cl), concat (rectangular buffer copies) and slice_backward. The
 * index tensors (i32 or i64) are read back and checked against their range
 * first, so an index out of range is an error naming the op, the position
 * and the value, as on ref; the kernels then trust them.
 */
#include <string.h>

#include "ocl_internal.h"

static void ocl_strides(int nd, const int64_t *shape, int64_t *st)
{
    int64_t run = 1;
    for (int k = nd - 1; k >= 0; k--) {
        st[k] = run;
        run *= shape[k];
    }
}

/* y (P, D) = rows idx of w (V, D). */
OCL_KERNEL(embedding)
{
    const strata_tensor_desc *W = &call->inputs[0], *I = &call->inputs[1], *Y = &call->outputs[0];
    int64_t V = 0, D = 0, P = 0;
    ocl_device *d = NULL;
    strata_status s;
    if ((s = kc_check_embedding(call, 0, &V, &D, &P)) || (s = ocl_call_device(call, &d)) ||
        (s = ocl_check_indices(call, d, I, V, "index", "position")))
        return s;
    cl_mem y = ocl_mem(Y), w = ocl_mem(W), idx = ocl_mem(I);
    cl_long w_off = ocl_off(W), i_off = ocl_off(I), cp = P, cd = D;
    cl_int is64 = I->dtype == STRATA_I64;
    size_t global = (size_t)(P * D);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(w), OCL_ARG(w_off), OCL_ARG(idx), OCL_ARG(i_off), OCL_ARG(is64),
                      OCL_ARG(cp), OCL_ARG(cd)};
    return ocl_launch(call, d, OCL_K_embedding_fwd, 1, &global, NULL, 8, args);
}

/* dw (V, D) = scatter-add of the rows of dy (P, D) at idx. */
OCL_KERNEL(embedding_backward)
{
    const strata_tensor_desc *DY = &call->inputs[0], *I = &call->inputs[1], *DW = &call->outputs[0];
    int64_t V = 0, D = 0, P = 0;
    ocl_device *d = NULL;
    strata_status s;
    if ((s = kc_check_embedding(call, 1, &V, &D, &P)) || (s = ocl_call_device(call, &d)) ||
        (s = ocl_check_indices(call, d, I, V, "index", "position")))
        return s;
    cl_mem dw = ocl_mem(DW), dy = ocl_mem(DY), idx = ocl_mem(I);
    cl_long dy_off = ocl_off(DY), i_off = ocl_off(I), cp = P, cv = V, cd = D;
    cl_int is64 = I->dtype == STRATA_I64;
    size_t global = (size_t)D;
    ocl_arg args[] = {OCL_ARG(dw), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(idx), OCL_ARG(i_off),
                      OCL_ARG(is64), OCL_ARG(cp), OCL_ARG(cv), OCL_ARG(cd)};
    return ocl_launch(call, d, OCL_K_embedding_bwd, 1, &global, NULL, 9, args);
}

OCL_KERNEL(gather)
{
    const strata_tensor_desc *X = &call->inputs[0], *I = &call->inputs[1], *Y = &call->outputs[0];
    int axis = 0;
    strata_status s = kc_check_gather(call, 0, &axis);
    int64_t n = strata_desc_numel(I);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s == STRATA_OK)
        s = ocl_check_indices(call, d, I, X->shape[axis], "index", "position");
    if (s != STRATA_OK)
        return s;
    int64_t xst[STRATA_MAX_DIMS];
    ocl_strides(X->ndim, X->shape, xst);
    cl_long axis_stride = xst[axis];
    xst[axis] = 0;
    cl_long8 ishape = ocl_long8(I->shape, I->ndim), xs0 = ocl_long8(xst, X->ndim);
    cl_mem y = ocl_mem(Y), x = ocl_mem(X), idx = ocl_mem(I);
    cl_long x_off = ocl_off(X), i_off = ocl_off(I), nn = n;
    cl_int is64 = I->dtype == STRATA_I64, nd = I->ndim;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y),   OCL_ARG(x),  OCL_ARG(x_off),  OCL_ARG(idx), OCL_ARG(i_off),      OCL_ARG(is64),
                      OCL_ARG(nn),  OCL_ARG(nd), OCL_ARG(ishape), OCL_ARG(xs0), OCL_ARG(axis_stride)};
    return ocl_launch(call, d, OCL_K_gather_fwd, 1, &global, NULL, 11, args);
}

/* dx (attr shape, x's) = zeros, then dy scattered through idx along axis. */
OCL_KERNEL(gather_backward)
{
    const strata_tensor_desc *DY = &call->inputs[0], *I = &call->inputs[1], *DX = &call->outputs[0];
    int axis = 0;
    strata_status s = kc_check_gather(call, 1, &axis);
    int64_t n = strata_desc_numel(I), nx = strata_desc_numel(DX);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s == STRATA_OK)
        s = ocl_check_indices(call, d, I, DX->shape[axis], "index", "position");
    if (s != STRATA_OK)
        return s;
    if (!nx)
        return STRATA_OK;
    cl_float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(d->queue, ocl_mem(DX), &zero, sizeof zero, 0, (size_t)nx * sizeof zero, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS)
        return ocl_cl_fail(d->name, "clEnqueueFillBuffer", err);
    if (!n)
        return STRATA_OK;
    int64_t xst[STRATA_MAX_DIMS], ist[STRATA_MAX_DIMS], fsh[STRATA_MAX_DIMS];
    ocl_strides(DX->ndim, DX->shape, xst);
    ocl_strides(I->ndim, I->shape, ist);
    memcpy(fsh, I->shape, sizeof(int64_t) * (size_t)I->ndim);
    cl_long alen = I->shape[axis], i_axis_stride = ist[axis], x_axis_stride = xst[axis];
    fsh[axis] = 1;
    xst[axis] = 0;
    cl_long8 fshape = ocl_long8(fsh, I->ndim), istride = ocl_long8(ist, I->ndim), xs0 = ocl_long8(xst, DX->ndim);
    cl_mem dx = ocl_mem(DX), dy = ocl_mem(DY), idx = ocl_mem(I);
    cl_long dy_off = ocl_off(DY), i_off = ocl_off(I), fibres = n / alen;
    cl_int is64 = I->dtype == STRATA_I64, nd = I->ndim;
    size_t global = (size_t)fibres;
    ocl_arg args[] = {OCL_ARG(dx),     OCL_ARG(dy),      OCL_ARG(dy_off), OCL_ARG(idx),  OCL_ARG(i_off),
                      OCL_ARG(is64),   OCL_ARG(fibres),  OCL_ARG(nd),     OCL_ARG(fshape), OCL_ARG(istride),
                      OCL_ARG(xs0),    OCL_ARG(alen),    OCL_ARG(i_axis_stride), OCL_ARG(x_axis_stride)};
    return ocl_launch(call, d, OCL_K_gather_bwd, 1, &global, NULL, 14, args);
}

/* y (P, C) f32 = one-hot rows of idx (P). */
OCL_KERNEL(one_hot)
{
    const strata_tensor_desc *I = &call->inputs[0], *Y = &call->outputs[0];
    int64_t P = 0, C = 0;
    ocl_device *d = NULL;
    strata_status s;
    if ((s = kc_check_one_hot(call, &P, &C)) || (s = ocl_call_device(call, &d)) ||
        (s = ocl_check_indices(call, d, I, C, "index", "position")))
        return s;
    cl_mem y = ocl_mem(Y), idx = ocl_mem(I);
    cl_long i_off = ocl_off(I), cp = P, cc = C;
    cl_int is64 = I->dtype == STRATA_I64;
    size_t global = (size_t)(P * C);
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(idx), OCL_ARG(i_off), OCL_ARG(is64), OCL_ARG(cp), OCL_ARG(cc)};
    return ocl_launch(call, d, OCL_K_one_hot_fwd, 1, &global, NULL, 6, args);
}

/* y = the inputs side by side along attr axis (any one dtype): input k,
 * seen as (outer, n_k inner), is one rectangular copy into y (outer,
 * total inner) at column at_k inner. */
OCL_KERNEL(concat)
{
    if (call->n_inputs < 1 || call->n_outputs != 1)
        return kc_error(call, STRATA_E_INVALID, "expected at least 1 input and 1 output");
    const strata_tensor_desc *Y = &call->outputs[0];
    size_t es = strata_dtype_size(Y->dtype);
    int axis = 0;
    strata_status s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", 0), Y->ndim, &axis);
    if (s != STRATA_OK)
        return s;
    int64_t total = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        const strata_tensor_desc *X = &call->inputs[k];
        if (X->dtype != Y->dtype || es == 0)
            return kc_error(call, STRATA_E_DTYPE, "input %d has another dtype than the output", k);
        int ok = X->ndim == Y->ndim;
        for (int dd = 0; ok && dd < Y->ndim; dd++)
            ok = dd == axis || X->shape[dd] == Y->shape[dd];
        if (!ok)
            return kc_error(call, STRATA_E_SHAPE, "input %d does not match the output off axis %d", k, axis);
        total += X->shape[axis];
    }
    if (total != Y->shape[axis])
        return kc_error(call, STRATA_E_SHAPE, "inputs add up to %lld along axis %d; output has %lld",
                        (long long)total, axis, (long long)Y->shape[axis]);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    int64_t outer = 1, inner = 1;
    for (int dd = 0; dd < axis; dd++)
        outer *= Y->shape[dd];
    for (int dd = axis + 1; dd < Y->ndim; dd++)
        inner *= Y->shape[dd];
    int64_t at = 0;
    for (int k = 0; k < call->n_inputs; k++) {
        const strata_tensor_desc *X = &call->inputs[k];
        int64_t nk = X->shape[axis];
        size_t row = (size_t)(nk * inner) * es;
        if (row && outer) {
            size_t src_origin[3] = {X->byte_offset, 0, 0};
            size_t dst_origin[3] = {Y->byte_offset + (size_t)(at * inner) * es, 0, 0};
            size_t region[3] = {row, (size_t)outer, 1};
            size_t dst_pitch = (size_t)(total * inner) * es;
            cl_int err = clEnqueueCopyBufferRect(d->queue, ocl_mem(X), ocl_mem(Y), src_origin, dst_origin, region, row,
                                                 0, dst_pitch, 0, 0, NULL, NULL);
            if (err != CL_SUCCESS)
                return ocl_cl_fail(d->name, "clEnqueueCopyBufferRect", err);
        }
        at += nk;
    }
    return STRATA_OK;
}

/* dx = zeros of attr shape with dy placed where x[.., start:end:step, ..]
 * (Python slicing, clamped) read along attr axis. */
OCL_KERNEL(slice_backward)
{
    kc_slice sl;
    strata_status s = kc_check_slice_backward(call, &sl);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    const int axis = sl.axis;
    const int64_t start = sl.start, step = sl.step;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    int64_t nx = strata_desc_numel(DX), ny = strata_desc_numel(DY);
    if (!nx)
        return STRATA_OK;
    cl_float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(d->queue, ocl_mem(DX), &zero, sizeof zero, DX->byte_offset,
                                     (size_t)nx * sizeof zero, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return ocl_cl_fail(d->name, "clEnqueueFillBuffer", err);
    int64_t xst[STRATA_MAX_DIMS];
    ocl_strides(DX->ndim, DX->shape, xst);
    cl_long y_off = ocl_off(DX) + start * xst[axis];
    if (sl.count > 1) /* one row never steps: a huge step (x[1::2**63-1]) times the stride overflowed */
        xst[axis] *= step;
    cl_long8 shape8 = ocl_long8(DY->shape, DY->ndim), ys8 = ocl_long8(xst, DX->ndim);
    cl_mem y = ocl_mem(DX), x = ocl_mem(DY);
    cl_long x_off = ocl_off(DY), nn = ny;
    cl_int nd = DY->ndim;
    size_t global = (size_t)ny;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(y_off), OCL_ARG(x), OCL_ARG(x_off), OCL_ARG(nn), OCL_ARG(nd), OCL_ARG(shape8),
                      OCL_ARG(ys8)};
    return ocl_launch(call, d, OCL_K_scatter_strided, 1, &global, NULL, 8, args);
}
