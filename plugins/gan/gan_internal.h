/*
 * gan_internal.h - private declarations of the gan plugin: the pieces of a
 * generative adversarial network (Goodfellow et al. 2014) that the core
 * lacks (docs/gan.md).
 *
 * The plugin is built only against the SDK headers. Every op registered
 * here carries the host table as its user pointer (strata_op_def.user), so
 * infer functions and host kernels reach host->set_error through
 * call->user.
 */
#ifndef STRATA_GAN_INTERNAL_H
#define STRATA_GAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "strata/strata_plugin.h"

/** The host table kept in every op's user pointer. */
static inline const strata_host_api *gan_host(void *user)
{
    return (const strata_host_api *)user;
}

/** out = op(in...), one output; *out is NULL on failure. */
static inline strata_status gan_op(const strata_host_api *h, strata_runtime *rt, const char *op,
                                   strata_tensor *const *in, int n_in, const strata_attr *attrs, int n_attrs,
                                   strata_tensor **out)
{
    *out = NULL;
    return h->op_call(rt, op, in, n_in, attrs, n_attrs, out, 1);
}

/** "(2, 3, 5)" (rank 1: "(5,)", rank 0: "()") into @p buf. */
const char *gan_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/** Product of @p ndim sizes (1 for rank 0); -1 when it does not fit int64_t, so that a wrapped product
 *  cannot pass for a matching element count. */
int64_t gan_numel(int ndim, const int64_t *shape);

/** "layer 'd1' (sn_linear)" into @p buf, for messages. */
const char *gan_layer_who(const strata_layer_create_call *c, const char *type, char *buf, size_t n);

strata_status gan_register_losses(const strata_host_api *h, strata_plugin *p);
strata_status gan_register_ema(const strata_host_api *h, strata_plugin *p);
strata_status gan_register_unflatten(const strata_host_api *h, strata_plugin *p);
strata_status gan_register_spectral_norm(const strata_host_api *h, strata_plugin *p);

#endif /* STRATA_GAN_INTERNAL_H */
