/*
 * strata_half.h - IEEE 754 half precision (f16) and bfloat16 (bf16) values
 * to and from f32, header-only (no ABI surface).
 *
 * f16 and bf16 are storage dtypes: a tensor of either holds the bits these
 * functions make, and core::cast converts a tensor between f32, f16 and
 * bf16 on its device. Use them to fill or read such a tensor from the host
 * (strata_tensor_from_host, strata_tensor_read take the raw 16-bit values),
 * in a backend's host kernels, or in a plugin's.
 *
 * To f32 is exact (every f16 and bf16 value is a float). From f32 rounds
 * to the nearest value, ties to the even one, as IEEE 754's default, a C
 * compiler's (_Float16) conversion and PyTorch's .half() / .bfloat16() do:
 * beyond the largest finite value it gives infinity; f16 keeps subnormals
 * (down to 2^-24). A NaN stays a quiet NaN of the same sign keeping the top
 * bits of its payload.
 */
#ifndef STRATA_HALF_H_
#define STRATA_HALF_H_

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint32_t strata_f32_bits_(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float strata_bits_f32_(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/** The f32 of f16 bits @p h (sign, 5 exponent bits, 10 mantissa bits). */
static inline float strata_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 31) /* infinity, or a NaN made quiet */
        return strata_bits_f32_(sign | 0x7F800000u | (man ? 0x00400000u | man << 13 : 0));
    if (exp) /* normal: rebias 15 -> 127 */
        return strata_bits_f32_(sign | (exp + 112) << 23 | man << 13);
    /* zero or subnormal: man * 2^-24, exact in f32 */
    const float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

/** The f16 bits nearest @p f, ties to even. */
static inline uint16_t strata_f32_to_f16(float f)
{
    const uint32_t u = strata_f32_bits_(f);
    const uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) /* NaN: quiet, the payload's top 9 bits */
        return (uint16_t)(sign | 0x7E00u | (a >> 13 & 0x1FFu));
    if (a >= 0x477FF000u) /* 65520 and above (the halfway point past 65504), infinity */
        return (uint16_t)(sign | 0x7C00u);
    if (a < 0x38800000u) { /* below 2^-14: a subnormal f16, or zero */
        /* adding 0.5 makes the f32 hardware round at bit 2^-24, to even */
        const float r = strata_bits_f32_(a) + 0.5f;
        return (uint16_t)(sign | (uint16_t)(strata_f32_bits_(r) - 0x3F000000u));
    }
    /* normal: drop 13 mantissa bits, rounding to nearest even; a carry
     * into the exponent is right (it may reach infinity only above 65504) */
    const uint32_t odd = a >> 13 & 1u;
    return (uint16_t)(sign | ((a - 0x38000000u + 0xFFFu + odd) >> 13));
}

/** The f32 of bf16 bits @p b: the upper half of an f32. */
static inline float strata_bf16_to_f32(uint16_t b)
{
    return strata_bits_f32_((uint32_t)b << 16);
}

/** The bf16 bits nearest @p f, ties to even. */
static inline uint16_t strata_f32_to_bf16(float f)
{
    const uint32_t u = strata_f32_bits_(f);
    const uint32_t quiet = u >> 16 | 0x0040u, rounded = (u + 0x7FFFu + (u >> 16 & 1u)) >> 16;
    /* a NaN stays quiet with its payload's top bits; no branch, so loops over it vectorize */
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? quiet : rounded);
}

#ifdef __cplusplus
}
#endif
#endif /* STRATA_HALF_H_ */
