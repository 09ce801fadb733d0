/* Linear CKA, biased and debiased (include/latentrsa/compare.h; specs/align.md 2.2).
 *
 * X is n x dx, Y is n x dy (float32, row-major, rows = the same stimuli). After centring the
 * columns (means in double), with K = X X^T and L = Y Y^T, everything is built from
 *   <K, L> = sum_ij K_ij L_ij = |Y^T X|_F^2,  <K, K>,  <L, L>,  r_x = diag K,  r_y = diag L.
 * Biased:   CKA = <K,L> / sqrt(<K,K> <L,L>).
 * Debiased: n(n-3) HSIC_u(K, L) = tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1 with
 *   K~ = K minus its diagonal. Centred columns give K 1 = 0, so 1'K~1 = -sum r_x, K~1 = -r_x and
 *   tr(K~L~) = <K,L> - r_x.r_y:  n(n-3) HSIC_u = <K,L> - n/(n-2) r_x.r_y + (sum r_x)(sum r_y)/((n-1)(n-2)),
 *   google-research's feature-space form (and tools/gen_compare_fixtures.py checks the Gram form).
 *
 * Two ways to get the inner products, whichever is cheaper:
 *   Gram (n < dx + dy):    K and L by dsyrk over blocks of columns, O(n^2 (dx + dy)), 2 n^2 doubles;
 *   feature (otherwise):   X^T Y, X^T X, Y^T Y by dgemm/dsyrk over blocks of rows,
 *                          O(n dx dy + n (dx^2 + dy^2)/2), dx dy + dx^2 + dy^2 doubles.
 * Blocks are converted to centred doubles (at most ~32 MiB each), so float32 inputs of any width
 * never get a full double copy. */
#include "latentrsa/compare.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK_DOUBLES ((int64_t)4 << 20)    /* 32 MiB of doubles per converted block */

/* Column means of A (n x d) in double; a constant column gets its value exactly, so that it
 * centres to exact zeros. *nonconst counts the columns that vary. Fails on a non-finite value. */
static int column_means(const float *A, int64_t n, int64_t d, const char *name, double *mean,
                        int64_t *nonconst, lrsa_err *err)
{
    unsigned char *varies = lrsa_calloc((size_t)d, 1, "cka column flags", err);
    if (!varies)
        return LRSA_ENOMEM;
    memset(mean, 0, (size_t)d * sizeof *mean);
    /* Row by row keeps the reads sequential; each column sum is in double. */
    for (int64_t i = 0; i < n; i++) {
        const float *row = A + i * d;
        for (int64_t j = 0; j < d; j++) {
            mean[j] += (double)row[j];
            varies[j] |= row[j] != A[j];
        }
    }
    int bad = 0;
    *nonconst = 0;
    for (int64_t j = 0; j < d; j++) {
        if (!isfinite(mean[j]))
            bad = 1;
        mean[j] = varies[j] ? mean[j] / (double)n : (double)A[j];
        *nonconst += varies[j];
    }
    free(varies);
    if (bad) {
        for (int64_t i = 0; i < n * d; i++)
            if (!isfinite(A[i]))
                return LRSA_FAIL(err, LRSA_EFORMAT, "non-finite value in %s at row %lld, column "
                                 "%lld", name, (long long)(i / d), (long long)(i % d));
    }
    return LRSA_OK;
}

/* dst (rows x cols, row-major) = A[r0.., c0..] - mean[c0..] in double. */
static void centred_block(const float *A, int64_t d, const double *mean, int64_t r0, int64_t rows,
                          int64_t c0, int64_t cols, double *dst, int nthreads)
{
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const float *src = A + (r0 + i) * d + c0;
        double *o = dst + i * cols;
        for (int64_t j = 0; j < cols; j++)
            o[j] = (double)src[j] - mean[c0 + j];
    }
    (void)nthreads;
}

/* Frobenius inner product of two symmetric matrices stored in their upper triangles. */
static double sym_dot(const double *A, const double *B, int64_t n)
{
    double diag = 0.0, off = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double *a = A + i * n, *b = B + i * n;
        diag += a[i] * b[i];
        double s = 0.0;
        for (int64_t j = i + 1; j < n; j++)
            s += a[j] * b[j];
        off += s;
    }
    return diag + 2.0 * off;
}

/* K = Xc Xc^T (upper triangle) by column blocks. */
static int gram(const float *A, int64_t n, int64_t d, const double *mean, double *K, int nthreads,
                lrsa_err *err)
{
    int64_t bw = BLOCK_DOUBLES / n;
    if (bw < 1)
        bw = 1;
    if (bw > d)
        bw = d;
    double *blk = lrsa_malloc((size_t)(n * bw) * sizeof *blk, "cka block", err);
    if (!blk)
        return LRSA_ENOMEM;
    for (int64_t c0 = 0; c0 < d; c0 += bw) {
        int64_t cols = c0 + bw <= d ? bw : d - c0;
        centred_block(A, d, mean, 0, n, c0, cols, blk, nthreads);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)cols, 1.0, blk,
                    (int)cols, c0 == 0 ? 0.0 : 1.0, K, (int)n);
    }
    free(blk);
    return LRSA_OK;
}

typedef struct cka_sums {
    double kl, kk, ll;        /* <K,L>, <K,K>, <L,L> */
    double rxry, rxrx, ryry;  /* r_x.r_y, r_x.r_x, r_y.r_y */
    double sx, sy;            /* sum r_x = |X|_F^2, sum r_y */
} cka_sums;

static void finish_rows(const double *rx, const double *ry, int64_t n, cka_sums *s)
{
    s->rxry = s->rxrx = s->ryry = s->sx = s->sy = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s->rxry += rx[i] * ry[i];
        s->rxrx += rx[i] * rx[i];
        s->ryry += ry[i] * ry[i];
        s->sx += rx[i];
        s->sy += ry[i];
    }
}

static int sums_gram(const float *X, int64_t dx, const double *mx, const float *Y, int64_t dy,
                     const double *my, int64_t n, cka_sums *s, int nthreads, lrsa_err *err)
{
    int rc = LRSA_OK;
    size_t nn;
    double *K = NULL, *L = NULL, *rx = NULL, *ry = NULL;
    if (lrsa_mul_size((size_t)n, (size_t)n, &nn) || nn > SIZE_MAX / sizeof(double))
        return LRSA_FAIL(err, LRSA_ENOMEM, "cka: %lld x %lld Gram matrix is too large",
                         (long long)n, (long long)n);
    K = lrsa_malloc(nn * sizeof *K, "cka Gram matrix", err);
    L = K ? lrsa_malloc(nn * sizeof *L, "cka Gram matrix", err) : NULL;
    rx = L ? lrsa_malloc((size_t)n * sizeof *rx, "cka row norms", err) : NULL;
    ry = rx ? lrsa_malloc((size_t)n * sizeof *ry, "cka row norms", err) : NULL;
    if (!ry) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = gram(X, n, dx, mx, K, nthreads, err)) || (rc = gram(Y, n, dy, my, L, nthreads, err)))
        goto done;
    for (int64_t i = 0; i < n; i++) {
        rx[i] = K[i * n + i];
        ry[i] = L[i * n + i];
    }
    s->kl = sym_dot(K, L, n);
    s->kk = sym_dot(K, K, n);
    s->ll = sym_dot(L, L, n);
    finish_rows(rx, ry, n, s);
done:
    free(K);
    free(L);
    free(rx);
    free(ry);
    return rc;
}

static double full_dot(const double *A, int64_t len)
{
    double s = 0.0;
    for (int64_t i = 0; i < len; i++)
        s += A[i] * A[i];
    return s;
}

static int sums_feature(const float *X, int64_t dx, const double *mx, const float *Y, int64_t dy,
                        const double *my, int64_t n, cka_sums *s, int nthreads, lrsa_err *err)
{
    int rc = LRSA_OK;
    double *cxy = NULL, *cxx = NULL, *cyy = NULL, *bx = NULL, *by = NULL, *rx = NULL, *ry = NULL;
    int64_t bh = BLOCK_DOUBLES / (dx > dy ? dx : dy);
    if (bh < 1)
        bh = 1;
    if (bh > n)
        bh = n;
    cxy = lrsa_calloc((size_t)(dx * dy), sizeof *cxy, "cka cross products", err);
    cxx = cxy ? lrsa_calloc((size_t)(dx * dx), sizeof *cxx, "cka cross products", err) : NULL;
    cyy = cxx ? lrsa_calloc((size_t)(dy * dy), sizeof *cyy, "cka cross products", err) : NULL;
    bx = cyy ? lrsa_malloc((size_t)(bh * dx) * sizeof *bx, "cka block", err) : NULL;
    by = bx ? lrsa_malloc((size_t)(bh * dy) * sizeof *by, "cka block", err) : NULL;
    rx = by ? lrsa_malloc((size_t)n * sizeof *rx, "cka row norms", err) : NULL;
    ry = rx ? lrsa_malloc((size_t)n * sizeof *ry, "cka row norms", err) : NULL;
    if (!ry) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t r0 = 0; r0 < n; r0 += bh) {
        int64_t rows = r0 + bh <= n ? bh : n - r0;
        centred_block(X, dx, mx, r0, rows, 0, dx, bx, nthreads);
        centred_block(Y, dy, my, r0, rows, 0, dy, by, nthreads);
        for (int64_t i = 0; i < rows; i++) {
            double a = 0.0, b = 0.0;
            for (int64_t j = 0; j < dx; j++)
                a += bx[i * dx + j] * bx[i * dx + j];
            for (int64_t j = 0; j < dy; j++)
                b += by[i * dy + j] * by[i * dy + j];
            rx[r0 + i] = a;
            ry[r0 + i] = b;
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dx, (int)dy, (int)rows, 1.0,
                    bx, (int)dx, by, (int)dy, 1.0, cxy, (int)dy);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dx, (int)rows, 1.0, bx, (int)dx,
                    1.0, cxx, (int)dx);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dy, (int)rows, 1.0, by, (int)dy,
                    1.0, cyy, (int)dy);
    }
    s->kl = full_dot(cxy, dx * dy);
    s->kk = sym_dot(cxx, cxx, dx);
    s->ll = sym_dot(cyy, cyy, dy);
    finish_rows(rx, ry, n, s);
done:
    free(cxy);
    free(cxx);
    free(cyy);
    free(bx);
    free(by);
    free(rx);
    free(ry);
    return rc;
}

/* n(n-3) HSIC_u from the sums (see the top of the file). */
static double debiased(double kl, double rr, double sa, double sb, int64_t n)
{
    double nd = (double)n;
    return kl - nd / (nd - 2.0) * rr + sa * sb / ((nd - 1.0) * (nd - 2.0));
}

int lrsa_cka_linear(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy,
                    int debiased_flag, double *out, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc;
    double *mx = NULL, *my = NULL;
    cka_sums s;
    if (!X || !Y || !out)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_cka_linear: NULL argument");
    if (dx < 1 || dy < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_cka_linear: %lld x %lld and %lld x %lld "
                         "matrices", (long long)n, (long long)dx, (long long)n, (long long)dy);
    if (n < (debiased_flag ? 4 : 2))
        return LRSA_FAIL(err, LRSA_EEMPTY, "%s CKA needs at least %d stimuli, got %lld",
                         debiased_flag ? "debiased" : "linear", debiased_flag ? 4 : 2,
                         (long long)n);
    if (n > INT32_MAX || dx > INT32_MAX || dy > INT32_MAX)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "cka: dimensions above 2^31 - 1 (BLAS int)");
    int nthreads = lrsa_threads(ctx);
    mx = lrsa_malloc((size_t)dx * sizeof *mx, "cka means", err);
    my = mx ? lrsa_malloc((size_t)dy * sizeof *my, "cka means", err) : NULL;
    if (!my) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int64_t vx, vy;
    if ((rc = column_means(X, n, dx, "X", mx, &vx, err)) ||
        (rc = column_means(Y, n, dy, "Y", my, &vy, err)))
        goto done;
    if (vx == 0 || vy == 0) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "%s has no variance (every column is constant)",
                       vx == 0 ? "X" : "Y");
        goto done;
    }
    if (n < dx + dy)
        rc = sums_gram(X, dx, mx, Y, dy, my, n, &s, nthreads, err);
    else
        rc = sums_feature(X, dx, mx, Y, dy, my, n, &s, nthreads, err);
    if (rc)
        goto done;
    if (!(s.kk > 0.0) || !(s.ll > 0.0)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "%s has no variance", s.kk > 0.0 ? "Y" : "X");
        goto done;
    }
    if (!debiased_flag) {
        *out = s.kl / (sqrt(s.kk) * sqrt(s.ll));
    } else {
        double hkl = debiased(s.kl, s.rxry, s.sx, s.sy, n);
        double hkk = debiased(s.kk, s.rxrx, s.sx, s.sx, n);
        double hll = debiased(s.ll, s.ryry, s.sy, s.sy, n);
        if (!(hkk > 0.0) || !(hll > 0.0)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "debiased CKA is undefined: the debiased "
                           "self-similarity of %s is not positive (%.3g)",
                           hkk > 0.0 ? "Y" : "X", hkk > 0.0 ? hll : hkk);
            goto done;
        }
        *out = hkl / (sqrt(hkk) * sqrt(hll));
    }
    lrsa_debug(ctx, "cka: n %lld, dx %lld, dy %lld, %s form", (long long)n, (long long)dx,
               (long long)dy, n < dx + dy ? "Gram" : "feature");
done:
    free(mx);
    free(my);
    return rc;
}
