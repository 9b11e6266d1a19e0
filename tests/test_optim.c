/* test_optim.c - the built-in optimizers against a plain double-precision
 * re-implementation of PyTorch's update rules (docs/ops.md), written here
 * independently of the kernels; optimizer creation errors; set_lr;
 * gradient clipping; learning-rate schedules.
 *
 * The model is one linear layer 3 -> 2 with bias (params "fc.weight" (2, 3)
 * and "fc.bias" (2)). Gradients are made exact by building the loss
 * L = sum(W .* cW) + sum(b .* cb), whose gradient is (cW, cb); the constants
 * change every step so momentum and moment estimates see varied gradients.
 * Parameters and every optimizer slot are compared after every step; the
 * slots are private to libstrata, so they are read back through a
 * checkpoint ("optimizer.<param>.<slot>" tensors, the documented layout). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "internal.h"

#define N_W 6 /* fc.weight (2, 3) */
#define N_B 2 /* fc.bias (2) */
#define N_P (N_W + N_B)
#define N_STEPS 3
#define REL_TOL 1e-5

/* Initial parameters, [0, N_W) weight row-major then [N_W, N_P) bias;
 * kept away from 0 so a relative tolerance is meaningful. */
static const float p_init[N_P] = {0.5f, -0.25f, 0.75f, -0.625f, 0.3f, -0.9f, 0.2f, -0.45f};

/* Gradient of step t (0-based), same layout: sign changes and magnitudes
 * spanning two orders make the second moments differ per element. */
static const float grads[N_STEPS][N_P] = {
    {0.1f, -0.2f, 0.3f, -0.4f, 0.05f, 1.5f, -0.7f, 0.01f},
    {-0.3f, 0.25f, 0.2f, -0.1f, 0.5f, -1.0f, 0.6f, 0.02f},
    {0.2f, 0.1f, -0.4f, 0.35f, -0.05f, 0.75f, -0.2f, -0.03f},
};

/* ---- fixture ----------------------------------------------------------- */

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_model *m;
    strata_tensor *w, *b; /* borrowed from m */
} fixture;

static void fx_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->rt = tu_runtime();
    f->dev = tu_ref(f->rt);
    ST_OK(strata_model_create(f->dev, &f->m));
    int64_t in_shape[1] = {3};
    ST_OK(strata_model_add_input(f->m, "x", STRATA_F32, 1, in_shape));
    strata_attr a = strata_attr_int("out_features", 2);
    ST_OK(strata_model_add_layer(f->m, "linear", "fc", &a, 1, NULL, 0));
    assert_int_equal(strata_model_param_count(f->m), 2);
    const char *n0, *n1;
    ST_OK(strata_model_param(f->m, 0, &n0, &f->w));
    ST_OK(strata_model_param(f->m, 1, &n1, &f->b));
    assert_string_equal(n0, "fc.weight");
    assert_string_equal(n1, "fc.bias");
    assert_int_equal(strata_tensor_numel(f->w), N_W);
    assert_int_equal(strata_tensor_numel(f->b), N_B);
    ST_OK(strata_tensor_write(f->w, p_init, sizeof(float) * N_W));
    ST_OK(strata_tensor_write(f->b, p_init + N_W, sizeof(float) * N_B));
}

static void fx_free(fixture *f)
{
    strata_model_destroy(f->m);
    strata_runtime_destroy(f->rt);
}

/* Accumulates grad = @p g (layout as grads[]) into the parameters through
 * L = sum(W .* cW) + sum(b .* cb) and a backward pass. */
static void set_grads(fixture *f, const float *g)
{
    strata_runtime *rt = f->rt;
    strata_tensor *cw, *cb, *pw, *pb, *sw, *sb, *loss;
    int64_t ws[2] = {2, 3}, bs[1] = {2};
    ST_OK(strata_tensor_from_host(f->dev, STRATA_F32, 2, ws, g, &cw));
    ST_OK(strata_tensor_from_host(f->dev, STRATA_F32, 1, bs, g + N_W, &cb));
    ST_OK(strata_mul(rt, f->w, cw, &pw));
    ST_OK(strata_mul(rt, f->b, cb, &pb));
    ST_OK(strata_sum_all(rt, pw, &sw));
    ST_OK(strata_sum_all(rt, pb, &sb));
    ST_OK(strata_add(rt, sw, sb, &loss));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor *all[] = {cw, cb, pw, pb, sw, sb, loss};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        strata_tensor_release(all[k]);
    /* the gradients must be exactly the constants, or the references below are off */
    float got[N_P];
    ST_OK(strata_tensor_read(strata_tensor_grad(f->w), got, sizeof(float) * N_W));
    ST_OK(strata_tensor_read(strata_tensor_grad(f->b), got + N_W, sizeof(float) * N_B));
    assert_memory_equal(got, g, sizeof got);
}

static void read_params(fixture *f, float *out)
{
    ST_OK(strata_tensor_read(f->w, out, sizeof(float) * N_W));
    ST_OK(strata_tensor_read(f->b, out + N_W, sizeof(float) * N_B));
}

/* Slot names per optimizer, in the kernel's order (PyTorch's state keys). */
static const char *const *slot_names(const char *type, int *n)
{
    static const char *const sgd[] = {"momentum_buffer"};
    static const char *const adam[] = {"exp_avg", "exp_avg_sq"};
    static const char *const rmsprop[] = {"square_avg", "momentum_buffer"};
    static const char *const adagrad[] = {"sum"};
    if (!strcmp(type, "sgd"))
        return *n = 1, sgd;
    if (!strcmp(type, "adam") || !strcmp(type, "adamw"))
        return *n = 2, adam;
    if (!strcmp(type, "rmsprop"))
        return *n = 2, rmsprop;
    *n = 1;
    return adagrad;
}

/* Copies tensor @p name (f32, @p count elements) of checkpoint @p f to @p out. */
static void sft_copy(const st_sft_file *f, const char *name, float *out, size_t count)
{
    const st_sft_entry *e = st_sft_find(f, name);
    if (!e)
        fail_msg("%s: no tensor '%s'", f->path, name);
    assert_int_equal(e->dtype, STRATA_F32);
    assert_int_equal(e->end - e->begin, count * sizeof(float));
    memcpy(out, f->data + e->begin, count * sizeof(float));
}

/* Reads the optimizer slots through a checkpoint (the slots are private to
 * libstrata; "optimizer.<param>.<slot>" is the documented file layout):
 * slots[k] receives slot k of both parameters (layout as p_init). */
static void read_slots(fixture *f, strata_optimizer *o, const char *type, float slots[2][N_P])
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", NULL, 0));
    ST_OK(strata_checkpoint_save(path, f->m, o, NULL));
    st_sft_file *sf = NULL;
    ST_OK(st_sft_read(path, &sf));
    int n;
    const char *const *names = slot_names(type, &n);
    char key[128];
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "optimizer.fc.weight.%s", names[k]);
        sft_copy(sf, key, slots[k], N_W);
        snprintf(key, sizeof key, "optimizer.fc.bias.%s", names[k]);
        sft_copy(sf, key, slots[k] + N_W, N_B);
    }
    st_sft_free(sf);
    remove(path);
}

static void expect_close(const char *what, int step, int i, double got, double want)
{
    double tol = REL_TOL * fabs(want) + 1e-9;
    if (!(fabs(got - want) <= tol))
        fail_msg("%s after step %d, element %d: got %.9g, want %.9g (|diff| %.3g > %.3g)", what, step + 1, i, got,
                 want, fabs(got - want), tol);
}

/* ---- the reference: PyTorch's update rules in double ------------------- */

typedef enum { R_SGD, R_ADAM, R_ADAMW, R_RMSPROP, R_ADAGRAD } ref_kind;

typedef struct {
    ref_kind kind;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay;
    int nesterov;
} ref_cfg;

/* Optimizer state per element; s1/s2 follow the kernel's slot order:
 * sgd (momentum_buffer), adam (exp_avg, exp_avg_sq),
 * rmsprop (square_avg, momentum_buffer), adagrad (sum). */
typedef struct {
    double p[N_P], s1[N_P], s2[N_P];
} ref_state;

/* One step t (1-based) of torch.optim.<kind> with gradient @p g. */
static void ref_step(const ref_cfg *c, ref_state *s, const float *g_in, int t)
{
    for (int i = 0; i < N_P; i++) {
        double p = s->p[i], g = g_in[i];
        switch (c->kind) {
        case R_SGD: /* torch.optim.SGD */
            if (c->weight_decay != 0)
                g = g + c->weight_decay * p;
            if (c->momentum != 0) {
                if (t == 1)
                    s->s1[i] = g; /* buf = clone(grad): no dampening on the first step */
                else
                    s->s1[i] = c->momentum * s->s1[i] + (1 - c->dampening) * g;
                if (c->nesterov)
                    g = g + c->momentum * s->s1[i];
                else
                    g = s->s1[i];
            }
            p = p - c->lr * g;
            break;
        case R_ADAM:  /* torch.optim.Adam: L2 penalty added to the gradient */
        case R_ADAMW: /* torch.optim.AdamW: decay applied to the parameter */
        {
            if (c->kind == R_ADAMW)
                p = p * (1 - c->lr * c->weight_decay);
            else if (c->weight_decay != 0)
                g = g + c->weight_decay * p;
            s->s1[i] = c->beta1 * s->s1[i] + (1 - c->beta1) * g;
            s->s2[i] = c->beta2 * s->s2[i] + (1 - c->beta2) * g * g;
            double bc1 = 1 - pow(c->beta1, t), bc2 = 1 - pow(c->beta2, t);
            double denom = sqrt(s->s2[i]) / sqrt(bc2) + c->eps;
            p = p - (c->lr / bc1) * s->s1[i] / denom;
            break;
        }
        case R_RMSPROP: /* torch.optim.RMSprop, centered=False */
        {
            if (c->weight_decay != 0)
                g = g + c->weight_decay * p;
            s->s1[i] = c->alpha * s->s1[i] + (1 - c->alpha) * g * g;
            double avg = sqrt(s->s1[i]) + c->eps;
            if (c->momentum > 0) {
                s->s2[i] = c->momentum * s->s2[i] + g / avg;
                p = p - c->lr * s->s2[i];
            } else {
                p = p - c->lr * g / avg;
            }
            break;
        }
        case R_ADAGRAD: /* torch.optim.Adagrad, initial_accumulator_value=0 */
        {
            if (c->weight_decay != 0)
                g = g + c->weight_decay * p;
            double clr = c->lr / (1 + (t - 1) * c->lr_decay);
            s->s1[i] = s->s1[i] + g * g;
            p = p - clr * g / (sqrt(s->s1[i]) + c->eps);
            break;
        }
        }
        s->p[i] = p;
    }
}

/* Runs N_STEPS of optimizer @p type with @p attrs and compares every
 * parameter and slot element after every step with ref_step(). */
static void run_case(const char *type, const strata_attr *attrs, int n_attrs, const ref_cfg *cfg)
{
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    ST_OK(strata_optimizer_create(f.m, type, attrs, n_attrs, &o));
    assert_string_equal(strata_optimizer_type_name(o), type);
    assert_true(fabs(strata_optimizer_lr(o) - cfg->lr) <= 1e-15);

    ref_state rs;
    memset(&rs, 0, sizeof rs);
    for (int i = 0; i < N_P; i++)
        rs.p[i] = p_init[i];
    int n_slots;
    const char *const *names = slot_names(type, &n_slots);
    char what[128];
    for (int t = 0; t < N_STEPS; t++) {
        set_grads(&f, grads[t]);
        ST_OK(strata_optimizer_step(o));
        strata_model_zero_grad(f.m);
        ref_step(cfg, &rs, grads[t], t + 1);
        assert_int_equal(strata_optimizer_steps(o), t + 1);

        float got[N_P];
        read_params(&f, got);
        for (int i = 0; i < N_P; i++) {
            snprintf(what, sizeof what, "%s: parameter", type);
            expect_close(what, t, i, got[i], rs.p[i]);
        }
        /* sgd without momentum and rmsprop without momentum keep a zero buffer, like the ref */
        float slots[2][N_P];
        read_slots(&f, o, type, slots);
        for (int k = 0; k < n_slots; k++) {
            snprintf(what, sizeof what, "%s: slot '%s'", type, names[k]);
            for (int i = 0; i < N_P; i++)
                expect_close(what, t, i, slots[k][i], k == 0 ? rs.s1[i] : rs.s2[i]);
        }
    }
    strata_optimizer_destroy(o);
    fx_free(&f);
}

static ref_cfg cfg_of(ref_kind kind, double lr)
{
    ref_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    /* PyTorch's defaults */
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = kind == R_ADAGRAD ? 1e-10 : 1e-8;
    c.alpha = 0.99;
    return c;
}

/* ---- SGD --------------------------------------------------------------- */

static void test_sgd_plain(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1)};
    ref_cfg c = cfg_of(R_SGD, 0.1);
    run_case("sgd", a, 1, &c);
}

static void test_sgd_momentum(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentum", 0.9)};
    ref_cfg c = cfg_of(R_SGD, 0.1);
    c.momentum = 0.9;
    run_case("sgd", a, 2, &c);
}

static void test_sgd_momentum_dampening(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentum", 0.9),
                       strata_attr_float("dampening", 0.1)};
    ref_cfg c = cfg_of(R_SGD, 0.1);
    c.momentum = 0.9;
    c.dampening = 0.1;
    run_case("sgd", a, 3, &c);
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentum", 0.9),
                       strata_attr_int("nesterov", 1)};
    ref_cfg c = cfg_of(R_SGD, 0.1);
    c.momentum = 0.9;
    c.nesterov = 1;
    run_case("sgd", a, 3, &c);
}

static void test_sgd_weight_decay(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("weight_decay", 0.01)};
    ref_cfg c = cfg_of(R_SGD, 0.1);
    c.weight_decay = 0.01;
    run_case("sgd", a, 2, &c);
    /* and together with momentum */
    strata_attr b[] = {strata_attr_float("lr", 0.1), strata_attr_float("weight_decay", 0.01),
                       strata_attr_float("momentum", 0.9)};
    c.momentum = 0.9;
    run_case("sgd", b, 3, &c);
}

/* ---- Adam / AdamW ------------------------------------------------------ */

static void test_adam(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 1e-2)};
    ref_cfg c = cfg_of(R_ADAM, 1e-2);
    run_case("adam", a, 1, &c);
}

static void test_adam_weight_decay(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 1e-2), strata_attr_float("weight_decay", 0.1)};
    ref_cfg c = cfg_of(R_ADAM, 1e-2);
    c.weight_decay = 0.1;
    run_case("adam", a, 2, &c);
}

static void test_adamw(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 1e-2), strata_attr_float("weight_decay", 0.1)};
    ref_cfg c = cfg_of(R_ADAMW, 1e-2);
    c.weight_decay = 0.1;
    run_case("adamw", a, 2, &c);
    /* non-default betas and eps reach the kernel */
    strata_attr b[] = {strata_attr_float("lr", 1e-2), strata_attr_float("weight_decay", 0.1),
                       strata_attr_float("beta1", 0.8), strata_attr_float("beta2", 0.95),
                       strata_attr_float("eps", 1e-3)};
    c.beta1 = 0.8;
    c.beta2 = 0.95;
    c.eps = 1e-3;
    run_case("adamw", b, 5, &c);
}

static void test_adamw_default_decay(void **state)
{
    (void)state;
    /* torch.optim.AdamW's default weight_decay is 0.01 (Adam's is 0) */
    strata_attr a[] = {strata_attr_float("lr", 1e-2)};
    ref_cfg c = cfg_of(R_ADAMW, 1e-2);
    c.weight_decay = 0.01;
    run_case("adamw", a, 1, &c);
}

/* ---- RMSprop / Adagrad ------------------------------------------------- */

static void test_rmsprop(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 1e-2)};
    ref_cfg c = cfg_of(R_RMSPROP, 1e-2);
    run_case("rmsprop", a, 1, &c);
    /* eps 0.1 is added to sqrt(square_avg), not inside it (at 1e-8 the two differ by 5e-6) */
    strata_attr b[] = {strata_attr_float("lr", 1e-2), strata_attr_float("eps", 0.1)};
    c.eps = 0.1;
    run_case("rmsprop", b, 2, &c);
}

static void test_rmsprop_momentum(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 1e-2), strata_attr_float("momentum", 0.9)};
    ref_cfg c = cfg_of(R_RMSPROP, 1e-2);
    c.momentum = 0.9;
    run_case("rmsprop", a, 2, &c);
    /* with alpha and weight decay as well */
    strata_attr b[] = {strata_attr_float("lr", 1e-2), strata_attr_float("momentum", 0.9),
                       strata_attr_float("alpha", 0.9), strata_attr_float("weight_decay", 0.05)};
    c.alpha = 0.9;
    c.weight_decay = 0.05;
    run_case("rmsprop", b, 4, &c);
}

static void test_adagrad(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1)};
    ref_cfg c = cfg_of(R_ADAGRAD, 0.1);
    run_case("adagrad", a, 1, &c);
    /* eps 0.1 is added to sqrt(sum), not inside it (at the default 1e-10 the two agree) */
    strata_attr b[] = {strata_attr_float("lr", 0.1), strata_attr_float("eps", 0.1)};
    c.eps = 0.1;
    run_case("adagrad", b, 2, &c);
}

static void test_adagrad_decay(void **state)
{
    (void)state;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("lr_decay", 0.1),
                       strata_attr_float("weight_decay", 0.05)};
    ref_cfg c = cfg_of(R_ADAGRAD, 0.1);
    c.lr_decay = 0.1;
    c.weight_decay = 0.05;
    run_case("adagrad", a, 3, &c);
}

/* ---- creation errors and set_lr --------------------------------------- */

static void test_unknown_optimizer(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    assert_int_equal(strata_optimizer_create(f.m, "lbfgs", NULL, 0, &o), STRATA_E_NOT_FOUND);
    assert_null(o);
    tu_assert_error_contains("lbfgs");
    const char *names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        tu_assert_error_contains(names[k]);
    fx_free(&f);
}

static void test_unknown_attribute(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentom", 0.9)};
    assert_int_equal(strata_optimizer_create(f.m, "sgd", a, 2, &o), STRATA_E_INVALID);
    assert_null(o);
    tu_assert_error_contains("momentom");
    /* an attribute of another optimizer is unknown here too */
    strata_attr b[] = {strata_attr_float("beta1", 0.9)};
    assert_int_equal(strata_optimizer_create(f.m, "sgd", b, 1, &o), STRATA_E_INVALID);
    assert_null(o);
    tu_assert_error_contains("beta1");
    fx_free(&f);
}

static void test_bad_lr(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    const char *types[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        strata_attr a = strata_attr_float("lr", -0.1);
        assert_int_equal(strata_optimizer_create(f.m, types[k], &a, 1, &o), STRATA_E_INVALID);
        assert_null(o);
        tu_assert_error_contains("lr");
        a = strata_attr_float("lr", NAN);
        assert_int_equal(strata_optimizer_create(f.m, types[k], &a, 1, &o), STRATA_E_INVALID);
        assert_null(o);
    }
    /* lr 0 is allowed (and leaves the parameters alone) */
    strata_attr z = strata_attr_float("lr", 0.0);
    ST_OK(strata_optimizer_create(f.m, "sgd", &z, 1, &o));
    set_grads(&f, grads[0]);
    ST_OK(strata_optimizer_step(o));
    float got[N_P];
    read_params(&f, got);
    assert_memory_equal(got, p_init, sizeof got);
    strata_optimizer_destroy(o);
    fx_free(&f);
}

/* Settings torch.optim refuses are refused, naming them (they were accepted and trained with) */
static void test_bad_hyperparameters(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    static const struct {
        const char *type, *key;
        double value;
        const char *needle;
    } bad[] = {
        {"sgd", "momentum", -0.5, "momentum must be a non-negative number, got -0.5"},
        {"sgd", "weight_decay", NAN, "weight_decay must be a non-negative number"},
        {"adam", "beta1", 2.0, "beta1 must be in [0, 1), got 2"},
        {"adamw", "beta2", 1.0, "beta2 must be in [0, 1), got 1"},
        {"adam", "eps", -1.0, "eps must be a non-negative number"},
        {"rmsprop", "alpha", -0.1, "alpha must be a non-negative number"},
        {"adagrad", "lr_decay", -1.0, "lr_decay must be a non-negative number"},
        {"sgd", "dampening", NAN, "dampening must be in [0, 1], got nan"},
        {"sgd", "dampening", INFINITY, "dampening must be in [0, 1], got inf"},
        {"sgd", "dampening", -1.0, "dampening must be in [0, 1], got -1"},
        {"sgd", "dampening", 1.5, "dampening must be in [0, 1], got 1.5"},
    };
    strata_optimizer *o = NULL;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        strata_attr a = strata_attr_float(bad[k].key, bad[k].value);
        assert_int_equal(strata_optimizer_create(f.m, bad[k].type, &a, 1, &o), STRATA_E_INVALID);
        assert_null(o);
        tu_assert_error_contains(bad[k].needle);
    }
    strata_attr nesterov[3] = {strata_attr_int("nesterov", 1), strata_attr_float("momentum", 0.9),
                               strata_attr_float("dampening", 0.5)};
    assert_int_equal(strata_optimizer_create(f.m, "sgd", nesterov, 3, &o), STRATA_E_INVALID);
    tu_assert_error_contains("Nesterov momentum needs momentum > 0 and dampening 0");
    assert_int_equal(strata_optimizer_create(f.m, "sgd", nesterov, 1, &o), STRATA_E_INVALID); /* no momentum */
    nesterov[0] = strata_attr_int("nesterov", 5);
    assert_int_equal(strata_optimizer_create(f.m, "sgd", nesterov, 1, &o), STRATA_E_INVALID);
    tu_assert_error_contains("nesterov is 0 or 1, got 5");
    fx_free(&f);
}

static void test_set_lr(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    strata_attr a = strata_attr_float("lr", 0.1);
    ST_OK(strata_optimizer_create(f.m, "sgd", &a, 1, &o));
    assert_true(strata_optimizer_lr(o) == 0.1);
    strata_optimizer_set_lr(o, 0.5);
    assert_true(strata_optimizer_lr(o) == 0.5);
    set_grads(&f, grads[0]);
    ST_OK(strata_optimizer_step(o));
    strata_model_zero_grad(f.m);
    float got[N_P];
    read_params(&f, got);
    for (int i = 0; i < N_P; i++)
        expect_close("sgd at lr 0.5", 0, i, got[i], (double)p_init[i] - 0.5 * (double)grads[0][i]);
    /* and again, back down, for the next step */
    strata_optimizer_set_lr(o, 0.01);
    set_grads(&f, grads[1]);
    ST_OK(strata_optimizer_step(o));
    float got2[N_P];
    read_params(&f, got2);
    for (int i = 0; i < N_P; i++)
        expect_close("sgd at lr 0.01", 1, i, got2[i], (double)got[i] - 0.01 * (double)grads[1][i]);
    /* the optimizer type NULL-safety of the accessors */
    assert_true(strata_optimizer_lr(NULL) == 0.0);
    assert_int_equal(strata_optimizer_steps(NULL), 0);
    strata_optimizer_set_lr(NULL, 1.0);
    strata_optimizer_destroy(NULL);
    strata_optimizer_destroy(o);
    fx_free(&f);
}

static void test_step_without_grad_skips(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    strata_optimizer *o = NULL;
    strata_attr a[] = {strata_attr_float("lr", 0.1), strata_attr_float("momentum", 0.9)};
    ST_OK(strata_optimizer_create(f.m, "sgd", a, 2, &o));
    /* no gradients at all: parameters unchanged, like torch (p.grad is None) */
    ST_OK(strata_optimizer_step(o));
    float got[N_P];
    read_params(&f, got);
    assert_memory_equal(got, p_init, sizeof got);
    strata_optimizer_destroy(o);
    fx_free(&f);
}

/* ---- clipping ---------------------------------------------------------- */

static void read_grads(fixture *f, float *out)
{
    ST_OK(strata_tensor_read(strata_tensor_grad(f->w), out, sizeof(float) * N_W));
    ST_OK(strata_tensor_read(strata_tensor_grad(f->b), out + N_W, sizeof(float) * N_B));
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    const float *g = grads[0];
    double sq = 0;
    for (int i = 0; i < N_P; i++)
        sq += (double)g[i] * (double)g[i];
    /* 0.01+0.04+0.09+0.16+0.0025+2.25 + 0.49+0.0001 = 3.0426 */
    assert_true(fabs(sq - 3.0426) < 1e-6);
    double want_norm = sqrt(sq);

    /* clip to half: every gradient scaled by max / (norm + 1e-6), as torch */
    set_grads(&f, g);
    double norm = -1;
    double max_norm = want_norm / 2;
    ST_OK(strata_clip_grad_norm(f.m, max_norm, &norm));
    if (!(fabs(norm - want_norm) <= 1e-6 * want_norm))
        fail_msg("norm: got %.9g, want %.9g", norm, want_norm);
    float got[N_P];
    read_grads(&f, got);
    double coef = max_norm / (want_norm + 1e-6);
    double after = 0;
    for (int i = 0; i < N_P; i++) {
        expect_close("clipped gradient", 0, i, got[i], coef * g[i]);
        after += (double)got[i] * got[i];
    }
    assert_true(sqrt(after) <= max_norm * (1 + 1e-6));
    assert_true(fabs(sqrt(after) - max_norm) <= 1e-5 * max_norm);

    /* under the max: untouched, bit for bit, and the norm still reported */
    strata_model_zero_grad(f.m);
    set_grads(&f, g);
    norm = -1;
    ST_OK(strata_clip_grad_norm(f.m, 2 * want_norm, &norm));
    assert_true(fabs(norm - want_norm) <= 1e-6 * want_norm);
    read_grads(&f, got);
    assert_memory_equal(got, g, sizeof got);
    /* norm may be NULL */
    ST_OK(strata_clip_grad_norm(f.m, 10.0, NULL));
    read_grads(&f, got);
    assert_memory_equal(got, g, sizeof got);

    /* the norm is global: clipping one parameter alone would give other values */
    strata_model_zero_grad(f.m);
    set_grads(&f, g);
    ST_OK(strata_clip_grad_norm(f.m, 1.0, &norm));
    read_grads(&f, got);
    coef = 1.0 / (want_norm + 1e-6);
    for (int i = 0; i < N_P; i++)
        expect_close("clipped to 1", 0, i, got[i], coef * g[i]);

    /* no gradients: norm 0, nothing to do */
    strata_model_zero_grad(f.m);
    norm = -1;
    ST_OK(strata_clip_grad_norm(f.m, 1.0, &norm));
    assert_true(norm == 0.0);
    assert_null(strata_tensor_grad(f.w));

    assert_int_equal(strata_clip_grad_norm(NULL, 1.0, NULL), STRATA_E_INVALID);
    fx_free(&f);
}

/* ---- schedules --------------------------------------------------------- */

static void expect_lr(const strata_lr_schedule *s, double base, int64_t step, double want)
{
    double got = strata_lr_at(s, base, step);
    if (!(fabs(got - want) <= 1e-12 * (fabs(want) + 1e-300)))
        fail_msg("schedule kind %d at step %lld: got %.17g, want %.17g", s ? s->kind : -1, (long long)step, got,
                 want);
}

static void test_lr_schedules(void **state)
{
    (void)state;
    strata_lr_schedule s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;

    s.kind = STRATA_LR_CONSTANT;
    expect_lr(&s, 0.1, 0, 0.1);
    expect_lr(&s, 0.1, 12345, 0.1);
    expect_lr(NULL, 0.25, 7, 0.25);

    /* StepLR(step_size 10, gamma 0.5) from 0.1 */
    s.kind = STRATA_LR_STEP;
    s.step_size = 10;
    s.gamma = 0.5;
    expect_lr(&s, 0.1, 0, 0.1);
    expect_lr(&s, 0.1, 9, 0.1);
    expect_lr(&s, 0.1, 10, 0.05);
    expect_lr(&s, 0.1, 19, 0.05);
    expect_lr(&s, 0.1, 25, 0.025);
    expect_lr(&s, 0.1, 30, 0.0125);
    s.gamma = 0.1;
    s.step_size = 3;
    expect_lr(&s, 1.0, 7, 0.01); /* 1 * 0.1^2 */

    /* cosine from 0.1 to eta_min 0.001 over 100 steps:
     * eta_min + (lr - eta_min) (1 + cos(pi t / T)) / 2 */
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.kind = STRATA_LR_COSINE;
    s.total = 100;
    s.eta_min = 0.001;
    expect_lr(&s, 0.1, 0, 0.1);
    expect_lr(&s, 0.1, 50, 0.0505);                /* cos(pi/2) = 0 */
    expect_lr(&s, 0.1, 25, 0.0855017856687341); /* (1 + 1/sqrt 2) / 2 * 0.099 + 0.001 */
    expect_lr(&s, 0.1, 75, 0.0154982143312659); /* (1 - 1/sqrt 2) / 2 * 0.099 + 0.001 */
    expect_lr(&s, 0.1, 100, 0.001);
    /* eta_min 0, total 4: lr (1 + cos(pi t / 4)) / 2 */
    s.total = 4;
    s.eta_min = 0.0;
    expect_lr(&s, 2.0, 1, 1.7071067811865475);
    expect_lr(&s, 2.0, 2, 1.0);
    expect_lr(&s, 2.0, 3, 0.29289321881345254);

    /* 1.1: MultiStepLR(milestones [3, 7], gamma 0.5) from 0.1 */
    static const int64_t milestones[] = {3, 7};
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.kind = STRATA_LR_MULTISTEP;
    s.gamma = 0.5;
    s.milestones = milestones;
    s.n_milestones = 2;
    expect_lr(&s, 0.1, 0, 0.1);
    expect_lr(&s, 0.1, 2, 0.1);
    expect_lr(&s, 0.1, 3, 0.05);
    expect_lr(&s, 0.1, 6, 0.05);
    expect_lr(&s, 0.1, 7, 0.025);
    expect_lr(&s, 0.1, 1000, 0.025);

    /* linear decay to end_factor 0.2 over 10 steps, then held */
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.kind = STRATA_LR_LINEAR;
    s.total = 10;
    s.end_factor = 0.2;
    expect_lr(&s, 0.5, 0, 0.5);
    expect_lr(&s, 0.5, 5, 0.3);
    expect_lr(&s, 0.5, 10, 0.1);
    expect_lr(&s, 0.5, 99, 0.1);

    /* a warmup of 4 steps from 0.25 x lr, then the cosine from its step 0 */
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.kind = STRATA_LR_COSINE;
    s.total = 4;
    s.warmup_steps = 4;
    s.warmup_start = 0.25;
    expect_lr(&s, 2.0, 0, 0.5);
    expect_lr(&s, 2.0, 1, 0.875);                /* 2 (0.25 + 0.75 / 4) */
    expect_lr(&s, 2.0, 3, 1.625);
    expect_lr(&s, 2.0, 4, 2.0);                  /* the cosine's step 0 */
    expect_lr(&s, 2.0, 5, 1.7071067811865475);   /* its step 1 */
    expect_lr(&s, 2.0, 8, 0.0);
    s.warmup_start = 0.0; /* from zero, as transformers' warmups */
    expect_lr(&s, 2.0, 0, 0.0);
    expect_lr(&s, 2.0, 2, 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_momentum_dampening),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adam_weight_decay),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_adamw_default_decay),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_rmsprop_momentum),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_adagrad_decay),
        cmocka_unit_test(test_unknown_optimizer),
        cmocka_unit_test(test_unknown_attribute),
        cmocka_unit_test(test_bad_lr),
        cmocka_unit_test(test_bad_hyperparameters),
        cmocka_unit_test(test_set_lr),
        cmocka_unit_test(test_step_without_grad_skips),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_lr_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
