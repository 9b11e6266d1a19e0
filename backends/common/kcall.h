/*
 * kcall.h - the checks every backend makes of a kernel call, and the
 * attributes they all read, with one wording of the errors.
 *
 * A static library linked into each backend module (backends/common), built
 * with hidden visibility: every backend gets its own copy, so one backend's
 * kc_init never reaches another's. Not part of the SDK: a third-party
 * backend writes its own checks against strata_backend.h (docs/backend-guide.md).
 *
 * Messages read "OP: message", as the core's own errors do.
 */
#ifndef STRATA_KCALL_H
#define STRATA_KCALL_H

#include <stddef.h>
#include <stdint.h>

#include "strata/strata_backend.h"

/** Sets the host's function table and the backend's name (for messages:
 *  "the cpu kernel takes f32"); the backend's init calls it once, before
 *  any kernel runs. */
void kc_init(const strata_host_api *host, const char *backend);

/** Reduction modes of the losses (the values the GPU kernels take too). */
typedef enum kc_reduction { KC_RED_NONE = 0, KC_RED_MEAN = 1, KC_RED_SUM = 2 } kc_reduction;

/* ---- errors --------------------------------------------------------------- */

/** Reports "OP: message" through host->set_error and returns @p status. */
strata_status kc_error(const strata_kernel_call *call, strata_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/** Formats a shape as "(2, 3)" into buf; returns buf. */
const char *kc_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* ---- checks --------------------------------------------------------------- */

/** STRATA_E_INVALID unless min_in <= n_inputs <= max_in and n_outputs == n_out. */
strata_status kc_check_arity(const strata_kernel_call *call, int min_in, int max_in, int n_out);
/** STRATA_E_DTYPE unless every input and output is f32. */
strata_status kc_check_all_f32(const strata_kernel_call *call);
/** kc_check_arity, then kc_check_all_f32: the prologue of most float kernels. */
strata_status kc_check_f32_call(const strata_kernel_call *call, int min_in, int max_in, int n_out);
/** STRATA_E_DTYPE unless @p d (named @p what in the message) is f32. */
strata_status kc_check_f32(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what);
/** STRATA_E_DTYPE unless @p d is i32 or i64. */
strata_status kc_check_index_dtype(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what);
/** STRATA_E_SHAPE unless @p d has @p numel elements. */
strata_status kc_check_numel(const strata_kernel_call *call, const strata_tensor_desc *d, const char *what,
                             int64_t numel);
/** STRATA_E_SHAPE unless a and b have the same shape. */
strata_status kc_check_same_shape(const strata_kernel_call *call, const strata_tensor_desc *a, const char *what_a,
                                  const strata_tensor_desc *b, const char *what_b);
/** STRATA_E_SHAPE unless attr @p name (when present) lists @p d's shape. */
strata_status kc_check_shape_attr(const strata_kernel_call *call, const char *name, const strata_tensor_desc *d);

/** core::cast's call: one input and one output of f32, f16 or bf16, with
 *  as many elements; the output's dtype is the attribute's. */
strata_status kc_check_cast(const strata_kernel_call *call, int64_t *n);
/** Converts @p n values of float dtype @p from at @p src to @p to at @p dst
 *  (strata_half.h's rounding): the host side of core::cast. */
void kc_cast_host(int from, int to, const void *src, void *dst, int64_t n);

/** An optimizer step's call: @p n_in inputs (p, g, slots...) and n_in - 1
 *  outputs (p, slots...), all f32 with p's element count, returned in *n. */
strata_status kc_check_optim(const strata_kernel_call *call, int n_in, int64_t *n);
/** A gan::ema_update call (ema, param -> ema, all f32 with ema's element
 *  count, in *n; attr decay in [0, 1], required, in *decay). */
strata_status kc_check_ema(const strata_kernel_call *call, int64_t *n, double *decay);

/** A cross_entropy call (logits (N, C) f32, labels (N) i32/i64 -> loss f32)
 *  or, with @p backward, a cross_entropy_backward one (dy, logits, labels
 *  -> dlogits, logits' shape): arity, dtypes, shapes, attr "reduction" in
 *  *mode, and the loss's / dy's size (N for "none", else 1). The labels'
 *  range is the backend's to check: they may live on a device. */
strata_status kc_check_cross_entropy(const strata_kernel_call *call, int backward, kc_reduction *mode, int64_t *N,
                                     int64_t *C);

/** A sum_to_shape call (x f32 -> y f32 of the target shape: attr "shape"
 *  when given, else y's own; x must broadcast from it): arity, dtypes,
 *  shapes; mask[d] = 1 for each dim d of x that is summed (missing from
 *  the target, or 1 there and not in x). */
strata_status kc_check_sum_to_shape(const strata_kernel_call *call, int mask[STRATA_MAX_DIMS]);

/** A reduction of contiguous x over the dims in a mask, as every backend
 *  walks it: dims of size 1 dropped and neighbours that are both kept or
 *  both reduced merged, so (N, C, H, W) summed to (C) is (N | C | H W) and
 *  a kernel decodes three dims, not four, per element. */
typedef struct kc_red_plan {
    int n;                           /**< merged dims */
    int64_t size[STRATA_MAX_DIMS];   /**< their sizes */
    int red[STRATA_MAX_DIMS];        /**< 1 if reduced */
    int64_t stride[STRATA_MAX_DIMS]; /**< x's contiguous strides over them */
    int64_t n_out, n_red;            /**< output elements, elements per output */
} kc_red_plan;

/** The plan of x (its shape, contiguous) reduced over the dims with mask[d] != 0. */
void kc_red_plan_init(kc_red_plan *p, const strata_tensor_desc *x, const int mask[STRATA_MAX_DIMS]);

/** One side of a plan, kept (@p want_red 0) or reduced (1): its dims'
 *  sizes and x strides in order, for a kernel that walks the output
 *  elements and each one's group; returns their number (0 for none). */
int kc_red_plan_side(const kc_red_plan *p, int want_red, int64_t shape[STRATA_MAX_DIMS],
                     int64_t stride[STRATA_MAX_DIMS]);

/** Where a slice_backward call puts dy in dx: along dx's dim @p axis of
 *  length n, count rows from start, step apart. */
typedef struct kc_slice {
    int axis;
    int64_t n, start, step, count;
} kc_slice;

/** A slice_backward call (dy f32 -> dx f32 of attr "shape" when given;
 *  attrs axis, start, end, step as Python's slicing, clamped): arity,
 *  dtypes, dy being that slice of dx; the slice in *sl. */
strata_status kc_check_slice_backward(const strata_kernel_call *call, kc_slice *sl);

/* The index ops below leave the indices' range to the backend, as
 * kc_check_cross_entropy does the labels': they may live on a device. */

/** An embedding call (w (V, D) f32, idx i32/i64 of P elements -> y f32 of
 *  P * D elements) or, with @p backward, an embedding_backward one (dy, idx
 *  -> dw (V, D), attr "num_embeddings" V when present): arity, dtypes,
 *  shapes; *V, *D and *P. */
strata_status kc_check_embedding(const strata_kernel_call *call, int backward, int64_t *V, int64_t *D, int64_t *P);

/** A gather call (x f32, idx i32/i64 -> y f32 of idx's shape) or, with
 *  @p backward, a gather_backward one (dy of idx's shape, idx -> dx, x's
 *  shape, matching attr "shape" when present): arity, dtypes, shapes and
 *  attr "axis" (0 when absent) normalised into *axis; idx must have x's rank
 *  and be no larger than x off that axis. */
strata_status kc_check_gather(const strata_kernel_call *call, int backward, int *axis);

/** A one_hot call (idx i32/i64 of P elements -> y (..., C) f32 of P * C
 *  elements, attr "num_classes" C when present): arity, dtypes, shapes;
 *  *P and *C. */
strata_status kc_check_one_hot(const strata_kernel_call *call, int64_t *P, int64_t *C);

/* ---- attributes ----------------------------------------------------------- */

/** Normalises @p axis (negative counts from the end) for @p ndim dims;
 *  @p attr names it in the message. */
strata_status kc_axis(const strata_kernel_call *call, const char *attr, int64_t axis, int ndim, int *out);
/** mask[d] = 1 for each dim named by attr "axes" (absent or empty = all). */
strata_status kc_axes_mask(const strata_kernel_call *call, int ndim, int mask[STRATA_MAX_DIMS]);
/** String attr @p name, @p dflt when absent, NULL (error set) when not a string. */
const char *kc_attr_string(const strata_kernel_call *call, const char *name, const char *dflt);

/** Attr "step" of an optimizer step (t, 1-based; 1 when absent), checked. */
strata_status kc_optim_step(const strata_kernel_call *call, int64_t *t);

/** Attr "reduction" ("mean" when absent). */
strata_status kc_reduction_of(const strata_kernel_call *call, kc_reduction *out);

/* ---- the lstm plugin's sequence ops (kc_seq.c) ---------------------------- */

enum { KC_SEQ_LSTM, KC_SEQ_GRU, KC_SEQ_RNN };

/** Sizes and attributes of one sequence-op call: x (T, B, I), or (B, T, I)
 *  with bf; G gates (4, 3, 1) of H units; reverse runs t = T-1 .. 0. */
typedef struct kc_seq {
    int cell; /* KC_SEQ_* */
    int64_t T, B, I, H, G;
    int bf, reverse, relu, has_bias;
} kc_seq;

/** Row of step t, batch element b in the (T B, ...) matrix view of a
 *  sequence tensor: t B + b, or b T + t batch-first. */
static inline int64_t kc_seq_row(const kc_seq *g, int64_t t, int64_t b)
{
    return g->bf ? b * g->T + t : t * g->B + b;
}
/** Input position of step s (s = 0 is the first step computed). */
static inline int64_t kc_seq_t(const kc_seq *g, int64_t s)
{
    return g->reverse ? g->T - 1 - s : s;
}
/** Rows between batch elements b and b + 1 of one step. */
static inline int64_t kc_seq_rstride(const kc_seq *g)
{
    return g->bf ? g->T : 1;
}

/** A forward call of @p cell (KC_SEQ_*): (x, w_ih, w_hh, h0 [, c0] [, b_ih,
 *  b_hh]) -> y, h_n [, c_n] [, ws]: arity, dtypes, attrs and every shape. */
strata_status kc_check_seq_forward(const strata_kernel_call *call, int cell, kc_seq *g);
/** A BPTT call of @p cell: lstm (dy, dh_n, dc_n, w_hh, c0, ws) -> da, dh0,
 *  dc0; gru (dy, dh_n, w_hh, h0, y, ws) -> dgi, dgh, dh0; rnn (dy, dh_n,
 *  w_hh, y) -> da, dh0: arity, dtypes, attrs and every shape. */
strata_status kc_check_seq_backward(const strata_kernel_call *call, int cell, kc_seq *g);

/* ---- the memnet plugin's ops (kc_memnet.c) ------------------------------- */

/** Word weights (attr "encoding"), in the order of the plugin's MN_ENC_*. */
enum { KC_MN_BOW, KC_MN_POSITION, KC_MN_POSITION_PAPER };

/** One call's sizes: x (R, J) word ids, R rows of J words; V words of d
 *  dimensions; M memory slots (0: no temporal encoding; row r is slot
 *  r % M); pad the padding word (-1: none). */
typedef struct kc_mn_geom {
    int64_t R, J, V, d, M, pad;
    int enc; /* KC_MN_* */
} kc_mn_geom;

/** memnet::encode (E (V, d), x (..., J) i32/i64 [, T (M, d)] -> y (..., d)):
 *  arity, dtypes, shapes and attrs encoding and padding_idx. */
strata_status kc_check_mn_encode(const strata_kernel_call *call, kc_mn_geom *g);
/** memnet::encode_backward (dy (..., d), x (..., J) -> dE (V, d)), attr
 *  num_embeddings V required. */
strata_status kc_check_mn_encode_backward(const strata_kernel_call *call, kc_mn_geom *g);
/** memnet::slot_mask (x (..., J) -> m (..., 1)), attr num_embeddings required. */
strata_status kc_check_mn_slot_mask(const strata_kernel_call *call, kc_mn_geom *g);
/** 1 when word @p v is in [0, V) or is the padding word (never with pad -1:
 *  then a word -1 is out of range like any other). */
int kc_mn_word_ok(int64_t v, const kc_mn_geom *g);

#endif
