/* autograd.c - the define-by-run graph and reverse-mode backward.
 *
 * Ops record a node when gradients are enabled and an input requires grad.
 * strata_backward() walks the nodes in reverse recording order (a valid
 * topological order), calling each op's backward with recording off, and
 * accumulates into leaves' ->grad (kept) and intermediates' ->tmp_grad
 * (freed as soon as the producing node has used it).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

strata_graph *st_graph_new(strata_runtime *rt)
{
    strata_graph *g = st_calloc(1, sizeof *g);
    if (g)
        g->rt = rt;
    return g;
}

static void node_free(st_node *n)
{
    for (int k = 0; k < n->n_outputs; k++) {
        strata_tensor *o = n->outputs[k];
        if (o && o->grad_fn == n) {
            o->grad_fn = NULL;
            strata_tensor_release(o->tmp_grad);
            o->tmp_grad = NULL;
        }
        strata_tensor_release(o);
    }
    for (int k = 0; k < n->n_inputs; k++)
        strata_tensor_release(n->inputs[k]);
    free(n->inputs);
    free(n->outputs);
    free(n->versions);
    free(n->attrs);
    free(n->layer);
    free(n);
}

void strata_graph_reset(strata_graph *g)
{
    if (!g)
        return;
    for (int k = g->n_nodes - 1; k >= 0; k--)
        node_free(g->nodes[k]);
    g->n_nodes = 0;
}

void st_graph_free(strata_graph *g)
{
    if (!g)
        return;
    strata_graph_reset(g);
    free(g->nodes);
    free(g);
}

int strata_graph_size(const strata_graph *g)
{
    return g ? g->n_nodes : 0;
}

strata_status st_graph_record(strata_runtime *rt, const st_op *op, strata_tensor *const *inputs, int n_in,
                              strata_tensor *const *outputs, int n_out, const strata_attr *attrs, int n_attrs)
{
    if (!rt->grad_enabled || (op->def.flags & STRATA_OP_NO_GRAD))
        return STRATA_OK;
    int any = 0;
    for (int k = 0; k < n_in; k++)
        any |= inputs[k]->requires_grad;
    if (!any)
        return STRATA_OK;
    if (!op->def.backward) { /* outputs are constants: the gradients of the inputs stop here */
        if (!op->def.composite && !op->warned_no_backward) { /* (a composite's own ops record the graph) */
            ((st_op *)op)->warned_no_backward = 1; /* the op's own note that it has said so: not its definition */
            st_log(rt, STRATA_LOG_WARN,
                   "%s (plugin '%s') has no backward and no composite, and an input that needs a gradient: nothing "
                   "before it gets one (register a backward, or flag the op STRATA_OP_NO_GRAD when it is not "
                   "differentiable)",
                   op->name, op->plugin && op->plugin->name ? op->plugin->name : "?");
        }
        return STRATA_OK;
    }
    strata_graph *g = rt->graph;
    st_node *n = st_calloc(1, sizeof *n);
    if (!n)
        return STRATA_E_NOMEM;
    n->op = op;
    n->inputs = st_calloc((size_t)n_in, sizeof *n->inputs);
    n->outputs = st_calloc((size_t)n_out, sizeof *n->outputs);
    n->versions = st_calloc((size_t)(n_in + n_out), sizeof *n->versions);
    n->attrs = st_attrs_copy(attrs, n_attrs);
    n->layer = rt->detect_anomaly && rt->anomaly_layer ? st_strdup(rt->anomaly_layer) : NULL;
    if (!n->inputs || !n->outputs || !n->versions || (n_attrs && !n->attrs) ||
        (rt->detect_anomaly && rt->anomaly_layer && !n->layer) ||
        st_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        free(n->inputs);
        free(n->outputs);
        free(n->versions);
        free(n->attrs);
        free(n->layer);
        free(n);
        return STRATA_E_NOMEM;
    }
    n->n_inputs = n_in;
    n->n_outputs = n_out;
    n->n_attrs = n_attrs;
    n->seq = g->n_nodes;
    for (int k = 0; k < n_in; k++) {
        n->inputs[k] = strata_tensor_retain(inputs[k]);
        n->versions[k] = inputs[k]->st->version;
    }
    for (int k = 0; k < n_out; k++) {
        strata_tensor *o = outputs[k];
        n->outputs[k] = strata_tensor_retain(o);
        n->versions[n_in + k] = o->st->version;
        if (o->dtype == STRATA_F32) {
            o->requires_grad = 1;
            o->is_leaf = 0;
            o->grad_fn = n;
            o->grad_fn_output = k;
        }
    }
    g->nodes[g->n_nodes++] = n;
    return STRATA_OK;
}

/* A backward's gradients that are tensors of its call (an incoming gradient passed straight through, say)
 * must each hold a reference of their own: both the graph and the gradient's new owner release it. One
 * without is given the reference it lacks, so nothing is freed twice, and reported. @p handed[h] had
 * refs[h] references before the call; what[h] says which it is (256 role + index: grad_outputs[0] is 0). */
static strata_status check_grad_refs(strata_tensor **gin, int n_in, strata_tensor *const *handed,
                                     const int *refs, const int *what, int n_handed)
{
    strata_status rc = STRATA_OK;
    for (int k = 0; k < n_in; k++) {
        int uses = 0, first = 1;
        for (int j = 0; gin[k] && j < n_in; j++) {
            uses += gin[j] == gin[k];
            first &= !(j < k && gin[j] == gin[k]);
        }
        if (!gin[k] || !first)
            continue;
        int h = 0;
        while (h < n_handed && handed[h] != gin[k])
            h++;
        if (h == n_handed)
            continue; /* a tensor of its own making */
        const int gained = gin[k]->refcount - refs[h];
        if (gained >= uses)
            continue;
        for (int more = uses - gained; more > 0; more--)
            strata_tensor_retain(gin[k]);
        static const char *const roles[] = {"grad_outputs", "inputs", "outputs"};
        if (!rc)
            rc = st_error(STRATA_E_INVALID,
                          "it returned %s[%d] as the gradient of input %d without a reference of its own: store "
                          "host->tensor_retain(t), a new reference (strata_plugin.h)",
                          roles[what[h] / 256], what[h] % 256, k);
    }
    return rc;
}

/* *slot += g (steals g). */
static strata_status accumulate(strata_runtime *rt, strata_tensor **slot, strata_tensor *g)
{
    if (!*slot) {
        *slot = g;
        return STRATA_OK;
    }
    strata_tensor *in[2] = {*slot, g}, *sum;
    strata_status rc = st_call1(rt, "core::add", in, 2, NULL, 0, &sum);
    strata_tensor_release(g);
    if (rc)
        return rc;
    strata_tensor_release(*slot);
    *slot = sum;
    return STRATA_OK;
}

/* A backward reads the tensors its node saved: one written in place since
 * (an optimizer step, strata_tensor_write, an op into a provided output)
 * would give wrong gradients without a sign, so it is an error. */
static strata_status check_saved(const st_node *n)
{
    const strata_op_def *d = &n->op->def;
    if (d->struct_size < offsetof(strata_op_def, backward_unread_outputs) + sizeof d->backward_unread_outputs)
        return STRATA_OK; /* built before 1.2: its backward's reads are unknown, and it worked unchecked */
    for (int k = 0; k < n->n_inputs + n->n_outputs; k++) {
        const int is_in = k < n->n_inputs, j = is_in ? k : k - n->n_inputs;
        const strata_tensor *t = is_in ? n->inputs[j] : n->outputs[j];
        const uint32_t unread = is_in ? d->backward_unread_inputs : d->backward_unread_outputs;
        if (t->st->version == n->versions[k] || (unread >> (j < 31 ? j : 31) & 1u)) /* bit 31: 31 and on */
            continue;
        char s[128];
        return st_error(STRATA_E_STATE,
                        "backward of %s%s%s: its %s %d (%s %s) was modified in place after the forward pass saved it "
                        "(version %llu, saved at %llu), so its gradients would be wrong; change a copy instead, or "
                        "make the change after strata_backward",
                        n->op->name, n->layer ? " in layer " : "", n->layer ? n->layer : "", is_in ? "input" : "output",
                        j, strata_dtype_name(t->dtype), st_shape_str(s, sizeof s, t->ndim, t->shape),
                        (unsigned long long)t->st->version, (unsigned long long)n->versions[k]);
    }
    return STRATA_OK;
}

/* check_saved for every node the backward from @p loss will reach, before
 * any runs: a refusal then leaves every gradient as it was. */
static strata_status check_reachable(strata_graph *g, const strata_tensor *loss)
{
    const st_node *start = loss->grad_fn;
    if (!start || start->seq >= g->n_nodes || g->nodes[start->seq] != start)
        return st_error(STRATA_E_INVALID, "strata_backward: the loss was not recorded on this graph (a graph of "
                                          "another runtime?)");
    unsigned char *reach = st_calloc((size_t)g->n_nodes, 1);
    if (!reach)
        return STRATA_E_NOMEM;
    reach[start->seq] = 1;
    strata_status rc = STRATA_OK;
    for (int ni = start->seq; ni >= 0 && !rc; ni--) {
        const st_node *n = g->nodes[ni];
        if (!reach[ni])
            continue;
        int any_in = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            const strata_tensor *x = n->inputs[k];
            any_in |= x->requires_grad && (x->is_leaf || x->grad_fn);
            if (x->requires_grad && x->grad_fn && x->grad_fn->seq < ni && g->nodes[x->grad_fn->seq] == x->grad_fn)
                reach[x->grad_fn->seq] = 1;
        }
        if (any_in)
            rc = check_saved(n);
    }
    free(reach);
    return rc;
}

strata_status strata_backward(strata_graph *g, strata_tensor *loss)
{
    if (!g || !loss)
        return st_error(STRATA_E_INVALID, "strata_backward: NULL graph or loss");
    strata_runtime *rt = g->rt;
    if (strata_tensor_numel(loss) != 1) {
        char s[128];
        return st_error(STRATA_E_SHAPE, "strata_backward: the loss must have one element, it has shape %s",
                        st_shape_str(s, sizeof s, loss->ndim, loss->shape));
    }
    if (!loss->requires_grad)
        return st_error(STRATA_E_STATE, "strata_backward: the loss does not depend on any tensor that requires grad "
                                        "(was it computed with gradients disabled?)");
    if (!loss->is_leaf && !loss->grad_fn)
        return st_error(STRATA_E_STATE, "strata_backward: the graph that computed the loss was reset "
                                        "(strata_graph_reset) or released since: nothing to differentiate");
    int prev = strata_set_grad_enabled(rt, 0);
    int prev_bw = rt->in_backward;
    rt->in_backward = 1;
    strata_status rc;
    strata_tensor *one;
    strata_attr fa[3] = {strata_attr_ints("shape", loss->shape, loss->ndim), strata_attr_float("value", 1.0),
                         strata_attr_int("dtype", STRATA_F32)};
    rc = strata_op_create(loss->st->dev, "core::fill", fa, 3, &one);
    if (rc)
        goto out;
    if (loss->is_leaf) {
        rc = accumulate(rt, &loss->grad, one);
        goto out;
    }
    if ((rc = check_reachable(g, loss))) {
        strata_tensor_release(one);
        goto out;
    }
    strata_tensor_release(loss->tmp_grad);
    loss->tmp_grad = one;

    for (int ni = g->n_nodes - 1; ni >= 0; ni--) {
        st_node *n = g->nodes[ni];
        strata_tensor *gout[64] = {0}, *gin[64] = {0};
        int32_t need[64] = {0};
        int any_out = 0, any_in = 0;
        for (int k = 0; k < n->n_outputs; k++) {
            gout[k] = n->outputs[k]->grad_fn == n ? n->outputs[k]->tmp_grad : NULL;
            any_out |= gout[k] != NULL;
        }
        if (!any_out)
            continue;
        for (int k = 0; k < n->n_inputs; k++) {
            /* a non-leaf kept across strata_graph_reset has no node left to take its gradient:
             * its tmp_grad would only grow, one backward after another, until it is released */
            const strata_tensor *x = n->inputs[k];
            need[k] = x->requires_grad && (x->is_leaf || x->grad_fn);
            any_in |= need[k];
        }
        if (any_in) {
            strata_backward_call call = {
                .struct_size = sizeof call,
                .host = &st_host_api,
                .rt = rt,
                .op = n->op->name,
                .inputs = n->inputs,
                .n_inputs = n->n_inputs,
                .outputs = n->outputs,
                .n_outputs = n->n_outputs,
                .grad_outputs = gout,
                .needs_grad = need,
                .grad_inputs = gin,
                .attrs = n->attrs,
                .n_attrs = n->n_attrs,
                .user = n->op->def.user,
            };
            /* the tensors the call hands over, with their counts: a gradient passed on as one of them must
             * come with a reference of its own (host->tensor_retain), or both owners release it. A plugin's slip
             * to catch: the core's own backwards are not checked, nothing spent on them */
            strata_tensor *handed[192];
            int refs[192], what[192], n_handed = 0; /* what: 256 role + index (names made only for a message) */
            const int plugin_op = n->op->plugin != rt->builtin;
            for (int k = 0; plugin_op && k < n->n_outputs; k++)
                if (gout[k])
                    what[n_handed] = k, handed[n_handed] = gout[k], refs[n_handed++] = gout[k]->refcount;
            for (int k = 0; plugin_op && k < n->n_inputs; k++) {
                what[n_handed] = 256 + k, handed[n_handed] = n->inputs[k];
                refs[n_handed++] = n->inputs[k]->refcount;
            }
            for (int k = 0; plugin_op && k < n->n_outputs; k++) {
                what[n_handed] = 512 + k, handed[n_handed] = n->outputs[k];
                refs[n_handed++] = n->outputs[k]->refcount;
            }
            strata_clear_error();
            rt->anomaly_layer = n->layer;
            rt->anomaly_bw_op = n->op->name;
            rc = n->op->def.backward(&call);
            rt->anomaly_layer = NULL;
            rt->anomaly_bw_op = NULL;
            if (!rc && plugin_op)
                rc = check_grad_refs(gin, n->n_inputs, handed, refs, what, n_handed);
            if (rc) {
                if (!(rc == STRATA_E_NUMERIC && rt->detect_anomaly)) /* the anomaly report names it */
                    st_error_context(rc, "backward of %s", n->op->name);
                for (int k = 0; k < n->n_inputs; k++)
                    strata_tensor_release(gin[k]);
                goto out;
            }
            for (int k = 0; k < n->n_inputs; k++) {
                if (!gin[k])
                    continue;
                strata_tensor *x = n->inputs[k];
                if (!need[k]) {
                    strata_tensor_release(gin[k]);
                    continue;
                }
                if (gin[k]->ndim != x->ndim || memcmp(gin[k]->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) ||
                    gin[k]->dtype != x->dtype) {
                    char a[128], b[128];
                    rc = st_error(gin[k]->dtype != x->dtype ? STRATA_E_DTYPE : STRATA_E_SHAPE,
                                  "backward of %s gave input %d a gradient %s %s, expected %s %s (the input's)",
                                  n->op->name, k, strata_dtype_name((strata_dtype)gin[k]->dtype),
                                  st_shape_str(a, sizeof a, gin[k]->ndim, gin[k]->shape),
                                  strata_dtype_name((strata_dtype)x->dtype),
                                  st_shape_str(b, sizeof b, x->ndim, x->shape));
                    for (int j = k; j < n->n_inputs; j++)
                        strata_tensor_release(gin[j]);
                    goto out;
                }
                rc = accumulate(rt, x->is_leaf ? &x->grad : &x->tmp_grad, gin[k]);
                gin[k] = NULL;
                if (rc) {
                    for (int j = k + 1; j < n->n_inputs; j++)
                        strata_tensor_release(gin[j]);
                    goto out;
                }
            }
        }
        /* this node's output gradients are used up */
        for (int k = 0; k < n->n_outputs; k++) {
            if (n->outputs[k]->grad_fn == n) {
                strata_tensor_release(n->outputs[k]->tmp_grad);
                n->outputs[k]->tmp_grad = NULL;
            }
        }
    }
    rc = STRATA_OK;
out:
    if (rc) /* a retry starts from the loss again: drop the gradients this pass left on intermediates */
        for (int ni = 0; ni < g->n_nodes; ni++)
            for (int k = 0; k < g->nodes[ni]->n_outputs; k++) {
                strata_tensor *o = g->nodes[ni]->outputs[k];
                if (o->grad_fn == g->nodes[ni]) {
                    strata_tensor_release(o->tmp_grad);
                    o->tmp_grad = NULL;
                }
            }
    rt->in_backward = prev_bw;
    strata_set_grad_enabled(rt, prev);
    return rc;
}
