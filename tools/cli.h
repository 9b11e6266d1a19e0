/* cli.h - shared pieces of the strata command-line program. */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <limits.h> /* LLONG_MAX, for cli_parse_int */
#include <stdint.h>
#include <stdio.h>

#include "strata/strata.h"

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_text(int argc, char **argv); /* a language model (data.format: text) */
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_visualize(int argc, char **argv);
int cmd_babi_gen(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_pack_images(int argc, char **argv);
int cmd_report(int argc, char **argv); /* report.c */

/** Prints "strata: error: <what>: <status>: <last error>" and returns 1. */
int cli_fail(const char *what, strata_status s);
/** Reads option @p opt's value @p v as a whole decimal number in [lo, hi]
 *  into *out: 0, or 2 (a usage error) after a message naming the option,
 *  the range and the value. Trailing characters ("3x") are refused. */
int cli_parse_int(const char *opt, const char *v, long long lo, long long hi, int64_t *out);
/** cli_parse_int without the message, for a command that words its own: 0, or -1 (*out unchanged). */
int cli_read_int(const char *v, long long lo, long long hi, int64_t *out);
/** What cli_read_int takes, in words, into @p buf: "a whole number >= LO" or "a whole number in [LO, HI]". */
const char *cli_int_range(char *buf, size_t size, long long lo, long long hi);
/** A finite decimal number @p v ("0.5", "-2", "1e-3"), read whole into *out: 0, or -1 for anything else
 *  strtod would take (" 0.5", "+1", "0x10", "inf", "nan", "1x"; *out unchanged). */
int cli_read_real(const char *v, double *out);

/* A command's options as a table (cli_opts.c): one parser gives every
 * command --help and the same wording of its errors. */
typedef enum { CLI_FLAG, CLI_STRING, CLI_INT, CLI_LIST } cli_opt_type;

typedef struct cli_opt {
    const char *name;  /* "--epochs" */
    cli_opt_type type;
    void *dst;         /* CLI_FLAG: int, set to 1; CLI_STRING: const char *; CLI_INT: int64_t;
                        * CLI_LIST: const char *[hi], each occurrence's value in turn */
    const char *value; /* the value's name in the help ("N", "DIR"); NULL for a flag */
    const char *help;  /* one line */
    long long lo, hi;  /* CLI_INT: the range cli_parse_int checks; CLI_LIST: hi, its capacity */
    int *given;        /* optional: counts the option's occurrences; CLI_LIST needs it (its values stored) */
    unsigned modes;    /* the cli_command.mode bits that take it; 0: all */
    const char *in_dir; /* CLI_STRING: a directory holding this file stands for DIR/<in_dir> (a run directory
                         * for its "checkpoint.safetensors") */
    int nonempty;       /* CLI_STRING: '' is a missing value, not one meaning "the default" (--backend '') */
    int text;           /* CLI_STRING: any text, "--x" too (a prime); not taken for a forgotten value */
} cli_opt;

typedef struct cli_command {
    const char *name;        /* in messages and the help: "train", "memnet-explain" */
    unsigned mode;           /* picks the options whose modes include it (train or eval) */
    unsigned other_modes;    /* the same command's modes for other kinds of spec: their options are
                              * refused as not applying to this spec, not as unknown */
    const char *synopsis;    /* after "usage: strata NAME "; lines separated by '\n' */
    const char *about;       /* what the command does */
    const char **positional; /* where its positional arguments (a spec) go; NULL: it takes none */
    int max_positional;      /* how many it takes; 0: one */
    int *n_positional;       /* optional: how many were given */
    const cli_opt *opts;     /* ends with an entry whose name is NULL */
    const char *notes;       /* after the options in the help; NULL for none */
} cli_command;

/** The table entry of --backend NAME into @p where (a const char **), for every mode. */
#define CLI_BACKEND_OPTION(where)                                                                                  \
    {                                                                                                              \
        .name = "--backend", .type = CLI_STRING, .dst = (where), .value = "NAME", .nonempty = 1,                  \
        .help = "ref, cpu, cuda, opencl; NAME:N for its device N (default: STRATA_BACKEND, else the best)"        \
    }

/* --set KEY=VALUE (spec_override.c): spec values changed on the command line. */
#define CLI_MAX_SETS 32
extern const char *cli_sets[CLI_MAX_SETS];
extern int cli_n_sets;
/** The table entry of --set KEY=VALUE (repeatable), for the commands of mode bits @p m (0: all). */
#define CLI_SET_OPTION(m)                                                                                          \
    {                                                                                                              \
        .name = "--set", .type = CLI_LIST, .dst = cli_sets, .value = "KEY=VALUE", .hi = CLI_MAX_SETS,              \
        .given = &cli_n_sets, .modes = (m),                                                                        \
        .help = "change a spec value: optimizer.lr=0.01, model.layers.1.out_features=256 (repeatable)"            \
    }
/** The table entry of --batch-size B (into an int64_t) of the trainers; those that read train.batch_size
 *  from the spec alone make it a --set with cli_batch_size_set(). */
#define CLI_BATCH_SIZE_OPTION(where, m)                                                                            \
    {                                                                                                              \
        .name = "--batch-size", .type = CLI_INT, .dst = (where), .value = "B", .lo = 1, .hi = LLONG_MAX,          \
        .modes = (m), .help = "examples per batch (default: train.batch_size)"                                     \
    }
/** --batch-size @p b (> 0) as `--set train.batch_size=B` after the others, so the spec the run loads and
 *  records has it; nothing for @p b <= 0. 0, or 2 after a message (too many --set). */
int cli_batch_size_set(int64_t b);
/** Loads the spec at @p path with the --set overrides applied (each spliced
 *  into the text where the value it replaces stands, a missing key added to
 *  its mapping), validated as strata_spec_load does. 0, or 1 after a message. */
int cli_spec_load(strata_runtime *rt, const char *path, strata_spec **out);
/** After cli_spec_load with --set: " (line N as changed by --set KEY=VALUE)" into @p buf when @p msg (an error of
 *  building the spec's model or optimizer) cites the line of the loaded spec that holds a change's value, which
 *  the file has otherwise; "" when it cites none (or no change was made). */
void cli_set_note(char *buf, size_t size, const char *msg);
/** Warns for each recurrent layer (lstm, gru, rnn) of @p m built with batch_first: 0 in a model whose inputs
 *  are sequences per example (language models, seq2seq): its recurrence would run across the batch. */
void cli_warn_time_major(const strata_spec *s, const strata_model *m, const char *spec_path);
/** Applies one --set KEY=VALUE @p set to the spec text @p *text (@p *len
 *  bytes, NUL-terminated, malloc'ed; reallocated when changed) of the file
 *  @p path: 0, or 1 (2: @p set is not KEY=VALUE) after a message. */
int cli_spec_set(char **text, size_t *len, const char *path, const char *set);

/** 1 when @p arg is an option of some command that takes no value (--json). */
int cli_is_flag(const char *arg);
/** When @p path does not exist and its directory holds a file of a close name, prints
 *  "strata: note: did you mean 'DIR/NAME'?" to stderr; @p ext (".yaml" for a spec, else "") is tried after a
 *  name without one. */
void cli_hint_missing_file(const char *path, const char *ext);
/** cli_fail(@p what, @p s), then cli_hint_missing_file(@p path): for a file the user named that could not
 *  be read (a spec when @p what is "loading the spec"). Returns 1. */
int cli_fail_file(const char *what, strata_status s, const char *path);
/** cli_parse's value after --help / -h printed the help to stdout. */
#define CLI_HELP (-1)
/** Reads argv[1..argc) into the table's destinations: 0; CLI_HELP; or 2
 *  (a usage error) after a message naming the command and the option. */
int cli_parse(const cli_command *c, int argc, char **argv);
/** The exit status of a cli_parse result that ends the command (help: 0). */
#define CLI_EXIT(r) ((r) == CLI_HELP ? 0 : (r))
/** The help: synopsis, about, the options of c->mode, notes. */
void cli_print_help(const cli_command *c, FILE *f);
/** Prints "strata: error: NAME: <fmt>" and where the options are listed; returns 2. */
int cli_usage_error(const cli_command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** 0 when @p value is set; else "NAME needs <what>" and the synopsis, and 2. */
int cli_require(const cli_command *c, const char *value, const char *what);

/* A progress bar on a terminal, plain periodic lines otherwise. */
typedef struct cli_progress {
    int tty;
    int64_t total;
    double start;
    double last_print;
    int64_t log_every;
    char label[64];
} cli_progress;

double cli_now(void);
/** @p a * @p b for counts >= 0 (batches of a run), INT64_MAX when it overflows: a huge --epochs is a long run,
 *  not a negative one. */
static inline int64_t cli_mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
/** log_every: batches between lines when not on a terminal. */
void progress_start(cli_progress *p, const char *label, int64_t total, int64_t log_every);
void progress_update(cli_progress *p, int64_t done, double loss, double acc);
void progress_end(cli_progress *p);

/* A run built from a spec (run.c). */
typedef struct run_options {
    const char *spec_path, *backend;
    int64_t batch_size; /* <= 0: the spec's */
    int64_t seed;
    int have_seed;
    int no_data; /* build the model only: no data sets (strata predict on image files) */
    int random_text; /* a language model whose text file is missing trains on random characters (strata bench) */
} run_options;

/* A data-parallel run's host copy of gradients and buffers (dist.h), kept
 * from step to step: cap bytes at buf (free it when done). */
typedef struct dist_host {
    void *buf;
    size_t cap;
} dist_host;

/* Everything a run needs, built from the spec. */
typedef struct {
    strata_runtime *rt;
    strata_device *dev;
    strata_spec *spec;
    strata_model *model;
    strata_optimizer *opt;
    strata_dataset *train, *test;
    strata_dataset *val; /* data.val_fraction of the training set, held out (NULL: none) */
    const char *loss;
    int64_t batch, eval_batch;
    /* language models (data.format: text; cmd_train_lm.c) */
    int lm;
    strata_text *text;
    char *text_file; /* the text's path as found (malloc'ed; NULL: random characters) */
    int64_t seq_len;
    /* eval --per-class: when want_confusion, run_count_correct counts
     * confusion[label * n_classes + predicted] (allocated on first use) */
    int want_confusion;
    int64_t *confusion, n_classes;
    dist_host dist; /* a data-parallel run's host copy of gradients and buffers */
    int64_t accumulate; /* train.accumulate: micro-batches a step (0: not read yet; run_step reads it) */
    /* a trainer of its own that runs its steps through run_step (the
     * autoencoder): its state, for its run_loss_fn */
    void *user;
} run_ctx;

/** Builds runtime, device, model, (optimizer and training set when
 *  need_train) and test set. Prints the error; returns 0 or an exit code. */
int run_setup(run_ctx *r, const run_options *o, int need_train);
/** Same; a language model takes its vocabulary from @p vocab_checkpoint
 *  when not NULL (eval), else from the text (train). */
int run_setup_vocab(run_ctx *r, const run_options *o, int need_train, const char *vocab_checkpoint);
void run_free(run_ctx *r);
/** The spec's data.classes as @p *names (label k's name; a malloc'ed array
 *  of pointers into the spec, NULL when it has none): 0, or 1 after a
 *  message when they are not @p n_out names. */
int cli_class_names(const strata_spec *s, int64_t n_out, const char ***names);
/** "a, b, c" of @p shape (@p nd values), for messages; "" for none; cut short past @p size. */
const char *cli_shape_text(char *buf, size_t size, const int64_t *shape, int nd);
/** data.classes.K of @p s, or NULL. */
const char *cli_class_name(const strata_spec *s, int64_t k);
/** (B, data shape) -> (B, model input shape), a view. */
strata_status run_model_input(run_ctx *r, strata_tensor *x, strata_tensor **out);
strata_status run_count_correct(run_ctx *r, strata_tensor *logits, strata_tensor *y, int64_t *correct);
strata_status run_evaluate(run_ctx *r, const strata_dataset *d, double *loss, double *acc);
/** forward, cross-entropy, backward, clip (when > 0), optimizer step, reset.
 *  *correct (optional) gains the batch's right answers. A non-finite loss
 *  returns STRATA_E_NUMERIC (with *loss_out set) before the update, so the
 *  parameters keep their last good values. In a data-parallel run (dist.h)
 *  each rank computes its share of the batch; the loss, the count and the
 *  gradients are the whole batch's on every rank. */
strata_status run_train_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, int64_t *correct,
                             double *loss_out);
/** @p src's values into @p dst (same shape and dtype), on their device. */
strata_status cli_copy_tensor(strata_runtime *rt, strata_tensor *dst, strata_tensor *src);
/** A copy of a model's buffers (batch norm's running statistics) on their device, taken before each step so
 *  that a step stopped by a non-finite loss or an anomaly, whose training-mode forward pass already moved
 *  them, can put them back: the saved "last good state" is then that, buffers included. */
typedef struct run_buffers {
    strata_tensor **t;
    int n;
} run_buffers;
/** Copies @p m's buffers into @p b (made on first use; nothing for a model without buffers). */
strata_status run_buffers_keep(strata_runtime *rt, strata_model *m, run_buffers *b);
/** Puts @p b's copies back into @p m's buffers. */
strata_status run_buffers_restore(strata_runtime *rt, strata_model *m, const run_buffers *b);
void run_buffers_free(run_buffers *b);
/** In a data-parallel run (dist.h): 0 when every rank's parameters and
 *  buffers are rank 0's, bit for bit, else 1 after a message saying when
 *  (@p when, followed by @p n unless it is negative: "before training",
 *  -1; "after epoch", 3). 0 in a single process. */
int run_check_replicas(run_ctx *r, const char *when, int64_t n);

/* The pieces of a data-parallel step (dist.h) for trainers with loops of
 * their own (the GAN's two models, the memory network's host batches). In
 * a single process they are not called, or do nothing. */

/** dist_check_replicas(m, ...) is run_check_replicas for any model, its
 *  messages naming @p what ("the discriminator's parameters"). */
int dist_check_replicas(strata_model *m, dist_host *h, const char *what, const char *when, int64_t n);
/** @p m's gradients, weighted by @p weight (the rank's share of the batch),
 *  summed over the ranks, so each holds the gradient of the whole batch's
 *  mean loss; clipped to a total norm of @p clip (> 0) as
 *  strata_clip_grad_norm does, but on the host copy, in one order, so every
 *  rank scales by the same factor; then rank 0's buffers of @p m (batch
 *  norm's running statistics) on every rank, as PyTorch's
 *  DistributedDataParallel broadcasts them. */
strata_status dist_sum_gradients(strata_model *m, dist_host *h, double weight, double clip);
/** cli_update (without its *loss_out) in a data-parallel run: the backward
 *  pass of this rank's share's @p loss, the gradients summed as
 *  dist_sum_gradients does with @p weight and @p clip, the optimizer step;
 *  in a single process, cli_update. */
strata_status dist_update(strata_runtime *rt, strata_model *m, strata_optimizer *opt, dist_host *h,
                          strata_tensor *loss, double clip, double weight);
/** Rank 0's buffers of @p m on every rank (a model whose training-mode
 *  forward passes ran on each rank's share without an update of its own). */
strata_status dist_broadcast_buffers(strata_model *m, dist_host *h);
/** This rank's share of a batch (dist_share) along @p x's first axis, a
 *  view in *xs, and its size in *n (unless @p n is NULL); row 0 when the
 *  share is empty (a batch smaller than the ranks: the rank then steps with
 *  weight 0, so that its gradients exist and its optimizer steps with the
 *  others). */
strata_status dist_shard(strata_runtime *rt, strata_tensor *x, strata_tensor **xs, int64_t *n);
/** The random stream of a step's forward passes: dist_rng_own marks where
 *  the ranks' common stream stands and gives ranks other than 0 streams of
 *  their own from there (their own dropout masks); dist_rng_drawn is what
 *  this rank drew since; dist_rng_join, given the sum of every rank's
 *  draws, sets the common stream past all of them, so that every rank (and
 *  a run resumed from rank 0's checkpoint) goes on from one place. */
typedef struct {
    uint64_t seed, offset;
} dist_rng_mark;
void dist_rng_own(strata_runtime *rt, dist_rng_mark *m);
double dist_rng_drawn(strata_runtime *rt, const dist_rng_mark *m);
void dist_rng_join(strata_runtime *rt, const dist_rng_mark *m, double drawn);
/** The whole batch's mean loss on every rank, from each rank's mean @p lv
 *  over its share of @p n of the @p b examples (an empty share counts
 *  nothing), and the common random stream joined past every rank's draws
 *  since @p mark. In a single process, *lv as it is. */
strata_status dist_mean_loss(strata_runtime *rt, const dist_rng_mark *mark, int64_t n, int64_t b, double *lv);
/** strata_device_get(rt, backend, 0, out), and in a data-parallel run on a
 *  machine with several devices of the backend, the rank's own one (its
 *  place on the machine, modulo their number) unless @p backend (or
 *  STRATA_BACKEND) names one ("cuda:1"). Every rank must call it: the
 *  ranks' devices are gathered for run_note_data_parallel. */
strata_status cli_device_get(strata_runtime *rt, const char *backend, strata_device **out);
/* The description of the device cli_device_get last gave ("host CPU (oneDNN
 * 2.6.3, 2 threads)"; "" before). Checkpoints record it: another may round
 * differently. */
const char *cli_device_description(void);
/** In a data-parallel run (dist.h), a line on stderr saying so. */
void run_note_data_parallel(int64_t batch, const char *out_dir);
/** With train.accumulate above 1, a line on stderr saying how a batch runs. */
void run_note_accumulate(run_ctx *r);
/** An image classifier's model (run_setup): an f32 input, one output of
 *  (batch, classes) logits, as many classes as the data sets' labels need
 *  and data.classes names. 0, or 1 after a message naming the spec. */
int run_check_classifier(run_ctx *r, const char *spec_path);
/** Runs @p m on @p dev once, in eval mode, on zeros (a batch of one of each
 *  input, made into @p in, strata_model_input_count(m) slots) into @p outs
 *  (a slot per layer, as strata_model_forward_layers); the caller releases
 *  both. With gradients on, the graph it records is the caller's to reset. */
strata_status cli_forward_zeros(strata_model *m, strata_device *dev, strata_tensor **in, strata_tensor **outs);
/** Every layer's output on zeros (cli_forward_zeros, gradients off): a
 *  slot per layer (strata_model_layer_count(m)), for their shapes; NULL
 *  when the model cannot run so (nothing said). cli_layer_outputs_free
 *  releases it. */
strata_tensor **cli_layer_outputs(strata_runtime *rt, strata_model *m);
void cli_layer_outputs_free(const strata_model *m, strata_tensor **outs);
/** 0 when @p m has no batch norm (a buffer named LAYER.running_mean), else
 *  the fewest values a batch-norm layer normalises per channel in one
 *  example (1 for batch_norm1d on (C), H x W for batch_norm2d; 1 when the
 *  model cannot run on zeros): a training pass needs 2 values a channel. */
int64_t cli_batch_norm_values(strata_runtime *rt, strata_model *m);
/** Before training: 0, or 2 after a message (rank 0's) on every rank, when
 *  r's model has batch norm and some training pass would see fewer than 2
 *  examples: a batch of @p batch, or the last of an epoch of @p examples
 *  unless @p drop_last, split over the ranks and into train.accumulate's
 *  micro-batches. Batch norm cannot normalise one example in training; a
 *  rank that met it mid-run would fail alone. A run of @p max_steps (> 0)
 *  steps that ends within its first epoch never meets the last batch. */
int run_check_batch_norm(run_ctx *r, const char *spec_path, int64_t examples, int64_t batch, int drop_last,
                         int64_t max_steps);
/** The loss of a batch (x, y), its mean over the batch, for run_step; when
 *  @p right is not NULL, the right answers added to it. */
typedef strata_status (*run_loss_fn)(run_ctx *r, strata_tensor *x, strata_tensor *y, strata_tensor **loss,
                                     int64_t *right);
/** run_train_step with another loss (a language model's): data-parallel
 *  when dist_size() > 1, the batch shared along its first axis. */
strata_status run_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, run_loss_fn loss_fn,
                       int64_t *correct, double *loss_out);

/* Language models (cmd_train_lm.c): a text corpus, windows of seq_len
 * tokens, the model's input 0 the tokens (batch, seq_len) i64, its other
 * inputs recurrent states (zero here), its output 0 the logits (batch,
 * seq_len, V). */
typedef struct lm_train_options {
    const char *out_dir;
    int64_t steps; /* <= 0: the spec's */
    int64_t seed;
    int quiet;
    /* --resume (out_dir is then its directory) and --checkpoint-every;
     * borrowed, NULL for neither */
    const struct train_resume_args *ckpt;
} lm_train_options;

/** Finds a language model's text, data.path @p path of the spec @p spec_path:
 *  a relative path is looked up in the current directory, then next to the
 *  spec. Writes the path to use into @p out (@p path when neither has it);
 *  returns 1 when it was found next to the spec only, else 0. */
int lm_find_text(const char *spec_path, const char *path, char *out, size_t n);
/** 1 when the spec is a language model (task: language_model or data.format: text). */
int lm_spec_is_lm(const strata_spec *s);
/** run_setup's part for a language model: the corpus and checks of the
 *  model against it. Prints the error; returns 0 or an exit code. */
int lm_setup(run_ctx *r, const run_options *o, const char *vocab_checkpoint);
/** Logits (B, T, V) of tokens @p x (B, T), from zero states. */
strata_status lm_forward(run_ctx *r, strata_tensor *x, int training, strata_tensor **logits);
/** One step: forward, cross-entropy over every position, backward, clip,
 *  update. A non-finite loss returns STRATA_E_NUMERIC (with *loss_out set)
 *  before the update, so the parameters keep their last good values. */
strata_status lm_train_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, double *loss_out);
/** Validation loss in nats per token: every non-overlapping window of the held-out text. */
strata_status lm_evaluate(run_ctx *r, double *loss);
/** `strata train` for a language model, after run_setup. */
int lm_train(run_ctx *r, const lm_train_options *o);
/** Reads the vocabulary stored in a checkpoint (text.mode, text.vocab);
 *  *vocab is malloc'ed. Prints the error; returns 0 or 1. */
int lm_read_vocab(const char *checkpoint, int32_t *mode, uint32_t **vocab, int64_t *n);
/** The state outputs (after the logits) against the state inputs: output k
 *  naming a recurrent layer's final state of another state input than
 *  input k is an error (printed; returns 1). */
int lm_check_state_order(const strata_spec *s, int n_inputs);
/** Runs @p m (windows of @p T tokens) on a window of token 0, then one of
 *  the vocabulary's last token V-1: an embedding narrower than the
 *  vocabulary failed only at the first batch that held a token past it
 *  (train: perhaps the end-of-run evaluation, the steps unsaved; generate:
 *  mid-sample). @p bytes: the vocabulary is of bytes; @p source names where
 *  it comes from (the text, a checkpoint's metadata). 0, or 1 after a
 *  message naming @p spec_path. */
int lm_check_vocab_fits(strata_runtime *rt, strata_device *dev, strata_model *m, int64_t T, int64_t V, int bytes,
                        const char *spec_path, const char *source);
int cmd_generate(int argc, char **argv);

/* Sequence to sequence (cmd_seq2seq.c): data.format: seq2seq_reverse. */
/** The data.format and task of the spec named in @p argv (a train/eval
 *  command line, its --set overrides applied) into @p buf and @p task (""
 *  when it names none), and the spec's path into *@p spec (NULL when none): 0, or the exit status after
 *  printing the error when the spec it names does not load. Without a SPEC argument: the one of
 *  `--spec SPEC`, else the run's spec.yaml beside `--checkpoint`, whose path is then also left in
 *  cli_implied_spec (else NULL) for eval to take as SPEC. */
int cli_data_format(int argc, char **argv, char *buf, size_t size, char *task, size_t task_size, const char **spec);
extern const char *cli_implied_spec;
/** The spec of checkpoint @p checkpoint (a file, or a run directory): the run's spec.yaml beside it, else the
 *  path a memory network's checkpoint records (memnet.spec), into @p out with *@p how saying which: 1; 0 for
 *  none. */
int cli_checkpoint_spec(const char *checkpoint, char *out, size_t size, const char **how);
extern const char *cli_implied_how; /* where it was found: "the run's", "the one the checkpoint records" */
/** The data.format ("idx" when absent) and task ("" when absent) of the
 *  spec @p path with the --set overrides given so far (cli_sets): 0, or
 *  the exit status after printing why it does not load. */
int cli_spec_kind(const char *path, char *format, size_t format_size, char *task, size_t task_size);
/** A runtime with the default options and @p seed (0: the default): the
 *  one cli_spec_kind made, if it is still there, else a new one. */
strata_status cli_runtime_create(uint64_t seed, strata_runtime **out);
/** Destroys the runtime cli_spec_kind kept, if no command took it. */
void cli_runtime_release_parked(void);
/** `strata train` / `strata eval` of a seq2seq spec: exact match by greedy decoding. */
int cmd_s2s_train(int argc, char **argv);
int cmd_s2s_eval(int argc, char **argv);

/* Memory networks (cmd_memnet.c): data.format: babi. */
int cmd_memnet_train(int argc, char **argv);
int cmd_memnet_eval(int argc, char **argv);
int cmd_memnet_explain(int argc, char **argv);
/* Autoencoders (cmd_autoencoder.c): task: autoencoder. */
int cmd_ae_train(int argc, char **argv);
int cmd_ae_eval(int argc, char **argv);

/* GANs (cmd_gan.c): task: gan. */
int cmd_gan_train(int argc, char **argv);
int cmd_gan_sample(int argc, char **argv);
int cmd_fid(int argc, char **argv);
/** W5 of `strata bench`: the spec's GAN (one discriminator and one
 *  generator step per iteration on Fashion-MNIST batches), reported like
 *  memnet_bench. */
int gan_bench(const char *spec, const char *backend, int64_t warmup, int64_t steps, int profile,
              void (*report)(strata_runtime *rt, strata_device *dev, const double *times, int64_t batch, double loss,
                             void *user),
              void *user);
/** W4 of `strata bench`: the spec's memory network on one random batch as
 *  the PyTorch peer (vocabulary 40, memory 50 x 12 words, batch 32), warmup
 *  + steps SGD steps (profiled after the warmup when @p profile); then
 *  report(rt, dev, per-step seconds, batch, last loss, user). Returns 0 or
 *  an exit code after a message. */
int memnet_bench(const char *spec, const char *backend, int64_t warmup, int64_t steps, int profile,
                 void (*report)(strata_runtime *rt, strata_device *dev, const double *times, int64_t batch,
                                double loss, void *user),
                 void *user);

struct json_t;
/** Prints @p obj (taken: released here) as one line of JSON on stdout: 0,
 *  or 1 after a message when it is NULL (out of memory building it). */
int cli_print_json(struct json_t *obj);
/** A number for JSON; null when it is not finite (no validation set: no validation loss). */
struct json_t *cli_json_num(double v);
/** The length of the well-formed UTF-8 character at @p s, its code point in
 *  *cp; 0 for a byte that does not start one (overlong forms, surrogates and
 *  values past U+10FFFF included). */
int cli_utf8_next(const char *s, uint32_t *cp);
/** The offset of the first byte of @p s[0..n) that does not start a
 *  well-formed UTF-8 character (what a YAML spec or JSON text can hold); @p n
 *  when all do. @p s is NUL-terminated at or after n. */
size_t cli_utf8_prefix(const char *s, size_t n);
/** A JSON string of @p s (a path, a name) with each byte that is not UTF-8
 *  replaced by U+FFFD, as JSON holds only UTF-8; null for NULL. */
struct json_t *cli_json_str(const char *s);
/** The number of @p v, NaN when it is null (cli_json_num's inverse). */
double cli_json_num_value(const struct json_t *v);
/** Writes @p obj to @p path (temp file + rename): 0, or 1 after a message. */
int cli_write_json(const char *path, struct json_t *obj);
/** DIR/summary.json of a run, by cli_write_json; not rewritten by a resume that found the run finished
 *  (@p trained 0: no step taken), so it keeps the run's own timing. 0, or 1 after a message. */
int cli_write_summary(const char *dir, struct json_t *sum, int trained);
/** Sets "name" of a run's summary @p sum (when not NULL) to the spec's top-level `name`, when it has one: the
 *  label spec.md promises for runs and reports (report.html's title). */
void cli_summary_name(struct json_t *sum, const strata_spec *spec);
/** The spec's learning-rate schedule (schedule.*) for a run of @p total_steps. */
/** A schedule with room for its milestones (as many as a spec may list). */
#define CLI_MAX_MILESTONES 64
typedef struct {
    strata_lr_schedule s; /* its milestones point into the array below */
    int64_t milestones[CLI_MAX_MILESTONES];
} cli_schedule;
/** The spec's schedule over its run: train.steps when the spec gives it,
 *  else @p run_steps (the epochs' batches, or the trainer's default steps);
 *  a --steps stop does not change it, so --resume continues it. */
strata_status cli_read_schedule(const strata_spec *s, int64_t run_steps, cli_schedule *out);

/** The update after a forward pass: backward from @p loss, clip the
 *  gradients' global norm when @p clip > 0, optimizer step, *loss_out
 *  (optional) = the loss's value; then, whatever happened, zero the
 *  gradients, release @p loss and reset the graph. */
strata_status cli_update(strata_runtime *rt, strata_model *m, strata_optimizer *opt, strata_tensor *loss, double clip,
                         double *loss_out);

/** The spec's data set @p split ("train", "test": data.SPLIT.images and
 *  labels, or with data.format: safetensors data.SPLIT.file, inputs and
 *  labels) scaled and normalised as data.scale, data.mean, data.std say.
 *  Prints the error; returns 0 or 1. */
int cli_load_images(const strata_spec *s, const char *split, strata_dataset **out);
/** The same split with its features divided by @p scale only, and
 *  nothing printed: STRATA_E_NOT_FOUND when the spec names none. */
strata_status cli_load_split(const strata_spec *s, const char *split, double scale, strata_dataset **out);
/** 1 when the spec has a value (or section) at @p path ("data.test"). */
int cli_spec_has(const strata_spec *s, const char *path);

/** The runtime's op profile as a table (per step over @p steps), heaviest first. */
void cli_print_profile(strata_runtime *rt, int64_t steps);

/* Ctrl-C during training (interrupt.c). */
/** SIGINT and SIGTERM set a flag the trainers read after each step (a
 *  second signal ends the process at once). */
void cli_catch_interrupts(int argc, char **argv); /* argv[0]: the command ("train") */
/** 1 once SIGINT or SIGTERM came: stop after this step, as --steps would. */
int cli_interrupted(void);
/** dist_any(cli_interrupted()): 1 when a signal reached any rank (every rank calls it at the same point), and
 *  from then on (cli_stopping) on every rank, whichever the signal reached. */
int cli_stop_agreed(void);
/** 1 after a cli_stop_agreed that said stop. */
int cli_stopping(void);
/** After the checkpoint of where the run stands: says how to resume it;
 *  returns the exit status, 128 + the signal. A new run stopped at step 0
 *  has no checkpoint (train_untrained_stop): it says that nothing was
 *  trained, and the directory's earlier run goes back in place. */
int cli_interrupt_exit(const char *spec, const char *dir, int64_t step);
/** 1 after cli_interrupt_exit of a new run that had trained nothing (no report to write). */
int cli_interrupted_untrained(void);
/** Test hooks of STRATA_TEST_SIGNAL (interrupt.c): the signals it names
 *  when the run reaches @p step (0: at start-up), or a metrics record @p rec
 *  with that "step"; SIGKILL after a checkpoint written once a signal came. */
void cli_test_signal_at(int64_t step);
void cli_test_signal_record(const struct json_t *rec);
void cli_test_after_checkpoint(void);
/** "  strata train ..." and a newline on stderr: the command line that
 *  continues the run in @p dir, as typed with --out DIR as --resume DIR (the
 *  same steps, backend, --set, ...); without one, `train SPEC --resume DIR`. */
void cli_put_resume_command(const char *spec, const char *dir);
/** The same without @p option and its value (NULL: none): "--steps" after a
 *  --steps stop, which the same --steps would not take further. */
void cli_put_resume_command_without(const char *spec, const char *dir, const char *option);

/** "strata: defaults applied:" and the spec's applied defaults, one a line
 *  (strata_spec_defaults), on stderr from rank 0 of a new run: every trainer
 *  says what it took the spec to mean. Nothing with @p quiet or @p resuming. */
void cli_note_defaults(const strata_spec *s, int quiet, int resuming);

/** The epochs a run of @p steps optimizer steps (train.steps or --steps; 0:
 *  none) takes at @p per_epoch batches an epoch: as many as the steps need,
 *  capped by --epochs (@p cli_epochs > 0), else @p epochs. When the spec
 *  sets both train.steps and train.epochs and the steps set another count,
 *  says so on stderr (not @p quiet): the steps win. */
int64_t cli_epochs_for_steps(const strata_spec *s, int64_t steps, int64_t per_epoch, int64_t epochs,
                             int64_t cli_epochs, int cli_steps, int quiet);

/** mkdir -p @p dir: 0, or 1 after printing an error naming it. */
int cli_make_dir(const char *dir);
/** 0 when @p path (a checkpoint file or a run directory) exists, else 1 after the
 *  message: an evaluation checks it before loading its data. */
int cli_checkpoint_present(const char *path);
/** 0 when the checkpoint @p path is a regular file, else 1 after saying
 *  why, before anything is built: the common mistake, named plainly. */
int cli_check_checkpoint(const char *path);
/** The run directory @p dir's checkpoint (DIR/checkpoint.safetensors) in
 *  @p buf as *path: 0, or 1 after a message listing the safetensors files
 *  it holds (cmd_inspect.c). */
int cli_run_checkpoint(const char *dir, char *buf, size_t size, const char **path);
/** strata_checkpoint_load of @p path into @p m: 0, or 1 after a message naming the file. */
int cli_load_checkpoint(const char *path, strata_model *m);
/** How the spec's images were scaled: data.scale (255; 1 for data.format:
 *  safetensors), then data.mean (0) and data.std (1), each a number or a
 *  list of one per channel (torchvision's Normalize). */
#define CLI_MAX_CHANNELS 64 /* as core/spec/spec.c allows (SPEC_MAX_CHANNELS) */
typedef struct {
    double scale;
    int n; /* 1, or the channels data.mean and data.std give values for */
    double mean[CLI_MAX_CHANNELS], std[CLI_MAX_CHANNELS];
} cli_scaling;
cli_scaling cli_data_scaling(const strata_spec *s);
/** 1 when data.mean and data.std change nothing (0 and 1 in every channel). */
int cli_scaling_plain(const cli_scaling *sc);
/** The model's value of byte @p px (0-255) in channel @p c, and back: the
 *  byte a model value @p v stands for. Channel @p c is taken modulo the
 *  channels of the spec's lists (a single number serves every channel). */
double cli_byte_to_value(const cli_scaling *sc, int64_t c, double px);
double cli_value_to_byte(const cli_scaling *sc, int64_t c, double v);
/** Standardises @p d as data.mean and data.std say (nothing when plain). */
strata_status cli_normalize(strata_dataset *d, const cli_scaling *sc);
/** The smallest and largest input value of @p d (0 and 0 when it has none). */
void cli_dataset_range(const strata_dataset *d, float *lo, float *hi);
/** What stored values ranging over [@p lo, @p hi] are as pixels: 255 for
 *  [0, 1] (a white pixel 1), 1 for bytes [0, 255], 0 for neither. */
double cli_pixel_factor(float lo, float hi);
/** How pixel bytes (0-255: PNG files, IDX images, a generator's samples)
 *  become the model's inputs: cli_data_scaling, with data.scale for bytes.
 *  IDX data are bytes; the raw values of data.format: safetensors are taken
 *  to be bytes when the training inputs lie in [0, 255] and exceed 1, and
 *  in [0, 1] (a white pixel 1) when they do not exceed 1: data.scale is then
 *  multiplied by 255 (cli_pixel_factor). 0, or 1 after a message naming the
 *  spec when the training inputs cannot be read or are not pixel values
 *  (below 0, above 255). */
int cli_byte_scaling(const strata_spec *s, cli_scaling *out);

/* Checkpoints and resume of `strata train` (train_ckpt.c). */
/** Where a run stands: what DIR/checkpoint.safetensors records in its
 *  "train.state" metadata. */
typedef struct train_state {
    int64_t step;  /* optimizer steps done */
    int64_t epoch; /* the epoch in progress (0-based) ... */
    int64_t batch; /* ... and its batches done */
    uint64_t rng_seed, rng_offset; /* the runtime's Philox state */
    uint64_t data_seed;            /* the loader's shuffling seed */
    double sum_loss;               /* the epoch's running sums, for its metrics record */
    int64_t correct, seen;
    int64_t batch_size;            /* the loader's: positions count its batches */
    int64_t epochs;                /* the run's epochs, which its schedule spans; 0: not recorded (before 1.4) */
    int epochs_cli;                /* 1: they came from --epochs (a cap on --steps), 0: from the spec */
    int64_t examples, per_epoch;   /* the training set's size and batches an epoch; 0: not recorded */
    char backend[32]; /* loaded: where it ran ("ref"); saving records the model's */
    char device[160]; /* loaded: its device's description ("host CPU (oneDNN 2.6.3, 2 threads)"); "" before 1.4 */
    /* A trainer's own state (a JSON object: its generator's state, the best
     * validation so far, ...) saved as "extra"; NULL for none. Saving
     * borrows it; loading sets a new reference the caller releases. */
    struct json_t *extra;
} train_state;
/** Writes DIR/checkpoint.safetensors (atomically) with @p s in its metadata. */
strata_status train_ckpt_save(const char *dir, strata_model *m, strata_optimizer *opt, const train_state *s);
/** Loads DIR/checkpoint.safetensors into @p m and @p opt and its state
 *  into @p s. Prints the error; returns 0 or 1. */
int train_ckpt_load(const char *dir, strata_model *m, strata_optimizer *opt, train_state *s);
/** The same for DIR/FILE (a run with another file name or several models). */
strata_status train_ckpt_save_file(const char *dir, const char *file, strata_model *m, strata_optimizer *opt,
                                   const train_state *s);
int train_ckpt_load_file(const char *dir, const char *file, strata_model *m, strata_optimizer *opt, train_state *s);
/** A new run's file or folder @p name in @p dir that it may not write
 *  itself (a GAN's generator_ema.safetensors, samples/) set aside as
 *  NAME.replaced with spec.yaml and the rest: gone at the run's first
 *  checkpoint, back if it ends without one. */
void train_replaced_keep(const char *dir, const char *name);
/** 0 when every F32 parameter of @p m is finite; else 1 after an error
 *  naming @p path (the checkpoint read), the parameter and the count, and
 *  ending with @p consequence ("it cannot be resumed"). */
int cli_refuse_nonfinite_params(const strata_model *m, const char *path, const char *consequence);
/** train_ckpt_save_file with more metadata: the members of @p more (a JSON
 *  object, borrowed; NULL for none) join "train.state" at the top level
 *  (a language model's vocabulary, a task name; "step" and "epoch" stay
 *  the state's). */
strata_status train_ckpt_save_meta(const char *dir, const char *file, strata_model *m, strata_optimizer *opt,
                                   const train_state *s, struct json_t *more);
/** With @p part set, the files saved are parts of a checkpoint that a later file commits (a GAN's
 *  discriminator and average before its generator): the earlier run's FILE.replaced stay until then. */
void train_ckpt_part(int part);
/** Only the train.state of DIR/FILE into @p s (no weights are read).
 *  Prints the error unless @p quiet; returns 0 or 1. */
int train_ckpt_read_state(const char *dir, const char *file, train_state *s, int quiet);
/** 64-bit integers of train_state.extra, stored as decimal strings (JSON
 *  integers are signed): 0, or -1 when @p key is missing or malformed. */
int train_extra_set_u64(struct json_t *extra, const char *key, uint64_t v);
int train_extra_get_u64(struct json_t *extra, const char *key, uint64_t *v);

/* The flags every trainer shares: --resume DIR, --checkpoint-every N. */
typedef struct train_resume_args {
    const char *resume;       /* the run directory to continue, NULL: a new run */
    int64_t checkpoint_every; /* steps between checkpoints; 0: the trainer's own points only */
} train_resume_args;
/** The table entries of --resume DIR and --checkpoint-every N into @p r
 *  (a train_resume_args *), for the commands of mode bits @p m (0: all). */
#define CLI_RESUME_OPTIONS(r, m)                                                                                   \
    {.name = "--resume", .type = CLI_STRING, .dst = &(r)->resume, .value = "DIR", .modes = (m),                   \
     .help = "continue the run in DIR from its checkpoint, step for step"},                                        \
    {                                                                                                              \
        .name = "--checkpoint-every", .type = CLI_INT, .dst = &(r)->checkpoint_every, .value = "N", .lo = 1,       \
        .hi = LLONG_MAX, .modes = (m), .help = "also write the checkpoint every N steps"                           \
    }
/** --detect-anomaly of every trainer, into the int @p flag, in modes @p m. */
#define CLI_DETECT_ANOMALY_OPTION(flag, m)                                                                          \
    {                                                                                                              \
        .name = "--detect-anomaly", .type = CLI_FLAG, .dst = (flag), .modes = (m),                                  \
        .help = "stop at the first op that gives NaN or Inf, naming it"                                            \
    }
/** On --resume: says that nothing is left to train (it resumed, evaluated and exited 0 without a word of it)
 *  when the run has done all @p total @p unit ("epochs"; 0: none counted) it is asked for, @p done of them, a
 *  larger @p option (NULL: none) going on; else when at step @p step it has the @p limit steps asked for
 *  (--steps, or the spec's train.steps; 0 or less: no limit). */
void train_resume_nothing_left(int64_t step, int64_t limit, int64_t done, int64_t total, const char *unit,
                               const char *option);
/** After parsing: --resume DIR is the run directory (*out_dir = DIR), held
 *  from here on (train_out_prepare) and its FILE.replaced put back; 2
 *  after a message when --out names another directory, 1 when DIR is not a
 *  directory (a checkpoint file, say) or another training holds it, else 0. */
int train_resume_finish(const train_resume_args *r, const char **out_dir);
/* The run directory of a training: made (unless @p resuming, which never creates the directory it
 * continues), then held by this process until it exits (an flock on DIR/.lock), so a second training into
 * it is refused rather than mixing the two runs' files; then, for a new run, a note when DIR already holds
 * a run (this one replaces it). 0, or 1 after a message. */
int train_out_prepare(const char *dir, int resuming);
/** 1 when a signal (cli_stop_agreed: on any rank) stops a new run (not --resume) at
 *  @p step 0: its checkpoint is not written (it would replace the
 *  directory's earlier run with nothing trained). */
int train_untrained_stop(int64_t step);
/** A new run writes DIR/spec.yaml; a resumed one whose spec differs from
 *  it warns, keeps it as DIR/spec.prev.yaml and writes the new one (the
 *  spec the run follows from here on). Both atomically, keeping the mode. */
void train_spec_record(const char *dir, const strata_spec *spec, int resuming);
/** The run's spec.yaml beside @p checkpoint (a file, or the run directory), in @p out: 1 when it is there. */
int train_spec_beside(const char *checkpoint, char *out, size_t size);
/** A warning when @p spec's data.classes name the classes otherwise than the run's spec.yaml beside
 *  @p checkpoint: eval's accuracy and predict's names would follow the wrong order without a word. */
void train_warn_class_order(strata_runtime *rt, const strata_spec *spec, const char *checkpoint);
/** Removes the temporary files of checkpoint writes a killed run left in @p dir. */
void train_ckpt_remove_temps(const char *dir);
/** The same for DIR/FILE (its FILE.tmp.* leftovers). */
void train_ckpt_remove_temps_of(const char *dir, const char *file);

/* train.keep_best: the model that did best on the validation set so far,
 * kept as RUN/best.safetensors (its metric, value, epoch and step in the
 * metadata, where a resumed run finds them again). */
typedef struct {
    const char *metric; /* "val_accuracy", "val_loss"; NULL: off */
    double value;       /* NAN: nothing scored yet */
    int64_t epoch;      /* 1-based; 0 for a language model (scored at steps) */
    int64_t step;
} train_best;
/** A new run (not --resume) in @p out_dir: an old best.safetensors is not its own. */
void train_best_forget(const char *out_dir);
/** After `strata train` returns @p status: the earlier run's spec.yaml,
 *  metrics.jsonl and best.safetensors that a new run in its directory set
 *  aside (train_spec_record, train_metrics_open, train_best_forget) are
 *  put back when the new run ended without a checkpoint of its own and
 *  @p status is not 0, else removed. Their first checkpoint removes them
 *  already. */
void train_replaced_settle(int status);
/** `--resume DIR`: the files of DIR's checkpoint's run that a run started
 *  over it set aside (FILE.replaced) and could not put back (it was killed
 *  before its first checkpoint) are put back first. */
void train_replaced_recover(const char *dir);
/** On --resume: the best so far from RUN/best.safetensors when it is this
 *  run's (the same metric, from a step at or before @p resumed_step; a later
 *  one is for the replayed steps to find again); otherwise none. */
void train_best_resume(train_best *b, const char *out_dir, int64_t resumed_step, int quiet);
/** Saves @p m as RUN/best.safetensors (with @p meta's keys too, may be NULL)
 *  when @p value beats the best so far; ties keep the earlier model. */
strata_status train_best_update(train_best *b, const char *out_dir, strata_model *m, double value, int64_t epoch,
                                int64_t step, struct json_t *meta);
/** --resume given another seed (@p seed) than the run's, @p run_seed from its checkpoint: the note that the run
 *  keeps its own, "the run @p how seed N (from the checkpoint), not S" (@p how: "has", "shuffles its data
 *  with"), on rank 0 unless @p quiet. Nothing when they agree. */
void train_resume_note_seed(uint64_t run_seed, int64_t seed, const char *how, int quiet);
/** --resume on @p backend of a run that started on another: warns that the
 *  losses will not repeat an uninterrupted run's bit for bit. */
void train_resume_warn_backend(const train_state *s, strata_device *dev);
/** --resume of the run in @p dir, which used batches of s->batch_size, with
 *  batches of @p batch: 0 when they agree (or the run recorded none); else
 *  an error ending in "(@p fix N)" with the run's size, and 2. */
int train_resume_check_batch(const train_state *s, const char *dir, int64_t batch, const char *fix);
/** --resume of the run in @p dir on a training set of @p examples giving @p per_epoch batches an epoch: 2 after
 *  an error when the checkpoint's epochs had another number of batches (its position and the schedule's length
 *  count them), or its position is past the epoch's end; a warning when only the number of examples differs;
 *  else 0. */
int train_resume_check_data(const train_state *s, const char *dir, int64_t examples, int64_t per_epoch);
/* A resumed run's epochs: a run started with --epochs keeps them (its
 * checkpoint records them, since 1.4), with a note when the spec says
 * otherwise, and 1 is returned (they cap --steps as --epochs does); a run
 * that followed its spec follows it still (a changed spec is warned about
 * apart). An explicit --epochs of another count than the run's is taken,
 * with a warning (a schedule over the run's length changes with it). */
int train_resume_epochs(const train_state *s, const char *dir, int64_t *epochs, int explicit_epochs, int quiet);
/** Rewrites DIR/metrics.jsonl keeping the records written up to @p s (the
 *  rest a resumed run writes again). Prints the error; returns 0 or 1. */
int train_metrics_truncate(const char *dir, const train_state *s);
/** What stopped a step with STRATA_E_NUMERIC, into @p buf before a save
 *  overwrites the last error: "" for a non-finite @p loss, else the
 *  --detect-anomaly report (the loss was finite; an op's output was not). */
void train_numeric_cause(double loss, char *buf, size_t size);
/** 1 when a step's @p rc and @p loss stop the run with its last good state saved: a non-finite loss, or a
 *  --detect-anomaly report outside a data-parallel run (there it is one rank's, and an error for all). */
int train_numeric_stop(strata_status rc, double loss);
/** The messages of a run stopped by a non-finite @p loss, or by the
 *  anomaly report @p anomaly when not "", at @p at ("step 12"), its last
 *  good state (after @p step) saved in @p dir unless @p saved is an error:
 *  on rank 0 alone in a data-parallel run. */
void train_tell_nan_stop(double loss, const char *anomaly, const char *at, strata_status saved, int64_t step,
                         const char *spec,
                         const char *dir);
/** RUN/metrics.jsonl (@p path) opened to append (@p resuming) or anew; on
 *  the ranks but 0 of a data-parallel run, /dev/null. NULL with errno set. */
FILE *train_metrics_open(const char *path, int resuming);
/** Appends @p line and a newline to @p f, the metrics.jsonl of run @p dir
 *  (train_metrics_open), and flushes it: 0; 1 after "strata: error: cannot
 *  write DIR/metrics.jsonl: why" when the stream failed (a full disk: the
 *  record is lost and a line may be torn), which stops the run as a
 *  failed checkpoint does. */
int train_metrics_put(FILE *f, const char *dir, const char *line);
/** train_metrics_put of @p rec as one line of compact JSON; takes @p rec
 *  (NULL, out of memory: nothing written). */
int train_metrics_json(FILE *f, const char *dir, struct json_t *rec);
/** train_metrics_put of a step's record, {"step", "batch_loss", "lr"}: the
 *  loss curve a resumed run must reproduce. */
int train_metrics_step(FILE *f, const char *dir, int64_t step, double loss, double lr);
/** fclose of @p f (NULL: nothing to do): 0; 1 when it or an earlier write
 *  failed, after the same error unless @p told (train_metrics_put said it). */
int train_metrics_close(FILE *f, const char *dir, int told);
/** Rewrites DIR/metrics.jsonl whole or not at all (cli_write_atomic),
 *  keeping the lines @p keep accepts; a torn last line ends it. Nothing to
 *  do without the file. Prints the error; returns 0 or 1. */
int train_metrics_filter(const char *dir, int (*keep)(const char *line, const void *ctx), const void *ctx);

#endif
