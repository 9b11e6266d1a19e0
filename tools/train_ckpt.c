/* train_ckpt.c - periodic checkpoints of `strata train` and --resume: the
 * training position (step, epoch, batch within it, the running sums of the
 * epoch's record) and the runtime's random state travel in the checkpoint's
 * metadata ("train.state"), so a resumed run draws the same batches and the
 * same dropout masks as an uninterrupted one. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "dist.h"
#include "write_atomic.h"

#define CKPT_NAME "checkpoint.safetensors"

static void ckpt_path(char *buf, size_t n, const char *dir, const char *file)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

/* A new run in a directory that holds an earlier run's files: those it
 * replaces before it has a checkpoint of its own (spec.yaml, metrics.jsonl,
 * best.safetensors; summary.json and report.html, which would describe the
 * earlier run beside this one's checkpoint if it were killed; a GAN's
 * average and sample grids) wait as FILE.replaced until its first
 * checkpoint, and go back if it ends without one (train_replaced_settle). A
 * run that fails to start must not leave the earlier checkpoint beside its
 * spec and an emptied history. */
static const char *const replaceable[] = {"spec.yaml",    "spec.prev.yaml", "metrics.jsonl",
                                          "best.safetensors", "summary.json", "report.html",
                                          "generator_ema.safetensors", "samples"};
#define N_REPLACEABLE ((int)(sizeof replaceable / sizeof *replaceable))
#define NAMES_CAP 160 /* the names put back, joined for a note */
static struct {
    char dir[4096];
    const char *names[N_REPLACEABLE];
    int n;
} replaced;

/* Removes @p path: a file, or a folder of files (samples/) with them. */
static void remove_entry(const char *path)
{
    if (remove(path) == 0)
        return;
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        char f[4600];
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            snprintf(f, sizeof f, "%s/%s", path, e->d_name) < (int)sizeof f)
            remove(f);
    }
    if (d)
        closedir(d);
    remove(path);
}

/* dir/name (if there) to dir/name.replaced. A FILE.replaced already there
 * is the earlier run's, left by a run that was killed before its first
 * checkpoint: it stays, and that run's file goes. */
void train_replaced_keep(const char *dir, const char *name)
{
    char from[4200], to[4300];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s.replaced", from);
    if (!dist_is_root() || replaced.n == N_REPLACEABLE || (replaced.n && strcmp(replaced.dir, dir)))
        return;
    if (access(to, F_OK) == 0)
        remove_entry(from); /* (a killed run's samples/ too: its grids are not this run's) */
    else if (rename(from, to) != 0)
        return; /* nothing there: nothing to put back */
    snprintf(replaced.dir, sizeof replaced.dir, "%s", dir);
    replaced.names[replaced.n++] = name;
}

/* dir/NAME.replaced back in place of dir/NAME for each of @p names that has
 * one; the names put back are listed in @p back (NAMES_CAP) */
static void replaced_put_back(const char *dir, const char *const *names, int n, char back[NAMES_CAP])
{
    back[0] = 0;
    for (int k = 0; k < n; k++) {
        char path[4200], kept[4300];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        snprintf(kept, sizeof kept, "%s.replaced", path);
        if (access(kept, F_OK) != 0)
            continue;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) /* the failed run's samples/: renaming onto it fails */
            remove_entry(path);
        if (rename(kept, path) == 0)
            snprintf(back + strlen(back), NAMES_CAP - strlen(back), "%s%s", back[0] ? ", " : "", names[k]);
        else
            fprintf(stderr, "strata: warning: cannot put %s back in place of %s: %s\n", kept, path, strerror(errno));
    }
}

void train_replaced_recover(const char *dir)
{
    if (!dist_is_root() || !dir)
        return;
    char back[NAMES_CAP];
    replaced_put_back(dir, replaceable, N_REPLACEABLE, back);
    if (back[0])
        fprintf(stderr, "strata: note: %s: the checkpoint's run's %s are back in place (a run started over it was "
                        "stopped before its first checkpoint)\n",
                dir, back);
}

/* the kept files removed (@p back 0) or put back in place (1) */
static void replaced_end(int back)
{
    char names[NAMES_CAP] = "";
    if (back)
        replaced_put_back(replaced.dir, replaced.names, replaced.n, names);
    for (int k = 0; !back && k < replaced.n; k++) {
        char kept[4300];
        snprintf(kept, sizeof kept, "%s/%s.replaced", replaced.dir, replaced.names[k]);
        remove_entry(kept);
    }
    if (names[0])
        fprintf(stderr, "strata: note: %s: the earlier run's %s are back in place (this run ended before its first "
                        "checkpoint)\n",
                replaced.dir, names);
    replaced.n = 0;
}

void train_replaced_settle(int status)
{
    replaced_end(status != 0);
}

strata_status train_ckpt_save(const char *dir, strata_model *m, strata_optimizer *opt, const train_state *s)
{
    return train_ckpt_save_file(dir, CKPT_NAME, m, opt, s);
}

int train_ckpt_load(const char *dir, strata_model *m, strata_optimizer *opt, train_state *s)
{
    return train_ckpt_load_file(dir, CKPT_NAME, m, opt, s);
}

int train_extra_set_u64(json_t *extra, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_object_set_new(extra, key, json_string(buf));
}

static int get_u64(json_t *o, const char *key, uint64_t *out);

int train_extra_get_u64(json_t *extra, const char *key, uint64_t *v)
{
    return get_u64(extra, key, v);
}

strata_status train_ckpt_save_file(const char *dir, const char *file, strata_model *m, strata_optimizer *opt,
                                   const train_state *s)
{
    return train_ckpt_save_meta(dir, file, m, opt, s, NULL);
}

/* train_ckpt_part: the file saved does not commit a checkpoint yet */
static int ckpt_part;

strata_status train_ckpt_save_meta(const char *dir, const char *file, strata_model *m, strata_optimizer *opt,
                                   const train_state *s, json_t *more)
{
    if (!dist_is_root() || train_untrained_stop(s->step)) /* rank 0's files; nothing trained: nothing saved */
        return STRATA_OK;
    /* uint64 and doubles as strings: JSON integers are signed, and "%.17g"
     * gives back the same double */
    char seed[32], off[32], dseed[32], sum[40];
    snprintf(seed, sizeof seed, "%" PRIu64, s->rng_seed);
    snprintf(off, sizeof off, "%" PRIu64, s->rng_offset);
    snprintf(dseed, sizeof dseed, "%" PRIu64, s->data_seed);
    snprintf(sum, sizeof sum, "%.17g", s->sum_loss);
    json_t *st = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "step", (json_int_t)s->step, "epoch",
                           (json_int_t)s->epoch, "batch", (json_int_t)s->batch, "rng_seed", seed, "rng_offset", off,
                           "data_seed", dseed, "sum_loss", sum, "correct", (json_int_t)s->correct, "seen",
                           (json_int_t)s->seen, "batch_size", (json_int_t)s->batch_size, "backend", strata_device_backend(strata_model_device(m)));
    if (st && s->per_epoch > 0) {
        json_object_set_new(st, "examples", json_integer((json_int_t)s->examples));
        json_object_set_new(st, "per_epoch", json_integer((json_int_t)s->per_epoch));
    }
    if (st && s->epochs > 0) {
        json_object_set_new(st, "epochs", json_integer((json_int_t)s->epochs));
        json_object_set_new(st, "epochs_cli", json_boolean(s->epochs_cli));
    }
    if (st) /* a device of another description (threads, library) may round differently */
        json_object_set_new(st, "device", json_string(cli_device_description()));
    if (st && s->extra)
        json_object_set(st, "extra", s->extra);
    /* "epoch" and "step" as before: epochs completed, steps done */
    char ep[32], stp[32];
    snprintf(ep, sizeof ep, "%lld", (long long)s->epoch);
    snprintf(stp, sizeof stp, "%lld", (long long)s->step);
    json_t *meta = st ? json_pack("{s:s, s:s, s:o}", "epoch", ep, "step", stp, "train.state", st) : NULL;
    if (meta && more && json_object_update_missing(meta, more) != 0) {
        json_decref(meta);
        meta = NULL;
    }
    char *txt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!txt)
        return STRATA_E_NOMEM;
    char path[4200];
    ckpt_path(path, sizeof path, dir, file);
    strata_status rc = strata_checkpoint_save(path, m, opt, txt);
    free(txt);
    if (!rc && !ckpt_part) /* the run has a checkpoint of its own: the earlier run's files go */
        replaced_end(0);
    if (!rc && !ckpt_part)
        cli_test_after_checkpoint();
    return rc;
}

void train_ckpt_part(int part)
{
    ckpt_part = part;
}

static int get_u64(json_t *o, const char *key, uint64_t *out)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || !*v || *v == '-' || *v == '+' || *v == ' ') /* (strtoull would take "-1" as 2^64 - 1) */
        return -1;
    char *end;
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno || *end ? -1 : 0;
}

int train_ckpt_read_state(const char *dir, const char *file, train_state *s, int quiet)
{
    char path[4200];
    ckpt_path(path, sizeof path, dir, file);
    memset(s, 0, sizeof *s);
    char buf[16384];
    strata_status rc = strata_checkpoint_metadata(path, "train.state", buf, sizeof buf);
    if (rc) {
        if (quiet)
            return 1;
        if (rc == STRATA_E_NOT_FOUND && access(path, F_OK) == 0)
            fprintf(stderr,
                    "strata: error: %s has no training state (train.state); it was not written by `strata train` "
                    "of this version and cannot be resumed\n",
                    path);
        else if (access(path, F_OK) != 0)
            fprintf(stderr, "strata: error: cannot resume from %s: there is no %s in it (%s)\n", dir, file,
                    strerror(errno));
        else
            fprintf(stderr, "strata: error: reading %s: %s: %s\n", path, strata_status_name(rc), strata_last_error());
        return 1;
    }
    json_error_t err;
    json_t *o = json_loads(buf, 0, &err);
    double sum = 0;
    const char *sum_s = json_string_value(json_object_get(o, "sum_loss"));
    char *sum_end = NULL;
    if (sum_s)
        sum = strtod(sum_s, &sum_end);
    json_t *extra = json_object_get(o, "extra");
    /* counts are never negative (a batch size of 0: not recorded, as by older versions) */
    int counts_ok = 1;
    static const char *const counts[] = {"step",       "epoch",  "batch",    "correct",  "seen",
                                         "batch_size", "epochs", "examples", "per_epoch"};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0] && json_is_object(o); k++) {
        json_t *v = json_object_get(o, counts[k]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
            counts_ok = 0;
    }
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "step")) ||
        !json_is_integer(json_object_get(o, "epoch")) || !json_is_integer(json_object_get(o, "batch")) ||
        !counts_ok || get_u64(o, "rng_seed", &s->rng_seed) || get_u64(o, "rng_offset", &s->rng_offset) ||
        get_u64(o, "data_seed", &s->data_seed) || !sum_s || sum_end == sum_s || *sum_end || !isfinite(sum) ||
        (extra && !json_is_object(extra))) {
        if (!quiet)
            fprintf(stderr, "strata: error: %s: malformed train.state metadata: %s\n", path, buf);
        json_decref(o);
        return 1;
    }
    s->step = json_integer_value(json_object_get(o, "step"));
    s->epoch = json_integer_value(json_object_get(o, "epoch"));
    s->batch = json_integer_value(json_object_get(o, "batch"));
    s->correct = json_integer_value(json_object_get(o, "correct"));
    s->seen = json_integer_value(json_object_get(o, "seen"));
    s->batch_size = json_integer_value(json_object_get(o, "batch_size"));
    s->epochs = json_integer_value(json_object_get(o, "epochs"));
    s->epochs_cli = json_is_true(json_object_get(o, "epochs_cli"));
    s->examples = json_integer_value(json_object_get(o, "examples"));
    s->per_epoch = json_integer_value(json_object_get(o, "per_epoch"));
    s->sum_loss = sum;
    const char *be = json_string_value(json_object_get(o, "backend"));
    snprintf(s->backend, sizeof s->backend, "%s", be ? be : "");
    const char *dn = json_string_value(json_object_get(o, "device"));
    snprintf(s->device, sizeof s->device, "%s", dn ? dn : "");
    s->extra = extra ? json_incref(extra) : NULL;
    json_decref(o);
    if (s->step < 0 || s->epoch < 0 || s->batch < 0) {
        if (!quiet)
            fprintf(stderr, "strata: error: %s: negative position in train.state\n", path);
        json_decref(s->extra);
        s->extra = NULL;
        return 1;
    }
    return 0;
}

int train_ckpt_load_file(const char *dir, const char *file, strata_model *m, strata_optimizer *opt, train_state *s)
{
    if (train_ckpt_read_state(dir, file, s, 0))
        return 1;
    char path[4200];
    ckpt_path(path, sizeof path, dir, file);
    strata_status rc = strata_checkpoint_load(path, m, opt);
    if (rc) {
        json_decref(s->extra);
        s->extra = NULL;
        return cli_fail("loading the checkpoint to resume", rc);
    }
    /* NaN weights: training would stop at its first step, blaming the learning rate */
    if (cli_refuse_nonfinite_params(m, path, "it cannot be resumed")) {
        json_decref(s->extra);
        s->extra = NULL;
        return 1;
    }
    return 0;
}

int cli_refuse_nonfinite_params(const strata_model *m, const char *path, const char *consequence)
{
    int n = strata_model_param_count(m);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        strata_tensor *t = NULL;
        if (strata_model_param(m, i, &name, &t) || strata_tensor_dtype(t) != STRATA_F32)
            continue;
        int64_t numel = strata_tensor_numel(t), bad = 0;
        float *v = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
        if (!v || strata_tensor_read(t, v, sizeof(float) * (size_t)numel)) {
            free(v);
            strata_clear_error();
            continue;
        }
        for (int64_t k = 0; k < numel; k++)
            bad += !isfinite(v[k]);
        free(v);
        if (bad) {
            fprintf(stderr, "strata: error: %s: parameter '%s' holds %lld non-finite value(s) of %lld (NaN or "
                            "Inf): %s (`strata inspect %s --stats` lists every tensor's)\n",
                    path, name, (long long)bad, (long long)numel, consequence, path);
            return 1;
        }
    }
    return 0;
}

/* A fresh run with --out DIR where DIR already holds a run: its files are
 * replaced, which the user may not expect (--resume continues it instead). */
static void note_earlier_run(const char *dir)
{
    static const char *const files[] = {"checkpoint.safetensors", "generator.safetensors", "metrics.jsonl",
                                        "summary.json"};
    for (size_t i = 0; dist_is_root() && i < sizeof files / sizeof *files; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, F_OK) == 0) {
            fprintf(stderr, "strata: note: %s already holds a run (%s); this one replaces it (`--resume %s` "
                            "would continue it instead)\n",
                    dir, files[i], dir);
            return;
        }
    }
}

static int train_out_lock(const char *dir);

int train_resume_finish(const train_resume_args *r, const char **out_dir)
{
    if (!r->resume)
        return 0;
    if (*out_dir && strcmp(r->resume, *out_dir) != 0) {
        fprintf(stderr, "strata: error: --resume %s continues in that directory; drop --out %s\n", r->resume, *out_dir);
        return 2;
    }
    struct stat st;
    if (stat(r->resume, &st) != 0) {
        fprintf(stderr, "strata: error: --resume %s: %s (it takes the directory a run was given as --out)\n",
                r->resume, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) { /* a checkpoint file, as torch.load would take */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", r->resume);
        fprintf(stderr, "strata: error: --resume %s is a file; --resume takes the run's directory (--resume %s)\n",
                r->resume, dirname(dir));
        return 1;
    }
    *out_dir = r->resume;
    /* held before anything touches the run's files: a refused resume put an earlier run's FILE.replaced back
     * over a live new run's files, and another trainer cleared its checkpoint's temporaries */
    if (train_out_lock(r->resume))
        return 1;
    train_replaced_recover(r->resume); /* before anything reads the run's files */
    return 0;
}

/* The lock stays held for the process's life: the descriptor is never closed, and the kernel drops the lock
 * at exit however the process ends. A file system without flock (some network ones) goes unlocked. Taken
 * again for the directory it holds (a resume takes it at parsing, then where a new run would), it is kept. */
static int train_out_lock(const char *dir)
{
    static char held[4200];
    if (!dist_is_root()) /* a data-parallel run's ranks share rank 0's directory */
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    if (held[0] && !strcmp(held, path))
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) /* a read-only directory: the run's own writes will say so */
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) {
            close(fd);
            return 0;
        }
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        fprintf(stderr, "strata: error: %s is in use by another training (process %s); wait for it to end, or give "
                        "another --out\n", dir, pid[0] ? pid : "?");
        return 1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0) /* the pid is for another run's message only: a failed write leaves it out */
        (void)!pwrite(fd, pid, (size_t)n, 0);
    snprintf(held, sizeof held, "%s", path);
    return 0;
}

/* 1 for a new run (not --resume): see train_untrained_stop */
static int new_run;

int train_untrained_stop(int64_t step)
{
    return new_run && step == 0 && cli_stopping(); /* the ranks' agreement: rank 0 saves, another was signalled */
}

int train_out_prepare(const char *dir, int resuming)
{
    new_run = !resuming;
    if (!resuming && cli_make_dir(dir))
        return 1;
    if (train_out_lock(dir))
        return 1;
    if (!resuming)
        note_earlier_run(dir);
    return 0;
}

int train_spec_beside(const char *checkpoint, char *out, size_t size)
{
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s", checkpoint);
    if (stat(checkpoint, &st) == 0 && S_ISDIR(st.st_mode)) /* the run directory itself */
        snprintf(out, size, "%s/spec.yaml", dir);
    else
        snprintf(out, size, "%s/spec.yaml", dirname(dir));
    return access(out, R_OK) == 0;
}

void train_warn_class_order(strata_runtime *rt, const strata_spec *spec, const char *checkpoint)
{
    char path[4200];
    strata_spec *run = NULL;
    if (!train_spec_beside(checkpoint, path, sizeof path) || !cli_class_name(spec, 0))
        return;
    if (strata_spec_load(rt, path, &run) != STRATA_OK) { /* another trainer's spec, say: nothing to compare */
        strata_clear_error();
        return;
    }
    for (int64_t k = 0; cli_class_name(run, 0); k++) {
        const char *mine = cli_class_name(spec, k), *theirs = cli_class_name(run, k);
        if (!mine && !theirs)
            break;
        if (mine && theirs && strcmp(mine, theirs) != 0) {
            fprintf(stderr, "strata: warning: %s names class %lld '%s', and %s, the spec the checkpoint was trained "
                            "with, '%s': classes are matched by number, so the checkpoint's '%s' counts as '%s'\n",
                    strata_spec_path(spec), (long long)k, mine, path, theirs, theirs, mine);
            break;
        }
        if (!mine || !theirs) {
            fprintf(stderr, "strata: warning: %s names %lld classes or more, and %s, the spec the checkpoint was "
                            "trained with, only %lld: the classes may not match\n",
                    mine ? strata_spec_path(spec) : path, (long long)k + 1, mine ? path : strata_spec_path(spec),
                    (long long)k);
            break;
        }
    }
    strata_spec_destroy(run);
}

/* The spec's text as RUN/spec.yaml records it (malloc'ed, *len bytes; NULL:
 * out of memory): data.path, found in the current directory or next to the
 * spec, as the file's real path (quoted), as the recorded spec lies
 * elsewhere and has to find the same text wherever eval or --resume is run
 * from; and a resume that reaches the same text by another path, relative
 * or absolute (./, .., a link), records the same spec. */
static char *recorded_spec_text(const strata_spec *spec, size_t *len)
{
    const char *text = strata_spec_text(spec, len), *path = NULL;
    char *t = malloc(*len + 1);
    if (!t)
        return NULL;
    memcpy(t, text, *len);
    t[*len] = '\0';
    char found[4096], *abs = NULL;
    if (strata_spec_get_string(spec, "data.path", NULL, &path) != STRATA_OK || !path ||
        (lm_find_text(strata_spec_path(spec), path, found, sizeof found), !(abs = realpath(found, NULL)))) {
        strata_clear_error();
        return t;
    }
    char *set = malloc(strlen("data.path=\"\"") + 2 * strlen(abs) + 1), *p = set;
    if (set) { /* a YAML double-quoted string */
        p += sprintf(p, "data.path=\"");
        for (const char *c = abs; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        sprintf(p, "\"");
    }
    char *edited = set ? malloc(*len + 1) : NULL;
    size_t elen = *len;
    if (edited) {
        memcpy(edited, t, *len + 1);
        if (cli_spec_set(&edited, &elen, strata_spec_path(spec), set) == 0) { /* else as written */
            free(t);
            t = edited;
            *len = elen;
        } else {
            free(edited);
        }
    }
    free(set);
    free(abs);
    return t;
}

void train_spec_record(const char *dir, const strata_spec *spec, int resuming)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's */
        return;
    size_t len;
    char *text = recorded_spec_text(spec, &len);
    if (!text) {
        fprintf(stderr, "strata: warning: out of memory recording the spec in %s (the run goes on without it)\n",
                dir);
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/spec.yaml", dir);
    if (!resuming) { /* whole or not at all: generate, fid and sample read it */
        train_replaced_keep(dir, "spec.yaml");
        train_replaced_keep(dir, "spec.prev.yaml"); /* the earlier run's: not this one's */
        cli_write_atomic_or_warn(path, text, len, "the run goes on without it");
        free(text);
        return;
    }
    /* a resume with another spec (--set optimizer.lr=0.05): RUN/spec.yaml records the one the run follows
     * from here on, which eval, generate, report and the resume hints read; it said the old one */
    FILE *f = cli_fopen_regular(path);
    if (!f) {
        free(text);
        return;
    }
    size_t n = 0;
    char *old = cli_read_all(f, &n);
    fclose(f);
    if (old && (n != len || memcmp(old, text, len) != 0)) {
        char prev[4200];
        snprintf(prev, sizeof prev, "%s/spec.prev.yaml", dir);
        int kept = !cli_write_atomic_or_warn(prev, old, n, "the earlier spec is not kept");
        struct stat st; /* as private as the spec it keeps (a new file takes the umask) */
        if (kept && stat(path, &st) == 0)
            (void)chmod(prev, st.st_mode & 07777);
        const int now = !cli_write_atomic_or_warn(path, text, len, "it still describes the earlier spec");
        fprintf(stderr, "strata: warning: the spec differs from %s, the one this run followed so far; the resumed run "
                        "follows the new one%s%s%s\n",
                path, now ? ", which it now records" : "", kept ? " (the earlier one is kept as " : "",
                kept ? "spec.prev.yaml)" : "");
    }
    free(old);
    free(text);
}

void train_resume_nothing_left(int64_t step, int64_t limit, int64_t done, int64_t total, const char *unit,
                               const char *option)
{
    if (!dist_is_root())
        return;
    const int at_steps = limit > 0 && step >= limit;
    if (total > 0 && done >= total) /* the epochs bind, whatever --steps says; told with the steps too */
        fprintf(stderr,
                "strata: note: the run has done all %lld %s it is asked for%s: nothing is left to train%s%s%s\n",
                (long long)total, unit, at_steps ? ", and its steps" : "", option ? " (a larger " : "",
                option ? option : "", option ? (at_steps ? " and --steps go on)" : " goes on)") : "");
    else if (at_steps)
        fprintf(stderr, "strata: note: the run is at step %lld and %lld step%s asked for: nothing is left to train "
                        "(a larger --steps goes on)\n",
                (long long)step, (long long)limit, limit == 1 ? " is" : "s are");
}

void train_resume_note_seed(uint64_t run_seed, int64_t seed, const char *how, int quiet)
{
    if (run_seed != (uint64_t)seed && !quiet && dist_is_root())
        fprintf(stderr, "strata: note: the run %s seed %llu (from the checkpoint), not %lld\n", how,
                (unsigned long long)run_seed, (long long)seed);
}

void train_resume_warn_backend(const train_state *s, strata_device *dev)
{
    const char *backend = strata_device_backend(dev), *name = cli_device_description();
    if (!dist_is_root()) /* a data-parallel run: rank 0 tells */
        return;
    if (s->backend[0] && strcmp(s->backend, backend) != 0)
        fprintf(stderr, "strata: warning: the run started on backend %s and resumes on %s: the losses will not "
                        "repeat an uninterrupted run's bit for bit (--backend %s does)\n",
                s->backend, backend, s->backend);
    else if (s->device[0] && name[0] && strcmp(s->device, name) != 0) /* the cpu backend's sums are split by thread */
        fprintf(stderr, "strata: warning: the checkpoint was written on %s and the run resumes on %s: the losses "
                        "may differ from an uninterrupted run's in the last bits (a device of another description "
                        "may round differently; the cpu backend's convolutions, for one, sum in pieces by thread, "
                        "which STRATA_NUM_THREADS sets)\n",
                s->device, name);
}

int train_resume_epochs(const train_state *s, const char *dir, int64_t *epochs, int explicit_epochs, int quiet)
{
    if (s->epochs <= 0 || s->epochs == *epochs) /* not recorded (an older checkpoint), or the same */
        return s->epochs > 0 && s->epochs_cli;
    if (explicit_epochs) { /* a run made longer (or shorter) on purpose */
        if (dist_is_root())
            fprintf(stderr, "strata: warning: the run in %s has %lld epoch(s) and resumes with --epochs %lld: a "
                            "schedule over the run's length (cosine, ...) now spans the new one, so its rates from "
                            "here on are not those the run started with\n",
                    dir, (long long)s->epochs, (long long)*epochs);
        return 0;
    }
    if (!s->epochs_cli) /* it followed its spec, which changed: that is warned about, and it follows it still */
        return 0;
    if (!quiet && dist_is_root())
        fprintf(stderr, "strata: note: the run in %s has %lld epoch(s), from its --epochs (the spec says %lld; "
                        "--epochs changes it)\n",
                dir, (long long)s->epochs, (long long)*epochs);
    *epochs = s->epochs;
    return 1;
}

int train_resume_check_batch(const train_state *s, const char *dir, int64_t batch, const char *fix)
{
    if (s->batch_size <= 0 || s->batch_size == batch)
        return 0;
    fprintf(stderr, "strata: error: the run in %s used batches of %lld, this one %lld: its position and the "
                    "batches it draws depend on that size (%s %lld)\n",
            dir, (long long)s->batch_size, (long long)batch, fix, (long long)s->batch_size);
    return 2;
}

int train_resume_check_data(const train_state *s, const char *dir, int64_t examples, int64_t per_epoch)
{
    if (s->per_epoch > 0 && s->per_epoch != per_epoch) {
        fprintf(stderr, "strata: error: the run in %s trained on %lld examples, %lld batches an epoch, and its "
                        "training data now gives %lld examples, %lld batches: its position (epoch %lld, batch %lld) "
                        "counts the first ones (so does an epoch-based schedule's length); resume with the run's "
                        "training data, or start a new run (--out)\n",
                dir, (long long)s->examples, (long long)s->per_epoch, (long long)examples, (long long)per_epoch,
                (long long)s->epoch + 1, (long long)s->batch);
        return 2;
    }
    if (s->batch > per_epoch) { /* a checkpoint that does not record its epoch's size */
        fprintf(stderr, "strata: error: the run in %s stands at batch %lld of epoch %lld, and its training data "
                        "now gives %lld examples, %lld batches an epoch: resume with the run's training data, or "
                        "start a new run (--out)\n",
                dir, (long long)s->batch, (long long)s->epoch + 1, (long long)examples, (long long)per_epoch);
        return 2;
    }
    if (s->examples > 0 && s->examples != examples && dist_is_root())
        fprintf(stderr, "strata: warning: the run in %s trained on %lld examples, and its training data now has "
                        "%lld (%lld batches an epoch, as before): the batches will not be an uninterrupted run's\n",
                dir, (long long)s->examples, (long long)examples, (long long)per_epoch);
    return 0;
}

void train_ckpt_remove_temps(const char *dir)
{
    train_ckpt_remove_temps_of(dir, CKPT_NAME);
}

void train_ckpt_remove_temps_of(const char *dir, const char *file)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's */
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.tmp.", file); /* strata_checkpoint_save's FILE.tmp.PID */
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path); /* a write a killed run left behind */
    }
    closedir(d);
}

/* A metrics.jsonl record written before the checkpoint (kept on resume):
 * step records up to its step, epoch records of the epochs it completed;
 * a record with a "step" and no "epoch" (a language model's evaluation, a
 * GAN's step) up to its step, but one marked "end_of_run" (an evaluation
 * only because the run stopped there) only before it. */
typedef struct {
    const train_state *s;
    int64_t bad; /* lines that are not JSON objects, dropped */
} kept_ctx;

static int record_kept(const char *line, const void *ctx)
{
    kept_ctx *k = (kept_ctx *)ctx;
    const train_state *s = k->s;
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!json_is_object(o)) {
        json_decref(o);
        k->bad++; /* (a torn last line, without its newline, never gets here) */
        return 0;
    }
    json_t *ep = json_object_get(o, "epoch"), *st = json_object_get(o, "step");
    int keep;
    if (json_object_get(o, "batch_loss") || (!ep && st))
        keep = json_is_integer(st) && json_integer_value(st) <= s->step;
    else
        keep = json_is_integer(ep) && json_integer_value(ep) <= s->epoch;
    if (json_is_true(json_object_get(o, "end_of_run")))
        keep = keep && json_integer_value(st) < s->step; /* the run goes on past its end */
    json_decref(o);
    return keep;
}

int train_metrics_filter(const char *dir, int (*keep)(const char *line, const void *ctx), const void *ctx)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's */
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *in = fopen(path, "r");
    if (!in)
        return 0; /* nothing written yet */
    char *line = NULL, *kept = NULL;
    size_t cap = 0, len = 0, room = 0;
    ssize_t n;
    int nomem = 0;
    while (!nomem && (n = getline(&line, &cap, in)) > 0 && line[n - 1] == '\n') {
        if (!keep(line, ctx))
            continue;
        if (len + (size_t)n > room) {
            size_t r = room ? room : 1 << 16;
            while (r < len + (size_t)n)
                r *= 2;
            char *grown = realloc(kept, r);
            nomem = !grown;
            kept = grown ? grown : kept;
            room = grown ? r : room;
        }
        if (!nomem)
            memcpy(kept + len, line, (size_t)n), len += (size_t)n;
    }
    free(line);
    fclose(in);
    int rc = nomem ? (fprintf(stderr, "strata: error: cannot rewrite %s: out of memory\n", path), 1)
                   : cli_write_atomic(path, kept ? kept : "", len);
    free(kept);
    return rc;
}

int train_numeric_stop(strata_status rc, double loss)
{
    /* every rank agrees on a loss (summed across them first), but an anomaly is found on one rank alone: that
     * one stopping quietly left the others waiting in a collective forever, so it ends the run as an error */
    return rc == STRATA_E_NUMERIC && (!isfinite(loss) || dist_size() <= 1);
}

void train_numeric_cause(double loss, char *buf, size_t size)
{
    snprintf(buf, size, "%s", isfinite(loss) ? strata_last_error() : "");
}

void train_tell_nan_stop(double loss, const char *anomaly, const char *at, strata_status saved, int64_t step,
                         const char *spec, const char *dir)
{
    if (!dist_is_root()) /* every rank of a data-parallel run stops here; rank 0 tells */
        return;
    if (anomaly && anomaly[0])
        fprintf(stderr, "\nstrata: error: %s, at %s; stopping\n", anomaly, at);
    else
        fprintf(stderr, "\nstrata: error: the loss became %s at %s; stopping\n",
                isnan(loss) ? "NaN" : loss > 0 ? "+Inf" : "-Inf", at);
    if (saved) {
        fprintf(stderr, "strata: error: could not save the last good state: %s: %s\n", strata_status_name(saved),
                strata_last_error());
        return;
    }
    fprintf(stderr,
            "strata: the state after step %lld (the last good one) is in %s/checkpoint.safetensors; lower the "
            "learning rate, clip the gradients or check the data, then this continues from it:\n",
            (long long)step, dir);
    cli_put_resume_command(spec, dir);
}

FILE *train_metrics_open(const char *path, int resuming)
{
    if (!resuming) { /* an earlier run's history waits for this run's first checkpoint */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && !strcmp(slash + 1, "metrics.jsonl")) {
            *slash = '\0';
            train_replaced_keep(dir, "metrics.jsonl");
            train_replaced_keep(dir, "summary.json");
            train_replaced_keep(dir, "report.html");
        }
    }
    /* a data-parallel run's files are rank 0's: the others write nowhere */
    return dist_is_root() ? fopen(path, resuming ? "a" : "w") : fopen("/dev/null", "w");
}

int train_metrics_put(FILE *f, const char *dir, const char *line)
{
    errno = 0;
    /* fflush reports what the buffered fputs could not (ENOSPC, EIO); a stream that failed once stays failed */
    if (fputs(line, f) >= 0 && putc('\n', f) != EOF && fflush(f) == 0 && !ferror(f))
        return 0;
    fprintf(stderr, "strata: error: cannot write %s/metrics.jsonl: %s\n", dir, strerror(errno ? errno : EIO));
    return 1;
}

int train_metrics_json(FILE *f, const char *dir, json_t *rec)
{
    char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    const int r = line ? train_metrics_put(f, dir, line) : 0;
    free(line);
    if (!r && rec)
        cli_test_signal_record(rec);
    json_decref(rec);
    return r;
}

int train_metrics_step(FILE *f, const char *dir, int64_t step, double loss, double lr)
{
    return train_metrics_json(f, dir, json_pack("{s:I, s:f, s:f}", "step", (json_int_t)step, "batch_loss", loss,
                                                "lr", lr));
}

int train_metrics_close(FILE *f, const char *dir, int told)
{
    if (!f)
        return 0;
    const int bad = ferror(f);
    errno = 0;
    if (fclose(f) == 0 && !bad)
        return 0;
    if (!told)
        fprintf(stderr, "strata: error: cannot write %s/metrics.jsonl: %s\n", dir, strerror(errno ? errno : EIO));
    return 1;
}

int train_metrics_truncate(const char *dir, const train_state *s)
{
    kept_ctx k = {s, 0};
    const int r = train_metrics_filter(dir, record_kept, &k);
    if (!r && k.bad)
        fprintf(stderr, "strata: warning: %s/metrics.jsonl: %lld line(s) that are not JSON records were left out\n",
                dir, (long long)k.bad);
    return r;
}

void train_best_forget(const char *out_dir)
{
    if (!dist_is_root()) /* a data-parallel run's files are rank 0's */
        return;
    train_replaced_keep(out_dir, "best.safetensors");
}

void train_best_resume(train_best *b, const char *out_dir, int64_t resumed_step, int quiet)
{
    char path[4200], metric[64], value[64], epoch[32], step[32];
    snprintf(path, sizeof path, "%s/best.safetensors", out_dir);
    train_ckpt_remove_temps_of(out_dir, "best.safetensors");
    int have = !strata_checkpoint_metadata(path, "best.metric", metric, sizeof metric) &&
               !strata_checkpoint_metadata(path, "best.value", value, sizeof value) &&
               !strata_checkpoint_metadata(path, "best.epoch", epoch, sizeof epoch) &&
               !strata_checkpoint_metadata(path, "best.step", step, sizeof step);
    strata_clear_error();
    if (!have)
        return;
    if (strcmp(metric, b->metric) || strtoll(step, NULL, 10) > resumed_step) {
        if (!quiet)
            fprintf(stderr, "strata: note: %s (%s at step %s) is not this run's best by %s so far; it will be "
                            "replaced\n",
                    path, metric, step, b->metric);
        return;
    }
    b->value = strtod(value, NULL);
    b->epoch = strtoll(epoch, NULL, 10);
    b->step = strtoll(step, NULL, 10);
}

strata_status train_best_update(train_best *b, const char *out_dir, strata_model *m, double value, int64_t epoch,
                                int64_t step, json_t *meta)
{
    if (!b->metric || !isfinite(value))
        return STRATA_OK;
    int better = !strcmp(b->metric, "val_loss") ? value < b->value : value > b->value;
    if (!isnan(b->value) && !better) /* ties keep the earlier one */
        return STRATA_OK;
    json_t *all = meta ? json_deep_copy(meta) : json_object();
    char num[3][32];
    snprintf(num[0], sizeof num[0], "%.17g", value);
    snprintf(num[1], sizeof num[1], "%lld", (long long)epoch);
    snprintf(num[2], sizeof num[2], "%lld", (long long)step);
    char *text = NULL;
    if (all && !json_object_set_new(all, "best.metric", json_string(b->metric)) &&
        !json_object_set_new(all, "best.value", json_string(num[0])) &&
        !json_object_set_new(all, "best.epoch", json_string(num[1])) &&
        !json_object_set_new(all, "best.step", json_string(num[2])))
        text = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    if (!text)
        return STRATA_E_NOMEM;
    char path[4200];
    snprintf(path, sizeof path, "%s/best.safetensors", out_dir);
    strata_status rc = dist_is_root() ? strata_checkpoint_save(path, m, NULL, text) : STRATA_OK;
    free(text);
    if (!rc)
        b->value = value, b->epoch = epoch, b->step = step;
    return rc;
}
