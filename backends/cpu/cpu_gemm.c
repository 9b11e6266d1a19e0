/*
 * cpu_gemm.c - batched matrix product and the linear layer's forward, on
 * oneDNN's dnnl_sgemm (row-major, with its own JIT kernels and OpenMP).
 *
 * Tiny products (the MemN2N and attention-like shapes) skip oneDNN: its
 * per-call setup costs more than the arithmetic, so they run as plain
 * loops, batches spread over the threads.
 */
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_internal.h"

/* Below this many multiply-adds per matrix a plain loop beats dnnl_sgemm. */
#define CPU_GEMM_TINY 8192

static int64_t cpu_max1(int64_t v)
{
    return v > 1 ? v : 1;
}

/*
 * y = op(a) op(b) for one matrix, plain loops with float accumulation
 * (K is small by construction). a: (M, K) or stored (K, M) when ta;
 * b: (K, N) or stored (N, K) when tb; y: (M, N).
 */
static void cpu_gemm_tiny(float *restrict y, const float *restrict a, const float *restrict b, int ta, int tb,
                          int64_t M, int64_t N, int64_t K)
{
    for (int64_t i = 0; i < M; i++) {
        float *yr = y + i * N; // (N)
        for (int64_t j = 0; j < N; j++)
            yr[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float aik = ta ? a[k * M + i] : a[i * K + k];
            if (!tb) {
                const float *br = b + k * N; // (N)
#pragma omp simd
                for (int64_t j = 0; j < N; j++)
                    yr[j] += aik * br[j];
            } else {
                for (int64_t j = 0; j < N; j++)
                    yr[j] += aik * b[j * K + k];
            }
        }
    }
}

/* y = op(a) op(b) (+ y when beta is 1) for one matrix through oneDNN. */
static strata_status cpu_sgemm(const strata_kernel_call *call, float *y, const float *a, const float *b, int ta,
                               int tb, int64_t M, int64_t N, int64_t K, float beta)
{
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, a, cpu_max1(ta ? M : K), b,
                                  cpu_max1(tb ? K : N), beta, y, cpu_max1(N));
    if (st != dnnl_success)
        return kc_error(call, STRATA_E_BACKEND, "dnnl_sgemm(%c%c, M=%lld, N=%lld, K=%lld) failed with status %d",
                        ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)M, (long long)N, (long long)K, (int)st);
    return STRATA_OK;
}

/*
 * y[..., i, j] = sum_k A[..., i, k] B[..., k, j]
 * a: (..., M, K), or (..., K, M) stored when trans_a
 * b: (..., K, N), or (..., N, K) stored when trans_b
 * y: (..., M, N); batch dims broadcast; either operand may be 2-D.
 */
CPU_KERNEL(matmul)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    int ta = strata_attr_get_int(call->attrs, call->n_attrs, "trans_a", 0) != 0;
    int tb = strata_attr_get_int(call->attrs, call->n_attrs, "trans_b", 0) != 0;

    char sa[128], sb[128], sy[128];
    if (A->ndim < 2 || B->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "operands must have at least 2 dims, got a %s and b %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    int64_t M = A->shape[A->ndim - (ta ? 1 : 2)];
    int64_t K = A->shape[A->ndim - (ta ? 2 : 1)];
    int64_t Kb = B->shape[B->ndim - (tb ? 1 : 2)];
    int64_t N = B->shape[B->ndim - (tb ? 2 : 1)];

    int nb;
    int64_t batch[STRATA_MAX_DIMS];
    int ok = K == Kb && cpu_broadcast_shape(A->ndim - 2, A->shape, B->ndim - 2, B->shape, &nb, batch);
    ok = ok && Y->ndim == nb + 2 && Y->shape[nb] == M && Y->shape[nb + 1] == N;
    for (int d = 0; ok && d < nb; d++)
        ok = Y->shape[d] == batch[d];
    if (!ok)
        return kc_error(call, STRATA_E_SHAPE, "a %s%s times b %s%s does not give the output's %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape), ta ? " (transposed)" : "",
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape), tb ? " (transposed)" : "",
                        kc_shape_str(sy, sizeof sy, Y->ndim, Y->shape));

    float *y = strata_desc_ptr(Y);       // (batch, M, N)
    const float *a = strata_desc_ptr(A); // (a batch, M, K) or (a batch, K, M)
    const float *b = strata_desc_ptr(B); // (b batch, K, N) or (b batch, N, K)
    int64_t n_batch = 1, a_batch = 1, b_batch = 1;
    for (int d = 0; d < nb; d++)
        n_batch *= batch[d];
    for (int d = 0; d < A->ndim - 2; d++)
        a_batch *= A->shape[d];
    for (int d = 0; d < B->ndim - 2; d++)
        b_batch *= B->shape[d];
    if (n_batch == 0 || M == 0 || N == 0)
        return STRATA_OK;
    if (K == 0) {
        memset(y, 0, (size_t)(n_batch * M * N) * sizeof *y);
        return STRATA_OK;
    }

    /* One shared b and rows of a stored one after another: one GEMM of
     * (a_batch M, K) x (K, N). */
    if (b_batch == 1 && !ta && a_batch == n_batch && M * N * K * n_batch >= CPU_GEMM_TINY)
        return cpu_sgemm(call, y, a, b, 0, tb, n_batch * M, N, K, 0.0f);

    /* Matrix offsets of a and b for each output batch, broadcasting. */
    int64_t as[STRATA_MAX_DIMS], bs[STRATA_MAX_DIMS], ab[STRATA_MAX_DIMS], bb[STRATA_MAX_DIMS];
    int64_t a_mat = M * K, b_mat = K * N;
    cpu_broadcast_strides(nb, batch, A->ndim - 2, A->shape, ab);
    cpu_broadcast_strides(nb, batch, B->ndim - 2, B->shape, bb);
    for (int d = 0; d < nb; d++) {
        as[d] = ab[d] * a_mat;
        bs[d] = bb[d] * b_mat;
    }

    if (M * N * K < CPU_GEMM_TINY) {
        int par = n_batch > 1 && n_batch * M * N * K >= 4 * CPU_GEMM_TINY;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t t = 0; t < n_batch; t++) {
            int64_t rem = t, ao = 0, bo = 0;
            for (int d = nb - 1; d >= 0; d--) {
                int64_t i = rem % batch[d];
                rem /= batch[d];
                ao += i * as[d];
                bo += i * bs[d];
            }
            cpu_gemm_tiny(y + t * M * N, a + ao, b + bo, ta, tb, M, N, K);
        }
        return STRATA_OK;
    }
    for (int64_t t = 0; t < n_batch; t++) {
        int64_t rem = t, ao = 0, bo = 0;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t i = rem % batch[d];
            rem /= batch[d];
            ao += i * as[d];
            bo += i * bs[d];
        }
        if ((s = cpu_sgemm(call, y + t * M * N, a + ao, b + bo, ta, tb, M, N, K, 0.0f)) != STRATA_OK)
            return s;
    }
    return STRATA_OK;
}

/*
 * y[r, o] = sum_i x[r, i] w[o, i] + bias[o]
 * x: (..., IN) seen as (R, IN); w: (OUT, IN); bias: (OUT), optional;
 * y: (..., OUT) seen as (R, OUT). One oneDNN matmul primitive with the bias
 * fused (cpu_dnnl.c); failing that, the bias is written into y and
 * dnnl_sgemm adds x w^T to it (beta = 1).
 */
CPU_KERNEL(linear)
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
    int64_t R = 1;
    for (int d = 0; d < X->ndim - 1; d++)
        R *= X->shape[d];

    float *y = strata_desc_ptr(Y);                           // (R, OUT)
    const float *x = strata_desc_ptr(X);                     // (R, IN)
    const float *w = strata_desc_ptr(W);                     // (OUT, IN)
    const float *bias = Bias ? strata_desc_ptr(Bias) : NULL; // (OUT) or NULL
    if (R == 0 || OUT == 0)
        return STRATA_OK;
    if (IN == 0) {
        for (int64_t r = 0; r < R; r++) {
            if (bias)
                memcpy(y + r * OUT, bias, (size_t)OUT * sizeof *y);
            else
                memset(y + r * OUT, 0, (size_t)OUT * sizeof *y);
        }
        return STRATA_OK;
    }
    if (R * OUT * IN < CPU_GEMM_TINY) {
        for (int64_t r = 0; r < R; r++)
            for (int64_t o = 0; o < OUT; o++) {
                const float *xr = x + r * IN, *wr = w + o * IN;
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int64_t i = 0; i < IN; i++)
                    acc += xr[i] * wr[i];
                y[r * OUT + o] = bias ? bias[o] + acc : acc;
            }
        return STRATA_OK;
    }
    if (cpu_dnnl_linear(y, x, w, bias, R, OUT, IN))
        return STRATA_OK;
    if (bias) {
        for (int64_t r = 0; r < R; r++)
            memcpy(y + r * OUT, bias, (size_t)OUT * sizeof *y);
    }
    return cpu_sgemm(call, y, x, w, 0, 1, R, OUT, IN, bias ? 1.0f : 0.0f);
}
