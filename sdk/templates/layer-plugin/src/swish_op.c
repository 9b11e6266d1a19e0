/*
 * swish_op.c - the fused op swish::swish, y = x * sigmoid(beta * x)
 * (Ramachandran, Zoph & Le, "Searching for activation functions", 2017;
 * beta = 1 is SiLU).
 *
 * One op, three implementations, so it runs everywhere:
 *  - host_kernel: plain C over host memory. The core runs it on every
 *    host-memory backend (ref, cpu, a vendor's host backend) that has no
 *    kernel of its own for the op.
 *  - composite: the same function written with core ops (scale, sigmoid,
 *    mul). The core runs it on a device backend (cuda, opencl) that has no
 *    kernel for swish::swish, so the op never needs the host fallback.
 *  - backward: written with core ops, so it too runs on every backend.
 * A backend (yours or a vendor's) may add a faster kernel with
 * host->register_kernel(plugin, "cuda", SWISH_OP, SWISH_OP_VERSION, fn, user).
 *
 * Attribute: "beta" (float, default 1).
 */
#include <math.h>
#include <stdint.h>

#include "swish.h"

/* Every callback receives def.user: the plugin keeps the host table there. */
static const strata_host_api *host_of(void *user)
{
    return (const strata_host_api *)user;
}

static double beta_of(const strata_attr *attrs, int n_attrs)
{
    return strata_attr_get_float(attrs, n_attrs, "beta", 1.0);
}

/* Shape inference: y has x's shape and dtype (f32 only). */
static strata_status swish_infer(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    if (x->dtype != STRATA_F32)
        return host_of(c->user)->set_error(STRATA_E_DTYPE, "%s: input x must be f32, got dtype %d", c->op,
                                           (int)x->dtype);
    double beta = beta_of(c->attrs, c->n_attrs);
    if (!isfinite(beta))
        return host_of(c->user)->set_error(STRATA_E_INVALID, "%s: attribute beta must be finite, got %g", c->op, beta);
    c->outputs[0].dtype = x->dtype;
    c->outputs[0].ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++)
        c->outputs[0].shape[k] = x->shape[k];
    return STRATA_OK;
}

/* y[i] = x[i] / (1 + exp(-beta x[i])); x, y (n) contiguous f32.
 * Computed in double so the result matches the composite within 1e-6.
 * The loop runs over the output, the buffer this kernel writes: its size
 * is what infer declared (here the input's), and writing past it would
 * corrupt the heap where nothing can catch it. */
static strata_status swish_host_kernel(const strata_kernel_call *c)
{
    const float *x = (const float *)strata_desc_ptr(&c->inputs[0]);
    float *y = (float *)strata_desc_ptr(&c->outputs[0]);
    const double beta = beta_of(c->attrs, c->n_attrs);
    const int64_t n = strata_desc_numel(&c->outputs[0]);
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i];
        y[i] = (float)(v / (1.0 + exp(-beta * v)));
    }
    return STRATA_OK;
}

/* y = x * sigmoid(beta x) with core ops: runs on any backend. */
static strata_status swish_composite(const strata_composite_call *c)
{
    const strata_host_api *h = c->host;
    strata_attr a = strata_attr_float("alpha", beta_of(c->attrs, c->n_attrs));
    strata_tensor *bx = NULL, *s = NULL;
    strata_status rc = h->op_call(c->rt, "core::scale", c->inputs, 1, &a, 1, &bx, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(c->rt, "core::sigmoid", &bx, 1, NULL, 0, &s, 1);
    if (rc == STRATA_OK) {
        strata_tensor *xs[2] = {c->inputs[0], s};
        rc = h->op_call(c->rt, "core::mul", xs, 2, NULL, 0, &c->outputs[0], 1);
    }
    h->tensor_release(bx);
    h->tensor_release(s);
    return rc;
}

/*
 * dx = dy * dy/dx with, for s = sigmoid(beta x) and y = x s,
 *   dy/dx = s + beta x s (1 - s) = s + beta (y - y s).
 * Written with core ops (recording is off during backward), so it runs on
 * every backend. Stores a new reference in grad_inputs[0].
 */
static strata_status swish_backward(const strata_backward_call *c)
{
    if (!c->needs_grad[0] || !c->grad_outputs[0])
        return STRATA_OK; /* no gradient reached y: dx is zero (left NULL) */
    const strata_host_api *h = c->host;
    strata_runtime *rt = c->rt;
    const double beta = beta_of(c->attrs, c->n_attrs);
    strata_attr a = strata_attr_float("alpha", beta);
    strata_tensor *y = c->outputs[0];
    strata_tensor *bx = NULL, *s = NULL, *ys = NULL, *t = NULL, *bt = NULL, *d = NULL;
    strata_status rc = h->op_call(rt, "core::scale", c->inputs, 1, &a, 1, &bx, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::sigmoid", &bx, 1, NULL, 0, &s, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::mul", (strata_tensor *[]){y, s}, 2, NULL, 0, &ys, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::sub", (strata_tensor *[]){y, ys}, 2, NULL, 0, &t, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::scale", &t, 1, &a, 1, &bt, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::add", (strata_tensor *[]){s, bt}, 2, NULL, 0, &d, 1);
    if (rc == STRATA_OK)
        rc = h->op_call(rt, "core::mul", (strata_tensor *[]){c->grad_outputs[0], d}, 2, NULL, 0,
                        &c->grad_inputs[0], 1);
    h->tensor_release(bx);
    h->tensor_release(s);
    h->tensor_release(ys);
    h->tensor_release(t);
    h->tensor_release(bt);
    h->tensor_release(d);
    return rc;
}

#if STRATA_ABI_MINOR >= 4 /* (this file is also built against the 1.0 headers, to check they still work) */
/* The attributes the op takes (ABI 1.4): the core refuses a call with another one (a typo such as "betta") or one
 * of another kind, naming the op, where the kernel would have read beta = 1 without a word. */
static const strata_attr_spec swish_op_attrs[] = {
    {sizeof(strata_attr_spec), "beta", STRATA_ATTR_FLOAT, 0, 0, 1.0, NULL, "the slope inside the sigmoid"},
};
#endif

strata_status swish_register_op(const strata_host_api *host, strata_plugin *plugin)
{
    strata_op_def def = {0};
    def.struct_size = sizeof def; /* the core reads only the fields it knows */
    def.name = SWISH_OP;
    def.version = SWISH_OP_VERSION;
    def.min_inputs = 1;
    def.max_inputs = 1;
    def.n_outputs = 1;
    def.infer = swish_infer;
    def.backward = swish_backward;
    def.composite = swish_composite;
    def.host_kernel = swish_host_kernel;
    def.user = (void *)(uintptr_t)host;
    def.doc = "y = x * sigmoid(beta x) (Swish; beta = 1 is SiLU)";
#if STRATA_ABI_MINOR >= 4
    def.attrs = swish_op_attrs;
    def.n_attrs = 1;
#endif
    return host->register_op(plugin, &def);
}
