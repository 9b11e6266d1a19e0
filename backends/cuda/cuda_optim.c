/*
 * cuda_optim.c - fused, in-place optimizer updates: one kernel per
 * parameter reads p, g and the slots and writes p and the slots (outputs
 * alias inputs; each element is read before it is written). The formulas
 * are ref_optim.c's, per element in double.
 */
#include <math.h>

#include "cuda_ops.h"

#define CUDA_F(name, dflt) strata_attr_get_float(call->attrs, call->n_attrs, (name), (dflt))
#define CUDA_I(name, dflt) strata_attr_get_int(call->attrs, call->n_attrs, (name), (dflt))

/* Arity, f32, and one element count for every input and output. */
static strata_status cuda_optim_setup(const strata_kernel_call *call, int n_in, int64_t *n)
{
    CUDA_OK(kc_check_arity(call, n_in, n_in, n_in - 1));
    CUDA_OK(kc_check_all_f32(call));
    *n = strata_desc_numel(&call->inputs[0]);
    for (int k = 1; k < n_in; k++)
        if (strata_desc_numel(&call->inputs[k]) != *n)
            return kc_error(call, STRATA_E_SHAPE, "input %d has %lld elements, p has %lld", k,
                            (long long)strata_desc_numel(&call->inputs[k]), (long long)*n);
    for (int k = 0; k < n_in - 1; k++)
        if (strata_desc_numel(&call->outputs[k]) != *n)
            return kc_error(call, STRATA_E_SHAPE, "output %d has %lld elements, p has %lld", k,
                            (long long)strata_desc_numel(&call->outputs[k]), (long long)*n);
    return STRATA_OK;
}

static strata_status cuda_optim_step(const strata_kernel_call *call, int64_t *t)
{
    *t = CUDA_I("step", 1);
    if (*t < 1)
        return kc_error(call, STRATA_E_INVALID, "step %lld must be at least 1", (long long)*t);
    return STRATA_OK;
}

#define IN(k) ((const float *)cuda_ptr(&call->inputs[k]))
#define OUT(k) ((float *)cuda_ptr(&call->outputs[k]))

CUDA_KERNEL(sgd_step)
{
    int64_t n = 0;
    CUDA_OK(cuda_optim_setup(call, 3, &n));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_sgd(d->stream, OUT(0), OUT(1), IN(0), IN(1), IN(2), CUDA_F("lr", 1e-3), CUDA_F("momentum", 0.0),
                        CUDA_F("dampening", 0.0), CUDA_F("weight_decay", 0.0), CUDA_I("nesterov", 0) != 0,
                        CUDA_I("first", 0) != 0, n));
    return STRATA_OK;
}

CUDA_KERNEL(adam_step)
{
    int64_t n = 0, t = 1;
    CUDA_OK(cuda_optim_setup(call, 4, &n));
    CUDA_OK(cuda_optim_step(call, &t));
    double lr = CUDA_F("lr", 1e-3), b1 = CUDA_F("beta1", 0.9), b2 = CUDA_F("beta2", 0.999);
    double step_size = lr / (1.0 - pow(b1, (double)t));
    double sqrt_bc2 = sqrt(1.0 - pow(b2, (double)t));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_adam(d->stream, OUT(0), OUT(1), OUT(2), IN(0), IN(1), IN(2), IN(3), lr, b1, b2,
                         CUDA_F("eps", 1e-8), CUDA_F("weight_decay", 0.0), CUDA_I("decoupled", 0) != 0, step_size,
                         sqrt_bc2, n));
    return STRATA_OK;
}

CUDA_KERNEL(rmsprop_step)
{
    int64_t n = 0;
    CUDA_OK(cuda_optim_setup(call, 4, &n));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_rmsprop(d->stream, OUT(0), OUT(1), OUT(2), IN(0), IN(1), IN(2), IN(3), CUDA_F("lr", 1e-2),
                            CUDA_F("alpha", 0.99), CUDA_F("eps", 1e-8), CUDA_F("weight_decay", 0.0),
                            CUDA_F("momentum", 0.0), n));
    return STRATA_OK;
}

CUDA_KERNEL(adagrad_step)
{
    int64_t n = 0, t = 1;
    CUDA_OK(cuda_optim_setup(call, 3, &n));
    CUDA_OK(cuda_optim_step(call, &t));
    double clr = CUDA_F("lr", 1e-2) / (1.0 + (double)(t - 1) * CUDA_F("lr_decay", 0.0));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_adagrad(d->stream, OUT(0), OUT(1), IN(0), IN(1), IN(2), clr, CUDA_F("eps", 1e-10),
                            CUDA_F("weight_decay", 0.0), n));
    return STRATA_OK;
}
