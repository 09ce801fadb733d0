/* Pillow-exact bilinear resize of one RGB image, as render (a 660x350 slice to the autoencoder's
 * 672x672) and embed-images (a 500x375 BOLD5000 stimulus to ViT's 224x224) do it. The source is
 * uniform noise with a fixed seed. Prints "name seconds" lines for scripts/bench: seconds per
 * resize, the median of REPEATS (each the mean of a batch of calls). Single-threaded, as Pillow.
 *   usage: bench_resize [REPEATS] */
#include "latentrsa/imgproc.h"

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

static int run(const char *name, int64_t sw, int64_t sh, int64_t dw, int64_t dh, int repeats)
{
    uint8_t *src = malloc((size_t)(sw * sh * 3)), *dst = malloc((size_t)(dw * dh * 3));
    double *t = malloc(sizeof *t * (size_t)repeats);
    if (!src || !dst || !t) {
        fprintf(stderr, "bench_resize: out of memory\n");
        return 1;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 42);
    for (int64_t i = 0; i < sw * sh * 3; i++)
        src[i] = (uint8_t)lrsa_rng_below(&rng, 256);
    lrsa_err err;
    lrsa_err_init(&err);
    const int batch = 5;
    unsigned checksum = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int b = 0; b < batch; b++) {
            if (lrsa_resize_bilinear_rgb8(src, sw, sh, dst, dw, dh, &err)) {
                fprintf(stderr, "bench_resize: %s\n", err.msg);
                return 1;
            }
            checksum += dst[(size_t)b];
        }
        t[r] = (now() - t0) / batch;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    printf("%s %.6f\n", name, t[repeats / 2]);
    fprintf(stderr, "%s: %lldx%lld -> %lldx%lld (checksum %u)\n", name, (long long)sw,
            (long long)sh, (long long)dw, (long long)dh, checksum);
    free(src);
    free(dst);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 11;
    if (repeats < 1)
        repeats = 1;
    if (run("resize_672", 660, 350, 672, 672, repeats) || run("resize_224", 500, 375, 224, 224, repeats))
        return 1;
    return 0;
}
