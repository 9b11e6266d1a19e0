/*
 * fuzz_png.c - the PNG reader of `strata predict`, `strata pack-images` and
 * image-folder data: cli_png_read() (tools/png_write.c, libpng's low-level
 * API), compiled into the harness from the command-line tool's sources.
 *
 * The input is written to a file and read as gray (channels 1) and as RGB
 * (3), each three times: with no size required; requiring the size its
 * IHDR declares (the same outcome and the same pixels); requiring another
 * size (NULL, and when the image reads, *wrong_size set and its size
 * returned). A decoded image must be 1 to 2^28 pixels with w*h*channels
 * readable bytes, all touched, and each gray pixel must be the luma of the
 * RGB one (the luma of (v, v, v) is v, so gray files are held to it too).
 *
 * libpng is the system's, not instrumented, so libFuzzer sees the branches
 * of the reader and of this file only. So that mutations get past libpng's
 * first checks, an input is read a second time repaired, when that changes
 * it:
 *  - the signature and every chunk's CRC set right (the as-given read
 *    keeps their errors);
 *  - the data of zRAW chunks (not a PNG chunk: raw scanlines, filter bytes
 *    and all) joined, cut or padded with zero bytes to the size its IHDR
 *    asks for (up to 256 KiB), and compressed into one IDAT where the
 *    first zRAW was;
 * and what the reader said (libpng's message, digits left out) with the
 * header's colour type, depth and interlace counts as coverage through
 * libFuzzer's extra counters, so an input that reaches a new libpng error
 * stays in the corpus.
 *
 * The reader's messages are captured (glibc's stderr is a variable the
 * harness points at a memory stream), so a run prints nothing per input;
 * the harness's own failures go to the real stderr, then abort().
 *
 * Seeds: tests/fuzz/corpus/png/, written by tests/fuzz/make_png_corpus.py
 * (every colour type and bit depth, transparency, Adam7, the row filters,
 * zRAW forms, near misses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "png_write.h"

#define MAX_PIXELS ((uint64_t)1 << 28) /* the reader's limit */
#define RAW_FIT_MAX (256u << 10)       /* zRAW data is fitted to IHDR up to this size */

/* libFuzzer adds nonzero bytes of this section to its coverage (on Linux);
 * in the replay build it is an ordinary array. */
static uint8_t seen[4096] __attribute__((section("__libfuzzer_extra_counters"), used));

static volatile unsigned sink;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static _Noreturn void fail(const char *what, int channels, uint32_t w, uint32_t h)
{
    fprintf(stderr, "fuzz_png: %s (channels %d, %u x %u)\n", what, channels, w, h);
    abort();
}

/* FNV-1a of what libpng said: @p msg after its last ": " (no file name,
 * no chunk name: every mutated name would be a new feature), digits left out. */
static uint32_t msg_hash(const char *msg)
{
    uint32_t hash = 2166136261u;
    for (const char *c = msg; c && *c; c++) {
        if (c[0] == ':' && c[1] == ' ')
            hash = 2166136261u;
        else if (*c < '0' || *c > '9')
            hash = (hash ^ (uint8_t)*c) * 16777619u;
    }
    return hash;
}

/* cli_png_read with its messages captured; @p key gets their hash mixed in. */
static uint8_t *read_png(const char *path, int channels, uint32_t *w, uint32_t *h, int *wrong, uint32_t *key)
{
#ifdef __GLIBC__
    char *msg = NULL;
    size_t len = 0;
    FILE *cap = open_memstream(&msg, &len), *saved = stderr;
    if (cap)
        stderr = cap;
#endif
    uint8_t *px = cli_png_read(path, channels, w, h, wrong);
#ifdef __GLIBC__
    stderr = saved;
    if (cap) {
        fclose(cap);
        *key = (*key ^ msg_hash(msg)) * 16777619u;
        free(msg);
    }
#endif
    return px;
}

/* Bytes of filtered scanlines an IHDR of @p w x @p h, @p bits per pixel
 * (@p interlace 1: Adam7) asks for; 0 if more than RAW_FIT_MAX. */
static size_t raw_size(uint32_t w, uint32_t h, uint32_t bits, int interlace)
{
    static const uint32_t x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    uint64_t total = 0;
    for (int p = 0; p < (interlace ? 7 : 1); p++) {
        uint64_t cols = interlace ? (w > x0[p] ? (w - x0[p] + dx[p] - 1) / dx[p] : 0) : w;
        uint64_t rows = interlace ? (h > y0[p] ? (h - y0[p] + dy[p] - 1) / dy[p] : 0) : h;
        if (cols && rows)
            total += rows * ((cols * bits + 7) / 8 + 1);
        if (total > RAW_FIT_MAX)
            return 0;
    }
    return (size_t)total;
}

/* The bytes of @p raw fitted to the IHDR at @p ihdr (13 bytes, or NULL: as
 * they are) and compressed, as an IDAT chunk; its length in *len. */
static uint8_t *raw_to_idat(const uint8_t *raw, size_t n, const uint8_t *ihdr, size_t *len)
{
    static const uint8_t samples[7] = {1, 0, 3, 1, 2, 0, 4}; /* per colour type */
    size_t want = n;
    if (ihdr && ihdr[9] < 7 && samples[ihdr[9]]) {
        size_t s = raw_size(be32(ihdr), be32(ihdr + 4), (uint32_t)samples[ihdr[9]] * ihdr[8], ihdr[12] == 1);
        want = s ? s : n;
    }
    uint8_t *fit = calloc(want ? want : 1, 1); /* zero bytes past the data */
    uLongf zlen = compressBound((uLong)want);
    uint8_t *idat = malloc(zlen + 12);
    if (fit && n)
        memcpy(fit, raw, n < want ? n : want);
    if (!fit || !idat || compress2(idat + 8, &zlen, fit, (uLong)want, 1) != Z_OK) {
        free(fit), free(idat);
        return NULL;
    }
    free(fit);
    put_be32(idat, (uint32_t)zlen);
    memcpy(idat + 4, "IDAT", 4);
    put_be32(idat + 8 + zlen, (uint32_t)crc32(crc32(0, NULL, 0), idat + 4, (uInt)zlen + 4));
    *len = zlen + 12;
    return idat;
}

/* @p in with its signature and every CRC set right and its zRAW chunks
 * made one IDAT (see the header); *len its length. NULL when out of memory. */
static uint8_t *repair(const uint8_t *in, size_t n, size_t *len)
{
    uint8_t *out = malloc(n), *raw = malloc(n ? n : 1);
    size_t o = 0, nraw = 0, at = (size_t)-1, pos = n < 8 ? n : 8;
    if (!out || !raw) {
        free(out), free(raw);
        return NULL;
    }
    memcpy(out, "\x89PNG\r\n\x1a\n", pos);
    const uint8_t *ihdr = n >= 8 + 8 + 13 && !memcmp(in + 12, "IHDR", 4) && be32(in + 8) == 13 ? in + 16 : NULL;
    o = pos;
    while (n - pos >= 12 && be32(in + pos) <= n - pos - 12) {
        uint32_t clen = be32(in + pos);
        const uint8_t *type = in + pos + 4;
        if (!memcmp(type, "zRAW", 4)) {
            if (at == (size_t)-1)
                at = o;
            memcpy(raw + nraw, type + 4, clen);
            nraw += clen;
        } else {
            memcpy(out + o, in + pos, 8 + (size_t)clen);
            put_be32(out + o + 8 + clen, (uint32_t)crc32(crc32(0, NULL, 0), type, clen + 4));
            o += 12 + (size_t)clen;
        }
        pos += 12 + (size_t)clen;
    }
    memcpy(out + o, in + pos, n - pos); /* a truncated last chunk, as it is */
    o += n - pos;
    if (at != (size_t)-1) {
        size_t ilen;
        uint8_t *idat = raw_to_idat(raw, nraw, ihdr, &ilen);
        uint8_t *grown = idat ? realloc(out, o + ilen) : NULL;
        if (!grown) {
            free(idat), free(out), free(raw);
            return NULL;
        }
        out = grown;
        memmove(out + at + ilen, out + at, o - at);
        memcpy(out + at, idat, ilen);
        o += ilen;
        free(idat);
    }
    free(raw);
    *len = o;
    return out;
}

/* The checks told at the top of this file, on the file at @p path; @p decl:
 * the size its IHDR declares (0 x 0 if none). @p key: the coverage key so far. */
static void check_file(const char *path, uint32_t decl_w, uint32_t decl_h, uint32_t key)
{
    uint8_t *px[2] = {NULL, NULL};
    uint32_t pw[2] = {0, 0}, ph[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const int ch = k ? 3 : 1;
        uint32_t w = 0, h = 0, k_key = key * 31u + (uint32_t)ch;
        int wrong = -1;
        px[k] = read_png(path, ch, &w, &h, &wrong, &k_key);
        if (wrong != 0)
            fail("*wrong_size set when no size was required", ch, w, h);
        if (px[k]) {
            if (!w || !h || (uint64_t)w * h > MAX_PIXELS)
                fail("an image of a size the reader refuses", ch, w, h);
            unsigned sum = 0; /* every byte readable (ASan) */
            for (size_t i = 0; i < (size_t)w * h * (size_t)ch; i++)
                sum += px[k][i];
            sink += sum;
            pw[k] = w, ph[k] = h;
        }
        seen[(k_key ^ (px[k] ? 0x9e3779b9u : 0)) % sizeof seen]++;
        if (!decl_w || !decl_h)
            continue;
        uint32_t rw = decl_w, rh = decl_h, dummy = 0;
        uint8_t *again = read_png(path, ch, &rw, &rh, &wrong, &dummy);
        if (!again != !px[k])
            fail(px[k] ? "refused when required to be its own size" : "read only when required to be its size", ch,
                 decl_w, decl_h);
        if (again && (wrong || rw != pw[k] || rh != ph[k] || memcmp(again, px[k], (size_t)rw * rh * (size_t)ch)))
            fail("another image when required to be its own size", ch, rw, rh);
        free(again);
        rw = decl_w == UINT32_MAX ? 1 : decl_w + 1;
        again = read_png(path, ch, &rw, &rh, &wrong, &dummy);
        if (again)
            fail("read when required to be another size", ch, rw, rh);
        if (px[k] && (wrong != 1 || rw != pw[k] || rh != ph[k]))
            fail("another size required: *wrong_size or the size returned is wrong", ch, rw, rh);
    }
    if (!px[0] != !px[1])
        fail(px[0] ? "read as gray but not as RGB" : "read as RGB but not as gray", 0, pw[0] | pw[1], ph[0] | ph[1]);
    if (px[0]) {
        if (pw[0] != pw[1] || ph[0] != ph[1])
            fail("gray and RGB reads of other sizes", 0, pw[0], ph[0]);
        for (size_t i = 0; i < (size_t)pw[0] * ph[0]; i++)
            if (px[0][i] != cli_luma(px[1] + 3 * i))
                fail("a gray pixel is not the luma of the RGB one", 0, pw[0], ph[0]);
    }
    free(px[0]), free(px[1]);
}

/* 1 + the index of @p v in @p set; 0 if not there. */
static uint32_t one_of(uint8_t v, const uint8_t set[5])
{
    for (uint32_t k = 0; k < 5; k++)
        if (set[k] == v)
            return k + 1;
    return 0;
}

static void run(const uint8_t *data, size_t size, uint32_t mode)
{
    const char *path = fz_write_file("in0", data, size);
    if (!path)
        return;
    uint32_t decl_w = 0, decl_h = 0, key = mode;
    if (size >= 8 + 8 + 13 && !memcmp(data + 12, "IHDR", 4)) {
        decl_w = be32(data + 16), decl_h = be32(data + 20);
        /* depth, colour type and interlace; each value the standard does
         * not know counts as one, so that bad headers are not each new */
        static const uint8_t depths[5] = {1, 2, 4, 8, 16}, types[5] = {0, 2, 3, 4, 6};
        uint32_t kind = one_of(data[24], depths) * 18u + one_of(data[25], types) * 3u + (data[28] < 2 ? data[28] : 2);
        key = key * 131u + kind;
    }
    check_file(path, decl_w, decl_h, key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 0);
    size_t len = 0;
    uint8_t *fixed = repair(data, size, &len);
    if (fixed && (len != size || memcmp(fixed, data, size)))
        run(fixed, len, 1);
    free(fixed);
    return 0;
}
