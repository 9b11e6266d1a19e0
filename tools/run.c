/* run.c - what `strata train`, `eval` and `bench` share: building a run
 * from a spec (runtime, device, model, optimizer, data) and one training
 * step. Language models (text data) continue in cmd_train_lm.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dist.h"

void run_free(run_ctx *r)
{
    free(r->confusion);
    free(r->dist.buf);
    strata_dataset_destroy(r->train);
    strata_dataset_destroy(r->val);
    strata_dataset_destroy(r->test);
    strata_text_destroy(r->text);
    free(r->text_file);
    strata_optimizer_destroy(r->opt);
    strata_model_destroy(r->model);
    strata_spec_destroy(r->spec);
    strata_runtime_destroy(r->rt);
}

/* The spec's data.SPLIT (train or test), its features divided by @p scale:
 * IDX files (data.SPLIT.images, .labels) or tensors of a safetensors file
 * (data.format: safetensors; data.SPLIT.file, .inputs, .labels).
 * STRATA_E_NOT_FOUND, with nothing said, when the spec names none. */
strata_status cli_load_split(const strata_spec *s, const char *split, double scale, strata_dataset **out)
{
    const char *format = "idx", *a = NULL, *b = NULL, *c = NULL;
    char ka[64], kb[64], kc[64];
    strata_spec_get_string(s, "data.format", "idx", &format);
    const int sft = format && !strcmp(format, "safetensors");
    snprintf(ka, sizeof ka, "data.%s.%s", split, sft ? "file" : "images");
    snprintf(kb, sizeof kb, "data.%s.%s", split, sft ? "inputs" : "labels");
    snprintf(kc, sizeof kc, "data.%s.labels", split);
    /* autoencoders and GANs read no labels: a file needs none unless the spec names them */
    const char *task = "";
    strata_spec_get_string(s, "task", "", &task);
    const int unlabelled =
        sft && task && (!strcmp(task, "autoencoder") || !strcmp(task, "gan")) && !cli_spec_has(s, kc);
    strata_status rc = strata_spec_get_string(s, ka, NULL, &a);
    if (!rc && (rc = strata_spec_get_string(s, kb, sft ? "inputs" : NULL, &b)) == STRATA_E_NOT_FOUND && sft)
        rc = STRATA_OK; /* the default tensor names */
    if (!rc && sft && !unlabelled && (rc = strata_spec_get_string(s, kc, "labels", &c)) == STRATA_E_NOT_FOUND)
        rc = STRATA_OK;
    if (rc == STRATA_E_NOT_FOUND || (!rc && (!a || !b || (sft && !c && !unlabelled)))) {
        strata_clear_error();
        return STRATA_E_NOT_FOUND;
    }
    if (rc)
        return rc;
    return sft ? strata_dataset_load_safetensors(a, b, c, scale, out) : strata_dataset_load_idx(a, b, scale, out);
}

int cli_spec_has(const strata_spec *s, const char *path)
{
    const char *v = NULL;
    const int has = strata_spec_get_string(s, path, NULL, &v) != STRATA_E_NOT_FOUND;
    strata_clear_error();
    return has;
}

int cli_load_images(const strata_spec *s, const char *split, strata_dataset **out)
{
    const cli_scaling sc = cli_data_scaling(s);
    char key[32];
    snprintf(key, sizeof key, "data.%s", split);
    if (!cli_spec_has(s, key)) {
        fprintf(stderr, "strata: error: %s: the spec has no %s\n", strata_spec_path(s), key);
        return 1;
    }
    strata_status rc = cli_load_split(s, split, sc.scale, out);
    if (rc)
        return cli_fail(!strcmp(split, "train") ? "loading the training set" : "loading the test set", rc);
    if ((rc = cli_normalize(*out, &sc)))
        return cli_fail("normalising the data (data.mean, data.std)", rc);
    return 0;
}

/* splitmix64: the held-out choice below, the same on every machine. */
static uint64_t mix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Holds out @p fraction of *train as *val: a fixed pseudo-random choice of
 * examples (the same for every run on the same data, whatever its seed,
 * so runs compare and resumes agree), both keeping the file's order. */
static int split_validation(const char *spec, strata_dataset **train, double fraction, strata_dataset **val)
{
    const strata_dataset *d = *train;
    int64_t n = strata_dataset_size(d), k = (int64_t)llround(fraction * (double)n);
    k = k < 1 ? 1 : k > n - 1 ? n - 1 : k;
    if (n < 2) {
        fprintf(stderr, "strata: error: %s: data.val_fraction %g: the training set has %lld example(s); nothing to "
                        "hold out\n",
                spec, fraction, (long long)n);
        return 1;
    }
    int nd;
    const int64_t *shape = strata_dataset_shape(d, &nd);
    int64_t feat = 1;
    for (int i = 0; i < nd; i++)
        feat *= shape[i];
    int64_t *order = malloc(sizeof *order * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
    unsigned char *held = calloc((size_t)n, 1);
    float *x = malloc(sizeof *x * (size_t)(n * feat > 0 ? n * feat : 1));
    int r = !order || !y || !held || !x;
    if (!r) {
        uint64_t state = 0x5EEDull;
        for (int64_t i = 0; i < n; i++)
            order[i] = i;
        for (int64_t i = 0; i < k; i++) { /* the first k of a Fisher-Yates shuffle */
            int64_t j = i + (int64_t)(mix64(&state) % (uint64_t)(n - i)), t = order[i];
            order[i] = order[j], order[j] = t;
            held[order[i]] = 1;
        }
        strata_dataset *parts[2] = {NULL, NULL}; /* training, held out */
        for (int p = 0; p < 2 && !r; p++) {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (held[i] == p) {
                    memcpy(x + m * feat, strata_dataset_x(d, i), sizeof *x * (size_t)feat);
                    y[m++] = strata_dataset_y(d, i);
                }
            strata_status rc = strata_dataset_from_host(m, nd, shape, x, y, &parts[p]);
            if (rc)
                r = cli_fail("holding out the validation set", rc);
        }
        if (!r) {
            strata_dataset_destroy(*train);
            *train = parts[0];
            *val = parts[1];
        } else {
            strata_dataset_destroy(parts[0]);
            strata_dataset_destroy(parts[1]);
        }
    } else {
        fprintf(stderr, "strata: error: out of memory holding out the validation set\n");
    }
    free(order), free(y), free(held), free(x);
    return r;
}

/* 1 when dims @p a (n) are dims @p b (m) in another order: the same sizes, not in the same places */
static int same_dims_reordered(const int64_t *a, int n, const int64_t *b, int m)
{
    if (n != m || !memcmp(a, b, sizeof(int64_t) * (size_t)n))
        return 0;
    int used[STRATA_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < m && (used[j] || b[j] != a[i]))
            j++;
        if (j == m)
            return 0;
        used[j] = 1;
    }
    return 1;
}

int run_setup(run_ctx *r, const run_options *a, int need_train)
{
    return run_setup_vocab(r, a, need_train, NULL);
}

int run_setup_vocab(run_ctx *r, const run_options *a, int need_train, const char *vocab_checkpoint)
{
    memset(r, 0, sizeof *r);
    strata_status rc = cli_runtime_create(a->have_seed ? (uint64_t)a->seed : 0, &r->rt);
    if (rc)
        return cli_fail("creating the runtime", rc);
    int e;
    if ((e = cli_spec_load(r->rt, a->spec_path, &r->spec)))
        return e;
    int64_t seed = 1;
    strata_spec_get_int(r->spec, "seed", 1, &seed);
    if (a->have_seed)
        seed = a->seed;
    strata_runtime_seed(r->rt, (uint64_t)seed);
    if ((rc = cli_device_get(r->rt, a->backend, &r->dev)))
        return cli_fail("choosing a device", rc);
    if ((rc = strata_spec_build_model(r->spec, r->dev, &r->model)))
        return cli_fail("building the model", rc);
    if (need_train && (rc = strata_spec_create_optimizer(r->spec, r->model, &r->opt)))
        return cli_fail("creating the optimizer", rc);
    r->loss = "cross_entropy";
    strata_spec_get_string(r->spec, "loss", "cross_entropy", &r->loss);
    if (strcmp(r->loss, "cross_entropy") != 0) {
        fprintf(stderr, "strata: error: %s: `strata train` on an image set supports loss: cross_entropy (got '%s')\n",
                a->spec_path, r->loss);
        return 1;
    }
    if (a->no_data) {
        r->lm = lm_spec_is_lm(r->spec);
        return 0;
    }
    if (lm_spec_is_lm(r->spec)) {
        r->lm = 1;
        return lm_setup(r, a, vocab_checkpoint);
    }
    /* training needs no test set (data.test is optional); eval, predict --input and visualize do */
    const int has_test = cli_spec_has(r->spec, "data.test");
    if ((need_train && (e = cli_load_images(r->spec, "train", &r->train))) ||
        ((!need_train || has_test) && (e = cli_load_images(r->spec, "test", &r->test))))
        return e;
    double val_fraction = 0;
    strata_spec_get_float(r->spec, "data.val_fraction", 0.0, &val_fraction);
    if (need_train && val_fraction > 0 && (e = split_validation(a->spec_path, &r->train, val_fraction, &r->val)))
        return e;
    strata_spec_get_int(r->spec, "train.batch_size", 64, &r->batch);
    if (a->batch_size > 0)
        r->batch = a->batch_size;
    strata_spec_get_int(r->spec, "train.eval_batch_size", 1000, &r->eval_batch);
    if (strata_model_input_count(r->model) != 1) {
        fprintf(stderr, "strata: error: %s: an image classifier's model takes one input, the examples; this one "
                        "declares %d (model.inputs)\n",
                a->spec_path, strata_model_input_count(r->model));
        return 1;
    }
    /* the model's input must hold one example of each data set */
    int nd;
    const int64_t *ms = strata_model_input_shape(r->model, 0, &nd, NULL);
    int64_t mn = 1;
    for (int k = 0; k < nd; k++)
        mn *= ms[k];
    const strata_dataset *sets[3] = {r->train, r->val, r->test};
    static const char *const names[3] = {"training", "validation", "test"};
    for (int s = 0; s < 3; s++) {
        int dn;
        const int64_t *ds = sets[s] ? strata_dataset_shape(sets[s], &dn) : NULL;
        int64_t dnum = 1;
        for (int k = 0; ds && k < dn; k++)
            dnum *= ds[k];
        if (ds && mn != dnum) {
            fprintf(stderr, "strata: error: %s: the model input holds %lld values per example, the %s set %lld\n",
                    a->spec_path, (long long)mn, names[s], (long long)dnum);
            return 1;
        }
        /* a model that sees the layout (rank 2 or more) must not take the data's dimensions in another order,
         * leading 1s aside: [3, 20, 12] for images of 12 x 20, or channels last, trained on scrambled images
         * without a word (a reshape that keeps the order, [784, 1] of (28, 28), is the user's to make) */
        int mo = 0, dof = 0;
        while (mo < nd && ms[mo] == 1)
            mo++;
        while (ds && dof < dn && ds[dof] == 1)
            dof++;
        if (ds && nd >= 2 && dn >= 2 && same_dims_reordered(ms + mo, nd - mo, ds + dof, dn - dof)) {
            char m_s[96] = "", d_s[96] = "";
            for (int k = 0; k < nd; k++)
                snprintf(m_s + strlen(m_s), sizeof m_s - strlen(m_s), "%s%lld", k ? ", " : "", (long long)ms[k]);
            for (int k = 0; k < dn; k++)
                snprintf(d_s + strlen(d_s), sizeof d_s - strlen(d_s), "%s%lld", k ? ", " : "", (long long)ds[k]);
            fprintf(stderr,
                    "strata: error: %s: the model input is [%s] per example, the %s set's examples are (%s): the "
                    "same %lld values in another layout would be read scrambled (height and width swapped, or "
                    "channels last: Strata's images are (channels, height, width)); set model.input to the data's "
                    "shape\n",
                    a->spec_path, m_s, names[s], d_s, (long long)mn);
            return 1;
        }
    }
    return run_check_classifier(r, a->spec_path);
}

int run_check_classifier(run_ctx *r, const char *spec_path)
{
    strata_dtype dt = STRATA_F32;
    int nd = 0;
    const char *what = NULL;
    char why[256] = "";
    strata_model_input_shape(r->model, 0, &nd, &dt);
    const int64_t *os = strata_model_output_shape(r->model, 0, &nd);
    if (dt != STRATA_F32)
        snprintf(why, sizeof why, "its input is %s, and the examples are read as f32 (an embedding of tokens takes "
                                  "a language model's data.format: text)",
                 strata_dtype_name(dt));
    else if (strata_model_output_shape(r->model, 1, NULL))
        what = "it has several outputs (model.outputs); a classifier's is one, the logits (batch, classes)";
    else if (!os || nd != 1)
        what = "its output is not (batch, classes) logits (the last layer's output per example must be 1-D: a "
               "flatten and a linear layer end a ConvNet)";
    if (what || why[0]) {
        fprintf(stderr, "strata: error: %s: the model cannot be an image classifier: %s\n", spec_path,
                what ? what : why);
        return 1;
    }
    const int64_t classes = os[0];
    const strata_dataset *sets[3] = {r->train, r->val, r->test};
    static const char *const names[3] = {"training", "validation", "test"};
    for (int k = 0; k < 3; k++) {
        const int64_t top = sets[k] ? strata_dataset_classes(sets[k]) - 1 : -1; /* the largest label */
        if (top >= classes) {
            fprintf(stderr, "strata: error: %s: the %s labels go up to %lld, and the model gives %lld classes (its "
                            "last layer's out_features): it needs at least %lld\n",
                    spec_path, names[k], (long long)top, (long long)classes, (long long)top + 1);
            return 1;
        }
    }
    const char **class_names = NULL; /* data.classes, when given, names as many classes as the model gives */
    if (cli_class_names(r->spec, classes, &class_names))
        return 1;
    free(class_names);
    return 0;
}

/* (B, data shape) -> (B, model input shape), a view */
strata_status run_model_input(run_ctx *r, strata_tensor *x, strata_tensor **out)
{
    int nd;
    const int64_t *ms = strata_model_input_shape(r->model, 0, &nd, NULL);
    int64_t shape[STRATA_MAX_DIMS];
    shape[0] = strata_tensor_dim(x, 0);
    memcpy(shape + 1, ms, sizeof(int64_t) * (size_t)nd);
    return strata_reshape(r->rt, x, nd + 1, shape, out);
}

/* Counts correct argmax predictions of logits (B, C) against labels (B). */
strata_status run_count_correct(run_ctx *r, strata_tensor *logits, strata_tensor *y, int64_t *correct)
{
    strata_tensor *am;
    strata_attr a = strata_attr_int("axis", -1);
    strata_status rc = strata_op_call(r->rt, "core::argmax", &logits, 1, &a, 1, &am, 1);
    if (rc)
        return rc;
    int64_t b = strata_tensor_numel(am);
    int64_t *p = malloc(sizeof(int64_t) * (size_t)b * 2);
    if (!p) {
        strata_tensor_release(am);
        return STRATA_E_NOMEM;
    }
    rc = strata_tensor_read(am, p, sizeof(int64_t) * (size_t)b);
    if (!rc)
        rc = strata_tensor_read(y, p + b, sizeof(int64_t) * (size_t)b);
    for (int64_t k = 0; !rc && k < b; k++)
        *correct += p[k] == p[b + k];
    if (!rc && r->want_confusion && !r->confusion) {
        int nd = strata_tensor_ndim(logits);
        r->n_classes = nd > 0 ? strata_tensor_dim(logits, nd - 1) : 0;
        r->confusion = calloc((size_t)(r->n_classes * r->n_classes) + 1, sizeof *r->confusion);
        rc = r->confusion ? STRATA_OK : STRATA_E_NOMEM;
    }
    for (int64_t k = 0; !rc && r->confusion && k < b; k++)
        if (p[b + k] >= 0 && p[b + k] < r->n_classes && p[k] >= 0 && p[k] < r->n_classes)
            r->confusion[p[b + k] * r->n_classes + p[k]]++;
    free(p);
    strata_tensor_release(am);
    return rc;
}

/* The rank's shares of a batch's inputs @p x and targets @p y (dist_shard):
 * *n rows each. */
static strata_status dist_shard_xy(strata_runtime *rt, strata_tensor *x, strata_tensor *y, strata_tensor **xs,
                                   strata_tensor **ys, int64_t *n)
{
    strata_status rc = dist_shard(rt, x, xs, n);
    if (!rc)
        rc = dist_shard(rt, y, ys, NULL);
    return rc;
}

strata_status run_evaluate(run_ctx *r, const strata_dataset *d, double *loss, double *acc)
{
    strata_loader *ld;
    strata_status rc = strata_loader_create(d, r->eval_batch, 0, 0, 0, &ld);
    if (rc)
        return rc;
    int prev = strata_set_grad_enabled(r->rt, 0);
    double total = 0;
    int64_t correct = 0, seen = 0;
    strata_loader_start_epoch(ld, 0);
    for (;;) {
        strata_tensor *x, *y, *xi = NULL, *logits = NULL, *l = NULL;
        int done;
        if ((rc = strata_loader_next(ld, r->dev, &x, &y, &done)) || done)
            break;
        int64_t n = strata_tensor_dim(x, 0);
        if (dist_size() > 1) { /* each rank its share; the sums meet below */
            strata_tensor *xs = NULL, *ys = NULL;
            rc = dist_shard_xy(r->rt, x, y, &xs, &ys, &n);
            strata_tensor_release(x);
            strata_tensor_release(y);
            x = xs, y = ys;
            if (!rc && !n) {
                strata_tensor_release(x);
                strata_tensor_release(y);
                continue;
            }
        }
        if (!rc)
            rc = run_model_input(r, x, &xi);
        if (!rc)
            rc = strata_model_forward(r->model, &xi, 1, &logits, 1, 0);
        strata_attr red = strata_attr_string("reduction", "sum");
        strata_tensor *in[2] = {logits, y};
        if (!rc)
            rc = strata_op_call(r->rt, "core::cross_entropy", in, 2, &red, 1, &l, 1);
        double v = 0;
        if (!rc)
            rc = strata_tensor_item(l, &v);
        if (!rc)
            rc = run_count_correct(r, logits, y, &correct);
        total += v;
        seen += n;
        strata_tensor_release(l);
        strata_tensor_release(logits);
        strata_tensor_release(xi);
        strata_tensor_release(x);
        strata_tensor_release(y);
        if (rc)
            break;
    }
    strata_set_grad_enabled(r->rt, prev);
    strata_loader_destroy(ld);
    double sums[3] = {total, (double)correct, (double)seen};
    if (!rc && dist_sum_f64(sums, 3))
        rc = STRATA_E_BACKEND;
    total = sums[0], correct = (int64_t)sums[1], seen = (int64_t)sums[2];
    *loss = seen ? total / (double)seen : NAN;
    *acc = seen ? (double)correct / (double)seen : NAN;
    return rc;
}


/* An update after the backward pass (@p rc its status): clip (when > 0),
 * optimizer step, *loss_out; then, whatever happened, the gradients, the
 * loss and the graph cleared for the next step. */
static strata_status update_after_backward(strata_runtime *rt, strata_model *m, strata_optimizer *opt,
                                           strata_tensor *loss, double clip, double *loss_out, strata_status rc)
{
    if (!rc && clip > 0)
        rc = strata_clip_grad_norm(m, clip, NULL);
    if (!rc) { /* the step unwatched, as PyTorch's detect_anomaly watches forward and backward only: an anomaly
                * (E_NUMERIC) is then always found before the update, so the model is the last good state */
        const int anomaly = strata_set_detect_anomaly(rt, 0);
        rc = strata_optimizer_step(opt);
        strata_set_detect_anomaly(rt, anomaly);
    }
    if (!rc && loss_out)
        rc = strata_tensor_item(loss, loss_out);
    strata_model_zero_grad(m);
    strata_tensor_release(loss);
    strata_graph_reset(strata_runtime_graph(rt));
    return rc;
}

strata_status cli_update(strata_runtime *rt, strata_model *m, strata_optimizer *opt, strata_tensor *loss, double clip,
                         double *loss_out)
{
    return update_after_backward(rt, m, opt, loss, clip, loss_out,
                                 loss ? strata_backward(strata_runtime_graph(rt), loss) : STRATA_E_INVALID);
}

strata_status dist_update(strata_runtime *rt, strata_model *m, strata_optimizer *opt, dist_host *h,
                          strata_tensor *loss, double clip, double weight)
{
    if (dist_size() <= 1)
        return cli_update(rt, m, opt, loss, clip, NULL);
    strata_status rc = loss ? strata_backward(strata_runtime_graph(rt), loss) : STRATA_E_INVALID;
    if (!rc) /* clipped there, on the summed copy */
        rc = dist_sum_gradients(m, h, weight, clip);
    return update_after_backward(rt, m, opt, loss, 0.0, NULL, rc);
}

/* What host_copy moves: the parameters' gradients (f32), the model's
 * buffers (batch norm's running statistics, any dtype) or the parameters. */
enum { COPY_GRADS, COPY_BUFFERS, COPY_PARAMS };

/* Those tensors to and from one host array: @p to_host 1 reads them into
 * @p buf (NULL: only counts the bytes), 0 writes them back; *bytes: their
 * size. A parameter without a gradient has none on any rank: every rank
 * runs the same graph. */
static strata_status host_copy(strata_model *m, int what, int to_host, void *buf, size_t *bytes)
{
    const int count = what == COPY_BUFFERS ? strata_model_buffer_count(m) : strata_model_param_count(m);
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        strata_tensor *t = NULL;
        strata_status rc =
            what == COPY_BUFFERS ? strata_model_buffer(m, i, NULL, &t) : strata_model_param(m, i, NULL, &t);
        if (rc)
            return rc;
        if (what == COPY_GRADS)
            t = strata_tensor_grad(t);
        if (!t)
            continue;
        const size_t size = (size_t)strata_tensor_numel(t) * strata_dtype_size(strata_tensor_dtype(t));
        char *at = (char *)buf + off;
        if (buf && (rc = to_host ? strata_tensor_read(t, at, size) : strata_tensor_write(t, at, size)))
            return rc;
        off += size;
    }
    *bytes = off;
    return STRATA_OK;
}

/* h->buf with room for @p bytes, kept from step to step (a fresh 2.7 MB
 * for W1's gradients would page-fault in on every step) */
static void *dist_buffer(dist_host *h, size_t bytes)
{
    if (bytes > h->cap || !h->buf) {
        void *p = realloc(h->buf, bytes ? bytes : 1);
        if (!p)
            return NULL;
        h->buf = p, h->cap = bytes;
    }
    return h->buf;
}

/* @p what of @p m read into h->buf (*buf), *bytes of it. */
static strata_status host_read(strata_model *m, dist_host *h, int what, unsigned char **buf, size_t *bytes)
{
    strata_status rc = host_copy(m, what, 1, NULL, bytes);
    *buf = rc ? NULL : dist_buffer(h, *bytes);
    if (!rc && !*buf)
        rc = STRATA_E_NOMEM;
    if (!rc)
        rc = host_copy(m, what, 1, *buf, bytes);
    return rc;
}

strata_status dist_sum_gradients(strata_model *m, dist_host *h, double weight, double clip)
{
    unsigned char *buf = NULL;
    size_t gb = 0;
    strata_status rc = host_read(m, h, COPY_GRADS, &buf, &gb);
    float *g = (float *)buf;
    const size_t n = gb / sizeof(float);
    for (size_t k = 0; !rc && k < n; k++) /* weight 0 (an empty share): zeros, even for an inf */
        g[k] = weight == 0.0 ? 0.0f : (float)(g[k] * weight);
    if (!rc && dist_sum_f32(g, n))
        rc = STRATA_E_BACKEND;
    double total = 0.0;
    for (size_t k = 0; !rc && clip > 0 && k < n; k++)
        total += (double)g[k] * g[k];
    const double coef = clip / (sqrt(total) + 1e-6);
    /* a NaN norm scales too (every gradient NaN), as strata_clip_grad_norm and PyTorch 1.13's
     * clip_grad_norm_ do: "coef < 1" left the finite gradients to update their parameters */
    for (size_t k = 0; !rc && clip > 0 && !(coef >= 1.0) && k < n; k++)
        g[k] = (float)(g[k] * coef);
    if (!rc)
        rc = host_copy(m, COPY_GRADS, 0, g, &gb);
    if (!rc) /* the step has not changed the buffers yet: rank 0's go with its gradients */
        rc = dist_broadcast_buffers(m, h);
    return rc;
}

strata_status dist_broadcast_buffers(strata_model *m, dist_host *h)
{
    unsigned char *buf = NULL;
    size_t bb = 0;
    strata_status rc = host_read(m, h, COPY_BUFFERS, &buf, &bb);
    if (!rc && bb) {
        dist_broadcast(buf, bb);
        rc = host_copy(m, COPY_BUFFERS, 0, buf, &bb);
    }
    return rc;
}

/* FNV-1a of @p n bytes, going on from @p hash */
static uint64_t fnv1a(uint64_t hash, const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        hash = (hash ^ p[k]) * 1099511628211ull;
    return hash;
}

int dist_check_replicas(strata_model *m, dist_host *h, const char *what, const char *when, int64_t n)
{
    if (dist_size() <= 1)
        return 0;
    char at[64];
    snprintf(at, sizeof at, n >= 0 ? "%s %lld" : "%s", when, (long long)n);
    when = at;
    unsigned char *p = NULL;
    size_t bytes = 0;
    uint64_t hash = 1469598103934665603ull, h0; /* of every byte of the parameters, then of the buffers */
    strata_status rc = host_read(m, h, COPY_PARAMS, &p, &bytes);
    if (!rc)
        hash = fnv1a(hash, p, bytes);
    if (!rc && !(rc = host_read(m, h, COPY_BUFFERS, &p, &bytes)))
        hash = fnv1a(hash, p, bytes);
    if (dist_any(rc != 0)) /* agreed first: a rank that failed alone must not leave the others waiting below */
        return rc ? cli_fail("reading the parameters", rc) : 1;
    h0 = hash;
    dist_broadcast(&h0, sizeof h0);
    if (hash != h0)
        fprintf(stderr, "strata: error: rank %d: its %s are not rank 0's %s\n", dist_rank(), what, when);
    if (dist_any(hash != h0)) {
        if (dist_is_root() && strncmp(when, "after", 5))
            fprintf(stderr, "strata: error: the ranks' %s differ %s: they must build the same model from the same "
                            "spec and seed and, resuming, read the same checkpoint (is the run directory on a file "
                            "system every rank sees?)\n",
                    what, when);
        else if (dist_is_root()) /* equal before, equal steps: only different arithmetic parts them */
            fprintf(stderr, "strata: error: the ranks' %s differ %s: the ranks computed the same step "
                            "differently (different backends or builds on different machines?), or this is a bug "
                            "in strata: please report it with the command\n",
                    what, when);
        return 1;
    }
    return 0;
}

int run_check_replicas(run_ctx *r, const char *when, int64_t n)
{
    return dist_check_replicas(r->model, &r->dist, "parameters", when, n);
}

strata_status dist_mean_loss(strata_runtime *rt, const dist_rng_mark *mark, int64_t n, int64_t b, double *lv)
{
    if (dist_size() <= 1)
        return STRATA_OK;
    double s[2] = {n ? *lv * (double)n : 0.0, n ? dist_rng_drawn(rt, mark) : 0.0};
    if (dist_sum_f64(s, 2))
        return STRATA_E_BACKEND;
    *lv = s[0] / (double)b;
    dist_rng_join(rt, mark, s[1]);
    return STRATA_OK;
}

strata_status dist_shard(strata_runtime *rt, strata_tensor *x, strata_tensor **xs, int64_t *n)
{
    int64_t lo, hi;
    dist_share(strata_tensor_dim(x, 0), &lo, &hi);
    if (n)
        *n = hi - lo;
    if (hi == lo)
        lo = 0, hi = 1;
    *xs = NULL;
    strata_attr a[3] = {strata_attr_int("axis", 0), strata_attr_int("start", lo), strata_attr_int("end", hi)};
    return strata_op_call(rt, "core::slice", &x, 1, a, 3, xs, 1);
}

void dist_rng_own(strata_runtime *rt, dist_rng_mark *m)
{
    strata_runtime_rng_state(rt, &m->seed, &m->offset);
    if (dist_size() > 1 && dist_rank())
        strata_runtime_set_rng_state(rt, m->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)dist_rank()), m->offset);
}

double dist_rng_drawn(strata_runtime *rt, const dist_rng_mark *m)
{
    uint64_t key = 0, off = 0;
    strata_runtime_rng_state(rt, &key, &off);
    return (double)(off - m->offset);
}

void dist_rng_join(strata_runtime *rt, const dist_rng_mark *m, double drawn)
{
    if (dist_size() > 1)
        strata_runtime_set_rng_state(rt, m->seed, m->offset + (uint64_t)drawn);
}

/* An image classifier's run_loss_fn: the cross-entropy of the model's
 * logits, and the argmax predictions that match the labels. */
static strata_status classifier_loss(run_ctx *r, strata_tensor *x, strata_tensor *y, strata_tensor **loss,
                                     int64_t *right)
{
    strata_tensor *xi = NULL, *logits = NULL;
    strata_status rc = run_model_input(r, x, &xi);
    if (!rc)
        rc = strata_model_forward(r->model, &xi, 1, &logits, 1, 1);
    if (!rc)
        rc = strata_cross_entropy(r->rt, logits, y, loss);
    if (!rc && right) {
        int prev = strata_set_grad_enabled(r->rt, 0);
        rc = run_count_correct(r, logits, y, right);
        strata_set_grad_enabled(r->rt, prev);
    }
    strata_tensor_release(xi);
    strata_tensor_release(logits);
    return rc;
}

/* The spec's train.accumulate, read once into r->accumulate (1 without a spec). */
static int64_t run_accumulate(run_ctx *r)
{
    if (r->accumulate <= 0 && (!r->spec || strata_spec_get_int(r->spec, "train.accumulate", 1, &r->accumulate)))
        r->accumulate = 1;
    return r->accumulate;
}

/* train.accumulate: the loss of @p x, @p y (the rank's share) as @p k
 * micro-batches, each one's forward and backward pass in turn (the graph
 * and its activations freed after each), their gradients weighted by their
 * rows and added up: the gradient of the whole share's mean loss, waiting
 * for the update. *lv is that mean. */
static strata_status accumulate_share(run_ctx *r, strata_tensor *x, strata_tensor *y, int64_t k, run_loss_fn loss_fn,
                                      int64_t *right, double *lv)
{
    const int64_t rows = strata_tensor_dim(x, 0);
    strata_status rc = STRATA_OK;
    double sum = 0.0;
    k = k < rows ? k : rows; /* the same split: a row each (and no rows * k to overflow) */
    for (int64_t j = 0; !rc && j < k; j++) {
        const int64_t lo = rows * j / k, hi = rows * (j + 1) / k;
        if (hi == lo) /* fewer rows than micro-batches */
            continue;
        strata_attr a[3] = {strata_attr_int("axis", 0), strata_attr_int("start", lo), strata_attr_int("end", hi)};
        strata_attr w = strata_attr_float("alpha", (double)(hi - lo) / (double)rows);
        strata_tensor *xm = NULL, *ym = NULL, *loss = NULL, *scaled = NULL;
        double v = 0.0;
        rc = strata_op_call(r->rt, "core::slice", &x, 1, a, 3, &xm, 1);
        if (!rc)
            rc = strata_op_call(r->rt, "core::slice", &y, 1, a, 3, &ym, 1);
        if (!rc)
            rc = loss_fn(r, xm, ym, &loss, right);
        if (!rc)
            rc = strata_tensor_item(loss, &v);
        sum += v * (double)(hi - lo);
        if (!rc && !isfinite(v)) /* no update will follow: the rest need not run */
            j = k;
        if (!rc && j < k)
            rc = strata_op_call(r->rt, "core::scale", &loss, 1, &w, 1, &scaled, 1);
        if (!rc && j < k)
            rc = strata_backward(strata_runtime_graph(r->rt), scaled);
        strata_tensor_release(scaled);
        strata_tensor_release(loss);
        strata_tensor_release(xm);
        strata_tensor_release(ym);
        strata_graph_reset(strata_runtime_graph(r->rt));
    }
    *lv = sum / (double)rows;
    return rc;
}

strata_status run_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, run_loss_fn loss_fn,
                       int64_t *correct, double *loss_out)
{
    const int dp = dist_size() > 1;
    const int64_t b = strata_tensor_dim(x, 0);
    int64_t n = b, right = 0;
    const int acc = run_accumulate(r) > 1;
    dist_rng_mark mark;
    dist_rng_own(r->rt, &mark); /* each rank draws its own dropout masks */
    strata_tensor *xs = x, *ys = y, *loss = NULL;
    double lv = 0;
    strata_status rc = dp ? dist_shard_xy(r->rt, x, y, &xs, &ys, &n) : STRATA_OK;
    if (!rc && acc) /* the backward passes done: loss stays NULL */
        rc = accumulate_share(r, xs, ys, r->accumulate, loss_fn, correct ? &right : NULL, &lv);
    else if (!rc && !(rc = loss_fn(r, xs, ys, &loss, correct ? &right : NULL)))
        rc = strata_tensor_item(loss, &lv);
    /* the fewest rows a pass saw (a micro-batch of the share: n / K, or 1 when K > n) */
    const int64_t least = acc ? (n >= r->accumulate ? n / r->accumulate : n > 0) : n;
    if (rc && least < 2 && (dp || acc) && strata_model_buffer_count(r->model) > 0) {
        char who[32] = "";
        if (dp)
            snprintf(who, sizeof who, " on rank %d", dist_rank());
        fprintf(stderr, "strata: note: this batch of %lld ran%s in passes of %lld example(s)%s, and batch norm needs 2 "
                        "in training: every batch (the last of an epoch too, which holds what is left of the data "
                        "set) must give each %s 2\n",
                (long long)b, who, (long long)least, acc ? " (train.accumulate)" : "", acc ? "micro-batch" : "rank");
    }
    if (dp) { /* the whole batch's mean loss and right answers, on every rank */
        double s[3] = {n ? lv * (double)n : 0.0, n ? (double)right : 0.0, n ? dist_rng_drawn(r->rt, &mark) : 0.0};
        if (!rc && dist_sum_f64(s, 3))
            rc = STRATA_E_BACKEND;
        lv = s[0] / (double)b;
        right = (int64_t)s[1];
        dist_rng_join(r->rt, &mark, s[2]);
        if (xs != x)
            strata_tensor_release(xs);
        if (ys != y)
            strata_tensor_release(ys);
    }
    /* a non-finite loss never reaches the parameters: they stay the last good state */
    if (!rc && !isfinite(lv)) {
        if (loss_out)
            *loss_out = lv;
        return update_after_backward(r->rt, r->model, r->opt, loss, 0.0, NULL, STRATA_E_NUMERIC);
    }
    if (!rc && acc && dp) /* clipped there, on the summed copy */
        rc = dist_sum_gradients(r->model, &r->dist, (double)n / (double)b, clip);
    if (rc || acc)
        rc = update_after_backward(r->rt, r->model, r->opt, loss, rc || dp ? 0.0 : clip, NULL, rc);
    else
        rc = dist_update(r->rt, r->model, r->opt, &r->dist, loss, clip, (double)n / (double)b);
    if (!rc && loss_out)
        *loss_out = lv;
    if (!rc && correct)
        *correct += right;
    return rc;
}

/* The ranks' devices, "cpu:0, cpu:0" (cli_device_get), for the note below. */
static char dist_devices[256];

/* The device's description, "host CPU (oneDNN 2.6.3, 2 threads)" (cli_device_get). */
static char device_desc[160];

const char *cli_device_description(void)
{
    return device_desc;
}

static void note_description(strata_runtime *rt, const strata_device *dev)
{
    int index = 0;
    sscanf(strata_device_name(dev), "%*[^:]:%d", &index);
    for (int b = 0; b < strata_backend_count(rt); b++) {
        strata_backend_record rec = {.struct_size = sizeof rec};
        const char *d = NULL;
        if (!strata_backend_get(rt, b, &rec) && !strcmp(rec.name, strata_device_backend(dev)) &&
            (d = strata_backend_device_name(rt, b, index)))
            snprintf(device_desc, sizeof device_desc, "%s", d);
    }
}

strata_status cli_device_get(strata_runtime *rt, const char *backend, strata_device **out)
{
    strata_status rc = strata_device_get(rt, backend, 0, out);
    if (!rc && dist_size() <= 1)
        note_description(rt, *out);
    if (rc || dist_size() <= 1)
        return rc;
    /* a data-parallel run on a machine with several devices of the backend:
     * one each, by the rank's place on its machine, unless one was named */
    const char *named = backend && *backend ? backend : getenv("STRATA_BACKEND"); /* as the core reads them */
    const char *name = strata_device_backend(*out);
    int index = 0;
    for (int b = 0; !(named && strchr(named, ':')) && b < strata_backend_count(rt); b++) {
        strata_backend_record rec = {.struct_size = sizeof rec};
        if (!strata_backend_get(rt, b, &rec) && !strcmp(rec.name, name) && rec.device_count > 1) {
            index = dist_local_rank() % rec.device_count;
            rc = strata_device_get(rt, name, index, out);
        }
    }
    if (!rc) {
        sscanf(strata_device_name(*out), "%*[^:]:%d", &index);
        note_description(rt, *out);
    }
    /* every rank's device index, gathered by a sum into its own slot */
    double *at = calloc((size_t)dist_size(), sizeof *at);
    if (!at)
        return STRATA_E_NOMEM;
    at[dist_rank()] = rc ? -1.0 : (double)index;
    if (dist_sum_f64(at, (size_t)dist_size()) && !rc)
        rc = STRATA_E_BACKEND;
    size_t used = 0;
    int k = 0;
    for (; k < dist_size() && used < sizeof dist_devices - 32; k++) {
        used += (size_t)snprintf(dist_devices + used, sizeof dist_devices - used, "%s%s:%d", k ? ", " : "", name,
                                 (int)at[k]);
        used = used < sizeof dist_devices ? used : sizeof dist_devices - 1; /* a long name: cut */
    }
    if (k < dist_size()) /* the rest, counted */
        snprintf(dist_devices + used, sizeof dist_devices - used, " and %d more", dist_size() - k);
    free(at);
    return rc;
}

void run_note_accumulate(run_ctx *r)
{
    if (run_accumulate(r) <= 1)
        return;
    if (r->accumulate > r->batch) /* accumulate_share splits no finer than a row each */
        fprintf(stderr, "strata: note: train.accumulate is %lld, more than the batch of %lld: it runs as micro-batches "
                        "of one example\n",
                (long long)r->accumulate, (long long)r->batch);
    const int64_t k = r->accumulate < r->batch ? r->accumulate : r->batch;
    fprintf(stderr, "strata: each batch of %lld runs as %lld micro-batches (train.accumulate)%s: one forward "
                    "and backward pass at a time, their gradients added up before the step\n",
            (long long)r->batch, (long long)k, dist_size() > 1 ? ", each rank's share" : "");
}

void run_note_data_parallel(int64_t batch, const char *out_dir)
{
    if (dist_size() > 1)
        fprintf(stderr, "strata: data-parallel over %d processes (MPI), on %s: each computes its share of every "
                        "batch of %lld and the gradients are summed; rank 0 writes %s\n",
                dist_size(), dist_devices, (long long)batch, out_dir);
}

strata_status cli_forward_zeros(strata_model *m, strata_device *dev, strata_tensor **in, strata_tensor **outs)
{
    const int n_in = strata_model_input_count(m);
    strata_status rc = STRATA_OK;
    for (int k = 0; k < n_in && !rc; k++) {
        int nd = 0;
        strata_dtype dt = STRATA_F32;
        const int64_t *shape = strata_model_input_shape(m, k, &nd, &dt);
        int64_t full[STRATA_MAX_DIMS + 1] = {1};
        if (shape && nd > 0)
            memcpy(full + 1, shape, sizeof(int64_t) * (size_t)nd);
        rc = strata_tensor_zeros(dev, dt, nd + 1, full, &in[k]);
    }
    return rc ? rc : strata_model_forward_layers(m, in, n_in, outs, 0);
}

/* The layer of @p m whose buffer is @p name (LAYER.running_mean): its index, or -1. */
static int buffer_layer(const strata_model *m, const char *name, size_t len)
{
    for (int j = 0; j < strata_model_layer_count(m); j++) {
        const char *layer = NULL;
        if (!strata_model_layer_info(m, j, &layer, NULL) && layer && strlen(layer) == len && !strncmp(layer, name, len))
            return j;
    }
    return -1;
}

strata_tensor **cli_layer_outputs(strata_runtime *rt, strata_model *m)
{
    const int L = strata_model_layer_count(m), n_in = strata_model_input_count(m);
    strata_tensor **outs = calloc((size_t)L + 1, sizeof *outs), **in = calloc((size_t)n_in + 1, sizeof *in);
    const int prev = strata_set_grad_enabled(rt, 0);
    if (!outs || !in || cli_forward_zeros(m, strata_model_device(m), in, outs)) {
        cli_layer_outputs_free(m, outs);
        outs = NULL;
    }
    strata_set_grad_enabled(rt, prev);
    strata_clear_error();
    for (int j = 0; in && j < n_in; j++)
        strata_tensor_release(in[j]);
    free(in);
    return outs;
}

void cli_layer_outputs_free(const strata_model *m, strata_tensor **outs)
{
    for (int j = 0; outs && j < strata_model_layer_count(m); j++)
        strata_tensor_release(outs[j]);
    free(outs);
}

int64_t cli_batch_norm_values(strata_runtime *rt, strata_model *m)
{
    static const char suffix[] = ".running_mean";
    const size_t k = sizeof suffix - 1;
    int64_t least = 0;
    int ran = 0;
    strata_tensor **outs = NULL;
    for (int i = 0; i < strata_model_buffer_count(m); i++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        size_t n = 0;
        if (strata_model_buffer(m, i, &name, &t) || !name || (n = strlen(name)) <= k || strcmp(name + n - k, suffix))
            continue;
        if (!ran++) /* the layers' shapes, once; unknown (1 below) when the model cannot run */
            outs = cli_layer_outputs(rt, m);
        const int j = outs ? buffer_layer(m, name, n - k) : -1;
        int64_t values = 1; /* of the layer's output (1, C, ...) */
        for (int d = 2; j >= 0 && outs[j] && d < strata_tensor_ndim(outs[j]); d++)
            values *= strata_tensor_shape(outs[j])[d];
        least = !least || values < least ? values : least;
    }
    cli_layer_outputs_free(m, outs);
    return least;
}

/* The fewest examples a training pass over a batch of @p b sees: the
 * smallest rank's share (dist_share: b / size; an empty share still runs
 * row 0), then its smallest micro-batch of @p k (accumulate_share). */
static int64_t run_least_pass(int64_t b, int64_t k)
{
    const int64_t share = b / dist_size();
    if (share == 0)
        return 1;
    return k > 1 && share >= k ? share / k : k > 1 ? 1 : share;
}

int64_t cli_epochs_for_steps(const strata_spec *s, int64_t steps, int64_t per_epoch, int64_t epochs,
                             int64_t cli_epochs, int cli_steps, int quiet)
{
    if (steps <= 0 || per_epoch <= 0)
        return epochs;
    const int64_t need = (steps + per_epoch - 1) / per_epoch;
    if (cli_epochs > 0)
        return cli_epochs < need ? cli_epochs : need;
    int64_t spec_epochs = 0;
    const int both = !cli_steps && strata_spec_get_int(s, "train.epochs", 0, &spec_epochs) == STRATA_OK;
    strata_clear_error();
    if (both && spec_epochs != need && !quiet && dist_is_root())
        fprintf(stderr, "strata: note: %s: train.steps %lld takes %lld epoch%s of %lld batches, not train.epochs %lld: "
                        "the steps decide the run's length (--epochs N caps it)\n",
                strata_spec_path(s), (long long)steps, (long long)need, need == 1 ? "" : "s", (long long)per_epoch,
                (long long)spec_epochs);
    return need;
}

void cli_note_defaults(const strata_spec *s, int quiet, int resuming)
{
    const char *defaults = strata_spec_defaults(s);
    if (!quiet && !resuming && defaults && *defaults && dist_is_root())
        fprintf(stderr, "strata: defaults applied:\n%s", defaults);
}

int run_check_batch_norm(run_ctx *r, const char *spec_path, int64_t examples, int64_t batch, int drop_last,
                         int64_t max_steps)
{
    /* a layer that sees 2 or more values a channel in each example (batch_norm2d on H x W) takes passes of 1 */
    if (batch <= 0 || examples <= 0 || cli_batch_norm_values(r->rt, r->model) != 1)
        return 0;
    const int64_t per_epoch = (examples + batch - 1) / batch;
    /* a run that stops (train.steps, --steps) before its first epoch ends never reaches the last batch */
    const int64_t k = run_accumulate(r),
                  last = drop_last || (max_steps > 0 && max_steps < per_epoch) ? 0 : examples % batch;
    const int64_t full = examples >= batch ? batch : 0;
    const int64_t bad = full && run_least_pass(full, k) < 2 ? full : last && run_least_pass(last, k) < 2 ? last : 0;
    if (!bad)
        return 0;
    if (dist_is_root()) { /* every rank finds the same and stops here */
        char how[160] = "";
        if (dist_size() > 1)
            snprintf(how, sizeof how, " split over %d processes", dist_size());
        if (k > 1)
            snprintf(how + strlen(how), sizeof how - strlen(how), "%s in %lld micro-batches (train.accumulate)",
                     dist_size() > 1 ? " and" : "", (long long)k);
        if (bad == full)
            fprintf(stderr, "strata: error: %s: batch norm needs at least 2 examples in a training pass, and a batch "
                            "of %lld (train.batch_size)%s gives passes of %lld: give a larger train.batch_size%s\n",
                    spec_path, (long long)full, how, (long long)run_least_pass(full, k),
                    dist_size() > 1 && k > 1 ? ", fewer processes or a smaller train.accumulate"
                    : dist_size() > 1        ? " or fewer processes"
                    : k > 1                  ? " or a smaller train.accumulate"
                                             : "");
        else
            fprintf(stderr, "strata: error: %s: batch norm needs at least 2 examples in a training pass, and the last "
                            "batch of each epoch holds %lld (%lld training examples, train.batch_size %lld)%s, "
                            "giving passes of %lld: set train.drop_last: true to leave that batch out (as PyTorch's "
                            "DataLoader(drop_last=True) does), or choose another train.batch_size\n",
                    spec_path, (long long)last, (long long)examples, (long long)batch, how,
                    (long long)run_least_pass(last, k));
    }
    dist_settled();
    return 2;
}

strata_status cli_copy_tensor(strata_runtime *rt, strata_tensor *dst, strata_tensor *src)
{
    strata_op_invocation inv = {.struct_size = sizeof inv, .op = "core::copy",
                                .flags = STRATA_INVOKE_OUTPUTS_PROVIDED, .inputs = &src, .n_inputs = 1,
                                .outputs = &dst, .n_outputs = 1};
    return strata_op_invoke(rt, &inv);
}

/* The model's buffers into the copies @p b (or, @p back, the copies into the model). */
static strata_status buffers_copy(strata_runtime *rt, strata_model *m, const run_buffers *b, int back)
{
    strata_status rc = STRATA_OK;
    const int prev = strata_set_grad_enabled(rt, 0);
    for (int k = 0; k < b->n && !rc; k++) {
        strata_tensor *t = NULL;
        if (!(rc = strata_model_buffer(m, k, NULL, &t)))
            rc = back ? cli_copy_tensor(rt, t, b->t[k]) : cli_copy_tensor(rt, b->t[k], t);
    }
    strata_set_grad_enabled(rt, prev);
    return rc;
}

strata_status run_buffers_keep(strata_runtime *rt, strata_model *m, run_buffers *b)
{
    const int n = strata_model_buffer_count(m);
    if (!n)
        return STRATA_OK;
    if (!b->t) {
        if (!(b->t = calloc((size_t)n, sizeof *b->t)))
            return STRATA_E_NOMEM;
        b->n = n;
        for (int k = 0; k < n; k++) {
            strata_tensor *t = NULL;
            strata_status rc = strata_model_buffer(m, k, NULL, &t);
            if (rc || (rc = strata_tensor_zeros(strata_tensor_device(t), strata_tensor_dtype(t), strata_tensor_ndim(t),
                                                strata_tensor_shape(t), &b->t[k])))
                return rc;
        }
    }
    return buffers_copy(rt, m, b, 0);
}

strata_status run_buffers_restore(strata_runtime *rt, strata_model *m, const run_buffers *b)
{
    return buffers_copy(rt, m, b, 1);
}

void run_buffers_free(run_buffers *b)
{
    for (int k = 0; k < b->n; k++)
        strata_tensor_release(b->t[k]);
    free(b->t);
    b->t = NULL;
    b->n = 0;
}

strata_status run_train_step(run_ctx *r, strata_tensor *x, strata_tensor *y, double clip, int64_t *correct,
                             double *loss_out)
{
    return run_step(r, x, y, clip, classifier_loss, correct, loss_out);
}

/* mkdir -p: 0, or 1 after a message naming the directory (also when a file of
 * that name is in the way). */
int cli_make_dir(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        fprintf(stderr, "strata: error: cannot create directory %s: path too long\n", dir);
        return 1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0777);
            *p = '/';
        }
    }
    struct stat st;
    if ((mkdir(buf, 0777) != 0 && errno != EEXIST) || stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "strata: error: cannot create directory %s: %s\n", dir,
                errno == EEXIST ? "a file of that name exists" : strerror(errno));
        return 1;
    }
    return 0;
}

/* The runtime cli_spec_kind made to read the spec, kept for the command's
 * own (cli_runtime_create): made with the default options, it has loaded a
 * spec and nothing else, so it is what a new one would be, without a second
 * discovery of every plugin (0.1 s with PoCL's device discovery). */
static strata_runtime *parked_rt;

strata_status cli_runtime_create(uint64_t seed, strata_runtime **out)
{
    if (!parked_rt) {
        strata_runtime_options o = {.struct_size = sizeof o, .seed = seed};
        return strata_runtime_create(&o, out);
    }
    *out = parked_rt;
    parked_rt = NULL;
    if (seed) /* else it still has the default seed, its generator unused */
        strata_runtime_seed(*out, seed);
    return STRATA_OK;
}

void cli_runtime_release_parked(void)
{
    strata_runtime_destroy(parked_rt);
    parked_rt = NULL;
}

int cli_spec_kind(const char *path, char *format, size_t format_size, char *task, size_t task_size)
{
    format[0] = 0;
    task[0] = 0;
    strata_runtime_options o = {.struct_size = sizeof o};
    strata_runtime *rt = NULL;
    strata_spec *s = NULL;
    int r = 0;
    strata_status rc = strata_runtime_create(&o, &rt);
    if (rc) /* reported here: the command's own runtime might not hit it again (STRATA_FAULT_ALLOC=N) */
        r = cli_fail("creating the runtime", rc);
    else if ((r = cli_spec_load(rt, path, &s)) == 0) {
        const char *f = NULL;
        strata_spec_get_string(s, "data.format", "idx", &f);
        snprintf(format, format_size, "%s", f ? f : "idx");
        f = NULL;
        strata_spec_get_string(s, "task", "", &f);
        snprintf(task, task_size, "%s", f ? f : "");
    }
    strata_spec_destroy(s);
    if (r == 0) {
        cli_runtime_release_parked();
        parked_rt = rt;
    } else {
        strata_runtime_destroy(rt);
    }
    strata_clear_error();
    return r;
}

int cli_checkpoint_spec(const char *checkpoint, char *out, size_t size, const char **how)
{
    if (train_spec_beside(checkpoint, out, size)) {
        *how = "the run's";
        return 1;
    }
    char file[4200];
    struct stat st;
    const int is_dir = stat(checkpoint, &st) == 0 && S_ISDIR(st.st_mode);
    snprintf(file, sizeof file, is_dir ? "%s/checkpoint.safetensors" : "%s", checkpoint);
    if (strata_checkpoint_metadata(file, "memnet.spec", out, size) == STRATA_OK) {
        *how = "the one the checkpoint records";
        return 1;
    }
    strata_clear_error();
    return 0;
}

const char *cli_implied_spec, *cli_implied_how;

/* The spec named on a train/eval command line, read with the line's --set
 * overrides (which may repair the spec as written): cli_spec_kind. */
int cli_data_format(int argc, char **argv, char *buf, size_t size, char *task, size_t task_size, const char **spec)
{
    task[0] = 0;
    buf[0] = 0;
    const char *path = NULL, *spec_opt = NULL, *checkpoint = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && strncmp(argv[i + 1], "--", 2) &&
            cli_n_sets < CLI_MAX_SETS)
            cli_sets[cli_n_sets++] = argv[i + 1];
        /* a value that is an option is a forgotten one, which the command's parser says (cli_parse) */
        const int value = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0;
        if (value && !strcmp(argv[i], "--spec"))
            spec_opt = argv[i + 1];
        if (value && !strcmp(argv[i], "--checkpoint"))
            checkpoint = argv[i + 1];
        if (argv[i][0] == '-' && argv[i][1])
            i += !cli_is_flag(argv[i]) && value; /* an option with a value: skip the value */
        else if (!path)
            path = argv[i];
    }
    /* no SPEC: `--spec SPEC`, else the run's spec.yaml beside --checkpoint, tell the trainer (a memory network's
     * eval, whose --spec and default were refused as options of the classifier's before) */
    static char implied[4200];
    cli_implied_spec = NULL;
    if (!path && !spec_opt && checkpoint && cli_checkpoint_spec(checkpoint, implied, sizeof implied, &cli_implied_how))
        path = cli_implied_spec = implied;
    else if (!path)
        path = spec_opt;
    *spec = path;
    int r = path ? cli_spec_kind(path, buf, size, task, task_size) : 0;
    cli_n_sets = 0; /* the command's own option parser collects them again */
    return r;
}

int cli_checkpoint_present(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 0;
    fprintf(stderr, "strata: error: checkpoint %s: %s\n", path, strerror(errno));
    cli_hint_missing_file(path, "");
    return 1;
}

int cli_check_checkpoint(const char *path)
{
    if (cli_checkpoint_present(path))
        return 1;
    struct stat st = {0};
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "strata: error: checkpoint %s: not a regular file%s\n", path,
                S_ISDIR(st.st_mode) ? " (a run directory? its checkpoint is DIR/checkpoint.safetensors)" : "");
        return 1;
    }
    return 0;
}

const char *cli_shape_text(char *buf, size_t size, const int64_t *shape, int nd)
{
    buf[0] = '\0';
    for (int k = 0; shape && k < nd; k++)
        snprintf(buf + strlen(buf), size - strlen(buf), k ? ", %lld" : "%lld", (long long)shape[k]);
    return buf;
}

const char *cli_class_name(const strata_spec *s, int64_t k)
{
    char key[48];
    const char *v = NULL;
    snprintf(key, sizeof key, "data.classes.%lld", (long long)k);
    if (strata_spec_get_string(s, key, NULL, &v) != STRATA_OK)
        v = NULL;
    strata_clear_error();
    return v;
}

int cli_class_names(const strata_spec *s, int64_t n_out, const char ***names)
{
    *names = NULL;
    int64_t n = 0;
    while (cli_class_name(s, n))
        n++;
    if (!n)
        return 0;
    if (n != n_out) {
        fprintf(stderr, "strata: error: %s: data.classes names %lld classes, the model gives %lld\n",
                strata_spec_path(s), (long long)n, (long long)n_out);
        return 1;
    }
    *names = calloc((size_t)n, sizeof **names);
    if (!*names) {
        fprintf(stderr, "strata: error: out of memory\n");
        return 1;
    }
    for (int64_t k = 0; k < n; k++)
        (*names)[k] = cli_class_name(s, k);
    return 0;
}

int cli_load_checkpoint(const char *path, strata_model *m)
{
    strata_status rc = strata_checkpoint_load(path, m, NULL);
    if (!rc)
        return 0;
    char what[4200];
    snprintf(what, sizeof what, "loading the checkpoint %s", path);
    return cli_fail_file(what, rc, path);
}

/* data.mean or data.std: a number (or none: @p dflt) into out[0], or a list
 * of them; returns how many. */
static int scaling_values(const strata_spec *s, const char *key, double dflt, double *out)
{
    int n = 0;
    if (strata_spec_get_float(s, key, dflt, out) != STRATA_E_FORMAT)
        n = 1; /* a number, or none */
    else
        for (char path[48]; n < CLI_MAX_CHANNELS; n++) {
            snprintf(path, sizeof path, "%s.%d", key, n);
            if (strata_spec_get_float(s, path, dflt, &out[n]) != STRATA_OK)
                break;
        }
    strata_clear_error();
    return n ? n : (out[0] = dflt, 1);
}

cli_scaling cli_data_scaling(const strata_spec *s)
{
    const char *format = "idx";
    strata_spec_get_string(s, "data.format", "idx", &format);
    cli_scaling c = {.scale = format && !strcmp(format, "safetensors") ? 1.0 : 255.0, .n = 1};
    strata_spec_get_float(s, "data.scale", c.scale, &c.scale);
    const int nm = scaling_values(s, "data.mean", 0.0, c.mean), ns = scaling_values(s, "data.std", 1.0, c.std);
    c.n = nm > ns ? nm : ns; /* the checker made lists of both the same length */
    for (int k = 1; k < c.n; k++) { /* a single number for every channel */
        c.mean[k] = nm == 1 ? c.mean[0] : c.mean[k];
        c.std[k] = ns == 1 ? c.std[0] : c.std[k];
    }
    return c;
}

int cli_scaling_plain(const cli_scaling *sc)
{
    for (int k = 0; k < sc->n; k++)
        if (sc->mean[k] != 0.0 || sc->std[k] != 1.0)
            return 0;
    return 1;
}

double cli_byte_to_value(const cli_scaling *sc, int64_t c, double px)
{
    const int k = (int)(c % sc->n);
    return (px / sc->scale - sc->mean[k]) / sc->std[k];
}

double cli_value_to_byte(const cli_scaling *sc, int64_t c, double v)
{
    const int k = (int)(c % sc->n);
    return (v * sc->std[k] + sc->mean[k]) * sc->scale;
}

strata_status cli_normalize(strata_dataset *d, const cli_scaling *sc)
{
    return cli_scaling_plain(sc) ? STRATA_OK : strata_dataset_normalize_channels(d, sc->n, sc->mean, sc->std);
}

void cli_dataset_range(const strata_dataset *d, float *lo, float *hi)
{
    int dn = 0;
    const int64_t *ds = strata_dataset_shape(d, &dn);
    int64_t n = strata_dataset_size(d);
    for (int k = 0; k < dn; k++)
        n *= ds[k];
    const float *x = n ? strata_dataset_x(d, 0) : NULL;
    *lo = *hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        *lo = i == 0 || x[i] < *lo ? x[i] : *lo;
        *hi = i == 0 || x[i] > *hi ? x[i] : *hi;
    }
}

double cli_pixel_factor(float lo, float hi)
{
    if (!(lo >= 0.0f && hi <= 255.0f))
        return 0.0;
    return hi <= 1.0f ? 255.0 : 1.0;
}

int cli_byte_scaling(const strata_spec *s, cli_scaling *out)
{
    *out = cli_data_scaling(s);
    const char *format = "idx";
    strata_spec_get_string(s, "data.format", "idx", &format);
    if (!format || strcmp(format, "safetensors"))
        return 0;
    strata_dataset *train = NULL;
    strata_status rc = cli_load_split(s, "train", 1.0, &train);
    if (rc) {
        if (rc == STRATA_E_NOT_FOUND)
            fprintf(stderr, "strata: error: %s: the spec has no data.train.file, whose range says how pixels scale\n",
                    strata_spec_path(s));
        return rc == STRATA_E_NOT_FOUND ? 1 : cli_fail("reading the training inputs (their range)", rc);
    }
    float lo = 0.0f, hi = 0.0f;
    cli_dataset_range(train, &lo, &hi);
    lo = lo < 0.0f ? lo : 0.0f; /* (0 counts: an all-white set is still pixels) */
    strata_dataset_destroy(train);
    const double factor = cli_pixel_factor(lo, hi);
    if (!factor) {
        fprintf(stderr, "strata: error: %s: the training inputs range over [%g, %g], not pixel values in [0, 1] or "
                        "[0, 255]: images cannot be scaled as they were\n",
                strata_spec_path(s), (double)lo, (double)hi);
        return 1;
    }
    out->scale *= factor;
    return 0;
}
