/*
 * gan_plugin.c - the gan plugin's entry point: generative adversarial
 * networks for Strata, registered through the host table the way a third
 * party's plugin would be (docs/gan.md).
 *
 * Ops (domain gan::, version 1):
 *   d_loss, g_loss   the discriminator's and generator's losses, kind minimax |
 *                    non_saturating | least_squares | hinge | wasserstein
 *                    (composites of core ops; wgan_gp is refused: its penalty
 *                    needs double backward)
 *   ema_update       in place ema = decay ema + (1 - decay) param (host kernel)
 * Layers: unflatten (the DCGAN generator's reshape block), sn_linear and
 * sn_conv2d (spectral normalisation, Miyato et al. 2018).
 */
#include "gan_internal.h"

static strata_status gan_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || host->struct_size < sizeof(strata_host_api))
        return STRATA_E_ABI; /* every entry used here exists since 1.0 */
    strata_status rc = gan_register_losses(host, plugin);
    if (!rc)
        rc = gan_register_ema(host, plugin);
    if (!rc)
        rc = gan_register_unflatten(host, plugin);
    if (!rc)
        rc = gan_register_spectral_norm(host, plugin);
    return rc;
}

STRATA_PLUGIN_DEFINE("gan", "1.0.0",
                     "generative adversarial networks: GAN losses, spectral normalisation, unflatten, weight EMA",
                     gan_init, NULL)
