/* cmd_pack_images.c - `strata pack-images TRAIN_DIR [TEST_DIR] --out PREFIX`:
 * a user's own images, one folder per class (the layout torchvision's
 * ImageFolder reads), packed into the gzip-compressed IDX files a spec's
 * data.train and data.test name (the format of MNIST and Fashion-MNIST),
 * then the spec lines to paste: the files, the training pixels' mean and
 * standard deviation (of each channel for RGB), data.classes and the
 * model's input shape.
 *
 * Classes are the folder's subfolders in byte order of their names (label
 * 0 the first); images the .png files below each in ImageFolder's order
 * (by folder, then name), so the same folder always packs to the same
 * files. Every image must have the
 * first one's size (nothing is resampled); it is stored gray, or RGB with
 * --rgb (libpng's simplified API converts any PNG to either). A test
 * folder's classes must be among the training folder's. Each file is
 * written to a temporary name, synced and renamed into place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "cli.h"
#include "png_write.h"
#include "write_atomic.h"

#define MAX_CLASSES 65535

typedef struct {
    const char *dirs[2]; /* TRAIN_DIR [TEST_DIR] */
    int n_dirs;
    const char *out;
    int rgb;
} pack_args;

/* A packed split: n images of (c, h, w) bytes, planar, and their labels. */
typedef struct {
    uint8_t *x;
    int32_t *y;
    int64_t n, cap;
} split;

typedef struct {
    char **v;
    size_t n;
} names;

static void names_free(names *s)
{
    for (size_t k = 0; k < s->n; k++)
        free(s->v[k]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* dir/name into @p buf: 0, or 1 after a message when it does not fit. */
static int join_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "strata: error: the path %s/%s is too long\n", dir, name);
        return 1;
    }
    return 0;
}

/* ImageFolder's order (sorted(os.walk(...)), then sorted file names): by
 * folder path, then name; a class folder's own files before its
 * subfolders' ("b.png" before "a/x.png"). */
static int by_folder_then_name(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    const char *sx = strrchr(x, '/'), *sy = strrchr(y, '/');
    size_t dx = sx ? (size_t)(sx - x) : 0, dy = sy ? (size_t)(sy - y) : 0;
    size_t n = dx < dy ? dx : dy;
    int c = memcmp(x, y, n);
    if (c)
        return c;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(sx ? sx + 1 : x, sy ? sy + 1 : y);
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".png");
}

/* 1 when @p s is well-formed UTF-8 (what a YAML spec can hold). */
static int utf8_ok(const char *s)
{
    return cli_utf8_prefix(s, strlen(s)) == strlen(s);
}

/* Appends a copy of @p name to @p out: 0, or 1 after a message. */
static int names_add(names *out, size_t *cap, const char *name)
{
    if (out->n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        char **v = realloc(out->v, c * sizeof *v);
        if (!v) {
            fprintf(stderr, "strata: error: out of memory listing the images\n");
            return 1;
        }
        out->v = v;
        *cap = c;
    }
    if (!(out->v[out->n] = strdup(name))) {
        fprintf(stderr, "strata: error: out of memory listing the images\n");
        return 1;
    }
    out->n++;
    return 0;
}

#define MAX_DEPTH 16

/* Adds to @p out the subfolders of root/rel (@p want_dirs), or the .png
 * files below it, at any depth as ImageFolder finds them (paths relative to
 * root). Hidden entries are left out; *skipped counts the files left out. */
static int walk(const char *root, const char *rel, int want_dirs, names *out, size_t *cap, int64_t *skipped,
                int depth)
{
    char dir[4096];
    if (*rel ? join_path(dir, sizeof dir, root, rel) : snprintf(dir, sizeof dir, "%s", root) >= (int)sizeof dir) {
        if (!*rel)
            fprintf(stderr, "strata: error: the path %s is too long\n", root);
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "strata: error: cannot read the folder %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct dirent *e;
    int r = 0;
    while (!r && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096], sub[4096];
        struct stat st;
        if ((r = join_path(path, sizeof path, dir, e->d_name) || (*rel && join_path(sub, sizeof sub, rel, e->d_name))))
            break;
        const char *name = *rel ? sub : e->d_name; /* relative to root */
        if (stat(path, &st) != 0)
            continue; /* a dangling link */
        if (e->d_name[0] == '.') {
            *skipped += !want_dirs && !S_ISDIR(st.st_mode);
        } else if (want_dirs) {
            if (S_ISDIR(st.st_mode))
                r = names_add(out, cap, name);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) {
                fprintf(stderr, "strata: error: %s: folders nested more than %d deep\n", path, MAX_DEPTH);
                r = 1;
            } else {
                r = walk(root, name, 0, out, cap, skipped, depth + 1);
            }
        } else if (S_ISREG(st.st_mode) && has_png_suffix(e->d_name)) {
            r = names_add(out, cap, name);
        } else {
            ++*skipped;
        }
    }
    closedir(d);
    return r;
}

/* The subfolders of @p dir (@p want_dirs) or the .png files below it,
 * sorted by their bytes: 0, or 1 after a message. */
static int list_dir(const char *dir, int want_dirs, names *out, int64_t *skipped)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    if (walk(dir, "", want_dirs, out, &cap, skipped, 0)) {
        names_free(out);
        return 1;
    }
    if (out->n) /* qsort takes no NULL array, even empty */
        qsort(out->v, out->n, sizeof *out->v, by_folder_then_name);
    return 0;
}

/* Reads the PNG @p path into the next slot of @p s as (c, h, w): the
 * first image of the run sets *w, *h. 0, or 1 after a message. */
static int add_png(const char *path, int c, uint32_t *w, uint32_t *h, int32_t label, split *s)
{
    uint32_t iw = *w, ih = *h;
    int wrong;
    uint8_t *px = cli_png_read(path, c, &iw, &ih, &wrong);
    if (wrong)
        fprintf(stderr, "strata: error: %s is %u x %u pixels; the images before it are %u x %u (every image needs "
                        "the same size)\n",
                path, iw, ih, *w, *h);
    if (!px)
        return 1;
    *w = iw, *h = ih;
    size_t plane = (size_t)*w * *h, size = plane * (size_t)c;
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 256;
        uint8_t *x = realloc(s->x, (size_t)cap * size);
        int32_t *y = x ? realloc(s->y, (size_t)cap * sizeof *y) : NULL;
        if (x)
            s->x = x;
        if (y)
            s->y = y;
        if (!x || !y) {
            free(px);
            fprintf(stderr, "strata: error: out of memory at %s (%lld images read)\n", path, (long long)s->n);
            return 1;
        }
        s->cap = cap;
    }
    uint8_t *dst = s->x + (size_t)s->n * size; /* interleaved (h, w, c) to planar (c, h, w) */
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < c; k++)
            dst[(size_t)k * plane + i] = px[i * (size_t)c + (size_t)k];
    free(px);
    s->y[s->n++] = label;
    return 0;
}

/* Packs folder @p dir with the class list @p classes (NULL: its own
 * subfolders, returned in @p own). 0, or 1 after a message. */
static int read_split(const char *dir, const names *classes, names *own, int c, uint32_t *w, uint32_t *h, split *s,
                      int64_t *skipped)
{
    names sub;
    if (list_dir(dir, 1, &sub, skipped))
        return 1;
    if (!sub.n) {
        fprintf(stderr, "strata: error: %s has no class folders (expected %s/CLASS/IMAGE.png)\n", dir, dir);
        names_free(&sub);
        return 1;
    }
    for (size_t k = 0; k < sub.n; k++)
        if (!utf8_ok(sub.v[k])) {
            fprintf(stderr, "strata: error: %s/%s: a class folder's name must be UTF-8 (it becomes a name in "
                            "the spec's data.classes)\n",
                    dir, sub.v[k]);
            names_free(&sub);
            return 1;
        }
    if (!classes) {
        if (sub.n > MAX_CLASSES) {
            fprintf(stderr, "strata: error: %s has %zu class folders; at most %d\n", dir, sub.n, MAX_CLASSES);
            names_free(&sub);
            return 1;
        }
        classes = &sub;
    }
    int r = 0;
    for (size_t k = 0; k < sub.n && !r; k++) {
        size_t label = 0;
        while (label < classes->n && strcmp(classes->v[label], sub.v[k]))
            label++;
        if (label == classes->n) {
            fprintf(stderr, "strata: error: %s/%s: the training folder has no class '%s'\n", dir, sub.v[k], sub.v[k]);
            r = 1;
            break;
        }
        char cdir[4096];
        names files;
        if ((r = join_path(cdir, sizeof cdir, dir, sub.v[k]) || list_dir(cdir, 0, &files, skipped)))
            break;
        if (!files.n) {
            fprintf(stderr, "strata: error: %s holds no .png images: every folder of %s is a class (remove it or "
                            "add images)\n",
                    cdir, dir);
            r = 1;
        }
        for (size_t f = 0; f < files.n && !r; f++) {
            char path[4096];
            r = join_path(path, sizeof path, cdir, files.v[f]) || add_png(path, c, w, h, (int32_t)label, s);
        }
        names_free(&files);
    }

    if (own && classes == &sub)
        *own = sub;
    else
        names_free(&sub);
    return r;
}

/* The files of a pack, each written to a temporary file beside it; all of
 * them renamed into place at the end (pack_commit), or none (pack_abandon):
 * a failure never leaves new images beside old labels. */
typedef struct {
    struct {
        char path[4096], tmp[4200];
    } f[4];
    int n;
} pack_files;

static void pack_abandon(pack_files *p)
{
    for (int k = 0; k < p->n; k++)
        unlink(p->f[k].tmp);
    p->n = 0;
}

/* 0, or 1 after a message (the files not yet renamed are removed) */
static int pack_commit(pack_files *p)
{
    for (int k = 0; k < p->n; k++)
        if (rename(p->f[k].tmp, p->f[k].path) != 0) {
            fprintf(stderr, "strata: error: cannot write %s: %s\n", p->f[k].path, strerror(errno));
            for (int j = k; j < p->n; j++)
                unlink(p->f[j].tmp);
            return 1;
        }
    if (p->n)
        cli_sync_parent(p->f[0].path);
    return 0;
}

/* Writes an IDX file of @p ndim dims and element type @p type (0x08
 * unsigned byte, 0x0C int32) gzip-compressed to a temporary file for
 * @p path, added to @p files. 0, or 1 after a message. */
static int write_idx_gz(pack_files *files, const char *path, int type, int ndim, const int64_t *dims,
                        const void *data, size_t bytes)
{
    char target[sizeof files->f[0].path], tmp[sizeof files->f[0].tmp];
    if (cli_write_target(path, target, sizeof target))
        return 1;
    path = target;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()); /* two runs into one prefix keep apart */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666), dfd = fd >= 0 ? dup(fd) : -1;
    if (fd >= 0)
        cli_write_mode(fd, path); /* a pack written again keeps its mode, as every other file */
    gzFile gz = dfd >= 0 ? gzdopen(dfd, "wb") : NULL;
    if (!gz) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", tmp, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        if (fd >= 0)
            close(fd), unlink(tmp);
        return 1;
    }
    errno = 0; /* from here, what failed says why */
    uint8_t hdr[4 + 4 * 4] = {0, 0, (uint8_t)type, (uint8_t)ndim};
    for (int k = 0; k < ndim; k++)
        for (int b = 0; b < 4; b++)
            hdr[4 + 4 * k + b] = (uint8_t)((uint64_t)dims[k] >> (24 - 8 * b));
    int ok = gzwrite(gz, hdr, (unsigned)(4 + 4 * ndim)) == 4 + 4 * ndim;
    /* the body, big-endian for int32, in pieces gzwrite's unsigned length takes */
    const uint8_t *p = data;
    uint8_t chunk[1 << 16];
    for (size_t at = 0; ok && at < bytes;) {
        size_t n = bytes - at < sizeof chunk ? bytes - at : sizeof chunk;
        if (type == 0x0C)
            for (size_t k = 0; k < n; k += 4) {
                uint32_t v;
                memcpy(&v, p + at + k, 4);
                for (int b = 0; b < 4; b++)
                    chunk[k + (size_t)b] = (uint8_t)(v >> (24 - 8 * b));
            }
        else
            memcpy(chunk, p + at, n);
        ok = gzwrite(gz, chunk, (unsigned)n) == (int)n;
        at += n;
    }
    ok = gzclose(gz) == Z_OK && ok;
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "strata: error: cannot write %s: %s\n", path,
                errno ? strerror(errno) : "the compressed write failed (disk full?)");
        unlink(tmp);
        return 1;
    }
    memcpy(files->f[files->n].path, target, sizeof target);
    memcpy(files->f[files->n].tmp, tmp, sizeof tmp);
    files->n++;
    return 0;
}

/* PREFIX-SPLIT-images-idxN-ubyte.gz and PREFIX-SPLIT-labels-idx1-ubyte.gz,
 * written into @p p. */
static int write_split(pack_files *p, const char *prefix, const char *name, const split *s, int c, uint32_t w,
                       uint32_t h, size_t n_classes, char *images, char *labels, size_t size)
{
    int ndim = c == 3 ? 4 : 3;
    /* a folder as PREFIX (DIR/, ., ..): the files go in it as train-images-..., not -train-images-... */
    const char *base = strrchr(prefix, '/') ? strrchr(prefix, '/') + 1 : prefix;
    const int folder = !*base || !strcmp(base, ".") || !strcmp(base, "..");
    const char *sep = !folder ? "-" : *base ? "/" : "";
    snprintf(images, size, "%s%s%s-images-idx%d-ubyte.gz", prefix, sep, name, ndim);
    snprintf(labels, size, "%s%s%s-labels-idx1-ubyte.gz", prefix, sep, name);
    int64_t dims[4] = {s->n, c, h, w};
    if (c != 3)
        dims[1] = h, dims[2] = w;
    if (write_idx_gz(p, images, 0x08, ndim, dims, s->x, (size_t)s->n * (size_t)c * h * w))
        return 1;
    if (n_classes <= 256) {
        uint8_t *y8 = malloc((size_t)s->n);
        if (!y8) {
            fprintf(stderr, "strata: error: out of memory\n");
            return 1;
        }
        for (int64_t i = 0; i < s->n; i++)
            y8[i] = (uint8_t)s->y[i];
        int r = write_idx_gz(p, labels, 0x08, 1, &s->n, y8, (size_t)s->n);
        free(y8);
        return r;
    }
    return write_idx_gz(p, labels, 0x0C, 1, &s->n, s->y, (size_t)s->n * 4);
}

/* @p name as a YAML double-quoted string on stdout. */
static void print_quoted(const char *name);

/* The absolute path of the written file @p path, quoted: the spec may
 * live anywhere. A YAML spec holds only UTF-8, so under a directory whose
 * name is not (--out itself was checked) the path stays as given. */
static void print_path(const char *path)
{
    char *abs = realpath(path, NULL);
    print_quoted(abs && utf8_ok(abs) ? abs : path);
    free(abs);
}

static void print_quoted(const char *name)
{
    putchar('"');
    for (const char *p = name; *p;) {
        uint32_t cp;
        int n = cli_utf8_next(p, &cp);
        if (!n) { /* callers check utf8_ok: never loop on a byte that is not */
            printf("\\x%02X", (unsigned)(unsigned char)*p++);
            continue;
        }
        /* YAML's printable set; the rest as escapes (utf8_ok checked the bytes) */
        int printable = cp == 0x09 || (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) ||
                        (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
        if (cp == '"' || cp == '\\')
            printf("\\%c", (char)cp);
        else if (!printable)
            printf("\\u%04X", (unsigned)cp);
        else
            fwrite(p, 1, (size_t)n, stdout);
        p += n;
    }
    putchar('"');
}

static int parse_args(int argc, char **argv, pack_args *a)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--out", .type = CLI_STRING, .dst = &a->out, .value = "PREFIX",
         .help = "where the files go: PREFIX-train-images-idx3-ubyte.gz, ..."},
        {.name = "--rgb", .type = CLI_FLAG, .dst = &a->rgb, .help = "keep colour: (3, H, W) images (default: gray)"},
        {0},
    };
    const cli_command c = {
        .name = "pack-images",
        .synopsis = "TRAIN_DIR [TEST_DIR] --out PREFIX [--rgb]",
        .about = "Packs folders of PNG images, one subfolder per class (TRAIN_DIR/CLASS/IMAGE.png), into the\n"
                 "gzip-compressed IDX files a spec's data.train and data.test name, and prints the spec lines.",
        .positional = a->dirs,
        .max_positional = 2,
        .n_positional = &a->n_dirs,
        .opts = opts,
        .notes = "Classes are the subfolders in byte order of their names (label 0 first), images the .png files\n"
                 "of each in byte order, a folder's own before its subfolders'. Every image must have the size of\n"
                 "the first; nothing is resampled.",
    };
    int r = cli_parse(&c, argc, argv);
    if (r || (r = cli_require(&c, a->n_dirs ? a->dirs[0] : NULL, "TRAIN_DIR")))
        return r;
    return cli_require(&c, a->out, "--out PREFIX");
}

int cmd_pack_images(int argc, char **argv)
{
    pack_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    if (!utf8_ok(a.out)) {
        fprintf(stderr, "strata: error: pack-images: --out %s is not UTF-8, which a spec cannot name\n", a.out);
        return 1;
    }
    const char *slash = strrchr(a.out, '/'); /* PREFIX's folder, made as --out DIR is by train */
    if (slash && slash > a.out) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - a.out), a.out);
        if (cli_make_dir(parent))
            return 1;
    }
    const int c = a.rgb ? 3 : 1;
    uint32_t w = 0, h = 0;
    split train = {0}, test = {0};
    names classes = {0};
    int64_t skipped = 0;
    char ti[4200], tl[4200], vi[4200], vl[4200];
    pack_files files = {0};
    r = read_split(a.dirs[0], NULL, &classes, c, &w, &h, &train, &skipped) ||
        (a.n_dirs > 1 && read_split(a.dirs[1], &classes, NULL, c, &w, &h, &test, &skipped)) ||
        write_split(&files, a.out, "train", &train, c, w, h, classes.n, ti, tl, sizeof ti) ||
        (a.n_dirs > 1 && write_split(&files, a.out, "test", &test, c, w, h, classes.n, vi, vl, sizeof vi));
    if (r)
        pack_abandon(&files);
    else
        r = pack_commit(&files);
    if (!r) {
        /* the training pixels' mean and standard deviation after scaling to [0, 1], of each channel (as
         * torchvision's Normalize takes them) */
        const size_t plane = (size_t)h * w, count = (size_t)train.n * plane;
        double mean[3] = {0}, std[3] = {0};
        for (int k = 0; k < c; k++) {
            double sum = 0, sq = 0;
            for (int64_t e = 0; e < train.n; e++)
                for (size_t i = 0; i < plane; i++) {
                    const double v = train.x[((size_t)e * (size_t)c + (size_t)k) * plane + i] / 255.0;
                    sum += v, sq += v * v;
                }
            const double var = sq / (double)count - (sum / (double)count) * (sum / (double)count);
            mean[k] = sum / (double)count, std[k] = var > 1e-12 ? sqrt(var) : 1.0;
        }
        printf("packed %lld training image%s (%zu class%s, %u x %u %s) into %s, %s\n", (long long)train.n,
               train.n == 1 ? "" : "s", classes.n, classes.n == 1 ? "" : "es",
               w, h, c == 3 ? "RGB" : "gray", ti, tl);
        if (a.n_dirs > 1)
            printf("packed %lld test image%s into %s, %s\n", (long long)test.n, test.n == 1 ? "" : "s", vi, vl);
        if (skipped)
            printf("left out %lld file%s that %s not .png or %s hidden\n", (long long)skipped, skipped == 1 ? "" : "s",
                   skipped == 1 ? "is" : "are", skipped == 1 ? "is" : "are");
        printf("\n# for the spec:\ndata:\n  format: idx\n  train: {images: ");
        print_path(ti);
        printf(", labels: ");
        print_path(tl);
        printf("}\n");
        if (a.n_dirs > 1) {
            printf("  test: {images: ");
            print_path(vi);
            printf(", labels: ");
            print_path(vl);
            printf("}\n");
        }
        if (c == 1)
            printf("  scale: 255\n  mean: %.6g\n  std: %.6g\n  classes: [", mean[0], std[0]);
        else
            printf("  scale: 255\n  mean: [%.6g, %.6g, %.6g]\n  std: [%.6g, %.6g, %.6g]\n  classes: [", mean[0],
                   mean[1], mean[2], std[0], std[1], std[2]);
        for (size_t k = 0; k < classes.n; k++) {
            printf(k ? ", " : "");
            print_quoted(classes.v[k]);
        }
        printf("]\nmodel:\n  input: [%d, %u, %u]\n", c, h, w);
    }
    names_free(&classes);
    free(train.x), free(train.y), free(test.x), free(test.y);
    return r;
}
