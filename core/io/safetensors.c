/*
 * safetensors.c - reading and writing safetensors files (checkpoints).
 *
 * Layout: u64 little-endian N, then N bytes of a UTF-8 JSON object, then the
 * data section. Each key of the object is a tensor name mapped to
 *   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * with offsets relative to the data section; the optional "__metadata__" key
 * maps to an object of string values. Everything is validated before any
 * tensor is used: a checkpoint is user input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies tensor bytes as they are: it assumes a little-endian host"
#endif

/* Not in the public headers, but exported so the tests, which link against
 * the shared library, can reach the parser (see tests/CMakeLists.txt). */
#define ST_SFT_EXPORT __attribute__((visibility("default")))

/* A header longer than this is garbage, not a checkpoint. */
#define SFT_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

static const char sft_metadata_key[] = "__metadata__";

/* Strata reads the first five; the others are recorded with dtype 0 so that
 * files written by other tools still parse and their sizes are checked. */
static const struct {
    const char *name;
    int32_t dtype;
    uint64_t size;
} sft_dtypes[] = {
    {"F32", STRATA_F32, 4}, {"I32", STRATA_I32, 4}, {"I64", STRATA_I64, 8}, {"F16", STRATA_F16, 2},
    {"BF16", STRATA_BF16, 2}, {"F64", 0, 8}, {"U64", 0, 8}, {"U32", 0, 4}, {"I16", 0, 2}, {"U16", 0, 2},
    {"I8", 0, 1}, {"U8", 0, 1}, {"BOOL", 0, 1}, {"F8_E4M3", 0, 1}, {"F8_E5M2", 0, 1},
};

static int sft_dtype_index(const char *name)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(sft_dtypes); k++)
        if (strcmp(sft_dtypes[k].name, name) == 0)
            return (int)k;
    return -1;
}

static const char *sft_dtype_str(int32_t dtype)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(sft_dtypes); k++)
        if (sft_dtypes[k].dtype == dtype && dtype != 0)
            return sft_dtypes[k].name;
    return NULL;
}

static const char *sft_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Compact JSON text of @p v for messages, cut to fit @p buf. */
static const char *sft_json_text(const json_t *v, char *buf, size_t n)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, n, "(%s)", sft_json_type(v));
        return buf;
    }
    if (strlen(s) < n)
        snprintf(buf, n, "%s", s);
    else
        snprintf(buf, n, "%.*s...", (int)(n - 4), s);
    free(s);
    return buf;
}

static int sft_get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* ---- reading ----------------------------------------------------------- */

/* Checks the 8-byte prefix of a file of @p total bytes; @p first8 is read
 * only when total >= 8. */
static strata_status sft_check_prefix(const uint8_t *first8, uint64_t total, const char *name, uint64_t *hlen)
{
    if (total < 8)
        return st_error(STRATA_E_FORMAT,
                        "%s: file is %llu bytes, too short for the 8-byte header length of a safetensors file", name,
                        (unsigned long long)total);
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = (n << 8) | first8[k];
    if (n > SFT_MAX_HEADER)
        return st_error(STRATA_E_FORMAT,
                        "%s: header length %llu is absurd (more than %llu bytes); not a safetensors file", name,
                        (unsigned long long)n, (unsigned long long)SFT_MAX_HEADER);
    if (n > total - 8)
        return st_error(STRATA_E_FORMAT, "%s: header length %llu is larger than the rest of the file (%llu bytes)",
                        name, (unsigned long long)n, (unsigned long long)(total - 8));
    *hlen = n;
    return STRATA_OK;
}

static strata_status sft_parse_meta(const json_t *obj, const char *name, st_sft_file *f)
{
    char txt[96];
    if (!json_is_object(obj))
        return st_error(STRATA_E_FORMAT, "%s: \"%s\" is %s (%s), expected an object of strings", name, sft_metadata_key,
                        sft_json_type(obj), sft_json_text(obj, txt, sizeof txt));
    size_t n = json_object_size(obj);
    f->meta_keys = st_calloc(n, sizeof *f->meta_keys);
    f->meta_vals = st_calloc(n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals)
        return STRATA_E_NOMEM;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (!json_is_string(val))
            return st_error(STRATA_E_FORMAT, "%s: \"%s\" value of '%s' is %s (%s), expected a string", name,
                            sft_metadata_key, key, sft_json_type(val), sft_json_text(val, txt, sizeof txt));
        char *k = st_strdup(key), *v = st_strdup(json_string_value(val));
        if (!k || !v) {
            free(k);
            free(v);
            return STRATA_E_NOMEM;
        }
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta] = v;
        f->n_meta++;
    }
    return STRATA_OK;
}

/* Fills @p e (whose name is set) from the JSON entry @p obj. */
static strata_status sft_parse_entry(const json_t *obj, uint64_t data_len, const char *name, st_sft_entry *e)
{
    char txt[96], shp[160];
    const char *t = e->name;
    if (!json_is_object(obj))
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': entry is %s (%s), expected an object", name, t,
                        sft_json_type(obj), sft_json_text(obj, txt, sizeof txt));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 && strcmp(key, "data_offsets") != 0)
            return st_error(STRATA_E_FORMAT,
                            "%s: tensor '%s': unknown field '%s' (expected dtype, shape, data_offsets)", name, t, key);
    }

    const json_t *jd = json_object_get(obj, "dtype");
    if (!jd)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': missing field 'dtype'", name, t);
    if (!json_is_string(jd))
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': dtype is %s (%s), expected a string such as \"F32\"", name,
                        t, sft_json_type(jd), sft_json_text(jd, txt, sizeof txt));
    int di = sft_dtype_index(json_string_value(jd));
    if (di < 0)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': unknown dtype \"%.40s\"", name, t,
                        json_string_value(jd));
    e->dtype = sft_dtypes[di].dtype;
    snprintf(e->dtype_str, sizeof e->dtype_str, "%s", sft_dtypes[di].name);

    const json_t *js = json_object_get(obj, "shape");
    if (!js)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': missing field 'shape'", name, t);
    if (!json_is_array(js))
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': shape is %s (%s), expected a list of integers", name, t,
                        sft_json_type(js), sft_json_text(js, txt, sizeof txt));
    if (json_array_size(js) > STRATA_MAX_DIMS)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': shape has %zu dimensions, more than the %d Strata supports",
                        name, t, json_array_size(js), STRATA_MAX_DIMS);
    e->ndim = (int)json_array_size(js);
    int has_zero = 0;
    for (int k = 0; k < e->ndim; k++) {
        const json_t *d = json_array_get(js, (size_t)k);
        uint64_t v;
        if (!sft_get_u64(d, &v))
            return st_error(STRATA_E_FORMAT, "%s: tensor '%s': shape[%d] is %s, expected a non-negative integer", name,
                            t, k, sft_json_text(d, txt, sizeof txt));
        e->shape[k] = (int64_t)v;
        has_zero |= v == 0;
    }
    st_shape_str(shp, sizeof shp, e->ndim, e->shape);

    /* numel * elemsize, refusing to wrap. A zero dimension makes the tensor
     * empty however large the others are. */
    uint64_t bytes = 0;
    if (!has_zero) {
        uint64_t numel = 1;
        for (int k = 0; k < e->ndim; k++) {
            uint64_t d = (uint64_t)e->shape[k];
            if (numel > UINT64_MAX / d)
                return st_error(STRATA_E_FORMAT, "%s: tensor '%s': shape %s overflows: its element count exceeds 2^64",
                                name, t, shp);
            numel *= d;
        }
        if (numel > (uint64_t)INT64_MAX / sft_dtypes[di].size)
            return st_error(STRATA_E_FORMAT, "%s: tensor '%s': shape %s of %s overflows: its size exceeds 2^63 bytes",
                            name, t, shp, e->dtype_str);
        bytes = numel * sft_dtypes[di].size;
    }

    const json_t *jo = json_object_get(obj, "data_offsets");
    if (!jo)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': missing field 'data_offsets'", name, t);
    uint64_t begin = 0, end = 0;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !sft_get_u64(json_array_get(jo, 0), &begin) ||
        !sft_get_u64(json_array_get(jo, 1), &end))
        return st_error(STRATA_E_FORMAT,
                        "%s: tensor '%s': data_offsets is %s, expected two non-negative integers [begin, end]", name,
                        t, sft_json_text(jo, txt, sizeof txt));
    if (begin > end)
        return st_error(STRATA_E_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end", name, t,
                        (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return st_error(STRATA_E_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu]: end is past the data section (%llu bytes)",
                        name, t, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_len);
    if (end - begin != bytes)
        return st_error(STRATA_E_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %llu",
                        name, t, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin), shp, e->dtype_str, (unsigned long long)bytes);
    e->begin = begin;
    e->end = end;
    return STRATA_OK;
}

static int sft_cmp_entry(const void *pa, const void *pb)
{
    const st_sft_entry *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Parses the JSON header into @p f; f->entries end up in file order. */
static strata_status sft_parse_header(const char *hdr, size_t hlen, uint64_t data_len, const char *name,
                                      st_sft_file *f)
{
    json_error_t je;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return st_error(STRATA_E_FORMAT, "%s: header is not valid JSON: %s (line %d, column %d)", name, je.text,
                        je.line, je.column);
    strata_status s = STRATA_OK;
    char txt[96];
    if (!json_is_object(root)) {
        s = st_error(STRATA_E_FORMAT, "%s: header is %s (%s), expected a JSON object", name, sft_json_type(root),
                     sft_json_text(root, txt, sizeof txt));
        goto done;
    }
    f->entries = st_calloc(json_object_size(root), sizeof *f->entries);
    if (!f->entries) {
        s = STRATA_E_NOMEM;
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, sft_metadata_key) == 0) {
            s = sft_parse_meta(val, name, f);
        } else {
            st_sft_entry *e = &f->entries[f->n_entries];
            e->name = st_strdup(key);
            if (!e->name) {
                s = STRATA_E_NOMEM;
                goto done;
            }
            f->n_entries++;
            s = sft_parse_entry(val, data_len, name, e);
        }
        if (s != STRATA_OK)
            goto done;
    }

    qsort(f->entries, f->n_entries, sizeof *f->entries, sft_cmp_entry);
    /* Empty tensors occupy no bytes and overlap nothing. */
    const st_sft_entry *prev = NULL;
    for (size_t k = 0; k < f->n_entries; k++) {
        const st_sft_entry *e = &f->entries[k];
        if (e->begin == e->end)
            continue;
        if (prev && e->begin < prev->end) {
            s = st_error(STRATA_E_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", name,
                         prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end, e->name,
                         (unsigned long long)e->begin, (unsigned long long)e->end);
            goto done;
        }
        if (!prev || e->end > prev->end)
            prev = e;
    }
done:
    json_decref(root);
    return s;
}

ST_SFT_EXPORT void st_sft_free(st_sft_file *f)
{
    if (!f)
        return;
    for (size_t k = 0; k < f->n_entries; k++)
        free(f->entries[k].name);
    for (size_t k = 0; k < f->n_meta; k++) {
        free(f->meta_keys[k]);
        free(f->meta_vals[k]);
    }
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->data);
    free(f->path);
    free(f);
}

ST_SFT_EXPORT strata_status st_sft_parse(const uint8_t *buf, size_t len, const char *name, st_sft_file **out)
{
    if (!out || (!buf && len))
        return st_error(STRATA_E_INVALID, "st_sft_parse: %s is NULL", out ? "buf" : "out");
    if (!name)
        name = "<buffer>";
    uint64_t hlen = 0;
    strata_status s = sft_check_prefix(buf, len, name, &hlen);
    if (s != STRATA_OK)
        return s;
    st_sft_file *f = st_calloc(1, sizeof *f);
    if (!f)
        return STRATA_E_NOMEM;
    f->path = st_strdup(name);
    s = f->path ? sft_parse_header((const char *)buf + 8, (size_t)hlen, len - 8 - hlen, name, f) : STRATA_E_NOMEM;
    if (s == STRATA_OK) {
        f->data_len = len - 8 - hlen;
        f->data = st_malloc((size_t)f->data_len);
        if (!f->data)
            s = STRATA_E_NOMEM;
        else if (f->data_len)
            memcpy(f->data, buf + 8 + hlen, (size_t)f->data_len);
    }
    if (s != STRATA_OK) {
        st_sft_free(f);
        return s;
    }
    *out = f;
    return STRATA_OK;
}

/* fread of exactly @p n bytes; the message names @p path and @p what. */
static strata_status sft_fread(FILE *fp, void *dst, size_t n, const char *path, const char *what)
{
    if (n == 0 || fread(dst, 1, n, fp) == n)
        return STRATA_OK;
    if (ferror(fp))
        return st_error(STRATA_E_IO, "%s: reading the %s failed: %s", path, what, strerror(errno));
    return st_error(STRATA_E_IO, "%s: unexpected end of file reading the %s (did the file change?)", path, what);
}

ST_SFT_EXPORT strata_status st_sft_read(const char *path, st_sft_file **out)
{
    if (!path || !out)
        return st_error(STRATA_E_INVALID, "st_sft_read: %s is NULL", path ? "out" : "path");
    FILE *fp = NULL;
    struct stat sb;
    strata_status s = st_fopen_regular(path, &fp, &sb);
    if (s)
        return s;
    st_sft_file *f = NULL;
    char *hdr = NULL;
    uint64_t total = (uint64_t)sb.st_size, hlen = 0;
    uint8_t first8[8];
    if (total >= 8 && (s = sft_fread(fp, first8, 8, path, "header length")) != STRATA_OK)
        goto done;
    if ((s = sft_check_prefix(first8, total, path, &hlen)) != STRATA_OK)
        goto done;
    hdr = st_malloc((size_t)hlen);
    f = st_calloc(1, sizeof *f);
    if (!hdr || !f || !(f->path = st_strdup(path))) {
        s = STRATA_E_NOMEM;
        goto done;
    }
    if ((s = sft_fread(fp, hdr, (size_t)hlen, path, "header")) != STRATA_OK)
        goto done;
    uint64_t data_len = total - 8 - hlen;
    if ((s = sft_parse_header(hdr, (size_t)hlen, data_len, path, f)) != STRATA_OK)
        goto done;
    if (data_len > SIZE_MAX) {
        s = st_error(STRATA_E_NOMEM, "%s: data section of %llu bytes does not fit in memory", path,
                     (unsigned long long)data_len);
        goto done;
    }
    f->data_len = data_len;
    f->data = st_malloc((size_t)data_len);
    if (!f->data) {
        s = STRATA_E_NOMEM;
        goto done;
    }
    s = sft_fread(fp, f->data, (size_t)data_len, path, "data section");
done:
    free(hdr);
    fclose(fp);
    if (s != STRATA_OK) {
        st_sft_free(f);
        return s;
    }
    *out = f;
    return STRATA_OK;
}

ST_SFT_EXPORT const st_sft_entry *st_sft_find(const st_sft_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (size_t k = 0; k < f->n_entries; k++)
        if (strcmp(f->entries[k].name, name) == 0)
            return &f->entries[k];
    return NULL;
}

ST_SFT_EXPORT const char *st_sft_meta(const st_sft_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    for (size_t k = 0; k < f->n_meta; k++)
        if (strcmp(f->meta_keys[k], key) == 0)
            return f->meta_vals[k];
    return NULL;
}

/* ---- writing ----------------------------------------------------------- */

/* Adds @p t's entry at data offset *off to @p root and advances *off. */
static strata_status sft_add_entry(json_t *root, const st_sft_tensor_in *t, size_t idx, const char *path,
                                   uint64_t *off)
{
    if (!t->name)
        return st_error(STRATA_E_INVALID, "%s: tensor %zu has no name", path, idx);
    if (strcmp(t->name, sft_metadata_key) == 0)
        return st_error(STRATA_E_INVALID, "%s: tensor %zu: the name \"%s\" is reserved", path, idx, sft_metadata_key);
    if (json_object_get(root, t->name))
        return st_error(STRATA_E_INVALID, "%s: tensor '%s' appears twice", path, t->name);
    const char *ds = sft_dtype_str(t->dtype);
    if (!ds)
        return st_error(STRATA_E_DTYPE, "%s: tensor '%s': cannot write dtype %d", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > STRATA_MAX_DIMS || (t->ndim > 0 && !t->shape))
        return st_error(STRATA_E_INVALID, "%s: tensor '%s': bad ndim %d", path, t->name, t->ndim);
    uint64_t numel = 1;
    int has_zero = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0)
            return st_error(STRATA_E_INVALID, "%s: tensor '%s': shape[%d] is %lld", path, t->name, k,
                            (long long)t->shape[k]);
        has_zero |= t->shape[k] == 0;
    }
    for (int k = 0; k < t->ndim && !has_zero; k++) {
        uint64_t d = (uint64_t)t->shape[k];
        if (numel > UINT64_MAX / d)
            return st_error(STRATA_E_INVALID, "%s: tensor '%s': shape overflows", path, t->name);
        numel *= d;
    }
    uint64_t esize = strata_dtype_size(t->dtype);
    uint64_t bytes = has_zero ? 0 : numel * esize;
    if ((!has_zero && numel > (uint64_t)INT64_MAX / esize) || bytes > (uint64_t)INT64_MAX - *off || bytes > SIZE_MAX)
        return st_error(STRATA_E_INVALID, "%s: tensor '%s': sizes overflow", path, t->name);
    if (bytes && !t->data)
        return st_error(STRATA_E_INVALID, "%s: tensor '%s': data is NULL", path, t->name);

    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    int bad = !e || !shape || !offs;
    for (int k = 0; k < t->ndim && !bad; k++)
        bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[k])) != 0;
    if (!bad)
        bad = json_array_append_new(offs, json_integer((json_int_t)*off)) != 0 ||
              json_array_append_new(offs, json_integer((json_int_t)(*off + bytes))) != 0 ||
              json_object_set_new(e, "dtype", json_string(ds)) != 0;
    if (!bad) {
        bad = json_object_set_new(e, "shape", shape) != 0;
        shape = NULL;
    }
    if (!bad) {
        bad = json_object_set_new(e, "data_offsets", offs) != 0;
        offs = NULL;
    }
    json_decref(shape);
    json_decref(offs);
    if (bad) {
        json_decref(e);
        return st_error(STRATA_E_NOMEM, "%s: out of memory building the header", path);
    }
    if (json_object_set_new(root, t->name, e) != 0)
        return st_error(STRATA_E_INVALID, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
    *off += bytes;
    return STRATA_OK;
}

static strata_status sft_build_header(const char *path, const st_sft_tensor_in *tensors, size_t n,
                                      const char *const *meta_keys, const char *const *meta_vals, size_t n_meta,
                                      char **out)
{
    json_t *root = json_object();
    if (!root)
        return st_error(STRATA_E_NOMEM, "%s: out of memory building the header", path);
    strata_status s = STRATA_OK;
    uint64_t off = 0;
    for (size_t k = 0; k < n && s == STRATA_OK; k++)
        s = sft_add_entry(root, &tensors[k], k, path, &off);
    if (s == STRATA_OK && n_meta) {
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, sft_metadata_key, meta) != 0)
            s = st_error(STRATA_E_NOMEM, "%s: out of memory building the header", path);
        for (size_t k = 0; k < n_meta && s == STRATA_OK; k++) {
            if (!meta_keys[k] || !meta_vals[k]) {
                s = st_error(STRATA_E_INVALID, "%s: metadata entry %zu has a NULL %s", path, k,
                             meta_keys[k] ? "value" : "key");
                break;
            }
            json_t *v = json_string(meta_vals[k]);
            if (!v || json_object_set_new(meta, meta_keys[k], v) != 0)
                s = st_error(STRATA_E_INVALID, "%s: metadata '%s' is not valid UTF-8", path, meta_keys[k]);
        }
    }
    if (s == STRATA_OK) {
        *out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        if (!*out)
            s = st_error(STRATA_E_NOMEM, "%s: out of memory serialising the header", path);
    }
    json_decref(root);
    return s;
}

/* fsync of the directory holding @p path, so the rename itself is durable. */
static strata_status sft_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? st_malloc((size_t)(slash - path) + 2) : st_strdup(".");
    if (!dir)
        return STRATA_E_NOMEM;
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    strata_status s = STRATA_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        s = st_error(STRATA_E_IO, "%s: written, but opening its directory %s to sync it failed: %s", path, dir,
                     strerror(errno));
    } else {
        /* Some file systems cannot sync a directory (EINVAL); nothing to do there. */
        if (fsync(fd) != 0 && errno != EINVAL)
            s = st_error(STRATA_E_IO, "%s: written, but syncing its directory %s failed: %s", path, dir,
                         strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

/* The file a write of @p path replaces, into *out (malloc'd): @p path, or
 * the file a symbolic link there names (written through, as open() would).
 * A directory, device, FIFO or socket is refused: the rename would put a
 * plain file in its place. */
static strata_status sft_write_target(const char *path, char **out)
{
    struct stat sb;
    char *real = NULL;
    *out = NULL;
    if (lstat(path, &sb) != 0) /* a new file (or one the write will say it cannot make) */
        sb.st_mode = S_IFREG;
    else if (S_ISLNK(sb.st_mode) && (!(real = realpath(path, NULL)) || stat(real, &sb) != 0)) {
        const int e = errno;
        free(real);
        return st_error(STRATA_E_IO, "%s: cannot write: %s", path,
                        e == ENOENT ? "it is a symbolic link to a file that does not exist" : strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        free(real);
        return st_error(STRATA_E_IO, "%s: cannot write: %s", path,
                        S_ISDIR(sb.st_mode) ? "it is a directory" : "it is not a regular file (a device, FIFO or socket)");
    }
    *out = real ? real : st_strdup(path);
    return *out ? STRATA_OK : STRATA_E_NOMEM;
}

ST_SFT_EXPORT strata_status st_sft_write(const char *path, const st_sft_tensor_in *tensors, size_t n,
                                         const char *const *meta_keys, const char *const *meta_vals, size_t n_meta)
{
    if (!path || (n && !tensors) || (n_meta && (!meta_keys || !meta_vals)))
        return st_error(STRATA_E_INVALID, "st_sft_write: %s is NULL", !path ? "path" : n && !tensors ? "tensors"
                                                                                      : "meta_keys/meta_vals");
    char *hdr = NULL, *target = NULL;
    strata_status s = sft_build_header(path, tensors, n, meta_keys, meta_vals, n_meta, &hdr);
    if (s == STRATA_OK)
        s = sft_write_target(path, &target);
    if (s != STRATA_OK) {
        free(hdr);
        return s;
    }
    path = target;

    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    size_t tlen = strlen(path) + 32;
    char *tmp = st_malloc(tlen);
    if (!tmp) {
        free(hdr);
        free(target);
        return STRATA_E_NOMEM;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    FILE *fp = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        s = st_error(STRATA_E_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        goto fail_nofile;
    }
    struct stat was; /* a file written again keeps its mode (a private checkpoint stays private) */
    if (stat(path, &was) == 0 && S_ISREG(was.st_mode))
        (void)fchmod(fd, was.st_mode & 07777);
    fp = fdopen(fd, "wb");
    if (!fp) {
        s = st_error(STRATA_E_IO, "%s: cannot open temporary file %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto fail;
    }

    uint8_t len8[8];
    for (int k = 0; k < 8; k++)
        len8[k] = (uint8_t)((uint64_t)padded >> (8 * k));
    static const char spaces[8] = "        ";
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen &&
             fwrite(spaces, 1, padded - hlen, fp) == padded - hlen;
    for (size_t k = 0; k < n && ok; k++) {
        /* sizes were checked while building the header */
        size_t bytes = strata_dtype_size(tensors[k].dtype);
        for (int d = 0; d < tensors[k].ndim; d++)
            bytes *= (size_t)tensors[k].shape[d];
        ok = bytes == 0 || fwrite(tensors[k].data, 1, bytes, fp) == bytes;
    }
    if (!ok || fflush(fp) != 0) {
        s = st_error(STRATA_E_IO, "%s: writing temporary file %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(fp)) != 0) {
        s = st_error(STRATA_E_IO, "%s: syncing temporary file %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) {
        s = st_error(STRATA_E_IO, "%s: closing temporary file %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        s = st_error(STRATA_E_IO, "%s: renaming %s over it failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    free(tmp);
    free(hdr);
    s = sft_sync_dir(path);
    free(target);
    return s;

fail:
    if (fp)
        fclose(fp);
    remove(tmp);
fail_nofile:
    free(tmp);
    free(hdr);
    free(target);
    return s;
}
