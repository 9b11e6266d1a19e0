/* optimizer.c - optimizer instances over a model's parameters, the five
 * built-in update rules (through the optimizer ABI), gradient clipping and
 * learning-rate schedules. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct strata_optimizer {
    strata_model *model;
    const st_optim_type *type;
    strata_attr *attrs; /* schema attrs with defaults, without lr */
    int n_attrs;
    double lr;
    int64_t steps;
    int64_t *param_steps;      /* per parameter, as PyTorch's state['step'] */
    strata_tensor **slots;     /* n_params * n_slots */
    int n_params, n_slots;
};

/* The ranges torch.optim checks, for the built-in optimizers: the settings each has are in @p a (its schema's
 * defaults applied). */
static strata_status check_hyperparameters(const char *what, const strata_attr *a, int n)
{
    static const char *const non_negative[] = {"momentum", "weight_decay", "eps", "alpha", "lr_decay"};
    for (size_t k = 0; k < sizeof non_negative / sizeof *non_negative; k++) {
        if (!strata_attr_find(a, n, non_negative[k]))
            continue;
        const double v = strata_attr_get_float(a, n, non_negative[k], 0.0);
        if (!(v >= 0.0) || !isfinite(v))
            return st_error(STRATA_E_INVALID, "%s: %s must be a non-negative number, got %g", what, non_negative[k],
                            v);
    }
    /* torch.optim takes any dampening; outside [0, 1] the gradient's share 1 - dampening turns negative (an ascent)
     * or non-finite, and the run ends in NaN blamed on the learning rate */
    if (strata_attr_find(a, n, "dampening")) {
        const double v = strata_attr_get_float(a, n, "dampening", 0.0);
        if (!(v >= 0.0 && v <= 1.0))
            return st_error(STRATA_E_INVALID, "%s: dampening must be in [0, 1], got %g", what, v);
    }
    static const char *const betas[] = {"beta1", "beta2"};
    for (size_t k = 0; k < sizeof betas / sizeof *betas; k++) {
        const double v = strata_attr_get_float(a, n, betas[k], 0.0);
        if (strata_attr_find(a, n, betas[k]) && !(v >= 0.0 && v < 1.0))
            return st_error(STRATA_E_INVALID, "%s: %s must be in [0, 1), got %g", what, betas[k], v);
    }
    if (strata_attr_find(a, n, "nesterov")) {
        const int64_t nesterov = strata_attr_get_int(a, n, "nesterov", 0);
        const double momentum = strata_attr_get_float(a, n, "momentum", 0.0);
        const double dampening = strata_attr_get_float(a, n, "dampening", 0.0);
        if (nesterov != 0 && nesterov != 1)
            return st_error(STRATA_E_INVALID, "%s: nesterov is 0 or 1, got %lld", what, (long long)nesterov);
        if (nesterov && !(momentum > 0.0 && dampening == 0.0))
            return st_error(STRATA_E_INVALID, "%s: Nesterov momentum needs momentum > 0 and dampening 0, got momentum "
                                              "%g and dampening %g",
                            what, momentum, dampening);
    }
    return STRATA_OK;
}

strata_status strata_optimizer_create(strata_model *m, const char *type, const strata_attr *attrs, int n_attrs,
                                      strata_optimizer **out)
{
    if (!m || !type || !out || n_attrs < 0 || (!attrs && n_attrs))
        return st_error(STRATA_E_INVALID,
                        "strata_optimizer_create: NULL model, type or out, or %d attrs with a NULL array", n_attrs);
    const st_optim_type *ot = st_find_optim_type(m->rt, type);
    if (!ot) {
        char known[512] = "";
        size_t used = 0;
        for (int k = 0; k < m->rt->n_optims && used < sizeof known; k++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "", m->rt->optims[k]->name);
        return st_error(STRATA_E_NOT_FOUND, "unknown optimizer '%s' (registered: %s)", type, known);
    }
    strata_optimizer *o = st_calloc(1, sizeof *o);
    if (!o)
        return STRATA_E_NOMEM;
    o->model = m;
    o->type = ot;
    char what[96];
    snprintf(what, sizeof what, "optimizer '%s'", type);
    strata_status rc =
        st_attrs_apply_schema(what, ot->def.attrs, ot->def.n_attrs, attrs, n_attrs, &o->attrs, &o->n_attrs, NULL);
    if (rc) {
        free(o);
        return rc;
    }
    o->lr = strata_attr_get_float(o->attrs, o->n_attrs, "lr", 1e-3);
    if (!(o->lr >= 0.0) || !isfinite(o->lr)) {
        double bad = o->lr;
        free(o->attrs);
        free(o);
        return st_error(STRATA_E_INVALID, "%s: lr must be a non-negative number, got %g", what, bad);
    }
    if (ot->plugin == m->rt->builtin && (rc = check_hyperparameters(what, o->attrs, o->n_attrs))) {
        free(o->attrs);
        free(o);
        return rc;
    }
    if (st_model_track_optimizer(m, o)) {
        free(o->attrs);
        free(o);
        return STRATA_E_NOMEM;
    }
    o->n_params = m->n_params;
    o->n_slots = ot->def.n_slots;
    o->param_steps = st_calloc((size_t)(o->n_params ? o->n_params : 1), sizeof(int64_t));
    int n_slot_tensors = o->n_params * o->n_slots;
    o->slots = st_calloc((size_t)(n_slot_tensors > 0 ? n_slot_tensors : 1), sizeof(strata_tensor *));
    if (!o->param_steps || !o->slots) {
        strata_optimizer_destroy(o);
        return STRATA_E_NOMEM;
    }
    *out = o;
    return STRATA_OK;
}

void strata_optimizer_destroy(strata_optimizer *o)
{
    if (!o)
        return;
    if (o->model)
        st_model_forget_optimizer(o->model, o);
    if (o->slots)
        for (int k = 0; k < o->n_params * o->n_slots; k++)
            strata_tensor_release(o->slots[k]);
    free(o->slots);
    free(o->param_steps);
    free(o->attrs);
    free(o);
}

int st_optimizer_slot_count(const strata_optimizer *o)
{
    return o->n_slots;
}

const char *st_optimizer_slot_name(const strata_optimizer *o, int k)
{
    return o->type->def.slots[k];
}

strata_tensor *st_optimizer_slot(strata_optimizer *o, int param, int k, int create)
{
    strata_tensor **s = &o->slots[param * o->n_slots + k];
    if (!*s && create) {
        strata_tensor *p = o->model->params[param].t;
        if (st_tensor_new(p->st->dev, STRATA_F32, p->ndim, p->shape, 1, s))
            return NULL;
    }
    return *s;
}

void st_optimizer_drop_slot(strata_optimizer *o, int param, int k)
{
    strata_tensor **s = &o->slots[param * o->n_slots + k];
    strata_tensor_release(*s);
    *s = NULL;
}

void st_optimizer_model_gone(strata_optimizer *o)
{
    o->model = NULL;
}

strata_status st_optimizer_check_model(const strata_optimizer *o, const strata_model *m, const char *what)
{
    if (!o->model)
        return st_error(STRATA_E_STATE, "%s: optimizer '%s': its model was destroyed (destroy the optimizer first)",
                        what, o->type->name);
    if (o->model != m)
        return st_error(STRATA_E_STATE, "%s: optimizer '%s' was created for another model", what, o->type->name);
    if (m->n_params != o->n_params)
        return st_error(STRATA_E_STATE, "%s: optimizer '%s': the model has %d parameters now, %d when it was created",
                        what, o->type->name, m->n_params, o->n_params);
    return STRATA_OK;
}

int64_t st_optimizer_param_steps(const strata_optimizer *o, int param)
{
    return o->param_steps[param];
}

void st_optimizer_set_param_steps(strata_optimizer *o, int param, int64_t steps)
{
    o->param_steps[param] = steps;
}

const strata_attr *st_optimizer_attrs(const strata_optimizer *o, int *n)
{
    *n = o->n_attrs;
    return o->attrs;
}

void st_optimizer_set_steps(strata_optimizer *o, int64_t steps)
{
    o->steps = steps;
}

strata_status strata_optimizer_step(strata_optimizer *o)
{
    if (!o)
        return st_error(STRATA_E_INVALID, "strata_optimizer_step: NULL optimizer");
    strata_model *m = o->model;
    strata_status chk = st_optimizer_check_model(o, m, "strata_optimizer_step");
    if (chk)
        return chk;
    strata_attr attrs[130];
    int n = 0;
    attrs[n++] = strata_attr_float("lr", o->lr);
    for (int k = 0; k < o->n_attrs && n < 129; k++)
        if (strcmp(o->attrs[k].name, "lr") != 0)
            attrs[n++] = o->attrs[k];
    int prev = strata_set_grad_enabled(m->rt, 0);
    strata_status rc = STRATA_OK;
    for (int i = 0; i < o->n_params && !rc; i++) {
        strata_tensor *p = m->params[i].t;
        if (!p->grad)
            continue;
        strata_tensor *slots[16];
        for (int k = 0; k < o->n_slots && k < 16; k++) {
            slots[k] = st_optimizer_slot(o, i, k, 1);
            if (!slots[k]) {
                rc = STRATA_E_NOMEM;
                break;
            }
        }
        if (rc)
            break;
        o->param_steps[i]++;
        strata_optimizer_step_call call = {
            .struct_size = sizeof call,
            .host = &st_host_api,
            .rt = m->rt,
            .param = p,
            .grad = p->grad,
            .slots = slots,
            .n_slots = o->n_slots,
            .attrs = attrs,
            .n_attrs = n,
            .step = o->param_steps[i],
            .user = o->type->def.user,
        };
        rc = o->type->def.step(&call);
        if (rc)
            st_error_context(rc, "optimizer '%s' updating '%s'", o->type->name, m->params[i].name);
    }
    strata_set_grad_enabled(m->rt, prev);
    if (!rc)
        o->steps++;
    return rc;
}

double strata_optimizer_lr(const strata_optimizer *o)
{
    return o ? o->lr : 0.0;
}

void strata_optimizer_set_lr(strata_optimizer *o, double lr)
{
    if (o && lr >= 0.0 && isfinite(lr))
        o->lr = lr;
}

int64_t strata_optimizer_steps(const strata_optimizer *o)
{
    return o ? o->steps : 0;
}

const char *strata_optimizer_type_name(const strata_optimizer *o)
{
    return o ? o->type->name : "";
}

/* ---- clipping and schedules ---------------------------------------------- */

strata_status strata_clip_grad_norm(strata_model *m, double max_norm, double *norm)
{
    if (!m)
        return st_error(STRATA_E_INVALID, "strata_clip_grad_norm: NULL model");
    if (!(max_norm > 0.0) || !isfinite(max_norm)) /* a negative one flipped every gradient: ascent */
        return st_error(STRATA_E_INVALID, "strata_clip_grad_norm: max_norm must be a positive finite number, got %g",
                        max_norm);
    int prev = strata_set_grad_enabled(m->rt, 0);
    double total = 0.0;
    strata_status rc = STRATA_OK;
    for (int k = 0; k < m->n_params && !rc; k++) {
        strata_tensor *g = m->params[k].t->grad, *in[2] = {g, g}, *sq, *s;
        if (!g)
            continue;
        rc = st_call1(m->rt, "core::mul", in, 2, NULL, 0, &sq);
        if (rc)
            break;
        rc = st_call1(m->rt, "core::sum", &sq, 1, NULL, 0, &s);
        strata_tensor_release(sq);
        if (rc)
            break;
        double v;
        rc = strata_tensor_item(s, &v);
        strata_tensor_release(s);
        total += v;
    }
    total = sqrt(total);
    double coef = max_norm / (total + 1e-6);
    if (!rc && !(coef >= 1.0)) { /* a NaN norm makes every gradient NaN, as PyTorch's clip_grad_norm_ */
        for (int k = 0; k < m->n_params && !rc; k++) {
            strata_tensor *p = m->params[k].t, *scaled;
            if (!p->grad)
                continue;
            strata_attr a = strata_attr_float("alpha", coef);
            rc = st_call1(m->rt, "core::scale", &p->grad, 1, &a, 1, &scaled);
            if (!rc) {
                strata_tensor_release(p->grad);
                p->grad = scaled;
            }
        }
    }
    strata_set_grad_enabled(m->rt, prev);
    if (norm && !rc) /* outputs only on success (strata.h) */
        *norm = total;
    return rc;
}

double strata_lr_at(const strata_lr_schedule *s, double base_lr, int64_t step)
{
    if (!s)
        return base_lr;
    /* the members added in 1.1, when the caller's struct has them */
    const int v11 = s->struct_size >= offsetof(strata_lr_schedule, end_factor) + sizeof s->end_factor;
    const int64_t warm = v11 && s->warmup_steps > 0 ? s->warmup_steps : 0;
    if (step < warm)
        return base_lr * (s->warmup_start + (1.0 - s->warmup_start) * (double)step / (double)warm);
    step -= warm;
    switch (s->kind) {
    case STRATA_LR_STEP:
        if (s->step_size <= 0)
            return base_lr;
        return base_lr * pow(s->gamma, (double)(step / s->step_size));
    case STRATA_LR_COSINE: {
        if (s->total <= 0)
            return base_lr;
        int64_t t = step > s->total ? s->total : step;
        return s->eta_min + (base_lr - s->eta_min) * (1.0 + cos(M_PI * (double)t / (double)s->total)) / 2.0;
    }
    case STRATA_LR_MULTISTEP: {
        int passed = 0;
        for (int32_t k = 0; v11 && s->milestones && k < s->n_milestones; k++)
            passed += s->milestones[k] <= step;
        return base_lr * pow(s->gamma, (double)passed);
    }
    case STRATA_LR_LINEAR: {
        if (!v11 || s->total <= 0)
            return base_lr;
        const int64_t t = step > s->total ? s->total : step;
        return base_lr * (1.0 + (s->end_factor - 1.0) * (double)t / (double)s->total);
    }
    default:
        return base_lr;
    }
}

/* ---- built-in update rules -------------------------------------------------- */

/* Runs fused update op @p op on (param, grad, slots) writing (param, slots). */
static strata_status fused_update(const strata_optimizer_step_call *c, const char *op, const strata_attr *extra,
                                  int n_extra)
{
    strata_tensor *in[8] = {c->param, c->grad}, *out[8] = {c->param};
    for (int k = 0; k < c->n_slots; k++) {
        in[2 + k] = c->slots[k];
        out[1 + k] = c->slots[k];
    }
    strata_attr attrs[64];
    int n = 0;
    for (int k = 0; k < c->n_attrs && n < 48; k++)
        attrs[n++] = c->attrs[k];
    for (int k = 0; k < n_extra; k++)
        attrs[n++] = extra[k];
    strata_op_invocation inv = {
        .struct_size = sizeof inv,
        .op = op,
        .flags = STRATA_INVOKE_OUTPUTS_PROVIDED,
        .inputs = in,
        .n_inputs = 2 + c->n_slots,
        .attrs = attrs,
        .n_attrs = n,
        .outputs = out,
        .n_outputs = 1 + c->n_slots,
    };
    return c->host->op_invoke(c->rt, &inv);
}

static strata_status sgd_step(const strata_optimizer_step_call *c)
{
    strata_attr first = strata_attr_int("first", c->step == 1);
    return fused_update(c, "core::sgd_step", &first, 1);
}

static strata_status adam_step(const strata_optimizer_step_call *c)
{
    strata_attr x[2] = {strata_attr_int("step", c->step), strata_attr_int("decoupled", 0)};
    return fused_update(c, "core::adam_step", x, 2);
}

static strata_status adamw_step(const strata_optimizer_step_call *c)
{
    strata_attr x[2] = {strata_attr_int("step", c->step), strata_attr_int("decoupled", 1)};
    return fused_update(c, "core::adam_step", x, 2);
}

static strata_status rmsprop_step(const strata_optimizer_step_call *c)
{
    return fused_update(c, "core::rmsprop_step", NULL, 0);
}

static strata_status adagrad_step(const strata_optimizer_step_call *c)
{
    strata_attr x = strata_attr_int("step", c->step);
    return fused_update(c, "core::adagrad_step", &x, 1);
}

#define SPEC_F(NAME, DFLT, DOC) {sizeof(strata_attr_spec), NAME, STRATA_ATTR_FLOAT, 0, 0, DFLT, NULL, DOC}
#define SPEC_I(NAME, DFLT, DOC) {sizeof(strata_attr_spec), NAME, STRATA_ATTR_INT, 0, DFLT, 0, NULL, DOC}

static const strata_attr_spec sgd_attrs[] = {
    SPEC_F("lr", 0.01, "learning rate"), SPEC_F("momentum", 0.0, "momentum factor"),
    SPEC_F("dampening", 0.0, "dampening of momentum"), SPEC_I("nesterov", 0, "Nesterov momentum (0/1)"),
    SPEC_F("weight_decay", 0.0, "L2 penalty"),
};
static const strata_attr_spec adam_attrs[] = {
    SPEC_F("lr", 1e-3, "learning rate"), SPEC_F("beta1", 0.9, "first-moment decay"),
    SPEC_F("beta2", 0.999, "second-moment decay"), SPEC_F("eps", 1e-8, "denominator term"),
    SPEC_F("weight_decay", 0.0, "L2 penalty (Adam) / decoupled decay (AdamW)"),
};
static const strata_attr_spec adamw_attrs[] = {
    SPEC_F("lr", 1e-3, "learning rate"), SPEC_F("beta1", 0.9, "first-moment decay"),
    SPEC_F("beta2", 0.999, "second-moment decay"), SPEC_F("eps", 1e-8, "denominator term"),
    SPEC_F("weight_decay", 0.01, "decoupled weight decay"),
};
static const strata_attr_spec rmsprop_attrs[] = {
    SPEC_F("lr", 0.01, "learning rate"), SPEC_F("alpha", 0.99, "smoothing constant"),
    SPEC_F("eps", 1e-8, "denominator term"), SPEC_F("weight_decay", 0.0, "L2 penalty"),
    SPEC_F("momentum", 0.0, "momentum factor"),
};
static const strata_attr_spec adagrad_attrs[] = {
    SPEC_F("lr", 0.01, "learning rate"), SPEC_F("lr_decay", 0.0, "learning-rate decay"),
    SPEC_F("weight_decay", 0.0, "L2 penalty"), SPEC_F("eps", 1e-10, "denominator term"),
};
static const char *const sgd_slots[] = {"momentum_buffer"};
static const char *const adam_slots[] = {"exp_avg", "exp_avg_sq"};
static const char *const rmsprop_slots[] = {"square_avg", "momentum_buffer"};
static const char *const adagrad_slots[] = {"sum"};

#define OPTIM(NAME, ATTRS, SLOTS, STEP, DOC)                                                                   \
    {                                                                                                          \
        .struct_size = sizeof(strata_optimizer_type), .name = NAME, .attrs = ATTRS,                            \
        .n_attrs = (int32_t)ST_ARRAY_LEN(ATTRS), .slots = SLOTS, .n_slots = (int32_t)ST_ARRAY_LEN(SLOTS),      \
        .step = STEP, .doc = DOC                                                                               \
    }

static const strata_optimizer_type core_optims[] = {
    OPTIM("sgd", sgd_attrs, sgd_slots, sgd_step, "SGD with momentum, Nesterov and weight decay (torch.optim.SGD)"),
    OPTIM("adam", adam_attrs, adam_slots, adam_step, "Adam (torch.optim.Adam)"),
    OPTIM("adamw", adamw_attrs, adam_slots, adamw_step, "AdamW, decoupled weight decay (torch.optim.AdamW)"),
    OPTIM("rmsprop", rmsprop_attrs, rmsprop_slots, rmsprop_step, "RMSprop (torch.optim.RMSprop, not centered)"),
    OPTIM("adagrad", adagrad_attrs, adagrad_slots, adagrad_step, "Adagrad (torch.optim.Adagrad)"),
};

strata_status st_register_core_optimizers(st_plugin *p)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(core_optims); k++) {
        strata_status rc = st_register_optimizer(p, &core_optims[k]);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
