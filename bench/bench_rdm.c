/* The correlation RDM of a seeded N x D float32 matrix (default 5000 x 715, the paper's size):
 * validate the fast path against the pair-by-pair reference on the first rows, then time it
 * (median of REPEATS) and report GFLOP/s and the percentage of this machine's SGEMM peak.
 *
 *   usage: bench_rdm [--n N] [--d D] [--repeats R] [--seed S] [--peak GFLOPS]
 *                    [--write-input PATH] [--input PATH] [--quick]
 *
 * --write-input PATH writes the generated matrix with lrsa_npy_write_f32 (for bench/ref_rdm.py,
 * which must time numpy on the same data); --input PATH times a given .npy instead. --peak takes
 * bench_sgemm's "sgemm_gflops"; without it a 4096^3 SGEMM (best of 3) is measured here.
 *
 * Lines printed ("name value"):
 *   rdm_correlation S          seconds, lrsa_rdm_compute into a reused (warm) output buffer
 *   rdm_correlation_alloc S    the same plus allocating and first touching a fresh output buffer
 *                              (what the CLI pays; numpy allocates its result every time)
 *   rdm_normalize S            the row normalisation alone (centre, unit norm, in double)
 *   rdm_ssyrk_fill S           the alternative: normalise, one threaded SSYRK over the whole
 *                              matrix, then a blocked pass that writes 1 - r and mirrors the
 *                              upper triangle (kept for comparison; the library uses tiles)
 *   ssyrk S                    that SSYRK alone
 *   rdm_correlation_gflops X   N^2 D / rdm_correlation: the flop convention counts the useful
 *                              half of the Gram matrix, N(N+1)/2 dot products of 2D flops ~ N^2 D
 *   rdm_correlation_peak_pct X 100 rdm_correlation_gflops / SGEMM peak
 *   sgemm_gflops X             the peak used
 * --quick times rdm_correlation only (for profiling). On stderr: the thread count and the CPU
 * seconds rdm_correlation used (process time, all threads: on a shared machine, wall time over
 * CPU time / threads shows how much of the machine the bench actually had) and, when the peak
 * was measured here, the same percentage computed from CPU time instead of wall time (robust to
 * other processes taking turns on the cores; spinning OpenMP threads count against us).
 * Threads: OpenMP's (OMP_NUM_THREADS). */
#include "latentrsa/npy.h"
#include "latentrsa/rdm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

/* 4096^3 SGEMM, best of 3: GFLOP/s, and (in *cpu_gflops) GFLOP per CPU-second of all threads. */
static double measure_sgemm_peak(double *cpu_gflops)
{
    const int n = 4096;
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c)
        return -1;
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 13) * 0.1f - 0.6f;
        b[i] = (float)(i % 7) * 0.1f - 0.3f;
        c[i] = 0;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < 3; r++) {
        double c0 = cpu_now(), t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0, tc = cpu_now() - c0;
        best = t < best ? t : best;
        best_cpu = tc < best_cpu ? tc : best_cpu;
    }
    free(a);
    free(b);
    free(c);
    *cpu_gflops = 2.0 * n * (double)n * n / best_cpu * 1e-9;
    return 2.0 * n * (double)n * n / best * 1e-9;
}

/* The SSYRK variant: U normalised rows, G = U U^T (upper, threaded OpenBLAS), then 1 - r into
 * the upper triangle and its mirror, in 64 x 64 blocks. */
#define FB 64
static void ssyrk_fill(float *R, float *U, const float *X, int64_t n, int64_t d, double *t_syrk)
{
    lrsa_rdm_normalize_rows(U, X, n, d, 1, NULL, NULL, NULL);
    double t0 = now();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0f, U, (int)d, 0.0f, R, (int)n);
    *t_syrk = now() - t0;
    int64_t nb = (n + FB - 1) / FB;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t i0 = bi * FB, i1 = i0 + FB < n ? i0 + FB : n;
        for (int64_t j0 = i0; j0 < n; j0 += FB) {
            int64_t j1 = j0 + FB < n ? j0 + FB : n;
            for (int64_t i = i0; i < i1; i++) {
                int64_t js = j0 > i + 1 ? j0 : i + 1;
                for (int64_t j = js; j < j1; j++) {
                    float r = R[i * n + j];
                    r = r > 1.0f ? 1.0f : r < -1.0f ? -1.0f : r;
                    R[i * n + j] = 1.0f - r;
                }
            }
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1 && i < j; i++)
                    R[j * n + i] = R[i * n + j];
        }
        for (int64_t i = i0; i < i1; i++)
            R[i * n + i] = 0.0f;
    }
}

int main(int argc, char **argv)
{
    int64_t n = 5000, d = 715;
    int repeats = 5;
    uint64_t seed = 20240611;
    double peak = 0;
    const char *write_input = NULL, *input = NULL;
    int quick = 0;
    for (int a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(argv[a], "--n") && v)
            n = atoll(argv[++a]);
        else if (!strcmp(argv[a], "--d") && v)
            d = atoll(argv[++a]);
        else if (!strcmp(argv[a], "--repeats") && v)
            repeats = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--seed") && v)
            seed = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--peak") && v)
            peak = atof(argv[++a]);
        else if (!strcmp(argv[a], "--write-input") && v)
            write_input = argv[++a];
        else if (!strcmp(argv[a], "--input") && v)
            input = argv[++a];
        else if (!strcmp(argv[a], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_rdm [--n N] [--d D] [--repeats R] [--seed S] [--peak GFLOPS] "
                            "[--write-input PATH] [--input PATH]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100)
        repeats = 5;
    lrsa_err err;
    lrsa_err_init(&err);
    float *X = NULL;
    lrsa_tensor *T = NULL;
    if (input) {
        if (lrsa_npy_read_f32(input, &T, &err) || T->ndim != 2) {
            fprintf(stderr, "bench_rdm: %s\n", err.msg[0] ? err.msg : "input is not a matrix");
            return 1;
        }
        n = T->shape[0];
        d = T->shape[1];
        X = T->data;
    } else {
        if (n < 2 || d < 1) {
            fprintf(stderr, "bench_rdm: bad size\n");
            return 2;
        }
        /* Embedding-like rows: a shared low-rank part (so that correlations spread over
         * [-1, 1]), per-row offsets and scales, and noise. */
        X = malloc(sizeof(float) * (size_t)(n * d));
        const int64_t rank = 16;
        double *basis = malloc(sizeof(double) * (size_t)(rank * d));
        if (!X || !basis) {
            fprintf(stderr, "bench_rdm: out of memory\n");
            return 1;
        }
        lrsa_rng rng;
        lrsa_rng_seed(&rng, seed);
        for (int64_t i = 0; i < rank * d; i++)
            basis[i] = lrsa_rng_normal(&rng);
        for (int64_t i = 0; i < n; i++) {
            double w[16], off = lrsa_rng_normal(&rng), sc = 0.5 + lrsa_rng_uniform(&rng);
            for (int64_t r = 0; r < rank; r++)
                w[r] = lrsa_rng_normal(&rng);
            for (int64_t k = 0; k < d; k++) {
                double v = 0.5 * lrsa_rng_normal(&rng);
                for (int64_t r = 0; r < rank; r++)
                    v += w[r] * basis[r * d + k];
                X[i * d + k] = (float)(off + sc * v);
            }
        }
        free(basis);
        if (write_input && lrsa_npy_write_f32(write_input, 2, (int64_t[]){ n, d }, X, &err)) {
            fprintf(stderr, "bench_rdm: %s\n", err.msg);
            return 1;
        }
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    float *R = malloc(sizeof(float) * (size_t)(n * n));
    float *U = malloc(sizeof(float) * (size_t)(n * d));
    if (!R || !U) {
        fprintf(stderr, "bench_rdm: out of memory\n");
        return 1;
    }

    /* ---- validate: the first m rows, fast vs the double reference -------------------------- */
    int64_t m = n < 600 ? n : 600;
    float *Rv = malloc(sizeof(float) * (size_t)(m * m)), *Rn = malloc(sizeof(float) * (size_t)(m * m));
    if (!Rv || !Rn || lrsa_rdm_compute(Rv, X, m, d, LRSA_RDM_CORRELATION, 0, NULL, NULL, &err) ||
        lrsa_rdm_compute_naive(Rn, X, m, d, LRSA_RDM_CORRELATION, 0, NULL, &err)) {
        fprintf(stderr, "bench_rdm: validation failed: %s\n", err.msg);
        return 1;
    }
    double maxdiff = 0;
    for (int64_t i = 0; i < m * m; i++)
        maxdiff = fmax(maxdiff, fabs((double)Rv[i] - (double)Rn[i]));
    fprintf(stderr, "(validation on the first %lld rows: max |fast - naive| = %.3g)\n", (long long)m, maxdiff);
    free(Rv);
    free(Rn);
    if (!(maxdiff <= 1e-5)) {
        fprintf(stderr, "bench_rdm: the fast path disagrees with the reference\n");
        return 1;
    }

    /* ---- time ------------------------------------------------------------------------------ */
    double t_rdm[100], c_rdm[100], t_alloc[100], t_norm[100], t_fill[100], t_syrk[100];
    if (lrsa_rdm_compute(R, X, n, d, LRSA_RDM_CORRELATION, 0, NULL, NULL, &err)) { /* warm up */
        fprintf(stderr, "bench_rdm: %s\n", err.msg);
        return 1;
    }
    double check = 0;
    for (int r = 0; r < repeats; r++) {
        double c0 = cpu_now(), t0 = now();
        lrsa_rdm_compute(R, X, n, d, LRSA_RDM_CORRELATION, 0, NULL, NULL, &err);
        t_rdm[r] = now() - t0;
        c_rdm[r] = cpu_now() - c0;
        check += R[n + 2];
        if (quick)
            continue;

        t0 = now();
        float *Rf = malloc(sizeof(float) * (size_t)(n * n));
        if (!Rf)
            return 1;
        lrsa_rdm_compute(Rf, X, n, d, LRSA_RDM_CORRELATION, 0, NULL, NULL, &err);
        t_alloc[r] = now() - t0;
        check += Rf[n + 2];
        free(Rf);

        t0 = now();
        lrsa_rdm_normalize_rows(U, X, n, d, 1, NULL, NULL, NULL);
        t_norm[r] = now() - t0;

        t0 = now();
        ssyrk_fill(R, U, X, n, d, &t_syrk[r]);
        t_fill[r] = now() - t0;
        check += R[n + 2];
    }
    double s = median(t_rdm, repeats);
    double gflops = (double)n * (double)n * (double)d / s * 1e-9;
    double sgemm_cpu = 0;
    if (peak <= 0)
        peak = measure_sgemm_peak(&sgemm_cpu);
    printf("rdm_correlation %.4f\n", s);
    if (!quick) {
        printf("rdm_correlation_alloc %.4f\n", median(t_alloc, repeats));
        printf("rdm_normalize %.4f\n", median(t_norm, repeats));
        printf("rdm_ssyrk_fill %.4f\n", median(t_fill, repeats));
        printf("ssyrk %.4f\n", median(t_syrk, repeats));
    }
    printf("rdm_correlation_gflops %.1f\n", gflops);
    printf("rdm_correlation_peak_pct %.1f\n", 100.0 * gflops / peak);
    printf("sgemm_gflops %.1f\n", peak);
    fprintf(stderr, "(%lld x %lld, median of %d, %d threads, rdm_correlation used %.4f CPU seconds, checksum %g)\n",
            (long long)n, (long long)d, repeats, threads, median(c_rdm, repeats), check);
    if (sgemm_cpu > 0) {
        /* On a shared machine wall time depends on what else runs; CPU time much less so. */
        double rdm_cpu = (double)n * (double)n * (double)d / median(c_rdm, repeats) * 1e-9;
        fprintf(stderr, "(CPU-time view: rdm %.1f GFLOP per CPU-second, sgemm %.1f: %.1f%% of peak)\n",
                rdm_cpu, sgemm_cpu, 100.0 * rdm_cpu / sgemm_cpu);
    }
    if (T)
        lrsa_tensor_free(T);
    else
        free(X);
    free(R);
    free(U);
    return 0;
}
