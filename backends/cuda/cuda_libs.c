/*
 * cuda_libs.c - opening cuBLAS and cuDNN at run time (see cuda_libs.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cuda_libs.h"

#define CUDA_STR_(x) #x
#define CUDA_STR(x) CUDA_STR_(x)

/* STRATA_CUDA_LIBDIR: the toolkit's library directory, from CMake. */
#ifndef STRATA_CUDA_LIBDIR
#define STRATA_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

cuda_blas_api cuda_blas;
cuda_dnn_api cuda_dnn;

typedef struct cuda_lib {
    pthread_once_t once;
    int ok;
    void *dl;
    char why[384];
} cuda_lib;

static cuda_lib blas_lib = {PTHREAD_ONCE_INIT, 0, NULL, ""};
static cuda_lib dnn_lib = {PTHREAD_ONCE_INIT, 0, NULL, ""};

/* Opens @p soname, else STRATA_CUDA_LIBDIR/@p soname; NULL with lib->why set. */
static void *cuda_lib_open(cuda_lib *lib, const char *soname)
{
    void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (dl)
        return dl;
    char first[160];
    snprintf(first, sizeof first, "%s", dlerror());
    char path[512];
    snprintf(path, sizeof path, "%s/%s", STRATA_CUDA_LIBDIR, soname);
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        snprintf(lib->why, sizeof lib->why, "cannot open %s (%s)", soname, first);
    return dl;
}

/* Resolves @p name into *slot; 0 with lib->why set when it is missing. */
static int cuda_lib_sym(cuda_lib *lib, const char *name, void **slot)
{
    *slot = dlsym(lib->dl, name);
    if (!*slot && !lib->why[0])
        snprintf(lib->why, sizeof lib->why, "symbol %s is missing", name);
    return *slot != NULL;
}

/* Storing a data pointer into a function pointer slot is what dlsym needs;
 * POSIX guarantees the two have one representation. */
#define CUDA_LIBS_RESOLVE(lib, table, f) ok &= cuda_lib_sym(&(lib), #f, (void **)(void *)&(table).f);

static void blas_open(void)
{
    blas_lib.dl = cuda_lib_open(&blas_lib, "libcublas.so." CUDA_STR(CUBLAS_VER_MAJOR));
    if (!blas_lib.dl)
        return;
    int ok = 1;
#define X(f) CUDA_LIBS_RESOLVE(blas_lib, cuda_blas, f)
    CUDA_BLAS_FNS(X)
#undef X
    blas_lib.ok = ok;
}

static void dnn_open(void)
{
    dnn_lib.dl = cuda_lib_open(&dnn_lib, "libcudnn.so." CUDA_STR(CUDNN_MAJOR));
    if (!dnn_lib.dl)
        return;
    int ok = 1;
#define X(f) CUDA_LIBS_RESOLVE(dnn_lib, cuda_dnn, f)
    CUDA_DNN_FNS(X)
#undef X
    dnn_lib.ok = ok;
}

int cuda_blas_load(void)
{
    pthread_once(&blas_lib.once, blas_open);
    return blas_lib.ok;
}

int cuda_dnn_load(void)
{
    pthread_once(&dnn_lib.once, dnn_open);
    return dnn_lib.ok;
}

const char *cuda_blas_why(void)
{
    return blas_lib.why;
}

const char *cuda_dnn_why(void)
{
    return dnn_lib.why;
}

const char *cuda_blas_status_name(int status)
{
    if (blas_lib.ok)
        return cuda_blas.cublasGetStatusName((cublasStatus_t)status);
    return "cuBLAS status";
}

const char *cuda_dnn_status_name(int status)
{
    if (dnn_lib.ok)
        return cuda_dnn.cudnnGetErrorString((cudnnStatus_t)status);
    return "cuDNN status";
}

strata_status cuda_blas_handle(cuda_device *d, cublasHandle_t *out)
{
    if (!d->blas) {
        if (!cuda_blas_load())
            return cuda_host->set_error(STRATA_E_UNSUPPORTED, "cuda: cuBLAS is not available: %s", cuda_blas_why());
        cublasHandle_t h = NULL;
        CUBLAS_TRY(cuda_blas.cublasCreate_v2(&h));
        int e = (int)cuda_blas.cublasSetStream_v2(h, d->stream);
        /* Plain FP32: TF32 tensor-core math would break agreement with ref. */
        if (e == 0)
            e = (int)cuda_blas.cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        if (e != 0) {
            cuda_blas.cublasDestroy_v2(h);
            return cuda_fail_blas(e, "cublasSetStream/cublasSetMathMode", __FILE__, __LINE__);
        }
        d->blas = h;
    }
    *out = d->blas;
    return STRATA_OK;
}

strata_status cuda_dnn_handle(cuda_device *d, cudnnHandle_t *out)
{
    if (!d->dnn) {
        if (!cuda_dnn_load())
            return cuda_host->set_error(STRATA_E_UNSUPPORTED, "cuda: cuDNN is not available: %s", cuda_dnn_why());
        cudnnHandle_t h = NULL;
        CUDNN_TRY(cuda_dnn.cudnnCreate(&h));
        int e = (int)cuda_dnn.cudnnSetStream(h, d->stream);
        if (e != 0) {
            cuda_dnn.cudnnDestroy(h);
            return cuda_fail_dnn(e, "cudnnSetStream(handle, stream)", __FILE__, __LINE__);
        }
        d->dnn = h;
    }
    *out = d->dnn;
    return STRATA_OK;
}

void cuda_libs_release(cuda_device *d)
{
    cuda_conv_plans_release(d); /* descriptors, before their handle (none without cuDNN) */
    if (d->blas && blas_lib.ok)
        cuda_blas.cublasDestroy_v2((cublasHandle_t)d->blas);
    if (d->dnn && dnn_lib.ok)
        cuda_dnn.cudnnDestroy((cudnnHandle_t)d->dnn);
    d->blas = NULL;
    d->dnn = NULL;
}
