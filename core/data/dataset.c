/*
 * dataset.c - in-memory datasets (IDX or host arrays) and the mini-batch
 * loader.
 *
 * A dataset keeps x as f32 (n, shape...) and y as i64 (n) on the host. The
 * loader walks a permutation of [0, n) per epoch and copies each batch into
 * a reusable host staging buffer before handing it to the device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "internal.h"

struct strata_dataset {
    int64_t n;
    int ndim; /* per-example */
    int64_t shape[STRATA_MAX_DIMS];
    int64_t feat;    /* elements per example: product of shape */
    float *x;        /* (n, feat) */
    int64_t *y;      /* (n) */
    int64_t classes; /* max label + 1 */
};

struct strata_loader {
    const strata_dataset *d; /* borrowed: must outlive the loader */
    int64_t batch;
    int shuffle, drop_last;
    uint64_t seed;
    int64_t epoch;
    int64_t pos;      /* examples handed out this epoch */
    int64_t *order;   /* (n) permutation of this epoch */
    int64_t rows;     /* staging capacity: min(batch, n), at least 1 */
    float *stage_x;   /* (rows, feat) */
    int64_t *stage_y; /* (rows) */
    st_augment aug;   /* flips and crops (data/augment.c); zero: off */
};

/* ---- datasets ---------------------------------------------------------- */

/* Allocates a dataset of @p n examples of @p shape (x, y uninitialised). */
static strata_status ds_new(int64_t n, int ndim, const int64_t *shape, const char *what, strata_dataset **out)
{
    char shp[160];
    if (n < 0)
        return st_error(STRATA_E_INVALID, "%s: example count %lld is negative", what, (long long)n);
    if (ndim < 0 || ndim > STRATA_MAX_DIMS - 1)
        return st_error(STRATA_E_INVALID, "%s: examples have %d dimensions; at most %d (the batch adds one)", what,
                        ndim, STRATA_MAX_DIMS - 1);
    if (ndim > 0 && !shape)
        return st_error(STRATA_E_INVALID, "%s: shape is NULL", what);
    int64_t feat = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0)
            return st_error(STRATA_E_INVALID, "%s: example shape %s has a negative dimension", what,
                            st_shape_str(shp, sizeof shp, ndim, shape));
        if (shape[k] && feat > INT64_MAX / shape[k])
            return st_error(STRATA_E_INVALID, "%s: example shape %s overflows", what,
                            st_shape_str(shp, sizeof shp, ndim, shape));
        feat *= shape[k];
    }
    if ((feat && n > (int64_t)(SIZE_MAX / sizeof(float)) / feat) || (uint64_t)n > SIZE_MAX / sizeof(int64_t))
        return st_error(STRATA_E_NOMEM, "%s: %lld examples of shape %s do not fit in memory", what, (long long)n,
                        st_shape_str(shp, sizeof shp, ndim, shape));
    strata_dataset *d = st_calloc(1, sizeof *d);
    if (!d)
        return STRATA_E_NOMEM;
    d->n = n;
    d->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        d->shape[k] = shape[k];
    d->feat = feat;
    d->x = st_malloc((size_t)n * (size_t)feat * sizeof(float));
    d->y = st_malloc((size_t)n * sizeof(int64_t));
    if (!d->x || !d->y) {
        strata_dataset_destroy(d);
        return STRATA_E_NOMEM;
    }
    *out = d;
    return STRATA_OK;
}

/* Input value i, v / scale, stored as f32: it must be finite. */
static strata_status ds_put(strata_dataset *d, int64_t i, double v, double scale, const char *path, const char *what)
{
    d->x[i] = (float)(v / scale);
    if (isfinite(d->x[i]))
        return STRATA_OK;
    return st_error(STRATA_E_FORMAT, "%s: value %lld of %s (example %lld) is %s; inputs must be finite", path,
                    (long long)i, what, (long long)(i / d->feat),
                    isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : "too large for f32 after the scale");
}

static void ds_count_classes(strata_dataset *d)
{
    int64_t mx = -1;
    for (int64_t i = 0; i < d->n; i++)
        if (d->y[i] > mx)
            mx = d->y[i];
    d->classes = mx + 1;
}

strata_status strata_dataset_load_idx(const char *images, const char *labels, double scale, strata_dataset **out)
{
    if (!images || !labels || !out)
        return st_error(STRATA_E_INVALID, "strata_dataset_load_idx: %s is NULL",
                        !images ? "images" : !labels ? "labels" : "out");
    if (!(scale > 0) || !isfinite(scale))
        return st_error(STRATA_E_INVALID, "strata_dataset_load_idx: scale %g must be positive and finite", scale);
    st_idx xi = {0}, yi = {0};
    strata_dataset *d = NULL;
    strata_status s = st_idx_read_raw(images, &xi);
    if (s != STRATA_OK)
        return s;
    if ((s = st_idx_read_raw(labels, &yi)) != STRATA_OK)
        goto done;
    if (yi.ndim != 1) {
        char shp[160];
        s = st_error(STRATA_E_FORMAT, "%s: a label file must be 1-D, but has shape %s", labels,
                     st_shape_str(shp, sizeof shp, yi.ndim, yi.dims));
        goto done;
    }
    if (xi.dims[0] != yi.dims[0]) {
        s = st_error(STRATA_E_FORMAT, "count mismatch: %s has %lld examples but %s has %lld labels", images,
                     (long long)xi.dims[0], labels, (long long)yi.dims[0]);
        goto done;
    }
    if ((s = ds_new(xi.dims[0], xi.ndim - 1, xi.dims + 1, images, &d)) != STRATA_OK)
        goto done;
    for (int64_t i = 0; i < yi.count; i++) {
        double v = st_idx_at(&yi, i);
        /* 2^63 is exact in double; anything at or past it does not fit */
        if (!(v >= 0) || v >= 9223372036854775808.0 || (double)(int64_t)v != v) {
            s = st_error(STRATA_E_FORMAT, "%s: label %lld is %g; labels must be non-negative integers", labels,
                         (long long)i, v);
            goto done;
        }
        d->y[i] = (int64_t)v;
    }
    if (xi.type == 0x08) { /* pixels: a 256-entry table */
        float lut[256];
        for (int k = 0; k < 256; k++)
            lut[k] = (float)(k / scale);
        if (!isfinite(lut[255])) { /* (the largest: 0 / scale is 0) */
            s = st_error(STRATA_E_FORMAT, "%s: pixel value 255 divided by the scale %g is too large for f32: inputs "
                                          "must be finite (data.scale)",
                         images, scale);
            goto done;
        }
        for (int64_t i = 0; i < xi.count; i++)
            d->x[i] = lut[xi.data[i]];
    } else {
        for (int64_t i = 0; !s && i < xi.count; i++)
            s = ds_put(d, i, st_idx_at(&xi, i), scale, images, "the images");
        if (s)
            goto done;
    }
    ds_count_classes(d);
done:
    st_idx_free(&xi);
    st_idx_free(&yi);
    if (s != STRATA_OK) {
        strata_dataset_destroy(d);
        return s;
    }
    *out = d;
    return STRATA_OK;
}

/* ---- safetensors data ---------------------------------------------------- */

/* The number dtypes of safetensors that data sets read, in the order of
 * sft_number_names. */
typedef enum {
    SFT_U8, SFT_I8, SFT_U16, SFT_I16, SFT_U32, SFT_I32, SFT_U64, SFT_I64, /* integers: labels too */
    SFT_F16, SFT_BF16, SFT_F32, SFT_F64, SFT_BOOL,
    SFT_N_NUMBERS
} sft_number;

static const char *const sft_number_names[SFT_N_NUMBERS] = {"U8",  "I8",  "U16",  "I16", "U32", "I32", "U64",
                                                            "I64", "F16", "BF16", "F32", "F64", "BOOL"};

/* The number dtype named @p t, or -1 (also for a float when @p integers). */
static int sft_number_of(const char *t, int integers)
{
    for (int k = 0; k < (integers ? SFT_F16 : SFT_N_NUMBERS); k++)
        if (!strcmp(t, sft_number_names[k]))
            return k;
    return -1;
}

/* Element @p i of little-endian data @p p of number dtype @p n (safetensors
 * data is little-endian, as this host). */
static double sft_element(sft_number n, const uint8_t *p, int64_t i)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } u;
    switch (n) {
    case SFT_U8:
    case SFT_BOOL:
        return p[i];
    case SFT_I8:
        memcpy(&u.i8, p + i, 1);
        return u.i8;
    case SFT_U16:
        memcpy(&u.u16, p + 2 * i, 2);
        return u.u16;
    case SFT_I16:
        memcpy(&u.i16, p + 2 * i, 2);
        return u.i16;
    case SFT_U32:
        memcpy(&u.u32, p + 4 * i, 4);
        return u.u32;
    case SFT_I32:
        memcpy(&u.i32, p + 4 * i, 4);
        return u.i32;
    case SFT_U64:
        memcpy(&u.u64, p + 8 * i, 8);
        return (double)u.u64;
    case SFT_I64:
        memcpy(&u.i64, p + 8 * i, 8);
        return (double)u.i64;
    case SFT_F16:
        return st_float_at(ST_FLOAT_F16, p, (size_t)i);
    case SFT_BF16:
        return st_float_at(ST_FLOAT_BF16, p, (size_t)i);
    case SFT_F32:
        return st_float_at(ST_FLOAT_F32, p, (size_t)i);
    case SFT_F64:
    default:
        return st_float_at(ST_FLOAT_F64, p, (size_t)i);
    }
}

/* The tensor named @p name of @p f, or NULL after an error that lists the
 * tensors there are. */
static const st_sft_entry *sft_tensor(const st_sft_file *f, const char *name, const char *role)
{
    const st_sft_entry *e = st_sft_find(f, name);
    if (e)
        return e;
    char list[512] = "";
    for (size_t k = 0; k < f->n_entries; k++) {
        size_t used = strlen(list);
        if (used + 4 >= sizeof list) {
            snprintf(list + sizeof list - 4, 4, "...");
            break;
        }
        snprintf(list + used, sizeof list - used, "%s'%s'", k ? ", " : "", f->entries[k].name);
    }
    st_error(STRATA_E_NOT_FOUND, "%s: no tensor '%s' (the %s); the file has %s", f->path, name, role,
             f->n_entries ? list : "no tensors");
    return NULL;
}

strata_status strata_dataset_load_safetensors(const char *path, const char *x_name, const char *y_name, double scale,
                                              strata_dataset **out)
{
    if (!path || !x_name || !out)
        return st_error(STRATA_E_INVALID, "strata_dataset_load_safetensors: %s is NULL",
                        !path ? "path" : !x_name ? "x_name" : "out");
    if (!(scale > 0) || !isfinite(scale))
        return st_error(STRATA_E_INVALID, "strata_dataset_load_safetensors: scale %g must be positive and finite",
                        scale);
    st_sft_file *f = NULL;
    strata_dataset *d = NULL;
    char shp[160];
    strata_status s = st_sft_read(path, &f);
    if (s != STRATA_OK)
        return s;
    /* without y_name, a set to predict: every label 0 */
    const st_sft_entry *xe = sft_tensor(f, x_name, "inputs");
    const st_sft_entry *ye = xe && y_name ? sft_tensor(f, y_name, "labels") : NULL;
    const int xn = xe ? sft_number_of(xe->dtype_str, 0) : -1, yn = ye ? sft_number_of(ye->dtype_str, 1) : SFT_U8;
    if (!xe || (y_name && !ye))
        s = STRATA_E_NOT_FOUND;
    else if (xn < 0)
        s = st_error(STRATA_E_FORMAT, "%s: tensor '%s' (the inputs) is %s; inputs are numbers: U8, I8, U16, I16, U32, "
                     "I32, U64, I64, F16, BF16, F32, F64 or BOOL", path, x_name, xe->dtype_str);
    else if (yn < 0)
        s = st_error(STRATA_E_FORMAT, "%s: tensor '%s' (the labels) is %s; labels are class numbers, of an integer "
                     "dtype (U8, I8, U16, I16, U32, I32, U64 or I64)", path, y_name, ye->dtype_str);
    else if (xe->ndim < 1)
        s = st_error(STRATA_E_SHAPE, "%s: tensor '%s' (the inputs) is a scalar; it needs a first dimension, one entry "
                     "per example", path, x_name);
    else if (ye && ye->ndim != 1)
        s = st_error(STRATA_E_SHAPE, "%s: tensor '%s' (the labels) has shape %s; labels are 1-D, one class per example",
                     path, y_name, st_shape_str(shp, sizeof shp, ye->ndim, ye->shape));
    else if (ye && xe->shape[0] != ye->shape[0])
        s = st_error(STRATA_E_SHAPE, "%s: tensor '%s' has %lld examples but '%s' has %lld labels", path, x_name,
                     (long long)xe->shape[0], y_name, (long long)ye->shape[0]);
    for (int k = 0; !s && k < xe->ndim; k++)
        if (xe->shape[k] == 0)
            s = st_error(STRATA_E_SHAPE, "%s: tensor '%s' (the inputs) has shape %s: %s", path, x_name,
                         st_shape_str(shp, sizeof shp, xe->ndim, xe->shape),
                         k ? "examples of no values" : "no examples");
    if (!s)
        s = ds_new(xe->shape[0], xe->ndim - 1, xe->shape + 1, path, &d);
    for (int64_t i = 0; !s && i < d->n; i++) {
        const double v = ye ? sft_element((sft_number)yn, f->data + ye->begin, i) : 0.0;
        /* 2^63 is exact in double; anything at or past it does not fit */
        if (!(v >= 0) || v >= 9223372036854775808.0)
            s = st_error(STRATA_E_FORMAT, "%s: label %lld of '%s' is %.17g; labels are integers in [0, 2^63)", path,
                         (long long)i, y_name, v);
        else
            d->y[i] = (int64_t)v;
    }
    char what[300];
    snprintf(what, sizeof what, "'%s'", x_name);
    for (int64_t i = 0; !s && i < d->n * d->feat; i++)
        s = ds_put(d, i, sft_element((sft_number)xn, f->data + xe->begin, i), scale, path, what);
    if (!s)
        ds_count_classes(d);
    st_sft_free(f);
    if (s != STRATA_OK) {
        strata_dataset_destroy(d);
        return s;
    }
    *out = d;
    return STRATA_OK;
}

strata_status strata_dataset_from_host(int64_t n, int ndim, const int64_t *shape, const float *x, const int64_t *y,
                                       strata_dataset **out)
{
    if (!out)
        return st_error(STRATA_E_INVALID, "strata_dataset_from_host: out is NULL");
    strata_dataset *d = NULL;
    strata_status s = ds_new(n, ndim, shape, "strata_dataset_from_host", &d);
    if (s != STRATA_OK)
        return s;
    if (n > 0 && ((d->feat && !x) || !y)) {
        strata_dataset_destroy(d);
        return st_error(STRATA_E_INVALID, "strata_dataset_from_host: %s is NULL", !y ? "y" : "x");
    }
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] == INT64_MAX) { /* the class count, the largest label + 1, must fit */
            strata_dataset_destroy(d);
            return st_error(STRATA_E_INVALID,
                            "strata_dataset_from_host: label %lld is %lld; labels must be in [0, 2^63 - 1)",
                            (long long)i, (long long)y[i]);
        }
    }
    for (int64_t i = 0; i < n * d->feat; i++) /* as the loaders: a NaN input trains NaN weights */
        if (!isfinite(x[i])) {
            const float v = x[i];
            const int64_t feat = d->feat;
            strata_dataset_destroy(d);
            return st_error(STRATA_E_INVALID, "strata_dataset_from_host: value %lld of x (example %lld) is %s; inputs "
                                              "must be finite",
                            (long long)i, (long long)(i / feat), isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        }
    if (n > 0) {
        if (d->feat)
            memcpy(d->x, x, (size_t)n * (size_t)d->feat * sizeof(float));
        memcpy(d->y, y, (size_t)n * sizeof(int64_t));
    }
    ds_count_classes(d);
    *out = d;
    return STRATA_OK;
}

void strata_dataset_destroy(strata_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    free(d);
}

int64_t strata_dataset_size(const strata_dataset *d)
{
    return d ? d->n : 0;
}

const int64_t *strata_dataset_shape(const strata_dataset *d, int *ndim)
{
    if (ndim)
        *ndim = d ? d->ndim : 0;
    return d ? d->shape : NULL;
}

int64_t strata_dataset_classes(const strata_dataset *d)
{
    return d ? d->classes : 0;
}

const float *strata_dataset_x(const strata_dataset *d, int64_t i)
{
    if (!d || i < 0 || i >= d->n)
        return NULL;
    return d->x + i * d->feat;
}

int64_t strata_dataset_y(const strata_dataset *d, int64_t i)
{
    if (!d || i < 0 || i >= d->n)
        return -1;
    return d->y[i];
}

/* ---- loader ------------------------------------------------------------ */

/* splitmix64's finaliser: a bijective 64-bit mix. */
static uint64_t ld_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/*
 * The shuffle's random stream is counter-based: draw k of an epoch is
 * mix64(key + (k + 1) * 0x9E3779B97F4A7C15) with
 * key = mix64(seed) ^ mix64(epoch + 0xD1B54A32D192ED03), so the order of an
 * epoch depends on (seed, epoch) only, never on what ran before.
 */
typedef struct ld_rng {
    uint64_t key, k;
} ld_rng;

static uint64_t ld_next(ld_rng *r)
{
    return ld_mix64(r->key + ++r->k * 0x9E3779B97F4A7C15ull);
}

/* Uniform in [0, bound) without modulo bias (bound >= 1). */
static uint64_t ld_below(ld_rng *r, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t v = ld_next(r);
        if (v >= threshold)
            return v % bound;
    }
}

strata_status strata_loader_create(const strata_dataset *d, int64_t batch, int shuffle, uint64_t seed, int drop_last,
                                   strata_loader **out)
{
    if (!d || !out)
        return st_error(STRATA_E_INVALID, "strata_loader_create: %s is NULL", !d ? "dataset" : "out");
    if (batch < 1)
        return st_error(STRATA_E_INVALID, "strata_loader_create: batch size %lld must be at least 1",
                        (long long)batch);
    strata_loader *l = st_calloc(1, sizeof *l);
    if (!l)
        return STRATA_E_NOMEM;
    l->d = d;
    l->batch = batch;
    l->shuffle = shuffle != 0;
    l->drop_last = drop_last != 0;
    l->seed = seed;
    l->rows = batch < d->n ? batch : d->n;
    if (l->rows < 1)
        l->rows = 1;
    /* rows <= n, and ds_new checked that n * feat floats fit in memory */
    l->order = st_malloc((size_t)(d->n ? d->n : 1) * sizeof(int64_t));
    l->stage_x = st_malloc((size_t)l->rows * (size_t)(d->feat ? d->feat : 1) * sizeof(float));
    l->stage_y = st_malloc((size_t)l->rows * sizeof(int64_t));
    if (!l->order || !l->stage_x || !l->stage_y) {
        strata_loader_destroy(l);
        return STRATA_E_NOMEM;
    }
    strata_loader_start_epoch(l, 0);
    *out = l;
    return STRATA_OK;
}

void strata_loader_destroy(strata_loader *l)
{
    if (!l)
        return;
    free(l->order);
    free(l->stage_x);
    free(l->stage_y);
    free(l);
}

void strata_loader_start_epoch(strata_loader *l, int64_t epoch)
{
    if (!l)
        return;
    int64_t n = l->d->n;
    l->epoch = epoch;
    l->pos = 0;
    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    if (!l->shuffle)
        return;
    ld_rng r = {ld_mix64(l->seed) ^ ld_mix64((uint64_t)epoch + 0xD1B54A32D192ED03ull), 0};
    /* Fisher-Yates, from the back */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ld_below(&r, (uint64_t)i + 1);
        int64_t t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
}

int64_t strata_loader_batches(const strata_loader *l)
{
    if (!l)
        return 0;
    int64_t n = l->d->n;
    return n / l->batch + (!l->drop_last && n % l->batch ? 1 : 0);
}

strata_status strata_loader_next(strata_loader *l, strata_device *dev, strata_tensor **x, strata_tensor **y,
                                 int *done)
{
    if (!l || !dev || !x || !y || !done)
        return st_error(STRATA_E_INVALID, "strata_loader_next: %s is NULL",
                        !l ? "loader" : !dev ? "dev" : !x ? "x" : !y ? "y" : "done");
    const strata_dataset *d = l->d;
    int64_t left = d->n - l->pos;
    if (left <= 0 || (l->drop_last && left < l->batch)) {
        *x = NULL;
        *y = NULL;
        *done = 1;
        return STRATA_OK;
    }
    int64_t b = left < l->batch ? left : l->batch;
    size_t row = (size_t)d->feat * sizeof(float);
    for (int64_t r = 0; r < b; r++) {
        int64_t i = l->order[l->pos + r];
        if (row)
            memcpy(l->stage_x + r * d->feat, d->x + i * d->feat, row);
        l->stage_y[r] = d->y[i];
    }
    st_augment_apply(&l->aug, l->stage_x, b, d->ndim, d->shape, l->seed, l->epoch, l->pos);
    int64_t xs[STRATA_MAX_DIMS];
    xs[0] = b;
    for (int k = 0; k < d->ndim; k++)
        xs[k + 1] = d->shape[k];
    strata_tensor *tx = NULL, *ty = NULL;
    strata_status s = strata_tensor_from_host(dev, STRATA_F32, d->ndim + 1, xs, l->stage_x, &tx);
    if (s != STRATA_OK)
        return st_error_context(s, "loader batch of %lld examples", (long long)b);
    s = strata_tensor_from_host(dev, STRATA_I64, 1, &b, l->stage_y, &ty);
    if (s != STRATA_OK) {
        strata_tensor_release(tx);
        return st_error_context(s, "loader batch of %lld labels", (long long)b);
    }
    l->pos += b;
    *x = tx;
    *y = ty;
    *done = 0;
    return STRATA_OK;
}

st_augment *st_loader_augment(strata_loader *l, const strata_dataset **d)
{
    *d = l->d;
    return &l->aug;
}

void strata_loader_skip(strata_loader *l, int64_t n)
{
    if (!l || n <= 0)
        return;
    int64_t left = l->d->n - l->pos;
    if (n > left / l->batch)
        l->pos = l->d->n; /* past the end: the epoch is over */
    else
        l->pos += n * l->batch;
}

strata_status strata_dataset_normalize(strata_dataset *d, double mean, double std)
{
    if (!d)
        return st_error(STRATA_E_INVALID, "strata_dataset_normalize: NULL dataset");
    return strata_dataset_normalize_channels(d, 1, &mean, &std);
}

strata_status strata_dataset_normalize_channels(strata_dataset *d, int n, const double *mean, const double *std)
{
    const char *fn = n == 1 ? "strata_dataset_normalize" : "strata_dataset_normalize_channels";
    if (!d || !mean || !std || n < 1)
        return st_error(STRATA_E_INVALID, "%s: NULL dataset, NULL mean or std, or %d channels", fn, n);
    char shp[128];
    if (n > 1 && (d->ndim != 3 || d->shape[0] != n))
        return st_error(STRATA_E_SHAPE, "%s: %d means and stds, one per channel, need (C, H, W) examples with C = %d "
                                        "channels; the examples are %s%s",
                        fn, n, n, st_shape_str(shp, sizeof shp, d->ndim, d->shape),
                        d->ndim == 3 ? ": give as many means and stds as their first dimension" : "");
    for (int c = 0; c < n; c++) {
        if (!(std[c] > 0) || !isfinite(std[c]) || !isfinite(mean[c]))
            return st_error(STRATA_E_INVALID, "%s: std must be positive and finite (got mean %g, std %g%s)", fn,
                            mean[c], std[c], n > 1 ? ", a channel's" : "");
        if (!isfinite((float)mean[c]) || !isfinite((float)(1.0 / std[c])))
            return st_error(STRATA_E_INVALID, "%s: mean %g and 1/std %g must be finite in f32", fn, mean[c],
                            1.0 / std[c]);
    }
    const int64_t plane = d->feat / n; /* values of a channel in an example */
    for (int64_t e = 0; e < d->n; e++)
        for (int c = 0; c < n; c++) {
            const float m = (float)mean[c], inv = (float)(1.0 / std[c]);
            float *x = d->x + e * d->feat + c * plane;
            for (int64_t i = 0; i < plane; i++) {
                x[i] = (x[i] - m) * inv;
                if (!isfinite(x[i]))
                    return st_error(STRATA_E_INVALID, "%s: value %lld (example %lld) is not finite in f32 after "
                                                      "subtracting the mean %g and dividing by the std %g",
                                    fn, (long long)(e * d->feat + c * plane + i), (long long)e, mean[c], std[c]);
            }
        }
    return STRATA_OK;
}
