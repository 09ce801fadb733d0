/*
 * The paper's convolutional autoencoder: sizes table, one allocation per buffer kind with pointer
 * tables into it (llm.c's fill_in_parameter_sizes / malloc_and_point_parameters), PyTorch's
 * initialisation, forward, backward with micro-batch accumulation, Adam, encoder-only inference.
 *
 * Glossary: d = depth, ch[l] = cfg.channels[l], C = in_channels, H x W = image size, D = C*H*W.
 * Encoder layer l: (ch[l-1] or C) x H/2^l x W/2^l -> ch[l] x H/2^(l+1) x W/2^(l+1), then ReLU.
 * Decoder layer l: ch[d-1-l] x H/2^(d-l) -> (ch[d-2-l] or C) x H/2^(d-l-1), then ReLU (Sigmoid
 * after the last).
 */
#include "latentrsa/ae.h"
#include "conv_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define ELEM_CHUNK ((size_t)1 << 16)

/* ===== Configuration ================================================================ */

void lrsa_ae_config_default(lrsa_ae_config *cfg)
{
    static const int64_t ch[5] = {16, 32, 64, 128, 256};
    memset(cfg, 0, sizeof *cfg);
    cfg->in_channels = 3;
    cfg->height = 672;
    cfg->width = 672;
    cfg->depth = 5;
    for (int i = 0; i < 5; i++)
        cfg->channels[i] = ch[i];
}

int lrsa_ae_config_check(const lrsa_ae_config *cfg, lrsa_err *err)
{
    if (!cfg)
        return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder config is NULL");
    if (cfg->depth < 1 || cfg->depth > LRSA_AE_MAX_DEPTH)
        return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder depth %d is outside 1..%d", cfg->depth,
                         LRSA_AE_MAX_DEPTH);
    if (cfg->in_channels < 1 || cfg->in_channels > 65536)
        return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder input channels %lld is outside 1..65536",
                         (long long)cfg->in_channels);
    for (int l = 0; l < cfg->depth; l++)
        if (cfg->channels[l] < 1 || cfg->channels[l] > 65536)
            return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder channels[%d] = %lld is outside 1..65536",
                             l, (long long)cfg->channels[l]);
    int64_t f = (int64_t)1 << cfg->depth;
    if (cfg->height < f || cfg->width < f || cfg->height % f || cfg->width % f)
        return LRSA_FAIL(err, LRSA_EMISUSE,
                         "autoencoder input %lldx%lld is not a positive multiple of 2^depth = %lld",
                         (long long)cfg->height, (long long)cfg->width, (long long)f);
    if (cfg->height > 65536 || cfg->width > 65536)
        return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder input %lldx%lld is too large",
                         (long long)cfg->height, (long long)cfg->width);
    /* every activation and im2col buffer must index with int (sgemm) */
    int64_t cin = cfg->in_channels, h = cfg->height, w = cfg->width;
    for (int l = 0; l < cfg->depth; l++) {
        int64_t a = cin * 9 * (h / 2) * (w / 2), b = cfg->channels[l] * 9 * (h / 2) * (w / 2);
        if (a > INT32_MAX || b > INT32_MAX || cin * h * w > INT32_MAX)
            return LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder layer %d is too large", l);
        cin = cfg->channels[l];
        h /= 2;
        w /= 2;
    }
    return LRSA_OK;
}

int64_t lrsa_ae_image_dim(const lrsa_ae_config *cfg)
{
    return cfg->in_channels * cfg->height * cfg->width;
}

void lrsa_ae_latent_shape(const lrsa_ae_config *cfg, int64_t out[3])
{
    out[0] = cfg->channels[cfg->depth - 1];
    out[1] = cfg->height >> cfg->depth;
    out[2] = cfg->width >> cfg->depth;
}

int64_t lrsa_ae_latent_dim(const lrsa_ae_config *cfg)
{
    int64_t s[3];
    lrsa_ae_latent_shape(cfg, s);
    return s[0] * s[1] * s[2];
}

/* ===== Sizes ======================================================================== */

/* Layer geometry: input channels, input height/width and output channels of encoder layer l
 * (dec = 0) or decoder layer l (dec = 1). */
static void layer_geom(const lrsa_ae_config *cfg, int dec, int l, int64_t *cin, int64_t *h,
                       int64_t *w, int64_t *cout)
{
    int d = cfg->depth;
    if (!dec) {
        *cin = l == 0 ? cfg->in_channels : cfg->channels[l - 1];
        *cout = cfg->channels[l];
        *h = cfg->height >> l;
        *w = cfg->width >> l;
    } else {
        *cin = cfg->channels[d - 1 - l];
        *cout = l == d - 1 ? cfg->in_channels : cfg->channels[d - 2 - l];
        *h = cfg->height >> (d - l);
        *w = cfg->width >> (d - l);
    }
}

/* Floats per image of activation a (the output of encoder layer a, or of decoder layer a - d). */
static int64_t act_floats(const lrsa_ae_config *cfg, int a)
{
    int64_t cin, h, w, cout;
    int d = cfg->depth;
    if (a < d) {
        layer_geom(cfg, 0, a, &cin, &h, &w, &cout);
        return cout * (h / 2) * (w / 2);
    }
    layer_geom(cfg, 1, a - d, &cin, &h, &w, &cout);
    return cout * (h * 2) * (w * 2);
}

static size_t scratch_floats(const lrsa_ae_config *cfg)
{
    size_t mx = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int l = 0; l < cfg->depth; l++) {
            int64_t cin, h, w, cout;
            layer_geom(cfg, dec, l, &cin, &h, &w, &cout);
            size_t s = lrsa_conv_scratch_floats(cin, h, w, cout, dec);
            if (s > mx)
                mx = s;
        }
    return mx;
}

static size_t param_floats(const lrsa_ae_config *cfg)
{
    size_t n = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int l = 0; l < cfg->depth; l++) {
            int64_t cin, h, w, cout;
            layer_geom(cfg, dec, l, &cin, &h, &w, &cout);
            n += (size_t)(cin * cout * 9 + cout);
        }
    return n;
}

static void act_totals(const lrsa_ae_config *cfg, int64_t *per_image, int64_t *max_act)
{
    *per_image = 0;
    *max_act = 0;
    for (int a = 0; a < 2 * cfg->depth; a++) {
        int64_t s = act_floats(cfg, a);
        *per_image += s;
        if (s > *max_act)
            *max_act = s;
    }
}

size_t lrsa_ae_memory_bytes(const lrsa_ae_config *cfg, int64_t batch, int threads)
{
    if (lrsa_ae_config_check(cfg, NULL) != LRSA_OK || batch < 0)
        return SIZE_MAX;
    if (threads < 1)
        threads = 1;
    int64_t per_image, max_act;
    act_totals(cfg, &per_image, &max_act);
    double floats = 4.0 * (double)param_floats(cfg) +
                    (double)batch * (double)(per_image + 2 * max_act) +
                    (double)threads * (double)scratch_floats(cfg);
    double bytes = floats * sizeof(float);
    if (bytes >= (double)SIZE_MAX / 2)
        return SIZE_MAX;
    return (size_t)bytes;
}

int64_t lrsa_ae_micro_batch(const lrsa_ae_config *cfg, size_t budget_bytes, int threads)
{
    if (lrsa_ae_config_check(cfg, NULL) != LRSA_OK)
        return 0;
    size_t base = lrsa_ae_memory_bytes(cfg, 0, threads);
    size_t one = lrsa_ae_memory_bytes(cfg, 1, threads);
    if (base == SIZE_MAX || one == SIZE_MAX || one > budget_bytes)
        return 0;
    size_t per = one - base;
    size_t mb = per ? (budget_bytes - base) / per : 65536;
    return mb > 65536 ? 65536 : (int64_t)mb;
}

size_t lrsa_ae_default_memory_budget(void)
{
    size_t floor_bytes = (size_t)256 << 20;
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0)
        return floor_bytes;
    double half = 0.5 * (double)pages * (double)psz;
    if (half >= (double)SIZE_MAX)
        return SIZE_MAX / 2;
    size_t b = (size_t)half;
    return b < floor_bytes ? floor_bytes : b;
}

/* ===== The model ==================================================================== */

/* Fill the parameter table (names, shapes, offsets) and num_params; llm.c's fill_in_parameter_sizes. */
static void fill_param_table(lrsa_ae *ae)
{
    const lrsa_ae_config *cfg = &ae->cfg;
    size_t off = 0;
    int i = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int l = 0; l < cfg->depth; l++) {
            int64_t cin, h, w, cout;
            layer_geom(cfg, dec, l, &cin, &h, &w, &cout);
            for (int isb = 0; isb < 2; isb++, i++) {
                lrsa_ae_param *p = &ae->param[i];
                memset(p, 0, sizeof *p);
                snprintf(p->name, sizeof p->name, "%s.%d.%s", dec ? "decoder" : "encoder", 2 * l,
                         isb ? "bias" : "weight");
                if (isb) {
                    p->ndim = 1;
                    p->shape[0] = cout;
                } else {
                    p->ndim = 4;
                    p->shape[0] = dec ? cin : cout; /* ConvTranspose2d: (in, out, k, k) */
                    p->shape[1] = dec ? cout : cin;
                    p->shape[2] = 3;
                    p->shape[3] = 3;
                }
                p->numel = isb ? (size_t)cout : (size_t)(cin * cout * 9);
                p->offset = off;
                off += p->numel;
            }
        }
    ae->nparam_tensors = i;
    ae->num_params = off;
}

/* Point the per-layer tables into params; llm.c's malloc_and_point_parameters. */
static void point_params(lrsa_ae *ae)
{
    int d = ae->cfg.depth;
    for (int l = 0; l < d; l++) {
        ae->enc_w[l] = ae->params + ae->param[2 * l].offset;
        ae->enc_b[l] = ae->params + ae->param[2 * l + 1].offset;
        ae->dec_w[l] = ae->params + ae->param[2 * d + 2 * l].offset;
        ae->dec_b[l] = ae->params + ae->param[2 * d + 2 * l + 1].offset;
    }
}

int lrsa_ae_new(const lrsa_ae_config *cfg, lrsa_ae **out, lrsa_err *err)
{
    int rc = LRSA_OK;
    lrsa_ae *ae = NULL;
    *out = NULL;
    if ((rc = lrsa_ae_config_check(cfg, err)) != LRSA_OK)
        goto done;
    ae = lrsa_calloc(1, sizeof *ae, "autoencoder", err);
    if (!ae) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    ae->cfg = *cfg;
    fill_param_table(ae);
    ae->params = lrsa_calloc(ae->num_params, sizeof(float), "autoencoder parameters", err);
    ae->grads = ae->params ? lrsa_calloc(ae->num_params, sizeof(float), "autoencoder gradients", err)
                           : NULL;
    ae->m = ae->grads ? lrsa_calloc(ae->num_params, sizeof(float), "adam moments", err) : NULL;
    ae->v = ae->m ? lrsa_calloc(ae->num_params, sizeof(float), "adam moments", err) : NULL;
    if (!ae->v) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    point_params(ae);
    *out = ae;
    ae = NULL;
done:
    lrsa_ae_free(ae);
    return rc;
}

static void free_acts(lrsa_ae *ae)
{
    free(ae->acts);
    free(ae->dacts);
    free(ae->scratch);
    ae->acts = ae->dacts = ae->scratch = NULL;
    ae->max_batch = 0;
    ae->threads = 0;
    ae->fwd_batch = 0;
    ae->fwd_input = NULL;
}

void lrsa_ae_free(lrsa_ae *ae)
{
    if (!ae)
        return;
    free_acts(ae);
    free(ae->params);
    free(ae->grads);
    free(ae->m);
    free(ae->v);
    free(ae);
}

double lrsa_ae_init_bound(const lrsa_ae *ae, int i)
{
    if (i < 0 || i >= ae->nparam_tensors)
        return 0.0;
    /* the weight of this layer: fan_in = weight.size(1) * 3 * 3 */
    const lrsa_ae_param *w = &ae->param[i & ~1];
    return 1.0 / sqrt((double)(w->shape[1] * w->shape[2] * w->shape[3]));
}

void lrsa_ae_init_pytorch(lrsa_ae *ae, lrsa_rng *rng)
{
    for (int i = 0; i < ae->nparam_tensors; i++) {
        const lrsa_ae_param *p = &ae->param[i];
        double bound = lrsa_ae_init_bound(ae, i);
        float *dst = ae->params + p->offset;
        for (size_t k = 0; k < p->numel; k++)
            dst[k] = (float)((2.0 * lrsa_rng_uniform(rng) - 1.0) * bound);
    }
    memset(ae->grads, 0, ae->num_params * sizeof(float));
    memset(ae->m, 0, ae->num_params * sizeof(float));
    memset(ae->v, 0, ae->num_params * sizeof(float));
}

int lrsa_ae_num_param_tensors(const lrsa_ae *ae) { return ae->nparam_tensors; }

const lrsa_ae_param *lrsa_ae_param_info(const lrsa_ae *ae, int i)
{
    return i >= 0 && i < ae->nparam_tensors ? &ae->param[i] : NULL;
}

int lrsa_ae_find_param(const lrsa_ae *ae, const char *name)
{
    for (int i = 0; i < ae->nparam_tensors; i++)
        if (strcmp(ae->param[i].name, name) == 0)
            return i;
    return -1;
}

int lrsa_ae_alloc(lrsa_ae *ae, int64_t max_batch, int threads, lrsa_err *err)
{
    int rc = LRSA_OK;
    free_acts(ae);
    if (threads <= 0)
        threads = lrsa_threads(NULL);
    if (threads < 1)
        threads = 1;
    if (max_batch < 1 || max_batch > 65536) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder micro-batch %lld is outside 1..65536",
                       (long long)max_batch);
        goto done;
    }
    int64_t per_image = 0, max_act = 0;
    act_totals(&ae->cfg, &per_image, &max_act);
    for (int a = 0; a < 2 * ae->cfg.depth; a++) {
        ae->act_size[a] = act_floats(&ae->cfg, a);
        ae->act_offset[a] = a ? ae->act_offset[a - 1] + ae->act_size[a - 1] : 0;
    }
    ae->acts_per_image = per_image;
    ae->scratch_per_thread = scratch_floats(&ae->cfg);
    ae->acts = lrsa_malloc((size_t)max_batch * (size_t)per_image * sizeof(float),
                           "autoencoder activations", err);
    ae->dacts = ae->acts ? lrsa_malloc((size_t)max_batch * 2 * (size_t)max_act * sizeof(float),
                                       "autoencoder activation gradients", err)
                         : NULL;
    ae->scratch = ae->dacts ? lrsa_malloc((size_t)threads * ae->scratch_per_thread * sizeof(float),
                                          "autoencoder scratch", err)
                            : NULL;
    if (!ae->scratch) {
        rc = LRSA_ENOMEM;
        free_acts(ae);
        goto done;
    }
    ae->max_batch = max_batch;
    ae->threads = threads;
done:
    return rc;
}

/* ===== Forward / backward =========================================================== */

static float *act_ptr(const lrsa_ae *ae, int a)
{
    return ae->acts + ae->max_batch * ae->act_offset[a];
}

static int use_threads(const lrsa_ae *ae, const lrsa_ctx *ctx)
{
    int t = lrsa_threads(ctx);
    if (t > ae->threads)
        t = ae->threads;
    return t < 1 ? 1 : t;
}

static double mse_sum(const float *pred, const float *target, size_t n, int nt)
{
    int64_t nchunks = (int64_t)((n + ELEM_CHUNK - 1) / ELEM_CHUNK);
    double s = 0.0;
    /* per-chunk partials summed in chunk order: deterministic for any thread count */
    double *part = malloc((size_t)nchunks * sizeof *part);
    if (!part)
        return lrsa_mse_forward(pred, target, n);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        size_t lo = (size_t)c * ELEM_CHUNK, len = n - lo < ELEM_CHUNK ? n - lo : ELEM_CHUNK;
        part[c] = lrsa_mse_forward(pred + lo, target + lo, len);
    }
    for (int64_t c = 0; c < nchunks; c++)
        s += part[c];
    free(part);
    return s;
}

/* Encoder layers 0..d-1 into activations (or `latent_out` for the last layer when not NULL). */
static void encoder_forward(lrsa_ae *ae, const float *x, int64_t B, float *latent_out, int nt)
{
    const lrsa_ae_config *cfg = &ae->cfg;
    const float *in = x;
    for (int l = 0; l < cfg->depth; l++) {
        int64_t cin, h, w, cout;
        layer_geom(cfg, 0, l, &cin, &h, &w, &cout);
        float *out = (l == cfg->depth - 1 && latent_out) ? latent_out : act_ptr(ae, l);
        lrsa__conv2d_forward_act(out, in, ae->enc_w[l], ae->enc_b[l], LRSA__ACT_RELU, B, cin, h,
                                 w, cout, ae->scratch, nt);
        in = out;
    }
}

int lrsa_ae_forward(lrsa_ae *ae, const float *x, int64_t B, double *loss, const lrsa_ctx *ctx,
                    lrsa_err *err)
{
    int rc = LRSA_OK;
    ae->fwd_batch = 0;
    ae->fwd_input = NULL;
    if (ae->max_batch < 1) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder forward before lrsa_ae_alloc");
        goto done;
    }
    if (B < 1 || B > ae->max_batch) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "autoencoder forward of %lld images, micro-batch holds %lld",
                       (long long)B, (long long)ae->max_batch);
        goto done;
    }
    const lrsa_ae_config *cfg = &ae->cfg;
    const int d = cfg->depth, nt = use_threads(ae, ctx);
    encoder_forward(ae, x, B, NULL, nt);
    const float *in = act_ptr(ae, d - 1);
    for (int l = 0; l < d; l++) {
        int64_t cin, h, w, cout;
        layer_geom(cfg, 1, l, &cin, &h, &w, &cout);
        float *out = act_ptr(ae, d + l);
        lrsa__convt2d_forward_act(out, in, ae->dec_w[l], ae->dec_b[l],
                                  l == d - 1 ? LRSA__ACT_SIGMOID : LRSA__ACT_RELU, B, cin, h, w,
                                  cout, ae->scratch, nt);
        in = out;
    }
    if (loss) {
        size_t n = (size_t)(B * lrsa_ae_image_dim(cfg));
        *loss = mse_sum(in, x, n, nt) / (double)n;
    }
    ae->fwd_batch = B;
    ae->fwd_input = x;
done:
    return rc;
}

const float *lrsa_ae_output(const lrsa_ae *ae)
{
    return ae->fwd_batch ? act_ptr(ae, 2 * ae->cfg.depth - 1) : NULL;
}

int lrsa_ae_backward(lrsa_ae *ae, int64_t batch_total, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    if (ae->fwd_batch < 1 || !ae->fwd_input) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder backward without a forward");
        goto done;
    }
    const int64_t B = ae->fwd_batch;
    if (batch_total < B) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder backward: batch_total %lld < micro-batch %lld",
                       (long long)batch_total, (long long)B);
        goto done;
    }
    const lrsa_ae_config *cfg = &ae->cfg;
    const int d = cfg->depth, nt = use_threads(ae, ctx);
    const float *x = ae->fwd_input;
    int64_t max_act = 0;
    for (int a = 0; a < 2 * d; a++)
        if (ae->act_size[a] > max_act)
            max_act = ae->act_size[a];
    float *g0 = ae->dacts, *g1 = ae->dacts + ae->max_batch * max_act;
    const int64_t D = lrsa_ae_image_dim(cfg);
    const float *recon = act_ptr(ae, 2 * d - 1);
    {
        /* dL/drecon = 2 (recon - x) / (batch_total * D), then through the sigmoid */
        size_t n = (size_t)(B * D);
        float scale = (float)(1.0 / ((double)batch_total * (double)D));
        int64_t nchunks = (int64_t)((n + ELEM_CHUNK - 1) / ELEM_CHUNK);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nchunks > 1)
        for (int64_t c = 0; c < nchunks; c++) {
            size_t lo = (size_t)c * ELEM_CHUNK, len = n - lo < ELEM_CHUNK ? n - lo : ELEM_CHUNK;
            lrsa_mse_backward(g0 + lo, recon + lo, x + lo, len, scale);
            lrsa_sigmoid_backward(g0 + lo, g0 + lo, recon + lo, len);
        }
    }
    for (int l = d - 1; l >= 0; l--) {
        int64_t cin, h, w, cout;
        layer_geom(cfg, 1, l, &cin, &h, &w, &cout);
        const float *in = act_ptr(ae, l == 0 ? d - 1 : d + l - 1); /* the layer's input */
        int pw = 2 * d + 2 * l;
        /* the layer's input is a ReLU output: its backward is fused (mask 1) */
        lrsa__convt2d_backward_mask(g1, ae->grads + ae->param[pw].offset,
                                    ae->grads + ae->param[pw + 1].offset, g0, in, ae->dec_w[l], 1,
                                    B, cin, h, w, cout, ae->scratch, nt);
        float *t = g0;
        g0 = g1;
        g1 = t;
    }
    for (int l = d - 1; l >= 0; l--) {
        int64_t cin, h, w, cout;
        layer_geom(cfg, 0, l, &cin, &h, &w, &cout);
        const float *in = l == 0 ? x : act_ptr(ae, l - 1);
        lrsa__conv2d_backward_mask(l == 0 ? NULL : g1, ae->grads + ae->param[2 * l].offset,
                                   ae->grads + ae->param[2 * l + 1].offset, g0, in, ae->enc_w[l],
                                   1, B, cin, h, w, cout, ae->scratch, nt);
        if (l > 0) {
            float *t = g0;
            g0 = g1;
            g1 = t;
        }
    }
done:
    return rc;
}

void lrsa_ae_zero_grad(lrsa_ae *ae)
{
    memset(ae->grads, 0, ae->num_params * sizeof(float));
}

int lrsa_ae_adam_step(lrsa_ae *ae, const lrsa_adam_opts *opt, int64_t step, const lrsa_ctx *ctx,
                      lrsa_err *err)
{
    if (step < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "adam step %lld < 1", (long long)step);
    int nt = lrsa_threads(ctx);
    size_t n = ae->num_params;
    int64_t nchunks = (int64_t)((n + ELEM_CHUNK - 1) / ELEM_CHUNK);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        size_t lo = (size_t)c * ELEM_CHUNK, len = n - lo < ELEM_CHUNK ? n - lo : ELEM_CHUNK;
        lrsa_adam_update(ae->params + lo, ae->grads + lo, ae->m + lo, ae->v + lo, len, opt, step);
    }
    return LRSA_OK;
}

int lrsa_ae_train_step(lrsa_ae *ae, const float *x, int64_t N, const lrsa_adam_opts *opt,
                       int64_t step, double *loss, const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    double sum = 0.0;
    if (step < 1) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "adam step %lld < 1", (long long)step);
        goto done;
    }
    if (N < 1) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "autoencoder training step on an empty batch");
        goto done;
    }
    if (ae->max_batch < 1) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder training before lrsa_ae_alloc");
        goto done;
    }
    const int64_t D = lrsa_ae_image_dim(&ae->cfg);
    lrsa_ae_zero_grad(ae);
    for (int64_t i = 0; i < N; i += ae->max_batch) {
        int64_t B = N - i < ae->max_batch ? N - i : ae->max_batch;
        double l = 0.0;
        if ((rc = lrsa_ae_forward(ae, x + i * D, B, &l, ctx, err)) != LRSA_OK)
            goto done;
        if ((rc = lrsa_ae_backward(ae, N, ctx, err)) != LRSA_OK)
            goto done;
        sum += l * (double)B;
    }
    if ((rc = lrsa_ae_adam_step(ae, opt, step, ctx, err)) != LRSA_OK)
        goto done;
    if (loss)
        if (loss)
        *loss = sum / (double)N;
done:
    return rc;
}

int lrsa_ae_eval_loss(lrsa_ae *ae, const float *x, int64_t N, double *loss, const lrsa_ctx *ctx,
                      lrsa_err *err)
{
    int rc = LRSA_OK;
    double sum = 0.0;
    if (N < 1) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "autoencoder evaluation on no images");
        goto done;
    }
    const int64_t D = lrsa_ae_image_dim(&ae->cfg);
    for (int64_t i = 0; i < N; i += ae->max_batch > 0 ? ae->max_batch : 1) {
        int64_t B = N - i < ae->max_batch ? N - i : ae->max_batch;
        double l = 0.0;
        if ((rc = lrsa_ae_forward(ae, x + i * D, B, &l, ctx, err)) != LRSA_OK)
            goto done;
        sum += l * (double)B;
    }
    ae->fwd_batch = 0; /* nothing to backward through */
    ae->fwd_input = NULL;
    if (loss)
        *loss = sum / (double)N;
done:
    return rc;
}

int lrsa_ae_encode(lrsa_ae *ae, const float *x, int64_t N, float *out, const lrsa_ctx *ctx,
                   lrsa_err *err)
{
    int rc = LRSA_OK;
    if (ae->max_batch < 1) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder encode before lrsa_ae_alloc");
        goto done;
    }
    if (N < 0) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "autoencoder encode of %lld images", (long long)N);
        goto done;
    }
    ae->fwd_batch = 0;
    ae->fwd_input = NULL;
    const int64_t D = lrsa_ae_image_dim(&ae->cfg), L = lrsa_ae_latent_dim(&ae->cfg);
    const int nt = use_threads(ae, ctx);
    for (int64_t i = 0; i < N; i += ae->max_batch) {
        int64_t B = N - i < ae->max_batch ? N - i : ae->max_batch;
        encoder_forward(ae, x + i * D, B, out + i * L, nt);
    }
done:
    return rc;
}
