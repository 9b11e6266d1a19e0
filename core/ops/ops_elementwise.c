/* ops_elementwise.c - unary and broadcasting binary ops. */
#include "ops_common.h"

static strata_status infer_unary(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    return rc ? rc : infer_same_as_input0(c);
}

static strata_status infer_pow(const strata_infer_call *c)
{
    if (!strata_attr_find(c->attrs, c->n_attrs, "exponent"))
        return st_error(STRATA_E_INVALID, "%s: attribute 'exponent' is required", c->op);
    return infer_unary(c);
}

static strata_status infer_binary(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (!rc)
        rc = need_float(c, 1);
    if (rc)
        return rc;
    int n;
    rc = broadcast_shapes(c->op, c->inputs[0].ndim, c->inputs[0].shape, c->inputs[1].ndim, c->inputs[1].shape, &n,
                          c->outputs[0].shape);
    c->outputs[0].ndim = n;
    c->outputs[0].dtype = STRATA_F32;
    return rc;
}

static strata_status infer_eltwise_backward(const strata_infer_call *c)
{
    const strata_attr *fn = strata_attr_find(c->attrs, c->n_attrs, "fn");
    if (!fn || fn->kind != STRATA_ATTR_STRING || !fn->s)
        return st_error(STRATA_E_INVALID, "%s: string attribute 'fn' is required", c->op);
    for (int k = 0; k < 3; k++) {
        strata_status rc = need_float(c, k);
        if (rc)
            return rc;
        if (c->inputs[k].ndim != c->inputs[0].ndim ||
            memcmp(c->inputs[k].shape, c->inputs[0].shape, sizeof(int64_t) * (size_t)c->inputs[0].ndim))
            return st_error(STRATA_E_SHAPE, "%s: inputs dy, x, y must have the same shape", c->op);
    }
    return infer_same_as_input0(c);
}

/* core::cast: x (f32, f16 or bf16) as attribute dtype (the same three) */
static int is_float_dtype(int64_t d)
{
    return d == STRATA_F32 || d == STRATA_F16 || d == STRATA_BF16;
}

static strata_status infer_cast(const strata_infer_call *c)
{
    const strata_attr *dt = strata_attr_find(c->attrs, c->n_attrs, "dtype");
    if (!dt || dt->kind != STRATA_ATTR_INT)
        return st_error(STRATA_E_INVALID, "%s: integer attribute 'dtype' is required (STRATA_F32 = 1, "
                                          "STRATA_F16 = 4, STRATA_BF16 = 5)", c->op);
    if (!is_float_dtype(dt->i))
        return st_error(STRATA_E_DTYPE, "%s: dtype %lld (%s) is not a float dtype (f32, f16 or bf16)", c->op,
                        (long long)dt->i, strata_dtype_name((int32_t)dt->i));
    if (!is_float_dtype(c->inputs[0].dtype))
        return st_error(STRATA_E_DTYPE, "%s: input 0 is %s, expected f32, f16 or bf16", c->op,
                        strata_dtype_name(c->inputs[0].dtype));
    strata_status rc = infer_same_as_input0(c);
    c->outputs[0].dtype = (int32_t)dt->i;
    return rc;
}

/* ---- backward ---------------------------------------------------------- */

static strata_status bw_add(const strata_backward_call *c)
{
    strata_tensor *g = c->grad_outputs[0];
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0])
        rc = bw_sum_to(c, g, c->inputs[0], &c->grad_inputs[0]);
    if (!rc && c->needs_grad[1])
        rc = bw_sum_to(c, g, c->inputs[1], &c->grad_inputs[1]);
    return rc;
}

static strata_status bw_sub(const strata_backward_call *c)
{
    strata_tensor *g = c->grad_outputs[0], *ng;
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0])
        rc = bw_sum_to(c, g, c->inputs[0], &c->grad_inputs[0]);
    if (!rc && c->needs_grad[1]) {
        rc = bw_op1(c, "core::neg", g, NULL, 0, &ng);
        if (!rc) {
            rc = bw_sum_to(c, ng, c->inputs[1], &c->grad_inputs[1]);
            strata_tensor_release(ng);
        }
    }
    return rc;
}

/* grad_inputs[k] = sum_to(op(g, other), inputs[k]) */
static strata_status grad_via(const strata_backward_call *c, int k, const char *op, strata_tensor *g,
                              strata_tensor *other)
{
    strata_tensor *t;
    strata_status rc = bw_op2(c, op, g, other, NULL, 0, &t);
    if (rc)
        return rc;
    rc = bw_sum_to(c, t, c->inputs[k], &c->grad_inputs[k]);
    strata_tensor_release(t);
    return rc;
}

static strata_status bw_mul(const strata_backward_call *c)
{
    strata_tensor *g = c->grad_outputs[0];
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0])
        rc = grad_via(c, 0, "core::mul", g, c->inputs[1]);
    if (!rc && c->needs_grad[1])
        rc = grad_via(c, 1, "core::mul", g, c->inputs[0]);
    return rc;
}

static strata_status bw_div(const strata_backward_call *c)
{
    /* y = a / b: da = g / b; db = -g * y / b */
    strata_tensor *g = c->grad_outputs[0];
    strata_status rc = STRATA_OK;
    if (c->needs_grad[0])
        rc = grad_via(c, 0, "core::div", g, c->inputs[1]);
    if (!rc && c->needs_grad[1]) {
        strata_tensor *gy, *ngy;
        rc = bw_op2(c, "core::mul", g, c->outputs[0], NULL, 0, &gy);
        if (rc)
            return rc;
        rc = bw_op1(c, "core::neg", gy, NULL, 0, &ngy);
        strata_tensor_release(gy);
        if (rc)
            return rc;
        rc = grad_via(c, 1, "core::div", ngy, c->inputs[1]);
        strata_tensor_release(ngy);
    }
    return rc;
}

static strata_status bw_neg(const strata_backward_call *c)
{
    return bw_op1(c, "core::neg", c->grad_outputs[0], NULL, 0, &c->grad_inputs[0]);
}

static strata_status bw_scale_op(const strata_backward_call *c)
{
    double alpha = strata_attr_get_float(c->attrs, c->n_attrs, "alpha", 1.0);
    return bw_scale(c, c->grad_outputs[0], alpha, &c->grad_inputs[0]);
}

/* The gradient of a cast is the output's gradient in the input's dtype
 * (rounding treated as the identity, as PyTorch's .to() does). Only f32
 * tensors carry gradients, so this runs for f32 to f32: a cast to f16 or
 * bf16 ends the graph there, as a detach does. */
static strata_status bw_cast(const strata_backward_call *c)
{
    const strata_attr a = strata_attr_int("dtype", c->host->tensor_dtype(c->inputs[0]));
    return bw_op1(c, "core::cast", c->grad_outputs[0], &a, 1, &c->grad_inputs[0]);
}

/* Every other unary op: dx = eltwise_backward(dy, x, y) with fn = its name. */
static strata_status bw_unary(const strata_backward_call *c)
{
    const char *name = c->op + 6; /* after "core::" */
    strata_attr a[3] = {strata_attr_string("fn", name),
                        strata_attr_float("alpha", strata_attr_get_float(c->attrs, c->n_attrs, "alpha", 0.01)),
                        strata_attr_float("exponent", strata_attr_get_float(c->attrs, c->n_attrs, "exponent", 1.0))};
    return bw_op3(c, "core::eltwise_backward", c->grad_outputs[0], c->inputs[0], c->outputs[0], a, 3,
                  &c->grad_inputs[0]);
}

#define UNARY(NAME, DOC) ST_OP(NAME, 1, 1, 1, 0, infer_unary, bw_unary, NULL, DOC)
#define BINARY(NAME, BW, DOC) ST_OP(NAME, 2, 2, 1, 0, infer_binary, BW, NULL, DOC)

static const strata_op_def elementwise_ops[] = {
    ST_OP_R("add", 2, 2, 1, 0, infer_binary, bw_add, NULL, "a + b with broadcasting", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("sub", 2, 2, 1, 0, infer_binary, bw_sub, NULL, "a - b with broadcasting", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("mul", 2, 2, 1, 0, infer_binary, bw_mul, NULL, "a * b with broadcasting", 0u, 1u),
    ST_OP_R("div", 2, 2, 1, 0, infer_binary, bw_div, NULL, "a / b with broadcasting", 1u, 0u),
    ST_OP_R("neg", 1, 1, 1, 0, infer_unary, bw_neg, NULL, "-x", ST_UNREAD_ALL, ST_UNREAD_ALL),
    UNARY("exp", "e^x"),
    UNARY("log", "natural logarithm"),
    UNARY("sqrt", "square root"),
    UNARY("abs", "|x|"),
    UNARY("relu", "max(x, 0)"),
    UNARY("leaky_relu", "x > 0 ? x : alpha x"),
    UNARY("sigmoid", "1 / (1 + e^-x)"),
    UNARY("tanh", "hyperbolic tangent"),
    UNARY("gelu", "x * Phi(x), exact erf form"),
    ST_OP("pow", 1, 1, 1, 0, infer_pow, bw_unary, NULL, "x ^ exponent"),
    ST_OP_R("scale", 1, 1, 1, 0, infer_unary, bw_scale_op, NULL, "alpha x + beta", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("cast", 1, 1, 1, STRATA_OP_HALF, infer_cast, bw_cast, NULL,
            "x converted to dtype (f32, f16, bf16): rounded to nearest even", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP("eltwise_backward", 3, 3, 1, STRATA_OP_NO_GRAD, infer_eltwise_backward, NULL, NULL,
          "dx = dy * f'(x) for the unary op named by fn"),
};

strata_status st_register_elementwise_ops(st_plugin *p)
{
    return ops_register_table(p, elementwise_ops, ST_ARRAY_LEN(elementwise_ops));
}
