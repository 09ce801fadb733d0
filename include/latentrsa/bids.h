/*
 * BIDS datasets (BOLD5000, ds001499): find the BOLD runs of one task, read their events.tsv,
 * and build the trial table, one row per trial, that later stages (render, train-ae, embed-fmri)
 * consume. Also reads and writes that table as trials.tsv.
 *
 * What the scanner walks (opendir/readdir, entries sorted, so the result never depends on the
 * file system's order):
 *   BIDS_DIR/sub-<S>/ses-<E>/func/sub-<S>_ses-<E>_task-<T>_run-<R>_bold.nii.gz   (BIDS)
 *   BIDS_DIR/sub-<S>/ses-<E>/sub-<S>_ses-<E>_task-<T>_run-<R>_bold.nii.gz        (the paper's
 *                                                                               flattened layout)
 *   BIDS_DIR/sub-<S>/func/... and BIDS_DIR/sub-<S>/...  (datasets without a session level; the
 *                                                       session is then "n/a")
 * with `_bold.nii` accepted as well as `_bold.nii.gz`, and the events in the sibling file whose
 * name ends `_events.tsv` instead of `_bold.nii[.gz]`. Only directories named sub-* (at the top),
 * ses-* (in a subject) and func (in a subject or session) are entered, so derivatives/,
 * sourcedata/, tmp_dcm2bids/ (BOLD5000's leftover dcm2bids output with stray .nii.gz files),
 * anat/, fmap/, dwi/ and hidden directories are never read.
 *
 * Labels: subject and session are the BIDS labels without prefix, as written in the BOLD file's
 * name (`CSI1`, `01`; `ses-1` gives `1`). The file name must agree with its directories: its
 * sub- label must equal the directory's; its ses- label must equal the directory's, or be the
 * same number written with or without leading zeros (the paper renamed `ses-01` files to `ses-1`
 * but kept the directories); otherwise the scan fails. The run is the integer of the `run-`
 * entity. Files of another task are skipped (counted in the summary and logged once per task);
 * a file of the requested task without a `run-` entity (a localizer-like run) is skipped with a
 * warning.
 *
 * events.tsv: columns are found by name, in any order; other columns are ignored; CRLF is fine
 * (see tsv.h). Required: `onset`, `ImgName`, `ImgType`, `StimOff(s)`. Optional, checked when
 * present: `Run` (must equal the file's run- number), `Sess` (when numeric and the session label
 * is numeric, must be the same number), `Trial` (a positive integer, unique in the run; without
 * the column a row's trial is its 1-based row number). `Subj` is ignored (BOLD5000 writes 1-4, the
 * labels are CSI1-4). A disagreement is an error naming the file, line and column.
 *
 * Ordering: subject label, then session label, both in natural order (digit runs compared as
 * numbers: CSI2 < CSI10, 1 < 01 < 2 with ties broken by plain byte order), then run and trial
 * as integers.
 */
#ifndef LATENTRSA_BIDS_H
#define LATENTRSA_BIDS_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Volume rules ==================================================== */
/* Which volume of the run stands for a trial.
 *  LRSA_VOLUME_LAG:     floor((onset + lag) / TR + 0.5), the volume nearest to `lag` seconds after
 *                       the image appeared (default lag 5 s, near the haemodynamic peak).
 *  LRSA_VOLUME_STIMOFF: floor(StimOff / TR), the paper's rule (int(StimOff(s) / pixdim[4])).
 *                       On BOLD5000's timing it picks the volume acquired 0-2 s after onset,
 *                       before the BOLD response rises. */
enum lrsa_volume_rule_kind { LRSA_VOLUME_LAG = 0, LRSA_VOLUME_STIMOFF = 1 };

#define LRSA_VOLUME_LAG_DEFAULT 5.0
#define LRSA_VOLUME_LAG_MAX 60.0

typedef struct lrsa_volume_rule {
    int kind;      /* enum lrsa_volume_rule_kind */
    double lag;    /* seconds, for LRSA_VOLUME_LAG; 0 <= lag <= LRSA_VOLUME_LAG_MAX */
} lrsa_volume_rule;

/* The default rule, lag:5. */
lrsa_volume_rule lrsa_volume_rule_default(void);
/* Parse "lag:SECONDS" (a finite number in [0, 60], e.g. lag:5, lag:4.5) or "stimoff".
 * Fails with LRSA_EFORMAT (the message quotes the text) on anything else. */
int lrsa_volume_rule_parse(const char *text, lrsa_volume_rule *rule, lrsa_err *err);
/* Format a rule as the parser reads it ("lag:5", "lag:4.5", "stimoff") into buf (capacity cap).
 * Returns buf. */
char *lrsa_volume_rule_format(const lrsa_volume_rule *rule, char *buf, size_t cap);
/* The 0-based volume for a trial. tr must be > 0. The result may be outside the run (or
 * negative); callers check it. Returns INT64_MIN when the value is not finite or too large. */
int64_t lrsa_volume_rule_apply(const lrsa_volume_rule *rule, double onset, double stim_off,
                               double tr);

/* ===== The trial table ================================================= */
/* One trial. Strings are owned by the table. */
typedef struct lrsa_trial {
    const char *subject;   /* BIDS label without "sub-": "CSI1" */
    const char *session;   /* BIDS label without "ses-", as written: "01", "1"; "n/a" if none */
    int64_t run;           /* from the run- entity */
    int64_t trial;         /* Trial column, or the 1-based row number */
    const char *stimulus;  /* ImgName, verbatim (with its extension) */
    const char *img_type;  /* ImgType, verbatim (coco, rep_imagenet, ...) */
    double onset;          /* seconds from the start of the run */
    double stim_off;       /* StimOff(s) */
    double tr;             /* seconds, from the BOLD header */
    int64_t volume;        /* 0-based volume index chosen by the rule */
    const char *bold;      /* the BOLD file, relative to the BIDS directory */
    int64_t nvolumes;      /* volumes in the run (from the header); 0 when read from trials.tsv */
} lrsa_trial;

typedef struct lrsa_trials {
    int64_t n;             /* rows */
    lrsa_trial *rows;      /* n rows, sorted as described above (by lrsa_bids_scan) */
    int have_rule;         /* 1 if `rule` says how `volume` was chosen (set by lrsa_bids_scan) */
    lrsa_volume_rule rule;
    void *pool;            /* private: storage for the strings */
} lrsa_trials;

/* What a scan found. */
typedef struct lrsa_scan_summary {
    int64_t subjects;        /* distinct subject labels */
    int64_t sessions;        /* distinct (subject, session) pairs */
    int64_t runs;            /* BOLD runs of the task */
    int64_t trials;          /* rows of the table */
    int64_t stimuli;         /* distinct stimulus names over the whole table */
    int64_t repeated;        /* distinct stimuli shown more than once to the same subject */
    int64_t skipped_other_task; /* BOLD files of other tasks (e.g. task-localizer), skipped */
    int64_t skipped_no_run;  /* BOLD files of the task without a run- entity, skipped */
} lrsa_scan_summary;

typedef struct lrsa_scan_opts {
    const char *task;        /* task label without "task-"; NULL means "5000scenes" */
    lrsa_volume_rule rule;   /* which volume stands for a trial */
    int verify;              /* 1: decompress every run completely (lrsa_nifti_verify) */
} lrsa_scan_opts;

/* Default options: task 5000scenes, lag:5, no verify. */
void lrsa_scan_opts_init(lrsa_scan_opts *opts);

/* Scan a BIDS directory and build its trial table. Reads each BOLD file's header only (TR from
 * the header, volumes = dim[4]); with opts->verify also decompresses every run. ctx (may be NULL)
 * receives notes about skipped files and progress. On success *out holds the table (free with
 * lrsa_trials_free) and *summary (may be NULL) is filled.
 * Errors (nothing is returned): LRSA_ENOTFOUND for a missing directory or events file;
 * LRSA_EFORMAT for a missing column, a bad cell, a label disagreement or a trial whose volume falls
 * outside its run (each naming the file, line and column); the NIfTI reader's code for a bad BOLD
 * file; LRSA_EEMPTY when no run of the task or no trial is found. */
int lrsa_bids_scan(const char *root, const lrsa_scan_opts *opts, const lrsa_ctx *ctx,
                   lrsa_trials **out, lrsa_scan_summary *summary, lrsa_err *err);

/* Fill a summary from a table (the counts that depend only on the rows; skipped_* are 0). */
int lrsa_trials_summarize(const lrsa_trials *t, lrsa_scan_summary *summary, lrsa_err *err);

/* The header of trials.tsv, in order. */
#define LRSA_TRIALS_NCOLS 11
extern const char *const lrsa_trials_columns[LRSA_TRIALS_NCOLS];
/* "subject\tsession\trun\ttrial\tstimulus\timg_type\tonset\tstim_off\ttr\tvolume\tbold" */

/* Write the table as TSV (LF line endings, header first; numbers printed so that they read back
 * exactly). `name` is used in messages. Fails with LRSA_EFORMAT if a string holds a tab or newline,
 * LRSA_EIO on a write error. */
int lrsa_trials_write(FILE *fp, const lrsa_trials *t, const char *name, lrsa_err *err);

/* Read a trials.tsv written by lrsa_trials_write (or edited: columns in any order, extra columns
 * ignored, rows kept in file order). Validates: all 11 columns present; subject, session,
 * stimulus, img_type and bold non-empty; run >= 0, trial >= 1, volume >= 0 integers; onset and
 * stim_off finite numbers; tr > 0; no (subject, session, run, trial) twice. Errors name the
 * file, line and column. nvolumes is 0 and have_rule 0 in the result. */
int lrsa_trials_read(const char *path, lrsa_trials **out, lrsa_err *err);

void lrsa_trials_free(lrsa_trials *t);

/* The stimulus source (the labels sidecar's `source`, BOLD5000's stimulus folder) of an ImgType:
 * *coco -> "COCO", *imagenet -> "ImageNet", *scenes -> "Scene" (rep_ prefixes included, case
 * ignored); anything else -> "n/a". */
const char *lrsa_img_type_source(const char *img_type);

/* Natural order of labels: runs of digits compare as numbers (ignoring leading zeros), the rest
 * byte by byte; equal-looking labels ("1", "01") are then ordered by strcmp. <0, 0, >0. */
int lrsa_label_cmp(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
