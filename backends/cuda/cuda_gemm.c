/*
 * cuda_gemm.c - core::matmul and core::linear on cuBLAS (strided-batched
 * SGEMM, plain FP32 math: no TF32, so results stay within ref's tolerance).
 *
 * cuBLAS is column-major. A row-major (M, N) matrix is the column-major
 * (N, M) matrix with the same bytes, so row-major Y = A B is computed as
 * column-major Y^T = B^T A^T: the operands swap places and each keeps its
 * own transpose flag.
 */
#include <limits.h>
#include <string.h>

#include "cuda_libs.h"
#include "cuda_ops.h"

/* Y (M, N) = op(A) op(B), row-major, for batch_count matrices at the given
 * element strides (0: one matrix shared by the whole batch). */
static strata_status cuda_sgemm(cuda_device *d, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                                const float *a, int64_t stride_a, const float *b, int64_t stride_b, float *y,
                                int64_t stride_y, int64_t batch_count)
{
    if (M == 0 || N == 0 || batch_count == 0)
        return STRATA_OK;
    if (K == 0) { /* an empty sum: cuBLAS would leave C as beta C */
        CUDA_TRY(cudaMemsetAsync(y, 0, (size_t)(M * N * batch_count) * sizeof(float), d->stream));
        return STRATA_OK;
    }
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || batch_count > INT_MAX)
        return cuda_host->set_error(STRATA_E_UNSUPPORTED,
                                    "cuda: a GEMM of (%lld x %lld x %lld) exceeds cuBLAS's int sizes", (long long)M,
                                    (long long)N, (long long)K);
    cublasHandle_t h;
    CUDA_OK(cuda_blas_handle(d, &h));
    const float one = 1.0f, zero = 0.0f;
    int lda = (int)(trans_a ? M : K); /* A stored (M, K), or (K, M) when transposed */
    int ldb = (int)(trans_b ? K : N); /* B stored (K, N), or (N, K) */
    CUBLAS_TRY(cuda_blas.cublasSgemmStridedBatched(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                    trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K,
                                                    &one, b, ldb, (long long)stride_b, a, lda, (long long)stride_a,
                                                    &zero, y, (int)N, (long long)stride_y, (int)batch_count));
    return STRATA_OK;
}

/* Number of matrices in the batch dims (all but the last two) of @p t. */
static int64_t cuda_batch_numel(const strata_tensor_desc *t)
{
    int64_t n = 1;
    for (int k = 0; k < t->ndim - 2; k++)
        n *= t->shape[k];
    return n;
}

/*
 * y[..., i, j] = sum_k A[..., i, k] B[..., k, j]; a (..., M, K) or (..., K, M)
 * stored when trans_a; b (..., K, N) or (..., N, K) when trans_b; the batch
 * dims broadcast. One strided-batched call when each operand is either one
 * matrix or a full batch; otherwise one call per output matrix.
 */
CUDA_KERNEL(matmul)
{
    CUDA_OK(kc_check_f32_call(call, 2, 2, 1));
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    int trans_a = strata_attr_get_int(call->attrs, call->n_attrs, "trans_a", 0) != 0;
    int trans_b = strata_attr_get_int(call->attrs, call->n_attrs, "trans_b", 0) != 0;
    if (A->ndim < 2 || B->ndim < 2 || Y->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "operands must have at least 2 dims");
    int64_t M = A->shape[A->ndim - (trans_a ? 1 : 2)];
    int64_t K = A->shape[A->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = B->shape[B->ndim - (trans_b ? 1 : 2)];
    int64_t N = B->shape[B->ndim - (trans_b ? 2 : 1)];
    if (K != Kb || Y->shape[Y->ndim - 2] != M || Y->shape[Y->ndim - 1] != N)
        return kc_error(call, STRATA_E_SHAPE, "a and b do not multiply into the output");

    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    const float *a = cuda_ptr(A), *b = cuda_ptr(B);
    float *y = cuda_ptr(Y);
    int64_t n_batch = cuda_batch_numel(Y), na = cuda_batch_numel(A), nb = cuda_batch_numel(B);
    if ((na == 1 || na == n_batch) && (nb == 1 || nb == n_batch)) {
        /* An operand with as many matrices as the output broadcasts to it
         * only through dims of size 1, which leave the layout unchanged. */
        return cuda_sgemm(d, trans_a, trans_b, M, N, K, a, na == 1 ? 0 : M * K, b, nb == 1 ? 0 : K * N, y, M * N,
                          n_batch);
    }
    /* General broadcast of the batch dims: walk the output's batch. */
    cuda_walk w;
    memset(&w, 0, sizeof w);
    w.ndim = Y->ndim - 2;
    memcpy(w.shape, Y->shape, sizeof(int64_t) * (size_t)w.ndim);
    strata_tensor_desc ab = *A, bb = *B;
    ab.ndim = A->ndim - 2;
    bb.ndim = B->ndim - 2;
    if (!cuda_broadcast_strides(&w, 0, &ab) || !cuda_broadcast_strides(&w, 1, &bb))
        return kc_error(call, STRATA_E_SHAPE, "the batch dims of a and b do not broadcast");
    for (int64_t t = 0; t < n_batch; t++) {
        int64_t rest = t, oa = 0, ob = 0;
        for (int k = w.ndim - 1; k >= 0; k--) {
            int64_t i = rest % w.shape[k];
            rest /= w.shape[k];
            oa += i * w.stride[0][k];
            ob += i * w.stride[1][k];
        }
        CUDA_OK(cuda_sgemm(d, trans_a, trans_b, M, N, K, a + oa * M * K, 0, b + ob * K * N, 0, y + t * M * N, 0, 1));
    }
    return STRATA_OK;
}

/* y[r, o] = sum_i x[r, i] w[o, i] + bias[o]; x (..., IN) as (R, IN), w (OUT, IN). */
CUDA_KERNEL(linear)
{
    CUDA_OK(kc_check_f32_call(call, 2, 3, 1));
    const strata_tensor_desc *X = &call->inputs[0], *W = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *Bias = call->n_inputs > 2 ? &call->inputs[2] : NULL;
    if (W->ndim != 2 || X->ndim < 1 || X->shape[X->ndim - 1] != W->shape[1])
        return kc_error(call, STRATA_E_SHAPE, "x (..., IN) and w (OUT, IN) do not match");
    int64_t OUT = W->shape[0], IN = W->shape[1];
    if (Bias && strata_desc_numel(Bias) != OUT)
        return kc_error(call, STRATA_E_SHAPE, "bias must have %lld elements", (long long)OUT);
    int64_t R = OUT ? strata_desc_numel(Y) / OUT : (IN ? strata_desc_numel(X) / IN : 0);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_OK(cuda_sgemm(d, 0, 1, R, OUT, IN, cuda_ptr(X), 0, cuda_ptr(W), 0, cuda_ptr(Y), 0, 1));
    if (Bias)
        CUDA_TRY(cuda_k_bias_add(d->stream, cuda_ptr(Y), cuda_ptr(Bias), R, OUT));
    return STRATA_OK;
}
