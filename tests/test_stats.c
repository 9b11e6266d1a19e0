/* test_stats.c - tools/stats.c: mean/covariance, Frechet distance (FID) and
 * PCA against closed forms and identities. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "testutil.h"

#include "stats.h"

/* ---- fixtures ---------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static double rng_uniform(rng *r) // [0, 1)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (double)((r->s * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

static double rng_normal(rng *r)
{
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* x (n, d) = z A + b with z (n, d) standard normal, A (d, d) and b (d)
 * random: correlated data with a full-rank covariance. Caller frees. */
static float *correlated(rng *r, int64_t n, int64_t d)
{
    double *a = malloc((size_t)(d * d) * sizeof *a); // (d, d)
    double *b = malloc((size_t)d * sizeof *b);       // (d)
    double *z = malloc((size_t)d * sizeof *z);       // (d) one row of z
    float *x = malloc((size_t)(n * d) * sizeof *x);  // (n, d)
    assert_true(a && b && z && x);
    for (int64_t e = 0; e < d * d; e++)
        a[e] = rng_normal(r) / sqrt((double)d);
    for (int64_t j = 0; j < d; j++)
        b[j] = 2.0 * rng_normal(r);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++)
            z[j] = rng_normal(r);
        for (int64_t j = 0; j < d; j++) {
            double s = b[j];
            for (int64_t t = 0; t < d; t++)
                s += z[t] * a[t * d + j];
            x[i * d + j] = (float)s;
        }
    }
    free(a);
    free(b);
    free(z);
    return x;
}

static double trace(const double *s, int64_t d)
{
    double t = 0.0;
    for (int64_t j = 0; j < d; j++)
        t += s[j * d + j];
    return t;
}

static double fid(const double *mu1, const double *s1, const double *mu2, const double *s2, int64_t d)
{
    char err[256] = "";
    double out = -1.0;
    if (stats_frechet(mu1, s1, mu2, s2, d, &out, err, sizeof err) != 0)
        fail_msg("stats_frechet: %s", err);
    return out;
}

/* ---- mean and covariance ----------------------------------------------- */

static void test_mean_cov_matches_direct_sums(void **state)
{
    rng r = {7};
    const int64_t n = 9, d = 4;
    float x[9 * 4];
    for (int e = 0; e < n * d; e++)
        x[e] = (float)(100.0 + rng_normal(&r)); // far from 0: catches E[xx] - mm
    double mean[4], cov[16];
    assert_int_equal(stats_mean_cov(x, n, d, mean, cov), 0);
    for (int j = 0; j < d; j++) {
        double m = 0.0;
        for (int i = 0; i < n; i++)
            m += x[i * d + j];
        m /= (double)n;
        assert_true(fabs(mean[j] - m) < 1e-12 * 100.0);
        for (int t = 0; t < d; t++) {
            double mt = 0.0, c = 0.0;
            for (int i = 0; i < n; i++)
                mt += x[i * d + t];
            mt /= (double)n;
            for (int i = 0; i < n; i++)
                c += (x[i * d + j] - m) * (x[i * d + t] - mt);
            c /= (double)(n - 1);
            assert_true(fabs(cov[j * d + t] - c) < 1e-10);
            assert_true(cov[j * d + t] == cov[t * d + j]);
        }
    }
}

/* ---- Frechet distance -------------------------------------------------- */

static void fid_self_zero(int64_t d)
{
    rng r = {11 + (uint64_t)d};
    int64_t n = 8 * d;
    float *x = correlated(&r, n, d);
    double *mu = malloc((size_t)d * sizeof *mu), *s = malloc((size_t)(d * d) * sizeof *s);
    assert_true(mu && s);
    assert_int_equal(stats_mean_cov(x, n, d, mu, s), 0);
    double f = fid(mu, s, mu, s, d);
    assert_true(f >= 0.0);
    if (f > 1e-6 * trace(s, d))
        fail_msg("d = %lld: FID(x, x) = %g, trace %g", (long long)d, f, trace(s, d));
    free(x);
    free(mu);
    free(s);
}

static void test_fid_self_is_zero(void **state)
{
    fid_self_zero(16);
    fid_self_zero(128);
}

/* Same covariance, means apart by delta e: FID = delta^2 |e|^2 exactly. */
static void test_fid_mean_shift(void **state)
{
    const int64_t d = 32, n = 400;
    rng r = {23};
    float *x = correlated(&r, n, d);
    float *y = malloc((size_t)(n * d) * sizeof *y);
    double mu[32], mu2[32], e[32], s[32 * 32], my[32], sy[32 * 32];
    assert_non_null(y);
    assert_int_equal(stats_mean_cov(x, n, d, mu, s), 0);
    double e2 = 0.0;
    for (int j = 0; j < d; j++) {
        e[j] = rng_normal(&r);
        e2 += e[j] * e[j];
    }
    double tr = trace(s, d), prev = -1.0;
    const double deltas[] = {0.0, 0.25, 0.5, 1.0, 2.0, 4.0};
    for (size_t q = 0; q < sizeof deltas / sizeof deltas[0]; q++) {
        double delta = deltas[q];
        for (int j = 0; j < d; j++)
            mu2[j] = mu[j] + delta * e[j];
        double f = fid(mu, s, mu2, s, d), want = delta * delta * e2;
        if (fabs(f - want) > 1e-6 * (tr + want))
            fail_msg("delta %g: FID %.12g, want %.12g", delta, f, want);
        assert_true(f > prev);
        prev = f;

        /* The shift applied to the data itself (float rows): the same up to
         * float rounding of the shifted rows. */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++)
                y[i * d + j] = (float)(x[i * d + j] + delta * e[j]);
        assert_int_equal(stats_mean_cov(y, n, d, my, sy), 0);
        f = fid(mu, s, my, sy, d);
        if (fabs(f - want) > 1e-4 * (tr + want))
            fail_msg("shifted data, delta %g: FID %.12g, want %.12g", delta, f, want);
    }
    free(x);
    free(y);
}

/* Covariances Q diag(a) Q^T and Q diag(b) Q^T (commuting; Q = I for the
 * diagonal case, a Householder reflection otherwise):
 * FID = sum (sqrt a_i - sqrt b_i)^2 + |mu1 - mu2|^2. */
static void fid_closed_form(int rotate)
{
    enum { D = 24 };
    rng r = {31 + (uint64_t)rotate};
    double mu1[D], mu2[D], a[D], b[D], v[D], q[D * D], s1[D * D], s2[D * D];
    double want = 0.0, vv = 0.0;
    for (int j = 0; j < D; j++) {
        mu1[j] = rng_normal(&r);
        mu2[j] = rng_normal(&r);
        a[j] = 0.1 + 3.0 * rng_uniform(&r);
        b[j] = j == 0 ? 0.0 : 0.1 + 3.0 * rng_uniform(&r); // one singular direction
        want += (sqrt(a[j]) - sqrt(b[j])) * (sqrt(a[j]) - sqrt(b[j])) + (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]);
        v[j] = rng_normal(&r);
        vv += v[j] * v[j];
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++)
            q[i * D + j] = (i == j ? 1.0 : 0.0) - (rotate ? 2.0 * v[i] * v[j] / vv : 0.0);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double x1 = 0.0, x2 = 0.0;
            for (int t = 0; t < D; t++) {
                x1 += q[i * D + t] * a[t] * q[j * D + t];
                x2 += q[i * D + t] * b[t] * q[j * D + t];
            }
            s1[i * D + j] = x1;
            s2[i * D + j] = x2;
        }
    double f = fid(mu1, s1, mu2, s2, D);
    if (fabs(f - want) > 1e-9 * (1.0 + want))
        fail_msg("rotate %d: FID %.15g, closed form %.15g", rotate, f, want);
}

static void test_fid_closed_form(void **state)
{
    fid_closed_form(0);
    fid_closed_form(1);
}

/* The formula is symmetric in the two Gaussians; the computation (through
 * S1's square root) is not, so swapping them checks it. */
static void test_fid_symmetric(void **state)
{
    const int64_t d = 40;
    rng r = {41};
    float *x = correlated(&r, 300, d), *y = correlated(&r, 200, d);
    double m1[40], m2[40], s1[40 * 40], s2[40 * 40];
    assert_int_equal(stats_mean_cov(x, 300, d, m1, s1), 0);
    assert_int_equal(stats_mean_cov(y, 200, d, m2, s2), 0);
    double f12 = fid(m1, s1, m2, s2, d), f21 = fid(m2, s2, m1, s1, d);
    assert_true(f12 > 1.0);
    if (fabs(f12 - f21) > 1e-9 * f12)
        fail_msg("FID(1, 2) = %.15g, FID(2, 1) = %.15g", f12, f21);
    free(x);
    free(y);
}

/* ---- PCA --------------------------------------------------------------- */

static void assert_orthonormal(const double *c, int64_t k, int64_t d)
{
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double dot = 0.0;
            for (int64_t t = 0; t < d; t++)
                dot += c[i * d + t] * c[j * d + t];
            if (fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-10)
                fail_msg("components %lld . %lld = %.3g", (long long)i, (long long)j, dot);
        }
}

/* Rows m + z B on a random k-dimensional affine subspace: k components
 * reconstruct them, k - 1 do not. */
static void test_pca_affine_subspace(void **state)
{
    enum { D = 20, K = 3, N = 500 };
    rng r = {53};
    double basis[K * D], m[D], mean[D], c[K * D];
    float *x = malloc((size_t)N * D * sizeof *x);
    assert_non_null(x);
    for (int e = 0; e < K * D; e++)
        basis[e] = rng_normal(&r);
    for (int j = 0; j < D; j++)
        m[j] = rng_normal(&r);
    for (int i = 0; i < N; i++) {
        double z[K];
        for (int t = 0; t < K; t++)
            z[t] = rng_normal(&r);
        for (int j = 0; j < D; j++) {
            double s = m[j];
            for (int t = 0; t < K; t++)
                s += z[t] * basis[t * D + j];
            x[i * D + j] = (float)s;
        }
    }
    char err[256] = "";
    if (stats_pca_fit(x, N, D, K, mean, c, err, sizeof err) != 0)
        fail_msg("stats_pca_fit: %s", err);
    assert_orthonormal(c, K, D);
    double mse = stats_pca_mse(x, N, D, K, mean, c);
    if (!(mse >= 0.0 && mse < 1e-10))
        fail_msg("MSE at k = %d: %g", K, mse);

    /* The components span the basis: each basis row is its own projection. */
    for (int t = 0; t < K; t++) {
        double res = 0.0, nrm = 0.0;
        for (int j = 0; j < D; j++) {
            double p = 0.0;
            for (int u = 0; u < K; u++) {
                double dot = 0.0;
                for (int l = 0; l < D; l++)
                    dot += basis[t * D + l] * c[u * D + l];
                p += dot * c[u * D + j];
            }
            res += (basis[t * D + j] - p) * (basis[t * D + j] - p);
            nrm += basis[t * D + j] * basis[t * D + j];
        }
        assert_true(res < 1e-10 * nrm);
    }

    double mse1 = stats_pca_mse(x, N, D, K - 1, mean, c);
    if (!(mse1 > 1e-3))
        fail_msg("MSE at k = %d: %g, want > 0", K - 1, mse1);
    free(x);
}

/* MSE(k) = sum of the dropped covariance eigenvalues * (n - 1) / n / d:
 * the covariance divides by n - 1, the MSE by n. */
static void test_pca_mse_identity(void **state)
{
    enum { D = 12, N = 300 };
    rng r = {67};
    float *x = correlated(&r, N, D);
    double mean[D], cov[D * D], lambda[D], c[D * D];
    assert_int_equal(stats_mean_cov(x, N, D, mean, cov), 0);
    assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', D, cov, D, lambda), 0); // ascending

    char err[256] = "";
    if (stats_pca_fit(x, N, D, D, mean, c, err, sizeof err) != 0)
        fail_msg("stats_pca_fit: %s", err);
    assert_orthonormal(c, D, D);
    double prev = INFINITY;
    for (int k = 0; k <= D; k++) {
        double want = 0.0;
        for (int i = 0; i < D - k; i++) // the D - k smallest are dropped
            want += lambda[i];
        want *= (double)(N - 1) / N / D;
        double mse = stats_pca_mse(x, N, D, k, mean, c);
        if (fabs(mse - want) > 1e-9 * (lambda[D - 1] + want))
            fail_msg("k = %d: MSE %.15g, dropped eigenvalues give %.15g", k, mse, want);
        assert_true(mse < prev);
        prev = mse;

        /* A fit of only k components gives the same leading rows. */
        double ck[D * D], mk[D];
        if (stats_pca_fit(x, N, D, k, mk, ck, err, sizeof err) != 0)
            fail_msg("stats_pca_fit k = %d: %s", k, err);
        for (int e = 0; e < k * D; e++)
            assert_true(fabs(ck[e] - c[e]) < 1e-8);
    }
    free(x);
}

/* ---- bad input --------------------------------------------------------- */

/* The median sorts; the quantiles are nearest ranks: of 10 values the 1st and the 9th for 0.1 and 0.9 (the
 * first version took the 2nd and the 10th: "80% of steps" spanned 9 of 10), of 5 the 1st and the 5th. */
static void test_median_quantile(void **state)
{
    (void)state;
    double v[10] = {7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
    assert_true(stats_median(v, 10) == 5.5);
    assert_true(v[0] == 1 && v[9] == 10);
    assert_true(stats_quantile(v, 10, 0.1) == 1 && stats_quantile(v, 10, 0.9) == 9);
    assert_true(stats_quantile(v, 10, 0.5) == 5 && stats_quantile(v, 10, 1.0) == 10);
    double w[5] = {5, 4, 3, 2, 1};
    assert_true(stats_median(w, 5) == 3);
    assert_true(stats_quantile(w, 5, 0.1) == 1 && stats_quantile(w, 5, 0.9) == 5);
    assert_true(stats_median(w, 0) == 0 && stats_quantile(w, 0, 0.5) == 0);
}

static void test_bad_input(void **state)
{
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    double mean[4], cov[16], c[16], out = 0.0;
    char err[256] = "";
    assert_int_equal(stats_mean_cov(x, 1, 4, mean, cov), -1);
    assert_int_equal(stats_mean_cov(x, 0, 4, mean, cov), -1);
    assert_int_equal(stats_mean_cov(x, 2, 0, mean, cov), -1);
    assert_int_equal(stats_pca_fit(x, 1, 4, 2, mean, c, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 2 rows"));
    assert_int_equal(stats_pca_fit(x, 2, 4, 5, mean, c, err, sizeof err), -1);
    assert_non_null(strstr(err, "k = 5"));
    assert_int_equal(stats_frechet(mean, cov, mean, cov, 0, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "dimension 0"));
    assert_int_equal(stats_frechet(mean, cov, mean, NULL, 4, &out, NULL, 0), -1);
    assert_true(stats_pca_mse(x, 0, 4, 0, mean, c) == -1.0);
    assert_true(stats_pca_mse(x, 2, 4, 5, mean, c) == -1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_cov_matches_direct_sums),
        cmocka_unit_test(test_median_quantile),
        cmocka_unit_test(test_fid_self_is_zero),
        cmocka_unit_test(test_fid_mean_shift),
        cmocka_unit_test(test_fid_closed_form),
        cmocka_unit_test(test_fid_symmetric),
        cmocka_unit_test(test_pca_affine_subspace),
        cmocka_unit_test(test_pca_mse_identity),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
