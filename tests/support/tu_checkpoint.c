/* tu_checkpoint.c - test helpers that read checkpoints through the core's
 * safetensors reader (internal.h), apart from testutil.c, which the ABI
 * compatibility test builds against the frozen 1.0 headers alone. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

int tu_same_model_tensors(const char *dir, const char *a, const char *b)
{
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    st_sft_file *fa = NULL, *fb = NULL;
    ST_OK(st_sft_read(pa, &fa));
    ST_OK(st_sft_read(pb, &fb));
    int same = 1;
    size_t models = 0;
    for (size_t k = 0; k < fa->n_entries && same; k++) {
        const st_sft_entry *ea = &fa->entries[k], *eb = st_sft_find(fb, ea->name);
        if (!strncmp(ea->name, "optimizer.", 10))
            continue;
        models++;
        same = eb && ea->ndim == eb->ndim && ea->end - ea->begin == eb->end - eb->begin &&
               !memcmp(ea->shape, eb->shape, sizeof(int64_t) * (size_t)ea->ndim) &&
               !memcmp(fa->data + ea->begin, fb->data + eb->begin, (size_t)(ea->end - ea->begin));
    }
    for (size_t k = 0; k < fb->n_entries; k++) /* the same number of model tensors on both sides */
        models -= strncmp(fb->entries[k].name, "optimizer.", 10) != 0;
    st_sft_free(fa);
    st_sft_free(fb);
    return same && models == 0;
}
