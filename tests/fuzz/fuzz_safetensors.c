/*
 * fuzz_safetensors.c - checkpoints (safetensors) as a user hands them over:
 * the in-memory parser, then the file path through strata_checkpoint_load()
 * into a small model with an Adam optimizer, the metadata reader, and the
 * file as a data set (strata_dataset_load_safetensors: its first two
 * tensors as inputs and labels, in both orders).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

/* The model of the seed checkpoints (tests/fuzz/corpus/safetensors/). */
static const char fz_spec[] = "model:\n"
                              "  input: [4]\n"
                              "  layers:\n"
                              "    - {type: linear, out_features: 3}\n"
                              "    - {type: relu}\n"
                              "    - {type: linear, out_features: 2}\n"
                              "optimizer: {type: adam, lr: 0.01}\n";

static strata_model *fz_model;
static strata_optimizer *fz_opt;

static int fz_setup(void)
{
    if (fz_model)
        return 1;
    strata_runtime *rt = fz_runtime(0);
    strata_spec *spec = NULL;
    strata_device *dev = NULL;
    if (!rt || strata_device_get(rt, "ref", 0, &dev) != STRATA_OK ||
        strata_spec_parse(rt, fz_spec, sizeof fz_spec - 1, "fuzz-model.yaml", &spec) != STRATA_OK ||
        strata_spec_build_model(spec, dev, &fz_model) != STRATA_OK ||
        strata_spec_create_optimizer(spec, fz_model, &fz_opt) != STRATA_OK) {
        fprintf(stderr, "fuzz_safetensors: setup failed: %s\n", strata_last_error());
        strata_spec_destroy(spec);
        return 0;
    }
    strata_spec_destroy(spec);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_sft_file *f = NULL;
    char names[2][64] = {"x", "y"};
    if (st_sft_parse(data, size, "fuzz.safetensors", &f) == STRATA_OK) {
        for (size_t k = 0; k < f->n_entries && k < 2; k++)
            snprintf(names[k], sizeof names[k], "%s", f->entries[k].name);
        for (size_t k = 0; k < f->n_entries; k++) {
            const st_sft_entry *e = &f->entries[k];
            /* every entry must lie inside the data section */
            if (e->begin > e->end || e->end > f->data_len)
                __builtin_trap();
            if (st_sft_find(f, e->name) == NULL)
                __builtin_trap();
        }
        for (size_t k = 0; k < f->n_meta; k++)
            (void)st_sft_meta(f, f->meta_keys[k]);
        st_sft_free(f);
    }
    if (!fz_setup())
        return 0;
    const char *path = fz_write_file("in0", data, size);
    if (!path)
        return 0;
    char buf[256];
    (void)strata_checkpoint_metadata(path, "format", buf, sizeof buf);
    (void)strata_checkpoint_load(path, fz_model, fz_opt);
    (void)strata_checkpoint_load(path, fz_model, NULL);
    /* strata export: a converted copy, when there is one, is a valid file of the same tensors less the optimizer's */
    char out[4200];
    snprintf(out, sizeof out, "%s.bf16", path);
    if (strata_checkpoint_convert(path, out, STRATA_BF16) == STRATA_OK) {
        st_sft_file *src = NULL, *dst = NULL;
        if (st_sft_read(path, &src) != STRATA_OK || st_sft_read(out, &dst) != STRATA_OK)
            __builtin_trap();
        for (size_t k = 0; k < src->n_entries; k++)
            if (strncmp(src->entries[k].name, "optimizer.", 10) && !st_sft_find(dst, src->entries[k].name))
                __builtin_trap();
        st_sft_free(src);
        st_sft_free(dst);
        remove(out);
    }
    for (int k = 0; k < 2; k++) {
        strata_dataset *d = NULL;
        if (strata_dataset_load_safetensors(path, names[k], names[1 - k], 255.0, &d) == STRATA_OK) {
            /* what a loader reads: every example's features and a label >= 0 */
            int nd = 0;
            const int64_t *shape = strata_dataset_shape(d, &nd);
            int64_t feat = 1;
            for (int i = 0; i < nd; i++)
                feat *= shape[i];
            for (int64_t i = 0; i < strata_dataset_size(d); i++) {
                const float *x = strata_dataset_x(d, i);
                if (strata_dataset_y(d, i) < 0 || (feat > 0 && !isfinite(x[feat - 1])))
                    __builtin_trap();
            }
        }
        strata_dataset_destroy(d);
    }
    return 0;
}
