/* Stimulus alignment: the join by stimulus, the subject assignment, and the streamed outputs.
 * See align.h. */
#include "latentrsa/align.h"
#include "latentrsa/bids.h"
#include "latentrsa/npy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== Names ================================================================================== */

static const char *const assign_names[] = { "quarters", "per-subject", "average" };

int lrsa_align_assign_parse(const char *text, lrsa_align_assign *out, lrsa_err *err)
{
    for (int i = 0; i < 3; i++)
        if (text && strcmp(text, assign_names[i]) == 0) {
            *out = (lrsa_align_assign)i;
            return LRSA_OK;
        }
    return LRSA_FAIL(err, LRSA_EMISUSE, "unknown assignment '%s' (choose quarters, per-subject or average)",
                     text ? text : "(null)");
}

const char *lrsa_align_assign_name(lrsa_align_assign a)
{
    return (int)a >= 0 && (int)a < 3 ? assign_names[a] : "unknown";
}

/* ===== Sorting row indices ==================================================================== */

enum sort_key { KEY_STIMULUS, KEY_SUBJECT, KEY_FULL };

typedef struct sort_ctx {
    const lrsa_labels *l;
    enum sort_key key;
    lrsa_align_tie_fn tie;
    void *tie_ud;
} sort_ctx;

static const char *cell(const lrsa_labels *l, int64_t row, int col)
{
    return lrsa_labels_get(l, row, col);
}

/* A total order on rows: the key's columns, then (KEY_FULL) the tie callback, then position. */
static int row_cmp(const sort_ctx *c, int64_t x, int64_t y)
{
    const lrsa_labels *l = c->l;
    int r;
    if (c->key == KEY_SUBJECT) {
        if ((r = lrsa_label_cmp(cell(l, x, LRSA_LBL_SUBJECT), cell(l, y, LRSA_LBL_SUBJECT))))
            return r;
        goto position;
    }
    if ((r = strcmp(cell(l, x, LRSA_LBL_STIMULUS), cell(l, y, LRSA_LBL_STIMULUS))))
        return r < 0 ? -1 : 1;
    if (c->key == KEY_STIMULUS)
        goto position;
    static const int cols[] = { LRSA_LBL_SUBJECT, LRSA_LBL_SESSION, LRSA_LBL_RUN, LRSA_LBL_TRIAL };
    for (int i = 0; i < 4; i++)
        if ((r = lrsa_label_cmp(cell(l, x, cols[i]), cell(l, y, cols[i]))))
            return r;
    if ((r = strcmp(cell(l, x, LRSA_LBL_SOURCE), cell(l, y, LRSA_LBL_SOURCE))))
        return r < 0 ? -1 : 1;
    if (c->tie && (r = c->tie(c->tie_ud, x, y)))
        return r < 0 ? -1 : 1;
position:
    return x < y ? -1 : x > y;
}

/* Merge sort of a[0..n) (tmp holds n). */
static void sort_rows(int64_t *a, int64_t *tmp, int64_t n, const sort_ctx *c)
{
    if (n < 2)
        return;
    if (n <= 12) {
        for (int64_t i = 1; i < n; i++) {
            int64_t v = a[i], j = i;
            while (j > 0 && row_cmp(c, a[j - 1], v) > 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
        return;
    }
    int64_t h = n / 2, i = 0, j = h, k = 0;
    sort_rows(a, tmp, h, c);
    sort_rows(a + h, tmp, n - h, c);
    while (i < h && j < n)
        tmp[k++] = row_cmp(c, a[i], a[j]) <= 0 ? a[i++] : a[j++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static int64_t *iota_new(int64_t n, const char *what, lrsa_err *err)
{
    int64_t *a = lrsa_malloc((size_t)(n ? n : 1) * sizeof *a, what, err);
    if (a)
        for (int64_t i = 0; i < n; i++)
            a[i] = i;
    return a;
}

/* ===== The plan =============================================================================== */

void lrsa_align_plan_release(lrsa_align_plan *p)
{
    if (!p)
        return;
    if (p->subjects)
        for (int64_t k = 0; k < p->nsubjects; k++)
            free(p->subjects[k]);
    free(p->subjects);
    if (p->only_fmri)
        for (int64_t i = 0; i < p->only_fmri_count; i++)
            free(p->only_fmri[i]);
    free(p->only_fmri);
    free(p->out_image);
    free(p->out_start);
    free(p->out_end);
    free(p->out_subject);
    free(p->trials);
    free(p->trial_subject);
    lrsa_labels_free(p->fmri_labels);
    lrsa_labels_free(p->image_labels);
    free(p->per_subject);
    memset(p, 0, sizeof *p);
}

/* Check the rows of each side; errors name the file. */
static int check_sides(const lrsa_labels *fmri, const lrsa_labels *images, lrsa_err *err)
{
    for (int64_t i = 0; i < images->n; i++)
        if (!lrsa_labels_is_na(cell(images, i, LRSA_LBL_SUBJECT)))
            return LRSA_FAIL(err, LRSA_EFORMAT,
                             "'%s': row %lld (stimulus '%s') has subject '%s': the image side must be "
                             "stimulus-level (subject n/a)", images->name, (long long)i,
                             cell(images, i, LRSA_LBL_STIMULUS), cell(images, i, LRSA_LBL_SUBJECT));
    for (int64_t i = 0; i < fmri->n; i++)
        if (lrsa_labels_is_na(cell(fmri, i, LRSA_LBL_SUBJECT)))
            return LRSA_FAIL(err, LRSA_EFORMAT,
                             "'%s': row %lld (stimulus '%s') has no subject (n/a): every fMRI row needs one",
                             fmri->name, (long long)i, cell(fmri, i, LRSA_LBL_STIMULUS));
    return LRSA_OK;
}

/* A subject label becomes part of a file name in PER_SUBJECT. */
static int check_file_label(const lrsa_labels *fmri, const char *s, lrsa_err *err)
{
    if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': subject '%s' cannot be part of a file name (per-subject outputs)",
                         fmri->name, s);
    return LRSA_OK;
}

/* [*s, *e): the entries of trials[start .. end) of subject k (empty when k did not see it). */
static void subject_range(const lrsa_align_plan *p, int64_t start, int64_t end, int64_t k, int64_t *s,
                          int64_t *e)
{
    int64_t t = start;
    while (t < end && p->trial_subject[t] != k)
        t++;
    *s = t;
    while (t < end && p->trial_subject[t] == k)
        t++;
    *e = t;
}

int lrsa_align_plan_build(lrsa_align_plan *p, const lrsa_labels *fmri, const lrsa_labels *images,
                          lrsa_align_assign assign, uint64_t seed, lrsa_align_tie_fn tie, void *tie_ud,
                          lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t nf = fmri->n, ni = images->n;
    int64_t *fsort = NULL, *isort = NULL, *tmp = NULL, *subj_of = NULL;
    int64_t *cs_image = NULL, *cs_start = NULL, *cs_end = NULL, *order = NULL, *assigned = NULL;
    int64_t *counts = NULL;
    memset(p, 0, sizeof *p);
    p->assign = assign;
    p->seed = seed;
    p->fmri_rows = nf;
    p->image_rows = ni;
    if ((int)assign < 0 || (int)assign > 2)
        return LRSA_FAIL(err, LRSA_EMISUSE, "align: unknown assignment %d", (int)assign);
    if ((rc = check_sides(fmri, images, err)))
        return rc;
    int64_t nmax = nf > ni ? nf : ni;
    fsort = iota_new(nf, "fMRI rows", err);
    isort = iota_new(ni, "image rows", err);
    tmp = iota_new(nmax, "row sort", err);
    subj_of = iota_new(nf, "fMRI rows", err);
    if (!fsort || !isort || !tmp || !subj_of)
        goto nomem;

    /* The image side: one row per stimulus. */
    sort_ctx sc = { images, KEY_STIMULUS, NULL, NULL };
    sort_rows(isort, tmp, ni, &sc);
    for (int64_t k = 1; k < ni; k++)
        if (strcmp(cell(images, isort[k - 1], LRSA_LBL_STIMULUS), cell(images, isort[k], LRSA_LBL_STIMULUS)) == 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT,
                           "'%s': stimulus '%s' appears twice (rows %lld and %lld): the image side needs "
                           "one row per stimulus", images->name, cell(images, isort[k], LRSA_LBL_STIMULUS),
                           (long long)isort[k - 1], (long long)isort[k]);
            goto done;
        }

    /* The subjects, in lrsa_label_cmp order, and each fMRI row's subject index. */
    sc = (sort_ctx){ fmri, KEY_SUBJECT, NULL, NULL };
    sort_rows(fsort, tmp, nf, &sc);
    for (int64_t k = 0; k < nf; k++)
        if (k == 0 || strcmp(cell(fmri, fsort[k - 1], LRSA_LBL_SUBJECT), cell(fmri, fsort[k], LRSA_LBL_SUBJECT)))
            p->nsubjects++;
    p->subjects = lrsa_calloc((size_t)(p->nsubjects ? p->nsubjects : 1), sizeof *p->subjects, "subjects", err);
    p->per_subject = lrsa_calloc((size_t)(p->nsubjects ? p->nsubjects : 1), sizeof *p->per_subject, "subjects", err);
    if (!p->subjects || !p->per_subject)
        goto nomem;
    for (int64_t k = 0, s = -1; k < nf; k++) {
        const char *name = cell(fmri, fsort[k], LRSA_LBL_SUBJECT);
        if (s < 0 || strcmp(p->subjects[s], name)) {
            if (!(p->subjects[++s] = lrsa_strdup(name, err)))
                goto nomem;
            if (assign == LRSA_ALIGN_PER_SUBJECT && (rc = check_file_label(fmri, name, err)))
                goto done;
        }
        subj_of[fsort[k]] = s;
    }

    /* The canonical order of the trials, and the walk over both sides by stimulus. */
    for (int64_t k = 0; k < nf; k++)
        fsort[k] = k;
    sc = (sort_ctx){ fmri, KEY_FULL, tie, tie_ud };
    sort_rows(fsort, tmp, nf, &sc);
    p->trials = lrsa_malloc((size_t)(nf ? nf : 1) * sizeof *p->trials, "trials", err);
    p->trial_subject = lrsa_malloc((size_t)(nf ? nf : 1) * sizeof *p->trial_subject, "trials", err);
    p->only_fmri = lrsa_calloc((size_t)(nf ? nf : 1), sizeof *p->only_fmri, "stimuli", err);
    int64_t nc_max = nf < ni ? nf : ni;
    cs_image = lrsa_malloc((size_t)(nc_max ? nc_max : 1) * sizeof *cs_image, "stimuli", err);
    cs_start = lrsa_malloc((size_t)(nc_max ? nc_max : 1) * sizeof *cs_start, "stimuli", err);
    cs_end = lrsa_malloc((size_t)(nc_max ? nc_max : 1) * sizeof *cs_end, "stimuli", err);
    if (!p->trials || !p->trial_subject || !p->only_fmri || !cs_image || !cs_start || !cs_end)
        goto nomem;
    int64_t C = 0, ngroups = 0;
    for (int64_t i = 0, j = 0; i < nf || j < ni;) {
        const char *sf = i < nf ? cell(fmri, fsort[i], LRSA_LBL_STIMULUS) : NULL;
        const char *si = j < ni ? cell(images, isort[j], LRSA_LBL_STIMULUS) : NULL;
        int c = !sf ? 1 : !si ? -1 : strcmp(sf, si);
        if (c > 0) {
            p->only_images_count++;
            j++;
            continue;
        }
        int64_t i2 = i + 1;
        while (i2 < nf && strcmp(cell(fmri, fsort[i2], LRSA_LBL_STIMULUS), sf) == 0)
            i2++;
        p->stimuli_fmri++;
        if (c < 0) {
            if (!(p->only_fmri[p->only_fmri_count++] = lrsa_strdup(sf, err)))
                goto nomem;
            i = i2;
            continue;
        }
        cs_image[C] = isort[j];
        cs_start[C] = p->ntrials;
        for (int64_t t = i; t < i2; t++) {
            p->trials[p->ntrials] = fsort[t];
            p->trial_subject[p->ntrials] = subj_of[fsort[t]];
            if (p->ntrials == cs_start[C] || p->trial_subject[p->ntrials] != p->trial_subject[p->ntrials - 1])
                ngroups++;
            p->ntrials++;
        }
        cs_end[C++] = p->ntrials;
        i = i2;
        j++;
    }
    p->stimuli_images = ni;
    p->stimuli_both = C;
    if (C == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "no stimulus in common between '%s' and '%s'", fmri->name,
                       images->name);
        goto done;
    }

    /* The output rows. */
    int64_t K = p->nsubjects;
    int64_t nout_max = assign == LRSA_ALIGN_PER_SUBJECT ? ngroups : C;
    p->out_image = lrsa_malloc((size_t)nout_max * sizeof *p->out_image, "output rows", err);
    p->out_start = lrsa_malloc((size_t)nout_max * sizeof *p->out_start, "output rows", err);
    p->out_end = lrsa_malloc((size_t)nout_max * sizeof *p->out_end, "output rows", err);
    p->out_subject = lrsa_malloc((size_t)nout_max * sizeof *p->out_subject, "output rows", err);
    if (!p->out_image || !p->out_start || !p->out_end || !p->out_subject)
        goto nomem;
    if (assign == LRSA_ALIGN_QUARTERS) {
        order = iota_new(C, "stimuli", err);
        assigned = lrsa_malloc((size_t)C * sizeof *assigned, "stimuli", err);
        counts = lrsa_calloc((size_t)K, sizeof *counts, "subjects", err);
        if (!order || !assigned || !counts)
            goto nomem;
        lrsa_rng rng;
        lrsa_rng_seed(&rng, seed);
        for (int64_t i = C - 1; i > 0; i--) {
            int64_t j = (int64_t)lrsa_rng_below(&rng, (uint64_t)i + 1);
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int64_t turn = 0;
        for (int64_t n = 0; n < C; n++) {
            int64_t c = order[n], best = -1;
            for (int64_t s = 0; s < K; s++) {
                int64_t k = (turn + s) % K, a, b;
                subject_range(p, cs_start[c], cs_end[c], k, &a, &b);
                if (a < b && (best < 0 || counts[k] < counts[best]))
                    best = k;
            }
            assigned[c] = best;   /* >= 0: every common stimulus was seen by someone */
            counts[best]++;
            turn = (turn + 1) % K;
        }
        for (int64_t c = 0; c < C; c++) {
            p->out_image[c] = cs_image[c];
            p->out_subject[c] = assigned[c];
            subject_range(p, cs_start[c], cs_end[c], assigned[c], &p->out_start[c], &p->out_end[c]);
            p->per_subject[assigned[c]]++;
        }
        p->nout = C;
    } else if (assign == LRSA_ALIGN_PER_SUBJECT) {
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < C; c++) {
                int64_t a, b;
                subject_range(p, cs_start[c], cs_end[c], k, &a, &b);
                if (a == b)
                    continue;
                p->out_image[p->nout] = cs_image[c];
                p->out_subject[p->nout] = k;
                p->out_start[p->nout] = a;
                p->out_end[p->nout++] = b;
                p->per_subject[k]++;
            }
    } else {
        for (int64_t c = 0; c < C; c++) {
            p->out_image[c] = cs_image[c];
            p->out_subject[c] = -1;
            p->out_start[c] = cs_start[c];
            p->out_end[c] = cs_end[c];
            for (int64_t t = cs_start[c]; t < cs_end[c]; t++)
                if (t == cs_start[c] || p->trial_subject[t] != p->trial_subject[t - 1])
                    p->per_subject[p->trial_subject[t]]++;
        }
        p->nout = C;
    }

    /* The output labels and the counts. */
    if (!(p->fmri_labels = lrsa_labels_new(p->nout, err)) ||
        !(p->image_labels = lrsa_labels_take(images, p->out_image, p->nout, err)))
        goto nomem;
    for (int64_t r = 0; r < p->nout; r++) {
        int64_t first = p->trials[p->out_start[r]], n = p->out_end[r] - p->out_start[r];
        const char *src = cell(fmri, first, LRSA_LBL_SOURCE);
        if (lrsa_labels_is_na(src))
            src = cell(images, p->out_image[r], LRSA_LBL_SOURCE);
        int one = n == 1 && assign != LRSA_ALIGN_AVERAGE;
        if ((rc = lrsa_labels_set(p->fmri_labels, r, LRSA_LBL_STIMULUS, cell(fmri, first, LRSA_LBL_STIMULUS), err)) ||
            (rc = lrsa_labels_set(p->fmri_labels, r, LRSA_LBL_SOURCE, src, err)) ||
            (rc = lrsa_labels_set(p->fmri_labels, r, LRSA_LBL_SUBJECT,
                                  p->out_subject[r] < 0 ? NULL : p->subjects[p->out_subject[r]], err)))
            goto done;
        for (int col = LRSA_LBL_SESSION; col <= LRSA_LBL_TRIAL; col++)
            if ((rc = lrsa_labels_set(p->fmri_labels, r, col, one ? cell(fmri, first, col) : NULL, err)))
                goto done;
        p->averaged_rows += n > 1;
        p->trials_used += n;
    }
    goto done;
nomem:
    rc = err && err->code ? err->code : LRSA_ENOMEM;
done:
    free(fsort);
    free(isort);
    free(tmp);
    free(subj_of);
    free(cs_image);
    free(cs_start);
    free(cs_end);
    free(order);
    free(assigned);
    free(counts);
    if (rc)
        lrsa_align_plan_release(p);
    return rc;
}

/* ===== Reading rows =========================================================================== */

/* An input matrix, memory-mapped, with its sidecar; rows are decoded to double one at a time. */
typedef struct mat_in {
    const char *path;
    lrsa_npy_mapping *m;
    lrsa_labels *labels;
    int64_t rows, cols;
    lrsa_npy_header rowhdr;      /* one row as a 1-d C-order array */
    unsigned char *gather;       /* Fortran order: one row's stored bytes */
    double *row;                 /* the decoded row */
} mat_in;

static void mat_close(mat_in *in)
{
    lrsa_npy_unmap(in->m);
    lrsa_labels_free(in->labels);
    free(in->gather);
    free(in->row);
    memset(in, 0, sizeof *in);
}

static int mat_open(mat_in *in, const char *path, lrsa_err *err)
{
    int rc;
    char *lp = NULL;
    memset(in, 0, sizeof *in);
    in->path = path;
    if ((rc = lrsa_npy_map(path, &in->m, err)))
        goto done;
    const lrsa_npy_header *h = &in->m->hdr;
    if (h->ndim != 2) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s': expected a 2-d matrix (rows x columns), got %d-d", path, h->ndim);
        goto done;
    }
    in->rows = h->shape[0];
    in->cols = h->shape[1];
    if (in->cols < 1) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "'%s': a %lld x 0 matrix has no columns", path, (long long)in->rows);
        goto done;
    }
    if ((rc = lrsa_labels_path(path, &lp, err)))
        goto done;
    if (!lrsa_is_file(lp)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s' has no labels sidecar '%s': align pairs rows by stimulus",
                       path, lp);
        goto done;
    }
    if ((rc = lrsa_labels_read_for(path, in->rows, &in->labels, err)))
        goto done;
    /* Messages about rows name the matrix. */
    free(in->labels->name);
    if (!(in->labels->name = lrsa_strdup(path, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    in->rowhdr = *h;
    in->rowhdr.ndim = 1;
    in->rowhdr.shape[0] = in->cols;
    in->rowhdr.numel = in->cols;
    in->rowhdr.data_bytes = (size_t)in->cols * (size_t)h->itemsize;
    in->rowhdr.fortran_order = 0;
    if (!(in->row = lrsa_malloc((size_t)in->cols * sizeof *in->row, "a row", err)) ||
        (h->fortran_order && !(in->gather = lrsa_malloc(in->rowhdr.data_bytes, "a row", err)))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
done:
    free(lp);
    if (rc)
        mat_close(in);
    return rc;
}

/* The stored bytes of element (i, j). */
static const unsigned char *mat_elem(const mat_in *in, int64_t i, int64_t j)
{
    const lrsa_npy_header *h = &in->m->hdr;
    int64_t off = h->fortran_order ? j * in->rows + i : i * in->cols + j;
    return (const unsigned char *)in->m->data + (size_t)off * (size_t)h->itemsize;
}

/* Decode row i into in->row, refusing NaN and Inf. */
static int mat_row(mat_in *in, int64_t i, lrsa_err *err)
{
    const void *src = mat_elem(in, i, 0);
    if (in->gather) {
        size_t sz = (size_t)in->m->hdr.itemsize;
        for (int64_t j = 0; j < in->cols; j++)
            memcpy(in->gather + (size_t)j * sz, mat_elem(in, i, j), sz);
        src = in->gather;
    }
    lrsa_npy_decode_f64(&in->rowhdr, src, in->row);
    for (int64_t j = 0; j < in->cols; j++)
        if (!isfinite(in->row[j])) {
            double v = in->row[j];
            const char *subj = cell(in->labels, i, LRSA_LBL_SUBJECT);
            int has_subj = !lrsa_labels_is_na(subj);
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': row %lld (stimulus '%s'%s%s) column %lld is %s: align needs finite values",
                             in->path, (long long)i, cell(in->labels, i, LRSA_LBL_STIMULUS),
                             has_subj ? ", subject " : "", has_subj ? subj : "", (long long)j,
                             isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        }
    return LRSA_OK;
}

/* Tie-break for fMRI rows with identical labels: their stored bytes. */
static int tie_bytes(void *ud, int64_t a, int64_t b)
{
    const mat_in *in = ud;
    size_t sz = (size_t)in->m->hdr.itemsize;
    if (!in->m->hdr.fortran_order) {
        int c = memcmp(mat_elem(in, a, 0), mat_elem(in, b, 0), sz * (size_t)in->cols);
        return c < 0 ? -1 : c > 0;
    }
    for (int64_t j = 0; j < in->cols; j++) {
        int c = memcmp(mat_elem(in, a, j), mat_elem(in, b, j), sz);
        if (c)
            return c < 0 ? -1 : 1;
    }
    return 0;
}

/* ===== Writing ================================================================================ */

/* The files written so far (removed on failure) and the .npy outputs (for the report). */
typedef struct written {
    char **paths;
    int64_t n, cap;
} written;

static int written_add(written *w, const char *path, lrsa_err *err)
{
    if (w->n == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 8;
        char **p = lrsa_realloc(w->paths, (size_t)cap * sizeof *p, "output list", err);
        if (!p)
            return LRSA_ENOMEM;
        w->paths = p;
        w->cap = cap;
    }
    if (!(w->paths[w->n] = lrsa_strdup(path, err)))
        return LRSA_ENOMEM;
    w->n++;
    return LRSA_OK;
}

static void written_release(written *w, int remove_files)
{
    for (int64_t i = 0; i < w->n; i++) {
        if (remove_files)
            remove(w->paths[i]);
        free(w->paths[i]);
    }
    free(w->paths);
    memset(w, 0, sizeof *w);
}

typedef struct writer {
    const lrsa_align_plan *p;
    mat_in *fmri, *images;
    double *acc, *tot;        /* D_f doubles each */
    float *out;               /* max(D_f, D_i) floats */
    written files, npys;
    const lrsa_ctx *ctx;
    int64_t done;             /* rows written, for progress */
} writer;

/* Output row r of the fMRI side into w->out (float32). */
static int fmri_row(writer *w, int64_t r, lrsa_err *err)
{
    const lrsa_align_plan *p = w->p;
    int64_t D = w->fmri->cols, s = p->out_start[r], e = p->out_end[r], nsub = 0;
    int rc;
    memset(w->tot, 0, (size_t)D * sizeof *w->tot);
    /* Each subject's trials (contiguous in trials[]) are averaged, then the subjects' means; for
     * QUARTERS and PER_SUBJECT the range holds one subject. */
    for (int64_t t = s; t < e;) {
        int64_t k = p->trial_subject[t], t2 = t;
        memset(w->acc, 0, (size_t)D * sizeof *w->acc);
        for (; t2 < e && p->trial_subject[t2] == k; t2++) {
            if ((rc = mat_row(w->fmri, p->trials[t2], err)))
                return rc;
            for (int64_t j = 0; j < D; j++)
                w->acc[j] += w->fmri->row[j];
        }
        double inv = (double)(t2 - t);
        for (int64_t j = 0; j < D; j++)
            w->tot[j] += w->acc[j] / inv;
        nsub++;
        t = t2;
    }
    for (int64_t j = 0; j < D; j++)
        w->out[j] = (float)(w->tot[j] / (double)nsub);
    return LRSA_OK;
}

static int image_row(writer *w, int64_t r, lrsa_err *err)
{
    int rc = mat_row(w->images, w->p->out_image[r], err);
    if (rc)
        return rc;
    for (int64_t j = 0; j < w->images->cols; j++)
        w->out[j] = (float)w->images->row[j];
    return LRSA_OK;
}

/* Write output rows [r0, r1) of one side to `path` (+ its sidecar), streaming. */
static int write_side(writer *w, int fmri_side, int64_t r0, int64_t r1, const char *path, lrsa_err *err)
{
    int rc;
    const mat_in *in = fmri_side ? w->fmri : w->images;
    const lrsa_labels *all = fmri_side ? w->p->fmri_labels : w->p->image_labels;
    lrsa_outfile of = { 0 };
    char *hdr = NULL, *lpath = NULL;
    size_t hlen;
    int64_t *idx = NULL;
    lrsa_labels *lab = NULL;
    int64_t shape[2] = { r1 - r0, in->cols };
    if ((rc = lrsa_npy_format_header(LRSA_NPY_F32, 0, 2, shape, &hdr, &hlen, err)) ||
        (rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    if (fwrite(hdr, 1, hlen, of.fp) != hlen)
        goto ioerr;
    for (int64_t r = r0; r < r1; r++) {
        if ((rc = fmri_side ? fmri_row(w, r, err) : image_row(w, r, err)))
            goto done;
        if (fwrite(w->out, sizeof *w->out, (size_t)in->cols, of.fp) != (size_t)in->cols)
            goto ioerr;
        lrsa_progress(w->ctx, "align", ++w->done, 2 * w->p->nout);
    }
    if ((rc = lrsa_outfile_commit(&of, err)) || (rc = written_add(&w->files, path, err)) ||
        (rc = written_add(&w->npys, path, err)))
        goto done;
    if (!(idx = iota_new(r1 - r0, "output rows", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < r1 - r0; i++)
        idx[i] += r0;
    if (!(lab = lrsa_labels_take(all, idx, r1 - r0, err)) || (rc = lrsa_labels_path(path, &lpath, err))) {
        rc = rc ? rc : LRSA_ENOMEM;
        goto done;
    }
    if ((rc = lrsa_labels_write(lpath, lab, err)) || (rc = written_add(&w->files, lpath, err)))
        goto done;
    goto done;
ioerr:
    rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path);
done:
    lrsa_outfile_abort(&of);
    free(hdr);
    free(lpath);
    free(idx);
    lrsa_labels_free(lab);
    return rc;
}

/* ===== The report ============================================================================= */

int lrsa_align_report_json(const lrsa_align_opts *o, const lrsa_align_result *res, char **out,
                           lrsa_err *err)
{
    const lrsa_align_plan *p = &res->plan;
    *out = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory (align report)");
    cJSON *subjects = cJSON_CreateArray(), *only = cJSON_CreateArray(), *per = cJSON_CreateObject();
    cJSON *outputs = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "assign", lrsa_align_assign_name(p->assign));
    cJSON_AddNumberToObject(j, "seed", (double)p->seed);
    cJSON_AddStringToObject(j, "fmri", o->fmri);
    cJSON_AddStringToObject(j, "images", o->images);
    cJSON_AddNumberToObject(j, "fmri_rows", (double)p->fmri_rows);
    cJSON_AddNumberToObject(j, "image_rows", (double)p->image_rows);
    cJSON_AddNumberToObject(j, "fmri_dims", (double)res->fmri_dims);
    cJSON_AddNumberToObject(j, "image_dims", (double)res->image_dims);
    for (int64_t k = 0; subjects && k < p->nsubjects; k++)
        cJSON_AddItemToArray(subjects, cJSON_CreateString(p->subjects[k]));
    cJSON_AddItemToObject(j, "subjects", subjects);
    cJSON_AddNumberToObject(j, "stimuli_fmri", (double)p->stimuli_fmri);
    cJSON_AddNumberToObject(j, "stimuli_images", (double)p->stimuli_images);
    cJSON_AddNumberToObject(j, "stimuli_both", (double)p->stimuli_both);
    for (int64_t i = 0; only && i < p->only_fmri_count; i++)
        cJSON_AddItemToArray(only, cJSON_CreateString(p->only_fmri[i]));
    cJSON_AddItemToObject(j, "only_fmri", only);
    cJSON_AddNumberToObject(j, "only_fmri_count", (double)p->only_fmri_count);
    cJSON_AddNumberToObject(j, "only_images_count", (double)p->only_images_count);
    cJSON_AddNumberToObject(j, "rows_out", (double)p->nout);
    cJSON_AddNumberToObject(j, "averaged_rows", (double)p->averaged_rows);
    cJSON_AddNumberToObject(j, "trials_used", (double)p->trials_used);
    for (int64_t k = 0; per && k < p->nsubjects; k++)
        cJSON_AddNumberToObject(per, p->subjects[k], (double)p->per_subject[k]);
    cJSON_AddItemToObject(j, "per_subject", per);
    for (int64_t i = 0; outputs && i < res->noutputs; i++)
        cJSON_AddItemToArray(outputs, cJSON_CreateString(res->outputs[i]));
    cJSON_AddItemToObject(j, "outputs", outputs);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int rc = !text || !subjects || !only || !per || !outputs
                 ? LRSA_FAIL(err, LRSA_ENOMEM, "out of memory (align report)")
                 : lrsa_strbuf_addf(&sb, err, "%s\n", text);
    free(text);
    if (!rc)
        *out = sb.buf;
    else
        lrsa_strbuf_release(&sb);
    return rc;
}

/* ===== The whole step ========================================================================= */

void lrsa_align_result_release(lrsa_align_result *res)
{
    if (!res)
        return;
    lrsa_align_plan_release(&res->plan);
    for (int64_t i = 0; res->outputs && i < res->noutputs; i++)
        free(res->outputs[i]);
    free(res->outputs);
    free(res->json);
    memset(res, 0, sizeof *res);
}

/* "<n> stimuli shown in F have no image row in I and are left out: a, b, ... (and N more)" */
static void warn_only_fmri(const lrsa_align_opts *o, const lrsa_align_plan *p, const lrsa_ctx *ctx)
{
    if (!p->only_fmri_count)
        return;
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int64_t n = p->only_fmri_count, show = n < 10 ? n : 10;
    int bad = lrsa_strbuf_addf(&sb, NULL, "%lld %s shown in '%s' %s no image row in '%s' and %s left out: ",
                               (long long)n, n == 1 ? "stimulus" : "stimuli", o->fmri, n == 1 ? "has" : "have",
                               o->images, n == 1 ? "is" : "are");
    for (int64_t i = 0; !bad && i < show; i++)
        bad = lrsa_strbuf_addf(&sb, NULL, "%s%s", i ? ", " : "", p->only_fmri[i]);
    if (!bad && n > show)
        bad = lrsa_strbuf_addf(&sb, NULL, " (and %lld more)", (long long)(n - show));
    if (!bad)
        lrsa_warn(ctx, "%s", sb.buf);
    lrsa_strbuf_release(&sb);
}

static char *prefixed(const char *prefix, const char *mid, const char *suffix, lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    if (lrsa_strbuf_addf(&sb, err, "%s%s%s%s", prefix, mid ? "." : "", mid ? mid : "", suffix)) {
        lrsa_strbuf_release(&sb);
        return NULL;
    }
    return sb.buf;
}

int lrsa_align_files(const lrsa_align_opts *o, lrsa_align_result *res, const lrsa_ctx *ctx,
                     lrsa_err *err)
{
    int rc;
    mat_in fm = { 0 }, im = { 0 };
    writer w = { 0 };
    char *fpath = NULL, *ipath = NULL, *jpath = NULL;
    lrsa_outfile of = { 0 };
    memset(res, 0, sizeof *res);
    if (!o || !o->fmri || !o->images || !o->prefix || !*o->prefix)
        return LRSA_FAIL(err, LRSA_EMISUSE, "align: missing input or output path");
    if ((rc = mat_open(&fm, o->fmri, err)) || (rc = mat_open(&im, o->images, err)))
        goto done;
    res->fmri_dims = fm.cols;
    res->image_dims = im.cols;
    if ((rc = lrsa_align_plan_build(&res->plan, fm.labels, im.labels, o->assign, o->seed, tie_bytes, &fm, err)))
        goto done;
    const lrsa_align_plan *p = &res->plan;
    warn_only_fmri(o, p, ctx);
    int64_t dmax = fm.cols > im.cols ? fm.cols : im.cols;
    w.p = p;
    w.fmri = &fm;
    w.images = &im;
    w.ctx = ctx;
    w.acc = lrsa_malloc((size_t)fm.cols * sizeof *w.acc, "a row", err);
    w.tot = lrsa_malloc((size_t)fm.cols * sizeof *w.tot, "a row", err);
    w.out = lrsa_malloc((size_t)dmax * sizeof *w.out, "a row", err);
    if (!w.acc || !w.tot || !w.out) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (o->assign == LRSA_ALIGN_PER_SUBJECT) {
        for (int64_t k = 0, r0 = 0; k < p->nsubjects; k++) {
            int64_t r1 = r0;
            while (r1 < p->nout && p->out_subject[r1] == k)
                r1++;
            if (r1 == r0) {
                lrsa_warn(ctx, "subject '%s' saw no stimulus that has an image row: no per-subject pair written",
                          p->subjects[k]);
                continue;
            }
            free(fpath);
            free(ipath);
            if (!(fpath = prefixed(o->prefix, p->subjects[k], ".fmri.npy", err)) ||
                !(ipath = prefixed(o->prefix, p->subjects[k], ".images.npy", err))) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            if ((rc = write_side(&w, 1, r0, r1, fpath, err)) || (rc = write_side(&w, 0, r0, r1, ipath, err)))
                goto done;
            r0 = r1;
        }
    } else {
        if (!(fpath = prefixed(o->prefix, NULL, ".fmri.npy", err)) ||
            !(ipath = prefixed(o->prefix, NULL, ".images.npy", err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if ((rc = write_side(&w, 1, 0, p->nout, fpath, err)) || (rc = write_side(&w, 0, 0, p->nout, ipath, err)))
            goto done;
    }
    /* The report, last: its list of outputs is complete. */
    res->noutputs = w.npys.n;
    res->outputs = w.npys.paths;
    memset(&w.npys, 0, sizeof w.npys);
    if ((rc = lrsa_align_report_json(o, res, &res->json, err)))
        goto done;
    if (!(jpath = prefixed(o->prefix, NULL, ".json", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    size_t jlen = strlen(res->json);
    if ((rc = lrsa_outfile_open(&of, jpath, err)))
        goto done;
    if (fwrite(res->json, 1, jlen, of.fp) != jlen) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", jpath);
        goto done;
    }
    rc = lrsa_outfile_commit(&of, err);
done:
    lrsa_outfile_abort(&of);
    written_release(&w.files, rc != LRSA_OK);
    written_release(&w.npys, 0);
    free(w.acc);
    free(w.tot);
    free(w.out);
    mat_close(&fm);
    mat_close(&im);
    free(fpath);
    free(ipath);
    free(jpath);
    if (rc)
        lrsa_align_result_release(res);
    return rc;
}
