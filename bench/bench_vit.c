/* ViT-B/16 forward at 224 x 224, batch 8: our engine's throughput.
 * The model is `vit-init --config base --seed 1` built in memory (or DIR if given, a Hugging Face
 * directory); the pixels are 8 seeded images (lrsa_rng seed 7, uniform [-1, 1)). One warm-up
 * forward, then the median of REPEATS (default 3) forwards of last_hidden_state.
 * Prints "vit_b16_batch8 S" (seconds per batch), then img/s and GFLOP/s (35.1 GFLOP per image at
 * 224^2, specs/vit.md 3.1, computed from the config) on stdout; on stderr also GFLOP per
 * CPU-second of all threads (compare with bench_sgemm's, which is robust to a shared machine).
 *   usage: bench_vit [DIR] [REPEATS]        threads: OMP_NUM_THREADS */
#include "latentrsa/vit.h"

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* multiply-adds per image, times 2 */
static double flops_per_image(const lrsa_vit_config *c)
{
    double g = (double)(c->image_size / c->patch_size), P = g * g, T = P + 1;
    double C = (double)c->hidden_size, I = (double)c->intermediate_size;
    double K = (double)c->num_channels * (double)(c->patch_size * c->patch_size);
    double layer = T * C * 3 * C + T * C * C + 2 * T * C * I + 2 * T * T * C;
    return 2.0 * (P * K * C + (double)c->num_hidden_layers * layer);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (repeats < 1 || repeats > 50) {
        fprintf(stderr, "usage: bench_vit [DIR] [REPEATS]\n");
        return 2;
    }
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ctx ctx;
    lrsa_ctx_init(&ctx);
    lrsa_vit *vit = NULL;
    lrsa_vit_config cfg;
    int rc = dir ? lrsa_vit_load(dir, &vit, &err)
                 : (lrsa_vit_config_preset("base", &cfg, &err) ||
                    lrsa_vit_new_random(&cfg, 1, &vit, &err));
    if (rc) {
        fprintf(stderr, "bench_vit: %s\n", err.msg);
        return 1;
    }
    cfg = *lrsa_vit_get_config(vit);
    const int64_t B = 8;
    int64_t per = cfg.num_channels * cfg.image_size * cfg.image_size;
    int64_t odim = lrsa_vit_output_dim(vit, LRSA_VIT_LAST_HIDDEN_STATE);
    float *px = malloc(sizeof(float) * (size_t)(B * per));
    float *out = malloc(sizeof(float) * (size_t)(B * odim));
    if (!px || !out) {
        fprintf(stderr, "bench_vit: out of memory\n");
        return 1;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 7);
    for (int64_t i = 0; i < B * per; i++)
        px[i] = (float)(2.0 * lrsa_rng_uniform(&rng) - 1.0);
    double t[50], cpu[50];
    for (int r = -1; r < repeats; r++) {
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (lrsa_vit_forward(vit, px, B, LRSA_VIT_LAST_HIDDEN_STATE, 0, out, &ctx, &err)) {
            fprintf(stderr, "bench_vit: %s\n", err.msg);
            return 1;
        }
        if (r >= 0) {
            t[r] = clock_s(CLOCK_MONOTONIC) - t0;
            cpu[r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    }
    qsort(t, (size_t)repeats, sizeof t[0], cmp_double);
    qsort(cpu, (size_t)repeats, sizeof cpu[0], cmp_double);
    double med = t[repeats / 2];
    double gf = flops_per_image(&cfg) * 1e-9;
    printf("vit_b16_batch8 %.4f\n", med);
    printf("vit_b16_batch8_img_per_s %.3f\n", (double)B / med);
    printf("vit_b16_batch8_gflops %.1f\n", (double)B * gf / med);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* CPU time of all threads: less sensitive to other processes on a shared machine */
    fprintf(stderr, "(batch %lld at %lld^2, %.2f GFLOP per image, median of %d, %d threads, "
            "%.1f GFLOP per CPU-second, checksum %.6g)\n", (long long)B, (long long)cfg.image_size,
            gf, repeats, threads, (double)B * gf / cpu[repeats / 2], (double)out[odim / 2]);
    free(px);
    free(out);
    lrsa_vit_free(vit);
    return 0;
}
