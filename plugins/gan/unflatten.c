/*
 * unflatten.c - the layer type unflatten (nn.Unflatten on dims 1..): the
 * block of a DCGAN generator (Radford et al. 2016) that turns the output of
 * a linear projection (B, C*H*W) into feature maps (B, C, H, W).
 *
 *   attr    shape (ints, per example, each >= 1; e.g. [128, 7, 7])
 *   input   any per-example shape with prod(shape) elements
 *   output  (B, shape...): a view of the input through core::reshape (the
 *           batch dimension B is read at run time)
 */
#include <stdlib.h>
#include <string.h>

#include "gan_internal.h"

static const strata_attr_spec unflatten_spec[] = {
    {sizeof(strata_attr_spec), "shape", STRATA_ATTR_INTS, 1, 0, 0, NULL,
     "per-example output shape, e.g. [128, 7, 7]; its product must equal the input's element count"},
};

typedef struct unflatten_state {
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
} unflatten_state;

static strata_status unflatten_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    char w[160], s1[160], s2[160];
    gan_layer_who(c, "unflatten", w, sizeof w);
    const strata_attr *a = strata_attr_find(c->attrs, c->n_attrs, "shape");
    if (!a || a->kind != STRATA_ATTR_INTS || a->n < 1)
        return h->set_error(STRATA_E_INVALID, "%s: attr shape must be a non-empty list of sizes, e.g. [128, 7, 7]", w);
    if (a->n > STRATA_MAX_DIMS - 1)
        return h->set_error(STRATA_E_INVALID, "%s: shape has %d dimensions; at most %d fit with the batch", w,
                            (int)a->n, STRATA_MAX_DIMS - 1);
    for (int k = 0; k < a->n; k++)
        if (a->ints[k] < 1)
            return h->set_error(STRATA_E_INVALID, "%s: shape %s must have positive sizes (dimension %d is %lld)", w,
                                gan_shape_str(s1, sizeof s1, (int)a->n, a->ints), k, (long long)a->ints[k]);
    const strata_tensor_desc *x = &c->inputs[0];
    const int64_t have = gan_numel(x->ndim, x->shape), want = gan_numel((int)a->n, a->ints);
    if (want < 0)
        return h->set_error(STRATA_E_SHAPE, "%s: shape %s: the product of its sizes overflows a 64-bit element count",
                            w, gan_shape_str(s1, sizeof s1, (int)a->n, a->ints));
    if (have != want)
        return h->set_error(STRATA_E_SHAPE,
                            "%s: the input has %lld elements per example (shape %s) but shape %s holds %lld", w,
                            (long long)have, gan_shape_str(s1, sizeof s1, x->ndim, x->shape),
                            gan_shape_str(s2, sizeof s2, (int)a->n, a->ints), (long long)want);
    unflatten_state *s = calloc(1, sizeof *s);
    if (!s)
        return h->set_error(STRATA_E_NOMEM, "%s: out of memory: %zu bytes for its state", w, sizeof *s);
    *c->state = s;
    s->ndim = (int)a->n;
    memcpy(s->shape, a->ints, sizeof(int64_t) * (size_t)a->n);
    strata_tensor_desc *o = &c->outputs[0];
    *o = *x;
    o->ndim = s->ndim;
    memcpy(o->shape, s->shape, sizeof(int64_t) * (size_t)s->ndim);
    return STRATA_OK;
}

static strata_status unflatten_forward(const strata_layer_forward_call *c)
{
    const strata_host_api *h = c->host;
    const unflatten_state *s = c->state;
    int64_t shape[STRATA_MAX_DIMS];
    shape[0] = h->tensor_shape(c->inputs[0])[0]; /* the batch, known only now */
    memcpy(shape + 1, s->shape, sizeof(int64_t) * (size_t)s->ndim);
    strata_attr a = strata_attr_ints("shape", shape, s->ndim + 1);
    return h->op_call(c->rt, "core::reshape", c->inputs, 1, &a, 1, c->outputs, 1);
}

static void free_state(void *state, void *user)
{
    (void)user;
    free(state);
}

static const strata_layer_type unflatten_type = {
    .struct_size = sizeof(strata_layer_type),
    .name = "unflatten",
    .attrs = unflatten_spec,
    .n_attrs = 1,
    .min_inputs = 1,
    .max_inputs = 1,
    .n_outputs = 1,
    .create = unflatten_create,
    .forward = unflatten_forward,
    .destroy = free_state,
    .doc = "reshapes each example to attr shape (nn.Unflatten): (B, C*H*W) -> (B, C, H, W)",
};

strata_status gan_register_unflatten(const strata_host_api *h, strata_plugin *p)
{
    return h->register_layer(p, &unflatten_type);
}
