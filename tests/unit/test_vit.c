/* The ViT engine (src/nn/vit_*.c, kernels.c) against transformers 4.44.2 / torch 2.3.1
 * (tests/fixtures/vit, written by tools/gen_vit_fixtures.py), plus the kernels against their
 * naive references, the loader's checks and vit-init's weights.
 *
 * Tolerance for model outputs: |ours - torch| <= 1e-5 + 1e-4 |torch| per element (float32 with
 * GEMMs summed in another order); the max difference is printed for each comparison. */
#include "harness.h"
#include "latentrsa/npy.h"
#include "latentrsa/safetensors.h"
#include "latentrsa/vit.h"

#include "../../src/nn/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATOL 1e-5
#define RTOL 1e-4

static char fixdir[1024], tmpdir[1024];
static lrsa_ctx ctx;

static char *fix(const char *rel)
{
    static char buf[8][1400];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fixdir, rel);
    return buf[k];
}

static lrsa_tensor *load_npy(const char *model, const char *what)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s.npy", model, what);
    lrsa_tensor *t = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_npy_read_f32(fix(rel), &t, &err)) {
        fprintf(stderr, "cannot read fixture: %s\n", err.msg);
        return NULL;
    }
    return t;
}

/* Compare n floats with the tolerance; print the max difference. Returns 1 if all are within. */
static int compare(const char *label, const float *got, const float *want, int64_t n)
{
    double maxd = 0.0, worst = 0.0;
    int64_t at = 0;
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double excess = d - (ATOL + RTOL * fabs((double)want[i]));
        if (!(d <= ATOL + RTOL * fabs((double)want[i])))
            ok = 0;
        if (d > maxd || d != d)
            maxd = d;
        if (excess > worst || i == 0) {
            worst = excess;
            at = i;
        }
    }
    fprintf(stderr, "   %-34s n %-6lld max |diff| %.3g (worst vs tol at %lld: ours %.9g torch %.9g)\n",
            label, (long long)n, maxd, (long long)at, (double)got[at], (double)want[at]);
    return ok;
}

/* ===== kernels ================================================================================= */

static void test_erf_exp(void)
{
    for (int pass = 0; pass < 2; pass++) {
        lrsa_nn_force_scalar(pass);
        fprintf(stderr, "   %s path\n", lrsa_nn_simd() ? "AVX2" : "scalar");
        int64_t n = 2400001;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(-6.0 + 12.0 * (double)i / (double)(n - 1));
        lrsa_nn_erf(y, x, n);
        double maxe = 0.0;
        float at = 0.0f;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)y[i] - erf((double)x[i]));
            if (e > maxe) {
                maxe = e;
                at = x[i];
            }
        }
        fprintf(stderr, "   erf: max abs error %.3g at %.7g (2.4 M points in [-6, 6])\n", maxe, (double)at);
        CHECK(maxe < 1e-7);
        /* every float in [0.85, 0.95] (around the switch) */
        int64_t m = 0;
        for (float v = 0.85f; v < 0.95f && m < n; v = nextafterf(v, 1.0f))
            x[m++] = v;
        lrsa_nn_erf(y, x, m);
        maxe = 0.0;
        for (int64_t i = 0; i < m; i++)
            maxe = fmax(maxe, fabs((double)y[i] - erf((double)x[i])));
        fprintf(stderr, "   erf: max abs error %.3g over %lld consecutive floats near 0.9\n", maxe, (long long)m);
        CHECK(maxe < 1e-7);
        float sp[6] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-30f }, so[6];
        lrsa_nn_erf(so, sp, 6);
        CHECK(so[0] == 0.0f && so[2] == 1.0f && so[3] == -1.0f && isnan(so[4]));
        CHECK_NEAR(so[5], 1.1283791670955126e-30, 1e-36);

        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(-87.3 + (88.7 + 87.3) * (double)i / (double)(n - 1));
        lrsa_nn_exp(y, x, n);
        double maxr = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double ref = exp((double)x[i]);
            double ulp = ldexp(1.0, ilogb(ref) - 23);
            maxr = fmax(maxr, fabs((double)y[i] - ref) / ulp);
        }
        fprintf(stderr, "   exp: max error %.3g ulp (2.4 M points in [-87.3, 88.7])\n", maxr);
        CHECK(maxr < 1.5);
        /* softmax's range: x - max in [-20, 0] */
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(-20.0 * (double)i / (double)(n - 1));
        lrsa_nn_exp(y, x, n);
        double maxrel = 0.0;
        for (int64_t i = 0; i < n; i++)
            maxrel = fmax(maxrel, fabs((double)y[i] - exp((double)x[i])) / exp((double)x[i]));
        fprintf(stderr, "   exp: max relative error %.3g on [-20, 0]\n", maxrel);
        CHECK(maxrel < 1.5e-7);
        float ep[5] = { -100.0f, 100.0f, NAN, 0.0f, -INFINITY }, eo[5];
        lrsa_nn_exp(eo, ep, 5);
        CHECK(eo[0] < 1e-37f && eo[0] >= 0.0f && isinf(eo[1]) && isnan(eo[2]) && eo[3] == 1.0f && eo[4] == 0.0f);
        free(x);
        free(y);
    }
    lrsa_nn_force_scalar(0);
}

static void test_kernels_vs_naive(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 5);
    int64_t rows = 37, n = 203;
    size_t sz = (size_t)(rows * n);
    float *a = malloc(sz * sizeof(float)), *b = malloc(sz * sizeof(float)), *c = malloc(sz * sizeof(float));
    float w[203], bias[203];
    for (int64_t j = 0; j < n; j++) {
        w[j] = (float)(1.0 + 0.3 * lrsa_rng_normal(&rng));
        bias[j] = (float)(0.5 * lrsa_rng_normal(&rng));
    }
    for (int pass = 0; pass < 2; pass++) {
        lrsa_nn_force_scalar(pass);
        for (size_t i = 0; i < sz; i++)
            a[i] = (float)(3.0 * lrsa_rng_normal(&rng) + 1.0);
        memcpy(b, a, sz * sizeof(float));
        memcpy(c, a, sz * sizeof(float));
        lrsa_nn_bias_gelu(b, bias, rows, n, 2);
        lrsa_nn_bias_gelu_naive(c, bias, rows, n);
        double md = 0.0;
        for (size_t i = 0; i < sz; i++)
            md = fmax(md, fabs((double)b[i] - c[i]) / (1.0 + fabs(c[i])));
        fprintf(stderr, "   gelu (%s): max |diff| / (1 + |ref|) %.3g\n", pass ? "scalar" : "simd", md);
        CHECK(md < 5e-7);

        lrsa_nn_layernorm(b, a, w, bias, rows, n, 1e-12f, 2);
        lrsa_nn_layernorm_naive(c, a, w, bias, rows, n, 1e-12f);
        md = 0.0;
        for (size_t i = 0; i < sz; i++)
            md = fmax(md, fabs((double)b[i] - c[i]));
        fprintf(stderr, "   layernorm: max |diff| %.3g\n", md);
        CHECK(md < 2e-6);

        memcpy(b, a, sz * sizeof(float));
        memcpy(c, a, sz * sizeof(float));
        lrsa_nn_softmax_rows(b, rows, n - 6, n); /* a row shorter than ld; the rest untouched */
        lrsa_nn_softmax_rows_naive(c, rows, n - 6, n);
        md = 0.0;
        int untouched = 1;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++) {
                if (j < n - 6)
                    md = fmax(md, fabs((double)b[r * n + j] - c[r * n + j]));
                else
                    untouched &= b[r * n + j] == a[r * n + j];
            }
        fprintf(stderr, "   softmax: max |diff| %.3g\n", md);
        CHECK(md < 2e-7); /* 1 ulp of a probability near 1, plus exp's error */
        CHECK(untouched);
    }
    lrsa_nn_force_scalar(0);
    free(a);
    free(b);
    free(c);
}

/* ===== against transformers ==================================================================== */

/* Load fixture model `name` (from directory `model`), check all outputs. */
static void check_model(const char *model, const char *outputs_of)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit *vit = NULL;
    int rc = lrsa_vit_load(fix(model), &vit, &err);
    CHECK_MSG(rc == LRSA_OK, "%s: %s", model, err.msg);
    if (rc)
        return;
    fprintf(stderr, "  %s\n", model);
    lrsa_tensor *px = load_npy(outputs_of, "pixels");
    static const char *const names[4] = { "last_hidden_state", "cls", "mean", "pooler" };
    CHECK(px != NULL);
    if (!px) {
        lrsa_vit_free(vit);
        return;
    }
    int64_t B = px->shape[0];
    for (int w = 0; w < 4; w++) {
        lrsa_tensor *want = load_npy(outputs_of, names[w]);
        int64_t dim = lrsa_vit_output_dim(vit, (lrsa_vit_output)w);
        CHECK(want && lrsa_tensor_numel(want) == B * dim);
        float *got = calloc((size_t)(B * dim), sizeof(float));
        rc = lrsa_vit_forward(vit, px->data, B, (lrsa_vit_output)w, 0, got, &ctx, &err);
        CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
        if (want && !rc)
            CHECK_MSG(compare(names[w], got, want->data, B * dim), "%s %s", model, names[w]);
        free(got);
        lrsa_tensor_free(want);
    }
    /* hidden_states[1]: the state after block 1, before the final layernorm */
    lrsa_tensor *h1 = load_npy(outputs_of, "hidden_1");
    int64_t T = lrsa_vit_output_dim(vit, LRSA_VIT_LAST_HIDDEN_STATE) / lrsa_vit_output_dim(vit, LRSA_VIT_CLS);
    int64_t C = lrsa_vit_output_dim(vit, LRSA_VIT_CLS);
    float *got = calloc((size_t)(B * T * C), sizeof(float));
    rc = lrsa_vit_forward(vit, px->data, B, LRSA_VIT_LAST_HIDDEN_STATE, 1, got, &ctx, &err);
    CHECK(rc == LRSA_OK && h1);
    if (!rc && h1) {
        CHECK(compare("hidden_states[1]", got, h1->data, B * T * C));
        float *cls = calloc((size_t)(B * C), sizeof(float)), *mean = calloc((size_t)(B * C), sizeof(float));
        float *wc = calloc((size_t)(B * C), sizeof(float)), *wm = calloc((size_t)(B * C), sizeof(float));
        CHECK(lrsa_vit_forward(vit, px->data, B, LRSA_VIT_CLS, 1, cls, &ctx, &err) == LRSA_OK);
        CHECK(lrsa_vit_forward(vit, px->data, B, LRSA_VIT_MEAN, 1, mean, &ctx, &err) == LRSA_OK);
        for (int64_t i = 0; i < B; i++)
            for (int64_t c = 0; c < C; c++) {
                wc[i * C + c] = h1->data[(i * T) * C + c];
                double s = 0.0;
                for (int64_t t = 1; t < T; t++)
                    s += h1->data[(i * T + t) * C + c];
                wm[i * C + c] = (float)(s / (double)(T - 1));
            }
        CHECK(compare("hidden_states[1] cls", cls, wc, B * C));
        CHECK(compare("hidden_states[1] mean", mean, wm, B * C));
        free(cls);
        free(mean);
        free(wc);
        free(wm);
    }
    free(got);
    lrsa_tensor_free(h1);
    lrsa_tensor_free(px);
    lrsa_vit_free(vit);
}

static void test_against_transformers(void)
{
    check_model("tiny_a", "tiny_a");
    check_model("tiny_b", "tiny_b");
    /* every dtype, with and without the "vit." prefix */
    check_model("tiny_c", "tiny_c");
    check_model("tiny_c_f32_prefix", "tiny_c");
    check_model("tiny_c_f16", "tiny_c_f16");
    check_model("tiny_c_f16_prefix", "tiny_c_f16");
    check_model("tiny_c_bf16", "tiny_c_bf16");
    check_model("tiny_c_bf16_prefix", "tiny_c_bf16");
    /* one thread gives the same answers */
    lrsa_ctx one = ctx;
    one.threads = 1;
    lrsa_ctx save = ctx;
    ctx = one;
    check_model("tiny_a", "tiny_a");
    ctx = save;
}

/* More images than one chunk (16): each image's output equals its output alone. */
static void test_chunks(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit *vit = NULL;
    CHECK(lrsa_vit_load(fix("tiny_b"), &vit, &err) == LRSA_OK);
    lrsa_tensor *px = load_npy("tiny_b", "pixels");
    lrsa_tensor *want = load_npy("tiny_b", "last_hidden_state");
    if (!vit || !px || !want) {
        CHECK(0);
        goto done;
    }
    int64_t per = lrsa_tensor_numel(px) / px->shape[0], B0 = px->shape[0], B = 37;
    int64_t dim = lrsa_vit_output_dim(vit, LRSA_VIT_LAST_HIDDEN_STATE);
    float *many = malloc(sizeof(float) * (size_t)(B * per)), *out = malloc(sizeof(float) * (size_t)(B * dim));
    float *exp_ = malloc(sizeof(float) * (size_t)(B * dim));
    for (int64_t i = 0; i < B; i++) {
        memcpy(many + i * per, px->data + (i % B0) * per, sizeof(float) * (size_t)per);
        memcpy(exp_ + i * dim, want->data + (i % B0) * dim, sizeof(float) * (size_t)dim);
    }
    CHECK(lrsa_vit_forward(vit, many, B, LRSA_VIT_LAST_HIDDEN_STATE, 0, out, &ctx, &err) == LRSA_OK);
    CHECK(compare("37 images (3 chunks)", out, exp_, B * dim));
    free(many);
    free(out);
    free(exp_);
done:
    lrsa_tensor_free(px);
    lrsa_tensor_free(want);
    lrsa_vit_free(vit);
}

/* ===== the loader's checks ===================================================================== */

static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

static int copy_file(const char *from, const char *to, long truncate_by)
{
    char *data = NULL;
    size_t len = 0;
    if (lrsa_read_file(from, 0, &data, &len, NULL))
        return -1;
    FILE *fp = fopen(to, "wb");
    if (!fp) {
        free(data);
        return -1;
    }
    size_t n = len - (size_t)truncate_by;
    fwrite(data, 1, n, fp);
    free(data);
    return fclose(fp);
}

/* a model directory: config text (NULL: tiny_c's), safetensors bytes (NULL: tiny_c's file) */
static const char *make_dir(const char *name, const char *config, const void *st, size_t stlen)
{
    static char dir[1200];
    char path[1300];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config)
        write_text(path, config);
    else
        copy_file(fix("tiny_c/config.json"), path, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st) {
        FILE *fp = fopen(path, "wb");
        fwrite(st, 1, stlen, fp);
        fclose(fp);
    } else {
        copy_file(fix("tiny_c/model.safetensors"), path, 0);
    }
    return dir;
}

/* tiny_c's config.json with one "key": value replaced or added */
static char *config_with(const char *key, const char *value)
{
    char *text = NULL;
    size_t len = 0;
    if (lrsa_read_file(fix("tiny_c/config.json"), 0, &text, &len, NULL))
        return NULL;
    char *out = malloc(len + 256);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *at = strstr(text, pat);
    if (at) {
        char *end = strpbrk(at + strlen(pat), ",\n}");
        /* a list value: skip to its closing bracket */
        char *lb = strchr(at, '[');
        if (lb && lb < end) {
            end = strchr(lb, ']') + 1;
        }
        sprintf(out, "%.*s\"%s\": %s%s", (int)(at - text), text, key, value, end);
    } else {
        char *brace = strchr(text, '{');
        sprintf(out, "{\n  \"%s\": %s,%s", key, value, brace + 1);
    }
    free(text);
    return out;
}

static void expect_load_error(const char *dir, int code, const char *needle, const char *what)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit *vit = NULL;
    int rc = lrsa_vit_load(dir, &vit, &err);
    fprintf(stderr, "   %-28s -> %s\n", what, err.msg);
    CHECK_ERR(rc, err, code, needle);
    CHECK(vit == NULL);
    lrsa_vit_free(vit);
}

static void test_config_errors(void)
{
    static const struct { const char *key, *value; int code; const char *needle; } cases[] = {
        { "hidden_act", "\"gelu_new\"", LRSA_EUNSUPPORTED, "hidden_act 'gelu_new'" },
        { "model_type", "\"deit\"", LRSA_EUNSUPPORTED, "model_type 'deit'" },
        { "pooler_act", "\"relu\"", LRSA_EUNSUPPORTED, "pooler_act" },
        { "pooler_output_size", "8", LRSA_EUNSUPPORTED, "pooler_output_size" },
        { "image_size", "[8, 4]", LRSA_EUNSUPPORTED, "image_size" },
        { "image_size", "10", LRSA_EUNSUPPORTED, "image_size" },
        { "num_attention_heads", "3", LRSA_EUNSUPPORTED, "num_attention_heads" },
        { "hidden_size", "\"16\"", LRSA_EFORMAT, "hidden_size" },
        { "hidden_size", "16.5", LRSA_EFORMAT, "hidden_size" },
        { "num_hidden_layers", "0", LRSA_EFORMAT, "num_hidden_layers" },
        { "qkv_bias", "1", LRSA_EFORMAT, "qkv_bias" },
        { "layer_norm_eps", "-1", LRSA_EFORMAT, "layer_norm_eps" },
        /* a config that parses but disagrees with the weights: the tensor is named */
        { "intermediate_size", "30", LRSA_ESHAPE, "encoder.layer.0.intermediate.dense.weight" },
        { "hidden_size", "32", LRSA_ESHAPE, "embeddings.cls_token" },
        { "num_hidden_layers", "2", LRSA_ENOTFOUND, "encoder.layer.1." },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cfg = config_with(cases[i].key, cases[i].value);
        char name[64];
        snprintf(name, sizeof name, "cfg%zu", i);
        const char *dir = make_dir(name, cfg, NULL, 0);
        char what[128];
        snprintf(what, sizeof what, "%s %s", cases[i].key, cases[i].value);
        expect_load_error(dir, cases[i].code, cases[i].needle, what);
        free(cfg);
    }
    /* a field we ignore (labels, dropouts) does not stop the load; ViTConfig's image_size pair */
    char *cfg = config_with("id2label", "{\"0\": \"cat\"}");
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit *vit = NULL;
    CHECK_MSG(lrsa_vit_load(make_dir("cfg_ok", cfg, NULL, 0), &vit, &err) == LRSA_OK, "%s", err.msg);
    lrsa_vit_free(vit);
    free(cfg);
    cfg = config_with("image_size", "[8, 8]");
    vit = NULL;
    CHECK_MSG(lrsa_vit_load(make_dir("cfg_pair", cfg, NULL, 0), &vit, &err) == LRSA_OK, "%s", err.msg);
    lrsa_vit_free(vit);
    free(cfg);
    /* no such directory / missing files */
    expect_load_error("/nonexistent/vit", LRSA_ENOTFOUND, "/nonexistent/vit", "no directory");
    char path[1300];
    const char *dir = make_dir("nost", NULL, NULL, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    expect_load_error(dir, LRSA_ENOTFOUND, "model.safetensors", "no safetensors");
}

static void test_safetensors_errors(void)
{
    char path[1300];
    /* truncated: the last 100 bytes missing */
    const char *dir = make_dir("trunc", NULL, NULL, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    copy_file(fix("tiny_c/model.safetensors"), path, 100);
    expect_load_error(dir, LRSA_EFORMAT, "model.safetensors", "truncated file");
    /* truncated inside the header */
    copy_file(fix("tiny_c/model.safetensors"), path, 15900);
    expect_load_error(dir, LRSA_EFORMAT, "model.safetensors", "truncated header");

    /* hand-made headers: 8-byte length, JSON, data */
    static const struct { const char *json; size_t data; const char *what; } bad[] = {
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlapping offsets" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12, "offsets past the end" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "shape vs offsets" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t jl = strlen(bad[i].json);
        unsigned char *buf = calloc(1, 8 + jl + bad[i].data);
        for (int k = 0; k < 8; k++)
            buf[k] = (unsigned char)((uint64_t)jl >> (8 * k));
        memcpy(buf + 8, bad[i].json, jl);
        char name[32];
        snprintf(name, sizeof name, "badst%zu", i);
        expect_load_error(make_dir(name, NULL, buf, 8 + jl + bad[i].data), LRSA_EFORMAT,
                          "model.safetensors", bad[i].what);
        free(buf);
    }
}

/* A checkpoint without the pooler (as ViTForImageClassification): loads; POOLER is refused. */
static void test_no_pooler(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_safetensors *st = NULL;
    CHECK(lrsa_st_open(fix("tiny_c/model.safetensors"), &st, &err) == LRSA_OK);
    if (!st)
        return;
    lrsa_st_entry *ent = calloc((size_t)st->ntensors, sizeof *ent);
    lrsa_tensor **ts = calloc((size_t)st->ntensors, sizeof *ts);
    int n = 0;
    for (int i = 0; i < st->ntensors; i++) {
        if (strncmp(st->tensors[i].name, "pooler.", 7) == 0)
            continue;
        CHECK(lrsa_st_get_f32(st, st->tensors[i].name, &ts[n], &err) == LRSA_OK);
        ent[n].name = st->tensors[i].name;
        ent[n].ndim = ts[n]->ndim;
        ent[n].shape = ts[n]->shape;
        ent[n].data = ts[n]->data;
        n++;
    }
    const char *dir = make_dir("nopool", NULL, "", 0);
    char path[1300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(lrsa_st_write_f32(path, ent, n, NULL, 0, &err) == LRSA_OK);
    for (int i = 0; i < n; i++)
        lrsa_tensor_free(ts[i]);
    free(ts);
    free(ent);
    lrsa_st_close(st);
    lrsa_vit *vit = NULL;
    CHECK_MSG(lrsa_vit_load(dir, &vit, &err) == LRSA_OK, "%s", err.msg);
    if (!vit)
        return;
    CHECK(!lrsa_vit_has_pooler(vit));
    lrsa_tensor *px = load_npy("tiny_c", "pixels"), *want = load_npy("tiny_c", "cls");
    float out[3 * 16];
    CHECK(lrsa_vit_forward(vit, px->data, 3, LRSA_VIT_CLS, 0, out, &ctx, &err) == LRSA_OK);
    CHECK(compare("cls without pooler", out, want->data, 3 * 16));
    int rc = lrsa_vit_forward(vit, px->data, 3, LRSA_VIT_POOLER, 0, out, &ctx, &err);
    CHECK_ERR(rc, err, LRSA_EUNSUPPORTED, "pooler");
    /* misuse */
    rc = lrsa_vit_forward(vit, px->data, 3, LRSA_VIT_CLS, 2, out, &ctx, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "layer 2");
    rc = lrsa_vit_forward(vit, px->data, 0, LRSA_VIT_CLS, 0, out, &ctx, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "B 0");
    rc = lrsa_vit_forward(vit, px->data, 3, LRSA_VIT_POOLER, 1, out, &ctx, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "layer 0");
    lrsa_tensor_free(px);
    lrsa_tensor_free(want);
    lrsa_vit_free(vit);
}

/* ===== vit-init's weights ====================================================================== */

static void test_init_random(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_vit_config cfg;
    CHECK(lrsa_vit_config_preset("tiny", &cfg, &err) == LRSA_OK);
    CHECK_INT(lrsa_vit_config_params(&cfg), 5561472);
    CHECK(lrsa_vit_config_preset("base", &cfg, &err) == LRSA_OK);
    CHECK_INT(lrsa_vit_config_params(&cfg), 86389248); /* specs/vit.md 2.3 */
    CHECK_ERR(lrsa_vit_config_preset("huge", &cfg, &err), err, LRSA_ENOTFOUND, "huge");
    CHECK(lrsa_vit_config_read(fix("tiny_a/config.json"), &cfg, &err) == LRSA_OK);
    CHECK_INT(cfg.hidden_size, 32);
    CHECK_INT(cfg.num_hidden_layers, 2);

    char d1[1200], d2[1200];
    snprintf(d1, sizeof d1, "%s/init1", tmpdir);
    snprintf(d2, sizeof d2, "%s/init2", tmpdir);
    CHECK(lrsa_vit_init_random(&cfg, 3, d1, &err) == LRSA_OK);
    CHECK(lrsa_vit_init_random(&cfg, 3, d2, &err) == LRSA_OK);
    char p1[1300], p2[1300];
    snprintf(p1, sizeof p1, "%s/model.safetensors", d1);
    snprintf(p2, sizeof p2, "%s/model.safetensors", d2);
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    CHECK(lrsa_read_file(p1, 0, &a, &la, &err) == LRSA_OK);
    CHECK(lrsa_read_file(p2, 0, &b, &lb, &err) == LRSA_OK);
    CHECK(a && b && la == lb && memcmp(a, b, la) == 0); /* same seed, same bytes */
    free(a);
    free(b);
    /* the statistics of the weights as written */
    lrsa_safetensors *st = NULL;
    CHECK(lrsa_st_open(p1, &st, &err) == LRSA_OK);
    CHECK_STR(lrsa_st_meta(st, "format"), "pt");
    CHECK_INT(st->ntensors, 4 + 16 * 2 + 4);
    for (int i = 0; st && i < st->ntensors; i++) {
        lrsa_tensor *t = NULL;
        const char *nm = st->tensors[i].name;
        CHECK(lrsa_st_get_f32(st, nm, &t, &err) == LRSA_OK);
        int64_t n = lrsa_tensor_numel(t);
        double s = 0.0, ss = 0.0, mx = 0.0;
        for (int64_t k = 0; k < n; k++) {
            s += t->data[k];
            ss += (double)t->data[k] * t->data[k];
            mx = fmax(mx, fabs(t->data[k]));
        }
        size_t L = strlen(nm);
        if (L > 5 && strcmp(nm + L - 5, ".bias") == 0)
            CHECK_MSG(mx == 0.0, "%s", nm);
        else if (strstr(nm, "layernorm"))
            CHECK_MSG(s == (double)n && ss == (double)n, "%s", nm);
        else {
            double sd = sqrt(ss / (double)n - (s / n) * (s / n));
            CHECK_MSG(fabs(sd - 0.02) < 0.02 * 6.0 / sqrt((double)n) + 1e-9, "%s sd %g", nm, sd);
        }
        lrsa_tensor_free(t);
    }
    lrsa_st_close(st);
    /* load back: the same forward as the model in memory */
    lrsa_vit *v1 = NULL, *v2 = NULL;
    CHECK(lrsa_vit_new_random(&cfg, 3, &v1, &err) == LRSA_OK);
    CHECK(lrsa_vit_load(d1, &v2, &err) == LRSA_OK);
    if (v1 && v2) {
        lrsa_tensor *px = load_npy("tiny_a", "pixels");
        float o1[3 * 32], o2[3 * 32];
        CHECK(lrsa_vit_forward(v1, px->data, 3, LRSA_VIT_POOLER, 0, o1, &ctx, &err) == LRSA_OK);
        CHECK(lrsa_vit_forward(v2, px->data, 3, LRSA_VIT_POOLER, 0, o2, &ctx, &err) == LRSA_OK);
        CHECK(memcmp(o1, o2, sizeof o1) == 0);
        lrsa_tensor_free(px);
    }
    lrsa_vit_free(v1);
    lrsa_vit_free(v2);
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/vit", src && *src ? src : ".");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_vit", harness_tmpdir());
    mkdir(tmpdir, 0755);
    lrsa_ctx_init(&ctx);
    ctx.threads = 2;
    RUN(test_erf_exp);
    RUN(test_kernels_vs_naive);
    RUN(test_against_transformers);
    RUN(test_chunks);
    RUN(test_config_errors);
    RUN(test_safetensors_errors);
    RUN(test_no_pooler);
    RUN(test_init_random);
    return harness_done();
}
