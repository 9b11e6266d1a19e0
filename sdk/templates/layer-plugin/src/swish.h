/* swish.h - private declarations of the swish template plugin. Nothing here
 * crosses the plugin boundary: the core sees only what plugin.c registers. */
#ifndef SWISH_H
#define SWISH_H

#include <strata/strata_plugin.h>

/* The op's name and version. Ops are "domain::name"; pick a domain of your
 * own (your project's name) so yours never collide with anyone else's. */
#define SWISH_OP "swish::swish"
#define SWISH_OP_VERSION 1

/* Registers the fused op swish::swish (swish_op.c). */
strata_status swish_register_op(const strata_host_api *host, strata_plugin *plugin);

/* Registers the layer type "swish" (swish_layer.c). */
strata_status swish_register_layer(const strata_host_api *host, strata_plugin *plugin);

#endif /* SWISH_H */
