/*
 * The images of a render set: which volumes to render for a trial table, the file names the
 * paper's code gave them, and DIR/manifest.tsv. Shared by `latentrsa render` and train-ae's
 * --bids render cache, so both lay out the same folder.
 *
 * Names (relative to the output folder): sub-S/ses-E/run_R/fMRI_sub-S_ses-E_run-R_trial-T_STEM.png
 * with STEM = ImgName up to its first dot, or ..._run-R_timestep-(t+1).png for every volume;
 * the ses- parts are left out when the session is "n/a".
 */
#ifndef LATENTRSA_RENDER_JOBS_H
#define LATENTRSA_RENDER_JOBS_H

#include "latentrsa/bids.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrsa_render_job {
    const lrsa_trial *row;   /* the trial (labels); NULL for an all-volumes image of no trial */
    const lrsa_trial *run;   /* a row of the image's run: bold, subject, session, run */
    int64_t volume;          /* 0-based volume of the run */
    char *path;              /* the image, relative to the output folder */
} lrsa_render_job;

/* The images for a trial table: one per trial, or with `all` every volume of every run (the
 * header of a run is read from root/bold when the table does not carry its volume count). Jobs
 * of one run are contiguous. A name that would leave the output folder is LRSA_EFORMAT. */
int lrsa_render_jobs_plan(const lrsa_trials *t, int all, const char *root, lrsa_render_job **out,
                          int64_t *njobs, lrsa_err *err);
void lrsa_render_jobs_free(lrsa_render_job *jobs, int64_t njobs);

/* Write the manifest (stimulus source subject session run trial volume path), atomically. */
int lrsa_render_manifest_write(const char *path, const lrsa_render_job *jobs, int64_t njobs,
                               lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
