/* Core: errors, RNG, tensors, string buffers, atomic output files. */
#include "harness.h"
#include "latentrsa/core.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_err(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(err.code, LRSA_OK);
    int rc = LRSA_FAIL(&err, LRSA_EFORMAT, "bad %s\nline", "thing");
    CHECK_INT(rc, LRSA_EFORMAT);
    CHECK_STR(err.msg, "bad thing line");
    lrsa_err_prefix(&err, "'%s'", "f.nii");
    CHECK_STR(err.msg, "'f.nii': bad thing line");
    CHECK_INT(LRSA_FAIL(NULL, LRSA_EIO, "x"), LRSA_EIO);
    CHECK_STR(lrsa_result_name(LRSA_ENOMEM), "out of memory");
}

static void test_rng(void)
{
    lrsa_rng a, b;
    lrsa_rng_seed(&a, 42);
    lrsa_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        CHECK(lrsa_rng_u64(&a) == lrsa_rng_u64(&b));
    /* Moments of 200k normals and uniforms. */
    double s = 0, s2 = 0, su = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = lrsa_rng_normal(&a);
        s += z;
        s2 += z * z;
        double u = lrsa_rng_uniform(&a);
        CHECK(u >= 0.0 && u < 1.0);
        su += u;
    }
    CHECK_NEAR(s / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 1.0, 0.02);
    CHECK_NEAR(su / n, 0.5, 0.005);
    int counts[7] = { 0 };
    for (int i = 0; i < 70000; i++)
        counts[lrsa_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(counts[i], 10000, 400);
}

static void test_tensor(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *m = lrsa_matrix_new(3, 4, &err);
    CHECK(m != NULL);
    CHECK_INT(lrsa_tensor_numel(m), 12);
    CHECK(m->data[11] == 0.0f);
    lrsa_tensor_free(m);
    int64_t bad[2] = { -1, 3 };
    CHECK(lrsa_tensor_new(2, bad, &err) == NULL);
    CHECK_INT(err.code, LRSA_ESHAPE);
    int64_t huge[3] = { INT64_MAX / 2, 4, 1 };
    CHECK(lrsa_shape_numel(3, huge) == -1);
    float buf[6];
    int64_t shape[2] = { 2, 3 };
    lrsa_tensor *w = lrsa_tensor_wrap(buf, 2, shape, &err);
    CHECK(w && w->data == buf && !w->owns);
    lrsa_tensor_free(w);
    lrsa_tensor_free(NULL);
}

static void test_strbuf(void)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    for (int i = 0; i < 1000; i++)
        lrsa_strbuf_addf(&sb, NULL, "%d,", i);
    CHECK(sb.len == strlen(sb.buf));
    CHECK(strncmp(sb.buf, "0,1,2,", 6) == 0);
    char *s = lrsa_strbuf_detach(&sb, NULL);
    CHECK(sb.buf == NULL && s != NULL);
    free(s);
    char *p = lrsa_path_join("a/b/", "c.nii", NULL);
    CHECK_STR(p, "a/b/c.nii");
    free(p);
}

static void test_outfile(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    char path[512];
    snprintf(path, sizeof path, "%s/core-outfile-%d.txt", harness_tmpdir(), (int)getpid());
    lrsa_outfile of;
    mode_t old_mask = umask(027);
    CHECK_INT(lrsa_outfile_open(&of, path, &err), LRSA_OK);
    umask(old_mask);
    fputs("hello", of.fp);
    CHECK(!lrsa_is_file(path)); /* not visible before commit */
    CHECK_INT(lrsa_outfile_commit(&of, &err), LRSA_OK);
    char *data;
    size_t len;
    CHECK_INT(lrsa_read_file(path, 0, &data, &len, &err), LRSA_OK);
    CHECK_STR(data, "hello");
    free(data);
    /* The usual mode: 0666 less the umask (the kernel's, not mkstemp's 0600). */
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    unlink(path);
    /* Aborted output leaves nothing behind. */
    CHECK_INT(lrsa_outfile_open(&of, path, &err), LRSA_OK);
    fputs("half", of.fp);
    lrsa_outfile_abort(&of);
    CHECK(!lrsa_is_file(path));
    /* Unwritable directory: a clear error naming the file. */
    int rc = lrsa_outfile_open(&of, "/nonexistent-dir/x.npy", &err);
    CHECK_ERR(rc, err, LRSA_EIO, "/nonexistent-dir/x.npy");
    rc = lrsa_read_file("/nonexistent-file", 0, &data, &len, &err);
    CHECK_ERR(rc, err, LRSA_ENOTFOUND, "/nonexistent-file");
}

int main(void)
{
    RUN(test_err);
    RUN(test_rng);
    RUN(test_tensor);
    RUN(test_strbuf);
    RUN(test_outfile);
    return harness_done();
}
