/* cmd_generate.c - `strata generate`: samples text from a trained language
 * model, character by character.
 *
 * A model whose inputs after the tokens are recurrent states (h0, c0) and
 * whose outputs after the logits are the final states (h_n, c_n), in the
 * same order and shapes, is run one token at a time with the state carried
 * from step to step. Any other model is re-run on the last T tokens (its
 * training window) at every step: on fewer while the prime and sample are
 * shorter, unless its weights depend on the window length (a flatten before
 * a linear layer), which then reads the prime padded on the left with the
 * default prime's token. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    const char *checkpoint, *spec, *prime, *backend;
    int64_t length, seed;
    double temperature;
} gen_args;

typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *model; /* built for a window of model_len tokens */
    int64_t model_len;
    const char *input_name;
    const char *checkpoint;
} gen_ctx;

static int parse_args(int argc, char **argv, gen_args *a)
{
    memset(a, 0, sizeof *a);
    a->length = 500;
    a->temperature = 1.0;
    a->seed = 1;
    const char *temperature = NULL;
    const cli_opt opts[] = {
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE",
         .help = "a language model's weights (RUN/checkpoint.safetensors, or RUN)", .in_dir = "checkpoint.safetensors"},
        {.name = "--spec", .type = CLI_STRING, .dst = &a->spec, .value = "SPEC",
         .help = "its spec (default: spec.yaml next to the checkpoint)"},
        {.name = "--prime", .type = CLI_STRING, .dst = &a->prime, .value = "TEXT", .text = 1,
         .help = "the text the sample continues (default: a newline, or token 0 without one)"},
        {.name = "--length", .type = CLI_INT, .dst = &a->length, .value = "N", .lo = 0, .hi = LLONG_MAX,
         .help = "tokens to generate: characters, or bytes in byte mode (default 500)"},
        {.name = "--temperature", .type = CLI_STRING, .dst = &temperature, .value = "T",
         .help = "softmax temperature; 0 picks the likeliest character (default 1)"},
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .help = "the sampling seed (default 1)"},
        CLI_BACKEND_OPTION(&a->backend),
        {0},
    };
    const cli_command c = {.name = "generate", .opts = opts, .synopsis = "--checkpoint FILE [options]",
                           .about = "Samples text from a trained language model, character by character."};
    int r = cli_parse(&c, argc, argv);
    if (r)
        return r;
    if (temperature && (cli_read_real(temperature, &a->temperature) || !(a->temperature >= 0.0))) {
        fprintf(stderr, "strata: error: --temperature must be a number >= 0 (0 picks the likeliest), got '%s'\n",
                temperature);
        return 2;
    }
    return cli_require(&c, a->checkpoint, "--checkpoint FILE");
}

/* (Re)builds the model for windows of @p len tokens and loads the weights. */
static int build_model(gen_ctx *g, int64_t len)
{
    if (g->model && g->model_len == len)
        return 0;
    strata_model_destroy(g->model);
    g->model = NULL;
    strata_status rc = strata_spec_set_input_shape(g->spec, g->input_name, 1, &len);
    if (!rc)
        rc = strata_spec_build_model(g->spec, g->dev, &g->model);
    if (rc)
        return cli_fail("building the model", rc);
    if ((rc = strata_checkpoint_load(g->checkpoint, g->model, NULL)))
        return cli_fail_file("loading the checkpoint", rc, g->checkpoint);
    g->model_len = len;
    return 0;
}

/* 1 when the model built for windows of @p len tokens has g->model's parameters (names and shapes) and logits
 * for each of the @p len positions: a model whose weights depend on the window (a flatten before a linear layer)
 * does not, and runs on windows of its training length only. */
static int runs_at_length(gen_ctx *g, int64_t len)
{
    strata_model *m = NULL;
    int nd, same = strata_spec_set_input_shape(g->spec, g->input_name, 1, &len) == STRATA_OK &&
                   strata_spec_build_model(g->spec, g->dev, &m) == STRATA_OK &&
                   strata_model_param_count(m) == strata_model_param_count(g->model);
    const int64_t *os = same ? strata_model_output_shape(m, 0, &nd) : NULL;
    same = same && os && nd >= 1 && os[0] == len;
    for (int i = 0; same && i < strata_model_param_count(m); i++) {
        const char *na, *nb;
        strata_tensor *ta, *tb;
        same = strata_model_param(m, i, &na, &ta) == STRATA_OK &&
               strata_model_param(g->model, i, &nb, &tb) == STRATA_OK && !strcmp(na, nb) &&
               strata_tensor_ndim(ta) == strata_tensor_ndim(tb);
        for (int d = 0; same && d < strata_tensor_ndim(ta); d++)
            same = strata_tensor_dim(ta, d) == strata_tensor_dim(tb, d);
    }
    strata_model_destroy(m);
    strata_spec_set_input_shape(g->spec, g->input_name, 1, &g->model_len); /* what build_model finds again */
    strata_clear_error(); /* a build that fails answers no */
    return same;
}

/* splitmix64's finaliser */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Draws a token from logits[0, V) at @p temperature with the uniform @p u in [0, 1). */
static int64_t sample(const float *logits, int64_t V, double temperature, double u)
{
    int64_t best = 0;
    for (int64_t k = 1; k < V; k++)
        if (logits[k] > logits[best])
            best = k;
    if (temperature <= 0.0)
        return best;
    double total = 0;
    for (int64_t k = 0; k < V; k++)
        total += exp(((double)logits[k] - logits[best]) / temperature);
    double acc = 0, target = u * total;
    for (int64_t k = 0; k < V; k++) {
        acc += exp(((double)logits[k] - logits[best]) / temperature);
        if (target < acc)
            return k;
    }
    return best;
}

static int output_count(const strata_model *m)
{
    int n = 0;
    while (strata_model_output_shape(m, n, NULL))
        n++;
    return n;
}

/* 1 when inputs 1.. and outputs 1.. pair up as states of the same shapes. */
static int carries_state(const strata_model *m)
{
    int n_in = strata_model_input_count(m);
    if (n_in < 2 || output_count(m) != n_in)
        return 0;
    for (int k = 1; k < n_in; k++) {
        int ni, no;
        const int64_t *si = strata_model_input_shape(m, k, &ni, NULL);
        const int64_t *so = strata_model_output_shape(m, k, &no);
        if (ni != no || memcmp(si, so, sizeof(int64_t) * (size_t)ni) != 0)
            return 0;
    }
    return 1;
}

/* Runs the model on tokens ids[0, n) (batch 1) with states st[1..] (NULL: zero);
 * writes the logits of the last position to out (V_out floats) and the new
 * states into st[1..]. */
static strata_status step(gen_ctx *g, const int64_t *ids, int64_t n, strata_tensor **st, float *out, int64_t V_out)
{
    int n_in = strata_model_input_count(g->model), n_out = output_count(g->model);
    strata_tensor *in[16] = {0}, *res[16] = {0};
    if (n_in > 16 || n_out > 16)
        return STRATA_E_INVALID;
    int64_t shape[STRATA_MAX_DIMS] = {1, n};
    strata_status rc = strata_tensor_from_host(g->dev, STRATA_I64, 2, shape, ids, &in[0]);
    for (int k = 1; k < n_in && !rc; k++) {
        if (st && st[k]) {
            in[k] = strata_tensor_retain(st[k]);
            continue;
        }
        int nd;
        strata_dtype dt;
        const int64_t *s = strata_model_input_shape(g->model, k, &nd, &dt);
        memcpy(shape + 1, s, sizeof(int64_t) * (size_t)nd);
        rc = strata_tensor_zeros(g->dev, dt, nd + 1, shape, &in[k]);
    }
    if (!rc)
        rc = strata_model_forward(g->model, in, n_in, res, n_out, 0);
    float *all = NULL;
    if (!rc && !(all = malloc(sizeof(float) * (size_t)(n * V_out))))
        rc = STRATA_E_NOMEM;
    if (!rc)
        rc = strata_tensor_read(res[0], all, sizeof(float) * (size_t)(n * V_out));
    if (!rc)
        memcpy(out, all + (n - 1) * V_out, sizeof(float) * (size_t)V_out);
    free(all);
    for (int k = 1; k < n_out && st; k++) {
        if (!rc) {
            strata_tensor_release(st[k]);
            st[k] = strata_tensor_retain(res[k]);
        }
    }
    for (int k = 0; k < n_in; k++)
        strata_tensor_release(in[k]);
    for (int k = 0; k < n_out; k++)
        strata_tensor_release(res[k]);
    return rc;
}

static int generate(gen_ctx *g, const gen_args *a)
{
    int32_t mode;
    uint32_t *vocab;
    int64_t V;
    if (lm_read_vocab(a->checkpoint, &mode, &vocab, &V))
        return 1;
    strata_text_options to = {.struct_size = sizeof to, .mode = mode, .vocab = vocab, .vocab_size = V};
    strata_text *codec = NULL;
    char source[4200]; /* where the vocabulary comes from, in messages */
    snprintf(source, sizeof source, "%s (metadata text.vocab)", a->checkpoint);
    strata_status rc = strata_text_from_memory("", 0, source, &to, &codec);
    free(vocab);
    if (rc)
        return cli_fail("reading the vocabulary", rc);
    int r = 1;
    /* the default prime: a newline (the start of a line) if the vocabulary has one, else token 0; also what
     * pads a shorter prime for a model that reads whole windows only */
    int64_t pad = 0;
    size_t n1;
    if (strata_text_encode(codec, "\n", 1, &pad, 1, &n1) != STRATA_OK)
        pad = 0;
    strata_clear_error();
    const char *prime = a->prime;
    char first[8];
    size_t plen = prime ? strlen(prime) : 0, n_ids = 0;
    if (!plen) { /* the pad token by its length: a NUL character is a token too */
        prime = first;
        if ((rc = strata_text_decode(codec, pad, first, sizeof first, &plen))) {
            cli_fail("decoding the default prime", rc);
            strata_text_destroy(codec);
            return 1;
        }
    }
    int64_t *ids = NULL;
    float *logits = NULL;
    strata_tensor *st[16] = {0};
    /* the training window T, then one token at a time when the model carries state */
    int nd;
    const int64_t *s0 = strata_model_input_shape(g->model, 0, &nd, NULL);
    int64_t T = s0[0];
    /* the prime's tokens, then the generated ones: only the last T are read again, so the buffer slides
     * (its size does not grow with --length) */
    const size_t cap = plen + 1 + 2 * (size_t)T + 4096;
    if (!(ids = malloc(sizeof(int64_t) * cap))) {
        fprintf(stderr, "strata: error: out of memory for the prime (%zu bytes)\n", plen);
        goto done;
    }
    if ((rc = strata_text_encode(codec, prime, plen, ids, plen + 1, &n_ids))) {
        cli_fail("encoding --prime", rc);
        goto done;
    }
    if (!n_ids) { /* the loop below reads the last token */
        fprintf(stderr, "strata: error: the prime encodes to no token\n");
        goto done;
    }
    int state = carries_state(g->model);
    if (state && build_model(g, 1))
        goto done;
    if (!state && (int64_t)n_ids < T) {
        if (runs_at_length(g, (int64_t)n_ids)) {
            if (build_model(g, (int64_t)n_ids)) /* before the prime is printed: a failure leaves no partial line */
                goto done;
        } else { /* a window of T: the prime after as many pad tokens as it lacks */
            size_t lack = (size_t)T - n_ids;
            memmove(ids + lack, ids, sizeof(int64_t) * n_ids);
            for (size_t k = 0; k < lack; k++)
                ids[k] = pad;
            n_ids = (size_t)T;
        }
    }
    int64_t V_out;
    const int64_t *os = strata_model_output_shape(g->model, 0, &nd);
    if (!os || nd != 2 || os[1] < V) {
        if (os && nd == 2)
            fprintf(stderr, "strata: error: the model's first output is (T, %lld): too narrow for logits over the "
                            "vocabulary of %lld tokens in %s\n",
                    (long long)os[1], (long long)V, a->checkpoint);
        else
            fprintf(stderr, "strata: error: the model's first output is not logits (T, >= %lld)\n", (long long)V);
        goto done;
    }
    V_out = os[1];
    /* an embedding narrower than the vocabulary failed mid-sample, the line cut */
    if (lm_check_vocab_fits(g->rt, g->dev, g->model, g->model_len, V, mode == STRATA_TEXT_BYTES,
                            strata_spec_path(g->spec), source))
        goto done;
    if (!(logits = malloc(sizeof(float) * (size_t)V_out))) {
        fprintf(stderr, "strata: error: out of memory\n");
        goto done;
    }
    fwrite(prime, 1, plen, stdout);
    int prev = strata_set_grad_enabled(g->rt, 0), out_err = 0;
    if (state) /* feed the prime, all but its last token, to warm the state */
        for (size_t k = 0; k + 1 < n_ids && !rc; k++)
            rc = step(g, ids + k, 1, st, logits, V_out);
    for (int64_t t = 0; t < a->length && !rc; t++) {
        if (state) {
            rc = step(g, ids + n_ids - 1, 1, st, logits, V_out);
        } else {
            int64_t w = (int64_t)n_ids < T ? (int64_t)n_ids : T;
            if (build_model(g, w)) {
                strata_set_grad_enabled(g->rt, prev);
                goto done;
            }
            rc = step(g, ids + n_ids - (size_t)w, w, NULL, logits, V_out);
        }
        if (rc)
            break;
        /* draw t of seed s: counter-based, the same text for the same seed */
        uint64_t bits = mix64(mix64((uint64_t)a->seed) ^ mix64((uint64_t)t + 0x632BE59BD9B4E019ull));
        double u = (double)(bits >> 11) * (1.0 / 9007199254740992.0);
        int64_t id = sample(logits, V, a->temperature, u);
        if (n_ids == cap) { /* keep the last window */
            memmove(ids, ids + n_ids - (size_t)T, sizeof(int64_t) * (size_t)T);
            n_ids = (size_t)T;
        }
        ids[n_ids++] = id;
        char ch[8];
        size_t cl;
        strata_text_decode(codec, id, ch, sizeof ch, &cl);
        /* each character as it comes; a reader that went away (`| head`) ends the sampling */
        if (fwrite(ch, 1, cl, stdout) != cl || fflush(stdout) != 0) {
            out_err = errno;
            break;
        }
    }
    strata_set_grad_enabled(g->rt, prev);
    if (rc) {
        cli_fail("generating", rc);
        goto done;
    }
    if (out_err) { /* a closed pipe ends quietly, as its SIGPIPE would have */
        if (out_err != EPIPE)
            fprintf(stderr, "strata: error: writing the sample to standard output: %s\n", strerror(out_err));
        r = out_err == EPIPE ? 128 + SIGPIPE : 1;
        goto done;
    }
    fputc('\n', stdout);
    fflush(stdout);
    r = 0;
done:
    for (int k = 0; k < 16; k++)
        strata_tensor_release(st[k]);
    free(logits);
    free(ids);
    strata_text_destroy(codec);
    return r;
}

int cmd_generate(int argc, char **argv)
{
    gen_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    if (cli_check_checkpoint(a.checkpoint)) /* before looking for a spec beside it */
        return 1;
    /* the spec: --spec, else spec.yaml next to the checkpoint (a run directory) */
    char spec_path[4200];
    if (a.spec) {
        snprintf(spec_path, sizeof spec_path, "%s", a.spec);
    } else {
        if (!train_spec_beside(a.checkpoint, spec_path, sizeof spec_path)) {
            fprintf(stderr, "strata: error: no --spec given and no %s next to the checkpoint\n", spec_path);
            return 2;
        }
    }
    gen_ctx g = {.checkpoint = a.checkpoint};
    strata_runtime_options o = {.struct_size = sizeof o, .seed = (uint64_t)a.seed};
    strata_status rc = strata_runtime_create(&o, &g.rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    r = 1;
    if ((rc = strata_spec_load(g.rt, spec_path, &g.spec))) {
        cli_fail_file("loading the spec", rc, spec_path);
        goto done;
    }
    if ((rc = strata_device_get(g.rt, a.backend, 0, &g.dev))) {
        cli_fail("choosing a device", rc);
        goto done;
    }
    g.input_name = "x";
    strata_spec_get_string(g.spec, "model.inputs[0].name", "x", &g.input_name);
    if ((rc = strata_spec_build_model(g.spec, g.dev, &g.model))) {
        cli_fail("building the model", rc);
        goto done;
    }
    int nd;
    strata_dtype dt;
    const int64_t *s0 = strata_model_input_shape(g.model, 0, &nd, &dt);
    if (nd != 1 || dt != STRATA_I64) {
        fprintf(stderr, "strata: error: %s is not a language model: its first input is not tokens [T] i64\n",
                spec_path);
        goto done;
    }
    g.model_len = s0[0];
    if (lm_check_state_order(g.spec, strata_model_input_count(g.model)))
        goto done;
    if ((rc = strata_checkpoint_load(a.checkpoint, g.model, NULL))) {
        cli_fail_file("loading the checkpoint", rc, a.checkpoint);
        goto done;
    }
    if (cli_refuse_nonfinite_params(g.model, a.checkpoint, "the model's logits would be NaN and its samples noise"))
        goto done;
    r = generate(&g, &a);
done:
    strata_model_destroy(g.model);
    strata_spec_destroy(g.spec);
    strata_runtime_destroy(g.rt);
    return r;
}
