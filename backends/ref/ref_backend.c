/*
 * ref_backend.c - the ref backend's entry point: registers the backend
 * ("ref", one host device) and a kernel for every core op that has one.
 *
 * The views (reshape, permute, slice, expand) run no kernel, and split and
 * mse are composites of other ops, so those six are not registered here.
 */
#include <pthread.h>
#include <stddef.h>

#include "ref_internal.h"

/* The only static state: whether the first ref_init has run (it gives
 * kcall.c the host table, kc_init). */
static int ref_initialised;
static pthread_mutex_t ref_init_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct ref_kernel_entry {
    const char *op;
    strata_kernel_fn fn;
} ref_kernel_entry;

static const ref_kernel_entry ref_kernels[] = {
    /* elementwise */
    {"core::add", ref_add},
    {"core::sub", ref_sub},
    {"core::mul", ref_mul},
    {"core::div", ref_div},
    {"core::neg", ref_neg},
    {"core::exp", ref_exp},
    {"core::log", ref_log},
    {"core::sqrt", ref_sqrt},
    {"core::abs", ref_abs},
    {"core::relu", ref_relu},
    {"core::leaky_relu", ref_leaky_relu},
    {"core::sigmoid", ref_sigmoid},
    {"core::tanh", ref_tanh},
    {"core::gelu", ref_gelu},
    {"core::pow", ref_pow},
    {"core::scale", ref_scale},
    {"core::cast", ref_cast},
    {"core::eltwise_backward", ref_eltwise_backward},
    /* linear algebra */
    {"core::matmul", ref_matmul},
    {"core::linear", ref_linear},
    /* reductions */
    {"core::sum", ref_sum},
    {"core::mean", ref_mean},
    {"core::max", ref_max},
    {"core::argmax", ref_argmax},
    {"core::max_backward", ref_max_backward},
    {"core::sum_to_shape", ref_sum_to_shape},
    /* normalisation and losses */
    {"core::softmax", ref_softmax},
    {"core::log_softmax", ref_log_softmax},
    {"core::softmax_backward", ref_softmax_backward},
    {"core::log_softmax_backward", ref_log_softmax_backward},
    {"core::cross_entropy", ref_cross_entropy},
    {"core::cross_entropy_backward", ref_cross_entropy_backward},
    {"core::bce_with_logits", ref_bce_with_logits},
    {"core::bce_with_logits_backward", ref_bce_with_logits_backward},
    /* shapes */
    {"core::copy", ref_copy},
    {"core::concat", ref_concat},
    {"core::slice_backward", ref_slice_backward},
    /* indexing */
    {"core::embedding", ref_embedding},
    {"core::embedding_backward", ref_embedding_backward},
    {"core::gather", ref_gather},
    {"core::gather_backward", ref_gather_backward},
    {"core::one_hot", ref_one_hot},
    /* random and creation */
    {"core::fill", ref_fill},
    {"core::uniform", ref_uniform},
    {"core::normal", ref_normal},
    {"core::dropout", ref_dropout},
    /* optimizer updates */
    {"core::sgd_step", ref_sgd_step},
    {"core::adam_step", ref_adam_step},
    {"core::rmsprop_step", ref_rmsprop_step},
    {"core::adagrad_step", ref_adagrad_step},
};

static int ref_device_count(void *self)
{
    (void)self;
    return 1;
}

static const char *ref_device_name(void *self, int dev)
{
    (void)self;
    (void)dev;
    return "host (plain C reference)";
}

static strata_status ref_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || !host->register_backend || !host->register_kernel)
        return STRATA_E_ABI;
    /* Process-wide and the same for every runtime: set once, under a lock,
     * as runtimes on other threads may load the plugin at the same time. */
    pthread_mutex_lock(&ref_init_lock);
    if (!ref_initialised) {
        kc_init(host, "ref");
        ref_initialised = 1;
    }
    pthread_mutex_unlock(&ref_init_lock);

    /* alloc/free/copies stay NULL: the core manages host memory itself. */
    strata_backend_def def = {0};
    def.struct_size = sizeof def;
    def.name = "ref";
    def.priority = 0;
    def.flags = STRATA_BACKEND_HOST_MEMORY;
    def.device_count = ref_device_count;
    def.device_name = ref_device_name;

    strata_status s = host->register_backend(plugin, &def);
    if (s != STRATA_OK)
        return s;
    for (size_t k = 0; k < sizeof ref_kernels / sizeof ref_kernels[0]; k++) {
        s = host->register_kernel(plugin, "ref", ref_kernels[k].op, 1, ref_kernels[k].fn, NULL);
        if (s != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("ref", "1.0.0", "reference backend: plain C, double accumulation", ref_init, NULL)
