/* imgproc: the bilinear resize against Pillow 10.3.0 byte for byte (tools/gen_resize_fixtures.py,
 * tests/fixtures/imgproc/cases.json) and its fast paths against its plain reference, the CHW
 * conversion against the numpy arithmetic, and bad arguments. Tolerance: none, every case must
 * have 0 differing bytes (or rows, for the large cases whose expected output is stored as one
 * hash per row). */
#include "harness.h"
#include "latentrsa/image.h"
#include "latentrsa/imgproc.h"

#include <cjson/cJSON.h>
#include <stdint.h>

static char fixdir[2048];
static cJSON *cases;

/* Must match synth_pixel() in tools/gen_resize_fixtures.py (integer arithmetic only). */
static uint32_t hash32(uint32_t x, uint32_t y, uint32_t c)
{
    uint32_t h = (x * 73856093u) ^ (y * 19349663u) ^ (c * 83492791u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return h;
}

static int synth_pixel(int64_t x, int64_t y, int c, int64_t w, int64_t h)
{
    int64_t v = c == 0 ? x * 255 / (w - 1) : c == 1 ? y * 255 / (h - 1) : (x + y) * 255 / (w + h - 2);
    int64_t dx = x - w / 3, dy = y - h / 2;
    if (dx * dx + dy * dy < (h / 4) * (h / 4))
        v = 255 - v / 2;
    dx = x - 2 * w / 3;
    dy = y - h / 3;
    int64_t r2 = dx * dx + dy * dy, rr = (h / 5) * (h / 5);
    if (r2 < 4 * rr)
        v = v * r2 / (4 * rr);
    v += (int64_t)(hash32((uint32_t)x, (uint32_t)y, (uint32_t)c) % 25) - 12;
    return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void load_cases(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/imgproc", src && *src ? src : ".");
    char path[2200], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/cases.json", fixdir);
    CHECK_INT(lrsa_read_file(path, 0, &text, &n, NULL), LRSA_OK);
    cases = text ? cJSON_Parse(text) : NULL;
    CHECK(cases != NULL);
    free(text);
}

static int read_png(const char *kind, const char *name, lrsa_image *img)
{
    char path[2400];
    snprintf(path, sizeof path, "%s/%s_%s.png", fixdir, kind, name);
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_image_read(path, img, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    return rc;
}

static int jint(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItem(o, k)->valueint;
}

static void test_pillow_cases(void)
{
    const cJSON *list = cJSON_GetObjectItem(cases, "cases"), *c;
    const cJSON *ver = cJSON_GetObjectItem(cJSON_GetObjectItem(cases, "versions"), "Pillow");
    fprintf(stderr, "reference: Pillow %s\n", ver && cJSON_IsString(ver) ? ver->valuestring : "?");
    int ncase = 0;
    cJSON_ArrayForEach(c, list) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int64_t sw = jint(c, "sw"), sh = jint(c, "sh"), dw = jint(c, "dw"), dh = jint(c, "dh");
        lrsa_image src = { 0 }, want = { 0 };
        uint8_t *got = NULL;
        if (strcmp(cJSON_GetObjectItem(c, "source")->valuestring, "png") == 0) {
            if (read_png("src", name, &src))
                continue;
        } else {
            src.width = sw;
            src.height = sh;
            src.data = malloc((size_t)(sw * sh * 3));
            for (int64_t y = 0; y < sh; y++)
                for (int64_t x = 0; x < sw; x++)
                    for (int k = 0; k < 3; k++)
                        src.data[3 * (y * sw + x) + k] = (uint8_t)synth_pixel(x, y, k, sw, sh);
        }
        CHECK_INT(src.width, sw);
        CHECK_INT(src.height, sh);
        got = malloc((size_t)(dw * dh * 3));
        lrsa_err err;
        lrsa_err_init(&err);
        int rc = lrsa_resize_bilinear_rgb8(src.data, sw, sh, got, dw, dh, &err);
        CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
        /* the other implementations give the same bytes (compared with Pillow's below) */
        static const int impls[] = { LRSA__RESIZE_REFERENCE, LRSA__RESIZE_PLAIN,
                                     LRSA__RESIZE_AVX2 };
        uint8_t *alt = malloc((size_t)(dw * dh * 3));
        for (size_t m = 0; rc == LRSA_OK && m < sizeof impls / sizeof impls[0]; m++) {
            int r = lrsa__resize_bilinear_rgb8_impl(src.data, sw, sh, alt, dw, dh, impls[m], &err);
            if (r == LRSA_EUNSUPPORTED)
                continue;
            CHECK_INT(r, LRSA_OK);
            CHECK_MSG(memcmp(alt, got, (size_t)(dw * dh * 3)) == 0, "%s: implementation %d differs",
                      name, impls[m]);
        }
        free(alt);
        if (rc == LRSA_OK &&
            strcmp(cJSON_GetObjectItem(c, "expected")->valuestring, "png") == 0) {
            if (read_png("out", name, &want) == LRSA_OK) {
                CHECK_INT(want.width, dw);
                CHECK_INT(want.height, dh);
                int64_t diff = 0, maxd = 0;
                for (int64_t i = 0; i < dw * dh * 3; i++) {
                    int d = abs((int)got[i] - (int)want.data[i]);
                    diff += d != 0;
                    maxd = d > maxd ? d : maxd;
                }
                fprintf(stderr, "  %-12s %lldx%lld -> %lldx%lld: %lld differing bytes (max %lld)\n",
                        name, (long long)sw, (long long)sh, (long long)dw, (long long)dh,
                        (long long)diff, (long long)maxd);
                CHECK_MSG(diff == 0, "%s: %lld bytes differ from Pillow", name, (long long)diff);
            }
        } else if (rc == LRSA_OK) {
            const cJSON *rows = cJSON_GetObjectItem(c, "rows"), *p;
            CHECK_INT(cJSON_GetArraySize(rows), dh);
            int64_t bad = 0;
            for (int64_t y = 0; y < dh && y < cJSON_GetArraySize(rows); y++) {
                char hex[17];
                snprintf(hex, sizeof hex, "%016llx",
                         (unsigned long long)fnv1a64(got + y * dw * 3, (size_t)dw * 3));
                bad += strcmp(hex, cJSON_GetArrayItem(rows, (int)y)->valuestring) != 0;
            }
            int64_t pbad = 0;
            cJSON_ArrayForEach(p, cJSON_GetObjectItem(c, "probe")) {
                int x = cJSON_GetArrayItem(p, 0)->valueint, y = cJSON_GetArrayItem(p, 1)->valueint;
                for (int k = 0; k < 3; k++) {
                    int w = cJSON_GetArrayItem(p, 2 + k)->valueint, g = got[3 * (y * dw + x) + k];
                    if (w != g) {
                        pbad++;
                        fprintf(stderr, "  %s (%d,%d)[%d]: got %d, Pillow %d\n", name, x, y, k, g, w);
                    }
                }
            }
            fprintf(stderr, "  %-12s %lldx%lld -> %lldx%lld: %lld differing rows of %lld\n", name,
                    (long long)sw, (long long)sh, (long long)dw, (long long)dh, (long long)bad,
                    (long long)dh);
            CHECK_MSG(bad == 0 && pbad == 0, "%s: %lld rows differ from Pillow", name,
                      (long long)bad);
        }
        ncase++;
        free(got);
        lrsa_image_release(&src);
        lrsa_image_release(&want);
    }
    CHECK(ncase >= 15);
}

/* Resizing a constant image keeps it constant (weights sum to 1 in fixed point, up to rounding). */
static void test_constant(void)
{
    uint8_t src[7 * 5 * 3], dst[19 * 3 * 3];
    for (int v = 0; v < 256; v += 51) {
        memset(src, v, sizeof src);
        CHECK_INT(lrsa_resize_bilinear_rgb8(src, 7, 5, dst, 19, 3, NULL), LRSA_OK);
        int ok = 1;
        for (size_t i = 0; i < sizeof dst; i++)
            ok &= dst[i] == v;
        CHECK_MSG(ok, "constant %d not kept", v);
    }
}

/* A test image of one kind: 0 uniform noise; 1 drawn (white, runs of a few colours or of noise,
 * rows repeated in runs, as a render); 2 one colour; 3 vertical stripes of two colours, a few
 * rows different. */
static void test_image(lrsa_rng *rng, uint8_t *img, int64_t w, int64_t h, int kind)
{
    /* colours that share channels, so that runs of equal bytes start and end mid-pixel */
    static const uint8_t palette[6][3] = { { 255, 255, 255 }, { 0, 0, 0 },     { 30, 120, 250 },
                                           { 255, 255, 0 },   { 255, 0, 255 }, { 0, 255, 255 } };
    uint8_t one[3] = { (uint8_t)lrsa_rng_below(rng, 256), (uint8_t)lrsa_rng_below(rng, 256),
                       (uint8_t)lrsa_rng_below(rng, 256) };
    for (int64_t y = 0; y < h; y++) {
        uint8_t *row = img + y * w * 3;
        if (kind == 0) {
            for (int64_t i = 0; i < w * 3; i++)
                row[i] = (uint8_t)lrsa_rng_below(rng, 256);
        } else if (kind == 1) {
            if (y > 0 && lrsa_rng_below(rng, 3)) {
                memcpy(row, row - w * 3, (size_t)w * 3);
                continue;
            }
            for (int64_t x = 0; x < w;) {
                int64_t run = 1 + (int64_t)lrsa_rng_below(rng, (uint64_t)(w / 3 + 1));
                int c = lrsa_rng_below(rng, 3) ? 0 : (int)lrsa_rng_below(rng, 7); /* 6: noise */
                for (; run > 0 && x < w; run--, x++)
                    for (int k = 0; k < 3; k++)
                        row[3 * x + k] = c < 6 ? palette[c][k] : (uint8_t)lrsa_rng_below(rng, 256);
            }
        } else if (kind == 2) {
            for (int64_t x = 0; x < w; x++)
                memcpy(row + 3 * x, one, 3);
        } else {
            if (y == 0 || lrsa_rng_below(rng, 8) == 0) {
                for (int64_t x = 0; x < w; x++)
                    memcpy(row + 3 * x, (x * 7 / 5 + y) % 3 ? one : palette[2], 3);
            } else {
                memcpy(row, row - w * 3, (size_t)w * 3);
            }
        }
    }
}

/* The fast path (portable C and AVX2, with its row, run and piece shortcuts) against the plain
 * transcription of Pillow kept in resize.c: the same bytes on awkward shapes (1-pixel sides, odd
 * widths, tails shorter than a vector, up and down, one axis only) and images with and without
 * repeats. */
static void test_fast_vs_reference(void)
{
    static const int64_t fixed[][4] = {
        { 1, 1, 5, 3 },     { 7, 4, 1, 1 },      { 1, 9, 1, 4 },     { 9, 1, 3, 1 },
        { 4, 1, 9, 5 },     { 2, 2, 3, 3 },      { 3, 5, 2, 7 },     { 5, 3, 7, 2 },
        { 13, 7, 5, 7 },    { 13, 7, 13, 20 },   { 8, 6, 8, 6 },     { 37, 23, 16, 11 },
        { 200, 120, 7, 3 }, { 61, 59, 60, 60 },  { 6, 5, 12, 10 },   { 12, 10, 6, 5 },
        { 31, 17, 97, 45 }, { 97, 45, 31, 17 },  { 100, 3, 333, 9 }, { 17, 100, 18, 101 },
        { 64, 64, 65, 63 }, { 660, 350, 672, 672 }, { 500, 375, 224, 224 }, { 660, 350, 660, 700 },
        { 660, 350, 300, 350 }, { 150, 40, 1100, 50 },
    };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 4242);
    lrsa_err err;
    lrsa_err_init(&err);
    int ncase = 0, avx2 = 1;
    int64_t bad_plain = 0, bad_avx2 = 0, bad_auto = 0;
    int nfixed = (int)(sizeof fixed / sizeof fixed[0]);
    for (int c = 0; c < nfixed + 60; c++) {
        int64_t sw, sh, dw, dh;
        if (c < nfixed) {
            sw = fixed[c][0], sh = fixed[c][1], dw = fixed[c][2], dh = fixed[c][3];
        } else {
            sw = 1 + (int64_t)lrsa_rng_below(&rng, 90), sh = 1 + (int64_t)lrsa_rng_below(&rng, 40);
            dw = 1 + (int64_t)lrsa_rng_below(&rng, 130), dh = 1 + (int64_t)lrsa_rng_below(&rng, 60);
        }
        size_t nin = (size_t)(sw * sh * 3), nout = (size_t)(dw * dh * 3);
        uint8_t *src = malloc(nin), *ref = malloc(nout), *got = malloc(nout);
        for (int kind = 0; kind < 4; kind++) {
            test_image(&rng, src, sw, sh, kind);
            CHECK_INT(lrsa__resize_bilinear_rgb8_impl(src, sw, sh, ref, dw, dh,
                                                      LRSA__RESIZE_REFERENCE, &err), LRSA_OK);
            CHECK_INT(lrsa__resize_bilinear_rgb8_impl(src, sw, sh, got, dw, dh, LRSA__RESIZE_PLAIN,
                                                      &err), LRSA_OK);
            int d = memcmp(ref, got, nout) != 0;
            bad_plain += d;
            CHECK_MSG(!d, "plain: %lldx%lld -> %lldx%lld kind %d", (long long)sw, (long long)sh,
                      (long long)dw, (long long)dh, kind);
            int rc = lrsa__resize_bilinear_rgb8_impl(src, sw, sh, got, dw, dh, LRSA__RESIZE_AVX2,
                                                     &err);
            if (rc == LRSA_EUNSUPPORTED) {
                avx2 = 0;
            } else {
                CHECK_INT(rc, LRSA_OK);
                d = memcmp(ref, got, nout) != 0;
                bad_avx2 += d;
                CHECK_MSG(!d, "avx2: %lldx%lld -> %lldx%lld kind %d", (long long)sw, (long long)sh,
                          (long long)dw, (long long)dh, kind);
            }
            CHECK_INT(lrsa_resize_bilinear_rgb8(src, sw, sh, got, dw, dh, &err), LRSA_OK);
            bad_auto += memcmp(ref, got, nout) != 0;
            ncase++;
        }
        free(src);
        free(ref);
        free(got);
    }
    fprintf(stderr,
            "  fast vs reference: %d cases, differing: plain %lld, avx2 %lld%s, auto %lld\n", ncase, (long long)bad_plain, (long long)bad_avx2, avx2 ? "" : " (no AVX2: skipped)",
            (long long)bad_auto);
    CHECK_INT(bad_auto, 0);
}

static void test_bad_args(void)
{
    uint8_t px[12] = { 0 }, out[12];
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_resize_bilinear_rgb8(px, 0, 2, out, 2, 2, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "empty");
    rc = lrsa_resize_bilinear_rgb8(px, 2, 2, out, 2, -1, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "empty");
    rc = lrsa_resize_bilinear_rgb8(NULL, 2, 2, out, 2, 2, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "NULL");
    rc = lrsa_resize_bilinear_rgb8(px, 2, 2, out, LRSA_RESIZE_MAX_DIM + 1, 1, &err);
    CHECK_ERR(rc, err, LRSA_EUNSUPPORTED, "limit");
}

/* specs/vit.md 1.3: ((float)((double)u8 * (1.0/255.0)) - 0.5f) / 0.5f, planar. */
static void test_chw(void)
{
    enum { W = 4, H = 3 };
    uint8_t src[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    float dst[3 * W * H];
    const float half[3] = { 0.5f, 0.5f, 0.5f };
    CHECK_INT(lrsa_rgb8_to_chw_f32(src, W, H, 1.0 / 255.0, half, half, dst, NULL), LRSA_OK);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++) {
            float r = (float)((double)src[3 * i + c] * (1.0 / 255.0));
            float want = (r - 0.5f) / 0.5f;
            bad += memcmp(&want, &dst[c * W * H + i], sizeof(float)) != 0;
        }
    CHECK_INT(bad, 0);
    /* 0 -> -1, 255 -> 1 exactly */
    uint8_t ends[6] = { 0, 0, 0, 255, 255, 255 };
    float e[6];
    CHECK_INT(lrsa_rgb8_to_chw_f32(ends, 2, 1, 1.0 / 255.0, half, half, e, NULL), LRSA_OK);
    CHECK(e[0] == -1.0f && e[1] == 1.0f && e[2] == -1.0f && e[5] == 1.0f);
    const float zero[3] = { 0.5f, 0.0f, 0.5f };
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_rgb8_to_chw_f32(ends, 2, 1, 1.0 / 255.0, half, zero, e, &err), err,
              LRSA_EMISUSE, "std[1]");
}

int main(void)
{
    load_cases();
    if (cases)
        RUN(test_pillow_cases);
    RUN(test_constant);
    RUN(test_fast_vs_reference);
    RUN(test_bad_args);
    RUN(test_chw);
    cJSON_Delete(cases);
    return harness_done();
}
