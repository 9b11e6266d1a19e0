/* png_write.h - 8-bit PNG files (libpng), written atomically and read, and float
 * tiles laid out in a grid as an 8-bit image: what `strata visualize` writes
 * (filters, feature maps) and what sample grids of generative models need. */
#ifndef STRATA_PNG_WRITE_H
#define STRATA_PNG_WRITE_H

#include <stdint.h>

/**
 * Writes @p pixels (height, width, channels) row-major, rows top to bottom,
 * as an 8-bit PNG: channels 1 gray, 3 RGB, 4 RGBA. Atomic: a temporary file
 * next to @p path, fsync, rename, so a reader never sees a torn image.
 * @returns 0; 1 after printing "strata: error: cannot write PATH: why".
 */
int cli_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels);

/**
 * Decodes the PNG @p path as 8-bit gray (@p channels 1) or RGB (3), pixels
 * interleaved, rows top to bottom (malloc'ed), whatever its colour type and
 * bit depth, as PIL's convert("L") / convert("RGB") reads it: the stored
 * values (no gamma or colour-space conversion), 16 bits to their high byte
 * (PIL clips 16-bit gray instead), alpha dropped, colour to gray by ITU-R
 * 601-2 luma. Its size goes to *w, *h. When *w and *h are non-zero on entry
 * and the image has another size, nothing is decoded: NULL, *wrong_size
 * set, *w and *h the image's size (the caller words the error). Otherwise
 * NULL after "strata: error: PATH: why" when it cannot be read: an image
 * over 2^28 pixels, or a regular file too short to hold the pixels its
 * header declares (refused before their memory is allocated). Chunks other
 * than IHDR, PLTE, tRNS, IDAT and IEND are skipped unread. Memory: the
 * result and, for gray from a colour file, 2 bytes a pixel more while it
 * is converted (w*h*3 in all), besides libpng's buffers of a row or two.
 */
uint8_t *cli_png_read(const char *path, int channels, uint32_t *w, uint32_t *h, int *wrong_size);
/** PIL's convert("L") of the RGB pixel @p rgb: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
uint8_t cli_luma(const uint8_t *rgb);

/** How tile values become gray levels 0..255. */
typedef enum grid_norm {
    GRID_NORM_TILE = 0, /* each tile to its own [min, max] (over all its channels); a constant tile is 0 */
    GRID_NORM_RANGE = 1 /* every tile maps [lo, hi] to [0, 255], clamped (e.g. tanh samples: -1, 1) */
} grid_norm;

/* n tiles of (channels, h, w) values, planar, in rows of cols tiles; each
 * value drawn as a scale x scale block; gap pixels of background between
 * tiles (none around the edge):
 *   width  = cols * w * scale + (cols - 1) * gap
 *   height = rows * h * scale + (rows - 1) * gap,  rows = ceil(n / cols) */
typedef struct grid_layout {
    int64_t n;
    int channels; /* 1 (gray) or 3 (RGB) */
    int h, w;
    int cols;
    int scale;
    int gap;
    uint8_t background;
    grid_norm norm;
    float lo, hi; /* GRID_NORM_RANGE only */
} grid_layout;

/** Image size of @p g in pixels. @returns 0; 1 (printing why) for a bad
 *  layout or an image over 32768 pixels a side. */
int grid_size(const grid_layout *g, int *width, int *height);

/**
 * Renders @p tiles (g->n, g->channels, g->h, g->w) into a new malloc'ed
 * (height, width, channels) image of grid_size(). Non-finite values are
 * drawn 0 and ignored by the per-tile range.
 * @returns the image (free() it); NULL after printing why.
 */
uint8_t *grid_render(const grid_layout *g, const float *tiles);

#endif
