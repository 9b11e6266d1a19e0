/*
 * cuda_loss.c - cross entropy and BCE with logits (and their gradients),
 * embedding lookup and its scatter-add gradient.
 *
 * Out-of-range labels and indices are errors, as in ref: the kernels skip
 * them and record the first position in a device flag, which is read back
 * after the launch (one small copy and a wait per call). The message names
 * the position and the value, like ref's.
 */
#include "cuda_ops.h"

/* The kernels take kcall.h's reduction values as their CUDA_LOSS_* modes. */
_Static_assert((int)KC_RED_NONE == (int)CUDA_LOSS_NONE && (int)KC_RED_MEAN == (int)CUDA_LOSS_MEAN &&
                   (int)KC_RED_SUM == (int)CUDA_LOSS_SUM,
               "kc_reduction and CUDA_LOSS_* differ");

/* loss[n] = logsumexp(logits[n, :]) - logits[n, label[n]], then reduced. */
CUDA_KERNEL(cross_entropy)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    CUDA_OK(kc_check_cross_entropy(call, 0, &mode, &N, &C));
    const strata_tensor_desc *L = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    void *rows = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    strata_status s = mode == KC_RED_NONE ? STRATA_OK : cuda_temp_alloc(d, (size_t)N * sizeof(double), &rows);
    if (s == STRATA_OK) {
        cudaError_t e = cuda_k_cross_entropy(d->stream, mode, cuda_ptr(Y), rows, cuda_ptr(L), cuda_ptr(T),
                                             T->dtype == STRATA_I64, N, C, bad);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_cross_entropy(...)", __FILE__, __LINE__);
    }
    cuda_temp_free(d, rows);
    if (s != STRATA_OK) {
        cuda_temp_free(d, bad);
        return s;
    }
    return cuda_bad_check(call, d, bad, T, C, "label", "row");
}

/* dlogits[n, c] = (softmax(logits[n])[c] - (c == label[n])) * dy[n] (/ N for mean). */
CUDA_KERNEL(cross_entropy_backward)
{
    kc_reduction mode = KC_RED_MEAN;
    int64_t N = 0, C = 0;
    CUDA_OK(kc_check_cross_entropy(call, 1, &mode, &N, &C));
    const strata_tensor_desc *DY = &call->inputs[0], *L = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DL = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    cudaError_t e = cuda_k_cross_entropy_backward(d->stream, mode, cuda_ptr(DL), cuda_ptr(DY), cuda_ptr(L),
                                                  cuda_ptr(T), T->dtype == STRATA_I64, N, C, bad);
    if (e != cudaSuccess) {
        cuda_temp_free(d, bad);
        return cuda_fail_rt(e, "cuda_k_cross_entropy_backward(...)", __FILE__, __LINE__);
    }
    return cuda_bad_check(call, d, bad, T, C, "label", "row");
}

/* loss_i = max(x_i, 0) - x_i t_i + log(1 + exp(-|x_i|)), then reduced. */
CUDA_KERNEL(bce_with_logits)
{
    CUDA_OK(kc_check_f32_call(call, 2, 2, 1));
    const strata_tensor_desc *X = &call->inputs[0], *T = &call->inputs[1], *Y = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    CUDA_OK(kc_reduction_of(call, &mode));
    int64_t n = strata_desc_numel(X);
    if (strata_desc_numel(T) != n || strata_desc_numel(Y) != (mode == KC_RED_NONE ? n : 1))
        return kc_error(call, STRATA_E_SHAPE, "t must have x's shape and the loss %lld element(s)",
                        (long long)(mode == KC_RED_NONE ? n : 1));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    void *terms = NULL;
    if (mode != KC_RED_NONE)
        CUDA_OK(cuda_temp_alloc(d, (size_t)n * sizeof(double), &terms));
    cudaError_t e = cuda_k_bce_with_logits(d->stream, mode, cuda_ptr(Y), terms, cuda_ptr(X), cuda_ptr(T), n);
    cuda_temp_free(d, terms);
    CUDA_TRY(e);
    return STRATA_OK;
}

/* dx_i = (sigmoid(x_i) - t_i) * dy (/ numel for mean). */
CUDA_KERNEL(bce_with_logits_backward)
{
    CUDA_OK(kc_check_f32_call(call, 3, 3, 1));
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *T = &call->inputs[2];
    const strata_tensor_desc *DX = &call->outputs[0];
    kc_reduction mode = KC_RED_MEAN;
    CUDA_OK(kc_reduction_of(call, &mode));
    int64_t n = strata_desc_numel(X);
    if (strata_desc_numel(T) != n || strata_desc_numel(DX) != n ||
        strata_desc_numel(DY) != (mode == KC_RED_NONE ? n : 1))
        return kc_error(call, STRATA_E_SHAPE, "t, dx and dy do not match x");
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_bce_with_logits_backward(d->stream, mode, cuda_ptr(DX), cuda_ptr(DY), cuda_ptr(X), cuda_ptr(T),
                                             n));
    return STRATA_OK;
}

/* ---- embedding -------------------------------------------------------------- */

/* y[p, :] = w[idx[p], :]; w (V, D), idx (P) (any shape), y (P, D). */
CUDA_KERNEL(embedding)
{
    int64_t V = 0, D = 0, P = 0;
    CUDA_OK(kc_check_embedding(call, 0, &V, &D, &P));
    const strata_tensor_desc *W = &call->inputs[0], *IDX = &call->inputs[1], *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    cudaError_t e = cuda_k_embedding(d->stream, cuda_ptr(Y), cuda_ptr(W), cuda_ptr(IDX), IDX->dtype == STRATA_I64,
                                     P, V, D, bad);
    if (e != cudaSuccess) {
        cuda_temp_free(d, bad);
        return cuda_fail_rt(e, "cuda_k_embedding(...)", __FILE__, __LINE__);
    }
    return cuda_bad_check(call, d, bad, IDX, V, "index", "position");
}

/* dw[v, :] = sum over p with idx[p] == v of dy[p, :]; accumulated in double. */
CUDA_KERNEL(embedding_backward)
{
    int64_t V = 0, D = 0, P = 0;
    CUDA_OK(kc_check_embedding(call, 1, &V, &D, &P));
    const strata_tensor_desc *DY = &call->inputs[0], *IDX = &call->inputs[1], *DW = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    unsigned long long *bad = NULL;
    void *acc = NULL;
    CUDA_OK(cuda_bad_alloc(d, &bad));
    strata_status s = cuda_temp_alloc(d, (size_t)(V * D) * sizeof(double), &acc);
    if (s == STRATA_OK) {
        cudaError_t e = cuda_k_embedding_backward(d->stream, cuda_ptr(DW), acc, cuda_ptr(DY), cuda_ptr(IDX),
                                                  IDX->dtype == STRATA_I64, P, V, D, bad);
        if (e != cudaSuccess)
            s = cuda_fail_rt(e, "cuda_k_embedding_backward(...)", __FILE__, __LINE__);
    }
    cuda_temp_free(d, acc);
    if (s != STRATA_OK) {
        cuda_temp_free(d, bad);
        return s;
    }
    return cuda_bad_check(call, d, bad, IDX, V, "index", "position");
}
