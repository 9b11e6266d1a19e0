/* test_api_contracts.c - promises of strata.h that a review found broken
 * (2026-12-03), each checked on the ref backend:
 *
 *   - a reshape whose target size overflows int64 is an error, and no view
 *     can reach outside its storage (it read past a 16-byte buffer), nor
 *     have more elements than int64 and size_t count (an expand, 2026-12-06);
 *     a huge-step slice of rows and its gradient work (2026-12-06);
 *   - a checkpoint saved or loaded with an optimizer made for another model,
 *     or before the model grew, is E_STATE (it read and wrote past the
 *     optimizer's arrays);
 *   - loading a checkpoint restores the optimizer state exactly, including
 *     slots the file does not have yet (they were kept from later steps);
 *   - caller metadata cannot replace the checkpoint's own keys;
 *   - backward of a loss whose graph was reset is E_STATE, not a silent OK;
 *     an intermediate kept across the reset and used again gathers no
 *     gradient nobody reads (it grew with every backward);
 *   - NULL arrays with a nonzero count are E_INVALID, not a crash (and
 *     strata_tensor_item's NULL output, 2026-12-06);
 *   - backward after a tensor it saved was changed in place is E_STATE (it
 *     silently used the new values), from 2026-12-03;
 *   - an op given a tensor of another runtime is E_INVALID (it ran through
 *     the host fallback), from 2026-12-06;
 *   - attributes with a NULL name or list array, a NULL input name, an
 *     optimizer used after its model was destroyed and a negative max_norm
 *     are errors (crashes, or a flipped gradient), from 2026-12-07.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "strata/strata_half.h"
#include "testutil.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "api-contracts");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* x (3) -> linear NAME (2 outputs), appended to @p m */
static void add_linear(strata_model *m, const char *name, const char *input)
{
    strata_attr a = strata_attr_int("out_features", 2);
    const char *in[1] = {input};
    ST_OK(strata_model_add_layer(m, "linear", name, &a, 1, input ? in : NULL, input ? 1 : 0));
}

static strata_model *tiny_model(strata_device *dev)
{
    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (const int64_t[]){3}));
    add_linear(m, "fc1", NULL);
    return m;
}

static void test_reshape_overflow(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const float d[4] = {1, 2, 3, 4};
    strata_tensor *x = NULL, *r = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, d, &x));
    /* (2^62 + 1) x 4 wraps to 4 elements */
    const int64_t big[2] = {(1LL << 62) + 1, 4};
    strata_attr a = strata_attr_ints("shape", big, 2);
    assert_int_equal(strata_op_call(rt, "core::reshape", &x, 1, &a, 1, &r, 1), STRATA_E_SHAPE);
    tu_assert_error_contains("more elements than a tensor can hold");
    assert_null(r);
    /* and with an inferred dimension */
    const int64_t big2[3] = {-1, 1LL << 40, 1LL << 40};
    a = strata_attr_ints("shape", big2, 3);
    assert_int_equal(strata_op_call(rt, "core::reshape", &x, 1, &a, 1, &r, 1), STRATA_E_SHAPE);
    /* an expand (stride 0) stays inside its storage at any size, but its element count wrapped the same
     * way: numel 4, and a 16-byte read "read it all" */
    strata_tensor *x1 = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){1}, d, &x1));
    a = strata_attr_ints("shape", big, 2);
    assert_int_equal(strata_op_call(rt, "core::expand", &x1, 1, &a, 1, &r, 1), STRATA_E_SHAPE);
    tu_assert_error_contains("core::expand");
    tu_assert_error_contains("more elements than a tensor can hold");
    assert_null(r);
    const int64_t wide[2] = {1LL << 42, 1LL << 20}; /* 2^62 elements fit an int64, their 2^64 bytes do not */
    a = strata_attr_ints("shape", wide, 2);
    assert_int_equal(strata_op_call(rt, "core::expand", &x1, 1, &a, 1, &r, 1), STRATA_E_SHAPE);
    const int64_t fits[2] = {1LL << 30, 4}; /* large, but a view that can be described */
    a = strata_attr_ints("shape", fits, 2);
    ST_OK(strata_op_call(rt, "core::expand", &x1, 1, &a, 1, &r, 1));
    assert_int_equal(strata_tensor_numel(r), 1LL << 32);
    strata_tensor_release(r);
    r = NULL;
    strata_tensor_release(x1);
    /* a slice with a huge step: one element, as Python's x[1::2**63-1] (the length overflowed) */
    const strata_attr sa[3] = {strata_attr_int("axis", 0), strata_attr_int("start", 1),
                               strata_attr_int("step", INT64_MAX)};
    ST_OK(strata_op_call(rt, "core::slice", &x, 1, sa, 3, &r, 1));
    assert_int_equal(strata_tensor_numel(r), 1);
    float one = 0;
    ST_OK(strata_tensor_read(r, &one, sizeof one));
    assert_true(one == 2.0f);
    strata_tensor_release(r);
    /* the same on rows (stride 2: 2 * step overflowed, UBSan) and its gradient, whose end start + 1 * step
     * wrapped negative: E_SHAPE "gradient shape does not match the slice" */
    strata_tensor *x2 = NULL, *l = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, (const int64_t[]){2, 2}, d, &x2));
    ST_OK(strata_tensor_set_requires_grad(x2, 1));
    ST_OK(strata_op_call(rt, "core::slice", &x2, 1, sa, 3, &r, 1));
    float row[2] = {0, 0};
    ST_OK(strata_tensor_read(r, row, sizeof row));
    assert_true(row[0] == 3.0f && row[1] == 4.0f);
    ST_OK(strata_op_call(rt, "core::sum", &r, 1, NULL, 0, &l, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), l));
    float g[4];
    ST_OK(strata_tensor_read(strata_tensor_grad(x2), g, sizeof g));
    assert_true(g[0] == 0 && g[1] == 0 && g[2] == 1 && g[3] == 1);
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_release(l);
    strata_tensor_release(r);
    strata_tensor_release(x2);
    /* split sizes whose sum wraps to the axis length: 5 elements out of 3 before */
    const int64_t wrap[3] = {INT64_MAX, INT64_MAX, 6};
    const strata_attr spa[2] = {strata_attr_int("axis", 0), strata_attr_ints("sizes", wrap, 3)};
    strata_tensor *parts[3] = {NULL, NULL, NULL};
    assert_int_equal(strata_op_call(rt, "core::split", &x, 1, spa, 2, parts, 3), STRATA_E_SHAPE);
    tu_assert_error_contains("sizes add up to more than the 4 of axis 0");
    assert_null(parts[0]);
    /* messages that name what is wrong: a negative split size's value (it printed its position as "size 0 is
     * negative"), a scalar's argmax (an "empty axis"), one_hot without num_classes ("got -1"), concat of two
     * dtypes (E_SHAPE) */
    const int64_t negsz[2] = {-1, 5};
    const strata_attr sneg[2] = {strata_attr_int("axis", 0), strata_attr_ints("sizes", negsz, 2)};
    assert_int_equal(strata_op_call(rt, "core::split", &x, 1, sneg, 2, parts, 2), STRATA_E_INVALID);
    tu_assert_error_contains("size 0 is -1, negative");
    strata_tensor *scalar = NULL, *ix = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 0, NULL, d, &scalar));
    const strata_attr axis0 = strata_attr_int("axis", 0);
    assert_int_equal(strata_op_call(rt, "core::argmax", &scalar, 1, &axis0, 1, &r, 1), STRATA_E_SHAPE);
    tu_assert_error_contains("x is a scalar (0-d), with no axis to take argmax over");
    const int32_t idx[2] = {0, 1};
    ST_OK(strata_tensor_from_host(dev, STRATA_I32, 1, (const int64_t[]){2}, idx, &ix));
    assert_int_equal(strata_op_call(rt, "core::one_hot", &ix, 1, NULL, 0, &r, 1), STRATA_E_INVALID);
    tu_assert_error_contains("attribute num_classes is required");
    strata_tensor *cat_in[2] = {x, ix};
    assert_int_equal(strata_op_call(rt, "core::concat", cat_in, 2, NULL, 0, &r, 1), STRATA_E_DTYPE);
    strata_tensor_release(ix);
    strata_tensor_release(scalar);
    /* a hand-made ints attribute with a negative count is refused, not copied */
    strata_attr neg = strata_attr_ints("shape", big, 2);
    neg.n = -1;
    assert_int_equal(strata_op_call(rt, "core::sum_to_shape", &x, 1, &neg, 1, &r, 1), STRATA_E_INVALID);
    /* an integer fill holds its value or is refused (2^31 + 5 wrapped, NaN became INT64_MIN) */
    const double fills[3] = {2147483653.0, NAN, -2147483649.0};
    for (int k = 0; k < 3; k++) {
        const int64_t one = 1;
        strata_attr fa[3] = {strata_attr_ints("shape", &one, 1), strata_attr_float("value", fills[k]),
                             strata_attr_int("dtype", k == 1 ? STRATA_I64 : STRATA_I32)};
        assert_int_equal(strata_op_create(dev, "core::fill", fa, 3, &r), STRATA_E_INVALID);
        tu_assert_error_contains("does not fit in");
    }
    /* a correct reshape still works */
    const int64_t ok[2] = {2, -1};
    a = strata_attr_ints("shape", ok, 2);
    ST_OK(strata_op_call(rt, "core::reshape", &x, 1, &a, 1, &r, 1));
    assert_int_equal(strata_tensor_dim(r, 1), 2);
    strata_tensor_release(r);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

static void test_checkpoint_optimizer_of_another_model(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_model *m = tiny_model(dev), *other = tiny_model(dev);
    strata_optimizer *o = NULL;
    ST_OK(strata_optimizer_create(m, "adam", NULL, 0, &o));
    char path[400];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    ST_OK(strata_checkpoint_save(path, m, o, NULL));
    /* the model grew after the optimizer was made */
    add_linear(m, "fc2", "fc1");
    assert_int_equal(strata_checkpoint_save(path, m, o, NULL), STRATA_E_STATE);
    tu_assert_error_contains("the model has 4 parameters now, 2 when it was created");
    strata_model *grown = tiny_model(dev);
    add_linear(grown, "fc2", "fc1");
    strata_optimizer *og = NULL;
    ST_OK(strata_optimizer_create(grown, "adam", NULL, 0, &og));
    char path2[400];
    snprintf(path2, sizeof path2, "%s/b.safetensors", dir);
    ST_OK(strata_checkpoint_save(path2, grown, og, NULL));
    assert_int_equal(strata_checkpoint_load(path2, m, o), STRATA_E_STATE);
    tu_assert_error_contains("the model has 4 parameters now, 2 when it was created");
    ST_OK(strata_checkpoint_load(path2, m, NULL)); /* the model alone loads */
    strata_optimizer_destroy(og);
    strata_model_destroy(grown);
    /* an optimizer of another model */
    assert_int_equal(strata_checkpoint_save(path, other, o, NULL), STRATA_E_STATE);
    tu_assert_error_contains("created for another model");
    assert_int_equal(strata_checkpoint_load(path, other, o), STRATA_E_STATE);
    assert_int_equal(strata_optimizer_step(o), STRATA_E_STATE);
    strata_optimizer_destroy(o);
    strata_model_destroy(m);
    strata_model_destroy(other);
    strata_runtime_destroy(rt);
}

/* One step of loss sum(model(x)) and an optimizer step. */
static void train_step(strata_runtime *rt, strata_model *m, strata_optimizer *o)
{
    strata_device *dev = strata_model_device(m);
    const float xv[6] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f};
    strata_tensor *x = NULL, *y = NULL, *l = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, (const int64_t[]){2, 3}, xv, &x));
    strata_model_zero_grad(m);
    ST_OK(strata_model_forward(m, &x, 1, &y, 1, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &l, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), l));
    ST_OK(strata_optimizer_step(o));
    strata_graph_reset(strata_runtime_graph(rt));
    strata_tensor_release(l);
    strata_tensor_release(y);
    strata_tensor_release(x);
}

/* tiny_model on ref after one Adam step (*o: its optimizer). */
static strata_model *trained_with_adam(strata_runtime *rt, strata_optimizer **o)
{
    strata_model *m = tiny_model(tu_ref(rt));
    ST_OK(strata_optimizer_create(m, "adam", NULL, 0, o));
    train_step(rt, m, *o);
    return m;
}

static void read_params(strata_model *m, float *out)
{
    for (int i = 0, at = 0; i < strata_model_param_count(m); i++) {
        strata_tensor *t;
        ST_OK(strata_model_param(m, i, NULL, &t));
        ST_OK(strata_tensor_read(t, out + at, sizeof(float) * (size_t)strata_tensor_numel(t)));
        at += (int)strata_tensor_numel(t);
    }
}

/* A file with a tensor of one of the model's layers that the model lacks
 * (written by fc1 with a bias, loaded into fc1 without) is refused, naming
 * it: loading the rest would compute something else without a word (a
 * 3-hop memory network's file into a 2-hop model did). Layers the model
 * does not have at all stay allowed: a classifier's trunk from its file. */
static void test_checkpoint_refuses_part_of_a_layer(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_model *m = tiny_model(dev), *nobias = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/bias.safetensors", dir);
    ST_OK(strata_checkpoint_save(path, m, NULL, NULL));
    ST_OK(strata_model_create(dev, &nobias));
    ST_OK(strata_model_add_input(nobias, "x", STRATA_F32, 1, (const int64_t[]){3}));
    strata_attr a[2] = {strata_attr_int("out_features", 2), strata_attr_int("bias", 0)};
    ST_OK(strata_model_add_layer(nobias, "linear", "fc1", a, 2, NULL, 0));
    assert_int_equal(strata_checkpoint_load(path, nobias, NULL), STRATA_E_INVALID);
    tu_assert_error_contains("tensor 'fc1.bias' is not in the model");
    tu_assert_error_contains("of the same layer 'fc1'");
    /* the other way round the bias is missing, as before */
    char path2[400];
    snprintf(path2, sizeof path2, "%s/nobias.safetensors", dir);
    ST_OK(strata_checkpoint_save(path2, nobias, NULL, NULL));
    assert_int_equal(strata_checkpoint_load(path2, m, NULL), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("tensor 'fc1.bias' is missing");
    /* a state_dict of PyTorch's DataParallel ("module." before every name): the message says so */
    const float w[6] = {0}, bias[2] = {0};
    const tu_sft_tensor wrapped[2] = {
        {"module.fc1.weight", "F32", 2, {2, 3}, w, sizeof w},
        {"module.fc1.bias", "F32", 1, {2}, bias, sizeof bias},
    };
    tu_write_sft(dir, "wrapped.safetensors", wrapped, 2);
    snprintf(path2, sizeof path2, "%s/wrapped.safetensors", dir);
    assert_int_equal(strata_checkpoint_load(path2, m, NULL), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("tensor 'fc1.weight' is missing, and 'module.fc1.weight' is there: a state_dict of "
                             "PyTorch's DataParallel");
    /* a whole layer more in the file is fine */
    strata_model *grown = tiny_model(dev);
    add_linear(grown, "fc2", "fc1");
    ST_OK(strata_checkpoint_save(path, grown, NULL, NULL));
    ST_OK(strata_checkpoint_load(path, m, NULL));
    strata_model_destroy(grown);
    strata_model_destroy(nobias);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* A checkpoint of a fresh Adam (no moments yet) loaded into an Adam that
 * has stepped: one more step must give what one step from fresh gives. */
static void test_checkpoint_restores_fresh_slots(void **state)
{
    (void)state;
    const char *types[2] = {"adam", "rmsprop"};
    for (int t = 0; t < 2; t++) {
        strata_runtime *rt = tu_runtime();
        strata_device *dev = tu_ref(rt);
        strata_model *a = tiny_model(dev), *b = tiny_model(dev);
        strata_optimizer *oa = NULL, *ob = NULL;
        ST_OK(strata_optimizer_create(a, types[t], NULL, 0, &oa));
        ST_OK(strata_optimizer_create(b, types[t], NULL, 0, &ob));
        char path[400];
        snprintf(path, sizeof path, "%s/fresh-%s.safetensors", dir, types[t]);
        ST_OK(strata_checkpoint_save(path, a, oa, NULL));
        for (int k = 0; k < 3; k++)
            train_step(rt, b, ob);
        ST_OK(strata_checkpoint_load(path, b, ob));
        train_step(rt, a, oa);
        train_step(rt, b, ob);
        float pa[8], pb[8];
        read_params(a, pa);
        read_params(b, pb);
        for (int i = 0; i < 8; i++)
            if (pa[i] != pb[i])
                fail_msg("%s: parameter value %d is %.9g after load and a step, %.9g from fresh", types[t], i,
                         (double)pb[i], (double)pa[i]);
        strata_optimizer_destroy(oa);
        strata_optimizer_destroy(ob);
        strata_model_destroy(a);
        strata_model_destroy(b);
        strata_runtime_destroy(rt);
    }
}

/* A model saved by PyTorch in half precision (model.half(), model.bfloat16())
 * or in double loads into f32 parameters, converted as load_state_dict
 * copies it: F16 and BF16 exactly (subnormals, -0 and the largest half
 * included), F64 rounded to the nearest f32. An integer tensor stays refused. */
static void test_checkpoint_loads_other_float_dtypes(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_model *m = tiny_model(dev);
    /* fc1.weight (2, 3) as F16: 1, -2, 2^-24 (the least subnormal), 65504 (the largest), -0, 0.1's nearest half */
    const uint16_t w16[6] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x2E66};
    const float w16_want[6] = {1.0f, -2.0f, 0x1p-24f, 65504.0f, -0.0f, 0.0999755859375f};
    /* fc1.bias (2) as BF16: 1, -123.5 */
    const uint16_t b16[2] = {0x3F80, 0xC2F7};
    const float b16_want[2] = {1.0f, -123.5f};
    const tu_sft_tensor half[2] = {
        {"fc1.weight", "F16", 2, {2, 3}, w16, sizeof w16},
        {"fc1.bias", "BF16", 1, {2}, b16, sizeof b16},
    };
    tu_write_sft(dir, "half.safetensors", half, 2);
    char path[400];
    snprintf(path, sizeof path, "%s/half.safetensors", dir);
    ST_OK(strata_checkpoint_load(path, m, NULL));
    float got[8];
    read_params(m, got);
    for (int i = 0; i < 6; i++)
        if (memcmp(&got[i], &w16_want[i], sizeof(float)))
            fail_msg("F16 value %d (0x%04x) loaded as %.9g, want %.9g", i, w16[i], (double)got[i],
                     (double)w16_want[i]);
    for (int i = 0; i < 2; i++)
        if (got[6 + i] != b16_want[i])
            fail_msg("BF16 value %d loaded as %.9g, want %.9g", i, (double)got[6 + i], (double)b16_want[i]);

    const double w64[6] = {0.1, -1.0 / 3.0, 1e-40, 3.0e38, -7.25, 2.0}, b64[2] = {1e-3, -0.5};
    const tu_sft_tensor dbl[2] = {
        {"fc1.weight", "F64", 2, {2, 3}, w64, sizeof w64},
        {"fc1.bias", "F64", 1, {2}, b64, sizeof b64},
    };
    tu_write_sft(dir, "double.safetensors", dbl, 2);
    snprintf(path, sizeof path, "%s/double.safetensors", dir);
    ST_OK(strata_checkpoint_load(path, m, NULL));
    read_params(m, got);
    for (int i = 0; i < 8; i++) {
        const float want = (float)(i < 6 ? w64[i] : b64[i - 6]);
        if (memcmp(&got[i], &want, sizeof want))
            fail_msg("F64 value %d loaded as %.9g, want %.9g", i, (double)got[i], (double)want);
    }

    const int32_t wi[6] = {1, 2, 3, 4, 5, 6};
    const tu_sft_tensor ints[2] = {
        {"fc1.weight", "I32", 2, {2, 3}, wi, sizeof wi},
        {"fc1.bias", "BF16", 1, {2}, b16, sizeof b16},
    };
    tu_write_sft(dir, "ints.safetensors", ints, 2);
    snprintf(path, sizeof path, "%s/ints.safetensors", dir);
    assert_int_equal(strata_checkpoint_load(path, m, NULL), STRATA_E_DTYPE);
    tu_assert_error_contains("tensor 'fc1.weight' is I32, the model expects f32");
    read_params(m, got); /* a refused load changes nothing */
    assert_true(got[0] == (float)w64[0] && got[7] == (float)b64[1]);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* strata_checkpoint_convert (since 1.3): a trained model with Adam state
 * as F16, BF16 and back to F32: every float tensor converted as
 * strata_half.h rounds, the optimizer's tensors and metadata left out, the
 * rest of the metadata kept; the copy loads into f32 parameters again; in
 * place works; a bad dtype, a missing file and a tensor Strata cannot hold
 * are errors naming them, and leave nothing behind. */
static void test_checkpoint_convert(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_optimizer *o = NULL;
    strata_model *m = trained_with_adam(rt, &o);
    char src[400], dst[400];
    snprintf(src, sizeof src, "%s/convert-src.safetensors", dir);
    snprintf(dst, sizeof dst, "%s/convert-dst.safetensors", dir);
    ST_OK(strata_checkpoint_save(src, m, o, "{\"note\": \"kept\"}"));
    float w[8], got[8];
    read_params(m, w);
    const int32_t dtypes[3] = {STRATA_F16, STRATA_BF16, STRATA_F32};
    const char *names[3] = {"F16", "BF16", "F32"};
    for (int d = 0; d < 3; d++) {
        ST_OK(strata_checkpoint_convert(d == 2 ? dst : src, dst, (strata_dtype)dtypes[d])); /* F32 from the BF16 copy */
        st_sft_file *f = NULL;
        ST_OK(st_sft_read(dst, &f));
        assert_int_equal(f->n_entries, 2); /* fc1.weight, fc1.bias: no optimizer.* */
        for (size_t k = 0; k < f->n_entries; k++)
            assert_string_equal(f->entries[k].dtype_str, names[d]);
        assert_string_equal(st_sft_meta(f, "note"), "kept");
        assert_string_equal(st_sft_meta(f, "format"), "strata");
        assert_null(st_sft_meta(f, "optimizer"));
        assert_null(st_sft_meta(f, "optimizer.steps"));
        st_sft_free(f);
        strata_model *back = tiny_model(tu_ref(rt));
        ST_OK(strata_checkpoint_load(dst, back, NULL));
        read_params(back, got);
        for (int i = 0; i < 8; i++) {
            const float want = d == 0 ? strata_f16_to_f32(strata_f32_to_f16(w[i]))
                                      : strata_bf16_to_f32(strata_f32_to_bf16(w[i])); /* d == 2: the bf16 values */
            if (got[i] != want)
                fail_msg("%s: parameter value %d is %.9g, want %.9g (from %.9g)", names[d], i, (double)got[i],
                         (double)want, (double)w[i]);
        }
        assert_int_equal(strata_checkpoint_load(dst, m, o), STRATA_E_NOT_FOUND); /* no state to resume from */
        strata_model_destroy(back);
    }
    ST_OK(strata_checkpoint_convert(src, src, STRATA_F16)); /* in place */
    assert_int_equal(strata_checkpoint_convert(src, dst, STRATA_I32), STRATA_E_DTYPE);
    tu_assert_error_contains("dtype 2 (i32) is not f32, f16 or bf16");
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no-such.safetensors", dir);
    assert_int_not_equal(strata_checkpoint_convert(missing, dst, STRATA_F16), STRATA_OK);
    tu_assert_error_contains("no-such.safetensors");
    const uint8_t flags[2] = {1, 0};
    const float bias[2] = {0.5f, -0.5f};
    const tu_sft_tensor odd[2] = {{"fc1.bias", "F32", 1, {2}, bias, sizeof bias}, {"mask", "BOOL", 1, {2}, flags, 2}};
    tu_write_sft(dir, "convert-bool.safetensors", odd, 2);
    char bools[400], out[400];
    snprintf(bools, sizeof bools, "%s/convert-bool.safetensors", dir);
    snprintf(out, sizeof out, "%s/convert-never.safetensors", dir);
    assert_int_equal(strata_checkpoint_convert(bools, out, STRATA_BF16), STRATA_E_DTYPE);
    tu_assert_error_contains("tensor 'mask' is BOOL");
    assert_int_not_equal(access(out, F_OK), 0); /* nothing written */
    strata_optimizer_destroy(o);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* Every one of the 65,536 F16 bit patterns loads as the f32 the compiler's
 * (float)_Float16 gives, bit for bit: NaNs keep their sign and payload,
 * quiet (they all loaded as the one NaN 0x7fc00000 or 0xffc00000). */
static void test_checkpoint_loads_every_half(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (const int64_t[]){256}));
    strata_attr a[2] = {strata_attr_int("out_features", 256), strata_attr_int("bias", 0)};
    ST_OK(strata_model_add_layer(m, "linear", "fc1", a, 2, NULL, 0));
    static uint16_t w16[65536];
    static float got[65536];
    for (uint32_t h = 0; h < 65536; h++)
        w16[h] = (uint16_t)h;
    const tu_sft_tensor half[1] = {{"fc1.weight", "F16", 2, {256, 256}, w16, sizeof w16}};
    tu_write_sft(dir, "every.safetensors", half, 1);
    char path[400];
    snprintf(path, sizeof path, "%s/every.safetensors", dir);
    ST_OK(strata_checkpoint_load(path, m, NULL));
    read_params(m, got);
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t want, bits;
#ifdef __FLT16_MAX__
        _Float16 x;
        memcpy(&x, &w16[h], sizeof x);
        const float wf = (float)x;
        memcpy(&want, &wf, sizeof want);
#else /* IEEE 754's widening: exact, a NaN quiet with its sign and payload */
        if ((h & 0x7C00) != 0x7C00 || !(h & 0x3FF)) {
            continue; /* the values: test_checkpoint_loads_other_float_dtypes */
        }
        want = (h >> 15) << 31 | 0x7FC00000u | (h & 0x3FF) << 13;
#endif
        memcpy(&bits, &got[h], sizeof bits);
        if (bits != want)
            fail_msg("F16 0x%04x loaded as 0x%08x, want 0x%08x", h, bits, want);
    }
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

static void test_reserved_metadata(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_model *m = tiny_model(tu_ref(rt));
    strata_optimizer *o = NULL;
    ST_OK(strata_optimizer_create(m, "sgd", NULL, 0, &o));
    char path[400];
    snprintf(path, sizeof path, "%s/meta.safetensors", dir);
    const char *bad[] = {"{\"optimizer.steps\": \"1000\"}", "{\"format\": \"x\"}", "{\"strata_version\": \"9\"}",
                         "{\"optimizer\": \"adam\"}", "{\"ok\": \"1\", \"optimizer.fc1.weight.step\": \"5\"}"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(strata_checkpoint_save(path, m, o, bad[k]), STRATA_E_INVALID);
        tu_assert_error_contains("is the checkpoint's own");
    }
    ST_OK(strata_checkpoint_save(path, m, o, "{\"run\": \"a\", \"optimizer_note\": \"free\"}"));
    char buf[64];
    ST_OK(strata_checkpoint_metadata(path, "optimizer.steps", buf, sizeof buf));
    assert_string_equal(buf, "0");
    ST_OK(strata_checkpoint_metadata(path, "optimizer_note", buf, sizeof buf));
    assert_string_equal(buf, "free");
    /* outputs only on success: an absent key or a short buffer leaves buf as it was */
    assert_int_equal(strata_checkpoint_metadata(path, "absent", buf, sizeof buf), STRATA_E_NOT_FOUND);
    assert_string_equal(buf, "free");
    assert_int_equal(strata_checkpoint_metadata(path, "optimizer", buf, 2), STRATA_E_INVALID);
    assert_string_equal(buf, "free");
    strata_optimizer_destroy(o);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* Copies the checkpoint @p src to @p dst with metadata @p key's value replaced
 * by @p value (the header is rewritten, the data kept). */
static void rewrite_meta(const char *src, const char *dst, const char *key, const char *value)
{
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--)
        hl = hl << 8 | buf[k];
    char head[8192];
    assert_true(hl < sizeof head && 8 + hl <= n);
    memcpy(head, buf + 8, hl);
    head[hl] = '\0';
    char quoted[256];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    char *at = strstr(head, quoted);
    assert_non_null(at);
    char *open = strchr(at + strlen(quoted), '"'), *close = open ? strchr(open + 1, '"') : NULL;
    assert_non_null(close);
    char out[8192];
    int len = snprintf(out, sizeof out, "%.*s%s%s", (int)(open + 1 - head), head, value, close);
    f = fopen(dst, "wb");
    assert_non_null(f);
    unsigned char le[8];
    for (int k = 0; k < 8; k++)
        le[k] = (unsigned char)((uint64_t)len >> (8 * k));
    fwrite(le, 1, 8, f);
    fwrite(out, 1, (size_t)len, f);
    fwrite(buf + 8 + hl, 1, n - 8 - hl, f);
    fclose(f);
}

/* The optimizer's counters and rate in a checkpoint's metadata are checked
 * before anything is loaded: a value that is not one is E_FORMAT naming the
 * key, and the optimizer keeps its state (it loaded as 0 or -7 before). */
static void test_checkpoint_bad_optimizer_metadata(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_optimizer *o = NULL;
    strata_model *m = trained_with_adam(rt, &o);
    char path[400], bad[400];
    snprintf(path, sizeof path, "%s/adam.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/adam-bad.safetensors", dir);
    ST_OK(strata_checkpoint_save(path, m, o, NULL));
    rewrite_meta(path, bad, "optimizer.steps", "1");
    ST_OK(strata_checkpoint_load(bad, m, o)); /* the rewriting keeps a good file good */
    const struct {
        const char *key, *value;
    } cases[] = {
        {"optimizer.lr", "fast"},   {"optimizer.lr", "-0.1"},     {"optimizer.lr", "inf"},
        {"optimizer.lr", "0.001x"}, {"optimizer.steps", "-7"},    {"optimizer.steps", ""},
        {"optimizer.steps", "1e3"}, {"optimizer.steps", "99999999999999999999"},
        {"optimizer.fc1.weight.step", "-7"}, {"optimizer.fc1.bias.step", "x"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        rewrite_meta(path, bad, cases[k].key, cases[k].value);
        strata_status rc = strata_checkpoint_load(bad, m, o);
        if (rc != STRATA_E_FORMAT)
            fail_msg("%s = \"%s\": %s, expected E_FORMAT", cases[k].key, cases[k].value, strata_status_name(rc));
        tu_assert_error_contains(cases[k].key);
        assert_int_equal(strata_optimizer_steps(o), 1);
        assert_true(strata_optimizer_lr(o) > 0.0);
    }
    strata_optimizer_destroy(o);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* Host storages: a freed block is reused by the next storage of its size
 * (W4 spent 60% of a step faulting pages of blocks malloc had returned to the
 * system), zeroed when zeros are asked for; STRATA_HOST_CACHE=0 turns it off. */
static void test_host_block_cache(void **state)
{
    (void)state;
    char saved[16] = ""; /* the sanitizer job runs with the cache off */
    const char *env = getenv("STRATA_HOST_CACHE");
    if (env)
        snprintf(saved, sizeof saved, "%s", env);
    unsetenv("STRATA_HOST_CACHE");
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    assert_non_null(rt->host_cache);
    const int64_t n = 4096;
    float *ones = malloc(sizeof(float) * (size_t)n), *back = malloc(sizeof(float) * (size_t)n);
    assert_non_null(ones);
    assert_non_null(back);
    for (int64_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    strata_tensor *a = NULL, *b = NULL, *c = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, &n, ones, &a));
    void *block = a->st->data;
    strata_tensor_release(a);
    ST_OK(strata_tensor_zeros(dev, STRATA_F32, 1, &n, &b));
    assert_ptr_equal(b->st->data, block);
    ST_OK(strata_tensor_read(b, back, sizeof(float) * (size_t)n));
    for (int64_t i = 0; i < n; i++)
        assert_true(back[i] == 0.0f);
    const int64_t half = n / 2; /* another size: a block of its own */
    ST_OK(strata_tensor_zeros(dev, STRATA_F32, 1, &half, &c));
    assert_ptr_not_equal(c->st->data, block);
    strata_tensor_release(c);
    strata_tensor_release(b);

    /* full (128 MB): the block freed longest ago makes room for a new one */
    const int64_t big[3] = {12 << 20, (12 << 20) + 16, (12 << 20) + 32}; /* floats: 48 MB each, three sizes */
    strata_tensor *t[3] = {NULL, NULL, NULL};
    void *blk[3];
    for (int k = 0; k < 3; k++) {
        ST_OK(strata_tensor_zeros(dev, STRATA_F32, 1, &big[k], &t[k]));
        blk[k] = t[k]->st->data;
    }
    const st_host_cache *hc = rt->host_cache;
    const int before = hc->n;
    for (int k = 0; k < 3; k++) /* 0 and 1 fill 96 MB; 2 needs 0's room */
        strata_tensor_release(t[k]);
    for (int k = 0; k < hc->n; k++) /* 0 was given back, the smaller blocks before it too */
        assert_true(hc->block[k] != blk[0] && (hc->size[k] == sizeof(float) * (size_t)big[1] ||
                                               hc->size[k] == sizeof(float) * (size_t)big[2]));
    assert_int_equal(hc->n, 2);
    assert_true(before > 0);
    for (int k = 2; k >= 1; k--) {
        ST_OK(strata_tensor_zeros(dev, STRATA_F32, 1, &big[k], &t[k]));
        assert_ptr_equal(t[k]->st->data, blk[k]);
        strata_tensor_release(t[k]);
    }
    strata_runtime_destroy(rt); /* frees the cached blocks (the Valgrind job would see a leak) */

    setenv("STRATA_HOST_CACHE", "0", 1);
    rt = tu_runtime();
    if (saved[0])
        setenv("STRATA_HOST_CACHE", saved, 1);
    else
        unsetenv("STRATA_HOST_CACHE");
    assert_null(rt->host_cache);
    ST_OK(strata_tensor_from_host(tu_ref(rt), STRATA_F32, 1, &n, ones, &a));
    strata_tensor_release(a);
    strata_runtime_destroy(rt);
    free(ones);
    free(back);
}

static void test_backward_after_reset(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const float v[3] = {1, 2, 3};
    strata_tensor *x = NULL, *l = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){3}, v, &x));
    ST_OK(strata_tensor_set_requires_grad(x, 1));
    ST_OK(strata_op_call(rt, "core::sum", &x, 1, NULL, 0, &l, 1));
    strata_graph_reset(strata_runtime_graph(rt));
    assert_int_equal(strata_backward(strata_runtime_graph(rt), l), STRATA_E_STATE);
    tu_assert_error_contains("was reset");
    assert_null(strata_tensor_grad(x));
    strata_tensor_release(l);

    /* y = 2x kept across a reset, then used as an input of new graphs: x gets no gradient through it
     * (the node that linked them is gone), and y holds no gradient of its own after each backward */
    strata_tensor *y = NULL;
    strata_attr two = strata_attr_float("alpha", 2.0);
    ST_OK(strata_op_call(rt, "core::scale", &x, 1, &two, 1, &y, 1));
    strata_graph_reset(strata_runtime_graph(rt));
    for (int step = 0; step < 3; step++) {
        strata_tensor *in[2] = {y, x}, *p = NULL;
        ST_OK(strata_op_call(rt, "core::mul", in, 2, NULL, 0, &p, 1));
        ST_OK(strata_op_call(rt, "core::sum", &p, 1, NULL, 0, &l, 1));
        ST_OK(strata_backward(strata_runtime_graph(rt), l));
        assert_null(y->tmp_grad);
        strata_graph_reset(strata_runtime_graph(rt));
        strata_tensor_release(l);
        strata_tensor_release(p);
    }
    float g[3];
    ST_OK(strata_tensor_read(strata_tensor_grad(x), g, sizeof g));
    for (int k = 0; k < 3; k++) /* d/dx sum(y * x) with y constant: y = 2x, three times */
        assert_float_equal(g[k], 3 * 2 * v[k], 1e-6);
    strata_tensor_release(y);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

/* Provided outputs: a bad one after good ones is refused without leaking the good ones (LeakSanitizer in the
 * CI's ASan job), and one on another device says so; the default backend's device index is honoured. */
static void test_provided_outputs_and_device_index(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt), *cpu = NULL;
    const float v[5] = {1, 2, 3, 4, 5};
    strata_tensor *a = NULL, *b = NULL, *bad = NULL, *elsewhere = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, v, &a));
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, v, &b));
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){5}, v, &bad));
    /* sgd_step (p, g, buf) -> (p, buf) in place, its second output the wrong size */
    strata_tensor *step_in[3] = {a, b, b}, *step_out[2] = {a, bad};
    strata_op_invocation step = {.struct_size = sizeof step, .op = "core::sgd_step", .inputs = step_in,
                                 .n_inputs = 3, .outputs = step_out, .n_outputs = 2,
                                 .flags = STRATA_INVOKE_OUTPUTS_PROVIDED};
    assert_int_equal(strata_op_invoke(rt, &step), STRATA_E_SHAPE);
    tu_assert_error_contains("provided output 1 is f32 (5)");
    strata_tensor *in[2] = {a, b}, *outs[1] = {a};
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::add", .inputs = in, .n_inputs = 2,
                                .outputs = outs, .n_outputs = 1, .flags = STRATA_INVOKE_OUTPUTS_PROVIDED};
    if (strata_device_get(rt, "cpu", 0, &cpu) == STRATA_OK) {
        ST_OK(strata_tensor_from_host(cpu, STRATA_F32, 1, (const int64_t[]){4}, v, &elsewhere));
        outs[0] = elsewhere;
        assert_int_equal(strata_op_invoke(rt, &inv), STRATA_E_INVALID);
        tu_assert_error_contains("provided output 0 is on cpu:0, the inputs on ref:0");
    }
    strata_clear_error();
    strata_device *d = NULL;
    assert_int_equal(strata_device_get(rt, NULL, 7, &d), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("device 7 does not exist");
    assert_null(d);
    strata_tensor_release(elsewhere);
    strata_tensor_release(bad);
    strata_tensor_release(b);
    strata_tensor_release(a);
    strata_runtime_destroy(rt);
}

/* A tensor of one runtime given to an op of another: its backend is not among that runtime's, so every op looked
 * kernel-less and ran through the host fallback ("core::add has no kernel on ref:0; running it on ref:0 with
 * copies"), recorded in the other runtime's graph. It is E_INVALID naming the op and the device; strata_tensor_to
 * copies a tensor across. */
static void test_tensor_of_another_runtime(void **state)
{
    (void)state;
    strata_runtime *ra = tu_runtime(), *rb = tu_runtime();
    const float v[3] = {1, 2, 3};
    strata_tensor *a = NULL, *b = NULL, *y = NULL;
    ST_OK(strata_tensor_from_host(tu_ref(ra), STRATA_F32, 1, (const int64_t[]){3}, v, &a));
    strata_tensor *aa[2] = {a, a};
    assert_int_equal(strata_op_call(rb, "core::add", aa, 2, NULL, 0, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::add: input 0 is on ref:0 of another runtime");
    assert_null(y);
    const int64_t shape[2] = {3, 1};
    strata_attr s = strata_attr_ints("shape", shape, 2);
    assert_int_equal(strata_op_call(rb, "core::reshape", &a, 1, &s, 1, &y, 1), STRATA_E_INVALID);
    assert_null(y);

    ST_OK(strata_tensor_to(a, tu_ref(rb), &b));
    strata_tensor *bb[2] = {b, b};
    ST_OK(strata_op_call(rb, "core::add", bb, 2, NULL, 0, &y, 1));
    float got[3];
    ST_OK(strata_tensor_read(y, got, sizeof got));
    for (int k = 0; k < 3; k++)
        assert_true(got[k] == 2 * v[k]);
    strata_tensor_release(y);
    strata_tensor_release(b);
    strata_tensor_release(a);
    strata_runtime_destroy(rb);
    strata_runtime_destroy(ra);
}

/* backward from @p l is refused naming @p needle, before anything reached @p x; the graph is reset and @p l released */
static void expect_refused(strata_graph *g, strata_tensor *l, const strata_tensor *x, const char *needle)
{
    assert_int_equal(strata_backward(g, l), STRATA_E_STATE);
    tu_assert_error_contains(needle);
    assert_null(strata_tensor_grad(x));
    strata_graph_reset(g);
    strata_tensor_release(l);
}

/* A tensor the graph saved and then changed in place would give wrong gradients without a sign: backward
 * refuses, naming the op, which input or output and the versions; a view shares its base's version; nothing
 * is accumulated; a new forward after the change differentiates. */
static void test_saved_tensor_modified(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_graph *g = strata_runtime_graph(rt);
    const float xv[4] = {1, 2, 3, 4}, wv[4] = {5, 6, 7, 8}, w2[4] = {-1, -2, -3, -4};
    strata_tensor *x = NULL, *w = NULL, *p = NULL, *l = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, xv, &x));
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, wv, &w));
    ST_OK(strata_tensor_set_requires_grad(x, 1));

    /* strata_tensor_write into a saved input; l = sum(x * w + x), so add's backward would reach x before mul's */
    strata_tensor *in[2] = {x, w}, *q = NULL;
    for (int pass = 0; pass < 2; pass++) {
        ST_OK(strata_op_call(rt, "core::mul", in, 2, NULL, 0, &p, 1));
        strata_tensor *sum_in[2] = {p, x};
        ST_OK(strata_op_call(rt, "core::add", sum_in, 2, NULL, 0, &q, 1));
        ST_OK(strata_op_call(rt, "core::sum", &q, 1, NULL, 0, &l, 1));
        if (pass == 0) {
            ST_OK(strata_tensor_write(w, w2, sizeof w2));
            assert_int_equal(strata_backward(g, l), STRATA_E_STATE);
            tu_assert_error_contains("backward of core::mul: its input 1 (f32 (4)) was modified in place");
            tu_assert_error_contains("(version 2, saved at 1)"); /* from_host wrote it once */
            assert_null(strata_tensor_grad(x));                   /* checked before any backward ran */
        } else { /* a new forward saves the new values */
            ST_OK(strata_backward(g, l));
            float gx[4];
            ST_OK(strata_tensor_read(strata_tensor_grad(x), gx, sizeof gx));
            for (int k = 0; k < 4; k++)
                assert_float_equal(gx[k], w2[k] + 1, 0);
            strata_tensor_zero_grad(x);
        }
        strata_graph_reset(g);
        strata_tensor_release(l);
        strata_tensor_release(q);
        strata_tensor_release(p);
    }

    /* a view of w saved, then an op writes w in place through a provided output */
    strata_tensor *v = NULL;
    strata_attr shape = strata_attr_ints("shape", (const int64_t[]){2, 2}, 2);
    ST_OK(strata_op_call(rt, "core::reshape", &w, 1, &shape, 1, &v, 1));
    strata_tensor *x2 = NULL;
    ST_OK(strata_op_call(rt, "core::reshape", &x, 1, &shape, 1, &x2, 1));
    strata_tensor *in2[2] = {x2, v};
    ST_OK(strata_op_call(rt, "core::mul", in2, 2, NULL, 0, &p, 1));
    ST_OK(strata_op_call(rt, "core::sum", &p, 1, NULL, 0, &l, 1));
    strata_tensor *add_in[2] = {w, w}, *add_out[1] = {w};
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::add", .inputs = add_in, .n_inputs = 2,
                                .outputs = add_out, .n_outputs = 1, .flags = STRATA_INVOKE_OUTPUTS_PROVIDED};
    ST_OK(strata_op_invoke(rt, &inv));
    expect_refused(g, l, x, "backward of core::mul: its input 1 (f32 (2, 2)) was modified in place");
    strata_tensor_release(p);
    strata_tensor_release(x2);
    strata_tensor_release(v);

    /* an output: exp's backward reads y = exp(x); sum's reads no value, so only exp's node objects */
    strata_tensor *y = NULL;
    ST_OK(strata_op_call(rt, "core::exp", &x, 1, NULL, 0, &y, 1));
    ST_OK(strata_op_call(rt, "core::sum", &y, 1, NULL, 0, &l, 1));
    ST_OK(strata_tensor_write(y, w2, sizeof w2));
    expect_refused(g, l, x, "backward of core::exp: its output 0 (f32 (4)) was modified in place");
    strata_tensor_release(y);

    /* an in-place op that fails after writing (anomaly detection on a NaN step) counts as a write */
    strata_tensor *gn = NULL, *buf = NULL;
    const float nan_grad[4] = {NAN, 0, 0, 0}, zero[4] = {0, 0, 0, 0};
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, nan_grad, &gn));
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, zero, &buf));
    ST_OK(strata_op_call(rt, "core::mul", in, 2, NULL, 0, &p, 1));
    ST_OK(strata_op_call(rt, "core::sum", &p, 1, NULL, 0, &l, 1));
    strata_attr sa[2] = {strata_attr_float("lr", 0.5), strata_attr_int("first", 1)};
    strata_tensor *si[3] = {w, gn, buf}, *so[2] = {w, buf};
    strata_op_invocation step = {.struct_size = sizeof step, .op = "core::sgd_step", .inputs = si, .n_inputs = 3,
                                 .outputs = so, .n_outputs = 2, .attrs = sa, .n_attrs = 2,
                                 .flags = STRATA_INVOKE_OUTPUTS_PROVIDED};
    strata_set_detect_anomaly(rt, 1);
    assert_int_equal(strata_op_invoke(rt, &step), STRATA_E_NUMERIC);
    strata_set_detect_anomaly(rt, 0);
    expect_refused(g, l, x, "backward of core::mul: its input 1");
    strata_tensor_release(p);
    strata_tensor_release(buf);
    strata_tensor_release(gn);

    /* bit 31 of a mask covers the inputs after it: concat of 40, input 35 written, reads only shapes */
    strata_tensor *parts[40];
    for (int k = 0; k < 40; k++)
        parts[k] = k == 0 ? x : w;
    strata_attr axis = strata_attr_int("axis", 0);
    ST_OK(strata_op_call(rt, "core::concat", parts, 40, &axis, 1, &p, 1));
    ST_OK(strata_op_call(rt, "core::sum", &p, 1, NULL, 0, &l, 1));
    ST_OK(strata_tensor_write(w, w2, sizeof w2));
    ST_OK(strata_backward(g, l));
    strata_tensor_zero_grad(x);

    /* the same loss with another runtime's graph computed nothing, silently */
    strata_runtime *other = tu_runtime();
    assert_int_equal(strata_backward(strata_runtime_graph(other), l), STRATA_E_INVALID);
    tu_assert_error_contains("not recorded on this graph");
    strata_runtime_destroy(other);
    strata_graph_reset(g);
    strata_tensor_release(p);
    strata_tensor_release(l);

    strata_tensor_release(w);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

static void test_null_arrays(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_tensor *t = NULL;
    assert_int_equal(strata_tensor_zeros(dev, STRATA_F32, 2, NULL, &t), STRATA_E_INVALID);
    assert_int_equal(strata_tensor_from_host(dev, STRATA_F32, 1, NULL, (float[1]){0}, &t), STRATA_E_INVALID);
    assert_null(t);
    /* NULL data for a tensor with elements was refused as "strata_tensor_write: NULL argument" */
    assert_int_equal(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){2}, NULL, &t), STRATA_E_INVALID);
    tu_assert_error_contains("strata_tensor_from_host: NULL data for 8 bytes");
    assert_null(t);
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){0}, NULL, &t)); /* no elements, no data */
    strata_tensor_release(t);
    /* item: a NULL output crashed, a NULL tensor was E_SHAPE ("0 elements") */
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 0, NULL, (float[1]){2}, &t));
    double v = 0;
    assert_int_equal(strata_tensor_item(t, NULL), STRATA_E_INVALID);
    assert_int_equal(strata_tensor_item(NULL, &v), STRATA_E_INVALID);
    tu_assert_error_contains("strata_tensor_item: NULL");
    ST_OK(strata_tensor_item(t, &v));
    assert_true(v == 2.0);
    strata_tensor_release(t);
    t = NULL;
    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    assert_int_equal(strata_model_add_input(m, "y", STRATA_F32, 2, NULL), STRATA_E_INVALID);
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (const int64_t[]){3}));
    assert_int_equal(strata_model_add_layer(m, "relu", NULL, NULL, 0, NULL, 1), STRATA_E_INVALID);
    assert_int_equal(strata_model_add_layer(m, "relu", NULL, NULL, 1, NULL, 0), STRATA_E_INVALID);
    add_linear(m, "fc", NULL);
    strata_tensor *in[1] = {NULL}, *out = NULL;
    assert_int_equal(strata_model_forward(m, in, 1, &out, 1, 0), STRATA_E_INVALID);
    tu_assert_error_contains("model input 0 ('x') is NULL");
    strata_optimizer *o = NULL;
    assert_int_equal(strata_optimizer_create(m, "sgd", NULL, 2, &o), STRATA_E_INVALID);
    assert_null(o);
    strata_model_destroy(m);
    strata_runtime_destroy(rt);
}

/* A review's crashes of 2026-12-07: attributes with a NULL name or a NULL list array (ops and layers), a NULL
 * input name, an optimizer used after its model was destroyed, a negative max_norm (it flipped every
 * gradient), NULL handles of accessors without a result to fail with. */
static void test_bad_attrs_and_lifetimes(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_tensor *x = NULL, *y = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 1, (const int64_t[]){4}, (float[4]){1, 2, 3, 4}, &x));
    strata_attr a = strata_attr_float(NULL, 0.5);
    assert_int_equal(strata_op_call(rt, "core::leaky_relu", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::leaky_relu: attribute 0 has a NULL name");
    a = strata_attr_ints("shape", NULL, 2);
    assert_int_equal(strata_op_call(rt, "core::reshape", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::reshape: attribute 'shape' is a list of integers of 2 element(s) with a NULL");
    a = strata_attr_string("reduction", NULL);
    assert_int_equal(strata_op_call(rt, "core::sum", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("attribute 'reduction' is a NULL string");
    a = strata_attr_int("value", 1);
    a.kind = 9;
    assert_int_equal(strata_op_create(dev, "core::fill", &a, 1, &y), STRATA_E_INVALID);
    tu_assert_error_contains("attribute 'value' has unknown kind 9");
    assert_null(y);

    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (const int64_t[]){4}));
    a = strata_attr_int(NULL, 3);
    assert_int_equal(strata_model_add_layer(m, "linear", NULL, &a, 1, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("layer '0' (linear): attribute 0 has a NULL name");
    const char *no_name[1] = {NULL};
    assert_int_equal(strata_model_add_layer(m, "relu", NULL, NULL, 0, no_name, 1), STRATA_E_INVALID);
    tu_assert_error_contains("layer '0' (relu): input 0 is a NULL name");
    /* flatten over the batch (PyTorch's nn.Flatten(0, -1)) says why; a range past the rank names it */
    strata_attr fa[2] = {strata_attr_int("start_dim", 0), strata_attr_int("end_dim", -1)};
    assert_int_equal(strata_model_add_layer(m, "flatten", "fl", fa, 2, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("layer 'fl' (flatten): start_dim 0 is the batch dimension, which every layer's output "
                             "keeps first");
    fa[0] = strata_attr_int("start_dim", 3);
    assert_int_equal(strata_model_add_layer(m, "flatten", "fl", fa, 1, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("start_dim 3 and end_dim -1 select no dims of an input of rank 2 with the batch");
    add_linear(m, "fc", NULL);
    strata_tensor *out = NULL, *xb = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_F32, 2, (const int64_t[]){1, 4}, (float[4]){1, 2, 3, 4}, &xb));
    ST_OK(strata_model_forward(m, &xb, 1, &out, 1, 1));
    strata_tensor_release(xb);
    strata_tensor *loss = NULL;
    ST_OK(strata_op_call(rt, "core::sum", &out, 1, NULL, 0, &loss, 1));
    ST_OK(strata_backward(strata_runtime_graph(rt), loss));
    for (double bad = -1.0;; bad = NAN) {
        assert_int_equal(strata_clip_grad_norm(m, bad, NULL), STRATA_E_INVALID);
        tu_assert_error_contains("max_norm must be a positive finite number");
        if (isnan(bad))
            break;
    }
    strata_optimizer *o = NULL, *o2 = NULL;
    ST_OK(strata_optimizer_create(m, "sgd", NULL, 0, &o));
    ST_OK(strata_optimizer_create(m, "adam", NULL, 0, &o2));
    strata_optimizer_destroy(o2); /* one destroyed before the model: the model forgets it */
    strata_tensor_release(loss);
    strata_tensor_release(out);
    strata_model_destroy(m);
    assert_int_equal(strata_optimizer_step(o), STRATA_E_STATE);
    tu_assert_error_contains("optimizer 'sgd': its model was destroyed");
    strata_optimizer_destroy(o);

    /* argument ranges torch checks too: U(5, 1), N(0, -1); an invocation's version and flags */
    strata_attr ua[3] = {strata_attr_ints("shape", (const int64_t[]){3}, 1), strata_attr_float("low", 5),
                         strata_attr_float("high", 1)};
    assert_int_equal(strata_op_create(dev, "core::uniform", ua, 3, &y), STRATA_E_INVALID);
    tu_assert_error_contains("core::uniform: low must be at most high, both finite; got low 5, high 1");
    ua[1] = strata_attr_float("mean", 0);
    ua[2] = strata_attr_float("std", -1);
    assert_int_equal(strata_op_create(dev, "core::normal", ua, 3, &y), STRATA_E_INVALID);
    tu_assert_error_contains("core::normal: std must be >= 0");
    strata_tensor *one[1] = {x};
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::neg", .version = -1, .inputs = one,
                                .n_inputs = 1, .outputs = &y, .n_outputs = 1};
    assert_int_equal(strata_op_invoke(rt, &inv), STRATA_E_INVALID);
    tu_assert_error_contains("core::neg: version must be 0 (the newest) or more, got -1");
    inv.version = 0;
    inv.flags = 0xff00;
    assert_int_equal(strata_op_invoke(rt, &inv), STRATA_E_INVALID);
    tu_assert_error_contains("core::neg: unknown flags 0xff00");
    assert_null(y);
    /* a NaN input of a data set built from host arrays (the loaders refuse it) */
    strata_dataset *ds = NULL;
    assert_int_equal(strata_dataset_from_host(2, 1, (const int64_t[]){2}, (const float[]){0, 1, NAN, 3},
                                              (const int64_t[]){0, 1}, &ds),
                     STRATA_E_INVALID);
    tu_assert_error_contains("value 2 of x (example 1) is NaN");
    assert_null(ds);

    /* core ops check their attributes: a typo or a kind the op cannot read gave its default or 0 */
    a = strata_attr_string("exponent", "2");
    assert_int_equal(strata_op_call(rt, "core::pow", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::pow: attribute 'exponent' must be a number, got a string");
    a = strata_attr_int("axis", 0);
    assert_int_equal(strata_op_call(rt, "core::sum", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::sum: unknown attribute 'axis' (it takes: axes, keepdim)");
    a = strata_attr_float("alhpa", 2.0);
    assert_int_equal(strata_op_call(rt, "core::scale", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::scale: unknown attribute 'alhpa' (it takes: alpha, beta)");
    a = strata_attr_float("alpha", 0.5);
    assert_int_equal(strata_op_call(rt, "core::relu", &x, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::relu: unknown attribute 'alpha' (it takes none)");
    a = strata_attr_float("num_classes", 2.5);
    strata_tensor *idx = NULL;
    ST_OK(strata_tensor_from_host(dev, STRATA_I64, 1, (const int64_t[]){2}, (const int64_t[]){0, 1}, &idx));
    assert_int_equal(strata_op_call(rt, "core::one_hot", &idx, 1, &a, 1, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::one_hot: attribute 'num_classes' must be an integer, got 2.5");
    strata_attr twice[2] = {strata_attr_float("alpha", 2.0), strata_attr_float("alpha", 3.0)};
    assert_int_equal(strata_op_call(rt, "core::scale", &x, 1, twice, 2, &y, 1), STRATA_E_INVALID);
    tu_assert_error_contains("core::scale: attribute 'alpha' is given twice");
    assert_null(y);
    /* what they take still works: a whole number for an integer, an integer for a number, one axis as an int */
    a = strata_attr_float("num_classes", 3.0);
    ST_OK(strata_op_call(rt, "core::one_hot", &idx, 1, &a, 1, &y, 1));
    strata_tensor_release(y);
    a = strata_attr_int("alpha", 2);
    ST_OK(strata_op_call(rt, "core::scale", &x, 1, &a, 1, &y, 1));
    strata_tensor_release(y);
    a = strata_attr_int("axes", 0);
    ST_OK(strata_op_call(rt, "core::sum", &x, 1, &a, 1, &y, 1));
    strata_tensor_release(y);
    y = NULL;
    strata_tensor_release(idx);

    /* a device name that is not one: said so, not "backend 'ref:-1' is not loaded (available: ..., ref)" */
    strata_device *nodev = NULL;
    assert_int_equal(strata_device_get(rt, "ref:-1", 0, &nodev), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("'ref:-1' is not a device: a backend's devices are NAME:N");
    setenv("STRATA_BACKEND", "refx", 1);
    assert_int_equal(strata_device_get(rt, NULL, 0, &nodev), STRATA_E_NOT_FOUND);
    unsetenv("STRATA_BACKEND");
    tu_assert_error_contains("backend 'refx' (from STRATA_BACKEND) is not loaded; did you mean 'ref'?");
    assert_int_equal(strata_device_get(rt, "REF", 0, &nodev), STRATA_E_NOT_FOUND); /* another case */
    tu_assert_error_contains("backend 'REF' is not loaded; did you mean 'ref'?");
    assert_int_equal(strata_device_get(rt, "zzzzzz", 0, &nodev), STRATA_E_NOT_FOUND); /* no likely name: no hint */
    tu_assert_error_contains("backend 'zzzzzz' is not loaded (available: ");

    /* accessors of a NULL handle: a safe value, not a crash */
    assert_int_equal((int)strata_tensor_dtype(NULL), 0);
    assert_int_equal(strata_tensor_is_contiguous(NULL), 0);
    assert_int_equal(strata_grad_enabled(NULL), 0);
    assert_int_equal(strata_set_grad_enabled(NULL, 1), 0);
    strata_runtime_set_rng_state(NULL, 1, 2);
    uint64_t seed = 7, off = 7;
    strata_runtime_rng_state(NULL, &seed, &off);
    assert_true(seed == 0 && off == 0);
    strata_tensor_release(x);
    strata_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_overflow),
        cmocka_unit_test(test_checkpoint_optimizer_of_another_model),
        cmocka_unit_test(test_checkpoint_refuses_part_of_a_layer),
        cmocka_unit_test(test_checkpoint_restores_fresh_slots),
        cmocka_unit_test(test_checkpoint_loads_other_float_dtypes),
        cmocka_unit_test(test_checkpoint_loads_every_half),
        cmocka_unit_test(test_checkpoint_convert),
        cmocka_unit_test(test_reserved_metadata),
        cmocka_unit_test(test_checkpoint_bad_optimizer_metadata),
        cmocka_unit_test(test_host_block_cache),
        cmocka_unit_test(test_backward_after_reset),
        cmocka_unit_test(test_null_arrays),
        cmocka_unit_test(test_bad_attrs_and_lifetimes),
        cmocka_unit_test(test_saved_tensor_modified),
        cmocka_unit_test(test_provided_outputs_and_device_index),
        cmocka_unit_test(test_tensor_of_another_runtime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
