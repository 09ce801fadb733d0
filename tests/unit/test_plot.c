/* plot: every panel kind written as PNG and SVG and read back. PNGs: the size the layout
 * reports, not blank, heatmap cells (centre pixels) exactly their LUT colours, grid images at
 * their places, the marked value's colour present. SVGs: well-formed (balanced tags) with titles
 * as escaped <text>. Bad input: NaN cells drawn grey, all-NaN and zero-size matrices and empty
 * series refused, unwritable paths named, nothing left behind. */
#include "harness.h"
#include "latentrsa/image.h"
#include "latentrsa/plot.h"

#include <cairo.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[900];

static const char *tmp(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static const uint8_t *px(const lrsa_image *im, double x, double y)
{
    int64_t xi = (int64_t)floor(x), yi = (int64_t)floor(y);
    if (xi < 0 || yi < 0 || xi >= im->width || yi >= im->height)
        return NULL;
    return im->data + 3 * (yi * im->width + xi);
}

static int64_t count_color(const lrsa_image *im, uint8_t r, uint8_t g, uint8_t b)
{
    int64_t n = 0;
    for (int64_t i = 0; i < im->width * im->height; i++)
        n += im->data[3 * i] == r && im->data[3 * i + 1] == g && im->data[3 * i + 2] == b;
    return n;
}

static int64_t count_nonwhite(const lrsa_image *im)
{
    return im->width * im->height - count_color(im, 255, 255, 255);
}

/* Balanced tags, one <svg> root, no stray '<' or unescaped '&'. Returns 1 if well-formed. */
static int svg_wellformed(const char *s)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            const char *e = strchr(p, ';');
            if (!e || e - p > 6)
                return 0;
            continue;
        }
        if (*p != '<')
            continue;
        const char *end = strchr(p, '>');
        if (!end)
            return 0;
        if (p[1] == '?' || p[1] == '!') {
            p = end;
            continue;
        }
        int closing = p[1] == '/', selfclose = end[-1] == '/';
        const char *name = p + 1 + closing;
        size_t len = strcspn(name, " \t\n/>");
        if (len == 0 || len >= 32)
            return 0;
        for (const char *q = name; q < end; q++)
            if (*q == '<')
                return 0;
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, len) != 0 || stack[depth - 1][len])
                return 0;
            depth--;
        } else if (!selfclose) {
            if (depth == 0) {
                roots++;
                if (strncmp(name, "svg", len) != 0)
                    return 0;
            }
            if (depth == 64)
                return 0;
            memcpy(stack[depth], name, len);
            stack[depth][len] = '\0';
            depth++;
        }
        p = end;
    }
    return depth == 0 && roots == 1;
}

static char *slurp(const char *path)
{
    char *t = NULL;
    size_t n;
    if (lrsa_read_file(path, 0, &t, &n, NULL) != LRSA_OK)
        return NULL;
    return t;
}

/* Write fig to base.png and base.svg; check the PNG's size against the layout, read it into
 * *png, and check the SVG is well-formed and contains `needle`. */
static void write_both(const lrsa_figure *fig, const char *base, const char *needle, lrsa_image *png)
{
    char path[1200], name[256];
    lrsa_err err;
    lrsa_err_init(&err);
    int64_t w = 0, h = 0;
    CHECK_INT(lrsa_plot_layout(fig, -1, &w, &h, NULL, &err), LRSA_OK);

    snprintf(name, sizeof name, "%s.png", base);
    int rc = lrsa_plot_write(fig, tmp(name, path, sizeof path), &err);
    CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
    memset(png, 0, sizeof *png);
    rc = lrsa_image_read(path, png, &err);
    CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
    CHECK_INT(png->width, w);
    CHECK_INT(png->height, h);
    if (png->data)
        CHECK_MSG(count_nonwhite(png) > 500, "%s looks blank", name);

    snprintf(name, sizeof name, "%s.svg", base);
    rc = lrsa_plot_write(fig, tmp(name, path, sizeof path), &err);
    CHECK_MSG(rc == LRSA_OK, "%s: %s", name, err.msg);
    char *svg = slurp(path);
    CHECK(svg != NULL);
    if (svg) {
        CHECK_MSG(svg_wellformed(svg), "%s is not well-formed", name);
        CHECK_MSG(strstr(svg, needle) != NULL, "%s lacks %s", name, needle);
        char dims[64];
        snprintf(dims, sizeof dims, "width=\"%lld\" height=\"%lld\"", (long long)w, (long long)h);
        CHECK_MSG(strstr(svg, dims) != NULL, "%s lacks %s", name, dims);
    }
    free(svg);
}

/* Two RDM-like heatmaps side by side (viridis with a NaN, RdBu_r): every cell's centre pixel is
 * exactly its colour. */
static void test_heatmaps(void)
{
    enum { R = 5, C = 4 };
    float a[R * C], b[R * C];
    for (int i = 0; i < R * C; i++) {
        a[i] = (float)i / (R * C - 1);
        b[i] = (float)(i - 7) / 10.0f;
    }
    a[6] = NAN;
    lrsa_panel p[2];
    memset(p, 0, sizeof p);
    p[0].kind = LRSA_PANEL_HEATMAP;
    p[0].title = "fMRI RDM <1 - r> & more";
    p[0].u.heatmap = (lrsa_heatmap){ a, R, C, LRSA_CMAP_VIRIDIS, 0.0, 1.0, "dissimilarity" };
    p[1].kind = LRSA_PANEL_HEATMAP;
    p[1].title = "ViT RDM";
    p[1].xlabel = "stimulus";
    p[1].ylabel = "stimulus";
    p[1].u.heatmap = (lrsa_heatmap){ b, R, C, LRSA_CMAP_RDBU_R, NAN, NAN, NULL };
    lrsa_figure fig = { "Figure 3", p, 2, 0, 300, 260 };
    lrsa_image png;
    write_both(&fig, "heat", "<text", &png);
    char path[1200];
    char *svg = slurp(tmp("heat.svg", path, sizeof path));
    CHECK(svg && strstr(svg, ">fMRI RDM &lt;1 - r&gt; &amp; more</text>"));
    CHECK(svg && strstr(svg, ">Figure 3</text>"));
    CHECK(svg && strstr(svg, ">NaN</text>"));
    CHECK(svg && strstr(svg, "font-family=\"DejaVu Sans\""));
    free(svg);
    if (!png.data)
        return;
    for (int k = 0; k < 2; k++) {
        double area[4];
        CHECK_INT(lrsa_plot_layout(&fig, k, NULL, NULL, area, NULL), LRSA_OK);
        const lrsa_heatmap *h = &p[k].u.heatmap;
        /* RdBu_r automatic limits are symmetric: +-max|v| = +-1.2 */
        double vmin = k == 0 ? 0.0 : -(double)1.2f, vmax = k == 0 ? 1.0 : (double)1.2f;
        int bad = 0;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                uint8_t want[3];
                lrsa_cmap_color(h->cmap, h->data[i * C + j], vmin, vmax, want);
                const uint8_t *got = px(&png, area[0] + (j + 0.5) * area[2] / C,
                                        area[1] + (i + 0.5) * area[3] / R);
                if (!got || memcmp(got, want, 3) != 0) {
                    bad++;
                    if (got)
                        fprintf(stderr, "  panel %d cell (%d,%d): got %d,%d,%d want %d,%d,%d\n", k,
                                i, j, got[0], got[1], got[2], want[0], want[1], want[2]);
                }
            }
        CHECK_MSG(bad == 0, "panel %d: %d cells off their colour", k, bad);
    }
    /* the NaN cell is the NaN grey, which neither map contains */
    double area[4];
    lrsa_plot_layout(&fig, 0, NULL, NULL, area, NULL);
    const uint8_t *g = px(&png, area[0] + 2.5 * area[2] / C, area[1] + 1.5 * area[3] / R);
    CHECK(g && g[0] == LRSA_PLOT_NAN_R && g[1] == LRSA_PLOT_NAN_G && g[2] == LRSA_PLOT_NAN_B);
    int found = 0;
    for (int i = 0; i < 256; i++) {
        const uint8_t *v = lrsa_cmap_lut(LRSA_CMAP_VIRIDIS)[i], *r = lrsa_cmap_lut(LRSA_CMAP_RDBU_R)[i];
        found |= (v[0] == LRSA_PLOT_NAN_R && v[1] == LRSA_PLOT_NAN_G && v[2] == LRSA_PLOT_NAN_B) ||
                 (r[0] == LRSA_PLOT_NAN_R && r[1] == LRSA_PLOT_NAN_G && r[2] == LRSA_PLOT_NAN_B);
    }
    CHECK(!found);
    lrsa_image_release(&png);
}

/* matplotlib's LUT rule and two table entries printed by matplotlib 3.8. */
static void test_colormaps(void)
{
    CHECK_INT(lrsa_cmap_index(0.0), 0);
    CHECK_INT(lrsa_cmap_index(1.0), 255);
    CHECK_INT(lrsa_cmap_index(0.5), 128);
    CHECK_INT(lrsa_cmap_index(-3.0), 0);
    CHECK_INT(lrsa_cmap_index(7.0), 255);
    CHECK_INT(lrsa_cmap_index(NAN), 0);
    const uint8_t *v0 = lrsa_cmap_lut(LRSA_CMAP_VIRIDIS)[0], *v255 = lrsa_cmap_lut(LRSA_CMAP_VIRIDIS)[255];
    CHECK(v0[0] == 68 && v0[1] == 1 && v0[2] == 84);
    CHECK(v255[0] == 253 && v255[1] == 231 && v255[2] == 36);
    const uint8_t *r0 = lrsa_cmap_lut(LRSA_CMAP_RDBU_R)[0], *r255 = lrsa_cmap_lut(LRSA_CMAP_RDBU_R)[255];
    CHECK(r0[2] > r0[0] && r255[0] > r255[2]);   /* blue low, red high */
    CHECK_STR(lrsa_cmap_name(LRSA_CMAP_RDBU_R), "RdBu_r");
    uint8_t c[3];
    lrsa_cmap_color(LRSA_CMAP_VIRIDIS, 5.0, 5.0, 5.0, c);   /* vmin == vmax: index 0 */
    CHECK(memcmp(c, v0, 3) == 0);
}

static void test_lines(void)
{
    double train[20], test[20], x[20];
    for (int i = 0; i < 20; i++) {
        x[i] = i + 1;
        train[i] = 1.0 / (i + 1) + 0.05;
        test[i] = 1.2 / (i + 1) + 0.1;
    }
    test[7] = NAN;   /* a gap */
    lrsa_series s[2] = { { "train", x, train, 20 }, { "test", NULL, test, 20 } };
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_LINES;
    p.title = "Autoencoder loss";
    p.xlabel = "epoch";
    p.ylabel = "MSE";
    p.u.lines = (lrsa_lines){ s, 2, 1 };
    lrsa_figure fig = { NULL, &p, 1, 0, 0, 0 };
    lrsa_image png;
    write_both(&fig, "lines", ">Autoencoder loss</text>", &png);
    if (png.data) {
        CHECK(count_color(&png, 31, 119, 180) > 20);    /* tab:blue, train */
        CHECK(count_color(&png, 255, 127, 14) > 20);    /* tab:orange, test */
    }
    lrsa_image_release(&png);
    char path[1200];
    char *svg = slurp(tmp("lines.svg", path, sizeof path));
    CHECK(svg && strstr(svg, ">train</text>") && strstr(svg, ">test</text>") &&
          strstr(svg, ">epoch</text>") && strstr(svg, "<polyline"));
    free(svg);
}

static void test_histogram(void)
{
    enum { N = 1000 };
    double v[N];
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++)
        v[i] = 0.05 * lrsa_rng_normal(&rng);
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_HISTOGRAM;
    p.title = "Mantel null";
    p.xlabel = "r";
    p.ylabel = "permutations";
    p.u.histogram = (lrsa_histogram){ v, N, 40, 1, 0.31, "observed r = 0.31" };
    lrsa_figure fig = { "RSA", &p, 1, 0, 0, 0 };
    lrsa_image png;
    write_both(&fig, "hist", ">observed r = 0.31</text>", &png);
    if (png.data) {
        CHECK(count_color(&png, 214, 39, 40) > 50);   /* the marked value's line */
        CHECK(count_color(&png, 31, 119, 180) > 200); /* bars */
    }
    lrsa_image_release(&png);
}

static void solid(lrsa_image *im, int64_t w, int64_t h, uint8_t r, uint8_t g, uint8_t b)
{
    im->width = w;
    im->height = h;
    im->data = malloc((size_t)(w * h * 3));
    for (int64_t i = 0; i < w * h; i++) {
        im->data[3 * i] = r;
        im->data[3 * i + 1] = g;
        im->data[3 * i + 2] = b;
    }
}

/* Originals above reconstructions: 2 columns, images that fit drawn 1:1, a large one scaled. */
static void test_image_grid(void)
{
    lrsa_image ims[4];
    solid(&ims[0], 50, 40, 200, 10, 10);
    solid(&ims[1], 64, 64, 10, 200, 10);
    solid(&ims[2], 300, 200, 10, 10, 200);     /* scaled to 64x43 */
    solid(&ims[3], 10, 60, 250, 250, 0);
    const char *caps[4] = { "original 1", "original 2", "reconstruction 1 with a long caption", NULL };
    char path[1200];
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_plot_image_grid(tmp("grid.png", path, sizeof path), ims, 4, caps, 2, 64, 64,
                                  "Figure 2", &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_IMAGES;
    p.u.images = (lrsa_images){ ims, 4, caps, 2, 64, 64 };
    lrsa_figure fig = { "Figure 2", &p, 1, 0, 0, 0 };
    int64_t w, h;
    double area[4];
    CHECK_INT(lrsa_plot_layout(&fig, 0, &w, &h, area, NULL), LRSA_OK);
    CHECK_INT(area[2], 64);
    lrsa_image png = { 0 };
    CHECK_INT(lrsa_image_read(path, &png, &err), LRSA_OK);
    if (png.data) {
        CHECK_INT(png.width, w);
        CHECK_INT(png.height, h);
        /* cell centres: cells are 64 wide, 8 apart; rows 64 + 16 (caption) + 8 apart */
        double cx[4] = { 32, 32 + 72, 32, 32 + 72 }, cy[4] = { 32, 32, 32 + 88, 32 + 88 };
        for (int i = 0; i < 4; i++) {
            const uint8_t *g = px(&png, area[0] + cx[i], area[1] + cy[i]);
            CHECK_MSG(g && memcmp(g, ims[i].data, 3) == 0, "image %d not at its cell centre", i);
        }
        /* the 50x40 image is drawn 1:1: exactly 2000 pixels of its colour */
        CHECK_INT(count_color(&png, 200, 10, 10), 50 * 40);
        CHECK_INT(count_color(&png, 10, 10, 200), 64 * 43);
    }
    lrsa_image_release(&png);
    rc = lrsa_plot_image_grid(tmp("grid.svg", path, sizeof path), ims, 4, caps, 2, 64, 64,
                              "Figure 2", &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    char *svg = slurp(path);
    CHECK(svg && svg_wellformed(svg) && strstr(svg, ">original 1</text>") &&
          strstr(svg, "data:image/png;base64,") && strstr(svg, "...</text>"));
    free(svg);
    for (int i = 0; i < 4; i++)
        lrsa_image_release(&ims[i]);
}

/* A matrix over LRSA_PLOT_MAX_RASTER is block-averaged and still drawn. */
static void test_large_heatmap(void)
{
    int64_t n = LRSA_PLOT_MAX_RASTER + 5;
    float *d = malloc(sizeof(float) * (size_t)(n * 3));
    for (int64_t i = 0; i < n * 3; i++)
        d[i] = (float)(i / 3) / (float)n;
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_HEATMAP;
    p.title = "tall";
    p.u.heatmap = (lrsa_heatmap){ d, n, 3, LRSA_CMAP_VIRIDIS, NAN, NAN, NULL };
    lrsa_figure fig = { NULL, &p, 1, 0, 0, 0 };
    lrsa_image png;
    write_both(&fig, "tall", ">tall</text>", &png);
    lrsa_image_release(&png);
    free(d);
}

static void test_bad_input(void)
{
    char path[1200];
    lrsa_err err;
    lrsa_err_init(&err);
    float nan4[4] = { NAN, NAN, NAN, NAN }, one[1] = { 1 };
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_HEATMAP;
    p.title = "bad";
    lrsa_figure fig = { NULL, &p, 1, 0, 0, 0 };
    int before = count_entries(tmpdir);

    p.u.heatmap = (lrsa_heatmap){ nan4, 2, 2, LRSA_CMAP_VIRIDIS, NAN, NAN, NULL };
    int rc = lrsa_plot_write(&fig, tmp("bad1.png", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no finite value");
    p.u.heatmap = (lrsa_heatmap){ one, 0, 1, LRSA_CMAP_VIRIDIS, NAN, NAN, NULL };
    rc = lrsa_plot_write(&fig, tmp("bad2.svg", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "empty");
    p.u.heatmap = (lrsa_heatmap){ one, 1, 1, LRSA_CMAP_VIRIDIS, 2.0, 1.0, NULL };
    rc = lrsa_plot_write(&fig, tmp("bad3.png", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EMISUSE, "colour limits");
    p.u.heatmap = (lrsa_heatmap){ one, 1, 1, LRSA_CMAP_VIRIDIS, NAN, NAN, NULL };
    rc = lrsa_plot_write(&fig, tmp("bad4.pdf", path, sizeof path), &err);
    CHECK_ERR_FILE(rc, err, LRSA_EMISUSE, "format", "bad4.pdf");
    /* unwritable: a directory that does not exist */
    rc = lrsa_plot_write(&fig, tmp("no/such/dir/x.png", path, sizeof path), &err);
    CHECK_ERR_FILE(rc, err, LRSA_EIO, "cannot", "no/such/dir/x.png");
    rc = lrsa_plot_write(&fig, tmp("no/such/dir/x.svg", path, sizeof path), &err);
    CHECK_ERR_FILE(rc, err, LRSA_EIO, "cannot", "no/such/dir/x.svg");

    double nanv[3] = { NAN, NAN, NAN };
    lrsa_series s = { "x", NULL, nanv, 3 };
    p.kind = LRSA_PANEL_LINES;
    p.u.lines = (lrsa_lines){ &s, 1, 0 };
    rc = lrsa_plot_write(&fig, tmp("bad5.png", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no finite point");
    p.kind = LRSA_PANEL_HISTOGRAM;
    p.u.histogram = (lrsa_histogram){ nanv, 3, 0, 0, 0, NULL };
    rc = lrsa_plot_write(&fig, tmp("bad6.svg", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no finite value");
    rc = lrsa_plot_image_grid(tmp("bad7.png", path, sizeof path), NULL, 0, NULL, 0, 0, 0, NULL, &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no images");
    lrsa_figure none = { "t", NULL, 0, 0, 0, 0 };
    rc = lrsa_plot_write(&none, tmp("bad8.png", path, sizeof path), &err);
    CHECK_ERR(rc, err, LRSA_EEMPTY, "no panels");
    CHECK_INT(count_entries(tmpdir), before);   /* nothing left behind */

    /* text that is not UTF-8 or has control characters is cleaned, not fatal */
    p.kind = LRSA_PANEL_HEATMAP;
    p.title = "bad \xff\xfe bytes\x01";
    p.u.heatmap = (lrsa_heatmap){ one, 1, 1, LRSA_CMAP_VIRIDIS, NAN, NAN, NULL };
    lrsa_image png;
    write_both(&fig, "text", ">bad ?? bytes </text>", &png);
    lrsa_image_release(&png);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_plot_%ld", harness_tmpdir(), (long)getpid());
    mkdir(tmpdir, 0755);
    RUN(test_colormaps);
    RUN(test_heatmaps);
    RUN(test_lines);
    RUN(test_histogram);
    RUN(test_image_grid);
    RUN(test_large_heatmap);
    RUN(test_bad_input);
    if (!harness_failures) {
        const char *names[] = { "heat", "lines", "hist", "tall", "text" };
        char path[1200];
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            char n[64];
            snprintf(n, sizeof n, "%s.png", names[i]);
            unlink(tmp(n, path, sizeof path));
            snprintf(n, sizeof n, "%s.svg", names[i]);
            unlink(tmp(n, path, sizeof path));
        }
        unlink(tmp("grid.png", path, sizeof path));
        unlink(tmp("grid.svg", path, sizeof path));
        rmdir(tmpdir);
    } else {
        fprintf(stderr, "figures kept in %s\n", tmpdir);
    }
    /* Free cairo's and fontconfig's process-wide font caches so that LeakSanitizer sees no
     * leak (fontconfig is loaded by cairo; FcFini is looked up so the test need not link it). */
    cairo_debug_reset_static_data();
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini)
        fc_fini();
    return harness_done();
}
