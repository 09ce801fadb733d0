/* z-score + truncated SVD to K components of one .npy (bench/make_reduce_input.py writes it; the
 * issue's size is 5000 x 20000 -> 715): times zscore+topk, zscore+lanczos and zscore+randomized
 * (median of REPEATS each) and zscore+exact (once), printed as "name seconds" lines on stdout
 * (wall seconds):
 *     reduce_topk S
 *     reduce_lanczos S
 *     reduce_randomized S
 *     reduce_exact S
 * On stderr each run also gives its wall and CPU seconds (all threads) and the z-scoring share;
 * then the accuracy of topk, lanczos and randomized against exact: the max relative error of the
 * singular values, the relative Frobenius error of the projection, and what the RSA downstream
 * sees: the max |difference| of the correlation-distance RDMs (1 - Pearson between rows of the
 * projection) and the Pearson r of their upper triangles. With SKLEARN_PROJ.npy SKLEARN_SV.npy
 * (from ref_reduce.py --save) scikit-learn's result is scored the same way.
 *   usage: bench_reduce IN.npy [K] [REPEATS] [SKLEARN_PROJ.npy SKLEARN_SV.npy]
 * Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, set by the caller. */
#include "latentrsa/npy.h"
#include "latentrsa/reduce.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed run: copy, z-score, SVD. Returns seconds (excluding the copy) or -1. */
static double run_once(const lrsa_tensor *X, lrsa_svd_solver solver, int64_t k, lrsa_svd_result *res)
{
    int64_t n = X->shape[0], d = X->shape[1];
    float *Y = malloc(sizeof *Y * (size_t)(n * d));
    if (!Y)
        return -1;
    memcpy(Y, X->data, sizeof *Y * (size_t)(n * d));
    lrsa_svd_opts o;
    lrsa_svd_opts_init(&o);
    o.solver = solver;
    o.k = k;
    if (getenv("TOPK_TOL"))
        o.tol = atof(getenv("TOPK_TOL"));
    if (getenv("TOPK_BLOCK"))
        o.block = atoll(getenv("TOPK_BLOCK"));
    if (getenv("TOPK_ITER"))
        o.topk_iter = atoi(getenv("TOPK_ITER"));
    if (getenv("TOPK_OVERSAMPLE"))
        o.topk_oversample = atoll(getenv("TOPK_OVERSAMPLE"));
    lrsa_err err;
    lrsa_err_init(&err);
    double t0 = now();
    clock_t c0 = clock();
    int rc = lrsa_standardize(Y, n, d, NULL, NULL, NULL, NULL, &err);
    double tz = now() - t0, cz = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (!rc)
        rc = lrsa_svd_truncated(Y, n, d, &o, res, NULL, &err);
    double t = now() - t0;
    /* CPU time of all threads: on a shared machine with one thread it is what a quiet core takes */
    fprintf(stderr, "# %s: %.3f s wall, %.3f s cpu (z-scoring %.3f s wall, %.3f s cpu)\n",
            lrsa_svd_solver_name(solver), t, (double)(clock() - c0) / CLOCKS_PER_SEC, tz, cz);
    free(Y);
    if (rc) {
        fprintf(stderr, "bench_reduce: %s\n", err.msg);
        return -1;
    }
    return t;
}

/* 1 - Pearson between the rows of P (n x k) into R (n x n). */
static int rdm(const float *P, int64_t n, int64_t k, float *R)
{
    float *Z = calloc((size_t)(n * k), sizeof *Z);
    if (!Z)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        double m = 0, ss = 0;
        for (int64_t j = 0; j < k; j++)
            m += P[i * k + j];
        m /= (double)k;
        for (int64_t j = 0; j < k; j++)
            ss += (P[i * k + j] - m) * (P[i * k + j] - m);
        double inv = ss > 0 ? 1 / sqrt(ss) : 0;
        for (int64_t j = 0; j < k; j++)
            Z[i * k + j] = (float)((P[i * k + j] - m) * inv);
    }
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)k, -1.0f, Z, (int)k, 0.0f, R, (int)n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++)
            R[i * n + j] += 1.0f;
    free(Z);
    return 0;
}

static void score(const char *name, const float *P, const double *sv, const lrsa_svd_result *ex, float *Rex,
                  float *R)
{
    int64_t n = ex->n, k = ex->k;
    double dsv = 0, num = 0, den = 0;
    for (int64_t j = 0; j < k; j++)
        dsv = fmax(dsv, fabs(sv[j] - ex->singular_values[j]) / ex->singular_values[j]);
    for (int64_t i = 0; i < n * k; i++) {
        double t = (double)P[i] - ex->proj[i];
        num += t * t;
        den += (double)ex->proj[i] * ex->proj[i];
    }
    if (rdm(P, n, k, R)) {
        fprintf(stderr, "bench_reduce: out of memory\n");
        return;
    }
    double dmax = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, m = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double a = R[i * n + j], b = Rex[i * n + j];
            dmax = fmax(dmax, fabs(a - b));
            sa += a;
            sb += b;
            saa += a * a;
            sbb += b * b;
            sab += a * b;
            m++;
        }
    double r = (sab - sa * sb / m) / sqrt((saa - sa * sa / m) * (sbb - sb * sb / m));
    fprintf(stderr, "# %-10s vs exact: max rel singular value error %.3g, projection rel error %.3g, "
            "RDM max |diff| %.3g, RDM-RDM r %.9f\n", name, dsv, sqrt(num / den), dmax, r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_reduce IN.npy [K] [REPEATS] [SKLEARN_PROJ.npy SKLEARN_SV.npy]\n");
        return 2;
    }
    int64_t k = argc > 2 ? atoll(argv[2]) : 715;
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    if (repeats < 1 || repeats > 100)
        repeats = 3;
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *X = NULL;
    if (lrsa_npy_read_f32(argv[1], &X, &err) || X->ndim != 2) {
        fprintf(stderr, "bench_reduce: %s\n", X ? "expected a 2-d matrix" : err.msg);
        return 1;
    }
    enum { NS = 3 };
    const lrsa_svd_solver solvers[NS] = { LRSA_SVD_TOPK, LRSA_SVD_LANCZOS, LRSA_SVD_RANDOMIZED };
    const char *names[NS] = { "reduce_topk", "reduce_lanczos", "reduce_randomized" };
    lrsa_svd_result res[NS] = { { 0 } }, ex = { 0 };
    double t[100];
    for (int s = 0; s < NS; s++) {
        for (int r = 0; r < repeats; r++) {
            lrsa_svd_result_release(&res[s]);
            if ((t[r] = run_once(X, solvers[s], k, &res[s])) < 0)
                return 1;
        }
        qsort(t, (size_t)repeats, sizeof *t, cmp_double);
        printf("%s %.4f\n", names[s], t[repeats / 2]);
        fflush(stdout);
        if (solvers[s] != LRSA_SVD_RANDOMIZED)
            fprintf(stderr, "# %s: %d multiplications by G, converged %d, scaled residual %.2g\n",
                    lrsa_svd_solver_name(solvers[s]), res[s].iterations, res[s].converged, res[s].max_residual);
    }
    double te = run_once(X, LRSA_SVD_EXACT, k, &ex);
    if (te < 0)
        return 1;
    printf("reduce_exact %.4f\n", te);
    fflush(stdout);
    int64_t n = X->shape[0];
    float *Rex = malloc(sizeof *Rex * (size_t)(n * n)), *R = malloc(sizeof *R * (size_t)(n * n));
    if (!Rex || !R || rdm(ex.proj, n, ex.k, Rex)) {
        fprintf(stderr, "bench_reduce: out of memory\n");
        return 1;
    }
    double evsum = 0;
    for (int64_t j = 0; j < ex.k; j++)
        evsum += ex.explained_variance_ratio[j];
    fprintf(stderr, "# %lld x %lld -> %lld components, explained variance ratio sum (exact) %.4f\n",
            (long long)n, (long long)X->shape[1], (long long)ex.k, evsum);
    for (int s = 0; s < NS; s++)
        score(lrsa_svd_solver_name(solvers[s]), res[s].proj, res[s].singular_values, &ex, Rex, R);
    if (argc > 5) {
        lrsa_tensor *Ps = NULL;
        lrsa_npy_mapping *sv = NULL;
        if (lrsa_npy_read_f32(argv[4], &Ps, &err) || lrsa_npy_map(argv[5], &sv, &err)) {
            fprintf(stderr, "bench_reduce: %s\n", err.msg);
            return 1;
        }
        double *s = malloc(sizeof *s * (size_t)sv->hdr.numel);
        lrsa_npy_decode_f64(&sv->hdr, sv->data, s);
        if (Ps->shape[0] == n && Ps->shape[1] == ex.k && sv->hdr.numel == ex.k)
            score("sklearn", Ps->data, s, &ex, Rex, R);
        else
            fprintf(stderr, "bench_reduce: scikit-learn result has another shape\n");
        free(s);
        lrsa_tensor_free(Ps);
        lrsa_npy_unmap(sv);
    }
    free(Rex);
    free(R);
    for (int s = 0; s < NS; s++)
        lrsa_svd_result_release(&res[s]);
    lrsa_svd_result_release(&ex);
    lrsa_tensor_free(X);
    return 0;
}
