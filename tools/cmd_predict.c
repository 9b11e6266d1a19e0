/* cmd_predict.c - `strata predict`: what a trained classifier makes of PNG
 * files, test-set images or the examples of a safetensors file (--data):
 * its most likely classes, with their softmax probabilities and the spec's
 * class names (data.classes); --csv writes every class's probability.
 *
 * A PNG file must have the model's input size (no resampling); it is read
 * as gray for a 1-channel model and RGB for a 3-channel one (libpng's
 * simplified API converts other colour types and bit depths), then scaled
 * and standardised with the spec's data.scale, data.mean and data.std,
 * exactly as the training images were. --invert flips black and white:
 * Fashion-MNIST's images are light objects on black. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "png_write.h"
#include "write_atomic.h"

#define MAX_IMAGES 1024
#define MAX_CLASSES 100000 /* --top */

typedef struct {
    const char *positional[2 + MAX_IMAGES]; /* SPEC, then image files (one more: to say there are too many) */
    int n_positional;
    const char *checkpoint, *backend;
    const char *inputs[MAX_IMAGES]; /* --input N: test-set indexes */
    int64_t index[MAX_IMAGES];      /* ... read */
    int n_inputs;
    int64_t top;
    int json, invert;
    const char *data, *data_inputs; /* --data FILE.safetensors, --inputs NAME */
    const char *csv;                /* --csv FILE */
} predict_args;

static int parse_args(int argc, char **argv, predict_args *a)
{
    memset(a, 0, sizeof *a);
    a->top = 3;
    const cli_opt opts[] = {
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE",
         .help = "the trained classifier's weights (RUN/checkpoint.safetensors, or RUN)",
         .in_dir = "checkpoint.safetensors"},
        {.name = "--input", .type = CLI_LIST, .dst = a->inputs, .value = "N", .hi = MAX_IMAGES,
         .given = &a->n_inputs, .help = "test-set image N (0-based) of the spec's data.test (repeatable)"},
        {.name = "--top", .type = CLI_INT, .dst = &a->top, .value = "K", .lo = 1, .hi = MAX_CLASSES,
         .help = "how many classes to show, most likely first (default 3)"},
        {.name = "--invert", .type = CLI_FLAG, .dst = &a->invert,
         .help = "invert the PNG files' pixels (dark objects on white, for a model trained on light on black)"},
        {.name = "--data", .type = CLI_STRING, .dst = &a->data, .value = "FILE",
         .help = "classify every example of a safetensors file (its tensor --inputs: shape (N, ...))"},
        {.name = "--inputs", .type = CLI_STRING, .dst = &a->data_inputs, .value = "NAME",
         .help = "the tensor of --data's file to classify (default: the spec's data.test.inputs, else "
                 "data.train.inputs, else 'inputs')"},
        {.name = "--csv", .type = CLI_STRING, .dst = &a->csv, .value = "FILE",
         .help = "also write each prediction's class probabilities, one row per example, as CSV"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .help = "one JSON object on stdout"},
        CLI_BACKEND_OPTION(&a->backend),
        CLI_SET_OPTION(0),
        {0},
    };
    const cli_command c = {
        .name = "predict",
        .synopsis = "SPEC --checkpoint FILE [IMAGE.png ...] [--input N ...] [--data FILE.safetensors] [options]",
        .about = "The most likely classes of PNG images, test-set images or the examples of a safetensors file under\n"
                 "a trained classifier.",
        .positional = a->positional,
        .max_positional = 2 + MAX_IMAGES,
        .n_positional = &a->n_positional,
        .opts = opts,
        .notes = "At most 1024 PNG images per call. A PNG must have the model's input size; it is read as gray\n"
                 "(1 channel) or RGB (3) and scaled like the training images (data.scale, data.mean, data.std).\n"
                 "Class names come from the spec's data.classes when it has them.",
    };
    int r = cli_parse(&c, argc, argv);
    if (!r && a->n_positional > 1 + MAX_IMAGES)
        return cli_usage_error(&c, "more than %d images; give at most %d per call (`xargs -n %d` splits a list)",
                               MAX_IMAGES, MAX_IMAGES, MAX_IMAGES);
    if (r || (r = cli_require(&c, a->n_positional ? a->positional[0] : NULL, "SPEC")) ||
        (r = cli_require(&c, a->checkpoint, "--checkpoint FILE")))
        return r;
    if (a->n_positional == 1 && !a->n_inputs && !a->data)
        return cli_usage_error(&c, "nothing to classify: give IMAGE.png files, --input N or --data FILE");
    if (a->data_inputs && !a->data)
        return cli_usage_error(&c, "--inputs names a tensor of --data FILE; give --data too");
    if (a->invert && a->n_positional == 1) /* it was ignored without a word */
        return cli_usage_error(&c, "--invert applies to IMAGE.png files; the examples of --input and --data are "
                                   "read as they are stored");
    for (int i = 0; i < a->n_inputs; i++) /* every index read before anything runs */
        if ((r = cli_parse_int("--input", a->inputs[i], 0, LLONG_MAX, &a->index[i])))
            return r;
    return 0;
}

/* What one example is shown as: a file name, "test image N" or "example N" of --data. */
typedef struct {
    const char *file; /* NULL for a test-set image or an example of --data */
    int64_t index;    /* test-set index (and its label), or the example's index in --data */
    int64_t label;
    int data; /* an example of --data: no label */
} source;

/* The PNG @p path as the model's input in @p x: (C, H, W) for an image
 * model, or for a flat one (@p H 0) @p numel values, the PNG's pixels gray
 * when that is their number, else its RGB planes. 0, or 1 after a message
 * naming the file. */
static int read_png(const char *path, int64_t C, int64_t H, int64_t W, int64_t numel, const cli_scaling *sc,
                    int invert, float *x)
{
    uint32_t w = (uint32_t)W, h = (uint32_t)H;
    int wrong;
    uint8_t *px = cli_png_read(path, H ? (int)C : 3, &w, &h, &wrong);
    if (wrong)
        fprintf(stderr, "strata: error: %s is %u x %u pixels; the model takes %lld x %lld (resize it first)\n", path,
                w, h, (long long)W, (long long)H);
    if (!px)
        return 1;
    int64_t plane = (int64_t)w * h, got = H ? C : 3; /* the channels in px */
    if (!H) { /* a flat model: as many values as gray or RGB pixels */
        C = numel == plane ? 1 : numel == 3 * plane ? 3 : 0;
        if (!C) {
            fprintf(stderr, "strata: error: %s is %u x %u pixels (%lld values gray, %lld RGB); the model takes %lld "
                            "values\n",
                    path, w, h, (long long)plane, (long long)(3 * plane), (long long)numel);
            free(px);
            return 1;
        }
    }
    if (sc->n > 1 && sc->n != C) {
        fprintf(stderr, "strata: error: %s: data.mean and data.std give %d channels; the model takes %lld\n", path,
                sc->n, (long long)C);
        free(px);
        return 1;
    }
    /* as strata_dataset_load_idx and strata_dataset_normalize_channels compute it */
    const int norm = !cli_scaling_plain(sc);
    for (int64_t c = 0; c < C; c++) {
        const float m = (float)sc->mean[c % sc->n], inv = (float)(1.0 / sc->std[c % sc->n]);
        for (int64_t i = 0; i < plane; i++) {
            const uint8_t *p = px + i * got;
            int v = got == C ? p[c] : cli_luma(p);
            float f = (float)((invert ? 255 - v : v) / sc->scale);
            x[c * plane + i] = norm ? (f - m) * inv : f;
        }
    }
    free(px);
    return 0;
}

/* Index of the largest value of @p p[0, n) not yet @p taken. */
static int64_t next_best(const double *p, const unsigned char *taken, int64_t n)
{
    int64_t best = -1;
    for (int64_t k = 0; k < n; k++)
        if (!taken[k] && (best < 0 || p[k] > p[best]))
            best = k;
    return best;
}

/* The model's output for one example @p x of its input shape @p ms (@p nd
 * axes) in *out: 0, or 1 after a message. */
static int forward_one(run_ctx *c, const float *x, int nd, const int64_t *ms, strata_tensor **out)
{
    int64_t shape[STRATA_MAX_DIMS + 1] = {1};
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)nd);
    strata_tensor *in = NULL;
    strata_status rc = strata_tensor_from_host(c->dev, STRATA_F32, nd + 1, shape, x, &in);
    if (!rc)
        rc = strata_model_forward(c->model, &in, 1, out, 1, 0);
    strata_tensor_release(in);
    return rc ? cli_fail("running the model", rc) : 0;
}

/* One CSV field: @p s quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Runs the model on @p x and reports the top classes of @p src (and every
 * class's probability as a row of @p csv, when given). */
static int predict_one(run_ctx *c, const predict_args *a, const source *src, const float *x, int nd,
                       const int64_t *ms, const char **names, json_t *list, FILE *csv)
{
    strata_tensor *logits = NULL;
    strata_status rc = STRATA_OK;
    if (forward_one(c, x, nd, ms, &logits))
        return 1;
    int64_t n = strata_tensor_numel(logits);
    float *z = malloc(sizeof(float) * (size_t)n);
    double *p = malloc(sizeof(double) * (size_t)n);
    unsigned char *taken = calloc((size_t)n, 1);
    if (!z || !p || !taken || (rc = strata_tensor_read(logits, z, sizeof(float) * (size_t)n))) {
        int r = rc ? cli_fail("reading the model output", rc) : (fprintf(stderr, "strata: error: out of memory\n"), 1);
        strata_tensor_release(logits);
        free(z), free(p), free(taken);
        return r;
    }
    strata_tensor_release(logits);
    /* softmax, shifted by the largest logit */
    double zmax = z[0], sum = 0;
    for (int64_t k = 1; k < n; k++)
        zmax = z[k] > zmax ? z[k] : zmax;
    for (int64_t k = 0; k < n; k++)
        sum += p[k] = exp((double)z[k] - zmax);
    for (int64_t k = 0; k < n; k++)
        p[k] /= sum;

    char what[4200];
    if (src->file)
        snprintf(what, sizeof what, "%s", src->file);
    else if (src->data)
        snprintf(what, sizeof what, "example %lld", (long long)src->index);
    else if (names)
        snprintf(what, sizeof what, "test image %lld (label %lld %s)", (long long)src->index, (long long)src->label,
                 names[src->label]);
    else
        snprintf(what, sizeof what, "test image %lld (label %lld)", (long long)src->index, (long long)src->label);
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(z[k])) { /* no probabilities to rank: a model trained into NaN, or a corrupt checkpoint */
            fprintf(stderr, "strata: error: %s: the model's output %lld is %g: the checkpoint's weights are not "
                            "finite (a run that diverged?), or the input is not\n",
                    what, (long long)k, (double)z[k]);
            free(z), free(p), free(taken);
            return 1;
        }
    json_t *top = json_array(), *o = NULL;
    if (!a->json)
        printf("%s:", what);
    int64_t k_max = a->top < n ? a->top : n, first = -1; /* first: the prediction (k_max >= 1) */
    for (int64_t k = 0; k < k_max; k++) {
        int64_t best = next_best(p, taken, n);
        taken[best] = 1;
        if (!k)
            first = best;
        if (a->json)
            json_array_append_new(top, json_pack("{s:I, s:s?, s:f}", "class", (json_int_t)best, "name",
                                                 names ? names[best] : NULL, "probability", p[best]));
        else if (names)
            printf("%s %lld %s (%.3f)", k ? "," : "", (long long)best, names[best], p[best]);
        else
            printf("%s class %lld (%.3f)", k ? "," : "", (long long)best, p[best]);
    }
    if (csv) {
        char id[64];
        snprintf(id, sizeof id, src->data ? "example %lld" : "test image %lld", (long long)src->index);
        csv_field(csv, src->file ? src->file : id);
        fprintf(csv, ",%lld", (long long)first);
        for (int64_t k = 0; k < n; k++)
            fprintf(csv, ",%.6g", p[k]);
        fputc('\n', csv);
    }
    if (a->json) {
        o = src->file ? json_pack("{s:o, s:o}", "file", cli_json_str(src->file), "top", top)
            : src->data
                ? json_pack("{s:I, s:o}", "example", (json_int_t)src->index, "top", top)
                : json_pack("{s:I, s:I, s:o}", "index", (json_int_t)src->index, "label", (json_int_t)src->label, "top",
                            top);
        if (json_array_append_new(list, o)) {
            fprintf(stderr, "strata: error: out of memory building the JSON output\n");
            free(z), free(p), free(taken);
            return 1;
        }
    } else {
        printf("\n");
        json_decref(top);
    }
    free(z), free(p), free(taken);
    return 0;
}

/* --data's examples (tensor --inputs, else the spec's data.test.inputs,
 * else "inputs") in *out, scaled like the training set: 0, or 1 after a
 * message naming the file. */
static int load_data(const run_ctx *c, const predict_args *a, const cli_scaling *sc, int64_t numel,
                     strata_dataset **out)
{
    const char *name = a->data_inputs;
    if (!name && strata_spec_get_string(c->spec, "data.test.inputs", NULL, &name) == STRATA_E_NOT_FOUND)
        strata_spec_get_string(c->spec, "data.train.inputs", "inputs", &name);
    strata_clear_error();
    char what[4300];
    snprintf(what, sizeof what, "reading --data %s", a->data);
    strata_status rc = strata_dataset_load_safetensors(a->data, name ? name : "inputs", NULL, sc->scale, out);
    if (!rc)
        rc = cli_normalize(*out, sc);
    if (rc)
        return cli_fail(what, rc);
    int dn = 0;
    const int64_t *ds = strata_dataset_shape(*out, &dn);
    int64_t per = 1;
    for (int k = 0; k < dn; k++)
        per *= ds[k];
    if (per != numel) {
        fprintf(stderr, "strata: error: --data %s: tensor '%s' holds %lld values per example; the model takes %lld\n",
                a->data, name ? name : "inputs", (long long)per, (long long)numel);
        strata_dataset_destroy(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

/* For a model whose input is not (C, H, W): the shape of the spec's images
 * (the test set's, else the training set's), when it has as many values;
 * otherwise *H = *W = 0 and a PNG goes in by its pixel count (read_png). */
static void image_shape(const run_ctx *c, const predict_args *a, int64_t numel, int64_t *C, int64_t *H, int64_t *W)
{
    *C = 1, *H = *W = 0;
    if (a->n_positional < 2)
        return;
    strata_dataset *d = NULL;
    const strata_dataset *from = c->test;
    static const char *const splits[] = {"test", "train"};
    for (int k = 0; k < 2 && !from; k++)
        if (!cli_load_split(c->spec, splits[k], 255.0, &d))
            from = d;
    strata_clear_error();
    int dn = 0;
    const int64_t *ds = from ? strata_dataset_shape(from, &dn) : NULL;
    int64_t dc = dn == 3 ? ds[0] : 1;
    if ((dn == 2 || dn == 3) && (dc == 1 || dc == 3) && dc * ds[dn - 2] * ds[dn - 1] == numel)
        *C = dc, *H = ds[dn - 2], *W = ds[dn - 1];
    strata_dataset_destroy(d);
}

static int predict(run_ctx *c, const predict_args *a)
{
    int nd;
    const int64_t *ms = strata_model_input_shape(c->model, 0, &nd, NULL);
    int64_t numel = 1;
    for (int k = 0; k < nd; k++)
        numel *= ms[k];
    int64_t C = nd == 3 ? ms[0] : 1, H = nd >= 2 ? ms[nd - 2] : 0, W = nd >= 2 ? ms[nd - 1] : 0;
    if (nd < 2 || nd > 3 || (C != 1 && C != 3)) /* a flat input: the images' shape is the data's */
        image_shape(c, a, numel, &C, &H, &W);
    /* the number of classes: one forward pass of zeros */
    float *x = calloc((size_t)numel, sizeof *x);
    if (!x) {
        fprintf(stderr, "strata: error: out of memory\n");
        return 1;
    }
    strata_tensor *out = NULL;
    if (forward_one(c, x, nd, ms, &out)) {
        free(x);
        return 1;
    }
    int64_t n_out = strata_tensor_numel(out);
    strata_tensor_release(out);
    const char **names = NULL;
    if (cli_class_names(c->spec, n_out, &names)) {
        free(x);
        return 1;
    }
    const cli_scaling sc = cli_data_scaling(c->spec);

    /* --data: the file's examples, scaled and standardised as the training set was */
    strata_dataset *data = NULL;
    int r = a->data ? load_data(c, a, &sc, numel, &data) : 0;
    char target[4096] = "", *csv_text = NULL;
    size_t csv_len = 0;
    FILE *csv = NULL;
    if (!r && a->csv && cli_write_target(a->csv, target, sizeof target)) /* refused before the work */
        r = 1;
    if (!r && a->csv) { /* gathered in memory, then written whole (cli_write_atomic: fsync, rename) */
        if (!(csv = open_memstream(&csv_text, &csv_len))) {
            fprintf(stderr, "strata: error: cannot write %s: %s\n", a->csv, strerror(errno));
            r = 1;
        } else {
            fputs("source,prediction", csv);
            for (int64_t k = 0; k < n_out; k++) {
                char col[32];
                snprintf(col, sizeof col, "class %lld", (long long)k);
                fputc(',', csv);
                csv_field(csv, names ? names[k] : col);
            }
            fputc('\n', csv);
        }
    }
    json_t *list = a->json ? json_array() : NULL;
    cli_scaling bytes = sc; /* how the PNG files' pixels scale */
    if (!r && a->n_positional > 1)
        r = cli_byte_scaling(c->spec, &bytes);
    for (int i = 1; i < a->n_positional && !r; i++) {
        source src = {.file = a->positional[i]};
        r = read_png(src.file, C, H, W, numel, &bytes, a->invert, x) ||
            predict_one(c, a, &src, x, nd, ms, names, list, csv);
    }
    int64_t size = c->test ? strata_dataset_size(c->test) : 0;
    for (int i = 0; i < a->n_inputs && !r; i++) {
        source src = {.index = a->index[i]};
        if (src.index >= size) {
            fprintf(stderr, "strata: error: --input %lld is out of range: the test set has %lld images (0 to %lld)\n",
                    (long long)src.index, (long long)size, (long long)size - 1);
            r = 1;
            break;
        }
        src.label = strata_dataset_y(c->test, src.index);
        if (src.label < 0 || src.label >= n_out) {
            fprintf(stderr, "strata: error: test image %lld has label %lld; the model gives %lld classes\n",
                    (long long)src.index, (long long)src.label, (long long)n_out);
            r = 1;
            break;
        }
        r = predict_one(c, a, &src, strata_dataset_x(c->test, src.index), nd, ms, names, list, csv);
    }
    /* a whole file's examples: a reader that went away (`| head`) ends them, unless --csv wants them all */
    for (int64_t i = 0; data && i < strata_dataset_size(data) && !r && (csv || !ferror(stdout)); i++) {
        const source src = {.index = i, .data = 1};
        r = predict_one(c, a, &src, strata_dataset_x(data, i), nd, ms, names, list, csv);
    }
    strata_dataset_destroy(data);
    if (csv) {
        const int bad = ferror(csv);
        if ((fclose(csv) != 0 || bad) && !r) {
            fprintf(stderr, "strata: error: cannot write %s: %s\n", a->csv, strerror(errno ? errno : ENOMEM));
            r = 1;
        }
        if (!r)
            r = cli_write_atomic(a->csv, csv_text, csv_len);
        free(csv_text);
    }
    if (!r && a->json)
        r = cli_print_json(json_pack("{s:o, s:s, s:s}", "predictions", list, "backend", strata_device_backend(c->dev),
                                     "device", strata_device_name(c->dev)));
    else
        json_decref(list);
    free(names);
    free(x);
    return r;
}

int cmd_predict(int argc, char **argv)
{
    predict_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    if (cli_check_checkpoint(a.checkpoint))
        return 1;
    char format[32], task[32];
    if ((r = cli_spec_kind(a.positional[0], format, sizeof format, task, sizeof task)))
        return r;
    if ((format[0] && strcmp(format, "idx") && strcmp(format, "safetensors")) ||
        (task[0] && strcmp(task, "classification"))) {
        fprintf(stderr, "strata: error: %s: predict classifies images (data.format: idx or safetensors, task: "
                        "classification); "
                        "this spec has data.format: %s%s%s (strata generate samples text, strata sample a GAN)\n",
                a.positional[0], format, task[0] ? ", task: " : "", task);
        return 1;
    }
    run_ctx ctx;
    run_options ro = {.spec_path = a.positional[0], .backend = a.backend, .no_data = !a.n_inputs};
    if (!(r = run_setup(&ctx, &ro, 0)) && !(r = cli_load_checkpoint(a.checkpoint, ctx.model))) {
        train_warn_class_order(ctx.rt, ctx.spec, a.checkpoint);
        int prev = strata_set_grad_enabled(ctx.rt, 0);
        r = predict(&ctx, &a);
        strata_set_grad_enabled(ctx.rt, prev);
    }
    run_free(&ctx);
    return r;
}
