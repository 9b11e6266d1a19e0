/*
 * cuda_optim.c - fused, in-place optimizer updates: one kernel per
 * parameter reads p, g and the slots and writes p and the slots (outputs
 * alias inputs; each element is read before it is written). The formulas
 * are ref_optim.c's, per element in double. Also the gan plugin's
 * exponential moving average of a parameter, updated the same way.
 */
#include <math.h>

#include "cuda_ops.h"

#define CUDA_F(name, dflt) strata_attr_get_float(call->attrs, call->n_attrs, (name), (dflt))
#define CUDA_I(name, dflt) strata_attr_get_int(call->attrs, call->n_attrs, (name), (dflt))

#define IN(k) ((const float *)cuda_ptr(&call->inputs[k]))
#define OUT(k) ((float *)cuda_ptr(&call->outputs[k]))

CUDA_KERNEL(sgd_step)
{
    int64_t n = 0;
    CUDA_OK(kc_check_optim(call, 3, &n));
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
    CUDA_OK(kc_check_optim(call, 4, &n));
    CUDA_OK(kc_optim_step(call, &t));
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
    CUDA_OK(kc_check_optim(call, 4, &n));
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
    CUDA_OK(kc_check_optim(call, 3, &n));
    CUDA_OK(kc_optim_step(call, &t));
    double clr = CUDA_F("lr", 1e-2) / (1.0 + (double)(t - 1) * CUDA_F("lr_decay", 0.0));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_adagrad(d->stream, OUT(0), OUT(1), IN(0), IN(1), IN(2), clr, CUDA_F("eps", 1e-10),
                            CUDA_F("weight_decay", 0.0), n));
    return STRATA_OK;
}

/* The gan plugin's gan::ema_update (registered by name): inputs ema, param,
 * output ema (in place). */
CUDA_KERNEL(ema_update)
{
    int64_t n = 0;
    double decay = 0.0;
    CUDA_OK(kc_check_ema(call, &n, &decay));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_ema(d->stream, OUT(0), IN(0), IN(1), decay, n));
    return STRATA_OK;
}
