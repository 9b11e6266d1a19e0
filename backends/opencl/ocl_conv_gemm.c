/*
 * ocl_conv_gemm.c - convolutions as im2col + the backend's GEMM
 * (ocl_gemm_launch), the kernels around it in conv_gemm.cl. Per image n,
 * with col(x[n]) (C KH KW, OH OW) and w read as (OC, C KH KW):
 *
 *   forward          y[n] = w col(x[n])  [+ b per row]        gemm_axpy on CPUs
 *   data gradient    dx[n] = col2im(w^T dy[n])  [+ b]         gemm_axpy, then a row-owning sum
 *   weight gradient  dw = sum_n dy[n] col(x[n])^T             one GEMM over (n, p), gemm_dot
 *
 * The forward and data gradient run a chunk of images per GEMM launch
 * (the GEMM's batch); the weight gradient makes the chunk's (n, p) one
 * inner dimension by laying col out as (C KH KW, nb OH OW) and dy as
 * (OC, nb OH OW), so one launch sums the whole chunk. Chunks after the
 * first are added into dw by add_into, in chunk order.
 *
 * Scratch: col (and the repacked dy) for one chunk, at most
 * OCL_CONV_SCRATCH_BYTES; a layer whose single image needs more runs the
 * direct kernels. Sums are f32 fma, in the GEMM's order; col2im adds each
 * element's taps in (kh, kw) order, so every result is deterministic.
 *
 * Groups > 1: col's rows are group-major (channel c in group c / Cg), so
 * group q is the GEMM of its slices: w's rows q OCg.., col's rows q CKKg..
 * and y's (or dy's) rows q OCg.., one launch per group over the chunk's
 * images (the GEMM's output batch stride c_bs steps over the other
 * groups' rows). On a device other than a CPU, layers whose groups are
 * each tiny (depthwise) stay on the direct kernels, one launch in all
 * (ocl_conv_gemm_chunk).
 */
#include <string.h>

#include "ocl_internal.h"

/* Col buffer bound per chunk (the weight gradient's repacked dy included).
 * Smaller chunks only add launches: on PoCL, bounds from 8 MiB down to
 * 0.5 MiB ran W2's layers (batch 64, 5 to 6 MiB of columns) no faster and
 * up to 1.7x slower. */
#define OCL_CONV_SCRATCH_BYTES ((int64_t)64 << 20)

/* Multiply-adds below which the direct kernels run (by default): their one
 * launch beats the GEMM path's two or three there. On PoCL (2-core EPYC,
 * 2026-12-05) direct took 0.039 ms against 0.049-0.063 ms at 6.9k
 * multiply-adds (1x3x8x8 by 4x3x3x3), and lost at 37k and above
 * (1x8x8x8 by 8x8x3x3: 0.05-0.09 ms each way; 2x3x16x16 by 8x3x3x3:
 * 0.05 against 0.11-0.14 ms). */
#define OCL_CONV_GEMM_MIN_MACS 16384

/* On a device other than a CPU, a grouped layer runs through the GEMM only
 * when each group has at least this many output channels: the GEMM path
 * launches once per group, and a depthwise layer's hundreds of one-row
 * GEMMs would cost more in launches than the direct kernel's one (a guess:
 * no GPU was lent to time it). On PoCL the GEMM path won for every
 * grouped layer tried, depthwise included (2026-12-06: 16x256x16x16,
 * 256 groups, 3x3: 16.4 against 39.1 ms forward, 28.4 against 57.3 data
 * gradient, 15.5 against 22.9 weight gradient; 4 groups of 8 -> 16
 * channels on 32x32: 9-12x), so CPU devices take it for all of them. */
#define OCL_CONV_GEMM_MIN_GROUP 8

int64_t ocl_conv_gemm_chunk(const ocl_device *d, const ocl_conv_geom *g, int weight_grad)
{
    if (d->conv_direct == 1 || (!d->is_cpu && !d->gemm_ok))
        return 0;
    const int64_t P = g->OH * g->OW, CKK = g->C * g->KH * g->KW;
    if (g->N < 1 || P < 1 || CKK < 1 || g->OC < 1 || g->H < 1 || g->W < 1 || g->groups < 1)
        return 0; /* nothing to multiply: the direct kernels write the zeros */
    const int64_t OCg = g->OC / g->groups;
    if (d->conv_direct < 0 && (g->N * OCg * P * CKK < OCL_CONV_GEMM_MIN_MACS ||
                               (!d->cpu_type && g->groups > 1 && OCg < OCL_CONV_GEMM_MIN_GROUP)))
        return 0;
    const int64_t per_image = (CKK + (weight_grad ? g->OC : 0)) * P * (int64_t)sizeof(float);
    if (per_image > OCL_CONV_SCRATCH_BYTES)
        return 0;
    int64_t nb = OCL_CONV_SCRATCH_BYTES / per_image;
    if (nb >= g->N)
        return g->N;
    int64_t chunks = (g->N + nb - 1) / nb;
    return (g->N + chunks - 1) / chunks; /* even chunks */
}

/* col for images [n0, n0 + nb) of X, element (n, r, p) at n s_n + r s_r + p. */
static strata_status ocl_im2col(const strata_kernel_call *call, ocl_device *d, const cl_long16 *geom,
                                const ocl_conv_geom *g, cl_mem col, cl_long s_n, cl_long s_r,
                                const strata_tensor_desc *X, cl_long n0, cl_long nb)
{
    cl_mem x = ocl_mem(X);
    cl_long x_off = ocl_off(X);
    ocl_arg args[] = {OCL_ARG(col),   OCL_ARG(s_n), OCL_ARG(s_r), OCL_ARG(x),
                      OCL_ARG(x_off), OCL_ARG(n0),  OCL_ARG(*geom)};
    if (d->conv_el) {
        size_t global[3] = {(size_t)(g->OH * g->OW), (size_t)(g->C * g->KH * g->KW), (size_t)nb};
        return ocl_launch(call, d, OCL_K_conv_im2col_el, 3, global, NULL, 7, args);
    }
    size_t global[2] = {(size_t)(g->C * g->KH * g->KW), (size_t)nb};
    return ocl_launch(call, d, OCL_K_conv_im2col, 2, global, NULL, 7, args);
}

/* The packed geometry and a col buffer of @p chunk images, (chunk, C KH KW,
 * OH OW): what the forward and the data gradient start with. */
static strata_status ocl_conv_gemm_begin(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                         int64_t chunk, cl_long16 *geom, cl_mem *col)
{
    strata_status s = ocl_conv_pack(call, g, geom);
    return s == STRATA_OK ? ocl_scratch(d, sizeof(float) * (size_t)(chunk * g->C * g->KH * g->KW * g->OH * g->OW), col)
                          : s;
}

strata_status ocl_conv_gemm_forward(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                    int64_t chunk, const strata_tensor_desc *Y, const strata_tensor_desc *X,
                                    const strata_tensor_desc *Wt, const strata_tensor_desc *B)
{
    const int64_t P = g->OH * g->OW, CKK = g->C * g->KH * g->KW;
    cl_long16 geom;
    cl_mem col = NULL;
    strata_status s = ocl_conv_gemm_begin(call, d, g, chunk, &geom, &col);
    if (s != STRATA_OK)
        return s;
    const int64_t G = g->groups, OCg = g->OC / G, CKKg = CKK / G;
    ocl_gemm_args ga;
    memset(&ga, 0, sizeof ga);
    ga.a = ocl_mem(Wt); /* group q's w (OCg, CKKg) */
    ga.a_sm = CKKg;
    ga.a_sk = 1;
    ga.b = col; /* col[n] rows q CKKg.. (CKKg, P) */
    ga.b_bs = CKK * P;
    ga.b_sk = P;
    ga.b_sn = 1;
    ga.c = ocl_mem(Y); /* y[n] rows q OCg.. (OCg, P) */
    ga.c_bs = g->OC * P;
    ga.M = OCg;
    ga.N = P;
    ga.K = CKKg;
    for (int64_t n0 = 0; n0 < g->N && s == STRATA_OK; n0 += chunk) {
        const int64_t nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        s = ocl_im2col(call, d, &geom, g, col, CKK * P, P, X, n0, nb);
        for (int64_t q = 0; q < G && s == STRATA_OK; q++) {
            ga.a_off = ocl_off(Wt) + q * OCg * CKKg;
            ga.b_off = q * CKKg * P;
            ga.c_off = ocl_off(Y) + n0 * g->OC * P + q * OCg * P;
            s = ocl_gemm_launch(call, d, &ga, nb);
        }
    }
    if (s == STRATA_OK && B) {
        cl_mem y = ocl_mem(Y), b = ocl_mem(B);
        cl_long y_off = ocl_off(Y), b_off = ocl_off(B), rows = g->N * g->OC, oc = g->OC, p = P;
        size_t global[2] = {(size_t)P, (size_t)rows};
        ocl_arg args[] = {OCL_ARG(y),    OCL_ARG(y_off), OCL_ARG(b), OCL_ARG(b_off),
                          OCL_ARG(rows), OCL_ARG(oc),    OCL_ARG(p)};
        s = d->conv_el ? ocl_launch(call, d, OCL_K_conv_bias_rows_el, 2, global, NULL, 7, args)
                       : ocl_launch(call, d, OCL_K_conv_bias_rows, 1, &global[1], NULL, 7, args);
    }
    ocl_free(call->backend_self, call->device, col);
    return s;
}

strata_status ocl_conv_gemm_backward_data(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                          int64_t chunk, const strata_tensor_desc *DX, const strata_tensor_desc *DY,
                                          const strata_tensor_desc *Wt, const strata_tensor_desc *B)
{
    const int64_t P = g->OH * g->OW, CKK = g->C * g->KH * g->KW;
    cl_long16 geom;
    cl_mem col = NULL;
    strata_status s = ocl_conv_gemm_begin(call, d, g, chunk, &geom, &col);
    if (s != STRATA_OK)
        return s;
    const int64_t G = g->groups, OCg = g->OC / G, CKKg = CKK / G;
    ocl_gemm_args ga;
    memset(&ga, 0, sizeof ga);
    ga.a = ocl_mem(Wt); /* group q's w^T: a(r, o) = w[q OCg + o, r] */
    ga.a_sm = 1;
    ga.a_sk = CKKg;
    ga.b = ocl_mem(DY); /* dy[n] rows q OCg.. (OCg, P) */
    ga.b_bs = g->OC * P;
    ga.b_sk = P;
    ga.b_sn = 1;
    ga.c = col; /* col[n] rows q CKKg.. (CKKg, P) */
    ga.c_bs = CKK * P;
    ga.M = CKKg;
    ga.N = P;
    ga.K = OCg;
    cl_mem dx = ocl_mem(DX), b = B ? ocl_mem(B) : NULL;
    cl_long dx_off = ocl_off(DX), b_off = B ? ocl_off(B) : 0;
    cl_int has_bias = B != NULL;
    for (int64_t n0 = 0; n0 < g->N && s == STRATA_OK; n0 += chunk) {
        cl_long first = n0, nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        for (int64_t q = 0; q < G && s == STRATA_OK; q++) {
            ga.a_off = ocl_off(Wt) + q * OCg * CKKg;
            ga.b_off = ocl_off(DY) + n0 * g->OC * P + q * OCg * P;
            ga.c_off = q * CKKg * P;
            s = ocl_gemm_launch(call, d, &ga, nb);
        }
        size_t plane[2] = {(size_t)g->C, (size_t)nb}, el[3] = {(size_t)(g->H * g->W), (size_t)g->C, (size_t)nb};
        ocl_arg args[] = {OCL_ARG(dx),    OCL_ARG(dx_off),   OCL_ARG(col),   OCL_ARG(b),
                          OCL_ARG(b_off), OCL_ARG(has_bias), OCL_ARG(first), OCL_ARG(geom)};
        if (s == STRATA_OK)
            s = d->conv_el ? ocl_launch(call, d, OCL_K_conv_col2im_el, 3, el, NULL, 8, args)
                           : ocl_launch(call, d, OCL_K_conv_col2im, 2, plane, NULL, 8, args);
    }
    ocl_free(call->backend_self, call->device, col);
    return s;
}

strata_status ocl_conv_gemm_backward_weight(const strata_kernel_call *call, ocl_device *d, const ocl_conv_geom *g,
                                            int64_t chunk, const strata_tensor_desc *DW, const strata_tensor_desc *DY,
                                            const strata_tensor_desc *X)
{
    const int64_t P = g->OH * g->OW, CKK = g->C * g->KH * g->KW;
    cl_long16 geom;
    cl_mem col = NULL, dyt = NULL, part = NULL;
    strata_status s = ocl_conv_pack(call, g, &geom);
    if (s == STRATA_OK)
        s = ocl_scratch(d, sizeof(float) * (size_t)(chunk * CKK * P), &col); /* (CKK, chunk P) */
    if (s == STRATA_OK)
        s = ocl_scratch(d, sizeof(float) * (size_t)(chunk * g->OC * P), &dyt); /* (OC, chunk P) */
    const int64_t G = g->groups, OCg = g->OC / G, CKKg = CKK / G;
    if (s == STRATA_OK && chunk < g->N)
        s = ocl_scratch(d, sizeof(float) * (size_t)(g->OC * CKKg), &part); /* a later chunk's sum */
    ocl_gemm_args ga;
    memset(&ga, 0, sizeof ga);
    ga.a = dyt; /* group q: a(o, k) = dyt[q OCg + o, k], k = n P + p */
    ga.a_sk = 1;
    ga.b = col; /* b(k, r) = col[q CKKg + r, k] */
    ga.b_sk = 1;
    ga.M = OCg;
    ga.N = CKKg;
    cl_mem dy = ocl_mem(DY), dw = ocl_mem(DW);
    cl_long dy_off = ocl_off(DY), dw_off = ocl_off(DW), zero = 0, n_dw = g->OC * CKKg;
    for (int64_t n0 = 0; n0 < g->N && s == STRATA_OK; n0 += chunk) {
        cl_long first = n0, nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        s = ocl_im2col(call, d, &geom, g, col, P, nb * P, X, n0, nb);
        size_t rows[2] = {(size_t)P, (size_t)(g->OC * nb)}; /* the element kernel's (p, row); rows[1] the row's */
        ocl_arg pack[] = {OCL_ARG(dyt), OCL_ARG(dy), OCL_ARG(dy_off), OCL_ARG(first), OCL_ARG(nb), OCL_ARG(geom)};
        if (s == STRATA_OK)
            s = d->conv_el ? ocl_launch(call, d, OCL_K_conv_pack_dy_el, 2, rows, NULL, 6, pack)
                           : ocl_launch(call, d, OCL_K_conv_pack_dy, 1, &rows[1], NULL, 6, pack);
        ga.a_sm = nb * P;
        ga.b_sn = nb * P;
        ga.K = nb * P;
        ga.c = n0 ? part : dw; /* dw (OC, CKKg): group q's rows q OCg.. */
        for (int64_t q = 0; q < G && s == STRATA_OK; q++) {
            ga.a_off = q * OCg * nb * P;
            ga.b_off = q * CKKg * nb * P;
            ga.c_off = (n0 ? 0 : dw_off) + q * OCg * CKKg;
            s = ocl_gemm_launch(call, d, &ga, 1);
        }
        size_t n = (size_t)n_dw;
        ocl_arg add[] = {OCL_ARG(dw), OCL_ARG(dw_off), OCL_ARG(part), OCL_ARG(zero), OCL_ARG(n_dw)};
        if (s == STRATA_OK && n0)
            s = ocl_launch(call, d, OCL_K_add_into, 1, &n, NULL, 5, add);
    }
    ocl_free(call->backend_self, call->device, col);
    ocl_free(call->backend_self, call->device, dyt);
    ocl_free(call->backend_self, call->device, part);
    return s;
}
