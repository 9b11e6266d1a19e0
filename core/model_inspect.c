/* model_inspect.c - looking inside a model: its layers by index and what
 * each one produces for an input (feature maps, for `strata visualize`).
 * The forward pass mirrors strata_model_forward (model.c) but keeps every
 * layer's output 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int strata_model_layer_count(const strata_model *m)
{
    return m ? m->n_layers : 0;
}

strata_status strata_model_layer_info(const strata_model *m, int i, const char **name, const char **type)
{
    if (!m || i < 0 || i >= m->n_layers)
        return st_error(STRATA_E_INVALID, "strata_model_layer_info: index %d outside [0, %d)", i,
                        m ? m->n_layers : 0);
    if (name)
        *name = m->layers[i]->name;
    if (type)
        *type = m->layers[i]->type->name;
    return STRATA_OK;
}

/* The per-example shape check of strata_model_forward. */
static strata_status check_batched(const char *what, const strata_tensor *t, int32_t dtype, int ndim,
                                   const int64_t *shape, int64_t batch)
{
    int ok = t->dtype == dtype && t->ndim == ndim + 1 && (batch < 0 || t->shape[0] == batch) &&
             !memcmp(t->shape + 1, shape, sizeof(int64_t) * (size_t)ndim);
    if (ok)
        return STRATA_OK;
    char a[128], b[128];
    return st_error(STRATA_E_SHAPE, "%s is %s %s, expected %s (batch, %s)", what, st_dtype_name(t->dtype),
                    st_shape_str(a, sizeof a, t->ndim, t->shape), st_dtype_name(dtype),
                    st_shape_str(b, sizeof b, ndim, shape));
}

strata_status strata_model_forward_layers(strata_model *m, strata_tensor *const *inputs, int n_inputs,
                                          strata_tensor **layer_outputs, int training)
{
    if (!m || (!inputs && n_inputs) || !layer_outputs)
        return st_error(STRATA_E_INVALID, "strata_model_forward_layers: NULL argument");
    if (n_inputs != m->n_inputs)
        return st_error(STRATA_E_INVALID, "model takes %d input(s), got %d", m->n_inputs, n_inputs);
    if (!m->n_layers)
        return st_error(STRATA_E_STATE, "model has no layers");
    int64_t batch = n_inputs && inputs[0]->ndim > 0 ? inputs[0]->shape[0] : -1;
    char what[160];
    for (int k = 0; k < n_inputs; k++) {
        snprintf(what, sizeof what, "model input '%s'", m->inputs[k].name);
        strata_status rc =
            check_batched(what, inputs[k], m->inputs[k].dtype, m->inputs[k].ndim, m->inputs[k].shape, batch);
        if (rc)
            return rc;
    }
    strata_tensor **vals = st_calloc((size_t)m->n_layers * ST_LAYER_MAX_OUT, sizeof *vals);
    if (!vals)
        return STRATA_E_NOMEM;
    strata_status rc = STRATA_OK;
    for (int li = 0; li < m->n_layers && !rc; li++) {
        strata_layer *l = m->layers[li];
        strata_tensor *in[16];
        for (int k = 0; k < l->n_inputs; k++) {
            int id = l->input_ids[k];
            in[k] = id >= 0 ? vals[id * ST_LAYER_MAX_OUT + l->input_outs[k]] : inputs[-1 - id];
        }
        strata_layer_forward_call call = {
            .struct_size = sizeof call,
            .host = &st_host_api,
            .rt = m->rt,
            .layer = l,
            .state = l->state,
            .inputs = in,
            .n_inputs = l->n_inputs,
            .outputs = &vals[li * ST_LAYER_MAX_OUT],
            .n_outputs = l->n_outputs,
            .training = training,
            .user = l->type->def.user,
        };
        strata_clear_error();
        rc = l->type->def.forward(&call);
        snprintf(what, sizeof what, "layer '%s' (%s)", l->name, l->type->name);
        if (rc) {
            if (!strata_last_error()[0])
                st_error(rc, "%s: forward failed (%s)", what, strata_status_name(rc));
            else
                st_error_context(rc, "%s", what);
            break;
        }
        for (int k = 0; k < l->n_outputs && !rc; k++) {
            strata_tensor *o = vals[li * ST_LAYER_MAX_OUT + k];
            if (!o)
                rc = st_error(STRATA_E_INTERNAL, "%s: forward left output %d empty", what, k);
            else if (l->out_ndim[k] >= 0)
                rc = check_batched(what, o, l->out_dtype[k], l->out_ndim[k], l->out_shape[k], batch);
        }
    }
    if (!rc)
        for (int li = 0; li < m->n_layers; li++)
            layer_outputs[li] = strata_tensor_retain(vals[li * ST_LAYER_MAX_OUT]);
    for (int k = 0; k < m->n_layers * ST_LAYER_MAX_OUT; k++)
        strata_tensor_release(vals[k]);
    free(vals);
    return rc;
}
