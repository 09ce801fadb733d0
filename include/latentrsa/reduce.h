/*
 * Dimensionality reduction: column z-scoring (scikit-learn's StandardScaler) and a truncated SVD
 * whose output matches scikit-learn's TruncatedSVD.fit_transform (the projection X·Vk, the
 * singular values, explained_variance_ and explained_variance_ratio_), with a deterministic sign
 * rule and three solvers.
 *
 * Glossary: X is n x d, float32, row-major (n rows = stimuli, d columns = features). m = min(n, d)
 * is the side of the Gram matrix the solvers work on: G = X·Xᵀ (n x n) when n <= d, G = Xᵀ·X
 * (d x d) when d < n. k is the number of components kept.
 *
 * Conventions (DESIGN.md §7, specs/rsa.md §6):
 *  - No centring: without z-scoring the SVD is of the raw matrix, as TruncatedSVD does.
 *  - Sign rule: in every right singular vector (a row of components, a column of Vk) the entry of
 *    largest magnitude is positive (the first such entry when several tie). The projection column
 *    is flipped with it. This matters: the correlation-distance RDM of the projections changes
 *    when one component's sign flips.
 *  - explained_variance[j] = var(P[:, j]) with ddof 0 (P the projection);
 *    explained_variance_ratio[j] = explained_variance[j] / sum over columns of var(X) (ddof 0).
 *    Components are ordered by singular value (descending); without centring the ratios need not
 *    be sorted.
 *  - Numerical rank: singular values s_j <= s_1 * max(n, d) * FLT_EPSILON count as zero (numpy's
 *    matrix_rank rule for float32 data). A request for more components than that keeps only the
 *    numerical rank (result.capped says so); k > min(n, d) is an error.
 *  - Sums over rows or columns accumulate in double.
 *
 * Solvers:
 *  - LRSA_SVD_EXACT: G in double (float data converted block by block, dsyrk), then LAPACK's
 *    dsyevr for the top k eigenpairs (all of them for a variance target), then Vk = Xᵀ·U·S⁻¹ (or
 *    P = X·V when d < n) in double. The reference.
 *  - LRSA_SVD_TOPK (default, fast): G in float by one threaded ssyrk (float accumulation), then
 *    randomized subspace iteration on G: a Gaussian block of b = k + p columns (p = opts.
 *    topk_oversample, default clamp(k / 8, LRSA_TOPK_OVERSAMPLE_MIN, LRSA_TOPK_OVERSAMPLE_MAX)),
 *    q = opts.topk_iter (default LRSA_TOPK_ITER) multiplications by G each normalised by LU with
 *    partial pivoting, then one Rayleigh-Ritz step (QR, W = G·Q, the b x b problem Qᵀ·W in double,
 *    dsyevd), and Vk = Xᵀ·U·S⁻¹ by one sgemm. No tolerance: an approximation like RANDOMIZED (q
 *    multiplications by G see the spectrum as scikit-learn's q - 1/2 power iterations do), more
 *    accurate than scikit-learn's randomized TruncatedSVD on the bench data (docs/cli/reduce.md).
 *    result.iterations = q + 1, converged = 1, max_residual = the residual measure of LANCZOS for
 *    information. When 2b > m (small problems) the dense eigensolver of EXACT is used on G in
 *    double.
 *  - LRSA_SVD_LANCZOS (accurate; the default "topk" before the performance work): G by float ssyrk
 *    over column blocks of LRSA_TOPK_GRAM_BLOCK summed in
 *    double; then block Lanczos on G (float sgemm): a Krylov basis K = [B_0, B_1, ...] of blocks of
 *    s = clamp(k / 4, 16, 256) columns, B_{i+1} = G·B_i orthogonalised against all of K (classical
 *    Gram-Schmidt twice + Householder QR; again when a column lost > 99% of its norm), G·K kept,
 *    Kᵀ·G·K built incrementally, and a Rayleigh-Ritz step (its top k pairs, ssyevr) once K has
 *    2k + s columns and then every k/2 + s more, until every kept
 *    Ritz pair has ||G·z - θ_j·z|| <= tol * θ_1 * max(sqrt(θ_j / θ_1), 0.02) (tol: opts.tol,
 *    default LRSA_TOPK_TOL). The rule bounds the error of projection column j, relative to s_1,
 *    by about tol / (relative gap of θ_j). If K would pass 3m/4 columns first (or 2k + 2s does not
 *    fit in 3m/4), subspace iteration
 *    takes over from the Ritz vectors: a block of b = k + max(LRSA_TOPK_MIN_OVERSAMPLE, k / 4)
 *    columns, multiplications by G - σI (σ = half the smallest Ritz value: the degree-1 Chebyshev
 *    filter) normalised by LU, Rayleigh-Ritz every 2, at most max_iter multiplications (then a
 *    warning). opts.block > 0 skips block Lanczos and sets b. Singular values are ||Xᵀ·u_j|| (or
 *    ||X·v_j||), accurate to float rounding. When b exceeds m / 2 the dense eigensolver of the
 *    exact path is used on the same G.
 *  - LRSA_SVD_RANDOMIZED: Halko et al. as scikit-learn's randomized_svd: on Xᵀ when n < d, a
 *    Gaussian test matrix of k + oversamples columns (lrsa_rng from the seed), n_iter power
 *    iterations each normalised by LU with partial pivoting, QR, B = Qᵀ·M and its exact SVD
 *    (sgesdd), truncated to k. Float throughout, as scikit-learn on float32 input.
 *
 * Choosing k by variance (opts.k == 0, opts.variance = F in (0, 1]): the fewest components whose
 * ratios, in singular-value order, sum to >= F (compared with a relative slack of 1e-9, so that
 * F = 1 keeps the full numerical rank). EXACT computes every eigenpair. TOPK, LANCZOS and RANDOMIZED start
 * with LRSA_VARIANCE_START components and double the count until the cumulative ratio of the computed components reaches F, or the count reaches
 * min(n, d).
 */
#ifndef LATENTRSA_REDUCE_H
#define LATENTRSA_REDUCE_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrsa_svd_solver {
    LRSA_SVD_TOPK = 0,
    LRSA_SVD_EXACT = 1,
    LRSA_SVD_RANDOMIZED = 2,
    LRSA_SVD_LANCZOS = 3
} lrsa_svd_solver;

#define LRSA_TOPK_ITER 6             /* topk: LU-normalised multiplications before Rayleigh-Ritz */
#define LRSA_TOPK_OVERSAMPLE_MIN 16  /* topk: oversampling p = clamp(k / 8, MIN, MAX) */
#define LRSA_TOPK_OVERSAMPLE_MAX 64
#define LRSA_TOPK_TOL 1e-4           /* lanczos: default residual tolerance (see above) */
#define LRSA_TOPK_MAX_ITER 60        /* default cap on multiplications by G */
#define LRSA_TOPK_MIN_OVERSAMPLE 16
#define LRSA_TOPK_GRAM_BLOCK 2048    /* columns (or rows) per float ssyrk before summing in double */
#define LRSA_VARIANCE_START 32       /* first component count tried for a variance target */

/* "topk", "lanczos", "exact", "randomized". */
int lrsa_svd_solver_parse(const char *text, lrsa_svd_solver *out, lrsa_err *err);
const char *lrsa_svd_solver_name(lrsa_svd_solver s);

/* ===== standardize.c ================================================================ */

/* LRSA_EFORMAT naming the first non-finite entry ("row i, column j is nan"), else LRSA_OK. */
int lrsa_check_finite(const float *X, int64_t n, int64_t d, lrsa_err *err);

/* Z-score the columns of X (n x d) in place, as StandardScaler: mean and population variance
 * (ddof 0) in double (two passes), x = (x - mean) / std. A column whose variance is exactly zero
 * (all values equal) becomes all zeros. mean and std (d doubles each) may be NULL; std is 0 for
 * constant columns. Returns the number of constant columns in *nconst (may be NULL). n >= 1. */
int lrsa_standardize(float *X, int64_t n, int64_t d, double *mean, double *std, int64_t *nconst,
                     const lrsa_ctx *ctx, lrsa_err *err);

/* Sum over columns of the population variance (ddof 0), accumulated in double: the denominator of
 * explained_variance_ratio. */
double lrsa_total_variance(const float *X, int64_t n, int64_t d, const lrsa_ctx *ctx);

/* ===== svd.c ======================================================================== */

typedef struct lrsa_svd_opts {
    lrsa_svd_solver solver;
    int64_t k;             /* components wanted, 1 <= k <= min(n, d); 0: choose by variance */
    double variance;       /* F in (0, 1], used when k == 0 */
    uint64_t seed;         /* topk and lanczos start block, randomized test matrix */
    int n_iter;            /* randomized: power iterations (default 5) */
    int oversamples;       /* randomized: extra columns (default 10) */
    double tol;            /* lanczos: residual tolerance relative to θ_1 (default LRSA_TOPK_TOL) */
    int max_iter;          /* lanczos: cap on multiplications by G (default LRSA_TOPK_MAX_ITER) */
    int64_t block;         /* lanczos: 0 = block Lanczos (default); b >= k = subspace iteration with
                            * block width b (for comparison) */
    int topk_iter;         /* topk: multiplications by G before Rayleigh-Ritz (default LRSA_TOPK_ITER) */
    int64_t topk_oversample; /* topk: extra columns p; 0 = clamp(k / 8, 16, 64) */
    int want_components;   /* 1: fill result.components (k x d) */
} lrsa_svd_opts;

/* Defaults: topk, k 0, variance 0, seed 0, n_iter 5, oversamples 10, tol LRSA_TOPK_TOL,
 * max_iter LRSA_TOPK_MAX_ITER, topk_iter LRSA_TOPK_ITER, topk_oversample 0, no components. */
void lrsa_svd_opts_init(lrsa_svd_opts *o);

typedef struct lrsa_svd_result {
    int64_t n, d;
    int64_t k;                        /* components kept */
    float *proj;                      /* n x k, row-major: X·Vk */
    float *components;                /* k x d, row-major (Vkᵀ), or NULL */
    double *singular_values;          /* k, descending */
    double *explained_variance;       /* k */
    double *explained_variance_ratio; /* k */
    double total_variance;            /* sum of column variances of X */
    int capped;                       /* 1: fewer components than asked (numerical rank) */
    int iterations;                   /* lanczos: multiplications by G, in blocks of k columns;
                                       * topk: q + 1; randomized: n_iter; exact: 0 */
    int converged;                    /* lanczos: 1 if the tolerance was met (always 1 otherwise) */
    double max_residual;              /* topk, lanczos: max over kept pairs of ||G·z - θ_j·z|| /
                                       * (θ_1 max(sqrt(θ_j / θ_1), 0.02)); lanczos converged when
                                       * <= tol; topk reports it only */
} lrsa_svd_result;

/* The truncated SVD of X (n x d, all finite; see lrsa_check_finite), as described at the top.
 * Errors: LRSA_EMISUSE for k outside 1..min(n, d) or F outside (0, 1] (messages name the limit),
 * LRSA_EEMPTY for an all-zero matrix, LRSA_ENOMEM, LRSA_EFORMAT if LAPACK fails. On failure *out
 * holds nothing to release. ctx may be NULL (it gives the threads and a warning hook). */
int lrsa_svd_truncated(const float *X, int64_t n, int64_t d, const lrsa_svd_opts *opts,
                       lrsa_svd_result *out, const lrsa_ctx *ctx, lrsa_err *err);
void lrsa_svd_result_release(lrsa_svd_result *r);   /* NULL is fine; zeroes the struct */

/* Apply the sign rule to k right singular vectors held as rows of Vt (k x d, row-major), flipping
 * the matching columns of P (n x k, row-major; may be NULL). Exposed for tests and tools. */
void lrsa_svd_sign_rule(float *Vt, int64_t k, int64_t d, float *P, int64_t n);

/* ===== reduce.c ===================================================================== */

/* The whole `reduce` step on a matrix held in memory: check X is 2-D, non-empty and finite,
 * z-score it in place when zscore is set, then lrsa_svd_truncated. */
int lrsa_reduce(lrsa_tensor *X, int zscore, const lrsa_svd_opts *opts, lrsa_svd_result *out,
                const lrsa_ctx *ctx, lrsa_err *err);

/* Write the result's summary as JSON (atomically) to path: keys
 *   k, n, d (input shape), solver, seed, zscore, components_requested (null for a variance
 *   target), variance_target (null unless set), capped, total_variance, singular_values,
 *   explained_variance, explained_variance_ratio, explained_variance_ratio_sum, iterations,
 *   converged, max_residual (null except topk and lanczos). */
int lrsa_reduce_write_json(const char *path, const lrsa_svd_result *r, const lrsa_svd_opts *opts,
                           int zscore, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
