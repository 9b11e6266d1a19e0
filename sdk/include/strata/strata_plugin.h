/*
 * strata_plugin.h - the ABI for layer, op and optimizer plugins.
 *
 * A plugin is a shared object with exactly one exported symbol,
 * strata_plugin_entry (use STRATA_PLUGIN_DEFINE). The core calls it, checks
 * the ABI version in the descriptor it returns, then calls desc->init with
 * the core's services as a function table (strata_host_api). A plugin never
 * links against libstrata and never needs symbols from the executable: it
 * reaches the core only through that table.
 *
 * Rules a plugin follows:
 *  - Set struct_size in every struct it hands over; the core reads only the
 *    fields both sides know.
 *  - Register everything from init through the host table. Registration is
 *    explicit; duplicates are refused with a message.
 *  - Report errors with host->set_error(), return the status; never exit().
 *  - If init fails, the core unregisters what the plugin registered and
 *    unloads it; the runtime keeps working.
 */
#ifndef STRATA_PLUGIN_H
#define STRATA_PLUGIN_H

#include "strata_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_host_api strata_host_api;
typedef struct strata_backend_def strata_backend_def; /* strata_backend.h */

/* ======================================================================= */
/* Ops                                                                     */
/* ======================================================================= */

/** Flags of strata_op_def.flags. */
enum {
    /** Kernels accept strided inputs (no contiguous copies are made). */
    STRATA_OP_STRIDED = 1u << 0,
    /** Not differentiable (argmax, one_hot, comparisons): never recorded. */
    STRATA_OP_NO_GRAD = 1u << 1,
    /** Random: the core adds int attrs "seed" and "offset" from the
     *  runtime's Philox generator unless the caller gave them. */
    STRATA_OP_RANDOM = 1u << 2,
    /** Output 0 is a view of input 0 (reshape, permute, slice, expand):
     *  infer fills outputs[0].strides and byte_offset; no kernel runs. */
    STRATA_OP_VIEW = 1u << 3,
    /** In place: a caller may provide outputs that are its inputs (an
     *  optimizer step's parameter, running statistics), and the kernels are
     *  given them as they are, so each must read an element before it writes
     *  it. For other ops, a provided output sharing storage with an input is
     *  written through a fresh tensor and copied over. @since 1.1 */
    STRATA_OP_INPLACE = 1u << 4,
    /** Takes f16 and bf16 inputs (core::cast, the views and core::copy).
     *  The core refuses an input of either storage dtype to every op
     *  without this flag, before its infer runs, so kernels written for f32
     *  never see one. @since 1.3 */
    STRATA_OP_HALF = 1u << 5
};

/** Shape inference: fill outputs[i].dtype, ndim and shape from the inputs'
 *  dtype/ndim/shape and the attrs. @since 1.0 */
typedef struct strata_infer_call {
    size_t struct_size;
    const char *op;
    const strata_tensor_desc *inputs;
    int32_t n_inputs;
    const strata_attr *attrs;
    int32_t n_attrs;
    strata_tensor_desc *outputs;
    int32_t n_outputs;
    void *user; /* strata_op_def.user */
} strata_infer_call;

/** A kernel invocation. Outputs are allocated (uninitialised) and
 *  contiguous; inputs are contiguous unless the op is STRATA_OP_STRIDED.
 *  Outputs alias inputs only for ops flagged STRATA_OP_INPLACE. @since 1.0 */
typedef struct strata_kernel_call {
    size_t struct_size;
    const char *op;
    void *backend_self; /* strata_backend_def.self of the running backend */
    int32_t device;
    void *user;         /* register_kernel's user; for a host_kernel, strata_op_def.user */
    const strata_tensor_desc *inputs;
    int32_t n_inputs;
    const strata_tensor_desc *outputs;
    int32_t n_outputs;
    const strata_attr *attrs;
    int32_t n_attrs;
} strata_kernel_call;

typedef strata_status (*strata_kernel_fn)(const strata_kernel_call *call);

/**
 * Backward of one recorded op call. grad_outputs[i] may be NULL (that output
 * did not reach the loss: treat as zero). For each i with needs_grad[i] set,
 * store a NEW tensor reference of inputs[i]'s shape in grad_inputs[i] (or
 * leave it NULL for "zero"). Compute it with ops (host->op_call): then it
 * runs on every backend. Backward runs with recording disabled.
 * @since 1.0
 */
typedef struct strata_backward_call {
    size_t struct_size;
    const strata_host_api *host;
    strata_runtime *rt;
    const char *op;
    strata_tensor *const *inputs;
    int32_t n_inputs;
    strata_tensor *const *outputs;
    int32_t n_outputs;
    strata_tensor *const *grad_outputs;
    const int32_t *needs_grad;
    strata_tensor **grad_inputs;
    const strata_attr *attrs;
    int32_t n_attrs;
    void *user;
} strata_backward_call;

/** Composite definition: compute outputs (new references) from inputs with
 *  other ops. Runs with recording as the caller has it, so an op with a
 *  composite and no backward gets its gradient from the inner ops (while the
 *  graph records, the core then runs the composite even where a kernel
 *  exists). Never used for a call with provided outputs. @since 1.0 */
typedef struct strata_composite_call {
    size_t struct_size;
    const strata_host_api *host;
    strata_runtime *rt;
    const char *op;
    strata_tensor *const *inputs;
    int32_t n_inputs;
    const strata_attr *attrs;
    int32_t n_attrs;
    strata_tensor **outputs;
    int32_t n_outputs;
    void *user;
} strata_composite_call;

/**
 * An op definition. Ops are named "domain::name" with an integer version;
 * a (name, version) pair is registered once. An op needs infer, plus at
 * least one of: kernels registered for backends, host_kernel, composite.
 * @since 1.0
 */
typedef struct strata_op_def {
    size_t struct_size;
    void *ext;
    const char *name;
    int32_t version;
    int32_t min_inputs;
    int32_t max_inputs; /* -1 = any number */
    int32_t n_outputs;  /* -1 = the caller decides (split) */
    uint32_t flags;
    strata_status (*infer)(const strata_infer_call *call);
    /** NULL with a composite: gradients flow through the composite's ops.
     *  NULL otherwise: not differentiable. */
    strata_status (*backward)(const strata_backward_call *call);
    strata_status (*composite)(const strata_composite_call *call);
    /** Plain-C implementation over host memory; used by any host-memory
     *  backend without its own kernel, and by the host fallback. */
    strata_kernel_fn host_kernel;
    void *user;
    const char *doc; /* one line */
    /** The inputs (bit k: input k; bit 31: input 31 and every later one)
     *  and outputs whose values the backward never reads (shapes aside). The core refuses a backward when any other
     *  input or output of the recorded call was written in place after the
     *  forward (strata_tensor_write, an op into a provided output): set the
     *  bits of what the backward does not read so that changing it is
     *  allowed, as batch norm's running statistics are. Ops of plugins built
     *  against an older layout are not checked. @since 1.2 */
    uint32_t backward_unread_inputs;
    uint32_t backward_unread_outputs;
    /** The attributes the op takes, by name and kind (at most
     *  STRATA_OP_MAX_ATTRS): the core refuses a call that gives one not
     *  listed, one of another kind (an integer serves for a number, a whole
     *  number for an integer, one value for a list of them: the kernel then
     *  gets the single value, kind INT or FLOAT, as the call gave it) or
     *  none of one marked required, naming the op
     *  and the attribute, where a kernel would have read its default and
     *  given a wrong result without a word. `dflt_*` and `doc` describe the
     *  op's own defaults; the core applies none. NULL: not checked (ops of
     *  plugins built against an older layout too); an op that takes no
     *  attribute points at any entry with @c n_attrs 0. A schema with an
     *  unnamed, repeated or unknown-kind entry fails the registration.
     *  @since 1.4 */
    const struct strata_attr_spec *attrs;
    int32_t n_attrs;
} strata_op_def;

/** The most attributes strata_op_def.attrs may list. @since 1.4 */
#define STRATA_OP_MAX_ATTRS 16

/* ======================================================================= */
/* Layers                                                                  */
/* ======================================================================= */

/** One entry of an attribute schema (layers, optimizers). The core checks
 *  a spec against it: unknown keys and missing required ones are errors;
 *  defaults are applied and reported. @since 1.0 */
typedef struct strata_attr_spec {
    size_t struct_size;
    const char *name;
    int32_t kind;     /* strata_attr_kind */
    int32_t required; /* 1: no default */
    int64_t dflt_i;
    double dflt_f;
    const char *dflt_s; /* a string's default; of a list (ints, floats), which is given empty, the value the layer
                         * applies then, as the defaults record shows it ("1", "(the kernel size)"); NULL: "[]" */
    const char *doc;
} strata_attr_spec;

/** Context of strata_layer_type.create. The layer's inputs are described
 *  per example (no batch dimension). Fill outputs[i] dtype/ndim/shape the
 *  same way; an output left as it comes is f32 of rank 0 (one value per
 *  example, as a loss layer's; ABI 1.0 behaviour, which layers rely on), so
 *  one forgotten shows up at the next layer or the first forward. Create parameters with host->layer_add_param. attrs holds the
 *  schema's attributes with defaults applied. @since 1.0 */
typedef struct strata_layer_create_call {
    size_t struct_size;
    const strata_host_api *host;
    strata_runtime *rt;
    strata_layer *layer;
    const strata_attr *attrs;
    int32_t n_attrs;
    const strata_tensor_desc *inputs;
    int32_t n_inputs;
    strata_tensor_desc *outputs;
    int32_t n_outputs;
    void *user;
    void **state; /* out: the layer's private state, passed back later */
} strata_layer_create_call;

/** A forward pass: inputs carry the batch dimension; store new references
 *  in outputs. Build the computation from ops so autograd records it.
 *  @since 1.0 */
typedef struct strata_layer_forward_call {
    size_t struct_size;
    const strata_host_api *host;
    strata_runtime *rt;
    strata_layer *layer;
    void *state;
    strata_tensor *const *inputs;
    int32_t n_inputs;
    strata_tensor **outputs;
    int32_t n_outputs;
    int32_t training;
    void *user;
} strata_layer_forward_call;

/** A layer type ("linear", "conv2d"). @since 1.0 */
typedef struct strata_layer_type {
    size_t struct_size;
    void *ext;
    const char *name;
    const strata_attr_spec *attrs;
    int32_t n_attrs;
    int32_t min_inputs;
    int32_t max_inputs;
    int32_t n_outputs;
    strata_status (*create)(const strata_layer_create_call *call);
    strata_status (*forward)(const strata_layer_forward_call *call);
    void (*destroy)(void *state, void *user);
    void *user;
    const char *doc;
} strata_layer_type;

/* ======================================================================= */
/* Optimizers                                                              */
/* ======================================================================= */

/** One update of one parameter. slots are the per-parameter state tensors
 *  named by the type (zero-filled before the first step). attrs are the
 *  hyper-parameters with defaults applied and the current "lr". step is
 *  1-based. Update param and slots in place, e.g. with an op invoked with
 *  STRATA_INVOKE_OUTPUTS_PROVIDED. @since 1.0 */
typedef struct strata_optimizer_step_call {
    size_t struct_size;
    const strata_host_api *host;
    strata_runtime *rt;
    strata_tensor *param;
    strata_tensor *grad;
    strata_tensor *const *slots;
    int32_t n_slots;
    const strata_attr *attrs;
    int32_t n_attrs;
    int64_t step;
    void *user;
} strata_optimizer_step_call;

/** An optimizer type ("sgd"). @since 1.0 */
typedef struct strata_optimizer_type {
    size_t struct_size;
    void *ext;
    const char *name;
    const strata_attr_spec *attrs;
    int32_t n_attrs;
    const char *const *slots; /* per-parameter state names, as PyTorch's ("momentum_buffer") */
    int32_t n_slots;
    strata_status (*step)(const strata_optimizer_step_call *call);
    void *user;
    const char *doc;
} strata_optimizer_type;

/* ======================================================================= */
/* The host's services                                                     */
/* ======================================================================= */

/** Log levels for host->log. */
enum { STRATA_LOG_ERROR = 0, STRATA_LOG_WARN = 1, STRATA_LOG_INFO = 2, STRATA_LOG_DEBUG = 3 };

/**
 * Function table the core hands to a plugin's init. Only grows at the end;
 * check struct_size before using a field added after 1.0.
 * @since 1.0
 */
struct strata_host_api {
    size_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /* errors and logging */
    strata_status (*set_error)(strata_status status, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
    void (*log)(strata_runtime *rt, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* registration; plugin is the handle passed to init */
    strata_runtime *(*plugin_runtime)(strata_plugin *plugin);
    strata_status (*register_op)(strata_plugin *plugin, const strata_op_def *def);
    strata_status (*register_kernel)(strata_plugin *plugin, const char *backend, const char *op, int32_t version,
                                     strata_kernel_fn fn, void *user);
    strata_status (*register_layer)(strata_plugin *plugin, const strata_layer_type *type);
    strata_status (*register_optimizer)(strata_plugin *plugin, const strata_optimizer_type *type);
    strata_status (*register_backend)(strata_plugin *plugin, const strata_backend_def *def);

    /* ops */
    strata_status (*op_call)(strata_runtime *rt, const char *op, strata_tensor *const *inputs, int n_inputs,
                             const strata_attr *attrs, int n_attrs, strata_tensor **outputs, int n_outputs);
    strata_status (*op_invoke)(strata_runtime *rt, const strata_op_invocation *inv);
    strata_status (*op_create)(strata_device *dev, const char *op, const strata_attr *attrs, int n_attrs,
                               strata_tensor **out);
    int (*grad_enabled)(const strata_runtime *rt);
    int (*set_grad_enabled)(strata_runtime *rt, int enabled);

    /* tensors */
    strata_status (*tensor_zeros)(strata_device *dev, strata_dtype dtype, int ndim, const int64_t *shape,
                                  strata_tensor **out);
    strata_status (*tensor_from_host)(strata_device *dev, strata_dtype dtype, int ndim, const int64_t *shape,
                                      const void *data, strata_tensor **out);
    strata_tensor *(*tensor_retain)(strata_tensor *t);
    void (*tensor_release)(strata_tensor *t);
    int (*tensor_ndim)(const strata_tensor *t);
    const int64_t *(*tensor_shape)(const strata_tensor *t);
    int64_t (*tensor_numel)(const strata_tensor *t);
    strata_dtype (*tensor_dtype)(const strata_tensor *t);
    strata_device *(*tensor_device)(const strata_tensor *t);
    strata_runtime *(*tensor_runtime)(const strata_tensor *t);
    strata_status (*tensor_read)(const strata_tensor *t, void *dst, size_t bytes);
    strata_status (*tensor_write)(strata_tensor *t, const void *src, size_t bytes);
    /** Kernel view of a tensor (storage handle, shape, strides). */
    strata_status (*tensor_desc)(const strata_tensor *t, strata_tensor_desc *out);

    /* layers */
    /** Creates a zero-filled trainable parameter named @p name of @p layer
     *  (the full name becomes "<layer>.<name>"). Borrowed result. */
    strata_status (*layer_add_param)(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                     const int64_t *shape, strata_tensor **out);
    /** Same for non-trainable state saved in checkpoints (running_mean). */
    strata_status (*layer_add_buffer)(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                      const int64_t *shape, strata_tensor **out);
    strata_device *(*layer_device)(const strata_layer *layer);
    const char *(*layer_name)(const strata_layer *layer);
    /** Fills @p t with U(low, high) / N(mean, std) from the runtime's generator. */
    strata_status (*init_uniform)(strata_tensor *t, double low, double high);
    strata_status (*init_normal)(strata_tensor *t, double mean, double std);
};

/* ======================================================================= */
/* The entry point                                                         */
/* ======================================================================= */

/** What strata_plugin_entry returns. Static storage; @since 1.0 */
typedef struct strata_plugin_desc {
    size_t struct_size;
    void *ext;
    uint32_t abi_major; /* STRATA_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;
    const char *name;
    const char *version;
    const char *description;
    /** Registers everything. @p plugin identifies this plugin in
     *  registration calls; @p user_out may receive private data. */
    strata_status (*init)(const strata_host_api *host, strata_plugin *plugin, void **user_out);
    /** Called before unload (may be NULL). */
    void (*shutdown)(void *user);
} strata_plugin_desc;

/** The one exported symbol's name and type. */
#define STRATA_PLUGIN_ENTRY_SYMBOL "strata_plugin_entry"
typedef const strata_plugin_desc *(*strata_plugin_entry_fn)(void);

/**
 * Defines the entry point. Use once per plugin:
 *   STRATA_PLUGIN_DEFINE("myplugin", "0.1", "what it adds", my_init, NULL)
 */
#define STRATA_PLUGIN_DEFINE(NAME, VERSION, DESCRIPTION, INIT, SHUTDOWN)                                        \
    STRATA_EXPORT const strata_plugin_desc *strata_plugin_entry(void);                                         \
    STRATA_EXPORT const strata_plugin_desc *strata_plugin_entry(void)                                          \
    {                                                                                                          \
        static const strata_plugin_desc desc = {sizeof(strata_plugin_desc), NULL, STRATA_ABI_MAJOR,           \
                                                STRATA_ABI_MINOR,          (NAME), (VERSION),                  \
                                                (DESCRIPTION),             (INIT), (SHUTDOWN)};                \
        return &desc;                                                                                          \
    }

#ifdef __cplusplus
}
#endif
#endif /* STRATA_PLUGIN_H */
