/*
 * lstm_internal.h - private declarations of the lstm plugin (LSTM, GRU and
 * Elman RNN sequence ops and layers).
 *
 * The plugin is built only against the SDK headers. Every op registered here
 * carries the host table as its user pointer (strata_op_def.user), so infer
 * functions and host kernels reach host->set_error through call->user.
 *
 * The sequence ops run ONE layer in ONE direction over a whole sequence:
 *
 *   x   (T, B, I), or (B, T, I) with attr batch_first = 1   ("the layout")
 *   w_ih (G H, I), w_hh (G H, H), b_ih (G H), b_hh (G H)   PyTorch's layout,
 *       G gates stacked: LSTM i, f, g, o (G = 4); GRU r, z, n (G = 3); RNN G = 1
 *   h0, c0, h_n, c_n (B, H)
 *   y   (T, B, H) or (B, T, H): the hidden state after every step
 *
 * Inputs: x, w_ih, w_hh, h0 [, c0 for LSTM] [, b_ih, b_hh] (both biases or
 * neither). attr reverse = 1 runs the steps from t = T-1 down to 0 (the
 * backward direction of a bidirectional layer); y[t] is still the state
 * computed at input position t.
 *
 * Row r(t, b) of a (T B, ...) matrix view of x, y and the workspaces is
 * t B + b in the time-first layout and b T + t in the batch-first one, so
 * the input projection is one GEMM over every row whatever the layout.
 */
#ifndef STRATA_LSTM_INTERNAL_H
#define STRATA_LSTM_INTERNAL_H

#include <stdint.h>

#include "strata/strata_plugin.h"

enum { CELL_LSTM, CELL_GRU, CELL_RNN };

/* Sizes and attributes of one sequence-op call. */
typedef struct rnn_geom {
    int cell; /* CELL_* */
    int64_t T, B, I, H;
    int64_t G; /* gates: 4, 3, 1 */
    int bf;    /* batch_first */
    int reverse;
    int has_bias;
    int relu; /* rnn: nonlinearity relu (else tanh) */
} rnn_geom;

/* Row of step t, batch element b in the (T B, ...) matrix view. */
static inline int64_t rnn_row(const rnn_geom *g, int64_t t, int64_t b)
{
    return g->bf ? b * g->T + t : t * g->B + b;
}
/* Input position of step s (s = 0 is the first step computed). */
static inline int64_t rnn_t(const rnn_geom *g, int64_t s)
{
    return g->reverse ? g->T - 1 - s : s;
}

/* BPTT's recurrent term: dhp (H) += sum over the rows j of w_hh (GH, H) of d[j] w_hh[j, :]. */
static inline void rnn_add_dh(double *dhp, const float *d, const float *w_hh, int64_t GH, int64_t H)
{
    for (int64_t j = 0; j < GH; j++) {
        const double dj = d[j];
        const float *wh = w_hh + j * H;
        for (int64_t k = 0; k < H; k++)
            dhp[k] += dj * wh[k];
    }
}

/** The host table kept in every op's user pointer. */
static inline const strata_host_api *rnn_host(void *user)
{
    return (const strata_host_api *)user;
}

/** Number of state inputs (h0, c0): 2 for LSTM, else 1. */
static inline int rnn_n_state(int cell)
{
    return cell == CELL_LSTM ? 2 : 1;
}

/** Gates of @p cell. */
static inline int64_t rnn_gates(int cell)
{
    return cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
}

/** Reads reverse, batch_first and (rnn) nonlinearity. */
strata_status rnn_read_attrs(const strata_host_api *h, const char *op, const strata_attr *attrs, int n, int cell,
                             rnn_geom *g);
/** Validates the inputs of a forward sequence op and fills @p g. */
strata_status rnn_geom_forward(const strata_host_api *h, const char *op, int cell, const strata_tensor_desc *in,
                               int n_in, const strata_attr *attrs, int n_attrs, rnn_geom *g);
/** Sets @p d to f32 of the given shape. */
void rnn_desc(strata_tensor_desc *d, int ndim, int64_t s0, int64_t s1, int64_t s2);
/** Fills @p d with the layout's shape (T, B, C) or (B, T, C). */
void rnn_desc_seq(strata_tensor_desc *d, const rnn_geom *g, int64_t C);
/** Checks that input @p k of a call is f32 with exactly the given shape (ndim 2 or 3). */
/** A BPTT op's sizes from dy: T, B and H must be positive (the cpu kernels' GEMMs refuse empty sizes). */
strata_status rnn_need_positive(const strata_host_api *h, const char *op, const strata_tensor_desc *dy,
                                const rnn_geom *g);
strata_status rnn_need_shape(const strata_host_api *h, const char *op, const strata_tensor_desc *in, int k,
                             const char *what, int ndim, int64_t s0, int64_t s1, int64_t s2);
/** "(2, 3, 5)" into @p buf. */
const char *rnn_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/** Scratch memory for host kernels; NULL with an E_NOMEM message naming @p op. */
void *rnn_scratch(const strata_host_api *h, const char *op, size_t bytes);

/* ---- composites ---------------------------------------------------------- */

/** A small list of owned tensor references, released by rnn_list_free. */
typedef struct rnn_list {
    strata_tensor **t;
    int n, cap;
} rnn_list;
strata_status rnn_list_push(const strata_host_api *h, rnn_list *l, strata_tensor *t);
void rnn_list_free(const strata_host_api *h, rnn_list *l);

/** out = op(in...), one output, attrs optional. */
strata_status rnn_op1(const strata_host_api *h, strata_runtime *rt, const char *op, strata_tensor *const *in, int n_in,
                      const strata_attr *attrs, int n_attrs, strata_tensor **out);
/** out = concat(ts[0..n), axis), in groups that stay under the core's argument limit. */
strata_status rnn_concat(const strata_host_api *h, strata_runtime *rt, strata_tensor *const *ts, int n, int axis,
                         strata_tensor **out);
/** out = t[axis: start..end) (a view). */
strata_status rnn_slice(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int axis, int64_t start,
                        int64_t end, strata_tensor **out);
/** out = reshape(t, shape). */
strata_status rnn_reshape(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int ndim,
                          const int64_t *shape, strata_tensor **out);

/**
 * The composite of every sequence op (the definition the host kernels and
 * backend kernels must match): gx = linear(x, w_ih, b_ih) for all steps
 * at once, then per step gh = h w_hh^T (+ b_hh) and the cell's gate math
 * with core ops; outputs y, h_n [, c_n] and the workspace (see each op).
 */
strata_status rnn_composite(const strata_composite_call *c, int cell);

/**
 * The parameter and input gradients from the gate gradients: with dgi
 * (layout, G H) the gradient of the input projection's pre-activations and
 * dgh that of the recurrent ones (the same tensor for LSTM and RNN),
 *   dx = dgi w_ih, dw_ih = dgi^T x, db_ih = sum dgi,
 *   dw_hh = dgh^T hprev, db_hh = sum dgh,
 * where hprev is h0 then y shifted by one step in the run direction.
 * Fills c->grad_inputs[0..2] and the bias slots as c->needs_grad asks.
 */
strata_status rnn_backward_gemms(const strata_backward_call *c, const rnn_geom *g, strata_tensor *dgi,
                                 strata_tensor *dgh);
/** A zero tensor like @p like (for absent output gradients). */
strata_status rnn_zeros_like(const strata_backward_call *c, strata_tensor *like, strata_tensor **out);

/* ---- shared op plumbing ---------------------------------------------------- */

/**
 * Infer of a forward sequence op of @p cell: y (layout, H), the final states
 * (B, H) (h_n [, c_n]) and, when @p ws_mult is nonzero, the workspace
 * (layout, ws_mult H).
 */
strata_status rnn_infer_seq(const strata_infer_call *c, int cell, int64_t ws_mult);
/**
 * The backward of a forward sequence op of @p cell: runs the BPTT op @p bptt
 * on (dy, dh_n [, dc_n], extra[0..n_extra)) (absent output gradients as
 * zeros) with @p n_out outputs, then rnn_backward_gemms on out[0] (dgi) and
 * out[1] if @p separate_dgh else out[0] (dgh); the last rnn_n_state(cell)
 * outputs are the gradients of h0 [, c0].
 */
strata_status rnn_backward_seq(const strata_backward_call *c, int cell, const char *bptt, strata_tensor *const *extra,
                               int n_extra, int n_out, int separate_dgh);

/* The attributes of the sequence ops (strata_op_def.attrs, ABI 1.4: the core refuses a call with an attribute not
 * listed or of another kind), the forward's, with which its backward op is called too: reverse and batch_first,
 * and nonlinearity after them for rnn_seq. */
#define RNN_SEQ_ATTR(NAME, KIND, I, S, DOC) {sizeof(strata_attr_spec), NAME, KIND, 0, I, 0.0, S, DOC}
#define RNN_SEQ_ATTRS                                                                                  \
    RNN_SEQ_ATTR("reverse", STRATA_ATTR_INT, 0, NULL, "1: the steps from t = T-1 down to 0"),          \
    RNN_SEQ_ATTR("batch_first", STRATA_ATTR_INT, 0, NULL, "1: x and y are (B, T, .), 0: (T, B, .)")

/**
 * Registers a sequence op @p fwd, its BPTT op @p bwd and the composite-only
 * twin of @p fwd (no backward, no host kernel) named @p unfused_name; sets
 * struct_size, version 1 and the host as user pointer on all three.
 */
strata_status rnn_register_seq(const strata_host_api *h, strata_plugin *p, const strata_op_def *fwd,
                               const strata_op_def *bwd, const char *unfused_name, const char *unfused_doc);

/* ---- registration (one function per file) ---------------------------------- */

strata_status lstm_register_lstm_seq(const strata_host_api *h, strata_plugin *p);
strata_status lstm_register_gru_seq(const strata_host_api *h, strata_plugin *p);
strata_status lstm_register_rnn_seq(const strata_host_api *h, strata_plugin *p);
strata_status lstm_register_layers(const strata_host_api *h, strata_plugin *p);

#endif /* STRATA_LSTM_INTERNAL_H */
