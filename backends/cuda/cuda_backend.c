/*
 * cuda_backend.c - the cuda backend's entry point: finds the GPUs, registers
 * the backend ("cuda", priority 20: the default device where one exists)
 * and a kernel for each op it implements (cuda_ops.h lists them).
 *
 * No driver, no GPU: the backend still registers, with zero devices and the
 * reason ("no CUDA driver found (...)", or the CUDA error's name such as
 * cudaErrorNoDevice), and init succeeds, so the runtime and every other
 * plugin work as before and `strata info` shows why. The CUDA runtime is
 * linked statically and opens libcuda.so.1 itself; this file looks for the
 * driver first only to say so in words.
 *
 * Nothing here creates a CUDA context: that happens on a device's first
 * allocation or kernel (cuda_device_get). The driver query itself waits for
 * the core's first device_count (a --backend naming cuda, the default
 * device, strata info), so `--backend cpu` never initializes CUDA.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "cuda_libs.h"
#include "cuda_ops.h"

/* The only static state: written once by cuda_init. */
const strata_host_api *cuda_host;
static pthread_mutex_t cuda_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Compute capability the kernels were built for: SASS for 8.0 and 9.0 and
 * PTX for 9.0, so 8.x and 9.0+ devices run them; older ones cannot. */
#define CUDA_MIN_MAJOR 8

/* Fills be->devices, or be->why_not when there are none. */
static void cuda_probe(cuda_backend *be)
{
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
        const char *why = dlerror();
        snprintf(be->why_not, sizeof be->why_not, "no CUDA driver found (%s)", why ? why : "libcuda.so.1");
        return;
    }
    dlclose(drv);

    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(be->why_not, sizeof be->why_not, "%s: %s (cudaGetDeviceCount)", cudaGetErrorName(e),
                 cudaGetErrorString(e));
        (void)cudaGetLastError();
        return;
    }
    if (n <= 0) {
        snprintf(be->why_not, sizeof be->why_not, "%s: %s", cudaGetErrorName(cudaErrorNoDevice),
                 cudaGetErrorString(cudaErrorNoDevice));
        return;
    }
    be->devices = calloc((size_t)n, sizeof *be->devices);
    if (!be->devices) {
        snprintf(be->why_not, sizeof be->why_not, "out of host memory listing %d CUDA devices", n);
        return;
    }
    char skipped[200] = "";
    for (int k = 0; k < n; k++) {
        struct cudaDeviceProp p;
        e = cudaGetDeviceProperties(&p, k);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            snprintf(skipped, sizeof skipped, "device %d: %s (cudaGetDeviceProperties)", k, cudaGetErrorName(e));
            continue;
        }
        if (p.major < CUDA_MIN_MAJOR) {
            snprintf(skipped, sizeof skipped,
                     "device %d (%.60s) has compute capability %d.%d; the kernels need %d.0 or newer", k, p.name,
                     p.major, p.minor, CUDA_MIN_MAJOR);
            continue;
        }
        cuda_device *d = &be->devices[be->n_devices++];
        d->index = k;
        snprintf(d->name, sizeof d->name, "%.100s (sm_%d%d, %.0f GiB)", p.name, p.major, p.minor,
                 (double)p.totalGlobalMem / (double)(1u << 30));
    }
    if (!be->n_devices)
        snprintf(be->why_not, sizeof be->why_not, "no usable CUDA device: %s", skipped);
}

/* Probes the first time any of the three below is asked. */
static cuda_backend *cuda_probed(void *self)
{
    cuda_backend *be = self;
    pthread_mutex_lock(&cuda_init_lock);
    if (!be->probed) {
        cuda_probe(be);
        be->probed = 1;
    }
    pthread_mutex_unlock(&cuda_init_lock);
    return be;
}

static int cuda_device_count(void *self)
{
    return cuda_probed(self)->n_devices;
}

static const char *cuda_device_name(void *self, int dev)
{
    cuda_backend *be = cuda_probed(self);
    return dev >= 0 && dev < be->n_devices ? be->devices[dev].name : "";
}

static const char *cuda_unavailable(void *self)
{
    cuda_backend *be = cuda_probed(self);
    return be->n_devices ? NULL : be->why_not;
}

static void cuda_destroy(void *self)
{
    cuda_backend *be = self;
    if (!be)
        return;
    for (int k = 0; k < be->n_devices; k++)
        cuda_device_release(&be->devices[k]);
    free(be->devices);
    free(be);
}

static strata_status cuda_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || !host->register_backend || !host->register_kernel || !host->set_error)
        return STRATA_E_ABI;
    /* Process-wide and the same for every runtime: set once, under a lock,
     * as runtimes on other threads may load the plugin at the same time. */
    pthread_mutex_lock(&cuda_init_lock);
    if (!cuda_host) {
        cuda_host = host;
        kc_init(host, "cuda");
    }
    pthread_mutex_unlock(&cuda_init_lock);

    cuda_backend *be = calloc(1, sizeof *be);
    if (!be)
        return STRATA_E_NOMEM;

    strata_backend_def def = {0};
    def.struct_size = sizeof def;
    def.name = "cuda";
    def.priority = 20;
    def.flags = 0; /* device memory: the core copies through copy_to_host/copy_from_host */
    def.self = be;
    def.device_count = cuda_device_count;
    def.device_name = cuda_device_name;
    def.unavailable = cuda_unavailable;
    def.alloc = cuda_mem_alloc;
    def.free = cuda_mem_free;
    def.copy_to_host = cuda_copy_to_host;
    def.copy_from_host = cuda_copy_from_host;
    def.copy_on_device = cuda_copy_on_device;
    def.synchronize = cuda_synchronize;
    def.supports_op = cuda_supports_op;
    def.destroy = cuda_destroy;

    strata_status s = host->register_backend(plugin, &def);
    if (s != STRATA_OK) {
        cuda_destroy(be); /* not registered: still ours */
        return s;
    }
    /* With no device no kernel can run; registering them anyway keeps
     * `strata info` the same on every machine. */
    for (const cuda_kernel_entry *k = cuda_kernels; k->op; k++) {
        s = host->register_kernel(plugin, "cuda", k->op, 1, k->fn, (void *)k);
        if (s != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("cuda", "1.0.0", "cuda backend: cuBLAS GEMMs, cuDNN convolutions, own CUDA kernels", cuda_init,
                     NULL)
