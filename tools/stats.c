/* stats.c - mean/covariance, Frechet distance and PCA (see stats.h).
 * Linear algebra is LAPACK's and the BLAS's: dsyrk accumulates covariances,
 * dsymm/dgemm form the products, dsyevd/dsyevr solve the symmetric eigen-
 * problems. Matrices handed to LAPACK are symmetric, so row- and column-major
 * are the same storage and everything here is called column-major (no
 * LAPACKE transposition copies). */
#include "stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

/* d * d doubles per matrix; 2 d^2 + 6 d + 1 (dsyevd's workspace) fits an int. */

/* Rows converted to double per dsyrk/dgemm call: ~4 MiB of buffer, at least
 * 64 rows so the BLAS has a useful inner dimension. */
static int64_t block_rows(int64_t d)
{
    int64_t b = ((int64_t)1 << 19) / d;
    return b < 64 ? 64 : b;
}

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

static int d_ok(int64_t d)
{
    return d >= 1 && d <= STATS_MAX_D;
}

/* LAPACKE's info as words: < 0 a bad argument (or LAPACKE's -1010 for no
 * workspace memory), > 0 no convergence. */
static void lapack_err(char *err, size_t err_size, const char *routine, const char *what, lapack_int info)
{
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        set_err(err, err_size, "%s (%s): out of memory for the LAPACK workspace", routine, what);
    else if (info < 0)
        set_err(err, err_size, "%s (%s): argument %d is invalid (info %d)", routine, what, (int)-info, (int)info);
    else
        set_err(err, err_size, "%s (%s): the eigen-solver did not converge (info %d)", routine, what, (int)info);
}

int stats_mean_cov(const float *x, int64_t n, int64_t d, double *mean, double *cov)
{
    if (!x || !mean || !cov || n < 2 || !d_ok(d))
        return -1;
    int64_t bmax = block_rows(d);
    if (bmax > n)
        bmax = n;
    double *buf = malloc((size_t)bmax * (size_t)d * sizeof *buf); // (bmax, d) centred rows
    if (!buf)
        return -1;

    for (int64_t j = 0; j < d; j++)
        mean[j] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        for (int64_t j = 0; j < d; j++)
            mean[j] += r[j];
    }
    for (int64_t j = 0; j < d; j++)
        mean[j] /= (double)n;

    /* Two passes (centre, then sum outer products) rather than E[xx^T] -
     * mean mean^T, which cancels catastrophically for data far from 0.
     * dsyrk fills the upper triangle (row-major) of sum_i c_i c_i^T. */
    for (int64_t i0 = 0; i0 < n; i0 += bmax) {
        int64_t b = n - i0 < bmax ? n - i0 : bmax;
        for (int64_t i = 0; i < b; i++) {
            const float *r = x + (i0 + i) * d;
            double *c = buf + i * d;
            for (int64_t j = 0; j < d; j++)
                c[j] = (double)r[j] - mean[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)b, 1.0, buf, (int)d, i0 == 0 ? 0.0 : 1.0,
                    cov, (int)d);
    }
    free(buf);

    double s = 1.0 / (double)(n - 1);
    for (int64_t i = 0; i < d; i++) {
        cov[i * d + i] *= s;
        for (int64_t j = i + 1; j < d; j++) {
            cov[i * d + j] *= s;
            cov[j * d + i] = cov[i * d + j];
        }
    }
    return 0;
}

int stats_frechet(const double *mu1, const double *s1, const double *mu2, const double *s2, int64_t d,
                  double *out, char *err, size_t err_size)
{
    if (!mu1 || !s1 || !mu2 || !s2 || !out) {
        set_err(err, err_size, "stats_frechet: NULL argument");
        return -1;
    }
    if (!d_ok(d)) {
        set_err(err, err_size, "stats_frechet: dimension %lld out of range 1..%d", (long long)d, STATS_MAX_D);
        return -1;
    }
    size_t dd = (size_t)d * (size_t)d;
    double *v = malloc(dd * sizeof *v); // (d, d) s1, then its eigenvectors, then W
    double *t = malloc(dd * sizeof *t); // (d, d) s2 W
    double *m = malloc(dd * sizeof *m); // (d, d) W^T s2 W
    double *w = malloc((size_t)d * sizeof *w); // (d) eigenvalues
    int rc = -1;
    if (!v || !t || !m || !w) {
        set_err(err, err_size, "stats_frechet: out of memory for d = %lld", (long long)d);
        goto done;
    }

    double dist = 0.0, tr1 = 0.0, tr2 = 0.0;
    for (int64_t j = 0; j < d; j++) {
        double e = mu1[j] - mu2[j];
        dist += e * e;
        tr1 += s1[j * d + j];
        tr2 += s2[j * d + j];
    }

    /* s1 = V L V^T. With W = V L^1/2 (so s1^1/2 = W V^T):
     *   s1^1/2 s2 s1^1/2 = V (W^T s2 W) V^T,
     * an orthogonal similarity, so tr((s1^1/2 s2 s1^1/2)^1/2) is the sum of
     * the square roots of the eigenvalues of the symmetric PSD d x d matrix
     * W^T s2 W: two products instead of four, and no s1^1/2 to form. */
    memcpy(v, s1, dd * sizeof *v);
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)d, v, (lapack_int)d, w);
    if (info != 0) {
        lapack_err(err, err_size, "dsyevd", "eigenvectors of S1", info);
        goto done;
    }
    for (int64_t j = 0; j < d; j++) {
        double r = w[j] > 0.0 ? sqrt(w[j]) : 0.0; // round-off can leave tiny negatives
        double *col = v + j * d;
        for (int64_t i = 0; i < d; i++)
            col[i] *= r;
    }
    cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, (int)d, (int)d, 1.0, s2, (int)d, v, (int)d, 0.0, t, (int)d);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, v, (int)d, t, (int)d, 0.0, m,
                (int)d);
    info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)d, m, (lapack_int)d, w);
    if (info != 0) {
        lapack_err(err, err_size, "dsyevd", "eigenvalues of S1^1/2 S2 S1^1/2", info);
        goto done;
    }
    double tr_sqrt = 0.0;
    for (int64_t j = 0; j < d; j++)
        tr_sqrt += w[j] > 0.0 ? sqrt(w[j]) : 0.0;

    dist += tr1 + tr2 - 2.0 * tr_sqrt;
    *out = dist > 0.0 ? dist : 0.0;
    rc = 0;
done:
    free(v);
    free(t);
    free(m);
    free(w);
    return rc;
}

int stats_pca_fit(const float *x, int64_t n, int64_t d, int64_t k, double *mean, double *components, char *err,
                  size_t err_size)
{
    if (!x || !mean || (k > 0 && !components)) {
        set_err(err, err_size, "stats_pca_fit: NULL argument");
        return -1;
    }
    if (n < 2) {
        set_err(err, err_size, "stats_pca_fit: need at least 2 rows, got %lld", (long long)n);
        return -1;
    }
    if (!d_ok(d) || k < 0 || k > d) {
        set_err(err, err_size, "stats_pca_fit: d = %lld, k = %lld out of range (1 <= d <= %d, 0 <= k <= d)",
                (long long)d, (long long)k, STATS_MAX_D);
        return -1;
    }
    size_t dd = (size_t)d * (size_t)d;
    double *cov = malloc(dd * sizeof *cov); // (d, d)
    double *w = malloc((size_t)d * sizeof *w); // (d) eigenvalues, ascending
    double *z = malloc((size_t)d * (size_t)(k > 0 ? k : 1) * sizeof *z); // (k, d): column-major (d, k) eigenvectors
    lapack_int *support = malloc(2 * (size_t)(k > 0 ? k : 1) * sizeof *support);
    int rc = -1;
    if (!cov || !w || !z || !support) {
        set_err(err, err_size, "stats_pca_fit: out of memory for d = %lld", (long long)d);
        goto done;
    }
    if (stats_mean_cov(x, n, d, mean, cov) != 0) {
        set_err(err, err_size, "stats_pca_fit: out of memory for the covariance of %lld x %lld", (long long)n,
                (long long)d);
        goto done;
    }
    if (k == 0) {
        rc = 0;
        goto done;
    }

    /* Only the k largest: dsyevr's index range d-k+1..d (1-based, ascending). */
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'U', (lapack_int)d, cov, (lapack_int)d, 0.0, 0.0,
                                     (lapack_int)(d - k + 1), (lapack_int)d, 0.0, &found, w, z, (lapack_int)d, support);
    if (info != 0) {
        lapack_err(err, err_size, "dsyevr", "top eigenvectors of the covariance", info);
        goto done;
    }
    if (found != (lapack_int)k) {
        set_err(err, err_size, "dsyevr: asked for %lld eigenvectors, got %d", (long long)k, (int)found);
        goto done;
    }
    for (int64_t r = 0; r < k; r++) {
        const double *src = z + (k - 1 - r) * d; // column k-1-r: the r-th largest
        double *dst = components + r * d;
        int64_t big = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabs(src[j]) > fabs(src[big]))
                big = j;
        double sign = src[big] < 0.0 ? -1.0 : 1.0;
        for (int64_t j = 0; j < d; j++)
            dst[j] = sign * src[j];
    }
    rc = 0;
done:
    free(cov);
    free(w);
    free(z);
    free(support);
    return rc;
}

double stats_pca_mse(const float *x, int64_t n, int64_t d, int64_t k, const double *mean, const double *components)
{
    if (!x || !mean || n < 1 || !d_ok(d) || k < 0 || k > d || (k > 0 && !components))
        return -1.0;
    int64_t bmax = block_rows(d);
    if (bmax > n)
        bmax = n;
    double *c = malloc((size_t)bmax * (size_t)d * sizeof *c); // (bmax, d) centred rows, then residuals
    double *p = malloc((size_t)bmax * (size_t)(k > 0 ? k : 1) * sizeof *p); // (bmax, k) projections
    double sum = -1.0;
    if (!c || !p)
        goto done;

    sum = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += bmax) {
        int64_t b = n - i0 < bmax ? n - i0 : bmax;
        for (int64_t i = 0; i < b; i++) {
            const float *r = x + (i0 + i) * d;
            double *ci = c + i * d;
            for (int64_t j = 0; j < d; j++)
                ci[j] = (double)r[j] - mean[j];
        }
        if (k > 0) {
            /* p = c C^T, then c -= p C: the residual (x - mean) - (x - mean) C^T C. */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)k, (int)d, 1.0, c, (int)d, components,
                        (int)d, 0.0, p, (int)k);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)d, (int)k, -1.0, p, (int)k,
                        components, (int)d, 1.0, c, (int)d);
        }
        for (int64_t e = 0; e < b * d; e++)
            sum += c[e] * c[e];
    }
    sum /= (double)n * (double)d;
done:
    free(c);
    free(p);
    return sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double stats_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double stats_quantile(const double *v, int n, double q)
{
    /* v[q n], the first version's, was a rank above: with 10 steps "80% of steps" spanned 9 */
    int k = (int)ceil(q * (double)n - 1e-9) - 1;
    return n <= 0 ? 0.0 : v[k < 0 ? 0 : k < n ? k : n - 1];
}
