/* test_summary.c - `strata summary SPEC` end to end, on the specs in
 * models/ (none of their data is read).
 *
 * Every layer's parameter count is checked against the formula of its
 * type (linear: in * out + out; conv2d: OC * C * KH * KW + OC; an LSTM's
 * four gates per layer; BatchNorm's 2C and its 2C + 1 buffers), the output
 * shapes against the specs' comments, the totals against what `strata
 * train` prints (the DCGAN's generator 778305 and discriminator 138817
 * parameters) and the activation estimate against the sum of the layer
 * outputs. The text and the --json form must say the same: each JSON
 * layer's row is looked up in the text. --set and --batch-size change what
 * they should; a missing spec, a bad layer, a bad option are errors with
 * the right exit status (1; 2 for usage) and a message naming the problem. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"
#include "tu_json.h"

static char dir[256];
static char models[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    snprintf(models, sizeof models, "%s", tu_source_path("models"));
    return tu_make_temp_dir(dir, sizeof dir, "summary");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* @p v with thousands separators, as the text prints counts. */
static const char *commas(char *buf, size_t size, long long v)
{
    char d[32];
    int n = snprintf(d, sizeof d, "%lld", v), k = 0;
    for (int i = 0; i < n && k + 2 < (int)size; i++) {
        buf[k++] = d[i];
        if (i < n - 1 && (n - 1 - i) % 3 == 0)
            buf[k++] = ',';
    }
    buf[k] = '\0';
    return buf;
}

/* `strata summary SPEC ARGS` (text), squeezed; the test fails unless it exits 0. */
static char *run_text(const char *spec, const char *args)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "summary '%s' %s", spec, args));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char *sq = tu_squeeze(out);
    free(out);
    return sq;
}

/* `strata summary SPEC ARGS --json`: the object (json_decref it). */
static json_t *run_json(const char *spec, const char *args)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "summary '%s' %s --json", spec, args));
    return tu_out_json(dir, spec);
}

static const char *spec_path(const char *name)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", models, name);
    return path;
}

static const json_t *model_of(const json_t *j, size_t k)
{
    const json_t *ms = json_object_get(j, "models");
    assert_true(json_is_array(ms));
    const json_t *m = json_array_get(ms, k);
    assert_non_null(m);
    return m;
}

static const json_t *layer_of(const json_t *m, size_t i)
{
    const json_t *l = json_array_get(json_object_get(m, "layers"), i);
    assert_non_null(l);
    assert_int_equal(tu_jint(l, "index"), (long long)i);
    return l;
}

static void expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' is not in the summary:\n%s", needle, text);
}

/* Layer @p i of @p m: its type, output shape and parameters (and buffers when >= 0). */
static void expect_layer(const json_t *m, size_t i, const char *type, const char *shape, long long params,
                         long long buffers)
{
    const json_t *l = layer_of(m, i);
    char buf[128];
    assert_string_equal(json_string_value(json_object_get(l, "type")), type);
    assert_string_equal(tu_jshape(buf, sizeof buf, json_object_get(l, "output_shape")), shape);
    if (tu_jint(l, "params") != params)
        fail_msg("layer %zu (%s): %lld parameters, expected %lld", i, type, tu_jint(l, "params"), params);
    if (buffers >= 0 && tu_jint(l, "buffers") != buffers)
        fail_msg("layer %zu (%s): %lld buffer values, expected %lld", i, type, tu_jint(l, "buffers"), buffers);
}

/* The text says what the JSON says: every layer's row, the totals, the
 * inputs and outputs; the layers' parameters add up to the total. */
static void expect_agree(const char *text, const json_t *j)
{
    const json_t *ms = json_object_get(j, "models");
    for (size_t k = 0; k < json_array_size(ms); k++) {
        const json_t *m = json_array_get(ms, k);
        const json_t *layers = json_object_get(m, "layers");
        const int has_buffers = tu_jint(m, "buffer_tensors") > 0;
        long long sum = tu_jint(m, "other_params"), bsum = tu_jint(m, "other_buffers"), act = 0;
        char row[512], shape[128], p[32], b[32], header[PATH_MAX + 128];
        snprintf(header, sizeof header, "\n%s: %s on %s\n", json_string_value(json_object_get(j, "spec")),
                 json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(j, "device")));
        expect_in(text, header);
        for (size_t i = 0; i < json_array_size(layers); i++) {
            const json_t *l = json_array_get(layers, i);
            const json_t *os = json_object_get(l, "output_shape");
            snprintf(row, sizeof row, "\n%zu %s %s %s %s%s%s\n", i, json_string_value(json_object_get(l, "name")),
                     json_string_value(json_object_get(l, "type")), tu_jshape(shape, sizeof shape, os),
                     commas(p, sizeof p, tu_jint(l, "params")), has_buffers ? " " : "",
                     has_buffers ? commas(b, sizeof b, tu_jint(l, "buffers")) : "");
            expect_in(text, row);
            sum += tu_jint(l, "params");
            bsum += tu_jint(l, "buffers");
            long long n = 1;
            for (size_t d = 0; d < json_array_size(os); d++)
                n *= (long long)json_integer_value(json_array_get(os, d));
            act += n;
        }
        assert_int_equal(sum, tu_jint(m, "params"));
        assert_int_equal(bsum, tu_jint(m, "buffers"));
        /* f32 outputs here: 4 bytes per element, for each example of the batch */
        assert_int_equal(tu_jint(m, "activation_bytes"), act * 4 * tu_jint(m, "batch"));
        snprintf(row, sizeof row, "\ntotal: %s parameters in %lld tensors (", commas(p, sizeof p, tu_jint(m, "params")),
                 tu_jint(m, "param_tensors"));
        expect_in(text, row);
        snprintf(row, sizeof row, "for a batch of %s (", commas(p, sizeof p, tu_jint(m, "batch")));
        expect_in(text, row);
        const json_t *in;
        size_t i;
        json_array_foreach(json_object_get(m, "inputs"), i, in)
        {
            snprintf(row, sizeof row, "\ninput %s: %s %s\n", json_string_value(json_object_get(in, "name")),
                     tu_jshape(shape, sizeof shape, json_object_get(in, "shape")),
                     json_string_value(json_object_get(in, "dtype")));
            expect_in(text, row);
        }
        json_array_foreach(json_object_get(m, "outputs"), i, in)
        {
            snprintf(row, sizeof row, "\noutput %s: %s\n", json_string_value(json_object_get(in, "name")),
                     tu_jshape(shape, sizeof shape, json_object_get(in, "shape")));
            expect_in(text, row);
        }
    }
}

static void test_mlp(void **state)
{
    (void)state;
    const char *spec = spec_path("mlp-fashion.yaml");
    json_t *j = run_json(spec, "");
    char *text = run_text(spec, "");
    assert_string_equal(json_string_value(json_object_get(j, "spec")), spec);
    const json_t *m = model_of(j, 0);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "model");
    assert_int_equal(json_array_size(json_object_get(j, "models")), 1);
    expect_layer(m, 0, "flatten", "[784]", 0, 0);
    expect_layer(m, 1, "linear", "[512]", 784 * 512 + 512, 0);
    expect_layer(m, 2, "relu", "[512]", 0, 0);
    expect_layer(m, 3, "linear", "[512]", 512 * 512 + 512, 0);
    expect_layer(m, 4, "relu", "[512]", 0, 0);
    expect_layer(m, 5, "linear", "[10]", 512 * 10 + 10, 0);
    assert_int_equal(tu_jint(m, "params"), 669706);
    assert_int_equal(tu_jint(m, "param_tensors"), 6);
    assert_int_equal(tu_jint(m, "param_bytes"), 669706 * 4);
    assert_int_equal(tu_jint(m, "buffers"), 0);
    assert_int_equal(tu_jint(m, "batch"), 128); /* the spec's train.batch_size */
    assert_int_equal(tu_jint(m, "activation_bytes"), (784 + 4 * 512 + 10) * 4LL * 128);
    assert_string_equal(json_string_value(json_object_get(m, "optimizer")), "sgd");
    assert_true(json_is_null(json_object_get(j, "note")));
    expect_in(text, "\n1 1 linear [512] 401,920\n");
    expect_in(text, "\n3 3 linear [512] 262,656\n");
    expect_in(text, "\ninput x: [1, 28, 28] f32\n");
    expect_in(text, "\noutput 5: [10]\n");
    expect_in(text, "\ntotal: 669,706 parameters in 6 tensors (2.6 MiB f32); optimizer sgd\n");
    assert_null(strstr(text, "buffers")); /* no column, no line without buffers */
    assert_null(strstr(text, "note:"));
    expect_agree(text, j);
    free(text);
    json_decref(j);

    /* --set resizes the layer and the next one; --batch-size the estimate */
    j = run_json(spec, "--set model.layers.1.out_features=256 --batch-size 10");
    text = run_text(spec, "--set model.layers.1.out_features=256 --batch-size 10");
    m = model_of(j, 0);
    expect_layer(m, 1, "linear", "[256]", 784 * 256 + 256, 0);
    expect_layer(m, 3, "linear", "[512]", 256 * 512 + 512, 0);
    expect_layer(m, 5, "linear", "[10]", 512 * 10 + 10, 0);
    assert_int_equal(tu_jint(m, "params"), 200960 + 131584 + 5130);
    assert_int_equal(tu_jint(m, "batch"), 10);
    assert_int_equal(tu_jint(m, "activation_bytes"), (784 + 256 + 256 + 512 + 512 + 10) * 4LL * 10);
    expect_in(text, "\n1 1 linear [256] 200,960\n");
    expect_in(text, "\ntotal: 337,674 parameters in 6 tensors");
    expect_in(text, "for a batch of 10 (");
    expect_agree(text, j);
    free(text);
    json_decref(j);
}

static void test_lenet(void **state)
{
    (void)state;
    const char *spec = spec_path("lenet-fashion.yaml");
    json_t *j = run_json(spec, "");
    char *text = run_text(spec, "");
    const json_t *m = model_of(j, 0);
    expect_layer(m, 0, "conv2d", "[6, 28, 28]", 6 * 1 * 5 * 5 + 6, 0);
    expect_layer(m, 1, "relu", "[6, 28, 28]", 0, 0);
    expect_layer(m, 2, "max_pool2d", "[6, 14, 14]", 0, 0);
    expect_layer(m, 3, "conv2d", "[16, 10, 10]", 16 * 6 * 5 * 5 + 16, 0);
    expect_layer(m, 5, "max_pool2d", "[16, 5, 5]", 0, 0);
    expect_layer(m, 6, "flatten", "[400]", 0, 0);
    expect_layer(m, 7, "linear", "[120]", 400 * 120 + 120, 0);
    expect_layer(m, 9, "linear", "[84]", 120 * 84 + 84, 0);
    expect_layer(m, 11, "linear", "[10]", 84 * 10 + 10, 0);
    assert_int_equal(json_array_size(json_object_get(m, "layers")), 12);
    assert_int_equal(tu_jint(m, "params"), 61706);
    assert_int_equal(tu_jint(m, "batch"), 64);
    assert_string_equal(json_string_value(json_object_get(m, "optimizer")), "adam");
    expect_in(text, "\n0 0 conv2d [6, 28, 28] 156\n");
    expect_in(text, "\n3 3 conv2d [16, 10, 10] 2,416\n");
    expect_in(text, "\n7 7 linear [120] 48,120\n");
    expect_in(text, "\ntotal: 61,706 parameters in 10 tensors (241.0 KiB f32); optimizer adam\n");
    expect_agree(text, j);
    free(text);
    json_decref(j);
}

/* BatchNorm: weight and bias (2C) trained; running_mean, running_var (C
 * each) and num_batches_tracked (one i64) buffers. */
static void test_batchnorm_buffers(void **state)
{
    (void)state;
    const char *spec = spec_path("cnn-bn-fashion.yaml");
    json_t *j = run_json(spec, "");
    char *text = run_text(spec, "");
    const json_t *m = model_of(j, 0);
    expect_layer(m, 0, "conv2d", "[32, 28, 28]", 32 * 1 * 3 * 3, 0); /* bias: 0 */
    expect_layer(m, 1, "batch_norm2d", "[32, 28, 28]", 2 * 32, 2 * 32 + 1);
    expect_layer(m, 2, "relu", "[32, 28, 28]", 0, 0);
    expect_layer(m, 9, "batch_norm2d", "[64, 14, 14]", 2 * 64, 2 * 64 + 1);
    expect_layer(m, 16, "flatten", "[3136]", 0, 0);
    expect_layer(m, 17, "linear", "[256]", 3136 * 256, 0);
    expect_layer(m, 18, "batch_norm1d", "[256]", 2 * 256, 2 * 256 + 1);
    const long long buffers = 2 * (2 * 32 + 1) + 2 * (2 * 64 + 1) + (2 * 256 + 1);
    assert_int_equal(tu_jint(m, "buffers"), buffers);
    assert_int_equal(tu_jint(m, "buffer_tensors"), 5 * 3);
    assert_int_equal(tu_jint(m, "buffer_bytes"), (buffers - 5) * 4 + 5 * 8);
    assert_int_equal(tu_jint(m, "other_buffers"), 0);
    expect_in(text, "\n# name type output shape params buffers\n");
    expect_in(text, "\n1 1 batch_norm2d [32, 28, 28] 64 65\n");
    expect_in(text, "\n18 18 batch_norm1d [256] 512 513\n");
    expect_in(text, "901 values in 15 tensors");
    expect_agree(text, j);
    free(text);
    json_decref(j);
}

/* Both models of a GAN, with the totals `strata train` prints for them. */
static void test_gan(void **state)
{
    (void)state;
    const char *spec = spec_path("dcgan-fashion.yaml");
    json_t *j = run_json(spec, "");
    char *text = run_text(spec, "");
    assert_int_equal(json_array_size(json_object_get(j, "models")), 2);
    const json_t *g = model_of(j, 0), *d = model_of(j, 1);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "generator");
    assert_string_equal(json_string_value(json_object_get(d, "name")), "discriminator");
    assert_int_equal(tu_jint(g, "params"), 778305);
    assert_int_equal(tu_jint(d, "params"), 138817);
    expect_layer(g, 0, "linear", "[6272]", 100 * 6272 + 6272, 0);
    expect_layer(g, 1, "batch_norm1d", "[6272]", 2 * 6272, 2 * 6272 + 1);
    expect_layer(g, 3, "unflatten", "[128, 7, 7]", 0, 0);
    expect_layer(g, 4, "conv_transpose2d", "[64, 14, 14]", 128 * 64 * 4 * 4 + 64, 0);
    expect_layer(g, 7, "conv_transpose2d", "[1, 28, 28]", 64 * 1 * 4 * 4 + 1, 0);
    expect_layer(d, 0, "conv2d", "[64, 14, 14]", 64 * 1 * 4 * 4 + 64, 0);
    expect_layer(d, 2, "conv2d", "[128, 7, 7]", 128 * 64 * 4 * 4 + 128, 0);
    expect_layer(d, 6, "linear", "[1]", 6272 + 1, 0);
    assert_string_equal(json_string_value(json_object_get(g, "optimizer")), "adam");
    assert_string_equal(json_string_value(json_object_get(d, "optimizer")), "adam");
    const char *gt = strstr(text, ": generator on "), *dt = strstr(text, ": discriminator on ");
    assert_non_null(gt);
    assert_non_null(dt);
    assert_true(gt < dt);
    expect_in(gt, "\ntotal: 778,305 parameters");
    expect_in(dt, "\ntotal: 138,817 parameters");
    expect_in(gt, "\ninput x: [100] f32\n");
    expect_in(dt, "\noutput 6: [1]\n");
    expect_agree(text, j);
    free(text);
    json_decref(j);
}

/* Three inputs (tokens i64, two f32 states), three outputs, and no corpus:
 * the spec is copied where its data.path (../data/kjv.txt) is not. */
static void test_language_model(void **state)
{
    (void)state;
    char *src = tu_slurp(models, "char-lstm-kjv.yaml");
    assert_non_null(src);
    tu_write_text(dir, "lm.yaml", src);
    free(src);
    char spec[PATH_MAX];
    snprintf(spec, sizeof spec, "%s/lm.yaml", dir);
    json_t *j = run_json(spec, "");
    char *text = run_text(spec, "");
    const json_t *m = model_of(j, 0);
    const json_t *in = json_object_get(m, "inputs");
    assert_int_equal(json_array_size(in), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "name")), "tokens");
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "dtype")), "i64");
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 2), "name")), "c0");
    expect_layer(m, 0, "embedding", "[64, 64]", 63 * 64, 0);
    /* per layer: 4 gates of (in + hidden) x hidden weights and two biases */
    expect_layer(m, 1, "lstm", "[64, 256]", 4 * 256 * (64 + 256) + 2 * 4 * 256 + 4 * 256 * (256 + 256) + 2 * 4 * 256,
                 0);
    expect_layer(m, 2, "linear", "[64, 63]", 256 * 63 + 63, 0);
    const json_t *out = json_object_get(m, "outputs");
    assert_int_equal(json_array_size(out), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(out, 1), "name")), "l:1");
    assert_int_equal(tu_jint(m, "other_params"), 0);
    expect_in(json_string_value(json_object_get(j, "note")), "data.format text");
    expect_in(text, "\ninput tokens: [64] i64\n");
    expect_in(text, "\noutput l:2: [2, 256]\n");
    expect_in(text, "\nnote: data.format text: ");
    expect_agree(text, j);
    free(text);
    json_decref(j);
}

/* A memory network sized from bAbI data: summarised as written, with a
 * note; --set gives it a vocabulary. */
static void test_memnet(void **state)
{
    (void)state;
    const char *spec = spec_path("memn2n-babi.yaml");
    json_t *j = run_json(spec, "");
    json_t *j40 = run_json(spec, "--set model.layers.0.vocab_size=40");
    char *text = run_text(spec, "");
    const json_t *m = model_of(j, 0), *m40 = model_of(j40, 0);
    expect_in(json_string_value(json_object_get(j, "note")), "data.format babi");
    expect_in(text, "\nnote: data.format babi: layer mn's vocab_size");
    expect_layer(m40, 0, "memn2n", "[40]", tu_jint(m40, "params"), -1);
    /* adjacent tying over 3 hops: 4 embedding matrices of vocab x 20 */
    assert_int_equal(tu_jint(m40, "params") - tu_jint(m, "params"), 39 * 20 * 4);
    expect_agree(text, j);
    free(text);
    json_decref(j);
    json_decref(j40);
}

static void test_errors(void **state)
{
    (void)state;
    char path[2 * PATH_MAX];
    /* a missing spec: its name */
    tu_expect_cli_err(dir, tu_run_cli(dir, "summary nope.yaml"), 1, "nope.yaml");
    /* a layer that cannot be built: the file, what failed and the key */
    tu_write_text(dir, "bad.yaml", "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 0}\n");
    snprintf(path, sizeof path, "summary %s/bad.yaml", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "bad.yaml: building the model");
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "out_features");
    snprintf(path, sizeof path, "summary %s/bad.yaml --json", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "building the model");
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    assert_string_equal(out, ""); /* nothing half-printed */
    free(out);
    /* optimizer settings train refuses: refused here too (they passed), as is a GAN model's */
    tu_write_text(dir, "opt.yaml", "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 2}\n"
                                   "optimizer: {type: adam, beta1: 1.0}\n");
    snprintf(path, sizeof path, "summary %s/opt.yaml", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "opt.yaml: creating the model's optimizer: E_INVALID: ");
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "beta1 must be in [0, 1), got 1");
    tu_write_text(dir, "gopt.yaml", "task: gan\n"
                                    "generator: {model: {input: [4], layers: [{type: linear, out_features: 6}]},\n"
                                    "  optimizer: {type: sgd, nesterov: true}}\n"
                                    "discriminator: {model: {input: [6], layers: [{type: linear, out_features: 1}]}}\n");
    snprintf(path, sizeof path, "summary %s/gopt.yaml", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "gopt.yaml: creating the generator's optimizer");
    /* ... and a spec without one is a model to look at (it was refused for lack of an optimizer section) */
    tu_write_text(dir, "noopt.yaml", "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 2}\n");
    snprintf(path, sizeof path, "summary %s/noopt.yaml", dir);
    tu_expect_cli_ok(dir, tu_run_cli(dir, path));
    /* a layer whose shape does not fit its input */
    tu_write_text(dir, "shape.yaml",
                  "model:\n  input: [1, 4, 4]\n  layers:\n    - {type: conv2d, out_channels: 2, kernel_size: 9}\n");
    snprintf(path, sizeof path, "summary %s/shape.yaml", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "shape.yaml");
    /* an unknown layer type */
    tu_write_text(dir, "type.yaml", "model:\n  input: [4]\n  layers:\n    - {type: linearr, out_features: 3}\n");
    snprintf(path, sizeof path, "summary %s/type.yaml", dir);
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "unknown layer type 'linearr'");
    /* --set to a bad value */
    snprintf(path, sizeof path, "summary %s --set model.layers.1.out_features=0", spec_path("mlp-fashion.yaml"));
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 1, "out_features");
    /* usage errors: exit 2 */
    snprintf(path, sizeof path, "summary %s --bogus", spec_path("mlp-fashion.yaml"));
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 2, "unknown option '--bogus'");
    tu_expect_cli_err(dir, tu_run_cli(dir, "summary"), 2, "summary needs SPEC");
    snprintf(path, sizeof path, "summary %s --batch-size 0", spec_path("mlp-fashion.yaml"));
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 2, "--batch-size");
    snprintf(path, sizeof path, "summary %s extra.yaml", spec_path("mlp-fashion.yaml"));
    tu_expect_cli_err(dir, tu_run_cli(dir, path), 2, "unexpected argument 'extra.yaml'");
    /* --help: exit 0, the usage on stdout */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "summary --help"));
    out = tu_slurp(dir, "out");
    assert_non_null(out);
    assert_int_equal(strncmp(out, "usage: strata summary SPEC", 26), 0);
    expect_in(out, "--batch-size B");
    expect_in(out, "--set KEY=VALUE");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_lenet),
        cmocka_unit_test(test_batchnorm_buffers),
        cmocka_unit_test(test_gan),
        cmocka_unit_test(test_language_model),
        cmocka_unit_test(test_memnet),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
