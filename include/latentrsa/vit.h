/*
 * ViT (Hugging Face ViTModel) inference: load a model directory (config.json +
 * model.safetensors), run the forward pass on preprocessed pixels, return one of four outputs.
 * Any ViTModel config works (google/vit-base-patch16-224-in21k is the paper's); see
 * /work/shared/specs/vit.md for the exact forward pass this reproduces.
 *
 * Pixels are float32, batch-major, channels first: B x 3 x S x S, already rescaled and
 * normalised (imgproc.h does that, Pillow-exact).
 */
#ifndef LATENTRSA_VIT_H
#define LATENTRSA_VIT_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ViTConfig fields the forward pass depends on. Defaults (a config.json that omits a field)
 * are transformers' ViTConfig defaults, i.e. ViT-B/16: 224, 16, 3, 768, 12, 12, 3072, 1e-12, 1. */
typedef struct lrsa_vit_config {
    int64_t image_size, patch_size, num_channels;
    int64_t hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    double layer_norm_eps;
    int qkv_bias;
} lrsa_vit_config;

typedef enum lrsa_vit_output {
    LRSA_VIT_LAST_HIDDEN_STATE = 0, /* (1 + P) x hidden, flattened token-major, CLS first */
    LRSA_VIT_CLS = 1,               /* the CLS token of the final (or chosen layer's) state */
    LRSA_VIT_MEAN = 2,              /* mean over the P patch tokens (CLS excluded) */
    LRSA_VIT_POOLER = 3             /* tanh(dense(CLS)) of the final output */
} lrsa_vit_output;

typedef struct lrsa_vit lrsa_vit;

/* ===== Configurations ================================================== */

/* A named preset: "base" (ViT-B/16 at 224, google/vit-base-patch16-224-in21k's config, 86.4 M
 * parameters) or "tiny" (ViT-Ti/16 at 224: hidden 192, 12 layers, 3 heads, MLP 768, 5.6 M).
 * LRSA_ENOTFOUND for another name. */
int lrsa_vit_config_preset(const char *name, lrsa_vit_config *cfg, lrsa_err *err);

/* Read a Hugging Face config.json (the file itself, not its directory). Fields that are absent
 * take ViTConfig's defaults; fields that do not change the forward pass (dropouts, labels,
 * initializer_range, architectures, ...) are ignored. Rejected, naming the field
 * (LRSA_EUNSUPPORTED): model_type other than "vit", hidden_act other than "gelu", pooler_act other
 * than "tanh", pooler_output_size other than hidden_size, non-square image_size or patch_size
 * given as pairs. A field of the wrong JSON type or out of range is LRSA_EFORMAT, also named. */
int lrsa_vit_config_read(const char *path, lrsa_vit_config *cfg, lrsa_err *err);

/* Check a configuration: every size >= 1 and within limits, image_size divisible by patch_size,
 * hidden_size divisible by num_attention_heads, eps >= 0 and finite. The message names the
 * field (LRSA_EUNSUPPORTED for a divisibility rule, LRSA_EFORMAT for a range). */
int lrsa_vit_config_check(const lrsa_vit_config *cfg, lrsa_err *err);

/* Parameters of a configuration (pooler included), or -1 if it does not pass the check. */
int64_t lrsa_vit_config_params(const lrsa_vit_config *cfg);

/* ===== Models ========================================================== */

/* Load dir/config.json and dir/model.safetensors (F32, F16 or BF16; names with or without the
 * "vit." prefix). A config field we do not support (e.g. hidden_act other than "gelu") is an
 * error naming it. Every tensor must have the shape the config implies (LRSA_ESHAPE naming the
 * tensor and both shapes); a missing tensor is LRSA_ENOTFOUND naming it, except the pooler
 * (ViTFor* checkpoints have none: then LRSA_VIT_POOLER is refused by lrsa_vit_forward).
 * The weights are copied (and converted to float32) into one block; the file is closed. */
int lrsa_vit_load(const char *dir, lrsa_vit **out, lrsa_err *err);
void lrsa_vit_free(lrsa_vit *vit);
const lrsa_vit_config *lrsa_vit_get_config(const lrsa_vit *vit);
/* 1 if the model has pooler weights. */
int lrsa_vit_has_pooler(const lrsa_vit *vit);

/* A model with seeded random weights initialised as transformers' ViTPreTrainedModel._init_weights
 * does: truncated normal (mean 0, sd 0.02, cut at +-2, i.e. trunc_normal_'s defaults) for every
 * Linear and the patch Conv2d weight, for the CLS token and the position embeddings; zero biases;
 * layernorm weight 1 and bias 0. Our RNG (lrsa_rng, the seed) is not torch's: the values differ
 * from a torch init with the same seed, the distribution is the same. Same seed, same weights on
 * every platform. Tensors are drawn in the order of lrsa_vit_save's names, as HF's module order. */
int lrsa_vit_new_random(const lrsa_vit_config *cfg, uint64_t seed, lrsa_vit **out, lrsa_err *err);

/* Write a Hugging Face model directory: dir/config.json (a ViTModel config that transformers
 * 4.x from_pretrained reads) and dir/model.safetensors (F32, no prefix, __metadata__
 * {"format": "pt"}), both atomically. dir is created if missing. */
int lrsa_vit_save(const lrsa_vit *vit, const char *dir, lrsa_err *err);

/* lrsa_vit_new_random followed by lrsa_vit_save (what `latentrsa vit-init` does), then the marker
 * dir/random_init.json ({"generator": "latentrsa vit-init", "seed": S, ...}) that tells later
 * commands the weights are random. */
int lrsa_vit_init_random(const lrsa_vit_config *cfg, uint64_t seed, const char *dir,
                         lrsa_err *err);

/* Floats per image of an output. layer 0 means the final output (after the final layernorm);
 * layer L in 1..num_hidden_layers means the hidden state after block L (transformers'
 * hidden_states[L], before the final layernorm). POOLER needs layer 0. */
int64_t lrsa_vit_output_dim(const lrsa_vit *vit, lrsa_vit_output what);

/* Run B images. out holds B * lrsa_vit_output_dim floats. Not thread-safe on one lrsa_vit
 * (it owns scratch buffers); threads inside come from ctx.
 *
 * Threads: the weight GEMMs run in OpenBLAS's own OpenMP threads (omp_get_max_threads(), which
 * `--threads` sets); attention runs lrsa_threads(ctx) OpenMP threads over (image, head) pairs
 * with single-threaded BLAS inside, and the elementwise kernels over rows. Images are processed
 * in chunks of at most 16, so scratch memory stays bounded (about 80 MB for ViT-B/16).
 * Errors: LRSA_EMISUSE for B < 1, a NULL pointer, a bad `what` or `layer`, POOLER with layer != 0;
 * LRSA_EUNSUPPORTED for POOLER on a model without a pooler; LRSA_ENOMEM. */
int lrsa_vit_forward(lrsa_vit *vit, const float *pixels, int64_t B, lrsa_vit_output what,
                     int layer, float *out, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
