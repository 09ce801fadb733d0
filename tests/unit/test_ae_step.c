/* A whole training step of the autoencoder against PyTorch 2.3.1 (tools/gen_ae_fixtures.py):
 * loss, every gradient and every parameter after one Adam(lr 1e-3, weight_decay 1e-5) step.
 *   step_small: depth 2 (3x16x16 -> 4 -> 8), batch 3, torch's initial weights stored in full.
 *   step_paper: the paper's widths (16 32 64 128 256) at 3x64x64, batch 4, initial weights from our
 *               lrsa_ae_init_pytorch (re-implemented bit for bit by the generator); gradients and
 *               parameters compared in full for small tensors and at 1024 sampled entries for large
 *               ones, plus full-tensor sums and sums of squares.
 * The two steps run on each convolution kernel path: im2col + sgemm everywhere, and the per-layer
 * rule (the direct kernels for the thin layers, src/nn/conv.c).
 * Also: the init rule's bounds equal torch's, micro-batch accumulation gives the same step as one
 * batch, encode equals the forward's latent, memory sizing, and the error paths.
 *
 * Tolerances (float32 both sides, different summation orders):
 *   loss                  relative 1e-5
 *   gradient element      |ours - torch| <= 1e-4 * max|torch gradient of that tensor|
 *   gradient sum, sumsq   relative 1e-3 of sqrt(n * sumsq) and of sumsq
 *   parameter after step  |ours - torch| <= 1e-6, except where the step's sign is decided by
 *                         float noise: Adam's first step moves each weight by lr * g/(|g| + eps'),
 *                         so an element whose gradient is below 1e-3 of the tensor's largest may move
 *                         differently; at most 0.1% of the elements may exceed 1e-6 and none 2.1e-3.
 *   micro-batch vs batch  gradients 1e-5 * max|g| per tensor, parameters as above. */
#include "harness.h"
#include "latentrsa/ae.h"
#include "latentrsa/safetensors.h"

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

static char fixdir[4096];

static lrsa_safetensors *open_fix(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    lrsa_safetensors *st = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_st_open(path, &st, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    return st;
}

static const float *tensor(lrsa_safetensors *st, const char *prefix, const char *name, size_t *n)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    const lrsa_st_tensor *t = lrsa_st_find(st, key);
    if (!t)
        return NULL;
    size_t k = 1;
    for (int i = 0; i < t->ndim; i++)
        k *= (size_t)t->shape[i];
    if (n)
        *n = k;
    return (const float *)lrsa_st_raw(st, t);
}

static double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* Compare ours (full tensor, indexed through idx when not NULL) against ref[n]. */
static void check_grad(const char *name, const float *ours, const float *ref, const float *idx,
                       size_t n, double rel)
{
    double scale = max_abs(ref, n), md = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t j = idx ? (size_t)idx[i] : i;
        double d = fabs((double)ours[j] - ref[i]);
        if (!(d <= md))
            md = d;
    }
    double tol = rel * (scale > 0 ? scale : 1e-30);
    fprintf(stderr, "   grad %-18s maxdiff %.3g (tol %.3g = %g * %.3g)%s\n", name, md, tol, rel, scale,
            idx ? " sampled" : "");
    CHECK_MSG(md <= tol, "gradient %s: maxdiff %g > %g", name, md, tol);
}

static void check_param(const char *name, const float *ours, const float *ref, const float *idx,
                        size_t n, const float *grad_ours)
{
    double md = 0.0;
    size_t nbig = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = idx ? (size_t)idx[i] : i;
        double d = fabs((double)ours[j] - ref[i]);
        if (!(d <= md))
            md = d;
        if (d > 1e-6)
            nbig++;
    }
    (void)grad_ours;
    fprintf(stderr, "   p1   %-18s maxdiff %.3g, %zu of %zu above 1e-6\n", name, md, nbig, n);
    CHECK_MSG(md <= 2.1e-3, "parameter %s: maxdiff %g", name, md);
    CHECK_MSG((double)nbig <= 0.001 * (double)n + (n < 1000 ? 0 : 0), "parameter %s: %zu of %zu differ",
              name, nbig, n);
}

static void check_stat(const char *what, const float *ours, size_t n, const float *ref2,
                       const float *base)
{
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)ours[i] - (base ? (double)base[i] : 0.0);
        s += v;
        ss += v * v;
    }
    double tol_s = 1e-3 * sqrt((double)n * ref2[1]), tol_ss = 1e-3 * ref2[1];
    CHECK_MSG(fabs(s - ref2[0]) <= tol_s + 1e-30, "%s sum %g vs %g", what, s, (double)ref2[0]);
    CHECK_MSG(fabs(ss - ref2[1]) <= tol_ss + 1e-30, "%s sumsq %g vs %g", what, ss, (double)ref2[1]);
}

/* ===== depth 2, everything from torch ================================================ */
static void test_step_small(void)
{
    lrsa_safetensors *st = open_fix("step_small.safetensors");
    if (!st)
        return;
    lrsa_ae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = 3;
    cfg.height = cfg.width = 16;
    cfg.depth = 2;
    cfg.channels[0] = 4;
    cfg.channels[1] = 8;
    lrsa_ae *ae = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_ae_new(&cfg, &ae, &err), LRSA_OK);
    CHECK_INT(lrsa_ae_num_param_tensors(ae), 8);
    for (int i = 0; i < lrsa_ae_num_param_tensors(ae); i++) {
        const lrsa_ae_param *p = lrsa_ae_param_info(ae, i);
        size_t n = 0;
        const float *v = tensor(st, "p0.", p->name, &n);
        CHECK_MSG(v && n == p->numel, "p0.%s", p->name);
        if (v && n == p->numel)
            memcpy(ae->params + p->offset, v, n * sizeof(float));
    }
    size_t nx = 0;
    const float *x = tensor(st, "", "x", &nx), *loss_ref = tensor(st, "", "loss", NULL);
    CHECK(x && nx == 3 * 3 * 16 * 16 && loss_ref);
    CHECK_INT(lrsa_ae_alloc(ae, 3, TEST_THREADS, &err), LRSA_OK);
    lrsa_adam_opts opt;
    lrsa_adam_opts_default(&opt);
    double loss = 0;
    CHECK_INT(lrsa_ae_train_step(ae, x, 3, &opt, 1, &loss, NULL, &err), LRSA_OK);
    fprintf(stderr, "   loss %.9g vs torch %.9g\n", loss, (double)loss_ref[0]);
    CHECK_NEAR(loss, loss_ref[0], 1e-5 * loss_ref[0]);
    for (int i = 0; i < lrsa_ae_num_param_tensors(ae); i++) {
        const lrsa_ae_param *p = lrsa_ae_param_info(ae, i);
        size_t n = 0;
        const float *g = tensor(st, "grad.", p->name, &n), *p1 = tensor(st, "p1.", p->name, NULL);
        CHECK(g && p1 && n == p->numel);
        if (!g || !p1)
            continue;
        check_grad(p->name, ae->grads + p->offset, g, NULL, n, 1e-4);
        check_param(p->name, ae->params + p->offset, p1, NULL, n, ae->grads + p->offset);
    }
    lrsa_ae_free(ae);
    lrsa_st_close(st);
}

/* ===== the paper's architecture ======================================================= */
static lrsa_ae *paper_model(int64_t hw, uint64_t seed, lrsa_err *err)
{
    lrsa_ae_config cfg;
    lrsa_ae_config_default(&cfg);
    cfg.height = cfg.width = hw;
    lrsa_ae *ae = NULL;
    if (lrsa_ae_new(&cfg, &ae, err) != LRSA_OK)
        return NULL;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, seed);
    lrsa_ae_init_pytorch(ae, &rng);
    return ae;
}

static float *paper_input(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof *x);
    lrsa_rng rng;
    lrsa_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)lrsa_rng_uniform(&rng);
    return x;
}

static void test_step_paper(void)
{
    lrsa_safetensors *st = open_fix("step_paper.safetensors");
    if (!st)
        return;
    const char *s_init = lrsa_st_meta(st, "init_seed"), *s_x = lrsa_st_meta(st, "x_seed");
    CHECK(s_init && s_x);
    if (!s_init || !s_x) {
        lrsa_st_close(st);
        return;
    }
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae *ae = paper_model(64, strtoull(s_init, NULL, 10), &err);
    CHECK(ae != NULL);
    float *x = paper_input(4 * 3 * 64 * 64, strtoull(s_x, NULL, 10));
    float *p0 = malloc(ae->num_params * sizeof *p0);
    memcpy(p0, ae->params, ae->num_params * sizeof *p0);

    /* the init rule: our bounds are torch's, and every drawn value lies within them */
    const float *bounds = tensor(st, "", "init_bound", NULL);
    CHECK(bounds != NULL);
    for (int i = 0; bounds && i < lrsa_ae_num_param_tensors(ae); i++) {
        const lrsa_ae_param *p = lrsa_ae_param_info(ae, i);
        double b = lrsa_ae_init_bound(ae, i);
        CHECK_MSG(fabs(b - bounds[i]) <= 1e-6 * bounds[i], "%s bound %g vs torch %g", p->name, b,
                  (double)bounds[i]);
        double mx = max_abs(ae->params + p->offset, p->numel), s = 0.0, ss = 0.0;
        for (size_t k = 0; k < p->numel; k++) {
            s += ae->params[p->offset + k];
            ss += (double)ae->params[p->offset + k] * ae->params[p->offset + k];
        }
        CHECK_MSG(mx <= b, "%s: |p| %g above bound %g", p->name, mx, b);
        if (p->numel >= 1000) { /* U(-b, b): max near b, mean 0, variance b^2/3 (5 sigma) */
            double n = (double)p->numel, var = ss / n;
            CHECK_MSG(mx >= 0.99 * b, "%s: max %g far below bound %g", p->name, mx, b);
            CHECK_MSG(fabs(s / n) <= 5 * b / sqrt(3 * n), "%s: mean %g", p->name, s / n);
            CHECK_MSG(fabs(var / (b * b / 3) - 1) <= 5 * sqrt(0.8 / n), "%s: variance %g vs %g",
                      p->name, var, b * b / 3);
        }
    }

    CHECK_INT(lrsa_ae_alloc(ae, 4, TEST_THREADS, &err), LRSA_OK);
    lrsa_adam_opts opt;
    lrsa_adam_opts_default(&opt);
    double loss = 0;
    CHECK_INT(lrsa_ae_train_step(ae, x, 4, &opt, 1, &loss, NULL, &err), LRSA_OK);
    const float *loss_ref = tensor(st, "", "loss", NULL);
    CHECK(loss_ref != NULL);
    if (loss_ref) {
        fprintf(stderr, "   loss %.9g vs torch %.9g\n", loss, (double)loss_ref[0]);
        CHECK_NEAR(loss, loss_ref[0], 1e-5 * loss_ref[0]);
    }
    for (int i = 0; i < lrsa_ae_num_param_tensors(ae); i++) {
        const lrsa_ae_param *p = lrsa_ae_param_info(ae, i);
        size_t n = 0;
        const float *g = tensor(st, "grad.", p->name, &n), *p1 = tensor(st, "p1.", p->name, NULL),
                    *idx = tensor(st, "idx.", p->name, NULL), *gs = tensor(st, "gstat.", p->name, NULL),
                    *ps = tensor(st, "pstat.", p->name, NULL);
        CHECK(g && p1 && gs && ps && (idx ? n == 1024 : n == p->numel));
        if (!g || !p1 || !gs || !ps)
            continue;
        check_grad(p->name, ae->grads + p->offset, g, idx, n, 1e-4);
        check_param(p->name, ae->params + p->offset, p1, idx, n, ae->grads + p->offset);
        check_stat(p->name, ae->grads + p->offset, p->numel, gs, NULL);
        check_stat(p->name, ae->params + p->offset, p->numel, ps, p0 + p->offset);
    }
    free(p0);
    free(x);
    lrsa_ae_free(ae);
    lrsa_st_close(st);
}

/* ===== micro-batches: the same step as one batch ======================================= */
static void test_micro_batch(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    const int64_t N = 4;
    float *x = paper_input(N * 3 * 32 * 32, 5);
    lrsa_ae *ref = paper_model(32, 77, &err), *mb1 = paper_model(32, 77, &err),
            *mb3 = paper_model(32, 77, &err);
    CHECK(ref && mb1 && mb3);
    if (!ref || !mb1 || !mb3)
        goto done;
    CHECK_INT(lrsa_ae_alloc(ref, 4, TEST_THREADS, &err), LRSA_OK);
    CHECK_INT(lrsa_ae_alloc(mb1, 1, TEST_THREADS, &err), LRSA_OK);
    CHECK_INT(lrsa_ae_alloc(mb3, 3, 1, &err), LRSA_OK); /* 3 + 1, and one thread */
    lrsa_adam_opts opt;
    lrsa_adam_opts_default(&opt);
    double l0, l1, l3;
    for (int64_t step = 1; step <= 2; step++) {
        CHECK_INT(lrsa_ae_train_step(ref, x, N, &opt, step, &l0, NULL, &err), LRSA_OK);
        CHECK_INT(lrsa_ae_train_step(mb1, x, N, &opt, step, &l1, NULL, &err), LRSA_OK);
        CHECK_INT(lrsa_ae_train_step(mb3, x, N, &opt, step, &l3, NULL, &err), LRSA_OK);
        fprintf(stderr, "   step %lld loss %.9g, micro-batch 1: %.9g, 3+1: %.9g\n", (long long)step, l0,
                l1, l3);
        CHECK_NEAR(l1, l0, 1e-6 * l0);
        CHECK_NEAR(l3, l0, 1e-6 * l0);
    }
    for (int i = 0; i < lrsa_ae_num_param_tensors(ref); i++) {
        const lrsa_ae_param *p = lrsa_ae_param_info(ref, i);
        check_grad(p->name, mb1->grads + p->offset, ref->grads + p->offset, NULL, p->numel, 1e-5);
        check_grad(p->name, mb3->grads + p->offset, ref->grads + p->offset, NULL, p->numel, 1e-5);
        check_param(p->name, mb1->params + p->offset, ref->params + p->offset, NULL, p->numel, NULL);
        check_param(p->name, mb3->params + p->offset, ref->params + p->offset, NULL, p->numel, NULL);
    }
done:
    lrsa_ae_free(ref);
    lrsa_ae_free(mb1);
    lrsa_ae_free(mb3);
    free(x);
}

/* ===== encode, tables, sizing, errors ================================================== */
static void test_encode_and_tables(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae *ae = paper_model(64, 3, &err);
    CHECK(ae != NULL);
    if (!ae)
        return;
    static const char *names[] = {"encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
        "encoder.2.bias", "encoder.4.weight", "encoder.4.bias", "encoder.6.weight", "encoder.6.bias",
        "encoder.8.weight", "encoder.8.bias", "decoder.0.weight", "decoder.0.bias", "decoder.2.weight",
        "decoder.2.bias", "decoder.4.weight", "decoder.4.bias", "decoder.6.weight", "decoder.6.bias",
        "decoder.8.weight", "decoder.8.bias"};
    CHECK_INT(lrsa_ae_num_param_tensors(ae), 20);
    for (int i = 0; i < 20; i++) {
        CHECK_STR(lrsa_ae_param_info(ae, i)->name, names[i]);
        CHECK_INT(lrsa_ae_find_param(ae, names[i]), i);
    }
    CHECK(lrsa_ae_param_info(ae, 20) == NULL);
    CHECK_INT(lrsa_ae_find_param(ae, "decoder.9.weight"), -1);
    const lrsa_ae_param *p = lrsa_ae_param_info(ae, 0);
    CHECK(p->ndim == 4 && p->shape[0] == 16 && p->shape[1] == 3 && p->shape[2] == 3 && p->shape[3] == 3);
    p = lrsa_ae_param_info(ae, 10); /* decoder.0.weight: ConvTranspose2d(256, 128) is (256, 128, 3, 3) */
    CHECK(p->ndim == 4 && p->shape[0] == 256 && p->shape[1] == 128);
    p = lrsa_ae_param_info(ae, 19);
    CHECK(p->ndim == 1 && p->shape[0] == 3 && p->offset + p->numel == ae->num_params);
    CHECK_INT(ae->num_params, 784963); /* torch: sum(p.numel()) */

    int64_t ls[3];
    lrsa_ae_latent_shape(&ae->cfg, ls);
    CHECK(ls[0] == 256 && ls[1] == 2 && ls[2] == 2);
    CHECK_INT(lrsa_ae_latent_dim(&ae->cfg), 1024);
    const int64_t N = 5;
    float *x = paper_input(N * 3 * 64 * 64, 8), *z = malloc(N * 1024 * sizeof *z);
    CHECK_INT(lrsa_ae_alloc(ae, 2, TEST_THREADS, &err), LRSA_OK);
    CHECK_INT(lrsa_ae_encode(ae, x, N, z, NULL, &err), LRSA_OK); /* chunks 2 + 2 + 1 */
    double l;
    CHECK_INT(lrsa_ae_forward(ae, x + 4 * 3 * 64 * 64, 1, &l, NULL, &err), LRSA_OK);
    const float *lat = ae->acts + ae->max_batch * ae->act_offset[4];
    double md = 0;
    for (int i = 0; i < 1024; i++)
        md = fmax(md, fabs(lat[i] - z[4 * 1024 + i]));
    CHECK_MSG(md == 0.0, "encode vs forward latent maxdiff %g", md);
    double le = 0;
    CHECK_INT(lrsa_ae_eval_loss(ae, x + 4 * 3 * 64 * 64, 1, &le, NULL, &err), LRSA_OK);
    CHECK_NEAR(le, l, 0.0);
    free(x);
    free(z);
    lrsa_ae_free(ae);
}

static void test_sizing_and_errors(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae_config cfg;
    lrsa_ae_config_default(&cfg);
    CHECK_INT(lrsa_ae_config_check(&cfg, &err), LRSA_OK);
    CHECK_INT(lrsa_ae_image_dim(&cfg), 3 * 672 * 672);
    CHECK_INT(lrsa_ae_latent_dim(&cfg), 256 * 21 * 21);
    size_t one = lrsa_ae_memory_bytes(&cfg, 1, 2), two = lrsa_ae_memory_bytes(&cfg, 2, 2);
    double per_image = (double)(two - one) / 1e6;
    fprintf(stderr, "   672^2: %.1f MB per image, %.1f MB fixed (2 threads)\n", per_image,
            (double)(one - (two - one)) / 1e6);
    CHECK(per_image > 30 && per_image < 60);
    int64_t mb = lrsa_ae_micro_batch(&cfg, (size_t)2 << 30, 2);
    CHECK(mb > 10 && mb < 100);
    CHECK(lrsa_ae_memory_bytes(&cfg, mb, 2) <= (size_t)2 << 30);
    CHECK(lrsa_ae_memory_bytes(&cfg, mb + 1, 2) > (size_t)2 << 30);
    CHECK_INT(lrsa_ae_micro_batch(&cfg, 1 << 20, 2), 0);
    CHECK(lrsa_ae_default_memory_budget() >= (size_t)256 << 20);

    lrsa_ae_config bad = cfg;
    bad.height = 100; /* not divisible by 32 */
    CHECK_ERR(lrsa_ae_config_check(&bad, &err), err, LRSA_EMISUSE, "multiple of 2^depth");
    bad = cfg;
    bad.depth = 0;
    lrsa_ae *ae = NULL;
    CHECK_ERR(lrsa_ae_new(&bad, &ae, &err), err, LRSA_EMISUSE, "depth");
    CHECK(ae == NULL);
    bad = cfg;
    bad.channels[2] = 0;
    CHECK_ERR(lrsa_ae_config_check(&bad, &err), err, LRSA_EMISUSE, "channels[2]");
    CHECK_INT(lrsa_ae_micro_batch(&bad, (size_t)1 << 40, 1), 0);

    cfg.height = cfg.width = 32;
    CHECK_INT(lrsa_ae_new(&cfg, &ae, &err), LRSA_OK);
    float x[2 * 3 * 32 * 32] = {0};
    double l;
    CHECK_ERR(lrsa_ae_forward(ae, x, 1, &l, NULL, &err), err, LRSA_EMISUSE, "before lrsa_ae_alloc");
    CHECK_ERR(lrsa_ae_backward(ae, 1, NULL, &err), err, LRSA_EMISUSE, "without a forward");
    CHECK_ERR(lrsa_ae_alloc(ae, 0, 1, &err), err, LRSA_EMISUSE, "micro-batch");
    CHECK_INT(lrsa_ae_alloc(ae, 1, 1, &err), LRSA_OK);
    CHECK_ERR(lrsa_ae_forward(ae, x, 2, &l, NULL, &err), err, LRSA_ESHAPE, "micro-batch holds 1");
    CHECK_INT(lrsa_ae_forward(ae, x, 1, &l, NULL, &err), LRSA_OK);
    CHECK_ERR(lrsa_ae_backward(ae, 0, NULL, &err), err, LRSA_EMISUSE, "batch_total");
    lrsa_adam_opts opt;
    lrsa_adam_opts_default(&opt);
    CHECK_ERR(lrsa_ae_adam_step(ae, &opt, 0, NULL, &err), err, LRSA_EMISUSE, "step");
    CHECK_ERR(lrsa_ae_train_step(ae, x, 0, &opt, 1, &l, NULL, &err), err, LRSA_EEMPTY, "empty");
    /* zero weights: the reconstruction is sigmoid(0) = 0.5 everywhere */
    CHECK_INT(lrsa_ae_forward(ae, x, 1, &l, NULL, &err), LRSA_OK);
    CHECK_NEAR(l, 0.25, 1e-7);
    CHECK_NEAR(lrsa_ae_output(ae)[17], 0.5, 0);
    lrsa_ae_free(ae);
    lrsa_ae_free(NULL);
}

int main(void)
{
#if TEST_THREADS == 1 && defined(_OPENMP)
    omp_set_num_threads(1); /* sgemm single-threaded too (see TEST_THREADS) */
#endif
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/ae", src && *src ? src : ".");
    /* the whole step on each kernel path: im2col + sgemm everywhere, then the per-layer rule */
    static const struct { int path; const char *name; } paths[] = {
        {LRSA__PATH_GEMM, "gemm"}, {LRSA__PATH_AUTO, "auto (direct where the rule says)"}};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        fprintf(stderr, "== convolution kernels: %s\n", paths[p].name);
        lrsa__conv_set_path(paths[p].path);
        RUN(test_step_small);
        RUN(test_step_paper);
    }
    RUN(test_micro_batch);
    RUN(test_encode_and_tables);
    RUN(test_sizing_and_errors);
    return harness_done();
}
