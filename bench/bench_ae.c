/* The paper's autoencoder: one training step (forward + backward + Adam) and encoder-only
 * inference, median of REPEATS after one warm-up, as "name seconds" lines:
 *   ae_train_step   seconds for one step on BATCH images (img/s = BATCH / seconds)
 *   ae_encode       seconds to encode BATCH images
 * bench/ref_ae.py prints the same names for PyTorch on the same sizes and threads. With --layers,
 * every layer's forward and backward is also timed alone (ae_<enc|dec><l>_<fwd|bwd> seconds) and
 * stderr shows its GFLOP/s: the roofline table of docs/ae.md.
 *   usage: bench_ae [--layers] [HW] [BATCH] [REPEATS]     (defaults 672 8 3)
 * Threads: OpenMP's (OMP_NUM_THREADS); OpenBLAS runs single-threaded inside our parallel regions. */
#include "latentrsa/ae.h"

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

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Multiply-adds of one image through conv layer (enc or dec) l: OC*C*9 per output (enc) or input
 * (dec) pixel. */
static double layer_macs(const lrsa_ae_config *cfg, int dec, int l)
{
    int d = cfg->depth;
    int64_t cin, cout, h;
    if (!dec) {
        cin = l ? cfg->channels[l - 1] : cfg->in_channels;
        cout = cfg->channels[l];
        h = cfg->height >> (l + 1); /* output pixels */
        return (double)cin * cout * 9 * h * (cfg->width >> (l + 1));
    }
    cin = cfg->channels[d - 1 - l];
    cout = l == d - 1 ? cfg->in_channels : cfg->channels[d - 2 - l];
    h = cfg->height >> (d - l); /* input pixels */
    return (double)cin * cout * 9 * h * (cfg->width >> (d - l));
}

int main(int argc, char **argv)
{
    int layers = 0, ai = 1;
    if (argc > 1 && strcmp(argv[1], "--layers") == 0) {
        layers = 1;
        ai++;
    }
    int64_t hw = argc > ai ? atoll(argv[ai]) : 672, B = argc > ai + 1 ? atoll(argv[ai + 1]) : 8;
    int repeats = argc > ai + 2 ? atoi(argv[ai + 2]) : 3;
    if (hw < 32 || hw % 32 || B < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_ae [--layers] [HW (multiple of 32)] [BATCH] [REPEATS]\n");
        return 2;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae_config cfg;
    lrsa_ae_config_default(&cfg);
    cfg.height = cfg.width = hw;
    lrsa_ae *ae = NULL;
    if (lrsa_ae_new(&cfg, &ae, &err) != LRSA_OK || lrsa_ae_alloc(ae, B, threads, &err) != LRSA_OK) {
        fprintf(stderr, "bench_ae: %s\n", err.msg);
        return 1;
    }
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 1);
    lrsa_ae_init_pytorch(ae, &rng);
    int64_t D = lrsa_ae_image_dim(&cfg), L = lrsa_ae_latent_dim(&cfg);
    float *x = malloc((size_t)(B * D) * sizeof *x), *z = malloc((size_t)(B * L) * sizeof *z);
    double *t = malloc((size_t)repeats * sizeof *t);
    if (!x || !z || !t) {
        fprintf(stderr, "bench_ae: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < B * D; i++)
        x[i] = (float)lrsa_rng_uniform(&rng);
    lrsa_adam_opts opt;
    lrsa_adam_opts_default(&opt);
    double loss = 0, macs = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int l = 0; l < cfg.depth; l++)
            macs += layer_macs(&cfg, dec, l);
    /* training: forward 2*macs, backward 4*macs less the first layer's input gradient */
    double train_flops = (double)B * (6 * macs - 2 * layer_macs(&cfg, 0, 0));
    double enc_flops = 0;
    for (int l = 0; l < cfg.depth; l++)
        enc_flops += 2 * (double)B * layer_macs(&cfg, 0, l);

    lrsa_ae_train_step(ae, x, B, &opt, 1, &loss, NULL, &err); /* warm-up */
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        if (lrsa_ae_train_step(ae, x, B, &opt, r + 2, &loss, NULL, &err) != LRSA_OK) {
            fprintf(stderr, "bench_ae: %s\n", err.msg);
            return 1;
        }
        t[r] = now() - t0;
    }
    double ts = median(t, repeats);
    printf("ae_train_step %.4f\n", ts);
    fprintf(stderr, "(train: %lldx3x%lldx%lld batch %lld, %d threads: %.2f img/s, %.1f GFLOP/s, loss %.5f)\n",
            (long long)hw, (long long)hw, (long long)hw, (long long)B, threads, (double)B / ts,
            train_flops / ts * 1e-9, loss);

    lrsa_ae_encode(ae, x, B, z, NULL, &err);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        lrsa_ae_encode(ae, x, B, z, NULL, &err);
        t[r] = now() - t0;
    }
    double te = median(t, repeats);
    printf("ae_encode %.4f\n", te);
    fprintf(stderr, "(encode: %.2f img/s, %.1f GFLOP/s)\n", (double)B / te, enc_flops / te * 1e-9);

    if (layers) {
        /* each layer alone on its own activations (already filled by the last forward) */
        lrsa_ae_forward(ae, x, B, &loss, NULL, &err);
        int d = cfg.depth;
        int64_t max_act = 0;
        for (int a = 0; a < 2 * d; a++)
            if (ae->act_size[a] > max_act)
                max_act = ae->act_size[a];
        float *g = ae->dacts, *g2 = ae->dacts + B * max_act;
        for (int64_t i = 0; i < B * max_act; i++)
            g[i] = 1e-3f;
        fprintf(stderr, "%-6s %-4s %8s %8s %8s\n", "layer", "pass", "ms", "GFLOP/s", "%peak200");
        for (int dec = 0; dec < 2; dec++)
            for (int l = 0; l < d; l++)
                for (int bwd = 0; bwd < 2; bwd++) {
                    int64_t cin, cout, h, w;
                    const float *in;
                    float *out = ae->acts + ae->max_batch * ae->act_offset[dec ? d + l : l];
                    if (!dec) {
                        cin = l ? cfg.channels[l - 1] : 3;
                        cout = cfg.channels[l];
                        h = w = hw >> l;
                        in = l ? ae->acts + ae->max_batch * ae->act_offset[l - 1] : x;
                    } else {
                        cin = cfg.channels[d - 1 - l];
                        cout = l == d - 1 ? 3 : cfg.channels[d - 2 - l];
                        h = w = hw >> (d - l);
                        in = ae->acts + ae->max_batch * ae->act_offset[l ? d + l - 1 : d - 1];
                    }
                    int pw = dec ? 2 * d + 2 * l : 2 * l;
                    float *dw = ae->grads + ae->param[pw].offset, *db = ae->grads + ae->param[pw + 1].offset;
                    const float *wt = ae->params + ae->param[pw].offset, *bs = ae->params + ae->param[pw + 1].offset;
                    float *dinp = (!dec && l == 0) ? NULL : g2;
                    for (int r = -1; r < repeats; r++) {
                        double t0 = now();
                        if (!bwd && !dec)
                            lrsa_conv2d_forward(out, in, wt, bs, B, cin, h, w, cout, ae->scratch, threads);
                        else if (!bwd)
                            lrsa_convt2d_forward(out, in, wt, bs, B, cin, h, w, cout, ae->scratch, threads);
                        else if (!dec)
                            lrsa_conv2d_backward(dinp, dw, db, g, in, wt, B, cin, h, w, cout, ae->scratch, threads);
                        else
                            lrsa_convt2d_backward(dinp, dw, db, g, in, wt, B, cin, h, w, cout, ae->scratch, threads);
                        if (r >= 0)
                            t[r] = now() - t0;
                    }
                    double tl = median(t, repeats);
                    double fl = 2 * (double)B * layer_macs(&cfg, dec, l) * (bwd ? (dinp ? 2 : 1) : 1);
                    char name[32];
                    snprintf(name, sizeof name, "ae_%s%d_%s", dec ? "dec" : "enc", l, bwd ? "bwd" : "fwd");
                    printf("%s %.5f\n", name, tl);
                    fprintf(stderr, "%s%-3d %-4s %8.1f %8.1f %8.1f\n", dec ? "dec" : "enc", l,
                            bwd ? "bwd" : "fwd", tl * 1e3, fl / tl * 1e-9, fl / tl * 1e-9 / 2.0);
                }
    }
    free(x);
    free(z);
    free(t);
    lrsa_ae_free(ae);
    return 0;
}
