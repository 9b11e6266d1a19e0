/*
 * swish_layer.c - the layer type "swish": y = swish::swish(x; beta), no
 * parameters. In a model spec:
 *
 *     - {type: swish}                 # beta = 1 (SiLU)
 *     - {type: swish, beta: 1.5}
 *
 * A layer is built from ops, so autograd records it and it runs on every
 * backend the op runs on.
 */
#include <math.h>
#include <stdlib.h>

#include "swish.h"

/* The attribute schema: the core checks a spec against it, applies the
 * default and reports it, and rejects unknown keys with file:line. */
static const strata_attr_spec swish_attrs[] = {
    {sizeof(strata_attr_spec), "beta", STRATA_ATTR_FLOAT, 0, 0, 1.0, NULL, "slope of the sigmoid gate"},
};

typedef struct swish_state {
    double beta;
} swish_state;

/* inputs/outputs are per example (no batch dimension): y has x's shape. */
static strata_status swish_create(const strata_layer_create_call *c)
{
    const strata_host_api *h = c->host;
    if (c->inputs[0].dtype != STRATA_F32)
        return h->set_error(STRATA_E_DTYPE, "layer '%s' (swish): input must be f32, got dtype %d",
                            h->layer_name(c->layer), (int)c->inputs[0].dtype);
    double beta = strata_attr_get_float(c->attrs, c->n_attrs, "beta", 1.0);
    if (!isfinite(beta))
        return h->set_error(STRATA_E_INVALID, "layer '%s' (swish): beta must be finite, got %g",
                            h->layer_name(c->layer), beta);
    swish_state *st = malloc(sizeof *st);
    if (!st)
        return h->set_error(STRATA_E_NOMEM, "layer '%s' (swish): out of memory", h->layer_name(c->layer));
    st->beta = beta;
    *c->state = st; /* handed back to forward and destroy */
    c->outputs[0] = c->inputs[0];
    return STRATA_OK;
}

static strata_status swish_forward(const strata_layer_forward_call *c)
{
    const swish_state *st = c->state;
    strata_attr a = strata_attr_float("beta", st->beta);
    return c->host->op_call(c->rt, SWISH_OP, c->inputs, 1, &a, 1, c->outputs, 1);
}

static void swish_destroy(void *state, void *user)
{
    (void)user;
    free(state);
}

strata_status swish_register_layer(const strata_host_api *host, strata_plugin *plugin)
{
    strata_layer_type t = {0};
    t.struct_size = sizeof t;
    t.name = "swish";
    t.attrs = swish_attrs;
    t.n_attrs = (int32_t)(sizeof swish_attrs / sizeof swish_attrs[0]);
    t.min_inputs = 1;
    t.max_inputs = 1;
    t.n_outputs = 1;
    t.create = swish_create;
    t.forward = swish_forward;
    t.destroy = swish_destroy;
    t.doc = "y = x * sigmoid(beta x), elementwise (Swish)";
    return host->register_layer(plugin, &t);
}
