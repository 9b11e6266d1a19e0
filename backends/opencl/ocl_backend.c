/*
 * ocl_backend.c - the opencl backend's entry point: enumerates every
 * OpenCL platform and device, registers the backend ("opencl", priority 5:
 * below cpu, so it runs only when asked for with --backend opencl or
 * STRATA_BACKEND) and a kernel for every op it implements.
 *
 * Devices are numbered platform by platform in the order the ICD loader
 * lists them; STRATA_OPENCL_DEVICE=P:D (platform P, device D of it) moves
 * that device to index 0, the one `--backend opencl` takes. With no
 * platform (no ICD installed: clGetPlatformIDs returns -1001), no device,
 * or a STRATA_OPENCL_DEVICE naming none, the backend registers zero devices
 * and says why; it never fails init for that.
 *
 * The enumeration waits until the core first asks for the devices (the
 * ICD loader opening PoCL costs about 0.1 s and 60 MB), so a process that
 * never uses opencl never pays for it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ocl_internal.h"

/* The only static state: written once by ocl_init. */
const strata_host_api *ocl_host;
static pthread_mutex_t ocl_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* clGetPlatformIDs when the ICD loader finds no vendor (cl_khr_icd). */
#define OCL_PLATFORM_NOT_FOUND_KHR (-1001)
#define OCL_MAX_PLATFORMS 16
#define OCL_MAX_DEVICES 64

typedef struct ocl_kernel_entry {
    const char *op;
    strata_kernel_fn fn;
} ocl_kernel_entry;

static const ocl_kernel_entry ocl_kernels[] = {
    /* elementwise */
    {"core::add", ocl_add},
    {"core::sub", ocl_sub},
    {"core::mul", ocl_mul},
    {"core::div", ocl_div},
    {"core::neg", ocl_neg},
    {"core::exp", ocl_exp},
    {"core::log", ocl_log},
    {"core::sqrt", ocl_sqrt},
    {"core::abs", ocl_abs},
    {"core::relu", ocl_relu},
    {"core::leaky_relu", ocl_leaky_relu},
    {"core::sigmoid", ocl_sigmoid},
    {"core::tanh", ocl_tanh},
    {"core::gelu", ocl_gelu},
    {"core::pow", ocl_pow},
    {"core::scale", ocl_scale},
    {"core::cast", ocl_cast},
    {"core::eltwise_backward", ocl_eltwise_backward},
    /* linear algebra: one tiled GEMM */
    {"core::matmul", ocl_matmul},
    {"core::linear", ocl_linear},
    /* reductions */
    {"core::sum", ocl_sum},
    {"core::mean", ocl_mean},
    {"core::sum_to_shape", ocl_sum_to_shape},
    {"core::max", ocl_max},
    {"core::argmax", ocl_argmax},
    {"core::max_backward", ocl_max_backward},
    /* normalisation and losses */
    {"core::softmax", ocl_softmax},
    {"core::log_softmax", ocl_log_softmax},
    {"core::softmax_backward", ocl_softmax_backward},
    {"core::log_softmax_backward", ocl_log_softmax_backward},
    {"core::cross_entropy", ocl_cross_entropy},
    {"core::cross_entropy_backward", ocl_cross_entropy_backward},
    {"core::bce_with_logits", ocl_bce_with_logits},
    {"core::bce_with_logits_backward", ocl_bce_with_logits_backward},
    /* data movement and creation */
    {"core::copy", ocl_copy},
    {"core::concat", ocl_concat},
    {"core::slice_backward", ocl_slice_backward},
    /* indexing */
    {"core::embedding", ocl_embedding},
    {"core::embedding_backward", ocl_embedding_backward},
    {"core::gather", ocl_gather},
    {"core::gather_backward", ocl_gather_backward},
    {"core::one_hot", ocl_one_hot},
    {"core::fill", ocl_fill},
    /* Philox */
    {"core::uniform", ocl_uniform},
    {"core::normal", ocl_normal},
    {"core::dropout", ocl_dropout},
    /* optimizer updates */
    {"core::sgd_step", ocl_sgd_step},
    {"core::adam_step", ocl_adam_step},
    {"core::rmsprop_step", ocl_rmsprop_step},
    {"core::adagrad_step", ocl_adagrad_step},
    /* the conv plugin's ops: registered by name, resolved whenever the
     * plugin that defines them loads (before or after this backend) */
    {"conv::conv2d", ocl_conv2d},
    {"conv::conv2d_backward_data", ocl_conv2d_backward_data},
    {"conv::conv2d_backward_weight", ocl_conv2d_backward_weight},
    {"conv::conv_transpose2d", ocl_conv_transpose2d},
    {"conv::max_pool2d", ocl_max_pool2d},
    {"conv::max_pool2d_backward", ocl_max_pool2d_backward},
    {"conv::avg_pool2d", ocl_avg_pool2d},
    {"conv::avg_pool2d_backward", ocl_avg_pool2d_backward},
    {"conv::global_avg_pool2d", ocl_global_avg_pool2d},
    {"conv::batch_norm", ocl_batch_norm},
    {"conv::batch_norm_backward", ocl_batch_norm_backward},
    {"conv::batch_norm_update_stats", ocl_batch_norm_update_stats},
    {"conv::dropout2d", ocl_dropout2d},
    /* the gan plugin's in-place average */
    {"gan::ema_update", ocl_ema_update},
    /* the lstm plugin's sequence ops: a GEMM and a gate kernel per step */
    {"lstm::lstm_seq", ocl_lstm_seq},
    {"lstm::lstm_seq_backward", ocl_lstm_seq_backward},
    {"lstm::gru_seq", ocl_gru_seq},
    {"lstm::gru_seq_backward", ocl_gru_seq_backward},
    {"lstm::rnn_seq", ocl_rnn_seq},
    {"lstm::rnn_seq_backward", ocl_rnn_seq_backward},
    /* the memnet plugin's sentence encoding */
    {"memnet::encode", ocl_mn_encode},
    {"memnet::encode_backward", ocl_mn_encode_backward},
    {"memnet::slot_mask", ocl_mn_slot_mask},
};

/* Every registered op runs any shape, except: uniform, normal and
 * max_pool2d_backward round a double result (they need cl_khr_fp64), and
 * the GEMM (matmul, linear, the lstm plugin's sequence ops) needs 16x16
 * work-groups. */
int ocl_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                    int n_inputs, const strata_attr *attrs, int n_attrs)
{
    (void)version;
    (void)inputs;
    (void)n_inputs;
    (void)attrs;
    (void)n_attrs;
    ocl_backend *b = self;
    if (!b || dev < 0 || dev >= b->n_devices || !op)
        return 0;
    const ocl_device *d = &b->devs[dev];
    if (!strcmp(op, "core::uniform") || !strcmp(op, "core::normal") || !strcmp(op, "conv::max_pool2d_backward"))
        return d->fp64;
    if (!strcmp(op, "core::matmul") || !strcmp(op, "core::linear") || !strncmp(op, "lstm::", 6))
        return d->build_tried && d->build_rc == STRATA_OK ? d->gemm_ok : d->max_wg >= 256;
    return 1;
}

static void ocl_enumerate(ocl_backend *b, const strata_host_api *host, strata_runtime *rt);

/* Enumerates the devices the first time any of the three below is asked. */
static ocl_backend *ocl_listed(void *self)
{
    ocl_backend *b = self;
    /* the platform and device queries are not thread-safe in every ICD (PoCL's
     * topology detection crashed with runtimes created on 3-4 threads at once) */
    pthread_mutex_lock(&ocl_init_lock);
    if (!b->listed) {
        ocl_enumerate(b, ocl_host, b->rt);
        b->listed = 1;
    }
    pthread_mutex_unlock(&ocl_init_lock);
    return b;
}

static int ocl_device_count(void *self)
{
    return ocl_listed(self)->n_devices;
}

static const char *ocl_device_name(void *self, int dev)
{
    ocl_backend *b = ocl_listed(self);
    return dev >= 0 && dev < b->n_devices ? b->devs[dev].name : "no such opencl device";
}

static const char *ocl_unavailable(void *self)
{
    ocl_backend *b = ocl_listed(self);
    return b->n_devices ? NULL : b->why_not;
}

static void ocl_destroy(void *self)
{
    ocl_backend *b = self;
    if (!b)
        return;
    for (int k = 0; k < b->n_devices; k++) {
        ocl_device *d = &b->devs[k];
        if (d->queue)
            clFinish(d->queue);
        ocl_pool_trim(d);
        free(d->free_blocks);
        for (int i = 0; i < OCL_K_COUNT; i++)
            if (d->kernels[i])
                clReleaseKernel(d->kernels[i]);
        if (d->program)
            clReleaseProgram(d->program);
        if (d->queue)
            clReleaseCommandQueue(d->queue);
        if (d->ctx)
            clReleaseContext(d->ctx);
        pthread_mutex_destroy(&d->lock);
    }
    free(b->devs);
    free(b);
}

/* Creates the context and in-order queue; d->lock held. */
static strata_status ocl_open_locked(ocl_device *d)
{
    if (d->ctx)
        return STRATA_OK;
    cl_int err = CL_SUCCESS;
    cl_context_properties props[3] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
    d->ctx = clCreateContext(props, 1, &d->id, NULL, NULL, &err);
    if (!d->ctx)
        return ocl_cl_fail(d->name, "clCreateContext", err);
    d->queue = clCreateCommandQueue(d->ctx, d->id, 0, &err);
    if (!d->queue) {
        clReleaseContext(d->ctx);
        d->ctx = NULL;
        return ocl_cl_fail(d->name, "clCreateCommandQueue", err);
    }
    return STRATA_OK;
}

strata_status ocl_device_open(ocl_device *d)
{
    pthread_mutex_lock(&d->lock);
    strata_status rc = ocl_open_locked(d);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

strata_status ocl_device_ready(ocl_device *d)
{
    pthread_mutex_lock(&d->lock);
    strata_status rc = ocl_open_locked(d);
    if (rc == STRATA_OK && !d->build_tried) {
        d->build_tried = 1;
        d->build_rc = ocl_program_build(d);
    }
    if (rc == STRATA_OK)
        rc = d->build_rc;
    if (rc && d->build_tried && d->build_rc && ocl_host) /* every later call reports the same failure */
        ocl_host->set_error(rc, "%s", d->build_error);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* A string device or platform property; "" when the query fails. */
static void ocl_dev_str(cl_device_id id, cl_device_info what, char *buf, size_t n)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(id, what, n, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[n - 1] = '\0';
}

static void ocl_plat_str(cl_platform_id id, cl_platform_info what, char *buf, size_t n)
{
    buf[0] = '\0';
    if (clGetPlatformInfo(id, what, n, buf, NULL) != CL_SUCCESS)
        buf[0] = '\0';
    buf[n - 1] = '\0';
}

/* Parses STRATA_OPENCL_DEVICE ("P:D"); 0 when unset, -1 when malformed. */
static int ocl_env_choice(int *p, int *dv)
{
    const char *v = getenv("STRATA_OPENCL_DEVICE");
    if (!v || !*v)
        return 0;
    char *end = NULL;
    long a = strtol(v, &end, 10);
    if (end == v || *end != ':')
        return -1;
    const char *s = end + 1;
    long b = strtol(s, &end, 10);
    if (end == s || *end != '\0' || a < 0 || b < 0 || a > 1000 || b > 1000)
        return -1;
    *p = (int)a;
    *dv = (int)b;
    return 1;
}

/* STRATA_OPENCL_CONV_ITEMS: 1 "element", 0 "plane", -1 unset or anything else (ocl_enumerate warns of that). */
static int ocl_conv_items_env(void)
{
    const char *items = getenv("STRATA_OPENCL_CONV_ITEMS");
    return !items ? -1 : !strcmp(items, "element") ? 1 : !strcmp(items, "plane") ? 0 : -1;
}

/* Fills @p d from device @p id (platform @p pi, device @p di of it). */
/* A switch in the environment as the core reads its own (STRATA_STRICT): -1 unset or empty; 0 for 0, false,
 * no or off (any case); 1 otherwise (STRATA_OPENCL_DIRECT_CONV=false read as on). */
static int ocl_env_switch(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    return strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no") && strcasecmp(v, "off");
}

static void ocl_describe(ocl_device *d, cl_platform_id plat, cl_device_id id, int pi, int di)
{
    char pname[128], pver[128], dname[128], vendor[128], dver[128], drv[128], ext[4096];
    ocl_plat_str(plat, CL_PLATFORM_NAME, pname, sizeof pname);
    ocl_plat_str(plat, CL_PLATFORM_VERSION, pver, sizeof pver);
    ocl_dev_str(id, CL_DEVICE_NAME, dname, sizeof dname);
    ocl_dev_str(id, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    ocl_dev_str(id, CL_DEVICE_VERSION, dver, sizeof dver);
    ocl_dev_str(id, CL_DRIVER_VERSION, drv, sizeof drv);
    ocl_dev_str(id, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    d->platform_index = pi;
    d->device_index = di;
    d->platform = plat;
    d->id = id;
    d->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    size_t wg = 0;
    if (clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) != CL_SUCCESS || !wg)
        wg = 1;
    d->max_wg = wg;
    cl_ulong mem = 0;
    clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    cl_device_type type = 0;
    clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    d->cpu_type = (type & CL_DEVICE_TYPE_CPU) != 0;
    d->is_cpu = d->cpu_type && ocl_env_switch("STRATA_OPENCL_TILED_GEMM") != 1;
    d->sync_each = ocl_env_switch("STRATA_OPENCL_SYNC") == 1;
    d->conv_direct = ocl_env_switch("STRATA_OPENCL_DIRECT_CONV"); /* -1: each layer's own choice */
    const int items = ocl_conv_items_env();
    d->conv_el = items >= 0 ? items : !d->cpu_type;
    d->global_mem = mem;
    snprintf(d->name, sizeof d->name, "%s [%d:%d] (%s, driver %s, %.1f GiB%s)", dname, pi, di, dver, drv,
             (double)mem / (1024.0 * 1024.0 * 1024.0), d->fp64 ? ", fp64" : "");
    snprintf(d->cache_key, sizeof d->cache_key, "%s|%s|%s|%s|%s|%s", pname, pver, vendor, dname, dver, drv);
    pthread_mutex_init(&d->lock, NULL);
}

/* Enumerates every device of every platform into @p b (or the reason
 * there is none into b->why_not). */
static void ocl_enumerate(ocl_backend *b, const strata_host_api *host, strata_runtime *rt)
{
    cl_platform_id plats[OCL_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(OCL_MAX_PLATFORMS, plats, &np);
    if (err == OCL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        snprintf(b->why_not, sizeof b->why_not,
                 "no OpenCL platform: the ICD loader found no installed driver (clGetPlatformIDs returned %d, "
                 "CL_PLATFORM_NOT_FOUND_KHR); install a vendor's OpenCL driver or PoCL (Debian pocl-opencl-icd), "
                 "or check OCL_ICD_VENDORS and /etc/OpenCL/vendors",
                 (int)err);
        return;
    }
    if (err != CL_SUCCESS) {
        snprintf(b->why_not, sizeof b->why_not, "clGetPlatformIDs failed with %s (%d)", ocl_cl_error_name(err),
                 (int)err);
        return;
    }
    if (np > OCL_MAX_PLATFORMS)
        np = OCL_MAX_PLATFORMS;

    ocl_device *devs = calloc(OCL_MAX_DEVICES, sizeof *devs);
    if (!devs) {
        snprintf(b->why_not, sizeof b->why_not, "out of memory: %zu bytes enumerating OpenCL devices",
                 sizeof *devs * OCL_MAX_DEVICES);
        return;
    }
    int n = 0;
    char skipped[256] = "";
    for (cl_uint p = 0; p < np && n < OCL_MAX_DEVICES; p++) {
        cl_device_id ids[OCL_MAX_DEVICES];
        cl_uint nd = 0;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, OCL_MAX_DEVICES, ids, &nd);
        char pname[128] = "";
        if (err != CL_SUCCESS) /* PoCL finds no device when it cannot make its kernel cache (a read-only HOME) */
            clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        if (err != CL_SUCCESS && strstr(pname, "Portable Computing Language"))
            snprintf(skipped, sizeof skipped,
                     " (platform %u, PoCL: clGetDeviceIDs gave %d; PoCL does so when it cannot write its kernel "
                     "cache, ~/.cache/pocl or $POCL_CACHE_DIR)",
                     p, (int)err);
        if (err != CL_SUCCESS || !nd)
            continue;
        if (nd > OCL_MAX_DEVICES)
            nd = OCL_MAX_DEVICES;
        for (cl_uint k = 0; k < nd && n < OCL_MAX_DEVICES; k++) {
            cl_bool avail = CL_FALSE, compiler = CL_FALSE;
            clGetDeviceInfo(ids[k], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
            clGetDeviceInfo(ids[k], CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
            if (!avail || !compiler) {
                snprintf(skipped, sizeof skipped, " (device %u:%u skipped: %s)", p, k,
                         !avail ? "not available" : "no OpenCL C compiler");
                if (host->log && rt)
                    host->log(rt, STRATA_LOG_INFO, "opencl: device %u:%u skipped: %s", p, k,
                              !avail ? "not available" : "no OpenCL C compiler");
                continue;
            }
            ocl_describe(&devs[n++], plats[p], ids[k], (int)p, (int)k);
        }
    }
    if (!n) {
        free(devs);
        snprintf(b->why_not, sizeof b->why_not, "%u OpenCL platform(s) but no usable device%s", np, skipped);
        return;
    }
    const char *items = getenv("STRATA_OPENCL_CONV_ITEMS");
    if (items && *items && ocl_conv_items_env() < 0 && host->log && rt)
        host->log(rt, STRATA_LOG_WARN,
                  "opencl: STRATA_OPENCL_CONV_ITEMS=\"%s\" is neither \"element\" nor \"plane\"; each device keeps "
                  "its default (element on a GPU, plane on a CPU)",
                  items);

    int cp = 0, cd = 0, choice = ocl_env_choice(&cp, &cd);
    if (choice < 0) {
        snprintf(b->why_not, sizeof b->why_not,
                 "STRATA_OPENCL_DEVICE=\"%s\" is not PLATFORM:DEVICE (two numbers, as `strata info` lists them)",
                 getenv("STRATA_OPENCL_DEVICE"));
    } else if (choice > 0) {
        int at = -1;
        for (int k = 0; k < n; k++)
            if (devs[k].platform_index == cp && devs[k].device_index == cd)
                at = k;
        if (at < 0) {
            int len = snprintf(b->why_not, sizeof b->why_not, "STRATA_OPENCL_DEVICE=%d:%d names no device; there are",
                               cp, cd);
            for (int k = 0; k < n && len > 0 && (size_t)len < sizeof b->why_not; k++)
                len += snprintf(b->why_not + len, sizeof b->why_not - (size_t)len, " %d:%d", devs[k].platform_index,
                                devs[k].device_index);
        } else if (at > 0) { /* the chosen device becomes device 0; the others keep their order */
            ocl_device chosen = devs[at];
            memmove(&devs[1], &devs[0], sizeof *devs * (size_t)at);
            devs[0] = chosen;
        }
    }
    if (b->why_not[0]) {
        for (int k = 0; k < n; k++)
            pthread_mutex_destroy(&devs[k].lock);
        free(devs);
        return;
    }
    b->devs = devs;
    b->n_devices = n;
}

/* Every kernel runs through here. The kernels store from the start of
 * their outputs' buffers (a cl_mem has no pointer to offset), but a caller
 * may provide an output that starts partway into its buffer (a slice of a
 * larger tensor, STRATA_INVOKE_OUTPUTS_PROVIDED), and the backend contract
 * gives outputs a byte_offset as it gives inputs. Such an output runs on a
 * temporary buffer holding its current contents (in-place ops read them),
 * copied back after the kernel. */
static strata_status ocl_run(const strata_kernel_call *call)
{
    const ocl_kernel_entry *e = call->user;
    strata_kernel_call plain = *call;
    plain.user = NULL;
    int shifted = 0;
    for (int k = 0; k < call->n_outputs; k++)
        shifted |= call->outputs[k].byte_offset != 0 && strata_desc_numel(&call->outputs[k]) > 0;
    if (!shifted)
        return e->fn(&plain);
    enum { MAX_OUT = 16 };
    if (call->n_outputs > MAX_OUT)
        return kc_error(call, STRATA_E_UNSUPPORTED, "%d outputs, more than the %d this backend takes",
                        (int)call->n_outputs, MAX_OUT);
    ocl_device *d = NULL;
    strata_status s = ocl_call_device(call, &d);
    if (s != STRATA_OK)
        return s;
    strata_tensor_desc outs[MAX_OUT];
    cl_mem tmp[MAX_OUT] = {0};
    size_t bytes[MAX_OUT] = {0};
    for (int k = 0; k < call->n_outputs && s == STRATA_OK; k++) {
        const strata_tensor_desc *o = &call->outputs[k];
        outs[k] = *o;
        bytes[k] = (size_t)strata_desc_numel(o) * strata_dtype_size(o->dtype);
        if (!o->byte_offset || !bytes[k])
            continue;
        cl_int err;
        tmp[k] = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes[k], NULL, &err);
        if (err != CL_SUCCESS) {
            tmp[k] = NULL;
            s = ocl_cl_fail(d->name, "clCreateBuffer", err);
            break;
        }
        err = clEnqueueCopyBuffer(d->queue, ocl_mem(o), tmp[k], o->byte_offset, 0, bytes[k], 0, NULL, NULL);
        if (err != CL_SUCCESS)
            s = ocl_cl_fail(d->name, "clEnqueueCopyBuffer", err);
        outs[k].data = tmp[k];
        outs[k].byte_offset = 0;
    }
    if (s == STRATA_OK) {
        plain.outputs = outs;
        s = e->fn(&plain);
    }
    for (int k = 0; k < call->n_outputs; k++) {
        if (!tmp[k])
            continue;
        if (s == STRATA_OK) {
            cl_int err = clEnqueueCopyBuffer(d->queue, tmp[k], ocl_mem(&call->outputs[k]), 0,
                                             call->outputs[k].byte_offset, bytes[k], 0, NULL, NULL);
            if (err != CL_SUCCESS)
                s = ocl_cl_fail(d->name, "clEnqueueCopyBuffer", err);
        }
        clReleaseMemObject(tmp[k]); /* freed once the queued commands are done */
    }
    return s;
}

static strata_status ocl_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || !host->register_backend || !host->register_kernel)
        return STRATA_E_ABI;
    /* Process-wide and the same for every runtime: set once, under a lock,
     * as runtimes on other threads may load the plugin at the same time. */
    pthread_mutex_lock(&ocl_init_lock);
    if (!ocl_host) {
        ocl_host = host;
        kc_init(host, "opencl");
    }
    pthread_mutex_unlock(&ocl_init_lock);
    strata_runtime *rt = host->plugin_runtime ? host->plugin_runtime(plugin) : NULL;

    ocl_backend *b = calloc(1, sizeof *b);
    if (!b)
        return host->set_error ? host->set_error(STRATA_E_NOMEM, "opencl: out of memory: %zu bytes for the backend",
                                                 sizeof *b)
                               : STRATA_E_NOMEM;
    b->rt = rt;

    strata_backend_def def = {0};
    def.struct_size = sizeof def;
    def.name = "opencl";
    def.priority = 5;
    def.flags = 0;
    def.self = b;
    def.device_count = ocl_device_count;
    def.device_name = ocl_device_name;
    def.unavailable = ocl_unavailable;
    def.alloc = ocl_alloc;
    def.free = ocl_free;
    def.copy_to_host = ocl_copy_to_host;
    def.copy_from_host = ocl_copy_from_host;
    def.copy_on_device = ocl_copy_on_device;
    def.synchronize = ocl_synchronize;
    def.supports_op = ocl_supports_op;
    def.destroy = ocl_destroy;

    strata_status s = host->register_backend(plugin, &def);
    if (s != STRATA_OK) {
        ocl_destroy(b);
        return s;
    }
    for (size_t k = 0; k < sizeof ocl_kernels / sizeof ocl_kernels[0]; k++) {
        s = host->register_kernel(plugin, "opencl", ocl_kernels[k].op, 1, ocl_run, (void *)&ocl_kernels[k]);
        if (s != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("opencl", "1.0.0", "opencl backend: OpenCL 1.2 C kernels on any OpenCL device", ocl_init, NULL)
