/*
 * Representational dissimilarity matrices (RDMs): the N x N distances between the rows of an
 * N x D float32 matrix (one row per stimulus), computed with one float32 matrix product over
 * prepared rows, never pair by pair.
 *
 * Metrics (x_i is row i, mu the mean row):
 *   correlation   1 - r_ij, r_ij the Pearson correlation of rows i and j (the paper's measure,
 *                 scipy's pdist 'correlation', 1 - np.corrcoef(X)). Each row is centred and
 *                 scaled to unit norm in double, stored as float32; then R = U U^T by one SSYRK-
 *                 shaped product and D_ij = 1 - clamp(R_ij, -1, 1). Entries lie in [0, 2].
 *   cosine        1 - x_i.x_j / (|x_i||x_j|) (pdist 'cosine'): the same without centring.
 *   sqeuclidean   |x_i - x_j|^2 (pdist 'sqeuclidean'), from the Gram matrix of the column-centred
 *                 rows (distances do not change when every row is shifted by mu, and centring
 *                 removes a common offset that would otherwise cost float32 precision):
 *                 d2 = |c_i|^2 + |c_j|^2 - 2 c_i.c_j with the norms in double. Pairs whose d2 is
 *                 below 2^-6 (|c_i|^2 + |c_j|^2) (nearly duplicate rows, where the subtraction
 *                 cancels) are recomputed directly in double from the input rows. Then clamped
 *                 at 0.
 *   euclidean     sqrt of sqeuclidean (pdist 'euclidean').
 *
 * Output: rdm is N x N, row-major float32, written completely: exactly symmetric (each pair is
 * computed once and stored at (i, j) and (j, i)) with an exactly zero diagonal. No entry is ever
 * negative (see LRSA_RDM_CLIP_NEGATIVE).
 *
 * Accuracy against scipy.spatial.distance.pdist on the same float32 data taken to double (the
 * float32 rounding of the products grows like sqrt(D)): tested in tests/unit/test_rdm.c on
 * tools/gen_rdm_fixtures.py's fixtures and random matrices up to D = 700 with TOL = 2e-6
 * (observed: up to 6e-7), c_i = row i minus the column means:
 *   correlation, cosine: |ours - scipy| <= TOL, absolute;
 *   sqeuclidean:         |ours - scipy| <= TOL (|c_i|^2 + |c_j|^2); the recomputed nearly
 *                        duplicate pairs to float32 rounding (relative 1e-6 tested);
 *   euclidean:           |ours - scipy| <= TOL sqrt(|c_i|^2 + |c_j|^2).
 *
 * Errors (LRSA_EFORMAT unless said; *bad_row, when not NULL, names the row or is -1):
 *  - a NaN or Inf entry (the first row holding one; checked before the next two);
 *  - correlation: a constant row (zero variance; scipy would give NaN: we refuse);
 *  - cosine: an all-zero row;
 *  - n < 2 or d < 1 (LRSA_ESHAPE); a NULL buffer, an unknown metric or flag (LRSA_EMISUSE).
 * Messages say "row K" (counted from 0); callers with labels add the stimulus name.
 *
 * Threads: lrsa_threads(ctx) OpenMP threads share the 384 x 384 output tiles of the upper
 * triangle; each tile is one single-threaded SGEMM (SSYRK on the diagonal). The result is the same
 * bytes for any thread count. ctx may be NULL.
 * Memory: besides the output, one N x D float32 copy, N doubles and 600 KB per thread.
 */
#ifndef LATENTRSA_RDM_H
#define LATENTRSA_RDM_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrsa_rdm_metric {
    LRSA_RDM_CORRELATION = 0,  /* 1 - Pearson r (the default and the paper's) */
    LRSA_RDM_COSINE = 1,       /* 1 - cosine similarity */
    LRSA_RDM_EUCLIDEAN = 2,    /* |x_i - x_j| */
    LRSA_RDM_SQEUCLIDEAN = 3   /* |x_i - x_j|^2 */
} lrsa_rdm_metric;

enum lrsa_rdm_flags {
    /* Set negative entries to 0, as the paper's code did. Our entries are never negative (the
     * correlation is clamped to [-1, 1] and squared distances at 0), so this changes nothing:
     * it states the guarantee and is what `--preset paper` asks for. */
    LRSA_RDM_CLIP_NEGATIVE = 1 << 0
};

/* "correlation", "cosine", "euclidean", "sqeuclidean". Parse fails with LRSA_EMISUSE naming the
 * text and the choices. */
int lrsa_rdm_metric_parse(const char *text, lrsa_rdm_metric *out, lrsa_err *err);
const char *lrsa_rdm_metric_name(lrsa_rdm_metric metric);  /* "unknown" for a bad value */

/* out (n x d) = each row of X (n x d, float32 row-major) centred on its own mean when `center`
 * is set, then divided by its norm, computed in double and stored as float32 (out may equal X).
 * After it, out out^T holds Pearson correlations (center) or cosine similarities.
 * Errors: a non-finite entry, or a row with zero norm after centring (LRSA_EFORMAT, *bad_row set
 * to the first such row when not NULL). On error out is unspecified. */
int lrsa_rdm_normalize_rows(float *out, const float *X, int64_t n, int64_t d, int center,
                            int64_t *bad_row, const lrsa_ctx *ctx, lrsa_err *err);

/* rdm (n x n) = the RDM of the n rows of X (n x d), as described at the top. flags: a set of
 * lrsa_rdm_flags. On error rdm is unspecified and *bad_row (if not NULL) names the offending row
 * or is -1. */
int lrsa_rdm_compute(float *rdm, const float *X, int64_t n, int64_t d, lrsa_rdm_metric metric,
                     int flags, int64_t *bad_row, const lrsa_ctx *ctx, lrsa_err *err);

/* The reference: the same contract, pair by pair in double (O(n^2 d), no BLAS). For tests and
 * for validating the fast path in benches. */
int lrsa_rdm_compute_naive(float *rdm, const float *X, int64_t n, int64_t d, lrsa_rdm_metric metric,
                           int flags, int64_t *bad_row, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
