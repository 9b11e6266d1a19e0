/*
 * ocl_bnorm.c - the conv plugin's batch normalisation (forward, backward,
 * running statistics) and channel dropout, on bnorm.cl: one work-group per
 * channel, sums in f32 (pairwise within the group; ref sums in double and
 * the suite's tolerance scales with M).
 */
#include <math.h>

#include "ocl_internal.h"

/* x (N, C, ...) as (N, C, S). */
static strata_status ocl_channel_sizes(const strata_kernel_call *call, const strata_tensor_desc *X, int64_t *N,
                                       int64_t *C, int64_t *S)
{
    if (X->ndim < 2 || X->dtype != STRATA_F32) {
        char b[128];
        return kc_error(call, STRATA_E_SHAPE, "x must be f32 (N, C, ...), got %s",
                        kc_shape_str(b, sizeof b, X->ndim, X->shape));
    }
    *N = X->shape[0];
    *C = X->shape[1];
    *S = 1;
    for (int k = 2; k < X->ndim; k++)
        *S *= X->shape[k];
    return STRATA_OK;
}

static size_t ocl_group_for(const ocl_device *d, int64_t m)
{
    size_t wg = 1, max = d->max_wg < 256 ? d->max_wg : 256;
    while (wg * 2 <= max && (int64_t)wg < m)
        wg <<= 1;
    return wg;
}

/* inputs x, weight, bias, running_mean, running_var; outputs y, mean, invstd. */
OCL_KERNEL(batch_norm)
{
    strata_status s = kc_check_f32_call(call, 5, 5, 3);
    int64_t N = 0, C = 0, S = 0;
    if (s == STRATA_OK)
        s = ocl_channel_sizes(call, &call->inputs[0], &N, &C, &S);
    for (int k = 1; k < 5 && s == STRATA_OK; k++)
        s = kc_check_numel(call, &call->inputs[k], "per-channel input", C);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "y", N * C * S);
    for (int k = 1; k < 3 && s == STRATA_OK; k++)
        s = kc_check_numel(call, &call->outputs[k], "per-channel output", C);
    if (s != STRATA_OK)
        return s;
    cl_int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    double eps = strata_attr_get_float(call->attrs, call->n_attrs, "eps", 1e-5);
    if (!(eps >= 0.0))
        return kc_error(call, STRATA_E_INVALID, "eps must be >= 0, got %g", eps);
    if (training && N * S <= 1)
        return kc_error(call, STRATA_E_INVALID, "training needs more than one value per channel, got %lld",
                        (long long)(N * S));
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    const strata_tensor_desc *in = call->inputs;
    cl_mem y = ocl_mem(&call->outputs[0]), mo = ocl_mem(&call->outputs[1]), io = ocl_mem(&call->outputs[2]);
    cl_mem x = ocl_mem(&in[0]), w = ocl_mem(&in[1]), b = ocl_mem(&in[2]), rm = ocl_mem(&in[3]), rv = ocl_mem(&in[4]);
    cl_long x_off = ocl_off(&in[0]), w_off = ocl_off(&in[1]), b_off = ocl_off(&in[2]), rm_off = ocl_off(&in[3]);
    cl_long rv_off = ocl_off(&in[4]), cn = N, cc = C, cs = S;
    cl_float feps = (cl_float)eps;
    size_t wg = ocl_group_for(d, N * S), global = (size_t)C * wg;
    ocl_arg args[] = {OCL_ARG(y),  OCL_ARG(mo),    OCL_ARG(io), OCL_ARG(x),      OCL_ARG(x_off),    OCL_ARG(w),
                      OCL_ARG(w_off), OCL_ARG(b),  OCL_ARG(b_off), OCL_ARG(rm),  OCL_ARG(rm_off),   OCL_ARG(rv),
                      OCL_ARG(rv_off), OCL_ARG(cn), OCL_ARG(cc), OCL_ARG(cs),    OCL_ARG(training), OCL_ARG(feps)};
    return ocl_launch(call, d, OCL_K_bn_fwd, 1, &global, &wg, 18, args);
}

/* inputs dy, x, weight, mean, invstd; outputs dx, dweight, dbias. */
OCL_KERNEL(batch_norm_backward)
{
    strata_status s = kc_check_f32_call(call, 5, 5, 3);
    int64_t N = 0, C = 0, S = 0;
    if (s == STRATA_OK)
        s = ocl_channel_sizes(call, &call->inputs[1], &N, &C, &S);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->inputs[0], "dy", N * C * S);
    for (int k = 2; k < 5 && s == STRATA_OK; k++)
        s = kc_check_numel(call, &call->inputs[k], "per-channel input", C);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "dx", N * C * S);
    for (int k = 1; k < 3 && s == STRATA_OK; k++)
        s = kc_check_numel(call, &call->outputs[k], "per-channel output", C);
    ocl_device *d = NULL;
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    const strata_tensor_desc *in = call->inputs;
    cl_mem dx = ocl_mem(&call->outputs[0]), dw = ocl_mem(&call->outputs[1]), db = ocl_mem(&call->outputs[2]);
    cl_mem dy = ocl_mem(&in[0]), x = ocl_mem(&in[1]), w = ocl_mem(&in[2]), mean = ocl_mem(&in[3]);
    cl_mem inv = ocl_mem(&in[4]);
    cl_long dy_off = ocl_off(&in[0]), x_off = ocl_off(&in[1]), w_off = ocl_off(&in[2]), m_off = ocl_off(&in[3]);
    cl_long i_off = ocl_off(&in[4]), cn = N, cc = C, cs = S;
    size_t wg = ocl_group_for(d, N * S), global = (size_t)C * wg;
    ocl_arg args[] = {OCL_ARG(dx),    OCL_ARG(dw),   OCL_ARG(db),    OCL_ARG(dy),    OCL_ARG(dy_off), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(w),    OCL_ARG(w_off), OCL_ARG(mean),  OCL_ARG(m_off),  OCL_ARG(inv),
                      OCL_ARG(i_off), OCL_ARG(cn),   OCL_ARG(cc),    OCL_ARG(cs),    OCL_ARG(training)};
    return ocl_launch(call, d, OCL_K_bn_bwd, 1, &global, &wg, 17, args);
}

/* inputs running_mean, x, running_var, num_batches_tracked (one i64);
 * outputs the three buffers (usually the same storage). */
OCL_KERNEL(batch_norm_update_stats)
{
    strata_status s = kc_check_arity(call, 4, 4, 3);
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    int64_t N = 0, C = 0, S = 0;
    if (s == STRATA_OK)
        s = ocl_channel_sizes(call, &in[1], &N, &C, &S);
    if (s == STRATA_OK && (in[0].dtype != STRATA_F32 || in[2].dtype != STRATA_F32 || out[0].dtype != STRATA_F32 ||
                           out[1].dtype != STRATA_F32))
        s = kc_error(call, STRATA_E_DTYPE, "the running statistics must be f32");
    if (s == STRATA_OK && !(s = kc_check_numel(call, &in[0], "running_mean", C)) &&
        !(s = kc_check_numel(call, &in[2], "running_var", C)) &&
        !(s = kc_check_numel(call, &out[0], "running_mean output", C)))
        s = kc_check_numel(call, &out[1], "running_var output", C);
    if (s == STRATA_OK && (in[3].dtype != STRATA_I64 || strata_desc_numel(&in[3]) != 1 || out[2].dtype != STRATA_I64 ||
                           strata_desc_numel(&out[2]) != 1))
        s = kc_error(call, STRATA_E_SHAPE, "num_batches_tracked (input 3 and output 2) must be one i64 value");
    if (s != STRATA_OK)
        return s;
    double m = strata_attr_get_float(call->attrs, call->n_attrs, "momentum", 0.1);
    if (!(m >= 0.0 && m <= 1.0))
        return kc_error(call, STRATA_E_INVALID, "momentum must be in [0, 1], got %g", m);
    if (N * S <= 1)
        return kc_error(call, STRATA_E_INVALID,
                        "the unbiased variance needs more than one value per channel, got %lld", (long long)(N * S));
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    cl_mem rmo = ocl_mem(&out[0]), rvo = ocl_mem(&out[1]), nbto = ocl_mem(&out[2]);
    cl_mem rm = ocl_mem(&in[0]), x = ocl_mem(&in[1]), rv = ocl_mem(&in[2]), nbt = ocl_mem(&in[3]);
    cl_long rm_off = ocl_off(&in[0]), x_off = ocl_off(&in[1]), rv_off = ocl_off(&in[2]), n_off = ocl_off(&in[3]);
    if (C == 0) { /* no channels: the batch still counts (as ref counts it); no group to launch */
        int64_t count = 0;
        s = ocl_copy_to_host(call->backend_self, call->device, &count, nbt, in[3].byte_offset, sizeof count);
        count++;
        return s ? s : ocl_copy_from_host(call->backend_self, call->device, nbto, out[2].byte_offset, &count,
                                          sizeof count);
    }
    cl_long cn = N, cc = C, cs = S;
    cl_float mom = (cl_float)m;
    size_t wg = ocl_group_for(d, N * S), global = (size_t)C * wg;
    ocl_arg args[] = {OCL_ARG(rmo), OCL_ARG(rvo),   OCL_ARG(nbto), OCL_ARG(rm), OCL_ARG(rm_off),
                      OCL_ARG(x),   OCL_ARG(x_off), OCL_ARG(rv),   OCL_ARG(rv_off), OCL_ARG(nbt),
                      OCL_ARG(n_off), OCL_ARG(cn),  OCL_ARG(cc),   OCL_ARG(cs), OCL_ARG(mom)};
    return ocl_launch(call, d, OCL_K_bn_update_stats, 1, &global, &wg, 15, args);
}

/* y = x mask, mask (N, C, 1, ...) = keep / (1 - p) per channel. */
OCL_KERNEL(dropout2d)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 2);
    int64_t N = 0, C = 0, S = 0;
    if (s == STRATA_OK)
        s = ocl_channel_sizes(call, &call->inputs[0], &N, &C, &S);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "y", N * C * S);
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[1], "mask", N * C);
    if (s != STRATA_OK)
        return s;
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p < 1.0))
        return kc_error(call, STRATA_E_INVALID, "p must be in [0, 1), got %g", p);
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    cl_ulong seed = (cl_ulong)strata_attr_get_int(call->attrs, call->n_attrs, "seed", 0);
    cl_ulong offset = (cl_ulong)strata_attr_get_int(call->attrs, call->n_attrs, "offset", 0);
    cl_uint thr = (cl_uint)ceil(p * 16777216.0);
    cl_float kept = (cl_float)(1.0 / (1.0 - p));
    cl_mem y = ocl_mem(&call->outputs[0]), mask = ocl_mem(&call->outputs[1]), x = ocl_mem(&call->inputs[0]);
    cl_long x_off = ocl_off(&call->inputs[0]), nc = N * C, cs = S;
    size_t global = (size_t)(S ? N * C * S : N * C); /* S == 0: the mask alone */
    ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(mask),   OCL_ARG(x),   OCL_ARG(x_off), OCL_ARG(nc),
                      OCL_ARG(cs),   OCL_ARG(seed),   OCL_ARG(offset), OCL_ARG(thr), OCL_ARG(kept)};
    if (!global)
        return STRATA_OK;
    return ocl_launch(call, d, OCL_K_dropout2d_fwd, 1, &global, NULL, 10, args);
}
