/* embed-voxels: the trial-by-voxel matrix straight from the BOLD runs (embed_voxels.h). */
#include "latentrsa/embed_voxels.h"
#include "latentrsa/nifti.h"
#include "latentrsa/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* A constant voxel: var <= CONST_REL^2 * (mean square of the raw values). */
#define CONST_REL 1e-10

void lrsa_embed_voxels_opts_init(lrsa_embed_voxels_opts *o)
{
    memset(o, 0, sizeof *o);
}

void lrsa_voxel_matrix_release(lrsa_voxel_matrix *m)
{
    if (!m)
        return;
    free(m->data);
    lrsa_labels_free(m->labels);
    memset(m, 0, sizeof *m);
}

char *lrsa_embed_voxels_json_path(const char *output, lrsa_err *err)
{
    size_t n = strlen(output);
    if (n > 4 && strcmp(output + n - 4, ".npy") == 0)
        n -= 4;
    char *p = lrsa_malloc(n + 6, "file name", err);
    if (p) {
        memcpy(p, output, n);
        memcpy(p + n, ".json", 6);
    }
    return p;
}

/* ===== The runs of a table ================================================================== */

typedef struct row_ref {
    const char *bold;
    int64_t row;
} row_ref;

static int cmp_row_ref(const void *a, const void *b)
{
    const row_ref *x = a, *y = b;
    int c = strcmp(x->bold, y->bold);
    if (c)
        return c;
    return (x->row > y->row) - (x->row < y->row);
}

/* One BOLD file and the table rows that read it (refs[first .. first + n - 1], table order). */
typedef struct run_group {
    char *path;                /* root/bold */
    int64_t first, n;
    int64_t nt;                /* volumes */
    double affine[4][4];       /* voxel -> world, from the header */
} run_group;

static void groups_free(run_group *g, int64_t ng)
{
    for (int64_t i = 0; g && i < ng; i++)
        free(g[i].path);
    free(g);
}

/* Group the table's rows by BOLD file (files in byte order of their names). */
static int plan_runs(const lrsa_trials *t, const char *root, row_ref **refs_out, run_group **out,
                     int64_t *ng_out, lrsa_err *err)
{
    row_ref *refs = lrsa_malloc((size_t)t->n * sizeof *refs, "trial list", err);
    run_group *g = NULL;
    int64_t ng = 0;
    if (!refs)
        return LRSA_ENOMEM;
    for (int64_t r = 0; r < t->n; r++) {
        refs[r].bold = t->rows[r].bold;
        refs[r].row = r;
    }
    qsort(refs, (size_t)t->n, sizeof *refs, cmp_row_ref);
    for (int64_t r = 0; r < t->n; r++)
        ng += r == 0 || strcmp(refs[r].bold, refs[r - 1].bold) != 0;
    g = lrsa_calloc((size_t)ng, sizeof *g, "run list", err);
    if (!g) {
        free(refs);
        return LRSA_ENOMEM;
    }
    int64_t k = -1;
    for (int64_t r = 0; r < t->n; r++) {
        if (r == 0 || strcmp(refs[r].bold, refs[r - 1].bold) != 0) {
            k++;
            g[k].first = r;
            if (!(g[k].path = lrsa_path_join(root, refs[r].bold, err))) {
                groups_free(g, ng);
                free(refs);
                return LRSA_ENOMEM;
            }
        }
        g[k].n++;
    }
    *refs_out = refs;
    *out = g;
    *ng_out = ng;
    return LRSA_OK;
}

/* Largest distance (mm) between where two affines (row-major 4 x 4) put the 8 corners of an
 * nx x ny x nz grid. */
static double corner_distance(const double *a, const double *b, const int64_t *dims)
{
    double worst = 0.0;
    for (int c = 0; c < 8; c++) {
        double v[3] = { (c & 1) ? (double)(dims[0] - 1) : 0.0, (c & 2) ? (double)(dims[1] - 1) : 0.0,
                        (c & 4) ? (double)(dims[2] - 1) : 0.0 };
        double d2 = 0.0;
        for (int r = 0; r < 3; r++) {
            double wa = a[r * 4 + 3], wb = b[r * 4 + 3];
            for (int q = 0; q < 3; q++) {
                wa += a[r * 4 + q] * v[q];
                wb += b[r * 4 + q] * v[q];
            }
            d2 += (wa - wb) * (wa - wb);
        }
        double d = sqrt(d2);
        if (!(d <= worst))
            worst = d;   /* NaN propagates as a mismatch */
    }
    return worst;
}

/* The kept voxels as storage indices (i + nx*(j + ny*k)), in C order over (x, y, z). */
static int plan_voxels(const lrsa_embed_voxels_opts *o, const lrsa_nifti_header *ref,
                       const char *ref_path, const run_group *g, int64_t ng, int64_t **out,
                       int64_t *count, lrsa_err *err)
{
    const int64_t nx = ref->dims[0], ny = ref->dims[1], nz = ref->dims[2];
    float *mask = NULL;
    int64_t *vox = NULL, m = 0;
    int rc = LRSA_OK;
    if (o->mask) {
        lrsa_nifti_header mh;
        if ((rc = lrsa_nifti_read_header(o->mask, &mh, err)))
            return rc;
        if (mh.dims[0] != nx || mh.dims[1] != ny || mh.dims[2] != nz)
            return LRSA_FAIL(err, LRSA_ESHAPE, "mask '%s' is %lld x %lld x %lld but the runs are "
                             "%lld x %lld x %lld ('%s')", o->mask, (long long)mh.dims[0],
                             (long long)mh.dims[1], (long long)mh.dims[2], (long long)nx,
                             (long long)ny, (long long)nz, ref_path);
        if (mh.dims[3] != 1)
            return LRSA_FAIL(err, LRSA_ESHAPE, "mask '%s' has %lld volumes: a mask is one 3-D "
                             "volume", o->mask, (long long)mh.dims[3]);
        for (int64_t i = 0; i < ng; i++) {
            double d = corner_distance(&mh.affine[0][0], &g[i].affine[0][0], ref->dims);
            if (!(d <= LRSA_VOXELS_AFFINE_TOL))
                return LRSA_FAIL(err, LRSA_ESHAPE, "mask '%s' and run '%s' are not in the same "
                                 "space: their affines place a corner voxel %.4g mm apart (more "
                                 "than %g)", o->mask, g[i].path, d, LRSA_VOXELS_AFFINE_TOL);
        }
        if ((rc = lrsa_nifti_read_volume(o->mask, 0, NULL, &mask, err)))
            return rc;
    }
    size_t nvox = (size_t)(nx * ny * nz);
    vox = lrsa_malloc(nvox * sizeof *vox, "voxel list", err);
    if (!vox) {
        free(mask);
        return LRSA_ENOMEM;
    }
    for (int64_t i = 0; i < nx; i++)
        for (int64_t j = 0; j < ny; j++)
            for (int64_t k = 0; k < nz; k++) {
                int64_t s = i + nx * (j + ny * k);
                if (!mask || (mask[s] != 0.0f && !isnan(mask[s])))
                    vox[m++] = s;
            }
    free(mask);
    if (m == 0) {
        free(vox);
        return LRSA_FAIL(err, LRSA_EEMPTY, "mask '%s' keeps no voxel (every value is 0 or NaN)",
                         o->mask);
    }
    *out = vox;
    *count = m;
    return rc;
}

/* ===== One run ============================================================================== */

typedef struct job {
    const lrsa_embed_voxels_opts *o;
    const lrsa_trials *t;
    const row_ref *refs;
    const int64_t *vox;
    int64_t m;                 /* kept voxels */
    int64_t nvox;              /* voxels of a volume */
    float *data;               /* the output, rows x m */
} job;

/* Per-thread buffers. */
typedef struct work {
    float *vol;                /* nvox */
    double *s1, *s2, *s3, *s4; /* m each, with preprocessing (s4: with z-scoring) */
    int64_t *vols;             /* volumes to read */
    int64_t cap;
} work;

static int work_volumes(work *w, int64_t n, lrsa_err *err)
{
    if (n <= w->cap)
        return LRSA_OK;
    int64_t *p = lrsa_realloc(w->vols, (size_t)n * sizeof *p, "volume list", err);
    if (!p)
        return LRSA_ENOMEM;
    w->vols = p;
    w->cap = n;
    return LRSA_OK;
}

static int64_t count_nonfinite(const float *x, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += !isfinite(x[i]);
    return c;
}

/* Fill the output rows of run g; *nonfinite counts the non-finite values written. */
static int do_run(const job *j, const run_group *g, work *w, int64_t *nonfinite, lrsa_err *err)
{
    const int pre = j->o->detrend || j->o->zscore_runs;
    const int64_t m = j->m, T = g->nt;
    const int64_t *vox = j->vox;
    lrsa_nifti_bricks *b = NULL;
    int rc;
    int64_t nread = pre ? T : g->n;
    if ((rc = work_volumes(w, nread, err)))
        return rc;
    for (int64_t i = 0; i < nread; i++)
        w->vols[i] = pre ? i : j->t->rows[j->refs[g->first + i].row].volume;
    if ((rc = lrsa_nifti_read_bricks(g->path, nread, w->vols, &b, err)))
        return rc;
    const lrsa_nifti_header *h = lrsa_nifti_bricks_header(b);
    if (h->dims[0] * h->dims[1] * h->dims[2] != j->nvox || h->dims[3] != T) {   /* changed since */
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s' changed while it was being read", g->path);
        goto done;
    }
    if (!pre) {
        for (int64_t i = 0; i < g->n; i++) {
            if ((rc = lrsa_nifti_bricks_volume(b, i, w->vol, (size_t)j->nvox, err)))
                goto done;
            float *dst = j->data + j->refs[g->first + i].row * m;
            for (int64_t c = 0; c < m; c++)
                dst[c] = w->vol[vox[c]];
            *nonfinite += count_nonfinite(dst, m);
        }
        goto done;
    }
    /* Pass 1: mean (s1), sum of (t - tbar) x (s2) and mean square (s3) of each voxel. */
    double *s1 = w->s1, *s2 = w->s2, *s3 = w->s3;
    const double tbar = 0.5 * (double)(T - 1), Td = (double)T;
    memset(s1, 0, (size_t)m * sizeof *s1);
    memset(s2, 0, (size_t)m * sizeof *s2);
    memset(s3, 0, (size_t)m * sizeof *s3);
    for (int64_t v = 0; v < T; v++) {
        if ((rc = lrsa_nifti_bricks_volume(b, v, w->vol, (size_t)j->nvox, err)))
            goto done;
        const double dt = (double)v - tbar;
        for (int64_t c = 0; c < m; c++) {
            double x = w->vol[vox[c]];
            s1[c] += x;
            s2[c] += dt * x;
            s3[c] += x * x;
        }
    }
    /* s1 <- mean, s2 <- slope (0 without detrend; Stt = sum (t - tbar)^2 = T (T^2 - 1) / 12) */
    const double stt = Td * (Td * Td - 1.0) / 12.0;
    for (int64_t c = 0; c < m; c++) {
        s1[c] /= Td;
        s2[c] = j->o->detrend && stt > 0 ? s2[c] / stt : 0.0;
        s3[c] /= Td;
    }
    /* Pass 2 (z-score): s3 <- 1 / sd of the residual, or 0 for a constant voxel. */
    if (j->o->zscore_runs) {
        double *ss = w->s4;
        memset(ss, 0, (size_t)m * sizeof *ss);
        for (int64_t v = 0; v < T; v++) {
            if ((rc = lrsa_nifti_bricks_volume(b, v, w->vol, (size_t)j->nvox, err)))
                goto done;
            const double dt = (double)v - tbar;
            for (int64_t c = 0; c < m; c++) {
                double r = (double)w->vol[vox[c]] - s1[c] - s2[c] * dt;
                ss[c] += r * r;
            }
        }
        for (int64_t c = 0; c < m; c++) {
            double var = ss[c] / Td;
            int constant = var == 0.0 || var <= CONST_REL * CONST_REL * s3[c];
            s3[c] = constant ? 0.0 : 1.0 / sqrt(var);
        }
    } else {
        for (int64_t c = 0; c < m; c++)
            s3[c] = 1.0;
    }
    for (int64_t i = 0; i < g->n; i++) {
        int64_t row = j->refs[g->first + i].row, v = j->t->rows[row].volume;
        if ((rc = lrsa_nifti_bricks_volume(b, v, w->vol, (size_t)j->nvox, err)))
            goto done;
        const double dt = (double)v - tbar;
        float *dst = j->data + row * m;
        for (int64_t c = 0; c < m; c++) {
            double x = w->vol[vox[c]];
            dst[c] = s3[c] == 0.0 && isfinite(x) ? 0.0f
                                                  : (float)((x - s1[c] - s2[c] * dt) * s3[c]);
        }
        *nonfinite += count_nonfinite(dst, m);
    }
done:
    lrsa_nifti_bricks_free(b);
    return rc;
}

/* ===== The matrix =========================================================================== */

static int make_labels(const lrsa_trials *t, const char *name, lrsa_labels **out, lrsa_err *err)
{
    lrsa_labels *l = lrsa_labels_new(t->n, err);
    int rc = l ? LRSA_OK : LRSA_ENOMEM;
    for (int64_t r = 0; !rc && r < t->n; r++) {
        const lrsa_trial *x = &t->rows[r];
        if (!(rc = lrsa_labels_set(l, r, LRSA_LBL_STIMULUS, x->stimulus, err)) &&
            !(rc = lrsa_labels_set(l, r, LRSA_LBL_SOURCE, lrsa_img_type_source(x->img_type), err)) &&
            !(rc = lrsa_labels_set(l, r, LRSA_LBL_SUBJECT, x->subject, err)) &&
            !(rc = lrsa_labels_set(l, r, LRSA_LBL_SESSION, x->session, err)) &&
            !(rc = lrsa_labels_set_int(l, r, LRSA_LBL_RUN, x->run, err)))
            rc = lrsa_labels_set_int(l, r, LRSA_LBL_TRIAL, x->trial, err);
    }
    if (!rc) {   /* messages name the table */
        char *nm = lrsa_strdup(name, err);
        if (!nm) {
            rc = LRSA_ENOMEM;
        } else {
            free(l->name);
            l->name = nm;
            rc = lrsa_labels_check(l, err);
        }
    }
    if (rc) {
        lrsa_labels_free(l);
        return rc;
    }
    *out = l;
    return LRSA_OK;
}

int lrsa_embed_voxels_matrix(const lrsa_embed_voxels_opts *o, const lrsa_trials *t,
                             const lrsa_ctx *ctx, lrsa_voxel_matrix *m, lrsa_err *err)
{
    row_ref *refs = NULL;
    run_group *g = NULL;
    int64_t ng = 0, nvk = 0, *vox = NULL;
    work *ws = NULL;
    int threads = 1;
    int rc;
    memset(m, 0, sizeof *m);
    if (!o || !o->root)
        return LRSA_FAIL(err, LRSA_EMISUSE, "embed-voxels needs the BIDS directory");
    if (!t || t->n == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "%s has no trial",
                         o->trials_name ? o->trials_name : "the trial table");
    if ((rc = make_labels(t, o->trials_name ? o->trials_name : "the trial table", &m->labels, err)))
        goto fail;
    if ((rc = plan_runs(t, o->root, &refs, &g, &ng, err)))
        goto fail;
    /* Headers: the same 3-D dims everywhere, every trial's volume inside its run. */
    lrsa_nifti_header ref;
    memset(&ref, 0, sizeof ref);
    for (int64_t i = 0; i < ng; i++) {
        lrsa_nifti_header h;
        if ((rc = lrsa_nifti_read_header(g[i].path, &h, err)))
            goto fail;
        if (i == 0)
            ref = h;
        else if (h.dims[0] != ref.dims[0] || h.dims[1] != ref.dims[1] || h.dims[2] != ref.dims[2]) {
            rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s' is %lld x %lld x %lld but '%s' is %lld x %lld "
                           "x %lld: every run must have the same dims", g[i].path,
                           (long long)h.dims[0], (long long)h.dims[1], (long long)h.dims[2],
                           g[0].path, (long long)ref.dims[0], (long long)ref.dims[1],
                           (long long)ref.dims[2]);
            goto fail;
        }
        g[i].nt = h.dims[3];
        memcpy(g[i].affine, h.affine, sizeof g[i].affine);
        for (int64_t k = 0; k < g[i].n; k++) {
            const lrsa_trial *x = &t->rows[refs[g[i].first + k].row];
            if (x->volume < 0 || x->volume >= h.dims[3]) {
                rc = LRSA_FAIL(err, LRSA_ESHAPE, "%s: trial sub-%s ses-%s run %lld trial %lld: "
                               "volume %lld is outside '%s' (%lld volumes, 0 to %lld)",
                               o->trials_name ? o->trials_name : "trial table", x->subject,
                               x->session, (long long)x->run, (long long)x->trial,
                               (long long)x->volume, g[i].path, (long long)h.dims[3],
                               (long long)(h.dims[3] - 1));
                goto fail;
            }
        }
    }
    if ((rc = plan_voxels(o, &ref, g[0].path, g, ng, &vox, &nvk, err)))
        goto fail;
    size_t cells, bytes;
    if (lrsa_mul_size((size_t)t->n, (size_t)nvk, &cells) ||
        lrsa_mul_size(cells, sizeof(float), &bytes) ||
        !(m->data = malloc(bytes ? bytes : 1))) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "out of memory for the %lld x %lld output (%.3g GB)%s",
                       (long long)t->n, (long long)nvk, (double)t->n * (double)nvk * 4e-9,
                       o->mask ? "" : ": use --mask to keep fewer voxels");
        goto fail;
    }
    m->rows = t->n;
    m->voxels = nvk;
    memcpy(m->dims, ref.dims, sizeof m->dims);
    m->runs = ng;

    job jb = { o, t, refs, vox, nvk, ref.dims[0] * ref.dims[1] * ref.dims[2], m->data };
    const int pre = o->detrend || o->zscore_runs;
    threads = lrsa_threads(ctx);
    if (threads < 1)
        threads = 1;
    if (threads > ng)
        threads = (int)ng;
    ws = lrsa_calloc((size_t)threads, sizeof *ws, "work buffers", err);
    if (!ws) {
        rc = LRSA_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < threads; i++) {
        ws[i].vol = lrsa_malloc((size_t)jb.nvox * sizeof(float), "volume", err);
        if (pre) {
            ws[i].s1 = lrsa_malloc((size_t)nvk * sizeof(double), "voxel sums", err);
            ws[i].s2 = lrsa_malloc((size_t)nvk * sizeof(double), "voxel sums", err);
            ws[i].s3 = lrsa_malloc((size_t)nvk * sizeof(double), "voxel sums", err);
        }
        if (o->zscore_runs)
            ws[i].s4 = lrsa_malloc((size_t)nvk * sizeof(double), "voxel sums", err);
        if (!ws[i].vol || (pre && (!ws[i].s1 || !ws[i].s2 || !ws[i].s3)) ||
            (o->zscore_runs && !ws[i].s4)) {
            rc = LRSA_ENOMEM;
            goto fail;
        }
    }
    /* Runs in parallel; the error reported is that of the first failing run in run order. */
    int64_t fail_at = -1, nonfinite = 0, ndone = 0;
    lrsa_err ferr;
    lrsa_err_init(&ferr);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(+ : nonfinite)
    for (int64_t i = 0; i < ng; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int64_t stop;
#pragma omp atomic read
        stop = fail_at;
        if (stop >= 0 && stop < i)
            continue;
        lrsa_err e;
        lrsa_err_init(&e);
        int64_t nf = 0;
        int r = do_run(&jb, &g[i], &ws[tid], &nf, &e);
        nonfinite += nf;
#pragma omp critical(embed_voxels)
        {
            if (r && (fail_at < 0 || i < fail_at)) {
#pragma omp atomic write
                fail_at = i;
                ferr = e;
            }
            if (!r)
                lrsa_progress(ctx, "runs", ++ndone, ng);
        }
    }
    if (fail_at >= 0) {
        if (err)
            *err = ferr;
        rc = ferr.code;
        goto fail;
    }
    m->nonfinite = nonfinite;
    goto done;
fail:
    lrsa_voxel_matrix_release(m);
done:
    for (int i = 0; ws && i < threads; i++) {
        free(ws[i].vol);
        free(ws[i].s1);
        free(ws[i].s2);
        free(ws[i].s3);
        free(ws[i].s4);
        free(ws[i].vols);
    }
    free(ws);
    free(vox);
    free(refs);
    groups_free(g, ng);
    return rc;
}

/* ===== Files ================================================================================ */

static int add_json_string(lrsa_strbuf *sb, const char *s, lrsa_err *err)
{
    if (!s)
        return lrsa_strbuf_adds(sb, "null", err);
    int rc = lrsa_strbuf_adds(sb, "\"", err);
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = lrsa_strbuf_addf(sb, err, "\\%c", *p);
        else if (*p < 0x20)
            rc = lrsa_strbuf_addf(sb, err, "\\u%04x", *p);
        else
            rc = lrsa_strbuf_add(sb, (const char *)p, 1, err);
    }
    return rc ? rc : lrsa_strbuf_adds(sb, "\"", err);
}

static int write_json(const char *path, const lrsa_embed_voxels_opts *o, const lrsa_trials *t,
                      const lrsa_voxel_matrix *m, lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    char rule[64];
    if (t->have_rule)
        lrsa_volume_rule_format(&t->rule, rule, sizeof rule);
    int rc = lrsa_strbuf_addf(&sb, err, "{\n  \"rows\": %lld,\n  \"voxels\": %lld,\n  \"mask\": ",
                              (long long)m->rows, (long long)m->voxels);
    if (!rc)
        rc = add_json_string(&sb, o->mask, err);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, ",\n  \"detrend\": %s,\n  \"zscore_runs\": %s,\n"
                              "  \"volume_rule\": ", o->detrend ? "true" : "false",
                              o->zscore_runs ? "true" : "false");
    if (!rc)
        rc = add_json_string(&sb, t->have_rule ? rule : NULL, err);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, ",\n  \"dims\": [%lld, %lld, %lld],\n  \"trials\": ",
                              (long long)m->dims[0], (long long)m->dims[1], (long long)m->dims[2]);
    if (!rc)
        rc = add_json_string(&sb, o->trials_name, err);
    if (!rc)
        rc = lrsa_strbuf_adds(&sb, "\n}\n", err);
    if (!rc && !(rc = lrsa_outfile_open(&of, path, err))) {
        if (fwrite(sb.buf, 1, sb.len, of.fp) != sb.len)
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path);
        else
            rc = lrsa_outfile_commit(&of, err);
    }
    lrsa_outfile_abort(&of);
    lrsa_strbuf_release(&sb);
    return rc;
}

int lrsa_embed_voxels(const lrsa_embed_voxels_opts *o, const lrsa_trials *t, const lrsa_ctx *ctx,
                      lrsa_voxel_matrix *info, lrsa_err *err)
{
    lrsa_voxel_matrix m;
    memset(&m, 0, sizeof m);
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    char *hdr = NULL, *lpath = NULL, *jpath = NULL;
    size_t hdr_len;
    int wrote_npy = 0, wrote_labels = 0;
    int rc;
    if (info)
        memset(info, 0, sizeof *info);
    if (!o || !o->output || !*o->output)
        return LRSA_FAIL(err, LRSA_EMISUSE, "embed-voxels needs an output file");
    if ((rc = lrsa_labels_path(o->output, &lpath, err)))
        goto done;
    if (!(jpath = lrsa_embed_voxels_json_path(o->output, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = lrsa_outfile_open(&of, o->output, err)))   /* fail before reading anything */
        goto done;
    if ((rc = lrsa_embed_voxels_matrix(o, t, ctx, &m, err)))
        goto done;
    int64_t shape[2] = { m.rows, m.voxels };
    if ((rc = lrsa_npy_format_header(LRSA_NPY_F32, 0, 2, shape, &hdr, &hdr_len, err)))
        goto done;
    size_t cells = (size_t)m.rows * (size_t)m.voxels;
    if (fwrite(hdr, 1, hdr_len, of.fp) != hdr_len ||
        fwrite(m.data, sizeof *m.data, cells, of.fp) != cells) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", o->output);
        goto done;
    }
    if ((rc = lrsa_outfile_commit(&of, err)))
        goto done;
    wrote_npy = 1;
    if ((rc = lrsa_labels_write(lpath, m.labels, err)))
        goto done;
    wrote_labels = 1;
    if ((rc = write_json(jpath, o, t, &m, err)))
        goto done;
    if (info) {
        *info = m;
        info->data = NULL;
        info->labels = NULL;
    }
done:
    if (rc) {   /* no matrix without its sidecar and record */
        if (wrote_npy)
            remove(o->output);
        if (wrote_labels)
            remove(lpath);
    }
    lrsa_outfile_abort(&of);
    lrsa_voxel_matrix_release(&m);
    free(hdr);
    free(lpath);
    free(jpath);
    return rc;
}
