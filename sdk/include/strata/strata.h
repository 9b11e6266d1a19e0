/*
 * strata.h - the application API of libstrata.
 *
 * Audience: programs that build, train and run models. Plugin authors read
 * strata_plugin.h, backend authors strata_backend.h.
 *
 * Conventions (they hold for every function below):
 *  - Every fallible call returns a strata_status. On failure a message that
 *    says what failed, where and with which values is kept per thread:
 *    strata_last_error(). Nothing here calls exit() or abort().
 *  - Output arguments come last and are written only on success.
 *  - Handles are opaque. destroy(NULL) and release(NULL) are no-ops.
 *  - A returned tensor is a new reference (release it) unless the doc says
 *    "borrowed".
 *  - A runtime and everything created from it may be used from one thread at
 *    a time; different runtimes are independent. There is no global state.
 */
#ifndef STRATA_H
#define STRATA_H

#include "strata_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================= */
/* Errors and versions                                                     */
/* ======================================================================= */

/** Short name of @p s ("E_SHAPE"); never NULL. @since 1.0 */
STRATA_API const char *strata_status_name(strata_status s);

/** Human description of @p s ("shape mismatch"); never NULL. @since 1.0 */
STRATA_API const char *strata_status_text(strata_status s);

/**
 * Message of the last failure on this thread ("" if none). Borrowed; read
 * it before the next call into Strata on this thread, which may replace or
 * clear it (as errno). @since 1.0
 */
STRATA_API const char *strata_last_error(void);

/** Clears this thread's message. @since 1.0 */
STRATA_API void strata_clear_error(void);

/** ABI version of the loaded libstrata. Either pointer may be NULL. @since 1.0 */
STRATA_API void strata_abi_version(uint32_t *major, uint32_t *minor);

/** Release version string ("1.0.0"). @since 1.0 */
STRATA_API const char *strata_version_string(void);

/* ======================================================================= */
/* Runtime                                                                 */
/* ======================================================================= */

/** Flags for strata_runtime_options.flags. */
enum {
    /** Do not discover plugins; load only what strata_plugin_load() names. */
    STRATA_RUNTIME_NO_DISCOVERY = 1u << 0
};

/**
 * Options for strata_runtime_create(). Zero-initialise, then set
 * struct_size = sizeof(strata_runtime_options). @since 1.0
 */
typedef struct strata_runtime_options {
    size_t struct_size;
    void *ext;
    uint32_t flags;
    /** Extra plugin search path (colon list) searched before
     *  STRATA_PLUGIN_PATH; may be NULL. */
    const char *plugin_path;
    /** Seed of the runtime's random generator (0 = the default, 0x5eed). */
    uint64_t seed;
} strata_runtime_options;

/**
 * Creates a runtime: registers the built-in ops, layers and optimizers, then
 * discovers plugins (STRATA_PLUGIN_PATH, then lib/strata next to libstrata.so,
 * then manifests in $STRATA_MANIFEST_DIR or /etc/strata/plugins.d and
 * $XDG_CONFIG_HOME/strata/plugins.d). A plugin that fails to load is
 * recorded (see strata_plugin_record) and skipped; it does not fail the
 * runtime, unless memory ran out while loading it (its init or a
 * registration failed with STRATA_E_NOMEM): then there is no runtime and the
 * error names the plugin (since 1.2; before, it was skipped too).
 *
 * @param opts  may be NULL for defaults.
 * @param[out] out  the runtime; destroy with strata_runtime_destroy().
 * @returns STRATA_OK; STRATA_E_NOMEM (also out of memory while loading a
 *          plugin); STRATA_E_INVALID for a bad struct_size.
 * @since 1.0
 */
STRATA_API strata_status strata_runtime_create(const strata_runtime_options *opts, strata_runtime **out);

/**
 * Destroys @p rt: its graph, its plugins and their devices. Release the
 * tensors and destroy the models, optimizers and loaders made from it
 * first: they refer to its devices (a warning counts the tensor storages
 * still alive; their memory is not returned). @since 1.0
 */
STRATA_API void strata_runtime_destroy(strata_runtime *rt);

/**
 * Loads one plugin or backend shared object explicitly, or the library a
 * JSON manifest (a path ending in .json) names.
 * @returns STRATA_OK; STRATA_E_EXISTS if the same real path is loaded
 *   already, or was tried and failed (a runtime does not try a file twice),
 *   or a plugin of the same name is loaded; STRATA_E_ABI, STRATA_E_PLUGIN,
 *   STRATA_E_NOT_FOUND or (bad manifest) STRATA_E_FORMAT with a message
 *   naming the file and the reason. The runtime stays usable.
 * @since 1.0
 */
STRATA_API strata_status strata_plugin_load(strata_runtime *rt, const char *path);

/** One entry of the plugin table (loaded or failed). Strings are borrowed
 *  from the runtime. @since 1.0 */
typedef struct strata_plugin_record {
    size_t struct_size;
    const char *name;      /* plugin's own name, or the file name if it failed early */
    const char *path;      /* real path */
    const char *version;   /* plugin's version string, "" if unknown */
    uint32_t abi_major, abi_minor;
    int loaded;            /* 1 loaded, 0 failed */
    strata_status status;  /* why it failed */
    const char *reason;    /* message, "" when loaded */
    const char *origin;    /* "builtin", "path", "libdir", "manifest", "explicit" */
} strata_plugin_record;

/** Number of plugin records (loaded and failed). @since 1.0 */
STRATA_API int strata_plugin_count(const strata_runtime *rt);
/** Fills @p out (set out->struct_size first) with record @p i. @since 1.0 */
STRATA_API strata_status strata_plugin_get(const strata_runtime *rt, int i, strata_plugin_record *out);

/** Description of a backend as registered. Strings borrowed. @since 1.0 */
typedef struct strata_backend_record {
    size_t struct_size;
    const char *name;
    const char *plugin;      /* plugin that registered it */
    int device_count;
    int priority;
    const char *unavailable; /* why it has no device, "" otherwise */
} strata_backend_record;

/** Number of registered backends, and record @p i (set out->struct_size first). @since 1.0 */
STRATA_API int strata_backend_count(const strata_runtime *rt);
STRATA_API strata_status strata_backend_get(const strata_runtime *rt, int i, strata_backend_record *out);

/** Name of device @p dev of backend @p backend ("ref:0 host (plain C)"). Borrowed. */
STRATA_API const char *strata_backend_device_name(const strata_runtime *rt, int backend, int dev);

/** What the runtime registers, for listing. */
typedef enum strata_registry_kind {
    STRATA_REGISTRY_OP = 1,
    STRATA_REGISTRY_LAYER = 2,
    STRATA_REGISTRY_OPTIMIZER = 3
} strata_registry_kind;

/** Number of registered entries of @p kind. @since 1.0 */
STRATA_API int strata_registry_count(const strata_runtime *rt, strata_registry_kind kind);
/**
 * Name (borrowed), version and origin plugin (borrowed) of entry @p i of
 * @p kind. version may be NULL. For ops, *kernels is a comma list of
 * backends with a native kernel (borrowed, valid until the next call;
 * STRATA_E_NOMEM when that list cannot be made).
 * @since 1.0
 */
STRATA_API strata_status strata_registry_get(const strata_runtime *rt, strata_registry_kind kind, int i,
                                             const char **name, int *version, const char **plugin,
                                             const char **kernels);
typedef struct strata_attr_spec strata_attr_spec; /* defined in strata_plugin.h */
/**
 * The attribute schema entry @p i of @p kind was registered with
 * (borrowed): a layer's or optimizer's, or an op's strata_op_def.attrs.
 * *attrs is NULL for an op whose attributes are not checked that way (the
 * core's own ops, which check theirs by a table of their own, and ops of
 * plugins built before 1.4); *n is then 0. `strata check` runs a plugin's
 * op with the defaults of its required attributes.
 * @returns STRATA_E_INVALID for an index outside [0, count).
 * @since 1.4
 */
STRATA_API strata_status strata_registry_attrs(const strata_runtime *rt, strata_registry_kind kind, int i,
                                               const strata_attr_spec **attrs, int *n);

/* ======================================================================= */
/* Devices                                                                 */
/* ======================================================================= */

/**
 * Finds device @p index of backend @p backend ("ref", "cpu", ...). If
 * @p backend is NULL or "" the best available backend is chosen: the
 * STRATA_BACKEND variable if set, else the highest-priority backend that
 * has a device; @p index counts its devices. @p backend may also name a
 * device as `strata info` prints it, "NAME:N" (device N of backend NAME;
 * @p index is then 0 or N); so may STRATA_BACKEND. @p out is borrowed from
 * the runtime.
 * @returns STRATA_E_NOT_FOUND naming the backend and the ones available,
 *  or the device index it lacks; STRATA_E_INVALID for "NAME:N" with
 *  another nonzero @p index.
 * @since 1.0 ("NAME:N" since 1.2)
 */
STRATA_API strata_status strata_device_get(strata_runtime *rt, const char *backend, int index, strata_device **out);

/** "ref:0". Borrowed. @since 1.0 */
STRATA_API const char *strata_device_name(const strata_device *dev);
/** Backend name of @p dev ("ref"). Borrowed. @since 1.0 */
STRATA_API const char *strata_device_backend(const strata_device *dev);
/** Waits until all work queued on @p dev has finished. @since 1.0 */
STRATA_API strata_status strata_device_synchronize(strata_device *dev);

/* ======================================================================= */
/* Tensors                                                                 */
/* ======================================================================= */

/**
 * Creates a zero-filled, contiguous tensor on @p dev.
 * @returns STRATA_E_INVALID for ndim outside [0, STRATA_MAX_DIMS] or a
 *  negative dimension; STRATA_E_NOMEM.
 * @since 1.0
 */
STRATA_API strata_status strata_tensor_zeros(strata_device *dev, strata_dtype dtype, int ndim, const int64_t *shape,
                                             strata_tensor **out);

/** Creates a tensor on @p dev holding a copy of the row-major host array @p data. @since 1.0 */
STRATA_API strata_status strata_tensor_from_host(strata_device *dev, strata_dtype dtype, int ndim,
                                                 const int64_t *shape, const void *data, strata_tensor **out);

/** Adds a reference. Returns @p t. @since 1.0 */
STRATA_API strata_tensor *strata_tensor_retain(strata_tensor *t);
/** Drops a reference; frees storage with the last one. NULL is a no-op. @since 1.0 */
STRATA_API void strata_tensor_release(strata_tensor *t);

/** Rank of @p t (-1 for NULL). @since 1.0 */
STRATA_API int strata_tensor_ndim(const strata_tensor *t);
/** Shape array (borrowed, ndim entries). @since 1.0 */
STRATA_API const int64_t *strata_tensor_shape(const strata_tensor *t);
/** Strides in elements (borrowed). @since 1.0 */
STRATA_API const int64_t *strata_tensor_strides(const strata_tensor *t);
/** Dimension @p axis (negative counts from the end); -1 if out of range. */
STRATA_API int64_t strata_tensor_dim(const strata_tensor *t, int axis);
STRATA_API int64_t strata_tensor_numel(const strata_tensor *t);
/** dtype of @p t (0, no dtype of the enum, for NULL). */
STRATA_API strata_dtype strata_tensor_dtype(const strata_tensor *t);
/** Device (borrowed). */
STRATA_API strata_device *strata_tensor_device(const strata_tensor *t);
/** 1 when @p t is laid out row-major without gaps (0 for NULL). */
STRATA_API int strata_tensor_is_contiguous(const strata_tensor *t);

/**
 * Copies the tensor's elements, in row-major order, to host memory.
 * @returns STRATA_E_INVALID if @p bytes != numel * element size.
 * @since 1.0
 */
STRATA_API strata_status strata_tensor_read(const strata_tensor *t, void *dst, size_t bytes);
/** Overwrites the tensor's elements from host memory (row-major). @since 1.0 */
STRATA_API strata_status strata_tensor_write(strata_tensor *t, const void *src, size_t bytes);
/** Reads a one-element tensor as a double (f32, i32, i64; f16 and bf16
 *  since 1.3). @since 1.0 */
STRATA_API strata_status strata_tensor_item(const strata_tensor *t, double *out);

/** Copy of @p t on @p dev (contiguous). @since 1.0 */
STRATA_API strata_status strata_tensor_to(strata_tensor *t, strata_device *dev, strata_tensor **out);

/** Marks a leaf tensor as needing a gradient (a parameter). @since 1.0 */
STRATA_API strata_status strata_tensor_set_requires_grad(strata_tensor *t, int on);
STRATA_API int strata_tensor_requires_grad(const strata_tensor *t);
/** Accumulated gradient of a leaf, or NULL. Borrowed. @since 1.0 */
STRATA_API strata_tensor *strata_tensor_grad(const strata_tensor *t);
/** Drops the accumulated gradient. @since 1.0 */
STRATA_API void strata_tensor_zero_grad(strata_tensor *t);

/* ======================================================================= */
/* Ops                                                                     */
/* ======================================================================= */


/**
 * Runs an op on the device of its first tensor input (or "device" attr
 * semantics for ops without inputs: see docs/ops.md). Dispatch: the
 * backend's kernel; else the op's composite definition; else the host
 * fallback with copies (one warning per op and backend; an error if STRATA_STRICT=1).
 * When gradients are enabled and an input requires grad, the call is
 * recorded on the runtime's graph.
 * @returns STRATA_E_NOT_FOUND for an unknown op; STRATA_E_SHAPE /
 *  STRATA_E_DTYPE / STRATA_E_INVALID naming the op, the input and values.
 * @since 1.0
 */
STRATA_API strata_status strata_op_invoke(strata_runtime *rt, const strata_op_invocation *inv);

/** Shorthand for the common case: new outputs, newest version. @since 1.0 */
STRATA_API strata_status strata_op_call(strata_runtime *rt, const char *op, strata_tensor *const *inputs,
                                        int n_inputs, const strata_attr *attrs, int n_attrs,
                                        strata_tensor **outputs, int n_outputs);

/**
 * Creates a tensor from an op with no tensor inputs (core::fill,
 * core::uniform, core::normal) on @p dev. For random ops the runtime's
 * generator supplies seed and offset unless the attrs give them.
 * @since 1.0
 */
STRATA_API strata_status strata_op_create(strata_device *dev, const char *op, const strata_attr *attrs, int n_attrs,
                                          strata_tensor **out);

/**
 * Whether a call of @p op (@p version 0: the newest) with these inputs
 * (on @p dev; none for an op like core::fill) and attributes would run the
 * kernel @p dev's backend registered for it: 1 when there is one and the
 * backend's supports_op accepts the call; 0 when the call would take the
 * op's host kernel, its composite or the host fallback instead (no kernel,
 * or the backend declined these inputs), for an unknown op or a NULL
 * argument. Nothing runs. `strata check` counts with it the trials that
 * reached the backend's kernel. @since 1.4
 */
STRATA_API int strata_op_runs_kernel(strata_device *dev, const char *op, int version, strata_tensor *const *inputs,
                                     int n_inputs, const strata_attr *attrs, int n_attrs);

/** Reseeds the runtime's Philox generator (offset restarts at 0). @since 1.0 */
STRATA_API void strata_runtime_seed(strata_runtime *rt, uint64_t seed);
/** Reads/sets the generator state (for checkpoints). Either pointer may be
 *  NULL; a NULL runtime reads as 0, 0 and is not set. */
STRATA_API void strata_runtime_rng_state(const strata_runtime *rt, uint64_t *seed, uint64_t *offset);
STRATA_API void strata_runtime_set_rng_state(strata_runtime *rt, uint64_t seed, uint64_t offset);

/* ======================================================================= */
/* Profiling                                                               */
/* ======================================================================= */

/** Turns per-op timing on or off (off by default; a clock read per op when
 *  on). Time is wall clock around each op's execution, including output
 *  allocation, kept separately for forward calls and for calls made by
 *  strata_backward(). @since 1.0 */
STRATA_API void strata_profile_enable(strata_runtime *rt, int on);
/** Clears the collected timings. */
STRATA_API void strata_profile_reset(strata_runtime *rt);
/** Number of (op, phase) entries with at least one call. */
STRATA_API int strata_profile_count(const strata_runtime *rt);
/** Entry @p i: op name (borrowed), backward (0/1), calls, seconds. */
STRATA_API strata_status strata_profile_get(const strata_runtime *rt, int i, const char **op, int *backward,
                                            int64_t *calls, double *seconds);

/* ======================================================================= */
/* Autograd                                                                */
/* ======================================================================= */

/** Enables or disables recording; returns the previous setting (0, and
 *  nothing set, for a NULL runtime). @since 1.0 */
STRATA_API int strata_set_grad_enabled(strata_runtime *rt, int enabled);
STRATA_API int strata_grad_enabled(const strata_runtime *rt);

/** The runtime's graph (borrowed). @since 1.0 */
STRATA_API strata_graph *strata_runtime_graph(strata_runtime *rt);

/**
 * Backpropagates from the scalar @p loss through every op recorded on
 * @p graph, ACCUMULATING into the gradients of leaves that require grad.
 * Intermediate gradients are freed as soon as they are used; the graph is
 * kept, so a second call adds the same gradients again (PyTorch's
 * retain_graph=True). A call that fails leaves no gradient on
 * intermediates (leaves may hold part of theirs: zero them before a retry).
 * Ops read the tensors they saved when backward runs: writing into one
 * (strata_tensor_write, an op into a provided output, an optimizer step)
 * between forward and backward would change the gradients, so since 1.2
 * that is STRATA_E_STATE naming the op and the tensor, with nothing
 * accumulated (tensors an op declares its backward does not read, such as
 * batch norm's running statistics, may change; ops of plugins built
 * before 1.2 are not checked).
 * @returns STRATA_E_INVALID if @p loss was not recorded on @p graph;
 *  STRATA_E_SHAPE if @p loss has more than one element;
 *  STRATA_E_STATE if it was not produced by a recorded op, or a tensor it
 *  saved was written in place since.
 * @since 1.0
 */
STRATA_API strata_status strata_backward(strata_graph *graph, strata_tensor *loss);

/**
 * Drops every recorded op and the intermediates it kept alive. An
 * intermediate the caller still holds becomes a constant of later graphs:
 * gradients stop at it (as at a detached tensor in PyTorch). @since 1.0
 */
STRATA_API void strata_graph_reset(strata_graph *graph);
/** Number of recorded ops. */
STRATA_API int strata_graph_size(const strata_graph *graph);

/**
 * Turns anomaly detection on or off (PyTorch's detect_anomaly): after every
 * op that computes (not views), its floating-point outputs are read back and
 * the first one holding a NaN or an Inf fails that op with
 * STRATA_E_NUMERIC and a message naming the op, the element, the layer
 * whose forward or backward ran it and the inputs' shapes (and which inputs
 * held a NaN or Inf already). Slow: every output crosses to the host. The
 * environment variable STRATA_DETECT_ANOMALY=1 turns it on for every new
 * runtime.
 * @returns the previous setting (0 for a NULL @p rt).
 * @since 1.0
 */
STRATA_API int strata_set_detect_anomaly(strata_runtime *rt, int on);

/* ======================================================================= */
/* Models                                                                  */
/* ======================================================================= */

/** Creates an empty model whose parameters will live on @p dev. @since 1.0 */
STRATA_API strata_status strata_model_create(strata_device *dev, strata_model **out);
/** Frees the model, its parameters and buffers. An optimizer created over
 *  it stays to be destroyed; its other calls then fail with
 *  STRATA_E_STATE ("its model was destroyed"). NULL is a no-op. */
STRATA_API void strata_model_destroy(strata_model *m);

/**
 * Declares a model input named @p name with per-example shape @p shape
 * (no batch dimension) and @p dtype. @since 1.0
 */
STRATA_API strata_status strata_model_add_input(strata_model *m, const char *name, strata_dtype dtype, int ndim,
                                                const int64_t *shape);

/**
 * Appends a layer of registered type @p type ("linear") named @p name
 * (NULL = its position, as nn.Sequential names them). @p inputs names
 * earlier layers or model inputs; NULL/0 means "the previous layer" (or the
 * first model input). Parameters are created and initialised here.
 * @returns STRATA_E_NOT_FOUND for an unknown type or input name;
 *  STRATA_E_INVALID for a bad attribute (message names it);
 *  STRATA_E_SHAPE when the inputs' shapes don't fit the layer.
 * @since 1.0
 */
STRATA_API strata_status strata_model_add_layer(strata_model *m, const char *type, const char *name,
                                                const strata_attr *attrs, int n_attrs, const char *const *inputs,
                                                int n_inputs);

/** Marks @p name as a model output (default: the last layer). @since 1.0 */
STRATA_API strata_status strata_model_add_output(strata_model *m, const char *name);

/**
 * Runs the model. @p inputs in declaration order, with a leading batch
 * dimension; @p outputs receive new references. @p training selects
 * training behaviour (dropout, batch statistics).
 * @since 1.0
 */
STRATA_API strata_status strata_model_forward(strata_model *m, strata_tensor *const *inputs, int n_inputs,
                                              strata_tensor **outputs, int n_outputs, int training);

/** Number of trainable parameters (tensors). @since 1.0 */
STRATA_API int strata_model_param_count(const strata_model *m);
/** Parameter @p i: hierarchical name ("1.weight") and tensor, both borrowed. */
STRATA_API strata_status strata_model_param(const strata_model *m, int i, const char **name, strata_tensor **t);
/** Non-trainable state tensors (running statistics). Same contract. */
STRATA_API int strata_model_buffer_count(const strata_model *m);
STRATA_API strata_status strata_model_buffer(const strata_model *m, int i, const char **name, strata_tensor **t);
/** Device the model lives on (borrowed). */
STRATA_API strata_device *strata_model_device(const strata_model *m);
/** Total number of scalar parameters. */
STRATA_API int64_t strata_model_num_scalars(const strata_model *m);
/** Clears the gradients of every parameter. */
STRATA_API void strata_model_zero_grad(strata_model *m);
/** Number of declared inputs, and the per-example shape (borrowed) and
 *  dtype of input @p i. */
STRATA_API int strata_model_input_count(const strata_model *m);
STRATA_API const int64_t *strata_model_input_shape(const strata_model *m, int i, int *ndim, strata_dtype *dtype);
/** Per-example output shape of output @p i (borrowed, *ndim entries; -1 for an unbatched scalar). */
STRATA_API const int64_t *strata_model_output_shape(const strata_model *m, int i, int *ndim);

/** Number of layers of @p m (0 for NULL). @since 1.0 */
STRATA_API int strata_model_layer_count(const strata_model *m);

/**
 * Name ("0", "conv1") and registered type ("conv2d") of layer @p i, in the
 * order the layers were added. Either pointer may be NULL; the strings are
 * borrowed until strata_model_destroy(m).
 * @returns STRATA_E_INVALID for an index outside [0, layer count).
 * @since 1.0
 */
STRATA_API strata_status strata_model_layer_info(const strata_model *m, int i, const char **name, const char **type);

/**
 * Runs the model like strata_model_forward() and returns what every layer
 * produced: @p layer_outputs (strata_model_layer_count(m) slots) receives
 * one new reference per layer, its output 0 (with the batch dimension), for
 * looking inside a network (feature maps). Written only on success.
 * @returns as strata_model_forward().
 * @since 1.0
 */
STRATA_API strata_status strata_model_forward_layers(strata_model *m, strata_tensor *const *inputs, int n_inputs,
                                                     strata_tensor **layer_outputs, int training);

/* ======================================================================= */
/* Optimizers                                                              */
/* ======================================================================= */

/**
 * Creates an optimizer of registered type @p type ("sgd", "adam", "adamw",
 * "rmsprop", "adagrad") over every parameter of @p m. Attributes as in
 * PyTorch: lr, momentum, dampening, nesterov, weight_decay, beta1, beta2,
 * eps, alpha, ...
 * @since 1.0
 */
STRATA_API strata_status strata_optimizer_create(strata_model *m, const char *type, const strata_attr *attrs,
                                                 int n_attrs, strata_optimizer **out);
/** Frees the optimizer and its state tensors. NULL is a no-op. @since 1.0 */
STRATA_API void strata_optimizer_destroy(strata_optimizer *o);
/** Applies one update from the parameters' accumulated gradients. @since 1.0 */
STRATA_API strata_status strata_optimizer_step(strata_optimizer *o);
STRATA_API double strata_optimizer_lr(const strata_optimizer *o);
/** Sets the learning rate; a negative or non-finite value is ignored. */
STRATA_API void strata_optimizer_set_lr(strata_optimizer *o, double lr);
/** Number of steps taken. */
STRATA_API int64_t strata_optimizer_steps(const strata_optimizer *o);
/** Type name ("sgd"). Borrowed. */
STRATA_API const char *strata_optimizer_type_name(const strata_optimizer *o);

/**
 * Scales all gradients of @p m so that their global L2 norm is at most
 * @p max_norm (positive and finite, else STRATA_E_INVALID). @p norm (may be
 * NULL) receives the norm before clipping. A non-finite gradient makes the
 * norm non-finite: an infinite norm scales the gradients by 0 (the infinite
 * ones become NaN), a NaN norm makes them all NaN (as PyTorch's
 * clip_grad_norm_).
 * @since 1.0
 */
STRATA_API strata_status strata_clip_grad_norm(strata_model *m, double max_norm, double *norm);

/** Learning-rate schedules. */
typedef enum strata_lr_schedule_kind {
    STRATA_LR_CONSTANT = 0,
    STRATA_LR_STEP = 1,      /* lr * gamma^(floor(step / step_size)) */
    STRATA_LR_COSINE = 2,    /* eta_min + (lr - eta_min) * (1 + cos(pi * step / total)) / 2 */
    STRATA_LR_MULTISTEP = 3, /* lr * gamma^(milestones at or before step) @since 1.1 */
    STRATA_LR_LINEAR = 4     /* lr * (1 + (end_factor - 1) * min(step, total) / total) @since 1.1 */
} strata_lr_schedule_kind;

typedef struct strata_lr_schedule {
    size_t struct_size;
    int32_t kind;
    int64_t step_size; /* STEP */
    double gamma;      /* STEP, MULTISTEP */
    int64_t total;     /* COSINE: steps to reach eta_min; LINEAR: to reach end_factor */
    double eta_min;    /* COSINE */
    /* @since 1.1: read only when struct_size covers them (a 1.0 caller's
     * schedule has no warmup) */
    int64_t warmup_steps;      /* every kind: steps 0 .. warmup_steps - 1 rise linearly from
                                * warmup_start * lr towards lr; the schedule then starts at its step 0 */
    double warmup_start;       /* the fraction of lr at the warmup's first step (0: from zero) */
    const int64_t *milestones; /* MULTISTEP: increasing steps, borrowed */
    int32_t n_milestones;
    double end_factor; /* LINEAR: the fraction of lr reached after total steps */
} strata_lr_schedule;

/** Learning rate at @p step for base rate @p base_lr. @since 1.0 (warmup,
 *  MULTISTEP and LINEAR since 1.1) */
STRATA_API double strata_lr_at(const strata_lr_schedule *s, double base_lr, int64_t step);

/* ======================================================================= */
/* Checkpoints (safetensors)                                               */
/* ======================================================================= */

/**
 * Writes @p m's parameters and buffers (PyTorch names) and, if @p opt is
 * not NULL, its state as "optimizer.<param>.<slot>" tensors plus step and
 * hyper-parameters in the metadata. @p meta_json (may be NULL) is a JSON
 * object of extra string metadata; its keys may not be the checkpoint's
 * own ("format", "strata_version", "optimizer", "optimizer.*":
 * STRATA_E_INVALID). Written atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory.
 * @returns STRATA_E_STATE when @p opt was created for another model or
 *  the model has gained or lost parameters since.
 * @since 1.0
 */
STRATA_API strata_status strata_checkpoint_save(const char *path, strata_model *m, strata_optimizer *opt,
                                                const char *meta_json);

/**
 * Loads @p path into @p m (and @p opt if not NULL). Every parameter of the
 * model must be present with the same shape and dtype, except that F16,
 * BF16 and F64 tensors load into f32 ones, converted (F16 and BF16
 * exactly, F64 rounded to nearest), as PyTorch's load_state_dict copies a
 * half-precision or double state into float parameters. A file tensor the
 * model lacks is refused when the model has others of its layer (same
 * name up to the last '.': "mn.embed_3" beside "mn.embed_0", a layer
 * built with other attributes) and ignored otherwise (layers the model
 * does not have, such as a classifier's head). Everything is
 * checked before anything is written, so a failed load changes nothing.
 * The optimizer's step counts, learning rate and state are restored (a
 * state tensor the file lacks, saved before the optimizer's first step, is
 * dropped, as it was then); its other hyper-parameters stay as the caller
 * created it (the file records them in the "optimizer.hparams" metadata for
 * reference).
 * @returns STRATA_E_FORMAT naming the file and what is wrong (bad header,
 *  offsets out of range, overflowing sizes); STRATA_E_SHAPE / E_DTYPE
 *  naming the tensor; STRATA_E_NOT_FOUND naming a missing tensor;
 *  STRATA_E_INVALID naming a tensor of one of the model's layers that the
 *  model lacks; STRATA_E_STATE as strata_checkpoint_save() for @p opt.
 * @since 1.0
 */
STRATA_API strata_status strata_checkpoint_load(const char *path, strata_model *m, strata_optimizer *opt);

/**
 * Copies metadata value @p key of the checkpoint's "__metadata__" into
 * @p buf (NUL-terminated).
 * @returns STRATA_E_NOT_FOUND when absent; STRATA_E_INVALID when @p buf is
 *  too small (the message gives the size needed).
 * @since 1.0
 */
STRATA_API strata_status strata_checkpoint_metadata(const char *path, const char *key, char *buf, size_t buf_size);

/**
 * Writes a copy of the checkpoint @p src to @p dst with every float tensor
 * (F32, F16, BF16, F64) stored as @p dtype (STRATA_F32, STRATA_F16 or
 * STRATA_BF16): PyTorch's model.half() / .bfloat16() / .float() state
 * dict. Rounding is to nearest, ties to even (strata_half.h; F64 goes
 * through its nearest f32). Integer tensors are copied as they are. The
 * optimizer state ("optimizer.*" tensors and metadata) is left out: the
 * copy is the model, which strata_checkpoint_load() loads into f32
 * parameters again. Other metadata is kept. @p dst is written atomically,
 * as strata_checkpoint_save() writes, and may be @p src.
 * @returns STRATA_E_DTYPE for another @p dtype, or naming a tensor of a
 *  dtype Strata cannot write (U8, BOOL, ...); errors of reading @p src
 *  as strata_checkpoint_load() gives them; STRATA_E_IO for @p dst.
 * @since 1.3
 */
STRATA_API strata_status strata_checkpoint_convert(const char *src, const char *dst, strata_dtype dtype);

/* ======================================================================= */
/* Data                                                                    */
/* ======================================================================= */

typedef struct strata_dataset strata_dataset;

/**
 * Loads an IDX image file and an IDX label file (plain or .gz). Images are
 * converted to f32 and divided by @p scale (255 for pixels). Labels are i64.
 * @returns STRATA_E_IO / STRATA_E_FORMAT naming the file and the problem
 *  (bad magic, truncated data, count mismatch between the two files).
 * @since 1.0
 */
STRATA_API strata_status strata_dataset_load_idx(const char *images, const char *labels, double scale,
                                                 strata_dataset **out);
/**
 * Loads a data set from a safetensors file, as `safetensors.numpy.save_file`
 * or `safetensors.torch.save_file` write one: tensor @p x_name (n, shape...)
 * of any number dtype (U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16,
 * F32, F64 or BOOL), converted to f32 and divided by @p scale, and tensor
 * @p y_name (n) of class labels >= 0 of an integer dtype, as i64 (NULL: a
 * set without labels, to predict: every label 0).
 * @returns STRATA_E_IO / STRATA_E_FORMAT naming the file and the problem (a
 *  damaged file, a dtype that is not a number or labels that are not
 *  integers, a label below 0, an input that is not finite);
 *  STRATA_E_NOT_FOUND naming a missing tensor and listing the file's;
 *  STRATA_E_SHAPE when the labels are not 1-D or their count differs.
 * @since 1.1
 */
STRATA_API strata_status strata_dataset_load_safetensors(const char *path, const char *x_name, const char *y_name,
                                                         double scale, strata_dataset **out);
/** Builds a dataset from host arrays (copied). x: (n, shape...), every value finite (else STRATA_E_INVALID naming
 *  the first that is not), y: (n). */
STRATA_API strata_status strata_dataset_from_host(int64_t n, int ndim, const int64_t *shape, const float *x,
                                                  const int64_t *y, strata_dataset **out);
/** Frees a data set (after every loader over it). NULL is a no-op. @since 1.0 */
STRATA_API void strata_dataset_destroy(strata_dataset *d);
/** Standardises the features in place: x = (x - mean) / std (after the
 *  scale applied at load). @returns STRATA_E_INVALID unless std > 0. */
STRATA_API strata_status strata_dataset_normalize(strata_dataset *d, double mean, double std);
/**
 * Standardises the features in place channel by channel, as torchvision's
 * Normalize(mean, std) does: x = (x - mean[c]) / std[c] for every value of
 * channel c, the first axis of (C, H, W) examples. @p n is C, or 1 (then the
 * same as strata_dataset_normalize()).
 * @returns STRATA_E_INVALID unless every std is positive and finite and
 *  every mean finite; STRATA_E_SHAPE, naming the examples' shape, when
 *  @p n > 1 and the examples are not (n, H, W).
 * @since 1.4
 */
STRATA_API strata_status strata_dataset_normalize_channels(strata_dataset *d, int n, const double *mean,
                                                           const double *std);
STRATA_API int64_t strata_dataset_size(const strata_dataset *d);
/** Per-example shape (borrowed). */
STRATA_API const int64_t *strata_dataset_shape(const strata_dataset *d, int *ndim);
/** Number of classes (max label + 1). */
STRATA_API int64_t strata_dataset_classes(const strata_dataset *d);
/** Host pointer to example @p i's features / label (borrowed). */
STRATA_API const float *strata_dataset_x(const strata_dataset *d, int64_t i);
STRATA_API int64_t strata_dataset_y(const strata_dataset *d, int64_t i);

typedef struct strata_loader strata_loader;

/**
 * Iterates mini-batches of @p batch examples, reshuffled each epoch from
 * (seed, epoch) when @p shuffle is set, so an epoch's order is reproducible.
 * The last partial batch is kept unless @p drop_last. The loader keeps a
 * pointer to @p d, which must outlive it.
 * @since 1.0
 */
STRATA_API strata_status strata_loader_create(const strata_dataset *d, int64_t batch, int shuffle, uint64_t seed,
                                              int drop_last, strata_loader **out);
/** Frees a loader. NULL is a no-op. @since 1.0 */
STRATA_API void strata_loader_destroy(strata_loader *l);
/** Starts epoch @p epoch (0-based). */
STRATA_API void strata_loader_start_epoch(strata_loader *l, int64_t epoch);
/** Batches per epoch. */
STRATA_API int64_t strata_loader_batches(const strata_loader *l);
/**
 * Next batch on @p dev: x (b, shape...) f32, y (b) i64. *done = 1 and no
 * tensors at the end of the epoch.
 */
STRATA_API strata_status strata_loader_next(strata_loader *l, strata_device *dev, strata_tensor **x,
                                            strata_tensor **y, int *done);
/** Skips @p n batches (resuming mid-epoch). */
STRATA_API void strata_loader_skip(strata_loader *l, int64_t n);

/**
 * Turns on data augmentation of the batches @p l hands out: each example is
 * flipped horizontally (along its last axis) with probability @p hflip_p,
 * then, when @p crop_padding > 0, padded with @p crop_padding zeros on every
 * side of its last two axes and cropped back to its size at a random offset
 * (PyTorch's RandomHorizontalFlip and RandomCrop(size, padding)). Zero is
 * zero in the data set's values: after strata_dataset_normalize() it is the
 * mean, not black.
 *
 * The draws of an example depend only on (the loader's seed, the epoch, the
 * example's position in the epoch), so a run resumed with
 * strata_loader_skip() sees the same batches. Set it on training loaders
 * only; hflip_p = 0 and crop_padding = 0 turn it off.
 *
 * @param l             loader; must not be NULL.
 * @param hflip_p       flip probability in [0, 1].
 * @param crop_padding  padding of the random crop, >= 0 (0: no crop).
 * @returns STRATA_OK; STRATA_E_INVALID for a value out of range, or when
 *   augmentation is asked for and examples are not images of shape (C, H, W)
 *   or (H, W) (the message gives the shape).
 * @since 1.0
 */
STRATA_API strata_status strata_loader_set_augment(strata_loader *l, double hflip_p, int64_t crop_padding);

/* ======================================================================= */
/* Text corpora (character-level language models)                         */
/* ======================================================================= */

typedef struct strata_text strata_text;

/** How a text is cut into tokens. @since 1.0 */
typedef enum strata_text_mode {
    /** UTF-8 characters (Unicode code points); invalid UTF-8 is an error. */
    STRATA_TEXT_CHARS = 0,
    /** Bytes (0..255); any file is accepted. */
    STRATA_TEXT_BYTES = 1
} strata_text_mode;

/**
 * Options for strata_text_load(). Zero-initialise, then set
 * struct_size = sizeof(strata_text_options). @since 1.0
 */
typedef struct strata_text_options {
    size_t struct_size;
    void *ext;
    /** STRATA_TEXT_CHARS or STRATA_TEXT_BYTES. */
    int32_t mode;
    /** Fraction of the tokens held out for validation, taken from the end,
     *  in [0, 1): the training part is the first floor(n * (1 - f)) tokens.
     *  0 holds nothing out. */
    double val_fraction;
    /** The vocabulary to use (token id i is code point / byte vocab[i];
     *  entries distinct), e.g. the one a checkpoint stores; copied. NULL:
     *  build it from the text, the sorted distinct tokens. */
    const uint32_t *vocab;
    /** Number of entries of @p vocab. */
    int64_t vocab_size;
} strata_text_options;

/**
 * Reads the text file @p path and encodes it as token ids.
 *
 * @param path  file to read; must not be NULL.
 * @param opts  may be NULL for the defaults: characters, val_fraction 0.05,
 *              vocabulary built from the text.
 * @param[out] out  the corpus; free with strata_text_destroy().
 * @returns STRATA_OK; STRATA_E_IO naming the file; STRATA_E_FORMAT for
 *  invalid UTF-8 in character mode (the message gives the file and the
 *  byte offset); STRATA_E_NOT_FOUND for a token not in a given vocabulary
 *  (file, byte offset, the character); STRATA_E_INVALID for an option out
 *  of range (the message names it and its value); STRATA_E_NOMEM.
 * @since 1.0
 */
STRATA_API strata_status strata_text_load(const char *path, const strata_text_options *opts, strata_text **out);

/**
 * Same as strata_text_load() for the @p len bytes at @p data (copied);
 * @p name stands for the file in messages. With an empty text and a given
 * vocabulary this makes an encoder/decoder for generation.
 * @since 1.0
 */
STRATA_API strata_status strata_text_from_memory(const void *data, size_t len, const char *name,
                                                 const strata_text_options *opts, strata_text **out);

/** Frees a corpus. NULL is a no-op. @since 1.0 */
STRATA_API void strata_text_destroy(strata_text *t);

/** STRATA_TEXT_CHARS or STRATA_TEXT_BYTES. @since 1.0 */
STRATA_API strata_text_mode strata_text_get_mode(const strata_text *t);

/**
 * The vocabulary: token id i is code point (or byte) vocab[i]. Borrowed,
 * valid until strata_text_destroy(t); *size receives its length.
 * @since 1.0
 */
STRATA_API const uint32_t *strata_text_vocab(const strata_text *t, int64_t *size);

/**
 * Token ids of the training part (@p split 0) or the held-out part
 * (@p split 1). Borrowed; *n receives the count (0, and NULL returned,
 * for another split or a NULL corpus).
 * @since 1.0
 */
STRATA_API const int32_t *strata_text_tokens(const strata_text *t, int split, int64_t *n);

/**
 * Encodes @p len bytes of @p text with @p t's mode and vocabulary into
 * @p ids (room for @p cap ids); *n receives the count.
 * @returns STRATA_E_FORMAT (invalid UTF-8, with the offset);
 *  STRATA_E_NOT_FOUND (a character not in the vocabulary, with the offset);
 *  STRATA_E_INVALID when @p cap is too small.
 * @since 1.0
 */
STRATA_API strata_status strata_text_encode(const strata_text *t, const char *text, size_t len, int64_t *ids,
                                            size_t cap, size_t *n);

/**
 * Writes token @p id as text (UTF-8 in character mode, one byte in byte
 * mode) into @p buf (at least 5 bytes; NUL-terminated); *len (may be NULL)
 * receives its length without the NUL.
 * @returns STRATA_E_INVALID for an id outside the vocabulary.
 * @since 1.0
 */
STRATA_API strata_status strata_text_decode(const strata_text *t, int64_t id, char *buf, size_t size, size_t *len);

/**
 * A training batch of @p batch random windows of @p seq_len + 1 tokens of
 * the training part: *x = window[:, :seq_len], *y = window[:, 1:], both
 * (batch, seq_len) i64 on @p dev. Window starts are uniform in
 * [0, n_train - seq_len - 1], every start where a window fits, and depend
 * only on (@p seed, @p step, row), so a resumed run sees the same batches.
 * @returns STRATA_E_INVALID for seq_len or batch < 1, or a training part
 *  shorter than seq_len + 1 tokens (the message gives the lengths).
 * @since 1.0
 */
STRATA_API strata_status strata_text_train_batch(const strata_text *t, strata_device *dev, int64_t batch,
                                                 int64_t seq_len, uint64_t seed, int64_t step, strata_tensor **x,
                                                 strata_tensor **y);

/**
 * Number of validation windows: every non-overlapping window of
 * @p seq_len + 1 tokens of the held-out part, starting at multiples of
 * @p seq_len, i.e. (n_val - 1) / seq_len (0 when n_val < 2).
 * @returns STRATA_E_INVALID for seq_len < 1.
 * @since 1.0
 */
STRATA_API strata_status strata_text_val_windows(const strata_text *t, int64_t seq_len, int64_t *count);

/**
 * Validation windows @p first .. @p first + @p count - 1 as *x, *y
 * (count, seq_len) i64 on @p dev, split like strata_text_train_batch().
 * @returns STRATA_E_INVALID for seq_len < 1 or a range outside
 *  [0, strata_text_val_windows()).
 * @since 1.0
 */
STRATA_API strata_status strata_text_val_batch(const strata_text *t, strata_device *dev, int64_t seq_len,
                                               int64_t first, int64_t count, strata_tensor **x, strata_tensor **y);

/* ======================================================================= */
/* bAbI question answering (Weston et al. 2015; docs/babi-reader.md)       */
/* ======================================================================= */

/*
 * A bAbI file is a sequence of stories. Each line is "ID text" (a
 * statement) or "ID question<TAB>answer[<TAB>supporting ids]" (a question);
 * an ID of 1 starts a new story and IDs grow by one per line within it.
 * Words are lower-cased, split on white space, and stripped of trailing
 * '.', '?', ',' and '!'. Statements are numbered globally, across stories,
 * in file order from 0; questions are not statements. A set is read-only
 * once loaded and may be read from several threads at a time.
 */
typedef struct strata_babi strata_babi;

/**
 * One question of a bAbI file, filled by strata_babi_question_get().
 * Pointers are borrowed from the set: valid until strata_babi_destroy().
 * @since 1.0
 */
typedef struct strata_babi_question {
    /** Set by the caller to sizeof(strata_babi_question) before the call. */
    size_t struct_size;
    /** 0-based story index. */
    int64_t story;
    /** Global index of the story's first statement (where it would be
     *  when the story has none yet). */
    int64_t context_first;
    /** Statements of the story before this question: the question's memory
     *  is statements context_first .. context_first + context_count - 1. */
    int64_t context_count;
    /** Question tokens (lower-cased, punctuation stripped). */
    const char *const *words;
    int32_t n_words;
    /** The answer as written, e.g. "n,w". */
    const char *answer;
    /** The answer split at commas ("n", "w"); one part for a one-word answer. */
    const char *const *answer_parts;
    int32_t n_answer_parts;
    /** Supporting facts as global statement indices, in the file's order
     *  (NULL when n_supporting is 0). */
    const int64_t *supporting;
    int32_t n_supporting;
    /** 1-based line number of the question in the file. */
    int64_t line;
} strata_babi_question;

/**
 * Reads the bAbI file @p path (the format of the official tasks_1-20_v1-2
 * files; LF or CRLF line ends, blank lines ignored, a final newline
 * optional).
 *
 * @param path  file to read; must not be NULL.
 * @param[out] out  the set; free with strata_babi_destroy(). An empty file
 *  gives a set with no stories.
 * @returns STRATA_OK; STRATA_E_IO naming the file and the system's reason;
 *  STRATA_E_FORMAT for a malformed line, as "FILE:LINE: what is wrong
 *  (the offending value)": a line without a leading numeric ID, an ID <= 0,
 *  an ID that neither is 1 nor follows the previous one, a question line
 *  with other than 2 or 3 tab-separated fields, an empty question or
 *  answer, a supporting id that is not a number, not an earlier line of the
 *  story or a question, a line over 64 KiB; STRATA_E_INVALID for a NULL
 *  argument; STRATA_E_NOMEM.
 * @since 1.0
 */
STRATA_API strata_status strata_babi_load(const char *path, strata_babi **out);

/**
 * Same as strata_babi_load() for the @p len bytes at @p data (copied as
 * needed; not kept); @p name (may be NULL) stands for the file in messages.
 * @since 1.0
 */
STRATA_API strata_status strata_babi_from_memory(const void *data, size_t len, const char *name, strata_babi **out);

/** Frees a set. NULL is a no-op. @since 1.0 */
STRATA_API void strata_babi_destroy(strata_babi *b);

/** Number of stories (0 for NULL). @since 1.0 */
STRATA_API int64_t strata_babi_story_count(const strata_babi *b);

/** Number of statements of all stories (0 for NULL). @since 1.0 */
STRATA_API int64_t strata_babi_statement_count(const strata_babi *b);

/** Number of questions of all stories (0 for NULL). @since 1.0 */
STRATA_API int64_t strata_babi_question_count(const strata_babi *b);

/**
 * Tokens of statement @p i (global index, 0 .. statement_count - 1).
 * Borrowed, valid until strata_babi_destroy(b); *n_words (may be NULL)
 * receives their number (0 on failure).
 * @returns NULL for a NULL set or an index out of range.
 * @since 1.0
 */
STRATA_API const char *const *strata_babi_statement(const strata_babi *b, int64_t i, int32_t *n_words);

/**
 * Fills @p out with question @p i (0 .. question_count - 1); out->struct_size
 * must be set and is left as it is.
 * @returns STRATA_OK; STRATA_E_INVALID for a NULL argument, an index out of
 *  range or a struct_size smaller than this version's struct (the message
 *  gives the values).
 * @since 1.0
 */
STRATA_API strata_status strata_babi_question_get(const strata_babi *b, int64_t i, strata_babi_question *out);

/* ======================================================================= */
/* Model specs (YAML)                                                      */
/* ======================================================================= */

typedef struct strata_spec strata_spec;

/**
 * Parses a model spec (docs/spec.md). Unknown keys are errors naming the
 * file and line; applied defaults are recorded (strata_spec_defaults).
 * @returns STRATA_E_IO, STRATA_E_FORMAT ("spec.yaml:12: ...").
 * @since 1.0
 */
STRATA_API strata_status strata_spec_load(strata_runtime *rt, const char *path, strata_spec **out);
/** Same, from a string; @p name is used in messages. */
STRATA_API strata_status strata_spec_parse(strata_runtime *rt, const char *text, size_t len, const char *name,
                                           strata_spec **out);
/** Frees a spec; models built from it stay valid. NULL is a no-op. @since 1.0 */
STRATA_API void strata_spec_destroy(strata_spec *s);

/** Builds the spec's model on @p dev. */
STRATA_API strata_status strata_spec_build_model(const strata_spec *s, strata_device *dev, strata_model **out);
/**
 * Builds model @p name ("generator" or "discriminator") of a two-model spec
 * (a GAN: top-level sections generator: and discriminator:, each
 * {model, optimizer}).
 * @returns STRATA_E_NOT_FOUND when the spec has no such section.
 * @since 1.0
 */
STRATA_API strata_status strata_spec_build_named(const strata_spec *s, const char *name, strata_device *dev,
                                                 strata_model **out);
/** Creates the optimizer of model @p name of a two-model spec for @p m. @since 1.0 */
STRATA_API strata_status strata_spec_create_optimizer_named(const strata_spec *s, const char *name, strata_model *m,
                                                            strata_optimizer **out);
/**
 * Changes the per-example shape of the spec's model input @p name for the
 * models built from @p s afterwards (e.g. one token instead of a training
 * window of 64, to generate text step by step). @p shape is copied.
 * @returns STRATA_E_NOT_FOUND for an unknown input (named in the message);
 *  STRATA_E_INVALID for a rank outside [0, STRATA_MAX_DIMS) or a dimension < 1.
 * @since 1.0
 */
STRATA_API strata_status strata_spec_set_input_shape(strata_spec *s, const char *name, int ndim,
                                                     const int64_t *shape);

/**
 * Sets the integer attribute @p key of the spec's layer named @p layer for
 * the models built from @p s afterwards (a size known only from the data,
 * such as a vocabulary). Defaults count: any attribute of the layer type's
 * schema can be set.
 * @returns STRATA_E_NOT_FOUND for an unknown layer or attribute (named in
 *  the message); STRATA_E_INVALID when the attribute is not an integer.
 * @since 1.0
 */
STRATA_API strata_status strata_spec_set_layer_int(strata_spec *s, const char *layer, const char *key, int64_t value);

/** Creates the spec's optimizer for @p m. */
STRATA_API strata_status strata_spec_create_optimizer(const strata_spec *s, strata_model *m,
                                                      strata_optimizer **out);

/**
 * Scalar value at a dotted path ("train.epochs", "data.train.images").
 * @returns STRATA_E_NOT_FOUND when absent (then *out = @p dflt and the
 *  call is not an error to report), STRATA_E_FORMAT when the value is not
 *  of the asked type (message names file:line).
 */
STRATA_API strata_status strata_spec_get_int(const strata_spec *s, const char *path, int64_t dflt, int64_t *out);
STRATA_API strata_status strata_spec_get_float(const strata_spec *s, const char *path, double dflt, double *out);
/** String value (borrowed), or @p dflt. */
STRATA_API strata_status strata_spec_get_string(const strata_spec *s, const char *path, const char *dflt,
                                                const char **out);
/** Spec file path and its raw text (borrowed). */
STRATA_API const char *strata_spec_path(const strata_spec *s);
STRATA_API const char *strata_spec_text(const strata_spec *s, size_t *len);
/** Defaults applied while building, one per line ("train.batch_size = 64"). Borrowed. */
STRATA_API const char *strata_spec_defaults(const strata_spec *s);

#ifdef __cplusplus
}
#endif

#include "strata_ops.h"

#endif /* STRATA_H */
