/*
 * cmd_autoencoder.c - autoencoders (task: autoencoder; docs/gan.md, Q5):
 *
 *   strata train SPEC --out RUN [--epochs N] [--steps N]   minimise the mean squared
 *       error between the model's output and its input (the model maps an
 *       image to an image of the same size through a code of
 *       autoencoder.code_size values); --steps stops after N batches
 *   strata train SPEC --resume RUN [--checkpoint-every N] [--detect-anomaly]
 *       continue RUN from RUN/checkpoint.safetensors (written with its
 *       train.state at every epoch end and every N steps), step for step
 *   strata eval SPEC --checkpoint RUN/checkpoint.safetensors [--json]
 *
 * Both report the test reconstruction MSE next to that of PCA with the same
 * number of components (fitted on the training images with LAPACK, stats.c):
 * test_mse and pca_mse in RUN/summary.json; `train` also writes
 * RUN/reconstructions.png, test images (odd rows) above their
 * reconstructions (even rows). MSEs are over pixels in the data's range
 * (data.scale 255: [0, 1]).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"
#include "png_write.h"
#include "stats.h"

typedef struct {
    const char *spec_path, *out_dir, *checkpoint, *backend;
    int64_t epochs, steps, seed, batch;
    train_resume_args ckpt; /* --resume, --checkpoint-every (0: at epoch ends only) */
    int have_seed, json, detect_anomaly, quiet;
} ae_args;

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *model;
    strata_optimizer *opt;
    strata_dataset *train, *test;
    int64_t per, code, batch;
} ae_ctx;

enum { AE_TRAIN = 1, AE_EVAL = 2 };

/* @p mode: the command (train or eval) whose options are taken. */
static int ae_parse(int argc, char **argv, ae_args *a, unsigned mode)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .modes = AE_TRAIN,
         .help = "the run directory: checkpoint, metrics.jsonl, reconstructions.png, summary.json"},
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE", .modes = AE_EVAL,
         .help = "the weights to test (RUN/checkpoint.safetensors, or RUN)", .in_dir = "checkpoint.safetensors"},
        {.name = "--epochs", .type = CLI_INT, .dst = &a->epochs, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = AE_TRAIN, .help = "passes over the training set (default: train.epochs)"},
        {.name = "--steps", .type = CLI_INT, .dst = &a->steps, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = AE_TRAIN, .help = "stop after N batches"},
        CLI_BATCH_SIZE_OPTION(&a->batch, AE_TRAIN),
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .given = &a->have_seed, .help = "the random seed (default: the spec's seed)"},
        CLI_BACKEND_OPTION(&a->backend),
        CLI_SET_OPTION(0),
        CLI_RESUME_OPTIONS(&a->ckpt, AE_TRAIN),
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .modes = AE_EVAL, .help = "print a JSON object"},
        CLI_DETECT_ANOMALY_OPTION(&a->detect_anomaly, AE_TRAIN),
        {.name = "--quiet", .type = CLI_FLAG, .dst = &a->quiet, .modes = AE_TRAIN, .help = "no progress lines"},
        {0},
    };
    const cli_command cmds[] = {
        {.name = "train", .mode = AE_TRAIN, .positional = &a->spec_path, .opts = opts,
         .synopsis = "AUTOENCODER_SPEC --out DIR [options]\nAUTOENCODER_SPEC --resume DIR [options]",
         .about = "Trains an autoencoder (task: autoencoder) and compares it with PCA of the same code size."},
        {.name = "eval", .mode = AE_EVAL, .positional = &a->spec_path, .opts = opts,
         .synopsis = "AUTOENCODER_SPEC --checkpoint FILE [options]",
         .about = "Test reconstruction error of a trained autoencoder, and PCA's."},
    };
    const cli_command *c = &cmds[mode == AE_TRAIN ? 0 : 1];
    int r = cli_parse(c, argc, argv);
    if (r || (r = cli_require(c, a->spec_path, "a model spec")) || (r = cli_batch_size_set(a->batch)))
        return r;
    if (mode == AE_EVAL)
        return cli_require(c, a->checkpoint, "--checkpoint FILE");
    if ((r = train_resume_finish(&a->ckpt, &a->out_dir)))
        return r;
    return cli_require(c, a->out_dir, "--out DIR (or --resume DIR)");
}

static void ae_free(ae_ctx *c)
{
    strata_dataset_destroy(c->train);
    strata_dataset_destroy(c->test);
    strata_optimizer_destroy(c->opt);
    strata_model_destroy(c->model);
    strata_spec_destroy(c->spec);
    strata_runtime_destroy(c->rt);
}

/* The fewest values any layer of the model gives an example (the code), and in *layer that layer's index;
 * 0 when the model cannot run on zeros. */
static int64_t ae_narrowest(ae_ctx *c, int *layer)
{
    strata_tensor **outs = cli_layer_outputs(c->rt, c->model);
    int64_t least = 0;
    for (int j = 0; outs && j < strata_model_layer_count(c->model); j++) {
        const int64_t v = outs[j] ? strata_tensor_numel(outs[j]) : 0; /* a batch of one */
        if (v > 0 && (!least || v < least))
            least = v, *layer = j;
    }
    cli_layer_outputs_free(c->model, outs);
    return least;
}

static int ae_open(ae_ctx *c, const ae_args *a, int train)
{
    memset(c, 0, sizeof *c);
    strata_status rc = cli_runtime_create(0, &c->rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (cli_spec_load(c->rt, a->spec_path, &c->spec))
        return 1;
    int64_t seed = 1;
    strata_spec_get_int(c->spec, "seed", 1, &seed);
    strata_runtime_seed(c->rt, (uint64_t)(a->have_seed ? a->seed : seed));
    if ((rc = cli_device_get(c->rt, a->backend, &c->dev)))
        return cli_fail("choosing a device", rc);
    if ((rc = strata_spec_build_model(c->spec, c->dev, &c->model)))
        return cli_fail("building the model", rc);
    if (train && (rc = strata_spec_create_optimizer(c->spec, c->model, &c->opt)))
        return cli_fail("creating the optimizer", rc);
    int r;
    if ((train && (r = cli_load_images(c->spec, "train", &c->train))) ||
        (r = cli_load_images(c->spec, "test", &c->test)))
        return r;
    if (!c->train && (r = cli_load_images(c->spec, "train", &c->train))) /* PCA is fitted on it */
        return r;
    int dn = 0, mn = 0, on = 0;
    const int64_t *ds = strata_dataset_shape(c->test, &dn), *ms = strata_model_input_shape(c->model, 0, &mn, NULL);
    const int64_t *os = strata_model_output_shape(c->model, 0, &on);
    int64_t nd = 1, nm = 1, no = 1;
    for (int k = 0; k < dn; k++)
        nd *= ds[k];
    for (int k = 0; k < mn; k++)
        nm *= ms[k];
    for (int k = 0; os && k < on; k++)
        no *= os[k];
    if (nd != nm || nd != no) {
        fprintf(stderr, "strata: error: %s: an autoencoder's input and output hold one example each (%lld values); "
                        "the model takes %lld and gives %lld\n",
                a->spec_path, (long long)nd, (long long)nm, (long long)no);
        return 1;
    }
    c->per = nd;
    int code_layer = -1;
    const int64_t narrowest = ae_narrowest(c, &code_layer);
    /* without a code_size: the narrowest layer's, or 32 when the model cannot run on zeros (its sizes unknown) */
    const int given =
        strata_spec_get_int(c->spec, "autoencoder.code_size", narrowest ? narrowest : 32, &c->code) == STRATA_OK;
    strata_clear_error();
    if (c->code < 1 || c->code > nd) { /* PCA of that many components: known now, not after training */
        fprintf(stderr, "strata: error: %s: autoencoder.code_size %lld must be 1 to the %lld values of an example "
                        "(the PCA it is compared with keeps that many components)\n",
                a->spec_path, (long long)c->code, (long long)nd);
        return 1;
    }
    if (given && narrowest && c->code != narrowest) { /* its PCA would be compared with another code */
        const char *name = "?", *type = "?";
        strata_model_layer_info(c->model, code_layer, &name, &type);
        fprintf(stderr, "strata: error: %s: autoencoder.code_size is %lld, but the model's code, its narrowest layer "
                        "(layer '%s', %s), holds %lld values: give code_size %lld (or leave it out), or change the "
                        "model\n",
                a->spec_path, (long long)c->code, name, type, (long long)narrowest, (long long)narrowest);
        return 1;
    }
    strata_spec_get_int(c->spec, "train.batch_size", 128, &c->batch);
    return 0;
}

/* Reconstructions (B, per) of images x (B, data shape), flattened. */
static strata_status ae_forward(ae_ctx *c, strata_tensor *x, int training, strata_tensor **y, strata_tensor **xf)
{
    int mn = 0;
    const int64_t *ms = strata_model_input_shape(c->model, 0, &mn, NULL);
    const int64_t B = strata_tensor_dim(x, 0);
    int64_t shape[STRATA_MAX_DIMS] = {B};
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)mn);
    strata_tensor *xi = NULL, *out = NULL;
    strata_status rc = strata_reshape(c->rt, x, mn + 1, shape, &xi);
    if (!rc)
        rc = strata_model_forward(c->model, &xi, 1, &out, 1, training);
    if (!rc)
        rc = strata_reshape(c->rt, out, 2, (const int64_t[]){B, c->per}, y);
    if (!rc)
        rc = strata_reshape(c->rt, x, 2, (const int64_t[]){B, c->per}, xf);
    strata_tensor_release(xi);
    strata_tensor_release(out);
    return rc;
}

static strata_status ae_mse(ae_ctx *c, strata_tensor *y, strata_tensor *x, strata_tensor **loss)
{
    strata_attr red = strata_attr_string("reduction", "mean");
    return strata_op_call(c->rt, "core::mse", (strata_tensor *[]){y, x}, 2, &red, 1, loss, 1);
}

/* The run_loss_fn of run_step: the mean squared error of the batch's
 * reconstructions (r->user is the ae_ctx). */
static strata_status ae_batch_loss(run_ctx *r, strata_tensor *x, strata_tensor *lab, strata_tensor **loss,
                                   int64_t *right)
{
    ae_ctx *c = r->user;
    strata_tensor *y = NULL, *xf = NULL;
    strata_status rc = ae_forward(c, x, 1, &y, &xf);
    if (!rc)
        rc = ae_mse(c, y, xf, loss);
    strata_tensor_release(y);
    strata_tensor_release(xf);
    return rc;
}

/* Test MSE of the model; the first @p keep (at most 1000) reconstructions
 * into @p recon. In a data-parallel run every rank calls it and evaluates
 * every size-th batch from its rank on (rank 0 the first, which holds the
 * reconstructions), and the sums meet. */
static strata_status ae_test_mse(ae_ctx *c, double *mse, float *recon, int64_t keep)
{
    strata_loader *ld = NULL;
    strata_status rc = strata_loader_create(c->test, 1000, 0, 1, 0, &ld);
    int prev = strata_set_grad_enabled(c->rt, 0);
    double sum = 0.0;
    int64_t seen = 0;
    if (!rc) {
        strata_loader_start_epoch(ld, 0);
        strata_loader_skip(ld, dist_rank()); /* the batches before this rank's first */
    }
    for (int64_t batch = 0; !rc; batch++) {
        strata_tensor *x = NULL, *lab = NULL, *y = NULL, *xf = NULL, *l = NULL;
        int done = 0;
        if (batch) /* the other ranks' batches, not read */
            strata_loader_skip(ld, dist_size() - 1);
        if ((rc = strata_loader_next(ld, c->dev, &x, &lab, &done)) || done)
            break;
        const int64_t B = strata_tensor_dim(x, 0);
        double v = 0.0;
        rc = ae_forward(c, x, 0, &y, &xf);
        if (!rc)
            rc = ae_mse(c, y, xf, &l);
        if (!rc)
            rc = strata_tensor_item(l, &v);
        if (!rc && recon && seen < keep) {
            float *all = malloc(sizeof(float) * (size_t)(B * c->per));
            rc = all ? strata_tensor_read(y, all, sizeof(float) * (size_t)(B * c->per)) : STRATA_E_NOMEM;
            if (!rc)
                memcpy(recon + seen * c->per, all,
                       sizeof(float) * (size_t)((keep - seen < B ? keep - seen : B) * c->per));
            free(all);
        }
        sum += v * (double)B;
        seen += B;
        strata_tensor_release(x);
        strata_tensor_release(lab);
        strata_tensor_release(y);
        strata_tensor_release(xf);
        strata_tensor_release(l);
        strata_graph_reset(strata_runtime_graph(c->rt));
    }
    strata_set_grad_enabled(c->rt, prev);
    strata_loader_destroy(ld);
    double sums[2] = {sum, (double)seen};
    if (!rc && dist_sum_f64(sums, 2))
        rc = STRATA_E_BACKEND;
    sum = sums[0], seen = (int64_t)sums[1];
    *mse = seen ? sum / (double)seen : 0.0;
    return rc;
}

/* PCA with the code size's components, fitted on the training images. */
static int ae_pca_mse(ae_ctx *c, double *mse)
{
    const int64_t n = strata_dataset_size(c->train), d = c->per, k = c->code;
    /* a baseline it cannot fit is left out (NaN, null in JSON), not an error after the training */
    char why[64] = "";
    if (d > STATS_MAX_D)
        snprintf(why, sizeof why, "examples of more than %d values", STATS_MAX_D);
    else if (n < 2 || strata_dataset_size(c->test) < 1)
        snprintf(why, sizeof why, "%s", n < 2 ? "fewer than 2 training examples" : "no test examples");
    if (why[0]) {
        fprintf(stderr, "strata: note: no PCA baseline to compare with: %s\n", why);
        *mse = NAN;
        return 0;
    }
    double *mean = malloc(sizeof(double) * (size_t)d), *comp = malloc(sizeof(double) * (size_t)(k * d));
    char err[256] = "";
    int r = !mean || !comp || /* k is 1..d: ae_open */
            stats_pca_fit(strata_dataset_x(c->train, 0), n, d, k, mean, comp, err, sizeof err);
    if (!r)
        *mse = stats_pca_mse(strata_dataset_x(c->test, 0), strata_dataset_size(c->test), d, k, mean, comp);
    if (r || *mse < 0)
        fprintf(stderr, "strata: error: PCA with %lld components of %lld: %s\n", (long long)k, (long long)d,
                err[0] ? err : "out of memory");
    free(mean);
    free(comp);
    return r || *mse < 0;
}

/* "PCA with K components MSE", or that there is no baseline (NaN). */
static void ae_print_pca(int64_t k, double mse)
{
    if (isnan(mse))
        printf("no PCA baseline");
    else
        printf("PCA with %lld components %.5f", (long long)k, mse);
}

/* Test images over their reconstructions, 16 a row. */
static int ae_write_png(ae_ctx *c, const float *recon, int64_t n, const char *path)
{
    int dn = 0;
    const int64_t *ds = strata_dataset_shape(c->test, &dn);
    /* (3, H, W) examples in colour; any other shape as gray tiles of all its values, the leading dimensions
     * stacked in height (a tile of H x W each took (3, H, W) apart and put the rows out of step) */
    const int W = dn >= 1 ? (int)ds[dn - 1] : 1, C = dn == 3 && ds[0] == 3 ? 3 : 1, cols = 16;
    const int H = (int)(c->per / ((int64_t)C * W));
    const cli_scaling sc = cli_data_scaling(c->spec);
    float lo = (float)cli_byte_to_value(&sc, 0, 0.0), hi = (float)cli_byte_to_value(&sc, 0, 255.0);
    const char *format = "idx";
    strata_spec_get_string(c->spec, "data.format", "idx", &format);
    const int sft = format && !strcmp(format, "safetensors");
    const int64_t plane = c->per / sc.n; /* per channel, when data.mean or data.std are per channel */
    cli_scaling bs = sc; /* with them, each channel's scaling undone: to bytes, or a safetensors set's own values */
    if (sc.n > 1) /* IDX bytes; a safetensors set's range decides below */
        lo = 0.0f, hi = 255.0f;
    if (sft) { /* any numbers (per channel: as stored): black and white are the test set's extremes */
        float rlo = INFINITY, rhi = -INFINITY;
        for (int64_t i = 0; i < strata_dataset_size(c->test); i++)
            for (int64_t k = 0; k < c->per; k++) {
                const float x = strata_dataset_x(c->test, i)[k];
                const float v = sc.n > 1 ? (float)cli_value_to_byte(&sc, k / plane, x) : x;
                rlo = v < rlo ? v : rlo, rhi = v > rhi ? v : rhi;
            }
        const double pixels = sc.n > 1 ? cli_pixel_factor(rlo, rhi) : 0.0; /* as cli_byte_scaling reads them */
        if (pixels)
            bs.scale *= pixels;
        else
            lo = rlo, hi = rlo < rhi ? rhi : rlo + 1.0f;
    }
    /* whole pairs of rows: a last row of fewer than 16 images is padded with white tiles */
    const int64_t slots = 2 * cols * ((n + cols - 1) / cols);
    float *tiles = malloc(sizeof(float) * (size_t)(slots * c->per + 1));
    if (!tiles)
        return 1;
    for (int64_t k = 0; k < slots * c->per; k++)
        tiles[k] = hi;
    for (int64_t i = 0; i < n; i++) {
        const int64_t row = i / cols, col = i % cols, at = (2 * row * cols + col) * c->per;
        memcpy(tiles + at, strata_dataset_x(c->test, i), sizeof(float) * (size_t)c->per);
        memcpy(tiles + at + cols * c->per, recon + i * c->per, sizeof(float) * (size_t)c->per);
        for (int64_t k = 0; sc.n > 1 && k < c->per; k++) {
            float *t = tiles + at + k, *u = tiles + at + cols * c->per + k;
            *t = (float)cli_value_to_byte(&bs, k / plane, *t);
            *u = (float)cli_value_to_byte(&bs, k / plane, *u);
        }
    }
    grid_layout g = {.n = slots, .channels = C, .h = H, .w = W, .cols = cols, .scale = 2, .gap = 2,
                     .background = 255, .norm = GRID_NORM_RANGE, .lo = lo, .hi = hi};
    uint8_t *img = grid_render(&g, tiles);
    free(tiles);
    int w = 0, h = 0, r = !img || grid_size(&g, &w, &h) ? 1 : cli_png_write(path, img, w, h, C);
    free(img);
    return r;
}

/* Where the run stands after @p step steps, @p nb batches into epoch @p ep
 * (0-based), with the sum of the epoch's batch losses; the random state as
 * it is now. */
static train_state ae_position(ae_ctx *c, const train_state *run, int64_t step, int64_t ep, int64_t nb, double sum)
{
    train_state s = {.step = step, .epoch = ep, .batch = nb, .data_seed = run->data_seed, .sum_loss = sum,
                     .batch_size = c->batch, .epochs = run->epochs, .epochs_cli = run->epochs_cli,
                     .examples = run->examples, .per_epoch = run->per_epoch};
    strata_runtime_rng_state(c->rt, &s.rng_seed, &s.rng_offset);
    return s;
}

/* RUN/checkpoint.safetensors (atomically): model, optimizer, position, and
 * the task and spec `strata eval` users look for. */
static strata_status ae_save(ae_ctx *c, const ae_args *a, const train_state *s)
{
    char real[PATH_MAX]; /* its real path, so it is found from any directory */
    json_t *meta = json_pack("{s:s, s:s}", "task", "autoencoder", "spec",
                             realpath(a->spec_path, real) ? real : a->spec_path);
    strata_status rc = meta ? train_ckpt_save_meta(a->out_dir, "checkpoint.safetensors", c->model, c->opt, s, meta)
                            : STRATA_E_NOMEM;
    json_decref(meta);
    return rc;
}

/* --resume: the model, optimizer, position and random state of RUN's
 * checkpoint; metrics.jsonl cut back to it. Prints the error; 0 or an exit code. */
static int ae_resume(ae_ctx *c, const ae_args *a, train_state *ts, int64_t *epochs, int *epochs_given)
{
    train_ckpt_remove_temps(a->out_dir);
    if (train_ckpt_load(a->out_dir, c->model, c->opt, ts))
        return 1;
    json_decref(ts->extra); /* an autoencoder keeps no state of its own */
    ts->extra = NULL;
    if (train_resume_check_batch(ts, a->out_dir, c->batch, "give --batch-size"))
        return 2;
    train_resume_warn_backend(ts, c->dev);
    if (a->have_seed) /* the run's seed stands (it was ignored without a word) */
        train_resume_note_seed(ts->data_seed, a->seed, "has", a->quiet);
    *epochs_given |= train_resume_epochs(ts, a->out_dir, epochs, a->epochs > 0, a->quiet);
    if (train_metrics_truncate(a->out_dir, ts))
        return 1;
    strata_runtime_set_rng_state(c->rt, ts->rng_seed, ts->rng_offset);
    if (!a->quiet)
        fprintf(stderr, "strata: resuming %s at step %lld (epoch %lld, batch %lld)\n", a->out_dir,
                (long long)ts->step, (long long)ts->epoch + 1, (long long)ts->batch);
    return 0;
}

/* A non-finite loss (or an anomaly report) at the step after @p good: the parameters never saw it;
 * they are saved as the run's resume point. Returns 1 (the exit code). */
static int ae_stop_at_nan(ae_ctx *c, const ae_args *a, const train_state *good, double lv, const run_buffers *kept)
{
    char why[1024];
    train_numeric_cause(lv, why, sizeof why);
    /* the buffers (batch norm's statistics) as they were before the failing step's forward pass moved them */
    strata_status sv = run_buffers_restore(c->rt, c->model, kept);
    if (!sv)
        sv = ae_save(c, a, good);
    char at[96];
    snprintf(at, sizeof at, "step %lld (epoch %lld, batch %lld)", (long long)good->step + 1,
             (long long)good->epoch + 1, (long long)good->batch + 1);
    train_tell_nan_stop(lv, why, at, sv, good->step, a->spec_path, a->out_dir);
    return 1;
}

int cmd_ae_train(int argc, char **argv)
{
    ae_args a;
    ae_ctx c;
    int r = ae_parse(argc, argv, &a, AE_TRAIN);
    if (r)
        return CLI_EXIT(r);
    a.quiet |= !dist_is_root(); /* rank 0 tells how a data-parallel run goes */
    /* --resume never creates the directory it is told to continue */
    if ((r = ae_open(&c, &a, 1)) || (r = train_out_prepare(a.out_dir, a.ckpt.resume != NULL)))
        goto out;
    if (a.detect_anomaly)
        strata_set_detect_anomaly(c.rt, 1);
    int64_t epochs = 10, seed = 1;
    strata_spec_get_int(c.spec, "train.epochs", 10, &epochs);
    strata_spec_get_int(c.spec, "seed", 1, &seed);
    if (a.epochs > 0)
        epochs = a.epochs;
    const int cli_steps = a.steps > 0;
    if (!cli_steps) /* train.steps: stop after that many batches, as --steps does */
        strata_spec_get_int(c.spec, "train.steps", 0, &a.steps);
    int64_t log_every = 50;
    double clip = 0.0;
    strata_spec_get_int(c.spec, "train.log_every", 50, &log_every);
    strata_spec_get_float(c.spec, "train.clip_grad_norm", 0.0, &clip);
    /* the rate the schedule starts from, before a checkpoint sets the current one */
    const double base_lr = strata_optimizer_lr(c.opt);
    train_state ts = {.data_seed = (uint64_t)(a.have_seed ? a.seed : seed)};
    int epochs_given = a.epochs > 0; /* --epochs, or the first run's (from its checkpoint): a cap on --steps */
    if (a.ckpt.resume && (r = ae_resume(&c, &a, &ts, &epochs, &epochs_given)))
        goto out;
    ts.epochs = epochs, ts.epochs_cli = epochs_given;
    run_ctx bn = {.spec = c.spec, .model = c.model}; /* whole batches: the loader drops the last */
    if ((r = run_check_batch_norm(&bn, a.spec_path, strata_dataset_size(c.train), c.batch, 1, 0)))
        goto out;
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", a.out_dir);
    FILE *mf = train_metrics_open(path, a.ckpt.resume != NULL);
    if (!mf) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        r = 1;
        goto out;
    }
    strata_loader *ld = NULL;
    strata_status rc = strata_loader_create(c.train, c.batch, 1, ts.data_seed, 1, &ld);
    int said = 0; /* rc's error is printed already: cli_fail would add one with an empty message */
    const int64_t per_epoch = ld ? strata_loader_batches(ld) : 0, run_batches = cli_mul_sat(per_epoch, epochs);
    if (!rc && per_epoch == 0) {
        fprintf(stderr, "strata: error: %s: train.batch_size %lld is more than the %lld training examples (whole "
                        "batches only)\n",
                a.spec_path, (long long)c.batch, (long long)strata_dataset_size(c.train));
        rc = STRATA_E_INVALID;
        said = 1;
    }
    /* another training set: the position and the schedule's length (below) would count other epochs */
    if (!rc && a.ckpt.resume &&
        (r = train_resume_check_data(&ts, a.out_dir, strata_dataset_size(c.train), per_epoch))) {
        strata_loader_destroy(ld);
        fclose(mf);
        goto out;
    }
    ts.examples = strata_dataset_size(c.train), ts.per_epoch = per_epoch;
    train_spec_record(a.out_dir, c.spec, a.ckpt.resume != NULL); /* (a resume refused leaves it as it was) */
    epochs = cli_epochs_for_steps(c.spec, a.steps, per_epoch, epochs, epochs_given ? epochs : -1, cli_steps, a.quiet);
    if (a.ckpt.resume) /* the epochs as the steps stretch them */
        train_resume_nothing_left(ts.step, a.steps, ts.epoch, epochs, "epochs", "--epochs");
    cli_schedule sched;
    if (!rc && cli_read_schedule(c.spec, run_batches, &sched)) {
        rc = STRATA_E_INVALID;
        said = 1;
    }
    cli_note_defaults(c.spec, a.quiet, a.ckpt.resume != NULL);
    if (!a.quiet)
        printf("strata: training the autoencoder %s on %s: %lld parameters, code %lld of %lld values; %lld epoch%s, "
               "batch %lld\n",
               a.spec_path, strata_device_name(c.dev), (long long)strata_model_num_scalars(c.model),
               (long long)c.code, (long long)c.per, (long long)epochs, epochs == 1 ? "" : "s", (long long)c.batch);
    fflush(stdout); /* before the progress lines on stderr */
    const double t0 = cli_now();
    double test_mse = 0.0, pca_mse = 0.0;
    const int profile = getenv("STRATA_PROFILE") && *getenv("STRATA_PROFILE") == '1';
    int64_t steps = ts.step, ran = 0;
    int nan_stop = 0, stopped = 0; /* stopped: by Ctrl-C, saved where it stands */
    int lost = 0;                  /* metrics.jsonl failed: said, on rank 0 alone (not settled) */
    run_buffers kept = {0};        /* the buffers before the step in progress */
    strata_profile_enable(c.rt, profile);
    /* the steps go through run_step, data-parallel under mpirun */
    run_ctx sc = {.rt = c.rt, .dev = c.dev, .spec = c.spec, .model = c.model, .opt = c.opt, .batch = c.batch,
                  .user = &c};
    if (!rc && !a.quiet) {
        run_note_data_parallel(c.batch, a.out_dir);
        run_note_accumulate(&sc);
    }
    if (!rc && run_check_replicas(&sc, ts.step ? "at the checkpoint" : "before training", -1)) {
        rc = STRATA_E_INVALID;
        nan_stop = 1; /* said */
    }
    /* a run resumed where --steps stopped it mid-epoch reports that epoch again */
    for (int64_t ep = ts.epoch;
         !rc && ep < epochs && (a.steps <= 0 || steps < a.steps || (ep == ts.epoch && ts.batch > 0)); ep++) {
        strata_loader_start_epoch(ld, ep);
        double sum = 0.0;
        int64_t nb = 0;
        if (ep == ts.epoch) { /* resumed mid-epoch: its position and loss sum */
            sum = ts.sum_loss;
            nb = ts.batch;
            strata_loader_skip(ld, nb);
        }
        char label[64];
        snprintf(label, sizeof label, "epoch %lld/%lld", (long long)ep + 1, (long long)epochs);
        cli_progress prog;
        /* a --steps stop within the epoch ends the bar there */
        const int64_t bar = a.steps > 0 && a.steps - steps < per_epoch - nb ? nb + a.steps - steps : per_epoch;
        progress_start(&prog, label, bar, log_every);
        while (!rc) {
            strata_tensor *x = NULL, *lab = NULL;
            int done = 0;
            if (a.steps > 0 && steps >= a.steps)
                break;
            /* every rank of a data-parallel run stops at the same step */
            if (cli_stop_agreed() && nb < per_epoch) { /* saved below, as a --steps stop */
                stopped = 1;
                break;
            }
            if ((rc = strata_loader_next(ld, c.dev, &x, &lab, &done)) || done)
                break;
            const train_state before = ae_position(&c, &ts, steps, ep, nb, sum);
            const double lr = strata_lr_at(&sched.s, base_lr, steps);
            strata_optimizer_set_lr(c.opt, lr);
            /* a non-finite loss never reaches the parameters: they stay the last good state */
            double lv = 0.0;
            rc = run_buffers_keep(c.rt, c.model, &kept);
            if (!rc)
                rc = run_step(&sc, x, lab, clip, ae_batch_loss, NULL, &lv);
            strata_tensor_release(x);
            strata_tensor_release(lab);
            if (train_numeric_stop(rc, lv)) /* a non-finite loss, or --detect-anomaly's report */
                nan_stop = ae_stop_at_nan(&c, &a, &before, lv, &kept);
            if (rc)
                break;
            sum += lv, nb++, steps++, ran++;
            /* flushed: a killed run keeps what it wrote */
            if ((lost = train_metrics_json(mf, a.out_dir, json_pack("{s:I, s:I, s:f, s:f}", "step", (json_int_t)steps,
                                                                    "epoch", (json_int_t)(ep + 1), "batch_loss", lv,
                                                                    "lr", lr)))) {
                rc = STRATA_E_IO;
                break;
            }
            if (!a.quiet)
                progress_update(&prog, nb, sum / (double)nb, NAN);
            if (a.ckpt.checkpoint_every > 0 && steps % a.ckpt.checkpoint_every == 0 && nb < per_epoch) {
                const train_state now = ae_position(&c, &ts, steps, ep, nb, sum);
                rc = ae_save(&c, &a, &now);
            }
        }
        if (!a.quiet)
            progress_end(&prog);
        /* a stop is saved before the evaluation: mpirun follows its SIGTERM with SIGKILL a second later. One
         * in the epoch's last step too is saved at the epoch's end, not the next one's start: a resumed run
         * skips the batches done and evaluates, and the epoch's record is not lost with a kill here */
        if (!rc && (stopped || cli_stop_agreed())) {
            const train_state now = ae_position(&c, &ts, steps, ep, nb, sum);
            rc = ae_save(&c, &a, &now);
        }
        if (!rc && stopped && nb < per_epoch) /* within the epoch: no evaluation (the resumed run makes it) */
            break;
        if (rc || (rc = ae_test_mse(&c, &test_mse, NULL, 0)))
            break;
        if (run_check_replicas(&sc, "after epoch", ep + 1)) {
            rc = STRATA_E_INVALID;
            nan_stop = 1; /* said */
            break;
        }
        const double train_mse = nb ? sum / (double)nb : 0.0;
        if (!a.quiet) {
            printf("epoch %lld/%lld  train mse %.5f  test mse %.5f  (%.1f s)\n", (long long)ep + 1,
                   (long long)epochs, train_mse, test_mse, cli_now() - t0);
            fflush(stdout);
        }
        if ((lost = train_metrics_json(mf, a.out_dir, json_pack("{s:I, s:I, s:f, s:f, s:f}", "epoch",
                                                                (json_int_t)(ep + 1), "step", (json_int_t)steps,
                                                                "loss", train_mse, "test_mse", test_mse, "seconds",
                                                                cli_now() - t0)))) {
            rc = STRATA_E_IO;
            break;
        }
        /* a whole epoch: resume at the next one; stopped by --steps: here */
        const train_state now = nb >= per_epoch ? ae_position(&c, &ts, steps, ep + 1, 0, 0.0)
                                                : ae_position(&c, &ts, steps, ep, nb, sum);
        rc = ae_save(&c, &a, &now);
        if (!rc && (stopped || (cli_stop_agreed() && ep + 1 < epochs && (a.steps <= 0 || steps < a.steps)))) {
            stopped = 1;
            break;
        }
    }
    if (train_metrics_close(mf, a.out_dir, lost) && !rc)
        rc = STRATA_E_IO, lost = 1;
    strata_loader_destroy(ld);
    run_buffers_free(&kept);
    free(sc.dist.buf); /* the rest of sc is c's */
    if (nan_stop || (!rc && stopped))
        dist_settled(); /* every rank stopped here */
    if (!rc && stopped) {
        r = cli_interrupt_exit(a.spec_path, a.out_dir, steps);
        report_after_training(a.out_dir, 1);
        goto out;
    }
    if (nan_stop || lost) {
        r = 1;
        goto out;
    }
    if (profile)
        cli_print_profile(c.rt, ran);
    int64_t keep = strata_dataset_size(c.test); /* the picture shows 32 test images, or all of fewer */
    keep = keep < 32 ? keep : 32;
    float *recon = malloc(sizeof(float) * (size_t)(keep * c.per + 1));
    if (!rc)
        rc = recon ? ae_test_mse(&c, &test_mse, recon, keep) : STRATA_E_NOMEM;
    if (rc) {
        free(recon);
        r = said ? 1 : cli_fail("training the autoencoder", rc);
        goto out;
    }
    if (!dist_is_root()) { /* rank 0 writes the picture, fits the PCA and reports */
        free(recon);
        goto out;
    }
    snprintf(path, sizeof path, "%s/reconstructions.png", a.out_dir);
    if ((r = ae_write_png(&c, recon, keep, path)) || (r = ae_pca_mse(&c, &pca_mse))) {
        free(recon);
        goto out;
    }
    free(recon);
    /* (a diverged model's MSE is Inf, which JSON has not: null, where it failed as "out of memory") */
    json_t *sum = json_pack("{s:o, s:o, s:I, s:I, s:f, s:s}", "test_mse", cli_json_num(test_mse), "pca_mse",
                            cli_json_num(pca_mse),
                            "code_size",
                            (json_int_t)c.code, "epochs", (json_int_t)epochs, "seconds", cli_now() - t0, "device",
                            strata_device_name(c.dev));
    cli_summary_name(sum, c.spec);
    r = cli_write_summary(a.out_dir, sum, ran > 0);
    json_decref(sum);
    printf("test reconstruction MSE %.5f; ", test_mse);
    ae_print_pca(c.code, pca_mse);
    printf("; %s/reconstructions.png\n", a.out_dir);
    report_after_training(a.out_dir, a.quiet);
out:
    ae_free(&c);
    return r;
}

int cmd_ae_eval(int argc, char **argv)
{
    ae_args a;
    ae_ctx c;
    int r = ae_parse(argc, argv, &a, AE_EVAL);
    if (r)
        return CLI_EXIT(r);
    if (cli_checkpoint_present(a.checkpoint)) /* before the data are read */
        return 1;
    double test_mse = 0.0, pca_mse = 0.0;
    strata_status rc = STRATA_OK;
    if ((r = ae_open(&c, &a, 0)))
        goto out;
    if ((rc = strata_checkpoint_load(a.checkpoint, c.model, NULL)) || (rc = ae_test_mse(&c, &test_mse, NULL, 0))) {
        r = cli_fail_file("evaluating the autoencoder", rc, a.checkpoint);
        goto out;
    }
    if ((r = ae_pca_mse(&c, &pca_mse)))
        goto out;
    if (a.json)
        r = cli_print_json(json_pack("{s:o, s:o, s:I}", "test_mse", cli_json_num(test_mse), "pca_mse",
                                     cli_json_num(pca_mse), "code_size", (json_int_t)c.code));
    else {
        printf("test reconstruction MSE %.5f; ", test_mse);
        ae_print_pca(c.code, pca_mse);
        putchar('\n');
    }
out:
    ae_free(&c);
    return r;
}
