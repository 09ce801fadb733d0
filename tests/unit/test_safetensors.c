/* safetensors: files written by the safetensors 0.4.5 package (tools/gen_io_fixtures.py) read
 * exactly (F32, F16 with subnormals/inf/NaN, BF16), our F32 writer byte-identical to the package,
 * and every rule of the format enforced with an error naming the file. */
#include "harness.h"
#include "latentrsa/safetensors.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static char fixdir[2048];
static cJSON *expected;

static const char *fixture(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", fixdir, name);
    return buf;
}

static const char *tmp_path(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/test_st_%ld_%s", harness_tmpdir(), (long)getpid(), name);
    return buf;
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

static const cJSON *exp_file(const char *name)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(expected, "safetensors"), name);
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_f32_fixture(void)
{
    char path[2400];
    fixture("st_f32.safetensors", path, sizeof path);
    lrsa_safetensors *st = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_st_open(path, &st, &err) == LRSA_OK, "%s", err.msg);
    if (!st)
        return;
    const cJSON *ef = exp_file("st_f32"), *e;
    const cJSON *meta = cJSON_GetObjectItem(ef, "metadata");
    CHECK_INT(st->nmeta, cJSON_GetArraySize(meta));
    cJSON_ArrayForEach(e, meta)
        CHECK_STR(lrsa_st_meta(st, e->string), e->valuestring);
    CHECK(lrsa_st_meta(st, "missing") == NULL);
    const char *v = lrsa_st_meta(st, "versions");
    CHECK(v && strstr(v, "safetensors=0.4.5") && strstr(v, "quote \" tab \t unicode \xc3\xa9"));
    const cJSON *tensors = cJSON_GetObjectItem(ef, "tensors");
    CHECK_INT(st->ntensors, cJSON_GetArraySize(tensors));
    double maxdiff = 0;
    cJSON_ArrayForEach(e, tensors) {
        const lrsa_st_tensor *info = lrsa_st_find(st, e->string);
        CHECK_MSG(info != NULL, "no tensor '%s'", e->string);
        if (!info)
            continue;
        CHECK_INT(info->dtype, LRSA_ST_F32);
        const cJSON *shape = cJSON_GetObjectItem(e, "shape"), *vals = cJSON_GetObjectItem(e, "values");
        CHECK_INT(info->ndim, cJSON_GetArraySize(shape));
        lrsa_tensor *t = NULL;
        CHECK_INT(lrsa_st_get_f32(st, e->string, &t, &err), LRSA_OK);
        if (!t)
            continue;
        for (int d = 0; d < t->ndim; d++)
            CHECK_INT(t->shape[d], cJSON_GetArrayItem(shape, d)->valueint);
        CHECK_INT(lrsa_tensor_numel(t), cJSON_GetArraySize(vals));
        for (int i = 0; i < cJSON_GetArraySize(vals) && i < lrsa_tensor_numel(t); i++) {
            double d = fabs(t->data[i] - (float)cJSON_GetArrayItem(vals, i)->valuedouble);
            if (d > maxdiff)
                maxdiff = d;
        }
        lrsa_tensor_free(t);
    }
    CHECK_MSG(maxdiff == 0, "max |diff| %g (tolerance 0)", maxdiff);
    fprintf(stderr, "   F32: %d tensors, max |diff| %g\n", st->ntensors, maxdiff);

    /* read_into: the right shape works, a wrong one names both shapes. */
    float buf[4];
    int64_t s4[1] = { 4 }, s5[1] = { 5 };
    CHECK_INT(lrsa_st_read_into_f32(st, "encoder.0.bias", 1, s4, buf, &err), LRSA_OK);
    int rc = lrsa_st_read_into_f32(st, "encoder.0.bias", 1, s5, buf, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ESHAPE, "tensor 'encoder.0.bias' has shape [4], expected [5]", path);
    lrsa_tensor *t = NULL;
    rc = lrsa_st_get_f32(st, "nope", &t, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "no tensor 'nope'", path);
    CHECK(t == NULL);

    /* Our writer: the same tensors and metadata give the package's exact bytes. */
    lrsa_st_entry entries[8];
    lrsa_tensor *keep[8] = { 0 };
    int ne = 0;
    cJSON_ArrayForEach(e, tensors) {
        if (ne >= 8 || lrsa_st_get_f32(st, e->string, &keep[ne], NULL) != LRSA_OK)
            continue;
        entries[ne].name = e->string;
        entries[ne].ndim = keep[ne]->ndim;
        entries[ne].shape = keep[ne]->shape;
        entries[ne].data = keep[ne]->data;
        ne++;
    }
    const char *kv[32];
    int nm = 0;
    /* (The package writes several metadata keys in random order, ours sorted: the fixture has one.) */
    for (int i = cJSON_GetArraySize(meta) - 1; i >= 0 && nm < 16; i--, nm++) {
        kv[2 * nm] = cJSON_GetArrayItem(meta, i)->string;
        kv[2 * nm + 1] = cJSON_GetArrayItem(meta, i)->valuestring;
    }
    char out[2400];
    tmp_path("w.safetensors", out, sizeof out);
    CHECK_INT(lrsa_st_write_f32(out, entries, ne, kv, nm, &err), LRSA_OK);
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    lrsa_read_file(path, 0, &x, &nx, NULL);
    lrsa_read_file(out, 0, &y, &ny, NULL);
    CHECK_MSG(x && y && nx == ny && memcmp(x, y, nx) == 0,
              "our file (%zu bytes) differs from the package's (%zu bytes)", ny, nx);
    free(x);
    free(y);
    /* Writer misuse leaves no file. */
    unlink(out);
    entries[1].name = entries[0].name;
    rc = lrsa_st_write_f32(out, entries, ne, NULL, 0, &err);
    CHECK_ERR_FILE(rc, err, LRSA_EMISUSE, "repeated", out);
    CHECK(!lrsa_is_file(out));
    entries[1].name = "__metadata__";
    rc = lrsa_st_write_f32(out, entries, ne, NULL, 0, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "invalid tensor name");
    CHECK(!lrsa_is_file(out));
    for (int i = 0; i < ne; i++)
        lrsa_tensor_free(keep[i]);
    lrsa_st_close(st);
}

/* F16 and BF16: every converted value has numpy's/ml_dtypes' float32 bit pattern. */
static void check_bits_file(const char *file, const char *key)
{
    char path[2400];
    fixture(file, path, sizeof path);
    lrsa_safetensors *st = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_st_open(path, &st, &err) == LRSA_OK, "%s", err.msg);
    if (!st)
        return;
    const char *v = lrsa_st_meta(st, "versions");
    CHECK(v && strstr(v, "generator=tools/gen_io_fixtures.py"));
    const cJSON *tensors = cJSON_GetObjectItem(exp_file(key), "tensors"), *e;
    cJSON_ArrayForEach(e, tensors) {
        lrsa_tensor *t = NULL;
        CHECK_INT(lrsa_st_get_f32(st, e->string, &t, &err), LRSA_OK);
        if (!t)
            continue;
        const cJSON *bits = cJSON_GetObjectItem(e, "f32_bits");
        const cJSON *vals = cJSON_GetObjectItem(e, "values");
        int bad = 0, n = 0;
        for (int i = 0; bits && i < cJSON_GetArraySize(bits); i++, n++)
            bad += f2u(t->data[i]) != (uint32_t)cJSON_GetArrayItem(bits, i)->valuedouble;
        for (int i = 0; vals && i < cJSON_GetArraySize(vals); i++, n++)
            bad += t->data[i] != (float)cJSON_GetArrayItem(vals, i)->valuedouble;
        CHECK_MSG(bad == 0, "%s/%s: %d of %d values differ in their bits", file, e->string, bad, n);
        CHECK_INT(lrsa_tensor_numel(t), n);
        fprintf(stderr, "   %s/%s (%s): %d values bit-exact\n", file, e->string,
                cJSON_GetObjectItem(e, "dtype")->valuestring, n - bad);
        lrsa_tensor_free(t);
    }
    lrsa_st_close(st);
}

static void test_half(void)
{
    check_bits_file("st_f16.safetensors", "st_f16");
    check_bits_file("st_bf16.safetensors", "st_bf16");
    CHECK(f2u(lrsa_half_to_float(0x0001)) == f2u(5.9604644775390625e-08f));
    CHECK(f2u(lrsa_half_to_float(0x8000)) == 0x80000000u);
    CHECK(isinf(lrsa_half_to_float(0xfc00)) && lrsa_half_to_float(0xfc00) < 0);
    CHECK(isnan(lrsa_half_to_float(0x7e01)));
    CHECK(lrsa_half_to_float(0x7bff) == 65504.0f);
    CHECK(lrsa_bf16_to_float(0x3f80) == 1.0f);
}

/* A file from a JSON header and a data area of `data_len` bytes (value i & 0xff). */
static size_t make_st(unsigned char *buf, size_t cap, const char *json, size_t data_len)
{
    size_t n = strlen(json);
    if (8 + n + data_len > cap)
        return 0;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + n + i] = (unsigned char)i;
    return 8 + n + data_len;
}

/* Expect the file (written to disk) and the same bytes in memory to be refused. */
static void expect_bad(const unsigned char *buf, size_t n, int code, const char *needle)
{
    char path[2400];
    tmp_path("bad.safetensors", path, sizeof path);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fwrite(buf, 1, n, fp);
    fclose(fp);
    lrsa_safetensors *st = (lrsa_safetensors *)buf; /* must come back NULL */
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_st_open(path, &st, &err);
    CHECK_ERR_FILE(rc, err, code, needle, path);
    CHECK(st == NULL);
    lrsa_err_init(&err);
    rc = lrsa_st_parse(buf, n, "mem.safetensors", &st, &err);
    CHECK_ERR_FILE(rc, err, code, needle, "'mem.safetensors'");
    unlink(path);
}

static void test_bad_files(void)
{
    static unsigned char buf[8192];
    size_t n;
    const char *good = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I32\",\"shape\":[1],"
                       "\"data_offsets\":[8,12]}}  ";
    n = make_st(buf, sizeof buf, good, 12);
    lrsa_safetensors *st = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_st_parse(buf, n, "good", &st, &err) == LRSA_OK, "%s", err.msg);
    if (st) {
        CHECK_INT(st->ntensors, 2);
        lrsa_tensor *t = NULL;
        int rc = lrsa_st_get_f32(st, "b", &t, &err);
        CHECK_ERR(rc, err, LRSA_EUNSUPPORTED, "tensor 'b' has dtype I32");
        CHECK(lrsa_st_raw(st, lrsa_st_find(st, "b")) == buf + n - 4);
        lrsa_st_close(st);
    }
    /* Truncations: every cut of a valid file is refused. */
    for (size_t cut = 0; cut < n; cut++) {
        lrsa_err_init(&err);
        int rc = lrsa_st_parse(buf, cut, "cut", &st, &err);
        CHECK_MSG(rc == LRSA_EFORMAT && strstr(err.msg, "'cut'"), "cut %zu: rc %d '%s'", cut, rc,
                  err.msg);
    }
    expect_bad(buf, 5, LRSA_EFORMAT, "truncated safetensors file (5 bytes)");
    expect_bad(buf, n - 3, LRSA_EFORMAT, "past the data area");
    /* Header length: past EOF, above the 100 MB bound. */
    n = make_st(buf, sizeof buf, good, 12);
    buf[2] = 1;
    expect_bad(buf, n, LRSA_EFORMAT, "runs past the end of the file");
    buf[2] = 0;
    buf[4] = 1; /* 2^32 + ... */
    expect_bad(buf, n, LRSA_EFORMAT, "exceeds the limit");

    struct {
        const char *json;
        size_t data;
        int code;
        const char *needle;
    } cases[] = {
        { "[1, 2]", 0, LRSA_EFORMAT, "does not start with '{'" },
        { " {}", 0, LRSA_EFORMAT, "does not start with '{'" },
        { "{\"a\":", 0, LRSA_EFORMAT, "not a valid JSON object" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, LRSA_EFORMAT,
          "trailing bytes" },
        { "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LRSA_EFORMAT,
          "unknown dtype 'F33'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, LRSA_EFORMAT,
          "F32 shape of 3 elements needs 12 bytes, data_offsets [0, 8] hold 8" },
        { "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4, LRSA_EFORMAT,
          "needs 8 bytes" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, LRSA_EFORMAT,
          "overlaps" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, LRSA_EFORMAT,
          "gap in the data area before tensor 'b'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, LRSA_EFORMAT,
          "cover 4 of the 8 bytes" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, LRSA_EFORMAT,
          "past the data area" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, LRSA_EFORMAT,
          "end before they begin" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, LRSA_EFORMAT,
          "repeats the key 'a'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, LRSA_EFORMAT,
          "bad dimension" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, LRSA_EFORMAT,
          "bad dimension" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, LRSA_EFORMAT,
          "two non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, LRSA_EFORMAT, "lacks 'data_offsets'" },
        { "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LRSA_EFORMAT,
          "dtype is not a string" },
        { "{\"a\":[1]}", 0, LRSA_EFORMAT, "tensor 'a' is not a JSON object" },
        { "{\"__metadata__\":{\"k\":1}}", 0, LRSA_EFORMAT, "value of 'k' is not a string" },
        { "{\"__metadata__\":[\"k\"]}", 0, LRSA_EFORMAT, "__metadata__ is not a JSON object" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}",
          4, LRSA_EFORMAT, "needs" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
          LRSA_EUNSUPPORTED, "9 dimensions" },
        { "{\"\xff\":{}}", 0, LRSA_EFORMAT, "not valid UTF-8" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = make_st(buf, sizeof buf, cases[i].json, cases[i].data);
        expect_bad(buf, n, cases[i].code, cases[i].needle);
    }
    /* Accepted: an empty header object, a null __metadata__, zero-size tensors. */
    n = make_st(buf, sizeof buf, "{}", 0);
    CHECK_INT(lrsa_st_parse(buf, n, "e", &st, NULL), LRSA_OK);
    lrsa_st_close(st);
    n = make_st(buf, sizeof buf, "{\"__metadata__\":null,\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],"
                "\"data_offsets\":[0,0]},\"y\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}",
                2);
    CHECK_INT(lrsa_st_parse(buf, n, "z", &st, NULL), LRSA_OK);
    if (st) {
        CHECK_INT(lrsa_st_find(st, "y")->numel, 1);
        lrsa_st_close(st);
    }
    int rc = lrsa_st_open("/nonexistent/m.safetensors", &st, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "cannot open", "/nonexistent/m.safetensors");
}

static void test_roundtrip(void)
{
    char out[2400];
    tmp_path("rt.safetensors", out, sizeof out);
    float w[6] = { 1, -2, 3.5f, NAN, INFINITY, -0.0f }, b[1] = { 7 };
    int64_t sw[2] = { 2, 3 }, sb[1] = { 1 };
    lrsa_st_entry e[2] = { { "w", 2, sw, w }, { "b", 1, sb, b } };
    const char *kv[] = { "channels", "3", "render", "{\"threshold\": 2.5}" };
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_st_write_f32(out, e, 2, kv, 2, &err), LRSA_OK);
    lrsa_safetensors *st = NULL;
    CHECK_INT(lrsa_st_open(out, &st, &err), LRSA_OK);
    if (!st)
        return;
    CHECK_STR(lrsa_st_meta(st, "render"), "{\"threshold\": 2.5}");
    lrsa_tensor *t = NULL;
    CHECK_INT(lrsa_st_get_f32(st, "w", &t, &err), LRSA_OK);
    CHECK(t && memcmp(t->data, w, sizeof w) == 0);
    lrsa_tensor_free(t);
    CHECK_INT(st->tensors[0].begin, 0); /* "b" sorts first */
    CHECK_STR(st->tensors[0].name, "b");
    lrsa_st_close(st);
    unlink(out);
}

int main(void)
{
    load_expected();
    if (!expected)
        return harness_done();
    RUN(test_f32_fixture);
    RUN(test_half);
    RUN(test_bad_files);
    RUN(test_roundtrip);
    cJSON_Delete(expected);
    return harness_done();
}
