/* The renderer against nilearn 0.10.4's plot_stat_map (tools/gen_render_fixtures.py ->
 * tests/fixtures/render/expected.json and the PNGs nilearn saved): cut coordinates, the
 * world-aligned grid, resampled values, axis limits, panel boxes and pixels; the cold_hot table
 * against specs/data.md 2.5; bad input; determinism. */
#include "harness.h"
#include "latentrsa/image.h"
#include "latentrsa/imgproc.h"
#include "latentrsa/nifti.h"
#include "latentrsa/npy.h"
#include "latentrsa/render.h"
#include "../../src/render/render_impl.h"
#include "../../src/render/layout.h"

#include <cjson/cJSON.h>
#include <stdint.h>

static char fixdir[2048];
static const char *testdata;
static cJSON *expected;

/* Tolerances (stated, and the max differences are printed):
 *  cut coordinates, limits, grid affine: 1e-9 mm (float64 sums in another order);
 *  panel boxes: 1e-6 px; resampled values: 2 float32 ulps (relative 2.4e-7);
 *  pixels: colours of matching pixels within 1 LUT step; differing pixels at most PIX_FRAC of
 *  the canvas, and every differing pixel explained by a one-pixel shift (its colour present
 *  within one pixel in the reference) or one LUT step. */
#define TOL_MM 1e-9
#define TOL_PX 1e-6
#define PIX_FRAC 0.005

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double jat(const cJSON *arr, int i)
{
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_lut(void)
{
    static const int check[][4] = {
        { 0, 255, 255, 255 }, { 16, 128, 255, 255 }, { 32, 2, 255, 255 }, { 48, 0, 172, 255 },
        { 64, 0, 89, 255 }, { 80, 0, 5, 255 }, { 96, 0, 0, 175 }, { 112, 0, 0, 91 },
        { 127, 0, 0, 13 }, { 128, 13, 0, 0 }, { 144, 97, 0, 0 }, { 160, 181, 0, 0 },
        { 176, 255, 10, 0 }, { 192, 255, 94, 0 }, { 208, 255, 178, 0 }, { 224, 255, 255, 10 },
        { 240, 255, 255, 136 }, { 255, 255, 255, 255 },
    };
    uint8_t lut[256][3];
    lrsa_render_cold_hot(lut);
    for (size_t i = 0; i < sizeof check / sizeof check[0]; i++)
        for (int c = 0; c < 3; c++)
            CHECK_MSG(lut[check[i][0]][c] == check[i][1 + c], "lut[%d][%d] = %d, expected %d",
                      check[i][0], c, lut[check[i][0]][c], check[i][1 + c]);
}

/* Load a case's volume (x fastest) and affine. */
static float *load_case(const cJSON *c, int64_t dims[3], double affine[4][4])
{
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "source"));
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "file"));
    char path[4200];
    lrsa_err err;
    lrsa_err_init(&err);
    if (src && strcmp(src, "npy") == 0) {
        snprintf(path, sizeof path, "%s/%s", fixdir, file);
        lrsa_tensor *t = NULL;
        if (lrsa_npy_read_f32(path, &t, &err) != LRSA_OK || t->ndim != 3) {
            CHECK_MSG(0, "%s: %s", path, err.msg);
            lrsa_tensor_free(t);
            return NULL;
        }
        for (int a = 0; a < 3; a++)
            dims[a] = t->shape[a];
        float *v = malloc(sizeof *v * (size_t)(dims[0] * dims[1] * dims[2]));
        for (int64_t i = 0; i < dims[0]; i++)
            for (int64_t j = 0; j < dims[1]; j++)
                for (int64_t k = 0; k < dims[2]; k++)
                    v[i + dims[0] * (j + dims[1] * k)] = t->data[(i * dims[1] + j) * dims[2] + k];
        lrsa_tensor_free(t);
        const cJSON *aff = cJSON_GetObjectItemCaseSensitive(c, "affine");
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++)
                affine[r][q] = jat(cJSON_GetArrayItem(aff, r), q);
        return v;
    }
    snprintf(path, sizeof path, "%s/%s", testdata, file);
    lrsa_nifti_header h;
    float *v = NULL;
    if (lrsa_nifti_read_volume(path, (int64_t)jnum(c, "volume"), &h, &v, &err) != LRSA_OK) {
        CHECK_MSG(0, "%s: %s", path, err.msg);
        return NULL;
    }
    for (int a = 0; a < 3; a++)
        dims[a] = h.dims[a];
    memcpy(affine, h.affine, sizeof h.affine);
    return v;
}

static int lut_index(const uint8_t lut[256][3], const uint8_t *px)
{
    for (int i = 0; i < 256; i++)
        if (memcmp(lut[i], px, 3) == 0)
            return i;
    return -1;
}

/* Compare our picture with nilearn's; returns the fraction of differing pixels. */
static double compare_pixels(const char *name, const uint8_t *ours, const lrsa_image *ref,
                             const uint8_t lut[256][3], int64_t *unexplained)
{
    int64_t W = ref->width, H = ref->height, differ = 0;
    *unexplained = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            const uint8_t *a = ours + 3 * (y * W + x), *b = ref->data + 3 * (y * W + x);
            if (memcmp(a, b, 3) == 0)
                continue;
            differ++;
            int ia = lut_index(lut, a), ib = lut_index(lut, b);
            if (ia >= 0 && ib >= 0 && abs(ia - ib) <= 1)
                continue;
            int found = 0;
            for (int64_t dy = -1; dy <= 1 && !found; dy++)
                for (int64_t dx = -1; dx <= 1 && !found; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                        continue;
                    const uint8_t *c = ref->data + 3 * (yy * W + xx);
                    int ic = lut_index(lut, c);
                    found = memcmp(a, c, 3) == 0 || (ia >= 0 && ic >= 0 && abs(ia - ic) <= 1);
                }
            if (!found) {
                if (*unexplained < 5)
                    fprintf(stderr, "   %s: pixel (%lld, %lld) ours %d,%d,%d (lut %d) nilearn %d,%d,%d (lut %d)\n",
                            name, (long long)x, (long long)y, a[0], a[1], a[2], ia, b[0], b[1], b[2], ib);
                (*unexplained)++;
            }
        }
    return (double)differ / (double)(W * H);
}

static void test_case(const cJSON *c, const uint8_t lut[256][3])
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
    int64_t dims[3];
    double affine[4][4];
    float *vol = load_case(c, dims, affine);
    if (!vol)
        return;
    lrsa_render_opts o;
    lrsa_render_opts_init(&o);
    o.threshold = jnum(c, "threshold");
    o.size = 0;
    const char *interp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "interp"));
    o.interp = interp && strcmp(interp, "linear") == 0 ? LRSA_INTERP_LINEAR : LRSA_INTERP_CUBIC;
    uint8_t *rgb = malloc(LRSA_RENDER_FIG_W * LRSA_RENDER_FIG_H * 3);
    lrsa_render_info info;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_render_volume(vol, dims, (const double(*)[4])affine, &o, rgb, &info, &err);
    CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
    if (rc) {
        free(vol);
        free(rgb);
        return;
    }
    double dcut = 0, dlim = 0, dpanel = 0, dval = 0, daff = 0;
    CHECK_MSG(info.vmin == jnum(c, "vmin") && info.vmax == jnum(c, "vmax"),
              "%s: vmin/vmax %.9g %.9g vs %.9g %.9g", name, info.vmin, info.vmax, jnum(c, "vmin"),
              jnum(c, "vmax"));
    const cJSON *cut = cJSON_GetObjectItemCaseSensitive(c, "cut");
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(c, "cut_index");
    const cJSON *gd = cJSON_GetObjectItemCaseSensitive(c, "grid_dims");
    const cJSON *ga = cJSON_GetObjectItemCaseSensitive(c, "grid_affine");
    for (int a = 0; a < 3; a++) {
        dcut = fmax(dcut, fabs(info.cut[a] - jat(cut, a)));
        CHECK_MSG(info.cut_index[a] == (int64_t)jat(ci, a), "%s: cut index %d: %lld vs %g", name, a,
                  (long long)info.cut_index[a], jat(ci, a));
        CHECK_MSG(info.grid_dims[a] == (int64_t)jat(gd, a), "%s: grid dim %d: %lld vs %g", name, a,
                  (long long)info.grid_dims[a], jat(gd, a));
        for (int q = 0; q < 4; q++)
            daff = fmax(daff, fabs(info.grid_affine[a][q] - jat(cJSON_GetArrayItem(ga, a), q)));
    }
    CHECK_MSG(dcut <= TOL_MM, "%s: cut coordinates differ by %g mm", name, dcut);
    CHECK_MSG(daff <= TOL_MM, "%s: grid affine differs by %g", name, daff);
    /* limits per panel (coronal, sagittal, axial) and panel boxes */
    const cJSON *lims = cJSON_GetObjectItemCaseSensitive(c, "limits");
    const cJSON *panels = cJSON_GetObjectItemCaseSensitive(c, "panels");
    static const int ha[3] = { 0, 1, 0 }, va[3] = { 2, 2, 1 }, cutax[3] = { 1, 0, 2 };
    for (int p = 0; p < 3; p++) {
        const cJSON *l = cJSON_GetArrayItem(lims, p), *pb = cJSON_GetArrayItem(panels, p);
        if (info.cut_index[cutax[p]] >= 0) {
            double want[4] = { info.bounds[2 * ha[p]], info.bounds[2 * ha[p] + 1],
                               info.bounds[2 * va[p]], info.bounds[2 * va[p] + 1] };
            for (int q = 0; q < 4; q++)
                dlim = fmax(dlim, fabs(want[q] - jat(l, q)));
        }
        for (int q = 0; q < 4; q++)
            dpanel = fmax(dpanel, fabs(info.panel[p][q] - jat(pb, q)));
    }
    CHECK_MSG(dlim <= TOL_MM, "%s: axis limits differ by %g mm", name, dlim);
    CHECK_MSG(dpanel <= TOL_PX, "%s: panel boxes differ by %g px", name, dpanel);
    /* resampled values */
    lrsa_render_view *v = NULL;
    float *fin = malloc(sizeof *fin * (size_t)(dims[0] * dims[1] * dims[2]));
    for (int64_t p = 0; p < dims[0] * dims[1] * dims[2]; p++)
        fin[p] = isfinite(vol[p]) ? vol[p] : 0.0f;
    CHECK_INT(lrsa_render_view_new(fin, dims, (const double(*)[4])affine, o.interp, &v, &err), LRSA_OK);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(c, "samples")) {
        if (!v)
            break;
        float got = lrsa_render_view_value(v, (int64_t)jat(s, 0), (int64_t)jat(s, 1), (int64_t)jat(s, 2));
        double want = jat(s, 3), d = fabs(got - want);
        dval = fmax(dval, d / fmax(fabs(want), 1e-30));
        CHECK_MSG(d <= 2.4e-7 * fabs(want) + 1e-30, "%s: value at (%g, %g, %g): %.9g vs %.9g", name,
                  jat(s, 0), jat(s, 1), jat(s, 2), got, want);
    }
    lrsa_render_view_free(v);
    free(fin);
    /* pixels */
    char path[2400];
    snprintf(path, sizeof path, "%s/%s", fixdir,
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "png")));
    lrsa_image ref = { 0, 0, NULL };
    CHECK_INT(lrsa_image_read(path, &ref, &err), LRSA_OK);
    double frac = -1;
    int64_t unexplained = 0;
    if (ref.data && ref.width == LRSA_RENDER_FIG_W && ref.height == LRSA_RENDER_FIG_H) {
        frac = compare_pixels(name, rgb, &ref, lut, &unexplained);
        CHECK_MSG(frac <= PIX_FRAC, "%s: %.4f of the pixels differ", name, frac);
        CHECK_MSG(unexplained == 0, "%s: %lld differing pixels not explained by 1 px or 1 LUT step",
                  name, (long long)unexplained);
    }
    fprintf(stderr, "   %-22s cut %.2g mm, limits %.2g mm, panels %.2g px, values %.2g rel, "
            "pixels differing %.4f%%%s\n", name, dcut, dlim, dpanel, dval, 100 * frac,
            info.empty ? " (empty)" : "");
    if (getenv("LRSA_RENDER_DUMP")) {
        snprintf(path, sizeof path, "%s/render_%s.png", harness_tmpdir(), name);
        lrsa_image_write_png(path, rgb, LRSA_RENDER_FIG_W, LRSA_RENDER_FIG_H, NULL);
    }
    lrsa_image_release(&ref);
    free(rgb);
    free(vol);
}

static void test_fixtures(void)
{
    uint8_t lut[256][3];
    lrsa_render_cold_hot(lut);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(expected, "cases"))
        test_case(c, lut);
}

/* A small oblique volume: a bright blob in a dim box. */
static float *blob(int64_t d[3], double aff[4][4])
{
    d[0] = 20, d[1] = 18, d[2] = 12;
    float *v = malloc(sizeof *v * (size_t)(d[0] * d[1] * d[2]));
    for (int64_t k = 0; k < d[2]; k++)
        for (int64_t j = 0; j < d[1]; j++)
            for (int64_t i = 0; i < d[0]; i++) {
                double r = (i - 9.0) * (i - 9.0) / 36 + (j - 8.0) * (j - 8.0) / 25 + (k - 6.0) * (k - 6.0) / 9;
                v[i + d[0] * (j + d[1] * k)] = r < 1 ? (float)(600 + 40 * i) : 30.0f;
            }
    double c = cos(0.1), s = sin(0.1);
    double a[4][4] = { { 2, 0, 0, -20 }, { 0, 2 * c, -2 * s, -18 }, { 0, 2 * s, 2 * c, -12 }, { 0, 0, 0, 1 } };
    memcpy(aff, a, sizeof a);
    return v;
}

/* Bad input: a 2-D volume, bad options; all-NaN and above-maximum volumes give blank images. */
static void test_bad_input(void)
{
    lrsa_render_opts o;
    lrsa_render_opts_init(&o);
    o.size = 0;
    int64_t d[3];
    double aff[4][4];
    float *v = blob(d, aff);
    uint8_t *rgb = malloc(LRSA_RENDER_FIG_W * LRSA_RENDER_FIG_H * 3);
    lrsa_err err;
    lrsa_err_init(&err);
    int64_t flat[3] = { 20, 18, 1 };
    int rc = lrsa_render_volume(v, flat, (const double(*)[4])aff, &o, rgb, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EUNSUPPORTED, "3-D volume");
    o.threshold = -1;
    rc = lrsa_render_volume(v, d, (const double(*)[4])aff, &o, rgb, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "threshold");
    lrsa_render_opts_init(&o);
    o.canvas = LRSA_CANVAS_SQUARE;
    o.size = 0;
    int64_t w, h;
    CHECK_INT(lrsa_render_output_size(&o, &w, &h, &err), LRSA_EMISUSE);
    double sing[4][4] = { { 2, 2, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 2, 0 }, { 0, 0, 0, 1 } };
    lrsa_render_opts_init(&o);
    o.size = 0;
    rc = lrsa_render_volume(v, d, (const double(*)[4])sing, &o, rgb, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EUNSUPPORTED, "affine");
    /* all NaN: blank, 0 everywhere, nothing visible */
    int64_t n = d[0] * d[1] * d[2];
    float *nanv = malloc(sizeof *nanv * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        nanv[i] = NAN;
    lrsa_render_info info;
    CHECK_INT(lrsa_render_volume(nanv, d, (const double(*)[4])aff, &o, rgb, &info, &err), LRSA_OK);
    CHECK(info.empty && info.nonfinite == n);
    int blank = 1;
    for (int64_t i = 0; i < LRSA_RENDER_FIG_W * LRSA_RENDER_FIG_H * 3; i++)
        blank &= rgb[i] == 255;
    CHECK(blank);
    o.threshold = 1e6;
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, rgb, &info, &err), LRSA_OK);
    CHECK(info.empty);
    free(nanv);
    free(rgb);
    free(v);
}

/* The 672 x 672 output is the Pillow-bilinear resize of the 660 x 350 canvas; the square canvas
 * keeps mm square (no stretching); renders are deterministic; how much linear differs from cubic is printed. */
static void test_canvases(void)
{
    int64_t d[3];
    double aff[4][4];
    float *v = blob(d, aff);
    lrsa_render_opts o;
    lrsa_render_opts_init(&o);
    lrsa_err err;
    lrsa_err_init(&err);
    uint8_t *fig = malloc(660 * 350 * 3), *big = malloc(672 * 672 * 3), *big2 = malloc(672 * 672 * 3);
    uint8_t *want = malloc(672 * 672 * 3);
    o.size = 0;
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, fig, NULL, &err), LRSA_OK);
    o.size = 672;
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, big, NULL, &err), LRSA_OK);
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, big2, NULL, &err), LRSA_OK);
    CHECK(memcmp(big, big2, 672 * 672 * 3) == 0);
    CHECK_INT(lrsa_resize_bilinear_rgb8(fig, 660, 350, want, 672, 672, &err), LRSA_OK);
    CHECK(memcmp(big, want, 672 * 672 * 3) == 0);
    /* square: every panel's box has the aspect of its limits */
    lrsa_render_info info;
    o.canvas = LRSA_CANVAS_SQUARE;
    o.size = 224;
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, big, &info, &err), LRSA_OK);
    static const int ha[3] = { 0, 1, 0 }, va[3] = { 2, 2, 1 };
    for (int p = 0; p < 3; p++) {
        double pw = info.panel[p][2] - info.panel[p][0], ph = info.panel[p][3] - info.panel[p][1];
        double mw = info.bounds[2 * ha[p] + 1] - info.bounds[2 * ha[p]];
        double mh = info.bounds[2 * va[p] + 1] - info.bounds[2 * va[p]];
        CHECK_NEAR(pw / ph, mw / mh, 1e-9);
        CHECK(info.panel[p][0] >= -1e-9 && info.panel[p][2] <= 224 + 1e-9);
    }
    /* linear vs cubic: reported (interpolated values, hence many colours, differ slightly) */
    o.canvas = LRSA_CANVAS_NILEARN;
    o.size = 0;
    o.interp = LRSA_INTERP_LINEAR;
    uint8_t *lin = malloc(660 * 350 * 3);
    CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, lin, NULL, &err), LRSA_OK);
    int64_t diff = 0;
    for (int64_t i = 0; i < 660 * 350; i++)
        diff += memcmp(lin + 3 * i, fig + 3 * i, 3) != 0;
    fprintf(stderr, "   linear vs cubic: %.2f%% of the pixels differ\n", 100.0 * diff / (660 * 350));
    CHECK(diff > 0 && diff < 660 * 350); /* reported, not bounded: values differ slightly everywhere */
    free(lin);
    free(fig);
    free(big);
    free(big2);
    free(want);
    free(v);
}

/* A random oblique volume: a few blobs of either sign over noise, some exact ties. */
static float *random_volume(lrsa_rng *rng, int64_t d[3], double aff[4][4], int kind)
{
    d[0] = 3 + (int64_t)lrsa_rng_below(rng, 28);
    d[1] = 3 + (int64_t)lrsa_rng_below(rng, 28);
    d[2] = 3 + (int64_t)lrsa_rng_below(rng, 20);
    if (kind == 3 || kind == 4) {   /* lines of 64 voxels and more (the run finder's and the
                                     * masks' words) */
        d[2] = lrsa_rng_below(rng, 2) ? 64 : 128;
        d[0] = lrsa_rng_below(rng, 2) ? 64 : 65 + (int64_t)lrsa_rng_below(rng, 70);
    }
    int64_t n = d[0] * d[1] * d[2];
    float *v = malloc(sizeof *v * (size_t)n);
    for (int64_t p = 0; p < n; p++)
        v[p] = (float)(60 + 50 * lrsa_rng_normal(rng));
    for (int b = 0; b < 3; b++) {
        double cx = lrsa_rng_uniform(rng) * (double)d[0], cy = lrsa_rng_uniform(rng) * (double)d[1];
        double cz = lrsa_rng_uniform(rng) * (double)d[2], r = 1 + 4 * lrsa_rng_uniform(rng);
        double amp = (kind == 1 && b == 1 ? -1 : 1) * (300 + 900 * lrsa_rng_uniform(rng));
        for (int64_t k = 0; k < d[2]; k++)
            for (int64_t j = 0; j < d[1]; j++)
                for (int64_t i = 0; i < d[0]; i++) {
                    double q = ((double)i - cx) * ((double)i - cx) + ((double)j - cy) * ((double)j - cy) +
                               ((double)k - cz) * ((double)k - cz);
                    if (q < r * r)
                        v[i + d[0] * (j + d[1] * k)] += (float)amp;
                }
    }
    if (kind == 2)   /* two equal cubes: a tie between components */
        for (int64_t p = 0; p < n; p++) {
            int64_t i = p % d[0], j = (p / d[0]) % d[1];
            v[p] = (i == 0 || i == d[0] - 1) && j < 2 ? 500.0f : 0.0f;
        }
    if (kind == 3)   /* runs that reach the end of the z lines */
        for (int64_t p = n - d[0] * d[1] * 5; p < n; p++)
            v[p] = 700.0f;
    if (kind == 4)   /* a noisy slab through every z plane: the box's z lines are 64 or 128 long */
        for (int64_t p = 0; p < n; p++) {
            int64_t i = p % d[0], j = (p / d[0]) % d[1];
            if (i > 0 && i < d[0] - 1 && j > 0)
                v[p] = (float)(400 + 300 * lrsa_rng_normal(rng));
        }
    double c = cos(0.2 + 0.1 * kind), s = sin(0.2 + 0.1 * kind);
    double a[4][4] = { { 2, 0.1, 0, -20 }, { 0, 2 * c, -2 * s, -18 }, { 0.05, 2 * s, 2 * c, -12 },
                       { 0, 0, 0, 1 } };
    memcpy(aff, a, sizeof a);
    return v;
}

/* ===== the screened view, colours and drawing against plain versions ===== */
/* A small oblique volume of d voxels (down to 2 along an axis: every window at the edge). */
static float *small_volume(lrsa_rng *rng, const int64_t d[3], double aff[4][4])
{
    int64_t n = d[0] * d[1] * d[2];
    float *v = malloc(sizeof *v * (size_t)n);
    for (int64_t p = 0; p < n; p++)
        v[p] = (float)(60 + 400 * lrsa_rng_normal(rng));
    double c = cos(0.35), s = sin(0.35);
    double a[4][4] = { { 2, 0.2, 0.1, -5 }, { 0.1, 2 * c, -2 * s, -4 }, { 0.05, 2 * s, 2 * c, -3 },
                       { 0, 0, 0, 1 } };
    memcpy(aff, a, sizeof a);
    return v;
}

/* The screening bit of cell f, worked out from its window (the definition in screen.c). */
static int maybe_plain(const lrsa_render_view *v, const int64_t f[3], double hot)
{
    const int64_t *n = v->in_dims;
    for (int a = -1; a <= 2; a++)
        for (int b = -1; b <= 2; b++)
            for (int c = -1; c <= 2; c++) {
                int64_t i = lrsa__mirror_index(f[0] + a, n[0]);
                int64_t j = lrsa__mirror_index(f[1] + b, n[1]);
                int64_t k = lrsa__mirror_index(f[2] + c, n[2]);
                if (fabs(v->coef[i + n[0] * (j + n[1] * k)]) > hot)
                    return 1;
            }
    return 0;
}

/* The screening mask, rows and lists of voxels (lrsa__view_row_or_nan, _values_or_nan: the
 * batched cubic evaluation on windows inside, at the edge, in runs along x and not) and the
 * visible box, against the voxel-by-voxel versions and brute force: identical bits. */
static void test_screened_view(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 77);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_render_work *w = NULL;
    CHECK_INT(lrsa_render_work_new(&w, &err), LRSA_OK);
    int64_t mask_diff = 0, val_diff = 0, box_diff = 0, nval = 0;
    for (int it = 0; it < 14; it++) {
        int64_t d[3];
        double aff[4][4];
        float *vol;
        if (it < 8) {   /* tiny: 2 to 9 voxels per axis */
            for (int a = 0; a < 3; a++)
                d[a] = 2 + (int64_t)lrsa_rng_below(&rng, 8);
            vol = small_volume(&rng, d, aff);
        } else {
            vol = random_volume(&rng, d, aff, it % 4);
        }
        lrsa_render_view view, *v = &view;
        CHECK_INT(lrsa__view_init(v, w, vol, d, (const double(*)[4])aff, LRSA_INTERP_CUBIC, &err),
                  LRSA_OK);
        static const float thr[] = { 0, 100, 400, 5000 };
        for (int t = 0; t < 4; t++) {
            CHECK_INT(lrsa__view_prepare(v, thr[t], &err), LRSA_OK);
            if (v->order != 3)
                continue;
            double hot = (double)thr[t] * (1.0 - 1e-6);
            int64_t f[3];
            for (f[2] = 0; f[2] < d[2]; f[2]++)
                for (f[1] = 0; f[1] < d[1]; f[1]++)
                    for (f[0] = 0; f[0] < d[0]; f[0]++)
                        mask_diff += lrsa__view_maybe(v, f) != maybe_plain(v, f, hot);
            /* rows along each axis: whole, and pieces of random start and length */
            const int64_t *g = v->dims;
            float row[600];
            for (int axis = 0; axis < 3; axis++) {
                int o1 = (axis + 1) % 3, o2 = (axis + 2) % 3;
                for (int64_t y = 0; y < g[o1]; y += 1 + g[o1] / 12)
                    for (int64_t z = 0; z < g[o2]; z += 1 + g[o2] / 12) {
                        int64_t g0[3], s0 = 0, cnt = g[axis] < 600 ? g[axis] : 600;
                        if (lrsa_rng_below(&rng, 2)) {
                            s0 = (int64_t)lrsa_rng_below(&rng, (uint64_t)g[axis]);
                            cnt = 1 + (int64_t)lrsa_rng_below(&rng, (uint64_t)(g[axis] - s0));
                            cnt = cnt < 600 ? cnt : 600;
                        }
                        g0[axis] = s0, g0[o1] = y, g0[o2] = z;
                        lrsa__view_row_or_nan(v, g0, axis, cnt, row);
                        for (int64_t q = 0; q < cnt; q++) {
                            int64_t p[3] = { g0[0], g0[1], g0[2] };
                            p[axis] += q;
                            float want = lrsa__view_value_or_nan(v, p[0], p[1], p[2]);
                            val_diff += memcmp(&want, &row[q], sizeof want) != 0;
                            nval++;
                        }
                    }
            }
            /* lists of random voxels, of random length */
            for (int rep = 0; rep < 6; rep++) {
                int64_t cnt = 1 + (int64_t)lrsa_rng_below(&rng, 300), gl[3 * 300];
                float got[300];
                for (int64_t q = 0; q < cnt; q++)
                    for (int a = 0; a < 3; a++)
                        gl[3 * q + a] = (int64_t)lrsa_rng_below(&rng, (uint64_t)g[a]);
                lrsa__view_values_or_nan(v, gl, cnt, got);
                for (int64_t q = 0; q < cnt; q++) {
                    const int64_t *p = gl + 3 * q;
                    float want = lrsa__view_value_or_nan(v, p[0], p[1], p[2]);
                    val_diff += memcmp(&want, &got[q], sizeof want) != 0;
                    nval++;
                }
            }
            if (t == 0 || t == 3 || g[0] * g[1] * g[2] > 40000)
                continue;
            /* the visible box against every voxel's plain value */
            int64_t box[6], want[6] = { g[0], 0, g[1], 0, g[2], 0 }, p[3];
            for (p[2] = 0; p[2] < g[2]; p[2]++)
                for (p[1] = 0; p[1] < g[1]; p[1]++)
                    for (p[0] = 0; p[0] < g[0]; p[0]++) {
                        if (!lrsa__visible(lrsa_render_view_value(v, p[0], p[1], p[2]), thr[t]))
                            continue;
                        for (int a = 0; a < 3; a++) {
                            if (p[a] < want[2 * a])
                                want[2 * a] = p[a];
                            if (p[a] + 1 > want[2 * a + 1])
                                want[2 * a + 1] = p[a] + 1;
                        }
                    }
            int any = lrsa__view_visible_box(v, box);
            if (!any)
                memset(want, 0, sizeof want);
            box_diff += (any != (want[1] > 0)) || memcmp(box, want, sizeof box) != 0;
        }
        lrsa__view_release(v);
        free(vol);
    }
    lrsa_render_work_free(w);
    CHECK_MSG(mask_diff == 0, "%lld screening bits differ from their windows",
              (long long)mask_diff);
    CHECK_MSG(val_diff == 0, "%lld of %lld rows' and lists' values differ", (long long)val_diff,
              (long long)nval);
    CHECK_MSG(box_diff == 0, "%lld visible boxes differ from brute force", (long long)box_diff);
    fprintf(stderr, "   screened view: masks, visible boxes and %lld values as the plain ones\n",
            (long long)nval);
}

/* The plain versions of lrsa__colour_indices and lrsa__draw_panel (as they were before the
 * vector colours, the column runs and the copied rows). */
static void ref_colour_indices(const float *s, int64_t n, const lrsa__colour_params *cp,
                               int16_t *idx)
{
    float thrf = (float)cp->threshold;
    float a_min = INFINITY, a_max = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        float v = s[p];
        int masked = !(v == v) || !(fabsf(v) > thrf) ||
                     (cp->vmin >= -cp->threshold && v < (float)cp->vmin) ||
                     (cp->vmax <= cp->threshold && v > (float)cp->vmax);
        idx[p] = masked ? -1 : 0;
        if (!masked) {
            a_min = v < a_min ? v : a_min;
            a_max = v > a_max ? v : a_max;
        }
    }
    if (a_min > a_max)
        return;   /* everything masked */
    const float off = (float)0.1;
    float d = (float)(((double)a_max - (double)a_min) / 0.8);
    int scale = a_min != a_max;
    /* vrange goes through the same steps */
    float vr[2] = { (float)cp->vmin, (float)cp->vmax };
    for (int q = 0; q < 2; q++) {
        float t = vr[q] - a_min;
        if (scale)
            t = t / d;
        t = t + off;
        t = t - off;
        if (scale)
            t = t * d;
        vr[q] = t + a_min;
    }
    float span = vr[1] - vr[0];
    for (int64_t p = 0; p < n; p++) {
        if (idx[p] < 0)
            continue;
        float t = s[p] - a_min;
        if (scale)
            t = t / d;
        t = t + off;
        t = t - off;
        if (scale)
            t = t * d;
        t = t + a_min;
        float r = vr[0] == vr[1] ? 0.0f : (t - vr[0]) / span;
        float xa = r * 256.0f;
        int i;
        if (xa == 256.0f)
            i = 255;
        else if (xa < 0)
            i = 0;          /* under: the first colour */
        else if (xa >= 256.0f)
            i = 255;        /* over: the last colour */
        else
            i = (int)xa;
        idx[p] = (int16_t)i;
    }
}

static int64_t ref_iround(double v)
{
    return (int64_t)(v < 0.0 ? v - 0.5 : v + 0.5);
}

static int64_t ref_clampi(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* imshow(extent=ext, origin="upper", interpolation="nearest") in axes box b with limits lim,
 * drawn by Agg: the image is resampled to the pixel size of (axes box intersected with the
 * extent), rounded up, sampled at pixel centres, pasted at the rounded position and clipped to
 * the rounded axes box (inclusive). Canvas rows are counted from the top, display y from the bottom. */
static void ref_draw_panel(uint8_t *rgb, int64_t W, int64_t H, const lrsa__panel_box *b,
                           const double lim[4], const double ext[4], const int16_t *idx,
                           int64_t rows, int64_t cols, const uint8_t lut[256][3])
{
    double sx = (b->X1 - b->X0) / (lim[1] - lim[0]), sy = (b->Y1 - b->Y0) / (lim[3] - lim[2]);
    double ex0 = b->X0 + (ext[0] - lim[0]) * sx, ex1 = b->X0 + (ext[1] - lim[0]) * sx;
    double ey0 = b->Y0 + (ext[2] - lim[2]) * sy, ey1 = b->Y0 + (ext[3] - lim[2]) * sy;
    double cx0 = fmax(b->X0, fmin(ex0, ex1)), cx1 = fmin(b->X1, fmax(ex0, ex1));
    double cy0 = fmax(b->Y0, fmin(ey0, ey1)), cy1 = fmin(b->Y1, fmax(ey0, ey1));
    if (!(cx1 > cx0) || !(cy1 > cy0))
        return;
    double wb = cx1 - cx0, hb = cy1 - cy0;
    int64_t ow, oh;
    if (fmod(wb, 1.0) != 0 || fmod(hb, 1.0) != 0) {
        ow = (int64_t)ceil(wb);
        oh = (int64_t)ceil(hb);
    } else {
        ow = (int64_t)wb;
        oh = (int64_t)hb;
    }
    /* the Agg wrapper rounds the position (mpl_round: half away from zero), then truncates */
    double lx = (double)(int64_t)(cx0 + 0.5), by = (double)(int64_t)(cy0 + 0.5);
    int64_t left = (int64_t)lx, top = (int64_t)((double)H - (by + (double)oh));
    int64_t clx0 = ref_clampi((int64_t)floor(b->X0 + 0.5), 0, W - 1);
    int64_t clx1 = ref_clampi((int64_t)floor(b->X1 + 0.5), 0, W - 1);
    int64_t cly0 = ref_clampi((int64_t)floor((double)H - b->Y1 + 0.5), 0, H - 1);
    int64_t cly1 = ref_clampi((int64_t)floor((double)H - b->Y0 + 0.5), 0, H - 1);
    double cell_w = (ext[1] - ext[0]) / (double)cols, cell_h = (ext[3] - ext[2]) / (double)rows;
    /* Agg's span_interpolator_linear + span_image_filter_nn: the source position of each output
     * pixel centre in 1/256 pixels, rounded at both ends of the row and interpolated in
     * integers (dda2_line_interpolator) in between; the cell is position >> 8. */
    double col0 = (lim[0] + (cx0 + 0.5 * wb / (double)ow - b->X0) / sx - ext[0]) / cell_w;
    double col1 = (lim[0] + (cx0 + ((double)ow + 0.5) * wb / (double)ow - b->X0) / sx - ext[0]) / cell_w;
    int64_t x1 = ref_iround(col0 * 256.0), x2 = ref_iround(col1 * 256.0);
    for (int64_t v = 0; v < oh; v++) {
        int64_t row = top + (oh - 1 - v);
        if (row < cly0 || row > cly1)
            continue;
        double y = cy0 + ((double)v + 0.5) * hb / (double)oh;
        double z = lim[2] + (y - b->Y0) / sy;
        int64_t ry = ref_iround(((double)rows - (z - ext[2]) / cell_h) * 256.0) >> 8;
        if (ry < 0 || ry >= rows)
            continue;
        const int16_t *irow = idx + ry * cols;
        uint8_t *out = rgb + 3 * (row * W);
        /* dda2_line_interpolator(x1, x2, ow) */
        int64_t cnt = ow, lft = (x2 - x1) / cnt, rem = (x2 - x1) % cnt, mod = rem, xs = x1;
        if (mod <= 0) {
            mod += cnt;
            rem += cnt;
            lft--;
        }
        mod -= cnt;
        for (int64_t u = 0; u < ow; u++) {
            int64_t col = left + u, cx = xs >> 8;
            mod += rem;
            xs += lft;
            if (mod > 0) {
                mod -= cnt;
                xs++;
            }
            if (col < clx0 || col > clx1 || cx < 0 || cx >= cols)
                continue;
            int16_t ci = irow[cx];
            if (ci >= 0)
                memcpy(out + 3 * col, lut[ci], 3);
        }
    }
}

/* Colours of awkward slices (NaN, values at the threshold and at vmin/vmax, tails of fewer
 * than 8) and panels of awkward sizes drawn over canvases with content (rows alike and not),
 * against the plain versions: identical bytes. */
static void test_colours_drawing(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 91);
    uint8_t lut[256][3];
    lrsa_render_cold_hot(lut);
    int64_t colour_diff = 0, draw_diff = 0;
    for (int it = 0; it < 300; it++) {
        int64_t n = 1 + (int64_t)lrsa_rng_below(&rng, it < 100 ? 20 : 700);
        float *s = malloc(sizeof *s * (size_t)n);
        int16_t *a = malloc(sizeof *a * (size_t)n), *b = malloc(sizeof *b * (size_t)n);
        double thr = it % 3 == 0 ? 0 : 100;
        lrsa__colour_params cp = { -900, 900, thr };
        if (it % 4 == 1)
            cp.vmin = 0, cp.vmax = 700;       /* vmin >= -thr: values below vmin masked */
        if (it % 4 == 2)
            cp.vmin = -700, cp.vmax = 50;     /* vmax <= thr */
        if (it % 4 == 3)
            cp.vmin = cp.vmax = 300;
        static const float special[] = { 100, -100, 0, -0.0f, 700, -700, 900, -900, 50, 300 };
        for (int64_t p = 0; p < n; p++) {
            uint64_t k = lrsa_rng_below(&rng, 10);
            s[p] = k == 0 ? NAN : k == 1 ? special[lrsa_rng_below(&rng, 10)]
                                         : (float)(1200 * lrsa_rng_uniform(&rng) - 600);
            if (it % 7 == 6)
                s[p] = 250.0f;   /* one value: no scaling */
        }
        ref_colour_indices(s, n, &cp, a);
        lrsa__colour_indices(s, n, &cp, b);
        colour_diff += memcmp(a, b, sizeof *a * (size_t)n) != 0;
        free(s);
        free(a);
        free(b);
    }
    for (int it = 0; it < 200; it++) {
        int64_t W = 40 + (int64_t)lrsa_rng_below(&rng, 700);
        int64_t H = 30 + (int64_t)lrsa_rng_below(&rng, 400);
        int64_t rows = 1 + (int64_t)lrsa_rng_below(&rng, 130);
        int64_t cols = 1 + (int64_t)lrsa_rng_below(&rng, 130);
        lrsa__panel_box box = { lrsa_rng_uniform(&rng) * (double)W * 0.5 - 5, 0, 0, 0 };
        box.X1 = box.X0 + 10 + lrsa_rng_uniform(&rng) * (double)W;
        box.Y0 = lrsa_rng_uniform(&rng) * (double)H * 0.5 - 5;
        box.Y1 = box.Y0 + 10 + lrsa_rng_uniform(&rng) * (double)H;
        if (it % 5 == 0) {   /* whole pixels */
            box.X0 = floor(box.X0), box.X1 = floor(box.X1);
            box.Y0 = floor(box.Y0), box.Y1 = floor(box.Y1);
        }
        double ext[4] = { -50 - 40 * lrsa_rng_uniform(&rng), 50 + 40 * lrsa_rng_uniform(&rng),
                          -40 - 30 * lrsa_rng_uniform(&rng), 40 + 30 * lrsa_rng_uniform(&rng) };
        double lim[4] = { ext[0] + 30 * lrsa_rng_uniform(&rng) - 10,
                          ext[1] - 30 * lrsa_rng_uniform(&rng),
                          ext[2] + 20 * lrsa_rng_uniform(&rng) - 5,
                          ext[3] - 20 * lrsa_rng_uniform(&rng) };
        int16_t *idx = malloc(sizeof *idx * (size_t)(rows * cols));
        for (int64_t p = 0; p < rows * cols; p++)
            idx[p] = lrsa_rng_below(&rng, 3) == 0 ? -1 : (int16_t)lrsa_rng_below(&rng, 256);
        uint8_t *c1 = malloc((size_t)(W * H * 3)), *c2 = malloc((size_t)(W * H * 3));
        memset(c1, 255, (size_t)(W * H * 3));
        if (it % 2)   /* content under the panel: some rows alike, some not */
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++)
                    if (lrsa_rng_below(&rng, 4) == 0 || (y % 3 == 0 && x % 5 == 0))
                        c1[3 * (y * W + x) + (uint64_t)lrsa_rng_below(&rng, 3)] = (uint8_t)(y / 7);
        memcpy(c2, c1, (size_t)(W * H * 3));
        ref_draw_panel(c1, W, H, &box, lim, ext, idx, rows, cols, lut);
        lrsa__draw_panel(c2, W, H, &box, lim, ext, idx, rows, cols, lut);
        draw_diff += memcmp(c1, c2, (size_t)(W * H * 3)) != 0;
        free(idx);
        free(c1);
        free(c2);
    }
    CHECK_MSG(colour_diff == 0, "%lld slices' colours differ from the plain version",
              (long long)colour_diff);
    CHECK_MSG(draw_diff == 0, "%lld panels differ from the plain drawing", (long long)draw_diff);
}

/* The fast paths (runs, fused sums, blocked and vectorised prefilter, four-lane cubic
 * evaluation, workspaces, PNG settings) against the plain ones: identical bits, no tolerance. */
static void test_fast_paths(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 2024);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_render_work *w = NULL;
    CHECK_INT(lrsa_render_work_new(&w, &err), LRSA_OK);
    int64_t cut_diff = 0, coef_diff = 0, val_diff = 0, nval = 0;
    for (int it = 0; it < 40; it++) {
        int64_t d[3];
        double aff[4][4];
        float *v = random_volume(&rng, d, aff, it % 5);
        static const double thr[] = { 0, 100, 400, 5000 };
        for (int t = 0; t < 4; t++) {
            double a[3], b[3];
            CHECK_INT(lrsa__cut_coords_naive(v, d, (const double(*)[4])aff, thr[t], a, &err), LRSA_OK);
            CHECK_INT(lrsa__cut_coords_work(w, v, d, (const double(*)[4])aff, thr[t], b, &err), LRSA_OK);
            cut_diff += memcmp(a, b, sizeof a) != 0;
        }
        int64_t n = d[0] * d[1] * d[2];
        double *ref = NULL, *fast = malloc(sizeof *fast * (size_t)n);
        double *scratch = malloc(sizeof *scratch * lrsa__prefilter_scratch(d));
        CHECK_INT(lrsa__prefilter_naive(v, d, &ref, &err), LRSA_OK);
        lrsa__prefilter(v, d, fast, scratch);
        coef_diff += ref && memcmp(ref, fast, sizeof *fast * (size_t)n) != 0;
        free(ref);
        free(fast);
        free(scratch);
        lrsa_render_view view;
        CHECK_INT(lrsa__view_init(&view, w, v, d, (const double(*)[4])aff, LRSA_INTERP_CUBIC, &err), LRSA_OK);
        CHECK_INT(lrsa__view_prepare(&view, 100.0f, &err), LRSA_OK);
        int64_t g[3 * 37];
        float got[37];
        for (int64_t k = 0; k < view.dims[2]; k += 3)
            for (int64_t j = 0; j < view.dims[1]; j++) {
                int64_t cnt = view.dims[0] < 37 ? view.dims[0] : 37;
                for (int64_t i = 0; i < cnt; i++)
                    g[3 * i] = i, g[3 * i + 1] = j, g[3 * i + 2] = k;
                lrsa__view_values_or_nan(&view, g, cnt, got);
                for (int64_t i = 0; i < cnt; i++) {
                    float want = lrsa__view_value_or_nan(&view, i, j, k);
                    val_diff += memcmp(&want, &got[i], sizeof want) != 0;
                    nval++;
                }
            }
        lrsa__view_release(&view);
        /* a shared workspace gives the same picture as a fresh one */
        lrsa_render_opts o;
        lrsa_render_opts_init(&o);
        o.size = it % 2 ? 672 : 0;
        int64_t ow, oh;
        lrsa_render_output_size(&o, &ow, &oh, &err);
        uint8_t *p1 = malloc((size_t)(ow * oh * 3)), *p2 = malloc((size_t)(ow * oh * 3));
        CHECK_INT(lrsa_render_volume_work(w, v, d, (const double(*)[4])aff, &o, p1, NULL, &err), LRSA_OK);
        CHECK_INT(lrsa_render_volume(v, d, (const double(*)[4])aff, &o, p2, NULL, &err), LRSA_OK);
        CHECK(memcmp(p1, p2, (size_t)(ow * oh * 3)) == 0);
        free(p1);
        free(p2);
        /* the picture's cut coordinates (the first mask made by the finite scan) are the plain
         * ones of the finite volume; every other volume has NaN and +-Inf voxels (read as 0) */
        {
            float *vn = malloc(sizeof *vn * (size_t)n), *vf = malloc(sizeof *vf * (size_t)n);
            memcpy(vn, v, sizeof *vn * (size_t)n);
            memcpy(vf, v, sizeof *vf * (size_t)n);
            if (it % 2)
                for (int q = 0; q < 5; q++) {
                    int64_t p = (int64_t)lrsa_rng_below(&rng, (uint64_t)n);
                    vn[p] = q % 3 == 0 ? NAN : q % 3 == 1 ? INFINITY : -INFINITY;
                    vf[p] = 0.0f;
                }
            lrsa_render_opts_init(&o);
            o.size = 0;
            o.threshold = thr[(it / 2) % 4];
            uint8_t *pic = malloc(660 * 350 * 3);
            lrsa_render_info info;
            double want[3];
            const double(*a4)[4] = (const double(*)[4])aff;
            CHECK_INT(lrsa__cut_coords_naive(vf, d, a4, o.threshold, want, &err), LRSA_OK);
            CHECK_INT(lrsa_render_volume_work(w, vn, d, a4, &o, pic, &info, &err), LRSA_OK);
            cut_diff += memcmp(want, info.cut, sizeof want) != 0;
            free(pic);
            free(vn);
            free(vf);
        }
        free(v);
    }
    CHECK_MSG(cut_diff == 0, "%lld cut coordinates differ from the plain version", (long long)cut_diff);
    CHECK_MSG(coef_diff == 0, "%lld prefilters differ from the plain version", (long long)coef_diff);
    CHECK_MSG(val_diff == 0, "%lld of %lld batched values differ", (long long)val_diff, (long long)nval);
    fprintf(stderr, "   fast vs plain: cut coordinates, coefficients and %lld values bit-identical\n",
            (long long)nval);
    /* PNG settings: every one decodes to the same pixels; bad settings are refused */
    int64_t d[3];
    double aff[4][4];
    float *v = blob(d, aff);
    lrsa_render_opts o;
    lrsa_render_opts_init(&o);
    uint8_t *rgb = malloc(672 * 672 * 3);
    CHECK_INT(lrsa_render_volume_work(w, v, d, (const double(*)[4])aff, &o, rgb, NULL, &err), LRSA_OK);
    char path[2100];
    snprintf(path, sizeof path, "%s/render_png_opts.png", harness_tmpdir());
    for (int f = LRSA_PNG_FILTER_ADAPTIVE; f <= LRSA_PNG_FILTER_PAETH; f++)
        for (int st = LRSA_PNG_STRATEGY_DEFAULT; st <= LRSA_PNG_STRATEGY_FILTERED; st++) {
            lrsa_png_opts po = { f == 3 ? 1 : (f * 2) % 10, f, st };
            if (f == 0 && st == 0)
                lrsa_png_opts_fast(&po);
            CHECK_INT(lrsa_image_write_png_ex(path, rgb, 672, 672, &po, &err), LRSA_OK);
            lrsa_image back = { 0, 0, NULL };
            CHECK_INT(lrsa_image_read(path, &back, &err), LRSA_OK);
            CHECK(back.data && back.width == 672 && back.height == 672 &&
                  memcmp(back.data, rgb, 672 * 672 * 3) == 0);
            lrsa_image_release(&back);
        }
    lrsa_png_opts bad;
    lrsa_png_opts_init(&bad);
    bad.level = 10;
    CHECK_ERR(lrsa_image_write_png_ex(path, rgb, 672, 672, &bad, &err), err, LRSA_EMISUSE, "level");
    lrsa_png_opts_init(&bad);
    bad.filter = 9;
    CHECK_ERR(lrsa_image_write_png_ex(path, rgb, 672, 672, &bad, &err), err, LRSA_EMISUSE, "filter");
    free(rgb);
    free(v);
    lrsa_render_work_free(w);
}

/* The prefilter's fast path (groups of lines, x blocks, tails, the early end of the initial
 * sums), with and without the AVX2 kernels, against the plain version, bit for bit, on awkward
 * sizes along each axis (1 .. 257; the other two sizes leave tails of every group size) and on
 * data that stops the initial sums early, late or never: noise, a large range of magnitudes,
 * mostly zeros (with -0.0), whole zero lines, and one magnitude with random signs (the bound
 * then is tight, so a sum that stopped a term too early would show). */
static void test_prefilter_shapes(void)
{
    static const int64_t sizes[] = { 1, 2, 3, 4, 5, 7, 63, 65, 106, 257 };
    static const int64_t others[][2] = { { 26, 33 }, { 3, 50 } };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 77);
    lrsa_err err;
    lrsa_err_init(&err);
    int64_t ncase = 0, diff = 0, diff_plain = 0;
    for (int axis = 0; axis < 3; axis++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (int kind = 0; kind < 5; kind++) {
                const int64_t *o = others[kind % 2];
                int64_t d[3];
                d[axis] = sizes[si];
                d[(axis + 1) % 3] = o[0];
                d[(axis + 2) % 3] = o[1];
                int64_t n = d[0] * d[1] * d[2];
                float *v = malloc(sizeof *v * (size_t)n);
                for (int64_t p = 0; p < n; p++) {
                    double g = lrsa_rng_normal(&rng);
                    if (kind == 0)   /* noise around 60 */
                        v[p] = (float)(60 + 50 * g);
                    else if (kind == 1)   /* magnitudes from 1e-3 to 1e5, either sign */
                        v[p] = (float)(g * pow(10.0, -3 + 8 * lrsa_rng_uniform(&rng)));
                    else if (kind == 2)   /* mostly zeros, some -0.0, a few bright voxels */
                        v[p] = lrsa_rng_uniform(&rng) < 0.9 ? (p % 7 ? 0.0f : -0.0f)
                                                            : (float)(2000 * g);
                    else if (kind == 3)   /* zero rows and zero planes */
                        v[p] = (p / d[0]) % 3 == 0 || (p / (d[0] * d[1])) % 4 == 1
                                   ? 0.0f : (float)(500 + 100 * g);
                    else
                        v[p] = g < 0 ? -1000.0f : 1000.0f;
                }
                double *ref = NULL, *fast = malloc(sizeof *fast * (size_t)n);
                double *plain = malloc(sizeof *plain * (size_t)n);
                size_t ns = lrsa__prefilter_scratch(d);
                double *scratch = malloc(sizeof *scratch * ns);
                for (size_t i = 0; i < ns; i++)   /* results must not depend on the scratch */
                    scratch[i] = NAN;
                CHECK_INT(lrsa__prefilter_naive(v, d, &ref, &err), LRSA_OK);
                lrsa__prefilter(v, d, fast, scratch);
                lrsa__prefilter_isa(v, d, plain, scratch, 0);
                if (ref) {
                    diff += memcmp(ref, fast, sizeof *fast * (size_t)n) != 0;
                    diff_plain += memcmp(ref, plain, sizeof *plain * (size_t)n) != 0;
                }
                ncase++;
                free(ref);
                free(fast);
                free(plain);
                free(scratch);
                free(v);
            }
    CHECK_MSG(diff == 0, "%lld of %lld prefilters differ from the plain version", (long long)diff,
              (long long)ncase);
    CHECK_MSG(diff_plain == 0, "%lld of %lld prefilters without AVX2 differ", (long long)diff_plain,
              (long long)ncase);
    if (diff == 0 && diff_plain == 0)
        fprintf(stderr, "   prefilter: %lld shapes bit-identical (fast, without AVX2, plain)\n",
                (long long)ncase);
}

/* The renders' fast PNG setting (zlib's Z_RLE): images of awkward sizes and contents, each
 * filter, read back by libpng pixel for pixel. */
static void test_png_runs(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 77);
    lrsa_err err;
    lrsa_err_init(&err);
    char path[2100];
    snprintf(path, sizeof path, "%s/render_png_runs.png", harness_tmpdir());
    int64_t bad = 0, count = 0;
    for (int it = 0; it < 60; it++) {
        int64_t w = 1 + (int64_t)lrsa_rng_below(&rng, it % 10 == 0 ? 1500 : 120);
        int64_t h = 1 + (int64_t)lrsa_rng_below(&rng, it % 7 == 0 ? 3 : 90);
        uint8_t *px = malloc((size_t)(w * h * 3));
        for (int64_t i = 0; i < w * h * 3; i++) {
            switch (it % 5) {
            case 0: px[i] = (uint8_t)lrsa_rng_below(&rng, 256); break;            /* noise */
            case 1: px[i] = 255; break;                                           /* white */
            case 2: px[i] = i && lrsa_rng_below(&rng, 40) ? px[i - 1]             /* long runs */
                                                           : (uint8_t)lrsa_rng_below(&rng, 256); break;
            case 3: px[i] = (uint8_t)((i / 3) % 7 < 3 ? 0 : lrsa_rng_below(&rng, 3)); break;
            default: px[i] = (uint8_t)(85 * lrsa_rng_below(&rng, 4)); break;      /* few levels */
            }
        }
        for (int f = LRSA_PNG_FILTER_NONE; f <= LRSA_PNG_FILTER_UP; f++) {
            lrsa_png_opts po;
            lrsa_png_opts_fast(&po);
            po.filter = f;
            lrsa_image back = { 0, 0, NULL };
            count++;
            if (lrsa_image_write_png_ex(path, px, w, h, &po, &err) ||
                lrsa_image_read(path, &back, &err) || back.width != w || back.height != h ||
                memcmp(back.data, px, (size_t)(w * h * 3)) != 0) {
                bad++;
                fprintf(stderr, "   %lldx%lld filter %d: %s\n", (long long)w, (long long)h, f, err.msg);
            }
            lrsa_image_release(&back);
        }
        free(px);
    }
    CHECK_MSG(bad == 0, "%lld of %lld images did not read back", (long long)bad, (long long)count);
}

/* The resize copies rows that repeat (the canvas has many): compared with the same image made
 * unique by a different first column on every row, every output column that does not read the
 * first column is the same. */
static void test_resize_repeats(void)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 78);
    const int64_t w = 660, h = 350;
    uint8_t *a = malloc(w * h * 3), *b = malloc(w * h * 3);
    uint8_t *oa = malloc(700 * 700 * 3), *ob = malloc(700 * 700 * 3);
    for (int64_t y = 0; y < h;) {   /* runs of 1..8 equal rows: white, or with colour cells */
        int64_t run = 1 + (int64_t)lrsa_rng_below(&rng, 8), kind = (int64_t)lrsa_rng_below(&rng, 3);
        uint8_t row[660 * 3];
        for (int64_t i = 0; i < w * 3; i++)
            row[i] = kind == 0 || (i / 9) % 3 ? 255 : (uint8_t)lrsa_rng_below(&rng, 256);
        for (int64_t r = 0; r < run && y < h; r++, y++)
            memcpy(a + y * w * 3, row, sizeof row);
    }
    memcpy(b, a, w * h * 3);
    for (int64_t y = 0; y < h; y++)
        b[y * w * 3] = (uint8_t)y;
    static const int64_t out[][2] = { { 672, 672 }, { 224, 224 }, { 660, 700 }, { 300, 350 } };
    for (size_t t = 0; t < sizeof out / sizeof out[0]; t++) {
        int64_t dw = out[t][0], dh = out[t][1], skip = 4 * (w / dw + 1), diff = 0;
        CHECK_INT(lrsa_resize_bilinear_rgb8(a, w, h, oa, dw, dh, NULL), LRSA_OK);
        CHECK_INT(lrsa_resize_bilinear_rgb8(b, w, h, ob, dw, dh, NULL), LRSA_OK);
        for (int64_t y = 0; y < dh; y++)
            diff += memcmp(oa + (y * dw + skip) * 3, ob + (y * dw + skip) * 3,
                           (size_t)(dw - skip) * 3) != 0;
        CHECK_MSG(diff == 0, "%lldx%lld: %lld rows differ", (long long)dw, (long long)dh,
                  (long long)diff);
    }
    free(a);
    free(b);
    free(oa);
    free(ob);
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    testdata = getenv("LRSA_TESTDATA");
    if (!testdata)
        testdata = "./.testdata";
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/render", src && *src ? src : ".");
    char path[2200], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/expected.json", fixdir);
    CHECK_INT(lrsa_read_file(path, 0, &text, &n, NULL), LRSA_OK);
    expected = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(expected != NULL);
    RUN(test_lut);
    RUN(test_bad_input);
    RUN(test_canvases);
    RUN(test_fast_paths);
    RUN(test_prefilter_shapes);
    RUN(test_screened_view);
    RUN(test_colours_drawing);
    RUN(test_png_runs);
    RUN(test_resize_repeats);
    if (expected)
        RUN(test_fixtures);
    cJSON_Delete(expected);
    return harness_done();
}
