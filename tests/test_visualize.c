/* test_visualize.c - `strata visualize` end to end: a tiny ConvNet on a
 * synthetic 8x8 IDX set is trained for one epoch by `strata train` (ref
 * backend), then visualized; every PNG must exist, carry the PNG signature,
 * an 8-bit IHDR of the size docs/user-guide.md gives, and IDAT data that
 * inflates to exactly its rows. 3- and 2-channel inputs give RGB filter
 * tiles and rows of per-channel tiles. Bad inputs (image index, checkpoint,
 * spec without conv layers, output directory, usage) give exit status 1 or
 * 2 and a message naming the value, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "testutil.h"

#define N_IMAGES 16
#define SIDE 8

static char dir[256];           /* the test's temporary directory */
static char strata_bin[4200];   /* build/bin/strata */
static char spec[512], mlp_spec[512], wide_spec[512], ckpt[512];

/* ---- fixtures ---------------------------------------------------------- */

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Plain IDX files <prefix>images.idx (N, [C,] 8, 8) and <prefix>labels.idx:
 * class 0 a vertical bar, class 1 a horizontal bar, at a position that
 * moves with the index (channel c shifted by c); labels alternate. */
static void write_idx(const char *prefix, int channels)
{
    const int plane = SIDE * SIDE, hdr = channels > 1 ? 20 : 16;
    uint8_t img[20 + N_IMAGES * 3 * SIDE * SIDE] = {0}, lbl[8 + N_IMAGES];
    size_t img_len = (size_t)hdr + (size_t)(N_IMAGES * channels * plane);
    tu_put_be32(img, channels > 1 ? 0x0804 : 0x0803), tu_put_be32(img + 4, N_IMAGES);
    if (channels > 1)
        tu_put_be32(img + 8, (uint32_t)channels);
    tu_put_be32(img + hdr - 8, SIDE), tu_put_be32(img + hdr - 4, SIDE);
    tu_put_be32(lbl, 0x0801), tu_put_be32(lbl + 4, N_IMAGES);
    for (int i = 0; i < N_IMAGES; i++) {
        int cls = i & 1;
        for (int c = 0; c < channels; c++) {
            uint8_t *p = img + hdr + (i * channels + c) * plane;
            int pos = 1 + (i / 2 + c) % 6;
            for (int k = 0; k < SIDE; k++)
                p[cls ? pos * SIDE + k : k * SIDE + pos] = 200;
            p[(i * 5 + c) % plane] += 40; /* a little noise */
        }
        lbl[8 + i] = (uint8_t)cls;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/%simages.idx", dir, prefix);
    tu_write_file(NULL, path, img, img_len);
    snprintf(path, sizeof path, "%s/%slabels.idx", dir, prefix);
    tu_write_file(NULL, path, lbl, sizeof lbl);
}

/* A spec over <prefix>images.idx with input (channels, 8, 8) and @p layers. */
static void write_spec(const char *path, const char *prefix, int channels, const char *layers)
{
    char text[4096];
    int n = snprintf(text, sizeof text,
                     "name: vis-tiny\nseed: 1\n"
                     "data:\n  format: idx\n"
                     "  train: {images: %s/%simages.idx, labels: %s/%slabels.idx}\n"
                     "  test: {images: %s/%simages.idx, labels: %s/%slabels.idx}\n"
                     "  scale: 255\n  mean: 0.1\n  std: 0.3\n"
                     "model:\n  input: [%d, %d, %d]\n  layers:\n%s"
                     "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.1}\n"
                     "train: {epochs: 1, batch_size: 8}\n",
                     dir, prefix, dir, prefix, dir, prefix, dir, prefix, channels, SIDE, SIDE, layers);
    assert_true(n > 0 && n < (int)sizeof text);
    tu_write_file(NULL, path, text, (size_t)n);
}

/* Runs `strata ARGS` with stdout and stderr captured in dir/out, dir/err;
 * returns the exit status, failing the test on a signal (a crash). */
static int run_cli(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/out' 2>'%s/err'", strata_bin, args, dir, dir);
    int st = system(cmd);
    assert_true(st != -1);
    if (!WIFEXITED(st))
        fail_msg("strata %s: killed by a signal", args);
    int code = WEXITSTATUS(st);
    if (code >= 126) /* the shell's "cannot run" or 128 + signal */
        fail_msg("strata %s: exit status %d (crash or missing binary)", args, code);
    return code;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static void assert_captured(const char *which, const char *needle)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, which);
    char *s = slurp(path, NULL);
    assert_non_null(s);
    if (!strstr(s, needle))
        fail_msg("expected std%s to contain \"%s\", got \"%s\"", which, needle, s);
    free(s);
}

static int group_setup(void **state)
{
    if (tu_make_temp_dir(dir, sizeof dir, "vis"))
        return -1;
    snprintf(strata_bin, sizeof strata_bin, "%s", tu_build_path("bin/strata"));
    snprintf(spec, sizeof spec, "%s/conv.yaml", dir);
    snprintf(mlp_spec, sizeof mlp_spec, "%s/mlp.yaml", dir);
    snprintf(wide_spec, sizeof wide_spec, "%s/wide.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", dir);
    return 0;
}

static int group_teardown(void **state)
{
    return tu_remove_dir(dir);
}

/* ---- PNG checks -------------------------------------------------------- */

/* Checks the signature, an 8-bit IHDR of @p w x @p h with @p channels (gray
 * or RGB), and that the IDAT stream inflates to h rows of 1 + w * channels. */
static void check_png(const char *sub, const char *name, uint32_t w, uint32_t h, int channels)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    size_t n;
    uint8_t *b = (uint8_t *)slurp(path, &n);
    if (!b)
        fail_msg("%s was not written", path);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(n > 33);
    assert_memory_equal(b, sig, 8);
    assert_int_equal(get_be32(b + 8), 13);
    assert_memory_equal(b + 12, "IHDR", 4);
    if (get_be32(b + 16) != w || get_be32(b + 20) != h)
        fail_msg("%s is %u x %u, expected %u x %u", name, get_be32(b + 16), get_be32(b + 20), w, h);
    assert_int_equal(b[24], 8);                      /* bit depth */
    assert_int_equal(b[25], channels == 1 ? 0 : 2);  /* colour type: gray, RGB */
    assert_int_equal(b[28], 0);                      /* not interlaced */
    /* gather the IDAT chunks and inflate them */
    size_t zlen = 0, raw_len = (size_t)h * (1 + (size_t)w * (size_t)channels);
    uint8_t *z = malloc(n), *raw = malloc(raw_len + 1);
    assert_non_null(z);
    assert_non_null(raw);
    int saw_iend = 0;
    for (size_t p = 8; p + 12 <= n;) {
        uint32_t len = get_be32(b + p);
        assert_true(p + 12 + len <= n);
        if (!memcmp(b + p + 4, "IDAT", 4)) {
            memcpy(z + zlen, b + p + 8, len);
            zlen += len;
        }
        saw_iend |= !memcmp(b + p + 4, "IEND", 4);
        p += 12 + len;
    }
    assert_true(saw_iend);
    uLongf got = (uLongf)raw_len + 1;
    assert_int_equal(uncompress(raw, &got, z, (uLong)zlen), Z_OK);
    assert_int_equal(got, raw_len);
    free(raw);
    free(z);
    free(b);
}

/* ---- tests ------------------------------------------------------------- */

static void test_train_and_visualize(void **state)
{
    write_idx("", 1);
    write_spec(spec, "", 1, "    - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n" /* 0: (4, 8, 8) */
                     "    - {type: relu}\n"
                     "    - {type: max_pool2d, kernel_size: 2}\n"                         /* 2: (4, 4, 4) */
                     "    - {type: conv2d, out_channels: 5, kernel_size: 3}\n"             /* 3: (5, 2, 2) */
                     "    - {type: flatten}\n"
                     "    - {type: linear, out_features: 2}\n");
    char args[4096];
    snprintf(args, sizeof args, "train '%s' --out '%s/run' --backend ref --quiet", spec, dir);
    if (run_cli(args) != 0)
        assert_captured("err", "(train succeeded)");
    struct stat st;
    assert_int_equal(stat(ckpt, &st), 0);

    /* --out is created, parents included */
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --input 3 --out '%s/vis' --backend ref", ckpt,
             spec, dir);
    if (run_cli(args) != 0)
        assert_captured("err", "(visualize succeeded)");
    assert_captured("out", "/vis/input.png");
    assert_captured("out", "predicted class");
    assert_captured("out", "true label 1");
    /* input: 8x8 at x28 (224 / 8) */
    check_png("vis", "input.png", 224, 224, 1);
    /* 4 filters 1x3x3: 2x2 grid of 42-px tiles (x14 = ceil(40 / 3)), 2-px gaps */
    check_png("vis", "filters_0.png", 2 * 42 + 2, 2 * 42 + 2, 1);
    /* conv 0: 4 maps 8x8 at x12 (96 / 8) -> 2x2 grid of 96-px tiles */
    check_png("vis", "features_0.png", 2 * 96 + 2, 2 * 96 + 2, 1);
    /* max_pool 2: 4 maps 4x4 at x24 */
    check_png("vis", "features_2.png", 2 * 96 + 2, 2 * 96 + 2, 1);
    /* conv 3: 5 maps 2x2 at x48 -> 3 columns, 2 rows */
    check_png("vis", "features_3.png", 3 * 96 + 2 * 2, 2 * 96 + 2, 1);
    /* nothing else: no feature maps of relu/flatten/linear, no temporary files left */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/vis' | wc -l)\" -eq 5", dir);
    assert_int_equal(system(cmd), 0);

    /* a second run overwrites in place */
    snprintf(args, sizeof args, "visualize '%s' --checkpoint '%s' --input 0 --out '%s/vis' --backend ref", spec, ckpt,
             dir);
    assert_int_equal(run_cli(args), 0);
    assert_captured("out", "true label 0");
    check_png("vis", "filters_0.png", 2 * 42 + 2, 2 * 42 + 2, 1);
}

/* Runs after test_train_and_visualize (the checkpoint and data exist). */
static void test_errors(void **state)
{
    char args[4096], path[600];
    /* index out of range */
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --input %d --out '%s/e1' --backend ref", ckpt,
             spec, N_IMAGES, dir);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "--input 16 is out of range");
    assert_captured("err", "images.idx has 16 images (0 to 15)");
    /* not an index */
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --input -1 --out '%s/e1'", ckpt, spec, dir);
    assert_int_equal(run_cli(args), 2);
    assert_captured("err", "--input must be a whole number >= 0");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --input 2x --out '%s/e1'", ckpt, spec, dir);
    assert_int_equal(run_cli(args), 2);
    assert_captured("err", "got '2x'");
    /* missing checkpoint */
    snprintf(args, sizeof args, "visualize --checkpoint '%s/nope.safetensors' --spec '%s' --out '%s/e1'", dir, spec,
             dir);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "checkpoint");
    assert_captured("err", "nope.safetensors: No such file or directory");
    /* a checkpoint of another architecture */
    write_spec(wide_spec, "", 1, "    - {type: conv2d, out_channels: 6, kernel_size: 3, padding: 1}\n"
                          "    - {type: flatten}\n"
                          "    - {type: linear, out_features: 2}\n");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out '%s/e1' --backend ref", ckpt, wide_spec,
             dir);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "loading the checkpoint");
    assert_captured("err", "checkpoint.safetensors");
    /* a spec without conv layers */
    write_spec(mlp_spec, "", 1, "    - {type: flatten}\n"
                         "    - {type: linear, out_features: 2}\n");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out '%s/e1' --backend ref", ckpt, mlp_spec,
             dir);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "mlp.yaml: the model has no conv2d layer");
    /* a missing spec */
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s/none.yaml' --out '%s/e1'", ckpt, dir, dir);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "none.yaml");
    /* an output directory that cannot be made: under a file, and a file itself */
    snprintf(path, sizeof path, "%s/afile", dir);
    tu_write_file(NULL, path, "x", 1);
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out '%s/sub' --backend ref", ckpt, spec,
             path);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "cannot create directory");
    assert_captured("err", "afile/sub");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out '%s' --backend ref", ckpt, spec, path);
    assert_int_equal(run_cli(args), 1);
    assert_captured("err", "a file of that name exists");
    /* a directory that exists but takes no files */
    struct stat st;
    if (stat("/proc/self", &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out /proc/self --backend ref", ckpt,
                 spec);
        assert_int_equal(run_cli(args), 1);
        assert_captured("err", "cannot write /proc/self/input.png");
    }
    /* usage */
    snprintf(args, sizeof args, "visualize --spec '%s' --out '%s/e1'", spec, dir);
    assert_int_equal(run_cli(args), 2);
    assert_captured("err", "needs --checkpoint FILE");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out '%s/e1' --bogus", ckpt, spec, dir);
    assert_int_equal(run_cli(args), 2);
    assert_captured("err", "unknown option '--bogus'");
    snprintf(args, sizeof args, "visualize --checkpoint '%s' --spec '%s' --out", ckpt, spec);
    assert_int_equal(run_cli(args), 2);
    assert_captured("err", "--out needs a value");
    /* nothing was written by the failures */
    snprintf(path, sizeof path, "%s/e1", dir);
    assert_int_not_equal(stat(path, &st), 0);
}

/* First conv layers over RGB and 2-channel inputs: RGB filter tiles, and a
 * row of gray tiles per filter (one per input channel). */
static void test_channels(void **state)
{
    char args[4096], sp[600];
    for (int channels = 2; channels <= 3; channels++) {
        char prefix[16], sub[32];
        snprintf(prefix, sizeof prefix, "c%d-", channels);
        snprintf(sub, sizeof sub, "vis%d", channels);
        write_idx(prefix, channels);
        snprintf(sp, sizeof sp, "%s/c%d.yaml", dir, channels);
        write_spec(sp, prefix, channels, "    - {type: conv2d, out_channels: 5, kernel_size: 3}\n" /* (5, 6, 6) */
                                         "    - {type: flatten}\n"
                                         "    - {type: linear, out_features: 2}\n");
        snprintf(args, sizeof args, "train '%s' --out '%s/run%d' --backend ref --quiet", sp, dir, channels);
        if (run_cli(args) != 0)
            assert_captured("err", "(train succeeded)");
        snprintf(args, sizeof args,
                 "visualize --checkpoint '%s/run%d/checkpoint.safetensors' --spec '%s' --input 1 --out '%s/%s' "
                 "--backend ref",
                 dir, channels, sp, dir, sub);
        if (run_cli(args) != 0)
            assert_captured("err", "(visualize succeeded)");
        if (channels == 3) {
            check_png(sub, "input.png", 224, 224, 3);
            /* 5 RGB filters: 3 columns, 2 rows of 42-px tiles */
            check_png(sub, "filters_0.png", 3 * 42 + 2 * 2, 2 * 42 + 2, 3);
        } else {
            /* a gray tile per channel, side by side */
            check_png(sub, "input.png", 2 * 224 + 2, 224, 1);
            /* 5 filters x 2 channels: 5 rows of 2 tiles */
            check_png(sub, "filters_0.png", 2 * 42 + 2, 5 * 42 + 4 * 2, 1);
        }
        /* 5 maps 6x6 at x16 (96 / 6): 3 columns, 2 rows */
        check_png(sub, "features_0.png", 3 * 96 + 2 * 2, 2 * 96 + 2, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_and_visualize),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_channels),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
