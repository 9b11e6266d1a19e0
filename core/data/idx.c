/*
 * idx.c - IDX files (the MNIST format), plain or gzip-compressed.
 *
 * Layout: magic 00 00 TYPE NDIM, then NDIM big-endian u32 dimensions, then
 * the elements, big-endian, row-major. TYPE: 08 u8, 09 i8, 0B i16, 0C i32,
 * 0D f32, 0E f64. The data must be exactly as long as the dimensions say.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "internal.h"

/* Not in the public headers, but exported so the tests, which link against
 * the shared library, can reach the parser (see tests/CMakeLists.txt). */
#define ST_IDX_EXPORT __attribute__((visibility("default")))

/* Element size of IDX type @p type, or 0 if it is not one. */
static size_t idx_type_size(int type)
{
    switch (type) {
    case 0x08:
    case 0x09:
        return 1;
    case 0x0B:
        return 2;
    case 0x0C:
    case 0x0D:
        return 4;
    case 0x0E:
        return 8;
    default:
        return 0;
    }
}

static uint32_t idx_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t idx_be64(const uint8_t *p)
{
    return (uint64_t)idx_be32(p) << 32 | idx_be32(p + 4);
}

/*
 * Validates the header in buf[0, len) and computes the header and data sizes.
 * Returns STRATA_OK when the header is complete and sane; *hdr_bytes and
 * *data_bytes are then set.
 */
static strata_status idx_header(const uint8_t *buf, size_t len, const char *name, int *ndim_out, int64_t *dims,
                                int64_t *count, size_t *hdr_bytes, uint64_t *data_bytes)
{
    if (len < 4)
        return st_error(STRATA_E_FORMAT, "%s: %zu bytes, too short for the 4-byte IDX magic", name, len);
    size_t esize = idx_type_size(buf[2]);
    if (buf[0] != 0 || buf[1] != 0 || !esize)
        return st_error(STRATA_E_FORMAT,
                        "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 TYPE NDIM with TYPE one of 08 09 0b 0c "
                        "0d 0e)",
                        name, buf[0], buf[1], buf[2], buf[3]);
    int ndim = buf[3];
    if (ndim == 0 || ndim > STRATA_MAX_DIMS)
        return st_error(STRATA_E_FORMAT, "%s: IDX header has %d dimensions; expected 1 to %d", name, ndim,
                        STRATA_MAX_DIMS);
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr)
        return st_error(STRATA_E_FORMAT, "%s: truncated IDX header: %d dimensions need %zu bytes, found %zu", name,
                        ndim, hdr, len);
    for (int k = 0; k < ndim; k++) {
        dims[k] = idx_be32(buf + 4 + 4 * (size_t)k);
        if (dims[k] == 0)
            return st_error(STRATA_E_FORMAT, "%s: IDX dimension %d is 0", name, k);
    }
    int64_t n = 1;
    for (int k = 0; k < ndim; k++) {
        if (n > INT64_MAX / (int64_t)esize / dims[k]) {
            char shp[160];
            return st_error(STRATA_E_FORMAT, "%s: IDX dimensions %s overflow: the data would exceed 2^63 bytes", name,
                            st_shape_str(shp, sizeof shp, ndim, dims));
        }
        n *= dims[k];
    }
    *ndim_out = ndim;
    *count = n;
    *hdr_bytes = hdr;
    *data_bytes = (uint64_t)n * esize;
    return STRATA_OK;
}

ST_IDX_EXPORT void st_idx_free(st_idx *x)
{
    if (!x)
        return;
    free(x->values);
    free(x->raw);
    memset(x, 0, sizeof *x);
}

/* Checks header and length; fills the header fields of *out (no values). */
static strata_status idx_validate(const uint8_t *buf, size_t len, const char *name, st_idx *out, size_t *hdr_out)
{
    if (!out || (!buf && len))
        return st_error(STRATA_E_INVALID, "st_idx_parse: %s is NULL", out ? "buf" : "out");
    if (!name)
        name = "<buffer>";
    st_idx x = {0};
    size_t hdr = 0;
    uint64_t data_bytes = 0;
    strata_status s = idx_header(buf, len, name, &x.ndim, x.dims, &x.count, &hdr, &data_bytes);
    if (s != STRATA_OK)
        return s;
    x.type = buf[2];
    uint64_t found = len - hdr;
    if (found != data_bytes)
        return st_error(STRATA_E_FORMAT, "%s: expected %llu bytes of data, found %llu%s", name,
                        (unsigned long long)data_bytes, (unsigned long long)found,
                        found < data_bytes ? " (truncated)" : " (trailing garbage)");
    *hdr_out = hdr;
    *out = x;
    return STRATA_OK;
}

ST_IDX_EXPORT strata_status st_idx_parse(const uint8_t *buf, size_t len, const char *name, st_idx *out)
{
    if (!name)
        name = "<buffer>";
    st_idx x = {0};
    size_t hdr = 0;
    strata_status s = idx_validate(buf, len, name, &x, &hdr);
    if (s != STRATA_OK)
        return s;
    /* count <= len here, so the product cannot wrap on a 64-bit host */
    if ((uint64_t)x.count > SIZE_MAX / sizeof(double))
        return st_error(STRATA_E_NOMEM, "%s: %lld values do not fit in memory", name, (long long)x.count);
    x.values = st_malloc((size_t)x.count * sizeof(double));
    if (!x.values)
        return STRATA_E_NOMEM;

    const uint8_t *p = buf + hdr;
    double *v = x.values;
    size_t n = (size_t)x.count;
    switch (x.type) {
    case 0x08:
        for (size_t i = 0; i < n; i++)
            v[i] = p[i];
        break;
    case 0x09:
        for (size_t i = 0; i < n; i++)
            v[i] = (int8_t)p[i];
        break;
    case 0x0B:
        for (size_t i = 0; i < n; i++)
            v[i] = (int16_t)(uint16_t)((unsigned)p[2 * i] << 8 | p[2 * i + 1]);
        break;
    case 0x0C:
        for (size_t i = 0; i < n; i++)
            v[i] = (int32_t)idx_be32(p + 4 * i);
        break;
    case 0x0D:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = idx_be32(p + 4 * i);
            float f;
            memcpy(&f, &bits, sizeof f);
            v[i] = f;
        }
        break;
    default: /* 0x0E, the only type left after idx_header */
        for (size_t i = 0; i < n; i++) {
            uint64_t bits = idx_be64(p + 8 * i);
            double d;
            memcpy(&d, &bits, sizeof d);
            v[i] = d;
        }
        break;
    }
    *out = x;
    return STRATA_OK;
}

/* Reads the whole file into *buf (malloc'd; *len bytes). */
static strata_status idx_slurp(const char *path, uint8_t **buf, size_t *len)
{
    FILE *fp = NULL;
    struct stat sb;
    strata_status s = st_fopen_regular(path, &fp, &sb);
    if (s)
        return s;
    uint8_t *b = NULL;
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        s = st_error(STRATA_E_NOMEM, "%s: %lld bytes do not fit in memory", path, (long long)sb.st_size);
    } else if (!(b = st_malloc((size_t)sb.st_size))) {
        s = STRATA_E_NOMEM;
    } else if (sb.st_size && fread(b, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size) {
        s = ferror(fp) ? st_error(STRATA_E_IO, "%s: read failed: %s", path, strerror(errno))
                       : st_error(STRATA_E_IO, "%s: unexpected end of file (did the file change?)", path);
    }
    fclose(fp);
    if (s != STRATA_OK) {
        free(b);
        return s;
    }
    *buf = b;
    *len = (size_t)sb.st_size;
    return STRATA_OK;
}

/*
 * Inflates the gzip data in[0, in_len) (one or more members) into *out.
 * Output is capped from the IDX header as soon as it is known, so a bogus
 * or hostile stream cannot make us allocate more than header + data + 1
 * bytes; a stream that goes past that is reported as trailing garbage.
 */
static strata_status idx_gunzip(const uint8_t *in, size_t in_len, const char *path, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return st_error(STRATA_E_NOMEM, "%s: cannot initialise zlib: %s", path, zs.msg ? zs.msg : "out of memory");
    strata_status s = STRATA_OK;
    size_t cap = 1 << 16, have = 0, limit = SIZE_MAX;
    uint64_t expect = 0; /* data bytes the header announces, once known */
    int header_checked = 0, too_long = 0;
    uint8_t *buf = st_malloc(cap);
    if (!buf) {
        inflateEnd(&zs);
        return STRATA_E_NOMEM;
    }
    size_t in_pos = 0;
    for (;;) {
        if (have == cap) {
            if (have >= limit) {
                too_long = 1;
                break;
            }
            size_t ncap = cap > limit / 2 ? limit : cap * 2;
            uint8_t *nb = st_realloc(buf, ncap);
            if (!nb) {
                s = STRATA_E_NOMEM;
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        /* zlib counts in uInt; feed at most 1 GiB per call */
        size_t in_chunk = in_len - in_pos < (1u << 30) ? in_len - in_pos : (1u << 30);
        size_t out_chunk = cap - have < (1u << 30) ? cap - have : (1u << 30);
        zs.next_in = (Bytef *)(in + in_pos);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buf + have;
        zs.avail_out = (uInt)out_chunk;
        int rc = inflate(&zs, Z_NO_FLUSH);
        in_pos += in_chunk - zs.avail_in;
        have += out_chunk - zs.avail_out;

        if (!header_checked && have >= 4) {
            int nd;
            int64_t dims[STRATA_MAX_DIMS], count;
            size_t hdr = 0;
            uint64_t data_bytes = 0;
            /* a bad header is reported by st_idx_parse on what we have */
            if (buf[0] != 0 || buf[1] != 0 || !idx_type_size(buf[2]) || buf[3] == 0 || buf[3] > STRATA_MAX_DIMS)
                break;
            if (have >= 4 + 4 * (size_t)buf[3]) {
                header_checked = 1;
                if (idx_header(buf, have, path, &nd, dims, &count, &hdr, &data_bytes) != STRATA_OK)
                    break;
                expect = data_bytes;
                if (data_bytes < SIZE_MAX - hdr - 1)
                    limit = hdr + (size_t)data_bytes + 1;
            }
        }
        if (header_checked && have >= limit) {
            too_long = 1;
            break;
        }

        if (rc == Z_STREAM_END) {
            if (in_pos == in_len)
                break;
            /* another gzip member follows, or garbage */
            if (in_len - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            s = st_error(STRATA_E_FORMAT, "%s: %zu bytes of trailing garbage after the gzip stream", path,
                         in_len - in_pos);
            goto done;
        }
        /* no progress with room to write: the input ran out mid-stream */
        if (rc == Z_BUF_ERROR && have < cap) {
            s = st_error(STRATA_E_FORMAT,
                         "%s: truncated gzip data: unexpected end of the compressed stream after %zu bytes "
                         "(%zu bytes inflated)",
                         path, in_len, have);
            goto done;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s = st_error(rc == Z_MEM_ERROR ? STRATA_E_NOMEM : STRATA_E_FORMAT, "%s: corrupt gzip data: %s", path,
                         zs.msg ? zs.msg : zError(rc));
            goto done;
        }
    }
    if (too_long)
        s = st_error(STRATA_E_FORMAT,
                     "%s: expected %llu bytes of data, found more (trailing garbage in the decompressed stream)",
                     path, (unsigned long long)expect);
done:
    inflateEnd(&zs);
    if (s != STRATA_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    *out_len = have;
    return STRATA_OK;
}

ST_IDX_EXPORT strata_status st_idx_read(const char *path, st_idx *out)
{
    if (!path || !out)
        return st_error(STRATA_E_INVALID, "st_idx_read: %s is NULL", path ? "out" : "path");
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    strata_status s = idx_slurp(path, &raw, &raw_len);
    if (s != STRATA_OK)
        return s;
    if (raw_len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        s = idx_gunzip(raw, raw_len, path, &plain, &plain_len);
        free(raw);
        if (s != STRATA_OK)
            return s;
        raw = plain;
        raw_len = plain_len;
    }
    s = st_idx_parse(raw, raw_len, path, out);
    free(raw);
    return s;
}

double st_idx_at(const st_idx *x, int64_t i)
{
    const uint8_t *p = x->data;
    switch (x->type) {
    case 0x08:
        return p[i];
    case 0x09:
        return (int8_t)p[i];
    case 0x0B:
        return (int16_t)(uint16_t)((unsigned)p[2 * i] << 8 | p[2 * i + 1]);
    case 0x0C:
        return (int32_t)idx_be32(p + 4 * i);
    case 0x0D: {
        uint32_t bits = idx_be32(p + 4 * i);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    default: {
        uint64_t bits = idx_be64(p + 8 * i);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    }
}

ST_IDX_EXPORT strata_status st_idx_read_raw(const char *path, st_idx *out)
{
    if (!path || !out)
        return st_error(STRATA_E_INVALID, "st_idx_read_raw: %s is NULL", path ? "out" : "path");
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    strata_status s = idx_slurp(path, &raw, &raw_len);
    if (s != STRATA_OK)
        return s;
    if (raw_len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        s = idx_gunzip(raw, raw_len, path, &plain, &plain_len);
        free(raw);
        if (s != STRATA_OK)
            return s;
        raw = plain;
        raw_len = plain_len;
    }
    st_idx x = {0};
    size_t hdr = 0;
    s = idx_validate(raw, raw_len, path, &x, &hdr);
    if (s != STRATA_OK) {
        free(raw);
        return s;
    }
    x.raw = raw;
    x.data = raw + hdr;
    *out = x;
    return STRATA_OK;
}
