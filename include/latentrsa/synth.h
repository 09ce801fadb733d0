/*
 * A synthetic BOLD5000-shaped dataset with a planted signal of known strength (`latentrsa synth`).
 *
 * What is planted (docs/cli/synth.md has the long form):
 *  - Every unique image i has LRSA_SYNTH_NLATENT latent parameters z_i in [-1, 1] (rounded to 6
 *    decimals): object x, object y, grating orientation, grating spatial frequency, hue. The image
 *    is drawn from them (a hue-coloured disc at (x, y) over a hue-tinted sinusoidal grating).
 *  - Every signal voxel v (a central block of the brain) has a planted peak response
 *    p_v(i) = sum_l W[v][l] z_i[l], a fixed linear function of the latents, scaled so that the RMS of
 *    p over signal voxels and images is 1. The response in percent of baseline is signal * p_v(i).
 *  - A trial with image i adds baseline_v * signal/100 * p_v(i) * x(t) to voxel v, where x is the
 *    stimulus boxcar (onset to StimOff) convolved with SPM's canonical double-gamma HRF and
 *    normalised so a 1 s boxcar peaks at 1. Volume n is sampled at t = n * TR.
 *  - Gaussian white noise with sd noise/100 * baseline_v is added to every voxel and volume, then
 *    values are rounded to int16.
 *  - The brain: an ellipsoid (semi-axes 0.42 of each dimension, centred) with a radially symmetric
 *    baseline near LRSA_SYNTH_BASELINE, background LRSA_SYNTH_BACKGROUND outside, and 4 "vessel"
 *    voxels placed symmetrically about the centre at LRSA_SYNTH_VESSEL (or 1 above the volume's
 *    other maximum if the signal or noise ever exceeds that), so they pin every volume's maximum.
 *
 * Everything is a deterministic function of the options (the seed included): the same options give
 * the same bytes. Different random streams are derived from the seed for the images, the schedule
 * of each subject, the weights, and the noise of each run, so one run can be regenerated alone.
 */
#ifndef LATENTRSA_SYNTH_H
#define LATENTRSA_SYNTH_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_SYNTH_NLATENT 5
#define LRSA_SYNTH_BASELINE 500.0    /* mean brain intensity, about BOLD5000's foreground median */
#define LRSA_SYNTH_BACKGROUND 40.0   /* outside the ellipsoid: below nilearn's threshold of 100 */
#define LRSA_SYNTH_VESSEL 2000.0     /* about 4x baseline */
#define LRSA_SYNTH_NVESSELS 4
#define LRSA_SYNTH_TR 2.0
#define LRSA_SYNTH_MAX_IMAGES 5000           /* unique images (the truth RDM is N x N) */
#define LRSA_SYNTH_MAX_RUN_VOXELS ((int64_t)1 << 28) /* nx*ny*nz*volumes of one run */

/* Names of the latent parameters, in the order of lrsa_synth_image.latents. */
extern const char *const lrsa_synth_latent_names[LRSA_SYNTH_NLATENT];

typedef struct lrsa_synth_opts {
    int64_t subjects;      /* 1..9: sub-CSI1 .. sub-CSI<n> */
    int64_t sessions;      /* 1..20 per subject */
    int64_t runs;          /* 1..20 scene runs per session */
    int64_t trials;        /* 1..200 per run */
    int64_t repeated_images; /* K: K images shown 4 times to every subject; 4K <= trials per subject */
    int64_t dims[3];       /* 8..256 each */
    double signal;         /* RMS peak response, percent of baseline; 0: a null dataset */
    double noise;          /* sd of the white noise, percent of baseline */
    int64_t seed;          /* 0 .. 2^53-1 (so it survives JSON and Python floats) */
    int64_t image_size;    /* stimulus images are image_size x image_size, 16..1024 */
    int force;             /* write into an existing non-empty directory */
} lrsa_synth_opts;

/* The defaults: 4 subjects, 1 session, 2 runs, 10 trials, 2 repeated images, 24x24x16,
 * signal 2, noise 1, seed 1, 64-pixel images, no force. */
void lrsa_synth_opts_init(lrsa_synth_opts *o);
/* Check ranges and consistency. Fails with LRSA_EMISUSE and a one-line message naming the option
 * ("--trials must be 1 to 200, got 0"); the CLI turns that into a usage error. */
int lrsa_synth_opts_check(const lrsa_synth_opts *o, lrsa_err *err);

typedef struct lrsa_synth_image {
    char name[64];         /* ImgName, e.g. "COCO_train2014_000000123456.jpg" */
    const char *source;    /* stimulus folder: "COCO", "ImageNet" or "Scene" */
    const char *img_type;  /* ImgType without rep_: "coco", "imagenet" or "scenes" */
    int format;            /* lrsa_image_format of the file: JPEG, or PNG (whatever the name) */
    int repeated;          /* 1 if shown 4 times to every subject */
    double latents[LRSA_SYNTH_NLATENT];
} lrsa_synth_image;

typedef struct lrsa_synth_trial {
    int subject, session, run, trial;  /* all 1-based */
    int64_t image;         /* index into the images */
    int rep_prefix;        /* ImgType carries "rep_" */
    int64_t onset_ms;      /* onset == StimOn(s), in milliseconds */
    int64_t stimoff_ms;
    int response;          /* 1..3, 0 for none */
    int64_t rt_ms;         /* 0 when no response */
} lrsa_synth_trial;

/* The brain's geometry. Voxel (i,j,k) is at index i + nx*(j + ny*k). */
typedef struct lrsa_synth_geometry {
    int64_t dims[3];
    int64_t volumes;                   /* per scene run: (6 + 10*trials + 12) / 2 */
    double affine[4][4];               /* voxel -> world (mm); 2 mm, oblique, centre near 0 */
    int64_t block_lo[3], block_hi[3];  /* the signal block, inclusive voxel bounds */
    int64_t nsignal;                   /* voxels in the block */
    int64_t vessels[LRSA_SYNTH_NVESSELS][3];
} lrsa_synth_geometry;

/* A planned dataset: images, latents, schedule and weights, without any file written. */
typedef struct lrsa_synth lrsa_synth;

int lrsa_synth_new(const lrsa_synth_opts *o, lrsa_synth **out, lrsa_err *err);
void lrsa_synth_free(lrsa_synth *s);

const lrsa_synth_opts *lrsa_synth_options(const lrsa_synth *s);
const lrsa_synth_geometry *lrsa_synth_geom(const lrsa_synth *s);
int64_t lrsa_synth_nimages(const lrsa_synth *s);
const lrsa_synth_image *lrsa_synth_image_at(const lrsa_synth *s, int64_t i);
/* All trials of all subjects, ordered by subject, session, run, trial. */
int64_t lrsa_synth_ntrials(const lrsa_synth *s);
const lrsa_synth_trial *lrsa_synth_trial_at(const lrsa_synth *s, int64_t i);
/* The baseline of voxel v (no signal, no noise). */
double lrsa_synth_baseline(const lrsa_synth *s, int64_t v);
/* The planted unit response pattern p_v(i) of image i over the signal voxels, block order
 * (i fastest, then j, then k), into out[nsignal]. The response is signal * out[.] percent. */
void lrsa_synth_pattern(const lrsa_synth *s, int64_t image, double *out);
/* SPM's canonical HRF (peak parameter 6 s, undershoot 16 s, ratio 1/6) integrated over a boxcar
 * from 0 to dur seconds and sampled at t seconds after onset, normalised so that a 1 s boxcar
 * peaks at 1. */
double lrsa_synth_hrf_boxcar(const lrsa_synth *s, double t, double dur);

/* Draw image i (image_size^2 RGB8, layout of latentrsa/image.h) into rgb. */
void lrsa_synth_render_image(const lrsa_synth *s, int64_t i, uint8_t *rgb);
/* The 4-D int16 data of one scene run (1-based subject, session, run): nx*ny*nz*volumes values,
 * x fastest, volume slowest. *out is allocated; the caller frees it. */
int lrsa_synth_run_bold(const lrsa_synth *s, int subject, int session, int run, int16_t **out,
                        lrsa_err *err);
/* The truth RDM: 1 - Pearson correlation between the images' planted patterns (signal voxels),
 * images in lrsa_synth_image_at order, into out[nimages * nimages]. It does not depend on
 * --signal (with --signal 0 nothing is planted, but the matrix is still given). */
int lrsa_synth_truth_rdm(const lrsa_synth *s, double *out, lrsa_err *err);

/* Write the whole dataset under dir (created if missing). Refuses (LRSA_EMISUSE) a directory that
 * exists and is not empty unless opts.force; with force, files of the same name are replaced and
 * other files are left alone. Each file is written atomically; truth.json is written last, so its
 * presence marks a complete dataset. Progress is reported per run through ctx (may be NULL). */
int lrsa_synth_write(const lrsa_synth *s, const char *dir, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
