/*
 * conv_internal.h - private declarations of the conv plugin (ConvNets:
 * convolutions, pooling, batch normalisation, channel dropout).
 *
 * The plugin is built only against the SDK headers. Every op registered here
 * carries the host table as its user pointer (strata_op_def.user), so infer
 * functions and host kernels reach host->set_error through call->user.
 *
 * Layout conventions (as PyTorch): activations NCHW, row-major, contiguous;
 * conv weights (OC, C/groups, KH, KW); transposed-conv weights
 * (C_in, OC/groups, KH, KW).
 */
#ifndef STRATA_CONV_INTERNAL_H
#define STRATA_CONV_INTERNAL_H

#include <stdint.h>

#include "strata/strata_backend.h"
#include "strata/strata_plugin.h"

/* ---- geometry ------------------------------------------------------------ */

/* Sizes of one 2-D convolution, seen from the forward (conv2d) side:
 *   x (N, C, H, W) * w (OC, C/groups, KH, KW) -> y (N, OC, OH, OW)
 * with OH = (H + 2 ph - dh (KH - 1) - 1) / sh + 1 (likewise OW).
 * conv_transpose2d and the backward ops reuse it with the roles of x and y
 * swapped. */
typedef struct conv_geom {
    int64_t N, C, H, W;
    int64_t OC, KH, KW;
    int64_t OH, OW;
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t groups;
} conv_geom;

/* Hyper-parameters of a 2-D window op (conv or pool), from the attrs. */
typedef struct conv_params {
    int64_t stride[2], padding[2], dilation[2], output_padding[2];
    int64_t groups;
} conv_params;

/** Reads attribute @p name as a pair: an INT (both), INTS of 1 (both) or 2,
 *  absent or an empty list (@p dflt for both). Errors name @p op. */
strata_status conv_attr_pair(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                             const char *name, int64_t dflt, int64_t out[2]);
/** Reads stride (1), padding (0), dilation (1), output_padding (0) and
 *  groups (1) and checks their ranges (stride, dilation, groups >= 1,
 *  padding, output_padding >= 0). */
strata_status conv_read_params(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                               conv_params *p);
/** Output length of a window of @p k taps along one axis, or an error when
 *  the dilated window is larger than the padded input. @p axis names the
 *  axis in messages ("height"). */
/* The largest kernel, stride, padding, dilation or output padding an attribute may give. */
#define CONV_MAX_ATTR ((int64_t)1 << 31)
strata_status conv_out_len(const strata_host_api *h, const char *op, const char *axis, int64_t in, int64_t k,
                           int64_t s, int64_t p, int64_t d, int64_t *out);
/** Output length of a transposed convolution along one axis:
 *  (in - 1) s - 2 p + d (k - 1) + output_padding + 1; an error when it is < 1. */
strata_status conv_transpose_out_len(const strata_host_api *h, const char *op, const char *axis, int64_t in,
                                     int64_t k, int64_t s, int64_t p, int64_t d, int64_t op_, int64_t *out);

/* Attributes of a call as a small array the ops pass on to other ops. */
typedef struct conv_attrs {
    strata_attr a[8];
    int n;
    int64_t store[8][2];
} conv_attrs;
/** Appends a 2-int attribute. */
void conv_attrs_pair(conv_attrs *at, const char *name, int64_t v0, int64_t v1);
void conv_attrs_int(conv_attrs *at, const char *name, int64_t v);
/** stride, padding, dilation and groups of @p p. */
void conv_attrs_conv(conv_attrs *at, const conv_params *p);

/* ---- shared helpers ------------------------------------------------------ */

/** The host table kept in every op's user pointer. */
static inline const strata_host_api *conv_host(void *user)
{
    return (const strata_host_api *)user;
}

/** Copies the shape of @p in into @p out (dtype, ndim, shape). */
void conv_desc_like(strata_tensor_desc *out, const strata_tensor_desc *in);
/** Sets @p out to @p dtype and the rank-4 shape (a, b, c, d). */
void conv_desc_4d(strata_tensor_desc *out, int32_t dtype, int64_t a, int64_t b, int64_t c, int64_t d);
/** Reads the required size attribute @p name ("input_size") as a positive
 *  pair; @p dims names its elements in the message ("H, W"). */
strata_status conv_size_attr(const strata_host_api *h, const char *op, const strata_attr *attrs, int n,
                             const char *name, const char *dims, int64_t size[2]);
/** With a third input (n_in > 2), checks that it is a bias of rank 1 with
 *  @p channels elements. */
strata_status conv_check_bias(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int n_in,
                              int64_t channels);
/** "(2, 3, 5)" into @p buf. */
const char *conv_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/** Checks dtype f32 and rank @p ndim (or, with ndim < 0, rank >= -ndim) of input @p k. */
strata_status conv_need_f32(const strata_infer_call *c, int k, const char *what, int ndim);

/** Scratch memory for host kernels (im2col, double accumulators). NULL
 *  with an E_NOMEM message naming @p op on failure. */
void *conv_scratch(const strata_host_api *h, const char *op, size_t bytes);

/** Sum of @p g over every axis but 1 (a per-channel bias gradient). */
strata_status conv_bias_grad(const strata_backward_call *c, strata_tensor *g, strata_tensor **out);
/** One-output op call from a backward: out = op(in...). */
strata_status conv_call(const strata_backward_call *c, const char *op, strata_tensor *const *in, int n_in,
                        const conv_attrs *at, strata_tensor **out);

/* ---- registration (one function per file) ---------------------------------- */

/* One entry of an op's attribute schema (strata_op_def.attrs, ABI 1.4: the core refuses a call with an attribute
 * not listed or of another kind). A list entry's dflt_i is the value of each of its elements. */
#define CONV_OP_ATTR(NAME, KIND, REQ, I, F, DOC) {sizeof(strata_attr_spec), NAME, KIND, REQ, I, F, NULL, DOC}
/* The window of a 2-D convolution (conv_read_params), the first four entries of conv2d's, its backward ops' and
 * conv_transpose2d's schemas: lists of two integers, or one integer (or a list of one) for both axes. */
#define CONV_OP_GEOM_ATTRS                                                                 \
    CONV_OP_ATTR("stride", STRATA_ATTR_INTS, 0, 1, 0.0, "[h, w], or s for both (1)"),      \
    CONV_OP_ATTR("padding", STRATA_ATTR_INTS, 0, 0, 0.0, "[h, w], or p for both (0)"),     \
    CONV_OP_ATTR("dilation", STRATA_ATTR_INTS, 0, 1, 0.0, "[h, w], or d for both (1)"),    \
    CONV_OP_ATTR("groups", STRATA_ATTR_INT, 0, 1, 0.0, "channel groups (1)")

/** Registers @p n op definitions in order; the first failure's status. */
strata_status conv_register_ops(const strata_host_api *h, strata_plugin *p, const strata_op_def *defs, size_t n);

strata_status conv_register_conv2d(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_conv_transpose2d(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_conv1d(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_pool(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_batch_norm(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_dropout2d(const strata_host_api *h, strata_plugin *p);
strata_status conv_register_layers(const strata_host_api *h, strata_plugin *p);

/* ---- the 2-D convolution kernels (conv2d.c), shared with conv_transpose2d -- */

/* y = conv(x, w) + b; x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) or
 * NULL, y (N, OC, OH, OW). @p col is scratch of conv_col_floats(g) floats,
 * @p acc of g->OH * g->OW doubles. */
void conv2d_forward(float *y, const float *x, const float *w, const float *b, const conv_geom *g, float *col,
                    double *acc);
/* dx = conv^T(dy, w) (+ b per channel of dx when b is not NULL): the
 * adjoint of conv2d_forward in x. dy (N, OC, OH, OW), dx (N, C, H, W).
 * @p acc is scratch of g->OH * g->OW + g->C * g->H * g->W doubles. */
void conv2d_backward_data(float *dx, const float *dy, const float *w, const float *b, const conv_geom *g,
                          double *acc);
/* dw = sum_n dy[n] (x) x[n] over windows: the derivative of conv2d_forward
 * in w. dw (OC, C/groups, KH, KW). @p colT is scratch of conv_col_floats(g)
 * floats, @p acc of g->OC * (g->C / g->groups) * g->KH * g->KW doubles. */
void conv2d_backward_weight(float *dw, const float *dy, const float *x, const conv_geom *g, float *colT,
                            double *acc);
/** Floats of one image-and-group im2col matrix: (C/groups KH KW) x (OH OW). */
int64_t conv_col_floats(const conv_geom *g);
/** Host kernel body of conv2d_backward_data and conv_transpose2d: outputs[0]
 *  = conv^T(inputs[0], inputs[1]) (+ @p b per channel, or NULL) for @p g;
 *  STRATA_E_NOMEM with a message when scratch fails. */
strata_status conv_kernel_backward_data(const strata_kernel_call *c, const conv_geom *g, const float *b);

#endif /* STRATA_CONV_INTERNAL_H */
