/* test_text.c - text corpora (core/data/text.c): bytes and UTF-8 modes, the
 * vocabulary, the train/validation split, training and validation windows,
 * bad input; text specs; and the language-model loop of `strata train`,
 * `eval` and `generate` end to end on a tiny text with a bigram model. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "internal.h"

static strata_text_options opts(int32_t mode, double val_fraction)
{
    strata_text_options o = {.struct_size = sizeof o, .mode = mode, .val_fraction = val_fraction};
    return o;
}

static strata_text *from_string(const char *s, const strata_text_options *o)
{
    strata_text *t = NULL;
    ST_OK(strata_text_from_memory(s, strlen(s), "mem.txt", o, &t));
    return t;
}

/* ---- reading ------------------------------------------------------------- */

static void test_bytes_mode(void **state)
{
    (void)state;
    strata_text_options o = opts(STRATA_TEXT_BYTES, 0.0);
    strata_text *t = from_string("caba\xc3\xa9", &o); /* é is two bytes here */
    int64_t V, n;
    const uint32_t *v = strata_text_vocab(t, &V);
    assert_int_equal(V, 5);
    assert_int_equal(v[0], 'a');
    assert_int_equal(v[1], 'b');
    assert_int_equal(v[2], 'c');
    assert_int_equal(v[3], 0xA9);
    assert_int_equal(v[4], 0xC3);
    const int32_t *tok = strata_text_tokens(t, 0, &n);
    assert_int_equal(n, 6);
    int32_t want[] = {2, 0, 1, 0, 4, 3};
    assert_memory_equal(tok, want, sizeof want);
    assert_int_equal(strata_text_get_mode(t), STRATA_TEXT_BYTES);
    strata_text_destroy(t);
    strata_text_destroy(NULL);
}

static void test_chars_mode_utf8(void **state)
{
    (void)state;
    strata_text *t = from_string("h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac\xf0\x9f\x98\x80\n", NULL);
    int64_t V, n, nv;
    const uint32_t *v = strata_text_vocab(t, &V);
    /* sorted distinct code points: \n ' ' d h l o r w é ö € 😀 */
    uint32_t want[] = {'\n', ' ', 'd', 'h', 'l', 'o', 'r', 'w', 0xE9, 0xF6, 0x20AC, 0x1F600};
    assert_int_equal(V, 12);
    assert_memory_equal(v, want, sizeof want);
    strata_text_tokens(t, 0, &n);
    strata_text_tokens(t, 1, &nv);
    assert_int_equal(n + nv, 15); /* characters, not bytes (22) */
    int64_t none = 9; /* another split is none (2 and -1 read the held-out part) */
    assert_null(strata_text_tokens(t, 2, &none));
    assert_int_equal(none, 0);
    none = 9;
    assert_null(strata_text_tokens(t, -1, &none));
    assert_int_equal(none, 0);
    /* decode / encode round trip */
    char buf[8];
    size_t len;
    ST_OK(strata_text_decode(t, 11, buf, sizeof buf, &len));
    assert_int_equal(len, 4);
    assert_string_equal(buf, "\xf0\x9f\x98\x80");
    assert_int_equal(strata_text_decode(t, 12, buf, sizeof buf, &len), STRATA_E_INVALID);
    int64_t ids[8];
    size_t k;
    ST_OK(strata_text_encode(t, "w\xc3\xb6rld", 6, ids, 8, &k));
    assert_int_equal(k, 5);
    assert_int_equal(ids[0], 7);
    assert_int_equal(ids[1], 9);
    assert_int_equal(strata_text_encode(t, "hlllo", 5, ids, 3, &k), STRATA_E_INVALID);
    strata_text_destroy(t);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    strata_text *t = NULL;
    const char *bad[] = {"abc\xff", "abc\xc3", "abc\xc0\xaf", "abc\xed\xa0\x80", "abc\xf4\x90\x80\x80", "abc\x80"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(strata_text_from_memory(bad[k], strlen(bad[k]), "bad.txt", NULL, &t), STRATA_E_FORMAT);
        assert_null(t);
        tu_assert_error_contains("bad.txt");
        tu_assert_error_contains("invalid UTF-8 at byte offset 3");
    }
    /* the same bytes are fine in byte mode */
    strata_text_options o = opts(STRATA_TEXT_BYTES, 0.0);
    ST_OK(strata_text_from_memory(bad[0], 4, "bad.txt", &o, &t));
    strata_text_destroy(t);
}

static void test_given_vocab(void **state)
{
    (void)state;
    uint32_t vocab[] = {'z', 'a', 0xE9}; /* any order: ids follow it */
    strata_text_options o = opts(STRATA_TEXT_CHARS, 0.0);
    o.vocab = vocab;
    o.vocab_size = 3;
    strata_text *t = from_string("az\xc3\xa9z", &o);
    int64_t n, V;
    const int32_t *tok = strata_text_tokens(t, 0, &n);
    int32_t want[] = {1, 0, 2, 0};
    assert_int_equal(n, 4);
    assert_memory_equal(tok, want, sizeof want);
    strata_text_vocab(t, &V);
    assert_int_equal(V, 3);
    strata_text_destroy(t);

    t = NULL;
    assert_int_equal(strata_text_from_memory("zaq", 3, "ckpt.txt", &o, &t), STRATA_E_NOT_FOUND);
    assert_null(t);
    tu_assert_error_contains("ckpt.txt");
    tu_assert_error_contains("U+0071 'q' at byte offset 2");
    tu_assert_error_contains("not in the given vocabulary of 3 characters");
    /* offsets are in bytes: the é before takes two */
    assert_int_equal(strata_text_from_memory("\xc3\xa9q", 3, "ckpt.txt", &o, &t), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("at byte offset 2");

    uint32_t dup[] = {'a', 'b', 'a'};
    o.vocab = dup;
    assert_int_equal(strata_text_from_memory("ab", 2, "dup", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("twice");

    /* entries the mode cannot hold: a byte above 255, a surrogate, beyond U+10FFFF */
    uint32_t big_byte[] = {'a', 300};
    o = opts(STRATA_TEXT_BYTES, 0.0);
    o.vocab = big_byte;
    o.vocab_size = 2;
    assert_int_equal(strata_text_from_memory("a", 1, "bytes", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("vocabulary entry 1 (0x12c) is not a byte");
    uint32_t surrogate[] = {'a', 0xD800}, beyond[] = {0x110000, 'a'};
    o = opts(STRATA_TEXT_CHARS, 0.0);
    o.vocab = surrogate;
    o.vocab_size = 2;
    assert_int_equal(strata_text_from_memory("a", 1, "chars", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("vocabulary entry 1 (0xd800) is not a Unicode scalar value");
    o.vocab = beyond;
    assert_int_equal(strata_text_from_memory("a", 1, "chars", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("vocabulary entry 0 (0x110000)");
    assert_null(t);
}

static void test_split_and_options(void **state)
{
    (void)state;
    char s[101];
    for (int k = 0; k < 100; k++)
        s[k] = (char)('a' + k % 7);
    s[100] = '\0';
    strata_text *t = from_string(s, NULL); /* default: 5% held out */
    int64_t n, nv;
    const int32_t *tr = strata_text_tokens(t, 0, &n);
    const int32_t *va = strata_text_tokens(t, 1, &nv);
    assert_int_equal(n, 95);
    assert_int_equal(nv, 5);
    assert_ptr_equal(va, tr + 95); /* the last part */
    assert_int_equal(va[0], 95 % 7);
    strata_text_destroy(t);

    strata_text_options o = opts(STRATA_TEXT_CHARS, 0.25);
    t = from_string(s, &o);
    strata_text_tokens(t, 0, &n);
    assert_int_equal(n, 75);
    strata_text_destroy(t);

    t = NULL;
    o.val_fraction = 1.0;
    assert_int_equal(strata_text_from_memory(s, 100, "x.txt", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("val_fraction");
    o.val_fraction = 0.1;
    o.mode = 7;
    assert_int_equal(strata_text_from_memory(s, 100, "x.txt", &o, &t), STRATA_E_INVALID);
    tu_assert_error_contains("mode 7");
    assert_null(t);

    assert_int_equal(strata_text_load("/nonexistent/corpus.txt", NULL, &t), STRATA_E_IO);
    tu_assert_error_contains("/nonexistent/corpus.txt");
    const char *p = tu_write_temp(".txt", s, 100);
    ST_OK(strata_text_load(p, NULL, &t));
    strata_text_tokens(t, 0, &n);
    assert_int_equal(n, 95);
    strata_text_destroy(t);
    unlink(p);
}

/* ---- windows ------------------------------------------------------------- */

static void read_i64(strata_tensor *t, int64_t *out, int64_t rows, int64_t cols)
{
    assert_int_equal(strata_tensor_dtype(t), STRATA_I64);
    assert_int_equal(strata_tensor_ndim(t), 2);
    assert_int_equal(strata_tensor_dim(t, 0), rows);
    assert_int_equal(strata_tensor_dim(t, 1), cols);
    ST_OK(strata_tensor_read(t, out, sizeof(int64_t) * (size_t)(rows * cols)));
}

/* Bytes mode, tokens 0..99 (bytes 0x20..0x83) so a window's content gives its start. */
static strata_text *ramp_text(const char *name, double val_fraction)
{
    uint8_t buf[100];
    for (int k = 0; k < 100; k++)
        buf[k] = (uint8_t)(0x20 + k);
    strata_text_options o = opts(STRATA_TEXT_BYTES, val_fraction);
    strata_text *t = NULL;
    ST_OK(strata_text_from_memory(buf, sizeof buf, name, &o, &t));
    return t;
}

static void test_train_windows(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_text *t = ramp_text("w", 0.2);
    enum { B = 16, T = 8 };
    int64_t x[B * T], y[B * T], x2[B * T], x3[B * T];
    strata_tensor *tx, *ty;
    ST_OK(strata_text_train_batch(t, dev, B, T, 42, 3, &tx, &ty));
    read_i64(tx, x, B, T);
    read_i64(ty, y, B, T);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    int distinct = 0;
    for (int r = 0; r < B; r++) {
        int64_t s = x[r * T];
        assert_true(s >= 0 && s <= 80 - T - 1); /* inside the training part: x and y within tokens 0..79 */
        distinct += r == 0 || s != x[(r - 1) * T];
        for (int j = 0; j < T; j++) {
            assert_int_equal(x[r * T + j], s + j);
            assert_int_equal(y[r * T + j], s + j + 1); /* targets: the next token */
        }
    }
    assert_true(distinct > 1);
    /* the same (seed, step) gives the same batch, another step another */
    ST_OK(strata_text_train_batch(t, dev, B, T, 42, 3, &tx, &ty));
    read_i64(tx, x2, B, T);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    assert_memory_equal(x, x2, sizeof x);
    ST_OK(strata_text_train_batch(t, dev, B, T, 42, 4, &tx, &ty));
    read_i64(tx, x3, B, T);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    assert_memory_not_equal(x, x3, sizeof x);

    /* sequence length 0 and too-short texts are errors */
    assert_int_equal(strata_text_train_batch(t, dev, B, 0, 42, 0, &tx, &ty), STRATA_E_INVALID);
    tu_assert_error_contains("sequence length (0)");
    assert_int_equal(strata_text_train_batch(t, dev, B, 80, 42, 0, &tx, &ty), STRATA_E_INVALID);
    tu_assert_error_contains("80 tokens");
    /* the last window of the training part is drawn too: with 80 tokens and
     * T = 79 it is the only one, its last target token 79 (it was never drawn) */
    int64_t one_x[79], one_y[79];
    ST_OK(strata_text_train_batch(t, dev, 1, 79, 42, 0, &tx, &ty));
    read_i64(tx, one_x, 1, 79);
    read_i64(ty, one_y, 1, 79);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    assert_int_equal(one_x[0], 0);
    assert_int_equal(one_y[78], 79);
    /* sizes whose products wrap are refused, not allocated short */
    assert_int_equal(strata_text_train_batch(t, dev, INT64_C(1) << 61, 4, 42, 0, &tx, &ty), STRATA_E_INVALID);
    tu_assert_error_contains("do not fit in memory");
    assert_int_equal(strata_text_train_batch(t, dev, B, INT64_MAX, 42, 0, &tx, &ty), STRATA_E_INVALID);
    tu_assert_error_contains("80 tokens");
    strata_text_destroy(t);
    strata_runtime_destroy(rt);
}

static void test_val_windows(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_device *dev = tu_ref(rt);
    strata_text *t = ramp_text("v", 0.3); /* 70 train, 30 held out */
    int64_t nw;
    ST_OK(strata_text_val_windows(t, 8, &nw));
    assert_int_equal(nw, 3); /* (30 - 1) / 8: windows of 9 at 0, 8, 16 */
    ST_OK(strata_text_val_windows(t, 29, &nw));
    assert_int_equal(nw, 1);
    ST_OK(strata_text_val_windows(t, 30, &nw));
    assert_int_equal(nw, 0);
    assert_int_equal(strata_text_val_windows(t, 0, &nw), STRATA_E_INVALID);
    tu_assert_error_contains("sequence length");

    strata_tensor *tx, *ty;
    int64_t x[3 * 8], y[3 * 8];
    ST_OK(strata_text_val_batch(t, dev, 8, 0, 3, &tx, &ty));
    read_i64(tx, x, 3, 8);
    read_i64(ty, y, 3, 8);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 8; j++) {
            assert_int_equal(x[r * 8 + j], 70 + r * 8 + j);
            assert_int_equal(y[r * 8 + j], 70 + r * 8 + j + 1);
        }
    ST_OK(strata_text_val_batch(t, dev, 8, 2, 1, &tx, &ty));
    read_i64(tx, x, 1, 8);
    assert_int_equal(x[0], 86);
    strata_tensor_release(tx);
    strata_tensor_release(ty);
    assert_int_equal(strata_text_val_batch(t, dev, 8, 2, 2, &tx, &ty), STRATA_E_INVALID);
    tu_assert_error_contains("2 windows from window 2 do not fit in the 3 there are");
    /* first + count wrapping negative is refused too */
    assert_int_equal(strata_text_val_batch(t, dev, 8, INT64_C(1) << 62, INT64_C(3) << 61, &tx, &ty),
                     STRATA_E_INVALID);
    strata_text_destroy(t);
    strata_runtime_destroy(rt);
}

/* ---- specs --------------------------------------------------------------- */

static const char *spec_fmt = "data: {format: text, path: x.txt%s}\n"
                              "model:\n"
                              "  inputs: [{name: tokens, shape: [8], dtype: i64}]\n"
                              "  layers: [{type: embedding, num_embeddings: 4, embedding_dim: 4}]\n"
                              "%s";

static strata_status parse_spec(strata_runtime *rt, const char *data_extra, const char *tail, strata_spec **s)
{
    char text[1024];
    snprintf(text, sizeof text, spec_fmt, data_extra, tail);
    *s = NULL;
    return strata_spec_parse(rt, text, strlen(text), "lm.yaml", s);
}

static void test_spec_text(void **state)
{
    (void)state;
    strata_runtime *rt = tu_runtime();
    strata_spec *s;
    ST_OK(parse_spec(rt, ", mode: bytes, val_fraction: 0.1, seq_len: 8",
                     "train: {steps: 100, eval_every: 50, batch_size: 4, clip_grad_norm: 5}\n", &s));
    const char *v;
    int64_t i;
    ST_OK(strata_spec_get_string(s, "data.mode", NULL, &v));
    assert_string_equal(v, "bytes");
    ST_OK(strata_spec_get_int(s, "train.steps", 0, &i));
    assert_int_equal(i, 100);
    assert_non_null(strstr(strata_spec_defaults(s), "task = language_model"));
    strata_spec_destroy(s);

    ST_OK(parse_spec(rt, "", "", &s));
    assert_non_null(strstr(strata_spec_defaults(s), "data.mode = chars"));
    assert_non_null(strstr(strata_spec_defaults(s), "data.val_fraction = 0.05"));
    strata_spec_destroy(s);

    assert_int_equal(parse_spec(rt, ", seq_len: 0", "", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("data.seq_len must be at least 1, got 0");
    assert_int_equal(parse_spec(rt, ", val_fraction: 1", "", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("data.val_fraction");
    assert_int_equal(parse_spec(rt, ", mode: words", "", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("chars, bytes");
    assert_int_equal(parse_spec(rt, ", images: a", "", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("lm.yaml:1: unknown key 'images' in data");
    assert_int_equal(parse_spec(rt, "", "task: classification\n", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("task: classification");
    assert_int_equal(parse_spec(rt, "", "train: {steps: 0}\n", &s), STRATA_E_FORMAT);
    tu_assert_error_contains("train.steps must be at least 1");

    /* the input shape can change for generation (one token at a time) */
    ST_OK(parse_spec(rt, "", "", &s));
    int64_t one = 1;
    ST_OK(strata_spec_set_input_shape(s, "tokens", 1, &one));
    assert_int_equal(strata_spec_set_input_shape(s, "nope", 1, &one), STRATA_E_NOT_FOUND);
    tu_assert_error_contains("'nope'");
    strata_model *m;
    ST_OK(strata_spec_build_model(s, tu_ref(rt), &m));
    int nd;
    const int64_t *shape = strata_model_input_shape(m, 0, &nd, NULL);
    assert_int_equal(nd, 1);
    assert_int_equal(shape[0], 1);
    strata_model_destroy(m);
    strata_spec_destroy(s);
    strata_runtime_destroy(rt);
}

/* ---- the CLI end to end -------------------------------------------------- */

static char dir[512];

static int run_cli(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/out' 2>'%s/err'", tu_build_path("bin/strata"), args, dir, dir);
    int st = system(cmd);
    assert_true(st != -1);
    if (!WIFEXITED(st))
        fail_msg("strata %s: killed by a signal", args);
    return WEXITSTATUS(st);
}

static char *slurp(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 16);
    assert_non_null(b);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* A new temporary directory in dir. */
static void make_dir(void)
{
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "text"), 0);
}

static void remove_dir(void)
{
    assert_int_equal(tu_remove_dir(dir), 0);
}

/* tiny.txt: @p n characters repeating @p pattern */
static void write_repeated_text(const char *pattern, int n)
{
    const size_t len = strlen(pattern);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    for (int k = 0; k < n; k++)
        text[k] = pattern[(size_t)k % len];
    text[n] = '\0';
    tu_write_text(dir, "tiny.txt", text);
    free(text);
}

/* strata train dir/@p spec into dir/run; fails the test with its stderr */
static void train_ok(const char *spec)
{
    char args[2048];
    snprintf(args, sizeof args, "train '%s/%s' --out '%s/run' --backend ref --quiet", dir, spec, dir);
    int rc = run_cli(args);
    char *err = slurp("err");
    if (rc != 0)
        fail_msg("strata train failed (%d): %s", rc, err ? err : "");
    free(err);
}

static void test_cli_bigram(void **state)
{
    (void)state;
    if (access(tu_build_path("bin/strata"), X_OK) != 0)
        skip();
    make_dir();
    /* a text whose next character is always determined by the current one */
    write_repeated_text("abcdefgh\n", 2400);
    tu_write_text(dir, "bigram.yaml", "name: bigram\n"
                                      "data: {format: text, path: tiny.txt, seq_len: 16, val_fraction: 0.1}\n"
                                      "model:\n"
                                      "  inputs: [{name: tokens, shape: [16], dtype: i64}]\n"
                                      "  layers:\n"
                                      "    - {type: embedding, num_embeddings: 9, embedding_dim: 16}\n"
                                      "    - {type: linear, out_features: 9}\n"
                                      "optimizer: {type: adam, lr: 0.1}\n"
                                      "train: {steps: 60, eval_every: 30, batch_size: 8, clip_grad_norm: 5}\n");
    train_ok("bigram.yaml");

    /* one metrics record per evaluation; the loss is low */
    char *metrics = slurp("run/metrics.jsonl");
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "\"step\":30"));
    assert_non_null(strstr(metrics, "\"step\":60"));
    assert_non_null(strstr(metrics, "\"val_loss\""));
    free(metrics);
    char *summary = slurp("run/summary.json");
    assert_non_null(summary);
    char *vl = strstr(summary, "\"val_loss\":");
    assert_non_null(vl);
    double val = strtod(vl + strlen("\"val_loss\":"), NULL);
    if (!(val < 0.1))
        fail_msg("val_loss %g after 60 steps of a deterministic bigram text; expected < 0.1", val);
    free(summary);

    /* the vocabulary round-trips through the checkpoint */
    char path[600], buf[256];
    snprintf(path, sizeof path, "%s/run/checkpoint.safetensors", dir);
    ST_OK(strata_checkpoint_metadata(path, "text.vocab", buf, sizeof buf));
    assert_string_equal(buf, "10 97 98 99 100 101 102 103 104");
    ST_OK(strata_checkpoint_metadata(path, "text.mode", buf, sizeof buf));
    assert_string_equal(buf, "chars");

    /* eval reports the same validation loss */
    char args[2048];
    snprintf(args, sizeof args, "eval '%s/bigram.yaml' --checkpoint '%s' --backend ref", dir, path);
    assert_int_equal(run_cli(args), 0);
    char *out = slurp("out");
    assert_non_null(strstr(out, "validation loss: "));
    assert_true(fabs(strtod(strstr(out, "validation loss: ") + 17, NULL) - val) < 1e-3);
    free(out);
    snprintf(args, sizeof args, "eval '%s/bigram.yaml' --checkpoint '%s' --backend ref --json", dir, path);
    assert_int_equal(run_cli(args), 0);
    out = slurp("out");
    const char *j = strstr(out, "{\"validation_loss\":");
    if (!j)
        fail_msg("eval --json printed: %s", out);
    assert_true(fabs(strtod(j + strlen("{\"validation_loss\":"), NULL) - val) < 1e-3);
    free(out);

    /* generate: the spec from the run directory; the bigram continues the pattern; same seed, same text */
    snprintf(args, sizeof args, "generate --checkpoint '%s' --prime cde --length 20 --seed 7 --backend ref", path);
    assert_int_equal(run_cli(args), 0);
    out = slurp("out");
    assert_non_null(out);
    assert_int_equal(strncmp(out, "cdefgh\nabcdefgh\nabcde", 21), 0);
    assert_int_equal(run_cli(args), 0);
    char *again = slurp("out");
    assert_string_equal(out, again);
    free(again);
    /* a long sample (past the buffer of recent tokens, which slides): the same draws from the start, and
     * at temperature 0 the pattern all the way (a wrong slide would feed the bigram another last token) */
    snprintf(args, sizeof args, "generate --checkpoint '%s' --prime cde --length 10000 --seed 7 --backend ref", path);
    assert_int_equal(run_cli(args), 0);
    again = slurp("out");
    assert_int_equal(strlen(again), 3 + 10000 + 1);
    assert_int_equal(strncmp(out, again, 3 + 20), 0);
    free(again);
    snprintf(args, sizeof args, "generate --checkpoint '%s' --prime cde --length 10000 --temperature 0 --backend ref",
             path);
    assert_int_equal(run_cli(args), 0);
    again = slurp("out");
    assert_int_equal(strlen(again), 3 + 10000 + 1);
    for (int k = 0; k < 3 + 10000; k++)
        if (again[k] != "abcdefgh\n"[(k + 2) % 9])
            fail_msg("temperature 0: character %d is '%c', not the pattern's", k, again[k]);
    free(out);
    free(again);
    /* a reader that stops early ends the sampling (SIGPIPE is ignored, so the closed pipe must be noticed):
     * a billion characters piped into head -c 5 end at once */
    char cmd[2 * PATH_MAX + 256], bin[PATH_MAX];
    assert_non_null(realpath(tu_build_path("bin/strata"), bin));
    snprintf(cmd, sizeof cmd, "'%s' generate --checkpoint '%s' --prime cde --length 1000000000 --backend ref | head -c 5 "
             "> '%s/five'", bin, path, dir);
    assert_int_equal(system(cmd), 0);
    char *five = slurp("five");
    assert_non_null(five);
    assert_int_equal(strlen(five), 5);
    assert_int_equal(strncmp(five, "cde", 3), 0);
    free(five);
    /* a checkpoint that is not there: said so, not "no spec.yaml next to it" */
    snprintf(args, sizeof args, "generate --checkpoint '%s/nothere' --backend ref", dir);
    assert_int_equal(run_cli(args), 1);
    char *missing = slurp("err");
    assert_non_null(strstr(missing, "nothere: No such file or directory"));
    free(missing);
    /* a character outside the vocabulary is an error naming it */
    snprintf(args, sizeof args, "generate --checkpoint '%s' --prime xyz --backend ref", path);
    assert_int_equal(run_cli(args), 1);
    char *err = slurp("err");
    assert_non_null(strstr(err, "U+0078 'x'"));
    free(err);
    /* a text with a character the checkpoint's vocabulary lacks: eval says which */
    tu_write_text(dir, "tiny.txt", "abcdefgh\nabcdefgh\nabcdefgh\nabcdefgh\nabcdefghz\n");
    snprintf(args, sizeof args, "eval '%s/bigram.yaml' --checkpoint '%s' --backend ref", dir, path);
    assert_int_equal(run_cli(args), 1);
    err = slurp("err");
    assert_non_null(strstr(err, "U+007A 'z' at byte offset 44"));
    free(err);

    remove_dir();
}

/* With the lstm plugin: generation that carries the LSTM state from step to
 * step gives the same text as re-running the whole prefix from a zero state
 * (a spec of the same model without state inputs and outputs). */
static void test_cli_lstm_state(void **state)
{
    (void)state;
    if (access(tu_build_path("bin/strata"), X_OK) != 0 || access(tu_build_path("lib/strata/lstm.so"), R_OK) != 0)
        skip();
    make_dir();
    write_repeated_text("the cat sat on a mat\n", 1800);
    static const char *head = "data: {format: text, path: tiny.txt}\n"
                              "model:\n"
                              "  inputs:\n"
                              "    - {name: tokens, shape: [16], dtype: i64}\n";
    static const char *tail = "optimizer: {type: adam, lr: 0.02}\n"
                              "train: {steps: 20, batch_size: 4, clip_grad_norm: 5}\n";
    char spec[2048];
    snprintf(spec, sizeof spec,
             "%s    - {name: h0, shape: [1, 8]}\n    - {name: c0, shape: [1, 8]}\n  layers:\n"
             "    - {type: embedding, name: e, num_embeddings: 11, embedding_dim: 4, inputs: tokens}\n"
             "    - {type: lstm, name: l, hidden_size: 8, batch_first: 1, inputs: [e, h0, c0]}\n"
             "    - {type: linear, name: o, out_features: 11, inputs: l}\n"
             "  outputs: [o, \"l:1\", \"l:2\"]\n%s",
             head, tail);
    tu_write_text(dir, "state.yaml", spec);
    snprintf(spec, sizeof spec,
             "%s  layers:\n"
             "    - {type: embedding, name: e, num_embeddings: 11, embedding_dim: 4, inputs: tokens}\n"
             "    - {type: lstm, name: l, hidden_size: 8, batch_first: 1, inputs: e}\n"
             "    - {type: linear, name: o, out_features: 11, inputs: l}\n%s",
             head, tail);
    tu_write_text(dir, "plain.yaml", spec);
    train_ok("state.yaml");
    char args[2048];
    /* prime 3 + 12 generated characters stay inside the 16-token window */
    snprintf(args, sizeof args,
             "generate --checkpoint '%s/run/checkpoint.safetensors' --prime the --length 12 --seed 3 --backend ref",
             dir);
    assert_int_equal(run_cli(args), 0);
    char *carried = slurp("out");
    snprintf(args, sizeof args,
             "generate --checkpoint '%s/run/checkpoint.safetensors' --spec '%s/plain.yaml' --prime the --length 12 "
             "--seed 3 --backend ref",
             dir, dir);
    assert_int_equal(run_cli(args), 0);
    char *rerun = slurp("out");
    assert_int_equal(strlen(carried), 16);
    assert_string_equal(carried, rerun);
    free(carried);
    free(rerun);
    remove_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_mode),       cmocka_unit_test(test_chars_mode_utf8),
        cmocka_unit_test(test_invalid_utf8),     cmocka_unit_test(test_given_vocab),
        cmocka_unit_test(test_split_and_options), cmocka_unit_test(test_train_windows),
        cmocka_unit_test(test_val_windows),      cmocka_unit_test(test_spec_text),
        cmocka_unit_test(test_cli_bigram),       cmocka_unit_test(test_cli_lstm_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
