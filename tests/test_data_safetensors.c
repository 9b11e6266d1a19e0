/* test_data_safetensors.c - data sets from safetensors files
 * (strata_dataset_load_safetensors, data.format: safetensors):
 *
 *   - every number dtype converts exactly (U8 ... F64, F16, BF16, BOOL),
 *     divided by the scale; labels of every integer dtype;
 *   - bad files and tensors fail with the file, the tensor and the values;
 *   - end to end: a classifier trained on the same images as IDX files and
 *     as a safetensors file (U8, data.scale 255) gives the same records;
 *     eval, predict and an autoencoder take the safetensors spec too, and
 *     predict --data classifies every example of a file (--csv: all the
 *     probabilities), as --input N does each;
 *   - strata_dataset_normalize_channels, channel by channel.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char dir[512];

static strata_status load(const char *name, const char *x, const char *y, double scale, strata_dataset **d)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *d = NULL;
    return strata_dataset_load_safetensors(path, x, y, scale, d);
}

static const int64_t labels3[3] = {0, 2, 1};

/* Every number dtype: the values read back exactly, divided by the scale. */
static void test_dtypes(void **state)
{
    (void)state;
    static const uint8_t u8[6] = {0, 1, 2, 127, 128, 255};
    static const int8_t i8[6] = {-128, -1, 0, 1, 2, 127};
    static const uint16_t u16[6] = {0, 1, 300, 1000, 40000, 65535};
    static const int16_t i16[6] = {-32768, -300, 0, 1, 300, 32767};
    static const uint32_t u32[6] = {0, 1, 70000, 1000000, 4000000000u, 7};
    static const int32_t i32[6] = {-2000000, -1, 0, 1, 70000, 2000000};
    static const uint64_t u64[6] = {0, 1, 2, 3, 1ull << 40, 5};
    static const int64_t i64[6] = {-(1ll << 40), -1, 0, 1, 2, 1ll << 40};
    /* 1, -2, 0.5, 65504 (the largest), 2^-24 (the smallest subnormal), -0 */
    static const uint16_t f16[6] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000};
    static const uint16_t bf16[6] = {0x3F80, 0xC000, 0x3F00, 0x4780, 0x0000, 0xBF80}; /* 1, -2, 0.5, 65536, 0, -1 */
    static const float f32[6] = {0.25f, -1.5f, 3.0f, 1e-3f, -7.0f, 1e6f};
    static const double f64[6] = {0.125, -2.5, 1e-6, 3.0, 1e10, -0.0};
    static const uint8_t bools[6] = {0, 1, 1, 0, 0, 1};
    static const double want[][6] = {
        {0, 1, 2, 127, 128, 255},
        {-128, -1, 0, 1, 2, 127},
        {0, 1, 300, 1000, 40000, 65535},
        {-32768, -300, 0, 1, 300, 32767},
        {0, 1, 70000, 1000000, 4000000000.0, 7},
        {-2000000, -1, 0, 1, 70000, 2000000},
        {0, 1, 2, 3, 1099511627776.0, 5},
        {-1099511627776.0, -1, 0, 1, 2, 1099511627776.0},
        {1, -2, 0.5, 65504, 5.9604644775390625e-8, -0.0},
        {1, -2, 0.5, 65536, 0, -1},
        {0.25, -1.5, 3.0, 1e-3, -7.0, 1e6},
        {0.125, -2.5, 1e-6, 3.0, 1e10, -0.0},
        {0, 1, 1, 0, 0, 1},
    };
    static const struct {
        const char *dtype;
        const void *data;
        size_t size;
    } x[] = {{"U8", u8, 1},   {"I8", i8, 1},   {"U16", u16, 2}, {"I16", i16, 2}, {"U32", u32, 4},
             {"I32", i32, 4}, {"U64", u64, 8}, {"I64", i64, 8}, {"F16", f16, 2}, {"BF16", bf16, 2},
             {"F32", f32, 4}, {"F64", f64, 8}, {"BOOL", bools, 1}};
    /* the labels in each integer dtype: 0, 2, 1 */
    static const uint8_t lu8[3] = {0, 2, 1};
    static const int32_t li32[3] = {0, 2, 1};
    static const uint64_t lu64[3] = {0, 2, 1};
    static const int16_t li16[3] = {0, 2, 1};
    static const struct {
        const char *dtype;
        const void *data;
        size_t size;
    } y[] = {{"U8", lu8, 1}, {"I32", li32, 4}, {"U64", lu64, 8}, {"I16", li16, 2}, {"I64", labels3, 8}};
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) {
        const size_t l = k % (sizeof y / sizeof y[0]);
        const tu_sft_tensor t[2] = {
            {"y", y[l].dtype, 1, {3}, y[l].data, 3 * y[l].size},
            {"x", x[k].dtype, 3, {3, 2, 1}, x[k].data, 6 * x[k].size},
        };
        tu_write_sft(dir, "d.safetensors", t, 2);
        strata_dataset *d = NULL;
        if (load("d.safetensors", "x", "y", 4.0, &d))
            fail_msg("%s inputs, %s labels: %s", x[k].dtype, y[l].dtype, strata_last_error());
        assert_int_equal(strata_dataset_size(d), 3);
        int nd = 0;
        const int64_t *shape = strata_dataset_shape(d, &nd);
        assert_int_equal(nd, 2);
        assert_int_equal(shape[0], 2);
        assert_int_equal(shape[1], 1);
        assert_int_equal(strata_dataset_classes(d), 3);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(strata_dataset_y(d, i), labels3[i]);
            for (int j = 0; j < 2; j++) {
                const float got = strata_dataset_x(d, i)[j], w = (float)(want[k][2 * i + j] / 4.0);
                if (got != w || signbit(got) != signbit(w))
                    fail_msg("%s: value %d is %.9g, expected %.9g", x[k].dtype, 2 * i + j, got, w);
            }
        }
        strata_dataset_destroy(d);
    }
}

static void expect_load_error(const char *x, const char *y, strata_status want, const char *needle,
                              const char *needle2)
{
    strata_dataset *d = NULL;
    const strata_status st = load("bad.safetensors", x, y, 1.0, &d);
    if (st != want)
        fail_msg("expected %s, got %s: %s", strata_status_name(want), strata_status_name(st), strata_last_error());
    assert_null(d);
    tu_assert_error_contains(needle);
    if (needle2)
        tu_assert_error_contains(needle2);
}

/* Bad files and tensors: the file, the tensor and the values named. */
static void test_bad_tensors(void **state)
{
    (void)state;
    static const float xs[6] = {0, 1, 2, 3, 4, 5};
    static const float nan6[6] = {0, 1, NAN, 3, 4, 5};
    static const int8_t neg[3] = {0, -1, 1};
    static const uint64_t huge[3] = {0, 1ull << 63, 1};
    static const uint8_t f8[6] = {0};
    const tu_sft_tensor good_x = {"x", "F32", 2, {3, 2}, xs, sizeof xs}, good_y = {"y", "I64", 1, {3}, labels3, 24};
    struct {
        tu_sft_tensor t[2];
        const char *x;
        strata_status st;
        const char *needle, *needle2;
    } bad[] = {
        {{good_x, good_y}, "inputs", STRATA_E_NOT_FOUND, "bad.safetensors: no tensor 'inputs' (the inputs)",
         "the file has 'x', 'y'"},
        {{good_x, {"labels", "I64", 1, {3}, labels3, 24}}, "x", STRATA_E_NOT_FOUND, "no tensor 'y' (the labels)",
         NULL},
        {{good_x, {"y", "F32", 1, {3}, xs, 12}}, "x", STRATA_E_FORMAT, "tensor 'y' (the labels) is F32",
         "an integer dtype"},
        {{good_x, {"y", "I64", 2, {3, 1}, labels3, 24}}, "x", STRATA_E_SHAPE, "'y' (the labels) has shape (3, 1)",
         "labels are 1-D"},
        {{{"x", "F32", 2, {2, 3}, xs, sizeof xs}, good_y}, "x", STRATA_E_SHAPE,
         "tensor 'x' has 2 examples but 'y' has 3 labels", NULL},
        {{good_x, {"y", "I8", 1, {3}, neg, 3}}, "x", STRATA_E_FORMAT, "label 1 of 'y' is -1", "integers in [0, 2^63)"},
        {{{"x", "F32", 2, {3, 2}, nan6, sizeof nan6}, good_y}, "x", STRATA_E_FORMAT,
         "value 2 of 'x' (example 1) is NaN", "inputs must be finite"},
        {{{"x", "F32", 0, {0}, xs, 4}, good_y}, "x", STRATA_E_SHAPE, "tensor 'x' (the inputs) is a scalar", NULL},
        {{good_x, {"y", "U64", 1, {3}, huge, 24}}, "x", STRATA_E_FORMAT, "label 1 of 'y' is 9.2233720368547758e+18",
         "labels are integers in [0, 2^63)"},
        {{{"x", "F32", 2, {0, 2}, xs, 0}, {"y", "I64", 1, {0}, labels3, 0}}, "x", STRATA_E_SHAPE,
         "tensor 'x' (the inputs) has shape (0, 2): no examples", NULL},
        {{{"x", "F32", 2, {3, 0}, xs, 0}, good_y}, "x", STRATA_E_SHAPE,
         "tensor 'x' (the inputs) has shape (3, 0): examples of no values", NULL},
        {{{"x", "F8_E4M3", 2, {3, 2}, f8, 6}, good_y}, "x", STRATA_E_FORMAT, "tensor 'x' (the inputs) is F8_E4M3",
         "inputs are numbers"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tu_write_sft(dir, "bad.safetensors", bad[k].t, 2);
        expect_load_error(bad[k].x, "y", bad[k].st, bad[k].needle, bad[k].needle2);
    }
}

static void test_missing_and_damaged_files(void **state)
{
    (void)state;
    strata_dataset *d = NULL;
    assert_int_equal(load("absent.safetensors", "x", "y", 1.0, &d), STRATA_E_IO);
    tu_assert_error_contains("absent.safetensors: cannot open");
    tu_write_file(dir, "torn.safetensors", "\x40\0\0\0\0\0\0\0{\"x\":", 13);
    assert_int_equal(load("torn.safetensors", "x", "y", 1.0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains("torn.safetensors");
    assert_null(d);
    assert_int_equal(load("absent.safetensors", "x", "y", 0.0, &d), STRATA_E_INVALID);
    tu_assert_error_contains("scale 0 must be positive");
}

/* 60 8x8 images of three classes (bars in three directions) with noise,
 * as IDX files and as one safetensors file of U8 pixels. */
static void write_images(void)
{
    enum { N = 60, S = 8 };
    static uint8_t img[16 + N * S * S], lbl[8 + N];
    static int64_t y64[N];
    tu_put_be32(img, 0x0803), tu_put_be32(img + 4, N), tu_put_be32(img + 8, S), tu_put_be32(img + 12, S);
    tu_put_be32(lbl, 0x0801), tu_put_be32(lbl + 4, N);
    for (int i = 0; i < N; i++) {
        const int cls = i % 3, pos = 1 + (i / 3) % 6;
        uint8_t *p = img + 16 + i * S * S;
        for (int k = 0; k < S * S; k++)
            p[k] = (uint8_t)((i * 37 + k * 11) % 40);
        for (int k = 0; k < S; k++)
            p[cls == 0 ? k * S + pos : cls == 1 ? pos * S + k : k * S + k] = 220;
        lbl[8 + i] = (uint8_t)cls;
        y64[i] = cls;
    }
    tu_write_file(dir, "images.idx", img, sizeof img);
    tu_write_file(dir, "labels.idx", lbl, sizeof lbl);
    const tu_sft_tensor t[2] = {{"images", "U8", 3, {N, S, S}, img + 16, N * S * S},
                             {"classes", "I64", 1, {N}, y64, sizeof y64}};
    tu_write_sft(dir, "fashion.safetensors", t, 2);
}

static void write_spec(const char *name, const char *data, const char *task)
{
    char text[2048];
    const int n = snprintf(text, sizeof text,
                           "seed: 5\n%s"
                           "data:\n%s"
                           "  mean: 0.1\n  std: 0.3\n"
                           "model:\n  input: [1, 8, 8]\n  layers:\n"
                           "    - {type: flatten}\n    - {type: linear, out_features: 16}\n    - {type: relu}\n"
                           "    - {type: linear, out_features: %s}\n"
                           "optimizer: {type: sgd, lr: 0.1, momentum: 0.9}\n"
                           "train: {epochs: 3, batch_size: 10}\n",
                           task, data, task[0] ? "64" : "3");
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, name, text, (size_t)n);
}

/* The same images from IDX and from safetensors train the same model. */
static void test_train_on_safetensors(void **state)
{
    (void)state;
    write_images();
    write_spec("idx.yaml",
               "  train: {images: images.idx, labels: labels.idx}\n"
               "  test: {images: images.idx, labels: labels.idx}\n",
               "");
    write_spec("sft.yaml",
               "  format: safetensors\n"
               "  train: {file: fashion.safetensors, inputs: images, labels: classes}\n"
               "  test: {file: fashion.safetensors, inputs: images, labels: classes}\n"
               "  scale: 255\n"
               "  classes: [vertical, horizontal, diagonal]\n",
               "");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "train idx.yaml --out ri --backend ref --quiet"));
    tu_expect_cli_ok(dir, tu_run_clif(dir, "train sft.yaml --out rs --backend ref --quiet"));
    char *a = tu_metrics(dir, "ri"), *b = tu_metrics(dir, "rs");
    if (strcmp(a, b) != 0)
        fail_msg("the safetensors run differs from the IDX run:\n--- idx\n%s--- safetensors\n%s", a, b);
    assert_int_equal(tu_count(b, "\"batch_loss\""), 18);
    free(a);
    free(b);
    /* eval and predict read the test set from the file */
    tu_expect_cli_ok(dir, tu_run_clif(dir, "eval sft.yaml --checkpoint rs --backend ref"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "test accuracy"));
    free(out);
    tu_expect_cli_ok(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --input 2 --backend ref"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "(label 2 diagonal): 2 diagonal"))
        fail_msg("predict printed: %s", out);
    free(out);
    /* predict --data: every example of a file (here the test set's), as --input N gives each */
    char args[4096] = "predict sft.yaml --checkpoint rs --backend ref --top 3";
    for (int i = 0; i < 60; i++)
        snprintf(args + strlen(args), sizeof args - strlen(args), " --input %d", i);
    tu_expect_cli_ok(dir, tu_run_clif(dir, "%s", args));
    char *by_index = tu_slurp(dir, "out");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --backend ref --data fashion.safetensors "
                                           "--csv p.csv"));
    char *by_data = tu_slurp(dir, "out");
    const char *x = by_index, *y = by_data;
    for (int i = 0; i < 60; i++) { /* "test image I (label L name): top..." against "example I: top..." */
        char want[32];
        snprintf(want, sizeof want, "example %d:", i);
        assert_true(!strncmp(y, want, strlen(want)));
        x = strstr(x, "): ") + 3, y += strlen(want) + 1;
        const size_t n = (size_t)(strchr(x, '\n') - x);
        if (strncmp(x, y, n + 1))
            fail_msg("example %d: --data gives '%.*s', --input gave '%.*s'", i, (int)n, y, (int)n, x);
        x += n + 1, y += n + 1;
    }
    free(by_index);
    free(by_data);
    char *csv = tu_slurp(dir, "p.csv");
    assert_non_null(csv);
    assert_int_equal(tu_count(csv, "\n"), 61);
    assert_true(!strncmp(csv, "source,prediction,vertical,horizontal,diagonal\nexample 0,0,", 45));
    /* a reader that goes away before the end (`| head`): the CSV is written whole all the same, and no
     * p2.csv.tmp.PID is left behind (SIGPIPE used to end the command in the middle) */
    char cmd[2 * PATH_MAX + 512], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' predict sft.yaml --checkpoint rs --backend ref --data "
             "fashion.safetensors --csv p2.csv | true; ls | grep -c '[.]tmp[.]' >tmps", dir, bin);
    assert_int_not_equal(system(cmd), -1);
    char *csv2 = tu_slurp(dir, "p2.csv"), *tmps = tu_slurp(dir, "tmps");
    assert_non_null(csv2);
    assert_string_equal(csv2, csv);
    assert_string_equal(tmps, "0\n");
    free(csv2);
    free(tmps);
    free(csv);
    /* --inputs names another tensor; bad uses */
    tu_expect_cli_err(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --data fashion.safetensors --inputs "
                                            "classes"),
                      1, "tensor 'classes' holds 1 values per example; the model takes 64");
    tu_expect_cli_err(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --input 0 --inputs images"), 2,
                      "--inputs names a tensor of --data FILE");
    tu_expect_cli_err(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --data absent.safetensors"), 1,
                      "reading --data absent.safetensors");
    tu_expect_cli_err(dir, tu_run_clif(dir, "predict sft.yaml --checkpoint rs --data fashion.safetensors --csv "
                                            "no/such/dir/p.csv"),
                      1, "cannot write no/such/dir/p.csv: No such file or directory");
    char *none = tu_slurp(dir, "out"); /* said before the work: nothing classified (it was, then refused) */
    assert_non_null(none);
    assert_string_equal(none, "");
    free(none);

    /* an autoencoder on the same file (data.format: safetensors, task: autoencoder) */
    write_spec("ae.yaml",
               "  format: safetensors\n"
               "  train: {file: fashion.safetensors, inputs: images, labels: classes}\n"
               "  test: {file: fashion.safetensors, inputs: images, labels: classes}\n"
               "  scale: 255\n",
               "task: autoencoder\n");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "train ae.yaml --out ra --backend ref --quiet --epochs 1 "
                                           "--set model.input=[64]"));
    out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "test reconstruction MSE"));
    free(out);
    /* an autoencoder needs no labels: a file of flat examples and nothing else */
    static float flat[40 * 64];
    for (int i = 0; i < 40 * 64; i++)
        flat[i] = (float)((i * 7) % 13) / 13.0f;
    const tu_sft_tensor only[1] = {{"inputs", "F32", 2, {40, 64}, flat, sizeof flat}};
    tu_write_sft(dir, "flat.safetensors", only, 1);
    write_spec("aeflat.yaml",
               "  format: safetensors\n  train: {file: flat.safetensors}\n  test: {file: flat.safetensors}\n",
               "task: autoencoder\n");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "train aeflat.yaml --out rf --backend ref --quiet --epochs 2 "
                                           "--set model.input=[64]"));
    out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "test reconstruction MSE"));
    free(out);
    tu_expect_cli_err(dir, tu_run_clif(dir, "train aeflat.yaml --out rb --set model.input=[64] "
                                            "--set train.batch_size=50"),
                      1, "train.batch_size 50 is more than the 40 training examples");
    /* one training example: no PCA baseline to fit, which is said, and the run still ends well (it failed after
     * training) with pca_mse null */
    const tu_sft_tensor single[1] = {{"inputs", "F32", 2, {1, 64}, flat, 64 * sizeof(float)}};
    tu_write_sft(dir, "one.safetensors", single, 1);
    write_spec("aeone.yaml",
               "  format: safetensors\n  train: {file: one.safetensors}\n  test: {file: one.safetensors}\n",
               "task: autoencoder\n");
    tu_expect_cli_ok(dir, tu_run_clif(dir, "train aeone.yaml --out r1 --backend ref --quiet --epochs 1 "
                                           "--set model.input=[64] --set train.batch_size=1"));
    out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "no PCA baseline"));
    free(out);
    out = tu_slurp(dir, "err");
    assert_non_null(strstr(out, "no PCA baseline to compare with: fewer than 2 training examples"));
    free(out);
    out = tu_slurp(dir, "r1/summary.json");
    assert_non_null(strstr(out, "\"pca_mse\": null"));
    free(out);
    /* a GAN makes images: a flat generator is refused before training */
    static const char gan[] = "task: gan\n"
                              "data: {format: safetensors, train: {file: flat.safetensors}}\n"
                              "generator: {model: {input: [4], layers: [{type: linear, out_features: 64}]}}\n"
                              "discriminator: {model: {input: [64], layers: [{type: linear, out_features: 1}]}}\n"
                              "train: {steps: 3, batch_size: 8}\n";
    tu_write_text(dir, "gan.yaml", gan);
    tu_expect_cli_err(dir, tu_run_clif(dir, "train gan.yaml --out rg"), 1,
                      "the generator's output has 1 dimension(s); a GAN here makes images");
    /* the file's tensors, named wrongly: the file, the name and what is there */
    tu_expect_cli_err(dir, tu_run_clif(dir, "train sft.yaml --out rx --set data.train.inputs=pixels"), 1,
                      "fashion.safetensors: no tensor 'pixels' (the inputs); the file has 'images', 'classes'");
    /* the tensors' default names: inputs and labels */
    write_spec("names.yaml", "  format: safetensors\n  train: {file: fashion.safetensors}\n", "");
    tu_expect_cli_err(dir, tu_run_clif(dir, "train names.yaml --out ry"), 1, "no tensor 'inputs' (the inputs)");
    tu_expect_cli_err(dir, tu_run_clif(dir, "train sft.yaml --out rz --set data.train.images=x"), 1,
                      "unknown key 'images' in data.train");
}

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "sftdata");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* strata_dataset_normalize_channels: each channel of (C, H, W) examples by
 * its own mean and std, as torchvision's Normalize; one value is
 * strata_dataset_normalize; wrong counts and shapes are refused. */
static void test_normalize_channels(void **state)
{
    (void)state;
    float x[2 * 6];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    const int64_t y[2] = {0, 1}, shape[3] = {3, 1, 2};
    strata_dataset *d = NULL;
    assert_int_equal(strata_dataset_from_host(2, 3, shape, x, y, &d), STRATA_OK);
    const double mean[3] = {1, 2, 3}, sd[3] = {1, 2, 4};
    assert_int_equal(strata_dataset_normalize_channels(d, 3, mean, sd), STRATA_OK);
    for (int e = 0; e < 2; e++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 2; k++) {
                const int i = e * 6 + c * 2 + k;
                assert_float_equal(strata_dataset_x(d, e)[c * 2 + k], (i - mean[c]) / sd[c], 1e-6);
            }
    /* one value: as strata_dataset_normalize */
    assert_int_equal(strata_dataset_normalize_channels(d, 1, mean, sd), STRATA_OK);
    assert_float_equal(strata_dataset_x(d, 1)[5], (11 - 3) / 4.0 - 1, 1e-6);
    /* 2 values for 3 channels; a std of 0; a NaN mean */
    assert_int_equal(strata_dataset_normalize_channels(d, 2, mean, sd), STRATA_E_SHAPE);
    tu_assert_error_contains("2 means and stds, one per channel, need (C, H, W) examples with C = 2 channels; the "
                             "examples are (3, 1, 2): give as many means and stds as their first dimension");
    const double zero[3] = {1, 0, 1}, nan_mean[3] = {0, NAN, 0};
    assert_int_equal(strata_dataset_normalize_channels(d, 3, mean, zero), STRATA_E_INVALID);
    tu_assert_error_contains("std must be positive and finite (got mean 2, std 0, a channel's)");
    assert_int_equal(strata_dataset_normalize_channels(d, 3, nan_mean, sd), STRATA_E_INVALID);
    assert_int_equal(strata_dataset_normalize_channels(d, 0, mean, sd), STRATA_E_INVALID);
    assert_int_equal(strata_dataset_normalize_channels(d, 3, NULL, sd), STRATA_E_INVALID);
    strata_dataset_destroy(d);
    /* examples that are not (C, H, W): (6) */
    assert_int_equal(strata_dataset_from_host(2, 1, (const int64_t[]){6}, x, y, &d), STRATA_OK);
    assert_int_equal(strata_dataset_normalize_channels(d, 6, (const double[6]){0}, (const double[6]){1, 1, 1, 1, 1, 1}),
                     STRATA_E_SHAPE);
    tu_assert_error_contains("the examples are (6)");
    strata_dataset_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_missing_and_damaged_files),
        cmocka_unit_test(test_train_on_safetensors),
        cmocka_unit_test(test_normalize_channels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
