/* embed-voxels: the trial-by-voxel matrix against references that do not use our NIfTI reader.
 *  - On a synthetic dataset (lrsa_synth_write, scanned with lrsa_bids_scan): raw rows equal the
 *    synthesiser's own int16 data (lrsa_synth_run_bold) exactly, in C order over (x, y, z);
 *    --detrend and --zscore-runs equal a double reference (normal equations, two-pass sd) to
 *    float32 rounding; 1 and 3 threads give the same bytes; a mask selects the same columns.
 *  - On hand-written runs: a constant voxel, an exactly linear one, NaN, a one-volume run,
 *    duplicated and interleaved trials; mask dims, 4-D masks, affines (1e-3 mm), empty masks.
 *  - Errors: missing BOLD file, runs of other dims, a volume outside its run, an empty table, a
 *    bad label; the writer: files, sidecar and JSON, an unwritable output, no partial output.
 * Tolerance: |ours - reference| <= 4e-7 * max(1, |reference|) (float32 output of double sums). */
#include "harness.h"
#include "latentrsa/bids.h"
#include "latentrsa/embed_voxels.h"
#include "latentrsa/labels.h"
#include "latentrsa/nifti.h"
#include "latentrsa/npy.h"
#include "latentrsa/synth.h"

#include <stdint.h>
#include <unistd.h>

#define DT_UINT8_ 2
#define DT_FLOAT32_ 16

static char g_dir[2048];

static const char *tmp_path(const char *rel)
{
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, rel);
    return buf[k];
}

/* x -> (detrended) (z-scored) series, in double: the line from the 2 x 2 normal equations, the sd
 * from a second pass; a series whose variance is below 1e-20 of its raw mean square becomes 0. */
static void reference(const double *x, int64_t T, int detrend, int zscore, double *out)
{
    double a = 0, b = 0, n = (double)T, st = 0, stt = 0, sx = 0, stx = 0, sq = 0;
    for (int64_t t = 0; t < T; t++) {
        st += (double)t;
        stt += (double)t * (double)t;
        sx += x[t];
        stx += (double)t * x[t];
        sq += x[t] * x[t];
    }
    if (detrend) {
        double den = n * stt - st * st;
        b = den > 0 ? (n * stx - st * sx) / den : 0.0;
        a = (sx - b * st) / n;
    }
    for (int64_t t = 0; t < T; t++)
        out[t] = x[t] - (detrend ? a + b * (double)t : 0.0);
    if (!zscore)
        return;
    double mean = 0, var = 0;
    for (int64_t t = 0; t < T; t++)
        mean += out[t];
    mean /= n;
    for (int64_t t = 0; t < T; t++)
        var += (out[t] - mean) * (out[t] - mean);
    var /= n;
    int constant = var == 0 || var <= 1e-20 * sq / n;
    for (int64_t t = 0; t < T; t++)
        out[t] = constant ? 0.0 : (out[t] - mean) / sqrt(var);
}

static int close_enough(double ours, double ref)
{
    if (isnan(ref))
        return isnan(ours);
    return fabs(ours - ref) <= 4e-7 * (fabs(ref) > 1 ? fabs(ref) : 1.0);
}

/* ===== On a synthetic dataset ================================================================ */

static void test_synth(void)
{
    lrsa_synth_opts so;
    lrsa_synth_opts_init(&so);
    so.subjects = 2;
    so.runs = 2;
    so.trials = 4;
    so.repeated_images = 1;
    so.dims[0] = 10;
    so.dims[1] = 9;
    so.dims[2] = 8;
    so.image_size = 16;
    so.force = 1;
    lrsa_synth *s = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    const char *root = tmp_path("synth");
    CHECK_INT(lrsa_synth_new(&so, &s, &err), LRSA_OK);
    CHECK_MSG(lrsa_synth_write(s, root, NULL, &err) == LRSA_OK, "%s", err.msg);
    lrsa_scan_opts sc;
    lrsa_scan_opts_init(&sc);
    lrsa_trials *t = NULL;
    CHECK_MSG(lrsa_bids_scan(root, &sc, NULL, &t, NULL, &err) == LRSA_OK, "%s", err.msg);
    if (!t) {
        lrsa_synth_free(s);
        return;
    }
    const lrsa_synth_geometry *geo = lrsa_synth_geom(s);
    const int64_t nx = 10, ny = 9, nz = 8, nvox = nx * ny * nz, T = geo->volumes;
    CHECK_INT(t->n, 16);
    lrsa_embed_voxels_opts o;
    lrsa_embed_voxels_opts_init(&o);
    o.root = root;
    lrsa_ctx c3;
    lrsa_ctx_init(&c3);
    c3.threads = 3;
    double *x = malloc(sizeof *x * (size_t)T), *ref = malloc(sizeof *ref * (size_t)T);
    lrsa_voxel_matrix full[4];
    memset(full, 0, sizeof full);
    for (int pre = 0; pre < 4; pre++) {
        o.detrend = pre & 1;
        o.zscore_runs = (pre & 2) != 0;
        lrsa_voxel_matrix *m = &full[pre];
        CHECK_MSG(lrsa_embed_voxels_matrix(&o, t, &c3, m, &err) == LRSA_OK, "%s", err.msg);
        if (!m->data)
            continue;
        CHECK_INT(m->rows, 16);
        CHECK_INT(m->voxels, nvox);
        CHECK(m->dims[0] == nx && m->dims[1] == ny && m->dims[2] == nz);
        CHECK_INT(m->runs, 4);
        CHECK_INT(m->nonfinite, 0);
        long bad = 0;
        double worst = 0;
        for (int64_t r = 0; r < t->n; r++) {
            const lrsa_trial *tr = &t->rows[r];
            int16_t *bold = NULL;
            CHECK_INT(lrsa_synth_run_bold(s, atoi(tr->subject + 3), atoi(tr->session), (int)tr->run,
                                          &bold, NULL), LRSA_OK);
            if (!bold)
                continue;
            int64_t c = 0;
            for (int64_t i = 0; i < nx; i++)
                for (int64_t j = 0; j < ny; j++)
                    for (int64_t k = 0; k < nz; k++, c++) {
                        int64_t sidx = i + nx * (j + ny * k);
                        float got = m->data[r * nvox + c];
                        if (pre == 0) {
                            bad += got != (float)bold[tr->volume * nvox + sidx];
                            continue;
                        }
                        for (int64_t v = 0; v < T; v++)
                            x[v] = bold[v * nvox + sidx];
                        reference(x, T, o.detrend, o.zscore_runs, ref);
                        double d = fabs(got - ref[tr->volume]);
                        if (d > worst)
                            worst = d;
                        bad += !close_enough(got, ref[tr->volume]);
                    }
            free(bold);
        }
        CHECK_MSG(bad == 0, "detrend %d zscore %d: %ld values off, worst %.3g", o.detrend,
                  o.zscore_runs, bad, worst);
        fprintf(stderr, "detrend %d zscore %d: largest difference from the reference %.3g\n",
                o.detrend, o.zscore_runs, worst);
    }
    /* labels: the trial's */
    if (full[0].labels) {
        const lrsa_labels *l = full[0].labels;
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_STIMULUS), t->rows[5].stimulus);
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_SOURCE), lrsa_img_type_source(t->rows[5].img_type));
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_SUBJECT), t->rows[5].subject);
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_SESSION), t->rows[5].session);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)t->rows[5].run);
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_RUN), buf);
        snprintf(buf, sizeof buf, "%lld", (long long)t->rows[5].trial);
        CHECK_STR(lrsa_labels_get(l, 5, LRSA_LBL_TRIAL), buf);
    }
    /* one thread: the same bytes */
    {
        lrsa_ctx c1;
        lrsa_ctx_init(&c1);
        c1.threads = 1;
        lrsa_voxel_matrix m1;
        o.detrend = o.zscore_runs = 1;
        CHECK_INT(lrsa_embed_voxels_matrix(&o, t, &c1, &m1, &err), LRSA_OK);
        CHECK(m1.data && full[3].data &&
              memcmp(m1.data, full[3].data, sizeof(float) * (size_t)(16 * nvox)) == 0);
        lrsa_voxel_matrix_release(&m1);
    }
    /* a mask in the runs' space: the same columns, in the same order */
    {
        lrsa_nifti_header h;
        char *run0 = lrsa_path_join(root, t->rows[0].bold, NULL);
        CHECK_INT(lrsa_nifti_read_header(run0, &h, NULL), LRSA_OK);
        float *mk = calloc((size_t)nvox, sizeof *mk);
        int64_t kept = 0;
        for (int64_t v = 0; v < nvox; v++) {
            int sel = v % 7;
            mk[v] = sel == 0 ? 1.0f : sel == 1 ? -2.5f : sel == 2 ? NAN : 0.0f;
        }
        lrsa_nifti_header mh = h;
        mh.ndim = 3;
        mh.dims[3] = 1;
        mh.datatype = DT_FLOAT32_;
        mh.scl_slope = 0;
        mh.scl_inter = 0;
        const char *mpath = tmp_path("mask.nii.gz");
        CHECK_MSG(lrsa_nifti_write(mpath, &mh, mk, &err) == LRSA_OK, "%s", err.msg);
        o.mask = mpath;
        o.detrend = 1;
        o.zscore_runs = 0;
        lrsa_voxel_matrix mm;
        CHECK_MSG(lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err) == LRSA_OK, "%s", err.msg);
        long bad = 0;
        int64_t c = 0;
        for (int64_t i = 0; i < nx; i++)
            for (int64_t j = 0; j < ny; j++)
                for (int64_t k = 0; k < nz; k++, c++) {
                    int64_t sidx = i + nx * (j + ny * k);
                    if (!(sidx % 7 == 0 || sidx % 7 == 1))
                        continue;
                    for (int64_t r = 0; mm.data && full[1].data && r < 16; r++)
                        bad += mm.data[r * mm.voxels + kept] != full[1].data[r * nvox + c];
                    kept++;
                }
        CHECK_INT(mm.voxels, kept);
        CHECK_INT(bad, 0);
        lrsa_voxel_matrix_release(&mm);
        /* 0.4 um off: the same space; 20 um off: refused, naming both files */
        mh.affine[0][3] += 0.0004;
        CHECK_INT(lrsa_nifti_write(mpath, &mh, mk, NULL), LRSA_OK);
        CHECK_MSG(lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err) == LRSA_OK, "%s", err.msg);
        lrsa_voxel_matrix_release(&mm);
        mh.affine[0][3] += 0.02;
        CHECK_INT(lrsa_nifti_write(mpath, &mh, mk, NULL), LRSA_OK);
        int rc = lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err);
        CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "not in the same space", mpath);
        CHECK_MSG(strstr(err.msg, "_bold.nii.gz") != NULL, "%s", err.msg);
        CHECK(mm.data == NULL && mm.labels == NULL);
        /* other dims */
        mh = h;
        mh.ndim = 3;
        mh.dims[2] = nz - 1;
        mh.dims[3] = 1;
        mh.datatype = DT_FLOAT32_;
        CHECK_INT(lrsa_nifti_write(mpath, &mh, mk, NULL), LRSA_OK);
        rc = lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err);
        CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "10 x 9 x 7 but the runs are 10 x 9 x 8", mpath);
        /* 4-D with two volumes */
        mh = h;
        mh.ndim = 4;
        mh.dims[3] = 2;
        mh.datatype = DT_UINT8_;
        mh.scl_slope = 0;
        uint8_t *m8 = calloc((size_t)(2 * nvox), 1);
        CHECK_INT(lrsa_nifti_write(mpath, &mh, m8, NULL), LRSA_OK);
        rc = lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err);
        CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "2 volumes", mpath);
        /* keeps nothing */
        mh.dims[3] = 1;
        mh.ndim = 3;
        CHECK_INT(lrsa_nifti_write(mpath, &mh, m8, NULL), LRSA_OK);
        rc = lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err);
        CHECK_ERR_FILE(rc, err, LRSA_EEMPTY, "keeps no voxel", mpath);
        /* missing */
        o.mask = tmp_path("no-mask.nii.gz");
        rc = lrsa_embed_voxels_matrix(&o, t, &c3, &mm, &err);
        CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "", "no-mask.nii.gz");
        o.mask = NULL;
        free(m8);
        free(mk);
        free(run0);
    }
    for (int pre = 0; pre < 4; pre++)
        lrsa_voxel_matrix_release(&full[pre]);
    free(x);
    free(ref);
    lrsa_trials_free(t);
    lrsa_synth_free(s);
}

/* ===== Hand-written runs ===================================================================== */

/* A 2 x 2 x 2 float32 run of T volumes at 2 mm, value(v, t) = f(v, t). */
static void write_run(const char *rel, int64_t nx, int64_t T, float (*f)(int64_t, int64_t))
{
    lrsa_nifti_header h;
    memset(&h, 0, sizeof h);
    h.ndim = 4;
    h.dims[0] = nx;
    h.dims[1] = 2;
    h.dims[2] = 2;
    h.dims[3] = T;
    h.datatype = DT_FLOAT32_;
    h.pixdim[0] = h.pixdim[1] = h.pixdim[2] = 2.0;
    h.pixdim[3] = 2.0;
    for (int i = 0; i < 3; i++)
        h.affine[i][i] = 2.0;
    h.affine[3][3] = 1.0;
    int64_t nvox = nx * 4;
    float *d = malloc(sizeof *d * (size_t)(nvox * T));
    for (int64_t t = 0; t < T; t++)
        for (int64_t v = 0; v < nvox; v++)
            d[t * nvox + v] = f(v, t);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_nifti_write(tmp_path(rel), &h, d, &err) == LRSA_OK, "%s", err.msg);
    free(d);
}

/* voxel 0 constant, 1 exactly linear, 2 NaN at t = 2, the rest a fixed pseudo-random pattern */
static float pattern(int64_t v, int64_t t)
{
    if (v == 0)
        return 7.0f;
    if (v == 1)
        return (float)(100 + 3 * t);
    if (v == 2 && t == 2)
        return NAN;
    return (float)((v * 37 + t * t * 11 + v * t * 5) % 23) - 4.0f;
}

static float other(int64_t v, int64_t t)
{
    return (float)(1000 + 10 * v + t);
}

static lrsa_trial trial(const char *bold, int64_t trial_no, int64_t volume)
{
    lrsa_trial x;
    memset(&x, 0, sizeof x);
    x.subject = "A";
    x.session = "n/a";
    x.run = 1;
    x.trial = trial_no;
    x.stimulus = "img.jpg";
    x.img_type = "rep_scenes";
    x.tr = 2.0;
    x.volume = volume;
    x.bold = bold;
    return x;
}

/* The run-wise preprocessing against scipy/numpy (tools/gen_voxel_fixtures.py): every volume of a
 * 4 x 3 x 2 x 11 float32 run taken as a trial, detrended and/or z-scored, compared with
 * scipy.signal.detrend and numpy's z-score in double. */
static void test_reference_fixture(void)
{
    const char *src = getenv("LRSA_SRC");
    char dir[2200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/voxels", src && *src ? src : ".");
    lrsa_trial rows[11];
    for (int v = 0; v < 11; v++)
        rows[v] = trial("run.nii.gz", v + 1, v);
    lrsa_trials t;
    memset(&t, 0, sizeof t);
    t.n = 11;
    t.rows = rows;
    static const char *const names[3] = { "detrend.npy", "zscore.npy", "detrend_zscore.npy" };
    for (int pre = 1; pre < 4; pre++) {
        lrsa_embed_voxels_opts o;
        lrsa_embed_voxels_opts_init(&o);
        o.root = dir;
        o.detrend = pre & 1;
        o.zscore_runs = (pre & 2) != 0;
        lrsa_err err;
        lrsa_err_init(&err);
        lrsa_voxel_matrix m;
        CHECK_MSG(lrsa_embed_voxels_matrix(&o, &t, NULL, &m, &err) == LRSA_OK, "%s", err.msg);
        char path[2300];
        snprintf(path, sizeof path, "%s/%s", dir, names[pre - 1]);
        lrsa_npy_mapping *ref = NULL;
        CHECK_MSG(lrsa_npy_map(path, &ref, &err) == LRSA_OK, "%s", err.msg);
        if (!m.data || !ref)
            continue;
        CHECK_INT(ref->hdr.shape[0], 11);
        CHECK_INT(ref->hdr.shape[1], m.voxels);
        double *want = malloc(sizeof(double) * (size_t)ref->hdr.numel);
        lrsa_npy_decode_f64(&ref->hdr, ref->data, want);
        double worst = 0;   /* relative to max(1, |ref|) */
        for (int64_t i = 0; i < ref->hdr.numel && i < m.rows * m.voxels; i++) {
            double scale = fabs(want[i]) > 1 ? fabs(want[i]) : 1.0;
            double d = fabs(m.data[i] - want[i]) / scale;
            worst = d > worst ? d : worst;
        }
        printf("   %s vs scipy/numpy: max diff %.2e (relative to max(1, |ref|))\n", names[pre - 1], worst);
        CHECK_MSG(worst <= 1e-6, "%s: max diff %.2e", names[pre - 1], worst);
        free(want);
        lrsa_npy_unmap(ref);
        lrsa_voxel_matrix_release(&m);
    }
}

static void test_handmade(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_mkdir_p(tmp_path("hm"), NULL), LRSA_OK);
    write_run("hm/a.nii", 2, 6, pattern);
    write_run("hm/b.nii.gz", 2, 4, other);
    write_run("hm/c.nii", 2, 1, other);
    write_run("hm/wide.nii", 3, 4, other);
    /* interleaved runs, a repeated volume, a one-volume run */
    lrsa_trial rows[5] = { trial("a.nii", 1, 5), trial("b.nii.gz", 1, 0), trial("a.nii", 2, 1),
                           trial("a.nii", 3, 1), trial("c.nii", 1, 0) };
    lrsa_trials t;
    memset(&t, 0, sizeof t);
    t.n = 5;
    t.rows = rows;
    lrsa_embed_voxels_opts o;
    lrsa_embed_voxels_opts_init(&o);
    o.root = tmp_path("hm");
    lrsa_ctx c2;
    lrsa_ctx_init(&c2);
    c2.threads = 2;
    lrsa_voxel_matrix m;
    CHECK_MSG(lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err) == LRSA_OK, "%s", err.msg);
    CHECK_INT(m.voxels, 8);
    CHECK_INT(m.runs, 3);
    CHECK_INT(m.nonfinite, 0);   /* a.nii's NaN is in volume 2, which no trial takes */
    /* C order over (x, y, z): column c = (i, j, k) with k fastest; storage index i + 2 (j + 2 k) */
    static const int64_t sidx[8] = { 0, 4, 2, 6, 1, 5, 3, 7 };
    const struct { const char *f; int64_t vol; } src[5] = { { "a", 5 }, { "b", 0 }, { "a", 1 },
                                                            { "a", 1 }, { "c", 0 } };
    long bad = 0;
    for (int r = 0; m.data && r < 5; r++)
        for (int c = 0; c < 8; c++) {
            float want = src[r].f[0] == 'a' ? pattern(sidx[c], src[r].vol) : other(sidx[c], src[r].vol);
            bad += m.data[r * 8 + c] != want;
        }
    CHECK_INT(bad, 0);
    CHECK_STR(lrsa_labels_get(m.labels, 1, LRSA_LBL_SOURCE), "Scene");
    CHECK_STR(lrsa_labels_get(m.labels, 1, LRSA_LBL_SESSION), "n/a");
    CHECK_STR(lrsa_labels_get(m.labels, 3, LRSA_LBL_TRIAL), "3");
    lrsa_voxel_matrix_release(&m);
    /* preprocessing: constant -> 0; linear -> 0 after detrend (exactly, once z-scored); NaN
     * spreads to its voxel's rows of run a; the one-volume run is all 0 */
    for (int pre = 1; pre < 4; pre++) {
        o.detrend = pre & 1;
        o.zscore_runs = (pre & 2) != 0;
        CHECK_INT(lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err), LRSA_OK);
        if (!m.data)
            continue;
        CHECK_INT(m.nonfinite, 3);
        bad = 0;
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 8; c++) {
                double x[6], ref[6];
                int64_t T = src[r].f[0] == 'a' ? 6 : src[r].f[0] == 'b' ? 4 : 1;
                for (int64_t v = 0; v < T; v++)
                    x[v] = src[r].f[0] == 'a' ? pattern(sidx[c], v) : other(sidx[c], v);
                reference(x, T, o.detrend, o.zscore_runs, ref);
                bad += !close_enough(m.data[r * 8 + c], ref[src[r].vol]);
            }
        CHECK_MSG(bad == 0, "detrend %d zscore %d: %ld values off", o.detrend, o.zscore_runs, bad);
        CHECK(m.data[0] == 0.0f && m.data[2 * 8] == 0.0f && m.data[3 * 8] == 0.0f); /* constant */
        if (o.detrend)                                     /* linear voxel 1: column 4 */
            CHECK(m.data[4] == 0.0f && m.data[2 * 8 + 4] == 0.0f && m.data[3 * 8 + 4] == 0.0f);
        CHECK(isnan(m.data[2]) && isnan(m.data[2 * 8 + 2]) && isnan(m.data[3 * 8 + 2]));
        for (int c = 0; c < 8; c++)
            CHECK(m.data[4 * 8 + c] == 0.0f);
        lrsa_voxel_matrix_release(&m);
    }
    o.detrend = o.zscore_runs = 0;
    int rc;
    /* a volume outside its run: the trial and the file named */
    rows[2].volume = 6;
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "trial sub-A ses-n/a run 1 trial 2: volume 6 is outside", "a.nii");
    CHECK_MSG(strstr(err.msg, "6 volumes, 0 to 5") != NULL, "%s", err.msg);
    CHECK(m.data == NULL && m.labels == NULL);
    o.trials_name = "x/trials.tsv";
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR(rc, err, LRSA_ESHAPE, "x/trials.tsv: trial");
    o.trials_name = NULL;
    rows[2].volume = -1;
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR(rc, err, LRSA_ESHAPE, "volume -1 is outside");
    rows[2].volume = 1;
    /* a missing run */
    rows[1].bold = "missing_bold.nii.gz";
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "", "missing_bold.nii.gz");
    /* runs of other dims */
    rows[1].bold = "wide.nii";
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "every run must have the same dims", "wide.nii");
    rows[1].bold = "b.nii.gz";
    /* a label the sidecar cannot hold */
    rows[3].stimulus = "n/a";
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "stimulus");
    rows[3].stimulus = "img.jpg";
    /* nothing */
    t.n = 0;
    rc = lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no trial");
    t.n = 5;

    /* ---- the writer -------------------------------------------------------------------------- */
    o.output = tmp_path("hm/out/v.npy");
    CHECK_INT(lrsa_mkdir_p(tmp_path("hm/out"), NULL), LRSA_OK);
    o.trials_name = "trials \"q\".tsv";
    o.detrend = 1;
    lrsa_voxel_matrix info;
    CHECK_MSG(lrsa_embed_voxels(&o, &t, &c2, &info, &err) == LRSA_OK, "%s", err.msg);
    CHECK(info.rows == 5 && info.voxels == 8 && info.data == NULL && info.labels == NULL);
    lrsa_tensor *X = NULL;
    CHECK_INT(lrsa_npy_read_f32(o.output, &X, NULL), LRSA_OK);
    CHECK(X && X->ndim == 2 && X->shape[0] == 5 && X->shape[1] == 8);
    CHECK_INT(lrsa_embed_voxels_matrix(&o, &t, &c2, &m, &err), LRSA_OK);
    CHECK(X && m.data && memcmp(X->data, m.data, sizeof(float) * 40) == 0);
    lrsa_voxel_matrix_release(&m);
    lrsa_tensor_free(X);
    lrsa_labels *l = NULL;
    CHECK_INT(lrsa_labels_read_for(o.output, 5, &l, NULL), LRSA_OK);
    CHECK(l && strcmp(lrsa_labels_get(l, 4, LRSA_LBL_SOURCE), "Scene") == 0);
    lrsa_labels_free(l);
    char *json = NULL;
    size_t jl;
    CHECK_INT(lrsa_read_file(tmp_path("hm/out/v.json"), 0, &json, &jl, NULL), LRSA_OK);
    CHECK(json && strstr(json, "\"rows\": 5,") && strstr(json, "\"voxels\": 8,") &&
          strstr(json, "\"mask\": null,") && strstr(json, "\"detrend\": true,") &&
          strstr(json, "\"zscore_runs\": false,") && strstr(json, "\"volume_rule\": null,") &&
          strstr(json, "\"dims\": [2, 2, 2],") && strstr(json, "\"trials\": \"trials \\\"q\\\".tsv\""));
    free(json);
    /* a failure leaves nothing: not the three files, not a temporary */
    rows[1].bold = "missing_bold.nii.gz";
    o.output = tmp_path("hm/out2/w.npy");
    CHECK_INT(lrsa_mkdir_p(tmp_path("hm/out2"), NULL), LRSA_OK);
    rc = lrsa_embed_voxels(&o, &t, &c2, &info, &err);
    CHECK_INT(rc, LRSA_ENOTFOUND);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", tmp_path("hm/out2"));
    CHECK(system(cmd) == 0);
    rows[1].bold = "b.nii.gz";
    /* an output folder that does not exist: an I/O error before anything is read */
    o.output = tmp_path("hm/nowhere/w.npy");
    rc = lrsa_embed_voxels(&o, &t, &c2, &info, &err);
    CHECK_ERR(rc, err, LRSA_EIO, "nowhere");
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/test_embed_voxels_%d", harness_tmpdir(), (int)getpid());
    CHECK_INT(lrsa_mkdir_p(g_dir, NULL), LRSA_OK);
    RUN(test_synth);
    RUN(test_handmade);
    RUN(test_reference_fixture);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (harness_failures == 0 && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_dir);
    return harness_done();
}
