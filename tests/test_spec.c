/* test_spec.c - model specs: loading, checking, defaults, building. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* The W1 spec, as models/mlp-fashion.yaml writes it, with a few keys left
 * out so that their defaults show. Line numbers matter to the tests. */
static const char W1[] =
    "name: mlp-fashion\n"                                                        /* 1 */
    "data:\n"                                                                    /* 2 */
    "  train: {images: /data/train-images.gz, labels: /data/train-labels.gz}\n"  /* 3 */
    "  scale: 255\n"                                                             /* 4 */
    "model:\n"                                                                   /* 5 */
    "  input: [1, 28, 28]\n"                                                     /* 6 */
    "  layers:\n"                                                                /* 7 */
    "    - {type: flatten}\n"                                                    /* 8 */
    "    - {type: linear, out_features: 512}\n"                                  /* 9 */
    "    - {type: relu}\n"                                                       /* 10 */
    "    - {type: linear, out_features: 512}\n"                                  /* 11 */
    "    - {type: relu}\n"                                                       /* 12 */
    "    - {type: linear, out_features: 10}\n"                                   /* 13 */
    "loss: cross_entropy\n"                                                      /* 14 */
    "optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n"                          /* 15 */
    "train: {epochs: 2, batch_size: 128}\n";                                     /* 16 */

/* The smallest valid spec, to which the error cases add one mistake. */
#define TINY "model: {input: [4], layers: [{type: relu}]}\n"

typedef struct fixture {
    strata_runtime *rt;
    strata_device *dev;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->rt = tu_runtime();
    f->dev = tu_ref(f->rt);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    strata_runtime_destroy(f->rt);
    free(f);
    return 0;
}

static strata_status parse(fixture *f, const char *text, const char *name, strata_spec **out)
{
    *out = NULL;
    return strata_spec_parse(f->rt, text, strlen(text), name, out);
}

/* Parsing @p text must fail with @p status and a message holding @p needle
 * (and, when given, @p needle2). */
static void expect_parse_error(fixture *f, const char *text, strata_status status, const char *needle,
                               const char *needle2)
{
    strata_spec *s = NULL;
    strata_status st = parse(f, text, "bad.yaml", &s);
    if (st != status)
        fail_msg("expected %s, got %s: %s", strata_status_name(status), strata_status_name(st), strata_last_error());
    assert_null(s);
    tu_assert_error_contains(needle);
    if (needle2)
        tu_assert_error_contains(needle2);
}

/* ---- valid specs ------------------------------------------------------- */

static void valid_spec_builds_model(void **state)
{
    fixture *f = *state;
    strata_spec *s = NULL;
    ST_OK(parse(f, W1, "w1.yaml", &s));
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, f->dev, &m));

    static const char *const names[] = {"1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"};
    static const int64_t shapes[][2] = {{512, 784}, {512, 0}, {512, 512}, {512, 0}, {10, 512}, {10, 0}};
    assert_int_equal(strata_model_param_count(m), 6);
    for (int k = 0; k < 6; k++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        ST_OK(strata_model_param(m, k, &name, &t));
        assert_string_equal(name, names[k]);
        int ndim = shapes[k][1] ? 2 : 1;
        assert_int_equal(strata_tensor_ndim(t), ndim);
        for (int d = 0; d < ndim; d++)
            assert_int_equal(strata_tensor_shape(t)[d], shapes[k][d]);
    }
    assert_int_equal(strata_model_num_scalars(m), 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
    int ndim = 0;
    const int64_t *out = strata_model_output_shape(m, 0, &ndim);
    assert_int_equal(ndim, 1);
    assert_int_equal(out[0], 10);

    strata_optimizer *o = NULL;
    ST_OK(strata_spec_create_optimizer(s, m, &o));
    assert_string_equal(strata_optimizer_type_name(o), "sgd");
    assert_true(strata_optimizer_lr(o) > 0.0499 && strata_optimizer_lr(o) < 0.0501);
    strata_optimizer_destroy(o);
    strata_model_destroy(m);
    strata_spec_destroy(s);
}

/* strata_spec_set_layer_int of an attribute the spec left at its default (the header: defaults count); it was
 * "no attribute", so a memory network spec without embedding_dim could not be evaluated */
static void set_layer_int_of_default(void **state)
{
    fixture *f = *state;
    strata_spec *s = NULL;
    ST_OK(parse(f, "model:\n  input: [3]\n  layers:\n    - {type: linear, name: fc, out_features: 4}\n", "d.yaml",
                &s));
    ST_OK(strata_spec_set_layer_int(s, "fc", "bias", 0));
    ST_OK(strata_spec_set_layer_int(s, "fc", "out_features", 5)); /* given: changed in place */
    assert_int_equal(strata_spec_set_layer_int(s, "fc", "nothing", 1), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("has no attribute 'nothing'");
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, f->dev, &m));
    assert_int_equal(strata_model_num_scalars(m), 3 * 5); /* no bias */
    strata_model_destroy(m);
    strata_spec_destroy(s);
}

/* flatten of dims whose product overflows int64: refused at build (it made a (2, 0) weight) */
/* a layer's NaN slope and an in_features below -1 are refused at build (they were taken) */
static void layer_values_out_of_range(void **state)
{
    fixture *f = *state;
    static const char *const bad[][2] = {
        {"    - {type: leaky_relu, negative_slope: .nan}\n", "negative_slope must be a finite number"},
        {"    - {type: linear, in_features: -7, out_features: 2}\n", "in_features is the input's feature count, or -1"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char text[512];
        snprintf(text, sizeof text, "model:\n  input: [4]\n  layers:\n%s", bad[k][0]);
        strata_spec *s = NULL;
        ST_OK(parse(f, text, "r.yaml", &s));
        strata_model *m = NULL;
        assert_int_equal(strata_spec_build_model(s, f->dev, &m), STRATA_E_INVALID);
        tu_assert_error_contains(bad[k][1]);
        strata_spec_destroy(s);
    }
}

/* a batch of the wrong shape: the message gives the expected shape as (batch, 4), and a layer's message that
 * quotes it is not prefixed twice */
static void forward_shape_message(void **state)
{
    fixture *f = *state;
    strata_spec *s = NULL;
    ST_OK(parse(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 2}\n", "fw.yaml", &s));
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, f->dev, &m));
    const float v[10] = {0};
    strata_tensor *x = NULL, *y = NULL;
    ST_OK(strata_tensor_from_host(f->dev, STRATA_F32, 2, (const int64_t[]){2, 5}, v, &x));
    assert_int_equal(strata_model_forward(m, &x, 1, &y, 1, 0), STRATA_E_SHAPE);
    tu_assert_error_contains("expected f32 (batch, 4)");
    strata_tensor_release(x);
    strata_model_destroy(m);
    strata_spec_destroy(s);
}

/* loss layers whose inputs cannot fit are refused when the model is built (they failed at the first forward) */
static void loss_layer_inputs(void **state)
{
    fixture *f = *state;
    static const char *const bad[][3] = {
        {"mse", "[{name: a, shape: [3]}, {name: b, shape: [4]}]", "prediction f32 (3) and target f32 (4)"},
        {"bce_with_logits", "[{name: a, shape: [3]}, {name: b, shape: [3], dtype: i64}]", "target i64 (3)"},
        {"cross_entropy", "[{name: a, shape: [3]}, {name: b, shape: [], dtype: f32}]",
         "second input holds class labels (i32 or i64), got f32"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char text[512];
        snprintf(text, sizeof text, "model:\n  inputs: %s\n  layers:\n    - {type: %s, inputs: [a, b]}\n",
                 bad[k][1], bad[k][0]);
        strata_spec *s = NULL;
        ST_OK(parse(f, text, "loss.yaml", &s));
        strata_model *m = NULL;
        const strata_status st = strata_spec_build_model(s, f->dev, &m);
        assert_true(st == STRATA_E_SHAPE || st == STRATA_E_DTYPE);
        tu_assert_error_contains(bad[k][2]);
        strata_spec_destroy(s);
    }
}

static void flatten_overflow(void **state)
{
    fixture *f = *state;
    strata_spec *s = NULL;
    ST_OK(parse(f, "model:\n  input: [65536, 65536, 65536, 65536]\n  layers:\n    - {type: flatten}\n"
                   "    - {type: linear, out_features: 2}\n",
                "of.yaml", &s));
    strata_model *m = NULL;
    assert_int_equal(strata_spec_build_model(s, f->dev, &m), STRATA_E_SHAPE);
    tu_assert_error_contains("flattened size overflows");
    assert_null(m);
    strata_spec_destroy(s);
}

static void shipped_w1_spec_loads(void **state)
{
    fixture *f = *state;
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_source_path("models/mlp-fashion.yaml"));
    strata_spec *s = NULL;
    ST_OK(strata_spec_load(f->rt, path, &s));
    assert_string_equal(strata_spec_path(s), path);
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, f->dev, &m));
    assert_int_equal(strata_model_num_scalars(m), 669706);
    int64_t v = 0;
    ST_OK(strata_spec_get_int(s, "train.batch_size", 0, &v));
    assert_int_equal(v, 128);
    ST_OK(strata_spec_get_int(s, "train.epochs", 0, &v));
    assert_int_equal(v, 2);
    const char *str = NULL;
    ST_OK(strata_spec_get_string(s, "data.test.labels", NULL, &str));
    assert_string_equal(str, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    strata_model_destroy(m);
    strata_spec_destroy(s);
}

static void named_inputs_and_outputs(void **state)
{
    fixture *f = *state;
    static const char text[] = "model:\n"
                               "  inputs: [{name: a, shape: [4]}, {name: b, shape: [6], dtype: f32}]\n"
                               "  layers:\n"
                               "    - {type: linear, name: fa, out_features: 3, inputs: [a]}\n"
                               "    - {type: linear, name: fb, out_features: 5, inputs: b}\n"
                               "  outputs: [fa, fb]\n";
    strata_spec *s = NULL;
    ST_OK(parse(f, text, "two.yaml", &s));
    strata_model *m = NULL;
    ST_OK(strata_spec_build_model(s, f->dev, &m));
    assert_int_equal(strata_model_param_count(m), 4);
    const char *name = NULL;
    strata_tensor *t = NULL;
    ST_OK(strata_model_param(m, 2, &name, &t));
    assert_string_equal(name, "fb.weight");
    assert_int_equal(strata_tensor_shape(t)[0], 5);
    assert_int_equal(strata_tensor_shape(t)[1], 6);
    int ndim = 0;
    const int64_t *shape = strata_model_output_shape(m, 1, &ndim);
    assert_non_null(shape);
    assert_int_equal(ndim, 1);
    assert_int_equal(shape[0], 5);
    /* no optimizer section: creating one is "not found", not a crash */
    strata_optimizer *o = NULL;
    assert_int_equal(strata_spec_create_optimizer(s, m, &o), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("no 'optimizer'");
    strata_model_destroy(m);
    strata_spec_destroy(s);

    /* "name:K" references: K plain digits within the layer's outputs; a model input has only output 0 (these
     * were read with atoi: "fa:abc" was fa's output 0, "fa:4294967296" wrapped to 0, "a:5" was a) */
    static const char *const bad_refs[][2] = {
        {"    - {type: linear, name: fb, out_features: 5, inputs: b}\n  outputs: [\"fa:abc\"]\n", "fa:abc"},
        {"    - {type: linear, name: fb, out_features: 5, inputs: b}\n  outputs: [\"fa:4294967296\"]\n",
         "fa:4294967296"},
        {"    - {type: linear, name: fb, out_features: 5, inputs: b}\n  outputs: [\"fa:+0\"]\n", "fa:+0"},
        {"    - {type: linear, name: fb, out_features: 5, inputs: \"b:5\"}\n", "model input 'b' has one value"},
    };
    for (size_t k = 0; k < sizeof bad_refs / sizeof *bad_refs; k++) {
        char bad[1024];
        snprintf(bad, sizeof bad,
                 "model:\n  inputs: [{name: a, shape: [4]}, {name: b, shape: [6]}]\n  layers:\n"
                 "    - {type: linear, name: fa, out_features: 3, inputs: [a]}\n%s",
                 bad_refs[k][0]);
        ST_OK(parse(f, bad, "refs.yaml", &s));
        m = NULL;
        assert_int_equal(strata_spec_build_model(s, f->dev, &m), STRATA_E_NOT_FOUND);
        tu_assert_error_contains(bad_refs[k][1]);
        assert_null(m);
        strata_spec_destroy(s);
    }
}

/* ---- queries and defaults ---------------------------------------------- */

static void get_paths_and_defaults(void **state)
{
    fixture *f = *state;
    strata_spec *s = NULL;
    ST_OK(parse(f, W1, "w1.yaml", &s));

    int64_t i = 0;
    ST_OK(strata_spec_get_int(s, "train.epochs", 7, &i));
    assert_int_equal(i, 2);
    ST_OK(strata_spec_get_int(s, "model.layers[1].out_features", 0, &i));
    assert_int_equal(i, 512);
    ST_OK(strata_spec_get_int(s, "model.input.2", 0, &i));
    assert_int_equal(i, 28);

    double d = 0;
    ST_OK(strata_spec_get_float(s, "optimizer.lr", 1.0, &d));
    assert_true(d > 0.0499 && d < 0.0501);
    ST_OK(strata_spec_get_float(s, "data.scale", 1.0, &d)); /* an integer reads as a number */
    assert_true(d == 255.0);

    const char *str = NULL;
    ST_OK(strata_spec_get_string(s, "data.train.images", NULL, &str));
    assert_string_equal(str, "/data/train-images.gz");
    ST_OK(strata_spec_get_string(s, "model.layers.3.type", NULL, &str));
    assert_string_equal(str, "linear");
    ST_OK(strata_spec_get_string(s, "name", NULL, &str));
    assert_string_equal(str, "mlp-fashion");

    /* absent: NOT_FOUND, the default, and no message to show */
    strata_clear_error();
    assert_int_equal(strata_spec_get_int(s, "train.log_every", 50, &i), STRATA_E_NOT_FOUND);
    assert_int_equal(i, 50);
    assert_int_equal(strata_spec_get_float(s, "schedule.eta_min", 0.5, &d), STRATA_E_NOT_FOUND);
    assert_true(d == 0.5);
    assert_int_equal(strata_spec_get_string(s, "data.test.images", "none", &str), STRATA_E_NOT_FOUND);
    assert_string_equal(str, "none");
    assert_int_equal(strata_spec_get_int(s, "model.layers[9].out_features", -1, &i), STRATA_E_NOT_FOUND);
    assert_int_equal(i, -1);
    assert_string_equal(strata_last_error(), "");

    /* wrong type: FORMAT with file:line */
    assert_int_equal(strata_spec_get_int(s, "name", 0, &i), STRATA_E_FORMAT);
    tu_assert_error_contains("w1.yaml:1:");
    assert_int_equal(strata_spec_get_int(s, "optimizer.lr", 0, &i), STRATA_E_FORMAT);
    tu_assert_error_contains("w1.yaml:15:");
    assert_int_equal(strata_spec_get_float(s, "loss", 0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains("w1.yaml:14:");
    assert_int_equal(strata_spec_get_string(s, "train", NULL, &str), STRATA_E_FORMAT);
    tu_assert_error_contains("w1.yaml:16:");
    assert_int_equal(strata_spec_get_int(s, "train.epochs.x", 0, &i), STRATA_E_FORMAT);
    assert_int_equal(strata_spec_get_int(s, "train..epochs", 0, &i), STRATA_E_INVALID);

    /* defaults applied are reported, given keys are not */
    const char *dflt = strata_spec_defaults(s);
    assert_non_null(strstr(dflt, "model.layers[1] (linear): bias = 1\n"));
    assert_non_null(strstr(dflt, "model.layers[5] (linear): bias = 1\n"));
    assert_non_null(strstr(dflt, "train.log_every = 50\n"));
    assert_non_null(strstr(dflt, "seed = 1\n"));
    assert_non_null(strstr(dflt, "data.format = idx\n"));
    assert_non_null(strstr(dflt, "optimizer (sgd): weight_decay = 0\n"));
    assert_null(strstr(dflt, "train.epochs"));
    assert_null(strstr(dflt, "train.batch_size"));
    assert_null(strstr(dflt, "out_features"));

    size_t len = 0;
    assert_string_equal(strata_spec_text(s, &len), W1);
    assert_int_equal(len, strlen(W1));
    assert_string_equal(strata_spec_path(s), "w1.yaml");
    strata_spec_destroy(s);
}

/* ---- malformed YAML ----------------------------------------------------- */

static void malformed_yaml(void **state)
{
    fixture *f = *state;
    /* "layers" indented deeper than its sibling "input" */
    expect_parse_error(f, "model:\n  input: [1, 2]\n   layers: []\n", STRATA_E_FORMAT, "bad.yaml:3:", NULL);
    /* a flow sequence that never closes */
    expect_parse_error(f, "model:\n  input: [1, 28, 28\n  layers: []\n", STRATA_E_FORMAT, "bad.yaml:", "flow");
    /* a tab where indentation is expected */
    expect_parse_error(f, "model:\n\tinput: [1]\n", STRATA_E_FORMAT, "bad.yaml:2:", NULL);
    /* a control character */
    expect_parse_error(f, "name: a\x01b\n", STRATA_E_FORMAT, "bad.yaml:1:", NULL);
    /* empty and non-mapping documents */
    expect_parse_error(f, "", STRATA_E_FORMAT, "bad.yaml: empty spec", NULL);
    expect_parse_error(f, "# only a comment\n", STRATA_E_FORMAT, "empty spec", NULL);
    expect_parse_error(f, "- a\n- b\n", STRATA_E_FORMAT, "bad.yaml:1:", "got a sequence");
    expect_parse_error(f, "model: {input: [1], layers: [{type: relu}]}\n---\nname: b\n", STRATA_E_FORMAT,
                       "bad.yaml:3:", "one YAML document");
}

/* Found while fuzzing the spec parser: libyaml takes time quadratic in the
 * nesting depth (this 200,000-deep input parsed for minutes); the spec parser
 * refuses nesting beyond 64 levels as soon as it sees it. */
static void deep_nesting(void **state)
{
    fixture *f = *state;
    size_t depth = 200000, n = 0;
    char *text = malloc(2 * depth + 16);
    assert_non_null(text);
    n += (size_t)sprintf(text, "model: ");
    memset(text + n, '[', depth);
    memset(text + n + depth, ']', depth);
    n += 2 * depth;
    text[n] = '\0';
    expect_parse_error(f, text, STRATA_E_FORMAT, "bad.yaml:1: lists and maps nested more than 64 deep", NULL);
    free(text);
    /* 60 levels are still fine for the parser (the spec checks then refuse the model) */
    char ok[256] = "name: [";
    for (int k = 0; k < 59; k++)
        strcat(ok, "[");
    for (int k = 0; k < 60; k++)
        strcat(ok, "]");
    strcat(ok, "\n");
    strata_spec *s = NULL;
    assert_int_not_equal(parse(f, ok, "deep.yaml", &s), STRATA_OK);
    assert_null(strstr(strata_last_error(), "nested more than"));
}

static void truncated_file(void **state)
{
    fixture *f = *state;
    /* W1 cut in the middle of the optimizer's flow mapping (line 15) */
    size_t cut = (size_t)(strstr(W1, "momentum") - W1);
    const char *path = tu_write_temp(".yaml", W1, cut);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    strata_spec *s = NULL;
    assert_int_equal(strata_spec_load(f->rt, copy, &s), STRATA_E_FORMAT);
    assert_null(s);
    char needle[4200];
    snprintf(needle, sizeof needle, "%s:", copy);
    const char *at = strstr(strata_last_error(), needle);
    if (!at || !isdigit((unsigned char)at[strlen(needle)]))
        fail_msg("expected \"%sLINE:COL: ...\", got \"%s\"", needle, strata_last_error());
    tu_assert_error_contains("while parsing a flow");
    remove(copy);

    assert_int_equal(strata_spec_load(f->rt, "/nonexistent/spec.yaml", &s), STRATA_E_IO);
    tu_assert_error_contains("/nonexistent/spec.yaml");

    /* a file over the limit is refused before a byte of it is read (a sparse 3 GiB file: it was read whole) */
    const char *huge = tu_write_temp(".yaml", "name: x\n", 8);
    assert_non_null(huge);
    assert_int_equal(truncate(huge, (off_t)3 << 30), 0);
    assert_int_equal(strata_spec_load(f->rt, huge, &s), STRATA_E_FORMAT);
    tu_assert_error_contains("spec is 3221225472 bytes, larger than the limit of 16777216 bytes");
    remove(huge);
}

/* ---- keys and values ---------------------------------------------------- */

static void unknown_keys(void **state)
{
    fixture *f = *state;
    expect_parse_error(f, "epochs: 3\n" TINY, STRATA_E_FORMAT,
                       "bad.yaml:1: unknown key 'epochs' at the top level", "known: name, seed, data, model");
    expect_parse_error(f, TINY "train:\n  epoch: 3\n", STRATA_E_FORMAT,
                       "bad.yaml:3: unknown key 'epoch' in train; did you mean 'epochs'?",
                       "known: epochs, batch_size");
    expect_parse_error(f, TINY "data: {train: {images: a, labels: b, lables: c}}\n",
                       STRATA_E_FORMAT, "bad.yaml:2: unknown key 'lables' in data.train", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_feature: 3}\n", STRATA_E_FORMAT,
                       "bad.yaml:4: unknown key 'out_feature' in layer 0 (linear)", "out_features");
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 3, colour: red}\n",
                       STRATA_E_FORMAT, "known: type, name, inputs,", "bias");
    expect_parse_error(f,
                       TINY
                       "optimizer: {type: sgd, lr: 0.1, momentun: 0.9}\n",
                       STRATA_E_FORMAT, "bad.yaml:2: unknown key 'momentun' in optimizer (sgd)", "'momentum'");
    expect_parse_error(f, TINY "schedule: {type: cosine, gamma: 0.5}\n",
                       STRATA_E_FORMAT, "unknown key 'gamma' in schedule", "total, eta_min");
    expect_parse_error(f, TINY "train: {epochs: 1, epochs: 2}\n",
                       STRATA_E_FORMAT, "bad.yaml:2: duplicate key 'epochs' in train", NULL);
}

static void unknown_types(void **state)
{
    fixture *f = *state;
    expect_parse_error(f,
                       "model:\n  input: [4]\n  layers:\n"
                       "    - {type: relu}\n"
                       "    - {type: lineer, out_features: 3}\n",
                       STRATA_E_NOT_FOUND,
                       "bad.yaml:5: unknown layer type 'lineer' in layer 1; did you mean 'linear'?", "registered: ");
    /* a swap of two neighbours is one edit (until 2026-12-05 two: no hint for 'reul') */
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: reul}\n", STRATA_E_NOT_FOUND,
                       "unknown layer type 'reul' in layer 0; did you mean 'relu'?", NULL);
    expect_parse_error(f, TINY "optimizer: {type: adma, lr: 0.1}\n", STRATA_E_NOT_FOUND,
                       "unknown optimizer type 'adma'; did you mean 'adam'?", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: conv9d}\n", STRATA_E_NOT_FOUND,
                       "unknown layer type 'conv9d'", "flatten");
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: conv9d}\n", STRATA_E_NOT_FOUND, "relu", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {out_features: 3}\n", STRATA_E_FORMAT,
                       "bad.yaml:4: layer 0 has no 'type'", "linear");
    expect_parse_error(f, TINY "optimizer: {type: adamax}\n",
                       STRATA_E_NOT_FOUND, "bad.yaml:2: unknown optimizer type 'adamax'", "sgd");
    /* case-only typos, and a swap of neighbours in a name under 3 characters, got no hint */
    expect_parse_error(f, TINY "optimizer: {type: SGD, lr: 0.1}\n", STRATA_E_NOT_FOUND,
                       "unknown optimizer type 'SGD'; did you mean 'sgd'?", NULL);
    expect_parse_error(f, TINY "optimizer: {type: AdamW, lr: 0.1}\n", STRATA_E_NOT_FOUND,
                       "unknown optimizer type 'AdamW'; did you mean 'adamw'?", NULL);
    expect_parse_error(f, TINY "optimizer: {type: sgd, rl: 0.1}\n", STRATA_E_FORMAT,
                       "unknown key 'rl' in optimizer (sgd); did you mean 'lr'?", NULL);
    expect_parse_error(f, TINY "loss: MSE\n", STRATA_E_FORMAT,
                       "loss must be one of cross_entropy, mse, bce_with_logits, got 'MSE'; did you mean 'mse'?", NULL);
    expect_parse_error(f, TINY "loss: mes\n", STRATA_E_FORMAT, "got 'mes'; did you mean 'mse'?", NULL);
    /* train.drop_last reads YAML's booleans as nesterov does ("True" was refused), and only them */
    static const char *const booleans[] = {TINY "train: {drop_last: True}\n", TINY "train: {drop_last: FALSE}\n",
                                           TINY "train: {drop_last: true}\n"};
    for (size_t k = 0; k < sizeof booleans / sizeof *booleans; k++) {
        strata_spec *s = NULL;
        ST_OK(parse(f, booleans[k], "ok.yaml", &s));
        strata_spec_destroy(s);
    }
    expect_parse_error(f, TINY "train: {drop_last: 1}\n", STRATA_E_FORMAT,
                       "train.drop_last must be one of false, true, got '1'", NULL);
    /* ... but no flood of hints for other short names: everything is one edit from them */
    static const char *const unhinted[] = {TINY "optimizer: {type: sgd, l: 0.1}\n",
                                           TINY "optimizer: {type: sgd, xr: 0.1}\n", TINY "optimizer: {type: sg}\n",
                                           TINY "loss: ms\n"};
    for (size_t k = 0; k < sizeof unhinted / sizeof *unhinted; k++) {
        strata_spec *s = NULL;
        assert_int_not_equal(parse(f, unhinted[k], "bad.yaml", &s), STRATA_OK);
        if (strstr(strata_last_error(), "did you mean"))
            fail_msg("%s: a hint for a name far from it: %s", unhinted[k], strata_last_error());
    }
}

static void wrong_kinds_and_ranges(void **state)
{
    fixture *f = *state;
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: ten}\n",
                       STRATA_E_FORMAT, "bad.yaml:4: layer 0 (linear): 'out_features' expects an integer, got 'ten'",
                       NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: 2.5}\n",
                       STRATA_E_FORMAT, "'out_features' expects an integer, got '2.5'", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: [3]}\n",
                       STRATA_E_FORMAT, "'out_features' expects an integer, got a sequence", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: leaky_relu, negative_slope: steep}\n",
                       STRATA_E_FORMAT, "'negative_slope' expects a number, got 'steep'", NULL);
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: linear, out_features: \"3\"}\n",
                       STRATA_E_FORMAT, "expects an integer, got '3'", NULL);
    expect_parse_error(f, TINY "train: {epochs: two}\n", STRATA_E_FORMAT,
                       "bad.yaml:2: train.epochs expects an integer, got 'two'", NULL);
    expect_parse_error(f, TINY "train: {batch_size: 0}\n", STRATA_E_FORMAT,
                       "train.batch_size must be at least 1, got 0", NULL);
    /* trained nothing and wrote no checkpoint, "successfully", where --epochs 0 is refused */
    expect_parse_error(f, TINY "train: {epochs: 0}\n", STRATA_E_FORMAT, "train.epochs must be at least 1, got 0",
                       NULL);
    expect_parse_error(f, TINY "schedule: {type: step, step_size: 5, gamma: .inf}\n", STRATA_E_FORMAT,
                       "schedule.gamma must be a finite number, got .inf", NULL);
    expect_parse_error(f, TINY "schedule: {type: cosine, eta_min: .nan}\n", STRATA_E_FORMAT,
                       "schedule.eta_min must be a finite number", NULL);
    expect_parse_error(f, TINY "loss: hinge\n", STRATA_E_FORMAT,
                       "bad.yaml:2: loss must be one of cross_entropy, mse, bce_with_logits, got 'hinge'", NULL);
    expect_parse_error(f, TINY "optimizer: {type: sgd, lr: fast}\n",
                       STRATA_E_FORMAT, "optimizer (sgd): 'lr' expects a number, got 'fast'", NULL);
    expect_parse_error(f, "model: {input: [0, 4], layers: [{type: relu}]}\n", STRATA_E_FORMAT,
                       "model.input: dimension 0 must be a positive integer, got '0'", NULL);
    expect_parse_error(f, "model: {input: [4], inputs: [{name: a, shape: [4]}], layers: [{type: relu}]}\n",
                       STRATA_E_FORMAT, "both 'input' and 'inputs'", NULL);
    expect_parse_error(f, "model: {inputs: [{name: a, shape: [4], dtype: f64}], layers: [{type: relu}]}\n",
                       STRATA_E_FORMAT, "model.inputs[0].dtype must be one of f32, i32, i64, got 'f64'", NULL);
    expect_parse_error(f, "model: {input: [4]}\n", STRATA_E_FORMAT, "missing key 'layers' in model", NULL);
    expect_parse_error(f, "name: x\n", STRATA_E_FORMAT, "needs a 'model' section", NULL);
    expect_parse_error(f, TINY "schedule: {type: step}\n", STRATA_E_FORMAT,
                       "missing key 'step_size' in schedule", NULL);
    /* 1.1's schedules: multistep, linear and a warmup for every type */
    expect_parse_error(f, TINY "schedule: {type: multistep}\n", STRATA_E_FORMAT, "missing key 'milestones' in schedule",
                       NULL);
    expect_parse_error(f, TINY "schedule: {type: multistep, milestones: [30, 30]}\n", STRATA_E_FORMAT,
                       "schedule.milestones.1 must be a step above 30 (the milestones increase), got '30'", NULL);
    expect_parse_error(f, TINY "schedule: {type: multistep, milestones: [0]}\n", STRATA_E_FORMAT,
                       "schedule.milestones.0 must be a step above 0", NULL);
    expect_parse_error(f, TINY "schedule: {type: multistep, milestones: []}\n", STRATA_E_FORMAT,
                       "schedule.milestones is a list of 1 to 64 increasing steps", NULL);
    expect_parse_error(f, TINY "schedule: {type: multistep, milestones: 30}\n", STRATA_E_FORMAT,
                       "schedule.milestones is a list", NULL);
    expect_parse_error(f, TINY "schedule: {type: linear, end_factor: -1}\n", STRATA_E_FORMAT,
                       "schedule.end_factor must be at least 0, got -1", NULL);
    expect_parse_error(f, TINY "schedule: {type: linear, eta_min: 0.1}\n", STRATA_E_FORMAT,
                       "unknown key 'eta_min' in schedule", "total, end_factor, warmup, warmup_start");
    expect_parse_error(f, TINY "schedule: {type: cosine, warmup: -5}\n", STRATA_E_FORMAT,
                       "schedule.warmup must be at least 0, got -5", NULL);
    expect_parse_error(f, TINY "schedule: {warmup: 10, warmup_start: 1.5}\n", STRATA_E_FORMAT,
                       "bad.yaml:2: schedule.warmup_start is a fraction of the rate in [0, 1], got 1.5", NULL);
    expect_parse_error(f, TINY "schedule: {type: onecycle}\n", STRATA_E_FORMAT,
                       "schedule.type must be one of constant, step, cosine, multistep, linear, got 'onecycle'", NULL);
}

static void missing_required_attribute(void **state)
{
    fixture *f = *state;
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - {type: relu}\n    - {type: linear, bias: false}\n",
                       STRATA_E_FORMAT, "bad.yaml:5: layer 1 (linear) needs 'out_features' (an integer)", NULL);
}

static void shape_mismatch_has_context(void **state)
{
    fixture *f = *state;
    static const char text[] = "model:\n"
                               "  input: [1, 28, 28]\n"
                               "  layers:\n"
                               "    - {type: flatten}\n"
                               "    - {type: linear, in_features: 100, out_features: 10}\n";
    strata_spec *s = NULL;
    ST_OK(parse(f, text, "shape.yaml", &s)); /* the spec is well formed; the shapes are not */
    strata_model *m = NULL;
    assert_int_equal(strata_spec_build_model(s, f->dev, &m), STRATA_E_SHAPE);
    assert_null(m);
    const char *prefix = "shape.yaml:5: layer 1 (type 'linear', name '1'): ";
    if (strncmp(strata_last_error(), prefix, strlen(prefix)) != 0)
        fail_msg("expected the message to start with \"%s\", got \"%s\"", prefix, strata_last_error());
    strata_spec_destroy(s);
}

/* Builds @p text, which must parse, and expects the build to fail with
 * @p status and a message that starts with @p prefix and holds @p needle. */
static void expect_build_error(fixture *f, const char *text, strata_status status, const char *prefix,
                               const char *needle)
{
    strata_spec *s = NULL;
    ST_OK(parse(f, text, "ref.yaml", &s));
    strata_model *m = NULL;
    strata_status st = strata_spec_build_model(s, f->dev, &m);
    if (st != status)
        fail_msg("expected %s, got %s: %s", strata_status_name(status), strata_status_name(st), strata_last_error());
    assert_null(m);
    if (strncmp(strata_last_error(), prefix, strlen(prefix)) != 0)
        fail_msg("expected the message to start with \"%s\", got \"%s\"", prefix, strata_last_error());
    tu_assert_error_contains(needle);
    strata_spec_destroy(s);
}

/* Names and references are checked by the core while building; the spec
 * puts the layer's file:line in front. */
static void bad_references(void **state)
{
    fixture *f = *state;
    expect_build_error(f,
                       "model:\n  input: [4]\n  layers:\n"
                       "    - {type: linear, out_features: 3}\n"
                       "    - {type: linear, out_features: 3, inputs: [nope]}\n",
                       STRATA_E_NOT_FOUND, "ref.yaml:5: layer 1 (type 'linear', name '1'): ", "'nope'");
    /* a later layer is not an input yet */
    expect_build_error(f,
                       "model:\n  input: [4]\n  layers:\n"
                       "    - {type: linear, out_features: 3, inputs: fc}\n"
                       "    - {type: linear, name: fc, out_features: 3}\n",
                       STRATA_E_NOT_FOUND, "ref.yaml:4: layer 0 (type 'linear', name '0'): ", "'fc'");
    expect_build_error(f, "model: {input: [4], layers: [{type: relu}], outputs: [head]}\n", STRATA_E_NOT_FOUND,
                       "ref.yaml:1: ", "'head'");
    expect_build_error(f, "model: {input: [4], layers: [{type: relu, name: a}, {type: relu, name: a}]}\n",
                       STRATA_E_EXISTS, "ref.yaml:1: layer 1 (type 'relu', name 'a'): ",
                       "layer name 'a' is already the name of layer 0 (relu)");
    /* the clash is with the other one's name: layer 0's given name, the input's implicit one */
    expect_build_error(f,
                       "model:\n  input: [4]\n  layers:\n"
                       "    - {type: linear, out_features: 3, name: \"1\"}\n"
                       "    - {type: linear, out_features: 5}\n",
                       STRATA_E_EXISTS, "ref.yaml:5: layer 1 (type 'linear', name '1'): ",
                       "layer name '1' (its position, as no name is given) is already the name of layer 0 (linear)");
    expect_build_error(f, "model: {input: [4], layers: [{type: relu, name: x}]}\n", STRATA_E_EXISTS,
                       "ref.yaml:1: layer 0 (type 'relu', name 'x'): ",
                       "layer name 'x' is already the name of model input 0 (an input given as model.input: [...] "
                       "is named x)");
}

/* Keys only some trainers read are refused in a spec of another task (the
 * trainer would ignore them), their defaults are recorded only where they
 * apply, and with the trainer's own value. */
static void keys_of_other_tasks(void **state)
{
    fixture *f = *state;
#define MODEL "model: {input: [4], layers: [{type: linear, out_features: 3}]}\n"
#define IDX "train: {images: a, labels: b}, "
#define GAN_MODELS                                                                                                 \
    "generator: {model: {input: [4], layers: [{type: linear, out_features: 6}]}}\n"                              \
    "discriminator: {model: {input: [6], layers: [{type: linear, out_features: 1}]}}\n"
    static const struct {
        const char *text, *needle, *needle2;
    } bad[] = {
        {MODEL "train: {repeats: 3}\n", "bad.yaml:2: train.repeats is read only for task: question_answering",
         "this spec is task: classification, whose trainer would ignore it"},
        {MODEL "train: {select: training_error}\n", "train.select is read only for task: question_answering", NULL},
        {MODEL "train: {eval_every: 10}\n", "train.eval_every is read only for task: language_model", NULL},
        {"data: {format: babi}\n" MODEL "schedule: {type: cosine}\n",
         "bad.yaml:3: schedule is read only for task: every task but question_answering",
         "this spec is task: question_answering"},
        {"data: {format: babi}\n" MODEL "train: {steps: 10}\n", "train.steps is read only for task: every task but "
                                                                 "question_answering",
         NULL},
        {"data: {format: babi}\n" MODEL "train: {log_every: 10}\n", "train.log_every is read only", NULL},
        {"data: {format: seq2seq_reverse}\n" MODEL "train: {epochs: 3}\n",
         "train.epochs is read only for task: classification, question_answering, autoencoder", "task: seq2seq"},
        {"data: {format: seq2seq_reverse}\n" MODEL "train: {keep_best: val_loss}\n",
         "train.keep_best is read only for task: classification, language_model", "task: seq2seq"},
        {"data: {format: seq2seq_reverse}\n" MODEL "train: {eval_batch_size: 8}\n",
         "train.eval_batch_size is read only for task: classification, language_model", NULL},
        {"task: autoencoder\ndata: {" IDX "augment: {hflip: 0.5}}\n" MODEL, "data.augment is read only for task: "
                                                                      "classification",
         "task: autoencoder"},
        {"task: autoencoder\ndata: {" IDX "val_fraction: 0.1}\n" MODEL, "data.val_fraction is read only", NULL},
        {"task: autoencoder\ndata: {" IDX "classes: [a, b, c]}\n" MODEL, "data.classes is read only", NULL},
        {"task: autoencoder\ndata: {train: {images: a, labels: b}}\n" MODEL,
         "bad.yaml:2: task: autoencoder needs data.test: the test reconstruction MSE", NULL},
        {"task: autoencoder\ngan: {d_steps: 2}\n" MODEL, "gan is read only for task: gan", NULL},
        {"autoencoder: {code_size: 3}\n" MODEL, "autoencoder is read only for task: autoencoder",
         "task: classification"},
        {"task: gan\nloss: mse\n" GAN_MODELS, "bad.yaml:2: loss is read only for task: every task but gan", NULL},
        {"task: gan\n" MODEL GAN_MODELS, "model is read only for task: every task but gan", NULL},
        {"task: gan\noptimizer: {type: sgd}\n" GAN_MODELS, "optimizer is read only for task: every task but gan",
         NULL},
        {"task: gan\ndata: {" IDX "test: {images: a, labels: b}}\n" GAN_MODELS, "data.test is read only", NULL},
        {"task: gan\ntrain: {epochs: 2}\n" GAN_MODELS, "train.epochs is read only", "task: gan"},
        /* the loss each trainer computes */
        {"task: autoencoder\nloss: cross_entropy\n" MODEL,
         "bad.yaml:2: loss: task: autoencoder trains with loss: mse, got cross_entropy", NULL},
        {MODEL "loss: mse\n", "loss: task: classification trains with loss: cross_entropy, got mse", NULL},
        {"data: {format: babi}\nloss: bce_with_logits\n" MODEL,
         "loss: task: question_answering trains with loss: cross_entropy", NULL},
        {"task: autoencoder\ndata: {format: text, path: x}\n" MODEL,
         "bad.yaml:1: task: autoencoder needs data.format: idx or safetensors, got text", NULL},
        {"task: gan\ndata: {format: text, path: x}\n" GAN_MODELS, "task: gan needs data.format: idx or safetensors",
         NULL},
        /* each task its own formats: "idx, safetensors or text" was said to every task with seq2seq_reverse */
        {"task: language_model\ndata: {format: seq2seq_reverse}\n" MODEL,
         "bad.yaml:1: task: language_model needs data.format: text, got seq2seq_reverse", NULL},
        {"task: classification\ndata: {format: seq2seq_reverse}\n" MODEL,
         "task: classification needs data.format: idx or safetensors, got seq2seq_reverse", NULL},
        {"task: language_model\ndata: {" IDX "}\n" MODEL,
         "task: language_model needs data.format: text, got idx (the default)", NULL},
        {"task: classification\ndata: {format: babi}\n" MODEL,
         "task: classification needs data.format: idx or safetensors, got babi", NULL},
        {"task: seq2seq\n" MODEL, "task: seq2seq needs data.format: seq2seq_reverse, got no data section", NULL},
        /* the format is the cause, not the keys of another task's table (train.log_every was blamed) */
        {"task: question_answering\ndata: {format: seq2seq_reverse}\n" MODEL "train: {log_every: 10}\n",
         "bad.yaml:1: task: question_answering needs data.format: babi, got seq2seq_reverse", NULL},
        {"data: {format: text, path: x}\n" MODEL "train: {keep_best: val_accuracy}\n",
         "train.keep_best: a language model is scored by val_loss, not val_accuracy", NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        expect_parse_error(f, bad[k].text, STRATA_E_FORMAT, bad[k].needle, bad[k].needle2);

    /* the defaults recorded: each task's own, none of another task's keys */
    static const struct {
        const char *text, *has, *lacks;
    } dflt[] = {
        {MODEL "train: {}\n", "train.epochs = 1\n", "train.repeats"},
        {MODEL "train: {}\n", "loss = cross_entropy\n", "train.eval_every"},
        {"data: {format: babi}\n" MODEL "train: {}\n", "train.epochs = 100\n", "train.log_every"},
        {"data: {format: babi}\n" MODEL "train: {}\n", "train.batch_size = 32\n", "schedule"},
        {"data: {format: babi}\n" MODEL "train: {}\n", "train.repeats = 1\n", "train.eval_batch_size"},
        {"data: {format: babi}\n" MODEL "train: {}\n", "train.select = validation_error\n", "train.keep_best"},
        /* an absent section that needs keys of its own is none: no defaults of it (data.test.inputs was listed) */
        {"data: {format: safetensors, train: {file: a}}\n" MODEL, "data.train.inputs = inputs\n", "data.test"},
        {"data: {format: babi}\n" MODEL "train: {}\n", "train.clip_grad_norm = 40\n", "train.clip_grad_norm = 0"},
        {"task: autoencoder\n" MODEL "train: {}\n", "train.epochs = 10\n", "train.repeats"},
        {"task: autoencoder\n" MODEL "train: {}\n", "train.batch_size = 128\n", "val_fraction"},
        {"task: autoencoder\n" MODEL "train: {}\n", "loss = mse\n", "loss = cross_entropy"},
        {"task: gan\n" GAN_MODELS "train: {}\n", "train.steps = 1000\n", "train.epochs"},
        {"task: gan\n" GAN_MODELS "train: {}\n", "train.log_every = 100\n", "\nloss ="},
        {MODEL "train: {}\n", "train.accumulate = 1\n", "train.repeats"},
        {"task: gan\n" GAN_MODELS "train: {}\n", "train.steps = 1000\n", "train.accumulate"},
        /* an absent section's defaults are recorded too (spec.md: every default applied) */
        {MODEL, "train.epochs = 1\n", "train.repeats"},
        {"task: gan\n" GAN_MODELS, "gan.d_steps = 1\n", "\nloss ="},
        {"task: gan\ngenerator: {model: {input: [4], layers: [{type: linear, out_features: 6}]}, optimizer: {type: "
         "sgd}}\ndiscriminator: {model: {input: [6], layers: [{type: linear, out_features: 1}]}}\n",
         "\ngenerator.optimizer (sgd): momentum = 0\n", "\noptimizer (sgd)"},
        {"data: {format: seq2seq_reverse}\n" MODEL "train: {}\n", "train.steps = 2000\n", "train.epochs"},
        {"data: {format: seq2seq_reverse}\n" MODEL "train: {}\n", "train.log_every = 200\n", "train.repeats"},
        {"data: {format: text, path: x}\n" MODEL "train: {}\n", "train.eval_batch_size = 256\n", "train.epochs"},
        {"data: {format: text, path: x}\n" MODEL "train: {}\n", "train.steps = 1000\n", "train.repeats"},
    };
    for (size_t k = 0; k < sizeof dflt / sizeof dflt[0]; k++) {
        strata_spec *s = NULL;
        ST_OK(parse(f, dflt[k].text, "ok.yaml", &s));
        const char *d = strata_spec_defaults(s);
        if (!strstr(d, dflt[k].has) || strstr(d, dflt[k].lacks))
            fail_msg("spec %zu: defaults should have \"%s\" and not \"%s\":\n%s", k, dflt[k].has, dflt[k].lacks, d);
        strata_spec_destroy(s);
    }
#undef MODEL
#undef GAN_MODELS
#undef IDX
}

/* A two-model spec (a GAN): generator and discriminator, each {model, optimizer}. */
static void two_model_spec(void **state)
{
    fixture *f = *state;
    static const char text[] = "task: gan\n"
                               "gan: {loss: hinge, noise_dim: 4}\n"
                               "generator:\n"
                               "  model: {input: [4], layers: [{type: linear, out_features: 6}, {type: tanh}]}\n"
                               "  optimizer: {type: adam, lr: 0.0002}\n"
                               "discriminator:\n"
                               "  model: {input: [6], layers: [{type: linear, out_features: 1}]}\n"
                               "  optimizer: {type: sgd, lr: 0.1}\n";
    strata_spec *s = NULL;
    ST_OK(parse(f, text, "gan.yaml", &s));
    strata_model *g = NULL, *d = NULL, *m = NULL;
    strata_optimizer *og = NULL, *od = NULL;
    ST_OK(strata_spec_build_named(s, "generator", f->dev, &g));
    ST_OK(strata_spec_build_named(s, "discriminator", f->dev, &d));
    ST_OK(strata_spec_create_optimizer_named(s, "generator", g, &og));
    ST_OK(strata_spec_create_optimizer_named(s, "discriminator", d, &od));
    assert_string_equal(strata_optimizer_type_name(og), "adam");
    assert_string_equal(strata_optimizer_type_name(od), "sgd");
    int nd = 0;
    assert_int_equal(strata_model_output_shape(g, 0, &nd)[0], 6);
    assert_int_equal(strata_model_output_shape(d, 0, &nd)[0], 1);
    const char *loss = NULL;
    ST_OK(strata_spec_get_string(s, "gan.loss", NULL, &loss));
    assert_string_equal(loss, "hinge");
    /* no main model in a two-model spec */
    assert_int_equal(strata_spec_build_model(s, f->dev, &m), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("strata_spec_build_named");
    assert_int_equal(strata_spec_build_named(s, "critic", f->dev, &m), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("no 'critic' section");
    strata_optimizer_destroy(og);
    strata_optimizer_destroy(od);
    strata_model_destroy(g);
    strata_model_destroy(d);
    strata_spec_destroy(s);
    /* one of the two models missing; an error inside a named model names its path */
    expect_parse_error(f, "task: gan\ngenerator:\n  model: {input: [4], layers: [{type: linear, out_features: 6}]}\n",
                       STRATA_E_FORMAT, "both 'generator' and 'discriminator'", NULL);
    /* without task: gan, a generator is a key no trainer would read */
    expect_parse_error(f, "generator:\n  model: {input: [4], layers: [{type: linear, out_features: 6}]}\n",
                       STRATA_E_FORMAT, "generator is read only for task: gan",
                       "this spec is task: classification");
    expect_parse_error(f,
                       "task: gan\ngenerator:\n  model: {input: [4], layers: [{type: linear, out_features: 6}]}\n"
                       "discriminator:\n  model: {input: [6], layers: 3}\n",
                       STRATA_E_FORMAT, "discriminator.model.layers expects a non-empty list", NULL);
    expect_parse_error(f,
                       "task: gan\ngenerator:\n  model: {input: [4], layers: [{type: linear, out_features: 6}]}\n"
                       "  optimiser: {type: sgd}\n"
                       "discriminator:\n  model: {input: [6], layers: [{type: linear, out_features: 1}]}\n",
                       STRATA_E_FORMAT, "optimiser", NULL);
}

/* data.mean and data.std: a number, or a list of one per channel (torchvision's Normalize); each value
 * checked as the number is, both lists the same length. */
static void data_norm_lists(void **state)
{
    fixture *f = *state;
    static const char *model =
        "model: {input: [3, 2, 2], layers: [{type: flatten}, {type: linear, out_features: 2}]}\n";
    char text[1024];
    snprintf(text, sizeof text, "data: {train: {images: a, labels: b}, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 1]}\n%s",
             model);
    strata_spec *s = NULL;
    ST_OK(parse(f, text, "ok.yaml", &s));
    double v = 0;
    ST_OK(strata_spec_get_float(s, "data.std.1", 1.0, &v));
    assert_float_equal(v, 0.25, 0);
    strata_spec_destroy(s);
    snprintf(text, sizeof text, "data: {train: {images: a, labels: b}, mean: [0.5, 0.4, 0.3], std: 0.5}\n%s", model);
    ST_OK(parse(f, text, "ok.yaml", &s)); /* one std for every channel */
    strata_spec_destroy(s);
    static const struct {
        const char *data, *needle;
    } bad[] = {
        {"mean: [0.5, 0.4], std: [0.2, 0.25, 1]", "bad.yaml:1: data.std has 3 values and data.mean 2"},
        {"std: [0.2, 0, 1]", "data.std.1 must be greater than 0, got 0"},
        {"mean: [0.5, x]", "data.mean.1 expects a number, got"},
        {"mean: [0.5, .nan]", "data.mean.1 must be a finite number"},
        {"mean: []", "data.mean is a number or a list of 1 to 64 numbers (one per channel), got 0"},
        {"std: [[1]]", "data.std.0 expects a number"},
        {"std: {r: 1}", "data.std expects a number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(text, sizeof text, "data: {train: {images: a, labels: b}, %s}\n%s", bad[k].data, model);
        expect_parse_error(f, text, STRATA_E_FORMAT, bad[k].needle, NULL);
    }
    /* data.format: safetensors takes them too */
    snprintf(text, sizeof text, "data: {format: safetensors, train: {file: a}, std: [1, -1, 1]}\n%s", model);
    expect_parse_error(f, text, STRATA_E_FORMAT, "data.std.1 must be greater than 0, got -1", NULL);
}

/* A YAML merge key is refused where it stands (the layer lacked its keys: "has no 'type'"); a quoted "<<"
 * is an ordinary key, refused as unknown. */
static void yaml_merge_keys(void **state)
{
    fixture *f = *state;
    expect_parse_error(f, "model:\n  input: [4]\n  layers:\n    - &l {type: linear, out_features: 16}\n"
                          "    - {<<: *l, out_features: 10}\n",
                       STRATA_E_FORMAT, "bad.yaml:5:8: YAML merge keys (<<) are not supported in a spec", NULL);
    expect_parse_error(f, "model: {input: [4], layers: [{type: relu}]}\ntrain: {\"<<\": 1}\n", STRATA_E_FORMAT,
                       "'<<'", NULL);
    /* empty lists of names meant the default quietly */
    expect_parse_error(f, "model: {input: [4], layers: [{type: relu, inputs: []}]}\n", STRATA_E_FORMAT,
                       "bad.yaml:1: layer 0 (relu): inputs is an empty list: name at least one, or leave the key out",
                       NULL);
    expect_parse_error(f, "model: {input: [4], layers: [{type: relu}], outputs: []}\n", STRATA_E_FORMAT,
                       "model.outputs is an empty list", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_model_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_of_other_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(data_norm_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(yaml_merge_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(valid_spec_builds_model, setup, teardown),
        cmocka_unit_test_setup_teardown(set_layer_int_of_default, setup, teardown),
        cmocka_unit_test_setup_teardown(flatten_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(loss_layer_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(forward_shape_message, setup, teardown),
        cmocka_unit_test_setup_teardown(layer_values_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(shipped_w1_spec_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(named_inputs_and_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(get_paths_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_yaml, setup, teardown),
        cmocka_unit_test_setup_teardown(deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_file, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_types, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_kinds_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_required_attribute, setup, teardown),
        cmocka_unit_test_setup_teardown(shape_mismatch_has_context, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_references, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
