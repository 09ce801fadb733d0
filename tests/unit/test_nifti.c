/* NIfTI reading and writing: every Debian test file against nibabel (tests/fixtures/nifti/
 * expected.json from tools/gen_nifti_expected.py), round trips through lrsa_nifti_write, files
 * built by hand (big-endian, NIfTI-2, .hdr/.img pairs) and corrupt files.
 *
 * Tolerances: voxel values rel 1e-6 (float32 precision; int data with slope 1 is exact), volume
 * sums and sums of squares rel 1e-4, affines 1e-5 relative to max(1, |value|). */
#include "harness.h"
#include "latentrsa/nifti.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static double max_val_rel, max_sum_rel, max_aff_abs;

static double rel_diff(double a, double b)
{
    double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
    return s > 0 ? d / s : d;
}

static char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/test_nifti_%d_%s", harness_tmpdir(), (int)getpid(), name);
    return p;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(data, 1, n, fp);
    return (fclose(fp) == 0 && w == n) ? 0 : -1;
}

static int write_gz(const char *path, const void *data, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    if (!gz)
        return -1;
    int w = gzwrite(gz, data, (unsigned)n);
    return (gzclose(gz) == Z_OK && w == (int)n) ? 0 : -1;
}

/* ===== Hand-built headers (explicit offsets, either byte order) ======== */
typedef struct hb {
    unsigned char *p;
    int be;
} hb;

static void put(hb *h, size_t off, const void *v, int n)
{
    const unsigned char *s = v;
    /* host is little-endian on every machine we test on; check it once in main */
    for (int i = 0; i < n; i++)
        h->p[off + (size_t)i] = h->be ? s[n - 1 - i] : s[i];
}
static void put16(hb *h, size_t off, int16_t v) { put(h, off, &v, 2); }
static void put32(hb *h, size_t off, int32_t v) { put(h, off, &v, 4); }
static void put64(hb *h, size_t off, int64_t v) { put(h, off, &v, 8); }
static void putf(hb *h, size_t off, float v) { put(h, off, &v, 4); }
static void putd(hb *h, size_t off, double v) { put(h, off, &v, 8); }

/* A NIfTI-1 single-file header (352 bytes incl. extender) with an sform. */
static void mk_n1(unsigned char *buf, int be, int ndim, const int16_t *dims, int16_t datatype,
                  int16_t bitpix, float vox_offset, float slope, float inter)
{
    memset(buf, 0, 352);
    hb h = { buf, be };
    put32(&h, 0, 348);
    put16(&h, 40, (int16_t)ndim);
    for (int i = 0; i < 7; i++)
        put16(&h, 42 + 2 * (size_t)i, i < ndim ? dims[i] : 1);
    put16(&h, 70, datatype);
    put16(&h, 72, bitpix);
    float pix[8] = { 1, 2, 3, 4, 1500, 1, 1, 1 };
    for (int i = 0; i < 8; i++)
        putf(&h, 76 + 4 * (size_t)i, pix[i]);
    putf(&h, 108, vox_offset);
    putf(&h, 112, slope);
    putf(&h, 116, inter);
    buf[123] = 2 | 16; /* mm, msec */
    put16(&h, 252, 0);
    put16(&h, 254, 1);
    float srow[3][4] = { { 2, 0, 0, -10 }, { 0, 3, 0, -20 }, { 0, 0, 4, -30 } };
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            putf(&h, 280 + 16 * (size_t)r + 4 * (size_t)c, srow[r][c]);
    memcpy(buf + 344, "n+1\0", 4);
}

/* A NIfTI-2 single-file header (544 bytes incl. extender). */
static void mk_n2(unsigned char *buf, int be, int ndim, const int64_t *dims, int16_t datatype,
                  int16_t bitpix, int64_t vox_offset)
{
    memset(buf, 0, 544);
    hb h = { buf, be };
    put32(&h, 0, 540);
    memcpy(buf + 4, "n+2\0\r\n\032\n", 8);
    put16(&h, 12, datatype);
    put16(&h, 14, bitpix);
    put64(&h, 16, ndim);
    for (int i = 0; i < 7; i++)
        put64(&h, 24 + 8 * (size_t)i, i < ndim ? dims[i] : 1);
    double pix[8] = { 1, 2, 2, 2, 2, 1, 1, 1 };
    for (int i = 0; i < 8; i++)
        putd(&h, 104 + 8 * (size_t)i, pix[i]);
    put64(&h, 168, vox_offset);
    putd(&h, 176, 0);
    put32(&h, 348, 1);
    double srow[3][4] = { { 2, 0, 0, 1 }, { 0, 2, 0, 2 }, { 0, 0, 2, 3 } };
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            putd(&h, 400 + 32 * (size_t)r + 8 * (size_t)c, srow[r][c]);
    put32(&h, 500, 2 | 8);
}

/* ===== Debian files against nibabel ==================================== */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, fp) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(fp);
    return s;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void check_values(const char *path, const lrsa_nifti_header *hdr, const cJSON *vols)
{
    int nv = cJSON_GetArraySize(vols);
    if (nv == 0)
        return;
    int64_t *list = calloc((size_t)nv + 1, sizeof *list);
    for (int i = 0; i < nv; i++)
        list[i] = (int64_t)jnum(cJSON_GetArrayItem(vols, i), "t");
    /* All listed volumes in one pass, plus a duplicate of the first one. */
    list[nv] = list[0];
    lrsa_nifti_bricks *b = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_nifti_read_bricks(path, nv + 1, list, &b, &err);
    CHECK_MSG(rc == LRSA_OK, "'%s': %s", path, err.msg);
    if (rc) {
        free(list);
        return;
    }
    int64_t nx = hdr->dims[0], ny = hdr->dims[1], nvox = hdr->dims[0] * hdr->dims[1] * hdr->dims[2];
    float *v = malloc((size_t)nvox * sizeof *v), *v2 = malloc((size_t)nvox * sizeof *v2);
    for (int i = 0; i < nv; i++) {
        const cJSON *vo = cJSON_GetArrayItem(vols, i);
        CHECK_INT(lrsa_nifti_bricks_volume(b, i, v, (size_t)nvox, &err), LRSA_OK);
        double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
        int64_t nonfinite = 0;
        for (int64_t q = 0; q < nvox; q++) {
            double x = v[q];
            if (!isfinite(x)) {
                nonfinite++;
                continue;
            }
            sum += x;
            sumsq += x * x;
            mn = fmin(mn, x);
            mx = fmax(mx, x);
        }
        CHECK_INT(nonfinite, (int64_t)jnum(vo, "nonfinite"));
        double es = jnum(vo, "sum"), eq = jnum(vo, "sumsq");
        double rs = fabs(sum - es) / fmax(1.0, fabs(es)), rq = fabs(sumsq - eq) / fmax(1.0, fabs(eq));
        max_sum_rel = fmax(max_sum_rel, fmax(rs, rq));
        CHECK_MSG(rs <= 1e-4 && rq <= 1e-4, "'%s' t=%d: sum %.9g vs %.9g, sumsq %.9g vs %.9g", path, i, sum, es,
                  sumsq, eq);
        if (nonfinite < nvox) {
            double rmn = rel_diff(mn, jnum(vo, "min")), rmx = rel_diff(mx, jnum(vo, "max"));
            max_val_rel = fmax(max_val_rel, fmax(rmn, rmx));
            CHECK_MSG(rmn <= 1e-6 && rmx <= 1e-6, "'%s' t=%d: min %.9g max %.9g", path, i, mn, mx);
        }
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(vo, "samples")) {
            int64_t x = (int64_t)cJSON_GetArrayItem(s, 0)->valuedouble;
            int64_t y = (int64_t)cJSON_GetArrayItem(s, 1)->valuedouble;
            int64_t z = (int64_t)cJSON_GetArrayItem(s, 2)->valuedouble;
            const cJSON *ev = cJSON_GetArrayItem(s, 4);
            float got = v[x + nx * (y + ny * z)];
            if (cJSON_IsNull(ev)) {
                CHECK_MSG(!isfinite(got), "'%s' (%lld,%lld,%lld): %g, expected NaN/Inf", path, (long long)x,
                          (long long)y, (long long)z, got);
                continue;
            }
            double r = rel_diff(got, ev->valuedouble);
            max_val_rel = fmax(max_val_rel, r);
            CHECK_MSG(r <= 1e-6, "'%s' (%lld,%lld,%lld,%d): %.9g vs %.9g", path, (long long)x, (long long)y,
                      (long long)z, i, got, ev->valuedouble);
        }
    }
    /* The duplicate equals the first. */
    CHECK_INT(lrsa_nifti_bricks_volume(b, 0, v, (size_t)nvox, &err), LRSA_OK);
    CHECK_INT(lrsa_nifti_bricks_volume(b, nv, v2, (size_t)nvox, &err), LRSA_OK);
    CHECK(memcmp(v, v2, (size_t)nvox * sizeof *v) == 0);
    free(v);
    free(v2);
    free(list);
    lrsa_nifti_bricks_free(b);
}

static void test_debian_files(void)
{
    const char *src = getenv("LRSA_SRC");
    const char *data = getenv("LRSA_TESTDATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/nifti/expected.json", src ? src : ".");
    char *text = slurp(path);
    CHECK_MSG(text != NULL, "cannot read '%s'", path);
    if (!text)
        return;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    CHECK_MSG(doc != NULL, "cannot parse '%s'", path);
    if (!doc)
        return;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(doc, "files");
    int nfiles = 0;
    if (!data || !*data) {
        fprintf(stderr, "LRSA_TESTDATA is not set: skipping the Debian files\n");
        goto done;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        snprintf(path, sizeof path, "%s/%s", data, f->string);
        nfiles++;
        lrsa_nifti_header h;
        lrsa_err err;
        lrsa_err_init(&err);
        int rc = lrsa_nifti_read_header(path, &h, &err);
        const cJSON *rej = cJSON_GetObjectItemCaseSensitive(f, "rejected");
        if (rej) {
            CHECK_MSG(rc == LRSA_EUNSUPPORTED, "'%s' (%s): rc %d: %s", path, rej->valuestring, rc, err.msg);
            CHECK(strstr(err.msg, path) != NULL);
            continue;
        }
        CHECK_MSG(rc == LRSA_OK, "'%s': %s", path, err.msg);
        if (rc)
            continue;
        const cJSON *dims = cJSON_GetObjectItemCaseSensitive(f, "dims");
        for (int i = 0; i < 4; i++)
            CHECK_INT(h.dims[i], (int64_t)cJSON_GetArrayItem(dims, i)->valuedouble);
        CHECK_STR(lrsa_nifti_datatype_name(h.datatype),
                  cJSON_GetObjectItemCaseSensitive(f, "datatype")->valuestring);
        CHECK_INT(h.nifti_version, (int)jnum(f, "nifti_version"));
        const cJSON *pix = cJSON_GetObjectItemCaseSensitive(f, "pixdim");
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(h.pixdim[i], cJSON_GetArrayItem(pix, i)->valuedouble, 1e-6);
        CHECK_NEAR(h.tr, jnum(f, "tr"), 1e-9);
        CHECK_INT(h.sform_code, (int)jnum(f, "sform_code"));
        CHECK_INT(h.qform_code, (int)jnum(f, "qform_code"));
        CHECK_INT(h.vox_offset, (int64_t)jnum(f, "vox_offset"));
        CHECK_INT(h.swapped, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "swapped")));
        CHECK_INT(h.header_only, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "header_only")));
        double slope = jnum(f, "scl_slope"), inter = jnum(f, "scl_inter");
        if (isfinite(slope))
            CHECK_NEAR(h.scl_slope, slope, 0);
        if (isfinite(slope) && isfinite(inter))
            CHECK_NEAR(h.scl_inter, inter, 0);
        const cJSON *aff = cJSON_GetObjectItemCaseSensitive(f, "affine");
        if (cJSON_IsArray(aff)) {
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    double e = cJSON_GetArrayItem(cJSON_GetArrayItem(aff, r), c)->valuedouble;
                    double d = fabs(h.affine[r][c] - e) / fmax(1.0, fabs(e));
                    max_aff_abs = fmax(max_aff_abs, d);
                    CHECK_MSG(d <= 1e-5, "'%s' affine[%d][%d] %.9g vs %.9g", path, r, c, h.affine[r][c], e);
                }
        }
        if (h.header_only) {
            float *v = NULL;
            rc = lrsa_nifti_read_volume(path, 0, NULL, &v, &err);
            CHECK_ERR(rc, err, LRSA_ENOTFOUND, "no image file");
            CHECK(v == NULL);
            continue;
        }
        rc = lrsa_nifti_verify(path, &err);
        CHECK_MSG(rc == LRSA_OK, "verify '%s': %s", path, err.msg);
        check_values(path, &h, cJSON_GetObjectItemCaseSensitive(f, "volumes"));
        /* One past the last volume is out of range, and the message says how many there are. */
        float *v = NULL;
        rc = lrsa_nifti_read_volume(path, h.dims[3], NULL, &v, &err);
        char want[64];
        snprintf(want, sizeof want, "has %lld volume", (long long)h.dims[3]);
        CHECK_ERR(rc, err, LRSA_ESHAPE, want);
        CHECK(strstr(err.msg, path) != NULL);
    }
    CHECK_MSG(nfiles >= 10, "only %d files in expected.json", nfiles);
done:
    printf("debian files: %d checked (nibabel %s); max rel diff: values %.3g, sums %.3g; affine %.3g\n",
           nfiles, cJSON_GetObjectItemCaseSensitive(doc, "nibabel")->valuestring, max_val_rel, max_sum_rel,
           max_aff_abs);
    cJSON_Delete(doc);
}

/* ===== Round trips ===================================================== */
static void fill_header(lrsa_nifti_header *h, int ndim, int64_t nx, int64_t ny, int64_t nz, int64_t nt,
                        int datatype)
{
    memset(h, 0, sizeof *h);
    h->ndim = ndim;
    h->dims[0] = nx;
    h->dims[1] = ny;
    h->dims[2] = nz;
    h->dims[3] = nt;
    h->datatype = datatype;
    h->pixdim[3] = 2.0;
    /* Oblique: a rotation about z and x, voxel sizes 2.5, 3, 3.5, and an offset. */
    double a = 0.3, b = -0.2, s[3] = { 2.5, 3.0, 3.5 };
    double R[3][3] = { { cos(a), -sin(a) * cos(b), sin(a) * sin(b) },
                       { sin(a), cos(a) * cos(b), -cos(a) * sin(b) },
                       { 0, sin(b), cos(b) } };
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            h->affine[r][c] = R[r][c] * s[c];
    h->affine[0][3] = -90;
    h->affine[1][3] = 126;
    h->affine[2][3] = -72;
    h->affine[3][3] = 1;
}

static void roundtrip(const char *name, int ndim, int datatype, double slope, double inter)
{
    lrsa_nifti_header h, g;
    int64_t nx = 5, ny = 4, nz = 3, nt = ndim == 4 ? 3 : 1;
    fill_header(&h, ndim, nx, ny, nz, nt, datatype);
    h.scl_slope = slope;
    h.scl_inter = inter;
    int64_t n = nx * ny * nz * nt;
    int16_t *i16 = malloc((size_t)n * sizeof *i16);
    float *f32 = malloc((size_t)n * sizeof *f32);
    for (int64_t q = 0; q < n; q++) {
        i16[q] = (int16_t)(q * 37 % 2001 - 1000);
        f32[q] = (float)(q * 0.37 - 5.0);
    }
    const void *data = datatype == 4 ? (const void *)i16 : (const void *)f32;
    const char *path = tmp_path(name);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_nifti_write(path, &h, data, &err) == LRSA_OK, "%s", err.msg);
    CHECK_MSG(lrsa_nifti_read_header(path, &g, &err) == LRSA_OK, "%s", err.msg);
    CHECK_INT(g.nifti_version, 1);
    CHECK_INT(g.ndim, ndim);
    for (int i = 0; i < 4; i++)
        CHECK_INT(g.dims[i], h.dims[i]);
    CHECK_INT(g.datatype, datatype);
    CHECK_INT(g.sform_code, 1);
    CHECK_INT(g.qform_code, 1);
    CHECK_NEAR(g.tr, 2.0, 0);
    CHECK_NEAR(g.pixdim[0], 2.5, 1e-6);
    CHECK_NEAR(g.pixdim[2], 3.5, 1e-6);
    CHECK_NEAR(g.scl_slope, slope, 1e-7 * fabs(slope));
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            CHECK_NEAR(g.affine[r][c], h.affine[r][c], 1e-5 * fmax(1, fabs(h.affine[r][c])));
    CHECK_MSG(lrsa_nifti_verify(path, &err) == LRSA_OK, "%s", err.msg);
    int64_t vols[3] = { nt - 1, 0, nt - 1 };
    lrsa_nifti_bricks *b = NULL;
    CHECK_MSG(lrsa_nifti_read_bricks(path, 3, vols, &b, &err) == LRSA_OK, "%s", err.msg);
    if (b) {
        float *v = malloc((size_t)(nx * ny * nz) * sizeof *v);
        double maxd = 0;
        for (int i = 0; i < 3; i++) {
            CHECK_INT(lrsa_nifti_bricks_volume(b, i, v, (size_t)(nx * ny * nz), &err), LRSA_OK);
            for (int64_t q = 0; q < nx * ny * nz; q++) {
                int64_t src = vols[i] * nx * ny * nz + q;
                double raw = datatype == 4 ? i16[src] : f32[src];
                double want = slope != 0 ? raw * (double)(float)slope + (double)(float)inter : raw;
                maxd = fmax(maxd, rel_diff(v[q], want));
            }
        }
        CHECK_MSG(maxd <= 1e-6, "%s: max rel diff %g", name, maxd);
        CHECK_INT(lrsa_nifti_bricks_volume(b, 3, v, (size_t)(nx * ny * nz), &err), LRSA_EMISUSE);
        CHECK_INT(lrsa_nifti_bricks_volume(b, 0, v, 2, &err), LRSA_EMISUSE);
        free(v);
        CHECK(lrsa_nifti_bricks_header(b)->dims[3] == nt);
    }
    lrsa_nifti_bricks_free(b);
    free(i16);
    free(f32);
    unlink(path);
}

static void test_roundtrip(void)
{
    roundtrip("i16_4d.nii.gz", 4, 4, 0, 0);
    roundtrip("i16_4d.nii", 4, 4, 0.5, 10);
    roundtrip("f32_3d.nii", 3, 16, 0, 0);
    roundtrip("f32_3d.nii.gz", 3, 16, 2.0, -1.0);
    roundtrip("f32_4d.nii.gz", 4, 16, 1, 0);
    roundtrip("i16_3d.nii.gz", 3, 4, 0.0754, 3100.76);
}

/* Every readable datatype survives a write and a read. */
static void test_all_datatypes(void)
{
    static const int codes[] = { 2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280 };
    unsigned char data[8 * 24];
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
        lrsa_nifti_header h, g;
        fill_header(&h, 3, 2, 3, 4, 1, codes[c]);
        for (int q = 0; q < 24; q++) {
            double x = q * 3 + 1;
            switch (codes[c]) {
            case 2: data[q] = (uint8_t)x; break;
            case 4: ((int16_t *)data)[q] = (int16_t)-x; break;
            case 8: ((int32_t *)data)[q] = (int32_t)-x; break;
            case 16: ((float *)data)[q] = (float)(x / 4); break;
            case 64: ((double *)data)[q] = x / 8; break;
            case 256: ((int8_t *)data)[q] = (int8_t)-x; break;
            case 512: ((uint16_t *)data)[q] = (uint16_t)x; break;
            case 768: ((uint32_t *)data)[q] = (uint32_t)x; break;
            case 1024: ((int64_t *)data)[q] = (int64_t)-x; break;
            case 1280: ((uint64_t *)data)[q] = (uint64_t)x; break;
            }
        }
        char name[64];
        snprintf(name, sizeof name, "dt%d.nii", codes[c]);
        const char *path = tmp_path(name);
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK_MSG(lrsa_nifti_write(path, &h, data, &err) == LRSA_OK, "%s", err.msg);
        float *v = NULL;
        CHECK_MSG(lrsa_nifti_read_volume(path, 0, &g, &v, &err) == LRSA_OK, "%s", err.msg);
        if (v) {
            double x = 7 * 3 + 1;
            double want = codes[c] == 16 ? x / 4 : codes[c] == 64 ? x / 8 :
                          (codes[c] == 2 || codes[c] == 512 || codes[c] == 768 || codes[c] == 1280) ? x : -x;
            CHECK_NEAR(v[7], want, 0);
            CHECK_STR(lrsa_nifti_datatype_name(g.datatype), lrsa_nifti_datatype_name(codes[c]));
        }
        free(v);
        unlink(path);
    }
    CHECK_STR(lrsa_nifti_datatype_name(3), "unknown");
}

/* ===== Hand-built files ================================================ */
static void test_big_endian(void)
{
    unsigned char buf[352 + 2 * 24];
    int16_t dims[3] = { 2, 3, 4 };
    mk_n1(buf, 1, 3, dims, 4, 16, 352, 2.0f, 1.0f);
    for (int q = 0; q < 24; q++) {
        int16_t x = (int16_t)(q * 300 - 3000);
        buf[352 + 2 * q] = (unsigned char)((uint16_t)x >> 8);
        buf[352 + 2 * q + 1] = (unsigned char)(x & 0xff);
    }
    const char *path = tmp_path("be.nii");
    CHECK(write_bytes(path, buf, sizeof buf) == 0);
    lrsa_nifti_header h;
    lrsa_err err;
    lrsa_err_init(&err);
    float *v = NULL;
    CHECK_MSG(lrsa_nifti_read_volume(path, 0, &h, &v, &err) == LRSA_OK, "%s", err.msg);
    if (v) {
        CHECK_INT(h.swapped, 1);
        CHECK_NEAR(h.tr, 1.5, 1e-12); /* 1500 ms */
        CHECK_NEAR(h.affine[1][3], -20, 0);
        CHECK_NEAR(h.affine[2][2], 4, 0);
        for (int q = 0; q < 24; q++)
            CHECK_NEAR(v[q], (q * 300 - 3000) * 2.0 + 1.0, 0);
    }
    free(v);
    unlink(path);

    /* The same as a big-endian NIfTI-2 .nii.gz. */
    unsigned char b2[544 + 2 * 24];
    int64_t d2[3] = { 2, 3, 4 };
    mk_n2(b2, 1, 3, d2, 4, 16, 544);
    memcpy(b2 + 544, buf + 352, 48);
    path = tmp_path("be2.nii.gz");
    CHECK(write_gz(path, b2, sizeof b2) == 0);
    v = NULL;
    CHECK_MSG(lrsa_nifti_read_volume(path, 0, &h, &v, &err) == LRSA_OK, "%s", err.msg);
    if (v) {
        CHECK_INT(h.nifti_version, 2);
        CHECK_INT(h.swapped, 1);
        CHECK_NEAR(h.affine[2][3], 3, 0);
        CHECK_NEAR(v[23], 23 * 300 - 3000, 0);
    }
    free(v);
    CHECK_MSG(lrsa_nifti_verify(path, &err) == LRSA_OK, "%s", err.msg);
    unlink(path);
}

static void test_pair(void)
{
    unsigned char buf[352];
    int16_t dims[4] = { 2, 2, 2, 2 };
    mk_n1(buf, 0, 4, dims, 16, 32, 0, 0, 0);
    memcpy(buf + 344, "ni1\0", 4);
    const char *hdr = tmp_path("pair.hdr"), *img = tmp_path("pair.img");
    CHECK(write_bytes(hdr, buf, 348) == 0);
    lrsa_nifti_header h;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_nifti_read_header(hdr, &h, &err) == LRSA_OK, "%s", err.msg);
    CHECK_INT(h.header_only, 1);
    CHECK_INT(h.dims[3], 2);
    float *v = NULL;
    CHECK_ERR(lrsa_nifti_read_volume(hdr, 0, NULL, &v, &err), err, LRSA_ENOTFOUND, "no image file");
    CHECK(strstr(err.msg, hdr) != NULL);
    CHECK_ERR(lrsa_nifti_verify(hdr, &err), err, LRSA_ENOTFOUND, "no image file");
    float data[16];
    for (int q = 0; q < 16; q++)
        data[q] = (float)q / 2;
    CHECK(write_bytes(img, data, 8 * sizeof(float)) == 0); /* half of it */
    CHECK_ERR(lrsa_nifti_read_header(hdr, &h, &err), err, LRSA_EFORMAT, "truncated");
    CHECK(write_bytes(img, data, sizeof data) == 0);
    CHECK_MSG(lrsa_nifti_read_volume(hdr, 1, &h, &v, &err) == LRSA_OK, "%s", err.msg);
    CHECK_INT(h.header_only, 0);
    if (v)
        CHECK_NEAR(v[7], 7.5, 0);
    free(v);
    unlink(hdr);
    unlink(img);
}

/* ===== Corrupt files =================================================== */
static void expect_bad(const char *what, const void *buf, size_t n, int code, const char *needle)
{
    const char *path = tmp_path("bad.nii");
    CHECK(write_bytes(path, buf, n) == 0);
    lrsa_nifti_header h;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_nifti_read_header(path, &h, &err);
    CHECK_MSG(rc == code && strstr(err.msg, needle) && strstr(err.msg, path), "%s: rc %d, '%s' (want %d, '%s')",
              what, rc, err.msg, code, needle);
    /* The in-memory check says the same. */
    rc = lrsa_nifti_check_header(buf, n, (int64_t)n, "mem.nii", &h, &err);
    CHECK_MSG(rc == code && strstr(err.msg, "'mem.nii'"), "%s (memory): rc %d, '%s'", what, rc, err.msg);
    unlink(path);
}

static void test_corrupt(void)
{
    enum { N = 352 + 2 * 24 };
    unsigned char good[N], buf[N];
    int16_t dims[3] = { 2, 3, 4 };
    mk_n1(good, 0, 3, dims, 4, 16, 352, 1, 0);
    memset(good + 352, 7, N - 352);
    lrsa_nifti_header h;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_nifti_check_header(good, N, N, "good.nii", &h, &err) == LRSA_OK, "%s", err.msg);
    hb w = { buf, 0 };

    memcpy(buf, good, N);
    put32(&w, 0, 349);
    expect_bad("sizeof_hdr", buf, N, LRSA_EFORMAT, "not a NIfTI file");
    expect_bad("empty", buf, 0, LRSA_EFORMAT, "too short");
    expect_bad("short header", good, 200, LRSA_EFORMAT, "too short");
    expect_bad("truncated .nii", good, N - 1, LRSA_EFORMAT, "truncated");

    memcpy(buf, good, N);
    put16(&w, 42, -5);
    expect_bad("negative dim", buf, N, LRSA_EFORMAT, "dim[1] = -5 is not positive");
    memcpy(buf, good, N);
    put16(&w, 42, 0);
    expect_bad("zero dim", buf, N, LRSA_EFORMAT, "not positive");
    memcpy(buf, good, N);
    put16(&w, 40, 0);
    expect_bad("dim[0] 0", buf, N, LRSA_EFORMAT, "dim[0] = 0");
    memcpy(buf, good, N);
    put16(&w, 40, 9);
    expect_bad("dim[0] 9", buf, N, LRSA_EFORMAT, "dim[0] = 9");
    memcpy(buf, good, N);
    put16(&w, 42, 30000);
    put16(&w, 44, 30000);
    put16(&w, 46, 30000);
    expect_bad("huge volume", buf, N, LRSA_EFORMAT, "exceeds the limit");
    memcpy(buf, good, N);
    put16(&w, 40, 5);
    put16(&w, 50, 1);
    put16(&w, 50, 2);
    expect_bad("5-D", buf, N, LRSA_EUNSUPPORTED, "5-D image");
    memcpy(buf, good, N);
    put16(&w, 70, 3);
    expect_bad("unknown datatype", buf, N, LRSA_EFORMAT, "unknown datatype 3");
    memcpy(buf, good, N);
    put16(&w, 70, 32);
    put16(&w, 72, 64);
    expect_bad("complex", buf, N, LRSA_EUNSUPPORTED, "complex64");
    memcpy(buf, good, N);
    put16(&w, 70, 128);
    put16(&w, 72, 24);
    expect_bad("rgb", buf, N, LRSA_EUNSUPPORTED, "RGB");
    memcpy(buf, good, N);
    put16(&w, 72, 8);
    expect_bad("bitpix", buf, N, LRSA_EFORMAT, "bitpix 8");
    memcpy(buf, good, N);
    putf(&w, 108, 100000);
    expect_bad("vox_offset past EOF", buf, N, LRSA_EFORMAT, "truncated");
    memcpy(buf, good, N);
    putf(&w, 108, 100);
    expect_bad("vox_offset in header", buf, N, LRSA_EFORMAT, "inside");
    memcpy(buf, good, N);
    putf(&w, 108, 352.5f);
    expect_bad("fractional vox_offset", buf, N, LRSA_EFORMAT, "bad vox_offset");
    memcpy(buf, good, N);
    putf(&w, 108, NAN);
    expect_bad("NaN vox_offset", buf, N, LRSA_EFORMAT, "bad vox_offset");
    memcpy(buf, good, N);
    memcpy(buf + 344, "abc\0", 4);
    expect_bad("analyze", buf, N, LRSA_EUNSUPPORTED, "magic");
    memcpy(buf, good, N);
    putf(&w, 112, 2.0f);
    putf(&w, 116, INFINITY);
    expect_bad("inf inter", buf, N, LRSA_EFORMAT, "scl_inter");

    /* Extension chain: an extension of 16 bytes fits before vox_offset 368; 24 is not a multiple
     * of 16; 32 runs past vox_offset. */
    unsigned char ext[368 + 48];
    memcpy(ext, good, 352);
    hb we = { ext, 0 };
    putf(&we, 108, 368);
    ext[348] = 1;
    put32(&we, 352, 16);
    put32(&we, 356, 6);
    memset(ext + 360, 'x', 8);
    memset(ext + 368, 1, 48);
    CHECK_MSG(lrsa_nifti_check_header(ext, sizeof ext, sizeof ext, "ext.nii", &h, &err) == LRSA_OK, "%s", err.msg);
    const char *path = tmp_path("ext.nii");
    CHECK(write_bytes(path, ext, sizeof ext) == 0);
    float *v = NULL;
    CHECK_MSG(lrsa_nifti_read_volume(path, 0, NULL, &v, &err) == LRSA_OK, "%s", err.msg);
    free(v);
    unlink(path);
    put32(&we, 352, 24);
    expect_bad("extension size", ext, sizeof ext, LRSA_EFORMAT, "extension size 24");
    put32(&we, 352, 32);
    expect_bad("extension past vox_offset", ext, sizeof ext, LRSA_EFORMAT, "runs past vox_offset");
    put32(&we, 352, -16);
    expect_bad("negative extension", ext, sizeof ext, LRSA_EFORMAT, "extension size -16");

    /* NIfTI-2: dim[1] = 100000 and overflowing sizes. */
    unsigned char n2[544 + 16];
    int64_t d2[3] = { 100000, 1, 1 };
    mk_n2(n2, 0, 3, d2, 4, 16, 544);
    CHECK_ERR(lrsa_nifti_check_header(n2, sizeof n2, -1, "n2.nii", &h, &err), err, LRSA_EFORMAT,
              "dim[1] = 100000 exceeds the limit");
    int64_t d3[4] = { 65536, 65536, 1, 65536 };
    mk_n2(n2, 0, 4, d3, 64, 64, 544);
    CHECK_ERR(lrsa_nifti_check_header(n2, sizeof n2, -1, "n2.nii", &h, &err), err, LRSA_EFORMAT, "exceeds the limit");
    int64_t d4[4] = { 2, 2, 2, 2 };
    mk_n2(n2, 0, 4, d4, 4, 16, -8);
    CHECK_ERR(lrsa_nifti_check_header(n2, sizeof n2, -1, "n2.nii", &h, &err), err, LRSA_EFORMAT, "vox_offset");
    mk_n2(n2, 0, 4, d4, 4, 16, 544);
    n2[10] = '\n';
    CHECK_ERR(lrsa_nifti_check_header(n2, sizeof n2, -1, "n2.nii", &h, &err), err, LRSA_EFORMAT, "magic");

    /* Missing file, directory. */
    CHECK_ERR(lrsa_nifti_read_header(tmp_path("missing.nii"), &h, &err), err, LRSA_ENOTFOUND, "missing.nii");
    CHECK_ERR(lrsa_nifti_read_header(harness_tmpdir(), &h, &err), err, LRSA_EIO, "directory");
}

static void test_truncated_gz(void)
{
    lrsa_nifti_header h;
    fill_header(&h, 4, 16, 16, 8, 4, 4);
    int64_t n = 16 * 16 * 8 * 4;
    int16_t *d = malloc((size_t)n * sizeof *d);
    uint32_t s = 1;
    for (int64_t q = 0; q < n; q++) {
        s = s * 1664525u + 1013904223u;
        d[q] = (int16_t)(s >> 16); /* incompressible */
    }
    const char *path = tmp_path("trunc.nii.gz");
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_nifti_write(path, &h, d, &err) == LRSA_OK, "%s", err.msg);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    /* Cut it in half: the header still reads, the last volume does not. */
    CHECK(truncate(path, st.st_size / 2) == 0);
    lrsa_nifti_header g;
    CHECK_MSG(lrsa_nifti_read_header(path, &g, &err) == LRSA_OK, "%s", err.msg);
    float *v = NULL;
    CHECK_ERR(lrsa_nifti_read_volume(path, 3, NULL, &v, &err), err, LRSA_EFORMAT, "truncated or corrupt");
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(v == NULL);
    CHECK_ERR(lrsa_nifti_verify(path, &err), err, LRSA_EFORMAT, "unexpected end of file");
    /* A flipped byte in the middle: a CRC or data error. */
    CHECK_MSG(lrsa_nifti_write(path, &h, d, &err) == LRSA_OK, "%s", err.msg);
    FILE *fp = fopen(path, "r+b");
    fseek(fp, st.st_size / 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, st.st_size / 2, SEEK_SET);
    fputc(c ^ 0x55, fp);
    fclose(fp);
    CHECK_ERR(lrsa_nifti_verify(path, &err), err, LRSA_EFORMAT, "corrupt");
    /* Cut inside the header. */
    CHECK(truncate(path, 40) == 0);
    CHECK_ERR(lrsa_nifti_read_header(path, &g, &err), err, LRSA_EFORMAT, path);
    unlink(path);
    free(d);
}

static void test_write_errors(void)
{
    lrsa_nifti_header h;
    fill_header(&h, 3, 2, 2, 2, 1, 4);
    int16_t d[8] = { 0 };
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_nifti_write(tmp_path("x.img"), &h, d, &err), err, LRSA_EMISUSE, ".nii");
    CHECK_ERR(lrsa_nifti_write("/nonexistent-dir/x.nii", &h, d, &err), err, LRSA_EIO, "/nonexistent-dir/x.nii");
    h.datatype = 3;
    CHECK_ERR(lrsa_nifti_write(tmp_path("x.nii"), &h, d, &err), err, LRSA_EMISUSE, "datatype");
    h.datatype = 4;
    h.dims[0] = 0;
    CHECK_ERR(lrsa_nifti_write(tmp_path("x.nii"), &h, d, &err), err, LRSA_EMISUSE, "dim");
    CHECK(!lrsa_is_file(tmp_path("x.nii")));
}

int main(void)
{
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) {
        fprintf(stderr, "test_nifti assumes a little-endian host\n");
        return 1;
    }
    RUN(test_debian_files);
    RUN(test_roundtrip);
    RUN(test_all_datatypes);
    RUN(test_big_endian);
    RUN(test_pair);
    RUN(test_corrupt);
    RUN(test_truncated_gz);
    RUN(test_write_errors);
    return harness_done();
}
