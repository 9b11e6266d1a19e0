/*
 * ref_matmul.c - batched matrix product and the linear layer's forward.
 * Plain triple loops with double dot products: the oracle, not the fast path.
 */
#include "ref_internal.h"

/*
 * y[..., i, j] = sum_k A[..., i, k] B[..., k, j]
 * a: (..., M, K), or (..., K, M) stored when trans_a
 * b: (..., K, N), or (..., N, K) stored when trans_b
 * y: (..., M, N); the batch dims (...) of a and b broadcast, and either
 * operand may be 2-D (one matrix shared by every batch).
 */
REF_KERNEL(matmul)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    int trans_a = strata_attr_get_int(call->attrs, call->n_attrs, "trans_a", 0) != 0;
    int trans_b = strata_attr_get_int(call->attrs, call->n_attrs, "trans_b", 0) != 0;

    char sa[128], sb[128], sy[128];
    if (A->ndim < 2 || B->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "operands must have at least 2 dims, got a %s and b %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    int64_t M = A->shape[A->ndim - (trans_a ? 1 : 2)];
    int64_t K = A->shape[A->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = B->shape[B->ndim - (trans_b ? 1 : 2)];
    int64_t N = B->shape[B->ndim - (trans_b ? 2 : 1)];

    int batch_ndim;
    int64_t batch[STRATA_MAX_DIMS];
    int ok = K == Kb && ref_broadcast_shape(A->ndim - 2, A->shape, B->ndim - 2, B->shape, &batch_ndim, batch);
    ok = ok && Y->ndim == batch_ndim + 2 && Y->shape[batch_ndim] == M && Y->shape[batch_ndim + 1] == N;
    for (int d = 0; ok && d < batch_ndim; d++)
        ok = Y->shape[d] == batch[d];
    if (!ok)
        return kc_error(call, STRATA_E_SHAPE, "a %s%s times b %s%s does not give the output's %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape), trans_a ? " (transposed)" : "",
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape), trans_b ? " (transposed)" : "",
                        kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape));

    float *y = strata_desc_ptr(Y);       // (batch, M, N)
    const float *a = strata_desc_ptr(A); // (a batch, M, K) or (a batch, K, M)
    const float *b = strata_desc_ptr(B); // (b batch, K, N) or (b batch, N, K)

    /* Walk the output's batch dims; off[0], off[1] are the element offsets
     * of the current a and b matrices (stride 0 on broadcast batch dims). */
    int64_t a_strides[STRATA_MAX_DIMS], b_strides[STRATA_MAX_DIMS];
    ref_contiguous_strides(A->ndim, A->shape, a_strides);
    ref_contiguous_strides(B->ndim, B->shape, b_strides);
    ref_walk w;
    ref_walk_init(&w, batch_ndim, batch, 2);
    ref_broadcast_strides(batch_ndim, batch, A->ndim - 2, A->shape, a_strides, w.stride[0]);
    ref_broadcast_strides(batch_ndim, batch, B->ndim - 2, B->shape, b_strides, w.stride[1]);

    int64_t n_batch = 1;
    for (int d = 0; d < batch_ndim; d++)
        n_batch *= batch[d];
    for (int64_t bt = 0; bt < n_batch; bt++, ref_walk_next(&w)) {
        const float *am = a + w.off[0];
        const float *bm = b + w.off[1];
        float *ym = y + bt * M * N;
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    double aik = trans_a ? am[k * M + i] : am[i * K + k];
                    double bkj = trans_b ? bm[j * K + k] : bm[k * N + j];
                    acc += aik * bkj;
                }
                ym[i * N + j] = (float)acc;
            }
        }
    }
    return STRATA_OK;
}

/*
 * y[r, o] = sum_i x[r, i] w[o, i] + bias[o]
 * x: (..., IN) seen as (R, IN); w: (OUT, IN); bias: (OUT), optional;
 * y: (..., OUT) seen as (R, OUT).
 */
REF_KERNEL(linear)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *W = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *Bias = call->n_inputs > 2 ? &call->inputs[2] : NULL;

    char sx[128], sw[128], sy[128];
    int ok = X->ndim >= 1 && W->ndim == 2 && X->shape[X->ndim - 1] == W->shape[1];
    ok = ok && Y->ndim == X->ndim && Y->shape[Y->ndim - 1] == W->shape[0];
    for (int d = 0; ok && d < X->ndim - 1; d++)
        ok = Y->shape[d] == X->shape[d];
    if (!ok)
        return kc_error(call, STRATA_E_SHAPE, "x %s and w %s do not give the output's %s",
                        kc_shape_str(sx, sizeof sx, X->ndim, X->shape),
                        kc_shape_str(sw, sizeof sw, W->ndim, W->shape),
                        kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape));
    int64_t OUT = W->shape[0], IN = W->shape[1];
    if (Bias && (s = kc_check_numel(call, Bias, "bias", OUT)) != STRATA_OK)
        return s;
    int64_t R = IN ? strata_desc_numel(X) / IN : strata_desc_numel(Y) / (OUT ? OUT : 1);

    float *y = strata_desc_ptr(Y);                           // (R, OUT)
    const float *x = strata_desc_ptr(X);                     // (R, IN)
    const float *w = strata_desc_ptr(W);                     // (OUT, IN)
    const float *bias = Bias ? strata_desc_ptr(Bias) : NULL; // (OUT) or NULL
    for (int64_t r = 0; r < R; r++) {
        for (int64_t o = 0; o < OUT; o++) {
            double acc = bias ? (double)bias[o] : 0.0;
            for (int64_t i = 0; i < IN; i++)
                acc += (double)x[r * IN + i] * (double)w[o * IN + i];
            y[r * OUT + o] = (float)acc;
        }
    }
    return STRATA_OK;
}
