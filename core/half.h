/* half.h - IEEE 754 half precision (F16) and bfloat16 (BF16) values as
 * f32, exactly (every value of both is a float): what checkpoints and data
 * sets of those dtypes hold, PyTorch's .half() and .bfloat16() tensors.
 * Header-only, for the core and the command-line tool (strata inspect). */
#ifndef STRATA_HALF_H
#define STRATA_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/** The f32 of half-precision bits @p h (sign, 5 exponent bits, 10 mantissa
 *  bits). A NaN keeps its sign and payload (the mantissa's top bits), quiet,
 *  as a C compiler's (float)_Float16 and PyTorch's .float() convert it. */
static inline float st_f16_to_f32(uint16_t h)
{
    const int exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    float v;
    if (exp == 0) {
        v = ldexpf((float)man, -24); /* zero or subnormal */
    } else if (exp == 31 && man) {
        const uint32_t bits = (uint32_t)(h >> 15) << 31 | 0x7FC00000u | (uint32_t)man << 13;
        memcpy(&v, &bits, sizeof v);
        return v;
    } else if (exp == 31) {
        v = INFINITY;
    } else {
        v = ldexpf((float)(man | 0x400), exp - 25);
    }
    return (h >> 15) ? -v : v;
}

/** The f32 of bfloat16 bits @p b: the upper half of an f32. */
static inline float st_bf16_to_f32(uint16_t b)
{
    const uint32_t bits = (uint32_t)b << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

#endif
