/* ops_index.c - embedding, gather, one_hot and their backward ops. */
#include "ops_common.h"

static strata_status infer_embedding(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (!rc)
        rc = need_index(c, 1);
    if (rc)
        return rc;
    const strata_tensor_desc *w = &c->inputs[0], *idx = &c->inputs[1];
    if (w->ndim != 2)
        return st_error(STRATA_E_SHAPE, "%s: weight must be (num_embeddings, dim), got rank %d", c->op, w->ndim);
    if (idx->ndim + 1 > STRATA_MAX_DIMS)
        return st_error(STRATA_E_SHAPE, "%s: indices of rank %d are too many dims", c->op, idx->ndim);
    const strata_attr *pad = strata_attr_find(c->attrs, c->n_attrs, "padding_idx");
    if (pad) {
        int64_t p = strata_attr_get_int(c->attrs, c->n_attrs, "padding_idx", 0);
        if (p < 0 || p >= w->shape[0])
            return st_error(STRATA_E_INVALID, "%s: padding_idx %lld is not a row of the (%lld, %lld) weight", c->op,
                            (long long)p, (long long)w->shape[0], (long long)w->shape[1]);
    }
    strata_tensor_desc *o = &c->outputs[0];
    o->dtype = STRATA_F32;
    o->ndim = idx->ndim + 1;
    memcpy(o->shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    o->shape[idx->ndim] = w->shape[1];
    return STRATA_OK;
}

/* The weight's gradient with row @p p zero: the rows around it and a row of zeros, joined. */
static strata_status zero_row(const strata_backward_call *c, strata_tensor *g, int64_t p, strata_tensor **out)
{
    const int64_t v = g->shape[0], row[2] = {1, g->shape[1]};
    strata_tensor *part[3] = {NULL, NULL, NULL};
    int n = 0;
    strata_attr fa[3] = {strata_attr_ints("shape", row, 2), strata_attr_float("value", 0.0),
                         strata_attr_int("dtype", STRATA_F32)};
    strata_attr before[3] = {strata_attr_int("axis", 0), strata_attr_int("start", 0), strata_attr_int("end", p)};
    strata_attr after[3] = {strata_attr_int("axis", 0), strata_attr_int("start", p + 1), strata_attr_int("end", v)};
    strata_status rc = p > 0 ? bw_op1(c, "core::slice", g, before, 3, &part[n++]) : STRATA_OK;
    if (!rc)
        rc = strata_op_create(g->st->dev, "core::fill", fa, 3, &part[n++]);
    if (!rc && p + 1 < v)
        rc = bw_op1(c, "core::slice", g, after, 3, &part[n++]);
    strata_attr axis = strata_attr_int("axis", 0);
    if (!rc)
        rc = st_call1(c->rt, "core::concat", part, n, &axis, 1, out);
    for (int k = 0; k < n; k++)
        strata_tensor_release(part[k]);
    return rc;
}

/* With padding_idx, that row gets no gradient, as in PyTorch: the row a
 * padding token reads stays where it is (zero, as the layer starts it). */
static strata_status bw_embedding(const strata_backward_call *c)
{
    if (!c->needs_grad[0])
        return STRATA_OK;
    strata_attr a = strata_attr_int("num_embeddings", c->inputs[0]->shape[0]);
    if (!strata_attr_find(c->attrs, c->n_attrs, "padding_idx"))
        return bw_op2(c, "core::embedding_backward", c->grad_outputs[0], c->inputs[1], &a, 1, &c->grad_inputs[0]);
    strata_tensor *g;
    strata_status rc = bw_op2(c, "core::embedding_backward", c->grad_outputs[0], c->inputs[1], &a, 1, &g);
    if (rc)
        return rc;
    rc = zero_row(c, g, strata_attr_get_int(c->attrs, c->n_attrs, "padding_idx", 0), &c->grad_inputs[0]);
    strata_tensor_release(g);
    return rc;
}

static strata_status infer_embedding_backward(const strata_infer_call *c)
{
    int64_t v = strata_attr_get_int(c->attrs, c->n_attrs, "num_embeddings", -1);
    const strata_tensor_desc *g = &c->inputs[0];
    if (!strata_attr_find(c->attrs, c->n_attrs, "num_embeddings"))
        return st_error(STRATA_E_INVALID, "%s: attribute num_embeddings is required", c->op);
    if (v < 0)
        return st_error(STRATA_E_INVALID, "%s: num_embeddings must be >= 0, got %lld", c->op, (long long)v);
    if (g->ndim < 1)
        return st_error(STRATA_E_SHAPE, "%s: the gradient (input 0) needs at least 1 dimension, got 0", c->op);
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = 2;
    c->outputs[0].shape[0] = v;
    c->outputs[0].shape[1] = g->shape[g->ndim - 1];
    return need_index(c, 1);
}

static strata_status infer_gather(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (!rc)
        rc = need_index(c, 1);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0], *idx = &c->inputs[1];
    int axis;
    if ((rc = norm_axis(c, strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0), x->ndim, &axis)))
        return rc;
    if (idx->ndim != x->ndim)
        return st_error(STRATA_E_SHAPE, "%s: index rank %d differs from input rank %d", c->op, idx->ndim, x->ndim);
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && idx->shape[d] > x->shape[d])
            return st_error(STRATA_E_SHAPE, "%s: index dimension %d (%lld) exceeds the input's (%lld)", c->op, d,
                            (long long)idx->shape[d], (long long)x->shape[d]);
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = idx->ndim;
    memcpy(c->outputs[0].shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    return STRATA_OK;
}

static strata_status bw_gather(const strata_backward_call *c)
{
    if (!c->needs_grad[0])
        return STRATA_OK;
    strata_attr a[2] = {strata_attr_int("axis", strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0)),
                        strata_attr_ints("shape", c->inputs[0]->shape, c->inputs[0]->ndim)};
    return bw_op2(c, "core::gather_backward", c->grad_outputs[0], c->inputs[1], a, 2, &c->grad_inputs[0]);
}

static strata_status infer_gather_backward(const strata_infer_call *c)
{
    const strata_attr *s = strata_attr_find(c->attrs, c->n_attrs, "shape");
    if (!s || s->kind != STRATA_ATTR_INTS || s->n < 0 || s->n > STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "%s: ints attribute 'shape' is required", c->op);
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = s->n;
    memcpy(c->outputs[0].shape, s->ints, sizeof(int64_t) * (size_t)s->n);
    return need_index(c, 1);
}

static strata_status infer_one_hot(const strata_infer_call *c)
{
    strata_status rc = need_index(c, 0);
    if (rc)
        return rc;
    if (!strata_attr_find(c->attrs, c->n_attrs, "num_classes"))
        return st_error(STRATA_E_INVALID, "%s: attribute num_classes is required", c->op);
    int64_t n = strata_attr_get_int(c->attrs, c->n_attrs, "num_classes", -1);
    if (n <= 0)
        return st_error(STRATA_E_INVALID, "%s: attribute num_classes must be positive (got %lld)", c->op,
                        (long long)n);
    const strata_tensor_desc *x = &c->inputs[0];
    if (x->ndim + 1 > STRATA_MAX_DIMS)
        return st_error(STRATA_E_SHAPE, "%s: input rank %d is too large", c->op, x->ndim);
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = x->ndim + 1;
    memcpy(c->outputs[0].shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    c->outputs[0].shape[x->ndim] = n;
    return STRATA_OK;
}

static const strata_op_def index_ops[] = {
    ST_OP_R("embedding", 2, 2, 1, 0, infer_embedding, bw_embedding, NULL, "rows of a table by index", 1u, 1u),
    ST_OP("embedding_backward", 2, 2, 1, STRATA_OP_NO_GRAD, infer_embedding_backward, NULL, NULL,
          "scatter-add of row gradients"),
    ST_OP_R("gather", 2, 2, 1, 0, infer_gather, bw_gather, NULL, "torch.gather along an axis", 1u, 1u),
    ST_OP("gather_backward", 2, 2, 1, STRATA_OP_NO_GRAD, infer_gather_backward, NULL, NULL, "scatter-add"),
    ST_OP("one_hot", 1, 1, 1, STRATA_OP_NO_GRAD, infer_one_hot, NULL, NULL, "indices to one-hot f32"),
};

strata_status st_register_index_ops(st_plugin *p)
{
    return ops_register_table(p, index_ops, ST_ARRAY_LEN(index_ops));
}
