/* cmd_visualize.c - `strata visualize`: what a trained ConvNet looks at.
 * Runs one test image through the model and writes PNGs of the input, the
 * first conv2d layer's filters and every conv/pooling layer's feature maps
 * (LeCun, Bengio & Hinton, Nature 2015, Figure 2).
 *
 * Images are grayscale (RGB for 3-channel inputs and filters), each tile
 * stretched to its own [min, max] (black = lowest, white = highest; a
 * constant tile is black), upscaled nearest-neighbour, with GAP white
 * pixels between tiles. docs/user-guide.md gives the layout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "png_write.h"

#define GAP 2
#define BACKGROUND 255
/* target sizes in pixels of the longest side of one tile */
#define INPUT_PX 224
#define FILTER_PX 40
#define FEATURE_PX 96

typedef struct {
    const char *spec_path, *checkpoint, *out_dir, *backend;
    int64_t index;
} vis_args;

static int parse_args(int argc, char **argv, vis_args *a)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE",
         .help = "a trained ConvNet's weights (RUN/checkpoint.safetensors, or RUN)",
         .in_dir = "checkpoint.safetensors"},
        {.name = "--spec", .type = CLI_STRING, .dst = &a->spec_path, .value = "SPEC", .help = "its model spec"},
        {.name = "--input", .type = CLI_INT, .dst = &a->index, .value = "N", .lo = 0, .hi = LLONG_MAX,
         .help = "the test image to show, 0-based (default 0)"},
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .help = "where the PNGs go"},
        CLI_BACKEND_OPTION(&a->backend),
        {0},
    };
    const cli_command c = {.name = "visualize", .positional = &a->spec_path, .opts = opts,
                           .synopsis = "--checkpoint FILE --spec SPEC --input N --out DIR [options]",
                           .about = "PNGs of a ConvNet's input, its first layer's filters and every layer's feature "
                                    "maps."};
    int r = cli_parse(&c, argc, argv); /* it refuses SPEC with --spec SPEC: one would be ignored */
    if (r || (r = cli_require(&c, a->spec_path, "--spec SPEC")) ||
        (r = cli_require(&c, a->checkpoint, "--checkpoint FILE")))
        return r;
    return cli_require(&c, a->out_dir, "--out DIR");
}

static int scale_for(int64_t side, int target)
{
    int64_t s = (target + side - 1) / side;
    return s < 1 ? 1 : (int)s;
}

static int cols_for(int64_t n)
{
    int c = (int)ceil(sqrt((double)n));
    return c < 1 ? 1 : c;
}

/* DIR/<kind>_<layer name>.png, the name reduced to [A-Za-z0-9._-] */
static void image_path(char *buf, size_t size, const char *dir, const char *kind, const char *layer)
{
    char safe[128];
    size_t k = 0;
    for (; layer && layer[k] && k + 1 < sizeof safe; k++) {
        char c = layer[k];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        safe[k] = ok ? c : '_';
    }
    safe[k] = '\0';
    if (layer)
        snprintf(buf, size, "%s/%s_%s.png", dir, kind, safe);
    else
        snprintf(buf, size, "%s/%s.png", dir, kind);
}

/* Renders @p g from @p tiles, writes it to image_path(@p dir, @p kind,
 * @p layer) and prints the path. */
static int write_grid(const char *dir, const char *kind, const char *layer, const grid_layout *g, const float *tiles,
                      const char *what)
{
    char path[4200];
    image_path(path, sizeof path, dir, kind, layer);
    int w, h;
    uint8_t *img = grid_render(g, tiles);
    if (!img)
        return 1;
    grid_size(g, &w, &h);
    int r = cli_png_write(path, img, w, h, g->channels);
    free(img);
    if (!r)
        printf("wrote %s (%d x %d): %s\n", path, w, h, what);
    return r;
}

/* A host copy of @p t's f32 elements (free() it), or NULL after printing why. */
static float *read_f32(const strata_tensor *t, const char *what)
{
    if (strata_tensor_dtype(t) != STRATA_F32) {
        fprintf(stderr, "strata: error: %s is not f32\n", what);
        return NULL;
    }
    size_t n = (size_t)strata_tensor_numel(t);
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "strata: error: out of memory reading %s\n", what);
        return NULL;
    }
    strata_status rc = strata_tensor_read(t, p, sizeof(float) * n);
    if (rc) {
        free(p);
        cli_fail(what, rc);
        return NULL;
    }
    return p;
}

/* read_f32 of @p t, the @p role ("weight") of layer @p layer. */
static float *read_layer_f32(const strata_tensor *t, const char *role, const char *layer)
{
    char what[160];
    snprintf(what, sizeof what, "%s of layer '%s'", role, layer);
    return read_f32(t, what);
}

/* input.png: the example as the model sees it (after normalisation; the
 * per-tile stretch undoes it), (C, H, W) or (H, W). */
static int write_input(const char *dir, const float *x, const int64_t *shape, int nd)
{
    int64_t C = nd == 3 ? shape[0] : 1, H = shape[nd - 2], W = shape[nd - 1];
    grid_layout g = {.n = 1, .channels = C == 3 ? 3 : 1, .h = (int)H, .w = (int)W, .cols = 1, .gap = GAP,
                     .background = BACKGROUND, .norm = GRID_NORM_TILE};
    if (C != 1 && C != 3) /* one gray tile per channel */
        g.n = C, g.cols = cols_for(C);
    g.scale = scale_for(H > W ? H : W, INPUT_PX);
    char what[96];
    snprintf(what, sizeof what, "the input, %lld channel(s) of %lld x %lld, x%d", (long long)C, (long long)H,
             (long long)W, g.scale);
    return write_grid(dir, "input", NULL, &g, x, what);
}

/* filters_<layer>.png from weight (OC, C, KH, KW): C 1 or 3 -> a tile per
 * output channel (gray or RGB); otherwise a row per output channel with a
 * gray tile per input channel. */
static int write_filters(const char *dir, const char *layer, strata_tensor *wt)
{
    const int64_t *s = strata_tensor_shape(wt);
    float *w = read_layer_f32(wt, "weight", layer);
    if (!w)
        return 1;
    int64_t OC = s[0], C = s[1], KH = s[2], KW = s[3];
    grid_layout g = {.n = OC, .channels = C == 3 ? 3 : 1, .h = (int)KH, .w = (int)KW, .cols = cols_for(OC),
                     .scale = scale_for(KH > KW ? KH : KW, FILTER_PX), .gap = GAP, .background = BACKGROUND,
                     .norm = GRID_NORM_TILE};
    if (C != 1 && C != 3)
        g.n = OC * C, g.cols = (int)C;
    char what[160];
    snprintf(what, sizeof what, "%lld filters of %lld x %lld x %lld (%s), x%d", (long long)OC, (long long)C,
             (long long)KH, (long long)KW,
             C == 1 ? "gray" : C == 3 ? "RGB" : "a row per filter, a tile per input channel", g.scale);
    int r = write_grid(dir, "filters", layer, &g, w, what);
    free(w);
    return r;
}

/* features_<layer>.png from output (1, C, H, W): a tile per channel. */
static int write_features(const char *dir, const char *layer, const char *type, strata_tensor *out)
{
    const int64_t *s = strata_tensor_shape(out);
    float *v = read_layer_f32(out, "output", layer);
    if (!v)
        return 1;
    int64_t C = s[1], H = s[2], W = s[3];
    grid_layout g = {.n = C, .channels = 1, .h = (int)H, .w = (int)W, .cols = cols_for(C),
                     .scale = scale_for(H > W ? H : W, FEATURE_PX), .gap = GAP, .background = BACKGROUND,
                     .norm = GRID_NORM_TILE};
    char what[160];
    snprintf(what, sizeof what, "%s feature maps, %lld of %lld x %lld, x%d", type, (long long)C, (long long)H,
             (long long)W, g.scale);
    int r = write_grid(dir, "features", layer, &g, v, what);
    free(v);
    return r;
}

static int is_feature_layer(const char *type)
{
    static const char *const kinds[] = {"conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        if (!strcmp(type, kinds[k]))
            return 1;
    return 0;
}

static strata_tensor *find_param(const strata_model *m, const char *layer, const char *what)
{
    char want[256];
    snprintf(want, sizeof want, "%s.%s", layer, what);
    for (int i = 0; i < strata_model_param_count(m); i++) {
        const char *name;
        strata_tensor *t;
        if (!strata_model_param(m, i, &name, &t) && !strcmp(name, want))
            return t;
    }
    return NULL;
}

/* Prints the model's prediction for the example. */
static int print_prediction(run_ctx *c, strata_tensor *x, const vis_args *a, const char *images)
{
    strata_tensor *logits = NULL;
    strata_status rc = strata_model_forward(c->model, &x, 1, &logits, 1, 0);
    if (rc)
        return cli_fail("running the model", rc);
    float *p = read_f32(logits, "the model output");
    int64_t n = strata_tensor_numel(logits);
    strata_tensor_release(logits);
    if (!p)
        return 1;
    int64_t best = 0;
    for (int64_t k = 1; k < n; k++)
        best = p[k] > p[best] ? k : best;
    double z = 0;
    for (int64_t k = 0; k < n; k++)
        z += exp((double)p[k] - (double)p[best]);
    printf("image %lld of %s: predicted class %lld (softmax %.3f), true label %lld\n", (long long)a->index, images,
           (long long)best, 1.0 / z, (long long)strata_dataset_y(c->test, a->index));
    free(p);
    return 0;
}

static int visualize(run_ctx *c, const vis_args *a)
{
    int n_layers = strata_model_layer_count(c->model), first_conv = -1;
    for (int i = 0; i < n_layers && first_conv < 0; i++) {
        const char *type;
        if (!strata_model_layer_info(c->model, i, NULL, &type) && !strcmp(type, "conv2d"))
            first_conv = i;
    }
    if (first_conv < 0) {
        fprintf(stderr, "strata: error: %s: the model has no conv2d layer; visualize shows a ConvNet's filters and "
                        "feature maps\n", a->spec_path);
        return 1;
    }
    const char *images = "the test set";
    strata_spec_get_string(c->spec, cli_spec_has(c->spec, "data.test.file") ? "data.test.file" : "data.test.images",
                           images, &images);
    int64_t size = strata_dataset_size(c->test);
    if (a->index >= size) {
        fprintf(stderr, "strata: error: --input %lld is out of range: the test set %s has %lld images (0 to %lld)\n",
                (long long)a->index, images, (long long)size, (long long)size - 1);
        return 1;
    }
    if (cli_load_checkpoint(a->checkpoint, c->model) || cli_make_dir(a->out_dir))
        return 1;

    int nd;
    const int64_t *ms = strata_model_input_shape(c->model, 0, &nd, NULL);
    int64_t shape[STRATA_MAX_DIMS + 1] = {1};
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)nd);
    const float *xh = strata_dataset_x(c->test, a->index);
    strata_tensor *x = NULL;
    strata_status rc;
    if ((rc = strata_tensor_from_host(c->dev, STRATA_F32, nd + 1, shape, xh, &x)))
        return cli_fail("copying the input image to the device", rc);

    strata_tensor **outs = calloc((size_t)n_layers, sizeof *outs);
    if (!outs) {
        strata_tensor_release(x);
        fprintf(stderr, "strata: error: out of memory\n");
        return 1;
    }
    int prev = strata_set_grad_enabled(c->rt, 0);
    int r = 0;
    if ((rc = strata_model_forward_layers(c->model, &x, 1, outs, 0)))
        r = cli_fail("running the model layer by layer", rc);

    /* the input as an image: the model's per-example shape, else the data set's */
    int dn;
    const int64_t *ds = strata_dataset_shape(c->test, &dn);
    if (!r && (nd == 2 || nd == 3))
        r = write_input(a->out_dir, xh, ms, nd);
    else if (!r && (dn == 2 || dn == 3))
        r = write_input(a->out_dir, xh, ds, dn);
    else if (!r)
        fprintf(stderr, "strata: note: the input (%d axes) is not an image; no input.png\n", nd);

    if (!r) {
        const char *name;
        strata_model_layer_info(c->model, first_conv, &name, NULL);
        strata_tensor *w = find_param(c->model, name, "weight");
        if (!w || strata_tensor_ndim(w) != 4) {
            fprintf(stderr, "strata: error: conv2d layer '%s' has no 4-axis weight '%s.weight'\n", name, name);
            r = 1;
        } else {
            r = write_filters(a->out_dir, name, w);
        }
    }
    for (int i = 0; i < n_layers && !r; i++) {
        const char *name, *type;
        strata_model_layer_info(c->model, i, &name, &type);
        if (is_feature_layer(type) && strata_tensor_ndim(outs[i]) == 4)
            r = write_features(a->out_dir, name, type, outs[i]);
    }
    if (!r)
        r = print_prediction(c, x, a, images);
    strata_set_grad_enabled(c->rt, prev);
    for (int i = 0; i < n_layers; i++)
        strata_tensor_release(outs[i]);
    free(outs);
    strata_tensor_release(x);
    return r;
}

int cmd_visualize(int argc, char **argv)
{
    vis_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    if (cli_check_checkpoint(a.checkpoint))
        return 1;
    run_ctx ctx;
    run_options ro = {.spec_path = a.spec_path, .backend = a.backend};
    if (!(r = run_setup(&ctx, &ro, 0)))
        r = visualize(&ctx, &a);
    run_free(&ctx);
    return r;
}
