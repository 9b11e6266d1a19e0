/*
 * ocl_memnet.c - the memnet plugin's ops on the device, registered by name
 * (plugins/memnet/encode.c defines them and is the reference):
 *
 *   memnet::encode           E (V, d), x (..., J) int [, T (M, d)] -> y (..., d)
 *   memnet::encode_backward  dy (..., d), x (..., J) int          -> dE (V, d)
 *   memnet::slot_mask        x (..., J) int                       -> m (..., 1)
 *
 * attrs: encoding ("position" | "position_paper" | "bow"), padding_idx (0; -1 for none),
 * num_embeddings (V; encode_backward and slot_mask). encode and
 * encode_backward read x back first and check every word against the
 * vocabulary, so a bad word id is an error naming its position, as on
 * ref; slot_mask only compares with padding_idx and stays on the device.
 * The checks of a call are kc_memnet.c's (backends/common, shared with cuda).
 */
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* Reads x back and checks that every word is padding or in [0, V). */
static strata_status enc_check_words(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *x,
                                     const kc_mn_geom *g)
{
    const int64_t n = g->R * g->J;
    const size_t es = strata_dtype_size(x->dtype);
    if (!n)
        return STRATA_OK;
    void *h = malloc((size_t)n * es);
    if (!h)
        return kc_error(call, STRATA_E_NOMEM, "out of memory: %zu bytes reading %lld word ids", (size_t)n * es,
                        (long long)n);
    cl_int err = clEnqueueReadBuffer(d->queue, ocl_mem(x), CL_TRUE, x->byte_offset, (size_t)n * es, h, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        free(h);
        return ocl_cl_fail(d->name, "clEnqueueReadBuffer", err);
    }
    strata_status s = STRATA_OK;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = x->dtype == STRATA_I32 ? (int64_t)((const int32_t *)h)[i] : ((const int64_t *)h)[i];
        if (!kc_mn_word_ok(v, g)) {
            s = kc_error(call, STRATA_E_INVALID,
                         "word id %lld at flat position %lld of x is outside the vocabulary [0, %lld)", (long long)v,
                         (long long)i, (long long)g->V);
            break;
        }
    }
    free(h);
    return s;
}

OCL_KERNEL(mn_encode)
{
    kc_mn_geom g;
    strata_status s = kc_check_mn_encode(call, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *E = &call->inputs[0], *X = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *T = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = enc_check_words(call, d, X, &g)))
        return s;
    cl_mem y = ocl_mem(Y), e = ocl_mem(E), x = ocl_mem(X), tm = T ? ocl_mem(T) : ocl_mem(E);
    cl_long y_off = ocl_off(Y), e_off = ocl_off(E), x_off = ocl_off(X), t_off = T ? ocl_off(T) : 0;
    cl_long R = g.R, J = g.J, D = g.d, M = g.M ? g.M : 1, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64, has_t = T != NULL, position = g.enc;
    size_t global = (size_t)(g.R * g.d);
    ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(y_off), OCL_ARG(e),     OCL_ARG(e_off),   OCL_ARG(x), OCL_ARG(x_off),
                      OCL_ARG(is64), OCL_ARG(tm),    OCL_ARG(t_off), OCL_ARG(has_t),   OCL_ARG(R), OCL_ARG(J),
                      OCL_ARG(D),    OCL_ARG(M),     OCL_ARG(pad),   OCL_ARG(position)};
    return ocl_launch(call, d, OCL_K_mn_encode_fwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}

OCL_KERNEL(mn_encode_backward)
{
    kc_mn_geom g;
    strata_status s = kc_check_mn_encode_backward(call, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DE = &call->outputs[0];
    const int64_t V = g.V;
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = enc_check_words(call, d, X, &g)))
        return s;
    cl_mem de = ocl_mem(DE), dy = ocl_mem(DY), x = ocl_mem(X);
    cl_long de_off = ocl_off(DE), dy_off = ocl_off(DY), x_off = ocl_off(X);
    cl_long R = g.R, J = g.J, cV = V, D = g.d, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64, position = g.enc;
    size_t global = (size_t)g.d;
    ocl_arg args[] = {OCL_ARG(de),    OCL_ARG(de_off), OCL_ARG(dy),      OCL_ARG(dy_off), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(is64),   OCL_ARG(R),       OCL_ARG(J),      OCL_ARG(cV),
                      OCL_ARG(D),     OCL_ARG(pad),    OCL_ARG(position)};
    return ocl_launch(call, d, OCL_K_mn_encode_bwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}

OCL_KERNEL(mn_slot_mask)
{
    kc_mn_geom g;
    strata_status s = kc_check_mn_slot_mask(call, &g);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)))
        return s;
    cl_mem m = ocl_mem(Y), x = ocl_mem(X);
    cl_long m_off = ocl_off(Y), x_off = ocl_off(X), R = g.R, J = g.J, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64;
    size_t global = (size_t)g.R;
    ocl_arg args[] = {OCL_ARG(m),    OCL_ARG(m_off), OCL_ARG(x), OCL_ARG(x_off),
                      OCL_ARG(is64), OCL_ARG(R),     OCL_ARG(J), OCL_ARG(pad)};
    return ocl_launch(call, d, OCL_K_mn_slot_mask, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}
