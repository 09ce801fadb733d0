/*
 * Voxel embeddings: the trial-by-voxel matrix read straight from the BOLD runs, with no rendering
 * and no model (`latentrsa embed-voxels`, the study's control pathway). Without it, "no shared
 * information" could not be told apart from "rendering and the autoencoder destroyed it".
 *
 * Rows: one per trial of the table, in the table's order; row r holds volume t->rows[r].volume of
 * the run root/t->rows[r].bold. Columns: the voxels in C order over (x, y, z), i.e. k fastest, the
 * order of `latentrsa extract`'s (nx, ny, nz) array and of numpy's img.get_fdata()[..., t].ravel()
 * (so a mask selects as get_fdata()[..., t][mask != 0] does, nilearn's NiftiMasker order). Values
 * are float32 with scl_slope/scl_inter applied (nifti.h); without detrend or z-scoring a row equals
 * extract's output of the same volume bit for bit.
 *
 * Mask (optional): a NIfTI image with the runs' 3-D dims (4-D only with one volume) whose affine
 * maps every corner of the volume within LRSA_VOXELS_AFFINE_TOL mm of where each run's affine maps
 * it; a voxel is kept when its mask value is non-zero and not NaN. Every run must have the same
 * 3-D dims as the first one.
 *
 * Run-wise preprocessing, per run and voxel, over ALL volumes of the run (not just the trials'):
 *  - detrend: subtract the least-squares line a + b t (t = 0..T-1); T = 1 leaves x - x (0);
 *  - zscore_runs: subtract the mean and divide by the population sd (ddof 0) of the (detrended)
 *    series; a voxel whose sd is zero, or below 1e-10 of the root mean square of its raw values
 *    (a rounding residue, e.g. an exactly linear series after detrend), becomes 0.
 * Sums are in double; each run is converted volume by volume (one pass for the line or the mean,
 * one more for the sd), so nothing of size T x voxels is held in float.
 * NaN or Inf in the data propagates to the affected values (counted in nonfinite).
 *
 * Reading: each run is read once, in one forward pass (lrsa_nifti_read_bricks): only the trials'
 * volumes without preprocessing, every volume with it. Runs are processed in parallel, one per
 * thread (lrsa_threads(ctx)). Memory: the output (rows x voxels x 4 bytes) plus, per thread, one
 * run in its stored type (all volumes with preprocessing; the trial volumes without), one float
 * volume and 24 (32 with z-scoring) bytes per kept voxel. Full-brain BOLD5000 (about 775k voxels
 * x 5254 trials per subject) is 16 GB of output: use a mask at that size.
 *
 * Errors: LRSA_ENOTFOUND for a missing BOLD or mask file (naming it); LRSA_ESHAPE for runs or a
 * mask of other dims, a mask whose affine differs (naming both files), a trial whose volume lies
 * outside its run (naming the trial and the file); LRSA_EEMPTY for an empty table or a mask that
 * keeps no voxel; LRSA_EFORMAT for a trial whose labels break the sidecar schema; the NIfTI
 * reader's codes for bad files; LRSA_ENOMEM (the message gives the output's size); LRSA_EIO.
 */
#ifndef LATENTRSA_EMBED_VOXELS_H
#define LATENTRSA_EMBED_VOXELS_H

#include "latentrsa/bids.h"
#include "latentrsa/core.h"
#include "latentrsa/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_VOXELS_AFFINE_TOL 1e-3   /* mm: how far a mask's voxel corners may lie from a run's */

typedef struct lrsa_embed_voxels_opts {
    const char *root;         /* the BIDS directory: each trial's bold is relative to it */
    const char *mask;         /* NULL: every voxel; else a NIfTI mask (see above) */
    int detrend;              /* 1: remove each voxel's linear trend over its run */
    int zscore_runs;          /* 1: z-score each voxel over its run (after detrend) */
    const char *output;       /* OUT.npy, for lrsa_embed_voxels: OUT.labels.tsv, OUT.json beside */
    const char *trials_name;  /* the table's file, for OUT.json's "trials" (NULL: null, scanned) */
} lrsa_embed_voxels_opts;

void lrsa_embed_voxels_opts_init(lrsa_embed_voxels_opts *o);

/* The matrix in memory. */
typedef struct lrsa_voxel_matrix {
    int64_t rows;             /* trials */
    int64_t voxels;           /* columns: every voxel, or the mask's */
    int64_t dims[3];          /* the runs' nx, ny, nz */
    int64_t runs;             /* distinct BOLD files read */
    int64_t nonfinite;        /* output values that are NaN or Inf */
    float *data;              /* rows x voxels, C order */
    lrsa_labels *labels;      /* rows labels: stimulus source subject session run trial */
} lrsa_voxel_matrix;

/* Build the matrix for the trials of t (see above). On success *m holds it (release with
 * lrsa_voxel_matrix_release); on failure *m is empty. ctx (may be NULL) gives the thread count
 * and receives progress ("runs"). */
int lrsa_embed_voxels_matrix(const lrsa_embed_voxels_opts *o, const lrsa_trials *t,
                             const lrsa_ctx *ctx, lrsa_voxel_matrix *m, lrsa_err *err);
void lrsa_voxel_matrix_release(lrsa_voxel_matrix *m);

/* Build the matrix and write o->output (float32 .npy, rows x voxels), its labels sidecar
 * OUT.labels.tsv, and OUT.json (OUT.npy -> OUT.json):
 *   {"rows", "voxels", "mask" (path or null), "detrend", "zscore_runs",
 *    "volume_rule" (t's rule when it has one, else null), "dims": [x, y, z],
 *    "trials" (o->trials_name or null)}.
 * The .npy's temporary file is opened before any run is read (an unwritable output fails at
 * once); each file appears under its name only when complete, and on failure none of the three
 * is left (those already renamed are removed). info (may be NULL) receives the matrix's counts
 * (its data and labels NULL). */
int lrsa_embed_voxels(const lrsa_embed_voxels_opts *o, const lrsa_trials *t, const lrsa_ctx *ctx,
                      lrsa_voxel_matrix *info, lrsa_err *err);

/* "OUT.npy" -> "OUT.json" (a name without .npy gets .json appended); the caller frees it. */
char *lrsa_embed_voxels_json_path(const char *output, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
