/* cmd_inspect.c - `strata inspect FILE|RUN`: what a checkpoint holds, as
 * safetensors' safe_open(...).keys() or torch.load(...).keys() show it: the
 * __metadata__ map, then every tensor's name, dtype, shape, number of values
 * and bytes, model tensors first and the optimizer's state ("optimizer.*")
 * after them, and the totals. --stats adds each float tensor's (F32, F16,
 * BF16, F64) min, max, mean and count of NaN/Inf values.
 *
 * Any safetensors file is taken, Strata's or PyTorch's (dtypes Strata does
 * not compute in, such as F64, I8 or BOOL, are listed too). The file is
 * user input: the header is checked entry by entry as the checkpoint loader
 * checks it (core/io/safetensors.c), and a bad one is an error naming the
 * file and the entry (exit 1). Tensor data is read only for --stats. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../core/half.h"
#include "cli.h"
#include "write_atomic.h"

/* A header longer than this is garbage, not a checkpoint (as the loader says). */
#define MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Characters of a metadata value the text shows before "... (N characters)". */
#define META_SHOWN 100
/* Characters of a name (tensor, metadata key) the text shows. */
#define NAME_SHOWN 200
/* Directory entries a missing run checkpoint's message lists. */
#define MAX_LISTED 32

static const char optimizer_prefix[] = "optimizer.";

typedef struct {
    const char *path; /* FILE or RUN */
    const char *pattern; /* --tensors */
    int json, stats;
} inspect_args;

static int parse_args(int argc, char **argv, inspect_args *a)
{
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {.name = "--tensors", .type = CLI_STRING, .dst = &a->pattern, .value = "PATTERN",
         .help = "only the tensors whose name matches the shell pattern ('1.*', '*.exp_avg')"},
        {.name = "--stats", .type = CLI_FLAG, .dst = &a->stats,
         .help = "each float tensor's (F32, F16, BF16, F64) min, max, mean and NaN/Inf count (reads the data)"},
        {.name = "--json", .type = CLI_FLAG, .dst = &a->json, .help = "one JSON object on stdout"},
        {0},
    };
    const cli_command c = {
        .name = "inspect",
        .synopsis = "FILE|RUN [--tensors PATTERN] [--stats] [--json]",
        .about = "What a safetensors file (a checkpoint) holds: its metadata, then each tensor's name, dtype, shape,\n"
                 "number of values and bytes, model tensors first and optimizer state after them, and the totals.",
        .positional = &a->path,
        .opts = opts,
        .notes = "A run directory RUN stands for RUN/checkpoint.safetensors. Any safetensors file is taken, PyTorch's\n"
                 "too; the header is checked entry by entry, and tensor data is read only for --stats.",
    };
    int r = cli_parse(&c, argc, argv);
    if (r)
        return r;
    return cli_require(&c, a->path, "FILE (a safetensors file or a run directory)");
}

/* The format's dtypes (https://huggingface.co/docs/safetensors) and their sizes. */
static const struct {
    const char *name;
    uint64_t size;
} dtypes[] = {
    {"F32", 4}, {"I32", 4}, {"I64", 8}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"U64", 8}, {"U32", 4},
    {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

/* One tensor of the header. */
typedef struct {
    const char *name;    /* borrowed from the header */
    const char *dtype;   /* dtypes[].name */
    const json_t *shape; /* borrowed: an array of non-negative integers */
    uint64_t values, bytes;
    uint64_t begin, end; /* in the data section */
    int optimizer;       /* an "optimizer.*" tensor */
    int shown;           /* matches --tensors */
    /* --stats of a float tensor: over its finite values (none: finite == 0) */
    int has_stats;
    double min, max, mean;
    uint64_t finite, nonfinite;
} tensor_row;

/* The file and its header. */
typedef struct {
    const char *path;
    FILE *f;
    uint64_t size, header_len, data_len;
    json_t *root;       /* the header */
    const json_t *meta; /* its __metadata__; NULL: none */
    tensor_row *rows;   /* header order */
    size_t n_rows;
} sft_view;

static int fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "strata: error: PATH: <fmt>"; returns 1. */
static int fail(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "strata: error: %s: ", path);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* @p v with thousands separators ("61,706") in @p buf. */
static const char *fmt_count(char *buf, size_t size, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t k = 0;
    for (int i = 0; i < n && k + 1 < size; i++) {
        buf[k++] = digits[i];
        if ((n - 1 - i) % 3 == 0 && i < n - 1 && k + 1 < size)
            buf[k++] = ',';
    }
    buf[k] = '\0';
    return buf;
}

/* @p bytes as "241.0 KiB" in @p buf ("12 B" under 1 KiB). */
static const char *fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3)
        v /= 1024.0, u++;
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

/* "1,644 bytes (1.6 KiB)" in @p buf; "36 bytes" under 1 KiB. */
static const char *fmt_size(char *buf, size_t size, uint64_t bytes)
{
    char n[32], h[32];
    if (bytes < 1024)
        snprintf(buf, size, "%s byte%s", fmt_count(n, sizeof n, bytes), bytes == 1 ? "" : "s");
    else
        snprintf(buf, size, "%s bytes (%s)", fmt_count(n, sizeof n, bytes), fmt_bytes(h, sizeof h, bytes));
    return buf;
}

/* The shape array @p a as "[6, 64]" in @p buf, cut with "...]" when long. */
static const char *fmt_shape(char *buf, size_t size, const json_t *a)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (k + 32 >= size) {
            snprintf(buf + k, size - k, ", ...");
            k += strlen(buf + k);
            break;
        }
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "",
                              (long long)json_integer_value(json_array_get(a, i)));
    }
    snprintf(buf + k, size - k, "]");
    return buf;
}

/* Characters (UTF-8 code points) of @p s. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* @p s on one line in @p buf: control characters escaped (\n, \t, \xNN),
 * at most @p max characters, then "..." when cut. */
static const char *escape(char *buf, size_t size, const char *s, size_t max)
{
    size_t k = 0, chars = 0;
    for (; *s && k + 8 < size; s++) {
        const unsigned char c = (unsigned char)*s;
        if ((c & 0xC0) != 0x80 && chars++ == max)
            break;
        if (c == '\n' || c == '\t' || c == '\r')
            buf[k++] = '\\', buf[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        else if (c < 0x20 || c == 0x7F)
            k += (size_t)snprintf(buf + k, size - k, "\\x%02x", c);
        else
            buf[k++] = (char)c;
    }
    buf[k] = '\0';
    if (*s && k + 4 <= size)
        strcat(buf, "...");
    return buf;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Checks the header entry @p obj of tensor t->name and fills @p t: 0, or 1
 * after a message naming the file and the tensor. */
static int parse_entry(const sft_view *v, const json_t *obj, tensor_row *t)
{
    char nm[NAME_SHOWN + 16];
    const char *n = escape(nm, sizeof nm, t->name, NAME_SHOWN), *p = v->path;
    if (!json_is_object(obj))
        return fail(p, "tensor '%s': its entry is %s, expected an object {dtype, shape, data_offsets}", n,
                    json_kind(obj));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")) {
            char k[64];
            return fail(p, "tensor '%s': unknown field '%s' (expected dtype, shape, data_offsets)", n,
                        escape(k, sizeof k, key, 40));
        }
    }
    const json_t *jd = json_object_get(obj, "dtype"), *js = json_object_get(obj, "shape"),
                 *jo = json_object_get(obj, "data_offsets");
    if (!jd)
        return fail(p, "tensor '%s': missing field 'dtype'", n);
    if (!json_is_string(jd))
        return fail(p, "tensor '%s': dtype is %s, expected a string such as \"F32\"", n, json_kind(jd));
    uint64_t esize = 0;
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0] && !esize; k++)
        if (!strcmp(dtypes[k].name, json_string_value(jd)))
            t->dtype = dtypes[k].name, esize = dtypes[k].size;
    if (!esize) {
        char d[64];
        return fail(p, "tensor '%s': unknown dtype \"%s\"", n, escape(d, sizeof d, json_string_value(jd), 40));
    }
    if (!js)
        return fail(p, "tensor '%s': missing field 'shape'", n);
    if (!json_is_array(js))
        return fail(p, "tensor '%s': shape is %s, expected a list of integers", n, json_kind(js));
    /* values = the product of the dimensions, refusing to wrap; a zero
     * dimension makes the tensor empty however large the others are */
    uint64_t values = 1;
    int overflow = 0, empty = 0;
    for (size_t k = 0; k < json_array_size(js); k++) {
        uint64_t d;
        if (!get_u64(json_array_get(js, k), &d))
            return fail(p, "tensor '%s': shape[%zu] is %s, expected a non-negative integer", n, k,
                        json_kind(json_array_get(js, k)));
        if (d && values > UINT64_MAX / d)
            overflow = 1;
        values *= d;
        empty |= d == 0;
    }
    if (empty)
        values = 0, overflow = 0;
    char shp[160];
    fmt_shape(shp, sizeof shp, js);
    if (overflow || values > (uint64_t)INT64_MAX / esize)
        return fail(p, "tensor '%s': shape %s of %s overflows: its size exceeds 2^63 bytes", n, shp, t->dtype);
    t->shape = js;
    t->values = values;
    t->bytes = values * esize;
    uint64_t begin = 0, end = 0;
    if (!jo)
        return fail(p, "tensor '%s': missing field 'data_offsets'", n);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_u64(json_array_get(jo, 0), &begin) ||
        !get_u64(json_array_get(jo, 1), &end))
        return fail(p, "tensor '%s': data_offsets is not two non-negative integers [begin, end]", n);
    if (begin > end)
        return fail(p, "tensor '%s': data_offsets [%llu, %llu] has begin > end", n, (unsigned long long)begin,
                    (unsigned long long)end);
    if (end > v->data_len)
        return fail(p, "tensor '%s': data_offsets [%llu, %llu]: end is past the data section (%llu bytes)", n,
                    (unsigned long long)begin, (unsigned long long)end, (unsigned long long)v->data_len);
    if (end - begin != t->bytes)
        return fail(p, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %llu", n,
                    (unsigned long long)begin, (unsigned long long)end, (unsigned long long)(end - begin), shp,
                    t->dtype, (unsigned long long)t->bytes);
    t->begin = begin;
    t->end = end;
    return 0;
}

static int by_name(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static int by_offset(const void *pa, const void *pb)
{
    const tensor_row *a = *(const tensor_row *const *)pa, *b = *(const tensor_row *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

/* No two tensors share bytes (empty ones hold none): 0, or 1 after a message. */
static int check_overlaps(const sft_view *v)
{
    tensor_row **order = malloc((v->n_rows ? v->n_rows : 1) * sizeof *order);
    if (!order)
        return fail(v->path, "out of memory");
    for (size_t k = 0; k < v->n_rows; k++)
        order[k] = &v->rows[k];
    qsort(order, v->n_rows, sizeof *order, by_offset);
    const tensor_row *prev = NULL;
    int r = 0;
    for (size_t k = 0; k < v->n_rows && !r; k++) {
        const tensor_row *t = order[k];
        if (t->begin == t->end)
            continue;
        if (prev && t->begin < prev->end) {
            char a[NAME_SHOWN + 16], b[NAME_SHOWN + 16];
            r = fail(v->path, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                     escape(a, sizeof a, prev->name, NAME_SHOWN), (unsigned long long)prev->begin,
                     (unsigned long long)prev->end, escape(b, sizeof b, t->name, NAME_SHOWN),
                     (unsigned long long)t->begin, (unsigned long long)t->end);
        }
        if (!prev || t->end > prev->end)
            prev = t;
    }
    free(order);
    return r;
}

/* Checks the __metadata__ value @p m: an object of strings. */
static int check_metadata(const sft_view *v, const json_t *m)
{
    if (!json_is_object(m))
        return fail(v->path, "__metadata__ is %s, expected an object of strings", json_kind(m));
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)m, key, val) {
        if (!json_is_string(val)) {
            char k[NAME_SHOWN + 16];
            return fail(v->path, "__metadata__ value of '%s' is %s, expected a string",
                        escape(k, sizeof k, key, NAME_SHOWN), json_kind(val));
        }
    }
    return 0;
}

/* Opens v->path and reads and checks its header: 0, or 1 after a message. */
static int read_header(sft_view *v)
{
    struct stat st;
    v->f = cli_fopen_regular(v->path);
    if (!v->f || fstat(fileno(v->f), &st) != 0)
        return fail(v->path, "%s", !v->f && errno == EINVAL ? "not a regular file" : strerror(errno));
    v->size = (uint64_t)st.st_size;
    uint8_t first8[8];
    if (v->size < 8)
        return fail(v->path, "the file is %llu bytes, too short for the 8-byte header length of a safetensors file",
                    (unsigned long long)v->size);
    if (fread(first8, 1, 8, v->f) != 8)
        return fail(v->path, "reading the header length: %s", ferror(v->f) ? strerror(errno) : "end of file");
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = n << 8 | first8[k];
    if (n > MAX_HEADER)
        return fail(v->path, "header length %llu is absurd (more than %llu bytes); not a safetensors file",
                    (unsigned long long)n, (unsigned long long)MAX_HEADER);
    if (n > v->size - 8)
        return fail(v->path, "header length %llu is larger than the rest of the file (%llu bytes)",
                    (unsigned long long)n, (unsigned long long)(v->size - 8));
    v->header_len = n;
    v->data_len = v->size - 8 - n;
    char *hdr = malloc(n ? (size_t)n : 1);
    if (!hdr)
        return fail(v->path, "out of memory reading a header of %llu bytes", (unsigned long long)n);
    if (fread(hdr, 1, (size_t)n, v->f) != (size_t)n) {
        free(hdr);
        return fail(v->path, "reading the header: %s", ferror(v->f) ? strerror(errno) : "end of file");
    }
    json_error_t je;
    v->root = json_loadb(hdr, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    free(hdr);
    if (!v->root)
        return fail(v->path, "the header is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    if (!json_is_object(v->root))
        return fail(v->path, "the header is %s, expected a JSON object", json_kind(v->root));
    v->rows = calloc(json_object_size(v->root) + 1, sizeof *v->rows);
    if (!v->rows)
        return fail(v->path, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(v->root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (check_metadata(v, val))
                return 1;
            v->meta = val;
            continue;
        }
        tensor_row *t = &v->rows[v->n_rows++];
        t->name = key;
        t->optimizer = !strncmp(key, optimizer_prefix, sizeof optimizer_prefix - 1);
        if (parse_entry(v, val, t))
            return 1;
    }
    return check_overlaps(v);
}

/* Reads tensor @p t's values (a float dtype, little-endian) for --stats: 0, or 1 after a message. */
static int tensor_stats(const sft_view *v, tensor_row *t)
{
    enum { CHUNK = 16384 };
    static uint8_t buf[CHUNK * 8];
    char nm[NAME_SHOWN + 16];
    escape(nm, sizeof nm, t->name, NAME_SHOWN);
    const st_float_kind kind = st_float_kind_of(t->dtype);
    const size_t es = st_float_size(kind);
    /* sum, and the sum of the values / 2^64 for F64's, whose sum can
     * overflow (1e308 + 1e308) though their mean is finite */
    double sum = 0, scaled = 0;
    t->has_stats = 1;
    if (fseeko(v->f, (off_t)(8 + v->header_len + t->begin), SEEK_SET) != 0)
        return fail(v->path, "tensor '%s': seeking to its data: %s", nm, strerror(errno));
    for (uint64_t done = 0; done < t->values;) {
        size_t n = t->values - done < CHUNK ? (size_t)(t->values - done) : CHUNK;
        if (fread(buf, es, n, v->f) != n)
            return fail(v->path, "tensor '%s': reading its data: %s", nm,
                        ferror(v->f) ? strerror(errno) : "the file ends early (did it change?)");
        for (size_t i = 0; i < n; i++) {
            const double x = st_float_at(kind, buf, i);
            if (!isfinite(x)) {
                t->nonfinite++;
                continue;
            }
            if (!t->finite || x < t->min)
                t->min = x;
            if (!t->finite || x > t->max)
                t->max = x;
            t->finite++;
            sum += x;
            scaled += ldexp(x, -64);
        }
        done += n;
    }
    t->mean = !t->finite ? 0 : isfinite(sum) ? sum / (double)t->finite : ldexp(scaled / (double)t->finite, 64);
    return 0;
}

int cli_run_checkpoint(const char *dir, char *buf, size_t size, const char **path)
{
    struct stat st;
    snprintf(buf, size, "%s%scheckpoint.safetensors", dir, dir[strlen(dir) - 1] == '/' ? "" : "/");
    if (stat(buf, &st) == 0) {
        *path = buf;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d)
        return fail(dir, "%s", strerror(errno));
    char *names[MAX_LISTED];
    int n = 0, more = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 12 || strcmp(e->d_name + len - 12, ".safetensors"))
            continue;
        if (n == MAX_LISTED || !(names[n] = strdup(e->d_name)))
            more++;
        else
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    fprintf(stderr, "strata: error: %s: a run directory stands for its checkpoint.safetensors, which is not there; ",
            dir);
    if (!n && !more)
        fprintf(stderr, "it holds no .safetensors file\n");
    else {
        fprintf(stderr, "its safetensors files:");
        for (int k = 0; k < n; k++)
            fprintf(stderr, " %s", names[k]);
        if (more)
            fprintf(stderr, " (and %d more)", more);
        fprintf(stderr, " (name one)\n");
    }
    for (int k = 0; k < n; k++)
        free(names[k]);
    return 1;
}

/* Counts of the tensors shown. */
typedef struct {
    uint64_t tensors[2], values[2], bytes[2]; /* [0] model, [1] optimizer state */
    uint64_t shown, all_bytes;                /* all_bytes: of every tensor of the file */
} totals;

static totals count(const sft_view *v)
{
    totals t;
    memset(&t, 0, sizeof t);
    for (size_t k = 0; k < v->n_rows; k++) {
        const tensor_row *r = &v->rows[k];
        t.all_bytes += r->bytes;
        if (!r->shown)
            continue;
        t.shown++;
        t.tensors[r->optimizer]++;
        t.values[r->optimizer] += r->values;
        t.bytes[r->optimizer] += r->bytes;
    }
    return t;
}

static void print_metadata(const sft_view *v)
{
    const size_t n = v->meta ? json_object_size(v->meta) : 0;
    const char **keys = n ? malloc(n * sizeof *keys) : NULL;
    if (!n || !keys) {
        printf(n ? "metadata: %zu keys (out of memory listing them)\n" : "metadata: none\n", n);
        return;
    }
    size_t k = 0, width = 1;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v->meta, key, val) {
        keys[k++] = key;
        if (utf8_chars(key) > width)
            width = utf8_chars(key);
    }
    if (width > 32)
        width = 32;
    qsort(keys, n, sizeof *keys, by_name);
    printf("metadata (%zu key%s):\n", n, n == 1 ? "" : "s");
    char kb[NAME_SHOWN * 4 + 16], vb[META_SHOWN * 4 + 16];
    for (k = 0; k < n; k++) {
        const char *s = json_string_value(json_object_get(v->meta, keys[k]));
        const size_t chars = utf8_chars(s);
        printf("  %-*s = %s", (int)width, escape(kb, sizeof kb, keys[k], NAME_SHOWN),
               escape(vb, sizeof vb, s, META_SHOWN));
        if (chars > META_SHOWN)
            printf(" (%zu characters)", chars);
        printf("\n");
    }
    free(keys);
}

/* A table's columns: name, dtype, shape, values, bytes [, min, max, mean, nonfinite]. */
enum { COL_NAME, COL_DTYPE, COL_SHAPE, COL_VALUES, COL_BYTES, COL_MIN, COL_MAX, COL_MEAN, COL_NONFINITE, N_COLS };
static const char *const col_titles[N_COLS] = {"name", "dtype", "shape", "values", "bytes",
                                               "min",  "max",   "mean",  "nonfinite"};
#define CELL (NAME_SHOWN * 4 + 16)

/* Row @p r's cells. */
static void cells(const tensor_row *r, char c[N_COLS][CELL])
{
    escape(c[COL_NAME], CELL, r->name, NAME_SHOWN);
    snprintf(c[COL_DTYPE], CELL, "%s", r->dtype);
    fmt_shape(c[COL_SHAPE], CELL, r->shape);
    fmt_count(c[COL_VALUES], CELL, r->values);
    fmt_count(c[COL_BYTES], CELL, r->bytes);
    const int some = r->has_stats && r->finite;
    snprintf(c[COL_MIN], CELL, some ? "%.6g" : "-", r->min);
    snprintf(c[COL_MAX], CELL, some ? "%.6g" : "-", r->max);
    snprintf(c[COL_MEAN], CELL, some ? "%.6g" : "-", r->mean);
    if (r->has_stats)
        fmt_count(c[COL_NONFINITE], CELL, r->nonfinite);
    else
        snprintf(c[COL_NONFINITE], CELL, "-");
}

/* The shown tensors of group @p optimizer (0: model), header order, in
 * columns of widths @p w. */
static void print_table(const sft_view *v, int optimizer, int n_cols, const int *w)
{
    static char c[N_COLS][CELL];
    for (int k = 0; k < n_cols; k++)
        printf(k < COL_VALUES ? "  %-*s" : "  %*s", w[k], col_titles[k]);
    printf("\n");
    for (size_t i = 0; i < v->n_rows; i++) {
        const tensor_row *r = &v->rows[i];
        if (!r->shown || r->optimizer != optimizer)
            continue;
        cells(r, c);
        for (int k = 0; k < n_cols; k++)
            printf(k < COL_VALUES ? "  %-*s" : "  %*s", w[k], c[k]);
        printf("\n");
    }
}

static void print_text(const sft_view *v, const inspect_args *a)
{
    static char c[N_COLS][CELL];
    char x[64], y[64], z[64], b[128];
    const totals t = count(v);
    printf("%s: %s bytes (header %s, data %s), %zu tensor%s\n", v->path, fmt_count(x, sizeof x, v->size),
           fmt_count(y, sizeof y, v->header_len), fmt_count(z, sizeof z, v->data_len), v->n_rows,
           v->n_rows == 1 ? "" : "s");
    print_metadata(v);
    if (a->pattern)
        printf("tensors matching '%s': %llu of %zu\n", a->pattern, (unsigned long long)t.shown, v->n_rows);
    const int n_cols = a->stats ? N_COLS : COL_MIN;
    int w[N_COLS];
    for (int k = 0; k < N_COLS; k++)
        w[k] = (int)strlen(col_titles[k]);
    for (size_t i = 0; i < v->n_rows; i++) {
        if (!v->rows[i].shown)
            continue;
        cells(&v->rows[i], c);
        for (int k = 0; k < n_cols; k++)
            if ((int)strlen(c[k]) > w[k])
                w[k] = (int)strlen(c[k]);
    }
    if (t.tensors[0]) {
        printf("\n");
        print_table(v, 0, n_cols, w);
    }
    if (t.tensors[1]) {
        const char *opt = v->meta ? json_string_value(json_object_get(v->meta, "optimizer")) : NULL;
        printf("\noptimizer state%s%s%s:\n", opt ? " (" : "", opt ? opt : "", opt ? ")" : "");
        print_table(v, 1, n_cols, w);
    }
    static const char *const group[2] = {"model", "optimizer state"};
    printf("\n");
    for (int g = 0; g < 2; g++) {
        if (!t.tensors[g]) {
            printf("%s: none\n", group[g]);
            continue;
        }
        printf("%s: %s tensor%s, %s value%s, %s\n", group[g], fmt_count(x, sizeof x, t.tensors[g]),
               t.tensors[g] == 1 ? "" : "s", fmt_count(y, sizeof y, t.values[g]), t.values[g] == 1 ? "" : "s",
               fmt_size(b, sizeof b, t.bytes[g]));
    }
    const uint64_t bytes = t.bytes[0] + t.bytes[1];
    printf("total%s%s%s: %s tensor%s, %s", a->pattern ? " of those matching '" : "", a->pattern ? a->pattern : "",
           a->pattern ? "'" : "", fmt_count(x, sizeof x, t.shown), t.shown == 1 ? "" : "s",
           fmt_size(b, sizeof b, bytes));
    if (!a->pattern && t.all_bytes < v->data_len)
        printf("; %s bytes of the data section belong to no tensor", fmt_count(z, sizeof z, v->data_len - t.all_bytes));
    printf("\n");
}

static json_t *to_json(const sft_view *v, const inspect_args *a)
{
    const totals t = count(v);
    json_t *tensors = json_array();
    for (size_t i = 0; tensors && i < v->n_rows; i++) {
        const tensor_row *r = &v->rows[i];
        if (!r->shown)
            continue;
        json_t *shape = json_array();
        for (size_t d = 0; shape && d < json_array_size(r->shape); d++)
            json_array_append_new(shape, json_integer(json_integer_value(json_array_get(r->shape, d))));
        json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I}", "name", r->name, "dtype", r->dtype, "shape", shape,
                              "values", (json_int_t)r->values, "bytes", (json_int_t)r->bytes);
        if (o && a->stats) {
            const int some = r->has_stats && r->finite;
            json_object_set_new(o, "min", some ? json_real(r->min) : json_null());
            json_object_set_new(o, "max", some ? json_real(r->max) : json_null());
            json_object_set_new(o, "mean", some ? json_real(r->mean) : json_null());
            json_object_set_new(o, "nonfinite", r->has_stats ? json_integer((json_int_t)r->nonfinite) : json_null());
        }
        json_array_append_new(tensors, o);
    }
    json_t *meta = v->meta ? json_deep_copy(v->meta) : json_object();
    return json_pack("{s:o, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:s?}", "file", cli_json_str(v->path),
                     "bytes", (json_int_t)v->size, "header_bytes", (json_int_t)v->header_len, "metadata", meta,
                     "tensors", tensors, "model_tensors", (json_int_t)t.tensors[0], "model_values",
                     (json_int_t)t.values[0], "optimizer_tensors", (json_int_t)t.tensors[1], "optimizer_values",
                     (json_int_t)t.values[1],
                     "tensor_bytes", (json_int_t)(t.bytes[0] + t.bytes[1]), "pattern", a->pattern);
}

int cmd_inspect(int argc, char **argv)
{
    inspect_args a;
    int r = parse_args(argc, argv, &a);
    if (r)
        return CLI_EXIT(r);
    sft_view v;
    memset(&v, 0, sizeof v);
    v.path = a.path;
    char buf[4200];
    struct stat st;
    if (stat(a.path, &st) == 0 && S_ISDIR(st.st_mode) && cli_run_checkpoint(a.path, buf, sizeof buf, &v.path))
        return 1;
    r = read_header(&v);
    size_t shown = 0;
    for (size_t k = 0; !r && k < v.n_rows; k++) {
        tensor_row *t = &v.rows[k];
        t->shown = !a.pattern || fnmatch(a.pattern, t->name, 0) == 0;
        shown += (size_t)t->shown;
    }
    if (!r && a.pattern && !shown) {
        char e[NAME_SHOWN + 16];
        r = fail(v.path, "no tensor name matches --tensors '%s' (of %zu tensors%s%s%s)", a.pattern, v.n_rows,
                 v.n_rows ? ", such as '" : "", v.n_rows ? escape(e, sizeof e, v.rows[0].name, NAME_SHOWN) : "",
                 v.n_rows ? "'" : "");
    }
    for (size_t k = 0; !r && a.stats && k < v.n_rows; k++)
        if (v.rows[k].shown && st_float_kind_of(v.rows[k].dtype) != ST_FLOAT_NONE)
            r = tensor_stats(&v, &v.rows[k]);
    if (!r) {
        if (a.json)
            r = cli_print_json(to_json(&v, &a));
        else
            print_text(&v, &a);
    }
    if (v.f)
        fclose(v.f);
    json_decref(v.root);
    free(v.rows);
    return r;
}
