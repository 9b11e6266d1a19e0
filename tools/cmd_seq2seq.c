/* cmd_seq2seq.c - `strata train` / `strata eval` for a sequence-to-sequence
 * spec (data.format: seq2seq_reverse): strings of digits and their
 * reversals, generated from the seed; an encoder-decoder model trained
 * with teacher forcing, evaluated by greedy decoding and exact match.
 *
 * Tokens: 0 PAD, 1..10 the digits 0..9, 11 GO. The model's inputs are src
 * (T) and tgt_in (T) i64, T = data.max_len; its output 0 the logits
 * (T, 12). The target is the reversed string padded with PAD (PAD
 * positions are targets too), tgt_in is GO + target[:-1]. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"

enum { S2S_PAD = 0, S2S_GO = 11, S2S_V = 12 };

typedef struct {
    int64_t n, T;
    int64_t *src, *tgt; /* n x T each */
} s2s_set;

static uint64_t s2s_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int s2s_make(s2s_set *d, int64_t n, int64_t T, int64_t lo, int64_t hi, uint64_t seed)
{
    d->n = n;
    d->T = T;
    d->src = calloc((size_t)(n * T), sizeof(int64_t));
    d->tgt = calloc((size_t)(n * T), sizeof(int64_t));
    if (!d->src || !d->tgt)
        return 1;
    uint64_t s = seed * 2654435761u + 88172645463325252ull;
    if (!s) /* xorshift stays at 0 from 0 (two seeds map there): every string would be the same */
        s = 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        int64_t len = lo + (int64_t)(s2s_rand(&s) % (uint64_t)(hi - lo + 1));
        for (int64_t k = 0; k < len; k++)
            d->src[i * T + k] = 1 + (int64_t)(s2s_rand(&s) % 10);
        for (int64_t k = 0; k < len; k++)
            d->tgt[i * T + k] = d->src[i * T + len - 1 - k];
    }
    return 0;
}

static void s2s_free(s2s_set *d)
{
    free(d->src);
    free(d->tgt);
}

typedef struct {
    const char *spec_path, *out_dir, *checkpoint, *backend;
    int64_t steps, seed, batch;
    int have_seed, quiet, json, detect_anomaly;
    train_resume_args ckpt; /* --resume, --checkpoint-every (0: at the end only) */
} s2s_args;

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *model;
    strata_optimizer *opt;
    int64_t T, lo, hi;
    s2s_set train, test;
    dist_host dist; /* a data-parallel run's host copies (dist.h) */
} s2s_ctx;

enum { S2S_TRAIN = 1, S2S_EVAL = 2 };

static int s2s_parse(int argc, char **argv, s2s_args *a, unsigned mode)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .modes = S2S_TRAIN,
         .help = "the run directory: checkpoint.safetensors, metrics.jsonl"},
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE", .modes = S2S_EVAL,
         .help = "the weights to test (RUN/checkpoint.safetensors, or RUN)", .in_dir = "checkpoint.safetensors"},
        {.name = "--steps", .type = CLI_INT, .dst = &a->steps, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = S2S_TRAIN, .help = "training steps (default: train.steps)"},
        CLI_BATCH_SIZE_OPTION(&a->batch, S2S_TRAIN),
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .given = &a->have_seed, .help = "the random seed (default: the spec's seed)"},
        CLI_BACKEND_OPTION(&a->backend),
        CLI_SET_OPTION(0),
        CLI_RESUME_OPTIONS(&a->ckpt, S2S_TRAIN),
        CLI_DETECT_ANOMALY_OPTION(&a->detect_anomaly, S2S_TRAIN),
        {.name = "--quiet", .type = CLI_FLAG, .dst = &a->quiet, .modes = S2S_TRAIN, .help = "no progress lines"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .modes = S2S_EVAL, .help = "print a JSON object"},
        {0},
    };
    const cli_command train = {
        .name = "train", .mode = S2S_TRAIN, .positional = &a->spec_path, .opts = opts,
        .synopsis = "SEQ2SEQ_SPEC --out DIR [options]\nSEQ2SEQ_SPEC --resume DIR [options]",
        .about = "Trains an encoder-decoder on sequence reversal (data.format: seq2seq_reverse)."};
    const cli_command eval = {
        .name = "eval", .mode = S2S_EVAL, .positional = &a->spec_path, .opts = opts,
        .synopsis = "SEQ2SEQ_SPEC --checkpoint FILE [options]",
        .about = "Exact-match accuracy of greedy decoding on the test sequences."};
    const cli_command *c = mode == S2S_TRAIN ? &train : &eval;
    int r = cli_parse(c, argc, argv);
    if (r || (r = cli_require(c, a->spec_path, "a model spec")) || (r = cli_batch_size_set(a->batch)))
        return r;
    if (mode == S2S_EVAL)
        return cli_require(c, a->checkpoint, "--checkpoint FILE");
    if ((r = train_resume_finish(&a->ckpt, &a->out_dir)))
        return r;
    return cli_require(c, a->out_dir, "--out DIR (or --resume DIR)");
}

static void s2s_ctx_free(s2s_ctx *c)
{
    s2s_free(&c->train);
    s2s_free(&c->test);
    strata_optimizer_destroy(c->opt);
    strata_model_destroy(c->model);
    strata_spec_destroy(c->spec);
    strata_runtime_destroy(c->rt);
    free(c->dist.buf);
}

/* "[8] i64" of input or output @p i (@p dt < 0: an output, no dtype), or "none" (cut short past @p size). */
static const char *s2s_shape_text(char *buf, size_t size, const int64_t *shape, int nd, int dt)
{
    char dims[48];
    if (!shape)
        snprintf(buf, size, "none");
    else
        snprintf(buf, size, "[%s]%s%s", cli_shape_text(dims, sizeof dims, shape, nd), dt >= 0 ? " " : "",
                 dt >= 0 ? strata_dtype_name(dt) : "");
    return buf;
}

static strata_status s2s_forward(s2s_ctx *c, int64_t B, const int64_t *src, const int64_t *tin, int training,
                                 strata_tensor **logits);

/* One forward of a batch of 1 with every token 0 (PAD), then every token S2S_V - 1 (GO): an embedding narrower
 * than the vocabulary failed only at the first training step, with no spec named and a run directory left. */
static int s2s_check_vocab_fits(s2s_ctx *c, const char *spec_path)
{
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)c->T);
    if (!ids) {
        fprintf(stderr, "strata: error: out of memory for a string of %lld tokens\n", (long long)c->T);
        return 1;
    }
    strata_status rc = STRATA_OK;
    int failed_at = -1;
    int prev = strata_set_grad_enabled(c->rt, 0);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int64_t k = 0; k < c->T; k++)
            ids[k] = pass ? S2S_V - 1 : S2S_PAD;
        strata_tensor *logits = NULL;
        rc = s2s_forward(c, 1, ids, ids, 0, &logits);
        strata_tensor_release(logits);
        failed_at = rc ? pass : -1;
    }
    strata_set_grad_enabled(c->rt, prev);
    free(ids);
    if (rc == STRATA_E_NOMEM || failed_at == 0) /* not the vocabulary's doing */
        return cli_fail("running the model on one string", rc);
    if (rc) {
        fprintf(stderr, "strata: error: %s: the model cannot read the tokens 0 to %d (PAD, the digits 0-9 as 1 to 10, "
                        "GO): %s; an embedding's num_embeddings must be at least %d\n",
                spec_path, S2S_V - 1, strata_last_error(), S2S_V);
        return 1;
    }
    return 0;
}

static int s2s_setup(s2s_ctx *c, const s2s_args *a, int need_train)
{
    memset(c, 0, sizeof *c);
    strata_status rc = cli_runtime_create(a->have_seed ? (uint64_t)a->seed : 0, &c->rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    if (a->detect_anomaly)
        strata_set_detect_anomaly(c->rt, 1);
    if (cli_spec_load(c->rt, a->spec_path, &c->spec))
        return 1;
    int64_t seed = 1;
    strata_spec_get_int(c->spec, "seed", 1, &seed);
    if (a->have_seed)
        seed = a->seed;
    strata_runtime_seed(c->rt, (uint64_t)seed);
    if ((rc = cli_device_get(c->rt, a->backend, &c->dev)))
        return cli_fail("choosing a device", rc);
    if ((rc = strata_spec_build_model(c->spec, c->dev, &c->model)))
        return cli_fail("building the model", rc);
    if (need_train && (rc = strata_spec_create_optimizer(c->spec, c->model, &c->opt)))
        return cli_fail("creating the optimizer", rc);
    if (need_train)
        cli_warn_time_major(c->spec, c->model, a->spec_path);
    int nd0 = 0, nd1 = 0, ndo = 0;
    strata_dtype dt = STRATA_F32, dt1 = STRATA_F32;
    const int n_in = strata_model_input_count(c->model);
    const int64_t *s0 = strata_model_input_shape(c->model, 0, &nd0, &dt);
    const int64_t *s1 = n_in > 1 ? strata_model_input_shape(c->model, 1, &nd1, &dt1) : NULL;
    const int64_t *os = strata_model_output_shape(c->model, 0, &ndo);
    if (n_in != 2 || !s0 || !s1 || nd0 != 1 || nd1 != 1 || dt != STRATA_I64 || dt1 != STRATA_I64 ||
        s0[0] != s1[0] || !os || ndo != 2 || os[0] != s1[0] || os[1] != S2S_V) {
        char t0[64], t1[64], to[64];
        fprintf(stderr,
                "strata: error: %s: a seq2seq model has two inputs, src [T] and tgt_in [T] (dtype: i64), "
                "and its first output is the logits [T, %d]; this one has %d input%s (%s%s%s%s) and its first output "
                "is %s\n",
                a->spec_path, S2S_V, n_in, n_in == 1 ? "" : "s", s2s_shape_text(t0, sizeof t0, s0, nd0, (int)dt),
                s1 ? ", " : "", s1 ? s2s_shape_text(t1, sizeof t1, s1, nd1, (int)dt1) : "", n_in > 2 ? ", ..." : "",
                s2s_shape_text(to, sizeof to, os, ndo, -1));
        return 1;
    }
    c->T = s1[0];
    if (s2s_check_vocab_fits(c, a->spec_path))
        return 1;
    int64_t ntrain = 20000, ntest = 1000;
    strata_spec_get_int(c->spec, "data.train_size", 20000, &ntrain);
    strata_spec_get_int(c->spec, "data.test_size", 1000, &ntest);
    strata_spec_get_int(c->spec, "data.min_len", 3, &c->lo);
    strata_spec_get_int(c->spec, "data.max_len", c->T, &c->hi);
    if (c->hi != c->T || c->lo > c->hi) {
        fprintf(stderr, "strata: error: %s: data.min_len %lld and data.max_len %lld must satisfy min_len <= max_len = T = %lld (the model's input length)\n",
                a->spec_path, (long long)c->lo, (long long)c->hi, (long long)c->T);
        return 1;
    }
    /* sizes whose token arrays (n x T x 8 bytes; a batch: 3 of B x T) would overflow a size_t */
    int64_t B = 64;
    strata_spec_get_int(c->spec, "train.batch_size", 64, &B);
    const struct {
        const char *key;
        int64_t n, per;
    } sizes[3] = {{"data.train_size", need_train ? ntrain : 0, 1}, {"data.test_size", ntest, 1},
                  {"train.batch_size", need_train ? B : 0, 3}};
    for (int k = 0; k < 3; k++)
        if (sizes[k].n > INT64_MAX / 8 / sizes[k].per / c->T) {
            fprintf(stderr, "strata: error: %s: %s %lld is too large: %lld x %lld tokens do not fit in memory\n",
                    a->spec_path, sizes[k].key, (long long)sizes[k].n, (long long)sizes[k].n, (long long)c->T);
            return 1;
        }
    if (need_train && s2s_make(&c->train, ntrain, c->T, c->lo, c->hi, (uint64_t)seed)) {
        fprintf(stderr, "strata: error: out of memory for data.train_size %lld strings of %lld tokens\n",
                (long long)ntrain, (long long)c->T);
        return 1;
    }
    if (s2s_make(&c->test, ntest, c->T, c->lo, c->hi, (uint64_t)seed + 1000003u)) {
        fprintf(stderr, "strata: error: out of memory for data.test_size %lld strings of %lld tokens\n",
                (long long)ntest, (long long)c->T);
        return 1;
    }
    return 0;
}

/* logits (B, T, V) of src and tgt_in (B x T each, host) */
static strata_status s2s_forward(s2s_ctx *c, int64_t B, const int64_t *src, const int64_t *tin, int training,
                                 strata_tensor **logits)
{
    int64_t sh[2] = {B, c->T};
    strata_tensor *in[2] = {0}, *out[16] = {0};
    strata_status rc = strata_tensor_from_host(c->dev, STRATA_I64, 2, sh, src, &in[0]);
    if (!rc)
        rc = strata_tensor_from_host(c->dev, STRATA_I64, 2, sh, tin, &in[1]);
    if (!rc)
        rc = strata_model_forward(c->model, in, 2, out, 1, training);
    strata_tensor_release(in[0]);
    strata_tensor_release(in[1]);
    *logits = out[0];
    return rc;
}

/* greedy decoding of the test set: exact-match fraction (in a data-parallel
 * run, of every rank's share: every rank calls it) */
static strata_status s2s_exact_match(s2s_ctx *c, double *em)
{
    const int64_t n = c->test.n, T = c->T, chunk = 500;
    int64_t lo, hi;
    dist_share(n, &lo, &hi); /* [0, n) in a single process */
    int64_t *tin = malloc(sizeof(int64_t) * (size_t)(chunk * T)), *pred = malloc(sizeof(int64_t) * (size_t)(chunk * T));
    float *buf = malloc(sizeof(float) * (size_t)(chunk * T * S2S_V));
    strata_status rc = tin && pred && buf ? STRATA_OK : STRATA_E_NOMEM;
    int prev = strata_set_grad_enabled(c->rt, 0);
    int64_t ok = 0;
    for (int64_t first = lo; !rc && first < hi; first += chunk) {
        int64_t B = hi - first < chunk ? hi - first : chunk;
        const int64_t *src = c->test.src + first * T, *tgt = c->test.tgt + first * T;
        for (int64_t i = 0; i < B * T; i++)
            tin[i] = i % T ? S2S_PAD : S2S_GO;
        for (int64_t k = 0; !rc && k < T; k++) {
            strata_tensor *lg = NULL;
            rc = s2s_forward(c, B, src, tin, 0, &lg);
            if (!rc)
                rc = strata_tensor_read(lg, buf, sizeof(float) * (size_t)(B * T * S2S_V));
            strata_tensor_release(lg);
            strata_graph_reset(strata_runtime_graph(c->rt));
            for (int64_t i = 0; !rc && i < B; i++) {
                const float *p = buf + (i * T + k) * S2S_V;
                int64_t best = 0;
                for (int64_t v = 1; v < S2S_V; v++)
                    if (p[v] > p[best])
                        best = v;
                pred[i * T + k] = best;
                if (k + 1 < T)
                    tin[i * T + k + 1] = best;
            }
        }
        for (int64_t i = 0; !rc && i < B; i++)
            ok += !memcmp(pred + i * T, tgt + i * T, sizeof(int64_t) * (size_t)T);
    }
    strata_set_grad_enabled(c->rt, prev);
    free(tin);
    free(pred);
    free(buf);
    double sum = (double)ok;
    if (!rc && dist_sum_f64(&sum, 1))
        rc = STRATA_E_BACKEND;
    *em = n ? sum / (double)n : 0.0;
    return rc;
}

#define S2S_CKPT "checkpoint.safetensors"

/* Where the run stands after @p step steps: the batch generator's state
 * (extra "batch_rng"), the last loss for the summary and the runtime's
 * random state as it is now. Sets a new reference in s->extra. */
static train_state s2s_position(s2s_ctx *c, uint64_t data_seed, int64_t step, int64_t B, uint64_t rs, double lv)
{
    train_state s = {.step = step, .data_seed = data_seed, .batch_size = B, .extra = json_object()};
    strata_runtime_rng_state(c->rt, &s.rng_seed, &s.rng_offset);
    char loss[40];
    snprintf(loss, sizeof loss, "%.17g", lv);
    if (s.extra && (train_extra_set_u64(s.extra, "batch_rng", rs) ||
                    json_object_set_new(s.extra, "train_loss", json_string(loss)))) {
        json_decref(s.extra);
        s.extra = NULL;
    }
    return s;
}

static strata_status s2s_save(s2s_ctx *c, const char *dir, const train_state *s)
{
    if (!s->extra)
        return STRATA_E_NOMEM;
    json_t *meta = json_pack("{s:s}", "task", "seq2seq");
    strata_status rc = meta ? train_ckpt_save_meta(dir, S2S_CKPT, c->model, c->opt, s, meta) : STRATA_E_NOMEM;
    json_decref(meta);
    return rc;
}

/* --resume: the model, optimizer and position of a->out_dir (whose seed
 * s2s_setup already used), the metrics written after it dropped, its
 * batch generator into *rs and last loss into *lv. Returns 0 or an exit
 * code after a message. */
static int s2s_resume(s2s_ctx *c, const s2s_args *a, int64_t B, int64_t steps, train_state *ts, uint64_t *rs,
                      double *lv)
{
    train_ckpt_remove_temps(a->out_dir);
    if (train_ckpt_load_file(a->out_dir, S2S_CKPT, c->model, c->opt, ts))
        return 1;
    const char *loss = json_string_value(json_object_get(ts->extra, "train_loss"));
    if (train_extra_get_u64(ts->extra, "batch_rng", rs) || !loss) {
        fprintf(stderr, "strata: error: %s/%s: train.state has no batch generator state (extra.batch_rng, "
                        "extra.train_loss): not a seq2seq run\n",
                a->out_dir, S2S_CKPT);
        return 1;
    }
    *lv = strtod(loss, NULL);
    if (train_resume_check_batch(ts, a->out_dir, B, "give --batch-size"))
        return 2;
    train_resume_warn_backend(ts, c->dev);
    if (ts->step < steps && train_metrics_truncate(a->out_dir, ts))
        return 1;
    strata_runtime_set_rng_state(c->rt, ts->rng_seed, ts->rng_offset);
    if (!a->quiet)
        fprintf(stderr, "strata: resuming %s at step %lld\n", a->out_dir, (long long)ts->step);
    train_resume_nothing_left(ts->step, steps, 0, 0, NULL, NULL);
    return 0;
}

/* In a data-parallel run (dist.h): 0 when every rank's parameters are
 * rank 0's, else 1 after a message. */
static int s2s_check_replicas(s2s_ctx *c, const char *when, int64_t n)
{
    return dist_check_replicas(c->model, &c->dist, "parameters", when, n);
}

/* Teacher-forced cross-entropy of one batch of @p B strings and the
 * update; a non-finite loss returns STRATA_E_NUMERIC (*lv set) before the
 * update. In a data-parallel run (dist.h) each rank computes its share of
 * the strings and the gradients are summed; *lv is the whole batch's. */
static strata_status s2s_step(s2s_ctx *c, int64_t B, const int64_t *src, const int64_t *tgt, const int64_t *tin,
                              double clip, double *lv)
{
    const int64_t T = c->T;
    int64_t lo = 0, hi = B;
    dist_share(B, &lo, &hi); /* [0, B) in a single process */
    const int64_t n = hi - lo, rows = n ? n : 1; /* an empty share steps on string 0 with weight 0 */
    if (!n)
        lo = 0;
    dist_rng_mark mark;
    dist_rng_own(c->rt, &mark); /* each rank draws its own dropout masks */
    strata_tensor *lg = NULL, *l2 = NULL, *y = NULL, *loss = NULL;
    int64_t s2[2] = {rows * T, S2S_V}, s1[1] = {rows * T};
    strata_status rc = s2s_forward(c, rows, src + lo * T, tin + lo * T, 1, &lg);
    if (!rc)
        rc = strata_reshape(c->rt, lg, 2, s2, &l2);
    if (!rc)
        rc = strata_tensor_from_host(c->dev, STRATA_I64, 1, s1, tgt + lo * T, &y);
    strata_attr red = strata_attr_string("reduction", "mean");
    strata_tensor *ci[2] = {l2, y};
    if (!rc)
        rc = strata_op_call(c->rt, "core::cross_entropy", ci, 2, &red, 1, &loss, 1);
    strata_tensor_release(y);
    strata_tensor_release(l2);
    strata_tensor_release(lg);
    if (!rc)
        rc = strata_tensor_item(loss, lv);
    if (!rc)
        rc = dist_mean_loss(c->rt, &mark, n, B, lv);
    if (!rc && !isfinite(*lv))
        rc = STRATA_E_NUMERIC;
    if (rc) { /* the parameters keep their last good values */
        strata_model_zero_grad(c->model);
        strata_tensor_release(loss);
        strata_graph_reset(strata_runtime_graph(c->rt));
        return rc;
    }
    return dist_update(c->rt, c->model, c->opt, &c->dist, loss, clip, (double)n / (double)B);
}

int cmd_s2s_train(int argc, char **argv)
{
    s2s_args a;
    int r = s2s_parse(argc, argv, &a, S2S_TRAIN);
    if (r)
        return CLI_EXIT(r);
    a.quiet |= !dist_is_root(); /* rank 0 tells how a data-parallel run goes */
    train_state ts = {0};
    if (a.ckpt.resume) {
        /* the strings are generated from the run's seed: take it before building them */
        if (train_ckpt_read_state(a.out_dir, S2S_CKPT, &ts, 0))
            return 1;
        json_decref(ts.extra);
        ts.extra = NULL;
        if (a.have_seed)
            train_resume_note_seed(ts.data_seed, a.seed, "generates its strings with", 0);
        a.seed = (int64_t)ts.data_seed;
        a.have_seed = 1;
    }
    s2s_ctx c;
    if ((r = s2s_setup(&c, &a, 1)) || (r = train_out_prepare(a.out_dir, a.ckpt.resume != NULL))) {
        s2s_ctx_free(&c);
        return r;
    }
    int64_t steps = 2000, B = 64, log_every = 200, seed = 1;
    double clip = 0.0;
    strata_spec_get_int(c.spec, "train.steps", 2000, &steps);
    if (a.steps > 0)
        steps = a.steps;
    strata_spec_get_int(c.spec, "train.batch_size", 64, &B);
    strata_spec_get_int(c.spec, "train.log_every", 200, &log_every);
    strata_spec_get_float(c.spec, "train.clip_grad_norm", 0.0, &clip);
    strata_spec_get_int(c.spec, "seed", 1, &seed);
    if (a.have_seed)
        seed = a.seed;
    cli_schedule sched;
    if (cli_read_schedule(c.spec, 2000, &sched)) { /* train.steps, else its default */
        s2s_ctx_free(&c);
        return 1;
    }
    /* the rate the schedule starts from, before a checkpoint sets the current one */
    const double base_lr = strata_optimizer_lr(c.opt);
    const int64_t T = c.T;
    /* the batches: B training strings a step, drawn by this generator */
    uint64_t rs = 0x9E3779B97F4A7C15ull;
    double lv = 0.0;
    if (a.ckpt.resume && (r = s2s_resume(&c, &a, B, steps, &ts, &rs, &lv))) {
        json_decref(ts.extra);
        s2s_ctx_free(&c);
        return r;
    }
    json_decref(ts.extra);
    ts.extra = NULL;
    train_spec_record(a.out_dir, c.spec, a.ckpt.resume != NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", a.out_dir);
    FILE *metrics = train_metrics_open(path, a.ckpt.resume != NULL);
    if (!metrics) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        s2s_ctx_free(&c);
        return 1;
    }
    cli_note_defaults(c.spec, a.quiet, a.ckpt.resume != NULL);
    if (!a.quiet)
        printf("strata: training %s on %s: %lld parameters; reversing %lld..%lld digits, %lld training and %lld "
               "test strings; batch %lld, %lld steps\n",
               a.spec_path, strata_device_name(c.dev), (long long)strata_model_num_scalars(c.model),
               (long long)c.lo, (long long)c.hi, (long long)c.train.n, (long long)c.test.n, (long long)B,
               (long long)steps);
    if (!a.quiet)
        run_note_data_parallel(B, a.out_dir);
    int64_t *src = malloc(sizeof(int64_t) * (size_t)(B * T * 3)), *tgt = src ? src + B * T : NULL,
            *tin = src ? src + 2 * B * T : NULL;
    strata_status rc = src ? STRATA_OK : STRATA_E_NOMEM;
    double t0 = cli_now();
    int64_t step = ts.step;
    int nan_stop = 0, stopped = 0; /* stopped: by Ctrl-C, saved where it stands */
    int lost = 0;                  /* metrics.jsonl failed: said, on rank 0 alone (not settled) */
    if (!rc && s2s_check_replicas(&c, step ? "at the checkpoint" : "before training", -1))
        rc = STRATA_E_INVALID, nan_stop = 1; /* told: stopped as after a non-finite loss */
    /* a new run stopped during start-up: nothing trained, nothing saved (the directory's earlier run stays) */
    stopped = !rc && !a.ckpt.resume && cli_stop_agreed();
    while (!rc && !stopped && step < steps) {
        train_state before = s2s_position(&c, (uint64_t)seed, step, B, rs, lv);
        for (int64_t b = 0; b < B; b++) {
            int64_t e = (int64_t)(s2s_rand(&rs) % (uint64_t)c.train.n);
            memcpy(src + b * T, c.train.src + e * T, sizeof(int64_t) * (size_t)T);
            memcpy(tgt + b * T, c.train.tgt + e * T, sizeof(int64_t) * (size_t)T);
            tin[b * T] = S2S_GO; /* teacher forcing: GO + target[:-1] */
            memcpy(tin + b * T + 1, tgt + b * T, sizeof(int64_t) * (size_t)(T - 1));
        }
        double loss = 0.0;
        strata_optimizer_set_lr(c.opt, strata_lr_at(&sched.s, base_lr, step));
        rc = s2s_step(&c, B, src, tgt, tin, clip, &loss);
        if (train_numeric_stop(rc, loss)) { /* a non-finite loss (the batch's, on every rank), or an anomaly report */
            char at[32], why[1024];
            snprintf(at, sizeof at, "step %lld", (long long)step + 1);
            train_numeric_cause(loss, why, sizeof why);
            train_tell_nan_stop(loss, why, at, s2s_save(&c, a.out_dir, &before), step, a.spec_path, a.out_dir);
            nan_stop = 1;
        }
        json_decref(before.extra);
        if (rc)
            break;
        lv = loss;
        step++;
        if ((lost = train_metrics_step(metrics, a.out_dir, step, lv, strata_optimizer_lr(c.opt)))) {
            rc = STRATA_E_IO;
            break;
        }
        if (!a.quiet && log_every > 0 && (step % log_every == 0 || step == steps))
            printf("train: %lld/%lld steps, loss %.4f\n", (long long)step, (long long)steps, lv);
        /* checkpoints: every --checkpoint-every steps, at the end and on Ctrl-C */
        stopped = cli_stop_agreed() && step < steps;
        if ((a.ckpt.checkpoint_every > 0 && step % a.ckpt.checkpoint_every == 0) || step == steps || stopped) {
            if (s2s_check_replicas(&c, "after step", step)) {
                rc = STRATA_E_INVALID, nan_stop = 1; /* told */
                break;
            }
            train_state now = s2s_position(&c, (uint64_t)seed, step, B, rs, lv);
            rc = s2s_save(&c, a.out_dir, &now);
            json_decref(now.extra);
        }
        if (stopped)
            break;
    }
    free(src);
    if (train_metrics_close(metrics, a.out_dir, lost) && !rc)
        rc = STRATA_E_IO, lost = 1;
    if ((!rc && stopped) || nan_stop)
        dist_settled(); /* every rank stopped here together */
    if (!rc && stopped) {
        r = cli_interrupt_exit(a.spec_path, a.out_dir, step);
        report_after_training(a.out_dir, 1);
        s2s_ctx_free(&c);
        return r;
    }
    if (nan_stop || lost) {
        s2s_ctx_free(&c);
        return 1;
    }
    double em = 0.0;
    if (!rc)
        rc = s2s_exact_match(&c, &em);
    /* the weights alone, for eval and other commands */
    snprintf(path, sizeof path, "%s/model.safetensors", a.out_dir);
    if (!rc && dist_is_root()) /* a data-parallel run's files are rank 0's */
        rc = strata_checkpoint_save(path, c.model, NULL, "{\"task\": \"seq2seq\"}");
    if (rc) {
        r = cli_fail("training", rc);
        s2s_ctx_free(&c);
        return r;
    }
    double secs = cli_now() - t0;
    json_t *sum = json_pack("{s:f, s:f, s:I, s:s, s:f}", "exact_match", em, "train_loss", lv, "steps",
                            (json_int_t)step, "device", strata_device_name(c.dev), "seconds", secs);
    cli_summary_name(sum, c.spec);
    r = cli_write_summary(a.out_dir, sum, step > ts.step);
    json_decref(sum);
    printf("exact match: %.4f (%lld test strings, %lld steps, %.1f s on %s)\n", em, (long long)c.test.n,
           (long long)step, secs, strata_device_name(c.dev));
    report_after_training(a.out_dir, a.quiet);
    s2s_ctx_free(&c);
    return r;
}

int cmd_s2s_eval(int argc, char **argv)
{
    s2s_args a;
    int r = s2s_parse(argc, argv, &a, S2S_EVAL);
    if (r)
        return CLI_EXIT(r);
    if (cli_checkpoint_present(a.checkpoint)) /* before the data are read */
        return 1;
    s2s_ctx c;
    if ((r = s2s_setup(&c, &a, 0))) {
        s2s_ctx_free(&c);
        return r;
    }
    strata_status rc = strata_checkpoint_load(a.checkpoint, c.model, NULL);
    double em = 0.0;
    if (rc)
        r = cli_fail_file("loading the checkpoint", rc, a.checkpoint);
    else if ((rc = s2s_exact_match(&c, &em)))
        r = cli_fail("evaluating", rc);
    else if (a.json)
        r = cli_print_json(json_pack("{s:f, s:I, s:s, s:s}", "exact_match", em, "test_strings", (json_int_t)c.test.n,
                                     "backend", strata_device_backend(c.dev), "device", strata_device_name(c.dev)));
    else
        printf("exact match: %.4f (%lld test strings, greedy decoding, %s)\n", em, (long long)c.test.n,
               strata_device_name(c.dev));
    s2s_ctx_free(&c);
    return r;
}
