/* test_safetensors.c - safetensors reader/writer: round trips, every kind of
 * malformed header, truncation at every length, byte mutations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "internal.h"

/* ---- helpers ----------------------------------------------------------- */

/* u64 LE header length, @p header, @p dlen bytes of data (0x5a). Caller frees. */
static uint8_t *blob_make(const char *header, size_t dlen, size_t *len)
{
    size_t hl = strlen(header);
    uint8_t *b = malloc(8 + hl + dlen + 1);
    assert_non_null(b);
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, 0x5a, dlen);
    *len = 8 + hl + dlen;
    return b;
}

static uint8_t *file_bytes(const char *path, size_t *len)
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

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void tmp_path_of(char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "%s.tmp.%ld", path, (long)getpid());
}

/* Writes header + data to a temp file, reads it, expects status @p want and
 * a message naming the file, @p n1 and @p n2. Parses the bytes in memory too. */
static void expect_bad_blob(const uint8_t *b, size_t len, strata_status want, const char *n1, const char *n2)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", b, len));
    st_sft_file *f = NULL;
    strata_status s = st_sft_read(path, &f);
    if (s != want)
        fail_msg("%s: expected %s, got %s: %s", path, strata_status_name(want), strata_status_name(s),
                 strata_last_error());
    assert_null(f);
    tu_assert_error_contains(path);
    if (n1)
        tu_assert_error_contains(n1);
    if (n2)
        tu_assert_error_contains(n2);
    remove(path);

    s = st_sft_parse(b, len, "mem.safetensors", &f);
    assert_int_equal(s, want);
    assert_null(f);
    tu_assert_error_contains("mem.safetensors");
    if (n1)
        tu_assert_error_contains(n1);
    if (n2)
        tu_assert_error_contains(n2);
}

static void expect_bad(const char *header, size_t dlen, const char *n1, const char *n2)
{
    size_t len;
    uint8_t *b = blob_make(header, dlen, &len);
    expect_bad_blob(b, len, STRATA_E_FORMAT, n1, n2);
    free(b);
}

/* ---- round trip -------------------------------------------------------- */

static const float w_data[6] = {1.0f, -2.5f, 3.25f, 1e-30f, -0.0f, 3.4e38f};
static const float b_data[3] = {0.1f, 0.2f, 0.3f};
static const int64_t step_data[1] = {-1234567890123ll};
static const int32_t idx_data[4] = {-1, 0, 7, 2147483647};
static const uint16_t h_data[3] = {0x3c00, 0xc000, 0x7bff};
static const uint16_t bf_data[2] = {0x3f80, 0xff7f};
static const int64_t w_shape[2] = {2, 3}, b_shape[1] = {3}, idx_shape[1] = {4}, empty_shape[2] = {0, 5},
                     h_shape[1] = {3}, bf_shape[1] = {2};

static const st_sft_tensor_in rt_tensors[] = {
    {"layer.0.weight", STRATA_F32, 2, w_shape, w_data},
    {"layer.0.bias", STRATA_F32, 1, b_shape, b_data},
    {"optimizer.step", STRATA_I64, 0, NULL, step_data},
    {"idx", STRATA_I32, 1, idx_shape, idx_data},
    {"empty", STRATA_F32, 2, empty_shape, NULL},
    {"half", STRATA_F16, 1, h_shape, h_data},
    {"brain", STRATA_BF16, 1, bf_shape, bf_data},
};
static const char *const rt_keys[] = {"format", "note", "blank"};
static const char *const rt_vals[] = {"pt", "h\xc3\xa9llo \"quoted\"\n{json}", ""};

static void check_round_trip(const st_sft_file *f)
{
    size_t total = 0;
    assert_int_equal(f->n_entries, ST_ARRAY_LEN(rt_tensors));
    for (size_t k = 0; k < ST_ARRAY_LEN(rt_tensors); k++) {
        const st_sft_tensor_in *t = &rt_tensors[k];
        const st_sft_entry *e = st_sft_find(f, t->name);
        assert_non_null(e);
        assert_string_equal(e->name, t->name);
        assert_int_equal(e->dtype, t->dtype);
        assert_int_equal(e->ndim, t->ndim);
        size_t bytes = strata_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            assert_int_equal(e->shape[d], t->shape[d]);
            bytes *= (size_t)t->shape[d];
        }
        assert_int_equal(e->end - e->begin, bytes);
        assert_true(e->end <= f->data_len);
        if (bytes)
            assert_memory_equal(f->data + e->begin, t->data, bytes);
        total += bytes;
    }
    /* data contiguous: nothing but the tensors */
    assert_int_equal(f->data_len, total);
    assert_string_equal(st_sft_find(f, "half")->dtype_str, "F16");
    assert_string_equal(st_sft_find(f, "brain")->dtype_str, "BF16");
    assert_int_equal(f->n_meta, ST_ARRAY_LEN(rt_keys));
    for (size_t k = 0; k < ST_ARRAY_LEN(rt_keys); k++)
        assert_string_equal(st_sft_meta(f, rt_keys[k]), rt_vals[k]);
    assert_null(st_sft_meta(f, "missing"));
    assert_null(st_sft_find(f, "missing"));
    /* entries are in file order */
    for (size_t k = 1; k < f->n_entries; k++)
        assert_true(f->entries[k - 1].begin <= f->entries[k].begin);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[4096], tmp[8192];
    /* an existing file at path is replaced */
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", "old", 3));
    ST_OK(st_sft_write(path, rt_tensors, ST_ARRAY_LEN(rt_tensors), rt_keys, rt_vals, ST_ARRAY_LEN(rt_keys)));
    tmp_path_of(tmp, sizeof tmp, path);
    assert_false(file_exists(tmp));

    st_sft_file *f = NULL;
    ST_OK(st_sft_read(path, &f));
    assert_string_equal(f->path, path);
    check_round_trip(f);
    st_sft_free(f);

    /* header padded with spaces to a multiple of 8; parse from memory too */
    size_t len;
    uint8_t *b = file_bytes(path, &len);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--)
        hl = (hl << 8) | b[k];
    assert_int_equal(hl % 8, 0);
    assert_int_equal(b[8], '{');
    f = NULL;
    ST_OK(st_sft_parse(b, len, NULL, &f));
    assert_string_equal(f->path, "<buffer>");
    check_round_trip(f);
    st_sft_free(f);
    free(b);

    /* no tensors, no metadata: "{}" */
    ST_OK(st_sft_write(path, NULL, 0, NULL, NULL, 0));
    f = NULL;
    ST_OK(st_sft_read(path, &f));
    assert_int_equal(f->n_entries, 0);
    assert_int_equal(f->n_meta, 0);
    assert_int_equal(f->data_len, 0);
    st_sft_free(f);
    remove(path);

    st_sft_free(NULL);
    assert_null(st_sft_find(NULL, "x"));
    assert_null(st_sft_meta(NULL, "x"));
}

/* Files from other writers: unpadded header, keys in any order, dtypes
 * Strata does not compute with (recorded as dtype 0), trailing spaces. */
static void test_foreign(void **state)
{
    (void)state;
    const char *h = "{\"__metadata__\":{\"a\":\"b\"},"
                    "\"d\":{\"data_offsets\":[8,16],\"shape\":[1],\"dtype\":\"F64\"},"
                    "\"u\":{\"dtype\":\"U8\",\"shape\":[2,4],\"data_offsets\":[0,8]},"
                    "\"z\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[16,16]}}   ";
    size_t len;
    uint8_t *b = blob_make(h, 16, &len);
    st_sft_file *f = NULL;
    ST_OK(st_sft_parse(b, len, "foreign", &f));
    assert_int_equal(f->n_entries, 3);
    const st_sft_entry *d = st_sft_find(f, "d");
    assert_non_null(d);
    assert_int_equal(d->dtype, 0);
    assert_string_equal(d->dtype_str, "F64");
    assert_int_equal(d->begin, 8);
    assert_string_equal(st_sft_find(f, "u")->dtype_str, "U8");
    assert_string_equal(f->entries[0].name, "u"); /* file order */
    assert_string_equal(st_sft_meta(f, "a"), "b");
    st_sft_free(f);
    free(b);
}

/* ---- malformed files --------------------------------------------------- */

static void test_bad_prefix(void **state)
{
    (void)state;
    uint8_t b[32] = {0};
    expect_bad_blob(b, 3, STRATA_E_FORMAT, "3 bytes", NULL);
    expect_bad_blob(b, 0, STRATA_E_FORMAT, "0 bytes", NULL);

    /* header length 1000 in a 20-byte file */
    memset(b, ' ', sizeof b);
    b[0] = 0xe8, b[1] = 0x03;
    memset(b + 2, 0, 6);
    expect_bad_blob(b, 20, STRATA_E_FORMAT, "header length 1000", "12 bytes");

    /* absurd: 2^40 */
    memset(b, 0, 8);
    b[5] = 1;
    expect_bad_blob(b, 20, STRATA_E_FORMAT, "1099511627776", "absurd");
    memset(b, 0xff, 8);
    expect_bad_blob(b, 20, STRATA_E_FORMAT, "18446744073709551615", NULL);

    /* header length 0: empty JSON */
    memset(b, 0, 8);
    expect_bad_blob(b, 8, STRATA_E_FORMAT, "not valid JSON", NULL);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_bad("{\"w\": ", 0, "not valid JSON", "line 1, column");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\n}", 4, "not valid JSON",
               "line 2");
    expect_bad("{\"\xff\":{}}", 0, "not valid JSON", NULL);
    expect_bad("[1,2]", 0, "an array", "[1,2]");
    expect_bad("\"str\"", 0, "not valid JSON", "\"str\"");
    /* jansson would keep only one of two equal keys; a checkpoint with both is ambiguous */
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "duplicate", "w");
}

static void test_bad_entries(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        size_t dlen;
        const char *n1, *n2;
    } cases[] = {
        {"{\"w\":5}", 0, "tensor 'w'", "5"},
        {"{\"w\":[1]}", 0, "tensor 'w'", "an array"},
        {"{\"w\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "\"Q9\""},
        {"{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "\"f32\""},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "missing field 'dtype'"},
        {"{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is an integer", "(7)"},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "'w'", "missing field 'shape'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4, "shape is an integer", "(3)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,4]}}", 4, "shape[0] is -2",
         "non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0] is 1.5", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,4]}}", 4, "shape[1] is \"2\"", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,null],\"data_offsets\":[0,4]}}", 4, "shape[1] is null", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions",
         "'w'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'w'", "missing field 'data_offsets'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets is [0]", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "data_offsets is [0,4,8]", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4, "data_offsets is [0,\"4\"]",
         NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1,3]}}", 4, "data_offsets is [-1,3]", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, "data_offsets is {}", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "[8, 4]", "begin > end"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 16, "[0, 400]",
         "past the data section (16 bytes)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, "hold 12 bytes",
         "shape (2, 2) of F32 needs 16"},
        {"{\"w\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 8, "hold 4 bytes", "() of I64 needs 8"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,16]}}",
         16, "overflows", "4611686018427387904"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,16]}}", 16, "overflows",
         "F32"},
        {"{\"w\":{\"dtype\":\"I64\",\"shape\":[3037000500,3037000500,3],\"data_offsets\":[0,16]}}", 16, "overflows",
         "(3037000500, 3037000500, 3)"},
        /* a huge product wrapping to a small value must not pass: 2^32 * 2^32 = 2^64 -> 0 */
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, "overflows",
         NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"foo\":1}}", 4, "unknown field 'foo'",
         "'w'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "'a' [0, 8] and 'b' [4, 12]", "overlap"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "'k'", "(1)"},
        {"{\"__metadata__\":{\"ok\":\"v\",\"k\":[\"x\"]}}", 0, "'k'", "[\"x\"]"},
        {"{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" is a string", NULL},
    };
    for (size_t k = 0; k < ST_ARRAY_LEN(cases); k++) {
        expect_bad(cases[k].header, cases[k].dlen, cases[k].n1, cases[k].n2);
    }
}

static void test_read_os_errors(void **state)
{
    (void)state;
    st_sft_file *f = NULL;
    assert_int_equal(st_sft_read("/nonexistent/dir/model.safetensors", &f), STRATA_E_IO);
    tu_assert_error_contains("/nonexistent/dir/model.safetensors");
    tu_assert_error_contains(strerror(ENOENT));
    assert_null(f);
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    assert_int_equal(st_sft_read(tmpdir, &f), STRATA_E_IO);
    tu_assert_error_contains("not a regular file");
    assert_int_equal(st_sft_read(NULL, &f), STRATA_E_INVALID);
}

/* Every proper prefix of a valid file is an error, never a crash. */
static void test_truncated(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", NULL, 0));
    ST_OK(st_sft_write(path, rt_tensors, ST_ARRAY_LEN(rt_tensors), rt_keys, rt_vals, ST_ARRAY_LEN(rt_keys)));
    size_t len;
    uint8_t *b = file_bytes(path, &len);
    remove(path);
    for (size_t n = 0; n < len; n++) {
        st_sft_file *f = NULL;
        strata_status s = st_sft_parse(b, n, "trunc", &f);
        if (s != STRATA_E_FORMAT)
            fail_msg("prefix of %zu/%zu bytes: got %s: %s", n, len, strata_status_name(s), strata_last_error());
        assert_null(f);

        snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", b, n));
        s = st_sft_read(path, &f);
        if (s != STRATA_E_FORMAT)
            fail_msg("file of %zu/%zu bytes: got %s: %s", n, len, strata_status_name(s), strata_last_error());
        tu_assert_error_contains(path);
        assert_null(f);
        remove(path);
    }
    st_sft_file *f = NULL;
    ST_OK(st_sft_parse(b, len, "whole", &f));
    st_sft_free(f);
    free(b);
}

/* Every byte replaced by a few values: a clean result either way, and a
 * file that parses still satisfies the invariants. */
static void test_mutations(void **state)
{
    (void)state;
    static const st_sft_tensor_in ts[] = {
        {"a", STRATA_F32, 2, w_shape, w_data},
        {"b", STRATA_I64, 0, NULL, step_data},
    };
    static const char *const mk[] = {"k"};
    static const char *const mv[] = {"v"};
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", NULL, 0));
    ST_OK(st_sft_write(path, ts, 2, mk, mv, 1));
    size_t len;
    uint8_t *orig = file_bytes(path, &len);
    remove(path);
    uint8_t *b = malloc(len);
    assert_non_null(b);
    static const uint8_t vals[] = {0x00, 0xff, '"', '}', ']', '9', '-', ' ', 0x80, 'e'};
    int parsed = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(b, orig, len);
            b[i] = vals[v];
            st_sft_file *f = NULL;
            strata_status s = st_sft_parse(b, len, "mut", &f);
            if (s != STRATA_OK) {
                assert_int_equal(s, STRATA_E_FORMAT);
                assert_null(f);
                continue;
            }
            parsed++;
            for (size_t k = 0; k < f->n_entries; k++) {
                const st_sft_entry *e = &f->entries[k];
                uint64_t bytes = e->end - e->begin, want = 1;
                assert_true(e->begin <= e->end && e->end <= f->data_len);
                assert_true(e->ndim >= 0 && e->ndim <= STRATA_MAX_DIMS);
                for (int d = 0; d < e->ndim; d++)
                    want *= (uint64_t)e->shape[d];
                if (e->dtype)
                    assert_int_equal(bytes, want * strata_dtype_size(e->dtype));
            }
            st_sft_free(f);
        }
    }
    assert_true(parsed > 0); /* data bytes and spaces can change freely */
    free(b);
    free(orig);
}

/* ---- writing failures -------------------------------------------------- */

static void test_write_errors(void **state)
{
    (void)state;
    const char *missing = "/nonexistent-strata-dir/sub/model.safetensors";
    assert_int_equal(st_sft_write(missing, rt_tensors, 2, NULL, NULL, 0), STRATA_E_IO);
    tu_assert_error_contains(missing);
    assert_false(file_exists(missing));

    /* a failed write leaves the existing file untouched and no temp file */
    char path[4096], tmp[8192];
    snprintf(path, sizeof path, "%s", tu_write_temp(".safetensors", NULL, 0));
    ST_OK(st_sft_write(path, rt_tensors, 2, NULL, NULL, 0));
    size_t len0;
    uint8_t *before = file_bytes(path, &len0);
    tmp_path_of(tmp, sizeof tmp, path);

    st_sft_tensor_in bad[3] = {rt_tensors[0], rt_tensors[1], rt_tensors[1]};
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("layer.0.bias");
    tu_assert_error_contains("twice");

    bad[2].name = "__metadata__";
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("reserved");

    bad[2] = rt_tensors[1];
    bad[2].name = "x";
    bad[2].dtype = 99;
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_DTYPE);
    tu_assert_error_contains("99");
    tu_assert_error_contains(path);

    static const int64_t neg[1] = {-3};
    bad[2] = rt_tensors[1];
    bad[2].name = "x";
    bad[2].shape = neg;
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("-3");

    bad[2] = rt_tensors[1];
    bad[2].name = "x";
    bad[2].data = NULL;
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("NULL");

    bad[2] = rt_tensors[1];
    bad[2].name = "bad\xff";
    assert_int_equal(st_sft_write(path, bad, 3, NULL, NULL, 0), STRATA_E_INVALID);
    tu_assert_error_contains("UTF-8");

    static const char *const k1[] = {"k"};
    static const char *const v1[] = {"\xc3"};
    assert_int_equal(st_sft_write(path, rt_tensors, 1, k1, v1, 1), STRATA_E_INVALID);
    tu_assert_error_contains("UTF-8");

    size_t len1;
    uint8_t *after = file_bytes(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    assert_false(file_exists(tmp));
    free(before);
    free(after);
    remove(path);

    /* rename over a directory fails after the temp file was written: it must go */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s.d", path);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(st_sft_write(dir, rt_tensors, 2, NULL, NULL, 0), STRATA_E_IO);
    tu_assert_error_contains(dir);
    tmp_path_of(tmp, sizeof tmp, dir);
    assert_false(file_exists(tmp));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_bad_prefix),    cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),   cmocka_unit_test(test_read_os_errors),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
