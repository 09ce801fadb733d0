/*
 * Stimulus alignment: pair trial-level brain rows with stimulus-level image rows by the
 * `stimulus` label (DESIGN.md section 3), never by position, and decide which subject's trials
 * stand for each image (the paper's quarters, one pair per subject, or the subjects' average).
 *
 * Inputs: FMRI, an N_f x D_f matrix whose rows are trials (sidecar: stimulus, source, subject,
 * session, run, trial; every subject set), and IMAGES, an N_i x D_i matrix whose rows are stimuli
 * (subject "n/a"; each stimulus once). D_f and D_i may differ.
 *
 * The canonical order. Output rows are sorted by stimulus (strcmp: byte order), then subject
 * (lrsa_label_cmp). Inside the plan the fMRI rows are sorted by the full key (stimulus, subject,
 * session, run, trial, source; then the tie callback, then input position), and repeats are
 * averaged in that order. So the assignment, every output byte and the report do not depend on
 * the order of the input rows.
 *
 * Assignments (K = the number of subjects on the fMRI side, in lrsa_label_cmp order):
 *  - QUARTERS (the paper): the stimuli on both sides, byte-sorted, are shuffled with lrsa_rng
 *    seeded by `seed` (Fisher-Yates from the last element down: swap i with
 *    lrsa_rng_below(rng, i + 1), i = C-1 .. 1). In that order each stimulus goes to the subject
 *    who saw it with the fewest stimuli so far; ties go to the first of them in a round-robin
 *    turn (subject t, t+1, ... mod K) where t starts at 0 and advances by one after every
 *    assignment. When every subject saw every stimulus the sets are equal quarters (sizes differ
 *    by at most one). The stimulus's output row is the mean of that subject's trial rows of it.
 *  - PER_SUBJECT: for each subject, every stimulus it saw that has an image row; one output row
 *    per (subject, stimulus), the mean of its repeats. Rows are grouped by subject (blocks in
 *    subject order), each block in stimulus order.
 *  - AVERAGE: one row per stimulus: each subject's repeats are averaged first, then the subjects'
 *    means (DESIGN.md section 7).
 * Means are accumulated in double and stored as float32; a single trial is copied exactly.
 *
 * Output labels. fMRI rows: stimulus; source (the first trial's, or the image row's when that is
 * n/a); subject (n/a for AVERAGE); session, run and trial copied when the row is one trial, n/a
 * when it is a mean (always n/a for AVERAGE). Image rows: the image row's labels verbatim.
 */
#ifndef LATENTRSA_ALIGN_H
#define LATENTRSA_ALIGN_H

#include "latentrsa/core.h"
#include "latentrsa/labels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrsa_align_assign {
    LRSA_ALIGN_QUARTERS = 0,     /* the paper: stimuli split at random among the subjects */
    LRSA_ALIGN_PER_SUBJECT = 1,  /* one aligned pair per subject */
    LRSA_ALIGN_AVERAGE = 2       /* brain rows averaged over the subjects who saw the stimulus */
} lrsa_align_assign;

/* "quarters", "per-subject", "average". Parse fails with LRSA_EMISUSE naming the text. */
int lrsa_align_assign_parse(const char *text, lrsa_align_assign *out, lrsa_err *err);
const char *lrsa_align_assign_name(lrsa_align_assign a);   /* "unknown" for a bad value */

/* Orders two fMRI rows whose labels are identical (a repeat that the labels cannot tell apart),
 * e.g. by their stored bytes, so that averaging does not depend on the input order. <0, 0, >0. */
typedef int (*lrsa_align_tie_fn)(void *ud, int64_t row_a, int64_t row_b);

/* ===== The plan: the join and the assignment, from the labels alone ========================= */
typedef struct lrsa_align_plan {
    lrsa_align_assign assign;
    uint64_t seed;
    int64_t fmri_rows, image_rows;  /* input rows */
    int64_t nsubjects;
    char **subjects;                /* nsubjects names, lrsa_label_cmp order */
    int64_t stimuli_fmri;           /* distinct stimuli on the fMRI side */
    int64_t stimuli_images;         /* image rows (= distinct stimuli) */
    int64_t stimuli_both;
    int64_t only_fmri_count;        /* shown but without an image row */
    char **only_fmri;               /* their names, byte-sorted */
    int64_t only_images_count;      /* image rows never shown */

    int64_t nout;                   /* output rows (all blocks for PER_SUBJECT) */
    int64_t *out_image;             /* nout: the image row of each output row */
    int64_t *out_start, *out_end;   /* nout: its trials are trials[out_start .. out_end) */
    int64_t *out_subject;           /* nout: the subject index; -1 for AVERAGE */
    int64_t *trials;                /* fMRI row indices in the canonical order (the used ones
                                     * and the others of the common stimuli) */
    int64_t *trial_subject;         /* subject index of each entry of trials[] */
    int64_t ntrials;
    lrsa_labels *fmri_labels;       /* nout rows: the fMRI output labels */
    lrsa_labels *image_labels;      /* nout rows: the image output labels */
    int64_t *per_subject;           /* nsubjects: output rows assigned to / drawn from each */
    int64_t averaged_rows;          /* output rows that are the mean of more than one trial */
    int64_t trials_used;            /* distinct fMRI rows that enter some output row */
} lrsa_align_plan;

/* Join `fmri` and `images` by stimulus and assign (see the top of this file). `tie` may be NULL
 * (identical labels then keep their input order). On success fills *plan (release it with
 * lrsa_align_plan_release); on failure *plan is empty. Errors name fmri->name / images->name:
 *  - an image row with a subject, or a stimulus twice on the image side (LRSA_EFORMAT);
 *  - an fMRI row without a subject (subject n/a) (LRSA_EFORMAT);
 *  - no stimulus in common (LRSA_EEMPTY: "no stimulus in common between A and B");
 *  - PER_SUBJECT: a subject label that cannot be part of a file name ('/', ".", "..")
 *    (LRSA_EFORMAT); an unknown assignment (LRSA_EMISUSE). */
int lrsa_align_plan_build(lrsa_align_plan *plan, const lrsa_labels *fmri, const lrsa_labels *images,
                          lrsa_align_assign assign, uint64_t seed, lrsa_align_tie_fn tie, void *tie_ud,
                          lrsa_err *err);
void lrsa_align_plan_release(lrsa_align_plan *plan);   /* NULL or an empty plan is fine */

/* ===== Files =================================================================================
 * lrsa_align_files reads FMRI and IMAGES (any real .npy dtype, memory-mapped, rows decoded one at
 * a time) with their sidecars, builds the plan, and writes, streaming one output row at a time:
 *   QUARTERS, AVERAGE:  PREFIX.fmri.npy, PREFIX.images.npy (+ .labels.tsv each)
 *   PER_SUBJECT:        PREFIX.<SUBJECT>.fmri.npy, PREFIX.<SUBJECT>.images.npy (+ sidecars) for
 *                       each subject with at least one row (a subject without is skipped, warned)
 *   always:             PREFIX.json, the join report (lrsa_align_result.json)
 * every file atomically; on any failure every file this call wrote is removed. The output
 * directory must exist. Memory: the labels, a few int64 per row and four rows of doubles.
 * Warnings (through ctx): stimuli shown without an image row (up to 10 named, and the count).
 * Errors besides the plan's (each one line naming the file): missing input or sidecar
 * (LRSA_ENOTFOUND), a sidecar whose row count differs (LRSA_ESHAPE), an input that is not 2-D
 * (LRSA_ESHAPE) or has no columns (LRSA_EEMPTY), a NaN or Inf in a row that is used
 * (LRSA_EFORMAT, naming the row, its stimulus and the column). */
typedef struct lrsa_align_opts {
    const char *fmri;               /* FMRI.npy */
    const char *images;             /* IMAGES.npy */
    const char *prefix;             /* output prefix */
    lrsa_align_assign assign;
    uint64_t seed;
} lrsa_align_opts;

typedef struct lrsa_align_result {
    lrsa_align_plan plan;
    int64_t fmri_dims, image_dims;  /* input columns */
    int64_t noutputs;
    char **outputs;                 /* the .npy files written, fMRI then images per block */
    char *json;                     /* the text of PREFIX.json (one object, '\n'-terminated) */
} lrsa_align_result;

int lrsa_align_files(const lrsa_align_opts *opts, lrsa_align_result *res, const lrsa_ctx *ctx,
                     lrsa_err *err);
void lrsa_align_result_release(lrsa_align_result *res);   /* NULL or an empty result is fine */

/* The PREFIX.json object of a finished plan (keys always present: assign, seed, fmri, images,
 * fmri_rows, image_rows, fmri_dims, image_dims, subjects, stimuli_fmri, stimuli_images,
 * stimuli_both, only_fmri, only_fmri_count, only_images_count, rows_out, averaged_rows,
 * trials_used, per_subject, outputs). The caller frees *out. */
int lrsa_align_report_json(const lrsa_align_opts *opts, const lrsa_align_result *res, char **out,
                           lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
