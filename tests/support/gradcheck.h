/*
 * gradcheck.h - the finite-difference gradient checker shared by the
 * gradient tests (test_gradcheck.c for the core ops and layers,
 * test_conv.c for the conv plugin), through the public API only
 * (strata_op_call, strata_model_*, strata_backward, strata_tensor_grad).
 *
 * Method (gradcheck(), written once): the variables are f32 leaf tensors on
 * one device (op inputs, model inputs, model parameters). A forward callback
 * gives outputs y_k; the loss is L = sum_k sum(y_k .* r_k) for fixed
 * pseudo-random r_k built from host data, so backward feeds dy_k = r_k.
 * strata_backward() gives the analytic dL/dv. Then, with gradients disabled,
 * every element of every variable is perturbed by +h and -h, the outputs are
 * read to the host and L is summed in double; the central difference
 *     fd = (L(v + h) - L(v - h)) / ((v + h) - (v - h))
 * (denominator from the f32 values actually written) must satisfy
 *     |fd - g| <= tol * (1 + |fd|).
 * Defaults: h = GC_H = 1e-2, tol = GC_TOL = 1e-3 (f32 forward,
 * double-accumulating ref kernels). Callers keep away from kinks and
 * curvature through the data kinds below (D_AWAY for relu, D_DISTINCT for
 * max, D_POS for log, ...).
 *
 * gradcheck() prints the mismatches of a case (what, variable, element
 * index, fd, analytic; the first 12 and a count) and returns their number;
 * a test sums them and ends with ASSERT_GC_OK. A variable that receives no
 * gradient is compared as zeros, so a missing backward is reported too.
 *
 * Usage: gc_init(rt, dev) in the group setup, gc_report() in the teardown
 * (one summary line on stderr). Not thread-safe: one checker per process.
 */
#ifndef STRATA_TEST_GRADCHECK_H
#define STRATA_TEST_GRADCHECK_H

#include <stdint.h>

#include "testutil.h"

#define GC_H 1e-2
#define GC_TOL 1e-3
#define GC_MAX_VARS 16
#define GC_MAX_OUT 8
#define GC_MAX_IN 8

/** Sets the runtime and device the helpers below use (borrowed). */
void gc_init(strata_runtime *rt, strata_device *dev);
/** Prints "gradcheck: N cases, M elements checked ...; worst ..." to stderr. */
void gc_report(void);
/** Group setup of a gradient test: a new runtime, its ref device, gc_init on them. */
void gc_setup(strata_runtime **rt, strata_device **dev);
/** Group teardown: gc_report(), then destroys *@p rt and sets it NULL. */
void gc_teardown(strata_runtime **rt);
/** Fails the test unless plugin @p name is loaded in the checker's runtime,
 *  and from the build tree $STRATA_TEST_BUILD when set (not an installed copy). */
void gc_assert_plugin_from_build_tree(const char *name);

/* ---- host data ----------------------------------------------------------- */

typedef enum data_kind {
    D_ANY,      /* [-1.5, 1.5] */
    D_WIDE,     /* [-3, 3] */
    D_POS,      /* [0.5, 2] */
    D_AWAY,     /* +-[0.2, 1.5]: away from the kinks of relu, abs */
    D_DIVISOR,  /* +-[0.5, 1.5]: divisors (1/b is curved near 0) */
    D_DISTINCT, /* a shuffled grid of step 0.1: maxima are unique by >= 0.1 */
    D_PROB      /* [0.05, 0.95]: targets of bce */
} data_kind;

/** @p n values of @p kind, a pure function of (@p kind, @p seed, index). */
void fill_data(float *d, int64_t n, data_kind kind, uint32_t seed);

/* SHAPE(2, 3) expands to "shape array, ndim" */
#define SHAPE(...)                                                                                             \
    (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
/* ATTRS(a, b) expands to "attr array, count" */
#define ATTRS(...)                                                                                             \
    (const strata_attr[]){__VA_ARGS__}, (int)(sizeof((const strata_attr[]){__VA_ARGS__}) / sizeof(strata_attr))
#define NOATTRS NULL, 0

/** New f32 tensor on the checker's device filled with data of @p kind. */
strata_tensor *tv(data_kind kind, uint32_t seed, const int64_t *shape, int ndim);
/** New f32 tensor from explicit values. */
strata_tensor *tf(const float *vals, const int64_t *shape, int ndim);
/** New i64 / i32 index tensors. */
strata_tensor *ti64(const int64_t *vals, const int64_t *shape, int ndim);
strata_tensor *ti32(const int32_t *vals, const int64_t *shape, int ndim);
/** The elements of f32 tensor @p t in a malloc'd buffer (caller frees). */
float *read_f32(strata_tensor *t, int64_t *n_out);
/** Fails the test unless @p t has @p n elements within @p tol of @p want. */
void assert_close_f32(strata_tensor *t, const float *want, int64_t n, double tol, const char *what);

/* ---- the checker --------------------------------------------------------- */

/* Produces *n_outs (<= GC_MAX_OUT) new references in outs. Called with
 * gradients enabled once, then with gradients disabled per perturbation. */
typedef strata_status (*gc_forward)(void *user, strata_tensor **outs, int *n_outs);

typedef struct gc_var {
    const char *name;
    strata_tensor *t; /* f32 contiguous leaf; written in place while checking */
} gc_var;

typedef struct gc_case {
    const char *what; /* names the case in messages */
    gc_var vars[GC_MAX_VARS];
    int n_vars;
    gc_forward fwd;
    void *user;
    double h, tol; /* 0: GC_H, GC_TOL */
    int quiet;     /* no mismatch messages (the harness self-tests) */
} gc_case;

/** Returns the number of mismatching elements (0 = pass). */
int gradcheck(const gc_case *c);

#define ASSERT_GC_OK(expr)                                                                                     \
    do {                                                                                                       \
        int gc_bad_ = (expr);                                                                                  \
        if (gc_bad_ != 0)                                                                                      \
            fail_msg("%d gradient element(s) mismatch; the lines above name them", gc_bad_);                  \
    } while (0)

/* ---- op cases ------------------------------------------------------------ */

typedef struct op_case {
    const char *op;
    strata_tensor *in[GC_MAX_IN]; /* owned by the case; f32 ones are the variables */
    int n_in;
    const strata_attr *attrs;
    int n_attrs;
    int n_outputs; /* outputs the op produces (0 = 1) */
    int n_used;    /* leading outputs that enter L (0 = all) */
    /* optional view op applied to input 0 before the op (a permuted or
     * sliced input, to reach the non-contiguous paths) */
    const char *pre_op;
    const strata_attr *pre_attrs;
    int n_pre_attrs;
    double h, tol;
    /* bit k set: f32 input k is a constant, not a variable (an input the op
     * defines no gradient for, such as batch norm's running statistics) */
    unsigned constant_inputs;
} op_case;

/** Checks @p c (every distinct f32 input not in constant_inputs is a
 *  variable, named in0, in1, ...), then releases its inputs. Returns the
 *  number of mismatches. */
int run_op(const char *what, op_case *c);
/** One- and two-input shorthands of run_op (one output). */
int op1(const char *what, const char *op, strata_tensor *a, const strata_attr *at, int n_at);
int op2(const char *what, const char *op, strata_tensor *a, strata_tensor *b, const strata_attr *at, int n_at);

/* ---- model cases --------------------------------------------------------- */

/** An empty model on the checker's device. */
strata_model *model_new(void);
/** Declares a model input (ndim 0: a scalar per example). */
void model_input(strata_model *m, const char *name, strata_dtype dtype, const int64_t *shape, int ndim);
/** Adds a layer; in1 (may be NULL) makes it a two-input layer. */
void model_layer(strata_model *m, const char *type, const char *name, const strata_attr *at, int n_at,
                 const char *in0, const char *in1);
/** Checks the gradients w.r.t. every f32 model input and every parameter
 *  (training selects training behaviour; the runtime's generator is rewound
 *  before every forward so dropout draws one mask), then destroys the model
 *  and releases the inputs. Returns the number of mismatches. */
int run_model(const char *what, strata_model *m, strata_tensor *const *inputs, int n_inputs, int training);

#endif /* STRATA_TEST_GRADCHECK_H */
