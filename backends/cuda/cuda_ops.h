/*
 * cuda_ops.h - the ops the cuda backend has kernels for, and what each
 * needs (cuda_ops.c holds the table and supports_op).
 */
#ifndef CUDA_OPS_H
#define CUDA_OPS_H

#include "cuda_internal.h"

/** What a kernel needs beyond a device; supports_op checks these. */
enum {
    CUDA_NEED_F32 = 1u << 0,  /* every input is f32 */
    CUDA_NEED_BLAS = 1u << 1, /* cuBLAS opened */
    CUDA_NEED_DNN = 1u << 2,  /* cuDNN opened */
    CUDA_NEED_IDX = 1u << 3,  /* the last input is i32/i64 indices, the others f32 */
    CUDA_TAKES_HALF = 1u << 4 /* reads f16/bf16 inputs (core::cast, core::copy); no other kernel does */
};

typedef struct cuda_kernel_entry {
    const char *op;
    strata_kernel_fn fn;
    unsigned needs;
} cuda_kernel_entry;

/** The table, ended by an entry with op NULL. */
extern const cuda_kernel_entry cuda_kernels[];

int cuda_supports_op(void *self, int dev, const char *op, int32_t version, const strata_tensor_desc *inputs,
                     int n_inputs, const strata_attr *attrs, int n_attrs);

#define CUDA_KERNEL(name) strata_status cuda_##name(const strata_kernel_call *call)

/* cuda_eltwise.c */
CUDA_KERNEL(add);
CUDA_KERNEL(sub);
CUDA_KERNEL(mul);
CUDA_KERNEL(div);
CUDA_KERNEL(neg);
CUDA_KERNEL(exp);
CUDA_KERNEL(log);
CUDA_KERNEL(sqrt);
CUDA_KERNEL(abs);
CUDA_KERNEL(relu);
CUDA_KERNEL(leaky_relu);
CUDA_KERNEL(sigmoid);
CUDA_KERNEL(tanh);
CUDA_KERNEL(gelu);
CUDA_KERNEL(pow);
CUDA_KERNEL(scale);
CUDA_KERNEL(cast);
CUDA_KERNEL(eltwise_backward);
CUDA_KERNEL(copy);
CUDA_KERNEL(fill);
CUDA_KERNEL(uniform);
CUDA_KERNEL(normal);
CUDA_KERNEL(dropout);
CUDA_KERNEL(dropout2d);
/* cuda_gemm.c */
CUDA_KERNEL(matmul);
CUDA_KERNEL(linear);
/* cuda_reduce.c */
CUDA_KERNEL(sum);
CUDA_KERNEL(mean);
CUDA_KERNEL(max);
CUDA_KERNEL(argmax);
CUDA_KERNEL(max_backward);
CUDA_KERNEL(sum_to_shape);
CUDA_KERNEL(softmax);
CUDA_KERNEL(log_softmax);
CUDA_KERNEL(softmax_backward);
CUDA_KERNEL(log_softmax_backward);
/* cuda_loss.c */
CUDA_KERNEL(cross_entropy);
CUDA_KERNEL(cross_entropy_backward);
CUDA_KERNEL(bce_with_logits);
CUDA_KERNEL(bce_with_logits_backward);
CUDA_KERNEL(embedding);
CUDA_KERNEL(embedding_backward);
/* cuda_index.c */
CUDA_KERNEL(concat);
CUDA_KERNEL(slice_backward);
CUDA_KERNEL(gather);
CUDA_KERNEL(gather_backward);
CUDA_KERNEL(one_hot);
/* cuda_optim.c */
CUDA_KERNEL(sgd_step);
CUDA_KERNEL(adam_step);
CUDA_KERNEL(rmsprop_step);
CUDA_KERNEL(adagrad_step);
CUDA_KERNEL(ema_update); /* the gan plugin's */
/* cuda_conv.c: the conv plugin's ops */
CUDA_KERNEL(conv2d);
CUDA_KERNEL(conv2d_backward_data);
CUDA_KERNEL(conv2d_backward_weight);
CUDA_KERNEL(conv_transpose2d);
CUDA_KERNEL(max_pool2d);
CUDA_KERNEL(max_pool2d_backward);
CUDA_KERNEL(avg_pool2d);
CUDA_KERNEL(avg_pool2d_backward);
CUDA_KERNEL(global_avg_pool2d);
CUDA_KERNEL(batch_norm);
CUDA_KERNEL(batch_norm_backward);
CUDA_KERNEL(batch_norm_update_stats);
/* cuda_memnet.c: the memnet plugin's ops */
CUDA_KERNEL(mn_encode);
CUDA_KERNEL(mn_encode_backward);
CUDA_KERNEL(mn_slot_mask);
/* cuda_rnn.c: the lstm plugin's sequence ops */
CUDA_KERNEL(lstm_seq);
CUDA_KERNEL(lstm_seq_backward);
CUDA_KERNEL(gru_seq);
CUDA_KERNEL(gru_seq_backward);
CUDA_KERNEL(rnn_seq);
CUDA_KERNEL(rnn_seq_backward);

#endif /* CUDA_OPS_H */
