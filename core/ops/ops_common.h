/* ops_common.h - helpers for the definitions of the core ops (shape
 * inference and backward). Kernels live in the backends. */
#ifndef STRATA_OPS_COMMON_H
#define STRATA_OPS_COMMON_H

#include <string.h>

#include "../internal.h"

/* Shorthand for an op definition table entry; ST_OP_R also names the inputs
 * and outputs (bit masks) whose values its backward never reads, which may
 * then change in place before the backward (strata_op_def). */
#define ST_OP_R(NAME, MINI, MAXI, NOUT, FLAGS, INFER, BACKWARD, COMPOSITE, DOC, UNREAD_IN, UNREAD_OUT)            \
    {                                                                                                          \
        .struct_size = sizeof(strata_op_def), .name = "core::" NAME, .version = 1, .min_inputs = (MINI),       \
        .max_inputs = (MAXI), .n_outputs = (NOUT), .flags = (FLAGS), .infer = (INFER), .backward = (BACKWARD), \
        .composite = (COMPOSITE), .doc = (DOC), .backward_unread_inputs = (UNREAD_IN),                          \
        .backward_unread_outputs = (UNREAD_OUT)                                                                \
    }
#define ST_OP(NAME, MINI, MAXI, NOUT, FLAGS, INFER, BACKWARD, COMPOSITE, DOC) \
    ST_OP_R(NAME, MINI, MAXI, NOUT, FLAGS, INFER, BACKWARD, COMPOSITE, DOC, 0u, 0u)
/* shapes only: the backward reads no value of any input or output */
#define ST_UNREAD_ALL 0xffffffffu

strata_status ops_register_table(st_plugin *p, const strata_op_def *defs, size_t n);

/* inference helpers */
strata_status infer_same_as_input0(const strata_infer_call *c);
strata_status need_dtype(const strata_infer_call *c, int input, int dtype);
strata_status need_float(const strata_infer_call *c, int input);
strata_status need_index(const strata_infer_call *c, int input);
/** Normalises axis @p a for rank @p ndim; error naming the op otherwise. */
strata_status norm_axis(const strata_infer_call *c, int64_t a, int ndim, int *out);
/** Output shape of a reduction over attr "axes" with "keepdim". mask[k]=1 for reduced dims. */
strata_status reduce_shape(const char *op, const strata_attr *attrs, int n_attrs, int ndim, const int64_t *shape,
                           int *mask, int *out_ndim, int64_t *out_shape);
/** NumPy broadcast of two shapes. */
strata_status broadcast_shapes(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                               int64_t *out);

/* backward helpers: each returns a new reference in *out */
strata_status bw_op1(const strata_backward_call *c, const char *op, strata_tensor *a, const strata_attr *attrs,
                     int n_attrs, strata_tensor **out);
strata_status bw_op2(const strata_backward_call *c, const char *op, strata_tensor *a, strata_tensor *b,
                     const strata_attr *attrs, int n_attrs, strata_tensor **out);
strata_status bw_op3(const strata_backward_call *c, const char *op, strata_tensor *a, strata_tensor *b,
                     strata_tensor *d, const strata_attr *attrs, int n_attrs, strata_tensor **out);
/** g summed down to the shape of @p like (broadcast reversal); retains g if equal. */
strata_status bw_sum_to(const strata_backward_call *c, strata_tensor *g, const strata_tensor *like,
                        strata_tensor **out);
/** g (any shape broadcastable to like) expanded and materialised to like's shape. */
strata_status bw_expand_to(const strata_backward_call *c, strata_tensor *g, const strata_tensor *like,
                           strata_tensor **out);
/** alpha * g */
strata_status bw_scale(const strata_backward_call *c, strata_tensor *g, double alpha, strata_tensor **out);

#endif
