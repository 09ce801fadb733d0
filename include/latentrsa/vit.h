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

/* Load dir/config.json and dir/model.safetensors (F32, F16 or BF16; names with or without the
 * "vit." prefix). A config field we do not support (e.g. hidden_act other than "gelu") is an
 * error naming it. */
int lrsa_vit_load(const char *dir, lrsa_vit **out, lrsa_err *err);
void lrsa_vit_free(lrsa_vit *vit);
const lrsa_vit_config *lrsa_vit_get_config(const lrsa_vit *vit);

/* Floats per image of an output. layer 0 means the final output (after the final layernorm);
 * layer L in 1..num_hidden_layers means the hidden state after block L (transformers'
 * hidden_states[L], before the final layernorm). POOLER needs layer 0. */
int64_t lrsa_vit_output_dim(const lrsa_vit *vit, lrsa_vit_output what);

/* Run B images. out holds B * lrsa_vit_output_dim floats. Not thread-safe on one lrsa_vit
 * (it owns scratch buffers); threads inside come from ctx. */
int lrsa_vit_forward(lrsa_vit *vit, const float *pixels, int64_t B, lrsa_vit_output what,
                     int layer, float *out, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
