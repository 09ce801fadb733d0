/* Labels sidecars (X.labels.tsv): path rule, read/write with the exact schema, row-count checks,
 * and the join by stimulus (and subject) with its duplicate, ambiguity and unmatched errors. */
#include "harness.h"
#include "latentrsa/labels.h"

#include <unistd.h>

static const char *tmp_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/test_labels_%ld_%s", harness_tmpdir(), (long)getpid(), name);
    return buf;
}

static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

/* Labels from rows "stimulus subject" (other columns n/a); name for messages. */
static lrsa_labels *make(const char *name, int n, const char *const *stim, const char *const *subj)
{
    lrsa_labels *l = lrsa_labels_new(n, NULL);
    for (int i = 0; l && i < n; i++) {
        lrsa_labels_set(l, i, LRSA_LBL_STIMULUS, stim[i], NULL);
        lrsa_labels_set(l, i, LRSA_LBL_SUBJECT, subj ? subj[i] : NULL, NULL);
    }
    if (l) {
        free(l->name);
        l->name = strdup(name);
    }
    return l;
}

static void test_path(void)
{
    char *p = NULL;
    CHECK_INT(lrsa_labels_path("out/X.npy", &p, NULL), LRSA_OK);
    CHECK_STR(p, "out/X.labels.tsv");
    free(p);
    CHECK_INT(lrsa_labels_path("rdm", &p, NULL), LRSA_OK);
    CHECK_STR(p, "rdm.labels.tsv");
    free(p);
    CHECK_INT(lrsa_labels_path("a.npy.npy", &p, NULL), LRSA_OK);
    CHECK_STR(p, "a.npy.labels.tsv");
    free(p);
}

static void test_roundtrip(void)
{
    char path[2048];
    tmp_path("X.labels.tsv", path, sizeof path);
    lrsa_labels *l = lrsa_labels_new(3, NULL);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK_STR(lrsa_labels_get(l, 2, LRSA_LBL_TRIAL), "n/a");
    const char *stim[3] = { "COCO_train2014_000000000036.jpg", "n01440764_10110.JPEG", "airport1.jpg" };
    const char *src[3] = { "COCO", "ImageNet", "Scene" };
    for (int i = 0; i < 3; i++) {
        CHECK_INT(lrsa_labels_set(l, i, LRSA_LBL_STIMULUS, stim[i], NULL), LRSA_OK);
        CHECK_INT(lrsa_labels_set(l, i, LRSA_LBL_SOURCE, src[i], NULL), LRSA_OK);
    }
    lrsa_labels_set(l, 0, LRSA_LBL_SUBJECT, "CSI1", NULL);
    lrsa_labels_set(l, 0, LRSA_LBL_SESSION, "01", NULL);
    lrsa_labels_set_int(l, 0, LRSA_LBL_RUN, 3, NULL);
    lrsa_labels_set_int(l, 0, LRSA_LBL_TRIAL, -1, NULL);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_labels_write(path, l, &err), LRSA_OK);
    char *text = NULL;
    size_t n;
    lrsa_read_file(path, 0, &text, &n, NULL);
    CHECK_STR(text, "stimulus\tsource\tsubject\tsession\trun\ttrial\n"
                    "COCO_train2014_000000000036.jpg\tCOCO\tCSI1\t01\t3\t-1\n"
                    "n01440764_10110.JPEG\tImageNet\tn/a\tn/a\tn/a\tn/a\n"
                    "airport1.jpg\tScene\tn/a\tn/a\tn/a\tn/a\n");
    free(text);
    lrsa_labels *r = NULL;
    CHECK_INT(lrsa_labels_read(path, &r, &err), LRSA_OK);
    if (r) {
        CHECK_INT(r->n, 3);
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < LRSA_LBL_NCOLS; c++)
                CHECK_STR(lrsa_labels_get(r, i, c), lrsa_labels_get(l, i, c));
        CHECK_STR(r->name, path);
        CHECK_INT(lrsa_labels_check_rows(r, 3, "X.npy", &err), LRSA_OK);
        int rc = lrsa_labels_check_rows(r, 4, "X.npy", &err);
        CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "'X.npy' has 4 rows but its labels", path);
        int64_t idx[2] = { 2, 0 };
        lrsa_labels *t = lrsa_labels_take(r, idx, 2, NULL);
        CHECK(t && t->n == 2 && strcmp(lrsa_labels_get(t, 0, 0), "airport1.jpg") == 0 &&
              strcmp(lrsa_labels_get(t, 1, LRSA_LBL_RUN), "3") == 0);
        lrsa_labels_free(t);
    }
    lrsa_labels_free(r);

    /* read_for: X.npy -> X.labels.tsv, with the row check. */
    char npy[2048];
    tmp_path("X.npy", npy, sizeof npy);
    CHECK_INT(lrsa_labels_read_for(npy, 3, &r, &err), LRSA_OK);
    lrsa_labels_free(r);
    int rc = lrsa_labels_read_for(npy, 2, &r, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "has 2 rows", npy);
    CHECK(r == NULL);
    unlink(path);
    rc = lrsa_labels_read_for(npy, 3, &r, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "has no labels sidecar", path);

    /* CRLF files (edited on Windows) read the same. */
    write_text(path, "stimulus\tsource\tsubject\tsession\trun\ttrial\r\na.jpg\tCOCO\tn/a\tn/a\tn/a\tn/a\r\n");
    CHECK_INT(lrsa_labels_read(path, &r, &err), LRSA_OK);
    CHECK(r && r->n == 1 && strcmp(lrsa_labels_get(r, 0, LRSA_LBL_TRIAL), "n/a") == 0);
    lrsa_labels_free(r);

    /* Writing a bad field fails and leaves no file (and keeps an old one intact). */
    unlink(path);
    lrsa_labels_set(l, 1, LRSA_LBL_SOURCE, "Ima\tgeNet", NULL);
    rc = lrsa_labels_write(path, l, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EFORMAT, "row 2: source holds a TAB or line break", path);
    CHECK(!lrsa_is_file(path));
    lrsa_labels_set(l, 1, LRSA_LBL_SOURCE, "ImageNet", NULL);
    lrsa_labels_set(l, 2, LRSA_LBL_RUN, "2.5", NULL);
    rc = lrsa_labels_write(path, l, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "run '2.5' is not an integer or n/a");
    CHECK(!lrsa_is_file(path));
    lrsa_labels_set(l, 2, LRSA_LBL_RUN, "", NULL);
    rc = lrsa_labels_write(path, l, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "empty run (write n/a");
    lrsa_labels_set(l, 2, LRSA_LBL_RUN, NULL, NULL);
    lrsa_labels_set(l, 2, LRSA_LBL_STIMULUS, "a\nb", NULL);
    rc = lrsa_labels_write(path, l, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "line break");
    CHECK(!lrsa_is_file(path));
    lrsa_labels_free(l);
}

static void test_read_errors(void)
{
    char path[2048];
    tmp_path("bad.labels.tsv", path, sizeof path);
    struct {
        const char *text;
        int code;
        const char *needle;
    } cases[] = {
        { "stimulus\tsource\tsubject\tsession\trun\n", LRSA_EFORMAT, "header must be exactly" },
        { "stimulus\tsource\tsubject\tsession\ttrial\trun\n", LRSA_EFORMAT, "header must be exactly" },
        { "Stimulus\tsource\tsubject\tsession\trun\ttrial\n", LRSA_EFORMAT, "header must be exactly" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\tx\n", LRSA_EFORMAT, "header must be exactly" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\na\tCOCO\tCSI1\t01\tone\t1\n", LRSA_EFORMAT,
          "line 2: run 'one' is not an integer or n/a" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\na\tCOCO\tCSI1\t01\t1\t1\n"
          "b\tCOCO\tCSI1\t01\t1\t1.0\n", LRSA_EFORMAT, "line 3: trial '1.0'" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\n\tCOCO\tCSI1\t01\t1\t1\n", LRSA_EFORMAT,
          "line 2: empty stimulus" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\nn/a\tCOCO\tCSI1\t01\t1\t1\n", LRSA_EFORMAT,
          "line 2: stimulus is n/a" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\na\tCOCO\t\t01\t1\t1\n", LRSA_EFORMAT,
          "line 2: empty subject" },
        { "stimulus\tsource\tsubject\tsession\trun\ttrial\na\tCOCO\n", LRSA_EFORMAT, "line 2" },
        { "", LRSA_EFORMAT, "empty" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text);
        lrsa_labels *l = NULL;
        lrsa_err err;
        lrsa_err_init(&err);
        int rc = lrsa_labels_read(path, &l, &err);
        CHECK_ERR_FILE(rc, err, cases[i].code, cases[i].needle, path);
        CHECK(l == NULL);
    }
    unlink(path);
    lrsa_labels *l = NULL;
    lrsa_err err;
    int rc = lrsa_labels_read("/nonexistent/x.labels.tsv", &l, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "cannot open", "/nonexistent/x.labels.tsv");
    /* Header only: zero rows is valid. */
    char p2[2048];
    write_text(tmp_path("empty.labels.tsv", p2, sizeof p2), "stimulus\tsource\tsubject\tsession\trun\ttrial\n");
    CHECK_INT(lrsa_labels_read(p2, &l, NULL), LRSA_OK);
    CHECK(l && l->n == 0);
    lrsa_labels_free(l);
    unlink(p2);
}

static void test_join(void)
{
    /* Image embeddings (no subject) against one subject's fMRI rows, in another order. */
    const char *img[4] = { "a.jpg", "b.jpg", "c.jpg", "d.jpg" };
    const char *fs[3] = { "c.jpg", "a.jpg", "b.jpg" };
    const char *fsub[3] = { "CSI1", "CSI1", "CSI1" };
    lrsa_labels *A = make("img.labels.tsv", 4, img, NULL);
    lrsa_labels *B = make("fmri.labels.tsv", 3, fs, fsub);
    lrsa_label_pairs j;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_labels_join(A, B, LRSA_JOIN_REQUIRE_B, &j, &err), LRSA_OK);
    CHECK_INT(j.n, 3);
    CHECK_INT(j.unmatched_a, 1);
    CHECK_INT(j.unmatched_b, 0);
    CHECK(j.n == 3 && j.a[0] == 0 && j.b[0] == 1 && j.a[1] == 1 && j.b[1] == 2 && j.a[2] == 2 &&
          j.b[2] == 0);
    lrsa_labels_join_release(&j);
    /* Strict: d.jpg has no partner. */
    int rc = lrsa_labels_join(A, B, LRSA_JOIN_STRICT, &j, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "1 of 4 rows of 'img.labels.tsv' have no match in "
                   "'fmri.labels.tsv' (first: row 4, stimulus 'd.jpg'", "img.labels.tsv");
    CHECK(j.n == 0 && j.a == NULL);
    /* Inner: counts only. */
    CHECK_INT(lrsa_labels_join(B, A, LRSA_JOIN_INNER, &j, &err), LRSA_OK);
    CHECK(j.n == 3 && j.unmatched_a == 0 && j.unmatched_b == 1);
    CHECK(j.a[0] == 0 && j.b[0] == 2); /* pairs follow the first argument's row order */
    lrsa_labels_join_release(&j);
    lrsa_labels_free(B);

    /* Two subjects saw a.jpg: an image row matching both is ambiguous. */
    const char *f2[3] = { "a.jpg", "a.jpg", "b.jpg" };
    const char *s2[3] = { "CSI1", "CSI2", "CSI1" };
    B = make("two.labels.tsv", 3, f2, s2);
    rc = lrsa_labels_join(A, B, LRSA_JOIN_INNER, &j, &err);
    CHECK_ERR(rc, err, LRSA_ESHAPE, "ambiguous join: stimulus 'a.jpg'");
    CHECK_MSG(strstr(err.msg, "img.labels.tsv") && strstr(err.msg, "two.labels.tsv"), "%s", err.msg);
    /* Both with subjects: joined by (stimulus, subject). */
    const char *f3[3] = { "b.jpg", "a.jpg", "a.jpg" };
    const char *s3[3] = { "CSI1", "CSI2", "CSI1" };
    lrsa_labels *C = make("three.labels.tsv", 3, f3, s3);
    CHECK_INT(lrsa_labels_join(B, C, LRSA_JOIN_STRICT, &j, &err), LRSA_OK);
    CHECK(j.n == 3 && j.b[0] == 2 && j.b[1] == 1 && j.b[2] == 0);
    lrsa_labels_join_release(&j);
    /* Subjects that disagree do not match. */
    lrsa_labels_set(C, 0, LRSA_LBL_SUBJECT, "CSI3", NULL);
    CHECK_INT(lrsa_labels_join(B, C, LRSA_JOIN_INNER, &j, &err), LRSA_OK);
    CHECK(j.n == 2 && j.unmatched_a == 1 && j.unmatched_b == 1);
    lrsa_labels_join_release(&j);
    lrsa_labels_free(C);

    /* Duplicate keys inside one side. */
    const char *f4[3] = { "a.jpg", "b.jpg", "a.jpg" };
    const char *s4[3] = { "CSI1", "CSI1", "CSI1" };
    C = make("dup.labels.tsv", 3, f4, s4);
    rc = lrsa_labels_join(A, C, LRSA_JOIN_INNER, &j, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "duplicate key: rows 1 and 3 both have stimulus 'a.jpg'",
                   "dup.labels.tsv");
    lrsa_labels_free(C);
    const char *f5[2] = { "a.jpg", "a.jpg" };
    const char *s5[2] = { "n/a", "CSI1" };
    C = make("dupna.labels.tsv", 2, f5, s5);
    rc = lrsa_labels_join(C, A, LRSA_JOIN_INNER, &j, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "duplicate key", "dupna.labels.tsv");
    lrsa_labels_free(C);

    /* Nothing in common, and empty inputs. */
    const char *f6[1] = { "zzz.jpg" };
    C = make("none.labels.tsv", 1, f6, NULL);
    rc = lrsa_labels_join(A, C, LRSA_JOIN_INNER, &j, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no stimulus of 'img.labels.tsv' matches");
    lrsa_labels_free(C);
    C = lrsa_labels_new(0, NULL);
    rc = lrsa_labels_join(C, C, LRSA_JOIN_STRICT, &j, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "matches");
    lrsa_labels_free(C);
    lrsa_labels_free(B);
    lrsa_labels_free(A);

    /* A larger join in reverse order stays correct (sort-based, not quadratic). */
    enum { N = 2000 };
    lrsa_labels *X = lrsa_labels_new(N, NULL), *Y = lrsa_labels_new(N, NULL);
    char buf[32];
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "img%05d.jpg", i);
        lrsa_labels_set(X, i, 0, buf, NULL);
        lrsa_labels_set(Y, N - 1 - i, 0, buf, NULL);
    }
    CHECK_INT(lrsa_labels_join(X, Y, LRSA_JOIN_STRICT, &j, &err), LRSA_OK);
    int ok = j.n == N;
    for (int i = 0; ok && i < N; i++)
        ok = j.a[i] == i && j.b[i] == N - 1 - i;
    CHECK(ok);
    lrsa_labels_join_release(&j);
    lrsa_labels_free(X);
    lrsa_labels_free(Y);
}

int main(void)
{
    RUN(test_path);
    RUN(test_roundtrip);
    RUN(test_read_errors);
    RUN(test_join);
    return harness_done();
}
