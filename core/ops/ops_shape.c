/* ops_shape.c - views (reshape, permute, slice, expand), copy, concat, split. */
#include <stdint.h>

#include "ops_common.h"

static int is_contiguous(const strata_tensor_desc *d)
{
    if (strata_desc_numel(d) == 0)
        return 1;
    int64_t s = 1;
    for (int k = d->ndim - 1; k >= 0; k--) {
        if (d->shape[k] != 1 && d->strides[k] != s)
            return 0;
        s *= d->shape[k];
    }
    return 1;
}

static const strata_attr *need_ints(const strata_infer_call *c, const char *name)
{
    const strata_attr *a = strata_attr_find(c->attrs, c->n_attrs, name);
    if (!a || a->kind != STRATA_ATTR_INTS || a->n < 0 || a->n > STRATA_MAX_DIMS) {
        st_error(STRATA_E_INVALID, "%s: ints attribute '%s' (at most %d values) is required", c->op, name,
                 STRATA_MAX_DIMS);
        return NULL;
    }
    return a;
}

static strata_status infer_reshape(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    strata_tensor_desc *o = &c->outputs[0];
    const strata_attr *s = need_ints(c, "shape");
    if (!s)
        return STRATA_E_INVALID;
    int64_t numel = strata_desc_numel(x), known = 1;
    int infer_at = -1;
    for (int k = 0; k < s->n; k++) {
        if (s->ints[k] == -1 && infer_at < 0) {
            infer_at = k;
        } else if (s->ints[k] < 0) {
            return st_error(STRATA_E_INVALID, "%s: dimension %d of the target shape is %lld", c->op, k,
                            (long long)s->ints[k]);
        } else if (__builtin_mul_overflow(known, s->ints[k], &known)) {
            char a[128];
            return st_error(STRATA_E_SHAPE, "%s: the target shape %s has more elements than a tensor can hold",
                            c->op, st_shape_str(a, sizeof a, s->n, s->ints));
        }
    }
    o->ndim = s->n;
    memcpy(o->shape, s->ints, sizeof(int64_t) * (size_t)s->n);
    if (infer_at >= 0)
        o->shape[infer_at] = known ? numel / known : 0;
    if (strata_desc_numel(o) != numel) {
        char a[128], b[128];
        return st_error(STRATA_E_SHAPE, "%s: cannot reshape %s (%lld elements) to %s", c->op,
                        st_shape_str(a, sizeof a, x->ndim, x->shape), (long long)numel,
                        st_shape_str(b, sizeof b, s->n, s->ints));
    }
    if (!is_contiguous(x))
        return STRATA_E_UNSUPPORTED; /* the dispatcher copies, then retries */
    o->dtype = x->dtype;
    st_contiguous_strides(o->ndim, o->shape, o->strides);
    o->byte_offset = x->byte_offset;
    return STRATA_OK;
}

static strata_status bw_reshape(const strata_backward_call *c)
{
    strata_attr a = strata_attr_ints("shape", c->inputs[0]->shape, c->inputs[0]->ndim);
    return bw_op1(c, "core::reshape", c->grad_outputs[0], &a, 1, &c->grad_inputs[0]);
}

static strata_status infer_permute(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    strata_tensor_desc *o = &c->outputs[0];
    const strata_attr *d = need_ints(c, "dims");
    if (!d)
        return STRATA_E_INVALID;
    int seen[STRATA_MAX_DIMS] = {0};
    if (d->n != x->ndim)
        return st_error(STRATA_E_INVALID, "%s: dims has %d entries for a tensor of rank %d", c->op, d->n, x->ndim);
    for (int k = 0; k < d->n; k++) {
        int64_t a = d->ints[k] < 0 ? d->ints[k] + x->ndim : d->ints[k];
        if (a < 0 || a >= x->ndim || seen[a])
            return st_error(STRATA_E_INVALID, "%s: dims is not a permutation of 0..%d (entry %d = %lld)", c->op,
                            x->ndim - 1, k, (long long)d->ints[k]);
        seen[a] = 1;
        o->shape[k] = x->shape[a];
        o->strides[k] = x->strides[a];
    }
    o->ndim = x->ndim;
    o->dtype = x->dtype;
    o->byte_offset = x->byte_offset;
    return STRATA_OK;
}

static strata_status bw_permute(const strata_backward_call *c)
{
    const strata_attr *d = strata_attr_find(c->attrs, c->n_attrs, "dims");
    int64_t inv[STRATA_MAX_DIMS];
    int n = c->inputs[0]->ndim;
    for (int k = 0; k < n; k++) {
        int64_t a = d->ints[k] < 0 ? d->ints[k] + n : d->ints[k];
        inv[a] = k;
    }
    strata_attr a = strata_attr_ints("dims", inv, n);
    return bw_op1(c, "core::permute", c->grad_outputs[0], &a, 1, &c->grad_inputs[0]);
}

/* Python slice semantics, clamped; step > 0. */
static strata_status slice_params(const char *op, const strata_attr *attrs, int n_attrs, int ndim,
                                  const int64_t *shape, int *axis, int64_t *start, int64_t *len, int64_t *step)
{
    int64_t a = strata_attr_get_int(attrs, n_attrs, "axis", 0);
    int64_t r = a < 0 ? a + ndim : a;
    if (r < 0 || r >= ndim)
        return st_error(STRATA_E_INVALID, "%s: axis %lld is out of range for rank %d", op, (long long)a, ndim);
    int64_t dim = shape[r];
    int64_t s = strata_attr_get_int(attrs, n_attrs, "start", 0);
    int64_t e = strata_attr_get_int(attrs, n_attrs, "end", INT64_MAX);
    int64_t st = strata_attr_get_int(attrs, n_attrs, "step", 1);
    if (st <= 0)
        return st_error(STRATA_E_INVALID, "%s: step must be positive, got %lld", op, (long long)st);
    if (s < 0)
        s += dim;
    if (e < 0)
        e += dim;
    s = s < 0 ? 0 : s > dim ? dim : s;
    e = e < 0 ? 0 : e > dim ? dim : e;
    *axis = (int)r;
    *start = s;
    *step = st;
    *len = e > s ? (e - s - 1) / st + 1 : 0; /* ceil((e - s) / st) without overflow for a huge step */
    return STRATA_OK;
}

static strata_status infer_slice(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    strata_tensor_desc *o = &c->outputs[0];
    int axis;
    int64_t start, len, step;
    strata_status rc = slice_params(c->op, c->attrs, c->n_attrs, x->ndim, x->shape, &axis, &start, &len, &step);
    if (rc)
        return rc;
    *o = *x;
    o->shape[axis] = len;
    /* one element never steps: a huge step (x[1::2**63-1]) times the axis' stride overflowed */
    o->strides[axis] = len > 1 ? x->strides[axis] * step : x->strides[axis];
    o->byte_offset = x->byte_offset + (size_t)(start * x->strides[axis]) * strata_dtype_size(x->dtype);
    return STRATA_OK;
}

static strata_status bw_slice(const strata_backward_call *c)
{
    strata_tensor *x = c->inputs[0];
    int axis;
    int64_t start, len, step;
    strata_status rc = slice_params(c->op, c->attrs, c->n_attrs, x->ndim, x->shape, &axis, &start, &len, &step);
    if (rc)
        return rc;
    /* just past the last element taken: start + len * step overflowed for a huge step (x[1::2**63-1]) */
    const int64_t end = len ? start + (len - 1) * step + 1 : start;
    strata_attr a[5] = {strata_attr_ints("shape", x->shape, x->ndim), strata_attr_int("axis", axis),
                        strata_attr_int("start", start), strata_attr_int("end", end), strata_attr_int("step", step)};
    return bw_op1(c, "core::slice_backward", c->grad_outputs[0], a, 5, &c->grad_inputs[0]);
}

static strata_status infer_slice_backward(const strata_infer_call *c)
{
    const strata_attr *s = need_ints(c, "shape");
    if (!s)
        return STRATA_E_INVALID;
    c->outputs[0].dtype = STRATA_F32;
    c->outputs[0].ndim = s->n;
    memcpy(c->outputs[0].shape, s->ints, sizeof(int64_t) * (size_t)s->n);
    int axis;
    int64_t start, len, step;
    strata_status rc = slice_params(c->op, c->attrs, c->n_attrs, s->n, s->ints, &axis, &start, &len, &step);
    if (rc)
        return rc;
    const strata_tensor_desc *g = &c->inputs[0];
    int ok = g->ndim == s->n;
    for (int k = 0; ok && k < s->n; k++)
        ok = g->shape[k] == (k == axis ? len : s->ints[k]);
    if (!ok)
        return st_error(STRATA_E_SHAPE, "%s: gradient shape does not match the slice", c->op);
    return STRATA_OK;
}

static strata_status infer_expand(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    strata_tensor_desc *o = &c->outputs[0];
    const strata_attr *s = need_ints(c, "shape");
    if (!s)
        return STRATA_E_INVALID;
    if (s->n < x->ndim)
        return st_error(STRATA_E_SHAPE, "%s: target rank %d is below the input's rank %d", c->op, s->n, x->ndim);
    int lead = s->n - x->ndim;
    for (int k = 0; k < s->n; k++) {
        int64_t want = s->ints[k];
        if (k < lead) {
            if (want < 0)
                return st_error(STRATA_E_INVALID, "%s: new dimension %d cannot be -1", c->op, k);
            o->shape[k] = want;
            o->strides[k] = 0;
            continue;
        }
        int64_t have = x->shape[k - lead];
        if (want == -1 || want == have) {
            o->shape[k] = have;
            o->strides[k] = x->strides[k - lead];
        } else if (have == 1) {
            o->shape[k] = want;
            o->strides[k] = 0;
        } else {
            char a[128], b[128];
            return st_error(STRATA_E_SHAPE, "%s: cannot expand %s to %s (dimension %d)", c->op,
                            st_shape_str(a, sizeof a, x->ndim, x->shape), st_shape_str(b, sizeof b, s->n, s->ints), k);
        }
    }
    o->ndim = s->n;
    o->dtype = x->dtype;
    o->byte_offset = x->byte_offset;
    return STRATA_OK;
}

static strata_status bw_expand(const strata_backward_call *c)
{
    return bw_sum_to(c, c->grad_outputs[0], c->inputs[0], &c->grad_inputs[0]);
}

static strata_status bw_identity(const strata_backward_call *c)
{
    c->grad_inputs[0] = strata_tensor_retain(c->grad_outputs[0]);
    return STRATA_OK;
}

static strata_status infer_concat(const strata_infer_call *c)
{
    const strata_tensor_desc *x0 = &c->inputs[0];
    int axis;
    strata_status rc = norm_axis(c, strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0), x0->ndim, &axis);
    if (rc)
        return rc;
    int64_t total = 0;
    for (int k = 0; k < c->n_inputs; k++) {
        const strata_tensor_desc *x = &c->inputs[k];
        int ok = x->ndim == x0->ndim && x->dtype == x0->dtype;
        for (int d = 0; ok && d < x->ndim; d++)
            ok = d == axis || x->shape[d] == x0->shape[d];
        if (!ok) {
            char a[128], b[128]; /* a dtype apart is E_DTYPE, as everywhere else */
            return st_error(x->dtype != x0->dtype ? STRATA_E_DTYPE : STRATA_E_SHAPE,
                            "%s: input %d %s %s does not match input 0 %s %s except along axis %d",
                            c->op, k, strata_dtype_name(x->dtype), st_shape_str(a, sizeof a, x->ndim, x->shape),
                            strata_dtype_name(x0->dtype), st_shape_str(b, sizeof b, x0->ndim, x0->shape), axis);
        }
        total += x->shape[axis];
    }
    infer_same_as_input0(c);
    c->outputs[0].shape[axis] = total;
    return STRATA_OK;
}

static strata_status bw_concat(const strata_backward_call *c)
{
    int axis = (int)strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0);
    if (axis < 0)
        axis += c->inputs[0]->ndim;
    int64_t off = 0;
    for (int k = 0; k < c->n_inputs; k++) {
        int64_t len = c->inputs[k]->shape[axis];
        if (c->needs_grad[k]) {
            strata_attr a[3] = {strata_attr_int("axis", axis), strata_attr_int("start", off),
                                strata_attr_int("end", off + len)};
            strata_tensor *v;
            strata_status rc = bw_op1(c, "core::slice", c->grad_outputs[0], a, 3, &v);
            if (!rc) {
                rc = bw_op1(c, "core::copy", v, NULL, 0, &c->grad_inputs[k]);
                strata_tensor_release(v);
            }
            if (rc)
                return rc;
        }
        off += len;
    }
    return STRATA_OK;
}

static strata_status infer_split(const strata_infer_call *c)
{
    const strata_tensor_desc *x = &c->inputs[0];
    int axis;
    strata_status rc = norm_axis(c, strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0), x->ndim, &axis);
    if (rc)
        return rc;
    const strata_attr *s = strata_attr_find(c->attrs, c->n_attrs, "sizes");
    if (!s || s->kind != STRATA_ATTR_INTS || s->n != c->n_outputs)
        return st_error(STRATA_E_INVALID, "%s: ints attribute 'sizes' must list one size per output (%d)", c->op,
                        c->n_outputs);
    int64_t total = 0;
    for (int k = 0; k < s->n; k++) {
        if (s->ints[k] < 0)
            return st_error(STRATA_E_INVALID, "%s: size %d is %lld, negative", c->op, k, (long long)s->ints[k]);
        if (s->ints[k] > x->shape[axis] - total) /* also keeps the sum from wrapping */
            return st_error(STRATA_E_SHAPE, "%s: sizes add up to more than the %lld of axis %d (size %d is %lld)",
                            c->op, (long long)x->shape[axis], axis, k, (long long)s->ints[k]);
        total += s->ints[k];
    }
    if (total != x->shape[axis])
        return st_error(STRATA_E_SHAPE, "%s: sizes add up to %lld but axis %d has %lld", c->op, (long long)total,
                        axis, (long long)x->shape[axis]);
    infer_same_as_input0(c);
    for (int k = 0; k < c->n_outputs; k++)
        c->outputs[k].shape[axis] = s->ints[k];
    return STRATA_OK;
}

static strata_status split_composite(const strata_composite_call *c)
{
    int axis = (int)strata_attr_get_int(c->attrs, c->n_attrs, "axis", 0);
    const strata_attr *s = strata_attr_find(c->attrs, c->n_attrs, "sizes");
    int64_t off = 0;
    for (int k = 0; k < c->n_outputs; k++) {
        strata_attr a[3] = {strata_attr_int("axis", axis), strata_attr_int("start", off),
                            strata_attr_int("end", off + s->ints[k])};
        strata_status rc = st_call1(c->rt, "core::slice", &c->inputs[0], 1, a, 3, &c->outputs[k]);
        if (rc) {
            for (int j = 0; j < k; j++) {
                strata_tensor_release(c->outputs[j]);
                c->outputs[j] = NULL;
            }
            return rc;
        }
        off += s->ints[k];
    }
    return STRATA_OK;
}

static strata_status infer_copy(const strata_infer_call *c)
{
    return infer_same_as_input0(c);
}

static const strata_op_def shape_ops[] = {
    ST_OP_R("reshape", 1, 1, 1, STRATA_OP_VIEW | STRATA_OP_HALF, infer_reshape, bw_reshape, NULL, "view with a new shape", ST_UNREAD_ALL,
            ST_UNREAD_ALL),
    ST_OP_R("permute", 1, 1, 1, STRATA_OP_VIEW | STRATA_OP_HALF, infer_permute, bw_permute, NULL, "view with permuted axes",
            ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("slice", 1, 1, 1, STRATA_OP_VIEW | STRATA_OP_HALF, infer_slice, bw_slice, NULL, "view of a range along one axis",
            ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("expand", 1, 1, 1, STRATA_OP_VIEW | STRATA_OP_HALF, infer_expand, bw_expand, NULL, "broadcast view (stride 0)",
            ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("copy", 1, 1, 1, STRATA_OP_STRIDED | STRATA_OP_HALF, infer_copy, bw_identity, NULL, "contiguous copy of any view",
            ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP_R("concat", 1, -1, 1, 0, infer_concat, bw_concat, NULL, "join along an axis", ST_UNREAD_ALL, ST_UNREAD_ALL),
    ST_OP("split", 1, 1, -1, 0, infer_split, NULL, split_composite, "split along an axis (composite of slices)"),
    ST_OP("slice_backward", 1, 1, 1, STRATA_OP_NO_GRAD, infer_slice_backward, NULL, NULL, "gradient of slice"),
};

strata_status st_register_shape_ops(st_plugin *p)
{
    return ops_register_table(p, shape_ops, ST_ARRAY_LEN(shape_ops));
}
