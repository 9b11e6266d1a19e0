/* model.c - models: a graph of named layer instances, in insertion
 * (topological) order, with named inputs and outputs. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

strata_status strata_model_create(strata_device *dev, strata_model **out)
{
    if (!dev || !out)
        return st_error(STRATA_E_INVALID, "strata_model_create: NULL device or output");
    strata_model *m = st_calloc(1, sizeof *m);
    if (!m)
        return STRATA_E_NOMEM;
    m->rt = dev->rt;
    m->dev = dev;
    *out = m;
    return STRATA_OK;
}

strata_status st_model_track_optimizer(strata_model *m, strata_optimizer *o)
{
    if (m->n_optims == m->cap_optims) {
        int cap = m->cap_optims ? 2 * m->cap_optims : 4;
        strata_optimizer **p = st_realloc(m->optims, sizeof *p * (size_t)cap);
        if (!p)
            return STRATA_E_NOMEM;
        m->optims = p;
        m->cap_optims = cap;
    }
    m->optims[m->n_optims++] = o;
    return STRATA_OK;
}

void st_model_forget_optimizer(strata_model *m, strata_optimizer *o)
{
    for (int k = 0; k < m->n_optims; k++)
        if (m->optims[k] == o) {
            m->optims[k] = m->optims[--m->n_optims];
            return;
        }
}

void strata_model_destroy(strata_model *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->n_optims; k++) /* their calls report it rather than read freed memory */
        st_optimizer_model_gone(m->optims[k]);
    free(m->optims);
    for (int k = m->n_layers - 1; k >= 0; k--) {
        strata_layer *l = m->layers[k];
        if (l->state && l->type->def.destroy)
            l->type->def.destroy(l->state, l->type->def.user);
        free(l->name);
        free(l->attrs);
        free(l->input_ids);
        free(l->input_outs);
        free(l);
    }
    for (int k = 0; k < m->n_params; k++) {
        free(m->params[k].name);
        strata_tensor_release(m->params[k].t);
    }
    for (int k = 0; k < m->n_buffers; k++) {
        free(m->buffers[k].name);
        strata_tensor_release(m->buffers[k].t);
    }
    for (int k = 0; k < m->n_inputs; k++)
        free(m->inputs[k].name);
    free(m->inputs);
    free(m->layers);
    free(m->params);
    free(m->buffers);
    free(m->out_ids);
    free(m->out_outs);
    free(m);
}

static int valid_name(const char *n)
{
    if (!n || !*n || strlen(n) > 64)
        return 0;
    for (const char *c = n; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

/* Index of a layer (>= 0), or -1 - k for model input k; -1000000 if unknown. */
static int lookup(const strata_model *m, const char *name, int *which_out)
{
    char base[80];
    const char *colon = strchr(name, ':');
    *which_out = 0;
    if (colon) { /* "name:K", K plain decimal digits; anything else is no output (-1) */
        snprintf(base, sizeof base, "%.*s", (int)(colon - name), name);
        char *end = NULL;
        errno = 0;
        const long k = strtol(colon + 1, &end, 10);
        const int digits = colon[1] >= '0' && colon[1] <= '9' && *end == '\0' && errno == 0;
        *which_out = digits && k <= INT_MAX ? (int)k : -1;
        name = base;
    }
    for (int k = 0; k < m->n_layers; k++)
        if (!strcmp(m->layers[k]->name, name))
            return k;
    for (int k = 0; k < m->n_inputs; k++)
        if (!strcmp(m->inputs[k].name, name))
            return -1 - k;
    return -1000000;
}

static int name_taken(const strata_model *m, const char *name)
{
    int w;
    return lookup(m, name, &w) != -1000000;
}

strata_status strata_model_add_input(strata_model *m, const char *name, strata_dtype dtype, int ndim,
                                     const int64_t *shape)
{
    if (!m)
        return st_error(STRATA_E_INVALID, "strata_model_add_input: NULL model");
    if (!shape && ndim > 0)
        return st_error(STRATA_E_INVALID, "strata_model_add_input: NULL shape of rank %d", ndim);
    if (!valid_name(name))
        return st_error(STRATA_E_INVALID, "model input name '%s' must be 1-64 characters of [A-Za-z0-9_-]",
                        name ? name : "(null)");
    if (name_taken(m, name))
        return st_error(STRATA_E_EXISTS, "model input '%s': the name is already used", name);
    if (ndim < 0 || ndim >= STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "model input '%s': rank %d must be in [0, %d) (batch excluded)", name, ndim,
                        STRATA_MAX_DIMS);
    if (dtype != STRATA_F32 && dtype != STRATA_I32 && dtype != STRATA_I64)
        return st_error(STRATA_E_DTYPE, "model input '%s': dtype %s is not supported", name,
                        strata_dtype_name((int)dtype));
    for (int k = 0; k < ndim; k++)
        if (shape[k] <= 0)
            return st_error(STRATA_E_INVALID, "model input '%s': dimension %d is %lld", name, k,
                            (long long)shape[k]);
    if (m->n_layers)
        return st_error(STRATA_E_STATE, "model input '%s' must be declared before the first layer", name);
    if (st_grow((void **)&m->inputs, &m->cap_inputs, m->n_inputs + 1, sizeof *m->inputs))
        return STRATA_E_NOMEM;
    st_model_input *in = &m->inputs[m->n_inputs];
    memset(in, 0, sizeof *in);
    in->name = st_strdup(name);
    if (!in->name)
        return STRATA_E_NOMEM;
    in->dtype = (int32_t)dtype;
    in->ndim = ndim;
    if (ndim)
        memcpy(in->shape, shape, sizeof(int64_t) * (size_t)ndim);
    m->n_inputs++;
    return STRATA_OK;
}

static void remove_layer_tensors(strata_model *m, const char *prefix)
{
    size_t lp = strlen(prefix);
    int w = 0;
    for (int k = 0; k < m->n_params; k++) {
        if (!strncmp(m->params[k].name, prefix, lp) && m->params[k].name[lp] == '.') {
            free(m->params[k].name);
            strata_tensor_release(m->params[k].t);
        } else {
            m->params[w++] = m->params[k];
        }
    }
    m->n_params = w;
    w = 0;
    for (int k = 0; k < m->n_buffers; k++) {
        if (!strncmp(m->buffers[k].name, prefix, lp) && m->buffers[k].name[lp] == '.') {
            free(m->buffers[k].name);
            strata_tensor_release(m->buffers[k].t);
        } else {
            m->buffers[w++] = m->buffers[k];
        }
    }
    m->n_buffers = w;
}

static void free_layer(strata_layer *l)
{
    if (!l)
        return;
    free(l->name);
    free(l->attrs);
    free(l->input_ids);
    free(l->input_outs);
    free(l);
}

strata_status strata_model_add_layer(strata_model *m, const char *type, const char *name, const strata_attr *attrs,
                                     int n_attrs, const char *const *inputs, int n_inputs)
{
    if (!m || !type)
        return st_error(STRATA_E_INVALID, "strata_model_add_layer: NULL model or type");
    if (n_attrs < 0 || n_inputs < 0 || (!attrs && n_attrs) || (!inputs && n_inputs))
        return st_error(STRATA_E_INVALID, "strata_model_add_layer: %d attrs at %p, %d inputs at %p", n_attrs,
                        (const void *)attrs, n_inputs, (const void *)inputs);
    const st_layer_type *lt = st_find_layer_type(m->rt, type);
    if (!lt) {
        char known[1024] = "";
        size_t used = 0;
        for (int k = 0; k < m->rt->n_layers && used < sizeof known; k++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "", m->rt->layers[k]->name);
        char failed[700]; /* a plugin found and not loaded is the likely reason, not a typo */
        st_plugin_failures_hint(m->rt, failed, sizeof failed);
        return st_error(STRATA_E_NOT_FOUND, "unknown layer type '%s' (registered: %s)%s", type, known, failed);
    }
    char auto_name[32];
    const int by_position = !name;
    if (!name) {
        snprintf(auto_name, sizeof auto_name, "%d", m->n_layers);
        name = auto_name;
    }
    if (!valid_name(name))
        return st_error(STRATA_E_INVALID, "layer name '%s' must be 1-64 characters of [A-Za-z0-9_-]", name);
    if (!strcmp(name, "optimizer"))
        return st_error(STRATA_E_INVALID, "layer name 'optimizer' is reserved for optimizer state in checkpoints");
    int which = 0;
    const int owner = lookup(m, name, &which);
    if (owner != -1000000) { /* say whose name it is: the message's prefix names this layer, not the other */
        char other[160];
        if (owner >= 0)
            snprintf(other, sizeof other, "layer %d (%s)", owner, m->layers[owner]->type->name);
        else
            snprintf(other, sizeof other, "model input %d%s", -1 - owner,
                     !strcmp(name, "x") ? " (an input given as model.input: [...] is named x)" : "");
        return st_error(STRATA_E_EXISTS, "layer name '%s'%s is already the name of %s; give one of them another name",
                        name, by_position ? " (its position, as no name is given)" : "", other);
    }
    char what[160];
    snprintf(what, sizeof what, "layer '%s' (%s)", name, type);
    if (n_inputs == 0 && (m->n_layers || m->n_inputs) && lt->def.min_inputs > 1)
        return st_error(STRATA_E_INVALID, "%s takes %d inputs; name them", what, lt->def.min_inputs);

    strata_layer *l = st_calloc(1, sizeof *l);
    if (!l)
        return STRATA_E_NOMEM;
    l->model = m;
    l->type = lt;
    l->index = m->n_layers;
    l->name = st_strdup(name);
    strata_status rc = l->name ? STRATA_OK : STRATA_E_NOMEM;
    if (!rc)
        rc = st_attrs_apply_schema(what, lt->def.attrs, lt->def.n_attrs, attrs, n_attrs, &l->attrs, &l->n_attrs,
                                   NULL);
    int n_in = n_inputs ? n_inputs : 1;
    if (!rc && (n_in < lt->def.min_inputs || (lt->def.max_inputs >= 0 && n_in > lt->def.max_inputs)))
        rc = st_error(STRATA_E_INVALID, "%s takes %d..%d inputs, got %d", what, lt->def.min_inputs,
                      lt->def.max_inputs, n_in);
    if (!rc) {
        l->input_ids = st_calloc((size_t)n_in, sizeof(int));
        l->input_outs = st_calloc((size_t)n_in, sizeof(int));
        if (!l->input_ids || !l->input_outs)
            rc = STRATA_E_NOMEM;
        l->n_inputs = n_in;
    }
    strata_tensor_desc in_d[16], out_d[ST_LAYER_MAX_OUT];
    if (!rc && n_in > 16)
        rc = st_error(STRATA_E_INVALID, "%s: more than 16 inputs", what);
    for (int k = 0; !rc && k < n_in; k++) {
        int id, which = 0;
        if (n_inputs && !inputs[k]) {
            rc = st_error(STRATA_E_INVALID, "%s: input %d is a NULL name", what, k);
            break;
        }
        if (n_inputs) {
            id = lookup(m, inputs[k], &which);
            if (id == -1000000) {
                rc = st_error(STRATA_E_NOT_FOUND, "%s: input '%s' is neither a model input nor an earlier layer", what,
                              inputs[k]);
                break;
            }
        } else if (m->n_layers) {
            id = m->n_layers - 1;
        } else if (m->n_inputs) {
            id = -1;
        } else {
            rc = st_error(STRATA_E_STATE, "%s: the model has no input; declare one first", what);
            break;
        }
        l->input_ids[k] = id;
        l->input_outs[k] = which;
        memset(&in_d[k], 0, sizeof in_d[k]);
        in_d[k].struct_size = sizeof in_d[k];
        if (id >= 0) {
            strata_layer *src = m->layers[id];
            if (which < 0 || which >= src->n_outputs) { /* (which < 0: K was not plain decimal digits) */
                rc = which < 0 ? st_error(STRATA_E_NOT_FOUND,
                                          "%s: input '%s': K in 'name:K' must be an output index of layer '%s', 0 "
                                          "to %d",
                                          what, inputs[k], src->name, src->n_outputs - 1)
                               : st_error(STRATA_E_NOT_FOUND, "%s: layer '%s' has no output %d (it has %d)", what,
                                          src->name, which, src->n_outputs);
                break;
            }
            if (src->out_ndim[which] < 0) {
                rc = st_error(STRATA_E_SHAPE, "%s: input '%s' is an unbatched (reduced) value", what, src->name);
                break;
            }
            in_d[k].dtype = src->out_dtype[which];
            in_d[k].ndim = src->out_ndim[which];
            memcpy(in_d[k].shape, src->out_shape[which], sizeof in_d[k].shape);
        } else {
            st_model_input *mi = &m->inputs[-1 - id];
            if (which != 0) { /* a model input is one value: "x" or "x:0" */
                rc = st_error(STRATA_E_NOT_FOUND, "%s: input '%s': model input '%s' has one value (output 0)", what,
                              inputs[k], mi->name);
                break;
            }
            in_d[k].dtype = mi->dtype;
            in_d[k].ndim = mi->ndim;
            memcpy(in_d[k].shape, mi->shape, sizeof in_d[k].shape);
        }
    }
    if (rc) {
        free_layer(l);
        return rc;
    }
    int n_out = lt->def.n_outputs > 0 ? lt->def.n_outputs : 1;
    if (n_out > ST_LAYER_MAX_OUT) {
        free_layer(l);
        return st_error(STRATA_E_INVALID, "%s: more than %d outputs", what, ST_LAYER_MAX_OUT);
    }
    memset(out_d, 0, sizeof out_d);
    for (int k = 0; k < n_out; k++) {
        out_d[k].struct_size = sizeof out_d[k];
        out_d[k].dtype = STRATA_F32;
    }
    /* register the layer first so add_param can find the model */
    if (st_grow((void **)&m->layers, &m->cap_layers, m->n_layers + 1, sizeof *m->layers)) {
        free_layer(l);
        return STRATA_E_NOMEM;
    }
    m->layers[m->n_layers++] = l;
    strata_layer_create_call call = {
        .struct_size = sizeof call,
        .host = &st_host_api,
        .rt = m->rt,
        .layer = l,
        .attrs = l->attrs,
        .n_attrs = l->n_attrs,
        .inputs = in_d,
        .n_inputs = n_in,
        .outputs = out_d,
        .n_outputs = n_out,
        .user = lt->def.user,
        .state = &l->state,
    };
    int prev = strata_set_grad_enabled(m->rt, 0);
    strata_clear_error();
    rc = lt->def.create(&call);
    strata_set_grad_enabled(m->rt, prev);
    if (rc) {
        char quoted[96]; /* the message names the layer when it quotes its name ("layer '0'") */
        snprintf(quoted, sizeof quoted, "'%s'", name);
        if (!strata_last_error()[0])
            st_error(rc, "%s: create failed (%s)", what, strata_status_name(rc));
        else if (!strstr(strata_last_error(), quoted))
            st_error_context(rc, "%s", what);
        if (l->state && lt->def.destroy)
            lt->def.destroy(l->state, lt->def.user);
        remove_layer_tensors(m, l->name);
        m->n_layers--;
        free_layer(l);
        return rc;
    }
    l->n_outputs = n_out;
    for (int k = 0; k < n_out; k++) {
        l->out_dtype[k] = out_d[k].dtype;
        l->out_ndim[k] = out_d[k].ndim;
        if (out_d[k].ndim > 0)
            memcpy(l->out_shape[k], out_d[k].shape, sizeof out_d[k].shape);
    }
    return STRATA_OK;
}

strata_status strata_model_add_output(strata_model *m, const char *name)
{
    if (!m || !name)
        return st_error(STRATA_E_INVALID, "strata_model_add_output: NULL argument");
    int which, id = lookup(m, name, &which);
    if (id == -1000000 || id < 0)
        return st_error(STRATA_E_NOT_FOUND, "model output '%s' is not a layer of the model", name);
    if (which < 0 || which >= m->layers[id]->n_outputs)
        return st_error(STRATA_E_NOT_FOUND, "model output '%s': layer has %d output(s)", name,
                        m->layers[id]->n_outputs);
    if (st_grow((void **)&m->out_ids, &m->cap_outputs, m->n_outputs + 1, sizeof(int)) ||
        st_grow((void **)&m->out_outs, &m->cap_outputs2, m->n_outputs + 1, sizeof(int)))
        return STRATA_E_NOMEM;
    m->out_ids[m->n_outputs] = id;
    m->out_outs[m->n_outputs] = which;
    m->n_outputs++;
    return STRATA_OK;
}

static strata_status check_batched(const char *what, const strata_tensor *t, int32_t dtype, int ndim,
                                   const int64_t *shape, int64_t batch)
{
    int ok = t->dtype == dtype && t->ndim == ndim + 1 && (batch < 0 || t->shape[0] == batch) &&
             !memcmp(t->shape + 1, shape, sizeof(int64_t) * (size_t)ndim);
    if (ok)
        return STRATA_OK;
    char a[128], b[128];
    st_shape_str(b, sizeof b, ndim, shape); /* "(d1, d2)": its inside follows the batch */
    const size_t nb = strlen(b);
    return st_error(STRATA_E_SHAPE, "%s is %s %s, expected %s (batch%s%.*s)", what, strata_dtype_name(t->dtype),
                    st_shape_str(a, sizeof a, t->ndim, t->shape), strata_dtype_name(dtype), ndim ? ", " : "",
                    nb >= 2 ? (int)(nb - 2) : 0, b + 1);
}

strata_status st_model_run(strata_model *m, strata_tensor *const *inputs, int n_inputs, int training,
                           strata_tensor ***vals_out)
{
    *vals_out = NULL;
    if (!m->n_layers)
        return st_error(STRATA_E_STATE, "model has no layers");
    for (int k = 0; k < n_inputs; k++)
        if (!inputs[k])
            return st_error(STRATA_E_INVALID, "model input %d ('%s') is NULL", k, m->inputs[k].name);
    int64_t batch = n_inputs ? inputs[0]->ndim > 0 ? inputs[0]->shape[0] : -1 : -1;
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
        snprintf(what, sizeof what, "layer '%s' (%s)", l->name, l->type->name);
        const char *outer = m->rt->anomaly_layer;
        if (m->rt->detect_anomaly) {
            snprintf(m->rt->anomaly_buf, sizeof m->rt->anomaly_buf, "%s", what);
            m->rt->anomaly_layer = m->rt->anomaly_buf;
        }
        rc = l->type->def.forward(&call);
        m->rt->anomaly_layer = outer;
        if (rc) {
            if (!strata_last_error()[0])
                st_error(rc, "%s: forward failed (%s)", what, strata_status_name(rc));
            else if (!strstr(strata_last_error(), what)) /* an anomaly report names it already */
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
    if (rc) {
        st_model_vals_free(m, vals);
        return rc;
    }
    *vals_out = vals;
    return STRATA_OK;
}

void st_model_vals_free(const strata_model *m, strata_tensor **vals)
{
    if (!vals)
        return;
    for (int k = 0; k < m->n_layers * ST_LAYER_MAX_OUT; k++)
        strata_tensor_release(vals[k]);
    free(vals);
}

strata_status strata_model_forward(strata_model *m, strata_tensor *const *inputs, int n_inputs,
                                   strata_tensor **outputs, int n_outputs, int training)
{
    if (!m || (!inputs && n_inputs) || !outputs)
        return st_error(STRATA_E_INVALID, "strata_model_forward: NULL argument");
    if (n_inputs != m->n_inputs)
        return st_error(STRATA_E_INVALID, "model takes %d input(s), got %d", m->n_inputs, n_inputs);
    int want_out = m->n_outputs ? m->n_outputs : 1;
    if (n_outputs != want_out)
        return st_error(STRATA_E_INVALID, "model produces %d output(s), the call asked for %d", want_out, n_outputs);
    strata_tensor **vals;
    strata_status rc = st_model_run(m, inputs, n_inputs, training, &vals);
    if (rc)
        return rc;
    for (int k = 0; k < want_out; k++) {
        int id = m->n_outputs ? m->out_ids[k] : m->n_layers - 1;
        int which = m->n_outputs ? m->out_outs[k] : 0;
        outputs[k] = strata_tensor_retain(vals[id * ST_LAYER_MAX_OUT + which]);
    }
    st_model_vals_free(m, vals);
    return STRATA_OK;
}

/* ---- parameters ---------------------------------------------------------- */

static strata_status add_tensor(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                const int64_t *shape, int trainable, strata_tensor **out)
{
    if (!layer || !name || !out)
        return st_error(STRATA_E_INVALID, "layer_add_param: NULL argument");
    strata_model *m = layer->model;
    char full[160];
    snprintf(full, sizeof full, "%s.%s", layer->name, name);
    for (int k = 0; k < m->n_params; k++)
        if (!strcmp(m->params[k].name, full))
            return st_error(STRATA_E_EXISTS, "parameter '%s' already exists", full);
    for (int k = 0; k < m->n_buffers; k++)
        if (!strcmp(m->buffers[k].name, full))
            return st_error(STRATA_E_EXISTS, "buffer '%s' already exists", full);
    strata_tensor *t;
    strata_status rc = st_tensor_new(m->dev, (int)dtype, ndim, shape, 1, &t);
    if (rc)
        return st_error_context(rc, "parameter '%s'", full);
    if (trainable && (rc = strata_tensor_set_requires_grad(t, 1))) {
        strata_tensor_release(t);
        return rc;
    }
    st_named_tensor **arr = trainable ? &m->params : &m->buffers;
    int *n = trainable ? &m->n_params : &m->n_buffers;
    int *cap = trainable ? &m->cap_params : &m->cap_buffers;
    char *nm = st_strdup(full);
    if (!nm || st_grow((void **)arr, cap, *n + 1, sizeof **arr)) {
        free(nm);
        strata_tensor_release(t);
        return STRATA_E_NOMEM;
    }
    (*arr)[*n].name = nm;
    (*arr)[*n].t = t;
    (*n)++;
    *out = t;
    return STRATA_OK;
}

strata_status st_layer_add_param(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                 const int64_t *shape, strata_tensor **out)
{
    return add_tensor(layer, name, dtype, ndim, shape, 1, out);
}

strata_status st_layer_add_buffer(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                  const int64_t *shape, strata_tensor **out)
{
    return add_tensor(layer, name, dtype, ndim, shape, 0, out);
}

strata_device *st_layer_device(const strata_layer *layer)
{
    return layer ? layer->model->dev : NULL;
}

const char *st_layer_name(const strata_layer *layer)
{
    return layer ? layer->name : "";
}

int strata_model_param_count(const strata_model *m)
{
    return m ? m->n_params : 0;
}

strata_status strata_model_param(const strata_model *m, int i, const char **name, strata_tensor **t)
{
    if (!m || i < 0 || i >= m->n_params)
        return st_error(STRATA_E_INVALID, "strata_model_param: index %d outside [0, %d)", i, m ? m->n_params : 0);
    if (name)
        *name = m->params[i].name;
    if (t)
        *t = m->params[i].t;
    return STRATA_OK;
}

int strata_model_buffer_count(const strata_model *m)
{
    return m ? m->n_buffers : 0;
}

strata_status strata_model_buffer(const strata_model *m, int i, const char **name, strata_tensor **t)
{
    if (!m || i < 0 || i >= m->n_buffers)
        return st_error(STRATA_E_INVALID, "strata_model_buffer: index %d outside [0, %d)", i, m ? m->n_buffers : 0);
    if (name)
        *name = m->buffers[i].name;
    if (t)
        *t = m->buffers[i].t;
    return STRATA_OK;
}

strata_device *strata_model_device(const strata_model *m)
{
    return m ? m->dev : NULL;
}

int64_t strata_model_num_scalars(const strata_model *m)
{
    int64_t n = 0;
    for (int k = 0; m && k < m->n_params; k++)
        n += strata_tensor_numel(m->params[k].t);
    return n;
}

void strata_model_zero_grad(strata_model *m)
{
    for (int k = 0; m && k < m->n_params; k++)
        strata_tensor_zero_grad(m->params[k].t);
}

const int64_t *strata_model_output_shape(const strata_model *m, int i, int *ndim)
{
    if (!m || !m->n_layers)
        return NULL;
    int n = m->n_outputs ? m->n_outputs : 1;
    if (i < 0 || i >= n)
        return NULL;
    strata_layer *l = m->layers[m->n_outputs ? m->out_ids[i] : m->n_layers - 1];
    int which = m->n_outputs ? m->out_outs[i] : 0;
    if (ndim)
        *ndim = l->out_ndim[which];
    return l->out_shape[which];
}

int strata_model_input_count(const strata_model *m)
{
    return m ? m->n_inputs : 0;
}

const int64_t *strata_model_input_shape(const strata_model *m, int i, int *ndim, strata_dtype *dtype)
{
    if (!m || i < 0 || i >= m->n_inputs)
        return NULL;
    if (ndim)
        *ndim = m->inputs[i].ndim;
    if (dtype)
        *dtype = (strata_dtype)m->inputs[i].dtype;
    return m->inputs[i].shape;
}
