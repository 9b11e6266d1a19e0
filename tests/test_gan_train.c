/*
 * test_gan_train.c - adversarial training and autoencoders end to end:
 *
 *   - the adversarial loop on a 1-D problem, through the public API and the
 *     gan plugin's losses: a generator x = a z + b learns the mean and the
 *     standard deviation of N(3, 0.5^2) within 0.2 of each;
 *   - `strata train` on a small GAN spec (task: gan) writes the generator,
 *     the discriminator, sample grids and the losses; `strata sample`
 *     draws from the checkpoint; a spec missing the discriminator and a
 *     generator whose images do not fit the discriminator get clear errors;
 *   - what would fail only in training (gan.loss wgan_gp, gan.sample_count
 *     over 4096, an unflatten shape whose product overflows) is refused
 *     before the run directory is made;
 *   - `strata fid` on 8x8 images, and its refusals (a classifier of one
 *     layer or of too many features, images that do not fit it) naming the
 *     shapes and limits;
 *   - `strata train` / `strata eval` of a small autoencoder report test_mse
 *     and pca_mse, and write the reconstructions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static char dir[512];

static int run_cli(const char *args)
{
    return tu_run_cli(dir, args);
}

static char *slurp(const char *name)
{
    char *b = tu_slurp(dir, name);
    if (!b)
        fail_msg("%s/%s is missing", dir, name);
    return b;
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "gan");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* ---- the 1-D game --------------------------------------------------------- */

static strata_tensor *normal(strata_device *dev, int64_t n, double mean, double std)
{
    strata_tensor *t = NULL;
    strata_attr at[3] = {strata_attr_ints("shape", (const int64_t[]){n, 1}, 2), strata_attr_float("mean", mean),
                         strata_attr_float("std", std)};
    ST_OK(strata_op_create(dev, "core::normal", at, 3, &t));
    return t;
}

static strata_model *mlp(strata_device *dev, const char *const *types, const int64_t *widths, int n)
{
    strata_model *m = NULL;
    ST_OK(strata_model_create(dev, &m));
    ST_OK(strata_model_add_input(m, "x", STRATA_F32, 1, (const int64_t[]){1}));
    for (int k = 0; k < n; k++) {
        strata_attr a[1];
        int na = 0;
        if (!strcmp(types[k], "linear"))
            a[na++] = strata_attr_int("out_features", widths[k]);
        else if (!strcmp(types[k], "leaky_relu"))
            a[na++] = strata_attr_float("negative_slope", 0.2);
        ST_OK(strata_model_add_layer(m, types[k], NULL, a, na, NULL, 0));
    }
    return m;
}

static void test_gaussian_game(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = NULL;
    ST_OK(strata_device_get(rt, "cpu", 0, &dev));
    static const char *const gt[] = {"linear"};
    static const char *const dt[] = {"linear", "leaky_relu", "linear", "leaky_relu", "linear"};
    strata_model *G = mlp(dev, gt, (const int64_t[]){1}, 1);
    strata_model *D = mlp(dev, dt, (const int64_t[]){32, 0, 32, 0, 1}, 5);
    strata_attr adam[3] = {strata_attr_float("lr", 2e-3), strata_attr_float("beta1", 0.5),
                           strata_attr_float("beta2", 0.999)};
    strata_optimizer *og = NULL, *od = NULL;
    ST_OK(strata_optimizer_create(G, "adam", adam, 3, &og));
    ST_OK(strata_optimizer_create(D, "adam", adam, 3, &od));
    strata_graph *graph = strata_runtime_graph(rt);
    const strata_attr kind = strata_attr_string("kind", "non_saturating");
    const int64_t B = 256;
    for (int step = 0; step < 3000; step++) {
        strata_tensor *x = normal(dev, B, 3.0, 0.5), *z = normal(dev, B, 0.0, 1.0), *fake = NULL, *lr = NULL,
                      *lf = NULL, *loss = NULL;
        int prev = strata_set_grad_enabled(rt, 0);
        ST_OK(strata_model_forward(G, &z, 1, &fake, 1, 1));
        strata_set_grad_enabled(rt, prev);
        ST_OK(strata_model_forward(D, &x, 1, &lr, 1, 1));
        ST_OK(strata_model_forward(D, &fake, 1, &lf, 1, 1));
        ST_OK(strata_op_call(rt, "gan::d_loss", (strata_tensor *[]){lr, lf}, 2, &kind, 1, &loss, 1));
        ST_OK(strata_backward(graph, loss));
        ST_OK(strata_optimizer_step(od));
        strata_model_zero_grad(D);
        strata_graph_reset(graph);
        strata_tensor_release(fake);
        strata_tensor_release(lf);
        strata_tensor_release(loss);
        ST_OK(strata_model_forward(G, &z, 1, &fake, 1, 1));
        ST_OK(strata_model_forward(D, &fake, 1, &lf, 1, 1));
        ST_OK(strata_op_call(rt, "gan::g_loss", &lf, 1, &kind, 1, &loss, 1));
        ST_OK(strata_backward(graph, loss));
        ST_OK(strata_optimizer_step(og));
        strata_model_zero_grad(G);
        strata_model_zero_grad(D);
        strata_graph_reset(graph);
        strata_tensor *ts[6] = {x, z, fake, lr, lf, loss};
        for (int k = 0; k < 6; k++)
            strata_tensor_release(ts[k]);
    }
    /* the generator's distribution: x = a z + b */
    const int64_t n = 20000;
    strata_tensor *z = normal(dev, n, 0.0, 1.0), *g = NULL;
    strata_set_grad_enabled(rt, 0);
    ST_OK(strata_model_forward(G, &z, 1, &g, 1, 0));
    float *v = malloc(sizeof(float) * (size_t)n);
    assert_non_null(v);
    ST_OK(strata_tensor_read(g, v, sizeof(float) * (size_t)n));
    double s = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += v[i], s2 += (double)v[i] * v[i];
    const double mean = s / n, std = sqrt(s2 / n - mean * mean);
    fprintf(stderr, "gaussian game: generator mean %.3f (want 3), std %.3f (want 0.5)\n", mean, std);
    if (fabs(mean - 3.0) > 0.2 || fabs(std - 0.5) > 0.2)
        fail_msg("the generator's mean %.3f / std %.3f are not within 0.2 of 3 / 0.5", mean, std);
    free(v);
    strata_tensor_release(z);
    strata_tensor_release(g);
    strata_optimizer_destroy(og);
    strata_optimizer_destroy(od);
    strata_model_destroy(G);
    strata_model_destroy(D);
    strata_runtime_destroy(rt);
}

/* ---- the CLI ---------------------------------------------------------------- */

#define FMNIST "/usr/share/datasets/fashion-mnist"
#define DATA_TRAIN                                                                                                     \
    "  train: {images: " FMNIST "/train-images-idx3-ubyte.gz, labels: " FMNIST "/train-labels-idx1-ubyte.gz}\n"
#define DATA_TEST                                                                                                      \
    "  test: {images: " FMNIST "/t10k-images-idx3-ubyte.gz, labels: " FMNIST "/t10k-labels-idx1-ubyte.gz}\n"

static const char gan_spec[] =
    "seed: 1\ntask: gan\n"
    "data:\n  format: idx\n" DATA_TRAIN "  scale: 127.5\n  mean: 1\n"
    "gan: {loss: hinge, noise_dim: 16, sample_every: 10, sample_count: 16, ema: 0.9}\n"
    "generator:\n"
    "  model:\n    input: [16]\n    layers:\n"
    "      - {type: linear, out_features: 784}\n      - {type: tanh}\n      - {type: unflatten, shape: [1, 28, 28]}\n"
    "  optimizer: {type: adam, lr: 0.001}\n"
    "discriminator:\n"
    "  model:\n    input: [1, 28, 28]\n    layers:\n"
    "      - {type: flatten}\n      - {type: linear, out_features: 32}\n      - {type: leaky_relu}\n"
    "      - {type: linear, out_features: 1}\n"
    "  optimizer: {type: adam, lr: 0.001}\n"
    "train: {steps: 20, batch_size: 32, log_every: 10}\n";

static void test_gan_cli(void **state)
{
    (void)state;
    tu_write_text(dir, "gan.yaml", gan_spec);
    assert_int_equal(run_cli("train gan.yaml --out run"), 0);
    char *out = slurp("out");
    assert_contains(out, "step     20/20");
    assert_contains(out, "D loss");
    free(out);
    static const char *const files[] = {"run/generator.safetensors", "run/discriminator.safetensors",
                                        "run/generator_ema.safetensors", "run/samples/step_000010.png",
                                        "run/samples/step_000020.png", "run/samples.png", "run/metrics.jsonl",
                                        "run/summary.json"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        free(slurp(files[k]));
    assert_int_equal(run_cli("sample --checkpoint run/generator.safetensors --count 9 --out s.png"), 0);
    free(slurp("s.png"));

    /* bad input: one model missing; shapes that do not fit */
    char *broken = strdup(gan_spec);
    assert_non_null(broken);
    *strstr(broken, "discriminator:") = '\0';
    tu_write_text(dir, "half.yaml", broken);
    free(broken);
    assert_int_equal(run_cli("train half.yaml --out bad"), 1);
    char *err = slurp("err");
    assert_contains(err, "half.yaml");
    assert_contains(err, "both 'generator' and 'discriminator'");
    free(err);
    char *wrong = strdup(gan_spec);
    assert_non_null(wrong);
    memcpy(strstr(wrong, "out_features: 784"), "out_features: 777", 17);
    memcpy(strstr(wrong, "shape: [1, 28, 28]"), "shape: [1, 21, 37]", 18);
    tu_write_text(dir, "wrong.yaml", wrong);
    free(wrong);
    assert_int_equal(run_cli("train wrong.yaml --out bad"), 1);
    err = slurp("err");
    assert_contains(err, "generator's output [1, 21, 37] does not fit the discriminator's input [1, 28, 28]");
    free(err);
}

/* @p text with its first @p old replaced by @p new (malloc'd). */
static char *replaced(const char *text, const char *old, const char *new)
{
    const char *at = strstr(text, old);
    if (!at)
        fail_msg("no \"%s\" in:\n%s", old, text);
    char *out = malloc(strlen(text) - strlen(old) + strlen(new) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
    return out;
}

/* ---- refused before the run directory is made ----------------------------------- */

/* What only fails in training (the WGAN-GP losses, a grid larger than
 * `strata sample` draws, an unflatten shape whose product wraps to the
 * input's count) is refused when the spec is read: no run directory, no
 * step-0 checkpoint. */
static void test_gan_refused_before_training(void **state)
{
    (void)state;
    tu_write_text(dir, "gan.yaml", gan_spec);
    static const struct {
        const char *set, *needle;
    } cases[] = {
        {"--set gan.loss=wgan_gp", "gan.loss wgan_gp is not provided"},
        {"--set gan.sample_count=4097", "gan.sample_count 4097 is more than the 4096 images a grid holds"},
    };
    char run[700];
    snprintf(run, sizeof run, "%s/refused", dir);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[256];
        snprintf(args, sizeof args, "train gan.yaml --out refused %s", cases[k].set);
        tu_expect_cli_err(dir, run_cli(args), 1, cases[k].needle);
        if (access(run, F_OK) == 0)
            fail_msg("%s made the run directory before refusing", cases[k].set);
    }
    assert_int_equal(run_cli("train gan.yaml --out refused --steps 1 --set gan.sample_count=4096 --set gan.ema=0"), 0);
    /* (2^62 + 1) 784 is 784 in 64 bits, the linear layer's output */
    char *wraps = replaced(gan_spec, "shape: [1, 28, 28]", "shape: [4611686018427387905, 784]");
    tu_write_text(dir, "wraps.yaml", wraps);
    free(wraps);
    tu_expect_cli_err(dir, run_cli("train wraps.yaml --out wrapped"), 1, "the product of its sizes overflows");
    snprintf(run, sizeof run, "%s/wrapped", dir);
    assert_int_not_equal(access(run, F_OK), 0);
}

/* ---- fid on 8x8 images -------------------------------------------------------- */

/* dir/NAME.yaml, a classifier of 1x8x8 images with @p layers, and
 * dir/NAME.safetensors, its untrained weights (FID reads any classifier). */
static void write_classifier(const char *name, const char *layers)
{
    char text[1024], file[64], path[1024];
    snprintf(text, sizeof text, "model:\n  input: [1, 8, 8]\n  layers:\n%s", layers);
    snprintf(file, sizeof file, "%s.yaml", name);
    tu_write_text(dir, file, text);
    strata_runtime *rt = tu_runtime();
    strata_spec *s = NULL;
    strata_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    ST_OK(strata_spec_load(rt, path, &s));
    ST_OK(strata_spec_build_model(s, tu_ref(rt), &m));
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    ST_OK(strata_checkpoint_save(path, m, NULL, NULL));
    strata_model_destroy(m);
    strata_spec_destroy(s);
    strata_runtime_destroy(rt);
}

/* dir/SUB/t10k-*: @p n bar images of side @p side (plain IDX under the
 * names of the gzip files: the reader goes by the bytes). */
static void write_real(const char *sub, int n, int side)
{
    char path[700], from[800], to[800];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    assert_int_equal(mkdir(path, 0755), 0);
    tu_write_bars_idx(path, n, side);
    static const char *const names[2][2] = {{"images.idx", "t10k-images-idx3-ubyte.gz"},
                                            {"labels.idx", "t10k-labels-idx1-ubyte.gz"}};
    for (int k = 0; k < 2; k++) {
        snprintf(from, sizeof from, "%s/%s", path, names[k][0]);
        snprintf(to, sizeof to, "%s/%s", path, names[k][1]);
        assert_int_equal(rename(from, to), 0);
    }
}

static const char gan8_spec[] =
    "seed: 1\ntask: gan\n"
    "data:\n  format: idx\n  train: {images: images.idx, labels: labels.idx}\n  scale: 127.5\n  mean: 1\n"
    "gan: {noise_dim: 4, sample_every: 0, sample_count: 4}\n"
    "generator:\n"
    "  model:\n    input: [4]\n    layers:\n"
    "      - {type: linear, out_features: 64}\n      - {type: tanh}\n      - {type: unflatten, shape: [1, 8, 8]}\n"
    "  optimizer: {type: adam, lr: 0.001}\n"
    "discriminator:\n"
    "  model:\n    input: [1, 8, 8]\n    layers:\n"
    "      - {type: flatten}\n      - {type: linear, out_features: 1}\n"
    "  optimizer: {type: adam, lr: 0.001}\n"
    "train: {steps: 2, batch_size: 8, log_every: 0}\n";

/* fid refuses what it cannot score with a message that names the shapes
 * or limits involved, before reading features into a buffer sized for
 * them (a penultimate layer of more than 65,536 features overflowed it). */
static void test_fid_cli(void **state)
{
    (void)state;
    tu_write_bars_idx(dir, 40, 8);
    write_real("real", 600, 8);
    write_real("real7", 40, 7);
    tu_write_text(dir, "gan8.yaml", gan8_spec);
    assert_int_equal(run_cli("train gan8.yaml --out g8 --backend ref"), 0);
    write_classifier("cls", "    - {type: flatten}\n    - {type: linear, out_features: 16}\n    - {type: relu}\n"
                            "    - {type: linear, out_features: 10}\n");
#define FID(cls, more) "fid --generator g8 --classifier " cls ".safetensors --classifier-spec " cls ".yaml " more \
                       " --backend ref"
    assert_int_equal(run_cli(FID("cls", "--real real --count 40 --json")), 0);
    char *out = slurp("out");
    assert_contains(out, "\"count\": 40, \"features\": 16}");
    free(out);

    write_classifier("cls1", "    - {type: linear, out_features: 10}\n");
    tu_expect_cli_err(dir, run_cli(FID("cls1", "--real real --count 4")), 1,
                      "cls1.safetensors: the classifier has 1 layer(s); FID compares the features of its penultimate "
                      "layer, so it needs at least 2");
    write_classifier("cls20k", "    - {type: flatten}\n    - {type: linear, out_features: 20000}\n"
                               "    - {type: linear, out_features: 10}\n");
    tu_expect_cli_err(dir, run_cli(FID("cls20k", "--real real --count 4")), 1,
                      "cls20k.safetensors: the classifier's penultimate layer has 20000 features; the Frechet distance "
                      "takes at most 16384");
    /* 500 images a batch of 70,000 features: more than the 500 x 65,536 the buffer held */
    write_classifier("cls70k", "    - {type: flatten}\n    - {type: linear, out_features: 70000}\n"
                               "    - {type: linear, out_features: 10}\n");
    tu_expect_cli_err(dir, run_cli(FID("cls70k", "--real real")), 1,
                      "cls70k.safetensors: the classifier's penultimate layer has 70000 features");
    /* an autoencoder's penultimate layer is a decoder's: its FID was a number of nothing */
    char *cls_text = slurp("cls.yaml"), ae_text[1200];
    snprintf(ae_text, sizeof ae_text, "task: autoencoder\n%s", cls_text);
    free(cls_text);
    tu_write_text(dir, "clsae.yaml", ae_text);
    tu_expect_cli_err(dir, run_cli("fid --generator g8 --classifier cls.safetensors --classifier-spec clsae.yaml "
                                   "--real real --count 4 --backend ref"),
                      1, "--classifier cls.safetensors: its spec clsae.yaml is task: autoencoder; FID compares the "
                         "features of an image classifier (task: classification)");
    tu_expect_cli_err(dir, run_cli(FID("cls", "--real real7 --count 4")), 1,
                      "the real images in real7 are [7, 7] (49 values) but the classifier cls.safetensors takes "
                      "[1, 8, 8] (64 values)");

    /* a generator of 7x7 images */
    char *a = replaced(gan8_spec, "out_features: 64", "out_features: 49");
    char *b = replaced(a, "shape: [1, 8, 8]", "shape: [1, 7, 7]");
    char *c = replaced(b, "input: [1, 8, 8]", "input: [1, 7, 7]");
    char *g7 = replaced(c, "{images: images.idx, labels: labels.idx}",
                        "{images: real7/t10k-images-idx3-ubyte.gz, labels: real7/t10k-labels-idx1-ubyte.gz}");
    tu_write_text(dir, "gan7.yaml", g7);
    free(a);
    free(b);
    free(c);
    free(g7);
    assert_int_equal(run_cli("train gan7.yaml --out g7 --steps 1 --backend ref"), 0);
    tu_expect_cli_err(dir, run_cli("fid --generator g7 --classifier cls.safetensors --classifier-spec cls.yaml "
                                   "--real real --count 4 --backend ref"),
                      1,
                      "the generator's images [1, 7, 7] (49 values) do not fit the classifier cls.safetensors's input "
                      "[1, 8, 8] (64 values)");
#undef FID
}

static void test_autoencoder_cli(void **state)
{
    (void)state;
    tu_write_text(dir, "ae.yaml", "seed: 1\ntask: autoencoder\n"
                                  "data:\n  format: idx\n" DATA_TRAIN DATA_TEST "  scale: 255\n"
                                  "autoencoder: {code_size: 8}\n"
                                  "model:\n  input: [784]\n  layers:\n"
                                  "    - {type: linear, out_features: 8}\n    - {type: linear, out_features: 784}\n"
                                  "    - {type: sigmoid}\n"
                                  "optimizer: {type: adam, lr: 0.003}\n"
                                  "train: {epochs: 1, batch_size: 256}\n");
    assert_int_equal(run_cli("train ae.yaml --out run"), 0);
    char *said = slurp("err"); /* every trainer shows the defaults it applied (two of six did) */
    assert_contains(said, "strata: defaults applied:\n");
    assert_contains(said, "\ndata.std = 1\n");
    free(said);
    char *sum = slurp("run/summary.json");
    assert_contains(sum, "\"test_mse\"");
    assert_contains(sum, "\"pca_mse\"");
    const double test_mse = atof(strchr(strstr(sum, "\"test_mse\""), ':') + 1);
    const double pca_mse = atof(strchr(strstr(sum, "\"pca_mse\""), ':') + 1);
    /* a linear 8-unit code after one epoch: near PCA's optimum, never far below it */
    if (!(test_mse > 0.0 && test_mse < 0.1 && pca_mse > 0.0 && pca_mse < 0.1 && test_mse > 0.8 * pca_mse))
        fail_msg("test_mse %g, pca_mse %g", test_mse, pca_mse);
    free(sum);
    free(slurp("run/reconstructions.png"));
    assert_int_equal(run_cli("eval ae.yaml --checkpoint run/checkpoint.safetensors --json"), 0);
    char *out = slurp("out");
    assert_contains(out, "\"test_mse\"");
    free(out);
    /* a code larger than an example: refused before training (it failed in the PCA after every epoch) */
    assert_int_equal(run_cli("train ae.yaml --out big --set autoencoder.code_size=1000"), 1);
    char *err = slurp("err");
    assert_contains(err, "autoencoder.code_size 1000 must be 1 to the 784 values of an example");
    free(err);
    char big[600];
    snprintf(big, sizeof big, "%s/big", dir);
    assert_int_not_equal(access(big, F_OK), 0); /* no run directory made */
    /* a code_size that is not the model's code (its narrowest layer): refused, naming both (its PCA was
     * compared with another code); left out, it is the model's */
    assert_int_equal(run_cli("train ae.yaml --out other --set autoencoder.code_size=32"), 1);
    err = slurp("err");
    assert_contains(err, "autoencoder.code_size is 32, but the model's code, its narrowest layer (layer '0', linear), "
                         "holds 8 values");
    free(err);
    tu_write_text(dir, "ae-nocode.yaml", "seed: 1\ntask: autoencoder\n"
                                         "data:\n  format: idx\n" DATA_TRAIN DATA_TEST "  scale: 255\n"
                                         "model:\n  input: [784]\n  layers:\n"
                                         "    - {type: linear, out_features: 12}\n    - {type: relu}\n"
                                         "    - {type: linear, out_features: 784}\n"
                                         "optimizer: {type: adam, lr: 0.003}\ntrain: {batch_size: 256}\n");
    assert_int_equal(run_cli("train ae-nocode.yaml --out nocode --steps 1"), 0);
    said = slurp("err");
    assert_contains(said, "\nautoencoder.code_size = the model's narrowest layer\n");
    free(said);
    out = slurp("out");
    assert_contains(out, "code 12 of 784 values; 1 epoch, batch 256");
    assert_contains(out, "PCA with 12 components");
    free(out);
    /* a huge --epochs is a long schedule, not an overflowed one: the cosine rate after 2 steps is the first's */
    assert_int_equal(run_cli("train ae.yaml --out long --epochs 9223372036854775807 --steps 2 --set schedule.type=cosine"),
                     0);
    char *m = slurp("long/metrics.jsonl");
    const char *lr1 = strstr(m, "\"lr\":"), *lr2 = lr1 ? strstr(lr1 + 1, "\"lr\":") : NULL;
    assert_non_null(lr2);
    assert_true(atof(lr2 + 5) > 0.9 * atof(lr1 + 5));
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_game),
        cmocka_unit_test(test_gan_cli),
        cmocka_unit_test(test_gan_refused_before_training),
        cmocka_unit_test(test_fid_cli),
        cmocka_unit_test(test_autoencoder_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
