/* test_pack_images.c - `strata pack-images`: folders of PNG images, one per
 * class, packed into IDX files, then trained on and asked about.
 *
 * The packed files must hold every image, in class order (the folders'
 * names in byte order) and file order (byte order), with exactly the
 * pixels written, gray or planar RGB; the printed spec lines must load as
 * a spec that trains, and `strata predict` must name the classes from
 * them. Folders that cannot be packed (images of two sizes, a file that is
 * not a PNG, a test class the training folder lacks, no classes, no
 * images, an output that cannot be written) are errors naming the file. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "testutil.h"

#define W 6
#define H 5
#define PER_CLASS 4

static char dir[256];
/* the classes in byte order: their labels */
static const char *const classes[] = {"cat", "dog", "o\"k", "sea lion"};
#define N_CLASSES 4

static void mkdirs(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

/* The value of pixel (c, y, x) of image i of class k. */
static uint8_t pixel(int k, int i, int c, int y, int x)
{
    return (uint8_t)((k * 61 + i * 17 + c * 90 + y * W + x) % 256);
}

static void write_png(const char *rel, int k, int i, int channels, int w)
{
    uint8_t buf[3 * W * H + 64];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++)
                buf[(y * w + x) * channels + c] = pixel(k, i, c, y, x);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = H;
    img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (!png_image_write_to_file(&img, path, 0, buf, 0, NULL))
        fail_msg("writing %s: %s", path, img.message);
}

/* ROOT/CLASS/IMG.png for the classes from @p first, PER_CLASS images each
 * (named 0, 1, 10, 2: byte order is not number order), @p channels each. */
static void write_tree(const char *root, int first, int channels)
{
    static const char *const files[PER_CLASS] = {"0", "1", "10", "2"};
    for (int k = first; k < N_CLASSES; k++)
        for (int i = 0; i < PER_CLASS; i++) {
            char rel[256];
            snprintf(rel, sizeof rel, "%s/%s", root, classes[k]);
            mkdirs(rel);
            snprintf(rel, sizeof rel, "%s/%s/%s.png", root, classes[k], files[i]);
            write_png(rel, k, i, channels, W);
        }
}

static int setup(void **state)
{
    (void)state;
    return tu_make_temp_dir(dir, sizeof dir, "pack-images");
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_dir(dir);
}

/* Loads PREFIX-SPLIT-... and checks it holds the classes from @p first. */
static void check_split(const char *prefix, const char *split, int first, int channels)
{
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/%s-%s-images-idx%d-ubyte.gz", dir, prefix, split, channels == 3 ? 4 : 3);
    snprintf(labels, sizeof labels, "%s/%s-%s-labels-idx1-ubyte.gz", dir, prefix, split);
    strata_dataset *d = NULL;
    ST_OK(strata_dataset_load_idx(images, labels, 1.0, &d));
    assert_int_equal(strata_dataset_size(d), (N_CLASSES - first) * PER_CLASS);
    int nd;
    const int64_t *shape = strata_dataset_shape(d, &nd);
    assert_int_equal(nd, channels == 3 ? 3 : 2);
    assert_int_equal(shape[nd - 2], H);
    assert_int_equal(shape[nd - 1], W);
    for (int k = first; k < N_CLASSES; k++)
        for (int i = 0; i < PER_CLASS; i++) {
            int64_t e = (k - first) * PER_CLASS + i;
            assert_int_equal(strata_dataset_y(d, e), k);
            const float *x = strata_dataset_x(d, e);
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < H; y++)
                    for (int q = 0; q < W; q++)
                        if (x[(c * H + y) * W + q] != pixel(k, i, c, y, q))
                            fail_msg("%s image %lld (class %d, file %d) pixel (%d, %d, %d): %g, written %d", split,
                                     (long long)e, k, i, c, y, q, x[(c * H + y) * W + q], pixel(k, i, c, y, q));
        }
    strata_dataset_destroy(d);
}

static void test_pack_gray(void **state)
{
    (void)state;
    write_tree("g/train", 0, 1);
    write_tree("g/test", 2, 1); /* the test folder may lack classes */
    tu_write_text(dir, "g/train/cat/notes.txt", "not an image\n");
    tu_write_text(dir, "g/train/cat/.hidden.png", "left out\n");
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images g/train g/test --out pets"));
    char *out = tu_slurp(dir, "out");
    static const char *want[] = {
        "packed 16 training images (4 classes, 6 x 5 gray) into pets-train-images-idx3-ubyte.gz",
        "packed 8 test images into pets-test-images-idx3-ubyte.gz, pets-test-labels-idx1-ubyte.gz",
        "left out 2 files that are not .png or are hidden",
        "classes: [\"cat\", \"dog\", \"o\\\"k\", \"sea lion\"]",
        "  input: [1, 5, 6]\n",
        "  train: {images: \"/", /* absolute: the spec may live anywhere */
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        if (!strstr(out, want[k]))
            fail_msg("expected '%s' in:\n%s", want[k], out);
    check_split("pets", "train", 0, 1);
    check_split("pets", "test", 2, 1);

    /* the printed lines make a spec that trains, and predict names the classes */
    char spec[4096];
    const char *lines = strstr(out, "data:\n");
    assert_non_null(lines);
    snprintf(spec, sizeof spec,
             "name: pets\nseed: 1\n%s  layers:\n    - {type: flatten}\n    - {type: linear, out_features: 4}\n"
             "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.01}\ntrain: {epochs: 2, batch_size: 4}\n",
             lines);
    free(out);
    tu_write_text(dir, "pets.yaml", spec);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train pets.yaml --out run --backend ref --quiet"));
    tu_expect_cli_ok(dir, tu_run_cli(dir, "predict pets.yaml --checkpoint run/checkpoint.safetensors --top 4 "
                                          "g/test/sea\\ lion/0.png"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "g/test/sea lion/0.png: ") || !strstr(out, " sea lion (0.") || !strstr(out, " o\"k (0."))
        fail_msg("unexpected: %s", out);
    free(out);
}

/* Under a directory whose name is not UTF-8 (a spec cannot hold it) the
 * paths print as given; the printer looped forever on the first such byte. */
/* The packed files take the umask, and a pack written again keeps a file's mode (they were made 0644). */
static void test_pack_modes(void **state)
{
    (void)state;
    write_tree("m/train", 0, 1);
    const mode_t old = umask(077);
    int code = tu_run_cli(dir, "pack-images m/train --out private");
    umask(old);
    tu_expect_cli_ok(dir, code);
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/private-train-images-idx3-ubyte.gz", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(chmod(path, 0640), 0);
    umask(022);
    code = tu_run_cli(dir, "pack-images m/train --out private");
    umask(old);
    tu_expect_cli_ok(dir, code);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_pack_non_utf8_cwd(void **state)
{
    (void)state;
    write_tree("b\xff/train", 0, 1);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/b\xff", dir);
    tu_expect_cli_ok(sub, tu_run_cli(sub, "pack-images train --out p"));
    char *out = tu_slurp(sub, "out");
    if (!strstr(out, "  train: {images: \"p-train-images-idx3-ubyte.gz\""))
        fail_msg("expected the path as given in:\n%s", out);
    free(out);
}

static void test_pack_rgb(void **state)
{
    (void)state;
    write_tree("c/train", 0, 3);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images c/train --out new/dir/colour --rgb")); /* folders made */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images c/train --out colour --rgb"));
    char *out = tu_slurp(dir, "out");
    if (!strstr(out, "packed 16 training images (4 classes, 6 x 5 RGB)") || !strstr(out, "  input: [3, 5, 6]\n") ||
        strstr(out, "test:") || !strstr(out, "  mean: [") || !strstr(out, "  std: ["))
        fail_msg("unexpected: %s", out);
    check_split("colour", "train", 0, 3);
    /* without a test folder the spec has no data.test: training reports on the validation set */
    char spec[4096];
    snprintf(spec, sizeof spec,
             "seed: 1\n%s  layers:\n    - {type: flatten}\n    - {type: linear, out_features: 4}\n"
             "loss: cross_entropy\noptimizer: {type: sgd, lr: 0.01}\ntrain: {epochs: 1, batch_size: 4}\n",
             strstr(out, "data:\n"));
    free(out);
    tu_write_text(dir, "colour.yaml", spec);
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train colour.yaml --out crun --backend ref --set data.val_fraction=0.25"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "validation accuracy: ") || !strstr(out, "(validation loss ") ||
        !strstr(out, ", 4 held-out examples)") || !strstr(out, "trained 1 epoch in ") ||
        !strstr(out, "(no data.test to report on)") || strstr(out, "test accuracy"))
        fail_msg("unexpected: %s", out);
    free(out);
    out = tu_slurp(dir, "crun/summary.json");
    if (strstr(out, "test_accuracy") || !strstr(out, "\"val_accuracy\""))
        fail_msg("summary.json: %s", out);
    free(out);
    tu_expect_cli_err(dir, tu_run_cli(dir, "eval colour.yaml --checkpoint crun"), 1,
                      "colour.yaml: the spec has no data.test");
    /* the same 90 values in another layout (height and width swapped) trained on scrambled images, silently */
    tu_expect_cli_err(dir, tu_run_cli(dir, "train colour.yaml --out swapped --backend ref --set 'model.input=[3, 6, 5]'"),
                      1, "colour.yaml: the model input is [3, 6, 5] per example, the training set's examples are (3, 5, "
                         "6): the same 90 values in another layout");
    /* a flat input takes any layout; leading 1s aside, the layout is the data's */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train colour.yaml --out flat --backend ref --set 'model.input=[90]' "
                                          "--set data.val_fraction=0.25 --steps 1"));
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train colour.yaml --out lead --backend ref --set 'model.input=[1, 3, 5, 6]' "
                                          "--set data.val_fraction=0.25 --steps 1"));
    /* a reshape that keeps the order (one row of values at a time) is the user's to make */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "train colour.yaml --out rows --backend ref --set 'model.input=[15, 6]' "
                                          "--set data.val_fraction=0.25 --steps 1"));
}

/* Images are read as PIL reads them: colour to gray by ITU-R 601-2 luma,
 * 16-bit samples to their high byte and no gamma applied (a 16-bit image
 * from libpng's linear format carries gAMA 1.0), alpha dropped. */
static void test_pack_conversions(void **state)
{
    (void)state;
    mkdirs("v/train/a");
    mkdirs("v/train/b");
    mkdirs("v/train/c");
    uint8_t rgb[W * H * 3], rgba[W * H * 4];
    uint16_t deep[W * H];
    for (int p = 0; p < W * H; p++) {
        rgb[3 * p] = (uint8_t)(p * 40), rgb[3 * p + 1] = (uint8_t)(255 - p * 7), rgb[3 * p + 2] = (uint8_t)(p * 13);
        memcpy(rgba + 4 * p, rgb + 3 * p, 3);
        rgba[4 * p + 3] = (uint8_t)(p * 9); /* transparent first pixel */
        deep[p] = (uint16_t)(p * 2111);
    }
    const struct {
        const char *name;
        png_uint_32 format;
        const void *data;
    } files[] = {{"v/train/a/rgb.png", PNG_FORMAT_RGB, rgb},
                 {"v/train/a/zz/nested.png", PNG_FORMAT_RGB, rgb}, /* below a class folder: found too */
                 {"v/train/b/deep.png", PNG_FORMAT_LINEAR_Y, deep},
                 {"v/train/c/rgba.png", PNG_FORMAT_RGBA, rgba}};
    mkdirs("v/train/a/zz");
    for (size_t k = 0; k < 4; k++) {
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        img.width = W;
        img.height = H;
        img.format = files[k].format;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[k].name);
        if (!png_image_write_to_file(&img, path, 0, files[k].data, 0, NULL))
            fail_msg("writing %s: %s", path, img.message);
    }
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images v/train --out conv"));
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/conv-train-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/conv-train-labels-idx1-ubyte.gz", dir);
    strata_dataset *d = NULL;
    ST_OK(strata_dataset_load_idx(images, labels, 1.0, &d));
    assert_int_equal(strata_dataset_size(d), 4);
    static const int64_t labels_want[] = {0, 0, 1, 2};
    for (int k = 0; k < 4; k++)
        assert_int_equal(strata_dataset_y(d, k), labels_want[k]);
    for (int p = 0; p < W * H; p++) {
        const uint8_t *c = rgb + 3 * p;
        int luma = (int)((c[0] * 19595u + c[1] * 38470u + c[2] * 7471u + 0x8000u) >> 16);
        int scaled = deep[p] >> 8; /* the high byte, as PIL keeps of 16-bit samples */
        if (strata_dataset_x(d, 0)[p] != luma || strata_dataset_x(d, 1)[p] != luma ||
            strata_dataset_x(d, 3)[p] != luma || strata_dataset_x(d, 2)[p] != scaled)
            fail_msg("pixel %d: %g %g %g, expected luma %d (RGB and RGBA) and %d (16-bit %u)", p,
                     strata_dataset_x(d, 0)[p], strata_dataset_x(d, 3)[p], strata_dataset_x(d, 2)[p], luma, scaled,
                     deep[p]);
    }
    strata_dataset_destroy(d);
}

typedef struct {
    const char *args, *needle;
} bad_case;

static void test_pack_errors(void **state)
{
    (void)state;
    write_tree("b/train", 0, 1);
    mkdirs("b/odd/cat");
    write_png("b/odd/cat/a.png", 0, 0, 1, W);
    write_png("b/odd/cat/b.png", 0, 1, 1, W - 1);
    mkdirs("b/cow/cow");
    write_png("b/cow/cow/a.png", 0, 0, 1, W);
    mkdirs("b/utf/x\xffy");
    write_png("b/utf/x\xffy/a.png", 0, 0, 1, W);
    mkdirs("b/empty");
    mkdirs("b/noimages/cat");
    mkdirs("b/corrupt/cat");
    tu_write_text(dir, "b/corrupt/cat/x.png", "not really a png\n");
    static const bad_case cases[] = {
        {"pack-images b/odd --out o", "b/odd/cat/b.png is 5 x 5 pixels; the images before it are 6 x 5"},
        {"pack-images b/train b/cow --out o", "b/cow/cow: the training folder has no class 'cow'"},
        {"pack-images b/empty --out o", "b/empty has no class folders (expected b/empty/CLASS/IMAGE.png)"},
        {"pack-images b/noimages --out o", "b/noimages/cat holds no .png images: every folder of b/noimages is a class"},
        {"pack-images b/corrupt --out o", "b/corrupt/cat/x.png: cannot read it as a PNG image"},
        {"pack-images b/missing --out o", "cannot read the folder b/missing"},
        {"pack-images b/utf --out o", "a class folder's name must be UTF-8"},
        {"pack-images b/train --out b/train/cat/0.png/o", "cannot create directory b/train/cat/0.png"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        tu_expect_cli_err(dir, tu_run_cli(dir, cases[k].args), 1, cases[k].needle);
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images b/train"), 2, "--out PREFIX");
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images a b c --out o"), 2, "pack-images");
    /* a write that fails at the rename leaves nothing half-written */
    mkdirs("blk/p-train-images-idx3-ubyte.gz");
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images b/train --out blk/p"), 1,
                      "cannot write blk/p-train-images-idx3-ubyte.gz: it is a directory");
    char *left = tu_slurp(dir, "blk/p-train-images-idx3-ubyte.gz.tmp");
    assert_null(left);
    /* the last of the four files cannot be written: none is (new images never sit beside old labels) */
    mkdirs("blk/q-test-labels-idx1-ubyte.gz");
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images b/train b/train --out blk/q"), 1,
                      "cannot write blk/q-test-labels-idx1-ubyte.gz: it is a directory");
    static const char *const others[] = {"blk/q-train-images-idx3-ubyte.gz", "blk/q-train-labels-idx1-ubyte.gz",
                                         "blk/q-test-images-idx3-ubyte.gz"};
    for (int k = 0; k < 3; k++)
        if ((left = tu_slurp(dir, others[k])))
            fail_msg("%s was written, though the pack failed", others[k]);
    /* a FIFO in the way is refused, not replaced by a plain file */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/blk/r-train-labels-idx1-ubyte.gz", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images b/train --out blk/r"), 1,
                      "cannot write blk/r-train-labels-idx1-ubyte.gz: it is a FIFO, not a regular file");
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
}

/* ROOT/cat/x.png: a PNG written byte by byte, gray of @p depth bits, its
 * IHDR @p w x @p h, its one IDAT @p n zero bytes of scanlines compressed as
 * tightly as zlib can. */
static void write_zeros_png(const char *root, uint32_t w, uint32_t h, int depth, size_t n)
{
    uint8_t *raw = calloc(n, 1), *file = malloc(n + 128);
    assert_non_null(raw), assert_non_null(file);
    memcpy(file, "\x89PNG\r\n\x1a\n", 8);
    size_t at = 8;
    uLongf zlen = (uLongf)n + 64;
    for (int k = 0; k < 3; k++) { /* IHDR, IDAT, IEND */
        uint8_t *c = file + at;
        uint32_t len = 0;
        if (k == 0) {
            memcpy(c + 4, "IHDR", 4);
            tu_put_be32(c + 8, w), tu_put_be32(c + 12, h);
            c[16] = (uint8_t)depth, c[17] = 0, c[18] = 0, c[19] = 0, c[20] = 0; /* gray, not interlaced */
            len = 13;
        } else if (k == 1) {
            memcpy(c + 4, "IDAT", 4);
            assert_int_equal(compress2(c + 8, &zlen, raw, (uLong)n, 9), Z_OK);
            len = (uint32_t)zlen;
        } else {
            memcpy(c + 4, "IEND", 4);
        }
        tu_put_be32(c, len);
        tu_put_be32(c + 8 + len, (uint32_t)crc32(0, c + 4, len + 4));
        at += 12 + len;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "%s/cat", root);
    mkdirs(rel);
    snprintf(rel, sizeof rel, "%s/cat/x.png", root);
    tu_write_file(dir, rel, file, at);
    free(raw), free(file);
}

/* A file too short for the pixels its header declares is refused before
 * their memory is asked for (a 16384 x 16384 header in 60-odd bytes was
 * 1.5 GiB of buffers before the first row failed), and the most
 * compressible image there is, zeros at zlib's best, still reads: the
 * bound is deflate's 1032:1, which no encoder beats. */
static void test_pack_declared_size(void **state)
{
    (void)state;
    write_zeros_png("z/huge", 16384, 16384, 8, 64);
    tu_expect_cli_err(dir, tu_run_cli(dir, "pack-images z/huge --out o --rgb"), 1,
                      "z/huge/cat/x.png: cannot read it as a PNG image: 16384 x 16384 pixels need more image data "
                      "than its ");
    write_zeros_png("z/tight", 2048, 2048, 1, (size_t)2048 * (2048 / 8 + 1)); /* about 1020:1 */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images z/tight --out tight"));
    char *out = tu_slurp(dir, "out");
    if (!strstr(out, "packed 1 training image (1 class, 2048 x 2048 gray)"))
        fail_msg("unexpected: %s", out);
    free(out);
    /* a folder as PREFIX: the files go in it, not as "-train-images-..." */
    tu_expect_cli_ok(dir, tu_run_cli(dir, "pack-images z/tight --out packs/"));
    out = tu_slurp(dir, "out");
    if (!strstr(out, "into packs/train-images-idx3-ubyte.gz, packs/train-labels-idx1-ubyte.gz"))
        fail_msg("--out packs/ wrote: %s", out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_gray), cmocka_unit_test(test_pack_non_utf8_cwd),
        cmocka_unit_test(test_pack_rgb),
        cmocka_unit_test(test_pack_modes),
        cmocka_unit_test(test_pack_conversions),
        cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_pack_declared_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
