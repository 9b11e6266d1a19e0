/* ops_common.c - shared pieces of the core op definitions. */
#include <stdio.h>

#include "ops_common.h"

strata_status ops_register_table(st_plugin *p, const strata_op_def *defs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const st_op_attrs *spec = st_core_op_attrs(defs[k].name);
        if (!spec) /* op_attrs.c lists every core op */
            return st_error(STRATA_E_INTERNAL, "%s has no entry in core/ops/op_attrs.c", defs[k].name);
        strata_status rc = st_register_op(p, &defs[k]);
        if (rc)
            return rc;
        st_find_op(p->handle.rt, defs[k].name, defs[k].version)->attr_spec = spec;
    }
    return STRATA_OK;
}

strata_status infer_same_as_input0(const strata_infer_call *c)
{
    for (int k = 0; k < c->n_outputs; k++) {
        c->outputs[k].dtype = c->inputs[0].dtype;
        c->outputs[k].ndim = c->inputs[0].ndim;
        memcpy(c->outputs[k].shape, c->inputs[0].shape, sizeof c->inputs[0].shape);
    }
    return STRATA_OK;
}

strata_status need_dtype(const strata_infer_call *c, int input, int dtype)
{
    if (c->inputs[input].dtype != dtype)
        return st_error(STRATA_E_DTYPE, "%s: input %d is %s, expected %s", c->op, input,
                        strata_dtype_name(c->inputs[input].dtype), strata_dtype_name(dtype));
    return STRATA_OK;
}

strata_status need_float(const strata_infer_call *c, int input)
{
    return need_dtype(c, input, STRATA_F32);
}

strata_status need_index(const strata_infer_call *c, int input)
{
    int d = c->inputs[input].dtype;
    if (d != STRATA_I32 && d != STRATA_I64)
        return st_error(STRATA_E_DTYPE, "%s: input %d (indices) is %s, expected i32 or i64", c->op, input,
                        strata_dtype_name(d));
    return STRATA_OK;
}

strata_status norm_axis(const strata_infer_call *c, int64_t a, int ndim, int *out)
{
    int64_t r = a < 0 ? a + ndim : a;
    if (r < 0 || r >= (ndim ? ndim : 1))
        return st_error(STRATA_E_INVALID, "%s: axis %lld is out of range for a tensor of rank %d", c->op,
                        (long long)a, ndim);
    *out = (int)r;
    return STRATA_OK;
}

strata_status reduce_shape(const char *op, const strata_attr *attrs, int n_attrs, int ndim, const int64_t *shape,
                           int *mask, int *out_ndim, int64_t *out_shape)
{
    const strata_attr *ax = strata_attr_find(attrs, n_attrs, "axes");
    int keep = (int)strata_attr_get_int(attrs, n_attrs, "keepdim", 0);
    for (int k = 0; k < STRATA_MAX_DIMS; k++)
        mask[k] = 0;
    if (!ax || ax->n == 0 || (ax->kind != STRATA_ATTR_INTS && ax->kind != STRATA_ATTR_INT)) {
        for (int k = 0; k < ndim; k++)
            mask[k] = 1;
    } else {
        int n = ax->kind == STRATA_ATTR_INT ? 1 : ax->n;
        for (int j = 0; j < n; j++) {
            int64_t a = ax->kind == STRATA_ATTR_INT ? ax->i : ax->ints[j];
            int64_t r = a < 0 ? a + ndim : a;
            if (r < 0 || r >= ndim)
                return st_error(STRATA_E_INVALID, "%s: axis %lld is out of range for a tensor of rank %d", op,
                                (long long)a, ndim);
            if (mask[r])
                return st_error(STRATA_E_INVALID, "%s: axis %lld is listed twice", op, (long long)a);
            mask[r] = 1;
        }
    }
    int o = 0;
    for (int k = 0; k < ndim; k++) {
        if (!mask[k])
            out_shape[o++] = shape[k];
        else if (keep)
            out_shape[o++] = 1;
    }
    *out_ndim = o;
    return STRATA_OK;
}

strata_status broadcast_shapes(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                               int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int k = 0; k < n; k++) {
        int ia = na - n + k, ib = nb - n + k;
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[128], sb[128];
            return st_error(STRATA_E_SHAPE, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)", op,
                            st_shape_str(sa, sizeof sa, na, a), st_shape_str(sb, sizeof sb, nb, b), k,
                            (long long)da, (long long)db);
        }
        out[k] = da == 1 ? db : da;
    }
    *nout = n;
    return STRATA_OK;
}

strata_status bw_op1(const strata_backward_call *c, const char *op, strata_tensor *a, const strata_attr *attrs,
                     int n_attrs, strata_tensor **out)
{
    return st_call1(c->rt, op, &a, 1, attrs, n_attrs, out);
}

strata_status bw_op2(const strata_backward_call *c, const char *op, strata_tensor *a, strata_tensor *b,
                     const strata_attr *attrs, int n_attrs, strata_tensor **out)
{
    strata_tensor *in[2] = {a, b};
    return st_call1(c->rt, op, in, 2, attrs, n_attrs, out);
}

strata_status bw_op3(const strata_backward_call *c, const char *op, strata_tensor *a, strata_tensor *b,
                     strata_tensor *d, const strata_attr *attrs, int n_attrs, strata_tensor **out)
{
    strata_tensor *in[3] = {a, b, d};
    return st_call1(c->rt, op, in, 3, attrs, n_attrs, out);
}

static int same_shape(const strata_tensor *a, const strata_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim);
}

strata_status bw_sum_to(const strata_backward_call *c, strata_tensor *g, const strata_tensor *like,
                        strata_tensor **out)
{
    if (same_shape(g, like)) {
        *out = strata_tensor_retain(g);
        return STRATA_OK;
    }
    strata_attr a = strata_attr_ints("shape", like->shape, like->ndim);
    return bw_op1(c, "core::sum_to_shape", g, &a, 1, out);
}

strata_status bw_expand_to(const strata_backward_call *c, strata_tensor *g, const strata_tensor *like,
                           strata_tensor **out)
{
    if (same_shape(g, like)) {
        *out = strata_tensor_retain(g);
        return STRATA_OK;
    }
    strata_attr a = strata_attr_ints("shape", like->shape, like->ndim);
    strata_tensor *e;
    strata_status rc = bw_op1(c, "core::expand", g, &a, 1, &e);
    if (rc)
        return rc;
    rc = bw_op1(c, "core::copy", e, NULL, 0, out);
    strata_tensor_release(e);
    return rc;
}

strata_status bw_scale(const strata_backward_call *c, strata_tensor *g, double alpha, strata_tensor **out)
{
    strata_attr a = strata_attr_float("alpha", alpha);
    return bw_op1(c, "core::scale", g, &a, 1, out);
}
