/* Stimulus alignment (align.h): the join by stimulus, the quarters assignment (balance, only to a
 * subject who saw the image, determinism by seed), per-subject and average, the averaging of
 * repeats, the canonical order, invariance to the input row order (byte for byte), other dtypes
 * and memory orders, and every bad input (one error naming the file, nothing left behind). */
#include "harness.h"
#include "latentrsa/align.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[2048];

/* ===== Building inputs ======================================================================== */

/* A trial row: stimulus, subject, session, run, trial (NULL = n/a). */
typedef struct trow {
    const char *stim, *subj, *ses, *run, *trial;
} trow;

static lrsa_labels *labels_of(const trow *rows, int64_t n)
{
    lrsa_labels *l = lrsa_labels_new(n, NULL);
    for (int64_t i = 0; i < n; i++) {
        lrsa_labels_set(l, i, LRSA_LBL_STIMULUS, rows[i].stim, NULL);
        lrsa_labels_set(l, i, LRSA_LBL_SOURCE, "COCO", NULL);
        lrsa_labels_set(l, i, LRSA_LBL_SUBJECT, rows[i].subj, NULL);
        lrsa_labels_set(l, i, LRSA_LBL_SESSION, rows[i].ses, NULL);
        lrsa_labels_set(l, i, LRSA_LBL_RUN, rows[i].run, NULL);
        lrsa_labels_set(l, i, LRSA_LBL_TRIAL, rows[i].trial, NULL);
    }
    return l;
}

/* Image labels: one row per name, subject n/a. */
static lrsa_labels *image_labels(const char *const *names, int64_t n)
{
    lrsa_labels *l = lrsa_labels_new(n, NULL);
    for (int64_t i = 0; i < n; i++) {
        lrsa_labels_set(l, i, LRSA_LBL_STIMULUS, names[i], NULL);
        lrsa_labels_set(l, i, LRSA_LBL_SOURCE, "Scene", NULL);
    }
    return l;
}

static char *path_in(const char *name)
{
    static char buf[8][2300];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Write X.npy (float32 n x d) and its sidecar. */
static void write_input(const char *name, const float *x, int64_t n, int64_t d, const lrsa_labels *l)
{
    lrsa_err err;
    lrsa_err_init(&err);
    int64_t shape[2] = { n, d };
    char *p = path_in(name), lp[2400];
    int rc = lrsa_npy_write_f32(p, 2, shape, x, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (l) {
        snprintf(lp, sizeof lp, "%.*s.labels.tsv", (int)(strlen(p) - 4), p);
        rc = lrsa_labels_write(lp, l, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
    }
}

static char *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    if (lrsa_read_file(path, 0, &data, len, NULL))
        return NULL;
    return data;
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static float *read_matrix(const char *path, int64_t *n, int64_t *d)
{
    lrsa_tensor *t = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_npy_read_f32(path, &t, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return NULL;
    }
    *n = t->shape[0];
    *d = t->shape[1];
    float *x = t->data;
    t->owns = 0;
    t->data = NULL;
    lrsa_tensor_free(t);
    return x;
}

/* Files in dir whose name starts with `stem` (outputs and temporaries). */
static int count_files(const char *stem)
{
    char cmd[4800];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^%s' > '%s/count.txt'", dir, stem, dir);
    if (system(cmd) < 0)
        return -1;
    size_t len;
    char *s = slurp(path_in("count.txt"), &len);
    int n = s ? atoi(s) : -1;
    free(s);
    return n;
}

/* ===== The plan on labels ===================================================================== */

static void test_join_counts(void)
{
    const trow f[] = {
        { "b.jpg", "CSI2", "01", "1", "1" }, { "a.jpg", "CSI1", "01", "1", "1" },
        { "c.jpg", "CSI1", "01", "1", "2" }, { "b.jpg", "CSI1", "01", "1", "3" },
        { "x.jpg", "CSI1", "01", "2", "1" }, { "y.jpg", "CSI2", "01", "1", "2" },
        { "b.jpg", "CSI1", "01", "2", "2" },
    };
    const char *const im[] = { "e.jpg", "c.jpg", "b.jpg", "a.jpg", "d.jpg" };
    lrsa_labels *lf = labels_of(f, 7), *li = image_labels(im, 5);
    lrsa_align_plan p;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_AVERAGE, 0, NULL, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK_INT(p.nsubjects, 2);
        CHECK_STR(p.subjects[0], "CSI1");
        CHECK_STR(p.subjects[1], "CSI2");
        CHECK_INT(p.stimuli_fmri, 5);
        CHECK_INT(p.stimuli_images, 5);
        CHECK_INT(p.stimuli_both, 3);
        CHECK_INT(p.only_fmri_count, 2);
        CHECK_STR(p.only_fmri[0], "x.jpg");
        CHECK_STR(p.only_fmri[1], "y.jpg");
        CHECK_INT(p.only_images_count, 2);
        CHECK_INT(p.nout, 3);
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 0, LRSA_LBL_STIMULUS), "a.jpg");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 1, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 2, LRSA_LBL_STIMULUS), "c.jpg");
        CHECK_STR(lrsa_labels_get(p.image_labels, 1, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(p.image_labels, 1, LRSA_LBL_SOURCE), "Scene");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 1, LRSA_LBL_SUBJECT), "n/a");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 0, LRSA_LBL_SESSION), "n/a");
        CHECK_INT(p.out_image[1], 2);
        CHECK_INT(p.averaged_rows, 1);   /* b.jpg: 3 trials of 2 subjects */
        CHECK_INT(p.trials_used, 5);
        CHECK_INT(p.per_subject[0], 3);
        CHECK_INT(p.per_subject[1], 1);
    }
    lrsa_align_plan_release(&p);

    /* per-subject: blocks by subject, each in stimulus order; single trials keep their labels */
    rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_PER_SUBJECT, 0, NULL, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK_INT(p.nout, 4);
        CHECK_INT(p.out_subject[0], 0);
        CHECK_INT(p.out_subject[3], 1);
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 0, LRSA_LBL_STIMULUS), "a.jpg");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 0, LRSA_LBL_TRIAL), "1");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 1, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 1, LRSA_LBL_TRIAL), "n/a");   /* 2 repeats */
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 1, LRSA_LBL_SUBJECT), "CSI1");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 3, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 3, LRSA_LBL_SUBJECT), "CSI2");
        CHECK_STR(lrsa_labels_get(p.fmri_labels, 3, LRSA_LBL_RUN), "1");
        CHECK_INT(p.per_subject[0], 3);
        CHECK_INT(p.per_subject[1], 1);
        CHECK_INT(p.averaged_rows, 1);
        CHECK_INT(p.trials_used, 5);
    }
    lrsa_align_plan_release(&p);
    lrsa_labels_free(lf);
    lrsa_labels_free(li);
}

/* n stimuli s000.jpg ...; subject k saw stimulus i when saw(k, i). Returns the plan's rc. */
static int quarters_plan(lrsa_align_plan *p, int nstim, int nsub, int (*saw)(int, int), uint64_t seed,
                         int reps)
{
    int64_t cap = (int64_t)nstim * nsub * reps;
    trow *rows = calloc((size_t)cap, sizeof *rows);
    char (*names)[16] = calloc((size_t)nstim, sizeof *names);
    char (*subs)[16] = calloc((size_t)nsub, sizeof *subs);
    char (*trials)[24] = calloc((size_t)cap, sizeof *trials);
    const char **im = calloc((size_t)nstim, sizeof *im);
    int64_t n = 0;
    for (int i = 0; i < nstim; i++) {
        snprintf(names[i], sizeof names[i], "s%03d.jpg", i);
        im[i] = names[i];
    }
    for (int k = 0; k < nsub; k++)
        snprintf(subs[k], sizeof subs[k], "CSI%d", k + 1);
    for (int i = 0; i < nstim; i++)
        for (int k = 0; k < nsub; k++)
            if (saw(k, i))
                for (int r = 0; r < reps; r++) {
                    snprintf(trials[n], sizeof trials[n], "%lld", (long long)n + 1);
                    rows[n] = (trow){ names[i], subs[k], "01", "1", trials[n] };
                    n++;
                }
    lrsa_labels *lf = labels_of(rows, n), *li = image_labels(im, nstim);
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_plan_build(p, lf, li, LRSA_ALIGN_QUARTERS, seed, NULL, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    lrsa_labels_free(lf);
    lrsa_labels_free(li);
    free(rows);
    free(names);
    free(subs);
    free(trials);
    free(im);
    return rc;
}

static int saw_all(int k, int i) { (void)k; (void)i; return 1; }
/* Each stimulus seen by a varying subset (at least one subject), as in BOLD5000's CSI4. */
static int saw_some(int k, int i)
{
    unsigned h = (unsigned)(i * 2654435761u) ^ (unsigned)(k * 40503u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return k == i % 4 || (h & 3) != 0;
}
/* Subject 4 (index 3) saw only the first 10 of 100. */
static int saw_few(int k, int i) { return k < 3 || i < 10; }

/* Did the subject of output row r see the stimulus? (its trial rows are that subject's) */
static int assigned_ok(const lrsa_align_plan *p, int (*saw)(int, int))
{
    for (int64_t r = 0; r < p->nout; r++) {
        int64_t k = p->out_subject[r];
        if (k < 0 || !saw((int)k, (int)p->out_image[r]))
            return 0;
        for (int64_t t = p->out_start[r]; t < p->out_end[r]; t++)
            if (p->trial_subject[t] != k)
                return 0;
    }
    return 1;
}

static void test_quarters(void)
{
    lrsa_align_plan p, q;
    /* Everyone saw everything: equal quarters, whatever the seed. */
    for (uint64_t seed = 0; seed < 5; seed++) {
        if (quarters_plan(&p, 40, 4, saw_all, seed, 1))
            continue;
        CHECK_INT(p.nout, 40);
        for (int k = 0; k < 4; k++)
            CHECK_INT(p.per_subject[k], 10);
        CHECK(assigned_ok(&p, saw_all));
        lrsa_align_plan_release(&p);
    }
    /* 41 stimuli over 4: sizes 11, 10, 10, 10 (the first in turn gets the extra one). */
    if (!quarters_plan(&p, 41, 4, saw_all, 7, 1)) {
        int64_t mn = 99, mx = 0;
        for (int k = 0; k < 4; k++) {
            mn = p.per_subject[k] < mn ? p.per_subject[k] : mn;
            mx = p.per_subject[k] > mx ? p.per_subject[k] : mx;
        }
        CHECK_INT(mn, 10);
        CHECK_INT(mx, 11);
        CHECK_INT(p.per_subject[0], 11);
        lrsa_align_plan_release(&p);
    }
    /* Partial viewing: only to a subject who saw it, and still close to balanced. */
    if (!quarters_plan(&p, 200, 4, saw_some, 3, 2)) {
        CHECK(assigned_ok(&p, saw_some));
        for (int k = 0; k < 4; k++)
            CHECK_MSG(p.per_subject[k] >= 49 && p.per_subject[k] <= 51, "subject %d got %lld", k,
                      (long long)p.per_subject[k]);
        CHECK_INT(p.averaged_rows, 200);   /* 2 repeats each */
        CHECK_INT(p.trials_used, 400);
        lrsa_align_plan_release(&p);
    }
    /* A subject who saw few gets what it saw, the others share the rest. */
    if (!quarters_plan(&p, 100, 4, saw_few, 1, 1)) {
        CHECK(assigned_ok(&p, saw_few));
        CHECK(p.per_subject[3] <= 10);
        CHECK_INT(p.per_subject[0] + p.per_subject[1] + p.per_subject[2] + p.per_subject[3], 100);
        for (int k = 0; k < 3; k++)
            CHECK(p.per_subject[k] >= 30 && p.per_subject[k] <= 34);
        lrsa_align_plan_release(&p);
    }
    /* The same seed gives the same assignment; another seed another one. */
    if (!quarters_plan(&p, 40, 4, saw_all, 11, 1)) {
        if (!quarters_plan(&q, 40, 4, saw_all, 11, 1)) {
            CHECK(memcmp(p.out_subject, q.out_subject, 40 * sizeof *p.out_subject) == 0);
            lrsa_align_plan_release(&q);
        }
        if (!quarters_plan(&q, 40, 4, saw_all, 12, 1)) {
            CHECK(memcmp(p.out_subject, q.out_subject, 40 * sizeof *p.out_subject) != 0);
            lrsa_align_plan_release(&q);
        }
        /* the rows stay in stimulus order and carry the assigned subject */
        for (int64_t r = 0; r < p.nout; r++) {
            char want[32];
            snprintf(want, sizeof want, "s%03lld.jpg", (long long)r);
            CHECK_STR(lrsa_labels_get(p.fmri_labels, r, LRSA_LBL_STIMULUS), want);
            CHECK_STR(lrsa_labels_get(p.fmri_labels, r, LRSA_LBL_SUBJECT), p.subjects[p.out_subject[r]]);
        }
        lrsa_align_plan_release(&p);
    }
    /* One subject: everything goes to it. */
    if (!quarters_plan(&p, 5, 1, saw_all, 0, 3)) {
        CHECK_INT(p.per_subject[0], 5);
        CHECK_INT(p.averaged_rows, 5);
        lrsa_align_plan_release(&p);
    }
}

static void test_plan_errors(void)
{
    lrsa_align_plan p;
    lrsa_err err;
    const trow f[] = { { "a.jpg", "CSI1", "01", "1", "1" }, { "b.jpg", "CSI1", "01", "1", "2" } };
    const char *const im[] = { "a.jpg", "b.jpg", "a.jpg" };
    const char *const other[] = { "q.jpg", "r.jpg" };
    lrsa_labels *lf = labels_of(f, 2), *dup = image_labels(im, 3), *li = image_labels(im, 2);
    lrsa_labels *lo = image_labels(other, 2);
    free(lf->name);
    lf->name = strdup("F.npy");
    free(dup->name);
    dup->name = strdup("I.npy");
    free(lo->name);
    lo->name = strdup("O.npy");
    lrsa_err_init(&err);
    int rc = lrsa_align_plan_build(&p, lf, dup, LRSA_ALIGN_QUARTERS, 0, NULL, NULL, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EFORMAT, "stimulus 'a.jpg' appears twice (rows 0 and 2)", "I.npy");
    CHECK_INT(p.nout, 0);
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, lo, LRSA_ALIGN_QUARTERS, 0, NULL, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no stimulus in common between 'F.npy' and 'O.npy'");
    lrsa_labels_set(li, 1, LRSA_LBL_SUBJECT, "CSI1", NULL);
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_AVERAGE, 0, NULL, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "row 1 (stimulus 'b.jpg') has subject 'CSI1': the image side must be stimulus-level");
    lrsa_labels_set(li, 1, LRSA_LBL_SUBJECT, NULL, NULL);
    lrsa_labels_set(lf, 1, LRSA_LBL_SUBJECT, NULL, NULL);
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_AVERAGE, 0, NULL, NULL, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EFORMAT, "row 1 (stimulus 'b.jpg') has no subject (n/a)", "F.npy");
    lrsa_labels_set(lf, 1, LRSA_LBL_SUBJECT, "../x", NULL);
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_PER_SUBJECT, 0, NULL, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "subject '../x' cannot be part of a file name");
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, li, LRSA_ALIGN_QUARTERS, 0, NULL, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);   /* only per-subject needs a file name */
    lrsa_align_plan_release(&p);
    lrsa_err_init(&err);
    rc = lrsa_align_plan_build(&p, lf, li, (lrsa_align_assign)7, 0, NULL, NULL, &err);
    CHECK_INT(rc, LRSA_EMISUSE);
    lrsa_align_assign a;
    CHECK_INT(lrsa_align_assign_parse("per-subject", &a, NULL), 0);
    CHECK_INT(a, LRSA_ALIGN_PER_SUBJECT);
    CHECK_INT(lrsa_align_assign_parse("halves", &a, NULL), LRSA_EMISUSE);
    CHECK_STR(lrsa_align_assign_name(LRSA_ALIGN_AVERAGE), "average");
    lrsa_labels_free(lf);
    lrsa_labels_free(dup);
    lrsa_labels_free(li);
    lrsa_labels_free(lo);
}

/* ===== Files ================================================================================== */

/* fMRI: a.jpg by CSI1 twice (1, 3) and CSI2 once (10); b.jpg by CSI2 once; z.jpg (no image).
 * Images: a.jpg, b.jpg, c.jpg (never shown). Columns: 3 on the fMRI side, 2 on the image side. */
static void small_inputs(const char *fname, const char *iname)
{
    const trow f[] = {
        { "a.jpg", "CSI2", "01", "1", "4" }, { "b.jpg", "CSI2", "01", "1", "5" },
        { "a.jpg", "CSI1", "01", "1", "1" }, { "z.jpg", "CSI1", "01", "1", "2" },
        { "a.jpg", "CSI1", "02", "1", "1" },
    };
    const float fx[] = { 10, 20, 30, 7, 7, 7, 1, 2, 3, 9, 9, 9, 3, 4, 5 };
    const char *const im[] = { "c.jpg", "b.jpg", "a.jpg" };
    const float ix[] = { 0.5f, 0.25f, -1, -2, 100, 200 };
    lrsa_labels *lf = labels_of(f, 5), *li = image_labels(im, 3);
    write_input(fname, fx, 5, 3, lf);
    write_input(iname, ix, 3, 2, li);
    lrsa_labels_free(lf);
    lrsa_labels_free(li);
}

static void test_files_average(void)
{
    small_inputs("f.npy", "i.npy");
    lrsa_align_opts o = { path_in("f.npy"), path_in("i.npy"), path_in("avg"), LRSA_ALIGN_AVERAGE, 0 };
    lrsa_align_result res;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_files(&o, &res, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc)
        return;
    int64_t n, d;
    float *x = read_matrix(path_in("avg.fmri.npy"), &n, &d);
    CHECK_INT(n, 2);
    CHECK_INT(d, 3);
    if (x) {
        /* a.jpg: CSI1's mean (1+3)/2 = 2, CSI2's 10: (2 + 10) / 2 = 6 (not (1+3+10)/3) */
        CHECK_NEAR(x[0], 6, 0);
        CHECK_NEAR(x[1], 11.5, 0); /* ((2 + 4) / 2 + 20) / 2 */
        CHECK_NEAR(x[2], 17, 0);   /* ((3 + 5) / 2 + 30) / 2 */
        CHECK_NEAR(x[3], 7, 0);    /* b.jpg: CSI2 only */
    }
    free(x);
    x = read_matrix(path_in("avg.images.npy"), &n, &d);
    CHECK_INT(n, 2);
    CHECK_INT(d, 2);
    if (x) {
        CHECK_NEAR(x[0], 100, 0);
        CHECK_NEAR(x[1], 200, 0);
        CHECK_NEAR(x[2], -1, 0);
        CHECK_NEAR(x[3], -2, 0);
    }
    free(x);
    lrsa_labels *l = NULL;
    rc = lrsa_labels_read(path_in("avg.fmri.labels.tsv"), &l, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (l) {
        CHECK_STR(lrsa_labels_get(l, 0, LRSA_LBL_STIMULUS), "a.jpg");
        CHECK_STR(lrsa_labels_get(l, 0, LRSA_LBL_SUBJECT), "n/a");
        CHECK_STR(lrsa_labels_get(l, 1, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(l, 1, LRSA_LBL_SOURCE), "COCO");
    }
    lrsa_labels_free(l);
    l = NULL;
    rc = lrsa_labels_read(path_in("avg.images.labels.tsv"), &l, &err);
    if (l) {
        CHECK_STR(lrsa_labels_get(l, 1, LRSA_LBL_STIMULUS), "b.jpg");
        CHECK_STR(lrsa_labels_get(l, 1, LRSA_LBL_SOURCE), "Scene");
    }
    lrsa_labels_free(l);
    /* The report. */
    size_t len;
    char *text = slurp(path_in("avg.json"), &len);
    CHECK(text && res.json && strcmp(text, res.json) == 0);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(cJSON_GetObjectItem(j, "assign")->valuestring, "average");
        CHECK_INT(cJSON_GetObjectItem(j, "fmri_rows")->valuedouble, 5);
        CHECK_INT(cJSON_GetObjectItem(j, "image_rows")->valuedouble, 3);
        CHECK_INT(cJSON_GetObjectItem(j, "stimuli_fmri")->valuedouble, 3);
        CHECK_INT(cJSON_GetObjectItem(j, "stimuli_images")->valuedouble, 3);
        CHECK_INT(cJSON_GetObjectItem(j, "stimuli_both")->valuedouble, 2);
        CHECK_INT(cJSON_GetObjectItem(j, "only_fmri_count")->valuedouble, 1);
        CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "only_fmri"), 0)->valuestring, "z.jpg");
        CHECK_INT(cJSON_GetObjectItem(j, "only_images_count")->valuedouble, 1);
        CHECK_INT(cJSON_GetObjectItem(j, "rows_out")->valuedouble, 2);
        CHECK_INT(cJSON_GetObjectItem(j, "averaged_rows")->valuedouble, 1);
        CHECK_INT(cJSON_GetObjectItem(j, "trials_used")->valuedouble, 4);
        CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "per_subject"), "CSI1")->valuedouble, 1);
        CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "per_subject"), "CSI2")->valuedouble, 2);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "subjects")), 2);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "outputs")), 2);
        CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 1)->valuestring, path_in("avg.images.npy"));
        CHECK_INT(cJSON_GetObjectItem(j, "fmri_dims")->valuedouble, 3);
        CHECK_INT(cJSON_GetObjectItem(j, "image_dims")->valuedouble, 2);
    }
    cJSON_Delete(j);
    free(text);
    lrsa_align_result_release(&res);
}

static void test_files_quarters_per_subject(void)
{
    small_inputs("f.npy", "i.npy");
    lrsa_align_opts o = { path_in("f.npy"), path_in("i.npy"), path_in("ps"), LRSA_ALIGN_PER_SUBJECT, 0 };
    lrsa_align_result res;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_files(&o, &res, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc)
        return;
    CHECK_INT(res.noutputs, 4);
    CHECK_STR(res.outputs[0], path_in("ps.CSI1.fmri.npy"));
    CHECK_STR(res.outputs[3], path_in("ps.CSI2.images.npy"));
    int64_t n, d;
    float *x = read_matrix(path_in("ps.CSI1.fmri.npy"), &n, &d);
    CHECK_INT(n, 1);
    if (x) {
        CHECK_NEAR(x[0], 2, 0);   /* a.jpg: (1 + 3) / 2 */
        CHECK_NEAR(x[2], 4, 0);   /* (3 + 5) / 2 */
    }
    free(x);
    x = read_matrix(path_in("ps.CSI2.fmri.npy"), &n, &d);
    CHECK_INT(n, 2);
    if (x) {
        CHECK_NEAR(x[0], 10, 0);
        CHECK_NEAR(x[3], 7, 0);
    }
    free(x);
    x = read_matrix(path_in("ps.CSI2.images.npy"), &n, &d);
    CHECK_INT(n, 2);
    if (x)
        CHECK_NEAR(x[2], -1, 0);
    free(x);
    CHECK(lrsa_is_file(path_in("ps.CSI1.images.labels.tsv")));
    CHECK(lrsa_is_file(path_in("ps.json")));
    CHECK(!lrsa_is_file(path_in("ps.fmri.npy")));
    lrsa_align_result_release(&res);

    /* quarters: 2 stimuli, 2 subjects; b.jpg only CSI2 saw */
    /* (path_in's buffers are reused: keep copies) */
    char fp[2300], ip[2300], qp[2300];
    snprintf(fp, sizeof fp, "%s", path_in("f.npy"));
    snprintf(ip, sizeof ip, "%s", path_in("i.npy"));
    snprintf(qp, sizeof qp, "%s", path_in("q"));
    o.fmri = fp;
    o.images = ip;
    o.prefix = qp;
    o.assign = LRSA_ALIGN_QUARTERS;
    for (uint64_t seed = 0; seed < 4; seed++) {
        o.seed = seed;
        lrsa_err_init(&err);
        rc = lrsa_align_files(&o, &res, NULL, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc)
            continue;
        lrsa_labels *l = NULL;
        lrsa_labels_read(path_in("q.fmri.labels.tsv"), &l, &err);
        x = read_matrix(path_in("q.fmri.npy"), &n, &d);
        CHECK_INT(n, 2);
        if (l && x) {
            CHECK_STR(lrsa_labels_get(l, 1, LRSA_LBL_SUBJECT), "CSI2");
            int csi1 = strcmp(lrsa_labels_get(l, 0, LRSA_LBL_SUBJECT), "CSI1") == 0;
            CHECK_NEAR(x[0], csi1 ? 2 : 10, 0);
            CHECK_NEAR(x[1], csi1 ? 3 : 20, 0);
            CHECK_NEAR(x[3], 7, 0);
            CHECK_STR(lrsa_labels_get(l, 0, LRSA_LBL_TRIAL), csi1 ? "n/a" : "4");
            /* balance: a.jpg goes to CSI1 since CSI2 must take b.jpg, unless a.jpg came first and
             * the turn gave it to CSI1 anyway; either way each gets one */
            CHECK(csi1);
        }
        lrsa_labels_free(l);
        free(x);
        lrsa_align_result_release(&res);
    }
}

/* A bigger random dataset, written in a given row order; align it and return 0 on success. */
#define NS 30
#define NSUB 3
static void random_inputs(const char *fname, const char *iname, unsigned perm_seed, int fortran64)
{
    /* Trials: each subject sees stimulus i (i % 5 != k) 1-3 times; stimuli 0..NS+2 shown,
     * images for 0..NS-1 and NS+3..NS+6. Some repeats have all-n/a session/run/trial labels. */
    enum { DF = 7, DI = 5, MAXT = NS * NSUB * 3 + 20 };
    static trow rows[MAXT];
    static char stim[NS + 8][16], trial[MAXT][16];
    static float fx[MAXT * DF], fy[MAXT * DF];
    static const char *subs[NSUB] = { "CSI10", "CSI2", "CSI1" };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 99);
    int64_t n = 0;
    for (int i = 0; i < NS + 7; i++)
        snprintf(stim[i], sizeof stim[i], "img%02d.JPEG", (i * 7) % (NS + 7));
    for (int i = 0; i < NS + 3; i++)
        for (int k = 0; k < NSUB; k++) {
            if (i % 5 == k)
                continue;
            int reps = 1 + (int)lrsa_rng_below(&rng, 3);
            for (int r = 0; r < reps; r++) {
                snprintf(trial[n], sizeof trial[n], "%d", r + 1);
                int na = (i % 7 == 0);
                rows[n] = (trow){ stim[i], subs[k], na ? NULL : "01", na ? NULL : "2", na ? NULL : trial[n] };
                for (int j = 0; j < DF; j++)
                    fx[n * DF + j] = (float)lrsa_rng_normal(&rng);
                n++;
            }
        }
    /* permute the rows */
    int64_t perm[MAXT];
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    if (perm_seed) {
        lrsa_rng pr;
        lrsa_rng_seed(&pr, perm_seed);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)lrsa_rng_below(&pr, (uint64_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
    trow prow[MAXT];
    memset(prow, 0, sizeof prow);
    for (int64_t i = 0; i < n; i++) {
        prow[i] = rows[perm[i]];
        memcpy(fy + i * DF, fx + perm[i] * DF, DF * sizeof *fy);
    }
    lrsa_labels *lf = labels_of(prow, n);
    if (!fortran64) {
        write_input(fname, fy, n, DF, lf);
    } else {
        /* the same values as float64 in Fortran order */
        double *z = malloc(sizeof(double) * (size_t)(n * DF));
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < DF; j++)
                z[j * n + i] = fy[i * DF + j];
        int64_t shape[2] = { n, DF };
        lrsa_npy_write(path_in(fname), LRSA_NPY_F64, 1, 2, shape, z, NULL);
        char lp[2400];
        snprintf(lp, sizeof lp, "%s", path_in(fname));
        strcpy(lp + strlen(lp) - 4, ".labels.tsv");
        lrsa_labels_write(lp, lf, NULL);
        free(z);
    }
    lrsa_labels_free(lf);
    /* images */
    const char *im[NS + 4];
    float ix[(NS + 4) * DI];
    int64_t ni = 0;
    for (int i = 0; i < NS + 7; i++) {
        if (i >= NS && i < NS + 3)
            continue;
        im[ni] = stim[i];
        for (int j = 0; j < DI; j++)
            ix[ni * DI + j] = (float)(i * 10 + j);
        ni++;
    }
    int64_t ip[NS + 4];
    for (int64_t i = 0; i < ni; i++)
        ip[i] = i;
    if (perm_seed)
        for (int64_t i = 0; i < ni / 2; i++) {   /* reverse */
            int64_t t = ip[i];
            ip[i] = ip[ni - 1 - i];
            ip[ni - 1 - i] = t;
        }
    const char *pim[NS + 4];
    float pix[(NS + 4) * DI];
    for (int64_t i = 0; i < ni; i++) {
        pim[i] = im[ip[i]];
        memcpy(pix + i * DI, ix + ip[i] * DI, DI * sizeof *pix);
    }
    lrsa_labels *li = image_labels(pim, ni);
    write_input(iname, pix, ni, DI, li);
    lrsa_labels_free(li);
}

static int align_to(const char *f, const char *i, const char *prefix, lrsa_align_assign a, uint64_t seed,
                    lrsa_align_result *res)
{
    lrsa_align_opts o = { path_in(f), path_in(i), path_in(prefix), a, seed };
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_files(&o, res, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc;
}

static void test_shuffle_invariance(void)
{
    static const char *const suffixes[] = { ".fmri.npy", ".fmri.labels.tsv", ".images.npy", ".images.labels.tsv" };
    random_inputs("r0.npy", "ri0.npy", 0, 0);
    random_inputs("r1.npy", "ri1.npy", 12345, 0);
    random_inputs("r2.npy", "ri2.npy", 777, 1);
    for (int a = 0; a < 3; a++) {
        lrsa_align_result r0, r1, r2;
        char p0[32], p1[32], p2[32];
        snprintf(p0, sizeof p0, "o0_%d", a);
        snprintf(p1, sizeof p1, "o1_%d", a);
        snprintf(p2, sizeof p2, "o2_%d", a);
        if (align_to("r0.npy", "ri0.npy", p0, (lrsa_align_assign)a, 5, &r0))
            continue;
        if (!align_to("r1.npy", "ri1.npy", p1, (lrsa_align_assign)a, 5, &r1)) {
            CHECK_INT(r1.noutputs, r0.noutputs);
            for (int64_t k = 0; k < r0.noutputs && k < r1.noutputs; k++) {
                CHECK_MSG(same_file(r0.outputs[k], r1.outputs[k]), "%s vs %s", r0.outputs[k], r1.outputs[k]);
                char l0[2400], l1[2400];
                snprintf(l0, sizeof l0, "%.*s.labels.tsv", (int)strlen(r0.outputs[k]) - 4, r0.outputs[k]);
                snprintf(l1, sizeof l1, "%.*s.labels.tsv", (int)strlen(r1.outputs[k]) - 4, r1.outputs[k]);
                CHECK_MSG(same_file(l0, l1), "%s vs %s", l0, l1);
            }
            CHECK_INT(r1.plan.averaged_rows, r0.plan.averaged_rows);
            CHECK_INT(r1.plan.only_fmri_count, 3);
            CHECK_INT(r1.plan.only_images_count, 4);
            CHECK_INT(r1.plan.stimuli_both, NS);
            lrsa_align_result_release(&r1);
        }
        /* float64, Fortran order: the same values, the same bytes */
        if (!align_to("r2.npy", "ri2.npy", p2, (lrsa_align_assign)a, 5, &r2)) {
            for (int k = 0; k < 4 && a != LRSA_ALIGN_PER_SUBJECT; k++) {
                char x0[64], x2[64];
                snprintf(x0, sizeof x0, "%s%s", p0, suffixes[k]);
                snprintf(x2, sizeof x2, "%s%s", p2, suffixes[k]);
                CHECK_MSG(same_file(path_in(x0), path_in(x2)), "%s vs %s", x0, x2);
            }
            lrsa_align_result_release(&r2);
        }
        if (a == LRSA_ALIGN_QUARTERS) {
            /* every stimulus's row comes from one subject who saw it; seeds differ */
            CHECK_INT(r0.plan.nout, NS);
            CHECK(assigned_ok(&r0.plan, saw_all));
            lrsa_align_result r3;
            if (!align_to("r0.npy", "ri0.npy", "o3", LRSA_ALIGN_QUARTERS, 6, &r3)) {
                CHECK(!same_file(path_in("o0_0.fmri.labels.tsv"), path_in("o3.fmri.labels.tsv")));
                CHECK(same_file(path_in("o0_0.images.npy"), path_in("o3.images.npy")));
                lrsa_align_result_release(&r3);
            }
            /* canonical order: stimuli byte-sorted */
            for (int64_t r = 1; r < r0.plan.nout; r++)
                CHECK(strcmp(lrsa_labels_get(r0.plan.fmri_labels, r - 1, LRSA_LBL_STIMULUS),
                             lrsa_labels_get(r0.plan.fmri_labels, r, LRSA_LBL_STIMULUS)) < 0);
        }
        if (a == LRSA_ALIGN_PER_SUBJECT) {
            CHECK_INT(r0.noutputs, 6);
            /* subjects in natural order: CSI1, CSI2, CSI10 */
            CHECK(strstr(r0.outputs[0], ".CSI1.fmri.npy") != NULL);
            CHECK(strstr(r0.outputs[2], ".CSI2.fmri.npy") != NULL);
            CHECK(strstr(r0.outputs[4], ".CSI10.fmri.npy") != NULL);
        }
        lrsa_align_result_release(&r0);
    }
}

/* ===== Bad input ============================================================================== */

static void expect_fail(const char *f, const char *i, lrsa_align_assign a, int code, const char *needle,
                        const char *file)
{
    lrsa_align_opts o = { path_in(f), path_in(i), path_in("bad"), a, 0 };
    lrsa_align_result res;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_files(&o, &res, NULL, &err);
    CHECK_ERR_FILE(rc, err, code, needle, file);
    CHECK_INT(res.noutputs, 0);
    CHECK_INT(count_files("bad"), 0);
}

static void test_file_errors(void)
{
    small_inputs("f.npy", "i.npy");
    /* a missing sidecar */
    const float x[] = { 1, 2, 3, 4 };
    write_input("nolab.npy", x, 2, 2, NULL);
    expect_fail("nolab.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_ENOTFOUND, "has no labels sidecar", "nolab.npy");
    expect_fail("f.npy", "nolab.npy", LRSA_ALIGN_QUARTERS, LRSA_ENOTFOUND, "nolab.labels.tsv", "nolab.npy");
    expect_fail("missing.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_ENOTFOUND, "cannot open", "missing.npy");
    /* a sidecar with another row count */
    const trow one[] = { { "a.jpg", "CSI1", "01", "1", "1" } };
    lrsa_labels *l1 = labels_of(one, 1);
    write_input("short.npy", x, 2, 2, l1);
    expect_fail("short.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_ESHAPE, "short.labels.tsv", "short.labels.tsv");
    /* an image side with a subject, and one with a stimulus twice */
    write_input("isub.npy", x, 1, 2, l1);
    expect_fail("f.npy", "isub.npy", LRSA_ALIGN_AVERAGE, LRSA_EFORMAT, "has subject 'CSI1'", "isub.npy");
    const char *const twice[] = { "a.jpg", "a.jpg" };
    lrsa_labels *lt = image_labels(twice, 2);
    write_input("twice.npy", x, 2, 2, lt);
    expect_fail("f.npy", "twice.npy", LRSA_ALIGN_AVERAGE, LRSA_EFORMAT, "stimulus 'a.jpg' appears twice", "twice.npy");
    /* no stimulus in common */
    const char *const other[] = { "q.jpg", "r.jpg" };
    lrsa_labels *lo = image_labels(other, 2);
    write_input("other.npy", x, 2, 2, lo);
    expect_fail("f.npy", "other.npy", LRSA_ALIGN_QUARTERS, LRSA_EEMPTY, "no stimulus in common between", "other.npy");
    /* NaN / Inf in a used row; not an error in an unused one */
    const trow f2[] = { { "a.jpg", "CSI1", "01", "1", "1" }, { "z.jpg", "CSI1", "01", "1", "2" } };
    lrsa_labels *lf2 = labels_of(f2, 2);
    float xn[] = { 1, NAN, 3, 4 };
    write_input("nan.npy", xn, 2, 2, lf2);
    expect_fail("nan.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_EFORMAT,
                "row 0 (stimulus 'a.jpg', subject CSI1) column 1 is NaN", "nan.npy");
    float xu[] = { 1, 2, INFINITY, 4 };   /* z.jpg has no image: unused */
    write_input("unused.npy", xu, 2, 2, lf2);
    lrsa_align_result res;
    if (!align_to("unused.npy", "i.npy", "ok", LRSA_ALIGN_QUARTERS, 0, &res))
        lrsa_align_result_release(&res);
    const char *const im1[] = { "a.jpg" };
    lrsa_labels *li1 = image_labels(im1, 1);
    float xi[] = { 1, -INFINITY };
    write_input("iinf.npy", xi, 1, 2, li1);
    expect_fail("f.npy", "iinf.npy", LRSA_ALIGN_QUARTERS, LRSA_EFORMAT, "column 1 is -Inf", "iinf.npy");
    /* a NaN in the image side found after the fMRI file was written: that one is removed too */
    CHECK_INT(count_files("bad"), 0);
    /* not 2-d; no columns */
    int64_t s3[3] = { 1, 2, 2 };
    lrsa_npy_write_f32(path_in("three.npy"), 3, s3, x, NULL);
    expect_fail("three.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_ESHAPE, "expected a 2-d matrix (rows x columns), got 3-d",
                "three.npy");
    int64_t s1[1] = { 4 };
    lrsa_npy_write_f32(path_in("vec.npy"), 1, s1, x, NULL);
    expect_fail("f.npy", "vec.npy", LRSA_ALIGN_QUARTERS, LRSA_ESHAPE, "got 1-d", "vec.npy");
    int64_t s0[2] = { 2, 0 };
    lrsa_npy_write_f32(path_in("nocol.npy"), 2, s0, x, NULL);
    expect_fail("nocol.npy", "i.npy", LRSA_ALIGN_QUARTERS, LRSA_EEMPTY, "has no columns", "nocol.npy");
    /* the output directory does not exist: nothing written, nothing created */
    lrsa_align_opts o = { path_in("f.npy"), path_in("i.npy"), path_in("nodir/x"), LRSA_ALIGN_QUARTERS, 0 };
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_align_files(&o, &res, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EIO, "nodir/x.fmri.npy");
    CHECK(!lrsa_is_dir(path_in("nodir")));
    lrsa_labels_free(l1);
    lrsa_labels_free(lt);
    lrsa_labels_free(lo);
    lrsa_labels_free(lf2);
    lrsa_labels_free(li1);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/test_align", harness_tmpdir());
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
        return 1;
    RUN(test_join_counts);
    RUN(test_quarters);
    RUN(test_plan_errors);
    RUN(test_files_average);
    RUN(test_files_quarters_per_subject);
    RUN(test_shuffle_invariance);
    RUN(test_file_errors);
    return harness_done();
}
