/* gradcheck.c - the finite-difference gradient checker and its data
 * helpers (gradcheck.h describes the method). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

static strata_runtime *g_rt;
static strata_device *g_dev;
static int g_cases;     /* gradient cases run */
static int64_t g_elems; /* elements checked */
static double g_worst;  /* largest |fd - g| / (1 + |fd|) seen in a passing case */
static char g_worst_case[160];

void gc_init(strata_runtime *rt, strata_device *dev)
{
    g_rt = rt;
    g_dev = dev;
}

void gc_report(void)
{
    fprintf(stderr,
            "gradcheck: %d cases, %lld elements checked (h = %g, tol = %g unless stated); "
            "worst |fd - g| / (1 + |fd|) of a passing case %.2e (%s)\n",
            g_cases, (long long)g_elems, GC_H, GC_TOL, g_worst, g_worst_case);
}

void gc_setup(strata_runtime **rt, strata_device **dev)
{
    *rt = tu_runtime();
    *dev = tu_ref(*rt);
    gc_init(*rt, *dev);
}

void gc_teardown(strata_runtime **rt)
{
    gc_report();
    strata_runtime_destroy(*rt);
    *rt = NULL;
}

void gc_assert_plugin_from_build_tree(const char *name)
{
    const char *build = getenv("STRATA_TEST_BUILD");
    char build_real[PATH_MAX] = "";
    if (build && !realpath(build, build_real))
        fail_msg("STRATA_TEST_BUILD=%s does not exist", build);
    for (int i = 0; i < strata_plugin_count(g_rt); i++) {
        strata_plugin_record r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ST_OK(strata_plugin_get(g_rt, i, &r));
        if (!r.name || strcmp(r.name, name))
            continue;
        if (!r.loaded)
            fail_msg("the %s plugin (%s) failed to load: %s", name, r.path, r.reason);
        if (build_real[0] && strncmp(r.path, build_real, strlen(build_real)))
            fail_msg("the %s plugin was loaded from %s, not from the build tree %s", name, r.path, build_real);
        return;
    }
    fail_msg("the %s plugin is not loaded (STRATA_TEST_BUILD=%s)", name, build ? build : "(unset)");
}

/* ======================================================================= */
/* Host data                                                               */
/* ======================================================================= */

static uint32_t lcg_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

/* uniform in [0, 1) */
static double lcg_unit(uint32_t *s)
{
    return (double)(lcg_next(s) >> 8) * (1.0 / 16777216.0);
}

void fill_data(float *d, int64_t n, data_kind kind, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        double u = lcg_unit(&s);
        switch (kind) {
        case D_ANY:
            d[i] = (float)(-1.5 + 3.0 * u);
            break;
        case D_WIDE:
            d[i] = (float)(-3.0 + 6.0 * u);
            break;
        case D_POS:
            d[i] = (float)(0.5 + 1.5 * u);
            break;
        case D_AWAY:
            d[i] = (float)((lcg_next(&s) & 0x100 ? 1.0 : -1.0) * (0.2 + 1.3 * u));
            break;
        case D_DIVISOR:
            d[i] = (float)((lcg_next(&s) & 0x100 ? 1.0 : -1.0) * (0.5 + 1.0 * u));
            break;
        case D_DISTINCT:
            d[i] = (float)(0.1 * (double)i - 0.05 * (double)n);
            break;
        case D_PROB:
            d[i] = (float)(0.05 + 0.9 * u);
            break;
        }
    }
    if (kind == D_DISTINCT) { /* Fisher-Yates */
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(lcg_next(&s) % (uint32_t)(i + 1));
            float t = d[i];
            d[i] = d[j];
            d[j] = t;
        }
    }
}

static int64_t numel_of(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= shape[k];
    return n;
}

strata_tensor *tv(data_kind kind, uint32_t seed, const int64_t *shape, int ndim)
{
    int64_t n = numel_of(shape, ndim);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(d);
    fill_data(d, n, kind, seed);
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_F32, ndim, shape, d, &t));
    free(d);
    return t;
}

strata_tensor *tf(const float *vals, const int64_t *shape, int ndim)
{
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_F32, ndim, shape, vals, &t));
    return t;
}

strata_tensor *ti64(const int64_t *vals, const int64_t *shape, int ndim)
{
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_I64, ndim, shape, vals, &t));
    return t;
}

strata_tensor *ti32(const int32_t *vals, const int64_t *shape, int ndim)
{
    strata_tensor *t = NULL;
    ST_OK(strata_tensor_from_host(g_dev, STRATA_I32, ndim, shape, vals, &t));
    return t;
}

float *read_f32(strata_tensor *t, int64_t *n_out)
{
    assert_int_equal(strata_tensor_dtype(t), STRATA_F32);
    int64_t n = strata_tensor_numel(t);
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(d);
    ST_OK(strata_tensor_read(t, d, sizeof(float) * (size_t)n));
    *n_out = n;
    return d;
}

/* ======================================================================= */
/* The gradient checker                                                    */
/* ======================================================================= */

/* sum_k sum_i y_k[i] r_k[i] in double from the host-read outputs. */
static double eval_loss(const gc_case *c, float *const *r, const int64_t *rn, int n_r)
{
    strata_tensor *outs[GC_MAX_OUT] = {0};
    int n_out = 0;
    ST_OK(c->fwd(c->user, outs, &n_out));
    assert_int_equal(n_out, n_r);
    double L = 0.0;
    for (int k = 0; k < n_out; k++) {
        int64_t n;
        float *y = read_f32(outs[k], &n);
        assert_int_equal(n, rn[k]);
        for (int64_t i = 0; i < n; i++)
            L += (double)y[i] * (double)r[k][i];
        free(y);
        strata_tensor_release(outs[k]);
    }
    return L;
}

int gradcheck(const gc_case *c)
{
    strata_runtime *rt = g_rt;
    strata_graph *graph = strata_runtime_graph(rt);
    double h = c->h > 0 ? c->h : GC_H, tol = c->tol > 0 ? c->tol : GC_TOL;
    int bad = 0;
    double worst = 0.0;

    strata_graph_reset(graph);
    int prev = strata_set_grad_enabled(rt, 1);
    for (int v = 0; v < c->n_vars; v++) {
        assert_int_equal(strata_tensor_dtype(c->vars[v].t), STRATA_F32);
        assert_true(strata_tensor_is_contiguous(c->vars[v].t));
        ST_OK(strata_tensor_set_requires_grad(c->vars[v].t, 1));
        strata_tensor_zero_grad(c->vars[v].t);
    }

    /* ---- analytic: L = sum_k sum(y_k * r_k), backward ---- */
    strata_tensor *outs[GC_MAX_OUT] = {0};
    int n_out = 0;
    ST_OK(c->fwd(c->user, outs, &n_out));
    assert_true(n_out >= 1 && n_out <= GC_MAX_OUT);
    float *r[GC_MAX_OUT] = {0};
    int64_t rn[GC_MAX_OUT] = {0};
    strata_tensor *loss = NULL;
    for (int k = 0; k < n_out; k++) {
        int64_t n = strata_tensor_numel(outs[k]);
        r[k] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        assert_non_null(r[k]);
        rn[k] = n;
        uint32_t s = 0x9e3779b9u + 7919u * (uint32_t)k;
        for (int64_t i = 0; i < n; i++)
            r[k][i] = (float)(-1.0 + 2.0 * lcg_unit(&s));
        strata_tensor *rt_k = NULL, *prod = NULL, *s_k = NULL;
        ST_OK(strata_tensor_from_host(g_dev, STRATA_F32, strata_tensor_ndim(outs[k]), strata_tensor_shape(outs[k]),
                                      r[k], &rt_k));
        ST_OK(strata_mul(rt, outs[k], rt_k, &prod));
        ST_OK(strata_sum_all(rt, prod, &s_k));
        strata_tensor_release(rt_k);
        strata_tensor_release(prod);
        if (!loss) {
            loss = s_k;
        } else {
            strata_tensor *sum = NULL;
            ST_OK(strata_add(rt, loss, s_k, &sum));
            strata_tensor_release(loss);
            strata_tensor_release(s_k);
            loss = sum;
        }
    }
    ST_OK(strata_backward(graph, loss));
    strata_tensor_release(loss);
    for (int k = 0; k < n_out; k++)
        strata_tensor_release(outs[k]);
    strata_graph_reset(graph);

    float *grads[GC_MAX_VARS] = {0};
    for (int v = 0; v < c->n_vars; v++) {
        strata_tensor *t = c->vars[v].t, *gt = strata_tensor_grad(t);
        int64_t n = strata_tensor_numel(t);
        if (!gt) { /* no gradient: compared as zeros, so fd != 0 is reported */
            grads[v] = calloc((size_t)(n ? n : 1), sizeof(float));
            assert_non_null(grads[v]);
            if (!c->quiet)
                fprintf(stderr, "gradcheck %s: %s received no gradient\n", c->what, c->vars[v].name);
            continue;
        }
        int same = strata_tensor_ndim(gt) == strata_tensor_ndim(t) &&
                   !memcmp(strata_tensor_shape(gt), strata_tensor_shape(t),
                           sizeof(int64_t) * (size_t)strata_tensor_ndim(t));
        if (!same)
            fail_msg("gradcheck %s: the gradient of %s has rank %d / %lld elements, the variable rank %d / %lld",
                     c->what, c->vars[v].name, strata_tensor_ndim(gt), (long long)strata_tensor_numel(gt),
                     strata_tensor_ndim(t), (long long)n);
        int64_t gn;
        grads[v] = read_f32(gt, &gn);
    }

    /* ---- numeric: central differences, gradients off ---- */
    strata_set_grad_enabled(rt, 0);
    for (int v = 0; v < c->n_vars; v++) {
        strata_tensor *t = c->vars[v].t;
        int64_t n;
        float *x = read_f32(t, &n);
        size_t bytes = sizeof(float) * (size_t)n;
        for (int64_t i = 0; i < n; i++) {
            float orig = x[i];
            float xp = orig + (float)h, xm = orig - (float)h;
            x[i] = xp;
            ST_OK(strata_tensor_write(t, x, bytes));
            double Lp = eval_loss(c, r, rn, n_out);
            x[i] = xm;
            ST_OK(strata_tensor_write(t, x, bytes));
            double Lm = eval_loss(c, r, rn, n_out);
            x[i] = orig;
            ST_OK(strata_tensor_write(t, x, bytes));
            double fd = (Lp - Lm) / ((double)xp - (double)xm);
            double g = grads[v][i];
            double rel = fabs(fd - g) / (1.0 + fabs(fd));
            worst = rel > worst ? rel : worst;
            if (!(fabs(fd - g) <= tol * (1.0 + fabs(fd)))) {
                if (!c->quiet && bad < 12)
                    fprintf(stderr,
                            "gradcheck %s: d/d%s[%lld]: finite difference %.7g, analytic %.7g "
                            "(|diff| %.3g > %.0e * (1 + |fd|))\n",
                            c->what, c->vars[v].name, (long long)i, fd, g, fabs(fd - g), tol);
                bad++;
            }
            g_elems++;
        }
        free(x);
    }
    if (!bad && worst > g_worst) {
        g_worst = worst;
        snprintf(g_worst_case, sizeof g_worst_case, "%s", c->what);
    }
    if (bad && !c->quiet)
        fprintf(stderr, "gradcheck %s: %d element(s) mismatch\n", c->what, bad);

    strata_set_grad_enabled(rt, prev);
    for (int v = 0; v < c->n_vars; v++) {
        strata_tensor_zero_grad(c->vars[v].t);
        free(grads[v]);
    }
    for (int k = 0; k < n_out; k++)
        free(r[k]);
    strata_graph_reset(graph);
    g_cases++;
    return bad;
}

/* ======================================================================= */
/* Op cases                                                                */
/* ======================================================================= */

static strata_status op_forward(void *user, strata_tensor **outs, int *n_outs)
{
    op_case *c = user;
    strata_tensor *in[GC_MAX_IN], *pre = NULL, *all[GC_MAX_OUT] = {0};
    memcpy(in, c->in, sizeof(strata_tensor *) * (size_t)c->n_in);
    if (c->pre_op) {
        strata_status rc = strata_op_call(g_rt, c->pre_op, &in[0], 1, c->pre_attrs, c->n_pre_attrs, &pre, 1);
        if (rc)
            return rc;
        in[0] = pre;
    }
    int n_out = c->n_outputs ? c->n_outputs : 1;
    strata_status rc = strata_op_call(g_rt, c->op, in, c->n_in, c->attrs, c->n_attrs, all, n_out);
    strata_tensor_release(pre);
    if (rc)
        return rc;
    int used = c->n_used ? c->n_used : n_out;
    for (int k = 0; k < n_out; k++) {
        if (k < used)
            outs[k] = all[k];
        else
            strata_tensor_release(all[k]);
    }
    *n_outs = used;
    return STRATA_OK;
}

int run_op(const char *what, op_case *c)
{
    static const char *names[GC_MAX_IN] = {"in0", "in1", "in2", "in3", "in4", "in5", "in6", "in7"};
    gc_case g = {.what = what, .fwd = op_forward, .user = c, .h = c->h, .tol = c->tol};
    for (int k = 0; k < c->n_in; k++) {
        int dup = 0;
        for (int j = 0; j < k; j++)
            dup |= c->in[j] == c->in[k];
        if (!dup && strata_tensor_dtype(c->in[k]) == STRATA_F32 && !(c->constant_inputs & (1u << k))) {
            g.vars[g.n_vars].name = names[k];
            g.vars[g.n_vars++].t = c->in[k];
        }
    }
    int bad = gradcheck(&g);
    for (int k = 0; k < c->n_in; k++) {
        int dup = 0;
        for (int j = 0; j < k; j++)
            dup |= c->in[j] == c->in[k];
        if (!dup)
            strata_tensor_release(c->in[k]);
    }
    return bad;
}

int op1(const char *what, const char *op, strata_tensor *a, const strata_attr *at, int n_at)
{
    op_case c = {.op = op, .in = {a}, .n_in = 1, .attrs = at, .n_attrs = n_at};
    return run_op(what, &c);
}

int op2(const char *what, const char *op, strata_tensor *a, strata_tensor *b, const strata_attr *at, int n_at)
{
    op_case c = {.op = op, .in = {a, b}, .n_in = 2, .attrs = at, .n_attrs = n_at};
    return run_op(what, &c);
}

/* ======================================================================= */
/* Model cases                                                             */
/* ======================================================================= */

typedef struct model_case {
    strata_model *m;
    strata_tensor *inputs[4];
    int n_inputs;
    int training;
    /* training-mode dropout draws from the runtime's generator: restore its
     * state before every forward so every evaluation uses one mask */
    uint64_t seed, offset;
} model_case;

static strata_status model_forward(void *user, strata_tensor **outs, int *n_outs)
{
    model_case *c = user;
    strata_runtime_set_rng_state(g_rt, c->seed, c->offset);
    *n_outs = 1;
    return strata_model_forward(c->m, c->inputs, c->n_inputs, outs, 1, c->training);
}

strata_model *model_new(void)
{
    strata_model *m = NULL;
    ST_OK(strata_model_create(g_dev, &m));
    return m;
}

void model_input(strata_model *m, const char *name, strata_dtype dtype, const int64_t *shape, int ndim)
{
    static const int64_t scalar[1] = {0};
    ST_OK(strata_model_add_input(m, name, dtype, ndim, ndim ? shape : scalar));
}

void model_layer(strata_model *m, const char *type, const char *name, const strata_attr *at, int n_at,
                 const char *in0, const char *in1)
{
    const char *ins[2] = {in0, in1};
    ST_OK(strata_model_add_layer(m, type, name, at, n_at, in0 ? ins : NULL, in0 ? (in1 ? 2 : 1) : 0));
}

int run_model(const char *what, strata_model *m, strata_tensor *const *inputs, int n_inputs, int training)
{
    static const char *in_names[4] = {"input0", "input1", "input2", "input3"};
    model_case mc = {.m = m, .n_inputs = n_inputs, .training = training};
    gc_case g = {.what = what, .fwd = model_forward, .user = &mc};
    for (int k = 0; k < n_inputs; k++) {
        mc.inputs[k] = inputs[k];
        if (strata_tensor_dtype(inputs[k]) == STRATA_F32) {
            g.vars[g.n_vars].name = in_names[k];
            g.vars[g.n_vars++].t = inputs[k];
        }
    }
    int np = strata_model_param_count(m);
    assert_true(g.n_vars + np <= GC_MAX_VARS);
    for (int p = 0; p < np; p++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, p, &name, &t));
        g.vars[g.n_vars].name = name;
        g.vars[g.n_vars++].t = t;
    }
    strata_runtime_rng_state(g_rt, &mc.seed, &mc.offset);
    int bad = gradcheck(&g);
    strata_model_zero_grad(m);
    strata_model_destroy(m);
    for (int k = 0; k < n_inputs; k++)
        strata_tensor_release(inputs[k]);
    return bad;
}

void assert_close_f32(strata_tensor *t, const float *want, int64_t n, double tol, const char *what)
{
    int64_t got_n;
    float *got = read_f32(t, &got_n);
    assert_int_equal(got_n, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= tol))
            fail_msg("%s[%lld]: got %.8g, expected %.8g", what, (long long)i, (double)got[i], (double)want[i]);
    free(got);
}
