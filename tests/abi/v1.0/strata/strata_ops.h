/*
 * strata_ops.h - header-only shorthands for the core ops (docs/ops.md).
 *
 * Each wraps strata_op_call(); none adds ABI surface. They return a
 * strata_status and store a new reference in *out.
 */
#ifndef STRATA_OPS_H
#define STRATA_OPS_H

#include "strata.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline strata_status strata_binary_(strata_runtime *rt, const char *op, strata_tensor *a, strata_tensor *b,
                                           strata_tensor **out)
{
    strata_tensor *in[2] = {a, b};
    return strata_op_call(rt, op, in, 2, NULL, 0, out, 1);
}
static inline strata_status strata_unary_(strata_runtime *rt, const char *op, strata_tensor *x, strata_tensor **out)
{
    return strata_op_call(rt, op, &x, 1, NULL, 0, out, 1);
}

static inline strata_status strata_add(strata_runtime *rt, strata_tensor *a, strata_tensor *b, strata_tensor **out)
{
    return strata_binary_(rt, "core::add", a, b, out);
}
static inline strata_status strata_sub(strata_runtime *rt, strata_tensor *a, strata_tensor *b, strata_tensor **out)
{
    return strata_binary_(rt, "core::sub", a, b, out);
}
static inline strata_status strata_mul(strata_runtime *rt, strata_tensor *a, strata_tensor *b, strata_tensor **out)
{
    return strata_binary_(rt, "core::mul", a, b, out);
}
static inline strata_status strata_div(strata_runtime *rt, strata_tensor *a, strata_tensor *b, strata_tensor **out)
{
    return strata_binary_(rt, "core::div", a, b, out);
}
static inline strata_status strata_relu(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::relu", x, out);
}
static inline strata_status strata_tanh(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::tanh", x, out);
}
static inline strata_status strata_sigmoid(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::sigmoid", x, out);
}
static inline strata_status strata_exp(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::exp", x, out);
}
/** y = x @ w^T + b (b may be NULL). */
static inline strata_status strata_linear(strata_runtime *rt, strata_tensor *x, strata_tensor *w, strata_tensor *b,
                                          strata_tensor **out)
{
    strata_tensor *in[3] = {x, w, b};
    return strata_op_call(rt, "core::linear", in, b ? 3 : 2, NULL, 0, out, 1);
}
static inline strata_status strata_matmul(strata_runtime *rt, strata_tensor *a, strata_tensor *b, int trans_a,
                                          int trans_b, strata_tensor **out)
{
    strata_tensor *in[2] = {a, b};
    strata_attr at[2] = {strata_attr_int("trans_a", trans_a), strata_attr_int("trans_b", trans_b)};
    return strata_op_call(rt, "core::matmul", in, 2, at, 2, out, 1);
}
/** Sum over all elements (0-d result). */
static inline strata_status strata_sum_all(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::sum", x, out);
}
static inline strata_status strata_mean_all(strata_runtime *rt, strata_tensor *x, strata_tensor **out)
{
    return strata_unary_(rt, "core::mean", x, out);
}
static inline strata_status strata_reshape(strata_runtime *rt, strata_tensor *x, int ndim, const int64_t *shape,
                                           strata_tensor **out)
{
    strata_attr a = strata_attr_ints("shape", shape, ndim);
    return strata_op_call(rt, "core::reshape", &x, 1, &a, 1, out, 1);
}
static inline strata_status strata_permute(strata_runtime *rt, strata_tensor *x, int ndim, const int64_t *dims,
                                           strata_tensor **out)
{
    strata_attr a = strata_attr_ints("dims", dims, ndim);
    return strata_op_call(rt, "core::permute", &x, 1, &a, 1, out, 1);
}
/** Mean cross-entropy of logits (N, C) against integer labels (N). */
static inline strata_status strata_cross_entropy(strata_runtime *rt, strata_tensor *logits, strata_tensor *labels,
                                                 strata_tensor **out)
{
    return strata_binary_(rt, "core::cross_entropy", logits, labels, out);
}

#ifdef __cplusplus
}
#endif
#endif /* STRATA_OPS_H */
