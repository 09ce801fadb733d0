/*
 * RDMs: distances between the rows of an N x D float32 matrix (contract in latentrsa/rdm.h).
 *
 * Glossary: N = rows (stimuli), D = columns (features), T = tile edge.
 *
 * The fast path:
 *   1. prepare the rows (one O(N D) pass, double arithmetic, float32 result U):
 *      correlation: centre each row and scale it to unit norm; cosine: scale only;
 *      (sq)euclidean: subtract the column means, keep the row norms |c_i|^2 in double;
 *   2. the Gram matrix U U^T by tiles: the upper-triangle tiles (I <= J) are shared among
 *      OpenMP threads, each computing its T x T tile with single-threaded SGEMM (SSYRK on the
 *      diagonal) into a small buffer that stays in cache, turning it into distances there and
 *      storing it at (I, J) and, transposed, at (J, I). The output is written once, the lower
 *      triangle is never recomputed, and no separate symmetrisation pass reads the N^2 matrix.
 * lrsa_rdm_compute_naive is the pair-by-pair double reference the fast path is tested against.
 */
#include "latentrsa/rdm.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* Tile edge (rows and columns of one SGEMM). Each tile's SGEMM packs its two 384 x D panels, so
 * packing costs about 2/384 of the product (13% of the time with 256, 10% with 512 in perf
 * profiles of the 5000 x 715 bench); 384 keeps the tile buffer (600 KB) near the L2 and leaves
 * enough tiles (91 for N = 5000) to balance 16 threads. The result depends on the tile size (the
 * diagonal tiles go through SSYRK), never on the thread count: keep it a constant. */
#ifndef RDM_TILE
#define RDM_TILE 384
#endif
#define RDM_TILE_LD (RDM_TILE + 16) /* padded: the transposed reads avoid cache-set conflicts */

/* Squared distances below this fraction of |c_i|^2 + |c_j|^2 are recomputed in double. */
#define RDM_REFINE_FRACTION (1.0 / 64.0)

static const char *const metric_names[] = { "correlation", "cosine", "euclidean", "sqeuclidean" };

int lrsa_rdm_metric_parse(const char *text, lrsa_rdm_metric *out, lrsa_err *err)
{
    for (int m = 0; m < 4; m++)
        if (text && strcmp(text, metric_names[m]) == 0) {
            *out = (lrsa_rdm_metric)m;
            return LRSA_OK;
        }
    return LRSA_FAIL(err, LRSA_EMISUSE,
                     "unknown metric '%s' (choose correlation, cosine, euclidean or sqeuclidean)",
                     text ? text : "(null)");
}

const char *lrsa_rdm_metric_name(lrsa_rdm_metric metric)
{
    return (int)metric >= 0 && (int)metric < 4 ? metric_names[metric] : "unknown";
}

/* ===== checks and messages ===================================================================== */

static int check_args(const void *out, const float *X, int64_t n, int64_t d, int metric, int flags,
                      lrsa_err *err)
{
    if (flags & ~LRSA_RDM_CLIP_NEGATIVE)
        return LRSA_FAIL(err, LRSA_EMISUSE, "rdm: unknown flags 0x%x", (unsigned)flags);
    if (!out || !X)
        return LRSA_FAIL(err, LRSA_EMISUSE, "rdm: NULL buffer");
    if (metric < 0 || metric > 3)
        return LRSA_FAIL(err, LRSA_EMISUSE, "rdm: unknown metric %d", metric);
    if (n < 2)
        return LRSA_FAIL(err, LRSA_ESHAPE, "an rdm needs at least 2 rows, got %lld", (long long)n);
    if (d < 1)
        return LRSA_FAIL(err, LRSA_ESHAPE, "an rdm needs at least 1 column, got %lld", (long long)d);
    if ((uint64_t)n > (uint64_t)INT32_MAX || (uint64_t)d > (uint64_t)INT32_MAX)
        return LRSA_FAIL(err, LRSA_ESHAPE, "matrix of %lld x %lld is too large for BLAS",
                         (long long)n, (long long)d);
    return LRSA_OK;
}

/* The error for a row holding a non-finite value: names the row, the first such column and it. */
static int fail_nonfinite(const float *X, int64_t d, int64_t row, int64_t *bad_row, lrsa_err *err)
{
    int64_t k = 0;
    while (k < d - 1 && isfinite(X[row * d + k]))
        k++;
    if (bad_row)
        *bad_row = row;
    float v = X[row * d + k];
    return LRSA_FAIL(err, LRSA_EFORMAT, "row %lld column %lld is %s: an rdm needs finite values",
                     (long long)row, (long long)k, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
}

static int fail_degenerate(int center, int64_t row, int64_t *bad_row, lrsa_err *err)
{
    if (bad_row)
        *bad_row = row;
    if (center)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "row %lld is constant (zero variance): its correlation distance is undefined",
                         (long long)row);
    return LRSA_FAIL(err, LRSA_EFORMAT,
                     "row %lld is all zeros: its cosine distance is undefined", (long long)row);
}

/* ===== step 1: preparing the rows ============================================================== */

/* sum_k (x[k] - shift)^p in double, p = 1 or 2, with four partial sums (independent chains
 * instead of one long dependency; a fixed order, so the result is the same on every run). */
static double sum_f64(const float *x, int64_t d, double shift, int square)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    if (square) {
        for (; k + 4 <= d; k += 4) {
            double c0 = x[k] - shift, c1 = x[k + 1] - shift, c2 = x[k + 2] - shift, c3 = x[k + 3] - shift;
            s0 += c0 * c0;
            s1 += c1 * c1;
            s2 += c2 * c2;
            s3 += c3 * c3;
        }
        for (; k < d; k++) {
            double c = x[k] - shift;
            s0 += c * c;
        }
    } else {
        for (; k + 4 <= d; k += 4) {
            s0 += x[k];
            s1 += x[k + 1];
            s2 += x[k + 2];
            s3 += x[k + 3];
        }
        for (; k < d; k++)
            s0 += x[k];
    }
    return (s0 + s1) + (s2 + s3);
}

int lrsa_rdm_normalize_rows(float *out, const float *X, int64_t n, int64_t d, int center,
                            int64_t *bad_row, const lrsa_ctx *ctx, lrsa_err *err)
{
    if (bad_row)
        *bad_row = -1;
    if (!out || !X || n < 0 || d < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "normalize rows: bad arguments");
    int64_t first_nonfinite = n, first_zero = n;
#pragma omp parallel for schedule(static) num_threads(lrsa_threads(ctx)) \
    reduction(min : first_nonfinite, first_zero)
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        float *u = out + i * d;
        double sum = sum_f64(x, d, 0.0, 0);
        /* Sums of float32 values in double cannot overflow: a non-finite sum means a NaN/Inf. */
        if (!isfinite(sum)) {
            if (i < first_nonfinite)
                first_nonfinite = i;
            continue;
        }
        double mean = center ? sum / (double)d : 0.0, ss = sum_f64(x, d, mean, 1);
        if (!(ss > 0)) {
            if (i < first_zero)
                first_zero = i;
            continue;
        }
        double inv = 1.0 / sqrt(ss);
        for (int64_t k = 0; k < d; k++)
            u[k] = (float)(((double)x[k] - mean) * inv);
    }
    if (first_nonfinite < n) /* a NaN/Inf anywhere comes first, as in the reference */
        return fail_nonfinite(X, d, first_nonfinite, bad_row, err);
    if (first_zero < n)
        return fail_degenerate(center, first_zero, bad_row, err);
    return LRSA_OK;
}

/* Column-centre X into C (float32) and store |c_i|^2 (of the stored float32 values) in double. */
static int center_columns(float *C, double *norm2, const float *X, int64_t n, int64_t d,
                          int64_t *bad_row, const lrsa_ctx *ctx, lrsa_err *err)
{
    double *mu = lrsa_calloc((size_t)d, sizeof *mu, "column means", err);
    if (!mu)
        return LRSA_ENOMEM;
    int rc = LRSA_OK;
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        double s = 0;
        for (int64_t k = 0; k < d; k++) {
            mu[k] += x[k];
            s += x[k];
        }
        if (!isfinite(s)) {
            rc = fail_nonfinite(X, d, i, bad_row, err);
            goto done;
        }
    }
    for (int64_t k = 0; k < d; k++)
        mu[k] /= (double)n;
#pragma omp parallel for schedule(static) num_threads(lrsa_threads(ctx))
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        float *c = C + i * d;
        double s = 0;
        for (int64_t k = 0; k < d; k++) {
            c[k] = (float)((double)x[k] - mu[k]);
            s += (double)c[k] * (double)c[k];
        }
        norm2[i] = s;
    }
done:
    free(mu);
    return rc;
}

/* ===== step 2: the Gram matrix by tiles, distances in the tile's epilogue ====================== */

typedef struct rdm_job {
    float *rdm;
    const float *X;         /* the input (for the recomputed euclidean pairs) */
    const float *U;         /* prepared rows, n x d */
    const double *norm2;    /* (sq)euclidean: |c_i|^2 */
    int64_t n, d;
    int metric;
} rdm_job;

/* |x_i - x_j|^2 in double, straight from the input rows. */
static double sqdist_exact(const float *X, int64_t d, int64_t i, int64_t j)
{
    const float *a = X + i * d, *b = X + j * d;
    double s = 0;
    for (int64_t k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

static float one_minus_clamped(float r)
{
    r = r > 1.0f ? 1.0f : r;
    r = r < -1.0f ? -1.0f : r;
    return 1.0f - r;
}

/* (Sq)euclidean distances from the Gram tile G (rows i0.., columns j0..; on a diagonal tile only
 * jj > ii is used), in place. */
static void tile_euclidean(const rdm_job *job, float *G, int64_t i0, int64_t ni, int64_t j0, int64_t nj)
{
    int diag = i0 == j0;
    for (int64_t ii = 0; ii < ni; ii++) {
        float *g = G + ii * RDM_TILE_LD;
        int64_t i = i0 + ii;
        double ni2 = job->norm2[i];
        for (int64_t jj = diag ? ii + 1 : 0; jj < nj; jj++) {
            int64_t j = j0 + jj;
            double both = ni2 + job->norm2[j];
            double s = both - 2.0 * (double)g[jj];
            if (s <= RDM_REFINE_FRACTION * both)
                s = sqdist_exact(job->X, job->d, i, j);
            if (s < 0)
                s = 0;
            g[jj] = (float)(job->metric == LRSA_RDM_EUCLIDEAN ? sqrt(s) : s);
        }
    }
}

/* Store an off-diagonal tile at (i0, j0) and, transposed, at (j0, i0), applying 1 - clamp(g)
 * on the way when `corr` is set (otherwise G already holds the distances). One pass over G;
 * on x86 the transposition goes 4 x 4 at a time through SSE registers. */
static void store_tile(float *rdm, int64_t n, const float *G, int64_t i0, int64_t ni, int64_t j0,
                       int64_t nj, int corr)
{
    int64_t ni4 = 0, nj4 = 0;
#if defined(__SSE2__)
    ni4 = ni & ~(int64_t)3;
    nj4 = nj & ~(int64_t)3;
    const __m128 one = _mm_set1_ps(1.0f), minus_one = _mm_set1_ps(-1.0f);
    for (int64_t ii = 0; ii < ni4; ii += 4) {
        for (int64_t jj = 0; jj < nj4; jj += 4) {
            __m128 r0 = _mm_loadu_ps(G + (ii + 0) * RDM_TILE_LD + jj);
            __m128 r1 = _mm_loadu_ps(G + (ii + 1) * RDM_TILE_LD + jj);
            __m128 r2 = _mm_loadu_ps(G + (ii + 2) * RDM_TILE_LD + jj);
            __m128 r3 = _mm_loadu_ps(G + (ii + 3) * RDM_TILE_LD + jj);
            if (corr) {
                /* min/max with the constant second: a NaN cannot occur (finite inputs) */
                r0 = _mm_sub_ps(one, _mm_max_ps(_mm_min_ps(r0, one), minus_one));
                r1 = _mm_sub_ps(one, _mm_max_ps(_mm_min_ps(r1, one), minus_one));
                r2 = _mm_sub_ps(one, _mm_max_ps(_mm_min_ps(r2, one), minus_one));
                r3 = _mm_sub_ps(one, _mm_max_ps(_mm_min_ps(r3, one), minus_one));
            }
            float *up = rdm + (i0 + ii) * n + j0 + jj;
            _mm_storeu_ps(up, r0);
            _mm_storeu_ps(up + n, r1);
            _mm_storeu_ps(up + 2 * n, r2);
            _mm_storeu_ps(up + 3 * n, r3);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *lo = rdm + (j0 + jj) * n + i0 + ii;
            _mm_storeu_ps(lo, r0);
            _mm_storeu_ps(lo + n, r1);
            _mm_storeu_ps(lo + 2 * n, r2);
            _mm_storeu_ps(lo + 3 * n, r3);
        }
    }
#endif
    /* the rest: the last columns of every row, then the last rows */
    for (int64_t ii = 0; ii < ni; ii++) {
        for (int64_t jj = ii < ni4 ? nj4 : 0; jj < nj; jj++) {
            float v = G[ii * RDM_TILE_LD + jj];
            if (corr)
                v = one_minus_clamped(v);
            rdm[(i0 + ii) * n + j0 + jj] = v;
            rdm[(j0 + jj) * n + i0 + ii] = v;
        }
    }
}

/* Store a diagonal tile: the upper part (jj > ii) of G, mirrored, and a zero diagonal. */
static void store_diagonal_tile(float *rdm, int64_t n, float *G, int64_t i0, int64_t ni, int corr)
{
    for (int64_t ii = 0; ii < ni; ii++) {
        float *g = G + ii * RDM_TILE_LD;
        if (corr)
            for (int64_t jj = ii + 1; jj < ni; jj++)
                g[jj] = one_minus_clamped(g[jj]);
    }
    for (int64_t ii = 0; ii < ni; ii++) {
        float *row = rdm + (i0 + ii) * n + i0;
        for (int64_t jj = 0; jj < ii; jj++)
            row[jj] = G[jj * RDM_TILE_LD + ii];
        row[ii] = 0.0f;
        memcpy(row + ii + 1, G + ii * RDM_TILE_LD + ii + 1, sizeof(float) * (size_t)(ni - ii - 1));
    }
}

/* One tile: Gram, distances, store at (I, J) and transposed at (J, I). */
static void do_tile(const rdm_job *job, float *G, int64_t i0, int64_t j0)
{
    int64_t n = job->n, d = job->d;
    int64_t ni = n - i0 < RDM_TILE ? n - i0 : RDM_TILE;
    int64_t nj = n - j0 < RDM_TILE ? n - j0 : RDM_TILE;
    int corr = job->metric == LRSA_RDM_CORRELATION || job->metric == LRSA_RDM_COSINE;
    if (i0 == j0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)ni, (int)d, 1.0f,
                    job->U + i0 * d, (int)d, 0.0f, G, RDM_TILE_LD);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ni, (int)nj, (int)d, 1.0f,
                    job->U + i0 * d, (int)d, job->U + j0 * d, (int)d, 0.0f, G, RDM_TILE_LD);
    if (!corr)
        tile_euclidean(job, G, i0, ni, j0, nj);
    /* clipping: every value stored below is already >= 0 (see rdm.h), so the flag has no work */
    if (i0 == j0)
        store_diagonal_tile(job->rdm, n, G, i0, ni, corr);
    else
        store_tile(job->rdm, n, G, i0, ni, j0, nj, corr);
}

static int gram_tiles(const rdm_job *job, const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t nt = (job->n + RDM_TILE - 1) / RDM_TILE, ntiles = nt * (nt + 1) / 2;
    int threads = lrsa_threads(ctx);
    if (threads < 1)
        threads = 1;
    if (threads > ntiles)
        threads = (int)ntiles;
    size_t per = (size_t)RDM_TILE * RDM_TILE_LD;
    float *bufs = lrsa_malloc(sizeof(float) * per * (size_t)threads, "rdm tiles", err);
    if (!bufs)
        return LRSA_ENOMEM;
    /* Tile t of the upper triangle, row-major: block (bi, bj) with bi <= bj. */
#pragma omp parallel num_threads(threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        /* BLAS runs single-threaded inside: this sets only this implicit task's nthreads ICV
         * (OpenBLAS's OpenMP build asks omp_get_max_threads()), which matters when the team has
         * one thread and omp_in_parallel() is false. So each tile is computed the same way
         * whatever the thread count, and the result does not depend on it. */
        omp_set_num_threads(1);
#endif
        float *G = bufs + per * (size_t)tid;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntiles; t++) {
            int64_t bi = 0, rest = t;
            while (rest >= nt - bi) {
                rest -= nt - bi;
                bi++;
            }
            do_tile(job, G, bi * RDM_TILE, (bi + rest) * RDM_TILE);
        }
    }
    free(bufs);
    return LRSA_OK;
}

int lrsa_rdm_compute(float *rdm, const float *X, int64_t n, int64_t d, lrsa_rdm_metric metric,
                     int flags, int64_t *bad_row, const lrsa_ctx *ctx, lrsa_err *err)
{
    if (bad_row)
        *bad_row = -1;
    int rc = check_args(rdm, X, n, d, (int)metric, flags, err);
    if (rc)
        return rc;
    float *U = NULL;
    double *norm2 = NULL;
    size_t nd;
    if (lrsa_mul_size((size_t)n, (size_t)d, &nd) || lrsa_mul_size(nd, sizeof(float), &nd)) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "rdm: %lld x %lld is too large", (long long)n, (long long)d);
        goto done;
    }
    if (!(U = lrsa_malloc(nd, "rdm rows", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (metric == LRSA_RDM_CORRELATION || metric == LRSA_RDM_COSINE) {
        rc = lrsa_rdm_normalize_rows(U, X, n, d, metric == LRSA_RDM_CORRELATION, bad_row, ctx, err);
    } else {
        if (!(norm2 = lrsa_malloc(sizeof *norm2 * (size_t)n, "rdm norms", err)))
            rc = LRSA_ENOMEM;
        else
            rc = center_columns(U, norm2, X, n, d, bad_row, ctx, err);
    }
    if (rc)
        goto done;
    rdm_job job = { rdm, X, U, norm2, n, d, (int)metric };
    rc = gram_tiles(&job, ctx, err);
done:
    free(U);
    free(norm2);
    return rc;
}

/* ===== the reference ========================================================================== */

int lrsa_rdm_compute_naive(float *rdm, const float *X, int64_t n, int64_t d, lrsa_rdm_metric metric,
                           int flags, int64_t *bad_row, lrsa_err *err)
{
    if (bad_row)
        *bad_row = -1;
    int rc = check_args(rdm, X, n, d, (int)metric, flags, err);
    if (rc)
        return rc;
    double *mean = lrsa_calloc((size_t)n, sizeof *mean, "rdm means", err);
    double *norm = lrsa_calloc((size_t)n, sizeof *norm, "rdm norms", err);
    if (!mean || !norm) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int center = metric == LRSA_RDM_CORRELATION;
    for (int64_t i = 0; i < n; i++) {
        double s = 0, ss = 0;
        for (int64_t k = 0; k < d; k++)
            s += X[i * d + k];
        if (!isfinite(s)) {
            rc = fail_nonfinite(X, d, i, bad_row, err);
            goto done;
        }
        mean[i] = center ? s / (double)d : 0.0;
        for (int64_t k = 0; k < d; k++) {
            double c = X[i * d + k] - mean[i];
            ss += c * c;
        }
        norm[i] = sqrt(ss);
    }
    if (metric == LRSA_RDM_CORRELATION || metric == LRSA_RDM_COSINE)
        for (int64_t i = 0; i < n; i++)
            if (!(norm[i] > 0)) {
                rc = fail_degenerate(center, i, bad_row, err);
                goto done;
            }
    for (int64_t i = 0; i < n; i++) {
        rdm[i * n + i] = 0.0f;
        for (int64_t j = i + 1; j < n; j++) {
            double v;
            if (metric == LRSA_RDM_CORRELATION || metric == LRSA_RDM_COSINE) {
                double dot = 0;
                for (int64_t k = 0; k < d; k++)
                    dot += (X[i * d + k] - mean[i]) * (X[j * d + k] - mean[j]);
                double r = dot / (norm[i] * norm[j]);
                v = 1.0 - (r > 1 ? 1 : r < -1 ? -1 : r);
            } else {
                v = sqdist_exact(X, d, i, j);
                if (metric == LRSA_RDM_EUCLIDEAN)
                    v = sqrt(v);
            }
            if ((flags & LRSA_RDM_CLIP_NEGATIVE) && v < 0)
                v = 0;
            rdm[i * n + j] = rdm[j * n + i] = (float)v;
        }
    }
done:
    free(mean);
    free(norm);
    return rc;
}
