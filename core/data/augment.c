/*
 * augment.c - data augmentation of image batches in the loader: a random
 * horizontal flip and a random crop after zero padding (PyTorch's
 * RandomHorizontalFlip(p) and RandomCrop(size, padding)).
 *
 * Applied in place to a staged batch by strata_loader_next (one call,
 * st_augment_apply). Every draw of an example is a hash of (loader seed,
 * epoch, the example's position in the epoch), never of what ran before, so
 * a resumed run (strata_loader_skip) and a fresh one see the same batches:
 *
 *   key   = mix64(seed ^ 0xA5A5...) ^ mix64(epoch + C1) ^ mix64(position + C2)
 *   u_k   = top 53 bits of mix64(key + k * golden) / 2^53, k = 1, 2, 3
 *   flip iff u_1 < hflip; crop offsets dy = floor(u_2 (2 p + 1)) - p, dx likewise from u_3
 *
 * An example of shape (C, H, W) or (H, W) becomes
 *   out[c, i, j] = in'[c, i + dy, j + dx]  (0 outside the image), dy, dx in [-p, p]
 * where in' is the image mirrored along W when it flips: the crop at offset
 * (p + dy, p + dx) of the image padded with p zeros on every side.
 */
#include <math.h>

#include "internal.h"

static uint64_t aug_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Draw k (1-based) of an example, uniform in [0, 1). */
static double aug_unit(uint64_t key, int k)
{
    return (double)(aug_mix64(key + (uint64_t)k * 0x9E3779B97F4A7C15ull) >> 11) * (1.0 / 9007199254740992.0);
}

strata_status strata_loader_set_augment(strata_loader *l, double hflip_p, int64_t crop_padding)
{
    if (!l)
        return st_error(STRATA_E_INVALID, "strata_loader_set_augment: NULL loader");
    if (!(hflip_p >= 0.0 && hflip_p <= 1.0))
        return st_error(STRATA_E_INVALID, "strata_loader_set_augment: hflip probability %g is outside [0, 1]", hflip_p);
    if (crop_padding < 0)
        return st_error(STRATA_E_INVALID, "strata_loader_set_augment: crop_padding %lld is negative",
                        (long long)crop_padding);
    const strata_dataset *d = NULL;
    st_augment *a = st_loader_augment(l, &d);
    int nd = 0;
    const int64_t *shape = strata_dataset_shape(d, &nd);
    if ((hflip_p > 0.0 || crop_padding > 0) && nd != 2 && nd != 3) {
        char s[128];
        return st_error(STRATA_E_INVALID,
                        "strata_loader_set_augment: flips and crops need image examples of shape (C, H, W) or "
                        "(H, W); the data set's examples are %s",
                        st_shape_str(s, sizeof s, nd, shape));
    }
    /* (32, 32, 3): channels last (numpy's, PIL's), which a flip would read as W = 3 (swapping red and blue)
     * and a crop shift along those 3 values; an image of more than 4 rows and at most 4 columns, with more
     * than 4 channels, is not one to flip ((16, 4, 4), a board game's planes, is taken as it is) */
    if ((hflip_p > 0.0 || crop_padding > 0) && nd == 3 && shape[2] <= 4 && shape[0] > 4 && shape[1] > 4) {
        char s[128];
        return st_error(STRATA_E_INVALID,
                        "strata_loader_set_augment: the data set's examples are %s, channels last as it looks "
                        "(height, width, channels); flips and crops read (channels, height, width): store the "
                        "images as (N, C, H, W) (numpy: x.transpose(0, 3, 1, 2))",
                        st_shape_str(s, sizeof s, nd, shape));
    }
    /* a shift past the image's side leaves an all-zero example: a padding beyond the shorter side makes such
     * crops the common case along it (and one near INT64_MAX overflowed the shift's range) */
    const int64_t side = nd >= 2 ? (shape[nd - 1] < shape[nd - 2] ? shape[nd - 1] : shape[nd - 2]) : 0;
    if (crop_padding > side)
        return st_error(STRATA_E_INVALID,
                        "strata_loader_set_augment: crop_padding %lld is more than the images' shorter side "
                        "(%lld): most random crops would show nothing of the image (data.augment.crop_padding)",
                        (long long)crop_padding, (long long)side);
    a->hflip = hflip_p;
    a->crop = crop_padding;
    return STRATA_OK;
}

/* One (H, W) plane in place: mirror it (when @p flip), then shift it by
 * (dy, dx) with zeros coming in: out[i, j] = in[i + dy, j + dx]. Rows and
 * columns are visited in the order that reads each source before it is
 * overwritten, so no scratch memory is needed. */
static void augment_plane(float *x, int64_t H, int64_t W, int flip, int64_t dy, int64_t dx)
{
    if (flip)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W / 2; j++) {
                float t = x[i * W + j];
                x[i * W + j] = x[i * W + W - 1 - j];
                x[i * W + W - 1 - j] = t;
            }
    if (!dy && !dx)
        return;
    for (int64_t ii = 0; ii < H; ii++) {
        int64_t i = dy >= 0 ? ii : H - 1 - ii;
        for (int64_t jj = 0; jj < W; jj++) {
            int64_t j = dx >= 0 ? jj : W - 1 - jj;
            int64_t si = i + dy, sj = j + dx;
            x[i * W + j] = si >= 0 && si < H && sj >= 0 && sj < W ? x[si * W + sj] : 0.0f;
        }
    }
}

void st_augment_apply(const st_augment *a, float *x, int64_t rows, int ndim, const int64_t *shape, uint64_t seed,
                      int64_t epoch, int64_t first)
{
    if (!(a->hflip > 0.0 || a->crop > 0) || (ndim != 2 && ndim != 3))
        return;
    int64_t C = ndim == 3 ? shape[0] : 1, H = shape[ndim - 2], W = shape[ndim - 1];
    uint64_t base = aug_mix64(seed ^ 0xA5A5A5A5A5A5A5A5ull) ^ aug_mix64((uint64_t)epoch + 0xD1B54A32D192ED03ull);
    for (int64_t r = 0; r < rows; r++) {
        uint64_t key = base ^ aug_mix64((uint64_t)(first + r) + 0x8CB92BA72F3D8DD7ull);
        int flip = aug_unit(key, 1) < a->hflip;
        int64_t dy = 0, dx = 0;
        if (a->crop > 0) {
            dy = (int64_t)floor(aug_unit(key, 2) * (double)(2 * a->crop + 1)) - a->crop;
            dx = (int64_t)floor(aug_unit(key, 3) * (double)(2 * a->crop + 1)) - a->crop;
        }
        for (int64_t c = 0; c < C && (flip || dy || dx); c++)
            augment_plane(x + (r * C + c) * H * W, H, W, flip, dy, dx);
    }
}
