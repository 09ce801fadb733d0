/* Read every volume of one BOLD run (.nii.gz) as float32, as a user of `get_fdata(dtype=float32)`
 * would, and the 37 trial volumes of the paper's rule in one pass. Prints seconds per read
 * (median of REPEATS) as "name seconds" lines for scripts/bench.
 *   usage: bench_nifti_read FILE.nii.gz [REPEATS] */
#include "latentrsa/nifti.h"

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

/* Read the listed volumes in one pass and convert each to float; returns seconds or -1. */
static double read_once(const char *path, int64_t n, const int64_t *vols, float *buf, size_t cap,
                        double *checksum)
{
    lrsa_err err;
    lrsa_err_init(&err);
    double t0 = now();
    lrsa_nifti_bricks *b = NULL;
    if (lrsa_nifti_read_bricks(path, n, vols, &b, &err)) {
        fprintf(stderr, "bench_nifti_read: %s\n", err.msg);
        return -1;
    }
    const lrsa_nifti_header *h = lrsa_nifti_bricks_header(b);
    size_t nvox = (size_t)(h->dims[0] * h->dims[1] * h->dims[2]);
    for (int64_t i = 0; i < n; i++) {
        float *dst = buf + (cap >= nvox * (size_t)n ? (size_t)i * nvox : 0);
        if (lrsa_nifti_bricks_volume(b, i, dst, nvox, &err)) {
            fprintf(stderr, "bench_nifti_read: %s\n", err.msg);
            lrsa_nifti_bricks_free(b);
            return -1;
        }
        *checksum += dst[nvox / 2];
    }
    lrsa_nifti_bricks_free(b);
    return now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_nifti_read FILE.nii.gz [REPEATS]\n");
        return 2;
    }
    const char *path = argv[1];
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_nifti_header h;
    if (lrsa_nifti_read_header(path, &h, &err)) {
        fprintf(stderr, "bench_nifti_read: %s\n", err.msg);
        return 1;
    }
    int64_t nt = h.dims[3];
    size_t nvox = (size_t)(h.dims[0] * h.dims[1] * h.dims[2]);
    int64_t *all = malloc(sizeof *all * (size_t)nt);
    for (int64_t t = 0; t < nt; t++)
        all[t] = t;
    /* The paper's trial volumes: int(StimOff / TR) = 3 + 5k for 37 trials (specs/data.md 1.4). */
    int64_t trials[37];
    int ntrials = 0;
    for (int k = 0; k < 37 && 3 + 5 * k < nt; k++)
        trials[ntrials++] = 3 + 5 * k;
    /* Like get_fdata, the whole run ends up in memory as float32. */
    float *buf = malloc(sizeof(float) * nvox * (size_t)nt);
    if (!all || !buf) {
        fprintf(stderr, "bench_nifti_read: out of memory\n");
        return 1;
    }
    double checksum = 0, t_all[64], t_trials[64];
    if (repeats < 1 || repeats > 64)
        repeats = 3;
    for (int r = 0; r < repeats; r++) {
        t_all[r] = read_once(path, nt, all, buf, nvox * (size_t)nt, &checksum);
        t_trials[r] = read_once(path, ntrials, trials, buf, nvox * (size_t)nt, &checksum);
        if (t_all[r] < 0 || t_trials[r] < 0)
            return 1;
    }
    qsort(t_all, (size_t)repeats, sizeof(double), cmp_double);
    qsort(t_trials, (size_t)repeats, sizeof(double), cmp_double);
    printf("whole_run %.4f\n", t_all[repeats / 2]);
    printf("trial_volumes %.4f\n", t_trials[repeats / 2]);
    fprintf(stderr, "(checksum %g, %lld volumes of %zu voxels)\n", checksum, (long long)nt, nvox);
    free(all);
    free(buf);
    return 0;
}
