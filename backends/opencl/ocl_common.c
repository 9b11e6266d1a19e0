/*
 * ocl_common.c - errors, kernel launches, checks and attributes shared by
 * the opencl kernels.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* ---- errors --------------------------------------------------------------- */

const char *ocl_cl_error_name(cl_int err)
{
    switch (err) {
#define OCL_ERR(e)                                                                                             \
    case e:                                                                                                    \
        return #e;
        OCL_ERR(CL_SUCCESS)
        OCL_ERR(CL_DEVICE_NOT_FOUND)
        OCL_ERR(CL_DEVICE_NOT_AVAILABLE)
        OCL_ERR(CL_COMPILER_NOT_AVAILABLE)
        OCL_ERR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        OCL_ERR(CL_OUT_OF_RESOURCES)
        OCL_ERR(CL_OUT_OF_HOST_MEMORY)
        OCL_ERR(CL_BUILD_PROGRAM_FAILURE)
        OCL_ERR(CL_INVALID_VALUE)
        OCL_ERR(CL_INVALID_PLATFORM)
        OCL_ERR(CL_INVALID_DEVICE)
        OCL_ERR(CL_INVALID_CONTEXT)
        OCL_ERR(CL_INVALID_COMMAND_QUEUE)
        OCL_ERR(CL_INVALID_MEM_OBJECT)
        OCL_ERR(CL_INVALID_BINARY)
        OCL_ERR(CL_INVALID_BUILD_OPTIONS)
        OCL_ERR(CL_INVALID_PROGRAM)
        OCL_ERR(CL_INVALID_PROGRAM_EXECUTABLE)
        OCL_ERR(CL_INVALID_KERNEL_NAME)
        OCL_ERR(CL_INVALID_KERNEL)
        OCL_ERR(CL_INVALID_ARG_INDEX)
        OCL_ERR(CL_INVALID_ARG_VALUE)
        OCL_ERR(CL_INVALID_ARG_SIZE)
        OCL_ERR(CL_INVALID_KERNEL_ARGS)
        OCL_ERR(CL_INVALID_WORK_DIMENSION)
        OCL_ERR(CL_INVALID_WORK_GROUP_SIZE)
        OCL_ERR(CL_INVALID_WORK_ITEM_SIZE)
        OCL_ERR(CL_INVALID_GLOBAL_OFFSET)
        OCL_ERR(CL_INVALID_BUFFER_SIZE)
        OCL_ERR(CL_INVALID_GLOBAL_WORK_SIZE)
#undef OCL_ERR
    default:
        return "an OpenCL error";
    }
}

strata_status ocl_error(const strata_kernel_call *call, strata_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *op = call && call->op ? call->op : "opencl";
    if (ocl_host && ocl_host->set_error)
        ocl_host->set_error(status, "%s: %s", op, msg);
    return status;
}

strata_status ocl_cl_fail(const char *where, const char *what, cl_int err)
{
    strata_status s = err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                              err == CL_OUT_OF_RESOURCES
                          ? STRATA_E_NOMEM
                          : STRATA_E_BACKEND;
    if (ocl_host && ocl_host->set_error)
        ocl_host->set_error(s, "%s: %s failed with %s (%d)", where, what, ocl_cl_error_name(err), (int)err);
    return s;
}

/* ---- launching ------------------------------------------------------------ */

strata_status ocl_call_device(const strata_kernel_call *call, ocl_device **out)
{
    ocl_backend *b = call->backend_self;
    if (!b || call->device < 0 || call->device >= b->n_devices)
        return ocl_error(call, STRATA_E_INVALID, "no opencl device %d", (int)call->device);
    ocl_device *d = &b->devs[call->device];
    strata_status s = ocl_device_ready(d);
    if (s != STRATA_OK)
        return s;
    *out = d;
    return STRATA_OK;
}

strata_status ocl_launch(const strata_kernel_call *call, ocl_device *d, ocl_kernel_id k, int dims,
                         const size_t *global, const size_t *local, int n_args, const ocl_arg *args)
{
    size_t g[3];
    for (int i = 0; i < dims; i++) {
        if (!global[i])
            return STRATA_OK; /* nothing to do */
        g[i] = local ? ocl_round_up(global[i], local[i]) : global[i];
    }
    pthread_mutex_lock(&d->lock); /* kernel objects hold their args: one launch at a time */
    cl_kernel kn = d->kernels[k];
    cl_int err = CL_SUCCESS;
    int bad = -1;
    for (int i = 0; i < n_args && err == CL_SUCCESS; i++) {
        err = clSetKernelArg(kn, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            bad = i;
    }
    if (err == CL_SUCCESS)
        err = clEnqueueNDRangeKernel(d->queue, kn, (cl_uint)dims, NULL, g, local, 0, NULL, NULL);
    pthread_mutex_unlock(&d->lock);
    if (err == CL_SUCCESS && d->sync_each) /* STRATA_OPENCL_SYNC=1: op timings (strata bench --profile) */
        err = clFinish(d->queue);
    if (err != CL_SUCCESS) {
        char what[96];
        if (bad >= 0)
            snprintf(what, sizeof what, "clSetKernelArg (argument %d)", bad);
        else
            snprintf(what, sizeof what, "clEnqueueNDRangeKernel");
        strata_status s = ocl_cl_fail(d->name, what, err);
        return ocl_error(call, s, "%s on %s failed with %s (%d)", what, d->name, ocl_cl_error_name(err), (int)err);
    }
    return STRATA_OK;
}

/* ---- checks --------------------------------------------------------------- */

const char *ocl_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int w = snprintf(buf, n, "(");
    used = w > 0 ? (size_t)w : 0;
    for (int d = 0; d < ndim && used < n; d++) {
        w = snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)shape[d]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < n)
        snprintf(buf + used, n - used, ")");
    return buf;
}

strata_status ocl_check_arity(const strata_kernel_call *call, int min_in, int max_in, int n_out)
{
    if (call->n_inputs < min_in || call->n_inputs > max_in)
        return ocl_error(call, STRATA_E_INVALID, "expected %d to %d inputs, got %d", min_in, max_in,
                         (int)call->n_inputs);
    if (call->n_outputs != n_out)
        return ocl_error(call, STRATA_E_INVALID, "expected %d outputs, got %d", n_out, (int)call->n_outputs);
    return STRATA_OK;
}

strata_status ocl_check_all_f32(const strata_kernel_call *call)
{
    for (int k = 0; k < call->n_inputs; k++)
        if (call->inputs[k].dtype != STRATA_F32)
            return ocl_error(call, STRATA_E_DTYPE, "input %d is not f32", k);
    for (int k = 0; k < call->n_outputs; k++)
        if (call->outputs[k].dtype != STRATA_F32)
            return ocl_error(call, STRATA_E_DTYPE, "output %d is not f32", k);
    return STRATA_OK;
}

strata_status ocl_check_numel(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                              int64_t numel)
{
    if (strata_desc_numel(d) != numel) {
        char s[128];
        return ocl_error(call, STRATA_E_SHAPE, "%s %s has %lld elements, expected %lld", what,
                         ocl_shape_str(s, sizeof s, d->ndim, d->shape), (long long)strata_desc_numel(d),
                         (long long)numel);
    }
    return STRATA_OK;
}

strata_status ocl_axis(const strata_kernel_call *call, int64_t axis, int ndim, int *out)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= (ndim ? ndim : 1))
        return ocl_error(call, STRATA_E_INVALID, "axis %lld is out of range for %d dims", (long long)axis, ndim);
    *out = (int)a;
    return STRATA_OK;
}

const char *ocl_attr_string(const strata_kernel_call *call, const char *name, const char *dflt)
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    if (!a)
        return dflt;
    if (a->kind != STRATA_ATTR_STRING) {
        ocl_error(call, STRATA_E_INVALID, "attr %s must be a string", name);
        return NULL;
    }
    return a->s;
}

strata_status ocl_reduction_mode(const strata_kernel_call *call, int *out)
{
    const char *r = ocl_attr_string(call, "reduction", "mean");
    if (!r)
        return STRATA_E_INVALID;
    if (!strcmp(r, "none"))
        *out = 0;
    else if (!strcmp(r, "mean"))
        *out = 1;
    else if (!strcmp(r, "sum"))
        *out = 2;
    else
        return ocl_error(call, STRATA_E_INVALID, "reduction \"%s\" is not none, mean or sum", r);
    return STRATA_OK;
}

strata_status ocl_check_indices(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *idx,
                                int64_t limit, const char *what, const char *row_word)
{
    int64_t n = strata_desc_numel(idx);
    size_t es = strata_dtype_size(idx->dtype);
    if (!n)
        return STRATA_OK;
    void *h = malloc((size_t)n * es);
    if (!h)
        return ocl_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes reading %lld %s", (size_t)n * es, (long long)n,
                         what);
    cl_int err = clEnqueueReadBuffer(d->queue, ocl_mem(idx), CL_TRUE, idx->byte_offset, (size_t)n * es, h, 0, NULL,
                                     NULL);
    if (err != CL_SUCCESS) {
        free(h);
        return ocl_cl_fail(d->name, "clEnqueueReadBuffer", err);
    }
    strata_status s = STRATA_OK;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = idx->dtype == STRATA_I32 ? (int64_t)((const int32_t *)h)[i] : ((const int64_t *)h)[i];
        if (v < 0 || v >= limit) {
            s = ocl_error(call, STRATA_E_INVALID, "%s %lld at %s %lld is outside [0, %lld)", what, (long long)v,
                          row_word, (long long)i, (long long)limit);
            break;
        }
    }
    free(h);
    return s;
}
