/*
 * spec.c - model specs (YAML): load, check against tables, build models and
 * optimizers, answer dotted-path queries. The format is docs/spec.md.
 *
 * Loading checks everything a spec can get wrong by itself: unknown and
 * duplicate keys, value kinds and ranges, layer and optimizer attributes
 * against the registered types' schemas. What needs the model - layer names,
 * references between layers, shapes - the core checks while the model is
 * built; its messages get the layer's file:line in front. Defaults are
 * recorded while checking, one line each, for strata_spec_defaults().
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "spec/yaml_tree.h"
#include "typo.h"

#define SPEC_MAX_BYTES (16u << 20) /* a spec is a page of text; refuse anything huge */

typedef struct spec_input {
    const char *name;
    strata_dtype dtype;
    int ndim;
    int64_t shape[STRATA_MAX_DIMS];
    int line;
} spec_input;

typedef struct spec_layer {
    const char *type;
    const char *name;    /* NULL: the core names it by position */
    char index_name[24]; /* that position, for messages and references */
    int line;
    strata_attr *attrs; /* only the keys the spec gives; the core applies defaults (room for the schema's) */
    int n_attrs;
    const strata_attr_spec *schema; /* the layer type's, for strata_spec_set_layer_int of a default */
    int n_schema;
    const char **inputs;
    int n_inputs;
} spec_layer;

/* One model and its optimizer: the spec's own (model, optimizer) or a
 * named pair (generator: {model, optimizer}) of a two-model spec (a GAN). */
typedef struct spec_graph {
    const char *name; /* NULL for the main model */
    spec_input *inputs;
    int n_inputs;
    spec_layer *layers;
    int n_layers;
    const char **outputs;
    int n_outputs, outputs_line;

    const char *optim_type; /* NULL without an optimizer section */
    int optim_line;
    strata_attr *optim_attrs;
    int n_optim_attrs;
} spec_graph;

#define SPEC_MAX_NAMED 2
#define SPEC_MAX_MILESTONES 64 /* schedule.milestones; tools/cli.h holds as many (CLI_MAX_MILESTONES) */
#define SPEC_MAX_CHANNELS 64   /* data.mean, data.std as lists; tools/cli.h holds as many (CLI_MAX_CHANNELS) */
static const char *const named_models[SPEC_MAX_NAMED] = {"generator", "discriminator"};

struct strata_spec {
    char *path; /* file path, or the name given to strata_spec_parse */
    char *text; /* raw text, NUL-terminated */
    size_t len;
    yt_doc *doc;

    spec_graph main;                    /* model, optimizer */
    spec_graph named[SPEC_MAX_NAMED];   /* generator, discriminator: {model, optimizer} */
    spec_graph *g;                      /* the one being parsed */
    char where[48];                     /* its model's path in messages: "model", "generator.model" */

    unsigned task; /* the spec's task as a T_* bit (T_ALL while unknown): which keys apply */

    char *defaults; /* "key = value\n" lines */
    size_t defaults_len, defaults_cap;

    void **allocs; /* everything above that is not the doc: freed together */
    int n_allocs, cap_allocs;
};

/* ---- small helpers ----------------------------------------------------- */

/* "FILE:LINE: message" (or "FILE: message" without a node). */
__attribute__((format(printf, 4, 5))) static strata_status fail(const strata_spec *s, strata_status st,
                                                                const yt_node *at, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        return st_error(st, "%s:%d: %s", s->path, at->line, msg);
    return st_error(st, "%s: %s", s->path, msg);
}

/* Zeroed memory owned by the spec, freed by strata_spec_destroy. */
static void *spec_alloc(strata_spec *s, size_t n, size_t size)
{
    if (st_grow((void **)&s->allocs, &s->cap_allocs, s->n_allocs + 1, sizeof(void *)) != STRATA_OK)
        return NULL;
    void *p = st_calloc(n, size);
    if (p)
        s->allocs[s->n_allocs++] = p;
    return p;
}

/* Appends @p text (whole lines) to the defaults. */
static strata_status append_defaults(strata_spec *s, const char *text)
{
    size_t add = strlen(text);
    if (s->defaults_len + add + 1 > s->defaults_cap) {
        size_t cap = s->defaults_cap ? s->defaults_cap : 256;
        while (cap < s->defaults_len + add + 1)
            cap *= 2;
        char *p = st_realloc(s->defaults, cap);
        if (!p)
            return STRATA_E_NOMEM;
        s->defaults = p;
        s->defaults_cap = cap;
    }
    memcpy(s->defaults + s->defaults_len, text, add + 1);
    s->defaults_len += add;
    return STRATA_OK;
}

__attribute__((format(printf, 2, 3))) static strata_status add_default(strata_spec *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    return append_defaults(s, line);
}

/* Appends "a, b, c" to buf and, when one is close to @p wrong, writes it to
 * *hint. */
static void join_names(char *buf, size_t size, const char *const *names, int n, const char *wrong, const char **hint)
{
    size_t used = strlen(buf);
    for (int k = 0; k < n; k++)
        if (used + 1 < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "", names[k]);
    if (wrong && hint)
        *hint = st_typo_closest(wrong, names, n);
    if (used >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* Kind of a value described for a message: "'abc'", "a sequence". */
#define DESCRIBE(node) yt_describe((node), (char[64]){0}, 64)

/* Writes the names registered for @p kind ("flatten, linear, ...") into
 * buf; *hint (when @p wrong is given) receives one close to it. */
static strata_status registry_list(const strata_runtime *rt, strata_registry_kind kind, const char *wrong,
                                   const char **hint, char *buf, size_t size)
{
    int count = strata_registry_count(rt, kind);
    const char **names = st_calloc(count > 0 ? (size_t)count : 1, sizeof(char *));
    if (!names)
        return STRATA_E_NOMEM;
    int n = 0;
    for (int k = 0; k < count; k++) {
        const char *name = NULL;
        if (strata_registry_get(rt, kind, k, &name, NULL, NULL, NULL) == STRATA_OK && name)
            names[n++] = name;
    }
    buf[0] = '\0';
    join_names(buf, size, names, n, wrong, hint);
    if (!n)
        snprintf(buf, size, "none");
    free(names);
    return STRATA_OK;
}

/* "unknown layer type 'lineer' in layer 3; did you mean 'linear'? (registered: ...)";
 * @p where may be "". */
static strata_status unknown_type(const strata_spec *s, const strata_runtime *rt, strata_registry_kind kind,
                                  const yt_node *at, const char *what, const char *type, const char *where)
{
    char list[1024];
    const char *hint = NULL;
    if (registry_list(rt, kind, type, &hint, list, sizeof list) != STRATA_OK)
        return STRATA_E_NOMEM;
    char failed[700]; /* a plugin found and not loaded is the likely reason, not a typo */
    st_plugin_failures_hint(rt, failed, sizeof failed);
    if (hint)
        return fail(s, STRATA_E_NOT_FOUND, at, "unknown %s type '%s'%s; did you mean '%s'? (registered: %s)%s", what,
                    type, where, hint, list, failed);
    return fail(s, STRATA_E_NOT_FOUND, at, "unknown %s type '%s'%s (registered: %s)%s", what, type, where, list,
                failed);
}

/* Checks that every key of @p map is a scalar, appears once and is one of
 * known[0..n). @p where is "in train", "at the top level", ... */
static strata_status check_keys(const strata_spec *s, const yt_node *map, const char *where,
                                const char *const *known, int n_known)
{
    for (int k = 0; k < map->n; k++) {
        const yt_node *key = map->items[2 * k];
        if (key->kind != YT_SCALAR)
            return fail(s, STRATA_E_FORMAT, key, "keys %s must be names, got %s", where, DESCRIBE(key));
        for (int j = 0; j < k; j++) {
            const yt_node *prev = map->items[2 * j];
            if (prev->kind == YT_SCALAR && strcmp(prev->text, key->text) == 0)
                return fail(s, STRATA_E_FORMAT, key, "duplicate key '%s' %s (first at line %d)", key->text, where,
                            prev->line);
        }
        int found = 0;
        for (int j = 0; j < n_known && !found; j++)
            found = strcmp(known[j], key->text) == 0;
        if (!found) {
            char list[1024] = "";
            const char *hint = NULL;
            join_names(list, sizeof list, known, n_known, key->text, &hint);
            if (hint)
                return fail(s, STRATA_E_FORMAT, key, "unknown key '%s' %s; did you mean '%s'? (known: %s)", key->text,
                            where, hint, list);
            return fail(s, STRATA_E_FORMAT, key, "unknown key '%s' %s (known: %s)", key->text, where, list);
        }
    }
    return STRATA_OK;
}

/* ---- the tables -------------------------------------------------------- */

typedef enum key_kind {
    K_INT,     /* integer >= min */
    K_FLOAT,   /* number >= min (or > min with gt) */
    K_FLOATS,  /* such a number, or a list of 1 to SPEC_MAX_CHANNELS of them (one per channel) */
    K_STRING,  /* any scalar */
    K_CHOICE,  /* one of choices[] */
    K_SECTION, /* mapping checked against sub[] */
    K_CUSTOM   /* checked by code below */
} key_kind;

typedef struct key_rule {
    const char *name;
    key_kind kind;
    int required;
    const char *dflt; /* recorded in the defaults when absent */
    double min;
    int gt; /* min is exclusive */
    const char *const *choices;
    const struct key_rule *sub;
    int n_sub;
} key_rule;

#define NO_MIN (-HUGE_VAL)

static const char *const loss_choices[] = {"cross_entropy", "mse", "bce_with_logits", NULL};
static const char *const format_choices[] = {"idx", "safetensors", "text", "seq2seq_reverse", "babi", NULL};
static const char *const text_mode_choices[] = {"chars", "bytes", NULL};
static const char *const task_choices[] = {"classification", "language_model", "seq2seq", "question_answering",
                                           "gan", "autoencoder", NULL};
static const char *const schedule_choices[] = {"constant", "step", "cosine", "multistep", "linear", NULL};
static const char *const dtype_choices[] = {"f32", "i32", "i64", NULL};
static const char *const select_choices[] = {"validation_error", "training_error", NULL};
static const char *const keep_best_choices[] = {"val_accuracy", "val_loss", NULL};
static const char *const bool_choices[] = {"false", "true", NULL};

static const key_rule data_split_rules[] = {
    {"images", K_STRING, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"labels", K_STRING, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
};

/* data.augment: flips and crops of training batches (strata_loader_set_augment) */
static const key_rule data_augment_rules[] = {
    {"hflip", K_FLOAT, 0, "0", 0.0, 0, NULL, NULL, 0}, /* at most 1: check_augment */
    {"crop_padding", K_INT, 0, "0", 0, 0, NULL, NULL, 0},
};

static const key_rule data_rules[] = {
    {"format", K_CHOICE, 0, "idx", NO_MIN, 0, format_choices, NULL, 0},
    {"train", K_SECTION, 1, NULL, NO_MIN, 0, NULL, data_split_rules, (int)ST_ARRAY_LEN(data_split_rules)},
    {"test", K_SECTION, 0, NULL, NO_MIN, 0, NULL, data_split_rules, (int)ST_ARRAY_LEN(data_split_rules)},
    {"scale", K_FLOAT, 0, "255", 0.0, 1, NULL, NULL, 0},
    {"mean", K_FLOATS, 0, "0", NO_MIN, 0, NULL, NULL, 0}, /* lists: check_norm */
    {"std", K_FLOATS, 0, "1", 0.0, 1, NULL, NULL, 0},
    {"augment", K_SECTION, 0, NULL, NO_MIN, 0, NULL, data_augment_rules, (int)ST_ARRAY_LEN(data_augment_rules)},
    {"classes", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0}, /* names of the labels 0, 1, ...: check_classes */
    {"val_fraction", K_FLOAT, 0, "0", 0.0, 0, NULL, NULL, 0}, /* held out of data.train; below 1: check_data */
};

/* data.format: safetensors - named tensors of a safetensors file
 * (strata_dataset_load_safetensors): what numpy or PyTorch users have */
static const key_rule data_sft_split_rules[] = {
    {"file", K_STRING, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"inputs", K_STRING, 0, "inputs", NO_MIN, 0, NULL, NULL, 0},
    {"labels", K_STRING, 0, "labels", NO_MIN, 0, NULL, NULL, 0},
};

static const key_rule data_sft_rules[] = {
    {"format", K_CHOICE, 0, "idx", NO_MIN, 0, format_choices, NULL, 0},
    {"train", K_SECTION, 1, NULL, NO_MIN, 0, NULL, data_sft_split_rules, (int)ST_ARRAY_LEN(data_sft_split_rules)},
    {"test", K_SECTION, 0, NULL, NO_MIN, 0, NULL, data_sft_split_rules, (int)ST_ARRAY_LEN(data_sft_split_rules)},
    {"scale", K_FLOAT, 0, "1", 0.0, 1, NULL, NULL, 0}, /* arrays are mostly floats already */
    {"mean", K_FLOATS, 0, "0", NO_MIN, 0, NULL, NULL, 0}, /* lists: check_norm */
    {"std", K_FLOATS, 0, "1", 0.0, 1, NULL, NULL, 0},
    {"augment", K_SECTION, 0, NULL, NO_MIN, 0, NULL, data_augment_rules, (int)ST_ARRAY_LEN(data_augment_rules)},
    {"classes", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"val_fraction", K_FLOAT, 0, "0", 0.0, 0, NULL, NULL, 0},
};

/* data.format: text - a plain-text corpus for a language model (core/data/text.c) */
static const key_rule data_text_rules[] = {
    {"format", K_CHOICE, 0, "idx", NO_MIN, 0, format_choices, NULL, 0},
    {"path", K_STRING, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"prepare", K_STRING, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"mode", K_CHOICE, 0, "chars", NO_MIN, 0, text_mode_choices, NULL, 0},
    {"val_fraction", K_FLOAT, 0, "0.05", 0.0, 0, NULL, NULL, 0}, /* below 1: check_data */
    {"seq_len", K_INT, 0, "the length of the model's first input", 1, 0, NULL, NULL, 0},
};

/* data.format: seq2seq_reverse - strings of digits and their reversals,
 * generated from the seed (tools/cmd_seq2seq.c) */
static const key_rule data_s2s_rules[] = {
    {"format", K_CHOICE, 0, "idx", NO_MIN, 0, format_choices, NULL, 0},
    {"train_size", K_INT, 0, "20000", 1, 0, NULL, NULL, 0},
    {"test_size", K_INT, 0, "1000", 1, 0, NULL, NULL, 0},
    {"min_len", K_INT, 0, "3", 1, 0, NULL, NULL, 0},
    {"max_len", K_INT, 0, "the length of the model's inputs", 1, 0, NULL, NULL, 0},
};

/* data.format: babi - bAbI question answering files (core/data/babi.c) and
 * the MemN2N training recipe (tools/cmd_memnet.c, docs/memnet.md) */
static const key_rule data_babi_rules[] = {
    {"format", K_CHOICE, 0, "idx", NO_MIN, 0, format_choices, NULL, 0},
    {"layer", K_STRING, 0, "mn", NO_MIN, 0, NULL, NULL, 0},
    {"memory_size", K_INT, 0, "50", 1, 0, NULL, NULL, 0},
    {"val_fraction", K_FLOAT, 0, "0.1", 0.0, 0, NULL, NULL, 0}, /* below 1: check_data */
    {"random_noise", K_FLOAT, 0, "0.1", 0.0, 0, NULL, NULL, 0},
    {"linear_start", K_INT, 0, "20", 0, 0, NULL, NULL, 0},
    {"linear_start_lr", K_FLOAT, 0, "0.005", 0.0, 1, NULL, NULL, 0},
    {"lr_decay_every", K_INT, 0, "25", 0, 0, NULL, NULL, 0},
    {"lr_decay", K_FLOAT, 0, "0.5", 0.0, 1, NULL, NULL, 0},
    {"joint_embedding_dim", K_INT, 0, "50", 1, 0, NULL, NULL, 0},
};

static const key_rule train_rules[] = {
    {"epochs", K_INT, 0, "1", 1, 0, NULL, NULL, 0}, /* 0 trained nothing and wrote no checkpoint */
    {"batch_size", K_INT, 0, "64", 1, 0, NULL, NULL, 0},
    {"eval_batch_size", K_INT, 0, "1000", 1, 0, NULL, NULL, 0},
    {"clip_grad_norm", K_FLOAT, 0, "0", 0, 0, NULL, NULL, 0},
    {"log_every", K_INT, 0, "50", 0, 0, NULL, NULL, 0},
    {"steps", K_INT, 0, NULL, 1, 0, NULL, NULL, 0},
    {"eval_every", K_INT, 0, NULL, 0, 0, NULL, NULL, 0},
    {"repeats", K_INT, 0, "1", 1, 0, NULL, NULL, 0},
    {"select", K_CHOICE, 0, "validation_error", NO_MIN, 0, select_choices, NULL, 0}, /* the best of the repeats by */
    {"keep_best", K_CHOICE, 0, NULL, NO_MIN, 0, keep_best_choices, NULL, 0}, /* RUN/best.safetensors by */
    {"patience", K_INT, 0, NULL, 1, 0, NULL, NULL, 0}, /* early stopping: epochs without a better keep_best */
    {"accumulate", K_INT, 0, "1", 1, 0, NULL, NULL, 0}, /* micro-batches a step, their gradients added up */
    {"drop_last", K_CHOICE, 0, "false", NO_MIN, 0, bool_choices, NULL, 0}, /* an epoch's partial batch left out */
};

static const key_rule model_rules[] = {
    {"input", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"inputs", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"layers", K_CUSTOM, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"outputs", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
};

static const key_rule model_input_rules[] = {
    {"name", K_STRING, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"shape", K_CUSTOM, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"dtype", K_CHOICE, 0, "f32", NO_MIN, 0, dtype_choices, NULL, 0},
};

/* Schedules: one table per type, each starting with "type" and ending with
 * the warmup every type takes (SCHEDULE_WARMUP). */
#define SCHEDULE_TYPE {"type", K_CHOICE, 0, NULL, NO_MIN, 0, schedule_choices, NULL, 0}
#define SCHEDULE_WARMUP                                                                                            \
    {"warmup", K_INT, 0, "0", 0, 0, NULL, NULL, 0}, /* steps */                                                    \
        {"warmup_start", K_FLOAT, 0, "0", 0, 0, NULL, NULL, 0} /* at most 1: check_schedule */
#define SCHEDULE_TOTAL                                                                                             \
    {"total", K_INT, 0, "all training steps (epochs x batches per epoch) less the warmup", 1, 0, NULL, NULL, 0}
static const key_rule schedule_constant_rules[] = {SCHEDULE_TYPE, SCHEDULE_WARMUP};
static const key_rule schedule_step_rules[] = {
    SCHEDULE_TYPE,
    {"step_size", K_INT, 1, NULL, 1, 0, NULL, NULL, 0},
    {"gamma", K_FLOAT, 0, "0.1", 0, 0, NULL, NULL, 0},
    SCHEDULE_WARMUP,
};
static const key_rule schedule_cosine_rules[] = {
    SCHEDULE_TYPE,
    SCHEDULE_TOTAL,
    {"eta_min", K_FLOAT, 0, "0", 0, 0, NULL, NULL, 0},
    SCHEDULE_WARMUP,
};
static const key_rule schedule_multistep_rules[] = {
    SCHEDULE_TYPE,
    {"milestones", K_CUSTOM, 1, NULL, NO_MIN, 0, NULL, NULL, 0}, /* check_schedule */
    {"gamma", K_FLOAT, 0, "0.1", 0, 0, NULL, NULL, 0},
    SCHEDULE_WARMUP,
};
static const key_rule schedule_linear_rules[] = {
    SCHEDULE_TYPE,
    SCHEDULE_TOTAL,
    {"end_factor", K_FLOAT, 0, "0", 0, 0, NULL, NULL, 0},
    SCHEDULE_WARMUP,
};

/* generator: / discriminator: of a two-model spec */
static const key_rule named_rules[] = {
    {"model", K_CUSTOM, 1, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"optimizer", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
};

/* gan: adversarial training (tools/cmd_gan.c, docs/gan.md) */
static const char *const gan_loss_choices[] = {"minimax", "non_saturating", "least_squares", "hinge", "wasserstein",
                                               "wgan_gp", NULL};
static const key_rule gan_rules[] = {
    {"loss", K_CHOICE, 0, "non_saturating", NO_MIN, 0, gan_loss_choices, NULL, 0},
    {"noise_dim", K_INT, 0, "the generator's input size", 1, 0, NULL, NULL, 0},
    {"d_steps", K_INT, 0, "1", 1, 0, NULL, NULL, 0},
    {"sample_every", K_INT, 0, "500", 0, 0, NULL, NULL, 0},
    {"sample_count", K_INT, 0, "64", 1, 0, NULL, NULL, 0},
    {"ema", K_FLOAT, 0, "0", 0.0, 0, NULL, NULL, 0},
};

/* autoencoder: (tools/cmd_autoencoder.c) */
static const key_rule ae_rules[] = {
    {"code_size", K_INT, 0, "the model's narrowest layer", 1, 0, NULL, NULL, 0}, /* and PCA's components */
};

static const key_rule top_rules[] = {
    {"name", K_STRING, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"seed", K_INT, 0, "1", 0, 0, NULL, NULL, 0},
    {"data", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0}, /* its table depends on data.format: check_data */
    {"model", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0}, /* or generator and discriminator: check_spec */
    {"generator", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"discriminator", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"gan", K_SECTION, 0, NULL, NO_MIN, 0, NULL, gan_rules, (int)ST_ARRAY_LEN(gan_rules)},
    {"autoencoder", K_SECTION, 0, NULL, NO_MIN, 0, NULL, ae_rules, (int)ST_ARRAY_LEN(ae_rules)},
    {"loss", K_CHOICE, 0, "cross_entropy", NO_MIN, 0, loss_choices, NULL, 0},
    {"optimizer", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"schedule", K_CUSTOM, 0, NULL, NO_MIN, 0, NULL, NULL, 0},
    {"train", K_SECTION, 0, NULL, NO_MIN, 0, NULL, train_rules, (int)ST_ARRAY_LEN(train_rules)},
    {"task", K_CHOICE, 0, NULL, NO_MIN, 0, task_choices, NULL, 0}, /* default from data.format: check_data */
};

/* ---- which task reads which key ------------------------------------------ */

/* The tasks as bits, in task_choices' order. */
enum {
    T_CLS = 1 << 0,
    T_LM = 1 << 1,
    T_S2S = 1 << 2,
    T_QA = 1 << 3,
    T_GAN = 1 << 4,
    T_AE = 1 << 5,
    T_ALL = (1 << 6) - 1
};

/* Keys that only some tasks' trainers read. In a spec of another task they
 * are refused (they would be ignored) and their defaults are not recorded;
 * a key not listed here is read by every task that has its section. */
static const struct task_key {
    const char *path;
    unsigned tasks;
} task_keys[] = {
    {"model", T_ALL & ~T_GAN},
    {"optimizer", T_ALL & ~T_GAN},
    {"generator", T_GAN},
    {"discriminator", T_GAN},
    {"gan", T_GAN},
    {"autoencoder", T_AE},
    {"loss", T_ALL & ~T_GAN}, /* a GAN's is gan.loss */
    {"schedule", T_ALL & ~T_QA}, /* a memory network's rate follows data.lr_decay_every */
    {"data.test", T_CLS | T_AE},
    {"data.augment", T_CLS},
    {"data.classes", T_CLS},
    {"data.val_fraction", T_CLS | T_LM | T_QA},
    {"train.epochs", T_CLS | T_QA | T_AE},
    {"train.steps", T_ALL & ~T_QA}, /* a memory network trains train.epochs (strata train --steps stops it) */
    {"train.eval_batch_size", T_CLS | T_LM},
    {"train.log_every", T_ALL & ~T_QA}, /* a memory network logs every epoch */
    {"train.eval_every", T_LM},
    {"train.repeats", T_QA},
    {"train.select", T_QA},
    {"train.keep_best", T_CLS | T_LM},
    {"train.patience", T_CLS | T_LM},
    {"train.accumulate", T_CLS | T_LM | T_AE}, /* the trainers of run_step (tools/run.c) */
    {"train.drop_last", T_CLS}, /* the image classifier keeps an epoch's partial batch unless it is set */
};

/* Defaults that differ by task: each trainer's own. */
static const struct task_default {
    const char *path;
    unsigned tasks;
    const char *value;
} task_defaults[] = {
    {"loss", T_AE, "mse"},
    {"train.epochs", T_QA, "100"},
    {"train.clip_grad_norm", T_QA, "40"}, /* the authors' MemN2N recipe */
    {"train.epochs", T_AE, "10"},
    {"train.batch_size", T_QA, "32"},
    {"train.batch_size", T_AE, "128"},
    {"train.eval_batch_size", T_LM, "256"},
    {"train.log_every", T_S2S, "200"},
    {"train.log_every", T_GAN, "100"},
    {"train.steps", T_LM, "1000"},
    {"train.steps", T_S2S, "2000"},
    {"train.steps", T_GAN, "1000"},
};

/* The tasks a key at @p path is read by (T_ALL when not listed). */
static unsigned key_tasks(const char *path)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(task_keys); k++)
        if (!strcmp(task_keys[k].path, path))
            return task_keys[k].tasks;
    return T_ALL;
}

/* The default recorded for @p path in a spec of task @p task. */
static const char *task_default(unsigned task, const char *path, const char *dflt)
{
    for (size_t k = 0; k < ST_ARRAY_LEN(task_defaults); k++)
        if ((task_defaults[k].tasks & task) && task == (task & -task) && !strcmp(task_defaults[k].path, path))
            return task_defaults[k].value;
    return dflt;
}

/* "classification, language_model" or "every task but gan" for @p tasks. */
static void tasks_text(char *buf, size_t size, unsigned tasks)
{
    int n = 0, rest = 0;
    for (int k = 0; task_choices[k]; k++)
        n += (tasks >> k) & 1;
    const int but = n > 3;
    snprintf(buf, size, "%s", but ? "every task but " : "");
    for (int k = 0; task_choices[k]; k++)
        if ((((tasks >> k) & 1) != 0) != but) {
            size_t used = strlen(buf);
            snprintf(buf + used, size - used, "%s%s", rest++ ? ", " : "", task_choices[k]);
        }
}

/* The task of the spec at @p root as a T_* bit: task:, else what
 * data.format implies; T_ALL when either is not a known name (the tables
 * report that). */
static unsigned spec_task(const yt_node *root)
{
    const yt_node *task = yt_map_get(root, "task"), *data = yt_map_get(root, "data");
    const yt_node *format = data && data->kind == YT_MAP ? yt_map_get(data, "format") : NULL;
    if (format && format->kind != YT_SCALAR)
        return T_ALL;
    const char *f = format ? format->text : "idx";
    const char *t = task ? (task->kind == YT_SCALAR ? task->text : "")
                    : !strcmp(f, "text")            ? "language_model"
                    : !strcmp(f, "babi")            ? "question_answering"
                    : !strcmp(f, "seq2seq_reverse") ? "seq2seq"
                                                    : "classification";
    for (int k = 0; task_choices[k]; k++)
        if (!strcmp(task_choices[k], t))
            return 1u << k;
    return T_ALL;
}

/* Keys a layer has besides its type's attributes. */
static const char *const layer_keys[] = {"type", "name", "inputs"};

/* ---- checking against the tables --------------------------------------- */

static strata_status check_rule_value(strata_spec *s, const key_rule *r, const yt_node *v, const char *path);

/* "where" text for messages about keys of the section at @p path. */
static void where_of(char *buf, size_t size, const char *path)
{
    if (path)
        snprintf(buf, size, "in %s", path);
    else
        snprintf(buf, size, "at the top level");
}

/* Records the default of key @p r (at @p full) that the spec leaves out; of a section, its keys' defaults
 * (spec.md: every default applied is recorded). */
static strata_status absent_default(strata_spec *s, const key_rule *r, const char *full)
{
    if (!(key_tasks(full) & s->task) || (r->kind == K_SECTION && r->required))
        return STRATA_OK;
    if (r->kind != K_SECTION) {
        const char *d = task_default(s->task, full, r->dflt);
        return d ? add_default(s, "%s = %s", full, d) : STRATA_OK;
    }
    for (int k = 0; k < r->n_sub; k++) /* a section that needs a key of its own (data.test: file) is none, absent */
        if (r->sub[k].required)
            return STRATA_OK;
    strata_status st = STRATA_OK;
    for (int k = 0; k < r->n_sub && !st; k++) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s.%s", full, r->sub[k].name);
        st = absent_default(s, &r->sub[k], sub);
    }
    return st;
}

static strata_status check_section(strata_spec *s, const yt_node *node, const key_rule *rules, int n,
                                   const char *path)
{
    char where[160];
    where_of(where, sizeof where, path);
    if (node->kind != YT_MAP)
        return fail(s, STRATA_E_FORMAT, node, "%s must be a mapping, got %s", path ? path : "the spec",
                    DESCRIBE(node));
    const char *known[16] = {0}; /* the longest table has 8 keys */
    int n_known = n < (int)ST_ARRAY_LEN(known) ? n : (int)ST_ARRAY_LEN(known);
    for (int k = 0; k < n_known; k++)
        known[k] = rules[k].name;
    strata_status st = check_keys(s, node, where, known, n_known);
    if (st != STRATA_OK)
        return st;
    for (int k = 0; k < n; k++) {
        const key_rule *r = &rules[k];
        char full[160];
        if (path)
            snprintf(full, sizeof full, "%s.%s", path, r->name);
        else
            snprintf(full, sizeof full, "%s", r->name);
        const yt_node *v = yt_map_get(node, r->name);
        const unsigned tasks = key_tasks(full);
        if (!v) {
            if (r->required)
                return fail(s, STRATA_E_FORMAT, node, "missing key '%s' %s", r->name, where);
            if ((st = absent_default(s, r, full)) != STRATA_OK)
                return st;
            continue;
        }
        if (!(tasks & s->task)) {
            char for_tasks[160], task[48];
            tasks_text(for_tasks, sizeof for_tasks, tasks);
            tasks_text(task, sizeof task, s->task);
            return fail(s, STRATA_E_FORMAT, v, "%s is read only for task: %s; this spec is task: %s, whose trainer "
                        "would ignore it", full, for_tasks, task);
        }
        if ((st = check_rule_value(s, r, v, full)) != STRATA_OK)
            return st;
    }
    return STRATA_OK;
}

static strata_status check_rule_value(strata_spec *s, const key_rule *r, const yt_node *v, const char *path)
{
    int64_t i = 0;
    double f = 0.0;
    yt_type t = yt_type_of(v, &i, &f);
    switch (r->kind) {
    case K_INT:
        if (t != YT_T_INT)
            return fail(s, STRATA_E_FORMAT, v, "%s expects an integer, got %s", path, DESCRIBE(v));
        if ((double)i < r->min)
            return fail(s, STRATA_E_FORMAT, v, "%s must be at least %g, got %lld", path, r->min, (long long)i);
        return STRATA_OK;
    case K_FLOAT:
        if (t != YT_T_INT && t != YT_T_FLOAT)
            return fail(s, STRATA_E_FORMAT, v, "%s expects a number, got %s", path, DESCRIBE(v));
        if (!isfinite(f)) /* no section key means anything by .inf or .nan */
            return fail(s, STRATA_E_FORMAT, v, "%s must be a finite number, got %s", path, v->text);
        if (r->gt ? !(f > r->min) : !(f >= r->min))
            return fail(s, STRATA_E_FORMAT, v, "%s must be %s %g, got %s", path,
                        r->gt ? "greater than" : "at least", r->min, v->text);
        return STRATA_OK;
    case K_FLOATS: { /* each value as a K_FLOAT */
        const key_rule one = {r->name, K_FLOAT, 0, NULL, r->min, r->gt, NULL, NULL, 0};
        if (v->kind != YT_SEQ)
            return check_rule_value(s, &one, v, path);
        if (v->n < 1 || v->n > SPEC_MAX_CHANNELS)
            return fail(s, STRATA_E_FORMAT, v, "%s is a number or a list of 1 to %d numbers (one per channel), got %d",
                        path, SPEC_MAX_CHANNELS, v->n);
        strata_status st = STRATA_OK;
        for (int k = 0; k < v->n && !st; k++) {
            char item[160];
            snprintf(item, sizeof item, "%s.%d", path, k);
            st = check_rule_value(s, &one, v->items[k], item);
        }
        return st;
    }
    case K_STRING:
        if (v->kind != YT_SCALAR || t == YT_T_NULL)
            return fail(s, STRATA_E_FORMAT, v, "%s expects a string, got %s", path, DESCRIBE(v));
        return STRATA_OK;
    case K_CHOICE: {
        /* a switch reads as the YAML reader's other booleans do (True, FALSE: nesterov takes them); quoted,
         * "true" and "false" are the choices' strings, which the trainer reads too */
        if (r->choices == bool_choices && t == YT_T_BOOL)
            return STRATA_OK;
        if (v->kind == YT_SCALAR)
            for (const char *const *c = r->choices; *c; c++)
                if (strcmp(*c, v->text) == 0)
                    return STRATA_OK;
        char list[256] = "";
        const char *hint = NULL;
        int n = 0;
        while (r->choices[n])
            n++;
        join_names(list, sizeof list, r->choices, n, v->kind == YT_SCALAR ? v->text : NULL, &hint);
        return fail(s, STRATA_E_FORMAT, v, "%s must be one of %s, got %s%s%s%s", path, list, DESCRIBE(v),
                    hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
    case K_SECTION:
        return check_section(s, v, r->sub, r->n_sub, path);
    case K_CUSTOM:
        return STRATA_OK;
    }
    return STRATA_OK;
}

/* ---- attributes by schema (layers, optimizers) ------------------------- */

static const char *attr_kind_name(int32_t kind)
{
    switch (kind) {
    case STRATA_ATTR_INT:
        return "an integer";
    case STRATA_ATTR_FLOAT:
        return "a number";
    case STRATA_ATTR_INTS:
        return "a sequence of integers";
    case STRATA_ATTR_FLOATS:
        return "a sequence of numbers";
    case STRATA_ATTR_STRING:
        return "a string";
    default:
        return "a value of an unknown kind";
    }
}

/* Converts @p v to an attribute of schema entry @p a. @p who is
 * "layer 1 (linear)" or "optimizer (sgd)" for messages. */
static strata_status convert_attr(strata_spec *s, const strata_attr_spec *a, const yt_node *key, const yt_node *v,
                                  const char *who, strata_attr *out)
{
    int64_t i = 0;
    double f = 0.0;
    yt_type t = yt_type_of(v, &i, &f);
    const char *name = key->text; /* owned by the doc, which outlives the attrs */
    switch (a->kind) {
    case STRATA_ATTR_INT:
        if (t != YT_T_INT && t != YT_T_BOOL)
            break;
        *out = strata_attr_int(name, i);
        return STRATA_OK;
    case STRATA_ATTR_FLOAT:
        if (t != YT_T_INT && t != YT_T_FLOAT)
            break;
        *out = strata_attr_float(name, f);
        return STRATA_OK;
    case STRATA_ATTR_INTS:
    case STRATA_ATTR_FLOATS: {
        int ints = a->kind == STRATA_ATTR_INTS;
        if (ints && v->kind == YT_SCALAR && (t == YT_T_INT || t == YT_T_BOOL)) {
            /* one integer for a list: `kernel_size: 5` is `kernel_size: [5]`, which a
             * layer reads as 5 in every dimension */
            int64_t *one = spec_alloc(s, 1, sizeof *one);
            if (!one)
                return STRATA_E_NOMEM;
            *one = i;
            *out = strata_attr_ints(name, one, 1);
            return STRATA_OK;
        }
        if (v->kind != YT_SEQ)
            break;
        int64_t *iv = NULL;
        double *fv = NULL;
        if (ints ? !(iv = spec_alloc(s, (size_t)v->n, sizeof *iv)) : !(fv = spec_alloc(s, (size_t)v->n, sizeof *fv)))
            return STRATA_E_NOMEM;
        for (int k = 0; k < v->n; k++) {
            yt_type te = yt_type_of(v->items[k], &i, &f);
            if (ints ? (te != YT_T_INT && te != YT_T_BOOL) : (te != YT_T_INT && te != YT_T_FLOAT))
                return fail(s, STRATA_E_FORMAT, v->items[k], "%s: '%s' expects %s, got %s at item %d", who, name,
                            attr_kind_name(a->kind), DESCRIBE(v->items[k]), k);
            if (ints)
                iv[k] = i;
            else
                fv[k] = f;
        }
        *out = ints ? strata_attr_ints(name, iv, v->n) : strata_attr_floats(name, fv, v->n);
        return STRATA_OK;
    }
    case STRATA_ATTR_STRING:
        if (v->kind != YT_SCALAR || t == YT_T_NULL)
            break;
        *out = strata_attr_string(name, v->text);
        return STRATA_OK;
    default:
        return fail(s, STRATA_E_INTERNAL, key, "%s: attribute '%s' has unknown kind %d in its schema", who, name,
                    (int)a->kind);
    }
    return fail(s, STRATA_E_FORMAT, v, "%s: '%s' expects %s, got %s", who, name, attr_kind_name(a->kind), DESCRIBE(v));
}

/*
 * Checks the keys of @p map (the reserved ones plus the schema's), converts
 * the schema's attributes it gives and records the defaults of the others
 * as the core will apply them (st_attrs_apply_schema), each line starting
 * with @p prefix ("model.layers[1] (linear)").
 */
static strata_status convert_attrs(strata_spec *s, const yt_node *map, const char *const *reserved, int n_reserved,
                                   const strata_attr_spec *schema, int n_schema, const char *who, const char *prefix,
                                   strata_attr **attrs, int *n_attrs)
{
    strata_status st = STRATA_OK;
    const char **known = st_calloc((size_t)(n_reserved + n_schema), sizeof(char *));
    if (!known)
        return STRATA_E_NOMEM;
    int n_known = 0;
    for (int k = 0; k < n_reserved; k++)
        known[n_known++] = reserved[k];
    for (int k = 0; k < n_schema; k++)
        if (schema[k].name)
            known[n_known++] = schema[k].name;
    char where[160];
    snprintf(where, sizeof where, "in %s", who);
    st = check_keys(s, map, where, known, n_known);
    free(known);
    if (st != STRATA_OK)
        return st;

    strata_attr *out = spec_alloc(s, n_schema > 0 ? (size_t)n_schema : 1, sizeof(strata_attr));
    if (!out)
        return STRATA_E_NOMEM;
    int n = 0;
    for (int k = 0; k < n_schema; k++) {
        const strata_attr_spec *a = &schema[k];
        int shadowed = !a->name;
        for (int j = 0; j < n_reserved && !shadowed; j++)
            shadowed = strcmp(a->name, reserved[j]) == 0;
        if (shadowed)
            continue;
        const yt_node *key = yt_map_key(map, a->name);
        if (!key) {
            if (a->required)
                return fail(s, STRATA_E_FORMAT, map, "%s needs '%s' (%s)%s%s", who, a->name, attr_kind_name(a->kind),
                            a->doc ? ": " : "", a->doc ? a->doc : "");
            continue;
        }
        if ((st = convert_attr(s, a, key, yt_map_get(map, a->name), who, &out[n])) != STRATA_OK)
            return st;
        n++;
    }
    strata_attr *full = NULL;
    int n_full = 0;
    char *log = NULL;
    st = st_attrs_apply_schema(prefix, schema, n_schema, out, n, &full, &n_full, &log);
    free(full);
    if (st == STRATA_OK && log)
        st = append_defaults(s, log);
    free(log);
    if (st != STRATA_OK)
        return st == STRATA_E_NOMEM ? st : st_error_context(st, "%s:%d", s->path, map->line);
    *attrs = out;
    *n_attrs = n;
    return STRATA_OK;
}

/* ---- model ------------------------------------------------------------- */

static strata_status parse_shape(strata_spec *s, const yt_node *v, const char *path, spec_input *in)
{
    if (v->kind != YT_SEQ)
        return fail(s, STRATA_E_FORMAT, v, "%s expects a sequence of dimensions like [1, 28, 28], got %s", path,
                    DESCRIBE(v));
    if (v->n > STRATA_MAX_DIMS - 1)
        return fail(s, STRATA_E_FORMAT, v, "%s has %d dimensions; at most %d (the batch adds one)", path, v->n,
                    STRATA_MAX_DIMS - 1);
    for (int k = 0; k < v->n; k++) {
        int64_t d = 0;
        if (yt_type_of(v->items[k], &d, NULL) != YT_T_INT || d < 1)
            return fail(s, STRATA_E_FORMAT, v->items[k], "%s: dimension %d must be a positive integer, got %s", path,
                        k, DESCRIBE(v->items[k]));
        in->shape[k] = d;
    }
    in->ndim = v->n;
    in->line = v->line;
    return STRATA_OK;
}

/* Name a layer or input is known by: its explicit name or its position. */
static const char *layer_name(const spec_layer *L)
{
    return L->name ? L->name : L->index_name;
}

/* A scalar or a sequence of scalars, as strings borrowed from the doc. */
static strata_status name_list(strata_spec *s, const yt_node *v, const char *what, const char ***out, int *n)
{
    const yt_node *const *items = &v;
    int count = 1;
    if (v->kind == YT_SEQ) {
        items = (const yt_node *const *)v->items;
        count = v->n;
    }
    if (count == 0) /* it meant the default, which leaving the key out says */
        return fail(s, STRATA_E_FORMAT, v, "%s is an empty list: name at least one, or leave the key out for the "
                                           "default",
                    what);
    const char **names = spec_alloc(s, count > 0 ? (size_t)count : 1, sizeof(char *));
    if (!names)
        return STRATA_E_NOMEM;
    for (int k = 0; k < count; k++) {
        const yt_node *it = items[k];
        if (it->kind != YT_SCALAR || yt_type_of(it, NULL, NULL) == YT_T_NULL)
            return fail(s, STRATA_E_FORMAT, it, "%s expects a name or a list of names, got %s", what, DESCRIBE(it));
        names[k] = it->text;
    }
    *out = names;
    *n = count;
    return STRATA_OK;
}

static strata_status parse_inputs(strata_spec *s, const yt_node *model)
{
    const yt_node *one = yt_map_get(model, "input");
    const yt_node *many = yt_map_get(model, "inputs");
    strata_status st;
    if (one && many)
        return fail(s, STRATA_E_FORMAT, yt_map_key(model, "inputs"),
                    "%s has both 'input' and 'inputs'; give one of them", s->where);
    if (!one && !many)
        return fail(s, STRATA_E_FORMAT, model,
                    "%s needs 'input' (the shape of one example, e.g. [1, 28, 28]) or 'inputs' (a list of "
                    "{name, shape, dtype})",
                    s->where);
    if (one) {
        s->g->inputs = spec_alloc(s, 1, sizeof(spec_input));
        if (!s->g->inputs)
            return STRATA_E_NOMEM;
        s->g->inputs[0].name = "x";
        s->g->inputs[0].dtype = STRATA_F32;
        s->g->n_inputs = 1;
        char path[128];
        snprintf(path, sizeof path, "%s.input", s->where);
        return parse_shape(s, one, path, &s->g->inputs[0]);
    }
    if (many->kind != YT_SEQ || many->n == 0)
        return fail(s, STRATA_E_FORMAT, many, "%s.inputs expects a non-empty list of {name, shape, dtype}, got %s",
                    s->where,
                    DESCRIBE(many));
    s->g->inputs = spec_alloc(s, (size_t)many->n, sizeof(spec_input));
    if (!s->g->inputs)
        return STRATA_E_NOMEM;
    for (int k = 0; k < many->n; k++) {
        const yt_node *it = many->items[k];
        char path[128];
        snprintf(path, sizeof path, "%s.inputs[%d]", s->where, k);
        if ((st = check_section(s, it, model_input_rules, (int)ST_ARRAY_LEN(model_input_rules), path)) != STRATA_OK)
            return st;
        spec_input *in = &s->g->inputs[k];
        in->name = yt_map_get(it, "name")->text;
        const yt_node *dtype = yt_map_get(it, "dtype");
        const char *d = dtype ? dtype->text : "f32";
        in->dtype = strcmp(d, "i64") == 0 ? STRATA_I64 : strcmp(d, "i32") == 0 ? STRATA_I32 : STRATA_F32;
        snprintf(path, sizeof path, "%s.inputs[%d].shape", s->where, k);
        if ((st = parse_shape(s, yt_map_get(it, "shape"), path, in)) != STRATA_OK)
            return st;
        in->line = it->line;
    }
    s->g->n_inputs = many->n;
    return STRATA_OK;
}

static strata_status parse_layer(strata_spec *s, strata_runtime *rt, const yt_node *node, int index)
{
    spec_layer *L = &s->g->layers[index];
    strata_status st;
    snprintf(L->index_name, sizeof L->index_name, "%d", index);
    L->line = node->line;
    if (node->kind != YT_MAP)
        return fail(s, STRATA_E_FORMAT, node, "%s.layers[%d] must be a mapping like {type: linear, ...}, got %s",
                    s->where, index, DESCRIBE(node));
    const yt_node *type = yt_map_get(node, "type");
    if (!type) {
        char list[1024];
        if (registry_list(rt, STRATA_REGISTRY_LAYER, NULL, NULL, list, sizeof list) != STRATA_OK)
            return STRATA_E_NOMEM;
        return fail(s, STRATA_E_FORMAT, node, "layer %d has no 'type' (registered layer types: %s)", index, list);
    }
    if (type->kind != YT_SCALAR || yt_type_of(type, NULL, NULL) != YT_T_STRING)
        return fail(s, STRATA_E_FORMAT, type, "layer %d: 'type' expects a layer type name, got %s", index,
                    DESCRIBE(type));
    const st_layer_type *lt = st_find_layer_type(rt, type->text);
    if (!lt) {
        char where[48];
        snprintf(where, sizeof where, " in layer %d", index);
        return unknown_type(s, rt, STRATA_REGISTRY_LAYER, type, "layer", type->text, where);
    }
    L->type = type->text;
    L->schema = lt->def.attrs;
    L->n_schema = lt->def.n_attrs;

    char who[128], prefix[128];
    snprintf(who, sizeof who, "layer %d (%s)", index, L->type);
    snprintf(prefix, sizeof prefix, "%s.layers[%d] (%s)", s->where, index, L->type);
    st = convert_attrs(s, node, layer_keys, (int)ST_ARRAY_LEN(layer_keys), lt->def.attrs, lt->def.n_attrs, who, prefix,
                       &L->attrs, &L->n_attrs);
    if (st != STRATA_OK)
        return st;

    /* Names and references are the core's to check (it knows "lstm:1"); a
     * mistake there surfaces from strata_spec_build_model with this line. */
    const yt_node *name = yt_map_get(node, "name");
    if (name) {
        if (name->kind != YT_SCALAR || yt_type_of(name, NULL, NULL) == YT_T_NULL)
            return fail(s, STRATA_E_FORMAT, name, "%s: 'name' expects a string, got %s", who, DESCRIBE(name));
        L->name = name->text;
    }
    const yt_node *inputs = yt_map_get(node, "inputs");
    if (inputs) {
        snprintf(who, sizeof who, "layer %d (%s): inputs", index, L->type);
        return name_list(s, inputs, who, &L->inputs, &L->n_inputs);
    }
    return STRATA_OK;
}

static strata_status parse_model(strata_spec *s, strata_runtime *rt, const yt_node *model)
{
    strata_status st = check_section(s, model, model_rules, (int)ST_ARRAY_LEN(model_rules), s->where);
    if (st != STRATA_OK)
        return st;
    if ((st = parse_inputs(s, model)) != STRATA_OK)
        return st;

    const yt_node *layers = yt_map_get(model, "layers");
    if (layers->kind != YT_SEQ || layers->n == 0)
        return fail(s, STRATA_E_FORMAT, layers, "%s.layers expects a non-empty list of layers, got %s", s->where,
                    DESCRIBE(layers));
    s->g->layers = spec_alloc(s, (size_t)layers->n, sizeof(spec_layer));
    if (!s->g->layers)
        return STRATA_E_NOMEM;
    for (int k = 0; k < layers->n; k++) {
        if ((st = parse_layer(s, rt, layers->items[k], k)) != STRATA_OK)
            return st;
        s->g->n_layers = k + 1;
    }

    const yt_node *outputs = yt_map_get(model, "outputs");
    if (!outputs)
        return STRATA_OK;
    s->g->outputs_line = outputs->line;
    char what[64];
    snprintf(what, sizeof what, "%s.outputs", s->where);
    return name_list(s, outputs, what, &s->g->outputs, &s->g->n_outputs);
}

/* ---- optimizer and schedule -------------------------------------------- */

static strata_status parse_optimizer(strata_spec *s, strata_runtime *rt, const yt_node *node)
{
    static const char *const reserved[] = {"type"};
    if (node->kind != YT_MAP)
        return fail(s, STRATA_E_FORMAT, node, "optimizer must be a mapping like {type: sgd, lr: 0.1}, got %s",
                    DESCRIBE(node));
    const yt_node *type = yt_map_get(node, "type");
    if (!type)
        return fail(s, STRATA_E_FORMAT, node, "optimizer has no 'type' (sgd, adam, ...)");
    if (type->kind != YT_SCALAR || yt_type_of(type, NULL, NULL) != YT_T_STRING)
        return fail(s, STRATA_E_FORMAT, type, "optimizer: 'type' expects an optimizer name, got %s", DESCRIBE(type));
    const st_optim_type *ot = st_find_optim_type(rt, type->text);
    if (!ot)
        return unknown_type(s, rt, STRATA_REGISTRY_OPTIMIZER, type, "optimizer", type->text, "");
    s->g->optim_type = type->text;
    s->g->optim_line = node->line;
    char who[96]; /* a named model's (a GAN's two) with its name, in messages and recorded defaults */
    snprintf(who, sizeof who, "%s%soptimizer (%s)", s->g->name ? s->g->name : "", s->g->name ? "." : "",
             s->g->optim_type);
    return convert_attrs(s, node, reserved, 1, ot->def.attrs, ot->def.n_attrs, who, who, &s->g->optim_attrs,
                         &s->g->n_optim_attrs);
}

static strata_status parse_schedule(strata_spec *s, const yt_node *node)
{
    if (node->kind != YT_MAP)
        return fail(s, STRATA_E_FORMAT, node, "schedule must be a mapping like {type: cosine, total: 1000}, got %s",
                    DESCRIBE(node));
    /* The type picks the table, so it is checked first. */
    const yt_node *type = yt_map_get(node, "type");
    strata_status st = STRATA_OK;
    if (type)
        st = check_rule_value(s, &schedule_constant_rules[0], type, "schedule.type");
    else
        st = add_default(s, "schedule.type = constant");
    if (st != STRATA_OK)
        return st;
    const char *t = type ? type->text : "constant";
    static const struct {
        const char *type;
        const key_rule *rules;
        int n;
    } tables[] = {
        {"step", schedule_step_rules, (int)ST_ARRAY_LEN(schedule_step_rules)},
        {"cosine", schedule_cosine_rules, (int)ST_ARRAY_LEN(schedule_cosine_rules)},
        {"multistep", schedule_multistep_rules, (int)ST_ARRAY_LEN(schedule_multistep_rules)},
        {"linear", schedule_linear_rules, (int)ST_ARRAY_LEN(schedule_linear_rules)},
        {"constant", schedule_constant_rules, (int)ST_ARRAY_LEN(schedule_constant_rules)},
    };
    size_t k = 0;
    while (k + 1 < ST_ARRAY_LEN(tables) && strcmp(t, tables[k].type) != 0)
        k++;
    if ((st = check_section(s, node, tables[k].rules, tables[k].n, "schedule")) != STRATA_OK)
        return st;
    /* what the tables cannot say: a fraction, and milestones that only go up */
    const yt_node *ws = yt_map_get(node, "warmup_start"), *ms = yt_map_get(node, "milestones");
    double f = 0.0;
    if (ws && yt_type_of(ws, NULL, &f) != YT_T_NULL && f > 1.0)
        return fail(s, STRATA_E_FORMAT, ws, "schedule.warmup_start is a fraction of the rate in [0, 1], got %s",
                    ws->text);
    if (!ms)
        return STRATA_OK;
    if (ms->kind != YT_SEQ || ms->n < 1 || ms->n > SPEC_MAX_MILESTONES)
        return fail(s, STRATA_E_FORMAT, ms, "schedule.milestones is a list of 1 to %d increasing steps like [30, 80], "
                    "got %s", SPEC_MAX_MILESTONES, DESCRIBE(ms));
    int64_t prev = 0;
    for (int i = 0; i < ms->n; i++) {
        int64_t m = 0;
        if (yt_type_of(ms->items[i], &m, NULL) != YT_T_INT || m <= prev)
            return fail(s, STRATA_E_FORMAT, ms->items[i], "schedule.milestones.%d must be a step above %lld (the "
                        "milestones increase), got %s", i, (long long)prev, DESCRIBE(ms->items[i]));
        prev = m;
    }
    return STRATA_OK;
}

/* ---- load -------------------------------------------------------------- */

/* data: the format picks the table (idx image sets or a text corpus), and
 * task defaults from it. */
/* data.val_fraction: the table checks >= 0, this the upper end. */
static strata_status check_val_fraction(strata_spec *s, const yt_node *data)
{
    const yt_node *vf = yt_map_get(data, "val_fraction");
    double f = 0.0;
    if (vf && yt_type_of(vf, NULL, &f) != YT_T_NULL && !(f < 1.0))
        return fail(s, STRATA_E_FORMAT, vf, "data.val_fraction is a fraction in [0, 1), got %s", vf->text);
    return STRATA_OK;
}

/* data.random_noise (bAbI): the table checks >= 0, this the upper end; a
 * probability above 1 was taken as 1. */
static strata_status check_random_noise(strata_spec *s, const yt_node *data)
{
    const yt_node *rn = yt_map_get(data, "random_noise");
    double p = 0.0;
    if (rn && yt_type_of(rn, NULL, &p) != YT_T_NULL && !(p <= 1.0))
        return fail(s, STRATA_E_FORMAT, rn, "data.random_noise is a probability in [0, 1], got %s", rn->text);
    return STRATA_OK;
}

/* data.mean and data.std as lists are one value per channel: as many of
 * each when both are lists (a single number goes with every channel). */
static strata_status check_norm(strata_spec *s, const yt_node *data)
{
    const yt_node *m = yt_map_get(data, "mean"), *sd = yt_map_get(data, "std");
    if (m && sd && m->kind == YT_SEQ && sd->kind == YT_SEQ && m->n != sd->n)
        return fail(s, STRATA_E_FORMAT, sd, "data.std has %d values and data.mean %d: one of each per channel (or a "
                                            "single number for every channel)",
                    sd->n, m->n);
    return STRATA_OK;
}

/* The data.format values each task's trainer reads (spec.md's task table). */
static const struct {
    const char *task, *formats[2];
} task_formats[] = {
    {"classification", {"idx", "safetensors"}}, {"autoencoder", {"idx", "safetensors"}},
    {"gan", {"idx", "safetensors"}},            {"language_model", {"text", NULL}},
    {"seq2seq", {"seq2seq_reverse", NULL}},     {"question_answering", {"babi", NULL}},
};

/* task: against data.format (idx when data has none), each task with its own formats. Run before the keys are
 * checked against the task's table: a spec with the wrong format mostly has keys of another task, and "X is read
 * only for task: Y" hid the cause. A task or format that is not a known name is left to the tables. */
static strata_status check_task_format(strata_spec *s, const yt_node *root)
{
    const yt_node *task = yt_map_get(root, "task"), *data = yt_map_get(root, "data");
    const yt_node *format = data && data->kind == YT_MAP ? yt_map_get(data, "format") : NULL;
    if (!task || task->kind != YT_SCALAR || (data && data->kind != YT_MAP) || (format && format->kind != YT_SCALAR))
        return STRATA_OK;
    int known = !format;
    for (int k = 0; format && format_choices[k]; k++)
        known |= !strcmp(format_choices[k], format->text);
    for (size_t k = 0; known && k < ST_ARRAY_LEN(task_formats); k++) {
        const char *const *want = task_formats[k].formats;
        if (strcmp(task->text, task_formats[k].task) != 0)
            continue;
        const char *f = format ? format->text : "idx";
        if (!strcmp(f, want[0]) || (want[1] && !strcmp(f, want[1])))
            return STRATA_OK;
        /* a spec without data (for summary or predict) says its format only for seq2seq and bAbI, whose models
         * are built from it */
        if (!data && strcmp(want[0], "seq2seq_reverse") && strcmp(want[0], "babi"))
            return STRATA_OK;
        return fail(s, STRATA_E_FORMAT, task, "task: %s needs data.format: %s%s%s, got %s", task->text, want[0],
                    want[1] ? " or " : "", want[1] ? want[1] : "",
                    format ? f : data ? "idx (the default)" : "no data section");
    }
    return STRATA_OK;
}

static strata_status check_data(strata_spec *s, const yt_node *root)
{
    const yt_node *data = yt_map_get(root, "data");
    const yt_node *task = yt_map_get(root, "task");
    const yt_node *format = data && data->kind == YT_MAP ? yt_map_get(data, "format") : NULL;
    strata_status st;
    if (format && (st = check_rule_value(s, &data_rules[0], format, "data.format")) != STRATA_OK)
        return st;
    int text = format && strcmp(format->text, "text") == 0;
    /* a task that does not go with the format: check_task_format */
    if (format && strcmp(format->text, "seq2seq_reverse") == 0) {
        if (!task && (st = add_default(s, "task = seq2seq (data.format: seq2seq_reverse)")))
            return st;
        return check_section(s, data, data_s2s_rules, (int)ST_ARRAY_LEN(data_s2s_rules), "data");
    }
    if (format && strcmp(format->text, "babi") == 0) {
        if (!task && (st = add_default(s, "task = question_answering (data.format: babi)")))
            return st;
        if ((st = check_section(s, data, data_babi_rules, (int)ST_ARRAY_LEN(data_babi_rules), "data")) != STRATA_OK ||
            (st = check_random_noise(s, data)) != STRATA_OK)
            return st;
        return check_val_fraction(s, data);
    }
    if (!task && (st = add_default(s, "task = %s", text ? "language_model (data.format: text)" : "classification")))
        return st;
    if (!data)
        return STRATA_OK;
    if (!text) {
        const int sft = format && strcmp(format->text, "safetensors") == 0;
        if ((st = sft ? check_section(s, data, data_sft_rules, (int)ST_ARRAY_LEN(data_sft_rules), "data")
                      : check_section(s, data, data_rules, (int)ST_ARRAY_LEN(data_rules), "data")) != STRATA_OK ||
            (st = check_norm(s, data)) != STRATA_OK)
            return st;
        return check_val_fraction(s, data);
    }
    if ((st = check_section(s, data, data_text_rules, (int)ST_ARRAY_LEN(data_text_rules), "data")) != STRATA_OK)
        return st;
    return check_val_fraction(s, data);
}

/* data.augment.hflip is a probability: the table checks >= 0, this the upper end. */
static strata_status check_augment(strata_spec *s, const yt_node *root)
{
    const yt_node *data = yt_map_get(root, "data");
    const yt_node *aug = data && data->kind == YT_MAP ? yt_map_get(data, "augment") : NULL;
    const yt_node *v = aug && aug->kind == YT_MAP ? yt_map_get(aug, "hflip") : NULL;
    double f = 0.0;
    if (v && yt_type_of(v, NULL, &f) != YT_T_NULL && f > 1.0)
        return fail(s, STRATA_E_FORMAT, v, "data.augment.hflip is a probability in [0, 1], got %s", v->text);
    return STRATA_OK;
}

static int by_text_then_line(const void *a, const void *b)
{
    const yt_node *x = *(const yt_node *const *)a, *y = *(const yt_node *const *)b;
    int c = strcmp(x->text, y->text);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

/* data.classes: the labels' names in label order (`strata predict` prints
 * them): a list of distinct, non-empty strings. */
static strata_status check_classes(strata_spec *s, const yt_node *root)
{
    const yt_node *data = yt_map_get(root, "data");
    const yt_node *c = data && data->kind == YT_MAP ? yt_map_get(data, "classes") : NULL;
    if (!c)
        return STRATA_OK;
    if (c->kind != YT_SEQ || c->n == 0)
        return fail(s, STRATA_E_FORMAT, c, "data.classes is a list of class names ([T-shirt, Trouser, ...]), got %s",
                    DESCRIBE(c));
    for (int k = 0; k < c->n; k++) {
        const yt_node *v = c->items[k];
        if (v->kind != YT_SCALAR || !v->text[0] || yt_type_of(v, NULL, NULL) == YT_T_NULL)
            return fail(s, STRATA_E_FORMAT, v, "data.classes.%d is a class name, got %s", k, DESCRIBE(v));
    }
    /* duplicates: the names sorted (by text, then position), neighbours compared */
    const yt_node **sorted = c->n > 0 ? malloc(sizeof *sorted * (size_t)c->n) : NULL;
    if (!sorted)
        return st_error(STRATA_E_NOMEM, "%s: out of memory checking data.classes", s->path);
    for (int k = 0; k < c->n; k++)
        sorted[k] = c->items[k];
    qsort(sorted, (size_t)c->n, sizeof *sorted, by_text_then_line);
    strata_status st = STRATA_OK;
    for (int k = 1; k < c->n && !st; k++)
        if (!strcmp(sorted[k - 1]->text, sorted[k]->text)) {
            int first = 0, second = 0; /* their positions in the list */
            for (int j = 0; j < c->n; j++) {
                if (c->items[j] == sorted[k - 1])
                    first = j;
                if (c->items[j] == sorted[k])
                    second = j;
            }
            st = fail(s, STRATA_E_FORMAT, sorted[k], "data.classes.%d: '%s' is also data.classes.%d",
                      first > second ? first : second, sorted[k]->text, first < second ? first : second);
        }
    free(sorted);
    return st;
}

/* train.keep_best and train.patience, and an idx spec's data.val_fraction,
 * are the image classifier trainer's: refused elsewhere rather than ignored. */
/* What the task table cannot say: the loss each trainer computes, and that
 * a language model keeps its best model by val_loss. */
static strata_status check_task_values(strata_spec *s, const yt_node *root)
{
    const yt_node *loss = yt_map_get(root, "loss"), *train = yt_map_get(root, "train");
    if (loss && loss->kind == YT_SCALAR && s->task != T_ALL) {
        const char *want = s->task == T_AE ? "mse" : "cross_entropy";
        if (strcmp(loss->text, want) != 0) {
            char task[48];
            tasks_text(task, sizeof task, s->task);
            return fail(s, STRATA_E_FORMAT, loss, "loss: task: %s trains with loss: %s, got %s", task, want,
                        loss->text);
        }
    }
    const yt_node *data = yt_map_get(root, "data");
    if (s->task == T_AE && data && data->kind == YT_MAP && !yt_map_get(data, "test"))
        return fail(s, STRATA_E_FORMAT, data, "task: autoencoder needs data.test: the test reconstruction MSE, its "
                                              "PCA baseline and the reconstructions drawn are of its examples");
    const yt_node *v = train && train->kind == YT_MAP ? yt_map_get(train, "keep_best") : NULL;
    if (s->task == T_LM && v && v->kind == YT_SCALAR && strcmp(v->text, "val_loss") != 0)
        return fail(s, STRATA_E_FORMAT, v, "train.keep_best: a language model is scored by val_loss, not %s", v->text);
    return STRATA_OK;
}

static strata_status check_spec(strata_spec *s, strata_runtime *rt)
{
    const yt_node *root = s->doc->root;
    if (!root || (root->kind == YT_SCALAR && yt_type_of(root, NULL, NULL) == YT_T_NULL))
        return fail(s, STRATA_E_FORMAT, NULL, "empty spec (expected a mapping with at least a 'model' section)");
    if (root->kind != YT_MAP)
        return fail(s, STRATA_E_FORMAT, root, "a spec is a mapping of keys (name, seed, data, model, ...), got %s",
                    DESCRIBE(root));
    s->task = spec_task(root);
    strata_status st = check_task_format(s, root);
    if (st == STRATA_OK)
        st = check_section(s, root, top_rules, (int)ST_ARRAY_LEN(top_rules), NULL);
    if (st != STRATA_OK)
        return st;
    if ((st = check_data(s, root)) != STRATA_OK || (st = check_augment(s, root)) != STRATA_OK ||
        (st = check_classes(s, root)) != STRATA_OK || (st = check_task_values(s, root)) != STRATA_OK)
        return st;
    const yt_node *model = yt_map_get(root, "model");
    int n_named = 0;
    for (int k = 0; k < SPEC_MAX_NAMED; k++)
        n_named += yt_map_get(root, named_models[k]) != NULL;
    if (!model && n_named < SPEC_MAX_NAMED)
        return fail(s, STRATA_E_FORMAT, root,
                    "the spec needs a 'model' section (or, for a GAN, both 'generator' and 'discriminator')");
    if (model) {
        s->g = &s->main;
        snprintf(s->where, sizeof s->where, "model");
        if ((st = parse_model(s, rt, model)) != STRATA_OK)
            return st;
        const yt_node *opt = yt_map_get(root, "optimizer");
        if (opt && (st = parse_optimizer(s, rt, opt)) != STRATA_OK)
            return st;
    }
    for (int k = 0; k < SPEC_MAX_NAMED; k++) {
        const yt_node *pair = yt_map_get(root, named_models[k]);
        if (!pair)
            continue;
        s->g = &s->named[k];
        s->g->name = named_models[k];
        if ((st = check_section(s, pair, named_rules, (int)ST_ARRAY_LEN(named_rules), named_models[k])) != STRATA_OK)
            return st;
        snprintf(s->where, sizeof s->where, "%s.model", named_models[k]);
        if ((st = parse_model(s, rt, yt_map_get(pair, "model"))) != STRATA_OK)
            return st;
        const yt_node *opt = yt_map_get(pair, "optimizer");
        if (opt && (st = parse_optimizer(s, rt, opt)) != STRATA_OK)
            return st;
    }
    const yt_node *sched = yt_map_get(root, "schedule");
    if (sched && (st = parse_schedule(s, sched)) != STRATA_OK)
        return st;
    return STRATA_OK;
}

strata_status strata_spec_parse(strata_runtime *rt, const char *text, size_t len, const char *name, strata_spec **out)
{
    if (!rt || (!text && len) || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_parse: rt, text and out must not be NULL");
    if (len > SPEC_MAX_BYTES)
        return st_error(STRATA_E_FORMAT, "%s: spec of %zu bytes is larger than the limit of %u bytes",
                        name ? name : "<string>", len, SPEC_MAX_BYTES);
    strata_spec *s = st_calloc(1, sizeof *s);
    if (!s)
        return STRATA_E_NOMEM;
    strata_status st = STRATA_E_NOMEM;
    s->path = st_strdup(name ? name : "<string>");
    s->text = st_malloc(len + 1);
    if (!s->path || !s->text)
        goto fail;
    if (len)
        memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->len = len;
    if ((st = yt_parse(s->text, len, s->path, &s->doc)) != STRATA_OK)
        goto fail;
    if ((st = check_spec(s, rt)) != STRATA_OK)
        goto fail;
    *out = s;
    return STRATA_OK;
fail:
    strata_spec_destroy(s);
    return st;
}

strata_status strata_spec_load(strata_runtime *rt, const char *path, strata_spec **out)
{
    if (!rt || !path || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_load: rt, path and out must not be NULL");
    void *buf = NULL;
    size_t len = 0;
    strata_status st = st_read_file(path, "spec", SPEC_MAX_BYTES, STRATA_E_FORMAT, "spec is ", &buf, &len);
    if (st == STRATA_OK)
        st = strata_spec_parse(rt, buf, len, path, out);
    free(buf);
    return st;
}

void strata_spec_destroy(strata_spec *s)
{
    if (!s)
        return;
    for (int k = 0; k < s->n_allocs; k++)
        free(s->allocs[k]);
    free(s->allocs);
    yt_free(s->doc);
    free(s->defaults);
    free(s->text);
    free(s->path);
    free(s);
}

/* ---- building ---------------------------------------------------------- */

/* The main model (@p name NULL) or the named one; NULL after an error naming it. */
static const spec_graph *find_graph(const strata_spec *s, const char *name)
{
    if (!name)
        return &s->main;
    for (int k = 0; k < SPEC_MAX_NAMED; k++)
        if (!strcmp(named_models[k], name)) {
            if (s->named[k].n_layers)
                return &s->named[k];
            break;
        }
    st_error(STRATA_E_NOT_FOUND, "%s: the spec has no '%s' section (a {model, optimizer} pair)", s->path, name);
    return NULL;
}

static strata_status build_graph(const strata_spec *s, const spec_graph *g, strata_device *dev, strata_model **out)
{
    strata_model *m = NULL;
    strata_status st = strata_model_create(dev, &m);
    if (st != STRATA_OK)
        return st_error_context(st, "%s: creating the model", s->path);
    for (int k = 0; k < g->n_inputs; k++) {
        const spec_input *in = &g->inputs[k];
        st = strata_model_add_input(m, in->name, in->dtype, in->ndim, in->shape);
        if (st != STRATA_OK) {
            st_error_context(st, "%s:%d", s->path, in->line); /* the core names the input */
            goto fail;
        }
    }
    for (int k = 0; k < g->n_layers; k++) {
        const spec_layer *L = &g->layers[k];
        st = strata_model_add_layer(m, L->type, L->name, L->attrs, L->n_attrs, L->inputs, L->n_inputs);
        if (st != STRATA_OK) {
            st_error_context(st, "%s:%d: layer %d (type '%s', name '%s')", s->path, L->line, k, L->type,
                             layer_name(L));
            goto fail;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        st = strata_model_add_output(m, g->outputs[k]);
        if (st != STRATA_OK) {
            st_error_context(st, "%s:%d", s->path, g->outputs_line); /* the core names the output */
            goto fail;
        }
    }
    *out = m;
    return STRATA_OK;
fail:
    strata_model_destroy(m);
    return st;
}

strata_status strata_spec_build_model(const strata_spec *s, strata_device *dev, strata_model **out)
{
    if (!s || !dev || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_build_model: spec, dev and out must not be NULL");
    if (!s->main.n_layers)
        return st_error(STRATA_E_NOT_FOUND, "%s: the spec has no 'model' section (a two-model spec: use "
                                            "strata_spec_build_named with \"generator\" or \"discriminator\")",
                        s->path);
    return build_graph(s, &s->main, dev, out);
}

strata_status strata_spec_build_named(const strata_spec *s, const char *name, strata_device *dev, strata_model **out)
{
    if (!s || !name || !dev || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_build_named: spec, name, dev and out must not be NULL");
    const spec_graph *g = find_graph(s, name);
    return g ? build_graph(s, g, dev, out) : STRATA_E_NOT_FOUND;
}

strata_status strata_spec_set_input_shape(strata_spec *s, const char *name, int ndim, const int64_t *shape)
{
    if (!s || !name || (ndim && !shape))
        return st_error(STRATA_E_INVALID, "strata_spec_set_input_shape: NULL argument");
    if (ndim < 0 || ndim > STRATA_MAX_DIMS - 1)
        return st_error(STRATA_E_INVALID, "%s: input '%s': %d dimensions; 0 to %d (the batch adds one)", s->path, name,
                        ndim, STRATA_MAX_DIMS - 1);
    for (int k = 0; k < ndim; k++)
        if (shape[k] < 1)
            return st_error(STRATA_E_INVALID, "%s: input '%s': dimension %d must be positive, got %lld", s->path,
                            name, k, (long long)shape[k]);
    for (int k = 0; k < s->main.n_inputs; k++) {
        if (strcmp(s->main.inputs[k].name, name) != 0)
            continue;
        s->main.inputs[k].ndim = ndim;
        if (ndim)
            memcpy(s->main.inputs[k].shape, shape, sizeof(int64_t) * (size_t)ndim);
        return STRATA_OK;
    }
    return st_error(STRATA_E_NOT_FOUND, "%s: the model has no input named '%s'", s->path, name);
}

strata_status strata_spec_set_layer_int(strata_spec *s, const char *layer, const char *key, int64_t value)
{
    if (!s || !layer || !key)
        return st_error(STRATA_E_INVALID, "strata_spec_set_layer_int: NULL argument");
    for (int k = 0; k < s->main.n_layers; k++) {
        spec_layer *L = &s->main.layers[k];
        if (strcmp(layer_name(L), layer) != 0)
            continue;
        for (int a = 0; a < L->n_attrs; a++) {
            if (strcmp(L->attrs[a].name, key) != 0)
                continue;
            if (L->attrs[a].kind != STRATA_ATTR_INT)
                return st_error(STRATA_E_INVALID, "%s:%d: layer '%s' (%s): attribute '%s' is not an integer", s->path,
                                L->line, layer, L->type, key);
            L->attrs[a].i = value;
            return STRATA_OK;
        }
        /* left at its default: added, when the type's schema has it (L->attrs has room for every entry) */
        for (int a = 0; a < L->n_schema; a++) {
            const strata_attr_spec *as = &L->schema[a];
            if (!as->name || strcmp(as->name, key) != 0)
                continue;
            if (as->kind != STRATA_ATTR_INT)
                return st_error(STRATA_E_INVALID, "%s:%d: layer '%s' (%s): attribute '%s' is not an integer", s->path,
                                L->line, layer, L->type, key);
            if (L->n_attrs >= L->n_schema)
                break;
            L->attrs[L->n_attrs++] = strata_attr_int(as->name, value);
            return STRATA_OK;
        }
        return st_error(STRATA_E_NOT_FOUND, "%s:%d: layer '%s' (%s) has no attribute '%s'", s->path, L->line, layer,
                        L->type, key);
    }
    return st_error(STRATA_E_NOT_FOUND, "%s: the model has no layer named '%s'", s->path, layer);
}

static strata_status create_optimizer(const strata_spec *s, const spec_graph *g, strata_model *m,
                                      strata_optimizer **out)
{
    if (!g->optim_type)
        return st_error(STRATA_E_NOT_FOUND, "%s: the spec has no '%s%soptimizer' section", s->path,
                        g->name ? g->name : "", g->name ? "." : "");
    strata_status st = strata_optimizer_create(m, g->optim_type, g->optim_attrs, g->n_optim_attrs, out);
    if (st != STRATA_OK)
        return st_error_context(st, "%s:%d", s->path, g->optim_line); /* the core names the optimizer */
    return STRATA_OK;
}

strata_status strata_spec_create_optimizer(const strata_spec *s, strata_model *m, strata_optimizer **out)
{
    if (!s || !m || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_create_optimizer: spec, model and out must not be NULL");
    return create_optimizer(s, &s->main, m, out);
}

strata_status strata_spec_create_optimizer_named(const strata_spec *s, const char *name, strata_model *m,
                                                 strata_optimizer **out)
{
    if (!s || !name || !m || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_create_optimizer_named: NULL argument");
    const spec_graph *g = find_graph(s, name);
    return g ? create_optimizer(s, g, m, out) : STRATA_E_NOT_FOUND;
}

/* ---- queries ----------------------------------------------------------- */

/*
 * Finds the node at @p path: keys separated by '.', sequence items by a
 * number ("model.layers.1.type" or "model.layers[1].type"). STRATA_OK with
 * *out = NULL when absent (a null value counts as absent).
 */
static strata_status lookup(const strata_spec *s, const char *path, const yt_node **out)
{
    const yt_node *cur = s->doc->root;
    const char *p = path;
    char seg[128];
    *out = NULL;
    if (!path || !*path)
        return st_error(STRATA_E_INVALID, "%s: empty spec path", s->path);
    while (*p) {
        int index = *p == '[';
        if (index)
            p++;
        size_t n = strcspn(p, index ? "]" : ".[");
        if (n == 0 || n >= sizeof seg || (index && p[n] != ']'))
            return st_error(STRATA_E_INVALID, "%s: bad spec path '%s'", s->path, path);
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n + index; /* past "]" */
        if (*p == '.') {
            p++;
            if (!*p || *p == '.' || *p == '[')
                return st_error(STRATA_E_INVALID, "%s: bad spec path '%s'", s->path, path);
        }
        if (cur && yt_type_of(cur, NULL, NULL) == YT_T_NULL)
            cur = NULL;
        if (!cur)
            return STRATA_OK;
        if (cur->kind == YT_MAP && !index) {
            cur = yt_map_get(cur, seg);
        } else if (cur->kind == YT_SEQ && strspn(seg, "0123456789") == n) {
            long k = strtol(seg, NULL, 10);
            cur = k < cur->n ? cur->items[k] : NULL;
        } else {
            return st_error(STRATA_E_FORMAT, "%s:%d: cannot look up '%s' of spec path '%s': the value there is %s",
                            s->path, cur->line, seg, path, yt_type_name(yt_type_of(cur, NULL, NULL)));
        }
    }
    if (cur && yt_type_of(cur, NULL, NULL) == YT_T_NULL)
        cur = NULL;
    *out = cur;
    return STRATA_OK;
}

strata_status strata_spec_get_int(const strata_spec *s, const char *path, int64_t dflt, int64_t *out)
{
    if (!s || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_get_int: spec and out must not be NULL");
    const yt_node *n;
    strata_status st = lookup(s, path, &n);
    if (st != STRATA_OK)
        return st;
    if (!n) {
        *out = dflt;
        return STRATA_E_NOT_FOUND;
    }
    int64_t i;
    yt_type t = yt_type_of(n, &i, NULL);
    if (t != YT_T_INT && t != YT_T_BOOL)
        return fail(s, STRATA_E_FORMAT, n, "%s expects an integer, got %s", path, DESCRIBE(n));
    *out = i;
    return STRATA_OK;
}

strata_status strata_spec_get_float(const strata_spec *s, const char *path, double dflt, double *out)
{
    if (!s || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_get_float: spec and out must not be NULL");
    const yt_node *n;
    strata_status st = lookup(s, path, &n);
    if (st != STRATA_OK)
        return st;
    if (!n) {
        *out = dflt;
        return STRATA_E_NOT_FOUND;
    }
    double f;
    yt_type t = yt_type_of(n, NULL, &f);
    if (t != YT_T_INT && t != YT_T_FLOAT)
        return fail(s, STRATA_E_FORMAT, n, "%s expects a number, got %s", path, DESCRIBE(n));
    *out = f;
    return STRATA_OK;
}

strata_status strata_spec_get_string(const strata_spec *s, const char *path, const char *dflt, const char **out)
{
    if (!s || !out)
        return st_error(STRATA_E_INVALID, "strata_spec_get_string: spec and out must not be NULL");
    const yt_node *n;
    strata_status st = lookup(s, path, &n);
    if (st != STRATA_OK)
        return st;
    if (!n) {
        *out = dflt;
        return STRATA_E_NOT_FOUND;
    }
    if (n->kind != YT_SCALAR)
        return fail(s, STRATA_E_FORMAT, n, "%s expects a string, got %s", path, DESCRIBE(n));
    *out = n->text;
    return STRATA_OK;
}

const char *strata_spec_path(const strata_spec *s)
{
    return s ? s->path : NULL;
}

const char *strata_spec_text(const strata_spec *s, size_t *len)
{
    if (len)
        *len = s ? s->len : 0;
    return s ? s->text : NULL;
}

const char *strata_spec_defaults(const strata_spec *s)
{
    return s && s->defaults ? s->defaults : "";
}
