/*
 * Training the paper's autoencoder (ae.h) on activation images: image sets (folders of PNGs, or
 * a BIDS dataset rendered into an on-disk cache), the subject split, the training loop with
 * per-epoch checkpoints, exact resume and early stopping, and the checkpoint format shared with
 * PyTorch. The CLI commands train-ae and embed-fmri (embed_fmri.h) are thin layers over this.
 *
 * IMAGE SETS
 *   An lrsa_imageset is a list of image files with one labels row each (labels.h schema). It
 *   comes from:
 *    - a folder with our manifest.tsv (written by `latentrsa render` or by the render cache):
 *      header `stimulus source subject session run trial volume path` (volume optional), paths
 *      relative to the folder, rows in manifest order;
 *    - any other folder (the paper's renders): every *.png below it (recursively, sorted by
 *      path, byte order). The subject is the label of a whole path component `sub-<label>`
 *      (a directory named exactly that; else an underscore-delimited `sub-<label>` entity of the
 *      file name), never a substring: `xsub-CSI4` or `sub-CSI40` is not CSI4. Session, run and
 *      trial come from the file name's `ses-`, `run-`/`run_`, `trial-` entities, and the
 *      stimulus from what follows `trial-<T>_` (the paper's names: ImgName up to its first dot,
 *      so `stem_only` is set: lrsa_imageset_resolve maps it back to the full ImgName through a
 *      trial table, it is never guessed).
 *   Pixels: decoded by magic bytes (image.h; PIL's convert('RGB')), resized to size x size with
 *   Pillow's bilinear filter when they are not that size already (torchvision's Resize((S, S)) on a
 *   PIL image), then scaled as torchvision's ToTensor: x = (float)u8 / 255.0f, channels first.
 *
 * THE RENDER CACHE (--bids)
 *   lrsa_render_cache renders every trial (or every volume) of a BIDS dataset with render.h into
 *   a folder, with exactly the names and manifest.tsv of `latentrsa render`, plus `render.key`
 *   (the options that made it). PNG is the cache format: 8-bit RGB, zlib-compressed, typically a
 *   few tens of kB per 672x672 activation image instead of 1.35 MB raw (the plan states the
 *   measured mean). A second call with the same key reuses every image already there (a cache cut
 *   short by a crash is completed, not restarted); a different key re-renders everything.
 *
 * CHECKPOINTS
 *   AE.safetensors: the parameters only, F32, under PyTorch's state_dict names of the paper's
 *   Autoencoder (encoder.0.weight ... decoder.8.bias, PyTorch's shapes), so that
 *   `model.load_state_dict(safetensors.torch.load_file(p), strict=True)` loads it. __metadata__:
 *     format latentrsa-ae, format_version 1, latentrsa_version, in_channels, height, width, size,
 *     channels (e.g. "16,32,64,128,256"), image_source (bids|images), volumes (trials|all|n/a),
 *     volume_rule, render_threshold, render_canvas, render_interp, render_size (n/a or
 *     "unknown" where not known), image_width, image_height (native size of the training images
 *     before any resize), train_subjects, test_subjects, epochs_done, best_epoch, seed.
 *   AE.state.safetensors (beside it; the optimiser state, kept out of AE.safetensors): the same
 *     parameters under the same names, Adam's moments as `adam.m.<name>` and `adam.v.<name>`,
 *     and in __metadata__ the step count, the epochs done, the early-stopping counters, the loss
 *     history and a fingerprint of the options that must not change on resume. It holds its own
 *     copy of the parameters so that one atomic rename makes a consistent checkpoint.
 *   AE.json: options, per-epoch train loss (epoch mean of per-pixel MSE), last-batch loss, test
 *     loss (per-pixel MSE over all test images), seconds per epoch, best epoch, finished or not.
 *   AE.loss.png: the loss curves; AE.recon.png: test originals above their reconstructions.
 *   All files are written through lrsa_outfile (temporary + rename), after every epoch.
 *
 * DETERMINISM AND RESUME
 *   Epoch e's order is a Fisher-Yates shuffle drawn from lrsa_rng seeded with
 *   seed + 0x9E3779B97F4A7C15 * (e + 1), so it does not depend on anything that came before.
 *   Resuming loads the state file (parameters, m, v, step, counters, history) and continues at
 *   the first epoch not completed: with the same thread count the final weights are bit-identical
 *   to an uninterrupted run (the engine is deterministic for a fixed count; see ae.h THREADS).
 */
#ifndef LATENTRSA_TRAIN_H
#define LATENTRSA_TRAIN_H

#include "latentrsa/ae.h"
#include "latentrsa/bids.h"
#include "latentrsa/core.h"
#include "latentrsa/labels.h"
#include "latentrsa/render.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Image sets ======================================================== */
typedef struct lrsa_imageset {
    int64_t n;
    char **paths;          /* n full paths (the folder joined with the manifest's path) */
    lrsa_labels *labels;   /* n rows (labels.h); cells may be "n/a" */
    int64_t *volume;       /* n 0-based volumes (manifest), -1 where unknown */
    int stem_only;         /* 1: stimulus cells are ImgName stems (the paper's file names) */
    int from_manifest;     /* 1: read from DIR/manifest.tsv */
    char *dir;             /* the folder, for messages */
} lrsa_imageset;

/* Read a folder (see IMAGE SETS). Errors: LRSA_ENOTFOUND (no such folder), LRSA_EFORMAT (a bad
 * manifest: missing column, a path with "..", naming the file and line), LRSA_EEMPTY (no image). */
int lrsa_imageset_read_dir(const char *dir, const lrsa_ctx *ctx, lrsa_imageset **out,
                           lrsa_err *err);
void lrsa_imageset_free(lrsa_imageset *s);   /* NULL is fine */
/* Rows idx[0..n) of s, in that order (n may be 0). */
int lrsa_imageset_take(const lrsa_imageset *s, const int64_t *idx, int64_t n,
                       lrsa_imageset **out, lrsa_err *err);

/* The subject split. Lists are comma-separated subject labels ("CSI1,CSI2"; an optional "sub-"
 * prefix is removed); test NULL, "" or "none" means no test set. train NULL or "" means every
 * image whose subject is not a test subject, including images without a subject (the paper's rule:
 * every path without sub-CSI4); an explicit train list keeps exactly those subjects. A subject in
 * both lists is LRSA_EMISUSE. *train or *test may be empty sets (n 0): the caller decides. */
int lrsa_imageset_split(const lrsa_imageset *s, const char *train_subjects,
                        const char *test_subjects, lrsa_imageset **train, lrsa_imageset **test,
                        lrsa_err *err);

/* Replace stem-only stimuli by their full ImgName from a trial table: the row with the same
 * subject, session (compared as numbers when both are numeric: the paper wrote ses-1 for ses-01),
 * run and trial, whose ImgName up to its first dot equals the stem; source from its ImgType.
 * Errors (LRSA_EFORMAT naming the image): no such trial, or a trial showing another image.
 * A set without stem_only is left as it is. */
int lrsa_imageset_resolve(lrsa_imageset *s, const lrsa_trials *t, lrsa_err *err);

/* Decode image `path` into RGB8 of exactly size x size (resized when needed). *native_w/h (may
 * be NULL) get the decoded size. rgb holds 3*size*size bytes. Thread-safe. */
int lrsa_train_read_rgb(const char *path, int64_t size, uint8_t *rgb, int64_t *native_w,
                        int64_t *native_h, lrsa_err *err);
/* Images idx[0..n) of s as float32 (n x 3 x size x size, ToTensor scaling), decoded in parallel
 * with up to `threads` threads. On failure the error names the first failing file. */
int lrsa_imageset_load(const lrsa_imageset *s, const int64_t *idx, int64_t n, int64_t size,
                       float *out, int threads, lrsa_err *err);

/* ===== The render cache ================================================== */
typedef struct lrsa_render_cache_opts {
    const char *bids_dir;      /* required */
    const char *trials_path;   /* NULL: scan bids_dir (task 5000scenes) with `rule` */
    lrsa_volume_rule rule;     /* used when scanning */
    int volumes_all;           /* 1: every volume of every run; 0: one image per trial */
    lrsa_render_opts render;   /* the look, and the stored size */
} lrsa_render_cache_opts;

/* Render into cache_dir (created if needed; see THE RENDER CACHE) and return the set it holds
 * and, if trials_out is not NULL, the trial table used. Errors: those of lrsa_bids_scan,
 * lrsa_trials_read, the NIfTI reader and the renderer (naming the file and volume), LRSA_EIO for
 * a folder that cannot be written. */
int lrsa_render_cache(const lrsa_render_cache_opts *o, const char *cache_dir,
                      const lrsa_ctx *ctx, lrsa_imageset **out, lrsa_trials **trials_out,
                      lrsa_err *err);
/* The cache's key as "key=value" lines (what render.key holds). The caller frees *out. */
int lrsa_render_cache_key(const lrsa_render_cache_opts *o, char **out, lrsa_err *err);

/* ===== Checkpoints ======================================================= */

/* Metadata: up to LRSA_TRAIN_MAX_META key/value pairs, values owned by the struct. */
#define LRSA_TRAIN_MAX_META 48
typedef struct lrsa_meta {
    int n;
    char *key[LRSA_TRAIN_MAX_META];
    char *value[LRSA_TRAIN_MAX_META];
} lrsa_meta;
/* Set (add or replace) a key. */
int lrsa_meta_set(lrsa_meta *m, const char *key, const char *value, lrsa_err *err);
/* The value of a key, or NULL. */
const char *lrsa_meta_get(const lrsa_meta *m, const char *key);
void lrsa_meta_release(lrsa_meta *m);
/* Set the keys volume_rule, volumes, render_threshold, render_canvas, render_interp and
 * render_size of m from DIR/render.key (a render cache); "unknown" for each when DIR has none
 * (a folder rendered by someone else). */
int lrsa_render_cache_describe(const char *dir, lrsa_meta *m, lrsa_err *err);

/* Write the parameters of ae to path (F32 safetensors, PyTorch names, atomically) with the
 * metadata m (may be NULL). */
int lrsa_train_save_params(const char *path, const lrsa_ae *ae, const lrsa_meta *m,
                           lrsa_err *err);
/* The config a checkpoint describes: in_channels, depth and channels from the tensor shapes
 * (encoder.0.weight, encoder.2.weight, ...), height and width from its "height"/"width" metadata,
 * else default_size. Errors: LRSA_EFORMAT naming the file and the tensor (no encoder.0.weight, a
 * weight that is not 4-D 3x3, widths that do not chain). */
int lrsa_train_ckpt_config(const char *path, int64_t default_size, lrsa_ae_config *cfg,
                           lrsa_meta *meta, lrsa_err *err);
/* Load parameters from a checkpoint into ae (the names and shapes of ae's config): a missing
 * tensor is LRSA_ENOTFOUND, a misshapen one LRSA_ESHAPE, an unexpected one (what PyTorch's strict
 * load refuses) LRSA_EFORMAT; each message names the file and the tensor. meta (may be NULL)
 * receives the file's __metadata__. On failure ae's parameters are unchanged. */
int lrsa_train_load_params(const char *path, lrsa_ae *ae, lrsa_meta *meta, lrsa_err *err);

/* ===== Training ========================================================== */
enum lrsa_early_stop {
    LRSA_EARLY_EPOCH_MEAN = 0,  /* mean training loss of the epoch (default) */
    LRSA_EARLY_LAST_BATCH = 1,  /* the last batch's loss (the paper's printed training loss) */
    LRSA_EARLY_TEST = 2         /* the held-out (test) loss */
};
/* "epoch-mean", "last-batch", "test" <-> the enum; -1 / NULL if unknown. */
int lrsa_early_stop_parse(const char *s);
const char *lrsa_early_stop_name(int e);

typedef struct lrsa_train_opts {
    lrsa_ae_config cfg;         /* network and image size */
    int64_t epochs;             /* 100; 0 writes the initial model */
    int64_t batch;              /* 512 images per optimiser step */
    lrsa_adam_opts adam;        /* lr 1e-3, weight decay 1e-5 */
    int64_t patience;           /* 10 epochs without improvement; 0: never stop early */
    int early_stop;             /* enum lrsa_early_stop */
    uint64_t seed;              /* initialisation and shuffling */
    int shuffle;                /* 1 (default): seeded per epoch; 0: set order */
    const char *output;         /* AE.safetensors (required); the others are named after it */
    const char *init_path;      /* NULL: PyTorch's default init from our RNG */
    int resume;                 /* 1: continue from AE.state.safetensors */
    int force;                  /* 1: accept an --init file whose metadata disagrees */
    int dry_run;                /* 1: compute the plan, write nothing */
    size_t memory_budget;       /* bytes for model + activations; 0: lrsa_ae_default_memory_budget */
    int64_t recon_images;       /* test images in the reconstruction figure (8) */
    int64_t stop_after_steps;   /* testing only: fail (LRSA_EIO) after this many optimiser steps
                                 * of this call, simulating a crash mid-epoch; 0: off */
    const lrsa_meta *meta;      /* extra metadata for AE.safetensors (image source, render
                                 * options, subjects); may be NULL */
    const char *command_line;   /* recorded in AE.json; may be NULL */
} lrsa_train_opts;

void lrsa_train_opts_init(lrsa_train_opts *o);

/* What a run will cost, measured before it starts. */
typedef struct lrsa_train_plan {
    int64_t n_train, n_test;
    int64_t steps_per_epoch;    /* ceil(n_train / batch): the last batch may be smaller */
    int64_t micro_batch;        /* images per forward/backward (memory-bound) */
    int threads;
    size_t memory_bytes;        /* model + activations + input buffer */
    double images_per_s;        /* forward + backward, measured after a warm-up */
    double epoch_seconds;       /* estimated: training plus the test pass */
    double total_seconds;       /* for the epochs still to run */
    int64_t first_epoch;        /* 0, or where a resume starts */
} lrsa_train_plan;

/* What a run did. */
typedef struct lrsa_train_result {
    int64_t epochs_done;        /* epochs completed in total (including before a resume) */
    int64_t best_epoch;         /* 1-based epoch with the best early-stopping value; 0 if none */
    int stopped_early;
    double last_train_loss, last_test_loss;   /* NaN when there is none */
    int64_t steps;              /* optimiser steps in total */
} lrsa_train_result;

/* Train on `train` (n >= 1), evaluate on `test` (may be NULL or empty: test loss is then null,
 * and early stopping on it LRSA_EMISUSE). The plan and one line per epoch are logged at INFO;
 * progress (label "epoch E/N loss L, R img/s") goes through ctx's hook. plan and result may be
 * NULL. Errors: LRSA_EEMPTY (no training image), LRSA_EMISUSE (bad options), LRSA_ENOTFOUND /
 * LRSA_EFORMAT / LRSA_ESHAPE for bad --init or resume files (naming file and tensor), image
 * decoding errors (naming the file), LRSA_EIO. On failure the files of the last completed
 * epoch stay as they were. */
int lrsa_train_ae(const lrsa_train_opts *o, const lrsa_imageset *train, const lrsa_imageset *test,
                  const lrsa_ctx *ctx, lrsa_train_plan *plan, lrsa_train_result *result,
                  lrsa_err *err);

/* Paths of the companion files: "<out minus .safetensors><suffix>", e.g. ".state.safetensors",
 * ".json", ".loss.png", ".recon.png", ".cache". The caller frees *path. */
int lrsa_train_companion(const char *output, const char *suffix, char **path, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
