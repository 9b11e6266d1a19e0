/*
 * memnet_plugin.c - the memnet plugin's entry point: end-to-end memory
 * networks for Strata, registered through the host table the way a third
 * party's plugin would be.
 *
 * Ops (domain memnet::, version 1; docs/memnet.md): encode (a sentence
 * embedding: the position-weighted or plain sum of a sentence's word
 * embeddings, plus a temporal embedding per memory slot) and its backward
 * encode_backward. Layer: memn2n (the whole K-hop network).
 */
#include "memnet_internal.h"

static strata_status memnet_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || host->struct_size < sizeof(strata_host_api))
        return STRATA_E_ABI; /* every entry used here exists since 1.0 */
    strata_status rc = memnet_register_encode(host, plugin);
    if (!rc)
        rc = memnet_register_layers(host, plugin);
    return rc;
}

STRATA_PLUGIN_DEFINE("memnet", "1.0.0", "end-to-end memory networks (MemN2N) for question answering", memnet_init,
                     NULL)
