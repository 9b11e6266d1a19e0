/* stats.h - sample statistics for the `strata` tool: mean and covariance of
 * row vectors, the Frechet distance between two Gaussians (FID) and PCA.
 * Pure C over LAPACKE (symmetric eigen-solvers) and CBLAS (dsyrk/dgemm); no
 * Strata runtime. Inputs are float rows (what the models and data sets hold),
 * everything is computed and returned in double. Reentrant: no global state,
 * safe to call from several threads on distinct outputs. */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include <stddef.h>
#include <stdint.h>

/**
 * The median of @p n values, which it sorts in place (0 for none).
 */
double stats_median(double *v, int n);

/**
 * The @p q-quantile (0 < q <= 1) of @p n values sorted in ascending order, by nearest rank: the
 * ceil(q n)-th smallest (0 for none). With 10 values, q 0.1 and 0.9 give the 1st and the 9th.
 */
double stats_quantile(const double *v, int n, double q);

/**
 * Mean and unbiased covariance (divided by n - 1) of @p n rows.
 *
 * @param x          (n, d) row-major.
 * @param n, d       n >= 2, 1 <= d <= 16384 (so LAPACK's int workspace sizes cannot overflow).
 * @param[out] mean  (d).
 * @param[out] cov   (d, d), both triangles filled.
 * @returns 0; -1 for n < 2, a bad d, NULL pointers or no memory (outputs
 *          then undefined).
 */
int stats_mean_cov(const float *x, int64_t n, int64_t d, double *mean, double *cov);

/**
 * Frechet distance between N(mu1, s1) and N(mu2, s2) (Heusel et al. 2017):
 *   |mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1^1/2 s2 s1^1/2)^1/2).
 * s1 and s2 must be symmetric positive semi-definite (covariances); small
 * negative eigenvalues from round-off are clamped to 0. The result is clamped
 * to >= 0 as well (it is a squared distance).
 *
 * @param mu1, mu2    (d).
 * @param s1, s2      (d, d) symmetric; only the values are read.
 * @param d           1 <= d <= 16384.
 * @param[out] out    the distance (squared, as FID is reported).
 * @param[out] err    message on failure (may be NULL), @p err_size bytes.
 * @returns 0; -1 with a message for bad arguments, no memory or a LAPACK
 *          failure (the message names the routine and its info).
 */
int stats_frechet(const double *mu1, const double *s1, const double *mu2, const double *s2, int64_t d,
                  double *out, char *err, size_t err_size);

/** The largest dimension the Frechet distance and PCA take (a d x d covariance in memory). */
#define STATS_MAX_D 16384

/**
 * PCA fit: the mean and the top @p k principal directions of @p n rows, from
 * the eigen-decomposition of their covariance. Directions are sorted by
 * decreasing variance; each has unit norm and its largest-magnitude entry
 * positive (a deterministic sign).
 *
 * @param x                (n, d) row-major.
 * @param n, d, k          n >= 2, 1 <= d <= 16384, 0 <= k <= d.
 * @param[out] mean        (d).
 * @param[out] components  (k, d) row-major, orthonormal rows; may be NULL when k == 0.
 * @param[out] err         message on failure (may be NULL), @p err_size bytes.
 * @returns 0; -1 with a message for bad arguments, no memory or a LAPACK failure.
 */
int stats_pca_fit(const float *x, int64_t n, int64_t d, int64_t k, double *mean, double *components, char *err,
                  size_t err_size);

/**
 * Mean squared reconstruction error over all n * d elements of the rows of
 * @p x projected on @p k components and back:
 *   x_hat = mean + (x - mean) C^T C,   C = components (k, d).
 * With the fit's own data this is the sum of the dropped covariance
 * eigenvalues * (n - 1) / n / d.
 *
 * @param x      (n, d) row-major; n >= 1.
 * @param mean   (d); components (k, d), may be NULL when k == 0.
 * @returns the MSE (>= 0); -1.0 for bad arguments or no memory.
 */
double stats_pca_mse(const float *x, int64_t n, int64_t d, int64_t k, const double *mean, const double *components);

#endif
