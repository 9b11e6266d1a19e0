/*
 * elementwise.cl - binary ops with NumPy broadcasting, unary maps and
 * their derivatives (core::eltwise_backward). Op codes match
 * ocl_elementwise.c.
 */

#define OCL_ADD 0
#define OCL_SUB 1
#define OCL_MUL 2
#define OCL_DIV 3

inline float ocl_binop(int op, float a, float b)
{
    switch (op) {
    case OCL_ADD:
        return a + b;
    case OCL_SUB:
        return a - b;
    case OCL_MUL:
        return a * b;
    default:
        return a / b;
    }
}

/* y[i] = a[i] op b[i]; y, a, b (n). */
__kernel void binary_same(__global float *y, __global const float *a, long a_off, __global const float *b,
                          long b_off, long n, int op)
{
    long i = get_global_id(0);
    if (i < n)
        y[i] = ocl_binop(op, a[a_off + i], b[b_off + i]);
}

/* y (shape, nd dims) = a op b, with a and b read through broadcast strides
 * (0 on stretched dims). */
__kernel void binary_bcast(__global float *y, __global const float *a, long a_off, __global const float *b,
                           long b_off, long n, int nd, long8 shape8, long8 sa8, long8 sb8, int op)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    long shape[8], sa[8], sb[8];
    vstore8(shape8, 0, shape);
    vstore8(sa8, 0, sa);
    vstore8(sb8, 0, sb);
    long oa = 0, ob = 0, r = i;
    for (int d = nd - 1; d >= 0; d--) {
        long q = r / shape[d], k = r - q * shape[d];
        oa += k * sa[d];
        ob += k * sb[d];
        r = q;
    }
    y[i] = ocl_binop(op, a[a_off + oa], b[b_off + ob]);
}

#define OCL_NEG 0
#define OCL_EXP 1
#define OCL_LOG 2
#define OCL_SQRT 3
#define OCL_ABS 4
#define OCL_RELU 5
#define OCL_LEAKY_RELU 6
#define OCL_SIGMOID 7
#define OCL_TANH 8
#define OCL_GELU 9
#define OCL_POW 10
#define OCL_SCALE 11

#define OCL_INV_SQRT2 0.70710678118654752440f
#define OCL_INV_SQRT_2PI 0.39894228040143267794f

inline float ocl_unary_value(int fn, float x, float alpha, float beta, float expo)
{
    switch (fn) {
    case OCL_NEG:
        return -x;
    case OCL_EXP:
        return exp(x);
    case OCL_LOG:
        return log(x);
    case OCL_SQRT:
        return sqrt(x);
    case OCL_ABS:
        return fabs(x);
    case OCL_RELU:
        return x <= 0.0f ? 0.0f : x; /* NaN stays NaN, as PyTorch */
    case OCL_LEAKY_RELU:
        return x > 0.0f ? x : alpha * x;
    case OCL_SIGMOID:
        return ocl_sigmoid(x);
    case OCL_TANH:
        return ocl_tanh(x);
    case OCL_GELU:
        return 0.5f * x * (1.0f + erf(x * OCL_INV_SQRT2));
    case OCL_POW:
        return pow(x, expo);
    default: /* OCL_SCALE */
        return alpha * x + beta;
    }
}

/* f'(x), from x. relu'(0) = abs'(0) = 0; pow with exponent 0 has a zero
 * gradient everywhere (as PyTorch). */
inline float ocl_unary_deriv(int fn, float x, float alpha, float expo)
{
    switch (fn) {
    case OCL_NEG:
        return -1.0f;
    case OCL_EXP:
        return exp(x);
    case OCL_LOG:
        return 1.0f / x;
    case OCL_SQRT:
        return 0.5f / sqrt(x);
    case OCL_ABS:
        return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
    case OCL_RELU:
        return x <= 0.0f ? 0.0f : 1.0f;
    case OCL_LEAKY_RELU:
        return x > 0.0f ? 1.0f : alpha;
    case OCL_SIGMOID: {
        float s = ocl_sigmoid(x);
        return s * (1.0f - s);
    }
    case OCL_TANH: {
        float t = ocl_tanh(x);
        return 1.0f - t * t;
    }
    case OCL_GELU:
        return 0.5f * (1.0f + erf(x * OCL_INV_SQRT2)) + x * OCL_INV_SQRT_2PI * exp(-0.5f * x * x);
    case OCL_POW:
        return expo == 0.0f ? 0.0f : expo * pow(x, expo - 1.0f);
    default: /* OCL_SCALE */
        return alpha;
    }
}

/* y = f(x); x, y (n). */
__kernel void unary(__global float *y, __global const float *x, long x_off, long n, int fn, float alpha, float beta,
                    float expo)
{
    long i = get_global_id(0);
    if (i < n)
        y[i] = ocl_unary_value(fn, x[x_off + i], alpha, beta, expo);
}

/* core::cast's dtype codes: strata_dtype's. */
#define OCL_DT_F32 1
#define OCL_DT_F16 4

/* x[i] of dtype `from` (f32, f16 or bf16) as a float, exactly; an f16
 * NaN keeps its sign and payload, quiet (vload_half need not). */
inline float ocl_cast_load(__global const uchar *x, long i, int from)
{
    if (from == OCL_DT_F32)
        return ((__global const float *)x)[i];
    uint h = ((__global const ushort *)x)[i];
    if (from != OCL_DT_F16)
        return as_float(h << 16);
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu))
        return as_float((h & 0x8000u) << 16 | 0x7FC00000u | (h & 0x3FFu) << 13);
    return vload_half((size_t)i, (__global const half *)x);
}

/* y = x in y's dtype `to`; f16 and bf16 round to nearest even, and a NaN
 * stays a quiet NaN of its sign with its payload's top bits, as
 * strata_half.h (vstore_half_rte need not keep them); x, y (n). */
__kernel void cast(__global uchar *y, __global const uchar *x, long x_off, long n, int from, int to)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    float v = ocl_cast_load(x, x_off + i, from);
    uint u = as_uint(v);
    int nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    if (to == OCL_DT_F32) {
        ((__global float *)y)[i] = v;
    } else if (to == OCL_DT_F16 && nan) {
        ((__global ushort *)y)[i] = (ushort)((u >> 16 & 0x8000u) | 0x7E00u | (u >> 13 & 0x1FFu));
    } else if (to == OCL_DT_F16) {
        vstore_half_rte(v, (size_t)i, (__global half *)y);
    } else {
        uint r = nan ? (u >> 16 | 0x0040u) : (u + 0x7FFFu + (u >> 16 & 1u)) >> 16;
        ((__global ushort *)y)[i] = (ushort)r;
    }
}

/* dx = dy * f'(x); dx, dy, x (n). */
__kernel void unary_backward(__global float *dx, __global const float *dy, long dy_off, __global const float *x,
                             long x_off, long n, int fn, float alpha, float expo)
{
    long i = get_global_id(0);
    if (i < n)
        dx[i] = dy[dy_off + i] * ocl_unary_deriv(fn, x[x_off + i], alpha, expo);
}

/* y (n, contiguous) = x read through (shape, stride): the copy of a view;
 * 2-, 4- and 8-byte elements are moved as bits. */
__kernel void copy_strided_u16(__global ushort *y, __global const ushort *x, long x_off, long n, int nd, long8 shape8,
                               long8 stride8)
{
    long i = get_global_id(0);
    if (i < n)
        y[i] = x[x_off + ocl_strided(i, nd, shape8, stride8)];
}

__kernel void copy_strided_u32(__global uint *y, __global const uint *x, long x_off, long n, int nd, long8 shape8,
                               long8 stride8)
{
    long i = get_global_id(0);
    if (i < n)
        y[i] = x[x_off + ocl_strided(i, nd, shape8, stride8)];
}

__kernel void copy_strided_u64(__global ulong *y, __global const ulong *x, long x_off, long n, int nd, long8 shape8,
                               long8 stride8)
{
    long i = get_global_id(0);
    if (i < n)
        y[i] = x[x_off + ocl_strided(i, nd, shape8, stride8)];
}
