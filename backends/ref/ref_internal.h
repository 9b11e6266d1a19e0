/*
 * ref_internal.h - private pieces shared by the files of the ref backend.
 *
 * The ref backend is the oracle every other backend is checked against:
 * plain loops over host memory, sums and dot products accumulated in
 * double, every kernel written so the math is visible. Nothing here is
 * fast on purpose.
 *
 * Kernels follow one order: check arity and dtypes, read attributes, check
 * the shapes the core inferred, then the loops (outputs, inputs, sizes).
 */
#ifndef REF_INTERNAL_H
#define REF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "strata/strata_backend.h"

/* Errors, the checks of a call and its attributes: kc_* of kcall.h
 * (backends/common), shared with the other backends. */
#include "kcall.h"

/** Element @p i of an i32 or i64 tensor (dtype checked beforehand). */
static inline int64_t ref_index_at(const strata_tensor_desc *d, int64_t i)
{
    const void *p = strata_desc_ptr(d);
    return d->dtype == STRATA_I32 ? (int64_t)((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

/* ---- walking tensors (ref_common.c) ------------------------------------- */

/** Row-major strides of a contiguous tensor. */
void ref_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);

/**
 * Strides that read a tensor of (ndim, shape, src_strides) as if broadcast
 * to (out_ndim, out_shape): dims are right-aligned; a dim of size 1 or a
 * missing leading dim reads with stride 0. src_strides NULL means
 * contiguous. Returns 0 when the shapes do not broadcast.
 */
int ref_broadcast_strides(int out_ndim, const int64_t *out_shape, int ndim, const int64_t *shape,
                          const int64_t *src_strides, int64_t *strides);

/** NumPy broadcast of two shapes into (out_ndim, out_shape); 0 if they do not. */
int ref_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *out_ndim, int64_t *out_shape);

#define REF_WALK_MAX_OPS 3

/**
 * Walks the elements of a shape in row-major order, keeping one element
 * offset per operand (each with its own strides, possibly 0 or negative).
 *
 *   ref_walk w;
 *   ref_walk_init(&w, ndim, shape, 2);  then fill w.stride[0], w.stride[1]
 *   for (int64_t i = 0; i < n; i++, ref_walk_next(&w))
 *       y[i] = a[w.off[0]] + b[w.off[1]];
 */
typedef struct ref_walk {
    int ndim;
    int n_ops;
    int64_t shape[STRATA_MAX_DIMS];
    int64_t stride[REF_WALK_MAX_OPS][STRATA_MAX_DIMS];
    int64_t idx[STRATA_MAX_DIMS];
    int64_t off[REF_WALK_MAX_OPS];
} ref_walk;

/** Zeroes strides, index and offsets. */
void ref_walk_init(ref_walk *w, int ndim, const int64_t *shape, int n_ops);
/** Moves to the next element (a no-op past the last one's wrap). */
void ref_walk_next(ref_walk *w);

/**
 * A reduction of a contiguous tensor x over a set of dims, split into the
 * kept dims (one group per output element, row-major: the output layout with
 * or without keepdim) and the reduced dims (the elements of one group,
 * row-major).
 *
 *   ref_walk kept = r.kept;
 *   for (int64_t o = 0; o < r.n_out; o++, ref_walk_next(&kept)) {
 *       ref_walk red = r.red;
 *       for (int64_t j = 0; j < r.n_red; j++, ref_walk_next(&red))
 *           ... x[kept.off[0] + red.off[0]] ...
 *   }
 */
typedef struct ref_reduction {
    int64_t n_out; /* groups = elements of the output */
    int64_t n_red; /* elements per group */
    ref_walk kept; /* off[0]: x offset of a group's first element */
    ref_walk red;  /* off[0]: x offset within a group */
} ref_reduction;

/** Plans the reduction of @p x over the dims with mask[d] set. */
void ref_reduction_init(ref_reduction *r, const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS]);

/** A contiguous tensor seen as (outer, n, inner) around one axis. */
typedef struct ref_axis_split {
    int64_t outer, n, inner;
} ref_axis_split;

ref_axis_split ref_split_at(const strata_tensor_desc *x, int axis);

/* ---- small math ---------------------------------------------------------- */

/** max() order with NaN winning: 1 if v should replace best (first max kept). */
static inline int ref_beats(double v, double best)
{
    return v > best || (v != v && best == best);
}

/** Numerically stable logistic function. */
static inline double ref_logistic(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* ---- kernels (one declaration per registered op) ------------------------- */

#define REF_KERNEL(name) strata_status ref_##name(const strata_kernel_call *call)

/* ref_elementwise.c */
REF_KERNEL(add);
REF_KERNEL(sub);
REF_KERNEL(mul);
REF_KERNEL(div);
REF_KERNEL(neg);
REF_KERNEL(cast);
REF_KERNEL(exp);
REF_KERNEL(log);
REF_KERNEL(sqrt);
REF_KERNEL(abs);
REF_KERNEL(relu);
REF_KERNEL(leaky_relu);
REF_KERNEL(sigmoid);
REF_KERNEL(tanh);
REF_KERNEL(gelu);
REF_KERNEL(pow);
REF_KERNEL(scale);
REF_KERNEL(eltwise_backward);
/* ref_matmul.c */
REF_KERNEL(matmul);
REF_KERNEL(linear);
/* ref_reduce.c */
REF_KERNEL(sum);
REF_KERNEL(mean);
REF_KERNEL(max);
REF_KERNEL(argmax);
REF_KERNEL(max_backward);
REF_KERNEL(sum_to_shape);
/* ref_softmax.c */
REF_KERNEL(softmax);
REF_KERNEL(log_softmax);
REF_KERNEL(softmax_backward);
REF_KERNEL(log_softmax_backward);
/* ref_loss.c */
REF_KERNEL(cross_entropy);
REF_KERNEL(cross_entropy_backward);
REF_KERNEL(bce_with_logits);
REF_KERNEL(bce_with_logits_backward);
/* ref_shape.c */
REF_KERNEL(copy);
REF_KERNEL(concat);
REF_KERNEL(slice_backward);
/* ref_index.c */
REF_KERNEL(embedding);
REF_KERNEL(embedding_backward);
REF_KERNEL(gather);
REF_KERNEL(gather_backward);
REF_KERNEL(one_hot);
/* ref_random.c */
REF_KERNEL(fill);
REF_KERNEL(uniform);
REF_KERNEL(normal);
REF_KERNEL(dropout);
/* ref_optim.c */
REF_KERNEL(sgd_step);
REF_KERNEL(adam_step);
REF_KERNEL(rmsprop_step);
REF_KERNEL(adagrad_step);

#endif /* REF_INTERNAL_H */
