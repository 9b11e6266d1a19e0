/*
 * fuzz_babi.c - bAbI question-answering files through
 * strata_babi_from_memory(), then every statement and question read back.
 */
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_babi *b = NULL;
    if (strata_babi_from_memory(data, size, "fuzz.txt", &b) != STRATA_OK)
        return 0;
    (void)strata_babi_story_count(b);
    int64_t ns = strata_babi_statement_count(b), nq = strata_babi_question_count(b);
    for (int64_t k = 0; k < ns; k++) {
        int32_t nw = 0;
        const char *const *w = strata_babi_statement(b, k, &nw);
        for (int32_t j = 0; w && j < nw; j++)
            if (!w[j])
                __builtin_trap();
    }
    for (int64_t k = 0; k < nq; k++) {
        strata_babi_question q;
        memset(&q, 0, sizeof q);
        q.struct_size = sizeof q;
        if (strata_babi_question_get(b, k, &q) != STRATA_OK)
            __builtin_trap();
        for (int32_t j = 0; j < q.n_supporting; j++)
            if (q.supporting[j] < 0 || q.supporting[j] >= ns)
                __builtin_trap();
        for (int32_t j = 0; j < q.n_answer_parts; j++)
            (void)strlen(q.answer_parts[j]);
        for (int32_t j = 0; j < q.n_words; j++)
            (void)strlen(q.words[j]);
    }
    strata_babi_destroy(b);
    return 0;
}
