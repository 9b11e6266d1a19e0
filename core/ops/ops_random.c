/* ops_random.c - fill, uniform, normal, dropout. */
#include "ops_common.h"

static strata_status infer_created(const strata_infer_call *c)
{
    const strata_attr *s = strata_attr_find(c->attrs, c->n_attrs, "shape");
    if (!s || s->kind != STRATA_ATTR_INTS || s->n < 0 || s->n > STRATA_MAX_DIMS)
        return st_error(STRATA_E_INVALID, "%s: ints attribute 'shape' is required", c->op);
    int64_t dtype = strata_attr_get_int(c->attrs, c->n_attrs, "dtype", STRATA_F32);
    if (dtype != STRATA_F32 && dtype != STRATA_I32 && dtype != STRATA_I64)
        return st_error(STRATA_E_DTYPE, "%s: dtype %lld is not f32, i32 or i64", c->op, (long long)dtype);
    if (dtype != STRATA_F32 && strcmp(c->op, "core::fill") != 0)
        return st_error(STRATA_E_DTYPE, "%s: random tensors are f32", c->op);
    if (dtype != STRATA_F32) { /* as torch.full: an integer tensor holds the value or it is an error */
        double v = strata_attr_get_float(c->attrs, c->n_attrs, "value", 0.0);
        int fits = dtype == STRATA_I32 ? v > -2147483649.0 && v < 2147483648.0
                                       : v >= -9223372036854775808.0 && v < 9223372036854775808.0;
        if (!fits) /* NaN included */
            return st_error(STRATA_E_INVALID, "%s: value %g does not fit in %s", c->op, v,
                            strata_dtype_name((strata_dtype)dtype));
    }
    c->outputs[0].dtype = (int32_t)dtype;
    c->outputs[0].ndim = s->n;
    memcpy(c->outputs[0].shape, s->ints, sizeof(int64_t) * (size_t)s->n);
    return STRATA_OK;
}

/* as torch's uniform_ and normal_: a range that is one, a spread that is not negative */
static strata_status infer_uniform(const strata_infer_call *c)
{
    double lo = strata_attr_get_float(c->attrs, c->n_attrs, "low", 0.0),
           hi = strata_attr_get_float(c->attrs, c->n_attrs, "high", 1.0);
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return st_error(STRATA_E_INVALID, "%s: low must be at most high, both finite; got low %g, high %g", c->op, lo,
                        hi);
    return infer_created(c);
}

static strata_status infer_normal(const strata_infer_call *c)
{
    double mean = strata_attr_get_float(c->attrs, c->n_attrs, "mean", 0.0),
           sd = strata_attr_get_float(c->attrs, c->n_attrs, "std", 1.0);
    if (!(sd >= 0.0) || !isfinite(sd) || !isfinite(mean))
        return st_error(STRATA_E_INVALID, "%s: std must be >= 0 and mean and std finite; got mean %g, std %g", c->op,
                        mean, sd);
    return infer_created(c);
}

static strata_status infer_dropout(const strata_infer_call *c)
{
    strata_status rc = need_float(c, 0);
    if (rc)
        return rc;
    double p = strata_attr_get_float(c->attrs, c->n_attrs, "p", 0.5);
    if (!(p >= 0.0 && p < 1.0))
        return st_error(STRATA_E_INVALID, "%s: p must be in [0, 1), got %g", c->op, p);
    return infer_same_as_input0(c);
}

static strata_status bw_dropout(const strata_backward_call *c)
{
    return bw_op2(c, "core::mul", c->grad_outputs[0], c->outputs[1], NULL, 0, &c->grad_inputs[0]);
}

static const strata_op_def random_ops[] = {
    ST_OP("fill", 0, 0, 1, STRATA_OP_NO_GRAD, infer_created, NULL, NULL, "constant tensor"),
    ST_OP("uniform", 0, 0, 1, STRATA_OP_NO_GRAD | STRATA_OP_RANDOM, infer_uniform, NULL, NULL, "U(low, high), Philox"),
    ST_OP("normal", 0, 0, 1, STRATA_OP_NO_GRAD | STRATA_OP_RANDOM, infer_normal, NULL, NULL, "N(mean, std^2), Philox"),
    ST_OP_R("dropout", 1, 1, 2, STRATA_OP_RANDOM, infer_dropout, bw_dropout, NULL,
            "inverted dropout; outputs y and mask", 1u, 1u),
};

strata_status st_register_random_ops(st_plugin *p)
{
    return ops_register_table(p, random_ops, ST_ARRAY_LEN(random_ops));
}
