/* The direct convolution kernels (src/nn/conv_direct.c) and the im2col + sgemm kernels against the
 * naive references, on shapes that reach the edges of the direct kernels: 1x1 and 2x3 images, odd
 * sizes (the transposed convolution cropped to an odd input gradient), widths that are not a
 * multiple of the 8-column vectors or of the 3-vector blocks, output channels that are not a
 * multiple of 4 or 16, one channel, and the largest layer the direct kernels take (32 channels on
 * the high-resolution side, 64 on the other). Every pass (forward with no activation, ReLU and
 * Sigmoid; backward with and without the input gradient and the ReLU mask) on both kernel paths,
 * serial and with 2 threads.
 *
 * Tolerances: |fast - naive| <= 1e-4 * (1 + |naive|) for outputs and input gradients (float sums of
 * up to 2304 products against double), weight gradients relative to the largest one (float sums
 * over up to 10^4 pixels); the fused epilogues equal the separate passes exactly; dweight and
 * dbias accumulate across backward calls (three calls give three times the gradient). */
#include "harness.h"
#include "latentrsa/ae.h"

#include "../../src/nn/conv_internal.h"
#include "../../src/nn/kernels.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TEST_THREADS 1 /* clang's libomp against Debian's libgomp OpenBLAS: see test_ae_layers.c */
#endif
#endif
#ifndef TEST_THREADS
#define TEST_THREADS 2
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static double max_rel(const float *a, const float *b, size_t n, double scale)
{
    double md = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) /
                   (scale > 0 ? scale : 1.0 + fabs((double)b[i]));
        if (!(d <= md))
            md = isnan(d) ? INFINITY : d;
    }
    return md;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

struct shape {
    int tr;
    int64_t B, C, H, W, OC;
};

static void one_case(const struct shape *s, int path, int check_direct, lrsa_rng *rng)
{
    const int tr = s->tr;
    const int64_t B = s->B, C = s->C, H = s->H, W = s->W, OC = s->OC;
    const int64_t OH = tr ? 2 * H : (H + 1) / 2, OW = tr ? 2 * W : (W + 1) / 2;
    const size_t nx = (size_t)(B * C * H * W), nw = (size_t)(C * OC * 9),
                 no = (size_t)(B * OC * OH * OW);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4),
          *dout = malloc(no * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4),
          *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4),
          *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4), *db1 = calloc((size_t)OC, 4),
          *db2 = calloc((size_t)OC, 4),
          *scr = malloc(2 * lrsa_conv_scratch_floats(C, H, W, OC, tr) * 4);
    for (size_t i = 0; i < nx; i++) /* a ReLU output: about a third exact zeros */
        x[i] = fmaxf(0.0f, (float)(lrsa_rng_uniform(rng) - 0.3));
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)(lrsa_rng_uniform(rng) - 0.5);
    for (int64_t i = 0; i < OC; i++)
        b[i] = (float)(lrsa_rng_uniform(rng) - 0.5);
    for (size_t i = 0; i < no; i++)
        dout[i] = (float)(lrsa_rng_uniform(rng) - 0.5);
    char what[160];
    snprintf(what, sizeof what, "%s B%lld C%lld %lldx%lld OC%lld %s", tr ? "convt" : "conv",
             (long long)B, (long long)C, (long long)H, (long long)W, (long long)OC,
             path == LRSA__PATH_GEMM ? "gemm" : lrsa__conv_uses_direct(tr, C, H, W, OC) ? "direct"
                                                                                  : "auto: gemm");
    if (check_direct && lrsa__direct_available())
        CHECK_MSG(lrsa__conv_uses_direct(tr, C, H, W, OC), "%s: not on the direct kernels", what);

    if (tr) {
        lrsa_convt2d_forward_naive(o1, x, w, b, B, C, H, W, OC);
        lrsa_convt2d_backward_naive(dx1, dw1, db1, dout, x, w, B, C, H, W, OC);
    } else {
        lrsa_conv2d_forward_naive(o1, x, w, b, B, C, H, W, OC);
        lrsa_conv2d_backward_naive(dx1, dw1, db1, dout, x, w, B, C, H, W, OC);
    }
    double dwmax = fmax(1.0, max_abs(dw1, nw)), dbmax = fmax(1.0, max_abs(db1, (size_t)OC));
    double worst_o = 0, worst_dx = 0, worst_dw = 0;
    for (int t = 1; t <= TEST_THREADS; t++) {
        /* forward: plain, then each fused activation against the plain output passed through it */
        if (tr)
            lrsa_convt2d_forward(o2, x, w, b, B, C, H, W, OC, scr, t);
        else
            lrsa_conv2d_forward(o2, x, w, b, B, C, H, W, OC, scr, t);
        worst_o = fmax(worst_o, max_rel(o2, o1, no, 0));
        float *plain = malloc(no * 4), *o3 = malloc(no * 4);
        memcpy(plain, o2, no * 4);
        for (int act = LRSA__ACT_RELU; act <= LRSA__ACT_SIGMOID; act++) {
            memcpy(o3, plain, no * 4);
            if (act == LRSA__ACT_RELU)
                lrsa_relu_forward(o3, o3, no);
            else
                lrsa_nn_sigmoid(o3, o3, (int64_t)no);
            if (tr)
                lrsa__convt2d_forward_act(o2, x, w, b, act, B, C, H, W, OC, scr, t);
            else
                lrsa__conv2d_forward_act(o2, x, w, b, act, B, C, H, W, OC, scr, t);
            CHECK_MSG(max_rel(o2, o3, no, 0) == 0.0, "%s: fused act %d differs", what, act);
        }
        free(plain);
        free(o3);
        /* backward: dinp and the weight gradient; then the fused ReLU mask; then dinp NULL */
        memset(dw2, 0, nw * 4);
        memset(db2, 0, (size_t)OC * 4);
        if (tr)
            lrsa_convt2d_backward(dx2, dw2, db2, dout, x, w, B, C, H, W, OC, scr, t);
        else
            lrsa_conv2d_backward(dx2, dw2, db2, dout, x, w, B, C, H, W, OC, scr, t);
        worst_dx = fmax(worst_dx, max_rel(dx2, dx1, nx, 0));
        worst_dw = fmax(worst_dw, max_rel(dw2, dw1, nw, dwmax));
        CHECK_MSG(max_rel(db2, db1, (size_t)OC, dbmax) <= 1e-5, "%s: db", what);
        float *dx3 = malloc(nx * 4);
        memcpy(dx3, dx2, nx * 4);
        lrsa_relu_backward(dx3, dx3, x, nx);
        if (tr)
            lrsa__convt2d_backward_mask(dx2, dw2, db2, dout, x, w, 1, B, C, H, W, OC, scr, t);
        else
            lrsa__conv2d_backward_mask(dx2, dw2, db2, dout, x, w, 1, B, C, H, W, OC, scr, t);
        CHECK_MSG(max_rel(dx2, dx3, nx, 0) == 0.0, "%s: fused mask differs", what);
        free(dx3);
        if (tr)
            lrsa_convt2d_backward(NULL, dw2, db2, dout, x, w, B, C, H, W, OC, scr, t);
        else
            lrsa_conv2d_backward(NULL, dw2, db2, dout, x, w, B, C, H, W, OC, scr, t);
        for (size_t i = 0; i < nw; i++)
            dw2[i] /= 3.0f;
        for (int64_t i = 0; i < OC; i++)
            db2[i] /= 3.0f;
        worst_dw = fmax(worst_dw, max_rel(dw2, dw1, nw, dwmax));
        CHECK_MSG(max_rel(db2, db1, (size_t)OC, dbmax) <= 1e-5, "%s: db accumulated", what);
    }
    fprintf(stderr, "   %-44s out %.2g dx %.2g dw/max %.2g\n", what, worst_o, worst_dx, worst_dw);
    CHECK_MSG(worst_o <= 1e-4, "%s: out %g", what, worst_o);
    CHECK_MSG(worst_dx <= 1e-4, "%s: dx %g", what, worst_dx);
    CHECK_MSG(worst_dw <= 1e-4, "%s: dw %g", what, worst_dw);
    free(x); free(w); free(b); free(dout); free(o1); free(o2); free(dx1); free(dx2);
    free(dw1); free(dw2); free(db1); free(db2); free(scr);
}

static void test_edges(void)
{
    static const struct shape cases[] = {
        {0, 1, 3, 1, 1, 16},   {0, 2, 3, 2, 3, 5},    {0, 1, 5, 7, 9, 3},     {0, 3, 3, 17, 35, 16},
        {0, 2, 16, 33, 47, 20}, {0, 1, 1, 50, 70, 1}, {0, 1, 32, 9, 10, 64}, {0, 2, 32, 12, 64, 17},
        {1, 1, 16, 1, 1, 3},   {1, 2, 5, 3, 7, 2},    {1, 2, 20, 9, 13, 7},   {1, 1, 1, 30, 41, 1},
        {1, 1, 64, 5, 6, 32}, {1, 3, 16, 24, 23, 3}, {1, 2, 17, 4, 25, 31},
    };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 5);
    for (int p = 0; p < 2; p++) {
        int path = p ? LRSA__PATH_AUTO : LRSA__PATH_GEMM;
        lrsa__conv_set_path(path);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            one_case(&cases[c], path, p, &rng);
    }
    lrsa__conv_set_path(LRSA__PATH_AUTO);
}

/* The paper's layers at a reduced size: the automatic choice (docs/ae.md) is what runs there. */
static void test_auto_paper_layers(void)
{
    static const struct shape cases[] = {
        {0, 2, 3, 64, 64, 16},  {0, 2, 16, 32, 32, 32}, {0, 2, 32, 16, 16, 64},
        {0, 2, 64, 8, 8, 128},  {0, 2, 128, 4, 4, 256}, {1, 2, 256, 2, 2, 128},
        {1, 2, 128, 4, 4, 64},  {1, 2, 64, 8, 8, 32},   {1, 2, 32, 16, 16, 16},
        {1, 2, 16, 32, 32, 3},
    };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 6);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        one_case(&cases[c], LRSA__PATH_AUTO, 0, &rng);
}

int main(void)
{
#if TEST_THREADS == 1 && defined(_OPENMP)
    omp_set_num_threads(1);
#endif
    fprintf(stderr, "direct kernels %s\n",
            lrsa__direct_available() ? "available (AVX2 + FMA)" : "not available: gemm only");
    RUN(test_edges);
    RUN(test_auto_paper_layers);
    return harness_done();
}
