/*
 * ref_softmax.c - softmax and log_softmax along one axis, and their
 * gradients. A tensor is seen as (outer, n, inner) around the axis; each
 * (outer, inner) pair is one row of n elements, at stride inner.
 */
#include <math.h>

#include "ref_internal.h"

/* Shared prologue: arity, f32, attr axis (-1), same numel everywhere. */
static strata_status ref_softmax_setup(const strata_kernel_call *call, int n_in, ref_axis_split *sp)
{
    strata_status s = kc_check_f32_call(call, n_in, n_in, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[n_in - 1];
    int axis = 0;
    s = kc_axis(call, "axis", strata_attr_get_int(call->attrs, call->n_attrs, "axis", -1), X->ndim, &axis);
    for (int k = 0; s == STRATA_OK && k < n_in - 1; k++)
        s = kc_check_same_shape(call, &call->inputs[k], k ? "input" : "dy", X, "y");
    if (s == STRATA_OK)
        s = kc_check_same_shape(call, &call->outputs[0], "output", X, "input");
    if (s == STRATA_OK)
        *sp = ref_split_at(X, axis);
    return s;
}

/* y = softmax(x) or log_softmax(x) along axis; x, y (outer, n, inner). */
static strata_status ref_softmax_forward(const strata_kernel_call *call, int log_space)
{
    ref_axis_split sp = {0, 0, 0};
    strata_status s = ref_softmax_setup(call, 1, &sp);
    if (s != STRATA_OK)
        return s;
    float *y = strata_desc_ptr(&call->outputs[0]);      // (outer, n, inner)
    const float *x = strata_desc_ptr(&call->inputs[0]); // (outer, n, inner)
    int64_t n = sp.n, inner = sp.inner;

    for (int64_t o = 0; o < sp.outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * n * inner + i;
            float *yr = y + o * n * inner + i;
            double m = -INFINITY; /* subtract the max: exp never overflows */
            for (int64_t j = 0; j < n; j++)
                if (xr[j * inner] > m)
                    m = xr[j * inner];
            double denom = 0.0;
            for (int64_t j = 0; j < n; j++)
                denom += exp(xr[j * inner] - m);
            double log_denom = log(denom);
            for (int64_t j = 0; j < n; j++) {
                double z = xr[j * inner] - m;
                yr[j * inner] = (float)(log_space ? z - log_denom : exp(z) / denom);
            }
        }
    }
    return STRATA_OK;
}

REF_KERNEL(softmax) { return ref_softmax_forward(call, 0); }
REF_KERNEL(log_softmax) { return ref_softmax_forward(call, 1); }

/*
 * softmax:     dx = y * (dy - sum_j(dy * y))
 * log_softmax: dx = dy - exp(y) * sum_j(dy)
 * dy, y, dx: (outer, n, inner); sums run along the axis.
 */
static strata_status ref_softmax_backward_impl(const strata_kernel_call *call, int log_space)
{
    ref_axis_split sp = {0, 0, 0};
    strata_status s = ref_softmax_setup(call, 2, &sp);
    if (s != STRATA_OK)
        return s;
    float *dx = strata_desc_ptr(&call->outputs[0]);      // (outer, n, inner)
    const float *dy = strata_desc_ptr(&call->inputs[0]); // (outer, n, inner)
    const float *y = strata_desc_ptr(&call->inputs[1]);  // (outer, n, inner)
    int64_t n = sp.n, inner = sp.inner;

    for (int64_t o = 0; o < sp.outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double dot = 0.0;
            for (int64_t j = 0; j < n; j++) {
                int64_t k = base + j * inner;
                dot += log_space ? (double)dy[k] : (double)dy[k] * y[k];
            }
            for (int64_t j = 0; j < n; j++) {
                int64_t k = base + j * inner;
                dx[k] = (float)(log_space ? dy[k] - exp(y[k]) * dot : y[k] * (dy[k] - dot));
            }
        }
    }
    return STRATA_OK;
}

REF_KERNEL(softmax_backward) { return ref_softmax_backward_impl(call, 0); }
REF_KERNEL(log_softmax_backward) { return ref_softmax_backward_impl(call, 1); }
