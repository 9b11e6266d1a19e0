/*
 * ocl_optim.c - the optimizer updates (optim.cl) in place: inputs (p, g,
 * slots...), outputs (p, slots...), normally the same buffers. f32 on the
 * device; Adam's bias corrections are computed here in double.
 */
#include <math.h>

#include "ocl_internal.h"

#define OCL_F(name, dflt) strata_attr_get_float(call->attrs, call->n_attrs, (name), (dflt))
#define OCL_I(name, dflt) strata_attr_get_int(call->attrs, call->n_attrs, (name), (dflt))

/* The checks of kc_check_optim and the call's device (outputs start their
 * buffers: ocl_run). */
static strata_status ocl_optim_setup(const strata_kernel_call *call, int n_in, int64_t *n, ocl_device **d)
{
    strata_status s = kc_check_optim(call, n_in, n);
    if (s == STRATA_OK)
        s = ocl_call_device(call, d);
    return s;
}

OCL_KERNEL(sgd_step)
{
    int64_t n = 0;
    ocl_device *d = NULL;
    strata_status s = ocl_optim_setup(call, 3, &n, &d);
    if (s != STRATA_OK)
        return s;
    cl_float lr = (cl_float)OCL_F("lr", 1e-3), momentum = (cl_float)OCL_F("momentum", 0.0);
    cl_float dampening = (cl_float)OCL_F("dampening", 0.0), wd = (cl_float)OCL_F("weight_decay", 0.0);
    cl_int nesterov = OCL_I("nesterov", 0) != 0, first = OCL_I("first", 0) != 0;
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    cl_mem p_out = ocl_mem(&out[0]), buf_out = ocl_mem(&out[1]);
    cl_mem p = ocl_mem(&in[0]), g = ocl_mem(&in[1]), buf = ocl_mem(&in[2]);
    cl_long p_off = ocl_off(&in[0]), g_off = ocl_off(&in[1]), buf_off = ocl_off(&in[2]), nn = n;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(p_out), OCL_ARG(buf_out),   OCL_ARG(p),  OCL_ARG(p_off),    OCL_ARG(g),
                      OCL_ARG(g_off), OCL_ARG(buf),       OCL_ARG(buf_off), OCL_ARG(nn),  OCL_ARG(lr),
                      OCL_ARG(momentum), OCL_ARG(dampening), OCL_ARG(wd), OCL_ARG(nesterov), OCL_ARG(first)};
    return ocl_launch(call, d, OCL_K_sgd_step, 1, &global, NULL, 15, args);
}

OCL_KERNEL(adam_step)
{
    int64_t n = 0;
    ocl_device *d = NULL;
    strata_status s = ocl_optim_setup(call, 4, &n, &d);
    if (s != STRATA_OK)
        return s;
    int64_t t = 1;
    if ((s = kc_optim_step(call, &t)) != STRATA_OK)
        return s;
    double lr = OCL_F("lr", 1e-3), b1 = OCL_F("beta1", 0.9), b2 = OCL_F("beta2", 0.999);
    cl_float f_lr = (cl_float)lr, f_b1 = (cl_float)b1, f_b2 = (cl_float)b2;
    cl_float eps = (cl_float)OCL_F("eps", 1e-8), wd = (cl_float)OCL_F("weight_decay", 0.0);
    cl_int decoupled = OCL_I("decoupled", 0) != 0;
    cl_float step_size = (cl_float)(lr / (1.0 - pow(b1, (double)t)));
    cl_float sqrt_bc2 = (cl_float)sqrt(1.0 - pow(b2, (double)t));
    cl_float c1 = (cl_float)(1.0 - b1), c2 = (cl_float)(1.0 - b2);
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    cl_mem p_out = ocl_mem(&out[0]), m_out = ocl_mem(&out[1]), v_out = ocl_mem(&out[2]);
    cl_mem p = ocl_mem(&in[0]), g = ocl_mem(&in[1]), m = ocl_mem(&in[2]), v = ocl_mem(&in[3]);
    cl_long p_off = ocl_off(&in[0]), g_off = ocl_off(&in[1]), m_off = ocl_off(&in[2]), v_off = ocl_off(&in[3]);
    cl_long nn = n;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(p_out), OCL_ARG(m_out), OCL_ARG(v_out),     OCL_ARG(p),        OCL_ARG(p_off),
                      OCL_ARG(g),     OCL_ARG(g_off), OCL_ARG(m),         OCL_ARG(m_off),    OCL_ARG(v),
                      OCL_ARG(v_off), OCL_ARG(nn),    OCL_ARG(f_lr),      OCL_ARG(f_b1),     OCL_ARG(f_b2),
                      OCL_ARG(eps),   OCL_ARG(wd),    OCL_ARG(decoupled), OCL_ARG(step_size), OCL_ARG(sqrt_bc2),
                      OCL_ARG(c1),    OCL_ARG(c2)};
    return ocl_launch(call, d, OCL_K_adam_step, 1, &global, NULL, 22, args);
}

OCL_KERNEL(rmsprop_step)
{
    int64_t n = 0;
    ocl_device *d = NULL;
    strata_status s = ocl_optim_setup(call, 4, &n, &d);
    if (s != STRATA_OK)
        return s;
    const double alpha_d = OCL_F("alpha", 0.99);
    cl_float lr = (cl_float)OCL_F("lr", 1e-2), alpha = (cl_float)alpha_d, c_alpha = (cl_float)(1.0 - alpha_d);
    cl_float eps = (cl_float)OCL_F("eps", 1e-8), wd = (cl_float)OCL_F("weight_decay", 0.0);
    cl_float momentum = (cl_float)OCL_F("momentum", 0.0);
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    cl_mem p_out = ocl_mem(&out[0]), sq_out = ocl_mem(&out[1]), buf_out = ocl_mem(&out[2]);
    cl_mem p = ocl_mem(&in[0]), g = ocl_mem(&in[1]), sq = ocl_mem(&in[2]), buf = ocl_mem(&in[3]);
    cl_long p_off = ocl_off(&in[0]), g_off = ocl_off(&in[1]), sq_off = ocl_off(&in[2]), buf_off = ocl_off(&in[3]);
    cl_long nn = n;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(p_out),  OCL_ARG(sq_out), OCL_ARG(buf_out), OCL_ARG(p),     OCL_ARG(p_off),
                      OCL_ARG(g),      OCL_ARG(g_off),  OCL_ARG(sq),      OCL_ARG(sq_off), OCL_ARG(buf),
                      OCL_ARG(buf_off), OCL_ARG(nn),    OCL_ARG(lr),      OCL_ARG(alpha), OCL_ARG(eps),
                      OCL_ARG(wd),     OCL_ARG(momentum), OCL_ARG(c_alpha)};
    return ocl_launch(call, d, OCL_K_rmsprop_step, 1, &global, NULL, 18, args);
}

OCL_KERNEL(adagrad_step)
{
    int64_t n = 0;
    ocl_device *d = NULL;
    strata_status s = ocl_optim_setup(call, 3, &n, &d);
    if (s != STRATA_OK)
        return s;
    int64_t t = 1;
    if ((s = kc_optim_step(call, &t)) != STRATA_OK)
        return s;
    double lr = OCL_F("lr", 1e-2), lr_decay = OCL_F("lr_decay", 0.0);
    cl_float clr = (cl_float)(lr / (1.0 + (double)(t - 1) * lr_decay));
    cl_float wd = (cl_float)OCL_F("weight_decay", 0.0), eps = (cl_float)OCL_F("eps", 1e-10);
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    cl_mem p_out = ocl_mem(&out[0]), sum_out = ocl_mem(&out[1]);
    cl_mem p = ocl_mem(&in[0]), g = ocl_mem(&in[1]), sum = ocl_mem(&in[2]);
    cl_long p_off = ocl_off(&in[0]), g_off = ocl_off(&in[1]), sum_off = ocl_off(&in[2]), nn = n;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(p_out), OCL_ARG(sum_out), OCL_ARG(p),  OCL_ARG(p_off), OCL_ARG(g),  OCL_ARG(g_off),
                      OCL_ARG(sum),   OCL_ARG(sum_off), OCL_ARG(nn), OCL_ARG(clr),   OCL_ARG(wd), OCL_ARG(eps)};
    return ocl_launch(call, d, OCL_K_adagrad_step, 1, &global, NULL, 12, args);
}

/* The gan plugin's gan::ema_update (registered by name): inputs ema, param
 * (one shape), output ema; attr decay in [0, 1] (kc_check_ema). */
OCL_KERNEL(ema_update)
{
    int64_t n = 0;
    double decay = 0.0;
    ocl_device *d = NULL;
    strata_status s = kc_check_ema(call, &n, &decay);
    if (s == STRATA_OK)
        s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    cl_float fd = (cl_float)decay, keep = (cl_float)(1.0 - decay);
    cl_mem out = ocl_mem(&call->outputs[0]), ema = ocl_mem(&call->inputs[0]), p = ocl_mem(&call->inputs[1]);
    cl_long e_off = ocl_off(&call->inputs[0]), p_off = ocl_off(&call->inputs[1]), nn = n;
    size_t global = (size_t)n;
    ocl_arg args[] = {OCL_ARG(out), OCL_ARG(ema), OCL_ARG(e_off), OCL_ARG(p),
                      OCL_ARG(p_off), OCL_ARG(nn), OCL_ARG(fd),   OCL_ARG(keep)};
    return ocl_launch(call, d, OCL_K_ema_update, 1, &global, NULL, 8, args);
}
