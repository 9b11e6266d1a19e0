/* test_gan_resume.c - checkpoints and --resume of the GAN and autoencoder
 * trainers, end to end on a synthetic 8x8 IDX set (ref backend):
 *
 *   - a run stopped after k steps and resumed to N writes the same
 *     metrics.jsonl records as an uninterrupted run of N steps (same
 *     batches, dropout masks, optimizer and weight-average state);
 *   - a GAN killed between writing the discriminator and the generator
 *     resumes from the previous, consistent files (X.prev.safetensors);
 *   - a non-finite loss stops training after saving the last good state,
 *     the same state an uninterrupted run has after that many steps;
 *   - that state, when rebuilt by replaying iterations, follows the schedule;
 *   - it is rebuilt too when no update had been applied but batch norm's
 *     statistics had moved;
 *   - sample takes the run's spec.yaml before the spec path the checkpoint
 *     records (as typed, without --set overrides);
 *   - run files of no common step name each file's step or read error;
 *   - bad uses of the flags fail with a message naming the file, never a crash;
 *   - schedule: and train.clip_grad_norm reach both trainers' updates (and
 *     a scheduled run resumes to the same rates and losses).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define N_IMAGES 40 /* batch 8: 5 batches an epoch */
#define SIDE 8

static char dir[512];

/* dir/NAME: a GAN with two discriminator steps per generator step, dropout
 * in the discriminator (so the random state matters) and a weight average;
 * the discriminator's optimizer @p d_opt. */
static void write_gan_spec(const char *name, const char *d_opt)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 2\ntask: gan\n"
                     "data:\n  format: idx\n"
                     "  train: {images: images.idx, labels: labels.idx}\n"
                     "  scale: 127.5\n  mean: 1\n"
                     "gan: {loss: non_saturating, noise_dim: 4, d_steps: 2, sample_every: 4, sample_count: 4, "
                     "ema: 0.9}\n"
                     "generator:\n  model:\n    input: [4]\n    layers:\n"
                     "      - {type: linear, out_features: 64}\n      - {type: tanh}\n"
                     "      - {type: unflatten, shape: [1, %d, %d]}\n"
                     "  optimizer: {type: adam, lr: 0.01}\n"
                     "discriminator:\n  model:\n    input: [1, %d, %d]\n    layers:\n"
                     "      - {type: flatten}\n      - {type: linear, out_features: 8}\n"
                     "      - {type: leaky_relu}\n      - {type: dropout, p: 0.25}\n"
                     "      - {type: linear, out_features: 1}\n"
                     "  optimizer: %s\n"
                     "train: {steps: 12, batch_size: 8, log_every: 4}\n",
                     SIDE, SIDE, SIDE, SIDE, d_opt);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, name, text, (size_t)n);
}

/* dir/gan_grow.yaml: a GAN whose rates grow 4x every iteration until a loss
 * overflows (near iteration 38), with batch norm in the generator (buffers
 * that every training-mode forward pass changes); least squares, 2
 * discriminator steps. */
static void write_growing_gan_spec(void)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 2\ntask: gan\n"
                     "data:\n  format: idx\n"
                     "  train: {images: images.idx, labels: labels.idx}\n"
                     "  scale: 127.5\n  mean: 1\n"
                     "gan: {loss: least_squares, noise_dim: 4, d_steps: 2, sample_every: 0, sample_count: 4}\n"
                     "generator:\n  model:\n    input: [4]\n    layers:\n"
                     "      - {type: linear, out_features: 64}\n      - {type: batch_norm1d}\n"
                     "      - {type: tanh}\n      - {type: unflatten, shape: [1, %d, %d]}\n"
                     "  optimizer: {type: adam, lr: 0.001}\n"
                     "discriminator:\n  model:\n    input: [1, %d, %d]\n    layers:\n"
                     "      - {type: flatten}\n      - {type: linear, out_features: 8}\n"
                     "      - {type: leaky_relu}\n      - {type: linear, out_features: 1}\n"
                     "  optimizer: {type: adam, lr: 0.001}\n"
                     "train: {steps: 60, batch_size: 8, log_every: 0}\n"
                     "schedule: {type: step, step_size: 1, gamma: 4.0}\n",
                     SIDE, SIDE, SIDE, SIDE);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, "gan_grow.yaml", text, (size_t)n);
}

/* dir/NAME: an autoencoder with dropout, 3 epochs; a sigmoid output when
 * @p sigmoid (without it a large learning rate overflows the loss). */
static void write_ae_spec(const char *name, const char *opt, int sigmoid)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 3\ntask: autoencoder\n"
                     "data:\n  format: idx\n"
                     "  train: {images: images.idx, labels: labels.idx}\n"
                     "  test: {images: images.idx, labels: labels.idx}\n"
                     "  scale: 255\n"
                     "autoencoder: {code_size: 4}\n"
                     "model:\n  input: [%d]\n  layers:\n"
                     "    - {type: linear, out_features: 4}\n    - {type: dropout, p: 0.2}\n"
                     "    - {type: linear, out_features: %d}\n%s"
                     "optimizer: %s\n"
                     "train: {epochs: 3, batch_size: 8}\n",
                     SIDE * SIDE, SIDE * SIDE, sigmoid ? "    - {type: sigmoid}\n" : "", opt);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, name, text, (size_t)n);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "ganresume"), 0);
    tu_write_bars_idx(dir, N_IMAGES, SIDE);
    write_gan_spec("gan.yaml", "{type: adam, lr: 0.01}");
    write_gan_spec("gan_diverge.yaml", "{type: sgd, lr: 1.0e+4}");
    write_ae_spec("ae.yaml", "{type: adam, lr: 0.01}", 1);
    write_ae_spec("ae_diverge.yaml", "{type: sgd, lr: 1.0e+10}", 0);
    /* the rate halved every 4 steps */
    write_gan_spec("gan_step.yaml", "{type: adam, lr: 0.01}\nschedule: {type: step, step_size: 4, gamma: 0.5}");
    write_ae_spec("ae_step.yaml", "{type: adam, lr: 0.01}\nschedule: {type: step, step_size: 4, gamma: 0.5}", 1);
    write_growing_gan_spec();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* Runs `strata ARGS` in dir; returns its exit status. */
#define cli(...) tu_run_clif(dir, __VA_ARGS__)
#define records(run) tu_metrics(dir, run)
#define checkpoint_step(path) tu_checkpoint_step(dir, path)

static void expect_ok(int code)
{
    tu_expect_cli_ok(dir, code);
}

static void expect_err(int code, int want, const char *needle)
{
    tu_expect_cli_err(dir, code, want, needle);
}

static void expect_same_records(const char *want_run, const char *run)
{
    char *want = records(want_run), *got = records(run);
    if (strcmp(want, got) != 0)
        fail_msg("%s's metrics differ from %s's:\n--- %s\n%s--- %s\n%s", run, want_run, want_run, want, run, got);
    free(want);
    free(got);
}

/* The bytes of dir/NAME; *n their count. */
static char *read_all(const char *name, long *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s is missing", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    *n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)*n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return buf;
}

static void expect_same_file(const char *a, const char *b)
{
    long na, nb;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    if (na != nb || memcmp(x, y, (size_t)na) != 0)
        fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

static int exists(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "cp -r '%s/%s' '%s/%s'", dir, from, dir, to);
    assert_int_equal(system(cmd), 0);
}

static void test_gan_resume_matches_uninterrupted(void **state)
{
    (void)state;
    expect_ok(cli("train gan.yaml --out gfull --backend ref"));
    char *full = records("gfull");
    assert_int_equal(tu_count(full, "\"d_loss\""), 12);
    assert_int_equal(tu_count(full, "\"g_loss\""), 12);
    free(full);
    assert_int_equal(checkpoint_step("gfull/generator.safetensors"), 12);

    /* stopped after 5 (checkpoints at 0, 2, 4 and 5; 20 real batches: epoch 2), resumed to 12 */
    expect_ok(cli("train gan.yaml --out gpart --steps 5 --checkpoint-every 2 --backend ref"));
    assert_int_equal(checkpoint_step("gpart/generator.safetensors"), 5);
    assert_int_equal(checkpoint_step("gpart/discriminator.safetensors"), 5);
    assert_int_equal(checkpoint_step("gpart/generator_ema.safetensors"), 5);
    assert_int_equal(checkpoint_step("gpart/discriminator.prev.safetensors"), 4);
    expect_ok(cli("train gan.yaml --resume gpart --checkpoint-every 2 --backend ref"));
    expect_same_records("gfull", "gpart");
    /* the same models, weight average included */
    expect_same_file("gfull/generator.safetensors", "gpart/generator.safetensors");
    expect_same_file("gfull/discriminator.safetensors", "gpart/discriminator.safetensors");
    expect_same_file("gfull/generator_ema.safetensors", "gpart/generator_ema.safetensors");
    static const char *const files[] = {"gpart/samples/step_000004.png", "gpart/samples/step_000008.png",
                                        "gpart/samples/step_000012.png", "gpart/samples/ema_final.png",
                                        "gpart/samples.png", "gpart/summary.json"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        if (!exists(files[k]))
            fail_msg("%s is missing", files[k]);
    expect_same_file("gfull/samples.png", "gpart/samples.png");

    /* sample and fid's reading of the generator file still work */
    expect_ok(cli("sample --checkpoint gpart/generator.safetensors --count 4 --out s.png --backend ref"));
    char spec[1024];
    snprintf(spec, sizeof spec, "%s/gpart/generator.safetensors", dir);
    char buf[256];
    ST_OK(strata_checkpoint_metadata(spec, "spec", buf, sizeof buf)); /* its real path, not "gan.yaml" as typed */
    char want[PATH_MAX], typed[1100];
    snprintf(typed, sizeof typed, "%s/gan.yaml", dir);
    assert_non_null(realpath(typed, want));
    assert_string_equal(buf, want);
    ST_OK(strata_checkpoint_metadata(spec, "task", buf, sizeof buf));
    assert_string_equal(buf, "gan");
    ST_OK(strata_checkpoint_metadata(spec, "gan.steps", buf, sizeof buf));
    assert_string_equal(buf, "12");

    /* resuming a finished run changes nothing and reports the same losses */
    expect_ok(cli("train gan.yaml --resume gpart --backend ref"));
    expect_same_records("gfull", "gpart");
    char *a = tu_slurp(dir, "gfull/summary.json"), *b = tu_slurp(dir, "gpart/summary.json");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(!strncmp(strstr(a, "\"d_loss\""), strstr(b, "\"d_loss\""), 40));
    assert_true(!strncmp(strstr(a, "\"g_loss\""), strstr(b, "\"g_loss\""), 40));
    free(a);
    free(b);
    /* ... also when it asks for fewer steps than the run has: it reports the step it is at (it said 5) */
    expect_ok(cli("train gan.yaml --resume gpart --steps 5 --backend ref"));
    char *out = tu_slurp(dir, "out");
    b = tu_slurp(dir, "gpart/summary.json");
    assert_non_null(out);
    assert_non_null(b);
    if (!strstr(out, "done: 12 steps") || !strstr(b, "\"steps\": 12"))
        fail_msg("a finished 12-step run resumed with --steps 5 reports: %s / %s", out, b);
    free(out);
    free(b);
}

/* Ctrl-C during SPEC's run: it ends with 130 after saving where it stands
 * (CKPT's step); resumed to 7 steps further, its records are those of a run
 * of that many steps. */
static void interrupted_then_resumed(const char *spec, const char *ckpt, const char *needle)
{
    const char *const argv[] = {"train", spec, "--out", "cut", "--steps", "100000000", "--backend", "ref", "--quiet",
                                NULL};
    int code = tu_run_cli_interrupted(dir, "cut/metrics.jsonl", needle, 12, argv);
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (code != 130 || !strstr(err, "interrupted (SIGINT) after step") || !strstr(err, "--resume cut"))
        fail_msg("%s: exit %d: %s", spec, code, err);
    free(err);
    const long long k = checkpoint_step(ckpt);
    assert_true(k >= 12);
    expect_ok(cli("train %s --resume cut --steps %lld --backend ref --quiet", spec, k + 7));
    expect_ok(cli("train %s --out whole --steps %lld --backend ref --quiet", spec, k + 7));
    expect_same_records("whole", "cut");
    char rm[1200];
    snprintf(rm, sizeof rm, "rm -rf '%s/cut' '%s/whole'", dir, dir);
    assert_int_equal(system(rm), 0);
}

static void test_interrupt_and_resume(void **state)
{
    (void)state;
    interrupted_then_resumed("gan.yaml", "cut/generator.safetensors", "\"d_loss\"");
    interrupted_then_resumed("ae.yaml", "cut/checkpoint.safetensors", "\"batch_loss\"");
    /* with a schedule: the rates (in the records) continue where they were */
    interrupted_then_resumed("gan_step.yaml", "cut/generator.safetensors", "\"d_loss\"");
    interrupted_then_resumed("ae_step.yaml", "cut/checkpoint.safetensors", "\"batch_loss\"");
}

/* schedule: and train.clip_grad_norm reach the updates of both trainers: a
 * step schedule with gamma 0 stops them after its first step_size steps,
 * and a vanishing clip norm on SGD leaves the weights where they started. */
static void test_schedule_and_clip(void **state)
{
    (void)state;
#define STOP_AFTER(n) "--set schedule.type=step --set schedule.step_size=" #n " --set schedule.gamma=0"
    expect_ok(cli("train ae.yaml --out as2 --steps 2 --backend ref --quiet " STOP_AFTER(2)));
    expect_ok(cli("train ae.yaml --out as6 --steps 6 --backend ref --quiet " STOP_AFTER(2)));
    expect_ok(cli("train ae.yaml --out ac6 --steps 6 --backend ref --quiet"));
    assert_true(tu_same_model_tensors(dir, "as2/checkpoint.safetensors", "as6/checkpoint.safetensors"));
    assert_false(tu_same_model_tensors(dir, "as6/checkpoint.safetensors", "ac6/checkpoint.safetensors"));
    char *m = records("as6");
    assert_int_equal(tu_count(m, "\"lr\":0.01}"), 2);
    assert_int_equal(tu_count(m, "\"lr\":0.0}"), 4);
    free(m);

    /* a --steps stop does not shorten the schedule: resumed, the rates are the uninterrupted run's */
    expect_ok(cli("train ae.yaml --out al --backend ref --quiet --set schedule.type=linear"));
    expect_ok(cli("train ae.yaml --out al5 --steps 5 --backend ref --quiet --set schedule.type=linear"));
    expect_ok(cli("train ae.yaml --resume al5 --backend ref --quiet --set schedule.type=linear"));
    expect_same_records("al", "al5");

    expect_ok(cli("train ae.yaml --out ak1 --steps 1 --backend ref --quiet --set optimizer.type=sgd "
                  "--set train.clip_grad_norm=1e-12"));
    expect_ok(cli("train ae.yaml --out ak3 --steps 3 --backend ref --quiet --set optimizer.type=sgd "
                  "--set train.clip_grad_norm=1e-12"));
    expect_ok(cli("train ae.yaml --out an1 --steps 1 --backend ref --quiet --set optimizer.type=sgd"));
    assert_true(tu_same_model_tensors(dir, "ak1/checkpoint.safetensors", "ak3/checkpoint.safetensors"));
    assert_false(tu_same_model_tensors(dir, "ak1/checkpoint.safetensors", "an1/checkpoint.safetensors"));

    /* the GAN: both models (no weight average: it moves on its own) */
    static const char *const files[] = {"generator.safetensors", "discriminator.safetensors"};
    expect_ok(cli("train gan.yaml --out gs1 --steps 1 --backend ref --quiet --set gan.ema=0 " STOP_AFTER(1)));
    expect_ok(cli("train gan.yaml --out gs3 --steps 3 --backend ref --quiet --set gan.ema=0 " STOP_AFTER(1)));
    m = records("gs3");
    assert_int_equal(tu_count(m, "\"g_lr\":0.0,\"d_lr\":0.0"), 2);
    free(m);
    /* a run trained without gan.ema, resumed with it: said so (it read as a torn checkpoint) */
    expect_err(cli("train gan.yaml --resume gs1 --steps 2 --backend ref --quiet"), 1,
               "cannot resume from gs1 with gan.ema: the run was trained without it");
    /* and one trained with it, resumed without it: its average stays behind, which it says */
    expect_ok(cli("train gan.yaml --out gema --steps 1 --backend ref --quiet"));
    expect_err(cli("train gan.yaml --resume gema --steps 2 --backend ref --quiet --set gan.ema=0"), 0,
               "gema/generator_ema.safetensors, the weight average of step 1, stays at that step: this spec has no "
               "gan.ema, so the resumed run does not update it (and the run can no longer be resumed with gan.ema)");
    assert_int_equal(checkpoint_step("gema/generator_ema.safetensors"), 1);
    assert_int_equal(checkpoint_step("gema/generator.safetensors"), 2);
    /* resumed with the average again: said so (it read as a torn checkpoint) */
    expect_err(cli("train gan.yaml --resume gema --steps 3 --backend ref --quiet"), 1,
               "cannot resume from gema with gan.ema: its weight average (generator_ema.safetensors) stayed at step 1 "
               "while the run trained to step 2 without gan.ema; resume it without gan.ema (--set gan.ema=0)");
    /* with SGD and a clip norm of 1e-12 the weights stay where they started; without, they move */
    for (int n = 1; n <= 3; n += 2) {
        expect_ok(cli("train gan.yaml --out gk%d --steps %d --backend ref --quiet --set gan.ema=0 "
                      "--set generator.optimizer.type=sgd --set discriminator.optimizer.type=sgd "
                      "--set train.clip_grad_norm=1e-12", n, n));
        expect_ok(cli("train gan.yaml --out gn%d --steps %d --backend ref --quiet --set gan.ema=0 "
                      "--set generator.optimizer.type=sgd --set discriminator.optimizer.type=sgd", n, n));
    }
    for (size_t k = 0; k < 2; k++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "gs1/%s", files[k]);
        snprintf(b, sizeof b, "gs3/%s", files[k]);
        assert_true(tu_same_model_tensors(dir, a, b));
        snprintf(a, sizeof a, "gk1/%s", files[k]);
        snprintf(b, sizeof b, "gk3/%s", files[k]);
        assert_true(tu_same_model_tensors(dir, a, b));
        snprintf(a, sizeof a, "gn1/%s", files[k]);
        snprintf(b, sizeof b, "gn3/%s", files[k]);
        assert_false(tu_same_model_tensors(dir, a, b));
    }
#undef STOP_AFTER
}

/* A kill between the discriminator's and the generator's write: the
 * generator file is still the previous checkpoint's. */
static void test_gan_kill_between_files(void **state)
{
    (void)state;
    expect_ok(cli("train gan.yaml --out kfull --backend ref"));
    expect_ok(cli("train gan.yaml --out k4 --steps 4 --backend ref"));
    copy_file("k4", "k8");
    expect_ok(cli("train gan.yaml --resume k8 --steps 8 --backend ref"));
    copy_file("k4/generator.safetensors", "k8/generator.safetensors");
    assert_int_equal(checkpoint_step("k8/discriminator.safetensors"), 8);
    assert_int_equal(checkpoint_step("k8/generator.safetensors"), 4);
    /* and a write of the discriminator the kill cut short */
    tu_write_file(dir, "k8/discriminator.safetensors.tmp.4242", "torn", 4);
    expect_ok(cli("train gan.yaml --resume k8 --backend ref"));
    expect_same_records("kfull", "k8");
    assert_false(exists("k8/discriminator.safetensors.tmp.4242"));

    /* files of no common step: a clear error, not a resume from a mixture */
    copy_file("k4", "mixed");
    copy_file("kfull/discriminator.safetensors", "mixed/discriminator.safetensors");
    char path[1024];
    snprintf(path, sizeof path, "%s/mixed/discriminator.prev.safetensors", dir);
    remove(path);
    expect_err(cli("train gan.yaml --resume mixed --backend ref"), 1, "discriminator.prev.safetensors");

    /* a torn discriminator file: its read error is told, and the step the other file holds */
    copy_file("k4", "torn");
    long n = 0;
    char *whole = read_all("torn/discriminator.safetensors", &n);
    tu_write_file(dir, "torn/discriminator.safetensors", whole, 100);
    free(whole);
    int code = cli("train gan.yaml --resume torn --backend ref");
    expect_err(code, 1, "neither discriminator.safetensors nor discriminator.prev.safetensors holds step 4");
    expect_err(code, 1, "reading torn/discriminator.safetensors: E_FORMAT");
    expect_err(code, 1, "torn/discriminator.prev.safetensors holds step 0");
}

/* dir/NAME removed. */
static void remove_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(remove(path), 0);
}

/* sample and fid take the spec a run was trained with, RUN/spec.yaml (with
 * its --set overrides), before the path its checkpoint records: that path
 * is the spec's real path at training (as typed until 2026-12-03), without overrides. */
/* A sample grid that cannot be written (its path taken by a directory)
 * fails the run, but after the step is saved: the checkpoint of that step
 * (--checkpoint-every) is not lost with the image. */
static void test_grid_error_keeps_checkpoint(void **state)
{
    (void)state;
    expect_ok(cli("train gan.yaml --out gridless --steps 4 --checkpoint-every 4 --backend ref --quiet"));
    assert_int_equal(checkpoint_step("gridless/generator.safetensors"), 4);
    char path[1024];
    snprintf(path, sizeof path, "%s/gridless/samples/step_000008.png", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    expect_err(cli("train gan.yaml --resume gridless --steps 12 --checkpoint-every 4 --backend ref --quiet"), 1,
               "samples/step_000008.png: it is a directory");
    assert_int_equal(checkpoint_step("gridless/generator.safetensors"), 8);
    assert_int_equal(checkpoint_step("gridless/discriminator.safetensors"), 8);
}

/* An image that a full disk cuts short says why (here files limited to 2048
 * bytes: EFBIG), not libpng's "Write Error": the grid is larger than
 * stdio's buffer, so the write that fails is libpng's own. */
static void test_png_write_error_says_why(void **state)
{
    (void)state;
    expect_ok(cli("train gan.yaml --out pngfull --steps 1 --backend ref --quiet --set gan.sample_every=0"));
    expect_ok(cli("sample --checkpoint pngfull/generator.safetensors --count 256 --out big.png --backend ref"));
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/big.png", dir);
    assert_int_equal(stat(path, &st), 0);
    if (st.st_size <= 4 * 4096)
        fail_msg("the grid is %lld bytes: no larger than a few stdio buffers", (long long)st.st_size);
    int code = tu_run_cli_fsize(dir, 2048, "sample --checkpoint pngfull/generator.safetensors --count 256 "
                                           "--out big2.png --backend ref");
    expect_err(code, 1, "big2.png: File too large");
}

/* A full disk under metrics.jsonl (files limited to 1000 bytes) stops the
 * GAN and the autoencoder with the file's error before any checkpoint of
 * theirs comes (the GAN resumed: a new run saves step 0 first; the
 * autoencoder in batches of 1, 40 records before its epoch's checkpoint),
 * not a run that lost its records and said nothing of them until the
 * checkpoint failed too. */
static void test_metrics_write_error(void **state)
{
    (void)state;
    expect_ok(cli("train gan.yaml --out gfull_disk --steps 1 --backend ref --quiet --set gan.sample_every=0"));
    int code = tu_run_cli_fsize(dir, 1000, "train gan.yaml --resume gfull_disk --backend ref --quiet "
                                           "--set gan.sample_every=0");
    expect_err(code, 1, "cannot write gfull_disk/metrics.jsonl: File too large");
    code = tu_run_cli_fsize(dir, 1000, "train ae.yaml --out afull_disk --backend ref --quiet "
                                       "--set train.batch_size=1");
    expect_err(code, 1, "cannot write afull_disk/metrics.jsonl: File too large");
}

/* A GAN checkpoint whose generator's file cannot be written (files limited to 14000 bytes: a generator of 32
 * inputs with Adam's moments takes more; a discriminator of one hidden unit and the average less) leaves the
 * checkpoint before it whole: the discriminator and the average it had replaced are put back (the average
 * was left only as generator_ema.prev.safetensors, sample failed on it, and the discriminator was steps
 * ahead). */
static void test_failed_save_keeps_checkpoint(void **state)
{
    (void)state;
    const char *sets = "--backend ref --quiet --set gan.sample_every=0 --set gan.noise_dim=32 --set "
                       "'generator.model.input=[32]' --set discriminator.model.layers.1.out_features=1";
    char args[1024];
    snprintf(args, sizeof args, "train gan.yaml --out gsave --steps 1 %s", sets);
    expect_ok(cli("%s", args));
    snprintf(args, sizeof args, "train gan.yaml --resume gsave --steps 4 %s", sets);
    expect_err(tu_run_cli_fsize(dir, 14000, args), 1, "gsave/generator.safetensors");
    assert_int_equal(tu_checkpoint_step(dir, "gsave/generator.safetensors"), 1);
    assert_int_equal(tu_checkpoint_step(dir, "gsave/discriminator.safetensors"), 1);
    assert_int_equal(tu_checkpoint_step(dir, "gsave/generator_ema.safetensors"), 1);
    expect_ok(cli("sample --checkpoint gsave/generator_ema.safetensors --count 4 --out gsave.png --backend ref"));
    /* a new run over it whose first save (step 0: no Adam moments yet, 9,248 bytes for the generator, less for
     * the average) fails the same way leaves the earlier run whole: its average and history came back (the
     * discriminator's save ended the earlier run's files, and the new average stayed) */
    snprintf(args, sizeof args, "train gan.yaml --out gsave --steps 1 %s", sets);
    expect_err(tu_run_cli_fsize(dir, 9150, args), 1, "gsave/generator.safetensors");
    assert_int_equal(tu_checkpoint_step(dir, "gsave/generator.safetensors"), 1);
    assert_int_equal(tu_checkpoint_step(dir, "gsave/discriminator.safetensors"), 1);
    assert_int_equal(tu_checkpoint_step(dir, "gsave/generator_ema.safetensors"), 1);
    char *m = tu_slurp(dir, "gsave/metrics.jsonl");
    assert_non_null(m);
    assert_true(tu_count(m, "\"step\"") >= 1);
    free(m);
    snprintf(args, sizeof args, "train gan.yaml --resume gsave --steps 2 %s", sets);
    expect_ok(cli("%s", args));
    /* an earlier run killed between its discriminator's rename and its write (the state the rename of
     * 2026-12-07 evening left) has that model only as discriminator.prev: a failing new run keeps it */
    snprintf(args, sizeof args, "train gan.yaml --out gtorn --steps 2 --checkpoint-every 1 --set gan.ema=0 %s", sets);
    expect_ok(cli("%s", args));
    char from[1200], to[1200];
    snprintf(from, sizeof from, "%s/gtorn/discriminator.safetensors", dir);
    snprintf(to, sizeof to, "%s/gtorn/discriminator.prev.safetensors", dir);
    assert_int_equal(rename(from, to), 0);
    snprintf(args, sizeof args, "train gan.yaml --out gtorn --steps 1 --set gan.ema=0 %s", sets);
    expect_err(tu_run_cli_fsize(dir, 9150, args), 1, "gtorn/generator.safetensors");
    snprintf(args, sizeof args, "train gan.yaml --resume gtorn --steps 3 --set gan.ema=0 %s", sets);
    expect_ok(cli("%s", args));
    /* the discriminator's own file cannot be written (200 hidden units with Adam's moments: about 158 KB): the
     * one it kept stays, and no discriminator.prev is left as a second link to it */
    const char *big_d =
        "--backend ref --quiet --set gan.sample_every=0 --set discriminator.model.layers.1.out_features=200";
    snprintf(args, sizeof args, "train gan.yaml --out gdfail --steps 1 %s", big_d);
    expect_ok(cli("%s", args));
    snprintf(args, sizeof args, "train gan.yaml --resume gdfail --steps 2 %s", big_d);
    expect_err(tu_run_cli_fsize(dir, 100000, args), 1, "gdfail/discriminator.safetensors");
    struct stat st;
    snprintf(from, sizeof from, "%s/gdfail/discriminator.safetensors", dir);
    assert_int_equal(stat(from, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    snprintf(to, sizeof to, "%s/gdfail/discriminator.prev.safetensors", dir);
    assert_int_equal(access(to, F_OK), -1);
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/discriminator.safetensors"), 1);
    snprintf(args, sizeof args, "train gan.yaml --resume gdfail --steps 2 %s", big_d);
    expect_ok(cli("%s", args));
    /* a write that fails after its rename, syncing the directory (fail_dir_fsync.so): X is then the new file and
     * X.prev the committed one, which goes back (the rollback took such an X.prev for a link and removed it, and
     * no later --resume found step 2's discriminator) */
    char shim[PATH_MAX], env[PATH_MAX + 64];
    assert_non_null(realpath(tu_build_path("tests/fixtures/fail_dir_fsync.so"), shim));
    expect_ok(cli("train gan.yaml --out gnew --steps 2 --backend ref --quiet")); /* below, a run over it */
    setenv("LD_PRELOAD", shim, 1);
    const char *asan = getenv("ASAN_OPTIONS"); /* a sanitizer build: the shim comes before its runtime */
    snprintf(env, sizeof env, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
    char *asan_was = asan ? strdup(asan) : NULL;
    setenv("ASAN_OPTIONS", env, 1);
    snprintf(args, sizeof args, "train gan.yaml --resume gdfail --steps 3 %s", big_d);
    expect_err(cli("%s", args), 1, "gdfail/discriminator.safetensors");
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/discriminator.safetensors"), 2);
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/generator.safetensors"), 2);
    /* the generator's file, which commits, renamed into place before its write failed: that checkpoint stands
     * (the rollback put the discriminator and average back a step, and no --resume found a checkpoint) */
    setenv("FAIL_DIR_FSYNC_AFTER", "generator.safetensors", 1);
    snprintf(args, sizeof args, "train gan.yaml --resume gdfail --steps 4 %s", big_d);
    expect_err(cli("%s", args), 1, "gdfail/generator.safetensors: written, but syncing its directory");
    /* the same in a new run over an earlier one: the new run's first checkpoint stands, so the earlier run's
     * files set aside go (they came back beside it, and a --resume mixed the earlier average with the new
     * models) */
    const int code_new = cli("train gan.yaml --out gnew --steps 3 --backend ref --quiet --set gan.d_steps=1");
    unsetenv("FAIL_DIR_FSYNC_AFTER");
    unsetenv("LD_PRELOAD");
    if (asan_was)
        setenv("ASAN_OPTIONS", asan_was, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(asan_was);
    assert_int_equal(code_new, 1);
    assert_int_equal(tu_checkpoint_step(dir, "gnew/generator.safetensors"), 0);
    assert_int_equal(tu_checkpoint_step(dir, "gnew/discriminator.safetensors"), 0);
    assert_int_equal(tu_checkpoint_step(dir, "gnew/generator_ema.safetensors"), 0);
    char *spec_now = tu_slurp(dir, "gnew/spec.yaml");
    assert_non_null(spec_now);
    assert_non_null(strstr(spec_now, "d_steps: 1"));
    free(spec_now);
    expect_ok(cli("train gan.yaml --resume gnew --steps 3 --backend ref --quiet --set gan.d_steps=1"));
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/discriminator.safetensors"), 4);
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/generator_ema.safetensors"), 4);
    assert_int_equal(tu_checkpoint_step(dir, "gdfail/generator.safetensors"), 4);
    snprintf(args, sizeof args, "train gan.yaml --resume gdfail --steps 5 %s", big_d);
    expect_ok(cli("%s", args));
}

/* --resume on another training set: a GAN's loader position counts the first set's epochs, so another number
 * of batches an epoch is refused naming both (it went on silently, the spec-differs warning aside) */
static void test_gan_resume_other_data(void **state)
{
    (void)state;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/small", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    tu_write_bars_idx(sub, 16, SIDE); /* 2 batches of 8 */
    expect_ok(cli("train gan.yaml --out gdata --steps 3 --backend ref --quiet"));
    expect_err(cli("train gan.yaml --resume gdata --steps 6 --backend ref --quiet --set data.train.images=%s/small/"
                   "images.idx --set data.train.labels=%s/small/labels.idx",
                   dir, dir),
               2, "trained on 40 examples, 5 batches an epoch, and its training data now gives 16 examples, 2 batches");
    assert_int_equal(checkpoint_step("gdata/generator.safetensors"), 3);
    expect_ok(cli("train gan.yaml --resume gdata --steps 6 --backend ref --quiet"));
}

static void test_sample_takes_the_runs_spec(void **state)
{
    (void)state;
    copy_file("gan.yaml", "gan_moved.yaml");
    expect_ok(cli("train gan_moved.yaml --out gset --steps 1 --backend ref --quiet "
                  "--set 'generator.model.input=[3]' --set gan.noise_dim=3"));
    remove_file("gan_moved.yaml"); /* the recorded path no longer opens */
    expect_ok(cli("sample --checkpoint gset --count 4 --out gset.png --backend ref"));
    expect_err(cli("sample --checkpoint gset --count 4 --out gset.jpg --backend ref"), 0,
               "gset.jpg: the grid is written as a PNG image whatever the name");
    expect_ok(cli("sample --checkpoint gset/generator_ema.safetensors --count 4 --out gset.png --backend ref"));
    copy_file("gan.yaml", "gan_moved.yaml"); /* it opens, but without the overrides: noise of 4 values */
    expect_ok(cli("sample --checkpoint gset --count 4 --out gset.png --backend ref"));
    /* --spec still comes first */
    expect_err(cli("sample --checkpoint gset --spec gan_moved.yaml --count 4 --out gset.png --backend ref"), 1,
               "loading the generator");
    /* without RUN/spec.yaml, the recorded path */
    copy_file("gset", "gset_nospec");
    remove_file("gset_nospec/spec.yaml");
    expect_err(cli("sample --checkpoint gset_nospec --count 4 --out gset.png --backend ref"), 1,
               "loading the generator");
    remove_file("gan_moved.yaml");
    expect_err(cli("sample --checkpoint gset_nospec --count 4 --out gset.png --backend ref"), 1,
               "/gan_moved.yaml'"); /* cannot open spec '<its real path>' */
}

static void test_gan_nan_saves_last_good_state(void **state)
{
    (void)state;
    int code = cli("train gan_diverge.yaml --out gnan --steps 40 --backend ref");
    expect_err(code, 1, "loss became");
    expect_err(code, 1, "the last good one");
    expect_err(code, 1, "--resume gnan");
    long long good = tu_last_good_step(dir);
    assert_true(good >= 1); /* the discriminator had moved: rebuilt by replaying from step 0 */
    assert_int_equal(checkpoint_step("gnan/generator.safetensors"), good);
    char *rec = records("gnan");
    assert_int_equal(tu_count(rec, "\"d_loss\""), (int)good);
    free(rec);
    /* the state an uninterrupted run has after that many steps, bit for bit */
    expect_ok(cli("train gan_diverge.yaml --out ggood --steps %lld --backend ref", good));
    expect_same_file("ggood/generator.safetensors", "gnan/generator.safetensors");
    expect_same_file("ggood/discriminator.safetensors", "gnan/discriminator.safetensors");
    expect_same_file("ggood/generator_ema.safetensors", "gnan/generator_ema.safetensors");
    /* the same with a checkpoint at every step (nothing to replay) */
    expect_err(cli("train gan_diverge.yaml --out gnan1 --steps 40 --checkpoint-every 1 --backend ref"), 1,
               "the last good one");
    expect_same_file("ggood/discriminator.safetensors", "gnan1/discriminator.safetensors");
    /* --detect-anomaly names the op instead, and saves the last good state too (it saved nothing) */
    code = cli("train gan_diverge.yaml --out ganom --steps 40 --detect-anomaly --backend ref");
    expect_err(code, 1, "anomaly detected");
    expect_err(code, 1, "the last good one");
    long long good_anomaly = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("ganom/generator.safetensors"), good_anomaly);
    expect_ok(cli("train gan_diverge.yaml --out ggood2 --steps %lld --backend ref", good_anomaly));
    expect_same_file("ggood2/generator.safetensors", "ganom/generator.safetensors");
    expect_same_file("ggood2/discriminator.safetensors", "ganom/discriminator.safetensors");
    expect_same_file("ggood2/generator_ema.safetensors", "ganom/generator_ema.safetensors");
}

/* A non-finite loss after a discriminator update: the last good state is
 * replayed from the checkpoint before it, and the replayed iterations take
 * the schedule's rates (they took the rate the checkpoint stored, so the
 * saved models were not the ones an uninterrupted run reaches). */
static void test_gan_nan_replay_follows_schedule(void **state)
{
    (void)state;
    int code = cli("train gan_grow.yaml --out grate --checkpoint-every 5 --backend ref --quiet");
    expect_err(code, 1, "the generator loss became"); /* after the iteration's discriminator updates */
    const long long good = tu_last_good_step(dir);
    assert_true(good % 5 != 0); /* some iterations replayed */
    assert_int_equal(checkpoint_step("grate/generator.safetensors"), good);
    expect_ok(cli("train gan_grow.yaml --out grate_ref --steps %lld --backend ref --quiet", good));
    expect_same_file("grate_ref/generator.safetensors", "grate/generator.safetensors");
    expect_same_file("grate_ref/discriminator.safetensors", "grate/discriminator.safetensors");
}

/* A non-finite loss before any update of its iteration (the discriminator's
 * first): its forward passes in training mode had already moved the
 * generator's batch-norm statistics (and num_batches_tracked), which were
 * saved as the last good state's. */
static void test_gan_nan_before_update_keeps_buffers(void **state)
{
    (void)state;
#define FIRST_D_STEP_FAILS "--set gan.d_steps=1 --set discriminator.optimizer.lr=0.01"
    int code = cli("train gan_grow.yaml --out gbuf --backend ref --quiet " FIRST_D_STEP_FAILS);
    expect_err(code, 1, "the discriminator loss became");
    const long long good = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("gbuf/generator.safetensors"), good);
    expect_ok(cli("train gan_grow.yaml --out gbuf_ref --steps %lld --backend ref --quiet " FIRST_D_STEP_FAILS, good));
    expect_same_file("gbuf_ref/generator.safetensors", "gbuf/generator.safetensors");
    expect_same_file("gbuf_ref/discriminator.safetensors", "gbuf/discriminator.safetensors");
#undef FIRST_D_STEP_FAILS
}

static void test_ae_resume_matches_uninterrupted(void **state)
{
    (void)state;
    expect_ok(cli("train ae.yaml --out afull --backend ref"));
    char *full = records("afull");
    assert_int_equal(tu_count(full, "\"batch_loss\""), 15);
    assert_int_equal(tu_count(full, "\"test_mse\""), 3);
    free(full);
    assert_int_equal(checkpoint_step("afull/checkpoint.safetensors"), 15);

    /* stopped after 7 (mid-epoch 2; checkpoints at 3, 5, 6 and 7), resumed to the end */
    expect_ok(cli("train ae.yaml --out apart --steps 7 --checkpoint-every 3 --backend ref"));
    assert_int_equal(checkpoint_step("apart/checkpoint.safetensors"), 7);
    expect_ok(cli("train ae.yaml --resume apart --checkpoint-every 3 --backend ref"));
    expect_same_records("afull", "apart");
    expect_same_file("afull/reconstructions.png", "apart/reconstructions.png");
    char *a = tu_slurp(dir, "afull/summary.json"), *b = tu_slurp(dir, "apart/summary.json");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(!strncmp(strstr(a, "\"test_mse\""), strstr(b, "\"test_mse\""), 40));
    assert_non_null(strstr(b, "\"pca_mse\""));
    free(a);
    free(b);

    /* resumed at an epoch end (5 steps an epoch) */
    expect_ok(cli("train ae.yaml --out aepoch --steps 10 --backend ref"));
    expect_ok(cli("train ae.yaml --resume aepoch --backend ref"));
    expect_same_records("afull", "aepoch");

    /* the checkpoint still loads for eval */
    expect_ok(cli("eval ae.yaml --checkpoint apart/checkpoint.safetensors --json --backend ref"));
    char *out = tu_slurp(dir, "out");
    assert_non_null(strstr(out, "\"test_mse\""));
    free(out);
}

static void test_ae_nan_saves_last_good_state(void **state)
{
    (void)state;
    int code = cli("train ae_diverge.yaml --out anan --backend ref");
    expect_err(code, 1, "the loss became");
    expect_err(code, 1, "the last good one");
    long long good = tu_last_good_step(dir);
    assert_int_equal(checkpoint_step("anan/checkpoint.safetensors"), good);
    char *rec = records("anan");
    assert_int_equal(tu_count(rec, "\"batch_loss\""), (int)good);
    free(rec);
    /* with batch norm, its running statistics are the last good step's too (the failing step's forward pass had
     * moved them): the tensors of an uninterrupted run of that many steps */
    tu_write_text_inserted(dir, "ae_diverge.yaml", "ae_diverge_bn.yaml", "    - {type: dropout",
                           "    - {type: batch_norm1d, name: bn}\n");
    code = cli("train ae_diverge_bn.yaml --out abnan --backend ref");
    expect_err(code, 1, "the last good one");
    good = tu_last_good_step(dir);
    expect_ok(cli("train ae_diverge_bn.yaml --out abgood --steps %lld --backend ref --quiet", good));
    assert_true(tu_same_model_tensors(dir, "abnan/checkpoint.safetensors", "abgood/checkpoint.safetensors"));
}

/* A checkpoint written by the API, without train.state. */
static void write_plain_checkpoint(const char *spec, const char *name, const char *file)
{
    strata_runtime *rt = tu_runtime();
    strata_spec *s;
    strata_model *m;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, spec);
    ST_OK(strata_spec_load(rt, path, &s));
    if (name)
        ST_OK(strata_spec_build_named(s, name, tu_ref(rt), &m));
    else
        ST_OK(strata_spec_build_model(s, tu_ref(rt), &m));
    snprintf(path, sizeof path, "%s/%s", dir, file);
    ST_OK(strata_checkpoint_save(path, m, NULL, NULL));
    strata_model_destroy(m);
    strata_spec_destroy(s);
    strata_runtime_destroy(rt);
}

/* The averaged generator (gan.ema) samples in eval mode with the
 * generator's batch-norm statistics (it kept the initial 0 and 1, so its
 * samples and FID were those of another model). */
static void test_ema_takes_batch_norm_statistics(void **state)
{
    (void)state;
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "seed: 2\ntask: gan\n"
                     "data: {format: idx, train: {images: images.idx, labels: labels.idx}, scale: 127.5, mean: 1}\n"
                     "gan: {noise_dim: 4, sample_every: 0, ema: 0.5}\n"
                     "generator:\n  model:\n    input: [4]\n    layers:\n"
                     "      - {type: linear, out_features: 16}\n      - {type: batch_norm1d}\n      - {type: relu}\n"
                     "      - {type: linear, out_features: 64}\n      - {type: tanh}\n"
                     "      - {type: unflatten, shape: [1, %d, %d]}\n"
                     "  optimizer: {type: adam, lr: 0.01}\n"
                     "discriminator:\n  model:\n    input: [1, %d, %d]\n    layers:\n"
                     "      - {type: flatten}\n      - {type: linear, out_features: 1}\n"
                     "  optimizer: {type: adam, lr: 0.01}\n"
                     "train: {steps: 6, batch_size: 8, log_every: 0}\n",
                     SIDE, SIDE, SIDE, SIDE);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(dir, "gan-bn.yaml", text, (size_t)n);
    expect_ok(cli("train gan-bn.yaml --out gbn --backend ref --quiet"));
    char *stats[2];
    const char *files[2] = {"gbn/generator.safetensors", "gbn/generator_ema.safetensors"};
    for (int k = 0; k < 2; k++) {
        expect_ok(cli("inspect %s --tensors '*.running_*' --stats", files[k]));
        char *raw = tu_slurp(dir, "out");
        assert_non_null(raw);
        char *out = tu_squeeze(raw);
        free(raw);
        char *rows = strstr(out, "\n1.running_mean F32");
        if (!rows || !strstr(rows, "\n1.running_var F32"))
            fail_msg("%s: no batch-norm statistics in: %s", files[k], out);
        stats[k] = strndup(rows, (size_t)(strstr(rows, "\n1.running_var F32") - rows) + 60);
        free(out);
    }
    if (strcmp(stats[0], stats[1]))
        fail_msg("the averaged generator's batch-norm statistics differ from the generator's:\n%s\n---\n%s", stats[0],
                 stats[1]);
    assert_null(strstr(stats[1], " 0 0 0 0")); /* not the initial zeros */
    free(stats[0]);
    free(stats[1]);
}

static void test_bad_usage(void **state)
{
    (void)state;
    static const char *const specs[] = {"gan.yaml", "ae.yaml"};
    for (int k = 0; k < 2; k++) {
        const char *s = specs[k];
        expect_err(cli("train %s --out x --checkpoint-every 0 --backend ref", s), 2, "--checkpoint-every");
        expect_err(cli("train %s --out x --checkpoint-every 3x --backend ref", s), 2, "--checkpoint-every");
        expect_err(cli("train %s --resume a --out b --backend ref", s), 2, "--resume a");
        expect_err(cli("train %s --resume nowhere --backend ref", s), 1, "nowhere");
        assert_false(exists("nowhere"));
        /* --quiet, as every trainer takes it: only the final report */
        expect_ok(cli("train %s --out quiet%d --steps 2 --quiet --backend ref", s, k));
        char *out = tu_slurp(dir, "out");
        assert_non_null(out);
        assert_null(strstr(out, "strata: training"));
        assert_int_equal(tu_count(out, "\n"), 1);
        free(out);
        /* --seed on --resume: the run keeps its own (the spec's, 2 and 3), and says so */
        expect_ok(cli("train %s --resume quiet%d --steps 3 --seed 9 --backend ref", s, k));
        char *err = tu_slurp(dir, "err"), note[128];
        assert_non_null(err);
        snprintf(note, sizeof note, "strata: note: the run has seed %d (from the checkpoint), not 9\n", 2 + k);
        if (!strstr(err, note))
            fail_msg("train %s --resume --seed 9 printed no note of the run's seed:\n%s", s, err);
        free(err);
    }
    /* images the discriminator cannot take, or batch norm on batches of one: refused before the run directory
     * is made (they failed at the first step, leaving a run to resume) */
    expect_err(cli("train gan.yaml --out dmis --backend ref --set generator.model.layers.0.out_features=16 "
                   "--set 'generator.model.layers.2.shape=[1, 4, 4]' --set 'discriminator.model.input=[1, 4, 4]'"),
               1, "the discriminator's input holds 16 values per image, the training images 64");
    assert_false(exists("dmis"));
    expect_err(cli("train gan_grow.yaml --out bn1 --backend ref --batch-size 1"), 2,
               "batch norm needs 2 images in training");
    assert_false(exists("bn1"));
    /* a batch larger than the training set: its error once, not followed by an empty "E_INVALID: " one */
    expect_err(cli("train ae.yaml --out abig --backend ref --batch-size 9223372036854775807"), 1,
               "train.batch_size 9223372036854775807 is more than the");
    char *err = tu_slurp(dir, "err");
    assert_non_null(err);
    if (tu_count(err, "strata: error:") != 1 || strstr(err, "E_INVALID: \n"))
        fail_msg("train ae.yaml --batch-size 9223372036854775807 printed:\n%s", err);
    free(err);
    /* fid's --classifier given a GAN's run or file (it read a directory as "not a regular file") */
    expect_err(cli("fid --classifier quiet0 --generator quiet0 --backend ref"), 1, "--classifier quiet0 is a GAN's");
    expect_err(cli("fid --classifier quiet0/discriminator.safetensors --generator quiet0 --backend ref"), 1,
               "is a GAN's; it takes an image classifier's checkpoint");
    /* a new run over it without gan.ema: the earlier average and grids go (its report showed them as its own) */
    assert_true(exists("quiet0/generator_ema.safetensors"));
    expect_ok(cli("train gan.yaml --out quiet0 --steps 2 --quiet --backend ref --set gan.ema=0 "
                  "--set gan.sample_every=0"));
    assert_false(exists("quiet0/generator_ema.safetensors"));
    assert_false(exists("quiet0/generator_ema.safetensors.replaced"));
    assert_false(exists("quiet0/samples.replaced"));
    assert_true(exists("quiet0/samples"));
    /* a run killed before its first checkpoint left samples.replaced (the earlier run's) and its own samples/:
     * the next run's grids do not join the killed run's */
    char sp[1024];
    snprintf(sp, sizeof sp, "%s/quiet0/samples.replaced", dir);
    assert_int_equal(mkdir(sp, 0777), 0);
    tu_write_text(dir, "quiet0/samples.replaced/old.png", "x");
    tu_write_text(dir, "quiet0/samples/killed.png", "x");
    expect_ok(cli("train gan.yaml --out quiet0 --steps 2 --quiet --backend ref --set gan.ema=0 "
                  "--set gan.sample_every=0"));
    assert_false(exists("quiet0/samples/killed.png"));
    assert_false(exists("quiet0/samples.replaced"));
    char path[1024];
    snprintf(path, sizeof path, "%s/plain", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    expect_err(cli("train gan.yaml --resume plain --backend ref"), 1, "generator.safetensors");
    expect_err(cli("train ae.yaml --resume plain --backend ref"), 1, "checkpoint.safetensors");
    write_plain_checkpoint("gan.yaml", "generator", "plain/generator.safetensors");
    write_plain_checkpoint("ae.yaml", NULL, "plain/checkpoint.safetensors");
    expect_err(cli("train gan.yaml --resume plain --backend ref"), 1,
               "plain/generator.safetensors has no training state");
    expect_err(cli("train ae.yaml --resume plain --backend ref"), 1,
               "plain/checkpoint.safetensors has no training state");
    /* a corrupt checkpoint is reported, not loaded */
    tu_write_file(dir, "plain/checkpoint.safetensors", "\x10\0\0\0\0\0\0\0{\"a\":", 13);
    expect_err(cli("train ae.yaml --resume plain --backend ref"), 1, "checkpoint.safetensors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gan_resume_matches_uninterrupted),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_schedule_and_clip),
        cmocka_unit_test(test_gan_kill_between_files),
        cmocka_unit_test(test_sample_takes_the_runs_spec),
        cmocka_unit_test(test_gan_resume_other_data),
        cmocka_unit_test(test_gan_nan_saves_last_good_state),
        cmocka_unit_test(test_gan_nan_replay_follows_schedule),
        cmocka_unit_test(test_gan_nan_before_update_keeps_buffers),
        cmocka_unit_test(test_ae_resume_matches_uninterrupted),
        cmocka_unit_test(test_ae_nan_saves_last_good_state),
        cmocka_unit_test(test_ema_takes_batch_norm_statistics),
        cmocka_unit_test(test_grid_error_keeps_checkpoint),
        cmocka_unit_test(test_png_write_error_says_why),
        cmocka_unit_test(test_metrics_write_error),
        cmocka_unit_test(test_failed_save_keeps_checkpoint),
        cmocka_unit_test(test_bad_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
