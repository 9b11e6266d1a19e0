/*
 * ocl_random.c - the Philox ops (random.cl): uniform, normal, dropout,
 * bit for bit as ref (normal within the 1 ulp the suite allows for the
 * device's double log and cos). uniform and normal are claimed only on
 * devices with fp64 (ocl_supports_op); dropout needs none: keep_i is the
 * integer test k_i >= ceil(p 2^24), which is u_i >= p exactly.
 */
#include <math.h>

#include "ocl_internal.h"

static void ocl_philox_attrs(const strata_kernel_call *call, cl_ulong *seed, cl_ulong *offset)
{
    *seed = (cl_ulong)strata_attr_get_int(call->attrs, call->n_attrs, "seed", 0);
    *offset = (cl_ulong)strata_attr_get_int(call->attrs, call->n_attrs, "offset", 0);
}

/* The (a, b) pair in the device's widest float (double with fp64). */
static ocl_arg ocl_real2(const ocl_device *d, double a, double b, cl_double2 *dv, cl_float2 *fv)
{
    dv->s[0] = a;
    dv->s[1] = b;
    fv->s[0] = (float)a;
    fv->s[1] = (float)b;
    return d->fp64 ? (ocl_arg){sizeof *dv, dv} : (ocl_arg){sizeof *fv, fv};
}

static strata_status ocl_random_setup(const strata_kernel_call *call, ocl_device **d)
{
    strata_status s = kc_check_f32_call(call, 0, 0, 1);
    if (s == STRATA_OK)
        s = ocl_call_device(call, d);
    return s;
}

OCL_KERNEL(uniform)
{
    ocl_device *d = NULL;
    strata_status s = ocl_random_setup(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_ulong seed, offset;
    ocl_philox_attrs(call, &seed, &offset);
    cl_double2 dv;
    cl_float2 fv;
    ocl_arg lh = ocl_real2(d, strata_attr_get_float(call->attrs, call->n_attrs, "low", 0.0),
                           strata_attr_get_float(call->attrs, call->n_attrs, "high", 1.0), &dv, &fv);
    cl_mem y = ocl_mem(&call->outputs[0]);
    cl_long n = strata_desc_numel(&call->outputs[0]);
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(n), OCL_ARG(seed), OCL_ARG(offset), lh};
    return ocl_launch(call, d, OCL_K_philox_uniform, 1, &g, NULL, 5, args);
}

OCL_KERNEL(normal)
{
    ocl_device *d = NULL;
    strata_status s = ocl_random_setup(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_ulong seed, offset;
    ocl_philox_attrs(call, &seed, &offset);
    cl_double2 dv;
    cl_float2 fv;
    ocl_arg ms = ocl_real2(d, strata_attr_get_float(call->attrs, call->n_attrs, "mean", 0.0),
                           strata_attr_get_float(call->attrs, call->n_attrs, "std", 1.0), &dv, &fv);
    cl_mem y = ocl_mem(&call->outputs[0]);
    cl_long n = strata_desc_numel(&call->outputs[0]);
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y), OCL_ARG(n), OCL_ARG(seed), OCL_ARG(offset), ms};
    return ocl_launch(call, d, OCL_K_philox_normal, 1, &g, NULL, 5, args);
}

OCL_KERNEL(dropout)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 2);
    int64_t n = strata_desc_numel(&call->inputs[0]);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "y", n);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[1], "mask", n);
    if (s != STRATA_OK)
        return s;
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p <= 1.0))
        return kc_error(call, STRATA_E_INVALID, "p %g is outside [0, 1]", p);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    cl_ulong seed, offset;
    ocl_philox_attrs(call, &seed, &offset);
    cl_uint thr = (cl_uint)ceil(p * 16777216.0);
    cl_float kept = (cl_float)(p < 1.0 ? 1.0 / (1.0 - p) : 0.0);
    cl_mem y = ocl_mem(&call->outputs[0]), mask = ocl_mem(&call->outputs[1]), x = ocl_mem(&call->inputs[0]);
    cl_long x_off = ocl_off(&call->inputs[0]), nn = n;
    size_t g = (size_t)n;
    ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(mask),   OCL_ARG(x),   OCL_ARG(x_off), OCL_ARG(nn),
                      OCL_ARG(seed), OCL_ARG(offset), OCL_ARG(thr), OCL_ARG(kept)};
    return ocl_launch(call, d, OCL_K_philox_dropout, 1, &g, NULL, 9, args);
}
