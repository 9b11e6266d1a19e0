/*
 * strata_types.h - types shared by all three public headers.
 *
 * Part of the Strata ABI. Everything declared here crosses the boundary
 * between libstrata, backends and plugins, so layouts are frozen once
 * released (sdk/abi/abi_layout.c checks them at compile time) and only
 * grow at the end.
 */
#ifndef STRATA_TYPES_H
#define STRATA_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version. A different major is refused at load; minor only grows. @since 1.0 */
#define STRATA_ABI_MAJOR 1
#define STRATA_ABI_MINOR 4

#if defined(_WIN32)
#define STRATA_EXPORT __declspec(dllexport)
#else
#define STRATA_EXPORT __attribute__((visibility("default")))
#endif

/* STRATA_API marks functions exported by libstrata itself. */
#ifndef STRATA_API
#define STRATA_API STRATA_EXPORT
#endif

/** Maximum number of dimensions of a tensor. @since 1.0 */
#define STRATA_MAX_DIMS 8

/*
 * Status codes. One X-macro generates the enum and strata_status_name(),
 * so the two can never drift apart.
 */
#define STRATA_STATUS_MAP(X)                                                   \
    X(OK, 0, "success")                                                        \
    X(E_INVALID, 1, "invalid argument")                                        \
    X(E_NOMEM, 2, "out of memory")                                             \
    X(E_IO, 3, "input/output error")                                           \
    X(E_FORMAT, 4, "malformed file or data")                                   \
    X(E_SHAPE, 5, "shape mismatch")                                            \
    X(E_DTYPE, 6, "unsupported or mismatched dtype")                           \
    X(E_NOT_FOUND, 7, "not found")                                             \
    X(E_UNSUPPORTED, 8, "not supported")                                       \
    X(E_ABI, 9, "ABI version mismatch")                                        \
    X(E_PLUGIN, 10, "plugin failed")                                           \
    X(E_BACKEND, 11, "backend or device error")                                \
    X(E_NUMERIC, 12, "non-finite value")                                       \
    X(E_STATE, 13, "call not valid in this state")                             \
    X(E_EXISTS, 14, "already exists")                                          \
    X(E_INTERNAL, 15, "internal error")

typedef enum strata_status {
#define STRATA_X_ENUM(name, value, text) STRATA_##name = value,
    STRATA_STATUS_MAP(STRATA_X_ENUM)
#undef STRATA_X_ENUM
} strata_status;

/** Element types. Values are frozen. @since 1.0 */
typedef enum strata_dtype {
    STRATA_F32 = 1,
    STRATA_I32 = 2,
    STRATA_I64 = 3,
    STRATA_F16 = 4, /* storage only: core::cast converts it (@since 1.3; strata_half.h) */
    STRATA_BF16 = 5 /* storage only: core::cast converts it (@since 1.3; strata_half.h) */
} strata_dtype;

/* Opaque handles owned by the core. */
typedef struct strata_runtime strata_runtime;
typedef struct strata_tensor strata_tensor;
typedef struct strata_graph strata_graph;
typedef struct strata_model strata_model;
typedef struct strata_layer strata_layer;
typedef struct strata_optimizer strata_optimizer;
typedef struct strata_device strata_device;
typedef struct strata_plugin strata_plugin;

/** Kinds of attribute value. Values are frozen. @since 1.0 */
typedef enum strata_attr_kind {
    STRATA_ATTR_INT = 1,    /* i */
    STRATA_ATTR_FLOAT = 2,  /* f */
    STRATA_ATTR_INTS = 3,   /* ints[0..n) */
    STRATA_ATTR_FLOATS = 4, /* floats[0..n) */
    STRATA_ATTR_STRING = 5  /* s, NUL-terminated */
} strata_attr_kind;

/**
 * A named attribute of an op, layer or optimizer ("axis", "alpha", "lr").
 * Passed in arrays, so its layout is frozen: it never grows. The caller owns
 * every pointer inside; the callee copies what it keeps.
 * struct_size must be sizeof(strata_attr).
 * @since 1.0
 */
typedef struct strata_attr {
    size_t struct_size;
    const char *name;
    int32_t kind; /* strata_attr_kind */
    int32_t n;    /* element count for INTS/FLOATS */
    int64_t i;
    double f;
    const int64_t *ints;
    const double *floats;
    const char *s;
} strata_attr;

/**
 * A tensor as a kernel or shape function sees it: plain row-major metadata
 * plus the storage address. Passed in arrays; layout frozen.
 *
 * data is the backend's buffer handle for the storage (a host pointer for
 * host-memory backends, a device pointer or cl_mem otherwise); the first
 * element is at byte_offset from it. strides are in elements. Unless an op
 * is registered with STRATA_OP_STRIDED, kernels receive contiguous inputs
 * and outputs (strides are the row-major ones).
 * @since 1.0
 */
typedef struct strata_tensor_desc {
    size_t struct_size;
    int32_t dtype; /* strata_dtype */
    int32_t ndim;
    int64_t shape[STRATA_MAX_DIMS];
    int64_t strides[STRATA_MAX_DIMS];
    void *data;
    size_t byte_offset;
} strata_tensor_desc;

/** Flags for strata_op_invocation.flags. */
enum {
    /** outputs[] hold caller-provided tensors to write into (in-place
     *  updates such as optimizer steps). Not recorded for autograd. */
    STRATA_INVOKE_OUTPUTS_PROVIDED = 1u << 0
};

/**
 * A full op invocation. Zero-initialise and set struct_size.
 * @since 1.0
 */
typedef struct strata_op_invocation {
    size_t struct_size;
    void *ext;
    const char *op;      /* "core::add" */
    int32_t version;     /* 0 = newest registered */
    uint32_t flags;
    strata_tensor *const *inputs;
    int32_t n_inputs;
    const strata_attr *attrs;
    int32_t n_attrs;
    strata_tensor **outputs; /* n_outputs slots; new references unless OUTPUTS_PROVIDED */
    int32_t n_outputs;
} strata_op_invocation;

/* --- attribute helpers (header-only; no ABI surface) -------------------- */

static inline strata_attr strata_attr_int(const char *name, int64_t v)
{
    strata_attr a = {sizeof(strata_attr), name, STRATA_ATTR_INT, 1, v, (double)v, NULL, NULL, NULL};
    return a;
}
static inline strata_attr strata_attr_float(const char *name, double v)
{
    /* the integer view of a NaN, an infinity or a value out of int64's range is 0
     * (converting those is undefined behaviour in C) */
    int64_t i = v > -9.2e18 && v < 9.2e18 ? (int64_t)v : 0;
    strata_attr a = {sizeof(strata_attr), name, STRATA_ATTR_FLOAT, 1, i, v, NULL, NULL, NULL};
    return a;
}
static inline strata_attr strata_attr_ints(const char *name, const int64_t *v, int n)
{
    strata_attr a = {sizeof(strata_attr), name, STRATA_ATTR_INTS, n, 0, 0.0, v, NULL, NULL};
    return a;
}
static inline strata_attr strata_attr_floats(const char *name, const double *v, int n)
{
    strata_attr a = {sizeof(strata_attr), name, STRATA_ATTR_FLOATS, n, 0, 0.0, NULL, v, NULL};
    return a;
}
static inline strata_attr strata_attr_string(const char *name, const char *s)
{
    strata_attr a = {sizeof(strata_attr), name, STRATA_ATTR_STRING, 1, 0, 0.0, NULL, NULL, s};
    return a;
}

/** Finds attribute @p name in @p attrs, or NULL. */
static inline const strata_attr *strata_attr_find(const strata_attr *attrs, int n, const char *name)
{
    for (int k = 0; k < n; k++) {
        const char *a = attrs[k].name, *b = name;
        while (*a && *a == *b) {
            a++;
            b++;
        }
        if (*a == *b)
            return &attrs[k];
    }
    return NULL;
}
/** Integer attribute @p name, or @p dflt when absent. FLOAT values are truncated. */
static inline int64_t strata_attr_get_int(const strata_attr *attrs, int n, const char *name, int64_t dflt)
{
    const strata_attr *a = strata_attr_find(attrs, n, name);
    if (!a)
        return dflt;
    return a->kind == STRATA_ATTR_FLOAT ? (int64_t)a->f : a->i;
}
/** Float attribute @p name, or @p dflt when absent. INT values are converted. */
static inline double strata_attr_get_float(const strata_attr *attrs, int n, const char *name, double dflt)
{
    const strata_attr *a = strata_attr_find(attrs, n, name);
    if (!a)
        return dflt;
    return a->kind == STRATA_ATTR_INT ? (double)a->i : a->f;
}

/** Number of elements described by @p d. */
static inline int64_t strata_desc_numel(const strata_tensor_desc *d)
{
    int64_t n = 1;
    for (int k = 0; k < d->ndim; k++)
        n *= d->shape[k];
    return n;
}

/** Name of @p dtype for messages: "f32", "i32", "i64", "f16", "bf16", or
 *  "unknown". Header-only, so it works with every 1.x core. */
static inline const char *strata_dtype_name(int32_t dtype)
{
    switch (dtype) {
    case STRATA_F32:
        return "f32";
    case STRATA_I32:
        return "i32";
    case STRATA_I64:
        return "i64";
    case STRATA_F16:
        return "f16";
    case STRATA_BF16:
        return "bf16";
    default:
        return "unknown";
    }
}

/** Size in bytes of one element of @p dtype, or 0 if unknown. */
static inline size_t strata_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case STRATA_F32:
    case STRATA_I32:
        return 4;
    case STRATA_I64:
        return 8;
    case STRATA_F16:
    case STRATA_BF16:
        return 2;
    default:
        return 0;
    }
}

/** Host address of the first element, for host-memory backends. */
static inline void *strata_desc_ptr(const strata_tensor_desc *d)
{
    return (char *)d->data + d->byte_offset;
}

#ifdef __cplusplus
}
#endif
#endif /* STRATA_TYPES_H */
