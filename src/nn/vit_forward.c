/* The ViT forward pass (transformers' ViTModel, specs/vit.md §2.2) on OpenBLAS + OpenMP.
 *
 * Activations are token-major, [B*T, C] for a chunk of B images: every weight GEMM runs once per
 * chunk with M = B*T rows, so the weights stream through the cache once per chunk, not per image.
 *   patch embedding   im2col [B*P, K] x W^T [K, C]           one GEMM
 *   per block         LN -> QKV [B*T, 3C] (one GEMM on the stacked weights)
 *                     per (image, head): S = (Q K^T) / sqrt(D) [T, T], softmax, S V -> ctx
 *                     x += ctx W_o^T + b_o;  LN -> fc1 [B*T, F], bias + GELU -> fc2, x += ...
 *   final             LN, then the output asked for (pooler: tanh(W_p cls + b_p))
 * The weight GEMMs use OpenBLAS's threads; the attention loop runs OpenMP threads over
 * (image, head) pairs with single-threaded BLAS inside (never both at once). */
#include "vit_impl.h"
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define VIT_CHUNK 16 /* images per pass */

int64_t lrsa_vit_output_dim(const lrsa_vit *vit, lrsa_vit_output what)
{
    switch (what) {
    case LRSA_VIT_LAST_HIDDEN_STATE:
        return vit->T * vit->C;
    case LRSA_VIT_CLS:
    case LRSA_VIT_MEAN:
    case LRSA_VIT_POOLER:
        return vit->C;
    }
    return 0;
}

/* scratch buffers for a chunk of B images */
typedef struct vit_bufs {
    float *x;    /* [B*T, C] the residual stream */
    float *h;    /* [B*T, C] layernorm output, attention context, patch GEMM output */
    float *qkv;  /* [B*T, 3C] */
    float *f;    /* [B*T, F] MLP hidden, or [B*P, K] the im2col patches */
    float *s;    /* [threads, T, T] attention scores */
} vit_bufs;

static int get_bufs(lrsa_vit *v, int64_t B, int threads, vit_bufs *b, lrsa_err *err)
{
    size_t M = (size_t)(B * v->T), C = (size_t)v->C;
    size_t nf = M * (size_t)v->F, npatch = (size_t)(B * v->P) * (size_t)v->K;
    if (npatch > nf)
        nf = npatch;
    size_t ns = (size_t)threads * (size_t)v->T * (size_t)v->T;
    size_t need = 5 * M * C + nf + ns + 64;
    if (need > v->scratch_cap) {
        free(v->scratch);
        v->scratch_cap = 0;
        v->scratch = lrsa_malloc(need * sizeof(float), "vit activations", err);
        if (!v->scratch)
            return LRSA_ENOMEM;
        v->scratch_cap = need;
    }
    float *p = v->scratch;
    b->x = p;
    p += M * C;
    b->h = p;
    p += M * C;
    b->qkv = p;
    p += 3 * M * C;
    b->f = p;
    p += nf;
    b->s = p;
    return LRSA_OK;
}

/* y[M, N] (ldy) = x[M, K] W[N, K]^T (+ y if accumulate) */
static void linear(float *y, int64_t ldy, const float *x, const float *w, int64_t M, int64_t N,
                   int64_t K, int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K, w,
                (int)K, accumulate ? 1.0f : 0.0f, y, (int)ldy);
}

/* rows of x += bias */
static void add_bias(float *x, const float *bias, int64_t rows, int64_t n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + (size_t)r * (size_t)n;
        for (int64_t j = 0; j < n; j++)
            row[j] += bias[j];
    }
}

/* Patch embedding, CLS and position embeddings into b->x. */
static void embed(const lrsa_vit *v, const float *pixels, int64_t B, vit_bufs *b, int threads)
{
    int64_t p = v->cfg.patch_size, S = v->cfg.image_size, g = S / p, ch = v->cfg.num_channels;
    int64_t P = v->P, K = v->K, C = v->C, T = v->T;
    /* im2col: row (i, py, px), column c*p*p + ky*p + kx, as the conv weight [C, ch, p, p] */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < B * P; r++) {
        int64_t i = r / P, py = (r % P) / g, px = r % g;
        float *dst = b->f + (size_t)r * (size_t)K;
        for (int64_t c = 0; c < ch; c++)
            for (int64_t ky = 0; ky < p; ky++)
                memcpy(dst + (c * p + ky) * p,
                       pixels + ((size_t)(i * ch + c) * (size_t)S + (size_t)(py * p + ky)) * (size_t)S +
                           (size_t)(px * p),
                       sizeof(float) * (size_t)p);
    }
    linear(b->h, C, b->f, v->patch_w, B * P, C, K, 0);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < B * T; r++) {
        int64_t i = r / T, t = r % T;
        float *dst = b->x + (size_t)r * (size_t)C;
        const float *pe = v->pos + (size_t)t * (size_t)C;
        if (t == 0) {
            for (int64_t c = 0; c < C; c++)
                dst[c] = v->cls[c] + pe[c];
        } else {
            const float *src = b->h + (size_t)(i * P + t - 1) * (size_t)C;
            for (int64_t c = 0; c < C; c++)
                dst[c] = (src[c] + v->patch_b[c]) + pe[c];
        }
    }
}

/* Self-attention of block ly: b->h (layernormed) -> qkv -> context in b->h. */
static void attention(const lrsa_vit *v, const vit_layer *ly, int64_t B, vit_bufs *b, int threads)
{
    int64_t T = v->T, C = v->C, H = v->H, D = v->D, C3 = 3 * v->C;
    linear(b->qkv, C3, b->h, ly->qkv_w, B * T, C3, C, 0);
    const float alpha = (float)(1.0 / sqrt((double)D));
    const int qkv_bias = v->cfg.qkv_bias;
#pragma omp parallel num_threads(threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        omp_set_num_threads(1); /* BLAS single-threaded inside (see rdm.c) */
#endif
        float *S = b->s + (size_t)tid * (size_t)(T * T);
#pragma omp for schedule(dynamic, 1)
        for (int64_t job = 0; job < B * H; job++) {
            int64_t i = job / H, hd = job % H;
            float *q = b->qkv + (size_t)(i * T) * (size_t)C3 + (size_t)(hd * D);
            float *k = q + C, *vv = q + 2 * C;
            if (qkv_bias) {
                const float *bq = ly->qkv_b + hd * D, *bk = bq + C, *bv = bq + 2 * C;
                for (int64_t t = 0; t < T; t++) {
                    float *qr = q + (size_t)t * (size_t)C3, *kr = qr + C, *vr = qr + 2 * C;
                    for (int64_t d = 0; d < D; d++) {
                        qr[d] += bq[d];
                        kr[d] += bk[d];
                        vr[d] += bv[d];
                    }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)D, alpha, q,
                        (int)C3, k, (int)C3, 0.0f, S, (int)T);
            lrsa_nn_softmax_rows(S, T, T, T);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)T, 1.0f, S,
                        (int)T, vv, (int)C3, 0.0f, b->h + (size_t)(i * T) * (size_t)C + (size_t)(hd * D),
                        (int)C);
        }
    }
}

static void block(const lrsa_vit *v, const vit_layer *ly, int64_t B, vit_bufs *b, int threads)
{
    int64_t M = B * v->T, C = v->C, NI = v->F;
    float eps = (float)v->cfg.layer_norm_eps;
    lrsa_nn_layernorm(b->h, b->x, ly->ln1_w, ly->ln1_b, M, C, eps, threads);
    attention(v, ly, B, b, threads);
    add_bias(b->x, ly->o_b, M, C, threads);
    linear(b->x, C, b->h, ly->o_w, M, C, C, 1);
    lrsa_nn_layernorm(b->h, b->x, ly->ln2_w, ly->ln2_b, M, C, eps, threads);
    linear(b->f, NI, b->h, ly->fc1_w, M, NI, C, 0);
    lrsa_nn_bias_gelu(b->f, ly->fc1_b, M, NI, threads);
    add_bias(b->x, ly->fc2_b, M, C, threads);
    linear(b->x, C, b->f, ly->fc2_w, M, C, NI, 1);
}

/* One chunk of B <= VIT_CHUNK images; out holds B * output_dim floats. */
static void forward_chunk(lrsa_vit *v, const float *pixels, int64_t B, lrsa_vit_output what,
                          int layer, float *out, vit_bufs *b, int threads)
{
    int64_t T = v->T, C = v->C, P = v->P;
    float eps = (float)v->cfg.layer_norm_eps;
    embed(v, pixels, B, b, threads);
    int64_t nl = layer ? layer : v->L;
    for (int64_t l = 0; l < nl; l++)
        block(v, &v->layers[l], B, b, threads);
    const float *src = b->x; /* the state to read the output from */
    if (layer == 0) {
        if (what == LRSA_VIT_LAST_HIDDEN_STATE) {
            lrsa_nn_layernorm(out, b->x, v->lnf_w, v->lnf_b, B * T, C, eps, threads);
            return;
        }
        if (what == LRSA_VIT_MEAN) {
            lrsa_nn_layernorm(b->h, b->x, v->lnf_w, v->lnf_b, B * T, C, eps, threads);
        } else { /* CLS rows only: row i of h is image i's CLS */
            for (int64_t i = 0; i < B; i++)
                lrsa_nn_layernorm(b->h + (size_t)(i * T) * (size_t)C, b->x + (size_t)(i * T) * (size_t)C,
                                  v->lnf_w, v->lnf_b, 1, C, eps, 1);
        }
        src = b->h;
    }
    switch (what) {
    case LRSA_VIT_LAST_HIDDEN_STATE:
        memcpy(out, src, sizeof(float) * (size_t)(B * T * C));
        break;
    case LRSA_VIT_CLS:
        for (int64_t i = 0; i < B; i++)
            memcpy(out + i * C, src + (size_t)(i * T) * (size_t)C, sizeof(float) * (size_t)C);
        break;
    case LRSA_VIT_MEAN:
        for (int64_t i = 0; i < B; i++)
            for (int64_t c = 0; c < C; c++) {
                double s = 0.0;
                for (int64_t t = 1; t < T; t++)
                    s += src[(size_t)(i * T + t) * (size_t)C + (size_t)c];
                out[i * C + c] = (float)(s / (double)P);
            }
        break;
    case LRSA_VIT_POOLER: {
        /* dense on the CLS rows: lda T*C skips the patch tokens */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)C, (int)C, 1.0f, src,
                    (int)(T * C), v->pool_w, (int)C, 0.0f, out, (int)C);
        for (int64_t i = 0; i < B; i++)
            for (int64_t c = 0; c < C; c++)
                out[i * C + c] = tanhf(out[i * C + c] + v->pool_b[c]);
        break;
    }
    }
}

int lrsa_vit_forward(lrsa_vit *vit, const float *pixels, int64_t B, lrsa_vit_output what,
                     int layer, float *out, const lrsa_ctx *ctx, lrsa_err *err)
{
    if (!vit || !pixels || !out || B < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit forward: bad arguments (B %lld)", (long long)B);
    if (what != LRSA_VIT_LAST_HIDDEN_STATE && what != LRSA_VIT_CLS && what != LRSA_VIT_MEAN &&
        what != LRSA_VIT_POOLER)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit forward: unknown output %d", (int)what);
    if (layer < 0 || layer > vit->L)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit forward: layer %d is outside 0..%lld", layer,
                         (long long)vit->L);
    if (what == LRSA_VIT_POOLER && layer != 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit forward: the pooler output needs layer 0");
    if (what == LRSA_VIT_POOLER && !vit->has_pooler)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "vit forward: the model has no pooler weights");
    int threads = lrsa_threads(ctx);
    if (threads < 1)
        threads = 1;
    int64_t chunk = B < VIT_CHUNK ? B : VIT_CHUNK;
    vit_bufs b;
    int rc = get_bufs(vit, chunk, threads, &b, err);
    if (rc)
        return rc;
    int64_t in_per = vit->cfg.num_channels * vit->cfg.image_size * vit->cfg.image_size;
    int64_t out_per = lrsa_vit_output_dim(vit, what);
    for (int64_t i0 = 0; i0 < B; i0 += chunk) {
        int64_t n = B - i0 < chunk ? B - i0 : chunk;
        forward_chunk(vit, pixels + (size_t)i0 * (size_t)in_per, n, what, layer,
                      out + (size_t)i0 * (size_t)out_per, &b, threads);
        lrsa_progress(ctx, "vit", i0 + n, B);
    }
    return LRSA_OK;
}
