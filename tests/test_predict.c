/* test_predict.c - `strata predict` end to end. A linear classifier is
 * trained (ref backend) on a synthetic 8x8 IDX set of three classes, then
 * asked about test-set images (--input N) and about the same images saved
 * as PNG files: gray, RGB, inverted (--invert), and RGB for a 3-channel
 * model. The PNG path must give exactly what the test-set path gives (same
 * pixels, same scaling, same probabilities to the printed digit), with the
 * spec's data.classes as names. Bad input (a PNG of the wrong size, a file
 * that is not a PNG, an index past the set, no images, a run directory as
 * the checkpoint, names that do not match the model, a model whose input is
 * not an image, a spec of another kind) is a clear error, never a crash.
 * `strata eval --per-class` reports the same model class by class;
 * data.val_fraction and train.keep_best hold out a validation set and keep
 * the epoch that did best on it. */
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 24
#define SIDE 8
#define PLANE (SIDE * SIDE)

static char dir[256];
static uint8_t pixels[2][N][3 * PLANE]; /* [gray, rgb set][image][(C, H, W)] */

/* <prefix>x.idx and <prefix>y.idx: class 0 a bright left part, 1 a bright
 * right part, 2 a bright top part, over a background that varies with the
 * image (and the channel). */
static void write_set(const char *prefix, int set, int channels)
{
    uint8_t x[20 + N * 3 * PLANE], y[8 + N];
    const int hdr = channels == 1 ? 16 : 20;
    tu_put_be32(x, channels == 1 ? 0x0803 : 0x0804), tu_put_be32(x + 4, N);
    if (channels > 1)
        tu_put_be32(x + 8, (uint32_t)channels);
    tu_put_be32(x + hdr - 8, SIDE), tu_put_be32(x + hdr - 4, SIDE);
    tu_put_be32(y, 0x0801), tu_put_be32(y + 4, N);
    for (int i = 0; i < N; i++) {
        int cls = i % 3;
        y[8 + i] = (uint8_t)cls;
        for (int c = 0; c < channels; c++)
            for (int r = 0; r < SIDE; r++)
                for (int q = 0; q < SIDE; q++) {
                    int bright = cls == 0 ? q < 3 : cls == 1 ? q >= 5 : r < 3;
                    int v = bright ? 180 + (i * 7 + c * 11 + r + q) % 70 : (i * 13 + c * 5 + r * q) % 60;
                    pixels[set][i][c * PLANE + r * SIDE + q] = (uint8_t)v;
                }
        memcpy(x + hdr + (size_t)i * channels * PLANE, pixels[set][i], (size_t)channels * PLANE);
    }
    char name[64];
    snprintf(name, sizeof name, "%sx.idx", prefix);
    tu_write_file(dir, name, x, (size_t)hdr + (size_t)N * channels * PLANE);
    snprintf(name, sizeof name, "%sy.idx", prefix);
    tu_write_file(dir, name, y, sizeof y);
}

static void write_spec_norm(const char *name, const char *prefix, const char *input, const char *extra,
                            const char *norm)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "name: predict-tiny\nseed: 3\n"
                     "data:\n  format: idx\n"
                     "  train: {images: %s/%sx.idx, labels: %s/%sy.idx}\n"
                     "  test: {images: %s/%sx.idx, labels: %s/%sy.idx}\n"
                     "  scale: 255\n%s%s"
                     "model:\n  input: %s\n  layers:\n    - {type: flatten}\n    - {type: linear, out_features: 3}\n"
                     "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.005}\n"
                     "train: {epochs: 1, batch_size: 4}\n",
                     dir, prefix, dir, prefix, dir, prefix, dir, prefix, norm, extra, input);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, name, text, (size_t)n);
}

static void write_spec(const char *name, const char *prefix, const char *input, const char *extra)
{
    write_spec_norm(name, prefix, input, extra, "  mean: 0.3\n  std: 0.35\n");
}

/* dir/name: image @p i of @p set as a PNG of @p channels (1 gray, 3 RGB)
 * from its first channel (model_channels 1) or its three channels. */
static void write_png(const char *name, int set, int i, int model_channels, int channels, int invert)
{
    /* channels: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA; the alpha varies
     * (0 included) and must not change what the model is given */
    uint8_t buf[4 * PLANE];
    const int colour = channels >= 3 ? 3 : 1;
    for (int p = 0; p < PLANE; p++) {
        for (int c = 0; c < colour; c++) {
            int v = pixels[set][i][(model_channels == 3 ? c : 0) * PLANE + p];
            buf[p * channels + c] = (uint8_t)(invert ? 255 - v : v);
        }
        if (channels == 2 || channels == 4)
            buf[p * channels + colour] = (uint8_t)((p * 37 + i) % 256);
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = SIDE;
    img.height = SIDE;
    static const png_uint_32 formats[] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
    img.format = formats[channels];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!png_image_write_to_file(&img, path, 0, buf, 0, NULL))
        fail_msg("writing %s: %s", path, img.message);
}

static int setup(void **state)
{
    (void)state;
    if (tu_make_temp_dir(dir, sizeof dir, "predict"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* The @p k-th "top":[...] array of the JSON in dir/out (malloc'ed). */
static char *answer(int k)
{
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char *s = out;
    for (int j = 0; j <= k && s; j++)
        s = strstr(j ? s + 1 : s, "\"top\":[");
    if (!s || !strchr(s, ']'))
        fail_msg("no answer %d in: %s", k, out);
    char *r = strndup(s, (size_t)(strchr(s, ']') - s));
    free(out);
    return r;
}

/* The PNG of each image answers as its --input does, to the last digit of
 * the probabilities (JSON prints them in full). */
static void expect_same(const char *spec, int set, int model_channels, int png_channels, int invert)
{
    char args[4096];
    int len = snprintf(args, sizeof args, "predict %s --checkpoint run-%s/checkpoint.safetensors --top 3 --json",
                       spec, spec);
    for (int i = 0; i < 6; i++)
        len += snprintf(args + len, sizeof args - (size_t)len, " --input %d", i);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *want[6];
    for (int i = 0; i < 6; i++)
        want[i] = answer(i);
    len = snprintf(args, sizeof args, "predict %s --checkpoint run-%s/checkpoint.safetensors --top 3 --json%s", spec,
                   spec, invert ? " --invert" : "");
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "img%d.png", i);
        write_png(name, set, i, model_channels, png_channels, invert);
        len += snprintf(args + len, sizeof args - (size_t)len, " %s", name);
    }
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    for (int i = 0; i < 6; i++) {
        char *got = answer(i);
        if (strcmp(got, want[i]))
            fail_msg("%s image %d (%d-channel PNG%s): '%s', its --input gives '%s'", spec, i, png_channels,
                     invert ? ", inverted" : "", got, want[i]);
        free(got);
        free(want[i]);
    }
}

static void test_predict(void **state)
{
    (void)state;
    write_set("g", 0, 1);
    write_set("c", 1, 3);
    write_spec("gray.yaml", "g", "[1, 8, 8]", "  classes: [left, right, top]\n");
    write_spec("rgb.yaml", "c", "[3, 8, 8]", "");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train gray.yaml --out run-gray.yaml --backend ref --quiet"));
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train rgb.yaml --out run-rgb.yaml --backend ref --quiet"));

    /* the test-set path: names, labels, probabilities */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--input 0 --input 1 --input 2 --top 2"));
    char *out = tu_slurp(dir, "out");
    static const char *lines[] = {"test image 0 (label 0 left): 0 left (0.", "test image 1 (label 1 right): 1 right (0.",
                                  "test image 2 (label 2 top): 2 top (0."};
    for (size_t k = 0; k < sizeof lines / sizeof *lines; k++)
        if (!strstr(out, lines[k]))
            fail_msg("expected '%s' in:\n%s", lines[k], out);
    assert_int_equal(tu_count(out, "\n"), 3);
    assert_int_equal(tu_count(out, "("), 3 + 6); /* the label's and two classes' per line */
    free(out);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--input 4 --json --top 1"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "{\"predictions\":[{\"index\":4,\"label\":1,\"top\":[{\"class\":1,\"name\":\"right\","
                     "\"probability\":0."))
        fail_msg("unexpected JSON: %s", out);
    free(out);

    /* PNG files: the same answers */
    expect_same("gray.yaml", 0, 1, 1, 0);
    expect_same("gray.yaml", 0, 1, 3, 0); /* RGB of equal channels, read as gray */
    expect_same("gray.yaml", 0, 1, 1, 1); /* inverted, --invert */
    expect_same("rgb.yaml", 1, 3, 3, 0);
    expect_same("gray.yaml", 0, 1, 2, 0); /* with transparency: the alpha is dropped, as PIL drops it */
    expect_same("gray.yaml", 0, 1, 4, 0);
    expect_same("rgb.yaml", 1, 3, 4, 0);
    /* per-channel data.mean and data.std (torchvision's Normalize): the PNG's channels each scaled as the
     * training images' */
    write_spec_norm("rgbn.yaml", "c", "[3, 8, 8]", "", "  mean: [0.2, 0.5, 0.7]\n  std: [0.3, 0.25, 0.4]\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train rgbn.yaml --out run-rgbn.yaml --backend ref --quiet"));
    expect_same("rgbn.yaml", 1, 3, 3, 0);
    /* ... which gray images cannot have: one value per channel of (C, H, W) examples */
    write_spec_norm("grayn.yaml", "g", "[1, 8, 8]", "", "  mean: [0.2, 0.5, 0.7]\n");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train grayn.yaml --out run-grayn.yaml --backend ref --quiet"), 1,
                      "3 means and stds, one per channel, need (C, H, W) examples with C = 3 channels; the examples are");
    /* a run directory stands for its checkpoint */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint run-gray.yaml/ --json img0.png"));
    char *by_dir = tu_slurp(dir, "out");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--json img0.png"));
    out = tu_slurp(dir, "out");
    assert_string_equal(by_dir, out);
    free(by_dir);
    free(out);
    /* a file name that is not UTF-8 is listed with U+FFFD for the byte (it was dropped from the list) */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint run-gray.yaml/ --json img0.png "
                                          "\"$(cp img0.png \"$(printf 'x\\351.png')\" && printf 'x\\351.png')\""));
    out = tu_slurp(dir, "out");
    if (tu_count(out, "\"file\"") != 2 || !strstr(out, "\"file\":\"x\xef\xbf\xbd.png\""))
        fail_msg("expected two predictions, the second for x\\uFFFD.png: %s", out);
    free(out);
    /* without data.classes: class numbers */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict rgb.yaml --checkpoint run-rgb.yaml/checkpoint.safetensors img0.png"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "img0.png: class 0 (0."))
        fail_msg("unexpected: %s", out);
    free(out);
}

/* A classifier trained on arrays (data.format: safetensors) reads a PNG's
 * pixels as its training inputs hold them: F32 in [0, 1] (scale 1) or in
 * [0, 255] (scale 255) answer as their --input does; inputs that are not
 * pixel values (here [-1, 1]) are an error naming their range. */
static void test_predict_png_arrays(void **state)
{
    (void)state;
    write_set("g", 0, 1); /* pixels[0] */
    static float unit[N * PLANE], bytes[N * PLANE], signed_[N * PLANE];
    static int64_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 3;
        for (int p = 0; p < PLANE; p++) {
            const int v = pixels[0][i][p];
            unit[i * PLANE + p] = (float)(v / 255.0);
            bytes[i * PLANE + p] = (float)v;
            signed_[i * PLANE + p] = (float)(v / 127.5 - 1.0);
        }
    }
    static const struct {
        const char *name;
        const float *x;
        const char *scale;
    } sets[3] = {{"unit", unit, ""}, {"bytes", bytes, "  scale: 255\n"}, {"signed", signed_, ""}};
    for (int k = 0; k < 3; k++) {
        const tu_sft_tensor t[2] = {{"inputs", "F32", 4, {N, 1, SIDE, SIDE}, sets[k].x, sizeof unit},
                                    {"labels", "I64", 1, {N}, labels, sizeof labels}};
        char file[64], spec[64], text[1024];
        snprintf(file, sizeof file, "%s.safetensors", sets[k].name);
        tu_write_sft(dir, file, t, 2);
        snprintf(text, sizeof text,
                 "seed: 3\ndata:\n  format: safetensors\n  train: {file: %s/%s}\n  test: {file: %s/%s}\n%s"
                 "  mean: 0.3\n  std: 0.35\n"
                 "model:\n  input: [1, 8, 8]\n  layers:\n    - {type: flatten}\n    - {type: linear, out_features: 3}\n"
                 "optimizer: {type: sgd, lr: 0.005}\ntrain: {epochs: 1, batch_size: 4}\n",
                 dir, file, dir, file, sets[k].scale);
        snprintf(spec, sizeof spec, "%s.yaml", sets[k].name);
        tu_write_text(dir, spec, text);
        char args[256];
        snprintf(args, sizeof args, "train %s --out run-%s --backend ref --quiet", spec, spec);
        tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    }
    expect_same("unit.yaml", 0, 1, 1, 0);
    expect_same("bytes.yaml", 0, 1, 1, 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "predict signed.yaml --checkpoint run-signed.yaml img0.png"), 1,
                      "the training inputs range over [-1, 0.952941], not pixel values in [0, 1] or [0, 255]");
}

/* eval --per-class: a row per class whose counts add up to the test set
 * and whose accuracies give the overall one; --json has the confusion
 * matrix's rows. */
static void test_eval_per_class(void **state)
{
    (void)state;
    tu_expect_cli_ok(dir, tu_run_cli(dir, "eval gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--per-class --backend ref"));
    char *out = tu_slurp(dir, "out");
    double acc = -1;
    assert_int_equal(sscanf(out, "test accuracy: %lf", &acc), 1);
    char *rows = strstr(out, "\nclass ");
    if (!rows || !strstr(rows, " accuracy  examples  most often taken for\n"))
        fail_msg("no per-class table in:\n%s", out);
    rows = strchr(rows + 1, '\n') + 1;
    static const char *names[] = {"left", "right", "top"};
    double right = 0;
    int64_t total = 0;
    for (int k = 0; k < 3; k++) {
        int cls;
        char name[32];
        double a;
        long long n;
        if (sscanf(rows, "%d %31s %lf %lld", &cls, name, &a, &n) != 4 || cls != k || strcmp(name, names[k]))
            fail_msg("row %d of the table: %.60s", k, rows);
        right += a * (double)n;
        total += n;
        rows = strchr(rows, '\n') + 1;
    }
    assert_int_equal(total, N);
    assert_true(fabs(right / (double)N - acc) < 1e-3);
    free(out);

    /* the test labels turned by one class: every row is wrong the same way */
    uint8_t y[8 + N];
    tu_put_be32(y, 0x0801), tu_put_be32(y + 4, N);
    for (int i = 0; i < N; i++)
        y[8 + i] = (uint8_t)((i % 3 + 1) % 3);
    tu_write_file(dir, "turned.idx", y, sizeof y);
    char args[1024];
    snprintf(args, sizeof args, "eval gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors --per-class "
                                "--backend ref --set data.test.labels=%s/turned.idx", dir);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    out = tu_slurp(dir, "out");
    /* the model gets every image right (the classes are far apart), so now every label wrong */
    assert_true(acc == 1.0);
    static const char *rows_turned[] = {" 0.0000         8  2 top (100.0%)\n", " 0.0000         8  0 left (100.0%)\n",
                                        " 0.0000         8  1 right (100.0%)\n"};
    for (int k = 0; k < 3; k++)
        if (!strstr(out, rows_turned[k]))
            fail_msg("expected '%s' in:\n%s", rows_turned[k], out);
    free(out);

    /* more images than one call takes: said so (it was "unexpected argument 'x.png'") */
    char *many = malloc(64 + 1025 * 6);
    assert_non_null(many);
    int used = snprintf(many, 64, "predict gray.yaml --checkpoint run-gray.yaml");
    for (int k = 0; k < 1025; k++)
        used += snprintf(many + used, 7, " x.png");
    tu_expect_cli_err(dir, tu_run_cli(dir, many), 2, "more than 1024 images; give at most 1024 per call");
    free(many);

    /* a class name with letters of two bytes: the columns line up in characters ("%-*s" counted bytes) */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "eval gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--per-class --backend ref --set 'data.classes=[l\xc3\xab" "ft, right, t\xc3\xb6" "p]'"));
    out = tu_slurp(dir, "out");
    rows = strstr(out, "\nclass ");
    assert_non_null(rows);
    int column = -1;
    for (int k = 0; k < 4; k++) { /* the header's "accuracy" and each row's figure end in one column */
        const char *end = k ? strstr(rows, "1.0000") : strstr(rows, "accuracy") + 2;
        assert_non_null(end);
        int chars = 0;
        for (const char *q = rows; q < end; q++)
            chars += ((unsigned char)*q & 0xC0) != 0x80;
        if (column >= 0 && chars != column)
            fail_msg("row %d's accuracy is at column %d, the header's at %d:\n%s", k, chars, column, out);
        column = chars;
        rows = strchr(rows + 1, '\n');
    }
    free(out);

    tu_expect_cli_ok(dir, tu_run_cli(dir, "eval gray.yaml --checkpoint run-gray.yaml/checkpoint.safetensors "
                                          "--per-class --json --backend ref"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "\"per_class\":[{\"class\":0,\"name\":\"left\",\"accuracy\":") ||
        !strstr(out, "{\"class\":2,\"name\":\"top\"") || tu_count(out, "\"predicted\":[") != 3)
        fail_msg("unexpected JSON: %s", out);
    free(out);
}

/* The "best: ..." line of dir/out (malloc'ed). */
static char *best_line(void)
{
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char *b = strstr(out, "best: epoch ");
    if (!b)
        fail_msg("no best line in: %s", out);
    char *r = strndup(b, strcspn(b, "\n"));
    free(out);
    return r;
}

/* data.val_fraction holds out part of data.train and reports it every
 * epoch; train.keep_best keeps the epoch with the best validation accuracy
 * as RUN/best.safetensors, the same after a resume as in one go. */
static void test_keep_best(void **state)
{
    (void)state;
    write_spec("val.yaml", "g", "[1, 8, 8]", "  val_fraction: 0.25\n");
    const char *opts = "--backend ref --quiet --set train.keep_best=val_accuracy --set optimizer.lr=0.05";
    char args[512];
    snprintf(args, sizeof args, "train val.yaml --out vb --epochs 6 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *line = best_line();
    /* the epoch it names has the highest val_accuracy in metrics.jsonl (the first of equals) */
    long long best_epoch;
    const long long epochs = tu_best_record(dir, "vb/metrics.jsonl", "val_accuracy", "epoch", 1, &best_epoch);
    assert_int_equal(epochs, 6);
    assert_true(best_epoch < 6); /* later epochs that do no better leave it alone */
    char want[128];
    snprintf(want, sizeof want, "best: epoch %lld, val_accuracy ", best_epoch);
    if (strncmp(line, want, strlen(want)))
        fail_msg("'%s', but metrics.jsonl has the highest val_accuracy first at epoch %lld", line, best_epoch);
    char *sum = tu_slurp(dir, "vb/summary.json");
    if (!strstr(sum, "\"val_examples\": 6") || !strstr(sum, "\"best\": {"))
        fail_msg("summary.json: %s", sum);
    free(sum);

    /* 3 epochs, then resumed to 6: the same best */
    snprintf(args, sizeof args, "train val.yaml --out vr --epochs 3 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    snprintf(args, sizeof args, "train val.yaml --resume vr --epochs 6 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *resumed = best_line();
    *strchr(resumed, '(') = *strchr(line, '(') = '\0'; /* the run directories differ */
    assert_string_equal(resumed, line);
    /* stopped within an epoch (--steps 7: 5 batches an epoch), then resumed: a part-trained epoch is never
     * the best, so the best (its step too) is the uninterrupted run's */
    snprintf(args, sizeof args, "train val.yaml --out vs --epochs 6 --steps 7 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    snprintf(args, sizeof args, "train val.yaml --resume vs --epochs 6 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *s1 = tu_slurp(dir, "vb/summary.json"), *s2 = tu_slurp(dir, "vs/summary.json");
    char *b1 = strstr(s1, "\"best\""), *b2 = strstr(s2, "\"best\"");
    assert_non_null(b1);
    assert_non_null(b2);
    *strchr(b1, '}') = *strchr(b2, '}') = '\0';
    assert_string_equal(b2, b1);
    free(s1), free(s2);
    /* stopped before any epoch was whole: nothing is the best yet */
    snprintf(args, sizeof args, "train val.yaml --out vp --epochs 6 --steps 3 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *none = tu_slurp(dir, "vp/best.safetensors");
    assert_null(none);
    /* a new run in an old directory does not inherit its best model */
    snprintf(args, sizeof args, "train val.yaml --out vs --epochs 1 %s", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *fresh = best_line();
    if (strncmp(fresh, "best: epoch 1,", 14))
        fail_msg("a new 1-epoch run in vs reports '%s'", fresh);
    free(fresh);
    /* and the two best models test alike */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "eval val.yaml --checkpoint vb/best.safetensors --backend ref"));
    char *e1 = tu_slurp(dir, "out");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "eval val.yaml --checkpoint vr/best.safetensors --backend ref"));
    char *e2 = tu_slurp(dir, "out");
    assert_string_equal(e1, e2);
    free(e1), free(e2), free(line), free(resumed);

    /* train.patience: stops after that many epochs without a better model, and says so */
    snprintf(args, sizeof args, "train val.yaml --out ve --epochs 6 %s --set train.patience=1", opts);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *early = tu_slurp(dir, "out");
    snprintf(want, sizeof want, "stopped early after epoch %lld: no better val_accuracy in 1 epochs", best_epoch + 1);
    if (!strstr(early, want))
        fail_msg("expected '%s' in:\n%s", want, early);
    free(early);
    char *m = tu_slurp(dir, "ve/metrics.jsonl");
    assert_int_equal(tu_count(m, "\"val_accuracy\":"), best_epoch + 1);
    free(m);
    tu_expect_cli_err(dir, tu_run_cli(dir, "train val.yaml --out np --set train.patience=2"), 1,
                      "train.patience counts epochs without a better train.keep_best model");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train gray.yaml --out nb --set train.keep_best=val_accuracy"), 1,
                      "train.keep_best: val_accuracy needs a validation set: set data.val_fraction");
    tu_expect_cli_err(dir, tu_run_cli(dir, "train gray.yaml --out nb --set data.val_fraction=1"), 1,
                      "data.val_fraction is a fraction in [0, 1), got 1");
}

/* An autoencoder whose test set has fewer images than its picture shows
 * (32): until 2026-12-03 the picture read past the end of the set. */
static void test_autoencoder_few_test_images(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "seed: 1\ntask: autoencoder\ndata:\n  format: idx\n  train: {images: %s/gx.idx, labels: %s/gy.idx}\n"
             "  test: {images: %s/gx.idx, labels: %s/gy.idx}\n  scale: 255\nautoencoder: {code_size: 4}\n"
             "model:\n  input: [64]\n  layers:\n    - {type: linear, out_features: 4}\n"
             "    - {type: linear, out_features: 64}\n    - {type: sigmoid}\n"
             "optimizer: {type: adam, lr: 0.01}\ntrain: {epochs: 1, batch_size: 8}\n",
             dir, dir, dir, dir);
    tu_write_text(dir, "ae.yaml", text);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train ae.yaml --out ae --backend ref --quiet"));
    char *out = tu_slurp(dir, "out");
    if (!strstr(out, "ae/reconstructions.png"))
        fail_msg("unexpected: %s", out);
    free(out);
}

typedef struct {
    const char *args;
    int code;
    const char *needle;
} bad_case;

/* dir/@p out: the safetensors file dir/@p in with every data byte after its
 * header NaN (a model of f32 tensors only, as these are). */
static void write_nan_copy(const char *in, const char *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, in);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)size);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = hlen << 8 | b[k];
    const float nan = NAN;
    for (uint64_t at = 8 + hlen; at + 4 <= (uint64_t)size; at += 4)
        memcpy(b + at, &nan, 4);
    tu_write_file(dir, out, b, (size_t)size);
    free(b);
}

static void test_predict_errors(void **state)
{
    (void)state;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = SIDE - 1;
    img.height = SIDE;
    img.format = PNG_FORMAT_GRAY;
    uint8_t zero[PLANE] = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/narrow.png", dir);
    assert_true(png_image_write_to_file(&img, path, 0, zero, 0, NULL));
    tu_write_file(dir, "text.png", "not a png\n", 10);
    write_spec("flat.yaml", "g", "[64]", "  classes: [left, right, top]\n");
    write_spec("dup.yaml", "g", "[1, 8, 8]", "  classes: [left, right, left]\n");
    write_spec("num.yaml", "g", "[1, 8, 8]", "  classes: 3\n");
    const char *ck = "--checkpoint run-gray.yaml/checkpoint.safetensors";
    char lm[PATH_MAX];
    snprintf(lm, sizeof lm, "%s", tu_source_path("models/char-lstm-kjv.yaml"));
    const bad_case cases[] = {
        {"predict gray.yaml %s narrow.png", 1, "narrow.png is 7 x 8 pixels; the model takes 8 x 8"},
        {"predict gray.yaml %s text.png", 1, "text.png: cannot read it as a PNG image"},
        {"predict gray.yaml %s missing.png", 1, "missing.png: cannot read it as a PNG image"},
        {"predict gray.yaml %s --input 24", 1, "--input 24 is out of range: the test set has 24 images (0 to 23)"},
        {"predict gray.yaml %s --input x", 2, "--input must be a whole number"},
        {"predict gray.yaml %s", 2, "nothing to classify: give IMAGE.png files, --input N or --data FILE"},
        {"predict gray.yaml %s --top 0 img0.png", 2, "--top must be a whole number in [1, 100000]"},
        {"predict gray.yaml %s --input 0 --invert", 2, "--invert applies to IMAGE.png files"}, /* was ignored */
        {"predict gray.yaml --checkpoint . img0.png", 1, "checkpoint .: not a regular file (a run directory?"},
        {"predict gray.yaml %s img0.png --set 'data.classes=[a, b]'", 1,
         "data.classes names 2 classes, the model gives 3"},
        {"predict flat.yaml %s narrow.png", 1, "narrow.png is 7 x 8 pixels; the model takes 8 x 8"}, /* the data's */
        {"predict flat.yaml %s narrow.png --set data.test.images=none --set data.train.images=none", 1,
         "narrow.png is 7 x 8 pixels (56 values gray, 168 RGB); the model takes 64 values"}, /* no data to ask */
        {"predict dup.yaml %s img0.png", 1, "data.classes.2: 'left' is also data.classes.0"},
        {"predict num.yaml %s img0.png", 1, "data.classes is a list of class names"},
        {"predict gray.yaml %s img0.png --set data.format=text", 1, "train.epochs is read only for task:"},
    };
    char args[PATH_MAX + 256];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        snprintf(args, sizeof args, cases[k].args, ck);
        tu_expect_cli_err(dir, tu_run_cli(dir, args), cases[k].code, cases[k].needle);
    }
    /* a flat model takes a PNG of as many pixels, as the image model does (the same weights here) */
    snprintf(args, sizeof args, "predict gray.yaml %s img0.png img1.png --json", ck);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *image = tu_slurp(dir, "out");
    snprintf(args, sizeof args, "predict flat.yaml %s img0.png img1.png --json", ck);
    tu_expect_cli_ok(dir, tu_run_cli(dir, args));
    char *flat = tu_slurp(dir, "out");
    assert_string_equal(flat, image);
    free(flat), free(image);
    snprintf(args, sizeof args, "predict %s %s img0.png", lm, ck);
    tu_expect_cli_err(dir, tu_run_cli(dir, args), 1, "predict classifies images (data.format: idx");
    /* no probabilities to rank (before: NaN printed, and an empty list in --json) */
    write_nan_copy("run-gray.yaml/checkpoint.safetensors", "nan.safetensors");
    tu_expect_cli_err(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint nan.safetensors img0.png"), 1,
                      "img0.png: the model's output 0 is nan: the checkpoint's weights are not finite");
    tu_expect_cli_err(dir, tu_run_cli(dir, "predict gray.yaml --checkpoint nan.safetensors --input 1 --json"), 1,
                      "test image 1 (label");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_eval_per_class),
        cmocka_unit_test(test_keep_best),
        cmocka_unit_test(test_autoencoder_few_test_images),
        cmocka_unit_test(test_predict_errors),
        cmocka_unit_test(test_predict_png_arrays),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
