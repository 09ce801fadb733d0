/*
 * Row labels of a matrix: the sidecar `X.labels.tsv` beside `X.npy` (DESIGN.md section 3).
 *
 * Schema: a TSV file (see tsv.h) whose header is exactly
 *     stimulus  source  subject  session  run  trial
 * (TAB-separated, in this order), then one row per matrix row, in the matrix's row order.
 *  - stimulus: events.tsv ImgName verbatim (with its extension); never empty and never "n/a";
 *  - source: COCO, ImageNet or Scene (not enforced: any non-empty text), or n/a;
 *  - subject, session: BIDS labels without prefix ("CSI1", "01"), or n/a;
 *  - run, trial: integers, or n/a.
 * No cell is empty ("n/a" marks a column that does not apply) and no cell holds TAB, CR or LF.
 *
 * Every command that reads two matrices joins them with lrsa_labels_join: by stimulus, and by
 * subject too where both rows have one, never by position.
 */
#ifndef LATENTRSA_LABELS_H
#define LATENTRSA_LABELS_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum lrsa_labels_col {
    LRSA_LBL_STIMULUS = 0,
    LRSA_LBL_SOURCE,
    LRSA_LBL_SUBJECT,
    LRSA_LBL_SESSION,
    LRSA_LBL_RUN,
    LRSA_LBL_TRIAL,
    LRSA_LBL_NCOLS
};

#define LRSA_LABELS_NA "n/a"

/* The column names, in file order. */
extern const char *const lrsa_labels_columns[LRSA_LBL_NCOLS];

/* n rows of 6 strings. Every cell is a NUL-terminated string owned by the struct (never NULL). */
typedef struct lrsa_labels {
    int64_t n;
    char **cells;        /* n * LRSA_LBL_NCOLS, row-major */
    char *name;          /* file name for messages ("" when built in memory) */
} lrsa_labels;

/* New labels with n rows, every cell "n/a". */
lrsa_labels *lrsa_labels_new(int64_t n, lrsa_err *err);
void lrsa_labels_free(lrsa_labels *l);   /* NULL is fine */

static inline const char *lrsa_labels_get(const lrsa_labels *l, int64_t row, int col)
{
    return l->cells[row * LRSA_LBL_NCOLS + col];
}
/* Copy `value` into a cell (NULL means "n/a"). Checks nothing but memory; see lrsa_labels_check. */
int lrsa_labels_set(lrsa_labels *l, int64_t row, int col, const char *value, lrsa_err *err);
/* Set a run or trial cell from an integer. */
int lrsa_labels_set_int(lrsa_labels *l, int64_t row, int col, int64_t value, lrsa_err *err);
/* 1 if a cell is "n/a". */
int lrsa_labels_is_na(const char *cell);

/* Rows idx[0..n-1] of src, in that order, as new labels (for outputs that reorder or subset). */
lrsa_labels *lrsa_labels_take(const lrsa_labels *src, const int64_t *idx, int64_t n, lrsa_err *err);

/* The sidecar path of a matrix: "X.npy" -> "X.labels.tsv" (a name without ".npy" just gets
 * ".labels.tsv" appended). The caller frees *out. */
int lrsa_labels_path(const char *matrix_path, char **out, lrsa_err *err);

/* Check every cell against the schema (LRSA_EFORMAT naming l->name, the row and the column). */
int lrsa_labels_check(const lrsa_labels *l, lrsa_err *err);

/* Read and check a sidecar (exact header, rules above). Errors name the file and line. */
int lrsa_labels_read(const char *path, lrsa_labels **out, lrsa_err *err);
/* Write atomically (temporary + rename) after lrsa_labels_check: no file on failure. */
int lrsa_labels_write(const char *path, const lrsa_labels *l, lrsa_err *err);

/* LRSA_ESHAPE unless the labels have exactly `rows` rows; the message names both files. */
int lrsa_labels_check_rows(const lrsa_labels *l, int64_t rows, const char *matrix_name,
                           lrsa_err *err);
/* Read the sidecar of `matrix_path` and check it has `rows` rows. */
int lrsa_labels_read_for(const char *matrix_path, int64_t rows, lrsa_labels **out, lrsa_err *err);

/* ---- Joining two label sets ------------------------------------------------------------------
 * Rows a (of A) and b (of B) match when they have the same stimulus and their subjects agree:
 * equal, or at least one of them "n/a". A row matching two rows of the other side is an
 * ambiguity error (LRSA_ESHAPE, e.g. an image embedding row against two subjects' fMRI rows of
 * the same image: assign or average first), and so is a duplicate key inside one side (two rows
 * with the same stimulus whose subjects agree). Flags choose which unmatched rows are errors. */
enum lrsa_join_flags {
    LRSA_JOIN_REQUIRE_A = 1 << 0,   /* every row of A must match */
    LRSA_JOIN_REQUIRE_B = 1 << 1,   /* every row of B must match */
    LRSA_JOIN_STRICT = LRSA_JOIN_REQUIRE_A | LRSA_JOIN_REQUIRE_B,
    LRSA_JOIN_INNER = 0             /* keep the matches, count the rest */
};

typedef struct lrsa_label_pairs {
    int64_t n;              /* matched pairs */
    int64_t *a, *b;         /* n row indices into A and B; pairs in A's row order */
    int64_t unmatched_a;    /* rows of A without a partner */
    int64_t unmatched_b;
} lrsa_label_pairs;

/* Join A and B. On success fills *out (release with lrsa_labels_join_release). Errors:
 * LRSA_ESHAPE for duplicates, ambiguities and (per flags) unmatched rows, naming the stimulus,
 * subject and file; LRSA_EEMPTY if no row matches at all. */
int lrsa_labels_join(const lrsa_labels *a, const lrsa_labels *b, int flags, lrsa_label_pairs *out,
                     lrsa_err *err);
void lrsa_labels_join_release(lrsa_label_pairs *j);

#ifdef __cplusplus
}
#endif
#endif
