/*
 * text.c - plain-text corpora for character-level language models: read a
 * file as UTF-8 characters or bytes, build (or apply) a vocabulary, hold out
 * the last fraction for validation, and cut windows of seq_len + 1 tokens:
 * random ones for training, every non-overlapping one for validation (the
 * recipe of WORKLOADS.md Q2 and its PyTorch peer).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TEXT_MAX_BYTES ((size_t)1 << 31) /* token counts stay far inside int64 and int32 ids */

struct strata_text {
    int32_t mode;
    uint32_t *vocab; /* (V) code point or byte of each id */
    int64_t n_vocab;
    uint32_t *sorted; /* (V) the vocab sorted, for lookups ... */
    int32_t *sorted_id; /* (V) ... and the id of each */
    int32_t *tokens;  /* (n) ids of the whole text; train = [0, n_train), val = [n_train, n) */
    int64_t n, n_train;
};

/* ---- UTF-8 ----------------------------------------------------------------- */

/* A Unicode scalar value: a code point that is not a surrogate. */
static int is_scalar(uint32_t c)
{
    return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
}

/* Decodes one code point at p[0..len); returns its length, or 0 when the
 * bytes there are not well-formed UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). */
static int utf8_next(const uint8_t *p, size_t len, uint32_t *cp)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int n;
    uint32_t c, min;
    if ((b & 0xE0) == 0xC0)
        n = 2, c = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0)
        n = 3, c = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0)
        n = 4, c = b & 0x07, min = 0x10000;
    else
        return 0;
    if ((size_t)n > len)
        return 0;
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[k] & 0x3F);
    }
    if (c < min || !is_scalar(c))
        return 0;
    *cp = c;
    return n;
}

/* Writes @p cp as UTF-8 into out (4 bytes of room); returns the length. */
static int utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* "U+00E9 'é'" (or "byte 0xE9") for messages. */
static const char *describe_token(int32_t mode, uint32_t cp, char *buf, size_t size)
{
    if (mode == STRATA_TEXT_BYTES) {
        snprintf(buf, size, "byte 0x%02X", (unsigned)cp);
        return buf;
    }
    char u[8] = {0};
    if (cp >= 0x20 && cp != 0x7F)
        utf8_put(cp, u);
    snprintf(buf, size, "U+%04X%s%s%s", (unsigned)cp, u[0] ? " '" : "", u, u[0] ? "'" : "");
    return buf;
}

/* ---- vocabulary ---------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Id of @p cp, or -1. */
static int32_t vocab_find(const strata_text *t, uint32_t cp)
{
    int64_t lo = 0, hi = t->n_vocab;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (t->sorted[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_vocab && t->sorted[lo] == cp ? t->sorted_id[lo] : -1;
}

/* Fills t->sorted / t->sorted_id from t->vocab; rejects duplicates. */
static strata_status vocab_index(strata_text *t, const char *name)
{
    int64_t V = t->n_vocab;
    t->sorted = st_malloc(sizeof(uint32_t) * (size_t)(V ? V : 1));
    t->sorted_id = st_malloc(sizeof(int32_t) * (size_t)(V ? V : 1));
    if (!t->sorted || !t->sorted_id)
        return STRATA_E_NOMEM;
    for (int64_t k = 0; k < V; k++) {
        t->sorted[k] = t->vocab[k];
        t->sorted_id[k] = (int32_t)k;
    }
    for (int64_t k = 1; k < V; k++) { /* V is small (tens to thousands): insertion sort */
        uint32_t v = t->sorted[k];
        int32_t id = t->sorted_id[k];
        int64_t j = k - 1;
        while (j >= 0 && t->sorted[j] > v) {
            t->sorted[j + 1] = t->sorted[j];
            t->sorted_id[j + 1] = t->sorted_id[j];
            j--;
        }
        t->sorted[j + 1] = v;
        t->sorted_id[j + 1] = id;
    }
    for (int64_t k = 1; k < V; k++)
        if (t->sorted[k] == t->sorted[k - 1]) {
            char d[48];
            return st_error(STRATA_E_INVALID, "%s: the given vocabulary lists %s twice", name,
                            describe_token(t->mode, t->sorted[k], d, sizeof d));
        }
    return STRATA_OK;
}

/* ---- reading ------------------------------------------------------------- */

/* Decodes buf into code points / bytes (cps, n entries); rejects bad UTF-8. */
static strata_status decode_all(const uint8_t *buf, size_t len, int32_t mode, const char *name, uint32_t *cps,
                                int64_t *n_out, size_t *offsets)
{
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = 1;
        if (mode == STRATA_TEXT_BYTES)
            cp = buf[i];
        else if (!(l = utf8_next(buf + i, len - i, &cp)))
            return st_error(STRATA_E_FORMAT,
                            "%s: invalid UTF-8 at byte offset %zu (byte 0x%02X); the text must be UTF-8 in "
                            "character mode (use mode: bytes for other encodings)",
                            name, i, buf[i]);
        if (offsets)
            offsets[n] = i;
        cps[n++] = cp;
        i += (size_t)l;
    }
    *n_out = n;
    return STRATA_OK;
}

static strata_status text_build(const uint8_t *buf, size_t len, const char *name, const strata_text_options *opts,
                                strata_text **out)
{
    strata_text_options o = {.struct_size = sizeof o, .mode = STRATA_TEXT_CHARS, .val_fraction = 0.05};
    if (opts) {
        if (opts->struct_size < offsetof(strata_text_options, vocab_size) + sizeof(int64_t))
            return st_error(STRATA_E_INVALID, "%s: strata_text_options.struct_size %zu is too small (%zu)", name,
                            opts->struct_size, sizeof o);
        o = *opts;
    }
    if (o.mode != STRATA_TEXT_CHARS && o.mode != STRATA_TEXT_BYTES)
        return st_error(STRATA_E_INVALID, "%s: text mode %d is neither characters (0) nor bytes (1)", name,
                        (int)o.mode);
    if (!(o.val_fraction >= 0.0 && o.val_fraction < 1.0))
        return st_error(STRATA_E_INVALID, "%s: val_fraction must be in [0, 1), got %g", name, o.val_fraction);
    if (o.vocab && (o.vocab_size < 1 || o.vocab_size > INT32_MAX))
        return st_error(STRATA_E_INVALID, "%s: a given vocabulary needs 1..%d entries, got %lld", name, INT32_MAX,
                        (long long)o.vocab_size);
    if (len > TEXT_MAX_BYTES)
        return st_error(STRATA_E_INVALID, "%s: %zu bytes is more than the limit of %zu", name, len, TEXT_MAX_BYTES);

    strata_text *t = st_calloc(1, sizeof *t);
    uint32_t *cps = st_malloc(sizeof(uint32_t) * (len ? len : 1));
    size_t *offs = o.vocab ? st_malloc(sizeof(size_t) * (len ? len : 1)) : NULL;
    strata_status rc = STRATA_E_NOMEM;
    if (!t || !cps || (o.vocab && !offs))
        goto fail;
    t->mode = o.mode;
    if ((rc = decode_all(buf, len, o.mode, name, cps, &t->n, offs)))
        goto fail;
    rc = STRATA_E_NOMEM;
    if (o.vocab) {
        t->n_vocab = o.vocab_size;
        if (!(t->vocab = st_malloc(sizeof(uint32_t) * (size_t)t->n_vocab)))
            goto fail;
        memcpy(t->vocab, o.vocab, sizeof(uint32_t) * (size_t)t->n_vocab);
        for (int64_t k = 0; k < t->n_vocab; k++) {
            uint32_t c = t->vocab[k];
            int bad = o.mode == STRATA_TEXT_BYTES ? c > 255 : !is_scalar(c);
            if (bad) {
                rc = st_error(STRATA_E_INVALID, "%s: vocabulary entry %lld (%#x) is not a %s", name, (long long)k,
                              (unsigned)c, o.mode == STRATA_TEXT_BYTES ? "byte (0..255)" : "Unicode scalar value");
                goto fail;
            }
        }
    } else {
        /* the sorted distinct tokens, as the peer's sorted(set(text)) */
        uint32_t *s = st_malloc(sizeof(uint32_t) * (t->n ? (size_t)t->n : 1));
        if (!s)
            goto fail;
        memcpy(s, cps, sizeof(uint32_t) * (size_t)t->n);
        qsort(s, (size_t)t->n, sizeof *s, cmp_u32);
        int64_t v = 0;
        for (int64_t k = 0; k < t->n; k++)
            if (!v || s[k] != s[v - 1])
                s[v++] = s[k];
        t->vocab = s;
        t->n_vocab = v;
    }
    if ((rc = vocab_index(t, name)))
        goto fail;
    rc = STRATA_E_NOMEM;
    if (!(t->tokens = st_malloc(sizeof(int32_t) * (t->n ? (size_t)t->n : 1))))
        goto fail;
    for (int64_t k = 0; k < t->n; k++) {
        int32_t id = vocab_find(t, cps[k]);
        if (id < 0) {
            char d[48];
            rc = st_error(STRATA_E_NOT_FOUND,
                          "%s: %s at byte offset %zu is not in the given vocabulary of %lld %s", name,
                          describe_token(t->mode, cps[k], d, sizeof d), offs ? offs[k] : (size_t)k,
                          (long long)t->n_vocab, t->mode == STRATA_TEXT_BYTES ? "bytes" : "characters");
            goto fail;
        }
        t->tokens[k] = id;
    }
    t->n_train = (int64_t)((double)t->n * (1.0 - o.val_fraction));
    if (t->n_train > t->n)
        t->n_train = t->n;
    free(cps);
    free(offs);
    *out = t;
    return STRATA_OK;
fail:
    free(cps);
    free(offs);
    strata_text_destroy(t);
    return rc;
}

strata_status strata_text_from_memory(const void *data, size_t len, const char *name, const strata_text_options *opts,
                                      strata_text **out)
{
    if ((!data && len) || !out)
        return st_error(STRATA_E_INVALID, "strata_text_from_memory: data and out must not be NULL");
    return text_build(data, len, name ? name : "<text>", opts, out);
}

strata_status strata_text_load(const char *path, const strata_text_options *opts, strata_text **out)
{
    if (!path || !out)
        return st_error(STRATA_E_INVALID, "strata_text_load: path and out must not be NULL");
    void *buf = NULL;
    size_t len = 0;
    strata_status rc = st_read_file(path, "text file", TEXT_MAX_BYTES, STRATA_E_INVALID, "", &buf, &len);
    if (!rc)
        rc = text_build(buf, len, path, opts, out);
    free(buf);
    return rc;
}

void strata_text_destroy(strata_text *t)
{
    if (!t)
        return;
    free(t->vocab);
    free(t->sorted);
    free(t->sorted_id);
    free(t->tokens);
    free(t);
}

strata_text_mode strata_text_get_mode(const strata_text *t)
{
    return t ? (strata_text_mode)t->mode : STRATA_TEXT_CHARS;
}

const uint32_t *strata_text_vocab(const strata_text *t, int64_t *size)
{
    if (size)
        *size = t ? t->n_vocab : 0;
    return t ? t->vocab : NULL;
}

const int32_t *strata_text_tokens(const strata_text *t, int split, int64_t *n)
{
    if (!t || (split != 0 && split != 1)) { /* another split read as the held-out part */
        if (n)
            *n = 0;
        return NULL;
    }
    if (n)
        *n = split ? t->n - t->n_train : t->n_train;
    return split ? t->tokens + t->n_train : t->tokens;
}

/* ---- encoding and decoding ----------------------------------------------- */

strata_status strata_text_encode(const strata_text *t, const char *text, size_t len, int64_t *ids, size_t cap,
                                 size_t *n)
{
    if (!t || (!text && len) || (!ids && cap) || !n)
        return st_error(STRATA_E_INVALID, "strata_text_encode: NULL argument");
    const uint8_t *p = (const uint8_t *)text;
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = 1;
        if (t->mode == STRATA_TEXT_BYTES)
            cp = p[i];
        else if (!(l = utf8_next(p + i, len - i, &cp)))
            return st_error(STRATA_E_FORMAT, "text to encode: invalid UTF-8 at byte offset %zu (byte 0x%02X)", i,
                            p[i]);
        int32_t id = vocab_find(t, cp);
        if (id < 0) {
            char d[48];
            return st_error(STRATA_E_NOT_FOUND, "text to encode: %s at byte offset %zu is not in the vocabulary of "
                                                "%lld %s",
                            describe_token(t->mode, cp, d, sizeof d), i, (long long)t->n_vocab,
                            t->mode == STRATA_TEXT_BYTES ? "bytes" : "characters");
        }
        if (count == cap)
            return st_error(STRATA_E_INVALID, "text to encode: more than %zu tokens fit in the output", cap);
        ids[count++] = id;
        i += (size_t)l;
    }
    *n = count;
    return STRATA_OK;
}

strata_status strata_text_decode(const strata_text *t, int64_t id, char *buf, size_t size, size_t *len)
{
    if (!t || !buf || size < 5)
        return st_error(STRATA_E_INVALID, "strata_text_decode: NULL argument or a buffer of fewer than 5 bytes");
    if (id < 0 || id >= t->n_vocab)
        return st_error(STRATA_E_INVALID, "strata_text_decode: token id %lld outside the vocabulary [0, %lld)",
                        (long long)id, (long long)t->n_vocab);
    int l;
    if (t->mode == STRATA_TEXT_BYTES) {
        buf[0] = (char)t->vocab[id];
        l = 1;
    } else {
        l = utf8_put(t->vocab[id], buf);
    }
    buf[l] = '\0';
    if (len)
        *len = (size_t)l;
    return STRATA_OK;
}

/* ---- windows ------------------------------------------------------------- */

/* splitmix64's finaliser: a bijective 64-bit mix. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* (rows, seq_len + 1) windows starting at starts[] -> x, y (rows, seq_len) i64. */
static strata_status make_xy(const strata_text *t, strata_device *dev, const int64_t *starts, int64_t rows,
                             int64_t seq_len, strata_tensor **x, strata_tensor **y)
{
    size_t cells = (size_t)rows * (size_t)seq_len;
    int64_t *hx = st_malloc(sizeof(int64_t) * cells * 2);
    if (!hx)
        return STRATA_E_NOMEM;
    int64_t *hy = hx + cells;
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *w = t->tokens + starts[r];
        for (int64_t j = 0; j < seq_len; j++) {
            hx[r * seq_len + j] = w[j];
            hy[r * seq_len + j] = w[j + 1];
        }
    }
    int64_t shape[2] = {rows, seq_len};
    strata_tensor *tx = NULL, *ty = NULL;
    strata_status rc = strata_tensor_from_host(dev, STRATA_I64, 2, shape, hx, &tx);
    if (!rc)
        rc = strata_tensor_from_host(dev, STRATA_I64, 2, shape, hy, &ty);
    free(hx);
    if (rc) {
        strata_tensor_release(tx);
        return rc;
    }
    *x = tx;
    *y = ty;
    return STRATA_OK;
}

strata_status strata_text_train_batch(const strata_text *t, strata_device *dev, int64_t batch, int64_t seq_len,
                                      uint64_t seed, int64_t step, strata_tensor **x, strata_tensor **y)
{
    if (!t || !dev || !x || !y)
        return st_error(STRATA_E_INVALID, "strata_text_train_batch: NULL argument");
    if (seq_len < 1 || batch < 1)
        return st_error(STRATA_E_INVALID, "text batch: sequence length (%lld) and batch size (%lld) must be positive",
                        (long long)seq_len, (long long)batch);
    if (t->n_train - 1 < seq_len)
        return st_error(STRATA_E_INVALID,
                        "text batch: the training part has %lld tokens, fewer than a window of sequence length %lld "
                        "needs (%lld + 1)",
                        (long long)t->n_train, (long long)seq_len, (long long)seq_len);
    if ((uint64_t)batch > SIZE_MAX / (2 * sizeof(int64_t)) / (uint64_t)seq_len)
        return st_error(STRATA_E_INVALID, "text batch: %lld windows of %lld tokens do not fit in memory",
                        (long long)batch, (long long)seq_len);
    int64_t *starts = st_malloc(sizeof(int64_t) * (size_t)batch);
    if (!starts)
        return STRATA_E_NOMEM;
    /* counter-based: row r of step s draws mix64(key + (r + 1) * golden) with
     * key = mix64(seed) ^ mix64(step + c), independent of what ran before */
    uint64_t range = (uint64_t)(t->n_train - seq_len); /* starts 0 .. n_train - seq_len - 1 */
    uint64_t key = mix64(seed) ^ mix64((uint64_t)step + 0xD1B54A32D192ED03ull);
    for (int64_t r = 0; r < batch; r++) {
        uint64_t u = mix64(key + (uint64_t)(r + 1) * 0x9E3779B97F4A7C15ull);
        starts[r] = (int64_t)(((unsigned __int128)u * range) >> 64);
    }
    strata_status rc = make_xy(t, dev, starts, batch, seq_len, x, y);
    free(starts);
    return rc;
}

strata_status strata_text_val_windows(const strata_text *t, int64_t seq_len, int64_t *count)
{
    if (!t || !count)
        return st_error(STRATA_E_INVALID, "strata_text_val_windows: NULL argument");
    if (seq_len < 1)
        return st_error(STRATA_E_INVALID, "validation windows: sequence length must be positive, got %lld",
                        (long long)seq_len);
    int64_t nv = t->n - t->n_train;
    *count = nv >= 2 ? (nv - 1) / seq_len : 0;
    return STRATA_OK;
}

strata_status strata_text_val_batch(const strata_text *t, strata_device *dev, int64_t seq_len, int64_t first,
                                    int64_t count, strata_tensor **x, strata_tensor **y)
{
    if (!t || !dev || !x || !y)
        return st_error(STRATA_E_INVALID, "strata_text_val_batch: NULL argument");
    int64_t nw;
    strata_status rc = strata_text_val_windows(t, seq_len, &nw);
    if (rc)
        return rc;
    if (first < 0 || count < 1 || first > nw || count > nw - first)
        return st_error(STRATA_E_INVALID,
                        "validation batch: %lld windows from window %lld do not fit in the %lld there are",
                        (long long)count, (long long)first, (long long)nw);
    int64_t *starts = st_malloc(sizeof(int64_t) * (size_t)count);
    if (!starts)
        return STRATA_E_NOMEM;
    for (int64_t r = 0; r < count; r++)
        starts[r] = t->n_train + (first + r) * seq_len;
    rc = make_xy(t, dev, starts, count, seq_len, x, y);
    free(starts);
    return rc;
}
