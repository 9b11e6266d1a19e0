/* png_write.c - atomic 8-bit PNG files through libpng's simplified API (and
 * PNG files read with it), and
 * grids of normalised, upscaled float tiles. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "png_write.h"

#define GRID_MAX_SIDE 32768

/* libpng's errors: the message kept for the caller, then back to its setjmp. */
typedef struct {
    jmp_buf jmp;
    char msg[200];
} png_errors;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_errors *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* a damaged ancillary chunk, say: the pixels still decode */
}

uint8_t cli_luma(const uint8_t *rgb)
{
    return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

uint8_t *cli_png_read(const char *path, int channels, uint32_t *w, uint32_t *h, int *wrong_size)
{
    *wrong_size = 0;
    FILE *f = fopen(path, "rb");
    uint8_t sig[8];
    size_t got_sig = f ? fread(sig, 1, 8, f) : 0;
    if (!f || got_sig != 8 || png_sig_cmp(sig, 0, 8)) {
        fprintf(stderr, "strata: error: %s: cannot read it as a PNG image: %s\n", path,
                !f || ferror(f) ? strerror(errno) : "not a PNG file");
        if (f)
            fclose(f);
        return NULL;
    }
    /* libpng's error handler writes the message here, then longjmps: heap
     * memory, not an automatic object changed between setjmp and longjmp */
    png_errors *err = calloc(1, sizeof *err);
    png_structp png = err ? png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_on_error, png_on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile raw = NULL, *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        fprintf(stderr, "strata: error: %s: out of memory reading it\n", path);
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(err);
        fclose(f);
        return NULL;
    }
    if (setjmp(err->jmp)) {
        fprintf(stderr, "strata: error: %s: cannot read it as a PNG image: %s\n", path, err->msg);
        png_destroy_read_struct(&png, &info, NULL);
        free(raw), free(px), free(rows), free(err);
        fclose(f);
        return NULL;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    uint32_t iw = png_get_image_width(png, info), ih = png_get_image_height(png, info);
    int file_colour = png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR;
    if ((*w && *h && (iw != *w || ih != *h)) || (uint64_t)iw * ih > ((uint64_t)1 << 28)) {
        *wrong_size = *w && *h && (iw != *w || ih != *h);
        if (!*wrong_size)
            fprintf(stderr, "strata: error: %s is %u x %u pixels: too large\n", path, iw, ih);
        *w = iw, *h = ih;
        png_destroy_read_struct(&png, &info, NULL);
        free(err);
        fclose(f);
        return NULL;
    }
    *w = iw, *h = ih;
    /* the stored values as 8-bit gray or RGB, as PIL reads them: palettes
     * and low bit depths expanded, 16 bits scaled, transparency dropped, no
     * gamma or colour-space conversion */
    png_set_expand(png);
    png_set_strip_16(png); /* the high byte, as PIL keeps of 16-bit colour */
    png_set_strip_alpha(png);
    if (!file_colour && channels == 3)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int got = png_get_channels(png, info); /* 1 or 3 */
    const size_t stride = png_get_rowbytes(png, info);
    raw = malloc(stride * ih);
    rows = malloc(sizeof *rows * ih);
    px = malloc((size_t)iw * ih * (size_t)channels);
    if (!raw || !rows || !px)
        png_error(png, "out of memory");
    for (uint32_t y = 0; y < ih; y++)
        rows[y] = raw + stride * y;
    png_read_image(png, rows);
    if (!setjmp(err->jmp)) /* the pixels are whole: a damaged chunk after them (no IEND) is PIL's business too */
        png_read_end(png, NULL);
    for (size_t i = 0; i < (size_t)iw * ih; i++) {
        const uint8_t *p = raw + (i / iw) * stride + (i % iw) * (size_t)got;
        if (channels == 1)
            px[i] = got == 3 ? cli_luma(p) : p[0];
        else
            memcpy(px + i * 3, p, 3);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(raw), free(rows), free(err);
    fclose(f);
    return px;
}

static int write_fail(const char *path, const char *why)
{
    fprintf(stderr, "strata: error: cannot write %s: %s\n", path, why);
    return 1;
}

/* fsync of the directory holding @p path, so the rename itself is durable;
 * best effort (some file systems refuse it). */
static void sync_parent(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int cli_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels)
{
    if (!path || !pixels || width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4))
        return write_fail(path ? path : "(null)", "bad image (empty, or channels not 1, 3 or 4)");
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return write_fail(path, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return write_fail(path, strerror(errno));
    fchmod(fd, 0644); /* mkstemp's 0600 is too private for an image */
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return write_fail(path, strerror(e));
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    int ok = png_image_write_to_stdio(&img, f, 0, pixels, (png_int_32)width * channels, NULL);
    char why[256];
    snprintf(why, sizeof why, "libpng: %s", img.message[0] ? img.message : "write failed");
    png_image_free(&img);
    if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        ok = 0;
        snprintf(why, sizeof why, "%s", strerror(errno));
    }
    if (fclose(f) != 0 && ok) {
        ok = 0;
        snprintf(why, sizeof why, "%s", strerror(errno));
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        snprintf(why, sizeof why, "%s", strerror(errno));
    }
    if (!ok) {
        unlink(tmp);
        return write_fail(path, why);
    }
    sync_parent(path);
    return 0;
}

int grid_size(const grid_layout *g, int *width, int *height)
{
    if (!g || g->n <= 0 || (g->channels != 1 && g->channels != 3) || g->h <= 0 || g->w <= 0 || g->cols <= 0 ||
        g->scale <= 0 || g->gap < 0) {
        fprintf(stderr, "strata: error: bad image grid (n %lld, channels %d, tile %dx%d, cols %d, scale %d)\n",
                g ? (long long)g->n : 0LL, g ? g->channels : 0, g ? g->h : 0, g ? g->w : 0, g ? g->cols : 0,
                g ? g->scale : 0);
        return 1;
    }
    int64_t cols = g->cols < g->n ? g->cols : g->n;
    int64_t rows = (g->n + g->cols - 1) / g->cols;
    /* each factor is bounded by int, so the products fit in int64 */
    int64_t w = cols * g->w * g->scale + (cols - 1) * g->gap;
    int64_t h = rows * g->h * g->scale + (rows - 1) * g->gap;
    if (w > GRID_MAX_SIDE || h > GRID_MAX_SIDE) {
        fprintf(stderr, "strata: error: an image grid of %lld x %lld tiles of %dx%d at scale %d is %lld x %lld pixels, "
                        "over the %d-pixel limit\n",
                (long long)rows, (long long)cols, g->h, g->w, g->scale, (long long)w, (long long)h, GRID_MAX_SIDE);
        return 1;
    }
    *width = (int)w;
    *height = (int)h;
    return 0;
}

uint8_t *grid_render(const grid_layout *g, const float *tiles)
{
    int width, height;
    if (grid_size(g, &width, &height))
        return NULL;
    const int C = g->channels;
    uint8_t *img = malloc((size_t)width * (size_t)height * (size_t)C);
    if (!img) {
        fprintf(stderr, "strata: error: out of memory for a %d x %d image\n", width, height);
        return NULL;
    }
    memset(img, g->background, (size_t)width * (size_t)height * (size_t)C);
    const size_t plane = (size_t)g->h * (size_t)g->w, tile_len = plane * (size_t)C;
    for (int64_t t = 0; t < g->n; t++) {
        const float *v = tiles + (size_t)t * tile_len; /* (C, h, w) */
        float lo = g->lo, hi = g->hi;
        if (g->norm == GRID_NORM_TILE) {
            lo = INFINITY, hi = -INFINITY;
            for (size_t k = 0; k < tile_len; k++)
                if (isfinite(v[k])) {
                    lo = v[k] < lo ? v[k] : lo;
                    hi = v[k] > hi ? v[k] : hi;
                }
        }
        /* a constant (or all non-finite) tile draws 0 */
        double mul = hi > lo ? 255.0 / ((double)hi - (double)lo) : 0.0;
        int64_t x0 = (t % g->cols) * ((int64_t)g->w * g->scale + g->gap);
        int64_t y0 = (t / g->cols) * ((int64_t)g->h * g->scale + g->gap);
        for (int y = 0; y < g->h * g->scale; y++) {
            uint8_t *row = img + ((size_t)(y0 + y) * (size_t)width + (size_t)x0) * (size_t)C;
            const size_t src = (size_t)(y / g->scale) * (size_t)g->w;
            for (int x = 0; x < g->w * g->scale; x++)
                for (int c = 0; c < C; c++) {
                    float f = v[(size_t)c * plane + src + (size_t)(x / g->scale)];
                    double q = isfinite(f) ? ((double)f - (double)lo) * mul : 0.0;
                    q = q < 0.0 ? 0.0 : q > 255.0 ? 255.0 : q;
                    row[(size_t)x * (size_t)C + (size_t)c] = (uint8_t)lrint(q);
                }
        }
    }
    return img;
}
