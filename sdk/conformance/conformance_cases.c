/*
 * conformance_cases.c - the backend conformance suite (see
 * conformance_cases.h): a recipe per core op, a runner that executes a case
 * on one device (forward, then backward of L = sum(y .* r)), and the
 * comparison of a backend's results with ref's.
 *
 * Layout: random numbers and tensors of a case; running a case on a device;
 * comparing; the generators (one per op family); the recipe table with its
 * stated tolerances; the driver.
 *
 * Tolerances (per element, |got - ref| <= tol * max(1, |ref|)):
 *
 *   class   tol                        used for
 *   exact   0 (bitwise; -0 == +0)      data movement (copy, concat, views, slice, gather/embedding
 *                                      forward, one_hot, fill), max/argmax/max_backward, and the
 *                                      Philox ops uniform and dropout (their low/high and p are
 *                                      chosen so the arithmetic is exact in f32 and in double)
 *   1 ulp   0, or within 1 ulp         normal (Box-Muller's log/cos/sqrt may differ by an ulp;
 *                                      std is a power of two and mean 0, so scaling is exact)
 *   1e-5    1e-5                       elementwise maps and their gradients, eltwise_backward,
 *                                      optimizer steps, gradients that only spread values (sum,
 *                                      mean, sum_to_shape)
 *   1e-4*s  1e-4 * max(1, sqrt(K/64))  anything that sums K terms: matmul/linear (K = inner
 *                                      dim), reductions, softmax family, losses, sum_to_shape,
 *                                      scatter-adds (embedding/gather backward), gradients of
 *                                      broadcast inputs (binary ops, expand, copy of an expand)
 *
 * The table at the end states, for each op, the forward and backward class.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance_cases.h"
#include "strata/strata_plugin.h" /* strata_attr_spec: a plugin op's schema */
#include "strata/strata_half.h"

#define CF_MAX_IN 8
#define CF_MAX_OUT 8
#define CF_MAX_ATTRS 12
#define CF_MAX_PRE_ATTRS 4
#define CF_DEFAULT_TRIALS 5
#define CF_DEFAULT_SEED 0x5eedull
#define CF_MAX_NUMEL 4096      /* per random tensor in the normal trials */
#define CF_LARGE_CAP (1 << 17) /* per tensor in the large trials: past backends' threading/GEMM thresholds */
#define CF_MAX_LINES 4         /* failure lines printed per op in the report */

/* ======================================================================= */
/* Random numbers (splitmix64: small, good enough, same on every host)      */
/* ======================================================================= */

typedef struct cf_rng {
    uint64_t s;
} cf_rng;

static uint64_t cf_next(cf_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double cf_unit(cf_rng *r)
{
    return (double)(cf_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double cf_range(cf_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * cf_unit(r);
}

/* Uniform integer in [lo, hi]. */
static int64_t cf_int(cf_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(cf_next(r) % (uint64_t)(hi - lo + 1));
}

static uint64_t cf_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* ======================================================================= */
/* Cases                                                                    */
/* ======================================================================= */

/* Tolerance classes (see the table at the top of the file). */
typedef enum cf_tol { CF_EXACT, CF_ULP1, CF_ELT, CF_RED } cf_tol;

#define CF_TOL_ELT 1e-5
#define CF_TOL_RED 1e-4

static double cf_tol_value(cf_tol t, int64_t k)
{
    switch (t) {
    case CF_EXACT:
    case CF_ULP1:
        return 0.0;
    case CF_ELT:
        return CF_TOL_ELT;
    case CF_RED:
        return CF_TOL_RED * fmax(1.0, sqrt((double)k / 64.0));
    }
    return 0.0;
}

static const char *cf_tol_name(cf_tol t)
{
    switch (t) {
    case CF_EXACT:
        return "exact";
    case CF_ULP1:
        return "1 ulp";
    case CF_ELT:
        return "1e-5";
    case CF_RED:
        return "1e-4*s(K)";
    }
    return "?";
}

/* How the op is run: new outputs from inputs; created from attrs alone
 * (strata_op_create); or in place into the inputs (optimizer steps:
 * outputs are inputs 0, 2, 3, ...). */
typedef enum cf_mode { CF_CALL, CF_CREATE, CF_INPLACE } cf_mode;

/* One input of a case, as host data. */
typedef struct cf_tensor {
    const char *name; /* for messages: "x", "idx" */
    int32_t dtype;
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    void *data; /* row-major host copy, owned by the case */
    int grad;   /* requires grad; its gradient is compared */
    /* A view op applied on the device before the call, so the op sees a
     * strided input (NULL: the leaf itself). */
    const char *pre_op;
    strata_attr pre_attrs[CF_MAX_PRE_ATTRS];
    int n_pre_attrs;
    int64_t pre_ints[STRATA_MAX_DIMS];
} cf_tensor;

typedef struct cf_case {
    const char *op;
    int32_t version;
    cf_mode mode;
    int n_in;
    cf_tensor in[CF_MAX_IN];
    int n_attrs;
    strata_attr attrs[CF_MAX_ATTRS];
    int64_t attr_ints[CF_MAX_ATTRS][STRATA_MAX_DIMS];
    int n_out;
    unsigned loss_mask;   /* outputs in L (bit k = output k); 0 = every f32 output */
    int64_t k_fwd, k_bwd; /* summed lengths for CF_RED */
    strata_status expect; /* STRATA_OK, or the status both devices must fail with */
    int set_rng;          /* set the runtime's Philox state before the call */
    uint64_t rng_seed, rng_offset;
    uint64_t r_seed;       /* seed of the loss weights r */
    const char *note;      /* what the trial exercises, or NULL */
    char setup_error[512]; /* set when generating the case failed */
} cf_case;

static void cf_case_free(cf_case *c)
{
    for (int k = 0; k < c->n_in; k++)
        free(c->in[k].data);
    c->n_in = 0;
}

static int64_t cf_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

static int64_t cf_tnumel(const cf_tensor *t)
{
    return cf_numel(t->ndim, t->shape);
}

/* Appends an input with zeroed data. Never NULL: on a full case or no
 * memory it returns a scratch tensor and records the setup error. */
static cf_tensor *cf_in(cf_case *c, const char *name, int32_t dtype, int ndim, const int64_t *shape)
{
    static cf_tensor scratch;
    if (c->n_in >= CF_MAX_IN) {
        snprintf(c->setup_error, sizeof c->setup_error, "case has more than %d inputs", CF_MAX_IN);
        memset(&scratch, 0, sizeof scratch);
        return &scratch;
    }
    cf_tensor *t = &c->in[c->n_in++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    int64_t n = cf_tnumel(t);
    t->data = calloc((size_t)(n > 0 ? n : 1), strata_dtype_size(dtype));
    if (!t->data)
        snprintf(c->setup_error, sizeof c->setup_error, "no memory for input %s (%lld elements)", name, (long long)n);
    return t;
}

/* Element k of t as an f32 or index pointer (NULL data is checked by the fillers). */
static float *cf_f32(cf_tensor *t)
{
    return (float *)t->data;
}

static void cf_set_index(cf_tensor *t, int64_t i, int64_t v)
{
    if (t->dtype == STRATA_I32)
        ((int32_t *)t->data)[i] = (int32_t)v;
    else
        ((int64_t *)t->data)[i] = v;
}

static void cf_fill_uniform(cf_rng *r, cf_tensor *t, double lo, double hi)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    for (int64_t i = 0; i < n; i++)
        cf_f32(t)[i] = (float)cf_range(r, lo, hi);
}

/* Every 5th element (on average) exactly 0: the kinks of relu and abs. */
static void cf_sprinkle_zeros(cf_rng *r, cf_tensor *t)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    for (int64_t i = 0; i < n; i++)
        if (cf_int(r, 0, 4) == 0)
            cf_f32(t)[i] = 0.0f;
}

/* |v| in [lo, hi] with a random sign: denominators. */
static void cf_fill_away(cf_rng *r, cf_tensor *t, double lo, double hi)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    for (int64_t i = 0; i < n; i++)
        cf_f32(t)[i] = (float)((cf_int(r, 0, 1) ? 1.0 : -1.0) * cf_range(r, lo, hi));
}

/* Distinct values in [-2, 2), shuffled: max and argmax have one answer. */
static void cf_fill_distinct(cf_rng *r, cf_tensor *t)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    float *x = cf_f32(t);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(-2.0 + 4.0 * ((double)i + 0.5) / (double)n);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = cf_int(r, 0, i);
        float v = x[i];
        x[i] = x[j];
        x[j] = v;
    }
}

/* Values from {-1, 0, 1}: ties, where "first maximum" decides. */
static void cf_fill_ties(cf_rng *r, cf_tensor *t)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    for (int64_t i = 0; i < n; i++)
        cf_f32(t)[i] = (float)cf_int(r, -1, 1);
}

static void cf_fill_index(cf_rng *r, cf_tensor *t, int64_t lo, int64_t hi)
{
    if (!t->data)
        return;
    int64_t n = cf_tnumel(t);
    for (int64_t i = 0; i < n; i++)
        cf_set_index(t, i, cf_int(r, lo, hi));
}

/* Applies view @p op with one ints attr (permute dims, expand shape) on the device before the call. */
static void cf_pre_ints(cf_tensor *t, const char *op, const char *attr, const int64_t *v, int n)
{
    t->pre_op = op;
    memcpy(t->pre_ints, v, sizeof(int64_t) * (size_t)n);
    t->pre_attrs[0] = strata_attr_ints(attr, t->pre_ints, n);
    t->n_pre_attrs = 1;
}

static void cf_pre_slice(cf_tensor *t, int64_t axis, int64_t start, int64_t end, int64_t step)
{
    t->pre_op = "core::slice";
    t->pre_attrs[0] = strata_attr_int("axis", axis);
    t->pre_attrs[1] = strata_attr_int("start", start);
    t->pre_attrs[2] = strata_attr_int("end", end);
    t->pre_attrs[3] = strata_attr_int("step", step);
    t->n_pre_attrs = 4;
}

static strata_attr *cf_attr_slot(cf_case *c)
{
    static strata_attr scratch;
    if (c->n_attrs >= CF_MAX_ATTRS) {
        snprintf(c->setup_error, sizeof c->setup_error, "case has more than %d attrs", CF_MAX_ATTRS);
        return &scratch;
    }
    return &c->attrs[c->n_attrs++];
}

static void cf_attr_int(cf_case *c, const char *name, int64_t v)
{
    *cf_attr_slot(c) = strata_attr_int(name, v);
}

static void cf_attr_float(cf_case *c, const char *name, double v)
{
    *cf_attr_slot(c) = strata_attr_float(name, v);
}

/* @p s must outlive the case (a literal). */
static void cf_attr_string(cf_case *c, const char *name, const char *s)
{
    *cf_attr_slot(c) = strata_attr_string(name, s);
}

static void cf_attr_ints(cf_case *c, const char *name, const int64_t *v, int n)
{
    int slot = c->n_attrs;
    strata_attr *a = cf_attr_slot(c);
    if (slot >= CF_MAX_ATTRS)
        return;
    if (n)
        memcpy(c->attr_ints[slot], v, sizeof(int64_t) * (size_t)n);
    *a = strata_attr_ints(name, c->attr_ints[slot], n);
}

/* Reorders the inputs: new input k is old input order[k]. */
static void cf_reorder(cf_case *c, const int *order)
{
    cf_tensor old[CF_MAX_IN];
    memcpy(old, c->in, sizeof(cf_tensor) * (size_t)c->n_in);
    for (int k = 0; k < c->n_in; k++)
        c->in[k] = old[order[k]];
}

/* "f32(7,13)" */
static const char *cf_shape_str(char *buf, size_t n, int32_t dtype, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "%s(", strata_dtype_name(dtype));
    for (int d = 0; d < ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (len < n)
        snprintf(buf + len, n - len, ")");
    return buf;
}

static size_t cf_attr_str(char *buf, size_t n, const strata_attr *a)
{
    size_t len = 0;
    switch (a->kind) {
    case STRATA_ATTR_INT:
        return (size_t)snprintf(buf, n, "%s=%lld", a->name, (long long)a->i);
    case STRATA_ATTR_FLOAT:
        return (size_t)snprintf(buf, n, "%s=%g", a->name, a->f);
    case STRATA_ATTR_STRING:
        return (size_t)snprintf(buf, n, "%s=%s", a->name, a->s ? a->s : "(null)");
    case STRATA_ATTR_INTS:
        len = (size_t)snprintf(buf, n, "%s=(", a->name);
        for (int k = 0; k < a->n && len < n; k++)
            len += (size_t)snprintf(buf + len, n - len, k ? ",%lld" : "%lld", (long long)a->ints[k]);
        if (len < n)
            len += (size_t)snprintf(buf + len, n - len, ")");
        return len;
    default:
        return (size_t)snprintf(buf, n, "%s=...", a->name);
    }
}

/* "x f32(13,7)->permute dims=(1,0), idx i64(7) | axis=1" */
static const char *cf_describe(const cf_case *c, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < c->n_in && len < n; k++) {
        const cf_tensor *t = &c->in[k];
        char s[96];
        len += (size_t)snprintf(buf + len, n - len, "%s%s %s", k ? ", " : "", t->name,
                                cf_shape_str(s, sizeof s, t->dtype, t->ndim, t->shape));
        if (t->pre_op && len < n) {
            len += (size_t)snprintf(buf + len, n - len, "->%s", t->pre_op + 6);
            for (int j = 0; j < t->n_pre_attrs && len < n; j++) {
                len += (size_t)snprintf(buf + len, n - len, " ");
                if (len < n)
                    len += cf_attr_str(buf + len, n - len, &t->pre_attrs[j]);
            }
        }
    }
    for (int k = 0; k < c->n_attrs && len < n; k++) {
        len += (size_t)snprintf(buf + len, n - len, k ? ", " : (c->n_in ? " | " : ""));
        if (len < n)
            len += cf_attr_str(buf + len, n - len, &c->attrs[k]);
    }
    if (c->set_rng && len < n)
        len += (size_t)snprintf(buf + len, n - len, " | runtime rng (%llu, %llu)", (unsigned long long)c->rng_seed,
                                (unsigned long long)c->rng_offset);
    if (c->note && len < n)
        snprintf(buf + len, n - len, " [%s]", c->note);
    return buf;
}

/* ======================================================================= */
/* Running a case on one device                                             */
/* ======================================================================= */

/* A tensor read back to the host. */
typedef struct cf_buf {
    int present;
    int32_t dtype;
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    int64_t n;
    void *data;
} cf_buf;

typedef struct cf_result {
    strata_status status; /* of the first step that failed, STRATA_OK if none */
    const char *stage;    /* "upload", "forward", "read", "backward" */
    char msg[512];
    int n_out;
    cf_buf out[CF_MAX_OUT];
    cf_buf grad[CF_MAX_IN];
    /* the forward again into provided outputs that start partway into
     * larger buffers (cf_run_offset): its status and message, the outputs,
     * and the first element written outside them (-1: none) */
    strata_status off_status;
    char off_msg[256];
    cf_buf off_out[CF_MAX_OUT];
    int off_spill_out;
    int64_t off_spill_at;
    /* the forward again with output alias_out given as a copy of input
     * alias_in that is also passed as that input (cf_run_alias); -1: no
     * output has an input's dtype and shape */
    int alias_out, alias_in;
    strata_status alias_status;
    char alias_msg[256];
    cf_buf alias_buf;
    /* the forward was for the device's own kernel: one registered, and its supports_op took the call
     * (strata_op_runs_kernel); 0: it ran through a host kernel, a composite or the host fallback */
    int on_kernel;
} cf_result;

static void cf_result_free(cf_result *r)
{
    for (int k = 0; k < CF_MAX_OUT; k++) {
        free(r->out[k].data);
        free(r->off_out[k].data);
    }
    for (int k = 0; k < CF_MAX_IN; k++)
        free(r->grad[k].data);
    free(r->alias_buf.data);
    memset(r, 0, sizeof *r);
}

static void cf_step_failed(cf_result *r, const char *stage, strata_status s)
{
    r->status = s;
    r->stage = stage;
    snprintf(r->msg, sizeof r->msg, "%s", strata_last_error());
}

static strata_status cf_read(const strata_tensor *t, cf_buf *b)
{
    b->dtype = strata_tensor_dtype(t);
    b->ndim = strata_tensor_ndim(t);
    if (b->ndim)
        memcpy(b->shape, strata_tensor_shape(t), sizeof(int64_t) * (size_t)b->ndim);
    b->n = strata_tensor_numel(t);
    size_t bytes = (size_t)b->n * strata_dtype_size(b->dtype);
    b->data = malloc(bytes ? bytes : 1);
    if (!b->data)
        return STRATA_E_NOMEM;
    b->present = 1;
    return strata_tensor_read(t, b->data, bytes);
}

/* L += sum(y .* r) with r uniform in [-1, 1) from @p seed; y on @p dev. */
static strata_status cf_add_loss_term(strata_runtime *rt, strata_device *dev, strata_tensor *y, uint64_t seed,
                                      strata_tensor **loss)
{
    int64_t n = strata_tensor_numel(y);
    float *w = malloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    if (!w)
        return STRATA_E_NOMEM;
    cf_rng r = {seed};
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)cf_range(&r, -1.0, 1.0);
    strata_tensor *wt = NULL, *m = NULL, *s = NULL, *sum = NULL;
    strata_status rc = strata_tensor_from_host(dev, STRATA_F32, strata_tensor_ndim(y), strata_tensor_shape(y), w, &wt);
    free(w);
    if (!rc)
        rc = strata_mul(rt, y, wt, &m);
    if (!rc)
        rc = strata_sum_all(rt, m, &s);
    if (!rc && *loss) {
        rc = strata_add(rt, *loss, s, &sum);
        if (!rc) {
            strata_tensor_release(*loss);
            *loss = sum;
        }
    } else if (!rc) {
        *loss = strata_tensor_retain(s);
    }
    strata_tensor_release(wt);
    strata_tensor_release(m);
    strata_tensor_release(s);
    return rc;
}

/* Runs @p c on @p dev: upload, forward, read outputs, then (if an input
 * requires grad) backward of L and read the gradients. Errors are results,
 * recorded in @p r, not failures of this function. */
/* Elements of padding before and after each provided output in
 * cf_run_offset, and the byte they hold. */
#define CF_OFF_PAD 3
#define CF_OFF_BYTE 0x5a

/* Runs the call of @p inv again, without gradients and from the random
 * state @p seed / @p offset, into outputs provided as views that start
 * CF_OFF_PAD elements into buffers of CF_OFF_BYTE bytes, as a caller
 * writing into a slice of a larger tensor gives them. The backend guide
 * promises kernels a byte_offset for outputs as for inputs: the results
 * must equal the plain call's and nothing outside the views may change.
 * Records what happened in r->off_*; an op that takes no provided outputs
 * (a view op, a composite) fails on ref too and is not held against the
 * backend. */
static void cf_run_offset(strata_runtime *rt, strata_device *dev, strata_op_invocation inv, strata_tensor **out,
                          uint64_t seed, uint64_t offset, cf_result *r)
{
    strata_tensor *big[CF_MAX_OUT] = {0}, *view[CF_MAX_OUT] = {0};
    int prev = strata_set_grad_enabled(rt, 0);
    strata_status s = STRATA_OK;
    r->off_spill_at = -1;
    for (int k = 0; k < inv.n_outputs && !s; k++) {
        const int32_t dt = strata_tensor_dtype(out[k]);
        const int64_t n = strata_tensor_numel(out[k]), len = n + 2 * CF_OFF_PAD;
        const size_t es = strata_dtype_size((strata_dtype)dt);
        unsigned char *fill = malloc((size_t)len * es);
        if (!fill) {
            s = STRATA_E_NOMEM;
            break;
        }
        memset(fill, CF_OFF_BYTE, (size_t)len * es);
        s = strata_tensor_from_host(dev, (strata_dtype)dt, 1, &len, fill, &big[k]);
        free(fill);
        strata_tensor *sl = NULL;
        const strata_attr sa[3] = {strata_attr_int("axis", 0), strata_attr_int("start", CF_OFF_PAD),
                                   strata_attr_int("end", CF_OFF_PAD + n)};
        if (!s)
            s = strata_op_call(rt, "core::slice", &big[k], 1, sa, 3, &sl, 1);
        if (!s) {
            const strata_attr ra = strata_attr_ints("shape", strata_tensor_shape(out[k]), strata_tensor_ndim(out[k]));
            s = strata_op_call(rt, "core::reshape", &sl, 1, &ra, 1, &view[k], 1);
        }
        strata_tensor_release(sl);
    }
    if (!s) {
        strata_runtime_set_rng_state(rt, seed, offset);
        inv.outputs = view;
        inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
        strata_clear_error();
        s = strata_op_invoke(rt, &inv);
    }
    for (int k = 0; k < inv.n_outputs && !s; k++) {
        cf_buf whole = {0};
        s = cf_read(big[k], &whole);
        const size_t es = strata_dtype_size((strata_dtype)whole.dtype);
        const unsigned char *b = whole.data;
        for (int64_t i = 0; !s && r->off_spill_at < 0 && i < whole.n; i++) {
            if (i == CF_OFF_PAD)
                i += whole.n - 2 * CF_OFF_PAD;
            for (size_t j = 0; j < es && r->off_spill_at < 0; j++)
                if (b[(size_t)i * es + j] != CF_OFF_BYTE)
                    r->off_spill_out = k, r->off_spill_at = i;
        }
        if (!s)
            s = cf_read(view[k], &r->off_out[k]);
        free(whole.data);
    }
    r->off_status = s;
    if (s)
        snprintf(r->off_msg, sizeof r->off_msg, "%s", strata_last_error());
    for (int k = 0; k < CF_MAX_OUT; k++) {
        strata_tensor_release(view[k]);
        strata_tensor_release(big[k]);
    }
    strata_set_grad_enabled(rt, prev);
    strata_clear_error();
}

/* Runs the call of @p inv again, without gradients and from the random
 * state @p seed / @p offset, with its first output that has an input's
 * dtype and shape provided as that very input (a copy of it, passed both
 * ways), as a caller computing in place gives it. Only ops flagged
 * STRATA_OP_INPLACE see such aliases; for the others the core runs the
 * kernel into a fresh tensor and copies it over, so the output must be what
 * the plain call gave. Records it in r->alias_*. */
static void cf_run_alias(strata_runtime *rt, strata_device *dev, strata_op_invocation inv, strata_tensor **out,
                         uint64_t seed, uint64_t offset, cf_result *r)
{
    r->alias_out = r->alias_in = -1;
    for (int k = 0; k < inv.n_outputs && r->alias_out < 0; k++)
        for (int j = 0; j < inv.n_inputs && r->alias_out < 0; j++) {
            const strata_tensor *x = inv.inputs[j];
            if (strata_tensor_dtype(x) == strata_tensor_dtype(out[k]) &&
                strata_tensor_ndim(x) == strata_tensor_ndim(out[k]) &&
                !memcmp(strata_tensor_shape(x), strata_tensor_shape(out[k]),
                        sizeof(int64_t) * (size_t)strata_tensor_ndim(x)))
                r->alias_out = k, r->alias_in = j;
        }
    if (r->alias_out < 0)
        return;
    int prev = strata_set_grad_enabled(rt, 0);
    strata_tensor *in[CF_MAX_IN] = {0}, *given[CF_MAX_OUT] = {0};
    for (int j = 0; j < inv.n_inputs; j++)
        in[j] = (strata_tensor *)inv.inputs[j];
    strata_tensor *a = NULL;
    strata_status s = strata_op_call(rt, "core::copy", &in[r->alias_in], 1, NULL, 0, &a, 1);
    for (int k = 0; k < inv.n_outputs && !s; k++)
        s = k == r->alias_out ? (given[k] = strata_tensor_retain(a), STRATA_OK)
                              : strata_op_call(rt, "core::copy", &out[k], 1, NULL, 0, &given[k], 1);
    if (!s) {
        in[r->alias_in] = a;
        strata_runtime_set_rng_state(rt, seed, offset);
        inv.inputs = in;
        inv.outputs = given;
        inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
        strata_clear_error();
        s = strata_op_invoke(rt, &inv);
    }
    if (!s)
        s = cf_read(a, &r->alias_buf);
    r->alias_status = s;
    if (s)
        snprintf(r->alias_msg, sizeof r->alias_msg, "%s", strata_last_error());
    for (int k = 0; k < CF_MAX_OUT; k++)
        strata_tensor_release(given[k]);
    strata_tensor_release(a);
    strata_set_grad_enabled(rt, prev);
    strata_clear_error();
}

static void cf_run(strata_runtime *rt, strata_device *dev, const cf_case *c, cf_result *r)
{
    memset(r, 0, sizeof *r);
    strata_graph *graph = strata_runtime_graph(rt);
    strata_graph_reset(graph);
    int prev = strata_set_grad_enabled(rt, 1);
    strata_tensor *leaf[CF_MAX_IN] = {0}, *in[CF_MAX_IN] = {0}, *out[CF_MAX_OUT] = {0}, *loss = NULL;
    int any_grad = 0;
    strata_status s = STRATA_OK;

    strata_clear_error();
    for (int k = 0; k < c->n_in && !s; k++) {
        const cf_tensor *t = &c->in[k];
        s = strata_tensor_from_host(dev, (strata_dtype)t->dtype, t->ndim, t->shape, t->data, &leaf[k]);
        if (!s && t->grad && c->mode == CF_CALL) {
            s = strata_tensor_set_requires_grad(leaf[k], 1);
            any_grad = 1;
        }
        if (!s && t->pre_op)
            s = strata_op_call(rt, t->pre_op, &leaf[k], 1, t->pre_attrs, t->n_pre_attrs, &in[k], 1);
        else if (!s)
            in[k] = strata_tensor_retain(leaf[k]);
    }
    if (s) {
        cf_step_failed(r, "upload", s);
        goto done;
    }

    if (c->set_rng)
        strata_runtime_set_rng_state(rt, c->rng_seed, c->rng_offset);
    uint64_t rng_seed, rng_offset;
    strata_runtime_rng_state(rt, &rng_seed, &rng_offset);
    r->on_kernel = strata_op_runs_kernel(dev, c->op, c->version, in, c->mode == CF_CREATE ? 0 : c->n_in, c->attrs,
                                         c->n_attrs);
    strata_op_invocation inv = {0};
    strata_clear_error();
    if (c->mode == CF_CREATE) {
        s = strata_op_create(dev, c->op, c->attrs, c->n_attrs, &out[0]);
    } else {
        inv.struct_size = sizeof inv;
        inv.op = c->op;
        inv.version = c->version;
        inv.inputs = in;
        inv.n_inputs = c->n_in;
        inv.attrs = c->attrs;
        inv.n_attrs = c->n_attrs;
        inv.n_outputs = c->n_out;
        inv.outputs = out;
        if (c->mode == CF_INPLACE) {
            /* p, g, slot... in; p, slot... out: the same tensors */
            out[0] = strata_tensor_retain(in[0]);
            for (int k = 1; k < c->n_out; k++)
                out[k] = strata_tensor_retain(in[k + 1]);
            inv.flags = STRATA_INVOKE_OUTPUTS_PROVIDED;
        }
        s = strata_op_invoke(rt, &inv);
    }
    if (s) {
        cf_step_failed(r, "forward", s);
        goto done;
    }
    r->n_out = c->n_out;
    for (int k = 0; k < c->n_out && !s; k++)
        s = cf_read(out[k], &r->out[k]);
    if (s) {
        cf_step_failed(r, "read", s);
        goto done;
    }
    if (c->mode == CF_CALL) {
        cf_run_offset(rt, dev, inv, out, rng_seed, rng_offset, r);
        cf_run_alias(rt, dev, inv, out, rng_seed, rng_offset, r);
    }

    if (any_grad) {
        for (int k = 0; k < c->n_out && !s; k++) {
            int in_loss = c->loss_mask ? (c->loss_mask >> k) & 1u : 1;
            if (in_loss && strata_tensor_dtype(out[k]) == STRATA_F32)
                s = cf_add_loss_term(rt, dev, out[k], c->r_seed + (uint64_t)k, &loss);
        }
        if (!s && loss)
            s = strata_backward(graph, loss);
        for (int k = 0; k < c->n_in && !s; k++) {
            const strata_tensor *gk = c->in[k].grad ? strata_tensor_grad(leaf[k]) : NULL;
            if (gk)
                s = cf_read(gk, &r->grad[k]);
        }
        if (s)
            cf_step_failed(r, "backward", s);
    }

done:
    strata_tensor_release(loss);
    for (int k = 0; k < CF_MAX_OUT; k++)
        strata_tensor_release(out[k]);
    for (int k = 0; k < CF_MAX_IN; k++) {
        strata_tensor_release(in[k]);
        strata_tensor_release(leaf[k]);
    }
    strata_graph_reset(graph);
    strata_set_grad_enabled(rt, prev);
}

/* ======================================================================= */
/* Comparing                                                                */
/* ======================================================================= */

static int64_t cf_ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    int64_t ka = ia < 0 ? (int64_t)INT32_MIN - ia : ia; /* monotonic: -0 and +0 meet at 0 */
    int64_t kb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return ka > kb ? ka - kb : kb - ka;
}

static double cf_elem(const cf_buf *b, int64_t i)
{
    switch (b->dtype) {
    case STRATA_F32:
        return ((const float *)b->data)[i];
    case STRATA_I32:
        return ((const int32_t *)b->data)[i];
    case STRATA_I64:
        return (double)((const int64_t *)b->data)[i];
    case STRATA_F16:
        return strata_f16_to_f32(((const uint16_t *)b->data)[i]);
    case STRATA_BF16:
        return strata_bf16_to_f32(((const uint16_t *)b->data)[i]);
    default:
        return NAN;
    }
}

static double cf_elem_err(double want, double got)
{
    if (isnan(want) && isnan(got))
        return 0.0;
    if (isnan(want) || isnan(got))
        return INFINITY;
    if (want == got)
        return 0.0;
    if (isinf(want) || isinf(got))
        return INFINITY;
    return fabs(got - want) / fmax(1.0, fabs(want));
}

/* "[3,4]" for flat index i of a tensor of shape (ndim, shape). */
static const char *cf_index_str(char *buf, size_t n, int ndim, const int64_t *shape, int64_t i)
{
    int64_t idx[STRATA_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, d ? ",%lld" : "%lld", (long long)idx[d]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
    return buf;
}

/* Compares one tensor; returns 1 if it passes. *max_err grows; @p why gets
 * the first failing element. */
static int cf_compare_buf(const char *what, const cf_buf *want, const cf_buf *got, double tol, int ulps,
                          double *max_err, char *why, size_t n)
{
    char s1[96], s2[96];
    if (want->present != got->present) {
        snprintf(why, n, "%s: %s", what, want->present ? "missing (ref has one)" : "present (ref has none)");
        *max_err = INFINITY;
        return 0;
    }
    if (!want->present)
        return 1;
    int same = want->dtype == got->dtype && want->ndim == got->ndim;
    for (int d = 0; same && d < want->ndim; d++)
        same = want->shape[d] == got->shape[d];
    if (!same) {
        snprintf(why, n, "%s: ref gives %s, got %s", what,
                 cf_shape_str(s1, sizeof s1, want->dtype, want->ndim, want->shape),
                 cf_shape_str(s2, sizeof s2, got->dtype, got->ndim, got->shape));
        *max_err = INFINITY;
        return 0;
    }
    int ok = 1;
    /* f16 and bf16 are storage: the same bits, NaNs and signed zeros included */
    const uint16_t *wh = want->dtype == STRATA_F16 || want->dtype == STRATA_BF16 ? want->data : NULL, *gh = got->data;
    for (int64_t i = 0; i < want->n; i++) {
        double a = cf_elem(want, i), b = cf_elem(got, i);
        double e = wh ? (wh[i] == gh[i] ? 0.0 : INFINITY) : cf_elem_err(a, b);
        int pass = e <= tol;
        if (!pass && ulps && want->dtype == STRATA_F32 && cf_ulps((float)a, (float)b) <= ulps)
            pass = 1;
        if (e > *max_err)
            *max_err = e;
        if (!pass && ok && wh) {
            ok = 0;
            snprintf(why, n, "%s%s: ref 0x%04x (%.9g), got 0x%04x (%.9g): not the same bits", what,
                     cf_index_str(s1, sizeof s1, want->ndim, want->shape, i), wh[i], a, gh[i], b);
        } else if (!pass && ok) {
            ok = 0;
            snprintf(why, n, "%s%s: ref %.9g, got %.9g (rel err %.3g > %s%.3g)", what,
                     cf_index_str(s1, sizeof s1, want->ndim, want->shape, i), a, b, e, ulps ? "1 ulp and " : "", tol);
        }
    }
    return ok;
}

/* ======================================================================= */
/* Generators                                                               */
/* ======================================================================= */

typedef struct cf_recipe cf_recipe;

typedef struct cf_gen {
    cf_rng rng;
    int trial; /* 0-based index among the normal trials; 1000 + k for large trial k */
    int error; /* 0 for a normal trial; k >= 1 for error case k */
    int large; /* a large trial: random shapes grow to CF_LARGE_CAP / 3 .. CF_LARGE_CAP elements */
    strata_runtime *rt;
    strata_device *ref;
} cf_gen;

typedef int (*cf_gen_fn)(cf_gen *g, const cf_recipe *rc, cf_case *c);

/* Generator flags. */
enum {
    CF_G_ZEROS = 1u << 0, /* sprinkle exact zeros (kinks) */
    CF_G_DISTINCT = 1u << 1,
    CF_G_NOGRAD = 1u << 2 /* gen_generic: the op gives no gradient (STRATA_OP_NO_GRAD): its forward alone */
};
#define CF_G_ARITY(n) ((unsigned)(n) << 8)
#define CF_G_ARITY_OF(flags) ((int)((flags) >> 8))

struct cf_recipe {
    const char *op;
    int32_t version;
    cf_gen_fn gen;
    cf_tol fwd, bwd;  /* stated tolerance classes */
    int trials;       /* the fewest normal trials (the fixed ones it has); more when the options ask */
    int errors;       /* error cases after the normal trials */
    const char *path; /* "view" / "composite": how it runs without a kernel */
    double lo, hi;    /* value range of the main input */
    unsigned flags;   /* CF_G_*; gen_generic: the number of inputs, CF_G_ARITY(n) */
};

/* Dims that exercise odd sizes and size-1 dims; larger ones for large trials. */
static const int64_t cf_dims[] = {1, 2, 3, 5, 7, 13, 33};
static const int64_t cf_large_dims[] = {17, 33, 64, 129, 257};

static int64_t cf_dim(cf_gen *g)
{
    if (g->large)
        return cf_large_dims[cf_int(&g->rng, 0, (int64_t)(sizeof cf_large_dims / sizeof cf_large_dims[0]) - 1)];
    return cf_dims[cf_int(&g->rng, 0, (int64_t)(sizeof cf_dims / sizeof cf_dims[0]) - 1)];
}

/* A random shape of @p ndim dims with at most @p max_numel elements. In a
 * large trial the cap is 64 times higher (at most CF_LARGE_CAP) and dims
 * grow (x3, staying odd) until the shape holds a third of the cap. */
static void cf_rand_shape(cf_gen *g, int ndim, int64_t *shape, int64_t max_numel)
{
    int64_t n = 1;
    if (g->large)
        max_numel = max_numel * 64 < CF_LARGE_CAP ? max_numel * 64 : CF_LARGE_CAP;
    for (int d = 0; d < ndim; d++) {
        int64_t v = g->large && cf_int(&g->rng, 0, 3) == 0 ? 1 : cf_dim(g); /* large: a size-1 dim now and then */
        while (v > 1 && n * v > max_numel)
            v = v > 3 ? v / 2 : 1;
        shape[d] = v;
        n *= v;
    }
    for (int guard = 0; g->large && ndim > 0 && n * 3 <= max_numel && n < max_numel / 3 && guard < 64; guard++) {
        int d = (int)cf_int(&g->rng, 0, ndim - 1);
        n = n / shape[d] * (shape[d] * 3);
        shape[d] *= 3;
    }
}

/* Runs @p op on ref with inputs @p idx of the case and appends its output
 * 0 as a new input named @p name (y = f(x) for the backward ops). */
static cf_tensor *cf_eval_ref(cf_gen *g, cf_case *c, const char *op, const int *idx, int n, const strata_attr *attrs,
                              int n_attrs, const char *name)
{
    strata_tensor *in[CF_MAX_IN] = {0}, *y = NULL;
    cf_tensor *t = NULL;
    int prev = strata_set_grad_enabled(g->rt, 0);
    strata_status s = STRATA_OK;
    for (int k = 0; k < n && !s; k++) {
        const cf_tensor *x = &c->in[idx[k]];
        s = strata_tensor_from_host(g->ref, (strata_dtype)x->dtype, x->ndim, x->shape, x->data, &in[k]);
    }
    if (!s)
        s = strata_op_call(g->rt, op, in, n, attrs, n_attrs, &y, 1);
    if (!s) {
        t = cf_in(c, name, strata_tensor_dtype(y), strata_tensor_ndim(y), strata_tensor_shape(y));
        if (t->data)
            s = strata_tensor_read(y, t->data, (size_t)cf_tnumel(t) * strata_dtype_size(t->dtype));
    }
    if (s)
        snprintf(c->setup_error, sizeof c->setup_error, "preparing input %s with %s on ref: %s", name, op,
                 strata_last_error());
    strata_tensor_release(y);
    for (int k = 0; k < n; k++)
        strata_tensor_release(in[k]);
    strata_set_grad_enabled(g->rt, prev);
    return s ? NULL : t;
}

static int cf_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int k = 0; k < n; k++) {
        int ia = na - n + k, ib = nb - n + k;
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        out[k] = da == 1 ? db : da;
    }
    return n;
}

/* An operand of a broadcast: drops some leading dims of @p ys, sets some to 1. */
static int cf_broadcast_operand(cf_gen *g, int yn, const int64_t *ys, int64_t *out)
{
    int drop = cf_int(&g->rng, 0, 2) == 0 ? (int)cf_int(&g->rng, 0, yn) : 0;
    int n = yn - drop;
    for (int d = 0; d < n; d++)
        out[d] = cf_int(&g->rng, 0, 2) == 0 ? 1 : ys[drop + d];
    return n;
}

/* ---- elementwise ---------------------------------------------------------- */

/* add, sub, mul, div: a and b broadcast; both require grad. */
static int gen_binary(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t as[STRATA_MAX_DIMS], bs[STRATA_MAX_DIMS], ys[STRATA_MAX_DIMS];
    int an, bn, permute_b = 0;
    switch (g->trial) {
    case 0:
        an = bn = 2;
        as[0] = bs[0] = 7;
        as[1] = bs[1] = 13;
        break;
    case 1: /* (5,1,13) with (7,1): both stretch */
        an = 3, bn = 2;
        memcpy(as, (int64_t[]){5, 1, 13}, 3 * sizeof(int64_t));
        memcpy(bs, (int64_t[]){7, 1}, 2 * sizeof(int64_t));
        break;
    case 2: /* a vector and a 0-d scalar */
        an = 1, bn = 0;
        as[0] = 33;
        break;
    case 3: /* b is a permuted (strided) view: the core copies it for the kernel */
        an = 3, bn = 2;
        memcpy(as, (int64_t[]){3, 7, 13}, 3 * sizeof(int64_t));
        memcpy(bs, (int64_t[]){13, 7}, 2 * sizeof(int64_t));
        permute_b = 1;
        break;
    case 5: /* a (5,1) stretched along the last dim of b (3,5,13): a's side is the constant one in each row */
        an = 2, bn = 3;
        memcpy(as, (int64_t[]){5, 1}, 2 * sizeof(int64_t));
        memcpy(bs, (int64_t[]){3, 5, 13}, 3 * sizeof(int64_t));
        break;
    default: {
        int yn = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, yn, ys, 2048);
        an = cf_broadcast_operand(g, yn, ys, as);
        bn = cf_broadcast_operand(g, yn, ys, bs);
        if (g->large || cf_int(&g->rng, 0, 1)) /* one side full-size, usually */
            an = yn, memcpy(as, ys, sizeof(int64_t) * (size_t)yn);
        /* large trials 0, 2, ...: both full-size, for a kernel that takes only same shapes (its supports_op
         * declines broadcasts), which a broadcast leaves to the fallback; cf_run_op runs at least two */
        if (g->large && g->trial % 2 == 0)
            bn = yn, memcpy(bs, ys, sizeof(int64_t) * (size_t)yn);
        break;
    }
    }
    cf_tensor *a = cf_in(c, "a", STRATA_F32, an, as);
    cf_tensor *b = cf_in(c, "b", STRATA_F32, bn, bs);
    cf_fill_uniform(&g->rng, a, -2.0, 2.0);
    if (!strcmp(rc->op, "core::div"))
        cf_fill_away(&g->rng, b, 0.5, 2.0);
    else
        cf_fill_uniform(&g->rng, b, -2.0, 2.0);
    a->grad = b->grad = 1;
    int64_t bview[STRATA_MAX_DIMS];
    memcpy(bview, bs, sizeof bview);
    if (permute_b) {
        cf_pre_ints(b, "core::permute", "dims", (int64_t[]){1, 0}, 2);
        bview[0] = bs[1];
        bview[1] = bs[0];
    }
    int yn = cf_broadcast(an, as, bn, bview, ys);
    int64_t ny = cf_numel(yn, ys), na = cf_tnumel(a), nb = cf_tnumel(b);
    c->k_bwd = ny / (na < nb ? na : nb);
    return 0;
}

/* The input of a unary map: shapes by trial, values in [lo, hi]. */
static cf_tensor *unary_input(cf_gen *g, const cf_recipe *rc, cf_case *c, double lo, double hi)
{
    int64_t s[STRATA_MAX_DIMS];
    int n;
    int permute = 0;
    switch (g->trial) {
    case 0:
        n = 2, s[0] = 7, s[1] = 13;
        break;
    case 1:
        n = 1, s[0] = 33;
        break;
    case 2:
        n = 4, memcpy(s, (int64_t[]){1, 5, 1, 7}, 4 * sizeof(int64_t));
        break;
    case 3: /* strided input */
        n = 3, memcpy(s, (int64_t[]){3, 13, 7}, 3 * sizeof(int64_t));
        permute = 1;
        break;
    default:
        n = (int)cf_int(&g->rng, g->large ? 1 : 0, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        break;
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, lo, hi);
    if (rc->flags & CF_G_ZEROS)
        cf_sprinkle_zeros(&g->rng, x);
    if (permute)
        cf_pre_ints(x, "core::permute", "dims", (int64_t[]){2, 0, 1}, 3);
    x->grad = 1;
    return x;
}

static int gen_unary(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    unary_input(g, rc, c, rc->lo, rc->hi);
    return 0;
}

static int gen_leaky_relu(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    unary_input(g, rc, c, rc->lo, rc->hi);
    if (g->trial == 1)
        cf_attr_float(c, "alpha", 0.2);
    else if (g->trial == 2)
        cf_attr_float(c, "alpha", -0.5);
    else if (g->trial >= 3)
        cf_attr_float(c, "alpha", cf_range(&g->rng, 0.0, 0.5));
    return 0; /* trial 0: the default alpha (0.01) */
}

/* Exponents and the ranges where x^e is defined and smooth. */
static const struct {
    double e, lo, hi;
} cf_pow_cases[] = {{2.0, -2.0, 2.0}, {3.0, -2.0, 2.0}, {0.5, 0.2, 3.0},
                    {-1.5, 0.5, 3.0}, {1.7, 0.2, 3.0},  {0.0, -2.0, 2.0}};

static int gen_pow(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    size_t n = sizeof cf_pow_cases / sizeof cf_pow_cases[0];
    size_t k = (size_t)g->trial % n;
    unary_input(g, rc, c, cf_pow_cases[k].lo, cf_pow_cases[k].hi);
    cf_attr_float(c, "exponent", cf_pow_cases[k].e);
    return 0;
}

static int gen_scale(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    unary_input(g, rc, c, rc->lo, rc->hi);
    if (g->trial == 1) {
        cf_attr_float(c, "alpha", 2.5);
    } else if (g->trial == 2) {
        cf_attr_float(c, "alpha", -0.3);
        cf_attr_float(c, "beta", 1.25);
    } else if (g->trial >= 3) {
        cf_attr_float(c, "alpha", cf_range(&g->rng, -3.0, 3.0));
        cf_attr_float(c, "beta", cf_range(&g->rng, -3.0, 3.0));
    }
    return 0;
}

/* f32 values where f16 and bf16 rounding is decided: NaNs (one
 * signalling), infinities, signed zeros, the largest f16 and the halfway
 * point past it, f16 subnormals and their ties, ties to even just above 1
 * for both formats, bf16's overflow past its largest value, an f32
 * subnormal. */
static const uint32_t cf_cast_specials[] = {
    0x7FC00000u, /* NaN */
    0xFFC00001u, /* -NaN with a payload */
    0x7F800001u, /* a signalling NaN */
    0x7F800000u, /* inf */
    0xFF800000u, /* -inf */
    0x00000000u, /* 0 */
    0x80000000u, /* -0 */
    0x477FE000u, /* 65504, the largest f16 */
    0x477FEFFFu, /* just below 65520: 65504 */
    0x477FF000u, /* 65520, halfway past it: inf */
    0xC77FF000u, /* -65520: -inf */
    0x33000000u, /* 2^-25: a tie, to 0 */
    0x33C00000u, /* 3 * 2^-25: a tie, to 2^-23 */
    0x33800000u, /* 2^-24, the least f16 subnormal */
    0x387FE000u, /* just below 2^-14: a subnormal */
    0x38800000u, /* 2^-14, the least f16 normal */
    0x3F801000u, /* 1 + 2^-11: a tie, to 1 */
    0x3F803000u, /* 1 + 3 * 2^-11: a tie, to 1 + 2^-9 */
    0x3F808000u, /* 1 + 2^-8: a bf16 tie, to 1 */
    0x3F818000u, /* 1 + 3 * 2^-8: a bf16 tie, to 1 + 2^-6 */
    0x7F7FFFFFu, /* FLT_MAX: bf16 inf */
    0x7F7F7FFFu, /* just below bf16's halfway: its largest value */
    0x000B5E62u, /* an f32 subnormal */
    0x80000001u, /* the least negative f32 subnormal */
};

/* core::cast: trials 0-7 each pair of f32, f16 and bf16 that differ and
 * f32 and f16 to themselves (shape (7, 13), the special values first),
 * then random pairs and shapes. f16 and bf16
 * inputs are random bit patterns (NaNs and infinities among them); f32
 * inputs span exponents 2^-30 .. 2^20. Gradients flow only for f32 to f32. */
static int gen_cast(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    (void)rc;
    static const int32_t pairs[][2] = {{STRATA_F32, STRATA_F16},  {STRATA_F32, STRATA_BF16}, {STRATA_F16, STRATA_F32},
                                       {STRATA_BF16, STRATA_F32}, {STRATA_F16, STRATA_BF16}, {STRATA_BF16, STRATA_F16},
                                       {STRATA_F32, STRATA_F32},  {STRATA_F16, STRATA_F16}};
    const int n_fixed = 8, n_pairs = (int)(sizeof pairs / sizeof pairs[0]);
    const int p = g->trial < n_fixed ? g->trial : (int)cf_int(&g->rng, 0, n_pairs - 1);
    int64_t s[STRATA_MAX_DIMS] = {7, 13};
    int nd = 2;
    if (g->trial >= n_fixed) {
        nd = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, nd, s, CF_MAX_NUMEL);
    }
    cf_tensor *x = cf_in(c, "x", pairs[p][0], nd, s);
    cf_attr_int(c, "dtype", pairs[p][1]);
    if (!x->data)
        return 0;
    const int64_t n = cf_tnumel(x);
    for (int64_t i = 0; i < n; i++) {
        if (x->dtype != STRATA_F32) {
            ((uint16_t *)x->data)[i] = (uint16_t)cf_int(&g->rng, 0, 0xFFFF);
            continue;
        }
        const size_t n_sp = sizeof cf_cast_specials / sizeof cf_cast_specials[0];
        cf_f32(x)[i] = (size_t)i < n_sp ? strata_bits_f32_(cf_cast_specials[i])
                                        : (float)ldexp(cf_range(&g->rng, -2.0, 2.0), (int)cf_int(&g->rng, -30, 20));
    }
    x->grad = x->dtype == STRATA_F32 && pairs[p][1] == STRATA_F32;
    if (g->error == 1) {
        c->attrs[0] = strata_attr_int("dtype", STRATA_I32);
        c->expect = STRATA_E_DTYPE;
        c->note = "dtype i32 must fail";
    }
    return 0;
}

/* Every fn eltwise_backward accepts, with a valid range for x. */
static const struct {
    const char *fn;
    double lo, hi;
    int zeros;
    int has_attrs;
    double alpha, exponent;
} cf_eb_cases[] = {
    {"exp", -3, 3, 0, 1, 0.01, 1.0},     {"log", 0.1, 4, 0, 1, 0.01, 1.0}, {"sqrt", 0.1, 4, 0, 1, 0.01, 1.0},
    {"abs", -2, 2, 1, 1, 0.01, 1.0},     {"relu", -2, 2, 1, 1, 0.01, 1.0}, {"leaky_relu", -2, 2, 1, 1, 0.1, 1.0},
    {"sigmoid", -6, 6, 0, 1, 0.01, 1.0}, {"tanh", -4, 4, 0, 1, 0.01, 1.0}, {"gelu", -4, 4, 0, 1, 0.01, 1.0},
    {"pow", 0.2, 3, 0, 1, 0.01, 2.5},    {"pow", -2, 2, 0, 1, 0.01, 3.0},  {"leaky_relu", -2, 2, 1, 0, 0.01, 1.0},
};
#define CF_EB_CASES ((int)(sizeof cf_eb_cases / sizeof cf_eb_cases[0]))

/* dx = dy * f'(x), with y = f(x) computed by ref (a backend may use y). */
static int gen_eltwise_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int k = g->trial % CF_EB_CASES;
    int64_t s[STRATA_MAX_DIMS];
    int n = 2;
    if (g->large || g->trial >= CF_EB_CASES) /* every fn once more, past the threading threshold */
        s[0] = 129, s[1] = 513;
    else
        s[0] = 7, s[1] = 13;
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, cf_eb_cases[k].lo, cf_eb_cases[k].hi);
    if (cf_eb_cases[k].zeros)
        cf_sprinkle_zeros(&g->rng, x);
    cf_attr_string(c, "fn", cf_eb_cases[k].fn);
    if (cf_eb_cases[k].has_attrs) {
        cf_attr_float(c, "alpha", cf_eb_cases[k].alpha);
        cf_attr_float(c, "exponent", cf_eb_cases[k].exponent);
    }
    char op[64];
    snprintf(op, sizeof op, "core::%s", cf_eb_cases[k].fn);
    /* the forward op takes its own attribute only (core ops refuse the others) */
    const strata_attr *fwd = NULL;
    if (cf_eb_cases[k].has_attrs && !strcmp(cf_eb_cases[k].fn, "leaky_relu"))
        fwd = &c->attrs[1];
    if (cf_eb_cases[k].has_attrs && !strcmp(cf_eb_cases[k].fn, "pow"))
        fwd = &c->attrs[2];
    if (!cf_eval_ref(g, c, op, (int[]){0}, 1, fwd, fwd ? 1 : 0, "y"))
        return -1;
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_reorder(c, (int[]){2, 0, 1}); /* dy, x, y */
    return 0;
}

/* ---- linear algebra -------------------------------------------------------- */

static int gen_matmul(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t as[STRATA_MAX_DIMS], bs[STRATA_MAX_DIMS];
    int an, bn, ta = 0, tb = 0;
    int64_t M, K, N;
    switch (g->trial) {
    case 0:
        M = 7, K = 13, N = 33;
        an = bn = 2;
        break;
    case 1: /* a stored (K, M) */
        M = 7, K = 13, N = 5, ta = 1;
        an = bn = 2;
        break;
    case 2: /* batched a, shared 2-D b stored (N, K) */
        M = 7, K = 13, N = 5, tb = 1;
        an = 3, bn = 2, as[0] = 3;
        break;
    case 3: /* both transposed; batch dims broadcast: (2,1) with (3) */
        M = 7, K = 33, N = 5, ta = tb = 1;
        an = 4, bn = 3, as[0] = 2, as[1] = 1, bs[0] = 3;
        break;
    case 4: /* a row times a long K */
        M = 1, K = 200, N = 3;
        an = bn = 2;
        break;
    default:
        if (g->large) { /* past GEMM-library thresholds: 2 x 129 x 257 x 65 multiply-adds */
            M = 129, K = 257, N = 65, ta = (int)cf_int(&g->rng, 0, 1), tb = (int)cf_int(&g->rng, 0, 1);
            an = 3, bn = 2, as[0] = 2;
            break;
        }
        M = cf_dim(g), K = cf_dim(g), N = cf_dim(g);
        ta = (int)cf_int(&g->rng, 0, 1), tb = (int)cf_int(&g->rng, 0, 1);
        an = (int)cf_int(&g->rng, 2, 4), bn = (int)cf_int(&g->rng, 2, 4);
        for (int d = 0; d < an - 2; d++)
            as[d] = cf_int(&g->rng, 1, 3);
        for (int d = 0; d < bn - 2; d++) /* broadcast against a: 1 or a's dim */
            bs[d] = an - 2 - (bn - 2) + d >= 0 && cf_int(&g->rng, 0, 1) ? as[an - 2 - (bn - 2) + d] : 1;
        break;
    }
    as[an - 2] = ta ? K : M, as[an - 1] = ta ? M : K;
    bs[bn - 2] = tb ? N : K, bs[bn - 1] = tb ? K : N;
    cf_tensor *a = cf_in(c, "a", STRATA_F32, an, as);
    cf_tensor *b = cf_in(c, "b", STRATA_F32, bn, bs);
    cf_fill_uniform(&g->rng, a, -1.0, 1.0);
    cf_fill_uniform(&g->rng, b, -1.0, 1.0);
    a->grad = b->grad = 1;
    cf_attr_int(c, "trans_a", ta);
    cf_attr_int(c, "trans_b", tb);
    int64_t batch[STRATA_MAX_DIMS];
    int nb = cf_broadcast(an - 2, as, bn - 2, bs, batch);
    c->k_fwd = K;
    c->k_bwd = (M > N ? M : N) * cf_numel(nb, batch);
    return 0;
}

static int gen_linear(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t xs[STRATA_MAX_DIMS];
    int xn, bias = 1;
    int64_t IN, OUT;
    switch (g->trial) {
    case 0:
        xn = 2, xs[0] = 7, IN = 13, OUT = 5;
        break;
    case 1:
        xn = 3, xs[0] = 2, xs[1] = 3, IN = 13, OUT = 33, bias = 0;
        break;
    case 2: /* one example, no batch dim */
        xn = 1, IN = 13, OUT = 7;
        break;
    case 3:
        xn = 2, xs[0] = 1, IN = 1, OUT = 1;
        break;
    case 4: /* no input features: y is the bias (opencl refused it, counting rows as numel / 0) */
        xn = 2, xs[0] = 3, IN = 0, OUT = 4;
        break;
    default:
        if (g->large) { /* 132 rows x 257 in x 129 out */
            xn = 3, xs[0] = 4, xs[1] = 33, IN = 257, OUT = 129;
            break;
        }
        xn = (int)cf_int(&g->rng, 1, 3);
        cf_rand_shape(g, xn - 1, xs, 64);
        IN = cf_dim(g), OUT = cf_dim(g), bias = (int)cf_int(&g->rng, 0, 1);
        break;
    }
    xs[xn - 1] = IN;
    cf_tensor *x = cf_in(c, "x", STRATA_F32, xn, xs);
    cf_tensor *w = cf_in(c, "w", STRATA_F32, 2, (int64_t[]){OUT, IN});
    cf_fill_uniform(&g->rng, x, -1.0, 1.0);
    cf_fill_uniform(&g->rng, w, -1.0, 1.0);
    x->grad = w->grad = 1;
    if (bias) {
        cf_tensor *b = cf_in(c, "b", STRATA_F32, 1, (int64_t[]){OUT});
        cf_fill_uniform(&g->rng, b, -1.0, 1.0);
        b->grad = 1;
    }
    int64_t rows = cf_numel(xn - 1, xs);
    c->k_fwd = IN;
    c->k_bwd = OUT > rows ? OUT : rows;
    return 0;
}

/* ---- reductions ------------------------------------------------------------- */

/* A random shape for reductions: trial-specific, then random rank 1..4. */
static int reduce_shape(cf_gen *g, int64_t *s)
{
    switch (g->trial) {
    case 0:
        s[0] = 7, s[1] = 13;
        return 2;
    case 1:
        s[0] = 5, s[1] = 1, s[2] = 33;
        return 3;
    case 2:
        s[0] = 2, s[1] = 3, s[2] = 5, s[3] = 7;
        return 4;
    default: {
        int n = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        return n;
    }
    }
}

/* attrs axes/keepdim by trial; returns the number of reduced elements per output. */
static int64_t reduce_attrs(cf_gen *g, cf_case *c, int n, const int64_t *s)
{
    int64_t axes[STRATA_MAX_DIMS] = {0};
    int na = 0, keep = -1;
    switch (g->trial) {
    case 0: /* absent: every axis */
        return cf_numel(n, s);
    case 1:
        axes[na++] = -1;
        break;
    case 2:
        axes[na++] = 0, axes[na++] = 2, keep = 1;
        break;
    case 3: /* empty list: every axis */
        cf_attr_ints(c, "axes", axes, 0);
        cf_attr_int(c, "keepdim", 1);
        return cf_numel(n, s);
    default:
        for (int d = 0; d < n; d++)
            if (cf_int(&g->rng, 0, 1))
                axes[na++] = cf_int(&g->rng, 0, 1) ? d : d - n;
        if (!na)
            axes[na++] = n - 1;
        keep = (int)cf_int(&g->rng, 0, 1);
        break;
    }
    cf_attr_ints(c, "axes", axes, na);
    if (keep >= 0)
        cf_attr_int(c, "keepdim", keep);
    int64_t k = 1;
    for (int j = 0; j < na; j++)
        k *= s[axes[j] < 0 ? axes[j] + n : axes[j]];
    return k;
}

/* sum, mean, max. The first large trial sums 3 long rows (a backend may
 * split each row over many blocks: cuda's cuda_k_reduce_split, in parts of
 * unequal length); the others are random. */
static int gen_reduce(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    if (g->trial == 1000) {
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 2, (int64_t[]){3, 21001});
        cf_fill_uniform(&g->rng, x, -2.0, 2.0);
        x->grad = 1;
        cf_attr_ints(c, "axes", (int64_t[]){1}, 1);
        c->k_fwd = 21001;
        return 0;
    }
    if (g->trial == 4) { /* a conv bias's gradient: (N, H*W) reduced per channel, longer than a work-group */
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 4, (int64_t[]){5, 3, 13, 11});
        cf_fill_uniform(&g->rng, x, -2.0, 2.0);
        x->grad = 1;
        cf_attr_ints(c, "axes", (int64_t[]){0, 2, 3}, 3);
        c->k_fwd = 5 * 13 * 11;
        return 0;
    }
    if (g->trial == 5) { /* kept dims 6 and 5 on either side of a reduced dim of size 1: one kept walk of 30 */
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 5, (int64_t[]){4, 1, 6, 1, 5});
        cf_fill_uniform(&g->rng, x, -2.0, 2.0);
        x->grad = 1;
        cf_attr_ints(c, "axes", (int64_t[]){0, 1, 3}, 3);
        c->k_fwd = 4;
        return 0;
    }
    if (g->trial == 6) { /* a middle dim reduced, kept dims on either side: column sums per outer slab */
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 3, (int64_t[]){5, 7, 13});
        if (rc->flags & CF_G_DISTINCT)
            cf_fill_distinct(&g->rng, x);
        else
            cf_fill_uniform(&g->rng, x, -2.0, 2.0);
        x->grad = 1;
        cf_attr_ints(c, "axes", (int64_t[]){1}, 1);
        cf_attr_int(c, "keepdim", 1);
        c->k_fwd = 7;
        return 0;
    }
    if (g->trial == 7 && (rc->flags & CF_G_DISTINCT)) { /* max: a NaN wins its row (the first NaN), as ref's */
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 2, (int64_t[]){6, 37});
        cf_fill_distinct(&g->rng, x);
        if (x->data) {
            float *v = cf_f32(x);
            v[1 * 37 + 5] = NAN; /* row 1: one NaN among numbers */
            v[3 * 37 + 20] = v[3 * 37 + 30] = NAN; /* row 3: two, the first wins */
            v[4 * 37 + 36] = NAN; /* row 4: the last element */
        }
        x->grad = 1;
        cf_attr_ints(c, "axes", (int64_t[]){1}, 1);
        c->k_fwd = 37;
        c->note = "NaN wins";
        return 0;
    }
    int n = reduce_shape(g, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    if (rc->flags & CF_G_DISTINCT)
        cf_fill_distinct(&g->rng, x);
    else
        cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    c->k_fwd = reduce_attrs(g, c, n, s);
    return 0;
}

static int gen_argmax(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    int n = reduce_shape(g, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    if (g->trial == 4) {
        cf_fill_ties(&g->rng, x);
        c->note = "ties: the first maximum wins";
    } else {
        cf_fill_distinct(&g->rng, x);
    }
    if (g->trial == 1)
        cf_attr_int(c, "axis", 0);
    else if (g->trial == 2)
        cf_attr_int(c, "axis", 1), cf_attr_int(c, "keepdim", 1);
    else if (g->trial >= 3)
        cf_attr_int(c, "axis", cf_int(&g->rng, -n, n - 1)), cf_attr_int(c, "keepdim", cf_int(&g->rng, 0, 1));
    return 0;
}

/* dx = dy at the first maximum of each group; y = max(x) from ref. Trial 5
 * has ties in groups that are not contiguous (axes 0 and 2 of (2,3,5,7)). */
static int gen_max_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    int n = 4;
    if (g->trial == 5)
        memcpy(s, (int64_t[]){2, 3, 5, 7}, 4 * sizeof(int64_t));
    else
        n = reduce_shape(g, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    if (g->trial >= 3) {
        cf_fill_ties(&g->rng, x);
        c->note = "ties: the gradient goes to the first maximum";
    } else {
        cf_fill_distinct(&g->rng, x);
    }
    if (g->trial == 5)
        cf_attr_ints(c, "axes", (int64_t[]){0, 2}, 2);
    else
        reduce_attrs(g, c, n, s);
    cf_tensor *y = cf_eval_ref(g, c, "core::max", (int[]){0}, 1, c->attrs, c->n_attrs, "y");
    if (!y)
        return -1;
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, y->ndim, y->shape);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_reorder(c, (int[]){2, 0, 1}); /* dy, x, y */
    return 0;
}

static int gen_sum_to_shape(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t xs[STRATA_MAX_DIMS], ts[STRATA_MAX_DIMS];
    int xn, tn;
    switch (g->trial) {
    case 0:
        xn = 2, xs[0] = 7, xs[1] = 13, tn = 1, ts[0] = 13;
        break;
    case 1:
        xn = 3, memcpy(xs, (int64_t[]){5, 7, 13}, 3 * sizeof(int64_t));
        tn = 3, memcpy(ts, (int64_t[]){5, 1, 13}, 3 * sizeof(int64_t));
        break;
    case 2:
        xn = 1, xs[0] = 33, tn = 1, ts[0] = 1;
        break;
    case 3: /* down to a 0-d scalar */
        xn = 3, memcpy(xs, (int64_t[]){2, 3, 5}, 3 * sizeof(int64_t));
        tn = 0;
        break;
    case 4: /* a conv bias's gradient */
        xn = 4, memcpy(xs, (int64_t[]){5, 3, 13, 11}, 4 * sizeof(int64_t));
        tn = 3, memcpy(ts, (int64_t[]){3, 1, 1}, 3 * sizeof(int64_t));
        break;
    case 1000: /* a bias's gradient over many rows: few long, strided groups (see reduce_shape) */
        xn = 2, xs[0] = 21001, xs[1] = 3, tn = 1, ts[0] = 3;
        break;
    default:
        xn = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, xn, xs, CF_MAX_NUMEL);
        tn = cf_broadcast_operand(g, xn, xs, ts);
        break;
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, xn, xs);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    cf_attr_ints(c, "shape", ts, tn);
    int64_t nt = cf_numel(tn, ts);
    c->k_fwd = cf_tnumel(x) / (nt ? nt : 1);
    return 0;
}

/* ---- softmax family ------------------------------------------------------------ */

/* Shape and attr axis; returns the length of the axis. */
static int64_t softmax_setup(cf_gen *g, cf_case *c, int *n, int64_t *s)
{
    if (g->trial == 5) { /* 150 positions after the axis: more than one 128-wide block of cpu's strided loops */
        *n = 3, s[0] = 2, s[1] = 3, s[2] = 150;
        cf_attr_int(c, "axis", 1);
        return s[1];
    }
    *n = reduce_shape(g, s);
    int64_t axis = -1;
    if (g->trial == 1)
        axis = 0;
    else if (g->trial == 2)
        axis = -2;
    else if (g->trial >= 3)
        axis = cf_int(&g->rng, -*n, *n - 1);
    if (g->trial != 0)
        cf_attr_int(c, "axis", axis);
    return s[axis < 0 ? axis + *n : axis];
}

static int gen_softmax(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int n;
    int64_t s[STRATA_MAX_DIMS];
    int64_t k = softmax_setup(g, c, &n, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    if (g->trial == 4) {
        cf_fill_uniform(&g->rng, x, 100.0, 300.0); /* exp overflows f32 past 88.7 */
        c->note = "large logits: needs the max subtracted";
    } else {
        cf_fill_uniform(&g->rng, x, -4.0, 4.0);
    }
    x->grad = 1;
    c->k_fwd = c->k_bwd = k;
    return 0;
}

/* softmax_backward / log_softmax_backward: inputs dy, y with y from ref. */
static int gen_softmax_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int n;
    int64_t s[STRATA_MAX_DIMS];
    c->k_fwd = softmax_setup(g, c, &n, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -4.0, 4.0);
    const char *fwd = strstr(rc->op, "log_softmax") ? "core::log_softmax" : "core::softmax";
    if (!cf_eval_ref(g, c, fwd, (int[]){0}, 1, c->attrs, c->n_attrs, "y"))
        return -1;
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_reorder(c, (int[]){2, 1, 0}); /* dy, y, x: x only made y */
    free(c->in[2].data);
    c->n_in = 2;
    return 0;
}

/* ---- losses ------------------------------------------------------------------------ */

static const char *cf_reductions[] = {NULL, "sum", "none", "mean"};

/* By trial; trial 5 is "none" again, for cross_entropy with several classes
 * (its trial 2 has one class: every loss and gradient is 0). */
static const char *loss_reduction(cf_gen *g, cf_case *c)
{
    const char *r = g->trial == 5 ? "none" : cf_reductions[g->trial % 4];
    if (g->error)
        r = g->error == 2 ? "none" : "mean";
    if (r)
        cf_attr_string(c, "reduction", r);
    return r ? r : "mean";
}

/* logits (N, C) and labels (N); error case 1: a label of C, 2: a label of -1. */
static int ce_inputs(cf_gen *g, cf_case *c, int64_t *N, int64_t *C)
{
    switch (g->trial) {
    case 0:
        *N = 7, *C = 13;
        break;
    case 1:
        *N = 33, *C = 5;
        break;
    case 2: /* one class: the loss is 0 and the gradient 0 */
        *N = 5, *C = 1;
        break;
    case 3:
        *N = 13, *C = 33;
        break;
    case 4: /* large logits (below), at least 5 classes */
        *N = cf_dim(g), *C = 4 + cf_dim(g);
        break;
    case 5: /* reduction "none": a loss and a dy per row */
        *N = 9, *C = 7;
        break;
    default:
        *N = g->large ? 513 : cf_dim(g), *C = cf_dim(g);
        break;
    }
    if (g->error == 3) /* no classes: every label is out of range, though there is nothing to compute */
        *N = 4, *C = 0;
    cf_tensor *l = cf_in(c, "logits", STRATA_F32, 2, (int64_t[]){*N, *C});
    cf_tensor *t = cf_in(c, "labels", (g->trial + g->error) % 2 ? STRATA_I32 : STRATA_I64, 1, (int64_t[]){*N});
    if (g->trial == 4) { /* exp overflows f32 past 88.7: the row's max (not any logit) must be subtracted */
        cf_fill_uniform(&g->rng, l, 100.0, 300.0);
        c->note = "large logits: needs the max subtracted";
    } else {
        cf_fill_uniform(&g->rng, l, -4.0, 4.0);
    }
    if (g->error == 3) { /* the labels stay 0 */
        c->note = "labels into (N, 0) logits must fail";
        c->expect = STRATA_E_INVALID;
        return 0;
    }
    cf_fill_index(&g->rng, t, 0, *C - 1);
    if (g->error && t->data) {
        int64_t row = cf_int(&g->rng, 0, *N - 1);
        cf_set_index(t, row, g->error == 1 ? *C : -1);
        c->note = g->error == 1 ? "label == C must fail" : "label == -1 must fail";
        c->expect = STRATA_E_INVALID;
    }
    return 0;
}

static int gen_cross_entropy(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t N, C;
    loss_reduction(g, c);
    ce_inputs(g, c, &N, &C);
    c->in[0].grad = 1;
    c->k_fwd = N * C;
    c->k_bwd = C;
    return 0;
}

static int gen_cross_entropy_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t N, C;
    const char *red = loss_reduction(g, c);
    ce_inputs(g, c, &N, &C);
    int none = !strcmp(red, "none");
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, none ? 1 : 0, &N);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_reorder(c, (int[]){2, 0, 1}); /* dy, logits, labels */
    c->k_fwd = C;
    return 0;
}

/* mse and bce_with_logits: x, t of one shape; both require grad. */
static int gen_pairwise_loss(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    int n = reduce_shape(g, s);
    loss_reduction(g, c);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_tensor *t = cf_in(c, "t", STRATA_F32, n, s);
    int bce = !strcmp(rc->op, "core::bce_with_logits");
    if (bce && g->trial == 4) { /* exp(-x) overflows even double below -709: log1p(exp(-|x|)) does not */
        cf_fill_uniform(&g->rng, x, -800.0, 800.0);
        c->note = "logits of up to 800 in magnitude";
    } else {
        cf_fill_uniform(&g->rng, x, -4.0, 4.0);
    }
    if (bce)
        cf_fill_uniform(&g->rng, t, 0.0, 1.0);
    else
        cf_fill_uniform(&g->rng, t, -4.0, 4.0);
    x->grad = t->grad = 1;
    c->k_fwd = cf_tnumel(x);
    return 0;
}

static int gen_bce_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    int n = reduce_shape(g, s);
    const char *red = loss_reduction(g, c);
    int none = !strcmp(red, "none");
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, none ? n : 0, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_tensor *t = cf_in(c, "t", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_fill_uniform(&g->rng, x, -4.0, 4.0);
    cf_fill_uniform(&g->rng, t, 0.0, 1.0);
    return 0;
}

/* ---- shapes -------------------------------------------------------------------------- */

static int gen_reshape(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], t[STRATA_MAX_DIMS];
    int n, tn;
    cf_tensor *x;
    switch (g->trial) {
    case 0: /* flatten */
        n = 2, s[0] = 7, s[1] = 13, tn = 1, t[0] = 91;
        break;
    case 1: /* -1 infers */
        n = 3, s[0] = 5, s[1] = 3, s[2] = 7, tn = 2, t[0] = -1, t[1] = 7;
        break;
    case 2: /* size-1 dims added */
        n = 2, s[0] = 13, s[1] = 3, tn = 3, t[0] = 1, t[1] = 39, t[2] = 1;
        break;
    case 3: /* a strided input: the core copies it first */
        n = 2, s[0] = 13, s[1] = 7, tn = 1, t[0] = -1;
        break;
    default: /* the shape reversed */
        n = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        tn = n;
        for (int d = 0; d < n; d++)
            t[d] = s[n - 1 - d];
        break;
    }
    x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    if (g->trial == 3)
        cf_pre_ints(x, "core::permute", "dims", (int64_t[]){1, 0}, 2);
    cf_attr_ints(c, "shape", t, tn);
    return 0;
}

static int gen_permute(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], dims[STRATA_MAX_DIMS];
    int n;
    if (g->trial == 0) {
        n = 2, s[0] = 7, s[1] = 13, dims[0] = 1, dims[1] = 0;
    } else {
        n = (int)cf_int(&g->rng, 2, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        for (int d = 0; d < n; d++)
            dims[d] = d;
        for (int d = n - 1; d > 0; d--) {
            int64_t j = cf_int(&g->rng, 0, d), v = dims[d];
            dims[d] = dims[j];
            dims[j] = v;
        }
        if (g->trial == 2) /* negative entries count from the end */
            for (int d = 0; d < n; d++)
                dims[d] -= n;
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    cf_attr_ints(c, "dims", dims, n);
    return 0;
}

/* Slice parameters by trial for a dim of length @p len (>= 7). */
static void slice_params(cf_gen *g, int64_t len, int64_t *start, int64_t *end, int64_t *step)
{
    switch (g->trial) {
    case 0:
        *start = 1, *end = 5, *step = 1;
        break;
    case 1: /* negative start, end to the end */
        *start = -5, *end = len, *step = 1;
        break;
    case 2: /* end past the dim: clamped */
        *start = 0, *end = 1000, *step = 2;
        break;
    case 3:
        *start = 2, *end = -1, *step = 3;
        break;
    default:
        *start = cf_int(&g->rng, -len, len - 1);
        *end = cf_int(&g->rng, 0, 1) ? cf_int(&g->rng, -len, len + 3) : len;
        *step = cf_int(&g->rng, 1, 3);
        {
            int64_t s0 = *start < 0 ? *start + len : *start, e0 = *end < 0 ? *end + len : *end;
            if (e0 > len)
                e0 = len;
            if (e0 <= s0) /* keep it non-empty */
                *start = 0, *end = len;
        }
        break;
    }
}

static int slice_shape(cf_gen *g, int64_t *s, int *axis)
{
    int n = (int)cf_int(&g->rng, g->large ? 2 : 1, 3);
    cf_rand_shape(g, n, s, 512);
    *axis = (int)cf_int(&g->rng, 0, n - 1);
    s[*axis] = cf_int(&g->rng, 0, 1) ? 13 : 7;
    if (g->trial == 3) /* 2:-1:3 of 7: two rows, one step apart */
        s[*axis] = 7;
    return n;
}

static int gen_slice(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], start, end, step;
    int axis;
    int n = slice_shape(g, s, &axis);
    slice_params(g, s[axis], &start, &end, &step);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    cf_attr_int(c, "axis", g->trial == 1 ? axis - n : axis);
    cf_attr_int(c, "start", start);
    cf_attr_int(c, "end", end);
    if (g->trial != 0)
        cf_attr_int(c, "step", step);
    return 0;
}

static int gen_slice_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], start, end, step;
    int axis;
    int n = slice_shape(g, s, &axis);
    slice_params(g, s[axis], &start, &end, &step);
    int64_t len = s[axis];
    int64_t b = start < 0 ? start + len : start, e = end < 0 ? end + len : end;
    b = b < 0 ? 0 : b > len ? len : b;
    e = e < 0 ? 0 : e > len ? len : e;
    int64_t ds[STRATA_MAX_DIMS];
    memcpy(ds, s, sizeof ds);
    ds[axis] = e > b ? (e - b + step - 1) / step : 0;
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, n, ds);
    cf_fill_uniform(&g->rng, dy, -2.0, 2.0);
    cf_attr_ints(c, "shape", s, n);
    cf_attr_int(c, "axis", axis);
    cf_attr_int(c, "start", start);
    cf_attr_int(c, "end", end);
    cf_attr_int(c, "step", step);
    return 0;
}

static int gen_expand(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], t[STRATA_MAX_DIMS];
    int n, tn;
    switch (g->trial) {
    case 0:
        n = 2, s[0] = 7, s[1] = 1, tn = 2, t[0] = 7, t[1] = 13;
        break;
    case 1: /* new leading dim */
        n = 1, s[0] = 1, tn = 2, t[0] = 5, t[1] = 33;
        break;
    case 2: /* -1 keeps a dim */
        n = 3, s[0] = 3, s[1] = 1, s[2] = 5, tn = 4;
        memcpy(t, (int64_t[]){2, -1, 7, -1}, 4 * sizeof(int64_t));
        break;
    case 3: /* from a 0-d scalar */
        n = 0, tn = 2, t[0] = 3, t[1] = 7;
        break;
    default: {
        tn = (int)cf_int(&g->rng, 1, 4);
        int64_t full[STRATA_MAX_DIMS];
        cf_rand_shape(g, tn, full, CF_MAX_NUMEL);
        n = cf_broadcast_operand(g, tn, full, s);
        for (int d = 0; d < tn; d++) {
            int sd = d - (tn - n);
            t[d] = sd >= 0 && s[sd] == full[d] && cf_int(&g->rng, 0, 1) ? -1 : full[d];
        }
        break;
    }
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    cf_attr_ints(c, "shape", t, tn);
    int64_t full = 1;
    for (int d = 0; d < tn; d++) {
        int sd = d - (tn - n);
        full *= t[d] == -1 ? s[sd] : t[d];
    }
    c->k_bwd = full / (cf_tnumel(x) ? cf_tnumel(x) : 1);
    return 0;
}

/* copy reads any strides: plain, permuted, stepped slice, stride 0 (expand), 4- and 8-byte ints. */
static int gen_copy(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_tensor *x;
    switch (g->trial) {
    case 0:
        x = cf_in(c, "x", STRATA_F32, 2, (int64_t[]){7, 13});
        break;
    case 1:
        x = cf_in(c, "x", STRATA_F32, 3, (int64_t[]){2, 3, 5});
        cf_pre_ints(x, "core::permute", "dims", (int64_t[]){2, 0, 1}, 3);
        break;
    case 2:
        x = cf_in(c, "x", STRATA_F32, 2, (int64_t[]){5, 13});
        cf_pre_slice(x, 1, 1, 12, 2);
        break;
    case 3:
        x = cf_in(c, "x", STRATA_F32, 2, (int64_t[]){1, 13});
        cf_pre_ints(x, "core::expand", "shape", (int64_t[]){7, 13}, 2);
        c->k_bwd = 7;
        break;
    case 4: /* integer elements, permuted */
        x = cf_in(c, "x", STRATA_I32, 2, (int64_t[]){7, 5});
        cf_fill_index(&g->rng, x, -1000, 1000);
        cf_pre_ints(x, "core::permute", "dims", (int64_t[]){1, 0}, 2);
        return 0;
    case 5: /* 8-byte elements (i64 indices), a stepped slice */
        x = cf_in(c, "x", STRATA_I64, 2, (int64_t[]){3, 13});
        cf_fill_index(&g->rng, x, -1000, 1000);
        cf_pre_slice(x, 1, 0, 13, 3);
        return 0;
    case 6: /* 2-byte elements (f16 bit patterns, NaNs among them), permuted */
        x = cf_in(c, "x", STRATA_F16, 3, (int64_t[]){3, 5, 7});
        for (int64_t i = 0; x->data && i < cf_tnumel(x); i++)
            ((uint16_t *)x->data)[i] = (uint16_t)cf_int(&g->rng, 0, 0xFFFF);
        cf_pre_ints(x, "core::permute", "dims", (int64_t[]){2, 0, 1}, 3);
        return 0;
    default: {
        int64_t s[STRATA_MAX_DIMS], dims[STRATA_MAX_DIMS];
        int n = (int)cf_int(&g->rng, 2, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        x = cf_in(c, "x", STRATA_F32, n, s);
        for (int d = 0; d < n; d++)
            dims[d] = n - 1 - d;
        cf_pre_ints(x, "core::permute", "dims", dims, n);
        break;
    }
    }
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    return 0;
}

static int gen_concat(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const char *names[] = {"x0", "x1", "x2", "x3"};
    int64_t s[STRATA_MAX_DIMS];
    int n = (int)cf_int(&g->rng, g->large ? 2 : 1, 3);
    cf_rand_shape(g, n, s, 256);
    int axis = (int)cf_int(&g->rng, 0, n - 1);
    int count = g->trial == 3 ? 1 : g->trial < 3 ? g->trial + 2 : (int)cf_int(&g->rng, 2, 4);
    int32_t dtype = g->trial == 4 ? STRATA_I64 : STRATA_F32;
    for (int k = 0; k < count; k++) {
        s[axis] = cf_int(&g->rng, 1, g->large ? 33 : 7);
        cf_tensor *x = cf_in(c, names[k], dtype, n, s);
        if (dtype == STRATA_F32) {
            cf_fill_uniform(&g->rng, x, -2.0, 2.0);
            x->grad = 1;
        } else {
            cf_fill_index(&g->rng, x, -1000, 1000);
        }
    }
    cf_attr_int(c, "axis", cf_int(&g->rng, 0, 1) ? axis : axis - n);
    return 0;
}

static int gen_split(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS], sizes[4];
    int n = (int)cf_int(&g->rng, g->large ? 2 : 1, 3);
    cf_rand_shape(g, n, s, 256);
    int axis = (int)cf_int(&g->rng, 0, n - 1);
    int count = g->trial < 3 ? g->trial + 2 : (int)cf_int(&g->rng, 2, 4);
    s[axis] = 0;
    for (int k = 0; k < count; k++) {
        sizes[k] = cf_int(&g->rng, 1, g->large ? 33 : 7);
        s[axis] += sizes[k];
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    cf_attr_int(c, "axis", axis);
    cf_attr_ints(c, "sizes", sizes, count);
    c->n_out = count;
    return 0;
}

/* ---- indexing --------------------------------------------------------------------------- */

/* An index tensor of rank 0..2 (random) with values in [0, limit); error k
 * puts limit (k = 1) or -1 (k = 2) at a random position. */
static cf_tensor *index_input(cf_gen *g, cf_case *c, const char *name, int ndim, const int64_t *shape, int64_t limit)
{
    cf_tensor *idx = cf_in(c, name, (g->trial + g->error) % 2 ? STRATA_I32 : STRATA_I64, ndim, shape);
    cf_fill_index(&g->rng, idx, 0, limit - 1);
    if (g->error && idx->data) {
        cf_set_index(idx, cf_int(&g->rng, 0, cf_tnumel(idx) - 1), g->error == 1 ? limit : -1);
        c->note = g->error == 1 ? "index == limit must fail" : "index == -1 must fail";
        c->expect = STRATA_E_INVALID;
    }
    return idx;
}

static int index_shape(cf_gen *g, int64_t *s)
{
    int n = g->trial == 0 ? 1 : (int)cf_int(&g->rng, 0, 2);
    if ((g->error || g->large) && n == 0)
        n = 1;
    cf_rand_shape(g, n, s, 64);
    if (g->trial == 0)
        s[0] = 33;
    return n;
}

static int gen_embedding(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t V = g->trial == 1 ? 1 : cf_dim(g), D = g->error == 3 ? 0 : cf_dim(g), s[STRATA_MAX_DIMS];
    cf_tensor *w = cf_in(c, "w", STRATA_F32, 2, (int64_t[]){V, D});
    cf_fill_uniform(&g->rng, w, -2.0, 2.0);
    w->grad = 1;
    int n = index_shape(g, s);
    index_input(g, c, "idx", n, s, V);
    if (g->error == 3) /* rows of no values: nothing is copied, and the index -1 is still refused */
        c->note = "index -1 into a (V, 0) table must fail";
    if (g->trial == 2 && !g->error && V > 1) /* a padding row: its gradient is zero, made by slices and a concat */
        cf_attr_int(c, "padding_idx", cf_int(&g->rng, 0, V - 1));
    c->k_bwd = cf_numel(n, s);
    return 0;
}

static int gen_embedding_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t V = g->trial == 1 ? 1 : cf_dim(g), D = g->error == 2 ? 0 : cf_dim(g), s[STRATA_MAX_DIMS];
    int n = index_shape(g, s);
    if (g->trial == 5) /* 512 rows of a prime width 67: past cpu's threading threshold, columns split unevenly */
        n = 1, s[0] = 512, D = 67;
    s[n] = D;
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, n + 1, s);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    index_input(g, c, "idx", n, s, V);
    if (g->error == 2) /* a gradient of no values: still refused */
        c->note = "index -1 with rows of no values must fail";
    cf_attr_int(c, "num_embeddings", V);
    c->k_fwd = cf_numel(n, s);
    return 0;
}

/* x and idx for gather along axis: idx no larger than x off the axis. */
static int gather_shapes(cf_gen *g, int64_t *xs, int64_t *is, int *axis)
{
    int n = g->trial == 0 ? 2 : (int)cf_int(&g->rng, 1, 3);
    cf_rand_shape(g, n, xs, 512);
    if (g->trial == 0)
        xs[0] = 7, xs[1] = 13;
    *axis = (int)cf_int(&g->rng, 0, n - 1);
    for (int d = 0; d < n; d++)
        is[d] = d == *axis ? cf_int(&g->rng, 1, g->large ? 65 : 9) : cf_int(&g->rng, (xs[d] + 1) / 2, xs[d]);
    return n;
}

static int gen_gather(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t xs[STRATA_MAX_DIMS], is[STRATA_MAX_DIMS];
    int axis, n = gather_shapes(g, xs, is, &axis);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, xs);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    index_input(g, c, "idx", n, is, xs[axis]);
    cf_attr_int(c, "axis", cf_int(&g->rng, 0, 1) ? axis : axis - n);
    c->k_bwd = is[axis];
    return 0;
}

static int gen_gather_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t xs[STRATA_MAX_DIMS], is[STRATA_MAX_DIMS];
    int axis, n = gather_shapes(g, xs, is, &axis);
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, n, is);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    index_input(g, c, "idx", n, is, xs[axis]);
    cf_attr_int(c, "axis", axis);
    cf_attr_ints(c, "shape", xs, n);
    c->k_fwd = is[axis];
    return 0;
}

static int gen_one_hot(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t C = g->trial == 1 ? 1 : cf_dim(g), s[STRATA_MAX_DIMS];
    int n = index_shape(g, s);
    index_input(g, c, "idx", n, s, C);
    cf_attr_int(c, "num_classes", C);
    return 0;
}

/* ---- creation and random ------------------------------------------------------------------ */

/* Attr shape: odd element counts (not multiples of 4), size-1 dims, 0-d. */
static void created_shape(cf_gen *g, cf_case *c)
{
    int64_t s[STRATA_MAX_DIMS];
    int n;
    switch (g->trial) {
    case 0:
        n = 2, s[0] = 7, s[1] = 13;
        break;
    case 1:
        n = 0;
        break;
    case 2:
        n = 3, s[0] = 1, s[1] = 33, s[2] = 1;
        break;
    default:
        n = (int)cf_int(&g->rng, 1, 4);
        cf_rand_shape(g, n, s, CF_MAX_NUMEL);
        break;
    }
    cf_attr_ints(c, "shape", s, n);
}

static int gen_fill(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    c->mode = CF_CREATE;
    created_shape(g, c);
    switch (g->trial % 4) {
    case 0:
        cf_attr_float(c, "value", cf_range(&g->rng, -10.0, 10.0));
        break;
    case 1: /* value absent: 0 */
        cf_attr_int(c, "dtype", STRATA_I32);
        break;
    case 2:
        cf_attr_int(c, "value", cf_int(&g->rng, -100000, 100000));
        cf_attr_int(c, "dtype", STRATA_I64);
        break;
    default:
        cf_attr_int(c, "value", -7);
        cf_attr_int(c, "dtype", STRATA_I32);
        break;
    }
    return 0;
}

/* Philox stream: explicit seed/offset (a large seed, an offset whose counter
 * crosses 2^32), or the runtime's generator set to the same state on both
 * devices. */
static void philox_attrs(cf_gen *g, cf_case *c)
{
    switch (g->trial) {
    case 0: /* 91 elements from offset 2^32 - 4: the counter's low word wraps */
        cf_attr_int(c, "seed", (int64_t)0x7EADBEEFCAFEF00Dll);
        cf_attr_int(c, "offset", 0xFFFFFFFCll);
        break;
    case 1: /* an offset above 2^32: the counter's high word */
        cf_attr_int(c, "seed", 1234);
        cf_attr_int(c, "offset", (1ll << 32) + 5);
        break;
    case 2:
        c->set_rng = 1, c->rng_seed = 42, c->rng_offset = 7;
        break;
    default:
        cf_attr_int(c, "seed", (int64_t)(cf_next(&g->rng) >> 1));
        cf_attr_int(c, "offset", cf_int(&g->rng, 0, 1000000));
        break;
    }
}

/* low, high with high - low a power of two and low a small integer: the
 * affine map is exact in f32 as in double, so every backend can match. */
static const double cf_uniform_ranges[][2] = {{0, 1}, {-1, 1}, {-2, 2}, {0, 4}, {-4, 4}};

static int gen_uniform(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    c->mode = CF_CREATE;
    created_shape(g, c);
    philox_attrs(g, c);
    if (g->trial % 5 != 0) {
        cf_attr_float(c, "low", cf_uniform_ranges[g->trial % 5][0]);
        cf_attr_float(c, "high", cf_uniform_ranges[g->trial % 5][1]);
    }
    return 0;
}

static int gen_normal(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const double stds[] = {1.0, 2.0, 0.5, 4.0};
    c->mode = CF_CREATE;
    created_shape(g, c);
    philox_attrs(g, c);
    if (g->trial % 4 != 0) {
        cf_attr_float(c, "mean", 0.0);
        cf_attr_float(c, "std", stds[g->trial % 4]);
    }
    return 0;
}

static int gen_dropout(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const double ps[] = {0.5, 0.25, 0.75, 0.0};
    int64_t s[STRATA_MAX_DIMS];
    int n = reduce_shape(g, s);
    cf_tensor *x = cf_in(c, "x", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, x, -2.0, 2.0);
    x->grad = 1;
    if (g->trial != 0)
        cf_attr_float(c, "p", ps[g->trial % 4]);
    philox_attrs(g, c);
    c->n_out = 2;      /* y, mask */
    c->loss_mask = 1u; /* y only: the mask is a constant */
    return 0;
}

/* ---- optimizer steps ------------------------------------------------------------------------ */

/* p, g and @p n_slots slots of one random shape, in place. slot_lo/hi: range of the slots. */
static void optim_inputs(cf_gen *g, cf_case *c, int n_slots, const char *const *names, const double *slot_lo,
                         const double *slot_hi)
{
    int64_t s[STRATA_MAX_DIMS];
    int n = g->trial == 0 ? 2 : (int)cf_int(&g->rng, 1, 3);
    cf_rand_shape(g, n, s, CF_MAX_NUMEL);
    if (g->trial == 0)
        s[0] = 7, s[1] = 13;
    cf_tensor *p = cf_in(c, "p", STRATA_F32, n, s);
    cf_tensor *gr = cf_in(c, "g", STRATA_F32, n, s);
    cf_fill_uniform(&g->rng, p, -1.0, 1.0);
    cf_fill_uniform(&g->rng, gr, -1.0, 1.0);
    for (int k = 0; k < n_slots; k++) {
        cf_tensor *t = cf_in(c, names[k], STRATA_F32, n, s);
        cf_fill_uniform(&g->rng, t, slot_lo[k], slot_hi[k]);
    }
    c->mode = CF_INPLACE;
    c->n_out = 1 + n_slots;
}

/* Error case 1 of the steps that read attr "step": step 0 must fail (the
 * steps count from 1; Adam's bias correction would divide by zero). */
static void optim_bad_step(cf_gen *g, cf_case *c)
{
    if (g->error == 1) {
        int k = 0;
        while (k < c->n_attrs && strcmp(c->attrs[k].name, "step") != 0)
            k++;
        if (k < c->n_attrs)
            c->attrs[k] = strata_attr_int("step", 0);
        else
            cf_attr_int(c, "step", 0);
        c->note = "step 0 must fail", c->expect = STRATA_E_INVALID;
    }
}

static int gen_sgd_step(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    optim_inputs(g, c, 1, (const char *[]){"buf"}, (double[]){-0.1}, (double[]){0.1});
    switch (g->trial) {
    case 0:
        cf_attr_float(c, "lr", 0.1);
        break;
    case 1: /* the first step copies g into buf: dampening does not apply */
        cf_attr_float(c, "lr", 0.05), cf_attr_float(c, "momentum", 0.9), cf_attr_int(c, "first", 1);
        cf_attr_float(c, "dampening", 0.5);
        break;
    case 2:
        cf_attr_float(c, "lr", 0.01), cf_attr_float(c, "momentum", 0.9), cf_attr_float(c, "dampening", 0.1);
        cf_attr_float(c, "weight_decay", 1e-2);
        break;
    case 3:
        cf_attr_float(c, "lr", 0.01), cf_attr_float(c, "momentum", 0.9), cf_attr_int(c, "nesterov", 1);
        cf_attr_float(c, "weight_decay", 1e-4);
        break;
    default:
        cf_attr_float(c, "lr", cf_range(&g->rng, 1e-3, 0.5)), cf_attr_float(c, "momentum", cf_range(&g->rng, 0, 0.99));
        cf_attr_int(c, "nesterov", cf_int(&g->rng, 0, 1)), cf_attr_int(c, "first", cf_int(&g->rng, 0, 1));
        cf_attr_float(c, "weight_decay", cf_range(&g->rng, 0, 0.1));
        break;
    }
    return 0;
}

static int gen_adam_step(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    optim_inputs(g, c, 2, (const char *[]){"m", "v"}, (double[]){-0.1, 0.0}, (double[]){0.1, 0.01});
    switch (g->trial) {
    case 0:
        cf_attr_float(c, "lr", 1e-3), cf_attr_int(c, "step", 1);
        break;
    case 1: /* eps 1e-2 at step 10 tells sqrt(v) / sqrt(bc2) + eps from (sqrt(v) + eps) / sqrt(bc2) */
        cf_attr_float(c, "lr", 1e-2), cf_attr_int(c, "step", 10), cf_attr_float(c, "weight_decay", 1e-2);
        cf_attr_float(c, "eps", 1e-2);
        break;
    case 2: /* AdamW, likewise */
        cf_attr_float(c, "lr", 1e-2), cf_attr_int(c, "step", 3), cf_attr_float(c, "weight_decay", 1e-2);
        cf_attr_int(c, "decoupled", 1), cf_attr_float(c, "eps", 1e-2);
        break;
    case 3:
        cf_attr_float(c, "lr", 1e-3), cf_attr_float(c, "beta1", 0.8), cf_attr_float(c, "beta2", 0.99);
        cf_attr_float(c, "eps", 1e-6), cf_attr_int(c, "step", 100);
        break;
    default:
        cf_attr_float(c, "lr", cf_range(&g->rng, 1e-4, 1e-1)), cf_attr_int(c, "step", cf_int(&g->rng, 1, 1000));
        cf_attr_float(c, "weight_decay", cf_range(&g->rng, 0, 0.1)), cf_attr_int(c, "decoupled", cf_int(&g->rng, 0, 1));
        break;
    }
    optim_bad_step(g, c);
    return 0;
}

static int gen_rmsprop_step(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    optim_inputs(g, c, 2, (const char *[]){"sq", "buf"}, (double[]){0.0, -0.1}, (double[]){0.01, 0.1});
    switch (g->trial) {
    case 0:
        cf_attr_float(c, "lr", 1e-2);
        break;
    case 1:
        cf_attr_float(c, "lr", 1e-2), cf_attr_float(c, "momentum", 0.9);
        break;
    case 2: /* an eps large enough to tell sqrt(sq) + eps from sqrt(sq + eps) */
        cf_attr_float(c, "lr", 1e-3), cf_attr_float(c, "alpha", 0.9), cf_attr_float(c, "weight_decay", 1e-3);
        cf_attr_float(c, "eps", 0.1);
        break;
    case 3:
        cf_attr_float(c, "lr", 1e-2), cf_attr_float(c, "momentum", 0.5), cf_attr_float(c, "weight_decay", 1e-2);
        break;
    default:
        cf_attr_float(c, "lr", cf_range(&g->rng, 1e-4, 1e-1)), cf_attr_float(c, "alpha", cf_range(&g->rng, 0.8, 0.999));
        cf_attr_float(c, "momentum", cf_int(&g->rng, 0, 1) ? cf_range(&g->rng, 0.1, 0.9) : 0.0);
        break;
    }
    return 0;
}

static int gen_adagrad_step(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    optim_inputs(g, c, 1, (const char *[]){"sum"}, (double[]){0.0}, (double[]){0.5});
    switch (g->trial) {
    case 0:
        cf_attr_float(c, "lr", 1e-2);
        break;
    case 1:
        cf_attr_float(c, "lr", 1e-2), cf_attr_float(c, "lr_decay", 0.1), cf_attr_int(c, "step", 5);
        break;
    case 2: /* an eps large enough to tell sqrt(sum) + eps from sqrt(sum + eps) */
        cf_attr_float(c, "lr", 1e-1), cf_attr_float(c, "weight_decay", 1e-2), cf_attr_float(c, "eps", 0.1);
        cf_attr_int(c, "step", 2);
        break;
    default:
        cf_attr_float(c, "lr", cf_range(&g->rng, 1e-3, 0.5)), cf_attr_int(c, "step", cf_int(&g->rng, 1, 100));
        cf_attr_float(c, "lr_decay", cf_range(&g->rng, 0, 0.1));
        break;
    }
    optim_bad_step(g, c);
    return 0;
}

/* ---- conv plugin ops (plugins/conv, docs/conv.md) --------------------------------------------- */

/* One 2-D convolution seen from the conv2d side: x (N, C, H, W) * w (OC, C/groups, KH, KW) -> (N, OC, OH, OW).
 * The transposed conv and the backward ops reuse it with the roles swapped. */
typedef struct cf_conv {
    int64_t N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, groups, OH, OW;
    int bias;
    const char *note;
} cf_conv;

/* Odd sizes, strides > 1, padding, dilation, groups and batch 1 by trial; random after that. */
static void conv_pick(cf_gen *g, cf_conv *v)
{
    memset(v, 0, sizeof *v);
    v->sh = v->sw = v->dh = v->dw = v->groups = 1;
    v->bias = 1;
    switch (g->large ? -1 : g->trial) {
    case -1: /* 2 x 32 x 144 x 33 x 33 multiply-adds: past any library's direct-conv threshold */
        v->N = 2, v->C = 16, v->H = v->W = 33, v->OC = 32, v->KH = v->KW = 3, v->ph = v->pw = 1;
        v->note = "large";
        break;
    case 0:
        v->N = 2, v->C = 3, v->H = 7, v->W = 5, v->OC = 4, v->KH = v->KW = 3, v->ph = v->pw = 1;
        break;
    case 1: /* batch 1, groups, asymmetric kernel, stride and dilation on different axes, no bias */
        v->N = 1, v->C = 4, v->H = 9, v->W = 8, v->OC = 6, v->KH = 3, v->KW = 2, v->sh = 2, v->ph = 1;
        v->dw = 2, v->groups = 2, v->bias = 0;
        v->note = "groups 2, stride (2, 1), dilation (1, 2)";
        break;
    case 2: /* stride 3, padding 2, dilation 2, odd sizes */
        v->N = 3, v->C = 2, v->H = 13, v->W = 11, v->OC = 3, v->KH = v->KW = 5, v->sh = 3, v->sw = 2;
        v->ph = v->pw = 2, v->dh = 2;
        v->note = "stride (3, 2), padding 2, dilation (2, 1)";
        break;
    case 4: /* few channels on a big plane, threaded: the cpu backend's own tiles on AVX2, oneDNN's on AVX-512 */
        v->N = 4, v->C = 6, v->H = v->W = 33, v->OC = 16, v->KH = v->KW = 5, v->ph = v->pw = 2;
        v->note = "few channels, 33 x 33 planes (threaded)";
        break;
    case 3: /* depthwise */
        v->N = 2, v->C = 6, v->H = 5, v->W = 7, v->OC = 6, v->KH = v->KW = 3, v->ph = v->pw = 1, v->groups = 6;
        v->note = "depthwise (groups = channels)";
        break;
    default: {
        v->groups = cf_int(&g->rng, 1, 3);
        v->C = v->groups * cf_int(&g->rng, 1, 3);
        v->OC = v->groups * cf_int(&g->rng, 1, 3);
        v->N = cf_int(&g->rng, 1, 3);
        v->KH = cf_int(&g->rng, 1, 4), v->KW = cf_int(&g->rng, 1, 4);
        v->sh = cf_int(&g->rng, 1, 3), v->sw = cf_int(&g->rng, 1, 3);
        v->dh = cf_int(&g->rng, 1, 2), v->dw = cf_int(&g->rng, 1, 2);
        v->ph = cf_int(&g->rng, 0, 2), v->pw = cf_int(&g->rng, 0, 2);
        v->bias = (int)cf_int(&g->rng, 0, 1);
        int64_t span_h = v->dh * (v->KH - 1) + 1, span_w = v->dw * (v->KW - 1) + 1;
        v->H = span_h - 2 * v->ph + cf_int(&g->rng, 0, 9);
        v->W = span_w - 2 * v->pw + cf_int(&g->rng, 0, 9);
        if (v->H < 1) /* the padded input must hold the dilated kernel */
            v->ph += (1 - v->H + 1) / 2, v->H = span_h - 2 * v->ph > 1 ? span_h - 2 * v->ph : 1;
        if (v->W < 1)
            v->pw += (1 - v->W + 1) / 2, v->W = span_w - 2 * v->pw > 1 ? span_w - 2 * v->pw : 1;
        break;
    }
    }
    v->OH = (v->H + 2 * v->ph - v->dh * (v->KH - 1) - 1) / v->sh + 1;
    v->OW = (v->W + 2 * v->pw - v->dw * (v->KW - 1) - 1) / v->sw + 1;
}

static void conv_case_attrs(cf_case *c, const cf_conv *v)
{
    cf_attr_ints(c, "stride", (int64_t[]){v->sh, v->sw}, 2);
    cf_attr_ints(c, "padding", (int64_t[]){v->ph, v->pw}, 2);
    cf_attr_ints(c, "dilation", (int64_t[]){v->dh, v->dw}, 2);
    cf_attr_int(c, "groups", v->groups);
}

static cf_tensor *cf_in_filled(cf_gen *g, cf_case *c, const char *name, int ndim, const int64_t *shape, double lo,
                               double hi, int grad)
{
    cf_tensor *t = cf_in(c, name, STRATA_F32, ndim, shape);
    cf_fill_uniform(&g->rng, t, lo, hi);
    t->grad = grad;
    return t;
}

/* Error case k (>= 1) of a conv op: a kernel larger than the padded input,
 * channels not divisible by groups, a zero stride. */
static int conv_error_case(cf_gen *g, cf_case *c, cf_conv *v)
{
    memset(v, 0, sizeof *v);
    v->N = 1, v->C = 4, v->H = v->W = 5, v->OC = 4, v->KH = v->KW = 3, v->sh = v->sw = v->dh = v->dw = 1;
    v->groups = 1, v->bias = 1, v->OH = v->OW = 3;
    switch (g->error) {
    case 1:
        v->KH = v->KW = 7;
        c->note = "kernel 7 larger than the padded input 5 must fail";
        c->expect = STRATA_E_SHAPE;
        break;
    case 2:
        v->C = 3, v->groups = 2;
        c->note = "3 channels in 2 groups must fail";
        c->expect = STRATA_E_SHAPE;
        break;
    default:
        v->sh = 0;
        c->note = "stride 0 must fail";
        c->expect = STRATA_E_INVALID;
        break;
    }
    return 0;
}

/* conv::conv2d: x, w [, b], all requiring grad. K = taps per output. */
static int gen_conv2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_conv v;
    if (g->error)
        conv_error_case(g, c, &v);
    else
        conv_pick(g, &v);
    int64_t cg = v.C / v.groups > 0 ? v.C / v.groups : 1;
    cf_in_filled(g, c, "x", 4, (int64_t[]){v.N, v.C, v.H, v.W}, -1.0, 1.0, 1);
    cf_in_filled(g, c, "w", 4, (int64_t[]){v.OC, cg, v.KH, v.KW}, -1.0, 1.0, 1);
    if (v.bias)
        cf_in_filled(g, c, "b", 1, (int64_t[]){v.OC}, -1.0, 1.0, 1);
    conv_case_attrs(c, &v);
    if (!c->note)
        c->note = v.note;
    c->k_fwd = cg * v.KH * v.KW;
    c->k_bwd = v.N * v.OH * v.OW > (v.OC / v.groups) * v.KH * v.KW ? v.N * v.OH * v.OW : (v.OC / v.groups) * v.KH * v.KW;
    return 0;
}

/* conv::conv2d_backward_data: dy (N, OC, OH, OW), w; attr input_size. */
static int gen_conv2d_backward_data(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_conv v;
    conv_pick(g, &v);
    cf_in_filled(g, c, "dy", 4, (int64_t[]){v.N, v.OC, v.OH, v.OW}, -1.0, 1.0, 1);
    cf_in_filled(g, c, "w", 4, (int64_t[]){v.OC, v.C / v.groups, v.KH, v.KW}, -1.0, 1.0, 1);
    conv_case_attrs(c, &v);
    cf_attr_ints(c, "input_size", (int64_t[]){v.H, v.W}, 2);
    c->note = v.note;
    c->k_fwd = (v.OC / v.groups) * v.KH * v.KW;
    c->k_bwd = v.N * v.H * v.W > v.C / v.groups * v.KH * v.KW ? v.N * v.H * v.W : v.C / v.groups * v.KH * v.KW;
    return 0;
}

/* conv::conv2d_backward_weight: dy (N, OC, OH, OW), x; attr kernel_size. */
static int gen_conv2d_backward_weight(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_conv v;
    conv_pick(g, &v);
    cf_in_filled(g, c, "dy", 4, (int64_t[]){v.N, v.OC, v.OH, v.OW}, -1.0, 1.0, 1);
    cf_in_filled(g, c, "x", 4, (int64_t[]){v.N, v.C, v.H, v.W}, -1.0, 1.0, 1);
    conv_case_attrs(c, &v);
    cf_attr_ints(c, "kernel_size", (int64_t[]){v.KH, v.KW}, 2);
    c->note = v.note;
    c->k_fwd = v.N * v.OH * v.OW;
    c->k_bwd = v.C / v.groups * v.KH * v.KW > (v.OC / v.groups) * v.KH * v.KW ? v.C / v.groups * v.KH * v.KW
                                                                               : (v.OC / v.groups) * v.KH * v.KW;
    return 0;
}

/* conv::conv_transpose2d: the conv geometry read backwards; output_padding
 * is what makes (N, C, H, W) the exact output size. */
static int gen_conv_transpose2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_conv v;
    if (g->error == 1) { /* output_padding >= stride */
        v = (cf_conv){.N = 1, .C = 2, .H = 5, .W = 5, .OC = 2, .KH = 3, .KW = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                      .groups = 1, .OH = 3, .OW = 3};
        c->note = "output_padding 1 with stride 1 must fail";
        c->expect = STRATA_E_INVALID;
    } else if (g->error == 2) { /* weight channels disagree with x */
        v = (cf_conv){.N = 1, .C = 2, .H = 5, .W = 5, .OC = 3, .KH = 3, .KW = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                      .groups = 1, .OH = 3, .OW = 3};
        c->note = "x with 4 channels and a weight for 3 must fail";
        c->expect = STRATA_E_SHAPE;
    } else {
        conv_pick(g, &v);
    }
    int64_t oph = (v.H + 2 * v.ph - v.dh * (v.KH - 1) - 1) % v.sh, opw = (v.W + 2 * v.pw - v.dw * (v.KW - 1) - 1) % v.sw;
    if (g->error == 1)
        oph = 1;
    cf_in_filled(g, c, "x", 4, (int64_t[]){v.N, g->error == 2 ? 4 : v.OC, v.OH, v.OW}, -1.0, 1.0, 1);
    cf_in_filled(g, c, "w", 4, (int64_t[]){v.OC, v.C / v.groups, v.KH, v.KW}, -1.0, 1.0, 1);
    if (v.bias)
        cf_in_filled(g, c, "b", 1, (int64_t[]){v.C}, -1.0, 1.0, 1);
    conv_case_attrs(c, &v);
    cf_attr_ints(c, "output_padding", (int64_t[]){oph, opw}, 2);
    if (!c->note)
        c->note = v.note;
    c->k_fwd = (v.OC / v.groups) * v.KH * v.KW;
    c->k_bwd = v.N * v.H * v.W > v.C / v.groups * v.KH * v.KW ? v.N * v.H * v.W : v.C / v.groups * v.KH * v.KW;
    return 0;
}

/* conv::conv1d (a composite over conv2d): the width of the 2-D geometry. */
static int gen_conv1d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_conv v;
    conv_pick(g, &v);
    cf_in_filled(g, c, "x", 3, (int64_t[]){v.N, v.C, v.W}, -1.0, 1.0, 1);
    cf_in_filled(g, c, "w", 3, (int64_t[]){v.OC, v.C / v.groups, v.KW}, -1.0, 1.0, 1);
    if (v.bias)
        cf_in_filled(g, c, "b", 1, (int64_t[]){v.OC}, -1.0, 1.0, 1);
    if (g->trial % 2) { /* ints of one, or plain ints: its schema takes both */
        cf_attr_ints(c, "stride", &v.sw, 1);
        cf_attr_ints(c, "padding", &v.pw, 1);
        cf_attr_ints(c, "dilation", &v.dw, 1);
    } else {
        cf_attr_int(c, "stride", v.sw);
        cf_attr_int(c, "padding", v.pw);
        cf_attr_int(c, "dilation", v.dw);
    }
    cf_attr_int(c, "groups", v.groups);
    c->k_fwd = v.C / v.groups * v.KW;
    c->k_bwd = v.N * v.OW > (v.OC / v.groups) * v.KW ? v.N * v.OW : (v.OC / v.groups) * v.KW;
    return 0;
}

/* A pooling case: x (N, C, H, W) and kernel, stride, padding (<= kernel / 2). */
typedef struct cf_pool {
    int64_t N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW;
} cf_pool;

static void pool_pick(cf_gen *g, cf_case *c, cf_pool *p)
{
    memset(p, 0, sizeof *p);
    switch (g->large ? -1 : g->trial) {
    case -1:
        p->N = 2, p->C = 8, p->H = p->W = 64, p->KH = p->KW = 3, p->sh = p->sw = 2, p->ph = p->pw = 1;
        break;
    case 0: /* stride absent: the kernel; a list of one for both axes */
        p->N = 2, p->C = 3, p->H = 8, p->W = 6, p->KH = p->KW = 2;
        cf_attr_ints(c, "kernel_size", (int64_t[]){2}, 1);
        break;
    case 1: /* overlapping windows and padding, odd sizes, batch 1 */
        p->N = 1, p->C = 2, p->H = 7, p->W = 9, p->KH = p->KW = 3, p->sh = p->sw = 2, p->ph = p->pw = 1;
        break;
    case 2: /* asymmetric */
        p->N = 3, p->C = 1, p->H = 13, p->W = 5, p->KH = 4, p->KW = 2, p->sh = 3, p->sw = 1, p->ph = 2, p->pw = 1;
        break;
    case 5: /* 2 x 2 at stride 2 (a backend's fast path) over odd sizes: the last row and column are in no window */
        p->N = 2, p->C = 3, p->H = 7, p->W = 9, p->KH = p->KW = 2, p->sh = p->sw = 2;
        break;
    default:
        p->N = cf_int(&g->rng, 1, 3), p->C = cf_int(&g->rng, 1, 4);
        p->KH = cf_int(&g->rng, 1, 4), p->KW = cf_int(&g->rng, 1, 4);
        p->sh = cf_int(&g->rng, 1, 3), p->sw = cf_int(&g->rng, 1, 3);
        p->ph = cf_int(&g->rng, 0, p->KH / 2), p->pw = cf_int(&g->rng, 0, p->KW / 2);
        p->H = p->KH + cf_int(&g->rng, 0, 9), p->W = p->KW + cf_int(&g->rng, 0, 9);
        break;
    }
    if (g->large || g->trial != 0) {
        cf_attr_ints(c, "kernel_size", (int64_t[]){p->KH, p->KW}, 2);
        cf_attr_ints(c, "stride", (int64_t[]){p->sh, p->sw}, 2);
        cf_attr_ints(c, "padding", (int64_t[]){p->ph, p->pw}, 2);
    } else {
        p->sh = p->KH, p->sw = p->KW;
    }
    p->OH = (p->H + 2 * p->ph - p->KH) / p->sh + 1;
    p->OW = (p->W + 2 * p->pw - p->KW) / p->sw + 1;
}

static int gen_max_pool2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_pool p;
    if (g->error) { /* padding more than half the kernel */
        p = (cf_pool){.N = 1, .C = 1, .H = 5, .W = 5};
        cf_attr_ints(c, "kernel_size", (int64_t[]){2}, 1);
        cf_attr_ints(c, "padding", (int64_t[]){2}, 1);
        c->note = "padding 2 with a kernel of 2 must fail";
        c->expect = STRATA_E_INVALID;
    } else {
        pool_pick(g, c, &p);
    }
    cf_tensor *x = cf_in(c, "x", STRATA_F32, 4, (int64_t[]){p.N, p.C, p.H, p.W});
    if (g->trial == 4) {
        cf_fill_ties(&g->rng, x);
        c->note = "ties: the first maximum wins";
    } else {
        cf_fill_distinct(&g->rng, x);
    }
    x->grad = 1;
    c->n_out = 2;      /* y, indices */
    c->loss_mask = 1u; /* the indices are i64 */
    return 0;
}

/* dy and indices inside each window (as max_pool2d makes them), in trial 3
 * anywhere in the plane (the op is a scatter-add: a backend that gathers
 * over windows must still add those); attrs input_size and, but in trials 1
 * and 4 on, the forward's window (optional: without it a backend cannot
 * gather over windows). */
static int gen_max_pool2d_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_pool p;
    pool_pick(g, c, &p);
    if (!g->large && (g->trial == 1 || g->trial >= 4))
        c->n_attrs = 0; /* input_size only */
    cf_in_filled(g, c, "dy", 4, (int64_t[]){p.N, p.C, p.OH, p.OW}, -1.0, 1.0, 1);
    cf_tensor *idx = cf_in(c, "indices", STRATA_I64, 4, (int64_t[]){p.N, p.C, p.OH, p.OW});
    const int anywhere = g->trial == 3;
    if (anywhere)
        c->note = "indices anywhere in the plane, not only in their windows";
    for (int64_t nc = 0; idx->data && nc < p.N * p.C; nc++)
        for (int64_t i = 0; i < p.OH; i++)
            for (int64_t j = 0; j < p.OW; j++) {
                int64_t h0 = i * p.sh - p.ph, w0 = j * p.sw - p.pw;
                int64_t h1 = h0 + p.KH - 1, w1 = w0 + p.KW - 1;
                h0 = h0 < 0 || anywhere ? 0 : h0, w0 = w0 < 0 || anywhere ? 0 : w0;
                h1 = h1 >= p.H || anywhere ? p.H - 1 : h1, w1 = w1 >= p.W || anywhere ? p.W - 1 : w1;
                int64_t at = cf_int(&g->rng, h0, h1) * p.W + cf_int(&g->rng, w0, w1);
                cf_set_index(idx, (nc * p.OH + i) * p.OW + j, at);
            }
    if (g->error && idx->data) {
        cf_set_index(idx, 0, p.H * p.W);
        c->note = "an index past the plane must fail";
        c->expect = STRATA_E_INVALID;
    }
    cf_attr_ints(c, "input_size", (int64_t[]){p.H, p.W}, 2);
    c->k_fwd = (p.KH / p.sh + 1) * (p.KW / p.sw + 1);
    return 0;
}

static int gen_avg_pool2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_pool p;
    pool_pick(g, c, &p);
    cf_in_filled(g, c, "x", 4, (int64_t[]){p.N, p.C, p.H, p.W}, -2.0, 2.0, 1);
    if (g->trial >= 2)
        cf_attr_int(c, "count_include_pad", (g->trial + g->large) % 2);
    c->k_fwd = p.KH * p.KW;
    c->k_bwd = (p.KH / p.sh + 1) * (p.KW / p.sw + 1);
    return 0;
}

static int gen_avg_pool2d_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_pool p;
    pool_pick(g, c, &p);
    cf_in_filled(g, c, "dy", 4, (int64_t[]){p.N, p.C, p.OH, p.OW}, -2.0, 2.0, 1);
    if (g->trial >= 2)
        cf_attr_int(c, "count_include_pad", (g->trial + g->large) % 2);
    cf_attr_ints(c, "input_size", (int64_t[]){p.H, p.W}, 2);
    c->k_fwd = (p.KH / p.sh + 1) * (p.KW / p.sw + 1);
    c->k_bwd = p.KH * p.KW;
    return 0;
}

static int gen_global_avg_pool2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    cf_pool p;
    pool_pick(g, c, &p);
    c->n_attrs = 0;
    cf_in_filled(g, c, "x", 4, (int64_t[]){p.N, p.C, p.H, p.W}, -2.0, 2.0, 1);
    c->k_fwd = p.H * p.W;
    return 0;
}

/* x (N, C, ...) of rank 2, 3 or 4 by trial; returns M = values per channel. */
static int64_t bn_input(cf_gen *g, cf_case *c, int64_t *C, int grad)
{
    int64_t s[4];
    int n;
    switch (g->large ? -1 : g->trial % 4) {
    case -1:
        n = 4, s[0] = 8, s[1] = 16, s[2] = s[3] = 29;
        break;
    case 0:
        n = 4, s[0] = 2, s[1] = 3, s[2] = 5, s[3] = 7;
        break;
    case 1: /* (N, C) as BatchNorm1d, with enough channels for blocks and threads (trial 5: in eval mode) */
        n = 2, s[0] = 20, s[1] = 1700;
        break;
    case 2: /* (N, C, L) */
        n = 3, s[0] = 3, s[1] = 4, s[2] = 7;
        break;
    default:
        n = 4, s[0] = cf_int(&g->rng, 1, 4), s[1] = cf_int(&g->rng, 1, 5), s[2] = cf_int(&g->rng, 1, 6);
        s[3] = cf_int(&g->rng, 2, 6);
        break;
    }
    cf_in_filled(g, c, "x", n, s, -2.0, 2.0, grad);
    *C = s[1];
    return cf_numel(n, s) / s[1];
}

/* Training on odd trials but 5, which is trial 1's (N, C) in eval mode. */
static int bn_training(const cf_gen *g)
{
    return g->trial == 5 ? 0 : (g->trial + g->large) % 2;
}

/* (x, weight, bias, running_mean, running_var) -> y, mean, invstd; bn_training(). */
static int gen_batch_norm(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t C, M = bn_input(g, c, &C, 1);
    cf_in_filled(g, c, "weight", 1, &C, -1.5, 1.5, 1);
    cf_in_filled(g, c, "bias", 1, &C, -1.0, 1.0, 1);
    cf_in_filled(g, c, "running_mean", 1, &C, -0.5, 0.5, 0);
    cf_in_filled(g, c, "running_var", 1, &C, 0.5, 2.0, 0);
    int training = bn_training(g);
    if (g->error) {
        training = 1;
        c->note = "training with one value per channel must fail";
        c->expect = STRATA_E_INVALID;
        c->in[0].shape[0] = 1;
        for (int d = 2; d < c->in[0].ndim; d++)
            c->in[0].shape[d] = 1;
    }
    cf_attr_int(c, "training", training);
    if (g->trial >= 2)
        cf_attr_float(c, "eps", g->trial % 3 ? 1e-3 : 1e-5);
    c->n_out = 3;      /* y, mean, invstd */
    c->loss_mask = 1u; /* mean and invstd carry no gradient */
    c->k_fwd = c->k_bwd = M;
    return 0;
}

static int gen_batch_norm_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t C, M = bn_input(g, c, &C, 0);
    cf_tensor *x = &c->in[0];
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, x->ndim, x->shape);
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    cf_in_filled(g, c, "weight", 1, &C, -1.5, 1.5, 0);
    cf_in_filled(g, c, "mean", 1, &C, -0.5, 0.5, 0);
    cf_in_filled(g, c, "invstd", 1, &C, 0.5, 2.0, 0);
    cf_reorder(c, (int[]){1, 0, 2, 3, 4}); /* dy, x, weight, mean, invstd */
    cf_attr_int(c, "training", bn_training(g));
    c->n_out = 3;
    c->k_fwd = M;
    return 0;
}

/* In place: (running_mean, x, running_var, num_batches_tracked) -> the three buffers. */
static int gen_batch_norm_update_stats(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    int64_t C = 0, M = 12;
    if (g->trial == 4) /* no channels: the batch still counts in num_batches_tracked */
        cf_in(c, "x", STRATA_F32, 3, (int64_t[]){4, 0, 3});
    else
        M = bn_input(g, c, &C, 0);
    cf_in_filled(g, c, "running_mean", 1, &C, -0.5, 0.5, 0);
    cf_in_filled(g, c, "running_var", 1, &C, 0.5, 2.0, 0);
    cf_tensor *nbt = cf_in(c, "num_batches_tracked", STRATA_I64, 0, NULL);
    if (nbt->data)
        cf_set_index(nbt, 0, cf_int(&g->rng, 0, 1000));
    cf_reorder(c, (int[]){1, 0, 2, 3}); /* running_mean, x, running_var, num_batches_tracked */
    if (g->trial != 0)
        cf_attr_float(c, "momentum", g->trial == 1 ? 1.0 : cf_range(&g->rng, 0.0, 1.0));
    c->mode = CF_INPLACE;
    c->n_out = 3;
    c->k_fwd = M;
    return 0;
}

static int gen_dropout2d(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const double ps[] = {0.5, 0.25, 0.75, 0.0};
    int64_t C;
    if (g->trial == 4) { /* channels of no elements still draw their mask */
        cf_tensor *x = cf_in(c, "x", STRATA_F32, 3, (int64_t[]){2, 3, 0});
        x->grad = 1;
    } else
        bn_input(g, c, &C, 1);
    if (g->trial != 0)
        cf_attr_float(c, "p", ps[g->trial % 4]);
    philox_attrs(g, c);
    c->n_out = 2;      /* y, mask */
    c->loss_mask = 1u; /* the mask is a constant */
    return 0;
}

/* ======================================================================= */
/* The recipe table: one entry per core op (docs/ops.md)                    */
/* ======================================================================= */

/* op, generator, forward / backward tolerance class, trials (0 = default),
 * error cases, path without a kernel, value range, flags. Backward classes
 * of non-differentiable ops are never used (shown as "-"). */
/* clang-format off */
#define R(OP, GEN, FWD, BWD) {"core::" OP, 1, GEN, FWD, BWD, 0, 0, NULL, -2.0, 2.0, 0}
#define RV(OP, GEN, FWD, BWD, LO, HI, FLAGS) {"core::" OP, 1, GEN, FWD, BWD, 0, 0, NULL, LO, HI, FLAGS}
#define RE(OP, GEN, FWD, BWD, ERRORS) {"core::" OP, 1, GEN, FWD, BWD, 0, ERRORS, NULL, -2.0, 2.0, 0}
#define RP(OP, GEN, FWD, BWD, PATH) {"core::" OP, 1, GEN, FWD, BWD, 0, 0, PATH, -2.0, 2.0, 0}
/* clang-format on */

/* ---- the lstm plugin (plugins/lstm) ------------------------------------------ */

/* A recurrent sequence case: T steps, batch B, input I, hidden H. */
typedef struct cf_seq {
    int64_t T, B, I, H;
    int bias, reverse, bf, relu;
} cf_seq;

static int seq_cell(const char *op)
{
    return strstr(op, "lstm_seq") ? 0 : strstr(op, "gru_seq") ? 1 : 2;
}

static void seq_pick(cf_gen *g, cf_seq *v)
{
    memset(v, 0, sizeof *v);
    switch (g->large ? -1 : g->trial) {
    case -1: /* GEMMs past oneDNN's small-size paths; B H = 4096 splits the batch over the cpu threads */
        v->T = 12, v->B = 16, v->I = 33, v->H = 256, v->bias = 1, v->bf = 1, v->reverse = 1;
        break;
    case 0: /* one step, one of everything */
        v->T = v->B = v->I = v->H = 1, v->bias = 1;
        break;
    case 1:
        v->T = 5, v->B = 3, v->I = 4, v->H = 3, v->bias = 1, v->reverse = 1;
        break;
    case 2:
        v->T = 4, v->B = 2, v->I = 3, v->H = 5, v->bf = 1, v->relu = 1;
        break;
    default:
        v->T = cf_int(&g->rng, 1, 6), v->B = cf_int(&g->rng, 1, 4), v->I = cf_int(&g->rng, 1, 5);
        v->H = cf_int(&g->rng, 1, 6), v->bias = (int)cf_int(&g->rng, 0, 1), v->reverse = (int)cf_int(&g->rng, 0, 1);
        v->bf = (int)cf_int(&g->rng, 0, 1);
        break;
    }
}

static void seq_attrs(cf_case *c, const cf_seq *v, int cell)
{
    cf_attr_int(c, "reverse", v->reverse);
    cf_attr_int(c, "batch_first", v->bf);
    if (cell == 2)
        cf_attr_string(c, "nonlinearity", v->relu ? "relu" : "tanh");
}

static cf_tensor *seq_in(cf_gen *g, cf_case *c, const cf_seq *v, const char *name, int64_t C, double lo, double hi,
                         int grad)
{
    int64_t s[3] = {v->bf ? v->B : v->T, v->bf ? v->T : v->B, C};
    return cf_in_filled(g, c, name, 3, s, lo, hi, grad);
}

/* lstm_seq, gru_seq, rnn_seq and their *_unfused twins: every input requires grad */
static int gen_seq(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    const int cell = seq_cell(rc->op);
    const int64_t G = cell == 0 ? 4 : cell == 1 ? 3 : 1;
    cf_seq v;
    seq_pick(g, &v);
    if (g->error) {
        v.T = 0;
        c->note = "sequence length 0 must fail";
        c->expect = STRATA_E_SHAPE;
    }
    /* weights at PyTorch's init scale, 1/sqrt(H): larger ones make the
     * recurrence chaotic and amplify rounding differences step by step */
    const double wr = fmin(0.7, 1.0 / sqrt((double)v.H));
    seq_in(g, c, &v, "x", v.I, -1.0, 1.0, 1);
    cf_in_filled(g, c, "w_ih", 2, (int64_t[]){G * v.H, v.I}, -wr, wr, 1);
    cf_in_filled(g, c, "w_hh", 2, (int64_t[]){G * v.H, v.H}, -wr, wr, 1);
    cf_in_filled(g, c, "h0", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 1);
    if (cell == 0)
        cf_in_filled(g, c, "c0", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 1);
    if (v.bias) {
        cf_in_filled(g, c, "b_ih", 1, (int64_t[]){G * v.H}, -0.5, 0.5, 1);
        cf_in_filled(g, c, "b_hh", 1, (int64_t[]){G * v.H}, -0.5, 0.5, 1);
    }
    seq_attrs(c, &v, cell);
    c->n_out = cell == 0 ? 4 : cell == 1 ? 3 : 2;
    c->loss_mask = cell == 0 ? 7u : 3u; /* the workspace carries no gradient */
    c->k_fwd = c->k_bwd = (v.T + 1) * (v.I + G * v.H);
    return 0;
}

/* lstm_seq_backward (dy, dh_n, dc_n, w_hh, c0, ws), gru_seq_backward (dy,
 * dh_n, w_hh, h0, y, ws), rnn_seq_backward (dy, dh_n, w_hh, y): gates in
 * (0.05, 0.95), states in (-1, 1); not differentiable */
static int gen_seq_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    const int cell = seq_cell(rc->op);
    const int64_t G = cell == 0 ? 4 : cell == 1 ? 3 : 1;
    cf_seq v;
    seq_pick(g, &v);
    seq_in(g, c, &v, "dy", v.H, -1.0, 1.0, 0);
    cf_in_filled(g, c, "dh_n", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 0);
    if (cell == 0)
        cf_in_filled(g, c, "dc_n", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 0);
    const double wr = fmin(0.7, 1.0 / sqrt((double)v.H));
    cf_in_filled(g, c, "w_hh", 2, (int64_t[]){G * v.H, v.H}, -wr, wr, 0);
    if (cell == 0) {
        cf_in_filled(g, c, "c0", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 0);
        seq_in(g, c, &v, "ws", 5 * v.H, 0.05, 0.95, 0);
    } else if (cell == 1) {
        cf_in_filled(g, c, "h0", 2, (int64_t[]){v.B, v.H}, -1.0, 1.0, 0);
        seq_in(g, c, &v, "y", v.H, -0.95, 0.95, 0);
        seq_in(g, c, &v, "ws", 4 * v.H, 0.05, 0.95, 0);
    } else {
        seq_in(g, c, &v, "y", v.H, -0.95, 0.95, 0);
    }
    seq_attrs(c, &v, cell);
    c->n_out = cell == 2 ? 2 : 3;
    c->k_fwd = (v.T + 1) * G * v.H;
    return 0;
}

/* memnet::encode: E (V, D), x (lead, [M,] J) word ids, [T (M, D)]; encoding
 * by mn_encoding(), padding_idx 0 or -1. Error trials: word V, then
 * -1, with padding_idx 0; word -1 with padding_idx -1 (none: -1 is a bad
 * word like any other, not the padding; mn_padding). K: the words summed. */
static int64_t mn_padding(const cf_gen *g)
{
    return g->error ? (g->error == 3 ? -1 : 0) : g->trial % 4 < 2 ? 0 : -1;
}

/* bow in even trials, position (the authors' code) in odd ones, position_paper in trial 5. */
static const char *mn_encoding(const cf_gen *g)
{
    return g->trial == 5 ? "position_paper" : g->trial % 2 ? "position" : "bow";
}

static int gen_mn_encode(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    (void)rc;
    const int64_t V = cf_dim(g) + 1, D = cf_dim(g), M = cf_int(&g->rng, 1, 5), J = cf_int(&g->rng, 1, 6);
    const int64_t lead = cf_int(&g->rng, 1, g->large ? 64 : 4);
    const int temporal = g->trial % 3 != 2;
    cf_tensor *E = cf_in(c, "E", STRATA_F32, 2, (int64_t[]){V, D});
    cf_fill_uniform(&g->rng, E, -1.0, 1.0);
    E->grad = 1;
    int64_t xs[3] = {lead, M, J}, xs2[2] = {lead * M, J};
    cf_tensor *x = index_input(g, c, "x", temporal ? 3 : 2, temporal ? xs : xs2, V);
    if (!g->error && mn_padding(g) == 0) /* every third row all padding: an empty slot encodes to 0, without T */
        for (int64_t r = 0; x->data && r < lead * M; r += 3)
            for (int64_t j = 0; j < J; j++)
                cf_set_index(x, r * J + j, 0);
    if (temporal) {
        cf_tensor *T = cf_in(c, "T", STRATA_F32, 2, (int64_t[]){M, D});
        cf_fill_uniform(&g->rng, T, -1.0, 1.0);
        T->grad = 1;
    }
    cf_attr_string(c, "encoding", mn_encoding(g));
    cf_attr_int(c, "padding_idx", mn_padding(g));
    c->k_fwd = J + 1;
    c->k_bwd = lead * M * J;
    return 0;
}

/* memnet::encode_backward: dy (lead, M, D), x (lead, M, J). */
static int gen_mn_encode_backward(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    (void)rc;
    const int64_t V = cf_dim(g) + 1, D = cf_dim(g), M = cf_int(&g->rng, 1, 5), J = cf_int(&g->rng, 1, 6);
    const int64_t lead = cf_int(&g->rng, 1, g->large ? 64 : 4);
    cf_tensor *dy = cf_in(c, "dy", STRATA_F32, 3, (int64_t[]){lead, M, D});
    cf_fill_uniform(&g->rng, dy, -1.0, 1.0);
    index_input(g, c, "x", 3, (int64_t[]){lead, M, J}, V);
    cf_attr_string(c, "encoding", mn_encoding(g));
    cf_attr_int(c, "padding_idx", mn_padding(g));
    cf_attr_int(c, "num_embeddings", V);
    c->k_fwd = lead * M * J;
    return 0;
}

/* gan::d_loss and gan::g_loss: real_logits (N, ...) (d_loss only) and
 * fake_logits (M, ...) with the same trailing dims, values in [lo, hi]; kind
 * by trial (each kind once in the first five, a random one after). Error
 * cases: an unknown kind (E_INVALID), "wgan_gp" (E_UNSUPPORTED: needs double
 * backward), and for d_loss trailing dims that differ (E_SHAPE). Shapes
 * from gan_shape(), the batch of fake_logits redrawn. K: the elements of
 * the larger input (the means). */
static const char *const cf_gan_kinds[] = {"minimax", "non_saturating", "least_squares", "hinge", "wasserstein"};

static int gan_shape(cf_gen *g, int64_t *s)
{
    if (g->trial == 0) {
        s[0] = 7, s[1] = 13;
        return 2;
    }
    const int n = (int)cf_int(&g->rng, 1, 3);
    const int64_t cap = g->large ? CF_LARGE_CAP : CF_MAX_NUMEL;
    int64_t total = 1;
    for (int d = 0; d < n; d++) {
        s[d] = cf_dim(g);
        while (s[d] > 1 && total * s[d] > cap)
            s[d] /= 2;
        total *= s[d];
    }
    return n;
}

static int gen_gan_loss(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    const int d = !strcmp(rc->op, "gan::d_loss");
    int64_t s[STRATA_MAX_DIMS], fs[STRATA_MAX_DIMS];
    int n = gan_shape(g, s);
    memcpy(fs, s, sizeof s);
    fs[0] = cf_dim(g);
    const char *kind = cf_gan_kinds[g->large ? cf_int(&g->rng, 0, 4) : g->trial % 5];
    if (g->error == 1) {
        kind = "relativistic", c->note = "an unknown kind must fail", c->expect = STRATA_E_INVALID;
    } else if (g->error == 2) {
        kind = "wgan_gp", c->note = "wgan_gp needs double backward and must fail", c->expect = STRATA_E_UNSUPPORTED;
    } else if (g->error == 3) {
        n = 2, s[1] = 3, fs[1] = 2;
        c->note = "trailing dims that differ must fail", c->expect = STRATA_E_SHAPE;
    }
    for (int k = !d; k < 2; k++) /* real_logits (d_loss only), fake_logits */
        cf_in_filled(g, c, k ? "fake_logits" : "real_logits", n, k ? fs : s, rc->lo, rc->hi, 1);
    cf_attr_string(c, "kind", kind);
    int64_t ns = cf_numel(n, s), nf = cf_numel(n, fs);
    c->k_fwd = d && ns > nf ? ns : nf;
    return 0;
}

/* gan::ema_update in place: (ema, param) -> ema of a gan_shape() shape;
 * decay 0.999, 0, 1, 0.5, then random. Error cases: decay 1.5 (E_INVALID),
 * shapes that differ (E_SHAPE). */
static int gen_gan_ema(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const double decays[] = {0.999, 0.0, 1.0, 0.5};
    int64_t s[STRATA_MAX_DIMS], ps[STRATA_MAX_DIMS];
    int n = gan_shape(g, s);
    memcpy(ps, s, sizeof s);
    double decay = g->trial < 4 ? decays[g->trial] : cf_range(&g->rng, 0.0, 1.0);
    if (g->error == 1) {
        decay = 1.5, c->note = "decay outside [0, 1] must fail", c->expect = STRATA_E_INVALID;
    } else if (g->error == 2) {
        ps[n - 1] = s[n - 1] + 1, c->note = "param of another shape must fail", c->expect = STRATA_E_SHAPE;
    }
    for (int k = 0; k < 2; k++)
        cf_in_filled(g, c, k ? "param" : "ema", n, k ? ps : s, rc->lo, rc->hi, 0);
    cf_attr_float(c, "decay", decay);
    c->mode = CF_INPLACE;
    c->n_out = 1;
    return 0;
}

/* memnet::slot_mask: x (lead, M, J) word ids with whole padded rows. */
static int gen_mn_slot_mask(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    (void)rc;
    const int64_t V = cf_dim(g) + 1, M = cf_int(&g->rng, 1, 5), J = cf_int(&g->rng, 1, 6);
    const int64_t lead = cf_int(&g->rng, 1, g->large ? 64 : 4);
    cf_tensor *x = index_input(g, c, "x", 3, (int64_t[]){lead, M, J}, V);
    for (int64_t r = 0; x->data && r < lead * M; r += 2) /* every other row empty */
        for (int64_t j = 0; j < J; j++)
            cf_set_index(x, r * J + j, 0);
    cf_attr_int(c, "padding_idx", g->error || g->trial % 2 ? 0 : -1);
    cf_attr_int(c, "num_embeddings", V);
    c->k_fwd = J;
    return 0;
}

/* An op without a recipe (a third party's): rc->arity same-shape f32
 * inputs with values in [lo, hi], all differentiable, no attrs; shapes by
 * trial as for a unary map. */
/* The required attributes of a plugin op's schema (strata_op_def.attrs, since 1.4) with their defaults, the values
 * a generic case calls it with, into @p out (at most @p max); how many. Numbers and integers and strings only: an
 * op that requires a list has no generic case. -1 when it requires one the case cannot give. */
static int cf_required_attrs(strata_runtime *rt, const char *op, int version, strata_attr *out, int max)
{
    const int n_ops = strata_registry_count(rt, STRATA_REGISTRY_OP);
    for (int i = 0; i < n_ops; i++) {
        const char *name = NULL;
        int v = 0, n = 0;
        const strata_attr_spec *s = NULL;
        if (strata_registry_get(rt, STRATA_REGISTRY_OP, i, &name, &v, NULL, NULL) || strcmp(name, op) ||
            v != version || strata_registry_attrs(rt, STRATA_REGISTRY_OP, i, &s, &n) || !s)
            continue;
        int got = 0;
        for (int k = 0; k < n; k++) {
            if (!s[k].required)
                continue;
            if (got == max || (s[k].kind != STRATA_ATTR_INT && s[k].kind != STRATA_ATTR_FLOAT &&
                               (s[k].kind != STRATA_ATTR_STRING || !s[k].dflt_s)))
                return -1;
            out[got++] = s[k].kind == STRATA_ATTR_INT     ? strata_attr_int(s[k].name, s[k].dflt_i)
                         : s[k].kind == STRATA_ATTR_FLOAT ? strata_attr_float(s[k].name, s[k].dflt_f)
                                                          : strata_attr_string(s[k].name, s[k].dflt_s);
        }
        return got;
    }
    return 0;
}

static int gen_generic(cf_gen *g, const cf_recipe *rc, cf_case *c)
{
    static const char *const names[] = {"x", "y", "z"};
    const cf_tensor *x = unary_input(g, rc, c, rc->lo, rc->hi);
    int64_t shape[STRATA_MAX_DIMS];
    const int ndim = x->ndim;
    memcpy(shape, x->shape, sizeof shape);
    if (x->pre_op && !strcmp(x->pre_op, "core::permute")) /* the others take the shape x has after it */
        for (int d = 0; d < ndim; d++)
            shape[d] = x->shape[x->pre_ints[d]];
    for (int k = 1; k < CF_G_ARITY_OF(rc->flags) && k < 3; k++) {
        cf_tensor *t = cf_in(c, names[k], STRATA_F32, ndim, shape);
        cf_fill_uniform(&g->rng, t, rc->lo, rc->hi);
        t->grad = 1;
    }
    c->in[0].name = names[0];
    strata_attr req[CF_MAX_ATTRS];
    const int n_req = cf_required_attrs(g->rt, rc->op, rc->version, req, CF_MAX_ATTRS);
    for (int k = 0; k < n_req; k++)
        *cf_attr_slot(c) = req[k];
    for (int k = 0; (rc->flags & CF_G_NOGRAD) && k < c->n_in; k++)
        c->in[k].grad = 0;
    return 0;
}

static const cf_recipe cf_recipes[] = {
    /* elementwise: x in the range where the map is defined; exact zeros at kinks */
    /* gen_binary's 6 fixed trials; div: |b| in [0.5, 2] */
    {"core::add", 1, gen_binary, CF_ELT, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::sub", 1, gen_binary, CF_ELT, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::mul", 1, gen_binary, CF_ELT, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::div", 1, gen_binary, CF_ELT, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    RV("neg", gen_unary, CF_ELT, CF_ELT, -2.0, 2.0, 0),
    RV("exp", gen_unary, CF_ELT, CF_ELT, -3.0, 3.0, 0),
    RV("log", gen_unary, CF_ELT, CF_ELT, 0.1, 4.0, 0),
    RV("sqrt", gen_unary, CF_ELT, CF_ELT, 0.1, 4.0, 0),
    RV("abs", gen_unary, CF_ELT, CF_ELT, -2.0, 2.0, CF_G_ZEROS),
    RV("relu", gen_unary, CF_ELT, CF_ELT, -2.0, 2.0, CF_G_ZEROS),
    RV("leaky_relu", gen_leaky_relu, CF_ELT, CF_ELT, -2.0, 2.0, CF_G_ZEROS),
    RV("sigmoid", gen_unary, CF_ELT, CF_ELT, -6.0, 6.0, 0),
    RV("tanh", gen_unary, CF_ELT, CF_ELT, -4.0, 4.0, 0),
    RV("gelu", gen_unary, CF_ELT, CF_ELT, -4.0, 4.0, 0),
    R("pow", gen_pow, CF_ELT, CF_ELT), /* e in {2, 3, 0.5, -1.5, 1.7, 0}; x > 0 for fractional e */
    RV("scale", gen_scale, CF_ELT, CF_ELT, -3.0, 3.0, 0),
    {"core::cast", 1, gen_cast, CF_EXACT, CF_EXACT, 8, 1, NULL, -2.0, 2.0, 0}, /* gen_cast's 8 fixed pairs */
    {"core::eltwise_backward", 1, gen_eltwise_backward, CF_ELT, CF_ELT, 2 * CF_EB_CASES, 0, NULL, 0, 0, 0},
    /* linear algebra: K = the inner dimension */
    R("matmul", gen_matmul, CF_RED, CF_RED),
    R("linear", gen_linear, CF_RED, CF_RED),
    /* reductions: K = elements per output; max and argmax get distinct values (ties in named trials) */
    /* gen_reduce's 7 fixed trials */
    {"core::sum", 1, gen_reduce, CF_RED, CF_ELT, 7, 0, NULL, -2.0, 2.0, 0},
    {"core::mean", 1, gen_reduce, CF_RED, CF_ELT, 7, 0, NULL, -2.0, 2.0, 0},
    {"core::max", 1, gen_reduce, CF_EXACT, CF_EXACT, 8, 0, NULL, -2.0, 2.0, CF_G_DISTINCT}, /* 8th: NaNs */
    {"core::max_backward", 1, gen_max_backward, CF_EXACT, CF_EXACT, 6, 0, NULL, -2.0, 2.0, 0},
    R("argmax", gen_argmax, CF_EXACT, CF_EXACT),
    R("sum_to_shape", gen_sum_to_shape, CF_RED, CF_ELT),
    /* softmax family and losses: K = the axis (or rows x classes); softmax_setup's 6 fixed trials */
    {"core::softmax", 1, gen_softmax, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::log_softmax", 1, gen_softmax, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::softmax_backward", 1, gen_softmax_backward, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::log_softmax_backward", 1, gen_softmax_backward, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"core::cross_entropy", 1, gen_cross_entropy, CF_RED, CF_RED, 6, 3, NULL, -2.0, 2.0, 0}, /* labels out of range fail */
    {"core::cross_entropy_backward", 1, gen_cross_entropy_backward, CF_RED, CF_RED, 6, 3, NULL, -2.0, 2.0, 0},
    RP("mse", gen_pairwise_loss, CF_RED, CF_RED, "composite"),
    R("bce_with_logits", gen_pairwise_loss, CF_RED, CF_RED),
    R("bce_with_logits_backward", gen_bce_backward, CF_RED, CF_RED),
    /* shapes: data movement is exact; gradients that sum (expand, a copy of an expand) are not */
    RP("reshape", gen_reshape, CF_EXACT, CF_EXACT, "view"),
    RP("permute", gen_permute, CF_EXACT, CF_EXACT, "view"),
    RP("slice", gen_slice, CF_EXACT, CF_EXACT, "view"),
    RP("expand", gen_expand, CF_EXACT, CF_RED, "view"),
    {"core::copy", 1, gen_copy, CF_EXACT, CF_RED, 7, 0, NULL, -2.0, 2.0, 0}, /* gen_copy's 7 fixed trials */
    R("concat", gen_concat, CF_EXACT, CF_EXACT),
    RP("split", gen_split, CF_EXACT, CF_EXACT, "composite"),
    R("slice_backward", gen_slice_backward, CF_EXACT, CF_EXACT),
    /* indexing: indices in range; out-of-range indices fail */
    RE("embedding", gen_embedding, CF_EXACT, CF_RED, 3),
    {"core::embedding_backward", 1, gen_embedding_backward, CF_RED, CF_RED, 6, 2, NULL, -2.0, 2.0, 0},
    RE("gather", gen_gather, CF_EXACT, CF_RED, 2),
    RE("gather_backward", gen_gather_backward, CF_RED, CF_RED, 1),
    RE("one_hot", gen_one_hot, CF_EXACT, CF_EXACT, 2),
    /* creation and Philox: bit-exact (normal: 1 ulp) */
    R("fill", gen_fill, CF_EXACT, CF_EXACT),
    R("uniform", gen_uniform, CF_EXACT, CF_EXACT),
    R("normal", gen_normal, CF_ULP1, CF_ULP1),
    R("dropout", gen_dropout, CF_EXACT, CF_EXACT), /* p in {0, 0.25, 0.5, 0.75} */
    /* optimizer steps, in place: param and slots */
    R("sgd_step", gen_sgd_step, CF_ELT, CF_ELT),
    RE("adam_step", gen_adam_step, CF_ELT, CF_ELT, 1), /* step 0 fails */
    R("rmsprop_step", gen_rmsprop_step, CF_ELT, CF_ELT),
    RE("adagrad_step", gen_adagrad_step, CF_ELT, CF_ELT, 1),
    /* the conv plugin (plugins/conv): K = taps per output (forward), positions summed (weight gradients) */
    {"conv::conv2d", 1, gen_conv2d, CF_RED, CF_RED, 0, 3, NULL, -1.0, 1.0, 0}, /* kernel too large, groups, stride 0 */
    {"conv::conv2d_backward_data", 1, gen_conv2d_backward_data, CF_RED, CF_RED, 0, 0, NULL, -1.0, 1.0, 0},
    {"conv::conv2d_backward_weight", 1, gen_conv2d_backward_weight, CF_RED, CF_RED, 0, 0, NULL, -1.0, 1.0, 0},
    {"conv::conv_transpose2d", 1, gen_conv_transpose2d, CF_RED, CF_RED, 0, 2, NULL, -1.0, 1.0, 0},
    {"conv::conv1d", 1, gen_conv1d, CF_RED, CF_RED, 0, 0, "composite", -1.0, 1.0, 0},
    {"conv::max_pool2d", 1, gen_max_pool2d, CF_EXACT, CF_EXACT, 6, 1, NULL, -2.0, 2.0, 0}, /* ties in trial 4 */
    {"conv::max_pool2d_backward", 1, gen_max_pool2d_backward, CF_RED, CF_EXACT, 6, 1, NULL, -1.0, 1.0, 0},
    {"conv::avg_pool2d", 1, gen_avg_pool2d, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"conv::avg_pool2d_backward", 1, gen_avg_pool2d_backward, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"conv::global_avg_pool2d", 1, gen_global_avg_pool2d, CF_RED, CF_ELT, 0, 0, NULL, -2.0, 2.0, 0},
    {"conv::batch_norm", 1, gen_batch_norm, CF_RED, CF_RED, 6, 1, NULL, -2.0, 2.0, 0}, /* M = 1 in training fails */
    {"conv::batch_norm_backward", 1, gen_batch_norm_backward, CF_RED, CF_RED, 6, 0, NULL, -2.0, 2.0, 0},
    {"conv::batch_norm_update_stats", 1, gen_batch_norm_update_stats, CF_RED, CF_RED, 0, 0, NULL, -2.0, 2.0, 0},
    {"conv::dropout2d", 1, gen_dropout2d, CF_EXACT, CF_EXACT, 0, 0, NULL, -2.0, 2.0, 0}, /* Philox, as dropout */
    /* the lstm plugin (plugins/lstm): K = (T + 1) (I + G H), the terms one output depends on */
    {"lstm::lstm_seq", 1, gen_seq, CF_RED, CF_RED, 0, 1, NULL, -1.0, 1.0, 0}, /* T = 0 fails */
    {"lstm::lstm_seq_backward", 1, gen_seq_backward, CF_RED, CF_RED, 0, 0, NULL, -1.0, 1.0, 0},
    {"lstm::lstm_seq_unfused", 1, gen_seq, CF_RED, CF_RED, 0, 1, "composite", -1.0, 1.0, 0},
    {"lstm::gru_seq", 1, gen_seq, CF_RED, CF_RED, 0, 1, NULL, -1.0, 1.0, 0},
    {"lstm::gru_seq_backward", 1, gen_seq_backward, CF_RED, CF_RED, 0, 0, NULL, -1.0, 1.0, 0},
    {"lstm::gru_seq_unfused", 1, gen_seq, CF_RED, CF_RED, 0, 1, "composite", -1.0, 1.0, 0},
    {"lstm::rnn_seq", 1, gen_seq, CF_RED, CF_RED, 0, 1, NULL, -1.0, 1.0, 0},
    {"lstm::rnn_seq_backward", 1, gen_seq_backward, CF_RED, CF_RED, 0, 0, NULL, -1.0, 1.0, 0},
    {"lstm::rnn_seq_unfused", 1, gen_seq, CF_RED, CF_RED, 0, 1, "composite", -1.0, 1.0, 0},
    /* the memnet plugin (plugins/memnet): K = the words summed per output (forward), the rows (dE) */
    {"memnet::encode", 1, gen_mn_encode, CF_RED, CF_RED, 6, 3, NULL, -1.0, 1.0, 0}, /* word id V or -1 fails */
    {"memnet::encode_backward", 1, gen_mn_encode_backward, CF_RED, CF_RED, 6, 3, NULL, -1.0, 1.0, 0},
    {"memnet::encode_unfused", 1, gen_mn_encode, CF_RED, CF_RED, 6, 0, "composite", -1.0, 1.0, 0},
    {"memnet::encode_backward_unfused", 1, gen_mn_encode_backward, CF_RED, CF_RED, 6, 0, "composite", -1.0, 1.0, 0},
    {"memnet::slot_mask", 1, gen_mn_slot_mask, CF_EXACT, CF_EXACT, 0, 0, NULL, -1.0, 1.0, 0},
    /* the gan plugin (plugins/gan): K = the logits averaged (losses); the EMA is elementwise */
    {"gan::d_loss", 1, gen_gan_loss, CF_RED, CF_ELT, 0, 3, "composite", -4.0, 4.0, 0}, /* kind, wgan_gp, shapes fail */
    {"gan::g_loss", 1, gen_gan_loss, CF_RED, CF_ELT, 0, 2, "composite", -4.0, 4.0, 0}, /* kind, wgan_gp fail */
    {"gan::ema_update", 1, gen_gan_ema, CF_ELT, CF_ELT, 0, 2, NULL, -2.0, 2.0, 0},     /* decay 1.5, shapes fail */
};

#undef R
#undef RV
#undef RE
#undef RP

#define CF_N_RECIPES ((int)(sizeof cf_recipes / sizeof cf_recipes[0]))

static const cf_recipe *cf_find_recipe(const char *op)
{
    for (int k = 0; k < CF_N_RECIPES; k++)
        if (!strcmp(cf_recipes[k].op, op))
            return &cf_recipes[k];
    return NULL;
}

int conformance_recipe_count(void)
{
    return CF_N_RECIPES;
}

const char *conformance_recipe_op(int i)
{
    return i >= 0 && i < CF_N_RECIPES ? cf_recipes[i].op : NULL;
}

int conformance_has_recipe(const char *op, int version)
{
    const cf_recipe *rc = op ? cf_find_recipe(op) : NULL;
    return rc && rc->version == version;
}

/* ======================================================================= */
/* Driver                                                                   */
/* ======================================================================= */

typedef struct cf_op_stats {
    int cases, failures, lines;
    int trials;    /* cases that are not error cases */
    int on_kernel; /* ... of them, those whose forward the backend's own kernel ran (the rest: its fallback) */
    int any_fwd;   /* a forward output was compared (none when every forward failed) */
    int any_bwd;
    int64_t fd_points; /* gradient elements checked by finite differences */
    double fwd_err, bwd_err;
    char first[CF_MAX_LINES][1024];
} cf_op_stats;

typedef struct cf_ctx {
    strata_runtime *rt;
    const char *backend;
    conformance_options opt;
    FILE *report;
    int declined_ops; /* ops with a kernel on the backend whose supports_op declined some of their trials */
    int unrun_ops;    /* ... of them, those whose kernel ran no trial at all */
    int no_recipe;    /* ops of the plugins named that no recipe covers: skipped, and said so */
} cf_ctx;

static void cf_fail(cf_ctx *x, cf_op_stats *st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void cf_fail(cf_ctx *x, cf_op_stats *st, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (st->lines < CF_MAX_LINES)
        snprintf(st->first[st->lines], sizeof st->first[0], "%s", line);
    st->lines++;
    if (x->opt.on_fail)
        x->opt.on_fail(x->opt.user, line);
}

/* Compares the backend's run of case @p t with ref's; records a failure. */
static void cf_check(cf_ctx *x, const cf_recipe *rc, const cf_case *c, int t, const cf_result *want,
                     const cf_result *got, cf_op_stats *st)
{
    char desc[512], why[512] = "";
    cf_describe(c, desc, sizeof desc);
    const char *be = x->backend;

    if (c->expect != STRATA_OK) {
        int ok_ref = want->status == c->expect && want->stage && !strcmp(want->stage, "forward");
        int ok_be = got->status == c->expect && got->stage && !strcmp(got->stage, "forward");
        if (!ok_ref)
            snprintf(why, sizeof why, "ref gave %s (%.200s), expected %s", strata_status_name(want->status), want->msg,
                     strata_status_name(c->expect));
        else if (!ok_be)
            snprintf(why, sizeof why, "expected %s (as ref: %.160s), got %s%s%.160s", strata_status_name(c->expect),
                     want->msg, strata_status_name(got->status), got->msg[0] ? ": " : "", got->msg);
        else if (!strstr(got->msg, rc->op))
            snprintf(why, sizeof why, "the error message does not name the op: \"%.300s\"", got->msg);
        if (why[0]) {
            st->failures++;
            cf_fail(x, st, "%s on %s, case %d (%s): %s", rc->op, be, t, desc, why);
        }
        return;
    }
    if (want->status) { /* a bug in ref, the core or the recipe: the case is kept and fails */
        int same = got->status == want->status && got->stage && !strcmp(got->stage, want->stage);
        st->failures++;
        cf_fail(x, st, "%s on %s, case %d (%s): ref failed at %s: %s: %s (%s %s)", rc->op, be, t, desc, want->stage,
                strata_status_name(want->status), want->msg, be, same ? "fails the same way" : "differs");
        return;
    }
    if (got->status) {
        st->failures++;
        cf_fail(x, st, "%s on %s, case %d (%s): %s failed: %s: %s", rc->op, be, t, desc, got->stage,
                strata_status_name(got->status), got->msg);
        return;
    }
    int ok = 1;
    double tf = cf_tol_value(rc->fwd, c->k_fwd), tb = cf_tol_value(rc->bwd, c->k_bwd);
    st->any_fwd |= want->n_out > 0;
    for (int k = 0; k < want->n_out && ok; k++) {
        char what[32];
        snprintf(what, sizeof what, "output %d", k);
        ok = cf_compare_buf(what, &want->out[k], &got->out[k], tf, rc->fwd == CF_ULP1, &st->fwd_err, why, sizeof why);
    }
    /* into provided outputs at an offset: what the plain call gave, nothing written outside */
    if (ok && c->mode == CF_CALL && !want->off_status) {
        if (got->off_status) {
            snprintf(why, sizeof why, "fails with provided outputs that start partway into their buffers (ref "
                                      "takes them): %s: %.300s",
                     strata_status_name(got->off_status), got->off_msg);
            ok = 0;
        } else if (got->off_spill_at >= 0) {
            snprintf(why, sizeof why, "given output %d as a view starting %d elements into its buffer, wrote "
                                      "buffer element %lld, outside the view",
                     got->off_spill_out, CF_OFF_PAD, (long long)got->off_spill_at);
            ok = 0;
        }
        for (int k = 0; k < got->n_out && ok; k++) {
            char what[64];
            double err = 0;
            snprintf(what, sizeof what, "output %d (provided at an offset)", k);
            ok = cf_compare_buf(what, &got->out[k], &got->off_out[k], tf, rc->fwd == CF_ULP1, &err, why, sizeof why);
        }
    }
    /* into a provided output that is also an input: what the plain call gave */
    if (ok && c->mode == CF_CALL && !want->alias_status && got->alias_out >= 0) {
        char what[96];
        double err = 0;
        snprintf(what, sizeof what, "output %d (provided as input %d)", got->alias_out, got->alias_in);
        if (got->alias_status) {
            snprintf(why, sizeof why, "fails with %s: %s: %.300s", what, strata_status_name(got->alias_status),
                     got->alias_msg);
            ok = 0;
        } else {
            ok = cf_compare_buf(what, &got->out[got->alias_out], &got->alias_buf, tf, rc->fwd == CF_ULP1, &err, why,
                                sizeof why);
        }
    }
    for (int k = 0; k < c->n_in && ok; k++) {
        if (!c->in[k].grad || c->mode != CF_CALL)
            continue;
        char what[64];
        snprintf(what, sizeof what, "grad of %s", c->in[k].name);
        st->any_bwd = 1;
        ok = cf_compare_buf(what, &want->grad[k], &got->grad[k], tb, rc->bwd == CF_ULP1, &st->bwd_err, why, sizeof why);
    }
    if (!ok) {
        st->failures++;
        cf_fail(x, st, "%s on %s, case %d (%s): %s", rc->op, be, t, desc, why);
    }
}

/* ---- finite differences of a plugin's backward ------------------------- */

/* Elements of each input whose gradient the finite differences check. */
#define CF_FD_POINTS 16

/* L of cf_run (sum over the loss outputs of y .* r) on @p dev without
 * gradients, with element @p i of input @p k set to @p v and the runtime's
 * random state at (@p seed, @p offset): 0, or a status. */
static strata_status cf_loss_at(strata_runtime *rt, strata_device *dev, const cf_case *c, int k, int64_t i, float v,
                                uint64_t seed, uint64_t offset, double *L)
{
    strata_tensor *leaf[CF_MAX_IN] = {0}, *in[CF_MAX_IN] = {0}, *out[CF_MAX_OUT] = {0};
    const int prev = strata_set_grad_enabled(rt, 0);
    strata_status s = STRATA_OK;
    const int64_t nk = cf_tnumel(&c->in[k]);
    float *xk = malloc(sizeof(float) * (size_t)(nk > 0 ? nk : 1));
    if (!xk)
        s = STRATA_E_NOMEM;
    else {
        memcpy(xk, c->in[k].data, sizeof(float) * (size_t)nk);
        xk[i] = v;
    }
    for (int j = 0; j < c->n_in && !s; j++) {
        const cf_tensor *t = &c->in[j];
        s = strata_tensor_from_host(dev, (strata_dtype)t->dtype, t->ndim, t->shape, j == k ? xk : t->data, &leaf[j]);
        if (!s && t->pre_op)
            s = strata_op_call(rt, t->pre_op, &leaf[j], 1, t->pre_attrs, t->n_pre_attrs, &in[j], 1);
        else if (!s)
            in[j] = strata_tensor_retain(leaf[j]);
    }
    strata_runtime_set_rng_state(rt, seed, offset);
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = c->op, .version = c->version, .inputs = in,
                                .n_inputs = c->n_in, .attrs = c->attrs, .n_attrs = c->n_attrs,
                                .n_outputs = c->n_out, .outputs = out};
    if (!s)
        s = strata_op_invoke(rt, &inv);
    double sum = 0.0;
    for (int j = 0; j < c->n_out && !s; j++) {
        const int in_loss = c->loss_mask ? (c->loss_mask >> j) & 1u : 1;
        if (!in_loss || strata_tensor_dtype(out[j]) != STRATA_F32)
            continue;
        cf_buf b = {0};
        if (!(s = cf_read(out[j], &b))) {
            cf_rng r = {c->r_seed + (uint64_t)j}; /* the weights of cf_add_loss_term */
            for (int64_t e = 0; e < b.n; e++)
                sum += (double)((const float *)b.data)[e] * (double)(float)cf_range(&r, -1.0, 1.0);
        }
        free(b.data);
    }
    for (int j = 0; j < CF_MAX_OUT; j++)
        strata_tensor_release(out[j]);
    for (int j = 0; j < CF_MAX_IN; j++) {
        strata_tensor_release(in[j]);
        strata_tensor_release(leaf[j]);
    }
    free(xk);
    strata_set_grad_enabled(rt, prev);
    *L = sum;
    return s;
}

/* Checks ref's gradients (@p want) of a case of a plugin's op against
 * central differences of L: on ref the op may run the plugin's own host
 * kernel and backward, and then the comparison with ref checks neither.
 * (@p seed, @p offset): the runtime's random state the case ran from. */
static void cf_fd_check(cf_ctx *x, strata_device *ref, const cf_case *c, int t, const cf_result *want, uint64_t seed,
                        uint64_t offset, cf_op_stats *st)
{
    if (c->mode != CF_CALL || c->expect != STRATA_OK || want->status)
        return;
    if (c->set_rng)
        seed = c->rng_seed, offset = c->rng_offset;
    for (int k = 0; k < c->n_in; k++) {
        const cf_tensor *in = &c->in[k];
        if (!in->grad || in->dtype != STRATA_F32 || !want->grad[k].present)
            continue;
        const int64_t n = cf_tnumel(in), points = n < CF_FD_POINTS ? n : CF_FD_POINTS;
        for (int64_t p = 0; p < points; p++) {
            const int64_t i = p * n / points;
            const float x0 = ((const float *)in->data)[i];
            /* two steps: 1e-3 (rarely across a kink: relu, a max) and 1e-2 (a tenth of the
             * rounding noise of an op that sums many terms); a right backward matches one */
            const double g = ((const float *)want->grad[k].data)[i];
            double fd[2] = {0, 0};
            int close = 0;
            for (int step = 0; step < 2 && !close; step++) {
                const double h = (step ? 1e-2 : 1e-3) * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
                const float up = (float)(x0 + h), down = (float)(x0 - h);
                double lp = 0, lm = 0;
                strata_status s = cf_loss_at(x->rt, ref, c, k, i, up, seed, offset, &lp);
                if (!s)
                    s = cf_loss_at(x->rt, ref, c, k, i, down, seed, offset, &lm);
                if (s) {
                    st->failures++;
                    cf_fail(x, st, "%s on ref, case %d: the finite-difference pass failed: %s: %s", c->op, t,
                            strata_status_name(s), strata_last_error());
                    return;
                }
                fd[step] = (lp - lm) / ((double)up - (double)down);
                const double scale = fabs(fd[step]) > fabs(g) ? fabs(fd[step]) : fabs(g);
                close = fabs(fd[step] - g) <= (1e-2 * scale > 2e-3 ? 1e-2 * scale : 2e-3); /* 1%, 2e-3 at least */
            }
            if (!close) {
                char desc[512];
                st->failures++;
                cf_fail(x, st, "%s on ref, case %d (%s): the gradient of %s[%lld] is %.6g by the op's backward, "
                               "%.6g and %.6g by finite differences of its forward (steps 1e-3 and 1e-2): the "
                               "backward (or the forward) is wrong, or the op is not differentiable at %g",
                        c->op, t, cf_describe(c, desc, sizeof desc), in->name, (long long)i, g, fd[0], fd[1],
                        (double)x0);
                return;
            }
            st->fd_points++;
        }
    }
}

/* "kernel" when the backend registered one; else how the core runs it. */
static const char *cf_impl(const char *kernels, const char *backend, const cf_recipe *rc)
{
    size_t n = strlen(backend);
    for (const char *p = kernels ? kernels : ""; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, backend, n))
            return "kernel";
        if (!e)
            break;
        p = e + 1;
    }
    return rc && rc->path ? rc->path : "fallback";
}

/* Fills @p out with a generic recipe for @p op (see gen_generic) when ref
 * runs it with 1, 2 or 3 same-shape f32 inputs; 0 when it does not. */
static int cf_probe_generic(strata_runtime *rt, strata_device *ref, const char *op, int version, cf_recipe *out,
                            char *failure, size_t failure_size, strata_status *failed_with)
{
    failure[0] = '\0';
    *failed_with = STRATA_OK;
    float v[6] = {-1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 2.0f};
    strata_attr req[CF_MAX_ATTRS]; /* its schema's required attributes, at their defaults */
    const int n_req = cf_required_attrs(rt, op, version, req, CF_MAX_ATTRS);
    if (n_req < 0)
        return 0;
    int prev = strata_set_grad_enabled(rt, 0), found = 0;
    for (int arity = 1; arity <= 3 && !found; arity++) {
        strata_tensor *in[3] = {NULL, NULL, NULL}, *y = NULL;
        strata_status s = STRATA_OK;
        for (int k = 0; k < arity && !s; k++)
            s = strata_tensor_from_host(ref, STRATA_F32, 2, (int64_t[]){2, 3}, v, &in[k]);
        strata_status called = s ? s : strata_op_call(rt, op, in, arity, req, n_req, &y, 1);
        /* a refusal of these inputs (arity, shapes, dtypes) says the op is not generic; any other failure is
         * the op's own, which no missing recipe may turn into a skip */
        if (!s && called != STRATA_OK && called != STRATA_E_INVALID && called != STRATA_E_SHAPE &&
            called != STRATA_E_DTYPE && !failure[0])
        {
            snprintf(failure, failure_size, "called on ref with %d f32 (2, 3) input(s), it failed: %s: %s", arity,
                     strata_status_name(called), strata_last_error());
            *failed_with = called;
        }
        if (!s && called == STRATA_OK && strata_tensor_dtype(y) == STRATA_F32) {
            cf_recipe r = {op, version, gen_generic, CF_RED, CF_RED, 0, 0, "generic", -2.0, 2.0, CF_G_ARITY(arity)};
            /* an op that gives no gradient (STRATA_OP_NO_GRAD, or none defined: the core says which) is checked
             * forward only; every case asked for a backward, which fails when nothing needs a gradient */
            strata_tensor *yg = NULL;
            strata_set_grad_enabled(rt, 1);
            if (!strata_tensor_set_requires_grad(in[0], 1) &&
                strata_op_call(rt, op, in, arity, req, n_req, &yg, 1) == STRATA_OK && !strata_tensor_requires_grad(yg))
                r.flags |= CF_G_NOGRAD;
            strata_set_grad_enabled(rt, 0);
            strata_tensor_release(yg);
            strata_graph_reset(strata_runtime_graph(rt));
            *out = r;
            found = 1;
        }
        strata_tensor_release(y);
        for (int k = 0; k < arity; k++)
            strata_tensor_release(in[k]);
    }
    strata_set_grad_enabled(rt, prev);
    strata_clear_error();
    return found;
}

/* The report's row of an op that ran no trial (@p verdict: FAIL, SKIP ...), @p why under it. */
static void cf_report_unrun(const cf_ctx *x, const char *op, const char *impl, const char *verdict, const char *why)
{
    if (x->report)
        fprintf(x->report, "%-30s %-12s %-13s %6s %12s %12s  %-23s %s\n    ! %s\n", op, x->backend, impl, "-", "-", "-",
                "-", verdict, why);
}

static int cf_run_op(cf_ctx *x, strata_device *dev, strata_device *ref, const char *op, int version,
                     const char *kernels, int plugin_op)
{
    cf_op_stats st;
    memset(&st, 0, sizeof st);
    const cf_recipe *rc = cf_find_recipe(op);
    cf_recipe generic;
    char failure[768] = "";
    strata_status failed_with = STRATA_OK;
    if ((!rc || rc->version != version) &&
        cf_probe_generic(x->rt, ref, op, version, &generic, failure, sizeof failure, &failed_with))
        rc = &generic;
    /* an op only a device backend runs (no ref, host or cpu kernel) cannot be probed on ref: not its failure */
    if (failed_with == STRATA_E_UNSUPPORTED && kernels && *kernels)
        failure[0] = '\0';
    const char *impl = cf_impl(kernels, x->backend, rc);
    if (!rc || rc->version != version) { /* nothing to run it with */
        const char *for_version = rc ? " for this version" : "";
        if (failure[0]) { /* not a misfit: the op failed */
            cf_fail(x, &st, "%s v%d has no conformance recipe%s, and %s", op, version, for_version, failure);
            cf_report_unrun(x, op, impl, "FAIL", st.first[0]);
            return 1;
        }
        if (plugin_op) { /* a plugin's own op of other inputs: its author cannot add a recipe here, so not a
                          * failure of a correct plugin, but never a pass either */
            char why[512];
            snprintf(why, sizeof why,
                     "%s v%d: no conformance recipe%s, and not a generic op of 1 to 3 same-shape f32 inputs: not "
                     "checked here (its own tests must cover it)",
                     op, version, for_version);
            x->no_recipe++;
            cf_report_unrun(x, op, impl, "SKIP (no recipe)", why);
            return 0;
        }
        cf_fail(x, &st,
                "%s v%d is registered but has no conformance recipe%s, and is not a generic op of 1 to 3 "
                "same-shape f32 inputs (add a recipe to the table in sdk/conformance/conformance_cases.c)",
                op, version, for_version);
        cf_report_unrun(x, op, impl, "FAIL (no recipe)", st.first[0]);
        return 1;
    }
    int normal = rc->trials > x->opt.trials ? rc->trials : x->opt.trials;
    int large = x->opt.large_trials;
    /* gen_binary's large trials alternate same shapes and a broadcast: both at size, where a kernel that takes
     * only same shapes (its supports_op declining broadcasts) would otherwise meet only the broadcast */
    if (rc->gen == gen_binary && large == 1)
        large = 2;
    cf_case *c = malloc(sizeof *c);
    if (!c) {
        if (x->report)
            fprintf(x->report, "%-30s %-12s out of memory\n", op, x->backend);
        return 1;
    }
    for (int t = 0; t < normal + large + rc->errors; t++) {
        memset(c, 0, sizeof *c);
        c->op = rc->op;
        c->version = rc->version;
        c->n_out = 1;
        c->k_fwd = c->k_bwd = 1;
        cf_gen g = {{x->opt.seed ^ cf_hash(op) ^ ((uint64_t)t * 0x9E3779B97F4A7C15ull)}, t, 0, 0, x->rt, ref};
        if (t >= normal + large) /* error cases reuse the small fixed shapes */
            g.trial = t - normal - large, g.error = t - normal - large + 1;
        else if (t >= normal)
            g.trial = 1000 + t - normal, g.large = 1;
        c->r_seed = cf_next(&g.rng);
        int rc_gen = rc->gen(&g, rc, c);
        st.cases++;
        if (rc_gen || c->setup_error[0]) {
            st.failures++;
            cf_fail(x, &st, "%s on %s, case %d: setting up the case failed: %s", op, x->backend, t,
                    c->setup_error[0] ? c->setup_error : "(no message)");
            cf_case_free(c);
            continue;
        }
        if (x->opt.verbose && x->report) {
            char desc[512];
            fprintf(x->report, "    %s case %d: %s\n", op, t, cf_describe(c, desc, sizeof desc));
        }
        cf_result want, got;
        uint64_t seed, offset;
        strata_runtime_rng_state(x->rt, &seed, &offset);
        cf_run(x->rt, ref, c, &want);
        cf_run(x->rt, dev, c, &got);
        if (!g.error) {
            st.trials++;
            st.on_kernel += got.on_kernel;
        }
        cf_check(x, rc, c, t, &want, &got, &st);
        if (plugin_op)
            cf_fd_check(x, ref, c, t, &want, seed, offset, &st);
        cf_result_free(&want);
        cf_result_free(&got);
        cf_case_free(c);
    }
    free(c);
    const int kernel = !strcmp(impl, "kernel");
    if (kernel && st.on_kernel < st.trials) {
        x->declined_ops++;
        x->unrun_ops += !st.on_kernel;
    }

    if (x->report) {
        char tol[48], fe[16], bee[16];
        if (st.any_bwd)
            snprintf(tol, sizeof tol, "%s / %s", cf_tol_name(rc->fwd), cf_tol_name(rc->bwd));
        else
            snprintf(tol, sizeof tol, "%s", cf_tol_name(rc->fwd));
        snprintf(fe, sizeof fe, "%.2e", st.fwd_err);
        snprintf(bee, sizeof bee, "%.2e", st.bwd_err);
        char how[32]; /* a kernel's: how many trials it ran */
        if (kernel)
            snprintf(how, sizeof how, "kernel %d/%d", st.on_kernel, st.trials);
        else
            snprintf(how, sizeof how, "%s", impl);
        fprintf(x->report, "%-30s %-12s %-13s %6d %12s %12s  %-23s %s\n", op, x->backend, how, st.cases,
                st.any_fwd ? fe : "-", st.any_bwd ? bee : "-", tol, st.failures ? "FAIL" : "pass");
        /* the other trials ran on the fallback, compared with ref through another backend's kernel: the row
         * must not read as if this kernel passed them */
        if (kernel && st.trials && !st.on_kernel)
            fprintf(x->report, "    warning: %s's supports_op declined all %d trials of %s: its kernel never ran, "
                               "the row checks the fallback only\n",
                    x->backend, st.trials, op);
        else if (kernel && st.on_kernel < st.trials)
            fprintf(x->report, "    (%s's supports_op declined %d of %d trials, which ran on the fallback: the "
                               "kernel was compared on %d)\n",
                    x->backend, st.trials - st.on_kernel, st.trials, st.on_kernel);
        if (plugin_op) /* ref may run the plugin's own code: say what the row rests on */
            fprintf(x->report, "    (a plugin's op: ref may run the plugin's own kernel, so the forward is checked "
                               "against ref only where ref has another; %lld gradient element(s) checked by finite "
                               "differences)\n",
                    (long long)st.fd_points);
        for (int k = 0; k < st.lines && k < CF_MAX_LINES; k++)
            fprintf(x->report, "    ! %s\n", st.first[k]);
        if (st.lines > CF_MAX_LINES)
            fprintf(x->report, "    ! ... and %d more\n", st.lines - CF_MAX_LINES);
    }
    return st.failures;
}

/* An op the options select: it runs natively on the backend (a kernel of
 * its own, or a host kernel on its host memory), or one of opt.plugins
 * registered it. */
static int cf_claimed(const cf_ctx *x, const char *kernels, const char *plugin)
{
    for (int k = 0; k < x->opt.n_plugins && x->opt.plugins; k++)
        if (plugin && x->opt.plugins[k] && !strcmp(plugin, x->opt.plugins[k]))
            return 1;
    return !strcmp(cf_impl(kernels, x->backend, NULL), "kernel");
}

int conformance_run_ex(strata_runtime *rt, const char *backend, const conformance_options *opts, FILE *report)
{
    cf_ctx x;
    memset(&x, 0, sizeof x);
    x.rt = rt;
    x.backend = backend;
    x.report = report;
    if (opts)
        memcpy(&x.opt, opts, opts->struct_size < sizeof x.opt ? opts->struct_size : sizeof x.opt);
    if (x.opt.trials <= 0)
        x.opt.trials = CF_DEFAULT_TRIALS;
    x.opt.large_trials = x.opt.large_trials < 0 ? 0 : x.opt.large_trials ? x.opt.large_trials : 1;
    if (!x.opt.seed && !x.opt.seed_given)
        x.opt.seed = CF_DEFAULT_SEED;

    if (!rt || !backend) {
        if (report)
            fprintf(report, "conformance: NULL runtime or backend\n");
        return -1;
    }
    int found = -1;
    strata_backend_record rec = {.struct_size = sizeof rec};
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record r = {.struct_size = sizeof r};
        if (strata_backend_get(rt, b, &r) == STRATA_OK && !strcmp(r.name, backend)) {
            found = b;
            rec = r;
        }
    }
    if (found < 0 || rec.device_count <= x.opt.device) {
        if (report) {
            if (found < 0)
                fprintf(report, "conformance: backend %s is not loaded\n", backend);
            else
                fprintf(report, "conformance: backend %s has no device %d (%s)\n", backend, x.opt.device,
                        rec.device_count ? "index out of range" : rec.unavailable);
        }
        return -1;
    }
    strata_device *dev = NULL, *ref = NULL;
    if (strata_device_get(rt, backend, x.opt.device, &dev) || strata_device_get(rt, "ref", 0, &ref)) {
        if (report)
            fprintf(report, "conformance: %s\n", strata_last_error());
        return -1;
    }

    /* The caller's runtime state is restored afterwards. */
    uint64_t seed0, offset0;
    strata_runtime_rng_state(rt, &seed0, &offset0);
    int grad0 = strata_grad_enabled(rt);

    if (report) {
        fprintf(report, "\nconformance: %s (%s) against ref%s\n", strata_device_name(dev),
                strata_backend_device_name(rt, found, x.opt.device),
                !strcmp(backend, "ref") ? " (self-consistency: no other backend to test)" : "");
        fprintf(report,
                "  per element |got - ref| <= tol * max(1, |ref|); s(K) = max(1, sqrt(K/64)), K = terms "
                "summed; %d trials per op + %d large, seed 0x%llx\n\n",
                x.opt.trials, x.opt.large_trials, (unsigned long long)x.opt.seed);
        if (x.opt.claimed_only)
            fprintf(report, "  ops: those %s runs natively (its kernels, host kernels on host memory)%s\n", backend,
                    x.opt.n_plugins ? " and those of the plugins named" : "");
        fprintf(report, "%-30s %-12s %-13s %6s %12s %12s  %-23s %s\n", "op", "backend", "impl", "trials", "fwd max err",
                "bwd max err", "tolerance (fwd / bwd)", "result");
    }
    int failures = 0, ops = 0, failed_ops = 0;
    for (int i = 0; i < strata_registry_count(rt, STRATA_REGISTRY_OP); i++) {
        const char *name = NULL, *plugin = NULL, *kernels = NULL;
        int version = 0;
        if (strata_registry_get(rt, STRATA_REGISTRY_OP, i, &name, &version, &plugin, &kernels) != STRATA_OK) {
            if (report) /* out of memory: a failure, never an op skipped without a word */
                fprintf(report, "op %d: %s\n", i, strata_last_error());
            failures++;
            continue;
        }
        if (x.opt.op_filter && x.opt.op_filter[0] && !strstr(name, x.opt.op_filter))
            continue;
        if (x.opt.claimed_only && !cf_claimed(&x, kernels, plugin))
            continue;
        /* the kernels string is scratch of the runtime: copy it before running anything */
        char kbuf[512];
        snprintf(kbuf, sizeof kbuf, "%s", kernels ? kernels : "");
        int from_plugin = 0; /* an op of a plugin named with --plugin */
        for (int k = 0; k < x.opt.n_plugins && x.opt.plugins && plugin; k++)
            from_plugin |= x.opt.plugins[k] && !strcmp(plugin, x.opt.plugins[k]);
        int f = cf_run_op(&x, dev, ref, name, version, kbuf, from_plugin);
        ops++;
        failures += f;
        failed_ops += f > 0;
    }
    if (report) {
        fprintf(report, "\nconformance: %s: %d ops, %d failed, %d failing case(s)\n", backend, ops, failed_ops,
                failures);
        if (x.no_recipe)
            fprintf(report, "conformance: %s: %d op(s) of the plugins named skipped: no recipe (SKIP above)\n",
                    backend, x.no_recipe);
        if (x.declined_ops) /* a pass there is partly the fallback's */
            fprintf(report, "conformance: %s: %d op(s) with a kernel had trials its supports_op declined (they ran on "
                            "the fallback), %d of them no trial on the kernel at all: see \"kernel N/M\" above\n",
                    backend, x.declined_ops, x.unrun_ops);
    }

    strata_runtime_set_rng_state(rt, seed0, offset0);
    strata_set_grad_enabled(rt, grad0);
    return failures;
}

int conformance_run(strata_runtime *rt, const char *backend, FILE *report)
{
    return conformance_run_ex(rt, backend, NULL, report);
}
