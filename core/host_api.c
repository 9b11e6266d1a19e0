/* host_api.c - the function table handed to every plugin's init. */
#include <stdio.h>

#include "internal.h"

static strata_status host_set_error(strata_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_verror(s, fmt, ap);
    va_end(ap);
    return s;
}

static void host_log(strata_runtime *rt, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st_log(rt, level, "%s", msg);
}

static st_plugin *plugin_of(strata_plugin *h)
{
    return h ? h->rt->plugins[h->index] : NULL;
}

static strata_runtime *host_plugin_runtime(strata_plugin *h)
{
    return h ? h->rt : NULL;
}

#define NEED_PLUGIN(h)                                                                                         \
    do {                                                                                                       \
        if (!(h))                                                                                              \
            return st_error(STRATA_E_INVALID, "registration with a NULL plugin handle");                       \
    } while (0)

/* Notes a refused registration of a plugin whose init is running. */
static strata_status noted(strata_plugin *h, strata_status rc)
{
    st_plugin *p = plugin_of(h);
    if (rc != STRATA_OK && p->in_init && !p->refused++)
        snprintf(p->refusal, sizeof p->refusal, "%s", strata_last_error());
    if (rc == STRATA_E_NOMEM && p->in_init)
        p->out_of_memory = 1;
    return rc;
}

static strata_status host_register_op(strata_plugin *h, const strata_op_def *def)
{
    NEED_PLUGIN(h);
    return noted(h, st_register_op(plugin_of(h), def));
}
static strata_status host_register_kernel(strata_plugin *h, const char *backend, const char *op, int32_t version,
                                          strata_kernel_fn fn, void *user)
{
    NEED_PLUGIN(h);
    return noted(h, st_register_kernel(plugin_of(h), backend, op, version, fn, user));
}
static strata_status host_register_layer(strata_plugin *h, const strata_layer_type *t)
{
    NEED_PLUGIN(h);
    return noted(h, st_register_layer(plugin_of(h), t));
}
static strata_status host_register_optimizer(strata_plugin *h, const strata_optimizer_type *t)
{
    NEED_PLUGIN(h);
    return noted(h, st_register_optimizer(plugin_of(h), t));
}
static strata_status host_register_backend(strata_plugin *h, const strata_backend_def *def)
{
    NEED_PLUGIN(h);
    return noted(h, st_register_backend(plugin_of(h), def));
}

static strata_runtime *host_tensor_runtime(const strata_tensor *t)
{
    return t ? t->rt : NULL;
}

static strata_status host_tensor_desc(const strata_tensor *t, strata_tensor_desc *out)
{
    if (!t || !out)
        return st_error(STRATA_E_INVALID, "tensor_desc: NULL argument");
    st_tensor_fill_desc(t, out);
    return STRATA_OK;
}

const strata_host_api st_host_api = {
    .struct_size = sizeof(strata_host_api),
    .abi_major = STRATA_ABI_MAJOR,
    .abi_minor = STRATA_ABI_MINOR,
    .set_error = host_set_error,
    .log = host_log,
    .plugin_runtime = host_plugin_runtime,
    .register_op = host_register_op,
    .register_kernel = host_register_kernel,
    .register_layer = host_register_layer,
    .register_optimizer = host_register_optimizer,
    .register_backend = host_register_backend,
    .op_call = strata_op_call,
    .op_invoke = strata_op_invoke,
    .op_create = strata_op_create,
    .grad_enabled = strata_grad_enabled,
    .set_grad_enabled = strata_set_grad_enabled,
    .tensor_zeros = strata_tensor_zeros,
    .tensor_from_host = strata_tensor_from_host,
    .tensor_retain = strata_tensor_retain,
    .tensor_release = strata_tensor_release,
    .tensor_ndim = strata_tensor_ndim,
    .tensor_shape = strata_tensor_shape,
    .tensor_numel = strata_tensor_numel,
    .tensor_dtype = strata_tensor_dtype,
    .tensor_device = strata_tensor_device,
    .tensor_runtime = host_tensor_runtime,
    .tensor_read = strata_tensor_read,
    .tensor_write = strata_tensor_write,
    .tensor_desc = host_tensor_desc,
    .layer_add_param = st_layer_add_param,
    .layer_add_buffer = st_layer_add_buffer,
    .layer_device = st_layer_device,
    .layer_name = st_layer_name,
    .init_uniform = st_init_uniform,
    .init_normal = st_init_normal,
};
