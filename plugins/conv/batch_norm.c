/*
 * batch_norm.c - batch normalisation over the channel axis (axis 1) of
 * x (N, C, *): (N, C), (N, C, L) or (N, C, H, W). M = N x (product of the
 * dims after C) values per channel.
 *
 *   conv::batch_norm (x, weight, bias, running_mean, running_var) -> y, mean, invstd
 *       attrs training (0), eps (1e-5)
 *       training: mean, var = the batch's (biased variance, as PyTorch normalises)
 *       eval:     mean, var = running_mean, running_var
 *       y = (x - mean) invstd weight + bias,  invstd = 1 / sqrt(var + eps)
 *       outputs 1 and 2 (C) are saved for the backward and carry no gradient.
 *
 *   conv::batch_norm_backward (dy, x, weight, mean, invstd) -> dx, dweight, dbias
 *       attr training; with xhat = (x - mean) invstd, per channel:
 *       dbias = sum dy, dweight = sum dy xhat,
 *       dx = weight invstd (dy - dbias / M - xhat dweight / M)   (training)
 *       dx = weight invstd dy                                   (eval: mean, invstd constants)
 *
 *   conv::batch_norm_update_stats (running_mean, x, running_var, num_batches_tracked)
 *       -> running_mean, running_var, num_batches_tracked       attr momentum (0.1)
 *       the in-place update PyTorch does in training (invoke it with
 *       STRATA_INVOKE_OUTPUTS_PROVIDED and the buffers as outputs):
 *       running_mean = (1 - m) running_mean + m mean(x)
 *       running_var  = (1 - m) running_var  + m var(x) M / (M - 1)   (unbiased)
 *       num_batches_tracked += 1
 *       The inputs are ordered as an optimizer step's (the state first, then
 *       the data, then the other state) so the buffers are outputs 0, 1, 2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_internal.h"

/* x (N, C, S) viewed as three sizes. */
static void nc_s(const strata_tensor_desc *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int k = 2; k < x->ndim; k++)
        *S *= x->shape[k];
}

/* Mean and biased variance of channel c of x (N, C, S), two passes in double. */
static void channel_stats(const float *x, int64_t N, int64_t C, int64_t S, int64_t c, double *mean, double *var)
{
    double sum = 0.0, sq = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++)
            sum += x[(n * C + c) * S + s];
    double m = sum / (double)(N * S);
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++) {
            double d = x[(n * C + c) * S + s] - m;
            sq += d * d;
        }
    *mean = m;
    *var = sq / (double)(N * S);
}

/* ======================================================================= */
/* Kernels                                                                  */
/* ======================================================================= */

/* y (N, C, S); mean_out, invstd_out (C); stats from x (training) or from rm, rv. */
static void batch_norm_forward(float *y, float *mean_out, float *invstd_out, const float *x, const float *weight,
                               const float *bias, const float *rm, const float *rv, int training, double eps,
                               int64_t N, int64_t C, int64_t S)
{
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (training) {
            channel_stats(x, N, C, S, c, &mean, &var);
        } else {
            mean = rm[c];
            var = rv[c];
        }
        /* a constant channel with eps 0 gets invstd 0 in training, so y is the bias (as PyTorch) */
        double invstd = training && var == 0.0 && eps == 0.0 ? 0.0 : 1.0 / sqrt(var + eps);
        double a = invstd * weight[c], b = bias[c];
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                y[i] = (float)((x[i] - mean) * a + b);
            }
        mean_out[c] = (float)mean;
        invstd_out[c] = (float)invstd;
    }
}

/* dx (N, C, S), dweight, dbias (C) from dy, x, weight, mean, invstd. */
static void batch_norm_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                                const float *weight, const float *mean, const float *invstd, int training, int64_t N,
                                int64_t C, int64_t S)
{
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        const double mu = mean[c], is = invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                sum_dy += dy[i];
                sum_dy_xhat += dy[i] * (x[i] - mu) * is;
            }
        dbias[c] = (float)sum_dy;
        dweight[c] = (float)sum_dy_xhat;
        const double k = weight[c] * is;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                if (training) {
                    double xhat = (x[i] - mu) * is;
                    dx[i] = (float)(k * (dy[i] - sum_dy / M - xhat * sum_dy_xhat / M));
                } else {
                    dx[i] = (float)(k * dy[i]);
                }
            }
    }
}

/* The running statistics' update; outputs may alias the inputs. */
static void batch_norm_update_stats(float *rm_out, float *rv_out, int64_t *nbt_out, const float *rm, const float *x,
                                    const float *rv, const int64_t *nbt, double momentum, int64_t N, int64_t C,
                                    int64_t S)
{
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        channel_stats(x, N, C, S, c, &mean, &var);
        double old_m = rm[c], old_v = rv[c];
        rm_out[c] = (float)((1.0 - momentum) * old_m + momentum * mean);
        rv_out[c] = (float)((1.0 - momentum) * old_v + momentum * var * M / (M - 1.0));
    }
    *nbt_out = *nbt + 1;
}

/* ======================================================================= */
/* Ops                                                                      */
/* ======================================================================= */

/* Input @p k is an f32 vector of C elements. */
static strata_status need_channel_vec(const strata_infer_call *c, int k, const char *what, int64_t C)
{
    strata_status rc = conv_need_f32(c, k, what, 1);
    if (!rc && c->inputs[k].shape[0] != C)
        rc = conv_host(c->user)->set_error(STRATA_E_SHAPE, "%s: %s (input %d) has %lld elements for %lld channels",
                                           c->op, what, k, (long long)c->inputs[k].shape[0], (long long)C);
    return rc;
}

/* Inputs 0 to @p n - 1 that @p names names (NULL: not a vector) are f32 vectors of C. */
static strata_status need_channel_vecs(const strata_infer_call *c, const char *const *names, int n, int64_t C)
{
    strata_status rc = STRATA_OK;
    for (int k = 0; k < n && !rc; k++)
        if (names[k])
            rc = need_channel_vec(c, k, names[k], C);
    return rc;
}

/* Input @p xk is x (N, C, ...) in f32, of sizes *N, *C, *S (S: the axes
 * after C), and the inputs @p names names vectors of C (need_channel_vecs). */
static strata_status need_x_and_vecs(const strata_infer_call *c, int xk, const char *const *names, int n, int64_t *N,
                                     int64_t *C, int64_t *S)
{
    strata_status rc = conv_need_f32(c, xk, "x (N, C, ...)", -2);
    if (rc)
        return rc;
    nc_s(&c->inputs[xk], N, C, S);
    return need_channel_vecs(c, names, n, *C);
}

static strata_status infer_batch_norm(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    int64_t N, C, S;
    static const char *const names[] = {NULL, "weight", "bias", "running_mean", "running_var"};
    strata_status rc = need_x_and_vecs(c, 0, names, 5, &N, &C, &S);
    if (rc)
        return rc;
    int training = (int)strata_attr_get_int(c->attrs, c->n_attrs, "training", 0);
    double eps = strata_attr_get_float(c->attrs, c->n_attrs, "eps", 1e-5);
    if (!(eps >= 0.0) || !isfinite(eps))
        return h->set_error(STRATA_E_INVALID, "%s: eps must be a finite number >= 0, got %g", c->op, eps);
    if (training && N * S <= 1)
        return h->set_error(STRATA_E_INVALID,
                            "%s: training needs more than one value per channel (input has %lld per channel)", c->op,
                            (long long)(N * S));
    conv_desc_like(&c->outputs[0], &c->inputs[0]);
    for (int k = 1; k < 3; k++)
        conv_desc_like(&c->outputs[k], &c->inputs[1]);
    return STRATA_OK;
}

static strata_status kernel_batch_norm(const strata_kernel_call *c)
{
    int64_t N, C, S;
    nc_s(&c->inputs[0], &N, &C, &S);
#define IN(k) ((const float *)strata_desc_ptr(&c->inputs[k]))
#define OUT(k) ((float *)strata_desc_ptr(&c->outputs[k]))
    batch_norm_forward(OUT(0), OUT(1), OUT(2), IN(0), IN(1), IN(2), IN(3), IN(4),
                       (int)strata_attr_get_int(c->attrs, c->n_attrs, "training", 0),
                       strata_attr_get_float(c->attrs, c->n_attrs, "eps", 1e-5), N, C, S);
    return STRATA_OK;
}

static strata_status backward_batch_norm(const strata_backward_call *c)
{
    const strata_host_api *h = c->host;
    if (c->grad_outputs[1] || c->grad_outputs[2])
        return h->set_error(STRATA_E_UNSUPPORTED,
                            "%s: outputs 1 and 2 (mean, invstd) are saved for the backward and carry no gradient",
                            c->op);
    if (!c->grad_outputs[0] || !(c->needs_grad[0] || c->needs_grad[1] || c->needs_grad[2]))
        return STRATA_OK;
    strata_tensor *in[5] = {c->grad_outputs[0], c->inputs[0], c->inputs[1], c->outputs[1], c->outputs[2]};
    strata_tensor *out[3] = {NULL, NULL, NULL};
    strata_attr a = strata_attr_int("training", strata_attr_get_int(c->attrs, c->n_attrs, "training", 0));
    strata_status rc = h->op_call(c->rt, "conv::batch_norm_backward", in, 5, &a, 1, out, 3);
    if (rc)
        return rc;
    for (int k = 0; k < 3; k++) {
        if (c->needs_grad[k])
            c->grad_inputs[k] = out[k];
        else
            h->tensor_release(out[k]);
    }
    return STRATA_OK;
}

static strata_status infer_batch_norm_backward(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    strata_status rc;
    if ((rc = conv_need_f32(c, 0, "dy (N, C, ...)", -2)) || (rc = conv_need_f32(c, 1, "x (N, C, ...)", -2)))
        return rc;
    const strata_tensor_desc *dy = &c->inputs[0], *x = &c->inputs[1];
    char a[96], b[96];
    if (dy->ndim != x->ndim || memcmp(dy->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))
        return h->set_error(STRATA_E_SHAPE, "%s: dy %s and x %s differ in shape", c->op,
                            conv_shape_str(a, sizeof a, dy->ndim, dy->shape),
                            conv_shape_str(b, sizeof b, x->ndim, x->shape));
    if ((rc = need_channel_vecs(c, (const char *const[]){NULL, NULL, "weight", "mean", "invstd"}, 5, x->shape[1])))
        return rc;
    conv_desc_like(&c->outputs[0], x);
    conv_desc_like(&c->outputs[1], &c->inputs[2]);
    conv_desc_like(&c->outputs[2], &c->inputs[2]);
    return STRATA_OK;
}

static strata_status kernel_batch_norm_backward(const strata_kernel_call *c)
{
    int64_t N, C, S;
    nc_s(&c->inputs[1], &N, &C, &S);
    batch_norm_backward(OUT(0), OUT(1), OUT(2), IN(0), IN(1), IN(2), IN(3), IN(4),
                        (int)strata_attr_get_int(c->attrs, c->n_attrs, "training", 0), N, C, S);
    return STRATA_OK;
}

static strata_status infer_update_stats(const strata_infer_call *c)
{
    const strata_host_api *h = conv_host(c->user);
    int64_t N, C, S;
    strata_status rc = need_x_and_vecs(c, 1, (const char *const[]){"running_mean", NULL, "running_var"}, 3, &N, &C, &S);
    if (rc)
        return rc;
    const strata_tensor_desc *nbt = &c->inputs[3];
    if (nbt->dtype != STRATA_I64 || strata_desc_numel(nbt) != 1)
        return h->set_error(STRATA_E_SHAPE, "%s: num_batches_tracked (input 3) must be one i64 value", c->op);
    if (N * S <= 1)
        return h->set_error(STRATA_E_INVALID,
                            "%s: the unbiased variance needs more than one value per channel (input has %lld)", c->op,
                            (long long)(N * S));
    double m = strata_attr_get_float(c->attrs, c->n_attrs, "momentum", 0.1);
    if (!(m >= 0.0 && m <= 1.0))
        return h->set_error(STRATA_E_INVALID, "%s: momentum must be in [0, 1], got %g", c->op, m);
    conv_desc_like(&c->outputs[0], &c->inputs[0]);
    conv_desc_like(&c->outputs[1], &c->inputs[2]);
    conv_desc_like(&c->outputs[2], &c->inputs[3]);
    return STRATA_OK;
}

static strata_status kernel_update_stats(const strata_kernel_call *c)
{
    int64_t N, C, S;
    nc_s(&c->inputs[1], &N, &C, &S);
    batch_norm_update_stats(OUT(0), OUT(1), (int64_t *)strata_desc_ptr(&c->outputs[2]), IN(0), IN(1), IN(2),
                            (const int64_t *)strata_desc_ptr(&c->inputs[3]),
                            strata_attr_get_float(c->attrs, c->n_attrs, "momentum", 0.1), N, C, S);
    return STRATA_OK;
}
#undef IN
#undef OUT

/* The attributes each op takes (checked by the core on every call, ABI 1.4): batch_norm's two, the backward's
 * training (the forward's, passed on), update_stats' momentum. */
static const strata_attr_spec bn_attrs[3] = {
    CONV_OP_ATTR("training", STRATA_ATTR_INT, 0, 0, 0.0, "1: the batch's statistics, 0: the running ones"),
    CONV_OP_ATTR("eps", STRATA_ATTR_FLOAT, 0, 0, 1e-5, "added to the variance"),
    CONV_OP_ATTR("momentum", STRATA_ATTR_FLOAT, 0, 0, 0.1, "the batch's weight in the running statistics"),
};

strata_status conv_register_batch_norm(const strata_host_api *h, strata_plugin *p)
{
    const strata_op_def defs[] = {
        {.struct_size = sizeof(strata_op_def), .name = "conv::batch_norm", .version = 1, .min_inputs = 5,
         .max_inputs = 5, .n_outputs = 3, .infer = infer_batch_norm, .backward = backward_batch_norm,
         .host_kernel = kernel_batch_norm, .user = (void *)(uintptr_t)h,
         .doc = "batch norm over axis 1: (x, weight, bias, running_mean, running_var) -> y, mean, invstd; "
                "training, eps",
         /* the backward reads x, weight, mean and invstd: the layer updates the running
          * statistics in place right after this call (and a discriminator runs twice) */
         .backward_unread_inputs = 1u << 2 | 1u << 3 | 1u << 4, .backward_unread_outputs = 1u << 0,
         .attrs = bn_attrs, .n_attrs = 2},
        {.struct_size = sizeof(strata_op_def), .name = "conv::batch_norm_backward", .version = 1, .min_inputs = 5,
         .max_inputs = 5, .n_outputs = 3, .infer = infer_batch_norm_backward,
         .host_kernel = kernel_batch_norm_backward, .user = (void *)(uintptr_t)h,
         .doc = "gradient of batch_norm: (dy, x, weight, mean, invstd) -> dx, dweight, dbias; training",
         .attrs = bn_attrs, .n_attrs = 1},
        {.struct_size = sizeof(strata_op_def), .name = "conv::batch_norm_update_stats", .version = 1,
         .min_inputs = 4, .max_inputs = 4, .n_outputs = 3, .flags = STRATA_OP_NO_GRAD | STRATA_OP_INPLACE,
         .infer = infer_update_stats, .host_kernel = kernel_update_stats, .user = (void *)(uintptr_t)h,
         .doc = "in-place running statistics: (running_mean, x, running_var, num_batches_tracked) -> the three "
                "buffers; momentum",
         .attrs = bn_attrs + 2, .n_attrs = 1},
    };
    return conv_register_ops(h, p, defs, sizeof defs / sizeof defs[0]);
}
