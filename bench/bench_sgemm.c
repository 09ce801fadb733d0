/* This machine's OpenBLAS SGEMM peak: C = A B with square float32 matrices (default 4096^3),
 * best of REPEATS, as "sgemm_gflops X" (2 n^3 flops per product) and "sgemm S" seconds, so that
 * other benches can report a percentage of it. Threads: OpenMP's (OMP_NUM_THREADS). On stderr, the
 * flops per CPU-second of all threads too (less sensitive to other processes on a shared machine).
 *   usage: bench_sgemm [N] [REPEATS] */
#include "latentrsa/core.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (n < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_sgemm [N] [REPEATS]\n");
        return 2;
    }
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_sgemm: out of memory\n");
        return 1;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 1);
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)lrsa_rng_uniform(&rng) - 0.5f;
        b[i] = (float)lrsa_rng_uniform(&rng) - 0.5f;
        c[i] = 0.0f; /* touch the pages before timing */
    }
    /* one untimed call warms OpenBLAS's thread pool and buffers */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeats; r++) {
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_s(CLOCK_MONOTONIC);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = clock_s(CLOCK_MONOTONIC) - t0, tc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = tc < best_cpu ? tc : best_cpu;
    }
    double gflops = 2.0 * (double)n * (double)n * (double)n / best * 1e-9;
    printf("sgemm %.4f\n", best);
    printf("sgemm_gflops %.1f\n", gflops);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    fprintf(stderr, "(%d x %d x %d, best of %d, %d threads, %.1f GFLOP per CPU-second, checksum %g)\n", n, n,
            n, repeats, threads, 2.0 * (double)n * n * n / best_cpu * 1e-9, (double)c[nn / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
