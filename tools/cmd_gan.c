/*
 * cmd_gan.c - generative adversarial networks (task: gan; docs/gan.md):
 *
 *   strata train SPEC --out RUN [--steps N]   alternate gan.d_steps
 *       discriminator steps and one generator step; losses logged; a grid
 *       of samples from fixed noise written every gan.sample_every steps
 *   strata train SPEC --resume RUN [--checkpoint-every N] [--detect-anomaly]
 *       continue RUN from its checkpoint (gan_save), step for step
 *   strata sample --checkpoint RUN/generator.safetensors --count N --out F.png
 *   strata fid --classifier CKPT --generator CKPT [--real DIR] [--count N] [--json]
 *
 * A GAN spec has the sections generator: and discriminator:, each a
 * {model, optimizer} pair; the generator's input is the noise z (gan.noise_dim
 * values from N(0, 1)), its output an image in the data's range (tanh:
 * [-1, 1], with data.scale 127.5 and data.mean 1; grids and FID undo that
 * scaling to bytes, gan_pixel_range); the discriminator maps an
 * image to one logit. The losses are the gan plugin's gan::d_loss and
 * gan::g_loss of kind gan.loss. With gan.ema > 0 an exponential moving
 * average of the generator's weights is kept (gan::ema_update) and its
 * samples and checkpoint are written too.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"
#include "png_write.h"
#include "stats.h"

typedef struct {
    const char *spec_path, *out_dir, *backend, *checkpoint, *out_png, *classifier, *classifier_spec, *generator,
        *real;
    int64_t steps, seed, count, batch;
    train_resume_args ckpt; /* --resume, --checkpoint-every (0: at the start and the end only) */
    int have_seed, json, detect_anomaly, quiet;
} gan_args;

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *G, *D, *E; /* E: the moving average of G (or NULL) */
    strata_optimizer *og, *od;
    strata_dataset *train;
    strata_loader *ld;
    const char *loss;
    int64_t nz, d_steps, batch;
    int64_t step, epoch, nb; /* iterations done; the loader's epoch and its batches taken */
    uint64_t data_seed;      /* the loader's shuffling seed */
    double ema;
    double clip;             /* train.clip_grad_norm, of each model's gradients */
    double base_lr_g, base_lr_d; /* the spec's rates, which schedule: scales */
    cli_schedule sched;          /* read in place: its milestones point into it */
    dist_host dist;              /* a data-parallel run's host copies (dist.h) */
    int64_t checked;             /* the step whose replicas were last compared (gan_check_replicas) */
    float px_lo, px_hi;          /* the generator's values of pixel 0 and 255 (gan_pixel_range) ... */
    int px_known;
    int px_channels;             /* ... or, with data.mean or data.std per channel, px_sc undone: */
    cli_scaling px_sc;           /* a channel's values as bytes (gan_value_to_byte) */
} gan_ctx;

/* The most images one grid holds, for `strata sample --count` and
 * gan.sample_count alike: beyond it the grid PNG grows past any use. */
enum { GAN_MAX_SAMPLES = 4096 };

enum { GAN_TRAIN = 1, GAN_SAMPLE = 2, GAN_FID = 4 };

/* @p mode: the command (train, sample or fid) whose options are taken. */
static int gan_parse(int argc, char **argv, gan_args *a, unsigned mode)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .modes = GAN_TRAIN,
         .help = "the run directory: generator/discriminator checkpoints, samples/, metrics.jsonl"},
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_png, .value = "FILE.png", .modes = GAN_SAMPLE,
         .help = "the grid of samples"},
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE", .modes = GAN_SAMPLE,
         .help = "the generator (RUN/generator.safetensors, or RUN)", .in_dir = "generator.safetensors"},
        {.name = "--generator", .type = CLI_STRING, .dst = &a->generator, .value = "CKPT", .modes = GAN_FID,
         .help = "the generator (RUN/generator.safetensors, or RUN)", .in_dir = "generator.safetensors"},
        {.name = "--classifier", .type = CLI_STRING, .dst = &a->classifier, .value = "CKPT", .modes = GAN_FID,
         .help = "the classifier whose penultimate-layer features are compared (a checkpoint, or its run)",
         .in_dir = "checkpoint.safetensors"},
        {.name = "--classifier-spec", .type = CLI_STRING, .dst = &a->classifier_spec, .value = "SPEC",
         .modes = GAN_FID, .help = "its spec (default: RUN/spec.yaml beside it, else the one its checkpoint records)"},
        {.name = "--spec", .type = CLI_STRING, .dst = &a->spec_path, .value = "GAN_SPEC", .modes = GAN_SAMPLE | GAN_FID,
         .help = "the GAN's spec (default: RUN/spec.yaml beside the generator, else the one its checkpoint records)"},
        {.name = "--real", .type = CLI_STRING, .dst = &a->real, .value = "DIR", .modes = GAN_FID,
         .help = "Fashion-MNIST's IDX files (default: /usr/share/datasets/fashion-mnist)"},
        {.name = "--steps", .type = CLI_INT, .dst = &a->steps, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = GAN_TRAIN, .help = "iterations of discriminator and generator steps (default: train.steps)"},
        CLI_BATCH_SIZE_OPTION(&a->batch, GAN_TRAIN),
        {.name = "--count", .type = CLI_INT, .dst = &a->count, .value = "N", .lo = 1, .hi = GAN_MAX_SAMPLES,
         .modes = GAN_SAMPLE, .help = "samples in the grid (default 64)"},
        {.name = "--count", .type = CLI_INT, .dst = &a->count, .value = "N", .lo = 2, .hi = LLONG_MAX,
         .modes = GAN_FID, .help = "real images and samples compared (default: the whole test set)"},
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .given = &a->have_seed, .modes = GAN_TRAIN | GAN_SAMPLE, .help = "the random seed"},
        CLI_SET_OPTION(GAN_TRAIN | GAN_SAMPLE),
        CLI_RESUME_OPTIONS(&a->ckpt, GAN_TRAIN),
        CLI_BACKEND_OPTION(&a->backend),
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .modes = GAN_FID, .help = "print a JSON object"},
        CLI_DETECT_ANOMALY_OPTION(&a->detect_anomaly, GAN_TRAIN),
        {.name = "--quiet", .type = CLI_FLAG, .dst = &a->quiet, .modes = GAN_TRAIN, .help = "no progress lines"},
        {0},
    };
    const cli_command cmds[] = {
        {.name = "train", .mode = GAN_TRAIN, .positional = &a->spec_path, .opts = opts,
         .synopsis = "GAN_SPEC --out DIR [options]\nGAN_SPEC --resume DIR [options]",
         .about = "Trains a generator and a discriminator (task: gan) on Fashion-MNIST (docs/gan.md)."},
        {.name = "sample", .mode = GAN_SAMPLE, .positional = &a->spec_path, .opts = opts,
         .synopsis = "--checkpoint RUN/generator.safetensors --out FILE.png [options]",
         .about = "A grid of a trained generator's samples."},
        {.name = "fid", .mode = GAN_FID, .positional = &a->spec_path, .opts = opts,
         .synopsis = "--classifier CKPT --generator CKPT [options]",
         .about = "Frechet distance between real test images and samples, on a classifier's features."},
    };
    const cli_command *c = &cmds[mode == GAN_TRAIN ? 0 : mode == GAN_SAMPLE ? 1 : 2];
    int r = cli_parse(c, argc, argv);
    if (r)
        return r;
    if (mode == GAN_SAMPLE) {
        r = cli_require(c, a->checkpoint, "--checkpoint FILE");
        return r ? r : cli_require(c, a->out_png, "--out FILE.png");
    }
    if (mode == GAN_FID) {
        r = cli_require(c, a->classifier, "--classifier CKPT");
        return r ? r : cli_require(c, a->generator, "--generator CKPT");
    }
    if ((r = cli_require(c, a->spec_path, "a GAN spec")) || (r = cli_batch_size_set(a->batch)) ||
        (r = train_resume_finish(&a->ckpt, &a->out_dir)))
        return r;
    return cli_require(c, a->out_dir, "--out DIR (or --resume DIR)");
}

static void gan_free(gan_ctx *c)
{
    strata_loader_destroy(c->ld);
    strata_dataset_destroy(c->train);
    strata_optimizer_destroy(c->og);
    strata_optimizer_destroy(c->od);
    strata_model_destroy(c->E);
    strata_model_destroy(c->G);
    strata_model_destroy(c->D);
    strata_spec_destroy(c->spec);
    strata_runtime_destroy(c->rt);
    free(c->dist.buf);
    memset(c, 0, sizeof *c);
}

/* Values per example of a model's input or output shape; -1 when the
 * product does not fit int64_t (a wrapped one could pass for a fitting count). */
static int64_t gan_numel(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        if (__builtin_mul_overflow(n, shape[k], &n))
            return -1;
    return n;
}

/* The averaged generator @p e takes @p g's current buffers (batch norm's
 * running statistics and num_batches_tracked, spectral normalisation's u:
 * copied, not averaged) and, when @p params, its parameters too (the
 * average's start). Called where the average is used (saved, sampled), not
 * after every step. torch 1.13's AveragedModel differs: by default
 * (use_buffers=False) it keeps the buffers of the copy it made when built,
 * and with use_buffers=True it averages them with the parameters. */
static strata_status gan_copy_model(strata_runtime *rt, strata_model *g, strata_model *e, int params)
{
    strata_status rc = STRATA_OK;
    for (int k = 0; params && k < strata_model_param_count(g) && !rc; k++) {
        strata_tensor *p = NULL, *q = NULL;
        if (!(rc = strata_model_param(g, k, NULL, &p)) && !(rc = strata_model_param(e, k, NULL, &q)))
            rc = cli_copy_tensor(rt, q, p);
    }
    for (int k = 0; k < strata_model_buffer_count(g) && !rc; k++) {
        strata_tensor *b = NULL, *q = NULL;
        if (!(rc = strata_model_buffer(g, k, NULL, &b)) && !(rc = strata_model_buffer(e, k, NULL, &q)))
            rc = cli_copy_tensor(rt, q, b);
    }
    return rc;
}

/* Runtime, spec, generator and discriminator (optimizers when training). */
static int gan_open(gan_ctx *c, const char *spec_path, const char *backend, const int64_t *seed, int train)
{
    strata_status rc = cli_runtime_create(0, &c->rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (cli_spec_load(c->rt, spec_path, &c->spec))
        return 1;
    int64_t s = 1;
    strata_spec_get_int(c->spec, "seed", 1, &s);
    strata_runtime_seed(c->rt, (uint64_t)(seed ? *seed : s));
    if ((rc = cli_device_get(c->rt, backend, &c->dev)))
        return cli_fail("choosing a device", rc);
    if ((rc = strata_spec_build_named(c->spec, "generator", c->dev, &c->G)))
        return cli_fail("building the generator", rc);
    if (train && (rc = strata_spec_build_named(c->spec, "discriminator", c->dev, &c->D)))
        return cli_fail("building the discriminator", rc);
    int nd = 0, od = 0;
    strata_dtype dt = STRATA_F32;
    const int64_t *zs = strata_model_input_shape(c->G, 0, &nd, &dt);
    if (strata_model_input_count(c->G) != 1 || !zs || nd != 1 || dt != STRATA_F32) {
        fprintf(stderr, "strata: error: %s: the generator takes one input, the noise z: input: [noise_dim]\n",
                spec_path);
        return 1;
    }
    c->nz = zs[0];
    int64_t nz = c->nz;
    strata_spec_get_int(c->spec, "gan.noise_dim", c->nz, &nz);
    if (nz != c->nz) {
        fprintf(stderr, "strata: error: %s: gan.noise_dim is %lld but the generator's input is [%lld]\n", spec_path,
                (long long)nz, (long long)c->nz);
        return 1;
    }
    strata_spec_get_string(c->spec, "gan.loss", "non_saturating", &c->loss);
    strata_spec_get_int(c->spec, "gan.d_steps", 1, &c->d_steps);
    strata_spec_get_float(c->spec, "gan.ema", 0.0, &c->ema);
    strata_spec_get_int(c->spec, "train.batch_size", 64, &c->batch);
    if (!train)
        return 0;
    /* the spec's table accepts wgan_gp (a kind the losses know, to refuse
     * it with the reason); here it is refused before the run directory is
     * made, not at the first step */
    if (!strcmp(c->loss, "wgan_gp")) {
        fprintf(stderr,
                "strata: error: %s: gan.loss wgan_gp is not provided: its gradient penalty needs the gradient of a "
                "gradient (double backward), which Strata's autograd does not record; use wasserstein with a "
                "spectrally normalised discriminator (sn_linear, sn_conv2d) or hinge (docs/gan.md)\n",
                spec_path);
        return 1;
    }
    int64_t count = 64;
    strata_spec_get_int(c->spec, "gan.sample_count", 64, &count);
    if (count > GAN_MAX_SAMPLES) {
        fprintf(stderr, "strata: error: %s: gan.sample_count %lld is more than the %d images a grid holds (the "
                        "limit of `strata sample --count`)\n",
                spec_path, (long long)count, GAN_MAX_SAMPLES);
        return 1;
    }
    int gnd = 0, dnd = 0;
    const int64_t *lo = strata_model_output_shape(c->D, 0, &od);
    const int64_t *gs = strata_model_output_shape(c->G, 0, &gnd);
    const int64_t *ds = strata_model_input_shape(c->D, 0, &dnd, NULL);
    const int64_t gn = gs ? gan_numel(gs, gnd) : -1, dn = ds ? gan_numel(ds, dnd) : -1;
    if (gn < 0 || gn != dn) {
        char a[96], b[96];
        fprintf(stderr,
                "strata: error: %s: the generator's output [%s] does not fit the discriminator's input [%s] "
                "(the element counts differ)\n",
                spec_path, cli_shape_text(a, sizeof a, gs, gnd), cli_shape_text(b, sizeof b, ds, dnd));
        return 1;
    }
    if (!lo || gan_numel(lo, od) != 1) {
        fprintf(stderr, "strata: error: %s: the discriminator must output one logit per image\n", spec_path);
        return 1;
    }
    if (!(gnd == 2 || (gnd == 3 && (gs[0] == 1 || gs[0] == 3)))) { /* the sample grids are pictures */
        fprintf(stderr, "strata: error: %s: the generator's output has %d dimension(s); a GAN here makes images: "
                        "(C, H, W) with C 1 or 3, or (H, W) (an unflatten layer shapes a flat one)\n",
                spec_path, gnd);
        return 1;
    }
    if ((rc = strata_spec_create_optimizer_named(c->spec, "generator", c->G, &c->og)))
        return cli_fail("creating the generator's optimizer", rc);
    if ((rc = strata_spec_create_optimizer_named(c->spec, "discriminator", c->D, &c->od)))
        return cli_fail("creating the discriminator's optimizer", rc);
    c->base_lr_g = strata_optimizer_lr(c->og);
    c->base_lr_d = strata_optimizer_lr(c->od);
    strata_spec_get_float(c->spec, "train.clip_grad_norm", 0.0, &c->clip);
    if (c->ema > 0.0) {
        if (c->ema >= 1.0) {
            fprintf(stderr, "strata: error: %s: gan.ema is a decay in [0, 1), got %g\n", spec_path, c->ema);
            return 1;
        }
        if ((rc = strata_spec_build_named(c->spec, "generator", c->dev, &c->E)))
            return cli_fail("building the averaged generator", rc);
        rc = gan_copy_model(c->rt, c->G, c->E, 1);
        if (rc)
            return cli_fail("starting the weight average", rc);
    }
    return 0;
}

/* z (n, nz) from N(0, 1): the runtime's generator, or a fixed stream when
 * @p fixed_seed is nonzero (the progress grids' noise). */
static strata_status gan_noise(gan_ctx *c, int64_t n, uint64_t fixed_seed, strata_tensor **z)
{
    const int64_t shape[2] = {n, c->nz};
    strata_attr at[3] = {strata_attr_ints("shape", shape, 2), strata_attr_int("seed", (int64_t)fixed_seed),
                         strata_attr_int("offset", 0)};
    *z = NULL;
    return strata_op_create(c->dev, "core::normal", at, fixed_seed ? 3 : 1, z);
}

/* Images (n, ...) in the generator's output range from noise @p z. */
static strata_status gan_generate(gan_ctx *c, strata_model *G, strata_tensor *z, int training, strata_tensor **out)
{
    return strata_model_forward(G, &z, 1, out, 1, training);
}

/* The discriminator's logits of images @p x, reshaped to its input. */
static strata_status gan_discriminate(gan_ctx *c, strata_tensor *x, strata_tensor **logits)
{
    int nd = 0;
    const int64_t *ds = strata_model_input_shape(c->D, 0, &nd, NULL);
    int64_t shape[STRATA_MAX_DIMS];
    shape[0] = strata_tensor_dim(x, 0);
    memcpy(shape + 1, ds, sizeof(int64_t) * (size_t)nd);
    strata_tensor *xi = NULL;
    strata_status rc = strata_reshape(c->rt, x, nd + 1, shape, &xi);
    if (!rc)
        rc = strata_model_forward(c->D, &xi, 1, logits, 1, 1);
    strata_tensor_release(xi);
    return rc;
}

static strata_status gan_loss_op(gan_ctx *c, const char *op, strata_tensor *const *in, int n, strata_tensor **loss)
{
    strata_attr kind = strata_attr_string("kind", c->loss);
    return strata_op_call(c->rt, op, in, n, &kind, 1, loss, 1);
}

/* One real batch (the loader starts a new epoch when one ends). */
static strata_status gan_real_batch(gan_ctx *c, strata_tensor **x)
{
    strata_tensor *y = NULL;
    int done = 0;
    strata_status rc = strata_loader_next(c->ld, c->dev, x, &y, &done);
    if (!rc && done) {
        strata_loader_start_epoch(c->ld, ++c->epoch);
        c->nb = 0;
        rc = strata_loader_next(c->ld, c->dev, x, &y, &done);
    }
    if (!rc)
        c->nb++;
    strata_tensor_release(y);
    return rc;
}

/* The discriminator's update on a real batch against @p fake (no gradient
 * reaches the generator); *ld its loss. The graph is kept: the generator's
 * step may still backpropagate through nodes recorded before it. A
 * non-finite loss returns STRATA_E_NUMERIC before the update. In a
 * data-parallel run @p fake is the rank's share (@p n images of the batch)
 * and the rank takes the same share of the real batch; @p mark is where
 * the random stream stood before the share's images were made. */
static strata_status gan_d_update(gan_ctx *c, strata_tensor *fake, int64_t n, const dist_rng_mark *mark, double *ld)
{
    strata_tensor *x = NULL, *xs = NULL, *lr = NULL, *lf = NULL, *loss = NULL;
    strata_status rc = gan_real_batch(c, &x);
    if (!rc && dist_size() > 1) /* the images' share of the real batch (whole batches: n rows) */
        rc = dist_shard(c->rt, x, &xs, NULL);
    if (!rc)
        rc = gan_discriminate(c, xs ? xs : x, &lr);
    if (!rc)
        rc = gan_discriminate(c, fake, &lf);
    if (!rc)
        rc = gan_loss_op(c, "gan::d_loss", (strata_tensor *[]){lr, lf}, 2, &loss);
    if (!rc)
        rc = strata_tensor_item(loss, ld);
    if (!rc)
        rc = dist_mean_loss(c->rt, mark, n, c->batch, ld);
    if (!rc && !isfinite(*ld))
        rc = STRATA_E_NUMERIC;
    if (!rc)
        rc = strata_backward(strata_runtime_graph(c->rt), loss);
    if (!rc && dist_size() > 1) /* clipped there, on the summed copy */
        rc = dist_sum_gradients(c->D, &c->dist, (double)n / (double)c->batch, c->clip);
    else if (!rc && c->clip > 0)
        rc = strata_clip_grad_norm(c->D, c->clip, NULL);
    if (!rc) { /* unwatched, as in run.c: an anomaly is then found before the update */
        const int anomaly = strata_set_detect_anomaly(c->rt, 0);
        rc = strata_optimizer_step(c->od);
        strata_set_detect_anomaly(c->rt, anomaly);
    }
    strata_model_zero_grad(c->D);
    strata_tensor_release(x);
    strata_tensor_release(xs);
    strata_tensor_release(lr);
    strata_tensor_release(lf);
    strata_tensor_release(loss);
    return rc;
}

/* Images from fresh noise, with gradients recorded when @p grad. In a
 * data-parallel run every rank draws the whole batch's noise and makes the
 * images of its share of it (*n of them; else *n is the batch), so that
 * the ranks together make the images one process would; *mark is where the
 * random stream stood after the noise (dist_rng_own). */
static strata_status gan_fake(gan_ctx *c, int grad, strata_tensor **fake, int64_t *n, dist_rng_mark *mark)
{
    strata_tensor *z = NULL, *zs = NULL;
    int prev = strata_set_grad_enabled(c->rt, grad);
    strata_status rc = gan_noise(c, c->batch, 0, &z);
    *n = c->batch;
    if (!rc && dist_size() > 1)
        rc = dist_shard(c->rt, z, &zs, n);
    dist_rng_own(c->rt, mark); /* each rank draws its own dropout masks */
    if (!rc)
        rc = gan_generate(c, c->G, zs ? zs : z, 1, fake);
    strata_set_grad_enabled(c->rt, prev);
    strata_tensor_release(z);
    strata_tensor_release(zs);
    return rc;
}

/* One iteration: d_steps discriminator updates, then one generator update;
 * *ld, *lg the last losses. A non-finite loss returns STRATA_E_NUMERIC (that
 * loss in *ld or *lg) before its update; *moved (optional) then tells
 * whether a discriminator update of the iteration had been applied. As in
 * the PyTorch peer, the generator's step
 * reuses the images of the last discriminator step: they are generated once
 * with gradients recorded, and the discriminator sees a detached copy. The
 * generator's update reaches the discriminator's gradients too: they are
 * cleared afterwards. */
static strata_status gan_step(gan_ctx *c, double *ld, double *lg, int *moved)
{
    strata_status rc = STRATA_OK;
    strata_tensor *fake = NULL, *lf = NULL, *loss = NULL;
    int applied = 0;
    int64_t n = 0;
    dist_rng_mark mark;
    if (moved)
        *moved = 0;
    for (int64_t k = 0; k + 1 < c->d_steps && !rc; k++) { /* earlier discriminator steps: their own images */
        strata_tensor *f = NULL;
        rc = gan_fake(c, 0, &f, &n, &mark);
        if (!rc && !(rc = gan_d_update(c, f, n, &mark, ld)))
            applied = 1;
        strata_tensor_release(f);
        strata_graph_reset(strata_runtime_graph(c->rt));
    }
    if (!rc)
        rc = gan_fake(c, 1, &fake, &n, &mark);
    if (!rc) {
        strata_tensor *detached = NULL;
        int prev = strata_set_grad_enabled(c->rt, 0);
        rc = strata_op_call(c->rt, "core::copy", &fake, 1, NULL, 0, &detached, 1);
        strata_set_grad_enabled(c->rt, prev);
        if (!rc && !(rc = gan_d_update(c, detached, n, &mark, ld)))
            applied = 1;
        strata_tensor_release(detached);
    }
    dist_rng_own(c->rt, &mark);
    if (!rc)
        rc = gan_discriminate(c, fake, &lf);
    if (!rc)
        rc = gan_loss_op(c, "gan::g_loss", &lf, 1, &loss);
    if (!rc)
        rc = strata_tensor_item(loss, lg);
    if (!rc)
        rc = dist_mean_loss(c->rt, &mark, n, c->batch, lg);
    if (!rc && !isfinite(*lg))
        rc = STRATA_E_NUMERIC;
    if (moved)
        *moved = applied;
    strata_tensor_release(fake);
    strata_tensor_release(lf);
    if (rc) {
        strata_tensor_release(loss);
        strata_model_zero_grad(c->D);
        strata_graph_reset(strata_runtime_graph(c->rt));
        return rc;
    }
    rc = dist_update(c->rt, c->G, c->og, &c->dist, loss, c->clip, (double)n / (double)c->batch);
    strata_model_zero_grad(c->D);
    if (!rc && dist_size() > 1) /* its forward pass on this rank's share of the images moved its statistics */
        rc = dist_broadcast_buffers(c->D, &c->dist);
    if (!rc && c->E) { /* after the update: unwatched, so an anomaly never comes after the generator moved */
        const int anomaly = strata_set_detect_anomaly(c->rt, 0);
        strata_attr decay = strata_attr_float("decay", c->ema);
        for (int k = 0; k < strata_model_param_count(c->G) && !rc; k++) {
            strata_tensor *p = NULL, *e = NULL;
            const char *n = NULL;
            if (!(rc = strata_model_param(c->G, k, &n, &p)) && !(rc = strata_model_param(c->E, k, &n, &e))) {
                strata_op_invocation inv = {.struct_size = sizeof inv, .op = "gan::ema_update",
                                            .flags = STRATA_INVOKE_OUTPUTS_PROVIDED,
                                            .inputs = (strata_tensor *[]){e, p}, .n_inputs = 2, .attrs = &decay,
                                            .n_attrs = 1, .outputs = &e, .n_outputs = 1};
                rc = strata_op_invoke(c->rt, &inv);
            }
        }
        strata_set_detect_anomaly(c->rt, anomaly);
    }
    return rc;
}

/* Sets both optimizers' rates for iteration c->step from the schedule;
 * *lr_g, *lr_d (optional) receive them. The main loop and the replay after
 * a non-finite loss both go through here: a replayed iteration must update
 * with the rate it had, not the one its checkpoint stored. */
static void gan_set_rates(gan_ctx *c, double *lr_g, double *lr_d)
{
    const double g = strata_lr_at(&c->sched.s, c->base_lr_g, c->step);
    const double d = strata_lr_at(&c->sched.s, c->base_lr_d, c->step);
    strata_optimizer_set_lr(c->og, g);
    strata_optimizer_set_lr(c->od, d);
    if (lr_g)
        *lr_g = g;
    if (lr_d)
        *lr_d = d;
}

/* The generator's values of pixels 0 and 255: the data's scaling (data.scale, mean, std) undone, as its
 * training images were made (a [-1, 1] tanh for the DCGAN's 127.5 and 1; [0, 1] for a sigmoid on data scaled
 * by 255). A safetensors set has no bytes: its values as the model sees them say which, [0, 1] or [-1, 1]
 * (or their own range), read quietly (the run's training set, else the file); without them, [-1, 1]. */
static void gan_pixel_range(gan_ctx *c)
{
    if (c->px_known)
        return;
    const char *format = "idx";
    strata_spec_get_string(c->spec, "data.format", "idx", &format);
    const cli_scaling sc = cli_data_scaling(c->spec);
    c->px_lo = -1.0f, c->px_hi = 1.0f, c->px_known = 1;
    if (!format || strcmp(format, "safetensors")) {
        c->px_lo = (float)cli_byte_to_value(&sc, 0, 0.0), c->px_hi = (float)cli_byte_to_value(&sc, 0, 255.0);
        c->px_sc = sc, c->px_channels = sc.n > 1;
        return;
    }
    strata_dataset *own = NULL;
    float lo, hi;
    if (sc.n > 1 && !cli_load_split(c->spec, "train", 1.0, &own)) { /* per channel: its raw values are pixels */
        cli_dataset_range(own, &lo, &hi);
        strata_dataset_destroy(own);
        own = NULL;
        const double factor = cli_pixel_factor(lo, hi); /* as cli_byte_scaling reads them */
        if (factor) {
            c->px_sc = sc, c->px_channels = 1;
            c->px_sc.scale *= factor;
            return;
        }
    }
    const strata_dataset *d = c->train;
    if (!d && !cli_load_split(c->spec, "train", sc.scale, &own) && cli_normalize(own, &sc) == STRATA_OK)
        d = own;
    strata_clear_error();
    if (!d) {
        fprintf(stderr, "strata: note: %s: the samples are drawn taking [-1, 1] for the pixels 0 to 255 (the "
                        "training data, whose range says how its values map to pixels, cannot be read)\n",
                strata_spec_path(c->spec));
        strata_dataset_destroy(own);
        return;
    }
    cli_dataset_range(d, &lo, &hi);
    strata_dataset_destroy(own);
    if (lo >= 0.0f && hi <= 1.0f) /* [0, 1] */
        c->px_lo = 0.0f, c->px_hi = 1.0f;
    else if (lo >= -1.0f && hi <= 1.0f) /* [-1, 1] */
        c->px_lo = -1.0f, c->px_hi = 1.0f;
    else if (lo >= 0.0f && hi <= 255.0f) /* bytes */
        c->px_lo = 0.0f, c->px_hi = 255.0f;
    else if (lo < hi) /* its own range, black to white */
        c->px_lo = lo, c->px_hi = hi;
}

/* The byte (0-255) a generator's value @p v of channel @p ch stands for (gan_pixel_range). */
static double gan_value_to_byte(const gan_ctx *c, int64_t ch, double v)
{
    if (c->px_channels)
        return cli_value_to_byte(&c->px_sc, ch, v);
    return (v - c->px_lo) * (255.0 / ((double)c->px_hi - c->px_lo));
}

/* A grid PNG of the images @p x (n, C, H, W) or (n, H, W), their values as bytes by gan_pixel_range. */
static int gan_write_grid(gan_ctx *c, strata_tensor *x, const char *path)
{
    gan_pixel_range(c);
    float lo = c->px_lo, hi = c->px_hi;
    const int64_t *s = strata_tensor_shape(x);
    const int nd = strata_tensor_ndim(x);
    const int64_t n = s[0], numel = strata_tensor_numel(x);
    int C = nd == 4 ? (int)s[1] : 1, H = (int)s[nd - 2], W = (int)s[nd - 1];
    if (nd < 3 || nd > 4 || (C != 1 && C != 3)) {
        fprintf(stderr, "strata: error: samples of shape (%lld, ...) with %d dimensions are not images\n",
                (long long)n, nd);
        return 1;
    }
    float *buf = malloc(sizeof(float) * (size_t)numel);
    if (!buf || strata_tensor_read(x, buf, sizeof(float) * (size_t)numel)) {
        free(buf);
        return cli_fail("reading the samples", STRATA_E_NOMEM);
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < numel; i++)
        bad += !isfinite(buf[i]);
    if (bad) { /* drawn black, they looked like a generator that learned darkness */
        free(buf);
        fprintf(stderr, "strata: error: %lld of the %lld sample values are NaN or Inf: the generator's weights are "
                        "not finite (`strata inspect CHECKPOINT --stats` shows which); nothing written to %s\n",
                (long long)bad, (long long)numel, path);
        return 1;
    }
    if (c->px_channels) { /* each channel's own scaling undone */
        const int64_t per = numel / n, plane = per / C;
        for (int64_t i = 0; i < numel; i++)
            buf[i] = (float)gan_value_to_byte(c, (i % per) / plane, buf[i]);
        lo = 0.0f, hi = 255.0f;
    }
    int cols = (int)ceil(sqrt((double)n));
    grid_layout g = {.n = n, .channels = C, .h = H, .w = W, .cols = cols, .scale = 2, .gap = 2,
                     .background = 255, .norm = GRID_NORM_RANGE, .lo = lo, .hi = hi};
    uint8_t *img = grid_render(&g, buf);
    free(buf);
    int w = 0, h = 0, r = !img || grid_size(&g, &w, &h) ? 1 : cli_png_write(path, img, w, h, C);
    free(img);
    return r;
}

/* Samples of @p G from the fixed noise into @p path. */
static int gan_sample_grid(gan_ctx *c, strata_model *G, int64_t n, uint64_t seed, const char *path)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's (the fixed noise draws nothing) */
        return 0;
    strata_tensor *z = NULL, *x = NULL;
    int prev = strata_set_grad_enabled(c->rt, 0);
    strata_status rc = gan_noise(c, n, seed, &z);
    if (!rc)
        rc = gan_generate(c, G, z, 0, &x);
    strata_set_grad_enabled(c->rt, prev);
    strata_tensor_release(z);
    int r = rc ? cli_fail("sampling", rc) : gan_write_grid(c, x, path);
    strata_tensor_release(x);
    strata_graph_reset(strata_runtime_graph(c->rt));
    return r;
}

enum { GAN_FIXED_SEED = 20261201 };

/* ---- checkpoints and --resume ----------------------------------------------------- */

/* A checkpoint of the run is three files, each with the same train.state:
 * discriminator.safetensors (D and its optimizer), generator_ema.safetensors
 * (the average, with gan.ema) and generator.safetensors (G and its
 * optimizer), written in that order, each atomically. The generator's file,
 * written last, commits the checkpoint. Before a new discriminator or
 * average is written the current one is renamed to X.prev.safetensors, so
 * a kill at any moment leaves, for the step generator.safetensors records,
 * the other two models as either X or X.prev: gan_load_point takes the one
 * whose step matches, and renames an X.prev it takes back to X, so that X
 * is again the committed file when the next checkpoint renames it. */
enum { GAN_D, GAN_E, GAN_G };
static const char *const gan_file[3] = {"discriminator.safetensors", "generator_ema.safetensors",
                                        "generator.safetensors"};
static const char *const gan_prev[3] = {"discriminator.prev.safetensors", "generator_ema.prev.safetensors", NULL};

/* Where the run stands: iterations, the loader's position, the random state. */
static train_state gan_position(gan_ctx *c)
{
    train_state s = {.step = c->step, .epoch = c->epoch, .batch = c->nb, .data_seed = c->data_seed,
                     .batch_size = c->batch, .examples = strata_dataset_size(c->train),
                     .per_epoch = c->ld ? strata_loader_batches(c->ld) : 0};
    strata_runtime_rng_state(c->rt, &s.rng_seed, &s.rng_offset);
    return s;
}

/* Keeps @p cur as @p prev before a new @p cur is written: 1, with *@p renamed when it was renamed rather than
 * linked; 0 when there is no @p cur (then @p prev, which may be all a torn earlier run has of it, stays); -1
 * after a message. A second link, not a rename: the new file is then written over one that is there, so it
 * keeps its mode (a private checkpoint stays private). A symbolic link is renamed, as the new file is written
 * through it; so is a file on a file system without links. */
static int gan_set_aside(const char *cur, const char *prev, int *renamed)
{
    struct stat st;
    if (lstat(cur, &st) != 0) {
        if (errno == ENOENT)
            return 0;
    } else if ((unlink(prev) == 0 || errno == ENOENT) &&
               ((S_ISREG(st.st_mode) && link(cur, prev) == 0) || (*renamed = rename(cur, prev) == 0))) {
        return 1;
    }
    fprintf(stderr, "strata: error: cannot rename %s to %s: %s\n", cur, prev, strerror(errno));
    return -1;
}

/* 1 when @p a and @p b are links to one file: a write that failed left X as it was (a write can also fail
 * after its rename, syncing the directory: then X is the new file and X.prev the committed one). */
static int gan_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return lstat(a, &sa) == 0 && lstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The checkpoint of position @p s, whose last losses were @p ld, @p lg
 * (kept for the summary of a resumed run). Prints the error; 0 or 1. */
static int gan_save(gan_ctx *c, const char *dir, const char *spec_path, const train_state *s, double ld, double lg)
{
    char steps[32], dl[40], gl[40];
    snprintf(steps, sizeof steps, "%lld", (long long)s->step);
    snprintf(dl, sizeof dl, "%.17g", ld);
    snprintf(gl, sizeof gl, "%.17g", lg);
    char real[PATH_MAX]; /* its real path, so sample and fid find it from any directory */
    json_t *meta = json_pack("{s:s, s:s, s:s}", "task", "gan", "spec", realpath(spec_path, real) ? real : spec_path,
                             "gan.steps", steps);
    json_t *extra = json_pack("{s:s, s:s}", "d_loss", dl, "g_loss", gl);
    train_state st = *s;
    st.extra = extra;
    strata_model *m[3] = {c->D, c->E, c->G};
    strata_optimizer *o[3] = {c->od, NULL, c->og};
    int r = meta && extra ? 0 : cli_fail("saving the checkpoint", STRATA_E_NOMEM);
    strata_status sync = !r && c->E ? gan_copy_model(c->rt, c->G, c->E, 0) : STRATA_OK;
    if (sync)
        r = cli_fail("saving the weight average", sync);
    /* X kept as X.prev by this save (renamed[k]: by a rename, not a link); X written */
    int moved[3] = {0, 0, 0}, renamed[3] = {0, 0, 0}, written[3] = {0, 0, 0};
    int g_in_place = 0; /* the generator's new file renamed into place, its write failing after (syncing) */
    for (int k = 0; k < 3 && !r; k++) {
        if (!m[k])
            continue;
        char cur[4200], prev[4200];
        snprintf(cur, sizeof cur, "%s/%s", dir, gan_file[k]);
        if (gan_prev[k] && dist_is_root()) { /* a data-parallel run's files are rank 0's */
            snprintf(prev, sizeof prev, "%s/%s", dir, gan_prev[k]);
            if ((moved[k] = gan_set_aside(cur, prev, &renamed[k])) < 0) {
                r = 1;
                break;
            }
        }
        struct stat before, after; /* the file there before: a write that failed after its rename replaced it */
        const int had = stat(cur, &before) == 0;
        train_ckpt_part(k != GAN_G); /* the generator's file commits the checkpoint, and ends an earlier run's */
        strata_status rc = train_ckpt_save_meta(dir, gan_file[k], m[k], o[k], &st, meta);
        train_ckpt_part(0);
        written[k] = !rc;
        if (rc && k == GAN_G && stat(cur, &after) == 0 &&
            (!had || after.st_ino != before.st_ino || after.st_dev != before.st_dev))
            g_in_place = 1;
        struct stat was; /* renamed, the new X was written where none was: it takes the mode of the one it replaces */
        if (!rc && renamed[k] && stat(prev, &was) == 0)
            (void)chmod(cur, was.st_mode & 07777);
        if (rc) {
            fprintf(stderr, "strata: error: writing %s: %s: %s\n", cur, strata_status_name(rc), strata_last_error());
            r = 1;
        }
    }
    /* a save that failed (a full disk) puts the committed checkpoint's files back: the discriminator and the
     * average it had already replaced went with a generator that was not (sample found no average, and the
     * discriminator was a step ahead until a --resume sorted them out); not when the generator's file, which
     * commits, was renamed into place before its write failed (syncing the directory): that checkpoint stands */
    if (r && dist_is_root() && g_in_place) {
        r = -1;                   /* reported; nothing to put back */
        train_replaced_settle(0); /* and an earlier run's files go, as after a checkpoint (they came back) */
    }
    for (int k = 0; k < 3 && r > 0 && dist_is_root(); k++) {
        char cur[4200], prev[4200];
        snprintf(cur, sizeof cur, "%s/%s", dir, gan_file[k]);
        if (moved[k] && gan_same_file(cur, (snprintf(prev, sizeof prev, "%s/%s", dir, gan_prev[k]), prev)))
            (void)unlink(prev); /* X.prev is a second link to the X that stayed (a write failed before its rename) */
        else if (moved[k] && rename(prev, cur) != 0)
            fprintf(stderr, "strata: warning: cannot put %s back as %s: %s (--resume takes it)\n", prev, cur,
                    strerror(errno));
        else if (!moved[k] && written[k] && k != GAN_G) /* none before (a new run): none after */
            remove(cur);
    }
    json_decref(meta);
    json_decref(extra);
    return r != 0;
}

/* 1 when dir/name exists */
static int gan_file_there(const char *dir, const char *name)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Loads the checkpoint of the run in @p dir into @p c (models, optimizers,
 * loader position, random state) and its state into @p ts, whose extra the
 * caller releases. Prints the error; 0 or 1. */
static int gan_load_point(gan_ctx *c, const char *dir, train_state *ts)
{
    for (int k = 0; k < 3; k++) { /* writes a killed run left behind */
        train_ckpt_remove_temps_of(dir, gan_file[k]);
        if (gan_prev[k])
            train_ckpt_remove_temps_of(dir, gan_prev[k]);
    }
    if (train_ckpt_load_file(dir, gan_file[GAN_G], c->G, c->og, ts))
        return 1;
    strata_model *m[2] = {c->D, c->E};
    strata_optimizer *o[2] = {c->od, NULL};
    int back[2] = {0, 0}; /* taken from X.prev: renamed back to X below */
    for (int k = 0; k < 2; k++) {
        train_state s;
        static int told; /* once: a replay after a non-finite loss loads the files again */
        if (!m[k] && k == GAN_E && dist_is_root() && !told && !train_ckpt_read_state(dir, gan_file[k], &s, 1)) {
            /* resumed with gan.ema=0: the average stops where it was, and says so (it went on silently) */
            json_decref(s.extra);
            told = 1;
            fprintf(stderr, "strata: warning: %s/%s, the weight average of step %lld, stays at that step: this spec "
                            "has no gan.ema, so the resumed run does not update it (and the run can no longer be "
                            "resumed with gan.ema)\n",
                    dir, gan_file[k], (long long)s.step);
        }
        if (!m[k])
            continue;
        const char *pick = NULL, *const cand[2] = {gan_file[k], gan_prev[k]};
        int64_t held[2] = {-1, -1}; /* the step each candidate holds; -1: unreadable */
        for (int j = 0; j < 2 && !pick; j++) {
            if (train_ckpt_read_state(dir, cand[j], &s, 1))
                continue;
            json_decref(s.extra);
            held[j] = s.step;
            if (s.step == ts->step)
                pick = cand[j];
        }
        if (!pick && k == GAN_E && !gan_file_there(dir, cand[0]) && !gan_file_there(dir, cand[1])) {
            /* a run without gan.ema, not a torn checkpoint */
            fprintf(stderr, "strata: error: cannot resume from %s with gan.ema: the run was trained without it (no "
                            "%s); resume it without gan.ema, or start a new run with it\n",
                    dir, gan_file[k]);
            json_decref(ts->extra);
            ts->extra = NULL;
            return 1;
        }
        if (!pick && k == GAN_E && held[0] >= 0 && held[0] < ts->step && held[1] < ts->step) {
            /* not torn: a resume with gan.ema=0 trained on without the average */
            fprintf(stderr, "strata: error: cannot resume from %s with gan.ema: its weight average (%s) stayed at "
                            "step %lld while the run trained to step %lld without gan.ema; resume it without gan.ema "
                            "(--set gan.ema=0), or start a new run with it\n",
                    dir, gan_file[k], (long long)held[0], (long long)ts->step);
            json_decref(ts->extra);
            ts->extra = NULL;
            return 1;
        }
        if (!pick) {
            fprintf(stderr, "strata: error: cannot resume from %s: neither %s nor %s holds step %lld of %s (the "
                            "run's files do not form a checkpoint):\n",
                    dir, gan_file[k], gan_prev[k], (long long)ts->step, gan_file[GAN_G]);
            /* why each file was passed over: a torn or corrupt file is told apart from an older checkpoint */
            for (int j = 0; j < 2; j++) {
                if (held[j] >= 0)
                    fprintf(stderr, "strata: error:   %s/%s holds step %lld\n", dir, cand[j], (long long)held[j]);
                else if (!train_ckpt_read_state(dir, cand[j], &s, 0)) /* read now: not expected */
                    json_decref(s.extra);
            }
            json_decref(ts->extra);
            ts->extra = NULL;
            return 1;
        }
        if (train_ckpt_load_file(dir, pick, m[k], o[k], &s)) {
            json_decref(ts->extra);
            ts->extra = NULL;
            return 1;
        }
        json_decref(s.extra);
        back[k] = pick == gan_prev[k];
    }
    dist_any(0); /* a data-parallel run: every rank has read the files before rank 0 renames one */
    for (int k = 0; k < 2 && dist_is_root(); k++) {
        char cur[4200], prev[4200];
        snprintf(cur, sizeof cur, "%s/%s", dir, gan_file[k]);
        snprintf(prev, sizeof prev, "%s/%s", dir, gan_prev[k]);
        if (back[k] && rename(prev, cur) != 0) {
            fprintf(stderr, "strata: error: cannot rename %s to %s: %s\n", prev, cur, strerror(errno));
            json_decref(ts->extra);
            ts->extra = NULL;
            return 1;
        }
    }
    c->step = ts->step;
    c->epoch = ts->epoch;
    c->nb = ts->batch;
    strata_loader_start_epoch(c->ld, c->epoch);
    strata_loader_skip(c->ld, c->nb);
    strata_runtime_set_rng_state(c->rt, ts->rng_seed, ts->rng_offset);
    return 0;
}

/* Whether a forward pass in training mode changes @p m: its buffers
 * (batch norm's running statistics and num_batches_tracked, spectral
 * normalisation's u) are updated by every such pass. */
static int gan_has_buffers(const strata_model *m)
{
    return m && strata_model_buffer_count(m) > 0;
}

/* A non-finite loss (@p ld or @p lg) in the iteration after @p good: saves
 * the state after it as the run's checkpoint. That state is no longer in
 * memory when a discriminator update of the failing iteration had been
 * applied (@p moved), and also when either model has buffers: the failing
 * iteration's training-mode forward passes changed them even without an
 * update. It is then rebuilt by replaying the iterations from the last
 * checkpoint (the same batches, random numbers and rates give the same
 * updates). Returns 1 (the exit code). */
static int gan_stop_at_nan(gan_ctx *c, const gan_args *a, const train_state *good, int moved, double ld, double lg,
                           double good_ld, double good_lg)
{
    const double bad = isfinite(ld) ? lg : ld;
    char anomaly[1024] = ""; /* both losses finite: --detect-anomaly's report stopped the step */
    if (isfinite(ld) && isfinite(lg))
        snprintf(anomaly, sizeof anomaly, "%s", strata_last_error());
    /* every rank of a data-parallel run stops here (the losses are the whole batch's); rank 0 tells */
    if (dist_is_root() && anomaly[0])
        fprintf(stderr, "strata: error: %s, at step %lld; stopping\n", anomaly, (long long)good->step + 1);
    else if (dist_is_root())
        fprintf(stderr, "strata: error: the %s loss became %s at step %lld; stopping\n",
                isfinite(ld) ? "generator" : "discriminator", isnan(bad) ? "NaN" : bad > 0 ? "+Inf" : "-Inf",
                (long long)good->step + 1);
    if (moved || gan_has_buffers(c->G) || gan_has_buffers(c->D)) {
        /* new optimizers first: loading a checkpoint keeps the slots (moments)
         * it has none of, as one from before their first step has */
        strata_optimizer_destroy(c->og);
        strata_optimizer_destroy(c->od);
        c->og = c->od = NULL;
        strata_status oc = strata_spec_create_optimizer_named(c->spec, "generator", c->G, &c->og);
        if (!oc)
            oc = strata_spec_create_optimizer_named(c->spec, "discriminator", c->D, &c->od);
        if (oc)
            return cli_fail("rebuilding the optimizers to replay the last good state", oc);
        train_state at;
        if (gan_load_point(c, a->out_dir, &at)) {
            fprintf(stderr, "strata: error: could not rebuild the last good state\n");
            return 1;
        }
        json_decref(at.extra);
        strata_status rc = STRATA_OK;
        while (!rc && c->step < good->step) {
            gan_set_rates(c, NULL, NULL);
            rc = gan_step(c, &good_ld, &good_lg, NULL);
            c->step++;
        }
        train_state now = gan_position(c);
        if (rc || now.epoch != good->epoch || now.batch != good->batch || now.rng_offset != good->rng_offset) {
            fprintf(stderr, "strata: error: replaying steps %lld to %lld from %s/%s did not give the last good state "
                            "back; that checkpoint is the run's resume point\n",
                    (long long)at.step + 1, (long long)good->step, a->out_dir, gan_file[GAN_G]);
            return 1;
        }
    }
    if (gan_save(c, a->out_dir, a->spec_path, good, good_ld, good_lg)) {
        fprintf(stderr, "strata: error: could not save the last good state\n");
        return 1;
    }
    dist_settled();
    if (!dist_is_root())
        return 1;
    fprintf(stderr,
            "strata: the state after step %lld (the last good one) is in %s/generator.safetensors and "
            "discriminator.safetensors%s; lower the learning rates or check the data, then this continues from "
            "it:\n",
            (long long)good->step, a->out_dir, c->E ? " (and generator_ema.safetensors)" : "");
    cli_put_resume_command(a->spec_path, a->out_dir);
    return 1;
}

/* In a data-parallel run (dist.h): 0 when every rank's generator,
 * discriminator and weight average are rank 0's, else 1 after a message
 * (every rank stops here together). */
static int gan_check_replicas(gan_ctx *c, const char *when, int64_t n)
{
    if (dist_size() <= 1 || (n >= 0 && n == c->checked)) /* checked at this step already */
        return 0;
    c->checked = n;
    strata_model *const m[3] = {c->G, c->D, c->E};
    static const char *const what[3] = {"generator parameters", "discriminator parameters",
                                        "weight-average parameters"};
    for (int k = 0; k < 3; k++)
        if (m[k] && dist_check_replicas(m[k], &c->dist, what[k], when, n)) {
            dist_settled();
            return 1;
        }
    return 0;
}

/* --resume: the checkpoint of the run in a->out_dir, once its loader exists
 * (it shuffles with the run's seed); metrics.jsonl cut back to it; *ld, *lg
 * its last losses. Prints the error; 0 or an exit code. */
static int gan_resume(gan_ctx *c, const gan_args *a, double *ld, double *lg)
{
    train_state ts;
    if (train_ckpt_read_state(a->out_dir, gan_file[GAN_G], &ts, 0))
        return 1;
    json_decref(ts.extra);
    if (train_resume_check_batch(&ts, a->out_dir, c->batch, "give --batch-size"))
        return 2;
    train_resume_warn_backend(&ts, c->dev);
    if (a->have_seed) /* the run's seed stands (it was ignored without a word) */
        train_resume_note_seed(ts.data_seed, a->seed, "has", a->quiet);
    c->data_seed = ts.data_seed;
    strata_status rc = strata_loader_create(c->train, c->batch, 1, c->data_seed, 1, &c->ld);
    if (rc)
        return cli_fail("creating the loader", rc);
    /* another training set: the loader's position would count other epochs (it went on silently) */
    if (train_resume_check_data(&ts, a->out_dir, strata_dataset_size(c->train), strata_loader_batches(c->ld)))
        return 2;
    if (gan_load_point(c, a->out_dir, &ts))
        return 1;
    const char *d = json_string_value(json_object_get(ts.extra, "d_loss"));
    const char *g = json_string_value(json_object_get(ts.extra, "g_loss"));
    *ld = d ? strtod(d, NULL) : 0.0;
    *lg = g ? strtod(g, NULL) : 0.0;
    json_decref(ts.extra);
    ts.extra = NULL;
    if (train_metrics_truncate(a->out_dir, &ts))
        return 1;
    if (!a->quiet)
        fprintf(stderr, "strata: resuming %s at step %lld\n", a->out_dir, (long long)ts.step);
    return 0;
}

int cmd_gan_train(int argc, char **argv)
{
    gan_args a;
    gan_ctx c = {0};
    int report = 0; /* 0 none; 1 quietly (stopped); 2 at the end of the run */
    int r = gan_parse(argc, argv, &a, GAN_TRAIN);
    if (r)
        return CLI_EXIT(r);
    a.quiet |= !dist_is_root(); /* rank 0 tells how a data-parallel run goes */
    c.checked = -1;
    /* --resume never creates the directory it is told to continue */
    if ((r = gan_open(&c, a.spec_path, a.backend, a.have_seed ? &a.seed : NULL, 1)) ||
        (r = cli_load_images(c.spec, "train", &c.train)))
        goto out;
    /* refused before the run directory is made: they failed at the first step, leaving a run to resume */
    int dn = 0, mn = 0;
    const int64_t *ds = strata_dataset_shape(c.train, &dn), *ms = strata_model_input_shape(c.D, 0, &mn, NULL);
    int64_t dv = 1, mv = 1;
    for (int k = 0; k < dn; k++)
        dv *= ds[k];
    for (int k = 0; ms && k < mn; k++)
        mv *= ms[k];
    if (ms && dv != mv) {
        fprintf(stderr, "strata: error: %s: the discriminator's input holds %lld values per image, the training "
                        "images %lld\n",
                a.spec_path, (long long)mv, (long long)dv);
        r = 1;
        goto out;
    }
    /* batch norm of one value a channel per image (after a linear layer) needs 2 images in a training pass */
    const int one_value = cli_batch_norm_values(c.rt, c.G) == 1 || cli_batch_norm_values(c.rt, c.D) == 1;
    if (dist_size() == 1 && c.batch < 2 && one_value) {
        fprintf(stderr, "strata: error: %s: train.batch_size %lld: batch norm needs 2 images in training; give "
                        "--batch-size 2 or more\n",
                a.spec_path, (long long)c.batch);
        r = 2;
        goto out;
    }
    if ((r = train_out_prepare(a.out_dir, a.ckpt.resume != NULL)))
        goto out;
    if (strata_dataset_size(c.train) < c.batch) { /* whole batches only */
        fprintf(stderr, "strata: error: %s: train.batch_size %lld is more than the %lld training images\n",
                a.spec_path, (long long)c.batch, (long long)strata_dataset_size(c.train));
        r = 1;
        goto out;
    }
    if (dist_size() > 1 && c.batch < 2 * dist_size() && one_value) {
        if (dist_is_root()) /* every rank stops here */
            fprintf(stderr, "strata: error: %s: train.batch_size %lld over %d processes gives some a share of fewer "
                            "than 2 images, and batch norm needs 2 in training; give --batch-size %d or more, or "
                            "fewer processes\n",
                    a.spec_path, (long long)c.batch, dist_size(), 2 * dist_size());
        dist_settled();
        r = 2;
        goto out;
    }
    if (a.detect_anomaly)
        strata_set_detect_anomaly(c.rt, 1);
    int64_t steps = 1000, log_every = 100, every = 500, count = 64, seed = 1;
    strata_spec_get_int(c.spec, "train.steps", 1000, &steps);
    strata_spec_get_int(c.spec, "train.log_every", 100, &log_every);
    strata_spec_get_int(c.spec, "gan.sample_every", 500, &every);
    strata_spec_get_int(c.spec, "gan.sample_count", 64, &count);
    strata_spec_get_int(c.spec, "seed", 1, &seed);
    if (a.steps > 0)
        steps = a.steps;
    double ld = 0.0, lg = 0.0;
    strata_status rc = STRATA_OK;
    if (cli_read_schedule(c.spec, 1000, &c.sched)) { /* train.steps, else its default */
        r = 1;
        goto out;
    }
    if (a.ckpt.resume) {
        if ((r = gan_resume(&c, &a, &ld, &lg)))
            goto out;
        train_resume_nothing_left(c.step, steps, 0, 0, NULL, NULL);
    } else {
        c.data_seed = (uint64_t)(a.have_seed ? a.seed : seed);
        if ((rc = strata_loader_create(c.train, c.batch, 1, c.data_seed, 1, &c.ld))) {
            r = cli_fail("creating the loader", rc);
            goto out;
        }
        strata_loader_start_epoch(c.ld, 0);
    }
    train_spec_record(a.out_dir, c.spec, a.ckpt.resume != NULL);
    if (!a.ckpt.resume) { /* an earlier run's average and grids are not this run's (its report showed them) */
        train_replaced_keep(a.out_dir, "generator_ema.safetensors");
        train_replaced_keep(a.out_dir, "samples");
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/samples", a.out_dir);
    if ((r = cli_make_dir(path)))
        goto out;
    cli_note_defaults(c.spec, a.quiet, a.ckpt.resume != NULL);
    if (!a.quiet)
        printf("strata: training the GAN %s on %s: generator %lld and discriminator %lld parameters; loss %s, %lld "
               "discriminator step(s) per generator step, batch %lld, %lld steps%s\n",
               a.spec_path, strata_device_name(c.dev), (long long)strata_model_num_scalars(c.G),
               (long long)strata_model_num_scalars(c.D), c.loss, (long long)c.d_steps, (long long)c.batch,
               (long long)steps, c.E ? ", weight average" : "");
    if (!a.quiet)
        run_note_data_parallel(c.batch, a.out_dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", a.out_dir);
    FILE *mf = train_metrics_open(path, a.ckpt.resume != NULL);
    if (!mf) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        r = 1;
        goto out;
    }
    const double t0 = cli_now();
    /* a new run's checkpoint at step 0: a resume point from the start, and
     * where a non-finite loss replays from when there is no later one */
    int64_t saved = a.ckpt.resume ? c.step : -1;
    int lost = 0; /* a record that metrics.jsonl could not take (told) */
    if (!a.ckpt.resume && cli_stop_agreed()) { /* during start-up: nothing trained, nothing replaced */
        dist_settled();
        r = cli_interrupt_exit(a.spec_path, a.out_dir, 0);
        goto out_mf;
    }
    if (!a.ckpt.resume) {
        const train_state s0 = gan_position(&c);
        if ((r = gan_save(&c, a.out_dir, a.spec_path, &s0, ld, lg)))
            goto out_mf;
        saved = 0;
    }
    if ((r = gan_check_replicas(&c, c.step ? "at the checkpoint" : "before training", -1)))
        goto out_mf;
    while (c.step < steps) {
        const train_state before = gan_position(&c);
        const double good_ld = ld, good_lg = lg;
        int moved = 0;
        double lr_g = 0.0, lr_d = 0.0;
        gan_set_rates(&c, &lr_g, &lr_d);
        rc = gan_step(&c, &ld, &lg, &moved);
        if (train_numeric_stop(rc, isfinite(ld) ? lg : ld)) { /* a non-finite loss, or an anomaly report */
            r = gan_stop_at_nan(&c, &a, &before, moved, ld, lg, good_ld, good_lg);
            goto out_mf;
        }
        if (rc)
            break;
        const int64_t step = ++c.step;
        json_t *rec = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)step, "d_loss", ld, "g_loss",
                                lg, "g_lr", lr_g, "d_lr", lr_d, "seconds", cli_now() - t0);
        if ((r = lost = train_metrics_json(mf, a.out_dir, rec)))
            goto out_mf;
        if (!a.quiet && log_every > 0 && (step % log_every == 0 || step == steps)) {
            printf("step %6lld/%lld  D loss %.4f  G loss %.4f  (%.1f s)\n", (long long)step, (long long)steps, ld, lg,
                   cli_now() - t0);
            fflush(stdout);
        }
        /* a grid that cannot be written (told) stops the run, but only after the step is saved: its checkpoint
         * (or the end of the run's) would be lost with it otherwise. Drawn before the position is taken, as
         * always, so that a resumed run's random state is an uninterrupted one's. */
        int grid_lost = 0;
        if (every > 0 && (step % every == 0 || step == steps)) {
            snprintf(path, sizeof path, "%s/samples/step_%06lld.png", a.out_dir, (long long)step);
            /* rank 0 alone writes it: every rank takes the decision with it, or rank 0 went on to save alone while
             * the others were in the next step's collectives (MPI_ERR_TRUNCATE, and the checkpoint lost) */
            grid_lost = dist_any(gan_sample_grid(&c, c.G, count, GAN_FIXED_SEED, path));
        }
        if (log_every > 0 && step % log_every == 0 && (r = gan_check_replicas(&c, "after step", step)))
            goto out_mf;
        if (grid_lost || (a.ckpt.checkpoint_every > 0 && step % a.ckpt.checkpoint_every == 0 && step < steps)) {
            const train_state now = gan_position(&c);
            if ((r = gan_check_replicas(&c, "after step", step)) ||
                (r = gan_save(&c, a.out_dir, a.spec_path, &now, ld, lg)))
                goto out_mf;
            saved = step;
        }
        if ((r = grid_lost)) {
            dist_settled(); /* a stop every rank agreed on */
            goto out_mf;
        }
        if (cli_stop_agreed() && step < steps) /* saved below, as at the end */
            break;
    }
    if (rc) {
        r = cli_fail("training the GAN", rc);
        goto out_mf;
    }
    r = train_metrics_close(mf, a.out_dir, 0); /* all its records are in: a failure is told before any success */
    mf = NULL;
    if (r)
        goto out_mf;
    if (saved != c.step) {
        const train_state now = gan_position(&c);
        if ((r = gan_check_replicas(&c, "after step", c.step)) ||
            (r = gan_save(&c, a.out_dir, a.spec_path, &now, ld, lg)))
            goto out_mf;
    }
    if (c.step < steps) { /* stopped by Ctrl-C: reported quietly; a failure after here is not reported */
        dist_settled(); /* every rank stopped here */
        r = cli_interrupt_exit(a.spec_path, a.out_dir, c.step);
        report = 1;
        goto out_mf;
    }
    if (c.E) {
        snprintf(path, sizeof path, "%s/samples/ema_final.png", a.out_dir);
        strata_status sync = gan_copy_model(c.rt, c.G, c.E, 0); /* the average samples with G's statistics */
        r = sync ? cli_fail("sampling the weight average", sync)
                 : gan_sample_grid(&c, c.E, count, GAN_FIXED_SEED, path);
    }
    snprintf(path, sizeof path, "%s/samples.png", a.out_dir);
    if (!r)
        r = gan_sample_grid(&c, c.G, count, GAN_FIXED_SEED, path);
    if (!r) {
        json_t *sum = json_pack("{s:f, s:f, s:I, s:s, s:f}", "d_loss", ld, "g_loss", lg, "steps", (json_int_t)c.step,
                                "device", strata_device_name(c.dev), "seconds", cli_now() - t0);
        cli_summary_name(sum, c.spec);
        snprintf(path, sizeof path, "%s/summary.json", a.out_dir);
        r = dist_is_root() ? cli_write_json(path, sum) : 0; /* a data-parallel run's files are rank 0's */
        json_decref(sum);
        /* c.step: a resume asked for fewer steps than the run had reached stays where it was */
        printf("done: %lld steps in %.1f s; %s/generator.safetensors, samples in %s/samples.png\n", (long long)c.step,
               cli_now() - t0, a.out_dir, a.out_dir);
        report = 2;
    }
out_mf:
    if (train_metrics_close(mf, a.out_dir, lost) && !r)
        r = 1;
    if (report)
        report_after_training(a.out_dir, report == 1 || a.quiet);
out:
    gan_free(&c);
    return r;
}

/* The spec of a checkpoint written by `strata train`: @p given, else the
 * run's spec.yaml beside it, else its metadata "spec". spec.yaml comes
 * before the metadata: it is the spec the run was trained with (--set
 * applied), while the metadata records the path as it was typed, relative
 * to wherever training was started, and without the overrides. */
static const char *gan_spec_of(const char *ckpt, const char *given, const char *option, char *buf, size_t size)
{
    if (given)
        return given;
    if (train_spec_beside(ckpt, buf, size))
        return buf;
    strata_status rc = strata_checkpoint_metadata(ckpt, "spec", buf, size);
    if (rc == STRATA_E_NOT_FOUND) {
        fprintf(stderr, "strata: error: %s records no spec (metadata \"spec\") and has no spec.yaml beside it; give "
                        "it with %s\n",
                ckpt, option);
        return NULL;
    }
    if (rc) {
        char what[4200];
        snprintf(what, sizeof what, "reading %s", ckpt);
        cli_fail_file(what, rc, ckpt);
        return NULL;
    }
    return buf;
}

/* sample and fid share the trainer's parser: its training flags are errors there. */
/* @p path, given for @p opt, is a directory without generator.safetensors
 * (the option looks for it there): 1 after saying so, else 0. */
static int gan_dir_without_generator(const char *opt, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    fprintf(stderr, "strata: error: %s %s: a directory without generator.safetensors, so not the run of a GAN "
                    "(`strata train` of a GAN writes RUN/generator.safetensors)\n",
            opt, path);
    return 1;
}

int cmd_gan_sample(int argc, char **argv)
{
    gan_args a;
    gan_ctx c = {0};
    int r = gan_parse(argc, argv, &a, GAN_SAMPLE);
    if (r)
        return CLI_EXIT(r);
    if (gan_dir_without_generator("--checkpoint", a.checkpoint))
        return 1;
    char sbuf[4096];
    const char *spec = gan_spec_of(a.checkpoint, a.spec_path, "--spec", sbuf, sizeof sbuf);
    if (!spec)
        return 1;
    if (a.count <= 0)
        a.count = 64;
    if ((r = gan_open(&c, spec, a.backend, NULL, 0)))
        goto out;
    strata_status rc = strata_checkpoint_load(a.checkpoint, c.G, NULL);
    if (rc) {
        r = cli_fail("loading the generator", rc);
        goto out;
    }
    const size_t ol = strlen(a.out_png); /* x.jpg got a PNG without a word */
    if (ol < 4 || strcasecmp(a.out_png + ol - 4, ".png"))
        fprintf(stderr, "strata: note: %s: the grid is written as a PNG image whatever the name\n", a.out_png);
    r = gan_sample_grid(&c, c.G, a.count, a.have_seed ? (uint64_t)a.seed + 1 : GAN_FIXED_SEED, a.out_png);
    if (!r)
        printf("wrote %s: %lld samples of %s\n", a.out_png, (long long)a.count, a.checkpoint);
out:
    gan_free(&c);
    return r;
}

/* ---- FID ------------------------------------------------------------------------ */

/* The number of features of the classifier @p cls's penultimate layer, from
 * one zero image: known before any image is read, so that the buffers are
 * sized by it and a count the statistics cannot take is refused first.
 * @p path names the classifier in messages. Prints the error; 0 or 1. */
static int fid_feature_count(strata_runtime *rt, strata_device *dev, strata_model *cls, const char *path, int64_t *F)
{
    const int L = strata_model_layer_count(cls);
    if (L < 2) {
        fprintf(stderr, "strata: error: %s: the classifier has %d layer(s); FID compares the features of its "
                        "penultimate layer, so it needs at least 2\n",
                path, L);
        return 1;
    }
    if (strata_model_input_count(cls) != 1) {
        fprintf(stderr, "strata: error: %s: the classifier takes %d inputs; FID gives it one, the images\n", path,
                strata_model_input_count(cls));
        return 1;
    }
    int nd = 0;
    strata_dtype dt = STRATA_F32;
    const int64_t *ms = strata_model_input_shape(cls, 0, &nd, &dt);
    int64_t shape[STRATA_MAX_DIMS + 1] = {1};
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)nd);
    strata_tensor *x = NULL, **outs = calloc((size_t)L, sizeof *outs);
    int prev = strata_set_grad_enabled(rt, 0);
    strata_status rc = outs ? strata_tensor_zeros(dev, dt, nd + 1, shape, &x) : STRATA_E_NOMEM;
    if (!rc)
        rc = strata_model_forward_layers(cls, &x, 1, outs, 0);
    if (!rc)
        *F = strata_tensor_numel(outs[L - 2]);
    strata_set_grad_enabled(rt, prev);
    for (int k = 0; outs && k < L; k++)
        strata_tensor_release(outs[k]);
    free(outs);
    strata_tensor_release(x);
    strata_graph_reset(strata_runtime_graph(rt));
    if (rc) {
        char what[4200];
        snprintf(what, sizeof what, "%s: running the classifier on a zero image", path);
        return cli_fail(what, rc);
    }
    if (*F > STATS_MAX_D) {
        fprintf(stderr, "strata: error: %s: the classifier's penultimate layer has %lld features; the Frechet "
                        "distance takes at most %d (its covariances are F x F)\n",
                path, (long long)*F, STATS_MAX_D);
        return 1;
    }
    return 0;
}

/* Penultimate-layer features (n, F) of images @p x (n, ...) into @p out, which
 * holds n * F values (F from fid_feature_count). Prints the error; 0 or 1. */
static int fid_features(strata_runtime *rt, strata_model *cls, strata_tensor *x, int64_t F, float *out)
{
    const int L = strata_model_layer_count(cls);
    int nd = 0;
    const int64_t *ms = strata_model_input_shape(cls, 0, &nd, NULL);
    int64_t shape[STRATA_MAX_DIMS];
    shape[0] = strata_tensor_dim(x, 0);
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)nd);
    strata_tensor *xi = NULL, **outs = calloc((size_t)L, sizeof *outs);
    strata_status rc = outs ? strata_reshape(rt, x, nd + 1, shape, &xi) : STRATA_E_NOMEM;
    if (!rc)
        rc = strata_model_forward_layers(cls, &xi, 1, outs, 0);
    int r = rc ? cli_fail("computing the classifier's features", rc) : 0;
    if (!r && strata_tensor_numel(outs[L - 2]) != shape[0] * F) { /* the zero image's count: not expected */
        fprintf(stderr, "strata: error: the classifier's penultimate layer gave %lld values for %lld images, not "
                        "%lld each\n",
                (long long)strata_tensor_numel(outs[L - 2]), (long long)shape[0], (long long)F);
        r = 1;
    }
    if (!r && (rc = strata_tensor_read(outs[L - 2], out, sizeof(float) * (size_t)(shape[0] * F))))
        r = cli_fail("reading the classifier's features", rc);
    for (int k = 0; outs && k < L; k++)
        strata_tensor_release(outs[k]);
    free(outs);
    strata_tensor_release(xi);
    return r;
}

/* Samples of the generator as @p x (B, per), in the classifier's input
 * space: the GAN's data scaling undone to bytes (gan_pixel_range), then
 * scaled as the classifier's training images. The noise of the batch
 * starting at sample @p first is fixed by @p first. Prints the error; 0 or 1. */
static int fid_samples(gan_ctx *g, const cli_scaling *sc, int64_t first, int64_t B, int64_t per, strata_tensor **x)
{
    strata_tensor *z = NULL, *y = NULL;
    strata_status rc = gan_noise(g, B, (uint64_t)(first + 1) * 7919u, &z);
    if (!rc)
        rc = gan_generate(g, g->G, z, 0, &y);
    int r = rc ? cli_fail("generating samples", rc) : 0;
    if (!r && strata_tensor_numel(y) != B * per) { /* its declared output was checked: not expected */
        fprintf(stderr, "strata: error: the generator gave %lld values for %lld samples, not %lld each\n",
                (long long)strata_tensor_numel(y), (long long)B, (long long)per);
        r = 1;
    }
    float *h = r ? NULL : malloc(sizeof(float) * (size_t)(B * per));
    if (!r && !h) {
        fprintf(stderr, "strata: error: out of memory for %lld samples of %lld values\n", (long long)B,
                (long long)per);
        r = 1;
    }
    if (!r && (rc = strata_tensor_read(y, h, sizeof(float) * (size_t)(B * per))))
        r = cli_fail("reading the samples", rc);
    gan_pixel_range(g);
    const int64_t gplane = per / (g->px_channels ? g->px_sc.n : 1), cplane = per / sc->n; /* values a channel */
    for (int64_t i = 0; !r && i < B * per; i++) {
        if (!isfinite(h[i])) { /* the classifier's relu read NaN as 0: a finite FID of nothing */
            fprintf(stderr, "strata: error: sample %lld holds a NaN or Inf value: the generator's weights are not "
                            "finite (`strata inspect CHECKPOINT --stats` shows which)\n",
                    (long long)(first + i / per));
            r = 1;
            break;
        }
        /* a byte of its data, then the classifier's input */
        const double px = gan_value_to_byte(g, (i % per) / gplane, h[i]);
        h[i] = (float)cli_byte_to_value(sc, (i % per) / cplane, px);
    }
    if (!r && (rc = strata_tensor_from_host(g->dev, STRATA_F32, 2, (const int64_t[]){B, per}, h, x)))
        r = cli_fail("copying the samples", rc);
    free(h);
    strata_tensor_release(z);
    strata_tensor_release(y);
    return r;
}

int cmd_fid(int argc, char **argv)
{
    gan_args a;
    gan_ctx g = {0};
    int r = gan_parse(argc, argv, &a, GAN_FID);
    if (r)
        return CLI_EXIT(r);
    if (gan_dir_without_generator("--generator", a.generator))
        return 1;
    struct stat cst; /* a directory here was "not a regular file"; a GAN's file, about a C function */
    const int cdir = stat(a.classifier, &cst) == 0 && S_ISDIR(cst.st_mode);
    const char *base = strrchr(a.classifier, '/') ? strrchr(a.classifier, '/') + 1 : a.classifier;
    if ((cdir && gan_file_there(a.classifier, "generator.safetensors")) || !strcmp(base, "generator.safetensors") ||
        !strcmp(base, "discriminator.safetensors") || !strcmp(base, "generator_ema.safetensors")) {
        fprintf(stderr, "strata: error: --classifier %s is a GAN's; it takes an image classifier's checkpoint "
                        "(RUN/checkpoint.safetensors of `strata train` on a classifier spec)\n",
                a.classifier);
        return 1;
    }
    static char cls_file[4000]; /* a classifier's run directory: its checkpoint, as --checkpoint elsewhere */
    snprintf(cls_file, sizeof cls_file, "%s/checkpoint.safetensors", a.classifier);
    if (cdir && !gan_file_there(a.classifier, "checkpoint.safetensors")) {
        fprintf(stderr, "strata: error: --classifier %s is a directory without checkpoint.safetensors; give the "
                        "classifier's checkpoint\n",
                a.classifier);
        return 1;
    }
    if (cdir)
        a.classifier = cls_file;
    char cbuf[4096], gbuf[4096], images[4200], labels[4200];
    const char *cspec = gan_spec_of(a.classifier, a.classifier_spec, "--classifier-spec", cbuf, sizeof cbuf);
    const char *gspec = cspec ? gan_spec_of(a.generator, a.spec_path, "--spec", gbuf, sizeof gbuf) : NULL;
    if (!gspec)
        return 1;
    const char *real = a.real ? a.real : "/usr/share/datasets/fashion-mnist";
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", real);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", real);
    if ((r = gan_open(&g, gspec, a.backend, NULL, 0)))
        goto out;
    strata_status rc = strata_checkpoint_load(a.generator, g.G, NULL);
    strata_spec *cs = NULL;
    strata_model *cls = NULL;
    strata_dataset *test = NULL;
    float *feat[2] = {NULL, NULL};
    double *mu[2] = {NULL, NULL}, *cov[2] = {NULL, NULL};
    if (rc) {
        r = cli_fail("loading the generator", rc);
        goto out;
    }
    if ((rc = strata_spec_load(g.rt, cspec, &cs)) || (rc = strata_spec_build_model(cs, g.dev, &cls)) ||
        (rc = strata_checkpoint_load(a.classifier, cls, NULL))) {
        r = cli_fail_file("loading the classifier", rc, a.classifier);
        goto out2;
    }
    const char *ctask = "classification";
    strata_spec_get_string(cs, "task", "classification", &ctask);
    if (ctask && strcmp(ctask, "classification")) { /* an autoencoder's last layers are images, not classes */
        fprintf(stderr, "strata: error: --classifier %s: its spec %s is task: %s; FID compares the features of an "
                        "image classifier (task: classification)\n",
                a.classifier, cspec, ctask);
        r = 1;
        goto out2;
    }
    cli_scaling sc; /* the real images' bytes and the samples, as the classifier's inputs */
    if (cli_byte_scaling(cs, &sc)) {
        r = 1;
        goto out2;
    }
    if ((rc = strata_dataset_load_idx(images, labels, sc.scale, &test)) ||
        (rc = cli_normalize(test, &sc))) {
        r = cli_fail("loading the real images", rc);
        goto out2;
    }
    const int64_t n = a.count > 0 ? a.count : strata_dataset_size(test), chunk = 500;
    if (n > strata_dataset_size(test) || n < 2) {
        fprintf(stderr, "strata: error: --count %lld: between 2 and the %lld real test images\n", (long long)n,
                (long long)strata_dataset_size(test));
        r = 2;
        goto out2;
    }
    int64_t F = 0;
    if ((r = fid_feature_count(g.rt, g.dev, cls, a.classifier, &F)))
        goto out2;
    /* real images and samples are both reshaped to the classifier's input: their value counts must match it */
    int dn = 0, cn = 0, gn = 0;
    const int64_t *dshape = strata_dataset_shape(test, &dn);
    const int64_t *cshape = strata_model_input_shape(cls, 0, &cn, NULL);
    const int64_t *gshape = strata_model_output_shape(g.G, 0, &gn);
    const int64_t per = gan_numel(dshape, dn), cin = gan_numel(cshape, cn);
    char s1[96], s2[96];
    if (per != cin) {
        fprintf(stderr, "strata: error: the real images in %s are [%s] (%lld values) but the classifier %s takes "
                        "[%s] (%lld values)\n",
                real, cli_shape_text(s1, sizeof s1, dshape, dn), (long long)per, a.classifier,
                cli_shape_text(s2, sizeof s2, cshape, cn), (long long)cin);
        r = 1;
        goto out2;
    }
    if (!gshape || gan_numel(gshape, gn) != cin) {
        fprintf(stderr, "strata: error: the generator's images [%s] (%lld values) do not fit the classifier %s's "
                        "input [%s] (%lld values)\n",
                cli_shape_text(s1, sizeof s1, gshape, gn), gshape ? (long long)gan_numel(gshape, gn) : -1LL,
                a.classifier, cli_shape_text(s2, sizeof s2, cshape, cn), (long long)cin);
        r = 1;
        goto out2;
    }
    for (int k = 0; k < 2; k++)
        feat[k] = malloc(sizeof(float) * (size_t)(n * F));
    if (!feat[0] || !feat[1]) {
        fprintf(stderr, "strata: error: out of memory for %lld features of %lld images\n", (long long)F,
                (long long)n);
        r = 1;
        goto out2;
    }
    int prev = strata_set_grad_enabled(g.rt, 0);
    /* pass 0: real test images; pass 1: generated ones mapped to bytes, then to the classifier's input */
    for (int pass = 0; pass < 2 && !r; pass++) {
        for (int64_t first = 0; first < n && !r; first += chunk) {
            const int64_t B = n - first < chunk ? n - first : chunk;
            strata_tensor *x = NULL;
            if (pass == 0) {
                int64_t shp[STRATA_MAX_DIMS + 1] = {B};
                memcpy(shp + 1, dshape, sizeof(int64_t) * (size_t)dn);
                rc = strata_tensor_from_host(g.dev, STRATA_F32, dn + 1, shp, strata_dataset_x(test, first), &x);
                r = rc ? cli_fail("copying the real images", rc) : 0;
            } else {
                r = fid_samples(&g, &sc, first, B, per, &x);
            }
            if (!r)
                r = fid_features(g.rt, cls, x, F, feat[pass] + first * F);
            strata_tensor_release(x);
            strata_graph_reset(strata_runtime_graph(g.rt));
        }
    }
    strata_set_grad_enabled(g.rt, prev);
    if (r)
        goto out2;
    double fid = 0.0;
    char err[256] = "";
    for (int k = 0; k < 2; k++) {
        mu[k] = malloc(sizeof(double) * (size_t)F);
        cov[k] = malloc(sizeof(double) * (size_t)(F * F));
        /* n >= 2 and F <= STATS_MAX_D were checked: only memory can fail */
        if (!mu[k] || !cov[k] || stats_mean_cov(feat[k], n, F, mu[k], cov[k])) {
            fprintf(stderr, "strata: error: out of memory for the feature statistics (%lld x %lld covariances)\n",
                    (long long)F, (long long)F);
            r = 1;
            goto out2;
        }
    }
    if (stats_frechet(mu[0], cov[0], mu[1], cov[1], F, &fid, err, sizeof err)) {
        fprintf(stderr, "strata: error: Frechet distance: %s\n", err);
        r = 1;
        goto out2;
    }
    if (a.json)
        printf("{\"fid\": %.4f, \"count\": %lld, \"features\": %lld}\n", fid, (long long)n, (long long)F);
    else
        printf("FID %.4f (%lld real test images and %lld samples, %lld penultimate-layer features of %s)\n", fid,
               (long long)n, (long long)n, (long long)F, a.classifier);
out2:
    for (int k = 0; k < 2; k++) {
        free(feat[k]);
        free(mu[k]);
        free(cov[k]);
    }
    strata_dataset_destroy(test);
    strata_model_destroy(cls);
    strata_spec_destroy(cs);
out:
    gan_free(&g);
    return r;
}

/* ---- W5 -------------------------------------------------------------------------- */

int gan_bench(const char *spec, const char *backend, int64_t warmup, int64_t steps, int profile,
              void (*report)(strata_runtime *rt, strata_device *dev, const double *times, int64_t batch, double loss,
                             void *user),
              void *user)
{
    gan_ctx c = {0};
    const int64_t total = warmup + steps;
    double *times = calloc((size_t)total, sizeof *times), ld = 0.0, lg = 0.0;
    int r = times ? gan_open(&c, spec, backend, NULL, 1) : 1;
    if (!r)
        r = cli_load_images(c.spec, "train", &c.train);
    strata_status rc = STRATA_OK;
    if (!r && (rc = strata_loader_create(c.train, c.batch, 1, 1, 1, &c.ld)))
        r = cli_fail("creating the loader", rc);
    if (!r)
        strata_loader_start_epoch(c.ld, 0);
    for (int64_t s = 0; !r && s < total && !rc; s++) {
        if (s == warmup && profile) {
            strata_profile_reset(c.rt);
            strata_profile_enable(c.rt, 1);
        }
        const double t0 = cli_now();
        rc = gan_step(&c, &ld, &lg, NULL);
        strata_device_synchronize(c.dev);
        times[s] = cli_now() - t0;
    }
    if (!r && rc)
        r = cli_fail("W5", rc);
    if (!r)
        report(c.rt, c.dev, times, c.batch, lg, user);
    free(times);
    gan_free(&c);
    return r;
}
