/*
 * ema.c - gan::ema_update, the exponential moving average of a parameter
 * (the generator weights averaged over training, as in Karras et al. 2018
 * and Yazici et al. 2019), updated in place:
 *
 *   gan::ema_update  ema (any shape), param (same shape) -> ema
 *       ema = decay * ema + (1 - decay) * param,  attr decay (float in [0, 1], required)
 *
 * Invoked with STRATA_INVOKE_OUTPUTS_PROVIDED and the ema tensor as the
 * output, like the core's optimizer steps; without that flag it returns the
 * update as a new tensor. Not differentiable (STRATA_OP_NO_GRAD): never
 * recorded. The host kernel; cpu, cuda and opencl have their own, and a
 * backend without one runs this by the host fallback.
 */
#include <string.h>

#include "gan_internal.h"

static strata_status read_decay(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                                double *decay)
{
    const strata_attr *a = strata_attr_find(attrs, n, "decay");
    if (!a || (a->kind != STRATA_ATTR_FLOAT && a->kind != STRATA_ATTR_INT))
        return h->set_error(STRATA_E_INVALID, "%s: attr decay (a float in [0, 1]) is required", op);
    double d = a->kind == STRATA_ATTR_INT ? (double)a->i : a->f;
    if (!(d >= 0.0 && d <= 1.0))
        return h->set_error(STRATA_E_INVALID, "%s: decay must be in [0, 1], got %g", op, d);
    *decay = d;
    return STRATA_OK;
}

static strata_status check(const strata_host_api *h, const char *op, const strata_tensor_desc *in,
                           const strata_attr *attrs, int n_attrs, double *decay)
{
    static const char *const names[2] = {"ema", "param"};
    for (int k = 0; k < 2; k++)
        if (in[k].dtype != STRATA_F32)
            return h->set_error(STRATA_E_DTYPE, "%s: %s (input %d) must be f32, got dtype %d", op, names[k], k,
                                (int)in[k].dtype);
    if (in[0].ndim != in[1].ndim || memcmp(in[0].shape, in[1].shape, sizeof(int64_t) * (size_t)in[0].ndim)) {
        char a[96], b[96];
        return h->set_error(STRATA_E_SHAPE, "%s: ema (input 0) %s and param (input 1) %s must have the same shape", op,
                            gan_shape_str(a, sizeof a, in[0].ndim, in[0].shape),
                            gan_shape_str(b, sizeof b, in[1].ndim, in[1].shape));
    }
    return read_decay(h, op, attrs, n_attrs, decay);
}

static strata_status infer_ema(const strata_infer_call *c)
{
    double decay;
    strata_status rc = check(gan_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &decay);
    if (rc)
        return rc;
    c->outputs[0] = c->inputs[0];
    return STRATA_OK;
}

/* out (n) = decay * ema + (1 - decay) * p; out may alias ema (in place). */
static void ema_forward(float *out, const float *ema, const float *p, double decay, int64_t n)
{
    const double keep = 1.0 - decay;
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)(decay * (double)ema[i] + keep * (double)p[i]);
}

static strata_status kernel_ema(const strata_kernel_call *c)
{
    double decay;
    strata_status rc = check(gan_host(c->user), c->op, c->inputs, c->attrs, c->n_attrs, &decay);
    if (rc)
        return rc;
    ema_forward(strata_desc_ptr(&c->outputs[0]), strata_desc_ptr(&c->inputs[0]), strata_desc_ptr(&c->inputs[1]), decay,
                strata_desc_numel(&c->inputs[0]));
    return STRATA_OK;
}

/* Its attribute, checked by the core on every call (ABI 1.4). */
static const strata_attr_spec ema_attrs[1] = {
    {sizeof(strata_attr_spec), "decay", STRATA_ATTR_FLOAT, 1, 0, 0.999, NULL, "the average's weight, in [0, 1]"},
};

strata_status gan_register_ema(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def def = {
        .struct_size = sizeof(strata_op_def),
        .name = "gan::ema_update",
        .version = 1,
        .min_inputs = 2,
        .max_inputs = 2,
        .n_outputs = 1,
        .flags = STRATA_OP_NO_GRAD | STRATA_OP_INPLACE,
        .infer = infer_ema,
        .host_kernel = kernel_ema,
        .user = (void *)(uintptr_t)h,
        .doc = "in place (outputs provided): ema = decay ema + (1 - decay) param; attr decay in [0, 1]",
        .attrs = ema_attrs,
        .n_attrs = 1,
    };
    return h->register_op(p, &def);
}
