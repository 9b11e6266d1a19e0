/* runtime.c - runtime lifetime, devices, random state, versions. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "typo.h"

#define ST_DEFAULT_SEED 0x5eedULL

void strata_abi_version(uint32_t *major, uint32_t *minor)
{
    if (major)
        *major = STRATA_ABI_MAJOR;
    if (minor)
        *minor = STRATA_ABI_MINOR;
}

const char *strata_version_string(void)
{
    return STRATA_VERSION_STRING;
}

static strata_status register_builtins(strata_runtime *rt)
{
    st_plugin *p = st_plugin_new(rt, "core", "", "builtin");
    if (!p)
        return STRATA_E_NOMEM;
    free(p->version);
    if (!(p->version = st_strdup(STRATA_VERSION_STRING)))
        return STRATA_E_NOMEM;
    p->abi_major = STRATA_ABI_MAJOR;
    p->abi_minor = STRATA_ABI_MINOR;
    p->loaded = 1;
    rt->builtin = p;
    strata_status rc = st_register_core_ops(p);
    if (!rc)
        rc = st_register_core_layers(p);
    if (!rc)
        rc = st_register_core_optimizers(p);
    return rc;
}

strata_status strata_runtime_create(const strata_runtime_options *opts, strata_runtime **out)
{
    if (!out)
        return st_error(STRATA_E_INVALID, "strata_runtime_create: out must not be NULL");
    strata_runtime_options o = {0};
    if (opts) {
        if (opts->struct_size < offsetof(strata_runtime_options, seed) + sizeof(opts->seed))
            return st_error(STRATA_E_INVALID, "strata_runtime_create: options struct_size %zu is too small",
                            opts->struct_size);
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    }
    strata_runtime *rt = st_calloc(1, sizeof *rt);
    if (!rt)
        return STRATA_E_NOMEM;
    rt->rng_seed = o.seed ? o.seed : ST_DEFAULT_SEED;
    rt->grad_enabled = 1;
    rt->host_cache = st_host_cache_new();
    rt->strict = st_env_flag("STRATA_STRICT", 0);
    rt->detect_anomaly = st_env_flag("STRATA_DETECT_ANOMALY", 0);
    rt->graph = st_graph_new(rt);
    strata_status rc = rt->graph ? register_builtins(rt) : STRATA_E_NOMEM;
    if (rc) {
        strata_runtime_destroy(rt);
        return st_error_context(rc, "registering the built-in ops");
    }
    if (!(o.flags & STRATA_RUNTIME_NO_DISCOVERY) && (rc = st_plugin_discover(rt, o.plugin_path)) != STRATA_OK) {
        strata_runtime_destroy(rt); /* out of memory: going on without a plugin would fail later, misleadingly */
        return st_error_context(rc, "loading plugins");
    }
    *out = rt;
    return STRATA_OK;
}

void strata_runtime_destroy(strata_runtime *rt)
{
    if (!rt)
        return;
    st_graph_free(rt->graph);
    const long live = __atomic_load_n(&rt->live_storages, __ATOMIC_RELAXED);
    if (live > 0) /* their devices go with the plugins: releasing them later would touch freed memory */
        st_log(rt, STRATA_LOG_WARN,
               "strata_runtime_destroy: %ld tensor storage(s) still alive; release the tensors and destroy the "
               "models, optimizers and data loaders made from this runtime first (their memory is not returned)",
               live);
    /* unload in reverse order of loading */
    for (int k = rt->n_plugins - 1; k >= 0; k--) {
        st_plugin *p = rt->plugins[k];
        if (p->loaded && p->desc && p->desc->shutdown)
            p->desc->shutdown(p->user);
        st_unregister_plugin(rt, p);
        /* STRATA_NO_DLCLOSE=1 keeps plugins mapped so leak checkers can
         * symbolise their frames. */
        if (p->dl && !st_env_flag("STRATA_NO_DLCLOSE", 0))
            dlclose(p->dl);
        free(p->name);
        free(p->path);
        free(p->version);
        free(p->reason);
        free(p->origin);
        free(p);
    }
    free(rt->plugins);
    free(rt->ops);
    free(rt->kernels);
    free(rt->layers);
    free(rt->optims);
    free(rt->backends);
    free(rt->kernel_list_scratch);
    st_host_cache_free(rt->host_cache);
    free(rt);
}

/* ---- devices ----------------------------------------------------------- */

/* The first device of the highest-priority backend that has one (the first
 * registered among equals). Backends are asked for their devices in
 * priority order, so one below the winner is never probed. */
static strata_status best_device(strata_runtime *rt, strata_device **out)
{
    int64_t done_above = INT64_MAX; /* the backends above this priority were asked */
    for (;;) {
        st_backend *next = NULL;
        for (int k = 0; k < rt->n_backends; k++) {
            st_backend *be = rt->backends[k];
            if (be->def.priority < done_above && (!next || be->def.priority > next->def.priority))
                next = be;
        }
        if (!next)
            break;
        for (int k = 0; k < rt->n_backends; k++) {
            st_backend *be = rt->backends[k];
            if (be->def.priority != next->def.priority)
                continue;
            int n = st_backend_devices(be);
            if (n < 0)
                return STRATA_E_NOMEM;
            if (n) {
                *out = be->devices[0];
                return STRATA_OK;
            }
        }
        done_above = next->def.priority;
    }
    return st_error(STRATA_E_NOT_FOUND, "no backend with a device is loaded (see `strata info`)");
}

strata_status strata_device_get(strata_runtime *rt, const char *backend, int index, strata_device **out)
{
    if (!rt || !out)
        return st_error(STRATA_E_INVALID, "strata_device_get: NULL argument");
    const char *from_env = "";
    if (!backend || !*backend) {
        const char *env = getenv("STRATA_BACKEND");
        if (env && *env)
            backend = env, from_env = " (from STRATA_BACKEND)";
    }
    if (!backend || !*backend) {
        strata_device *d = NULL;
        strata_status rc = best_device(rt, &d);
        if (rc)
            return rc;
        backend = d->be->name; /* then device @p index of it, as for a named backend */
    }
    /* "opencl:1", a device as `strata info` names it: backend opencl, device 1 */
    size_t name_len = strlen(backend);
    const char *colon = strrchr(backend, ':');
    if (colon && colon > backend && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
        strlen(colon + 1) <= 6) {
        const int n = atoi(colon + 1);
        if (index != 0 && index != n)
            return st_error(STRATA_E_INVALID, "strata_device_get: '%s' names device %d and index asks for device %d",
                            backend, n, index);
        name_len = (size_t)(colon - backend);
        index = n;
    }
    char avail[512] = "";
    for (int k = 0; k < rt->n_backends; k++) {
        st_backend *be = rt->backends[k];
        if (strlen(be->name) == name_len && !strncmp(be->name, backend, name_len)) {
            if (st_backend_devices(be) < 0)
                return STRATA_E_NOMEM;
            if (index < 0 || index >= be->n_devices) {
                const char *why = be->def.unavailable ? be->def.unavailable(be->def.self) : NULL;
                return st_error(STRATA_E_NOT_FOUND, "backend '%s' has %d device(s); device %d does not exist%s%s",
                                be->name, be->n_devices, index, why ? ": " : "", why ? why : "");
            }
            *out = be->devices[index];
            return STRATA_OK;
        }
        size_t len = strlen(avail);
        snprintf(avail + len, sizeof avail - len, "%s%s", len ? ", " : "", be->name);
    }
    /* "opencl:-1", "cpu:0:0": a loaded backend with a suffix that is no device index */
    const char *first = strchr(backend, ':');
    for (int k = 0; first && k < rt->n_backends; k++)
        if (strlen(rt->backends[k]->name) == (size_t)(first - backend) &&
            !strncmp(rt->backends[k]->name, backend, (size_t)(first - backend)))
            return st_error(STRATA_E_NOT_FOUND,
                            "'%s'%s is not a device: a backend's devices are NAME:N with N a whole number from 0 "
                            "(%s:0 is its first; `strata info` lists them)",
                            backend, from_env, rt->backends[k]->name);
    const char *names[64]; /* "cpuu": did you mean 'cpu'? */
    int n_names = 0;
    for (int k = 0; k < rt->n_backends && n_names < 64; k++)
        names[n_names++] = rt->backends[k]->name;
    const char *hint = NULL; /* "CPU": the name in another case; "gpu": PyTorch's word for cuda */
    for (int k = 0; k < n_names && !hint; k++)
        if (!strcasecmp(backend, names[k]) || (!strcasecmp(backend, "gpu") && !strcmp(names[k], "cuda")))
            hint = names[k];
    if (!hint)
        hint = st_typo_closest(backend, names, n_names);
    return st_error(STRATA_E_NOT_FOUND, "backend '%s'%s is not loaded%s%s%s (available: %s)", backend, from_env,
                    hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "", avail[0] ? avail : "none");
}

const char *strata_device_name(const strata_device *dev)
{
    return dev ? dev->name : "";
}

const char *strata_device_backend(const strata_device *dev)
{
    return dev ? dev->be->name : "";
}

strata_status strata_device_synchronize(strata_device *dev)
{
    if (!dev)
        return st_error(STRATA_E_INVALID, "strata_device_synchronize: NULL device");
    if (dev->be->def.synchronize)
        return dev->be->def.synchronize(dev->be->def.self, dev->index);
    return STRATA_OK;
}

/* ---- random state ------------------------------------------------------ */

void strata_runtime_seed(strata_runtime *rt, uint64_t seed)
{
    if (!rt)
        return;
    rt->rng_seed = seed;
    rt->rng_offset = 0;
}

void strata_runtime_rng_state(const strata_runtime *rt, uint64_t *seed, uint64_t *offset)
{
    if (seed)
        *seed = rt ? rt->rng_seed : 0;
    if (offset)
        *offset = rt ? rt->rng_offset : 0;
}

void strata_runtime_set_rng_state(strata_runtime *rt, uint64_t seed, uint64_t offset)
{
    if (!rt)
        return;
    rt->rng_seed = seed;
    rt->rng_offset = offset;
}

/* ---- grad mode --------------------------------------------------------- */

int strata_set_grad_enabled(strata_runtime *rt, int enabled)
{
    if (!rt)
        return 0;
    int prev = rt->grad_enabled;
    rt->grad_enabled = enabled ? 1 : 0;
    return prev;
}

int strata_grad_enabled(const strata_runtime *rt)
{
    return rt ? rt->grad_enabled : 0;
}

strata_graph *strata_runtime_graph(strata_runtime *rt)
{
    return rt ? rt->graph : NULL;
}
