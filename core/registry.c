/* registry.c - ops, kernels, layer types, optimizer types and backends,
 * each registered by a plugin (the core registers as plugin "core"). */
#include <ctype.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Copies a boundary struct of size @p given into @p dst of size @p ours:
 * fields the caller does not know stay zero (rule 5 of DESIGN.md). */
static strata_status copy_sized(void *dst, size_t ours, const void *src, size_t given, size_t min, const char *what)
{
    if (given < min)
        return st_error(STRATA_E_INVALID, "%s: struct_size %zu is smaller than the 1.0 layout (%zu)", what, given,
                        min);
    memset(dst, 0, ours);
    memcpy(dst, src, given < ours ? given : ours);
    return STRATA_OK;
}

static int valid_op_name(const char *name)
{
    const char *sep = name ? strstr(name, "::") : NULL;
    if (!sep || sep == name || !sep[2])
        return 0;
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || *c == ':'))
            return 0;
    return 1;
}

st_op *st_find_op(const strata_runtime *rt, const char *name, int version)
{
    st_op *best = NULL;
    for (int k = 0; k < rt->n_ops; k++) {
        st_op *op = rt->ops[k];
        if (strcmp(op->name, name) != 0)
            continue;
        if (version > 0 && op->def.version == version)
            return op;
        if (version <= 0 && (!best || op->def.version > best->def.version))
            best = op;
    }
    return best;
}

int st_backend_index(const strata_runtime *rt, const st_backend *be)
{
    for (int k = 0; k < rt->n_backends; k++)
        if (rt->backends[k] == be)
            return k;
    return -1;
}

const st_kernel *st_find_kernel(strata_runtime *rt, st_op *op, int be)
{
    if (be < 0 || be >= rt->n_backends)
        return NULL;
    if (be < ST_KCACHE && op->kcache_gen == rt->kernel_gen)
        return op->kcache[be];
    if (op->kcache_gen != rt->kernel_gen) {
        memset(op->kcache, 0, sizeof op->kcache);
        for (int b = 0; b < rt->n_backends && b < ST_KCACHE; b++) {
            const char *bname = rt->backends[b]->name;
            for (int k = 0; k < rt->n_kernels; k++) {
                st_kernel *kn = rt->kernels[k];
                if (kn->version == op->def.version && strcmp(kn->op, op->name) == 0 &&
                    strcmp(kn->backend, bname) == 0) {
                    op->kcache[b] = kn;
                    break;
                }
            }
        }
        op->kcache_gen = rt->kernel_gen;
        if (be < ST_KCACHE)
            return op->kcache[be];
    }
    for (int k = 0; k < rt->n_kernels; k++) {
        st_kernel *kn = rt->kernels[k];
        if (kn->version == op->def.version && strcmp(kn->op, op->name) == 0 &&
            strcmp(kn->backend, rt->backends[be]->name) == 0)
            return kn;
    }
    return NULL;
}

strata_status st_register_op(st_plugin *p, const strata_op_def *def)
{
    strata_runtime *rt = p->handle.rt;
    if (!def)
        return st_error(STRATA_E_INVALID, "register_op: NULL definition from plugin '%s'", p->name);
    if (!valid_op_name(def->name))
        return st_error(STRATA_E_INVALID, "register_op: op name '%s' from plugin '%s' is not of the form domain::name",
                        def->name ? def->name : "(null)", p->name);
    st_op *op = st_calloc(1, sizeof *op);
    if (!op)
        return STRATA_E_NOMEM;
    strata_status rc = copy_sized(&op->def, sizeof op->def, def, def->struct_size,
                                  offsetof(strata_op_def, doc) + sizeof(def->doc), def->name);
    if (rc) {
        free(op);
        return rc;
    }
    if (op->def.version <= 0)
        op->def.version = 1;
    if (!op->def.infer) {
        free(op);
        return st_error(STRATA_E_INVALID, "register_op: %s from plugin '%s' has no infer function", def->name,
                        p->name);
    }
    st_op *dup = st_find_op(rt, def->name, op->def.version);
    if (dup) {
        int v = op->def.version;
        free(op);
        return st_error(STRATA_E_EXISTS, "register_op: %s version %d is already registered by plugin '%s'",
                        def->name, v, dup->plugin ? dup->plugin->name : "?");
    }
    op->name = st_strdup(def->name);
    op->def.name = op->name;
    op->plugin = p;
    /* its attributes (1.4): copy_sized left them NULL for an older layout */
    if (op->name && (rc = st_op_attrs_from_schema(op->name, op->def.attrs, op->def.n_attrs, &op->own_attrs,
                                                          &op->attrs_required))) {
        free(op->name);
        free(op);
        return rc;
    }
    op->attr_spec = op->own_attrs;
    op->kcache_gen = (unsigned)-1;
    if (!op->name || st_grow((void **)&rt->ops, &rt->cap_ops, rt->n_ops + 1, sizeof *rt->ops)) {
        free(op->name);
        free(op->own_attrs);
        free(op);
        return STRATA_E_NOMEM;
    }
    rt->ops[rt->n_ops++] = op;
    return STRATA_OK;
}

strata_status st_register_kernel(st_plugin *p, const char *backend, const char *opname, int32_t version,
                                 strata_kernel_fn fn, void *user)
{
    strata_runtime *rt = p->handle.rt;
    if (!backend || !opname || !fn)
        return st_error(STRATA_E_INVALID, "register_kernel: NULL backend, op or function from plugin '%s'", p->name);
    if (version <= 0)
        version = 1;
    for (int k = 0; k < rt->n_kernels; k++) {
        st_kernel *kn = rt->kernels[k];
        if (kn->version != version || strcmp(kn->op, opname) || strcmp(kn->backend, backend))
            continue;
        /* the backend's own plugin takes its place back from a plugin that got there first (loaded earlier,
         * from STRATA_PLUGIN_PATH): refusing the backend would unload all of it */
        int own = 0;
        for (int b = 0; b < rt->n_backends && !own; b++)
            own = rt->backends[b]->plugin == p && !strcmp(rt->backends[b]->name, backend);
        if (own && kn->plugin != p) {
            st_log(rt, STRATA_LOG_WARN, "plugin '%s' registered %s v%d for backend '%s'; the backend's own kernel "
                                        "replaces it", kn->plugin->name, opname, version, backend);
            kn->fn = fn;
            kn->user = user;
            kn->plugin = p;
            rt->kernel_gen++;
            return STRATA_OK;
        }
        return st_error(STRATA_E_EXISTS, "register_kernel: %s v%d on backend '%s' is already registered by '%s'",
                        opname, version, backend, kn->plugin->name);
    }
    st_kernel *kn = st_calloc(1, sizeof *kn);
    if (!kn)
        return STRATA_E_NOMEM;
    kn->backend = st_strdup(backend);
    kn->op = st_strdup(opname);
    kn->version = version;
    kn->fn = fn;
    kn->user = user;
    kn->plugin = p;
    if (!kn->backend || !kn->op ||
        st_grow((void **)&rt->kernels, &rt->cap_kernels, rt->n_kernels + 1, sizeof *rt->kernels)) {
        free(kn->backend);
        free(kn->op);
        free(kn);
        return STRATA_E_NOMEM;
    }
    rt->kernels[rt->n_kernels++] = kn;
    rt->kernel_gen++;
    return STRATA_OK;
}

const st_layer_type *st_find_layer_type(const strata_runtime *rt, const char *name)
{
    for (int k = 0; k < rt->n_layers; k++)
        if (!strcmp(rt->layers[k]->name, name))
            return rt->layers[k];
    return NULL;
}

const st_optim_type *st_find_optim_type(const strata_runtime *rt, const char *name)
{
    for (int k = 0; k < rt->n_optims; k++)
        if (!strcmp(rt->optims[k]->name, name))
            return rt->optims[k];
    return NULL;
}

strata_status st_register_layer(st_plugin *p, const strata_layer_type *t)
{
    strata_runtime *rt = p->handle.rt;
    if (!t || !t->name || !*t->name)
        return st_error(STRATA_E_INVALID, "register_layer: unnamed layer type from plugin '%s'", p->name);
    const st_layer_type *dup = st_find_layer_type(rt, t->name);
    if (dup)
        return st_error(STRATA_E_EXISTS, "register_layer: layer type '%s' is already registered by plugin '%s'",
                        t->name, dup->plugin->name);
    st_layer_type *lt = st_calloc(1, sizeof *lt);
    if (!lt)
        return STRATA_E_NOMEM;
    strata_status rc = copy_sized(&lt->def, sizeof lt->def, t, t->struct_size,
                                  offsetof(strata_layer_type, doc) + sizeof(t->doc), t->name);
    if (!rc && (!lt->def.create || !lt->def.forward))
        rc = st_error(STRATA_E_INVALID, "register_layer: '%s' has no %s function", t->name,
                      !lt->def.create && !lt->def.forward ? "create or forward"
                      : !lt->def.create                   ? "create"
                                                          : "forward");
    if (rc) {
        free(lt);
        return rc;
    }
    lt->name = st_strdup(t->name);
    lt->def.name = lt->name;
    lt->plugin = p;
    if (!lt->name || st_grow((void **)&rt->layers, &rt->cap_layers, rt->n_layers + 1, sizeof *rt->layers)) {
        free(lt->name);
        free(lt);
        return STRATA_E_NOMEM;
    }
    rt->layers[rt->n_layers++] = lt;
    return STRATA_OK;
}

strata_status st_register_optimizer(st_plugin *p, const strata_optimizer_type *t)
{
    strata_runtime *rt = p->handle.rt;
    if (!t || !t->name || !*t->name)
        return st_error(STRATA_E_INVALID, "register_optimizer: unnamed optimizer type from plugin '%s'", p->name);
    const st_optim_type *dup = st_find_optim_type(rt, t->name);
    if (dup)
        return st_error(STRATA_E_EXISTS, "register_optimizer: '%s' is already registered by plugin '%s'", t->name,
                        dup->plugin->name);
    st_optim_type *ot = st_calloc(1, sizeof *ot);
    if (!ot)
        return STRATA_E_NOMEM;
    strata_status rc = copy_sized(&ot->def, sizeof ot->def, t, t->struct_size,
                                  offsetof(strata_optimizer_type, doc) + sizeof(t->doc), t->name);
    if (!rc && !ot->def.step)
        rc = st_error(STRATA_E_INVALID, "register_optimizer: '%s' lacks step", t->name);
    if (rc) {
        free(ot);
        return rc;
    }
    ot->name = st_strdup(t->name);
    ot->def.name = ot->name;
    ot->plugin = p;
    if (!ot->name || st_grow((void **)&rt->optims, &rt->cap_optims, rt->n_optims + 1, sizeof *rt->optims)) {
        free(ot->name);
        free(ot);
        return STRATA_E_NOMEM;
    }
    rt->optims[rt->n_optims++] = ot;
    return STRATA_OK;
}

int st_backend_devices(st_backend *be)
{
    if (be->listed)
        return be->n_devices;
    if (!be->counted) {
        int c = be->def.device_count(be->def.self);
        be->count = c < 0 ? 0 : c;
        be->counted = 1;
    }
    int n = be->count;
    strata_device **devs = st_calloc((size_t)(n ? n : 1), sizeof *devs);
    if (!devs) {
        st_error(STRATA_E_NOMEM, "backend '%s': out of memory listing its %d device(s)", be->name, n);
        return -1;
    }
    for (int d = 0; d < n; d++) {
        strata_device *dev = st_calloc(1, sizeof *dev);
        if (!dev) {
            for (int k = 0; k < d; k++)
                free(devs[k]);
            free(devs);
            st_error(STRATA_E_NOMEM, "backend '%s': out of memory listing its %d device(s)", be->name, n);
            return -1;
        }
        dev->rt = be->rt;
        dev->be = be;
        dev->index = d;
        dev->host_memory = (be->def.flags & STRATA_BACKEND_HOST_MEMORY) != 0;
        snprintf(dev->name, sizeof dev->name, "%s:%d", be->name, d);
        devs[d] = dev;
    }
    be->devices = devs;
    be->n_devices = n;
    be->listed = 1;
    return n;
}

static void free_backend(st_backend *be)
{
    if (!be)
        return;
    for (int d = 0; d < be->n_devices; d++)
        free(be->devices[d]);
    free(be->devices);
    if (be->def.destroy)
        be->def.destroy(be->def.self);
    free(be->name);
    free(be);
}

strata_status st_register_backend(st_plugin *p, const strata_backend_def *def)
{
    strata_runtime *rt = p->handle.rt;
    if (!def || !def->name || !*def->name)
        return st_error(STRATA_E_INVALID, "register_backend: unnamed backend from plugin '%s'", p->name);
    for (const char *c = def->name; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_'))
            return st_error(STRATA_E_INVALID, "register_backend: backend name '%s' must match [a-z0-9_]+", def->name);
    for (int k = 0; k < rt->n_backends; k++)
        if (!strcmp(rt->backends[k]->name, def->name))
            return st_error(STRATA_E_EXISTS, "register_backend: backend '%s' is already registered by plugin '%s'",
                            def->name, rt->backends[k]->plugin->name);
    st_backend *be = st_calloc(1, sizeof *be);
    if (!be)
        return STRATA_E_NOMEM;
    strata_status rc = copy_sized(&be->def, sizeof be->def, def, def->struct_size,
                                  offsetof(strata_backend_def, destroy) + sizeof(def->destroy), def->name);
    if (!rc && !be->def.device_count)
        rc = st_error(STRATA_E_INVALID, "register_backend: '%s' has no device_count function", def->name);
    if (!rc && !(be->def.flags & STRATA_BACKEND_HOST_MEMORY) &&
        (!be->def.alloc || !be->def.free || !be->def.copy_to_host || !be->def.copy_from_host ||
         !be->def.copy_on_device))
        rc = st_error(STRATA_E_INVALID,
                      "register_backend: '%s' has device memory but lacks alloc, free or a copy function", def->name);
    if (rc) {
        free(be);
        return rc;
    }
    be->name = st_strdup(def->name);
    be->def.name = be->name;
    be->plugin = p;
    be->rt = rt;
    if (!be->name) {
        be->def.destroy = NULL; /* the plugin still owns self on failure */
        free_backend(be);
        return STRATA_E_NOMEM;
    }
    if (st_grow((void **)&rt->backends, &rt->cap_backends, rt->n_backends + 1, sizeof *rt->backends)) {
        be->def.destroy = NULL;
        free_backend(be);
        return STRATA_E_NOMEM;
    }
    rt->backends[rt->n_backends++] = be;
    rt->kernel_gen++;
    return STRATA_OK;
}

/* Removes everything plugin @p registered (failed init, or shutdown). */
void st_unregister_plugin(strata_runtime *rt, st_plugin *p)
{
    int w = 0;
    for (int k = 0; k < rt->n_ops; k++) {
        if (rt->ops[k]->plugin == p) {
            free(rt->ops[k]->name);
            free(rt->ops[k]->own_attrs);
            free(rt->ops[k]);
        } else {
            rt->ops[w++] = rt->ops[k];
        }
    }
    rt->n_ops = w;
    w = 0;
    for (int k = 0; k < rt->n_kernels; k++) {
        st_kernel *kn = rt->kernels[k];
        if (kn->plugin == p) {
            free(kn->backend);
            free(kn->op);
            free(kn);
        } else {
            rt->kernels[w++] = kn;
        }
    }
    rt->n_kernels = w;
    w = 0;
    for (int k = 0; k < rt->n_layers; k++) {
        if (rt->layers[k]->plugin == p) {
            free(rt->layers[k]->name);
            free(rt->layers[k]);
        } else {
            rt->layers[w++] = rt->layers[k];
        }
    }
    rt->n_layers = w;
    w = 0;
    for (int k = 0; k < rt->n_optims; k++) {
        if (rt->optims[k]->plugin == p) {
            free(rt->optims[k]->name);
            free(rt->optims[k]);
        } else {
            rt->optims[w++] = rt->optims[k];
        }
    }
    rt->n_optims = w;
    w = 0;
    int n_before = rt->n_backends;
    for (int k = 0; k < rt->n_backends; k++) {
        if (rt->backends[k]->plugin == p)
            free_backend(rt->backends[k]);
        else
            rt->backends[w++] = rt->backends[k];
    }
    rt->n_backends = w;
    /* the fallback warnings are kept by backend index, which the removal shifted: each may be said again */
    if (w != n_before)
        for (int k = 0; k < rt->n_ops; k++)
            rt->ops[k]->warned_fallback = 0;
    rt->kernel_gen++;
}

/* ---- public listing ---------------------------------------------------- */

int strata_registry_count(const strata_runtime *rt, strata_registry_kind kind)
{
    if (!rt)
        return 0;
    switch (kind) {
    case STRATA_REGISTRY_OP:
        return rt->n_ops;
    case STRATA_REGISTRY_LAYER:
        return rt->n_layers;
    case STRATA_REGISTRY_OPTIMIZER:
        return rt->n_optims;
    }
    return 0;
}

strata_status strata_registry_get(const strata_runtime *rt, strata_registry_kind kind, int i, const char **name,
                                  int *version, const char **plugin, const char **kernels)
{
    int n = strata_registry_count(rt, kind);
    if (i < 0 || i >= n)
        return st_error(STRATA_E_INVALID, "strata_registry_get: index %d outside [0, %d)", i, n);
    const char *nm = NULL, *pl = NULL;
    int v = 1;
    if (kernels)
        *kernels = NULL;
    if (kind == STRATA_REGISTRY_OP) {
        st_op *op = rt->ops[i];
        nm = op->name;
        v = op->def.version;
        pl = op->plugin->name;
        if (kernels) {
            strata_runtime *mrt = (strata_runtime *)rt;
            size_t len = 16;
            for (int b = 0; b < rt->n_backends; b++)
                len += strlen(rt->backends[b]->name) + 1;
            char *buf = st_realloc(mrt->kernel_list_scratch, len);
            if (!buf)
                return st_error(STRATA_E_NOMEM,
                                "strata_registry_get: out of memory listing the kernels of %s (%zu bytes)", op->name,
                                len);
            buf[0] = '\0';
            for (int b = 0; b < rt->n_backends; b++) {
                if (st_find_kernel(mrt, op, b) ||
                    (op->def.host_kernel && rt->backends[b]->def.flags & STRATA_BACKEND_HOST_MEMORY)) {
                    if (buf[0])
                        strcat(buf, ",");
                    strcat(buf, rt->backends[b]->name);
                }
            }
            if (!buf[0] && (op->def.flags & STRATA_OP_VIEW))
                strcpy(buf, "(view)");
            else if (!buf[0] && op->def.composite)
                strcpy(buf, "(composite)");
            mrt->kernel_list_scratch = buf;
            *kernels = buf;
        }
    } else if (kind == STRATA_REGISTRY_LAYER) {
        nm = rt->layers[i]->name;
        pl = rt->layers[i]->plugin->name;
    } else {
        nm = rt->optims[i]->name;
        pl = rt->optims[i]->plugin->name;
    }
    if (name)
        *name = nm;
    if (version)
        *version = v;
    if (plugin)
        *plugin = pl;
    return STRATA_OK;
}

strata_status strata_registry_attrs(const strata_runtime *rt, strata_registry_kind kind, int i,
                                    const strata_attr_spec **attrs, int *n)
{
    const int count = strata_registry_count(rt, kind);
    if (i < 0 || i >= count || !attrs || !n)
        return st_error(STRATA_E_INVALID, "strata_registry_attrs: index %d outside [0, %d), or NULL out", i, count);
    if (kind == STRATA_REGISTRY_OP)
        *attrs = rt->ops[i]->own_attrs ? rt->ops[i]->def.attrs : NULL, *n = *attrs ? rt->ops[i]->def.n_attrs : 0;
    else if (kind == STRATA_REGISTRY_LAYER)
        *attrs = rt->layers[i]->def.attrs, *n = rt->layers[i]->def.n_attrs;
    else
        *attrs = rt->optims[i]->def.attrs, *n = rt->optims[i]->def.n_attrs;
    return STRATA_OK;
}

int strata_backend_count(const strata_runtime *rt)
{
    return rt ? rt->n_backends : 0;
}

strata_status strata_backend_get(const strata_runtime *rt, int i, strata_backend_record *out)
{
    if (!rt || !out || i < 0 || i >= rt->n_backends)
        return st_error(STRATA_E_INVALID, "strata_backend_get: index %d outside [0, %d)", i, rt ? rt->n_backends : 0);
    /* the 1.0 layout at least; fields added after it are to be written only when struct_size covers them */
    const size_t v10 = offsetof(strata_backend_record, unavailable) + sizeof out->unavailable;
    if (out->struct_size < v10)
        return st_error(STRATA_E_INVALID, "strata_backend_get: struct_size %zu is smaller than the 1.0 record's %zu",
                        out->struct_size, v10);
    st_backend *be = rt->backends[i];
    if (st_backend_devices(be) < 0)
        return STRATA_E_NOMEM;
    out->name = be->name;
    out->plugin = be->plugin->name;
    out->device_count = be->n_devices;
    out->priority = be->def.priority;
    const char *why = be->def.unavailable ? be->def.unavailable(be->def.self) : NULL;
    out->unavailable = be->n_devices ? "" : (why ? why : "no device found");
    return STRATA_OK;
}

const char *strata_backend_device_name(const strata_runtime *rt, int backend, int dev)
{
    if (!rt || backend < 0 || backend >= rt->n_backends)
        return "";
    st_backend *be = rt->backends[backend];
    if (dev < 0 || dev >= st_backend_devices(be))
        return "";
    const char *n = be->def.device_name ? be->def.device_name(be->def.self, dev) : NULL;
    return n ? n : be->devices[dev]->name;
}
