/*
 * kc_memnet.c - the checks of a call of the memnet plugin's ops (encode,
 * encode_backward, slot_mask), shared by the device backends that run them
 * (opencl, cuda). plugins/memnet/encode.c defines the ops; its messages are
 * the ones used here. The words' range is the backend's to check: x may
 * live on a device.
 */
#include <string.h>

#include "kcall.h"

/* x (..., J) word ids and the attrs, with V and d known. */
static strata_status mn_geom(const strata_kernel_call *call, const strata_tensor_desc *x, int64_t V, int64_t d,
                             kc_mn_geom *g)
{
    static const char *const encodings[] = {"bow", "position", "position_paper"}; /* KC_MN_* */
    char s[96];
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, "encoding");
    const char *enc = a && a->kind == STRATA_ATTR_STRING && a->s ? a->s : "position";
    memset(g, 0, sizeof *g);
    g->enc = -1;
    for (int k = 0; k < (int)(sizeof encodings / sizeof *encodings); k++)
        if (!strcmp(enc, encodings[k]))
            g->enc = k;
    if (g->enc < 0)
        return kc_error(call, STRATA_E_INVALID,
                        "encoding must be \"position\", \"position_paper\" or \"bow\", got \"%s\"", enc);
    if ((x->dtype != STRATA_I32 && x->dtype != STRATA_I64) || x->ndim < 1)
        return kc_error(call, STRATA_E_SHAPE, "x must be an i32 or i64 tensor (..., J) of word ids, got dtype %d %s",
                        (int)x->dtype, kc_shape_str(s, sizeof s, x->ndim, x->shape));
    g->V = V, g->d = d, g->J = x->shape[x->ndim - 1], g->R = 1;
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

/* Attr num_embeddings, required and positive. */
static strata_status mn_num_embeddings(const strata_kernel_call *call, int64_t *V)
{
    *V = strata_attr_get_int(call->attrs, call->n_attrs, "num_embeddings", 0);
    if (*V < 1)
        return kc_error(call, STRATA_E_INVALID, "num_embeddings must be given and positive, got %lld", (long long)*V);
    return STRATA_OK;
}

strata_status kc_check_mn_encode(const strata_kernel_call *call, kc_mn_geom *g)
{
    strata_status s = kc_check_arity(call, 2, 3, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *E = &call->inputs[0], *X = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *T = call->n_inputs == 3 ? &call->inputs[2] : NULL;
    char s1[96], s2[96];
    if (E->dtype != STRATA_F32 || E->ndim != 2 || E->shape[0] < 1)
        return kc_error(call, STRATA_E_SHAPE, "E (input 0) must be an f32 embedding matrix (V, d), got %s",
                        kc_shape_str(s1, sizeof s1, E->ndim, E->shape));
    if ((s = mn_geom(call, X, E->shape[0], E->shape[1], g)) != STRATA_OK)
        return s;
    if (T) {
        if (T->dtype != STRATA_F32 || T->ndim != 2 || T->shape[1] != g->d || X->ndim < 2 ||
            X->shape[X->ndim - 2] != T->shape[0])
            return kc_error(call, STRATA_E_SHAPE,
                            "T (input 2) must be f32 (M, d) with d = %lld and x (..., M, J), got T %s and x %s",
                            (long long)g->d, kc_shape_str(s1, sizeof s1, T->ndim, T->shape),
                            kc_shape_str(s2, sizeof s2, X->ndim, X->shape));
        g->M = T->shape[0];
    }
    if ((s = kc_check_f32(call, Y, "output")) != STRATA_OK)
        return s;
    return kc_check_numel(call, Y, "output", g->R * g->d);
}

strata_status kc_check_mn_encode_backward(const strata_kernel_call *call, kc_mn_geom *g)
{
    strata_status s = kc_check_arity(call, 2, 2, 1);
    if (s != STRATA_OK)
        return s;
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DE = &call->outputs[0];
    char s1[96], s2[96];
    int64_t V = 0;
    if ((s = mn_num_embeddings(call, &V)) != STRATA_OK)
        return s;
    if (DY->dtype != STRATA_F32 || DY->ndim != X->ndim || DY->ndim < 1 ||
        memcmp(DY->shape, X->shape, sizeof(int64_t) * (size_t)(X->ndim - 1)))
        return kc_error(call, STRATA_E_SHAPE, "dy must be f32 (..., d) with x's leading dimensions, got dy %s, x %s",
                        kc_shape_str(s1, sizeof s1, DY->ndim, DY->shape),
                        kc_shape_str(s2, sizeof s2, X->ndim, X->shape));
    if ((s = mn_geom(call, X, V, DY->shape[DY->ndim - 1], g)) != STRATA_OK)
        return s;
    if (DE->dtype != STRATA_F32 || DE->ndim != 2 || DE->shape[0] != V || DE->shape[1] != g->d)
        return kc_error(call, STRATA_E_SHAPE, "dE must be f32 (%lld, %lld), got %s", (long long)V, (long long)g->d,
                        kc_shape_str(s1, sizeof s1, DE->ndim, DE->shape));
    return STRATA_OK;
}

strata_status kc_check_mn_slot_mask(const strata_kernel_call *call, kc_mn_geom *g)
{
    strata_status s = kc_check_arity(call, 1, 1, 1);
    int64_t V = 0;
    if (s == STRATA_OK)
        s = mn_num_embeddings(call, &V);
    if (s == STRATA_OK)
        s = mn_geom(call, &call->inputs[0], V, 1, g);
    if (s == STRATA_OK)
        s = kc_check_f32(call, &call->outputs[0], "output");
    if (s == STRATA_OK)
        s = kc_check_numel(call, &call->outputs[0], "output", g->R);
    return s;
}

int kc_mn_word_ok(int64_t v, const kc_mn_geom *g)
{
    return (v >= 0 && v < g->V) || (g->pad >= 0 && v == g->pad);
}
