/*
 * The paper's convolutional autoencoder for fMRI activation images, trained in C.
 *
 * ABOUT
 *   Encoder: `depth` Conv2d (kernel 3, stride 2, padding 1), each followed by ReLU, with channels
 *   in_channels -> channels[0] -> ... -> channels[depth-1]. Decoder: `depth` ConvTranspose2d
 *   (kernel 3, stride 2, padding 1, output_padding 1) back through the same widths in reverse to
 *   in_channels, ReLU between them and a Sigmoid at the end. Loss: MSE (mean over every element)
 *   between the input and its reconstruction. The paper's network is the default config:
 *   3x672x672 -> 16 -> 32 -> 64 -> 128 -> 256 (a 256x21x21 latent) and back.
 *
 *   PyTorch's module (the paper's code):
 *     encoder = Sequential(Conv2d(3,16,3,2,1), ReLU, Conv2d(16,32,..), ReLU, ..., Conv2d(128,256,..), ReLU)
 *     decoder = Sequential(ConvTranspose2d(256,128,3,2,1,1), ReLU, ..., ConvTranspose2d(16,3,3,2,1,1), Sigmoid)
 *   so parameter names are encoder.{0,2,4,6,8}.{weight,bias} and decoder.{0,2,4,6,8}.{weight,bias},
 *   and lrsa_ae_param_info() lists them in state_dict order with PyTorch's shapes: a Conv2d weight is
 *   (out, in, 3, 3), a ConvTranspose2d weight is (in, out, 3, 3), biases are (out).
 *
 * LAYOUT
 *   Images are float32, batch-major, channels first, C order: B x C x H x W (PyTorch's NCHW). Input
 *   values are expected in [0, 1] (the reconstruction is a sigmoid) but any finite value works.
 *   All parameters live in one allocation `params` of `num_params` floats, tensor after tensor in
 *   state_dict order (offsets in `param[i].offset`); `grads`, `m` and `v` (Adam's moments) are
 *   allocations of the same size and layout, so a checkpoint is four flat arrays plus the table.
 *   Activations for up to `max_batch` images are one more allocation (lrsa_ae_alloc).
 *
 * USAGE (one epoch of training; N2's train-ae does this plus shuffling and early stopping)
 *     lrsa_ae_config cfg; lrsa_ae_config_default(&cfg);          // or set sizes, then _check
 *     lrsa_ae *ae; lrsa_ae_new(&cfg, &ae, &err);
 *     lrsa_ae_init_pytorch(ae, &rng);                             // or load params from a file
 *     int64_t mb = lrsa_ae_micro_batch(&cfg, lrsa_ae_default_memory_budget(), threads);
 *     lrsa_ae_alloc(ae, mb < 512 ? mb : 512, threads, &err);
 *     for (step = 1; ...; step++)
 *         lrsa_ae_train_step(ae, x_batch, 512, &adam, step, &loss, ctx, &err);
 *   lrsa_ae_train_step is zero_grad + (forward + backward) per micro-batch + adam_step; the pieces
 *   are public too. Embeddings: lrsa_ae_encode (any number of images, in chunks of max_batch).
 *
 * THREADS
 *   OpenMP over the images of a micro-batch, each thread with its own im2col scratch and its own
 *   weight-gradient accumulator (summed in a fixed order: results depend on the thread count only
 *   through float summation order, and are identical run to run for a fixed count). OpenBLAS calls
 *   made inside those parallel regions run single-threaded (OpenBLAS's OpenMP build checks
 *   omp_in_parallel), so the two never fight. Threads used = min(lrsa_threads(ctx), threads given
 *   to lrsa_ae_alloc, images in the micro-batch). An lrsa_ae is not thread-safe: one call at a time.
 *
 * ERRORS
 *   Fallible functions return LRSA_OK or a code and fill `err` (core.h conventions). Nothing here
 *   prints. A failed call leaves the parameters unchanged unless it says otherwise.
 */
#ifndef LATENTRSA_AE_H
#define LATENTRSA_AE_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Configuration ===================================================== */
#define LRSA_AE_MAX_DEPTH 8
#define LRSA_AE_MAX_PARAMS (4 * LRSA_AE_MAX_DEPTH)
#define LRSA_AE_MAX_ACTS (2 * LRSA_AE_MAX_DEPTH)

typedef struct lrsa_ae_config {
    int64_t in_channels;                  /* C of the images (3) */
    int64_t height, width;                /* H, W of the images (672, 672); divisible by 2^depth */
    int depth;                            /* conv layers in the encoder (5), 1..LRSA_AE_MAX_DEPTH */
    int64_t channels[LRSA_AE_MAX_DEPTH];  /* encoder output widths (16, 32, 64, 128, 256) */
} lrsa_ae_config;

/* The paper's network: 3x672x672, depth 5, channels 16 32 64 128 256. */
void lrsa_ae_config_default(lrsa_ae_config *cfg);
/* LRSA_EMISUSE (message names the field) unless: 1 <= depth <= LRSA_AE_MAX_DEPTH, every channel
 * count in 1..65536, height and width >= 2^depth and divisible by 2^depth, and sizes that do not
 * overflow. */
int lrsa_ae_config_check(const lrsa_ae_config *cfg, lrsa_err *err);
/* Floats per input image (C*H*W) and per latent (channels[depth-1] * H/2^depth * W/2^depth). */
int64_t lrsa_ae_image_dim(const lrsa_ae_config *cfg);
int64_t lrsa_ae_latent_dim(const lrsa_ae_config *cfg);
/* Latent shape (channels[depth-1], H/2^depth, W/2^depth) in out[3]. */
void lrsa_ae_latent_shape(const lrsa_ae_config *cfg, int64_t out[3]);

/* ===== Memory sizing ===================================================== */
/* Bytes that lrsa_ae_new (parameters, gradients, Adam m and v) plus lrsa_ae_alloc(batch, threads)
 * (activations, activation gradients, per-thread scratch and weight-gradient accumulators) take.
 * SIZE_MAX on overflow or a bad config. */
size_t lrsa_ae_memory_bytes(const lrsa_ae_config *cfg, int64_t batch, int threads);
/* The largest micro-batch whose lrsa_ae_memory_bytes(cfg, mb, threads) fits in budget_bytes, capped
 * at 65536; 0 if not even one image fits (the caller reports that). At 672^2 an image needs about
 * 47 MB (activations 33 MB plus two activation-gradient buffers of the largest layer). */
int64_t lrsa_ae_micro_batch(const lrsa_ae_config *cfg, size_t budget_bytes, int threads);
/* The default --memory-budget: half of the physical memory available now (sysconf), at least
 * 256 MiB. */
size_t lrsa_ae_default_memory_budget(void);

/* ===== The model ========================================================= */
typedef struct lrsa_ae_param {
    char name[24];          /* PyTorch's state_dict key, e.g. "encoder.0.weight", "decoder.8.bias" */
    int ndim;               /* 4 for weights, 1 for biases */
    int64_t shape[4];       /* PyTorch's shape (unused trailing entries are 0) */
    size_t offset;          /* first float of this tensor in params/grads/m/v */
    size_t numel;
} lrsa_ae_param;

/* Fields are readable; write only params (loading a checkpoint), m and v (resuming), and never
 * the sizes or pointers. Everything below `max_batch` belongs to lrsa_ae_alloc. */
typedef struct lrsa_ae {
    lrsa_ae_config cfg;
    int nparam_tensors;                     /* 4 * depth */
    lrsa_ae_param param[LRSA_AE_MAX_PARAMS];/* state_dict order */
    size_t num_params;                      /* floats in each of params, grads, m, v */
    float *params;                          /* one allocation each; m and v start at zero */
    float *grads;
    float *m;
    float *v;
    /* pointer tables into params (and at the same offsets into grads): layer l of the encoder is
     * enc_w[l] (channels[l] x cin x 3 x 3) and enc_b[l]; layer l of the decoder is dec_w[l]
     * (cin x cout x 3 x 3, PyTorch's ConvTranspose2d layout) and dec_b[l]. */
    float *enc_w[LRSA_AE_MAX_DEPTH], *enc_b[LRSA_AE_MAX_DEPTH];
    float *dec_w[LRSA_AE_MAX_DEPTH], *dec_b[LRSA_AE_MAX_DEPTH];

    /* ---- set by lrsa_ae_alloc ---- */
    int64_t max_batch;                      /* images per forward/backward; 0 before alloc */
    int threads;                            /* scratch sets allocated */
    int64_t act_size[LRSA_AE_MAX_ACTS];     /* floats per image of activation a (see below) */
    int64_t act_offset[LRSA_AE_MAX_ACTS];   /* floats per image before activation a */
    int64_t acts_per_image;                 /* sum of act_size */
    float *acts;     /* max_batch * acts_per_image floats, activation-major: activation a is a
                      * (max_batch, C, H, W) tensor at acts + max_batch * act_offset[a], image b of
                      * it at + b * act_size[a]. a = 0..depth-1: encoder layer
                      * outputs after ReLU (the latent is a = depth-1); a = depth..2*depth-1:
                      * decoder outputs after ReLU, the last one after the Sigmoid (the
                      * reconstruction) */
    float *dacts;    /* activation gradients: two ping-pong buffers of the largest activation per
                      * image, max_batch images each */
    float *scratch;  /* per thread: im2col buffer + weight-gradient accumulator */
    size_t scratch_per_thread;
    /* ---- state of the last lrsa_ae_forward, used by lrsa_ae_backward ---- */
    const float *fwd_input;                 /* the caller's x (must stay alive until backward) */
    int64_t fwd_batch;                      /* images in the last forward, 0 if none */
} lrsa_ae;

/* Allocate a model for cfg (checked with lrsa_ae_config_check): params, grads, m and v, all zero.
 * Call lrsa_ae_init_pytorch or fill params, then lrsa_ae_alloc before forward. */
int lrsa_ae_new(const lrsa_ae_config *cfg, lrsa_ae **out, lrsa_err *err);
void lrsa_ae_free(lrsa_ae *ae);             /* NULL is fine */

/* PyTorch's default initialisation from our RNG (not torch's stream): every weight
 * U(-b, b) with b = 1/sqrt(fan_in) (kaiming_uniform_ with a = sqrt(5) gives exactly that), every
 * bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in = in_channels*9 for Conv2d and, as PyTorch takes
 * it from weight dimension 1, out_channels*9 for ConvTranspose2d. Tensors are drawn in state_dict
 * order, weight before bias. Also zeroes grads, m and v. */
void lrsa_ae_init_pytorch(lrsa_ae *ae, lrsa_rng *rng);
/* The bound b used for param tensor i (weights and biases alike). */
double lrsa_ae_init_bound(const lrsa_ae *ae, int i);

/* Parameter tensors: count (4*depth) and the i-th entry (NULL if out of range). */
int lrsa_ae_num_param_tensors(const lrsa_ae *ae);
const lrsa_ae_param *lrsa_ae_param_info(const lrsa_ae *ae, int i);
/* Index of a state_dict name, or -1. */
int lrsa_ae_find_param(const lrsa_ae *ae, const char *name);

/* Size the activations for micro-batches of up to max_batch images using up to `threads` threads
 * (<= 0: lrsa_threads(NULL)). Frees a previous allocation. On failure the model has no activations
 * (max_batch 0) and its parameters are untouched. */
int lrsa_ae_alloc(lrsa_ae *ae, int64_t max_batch, int threads, lrsa_err *err);

/* ===== Training ========================================================== */
typedef struct lrsa_adam_opts {
    float lr;               /* 1e-3 */
    float beta1, beta2;     /* 0.9, 0.999 */
    float eps;              /* 1e-8 */
    float weight_decay;     /* 1e-5: L2 added to the gradient (torch.optim.Adam), not AdamW */
} lrsa_adam_opts;
/* The paper's optimiser: Adam(lr=1e-3, weight_decay=1e-5), PyTorch's other defaults. */
void lrsa_adam_opts_default(lrsa_adam_opts *opt);

/* Set every gradient to zero. */
void lrsa_ae_zero_grad(lrsa_ae *ae);

/* Forward B images x (B x C x H x W, 1 <= B <= max_batch) through encoder and decoder, keep the
 * activations, and set *loss (may be NULL) to the MSE mean over the B*C*H*W elements, accumulated
 * in double. x must stay alive and unchanged until lrsa_ae_backward. LRSA_EMISUSE before alloc,
 * LRSA_ESHAPE if B is out of range. The reconstruction is lrsa_ae_output(ae). */
int lrsa_ae_forward(lrsa_ae *ae, const float *x, int64_t B, double *loss, const lrsa_ctx *ctx,
                    lrsa_err *err);
/* The last forward's reconstruction (fwd_batch images, image-major), or NULL. */
const float *lrsa_ae_output(const lrsa_ae *ae);

/* Backward through the last forward, ADDING to grads. batch_total is the number of images the loss
 * is averaged over (>= the forward's B): a micro-batch of B images out of an effective batch of N
 * passes N, so that summing its micro-batches gives the gradient of the MSE over all N images,
 * the same as one forward/backward of N images up to float summation order. The gradient with
 * respect to the input image is not computed. LRSA_EMISUSE without a preceding forward. */
int lrsa_ae_backward(lrsa_ae *ae, int64_t batch_total, const lrsa_ctx *ctx, lrsa_err *err);

/* One Adam step on all parameters with the current grads (PyTorch's torch.optim.Adam,
 * single-tensor path): g = grad + wd*p; m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g^2;
 * p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). step counts from 1. grads are left
 * as they were. LRSA_EMISUSE if step < 1. */
int lrsa_ae_adam_step(lrsa_ae *ae, const lrsa_adam_opts *opt, int64_t step, const lrsa_ctx *ctx,
                      lrsa_err *err);

/* One optimiser step on a batch of N images (x is N x C x H x W): zero_grad, forward + backward
 * per micro-batch of at most max_batch images, then adam_step(step). *loss (may be NULL) is the
 * batch's MSE (mean over all N images' elements). On failure the parameters are unchanged unless
 * the failure is in adam_step itself (it cannot fail after its argument check). */
int lrsa_ae_train_step(lrsa_ae *ae, const float *x, int64_t N, const lrsa_adam_opts *opt,
                       int64_t step, double *loss, const lrsa_ctx *ctx, lrsa_err *err);

/* MSE over N images without touching grads (forward only, in micro-batches): for validation and
 * early stopping. */
int lrsa_ae_eval_loss(lrsa_ae *ae, const float *x, int64_t N, double *loss, const lrsa_ctx *ctx,
                      lrsa_err *err);

/* ===== Inference ========================================================= */
/* Encoder only: the latent (after the last ReLU) of N images, out holds N * lrsa_ae_latent_dim
 * floats, C order (channels, H/2^depth, W/2^depth) per image, i.e. PyTorch's
 * model.encoder(x).flatten(1). Works in chunks of max_batch (lrsa_ae_alloc first). */
int lrsa_ae_encode(lrsa_ae *ae, const float *x, int64_t N, float *out, const lrsa_ctx *ctx,
                   lrsa_err *err);

/* ===== Layers (forward/backward pairs; used by the model, exposed for tests and benches) ===== */
/* Glossary: B images, C input channels, H x W input size, OC output channels, OH x OW output
 * size; kernel 3x3, stride 2, padding 1 throughout (the paper's only geometry).
 *   conv2d:          OH = H/2 rounded up ((H + 2 - 3)/2 + 1), weight OC x C x 3 x 3
 *   conv-transpose:  OH = 2*H (output_padding 1),            weight C x OC x 3 x 3
 * Backward functions ADD into dweight and dbias (zero them once per step) and OVERWRITE dinp;
 * dinp may be NULL (not needed for the first layer). `scratch` holds at least
 * lrsa_conv_scratch_floats(...) floats and `threads` OpenMP threads are used over the batch (each
 * needs its own slice of scratch; pass 1 for a serial call). The _naive versions are direct loops,
 * the algorithmic reference for tests; the others are the fast kernels the model uses. */
size_t lrsa_conv_scratch_floats(int64_t C, int64_t H, int64_t W, int64_t OC, int transposed);

/* out (B,OC,OH,OW) = conv(inp (B,C,H,W), weight (OC,C,3,3)) + bias (OC) */
void lrsa_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                         int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                         float *scratch, int threads);
void lrsa_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight,
                          int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                          float *scratch, int threads);
void lrsa_conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                               int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC);
void lrsa_conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight,
                                int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC);

/* out (B,OC,2H,2W) = conv_transpose(inp (B,C,H,W), weight (C,OC,3,3)) + bias (OC) */
void lrsa_convt2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                          float *scratch, int threads);
void lrsa_convt2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight,
                           int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                           float *scratch, int threads);
void lrsa_convt2d_forward_naive(float *out, const float *inp, const float *weight,
                                const float *bias, int64_t B, int64_t C, int64_t H, int64_t W,
                                int64_t OC);
void lrsa_convt2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight,
                                 int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC);

/* Elementwise over n floats; out may equal inp (in place), dinp may equal dout. Backward uses the
 * forward's OUTPUT (relu: pass where out > 0, as torch's threshold_backward; sigmoid: out*(1-out)). */
void lrsa_relu_forward(float *out, const float *inp, size_t n);
void lrsa_relu_backward(float *dinp, const float *dout, const float *out, size_t n);
void lrsa_sigmoid_forward(float *out, const float *inp, size_t n);
void lrsa_sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n);
/* MSE: returns sum((pred - target)^2) over n in double (divide by the element count yourself);
 * backward writes dpred = scale * 2 * (pred - target), scale = 1 / (elements in the mean). */
double lrsa_mse_forward(const float *pred, const float *target, size_t n);
void lrsa_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float scale);

/* Adam on n floats with PyTorch's semantics (see lrsa_ae_adam_step). */
void lrsa_adam_update(float *params, const float *grads, float *m, float *v, size_t n,
                      const lrsa_adam_opts *opt, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
