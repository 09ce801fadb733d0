/* ViT preprocessing and the tiny ViT end to end, against transformers 4.44.2 (slow PIL
 * ViTImageProcessor), Pillow 10.3.0 and torch 2.3.1 (tools/gen_vit_preproc_fixtures.py,
 * tests/fixtures/vit_preproc/).
 *
 * For every case of cases.tsv (Debian's python3-skimage photographs under $LRSA_TESTDATA and the
 * Pillow-made inputs/: grey, CMYK, progressive, 4:4:4, 4:2:2 and EXIF JPEGs; RGBA, LA, palette,
 * 16-bit grey and 16-bit RGB PNGs; RGB and the paper's BGR/OpenCV order):
 *   decoded RGB bytes, the resized uint8 image and pixel_values must be EXACT (FNV-1a 64 hashes;
 *   the per-channel sums are printed on a mismatch to show how far off it is).
 * The rows with a model row go through lrsa_vit_forward: last_hidden_state, cls, mean, pooler and
 * the state after block 1 must agree within |ours - ref| <= 1e-5 + 1e-4 |ref| (the max difference
 * is printed). Also: EXIF orientation parsing and transforms, preprocessor_config.json options
 * and refusals, bad images (skimage's truncated.jpg, a corrupt JPEG). */
#include "harness.h"
#include "latentrsa/image.h"
#include "latentrsa/imgproc.h"
#include "latentrsa/npy.h"
#include "latentrsa/vit.h"

#include <stdint.h>
#include <sys/stat.h>

#define SKIMAGE_REL "python3-skimage/usr/lib/python3/dist-packages/skimage/data"
#define MAX_CASES 128

static char fixdir[2048], modeldir[2100], skdir[2048];
static int have_skimage;

typedef struct tcase {
    char name[128], origin[16], order[8];
    int64_t width, height;
    uint64_t decoded, resized, pixels;
    long long sum[3];
    int model_row;
} tcase;

static tcase cases[MAX_CASES];
static int ncases;

static uint64_t fnv1a64(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void swap_rb(uint8_t *rgb, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        uint8_t t = rgb[3 * i];
        rgb[3 * i] = rgb[3 * i + 2];
        rgb[3 * i + 2] = t;
    }
}

static int load_cases(void)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/cases.tsv", fixdir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[1024];
    if (!fgets(line, sizeof line, fp)) {         /* header */
        fclose(fp);
        return -1;
    }
    while (ncases < MAX_CASES && fgets(line, sizeof line, fp)) {
        tcase *c = &cases[ncases];
        unsigned long long d, r, p;
        if (sscanf(line, "%127s %15s %7s %lld %lld %llx %llx %llx %lld %lld %lld %d", c->name,
                   c->origin, c->order, (long long *)&c->width, (long long *)&c->height, &d, &r,
                   &p, &c->sum[0], &c->sum[1], &c->sum[2], &c->model_row) != 12)
            continue;
        c->decoded = d;
        c->resized = r;
        c->pixels = p;
        ncases++;
    }
    fclose(fp);
    return ncases;
}

static void case_path(const tcase *c, char *out, size_t n)
{
    int len = strcmp(c->origin, "skimage") == 0 ? snprintf(out, n, "%s/%s", skdir, c->name)
                                                : snprintf(out, n, "%s/inputs/%s", fixdir, c->name);
    if (len < 0 || (size_t)len >= n)
        out[0] = '\0';
}

/* ===== Pixels: decode, resize, pixel_values, all exact ================= */
static float *model_pixels;     /* rows in model_row order */
static int nmodel;

static void test_cases(void)
{
    CHECK_MSG(load_cases() > 40, "cannot read %s/cases.tsv", fixdir);
    lrsa_vit_preproc pp;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_vit_preproc_read(modeldir, 224, &pp, &err), LRSA_OK);
    CHECK_INT(pp.height, 224);
    CHECK_INT(pp.width, 224);
    int64_t numel = lrsa_vit_preproc_numel(&pp);
    CHECK_INT(numel, 3 * 224 * 224);
    for (int i = 0; i < ncases; i++)
        if (cases[i].model_row + 1 > nmodel)
            nmodel = cases[i].model_row + 1;
    model_pixels = calloc((size_t)(nmodel * numel), sizeof *model_pixels);
    float *pix = malloc((size_t)numel * sizeof *pix);
    uint8_t *resized = malloc((size_t)numel);
    int checked = 0, skipped = 0, exact = 0;
    for (int i = 0; i < ncases; i++) {
        tcase *c = &cases[i];
        if (strcmp(c->origin, "skimage") == 0 && !have_skimage) {
            skipped++;
            continue;
        }
        char path[8192];
        case_path(c, path, sizeof path);
        int bgr = strcmp(c->order, "bgr") == 0;
        lrsa_image img;
        int rc = lrsa_image_read_ex(path, bgr ? LRSA_IMAGE_OPENCV : 0, &img, &err);
        CHECK_MSG(rc == LRSA_OK, "%s: %s", c->name, err.msg);
        if (rc)
            continue;
        checked++;
        size_t npix = (size_t)(img.width * img.height);
        if (bgr)
            swap_rb(img.data, npix);             /* the hash is of the BGR array */
        uint64_t hd = fnv1a64(img.data, 3 * npix);
        if (bgr)
            swap_rb(img.data, npix);
        CHECK_MSG(img.width == c->width && img.height == c->height, "%s (%s): %lldx%lld, want %lldx%lld",
                  c->name, c->order, (long long)img.width, (long long)img.height,
                  (long long)c->width, (long long)c->height);
        CHECK_MSG(hd == c->decoded, "%s (%s): decoded pixels differ from PIL convert('RGB')",
                  c->name, c->order);
        pp.bgr = bgr;
        rc = lrsa_vit_preprocess(&pp, img.data, img.width, img.height, resized, pix, &err);
        CHECK_MSG(rc == LRSA_OK, "%s: %s", c->name, err.msg);
        long long sum[3] = { 0, 0, 0 };
        for (int64_t k = 0; k < numel; k++)
            sum[k % 3] += resized[k];
        uint64_t hr = fnv1a64(resized, (size_t)numel), hp = fnv1a64(pix, (size_t)numel * 4);
        CHECK_MSG(hr == c->resized, "%s (%s): resized image differs from PIL (channel sums "
                  "%lld %lld %lld, PIL %lld %lld %lld)", c->name, c->order, sum[0], sum[1], sum[2],
                  c->sum[0], c->sum[1], c->sum[2]);
        CHECK_MSG(hp == c->pixels, "%s (%s): pixel_values differ from ViTImageProcessor", c->name,
                  c->order);
        exact += hd == c->decoded && hr == c->resized && hp == c->pixels;
        if (c->model_row >= 0 && !bgr)
            memcpy(model_pixels + c->model_row * numel, pix, (size_t)numel * sizeof *pix);
        lrsa_image_release(&img);
    }
    fprintf(stderr, "pixel_values: %d of %d cases bit-exact against ViTImageProcessor%s\n", exact,
            checked, skipped ? " (skimage photographs missing: those cases skipped)" : "");
    if (skipped)
        fprintf(stderr, "note: %d cases need %s (tests/fetch-debian-data)\n", skipped, skdir);
    free(pix);
    free(resized);
}

/* ===== The model ======================================================== */
static void compare_output(const char *what, const float *ours, int64_t rows, int64_t cols)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/out_%s.npy", fixdir, what);
    lrsa_tensor *ref = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_MSG(lrsa_npy_read_f32(path, &ref, &err) == LRSA_OK, "%s", err.msg);
    if (!ref)
        return;
    CHECK_INT(ref->shape[0], nmodel);
    CHECK_INT(ref->shape[1], cols);
    double maxd = 0, worst_ref = 0, worst_ours = 0;
    int64_t bad = 0;
    for (int64_t r = 0; r < rows && ref->shape[0] == nmodel && ref->shape[1] == cols; r++) {
        if (!have_skimage && r < 6)
            continue;                            /* the skimage rows were not preprocessed */
        for (int64_t j = 0; j < cols; j++) {
            double a = ours[r * cols + j], b = ref->data[r * cols + j], d = fabs(a - b);
            if (d > 1e-5 + 1e-4 * fabs(b))
                bad++;
            if (d > maxd) {
                maxd = d;
                worst_ours = a;
                worst_ref = b;
            }
        }
    }
    fprintf(stderr, "%-18s max |ours - torch| = %.3g (ours %.9g, torch %.9g)\n", what, maxd,
            worst_ours, worst_ref);
    CHECK_MSG(bad == 0, "%s: %lld values outside 1e-5 + 1e-4 |ref|", what, (long long)bad);
    lrsa_tensor_free(ref);
}

static void test_model(void)
{
    lrsa_vit *vit = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_vit_load(modeldir, &vit, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc || !model_pixels)
        return;
    lrsa_ctx ctx;
    lrsa_ctx_init(&ctx);
    static const struct { const char *name; lrsa_vit_output what; int layer; } outs[] = {
        { "last_hidden_state", LRSA_VIT_LAST_HIDDEN_STATE, 0 },
        { "cls", LRSA_VIT_CLS, 0 },
        { "mean", LRSA_VIT_MEAN, 0 },
        { "pooler", LRSA_VIT_POOLER, 0 },
        { "layer1", LRSA_VIT_LAST_HIDDEN_STATE, 1 },
    };
    for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        int64_t dim = lrsa_vit_output_dim(vit, outs[o].what);
        float *out = calloc((size_t)(nmodel * dim), sizeof *out);
        rc = lrsa_vit_forward(vit, model_pixels, nmodel, outs[o].what, outs[o].layer, out, &ctx,
                              &err);
        CHECK_MSG(rc == LRSA_OK, "%s: %s", outs[o].name, err.msg);
        if (!rc)
            compare_output(outs[o].name, out, nmodel, dim);
        free(out);
    }
    lrsa_vit_free(vit);
}

/* ===== EXIF orientation ================================================= */
static void test_orientation(void)
{
    /* a 3x2 image whose pixel (x, y) is (x, y, 0) */
    static const int64_t want_w[9] = { 0, 3, 3, 3, 3, 2, 2, 2, 2 };
    for (int o = 1; o <= 8; o++) {
        lrsa_image img = { 3, 2, malloc(18) };
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) {
                img.data[3 * (y * 3 + x)] = (uint8_t)x;
                img.data[3 * (y * 3 + x) + 1] = (uint8_t)y;
                img.data[3 * (y * 3 + x) + 2] = 0;
            }
        CHECK_INT(lrsa_image_orient(&img, o, NULL), LRSA_OK);
        CHECK_INT(img.width, want_w[o]);
        /* where the source's top-left (0,0) and top-right (2,0) pixels end up */
        int64_t tlx = -1, tly = -1, trx = -1, try_ = -1;
        for (int64_t y = 0; y < img.height; y++)
            for (int64_t x = 0; x < img.width; x++) {
                const uint8_t *p = img.data + 3 * (y * img.width + x);
                if (p[0] == 0 && p[1] == 0) { tlx = x; tly = y; }
                if (p[0] == 2 && p[1] == 0) { trx = x; try_ = y; }
            }
        /* EXIF: 6 = rotate 90 clockwise (top-left goes to the top-right corner), 8 = anticlockwise */
        static const int64_t exp[9][4] = { { 0 }, { 0, 0, 2, 0 }, { 2, 0, 0, 0 }, { 2, 1, 0, 1 },
                                           { 0, 1, 2, 1 }, { 0, 0, 0, 2 }, { 1, 0, 1, 2 },
                                           { 1, 2, 1, 0 }, { 0, 2, 0, 0 } };
        CHECK_MSG(tlx == exp[o][0] && tly == exp[o][1] && trx == exp[o][2] && try_ == exp[o][3],
                  "orientation %d: top-left at (%lld,%lld), top-right at (%lld,%lld)", o,
                  (long long)tlx, (long long)tly, (long long)trx, (long long)try_);
        lrsa_image_release(&img);
    }
    char path[2300];
    char *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/inputs/exif6.jpg", fixdir);
    CHECK_INT(lrsa_read_file(path, 0, &buf, &len, NULL), LRSA_OK);
    CHECK_INT(lrsa_image_exif_orientation(buf, len), 6);
    /* Pillow's path ignores it, OpenCV's applies it */
    lrsa_image a, b;
    CHECK_INT(lrsa_image_decode(buf, len, "exif6.jpg", &a, NULL), LRSA_OK);
    CHECK_INT(lrsa_image_decode_ex(buf, len, "exif6.jpg", LRSA_IMAGE_OPENCV, &b, NULL), LRSA_OK);
    CHECK(a.width == 160 && a.height == 96 && b.width == 96 && b.height == 160);
    lrsa_image_release(&a);
    lrsa_image_release(&b);
    free(buf);
    snprintf(path, sizeof path, "%s/inputs/grey.jpg", fixdir);
    CHECK_INT(lrsa_read_file(path, 0, &buf, &len, NULL), LRSA_OK);
    CHECK_INT(lrsa_image_exif_orientation(buf, len), 1);
    CHECK_INT(lrsa_image_exif_orientation(buf, 10), 1);      /* cut short: never fails */
    free(buf);
    lrsa_image z = { 0, 0, NULL };
    lrsa_err err;
    CHECK_ERR(lrsa_image_orient(&z, 6, &err), err, LRSA_EMISUSE, "orientation");
}

/* ===== preprocessor_config.json ========================================= */
static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

static void test_config(void)
{
    char dir[2048], path[2300];
    snprintf(dir, sizeof dir, "%s/test_preprocess", harness_tmpdir());
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    remove(path);
    lrsa_vit_preproc p;
    lrsa_err err;
    /* no file: ViTImageProcessor's defaults at the model's size */
    CHECK_INT(lrsa_vit_preproc_read(dir, 32, &p, &err), LRSA_OK);
    CHECK(p.height == 32 && p.width == 32 && p.do_rescale && p.do_normalize);
    CHECK(p.mean[0] == 0.5f && p.std[2] == 0.5f && p.rescale_factor == 1.0 / 255.0 && !p.bgr);
    /* honoured keys */
    write_text(path, "{\"size\": {\"height\": 8, \"width\": 12}, \"image_mean\": [0.485, 0.456, 0.406],"
                     " \"image_std\": 0.25, \"do_rescale\": false, \"resample\": 2}");
    CHECK_INT(lrsa_vit_preproc_read(dir, 32, &p, &err), LRSA_OK);
    CHECK(p.height == 8 && p.width == 12 && !p.do_rescale && p.do_normalize);
    CHECK(p.mean[1] == 0.456f && p.std[0] == 0.25f && p.std[2] == 0.25f);
    /* without rescale, normalize works on the uint8 values cast to float32 */
    uint8_t px[3] = { 200, 100, 0 };
    static float out[3 * 48 * 48];
    CHECK_INT(lrsa_vit_preprocess(&p, px, 1, 1, NULL, out, &err), LRSA_OK);
    CHECK(out[0] == (200.0f - 0.485f) / 0.25f && out[96] == (100.0f - 0.456f) / 0.25f);
    p.bgr = 1;
    CHECK_INT(lrsa_vit_preprocess(&p, px, 1, 1, NULL, out, &err), LRSA_OK);
    CHECK(out[0] == (0.0f - 0.485f) / 0.25f && out[192] == (200.0f - 0.406f) / 0.25f);
    write_text(path, "{\"size\": 48, \"do_normalize\": false}");
    CHECK_INT(lrsa_vit_preproc_read(dir, 32, &p, &err), LRSA_OK);
    CHECK_INT(lrsa_vit_preprocess(&p, px, 1, 1, NULL, out, &err), LRSA_OK);
    CHECK(p.height == 48 && out[0] == (float)(200.0 * (1.0 / 255.0)));
    /* refusals */
    static const struct { const char *json; int code; const char *needle; } bad[] = {
        { "{\"resample\": 3}", LRSA_EUNSUPPORTED, "resample" },
        { "{\"size\": {\"shortest_edge\": 224}}", LRSA_EUNSUPPORTED, "shortest_edge" },
        { "{\"do_resize\": false}", LRSA_EUNSUPPORTED, "do_resize" },
        { "{\"do_center_crop\": true}", LRSA_EUNSUPPORTED, "do_center_crop" },
        { "{\"image_processor_type\": \"CLIPImageProcessor\"}", LRSA_EUNSUPPORTED, "CLIPImageProcessor" },
        { "{\"image_mean\": [0.5, 0.5]}", LRSA_EFORMAT, "image_mean" },
        { "{\"image_std\": [0.5, 0, 0.5]}", LRSA_EFORMAT, "image_std" },
        { "{\"size\": -3}", LRSA_EFORMAT, "size" },
        { "{\"do_rescale\": 1}", LRSA_EFORMAT, "do_rescale" },
        { "{\"size\": 224,", LRSA_EFORMAT, "not valid JSON" },
        { "[1, 2]", LRSA_EFORMAT, "not a JSON object" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, bad[i].json);
        int rc = lrsa_vit_preproc_read(dir, 32, &p, &err);
        CHECK_ERR_FILE(rc, err, bad[i].code, bad[i].needle, "preprocessor_config.json");
        CHECK(p.height == 32);                   /* left at the defaults */
    }
    remove(path);
    CHECK_ERR(lrsa_vit_preprocess(&p, NULL, 1, 1, NULL, out, &err), err, LRSA_EMISUSE, "NULL");
    CHECK_ERR(lrsa_vit_preprocess(&p, px, 0, 1, NULL, out, &err), err, LRSA_EMISUSE, "");
}

/* ===== Bad images ======================================================= */
static void test_bad_images(void)
{
    lrsa_image img;
    lrsa_err err;
    char path[4400];
    if (have_skimage) {
        snprintf(path, sizeof path, "%s/truncated.jpg", skdir);     /* PIL: "image file is truncated" */
        CHECK_ERR_FILE(lrsa_image_read(path, &img, &err), err, LRSA_EFORMAT, "truncated", path);
    }
    snprintf(path, sizeof path, "%s/inputs/progressive.jpg", fixdir);
    char *buf = NULL;
    size_t len = 0;
    CHECK_INT(lrsa_read_file(path, 0, &buf, &len, NULL), LRSA_OK);
    CHECK_ERR_FILE(lrsa_image_decode(buf, len / 2, "half.jpg", &img, &err), err, LRSA_EFORMAT,
                   "bad jpeg", "half.jpg");
    CHECK(img.data == NULL);
    memset(buf + 4, 0x00, 40);                   /* wipe the first segment after SOI */
    CHECK_ERR_FILE(lrsa_image_decode(buf, len, "wiped.jpg", &img, &err), err, LRSA_EFORMAT,
                   "bad jpeg", "wiped.jpg");
    free(buf);
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/vit_preproc", src ? src : ".");
    snprintf(modeldir, sizeof modeldir, "%s/model", fixdir);
    const char *td = getenv("LRSA_TESTDATA");
    snprintf(skdir, sizeof skdir, "%s/" SKIMAGE_REL, td ? td : "./.testdata");
    have_skimage = lrsa_is_dir(skdir);
    RUN(test_cases);
    RUN(test_model);
    RUN(test_orientation);
    RUN(test_config);
    RUN(test_bad_images);
    free(model_pixels);
    return harness_done();
}
