/*
 * ocl_common.c - OpenCL errors, kernel launches and the index check shared
 * by the opencl kernels (the checks of a call are backends/common's
 * kcall.c).
 */
#include <stdio.h>
#include <stdlib.h>

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
        return kc_error(call, STRATA_E_INVALID, "no opencl device %d", (int)call->device);
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
        return kc_error(call, s, "%s on %s failed with %s (%d)", what, d->name, ocl_cl_error_name(err), (int)err);
    }
    return STRATA_OK;
}

/* ---- checks --------------------------------------------------------------- */

strata_status ocl_check_indices(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *idx,
                                int64_t limit, const char *what, const char *row_word)
{
    int64_t n = strata_desc_numel(idx);
    size_t es = strata_dtype_size(idx->dtype);
    if (!n)
        return STRATA_OK;
    void *h = malloc((size_t)n * es);
    if (!h)
        return kc_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes reading %lld %s", (size_t)n * es, (long long)n,
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
            s = kc_error(call, STRATA_E_INVALID, "%s %lld at %s %lld is outside [0, %lld)", what, (long long)v,
                         row_word, (long long)i, (long long)limit);
            break;
        }
    }
    free(h);
    return s;
}
