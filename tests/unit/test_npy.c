/* .npy: numpy-written fixtures (tools/gen_io_fixtures.py, expected.json) read exactly, our writer
 * byte-identical to np.save (numpy 1.26), and every malformed header rejected naming the file. */
#include "harness.h"
#include "latentrsa/npy.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

static char fixdir[2048];
static cJSON *expected;

static const char *fixture(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", fixdir, name);
    return buf;
}

static const char *tmpfile_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/test_npy_%ld_%s", harness_tmpdir(), (long)getpid(), name);
    return buf;
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(p, 1, n, fp);
    return fclose(fp) == 0 && w == n ? 0 : -1;
}

static int same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = lrsa_read_file(a, 0, &x, &nx, NULL) == LRSA_OK &&
               lrsa_read_file(b, 0, &y, &ny, NULL) == LRSA_OK && nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void load_expected(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/io", src && *src ? src : ".");
    char path[2200], *text = NULL;
    size_t n;
    CHECK_INT(lrsa_read_file(fixture("expected.json", path, sizeof path), 0, &text, &n, NULL), LRSA_OK);
    expected = text ? cJSON_Parse(text) : NULL;
    CHECK(expected != NULL);
    free(text);
}

/* Every fixture: read as float32 (exact: the reference values converted to float), and mapped
 * with the dtype, order and shape numpy recorded. */
static void test_fixtures(void)
{
    const cJSON *npy = cJSON_GetObjectItem(expected, "npy"), *e;
    int nfix = 0;
    cJSON_ArrayForEach(e, npy) {
        char name[256], path[2400];
        snprintf(name, sizeof name, "%s.npy", e->string);
        fixture(name, path, sizeof path);
        lrsa_err err;
        lrsa_err_init(&err);
        lrsa_tensor *t = NULL;
        int rc = lrsa_npy_read_f32(path, &t, &err);
        CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
        if (rc)
            continue;
        nfix++;
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        const cJSON *vals = cJSON_GetObjectItem(e, "values");
        CHECK_INT(t->ndim, cJSON_GetArraySize(shape));
        for (int d = 0; d < t->ndim && d < cJSON_GetArraySize(shape); d++)
            CHECK_INT(t->shape[d], cJSON_GetArrayItem(shape, d)->valueint);
        CHECK_INT(lrsa_tensor_numel(t), cJSON_GetArraySize(vals));
        double maxdiff = 0;
        int64_t n = lrsa_tensor_numel(t);
        for (int64_t i = 0; i < n && i < cJSON_GetArraySize(vals); i++) {
            double want = (float)cJSON_GetArrayItem(vals, (int)i)->valuedouble;
            double d = fabs(t->data[i] - want);
            if (d > maxdiff)
                maxdiff = d;
        }
        CHECK_MSG(maxdiff == 0, "%s: max |diff| %g (tolerance 0: float32 rounding of numpy's values)",
                  name, maxdiff);
        lrsa_tensor_free(t);

        /* The mapping: header fields and exact float64 decoding. */
        lrsa_npy_mapping *m = NULL;
        CHECK_INT(lrsa_npy_map(path, &m, &err), LRSA_OK);
        if (!m)
            continue;
        const char *descr = cJSON_GetObjectItem(e, "descr")->valuestring;
        CHECK_INT(m->hdr.big_endian, descr[0] == '>');
        CHECK_INT(m->hdr.itemsize, descr[2] - '0');
        CHECK_INT(m->hdr.fortran_order, cJSON_IsTrue(cJSON_GetObjectItem(e, "fortran_order")));
        CHECK_INT(m->hdr.data_offset % 64, 0);
        CHECK_INT((uintptr_t)m->data % (uintptr_t)m->hdr.itemsize, 0);
        double *d64 = malloc((size_t)(m->hdr.numel + 1) * sizeof(double));
        lrsa_npy_decode_f64(&m->hdr, m->data, d64);
        maxdiff = 0;
        for (int64_t i = 0; i < m->hdr.numel && i < cJSON_GetArraySize(vals); i++) {
            double d = fabs(d64[i] - cJSON_GetArrayItem(vals, (int)i)->valuedouble);
            if (d > maxdiff)
                maxdiff = d;
        }
        CHECK_MSG(maxdiff == 0, "%s: float64 max |diff| %g (tolerance 0)", name, maxdiff);
        free(d64);
        lrsa_npy_unmap(m);
    }
    fprintf(stderr, "   %d numpy fixtures read, max |diff| 0\n", nfix);
    CHECK(nfix >= 20);
}

static void test_dtype_names(void)
{
    char path[2400];
    lrsa_npy_mapping *m = NULL;
    CHECK_INT(lrsa_npy_map(fixture("u8.npy", path, sizeof path), &m, NULL), LRSA_OK);
    CHECK_INT(m->hdr.dtype, LRSA_NPY_U64);
    CHECK_STR(lrsa_npy_dtype_name(m->hdr.dtype), "uint64");
    lrsa_npy_unmap(m);
    CHECK_INT(lrsa_npy_map(fixture("bool.npy", path, sizeof path), &m, NULL), LRSA_OK);
    CHECK_INT(m->hdr.dtype, LRSA_NPY_BOOL);
    lrsa_npy_unmap(m);
    CHECK_INT(lrsa_npy_map(fixture("f4_v3.npy", path, sizeof path), &m, NULL), LRSA_OK);
    CHECK_INT(m->hdr.version_major, 3);
    lrsa_npy_unmap(m);
    CHECK_INT(lrsa_npy_dtype_size(LRSA_NPY_F16), 2);
    CHECK_STR(lrsa_npy_dtype_name((lrsa_npy_dtype)99), "unknown");
}

/* Our writer makes the same bytes as np.save for every little-endian (or one-byte) fixture
 * written with header version 1.0, C and Fortran order alike. */
static void test_write_matches_numpy(void)
{
    const cJSON *npy = cJSON_GetObjectItem(expected, "npy"), *e;
    int nsame = 0;
    cJSON_ArrayForEach(e, npy) {
        const char *descr = cJSON_GetObjectItem(e, "descr")->valuestring;
        if (descr[0] == '>' || strstr(e->string, "_v"))
            continue;
        char name[256], path[2400], out[2400];
        snprintf(name, sizeof name, "%s.npy", e->string);
        fixture(name, path, sizeof path);
        tmpfile_path(name, out, sizeof out);
        lrsa_npy_mapping *m = NULL;
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK_INT(lrsa_npy_map(path, &m, &err), LRSA_OK);
        if (!m)
            continue;
        CHECK_INT(lrsa_npy_write(out, m->hdr.dtype, m->hdr.fortran_order, m->hdr.ndim, m->hdr.shape,
                                 m->data, &err), LRSA_OK);
        int same = same_file(path, out);
        CHECK_MSG(same, "%s: our bytes differ from np.save's", name);
        nsame += same;
        unlink(out);
        lrsa_npy_unmap(m);
    }
    fprintf(stderr, "   %d files byte-identical to np.save\n", nsame);
    CHECK(nsame >= 15);

    /* And the float32 entry point. */
    char path[2400], out[2400];
    lrsa_tensor *t = NULL;
    CHECK_INT(lrsa_npy_read_f32(fixture("f4_c.npy", path, sizeof path), &t, NULL), LRSA_OK);
    CHECK_INT(lrsa_npy_write_f32(tmpfile_path("w.npy", out, sizeof out), t->ndim, t->shape, t->data,
                                 NULL), LRSA_OK);
    CHECK(same_file(path, out));
    unlink(out);
    lrsa_tensor_free(t);
}

static void test_roundtrip(void)
{
    char out[2400];
    tmpfile_path("rt.npy", out, sizeof out);
    int64_t shape[3] = { 2, 3, 5 };
    float data[30];
    for (int i = 0; i < 30; i++)
        data[i] = (float)(i * 0.37 - 4.0);
    data[7] = INFINITY;
    CHECK_INT(lrsa_npy_write_f32(out, 3, shape, data, NULL), LRSA_OK);
    lrsa_tensor *t = NULL;
    CHECK_INT(lrsa_npy_read_f32(out, &t, NULL), LRSA_OK);
    CHECK(t && t->ndim == 3 && t->shape[2] == 5 && memcmp(t->data, data, sizeof data) == 0);
    lrsa_tensor_free(t);
    /* Fortran order in, C order out. */
    double f[6] = { 1, 4, 2, 5, 3, 6 }; /* [[1,2,3],[4,5,6]] column-major */
    int64_t s2[2] = { 2, 3 };
    CHECK_INT(lrsa_npy_write(out, LRSA_NPY_F64, 1, 2, s2, f, NULL), LRSA_OK);
    CHECK_INT(lrsa_npy_read_f32(out, &t, NULL), LRSA_OK);
    for (int i = 0; t && i < 6; i++)
        CHECK_NEAR(t->data[i], i + 1, 0);
    lrsa_tensor_free(t);
    /* The header alone, for streaming writers. */
    char *h = NULL;
    size_t hl = 0;
    int64_t big[2] = { 5000, 715 };
    CHECK_INT(lrsa_npy_format_header(LRSA_NPY_F32, 0, 2, big, &h, &hl, NULL), LRSA_OK);
    CHECK_INT(hl % 64, 0);
    CHECK(h && memcmp(h + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (5000, 715), }", 64) == 0);
    CHECK(h && h[hl - 1] == '\n');
    free(h);
    unlink(out);
}

/* Writing never leaves a partial file. */
static void test_write_errors(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    int64_t shape[2] = { 2, 2 };
    float d[4] = { 0 };
    int rc = lrsa_npy_write_f32("/nonexistent-dir/x.npy", 2, shape, d, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EIO, "cannot create", "/nonexistent-dir/x.npy");
    char out[2400];
    tmpfile_path("bad.npy", out, sizeof out);
    int64_t neg[2] = { -1, 2 };
    rc = lrsa_npy_write_f32(out, 2, neg, d, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EMISUSE, "invalid shape", out);
    CHECK(!lrsa_is_file(out));
    rc = lrsa_npy_write_f32(out, 9, shape, d, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "rank 9");
    CHECK(!lrsa_is_file(out));
}

/* A .npy image from a header dict and a data size (version 1.0, or `ver` with a 4-byte length). */
static size_t make_npy(unsigned char *buf, int ver, const char *dict, size_t data_bytes)
{
    size_t dl = strlen(dict);
    size_t pre = ver == 1 ? 10 : 12;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)ver;
    buf[7] = 0;
    buf[8] = (unsigned char)(dl & 0xff);
    buf[9] = (unsigned char)(dl >> 8);
    if (ver != 1) {
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, 0, data_bytes);
    return pre + dl + data_bytes;
}

/* Parse in memory and also as a file, expecting `code` with `needle` and the file name. */
static void expect_bad(const unsigned char *buf, size_t n, int code, const char *needle)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_npy_header h;
    int rc = lrsa_npy_parse_header(buf, n, -1, "mem.npy", &h, &err);
    CHECK_ERR_FILE(rc, err, code, needle, "'mem.npy'");
    char path[2400];
    tmpfile_path("bad_input.npy", path, sizeof path);
    CHECK(write_bytes(path, buf, n) == 0);
    lrsa_tensor *t = (lrsa_tensor *)&h; /* must be reset to NULL */
    lrsa_err_init(&err);
    rc = lrsa_npy_read_f32(path, &t, &err);
    CHECK_ERR_FILE(rc, err, code, needle, path);
    CHECK(t == NULL);
    unlink(path);
}

static void test_bad_headers(void)
{
    static unsigned char buf[4096];
    size_t n;
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    n = make_npy(buf, 1, good, 24);
    lrsa_npy_header h;
    CHECK_INT(lrsa_npy_parse_header(buf, n, -1, "ok.npy", &h, NULL), LRSA_OK);
    CHECK_INT(h.numel, 6);

    /* Truncation at every length, from the magic into the data. */
    for (size_t cut = 0; cut < n; cut++) {
        lrsa_err err;
        lrsa_err_init(&err);
        int rc = lrsa_npy_parse_header(buf, cut, -1, "cut.npy", &h, &err);
        CHECK_MSG(rc == LRSA_EFORMAT && strstr(err.msg, "'cut.npy'"), "cut %zu: rc %d '%s'", cut, rc,
                  err.msg);
    }
    expect_bad(buf, n - 1, LRSA_EFORMAT, "truncated file: the shape needs 24 data bytes, 23 present");
    expect_bad(buf, 4, LRSA_EFORMAT, "truncated .npy file");
    expect_bad(buf, 7, LRSA_EFORMAT, "truncated .npy file (7 bytes)");
    expect_bad(buf, 9, LRSA_EFORMAT, "truncated .npy header");
    expect_bad(buf, 0, LRSA_EFORMAT, "truncated .npy file");
    n = make_npy(buf, 1, good, 25);
    expect_bad(buf, n, LRSA_EFORMAT, "trailing data");

    n = make_npy(buf, 1, good, 24);
    buf[1] = 'X';
    expect_bad(buf, n, LRSA_EFORMAT, "bad magic");
    n = make_npy(buf, 4, good, 24);
    expect_bad(buf, n, LRSA_EUNSUPPORTED, "version 4.0");
    n = make_npy(buf, 1, good, 24);
    buf[8] = 0xff;
    buf[9] = 0x7f;
    expect_bad(buf, n, LRSA_EFORMAT, "runs past the end of the file");
    n = make_npy(buf, 2, good, 24);
    buf[11] = 0x7f;
    expect_bad(buf, n, LRSA_EFORMAT, "exceeds the limit");

    struct {
        const char *dict;
        size_t data;
        int code;
        const char *needle;
    } cases[] = {
        { "{'descr': '<f4', 'fortran_order': False}\n", 4, LRSA_EFORMAT, "lacks 'shape'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", 8, LRSA_EFORMAT,
          "unexpected key 'x'" },
        { "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}\n", 4, LRSA_EFORMAT,
          "repeats 'descr'" },
        { "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n", 16, LRSA_EUNSUPPORTED,
          "object arrays" },
        { "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", 16, LRSA_EUNSUPPORTED,
          "unsupported dtype '<c8'" },
        { "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }\n", 24, LRSA_EUNSUPPORTED,
          "unsupported dtype" },
        { "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8,
          LRSA_EUNSUPPORTED, "structured" },
        { "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }\n", 8, LRSA_EFORMAT,
          "needs a byte order" },
        { "{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }\n", 8, LRSA_EFORMAT,
          "True or False" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }\n", 8, LRSA_EFORMAT,
          "bad dimension" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }\n", 8, LRSA_EFORMAT,
          "not a tuple" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }\n", 8, LRSA_EFORMAT,
          "not a tuple" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, "
          "4611686018427387904), }\n", 8, LRSA_EFORMAT, "too large" },
        { "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\n", 8,
          LRSA_EFORMAT, "truncated file" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 8,
          LRSA_EFORMAT, "bad dimension" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4,
          LRSA_EUNSUPPORTED, "more than 8 dimensions" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x\n", 8, LRSA_EFORMAT,
          "unexpected bytes" },
        { "['descr', '<f4']\n", 8, LRSA_EFORMAT, "not a dict" },
        { "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }\n", 8, LRSA_EFORMAT,
          "malformed header dict" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = make_npy(buf, 1, cases[i].dict, cases[i].data);
        expect_bad(buf, n, cases[i].code, cases[i].needle);
    }
    /* A NUL inside the header. */
    n = make_npy(buf, 1, good, 24);
    buf[20] = 0;
    expect_bad(buf, n, LRSA_EFORMAT, "NUL byte");
    /* Accepted variants: double quotes, no trailing comma, keys in any order, 'L' suffix. */
    n = make_npy(buf, 1, "{\"shape\": (2L, 3), \"fortran_order\": True, \"descr\": \">i2\"}", 12);
    CHECK_INT(lrsa_npy_parse_header(buf, n, -1, "v.npy", &h, NULL), LRSA_OK);
    CHECK(h.fortran_order == 1 && h.big_endian == 1 && h.dtype == LRSA_NPY_I16 && h.shape[1] == 3);

    /* numpy's own object array (pickle inside) is refused without unpickling anything. */
    char path[2400];
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *t = NULL;
    fixture("object.npy", path, sizeof path);
    int rc = lrsa_npy_read_f32(path, &t, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EUNSUPPORTED, "object arrays", path);
    /* Missing file and a directory. */
    rc = lrsa_npy_read_f32("/nonexistent/x.npy", &t, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "cannot open", "/nonexistent/x.npy");
    rc = lrsa_npy_read_f32(fixdir, &t, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EIO, "directory", fixdir);
}

int main(void)
{
    load_expected();
    if (!expected)
        return harness_done();
    RUN(test_fixtures);
    RUN(test_dtype_names);
    RUN(test_write_matches_numpy);
    RUN(test_roundtrip);
    RUN(test_write_errors);
    RUN(test_bad_headers);
    cJSON_Delete(expected);
    return harness_done();
}
