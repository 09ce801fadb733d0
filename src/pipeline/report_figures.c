/* The report's figures, drawn with plot.h and embedded through h_figure: the RDMs as heatmaps
 * ordered by stimulus source, a permutation null with the observed r, the lag sweep, and loss
 * curves from AE.json. */
#include "report_impl.h"

#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== RDMs ============================================================ */
static int row_cmp(const lrsa_labels *l, int64_t a, int64_t b)
{
    static const int keys[] = { LRSA_LBL_SOURCE, LRSA_LBL_STIMULUS, LRSA_LBL_SUBJECT };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int c = strcmp(lrsa_labels_get(l, a, keys[k]), lrsa_labels_get(l, b, keys[k]));
        if (c)
            return c;
    }
    return 0;
}

/* Stable merge sort of row indices by (source, stimulus, subject). */
static void sort_rows(int64_t *a, int64_t *tmp, int64_t n, const lrsa_labels *l)
{
    if (n < 2)
        return;
    int64_t h = n / 2, i = 0, j = h, k = 0;
    sort_rows(a, tmp, h, l);
    sort_rows(a + h, tmp, n - h, l);
    while (i < h && j < n)
        tmp[k++] = row_cmp(l, a[j], a[i]) < 0 ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

/* "COCO 12, ImageNet 14, Scene 14": the source groups in display order. */
static void describe_order(const lrsa_labels *l, const int64_t *idx, int64_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int64_t i = 0; i < n;) {
        const char *src = lrsa_labels_get(l, idx[i], LRSA_LBL_SOURCE);
        int64_t j = i;
        while (j < n && strcmp(lrsa_labels_get(l, idx[j], LRSA_LBL_SOURCE), src) == 0)
            j++;
        int w = snprintf(out + len, cap - len, "%s%s %lld", len ? ", " : "", src, (long long)(j - i));
        if (w < 0 || (size_t)w >= cap - len) {
            snprintf(out + (cap > 5 ? cap - 5 : 0), cap > 5 ? 5 : cap, "...");
            return;
        }
        len += (size_t)w;
        i = j;
    }
}

int rep_rdm_load(rep *r, const char *path, const char *key, rep_rdm *out)
{
    memset(out, 0, sizeof *out);
    if (r->rc)
        return r->rc;
    lrsa_err e;
    lrsa_err_init(&e);
    lrsa_tensor *t = NULL;
    lrsa_labels *labels = NULL;
    char *lpath = NULL;
    int64_t *idx = NULL, *tmp = NULL;
    int rc;
    if ((rc = lrsa_npy_read_f32(path, &t, &e)))
        goto fail;
    if (t->ndim != 2 || t->shape[0] != t->shape[1] || t->shape[0] < 1) {
        rc = LRSA_FAIL(&e, LRSA_EFORMAT, "'%s' is not a square matrix (an rdm is N x N, N >= 1)", path);
        goto fail;
    }
    int64_t n = t->shape[0];
    if ((rc = lrsa_labels_path(path, &lpath, &e)))
        goto fail;
    if (lrsa_is_file(lpath) && (rc = lrsa_labels_read_for(path, n, &labels, &e)))
        goto fail;
    idx = lrsa_malloc((size_t)n * sizeof *idx, "rdm order", &e);
    tmp = lrsa_malloc((size_t)n * sizeof *tmp, "rdm order", &e);
    if (!idx || !tmp) {
        rc = LRSA_ENOMEM;
        goto fail;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    if (labels) {
        sort_rows(idx, tmp, n, labels);
        describe_order(labels, idx, n, out->order, sizeof out->order);
    }
    /* Reorder and block-average in one pass: an RDM of 5000 stimuli becomes 1000 x 1000 cells,
     * more than a page shows, and the copy stays small. */
    int64_t f = n <= REP_RDM_MAX ? 1 : (n + REP_RDM_MAX - 1) / REP_RDM_MAX;
    int64_t m = (n + f - 1) / f;
    out->data = lrsa_malloc((size_t)(m * m) * sizeof(float), "rdm figure", &e);
    if (!out->data) {
        rc = LRSA_ENOMEM;
        goto fail;
    }
    for (int64_t bi = 0; bi < m; bi++)
        for (int64_t bj = 0; bj < m; bj++) {
            double sum = 0;
            int64_t cnt = 0;
            for (int64_t i = bi * f; i < (bi + 1) * f && i < n; i++)
                for (int64_t j = bj * f; j < (bj + 1) * f && j < n; j++) {
                    float v = t->data[idx[i] * n + idx[j]];
                    if (isfinite(v)) {
                        sum += v;
                        cnt++;
                    }
                }
            out->data[bi * m + bj] = cnt ? (float)(sum / (double)cnt) : NAN;
        }
    out->n = n;
    out->m = m;
    out->has_labels = labels != NULL;
    goto done;
fail:
    rep_fail_err(r, &e, "'%s', key '%s'", r->results_path, key);
    rep_rdm_release(out);
done:
    lrsa_tensor_free(t);
    lrsa_labels_free(labels);
    free(lpath);
    free(idx);
    free(tmp);
    return rc;
}

void rep_rdm_release(rep_rdm *d)
{
    if (!d)
        return;
    free(d->data);
    memset(d, 0, sizeof *d);
}

void rep_fig_rdms(rep *r, const rep_rdm *const *rdms, const char *const *titles, int n,
                  const char *alt)
{
    lrsa_panel panels[3];
    int np = 0;
    for (int i = 0; i < n && np < 3; i++) {
        if (!rdms[i] || !rdms[i]->data)
            continue;
        lrsa_panel *p = &panels[np++];
        memset(p, 0, sizeof *p);
        p->kind = LRSA_PANEL_HEATMAP;
        p->title = titles[i];
        p->xlabel = rdms[i]->has_labels ? "stimuli (by source, then name)" : "stimuli (file order)";
        p->u.heatmap.data = rdms[i]->data;
        p->u.heatmap.rows = p->u.heatmap.cols = rdms[i]->m;
        p->u.heatmap.cmap = LRSA_CMAP_VIRIDIS;
        p->u.heatmap.vmin = p->u.heatmap.vmax = NAN;
        p->u.heatmap.colorbar_label = "dissimilarity";
    }
    if (np == 0)
        return;
    lrsa_figure fig = { NULL, panels, np, np, 380, 380 };
    h_figure(r, &fig, alt);
}

/* ===== The permutation null ============================================ */
void rep_fig_null(rep *r, const char *path, const char *key, double observed, const char *title)
{
    if (r->rc)
        return;
    lrsa_err e;
    lrsa_err_init(&e);
    lrsa_tensor *t = NULL;
    double *v = NULL;
    if (lrsa_npy_read_f32(path, &t, &e)) {
        rep_fail_err(r, &e, "'%s', key '%s'", r->results_path, key);
        return;
    }
    int64_t n = lrsa_tensor_numel(t);
    if (n == 0) {
        h_raw(r, "<p class=\"note\">The permutation null is empty (no permutations).</p>\n");
        goto done;
    }
    if (!(v = lrsa_malloc((size_t)n * sizeof *v, "null values", &e))) {
        rep_fail_err(r, &e, "'%s'", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = t->data[i];
    char mark[64];
    snprintf(mark, sizeof mark, "observed r = %.3f", observed);
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_HISTOGRAM;
    p.title = title;
    p.xlabel = "r with the stimulus labels permuted";
    p.ylabel = "permutations";
    p.u.histogram.values = v;
    p.u.histogram.n = n;
    p.u.histogram.bins = n < 300 ? 20 : 40;
    p.u.histogram.has_mark = isfinite(observed);
    p.u.histogram.mark = isfinite(observed) ? observed : 0;
    p.u.histogram.mark_label = mark;
    lrsa_figure fig = { NULL, &p, 1, 1, 640, 340 };
    h_figure(r, &fig, title);
done:
    free(v);
    lrsa_tensor_free(t);
}

/* ===== The lag sweep =================================================== */
/* K of a "lag:K" rule, or -1. */
static long lag_of(const char *rule)
{
    if (!rule || strncmp(rule, "lag:", 4) != 0 || !rule[4])
        return -1;
    char *end;
    long k = strtol(rule + 4, &end, 10);
    return *end || k < 0 ? -1 : k;
}

void rep_fig_lags(rep *r, const cJSON *sweep)
{
    int n = cJSON_GetArraySize(sweep), nl = 0, any_truth = 0;
    size_t cap = (size_t)(n > 0 ? n : 1);
    double *x = calloc(cap, sizeof *x), *y = calloc(cap, sizeof *y), *yt = calloc(cap, sizeof *yt);
    double stimoff = NAN;
    if (!x || !y || !yt) {
        rep_fail(r, LRSA_ENOMEM, "out of memory (lag sweep figure)");
        goto done;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, sweep) {
        const cJSON *rule = cJSON_GetObjectItemCaseSensitive(e, "rule");
        const cJSON *rv = cJSON_GetObjectItemCaseSensitive(e, "r");
        if (!cJSON_IsString(rule))
            continue;
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(e, "r_truth");
        double val = cJSON_IsNumber(rv) ? rv->valuedouble : NAN;
        double tval = cJSON_IsNumber(tv) ? tv->valuedouble : NAN;
        long k = lag_of(rule->valuestring);
        if (k >= 0) {
            /* insertion by lag, so the line runs left to right */
            int i = nl++;
            while (i > 0 && x[i - 1] > (double)k) {
                x[i] = x[i - 1];
                y[i] = y[i - 1];
                yt[i] = yt[i - 1];
                i--;
            }
            x[i] = (double)k;
            y[i] = val;
            yt[i] = tval;
            any_truth |= isfinite(tval);
        } else if (strcmp(rule->valuestring, "stimoff") == 0) {
            stimoff = val;
        }
    }
    if (nl == 0)
        goto done;
    double sx[2] = { x[0], x[nl - 1] }, sy[2] = { stimoff, stimoff };
    lrsa_series s[3] = {
        { "lag:K (volume K TRs after onset)", x, y, nl },
        { "stimoff (the paper's rule)", sx, sy, 2 },
        { "voxel RDM vs truth", x, yt, nl },
    };
    int ns = 1;
    if (isfinite(stimoff))
        ns++;
    else
        s[1] = s[2];
    if (any_truth)
        ns++;
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_LINES;
    p.title = "voxel-baseline RSA by volume rule";
    p.xlabel = "lag K (TRs)";
    p.ylabel = "r";
    p.u.lines.series = s;
    p.u.lines.nseries = ns;
    p.u.lines.markers = 1;
    lrsa_figure fig = { NULL, &p, 1, 1, 640, 340 };
    h_raw(r, "<figure>");
    h_figure(r, &fig, "RSA r against the volume rule");
    h_raw(r, "<figcaption><em>r</em> against the lag; the paper's <code>stimoff</code> rule as a "
             "horizontal line");
    h_raw(r, any_truth ? "; the voxel RDM's <em>r</em> against the truth RDM (synthetic data).</figcaption>"
                         "</figure>\n" : ".</figcaption></figure>\n");
done:
    free(x);
    free(y);
    free(yt);
}

/* ===== Loss curves from AE.json ======================================== */
static double num_or_nan(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void rep_fig_loss_json(rep *r, const char *path, const char *key)
{
    if (r->rc)
        return;
    lrsa_err e;
    lrsa_err_init(&e);
    char *text = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    double *x = NULL, *tr = NULL, *te = NULL;
    if (lrsa_read_file(path, (size_t)64 << 20, &text, &len, &e)) {
        rep_fail_err(r, &e, "'%s', key '%s'", r->results_path, key);
        goto done;
    }
    j = cJSON_ParseWithLength(text, len);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "epochs");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(eps)) {
        rep_fail(r, LRSA_EFORMAT, "'%s' (key '%s' of '%s'): not a train-ae report (no \"epochs\" array)",
                 path, key, r->results_path);
        goto done;
    }
    int n = cJSON_GetArraySize(eps), i = 0, any_test = 0;
    if (n == 0) {
        h_raw(r, "<p class=\"note\">No epoch was recorded.</p>\n");
        goto done;
    }
    x = calloc((size_t)n, sizeof *x);
    tr = calloc((size_t)n, sizeof *tr);
    te = calloc((size_t)n, sizeof *te);
    if (!x || !tr || !te) {
        rep_fail(r, LRSA_ENOMEM, "out of memory (loss figure)");
        goto done;
    }
    const cJSON *ep;
    cJSON_ArrayForEach(ep, eps) {
        double k = num_or_nan(ep, "epoch");
        x[i] = isfinite(k) ? k : i + 1;
        tr[i] = num_or_nan(ep, "train_loss");
        te[i] = num_or_nan(ep, "test_loss");
        any_test |= isfinite(te[i]);
        i++;
    }
    lrsa_series s[2] = { { "train", x, tr, n }, { "test", x, te, n } };
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_LINES;
    p.title = "autoencoder loss";
    p.xlabel = "epoch";
    p.ylabel = "per-pixel MSE";
    p.u.lines.series = s;
    p.u.lines.nseries = any_test ? 2 : 1;
    p.u.lines.markers = 1;
    lrsa_figure fig = { NULL, &p, 1, 1, 640, 340 };
    h_figure(r, &fig, "autoencoder loss curves");
done:
    cJSON_Delete(j);
    free(text);
    free(x);
    free(tr);
    free(te);
}
