/*
 * memnet_internal.h - private declarations of the memnet plugin: end-to-end
 * memory networks (MemN2N, Sukhbaatar et al. 2015).
 *
 * The plugin is built only against the SDK headers. Its op carries the host
 * table as its user pointer (strata_op_def.user), so infer functions and
 * host kernels reach host->set_error through call->user.
 */
#ifndef STRATA_MEMNET_INTERNAL_H
#define STRATA_MEMNET_INTERNAL_H

#include <stdint.h>

#include "strata/strata_plugin.h"

/** The host table kept in every op's user pointer. */
static inline const strata_host_api *mn_host(void *user)
{
    return (const strata_host_api *)user;
}

/** out = op(in...), one output. */
static inline strata_status mn_op(const strata_host_api *h, strata_runtime *rt, const char *op, strata_tensor *const *in,
                                  int n_in, const strata_attr *attrs, int n_attrs, strata_tensor **out)
{
    *out = NULL;
    return h->op_call(rt, op, in, n_in, attrs, n_attrs, out, 1);
}

/** out = reshape(t, shape). */
strata_status mn_reshape(const strata_host_api *h, strata_runtime *rt, strata_tensor *t, int ndim,
                         const int64_t *shape, strata_tensor **out);
/** "(2, 3, 5)" into @p buf. */
const char *mn_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

/** Sentence encodings (attr "encoding"). */
enum {
    MN_ENC_BOW,           /* "bow": l_kj = 1 */
    MN_ENC_POSITION,      /* "position": the authors' code, 1 + 4 (j - (J+1)/2)(k - (d+1)/2) / (J d) */
    MN_ENC_POSITION_PAPER /* "position_paper": the paper's (1 - j/J) - (k/d)(1 - 2j/J) */
};
/** The attr value of encoding @p enc. */
const char *mn_encoding_name(int enc);

/**
 * Word weights of a sentence of J word slots embedded in d dimensions, into
 * @p w (J d), 1-based j (word) and k (dimension): for MN_ENC_POSITION the
 * position encoding of the authors' MemN2N code, l_kj = 1 + 4 (j - (J+1)/2)
 * (k - (d+1)/2) / (J d); for MN_ENC_POSITION_PAPER the formula printed in
 * Sukhbaatar et al. 2015, section 4.1, l_kj = (1 - j/J) - (k/d)(1 - 2j/J)
 * (the same pattern at half the scale: it measured far worse on task 16,
 * docs/memnet.md); all ones for MN_ENC_BOW (bag of words).
 */
void mn_word_weights(float *w, int64_t J, int64_t d, int enc);
/** Reads attr "encoding" ("position", "position_paper" or "bow") into *enc; an error names @p what. */
strata_status mn_read_encoding(const strata_host_api *h, const char *what, const strata_attr *attrs, int n,
                               int *enc);

strata_status memnet_register_encode(const strata_host_api *h, strata_plugin *p);
strata_status memnet_register_layers(const strata_host_api *h, strata_plugin *p);

#endif /* STRATA_MEMNET_INTERNAL_H */
