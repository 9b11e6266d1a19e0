/* test_half.c - f16 and bf16 storage (since ABI 1.3): tensors of either
 * dtype hold their bits unchanged through the views and core::copy,
 * core::cast converts them as strata_half.h does (checked here against the
 * compiler's _Float16 where it has one), every other op refuses them with
 * the way out in the message, and they never carry gradients. On ref, and
 * on cpu when it loads (the conformance suite compares every backend). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "strata/strata_half.h"
#include "testutil.h"

/* The device of backend @p name, or NULL when it is not loaded here. */
static strata_device *device_of(strata_runtime *rt, const char *name)
{
    strata_device *d = NULL;
    return strata_device_get(rt, name, 0, &d) == STRATA_OK ? d : NULL;
}

/* cast(x, dtype) on x's device, read back into @p out (n elements). */
static void cast_read(strata_runtime *rt, strata_tensor *x, int dtype, void *out, size_t bytes)
{
    strata_tensor *y = NULL;
    const strata_attr a = strata_attr_int("dtype", dtype);
    ST_OK(strata_op_call(rt, "core::cast", &x, 1, &a, 1, &y, 1));
    assert_int_equal(strata_tensor_dtype(y), dtype);
    ST_OK(strata_tensor_read(y, out, bytes));
    strata_tensor_release(y);
}

static void test_bits_survive_views_and_copy(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    uint16_t bits[6] = {0x3C00, 0x7E01, 0xFC00, 0x0001, 0x8000, 0x7BFF}; /* 1, NaN, -inf, subnormal, -0, 65504 */
    strata_tensor *x = NULL, *t = NULL, *c = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F16, 2, (const int64_t[]){2, 3}, bits, &x));
    assert_int_equal(strata_tensor_dtype(x), STRATA_F16);
    uint16_t back[6] = {0};
    ST_OK(strata_tensor_read(x, back, sizeof back));
    assert_memory_equal(back, bits, sizeof bits);
    /* a transposed view, made contiguous: element (j, i) is x's (i, j) */
    const int64_t dims[2] = {1, 0};
    const strata_attr p = strata_attr_ints("dims", dims, 2);
    ST_OK(strata_op_call(rt, "core::permute", &x, 1, &p, 1, &t, 1));
    ST_OK(strata_op_call(rt, "core::copy", &t, 1, NULL, 0, &c, 1));
    ST_OK(strata_tensor_read(c, back, sizeof back));
    const uint16_t want[6] = {bits[0], bits[3], bits[1], bits[4], bits[2], bits[5]};
    assert_memory_equal(back, want, sizeof want);
    /* bf16 tensors are only bits to the views too */
    strata_tensor *b = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_BF16, 1, (const int64_t[]){6}, bits, &b));
    ST_OK(strata_tensor_read(b, back, sizeof back));
    assert_memory_equal(back, bits, sizeof bits);
    /* strata_tensor_item decodes one value of either (it read 2 bytes as an i64) */
    const int64_t one[1] = {1};
    const strata_attr s1[3] = {strata_attr_int("axis", 0), strata_attr_int("start", 5), strata_attr_int("end", 6)};
    strata_tensor *lastb = NULL;
    double item = 0;
    ST_OK(strata_op_call(rt, "core::slice", &b, 1, s1, 3, &lastb, 1)); /* bf16 0x7BFF: 2^120 * 1.9921875 */
    ST_OK(strata_tensor_item(lastb, &item));
    assert_true(item == (double)strata_bf16_to_f32(0x7BFF));
    strata_tensor *h1 = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F16, 1, one, &bits[5], &h1)); /* 65504 */
    ST_OK(strata_tensor_item(h1, &item));
    assert_true(item == 65504.0);
    strata_tensor_release(h1);
    strata_tensor_release(lastb);
    strata_tensor_release(b);
    strata_tensor_release(c);
    strata_tensor_release(t);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

/* f32 values that decide rounding, then random ones over f16's range and beyond. */
#define N_VALUES 4096
static void fill_values(float *v)
{
    static const float special[] = {0.0f,       -0.0f,          1.0f,           65504.0f,     65519.99f,
                                    65520.0f,   -65520.0f,      5.9604645e-8f,  2.9802322e-8f, 8.940697e-8f,
                                    6.1035e-5f, 1.00048828125f, 1.00146484375f, 1.00390625f,  1.01171875f,
                                    3.4e38f,    -1e-40f,        INFINITY,       -INFINITY,    NAN,
                                    -NAN};
    const size_t ns = sizeof special / sizeof special[0];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < N_VALUES; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        v[i] = i < ns ? special[i] : (float)ldexp(2.0 * u - 1.0, (int)(s >> 3 & 63) - 40);
    }
}

static void test_cast_rounds_to_nearest_even(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    const char *backends[] = {"ref", "cpu"};
    float v[N_VALUES], back[N_VALUES];
    uint16_t h[N_VALUES], b[N_VALUES];
    fill_values(v);
    for (size_t k = 0; k < sizeof backends / sizeof backends[0]; k++) {
        strata_device *dev = device_of(rt, backends[k]);
        if (!dev) {
            assert_string_not_equal(backends[k], "ref");
            continue;
        }
        strata_tensor *x = NULL, *xh = NULL, *xb = NULL;
        ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){N_VALUES}, v, &x));
        cast_read(rt, x, STRATA_F16, h, sizeof h);
        cast_read(rt, x, STRATA_BF16, b, sizeof b);
        for (size_t i = 0; i < N_VALUES; i++) {
            assert_int_equal(h[i], strata_f32_to_f16(v[i])); /* NaNs too: sign, quiet bit, payload */
            assert_int_equal(b[i], strata_f32_to_bf16(v[i]));
            if (isnan(v[i]))
                continue;
#ifdef __FLT16_MAX__ /* an oracle outside this project: the compiler's IEEE binary16 */
            const _Float16 f = (_Float16)v[i];
            uint16_t fb;
            memcpy(&fb, &f, sizeof fb);
            if (h[i] != fb)
                fail_msg("%s: %.9g as f16 is 0x%04x, _Float16 gives 0x%04x", backends[k], (double)v[i], h[i], fb);
#endif
        }
        /* back to f32: exact, and f16 -> bf16 goes through the same value */
        ST_OK(strata_tensor_from_host(dev, STRATA_F16, 1, (const int64_t[]){N_VALUES}, h, &xh));
        ST_OK(strata_tensor_from_host(dev, STRATA_BF16, 1, (const int64_t[]){N_VALUES}, b, &xb));
        cast_read(rt, xh, STRATA_F32, back, sizeof back);
        for (size_t i = 0; i < N_VALUES; i++)
            if (!isnan(back[i]) || !isnan(v[i]))
                assert_true(back[i] == strata_f16_to_f32(h[i]));
        cast_read(rt, xb, STRATA_F32, back, sizeof back);
        for (size_t i = 0; i < N_VALUES; i++) {
            if (!isnan(v[i]))
                assert_true(back[i] == strata_bf16_to_f32(b[i]));
            /* bf16 keeps f32's range: finite values stay within half a bf16 ulp (2^-9 relative) */
            if (isfinite(v[i]) && isfinite(back[i]) && fabsf(v[i]) >= 1e-37f)
                assert_true(fabs((double)back[i] - v[i]) <= ldexp(fabs((double)v[i]), -8));
        }
        uint16_t hb[N_VALUES];
        cast_read(rt, xh, STRATA_BF16, hb, sizeof hb);
        for (size_t i = 0; i < N_VALUES; i++)
            if (!isnan(v[i]))
                assert_int_equal(hb[i], strata_f32_to_bf16(strata_f16_to_f32(h[i])));
        strata_tensor_release(xb);
        strata_tensor_release(xh);
        strata_tensor_release(x);
    }
    strata_runtime_destroy(rt);
}

static void test_other_ops_refuse_half(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const uint16_t bits[4] = {0x3C00, 0x4000, 0x4200, 0x4400}; /* 1 2 3 4 */
    strata_tensor *h = NULL, *f = NULL, *y = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F16, 1, (const int64_t[]){4}, bits, &h));
    const float fv[4] = {1, 2, 3, 4};
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, fv, &f));
    strata_tensor *in[2] = {f, h};
    assert_int_equal(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("core::add: input 1 is f16");
    tu_assert_error_contains("core::cast with dtype f32");
    assert_null(y);
    assert_int_equal(strata_op_call(rt, "core::sum", &h, 1, NULL, 0, &y, 1), STRATA_E_DTYPE);
    /* cast's own attribute and input */
    assert_int_equal(strata_op_call(rt, "core::cast", &h, 1, NULL, 0, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("'dtype' is required");
    const strata_attr to_i32 = strata_attr_int("dtype", STRATA_I32);
    assert_int_equal(strata_op_call(rt, "core::cast", &h, 1, &to_i32, 1, &y, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("not a float dtype");
    strata_tensor *idx = NULL;
    const int32_t iv[2] = {1, 2};
    ST_OK(strata_tensor_from_host(dev, STRATA_I32, 1, (const int64_t[]){2}, iv, &idx));
    const strata_attr to_f16 = strata_attr_int("dtype", STRATA_F16);
    assert_int_equal(strata_op_call(rt, "core::cast", &idx, 1, &to_f16, 1, &y, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("input 0 is i32");
    /* the way out works: f16 -> f32, then add */
    const strata_attr to_f32 = strata_attr_int("dtype", STRATA_F32);
    strata_tensor *h32 = NULL;
    ST_OK(strata_op_call(rt, "core::cast", &h, 1, &to_f32, 1, &h32, 1));
    in[1] = h32;
    ST_OK(strata_op_call(rt, "core::add", in, 2, NULL, 0, &y, 1));
    float sum[4];
    ST_OK(strata_tensor_read(y, sum, sizeof sum));
    for (int i = 0; i < 4; i++)
        assert_true(sum[i] == 2.0f * fv[i]);
    strata_tensor_release(y);
    strata_tensor_release(h32);
    strata_tensor_release(idx);
    strata_tensor_release(f);
    strata_tensor_release(h);
    strata_runtime_destroy(rt);
}

/* Half tensors never require gradients: a cast to f16 ends the graph, and
 * an f32 -> f32 cast passes its gradient through unchanged. */
static void test_half_carries_no_gradient(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const float fv[3] = {0.5f, -1.25f, 3.0f};
    strata_tensor *x = NULL, *h = NULL, *y = NULL, *loss = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F16, 1, (const int64_t[]){3}, (const uint16_t[]){0, 0, 0}, &h));
    assert_int_equal(strata_tensor_set_requires_grad(h, 1), STRATA_E_DTYPE);
    tu_assert_error_contains("only f32 tensors can require gradients (this one is f16)");
    strata_tensor_release(h);
    h = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){3}, fv, &x));
    ST_OK(strata_tensor_set_requires_grad(x, 1));
    strata_graph *g = strata_runtime_graph(rt);
    const strata_attr to_f16 = strata_attr_int("dtype", STRATA_F16), to_f32 = strata_attr_int("dtype", STRATA_F32);
    ST_OK(strata_op_call(rt, "core::cast", &x, 1, &to_f16, 1, &h, 1));
    ST_OK(strata_op_call(rt, "core::cast", &h, 1, &to_f32, 1, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    assert_int_equal(strata_backward(g, loss), STRATA_E_STATE);
    tu_assert_error_contains("does not depend on any tensor that requires grad");
    strata_tensor_release(loss);
    strata_tensor_release(y);
    ST_OK(strata_op_call(rt, "core::cast", &x, 1, &to_f32, 1, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(g, loss));
    float gx[3];
    ST_OK(strata_tensor_read(strata_tensor_grad(x), gx, sizeof gx));
    for (int i = 0; i < 3; i++)
        assert_true(gx[i] == 1.0f);
    strata_tensor_release(loss);
    strata_tensor_release(y);
    strata_tensor_release(h);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bits_survive_views_and_copy),
        cmocka_unit_test(test_cast_rounds_to_nearest_even),
        cmocka_unit_test(test_other_ops_refuse_half),
        cmocka_unit_test(test_half_carries_no_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
