/* model_inspect.c - looking inside a model: its layers by index and what
 * each one produces for an input (feature maps, for `strata visualize`).
 * The forward pass is strata_model_forward's (st_model_run, model.c),
 * keeping every layer's output 0. */
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

strata_status strata_model_forward_layers(strata_model *m, strata_tensor *const *inputs, int n_inputs,
                                          strata_tensor **layer_outputs, int training)
{
    if (!m || (!inputs && n_inputs) || !layer_outputs)
        return st_error(STRATA_E_INVALID, "strata_model_forward_layers: NULL argument");
    if (n_inputs != m->n_inputs)
        return st_error(STRATA_E_INVALID, "model takes %d input(s), got %d", m->n_inputs, n_inputs);
    strata_tensor **vals;
    strata_status rc = st_model_run(m, inputs, n_inputs, training, &vals);
    if (rc)
        return rc;
    for (int li = 0; li < m->n_layers; li++)
        layer_outputs[li] = strata_tensor_retain(vals[li * ST_LAYER_MAX_OUT]);
    st_model_vals_free(m, vals);
    return STRATA_OK;
}
