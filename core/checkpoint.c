/* checkpoint.c - models and optimizer state to and from safetensors.
 *
 * Model tensors keep their PyTorch names ("1.weight"), so the file loads
 * into the equivalent torch module after dropping the "optimizer." keys.
 * Optimizer slots are "optimizer.<param>.<slot>"; counters and
 * hyper-parameters go in "__metadata__".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "half.h"
#include "internal.h"

typedef struct {
    st_sft_tensor_in *t;
    void **bufs;
    char **names;
    size_t n, cap;
    const char **mk, **mv;
    char **mowned;
    size_t nm, capm;
} save_list;

static strata_status push_tensor(save_list *l, const char *name, strata_tensor *t)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        st_sft_tensor_in *a = st_realloc(l->t, nc * sizeof *a);
        if (a)
            l->t = a;
        void **b = st_realloc(l->bufs, nc * sizeof *b);
        if (b)
            l->bufs = b;
        char **c = st_realloc(l->names, nc * sizeof *c);
        if (c)
            l->names = c;
        if (!a || !b || !c)
            return st_error_context(STRATA_E_NOMEM, "building a checkpoint");
        l->cap = nc;
    }
    size_t bytes = (size_t)strata_tensor_numel(t) * strata_dtype_size(t->dtype);
    void *buf = st_malloc(bytes ? bytes : 1);
    char *nm = st_strdup(name);
    if (!buf || !nm) {
        free(buf);
        free(nm);
        return STRATA_E_NOMEM;
    }
    strata_status rc = strata_tensor_read(t, buf, bytes);
    if (rc) {
        free(buf);
        free(nm);
        return st_error_context(rc, "reading tensor '%s' for the checkpoint", name);
    }
    l->bufs[l->n] = buf;
    l->names[l->n] = nm;
    l->t[l->n] = (st_sft_tensor_in){nm, t->dtype, t->ndim, t->shape, buf};
    l->n++;
    return STRATA_OK;
}

static strata_status push_meta(save_list *l, const char *k, const char *v)
{
    if (l->nm == l->capm) {
        size_t nc = l->capm ? l->capm * 2 : 16;
        const char **a = st_realloc(l->mk, nc * sizeof *a);
        if (a)
            l->mk = a;
        const char **b = st_realloc(l->mv, nc * sizeof *b);
        if (b)
            l->mv = b;
        char **c = st_realloc(l->mowned, nc * 2 * sizeof *c);
        if (c)
            l->mowned = c;
        if (!a || !b || !c)
            return st_error_context(STRATA_E_NOMEM, "building checkpoint metadata");
        l->capm = nc;
    }
    char *kk = st_strdup(k), *vv = st_strdup(v);
    if (!kk || !vv) {
        free(kk);
        free(vv);
        return STRATA_E_NOMEM;
    }
    l->mowned[2 * l->nm] = kk;
    l->mowned[2 * l->nm + 1] = vv;
    l->mk[l->nm] = kk;
    l->mv[l->nm] = vv;
    l->nm++;
    return STRATA_OK;
}

static void free_list(save_list *l)
{
    for (size_t k = 0; k < l->n; k++) {
        free(l->bufs[k]);
        free(l->names[k]);
    }
    for (size_t k = 0; k < 2 * l->nm; k++)
        free(l->mowned[k]);
    free(l->t);
    free(l->bufs);
    free(l->names);
    free(l->mk);
    free(l->mv);
    free(l->mowned);
}

/* "optimizer.hparams": the hyper-parameters as a JSON object, for people
 * reading the file (loading uses the optimizer the caller built). */
static strata_status push_optimizer_hparams(save_list *l, strata_optimizer *opt)
{
    int n = 0;
    const strata_attr *a = st_optimizer_attrs(opt, &n);
    json_t *obj = json_object();
    for (int k = 0; k < n && obj; k++) {
        if (!strcmp(a[k].name, "lr"))
            continue; /* the current rate is "optimizer.lr" */
        if (a[k].kind == STRATA_ATTR_INT)
            json_object_set_new(obj, a[k].name, json_integer(a[k].i));
        else if (a[k].kind == STRATA_ATTR_FLOAT)
            json_object_set_new(obj, a[k].name, json_real(a[k].f));
        else if (a[k].kind == STRATA_ATTR_STRING)
            json_object_set_new(obj, a[k].name, json_string(a[k].s ? a[k].s : ""));
    }
    char *txt = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(obj);
    if (!txt)
        return st_error(STRATA_E_NOMEM, "out of memory writing optimizer metadata");
    strata_status rc = push_meta(l, "optimizer.hparams", txt);
    free(txt);
    return rc;
}

/* A tensor name or metadata key of the optimizer's state: "optimizer" or "optimizer.*". */
static int optimizer_key(const char *key)
{
    return !strcmp(key, "optimizer") || !strncmp(key, "optimizer.", 10);
}

/* The metadata keys a checkpoint writes itself, which a caller's
 * meta_json may not set (a later key would replace the saved state's). */
static int reserved_key(const char *key)
{
    return !strcmp(key, "format") || !strcmp(key, "strata_version") || optimizer_key(key);
}

strata_status strata_checkpoint_save(const char *path, strata_model *m, strata_optimizer *opt, const char *meta_json)
{
    if (!path || !m)
        return st_error(STRATA_E_INVALID, "strata_checkpoint_save: NULL path or model");
    strata_status rc = opt ? st_optimizer_check_model(opt, m, "strata_checkpoint_save") : STRATA_OK;
    if (rc)
        return rc;
    save_list l = {0};
    char buf[64];
    for (int k = 0; k < m->n_params && !rc; k++)
        rc = push_tensor(&l, m->params[k].name, m->params[k].t);
    for (int k = 0; k < m->n_buffers && !rc; k++)
        rc = push_tensor(&l, m->buffers[k].name, m->buffers[k].t);
    if (!rc)
        rc = push_meta(&l, "format", "strata");
    if (!rc)
        rc = push_meta(&l, "strata_version", STRATA_VERSION_STRING);
    if (!rc && opt) {
        rc = push_meta(&l, "optimizer", strata_optimizer_type_name(opt));
        snprintf(buf, sizeof buf, "%lld", (long long)strata_optimizer_steps(opt));
        if (!rc)
            rc = push_meta(&l, "optimizer.steps", buf);
        snprintf(buf, sizeof buf, "%.17g", strata_optimizer_lr(opt));
        if (!rc)
            rc = push_meta(&l, "optimizer.lr", buf);
        rc = rc ? rc : push_optimizer_hparams(&l, opt);
        for (int i = 0; i < m->n_params && !rc; i++) {
            char key[256];
            snprintf(key, sizeof key, "optimizer.%s.step", m->params[i].name);
            snprintf(buf, sizeof buf, "%lld", (long long)st_optimizer_param_steps(opt, i));
            rc = push_meta(&l, key, buf);
            for (int s = 0; s < st_optimizer_slot_count(opt) && !rc; s++) {
                strata_tensor *t = st_optimizer_slot(opt, i, s, 0);
                if (!t)
                    continue;
                snprintf(key, sizeof key, "optimizer.%s.%s", m->params[i].name, st_optimizer_slot_name(opt, s));
                rc = push_tensor(&l, key, t);
            }
        }
    }
    if (!rc && meta_json && *meta_json) {
        json_error_t err;
        json_t *obj = json_loads(meta_json, 0, &err);
        if (!json_is_object(obj)) {
            rc = st_error(STRATA_E_INVALID, "strata_checkpoint_save: metadata is not a JSON object (%s)", err.text);
        } else {
            const char *key;
            json_t *val;
            json_object_foreach(obj, key, val)
            {
                if (rc)
                    break;
                if (reserved_key(key)) {
                    rc = st_error(STRATA_E_INVALID, "strata_checkpoint_save: metadata key '%s' is the checkpoint's "
                                                    "own (format, strata_version, optimizer, optimizer.*)",
                                  key);
                    break;
                }
                if (json_is_string(val)) {
                    rc = push_meta(&l, key, json_string_value(val));
                } else {
                    char *txt = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
                    rc = txt ? push_meta(&l, key, txt) : STRATA_E_NOMEM;
                    free(txt);
                }
            }
        }
        json_decref(obj);
    }
    if (!rc)
        rc = st_sft_write(path, l.t, l.n, l.mk, l.mv, l.nm);
    free_list(&l);
    return rc;
}

/* Tensor @p e of @p f as dtype @p to (f32, f16, bf16) in a new buffer
 * *out: a float tensor converted, an integer one copied; its dtype in
 * *dtype. */
static strata_status convert_entry(const st_sft_file *f, const st_sft_entry *e, int32_t to, int32_t *dtype, void **out)
{
    const st_float_kind k = st_float_kind_of(e->dtype_str);
    if (k == ST_FLOAT_NONE && e->dtype != STRATA_I32 && e->dtype != STRATA_I64)
        return st_error(STRATA_E_DTYPE, "%s: tensor '%s' is %s, which a checkpoint of Strata cannot hold (F32, F16, "
                                        "BF16, F64, I32 and I64 only)", f->path, e->name, e->dtype_str);
    *dtype = k == ST_FLOAT_NONE ? e->dtype : to;
    const size_t n = (size_t)st_numel(e->ndim, e->shape), es = strata_dtype_size(*dtype), bytes = n * es;
    uint8_t *y = st_malloc(bytes ? bytes : 1);
    if (!y)
        return st_error_context(STRATA_E_NOMEM, "converting tensor '%s' of %s", e->name, f->path);
    *out = y;
    const uint8_t *p = f->data + e->begin;
    if (k == ST_FLOAT_NONE || (k == ST_FLOAT_F32 && to == STRATA_F32)) { /* as it is (a NaN's bits too) */
        memcpy(y, p, bytes);
        return STRATA_OK;
    }
    for (size_t i = 0; i < n; i++) {
        const float v = (float)st_float_at(k, p, i);
        if (to == STRATA_F32) {
            memcpy(y + 4 * i, &v, 4);
        } else {
            const uint16_t h = to == STRATA_F16 ? strata_f32_to_f16(v) : strata_f32_to_bf16(v);
            memcpy(y + 2 * i, &h, 2);
        }
    }
    return STRATA_OK;
}

strata_status strata_checkpoint_convert(const char *src, const char *dst, strata_dtype dtype)
{
    if (!src || !dst)
        return st_error(STRATA_E_INVALID, "strata_checkpoint_convert: NULL path");
    if (dtype != STRATA_F32 && dtype != STRATA_F16 && dtype != STRATA_BF16)
        return st_error(STRATA_E_DTYPE, "strata_checkpoint_convert: dtype %d (%s) is not f32, f16 or bf16", (int)dtype,
                        strata_dtype_name(dtype));
    st_sft_file *f = NULL;
    strata_status rc = st_sft_read(src, &f);
    if (rc)
        return rc;
    st_sft_tensor_in *t = st_calloc(f->n_entries + 1, sizeof *t);
    void **bufs = st_calloc(f->n_entries + 1, sizeof *bufs);
    const char **mk = st_calloc(f->n_meta + 1, sizeof *mk), **mv = st_calloc(f->n_meta + 1, sizeof *mv);
    size_t n = 0, nm = 0;
    if (!t || !bufs || !mk || !mv)
        rc = st_error_context(STRATA_E_NOMEM, "converting %s", src);
    for (size_t k = 0; k < f->n_entries && !rc; k++) {
        const st_sft_entry *e = &f->entries[k];
        if (optimizer_key(e->name)) /* the optimizer's state is left out */
            continue;
        t[n] = (st_sft_tensor_in){e->name, 0, e->ndim, e->shape, NULL};
        rc = convert_entry(f, e, dtype, &t[n].dtype, &bufs[n]);
        t[n].data = bufs[n];
        n++;
    }
    for (size_t k = 0; k < f->n_meta && !rc; k++)
        if (!optimizer_key(f->meta_keys[k]))
            mk[nm] = f->meta_keys[k], mv[nm++] = f->meta_vals[k];
    if (!rc)
        rc = st_sft_write(dst, t, n, mk, mv, nm);
    for (size_t k = 0; k < n; k++)
        free(bufs[k]);
    free(t);
    free(bufs);
    free(mk);
    free(mv);
    st_sft_free(f);
    return rc;
}

/* A file's float dtype other than F32 that loads into an f32 tensor
 * (converted, as PyTorch's load_state_dict copies a half-precision state
 * into float parameters): F16, BF16 or F64; else ST_FLOAT_NONE. */
static st_float_kind float_file_dtype(const st_sft_entry *e)
{
    const st_float_kind k = st_float_kind_of(e->dtype_str);
    return k == ST_FLOAT_F32 ? ST_FLOAT_NONE : k;
}

/* @p n values of float_file_dtype @p k at @p p as f32 (F16 and BF16
 * exactly, F64 rounded to nearest). */
static void to_f32(st_float_kind k, const uint8_t *p, int64_t n, float *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)st_float_at(k, p, (size_t)i);
}

/* Room for the f32 values of one converted tensor (F16, BF16 or F64 in the
 * file): the checking pass finds the largest, and it is allocated before
 * the writing pass, which cannot then fail for memory half-way through the
 * model. */
typedef struct {
    float *buf;
    int64_t need; /* values */
} load_scratch;

/* Checks that @p name exists with @p t's dtype and shape (and counts the
 * room a conversion needs in @p sc); writes it when @p write is set.
 * Loading checks everything first, so a failed load leaves the model and
 * optimizer untouched. */
static strata_status load_into(const st_sft_file *f, const char *name, strata_tensor *t, int write,
                               load_scratch *sc)
{
    const st_sft_entry *e = st_sft_find(f, name);
    if (!e) { /* PyTorch's DataParallel saves "module.1.weight" for "1.weight" */
        char wrapped[512];
        snprintf(wrapped, sizeof wrapped, "module.%s", name);
        if (st_sft_find(f, wrapped))
            return st_error(STRATA_E_NOT_FOUND,
                            "%s: tensor '%s' is missing, and '%s' is there: a state_dict of PyTorch's DataParallel "
                            "or DistributedDataParallel; save model.module.state_dict() instead, or strip the "
                            "'module.' prefix",
                            f->path, name, wrapped);
        return st_error(STRATA_E_NOT_FOUND, "%s: tensor '%s' is missing", f->path, name);
    }
    char a[128], b[128];
    const int widened = t->dtype == STRATA_F32 && float_file_dtype(e) != ST_FLOAT_NONE;
    if (e->dtype != t->dtype && !widened)
        return st_error(STRATA_E_DTYPE, "%s: tensor '%s' is %s, the model expects %s", f->path, name, e->dtype_str,
                        strata_dtype_name(t->dtype));
    if (e->ndim != t->ndim || memcmp(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim))
        return st_error(STRATA_E_SHAPE, "%s: tensor '%s' has shape %s, the model expects %s", f->path, name,
                        st_shape_str(a, sizeof a, e->ndim, e->shape), st_shape_str(b, sizeof b, t->ndim, t->shape));
    const int64_t n = strata_tensor_numel(t);
    if (!write) {
        if (e->dtype != t->dtype && n > sc->need)
            sc->need = n;
        return STRATA_OK;
    }
    if (e->dtype == t->dtype)
        return strata_tensor_write(t, f->data + e->begin, (size_t)(e->end - e->begin));
    if (n > sc->need) /* the checking pass counted it */
        return st_error(STRATA_E_STATE, "%s: tensor '%s': no room to convert it", f->path, name);
    to_f32(float_file_dtype(e), f->data + e->begin, n, sc->buf);
    return strata_tensor_write(t, sc->buf, (size_t)n * sizeof *sc->buf);
}

/* The optimizer's counters in the metadata: a whole decimal number >= 0, or absent. */
static strata_status meta_count(const st_sft_file *f, const char *key, int64_t *v, int *present)
{
    const char *s = st_sft_meta(f, key);
    *present = s != NULL;
    *v = 0;
    if (!s)
        return STRATA_OK;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno || x < 0)
        return st_error(STRATA_E_FORMAT, "%s: metadata '%s' is \"%s\", not a step count (a whole number >= 0)",
                        f->path, key, s);
    *v = x;
    return STRATA_OK;
}

/* optimizer.lr: a finite number >= 0, or absent. */
static strata_status meta_lr(const st_sft_file *f, double *v, int *present)
{
    const char *s = st_sft_meta(f, "optimizer.lr");
    *present = s != NULL;
    *v = 0.0;
    if (!s)
        return STRATA_OK;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x) || x < 0.0)
        return st_error(STRATA_E_FORMAT, "%s: metadata 'optimizer.lr' is \"%s\", not a learning rate (a finite "
                        "number >= 0)", f->path, s);
    *v = x;
    return STRATA_OK;
}

/* The model's parameter or buffer named @p name (or the first whose name
 * starts with its first @p len bytes, when len > 0), or NULL. */
static const char *model_tensor_name(const strata_model *m, const char *name, size_t len)
{
    for (int pass = 0; pass < 2; pass++) {
        const st_named_tensor *v = pass ? m->buffers : m->params;
        const int n = pass ? m->n_buffers : m->n_params;
        for (int k = 0; k < n; k++)
            if (len ? !strncmp(v[k].name, name, len) : !strcmp(v[k].name, name))
                return v[k].name;
    }
    return NULL;
}

/* A file tensor the model lacks, though the model has others of the same
 * layer ("mn.embed_3" beside the model's "mn.embed_0"): the file was written
 * by that layer built otherwise (more hops, temporal encoding on), and
 * loading part of it would compute something else without a word. Tensors
 * of layers the model does not have (a discriminator beside a generator,
 * a classifier's head) and optimizer state are left alone. */
static strata_status check_stray(const st_sft_file *f, const strata_model *m)
{
    for (size_t k = 0; k < f->n_entries; k++) {
        const char *name = f->entries[k].name;
        const char *dot = strrchr(name, '.');
        if (!strncmp(name, "optimizer.", 10) || !dot || model_tensor_name(m, name, 0))
            continue;
        const size_t len = (size_t)(dot - name) + 1;
        const char *kin = model_tensor_name(m, name, len);
        if (kin)
            return st_error(STRATA_E_INVALID,
                            "%s: tensor '%s' is not in the model, which has '%s' of the same layer '%.*s' but not "
                            "this one: the file was written by another model, or by this layer built with other "
                            "attributes (give the spec and --set values it was trained with)",
                            f->path, name, kin, (int)(len - 1), name);
    }
    return STRATA_OK;
}

static strata_status load_pass(const st_sft_file *f, strata_model *m, strata_optimizer *opt, int write,
                               load_scratch *sc)
{
    strata_status rc = STRATA_OK;
    for (int k = 0; k < m->n_params && !rc; k++)
        rc = load_into(f, m->params[k].name, m->params[k].t, write, sc);
    for (int k = 0; k < m->n_buffers && !rc; k++)
        rc = load_into(f, m->buffers[k].name, m->buffers[k].t, write, sc);
    if (!rc && !write) /* after those: a missing tensor or a shape says more about another model */
        rc = check_stray(f, m);
    if (rc || !opt)
        return rc;
    if ((rc = st_optimizer_check_model(opt, m, "strata_checkpoint_load")))
        return rc;
    const char *type = st_sft_meta(f, "optimizer");
    if (!type)
        return st_error(STRATA_E_NOT_FOUND, "%s: has no optimizer state (saved without an optimizer)", f->path);
    if (strcmp(type, strata_optimizer_type_name(opt)) != 0)
        return st_error(STRATA_E_INVALID, "%s: optimizer state is for '%s', not '%s'", f->path, type,
                        strata_optimizer_type_name(opt));
    int64_t steps;
    double lr;
    int has_steps, has_lr;
    if ((rc = meta_count(f, "optimizer.steps", &steps, &has_steps)) || (rc = meta_lr(f, &lr, &has_lr)))
        return rc;
    if (write && has_steps)
        st_optimizer_set_steps(opt, steps);
    if (write && has_lr)
        strata_optimizer_set_lr(opt, lr);
    for (int i = 0; i < m->n_params && !rc; i++) {
        char key[256];
        snprintf(key, sizeof key, "optimizer.%s.step", m->params[i].name);
        int64_t ps;
        int has_ps;
        if ((rc = meta_count(f, key, &ps, &has_ps)))
            return rc;
        if (write)
            st_optimizer_set_param_steps(opt, i, has_ps ? ps : 0);
        for (int s = 0; s < st_optimizer_slot_count(opt) && !rc; s++) {
            snprintf(key, sizeof key, "optimizer.%s.%s", m->params[i].name, st_optimizer_slot_name(opt, s));
            const st_sft_entry *e = st_sft_find(f, key);
            if (!e) { /* saved before the slot existed: the state is as then */
                if (write)
                    st_optimizer_drop_slot(opt, i, s);
                continue;
            }
            if (!write) {
                strata_tensor *p = m->params[i].t;
                if ((e->dtype != STRATA_F32 && float_file_dtype(e) == ST_FLOAT_NONE) || e->ndim != p->ndim ||
                    memcmp(e->shape, p->shape, sizeof(int64_t) * (size_t)p->ndim))
                    rc = st_error(STRATA_E_SHAPE, "%s: optimizer tensor '%s' does not match its parameter", f->path,
                                  key);
                else if (e->dtype != STRATA_F32 && strata_tensor_numel(p) > sc->need)
                    sc->need = strata_tensor_numel(p);
                continue;
            }
            strata_tensor *t = st_optimizer_slot(opt, i, s, 1);
            rc = t ? load_into(f, key, t, 1, sc) : STRATA_E_NOMEM;
        }
    }
    return rc;
}

strata_status strata_checkpoint_load(const char *path, strata_model *m, strata_optimizer *opt)
{
    if (!path || !m)
        return st_error(STRATA_E_INVALID, "strata_checkpoint_load: NULL path or model");
    st_sft_file *f;
    strata_status rc = st_sft_read(path, &f);
    if (rc)
        return rc;
    load_scratch sc = {NULL, 0};
    rc = load_pass(f, m, opt, 0, &sc);
    if (!rc && sc.need > 0 && !(sc.buf = st_malloc((size_t)sc.need * sizeof *sc.buf)))
        rc = STRATA_E_NOMEM; /* the message gives the size */
    if (!rc)
        rc = load_pass(f, m, opt, 1, &sc);
    free(sc.buf);
    st_sft_free(f);
    return rc;
}

strata_status strata_checkpoint_metadata(const char *path, const char *key, char *buf, size_t buf_size)
{
    if (!path || !key || !buf || !buf_size)
        return st_error(STRATA_E_INVALID, "strata_checkpoint_metadata: NULL argument");
    st_sft_file *f;
    strata_status rc = st_sft_read(path, &f);
    if (rc)
        return rc;
    const char *v = st_sft_meta(f, key);
    if (!v) {
        st_sft_free(f);
        return st_error(STRATA_E_NOT_FOUND, "%s: no metadata key '%s'", path, key);
    }
    size_t n = strlen(v);
    if (n >= buf_size) {
        st_sft_free(f);
        return st_error(STRATA_E_INVALID, "%s: metadata '%s' needs %zu bytes, buffer has %zu", path, key, n + 1,
                        buf_size);
    }
    memcpy(buf, v, n + 1);
    st_sft_free(f);
    return STRATA_OK;
}
