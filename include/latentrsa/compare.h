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

/* "pearson", "spearman", "kendall-tau-a", "cosine", "cka-linear", "cka-linear-debiased". */
int lrsa_cmp_method_parse(const char *text, lrsa_cmp_method *out, lrsa_err *err);
const char *lrsa_cmp_method_name(lrsa_cmp_method m);
/* "greater", "two-sided". */
int lrsa_alternative_parse(const char *text, lrsa_alternative *out, lrsa_err *err);
const char *lrsa_alternative_name(lrsa_alternative a);

/* Copy the upper triangle of an n x n RDM into out (m = n(n-1)/2 doubles). */
void lrsa_rdm_upper(const float *rdm, int64_t n, double *out);

/* 1-based ranks with ties given their average rank (scipy.stats.rankdata(method='average')).
 * O(m log m). Fails only on out of memory. */
int lrsa_rank_average(const double *x, int64_t m, double *ranks, lrsa_err *err);

/* The statistic between two vectors of length m >= 2 for an RDM method (not CKA).
 * Fails with LRSA_EFORMAT if a vector is constant where the measure needs variance, or holds a
 * non-finite value. */
int lrsa_compare_vectors(lrsa_cmp_method method, const double *x, const double *y, int64_t m,
                         double *r, lrsa_err *err);

/* scipy's parametric p for r over m pairs: pearsonr (Pearson) and spearmanr (Spearman: the
 * t-distribution with m-2 degrees of freedom), one-sided for LRSA_ALT_GREATER. Returns NAN for
 * methods without one (cosine, CKA; Kendall tau-a: NAN as well). */
double lrsa_p_parametric(lrsa_cmp_method method, double r, int64_t m, lrsa_alternative alt);

/* Linear CKA between X (n x dx) and Y (n x dy), rows are the same stimuli (Kornblith et al.
 * 2019; debiased: the unbiased HSIC estimator of Song et al. 2012, needs n >= 4). Both are
 * float32 row-major. ctx may be NULL. */
int lrsa_cka_linear(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy,
                    int debiased, double *out, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
