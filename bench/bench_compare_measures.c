/* Time the RDM comparison measures on two upper triangles of N = 5000 stimuli (m = 12,497,500,
 * bench/make_compare_input.py): average-tie ranks, Spearman r, Kendall tau-a and Pearson r.
 * Prints "name seconds" lines (median of REPEATS) for scripts/bench, beside
 * bench/ref_compare_measures.py on the same files. Spearman ranks x and y on two threads when
 * OpenMP allows (OMP_NUM_THREADS >= 2); everything else is single-threaded.
 *   usage: bench_compare_measures X.npy Y.npy [REPEATS] */
#include "latentrsa/compare.h"
#include "latentrsa/npy.h"

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

static double *load(const char *path, int64_t *m)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *t = NULL;
    if (lrsa_npy_read_f32(path, &t, &err)) {
        fprintf(stderr, "bench_compare_measures: %s\n", err.msg);
        return NULL;
    }
    *m = lrsa_tensor_numel(t);
    double *v = malloc(sizeof *v * (size_t)*m);
    for (int64_t i = 0; v && i < *m; i++)
        v[i] = (double)t->data[i];
    lrsa_tensor_free(t);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_compare_measures X.npy Y.npy [REPEATS]\n");
        return 2;
    }
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    if (repeats < 1)
        repeats = 1;
    int64_t m = 0, my = 0;
    double *x = load(argv[1], &m), *y = load(argv[2], &my);
    if (!x || !y || m != my) {
        fprintf(stderr, "bench_compare_measures: cannot read two vectors of the same length\n");
        return 1;
    }
    double *ranks = malloc(sizeof *ranks * (size_t)m);
    const char *names[4] = { "rank_12.5M", "spearman_r", "kendall_tau_a", "pearson_r" };
    double *t[4];
    double value[4] = { 0 };
    for (int k = 0; k < 4; k++)
        t[k] = malloc(sizeof(double) * (size_t)repeats);
    lrsa_err err;
    lrsa_err_init(&err);
    for (int rep = 0; rep < repeats; rep++) {
        for (int k = 0; k < 4; k++) {
            double t0 = now();
            int rc;
            switch (k) {
            case 0:
                rc = lrsa_rank_average(x, m, ranks, &err);
                value[0] = ranks[0];
                break;
            case 1:
                rc = lrsa_compare_vectors(LRSA_CMP_SPEARMAN, x, y, m, &value[1], &err);
                break;
            case 2:
                rc = lrsa_compare_vectors(LRSA_CMP_KENDALL_TAU_A, x, y, m, &value[2], &err);
                break;
            default:
                rc = lrsa_compare_vectors(LRSA_CMP_PEARSON, x, y, m, &value[3], &err);
                break;
            }
            t[k][rep] = now() - t0;
            if (rc) {
                fprintf(stderr, "bench_compare_measures: %s: %s\n", names[k], err.msg);
                return 1;
            }
        }
    }
    for (int k = 0; k < 4; k++) {
        qsort(t[k], (size_t)repeats, sizeof(double), cmp_double);
        printf("%s %.4f\n", names[k], t[k][repeats / 2]);
        free(t[k]);
    }
    fprintf(stderr, "m %lld: rank[0] %.1f, spearman %.6f, tau-a %.6f, pearson %.6f\n",
            (long long)m, value[0], value[1], value[2], value[3]);
    free(x);
    free(y);
    free(ranks);
    return 0;
}
