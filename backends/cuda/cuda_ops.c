/*
 * cuda_ops.c - the kernel table and the capability query.
 *
 * supports_op declines what a kernel here does not handle (another dtype,
 * a library that could not be opened): the core then runs the op on the
 * host with copies, where the host kernel also gives the precise error for
 * a bad call.
 */
#include <string.h>

#include "cuda_libs.h"
#include "cuda_ops.h"

#define F32 CUDA_NEED_F32
#define IDX CUDA_NEED_IDX

const cuda_kernel_entry cuda_kernels[] = {
    /* elementwise (cuda_eltwise.c) */
    {"core::add", cuda_add, F32},
    {"core::sub", cuda_sub, F32},
    {"core::mul", cuda_mul, F32},
    {"core::div", cuda_div, F32},
    {"core::neg", cuda_neg, F32},
    {"core::exp", cuda_exp, F32},
    {"core::log", cuda_log, F32},
    {"core::sqrt", cuda_sqrt, F32},
    {"core::abs", cuda_abs, F32},
    {"core::relu", cuda_relu, F32},
    {"core::leaky_relu", cuda_leaky_relu, F32},
    {"core::sigmoid", cuda_sigmoid, F32},
    {"core::tanh", cuda_tanh, F32},
    {"core::gelu", cuda_gelu, F32},
    {"core::pow", cuda_pow, F32},
    {"core::scale", cuda_scale, F32},
    {"core::cast", cuda_cast, CUDA_TAKES_HALF},
    {"core::eltwise_backward", cuda_eltwise_backward, F32},
    /* linear algebra (cuBLAS, cuda_gemm.c) */
    {"core::matmul", cuda_matmul, F32 | CUDA_NEED_BLAS},
    {"core::linear", cuda_linear, F32 | CUDA_NEED_BLAS},
    /* reductions and softmax (cuda_reduce.c) */
    {"core::sum", cuda_sum, F32},
    {"core::mean", cuda_mean, F32},
    {"core::max", cuda_max, F32},
    {"core::argmax", cuda_argmax, F32},
    {"core::max_backward", cuda_max_backward, F32},
    {"core::sum_to_shape", cuda_sum_to_shape, F32},
    {"core::softmax", cuda_softmax, F32},
    {"core::log_softmax", cuda_log_softmax, F32},
    {"core::softmax_backward", cuda_softmax_backward, F32},
    {"core::log_softmax_backward", cuda_log_softmax_backward, F32},
    /* losses and indexing (cuda_loss.c) */
    {"core::cross_entropy", cuda_cross_entropy, IDX},
    {"core::cross_entropy_backward", cuda_cross_entropy_backward, IDX},
    {"core::bce_with_logits", cuda_bce_with_logits, F32},
    {"core::bce_with_logits_backward", cuda_bce_with_logits_backward, F32},
    {"core::embedding", cuda_embedding, IDX},
    {"core::embedding_backward", cuda_embedding_backward, IDX},
    /* data movement (cuda_eltwise.c, cuda_index.c), creation and random */
    {"core::copy", cuda_copy, CUDA_TAKES_HALF},
    {"core::concat", cuda_concat, 0},
    {"core::slice_backward", cuda_slice_backward, F32},
    {"core::gather", cuda_gather, IDX},
    {"core::gather_backward", cuda_gather_backward, IDX},
    {"core::one_hot", cuda_one_hot, 0},
    {"core::fill", cuda_fill, 0},
    {"core::uniform", cuda_uniform, 0},
    {"core::normal", cuda_normal, 0},
    {"core::dropout", cuda_dropout, F32},
    /* fused optimizer updates (cuda_optim.c) */
    {"core::sgd_step", cuda_sgd_step, F32},
    {"core::adam_step", cuda_adam_step, F32},
    {"core::rmsprop_step", cuda_rmsprop_step, F32},
    {"core::adagrad_step", cuda_adagrad_step, F32},
    {"gan::ema_update", cuda_ema_update, F32}, /* the gan plugin's, by name */
    /* the conv plugin's ops, by name: resolved whenever that plugin loads
     * (cuDNN convolutions and own pooling kernels, cuda_conv.c) */
    {"conv::conv2d", cuda_conv2d, F32 | CUDA_NEED_DNN},
    {"conv::conv2d_backward_data", cuda_conv2d_backward_data, F32 | CUDA_NEED_DNN},
    {"conv::conv2d_backward_weight", cuda_conv2d_backward_weight, F32 | CUDA_NEED_DNN},
    {"conv::conv_transpose2d", cuda_conv_transpose2d, F32 | CUDA_NEED_DNN},
    {"conv::max_pool2d", cuda_max_pool2d, F32},
    {"conv::max_pool2d_backward", cuda_max_pool2d_backward, 0},
    {"conv::avg_pool2d", cuda_avg_pool2d, F32},
    {"conv::avg_pool2d_backward", cuda_avg_pool2d_backward, F32},
    {"conv::global_avg_pool2d", cuda_global_avg_pool2d, F32},
    {"conv::batch_norm", cuda_batch_norm, F32},
    {"conv::batch_norm_backward", cuda_batch_norm_backward, F32},
    {"conv::batch_norm_update_stats", cuda_batch_norm_update_stats, 0},
    {"conv::dropout2d", cuda_dropout2d, F32},
    /* the memnet plugin's ops, by name (own kernels, cuda_memnet.c); no dtype
     * flag: x is not encode's last input when T is given, so the kernels
     * check the dtypes themselves, as ref (every valid call is supported) */
    {"memnet::encode", cuda_mn_encode, 0},
    {"memnet::encode_backward", cuda_mn_encode_backward, 0},
    {"memnet::slot_mask", cuda_mn_slot_mask, 0},
    /* the lstm plugin's sequence ops (cuBLAS per step and own gate kernels, cuda_rnn.c) */
    {"lstm::lstm_seq", cuda_lstm_seq, F32 | CUDA_NEED_BLAS},
    {"lstm::lstm_seq_backward", cuda_lstm_seq_backward, F32 | CUDA_NEED_BLAS},
    {"lstm::gru_seq", cuda_gru_seq, F32 | CUDA_NEED_BLAS},
    {"lstm::gru_seq_backward", cuda_gru_seq_backward, F32 | CUDA_NEED_BLAS},
    {"lstm::rnn_seq", cuda_rnn_seq, F32 | CUDA_NEED_BLAS},
    {"lstm::rnn_seq_backward", cuda_rnn_seq_backward, F32 | CUDA_NEED_BLAS},
    {NULL, NULL, 0},
};

static int cuda_is_index(int32_t dtype)
{
    return dtype == STRATA_I32 || dtype == STRATA_I64;
}

int cuda_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                     int n_inputs, const strata_attr *attrs, int n_attrs)
{
    (void)self;
    (void)dev;
    (void)version;
    (void)attrs;
    (void)n_attrs;
    const cuda_kernel_entry *e = cuda_kernels;
    while (e->op && strcmp(e->op, op) != 0)
        e++;
    if (!e->op)
        return 0;
    for (int k = 0; k < n_inputs && !(e->needs & CUDA_TAKES_HALF); k++) /* only cast and copy read f16/bf16 */
        if (strata_dtype_size(inputs[k].dtype) != 4 && strata_dtype_size(inputs[k].dtype) != 8)
            return 0;
    if (e->needs & CUDA_NEED_IDX) {
        if (n_inputs < 2 || !cuda_is_index(inputs[n_inputs - 1].dtype))
            return 0;
        for (int k = 0; k < n_inputs - 1; k++)
            if (inputs[k].dtype != STRATA_F32)
                return 0;
    } else if (e->needs & CUDA_NEED_F32) {
        for (int k = 0; k < n_inputs; k++)
            if (inputs[k].dtype != STRATA_F32)
                return 0;
    }
    if ((e->needs & CUDA_NEED_BLAS) && !cuda_blas_load())
        return 0;
    if ((e->needs & CUDA_NEED_DNN) && !cuda_dnn_load())
        return 0;
    return 1;
}
