/* Render BOLD5000-sized volumes (106 x 106 x 69, int16, an oblique 2 mm affine) to 672 x 672
 * PNGs, as `latentrsa render` does (one workspace per thread, the fast PNG setting), and time
 * it. Prints "name seconds" lines (median of REPEATS batches; seconds per volume, i.e.
 * 1 / throughput, with all threads rendering a batch of BATCH volumes in parallel):
 *   render_cubic_png     paper look, cubic resampling, 660x350 -> 672x672, PNG written
 *   render_cubic_png_660x350  the same without the resize: the 660x350 figure as PNG, what
 *                        nilearn itself writes (the like-for-like row)
 *   render_linear_png    the same with --interp linear
 *   render_cubic         cubic, image in memory only (no PNG)
 *   render_square224     cubic, square 224 x 224 canvas, PNG written
 * each followed by NAME_cpu: the CPU time of the process (all threads) per volume, which a
 * shared machine disturbs less than the wall time; and "# bytes_per_png_672 N" (mean PNG size
 * of the batch) for the render-cache estimate.
 * The volume is written to VOLUME.nii.gz if that file does not exist, so that bench/ref_render.py
 * times nilearn on the same input.
 *   usage: bench_render VOLUME.nii.gz [REPEATS] [BATCH] [CASE]   (CASE: run only that one, for
 *   profiling) */
#include "latentrsa/image.h"
#include "latentrsa/nifti.h"
#include "latentrsa/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A brain-like ellipsoid (~500), a noisy background (~40, sd 30: some voxels above 100, as in
 * BOLD5000), a few bright vessels (~2000); 10 and 5 degree rotations. */
static int write_volume(const char *path)
{
    const int64_t nx = 106, ny = 106, nz = 69, n = nx * ny * nz;
    int16_t *d = malloc(sizeof *d * (size_t)n);
    if (!d)
        return -1;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 5000);
    for (int64_t k = 0; k < nz; k++)
        for (int64_t j = 0; j < ny; j++)
            for (int64_t i = 0; i < nx; i++) {
                double x = (i - 52.5) / 40, y = (j - 55.0) / 48, z = (k - 34.0) / 30;
                double r = x * x + y * y + z * z, v = 40 + 30 * lrsa_rng_normal(&rng);
                if (r < 1)
                    v = 500 + 60 * sin(i * 0.3) * cos(j * 0.2) + 25 * lrsa_rng_normal(&rng);
                if (r < 1 && (i % 17 == 3) && (j % 23 == 5))
                    v = 2000;
                d[i + nx * (j + ny * k)] = (int16_t)(v < 0 ? 0 : v);
            }
    lrsa_nifti_header h;
    memset(&h, 0, sizeof h);
    h.ndim = 3;
    h.dims[0] = nx, h.dims[1] = ny, h.dims[2] = nz, h.dims[3] = 1;
    h.datatype = 4; /* int16 */
    h.pixdim[0] = h.pixdim[1] = h.pixdim[2] = 2.0;
    h.pixdim[3] = 2.0;
    double ax = 10 * M_PI / 180, ay = 5 * M_PI / 180;
    double rx[3][3] = { { 1, 0, 0 }, { 0, cos(ax), -sin(ax) }, { 0, sin(ax), cos(ax) } };
    double ry[3][3] = { { cos(ay), 0, sin(ay) }, { 0, 1, 0 }, { -sin(ay), 0, cos(ay) } };
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            double m = 0;
            for (int k = 0; k < 3; k++)
                m += rx[r][k] * ry[k][q];
            h.affine[r][q] = 2.0 * m;
        }
    h.affine[0][3] = -105, h.affine[1][3] = -90, h.affine[2][3] = -60, h.affine[3][3] = 1;
    h.scl_slope = 1;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_nifti_write(path, &h, d, &err);
    if (rc)
        fprintf(stderr, "bench_render: %s\n", err.msg);
    free(d);
    return rc ? -1 : 0;
}

/* The volumes of a batch: NVAR slightly different copies of the base volume (volume b of a
 * batch is variant b % NVAR), made before the clock starts, as the reference gets its image
 * in memory before timing. */
#define NVAR 5

/* Render `batch` volumes in parallel; wall seconds per volume (CPU seconds per volume in
 * *cpu). */
static double run_batch(float *const vars[NVAR], const int64_t dims[3], const double aff[4][4],
                        const lrsa_render_opts *o, int batch, const char *dir, int png,
                        double *bytes, double *cpu)
{
    lrsa_png_opts po;
    lrsa_png_opts_fast(&po);
    int64_t w, h;
    lrsa_render_output_size(o, &w, &h, NULL);
    int failed = 0;
    double total_bytes = 0;
    double t0 = now(), c0 = cpu_now();
#pragma omp parallel reduction(+ : failed, total_bytes)
    {
        uint8_t *rgb = malloc((size_t)(w * h * 3));
        lrsa_render_work *work = NULL;
        lrsa_render_work_new(&work, NULL);
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < batch; b++) {
            lrsa_err err;
            lrsa_err_init(&err);
            if (lrsa_render_volume_work(work, vars[b % NVAR], dims, aff, o, rgb, NULL, &err)) {
                failed++;
                continue;
            }
            if (png) {
                char path[1100];
                snprintf(path, sizeof path, "%s/bench_render_%d.png", dir, b);
                if (lrsa_image_write_png_ex(path, rgb, w, h, &po, &err)) {
                    failed++;
                    continue;
                }
                struct stat st;
                if (stat(path, &st) == 0)
                    total_bytes += (double)st.st_size;
                remove(path);
            }
        }
        free(rgb);
        lrsa_render_work_free(work);
    }
    double t = now() - t0;
    *cpu = (cpu_now() - c0) / batch;
    if (bytes)
        *bytes = total_bytes / batch;
    return failed ? -1 : t / batch;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_render VOLUME.nii.gz [REPEATS] [BATCH] [CASE]\n");
        return 2;
    }
    const char *path = argv[1];
    int repeats = argc > 2 ? atoi(argv[2]) : 3, batch = argc > 3 ? atoi(argv[3]) : 16;
    const char *only = argc > 4 ? argv[4] : NULL;
    struct stat st;
    if (stat(path, &st) != 0 && write_volume(path))
        return 1;
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_nifti_header h;
    float *vol = NULL;
    if (lrsa_nifti_read_volume(path, 0, &h, &vol, &err)) {
        fprintf(stderr, "bench_render: %s\n", err.msg);
        return 1;
    }
    int64_t n = h.dims[0] * h.dims[1] * h.dims[2];
    float *vars[NVAR];
    for (int b = 0; b < NVAR; b++) {
        if (!(vars[b] = malloc(sizeof *vars[b] * (size_t)n)))
            return 1;
        for (int64_t i = 0; i < n; i++)
            vars[b][i] = vol[i] + (float)((i * 7 + b * 13) % 5);
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    struct { const char *name; int interp, canvas, size, png; } cases[] = {
        { "render_cubic_png", LRSA_INTERP_CUBIC, LRSA_CANVAS_NILEARN, 672, 1 },
        { "render_cubic_png_660x350", LRSA_INTERP_CUBIC, LRSA_CANVAS_NILEARN, 0, 1 },
        { "render_linear_png", LRSA_INTERP_LINEAR, LRSA_CANVAS_NILEARN, 672, 1 },
        { "render_cubic", LRSA_INTERP_CUBIC, LRSA_CANVAS_NILEARN, 672, 0 },
        { "render_square224", LRSA_INTERP_CUBIC, LRSA_CANVAS_SQUARE, 224, 1 },
    };
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("# %lld x %lld x %lld volume, batch %d, %d threads, median of %d\n",
           (long long)h.dims[0], (long long)h.dims[1], (long long)h.dims[2], batch, threads, repeats);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (only && strcmp(only, cases[c].name) != 0)
            continue;
        lrsa_render_opts o;
        lrsa_render_opts_init(&o);
        o.interp = cases[c].interp;
        o.canvas = cases[c].canvas;
        o.size = cases[c].size;
        double *t = malloc(sizeof *t * (size_t)repeats * 2), *tc = t + repeats, bytes = 0;
        for (int r = 0; r < repeats; r++)
            if ((t[r] = run_batch(vars, h.dims, (const double(*)[4])h.affine, &o, batch, tmp,
                                  cases[c].png, &bytes, &tc[r])) < 0) {
                fprintf(stderr, "bench_render: %s failed\n", cases[c].name);
                return 1;
            }
        qsort(t, (size_t)repeats, sizeof *t, cmp_double);
        qsort(tc, (size_t)repeats, sizeof *tc, cmp_double);
        printf("%s %.6f\n", cases[c].name, t[repeats / 2]);
        printf("%s_cpu %.6f\n", cases[c].name, tc[repeats / 2]);
        if (c == 0)
            printf("# bytes_per_png_672 %.0f\n", bytes);
        free(t);
    }
    for (int b = 0; b < NVAR; b++)
        free(vars[b]);
    free(vol);
    return 0;
}
