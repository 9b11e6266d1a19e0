/* test_idx.c - IDX reader (plain and gzip), IDX datasets and the loader. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "testutil.h"

#include "internal.h"

/* ---- fixtures ---------------------------------------------------------- */

typedef struct blob {
    uint8_t *b;
    size_t n;
} blob;

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++)
        p[k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
}

/* IDX bytes of @p type with @p ndim dims holding @p vals. Caller frees .b. */
static blob idx_make(int type, int ndim, const uint32_t *dims, const double *vals)
{
    size_t count = 1, es = type == 0x0B ? 2 : type == 0x0C || type == 0x0D ? 4 : type == 0x0E ? 8 : 1;
    for (int k = 0; k < ndim; k++)
        count *= dims[k];
    blob x = {malloc(4 + 4 * (size_t)ndim + count * es), 4 + 4 * (size_t)ndim + count * es};
    assert_non_null(x.b);
    uint8_t *p = x.b;
    p[0] = 0, p[1] = 0, p[2] = (uint8_t)type, p[3] = (uint8_t)ndim;
    p += 4;
    for (int k = 0; k < ndim; k++, p += 4)
        put_be(p, dims[k], 4);
    for (size_t i = 0; i < count; i++, p += es) {
        if (type == 0x0D) {
            float f = (float)vals[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            put_be(p, u, 4);
        } else if (type == 0x0E) {
            uint64_t u;
            memcpy(&u, &vals[i], 8);
            put_be(p, u, 8);
        } else {
            put_be(p, (uint64_t)(int64_t)vals[i], (int)es);
        }
    }
    return x;
}

/* Temp file paths are copied out of tu_write_temp's static buffer. */
typedef struct tpath {
    char p[4096];
} tpath;

static tpath write_plain(const void *b, size_t n)
{
    tpath t;
    snprintf(t.p, sizeof t.p, "%s", tu_write_temp(".idx", b, n));
    return t;
}

static tpath write_gz(const void *b, size_t n)
{
    tpath t;
    snprintf(t.p, sizeof t.p, "%s", tu_write_temp(".idx.gz", NULL, 0));
    gzFile g = gzopen(t.p, "wb");
    assert_non_null(g);
    if (n)
        assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    return t;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Reads @p path expecting @p want with a message naming the file, @p n1 and @p n2. */
static void expect_read_error(const char *path, strata_status want, const char *n1, const char *n2)
{
    st_idx x = {0};
    strata_status s = st_idx_read(path, &x);
    if (s != want)
        fail_msg("%s: expected %s, got %s: %s", path, strata_status_name(want), strata_status_name(s),
                 strata_last_error());
    assert_null(x.values);
    tu_assert_error_contains(path);
    if (n1)
        tu_assert_error_contains(n1);
    if (n2)
        tu_assert_error_contains(n2);
}

/* The same bytes, plain and gzip-compressed, give the same error. */
static void expect_bad_bytes(const void *b, size_t n, const char *n1, const char *n2)
{
    tpath p = write_plain(b, n), g = write_gz(b, n);
    expect_read_error(p.p, STRATA_E_FORMAT, n1, n2);
    expect_read_error(g.p, STRATA_E_FORMAT, n1, n2);
    remove(p.p);
    remove(g.p);
}

/* ---- IDX reading ------------------------------------------------------- */

static void test_round_trip_types(void **state)
{
    (void)state;
    static const struct {
        int type;
        double v[6];
    } cases[] = {
        {0x08, {0, 1, 127, 128, 255, 3}},
        {0x09, {-128, -1, 0, 1, 127, 5}},
        {0x0B, {-32768, -2, 0, 300, 32767, 7}},
        {0x0C, {-2147483648.0, -5, 0, 70000, 2147483647.0, 9}},
        {0x0D, {1.5, -2.25, 0, 3.4e38, 1e-30, -7.125}},
        {0x0E, {1e300, -1e-300, 0.1, -0.0, 12345.678901234, 2}},
    };
    static const uint32_t dims[2] = {2, 3};
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        blob b = idx_make(cases[c].type, 2, dims, cases[c].v);
        tpath paths[2] = {write_plain(b.b, b.n), write_gz(b.b, b.n)};
        for (int g = 0; g < 2; g++) {
            st_idx x = {0};
            ST_OK(st_idx_read(paths[g].p, &x));
            assert_int_equal(x.type, cases[c].type);
            assert_int_equal(x.ndim, 2);
            assert_int_equal(x.dims[0], 2);
            assert_int_equal(x.dims[1], 3);
            assert_int_equal(x.count, 6);
            for (int i = 0; i < 6; i++) {
                double want = cases[c].type == 0x0D ? (double)(float)cases[c].v[i] : cases[c].v[i];
                if (x.values[i] != want)
                    fail_msg("type 0x%02x %s value %d: %.17g != %.17g", cases[c].type, g ? "gz" : "plain", i,
                             x.values[i], want);
            }
            st_idx_free(&x);
            assert_null(x.values);
            remove(paths[g].p);
        }
        /* parse from memory too */
        st_idx x = {0};
        ST_OK(st_idx_parse(b.b, b.n, "mem", &x));
        assert_int_equal(x.count, 6);
        st_idx_free(&x);
        free(b.b);
    }
    st_idx_free(NULL);
}

/* More than the reader's first inflate buffer, and several gzip members. */
static void test_gz_large_and_multi_member(void **state)
{
    (void)state;
    static const uint32_t dims[3] = {500, 20, 20};
    size_t n = 500 * 20 * 20;
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (double)((i * 2654435761u) >> 24 & 0xff);
    blob b = idx_make(0x08, 3, dims, v);
    tpath g = write_gz(b.b, b.n);
    st_idx x = {0};
    ST_OK(st_idx_read(g.p, &x));
    assert_int_equal(x.count, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        if (x.values[i] != v[i])
            fail_msg("value %zu: %g != %g", i, x.values[i], v[i]);
    st_idx_free(&x);
    remove(g.p);

    /* two members: the header in one, the data in the next */
    tpath a = write_gz(b.b, 16), c = write_gz(b.b + 16, b.n - 16);
    size_t la, lc;
    uint8_t *ga = slurp(a.p, &la), *gc = slurp(c.p, &lc);
    uint8_t *both = malloc(la + lc);
    assert_non_null(both);
    memcpy(both, ga, la);
    memcpy(both + la, gc, lc);
    tpath m = write_plain(both, la + lc);
    ST_OK(st_idx_read(m.p, &x));
    assert_int_equal(x.count, (int64_t)n);
    assert_true(x.values[n - 1] == v[n - 1]);
    st_idx_free(&x);

    /* garbage after the last member */
    memcpy(both + la, "junk", 4);
    tpath j = write_plain(both, la + 4);
    expect_read_error(j.p, STRATA_E_FORMAT, "trailing garbage after the gzip stream", NULL);

    remove(a.p), remove(c.p), remove(m.p), remove(j.p);
    free(ga), free(gc), free(both), free(b.b), free(v);
}

static void test_bad_headers(void **state)
{
    (void)state;
    expect_read_error("/nonexistent-strata/train-images.idx", STRATA_E_IO, strerror(ENOENT), NULL);
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    expect_read_error(tmpdir, STRATA_E_IO, "not a regular file", NULL);

    tpath e = write_plain(NULL, 0);
    expect_read_error(e.p, STRATA_E_FORMAT, "0 bytes", NULL);
    remove(e.p);

    static const uint8_t magic[] = {0x01, 0x02, 0x03, 0x04, 0, 0, 0, 1, 7};
    expect_bad_bytes(magic, sizeof magic, "bad IDX magic 01 02 03 04", NULL);
    static const uint8_t type[] = {0, 0, 0x0a, 1, 0, 0, 0, 1, 7};
    expect_bad_bytes(type, sizeof type, "bad IDX magic 00 00 0a 01", NULL);
    static const uint8_t nd0[] = {0, 0, 0x08, 0, 7};
    expect_bad_bytes(nd0, sizeof nd0, "0 dimensions", NULL);
    static const uint8_t nd9[] = {0, 0, 0x08, 9, 0, 0, 0, 1};
    expect_bad_bytes(nd9, sizeof nd9, "9 dimensions", NULL);
    static const uint8_t short_hdr[] = {0, 0, 0x08, 2, 0, 0, 0, 1, 0, 0};
    expect_bad_bytes(short_hdr, sizeof short_hdr, "truncated IDX header", "need 12 bytes, found 10");
    static const uint8_t two[] = {0, 0};
    expect_bad_bytes(two, sizeof two, "2 bytes", NULL);
    static const uint8_t zero_dim[] = {0, 0, 0x08, 2, 0, 0, 0, 3, 0, 0, 0, 0};
    expect_bad_bytes(zero_dim, sizeof zero_dim, "dimension 1 is 0", NULL);
    static const uint8_t huge[] = {0, 0, 0x0e, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 1, 2, 3};
    expect_bad_bytes(huge, sizeof huge, "overflow", "(4294967295, 4294967295, 4294967295)");
}

static void test_bad_lengths(void **state)
{
    (void)state;
    static const uint32_t dims[2] = {3, 4};
    static const double v[12] = {0};
    blob b = idx_make(0x08, 2, dims, v);
    expect_bad_bytes(b.b, b.n - 1, "expected 12 bytes of data, found 11", NULL);
    uint8_t *longer = calloc(1, b.n + 1);
    assert_non_null(longer);
    memcpy(longer, b.b, b.n);
    expect_bad_bytes(longer, b.n + 1, "expected 12 bytes of data", "trailing garbage");
    /* plain reports the exact length */
    tpath p = write_plain(longer, b.n + 1);
    expect_read_error(p.p, STRATA_E_FORMAT, "found 13", NULL);
    remove(p.p);

    /* i32 data one element short */
    static const uint32_t d1[1] = {5};
    static const double v5[5] = {1, 2, 3, 4, 5};
    blob c = idx_make(0x0C, 1, d1, v5);
    expect_bad_bytes(c.b, c.n - 4, "expected 20 bytes of data, found 16", NULL);
    free(c.b);
    free(longer);
    free(b.b);
}

/* A gzip file cut at every length, and one with corrupted bytes. */
static void test_bad_gzip(void **state)
{
    (void)state;
    static const uint32_t dims[2] = {10, 30};
    double v[300];
    for (int i = 0; i < 300; i++)
        v[i] = (i * 37) % 251;
    blob b = idx_make(0x08, 2, dims, v);
    tpath g = write_gz(b.b, b.n);
    size_t len;
    uint8_t *gz = slurp(g.p, &len);
    remove(g.p);
    for (size_t n = 0; n < len; n++) {
        tpath t = write_plain(gz, n);
        st_idx x = {0};
        strata_status s = st_idx_read(t.p, &x);
        if (s != STRATA_E_FORMAT)
            fail_msg("gzip cut at %zu of %zu bytes: %s: %s", n, len, strata_status_name(s), strata_last_error());
        tu_assert_error_contains(t.p);
        /* past the 10-byte gzip header the message says what happened */
        if (n > 10)
            tu_assert_error_contains("truncated");
        assert_null(x.values);
        remove(t.p);
    }

    /* corrupt the deflate stream: zlib's message is passed on */
    int corrupt_seen = 0;
    for (size_t i = 10; i < len - 8; i++) {
        uint8_t saved = gz[i];
        gz[i] ^= 0xff;
        tpath t = write_plain(gz, len);
        st_idx x = {0};
        strata_status s = st_idx_read(t.p, &x);
        gz[i] = saved;
        remove(t.p);
        assert_int_equal(s, STRATA_E_FORMAT); /* the CRC catches what inflate does not */
        tu_assert_error_contains(t.p);
        corrupt_seen += strstr(strata_last_error(), "corrupt gzip data") != NULL;
    }
    assert_true(corrupt_seen > 0);

    /* a bad CRC in the trailer */
    gz[len - 8] ^= 1;
    tpath t = write_plain(gz, len);
    expect_read_error(t.p, STRATA_E_FORMAT, "corrupt gzip data", "incorrect data check");
    remove(t.p);

    free(gz);
    free(b.b);
}

/* ---- datasets ---------------------------------------------------------- */

static void test_dataset_load_idx(void **state)
{
    (void)state;
    static const uint32_t xd[3] = {5, 2, 3}, yd[1] = {5};
    double xv[30], yv[5] = {0, 1, 2, 1, 4};
    for (int i = 0; i < 30; i++)
        xv[i] = i * 8;
    blob xb = idx_make(0x08, 3, xd, xv), yb = idx_make(0x08, 1, yd, yv);
    tpath xp = write_gz(xb.b, xb.n), yp = write_plain(yb.b, yb.n);

    strata_dataset *d = NULL;
    ST_OK(strata_dataset_load_idx(xp.p, yp.p, 255.0, &d));
    assert_int_equal(strata_dataset_size(d), 5);
    int nd = -1;
    const int64_t *shape = strata_dataset_shape(d, &nd);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    assert_int_equal(strata_dataset_classes(d), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(strata_dataset_y(d, i), (int64_t)yv[i]);
        const float *x = strata_dataset_x(d, i);
        assert_non_null(x);
        for (int k = 0; k < 6; k++)
            assert_true(x[k] == (float)(xv[i * 6 + k] / 255.0));
    }
    assert_null(strata_dataset_x(d, 5));
    assert_null(strata_dataset_x(d, -1));
    assert_int_equal(strata_dataset_y(d, 5), -1);
    strata_dataset_destroy(d);
    strata_dataset_destroy(NULL);

    /* count mismatch names both files and both counts */
    static const uint32_t y4[1] = {4};
    blob y4b = idx_make(0x08, 1, y4, yv);
    tpath y4p = write_plain(y4b.b, y4b.n);
    d = NULL;
    assert_int_equal(strata_dataset_load_idx(xp.p, y4p.p, 255.0, &d), STRATA_E_FORMAT);
    assert_null(d);
    tu_assert_error_contains(xp.p);
    tu_assert_error_contains(y4p.p);
    tu_assert_error_contains("has 5 examples");
    tu_assert_error_contains("has 4 labels");

    /* labels must be 1-D */
    static const uint32_t y2d[2] = {5, 1};
    blob y2b = idx_make(0x08, 2, y2d, yv);
    tpath y2p = write_plain(y2b.b, y2b.n);
    assert_int_equal(strata_dataset_load_idx(xp.p, y2p.p, 255.0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains(y2p.p);
    tu_assert_error_contains("1-D");
    tu_assert_error_contains("(5, 1)");

    /* labels must be non-negative integers */
    double neg[5] = {0, 1, -1, 2, 3}, frac[5] = {0, 1, 2, 0.5, 3};
    blob ynb = idx_make(0x09, 1, yd, neg), yfb = idx_make(0x0D, 1, yd, frac);
    tpath ynp = write_plain(ynb.b, ynb.n), yfp = write_plain(yfb.b, yfb.n);
    assert_int_equal(strata_dataset_load_idx(xp.p, ynp.p, 255.0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains(ynp.p);
    tu_assert_error_contains("label 2 is -1");
    assert_int_equal(strata_dataset_load_idx(xp.p, yfp.p, 255.0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains("label 3 is 0.5");

    /* a missing or broken file is named */
    assert_int_equal(strata_dataset_load_idx("/nonexistent-strata/x.idx", yp.p, 255.0, &d), STRATA_E_IO);
    tu_assert_error_contains("/nonexistent-strata/x.idx");
    assert_int_equal(strata_dataset_load_idx(xp.p, "/nonexistent-strata/y.idx", 255.0, &d), STRATA_E_IO);
    tu_assert_error_contains("/nonexistent-strata/y.idx");
    assert_int_equal(strata_dataset_load_idx(xp.p, yp.p, 0.0, &d), STRATA_E_INVALID);
    assert_int_equal(strata_dataset_load_idx(xp.p, yp.p, NAN, &d), STRATA_E_INVALID);
    assert_null(d);

    /* float images must be finite (they trained as NaN before), as in a safetensors dataset */
    double xnan[30];
    memcpy(xnan, xv, sizeof xnan);
    xnan[13] = NAN;
    blob xnb = idx_make(0x0D, 3, xd, xnan);
    tpath xnp = write_plain(xnb.b, xnb.n);
    assert_int_equal(strata_dataset_load_idx(xnp.p, yp.p, 255.0, &d), STRATA_E_FORMAT);
    tu_assert_error_contains(xnp.p);
    tu_assert_error_contains("value 13 of the images (example 2) is NaN");
    assert_null(d);

    remove(xp.p), remove(yp.p), remove(y4p.p), remove(y2p.p), remove(ynp.p), remove(yfp.p), remove(xnp.p);
    free(xb.b), free(yb.b), free(y4b.b), free(y2b.b), free(ynb.b), free(yfb.b), free(xnb.b);
}

static void test_dataset_from_host(void **state)
{
    (void)state;
    static const int64_t shape[2] = {1, 2};
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t y[3] = {2, 0, 7};
    strata_dataset *d = NULL;
    ST_OK(strata_dataset_from_host(3, 2, shape, x, y, &d));
    assert_int_equal(strata_dataset_size(d), 3);
    assert_int_equal(strata_dataset_classes(d), 8);
    assert_true(strata_dataset_x(d, 2)[1] == 6.0f);
    assert_int_equal(strata_dataset_y(d, 2), 7);
    strata_dataset_destroy(d);

    static const int64_t bad_y[3] = {0, -4, 1};
    d = NULL;
    assert_int_equal(strata_dataset_from_host(3, 2, shape, x, bad_y, &d), STRATA_E_INVALID);
    tu_assert_error_contains("label 1 is -4");
    assert_null(d);
    static const int64_t max_y[3] = {0, INT64_MAX, 1}; /* its class count would wrap */
    assert_int_equal(strata_dataset_from_host(3, 2, shape, x, max_y, &d), STRATA_E_INVALID);
    tu_assert_error_contains("label 1 is 9223372036854775807");
    assert_null(d);
    static const int64_t neg_shape[2] = {1, -2};
    assert_int_equal(strata_dataset_from_host(3, 2, neg_shape, x, y, &d), STRATA_E_INVALID);
    tu_assert_error_contains("(1, -2)");
    static const int64_t s8[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(strata_dataset_from_host(3, 8, s8, x, y, &d), STRATA_E_INVALID);
    tu_assert_error_contains("8 dimensions");
    assert_int_equal(strata_dataset_from_host(-1, 2, shape, x, y, &d), STRATA_E_INVALID);
    assert_int_equal(strata_dataset_from_host(3, 2, shape, NULL, y, &d), STRATA_E_INVALID);
    assert_null(d);
}

/* ---- loader (no device) ------------------------------------------------ */

static strata_dataset *index_dataset(int64_t n)
{
    /* example i: x = (i, -i), y = i, so a batch says which examples it holds */
    float *x = malloc((size_t)n * 2 * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)-i;
        y[i] = i;
    }
    static const int64_t shape[1] = {2};
    strata_dataset *d = NULL;
    ST_OK(strata_dataset_from_host(n, 1, shape, x, y, &d));
    free(x);
    free(y);
    return d;
}

static void test_loader_counts(void **state)
{
    (void)state;
    strata_dataset *d = index_dataset(10);
    static const struct {
        int64_t batch;
        int drop_last;
        int64_t want;
    } cases[] = {{3, 0, 4}, {3, 1, 3}, {5, 0, 2}, {5, 1, 2}, {1, 0, 10}, {10, 1, 1}, {11, 0, 1}, {11, 1, 0}};
    for (size_t k = 0; k < ST_ARRAY_LEN(cases); k++) {
        strata_loader *l = NULL;
        ST_OK(strata_loader_create(d, cases[k].batch, 1, 42, cases[k].drop_last, &l));
        assert_int_equal(strata_loader_batches(l), cases[k].want);
        strata_loader_destroy(l);
    }
    strata_loader *l = NULL;
    assert_int_equal(strata_loader_create(d, 0, 1, 42, 0, &l), STRATA_E_INVALID);
    tu_assert_error_contains("batch size 0");
    assert_int_equal(strata_loader_create(NULL, 4, 1, 42, 0, &l), STRATA_E_INVALID);
    assert_null(l);
    strata_loader_destroy(NULL);
    strata_loader_start_epoch(NULL, 1);
    strata_loader_skip(NULL, 1);
    assert_int_equal(strata_loader_batches(NULL), 0);
    strata_dataset_destroy(d);
}

/* ---- loader_next: needs a runtime and a device ------------------------- */

#define MAXN 256

/* Runs the rest of the current epoch of @p l. order[] gets the example
 * indices in order, sizes[] each batch's size; returns the batch count. */
static int run_epoch(strata_loader *l, strata_device *dev, int64_t *order, int64_t *sizes, int64_t *n_out)
{
    int nb = 0;
    int64_t n = 0;
    for (;;) {
        strata_tensor *x = NULL, *y = NULL;
        int done = -1;
        ST_OK(strata_loader_next(l, dev, &x, &y, &done));
        if (done) {
            assert_null(x);
            assert_null(y);
            break;
        }
        assert_int_equal(done, 0);
        assert_int_equal(strata_tensor_ndim(x), 2);
        assert_int_equal(strata_tensor_dtype(x), STRATA_F32);
        assert_int_equal(strata_tensor_ndim(y), 1);
        assert_int_equal(strata_tensor_dtype(y), STRATA_I64);
        int64_t b = strata_tensor_shape(y)[0];
        assert_int_equal(strata_tensor_shape(x)[0], b);
        assert_int_equal(strata_tensor_shape(x)[1], 2);
        assert_true(n + b <= MAXN);
        float xs[2 * MAXN];
        int64_t ys[MAXN];
        ST_OK(strata_tensor_read(x, xs, (size_t)b * 2 * sizeof(float)));
        ST_OK(strata_tensor_read(y, ys, (size_t)b * sizeof(int64_t)));
        for (int64_t r = 0; r < b; r++) {
            assert_true(xs[2 * r] == (float)ys[r]);
            assert_true(xs[2 * r + 1] == (float)-ys[r]);
            order[n + r] = ys[r];
        }
        sizes[nb++] = b;
        n += b;
        strata_tensor_release(x);
        strata_tensor_release(y);
    }
    *n_out = n;
    return nb;
}

static void test_loader_next_epochs(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const int64_t N = 103;
    strata_dataset *d = index_dataset(N);
    strata_loader *l = NULL, *l2 = NULL;
    ST_OK(strata_loader_create(d, 10, 1, 7, 0, &l));
    ST_OK(strata_loader_create(d, 10, 1, 7, 0, &l2));
    int64_t o0[MAXN], o1[MAXN], o1b[MAXN], sizes[MAXN], n;

    /* every example exactly once per epoch, batches of 10 then 3 */
    assert_int_equal(run_epoch(l, dev, o0, sizes, &n), 11);
    assert_int_equal(n, N);
    for (int k = 0; k < 10; k++)
        assert_int_equal(sizes[k], 10);
    assert_int_equal(sizes[10], 3);
    int seen[MAXN] = {0};
    for (int64_t i = 0; i < N; i++) {
        assert_true(o0[i] >= 0 && o0[i] < N);
        seen[o0[i]]++;
    }
    for (int64_t i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    /* the epoch stays over until the next one starts */
    assert_int_equal(run_epoch(l, dev, o1, sizes, &n), 0);

    /* same (seed, epoch): same order, whatever ran before; other epoch: different */
    strata_loader_start_epoch(l, 1);
    assert_int_equal(run_epoch(l, dev, o1, sizes, &n), 11);
    strata_loader_start_epoch(l2, 1);
    assert_int_equal(run_epoch(l2, dev, o1b, sizes, &n), 11);
    assert_memory_equal(o1, o1b, (size_t)N * sizeof(int64_t));
    assert_memory_not_equal(o0, o1, (size_t)N * sizeof(int64_t));
    strata_loader_start_epoch(l2, 0);
    assert_int_equal(run_epoch(l2, dev, o1b, sizes, &n), 11);
    assert_memory_equal(o0, o1b, (size_t)N * sizeof(int64_t));

    /* shuffled at all, and another seed gives another order */
    int64_t ident = 0;
    for (int64_t i = 0; i < N; i++)
        ident += o0[i] == i;
    assert_true(ident < N / 2);
    strata_loader *l3 = NULL;
    ST_OK(strata_loader_create(d, 10, 1, 8, 0, &l3));
    assert_int_equal(run_epoch(l3, dev, o1b, sizes, &n), 11);
    assert_memory_not_equal(o0, o1b, (size_t)N * sizeof(int64_t));
    strata_loader_destroy(l3);

    /* no shuffle: identity in every epoch */
    ST_OK(strata_loader_create(d, 10, 0, 7, 0, &l3));
    strata_loader_start_epoch(l3, 5);
    assert_int_equal(run_epoch(l3, dev, o1b, sizes, &n), 11);
    for (int64_t i = 0; i < N; i++)
        assert_int_equal(o1b[i], i);
    strata_loader_destroy(l3);

    strata_loader_destroy(l);
    strata_loader_destroy(l2);
    strata_dataset_destroy(d);
    strata_runtime_destroy(rt);
}

static void test_loader_next_drop_last_skip(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    const int64_t N = 103;
    strata_dataset *d = index_dataset(N);
    int64_t full[MAXN], part[MAXN], sizes[MAXN], n;

    /* drop_last: 10 full batches, 100 distinct examples */
    strata_loader *l = NULL;
    ST_OK(strata_loader_create(d, 10, 1, 3, 1, &l));
    assert_int_equal(strata_loader_batches(l), 10);
    strata_loader_start_epoch(l, 2);
    assert_int_equal(run_epoch(l, dev, full, sizes, &n), 10);
    assert_int_equal(n, 100);
    for (int k = 0; k < 10; k++)
        assert_int_equal(sizes[k], 10);
    int seen[MAXN] = {0};
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(seen[full[i]]++, 0);

    /* skip(3) resumes at the fourth batch of the same epoch's order */
    strata_loader_start_epoch(l, 2);
    strata_loader_skip(l, 3);
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 7);
    assert_int_equal(n, 70);
    assert_memory_equal(part, full + 30, 70 * sizeof(int64_t));

    /* starting an epoch mid-way restarts it; skipping past the end ends it */
    strata_loader_start_epoch(l, 2);
    strata_loader_skip(l, 9);
    strata_loader_skip(l, 0);
    strata_loader_skip(l, -5);
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 1);
    assert_memory_equal(part, full + 90, 10 * sizeof(int64_t));
    strata_loader_start_epoch(l, 2);
    strata_loader_skip(l, INT64_MAX);
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 0);
    strata_loader_destroy(l);

    /* without drop_last the short batch comes last; skip counts it */
    ST_OK(strata_loader_create(d, 10, 1, 3, 0, &l));
    strata_loader_start_epoch(l, 2);
    assert_int_equal(run_epoch(l, dev, full, sizes, &n), 11);
    strata_loader_start_epoch(l, 2);
    strata_loader_skip(l, 10);
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(part, full + 100, 3 * sizeof(int64_t));
    strata_loader_start_epoch(l, 2);
    strata_loader_skip(l, 11);
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 0);

    strata_tensor *x = NULL, *y = NULL;
    int done = 0;
    assert_int_equal(strata_loader_next(l, NULL, &x, &y, &done), STRATA_E_INVALID);
    strata_loader_destroy(l);

    /* a batch larger than the dataset is one short batch */
    ST_OK(strata_loader_create(d, 1000, 1, 3, 0, &l));
    assert_int_equal(run_epoch(l, dev, part, sizes, &n), 1);
    assert_int_equal(n, N);
    strata_loader_destroy(l);

    strata_dataset_destroy(d);
    strata_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_types),
        cmocka_unit_test(test_gz_large_and_multi_member),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_dataset_load_idx),
        cmocka_unit_test(test_dataset_from_host),
        cmocka_unit_test(test_loader_counts),
        cmocka_unit_test(test_loader_next_epochs),
        cmocka_unit_test(test_loader_next_drop_last_skip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
