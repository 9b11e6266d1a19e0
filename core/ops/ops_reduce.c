/* ops_reduce.c - sum, mean, max, argmax, sum_to_shape, softmax family. */
#include "ops_common.h"

static strata_status infer_reduce(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (rc)
        return rc;
    int mask[STRATA_MAX_DIMS], n;
    rc = reduce_shape(c->op, c->attrs, c->n_attrs, c->inputs[0].ndim, c->inputs[0].shape, mask, &n,
                      c->outputs[0].shape);
    c->outputs[0].ndim = n;
    c->outputs[0].dtype = STRATA_F32;
    return rc;
}

/* Shape of the output with keepdim=1, to re-expand the gradient. */
static strata_status keepdim_view(const strata_backward_call *c, strata_tensor *g, strata_tensor **out)
{
    strata_tensor *x = c->inputs[0];
    int mask[STRATA_MAX_DIMS], n;
    int64_t shape[STRATA_MAX_DIMS];
    strata_attr at[2];
    int na = 0;
    const strata_attr *ax = strata_attr_find(c->attrs, c->n_attrs, "axes");
    if (ax)
        at[na++] = *ax;
    at[na++] = strata_attr_int("keepdim", 1);
    strata_status rc = reduce_shape(c->op, at, na, x->ndim, x->shape, mask, &n, shape);
    if (rc)
        return rc;
    strata_attr sa = strata_attr_ints("shape", shape, n);
    return bw_op1(c, "core::reshape", g, &sa, 1, out);
}

static strata_status bw_sum(const strata_backward_call *c)
{
    strata_tensor *g;
    strata_status rc = keepdim_view(c, c->grad_outputs[0], &g);
    if (rc)
        return rc;
    rc = bw_expand_to(c, g, c->inputs[0], &c->grad_inputs[0]);
    strata_tensor_release(g);
    return rc;
}

static strata_status bw_mean(const strata_backward_call *c)
{
    int64_t count = strata_tensor_numel(c->inputs[0]) / (strata_tensor_numel(c->outputs[0]) ? strata_tensor_numel(c->outputs[0]) : 1);
    strata_tensor *g, *e;
    strata_status rc = keepdim_view(c, c->grad_outputs[0], &g);
    if (rc)
        return rc;
    rc = bw_expand_to(c, g, c->inputs[0], &e);
    strata_tensor_release(g);
    if (rc)
        return rc;
    rc = bw_scale(c, e, 1.0 / (double)(count ? count : 1), &c->grad_inputs[0]);
    strata_tensor_release(e);
    return rc;
}

static strata_status bw_max(const strata_backward_call *c)
{
    return bw_op3(c, "core::max_backward", c->grad_outputs[0], c->inputs[0], c->outputs[0], c->attrs, c->n_attrs,
                  &c->grad_inputs[0]);
}

static strata_status infer_max_backward(const strata_infer_call *c)
{
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = c->inputs[1].ndim;
    memcpy(c->outputs[0].shape, c->inputs[1].shape, sizeof c->inputs[1].shape);
    return STRATA_OK;
}

static strata_status infer_argmax(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0];
    int axis;
    rc = norm_axis(c, strata_attr_get_int(c->attrs, c->n_attrs, "axis", -1), x->ndim, &axis);
    if (rc)
        return rc;
    if (x->ndim == 0) /* not an empty axis: no axis at all */
        return st_error(STRATA_E_SHAPE, "%s: x is a scalar (0-d), with no axis to take argmax over; reshape it to [1]",
                        c->op);
    if (x->shape[axis] == 0)
        return st_error(STRATA_E_SHAPE, "%s: cannot take argmax over an empty axis (axis %d of %lld elements)", c->op,
                        axis, (long long)x->shape[axis]);
    int keep = (int)strata_attr_get_int(c->attrs, c->n_attrs, "keepdim", 0), o = 0;
    for (int k = 0; k < x->ndim; k++) {
        if (k != axis)
            c->outputs[0].shape[o++] = x->shape[k];
        else if (keep)
            c->outputs[0].shape[o++] = 1;
    }
    c->outputs[0].ndim = o;
    c->outputs[0].dtype = STRATA_I64;
    return STRATA_OK;
}

static strata_status infer_sum_to_shape(const strata_infer_call *c)
{
    const strata_attr *s = strata_attr_find(c->attrs, c->n_attrs, "shape");
    if (!s || s->kind != STRATA_ATTR_INTS || s->n < 0 || s->n > STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "%s: ints attribute 'shape' is required", c->op);
    int n;
    int64_t b[STRATA_MAX_DIMS];
    strata_status rc = broadcast_shapes(c->op, s->n, s->ints, c->inputs[0].ndim, c->inputs[0].shape, &n, b);
    if (rc)
        return rc;
    if (n != c->inputs[0].ndim || memcmp(b, c->inputs[0].shape, sizeof(int64_t) * (size_t)n)) {
        char a[128], x[128];
        return st_error(STRATA_E_SHAPE, "%s: %s does not broadcast to the input's shape %s", c->op,
                        st_shape_str(a, sizeof a, s->n, s->ints),
                        st_shape_str(x, sizeof x, c->inputs[0].ndim, c->inputs[0].shape));
    }
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = s->n;
    memcpy(c->outputs[0].shape, s->ints, sizeof(int64_t) * (size_t)s->n);
    return STRATA_OK;
}

static strata_status bw_sum_to_shape(const strata_backward_call *c)
{
    return bw_expand_to(c, c->grad_outputs[0], c->inputs[0], &c->grad_inputs[0]);
}

static strata_status infer_softmax(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    int axis;
    if (!rc)
        rc = norm_axis(c, strata_attr_get_int(c->attrs, c->n_attrs, "axis", -1), c->inputs[0].ndim, &axis);
    return rc ? rc : infer_same_as_input0(c);
}

static strata_status bw_softmax(const strata_backward_call *c)
{
    return bw_op2(c, "core::softmax_backward", c->grad_outputs[0], c->outputs[0], c->attrs, c->n_attrs,
                  &c->grad_inputs[0]);
}

static strata_status bw_log_softmax(const strata_backward_call *c)
{
    return bw_op2(c, "core::log_softmax_backward", c->grad_outputs[0], c->outputs[0], c->attrs, c->n_attrs,
                  &c->grad_inputs[0]);
}

static const strata_op_def reduce_ops[] = {
    ST_OP_R("sum", 1, 1, 1, 0, infer_reduce, bw_sum, NULL, "sum over axes", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("mean", 1, 1, 1, 0, infer_reduce, bw_mean, NULL, "mean over axes", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP("max", 1, 1, 1, 0, infer_reduce, bw_max, NULL, "maximum over axes"),
    ST_OP("max_backward", 3, 3, 1, STRATA_OP_NO_GRAD, infer_max_backward, NULL, NULL, "gradient of max"),
    ST_OP("argmax", 1, 1, 1, STRATA_OP_NO_GRAD, infer_argmax, NULL, NULL, "index of the first maximum (i64)"),
    ST_OP_R("sum_to_shape", 1, 1, 1, 0, infer_sum_to_shape, bw_sum_to_shape, NULL, "reverse of broadcasting",
            ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("softmax", 1, 1, 1, 0, infer_softmax, bw_softmax, NULL, "softmax along axis", 1u, 0u),
    ST_OP_R("log_softmax", 1, 1, 1, 0, infer_softmax, bw_log_softmax, NULL, "log-softmax along axis", 1u, 0u),
    ST_OP("softmax_backward", 2, 2, 1, STRATA_OP_NO_GRAD, infer_softmax, NULL, NULL, "gradient of softmax"),
    ST_OP("log_softmax_backward", 2, 2, 1, STRATA_OP_NO_GRAD, infer_softmax, NULL, NULL, "gradient of log_softmax"),
};

strata_status st_register_reduce_ops(st_plugin *p)
{
    return ops_register_table(p, reduce_ops, ST_ARRAY_LEN(reduce_ops));
}
