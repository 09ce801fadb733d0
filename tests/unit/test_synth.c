/* synth: determinism, the planted signal (and its absence), the schedule, the brain's look,
 * the files written (events.tsv schema, NIfTI round trip, images), option checks. */
#include "harness.h"
#include "latentrsa/image.h"
#include "latentrsa/nifti.h"
#include "latentrsa/synth.h"
#include "latentrsa/tsv.h"

#include <stdint.h>

static lrsa_synth_opts tiny(void)
{
    lrsa_synth_opts o;
    lrsa_synth_opts_init(&o);
    o.subjects = 2;
    o.runs = 2;
    o.trials = 3;
    o.repeated_images = 1;
    o.dims[0] = 12;
    o.dims[1] = 12;
    o.dims[2] = 8;
    o.image_size = 32;
    return o;
}

static lrsa_synth *plan(const lrsa_synth_opts *o)
{
    lrsa_synth *s = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_synth_new(o, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    return s;
}

static int64_t run_values(const lrsa_synth *s)
{
    const lrsa_synth_geometry *g = lrsa_synth_geom(s);
    return g->dims[0] * g->dims[1] * g->dims[2] * g->volumes;
}

static void rm_rf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static const char *scratch(const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/test_synth_%s", harness_tmpdir(), name);
    return buf[k];
}

static char *slurp(const char *dir, const char *rel, size_t *len)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *data = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_read_file(path, 0, &data, len, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    return data;
}

static int same_file(const char *a, const char *b, const char *rel)
{
    size_t la = 0, lb = 0;
    char *x = slurp(a, rel, &la), *y = slurp(b, rel, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void test_determinism(void)
{
    lrsa_synth_opts o = tiny();
    lrsa_synth *a = plan(&o), *b = plan(&o);
    o.seed = 2;
    lrsa_synth *c = plan(&o);
    if (!a || !b || !c)
        goto done;
    int16_t *da = NULL, *db = NULL, *dc = NULL;
    CHECK_INT(lrsa_synth_run_bold(a, 2, 1, 2, &da, NULL), LRSA_OK);
    CHECK_INT(lrsa_synth_run_bold(b, 2, 1, 2, &db, NULL), LRSA_OK);
    CHECK_INT(lrsa_synth_run_bold(c, 2, 1, 2, &dc, NULL), LRSA_OK);
    size_t n = (size_t)run_values(a) * sizeof *da;
    CHECK(da && db && memcmp(da, db, n) == 0);
    CHECK(da && dc && memcmp(da, dc, n) != 0);
    free(da);
    free(db);
    free(dc);
    CHECK_INT(lrsa_synth_nimages(a), lrsa_synth_nimages(c));
    int names_differ = 0;
    for (int64_t i = 0; i < lrsa_synth_nimages(a); i++)
        names_differ |= strcmp(lrsa_synth_image_at(a, i)->name, lrsa_synth_image_at(c, i)->name) != 0;
    CHECK(names_differ);

    /* Written files: same seed, same bytes; another seed, other bytes. */
    const char *d1 = scratch("det1"), *d2 = scratch("det2"), *d3 = scratch("det3");
    rm_rf(d1);
    rm_rf(d2);
    rm_rf(d3);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_synth_write(a, d1, NULL, &err), LRSA_OK);
    CHECK_INT(lrsa_synth_write(b, d2, NULL, &err), LRSA_OK);
    CHECK_INT(lrsa_synth_write(c, d3, NULL, &err), LRSA_OK);
    const char *ev = "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-02_events.tsv";
    CHECK(same_file(d1, d2, ev));
    CHECK(same_file(d1, d2, "truth.json"));
    CHECK(same_file(d1, d2, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-02_bold.nii.gz"));
    CHECK(!same_file(d1, d3, ev));
    CHECK(!same_file(d1, d3, "truth.json"));
done:
    lrsa_synth_free(a);
    lrsa_synth_free(b);
    lrsa_synth_free(c);
}

/* Correlation, over trials and signal voxels, between the lag-5 volume's change from baseline and
 * the planted pattern of the trial's image. */
static double signal_correlation(const lrsa_synth *s)
{
    const lrsa_synth_geometry *g = lrsa_synth_geom(s);
    const lrsa_synth_opts *o = lrsa_synth_options(s);
    int16_t *d = NULL;
    CHECK_INT(lrsa_synth_run_bold(s, 1, 1, 1, &d, NULL), LRSA_OK);
    if (!d)
        return NAN;
    int64_t nvox = g->dims[0] * g->dims[1] * g->dims[2];
    double *pat = malloc(sizeof *pat * (size_t)g->nsignal);
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    int64_t n = 0;
    for (int64_t q = 0; q < o->trials; q++) {
        const lrsa_synth_trial *t = lrsa_synth_trial_at(s, q);
        int64_t vol = (t->onset_ms + 6000) / 2000;
        lrsa_synth_pattern(s, t->image, pat);
        int64_t v = 0;
        for (int64_t k = g->block_lo[2]; k <= g->block_hi[2]; k++)
            for (int64_t j = g->block_lo[1]; j <= g->block_hi[1]; j++)
                for (int64_t i = g->block_lo[0]; i <= g->block_hi[0]; i++, v++) {
                    int64_t idx = i + g->dims[0] * (j + g->dims[1] * k);
                    double x = pat[v], y = d[vol * nvox + idx] - lrsa_synth_baseline(s, idx);
                    sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y;
                    n++;
                }
    }
    free(pat);
    free(d);
    double cov = sxy - sx * sy / n, vx = sxx - sx * sx / n, vy = syy - sy * sy / n;
    return cov / sqrt(vx * vy);
}

static void test_signal_and_null(void)
{
    lrsa_synth_opts o = tiny();
    o.subjects = 1;
    o.runs = 1;
    o.trials = 30;
    o.repeated_images = 0;
    lrsa_synth *sig = plan(&o);
    o.signal = 0;
    lrsa_synth *null = plan(&o);
    if (!sig || !null)
        goto done;
    double r_sig = signal_correlation(sig), r_null = signal_correlation(null);
    fprintf(stderr, "signal 2 noise 1: r = %.3f (want > 0.5); signal 0: r = %.3f (want |r| < 0.15)\n",
            r_sig, r_null);
    CHECK(r_sig > 0.5);
    CHECK(fabs(r_null) < 0.15);
    /* The signal changes only the signal block: same noise stream elsewhere. */
    int16_t *a = NULL, *b = NULL;
    CHECK_INT(lrsa_synth_run_bold(sig, 1, 1, 1, &a, NULL), LRSA_OK);
    CHECK_INT(lrsa_synth_run_bold(null, 1, 1, 1, &b, NULL), LRSA_OK);
    const lrsa_synth_geometry *g = lrsa_synth_geom(sig);
    int64_t nvox = g->dims[0] * g->dims[1] * g->dims[2], outside_diff = 0, inside_diff = 0;
    for (int64_t n = 0; a && b && n < g->volumes; n++)
        for (int64_t v = 0; v < nvox; v++) {
            int64_t i = v % g->dims[0], j = v / g->dims[0] % g->dims[1], k = v / (g->dims[0] * g->dims[1]);
            int in = i >= g->block_lo[0] && i <= g->block_hi[0] && j >= g->block_lo[1] &&
                     j <= g->block_hi[1] && k >= g->block_lo[2] && k <= g->block_hi[2];
            int diff = a[n * nvox + v] != b[n * nvox + v];
            outside_diff += !in && diff;
            inside_diff += in && diff;
        }
    CHECK_INT(outside_diff, 0);
    CHECK(inside_diff > 0);
    free(a);
    free(b);
done:
    lrsa_synth_free(sig);
    lrsa_synth_free(null);
}

static void test_schedule(void)
{
    lrsa_synth_opts o = tiny();
    o.subjects = 3;
    o.sessions = 2;
    o.runs = 2;
    o.trials = 5;
    o.repeated_images = 3; /* 20 trials per subject: 11 images, 3 of them 4 times */
    lrsa_synth *s = plan(&o);
    if (!s)
        return;
    int64_t ni = lrsa_synth_nimages(s);
    CHECK_INT(ni, 20 - 9);
    CHECK_INT(lrsa_synth_ntrials(s), 60);
    int64_t nrep = 0, formats[3] = { 0 }, sources[3] = { 0 };
    for (int64_t i = 0; i < ni; i++) {
        const lrsa_synth_image *im = lrsa_synth_image_at(s, i);
        nrep += im->repeated;
        formats[im->format]++;
        sources[0] += strcmp(im->source, "COCO") == 0 && strncmp(im->name, "COCO_train2014_", 15) == 0;
        sources[1] += strcmp(im->source, "ImageNet") == 0 && strstr(im->name, ".JPEG") && im->name[0] == 'n';
        sources[2] += strcmp(im->source, "Scene") == 0;
        for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
            CHECK(im->latents[l] >= -1 && im->latents[l] <= 1);
    }
    CHECK_INT(nrep, 3);
    CHECK_INT(formats[LRSA_IMAGE_PNG], 1);
    CHECK_INT(sources[0] + sources[1] + sources[2], ni);
    CHECK(sources[0] > 0 && sources[1] > 0 && sources[2] > 0);
    int64_t *plain = calloc((size_t)ni, sizeof *plain), *rep = calloc((size_t)ni, sizeof *rep);
    for (int sub = 1; sub <= 3; sub++) {
        memset(plain, 0, sizeof *plain * (size_t)ni);
        memset(rep, 0, sizeof *rep * (size_t)ni);
        for (int64_t q = 0; q < 60; q++) {
            const lrsa_synth_trial *t = lrsa_synth_trial_at(s, q);
            if (t->subject != sub)
                continue;
            (t->rep_prefix ? rep : plain)[t->image]++;
            CHECK(t->onset_ms - (6000 + 10000 * (t->trial - 1)) >= 20);
            CHECK(t->onset_ms - (6000 + 10000 * (t->trial - 1)) <= 40);
            CHECK_INT(t->stimoff_ms / 2000, 3 + 5 * (t->trial - 1));
            CHECK_INT((t->onset_ms + 6000) / 2000, 6 + 5 * (t->trial - 1));
            CHECK(t->response >= 0 && t->response <= 3);
            CHECK((t->response == 0) == (t->rt_ms == 0));
        }
        int ok = 1;
        for (int64_t i = 0; i < ni; i++) {
            const lrsa_synth_image *im = lrsa_synth_image_at(s, i);
            ok &= plain[i] == 1 && rep[i] == (im->repeated ? 3 : 0);
        }
        CHECK_MSG(ok, "subject %d: each image once without rep_, repeated ones 3 more times with it", sub);
    }
    /* Trials are ordered by subject, session, run, trial. */
    const lrsa_synth_trial *t = lrsa_synth_trial_at(s, 37);
    CHECK_INT(t->subject, 2);
    CHECK_INT(t->session, 2);
    CHECK_INT(t->run, 2);
    CHECK_INT(t->trial, 3);
    free(plain);
    free(rep);
    lrsa_synth_free(s);
}

/* Vessels hold every volume's maximum; the centre of mass of the brain sits mid-volume. */
static void check_look(const lrsa_synth_opts *o, const char *what)
{
    lrsa_synth *s = plan(o);
    if (!s)
        return;
    const lrsa_synth_geometry *g = lrsa_synth_geom(s);
    int16_t *d = NULL;
    CHECK_INT(lrsa_synth_run_bold(s, 1, 1, 1, &d, NULL), LRSA_OK);
    int64_t nvox = g->dims[0] * g->dims[1] * g->dims[2];
    int vessel_max = 1;
    double worst_com = 0;
    for (int64_t n = 0; d && n < g->volumes; n++) {
        const int16_t *vol = d + n * nvox;
        int16_t mx = vol[0];
        for (int64_t v = 1; v < nvox; v++)
            mx = vol[v] > mx ? vol[v] : mx;
        for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++) {
            int64_t v = g->vessels[p][0] + g->dims[0] * (g->vessels[p][1] + g->dims[1] * g->vessels[p][2]);
            vessel_max &= vol[v] == mx;
        }
        double w = 0, c[3] = { 0 };
        for (int64_t v = 0; v < nvox; v++) {
            if (vol[v] <= 100)
                continue;
            int64_t ijk[3] = { v % g->dims[0], v / g->dims[0] % g->dims[1], v / (g->dims[0] * g->dims[1]) };
            w += vol[v];
            for (int a = 0; a < 3; a++)
                c[a] += vol[v] * (double)ijk[a];
        }
        for (int a = 0; a < 3; a++) {
            double off = fabs(c[a] / w - (g->dims[a] - 1) / 2.0);
            worst_com = off > worst_com ? off : worst_com;
        }
    }
    fprintf(stderr, "%s: centre of mass at most %.3f voxels off mid-volume (tol 0.5)\n", what, worst_com);
    CHECK_MSG(vessel_max, "%s: a vessel voxel is not the maximum of some volume", what);
    CHECK(worst_com < 0.5);
    /* The brain's baseline is near 500 and the background under nilearn's threshold of 100. */
    CHECK_NEAR(lrsa_synth_baseline(s, (g->dims[0] / 2) + g->dims[0] * ((g->dims[1] / 2) + g->dims[1] * (g->dims[2] / 2))),
               LRSA_SYNTH_BASELINE, 45);
    CHECK(lrsa_synth_baseline(s, 0) < 100);
    free(d);
    lrsa_synth_free(s);
}

static void test_look(void)
{
    lrsa_synth_opts o = tiny();
    check_look(&o, "tiny");
    lrsa_synth_opts_init(&o); /* the default size */
    o.subjects = 1;
    o.runs = 1;
    check_look(&o, "default");
    o = tiny();
    o.signal = 40;
    o.noise = 40; /* far over the vessels' 2000 at times: they must still pin the maximum */
    check_look(&o, "loud");
    o = tiny();
    o.dims[0] = 9;
    o.dims[1] = 13;
    o.dims[2] = 8;
    check_look(&o, "odd dims");
}

static void test_hrf_and_rdm(void)
{
    lrsa_synth_opts o = tiny();
    lrsa_synth *s = plan(&o);
    if (!s)
        return;
    double peak = 0, tpeak = 0;
    for (double t = 0; t < 30; t += 0.01) {
        double x = lrsa_synth_hrf_boxcar(s, t, 1.0);
        if (x > peak) {
            peak = x;
            tpeak = t;
        }
    }
    fprintf(stderr, "hrf 1 s boxcar: peak %.4f at %.2f s\n", peak, tpeak);
    CHECK_NEAR(peak, 1.0, 1e-3);
    CHECK(tpeak > 4.5 && tpeak < 6.5);
    CHECK_NEAR(lrsa_synth_hrf_boxcar(s, 0, 1.0), 0, 1e-12);
    CHECK(lrsa_synth_hrf_boxcar(s, 15, 1.0) < 0); /* the undershoot */

    /* The RDM from the Gram trick equals 1 - Pearson computed on the patterns. */
    int64_t n = lrsa_synth_nimages(s), ns = lrsa_synth_geom(s)->nsignal;
    double *rdm = malloc(sizeof *rdm * (size_t)(n * n));
    double *p = malloc(sizeof *p * (size_t)(n * ns));
    CHECK_INT(lrsa_synth_truth_rdm(s, rdm, NULL), LRSA_OK);
    for (int64_t i = 0; i < n; i++)
        lrsa_synth_pattern(s, i, p + i * ns);
    double maxdiff = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double mi = 0, mj = 0, c = 0, vi = 0, vj = 0;
            for (int64_t v = 0; v < ns; v++) {
                mi += p[i * ns + v] / ns;
                mj += p[j * ns + v] / ns;
            }
            for (int64_t v = 0; v < ns; v++) {
                double a = p[i * ns + v] - mi, b = p[j * ns + v] - mj;
                c += a * b;
                vi += a * a;
                vj += b * b;
            }
            double want = i == j ? 0 : 1 - c / sqrt(vi * vj);
            double d = fabs(rdm[i * n + j] - want);
            maxdiff = d > maxdiff ? d : maxdiff;
        }
    fprintf(stderr, "truth rdm vs direct Pearson: max diff %.3g (tol 1e-9)\n", maxdiff);
    CHECK(maxdiff < 1e-9);
    free(rdm);
    free(p);
    lrsa_synth_free(s);
}

static void test_files(void)
{
    lrsa_synth_opts o = tiny();
    lrsa_synth *s = plan(&o);
    if (!s)
        return;
    const char *dir = scratch("files");
    rm_rf(dir);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_synth_write(s, dir, NULL, &err), LRSA_OK);

    /* events.tsv: the 13 columns, CRLF on every line, BOLD5000's timing. */
    size_t len = 0;
    const char *rel = "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-01_events.tsv";
    char *text = slurp(dir, rel, &len);
    int64_t crlf = 0, lf = 0;
    for (size_t i = 0; text && i < len; i++)
        if (text[i] == '\n') {
            lf++;
            crlf += i > 0 && text[i - 1] == '\r';
        }
    CHECK_INT(lf, 4);
    CHECK_INT(crlf, 4);
    lrsa_tsv *t = NULL;
    CHECK_INT(lrsa_tsv_parse(text, len, rel, &t, &err), LRSA_OK);
    static const char *cols[13] = { "onset", "duration", "Subj", "Sess", "Run", "Trial", "ImgName",
                                    "ImgType", "StimOn(s)", "StimOff(s)", "Response", "RT", "stim_file" };
    if (t) {
        CHECK_INT(t->ncols, 13);
        for (int c = 0; c < 13 && c < t->ncols; c++)
            CHECK_STR(t->header[c], cols[c]);
        CHECK_INT(t->nrows, 3);
        for (int64_t r = 0; r < t->nrows && t->ncols == 13; r++) {
            double on, dur, son, soff;
            int64_t subj, trial;
            CHECK(lrsa_parse_double(lrsa_tsv_cell(t, r, 0), &on) == 0);
            CHECK(lrsa_parse_double(lrsa_tsv_cell(t, r, 1), &dur) == 0);
            CHECK(lrsa_parse_double(lrsa_tsv_cell(t, r, 8), &son) == 0);
            CHECK(lrsa_parse_double(lrsa_tsv_cell(t, r, 9), &soff) == 0);
            CHECK(lrsa_parse_int64(lrsa_tsv_cell(t, r, 2), &subj) == 0 && subj == 2);
            CHECK(lrsa_parse_int64(lrsa_tsv_cell(t, r, 5), &trial) == 0 && trial == r + 1);
            CHECK(on == son);
            CHECK_NEAR(dur, soff - son, 1e-9);
            CHECK_INT((int64_t)(soff / 2.0), 3 + 5 * r);
            CHECK_STR(lrsa_tsv_cell(t, r, 6), lrsa_tsv_cell(t, r, 12));
        }
    }
    lrsa_tsv_free(t);
    free(text);

    /* The NIfTI files read back as planted. */
    char path[8192];
    snprintf(path, sizeof path, "%s/sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-02_bold.nii.gz", dir);
    lrsa_nifti_header h;
    float *vol = NULL;
    int rc = lrsa_nifti_read_volume(path, 6, &h, &vol, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    int16_t *d = NULL;
    CHECK_INT(lrsa_synth_run_bold(s, 1, 1, 2, &d, NULL), LRSA_OK);
    const lrsa_synth_geometry *g = lrsa_synth_geom(s);
    int64_t nvox = g->dims[0] * g->dims[1] * g->dims[2];
    if (rc == LRSA_OK && d) {
        CHECK_INT(h.datatype, 4);
        CHECK_INT(h.dims[3], 9 + 5 * 3);
        CHECK_NEAR(h.tr, 2.0, 1e-9);
        CHECK(h.affine[0][1] != 0 || h.affine[0][2] != 0); /* oblique */
        double maxdiff = 0;
        for (int64_t v = 0; v < nvox; v++)
            maxdiff = fmax(maxdiff, fabs(vol[v] - d[6 * nvox + v]));
        CHECK_NEAR(maxdiff, 0, 0);
        /* The centre voxel sits near the world origin. */
        double c[3] = { (g->dims[0] - 1) / 2.0, (g->dims[1] - 1) / 2.0, (g->dims[2] - 1) / 2.0 };
        for (int r = 0; r < 3; r++)
            CHECK_NEAR(h.affine[r][0] * c[0] + h.affine[r][1] * c[1] + h.affine[r][2] * c[2] + h.affine[r][3], 0, 1e-3);
    }
    free(vol);
    free(d);

    /* Images decode by magic; the PNG (named .jpg) decodes to exactly what was drawn. */
    int64_t S = o.image_size;
    uint8_t *rgb = malloc((size_t)(S * S * 3));
    int seen_png = 0;
    for (int64_t i = 0; i < lrsa_synth_nimages(s); i++) {
        const lrsa_synth_image *im = lrsa_synth_image_at(s, i);
        snprintf(path, sizeof path, "%s/stimuli/Scene_Stimuli/Presented_Stimuli/%s/%s", dir, im->source, im->name);
        lrsa_image img;
        rc = lrsa_image_read(path, &img, &err);
        CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
        if (rc)
            continue;
        CHECK_INT(img.width, S);
        lrsa_synth_render_image(s, i, rgb);
        double sum = 0;
        for (int64_t k = 0; k < S * S * 3; k++)
            sum += abs((int)img.data[k] - (int)rgb[k]);
        if (im->format == LRSA_IMAGE_PNG) {
            seen_png = 1;
            CHECK(strstr(im->name, ".jpg") != NULL);
            CHECK_NEAR(sum, 0, 0);
        } else {
            CHECK(sum / (S * S * 3) < 4);
        }
        lrsa_image_release(&img);
    }
    CHECK(seen_png);
    free(rgb);

    /* A non-empty directory is refused without force, accepted with it. */
    rc = lrsa_synth_write(s, dir, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "not empty");
    lrsa_synth_free(s);
    o.force = 1;
    s = plan(&o);
    CHECK_INT(lrsa_synth_write(s, dir, NULL, &err), LRSA_OK);
    lrsa_synth_free(s);
}

static void test_options(void)
{
    lrsa_synth_opts o;
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_synth_opts_init(&o);
    CHECK_INT(lrsa_synth_opts_check(&o, &err), LRSA_OK);
    o.trials = 0;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--trials must be 1 to 200, got 0");
    lrsa_synth_opts_init(&o);
    o.dims[2] = 7;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--dims");
    lrsa_synth_opts_init(&o);
    o.repeated_images = 6; /* 20 trials per subject hold at most 5 */
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--repeated-images 6");
    o.repeated_images = 5;
    CHECK_INT(lrsa_synth_opts_check(&o, &err), LRSA_OK);
    lrsa_synth_opts_init(&o);
    o.signal = -1;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--signal");
    o.signal = NAN;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--signal");
    lrsa_synth_opts_init(&o);
    o.noise = -0.5;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--noise");
    lrsa_synth_opts_init(&o);
    o.subjects = 10;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "--subjects");
    lrsa_synth_opts_init(&o);
    o.dims[0] = o.dims[1] = o.dims[2] = 256;
    o.trials = 200;
    CHECK_ERR(lrsa_synth_opts_check(&o, &err), err, LRSA_EMISUSE, "over the limit");
    lrsa_synth *s = (lrsa_synth *)&o; /* must be reset to NULL on failure */
    o.trials = 0;
    CHECK_INT(lrsa_synth_new(&o, &s, &err), LRSA_EMISUSE);
    CHECK(s == NULL);
}

int main(void)
{
    RUN(test_options);
    RUN(test_determinism);
    RUN(test_signal_and_null);
    RUN(test_schedule);
    RUN(test_look);
    RUN(test_hrf_and_rdm);
    RUN(test_files);
    return harness_done();
}
