/*
 * cuda_conv.c - the conv plugin's ops on the device: convolutions through
 * cuDNN (forward, backward data, backward weight, and conv_transpose2d as
 * backward data with the roles swapped), pooling and the per-channel bias
 * through cuda_conv_kernels.cu.
 *
 * The core ran the op's shape inference (which checks every attribute and
 * size) before a kernel here runs, so these only read the attributes.
 * cuDNN runs in plain FP32 (CUDNN_FMA_MATH: no TF32 tensor cores), with the
 * algorithm its heuristics rank first among those that need no tensor ops;
 * scratch comes from the device's workspace.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_libs.h"
#include "cuda_ops.h"

/* An int or [h, w] attribute (absent or empty: @p dflt), as the plugin reads it. */
static void cuda_pair(const strata_kernel_call *call, const char *name, int64_t dflt, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    out[0] = out[1] = dflt;
    if (a && a->kind == STRATA_ATTR_INT)
        out[0] = out[1] = a->i;
    else if (a && a->kind == STRATA_ATTR_INTS && a->n == 1)
        out[0] = out[1] = a->ints[0];
    else if (a && a->kind == STRATA_ATTR_INTS && a->n == 2)
        out[0] = a->ints[0], out[1] = a->ints[1];
}

/* ---- cuDNN convolutions --------------------------------------------------- */

/* Descriptors of one convolution "x (N, C, H, W) * w (OC, C/g, KH, KW) -> y (N, OC, OH, OW)". */
typedef struct cuda_conv_plan {
    cudnnHandle_t h;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} cuda_conv_plan;

static void cuda_conv_plan_free(cuda_conv_plan *p)
{
    if (p->x)
        cuda_dnn.cudnnDestroyTensorDescriptor(p->x);
    if (p->y)
        cuda_dnn.cudnnDestroyTensorDescriptor(p->y);
    if (p->w)
        cuda_dnn.cudnnDestroyFilterDescriptor(p->w);
    if (p->conv)
        cuda_dnn.cudnnDestroyConvolutionDescriptor(p->conv);
}

static int cuda_fits_int(const int64_t *v, int n)
{
    for (int k = 0; k < n; k++)
        if (v[k] < 0 || v[k] > INT_MAX)
            return 0;
    return 1;
}

#define CONV_TRY(expr)                                                                                         \
    do {                                                                                                       \
        int e_ = (int)(expr);                                                                                  \
        if (e_ != 0) {                                                                                         \
            s = cuda_fail_dnn(e_, #expr, __FILE__, __LINE__);                                                  \
            goto done;                                                                                         \
        }                                                                                                      \
    } while (0)

/* Fills @p p for x, w, y shapes (4 each) and the call's stride, padding,
 * dilation and groups. */
static strata_status cuda_conv_plan_make(const strata_kernel_call *call, cuda_device *d, const int64_t *xs,
                                         const int64_t *ws, const int64_t *ys, cuda_conv_plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t st[2], pad[2], dil[2];
    cuda_pair(call, "stride", 1, st);
    cuda_pair(call, "padding", 0, pad);
    cuda_pair(call, "dilation", 1, dil);
    int64_t groups = strata_attr_get_int(call->attrs, call->n_attrs, "groups", 1);
    int64_t all[3] = {st[0], pad[0], dil[0]}, all2[3] = {st[1], pad[1], dil[1]};
    if (!cuda_fits_int(xs, 4) || !cuda_fits_int(ws, 4) || !cuda_fits_int(ys, 4) || !cuda_fits_int(all, 3) ||
        !cuda_fits_int(all2, 3) || groups < 1 || groups > INT_MAX)
        return kc_error(call, STRATA_E_UNSUPPORTED, "sizes exceed cuDNN's int range");
    CUDA_OK(cuda_dnn_handle(d, &p->h));
    strata_status s = STRATA_OK;
    CONV_TRY(cuda_dnn.cudnnCreateTensorDescriptor(&p->x));
    CONV_TRY(cuda_dnn.cudnnCreateTensorDescriptor(&p->y));
    CONV_TRY(cuda_dnn.cudnnCreateFilterDescriptor(&p->w));
    CONV_TRY(cuda_dnn.cudnnCreateConvolutionDescriptor(&p->conv));
    CONV_TRY(cuda_dnn.cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)xs[0], (int)xs[1],
                                                 (int)xs[2], (int)xs[3]));
    CONV_TRY(cuda_dnn.cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)ys[0], (int)ys[1],
                                                 (int)ys[2], (int)ys[3]));
    CONV_TRY(cuda_dnn.cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)ws[0], (int)ws[1],
                                                 (int)ws[2], (int)ws[3]));
    CONV_TRY(cuda_dnn.cudnnSetConvolution2dDescriptor(p->conv, (int)pad[0], (int)pad[1], (int)st[0], (int)st[1],
                                                      (int)dil[0], (int)dil[1], CUDNN_CROSS_CORRELATION,
                                                      CUDNN_DATA_FLOAT));
    CONV_TRY(cuda_dnn.cudnnSetConvolutionGroupCount(p->conv, (int)groups));
    CONV_TRY(cuda_dnn.cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    return STRATA_OK;
done:
    cuda_conv_plan_free(p);
    return s;
}

/* The first ranked algorithm that succeeded without tensor-op math and is
 * deterministic (a run repeats bit for bit on one backend: cuDNN's
 * backward algorithms that add with atomics do not), else the first ranked
 * one that succeeded without tensor-op math. */
#define CUDA_PICK_ALGO(perf, n, out)                                                                           \
    do {                                                                                                       \
        int found_ = 0;                                                                                        \
        for (int any_ = 0; any_ < 2 && !found_; any_++) {                                                      \
            for (int k_ = 0; k_ < (n) && !found_; k_++) {                                                      \
                if ((perf)[k_].status == CUDNN_STATUS_SUCCESS && (perf)[k_].mathType != CUDNN_TENSOR_OP_MATH && \
                    (perf)[k_].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&                            \
                    (any_ || (perf)[k_].determinism == CUDNN_DETERMINISTIC)) {                                 \
                    (out) = (int)(perf)[k_].algo;                                                              \
                    found_ = 1;                                                                                \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        if (!found_) {                                                                                         \
            s = kc_error(call, STRATA_E_UNSUPPORTED, "cuDNN offers no FP32 algorithm for this convolution"); \
            goto done;                                                                                         \
        }                                                                                                      \
    } while (0)

/* ---- the plan cache -------------------------------------------------------
 * Making the descriptors and asking cuDNN's heuristics for an algorithm took
 * longer than the convolution itself at small sizes (about 0.5 ms a call on
 * an H200 for LeNet's layers, W2), and a training step repeats the same few
 * geometries, so each device keeps its last CUDA_CONV_PLANS plans (the least
 * recently used is replaced), keyed by direction, shapes and attributes. */

#define CUDA_CONV_PLANS 32
enum { CONV_FWD, CONV_DATA, CONV_FILTER };

typedef struct cuda_conv_slot {
    int kind;       /* CONV_*; -1: empty */
    int64_t key[19]; /* x, w, y shapes; stride, padding, dilation; groups */
    cuda_conv_plan p;
    int algo;       /* the kind's cudnnConvolution*Algo_t */
    size_t bytes;   /* its workspace */
    uint64_t used;
} cuda_conv_slot;

typedef struct cuda_conv_cache {
    cuda_conv_slot slot[CUDA_CONV_PLANS];
    uint64_t tick;
} cuda_conv_cache;

void cuda_conv_plans_release(cuda_device *d)
{
    cuda_conv_cache *c = d->conv_plans;
    if (!c)
        return;
    for (int k = 0; k < CUDA_CONV_PLANS; k++)
        if (c->slot[k].kind >= 0)
            cuda_conv_plan_free(&c->slot[k].p);
    free(c);
    d->conv_plans = NULL;
}

/* The plan, algorithm and workspace size of a @p kind convolution of x (xs),
 * w (ws), y (ys) with the call's attributes: cached, or made and cached. */
static strata_status cuda_conv_plan_get(const strata_kernel_call *call, cuda_device *d, int kind, const int64_t *xs,
                                        const int64_t *ws, const int64_t *ys, const cuda_conv_slot **out)
{
    cuda_conv_cache *c = d->conv_plans;
    if (!c) {
        if (!(c = malloc(sizeof *c)))
            return kc_error(call, STRATA_E_NOMEM, "no memory for the convolution plan cache");
        memset(c, 0, sizeof *c);
        for (int k = 0; k < CUDA_CONV_PLANS; k++)
            c->slot[k].kind = -1;
        d->conv_plans = c;
    }
    int64_t key[19], st[2], pad[2], dil[2];
    cuda_pair(call, "stride", 1, st);
    cuda_pair(call, "padding", 0, pad);
    cuda_pair(call, "dilation", 1, dil);
    memcpy(key, xs, 4 * sizeof *key);
    memcpy(key + 4, ws, 4 * sizeof *key);
    memcpy(key + 8, ys, 4 * sizeof *key);
    key[12] = st[0], key[13] = st[1], key[14] = pad[0], key[15] = pad[1], key[16] = dil[0], key[17] = dil[1];
    key[18] = strata_attr_get_int(call->attrs, call->n_attrs, "groups", 1);
    cuda_conv_slot *victim = NULL; /* an empty slot, else the least recently used */
    for (int k = 0; k < CUDA_CONV_PLANS; k++) {
        cuda_conv_slot *e = &c->slot[k];
        if (e->kind == kind && !memcmp(e->key, key, sizeof key)) {
            e->used = ++c->tick;
            *out = e;
            return STRATA_OK;
        }
        if (!victim || (victim->kind >= 0 && (e->kind < 0 || e->used < victim->used)))
            victim = e;
    }
    if (victim->kind >= 0)
        cuda_conv_plan_free(&victim->p);
    victim->kind = -1;
    cuda_conv_plan p;
    CUDA_OK(cuda_conv_plan_make(call, d, xs, ws, ys, &p));
    strata_status s = STRATA_OK;
    int n = 0, algo = 0;
    size_t bytes = 0;
    if (kind == CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[8];
        CONV_TRY(cuda_dnn.cudnnGetConvolutionForwardAlgorithm_v7(p.h, p.x, p.w, p.conv, p.y, 8, &n, perf));
        CUDA_PICK_ALGO(perf, n, algo);
        CONV_TRY(cuda_dnn.cudnnGetConvolutionForwardWorkspaceSize(p.h, p.x, p.w, p.conv, p.y,
                                                                  (cudnnConvolutionFwdAlgo_t)algo, &bytes));
    } else if (kind == CONV_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[8];
        CONV_TRY(cuda_dnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(p.h, p.w, p.y, p.conv, p.x, 8, &n, perf));
        CUDA_PICK_ALGO(perf, n, algo);
        CONV_TRY(cuda_dnn.cudnnGetConvolutionBackwardDataWorkspaceSize(p.h, p.w, p.y, p.conv, p.x,
                                                                       (cudnnConvolutionBwdDataAlgo_t)algo, &bytes));
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
        CONV_TRY(cuda_dnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(p.h, p.x, p.y, p.conv, p.w, 8, &n, perf));
        CUDA_PICK_ALGO(perf, n, algo);
        CONV_TRY(cuda_dnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(
            p.h, p.x, p.y, p.conv, p.w, (cudnnConvolutionBwdFilterAlgo_t)algo, &bytes));
    }
    victim->kind = kind;
    memcpy(victim->key, key, sizeof key);
    victim->p = p;
    victim->algo = algo;
    victim->bytes = bytes;
    victim->used = ++c->tick;
    *out = victim;
    return STRATA_OK;
done:
    cuda_conv_plan_free(&p);
    return s;
}

/* One convolution through its cached plan:
 *   CONV_FWD     y = conv(x, w)              a = x,  b = w, out = y
 *   CONV_DATA    dx = conv^T(dy, w)          a = dy, b = w, out = dx
 *   CONV_FILTER  dw = (d conv / dw) . dy     a = dy, b = x, out = dw */
static strata_status cuda_conv_run(const strata_kernel_call *call, cuda_device *d, int kind,
                                   const strata_tensor_desc *A, const strata_tensor_desc *B,
                                   const strata_tensor_desc *OUT)
{
    const int64_t *xs = kind == CONV_FWD ? A->shape : kind == CONV_DATA ? OUT->shape : B->shape;
    const int64_t *ws = kind == CONV_FILTER ? OUT->shape : B->shape;
    const int64_t *ys = kind == CONV_FWD ? OUT->shape : A->shape;
    const cuda_conv_slot *e;
    CUDA_OK(cuda_conv_plan_get(call, d, kind, xs, ws, ys, &e));
    void *scratch = NULL;
    const float one = 1.0f, zero = 0.0f;
    CUDA_OK(cuda_workspace(d, e->bytes, &scratch));
    const cuda_conv_plan *p = &e->p;
    if (kind == CONV_FWD)
        CUDNN_TRY(cuda_dnn.cudnnConvolutionForward(p->h, &one, p->x, cuda_ptr(A), p->w, cuda_ptr(B), p->conv,
                                                   (cudnnConvolutionFwdAlgo_t)e->algo, scratch, e->bytes, &zero,
                                                   p->y, cuda_ptr(OUT)));
    else if (kind == CONV_DATA)
        CUDNN_TRY(cuda_dnn.cudnnConvolutionBackwardData(p->h, &one, p->w, cuda_ptr(B), p->y, cuda_ptr(A), p->conv,
                                                        (cudnnConvolutionBwdDataAlgo_t)e->algo, scratch, e->bytes,
                                                        &zero, p->x, cuda_ptr(OUT)));
    else
        CUDNN_TRY(cuda_dnn.cudnnConvolutionBackwardFilter(p->h, &one, p->x, cuda_ptr(B), p->y, cuda_ptr(A), p->conv,
                                                          (cudnnConvolutionBwdFilterAlgo_t)e->algo, scratch,
                                                          e->bytes, &zero, p->w, cuda_ptr(OUT)));
    return STRATA_OK;
}

static strata_status cuda_check_4d(const strata_kernel_call *call)
{
    CUDA_OK(kc_check_all_f32(call));
    for (int k = 0; k < call->n_inputs; k++)
        if (call->inputs[k].ndim != 4 && !(k == 2 && call->inputs[k].ndim == 1))
            return kc_error(call, STRATA_E_SHAPE, "input %d must be 4-D", k);
    if (call->outputs[0].ndim != 4)
        return kc_error(call, STRATA_E_SHAPE, "the output must be 4-D");
    return STRATA_OK;
}

/* cuDNN rejects empty dims: an empty output needs no work, and an empty
 * sum (no images, no input channels) gives zeros. 1 when handled. */
static int cuda_conv_empty(const strata_kernel_call *call, cuda_device *d, strata_status *s)
{
    const strata_tensor_desc *Y = &call->outputs[0];
    int64_t ny = strata_desc_numel(Y);
    int empty = ny == 0;
    for (int k = 0; k < 2; k++)
        empty |= strata_desc_numel(&call->inputs[k]) == 0;
    if (!empty)
        return 0;
    cudaError_t e = ny ? cudaMemsetAsync(cuda_ptr(Y), 0, (size_t)ny * sizeof(float), d->stream) : cudaSuccess;
    *s = e == cudaSuccess ? STRATA_OK : cuda_fail_rt(e, "cudaMemsetAsync(y, 0, bytes, stream)", __FILE__, __LINE__);
    return 1;
}

/* (x, w [, b]) -> y */
CUDA_KERNEL(conv2d)
{
    CUDA_OK(kc_check_arity(call, 2, 3, 1));
    CUDA_OK(cuda_check_4d(call));
    const strata_tensor_desc *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    strata_status s = STRATA_OK;
    if (!cuda_conv_empty(call, d, &s))
        s = cuda_conv_run(call, d, CONV_FWD, &call->inputs[0], &call->inputs[1], Y);
    if (s != STRATA_OK)
        return s;
    if (call->n_inputs > 2)
        CUDA_TRY(cuda_k_channel_bias(d->stream, cuda_ptr(Y), cuda_ptr(&call->inputs[2]), Y->shape[0], Y->shape[1],
                                     Y->shape[2] * Y->shape[3]));
    return STRATA_OK;
}

/* (dy, w) -> dx */
CUDA_KERNEL(conv2d_backward_data)
{
    CUDA_OK(kc_check_arity(call, 2, 2, 1));
    CUDA_OK(cuda_check_4d(call));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    strata_status s = STRATA_OK;
    if (cuda_conv_empty(call, d, &s))
        return s;
    return cuda_conv_run(call, d, CONV_DATA, &call->inputs[0], &call->inputs[1], &call->outputs[0]);
}

/* (dy, x) -> dw */
CUDA_KERNEL(conv2d_backward_weight)
{
    CUDA_OK(kc_check_arity(call, 2, 2, 1));
    CUDA_OK(cuda_check_4d(call));
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    strata_status s = STRATA_OK;
    if (cuda_conv_empty(call, d, &s))
        return s;
    return cuda_conv_run(call, d, CONV_FILTER, &call->inputs[0], &call->inputs[1], &call->outputs[0]);
}

/* (x (N, C_in, H, W), w (C_in, OC/g, KH, KW) [, b]) -> y (N, OC, OH, OW): the
 * backward data of the convolution y -> x whose weight is w. */
CUDA_KERNEL(conv_transpose2d)
{
    CUDA_OK(kc_check_arity(call, 2, 3, 1));
    CUDA_OK(cuda_check_4d(call));
    const strata_tensor_desc *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    strata_status s = STRATA_OK;
    if (!cuda_conv_empty(call, d, &s))
        s = cuda_conv_run(call, d, CONV_DATA, &call->inputs[0], &call->inputs[1], Y);
    if (s != STRATA_OK)
        return s;
    if (call->n_inputs > 2)
        CUDA_TRY(cuda_k_channel_bias(d->stream, cuda_ptr(Y), cuda_ptr(&call->inputs[2]), Y->shape[0], Y->shape[1],
                                     Y->shape[2] * Y->shape[3]));
    return STRATA_OK;
}

/* ---- pooling (own kernels) ------------------------------------------------ */

/* Geometry from the attrs, x's (N, C, H, W) and y's (.., OH, OW). */
static cuda_pool_geom cuda_pool_geom_of(const strata_kernel_call *call, const int64_t *xs, const int64_t *ys)
{
    int64_t k[2], s[2], p[2];
    cuda_pair(call, "kernel_size", -1, k);
    cuda_pair(call, "stride", -1, s);
    cuda_pair(call, "padding", 0, p);
    const strata_attr *sa = strata_attr_find(call->attrs, call->n_attrs, "stride");
    if (!sa || (sa->kind == STRATA_ATTR_INTS && sa->n == 0))
        s[0] = k[0], s[1] = k[1];
    cuda_pool_geom g = {xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], k[0], k[1], s[0], s[1], p[0], p[1],
                        strata_attr_get_int(call->attrs, call->n_attrs, "count_include_pad", 1) != 0};
    return g;
}

/* x -> y, indices (i64) */
CUDA_KERNEL(max_pool2d)
{
    CUDA_OK(kc_check_arity(call, 1, 1, 2));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0], *I = &call->outputs[1];
    if (X->dtype != STRATA_F32 || X->ndim != 4 || I->dtype != STRATA_I64)
        return kc_error(call, STRATA_E_DTYPE, "x must be f32 (N, C, H, W) and indices i64");
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    cuda_pool_geom g = cuda_pool_geom_of(call, X->shape, Y->shape);
    CUDA_TRY(cuda_k_max_pool(d->stream, cuda_ptr(Y), cuda_ptr(I), cuda_ptr(X), g));
    return STRATA_OK;
}

/* (dy, indices) -> dx */
CUDA_KERNEL(max_pool2d_backward)
{
    CUDA_OK(kc_check_arity(call, 2, 2, 1));
    const strata_tensor_desc *DY = &call->inputs[0], *I = &call->inputs[1], *DX = &call->outputs[0];
    if (DY->dtype != STRATA_F32 || I->dtype != STRATA_I64 || DX->ndim != 4 || DY->ndim != 4)
        return kc_error(call, STRATA_E_DTYPE, "dy must be f32 and indices i64, both 4-D");
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    cuda_pool_geom g = cuda_pool_geom_of(call, DX->shape, DY->shape);
    /* The gather needs the forward's window, which the call may leave out
     * (input_size is the op's one required attribute; then g.KH is -1):
     * then, and for indices outside their windows, ref's scatter. The
     * plugin's shape inference checked a window that is given against dy. */
    /* flags[0]: an index outside the plane (cuda_bad_check reads and frees
     * it); flags[1]: one outside its window, which the gather would miss */
    unsigned long long *flags = NULL, host[2] = {0, 0};
    CUDA_OK(cuda_temp_alloc(d, 2 * sizeof *flags, (void **)&flags));
    const char *what = "cudaMemsetAsync(flags, ...)"; /* the call that failed, named in the message */
    cudaError_t e = cudaMemsetAsync(flags, 0xff, sizeof *flags, d->stream);
    if (e == cudaSuccess)
        e = cudaMemsetAsync(flags + 1, 0, sizeof *flags, d->stream);
    if (e == cudaSuccess)
        e = cuda_k_max_pool_check(d->stream, cuda_ptr(I), g, flags), what = "cuda_k_max_pool_check(...)";
    if (e != cudaSuccess) {
        cuda_temp_free(d, flags);
        return cuda_fail_rt(e, what, __FILE__, __LINE__);
    }
    strata_status s = cuda_copy_to_host(call->backend_self, call->device, host, flags, 0, sizeof host);
    if (s == STRATA_OK && host[0] != ~0ull) /* names the index and frees flags */
        return cuda_bad_check(call, d, flags, I, DX->shape[2] * DX->shape[3], "index", "flat position");
    cuda_temp_free(d, flags);
    if (s != STRATA_OK)
        return s;
    double *acc = NULL;
    if (host[1] || g.KH < 1)
        CUDA_OK(cuda_temp_alloc(d, (size_t)(g.NC * g.H * g.W) * sizeof *acc, (void **)&acc));
    e = cuda_k_max_pool_backward(d->stream, cuda_ptr(DX), cuda_ptr(DY), cuda_ptr(I), g, acc);
    cuda_temp_free(d, acc);
    if (e != cudaSuccess)
        return cuda_fail_rt(e, "cuda_k_max_pool_backward(...)", __FILE__, __LINE__);
    return STRATA_OK;
}

CUDA_KERNEL(avg_pool2d)
{
    CUDA_OK(kc_check_arity(call, 1, 1, 1));
    CUDA_OK(cuda_check_4d(call));
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_avg_pool(d->stream, cuda_ptr(Y), cuda_ptr(X), cuda_pool_geom_of(call, X->shape, Y->shape)));
    return STRATA_OK;
}

CUDA_KERNEL(avg_pool2d_backward)
{
    CUDA_OK(kc_check_arity(call, 1, 1, 1));
    CUDA_OK(cuda_check_4d(call));
    const strata_tensor_desc *DY = &call->inputs[0], *DX = &call->outputs[0];
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_avg_pool_backward(d->stream, cuda_ptr(DX), cuda_ptr(DY),
                                      cuda_pool_geom_of(call, DX->shape, DY->shape)));
    return STRATA_OK;
}

/* (N, C, H, W) -> (N, C): the mean of each plane. */
CUDA_KERNEL(global_avg_pool2d)
{
    CUDA_OK(kc_check_f32_call(call, 1, 1, 1));
    const strata_tensor_desc *X = &call->inputs[0];
    if (X->ndim != 4)
        return kc_error(call, STRATA_E_SHAPE, "x must be (N, C, H, W)");
    int mask[STRATA_MAX_DIMS] = {0, 0, 1, 1};
    cuda_walk kept, red;
    int64_t n_out = 0, n_red = 0;
    cuda_reduction_plan(X, mask, &kept, &n_out, &red, &n_red);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    return cuda_run_reduce(d, CUDA_RED_MEAN, cuda_ptr(&call->outputs[0]), cuda_ptr(X), n_out, n_red, &kept, &red);
}

/* ---- batch norm (own kernels: cuDNN requires eps >= 1e-5 and updates the
 * running statistics inside its forward, where Strata has a separate op) -- */

static void cuda_nc_s(const strata_tensor_desc *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int k = 2; k < x->ndim; k++)
        *S *= x->shape[k];
}

/* (x, weight, bias, running_mean, running_var) -> y, mean, invstd */
CUDA_KERNEL(batch_norm)
{
    CUDA_OK(kc_check_f32_call(call, 5, 5, 3));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    if (in[0].ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "x must be (N, C, ...)");
    int64_t N, C, S;
    cuda_nc_s(&in[0], &N, &C, &S);
    int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    double eps = strata_attr_get_float(call->attrs, call->n_attrs, "eps", 1e-5);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_batch_norm(d->stream, cuda_ptr(&out[0]), cuda_ptr(&out[1]), cuda_ptr(&out[2]), cuda_ptr(&in[0]),
                               cuda_ptr(&in[1]), cuda_ptr(&in[2]), cuda_ptr(&in[3]), cuda_ptr(&in[4]), training, eps,
                               N, C, S));
    return STRATA_OK;
}

/* (dy, x, weight, mean, invstd) -> dx, dweight, dbias */
CUDA_KERNEL(batch_norm_backward)
{
    CUDA_OK(kc_check_f32_call(call, 5, 5, 3));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    if (in[1].ndim < 2)
        return kc_error(call, STRATA_E_SHAPE, "x must be (N, C, ...)");
    int64_t N, C, S;
    cuda_nc_s(&in[1], &N, &C, &S);
    int training = strata_attr_get_int(call->attrs, call->n_attrs, "training", 0) != 0;
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_batch_norm_backward(d->stream, cuda_ptr(&out[0]), cuda_ptr(&out[1]), cuda_ptr(&out[2]),
                                        cuda_ptr(&in[0]), cuda_ptr(&in[1]), cuda_ptr(&in[2]), cuda_ptr(&in[3]),
                                        cuda_ptr(&in[4]), training, N, C, S));
    return STRATA_OK;
}

/* (running_mean, x, running_var, num_batches_tracked) -> the three, updated in place */
CUDA_KERNEL(batch_norm_update_stats)
{
    CUDA_OK(kc_check_arity(call, 4, 4, 3));
    const strata_tensor_desc *in = call->inputs, *out = call->outputs;
    for (int k = 0; k < 3; k++)
        if (in[k].dtype != STRATA_F32 || (k < 2 && out[k].dtype != STRATA_F32))
            return kc_error(call, STRATA_E_DTYPE, "running_mean, x and running_var must be f32");
    if (in[3].dtype != STRATA_I64 || out[2].dtype != STRATA_I64 || in[1].ndim < 2)
        return kc_error(call, STRATA_E_DTYPE, "num_batches_tracked must be i64 and x (N, C, ...)");
    int64_t N, C, S;
    cuda_nc_s(&in[1], &N, &C, &S);
    double momentum = strata_attr_get_float(call->attrs, call->n_attrs, "momentum", 0.1);
    cuda_device *d;
    CUDA_OK(cuda_call_device(call, &d));
    CUDA_TRY(cuda_k_batch_norm_update_stats(d->stream, cuda_ptr(&out[0]), cuda_ptr(&out[1]), cuda_ptr(&out[2]),
                                            cuda_ptr(&in[0]), cuda_ptr(&in[1]), cuda_ptr(&in[2]), cuda_ptr(&in[3]),
                                            momentum, N, C, S));
    return STRATA_OK;
}
