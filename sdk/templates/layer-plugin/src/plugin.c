/*
 * plugin.c - the entry point of the swish plugin. The one exported symbol is
 * strata_plugin_entry (STRATA_PLUGIN_DEFINE); the core checks the ABI
 * version in its descriptor, then calls swish_init with its services.
 *
 * host->abi_minor is the minor the running core provides; it may be older
 * than the headers this was built with (STRATA_ABI_MINOR). A plugin that
 * uses a host function added after 1.0 checks first, e.g.
 *     if (host->abi_minor >= 1 && host->struct_size > offsetof(strata_host_api, new_fn)) ...
 * and does without it otherwise. This one needs only 1.0.
 */
#include "swish.h"

static strata_status swish_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out; /* no private state: it would be passed to shutdown */
    strata_status rc = swish_register_op(host, plugin);
    if (rc == STRATA_OK)
        rc = swish_register_layer(host, plugin);
    /* On failure the core unregisters what was registered and unloads us. */
    return rc;
}

STRATA_PLUGIN_DEFINE("swish", "1.0.0", "Swish activation: the layer 'swish' and the fused op swish::swish",
                     swish_init, NULL)
