/* cmd_summary.c - `strata summary`: a spec's model before it is trained,
 * as torchinfo's summary() and Keras' model.summary() show it: every
 * layer's type, output shape and parameter count, the totals, the
 * parameters' memory and an estimate of the activation memory of one
 * training batch. A GAN spec (task: gan) shows its generator, then its
 * discriminator.
 *
 * The shapes come from one forward pass of a zero-filled batch of one
 * example (token id 0 for integer inputs), in inference mode with
 * gradients off; nothing is read from the spec's data files. A parameter
 * or buffer belongs to the layer whose name, followed by '.', begins its
 * own ("0.weight", "l.weight_ih_l0", "mn.A.0"), the longest such name when
 * several do; the rest is listed as "(other)". */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define MAX_BATCH (1LL << 30)

typedef struct {
    const char *spec_path, *backend;
    int64_t batch; /* --batch-size; 0: the spec's train.batch_size */
    int json;
} summary_args;

static int parse_args(int argc, char **argv, summary_args *a)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--batch-size", .type = CLI_INT, .dst = &a->batch, .value = "B", .lo = 1, .hi = MAX_BATCH,
         .help = "the batch of the activation estimate (default: the spec's train.batch_size, else its trainer's)"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .help = "one JSON object on stdout"},
        CLI_BACKEND_OPTION(&a->backend),
        CLI_SET_OPTION(0),
        {0},
    };
    const cli_command c = {
        .name = "summary",
        .synopsis = "SPEC [--batch-size B] [--backend NAME] [--set KEY=VALUE ...] [--json]",
        .about = "A spec's model before training: each layer's type, output shape and parameters, the totals,\n"
                 "the parameter memory and an estimate of the activation memory of a training batch.",
        .positional = &a->spec_path,
        .opts = opts,
        .notes = "Shapes come from one forward pass of zeros (a batch of one, inference mode); no data is read.\n"
                 "Sizes that training takes from the data (a bAbI or text vocabulary) are the spec's as written.",
    };
    int r = cli_parse(&c, argc, argv);
    if (r)
        return r;
    return cli_require(&c, a->spec_path, "SPEC");
}

/* One layer's row. */
typedef struct {
    const char *name, *type; /* borrowed from the model */
    int ndim;                /* of its output 0 without the batch (-1: none) */
    int64_t shape[STRATA_MAX_DIMS];
    int64_t params, buffers;  /* scalars */
    int64_t out_bytes;        /* its output 0's bytes for one example */
} layer_row;

/* What is shown of one model. */
typedef struct {
    const char *name;      /* "model", "generator", "discriminator" */
    char section[32];      /* its spec section: "model", "generator.model" */
    const char *optimizer; /* its optimizer type; NULL: none */
    int n_layers;
    layer_row *rows;
    int64_t other_params, other_buffers;
    int64_t params, param_tensors, param_bytes;
    int64_t buffers, buffer_tensors, buffer_bytes;
    int64_t act_bytes; /* per example: every layer's output 0 */
    int mixed;         /* parameters of more than one dtype */
    strata_dtype param_dtype;
} model_summary;

/* @p v with thousands separators ("61,706") in @p buf. */
static const char *fmt_count(char *buf, size_t size, int64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t k = 0;
    if (v < 0 && k + 1 < size)
        buf[k++] = '-';
    for (int i = 0; i < n && k + 1 < size; i++) {
        buf[k++] = digits[i];
        if ((n - 1 - i) % 3 == 0 && i < n - 1 && k + 1 < size)
            buf[k++] = ',';
    }
    buf[k] = '\0';
    return buf;
}

/* @p bytes as "241.0 KiB" in @p buf. */
static const char *fmt_bytes(char *buf, size_t size, int64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%lld B", (long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3)
        v /= 1024.0, u++;
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

/* "[6, 28, 28]" in @p buf; "[]" for none, "-" when unknown (ndim < 0). */
static const char *fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    if (ndim < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    size_t k = 0;
    buf[k++] = '[';
    for (int i = 0; i < ndim && k + 24 < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(buf + k, size - k, "]");
    return buf;
}

static json_t *json_shape(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int i = 0; i < ndim; i++)
        json_array_append_new(a, json_integer((json_int_t)shape[i]));
    return a;
}

/* The index of the layer that owns the parameter or buffer @p name: the
 * longest layer name that followed by '.' begins it; -1 for none. */
static int owner(const model_summary *ms, const char *name)
{
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < ms->n_layers; i++) {
        const char *ln = ms->rows[i].name;
        size_t n = ln ? strlen(ln) : 0;
        if (n && n > best_len && !strncmp(name, ln, n) && name[n] == '.')
            best = i, best_len = n;
    }
    return best;
}

/* Adds the parameters (@p buffers 0) or buffers of @p m to @p ms's rows and totals. */
static void count_tensors(const strata_model *m, model_summary *ms, int buffers)
{
    int n = buffers ? strata_model_buffer_count(m) : strata_model_param_count(m);
    for (int k = 0; k < n; k++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        if ((buffers ? strata_model_buffer(m, k, &name, &t) : strata_model_param(m, k, &name, &t)) || !t)
            continue;
        int64_t numel = strata_tensor_numel(t);
        int64_t bytes = numel * (int64_t)strata_dtype_size(strata_tensor_dtype(t));
        int i = name ? owner(ms, name) : -1;
        if (buffers) {
            *(i >= 0 ? &ms->rows[i].buffers : &ms->other_buffers) += numel;
            ms->buffers += numel, ms->buffer_tensors++, ms->buffer_bytes += bytes;
        } else {
            *(i >= 0 ? &ms->rows[i].params : &ms->other_params) += numel;
            ms->param_tensors++, ms->param_bytes += bytes;
            if (ms->param_tensors == 1)
                ms->param_dtype = strata_tensor_dtype(t);
            else if (strata_tensor_dtype(t) != ms->param_dtype)
                ms->mixed = 1;
        }
    }
}

/* The spec's input @p k of @p ms's section: its name ("x" for `input: [...]`). */
static const char *input_name(const strata_spec *s, const model_summary *ms, int k)
{
    char key[96];
    const char *name = NULL;
    snprintf(key, sizeof key, "%s.inputs.%d.name", ms->section, k);
    if (strata_spec_get_string(s, key, NULL, &name) || !name)
        name = k ? "?" : "x";
    strata_clear_error();
    return name;
}

/* The spec's output @p k of @p ms's section ("l:1"); the last layer's name by default. */
static const char *output_name(const strata_spec *s, const model_summary *ms, int k)
{
    char key[96];
    const char *name = NULL;
    snprintf(key, sizeof key, "%s.outputs.%d", ms->section, k);
    if (strata_spec_get_string(s, key, NULL, &name) || !name)
        name = !k && ms->n_layers ? ms->rows[ms->n_layers - 1].name : "?";
    strata_clear_error();
    return name;
}

/* Runs @p m once on zeros (a batch of one) and fills @p ms's rows: 0, or 1
 * after a message naming @p path. */
static int fill_rows(strata_model *m, strata_device *dev, model_summary *ms, const char *path)
{
    const int n_in = strata_model_input_count(m);
    ms->n_layers = strata_model_layer_count(m);
    ms->rows = calloc((size_t)(ms->n_layers ? ms->n_layers : 1), sizeof *ms->rows);
    strata_tensor **in = calloc((size_t)(n_in ? n_in : 1), sizeof *in);
    strata_tensor **outs = calloc((size_t)(ms->n_layers ? ms->n_layers : 1), sizeof *outs);
    if (!ms->rows || !in || !outs) {
        free(in), free(outs);
        fprintf(stderr, "strata: error: out of memory\n");
        return 1;
    }
    char what[4200];
    strata_status rc = STRATA_OK;
    for (int i = 0; i < ms->n_layers && !rc; i++)
        rc = strata_model_layer_info(m, i, &ms->rows[i].name, &ms->rows[i].type);
    if (!rc && (rc = cli_forward_zeros(m, dev, in, outs))) {
        snprintf(what, sizeof what, "%s: running the %s on zeros (a batch of one)", path, ms->name);
        cli_fail(what, rc);
    }
    for (int i = 0; i < ms->n_layers && !rc; i++) {
        layer_row *row = &ms->rows[i];
        const strata_tensor *t = outs[i];
        row->ndim = -1;
        if (!t)
            continue;
        int nd = strata_tensor_ndim(t);
        const int64_t *shape = strata_tensor_shape(t);
        row->ndim = nd > 0 ? nd - 1 : 0; /* the batch of one dropped */
        for (int d = 1; d < nd; d++)
            row->shape[d - 1] = shape[d];
        size_t es = strata_dtype_size(strata_tensor_dtype(t));
        row->out_bytes = strata_tensor_numel(t) * (int64_t)(es ? es : 4);
        ms->act_bytes += row->out_bytes;
    }
    for (int i = 0; i < ms->n_layers; i++)
        strata_tensor_release(outs[i]);
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(in[k]);
    free(in), free(outs);
    if (rc)
        return 1;
    count_tensors(m, ms, 0);
    count_tensors(m, ms, 1);
    ms->params = strata_model_num_scalars(m);
    return 0;
}

static void print_text(const strata_spec *s, const strata_model *m, const model_summary *ms, const char *path,
                       const char *device, int64_t batch)
{
    char a[64], b[64], shape[256];
    printf("%s: %s on %s\n", path, ms->name, device);
    for (int k = 0; k < strata_model_input_count(m); k++) {
        int nd = 0;
        strata_dtype dt = STRATA_F32;
        const int64_t *sh = strata_model_input_shape(m, k, &nd, &dt);
        printf("  input %s: %s %s\n", input_name(s, ms, k), fmt_shape(shape, sizeof shape, sh ? nd : 0, sh),
               strata_dtype_name(dt));
    }
    /* column widths: the longest name, type and shape */
    int wi = 1, wn = 4, wt = 4, ws = 12, wp = 6, wb = 7;
    int has_buffers = ms->buffer_tensors > 0;
    for (int i = 0; i < ms->n_layers; i++) {
        const layer_row *r = &ms->rows[i];
        int n;
        if ((n = snprintf(a, sizeof a, "%d", i)) > wi)
            wi = n;
        if (r->name && (n = (int)strlen(r->name)) > wn)
            wn = n;
        if (r->type && (n = (int)strlen(r->type)) > wt)
            wt = n;
        if ((n = (int)strlen(fmt_shape(shape, sizeof shape, r->ndim, r->shape))) > ws)
            ws = n;
        if ((n = (int)strlen(fmt_count(a, sizeof a, r->params))) > wp)
            wp = n;
        if ((n = (int)strlen(fmt_count(a, sizeof a, r->buffers))) > wb)
            wb = n;
    }
    if (ms->other_params || ms->other_buffers) {
        if (7 > wn)
            wn = 7; /* "(other)" */
        int n;
        if ((n = (int)strlen(fmt_count(a, sizeof a, ms->other_params))) > wp)
            wp = n;
        if ((n = (int)strlen(fmt_count(a, sizeof a, ms->other_buffers))) > wb)
            wb = n;
    }
    printf("  %-*s  %-*s  %-*s  %-*s  %*s", wi, "#", wn, "name", wt, "type", ws, "output shape", wp, "params");
    if (has_buffers)
        printf("  %*s", wb, "buffers");
    printf("\n");
    for (int i = 0; i < ms->n_layers; i++) {
        const layer_row *r = &ms->rows[i];
        printf("  %-*d  %-*s  %-*s  %-*s  %*s", wi, i, wn, r->name ? r->name : "", wt, r->type ? r->type : "", ws,
               fmt_shape(shape, sizeof shape, r->ndim, r->shape), wp, fmt_count(a, sizeof a, r->params));
        if (has_buffers)
            printf("  %*s", wb, fmt_count(b, sizeof b, r->buffers));
        printf("\n");
    }
    if (ms->other_params || ms->other_buffers) {
        printf("  %-*s  %-*s  %-*s  %-*s  %*s", wi, "", wn, "(other)", wt, "", ws, "", wp,
               fmt_count(a, sizeof a, ms->other_params));
        if (has_buffers)
            printf("  %*s", wb, fmt_count(b, sizeof b, ms->other_buffers));
        printf("\n");
    }
    for (int k = 0;; k++) {
        int nd = 0;
        const int64_t *sh = strata_model_output_shape(m, k, &nd);
        if (!sh)
            break;
        printf("  output %s: %s\n", output_name(s, ms, k), fmt_shape(shape, sizeof shape, nd, sh));
    }
    printf("  total: %s parameter%s in %lld tensor%s (%s %s); optimizer %s\n", fmt_count(a, sizeof a, ms->params),
           ms->params == 1 ? "" : "s", (long long)ms->param_tensors, ms->param_tensors == 1 ? "" : "s",
           fmt_bytes(b, sizeof b, ms->param_bytes),
           ms->mixed ? "mixed dtypes" : strata_dtype_name(ms->param_tensors ? ms->param_dtype : STRATA_F32),
           ms->optimizer ? ms->optimizer : "none");
    if (has_buffers)
        printf("  buffers (not trained, e.g. running statistics): %s value%s in %lld tensor%s (%s)\n",
               fmt_count(a, sizeof a, ms->buffers), ms->buffers == 1 ? "" : "s", (long long)ms->buffer_tensors,
               ms->buffer_tensors == 1 ? "" : "s", fmt_bytes(b, sizeof b, ms->buffer_bytes));
    printf("  activations: ~%s for a batch of %s (estimate: layer outputs kept for the backward pass)\n",
           fmt_bytes(a, sizeof a, ms->act_bytes * batch), fmt_count(b, sizeof b, batch));
}

static json_t *to_json(const strata_spec *s, const strata_model *m, const model_summary *ms, int64_t batch)
{
    json_t *inputs = json_array(), *outputs = json_array(), *layers = json_array();
    for (int k = 0; k < strata_model_input_count(m); k++) {
        int nd = 0;
        strata_dtype dt = STRATA_F32;
        const int64_t *sh = strata_model_input_shape(m, k, &nd, &dt);
        json_array_append_new(inputs, json_pack("{s:s, s:o, s:s}", "name", input_name(s, ms, k), "shape",
                                                json_shape(sh ? nd : 0, sh), "dtype", strata_dtype_name(dt)));
    }
    for (int k = 0;; k++) {
        int nd = 0;
        const int64_t *sh = strata_model_output_shape(m, k, &nd);
        if (!sh)
            break;
        json_array_append_new(outputs, json_pack("{s:s, s:o}", "name", output_name(s, ms, k), "shape",
                                                 json_shape(nd, sh)));
    }
    for (int i = 0; i < ms->n_layers; i++) {
        const layer_row *r = &ms->rows[i];
        json_t *shape = r->ndim < 0 ? json_null() : json_shape(r->ndim, r->shape);
        json_array_append_new(layers, json_pack("{s:i, s:s, s:s, s:o, s:I, s:I}", "index", i, "name",
                                                r->name ? r->name : "", "type", r->type ? r->type : "",
                                                "output_shape", shape, "params", (json_int_t)r->params, "buffers",
                                                (json_int_t)r->buffers));
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "name",
                     ms->name, "inputs", inputs, "outputs", outputs, "layers", layers, "params",
                     (json_int_t)ms->params, "param_tensors", (json_int_t)ms->param_tensors, "param_bytes",
                     (json_int_t)ms->param_bytes, "other_params", (json_int_t)ms->other_params, "buffers",
                     (json_int_t)ms->buffers, "buffer_tensors", (json_int_t)ms->buffer_tensors, "buffer_bytes",
                     (json_int_t)ms->buffer_bytes, "other_buffers", (json_int_t)ms->other_buffers,
                     "activation_bytes", (json_int_t)(ms->act_bytes * batch), "batch", (json_int_t)batch,
                     "optimizer", ms->optimizer);
}

/* Index in the spec's model.layers of the layer named @p name (a layer
 * without a name is named by its position); -1 when none is. */
static int spec_layer_index(const strata_spec *s, const char *name)
{
    for (int k = 0;; k++) {
        char key[64], pos[16];
        const char *type = NULL, *n = NULL;
        snprintf(key, sizeof key, "model.layers.%d.type", k);
        if (strata_spec_get_string(s, key, NULL, &type) || !type)
            break;
        snprintf(key, sizeof key, "model.layers.%d.name", k);
        snprintf(pos, sizeof pos, "%d", k);
        strata_spec_get_string(s, key, pos, &n);
        if (n && !strcmp(n, name)) {
            strata_clear_error();
            return k;
        }
    }
    strata_clear_error();
    return -1;
}

/* The note for specs whose sizes training takes from the data, in @p buf
 * ("" for none). */
static void data_note(const strata_spec *s, char *buf, size_t size)
{
    const char *format = "idx";
    buf[0] = '\0';
    strata_spec_get_string(s, "data.format", "idx", &format);
    strata_clear_error();
    if (format && !strcmp(format, "babi")) {
        const char *layer = "mn";
        strata_spec_get_string(s, "data.layer", "mn", &layer);
        strata_clear_error();
        int k = spec_layer_index(s, layer);
        snprintf(buf, size,
                 "data.format babi: layer %s's vocab_size and the story and query lengths come from the data when "
                 "training; shown as the spec writes them (--set model.layers.%d.vocab_size=V changes it here)",
                 layer, k < 0 ? 0 : k);
    } else if (format && !strcmp(format, "text")) {
        snprintf(buf, size,
                 "data.format text: the vocabulary comes from the corpus when training (the embedding and output "
                 "layers must cover it); shown as the spec writes them (--set model.layers.N.KEY=V changes them "
                 "here)");
    }
}

/* 1 for a two-model spec (task: gan, or generator: and discriminator: sections). */
static int two_models(const strata_spec *s)
{
    const char *task = NULL, *g = NULL;
    int r = (!strata_spec_get_string(s, "task", NULL, &task) && task && !strcmp(task, "gan")) ||
            !strata_spec_get_string(s, "generator.model.layers.0.type", NULL, &g);
    strata_clear_error();
    return r;
}

/* Builds, runs and reports model @p name ("model", or a two-model spec's
 * "generator" / "discriminator"): 0, or 1 after a message. */
static int summarise(const summary_args *a, const strata_spec *s, strata_device *dev, const char *name,
                     int64_t batch, json_t *models)
{
    model_summary ms;
    memset(&ms, 0, sizeof ms);
    ms.name = name;
    const int named = strcmp(name, "model") != 0;
    snprintf(ms.section, sizeof ms.section, named ? "%s.model" : "%s", name);
    char key[64];
    snprintf(key, sizeof key, named ? "%s.optimizer.type" : "optimizer.type", name);
    strata_spec_get_string(s, key, NULL, &ms.optimizer);
    strata_clear_error();

    strata_model *m = NULL;
    strata_status rc = named ? strata_spec_build_named(s, name, dev, &m) : strata_spec_build_model(s, dev, &m);
    if (rc) {
        char what[4200];
        snprintf(what, sizeof what, "%s: building the %s", a->spec_path, name);
        return cli_fail(what, rc);
    }
    /* the optimizer's settings checked as train checks them (beta1: 1.0 passed here, failed there) */
    strata_optimizer *opt = NULL; /* a spec without one (a model to look at) has none to check */
    rc = !ms.optimizer ? STRATA_OK
         : named       ? strata_spec_create_optimizer_named(s, name, m, &opt)
                       : strata_spec_create_optimizer(s, m, &opt);
    strata_optimizer_destroy(opt);
    if (rc) {
        char what[4200];
        snprintf(what, sizeof what, "%s: creating the %s's optimizer", a->spec_path, name);
        strata_model_destroy(m);
        return cli_fail(what, rc);
    }
    int r = fill_rows(m, dev, &ms, a->spec_path);
    if (!r) {
        if (models)
            json_array_append_new(models, to_json(s, m, &ms, batch));
        else
            print_text(s, m, &ms, a->spec_path, strata_device_name(dev), batch);
    }
    free(ms.rows);
    strata_model_destroy(m);
    return r;
}

int cmd_summary(int argc, char **argv)
{
    summary_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    strata_runtime *rt = NULL;
    strata_spec *s = NULL;
    strata_device *dev = NULL;
    strata_runtime_options o = {.struct_size = sizeof o};
    strata_status rc = strata_runtime_create(&o, &rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (cli_spec_load(rt, a.spec_path, &s)) {
        strata_runtime_destroy(rt);
        return 1;
    }
    int64_t seed = 1;
    strata_spec_get_int(s, "seed", 1, &seed);
    strata_runtime_seed(rt, (uint64_t)seed);
    strata_clear_error();
    if ((rc = strata_device_get(rt, a.backend, 0, &dev))) {
        r = cli_fail("choosing a device", rc);
    } else {
        strata_set_grad_enabled(rt, 0);
        /* the trainer's default batch when the spec gives none (docs/spec.md, train.batch_size) */
        const char *format = "idx", *task = "";
        strata_spec_get_string(s, "data.format", "idx", &format);
        strata_spec_get_string(s, "task", "", &task);
        const int64_t dflt = format && !strcmp(format, "babi") ? 32 : task && !strcmp(task, "autoencoder") ? 128 : 64;
        int64_t batch = dflt;
        strata_spec_get_int(s, "train.batch_size", dflt, &batch);
        strata_clear_error();
        if (a.batch > 0)
            batch = a.batch;
        if (batch < 1)
            batch = 1;
        char note[512];
        data_note(s, note, sizeof note);
        json_t *models = a.json ? json_array() : NULL;
        static const char *const gan[] = {"generator", "discriminator"};
        const int two = two_models(s);
        for (int k = 0; k < (two ? 2 : 1) && !r; k++) {
            if (k && !a.json)
                printf("\n");
            r = summarise(&a, s, dev, two ? gan[k] : "model", batch, models);
        }
        if (!r && a.json)
            r = cli_print_json(json_pack("{s:s, s:s, s:s, s:o, s:s?}", "spec", a.spec_path, "backend",
                                         strata_device_backend(dev), "device", strata_device_name(dev), "models",
                                         models, "note", note[0] ? note : NULL));
        else
            json_decref(models);
        if (!r && !a.json && note[0])
            printf("  note: %s\n", note);
    }
    strata_spec_destroy(s);
    strata_runtime_destroy(rt);
    return r;
}
