/* Column statistics of an n x d float32 row-major matrix: finiteness, z-scoring (StandardScaler,
 * ddof 0) and the total variance. Columns are processed in chunks, one chunk per thread, each
 * walking all rows: disjoint writes, sums in double. */
#include "latentrsa/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COL_CHUNK 512

int lrsa_check_finite(const float *X, int64_t n, int64_t d, lrsa_err *err)
{
    int64_t total = n * d;
    for (int64_t i = 0; i < total; i++) {
        if (!isfinite(X[i]))
            return LRSA_FAIL(err, LRSA_EFORMAT, "row %lld, column %lld is %s", (long long)(i / d),
                             (long long)(i % d), isnan(X[i]) ? "nan" : X[i] > 0 ? "inf" : "-inf");
    }
    return LRSA_OK;
}

/* mean and population variance of columns [c0, c1) into mean[c], var[c] (two passes). */
static void column_moments(const float *X, int64_t n, int64_t d, int64_t c0, int64_t c1,
                           double *mean, double *var)
{
    int64_t w = c1 - c0;
    double *m = mean + c0, *v = var + c0;
    memset(m, 0, sizeof *m * (size_t)w);
    memset(v, 0, sizeof *v * (size_t)w);
    for (int64_t i = 0; i < n; i++) {
        const float *row = X + i * d + c0;
        for (int64_t c = 0; c < w; c++)
            m[c] += row[c];
    }
    for (int64_t c = 0; c < w; c++)
        m[c] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        const float *row = X + i * d + c0;
        for (int64_t c = 0; c < w; c++) {
            double t = row[c] - m[c];
            v[c] += t * t;
        }
    }
    for (int64_t c = 0; c < w; c++)
        v[c] /= (double)n;
}

int lrsa_standardize(float *X, int64_t n, int64_t d, double *mean_out, double *std_out,
                     int64_t *nconst, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    double *mean = NULL, *var = NULL;
    if (n < 1 || d < 1) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "cannot z-score an empty %lld x %lld matrix", (long long)n,
                       (long long)d);
        goto done;
    }
    mean = lrsa_malloc(sizeof *mean * (size_t)d, "column means", err);
    var = lrsa_malloc(sizeof *var * (size_t)d, "column variances", err);
    if (!mean || !var) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int64_t nchunks = (d + COL_CHUNK - 1) / COL_CHUNK, ncon = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(lrsa_threads(ctx)) reduction(+ : ncon)
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t c0 = ch * COL_CHUNK, c1 = c0 + COL_CHUNK < d ? c0 + COL_CHUNK : d;
        column_moments(X, n, d, c0, c1, mean, var);
        /* scale[c] = 1 / std, or 0 for a constant column (which then becomes exactly 0) */
        double scale[COL_CHUNK];
        for (int64_t c = c0; c < c1; c++) {
            if (var[c] > 0) {
                scale[c - c0] = 1.0 / sqrt(var[c]);
            } else {
                scale[c - c0] = 0;
                ncon++;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            float *row = X + i * d;
            for (int64_t c = c0; c < c1; c++)
                row[c] = (float)((row[c] - mean[c]) * scale[c - c0]);
        }
    }
    if (mean_out)
        memcpy(mean_out, mean, sizeof *mean * (size_t)d);
    if (std_out)
        for (int64_t c = 0; c < d; c++)
            std_out[c] = sqrt(var[c]);
    if (nconst)
        *nconst = ncon;
done:
    free(mean);
    free(var);
    return rc;
}

double lrsa_total_variance(const float *X, int64_t n, int64_t d, const lrsa_ctx *ctx)
{
    if (n < 1 || d < 1)
        return 0;
    int64_t nchunks = (d + COL_CHUNK - 1) / COL_CHUNK;
    double total = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(lrsa_threads(ctx)) reduction(+ : total)
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t c0 = ch * COL_CHUNK, c1 = c0 + COL_CHUNK < d ? c0 + COL_CHUNK : d;
        double mean[COL_CHUNK], var[COL_CHUNK];
        /* column_moments indexes by absolute column: pass shifted pointers */
        column_moments(X + c0, n, d, 0, c1 - c0, mean, var);
        for (int64_t c = 0; c < c1 - c0; c++)
            total += var[c];
    }
    return total;
}
