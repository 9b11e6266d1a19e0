/*
 * cuda_memnet.c - the memnet plugin's ops on the device, registered by name
 * (plugins/memnet/encode.c defines them and is the reference):
 *
 *   memnet::encode           E (V, d), x (..., J) int [, T (M, d)] -> y (..., d)
 *   memnet::encode_backward  dy (..., d), x (..., J) int          -> dE (V, d)
 *   memnet::slot_mask        x (..., J) int                       -> m (..., 1)
 *
 * attrs: encoding ("position" | "position_paper" | "bow"), padding_idx (0;
 * -1 for none), num_embeddings (V; encode_backward and slot_mask).
 *
 * The core ran the plugin's shape inference before a kernel here runs; the
 * checks (kc_memnet.c, shared with opencl) repeat it, with ref's messages,
 * for a direct call and because the table lets any 4- or 8-byte dtypes
 * through (x is not encode's last input, so CUDA_NEED_IDX does not fit). A word id outside [0, V) (padding aside)
 * is an error naming its flat position, as on ref: encode and
 * encode_backward skip it and record the first such position in a device
 * flag, read back after the launch (one small copy and a wait per call, as
 * embedding). slot_mask only compares with padding_idx and does not wait.
 */
#include <string.h>

#include "cuda_memnet_kernels.h"
#include "cuda_ops.h"

_Static_assert((int)CUDA_MN_BOW == (int)KC_MN_BOW && (int)CUDA_MN_POSITION == (int)KC_MN_POSITION &&
                   (int)CUDA_MN_POSITION_PAPER == (int)KC_MN_POSITION_PAPER,
               "the kernels' encodings are kc_memnet.c's");

/* The kernels' view of a checked call (kc_memnet.c) with word ids @p x. */
static cuda_mn_geom cuda_mn_geom_of(const kc_mn_geom *k, const strata_tensor_desc *x)
{
    cuda_mn_geom g = {k->R, k->J, k->V, k->d, k->M, k->pad, k->enc, x->dtype == STRATA_I64};
    return g;
}

/* Reads the flag of cuda_bad_alloc back (waiting for the stream) and frees
 * it; a word was out of range: ref's error, with that word's id. */
static strata_status cuda_mn_check_words(const strata_kernel_call *call, cuda_device *d, unsigned long long *bad,
                                         const strata_tensor_desc *x, int64_t V)
{
    unsigned long long pos = 0;
    strata_status s = cuda_copy_to_host(call->backend_self, call->device, &pos, bad, 0, sizeof pos);
    cuda_temp_free(d, bad);
    if (s != STRATA_OK || pos == ~0ull)
        return s;
    const size_t es = x->dtype == STRATA_I64 ? 8 : 4;
    int64_t v64 = 0;
    int32_t v32 = 0;
    CUDA_OK(cuda_copy_to_host(call->backend_self, call->device, es == 8 ? (void *)&v64 : (void *)&v32, x->data,
                              x->byte_offset + (size_t)pos * es, es));
    return kc_error(call, STRATA_E_INVALID,
                    "word id %lld at flat position %llu of x is outside the vocabulary [0, %lld)",
                    es == 8 ? (long long)v64 : (long long)v32, pos, (long long)V);
}

/* y[r] = sum_j l_j E[x[r, j]] (+ T[r mod M] on rows that hold a word). */
CUDA_KERNEL(mn_encode)
{
    kc_mn_geom k;
    CUDA_OK(kc_check_mn_encode(call, &k));
    const strata_tensor_desc *E = &call->inputs[0], *X = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *T = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    const cuda_mn_geom g = cuda_mn_geom_of(&k, X);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    cudaError_t e = cuda_k_mn_encode(d->stream, cuda_ptr(Y), cuda_ptr(E), cuda_ptr(X), T ? cuda_ptr(T) : NULL, g, bad);
    if (e != cudaSuccess) {
        cuda_temp_free(d, bad);
        return cuda_fail_rt(e, "cuda_k_mn_encode(...)", __FILE__, __LINE__);
    }
    return cuda_mn_check_words(call, d, bad, X, g.V);
}

/* dE[v] = sum over (r, j) with x[r, j] = v of l_j dy[r]; summed in double. */
CUDA_KERNEL(mn_encode_backward)
{
    kc_mn_geom k;
    CUDA_OK(kc_check_mn_encode_backward(call, &k));
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DE = &call->outputs[0];
    const cuda_mn_geom g = cuda_mn_geom_of(&k, X);
    const int64_t V = g.V;
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    void *acc = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    strata_status s = cuda_temp_alloc(d, (size_t)(V * g.d) * sizeof(double), &acc);
    if (s == STRATA_OK) {
        cudaError_t e = cuda_k_mn_encode_backward(d->stream, cuda_ptr(DE), acc, cuda_ptr(DY), cuda_ptr(X), g, bad);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_mn_encode_backward(...)", __FILE__, __LINE__);
    }
    cuda_temp_free(d, acc); /* in stream order: reused only by later work */
    if (s != STRATA_OK) {
        cuda_temp_free(d, bad);
        return s;
    }
    return cuda_mn_check_words(call, d, bad, X, V);
}

/* m[r] = 1 where row r holds a word other than padding_idx (every row when it is -1). */
CUDA_KERNEL(mn_slot_mask)
{
    kc_mn_geom k;
    CUDA_OK(kc_check_mn_slot_mask(call, &k));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    const cuda_mn_geom g = cuda_mn_geom_of(&k, X);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_mn_slot_mask(d->stream, cuda_ptr(Y), cuda_ptr(X), g));
    return STRATA_OK;
}
