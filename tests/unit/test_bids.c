/* BIDS scanning: layouts (BIDS, flattened, unpadded, no session level), CRLF, permuted columns,
 * localizer runs, ignored folders, both volume rules, trials.tsv round trip, and every bad input
 * named in the scan issue. Each test builds a tiny dataset under $LRSA_TMP/bids/<name>. */
#include "harness.h"
#include "latentrsa/bids.h"
#include "latentrsa/nifti.h"

#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ===== Building datasets =============================================== */
static char g_path[4096];

/* $LRSA_TMP/bids/<fmt...> (a static buffer: use the result before the next call). */
static const char *tmp_path(const char *fmt, ...)
{
    char rel[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(g_path, sizeof g_path, "%s/bids/%s", harness_tmpdir(), rel);
    return g_path;
}

static void rm_rf(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    CHECK(system(cmd) == 0);
}

/* A fresh dataset directory; returns its path (static). */
static char g_root[4096];
static const char *new_root(const char *name)
{
    snprintf(g_root, sizeof g_root, "%s/bids/%s", harness_tmpdir(), name);
    rm_rf(g_root);
    CHECK(lrsa_mkdir_p(g_root, NULL) == LRSA_OK);
    return g_root;
}

/* Create the parent directories of root/rel and return the full path (static). */
static const char *in_root(const char *root, const char *rel)
{
    static char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", full);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    CHECK(lrsa_mkdir_p(dir, NULL) == LRSA_OK);
    return full;
}

static void write_text(const char *root, const char *rel, const char *text)
{
    const char *p = in_root(root, rel);
    FILE *fp = fopen(p, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fputs(text, fp);
    fclose(fp);
}

/* A 4x4x3xNT int16 BOLD file with this TR (seconds). */
static void write_bold(const char *root, const char *rel, int64_t nt, double tr)
{
    lrsa_nifti_header h;
    memset(&h, 0, sizeof h);
    h.ndim = 4;
    h.dims[0] = 4;
    h.dims[1] = 4;
    h.dims[2] = 3;
    h.dims[3] = nt;
    h.datatype = 4;
    h.bytes_per_voxel = 2;
    h.pixdim[0] = h.pixdim[1] = h.pixdim[2] = 2.0;
    h.pixdim[3] = tr;
    h.tr = tr;
    h.xyzt_units = 2 | 8; /* mm, s */
    for (int a = 0; a < 3; a++)
        h.affine[a][a] = 2.0;
    h.affine[3][3] = 1.0;
    h.sform_code = h.qform_code = 1;
    size_t n = (size_t)(48 * nt);
    int16_t *data = malloc(n * sizeof *data);
    for (size_t i = 0; i < n; i++)
        data[i] = (int16_t)(100 + i % 500);
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_nifti_write(in_root(root, rel), &h, data, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    free(data);
}

/* BOLD5000's 13 events columns. */
static const char *const cols13[13] = {
    "onset", "duration", "Subj", "Sess", "Run", "Trial", "ImgName", "ImgType", "StimOn(s)",
    "StimOff(s)", "Response", "RT", "stim_file",
};

/* Events text for `ntrials` trials in the given column order (names from cols13 or "extra").
 * Trial k has onset 6.024 + 10 (k-1) and StimOff onset + 0.976; ImgName "<stim>k.jpg". */
static char *events_text(int ncols, const char *const *order, int sess, int run, int ntrials,
                         const char *stim, const char *eol)
{
    static char buf[65536];
    size_t len = 0;
    for (int c = 0; c < ncols; c++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", order[c], c + 1 < ncols ? "\t" : eol);
    for (int k = 1; k <= ntrials; k++) {
        double onset = 6.024 + 10.0 * (k - 1);
        for (int c = 0; c < ncols; c++) {
            char v[128];
            const char *n = order[c];
            if (!strcmp(n, "onset") || !strcmp(n, "StimOn(s)"))
                snprintf(v, sizeof v, "%.3f", onset);
            else if (!strcmp(n, "duration"))
                snprintf(v, sizeof v, "0.976");
            else if (!strcmp(n, "Subj"))
                snprintf(v, sizeof v, "1");
            else if (!strcmp(n, "Sess"))
                snprintf(v, sizeof v, "%d", sess);
            else if (!strcmp(n, "Run"))
                snprintf(v, sizeof v, "%d", run);
            else if (!strcmp(n, "Trial"))
                snprintf(v, sizeof v, "%d", k);
            else if (!strcmp(n, "ImgName") || !strcmp(n, "stim_file"))
                snprintf(v, sizeof v, "%s%d.jpg", stim, k);
            else if (!strcmp(n, "ImgType"))
                snprintf(v, sizeof v, k == 1 ? "rep_coco" : "scenes");
            else if (!strcmp(n, "StimOff(s)"))
                snprintf(v, sizeof v, "%.3f", onset + 0.976);
            else if (!strcmp(n, "Response"))
                snprintf(v, sizeof v, "1");
            else if (!strcmp(n, "RT"))
                snprintf(v, sizeof v, "0.8");
            else
                snprintf(v, sizeof v, "x%d", k);
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", v, c + 1 < ncols ? "\t" : eol);
        }
    }
    return buf;
}

/* One standard run: BOLD (nt volumes, TR 2) plus events (13 columns, LF). stem is the root-relative
 * path without "_bold.nii.gz". */
static void std_run(const char *root, const char *stem, int sess, int run, int ntrials,
                    const char *stim, int64_t nt)
{
    char rel[1024];
    snprintf(rel, sizeof rel, "%s_bold.nii.gz", stem);
    write_bold(root, rel, nt, 2.0);
    snprintf(rel, sizeof rel, "%s_events.tsv", stem);
    write_text(root, rel, events_text(13, cols13, sess, run, ntrials, stim, "\n"));
}

static int scan(const char *root, const char *rule, int verify, lrsa_trials **t,
                lrsa_scan_summary *s, lrsa_err *err)
{
    lrsa_scan_opts o;
    lrsa_scan_opts_init(&o);
    o.verify = verify;
    if (rule)
        CHECK(lrsa_volume_rule_parse(rule, &o.rule, err) == LRSA_OK);
    lrsa_err_init(err);
    *t = NULL;
    return lrsa_bids_scan(root, &o, NULL, t, s, err);
}

/* ===== Tests =========================================================== */
static void test_rules(void)
{
    lrsa_volume_rule r;
    lrsa_err err;
    lrsa_err_init(&err);
    char buf[64];
    r = lrsa_volume_rule_default();
    CHECK_STR(lrsa_volume_rule_format(&r, buf, sizeof buf), "lag:5");
    CHECK_INT(lrsa_volume_rule_parse("lag:4.5", &r, &err), LRSA_OK);
    CHECK_INT(r.kind, LRSA_VOLUME_LAG);
    CHECK_STR(lrsa_volume_rule_format(&r, buf, sizeof buf), "lag:4.5");
    CHECK_INT(lrsa_volume_rule_parse("stimoff", &r, &err), LRSA_OK);
    CHECK_STR(lrsa_volume_rule_format(&r, buf, sizeof buf), "stimoff");
    /* BOLD5000 trial 1: onset 6.024, StimOff 7.0, TR 2: stimoff floor(3.5) = 3. */
    CHECK_INT(lrsa_volume_rule_apply(&r, 6.024, 7.0, 2.0), 3);
    CHECK_INT(lrsa_volume_rule_apply(&r, 16.03, 17.01, 2.0), 8);
    lrsa_volume_rule lag5 = lrsa_volume_rule_default();
    /* floor((6.024 + 5) / 2 + 0.5) = floor(6.012) = 6; floor((16.03 + 5)/2 + .5) = 11. */
    CHECK_INT(lrsa_volume_rule_apply(&lag5, 6.024, 7.0, 2.0), 6);
    CHECK_INT(lrsa_volume_rule_apply(&lag5, 16.03, 17.01, 2.0), 11);
    /* Rounding to nearest: (1 + 5) / 2 + .5 = 3.5 -> 3; (2 + 5) / 2 + .5 = 4 -> 4. */
    CHECK_INT(lrsa_volume_rule_apply(&lag5, 1.0, 0, 2.0), 3);
    CHECK_INT(lrsa_volume_rule_apply(&lag5, 2.0, 0, 2.0), 4);
    const char *bad[] = { "lag:", "lag:abc", "lag:-1", "lag:61", "lag:nan", "stim", "", "LAG:5",
                          "lag:5s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lrsa_err_init(&err);
        int rc = lrsa_volume_rule_parse(bad[i], &r, &err);
        CHECK_ERR(rc, err, LRSA_EFORMAT, "volume rule");
    }
}

static void test_label_cmp(void)
{
    CHECK(lrsa_label_cmp("CSI2", "CSI10") < 0);
    CHECK(lrsa_label_cmp("CSI10", "CSI2") > 0);
    CHECK(lrsa_label_cmp("01", "2") < 0);
    CHECK(lrsa_label_cmp("1", "01") != 0);
    CHECK(lrsa_label_cmp("01", "01") == 0);
    CHECK(lrsa_label_cmp("a", "ab") < 0);
    CHECK(lrsa_label_cmp("x9y", "x10a") < 0);
}

/* The real layout: two subjects (natural order), sessions, runs, a localizer, tmp_dcm2bids and
 * derivatives holding stray BOLD files, fmap/anat folders. */
static void test_normal(void)
{
    const char *root = new_root("normal");
    write_text(root, "dataset_description.json", "{\"Name\": \"t\", \"BIDSVersion\": \"1.0.2\"}\n");
    write_text(root, ".bidsignore", "tmp_dcm2bids/\n");
    std_run(root, "sub-CSI10/ses-01/func/sub-CSI10_ses-01_task-5000scenes_run-01", 1, 1, 3, "a", 20);
    std_run(root, "sub-CSI2/ses-02/func/sub-CSI2_ses-02_task-5000scenes_run-01", 2, 1, 3, "b", 20);
    std_run(root, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-10", 1, 10, 2, "a", 20);
    std_run(root, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-02", 1, 2, 3, "a", 20);
    /* A localizer: no run- entity, other columns. */
    write_bold(root, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-localizer_bold.nii.gz", 10, 2.0);
    write_text(root, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-localizer_events.tsv",
               "onset\tduration\tTR\tTrial\tStimOn\tStimOff\tcond\timage\t1back\tResponse\tRT\tAccuracy\r\n"
               "0\t1\t2\t1\t0\t1\tface\tf1.jpg\t0\t0\t0\t1\r\n");
    /* Stray BOLD files that must never be read: tmp_dcm2bids (no events!), derivatives, fmap. */
    write_bold(root, "tmp_dcm2bids/sub-CSI2_ses-01/sub-CSI2_ses-01_task-5000scenes_run-03_bold.nii.gz", 5, 2.0);
    write_bold(root, "sub-CSI2/ses-01/tmp_dcm2bids/sub-CSI2_ses-01_task-5000scenes_run-04_bold.nii.gz", 5, 2.0);
    std_run(root, "derivatives/fmriprep/sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-05", 1, 5, 3, "z", 20);
    write_text(root, "derivatives/fmriprep/sub-CSI2/ses-01/func/garbage_bold.nii.gz", "not a nifti");
    write_bold(root, "sub-CSI2/ses-01/fmap/sub-CSI2_ses-01_acq-PA_epi.nii.gz", 1, 2.0);
    write_bold(root, "sub-CSI2/ses-16/anat/sub-CSI2_ses-16_run-01_T1w.nii.gz", 1, 0.0);
    write_text(root, "sub-CSI2/sub-CSI2_sessions.tsv", "session_id\nses-01\n");

    lrsa_trials *t;
    lrsa_scan_summary s;
    lrsa_err err;
    int rc = scan(root, NULL, 1, &t, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return;
    CHECK_INT(t->n, 11);
    CHECK_INT(s.subjects, 2);
    CHECK_INT(s.sessions, 3);
    CHECK_INT(s.runs, 4);
    CHECK_INT(s.trials, 11);
    /* a1..a3 (CSI2 twice: runs 2 and 10 have a1, a2; CSI10 has a1..a3), b1..b3 -> 6 stimuli;
     * repeated within a subject: a1 and a2 (CSI2 runs 2 and 10). */
    CHECK_INT(s.stimuli, 6);
    CHECK_INT(s.repeated, 2);
    CHECK_INT(s.skipped_other_task, 1);
    CHECK_INT(s.skipped_no_run, 0);
    /* Order: CSI2 before CSI10; ses 01 before 02; run 2 before 10. */
    CHECK_STR(t->rows[0].subject, "CSI2");
    CHECK_STR(t->rows[0].session, "01");
    CHECK_INT(t->rows[0].run, 2);
    CHECK_INT(t->rows[0].trial, 1);
    CHECK_INT(t->rows[3].run, 10);
    CHECK_INT(t->rows[5].run, 1);
    CHECK_STR(t->rows[5].session, "02");
    CHECK_STR(t->rows[7].subject, "CSI2");
    CHECK_STR(t->rows[8].subject, "CSI10");
    const lrsa_trial *r = &t->rows[1];
    CHECK_STR(r->stimulus, "a2.jpg");
    CHECK_STR(r->img_type, "scenes");
    CHECK_STR(t->rows[0].img_type, "rep_coco");
    CHECK_NEAR(r->onset, 16.024, 0);
    CHECK_NEAR(r->stim_off, 17.0, 0);
    CHECK_NEAR(r->tr, 2.0, 0);
    CHECK_INT(r->nvolumes, 20);
    CHECK_STR(r->bold, "sub-CSI2/ses-01/func/sub-CSI2_ses-01_task-5000scenes_run-02_bold.nii.gz");
    /* lag:5 with TR 2: trial k -> floor((6.024 + 10(k-1) + 5)/2 + .5) = 6 + 5(k-1). */
    for (int64_t i = 0; i < t->n; i++)
        CHECK_INT(t->rows[i].volume, 6 + 5 * (t->rows[i].trial - 1));
    CHECK(t->have_rule && t->rule.kind == LRSA_VOLUME_LAG);
    lrsa_trials_free(t);

    /* The paper's rule: floor(StimOff / 2) = floor((7.0 + 10(k-1)) / 2) = 3 + 5(k-1). */
    rc = scan(root, "stimoff", 0, &t, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    for (int64_t i = 0; rc == LRSA_OK && i < t->n; i++)
        CHECK_INT(t->rows[i].volume, 3 + 5 * (t->rows[i].trial - 1));
    lrsa_trials_free(t);

    /* Another task: only the localizer, which has no run- entity: skipped, so nothing is found. */
    lrsa_scan_opts o;
    lrsa_scan_opts_init(&o);
    o.task = "localizer";
    lrsa_err_init(&err);
    rc = lrsa_bids_scan(root, &o, NULL, &t, &s, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no BOLD runs of task 'localizer'");
}

/* CRLF line endings, columns permuted, an extra column, no Trial column; TR 1.5 and lag:4.5. */
static void test_crlf_permuted(void)
{
    const char *root = new_root("crlf");
    static const char *const order[] = { "stim_file", "extra", "ImgType", "RT", "StimOff(s)",
                                         "Run", "ImgName", "Sess", "onset", "Subj" };
    write_bold(root, "sub-01/ses-1/func/sub-01_ses-1_task-5000scenes_run-3_bold.nii.gz", 30, 1.5);
    write_text(root, "sub-01/ses-1/func/sub-01_ses-1_task-5000scenes_run-3_events.tsv",
               events_text(10, order, 1, 3, 3, "c", "\r\n"));
    lrsa_trials *t;
    lrsa_scan_summary s;
    lrsa_err err;
    int rc = scan(root, "lag:4.5", 0, &t, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return;
    CHECK_INT(t->n, 3);
    CHECK_STR(t->rows[0].subject, "01");
    CHECK_STR(t->rows[0].session, "1");
    CHECK_INT(t->rows[0].run, 3);
    CHECK_STR(t->rows[2].stimulus, "c3.jpg"); /* no CR carried over */
    CHECK_STR(t->rows[2].img_type, "scenes");
    CHECK_INT(t->rows[2].trial, 3);            /* row number: no Trial column */
    /* floor((onset + 4.5) / 1.5 + .5): 6.024 -> 7.516 -> 7; 16.024 -> 14.18 -> 14;
     * 26.024 -> 20.85 -> 20. */
    CHECK_INT(t->rows[0].volume, 7);
    CHECK_INT(t->rows[1].volume, 14);
    CHECK_INT(t->rows[2].volume, 20);
    CHECK_NEAR(t->rows[0].tr, 1.5, 0);
    lrsa_trials_free(t);
}

/* The paper's flattened layout, with file names renamed to unpadded numbers (ses-1, run-1) while
 * the directories keep ses-01; and a subject without a session level. */
static void test_flattened_unpadded(void)
{
    const char *root = new_root("flat");
    std_run(root, "sub-CSI1/ses-01/sub-CSI1_ses-1_task-5000scenes_run-1", 1, 1, 2, "f", 20);
    std_run(root, "sub-CSI1/ses-01/sub-CSI1_ses-1_task-5000scenes_run-2", 1, 2, 2, "g", 20);
    std_run(root, "sub-CSI1/ses-10/sub-CSI1_ses-10_task-5000scenes_run-1", 10, 1, 1, "h", 20);
    std_run(root, "sub-CSI3/func/sub-CSI3_task-5000scenes_run-01", 0, 1, 2, "f", 20);
    lrsa_trials *t;
    lrsa_scan_summary s;
    lrsa_err err;
    int rc = scan(root, NULL, 0, &t, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return;
    CHECK_INT(t->n, 7);
    CHECK_STR(t->rows[0].session, "1"); /* from the file name (DESIGN.md 7) */
    CHECK_INT(t->rows[2].run, 2);
    CHECK_STR(t->rows[4].session, "10");
    CHECK_STR(t->rows[0].bold, "sub-CSI1/ses-01/sub-CSI1_ses-1_task-5000scenes_run-1_bold.nii.gz");
    CHECK_STR(t->rows[5].subject, "CSI3");
    CHECK_STR(t->rows[5].session, "n/a");
    CHECK_INT(s.sessions, 3);
    CHECK_INT(s.stimuli, 5);
    CHECK_INT(s.repeated, 0); /* f1 and f2 are seen by two subjects, once each */
    lrsa_trials_free(t);
}

/* trials.tsv: write, read back, compare; then a few broken tables. */
static void test_trials_roundtrip(void)
{
    const char *root = new_root("roundtrip");
    std_run(root, "sub-A/ses-01/func/sub-A_ses-01_task-5000scenes_run-01", 1, 1, 3, "r", 20);
    std_run(root, "sub-B/ses-01/func/sub-B_ses-01_task-5000scenes_run-01", 1, 1, 3, "r", 20);
    lrsa_trials *t, *u;
    lrsa_scan_summary s, s2;
    lrsa_err err;
    int rc = scan(root, NULL, 0, &t, &s, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/trials.tsv", tmp_path("roundtrip-out"));
    CHECK(lrsa_mkdir_p(tmp_path("roundtrip-out"), NULL) == LRSA_OK);
    FILE *fp = fopen(path, "w");
    CHECK_INT(lrsa_trials_write(fp, t, path, &err), LRSA_OK);
    fclose(fp);
    rc = lrsa_trials_read(path, &u, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc == LRSA_OK) {
        CHECK_INT(u->n, t->n);
        for (int64_t i = 0; i < t->n && i < u->n; i++) {
            const lrsa_trial *a = &t->rows[i], *b = &u->rows[i];
            CHECK_STR(b->subject, a->subject);
            CHECK_STR(b->session, a->session);
            CHECK_STR(b->stimulus, a->stimulus);
            CHECK_STR(b->img_type, a->img_type);
            CHECK_STR(b->bold, a->bold);
            CHECK(a->run == b->run && a->trial == b->trial && a->volume == b->volume);
            CHECK(a->onset == b->onset && a->stim_off == b->stim_off && a->tr == b->tr);
        }
        CHECK_INT(lrsa_trials_summarize(u, &s2, &err), LRSA_OK);
        CHECK_INT(s2.subjects, 2);
        CHECK_INT(s2.runs, 2);
        CHECK_INT(s2.stimuli, 3);
        CHECK_INT(s2.repeated, 0);
        lrsa_trials_free(u);
    }
    lrsa_trials_free(t);

    const char *hdr = "subject\tsession\trun\ttrial\tstimulus\timg_type\tonset\tstim_off\ttr\tvolume\tbold\n";
    struct { const char *body, *needle; int code; } bad[] = {
        { "subject\tsession\n", "missing column 'run'", LRSA_EFORMAT },
        { "", "no trials", LRSA_EEMPTY },
        { "A\t01\t1\t1\ta.jpg\tcoco\t6\t7\t2\tx\tb.nii.gz\n", "line 2 column 10: volume 'x'", LRSA_EFORMAT },
        { "A\t01\t1\t0\ta.jpg\tcoco\t6\t7\t2\t3\tb.nii.gz\n", "line 2 column 4: trial '0'", LRSA_EFORMAT },
        { "A\t01\t1\t1\ta.jpg\tcoco\t6\t7\t0\t3\tb.nii.gz\n", "line 2 column 9: tr '0'", LRSA_EFORMAT },
        { "A\t01\t1\t1\t\tcoco\t6\t7\t2\t3\tb.nii.gz\n", "line 2 column 5: stimulus is empty", LRSA_EFORMAT },
        { "A\t01\t1\t1\ta.jpg\tcoco\tnan\t7\t2\t3\tb.nii.gz\n", "line 2 column 7: onset", LRSA_EFORMAT },
        { "A\t01\t1\t1\ta.jpg\tcoco\t6\t7\t2\t3\tb.nii.gz\nA\t01\t1\t2\tb.jpg\tcoco\t6\t7\t2\t3\tb.nii.gz\n"
          "A\t01\t1\t1\tc.jpg\tcoco\t6\t7\t2\t3\tb.nii.gz\n", "line 4: sub-A ses-01 run 1 trial 1 again (also on line 2)",
          LRSA_EFORMAT },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp = fopen(path, "w");
        if (i > 0)
            fputs(hdr, fp);
        fputs(bad[i].body, fp);
        fclose(fp);
        lrsa_err_init(&err);
        u = NULL;
        rc = lrsa_trials_read(path, &u, &err);
        CHECK_ERR(rc, err, bad[i].code, bad[i].needle);
        CHECK(u == NULL);
    }
    /* Extra columns and another order are fine. */
    fp = fopen(path, "w");
    fputs("note\tbold\tvolume\ttr\tstim_off\tonset\timg_type\tstimulus\ttrial\trun\tsession\tsubject\r\n"
          "hi\tb.nii.gz\t3\t2\t7\t6.5\tcoco\ta.jpg\t1\t1\t01\tA\r\n", fp);
    fclose(fp);
    rc = lrsa_trials_read(path, &u, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc == LRSA_OK) {
        CHECK_STR(u->rows[0].subject, "A");
        CHECK_NEAR(u->rows[0].onset, 6.5, 0);
        CHECK_INT(u->rows[0].volume, 3);
        lrsa_trials_free(u);
    }
}

/* A hand-made NIfTI-1 header with absurd dimensions, gzipped, with no data after it. */
static void write_absurd(const char *path)
{
    unsigned char h[352];
    memset(h, 0, sizeof h);
    int32_t sz = 348;
    memcpy(h, &sz, 4);
    int16_t dim[8] = { 4, 30000, 30000, 30000, 10, 1, 1, 1 };
    memcpy(h + 40, dim, sizeof dim);
    int16_t dt = 4, bitpix = 16;
    memcpy(h + 70, &dt, 2);
    memcpy(h + 72, &bitpix, 2);
    float pix[8] = { 1, 2, 2, 2, 2, 1, 1, 1 };
    memcpy(h + 76, pix, sizeof pix);
    float off = 352;
    memcpy(h + 108, &off, 4);
    h[123] = 10;
    memcpy(h + 344, "n+1", 4);
    gzFile gz = gzopen(path, "wb");
    CHECK(gz != NULL);
    gzwrite(gz, h, sizeof h);
    gzclose(gz);
}

static void expect_scan_error(const char *root, const char *rule, int verify, int code,
                              const char *needle1, const char *needle2)
{
    lrsa_trials *t;
    lrsa_scan_summary s;
    lrsa_err err;
    int rc = scan(root, rule, verify, &t, &s, &err);
    CHECK_ERR(rc, err, code, needle1);
    if (needle2)
        CHECK_MSG(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    CHECK(t == NULL);
    if (rc == LRSA_OK)
        lrsa_trials_free(t);
}

#define RUNSTEM "sub-X/ses-01/func/sub-X_ses-01_task-5000scenes_run-01"

static void test_errors(void)
{
    const char *root;
    /* Missing events file. */
    root = new_root("err-noevents");
    write_bold(root, RUNSTEM "_bold.nii.gz", 20, 2.0);
    expect_scan_error(root, NULL, 0, LRSA_ENOTFOUND, "run-01_events.tsv': missing events file",
                      "run-01_bold.nii.gz");

    /* Missing required column. */
    static const char *const noimgtype[] = { "onset", "duration", "Trial", "ImgName", "StimOff(s)" };
    root = new_root("err-nocol");
    write_bold(root, RUNSTEM "_bold.nii.gz", 20, 2.0);
    write_text(root, RUNSTEM "_events.tsv", events_text(5, noimgtype, 1, 1, 2, "a", "\r\n"));
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "_events.tsv' line 1: missing required column 'ImgType'",
                      NULL);

    /* Non-numeric onset, line 3 column 2. */
    root = new_root("err-onset");
    write_bold(root, RUNSTEM "_bold.nii.gz", 20, 2.0);
    write_text(root, RUNSTEM "_events.tsv",
               "Trial\tonset\tImgName\tImgType\tStimOff(s)\r\n1\t6.0\ta.jpg\tcoco\t7.0\r\n"
               "2\tsixteen\tb.jpg\tcoco\t17.0\r\n");
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "_events.tsv' line 3 column 2: onset 'sixteen' is not a number",
                      NULL);

    /* A trial whose volume falls outside the run: 3 trials, only 12 volumes; trial 3 -> volume 16. */
    root = new_root("err-outside");
    std_run(root, RUNSTEM, 1, 1, 3, "a", 12);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "_events.tsv' line 4: trial 3", "outside the 12 volumes");
    /* ... under stimoff it is volume 13: still outside; with 14 volumes it fits. */
    expect_scan_error(root, "stimoff", 0, LRSA_EFORMAT, "volume 13 by rule stimoff", NULL);

    /* Run column disagrees with the file name; Sess too; duplicate trial. */
    root = new_root("err-run");
    write_bold(root, RUNSTEM "_bold.nii.gz", 20, 2.0);
    write_text(root, RUNSTEM "_events.tsv", events_text(13, cols13, 1, 2, 2, "a", "\r\n"));
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "line 2 column 5: Run is '2' but the file name says run 1",
                      NULL);
    write_text(root, RUNSTEM "_events.tsv", events_text(13, cols13, 3, 1, 2, "a", "\r\n"));
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "line 2 column 4: Sess is '3' but the file name says ses-01",
                      NULL);
    write_text(root, RUNSTEM "_events.tsv",
               "Trial\tonset\tImgName\tImgType\tStimOff(s)\n1\t6.0\ta.jpg\tcoco\t7.0\n1\t16\tb.jpg\tcoco\t17\n");
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "line 3 column 1: trial 1 again (first on line 2)", NULL);

    /* The file name's subject disagrees with its directory. */
    root = new_root("err-sub");
    std_run(root, "sub-X/ses-01/func/sub-Y_ses-01_task-5000scenes_run-01", 1, 1, 2, "a", 20);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "the file name says sub-Y but it lies in sub-X", NULL);
    root = new_root("err-ses");
    std_run(root, "sub-X/ses-01/func/sub-X_ses-02_task-5000scenes_run-01", 1, 1, 2, "a", 20);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "the file name says ses-02 but it lies in ses-01", NULL);

    /* The same run twice (func/ and flattened). */
    root = new_root("err-dup");
    std_run(root, RUNSTEM, 1, 1, 2, "a", 20);
    std_run(root, "sub-X/ses-01/sub-X_ses-01_task-5000scenes_run-1", 1, 1, 2, "a", 20);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "are both sub-X ses-01 run 1", NULL);

    /* A truncated .nii.gz: the header still reads, so only --verify finds it. */
    root = new_root("err-trunc");
    std_run(root, RUNSTEM, 1, 1, 2, "a", 20);
    char bold[4096];
    snprintf(bold, sizeof bold, "%s/" RUNSTEM "_bold.nii.gz", root);
    struct stat st;
    CHECK(stat(bold, &st) == 0);
    CHECK(truncate(bold, st.st_size / 2) == 0);
    lrsa_trials *t;
    lrsa_err err;
    CHECK_INT(scan(root, NULL, 0, &t, NULL, &err), LRSA_OK);
    lrsa_trials_free(t);
    expect_scan_error(root, NULL, 1, LRSA_EFORMAT, "run-01_bold.nii.gz", NULL);

    /* A corrupt .nii.gz (not gzip, not NIfTI). */
    root = new_root("err-corrupt");
    std_run(root, RUNSTEM, 1, 1, 2, "a", 20);
    write_text(root, RUNSTEM "_bold.nii.gz", "this is not a nifti file, not even gzip, just text...........\n"
                                             "padding padding padding padding padding padding padding padding\n"
                                             "padding padding padding padding padding padding padding padding\n"
                                             "padding padding padding padding padding padding padding padding\n"
                                             "padding padding padding padding padding padding padding padding\n"
                                             "padding padding padding padding padding padding padding padding\n");
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "run-01_bold.nii.gz", NULL);
    /* A gzip stream cut inside the header. */
    std_run(root, RUNSTEM, 1, 1, 2, "a", 20);
    snprintf(bold, sizeof bold, "%s/" RUNSTEM "_bold.nii.gz", root);
    CHECK(truncate(bold, 40) == 0);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "run-01_bold.nii.gz", NULL);

    /* Absurd dimensions: rejected from the header alone. */
    root = new_root("err-absurd");
    std_run(root, RUNSTEM, 1, 1, 2, "a", 20);
    snprintf(bold, sizeof bold, "%s/" RUNSTEM "_bold.nii.gz", root);
    write_absurd(bold);
    expect_scan_error(root, NULL, 0, LRSA_EFORMAT, "run-01_bold.nii.gz", NULL);

    /* Empty datasets: nothing at all; only a localizer; a directory that does not exist. */
    root = new_root("err-empty");
    expect_scan_error(root, NULL, 0, LRSA_EEMPTY, "no BOLD runs of task '5000scenes'", NULL);
    write_bold(root, "sub-X/ses-01/func/sub-X_ses-01_task-localizer_bold.nii.gz", 10, 2.0);
    write_text(root, "sub-X/ses-01/func/sub-X_ses-01_task-localizer_events.tsv", "onset\tTR\n0\t2\n");
    expect_scan_error(root, NULL, 0, LRSA_EEMPTY, "no BOLD runs of task '5000scenes'", NULL);
    /* Runs whose events have no rows. */
    write_bold(root, RUNSTEM "_bold.nii.gz", 20, 2.0);
    write_text(root, RUNSTEM "_events.tsv", "onset\tImgName\tImgType\tStimOff(s)\r\n");
    expect_scan_error(root, NULL, 0, LRSA_EEMPTY, "no trials", NULL);
    expect_scan_error(tmp_path("does-not-exist"), NULL, 0, LRSA_ENOTFOUND, "not a directory", NULL);
}

int main(void)
{
    RUN(test_rules);
    RUN(test_label_cmp);
    RUN(test_normal);
    RUN(test_crlf_permuted);
    RUN(test_flattened_unpadded);
    RUN(test_trials_roundtrip);
    RUN(test_errors);
    return harness_done();
}
