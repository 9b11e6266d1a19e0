/* ops_linalg.c - matmul and linear. */
#include "ops_common.h"

static strata_status infer_matmul(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (!rc)
        rc = need_float(c, 1);
    if (rc)
        return rc;
    const strata_tensor_desc *a = &c->inputs[0], *b = &c->inputs[1];
    if (a->ndim < 2 || b->ndim < 2)
        return st_error(STRATA_E_SHAPE, "%s: both operands need at least 2 dimensions (got ranks %d and %d)", c->op,
                        a->ndim, b->ndim);
    int ta = (int)strata_attr_get_int(c->attrs, c->n_attrs, "trans_a", 0);
    int tb = (int)strata_attr_get_int(c->attrs, c->n_attrs, "trans_b", 0);
    int64_t M = ta ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int64_t Ka = ta ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int64_t Kb = tb ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    int64_t N = tb ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    if (Ka != Kb) {
        char sa[128], sb[128];
        return st_error(STRATA_E_SHAPE, "%s: inner dimensions differ: a %s%s has K=%lld, b %s%s has K=%lld", c->op,
                        st_shape_str(sa, sizeof sa, a->ndim, a->shape), ta ? " (transposed)" : "", (long long)Ka,
                        st_shape_str(sb, sizeof sb, b->ndim, b->shape), tb ? " (transposed)" : "", (long long)Kb);
    }
    int nb;
    int64_t batch[STRATA_MAX_DIMS];
    rc = broadcast_shapes(c->op, a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nb, batch);
    if (rc)
        return rc;
    if (nb + 2 > STRATA_MAX_DIMS)
        return st_error(STRATA_E_SHAPE, "%s: result rank exceeds %d", c->op, STRATA_MAX_DIMS);
    strata_tensor_desc *o = &c->outputs[0];
    o->dtype = STRATA_F32;
    o->ndim = nb + 2;
    memcpy(o->shape, batch, sizeof(int64_t) * (size_t)nb);
    o->shape[nb] = M;
    o->shape[nb + 1] = N;
    return STRATA_OK;
}

static strata_status mm(const strata_backward_call *c, strata_tensor *a, strata_tensor *b, int ta, int tb,
                        strata_tensor **out)
{
    strata_attr at[2] = {strata_attr_int("trans_a", ta), strata_attr_int("trans_b", tb)};
    return bw_op2(c, "core::matmul", a, b, at, 2, out);
}

static strata_status bw_matmul(const strata_backward_call *c)
{
    /* C = op(A) op(B); dA' = dC op(B)^T, dB' = op(A)^T dC, transposed back
     * where A or B was stored transposed. */
    int ta = (int)strata_attr_get_int(c->attrs, c->n_attrs, "trans_a", 0);
    int tb = (int)strata_attr_get_int(c->attrs, c->n_attrs, "trans_b", 0);
    strata_tensor *A = c->inputs[0], *B = c->inputs[1], *g = c->grad_outputs[0], *t;
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0]) {
        if (!ta)
            rc = mm(c, g, B, 0, !tb, &t);
        else
            rc = mm(c, B, g, tb, 1, &t);
        if (rc)
            return rc;
        rc = bw_sum_to(c, t, A, &c->grad_inputs[0]);
        strata_tensor_release(t);
        if (rc)
            return rc;
    }
    if (c->needs_grad[1]) {
        if (!tb)
            rc = mm(c, A, g, !ta, 0, &t);
        else
            rc = mm(c, g, A, 1, ta, &t);
        if (rc)
            return rc;
        rc = bw_sum_to(c, t, B, &c->grad_inputs[1]);
        strata_tensor_release(t);
    }
    return rc;
}

static strata_status infer_linear(const strata_infer_call *c)
{
    for (int k = 0; k < c->n_inputs; k++) {
        strata_status rc = need_float(c, k);
        if (rc)
            return rc;
    }
    const strata_tensor_desc *x = &c->inputs[0], *w = &c->inputs[1];
    char sx[128], sw[128];
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1])
        return st_error(STRATA_E_SHAPE, "%s: input %s does not match weight %s (expected (..., %lld))", c->op,
                        st_shape_str(sx, sizeof sx, x->ndim, x->shape), st_shape_str(sw, sizeof sw, w->ndim, w->shape),
                        w->ndim == 2 ? (long long)w->shape[1] : -1LL);
    if (c->n_inputs == 3 && (c->inputs[2].ndim != 1 || c->inputs[2].shape[0] != w->shape[0]))
        return st_error(STRATA_E_SHAPE, "%s: bias %s does not match weight %s", c->op,
                        st_shape_str(sx, sizeof sx, c->inputs[2].ndim, c->inputs[2].shape),
                        st_shape_str(sw, sizeof sw, w->ndim, w->shape));
    strata_tensor_desc *o = &c->outputs[0];
    o->dtype = STRATA_F32;
    o->ndim = x->ndim;
    memcpy(o->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    o->shape[x->ndim - 1] = w->shape[0];
    return STRATA_OK;
}

static strata_status bw_linear(const strata_backward_call *c)
{
    /* With the leading dims flattened (any rank, including a 1-D x):
     * g2 (rows, OUT), x2 (rows, IN): dX = g2 W, dW = g2^T x2, db = sum g2. */
    strata_tensor *x = c->inputs[0], *w = c->inputs[1], *g = c->grad_outputs[0];
    int64_t out_f = w->shape[0], in_f = w->shape[1];
    int64_t rows = 1; /* the leading dimensions' product (numel / in_f is 0 with no input features) */
    for (int k = 0; k + 1 < x->ndim; k++)
        rows *= x->shape[k];
    int64_t gs[2] = {rows, out_f}, xs[2] = {rows, in_f};
    strata_attr ga = strata_attr_ints("shape", gs, 2), xa = strata_attr_ints("shape", xs, 2);
    strata_tensor *g2 = NULL, *x2 = NULL, *dx2 = NULL;
    strata_status rc = bw_op1(c, "core::reshape", g, &ga, 1, &g2);
    if (!rc && c->needs_grad[0]) {
        rc = mm(c, g2, w, 0, 0, &dx2);
        strata_attr sa = strata_attr_ints("shape", x->shape, x->ndim);
        if (!rc)
            rc = bw_op1(c, "core::reshape", dx2, &sa, 1, &c->grad_inputs[0]);
    }
    if (!rc && c->needs_grad[1]) {
        rc = bw_op1(c, "core::reshape", x, &xa, 1, &x2);
        if (!rc)
            rc = mm(c, g2, x2, 1, 0, &c->grad_inputs[1]);
    }
    if (!rc && c->n_inputs == 3 && c->needs_grad[2])
        rc = bw_sum_to(c, g2, c->inputs[2], &c->grad_inputs[2]);
    strata_tensor_release(g2);
    strata_tensor_release(x2);
    strata_tensor_release(dx2);
    return rc;
}

static const strata_op_def linalg_ops[] = {
    ST_OP_R("matmul", 2, 2, 1, 0, infer_matmul, bw_matmul, NULL, "batched matrix product with optional transposes", 0u,
            1u),
    ST_OP_R("linear", 2, 3, 1, 0, infer_linear, bw_linear, NULL, "x w^T + b", 1u << 2, 1u),
};

strata_status st_register_linalg_ops(st_plugin *p)
{
    return ops_register_table(p, linalg_ops, ST_ARRAY_LEN(linalg_ops));
}
