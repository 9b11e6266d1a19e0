/*
 * internal.h - libstrata's private declarations. Never installed; nothing
 * outside core/ includes it.
 */
#ifndef STRATA_INTERNAL_H
#define STRATA_INTERNAL_H

#include <stdarg.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "strata/strata.h"
#include "strata/strata_backend.h"
#include "strata/strata_plugin.h"

#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors (error.c) -------------------------------------------------- */

/** Sets this thread's message and returns @p s. */
strata_status st_error(strata_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
strata_status st_verror(strata_status s, const char *fmt, va_list ap);
/** Prepends "prefix: " to the current message (adds context on the way up). */
strata_status st_error_context(strata_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Formats a shape "(2, 3, 4)" into buf. Returns buf. */
const char *st_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/* ---- small utilities (util.c) ------------------------------------------ */

void *st_malloc(size_t n);           /* NULL on failure, sets E_NOMEM message */
void *st_calloc(size_t n, size_t m);
void *st_realloc(void *p, size_t n);
/** Allocation fault injection (tests; docs/reliability.md): from now on,
 *  allocation number @p n (1-based) through st_malloc, st_calloc,
 *  st_realloc, st_strdup and storage allocation (host or device) fails as
 *  if memory were exhausted; 0 = none. Resets the count. Without a call,
 *  the environment variable STRATA_FAULT_ALLOC=N sets it. Process-wide. */
void st_fault_alloc_set(int64_t n);
/** Allocations counted since the last st_fault_alloc_set. */
int64_t st_fault_alloc_count(void);
/** Counts one allocation; 1 when it is the one to fail. */
int st_fault_alloc_hit(void);
/** Reads all of @p path into a new buffer (*buf, free()d by the caller;
 *  *len bytes). @p what names the file in messages ("spec", "text file");
 *  a file over @p max_bytes fails with @p too_big ("PATH: <too_big_prefix>larger
 *  than the limit of MAX bytes"). Errors: E_IO naming the file, E_NOMEM. */
strata_status st_read_file(const char *path, const char *what, size_t max_bytes, strata_status too_big,
                           const char *too_big_prefix, void **buf, size_t *len);
/** fopen(@p path, "rb") into *out, with its fstat in *sb, of a regular
 *  file only: a FIFO or a device is refused (E_IO "PATH: not a regular
 *  file") before anything waits on it. */
strata_status st_fopen_regular(const char *path, FILE **out, struct stat *sb);
char *st_strdup(const char *s);
/** Grows *arr (of elem bytes) to hold at least need elements. */
strata_status st_grow(void **arr, int *cap, int need, size_t elem);
/** Copies attrs deeply (names, strings, arrays) into one allocation. */
strata_attr *st_attrs_copy(const strata_attr *attrs, int n);
void st_log(strata_runtime *rt, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** 1 if env var STRATA_DEBUG contains @p topic ("loader"). */
int st_debug_enabled(const char *topic);
/* A switch in the environment: @p unset when unset or empty; off for 0, false, no or off (any case); on
 * otherwise (STRATA_DETECT_ANOMALY=false halved the throughput, taken as on). */
int st_env_flag(const char *name, int unset);

/* ---- runtime pieces ---------------------------------------------------- */

typedef struct st_backend {
    strata_backend_def def; /* copied, struct_size clamped */
    char *name;
    struct st_plugin *plugin;
    strata_runtime *rt;
    int listed;  /* devices[] holds n_devices */
    int counted; /* device_count asked once: its answer is `count` (kept when listing ran out of memory) */
    int count;
    int n_devices;
    strata_device **devices;
} st_backend;

/** The devices of @p be, asked of the backend the first time anyone needs
 *  them (not at registration: a driver probe such as PoCL's costs 0.1 s
 *  and 60 MB, paid only by a process that uses that backend). The backend
 *  is asked once; a listing that ran out of memory is retried from its
 *  answer. Returns be->n_devices, or -1 with the error set when out of memory. */
int st_backend_devices(st_backend *be);

struct strata_device {
    strata_runtime *rt;
    st_backend *be;
    int index;
    int host_memory;
    char name[96];
};

typedef struct st_kernel {
    char *backend;
    char *op;
    int32_t version;
    strata_kernel_fn fn;
    void *user;
    struct st_plugin *plugin;
    int warned; /* said: its backend is not loaded (loader.c) */
} st_kernel;

#define ST_KCACHE 16
typedef struct st_op {
    strata_op_def def;
    char *name;
    struct st_plugin *plugin;
    /* kernel per backend index, valid while kcache_gen == rt->kernel_gen */
    const st_kernel *kcache[ST_KCACHE];
    unsigned kcache_gen;
    /* bit b: the host fallback was announced for a call on backend index b (indices >= 63 share bit 63);
     * per backend, so one backend's warning does not hide another's. Cleared when an unload renumbers them. */
    uint64_t warned_fallback;
    int warned_no_backward; /* an input needing a gradient met an op without a backward */
    const struct st_op_attrs *attr_spec; /* its attributes (op_attrs.c); NULL: not checked */
    struct st_op_attrs *own_attrs;       /* a plugin op's, made from its def.attrs (attr_spec then points here) */
    uint32_t attrs_required;             /* ... bit k: its entry k is required */
    int64_t prof_calls[2];  /* [forward, backward] */
    double prof_seconds[2];
} st_op;

typedef struct st_layer_type {
    strata_layer_type def;
    char *name;
    struct st_plugin *plugin;
} st_layer_type;

typedef struct st_optim_type {
    strata_optimizer_type def;
    char *name;
    struct st_plugin *plugin;
} st_optim_type;

struct strata_plugin {
    strata_runtime *rt;
    int index; /* in rt->plugins */
};

typedef struct st_plugin {
    struct strata_plugin handle;
    char *name, *path, *version, *reason, *origin;
    uint32_t abi_major, abi_minor;
    int loaded;
    strata_status status;
    void *dl;
    const strata_plugin_desc *desc;
    void *user;
    /* registrations the core refused while init ran: the plugin is refused
     * too, even if its init ignored them and returned STRATA_OK */
    int in_init, refused;
    char refusal[256]; /* the first one's message */
    int out_of_memory; /* a registration of its init failed with STRATA_E_NOMEM */
} st_plugin;

/* Freed host blocks kept for reuse (alloc.c), oldest first. */
#define ST_HOST_CACHE_ENTRIES 256
typedef struct st_host_cache {
    pthread_mutex_t lock; /* storages are freed by whichever thread drops the last reference */
    int n;
    size_t bytes;
    size_t size[ST_HOST_CACHE_ENTRIES];
    void *block[ST_HOST_CACHE_ENTRIES];
} st_host_cache;

struct strata_runtime {
    st_plugin **plugins;
    int n_plugins, cap_plugins;
    st_backend **backends;
    int n_backends, cap_backends;
    st_op **ops;
    int n_ops, cap_ops;
    st_kernel **kernels;
    int n_kernels, cap_kernels;
    unsigned kernel_gen;
    st_layer_type **layers;
    int n_layers, cap_layers;
    st_optim_type **optims;
    int n_optims, cap_optims;
    uint64_t rng_seed, rng_offset;
    int grad_enabled;
    int strict;
    strata_graph *graph;
    st_plugin *builtin;
    char *kernel_list_scratch;
    int profile;     /* per-op timing on */
    int in_backward; /* inside strata_backward */
    /* strata_set_detect_anomaly: every op's outputs are checked for NaN/Inf */
    int detect_anomaly;
    const char *anomaly_layer; /* "layer 'fc1' (linear)" running now, or NULL */
    const char *anomaly_bw_op; /* the op whose backward runs now, or NULL */
    char anomaly_buf[160];     /* anomaly_layer of a forward */
    long live_storages;        /* tensor storages not freed yet (atomic): what destroy warns of */
    st_host_cache *host_cache; /* freed host blocks for reuse (alloc.c); NULL: STRATA_HOST_CACHE=0 */
    /* the first out-of-memory failure while loading plugins ("plugin PATH: ..."), "" if none:
     * discovery then fails rather than going on without that plugin (loader.c) */
    char load_nomem[512];
};

extern const strata_host_api st_host_api;

/* alloc.c */
/** The runtime's cache of freed host blocks, or NULL when STRATA_HOST_CACHE=0 (or out of memory). */
st_host_cache *st_host_cache_new(void);
/** Frees the cached blocks and the cache. */
void st_host_cache_free(st_host_cache *c);

/* registry.c */
st_op *st_find_op(const strata_runtime *rt, const char *name, int version);
/** Kernel of @p op on backend @p be (index in rt->backends), or NULL. */
const st_kernel *st_find_kernel(strata_runtime *rt, st_op *op, int be);
/** Index of backend @p be in rt->backends. */
int st_backend_index(const strata_runtime *rt, const st_backend *be);
strata_status st_register_op(st_plugin *p, const strata_op_def *def);
strata_status st_register_kernel(st_plugin *p, const char *backend, const char *op, int32_t version,
                                 strata_kernel_fn fn, void *user);
strata_status st_register_layer(st_plugin *p, const strata_layer_type *t);
strata_status st_register_optimizer(st_plugin *p, const strata_optimizer_type *t);
strata_status st_register_backend(st_plugin *p, const strata_backend_def *def);
void st_unregister_plugin(strata_runtime *rt, st_plugin *p);
const st_layer_type *st_find_layer_type(const strata_runtime *rt, const char *name);
const st_optim_type *st_find_optim_type(const strata_runtime *rt, const char *name);

/* loader.c */
strata_status st_plugin_discover(strata_runtime *rt, const char *extra_path);
st_plugin *st_plugin_new(strata_runtime *rt, const char *name, const char *path, const char *origin);
/* "; 2 plugin(s) did not load, which may provide it: PATH (reason); ... (`strata info` lists them)" into
 * @p buf, or "" when every plugin found loaded: the likely reason a layer or optimizer type is unknown. */
void st_plugin_failures_hint(const strata_runtime *rt, char *buf, size_t size);

/* builtin registrations (core/ops/, core/layers/, core/optim/) */
strata_status st_register_core_ops(st_plugin *p);
strata_status st_register_core_layers(st_plugin *p);
strata_status st_register_core_optimizers(st_plugin *p);

/* ---- tensors (tensor.c) ------------------------------------------------ */

typedef struct st_storage {
    int refcount;
    strata_device *dev;
    void *data; /* backend buffer handle or host pointer */
    size_t bytes;
    uint64_t version; /* bumped by every write (from_host too); autograd checks saved tensors against it */
} st_storage;

struct st_node;

struct strata_tensor {
    int refcount;
    strata_runtime *rt;
    st_storage *st;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[STRATA_MAX_DIMS];
    int64_t strides[STRATA_MAX_DIMS];
    size_t byte_offset;
    int requires_grad; /* leaf flag set by the user, or derived */
    int is_leaf;
    strata_tensor *grad;     /* accumulated gradient of a leaf */
    struct st_node *grad_fn; /* producing node (not owned) */
    int grad_fn_output;      /* which output of grad_fn */
    strata_tensor *tmp_grad; /* backward-pass scratch for non-leaves */
};

/** New tensor with fresh contiguous storage (uninitialised when zero==0). */
strata_status st_tensor_new(strata_device *dev, int dtype, int ndim, const int64_t *shape, int zero,
                            strata_tensor **out);
/** New tensor header sharing @p base's storage with the given geometry. */
strata_status st_tensor_view(strata_tensor *base, int ndim, const int64_t *shape, const int64_t *strides,
                             size_t byte_offset, strata_tensor **out);
void st_tensor_fill_desc(const strata_tensor *t, strata_tensor_desc *d);
void st_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
int64_t st_numel(int ndim, const int64_t *shape);
/** Host pointer of a host-memory tensor's first element, else NULL. */
void *st_tensor_host_ptr(const strata_tensor *t);

/* storage allocation through the device's backend (alloc.c) */
strata_status st_storage_alloc(strata_device *dev, size_t bytes, int zero, st_storage **out);
/** Zeroes every byte of @p s: memset for host memory, else a copy from a
 *  zeroed host block. */
strata_status st_storage_zero(st_storage *s);
void st_storage_release(st_storage *s);

/* ---- dispatch and autograd (dispatch.c, autograd.c) -------------------- */

strata_status st_invoke(strata_runtime *rt, const strata_op_invocation *inv);
/** Calls an op and returns its single output (convenience for core code). */
strata_status st_call1(strata_runtime *rt, const char *op, strata_tensor *const *in, int n_in,
                       const strata_attr *attrs, int n_attrs, strata_tensor **out);

typedef struct st_node {
    const st_op *op;
    strata_tensor **inputs; /* retained */
    int n_inputs;
    strata_tensor **outputs; /* retained */
    int n_outputs;
    strata_attr *attrs; /* deep copy */
    int n_attrs;
    int seq;
    uint64_t *versions; /* the storages' versions of inputs then outputs when recorded */
    char *layer; /* the layer that recorded it, kept only when detecting anomalies */
} st_node;

struct strata_graph {
    strata_runtime *rt;
    st_node **nodes;
    int n_nodes, cap_nodes;
};

strata_status st_graph_record(strata_runtime *rt, const st_op *op, strata_tensor *const *inputs, int n_in,
                              strata_tensor *const *outputs, int n_out, const strata_attr *attrs,
                              int n_attrs);
strata_graph *st_graph_new(strata_runtime *rt);
void st_graph_free(strata_graph *g);

/* ---- layers and models (model.c) --------------------------------------- */

#define ST_LAYER_MAX_OUT 4

struct strata_layer {
    strata_model *model;
    const st_layer_type *type;
    int index;
    char *name;
    strata_attr *attrs; /* schema attributes with defaults applied */
    int n_attrs;
    int *input_ids; /* >= 0: layer index; < 0: model input (-1 - k) */
    int *input_outs; /* which output of that layer */
    int n_inputs;
    void *state;
    int n_outputs;
    int32_t out_dtype[ST_LAYER_MAX_OUT];
    int out_ndim[ST_LAYER_MAX_OUT]; /* -1: unbatched (a reduced loss) */
    int64_t out_shape[ST_LAYER_MAX_OUT][STRATA_MAX_DIMS];
};

typedef struct st_named_tensor {
    char *name;
    strata_tensor *t;
} st_named_tensor;

typedef struct st_model_input {
    char *name;
    int32_t dtype;
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
} st_model_input;

struct strata_model {
    strata_runtime *rt;
    strata_device *dev;
    st_model_input *inputs;
    int n_inputs, cap_inputs;
    strata_layer **layers;
    int n_layers, cap_layers;
    st_named_tensor *params;
    int n_params, cap_params;
    st_named_tensor *buffers;
    int n_buffers, cap_buffers;
    int *out_ids, *out_outs;
    int n_outputs, cap_outputs, cap_outputs2;
    strata_optimizer **optims; /* those created over it: told when it goes */
    int n_optims, cap_optims;
};

/* The attributes core op @p op takes and their kinds, NULL for another op
 * (op_attrs.c); and the check of a call's attributes against them: an
 * unknown name or a kind the op cannot read is STRATA_E_INVALID naming the
 * op, the attribute and what it takes. */
typedef struct st_op_attrs st_op_attrs;
const st_op_attrs *st_core_op_attrs(const char *op);
/** A plugin op's schema (strata_op_def.attrs, since 1.4) as the core checks it, malloc'ed into *out (NULL for
 *  none); E_INVALID naming the op and the entry for a schema the checker cannot use. */
strata_status st_op_attrs_from_schema(const char *op, const strata_attr_spec *schema, int n, st_op_attrs **out,
                                      uint32_t *required);
/** The call's attributes against @p spec; @p required: bit k, entry k must be given (plugin schemas). */
strata_status st_check_op_attrs(const char *op, const st_op_attrs *spec, uint32_t required,
                               const strata_attr *attrs, int n);
/* Attributes a caller passed: a name each, a known kind, an array for a
 * list of n > 0 and a string for a string; else STRATA_E_INVALID naming
 * @p what (the op, layer or optimizer) and the attribute. */
strata_status st_attrs_check(const char *what, const strata_attr *attrs, int n_attrs);
/** Checks attrs against a schema; returns a deep copy with defaults
 *  applied. @p what names the owner in messages ("layer 'fc1' (linear)").
 *  @p defaults_log (may be NULL) receives one "name = value" line per
 *  default applied (caller frees). */
strata_status st_attrs_apply_schema(const char *what, const strata_attr_spec *schema, int n_schema,
                                    const strata_attr *attrs, int n_attrs, strata_attr **out, int *n_out,
                                    char **defaults_log);

/** The forward pass of strata_model_forward and strata_model_forward_layers,
 *  after their argument checks (n_inputs == m->n_inputs): checks the inputs'
 *  and every layer's outputs' shapes, and on STRATA_OK sets *vals to every
 *  layer's outputs, (n_layers, ST_LAYER_MAX_OUT), owned by the caller, who
 *  frees them with st_model_vals_free. On failure *vals is NULL. */
strata_status st_model_run(strata_model *m, strata_tensor *const *inputs, int n_inputs, int training,
                           strata_tensor ***vals);
/** Releases the tensors of st_model_run's @p vals and frees it; NULL is a no-op. */
void st_model_vals_free(const strata_model *m, strata_tensor **vals);

strata_status st_layer_add_param(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                 const int64_t *shape, strata_tensor **out);
strata_status st_layer_add_buffer(strata_layer *layer, const char *name, strata_dtype dtype, int ndim,
                                  const int64_t *shape, strata_tensor **out);
strata_device *st_layer_device(const strata_layer *layer);
const char *st_layer_name(const strata_layer *layer);
strata_status st_init_uniform(strata_tensor *t, double low, double high);
strata_status st_init_normal(strata_tensor *t, double mean, double std);
/** Zeroes @p t with its backend's own core::fill kernel, when the backend
 *  has one for t's dtype (1 in *done), so a device tensor is zeroed on the
 *  device, queued like any kernel; else *done is 0 and nothing ran. */
strata_status st_zero_on_device(strata_tensor *t, int *done);

/* ---- optimizers (optimizer.c) ------------------------------------------ */

/** Per-parameter slot tensor @p k of parameter @p i (NULL until created). */
int st_optimizer_slot_count(const strata_optimizer *o);
const char *st_optimizer_slot_name(const strata_optimizer *o, int k);
strata_tensor *st_optimizer_slot(strata_optimizer *o, int param, int k, int create);
void st_optimizer_set_steps(strata_optimizer *o, int64_t steps);
/** Hyper-parameters with defaults applied (borrowed). */
const strata_attr *st_optimizer_attrs(const strata_optimizer *o, int *n);
int64_t st_optimizer_param_steps(const strata_optimizer *o, int param);
/** Releases slot @p k of @p param (the state is as before the first step). */
void st_optimizer_drop_slot(strata_optimizer *o, int param, int k);
/* An optimizer created over @p m (st_model_track_optimizer, NOMEM when
 * the list cannot grow) or destroyed (st_model_forget_optimizer); the
 * model's destruction leaves its optimizers without a model
 * (st_optimizer_model_gone), which their calls then report. */
strata_status st_model_track_optimizer(strata_model *m, strata_optimizer *o);
void st_model_forget_optimizer(strata_model *m, strata_optimizer *o);
void st_optimizer_model_gone(strata_optimizer *o);
/** STRATA_E_STATE, naming @p what, unless @p o was created for @p m and
 *  @p m still has the parameters it had then. */
strata_status st_optimizer_check_model(const strata_optimizer *o, const strata_model *m, const char *what);
void st_optimizer_set_param_steps(strata_optimizer *o, int param, int64_t steps);

/* ---- safetensors (io/safetensors.c) ------------------------------------ */

typedef struct st_sft_entry {
    char *name;
    int32_t dtype; /* strata_dtype, or 0 for a dtype Strata does not read */
    char dtype_str[8];
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    uint64_t begin, end; /* byte range in the data section */
} st_sft_entry;

typedef struct st_sft_file {
    char *path;
    st_sft_entry *entries;
    size_t n_entries;
    char **meta_keys, **meta_vals; /* "__metadata__" string map */
    size_t n_meta;
    uint8_t *data; /* the data section (owned) */
    uint64_t data_len;
} st_sft_file;

/** Reads and validates a whole safetensors file. Errors name the file and
 *  the entry: bad header length, invalid JSON, unknown dtype, shape/size
 *  mismatch, offsets past the end or overlapping, overflowing sizes. */
strata_status st_sft_read(const char *path, st_sft_file **out);
strata_status st_sft_parse(const uint8_t *buf, size_t len, const char *name, st_sft_file **out);
void st_sft_free(st_sft_file *f);
const st_sft_entry *st_sft_find(const st_sft_file *f, const char *name);
const char *st_sft_meta(const st_sft_file *f, const char *key);

typedef struct st_sft_tensor_in {
    const char *name;
    int32_t dtype;
    int ndim;
    const int64_t *shape;
    const void *data; /* host, row-major */
} st_sft_tensor_in;

/** Writes atomically: PATH.tmp.<pid> in the same directory, fsync, rename,
 *  fsync(dir). Metadata keys/values are strings. */
strata_status st_sft_write(const char *path, const st_sft_tensor_in *tensors, size_t n, const char *const *meta_keys,
                           const char *const *meta_vals, size_t n_meta);

/* ---- data augmentation (data/augment.c) -------------------------------- */

/** A loader's augmentation settings (strata_loader_set_augment); zero = off. */
typedef struct st_augment {
    double hflip;
    int64_t crop;
} st_augment;

/** The settings of @p l and its data set (dataset.c). */
st_augment *st_loader_augment(strata_loader *l, const strata_dataset **d);
/** Augments a staged batch in place: @p rows examples of @p shape (rank
 *  @p ndim) in @p x, the first at position @p first of epoch @p epoch.
 *  No-op when @p a is off. */
void st_augment_apply(const st_augment *a, float *x, int64_t rows, int ndim, const int64_t *shape, uint64_t seed,
                      int64_t epoch, int64_t first);

/* ---- IDX (data/idx.c) -------------------------------------------------- */

typedef struct st_idx {
    int type; /* 0x08 ubyte, 0x09 byte, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
    int ndim;
    int64_t dims[STRATA_MAX_DIMS];
    int64_t count;
    double *values;      /* count values, converted (st_idx_read, st_idx_parse) */
    uint8_t *raw;        /* st_idx_read_raw: the whole file, owned */
    const uint8_t *data; /* st_idx_read_raw: the first value (big-endian) in raw */
} st_idx;

/** Reads an IDX file, plain or gzip (detected by content), validating the
 *  magic, dims and length. Errors name the file. */
strata_status st_idx_read(const char *path, st_idx *out);
strata_status st_idx_parse(const uint8_t *buf, size_t len, const char *name, st_idx *out);
void st_idx_free(st_idx *x);
/** Like st_idx_read but keeps the file's bytes instead of converting every
 *  value to double (a quarter of the memory for pixels); read values with
 *  st_idx_at. */
strata_status st_idx_read_raw(const char *path, st_idx *out);
double st_idx_at(const st_idx *x, int64_t i);

#endif /* STRATA_INTERNAL_H */
