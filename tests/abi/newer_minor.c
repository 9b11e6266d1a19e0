/*
 * newer_minor.c - a plugin built for ABI 1.(N+1), one minor newer than the
 * core it is loaded into (test fixture for tests/abi/test_abi_compat.c).
 *
 * The next minor may add functions at the end of strata_host_api and fields
 * at the end of strata_plugin_desc. This fixture declares both as that minor
 * would, claims STRATA_ABI_MINOR + 1 in its descriptor, and in init uses the
 * newer host function only if the core says it has it (host->abi_minor and
 * host->struct_size); otherwise it registers the same op with the 1.0
 * functions. The core must load it, read only the descriptor fields it
 * knows, and tell it its own minor.
 *
 * newer_minor_report() (exported) says what init saw and which path it took.
 */
#include <stddef.h>
#include <stdint.h>

#include "strata/strata_plugin.h"

#define NEWER_MINOR (STRATA_ABI_MINOR + 1)

/* The host table as ABI 1.(N+1) declares it: the current one plus one function. */
typedef struct next_host_api {
    strata_host_api current;
    strata_status (*register_op_alias)(strata_plugin *plugin, const char *alias, const char *op);
} next_host_api;

/* The descriptor as ABI 1.(N+1) declares it: one field more. */
typedef struct next_plugin_desc {
    strata_plugin_desc current;
    const char *homepage;
} next_plugin_desc;

static uint32_t g_minor_seen = UINT32_MAX;
static size_t g_size_seen;
static int g_used_newer = -1;

STRATA_EXPORT void newer_minor_report(uint32_t *minor_seen, size_t *host_size_seen, int *used_newer);
STRATA_EXPORT void newer_minor_report(uint32_t *minor_seen, size_t *host_size_seen, int *used_newer)
{
    *minor_seen = g_minor_seen;
    *host_size_seen = g_size_seen;
    *used_newer = g_used_newer;
}

static strata_status triple_infer(const strata_infer_call *c)
{
    c->outputs[0] = c->inputs[0];
    c->outputs[0].struct_size = sizeof c->outputs[0];
    return STRATA_OK;
}

/* y = 3 x; x, y (n) f32. */
static strata_status triple_kernel(const strata_kernel_call *c)
{
    const float *x = (const float *)strata_desc_ptr(&c->inputs[0]);
    float *y = (float *)strata_desc_ptr(&c->outputs[0]);
    for (int64_t i = 0; i < strata_desc_numel(&c->inputs[0]); i++)
        y[i] = 3.0f * x[i];
    return STRATA_OK;
}

static strata_status newer_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    g_minor_seen = host->abi_minor;
    g_size_seen = host->struct_size;
    strata_op_def def = {0};
    def.struct_size = sizeof def;
    def.name = "fixture_newer::triple";
    def.version = 1;
    def.min_inputs = def.max_inputs = def.n_outputs = 1;
    def.flags = STRATA_OP_NO_GRAD;
    def.infer = triple_infer;
    def.host_kernel = triple_kernel;
    def.doc = "y = 3 x (test fixture)";
    strata_status rc = host->register_op(plugin, &def);
    if (rc != STRATA_OK)
        return rc;
    const size_t need = offsetof(next_host_api, register_op_alias) + sizeof(void *);
    if (host->abi_minor >= NEWER_MINOR && host->struct_size >= need) {
        g_used_newer = 1; /* a core of the next minor: the newer function exists */
        return ((const next_host_api *)host)->register_op_alias(plugin, "fixture_newer::thrice", def.name);
    }
    g_used_newer = 0; /* an older core: do without it */
    return STRATA_OK;
}

static const next_plugin_desc newer_desc = {
    {sizeof(next_plugin_desc), NULL, STRATA_ABI_MAJOR, NEWER_MINOR, "fixture_newer_minor", "0.1.0",
     "ABI test fixture: built for the next minor", newer_init, NULL},
    "https://example.invalid/newer-minor",
};

STRATA_EXPORT const strata_plugin_desc *strata_plugin_entry(void);
STRATA_EXPORT const strata_plugin_desc *strata_plugin_entry(void)
{
    return &newer_desc.current;
}
