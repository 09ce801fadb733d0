/* The paper's autoencoder: one training step (forward + backward + Adam) and encoder-only
 * inference, median of REPEATS after one warm-up, as "name seconds" lines:
 *   ae_train_step   seconds for one step on BATCH images (img/s = BATCH / seconds)
 *   ae_encode       seconds to encode BATCH images
 * bench/ref_ae.py prints the same names for PyTorch on the same sizes and threads. With --layers,
 * every layer's forward and backward is also timed alone (ae_<enc|dec><l>_<fwd|bwd> seconds) and
 * stderr shows its GFLOP/s (median, and the best repeat: this machine is shared): the roofline
 * table of docs/ae.md; "bwd" is the whole backward, "bdw" the weight gradient alone.
 * --path gemm runs every layer on im2col + sgemm instead of the per-layer choice (auto: the
 * direct kernels where src/nn/conv.c's rule says, docs/ae.md). --compare (implies --layers) also
 * times each layer on im2col + sgemm, alternating with the chosen kernels repeat by repeat in the
 * same process (this machine is shared: separate runs drift by tens of percent).
 *   usage: bench_ae [--layers] [--compare] [--path auto|gemm] [HW] [BATCH] [REPEATS]
 *   (defaults 672 8 3)
 * Threads: OpenMP's (OMP_NUM_THREADS); OpenBLAS runs single-threaded inside our parallel regions. */
#include "latentrsa/ae.h"

#include "../src/nn/conv_internal.h"

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
    int layers = 0, compare = 0, path_rule = LRSA__PATH_AUTO, ai = 1;
    for (;;) {
        if (argc > ai && strcmp(argv[ai], "--layers") == 0) {
            layers = 1;
            ai++;
        } else if (argc > ai && strcmp(argv[ai], "--compare") == 0) {
            layers = compare = 1;
            ai++;
        } else if (argc > ai + 1 && strcmp(argv[ai], "--path") == 0) {
            const char *p = argv[ai + 1];
            path_rule = strcmp(p, "gemm") == 0 ? LRSA__PATH_GEMM : LRSA__PATH_AUTO;
            lrsa__conv_set_path(path_rule);
            ai += 2;
        } else {
            break;
        }
    }
    int64_t hw = argc > ai ? atoll(argv[ai]) : 672, B = argc > ai + 1 ? atoll(argv[ai + 1]) : 8;
    int repeats = argc > ai + 2 ? atoi(argv[ai + 2]) : 3;
    if (hw < 32 || hw % 32 || B < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_ae [--layers] [--compare] [--path auto|gemm] "
                        "[HW (multiple of 32)] [BATCH] [REPEATS]\n");
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
    double *t = malloc((size_t)repeats * sizeof *t), *tgs = calloc((size_t)repeats, sizeof *tgs);
    if (!x || !z || !t || !tgs) {
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
        fprintf(stderr, "%-6s %-4s %8s %8s %8s %8s %6s%s\n", "layer", "pass", "ms", "GFLOP/s",
                "%peak200", "best ms", "path",
                compare ? "  gemm ms  best ms  gemm/ms" : "");
        for (int dec = 0; dec < 2; dec++)
            for (int l = 0; l < d; l++)
                for (int bwd = 0; bwd < 3; bwd++) {
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
                    float *dinp = (!dec && l == 0) || bwd == 2 ? NULL : g2;
                    if (bwd == 2 && !dec && l == 0)
                        continue; /* the same as bwd */
                    /* with --compare, alternate repeat by repeat: im2col + sgemm (into tg),
                     * then the rule (into t) */
                    for (int r = -1; r < repeats; r++)
                        for (int pj = compare ? 0 : 1; pj < 2; pj++) {
                            if (compare)
                                lrsa__conv_set_path(pj ? path_rule : LRSA__PATH_GEMM);
                            double t0 = now();
                            if (!bwd && !dec)
                                lrsa_conv2d_forward(out, in, wt, bs, B, cin, h, w, cout,
                                                    ae->scratch, threads);
                            else if (!bwd)
                                lrsa_convt2d_forward(out, in, wt, bs, B, cin, h, w, cout,
                                                     ae->scratch, threads);
                            else if (!dec)
                                lrsa_conv2d_backward(dinp, dw, db, g, in, wt, B, cin, h, w, cout,
                                                     ae->scratch, threads);
                            else
                                lrsa_convt2d_backward(dinp, dw, db, g, in, wt, B, cin, h, w, cout,
                                                      ae->scratch, threads);
                            if (r >= 0)
                                (pj ? t : tgs)[r] = now() - t0;
                        }
                    /* median() sorts: element 0 is then the best repeat */
                    double tl = median(t, repeats), best = t[0];
                    double tg = compare ? median(tgs, repeats) : 0, bg = tgs[0];
                    if (compare)
                        lrsa__conv_set_path(path_rule);
                    double fl = 2 * (double)B * layer_macs(&cfg, dec, l) * (bwd ? (dinp ? 2 : 1) : 1);
                    const char *pn = bwd == 0 ? "fwd" : bwd == 1 ? "bwd" : "bdw";
                    char name[32], path[8];
                    snprintf(name, sizeof name, "ae_%s%d_%s", dec ? "dec" : "enc", l, pn);
                    printf("%s %.5f\n", name, tl);
                    snprintf(path, sizeof path, "%s",
                             lrsa__conv_uses_direct(dec, cin, h, w, cout) ? "direct" : "gemm");
                    fprintf(stderr, "%s%-3d %-4s %8.1f %8.1f %8.1f %8.1f %6s",
                            dec ? "dec" : "enc", l, pn, tl * 1e3, fl / tl * 1e-9,
                            fl / tl * 1e-9 / 2.0, best * 1e3, path);
                    if (compare)
                        fprintf(stderr, " %8.1f %8.1f %6.2fx", tg * 1e3, bg * 1e3, tg / tl);
                    fputc('\n', stderr);
                }
    }
    free(x);
    free(z);
    free(t);
    free(tgs);
    lrsa_ae_free(ae);
    return 0;
}
