/*
 * Comparing representations: the correlation of two RDMs over their upper triangles (Pearson,
 * Spearman, Kendall tau-a, cosine), scipy's parametric p-values (reported only to compare with
 * the paper: they assume independent pairs, which RDM entries are not), and linear CKA between
 * two embedding matrices. Valid inference (permutation tests, bootstrap) is in inference.h.
 *
 * Conventions: an RDM is an n x n float32 matrix, row-major; its upper triangle is the
 * m = n(n-1)/2 entries (i, j) with i < j, in row-major order (i = 0: j = 1..n-1, then i = 1, ...),
 * which is scipy's squareform order. Sums over many terms accumulate in double.
 */
#ifndef LATENTRSA_COMPARE_H
#define LATENTRSA_COMPARE_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrsa_cmp_method {
    LRSA_CMP_PEARSON = 0,
    LRSA_CMP_SPEARMAN = 1,          /* Pearson of average-tie ranks (scipy spearmanr) */
    LRSA_CMP_KENDALL_TAU_A = 2,     /* (concordant - discordant) / m(m-1)/2, as rsatoolbox's tau-a */
    LRSA_CMP_COSINE = 3,            /* uncentred: x.y / (|x||y|) */
    LRSA_CMP_CKA_LINEAR = 4,        /* on embeddings, not RDMs */
    LRSA_CMP_CKA_LINEAR_DEBIASED = 5
} lrsa_cmp_method;

typedef enum lrsa_alternative {
    LRSA_ALT_GREATER = 0,           /* H1: positive association (one-sided) */
    LRSA_ALT_TWO_SIDED = 1
} lrsa_alternative;

/* "pearson", "spearman", "kendall-tau-a", "cosine", "cka-linear", "cka-linear-debiased" (exact,
 * case-sensitive). An unknown name gives LRSA_EFORMAT with a message listing the valid ones;
 * text == NULL gives LRSA_EMISUSE. lrsa_cmp_method_name returns "unknown" for an invalid value
 * (never NULL). */
int lrsa_cmp_method_parse(const char *text, lrsa_cmp_method *out, lrsa_err *err);
const char *lrsa_cmp_method_name(lrsa_cmp_method m);
/* "greater", "two-sided"; errors and names as for the methods. */
int lrsa_alternative_parse(const char *text, lrsa_alternative *out, lrsa_err *err);
const char *lrsa_alternative_name(lrsa_alternative a);

/* Copy the upper triangle of an n x n RDM into out (m = n(n-1)/2 doubles). */
void lrsa_rdm_upper(const float *rdm, int64_t n, double *out);

/* 1-based ranks with ties given their average rank (scipy.stats.rankdata(method='average')).
 * A stable LSD radix sort of the values' order-preserving bit patterns (3 passes of 11 bits when
 * every value is exactly a float, as entries of float32 RDMs are; up to 6 otherwise): about 10x
 * faster than scipy.stats.rankdata at m = 12.5M (bench/bench_compare_measures.c). -0.0 and 0.0
 * tie; NaNs (which the comparisons reject before they get here) rank after +inf and tie with each
 * other. ranks must not alias x. Scratch: 16 bytes per value (24 when some value is not a float).
 * Fails on out of memory and with LRSA_EUNSUPPORTED for m > 2^32 - 1. */
int lrsa_rank_average(const double *x, int64_t m, double *ranks, lrsa_err *err);

/* The statistic between two vectors of length m >= 2 for an RDM method (not CKA):
 *  - Pearson: two-pass (means, then centred sums in double), clipped to [-1, 1]; inputs with
 *    extreme magnitudes are rescaled so that the sums neither overflow nor underflow.
 *  - Spearman: Pearson of lrsa_rank_average ranks (scipy spearmanr).
 *  - Kendall tau-a: (C - D) / (m(m-1)/2), where a pair tied in x or in y is neither concordant
 *    nor discordant (rsatoolbox's tau-a); Knight's O(m log m) algorithm with exact integer counts.
 *  - cosine: x.y / (|x||y|), uncentred, clipped to [-1, 1].
 * Errors: LRSA_EEMPTY for m < 2; LRSA_EFORMAT for a non-finite value ("non-finite value at
 * position k of the first vector") or, for Pearson, Spearman and Kendall, a constant vector
 * ("... has no variance"; scipy would return NaN; tau-a would be 0), for cosine an all-zero
 * vector; LRSA_EMISUSE for a CKA method; LRSA_ENOMEM. Spearman needs ~48 bytes per value of
 * scratch (ranks x and y concurrently when OpenMP allows two threads), Kendall ~24. On failure
 * *r is untouched. */
int lrsa_compare_vectors(lrsa_cmp_method method, const double *x, const double *y, int64_t m,
                         double *r, lrsa_err *err);

/* scipy's parametric p for r over m pairs: pearsonr (Pearson) and spearmanr (Spearman: the
 * t-distribution with m-2 degrees of freedom), one-sided for LRSA_ALT_GREATER. Returns NAN for
 * methods without one (cosine, CKA; Kendall tau-a: NAN as well).
 * As scipy 1.13: Pearson p = 2 * sf(|r|) (two-sided) or sf(r) (greater) of Beta(m/2-1, m/2-1)
 * on [-1, 1]; m == 2 gives 1. Spearman p from Student t with t = r sqrt((m-2)/((1+r)(1-r)));
 * m == 2 gives NAN (scipy's NaN). r = +-1 gives 0 (two-sided), 0 or 1 (greater). Values below
 * about 1e-308 degrade gradually into denormals and then to 0.0 (scipy gives 0.0 for
 * |r| >= 0.01089 at m = 12,497,500). Also NAN for m < 2, a non-finite r or |r| > 1.
 * Accuracy: within 5e-12 relative of scipy on the fixture grid (m = 2 .. 12,497,500, r from 0 to
 * +-1, both alternatives; tests/unit/test_compare.c). Near p = 0.5 at m > 1e6 scipy's Boost
 * beta.sf is itself off by up to ~7e-10 (checked against 50-digit series values); ours stays
 * within 2e-13 there. */
double lrsa_p_parametric(lrsa_cmp_method method, double r, int64_t m, lrsa_alternative alt);

/* ===== Helpers for the permutation and bootstrap engines =============== */

/* Centre x and scale it to unit Euclidean norm: out = (x - mean) / |x - mean|, in double with
 * the same care as the Pearson r above, so that Pearson r(x, y) = sum_k out_x[k] out_y[k] (to
 * rounding). out may be x. Errors: LRSA_EEMPTY for m < 2, LRSA_EFORMAT for a non-finite value or
 * a constant vector ("... has no variance"). */
int lrsa_standardize_vector(const double *x, int64_t m, double *out, lrsa_err *err);

/* The form of x whose dot products give the statistic: for Pearson the standardized x, for
 * Spearman the standardized average-tie ranks, for cosine x / |x|. Then
 * lrsa_compare_vectors(method, x, y) = sum_k out_x[k] out_y[k] (before clipping), and for a
 * relabelling of x's stimuli the statistic is the dot product of the permuted prepared x with
 * the prepared y (ranks, means and norms do not change under a permutation). out may be x.
 * Errors as lrsa_compare_vectors; LRSA_EMISUSE for Kendall tau-a and the CKA methods. */
int lrsa_compare_prepare(lrsa_cmp_method method, const double *x, int64_t m, double *out,
                         lrsa_err *err);

/* Kendall tau-a (as lrsa_compare_vectors with LRSA_CMP_KENDALL_TAU_A) with the pair counts:
 * n0 = m(m-1)/2 pairs, ties_x/ties_y = pairs tied in x/y, ties_xy = tied in both, discordant.
 * Any count pointer may be NULL. */
int lrsa_kendall_tau_a(const double *x, const double *y, int64_t m, double *tau,
                       uint64_t *ties_x, uint64_t *ties_y, uint64_t *ties_xy,
                       uint64_t *discordant, lrsa_err *err);

/* The regularized incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1: for a, b > 1
 * DiDonato & Morris' continued fraction (TOMS 708 BFRAC), otherwise Numerical Recipes' (modified
 * Lentz), each on the tail where it converges; the prefactor x^a (1-x)^b / B(a, b) through
 * Stirling's series, so that a, b up to ~1e7 keep ~1e-12 relative accuracy (src/stats/pvalue.c).
 * lrsa_betainc_upper is 1 - I_x(a, b) computed without cancellation. Tiny results degrade into
 * denormals, then 0. NAN for arguments outside the domain. */
double lrsa_betainc(double a, double b, double x);
double lrsa_betainc_upper(double a, double b, double x);

/* Student t with df > 0 degrees of freedom: P(T > t) (scipy's t.sf = stdtr(df, -t)), through
 * the symmetric beta form I_{(1-r)/2}(df/2, df/2), r = t/sqrt(df + t^2). NAN for df <= 0. */
double lrsa_t_sf(double t, double df);

/* Linear CKA between X (n x dx) and Y (n x dy), rows are the same stimuli (Kornblith et al.
 * 2019; debiased: the unbiased HSIC estimator of Song et al. 2012, needs n >= 4). Both are
 * float32 row-major. ctx may be NULL.
 * Columns are centred (means in double), then with K = X X^T, L = Y Y^T:
 *   biased:   CKA = <K, L> / sqrt(<K, K> <L, L>) = |Y^T X|_F^2 / (|X^T X|_F |Y^T Y|_F);
 *   debiased: each <K, L> becomes n(n-3) HSIC_u = <K,L> - n/(n-2) r_x.r_y + |X|^2 |Y|^2/((n-1)(n-2))
 *             with r_x the squared row norms (Song et al.'s U-statistic with zeroed diagonals;
 *             it may be negative; specs/align.md 2.2).
 * Computed in double with BLAS: with n < dx + dy from the n x n Gram matrices (dsyrk over column
 * blocks, 16 n^2 bytes, O(n^2 (dx + dy))), otherwise from X^T Y, X^T X, Y^T Y (dgemm/dsyrk over
 * row blocks, 8 (dx dy + dx^2 + dy^2) bytes): both forms give the same value to rounding.
 * Errors: LRSA_EMISUSE (NULL pointer, dx or dy < 1), LRSA_EEMPTY (n < 2, or n < 4 debiased),
 * LRSA_EFORMAT (a non-finite value; X or Y with no variance after centring, or a debiased
 * self-similarity that is not positive), LRSA_ENOMEM. */
int lrsa_cka_linear(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy,
                    int debiased, double *out, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
