/*
 * fMRI embeddings: the encoder of a trained autoencoder (train.h) applied to one activation image
 * per trial, written as a float32 .npy with its labels sidecar (DESIGN.md section 3).
 *
 * Rows: one per image of the set, in the set's order (the trial table's order for --bids, the
 * manifest's for our folders, path order for the paper's). Columns:
 *  - LRSA_POOL_NONE: the encoder output flattened in C order (channels, H/2^depth, W/2^depth),
 *    i.e. PyTorch's model.encoder(x).view(B, -1) as the paper's code did: 256 x 21 x 21 = 112,896
 *    values for the paper's network;
 *  - LRSA_POOL_MEAN: the global mean over the spatial positions of each channel (256 values), what
 *    the paper's text's "256 dimensions" may have meant. The two readings are documented in
 *    docs/cli/embed-fmri.md.
 * The output is streamed chunk by chunk through an lrsa_outfile: it appears under its name only
 * when complete, and memory is one chunk of images.
 *
 * The model's __metadata__ is checked against what the inputs imply (lrsa_embed_fmri_opts.expect:
 * the render options and volume rule of the images, their native size): a key known on both sides
 * with different values is refused (LRSA_ESHAPE naming the key and both values) unless force, which
 * turns it into a warning. Values "unknown" or starting with '(' are not compared.
 */
#ifndef LATENTRSA_EMBED_FMRI_H
#define LATENTRSA_EMBED_FMRI_H

#include "latentrsa/core.h"
#include "latentrsa/train.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lrsa_pool { LRSA_POOL_NONE = 0, LRSA_POOL_MEAN = 1 };

typedef struct lrsa_embed_fmri_opts {
    const char *model;          /* AE.safetensors (ours, or a PyTorch state_dict saved as one) */
    const char *output;         /* OUT.npy; OUT.labels.tsv is written beside it */
    int pool;                   /* enum lrsa_pool */
    int force;                  /* 1: metadata disagreements are warnings */
    int64_t default_size;       /* image side for a checkpoint without metadata (672) */
    const lrsa_meta *expect;    /* what the inputs imply; may be NULL */
    size_t memory_budget;       /* 0: lrsa_ae_default_memory_budget */
} lrsa_embed_fmri_opts;

void lrsa_embed_fmri_opts_init(lrsa_embed_fmri_opts *o);

/* Compare a model's metadata with the expected values (see above). model_name is for messages. */
int lrsa_embed_fmri_check_meta(const lrsa_meta *model, const lrsa_meta *expect,
                               const char *model_name, int force, const lrsa_ctx *ctx,
                               lrsa_err *err);

/* Embed every image of set (which must not be stem_only: resolve it first, lrsa_imageset_resolve).
 * *rows and *dim (may be NULL) receive the output's shape. Errors: the checkpoint's (naming the
 * file and tensor), LRSA_ESHAPE for a metadata disagreement, image decoding errors naming the file,
 * LRSA_EFORMAT for labels that break the sidecar's schema (e.g. an image of no trial), LRSA_EIO. */
int lrsa_embed_fmri(const lrsa_embed_fmri_opts *o, const lrsa_imageset *set, const lrsa_ctx *ctx,
                    int64_t *rows, int64_t *dim, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
