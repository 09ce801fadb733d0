/* Row labels sidecars (X.labels.tsv) and the join by stimulus. See labels.h. */
#include "latentrsa/labels.h"
#include "latentrsa/tsv.h"

#include <stdlib.h>
#include <string.h>

const char *const lrsa_labels_columns[LRSA_LBL_NCOLS] = {
    "stimulus", "source", "subject", "session", "run", "trial"
};

/* ===== construction =========================================================================== */

void lrsa_labels_free(lrsa_labels *l)
{
    if (!l)
        return;
    if (l->cells)
        for (int64_t i = 0; i < l->n * LRSA_LBL_NCOLS; i++)
            free(l->cells[i]);
    free(l->cells);
    free(l->name);
    free(l);
}

lrsa_labels *lrsa_labels_new(int64_t n, lrsa_err *err)
{
    lrsa_labels *l = NULL;
    if (n < 0 || (uint64_t)n > SIZE_MAX / (LRSA_LBL_NCOLS * sizeof(char *))) {
        LRSA_FAIL(err, LRSA_EMISUSE, "labels: bad row count %lld", (long long)n);
        return NULL;
    }
    l = lrsa_calloc(1, sizeof *l, "labels", err);
    if (!l)
        return NULL;
    l->cells = lrsa_calloc((size_t)(n ? n : 1) * LRSA_LBL_NCOLS, sizeof(char *), "labels", err);
    l->name = lrsa_strdup("", err);
    if (!l->cells || !l->name)
        goto fail;
    l->n = n; /* set before filling so lrsa_labels_free frees what was filled */
    for (int64_t i = 0; i < n * LRSA_LBL_NCOLS; i++)
        if (!(l->cells[i] = lrsa_strdup(LRSA_LABELS_NA, err)))
            goto fail;
    return l;
fail:
    lrsa_labels_free(l);
    return NULL;
}

int lrsa_labels_set(lrsa_labels *l, int64_t row, int col, const char *value, lrsa_err *err)
{
    if (row < 0 || row >= l->n || col < 0 || col >= LRSA_LBL_NCOLS)
        return LRSA_FAIL(err, LRSA_EMISUSE, "labels: cell (%lld, %d) out of range", (long long)row,
                         col);
    char *s = lrsa_strdup(value ? value : LRSA_LABELS_NA, err);
    if (!s)
        return LRSA_ENOMEM;
    free(l->cells[row * LRSA_LBL_NCOLS + col]);
    l->cells[row * LRSA_LBL_NCOLS + col] = s;
    return LRSA_OK;
}

int lrsa_labels_set_int(lrsa_labels *l, int64_t row, int col, int64_t value, lrsa_err *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)value);
    return lrsa_labels_set(l, row, col, buf, err);
}

int lrsa_labels_is_na(const char *cell)
{
    return strcmp(cell, LRSA_LABELS_NA) == 0;
}

lrsa_labels *lrsa_labels_take(const lrsa_labels *src, const int64_t *idx, int64_t n, lrsa_err *err)
{
    lrsa_labels *l = lrsa_labels_new(n, err);
    if (!l)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= src->n) {
            LRSA_FAIL(err, LRSA_EMISUSE, "labels: row index %lld out of range", (long long)idx[i]);
            goto fail;
        }
        for (int c = 0; c < LRSA_LBL_NCOLS; c++)
            if (lrsa_labels_set(l, i, c, lrsa_labels_get(src, idx[i], c), err))
                goto fail;
    }
    free(l->name);
    if (!(l->name = lrsa_strdup(src->name, err)))
        goto fail;
    return l;
fail:
    lrsa_labels_free(l);
    return NULL;
}

int lrsa_labels_path(const char *matrix_path, char **out, lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    size_t n = strlen(matrix_path);
    *out = NULL;
    if (n >= 4 && strcmp(matrix_path + n - 4, ".npy") == 0)
        n -= 4;
    if (lrsa_strbuf_add(&sb, matrix_path, n, err) || lrsa_strbuf_adds(&sb, ".labels.tsv", err)) {
        lrsa_strbuf_release(&sb);
        return LRSA_ENOMEM;
    }
    *out = sb.buf;
    return LRSA_OK;
}

/* ===== validation, read, write ================================================================ */

/* Check one cell; `where` is the message prefix "'<file>' line N" or "'<file>' row N". */
static int check_cell(const char *s, int col, const char *where, lrsa_err *err)
{
    const char *cname = lrsa_labels_columns[col];
    if (!*s)
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s: empty %s (write n/a where it does not apply)",
                         where, cname);
    if (strpbrk(s, "\t\r\n"))
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s: %s holds a TAB or line break", where, cname);
    if (col == LRSA_LBL_STIMULUS && lrsa_labels_is_na(s))
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s: stimulus is n/a (every row needs a stimulus)",
                         where);
    if ((col == LRSA_LBL_RUN || col == LRSA_LBL_TRIAL) && !lrsa_labels_is_na(s)) {
        int64_t v;
        if (lrsa_parse_int64(s, &v) != 0)
            return LRSA_FAIL(err, LRSA_EFORMAT, "%s: %s '%s' is not an integer or n/a", where,
                             cname, s);
    }
    return LRSA_OK;
}

int lrsa_labels_check(const lrsa_labels *l, lrsa_err *err)
{
    for (int64_t r = 0; r < l->n; r++)
        for (int c = 0; c < LRSA_LBL_NCOLS; c++) {
            char where[512];
            snprintf(where, sizeof where, "'%s' row %lld", l->name, (long long)r + 1);
            int rc = check_cell(lrsa_labels_get(l, r, c), c, where, err);
            if (rc)
                return rc;
        }
    return LRSA_OK;
}

int lrsa_labels_read(const char *path, lrsa_labels **out, lrsa_err *err)
{
    lrsa_tsv *t = NULL;
    lrsa_labels *l = NULL;
    int rc;
    *out = NULL;
    if ((rc = lrsa_tsv_read(path, &t, err)))
        goto done;
    int ok = t->ncols == LRSA_LBL_NCOLS;
    for (int c = 0; ok && c < LRSA_LBL_NCOLS; c++)
        ok = strcmp(t->header[c], lrsa_labels_columns[c]) == 0;
    if (!ok) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT,
                       "'%s': not a labels file: the header must be exactly "
                       "'stimulus source subject session run trial' (TAB-separated)", path);
        goto done;
    }
    if (!(l = lrsa_labels_new(t->nrows, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    free(l->name);
    if (!(l->name = lrsa_strdup(path, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < LRSA_LBL_NCOLS; c++) {
            char where[512];
            snprintf(where, sizeof where, "'%s' line %lld", path, (long long)t->lines[r]);
            if ((rc = check_cell(lrsa_tsv_cell(t, r, c), c, where, err)) ||
                (rc = lrsa_labels_set(l, r, c, lrsa_tsv_cell(t, r, c), err)))
                goto done;
        }
    *out = l;
    l = NULL;
done:
    lrsa_tsv_free(t);
    lrsa_labels_free(l);
    return rc;
}

int lrsa_labels_write(const char *path, const lrsa_labels *l, lrsa_err *err)
{
    lrsa_outfile of;
    int rc;
    memset(&of, 0, sizeof of);
    if ((rc = lrsa_labels_check(l, err))) {
        lrsa_err_prefix(err, "cannot write '%s'", path);
        goto done;
    }
    if ((rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    for (int c = 0; c < LRSA_LBL_NCOLS; c++)
        fprintf(of.fp, "%s%c", lrsa_labels_columns[c], c + 1 < LRSA_LBL_NCOLS ? '\t' : '\n');
    for (int64_t r = 0; r < l->n; r++)
        for (int c = 0; c < LRSA_LBL_NCOLS; c++)
            fprintf(of.fp, "%s%c", lrsa_labels_get(l, r, c), c + 1 < LRSA_LBL_NCOLS ? '\t' : '\n');
    rc = lrsa_outfile_commit(&of, err); /* checks ferror for every fprintf above */
done:
    lrsa_outfile_abort(&of);
    return rc;
}

int lrsa_labels_check_rows(const lrsa_labels *l, int64_t rows, const char *matrix_name,
                           lrsa_err *err)
{
    if (l->n != rows)
        return LRSA_FAIL(err, LRSA_ESHAPE, "'%s' has %lld rows but its labels '%s' have %lld",
                         matrix_name, (long long)rows, l->name, (long long)l->n);
    return LRSA_OK;
}

int lrsa_labels_read_for(const char *matrix_path, int64_t rows, lrsa_labels **out, lrsa_err *err)
{
    char *lp = NULL;
    lrsa_labels *l = NULL;
    int rc;
    *out = NULL;
    if ((rc = lrsa_labels_path(matrix_path, &lp, err)))
        goto done;
    if (!lrsa_is_file(lp)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s' has no labels sidecar '%s'", matrix_path, lp);
        goto done;
    }
    if ((rc = lrsa_labels_read(lp, &l, err)) || (rc = lrsa_labels_check_rows(l, rows, matrix_path, err)))
        goto done;
    *out = l;
    l = NULL;
done:
    free(lp);
    lrsa_labels_free(l);
    return rc;
}

/* ===== join =================================================================================== */

typedef struct key_row {
    const char *stim, *subj;
    int64_t row;
} key_row;

static int cmp_key_row(const void *x, const void *y)
{
    const key_row *a = x, *b = y;
    int c = strcmp(a->stim, b->stim);
    if (c)
        return c;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int subjects_agree(const char *s, const char *t)
{
    return lrsa_labels_is_na(s) || lrsa_labels_is_na(t) || strcmp(s, t) == 0;
}

/* Rows of l sorted by (stimulus, row). */
static key_row *sorted_keys(const lrsa_labels *l, lrsa_err *err)
{
    key_row *k = lrsa_calloc((size_t)(l->n ? l->n : 1), sizeof *k, "join keys", err);
    if (!k)
        return NULL;
    for (int64_t i = 0; i < l->n; i++) {
        k[i].stim = lrsa_labels_get(l, i, LRSA_LBL_STIMULUS);
        k[i].subj = lrsa_labels_get(l, i, LRSA_LBL_SUBJECT);
        k[i].row = i;
    }
    qsort(k, (size_t)l->n, sizeof *k, cmp_key_row);
    return k;
}

/* Two rows of one side that the join could not tell apart. */
static int check_duplicates(const key_row *k, int64_t n, const lrsa_labels *l, lrsa_err *err)
{
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && strcmp(k[j].stim, k[i].stim) == 0)
            j++;
        for (int64_t p = i; p < j; p++)
            for (int64_t q = p + 1; q < j; q++)
                if (subjects_agree(k[p].subj, k[q].subj))
                    return LRSA_FAIL(err, LRSA_ESHAPE,
                                     "'%s': duplicate key: rows %lld and %lld both have stimulus "
                                     "'%s' and subjects '%s'/'%s' (average or select repeats first)",
                                     l->name, (long long)k[p].row + 1, (long long)k[q].row + 1,
                                     k[p].stim, k[p].subj, k[q].subj);
        i = j;
    }
    return LRSA_OK;
}

void lrsa_labels_join_release(lrsa_label_pairs *j)
{
    if (!j)
        return;
    free(j->a);
    free(j->b);
    memset(j, 0, sizeof *j);
}

int lrsa_labels_join(const lrsa_labels *A, const lrsa_labels *B, int flags, lrsa_label_pairs *out,
                     lrsa_err *err)
{
    key_row *ka = NULL, *kb = NULL;
    int64_t *mate_a = NULL, *mate_b = NULL;
    int rc = LRSA_OK;
    memset(out, 0, sizeof *out);
    ka = sorted_keys(A, err);
    kb = sorted_keys(B, err);
    mate_a = lrsa_calloc((size_t)(A->n ? A->n : 1), sizeof *mate_a, "join", err);
    mate_b = lrsa_calloc((size_t)(B->n ? B->n : 1), sizeof *mate_b, "join", err);
    if (!ka || !kb || !mate_a || !mate_b) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = check_duplicates(ka, A->n, A, err)) || (rc = check_duplicates(kb, B->n, B, err)))
        goto done;
    for (int64_t i = 0; i < A->n; i++)
        mate_a[i] = -1;
    for (int64_t i = 0; i < B->n; i++)
        mate_b[i] = -1;
    /* Merge the two sorted lists group by group (a group: one stimulus). */
    int64_t i = 0, j = 0, npairs = 0;
    while (i < A->n && j < B->n) {
        int c = strcmp(ka[i].stim, kb[j].stim);
        if (c < 0) {
            i++;
            continue;
        }
        if (c > 0) {
            j++;
            continue;
        }
        int64_t i2 = i, j2 = j;
        while (i2 < A->n && strcmp(ka[i2].stim, ka[i].stim) == 0)
            i2++;
        while (j2 < B->n && strcmp(kb[j2].stim, kb[j].stim) == 0)
            j2++;
        for (int64_t p = i; p < i2; p++)
            for (int64_t q = j; q < j2; q++) {
                if (!subjects_agree(ka[p].subj, kb[q].subj))
                    continue;
                int64_t ra = ka[p].row, rb = kb[q].row;
                if (mate_a[ra] >= 0 || mate_b[rb] >= 0) {
                    int a_side = mate_a[ra] >= 0;
                    rc = LRSA_FAIL(err, LRSA_ESHAPE,
                                   "ambiguous join: stimulus '%s' (subject '%s') in '%s' row %lld "
                                   "matches more than one row of '%s' (assign or average first)",
                                   ka[p].stim, a_side ? ka[p].subj : kb[q].subj,
                                   a_side ? A->name : B->name,
                                   (long long)(a_side ? ra : rb) + 1, a_side ? B->name : A->name);
                    goto done;
                }
                mate_a[ra] = rb;
                mate_b[rb] = ra;
                npairs++;
            }
        i = i2;
        j = j2;
    }
    out->unmatched_a = A->n - npairs;
    out->unmatched_b = B->n - npairs;
    if ((flags & LRSA_JOIN_REQUIRE_A) && out->unmatched_a) {
        int64_t r = 0;
        while (mate_a[r] >= 0)
            r++;
        rc = LRSA_FAIL(err, LRSA_ESHAPE,
                       "%lld of %lld rows of '%s' have no match in '%s' (first: row %lld, stimulus "
                       "'%s', subject '%s')", (long long)out->unmatched_a, (long long)A->n, A->name,
                       B->name, (long long)r + 1, lrsa_labels_get(A, r, LRSA_LBL_STIMULUS),
                       lrsa_labels_get(A, r, LRSA_LBL_SUBJECT));
        goto done;
    }
    if ((flags & LRSA_JOIN_REQUIRE_B) && out->unmatched_b) {
        int64_t r = 0;
        while (mate_b[r] >= 0)
            r++;
        rc = LRSA_FAIL(err, LRSA_ESHAPE,
                       "%lld of %lld rows of '%s' have no match in '%s' (first: row %lld, stimulus "
                       "'%s', subject '%s')", (long long)out->unmatched_b, (long long)B->n, B->name,
                       A->name, (long long)r + 1, lrsa_labels_get(B, r, LRSA_LBL_STIMULUS),
                       lrsa_labels_get(B, r, LRSA_LBL_SUBJECT));
        goto done;
    }
    if (npairs == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "no stimulus of '%s' matches one of '%s'", A->name,
                       B->name);
        goto done;
    }
    out->n = npairs;
    out->a = lrsa_malloc((size_t)npairs * sizeof(int64_t), "join", err);
    out->b = lrsa_malloc((size_t)npairs * sizeof(int64_t), "join", err);
    if (!out->a || !out->b) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int64_t k = 0;
    for (int64_t r = 0; r < A->n; r++)   /* A's row order, so no sort is needed */
        if (mate_a[r] >= 0) {
            out->a[k] = r;
            out->b[k] = mate_a[r];
            k++;
        }
done:
    if (rc)
        lrsa_labels_join_release(out);
    free(ka);
    free(kb);
    free(mate_a);
    free(mate_b);
    return rc;
}
