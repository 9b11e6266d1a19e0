/*
 * conv_plugin.c - the conv plugin's entry point: ConvNets for Strata
 * (convolutions, pooling, batch normalisation, channel dropout), registered
 * through the host table the way a third party's plugin would be.
 *
 * Ops (domain conv::, version 1; docs/conv.md): conv2d with
 * conv2d_backward_data and conv2d_backward_weight, conv1d (a composite over
 * conv2d), conv_transpose2d, max_pool2d(_backward), avg_pool2d(_backward),
 * global_avg_pool2d, batch_norm with batch_norm_backward and
 * batch_norm_update_stats, dropout2d. Layers: conv1d, conv2d,
 * conv_transpose2d, max_pool2d, avg_pool2d, global_avg_pool2d, batch_norm1d,
 * batch_norm2d, dropout2d.
 */
#include "conv_internal.h"

static strata_status conv_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || host->struct_size < sizeof(strata_host_api))
        return STRATA_E_ABI; /* every entry used here exists since 1.0 */
    strata_status (*regs[])(const strata_host_api *, strata_plugin *) = {
        conv_register_conv2d,     conv_register_conv_transpose2d, conv_register_conv1d, conv_register_pool,
        conv_register_batch_norm, conv_register_dropout2d,        conv_register_layers,
    };
    for (size_t k = 0; k < sizeof regs / sizeof regs[0]; k++) {
        strata_status rc = regs[k](host, plugin);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("conv", "1.0.0", "ConvNets: convolution, pooling, batch norm and channel dropout ops and layers",
                     conv_init, NULL)
