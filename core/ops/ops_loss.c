/* ops_loss.c - cross_entropy, mse (composite), bce_with_logits. */
#include "ops_common.h"

typedef enum { RED_MEAN, RED_SUM, RED_NONE } reduction;

static strata_status get_reduction(const char *op, const strata_attr *attrs, int n, reduction *out)
{
    const strata_attr *r = strata_attr_find(attrs, n, "reduction");
    if (!r) {
        *out = RED_MEAN;
        return STRATA_OK;
    }
    if (r->kind == STRATA_ATTR_STRING && r->s) {
        if (!strcmp(r->s, "mean"))
            *out = RED_MEAN;
        else if (!strcmp(r->s, "sum"))
            *out = RED_SUM;
        else if (!strcmp(r->s, "none"))
            *out = RED_NONE;
        else
            return st_error(STRATA_E_INVALID, "%s: reduction '%s' is not one of mean, sum, none", op, r->s);
        return STRATA_OK;
    }
    return st_error(STRATA_E_INVALID, "%s: attribute 'reduction' must be a string", op);
}

static void scalar_or(strata_tensor_desc *o, reduction r, int ndim, const int64_t *shape)
{
    o->dtype = STRATA_F32;
    if (r == RED_NONE) {
        o->ndim = ndim;
        memcpy(o->shape, shape, sizeof(int64_t) * (size_t)ndim);
    } else {
        o->ndim = 0;
    }
}

static strata_status infer_cross_entropy(const strata_infer_call *c)
{
    reduction r;
    strata_status rc = get_reduction(c->op, c->attrs, c->n_attrs, &r);
    if (!rc)
        rc = need_float(c, 0);
    if (!rc)
        rc = need_index(c, 1);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0], *y = &c->inputs[1];
    char sx[128], sy[128];
    if (x->ndim != 2 || y->ndim != 1 || y->shape[0] != x->shape[0])
        return st_error(STRATA_E_SHAPE, "%s: expected logits (N, C) and labels (N); got %s and %s", c->op,
                        st_shape_str(sx, sizeof sx, x->ndim, x->shape), st_shape_str(sy, sizeof sy, y->ndim, y->shape));
    scalar_or(&c->outputs[0], r, 1, x->shape);
    return STRATA_OK;
}

static strata_status bw_cross_entropy(const strata_backward_call *c)
{
    if (!c->needs_grad[0])
        return STRATA_OK;
    return bw_op3(c, "core::cross_entropy_backward", c->grad_outputs[0], c->inputs[0], c->inputs[1], c->attrs,
                  c->n_attrs, &c->grad_inputs[0]);
}

static strata_status infer_ce_backward(const strata_infer_call *c)
{
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = c->inputs[1].ndim;
    memcpy(c->outputs[0].shape, c->inputs[1].shape, sizeof c->inputs[1].shape);
    return STRATA_OK;
}

static strata_status infer_pairwise_loss(const strata_infer_call *c)
{
    reduction r;
    strata_status rc = get_reduction(c->op, c->attrs, c->n_attrs, &r);
    if (!rc)
        rc = need_float(c, 0);
    if (!rc)
        rc = need_float(c, 1);
    if (rc)
        return rc;
    const strata_tensor_desc *x = &c->inputs[0], *t = &c->inputs[1];
    if (x->ndim != t->ndim || memcmp(x->shape, t->shape, sizeof(int64_t) * (size_t)x->ndim)) {
        char sx[128], st[128];
        return st_error(STRATA_E_SHAPE, "%s: input %s and target %s must have the same shape", c->op,
                        st_shape_str(sx, sizeof sx, x->ndim, x->shape), st_shape_str(st, sizeof st, t->ndim, t->shape));
    }
    scalar_or(&c->outputs[0], r, x->ndim, x->shape);
    return STRATA_OK;
}

static strata_status mse_composite(const strata_composite_call *c)
{
    reduction r;
    strata_status rc = get_reduction(c->op, c->attrs, c->n_attrs, &r);
    if (rc)
        return rc;
    strata_tensor *in[2] = {c->inputs[0], c->inputs[1]}, *d, *sq;
    if ((rc = st_call1(c->rt, "core::sub", in, 2, NULL, 0, &d)))
        return rc;
    in[0] = d;
    in[1] = d;
    rc = st_call1(c->rt, "core::mul", in, 2, NULL, 0, &sq);
    strata_tensor_release(d);
    if (rc)
        return rc;
    if (r == RED_NONE) {
        c->outputs[0] = sq;
        return STRATA_OK;
    }
    rc = st_call1(c->rt, r == RED_MEAN ? "core::mean" : "core::sum", &sq, 1, NULL, 0, &c->outputs[0]);
    strata_tensor_release(sq);
    return rc;
}

static strata_status bw_bce(const strata_backward_call *c)
{
    strata_status rc = STRATA_OK;
    reduction r;
    if ((rc = get_reduction(c->op, c->attrs, c->n_attrs, &r)))
        return rc;
    if (c->needs_grad[0] && (rc = bw_op3(c, "core::bce_with_logits_backward", c->grad_outputs[0], c->inputs[0],
                                         c->inputs[1], c->attrs, c->n_attrs, &c->grad_inputs[0])))
        return rc;
    if (c->needs_grad[1]) {
        /* d/dt = -x * dy (/ numel for mean) */
        strata_tensor *nx, *t;
        if ((rc = bw_op1(c, "core::neg", c->inputs[0], NULL, 0, &nx)))
            return rc;
        rc = bw_op2(c, "core::mul", nx, c->grad_outputs[0], NULL, 0, &t);
        strata_tensor_release(nx);
        if (rc)
            return rc;
        double s = r == RED_MEAN ? 1.0 / (double)strata_tensor_numel(c->inputs[0]) : 1.0;
        rc = bw_scale(c, t, s, &c->grad_inputs[1]);
        strata_tensor_release(t);
    }
    return rc;
}

static const strata_op_def loss_ops[] = {
    ST_OP("cross_entropy", 2, 2, 1, 0, infer_cross_entropy, bw_cross_entropy, NULL,
          "softmax cross-entropy of logits (N, C) against integer labels (N)"),
    ST_OP("cross_entropy_backward", 3, 3, 1, STRATA_OP_NO_GRAD, infer_ce_backward, NULL, NULL,
          "gradient of cross_entropy w.r.t. the logits"),
    ST_OP("mse", 2, 2, 1, 0, infer_pairwise_loss, NULL, mse_composite, "mean squared error (composite)"),
    ST_OP("bce_with_logits", 2, 2, 1, 0, infer_pairwise_loss, bw_bce, NULL, "binary cross-entropy on logits"),
    ST_OP("bce_with_logits_backward", 3, 3, 1, STRATA_OP_NO_GRAD, infer_ce_backward, NULL, NULL,
          "gradient of bce_with_logits w.r.t. the logits"),
};

strata_status st_register_loss_ops(st_plugin *p)
{
    return ops_register_table(p, loss_ops, ST_ARRAY_LEN(loss_ops));
}
