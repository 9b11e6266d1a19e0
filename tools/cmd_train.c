/* cmd_train.c - `strata train` and `strata eval`: spec-driven supervised
 * training on an IDX image set, with metrics, checkpoints and a summary.
 * Language models (text data) are trained by cmd_train_lm.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "report.h"
#include "write_atomic.h"

typedef struct {
    const char *spec_path, *out_dir, *backend, *checkpoint;
    int64_t epochs, batch_size, steps;
    int64_t seed;
    train_resume_args ckpt; /* --resume, --checkpoint-every (0: at epoch ends only) */
    int have_seed, quiet, detect_anomaly, json, per_class;
} train_args;

/* TRAIN_LM: a language model's (data.format: text) train, which counts
 * train.steps, not epochs */
enum { TRAIN = 1, EVAL = 2, TRAIN_LM = 4, TRAINING = TRAIN | TRAIN_LM };

static int parse_args(int argc, char **argv, train_args *a, unsigned mode)
{
    memset(a, 0, sizeof *a);
    a->epochs = -1;
    a->batch_size = -1;
    a->steps = -1;
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &a->out_dir, .value = "DIR", .modes = TRAINING,
         .help = "the run directory: checkpoint, metrics.jsonl, summary.json"},
        {.name = "--checkpoint", .type = CLI_STRING, .dst = &a->checkpoint, .value = "FILE", .modes = EVAL,
         .help = "the weights to test (RUN/checkpoint.safetensors, or RUN)", .in_dir = "checkpoint.safetensors"},
        {.name = "--epochs", .type = CLI_INT, .dst = &a->epochs, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = TRAIN, .help = "passes over the training set (default: train.epochs)"},
        {.name = "--steps", .type = CLI_INT, .dst = &a->steps, .value = "N", .lo = 1, .hi = LLONG_MAX,
         .modes = TRAINING, .help = "stop after N batches (default: train.steps, or whole epochs)"},
        CLI_BATCH_SIZE_OPTION(&a->batch_size, TRAINING),
        {.name = "--batch-size", .type = CLI_INT, .dst = &a->batch_size, .value = "B", .lo = 1, .hi = LLONG_MAX,
         .modes = EVAL, .help = "examples per evaluation batch (default: train.eval_batch_size)"},
        CLI_BACKEND_OPTION(&a->backend),
        {.name = "--seed", .type = CLI_INT, .dst = &a->seed, .value = "S", .lo = 0, .hi = LLONG_MAX,
         .given = &a->have_seed, .modes = TRAINING, .help = "initialisation and shuffling (default: the spec's seed)"},
        CLI_SET_OPTION(0),
        CLI_RESUME_OPTIONS(&a->ckpt, TRAINING),
        CLI_DETECT_ANOMALY_OPTION(&a->detect_anomaly, TRAINING),
        {.name = "--quiet", .type = CLI_FLAG, .dst = &a->quiet, .modes = TRAINING, .help = "no progress lines"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .modes = EVAL,
         .help = "print a JSON object (the keys of the run's summary.json) instead of the line"},
        {.name = "--per-class", .type = CLI_FLAG, .dst = &a->per_class, .modes = EVAL,
         .help = "an image classifier's accuracy per class, and what each class is most often taken for"},
        {0},
    };
    static const char kinds[] =
        "The spec's kind picks the trainer; `strata train SPEC --help` lists the options of a memory\n"
        "network (data.format: babi), seq2seq model, autoencoder or GAN spec. docs/user-guide.md has more.";
    const cli_command train = {
        .name = "train", .mode = TRAIN, .other_modes = TRAIN_LM, .positional = &a->spec_path, .opts = opts,
        .notes = kinds,
        .synopsis = "SPEC --out DIR [options]\nSPEC --resume DIR [options]",
        .about = "Trains an image classifier or a language model (data.format: text) from a model spec\n"
                 "(docs/spec.md)."};
    static const char eval_kinds[] =
        "The spec's kind picks the evaluation; `strata eval SPEC --help` lists the options of a memory\n"
        "network (data.format: babi), seq2seq model or autoencoder spec. docs/user-guide.md has more.";
    const cli_command eval = {
        .name = "eval", .mode = EVAL, .positional = &a->spec_path, .opts = opts, .notes = eval_kinds,
        .synopsis = "SPEC --checkpoint FILE [options]",
        .about = "Test loss and accuracy of a trained classifier (validation loss for a language model)."};
    const cli_command train_lm = {
        .name = "train", .mode = TRAIN_LM, .other_modes = TRAIN, .positional = &a->spec_path, .opts = opts,
        .synopsis = "SPEC --out DIR [options]\nSPEC --resume DIR [options]",
        .about = "Trains a language model (data.format: text) for train.steps steps (docs/user-guide.md)."};
    const cli_command *c = mode == TRAIN ? &train : mode == TRAIN_LM ? &train_lm : &eval;
    int r = cli_parse(c, argc, argv);
    if (r)
        return r;
    if ((r = cli_require(c, a->spec_path, "a model spec")))
        return r;
    if ((mode & TRAINING) && (r = train_resume_finish(&a->ckpt, &a->out_dir)))
        return r;
    return (mode & TRAINING) ? cli_require(c, a->out_dir, "--out DIR (or --resume DIR)")
                         : cli_require(c, a->checkpoint, "--checkpoint FILE");
}

int cli_print_json(json_t *obj)
{
    char *line = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    json_decref(obj);
    if (!line) {
        fprintf(stderr, "strata: error: the result cannot be printed as JSON (out of memory, or a value that is NaN or "
                        "infinite)\n");
        return 1;
    }
    printf("%s\n", line);
    free(line);
    return 0;
}

json_t *cli_json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int cli_utf8_next(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    int n = u[0] < 0x80 ? 1 : (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3 : (u[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n)
        return 0;
    uint32_t c = n == 1 ? u[0] : u[0] & (0x7F >> n);
    for (int k = 1; k < n; k++) {
        if ((u[k] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (u[k] & 0x3F);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

size_t cli_utf8_prefix(const char *s, size_t n)
{
    uint32_t cp;
    size_t i = 0;
    for (int len; i < n && (len = cli_utf8_next(s + i, &cp)) && (size_t)len <= n - i;)
        i += (size_t)len;
    return i;
}

json_t *cli_json_str(const char *s)
{
    if (!s)
        return json_null();
    size_t len = strlen(s);
    char *t = malloc(3 * len + 1); /* U+FFFD takes 3 bytes for each 1 it replaces */
    if (!t)
        return NULL;
    size_t o = 0;
    for (const char *p = s; *p;) {
        uint32_t cp;
        int n = cli_utf8_next(p, &cp);
        if (n) {
            memcpy(t + o, p, (size_t)n);
            o += (size_t)n, p += n;
        } else {
            memcpy(t + o, "\xEF\xBF\xBD", 3);
            o += 3, p++;
        }
    }
    json_t *j = json_stringn(t, o);
    free(t);
    return j;
}

double cli_json_num_value(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int cli_write_json(const char *path, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_INDENT(2)) : NULL;
    if (!text) { /* a json_pack that failed, or no memory to print it: no errno to tell */
        fprintf(stderr, "strata: error: cannot write %s: out of memory building it\n", path);
        return 1;
    }
    const int r = cli_write_atomic(path, text, strlen(text)); /* whole, and on the disk before it replaces the old */
    free(text);
    return r;
}

void cli_summary_name(json_t *sum, const strata_spec *spec)
{
    const char *name = NULL;
    if (sum && spec && strata_spec_get_string(spec, "name", NULL, &name) == STRATA_OK && name && *name)
        json_object_set_new(sum, "name", json_string(name));
    strata_clear_error(); /* a spec without one */
}

int cli_write_summary(const char *dir, json_t *sum, int trained)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's */
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (!trained && access(path, F_OK) == 0)
        return 0;
    return cli_write_json(path, sum);
}

strata_status cli_read_schedule(const strata_spec *sp, int64_t run_steps, cli_schedule *out)
{
    memset(out, 0, sizeof *out);
    /* the run as the spec has it: a --steps stop (which --resume continues) does not shorten the schedule */
    int64_t total_steps = run_steps;
    strata_spec_get_int(sp, "train.steps", run_steps, &total_steps);
    strata_lr_schedule *s = &out->s;
    s->struct_size = sizeof *s;
    const char *type = "constant";
    strata_spec_get_string(sp, "schedule.type", "constant", &type);
    strata_spec_get_int(sp, "schedule.warmup", 0, &s->warmup_steps);
    strata_spec_get_float(sp, "schedule.warmup_start", 0.0, &s->warmup_start);
    /* after the warmup the schedule starts at its step 0: by default it spans the steps left */
    const int64_t after = total_steps > s->warmup_steps ? total_steps - s->warmup_steps : 1;
    if (!strcmp(type, "constant")) {
        s->kind = STRATA_LR_CONSTANT;
    } else if (!strcmp(type, "step")) {
        s->kind = STRATA_LR_STEP;
        strata_spec_get_int(sp, "schedule.step_size", after > 3 ? after / 3 : 1, &s->step_size);
        strata_spec_get_float(sp, "schedule.gamma", 0.1, &s->gamma);
    } else if (!strcmp(type, "cosine")) {
        s->kind = STRATA_LR_COSINE;
        strata_spec_get_int(sp, "schedule.total", after, &s->total);
        strata_spec_get_float(sp, "schedule.eta_min", 0.0, &s->eta_min);
    } else if (!strcmp(type, "multistep")) {
        s->kind = STRATA_LR_MULTISTEP;
        strata_spec_get_float(sp, "schedule.gamma", 0.1, &s->gamma);
        for (int k = 0; k < CLI_MAX_MILESTONES; k++) {
            char key[48];
            snprintf(key, sizeof key, "schedule.milestones.%d", k);
            if (strata_spec_get_int(sp, key, 0, &out->milestones[k]) != STRATA_OK)
                break;
            s->n_milestones = k + 1;
        }
        strata_clear_error();
        s->milestones = out->milestones;
    } else if (!strcmp(type, "linear")) {
        s->kind = STRATA_LR_LINEAR;
        strata_spec_get_int(sp, "schedule.total", after, &s->total);
        strata_spec_get_float(sp, "schedule.end_factor", 0.0, &s->end_factor);
    } else {
        fprintf(stderr, "strata: error: %s: schedule.type '%s' is not constant, step, cosine, multistep or linear\n",
                strata_spec_path(sp), type);
        return STRATA_E_INVALID;
    }
    return STRATA_OK;
}

/* One record of metrics.jsonl per step: the loss curve a resumed run must
 * reproduce ("batch_loss" tells it from the per-epoch records). */
static int write_step_record(FILE *metrics, const char *dir, int64_t step, int64_t ep, double loss, double lr)
{
    return train_metrics_json(metrics, dir, json_pack("{s:I, s:I, s:f, s:f}", "step", (json_int_t)step, "epoch",
                                                      (json_int_t)(ep + 1), "batch_loss", loss, "lr", lr));
}

/* Where the run (its shuffling seed and length from @p run) stands after
 * @p step steps, @p nb batches into epoch @p ep (0-based), with the epoch's
 * running sums; the random state as it is now. */
static train_state position(run_ctx *ctx, const train_state *run, int64_t step, int64_t ep, int64_t nb,
                            double sum_loss, int64_t correct, int64_t seen)
{
    train_state s = {.step = step, .epoch = ep, .batch = nb, .data_seed = run->data_seed, .sum_loss = sum_loss,
                     .correct = correct, .seen = seen, .batch_size = ctx->batch, .epochs = run->epochs,
                     .epochs_cli = run->epochs_cli, .examples = run->examples, .per_epoch = run->per_epoch};
    strata_runtime_rng_state(ctx->rt, &s.rng_seed, &s.rng_offset);
    return s;
}

/* After an epoch: the test set's loss and accuracy (when the spec has one)
 * and the validation set's (when data.val_fraction holds one out). */
static strata_status evaluate_sets(run_ctx *c, double *test_loss, double *test_acc, double *val_loss,
                                   double *val_acc)
{
    strata_status rc = c->test ? run_evaluate(c, c->test, test_loss, test_acc) : STRATA_OK;
    if (!rc && c->val)
        rc = run_evaluate(c, c->val, val_loss, val_acc);
    return rc;
}

/* Their figures into @p o (a metrics record or the summary). */
static void add_set_metrics(json_t *o, const run_ctx *c, double test_loss, double test_acc, double val_loss,
                            double val_acc)
{
    if (o && c->test) {
        json_object_set_new(o, "test_loss", json_real(test_loss));
        json_object_set_new(o, "test_accuracy", json_real(test_acc));
    }
    if (o && c->val) {
        json_object_set_new(o, "val_loss", json_real(val_loss));
        json_object_set_new(o, "val_accuracy", json_real(val_acc));
    }
}

/* "2 epochs", "1 epoch", or "300 steps, 0.71 epochs" when the steps end
 * inside an epoch (--steps); per_epoch 0: whole epochs. */
static void train_span(char *buf, size_t n, int64_t epochs, int64_t steps, int64_t per_epoch)
{
    if (per_epoch > 0 && steps % per_epoch)
        snprintf(buf, n, "%lld steps, %.2f epochs", (long long)steps, (double)steps / (double)per_epoch);
    else
        snprintf(buf, n, "%lld epoch%s", (long long)epochs, epochs == 1 ? "" : "s");
}

/* `strata train` of an image classifier (TRAIN) or a language model
 * (TRAIN_LM): the options differ, the setup is shared. */
static int train_main(int argc, char **argv, unsigned mode)
{
    train_args a;
    int r = parse_args(argc, argv, &a, mode);
    if (r)
        return CLI_EXIT(r);
    a.quiet |= !dist_is_root(); /* rank 0 tells how a data-parallel run goes */
    run_ctx ctx;
    run_options ro = {.spec_path = a.spec_path, .backend = a.backend, .batch_size = a.batch_size, .seed = a.seed,
                      .have_seed = a.have_seed};
    if ((r = run_setup(&ctx, &ro, 1))) {
        run_free(&ctx);
        return r;
    }
    if ((r = train_out_prepare(a.out_dir, a.ckpt.resume != NULL))) {
        run_free(&ctx);
        return r;
    }
    int64_t seed = 1;
    strata_spec_get_int(ctx.spec, "seed", 1, &seed);
    if (a.have_seed)
        seed = a.seed;
    if (a.detect_anomaly)
        strata_set_detect_anomaly(ctx.rt, 1);
    if (ctx.lm) {
        lm_train_options lo = {a.out_dir, a.steps, seed, a.quiet, &a.ckpt};
        r = lm_train(&ctx, &lo);
        run_free(&ctx);
        return r;
    }
    int64_t epochs = 1;
    strata_spec_get_int(ctx.spec, "train.epochs", 1, &epochs);
    if (a.epochs > 0)
        epochs = a.epochs;
    /* train.steps (or --steps) stops after that many batches, in whatever epoch */
    int64_t max_steps = -1;
    strata_spec_get_int(ctx.spec, "train.steps", -1, &max_steps);
    if (a.steps > 0)
        max_steps = a.steps;
    int64_t log_every = 50;
    strata_spec_get_int(ctx.spec, "train.log_every", 50, &log_every);
    double clip = 0;
    strata_spec_get_float(ctx.spec, "train.clip_grad_norm", 0.0, &clip);
    train_best best = {.value = NAN};
    strata_spec_get_string(ctx.spec, "train.keep_best", NULL, &best.metric);
    if (best.metric && !ctx.val) {
        fprintf(stderr, "strata: error: %s: train.keep_best: %s needs a validation set: set data.val_fraction (0.1 "
                        "holds out a tenth of data.train)\n",
                a.spec_path, best.metric);
        run_free(&ctx);
        return 1;
    }
    int64_t patience = 0; /* early stopping: after this many epochs without a better model */
    strata_spec_get_int(ctx.spec, "train.patience", 0, &patience);
    if (patience > 0 && !best.metric) {
        fprintf(stderr, "strata: error: %s: train.patience counts epochs without a better train.keep_best model: "
                        "set train.keep_best (val_accuracy or val_loss) and data.val_fraction\n",
                a.spec_path);
        run_free(&ctx);
        return 1;
    }
    int64_t early_stop = 0; /* the epochs done when it stopped early */
    /* train.drop_last: the spec checked it is a YAML boolean (true, True, TRUE, false...) or, quoted, the string
     * "true" or "false" (which the boolean read misses: a quoted "true" trained as false) */
    int64_t drop = 0;
    const char *drop_text = NULL;
    if (strata_spec_get_int(ctx.spec, "train.drop_last", 0, &drop) != STRATA_OK)
        drop = strata_spec_get_string(ctx.spec, "train.drop_last", "false", &drop_text) == STRATA_OK && drop_text &&
               !strcmp(drop_text, "true");
    strata_clear_error();
    const int drop_last = drop != 0;
    if (drop_last && strata_dataset_size(ctx.train) < ctx.batch) { /* every epoch would be empty */
        fprintf(stderr, "strata: error: %s: train.drop_last leaves out every batch: %lld training examples are fewer "
                        "than train.batch_size %lld\n",
                a.spec_path, (long long)strata_dataset_size(ctx.train), (long long)ctx.batch);
        run_free(&ctx);
        return 2;
    }
    if ((r = run_check_batch_norm(&ctx, a.spec_path, strata_dataset_size(ctx.train), ctx.batch, drop_last,
                                  max_steps))) {
        run_free(&ctx);
        return r;
    }

    char path[4096];
    /* the learning rate the schedule starts from, before a checkpoint sets the current one */
    double base_lr = strata_optimizer_lr(ctx.opt);
    train_state ts = {.data_seed = (uint64_t)seed};
    int epochs_given = a.epochs > 0; /* --epochs, or the first run's (from its checkpoint): a cap on --steps */
    if (a.ckpt.resume) {
        train_ckpt_remove_temps(a.out_dir);
        if (train_ckpt_load(a.out_dir, ctx.model, ctx.opt, &ts)) {
            run_free(&ctx);
            return 1;
        }
        json_decref(ts.extra); /* an image classifier keeps no state of its own */
        ts.extra = NULL;
        train_resume_note_seed(ts.data_seed, seed, "shuffles its data with", a.quiet);
        if (train_resume_check_batch(&ts, a.out_dir, ctx.batch, "give --batch-size")) {
            run_free(&ctx);
            return 2;
        }
        train_resume_warn_backend(&ts, ctx.dev);
        epochs_given |= train_resume_epochs(&ts, a.out_dir, &epochs, a.epochs > 0, a.quiet);
        if (train_metrics_truncate(a.out_dir, &ts)) {
            run_free(&ctx);
            return 1;
        }
        strata_runtime_set_rng_state(ctx.rt, ts.rng_seed, ts.rng_offset);
        if (best.metric)
            train_best_resume(&best, a.out_dir, ts.step, a.quiet);
        if (!a.quiet)
            fprintf(stderr, "strata: resuming %s at step %lld (epoch %lld, batch %lld)\n", a.out_dir,
                    (long long)ts.step, (long long)ts.epoch + 1, (long long)ts.batch);
    }
    ts.epochs = epochs, ts.epochs_cli = epochs_given;
    if (!a.ckpt.resume) /* a new run in an old directory: its best model is not this run's */
        train_best_forget(a.out_dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", a.out_dir);
    FILE *metrics = train_metrics_open(path, a.ckpt.resume != NULL);
    if (!metrics) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path, strerror(errno));
        run_free(&ctx);
        return 1;
    }

    strata_loader *ld;
    strata_status rc = strata_loader_create(ctx.train, ctx.batch, 1, ts.data_seed, drop_last, &ld);
    if (rc) {
        fclose(metrics);
        run_free(&ctx);
        return cli_fail("creating the data loader", rc);
    }
    /* data.augment: flips and crops of the training batches only (the test loader never augments) */
    double hflip = 0.0;
    int64_t crop = 0;
    strata_spec_get_float(ctx.spec, "data.augment.hflip", 0.0, &hflip);
    strata_spec_get_int(ctx.spec, "data.augment.crop_padding", 0, &crop);
    if ((hflip > 0.0 || crop > 0) && (rc = strata_loader_set_augment(ld, hflip, crop))) {
        strata_loader_destroy(ld);
        fclose(metrics);
        run_free(&ctx);
        return cli_fail("setting up data augmentation", rc);
    }
    int64_t per_epoch = strata_loader_batches(ld);
    /* another training set: the position and the schedule's length (below) would count other epochs */
    if (a.ckpt.resume && (r = train_resume_check_data(&ts, a.out_dir, strata_dataset_size(ctx.train), per_epoch))) {
        strata_loader_destroy(ld);
        fclose(metrics);
        run_free(&ctx);
        return r;
    }
    ts.examples = strata_dataset_size(ctx.train), ts.per_epoch = per_epoch;
    train_spec_record(a.out_dir, ctx.spec, a.ckpt.resume != NULL); /* (a resume refused leaves it as it was) */
    const int64_t run_batches = cli_mul_sat(per_epoch, epochs); /* the schedule's span without train.steps */
    epochs = cli_epochs_for_steps(ctx.spec, max_steps, per_epoch, epochs, epochs_given ? epochs : -1, a.steps > 0,
                                  a.quiet);
    if (a.ckpt.resume) /* the epochs as the steps stretch them */
        train_resume_nothing_left(ts.step, max_steps, ts.epoch, epochs, "epochs", "--epochs");
    cli_schedule sched;
    if (cli_read_schedule(ctx.spec, run_batches, &sched)) {
        strata_loader_destroy(ld);
        fclose(metrics);
        run_free(&ctx);
        return 1;
    }
    cli_note_defaults(ctx.spec, a.quiet, a.ckpt.resume != NULL);
    if (!a.quiet)
        fprintf(stderr, "strata: training %s on %s: %lld parameters, %lld examples, batch %lld, %lld epoch(s)\n",
                a.spec_path, strata_device_name(ctx.dev), (long long)strata_model_num_scalars(ctx.model),
                (long long)strata_dataset_size(ctx.train), (long long)ctx.batch, (long long)epochs);
    if (!a.quiet) {
        run_note_data_parallel(ctx.batch, a.out_dir);
        run_note_accumulate(&ctx);
    }
    if (!a.quiet && (hflip > 0.0 || crop > 0))
        fprintf(stderr, "strata: augmenting training batches: horizontal flip p = %g, random crop with padding %lld\n",
                hflip, (long long)crop);
    double t_start = cli_now(), test_loss = NAN, test_acc = NAN, val_loss = NAN, val_acc = NAN;
    int64_t step = ts.step, ran_epochs = 0;
    int stopped = 0; /* by Ctrl-C, saved where it stands */
    int told = 0;    /* stopped on every rank, the message out: a non-finite loss, ranks that differ */
    int lost = 0;    /* metrics.jsonl failed: said, on rank 0 alone (not settled) */
    run_buffers kept = {0}; /* the buffers before the step in progress */
    if (run_check_replicas(&ctx, ts.step ? "at the checkpoint" : "before training", -1)) {
        strata_loader_destroy(ld);
        fclose(metrics);
        run_free(&ctx);
        return 1;
    }
    for (int64_t ep = ts.epoch; ep < epochs && !rc && (max_steps <= 0 || step < max_steps || ep == ts.epoch);
         ep++) {
        if (patience > 0 && !isnan(best.value) && ep - best.epoch >= patience) {
            early_stop = ep;
            break;
        }
        double t0 = cli_now(), sum_loss = 0;
        int64_t correct = 0, seen = 0, nb = 0;
        if (ep == ts.epoch) { /* resumed mid-epoch: its running sums and position */
            sum_loss = ts.sum_loss;
            correct = ts.correct;
            seen = ts.seen;
            nb = ts.batch;
        }
        char label[64];
        snprintf(label, sizeof label, "epoch %lld/%lld", (long long)ep + 1, (long long)epochs);
        cli_progress prog;
        /* a --steps stop within the epoch ends the bar there */
        const int64_t bar = max_steps > 0 && max_steps - step < per_epoch - nb ? nb + max_steps - step : per_epoch;
        progress_start(&prog, label, bar, log_every);
        strata_loader_start_epoch(ld, ep);
        strata_loader_skip(ld, nb);
        int end_of_data = 0;
        for (;;) {
            strata_tensor *x, *y;
            if (max_steps > 0 && step >= max_steps)
                break;
            /* every rank of a data-parallel run stops at the same step */
            if (cli_stop_agreed() && nb < per_epoch) { /* saved below, as a --steps stop */
                stopped = 1;
                break;
            }
            if ((rc = strata_loader_next(ld, ctx.dev, &x, &y, &end_of_data)) || end_of_data)
                break;
            double lr = strata_lr_at(&sched.s, base_lr, step);
            strata_optimizer_set_lr(ctx.opt, lr);
            train_state before = position(&ctx, &ts, step, ep, nb, sum_loss, correct, seen);
            double lv = 0;
            rc = run_buffers_keep(ctx.rt, ctx.model, &kept);
            if (!rc)
                rc = run_train_step(&ctx, x, y, clip, &correct, &lv);
            if (train_numeric_stop(rc, lv)) { /* a non-finite loss, or --detect-anomaly's report */
                /* the update was not applied: the parameters are the state after the last good step, and the
                 * buffers (batch norm's statistics, which the step's forward pass moved) are put back */
                char why[1024];
                train_numeric_cause(lv, why, sizeof why);
                strata_status sv = run_buffers_restore(ctx.rt, ctx.model, &kept);
                if (!sv)
                    sv = train_ckpt_save(a.out_dir, ctx.model, ctx.opt, &before);
                char at[96];
                snprintf(at, sizeof at, "step %lld (epoch %lld, batch %lld)", (long long)step + 1, (long long)ep + 1,
                         (long long)nb + 1);
                train_tell_nan_stop(lv, why, at, sv, step, a.spec_path, a.out_dir);
                strata_tensor_release(x);
                strata_tensor_release(y);
                told = 1;
                break;
            }
            sum_loss += lv * (double)strata_tensor_dim(x, 0);
            seen += strata_tensor_dim(x, 0);
            strata_tensor_release(x);
            strata_tensor_release(y);
            if (rc)
                break;
            nb++;
            step++;
            if ((lost = write_step_record(metrics, a.out_dir, step, ep, lv, lr))) {
                rc = STRATA_E_IO;
                break;
            }
            if (!a.quiet)
                progress_update(&prog, nb, sum_loss / (double)(seen ? seen : 1),
                                (double)correct / (double)(seen ? seen : 1));
            if (a.ckpt.checkpoint_every > 0 && step % a.ckpt.checkpoint_every == 0 && nb < per_epoch) {
                train_state now = position(&ctx, &ts, step, ep, nb, sum_loss, correct, seen);
                if ((rc = train_ckpt_save(a.out_dir, ctx.model, ctx.opt, &now)))
                    break;
            }
        }
        if (!a.quiet)
            progress_end(&prog);
        if (rc)
            break;
        /* a stop (here, or one that came in the epoch's last step) is saved
         * before the evaluation: mpirun follows its SIGTERM with SIGKILL a
         * second later. A resumed run skips the batches done and evaluates. */
        if (stopped || cli_stop_agreed()) {
            train_state now = position(&ctx, &ts, step, ep, nb, sum_loss, correct, seen);
            if ((rc = train_ckpt_save(a.out_dir, ctx.model, ctx.opt, &now)))
                break;
            if (stopped) /* within the epoch: no evaluation (the resumed run makes it at the epoch's end), so
                          * the stop is told before a SIGKILL can come */
                break;
        }
        ran_epochs++;
        if ((rc = evaluate_sets(&ctx, &test_loss, &test_acc, &val_loss, &val_acc)))
            break;
        if (run_check_replicas(&ctx, "after epoch", ep + 1)) {
            rc = STRATA_E_INVALID;
            told = 1;
            break;
        }
        double secs = cli_now() - t0;
        json_t *rec = json_pack("{s:I, s:I, s:f, s:f}", "epoch", (json_int_t)(ep + 1), "step", (json_int_t)step,
                                "loss", sum_loss / (double)(seen ? seen : 1), "accuracy",
                                (double)correct / (double)(seen ? seen : 1));
        add_set_metrics(rec, &ctx, test_loss, test_acc, val_loss, val_acc);
        if (rec) { /* seconds last: tools/kill-test.sh compares records without it */
            json_object_set_new(rec, "lr", json_real(strata_optimizer_lr(ctx.opt)));
            json_object_set_new(rec, "seconds", json_real(secs));
        }
        const int whole_epoch = end_of_data || nb >= per_epoch; /* not a --steps or Ctrl-C stop within it */
        if (best.metric && whole_epoch &&
            (rc = train_best_update(&best, a.out_dir, ctx.model, !strcmp(best.metric, "val_loss") ? val_loss : val_acc,
                                    ep + 1, step, NULL))) {
            json_decref(rec);
            break;
        }
        if ((lost = train_metrics_json(metrics, a.out_dir, rec))) {
            rc = STRATA_E_IO;
            break;
        }
        if (!a.quiet) {
            char val[64] = "", test[64] = "";
            if (ctx.val)
                snprintf(val, sizeof val, " | val loss %.4f acc %.4f", val_loss, val_acc);
            if (ctx.test)
                snprintf(test, sizeof test, " | test loss %.4f acc %.4f", test_loss, test_acc);
            fprintf(stderr, "epoch %lld: train loss %.4f acc %.4f%s%s | %.1fs\n", (long long)ep + 1,
                    sum_loss / (double)(seen ? seen : 1), (double)correct / (double)(seen ? seen : 1), val, test,
                    secs);
        }
        /* a whole epoch: resume at the next one; stopped by --steps: here */
        train_state now = whole_epoch ? position(&ctx, &ts, step, ep + 1, 0, 0.0, 0, 0)
                              : position(&ctx, &ts, step, ep, nb, sum_loss, correct, seen);
        if ((rc = train_ckpt_save(a.out_dir, ctx.model, ctx.opt, &now)))
            break;
        if (stopped || (cli_stop_agreed() && ep + 1 < epochs && (max_steps <= 0 || step < max_steps))) {
            stopped = 1;
            break;
        }
    }
    if (train_metrics_close(metrics, a.out_dir, lost) && !rc)
        rc = STRATA_E_IO, lost = 1;
    strata_loader_destroy(ld);
    run_buffers_free(&kept);
    if (told || (!rc && stopped))
        dist_settled();
    if (!rc && stopped) {
        r = cli_interrupt_exit(a.spec_path, a.out_dir, step);
        report_after_training(a.out_dir, 1);
        run_free(&ctx);
        return r;
    }
    if (!rc && !ran_epochs) /* resumed a finished run: report where it stands */
        rc = evaluate_sets(&ctx, &test_loss, &test_acc, &val_loss, &val_acc);
    if (rc) {
        r = told || lost ? 1 : cli_fail("training", rc);
        run_free(&ctx);
        return r;
    }
    double total = cli_now() - t_start;
    if (early_stop) /* the epochs it ran */
        epochs = early_stop;
    json_t *sum = json_pack("{s:I, s:s, s:s, s:f, s:I, s:I}", "epochs", (json_int_t)epochs, "backend",
                            strata_device_backend(ctx.dev), "device", strata_device_name(ctx.dev), "seconds", total,
                            "steps", (json_int_t)step, "parameters", (json_int_t)strata_model_num_scalars(ctx.model));
    add_set_metrics(sum, &ctx, test_loss, test_acc, val_loss, val_acc);
    if (sum && ctx.val)
        json_object_set_new(sum, "val_examples", json_integer((json_int_t)strata_dataset_size(ctx.val)));
    if (sum && early_stop)
        json_object_set_new(sum, "stopped_early_after", json_integer((json_int_t)early_stop));
    if (sum && best.metric && !isnan(best.value))
        json_object_set_new(sum, "best", json_pack("{s:s, s:f, s:I, s:I}", "metric", best.metric, "value", best.value,
                                                   "epoch", (json_int_t)best.epoch, "step", (json_int_t)best.step));
    cli_summary_name(sum, ctx.spec);
    r = cli_write_summary(a.out_dir, sum, step > ts.step);
    json_decref(sum);
    if (ctx.val)
        printf("validation accuracy: %.4f (validation loss %.4f, %lld held-out examples)\n", val_acc, val_loss,
               (long long)strata_dataset_size(ctx.val));
    if (early_stop)
        printf("stopped early after epoch %lld: no better %s in %lld epochs\n", (long long)early_stop, best.metric,
               (long long)patience);
    if (best.metric && !isnan(best.value))
        printf("best: epoch %lld, %s %.4f (%s/best.safetensors)\n", (long long)best.epoch, best.metric, best.value,
               a.out_dir);
    char span[64];
    train_span(span, sizeof span, epochs, step, early_stop ? 0 : per_epoch);
    if (ctx.test)
        printf("test accuracy: %.4f (test loss %.4f, %s, %.1f s on %s)\n", test_acc, test_loss, span, total,
               strata_device_name(ctx.dev));
    else
        printf("trained %s in %.1f s on %s (no data.test to report on)\n", span, total, strata_device_name(ctx.dev));
    report_after_training(a.out_dir, a.quiet);
    run_free(&ctx);
    return r;
}

/* Label @p k's examples, those predicted right, and the class other than
 * k they are most often predicted as (-1: none). */
static void class_counts(const run_ctx *c, int64_t k, int64_t *n, int64_t *right, int64_t *other)
{
    const int64_t *row = c->confusion + k * c->n_classes;
    *n = 0;
    *other = -1;
    for (int64_t j = 0; j < c->n_classes; j++) {
        *n += row[j];
        if (j != k && row[j] > 0 && (*other < 0 || row[j] > row[*other]))
            *other = j;
    }
    *right = row[k];
}

/* Characters of UTF-8 @p s (its bytes but continuation bytes): a column's width, "%-*s" counting bytes
 * shifted a row with "ünïcode" in it */
static int utf8_chars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* eval --per-class: a line per class, "-" for a class without examples. */
static void print_per_class(const run_ctx *c, const char **names)
{
    int w = 5; /* the width of the class column */
    for (int64_t k = 0; names && k < c->n_classes; k++)
        w = utf8_chars(names[k]) + 6 > w ? utf8_chars(names[k]) + 6 : w;
    printf("%-*s  accuracy  examples  most often taken for\n", w, "class");
    for (int64_t k = 0; k < c->n_classes; k++) {
        int64_t n, right, other;
        class_counts(c, k, &n, &right, &other);
        char label[160], acc[16] = "-", took[192] = "-";
        snprintf(label, sizeof label, "%lld %s", (long long)k, names ? names[k] : "");
        if (n)
            snprintf(acc, sizeof acc, "%.4f", (double)right / (double)n);
        if (other >= 0)
            snprintf(took, sizeof took, "%lld %s (%.1f%%)", (long long)other, names ? names[other] : "",
                     100.0 * (double)c->confusion[k * c->n_classes + other] / (double)n);
        const int pad = w - utf8_chars(label);
        printf("%s%*s  %8s  %8lld  %s\n", label, pad > 0 ? pad : 0, "", acc, (long long)n, took);
    }
}

/* eval --per-class --json: [{"class", "name", "accuracy" (null without
 * examples), "examples", "predicted": counts per predicted class}]. */
static json_t *per_class_json(const run_ctx *c, const char **names)
{
    json_t *list = json_array();
    for (int64_t k = 0; list && k < c->n_classes; k++) {
        int64_t n, right, other;
        class_counts(c, k, &n, &right, &other);
        json_t *row = json_array();
        for (int64_t j = 0; row && j < c->n_classes; j++)
            json_array_append_new(row, json_integer((json_int_t)c->confusion[k * c->n_classes + j]));
        json_array_append_new(list, json_pack("{s:I, s:s?, s:o, s:I, s:o}", "class", (json_int_t)k, "name",
                                              names ? names[k] : NULL, "accuracy",
                                              n ? json_real((double)right / (double)n) : json_null(), "examples",
                                              (json_int_t)n, "predicted", row));
    }
    return list;
}


int cmd_train(int argc, char **argv)
{
    return train_main(argc, argv, TRAIN);
}

int cmd_train_text(int argc, char **argv)
{
    return train_main(argc, argv, TRAIN_LM);
}

int cmd_eval(int argc, char **argv)
{
    train_args a;
    int r = parse_args(argc, argv, &a, EVAL);
    if (r)
        return CLI_EXIT(r);
    if (cli_checkpoint_present(a.checkpoint)) /* before the data are read */
        return 1;
    run_ctx ctx;
    run_options ro = {.spec_path = a.spec_path, .backend = a.backend, .batch_size = a.batch_size, .seed = a.seed,
                      .have_seed = a.have_seed};
    if ((r = run_setup_vocab(&ctx, &ro, 0, a.checkpoint))) {
        run_free(&ctx);
        return r;
    }
    if (a.batch_size > 0) /* the evaluation batch; the spec's train.eval_batch_size otherwise */
        ctx.eval_batch = a.batch_size;
    if (ctx.lm && a.per_class) {
        fprintf(stderr, "strata: error: eval: --per-class is for image classifiers; %s is a language model\n",
                a.spec_path);
        run_free(&ctx);
        return 2;
    }
    strata_status rc = strata_checkpoint_load(a.checkpoint, ctx.model, NULL);
    if (rc) {
        r = cli_fail_file("loading the checkpoint", rc, a.checkpoint);
        run_free(&ctx);
        return r;
    }
    train_warn_class_order(ctx.rt, ctx.spec, a.checkpoint);
    double loss, acc;
    if (ctx.lm) {
        int64_t nw = 0;
        strata_text_val_windows(ctx.text, ctx.seq_len, &nw);
        if (!nw) { /* the loss would be NaN: say why instead */
            fprintf(stderr, "strata: error: %s: no validation text to evaluate on (data.val_fraction holds out too "
                            "little for one window of %lld tokens)\n",
                    a.spec_path, (long long)ctx.seq_len);
            run_free(&ctx);
            return 1;
        }
        if ((rc = lm_evaluate(&ctx, &loss))) {
            r = cli_fail("evaluating", rc);
            run_free(&ctx);
            return r;
        }
        if (a.json)
            r = cli_print_json(json_pack("{s:f, s:I, s:I, s:s, s:s}", "validation_loss", loss, "windows",
                                         (json_int_t)nw, "seq_len", (json_int_t)ctx.seq_len, "backend",
                                         strata_device_backend(ctx.dev), "device", strata_device_name(ctx.dev)));
        else
            printf("validation loss: %.4f nats/char (%lld windows of %lld, %s)\n", loss, (long long)nw,
                   (long long)ctx.seq_len, strata_device_name(ctx.dev));
        run_free(&ctx);
        return r;
    }
    ctx.want_confusion = a.per_class;
    if ((rc = run_evaluate(&ctx, ctx.test, &loss, &acc))) {
        r = cli_fail("evaluating", rc);
        run_free(&ctx);
        return r;
    }
    const char **names = NULL;
    if (a.per_class && ctx.confusion && (r = cli_class_names(ctx.spec, ctx.n_classes, &names))) {
        run_free(&ctx);
        return r;
    }
    if (a.json) {
        json_t *o = json_pack("{s:f, s:f, s:I, s:s, s:s}", "test_accuracy", acc, "test_loss", loss, "examples",
                              (json_int_t)strata_dataset_size(ctx.test), "backend", strata_device_backend(ctx.dev),
                              "device", strata_device_name(ctx.dev));
        if (o && a.per_class)
            json_object_set_new(o, "per_class", per_class_json(&ctx, names));
        r = cli_print_json(o);
    } else {
        printf("test accuracy: %.4f (test loss %.4f, %lld examples, %s)\n", acc, loss,
               (long long)strata_dataset_size(ctx.test), strata_device_name(ctx.dev));
        if (a.per_class)
            print_per_class(&ctx, names);
    }
    free(names);
    run_free(&ctx);
    return r;
}
