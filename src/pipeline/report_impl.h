/* Private to src/pipeline/report*.c: the report being built and the pieces each file provides.
 *
 *   report.c          lrsa_report_write: reads results.json, writes every section, commits the file
 *   report_json.c     typed access to results.json with latched, file-naming errors
 *   report_html.c     the HTML output: escaping, numbers, tables, base64 PNG embedding
 *   report_figures.c  figures drawn with plot.h (RDMs, nulls, the lag sweep, loss curves)
 *   report_text.c     the plain-language paragraph of what the result means
 *
 * Errors are latched (as sqlite's mallocFailed): the first failure is kept in r->err and r->rc,
 * and every later call returns at once, so section code reads straight through without checking
 * each call; lrsa_report_write checks r->rc once before it writes the file.
 */
#ifndef LATENTRSA_REPORT_IMPL_H
#define LATENTRSA_REPORT_IMPL_H

#include "latentrsa/plot.h"
#include "latentrsa/report.h"

#include <cjson/cJSON.h>

typedef struct rep {
    const char *out_dir;
    char *results_path;    /* OUT/results.json, named in messages */
    const lrsa_ctx *ctx;
    lrsa_strbuf html;      /* the whole page, written to the file only when complete */
    int rc;                /* LRSA_OK until the first failure */
    lrsa_err err;          /* that failure */
    int nfig;              /* temporary figure files made so far (their names) */
} rep;

/* ===== Errors (report.c) =============================================== */
/* Latch a failure (only the first one is kept). Returns r->rc. */
int rep_fail(rep *r, int code, const char *fmt, ...) LRSA_PRINTF(3, 4);
/* Latch a library error `e` (rc != 0), prefixed with "<fmt>: ". Returns r->rc. */
int rep_fail_err(rep *r, const lrsa_err *e, const char *fmt, ...) LRSA_PRINTF(3, 4);

/* ===== results.json (report_json.c) ==================================== */
/* Each getter reads member `key` of `obj`, where `where` is obj's path in results.json ("" for
 * the top level, "rsa", "lag_sweep[2]", ...), used in messages. obj NULL, a missing key and JSON
 * null all give the "absent" value (NaN, NULL, -1); a value of another type latches LRSA_EFORMAT
 * ("'OUT/results.json': 'rsa.r' is a string, expected a number or null") and also gives the
 * absent value. */
double rj_num(rep *r, const cJSON *obj, const char *where, const char *key);
const char *rj_str(rep *r, const cJSON *obj, const char *where, const char *key);
int rj_bool(rep *r, const cJSON *obj, const char *where, const char *key);
const cJSON *rj_obj(rep *r, const cJSON *obj, const char *where, const char *key);
const cJSON *rj_arr(rep *r, const cJSON *obj, const char *where, const char *key);
/* "where.key" (or "key" at the top level) into buf. */
const char *rj_path(char *buf, size_t cap, const char *where, const char *key);
/* "where[i]" into buf. */
const char *rj_index(char *buf, size_t cap, const char *where, int i);
/* The path of a file named in results.json: absolute as given, else relative to OUT. NULL (and
 * latched ENOMEM) on failure. The caller frees it. */
char *rj_file(rep *r, const char *rel);

/* The compare object (compare --json): every field absent when the object is null. */
typedef struct rep_cmp {
    int present;                  /* the object was there */
    const char *method, *alternative, *strata;
    double n, pairs, r, p_parametric, p_permutation, permutations, ci_lo, ci_hi, bootstrap, seed;
} rep_cmp;
void rj_cmp(rep *r, const cJSON *obj, const char *where, const char *key, rep_cmp *out);
/* The same from the object c itself (NULL: all absent), whose path is `path`. */
void rj_cmp_at(rep *r, const cJSON *c, const char *path, rep_cmp *out);

/* ===== HTML (report_html.c) ============================================= */
void h_raw(rep *r, const char *s);
void h_rawf(rep *r, const char *fmt, ...) LRSA_PRINTF(2, 3);
/* Escaped text (& < > " '); NULL is written as "n/a". */
void h_text(rep *r, const char *s);
void h_textf(rep *r, const char *fmt, ...) LRSA_PRINTF(2, 3);
/* A number with a printf format (one double), or "n/a" when it is NaN. */
void h_num(rep *r, double v, const char *fmt);
/* "[lo, hi]" or "n/a". */
void h_ci(rep *r, double lo, double hi);
/* A p-value: "0.005", "< 0.0001" style is never used (a permutation p is exact); %.3g. */
void h_p(rep *r, double p);
/* Any JSON value as text: strings as they are, numbers %.6g, booleans, null as "n/a", arrays of
 * scalars joined by ", " (the first 50, then "... (N in all)"), objects as "key: value; ...". */
void h_json(rep *r, const cJSON *v);
/* A two-column table row <tr><th>key</th><td>value</td></tr> with both escaped. */
void h_row_text(rep *r, const char *key, const char *value);
void h_row_num(rep *r, const char *key, double v, const char *fmt);
/* Every member of a JSON object as key/value rows (nested objects flattened as "a.b"). */
void h_rows_json(rep *r, const cJSON *obj, const char *prefix);

/* Base64 (RFC 4648, with padding) of n bytes into dst, which holds 4 * ((n + 2) / 3) bytes.
 * Returns the number of bytes written. */
size_t rep_base64(char *dst, const unsigned char *src, size_t n);
/* A PNG held in memory as an <img> with a data URI; `name` is used in messages. The bytes must
 * decode as a PNG (else LRSA_EFORMAT naming `name`). */
void h_png(rep *r, const unsigned char *buf, size_t len, const char *name, const char *alt);
/* A PNG named in results.json under `key` (file path already resolved). */
void h_png_file(rep *r, const char *path, const char *key, const char *alt);
/* A figure drawn with plot.h: to a temporary PNG in OUT, embedded, removed. Drawing failures for
 * lack of data (LRSA_EEMPTY) are not latched: a note takes the figure's place and a warning is
 * logged. Returns 1 if the figure was embedded. */
int h_figure(rep *r, const lrsa_figure *fig, const char *alt);

/* ===== Figures (report_figures.c) ======================================= */
/* An RDM file as a heatmap panel's data: rows and columns in display order (by source, then
 * stimulus, then subject, from the sidecar; file order without one), block-averaged to at most
 * REP_RDM_MAX cells a side. */
#define REP_RDM_MAX 1024
typedef struct rep_rdm {
    float *data;          /* m x m */
    int64_t n, m;         /* rows in the file; rows drawn */
    int has_labels;
    char order[256];      /* e.g. "COCO 12, ImageNet 14, Scene 14", or "" */
} rep_rdm;
/* Read an RDM named under `key`; latches errors naming the file and the key. Returns 0 on
 * success. */
int rep_rdm_load(rep *r, const char *path, const char *key, rep_rdm *out);
void rep_rdm_release(rep_rdm *d);
/* Heatmaps of up to 3 RDMs side by side (NULL entries skipped), viridis. */
void rep_fig_rdms(rep *r, const rep_rdm *const *rdms, const char *const *titles, int n,
                  const char *alt);
/* The permutation null in the P x 1 .npy at `path` (key `key`) as a histogram with `observed`
 * marked (NaN: no mark). */
void rep_fig_null(rep *r, const char *path, const char *key, double observed, const char *title);
/* r against the lag for the "lag:K" rules of lag_sweep, stimoff as a horizontal line, as a
 * <figure> with its caption; nothing when no rule is "lag:K". */
void rep_fig_lags(rep *r, const cJSON *sweep);
/* Loss curves from AE.json's "epochs" (named under `key`). */
void rep_fig_loss_json(rep *r, const char *path, const char *key);

/* ===== The meaning paragraph (report_text.c) ============================ */
void rep_meaning(rep *r, const cJSON *root, const rep_cmp *main, const rep_cmp *voxels);

#endif
