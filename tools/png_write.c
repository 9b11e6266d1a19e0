/* png_write.c - atomic 8-bit PNG files through libpng's simplified API (and
 * PNG files read with it), and
 * grids of normalised, upscaled float tiles. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "png_write.h"
#include "write_atomic.h"

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

/* @p n RGB pixels of @p px made gray in place (pixel i's luma lands at or
 * before its own bytes) and the buffer shrunk to them. */
static uint8_t *luma_in_place(uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++)
        px[i] = cli_luma(px + 3 * i);
    uint8_t *shrunk = realloc(px, n);
    return shrunk ? shrunk : px;
}

/* cli_png_read but for a colour file, which is decoded as RGB whatever
 * @p channels (*colour set). Holds the setjmp of libpng's errors (the
 * caller's work after it: not inlined here). */
static uint8_t *png_decode(const char *path, int channels, uint32_t *w, uint32_t *h, int *wrong_size, int *colour)
{
    *wrong_size = 0;
    FILE *f = cli_fopen_regular(path);
    uint8_t sig[8];
    size_t got_sig = f ? fread(sig, 1, 8, f) : 0;
    if (!f || got_sig != 8 || png_sig_cmp(sig, 0, 8)) {
        fprintf(stderr, "strata: error: %s: cannot read it as a PNG image: %s\n", path,
                !f && errno == EINVAL ? "not a regular file"
                : !f || ferror(f)     ? strerror(errno)
                                      : "not a PNG file");
        if (f)
            fclose(f);
        return NULL;
    }
    /* libpng's error handler writes the message here, then longjmps: heap
     * memory, not an automatic object changed between setjmp and longjmp */
    png_errors *err = calloc(1, sizeof *err);
    png_structp png = err ? png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_on_error, png_on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile px = NULL;
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
        free(px), free(err);
        fclose(f);
        return NULL;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    /* Only IHDR, PLTE, tRNS, IDAT and IEND are read; every other chunk is
     * skipped unread. The pixels need no more (no gamma, colour space or
     * text is applied), and libpng (1.6.39) allocates the length a text,
     * eXIf or sPLT chunk declares, up to 2 GiB, before reading it. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);
    uint32_t iw = png_get_image_width(png, info), ih = png_get_image_height(png, info);
    const int file_colour = png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR;
    *colour = file_colour;
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
    /* Deflate packs at most 1032 bytes into one, so a file shorter than
     * its scanlines / 1032 cannot hold them: refused before their memory
     * is asked for (up to 768 MiB for 2^28 pixels, which a 60-byte header
     * could otherwise claim). Only for regular files: a pipe has no size. */
    struct stat st;
    const uint64_t data_min = (uint64_t)iw * ih * png_get_bit_depth(png, info) * png_get_channels(png, info) / 8;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && data_min / 1032 > (uint64_t)st.st_size) {
        char why[160];
        snprintf(why, sizeof why, "%u x %u pixels need more image data than its %lld bytes can hold", iw, ih,
                 (long long)st.st_size);
        png_error(png, why);
    }
    /* the stored values as 8-bit gray or RGB, as PIL reads them: palettes
     * and low bit depths expanded, 16 bits scaled, transparency dropped, no
     * gamma or colour-space conversion */
    png_set_expand(png);
    png_set_strip_16(png); /* the high byte, as PIL keeps of 16-bit colour */
    png_set_strip_alpha(png);
    if (!file_colour && channels == 3)
        png_set_gray_to_rgb(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    /* decoded straight into the result: RGB for a colour file even when
     * gray is asked for (made gray in place by the caller), so at most 3
     * bytes a pixel, and only libpng's buffers of a row or two besides */
    const int got = file_colour ? 3 : channels;
    const size_t stride = (size_t)iw * (size_t)got;
    if (png_get_channels(png, info) != got || png_get_rowbytes(png, info) != stride)
        png_error(png, "unexpected pixel layout after conversion");
    px = malloc(stride * ih);
    if (!px)
        png_error(png, "out of memory");
    /* png_read_image row by row, without its array of row pointers; an
     * interlaced image's rows are written in every pass */
    for (int pass = 0; pass < passes; pass++)
        for (uint32_t y = 0; y < ih; y++)
            png_read_row(png, px + stride * y, NULL);
    if (!setjmp(err->jmp)) /* the pixels are whole: a damaged chunk after them (no IEND) is PIL's business too */
        png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(err);
    fclose(f);
    return px;
}

uint8_t *cli_png_read(const char *path, int channels, uint32_t *w, uint32_t *h, int *wrong_size)
{
    int colour = 0;
    uint8_t *px = png_decode(path, channels, w, h, wrong_size, &colour);
    return px && colour && channels == 1 ? luma_in_place(px, (size_t)*w * *h) : px;
}

static int write_fail(const char *path, const char *why)
{
    fprintf(stderr, "strata: error: cannot write %s: %s\n", path, why);
    return 1;
}

int cli_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels)
{
    if (!path || !pixels || width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4))
        return write_fail(path ? path : "(null)", "bad image (empty, or channels not 1, 3 or 4)");
    char tmp[4200], target[4096];
    if (cli_write_target(path, target, sizeof target))
        return 1;
    path = target;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return write_fail(path, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return write_fail(path, strerror(errno));
    cli_write_mode(fd, path); /* mkstemp's 0600 is too private for an image */
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
    errno = 0;
    int ok = png_image_write_to_stdio(&img, f, 0, pixels, (png_int_32)width * channels, NULL);
    const int e = errno; /* a failed fwrite's (ENOSPC), which libpng words "Write Error" */
    char why[256];
    if (!ok && ferror(f) && e)
        snprintf(why, sizeof why, "%s", strerror(e));
    else
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
    cli_sync_parent(path);
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
