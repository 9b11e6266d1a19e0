/*
 * dropout2d.c - conv::dropout2d: zeroes whole channels (nn.Dropout2d).
 *
 *   x (N, C, ...) -> y (x's shape), mask (N, C, 1, ..., 1)      attrs p (0.5), seed, offset
 *
 * Channel (n, c) is kept iff element n C + c of the Philox stream (seed,
 * offset) is >= p (strata_philox_uniform, as core::dropout draws element i);
 * mask = keep / (1 - p) and y = x mask (mask broadcast over the channel).
 * The op is STRATA_OP_RANDOM: the core supplies seed and offset from the
 * runtime's generator unless the caller gives them. Backward: dx = dy mask.
 * The mask output is saved for the backward and carries no gradient.
 */
#include <string.h>

#include "conv_internal.h"

/* y (N, C, S), mask (N, C) from x (N, C, S). */
static void dropout2d_forward(float *y, float *mask, const float *x, double p, uint64_t seed, uint64_t offset,
                              int64_t NC, int64_t S)
{
    const double kept = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    for (int64_t i = 0; i < NC; i++) {
        int keep = (double)strata_philox_uniform(seed, offset, (uint64_t)i) >= p;
        float m = (float)(keep ? kept : 0.0);
        mask[i] = m;
        for (int64_t s = 0; s < S; s++)
            y[i * S + s] = (float)((double)x[i * S + s] * m); /* rounded once: x * mask in f32 */
    }
}

static strata_status infer_dropout2d(const strata_infer_call *c)
{
    strata_status rc = conv_need_f32(c, 0, "x (N, C, ...)", -2);
    if (rc)
        return rc;
    double p = strata_attr_get_float(c->attrs, c->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p < 1.0))
        return conv_host(c->user)->set_error(STRATA_E_INVALID, "%s: p must be in [0, 1), got %g", c->op, p);
    conv_desc_like(&c->outputs[0], &c->inputs[0]);
    conv_desc_like(&c->outputs[1], &c->inputs[0]);
    for (int k = 2; k < c->inputs[0].ndim; k++)
        c->outputs[1].shape[k] = 1;
    return STRATA_OK;
}

static strata_status kernel_dropout2d(const strata_kernel_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    int64_t NC = x->shape[0] * x->shape[1];
    int64_t S = NC ? strata_desc_numel(x) / NC : 0;
    dropout2d_forward((float *)strata_desc_ptr(&c->outputs[0]), (float *)strata_desc_ptr(&c->outputs[1]),
                      (const float *)strata_desc_ptr(x), strata_attr_get_float(c->attrs, c->n_attrs, "p", 0.5),
                      (uint64_t)strata_attr_get_int(c->attrs, c->n_attrs, "seed", 0),
                      (uint64_t)strata_attr_get_int(c->attrs, c->n_attrs, "offset", 0), NC, S);
    return STRATA_OK;
}

static strata_status backward_dropout2d(const strata_backward_call *c)
{
    if (!c->grad_outputs[0] || !c->needs_grad[0])
        return STRATA_OK;
    strata_tensor *in[2] = {c->grad_outputs[0], c->outputs[1]};
    return c->host->op_call(c->rt, "core::mul", in, 2, NULL, 0, &c->grad_inputs[0], 1);
}

/* The attributes it takes (checked by the core on every call, ABI 1.4): p, and the generator's position, which
 * the core adds when the caller gives no seed. */
static const strata_attr_spec dropout2d_attrs[3] = {
    CONV_OP_ATTR("p", STRATA_ATTR_FLOAT, 0, 0, 0.5, "the probability of zeroing a channel, in [0, 1)"),
    CONV_OP_ATTR("seed", STRATA_ATTR_INT, 0, 0, 0.0, "Philox key (the runtime's)"),
    CONV_OP_ATTR("offset", STRATA_ATTR_INT, 0, 0, 0.0, "Philox counter (the runtime's)"),
};

strata_status conv_register_dropout2d(const strata_host_api *h, strata_plugin *p)
{
    strata_op_def d = {.struct_size = sizeof d,
                       .name = "conv::dropout2d",
                       .version = 1,
                       .min_inputs = 1,
                       .max_inputs = 1,
                       .n_outputs = 2,
                       .flags = STRATA_OP_RANDOM,
                       .infer = infer_dropout2d,
                       .backward = backward_dropout2d,
                       .host_kernel = kernel_dropout2d,
                       .user = (void *)(uintptr_t)h,
                       .doc = "channel dropout: x (N, C, ...) -> y, mask (N, C, 1, ...); p, seed, offset (Philox, "
                              "element n C + c)",
                       .attrs = dropout2d_attrs,
                       .n_attrs = 3};
    return h->register_op(p, &d);
}
