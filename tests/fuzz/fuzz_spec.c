/*
 * fuzz_spec.c - model specs (YAML) through strata_spec_parse(), with the
 * layer plugins loaded so their attribute schemas are checked too, then the
 * getters the CLI uses. Models are not built: a valid spec may ask for any
 * size, and building is not parsing.
 */
#include <stdio.h>

#include "fuzz_common.h"

static const char *const fz_int_keys[] = {"seed", "train.epochs", "train.batch_size", "train.log_every",
                                          "train.seq_len", "memory.size"};
static const char *const fz_float_keys[] = {"data.scale", "data.mean", "data.std", "optimizer.lr",
                                            "train.clip_grad_norm"};
static const char *const fz_str_keys[] = {"name", "loss", "data.format", "data.train.images", "data.train",
                                          "optimizer.type"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_runtime *rt = fz_runtime(1);
    if (!rt)
        return 0;
    strata_spec *s = NULL;
    if (strata_spec_parse(rt, (const char *)data, size, "fuzz.yaml", &s) != STRATA_OK)
        return 0;
    int64_t i;
    double d;
    const char *str;
    for (size_t k = 0; k < sizeof fz_int_keys / sizeof fz_int_keys[0]; k++)
        (void)strata_spec_get_int(s, fz_int_keys[k], 0, &i);
    for (size_t k = 0; k < sizeof fz_float_keys / sizeof fz_float_keys[0]; k++)
        (void)strata_spec_get_float(s, fz_float_keys[k], 0.0, &d);
    for (size_t k = 0; k < sizeof fz_str_keys / sizeof fz_str_keys[0]; k++)
        (void)strata_spec_get_string(s, fz_str_keys[k], NULL, &str);
    (void)strata_spec_defaults(s);
    size_t len;
    (void)strata_spec_text(s, &len);
    strata_spec_destroy(s);
    return 0;
}
