/* ops_optim.c - fused in-place optimizer updates (invoked with
 * STRATA_INVOKE_OUTPUTS_PROVIDED: outputs are the parameter and its slots). */
#include "ops_common.h"

/* Inputs (p, g, slots...); outputs (p, slots...): all the shape of p. */
static strata_status infer_update(const strata_infer_call *c)
{
    for (int k = 0; k < c->n_inputs; k++) {
        strata_status rc = need_float(c, k);
        if (rc)
            return rc;
        if (c->inputs[k].ndim != c->inputs[0].ndim ||
            memcmp(c->inputs[k].shape, c->inputs[0].shape, sizeof(int64_t) * (size_t)c->inputs[0].ndim)) {
            char a[128], b[128];
            return st_error(STRATA_E_SHAPE, "%s: input %d has shape %s, the parameter %s", c->op, k,
                            st_shape_str(a, sizeof a, c->inputs[k].ndim, c->inputs[k].shape),
                            st_shape_str(b, sizeof b, c->inputs[0].ndim, c->inputs[0].shape));
        }
    }
    return infer_same_as_input0(c);
}

static const strata_op_def optim_ops[] = {
    ST_OP("sgd_step", 3, 3, 2, STRATA_OP_NO_GRAD | STRATA_OP_INPLACE, infer_update, NULL, NULL,
          "SGD with momentum/Nesterov/decay"),
    ST_OP("adam_step", 4, 4, 3, STRATA_OP_NO_GRAD | STRATA_OP_INPLACE, infer_update, NULL, NULL, "Adam / AdamW"),
    ST_OP("rmsprop_step", 4, 4, 3, STRATA_OP_NO_GRAD | STRATA_OP_INPLACE, infer_update, NULL, NULL, "RMSprop"),
    ST_OP("adagrad_step", 3, 3, 2, STRATA_OP_NO_GRAD | STRATA_OP_INPLACE, infer_update, NULL, NULL, "Adagrad"),
};

strata_status st_register_optim_ops(st_plugin *p)
{
    return ops_register_table(p, optim_ops, ST_ARRAY_LEN(optim_ops));
}

strata_status st_register_elementwise_ops(st_plugin *p);
strata_status st_register_linalg_ops(st_plugin *p);
strata_status st_register_reduce_ops(st_plugin *p);
strata_status st_register_loss_ops(st_plugin *p);
strata_status st_register_shape_ops(st_plugin *p);
strata_status st_register_index_ops(st_plugin *p);
strata_status st_register_random_ops(st_plugin *p);

strata_status st_register_core_ops(st_plugin *p)
{
    strata_status (*regs[])(st_plugin *) = {st_register_elementwise_ops, st_register_linalg_ops,
                                            st_register_reduce_ops,      st_register_loss_ops,
                                            st_register_shape_ops,       st_register_index_ops,
                                            st_register_random_ops,      st_register_optim_ops};
    for (size_t k = 0; k < ST_ARRAY_LEN(regs); k++) {
        strata_status rc = regs[k](p);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}
