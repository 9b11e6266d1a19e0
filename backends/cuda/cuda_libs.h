/*
 * cuda_libs.h - cuBLAS and cuDNN, opened with dlopen on first use.
 *
 * The backend never links them: a machine without a GPU (CI) loads the
 * shared object without mapping ~600 MB of libraries, and a machine with a
 * GPU but no cuDNN still runs everything but the cuDNN ops (supports_op
 * declines those, so they take the host fallback). The headers fix the
 * types; each table holds one pointer per function, named as the library
 * names it, filled from the soname the headers were built for
 * (libcublas.so.13, libcudnn.so.9) or else from the toolkit's library
 * directory found at configure time.
 */
#ifndef CUDA_LIBS_H
#define CUDA_LIBS_H

#include <cublas_v2.h>
#include <cudnn.h>

#include "cuda_internal.h"

#define CUDA_BLAS_FNS(X)                                                                                       \
    X(cublasCreate_v2)                                                                                         \
    X(cublasDestroy_v2)                                                                                        \
    X(cublasSetStream_v2)                                                                                      \
    X(cublasSetMathMode)                                                                                       \
    X(cublasSgemmStridedBatched)                                                                               \
    X(cublasGetStatusName)

#define CUDA_DNN_FNS(X)                                                                                        \
    X(cudnnCreate)                                                                                             \
    X(cudnnDestroy)                                                                                            \
    X(cudnnSetStream)                                                                                          \
    X(cudnnGetErrorString)                                                                                     \
    X(cudnnCreateTensorDescriptor)                                                                             \
    X(cudnnDestroyTensorDescriptor)                                                                            \
    X(cudnnSetTensor4dDescriptor)                                                                              \
    X(cudnnSetTensor4dDescriptorEx)                                                                            \
    X(cudnnCreateFilterDescriptor)                                                                             \
    X(cudnnDestroyFilterDescriptor)                                                                            \
    X(cudnnSetFilter4dDescriptor)                                                                              \
    X(cudnnCreateConvolutionDescriptor)                                                                        \
    X(cudnnDestroyConvolutionDescriptor)                                                                       \
    X(cudnnSetConvolution2dDescriptor)                                                                         \
    X(cudnnSetConvolutionGroupCount)                                                                           \
    X(cudnnSetConvolutionMathType)                                                                             \
    X(cudnnGetConvolutionForwardAlgorithm_v7)                                                                  \
    X(cudnnGetConvolutionForwardWorkspaceSize)                                                                 \
    X(cudnnConvolutionForward)                                                                                 \
    X(cudnnGetConvolutionBackwardDataAlgorithm_v7)                                                             \
    X(cudnnGetConvolutionBackwardDataWorkspaceSize)                                                            \
    X(cudnnConvolutionBackwardData)                                                                            \
    X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)                                                           \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize)                                                          \
    X(cudnnConvolutionBackwardFilter)                                                                          \
    X(cudnnCreatePoolingDescriptor)                                                                            \
    X(cudnnDestroyPoolingDescriptor)                                                                           \
    X(cudnnSetPooling2dDescriptor)                                                                             \
    X(cudnnPoolingForward)                                                                                     \
    X(cudnnPoolingBackward)

#define CUDA_LIBS_FIELD(f) __typeof__(&f) f;
typedef struct cuda_blas_api {
    CUDA_BLAS_FNS(CUDA_LIBS_FIELD)
} cuda_blas_api;
typedef struct cuda_dnn_api {
    CUDA_DNN_FNS(CUDA_LIBS_FIELD)
} cuda_dnn_api;
#undef CUDA_LIBS_FIELD

/** The tables; valid after cuda_blas_load() / cuda_dnn_load() returned 1. */
extern cuda_blas_api cuda_blas;
extern cuda_dnn_api cuda_dnn;

/** Opens the library once per process; 1 when every function resolved.
 *  Thread-safe. */
int cuda_blas_load(void);
int cuda_dnn_load(void);
/** Why the library could not be opened ("" when it was, or was not tried). */
const char *cuda_blas_why(void);
const char *cuda_dnn_why(void);

/** Status names for messages (work whether or not the library loaded). */
const char *cuda_blas_status_name(int status);
const char *cuda_dnn_status_name(int status);

/** The device's cuBLAS / cuDNN handle, created on first use and bound to its
 *  stream. E_UNSUPPORTED naming the library when it could not be opened. */
strata_status cuda_blas_handle(cuda_device *d, cublasHandle_t *out);
strata_status cuda_dnn_handle(cuda_device *d, cudnnHandle_t *out);
/** Destroys the handles of @p d (cuda_device_release). */
void cuda_libs_release(cuda_device *d);
/** Frees the device's cached convolution plans (cuda_conv.c). */
void cuda_conv_plans_release(cuda_device *d);

#endif /* CUDA_LIBS_H */
