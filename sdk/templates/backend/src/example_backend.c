/*
 * example_backend.c - a minimal vendor backend, "example": one device whose
 * memory is ordinary host memory, and kernels for four core ops. Copy it,
 * rename "example", and replace the bodies with calls into your driver.
 *
 * What it shows:
 *  - registration: init calls host->register_backend() with a
 *    strata_backend_def, then host->register_kernel() per op;
 *  - the allocator: alloc/free (64-byte aligned, with a live-bytes count;
 *    a device backend allocates device memory here and also provides
 *    copy_to_host / copy_from_host / copy_on_device);
 *  - the capability query: supports_op says, per call, whether a kernel
 *    handles these dtypes, shapes and attrs (mul with broadcasting, matmul
 *    with transposes: no);
 *  - the fallback: for everything it lacks (every other op, and the calls
 *    supports_op declines) the core uses the op's host kernel directly on
 *    this memory (STRATA_BACKEND_HOST_MEMORY; plugins' ops have one, the
 *    core's ops do not), the op's composite, or runs
 *    the op on a host backend with copies and one warning per op
 *    (STRATA_STRICT=1 makes that an error). So the backend is complete from
 *    its first kernel on, and `strata check --backend example` checks the
 *    ones it claims against ref.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <strata/strata_backend.h>

#define EXAMPLE_NAME "example"
#define EXAMPLE_ALIGN 64

typedef struct example_backend {
    const strata_host_api *host;
    size_t live_bytes; /* allocated and not yet freed */
    size_t peak_bytes;
} example_backend;

/* ---- devices ----------------------------------------------------------- */

static int example_device_count(void *self)
{
    (void)self;
    return 1; /* a real backend asks its driver; 0 (with unavailable()) when there is none */
}

static const char *example_device_name(void *self, int dev)
{
    (void)self;
    (void)dev;
    return "example host device (SDK template)";
}

static const char *example_unavailable(void *self)
{
    (void)self;
    return ""; /* e.g. "no driver found": shown by strata info when device_count is 0 */
}

/* ---- memory ------------------------------------------------------------ */

/* A size header in front of each block keeps the live-bytes count exact. */
static strata_status example_alloc(void *self, int dev, size_t bytes, void **out)
{
    (void)dev;
    example_backend *b = self;
    size_t total = EXAMPLE_ALIGN + ((bytes + EXAMPLE_ALIGN - 1) / EXAMPLE_ALIGN) * EXAMPLE_ALIGN;
    unsigned char *p = aligned_alloc(EXAMPLE_ALIGN, total);
    if (!p)
        return b->host->set_error(STRATA_E_NOMEM, "example: cannot allocate %zu bytes on device %d", bytes, dev);
    memcpy(p, &bytes, sizeof bytes);
    b->live_bytes += bytes;
    if (b->live_bytes > b->peak_bytes)
        b->peak_bytes = b->live_bytes;
    *out = p + EXAMPLE_ALIGN;
    return STRATA_OK;
}

static void example_free(void *self, int dev, void *ptr)
{
    (void)dev;
    if (!ptr)
        return;
    example_backend *b = self;
    unsigned char *p = (unsigned char *)ptr - EXAMPLE_ALIGN;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    b->live_bytes -= bytes;
    free(p);
}

/* ---- capability query -------------------------------------------------- */

static int same_shape(const strata_tensor_desc *a, const strata_tensor_desc *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k])
            return 0;
    return 1;
}

static int example_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *in,
                               int n_in, const strata_attr *attrs, int n_attrs)
{
    (void)self;
    (void)dev;
    if (version != 1)
        return 0;
    for (int k = 0; k < n_in; k++)
        if (in[k].dtype != STRATA_F32)
            return 0;
    if (!strcmp(op, "core::add") || !strcmp(op, "core::mul"))
        return n_in == 2 && same_shape(&in[0], &in[1]); /* no broadcasting here */
    if (!strcmp(op, "core::relu"))
        return n_in == 1;
    if (!strcmp(op, "core::matmul")) /* plain 2-D A (M, K) @ B (K, N) */
        return n_in == 2 && in[0].ndim == 2 && in[1].ndim == 2 && !strata_attr_get_int(attrs, n_attrs, "trans_a", 0) &&
               !strata_attr_get_int(attrs, n_attrs, "trans_b", 0);
    return 0;
}

/* ---- kernels ----------------------------------------------------------- */
/* Inputs and outputs are contiguous (the ops are not STRATA_OP_STRIDED) and
 * already shape-checked by the op's infer; supports_op has said yes. */

/* y = a + b; a, b, y (n). */
static strata_status example_add(const strata_kernel_call *c)
{
    const float *a = strata_desc_ptr(&c->inputs[0]), *b = strata_desc_ptr(&c->inputs[1]);
    float *y = strata_desc_ptr(&c->outputs[0]);
    const int64_t n = strata_desc_numel(&c->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
    return STRATA_OK;
}

/* y = a * b; a, b, y (n). */
static strata_status example_mul(const strata_kernel_call *c)
{
    const float *a = strata_desc_ptr(&c->inputs[0]), *b = strata_desc_ptr(&c->inputs[1]);
    float *y = strata_desc_ptr(&c->outputs[0]);
    const int64_t n = strata_desc_numel(&c->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
    return STRATA_OK;
}

/* y = max(x, 0); x, y (n). */
static strata_status example_relu(const strata_kernel_call *c)
{
    const float *x = strata_desc_ptr(&c->inputs[0]);
    float *y = strata_desc_ptr(&c->outputs[0]);
    const int64_t n = strata_desc_numel(&c->outputs[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return STRATA_OK;
}

/* y = a @ b; a (M, K), b (K, N), y (M, N); sums in double, as ref does. */
static strata_status example_matmul(const strata_kernel_call *c)
{
    const float *a = strata_desc_ptr(&c->inputs[0]), *b = strata_desc_ptr(&c->inputs[1]);
    float *y = strata_desc_ptr(&c->outputs[0]);
    const int64_t M = c->inputs[0].shape[0], K = c->inputs[0].shape[1], N = c->inputs[1].shape[1];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)a[i * K + k] * (double)b[k * N + j];
            y[i * N + j] = (float)acc;
        }
    return STRATA_OK;
}

static void example_destroy(void *self)
{
    free(self);
}

/* ---- entry ------------------------------------------------------------- */

static const struct {
    const char *op;
    strata_kernel_fn fn;
} example_kernels[] = {
    {"core::add", example_add},
    {"core::mul", example_mul},
    {"core::relu", example_relu},
    {"core::matmul", example_matmul},
};

static strata_status example_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    example_backend *b = calloc(1, sizeof *b);
    if (!b)
        return host->set_error(STRATA_E_NOMEM, "example: out of memory");
    b->host = host;

    strata_backend_def def = {0};
    def.struct_size = sizeof def;
    def.name = EXAMPLE_NAME;
    def.priority = -10; /* below ref (0): never the default device unless asked for */
    def.flags = STRATA_BACKEND_HOST_MEMORY;
    def.self = b;
    def.device_count = example_device_count;
    def.device_name = example_device_name;
    def.unavailable = example_unavailable;
    def.alloc = example_alloc;
    def.free = example_free;
    def.supports_op = example_supports_op;
    def.destroy = example_destroy;
    strata_status rc = host->register_backend(plugin, &def);
    if (rc != STRATA_OK) {
        free(b); /* not registered: destroy will never be called */
        return rc;
    }
    /* From here the runtime owns b (def.destroy frees it). */
    for (size_t k = 0; k < sizeof example_kernels / sizeof example_kernels[0]; k++) {
        rc = host->register_kernel(plugin, EXAMPLE_NAME, example_kernels[k].op, 1, example_kernels[k].fn, b);
        if (rc != STRATA_OK)
            return rc;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("example_backend", "1.0.0", "SDK template: a host-memory backend with four kernels",
                     example_init, NULL)
