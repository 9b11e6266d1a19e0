/*
 * fuzz_text.c - text corpora through strata_text_from_memory(). The first
 * byte picks the options: bit 0 the mode (characters or bytes), bits 1-3 the
 * validation fraction, bit 4 a given vocabulary (the one built from the
 * text's first half, as a checkpoint would hand it back). Then the tokens
 * are re-encoded and every vocabulary entry decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *text = data + 1;
    size_t len = size - 1;
    strata_text_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.mode = (flags & 1) ? STRATA_TEXT_BYTES : STRATA_TEXT_CHARS;
    o.val_fraction = ((flags >> 1) & 7) / 8.0;

    strata_text *half = NULL;
    if (flags & 16) {
        /* the vocabulary of the first half; the rest may hold tokens not in it */
        if (strata_text_from_memory(text, len / 2, "fuzz-half.txt", &o, &half) == STRATA_OK)
            o.vocab = strata_text_vocab(half, &o.vocab_size);
    }
    strata_text *t = NULL;
    if (strata_text_from_memory(text, len, "fuzz.txt", &o, &t) == STRATA_OK) {
        int64_t vs = 0, n0 = 0, n1 = 0;
        (void)strata_text_vocab(t, &vs);
        const int32_t *tr = strata_text_tokens(t, 0, &n0);
        const int32_t *va = strata_text_tokens(t, 1, &n1);
        for (int64_t k = 0; tr && k < n0; k++)
            if (tr[k] < 0 || tr[k] >= vs)
                __builtin_trap();
        for (int64_t k = 0; va && k < n1; k++)
            if (va[k] < 0 || va[k] >= vs)
                __builtin_trap();
        char buf[8];
        for (int64_t k = 0; k < vs; k++)
            if (strata_text_decode(t, k, buf, sizeof buf, NULL) != STRATA_OK)
                __builtin_trap();
        size_t cap = len < 4096 ? len : 4096, n = 0;
        int64_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
        if (ids) {
            (void)strata_text_encode(t, (const char *)text, cap, ids, cap, &n);
            free(ids);
        }
        int64_t windows;
        (void)strata_text_val_windows(t, 8, &windows);
        strata_text_destroy(t);
    }
    strata_text_destroy(half);
    return 0;
}
