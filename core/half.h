/* half.h - IEEE 754 half precision (F16) and bfloat16 (BF16) values as
 * f32 in the little-endian data of checkpoints and data sets (PyTorch's
 * .half() and .bfloat16() tensors); the conversions themselves are the
 * SDK's (strata/strata_half.h). Header-only, for the core and the
 * command-line tool (strata inspect). */
#ifndef STRATA_HALF_H
#define STRATA_HALF_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "strata/strata_half.h"

/** The float dtypes of safetensors data that load as f32 (ST_FLOAT_NONE: another). */
typedef enum { ST_FLOAT_NONE, ST_FLOAT_F16, ST_FLOAT_BF16, ST_FLOAT_F32, ST_FLOAT_F64 } st_float_kind;

/** The kind of safetensors dtype name @p dtype ("F16", "BF16", "F32", "F64"). */
static inline st_float_kind st_float_kind_of(const char *dtype)
{
    return !strcmp(dtype, "F16")    ? ST_FLOAT_F16
           : !strcmp(dtype, "BF16") ? ST_FLOAT_BF16
           : !strcmp(dtype, "F32")  ? ST_FLOAT_F32
           : !strcmp(dtype, "F64")  ? ST_FLOAT_F64
                                    : ST_FLOAT_NONE;
}

/** Bytes of one value of @p k (0 for ST_FLOAT_NONE). */
static inline size_t st_float_size(st_float_kind k)
{
    return k == ST_FLOAT_F16 || k == ST_FLOAT_BF16 ? 2 : k == ST_FLOAT_F32 ? 4 : k == ST_FLOAT_F64 ? 8 : 0;
}

/** Value @p i of little-endian data @p p of kind @p k (not ST_FLOAT_NONE):
 *  F16, BF16 and F32 exactly, F64 as it is. */
static inline double st_float_at(st_float_kind k, const uint8_t *p, size_t i)
{
    const size_t es = st_float_size(k);
    uint64_t u = 0;
    for (size_t b = 0; b < es; b++)
        u |= (uint64_t)p[es * i + b] << (8 * b);
    if (k == ST_FLOAT_F16 || k == ST_FLOAT_BF16)
        return k == ST_FLOAT_F16 ? strata_f16_to_f32((uint16_t)u) : strata_bf16_to_f32((uint16_t)u);
    if (k == ST_FLOAT_F64) {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    const uint32_t u32 = (uint32_t)u;
    float x;
    memcpy(&x, &u32, sizeof x);
    return x;
}

#endif
