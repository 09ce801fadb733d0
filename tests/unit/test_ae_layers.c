/* Autoencoder layers against PyTorch: conv2d and conv-transpose 2d (k3, s2, p1, output_padding 1),
 * ReLU, Sigmoid and MSE, forward and backward, from tests/fixtures/ae/layers.safetensors
 * (tools/gen_ae_fixtures.py: torch 2.3.1 autograd in float64 on float32 inputs). Both the naive
 * reference kernels and the fast kernels (serial and with 2 threads) are checked, the fast ones on
 * each path: im2col + sgemm everywhere, and the per-layer rule (which puts these small layers on
 * the direct kernels of src/nn/conv_direct.c).
 *
 * Tolerance: |ours - torch| <= 1e-5 * (1 + |torch|) for every element of every output and gradient
 * (float32 sums of at most a few hundred products of numbers below 1 against float64 truth);
 * the max difference is printed for each tensor. Fast vs naive on larger random shapes: the same
 * relative bound at 1e-4 (sums over up to 10^4 terms in different orders). */
#include "harness.h"
#include "latentrsa/ae.h"
#include "latentrsa/safetensors.h"

#include <float.h>

/* Threads for the multi-threaded cases. A clang sanitizer build links LLVM's libomp while Debian's
 * OpenBLAS uses libgomp: sgemm called inside our (libomp) parallel region cannot see it and starts
 * its own threads, which crawl in sched_yield on a loaded machine. Those builds test 1 thread. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TEST_THREADS 1
#endif
#endif
#ifndef TEST_THREADS
#define TEST_THREADS 2
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#include "../../src/nn/conv_internal.h"
#include "../../src/nn/kernels.h"

static lrsa_safetensors *fix;

static const float *get(const char *name, size_t expect_n)
{
    const lrsa_st_tensor *t = lrsa_st_find(fix, name);
    CHECK_MSG(t != NULL, "fixture tensor '%s' missing", name);
    if (!t)
        return NULL;
    CHECK_MSG(t->dtype == LRSA_ST_F32, "'%s' is not F32", name);
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    CHECK_MSG(expect_n == 0 || (size_t)n == expect_n, "'%s' has %lld elements, expected %zu", name,
              (long long)n, expect_n);
    return (const float *)lrsa_st_raw(fix, t);
}

/* maxdiff of |a - b| / (1 + |b|); checks it against tol and prints it. */
static void check_close(const char *what, const float *a, const float *b, size_t n, double tol)
{
    double md = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= md)) { /* catches NaN too */
            md = d;
            at = i;
            if (isnan(d))
                break;
        }
    }
    fprintf(stderr, "   %-28s maxdiff %.3g (tol %.1g)\n", what, md, tol);
    CHECK_MSG(md <= tol, "%s: maxdiff %g at %zu (%g vs %g)", what, md, at, (double)a[at],
              (double)b[at]);
}

static void conv_case(const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s.dims", name);
    const char *dims = lrsa_st_meta(fix, key);
    CHECK(dims != NULL);
    if (!dims)
        return;
    long long B, C, H, W, OC;
    CHECK_INT(sscanf(dims, "%lld %lld %lld %lld %lld", &B, &C, &H, &W, &OC), 5);
    int tr = strncmp(name, "convt", 5) == 0;
    int64_t OH = tr ? 2 * H : (H - 1) / 2 + 1, OW = tr ? 2 * W : (W - 1) / 2 + 1;
    size_t nx = (size_t)(B * C * H * W), nw = (size_t)(C * OC * 9), no = (size_t)(B * OC * OH * OW);
#define G(k, n) (snprintf(key, sizeof key, "%s." k, name), get(key, n))
    const float *x = G("x", nx), *w = G("w", nw), *b = G("b", (size_t)OC), *out = G("out", no),
                *dout = G("dout", no), *dx = G("dx", nx), *dw = G("dw", nw), *db = G("db", (size_t)OC);
#undef G
    if (!x || !w || !b || !out || !dout || !dx || !dw || !db)
        return;
    float *o = calloc(no, sizeof *o), *gx = calloc(nx, sizeof *gx), *gw = calloc(nw, sizeof *gw),
          *gb = calloc((size_t)OC, sizeof *gb);
    size_t per = lrsa_conv_scratch_floats(C, H, W, OC, tr);
    float *scratch = calloc(2 * per, sizeof *scratch);
    char what[64];
    for (int variant = 0; variant < 3; variant++) { /* naive, fast serial, fast 2 threads */
        const char *vn = variant == 0 ? "naive" : variant == 1 ? "fast" : "fast-2t";
        memset(gw, 0, nw * sizeof *gw);
        memset(gb, 0, (size_t)OC * sizeof *gb);
        if (variant == 0) {
            if (tr) {
                lrsa_convt2d_forward_naive(o, x, w, b, B, C, H, W, OC);
                lrsa_convt2d_backward_naive(gx, gw, gb, dout, x, w, B, C, H, W, OC);
            } else {
                lrsa_conv2d_forward_naive(o, x, w, b, B, C, H, W, OC);
                lrsa_conv2d_backward_naive(gx, gw, gb, dout, x, w, B, C, H, W, OC);
            }
        } else {
            int t = variant == 1 ? 1 : TEST_THREADS;
            if (tr) {
                lrsa_convt2d_forward(o, x, w, b, B, C, H, W, OC, scratch, t);
                lrsa_convt2d_backward(gx, gw, gb, dout, x, w, B, C, H, W, OC, scratch, t);
            } else {
                lrsa_conv2d_forward(o, x, w, b, B, C, H, W, OC, scratch, t);
                lrsa_conv2d_backward(gx, gw, gb, dout, x, w, B, C, H, W, OC, scratch, t);
            }
        }
        snprintf(what, sizeof what, "%s %s out", name, vn);
        check_close(what, o, out, no, 1e-5);
        snprintf(what, sizeof what, "%s %s dx", name, vn);
        check_close(what, gx, dx, nx, 1e-5);
        snprintf(what, sizeof what, "%s %s dw", name, vn);
        check_close(what, gw, dw, nw, 1e-5);
        snprintf(what, sizeof what, "%s %s db", name, vn);
        check_close(what, gb, db, (size_t)OC, 1e-5);
    }
    /* backward accumulates into dweight/dbias: a second call doubles them */
    if (tr)
        lrsa_convt2d_backward(NULL, gw, gb, dout, x, w, B, C, H, W, OC, scratch, TEST_THREADS);
    else
        lrsa_conv2d_backward(NULL, gw, gb, dout, x, w, B, C, H, W, OC, scratch, TEST_THREADS);
    for (size_t i = 0; i < nw; i++)
        gw[i] *= 0.5f;
    snprintf(what, sizeof what, "%s accumulate dw", name);
    check_close(what, gw, dw, nw, 1e-5);
    free(o);
    free(gx);
    free(gw);
    free(gb);
    free(scratch);
}

static void test_conv(void)
{
    conv_case("conv_a");
    conv_case("conv_b");
}

static void test_convt(void)
{
    conv_case("convt_a");
    conv_case("convt_b");
}

static void test_elementwise(void)
{
    const size_t n = 2 * 3 * 4 * 5;
    float y[120], d[120];
    for (int k = 0; k < 2; k++) {
        const char *nm = k ? "sigmoid" : "relu";
        char key[64];
        snprintf(key, sizeof key, "%s.x", nm);
        const float *x = get(key, n);
        snprintf(key, sizeof key, "%s.out", nm);
        const float *out = get(key, n);
        snprintf(key, sizeof key, "%s.dout", nm);
        const float *dout = get(key, n);
        snprintf(key, sizeof key, "%s.dx", nm);
        const float *dx = get(key, n);
        if (!x || !out || !dout || !dx)
            continue;
        if (k)
            lrsa_sigmoid_forward(y, x, n);
        else
            lrsa_relu_forward(y, x, n);
        snprintf(key, sizeof key, "%s out", nm);
        check_close(key, y, out, n, 1e-6);
        if (k) { /* the vectorised sigmoid the convolution epilogues use (kernels.h) */
            float yv[120];
            lrsa_nn_sigmoid(yv, x, (int64_t)n);
            check_close("sigmoid (lrsa_nn_sigmoid) out", yv, out, n, 1e-6);
        }
        memcpy(d, dout, sizeof d); /* in place, as the model uses it */
        if (k)
            lrsa_sigmoid_backward(d, d, y, n);
        else
            lrsa_relu_backward(d, d, y, n);
        snprintf(key, sizeof key, "%s dx", nm);
        check_close(key, d, dx, n, 1e-6);
    }
    /* lrsa_nn_sigmoid against its double reference on a sweep of [-100, 100] with NaN, +-inf,
     * +-0 and a tail shorter than a vector: relative error < 3e-7 (about 2.5 ulp) where the result
     * is a normal float, below FLT_MIN in absolute value below that (x < -87.3: 0, as expf
     * overflows there), exact at the saturated ends */
    {
        enum { NS = 200003 };
        float *sx = malloc(NS * sizeof *sx), *s1 = malloc(NS * sizeof *s1),
              *s2 = malloc(NS * sizeof *s2);
        for (int i = 0; i < NS - 5; i++)
            sx[i] = -100.0f + 200.0f * (float)i / (float)(NS - 6);
        sx[NS - 5] = NAN, sx[NS - 4] = INFINITY, sx[NS - 3] = -INFINITY, sx[NS - 2] = 0.0f,
        sx[NS - 1] = -0.0f;
        lrsa_nn_sigmoid(s1, sx, NS);
        lrsa_nn_sigmoid_naive(s2, sx, NS);
        double md = 0.0, mabs = 0.0; /* relative where the result is a normal float */
        for (int i = 0; i < NS - 5; i++) {
            double e = fabs((double)s1[i] - s2[i]);
            if (s2[i] >= FLT_MIN)
                md = fmax(md, e / s2[i]);
            else
                mabs = fmax(mabs, e);
        }
        CHECK(mabs <= FLT_MIN);
        fprintf(stderr, "   lrsa_nn_sigmoid vs double: max relative error %.3g (tol 3e-7)\n", md);
        CHECK(md < 3e-7);
        CHECK(isnan(s1[NS - 5]));
        CHECK(s1[NS - 4] == 1.0f && s1[NS - 3] == 0.0f && s1[NS - 2] == 0.5f && s1[NS - 1] == 0.5f);
        CHECK(s1[0] == 0.0f && s1[NS - 6] == 1.0f);
        free(sx);
        free(s1);
        free(s2);
    }
    const float *pred = get("mse.pred", n), *target = get("mse.target", n), *loss = get("mse.loss", 1),
                *dpred = get("mse.dpred", n);
    if (!pred || !target || !loss || !dpred)
        return;
    double l = lrsa_mse_forward(pred, target, n) / (double)n;
    fprintf(stderr, "   mse loss %.9g vs torch %.9g\n", l, (double)loss[0]);
    CHECK_NEAR(l, loss[0], 1e-7 * (1 + fabs(loss[0])));
    lrsa_mse_backward(d, pred, target, n, 1.0f / (float)n);
    check_close("mse dpred", d, dpred, n, 1e-6);
}

/* Fast kernels against the naive ones on larger shapes, including the thin first and last layers. */
static void test_fast_vs_naive(void)
{
    struct { int tr; int64_t B, C, H, W, OC; } cases[] = {
        {0, 3, 3, 32, 32, 16}, {0, 2, 16, 16, 12, 32}, {1, 3, 16, 16, 16, 3}, {1, 2, 32, 6, 8, 16},
        /* several row tiles per image (tile_rows in conv.c) */
        {0, 2, 16, 96, 94, 8}, {1, 2, 8, 40, 38, 32}, {1, 1, 16, 120, 8, 3},
    };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 99);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int tr = cases[c].tr;
        int64_t B = cases[c].B, C = cases[c].C, H = cases[c].H, W = cases[c].W, OC = cases[c].OC;
        int64_t OH = tr ? 2 * H : (H + 1) / 2, OW = tr ? 2 * W : (W + 1) / 2;
        size_t nx = (size_t)(B * C * H * W), nw = (size_t)(C * OC * 9), no = (size_t)(B * OC * OH * OW);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4),
              *dout = malloc(no * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4),
              *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4),
              *db1 = calloc((size_t)OC, 4), *db2 = calloc((size_t)OC, 4),
              *s = malloc(2 * lrsa_conv_scratch_floats(C, H, W, OC, tr) * 4);
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)lrsa_rng_uniform(&rng);
        for (size_t i = 0; i < nw; i++)
            w[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        for (int64_t i = 0; i < OC; i++)
            b[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        for (size_t i = 0; i < no; i++)
            dout[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        if (tr) {
            lrsa_convt2d_forward_naive(o1, x, w, b, B, C, H, W, OC);
            lrsa_convt2d_backward_naive(dx1, dw1, db1, dout, x, w, B, C, H, W, OC);
            lrsa_convt2d_forward(o2, x, w, b, B, C, H, W, OC, s, TEST_THREADS);
            lrsa_convt2d_backward(dx2, dw2, db2, dout, x, w, B, C, H, W, OC, s, TEST_THREADS);
        } else {
            lrsa_conv2d_forward_naive(o1, x, w, b, B, C, H, W, OC);
            lrsa_conv2d_backward_naive(dx1, dw1, db1, dout, x, w, B, C, H, W, OC);
            lrsa_conv2d_forward(o2, x, w, b, B, C, H, W, OC, s, TEST_THREADS);
            lrsa_conv2d_backward(dx2, dw2, db2, dout, x, w, B, C, H, W, OC, s, TEST_THREADS);
        }
        /* the naive dw/db sum in float over B*OH*OW terms: compare relative to the largest value */
        double mx = 1.0;
        for (size_t i = 0; i < nw; i++)
            mx = fmax(mx, fabs(dw1[i]));
        char what[64];
        snprintf(what, sizeof what, "%s case %zu out", tr ? "convt" : "conv", c);
        check_close(what, o2, o1, no, 1e-4);
        snprintf(what, sizeof what, "%s case %zu dx", tr ? "convt" : "conv", c);
        check_close(what, dx2, dx1, nx, 1e-4);
        for (size_t i = 0; i < nw; i++) {
            dw1[i] /= (float)mx;
            dw2[i] /= (float)mx;
        }
        snprintf(what, sizeof what, "%s case %zu dw/max", tr ? "convt" : "conv", c);
        check_close(what, dw2, dw1, nw, 1e-4);
        free(x); free(w); free(b); free(dout); free(o1); free(o2); free(dx1); free(dx2);
        free(dw1); free(dw2); free(db1); free(db2); free(s);
    }
}

/* The fused epilogues the model uses (conv_internal.h): act(conv) and dinp * (inp > 0) equal the
 * separate passes exactly, on shapes with several row tiles. */
static void test_fused(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 7);
    for (int tr = 0; tr < 2; tr++) {
        int64_t B = 2, C = tr ? 8 : 16, H = tr ? 40 : 96, W = tr ? 38 : 94, OC = tr ? 32 : 8;
        int64_t OH = tr ? 2 * H : (H + 1) / 2, OW = tr ? 2 * W : (W + 1) / 2;
        size_t nx = (size_t)(B * C * H * W), nw = (size_t)(C * OC * 9), no = (size_t)(B * OC * OH * OW);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4),
              *dout = malloc(no * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4),
              *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw = calloc(nw, 4), *db = calloc((size_t)OC, 4),
              *s = malloc(2 * lrsa_conv_scratch_floats(C, H, W, OC, tr) * 4);
        for (size_t i = 0; i < nx; i++) /* a ReLU output: about half exact zeros */
            x[i] = fmaxf(0.0f, (float)(lrsa_rng_uniform(&rng) - 0.5));
        for (size_t i = 0; i < nw; i++)
            w[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        for (int64_t i = 0; i < OC; i++)
            b[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        for (size_t i = 0; i < no; i++)
            dout[i] = (float)(lrsa_rng_uniform(&rng) - 0.5);
        for (int act = 1; act <= 2; act++) {
            if (tr) {
                lrsa_convt2d_forward(o1, x, w, b, B, C, H, W, OC, s, TEST_THREADS);
                lrsa__convt2d_forward_act(o2, x, w, b, act, B, C, H, W, OC, s, TEST_THREADS);
            } else {
                lrsa_conv2d_forward(o1, x, w, b, B, C, H, W, OC, s, TEST_THREADS);
                lrsa__conv2d_forward_act(o2, x, w, b, act, B, C, H, W, OC, s, TEST_THREADS);
            }
            if (act == 1)
                lrsa_relu_forward(o1, o1, no);
            else
                lrsa_nn_sigmoid(o1, o1, (int64_t)no); /* the model's sigmoid */
            check_close(act == 1 ? "fused relu" : "fused sigmoid", o2, o1, no, 0.0);
        }
        if (tr) {
            lrsa_convt2d_backward(dx1, dw, db, dout, x, w, B, C, H, W, OC, s, TEST_THREADS);
            lrsa__convt2d_backward_mask(dx2, dw, db, dout, x, w, 1, B, C, H, W, OC, s, TEST_THREADS);
        } else {
            lrsa_conv2d_backward(dx1, dw, db, dout, x, w, B, C, H, W, OC, s, TEST_THREADS);
            lrsa__conv2d_backward_mask(dx2, dw, db, dout, x, w, 1, B, C, H, W, OC, s, TEST_THREADS);
        }
        lrsa_relu_backward(dx1, dx1, x, nx);
        check_close(tr ? "convt fused relu backward" : "conv fused relu backward", dx2, dx1, nx, 0.0);
        free(x); free(w); free(b); free(dout); free(o1); free(o2); free(dx1); free(dx2);
        free(dw); free(db); free(s);
    }
}

int main(void)
{
#if TEST_THREADS == 1 && defined(_OPENMP)
    omp_set_num_threads(1); /* sgemm single-threaded too (see TEST_THREADS) */
#endif
    char path[4096];
    const char *src = getenv("LRSA_SRC");
    snprintf(path, sizeof path, "%s/tests/fixtures/ae/layers.safetensors", src && *src ? src : ".");
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_st_open(path, &fix, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc == LRSA_OK) {
        const char *v = lrsa_st_meta(fix, "versions");
        CHECK(v && strstr(v, "torch=2.3.1"));
        RUN(test_elementwise);
    }
    /* every fast kernel: im2col + sgemm, the direct kernels, and the per-layer choice */
    static const struct { int path; const char *name; } paths[] = {
        {LRSA__PATH_GEMM, "gemm"}, {LRSA__PATH_AUTO, "auto (direct where the rule says)"}};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        fprintf(stderr, "== fast kernels: %s\n", paths[p].name);
        lrsa__conv_set_path(paths[p].path);
        if (rc == LRSA_OK) {
            RUN(test_conv);
            RUN(test_convt);
        }
        RUN(test_fast_vs_naive);
        RUN(test_fused);
    }
    lrsa__conv_set_path(LRSA__PATH_AUTO);
    lrsa_st_close(fix);
    return harness_done();
}
