/*
 * ref_random.c - creation ops (fill) and the random ops. Random element i
 * (row-major) is element i of the Philox stream (seed, offset) defined in
 * strata_backend.h, so every backend draws the same numbers.
 */
#include "ref_internal.h"

/* The stream's key and starting counter: int attrs read as uint64. */
static void ref_philox_attrs(const strata_kernel_call *call, uint64_t *seed, uint64_t *offset)
{
    *seed = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "seed", 0);
    *offset = (uint64_t)strata_attr_get_int(call->attrs, call->n_attrs, "offset", 0);
}

/* y = value everywhere; y is f32, i32 or i64 (the dtype the core inferred
 * from attr dtype). An int attr value is kept exact for the int dtypes. */
REF_KERNEL(fill)
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

    int64_t n = strata_desc_numel(Y);
    void *y = strata_desc_ptr(Y); // (shape)
    switch (Y->dtype) {
    case STRATA_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)y)[i] = (float)fv;
        return STRATA_OK;
    case STRATA_I32:
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)y)[i] = (int32_t)iv;
        return STRATA_OK;
    case STRATA_I64:
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)y)[i] = iv;
        return STRATA_OK;
    default:
        return kc_error(call, STRATA_E_DTYPE, "cannot fill dtype %s; expected f32, i32 or i64",
                        strata_dtype_name(Y->dtype));
    }
}

/* y[i] = low + (high - low) u_i, u_i uniform in [0, 1). */
REF_KERNEL(uniform)
{
    strata_status s = kc_check_f32_call(call, 0, 0, 1);
    if (s == STRATA_OK)
        s = kc_check_shape_attr(call, "shape", &call->outputs[0]);
    if (s != STRATA_OK)
        return s;
    double low = strata_attr_get_float(call->attrs, call->n_attrs, "low", 0.0);
    double high = strata_attr_get_float(call->attrs, call->n_attrs, "high", 1.0);
    uint64_t seed, offset;
    ref_philox_attrs(call, &seed, &offset);

    float *y = strata_desc_ptr(&call->outputs[0]); // (shape)
    int64_t n = strata_desc_numel(&call->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(low + (high - low) * (double)strata_philox_uniform(seed, offset, (uint64_t)i));
    return STRATA_OK;
}

/* y[i] = mean + std n_i, n_i standard normal. */
REF_KERNEL(normal)
{
    strata_status s = kc_check_f32_call(call, 0, 0, 1);
    if (s == STRATA_OK)
        s = kc_check_shape_attr(call, "shape", &call->outputs[0]);
    if (s != STRATA_OK)
        return s;
    double mean = strata_attr_get_float(call->attrs, call->n_attrs, "mean", 0.0);
    double std = strata_attr_get_float(call->attrs, call->n_attrs, "std", 1.0);
    uint64_t seed, offset;
    ref_philox_attrs(call, &seed, &offset);

    float *y = strata_desc_ptr(&call->outputs[0]); // (shape)
    int64_t n = strata_desc_numel(&call->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(mean + std * (double)strata_philox_normal(seed, offset, (uint64_t)i));
    return STRATA_OK;
}

/* keep_i = u_i >= p; mask_i = keep_i / (1 - p); y_i = x_i mask_i.
 * x, y, mask share one shape. p = 1 drops everything (mask 0). */
REF_KERNEL(dropout)
{
    strata_status s = kc_check_f32_call(call, 1, 1, 2);
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, &call->outputs[0], "y", &call->inputs[0], "x");
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, &call->outputs[1], "mask", &call->inputs[0], "x");
    if (s != STRATA_OK)
        return s;
    double p = strata_attr_get_float(call->attrs, call->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p <= 1.0))
        return kc_error(call, STRATA_E_INVALID, "p %g is outside [0, 1]", p);
    double kept_scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    uint64_t seed, offset;
    ref_philox_attrs(call, &seed, &offset);

    float *y = strata_desc_ptr(&call->outputs[0]);      // (n)
    float *mask = strata_desc_ptr(&call->outputs[1]);   // (n)
    const float *x = strata_desc_ptr(&call->inputs[0]); // (n)
    int64_t n = strata_desc_numel(&call->inputs[0]);
    for (int64_t i = 0; i < n; i++) {
        int keep = (double)strata_philox_uniform(seed, offset, (uint64_t)i) >= p;
        float m = (float)(keep ? kept_scale : 0.0);
        double xi = x[i];
        mask[i] = m;
        y[i] = (float)(xi * m); /* exact product, rounded once: equals x * mask in f32 */
    }
    return STRATA_OK;
}
