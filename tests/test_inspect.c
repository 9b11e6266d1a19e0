/* test_inspect.c - `strata inspect FILE|RUN`: what a safetensors file holds.
 *
 *   - a checkpoint written by `strata train` of a tiny MLP (a named layer,
 *     BatchNorm with its buffers, Adam): every model tensor's name, shape
 *     and values against what `strata summary SPEC --json` reports for its
 *     layer (parameters + buffers), and the optimizer's two moments per
 *     parameter listed as optimizer state; the text and --json agree;
 *   - a run directory stands for its checkpoint.safetensors;
 *   - --tensors PATTERN (fnmatch) filters, totals and all;
 *   - --stats on a hand-written file with known values (NaN and Inf among
 *     them, an empty tensor, one that is all NaN, an I32 one without stats);
 *   - a file as PyTorch's safetensors.torch.save_file writes it: no
 *     __metadata__, the header padded with spaces, F64 / I8 / BOOL / BF16 /
 *     U8 tensors in the header's own (unsorted) order;
 *   - 19 malformed files, a missing one and two directories without a
 *     checkpoint.safetensors, each exit 1 with a message naming the file and
 *     what is wrong (the entry, the offsets, the sizes); usage errors exit 2. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"
#include "tu_json.h"

#define SIDE 8
#define N_IMAGES 48

static char dir[256];
static int trained; /* run/ holds a checkpoint */

static int setup(void **state)
{
    (void)state;
    if (tu_make_temp_dir(dir, sizeof dir, "inspect"))
        return -1;
    tu_write_bars_idx(dir, N_IMAGES, SIDE);
    tu_write_text(dir, "mlp.yaml",
                  "seed: 1\n"
                  "data:\n  format: idx\n"
                  "  train: {images: images.idx, labels: labels.idx}\n"
                  "  test: {images: images.idx, labels: labels.idx}\n"
                  "  scale: 255\n"
                  "model:\n  input: [1, 8, 8]\n  layers:\n"
                  "    - {type: flatten}\n"
                  "    - {type: linear, out_features: 6, name: hidden}\n"
                  "    - {type: batch_norm1d}\n"
                  "    - {type: relu}\n"
                  "    - {type: linear, out_features: 3}\n"
                  "optimizer: {type: adam, lr: 0.01}\n"
                  "train: {epochs: 1, batch_size: 16}\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* dir/run: `strata train mlp.yaml` once. */
static void train_once(void)
{
    if (trained)
        return;
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train mlp.yaml --out run"));
    trained = 1;
}

/* dir/NAME: the 8-byte length of @p header, @p pad spaces after it (the
 * format allows them: safetensors pads to 8 bytes), then @p len bytes of data. */
static void write_raw(const char *name, const char *header, size_t pad, const void *data, size_t len)
{
    const size_t hlen = strlen(header) + pad, total = 8 + hlen + len;
    uint8_t *buf = malloc(total);
    assert_non_null(buf);
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)((uint64_t)hlen >> (8 * b));
    memcpy(buf + 8, header, strlen(header));
    memset(buf + 8 + strlen(header), ' ', pad);
    if (len)
        memcpy(buf + 8 + hlen, data, len);
    tu_write_file(dir, name, buf, total);
    free(buf);
}

/* `strata inspect ARGS --json`: the object (json_decref it). */
static json_t *inspect_json(const char *args)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "inspect %s --json", args));
    return tu_out_json(dir, args);
}

/* `strata inspect ARGS` (text), its runs of blanks made one and the lines'
 * leading ones dropped, after a '\n': a row reads "\n1.bias F32 [6] 6 24\n". */
static char *inspect_text(const char *args)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "inspect %s", args));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    char *sq = tu_squeeze(out);
    free(out);
    return sq;
}

static void expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' is not in the output:\n%s", needle, text);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("'%s' is not a string", key);
    return s;
}

/* The tensor named @p name of inspect's JSON @p j; NULL when none. */
static const json_t *tensor(const json_t *j, const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(j, "tensors"), i, t)
    {
        if (!strcmp(jstr(t, "name"), name))
            return t;
    }
    return NULL;
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

/* Every tensor of @p j has its row in @p text, and values = the product of
 * its shape, bytes = values x the dtype's size. */
static void expect_rows(const char *text, const json_t *j)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(j, "tensors"), i, t)
    {
        char row[512], shape[128], v[32], b[32];
        long long n = 1;
        const json_t *sh = json_object_get(t, "shape");
        for (size_t d = 0; d < json_array_size(sh); d++)
            n *= (long long)json_integer_value(json_array_get(sh, d));
        assert_int_equal(tu_jint(t, "values"), n);
        const char *dt = jstr(t, "dtype");
        const long long size = !strcmp(dt, "F64") || !strcmp(dt, "I64")   ? 8
                               : !strcmp(dt, "F32") || !strcmp(dt, "I32") ? 4
                               : !strcmp(dt, "BF16") || !strcmp(dt, "F16") ? 2
                                                                           : 1;
        assert_int_equal(tu_jint(t, "bytes"), n * size);
        snprintf(row, sizeof row, "\n%s %s %s %s %s", jstr(t, "name"), dt, tu_jshape(shape, sizeof shape, sh),
                 commas(v, sizeof v, n), commas(b, sizeof b, n * size));
        expect_in(text, row);
    }
}

/* The trained checkpoint against `strata summary`: each layer's parameters
 * and buffers are the values of the model tensors named "LAYER.*". */
static void test_trained_checkpoint(void **state)
{
    (void)state;
    train_once();
    tu_expect_cli_ok(dir, tu_run_cli(dir, "summary mlp.yaml --json"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    json_t *sum = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(sum);
    const json_t *model = json_array_get(json_object_get(sum, "models"), 0);
    assert_non_null(model);
    json_t *j = inspect_json("run/checkpoint.safetensors");
    assert_string_equal(jstr(j, "file"), "run/checkpoint.safetensors");
    struct stat st;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/run/checkpoint.safetensors", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(tu_jint(j, "bytes"), (long long)st.st_size);

    /* every layer's parameters and buffers are its tensors' values */
    const json_t *tensors = json_object_get(j, "tensors"), *layer, *t;
    size_t i, k;
    long long model_values = 0, model_tensors = 0, matched = 0;
    json_array_foreach(json_object_get(model, "layers"), i, layer)
    {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.", jstr(layer, "name"));
        long long values = 0;
        json_array_foreach(tensors, k, t)
        {
            if (!strncmp(jstr(t, "name"), prefix, strlen(prefix))) {
                values += tu_jint(t, "values");
                matched++;
            }
        }
        if (values != tu_jint(layer, "params") + tu_jint(layer, "buffers"))
            fail_msg("layer %s: its tensors hold %lld values, summary says %lld parameters and %lld buffers",
                     jstr(layer, "name"), values, tu_jint(layer, "params"), tu_jint(layer, "buffers"));
    }
    json_array_foreach(tensors, k, t)
    {
        if (strncmp(jstr(t, "name"), "optimizer.", 10) != 0)
            model_values += tu_jint(t, "values"), model_tensors++;
    }
    assert_int_equal(matched, model_tensors); /* no model tensor outside a layer */
    assert_int_equal(model_values, tu_jint(model, "params") + tu_jint(model, "buffers"));
    assert_int_equal(tu_jint(j, "model_values"), model_values);
    assert_int_equal(tu_jint(j, "model_tensors"), model_tensors);
    /* the shapes PyTorch gives the same modules */
    static const struct {
        const char *name, *shape;
    } want[] = {{"hidden.weight", "[6, 64]"}, {"hidden.bias", "[6]"}, {"2.weight", "[6]"}, {"2.bias", "[6]"},
                {"2.running_mean", "[6]"},   {"2.running_var", "[6]"}, {"4.weight", "[3, 6]"}, {"4.bias", "[3]"}};
    char shape[128];
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const json_t *x = tensor(j, want[w].name);
        if (!x)
            fail_msg("no tensor '%s'", want[w].name);
        assert_string_equal(jstr(x, "dtype"), "F32");
        assert_string_equal(tu_jshape(shape, sizeof shape, json_object_get(x, "shape")), want[w].shape);
    }

    /* Adam's two moments of each parameter (not of the buffers) */
    const long long params = tu_jint(model, "params");
    long long opt_values = 0, opt_tensors = 0;
    json_array_foreach(tensors, k, t)
    {
        const char *name = jstr(t, "name");
        if (strncmp(name, "optimizer.", 10) != 0)
            continue;
        opt_values += tu_jint(t, "values"), opt_tensors++;
        char param[256];
        snprintf(param, sizeof param, "%s", name + 10);
        char *slot = strrchr(param, '.');
        assert_non_null(slot);
        *slot++ = '\0';
        if (strcmp(slot, "exp_avg") && strcmp(slot, "exp_avg_sq"))
            fail_msg("optimizer tensor %s: slot '%s'", name, slot);
        const json_t *p = tensor(j, param);
        if (!p)
            fail_msg("optimizer tensor %s: no parameter '%s'", name, param);
        assert_true(json_equal(json_object_get(p, "shape"), json_object_get(t, "shape")));
    }
    assert_int_equal(opt_values, 2 * params);
    assert_int_equal(tu_jint(j, "optimizer_values"), 2 * params);
    assert_int_equal(tu_jint(j, "optimizer_tensors"), opt_tensors);
    assert_int_equal(opt_tensors, 2 * tu_jint(model, "param_tensors"));
    const json_t *meta = json_object_get(j, "metadata");
    assert_string_equal(jstr(meta, "optimizer"), "adam");
    assert_string_equal(jstr(meta, "format"), "strata");
    const char *state_json = jstr(meta, "train.state");
    assert_true(strlen(state_json) > 100); /* shown cut in the text */

    /* the text: every row, model tensors before the optimizer's, the totals */
    char *text = inspect_text("run/checkpoint.safetensors");
    expect_rows(text, j);
    char line[512], a[32], b[32];
    snprintf(line, sizeof line, "\nrun/checkpoint.safetensors: %s bytes (header ", commas(a, sizeof a, st.st_size));
    expect_in(text, line);
    expect_in(text, "\noptimizer = adam\n");
    snprintf(line, sizeof line, "\ntrain.state = %.100s... (%zu characters)\n", state_json, strlen(state_json));
    expect_in(text, line);
    const char *opt = strstr(text, "\noptimizer state (adam):\nname dtype shape values bytes\n");
    assert_non_null(opt);
    const char *first_opt = strstr(text, "\noptimizer.hidden.weight.exp_avg F32 [6, 64] 384 1,536\n");
    assert_true(first_opt > opt);
    expect_in(first_opt, "\noptimizer.hidden.weight.exp_avg_sq F32 [6, 64] 384 1,536\n");
    assert_true(strstr(text, "\nhidden.weight F32") < opt);
    assert_true(strstr(text, "\n2.running_var F32") < opt);
    snprintf(line, sizeof line, "\nmodel: %lld tensors, %s values, ", model_tensors, commas(a, sizeof a, model_values));
    expect_in(text, line);
    snprintf(line, sizeof line, "\noptimizer state: %lld tensors, %s values, ", opt_tensors,
             commas(b, sizeof b, opt_values));
    expect_in(text, line);
    snprintf(line, sizeof line, "\ntotal: %lld tensors, %s bytes", model_tensors + opt_tensors,
             commas(a, sizeof a, tu_jint(j, "tensor_bytes")));
    expect_in(text, line);
    /* f32, but BatchNorm's num_batches_tracked: one i64 */
    assert_int_equal(tu_jint(j, "tensor_bytes"), 4 * (model_values + opt_values) + 4);
    free(text);
    json_decref(j);
    json_decref(sum);
}

/* A run directory is its checkpoint.safetensors; one without it is an
 * error that lists the safetensors files it holds. */
static void test_run_directory(void **state)
{
    (void)state;
    train_once();
    json_t *f = inspect_json("run/checkpoint.safetensors"), *d = inspect_json("run");
    assert_string_equal(jstr(d, "file"), "run/checkpoint.safetensors");
    json_object_del(f, "file"), json_object_del(d, "file");
    assert_true(json_equal(f, d));
    json_decref(f), json_decref(d);
    d = inspect_json("run/");
    assert_string_equal(jstr(d, "file"), "run/checkpoint.safetensors");
    json_decref(d);

    /* no checkpoint.safetensors: the others are named, other files not */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/gan-run", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    tu_write_text(sub, "generator.safetensors", "x");
    tu_write_text(sub, "best.safetensors", "x");
    tu_write_text(sub, "notes.txt", "x");
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect gan-run"), 1,
                      "gan-run: a run directory stands for its checkpoint.safetensors, which is not there; its "
                      "safetensors files: best.safetensors generator.safetensors (name one)");
    char *err = tu_slurp(dir, "err");
    assert_null(strstr(err, "notes.txt"));
    free(err);
    snprintf(sub, sizeof sub, "%s/empty-run", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect empty-run"), 1, "empty-run: a run directory stands for its "
                                                                    "checkpoint.safetensors, which is not there; it "
                                                                    "holds no .safetensors file");
}

static void test_tensors_pattern(void **state)
{
    (void)state;
    train_once();
    json_t *j = inspect_json("run --tensors 'hidden.*'");
    const json_t *tensors = json_object_get(j, "tensors");
    assert_int_equal(json_array_size(tensors), 2);
    assert_non_null(tensor(j, "hidden.weight"));
    assert_non_null(tensor(j, "hidden.bias"));
    assert_int_equal(tu_jint(j, "model_values"), 6 * 64 + 6);
    assert_int_equal(tu_jint(j, "optimizer_values"), 0);
    assert_string_equal(jstr(j, "pattern"), "hidden.*");
    json_decref(j);

    j = inspect_json("run --tensors 'optimizer.*.exp_avg'");
    tensors = json_object_get(j, "tensors");
    assert_int_equal(json_array_size(tensors), 6); /* hidden, 2 (BatchNorm), 4: weight and bias each */
    assert_non_null(tensor(j, "optimizer.hidden.weight.exp_avg"));
    assert_null(tensor(j, "optimizer.hidden.weight.exp_avg_sq"));
    assert_int_equal(tu_jint(j, "model_tensors"), 0);
    assert_int_equal(tu_jint(j, "optimizer_values"), 6 * 64 + 6 + 6 + 6 + 3 * 6 + 3);
    json_decref(j);

    char *text = inspect_text("run --tensors '2.*'");
    expect_in(text, "\ntensors matching '2.*': 5 of ");
    expect_in(text, "\n2.running_mean F32 [6] 6 24\n");
    expect_in(text, "\n2.num_batches_tracked I64 [] 1 8\n");
    assert_null(strstr(text, "\nhidden.weight "));
    assert_null(strstr(text, "\noptimizer.2.weight.exp_avg ")); /* does not match '2.*' */
    assert_null(strstr(text, "\noptimizer state (adam):"));
    expect_in(text, "\nmodel: 5 tensors, 25 values, 104 bytes\n");
    expect_in(text, "\noptimizer state: none\n");
    expect_in(text, "\ntotal of those matching '2.*': 5 tensors, 104 bytes\n");
    free(text);

    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect run --tensors 'nothing*'"), 1,
                      "run/checkpoint.safetensors: no tensor name matches --tensors 'nothing*'");
}

/* --stats on known values: min, max and mean of the finite ones, NaN and Inf counted. */
static void test_stats(void **state)
{
    (void)state;
    const float a[6] = {1.0f, -2.0f, 3.5f, NAN, 0.5f, INFINITY}, b[4] = {0.25f, 0.25f, 0.25f, 0.25f},
                nan2[2] = {NAN, -INFINITY};
    const int32_t c[2] = {7, -7};
    uint8_t data[24 + 16 + 8 + 8];
    memcpy(data, a, 24), memcpy(data + 24, b, 16), memcpy(data + 40, c, 8), memcpy(data + 48, nan2, 8);
    write_raw("stats.safetensors",
              "{\"__metadata__\":{\"note\":\"known values\"},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
              "\"c\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[40,48]},"
              "\"d\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]},"
              "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[56,56]}}",
              0, data, sizeof data);
    json_t *j = inspect_json("stats.safetensors --stats");
    const json_t *t = tensor(j, "a");
    assert_non_null(t);
    assert_true(json_real_value(json_object_get(t, "min")) == -2.0);
    assert_true(json_real_value(json_object_get(t, "max")) == 3.5);
    assert_true(json_real_value(json_object_get(t, "mean")) == 0.75); /* (1 - 2 + 3.5 + 0.5) / 4 */
    assert_int_equal(tu_jint(t, "nonfinite"), 2);
    t = tensor(j, "b");
    assert_true(json_real_value(json_object_get(t, "mean")) == 0.25);
    assert_int_equal(tu_jint(t, "nonfinite"), 0);
    t = tensor(j, "c"); /* not F32: no statistics */
    assert_true(json_is_null(json_object_get(t, "min")));
    assert_true(json_is_null(json_object_get(t, "nonfinite")));
    t = tensor(j, "d"); /* nothing finite */
    assert_true(json_is_null(json_object_get(t, "mean")));
    assert_int_equal(tu_jint(t, "nonfinite"), 2);
    t = tensor(j, "e"); /* empty */
    assert_true(json_is_null(json_object_get(t, "max")));
    assert_int_equal(tu_jint(t, "nonfinite"), 0);
    assert_int_equal(tu_jint(t, "values"), 0);
    json_decref(j);

    char *text = inspect_text("stats.safetensors --stats");
    expect_in(text, "\nname dtype shape values bytes min max mean nonfinite\n");
    expect_in(text, "\na F32 [2, 3] 6 24 -2 3.5 0.75 2\n");
    expect_in(text, "\nb F32 [4] 4 16 0.25 0.25 0.25 0\n");
    expect_in(text, "\nc I32 [2] 2 8 - - - -\n");
    expect_in(text, "\nd F32 [2] 2 8 - - - 2\n");
    expect_in(text, "\ne F32 [0, 5] 0 0 - - - 0\n");
    expect_in(text, "\nnote = known values\n");
    free(text);
    /* without --stats: no columns, no keys, no data read */
    text = inspect_text("stats.safetensors");
    expect_in(text, "\nname dtype shape values bytes\n");
    expect_in(text, "\na F32 [2, 3] 6 24\n");
    free(text);
    j = inspect_json("stats.safetensors");
    assert_null(json_object_get(tensor(j, "a"), "min"));
    json_decref(j);
    /* a file shorter than its offsets say */
    write_raw("cut.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, a, 4);
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect cut.safetensors"), 1,
                      "cut.safetensors: tensor 'a': data_offsets [0, 8]: end is past the data section (4 bytes)");
}

/* --stats of F64 values whose sum overflows a double: their mean is still
 * theirs (1e308 and 1e308 gave a mean of inf in the table and no "mean" in
 * --json, the key dropped with json_real(inf)). */
static void test_stats_of_huge_doubles(void **state)
{
    (void)state;
    const double v[5] = {1e308, 1e308, -1e308, 1.5e308, 1.7e308};
    write_raw("huge.safetensors",
              "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[16,40]}}",
              0, v, sizeof v);
    json_t *j = inspect_json("huge.safetensors --stats");
    const json_t *t = tensor(j, "a");
    assert_true(json_is_real(json_object_get(t, "mean")));
    assert_true(json_real_value(json_object_get(t, "mean")) == 1e308);
    t = tensor(j, "b"); /* (-1 + 1.5 + 1.7) / 3 (times 1e308): a sum past DBL_MAX in any order */
    assert_true(fabs(json_real_value(json_object_get(t, "mean")) / (2.2e307 / 3.0 * 10.0) - 1.0) < 1e-7); /* --json: 8 digits */
    assert_true(json_real_value(json_object_get(t, "max")) == 1.7e308);
    json_decref(j);
    char *text = inspect_text("huge.safetensors --stats");
    expect_in(text, "\na F64 [2] 2 16 1e+308 1e+308 1e+308 0\n");
    expect_in(text, "\nb F64 [3] 3 24 -1e+308 1.7e+308 7.33333e+307 0\n");
    free(text);
}

/* As PyTorch's safetensors.torch.save_file writes a state dict: no
 * metadata, dtypes Strata does not compute in, the header padded. */
static void test_pytorch_file(void **state)
{
    (void)state;
    uint8_t data[32 + 3 + 5 + 4 + 1];
    const double f64[4] = {1.5, -2.0, 0.0, 4.0};
    memcpy(data, f64, 32);
    memcpy(data + 32, (int8_t[]){-1, 2, 3}, 3);
    memcpy(data + 35, (uint8_t[]){1, 0, 1, 1, 0}, 5);
    memcpy(data + 40, (uint8_t[]){0x80, 0x3f, 0x00, 0x40}, 4); /* bf16 1.0, 2.0 */
    data[44] = 9;
    const char *header = "{\"z.weight\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]},"
                         "\"a.int8\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[32,35]},"
                         "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[5],\"data_offsets\":[35,40]},"
                         "\"half\":{\"shape\":[2],\"dtype\":\"BF16\",\"data_offsets\":[40,44]},"
                         "\"count\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[44,45]}}";
    write_raw("torch.safetensors", header, (8 - strlen(header) % 8) % 8 + 8, data, sizeof data);
    json_t *j = inspect_json("torch.safetensors --stats");
    assert_int_equal(json_object_size(json_object_get(j, "metadata")), 0);
    const json_t *tensors = json_object_get(j, "tensors");
    static const char *const order[] = {"z.weight", "a.int8", "mask", "half", "count"};
    assert_int_equal(json_array_size(tensors), 5);
    for (size_t k = 0; k < 5; k++)
        assert_string_equal(jstr(json_array_get(tensors, k), "name"), order[k]);
    /* float dtypes other than F32 have their statistics too; integers none */
    assert_true(json_real_value(json_object_get(tensor(j, "z.weight"), "min")) == -2.0);
    assert_true(json_real_value(json_object_get(tensor(j, "z.weight"), "max")) == 4.0);
    assert_true(json_real_value(json_object_get(tensor(j, "z.weight"), "mean")) == 0.875);
    assert_true(json_real_value(json_object_get(tensor(j, "half"), "min")) == 1.0);
    assert_true(json_real_value(json_object_get(tensor(j, "half"), "mean")) == 1.5);
    assert_true(json_is_null(json_object_get(tensor(j, "a.int8"), "mean")));
    assert_int_equal(tu_jint(j, "model_values"), 4 + 3 + 5 + 2 + 1);
    assert_int_equal(tu_jint(j, "optimizer_values"), 0);
    assert_int_equal(tu_jint(j, "tensor_bytes"), 45);

    char *text = inspect_text("torch.safetensors");
    expect_rows(text, j);
    expect_in(text, "\nmetadata: none\n");
    expect_in(text, "\nz.weight F64 [2, 2] 4 32\n");
    expect_in(text, "\ncount U8 [] 1 1\n");
    assert_true(strstr(text, "\nz.weight ") < strstr(text, "\na.int8 ")); /* the header's order */
    assert_true(strstr(text, "\nhalf ") < strstr(text, "\ncount "));
    expect_in(text, "\nmodel: 5 tensors, 15 values, 45 bytes\n");
    expect_in(text, "\noptimizer state: none\n");
    assert_null(strstr(text, "belong to no tensor"));
    free(text);
    json_decref(j);

    /* bytes after the last tensor are reported */
    uint8_t more[sizeof data + 3] = {0};
    memcpy(more, data, sizeof data);
    write_raw("tail.safetensors", header, 0, more, sizeof more);
    text = inspect_text("tail.safetensors");
    expect_in(text, "\ntotal: 5 tensors, 45 bytes; 3 bytes of the data section belong to no tensor\n");
    free(text);
}

typedef struct {
    const char *file;   /* written to dir/file */
    const char *header; /* NULL: @p raw's bytes as they are */
    const char *raw;
    size_t raw_len;
    size_t data_len; /* zero bytes after the header */
    const char *needle;
} bad_file;

static void test_malformed(void **state)
{
    (void)state;
    static const bad_file cases[] = {
        {"short.safetensors", NULL, "\x05\x00\x00", 3, 0, "the file is 3 bytes, too short for the 8-byte header"},
        {"empty.safetensors", NULL, "", 0, 0, "the file is 0 bytes, too short"},
        {"past.safetensors", NULL, "\xe8\x03\x00\x00\x00\x00\x00\x00{}", 10, 0,
         "header length 1000 is larger than the rest of the file (2 bytes)"},
        {"huge.safetensors", NULL, "\x00\x00\x00\x00\x01\x00\x00\x00{}", 10, 0,
         "header length 4294967296 is absurd (more than 100000000 bytes)"},
        {"json.safetensors", "{\"a\": {\"dtype\": \"F32\",", NULL, 0, 0, "the header is not valid JSON"},
        {"array.safetensors", "[1, 2]", NULL, 0, 0, "the header is an array, expected a JSON object"},
        {"nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 0, 4,
         "tensor 'w': missing field 'dtype'"},
        {"noshape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", NULL, 0, 4,
         "tensor 'w': missing field 'shape'"},
        {"nooffsets.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", NULL, 0, 4,
         "tensor 'w': missing field 'data_offsets'"},
        {"dtype.safetensors", "{\"w\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 0, 4,
         "tensor 'w': unknown dtype \"F31\""},
        {"outside.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", NULL, 0, 8,
         "tensor 'w': data_offsets [0, 16]: end is past the data section (8 bytes)"},
        {"mismatch.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", NULL, 0, 8,
         "tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12"},
        {"reversed.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", NULL, 0, 8,
         "tensor 'w': data_offsets [8, 4] has begin > end"},
        {"negative.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", NULL, 0, 4,
         "tensor 'w': shape[0] is an integer, expected a non-negative integer"},
        {"overflow.safetensors",
         "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", NULL, 0, 4,
         "tensor 'w': shape [4294967296, 4294967296] of F32 overflows"},
        {"overlap.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         NULL, 0, 12, "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
        {"meta.safetensors", "{\"__metadata__\":{\"epoch\":3}}", NULL, 0, 0,
         "__metadata__ value of 'epoch' is an integer, expected a string"},
        {"entry.safetensors", "{\"w\":[0,4]}", NULL, 0, 0, "tensor 'w': its entry is an array, expected an object"},
        {"dup.safetensors",
         "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
         NULL, 0, 1, "duplicate object key"},
    };
    static const uint8_t zeros[64];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bad_file *c = &cases[k];
        if (c->header)
            write_raw(c->file, c->header, 0, zeros, c->data_len);
        else
            tu_write_file(dir, c->file, c->raw, c->raw_len);
        const int code = tu_run_clif(dir, "inspect %s", c->file);
        char *err = tu_slurp(dir, "err"), want[256];
        assert_non_null(err);
        snprintf(want, sizeof want, "strata: error: %s: ", c->file);
        if (code != 1 || !strstr(err, want) || !strstr(err, c->needle))
            fail_msg("%s: expected exit 1 and \"%s%s\", got %d: %s", c->file, want, c->needle, code, err);
        free(err);
        /* --json and --stats change nothing: the header is refused first */
        tu_expect_cli_err(dir, tu_run_clif(dir, "inspect %s --json --stats", c->file), 1, c->needle);
    }
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect missing.safetensors"), 1,
                      "strata: error: missing.safetensors: No such file or directory");
}

/* `strata eval mlp.yaml --checkpoint CKPT --json`'s test loss. */
static double eval_loss(const char *ckpt)
{
    tu_expect_cli_ok(dir, tu_run_clif(dir, "eval mlp.yaml --checkpoint %s --json", ckpt));
    char *out = tu_slurp(dir, "out");
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    const double loss = json_real_value(json_object_get(j, "test_loss"));
    json_decref(j);
    return loss;
}

/* `strata export` (strata_checkpoint_convert): the run's model as BF16 and
 * F16, the integer buffer (num_batches_tracked) kept, no optimizer state;
 * it evaluates as the f32 checkpoint does, to the precision kept. */
static void test_export(void **state)
{
    (void)state;
    train_once();
    const char *dts[2] = {"bf16", "half"}, *names[2] = {"BF16", "F16"};
    const double f32_loss = eval_loss("run");
    for (int d = 0; d < 2; d++) {
        tu_expect_cli_ok(dir, tu_run_clif(dir, "export run --dtype %s --out small.safetensors", dts[d]));
        char *out = tu_slurp(dir, "out");
        expect_in(out, "wrote small.safetensors: the model of run/checkpoint.safetensors as ");
        free(out);
        json_t *j = inspect_json("small.safetensors");
        assert_int_equal(tu_jint(j, "optimizer_tensors"), 0);
        size_t k;
        const json_t *t;
        int n_int = 0;
        json_array_foreach(json_object_get(j, "tensors"), k, t)
        {
            const int counter = strstr(jstr(t, "name"), "num_batches_tracked") != NULL;
            assert_string_equal(jstr(t, "dtype"), counter ? "I64" : names[d]);
            n_int += counter;
        }
        assert_int_equal(n_int, 1);
        json_decref(j);
        const double loss = eval_loss("small.safetensors");
        if (fabs(loss - f32_loss) > 0.02 * fabs(f32_loss))
            fail_msg("%s: test loss %.6g against %.6g in f32", names[d], loss, f32_loss);
    }
    tu_expect_cli_err(dir, tu_run_cli(dir, "export run --out x.safetensors"), 2, "export needs --dtype");
    tu_expect_cli_err(dir, tu_run_cli(dir, "export run --dtype int8 --out x.safetensors"), 2,
                      "--dtype 'int8': expected f16, bf16 or f32");
    tu_expect_cli_err(dir, tu_run_cli(dir, "export run --dtype f16"), 2, "export needs --out FILE");
    tu_expect_cli_err(dir, tu_run_cli(dir, "export missing.safetensors --dtype f16 --out x.safetensors"), 1,
                      "missing.safetensors");
    /* over the run's own checkpoint: refused, since the optimizer's state would go and --resume with it (it was
     * written, exit 0); over a copy without that state, written */
    tu_expect_cli_err(dir, tu_run_cli(dir, "export run --dtype f16 --out run/checkpoint.safetensors"), 1,
                      "holds its optimizer's state");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "inspect run --json"));
    char *still = tu_slurp(dir, "out");
    assert_non_null(still);
    assert_non_null(strstr(still, "\"F32\""));
    assert_null(strstr(still, "\"F16\""));
    free(still);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "export small.safetensors --dtype f16 --out small.safetensors"));
    /* a file that cannot be read gets its own error, not the optimizer's */
    tu_write_text(dir, "cut.safetensors", "\x08\x07\x00\x00\x00\x00\x00\x00{\"a\"");
    tu_expect_cli_err(dir, tu_run_cli(dir, "export cut.safetensors --dtype f16 --out cut.safetensors"), 1,
                      "E_FORMAT");
    /* a FIFO in the way is refused, not replaced by a plain file; read, it is refused at once, not waited on */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fifo.safetensors", dir);
    assert_int_equal(mkfifo(path, 0644), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "export run --dtype f16 --out fifo.safetensors"), 1,
                      "fifo.safetensors: cannot write: it is not a regular file");
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect fifo.safetensors"), 1, "fifo.safetensors: not a regular file");
    tu_expect_cli_err(dir, tu_run_cli(dir, "export fifo.safetensors --dtype f16 --out y.safetensors"), 1,
                      "fifo.safetensors: not a regular file");
    /* a symbolic link is written through: the file it names gets the model */
    snprintf(path, sizeof path, "%s/link.safetensors", dir);
    assert_int_equal(symlink("small.safetensors", path), 0);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "export run --dtype bf16 --out link.safetensors"));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    json_t *j = inspect_json("small.safetensors");
    assert_string_equal(jstr(json_array_get(json_object_get(j, "tensors"), 0), "dtype"), "BF16");
    json_decref(j);
}

static void test_usage(void **state)
{
    (void)state;
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect"), 2, "inspect needs FILE");
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect a.safetensors --bogus"), 2, "inspect: unknown option '--bogus'");
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect a.safetensors --tensors"), 2,
                      "inspect: --tensors needs a value (PATTERN)");
    tu_expect_cli_err(dir, tu_run_cli(dir, "inspect a.safetensors b.safetensors"), 2,
                      "inspect: unexpected argument 'b.safetensors'");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "inspect --help"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(out);
    assert_int_equal(strncmp(out, "usage: strata inspect FILE|RUN", 30), 0);
    expect_in(out, "\n  --tensors PATTERN ");
    expect_in(out, "\n  --stats ");
    expect_in(out, "\n  --json ");
    free(out);
    /* listed in the program's usage */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "--help"));
    out = tu_slurp(dir, "out");
    assert_non_null(out);
    expect_in(out, "\n  inspect FILE|RUN ");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trained_checkpoint),
        cmocka_unit_test(test_run_directory),
        cmocka_unit_test(test_tensors_pattern),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_of_huge_doubles),
        cmocka_unit_test(test_pytorch_file),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
