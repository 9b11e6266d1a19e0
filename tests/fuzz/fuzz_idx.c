/*
 * fuzz_idx.c - IDX files (MNIST style), plain; with FUZZ_IDX_GZ defined
 * (fuzz_idx_gz) the .gz path: an input that starts with the gzip magic is
 * used as it is (corrupt and truncated streams), any other is gzip-wrapped
 * first (valid streams of fuzzed IDX data, checking the inflate limits).
 *
 * Each input goes through the in-memory parser, both file readers and, cut
 * in two at a point its first byte chooses, strata_dataset_load_idx() as
 * an images file and a labels file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "internal.h"

#ifdef FUZZ_IDX_GZ
/* gzip-wraps data[0, size) into a new buffer (*out, free()d by the caller). */
static int fz_gzip(const uint8_t *data, size_t size, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    size_t cap = deflateBound(&zs, (uLong)size) + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return 0;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)size;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return 0;
    }
    *out = buf;
    return 1;
}
#endif

static void fz_one(const uint8_t *data, size_t size)
{
    st_idx x;
    memset(&x, 0, sizeof x);
    if (st_idx_parse(data, size, "fuzz.idx", &x) == STRATA_OK)
        st_idx_free(&x);

    const char *p0 = fz_write_file("in0", data, size);
    if (!p0)
        return;
    memset(&x, 0, sizeof x);
    if (st_idx_read(p0, &x) == STRATA_OK)
        st_idx_free(&x);
    memset(&x, 0, sizeof x);
    if (st_idx_read_raw(p0, &x) == STRATA_OK)
        st_idx_free(&x);
}

#ifndef FUZZ_IDX_GZ
static void fz_walk(const strata_dataset *d)
{
    int ndim = 0;
    (void)strata_dataset_shape(d, &ndim);
    int64_t n = strata_dataset_size(d);
    (void)strata_dataset_classes(d);
    for (int64_t k = 0; k < n && k < 4; k++) {
        (void)strata_dataset_x(d, k);
        (void)strata_dataset_y(d, k);
    }
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_IDX_GZ
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
        uint8_t *gz = NULL;
        size_t gz_len = 0;
        if (fz_gzip(data, size, &gz, &gz_len)) {
            fz_one(gz, gz_len);
            free(gz);
        }
        return 0;
    }
    fz_one(data, size);
#else
    fz_one(data, size);
    if (size < 1)
        return 0;
    /* images = data[1, 1 + cut), labels = the rest */
    size_t cut = (size_t)data[0] * (size - 1) / 255;
    const char *img = fz_write_file("in0", data + 1, cut);
    const char *lab = fz_write_file("in1", data + 1 + cut, size - 1 - cut);
    strata_dataset *d = NULL;
    if (img && lab && strata_dataset_load_idx(img, lab, 255.0, &d) == STRATA_OK) {
        fz_walk(d);
        strata_dataset_destroy(d);
    }
#endif
    return 0;
}
