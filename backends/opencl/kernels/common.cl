/*
 * common.cl - definitions every kernel file uses. The files are compiled
 * as one program, in the order CMakeLists.txt lists them.
 *
 * Conventions: outputs first, then inputs, then sizes and attributes.
 * Every input buffer comes with an element offset (a tensor may start
 * inside its storage); outputs are whole, contiguous buffers unless an
 * offset is given. Sizes are long; shapes and strides of up to 8 dims
 * travel as long8 (innermost dim last, unused dims ignored).
 */
#ifdef OCL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifdef OCL_SELF_TEST_BUILD_ERROR
/* STRATA_OPENCL_BUILD_OPTIONS=-DOCL_SELF_TEST_BUILD_ERROR: the tests check
 * that a failed build is reported with the compiler log. */
this is not OpenCL C;
#endif

/* Offset of row-major element i of a shape (nd dims) read through strides. */
inline long ocl_strided(long i, int nd, long8 shape8, long8 stride8)
{
    long shape[8], stride[8];
    vstore8(shape8, 0, shape);
    vstore8(stride8, 0, stride);
    long off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        long q = i / shape[d];
        off += (i - q * shape[d]) * stride[d];
        i = q;
    }
    return off;
}

/* tanh, reaching +-1: PoCL's built-in stops one step below (tanh(inf) =
 * 1 - 2^-24), which gave a saturated LSTM gate a gradient. Past 13 ln 2 the
 * float nearest tanh(x) is +-1. */
inline float ocl_tanh(float x)
{
    return fabs(x) > 9.0109131f ? copysign(1.0f, x) : tanh(x);
}

/* Logistic function, stable for either sign. */
inline float ocl_sigmoid(float x)
{
    float e = exp(-fabs(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}
