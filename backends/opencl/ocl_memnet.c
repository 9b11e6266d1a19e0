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
 */
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* Sizes and attributes of one call. */
typedef struct ocl_enc {
    int64_t V, d, J, R, M; /* R rows of J words; M memory slots (0: no temporal encoding) */
    int64_t pad;
    int position;
} ocl_enc;

/* x (..., J) word ids and the attrs, with V and d known. */
static strata_status enc_geom(const strata_kernel_call *call, const strata_tensor_desc *x, int64_t V, int64_t d,
                              ocl_enc *g)
{
    char s[96];
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "encoding");
    const char *enc = a && a->kind == STRATA_ATTR_STRING && a->s ? a->s : "position";
    if (strcmp(enc, "position") && strcmp(enc, "position_paper") && strcmp(enc, "bow"))
        return kc_error(call, STRATA_E_INVALID,
                        "encoding must be \"position\", \"position_paper\" or \"bow\", got \"%s\"", enc);
    if ((x->dtype != STRATA_I32 && x->dtype != STRATA_I64) || x->ndim < 1)
        return kc_error(call, STRATA_E_SHAPE, "x must be an i32 or i64 tensor (..., J) of word ids, got dtype %d %s",
                        (int)x->dtype, kc_shape_str(s, sizeof s, x->ndim, x->shape));
    g->position = !strcmp(enc, "position") ? 1 : !strcmp(enc, "position_paper") ? 2 : 0;
    g->V = V, g->d = d, g->J = x->shape[x->ndim - 1], g->M = 0, g->R = 1;
    for (int k = 0; k + 1 < x->ndim; k++)
        g->R *= x->shape[k];
    g->pad = strata_attr_get_int(call->attrs, call->n_attrs, "padding_idx", 0);
    if (g->pad < -1 || g->pad >= V)
        return kc_error(call, STRATA_E_INVALID, "padding_idx must be -1 (none) or in [0, %lld), got %lld",
                        (long long)V, (long long)g->pad);
    if (g->J < 1 || d < 1)
        return kc_error(call, STRATA_E_SHAPE, "x %s needs at least one word slot and d >= 1 (d = %lld)",
                        kc_shape_str(s, sizeof s, x->ndim, x->shape), (long long)d);
    return STRATA_OK;
}

/* num_embeddings, required and positive. */
static strata_status enc_num_embeddings(const strata_kernel_call *call, int64_t *V)
{
    *V = strata_attr_get_int(call->attrs, call->n_attrs, "num_embeddings", 0);
    if (*V < 1)
        return kc_error(call, STRATA_E_INVALID, "num_embeddings must be given and positive, got %lld", (long long)*V);
    return STRATA_OK;
}

/* Reads x back and checks that every word is padding or in [0, V). */
static strata_status enc_check_words(const strata_kernel_call *call, ocl_device *d, const strata_tensor_desc *x,
                                     const ocl_enc *g)
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
        if ((v < 0 || v >= g->V) && v != g->pad) {
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
    strata_status s = kc_check_arity(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *E = &call->inputs[0], *X = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *T = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    char s1[96], s2[96];
    if (E->dtype != STRATA_F32 || E->ndim != 2 || E->shape[0] < 1 || Y->dtype != STRATA_F32)
        return kc_error(call, STRATA_E_SHAPE, "E (input 0) must be an f32 embedding matrix (V, d), got %s",
                        kc_shape_str(s1, sizeof s1, E->ndim, E->shape));
    ocl_enc g;
    if ((s = enc_geom(call, X, E->shape[0], E->shape[1], &g)) != STRATA_OK)
        return s;
    if (T) {
        if (T->dtype != STRATA_F32 || T->ndim != 2 || T->shape[1] != g.d || X->ndim < 2 ||
            X->shape[X->ndim - 2] != T->shape[0])
            return kc_error(call, STRATA_E_SHAPE,
                            "T (input 2) must be f32 (M, d) with d = %lld and x (..., M, J), got T %s and x %s",
                            (long long)g.d, kc_shape_str(s1, sizeof s1, T->ndim, T->shape),
                            kc_shape_str(s2, sizeof s2, X->ndim, X->shape));
        g.M = T->shape[0];
    }
    ocl_device *d = NULL;
    if ((s = kc_check_numel(call, Y, "output", g.R * g.d)) || (s = ocl_call_device(call, &d)) ||
        (s = enc_check_words(call, d, X, &g)))
        return s;
    cl_mem y = ocl_mem(Y), e = ocl_mem(E), x = ocl_mem(X), tm = T ? ocl_mem(T) : ocl_mem(E);
    cl_long y_off = ocl_off(Y), e_off = ocl_off(E), x_off = ocl_off(X), t_off = T ? ocl_off(T) : 0;
    cl_long R = g.R, J = g.J, D = g.d, M = g.M ? g.M : 1, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64, has_t = T != NULL, position = g.position;
    size_t global = (size_t)(g.R * g.d);
    ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(y_off), OCL_ARG(e),     OCL_ARG(e_off),   OCL_ARG(x), OCL_ARG(x_off),
                      OCL_ARG(is64), OCL_ARG(tm),    OCL_ARG(t_off), OCL_ARG(has_t),   OCL_ARG(R), OCL_ARG(J),
                      OCL_ARG(D),    OCL_ARG(M),     OCL_ARG(pad),   OCL_ARG(position)};
    return ocl_launch(call, d, OCL_K_mn_encode_fwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}

OCL_KERNEL(mn_encode_backward)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DE = &call->outputs[0];
    char s1[96], s2[96];
    int64_t V = 0;
    if ((s = enc_num_embeddings(call, &V)) != STRATA_OK)
        return s;
    if (DY->dtype != STRATA_F32 || DY->ndim != X->ndim || DY->ndim < 1 ||
        memcmp(DY->shape, X->shape, sizeof(int64_t) * (size_t)(X->ndim - 1)))
        return kc_error(call, STRATA_E_SHAPE, "dy must be f32 (..., d) with x's leading dimensions, got dy %s, x %s",
                        kc_shape_str(s1, sizeof s1, DY->ndim, DY->shape),
                        kc_shape_str(s2, sizeof s2, X->ndim, X->shape));
    ocl_enc g;
    if ((s = enc_geom(call, X, V, DY->shape[DY->ndim - 1], &g)) != STRATA_OK)
        return s;
    if (DE->dtype != STRATA_F32 || DE->ndim != 2 || DE->shape[0] != V || DE->shape[1] != g.d)
        return kc_error(call, STRATA_E_SHAPE, "dE must be f32 (%lld, %lld), got %s", (long long)V, (long long)g.d,
                        kc_shape_str(s1, sizeof s1, DE->ndim, DE->shape));
    ocl_device *d = NULL;
    if ((s = ocl_call_device(call, &d)) || (s = enc_check_words(call, d, X, &g)))
        return s;
    cl_mem de = ocl_mem(DE), dy = ocl_mem(DY), x = ocl_mem(X);
    cl_long de_off = ocl_off(DE), dy_off = ocl_off(DY), x_off = ocl_off(X);
    cl_long R = g.R, J = g.J, cV = V, D = g.d, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64, position = g.position;
    size_t global = (size_t)g.d;
    ocl_arg args[] = {OCL_ARG(de),    OCL_ARG(de_off), OCL_ARG(dy),      OCL_ARG(dy_off), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(is64),   OCL_ARG(R),       OCL_ARG(J),      OCL_ARG(cV),
                      OCL_ARG(D),     OCL_ARG(pad),    OCL_ARG(position)};
    return ocl_launch(call, d, OCL_K_mn_encode_bwd, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}

OCL_KERNEL(mn_slot_mask)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *X = &call->inputs[0], *Y = &call->outputs[0];
    int64_t V = 0;
    ocl_enc g;
    if ((s = enc_num_embeddings(call, &V)) || (s = enc_geom(call, X, V, 1, &g)))
        return s;
    if (Y->dtype != STRATA_F32)
        return kc_error(call, STRATA_E_DTYPE, "the output must be f32");
    ocl_device *d = NULL;
    if ((s = kc_check_numel(call, Y, "output", g.R)) || (s = ocl_call_device(call, &d)))
        return s;
    cl_mem m = ocl_mem(Y), x = ocl_mem(X);
    cl_long m_off = ocl_off(Y), x_off = ocl_off(X), R = g.R, J = g.J, pad = g.pad;
    cl_int is64 = X->dtype == STRATA_I64;
    size_t global = (size_t)g.R;
    ocl_arg args[] = {OCL_ARG(m),    OCL_ARG(m_off), OCL_ARG(x), OCL_ARG(x_off),
                      OCL_ARG(is64), OCL_ARG(R),     OCL_ARG(J), OCL_ARG(pad)};
    return ocl_launch(call, d, OCL_K_mn_slot_mask, 1, &global, NULL, (int)(sizeof args / sizeof args[0]), args);
}
