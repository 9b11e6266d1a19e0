/* cmd_train_lm.c - language models in `strata train`, `eval` and `bench`:
 * a text corpus (data.format: text), training by steps on random windows,
 * validation loss in nats per character over every non-overlapping window
 * of the held-out text, and the vocabulary stored in the checkpoint. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"

int lm_spec_is_lm(const strata_spec *s)
{
    const char *task = NULL, *format = NULL;
    strata_spec_get_string(s, "task", NULL, &task);
    strata_spec_get_string(s, "data.format", NULL, &format);
    return (task && !strcmp(task, "language_model")) || (format && !strcmp(format, "text"));
}

int lm_find_text(const char *spec_path, const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path);
    if (path[0] == '/' || access(path, R_OK) == 0)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", spec_path);
    char alt[8300];
    snprintf(alt, sizeof alt, "%s/%s", dirname(dir), path);
    if (strlen(alt) >= n || access(alt, R_OK) != 0)
        return 0;
    memcpy(out, alt, strlen(alt) + 1);
    return 1;
}

static const char *token_name(uint32_t c, char *buf, size_t size);

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The vocabulary read from @p checkpoint is one (distinct bytes or Unicode scalar values): checked here, where the
 * file is known, as the text reader's message named the text file or none. 0, or 1 after a message. */
static int check_vocab(const char *checkpoint, int32_t mode, const uint32_t *v, int64_t n)
{
    char a[24];
    for (int64_t k = 0; k < n; k++)
        if (mode == STRATA_TEXT_BYTES ? v[k] > 255 : (v[k] >= 0xD800 && v[k] <= 0xDFFF)) {
            fprintf(stderr, "strata: error: %s: metadata text.vocab: token %lld is %u, not a %s\n", checkpoint,
                    (long long)k, (unsigned)v[k], mode == STRATA_TEXT_BYTES ? "byte (0..255)" : "Unicode scalar value");
            return 1;
        }
    uint32_t *sorted = malloc(sizeof *sorted * (size_t)n);
    if (!sorted) {
        fprintf(stderr, "strata: error: out of memory checking the vocabulary of %s\n", checkpoint);
        return 1;
    }
    memcpy(sorted, v, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_u32);
    int64_t k = 1;
    while (k < n && sorted[k] != sorted[k - 1])
        k++;
    if (k < n)
        fprintf(stderr, "strata: error: %s: metadata text.vocab lists %s twice (a token id each; it must list "
                        "distinct %s)\n",
                checkpoint, token_name(sorted[k], a, sizeof a), mode == STRATA_TEXT_BYTES ? "bytes" : "characters");
    free(sorted);
    return k < n;
}

int lm_read_vocab(const char *checkpoint, int32_t *mode, uint32_t **vocab, int64_t *n)
{
    char m[16];
    strata_status rc = strata_checkpoint_metadata(checkpoint, "text.mode", m, sizeof m);
    if (rc) {
        fprintf(stderr, "strata: error: %s has no vocabulary (metadata text.mode): %s\n", checkpoint,
                rc == STRATA_E_NOT_FOUND ? "not a language-model checkpoint of `strata train` (one written elsewhere, "
                                           "by PyTorch say, needs the metadata text.mode, 'chars' or 'bytes', and "
                                           "text.vocab, the token ids' code points in order: docs/user-guide.md)"
                                         : strata_last_error());
        return 1;
    }
    if (strcmp(m, "chars") && strcmp(m, "bytes")) { /* was read as chars */
        fprintf(stderr, "strata: error: %s: metadata text.mode is '%s'; this version reads 'chars' or 'bytes'\n",
                checkpoint, m);
        return 1;
    }
    size_t size = 1 << 16;
    char *buf = NULL;
    for (;;) {
        char *p = realloc(buf, size);
        if (!p) {
            free(buf);
            fprintf(stderr, "strata: error: out of memory reading the vocabulary of %s\n", checkpoint);
            return 1;
        }
        buf = p;
        rc = strata_checkpoint_metadata(checkpoint, "text.vocab", buf, size);
        if (rc != STRATA_E_INVALID || size > (64u << 20))
            break;
        size *= 4;
    }
    if (rc) {
        free(buf);
        return cli_fail("reading the vocabulary (metadata text.vocab)", rc);
    }
    /* "10 32 33 ...": code points (bytes in byte mode) in token-id order */
    int64_t count = 0, cap = 256;
    uint32_t *v = malloc(sizeof *v * (size_t)cap);
    const char *p = buf;
    while (v) {
        char *end;
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        errno = 0;
        unsigned long long x = strtoull(p, &end, 10);
        if (end == p || errno || x > 0x10FFFF) {
            fprintf(stderr, "strata: error: %s: metadata text.vocab is not a list of code points (at '%.20s')\n",
                    checkpoint, p);
            free(v);
            free(buf);
            return 1;
        }
        if (count == cap) {
            uint32_t *q = realloc(v, sizeof *v * (size_t)(cap *= 2));
            if (!q) {
                free(v);
                v = NULL;
                break;
            }
            v = q;
        }
        v[count++] = (uint32_t)x;
        p = end;
    }
    free(buf);
    if (!v || !count) {
        free(v);
        fprintf(stderr, "strata: error: %s: %s\n", checkpoint, v ? "empty vocabulary" : "out of memory");
        return 1;
    }
    *mode = !strcmp(m, "bytes") ? STRATA_TEXT_BYTES : STRATA_TEXT_CHARS;
    if (check_vocab(checkpoint, *mode, v, count)) {
        free(v);
        return 1;
    }
    *vocab = v;
    *n = count;
    return 0;
}

/* What `strata bench` trains a language model on when its text is missing,
 * as the PyTorch peer does: 200,000 characters drawn uniformly (fixed seed)
 * from as many printable ones as the model predicts (at most 95). */
static strata_status lm_random_text(const strata_model *m, const strata_text_options *to, strata_text **out)
{
    int nd;
    const int64_t *os = strata_model_output_shape(m, 0, &nd);
    const int64_t V = os && nd == 2 && os[1] >= 1 ? (os[1] < 95 ? os[1] : 95) : 1;
    enum { N = 200000 };
    char *buf = malloc(N);
    if (!buf)
        return STRATA_E_NOMEM;
    uint64_t state = 0x5eed;
    for (size_t i = 0; i < N; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        buf[i] = (char)(' ' + (int)((state >> 33) % (uint64_t)V));
    }
    strata_status rc = strata_text_from_memory(buf, N, "random characters", to, out);
    free(buf);
    return rc;
}

/* The spec string at "fmt" with %d as @p k (NULL when absent or not a string;
 * a probe, so its error is cleared). */
static const char *spec_str_at(const strata_spec *s, const char *fmt, int k)
{
    char path[96];
    const char *v = NULL;
    snprintf(path, sizeof path, fmt, k);
    if (strata_spec_get_string(s, path, NULL, &v) != STRATA_OK)
        v = NULL;
    strata_clear_error();
    return v;
}

/* Input slot @p j of layer @p i as written in the spec (NULL: none). */
static const char *layer_input_slot(const strata_spec *s, int i, int j)
{
    const char *one = spec_str_at(s, "model.layers.%d.inputs", i); /* a single name: slot 0 */
    if (one)
        return j == 0 ? one : NULL;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "model.layers.%d.inputs.%%d", i);
    return spec_str_at(s, fmt, j);
}

/* Model input k's name equals ref ("h0", or "h0:0"). */
static int names_input(const char *ref, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(ref, name, n) && (ref[n] == '\0' || !strcmp(ref + n, ":0"));
}

int lm_check_state_order(const strata_spec *s, int n_inputs)
{
    for (int k = 1; k < n_inputs; k++) {
        const char *in = spec_str_at(s, "model.inputs.%d.name", k), *out = spec_str_at(s, "model.outputs.%d", k);
        const char *colon = out ? strchr(out, ':') : NULL;
        if (!in || !colon)
            continue;
        char layer[72];
        snprintf(layer, sizeof layer, "%.*s", (int)(colon - out), out);
        char *end;
        long j = strtol(colon + 1, &end, 10);
        if (*end || j < 1 || j > 8)
            continue;
        /* the recurrent layer named so: its output j is the final state of its input j */
        const char *type;
        for (int i = 0; (type = spec_str_at(s, "model.layers.%d.type", i)); i++) {
            const char *nm = spec_str_at(s, "model.layers.%d.name", i);
            char pos[16];
            snprintf(pos, sizeof pos, "%d", i);
            if (strcmp(nm ? nm : pos, layer) || (strcmp(type, "lstm") && strcmp(type, "gru") && strcmp(type, "rnn")))
                continue;
            const char *from = layer_input_slot(s, i, (int)j);
            for (int q = 1; from && q < n_inputs; q++) {
                const char *other = spec_str_at(s, "model.inputs.%d.name", q);
                if (q != k && other && names_input(from, other)) {
                    fprintf(stderr,
                            "strata: error: %s: model output %d (\"%s\") is the final state of %s's input %ld "
                            "(%s), but it is paired with model input %d (%s): the outputs after the logits must "
                            "follow the order of the state inputs, or `strata generate` feeds one state in place "
                            "of the other\n",
                            strata_spec_path(s), k, out, layer, j, other, k, in);
                    return 1;
                }
            }
        }
    }
    return 0;
}

static strata_status model_forward(strata_device *dev, strata_model *m, strata_tensor *x, int training,
                                   strata_tensor **logits);

int lm_check_vocab_fits(strata_runtime *rt, strata_device *dev, strata_model *m, int64_t T, int64_t V, int bytes,
                        const char *spec_path, const char *source)
{
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)T), shape[2] = {1, T};
    if (!ids) {
        fprintf(stderr, "strata: error: out of memory for a window of %lld tokens\n", (long long)T);
        return 1;
    }
    /* token 0 first: a model that fails on any window is not the vocabulary's doing */
    strata_status rc = STRATA_OK;
    int failed_at = -1;
    int prev = strata_set_grad_enabled(rt, 0);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int64_t k = 0; k < T; k++)
            ids[k] = pass ? V - 1 : 0;
        strata_tensor *x = NULL, *logits = NULL;
        rc = strata_tensor_from_host(dev, STRATA_I64, 2, shape, ids, &x);
        if (!rc)
            rc = model_forward(dev, m, x, 0, &logits);
        strata_tensor_release(x);
        strata_tensor_release(logits);
        failed_at = rc ? pass : -1;
    }
    strata_set_grad_enabled(rt, prev);
    free(ids);
    if (rc == STRATA_E_NOMEM || failed_at == 0)
        return cli_fail("running the model on one window", rc);
    if (rc) {
        fprintf(stderr, "strata: error: %s: the model cannot read the vocabulary's tokens 0 to %lld (the %lld "
                        "distinct %s of %s): %s; an embedding's num_embeddings must be at least %lld\n",
                spec_path, (long long)V - 1, (long long)V, bytes ? "bytes" : "characters", source, strata_last_error(),
                (long long)V);
        return 1;
    }
    return 0;
}

int lm_setup(run_ctx *r, const run_options *a, const char *vocab_checkpoint)
{
    const char *path = NULL, *mode = "chars", *prepare = NULL;
    strata_status rc = strata_spec_get_string(r->spec, "data.path", NULL, &path);
    if (rc || !path) {
        fprintf(stderr, "strata: error: %s: a language model needs data.format: text and data.path\n", a->spec_path);
        return 1;
    }
    strata_spec_get_string(r->spec, "data.mode", "chars", &mode);
    strata_spec_get_string(r->spec, "data.prepare", NULL, &prepare);
    strata_text_options to = {.struct_size = sizeof to, .val_fraction = 0.05};
    to.mode = !strcmp(mode, "bytes") ? STRATA_TEXT_BYTES : STRATA_TEXT_CHARS;
    strata_spec_get_float(r->spec, "data.val_fraction", 0.05, &to.val_fraction);
    char file[4096];
    lm_find_text(a->spec_path, path, file, sizeof file);
    const int missing = access(file, R_OK) != 0, random = missing && a->random_text && !vocab_checkpoint;
    if (random)
        fprintf(stderr, "strata: note: %s: text file '%s' not found%s%s%s; timing on random characters instead "
                        "(throughput does not depend on the text)\n",
                a->spec_path, path, prepare ? " (create it with: " : "", prepare ? prepare : "", prepare ? ")" : "");
    else if (missing) {
        fprintf(stderr, "strata: error: %s: text file '%s' not found (looked in the current directory and next to "
                        "the spec)%s%s\n",
                a->spec_path, path, prepare ? "; create it with: " : "", prepare ? prepare : "");
        return 1;
    }
    uint32_t *vocab = NULL;
    if (vocab_checkpoint) {
        int32_t cmode;
        if (lm_read_vocab(vocab_checkpoint, &cmode, &vocab, &to.vocab_size))
            return 1;
        if (cmode != to.mode) {
            fprintf(stderr, "strata: error: %s holds a %s vocabulary, the spec reads the text as %s\n",
                    vocab_checkpoint, cmode == STRATA_TEXT_BYTES ? "byte" : "character", mode);
            free(vocab);
            return 1;
        }
        to.vocab = vocab;
    }
    rc = random ? lm_random_text(r->model, &to, &r->text) : strata_text_load(file, &to, &r->text);
    free(vocab);
    if (rc)
        return cli_fail("loading the text", rc);
    /* its real path: the checkpoint records it, to be named from any directory */
    if (!random && !(r->text_file = realpath(file, NULL)) && !(r->text_file = strdup(file)))
        return cli_fail("loading the text", STRATA_E_NOMEM);

    /* the model: tokens (T) i64 in, logits (T, V) out */
    int nd;
    strata_dtype dt;
    const int64_t *in = strata_model_input_shape(r->model, 0, &nd, &dt);
    if (!in || nd != 1 || dt != STRATA_I64) {
        fprintf(stderr, "strata: error: %s: a language model's first input is the tokens of one window, shape [T] "
                        "dtype i64 (e.g. {name: tokens, shape: [64], dtype: i64})\n",
                a->spec_path);
        return 1;
    }
    r->seq_len = in[0];
    cli_warn_time_major(r->spec, r->model, a->spec_path);
    int64_t n_train = 0, n_val = 0;
    strata_text_tokens(r->text, 0, &n_train);
    strata_text_tokens(r->text, 1, &n_val);
    if (vocab_checkpoint && !n_train && !n_val) { /* eval: data.val_fraction is not the cause */
        fprintf(stderr, "strata: error: %s: the text %s is empty (0 tokens): there is nothing to evaluate on\n",
                a->spec_path, file);
        return 1;
    }
    if (!vocab_checkpoint && n_train < r->seq_len + 1) { /* training: refused before the run directory is made */
        fprintf(stderr, "strata: error: %s: the training part of %s has %lld tokens; a window of %lld needs %lld\n",
                a->spec_path, random ? "the random text" : file, (long long)n_train, (long long)r->seq_len,
                (long long)r->seq_len + 1);
        return 1;
    }
    int64_t sl = r->seq_len;
    strata_spec_get_int(r->spec, "data.seq_len", r->seq_len, &sl);
    if (sl != r->seq_len) {
        fprintf(stderr, "strata: error: %s: data.seq_len is %lld but the model's first input holds %lld tokens\n",
                a->spec_path, (long long)sl, (long long)r->seq_len);
        return 1;
    }
    int64_t V;
    strata_text_vocab(r->text, &V);
    const int64_t *os = strata_model_output_shape(r->model, 0, &nd);
    if (!os || nd != 2 || os[0] != r->seq_len || os[1] < V) {
        fprintf(stderr, "strata: error: %s: a language model's first output is the logits (T, V) = (%lld, >= %lld, "
                        "the vocabulary of %s); the model's is %s\n",
                a->spec_path, (long long)r->seq_len, (long long)V, file,
                !os ? "missing" : nd != 2 ? "of another rank" : "too small");
        return 1;
    }
    if (os[1] > V && dist_is_root()) /* said once in a data-parallel run */
        fprintf(stderr, "strata: note: the model predicts %lld classes, the vocabulary has %lld token%s\n",
                (long long)os[1], (long long)V, V == 1 ? "" : "s");
    if (lm_check_state_order(r->spec, strata_model_input_count(r->model)) ||
        lm_check_vocab_fits(r->rt, r->dev, r->model, r->seq_len, V, strata_text_get_mode(r->text) == STRATA_TEXT_BYTES,
                            a->spec_path, random ? "the random text" : file))
        return 1;
    strata_spec_get_int(r->spec, "train.batch_size", 64, &r->batch);
    if (a->batch_size > 0)
        r->batch = a->batch_size;
    r->eval_batch = 256;
    strata_spec_get_int(r->spec, "train.eval_batch_size", 256, &r->eval_batch);
    return 0;
}

/* Number of model outputs (the API answers shapes for valid indices only). */
static int output_count(const strata_model *m)
{
    int n = 0;
    while (strata_model_output_shape(m, n, NULL))
        n++;
    return n;
}

strata_status lm_forward(run_ctx *r, strata_tensor *x, int training, strata_tensor **logits)
{
    return model_forward(r->dev, r->model, x, training, logits);
}

static strata_status model_forward(strata_device *dev, strata_model *m, strata_tensor *x, int training,
                                   strata_tensor **logits)
{
    int n_in = strata_model_input_count(m), n_out = output_count(m);
    strata_tensor *in[16] = {x}, *out[16] = {0};
    if (n_in > 16 || n_out > 16 || n_out < 1)
        return STRATA_E_INVALID;
    strata_status rc = STRATA_OK;
    /* inputs after the tokens are initial states: zero, batch-first */
    for (int k = 1; k < n_in && !rc; k++) {
        int nd;
        strata_dtype dt;
        const int64_t *s = strata_model_input_shape(m, k, &nd, &dt);
        int64_t shape[STRATA_MAX_DIMS];
        shape[0] = strata_tensor_dim(x, 0);
        memcpy(shape + 1, s, sizeof(int64_t) * (size_t)nd);
        rc = strata_tensor_zeros(dev, dt, nd + 1, shape, &in[k]);
    }
    if (!rc)
        rc = strata_model_forward(m, in, n_in, out, n_out, training);
    for (int k = 1; k < n_in; k++)
        strata_tensor_release(in[k]);
    for (int k = 1; k < n_out; k++)
        strata_tensor_release(out[k]);
    if (!rc)
        *logits = out[0];
    return rc;
}

/* loss of logits (B, T, V) against targets (B, T): cross-entropy over B*T positions */
static strata_status lm_loss(run_ctx *r, strata_tensor *logits, strata_tensor *y, const char *reduction,
                             strata_tensor **loss)
{
    int64_t n = strata_tensor_numel(y), V = strata_tensor_dim(logits, -1);
    int64_t s2[2] = {n, V}, s1[1] = {n};
    strata_tensor *l2 = NULL, *y1 = NULL;
    strata_status rc = strata_reshape(r->rt, logits, 2, s2, &l2);
    if (!rc)
        rc = strata_reshape(r->rt, y, 1, s1, &y1);
    strata_attr red = strata_attr_string("reduction", reduction);
    strata_tensor *in[2] = {l2, y1};
    if (!rc)
        rc = strata_op_call(r->rt, "core::cross_entropy", in, 2, &red, 1, loss, 1);
    strata_tensor_release(l2);
    strata_tensor_release(y1);
    return rc;
}

/* a run_loss_fn: the mean cross-entropy over the batch's B*T positions */
static strata_status lm_batch_loss(run_ctx *r, strata_tensor *x, strata_tensor *y, strata_tensor **loss,
                                   int64_t *right)
{
    strata_tensor *logits = NULL;
    strata_status rc = lm_forward(r, x, 1, &logits);
    if (!rc)
        rc = lm_loss(r, logits, y, "mean", loss);
    strata_tensor_release(logits);
    return rc;
}

strata_status lm_train_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, double *loss_out)
{
    return run_step(r, x, y, clip, lm_batch_loss, NULL, loss_out);
}

strata_status lm_evaluate(run_ctx *r, double *loss)
{
    int64_t nw;
    strata_status rc = strata_text_val_windows(r->text, r->seq_len, &nw);
    if (rc)
        return rc;
    int prev = strata_set_grad_enabled(r->rt, 0);
    double total = 0;
    for (int64_t first = 0; first < nw && !rc; first += r->eval_batch) {
        int64_t count = nw - first < r->eval_batch ? nw - first : r->eval_batch, lo, hi;
        dist_share(count, &lo, &hi); /* a data-parallel run: this rank's windows; the sums meet below */
        if (hi == lo)
            continue;
        strata_tensor *x = NULL, *y = NULL, *logits = NULL, *l = NULL;
        rc = strata_text_val_batch(r->text, r->dev, r->seq_len, first + lo, hi - lo, &x, &y);
        if (!rc)
            rc = lm_forward(r, x, 0, &logits);
        if (!rc)
            rc = lm_loss(r, logits, y, "sum", &l);
        double v = 0;
        if (!rc)
            rc = strata_tensor_item(l, &v);
        total += v;
        strata_tensor_release(l);
        strata_tensor_release(logits);
        strata_tensor_release(x);
        strata_tensor_release(y);
    }
    strata_set_grad_enabled(r->rt, prev);
    if (!rc && dist_sum_f64(&total, 1))
        rc = STRATA_E_BACKEND;
    *loss = nw ? total / (double)(nw * r->seq_len) : NAN;
    return rc;
}


/* FNV-1a (64 bits) of the text's token ids, training part then held-out
 * part: the whole text, for a given vocabulary. */
static uint64_t text_hash(const strata_text *t)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int split = 0; split < 2; split++) {
        int64_t n = 0;
        const int32_t *ids = strata_text_tokens(t, split, &n);
        for (int64_t k = 0; k < n; k++)
            for (int b = 0; b < 4; b++)
                h = (h ^ (((uint32_t)ids[k] >> (8 * b)) & 0xFF)) * 0x100000001b3ull;
    }
    return h;
}

/* "text.tokens" and "text.hash" of @p t, as the checkpoint records them. */
static void text_record(const strata_text *t, char tokens[24], char hash[24])
{
    int64_t n_train = 0, n_val = 0;
    strata_text_tokens(t, 0, &n_train);
    strata_text_tokens(t, 1, &n_val);
    snprintf(tokens, 24, "%lld", (long long)(n_train + n_val));
    snprintf(hash, 24, "%016llx", (unsigned long long)text_hash(t));
}

/* Checkpoint metadata besides train.state: the task and the vocabulary
 * that eval and generate read ("text.vocab": code points in token-id
 * order, decimal, space-separated); the text trained on (its path, its
 * tokens' count and hash), which a resume compares with its own. */
static json_t *checkpoint_meta(run_ctx *r)
{
    int64_t V;
    const uint32_t *v = strata_text_vocab(r->text, &V);
    char *list = malloc((size_t)V * 8 + 1);
    if (!list)
        return NULL;
    size_t used = 0;
    for (int64_t k = 0; k < V; k++)
        used += (size_t)sprintf(list + used, "%s%u", k ? " " : "", (unsigned)v[k]);
    list[used] = '\0';
    json_t *o = json_pack("{s:s, s:s, s:s}", "task", "language_model", "text.mode",
                          strata_text_get_mode(r->text) == STRATA_TEXT_BYTES ? "bytes" : "chars", "text.vocab", list);
    free(list);
    char tokens[24], hash[24];
    text_record(r->text, tokens, hash);
    if (o && (json_object_set_new(o, "text.path", json_string(r->text_file ? r->text_file : "")) ||
              json_object_set_new(o, "text.tokens", json_string(tokens)) ||
              json_object_set_new(o, "text.hash", json_string(hash)))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Where the run stands after @p step steps, with the running sums of the
 * next evaluation record (sum_loss over @p since steps); the random state
 * (dropout) as it is now. The batches need nothing more: step and seed
 * give them. */
static train_state lm_position(run_ctx *r, uint64_t data_seed, int64_t step, double sum_loss, int64_t since)
{
    train_state s = {.step = step, .data_seed = data_seed, .sum_loss = sum_loss, .seen = since,
                     .batch_size = r->batch};
    strata_runtime_rng_state(r->rt, &s.rng_seed, &s.rng_offset);
    return s;
}

/* "U+0078 'x'", or "U+000A" for a character that does not print as itself */
static const char *token_name(uint32_t c, char *buf, size_t size)
{
    if (c > 32 && c < 127)
        snprintf(buf, size, "U+%04X '%c'", (unsigned)c, (char)c);
    else
        snprintf(buf, size, "U+%04X", (unsigned)c);
    return buf;
}

/* The vocabulary of the checkpoint in @p dir is the text's: 0, or 1 after a message. */
static int same_vocab(run_ctx *r, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    int32_t mode;
    uint32_t *saved;
    int64_t n, V;
    if (lm_read_vocab(path, &mode, &saved, &n))
        return 1;
    const uint32_t *now = strata_text_vocab(r->text, &V);
    int same = mode == (int32_t)strata_text_get_mode(r->text) && n == V && !memcmp(saved, now, sizeof *now * (size_t)V);
    char how[160] = "", a[24], b[24]; /* the first difference */
    for (int64_t k = 0; !same && k < V && k < n && !how[0]; k++)
        if (saved[k] != now[k])
            snprintf(how, sizeof how, ": its token %lld is %s, the text's %s", (long long)k,
                     token_name(saved[k], a, sizeof a), token_name(now[k], b, sizeof b));
    free(saved);
    if (!same)
        fprintf(stderr, "strata: error: the text's vocabulary (%lld tokens) is not the one %s was trained on (%lld%s); "
                        "resume with the same text\n",
                (long long)V, path, (long long)n, how);
    return !same;
}

/* Warns when the text is not the one the checkpoint in @p dir recorded (a
 * checkpoint of an older version records none): the same characters,
 * another text (data.path changed, the file rewritten), which trains on but
 * draws other batches from here on. */
static void same_text(run_ctx *r, const char *dir)
{
    char path[4200], was_path[4200], was_tokens[24], was_hash[24], tokens[24], hash[24];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    if (strata_checkpoint_metadata(path, "text.tokens", was_tokens, sizeof was_tokens) ||
        strata_checkpoint_metadata(path, "text.hash", was_hash, sizeof was_hash)) {
        strata_clear_error();
        return;
    }
    if (strata_checkpoint_metadata(path, "text.path", was_path, sizeof was_path))
        snprintf(was_path, sizeof was_path, "?");
    strata_clear_error();
    text_record(r->text, tokens, hash);
    if ((strcmp(tokens, was_tokens) || strcmp(hash, was_hash)) && dist_is_root())
        fprintf(stderr, "strata: warning: the text %s (%s tokens) is not the one %s was trained on (%s, %s tokens), "
                        "though its characters are: the resumed run trains on, no longer step for step an "
                        "uninterrupted one\n",
                r->text_file ? r->text_file : "(random characters)", tokens, path, was_path[0] ? was_path : "?",
                was_tokens);
}

/* --resume: the model, optimizer and position of o->out_dir, the metrics
 * written after that position dropped (unless the run of @p steps is
 * already done). Returns 0 or an exit code after a
 * message. */
static int lm_resume(run_ctx *r, const lm_train_options *o, int64_t steps, train_state *ts)
{
    train_ckpt_remove_temps(o->out_dir);
    if (train_ckpt_load(o->out_dir, r->model, r->opt, ts))
        return 1;
    json_decref(ts->extra); /* a language model keeps no state of its own */
    ts->extra = NULL;
    if (same_vocab(r, o->out_dir))
        return 1;
    same_text(r, o->out_dir);
    train_resume_note_seed(ts->data_seed, o->seed, "draws its batches with", o->quiet);
    if (train_resume_check_batch(ts, o->out_dir, r->batch, "give --batch-size"))
        return 2;
    train_resume_warn_backend(ts, r->dev);
    /* a finished run keeps its records; one that goes on drops those after the checkpoint */
    if (ts->step < steps && train_metrics_truncate(o->out_dir, ts))
        return 1;
    strata_runtime_set_rng_state(r->rt, ts->rng_seed, ts->rng_offset);
    if (!o->quiet)
        fprintf(stderr, "strata: resuming %s at step %lld\n", o->out_dir, (long long)ts->step);
    train_resume_nothing_left(ts->step, steps, 0, 0, NULL, NULL);
    return 0;
}

/* train_metrics_filter: every record but an evaluation's at step *ctx (one
 * a killed run wrote before its checkpoint after it). */
static int record_not_eval_at(const char *line, const void *ctx)
{
    json_error_t err;
    json_t *o = json_loads(line, 0, &err), *st = json_object_get(o, "step");
    const int drop = json_is_integer(st) && json_integer_value(st) == *(const int64_t *)ctx &&
                     json_object_get(o, "val_loss") != NULL;
    json_decref(o);
    return !drop;
}

/* The batch loss at @p step in DIR/metrics.jsonl (NaN when it is not
 * there: the file was edited or cut), which the record of a resumed
 * pending evaluation shows. */
static double lm_batch_loss_at(const char *dir, int64_t step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    double loss = NAN;
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err), *st = json_object_get(o, "step"), *bl = json_object_get(o, "batch_loss");
        if (json_is_integer(st) && json_integer_value(st) == step && json_is_number(bl))
            loss = json_number_value(bl);
        json_decref(o);
    }
    free(line);
    if (f)
        fclose(f);
    return loss;
}

int lm_train(run_ctx *r, const lm_train_options *o)
{
    const train_resume_args none = {0};
    const train_resume_args *ck = o->ckpt ? o->ckpt : &none;
    int64_t steps = 1000, eval_every = 0, log_every = 50;
    if (strata_spec_get_int(r->spec, "train.steps", 1000, &steps) == STRATA_E_NOT_FOUND && o->steps <= 0 &&
        !o->quiet)
        fprintf(stderr, "strata: train.steps not given: training 1000 steps\n");
    const int64_t run_steps = steps; /* the run's own end, where --steps may stop it earlier */
    if (o->steps > 0)
        steps = o->steps;
    strata_spec_get_int(r->spec, "train.eval_every", 0, &eval_every);
    strata_spec_get_int(r->spec, "train.log_every", 50, &log_every);
    double clip = 0;
    strata_spec_get_float(r->spec, "train.clip_grad_norm", 0.0, &clip);
    cli_schedule sched;
    if (cli_read_schedule(r->spec, 1000, &sched)) /* train.steps, else its default */
        return 1;
    /* the rate the schedule starts from, before a checkpoint sets the current one */
    double base_lr = strata_optimizer_lr(r->opt);

    /* train.keep_best: val_loss and train.patience: counted in evaluations (train.eval_every) */
    train_best best = {.value = NAN};
    int64_t patience = 0;
    strata_spec_get_string(r->spec, "train.keep_best", NULL, &best.metric);
    strata_spec_get_int(r->spec, "train.patience", 0, &patience);
    if ((best.metric || patience > 0) && (eval_every <= 0 || !best.metric)) {
        fprintf(stderr, "strata: error: %s: a language model keeps its best model (train.keep_best: val_loss; "
                        "train.patience with it) at its evaluations: set train.eval_every%s\n",
                strata_spec_path(r->spec), best.metric ? "" : " and train.keep_best");
        return 1;
    }
    int64_t nw = 0;
    strata_text_val_windows(r->text, r->seq_len, &nw);
    if ((best.metric || patience > 0) && !nw) { /* every evaluation a NaN: no best model, no early stop */
        fprintf(stderr, "strata: error: %s: train.keep_best and train.patience judge the validation loss, and there "
                        "is no validation text (data.val_fraction holds out too little for one window of %lld "
                        "tokens)\n",
                strata_spec_path(r->spec), (long long)r->seq_len);
        return 1;
    }
    /* keep_best chooses among the eval_every evaluations (the same whether the run stops and resumes) */
    if (best.metric && run_steps < eval_every && !ck->resume && dist_is_root())
        fprintf(stderr, "strata: warning: train.keep_best chooses among the evaluations every %lld steps, and a run "
                        "of %lld steps (train.steps) makes none: no best model will be kept\n",
                (long long)eval_every, (long long)run_steps);
    else if (best.metric && o->steps <= 0 && !ck->resume && run_steps % eval_every != 0 && !o->quiet &&
             dist_is_root())
        fprintf(stderr, "strata: note: train.keep_best chooses among the evaluations every %lld steps; the one at "
                        "the run's end (step %lld) is not one of them (a run extended past it with a larger --steps "
                        "would not make it): make train.steps a multiple of train.eval_every to have it count\n",
                (long long)eval_every, (long long)run_steps);
    train_state ts = {.data_seed = (uint64_t)o->seed};
    int ret;
    if (ck->resume && (ret = lm_resume(r, o, steps, &ts)))
        return ret;
    if (best.metric && ck->resume)
        train_best_resume(&best, o->out_dir, ts.step, o->quiet);
    else if (!ck->resume)
        train_best_forget(o->out_dir);
    /* A checkpoint at an evaluation step that still holds the running sums
     * was saved by a stop just before that evaluation (a Ctrl-C at mpirun
     * kills a second after it asks): a kill cut the evaluation off, so it
     * is made first, as the uninterrupted run made it (a record it may have
     * written goes: it comes again). */
    int pending =
        ck->resume && eval_every > 0 && ts.step > 0 && ts.step <= steps && ts.step % eval_every == 0 && ts.seen > 0;
    if (pending && train_metrics_filter(o->out_dir, record_not_eval_at, &ts.step))
        return 1;
    train_spec_record(o->out_dir, r->spec, ck->resume != NULL);
    json_t *meta = checkpoint_meta(r);
    if (!meta)
        return cli_fail("training", STRATA_E_NOMEM);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", o->out_dir);
    FILE *metrics = train_metrics_open(path, ck->resume != NULL);
    if (!metrics) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        json_decref(meta);
        return 1;
    }
    int64_t V, n_train, n_val;
    strata_text_vocab(r->text, &V);
    strata_text_tokens(r->text, 0, &n_train);
    strata_text_tokens(r->text, 1, &n_val);
    cli_note_defaults(r->spec, o->quiet, ck->resume != NULL);
    if (!o->quiet)
        fprintf(stderr,
                "strata: training %s on %s: %lld parameters; vocabulary %lld, %lld training tokens, %lld held out "
                "(%lld validation windows); batch %lld x %lld tokens, %lld steps\n",
                strata_spec_path(r->spec), strata_device_name(r->dev), (long long)strata_model_num_scalars(r->model),
                (long long)V, (long long)n_train, (long long)n_val, (long long)nw, (long long)r->batch,
                (long long)r->seq_len, (long long)steps);
    if (!o->quiet) {
        run_note_data_parallel(r->batch, o->out_dir);
        run_note_accumulate(r);
    }
    if (!nw && dist_is_root()) /* (a NaN validation loss would read as a diverged run) */
        fprintf(stderr, "strata: note: no validation window: data.val_fraction holds out %lld token(s), too few for "
                        "one window of %lld tokens; the validation loss is not measured (null in the records)\n",
                (long long)n_val, (long long)r->seq_len);

    strata_status rc = STRATA_OK;
    const uint64_t data_seed = ts.data_seed;
    double t_start = cli_now(), val_loss = NAN, sum_loss = ts.sum_loss,
           last_loss = pending ? lm_batch_loss_at(o->out_dir, ts.step) : NAN;
    int64_t since = ts.seen, step = ts.step;
    int evaluated = 0, stopped = 0; /* stopped: by Ctrl-C, saved where it stands */
    int told = 0; /* stopped on every rank, the message out: a non-finite loss, ranks that differ */
    int lost = 0; /* metrics.jsonl failed: said, on rank 0 alone (not settled) */
    int64_t early_stop = 0;                       /* the step it stopped at, without a better model */
    if (run_check_replicas(r, ts.step ? "at the checkpoint" : "before training", -1)) {
        fclose(metrics);
        json_decref(meta);
        return 1;
    }
    cli_progress prog;
    if (!o->quiet)
        progress_start(&prog, "train", steps, log_every);
    /* a new run stopped during start-up: nothing trained, nothing saved (the directory's earlier run stays) */
    stopped = !ck->resume && cli_stop_agreed();
    while ((step < steps || pending) && !rc && !stopped) {
        if (!pending) { /* the step; a pending evaluation goes straight to it below */
            if (patience > 0 && !isnan(best.value) && (step - best.step) / eval_every >= patience) {
                early_stop = step;
                break;
            }
            train_state before = lm_position(r, data_seed, step, sum_loss, since);
            strata_tensor *x = NULL, *y = NULL;
            rc = strata_text_train_batch(r->text, r->dev, r->batch, r->seq_len, data_seed, step, &x, &y);
            const double lr = strata_lr_at(&sched.s, base_lr, step);
            strata_optimizer_set_lr(r->opt, lr);
            double lv = 0;
            if (!rc)
                rc = lm_train_step(r, x, y, clip, &lv);
            strata_tensor_release(x);
            strata_tensor_release(y);
            if (train_numeric_stop(rc, lv)) { /* a non-finite loss, or --detect-anomaly's report */
                /* the update was not applied: the model is the state after the last good step */
                char why[1024];
                train_numeric_cause(lv, why, sizeof why);
                strata_status sv = train_ckpt_save_meta(o->out_dir, "checkpoint.safetensors", r->model, r->opt, &before,
                                                        meta);
                char at[48];
                snprintf(at, sizeof at, "step %lld", (long long)step + 1);
                train_tell_nan_stop(lv, why, at, sv, step, strata_spec_path(r->spec), o->out_dir);
                told = 1;
                break;
            }
            if (rc)
                break;
            step++;
            if ((lost = train_metrics_step(metrics, o->out_dir, step, lv, lr))) {
                rc = STRATA_E_IO;
                break;
            }
            sum_loss += lv;
            last_loss = lv;
            since++;
            if (!o->quiet)
                progress_update(&prog, step, sum_loss / (double)since, NAN);
        }
        pending = 0;
        /* an evaluation at eval_every, or at the end of a run stopped between two: that one is
         * marked "end_of_run" and its checkpoint keeps the running sums, so that a resumed run
         * drops the record and goes on as an uninterrupted one */
        const int periodic = eval_every > 0 && step % eval_every == 0, eval_now = periodic || step == steps;
        train_state now = lm_position(r, data_seed, step, sum_loss, since);
        /* every rank of a data-parallel run stops together; saved before an evaluation, as mpirun
         * follows its SIGTERM with SIGKILL a second later */
        const int stop = cli_stop_agreed() && step < steps;
        if (stop && eval_now &&
            (rc = train_ckpt_save_meta(o->out_dir, "checkpoint.safetensors", r->model, r->opt, &now, meta)))
            break;
        if (eval_now) {
            if ((rc = lm_evaluate(r, &val_loss)))
                break;
            if (run_check_replicas(r, "after step", step)) {
                rc = STRATA_E_INVALID;
                told = 1;
                break;
            }
            evaluated = 1;
            double secs = cli_now() - t_start;
            json_t *rec = json_pack("{s:I, s:f, s:o, s:o, s:f}", "step", (json_int_t)step, "loss",
                                    sum_loss / (double)since, "last_loss", cli_json_num(last_loss), "val_loss",
                                    cli_json_num(val_loss),
                                    "lr", strata_optimizer_lr(r->opt));
            if (rec && !periodic)
                json_object_set_new(rec, "end_of_run", json_true());
            if (rec)
                json_object_set_new(rec, "seconds", json_real(secs));
            if ((lost = train_metrics_json(metrics, o->out_dir, rec))) {
                rc = STRATA_E_IO;
                break;
            }
            if (!o->quiet) {
                progress_end(&prog);
                if (!nw) /* no validation window (metrics.jsonl has null); a NaN with windows is a diverged run's */
                    fprintf(stderr, "step %lld: train loss %.4f | val loss - (no validation window) | %.1fs\n",
                            (long long)step, sum_loss / (double)since, secs);
                else
                    fprintf(stderr, "step %lld: train loss %.4f | val loss %.4f nats/char | %.1fs\n",
                            (long long)step, sum_loss / (double)since, val_loss, secs);
                if (step < steps)
                    progress_start(&prog, "train", steps, log_every);
            }
            sum_loss = 0;
            since = 0;
            if (periodic)
                now = lm_position(r, data_seed, step, sum_loss, since);
            /* only the evaluations every run makes (not one at a --steps stop) choose the best */
            if (periodic && (rc = train_best_update(&best, o->out_dir, r->model, val_loss, 0, step, meta)))
                break;
        }
        /* checkpoints: at every evaluation, every --checkpoint-every steps and on Ctrl-C */
        if (eval_now || stop || (ck->checkpoint_every > 0 && step % ck->checkpoint_every == 0))
            rc = train_ckpt_save_meta(o->out_dir, "checkpoint.safetensors", r->model, r->opt, &now, meta);
        if (stop) {
            stopped = 1;
            break;
        }
    }
    if (train_metrics_close(metrics, o->out_dir, lost) && !rc)
        rc = STRATA_E_IO, lost = 1;
    json_decref(meta);
    if (told || (!rc && stopped))
        dist_settled();
    if (!rc && stopped) {
        const int code = cli_interrupt_exit(strata_spec_path(r->spec), o->out_dir, step);
        report_after_training(o->out_dir, 1);
        return code;
    }
    if (!o->quiet && early_stop)
        progress_end(&prog);
    if (!rc && !evaluated) /* resumed a finished run: report where it stands */
        rc = lm_evaluate(r, &val_loss);
    if (told || lost)
        return 1;
    if (rc)
        return cli_fail("training", rc);
    double total = cli_now() - t_start;
    const int64_t ran = step - ts.step;
    json_t *sum = json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:f, s:I}", "val_loss",
                            cli_json_num(val_loss), "task", "language_model", "steps", (json_int_t)step, "batch_size",
                            (json_int_t)r->batch, "seq_len", (json_int_t)r->seq_len, "vocab_size", (json_int_t)V,
                            "train_tokens", (json_int_t)n_train, "backend", strata_device_backend(r->dev), "device",
                            strata_device_name(r->dev), "seconds", total, "tokens_per_second",
                            total > 0 ? (double)(ran * r->batch * r->seq_len) / total : 0.0, "parameters",
                            (json_int_t)strata_model_num_scalars(r->model));
    if (sum && early_stop)
        json_object_set_new(sum, "stopped_early_at", json_integer((json_int_t)early_stop));
    if (sum && best.metric && !isnan(best.value))
        json_object_set_new(sum, "best", json_pack("{s:s, s:f, s:I}", "metric", best.metric, "value", best.value,
                                                   "step", (json_int_t)best.step));
    cli_summary_name(sum, r->spec);
    ret = cli_write_summary(o->out_dir, sum, ran > 0 || evaluated); /* a pending evaluation alone: written */
    json_decref(sum);
    if (early_stop)
        printf("stopped early at step %lld: no better val_loss in %lld evaluations\n", (long long)early_stop,
               (long long)patience);
    if (best.metric && !isnan(best.value))
        printf("best: step %lld, val_loss %.4f (%s/best.safetensors)\n", (long long)best.step, best.value,
               o->out_dir);
    if (nw)
        printf("validation loss: %.4f nats/char (%lld step%s, %.1f s on %s)\n", val_loss, (long long)step,
               step == 1 ? "" : "s", total, strata_device_name(r->dev));
    else
        printf("validation loss: not measured, no validation window (%lld step%s, %.1f s on %s)\n",
               (long long)step, step == 1 ? "" : "s", total, strata_device_name(r->dev));
    report_after_training(o->out_dir, o->quiet);
    return ret;
}
