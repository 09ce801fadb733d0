/* Truncated SVD of an n x d float32 matrix: exact (Gram matrix in double + dsyevr), topk (float
 * Gram matrix + randomized subspace iteration, a fixed number of steps, then Rayleigh-Ritz),
 * lanczos (Gram matrix + block Lanczos to a residual tolerance) and randomized (Halko et al. as
 * scikit-learn's randomized_svd). See include/latentrsa/reduce.h for the contract.
 *
 * Glossary: X n x d row-major; m = min(n, d); "rows" is 1 when n <= d (G = X·Xᵀ, eigenvectors U)
 * and 0 otherwise (G = Xᵀ·X, eigenvectors V). kk: components computed; b: block width (kk + p).
 * Inside the iterative solvers blocks are column-major m x b (LAPACK's layout); everything that
 * leaves this file is row-major. */
#include "latentrsa/reduce.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_BLOCK 1024        /* columns (rows) of X converted to double at a time */
#define VARIANCE_SLACK 1e-6     /* cumulative ratio >= F * (1 - slack) */
#define TOPK_FLOOR 0.02         /* s_j / s_1 below which residuals are measured against this */

int lrsa_svd_solver_parse(const char *text, lrsa_svd_solver *out, lrsa_err *err)
{
    if (strcmp(text, "topk") == 0)
        *out = LRSA_SVD_TOPK;
    else if (strcmp(text, "exact") == 0)
        *out = LRSA_SVD_EXACT;
    else if (strcmp(text, "randomized") == 0)
        *out = LRSA_SVD_RANDOMIZED;
    else if (strcmp(text, "lanczos") == 0)
        *out = LRSA_SVD_LANCZOS;
    else
        return LRSA_FAIL(err, LRSA_EMISUSE, "unknown solver '%s' (topk, lanczos, exact or randomized)", text);
    return LRSA_OK;
}

const char *lrsa_svd_solver_name(lrsa_svd_solver s)
{
    switch (s) {
    case LRSA_SVD_TOPK: return "topk";
    case LRSA_SVD_EXACT: return "exact";
    case LRSA_SVD_RANDOMIZED: return "randomized";
    case LRSA_SVD_LANCZOS: return "lanczos";
    }
    return "unknown";
}

void lrsa_svd_opts_init(lrsa_svd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->solver = LRSA_SVD_TOPK;
    o->n_iter = 5;
    o->oversamples = 10;
    o->tol = LRSA_TOPK_TOL;
    o->max_iter = LRSA_TOPK_MAX_ITER;
    o->topk_iter = LRSA_TOPK_ITER;
    o->topk_oversample = 0;
}

void lrsa_svd_result_release(lrsa_svd_result *r)
{
    if (!r)
        return;
    free(r->proj);
    free(r->components);
    free(r->singular_values);
    free(r->explained_variance);
    free(r->explained_variance_ratio);
    memset(r, 0, sizeof *r);
}

/* ===== sign rule ===================================================================== */

void lrsa_svd_sign_rule(float *Vt, int64_t k, int64_t d, float *P, int64_t n)
{
    for (int64_t j = 0; j < k; j++) {
        float *v = Vt + j * d;
        int64_t best = 0;
        float babs = -1;
        for (int64_t c = 0; c < d; c++) {
            float a = fabsf(v[c]);
            if (a > babs) {
                babs = a;
                best = c;
            }
        }
        if (v[best] >= 0)
            continue;
        for (int64_t c = 0; c < d; c++)
            v[c] = -v[c];
        if (P)
            for (int64_t i = 0; i < n; i++)
                P[i * k + j] = -P[i * k + j];
    }
}

/* ===== small helpers ================================================================= */

static void fill_gaussian(float *a, int64_t count, lrsa_rng *rng)
{
    for (int64_t i = 0; i < count; i++)
        a[i] = (float)lrsa_rng_normal(rng);
}

/* Column means of X (d doubles). */
static void column_means(const float *X, int64_t n, int64_t d, double *mu)
{
    memset(mu, 0, sizeof *mu * (size_t)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++)
            mu[c] += X[i * d + c];
    for (int64_t c = 0; c < d; c++)
        mu[c] /= (double)n;
}

/* In place: A (m x b, column-major) <- P·L of its LU factorisation with partial pivoting
 * (scipy's lu(A, permute_l=True)), the normaliser of scikit-learn's power iterations. */
static int lu_normalize(float *A, int64_t m, int64_t b, lapack_int *ipiv, lrsa_err *err)
{
    lapack_int info = LAPACKE_sgetrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)b, A,
                                     (lapack_int)m, ipiv);
    if (info < 0)
        return LRSA_FAIL(err, LRSA_EFORMAT, "sgetrf failed (%d)", (int)info);
    /* info > 0: an exact zero pivot (rank-deficient block); L is still valid */
    for (int64_t j = 0; j < b; j++) {
        float *col = A + j * m;
        for (int64_t i = 0; i < j && i < m; i++)
            col[i] = 0;
        if (j < m)
            col[j] = 1;
    }
    LAPACKE_slaswp(LAPACK_COL_MAJOR, (lapack_int)b, A, (lapack_int)m, 1, (lapack_int)(b < m ? b : m),
                   ipiv, -1);
    return LRSA_OK;
}

/* In place: A (m x b, column-major, b <= m) <- the Q of its Householder QR. */
static int qr_orthonormalize(float *A, int64_t m, int64_t b, float *tau, lrsa_err *err)
{
    lapack_int info = LAPACKE_sgeqrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)b, A,
                                     (lapack_int)m, tau);
    if (info == 0)
        info = LAPACKE_sorgqr(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)b, (lapack_int)b, A,
                              (lapack_int)m, tau);
    if (info)
        return LRSA_FAIL(err, LRSA_EFORMAT, "qr factorisation failed (%d)", (int)info);
    return LRSA_OK;
}

/* ===== the Gram matrix =============================================================== */

/* G (m x m, full symmetric, double) = X·Xᵀ if rows else Xᵀ·X. exact: X converted to double in
 * blocks and dsyrk; otherwise float ssyrk over blocks of LRSA_TOPK_GRAM_BLOCK summed in double. */
static int gram_matrix(const float *X, int64_t n, int64_t d, int rows, int exact, double **Gout,
                       const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t m = rows ? n : d, other = rows ? d : n;
    int64_t bs = exact ? EXACT_BLOCK : LRSA_TOPK_GRAM_BLOCK;
    if (bs > other)
        bs = other;
    double *G = NULL, *Xb = NULL;
    float *Gf = NULL;
    *Gout = NULL;
    G = lrsa_calloc((size_t)m * (size_t)m, sizeof *G, "the gram matrix", err);
    if (!G) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (exact)
        Xb = lrsa_malloc(sizeof *Xb * (size_t)bs * (size_t)m, "a block of the matrix", err);
    else
        Gf = lrsa_malloc(sizeof *Gf * (size_t)m * (size_t)m, "the float gram matrix", err);
    if (exact ? !Xb : !Gf) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int threads = lrsa_threads(ctx);
    for (int64_t b0 = 0; b0 < other; b0 += bs) {
        int64_t w = b0 + bs < other ? bs : other - b0;
        if (exact) {
            if (rows) { /* Xb = X[:, b0:b0+w] (n x w) */
#pragma omp parallel for num_threads(threads)
                for (int64_t i = 0; i < n; i++)
                    for (int64_t c = 0; c < w; c++)
                        Xb[i * w + c] = X[i * d + b0 + c];
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0, Xb, (int)w,
                            1.0, G, (int)m);
            } else { /* Xb = X[b0:b0+w, :] (w x d) */
#pragma omp parallel for num_threads(threads)
                for (int64_t i = 0; i < w; i++)
                    for (int64_t c = 0; c < d; c++)
                        Xb[i * d + c] = X[(b0 + i) * d + c];
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)w, 1.0, Xb, (int)d,
                            1.0, G, (int)m);
            }
        } else {
            if (rows)
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0f, X + b0,
                            (int)d, 0.0f, Gf, (int)m);
            else
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)w, 1.0f, X + b0 * d,
                            (int)d, 0.0f, Gf, (int)m);
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = i; j < m; j++)
                    G[i * m + j] += Gf[i * m + j];
        }
    }
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = i + 1; j < m; j++)
            G[j * m + i] = G[i * m + j];
    *Gout = G;
    G = NULL;
done:
    free(G);
    free(Gf);
    free(Xb);
    return rc;
}

/* Gf (m x m, full symmetric, float) = X·Xᵀ if rows else Xᵀ·X by one threaded ssyrk (float
 * accumulation: topk's approximation error is far above its rounding), mirrored. */
static int gram_float(const float *X, int64_t n, int64_t d, int rows, float **Gout, const lrsa_ctx *ctx,
                      lrsa_err *err)
{
    int64_t m = rows ? n : d;
    float *Gf = lrsa_malloc(sizeof *Gf * (size_t)m * (size_t)m, "the float gram matrix", err);
    *Gout = NULL;
    if (!Gf)
        return LRSA_ENOMEM;
    if (rows)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0f, X, (int)d, 0.0f, Gf, (int)m);
    else
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0f, X, (int)d, 0.0f, Gf, (int)m);
    /* mirror the upper triangle in tiles (the transposed reads stay in cache) */
    const int64_t T = 64, nt = (m + T - 1) / T;
#pragma omp parallel for schedule(dynamic, 1) num_threads(lrsa_threads(ctx))
    for (int64_t bi = 0; bi < nt; bi++)
        for (int64_t bj = 0; bj <= bi; bj++)
            for (int64_t i = bi * T; i < (bi + 1) * T && i < m; i++)
                for (int64_t j = bj * T; j < (bj + 1) * T && j < i; j++)
                    Gf[i * m + j] = Gf[j * m + i];
    *Gout = Gf;
    return LRSA_OK;
}

/* ===== eigensolvers on G ============================================================ */

/* The top kk eigenpairs of G (m x m double, not modified): theta descending, E (m x kk row-major
 * double), through dsyevr. */
static int dense_eig(const double *G, int64_t m, int64_t kk, double *theta, double *E, lrsa_err *err)
{
    int rc = LRSA_OK;
    double *A = NULL, *w = NULL, *Z = NULL;
    lapack_int *isuppz = NULL;
    A = lrsa_malloc(sizeof *A * (size_t)m * (size_t)m, "an eigensolver copy", err);
    w = lrsa_malloc(sizeof *w * (size_t)m, "eigenvalues", err);
    Z = lrsa_malloc(sizeof *Z * (size_t)m * (size_t)kk, "eigenvectors", err);
    isuppz = lrsa_malloc(sizeof *isuppz * 2 * (size_t)m, "eigenvector supports", err);
    if (!A || !w || !Z || !isuppz) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    memcpy(A, G, sizeof *A * (size_t)m * (size_t)m);
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', kk == m ? 'A' : 'I', 'U', (lapack_int)m, A,
                                     (lapack_int)m, 0, 0, (lapack_int)(m - kk + 1), (lapack_int)m, 0.0,
                                     &found, w, Z, (lapack_int)m, isuppz);
    if (info || found != kk) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "the eigensolver (dsyevr) failed (info %d, %d of %lld found)",
                       (int)info, (int)found, (long long)kk);
        goto done;
    }
    /* ascending -> descending; Z is column-major m x kk (G symmetric: layouts agree) */
    for (int64_t j = 0; j < kk; j++) {
        int64_t src = kk - 1 - j;
        theta[j] = w[src];
        for (int64_t i = 0; i < m; i++)
            E[i * kk + j] = Z[src * m + i];
    }
done:
    free(A);
    free(w);
    free(Z);
    free(isuppz);
    return rc;
}

/* The largest scaled residual |G z_j - θ_j z_j| / scale_j over the first kk Ritz pairs (columns
 * of GZ = G·Z and Z, m rows). scale_j = θ_1 max(sqrt(θ_j / θ_1), TOPK_FLOOR): r_j <= tol bounds
 * the error of projection column j (s_j u_j), relative to s_1, by tol / (relative gap). */
static double ritz_max_residual(const float *GZ, const float *Z, const double *theta, int64_t m,
                                int64_t kk)
{
    double maxres = 0, th1 = theta[0] > 0 ? theta[0] : 1;
    for (int64_t j = 0; j < kk; j++) {
        double rel = theta[j] > 0 ? sqrt(theta[j] / th1) : 0;
        double scale = th1 * (rel > TOPK_FLOOR ? rel : TOPK_FLOOR), r2 = 0;
        const float *gz = GZ + (size_t)j * (size_t)m, *z = Z + (size_t)j * (size_t)m;
        for (int64_t i = 0; i < m; i++) {
            double t = (double)gz[i] - theta[j] * (double)z[i];
            r2 += t * t;
        }
        maxres = fmax(maxres, sqrt(r2) / scale);
    }
    return maxres;
}

/* The top kk eigenpairs of G by randomized subspace iteration on Gf (float copy of G) with a
 * block of b >= kk columns. Q0 (m x b0 column-major, may be NULL) seeds the first b0 columns;
 * the rest are Gaussian. Multiplications by G are LU-normalised; a Rayleigh-Ritz step (QR, the
 * projected b x b problem in double) after the first first_rr and then every 2 tests the residuals of
 * the kk leading Ritz pairs (see reduce.h for the rule). On return theta (b) and Z (m x b column-major)
 * hold the Ritz pairs, descending. */
static int subspace_eig(const float *Gf, int64_t m, int64_t kk, int64_t b, const float *Q0, int64_t b0,
                        int first_rr, lrsa_rng *rng, double tol, int max_iter, double *theta, float *Z, int *iters,
                        double *maxres_out, int *converged, lrsa_err *err)
{
    int rc = LRSA_OK;
    float *P = NULL, *W = NULL, *Hf = NULL, *Yf = NULL, *tau = NULL;
    double *H = NULL, *w = NULL;
    lapack_int *ipiv = NULL;
    size_t mb = (size_t)m * (size_t)b;
    P = lrsa_malloc(sizeof *P * mb, "the iteration block", err);
    W = lrsa_malloc(sizeof *W * mb, "the iteration block", err);
    Hf = lrsa_malloc(sizeof *Hf * (size_t)b * (size_t)b, "the projected matrix", err);
    Yf = lrsa_malloc(sizeof *Yf * (size_t)b * (size_t)b, "the projected eigenvectors", err);
    H = lrsa_malloc(sizeof *H * (size_t)b * (size_t)b, "the projected matrix", err);
    w = lrsa_malloc(sizeof *w * (size_t)b, "ritz values", err);
    tau = lrsa_malloc(sizeof *tau * (size_t)b, "qr workspace", err);
    ipiv = lrsa_malloc(sizeof *ipiv * (size_t)b, "lu pivots", err);
    if (!P || !W || !Hf || !Yf || !H || !w || !tau || !ipiv) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (Q0 && b0 > 0)
        memcpy(P, Q0, sizeof *P * (size_t)m * (size_t)b0);
    else
        b0 = 0;
    fill_gaussian(P + (size_t)m * (size_t)b0, (int64_t)(mb - (size_t)m * (size_t)b0), rng);

    int it = 0, since_rr = 0, first = first_rr;
    *converged = 0;
    double maxres = INFINITY, shift = 0;
    for (;;) {
        int rr = since_rr >= first || it >= max_iter;
        if (!rr) {
            /* P <- lu((G - σ I)·P); σ = half the smallest Ritz value of the block (0 before the
             * first Rayleigh-Ritz step) maps the damped interval [0, θ_b] onto [-σ, σ]: the
             * degree-1 Chebyshev filter, a convergence factor (θ_{b+1} - σ) / (θ_k - σ) per
             * multiplication instead of θ_{b+1} / θ_k */
            if (shift != 0)
                memcpy(W, P, sizeof *W * mb);
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)b, (int)m, 1.0f, Gf,
                        (int)m, P, (int)m, (float)-shift, W, (int)m);
            it++;
            since_rr++;
            if ((rc = lu_normalize(W, m, b, ipiv, err)))
                goto done;
            float *t = P;
            P = W;
            W = t;
            continue;
        }
        /* Rayleigh-Ritz: Q = qr(P), W = G·Q, H = Qᵀ·W, H = Y·diag(w)·Yᵀ */
        if ((rc = qr_orthonormalize(P, m, b, tau, err)))
            goto done;
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)b, (int)m, 1.0f, Gf, (int)m,
                    P, (int)m, 0.0f, W, (int)m);
        it++;
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)b, (int)b, (int)m, 1.0f, P, (int)m, W,
                    (int)m, 0.0f, Hf, (int)b);
        for (int64_t j = 0; j < b; j++)
            for (int64_t i = 0; i < b; i++)
                H[j * b + i] = 0.5 * ((double)Hf[j * b + i] + (double)Hf[i * b + j]);
        lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)b, H, (lapack_int)b, w);
        if (info) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "the projected eigensolver (dsyevd) failed (%d)", (int)info);
            goto done;
        }
        for (int64_t j = 0; j < b; j++) { /* descending */
            theta[j] = w[b - 1 - j];
            for (int64_t i = 0; i < b; i++)
                Yf[j * b + i] = (float)H[(b - 1 - j) * b + i];
        }
        /* Z = Q·Y (Ritz vectors) */
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)b, (int)b, 1.0f, P, (int)m, Yf,
                    (int)b, 0.0f, Z, (int)m);
        /* P <- W·Y = G·Z */
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)b, (int)b, 1.0f, W, (int)m, Yf,
                    (int)b, 0.0f, P, (int)m);
        maxres = ritz_max_residual(P, Z, theta, m, kk);
        since_rr = 0;
        first = 2;
        shift = theta[b - 1] > 0 && b < m ? 0.5 * theta[b - 1] : 0;
        if (maxres <= tol) {
            *converged = 1;
            break;
        }
        if (it >= max_iter)
            break;
        /* P = (G - σ I)·Z continues the iteration, normalised */
        if (shift != 0)
            cblas_saxpy((int)mb, (float)-shift, Z, 1, P, 1);
        if ((rc = lu_normalize(P, m, b, ipiv, err)))
            goto done;
    }
    *iters = it;
    *maxres_out = maxres;
done:
    free(P);
    free(W);
    free(Hf);
    free(Yf);
    free(H);
    free(w);
    free(tau);
    free(ipiv);
    return rc;
}

/* Orthogonalise the s columns of R (m x s, column-major) against the L columns of K, twice
 * (classical Gram-Schmidt with reorthogonalisation); C is L x s scratch. */
static void project_out(const float *K, int64_t m, int64_t L, float *R, int64_t s, float *C)
{
    if (L == 0)
        return;
    for (int pass = 0; pass < 2; pass++) {
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)L, (int)s, (int)m, 1.0f, K, (int)m, R, (int)m,
                    0.0f, C, (int)L);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)s, (int)L, -1.0f, K, (int)m, C,
                    (int)L, 1.0f, R, (int)m);
    }
}

/* The top kk eigenpairs of G by block Lanczos (block Krylov with full reorthogonalisation) on Gf
 * (float), block width s: K = [B_0, B_1, ...] orthonormal with B_{i+1} = orth(G·B_i against K)
 * (Gram-Schmidt twice + QR, repeated when a column lost > 99% of its norm),
 * W = G·K kept, and a Rayleigh-Ritz step on Kᵀ·W (the top kk pairs, ssyevr) once K has 2 kk + s
 * columns and then every kk/2 + s more, until the residual rule of reduce.h holds or K would exceed Lcap columns
 * (*converged = 0: the caller falls back). theta (kk) and Z (m x kk column-major) get the Ritz
 * pairs, descending. *iters counts multiplications by G in units of kk columns. */
static int krylov_eig(const float *Gf, int64_t m, int64_t kk, int64_t s, int64_t Lcap, lrsa_rng *rng, double tol,
                      double *theta, float *Z, int *iters, double *maxres_out, int *converged, lrsa_err *err)
{
    int rc = LRSA_OK;
    float *K = NULL, *W = NULL, *C = NULL, *Hf = NULL, *Hacc = NULL, *Yf = NULL, *Yr = NULL, *GZ = NULL, *tau = NULL, *wf = NULL;
    lapack_int *isuppz = NULL;
    double *nrm = NULL;
    size_t cap = (size_t)m * (size_t)(Lcap + s);
    K = lrsa_malloc(sizeof *K * cap, "the krylov basis", err);
    W = lrsa_malloc(sizeof *W * cap, "the krylov basis", err);
    C = lrsa_malloc(sizeof *C * (size_t)(Lcap + s) * (size_t)s, "krylov scratch", err);
    Hf = lrsa_malloc(sizeof *Hf * (size_t)Lcap * (size_t)Lcap, "the projected matrix", err);
    Hacc = lrsa_malloc(sizeof *Hacc * (size_t)Lcap * (size_t)Lcap, "the projected matrix", err);
    wf = lrsa_malloc(sizeof *wf * (size_t)Lcap, "ritz values", err);
    Yf = lrsa_malloc(sizeof *Yf * (size_t)Lcap * (size_t)kk, "ritz coefficients", err);
    Yr = lrsa_malloc(sizeof *Yr * (size_t)Lcap * (size_t)kk, "ritz coefficients", err);
    isuppz = lrsa_malloc(sizeof *isuppz * 2 * (size_t)Lcap, "eigenvector supports", err);
    GZ = lrsa_malloc(sizeof *GZ * (size_t)m * (size_t)kk, "ritz residuals", err);
    tau = lrsa_malloc(sizeof *tau * (size_t)s, "qr workspace", err);
    nrm = lrsa_malloc(sizeof *nrm * (size_t)s, "column norms", err);
    if (!nrm || !K || !W || !C || !Hf || !Hacc || !wf || !Yf || !Yr || !isuppz || !GZ || !tau) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    *converged = 0;
    double maxres = INFINITY;
    fill_gaussian(K, m * s, rng);
    if ((rc = qr_orthonormalize(K, m, s, tau, err)))
        goto done;
    int64_t L = 0, Lh = 0, target = 2 * kk + s, mults = 0;
    for (;;) {
        while (L < target && L + 2 * s <= Lcap + s) {
            float *B = K + (size_t)L * (size_t)m, *WB = W + (size_t)L * (size_t)m;
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)s, (int)m, 1.0f, Gf, (int)m, B,
                        (int)m, 0.0f, WB, (int)m);
            mults += s;
            L += s;
            if (L + s > m)
                break;
            /* next block: G·B orthogonalised against K (rank-deficient G: what is left is rounding
             * noise, made orthogonal by the second round) */
            float *R = K + (size_t)L * (size_t)m;
            memcpy(R, WB, sizeof *R * (size_t)m * (size_t)s);
            /* a second round only when some column lost more than 99% of its norm (rank
             * deficiency or heavy cancellation: the rest may not be orthogonal to K) */
            for (int round = 0; round < 2; round++) {
                double worst = INFINITY;
                for (int64_t j = 0; j < s; j++)
                    nrm[j] = cblas_snrm2((int)m, R + (size_t)j * (size_t)m, 1);
                project_out(K, m, L, R, s, C);
                for (int64_t j = 0; j < s; j++) {
                    double after = cblas_snrm2((int)m, R + (size_t)j * (size_t)m, 1);
                    worst = fmin(worst, nrm[j] > 0 ? after / nrm[j] : 0);
                }
                if ((rc = qr_orthonormalize(R, m, s, tau, err)))
                    goto done;
                if (worst > 1e-2)
                    break;
            }
        }
        /* Rayleigh-Ritz on the L multiplied columns: the top kk pairs of Kᵀ·G·K (ssyevr). Hacc
         * (leading dimension Lcap) gains only the columns of the new blocks: Kᵀ·W[:, Lh:L] */
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)L, (int)(L - Lh), (int)m, 1.0f, K, (int)m,
                    W + (size_t)Lh * (size_t)m, (int)m, 0.0f, Hacc + (size_t)Lh * (size_t)Lcap, (int)Lcap);
        Lh = L;
        for (int64_t j = 0; j < L; j++) /* lower part, used by 'L', from Hacc's upper part: column i
                                         * of Hacc was computed with every row up to i */
            for (int64_t i = j; i < L; i++)
                Hf[j * L + i] = Hacc[i * Lcap + j];
        lapack_int found = 0;
        lapack_int info = LAPACKE_ssyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', (lapack_int)L, Hf, (lapack_int)L, 0, 0,
                                         (lapack_int)(L - kk + 1), (lapack_int)L, 0.0f, &found, wf, Yr,
                                         (lapack_int)L, isuppz);
        if (info || found != kk) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "the projected eigensolver (ssyevr) failed (%d)", (int)info);
            goto done;
        }
        for (int64_t j = 0; j < kk; j++) { /* ascending -> descending */
            theta[j] = wf[kk - 1 - j];
            memcpy(Yf + j * L, Yr + (kk - 1 - j) * L, sizeof *Yf * (size_t)L);
        }
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)kk, (int)L, 1.0f, K, (int)m, Yf,
                    (int)L, 0.0f, Z, (int)m);
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)kk, (int)L, 1.0f, W, (int)m, Yf,
                    (int)L, 0.0f, GZ, (int)m);
        maxres = ritz_max_residual(GZ, Z, theta, m, kk);
        if (maxres <= tol) {
            *converged = 1;
            break;
        }
        if (L + 2 * s > Lcap + s || L + s > m)
            break;
        target = L + kk / 2 + s;
    }
    *iters = (int)((mults + kk - 1) / kk);
    *maxres_out = maxres;
done:
    free(K);
    free(W);
    free(C);
    free(Hf);
    free(Hacc);
    free(nrm);
    free(wf);
    free(Yf);
    free(Yr);
    free(isuppz);
    free(GZ);
    free(tau);
    return rc;
}

/* ===== from eigenpairs of G to P, Vᵀ and s ========================================== */

/* Estimated explained variance of the kk eigenpairs (no Vᵀ needed): rows: θ (1/n - mean(u)²);
 * else θ/n - (μᵀv)². Used to choose k for a variance target before the expensive step. */
static void eig_explained_variance(const double *theta, const double *E, int64_t m, int64_t kk, int rows,
                                   int64_t n, const double *mu, double *ev)
{
    for (int64_t j = 0; j < kk; j++) {
        double a = 0;
        for (int64_t i = 0; i < m; i++)
            a += E[i * kk + j] * (rows ? 1.0 : mu[i]);
        double th = theta[j] > 0 ? theta[j] : 0;
        ev[j] = rows ? th * (1.0 / (double)n - (a / (double)n) * (a / (double)n)) : th / (double)n - a * a;
        if (ev[j] < 0)
            ev[j] = 0;
    }
}

/* P (n x kk), Vt (kk x d) and s (kk) from kk eigenvectors E (m x kk row-major double) of G.
 * exact: in double (X converted block by block); otherwise float sgemm. */
static int eig_to_svd(const float *X, int64_t n, int64_t d, int rows, int exact, const double *E, int64_t kk,
                      float *P, float *Vt, double *s, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t m = rows ? n : d;
    float *Ef = NULL;
    double *Xb = NULL, *Ob = NULL;
    int threads = lrsa_threads(ctx);
    memset(s, 0, sizeof *s * (size_t)kk);
    if (!exact) {
        Ef = lrsa_malloc(sizeof *Ef * (size_t)m * (size_t)kk, "eigenvectors", err);
        if (!Ef) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < m * kk; i++)
            Ef[i] = (float)E[i];
        if (rows) /* Vt = Uᵀ·X (kk x d) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kk, (int)d, (int)n, 1.0f, Ef, (int)kk,
                        X, (int)d, 0.0f, Vt, (int)d);
        else      /* P = X·V (n x kk) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)kk, (int)d, 1.0f, X, (int)d,
                        Ef, (int)kk, 0.0f, P, (int)kk);
    } else {
        int64_t other = rows ? d : n, bs = EXACT_BLOCK < other ? EXACT_BLOCK : other;
        Xb = lrsa_malloc(sizeof *Xb * (size_t)bs * (size_t)m, "a block of the matrix", err);
        Ob = lrsa_malloc(sizeof *Ob * (size_t)bs * (size_t)kk, "a block of the result", err);
        if (!Xb || !Ob) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t b0 = 0; b0 < other; b0 += bs) {
            int64_t w = b0 + bs < other ? bs : other - b0;
            if (rows) { /* Ob (kk x w) = Uᵀ·X[:, b0:b0+w] */
#pragma omp parallel for num_threads(threads)
                for (int64_t i = 0; i < n; i++)
                    for (int64_t c = 0; c < w; c++)
                        Xb[i * w + c] = X[i * d + b0 + c];
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kk, (int)w, (int)n, 1.0, E, (int)kk,
                            Xb, (int)w, 0.0, Ob, (int)w);
                for (int64_t j = 0; j < kk; j++)
                    for (int64_t c = 0; c < w; c++)
                        Vt[j * d + b0 + c] = (float)Ob[j * w + c];
            } else {    /* Ob (w x kk) = X[b0:b0+w, :]·V */
#pragma omp parallel for num_threads(threads)
                for (int64_t i = 0; i < w * d; i++)
                    Xb[i] = X[b0 * d + i];
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)w, (int)kk, (int)d, 1.0, Xb, (int)d,
                            E, (int)kk, 0.0, Ob, (int)kk);
                for (int64_t i = 0; i < w * kk; i++)
                    P[b0 * kk + i] = (float)Ob[i];
            }
            /* exact singular values: norms accumulated from the double block */
            if (rows) {
                for (int64_t j = 0; j < kk; j++)
                    for (int64_t c = 0; c < w; c++)
                        s[j] += Ob[j * w + c] * Ob[j * w + c];
            } else {
                for (int64_t i = 0; i < w; i++)
                    for (int64_t j = 0; j < kk; j++)
                        s[j] += Ob[i * kk + j] * Ob[i * kk + j];
            }
        }
    }
    if (!exact) {
        if (rows) {
#pragma omp parallel for num_threads(threads)
            for (int64_t j = 0; j < kk; j++) {
                double a = 0;
                for (int64_t c = 0; c < d; c++)
                    a += (double)Vt[j * d + c] * Vt[j * d + c];
                s[j] = a;
            }
        } else {
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < kk; j++)
                    s[j] += (double)P[i * kk + j] * P[i * kk + j];
        }
    }
    for (int64_t j = 0; j < kk; j++)
        s[j] = sqrt(s[j]);
    if (rows) { /* Vt rows / s; P = U·s */
#pragma omp parallel for num_threads(threads)
        for (int64_t j = 0; j < kk; j++) {
            double inv = s[j] > 0 ? 1.0 / s[j] : 0;
            for (int64_t c = 0; c < d; c++)
                Vt[j * d + c] = (float)(Vt[j * d + c] * inv);
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < kk; j++)
                P[i * kk + j] = (float)(E[i * kk + j] * s[j]);
    } else {    /* Vt = Vᵀ */
        for (int64_t j = 0; j < kk; j++)
            for (int64_t c = 0; c < d; c++)
                Vt[j * d + c] = (float)E[c * kk + j];
    }
done:
    free(Ef);
    free(Xb);
    free(Ob);
    return rc;
}

/* ===== finishing: order, rank, signs, variance, k ==================================== */

static const double *sort_key;
static int cmp_desc(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (sort_key[i] != sort_key[j])
        return sort_key[i] < sort_key[j] ? 1 : -1;
    return (i > j) - (i < j);
}

/* Turn kk computed components (P n x kk, Vt kk x d, s) into the result. Takes ownership of nothing. */
static int finish(int64_t n, int64_t d, const float *P, const float *Vt, const double *s, int64_t kk,
                  const lrsa_svd_opts *o, double total, lrsa_svd_result *out, const lrsa_ctx *ctx,
                  lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t *idx = lrsa_malloc(sizeof *idx * (size_t)kk, "an ordering", err);
    float *Po = NULL, *Vo = NULL, *Pk = NULL;
    double *so = NULL, *ev = NULL, *ratio = NULL;
    if (!idx) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t j = 0; j < kk; j++)
        idx[j] = j;
    sort_key = s; /* single-threaded here; qsort has no context argument in C11 */
    qsort(idx, (size_t)kk, sizeof *idx, cmp_desc);
    double smax = s[idx[0]];
    double floor_s = smax * (double)(n > d ? n : d) * FLT_EPSILON;
    int64_t rank = 0;
    while (rank < kk && s[idx[rank]] > floor_s)
        rank++;
    if (rank == 0 || !(smax > 0)) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "the matrix is all zeros: it has no components");
        goto done;
    }
    int64_t keep = o->k > 0 && o->k < kk ? o->k : kk;
    out->capped = 0;
    if (keep > rank) {
        lrsa_warn(ctx, "the matrix has numerical rank %lld: keeping %lld components, not %lld",
                  (long long)rank, (long long)rank, (long long)keep);
        out->capped = o->k > 0;
        keep = rank;
    }
    Po = lrsa_malloc(sizeof *Po * (size_t)n * (size_t)keep, "the projection", err);
    Vo = lrsa_malloc(sizeof *Vo * (size_t)keep * (size_t)d, "the components", err);
    so = lrsa_malloc(sizeof *so * (size_t)keep, "singular values", err);
    ev = lrsa_calloc((size_t)keep, sizeof *ev, "explained variance", err);
    ratio = lrsa_malloc(sizeof *ratio * (size_t)keep, "explained variance ratios", err);
    if (!Po || !Vo || !so || !ev || !ratio) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t j = 0; j < keep; j++) {
        so[j] = s[idx[j]];
        memcpy(Vo + j * d, Vt + idx[j] * d, sizeof *Vo * (size_t)d);
        for (int64_t i = 0; i < n; i++)
            Po[i * keep + j] = P[i * kk + idx[j]];
    }
    lrsa_svd_sign_rule(Vo, keep, d, Po, n);
    /* explained variance: var(P[:, j]), ddof 0, two passes in double */
    {
        double *mean = lrsa_calloc((size_t)keep, sizeof *mean, "column means", err);
        if (!mean) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < keep; j++)
                mean[j] += Po[i * keep + j];
        for (int64_t j = 0; j < keep; j++)
            mean[j] /= (double)n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < keep; j++) {
                double t = Po[i * keep + j] - mean[j];
                ev[j] += t * t;
            }
        free(mean);
    }
    for (int64_t j = 0; j < keep; j++) {
        ev[j] /= (double)n;
        ratio[j] = total > 0 ? ev[j] / total : 0;
    }
    int64_t k = keep;
    if (o->k == 0) {
        double cum = 0;
        for (int64_t j = 0; j < keep; j++) {
            cum += ratio[j];
            if (cum >= o->variance * (1 - VARIANCE_SLACK)) {
                k = j + 1;
                break;
            }
        }
    }
    if (k < keep) { /* compact the projection to n x k */
        Pk = lrsa_malloc(sizeof *Pk * (size_t)n * (size_t)k, "the projection", err);
        if (!Pk) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            memcpy(Pk + i * k, Po + i * keep, sizeof *Pk * (size_t)k);
        free(Po);
        Po = Pk;
        Pk = NULL;
    }
    out->n = n;
    out->d = d;
    out->k = k;
    out->proj = Po;
    out->singular_values = so;
    out->explained_variance = ev;
    out->explained_variance_ratio = ratio;
    out->total_variance = total;
    if (o->want_components) {
        out->components = Vo; /* keep x d; only the first k rows are meaningful to the caller */
        Vo = NULL;
    }
    Po = NULL;
    so = ev = ratio = NULL;
done:
    free(idx);
    free(Po);
    free(Vo);
    free(Pk);
    free(so);
    free(ev);
    free(ratio);
    return rc;
}

/* ===== exact and topk ================================================================= */

/* topk's oversampling p for kk components: opts.topk_oversample, else clamp(kk / 8, 16, 64)
 * (LRSA_TOPK_OVERSAMPLE_MIN/MAX). */
static int64_t topk_oversample(const lrsa_svd_opts *o, int64_t kk)
{
    if (o->topk_oversample > 0)
        return o->topk_oversample;
    int64_t p = kk / 8;
    if (p < LRSA_TOPK_OVERSAMPLE_MIN)
        p = LRSA_TOPK_OVERSAMPLE_MIN;
    return p > LRSA_TOPK_OVERSAMPLE_MAX ? LRSA_TOPK_OVERSAMPLE_MAX : p;
}

/* Smallest j with cumsum(ev[0..j]) >= F * (1 - slack) * total, +1; 0 if not reached. */
static int64_t k_for_variance(const double *ev, int64_t kk, double total, double F)
{
    double cum = 0;
    for (int64_t j = 0; j < kk; j++) {
        cum += ev[j];
        if (cum >= F * (1 - VARIANCE_SLACK) * total)
            return j + 1;
    }
    return 0;
}

static int gram_solve(const float *X, int64_t n, int64_t d, const lrsa_svd_opts *o, double total,
                      lrsa_svd_result *out, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    int exact = o->solver == LRSA_SVD_EXACT, fast = o->solver == LRSA_SVD_TOPK;
    int rows = n <= d;
    int64_t m = rows ? n : d;
    double *G = NULL, *theta = NULL, *E = NULL, *mu = NULL, *ev = NULL;
    float *Gf = NULL, *Zf = NULL, *Zprev = NULL, *P = NULL, *Vt = NULL;
    double *s = NULL;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, o->seed);
    out->iterations = 0;
    out->converged = 1;
    out->max_residual = 0;
    theta = lrsa_malloc(sizeof *theta * (size_t)m, "eigenvalues", err);
    ev = lrsa_malloc(sizeof *ev * (size_t)m, "explained variance", err);
    mu = lrsa_malloc(sizeof *mu * (size_t)(rows ? 1 : d), "column means", err);
    if (!theta || !ev || !mu) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (!rows)
        column_means(X, n, d, mu);

    int64_t kk = o->k > 0 ? o->k : (exact ? m : (LRSA_VARIANCE_START < m ? LRSA_VARIANCE_START : m));
    int64_t bprev = 0, kE = kk;
    for (;;) {
        int64_t p = kk / 4 > LRSA_TOPK_MIN_OVERSAMPLE ? kk / 4 : LRSA_TOPK_MIN_OVERSAMPLE;
        if (fast)
            p = topk_oversample(o, kk);
        int64_t b = kk + p < m ? kk + p : m;
        if (!fast && o->block >= kk && o->k > 0)
            b = o->block < m ? o->block : m;
        int dense = exact || 2 * b > m;
        if (dense && o->k == 0)
            kk = m; /* a variance target that needs this many: take the whole spectrum */
        /* the Gram matrix: topk forms it in float when its first block is iterative; the dense
         * eigensolver wants it in double (from the float one if that exists) */
        if (!G && !Gf) {
            if (fast && !dense)
                rc = gram_float(X, n, d, rows, &Gf, ctx, err);
            else
                rc = gram_matrix(X, n, d, rows, exact, &G, ctx, err);
            if (rc)
                goto done;
        }
        if (dense && !G) {
            G = lrsa_malloc(sizeof *G * (size_t)m * (size_t)m, "the gram matrix", err);
            if (!G) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            for (int64_t i = 0; i < m * m; i++)
                G[i] = Gf[i];
        }
        free(E);
        E = lrsa_malloc(sizeof *E * (size_t)m * (size_t)kk, "eigenvectors", err);
        if (!E) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        kE = kk;
        if (dense) {
            if ((rc = dense_eig(G, m, kk, theta, E, err)))
                goto done;
        } else {
            if (!Gf) {
                Gf = lrsa_malloc(sizeof *Gf * (size_t)m * (size_t)m, "the float gram matrix", err);
                if (!Gf) {
                    rc = LRSA_ENOMEM;
                    goto done;
                }
                for (int64_t i = 0; i < m * m; i++)
                    Gf[i] = (float)G[i];
            }
            Zf = lrsa_malloc(sizeof *Zf * (size_t)m * (size_t)b, "ritz vectors", err);
            if (!Zf) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            int iters = 0, conv = 0;
            double maxres = 0;
            if (fast) {
                /* q LU-normalised multiplications, then one Rayleigh-Ritz step (tolerance off) */
                int q = o->topk_iter > 0 ? o->topk_iter : LRSA_TOPK_ITER;
                if ((rc = subspace_eig(Gf, m, kk, b, Zprev, bprev < b ? bprev : b, q, &rng, INFINITY, q + 1,
                                       theta, Zf, &iters, &maxres, &conv, err)))
                    goto done;
                lrsa_debug(ctx, "topk: %lld + %lld columns, %d multiplications, residual %.2g", (long long)kk,
                           (long long)(b - kk), iters, maxres);
            } else {
                if (o->block == 0) { /* block Lanczos first */
                    int64_t sb = kk / 4 < 16 ? 16 : kk / 4 > 256 ? 256 : kk / 4;
                    int64_t Lcap = 3 * m / 4;
                    if (2 * kk + 2 * sb <= Lcap) {
                        if ((rc = krylov_eig(Gf, m, kk, sb, Lcap, &rng, o->tol, theta, Zf, &iters, &maxres,
                                             &conv, err)))
                            goto done;
                        lrsa_debug(ctx, "lanczos: block lanczos %s (residual %.2g)",
                                   conv ? "converged" : "did not converge", maxres);
                        if (!conv) { /* go on by subspace iteration from its Ritz vectors */
                            free(Zprev);
                            Zprev = Zf;
                            bprev = kk;
                            Zf = lrsa_malloc(sizeof *Zf * (size_t)m * (size_t)b, "ritz vectors", err);
                            if (!Zf) {
                                rc = LRSA_ENOMEM;
                                goto done;
                            }
                        }
                    }
                }
                int kiters = iters;
                if (!conv && (rc = subspace_eig(Gf, m, kk, b, Zprev, bprev < b ? bprev : b,
                                                Zprev && bprev > 0 ? 1 : 3, &rng, o->tol,
                                                o->max_iter > 0 ? o->max_iter : LRSA_TOPK_MAX_ITER, theta, Zf,
                                                &iters, &maxres, &conv, err)))
                    goto done;
                if (iters != kiters)
                    iters += kiters;
                if (!conv)
                    lrsa_warn(ctx, "lanczos: not converged after %d multiplications (residual %.2g, tolerance %.2g)",
                              iters, maxres, o->tol);
            }
            out->iterations += iters;
            out->converged = conv;
            out->max_residual = maxres;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < kk; j++)
                    E[i * kk + j] = Zf[j * m + i];
            free(Zprev);
            Zprev = Zf;
            Zf = NULL;
            bprev = b;
        }
        if (o->k > 0)
            break;
        eig_explained_variance(theta, E, m, kk, rows, n, mu, ev);
        int64_t kv = k_for_variance(ev, kk, total, o->variance);
        if (kv > 0 || kk >= m) {
            /* keep a margin of components past the estimate: finish() picks k from the exact
             * variances of the projections */
            if (kv > 0) {
                int64_t margin = kv / 16 + 4;
                kk = kv + margin < kk ? kv + margin : kk;
            }
            break;
        }
        lrsa_debug(ctx, "variance target %.4g not reached with %lld components: doubling", o->variance,
                   (long long)kk);
        kk = 2 * kk < m ? 2 * kk : m;
    }
    P = lrsa_malloc(sizeof *P * (size_t)n * (size_t)kk, "the projection", err);
    Vt = lrsa_malloc(sizeof *Vt * (size_t)kk * (size_t)d, "the components", err);
    s = lrsa_malloc(sizeof *s * (size_t)kk, "singular values", err);
    if (!P || !Vt || !s) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* E is m x kE: repack to m x kk when the variance margin shrank kk */
    if (kk < kE)
        for (int64_t i = 1; i < m; i++)
            memmove(E + i * kk, E + i * kE, sizeof *E * (size_t)kk);
    if ((rc = eig_to_svd(X, n, d, rows, exact, E, kk, P, Vt, s, ctx, err)))
        goto done;
    rc = finish(n, d, P, Vt, s, kk, o, total, out, ctx, err);
done:
    free(G);
    free(Gf);
    free(theta);
    free(E);
    free(mu);
    free(ev);
    free(Zf);
    free(Zprev);
    free(P);
    free(Vt);
    free(s);
    return rc;
}

/* ===== randomized (Halko et al., scikit-learn's randomized_svd) ======================== */

/* kk components by randomized_svd on X: P (n x kk), Vt (kk x d), s (kk). X row-major n x d is
 * column-major Xᵀ (d x n, leading dimension d): X·Q is sgemm(Trans), Xᵀ·Q is sgemm(NoTrans). */
static int randomized_svd(const float *X, int64_t n, int64_t d, int64_t kk, const lrsa_svd_opts *o,
                          float *P, float *Vt, double *s, lrsa_err *err)
{
    int rc = LRSA_OK;
    int transpose = n < d;               /* work on M = Xᵀ (d x n) */
    int64_t m = n < d ? n : d;
    int64_t b = kk + (o->oversamples > 0 ? o->oversamples : 0);
    if (b > m)
        b = m;
    int64_t p = transpose ? d : n, q = transpose ? n : d; /* M is p x q */
    float *Qq = NULL, *Qp = NULL, *C = NULL, *Uc = NULL, *Vtc = NULL, *sv = NULL, *tau = NULL, *Vd = NULL;
    lapack_int *ipiv = NULL;
    Qq = lrsa_malloc(sizeof *Qq * (size_t)q * (size_t)b, "the test matrix", err);
    Qp = lrsa_malloc(sizeof *Qp * (size_t)p * (size_t)b, "the range basis", err);
    tau = lrsa_malloc(sizeof *tau * (size_t)b, "qr workspace", err);
    sv = lrsa_malloc(sizeof *sv * (size_t)b, "singular values", err);
    ipiv = lrsa_malloc(sizeof *ipiv * (size_t)(p > q ? p : q), "lu pivots", err);
    if (!Qq || !Qp || !tau || !sv || !ipiv) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, o->seed);
    fill_gaussian(Qq, q * b, &rng);
    /* M·Q (p x b) from Q (q x b), and Mᵀ·Q (q x b) from Q (p x b) */
#define MUL_M(in, outp) cblas_sgemm(CblasColMajor, transpose ? CblasNoTrans : CblasTrans, CblasNoTrans, \
        (int)p, (int)b, (int)q, 1.0f, X, (int)d, (in), (int)q, 0.0f, (outp), (int)p)
#define MUL_MT(in, outq) cblas_sgemm(CblasColMajor, transpose ? CblasTrans : CblasNoTrans, CblasNoTrans, \
        (int)q, (int)b, (int)p, 1.0f, X, (int)d, (in), (int)p, 0.0f, (outq), (int)q)
    int normalise = o->n_iter > 2; /* power_iteration_normalizer='auto': LU when n_iter > 2 */
    for (int it = 0; it < o->n_iter; it++) {
        MUL_M(Qq, Qp);
        if (normalise && (rc = lu_normalize(Qp, p, b, ipiv, err)))
            goto done;
        MUL_MT(Qp, Qq);
        if (normalise && (rc = lu_normalize(Qq, q, b, ipiv, err)))
            goto done;
    }
    MUL_M(Qq, Qp);
    if ((rc = qr_orthonormalize(Qp, p, b, tau, err)))
        goto done;
    /* B = Qᵀ·M (b x q); we factor C = Bᵀ = Mᵀ·Q (q x b) = Uc·diag(sv)·Vtc */
    C = Qq;
    MUL_MT(Qp, C);
#undef MUL_M
#undef MUL_MT
    Uc = lrsa_malloc(sizeof *Uc * (size_t)q * (size_t)b, "left singular vectors", err);
    Vtc = lrsa_malloc(sizeof *Vtc * (size_t)b * (size_t)b, "right singular vectors", err);
    if (!Uc || !Vtc) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    lapack_int info = LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)q, (lapack_int)b, C, (lapack_int)q,
                                     sv, Uc, (lapack_int)q, Vtc, (lapack_int)b);
    if (info) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "the small svd (sgesdd) failed (%d)", (int)info);
        goto done;
    }
    for (int64_t j = 0; j < kk; j++)
        s[j] = sv[j];
    if (transpose) {
        /* M = Xᵀ ≈ Qp·B = Qp·Vtcᵀ·diag(sv)·Ucᵀ: X's U = Uc (n x b), X's V = Qp·Vtcᵀ (d x b),
         * and X·V = Bᵀ·Vtcᵀ = Uc·diag(sv) exactly */
        Vd = lrsa_malloc(sizeof *Vd * (size_t)d * (size_t)kk, "the components", err);
        if (!Vd) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)kk, (int)b, 1.0f, Qp, (int)d, Vtc,
                    (int)b, 0.0f, Vd, (int)d);
        for (int64_t j = 0; j < kk; j++) /* Vd column j -> Vt row j */
            memcpy(Vt + j * d, Vd + j * d, sizeof *Vt * (size_t)d);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < kk; j++)
                P[i * kk + j] = Uc[j * n + i] * sv[j];
    } else {
        /* M = X ≈ Qp·Vtcᵀ·diag(sv)·Ucᵀ: X's V = Uc (d x b); the projection is X·V (as
         * TruncatedSVD.fit_transform computes it) */
        for (int64_t j = 0; j < kk; j++)
            memcpy(Vt + j * d, Uc + j * d, sizeof *Vt * (size_t)d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)kk, (int)d, 1.0f, X, (int)d, Vt,
                    (int)d, 0.0f, P, (int)kk);
    }
done:
    free(Qq);
    free(Qp);
    free(Uc);
    free(Vtc);
    free(sv);
    free(tau);
    free(Vd);
    free(ipiv);
    return rc;
}

static int randomized_solve(const float *X, int64_t n, int64_t d, const lrsa_svd_opts *o, double total,
                            lrsa_svd_result *out, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t m = n < d ? n : d;
    int64_t kk = o->k > 0 ? o->k : (LRSA_VARIANCE_START < m ? LRSA_VARIANCE_START : m);
    float *P = NULL, *Vt = NULL;
    double *s = NULL;
    for (;;) {
        free(P);
        free(Vt);
        free(s);
        P = lrsa_malloc(sizeof *P * (size_t)n * (size_t)kk, "the projection", err);
        Vt = lrsa_malloc(sizeof *Vt * (size_t)kk * (size_t)d, "the components", err);
        s = lrsa_malloc(sizeof *s * (size_t)kk, "singular values", err);
        if (!P || !Vt || !s) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if ((rc = randomized_svd(X, n, d, kk, o, P, Vt, s, err)))
            goto done;
        if (o->k > 0 || kk >= m)
            break;
        /* variance target: is it reached within these kk components? */
        double *mean = lrsa_calloc((size_t)kk, sizeof *mean, "column means", err);
        double *ev = lrsa_calloc((size_t)kk, sizeof *ev, "explained variance", err);
        if (!mean || !ev) {
            free(mean);
            free(ev);
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < kk; j++)
                mean[j] += P[i * kk + j];
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < kk; j++) {
                double t = P[i * kk + j] - mean[j] / (double)n;
                ev[j] += t * t / (double)n;
            }
        int reached = k_for_variance(ev, kk, total, o->variance) > 0;
        free(mean);
        free(ev);
        if (reached)
            break;
        kk = 2 * kk < m ? 2 * kk : m;
    }
    out->iterations = o->n_iter;
    out->converged = 1;
    out->max_residual = 0;
    rc = finish(n, d, P, Vt, s, kk, o, total, out, ctx, err);
done:
    free(P);
    free(Vt);
    free(s);
    return rc;
}

/* ===== entry point ==================================================================== */

int lrsa_svd_truncated(const float *X, int64_t n, int64_t d, const lrsa_svd_opts *o, lrsa_svd_result *out,
                       const lrsa_ctx *ctx, lrsa_err *err)
{
    memset(out, 0, sizeof *out);
    int64_t m = n < d ? n : d;
    if (n < 1 || d < 1)
        return LRSA_FAIL(err, LRSA_EEMPTY, "the matrix is empty (%lld x %lld)", (long long)n, (long long)d);
    if (n > INT32_MAX || d > INT32_MAX)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the matrix is too large for BLAS (%lld x %lld)",
                         (long long)n, (long long)d);
    if (o->k < 0 || o->k > m)
        return LRSA_FAIL(err, LRSA_EMISUSE, "%lld components asked for, but a %lld x %lld matrix has at most %lld",
                         (long long)o->k, (long long)n, (long long)d, (long long)m);
    if (o->k == 0 && !(o->variance > 0 && o->variance <= 1))
        return LRSA_FAIL(err, LRSA_EMISUSE, "the variance target %g is outside (0, 1]", o->variance);
    double total = lrsa_total_variance(X, n, d, ctx);
    int rc;
    if (o->solver == LRSA_SVD_RANDOMIZED)
        rc = randomized_solve(X, n, d, o, total, out, ctx, err);
    else
        rc = gram_solve(X, n, d, o, total, out, ctx, err);
    if (rc)
        lrsa_svd_result_release(out);
    return rc;
}
