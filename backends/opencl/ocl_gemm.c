/*
 * ocl_gemm.c - matmul and linear on the tiled GEMM of gemm.cl.
 *
 * Transposes are strides, not copies. On CPU devices (PoCL) the float8
 * kernels gemm_dot (both operands unit-stride in k) and gemm_axpy (b
 * unit-stride in n) replace the local-memory tiles wherever they apply;
 * STRATA_OPENCL_TILED_GEMM=1 keeps the tiled kernel everywhere. A batched matmul whose operands are
 * each either one matrix (2-D, shared by every batch) or hold exactly the
 * output's batch dims runs as one launch over the batches; any other
 * broadcast of batch dims launches once per output matrix.
 */
#include <string.h>

#include "ocl_internal.h"

strata_status ocl_gemm_launch(const strata_kernel_call *call, ocl_device *d, const ocl_gemm_args *g, int64_t batches)
{
    size_t global[3] = {ocl_round_up((size_t)g->N, 64) / 4, ocl_round_up((size_t)g->M, 64) / 4, (size_t)batches};
    size_t local[3] = {16, 16, 1};
    const cl_long c_bs = g->c_bs ? g->c_bs : g->M * g->N;
    ocl_arg args[] = {OCL_ARG(g->c),        OCL_ARG(g->c_off), OCL_ARG(c_bs),   OCL_ARG(g->a),    OCL_ARG(g->a_off),
                      OCL_ARG(g->a_bs),     OCL_ARG(g->a_sm),  OCL_ARG(g->a_sk), OCL_ARG(g->b),    OCL_ARG(g->b_off),
                      OCL_ARG(g->b_bs),     OCL_ARG(g->b_sk),  OCL_ARG(g->b_sn), OCL_ARG(g->bias), OCL_ARG(g->bias_off),
                      OCL_ARG(g->has_bias), OCL_ARG(g->M),     OCL_ARG(g->N),    OCL_ARG(g->K)};
    if (!g->M || !g->N || !batches)
        return STRATA_OK;
    if (d->is_cpu && g->a_sk == 1 && g->b_sk == 1) {
        size_t gd[3] = {ocl_round_up((size_t)g->N, 4) / 4, (size_t)g->M, (size_t)batches};
        return ocl_launch(call, d, OCL_K_gemm_dot, 3, gd, NULL, (int)(sizeof args / sizeof args[0]), args);
    }
    if (d->is_cpu && g->b_sn == 1) {
        size_t ga[3] = {ocl_round_up((size_t)g->N, 8) / 8, ocl_round_up((size_t)g->M, 4) / 4, (size_t)batches};
        return ocl_launch(call, d, OCL_K_gemm_axpy, 3, ga, NULL, (int)(sizeof args / sizeof args[0]), args);
    }
    if (!d->gemm_ok)
        return kc_error(call, STRATA_E_UNSUPPORTED, "%s cannot run the GEMM's 16x16 work-groups", d->name);
    return ocl_launch(call, d, OCL_K_gemm, 3, global, local, (int)(sizeof args / sizeof args[0]), args);
}

/* Broadcast batch shape of a and b (dims before the last two). */
static int ocl_batch_shape(const strata_tensor_desc *A, const strata_tensor_desc *B, int *nd, int64_t *out)
{
    int na = A->ndim - 2, nb = B->ndim - 2, n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int64_t da = d - (n - na) >= 0 ? A->shape[d - (n - na)] : 1;
        int64_t db = d - (n - nb) >= 0 ? B->shape[d - (n - nb)] : 1;
        if (da != db && da != 1 && db != 1)
            return 0;
        out[d] = da == 1 ? db : da;
    }
    *nd = n;
    return 1;
}

/* Element offset of batch @p bt's matrix in X (batch dims broadcast to
 * (nd, batch)), each matrix @p mat elements. */
static int64_t ocl_batch_offset(const strata_tensor_desc *X, int nd, const int64_t *batch, int64_t bt, int64_t mat)
{
    int nx = X->ndim - 2;
    int64_t off = 0, run = mat;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t idx = bt % batch[d];
        bt /= batch[d];
        int k = d - (nd - nx);
        if (k < 0)
            continue;
        if (X->shape[k] != 1)
            off += idx * run;
        run *= X->shape[k];
    }
    return off;
}

/* 1 if X's batch dims are exactly (nd, batch) (or X has none / one matrix):
 * its batch stride is then mat (or 0). */
static int ocl_batch_simple(const strata_tensor_desc *X, int nd, const int64_t *batch, int64_t mat, cl_long *bs)
{
    int nx = X->ndim - 2;
    int64_t nbx = 1;
    for (int k = 0; k < nx; k++)
        nbx *= X->shape[k];
    if (nbx == 1) {
        *bs = 0;
        return 1;
    }
    if (nx != nd)
        return 0;
    for (int k = 0; k < nd; k++)
        if (X->shape[k] != batch[k])
            return 0;
    *bs = mat;
    return 1;
}

OCL_KERNEL(matmul)
{
    strata_status s = kc_check_f32_call(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *A = &call->inputs[0], *B = &call->inputs[1], *Y = &call->outputs[0];
    int trans_a = strata_attr_get_int(call->attrs, call->n_attrs, "trans_a", 0) != 0;
    int trans_b = strata_attr_get_int(call->attrs, call->n_attrs, "trans_b", 0) != 0;
    char sa[128], sb[128];
    if (A->ndim < 2 || B->ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "operands must have at least 2 dims, got a %s and b %s",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    int64_t M = A->shape[A->ndim - (trans_a ? 1 : 2)], K = A->shape[A->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = B->shape[B->ndim - (trans_b ? 1 : 2)], N = B->shape[B->ndim - (trans_b ? 2 : 1)];
    int nd = 0;
    int64_t batch[STRATA_MAX_DIMS];
    int ok = K == Kb && ocl_batch_shape(A, B, &nd, batch) && Y->ndim == nd + 2 && Y->shape[nd] == M &&
             Y->shape[nd + 1] == N;
    for (int k = 0; ok && k < nd; k++)
        ok = Y->shape[k] == batch[k];
    if (!ok)
        return kc_error(call, STRATA_E_SHAPE, "a %s times b %s does not give the output's shape",
                        kc_shape_str(sa, sizeof sa, A->ndim, A->shape),
                        kc_shape_str(sb, sizeof sb, B->ndim, B->shape));
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;

    int64_t nbatch = 1;
    for (int k = 0; k < nd; k++)
        nbatch *= batch[k];
    ocl_gemm_args g;
    memset(&g, 0, sizeof g);
    g.c = ocl_mem(Y);
    g.a = ocl_mem(A);
    g.b = ocl_mem(B);
    g.M = M;
    g.N = N;
    g.K = K;
    /* a(m, k): stored (M, K), or (K, M) when transposed; likewise b */
    g.a_sm = trans_a ? 1 : K;
    g.a_sk = trans_a ? M : 1;
    g.b_sk = trans_b ? 1 : N;
    g.b_sn = trans_b ? K : 1;
    if (ocl_batch_simple(A, nd, batch, M * K, &g.a_bs) && ocl_batch_simple(B, nd, batch, K * N, &g.b_bs)) {
        g.a_off = ocl_off(A);
        g.b_off = ocl_off(B);
        return ocl_gemm_launch(call, d, &g, nbatch);
    }
    for (int64_t bt = 0; bt < nbatch && s == STRATA_OK; bt++) {
        g.a_off = ocl_off(A) + ocl_batch_offset(A, nd, batch, bt, M * K);
        g.b_off = ocl_off(B) + ocl_batch_offset(B, nd, batch, bt, K * N);
        g.c_off = bt * M * N;
        s = ocl_gemm_launch(call, d, &g, 1);
    }
    return s;
}

/* y (rows, OUT) = x (rows, IN) w^T + bias; w (OUT, IN), bias (OUT) optional. */
OCL_KERNEL(linear)
{
    strata_status s = kc_check_f32_call(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *W = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *Bi = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    char sx[128], sw[128];
    if (X->ndim < 1 || W->ndim != 2 || X->shape[X->ndim - 1] != W->shape[1] ||
        (Bi && (Bi->ndim != 1 || Bi->shape[0] != W->shape[0])))
        return kc_error(call, STRATA_E_SHAPE, "input %s, weight %s (and bias) do not match",
                        kc_shape_str(sx, sizeof sx, X->ndim, X->shape),
                        kc_shape_str(sw, sizeof sw, W->ndim, W->shape));
    int64_t in = W->shape[1], out = W->shape[0];
    int64_t rows = 1; /* the leading dimensions' product (numel / in is 0/0 when in is 0) */
    for (int k = 0; k + 1 < X->ndim; k++)
        rows *= X->shape[k];
    if ((s = kc_check_numel(call, Y, "output", rows * out)) != STRATA_OK)
        return s;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) != STRATA_OK)
        return s;
    ocl_gemm_args g;
    memset(&g, 0, sizeof g);
    g.c = ocl_mem(Y);
    g.a = ocl_mem(X);
    g.a_off = ocl_off(X);
    g.a_sm = in;
    g.a_sk = 1;
    g.b = ocl_mem(W);
    g.b_off = ocl_off(W);
    g.b_sk = 1;
    g.b_sn = in;
    if (Bi) {
        g.bias = ocl_mem(Bi);
        g.bias_off = ocl_off(Bi);
        g.has_bias = 1;
    }
    g.M = rows;
    g.N = out;
    g.K = in;
    return ocl_gemm_launch(call, d, &g, 1);
}
