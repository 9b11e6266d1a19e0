/*
 * cpu_conv.c - the conv plugin's 2-D convolutions on the cpu backend,
 * registered by name (the conv plugin defines the ops; see
 * plugins/conv/conv2d.c and conv_transpose2d.c for their semantics):
 *
 *   conv::conv2d                 (x, w [, b]) -> y    stride, padding, dilation, groups
 *   conv::conv2d_backward_data   (dy, w)      -> dx   the same, input_size
 *   conv::conv2d_backward_weight (dy, x)      -> dw   the same, kernel_size
 *   conv::conv_transpose2d       (x, w [, b]) -> y    the same, output_padding
 *
 *   x (N, C, H, W), w (OC, C/groups, KH, KW), y (N, OC, OH, OW), NCHW row-major;
 *   conv_transpose2d's weight (C_in, OC/groups, KH, KW) is the weight of the
 *   convolution from its output back to its input, so its forward is
 *   conv2d_backward_data plus a bias.
 *
 * Each image and group is a few small matrix products in the register
 * tiles of cpu_conv_gemm.c, images spread over the threads. With K =
 * C/groups KH KW taps and P = OH OW positions:
 *
 *   forward        y[n] (OCg, P)    = w (OCg, K) col[n] (K, P) + b
 *   backward data  dcol (K, P)      = w^T (K, OCg) dy[n] (OCg, P); dx[n] = col2im(dcol)
 *   backward wt    dw (OCg, K)     += dy[n] (OCg, P) col[n]^T, a partial per thread, summed at the end
 *
 * col is never built for stride 1 (LeNet's, and most 3 x 3 layers): row k
 * of col is then the zero-padded image shifted by tap k's offset, so the
 * tiles read the padded planes through an offset table, computing "wide"
 * rows of Wp = W + 2 pw positions of which the last (KW - 1) dw are thrown
 * away, and col2im is one contiguous shifted add per tap. Strided
 * convolutions, and planes too large for L2, go through im2col in chunks of
 * positions (256 KiB of buffer) and a scattered col2im.
 *
 * Sums run in float (ref's in double; the conformance tolerance is 1e-4
 * scaled by sqrt of the terms), in an order fixed by the shapes and the
 * thread count. Inputs with Inf or NaN can spread NaN a little further than
 * ref does: the wide columns and the padding multiply such values by zero.
 *
 * Layers where oneDNN's blocked convolution primitives, reorders included,
 * measured faster go to them instead (cpu_conv_dnnl.c: groups 1 and, on
 * AVX2, at least 16 channels in and out for the forward, 8 for the backward
 * ops; on AVX-512, from 6-8 channels). For the others, oneDNN is not used: with plain NCHW memory (what
 * the ABI hands over) oneDNN 2.6 on AVX2 offers only its im2col + sgemm
 * implementation ("gemm:jit"), too slow at LeNet's sizes, and its blocked
 * ("jit:avx2") kernels at best tie with these tiles there (cpu_conv_dnnl.c
 * has the numbers). Measured on W2's layers (batch 64; 1 -> 6 channels at
 * 28 x 28 with padding 2, 6 -> 16 at 14 x 14; 5 x 5), one thread of the
 * 2-core AMD EPYC test machine, milliseconds:
 *
 *                           gemm:jit        these tiles
 *   layer 1 forward         1.7 - 2.1       0.45
 *   layer 1 backward wt     2.4 - 3.5       0.38
 *   layer 2 forward         1.2 - 1.7       0.58 - 0.93
 *   layer 2 backward data   1.6 - 2.2       0.89 - 1.5
 *   layer 2 backward wt     1.2 - 1.3       0.74 - 0.95
 *
 * (ranges: the machine is shared, so runs vary).
 */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cpu_conv.h"

/* Floats of im2col buffer per chunk of positions (256 KiB): the buffer
 * stays in L2 between being written and being read by the tiles. */
#define CPU_CONV_CHUNK_FLOATS 65536
/* Floats of zero-padded planes (or of backward data's wide dcol) up to
 * which a stride-1 convolution skips im2col (512 KiB: they stay in L2). */
#define CPU_CONV_DIRECT_FLOATS 131072
/* Multiply-adds below which a convolution runs on the calling thread. */
#define CPU_CONV_PAR_MIN 131072

static int64_t cpu_round8(int64_t n)
{
    return (n + 7) / 8 * 8;
}

/* ---- attributes and shapes ------------------------------------------------------- */

strata_status cpu_attr_pair(const strata_kernel_call *call, const char *name, int64_t dflt, int64_t out[2])
{
    const strata_attr *a = strata_attr_find(call->attrs, call->n_attrs, name);
    out[0] = out[1] = dflt;
    if (!a)
        return STRATA_OK;
    if (a->kind == STRATA_ATTR_INT) {
        out[0] = out[1] = a->i;
        return STRATA_OK;
    }
    if (a->kind == STRATA_ATTR_INTS && a->n <= 2) {
        if (a->n >= 1)
            out[0] = out[1] = a->ints[0];
        if (a->n == 2)
            out[1] = a->ints[1];
        return STRATA_OK;
    }
    if (a->kind == STRATA_ATTR_INTS)
        return kc_error(call, STRATA_E_INVALID, "'%s' takes one or two integers (height, width), got %d", name,
                        (int)a->n);
    return kc_error(call, STRATA_E_INVALID, "'%s' must be an integer or a list of two integers", name);
}

/* stride, padding, dilation, groups into @p g, with their ranges checked. */
static strata_status cpu_conv_params(const strata_kernel_call *call, cpu_conv_geom *g)
{
    int64_t s[2], p[2], d[2];
    strata_status st;
    if ((st = cpu_attr_pair(call, "stride", 1, s)) || (st = cpu_attr_pair(call, "padding", 0, p)) ||
        (st = cpu_attr_pair(call, "dilation", 1, d)))
        return st;
    g->groups = strata_attr_get_int(call->attrs, call->n_attrs, "groups", 1);
    if (s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || p[0] < 0 || p[1] < 0 || g->groups < 1)
        return kc_error(call, STRATA_E_INVALID,
                        "stride (%lld, %lld) and dilation (%lld, %lld) must be positive, padding (%lld, %lld) not "
                        "negative, groups %lld positive",
                        (long long)s[0], (long long)s[1], (long long)d[0], (long long)d[1], (long long)p[0],
                        (long long)p[1], (long long)g->groups);
    g->sh = s[0], g->sw = s[1], g->ph = p[0], g->pw = p[1], g->dh = d[0], g->dw = d[1];
    return STRATA_OK;
}

/* Checks the sizes in @p g (filled from the tensors) against each other:
 * channels divisible by groups, the kernel inside the padded input, and
 * OH, OW the convolution's output size. Fills Cg, OCg, K, P. */
static strata_status cpu_conv_check(const strata_kernel_call *call, cpu_conv_geom *g, int64_t weight_cg)
{
    if (g->C % g->groups || g->OC % g->groups || weight_cg * g->groups != g->C)
        return kc_error(call, STRATA_E_SHAPE,
                        "%lld input and %lld output channels with a weight of %lld input channels per group do not "
                        "fit %lld group(s)",
                        (long long)g->C, (long long)g->OC, (long long)weight_cg, (long long)g->groups);
    int64_t span_h = g->dh * (g->KH - 1) + 1, span_w = g->dw * (g->KW - 1) + 1;
    int ok = g->KH >= 1 && g->KW >= 1 && span_h <= g->H + 2 * g->ph && span_w <= g->W + 2 * g->pw;
    ok = ok && g->OH == (g->H + 2 * g->ph - span_h) / g->sh + 1 && g->OW == (g->W + 2 * g->pw - span_w) / g->sw + 1;
    if (!ok || g->N < 0)
        return kc_error(call, STRATA_E_SHAPE,
                        "a (%lld, %lld) kernel (dilation (%lld, %lld), stride (%lld, %lld), padding (%lld, %lld)) "
                        "over a (%lld, %lld) input does not give the (%lld, %lld) output",
                        (long long)g->KH, (long long)g->KW, (long long)g->dh, (long long)g->dw, (long long)g->sh,
                        (long long)g->sw, (long long)g->ph, (long long)g->pw, (long long)g->H, (long long)g->W,
                        (long long)g->OH, (long long)g->OW);
    g->Cg = g->C / g->groups;
    g->OCg = g->OC / g->groups;
    g->K = g->Cg * g->KH * g->KW;
    g->P = g->OH * g->OW;
    return STRATA_OK;
}

/* Arity, f32 and rank 4 of every tensor (rank 1 for a bias, input 2). */
static strata_status cpu_conv_tensors(const strata_kernel_call *call, int min_in, int max_in)
{
    strata_status s = kc_check_f32_call(call, min_in, max_in, 1);
    if (s != STRATA_OK)
        return s;
    for (int k = 0; k < call->n_inputs + 1; k++) {
        const strata_tensor_desc *d = k < call->n_inputs ? &call->inputs[k] : &call->outputs[0];
        int want = k == 2 && k < call->n_inputs ? 1 : 4;
        if (d->ndim != want) {
            char b[128];
            return kc_error(call, STRATA_E_SHAPE, "%s %d must have rank %d, got shape %s",
                            k < call->n_inputs ? "input" : "output", k < call->n_inputs ? k : 0, want,
                            kc_shape_str(b, sizeof b, d->ndim, d->shape));
        }
    }
    return STRATA_OK;
}

/* Checks an op's tensors (two inputs, a bias third up to @p max_in, one
 * output) and fills @p g from the attributes and the convolution's three
 * tensors x (N, C, H, W), w (OC, C/groups, KH, KW) and y (N, OC, OH, OW),
 * whichever of them (or their gradients) the op takes or gives; the names
 * are for the message when y's batch or channels do not fit x's and w's.
 * A bias has one value per channel of the op's output. */
static strata_status cpu_conv_setup(const strata_kernel_call *call, cpu_conv_geom *g, int max_in,
                                    const strata_tensor_desc *x, const strata_tensor_desc *w,
                                    const strata_tensor_desc *y, const char *x_name, const char *w_name,
                                    const char *y_name)
{
    strata_status s = cpu_conv_tensors(call, 2, max_in);
    if (s == STRATA_OK)
        s = cpu_conv_params(call, g);
    if (s != STRATA_OK)
        return s;
    g->N = x->shape[0], g->C = x->shape[1], g->H = x->shape[2], g->W = x->shape[3];
    g->OC = w->shape[0], g->KH = w->shape[2], g->KW = w->shape[3];
    g->OH = y->shape[2], g->OW = y->shape[3];
    if (y->shape[0] != g->N || y->shape[1] != g->OC)
        return kc_error(call, STRATA_E_SHAPE, "%s has batch %lld and %lld channels; %s batch %lld, %s %lld channels",
                        y_name, (long long)y->shape[0], (long long)y->shape[1], x_name, (long long)g->N, w_name,
                        (long long)g->OC);
    if ((s = cpu_conv_check(call, g, w->shape[1])) != STRATA_OK)
        return s;
    if (call->n_inputs > 2)
        return kc_check_numel(call, &call->inputs[2], "bias", call->outputs[0].shape[1]);
    return STRATA_OK;
}

/* ---- zero-padded copies ------------------------------------------------------------ */

/* Zeros after the last padded plane that the wide tiles may read. */
static int64_t cpu_conv_slack(const cpu_conv_geom *g)
{
    return (g->KW - 1) * g->dw + 16;
}

/* dst planes (Hp, Wp), @p stride floats apart: src planes (H, W) placed at
 * row @p top, column @p left, zeros around them and in [Hp Wp, stride). */
static void cpu_pad_planes(float *restrict dst, int64_t stride, const float *restrict src, int64_t planes, int64_t H,
                           int64_t W, int64_t top, int64_t left, int64_t Hp, int64_t Wp)
{
    for (int64_t c = 0; c < planes; c++) {
        float *d = dst + c * stride;    // (Hp, Wp)
        const float *s = src + c * H * W; // (H, W)
        memset(d, 0, sizeof(float) * (size_t)(top * Wp));
        for (int64_t r = 0; r < H; r++) {
            float *dr = d + (top + r) * Wp;
            for (int64_t q = 0; q < left; q++)
                dr[q] = 0.0f;
            memcpy(dr + left, s + r * W, sizeof(float) * (size_t)W);
            for (int64_t q = left + W; q < Wp; q++)
                dr[q] = 0.0f;
        }
        memset(d + (top + H) * Wp, 0, sizeof(float) * (size_t)(stride - (top + H) * Wp));
    }
}

/* xpad (Cg, Hp, Wp) + slack zeros: image @p n, group @p grp of x (N, C, H, W)
 * zero-padded, what the stride-1 tiles read through cpu_conv_taps. */
static void cpu_pad_image(float *restrict xpad, const float *restrict x, const cpu_conv_geom *g, int64_t n,
                          int64_t grp, int64_t Hp, int64_t Wp)
{
    cpu_pad_planes(xpad, Hp * Wp, x + (n * g->C + grp * g->Cg) * g->H * g->W, g->Cg, g->H, g->W, g->ph, g->pw, Hp, Wp);
    memset(xpad + g->Cg * Hp * Wp, 0, sizeof(float) * (size_t)cpu_conv_slack(g));
}

/* dst (planes, H, W) = the first W columns of each row of src (planes, H, ld). */
static void cpu_crop_planes(float *restrict dst, const float *restrict src, int64_t planes, int64_t H, int64_t W,
                            int64_t ld, int64_t src_stride)
{
    for (int64_t c = 0; c < planes; c++)
        for (int64_t r = 0; r < H; r++)
            memcpy(dst + (c * H + r) * W, src + c * src_stride + r * ld, sizeof(float) * (size_t)W);
}

/* dst (rows, ld) = columns [p0, p0 + len) of src (rows, P), zeros up to len
 * rounded up to 8 (what the tiles read). */
static void cpu_copy_cols(float *restrict dst, int64_t ld, const float *restrict src, int64_t P, int64_t rows,
                          int64_t p0, int64_t len)
{
    for (int64_t o = 0; o < rows; o++) {
        memcpy(dst + o * ld, src + o * P + p0, sizeof(float) * (size_t)len);
        memset(dst + o * ld + len, 0, sizeof(float) * (size_t)(cpu_round8(len) - len));
    }
}

/* planes (planes, len): plane c filled with b[c], or zeros where b is NULL. */
static void cpu_fill_planes(float *restrict dst, const float *restrict b, int64_t planes, int64_t len)
{
    for (int64_t c = 0; c < planes; c++) {
        float v = b ? b[c] : 0.0f;
        for (int64_t q = 0; q < len; q++)
            dst[c * len + q] = v;
    }
}

/* ---- im2col and col2im over a chunk of positions (strided convolutions) -------------- */

/* Output columns j (of OW) whose tap at input column j sw + off lies in [0, W): [*lo, *hi). */
static void cpu_conv_cols(const cpu_conv_geom *g, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->W - off <= 0 ? 0 : (g->W - off + g->sw - 1) / g->sw;
    b = b < g->OW ? b : g->OW;
    *lo = a < b ? a : b;
    *hi = b;
}

/*
 * col (K, ldc): col[(c KH + kh) KW + kw][p - p0] = x[c, i sh - ph + kh dh, j sw - pw + kw dw]
 * for positions p = i OW + j in [p0, p1), 0 in the padding; columns
 * [p1 - p0, ldc) are zeroed. x: one image's group, (Cg, H, W).
 */
static void cpu_im2col(float *restrict col, int64_t ldc, const float *restrict x, const cpu_conv_geom *g, int64_t p0,
                       int64_t p1)
{
    const int64_t len = p1 - p0;
    for (int64_t c = 0; c < g->Cg; c++) {
        const float *plane = x + c * g->H * g->W; // (H, W)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            for (int64_t kw = 0; kw < g->KW; kw++) {
                float *row = col + ((c * g->KH + kh) * g->KW + kw) * ldc; // (len)
                const int64_t off = kw * g->dw - g->pw;
                int64_t lo, hi;
                cpu_conv_cols(g, off, &lo, &hi);
                for (int64_t p = p0; p < p1;) {
                    int64_t i = p / g->OW, j0 = p % g->OW;
                    int64_t j1 = g->OW < j0 + (p1 - p) ? g->OW : j0 + (p1 - p);
                    float *r = row + (p - p0) - j0; /* r[j] for j in [j0, j1) */
                    int64_t ih = i * g->sh - g->ph + kh * g->dh;
                    if (ih < 0 || ih >= g->H) {
                        for (int64_t j = j0; j < j1; j++)
                            r[j] = 0.0f;
                    } else {
                        const float *src = plane + ih * g->W; /* src[j sw + off] is the tap of column j */
                        int64_t a = lo > j0 ? lo : j0, b = hi < j1 ? hi : j1;
                        if (b < a)
                            b = a;
                        for (int64_t j = j0; j < a; j++)
                            r[j] = 0.0f;
                        for (int64_t j = a; j < b; j++)
                            r[j] = src[j * g->sw + off];
                        for (int64_t j = b; j < j1; j++)
                            r[j] = 0.0f;
                    }
                    p += j1 - j0;
                }
                for (int64_t q = len; q < ldc; q++)
                    row[q] = 0.0f;
            }
        }
    }
}

/* dx (Cg, H, W) += col2im(dcol (K, ldc)) for positions [p0, p1): the
 * adjoint of cpu_im2col. */
static void cpu_col2im_add(float *restrict dx, const float *restrict dcol, int64_t ldc, const cpu_conv_geom *g,
                           int64_t p0, int64_t p1)
{
    for (int64_t c = 0; c < g->Cg; c++) {
        float *plane = dx + c * g->H * g->W; // (H, W)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            for (int64_t kw = 0; kw < g->KW; kw++) {
                const float *row = dcol + ((c * g->KH + kh) * g->KW + kw) * ldc; // (p1 - p0)
                const int64_t off = kw * g->dw - g->pw;
                int64_t lo, hi;
                cpu_conv_cols(g, off, &lo, &hi);
                for (int64_t p = p0; p < p1;) {
                    int64_t i = p / g->OW, j0 = p % g->OW;
                    int64_t j1 = g->OW < j0 + (p1 - p) ? g->OW : j0 + (p1 - p);
                    const float *r = row + (p - p0) - j0;
                    int64_t ih = i * g->sh - g->ph + kh * g->dh;
                    if (ih >= 0 && ih < g->H) {
                        float *dst = plane + ih * g->W; /* dst[j sw + off] takes column j */
                        int64_t a = lo > j0 ? lo : j0, b = hi < j1 ? hi : j1;
                        for (int64_t j = a; j < b; j++)
                            dst[j * g->sw + off] += r[j];
                    }
                    p += j1 - j0;
                }
            }
        }
    }
}

/* ---- planning ------------------------------------------------------------------------ */

/* Positions per chunk so that @p rows rows of a chunk fill about
 * CPU_CONV_CHUNK_FLOATS floats: a multiple of 16, at least 16, at most P
 * rounded up; chunks of one image come out equal in size. */
static int64_t cpu_conv_chunk(int64_t P, int64_t rows)
{
    int64_t most = CPU_CONV_CHUNK_FLOATS / (rows > 0 ? rows : 1);
    most = most < 16 ? 16 : most / 16 * 16;
    int64_t n = (P + most - 1) / most;
    int64_t len = (P + n - 1) / n;
    return (len + 15) / 16 * 16;
}

/* Threads for @p items work items of @p fma multiply-adds in all. */
static int cpu_conv_threads(int64_t items, double fma)
{
    int nt = cpu_threads();
    if (fma < CPU_CONV_PAR_MIN || items < 2)
        return 1;
    return items < nt ? (int)items : nt;
}

/* One allocation per call: @p n_table int64 offsets, then @p per_thread
 * floats for each of @p nt threads (64-byte aligned, stride apart);
 * STRATA_E_NOMEM with a message when it fails. */
typedef struct cpu_conv_mem {
    void *block;
    int64_t *table; // (n_table)
    float *scratch; // (nt, stride)
    int64_t stride;
} cpu_conv_mem;

static strata_status cpu_conv_alloc(const strata_kernel_call *call, cpu_conv_mem *m, int64_t n_table, int nt,
                                    int64_t per_thread)
{
    int64_t t = (n_table + 15) / 16 * 16; /* int64s: keeps the floats 64-byte aligned */
    m->stride = (per_thread + 15) / 16 * 16;
    size_t bytes = sizeof(int64_t) * (size_t)t + sizeof(float) * (size_t)(m->stride * nt);
    m->block = NULL;
    if (posix_memalign(&m->block, 64, bytes ? bytes : 64) != 0)
        return kc_error(call, STRATA_E_NOMEM, "out of memory for %zu bytes of convolution scratch", bytes);
    m->table = m->block;
    m->scratch = (float *)(m->table + t);
    return STRATA_OK;
}

/* The stride-1 convolution without im2col reads taps of zero-padded
 * images and computes "wide" rows (every padded column, the last (KW - 1)
 * dw of each row thrown away): worth it while the padded planes stay in
 * L2 and the wide rows are not much wider than the real ones. */
static int cpu_conv_direct(const cpu_conv_geom *g, int64_t planes, int64_t Hp, int64_t Wp, int64_t out_w)
{
    return g->sh == 1 && g->sw == 1 && planes * Hp * Wp <= CPU_CONV_DIRECT_FLOATS && Wp <= 2 * out_w;
}

/* Taps of x's padded planes (Cg, Hp, Wp): bk[(c KH + kh) KW + kw] = c Hp Wp + kh dh Wp + kw dw. */
static void cpu_conv_taps(int64_t *bk, const cpu_conv_geom *g, int64_t Hp, int64_t Wp)
{
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++)
                bk[(c * g->KH + kh) * g->KW + kw] = c * Hp * Wp + kh * g->dh * Wp + kw * g->dw;
}

/* ---- the three products ------------------------------------------------------------ */

/* y (N, OC, OH, OW) = conv(x (N, C, H, W), w (OC, Cg, KH, KW)) + b (OC, or NULL). */
static strata_status cpu_conv_forward(const strata_kernel_call *call, float *y, const float *x, const float *w,
                                      const float *b, const cpu_conv_geom *g)
{
    if (cpu_conv_dnnl(CPU_CONV_FORWARD, y, x, w, b, g))
        return STRATA_OK;
    const int64_t Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw;
    const double fma = (double)g->N * g->OC * g->P * g->K;
    cpu_conv_mem m;
    strata_status s;
    if (cpu_conv_direct(g, g->Cg, Hp, Wp, g->OW)) {
        /* y[n, grp] (OCg, OH x Wp wide) = w_g (OCg, K) taps(xpad) (K, OH x Wp) + b_g */
        const int64_t PW = g->OH * Wp, xs = g->Cg * Hp * Wp + cpu_conv_slack(g);
        const int64_t items = g->N * g->groups;
        const int nt = cpu_conv_threads(items, fma);
        if ((s = cpu_conv_alloc(call, &m, 2 * g->K, nt, xs + g->OCg * PW)) != STRATA_OK)
            return s;
        int64_t *ak = m.table, *bk = m.table + g->K;
        for (int64_t k = 0; k < g->K; k++)
            ak[k] = k;
        cpu_conv_taps(bk, g, Hp, Wp);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            float *xpad = m.scratch + (nt > 1 ? omp_get_thread_num() : 0) * m.stride; // (Cg, Hp, Wp) + slack
            float *yw = xpad + xs;                                                  // (OCg, OH, Wp)
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; it++) {
                int64_t n = it / g->groups, grp = it % g->groups;
                cpu_pad_image(xpad, x, g, n, grp, Hp, Wp);
                cpu_conv_gemm(yw, PW, w + grp * g->OCg * g->K, g->K, ak, xpad, bk, g->OCg, PW, g->K,
                              b ? b + grp * g->OCg : NULL, 0);
                cpu_crop_planes(y + (n * g->OC + grp * g->OCg) * g->P, yw, g->OCg, g->OH, g->OW, Wp, PW);
            }
        }
        free(m.block);
        return STRATA_OK;
    }
    /* im2col by chunks of positions: y[n, grp][:, p0:p1] = w_g col + b_g */
    const int64_t chunk = cpu_conv_chunk(g->P, g->K), n_chunks = (g->P + chunk - 1) / chunk;
    const int64_t items = g->N * g->groups * n_chunks;
    const int nt = cpu_conv_threads(items, fma);
    if ((s = cpu_conv_alloc(call, &m, 2 * g->K, nt, g->K * chunk)) != STRATA_OK)
        return s;
    int64_t *ak = m.table, *bk = m.table + g->K;
    for (int64_t k = 0; k < g->K; k++)
        ak[k] = k, bk[k] = k * chunk;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *col = m.scratch + (nt > 1 ? omp_get_thread_num() : 0) * m.stride; // (K, chunk)
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t n = it / (g->groups * n_chunks), grp = it / n_chunks % g->groups, ch = it % n_chunks;
            int64_t p0 = ch * chunk, p1 = p0 + chunk < g->P ? p0 + chunk : g->P;
            cpu_im2col(col, chunk, x + (n * g->C + grp * g->Cg) * g->H * g->W, g, p0, p1);
            cpu_conv_gemm(y + (n * g->OC + grp * g->OCg) * g->P + p0, g->P, w + grp * g->OCg * g->K, g->K, ak, col,
                          bk, g->OCg, p1 - p0, g->K, b ? b + grp * g->OCg : NULL, 0);
        }
    }
    free(m.block);
    return STRATA_OK;
}

/* dx (N, C, H, W) = conv^T(dy (N, OC, OH, OW), w (OC, Cg, KH, KW)) + b (C, or
 * NULL) per channel: the adjoint of cpu_conv_forward in x. */
static strata_status cpu_conv_backward_data(const strata_kernel_call *call, float *dx, const float *dy,
                                            const float *w, const float *b, const cpu_conv_geom *g)
{
    const int64_t HW = g->H * g->W;
    if (cpu_conv_dnnl(CPU_CONV_BACKWARD_DATA, dx, dy, w, NULL, g)) {
        for (int64_t nc = 0; b && nc < g->N * g->C; nc++) {
            float *plane = dx + nc * HW;
            const float v = b[nc % g->C];
#pragma omp simd
            for (int64_t q = 0; q < HW; q++)
                plane[q] += v;
        }
        return STRATA_OK;
    }
    const double fma = (double)g->N * g->OC * g->P * g->K;
    cpu_conv_mem m;
    strata_status s;
    const int64_t Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw, PW8 = cpu_round8(g->OH * Wp);
    if (g->sh == 1 && g->sw == 1 && g->K * PW8 <= CPU_CONV_DIRECT_FLOATS && Wp <= 2 * g->OW) {
        /* Stride 1: dcol (K, OH x Wp wide) = w_g^T dy wide, whose columns
         * past OW are zeros; col2im is then one contiguous shifted add per
         * tap into the zero-padded dx, dxpad[c][q + kh dh Wp + kw dw] +=
         * dcol[(c, kh, kw)][q] (the zeros land in padding or add nothing).
         * Measured on LeNet's layers (one thread, batch 64): 0.64 and 0.89
         * ms, against 0.94 for im2col's chunks and scattered col2im (first
         * layer) and 0.93 for a correlation of the padded dy with the
         * flipped kernel (second layer). */
        const int64_t xs = g->Cg * Hp * Wp + cpu_conv_slack(g);
        const int64_t items = g->N * g->groups;
        const int nt = cpu_conv_threads(items, fma);
        if ((s = cpu_conv_alloc(call, &m, 2 * g->OCg + g->K, nt, (g->OCg + g->K) * PW8 + xs)) != STRATA_OK)
            return s;
        int64_t *ak = m.table, *bk = m.table + g->OCg, *tap = m.table + 2 * g->OCg;
        for (int64_t o = 0; o < g->OCg; o++)
            ak[o] = o * g->K, bk[o] = o * PW8; /* w_g^T (K, OCg): element (k, o) at w[o K + k] */
        cpu_conv_taps(tap, g, Hp, Wp);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            float *dyw = m.scratch + (nt > 1 ? omp_get_thread_num() : 0) * m.stride; // (OCg, PW8)
            float *dcol = dyw + g->OCg * PW8;                                      // (K, PW8)
            float *dxp = dcol + g->K * PW8;                                        // (Cg, Hp, Wp) + slack
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; it++) {
                int64_t n = it / g->groups, grp = it % g->groups;
                cpu_pad_planes(dyw, PW8, dy + (n * g->OC + grp * g->OCg) * g->P, g->OCg, g->OH, g->OW, 0, 0, g->OH,
                               Wp);
                cpu_conv_gemm(dcol, PW8, w + grp * g->OCg * g->K, 1, ak, dyw, bk, g->K, PW8, g->OCg, NULL, 0);
                cpu_fill_planes(dxp, b ? b + grp * g->Cg : NULL, g->Cg, Hp * Wp);
                memset(dxp + g->Cg * Hp * Wp, 0, sizeof(float) * (size_t)cpu_conv_slack(g));
                for (int64_t k = 0; k < g->K; k++) {
                    float *restrict dst = dxp + tap[k];
                    const float *restrict src = dcol + k * PW8;
#pragma omp simd
                    for (int64_t q = 0; q < PW8; q++)
                        dst[q] += src[q];
                }
                cpu_crop_planes(dx + (n * g->C + grp * g->Cg) * HW, dxp + g->ph * Wp + g->pw, g->Cg, g->H, g->W, Wp,
                                Hp * Wp);
            }
        }
        free(m.block);
        return STRATA_OK;
    }
    /* dcol (K, chunk) = w_g^T dy chunk, then col2im; the chunks of one image
     * add into the same dx, so an image is one work item */
    const int64_t chunk = cpu_conv_chunk(g->P, g->K + g->OCg), n_chunks = (g->P + chunk - 1) / chunk;
    const int64_t items = g->N * g->groups;
    const int nt = cpu_conv_threads(items, fma);
    if ((s = cpu_conv_alloc(call, &m, 2 * g->OCg, nt, (g->K + g->OCg) * chunk)) != STRATA_OK)
        return s;
    int64_t *ak = m.table, *bk = m.table + g->OCg;
    for (int64_t o = 0; o < g->OCg; o++)
        ak[o] = o * g->K, bk[o] = o * chunk; /* w_g^T (K, OCg): element (k, o) at w[o K + k] */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *dcol = m.scratch + (nt > 1 ? omp_get_thread_num() : 0) * m.stride; // (K, chunk)
        float *dyc = dcol + g->K * chunk;                                        // (OCg, chunk)
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t n = it / g->groups, grp = it % g->groups;
            float *dxg = dx + (n * g->C + grp * g->Cg) * HW;           // (Cg, H, W)
            const float *dyg = dy + (n * g->OC + grp * g->OCg) * g->P; // (OCg, P)
            cpu_fill_planes(dxg, b ? b + grp * g->Cg : NULL, g->Cg, HW);
            for (int64_t ch = 0; ch < n_chunks; ch++) {
                int64_t p0 = ch * chunk, p1 = p0 + chunk < g->P ? p0 + chunk : g->P, len = p1 - p0;
                cpu_copy_cols(dyc, chunk, dyg, g->P, g->OCg, p0, len);
                cpu_conv_gemm(dcol, chunk, w + grp * g->OCg * g->K, 1, ak, dyc, bk, g->K, len, g->OCg, NULL, 0);
                cpu_col2im_add(dxg, dcol, chunk, g, p0, p1);
            }
        }
    }
    free(m.block);
    return STRATA_OK;
}

/* dw (OC, Cg, KH, KW) = sum_n dy[n] (OCg, P) col[n] (K, P)^T per group, one
 * partial per thread (rows of K), summed in thread order at the end. */
static strata_status cpu_conv_backward_weight(const strata_kernel_call *call, float *dw, const float *dy,
                                              const float *x, const cpu_conv_geom *g)
{
    if (cpu_conv_dnnl(CPU_CONV_BACKWARD_WEIGHT, dw, dy, x, NULL, g))
        return STRATA_OK;
    const int64_t Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw;
    const double fma = (double)g->N * g->OC * g->P * g->K;
    const int64_t part = g->OC * g->K;
    const int direct = cpu_conv_direct(g, g->Cg, Hp, Wp, g->OW);
    /* direct: per image of a batch, xpad (Cg, Hp, Wp) + slack and dy wide
     * (OCg, OH x Wp rounded up to 8); else col (K, chunk) and dy's chunk (OCg, chunk) */
    const int64_t PW8 = cpu_round8(g->OH * Wp), xs = g->Cg * Hp * Wp + cpu_conv_slack(g), img = xs + g->OCg * PW8;
    const int64_t chunk = cpu_conv_chunk(g->P, g->K + g->OCg), n_chunks = direct ? 1 : (g->P + chunk - 1) / chunk;
    const int64_t items = g->groups * g->N * n_chunks; /* group-major, so a thread's images share a group */
    const int nt = cpu_conv_threads(items, fma);
    int64_t batch = CPU_CONV_CHUNK_FLOATS / img;
    batch = batch < 1 ? 1 : batch;
    const int64_t per = part + (direct ? batch * img : (g->K + g->OCg) * chunk);
    cpu_conv_mem m;
    strata_status s = cpu_conv_alloc(call, &m, g->K, nt, per);
    if (s != STRATA_OK)
        return s;
    int64_t *bn = m.table; /* row k of col: a tap of xpad, or row k of the im2col chunk */
    if (direct)
        cpu_conv_taps(bn, g, Hp, Wp);
    else
        for (int64_t k = 0; k < g->K; k++)
            bn[k] = k * chunk;
    /* nt fixed pieces, each summed into its own accumulator: every piece is
     * done (and zeroed) whatever team OpenMP gives (one thread inside a
     * caller's parallel region, or under OMP_THREAD_LIMIT), and the sum
     * below adds them in the same order, so the bits do not depend on it */
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        float *acc = m.scratch + t * m.stride; // (OC, K)
        float *bufs = acc + part;
        memset(acc, 0, sizeof(float) * (size_t)part);
        int64_t lo = items * t / nt, hi = items * (t + 1) / nt;
        while (lo < hi) {
            const int64_t grp = lo / (g->N * n_chunks);
            if (direct) {
                /* images lo .. end of group grp, at most a batch: their xpad
                 * and dy wide one image (img floats) apart, then one pass of
                 * tiles over all of them */
                int64_t end = (grp + 1) * g->N < hi ? (grp + 1) * g->N : hi;
                end = lo + batch < end ? lo + batch : end;
                for (int64_t it = lo; it < end; it++) {
                    int64_t n = it % g->N;
                    float *xpad = bufs + (it - lo) * img, *dyw = xpad + xs;
                    cpu_pad_image(xpad, x, g, n, grp, Hp, Wp);
                    /* dy wide: the columns past OW are zeros, so taps read there add nothing */
                    cpu_pad_planes(dyw, PW8, dy + (n * g->OC + grp * g->OCg) * g->P, g->OCg, g->OH, g->OW, 0, 0,
                                   g->OH, Wp);
                }
                cpu_conv_gemm_nt(acc + grp * g->OCg * g->K, g->K, bufs + xs, PW8, bufs, bn, g->OCg, g->K, PW8,
                                 end - lo, img, img);
                lo = end;
            } else {
                int64_t n = lo / n_chunks % g->N, ch = lo % n_chunks;
                int64_t p0 = ch * chunk, p1 = p0 + chunk < g->P ? p0 + chunk : g->P, len = p1 - p0;
                const float *dyg = dy + (n * g->OC + grp * g->OCg) * g->P; // (OCg, OH, OW)
                float *col = bufs, *dyc = col + g->K * chunk;              // (K, chunk), (OCg, chunk)
                cpu_im2col(col, chunk, x + (n * g->C + grp * g->Cg) * g->H * g->W, g, p0, p1);
                cpu_copy_cols(dyc, chunk, dyg, g->P, g->OCg, p0, len);
                cpu_conv_gemm_nt(acc + grp * g->OCg * g->K, g->K, dyc, chunk, col, bn, g->OCg, g->K, cpu_round8(len),
                                 1, 0, 0);
                lo++;
            }
        }
    }
    memcpy(dw, m.scratch, sizeof(float) * (size_t)part);
    for (int t = 1; t < nt; t++) {
        const float *pt = m.scratch + t * m.stride;
#pragma omp simd
        for (int64_t q = 0; q < part; q++)
            dw[q] += pt[q];
    }
    free(m.block);
    return STRATA_OK;
}

/* ---- the ops ------------------------------------------------------------------------ */

/* x (N, C, H, W), w (OC, C/groups, KH, KW) [, b (OC)] -> y (N, OC, OH, OW) */
CPU_KERNEL(conv2d)
{
    const strata_tensor_desc *X = &call->inputs[0], *Wt = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *B = call->n_inputs > 2 ? &call->inputs[2] : NULL;
    cpu_conv_geom g;
    strata_status s = cpu_conv_setup(call, &g, 3, X, Wt, Y, "x", "w", "output");
    if (s != STRATA_OK || g.N == 0)
        return s;
    return cpu_conv_forward(call, strata_desc_ptr(Y), strata_desc_ptr(X), strata_desc_ptr(Wt),
                            B ? strata_desc_ptr(B) : NULL, &g);
}

/* dy (N, OC, OH, OW), w (OC, C/groups, KH, KW) -> dx (N, C, H, W); H, W from input_size */
CPU_KERNEL(conv2d_backward_data)
{
    const strata_tensor_desc *DY = &call->inputs[0], *Wt = &call->inputs[1], *DX = &call->outputs[0];
    cpu_conv_geom g;
    strata_status s = cpu_conv_setup(call, &g, 2, DX, Wt, DY, "dx", "w", "dy");
    if (s != STRATA_OK || g.N == 0)
        return s;
    return cpu_conv_backward_data(call, strata_desc_ptr(DX), strata_desc_ptr(DY), strata_desc_ptr(Wt), NULL, &g);
}

/* dy (N, OC, OH, OW), x (N, C, H, W) -> dw (OC, C/groups, KH, KW); KH, KW from kernel_size */
CPU_KERNEL(conv2d_backward_weight)
{
    const strata_tensor_desc *DY = &call->inputs[0], *X = &call->inputs[1], *DW = &call->outputs[0];
    cpu_conv_geom g;
    strata_status s = cpu_conv_setup(call, &g, 2, X, DW, DY, "x", "dw", "dy");
    if (s != STRATA_OK)
        return s;
    float *dw = strata_desc_ptr(DW);
    if (g.N == 0) {
        memset(dw, 0, sizeof(float) * (size_t)(g.OC * g.K));
        return STRATA_OK;
    }
    return cpu_conv_backward_weight(call, dw, strata_desc_ptr(DY), strata_desc_ptr(X), &g);
}

/* x (N, C_in, H, W), w (C_in, OC/groups, KH, KW) [, b (OC)] -> y (N, OC, OH', OW'):
 * conv2d_backward_data of the convolution y -> x, plus the bias. */
CPU_KERNEL(conv_transpose2d)
{
    const strata_tensor_desc *X = &call->inputs[0], *Wt = &call->inputs[1], *Y = &call->outputs[0];
    const strata_tensor_desc *B = call->n_inputs > 2 ? &call->inputs[2] : NULL;
    cpu_conv_geom g;
    strata_status s = cpu_conv_setup(call, &g, 3, Y, Wt, X, "y", "w", "x");
    if (s != STRATA_OK || g.N == 0)
        return s;
    return cpu_conv_backward_data(call, strata_desc_ptr(Y), strata_desc_ptr(X), strata_desc_ptr(Wt),
                                  B ? strata_desc_ptr(B) : NULL, &g);
}
