/* Mantel permutation test and Spearman compare at N = 5000 (default): two seeded RDMs (Euclidean
 * distances of random points in 20 dimensions, the second sharing half its structure), then
 *   mantel_per_permutation_pearson    seconds per permutation ((8 + P) permutations minus 8, / P)
 *   mantel_per_permutation_spearman   the same for Spearman (ranks once, then permutes)
 *   spearman_compare                  the full Spearman compare (rank both + r, no test)
 *   bootstrap_per_resample_spearman   one bootstrap resample (weighted re-ranking; 10 minus 2, / 8)
 * Each is the median of R repeats (default 3). Usage: bench_mantel [N] [P] [R]
 * Lines are "name seconds". Threads: OMP_NUM_THREADS (or all cores). */
#include "latentrsa/inference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

static void make_rdm(float *R, int64_t n, const float *pts, int d)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++) {
        R[i * n + i] = 0.0f;
        for (int64_t j = i + 1; j < n; j++) {
            float s = 0.0f;
            for (int c = 0; c < d; c++) {
                float t = pts[i * d + c] - pts[j * d + c];
                s += t * t;
            }
            R[i * n + j] = R[j * n + i] = sqrtf(s);
        }
    }
}

/* Seconds of one lrsa_rsa_infer call. */
static double run(const float *A, const float *B, int64_t n, lrsa_cmp_method method, int64_t P,
                  int64_t Bt, double *r, double *p)
{
    lrsa_infer_opts o;
    lrsa_infer_opts_init(&o);
    o.method = method;
    o.permutations = P;
    o.bootstrap = Bt;
    o.seed = 1;
    lrsa_infer_result res;
    lrsa_err err;
    lrsa_err_init(&err);
    double t0 = now();
    if (lrsa_rsa_infer(A, B, n, &o, &res, NULL, &err) != LRSA_OK) {
        fprintf(stderr, "bench_mantel: %s\n", err.msg);
        exit(1);
    }
    double t = now() - t0;
    if (r)
        *r = res.r;
    if (p)
        *p = res.p_permutation;
    return t;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 5000;
    int64_t P = argc > 2 ? atoll(argv[2]) : 200;
    int R = argc > 3 ? atoi(argv[3]) : 3;
    if (n < 3 || P < 1 || R < 1 || R > 32) {
        fprintf(stderr, "usage: bench_mantel [N >= 3] [P >= 1] [R 1..32]\n");
        return 2;
    }
    const int d = 20;
    float *pa = malloc(sizeof *pa * (size_t)(n * d)), *pb = malloc(sizeof *pb * (size_t)(n * d));
    float *A = malloc(sizeof *A * (size_t)(n * n)), *B = malloc(sizeof *B * (size_t)(n * n));
    if (!pa || !pb || !A || !B) {
        fprintf(stderr, "bench_mantel: out of memory\n");
        return 1;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 20240601);
    for (int64_t k = 0; k < n * d; k++) {
        pa[k] = (float)lrsa_rng_normal(&rng);
        pb[k] = (float)(0.5 * pa[k] + lrsa_rng_normal(&rng));
    }
    make_rdm(A, n, pa, d);
    make_rdm(B, n, pb, d);
    free(pa);
    free(pb);

    double tp[32], ts[32], tc[32], tb[32], r = 0, p = 0;
    for (int k = 0; k < R; k++) {
        double base = run(A, B, n, LRSA_CMP_PEARSON, 8, 0, NULL, NULL);
        tp[k] = (run(A, B, n, LRSA_CMP_PEARSON, 8 + P, 0, &r, &p) - base) / (double)P;
    }
    fprintf(stderr, "pearson r %.6f, p %.6g over %lld permutations\n", r, p, (long long)P);
    for (int k = 0; k < R; k++) {
        tc[k] = run(A, B, n, LRSA_CMP_SPEARMAN, 0, 0, &r, NULL);
        double base = run(A, B, n, LRSA_CMP_SPEARMAN, 8, 0, NULL, NULL);
        ts[k] = (run(A, B, n, LRSA_CMP_SPEARMAN, 8 + P, 0, NULL, &p) - base) / (double)P;
    }
    fprintf(stderr, "spearman r %.6f, p %.6g over %lld permutations\n", r, p, (long long)P);
    int64_t nb = 8;
    for (int k = 0; k < R; k++) {
        double base = run(A, B, n, LRSA_CMP_SPEARMAN, 0, 2, NULL, NULL);
        tb[k] = (run(A, B, n, LRSA_CMP_SPEARMAN, 0, 2 + nb, NULL, NULL) - base) / (double)nb;
    }
    double mp = median(tp, R), ms = median(ts, R);
    printf("mantel_per_permutation_pearson %.6f\n", mp);
    printf("mantel_per_permutation_spearman %.6f\n", ms);
    printf("spearman_compare %.6f\n", median(tc, R));
    printf("bootstrap_per_resample_spearman %.6f\n", median(tb, R));
    fprintf(stderr, "10,000 permutations (spearman): about %.0f s\n", ms * 10000 + median(tc, R));
    free(A);
    free(B);
    return 0;
}
