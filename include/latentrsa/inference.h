/*
 * Valid inference for RDM comparisons: the Mantel permutation test (stimulus labels permuted,
 * i.e. rows and columns of one RDM together), its exact version for n <= 8, stratified
 * permutations, and a percentile bootstrap CI over stimuli. Also the same permutation test for
 * linear CKA between two embedding matrices. The statistics themselves are those of compare.h.
 *
 * Why: RDM entries that share a stimulus are dependent, so scipy's pearsonr/spearmanr p over the
 * m = n(n-1)/2 pairs is not valid (specs/rsa.md section 2). The Mantel null keeps that
 * dependence: under H0 the stimulus labels of one RDM are exchangeable.
 *
 * Permutation test (lrsa_rsa_infer, RDM methods pearson, spearman, cosine):
 *   statistic r(pi) = the method's statistic between the upper triangles of A[pi, pi] and B.
 *   One-sided ("greater"): p = (1 + #{k : r(pi_k) >= r_obs}) / (1 + P).
 *   Two-sided: the same with |r|. P random permutations pi_1..pi_P, drawn uniformly (within each
 *   stratum when strata are given). A null value within LRSA_PERM_TIE_TOL of r_obs counts as a
 *   tie, i.e. as >= (conservative).
 *   Exact (permutations = LRSA_PERM_EXACT, n <= LRSA_PERM_EXACT_MAX_N): all n! permutations
 *   (within strata: the product of the groups' factorials), the identity included;
 *   p = #{pi : r(pi) >= r_obs} / n!.
 *   How (specs/rsa.md 2.3, 5.3): with r(pi) = alpha * S(pi) + beta and
 *   S(pi) = sum_{i<j} X[pi(i), pi(j)] * y_ij, where the fixed side B is kept as its packed upper
 *   triangle y (m floats) and the permuted side A as a full symmetric n x n float32 matrix X built
 *   from its upper triangle; alpha, beta hold the means and norms, which a relabelling does not
 *   change. Spearman stores centred ranks (half-integers; ranks once, then permutes), Pearson the
 *   values minus an integer offset near their mean, cosine the values: no value is rescaled one by
 *   one, and products of two floats are exact in double, so permutations whose r ties exactly
 *   (integer or categorical model RDMs) tie in floating point too. Sums are in double.
 *   The loop visits A's rows in storage order and, for each batch of 8 permutations, the packed
 *   row pi^-1(a) of y, so A's row stays in cache across the batch and each permutation streams y
 *   once. OpenMP over batches; an AVX2 gather kernel where the CPU has it, with the same
 *   summation order (and so the same bits) as the portable one.
 * Determinism: permutation k (k = 0, 1, ...) is drawn from its own RNG stream seeded from
 * (seed, k) (lrsa_perm_draw), and every r(pi_k) is summed in a fixed order by one thread, so the
 * p-value is bit-identical for any thread count.
 * The null distribution (o->null_out, optional): null_out[k] = r(pi_k), the value that was counted
 * against r_obs, signed even for two-sided (which counts |r(pi_k)|), in permutation order; the
 * same bits for any thread count. Random test: null_out holds o->permutations doubles. Exact test:
 * it must hold n! doubles (the most there can be); the first res->permutations are filled, one per
 * permutation enumerated, in lexicographic order of pi (so the identity, r_obs itself, comes
 * first), and with strata only those that keep every stimulus in its group. Untouched when
 * o->permutations is 0.
 *
 * Bootstrap (percentile, over stimuli): resample n stimuli with replacement (resample b uses its
 * own RNG stream from (seed, b)); the resampled RDM's pairs are the pairs (k, l), k < l, of
 * resampled positions whose stimuli differ (two copies of one stimulus are left out); r is
 * recomputed on them (Spearman re-ranks per resample, average ties, exactly as rankdata on the
 * materialised vector would). Computed without materialising the vector: stimulus pair {a, b}
 * occurs c_a c_b times (c = copy counts), so r is a weighted statistic with weights c_a c_b, and
 * Spearman's ranks come from one pass over the upper triangle pre-sorted once (O(m) per
 * resample). Kendall tau-a is materialised and computed by lrsa_compare_vectors (O(m log m) per
 * resample: slow for large n). Resamples whose r is undefined (fewer than 2 distinct pairs or a
 * constant side) are dropped and counted. CI = [2.5, 97.5] percentiles of the kept r values,
 * numpy's default (linear) interpolation.
 *
 * CKA (lrsa_cka_infer): permuting the rows of X permutes its centred Gram matrix K = Xc Xc^T as
 * K[pi, pi] (centring commutes with a row permutation) and leaves every norm unchanged, so
 *   biased:    <K[pi,pi], L>  = 2 sum_{i<j} K[pi(i),pi(j)] L_ij + sum_i K[pi(i),pi(i)] L_ii,
 *   debiased:  the unbiased HSIC of Song et al. (2012) with zero-diagonal K~, L~:
 *              (tr(K~_pi L~) + 1'K~1 1'L~1/((n-1)(n-2)) - 2/(n-2) 1'K~_pi L~ 1) / (n(n-3)),
 *              where 1'K~_pi L~ 1 = sum_j rowsum(K~)[pi(j)] rowsum(L~)[j] costs O(n),
 * so the same engine runs with K and L: O(n^2) per permutation instead of O(n^2 d). K and L are
 * float32, scaled to unit Frobenius norm; the observed value compared with the null comes from
 * the same engine (the reported r is lrsa_cka_linear's, in double). No bootstrap for CKA
 * (duplicated rows bias it): ci is NAN.
 *
 * Errors: LRSA_ESHAPE (n < 3, n > LRSA_PERM_EXACT_MAX_N for exact, strata ids out of range),
 * LRSA_EUNSUPPORTED (n > 65535),
 * LRSA_EFORMAT (a non-finite entry, a constant upper triangle where the method needs variance,
 * an all-zero one for cosine), LRSA_EMISUSE (negative counts, an unknown method), LRSA_ENOMEM.
 * Memory: two m-double copies of the upper triangles; the permutation test n^2 + m floats plus
 * 16 n int32 per thread; the Spearman bootstrap 20 bytes per pair (the two sorted layouts) plus
 * 4 bytes per pair per thread (N = 5000: 250 MB + 50 MB per thread).
 */
#ifndef LATENTRSA_INFERENCE_H
#define LATENTRSA_INFERENCE_H

#include "latentrsa/compare.h"
#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_PERM_EXACT (-1)          /* permutations: enumerate all n! */
#define LRSA_PERM_EXACT_MAX_N 8       /* 8! = 40320 */
/* A null value r(pi) counts as ">= r_obs" when r(pi) >= r_obs - LRSA_PERM_TIE_TOL (on the r
 * scale, |r| <= 1): float rounding must not turn an exact tie (an automorphism of the RDM)
 * into a miss. */
#define LRSA_PERM_TIE_TOL 1e-10

typedef struct lrsa_infer_opts {
    lrsa_cmp_method method;       /* default LRSA_CMP_SPEARMAN */
    lrsa_alternative alternative; /* default LRSA_ALT_GREATER */
    int64_t permutations;         /* default 10000; 0: no test; LRSA_PERM_EXACT: all n! */
    int64_t bootstrap;            /* default 1000; 0: no CI */
    uint64_t seed;                /* default 0 */
    const int32_t *strata;        /* NULL, or n group ids in [0, n): permute within groups */
    double *null_out;             /* NULL, or receives the null statistics r(pi) (see below) */
} lrsa_infer_opts;

void lrsa_infer_opts_init(lrsa_infer_opts *o);

typedef struct lrsa_infer_result {
    int64_t n;                    /* stimuli */
    int64_t pairs;                /* m = n(n-1)/2 */
    double r;                     /* lrsa_compare_vectors (or lrsa_cka_linear) on the inputs */
    double p_parametric;          /* lrsa_p_parametric; NAN where it does not apply */
    double p_permutation;         /* NAN when no test ran */
    int64_t permutations;         /* permutations evaluated (n! or the strata product when
                                   * exact, the identity included); 0 when none */
    int64_t exceed;               /* #{r(pi) >= r_obs} (|.| for two-sided) */
    int64_t strata;               /* number of groups; 0 without strata */
    double ci_lo, ci_hi;          /* NAN when no bootstrap ran */
    int64_t bootstrap;            /* resamples kept (finite r) */
    int64_t bootstrap_dropped;    /* resamples with an undefined r */
} lrsa_infer_result;

/* Compare two n x n RDMs A and B (float32, row-major; only the upper triangles are read, as
 * compare.h) and run the permutation test and bootstrap that o asks for. Methods: pearson,
 * spearman, cosine (test and CI), kendall-tau-a (no permutation test: o->permutations must be 0;
 * the CI is allowed but costs O(m log m) per resample). ctx may be NULL; it gives the thread count
 * and receives progress ("permutations", "bootstrap"). */
int lrsa_rsa_infer(const float *A, const float *B, int64_t n, const lrsa_infer_opts *o,
                   lrsa_infer_result *res, const lrsa_ctx *ctx, lrsa_err *err);

/* Linear CKA (o->method LRSA_CMP_CKA_LINEAR or LRSA_CMP_CKA_LINEAR_DEBIASED) between X (n x dx)
 * and Y (n x dy), rows the same stimuli, with the permutation test that permutes X's rows.
 * o->bootstrap must be 0 (ci NAN). p_parametric is NAN. */
int lrsa_cka_infer(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy,
                   const lrsa_infer_opts *o, lrsa_infer_result *res, const lrsa_ctx *ctx,
                   lrsa_err *err);

/* ---- Building blocks (exposed so that tests can check them independently) -------------------- */

/* Permutation k of the stream `seed`: perm[i] = the row of A placed at position i. Uniform over
 * all n! permutations (strata NULL) or over those that keep every position in its group
 * (Fisher-Yates inside each group, groups in order of first appearance). Deterministic in
 * (seed, k, n, strata). strata ids must lie in [0, n). Fails only on out of memory. */
int lrsa_perm_draw(uint64_t seed, int64_t k, int64_t n, const int32_t *strata, int32_t *perm,
                   lrsa_err *err);

/* Bootstrap resample b of the stream `seed`: idx[0..n-1] drawn uniformly from [0, n). */
void lrsa_boot_draw(uint64_t seed, int64_t b, int64_t n, int64_t *idx);

/* numpy.percentile(v, q) with linear interpolation over the sorted copy of v[0..k-1]; NAN if
 * k == 0. Sorts v in place. */
double lrsa_percentile(double *v, int64_t k, double q);

#ifdef __cplusplus
}
#endif
#endif
