/* Figures: validate and prepare each panel (ranges, ticks, rasters, histogram counts), lay the
 * panels out in a grid, then draw them on a canvas (plot_impl.h) that writes PNG or SVG.
 * Layout is the same for both formats: text is measured with cairo in both. */
#include "plot_impl.h"

#include "latentrsa/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ===== Style ============================================================ */
#define PAD 12.0
#define FIG_TITLE_SIZE 16.0
#define FIG_TITLE_H 32.0
#define PANEL_TITLE_SIZE 13.0
#define PANEL_TITLE_H 26.0
#define TICK_SIZE 10.0
#define LABEL_SIZE 11.0
#define TICK_LEN 4.0
#define CB_W 14.0
#define CB_GAP 12.0
#define GRID_GAP 8.0
#define CAPTION_H 16.0
#define MAX_TICKS 32
#define DEFAULT_PANEL_W 420
#define DEFAULT_PANEL_H 360
#define DEFAULT_CELL 128

static const prgb BLACK = { 0, 0, 0 }, GRID = { 222, 222, 222 }, WHITE = { 255, 255, 255 },
                  CELL_BG = { 240, 240, 240 }, BAR = { 31, 119, 180 }, MARK = { 214, 39, 40 },
                  NAN_RGB = { LRSA_PLOT_NAN_R, LRSA_PLOT_NAN_G, LRSA_PLOT_NAN_B };
/* matplotlib's tab10 cycle */
static const prgb TAB10[10] = {
    { 31, 119, 180 }, { 255, 127, 14 }, { 44, 160, 44 }, { 214, 39, 40 }, { 148, 103, 189 },
    { 140, 86, 75 }, { 227, 119, 194 }, { 127, 127, 127 }, { 188, 189, 34 }, { 23, 190, 207 }
};

/* ===== Ticks ============================================================ */
typedef struct ticks {
    double v[MAX_TICKS];
    int n;
    char label[MAX_TICKS][32];
} ticks;

/* "Nice" ticks (1, 2, 2.5, 5 x 10^k) inside [lo, hi], about `target` of them, with labels that
 * show just enough decimals. */
static void make_ticks(double lo, double hi, int target, ticks *t)
{
    t->n = 0;
    if (!(hi > lo) || !isfinite(hi - lo))
        return;
    double raw = (hi - lo) / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
    int dec = 0;
    while (dec < 10) {
        double s = step * pow(10.0, dec);
        if (fabs(s - round(s)) < 1e-6 * s)
            break;
        dec++;
    }
    double big = fmax(fabs(lo), fabs(hi));
    for (double k = ceil(lo / step - 1e-9); t->n < MAX_TICKS; k++) {
        double v = k * step;
        if (v > hi + 1e-9 * step)
            break;
        if (fabs(v) < 1e-9 * step)
            v = 0.0;
        t->v[t->n] = v;
        if (big >= 1e6 || step < 1e-4)
            snprintf(t->label[t->n], sizeof t->label[0], "%.3g", v);
        else
            snprintf(t->label[t->n], sizeof t->label[0], "%.*f", dec, v);
        t->n++;
    }
}

/* Pad a range by `frac` of its width; widen an empty one. */
static void pad_range(double *lo, double *hi, double frac)
{
    if (*hi == *lo) {
        double d = *lo == 0 ? 0.5 : fabs(*lo) * 0.05;
        *lo -= d;
        *hi += d;
        return;
    }
    double d = (*hi - *lo) * frac;
    *lo -= d;
    *hi += d;
}

/* ===== Panel state ====================================================== */
typedef struct pstate {
    const lrsa_panel *p;
    double cx, cy, cw, ch;        /* the panel's cell in the figure */
    double ax, ay, aw, ah;        /* its data area */
    double nat_w, nat_h;          /* the size the panel asks for */
    double xlo, xhi, ylo, yhi;    /* axes ranges (lines, histogram) */
    ticks xt, yt;                 /* axes ticks; for a heatmap yt are the colorbar's */
    double ytw;                   /* widest y tick label */
    /* heatmap */
    double vmin, vmax;
    int has_nan;
    uint8_t *raster;
    int64_t rw, rh;
    /* histogram */
    int64_t *counts;
    double blo, bhi;
    int bins;
    /* images */
    int gcols, grows;
    int cell_w, cell_h;
    double cap_h;
} pstate;

static void pstate_release(pstate *s)
{
    free(s->raster);
    free(s->counts);
    s->raster = NULL;
    s->counts = NULL;
}

static const char *panel_name(const lrsa_panel *p)
{
    return p->title && *p->title ? p->title : "untitled";
}

/* Heatmap: limits, NaN presence, and the coloured raster (block-averaged when large). */
static int prep_heatmap(pstate *s, int idx, lrsa_err *err)
{
    const lrsa_heatmap *h = &s->p->u.heatmap;
    if (h->rows < 1 || h->cols < 1)
        return LRSA_FAIL(err, LRSA_EEMPTY, "heatmap %d ('%s') is empty (%lldx%lld)", idx,
                         panel_name(s->p), (long long)h->rows, (long long)h->cols);
    if (!h->data)
        return LRSA_FAIL(err, LRSA_EMISUSE, "heatmap %d ('%s') has no data", idx, panel_name(s->p));
    if (h->cmap != LRSA_CMAP_VIRIDIS && h->cmap != LRSA_CMAP_RDBU_R)
        return LRSA_FAIL(err, LRSA_EMISUSE, "heatmap %d: unknown colormap %d", idx, (int)h->cmap);
    int64_t n = h->rows * h->cols;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = h->data[i];
        if (isnan(v))
            s->has_nan = 1;
        else if (isfinite(v)) {
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    }
    if (!(lo <= hi))
        return LRSA_FAIL(err, LRSA_EEMPTY, "heatmap %d ('%s') has no finite value", idx,
                         panel_name(s->p));
    if (h->cmap == LRSA_CMAP_RDBU_R) {
        double m = fmax(fabs(lo), fabs(hi));
        lo = -m;
        hi = m;
    }
    s->vmin = isnan(h->vmin) ? lo : h->vmin;
    s->vmax = isnan(h->vmax) ? hi : h->vmax;
    if (!isfinite(s->vmin) || !isfinite(s->vmax) || s->vmin > s->vmax)
        return LRSA_FAIL(err, LRSA_EMISUSE, "heatmap %d ('%s'): bad colour limits [%g, %g]", idx,
                         panel_name(s->p), s->vmin, s->vmax);

    int64_t f = 1, big = h->rows > h->cols ? h->rows : h->cols;
    if (big > LRSA_PLOT_MAX_RASTER)
        f = (big + LRSA_PLOT_MAX_RASTER - 1) / LRSA_PLOT_MAX_RASTER;
    s->rh = (h->rows + f - 1) / f;
    s->rw = (h->cols + f - 1) / f;
    s->raster = lrsa_malloc((size_t)(s->rw * s->rh * 3), "heatmap raster", err);
    if (!s->raster)
        return LRSA_ENOMEM;
    for (int64_t bi = 0; bi < s->rh; bi++)
        for (int64_t bj = 0; bj < s->rw; bj++) {
            double v;
            if (f == 1) {
                v = h->data[bi * h->cols + bj];
            } else {
                double sum = 0;
                int64_t cnt = 0;
                v = NAN;
                for (int64_t i = bi * f; i < (bi + 1) * f && i < h->rows; i++)
                    for (int64_t j = bj * f; j < (bj + 1) * f && j < h->cols; j++) {
                        float x = h->data[i * h->cols + j];
                        if (isfinite(x)) {
                            sum += x;
                            cnt++;
                        } else if (isnan(v)) {
                            v = x;   /* an all-non-finite block keeps its first value */
                        }
                    }
                if (cnt)
                    v = sum / (double)cnt;
            }
            lrsa_cmap_color(h->cmap, v, s->vmin, s->vmax, s->raster + 3 * (bi * s->rw + bj));
        }
    make_ticks(s->vmin, s->vmax, 5, &s->yt);
    return LRSA_OK;
}

static int prep_lines(pstate *s, int idx, lrsa_err *err)
{
    const lrsa_lines *l = &s->p->u.lines;
    if (l->nseries < 0 || (l->nseries > 0 && !l->series))
        return LRSA_FAIL(err, LRSA_EMISUSE, "line plot %d: bad series list", idx);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < l->nseries; k++) {
        const lrsa_series *sr = &l->series[k];
        if (sr->n < 0 || (sr->n > 0 && !sr->y))
            return LRSA_FAIL(err, LRSA_EMISUSE, "line plot %d: series %d has no data", idx, k);
        for (int64_t i = 0; i < sr->n; i++) {
            double x = sr->x ? sr->x[i] : (double)(i + 1), y = sr->y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
        }
    }
    if (!(xlo <= xhi))
        return LRSA_FAIL(err, LRSA_EEMPTY, "line plot %d ('%s') has no finite point", idx,
                         panel_name(s->p));
    pad_range(&xlo, &xhi, 0.03);
    pad_range(&ylo, &yhi, 0.06);
    s->xlo = xlo;
    s->xhi = xhi;
    s->ylo = ylo;
    s->yhi = yhi;
    make_ticks(xlo, xhi, 6, &s->xt);
    make_ticks(ylo, yhi, 7, &s->yt);
    return LRSA_OK;
}

static int prep_histogram(pstate *s, int idx, lrsa_err *err)
{
    const lrsa_histogram *h = &s->p->u.histogram;
    if (h->n < 0 || (h->n > 0 && !h->values))
        return LRSA_FAIL(err, LRSA_EMISUSE, "histogram %d: no values", idx);
    if (h->bins < 0 || h->bins > 100000)
        return LRSA_FAIL(err, LRSA_EMISUSE, "histogram %d: bad bin count %d", idx, h->bins);
    if (h->has_mark && !isfinite(h->mark))
        return LRSA_FAIL(err, LRSA_EMISUSE, "histogram %d: the marked value is not finite", idx);
    double lo = INFINITY, hi = -INFINITY;
    int64_t m = 0;
    for (int64_t i = 0; i < h->n; i++)
        if (isfinite(h->values[i])) {
            lo = fmin(lo, h->values[i]);
            hi = fmax(hi, h->values[i]);
            m++;
        }
    if (m == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "histogram %d ('%s') has no finite value", idx,
                         panel_name(s->p));
    if (h->has_mark) {
        lo = fmin(lo, h->mark);
        hi = fmax(hi, h->mark);
    }
    if (lo == hi)
        pad_range(&lo, &hi, 0);
    s->bins = h->bins ? h->bins : 30;
    s->blo = lo;
    s->bhi = hi;
    s->counts = lrsa_calloc((size_t)s->bins, sizeof *s->counts, "histogram counts", err);
    if (!s->counts)
        return LRSA_ENOMEM;
    int64_t cmax = 0;
    double w = (hi - lo) / s->bins;
    for (int64_t i = 0; i < h->n; i++) {
        double v = h->values[i];
        if (!isfinite(v))
            continue;
        int64_t b = (int64_t)((v - lo) / w);
        b = b < 0 ? 0 : b >= s->bins ? s->bins - 1 : b;   /* the last bin is closed, as numpy */
        if (++s->counts[b] > cmax)
            cmax = s->counts[b];
    }
    s->xlo = lo;
    s->xhi = hi;
    pad_range(&s->xlo, &s->xhi, 0.03);
    s->ylo = 0;
    s->yhi = (double)cmax * 1.08;
    make_ticks(s->xlo, s->xhi, 6, &s->xt);
    make_ticks(s->ylo, s->yhi, 6, &s->yt);
    return LRSA_OK;
}

static int prep_images(pstate *s, int idx, lrsa_err *err)
{
    const lrsa_images *g = &s->p->u.images;
    if (g->n < 1)
        return LRSA_FAIL(err, LRSA_EEMPTY, "image grid %d has no images", idx);
    if (!g->images || g->cols < 0 || g->cell_w < 0 || g->cell_h < 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "image grid %d: bad arguments", idx);
    for (int64_t i = 0; i < g->n; i++)
        if (!g->images[i].data || g->images[i].width < 1 || g->images[i].height < 1)
            return LRSA_FAIL(err, LRSA_EMISUSE, "image grid %d: image %lld is empty", idx,
                             (long long)i);
    s->gcols = g->cols > 0 && g->cols < g->n ? g->cols : (int)(g->n < 100000 ? g->n : 100000);
    s->grows = (int)((g->n + s->gcols - 1) / s->gcols);
    s->cell_w = g->cell_w ? g->cell_w : DEFAULT_CELL;
    s->cell_h = g->cell_h ? g->cell_h : DEFAULT_CELL;
    s->cap_h = 0;
    for (int64_t i = 0; g->captions && i < g->n; i++)
        if (g->captions[i] && *g->captions[i])
            s->cap_h = CAPTION_H;
    double top = s->p->title && *s->p->title ? PANEL_TITLE_H : PAD;
    s->nat_w = 2 * PAD + s->gcols * (double)s->cell_w + (s->gcols - 1) * GRID_GAP;
    s->nat_h = top + PAD + s->grows * (s->cell_h + s->cap_h) + (s->grows - 1) * GRID_GAP;
    return LRSA_OK;
}

static int prep_panel(pstate *s, int idx, const lrsa_figure *fig, lrsa_err *err)
{
    s->nat_w = fig->panel_w > 0 ? fig->panel_w : DEFAULT_PANEL_W;
    s->nat_h = fig->panel_h > 0 ? fig->panel_h : DEFAULT_PANEL_H;
    switch (s->p->kind) {
    case LRSA_PANEL_HEATMAP: return prep_heatmap(s, idx, err);
    case LRSA_PANEL_LINES: return prep_lines(s, idx, err);
    case LRSA_PANEL_HISTOGRAM: return prep_histogram(s, idx, err);
    case LRSA_PANEL_IMAGES: return prep_images(s, idx, err);
    default:
        return LRSA_FAIL(err, LRSA_EMISUSE, "panel %d has unknown kind %d", idx, (int)s->p->kind);
    }
}

/* ===== Layout =========================================================== */

static double widest(measurer *m, const ticks *t, double size)
{
    double w = 0;
    for (int i = 0; i < t->n; i++)
        w = fmax(w, measure_text(m, t->label[i], size, 0));
    return w;
}

static int layout_panel(pstate *s, int idx, measurer *m, lrsa_err *err)
{
    const lrsa_panel *p = s->p;
    double top = s->cy + (p->title && *p->title ? PANEL_TITLE_H : PAD);
    double bottom = s->cy + s->ch - PAD, left = s->cx + PAD, right = s->cx + s->cw - PAD;
    if (p->kind == LRSA_PANEL_IMAGES) {
        s->ax = floor(s->cx + PAD);
        s->ay = floor(top);
        s->aw = s->cell_w;
        s->ah = s->cell_h;
        return LRSA_OK;
    }
    if (p->ylabel && *p->ylabel)
        left += LABEL_SIZE + 8;
    if (p->xlabel && *p->xlabel)
        bottom -= LABEL_SIZE + 8;
    if (p->kind == LRSA_PANEL_HEATMAP) {
        const lrsa_heatmap *h = &p->u.heatmap;
        right -= CB_GAP + CB_W + TICK_LEN + 3 + widest(m, &s->yt, TICK_SIZE);
        if (h->colorbar_label && *h->colorbar_label)
            right -= LABEL_SIZE + 8;
        if (s->has_nan)
            bottom -= 18;
        double aw = right - left, ah = bottom - top;
        if (aw < 16 || ah < 16)
            return LRSA_FAIL(err, LRSA_EMISUSE, "panel %d ('%s') is too small to draw", idx,
                             panel_name(p));
        double cell = fmin(aw / (double)h->cols, ah / (double)h->rows);
        s->ax = floor(left);
        s->ay = floor(top);
        s->aw = fmax(1, floor(cell * (double)h->cols));
        s->ah = fmax(1, floor(cell * (double)h->rows));
        return LRSA_OK;
    }
    s->ytw = widest(m, &s->yt, TICK_SIZE);
    left += s->ytw + TICK_LEN + 4;
    bottom -= TICK_SIZE + TICK_LEN + 6;
    top += 4;
    s->ax = floor(left) + 0.5;   /* half pixels: crisp 1-pixel axes in the PNG */
    s->ay = floor(top) + 0.5;
    s->aw = floor(right - left);
    s->ah = floor(bottom - top);
    if (s->aw < 16 || s->ah < 16)
        return LRSA_FAIL(err, LRSA_EMISUSE, "panel %d ('%s') is too small to draw", idx,
                         panel_name(p));
    return LRSA_OK;
}

/* The figure's layout: validates, prepares every panel and places it. */
typedef struct layout {
    pstate *ps;
    int n, cols, rows;
    double cell_w, cell_h, title_h;
    int64_t width, height;
    measurer m;
} layout;

static void layout_release(layout *L)
{
    for (int i = 0; L->ps && i < L->n; i++)
        pstate_release(&L->ps[i]);
    free(L->ps);
    measurer_release(&L->m);
    memset(L, 0, sizeof *L);
}

static int layout_build(layout *L, const lrsa_figure *fig, lrsa_err *err)
{
    memset(L, 0, sizeof *L);
    int rc;
    if (!fig || (fig->npanels > 0 && !fig->panels) || fig->npanels < 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "figure: bad panel list");
    if (fig->npanels == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "figure has no panels");
    if ((rc = measurer_init(&L->m, err)))
        return rc;
    L->n = fig->npanels;
    L->ps = lrsa_calloc((size_t)L->n, sizeof *L->ps, "figure panels", err);
    if (!L->ps) {
        rc = LRSA_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < L->n; i++) {
        L->ps[i].p = &fig->panels[i];
        if ((rc = prep_panel(&L->ps[i], i, fig, err)))
            goto fail;
        L->cell_w = fmax(L->cell_w, ceil(L->ps[i].nat_w));
        L->cell_h = fmax(L->cell_h, ceil(L->ps[i].nat_h));
    }
    L->cols = fig->cols > 0 && fig->cols < L->n ? fig->cols : L->n;
    L->rows = (L->n + L->cols - 1) / L->cols;
    L->title_h = fig->title && *fig->title ? FIG_TITLE_H : 0;
    double w = L->cols * L->cell_w, h = L->title_h + L->rows * L->cell_h;
    if (w > LRSA_IMAGE_MAX_DIM || h > LRSA_IMAGE_MAX_DIM) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "figure of %.0fx%.0f pixels is over the limit", w, h);
        goto fail;
    }
    L->width = (int64_t)w;
    L->height = (int64_t)h;
    for (int i = 0; i < L->n; i++) {
        pstate *s = &L->ps[i];
        s->cx = (i % L->cols) * L->cell_w;
        s->cy = L->title_h + (i / L->cols) * L->cell_h;
        s->cw = L->cell_w;
        s->ch = L->cell_h;
        if ((rc = layout_panel(s, i, &L->m, err)))
            goto fail;
    }
    return LRSA_OK;
fail:
    layout_release(L);
    return rc;
}

/* ===== Drawing ========================================================== */

static double map_x(const pstate *s, double x)
{
    return s->ax + (x - s->xlo) / (s->xhi - s->xlo) * s->aw;
}

static double map_y(const pstate *s, double y)
{
    return s->ay + s->ah - (y - s->ylo) / (s->yhi - s->ylo) * s->ah;
}

static void draw_line(canvas *c, double x0, double y0, double x1, double y1, prgb col, double lw)
{
    double xy[4] = { x0, y0, x1, y1 };
    c->ops->polyline(c, xy, 2, col, lw, 0);
}

/* Grid, frame, ticks and tick labels of an x/y axes panel, and the axis labels. */
static void draw_axes(canvas *c, const pstate *s)
{
    for (int i = 0; i < s->yt.n; i++) {
        double y = floor(map_y(s, s->yt.v[i])) + 0.5;
        draw_line(c, s->ax, y, s->ax + s->aw, y, GRID, 1);
        draw_line(c, s->ax - TICK_LEN, y, s->ax, y, BLACK, 1);
        c->ops->text(c, s->ax - TICK_LEN - 3, y + TICK_SIZE * 0.35, s->yt.label[i], TICK_SIZE,
                     ANCHOR_END, 0, 0, BLACK);
    }
    for (int i = 0; i < s->xt.n; i++) {
        double x = floor(map_x(s, s->xt.v[i])) + 0.5;
        draw_line(c, x, s->ay, x, s->ay + s->ah, GRID, 1);
        draw_line(c, x, s->ay + s->ah, x, s->ay + s->ah + TICK_LEN, BLACK, 1);
        c->ops->text(c, x, s->ay + s->ah + TICK_LEN + TICK_SIZE + 2, s->xt.label[i], TICK_SIZE,
                     ANCHOR_MIDDLE, 0, 0, BLACK);
    }
    c->ops->rect(c, s->ax, s->ay, s->aw, s->ah, NULL, &BLACK, 1);
}

static void draw_axis_labels(canvas *c, const pstate *s, double left_of_ticks)
{
    const lrsa_panel *p = s->p;
    if (p->xlabel && *p->xlabel)
        c->ops->text(c, s->ax + s->aw / 2, s->cy + s->ch - PAD - 2, p->xlabel, LABEL_SIZE,
                     ANCHOR_MIDDLE, 0, 0, BLACK);
    if (p->ylabel && *p->ylabel)
        c->ops->text(c, left_of_ticks - 6, s->ay + s->ah / 2, p->ylabel, LABEL_SIZE,
                     ANCHOR_MIDDLE, 0, 1, BLACK);
}

static void draw_heatmap(canvas *c, const pstate *s, measurer *m)
{
    const lrsa_heatmap *h = &s->p->u.heatmap;
    c->ops->image(c, s->ax, s->ay, s->aw, s->ah, s->raster, s->rw, s->rh);
    c->ops->rect(c, s->ax - 0.5, s->ay - 0.5, s->aw + 1, s->ah + 1, NULL, &BLACK, 1);
    /* colorbar: the LUT top (vmax) to bottom (vmin) */
    uint8_t bar[256 * 3];
    const uint8_t(*lut)[3] = lrsa_cmap_lut(h->cmap);
    for (int i = 0; i < 256; i++)
        memcpy(bar + 3 * i, lut[255 - i], 3);
    double bx = s->ax + s->aw + CB_GAP, by = s->ay, bh = s->ah;
    c->ops->image(c, bx, by, CB_W, bh, bar, 1, 256);
    c->ops->rect(c, bx - 0.5, by - 0.5, CB_W + 1, bh + 1, NULL, &BLACK, 1);
    double tw = 0;
    for (int i = 0; i < s->yt.n; i++) {
        double t = s->vmax > s->vmin ? (s->yt.v[i] - s->vmin) / (s->vmax - s->vmin) : 0;
        double y = floor(by + bh - t * bh) + 0.5;
        draw_line(c, bx + CB_W, y, bx + CB_W + TICK_LEN, y, BLACK, 1);
        c->ops->text(c, bx + CB_W + TICK_LEN + 3, y + TICK_SIZE * 0.35, s->yt.label[i], TICK_SIZE,
                     ANCHOR_START, 0, 0, BLACK);
        tw = fmax(tw, measure_text(m, s->yt.label[i], TICK_SIZE, 0));
    }
    if (h->colorbar_label && *h->colorbar_label)
        c->ops->text(c, bx + CB_W + TICK_LEN + 3 + tw + 6 + LABEL_SIZE, by + bh / 2,
                     h->colorbar_label, LABEL_SIZE, ANCHOR_MIDDLE, 0, 1, BLACK);
    if (s->has_nan) {
        c->ops->rect(c, bx, by + bh + 6, 10, 10, &NAN_RGB, &BLACK, 0.5);
        c->ops->text(c, bx + 14, by + bh + 15, "NaN", TICK_SIZE, ANCHOR_START, 0, 0, BLACK);
    }
    draw_axis_labels(c, s, s->ax);
}

static void draw_lines(canvas *c, const pstate *s, measurer *m, lrsa_err *err)
{
    const lrsa_lines *l = &s->p->u.lines;
    draw_axes(c, s);
    double *xy = NULL;
    int64_t cap = 0;
    for (int k = 0; k < l->nseries; k++) {
        const lrsa_series *sr = &l->series[k];
        prgb col = TAB10[k % 10];
        if (sr->n > cap) {
            free(xy);
            cap = sr->n;
            xy = lrsa_malloc((size_t)cap * 2 * sizeof *xy, "line points", err);
            if (!xy) {
                c->status = LRSA_ENOMEM;
                return;
            }
        }
        int64_t run = 0;
        for (int64_t i = 0; i <= sr->n; i++) {
            double x = i < sr->n ? (sr->x ? sr->x[i] : (double)(i + 1)) : NAN;
            double y = i < sr->n ? sr->y[i] : NAN;
            if (isfinite(x) && isfinite(y)) {
                xy[2 * run] = map_x(s, x);
                xy[2 * run + 1] = map_y(s, y);
                run++;
                continue;
            }
            c->ops->polyline(c, xy, run, col, 1.8, 0);   /* a NaN or the end closes a run */
            for (int64_t j = 0; l->markers && j < run; j++)
                c->ops->dot(c, xy[2 * j], xy[2 * j + 1], 2.5, col);
            if (run == 1 && !l->markers)
                c->ops->dot(c, xy[0], xy[1], 1.8, col);
            run = 0;
        }
    }
    free(xy);
    /* legend, top right inside the axes */
    double lw = 0;
    int nl = 0;
    for (int k = 0; k < l->nseries; k++)
        if (l->series[k].label && *l->series[k].label) {
            lw = fmax(lw, measure_text(m, l->series[k].label, TICK_SIZE, 0));
            nl++;
        }
    if (nl) {
        double bw = lw + 36, bh = nl * 16 + 8, bx = s->ax + s->aw - bw - 8, by = s->ay + 8;
        prgb frame = { 180, 180, 180 };
        c->ops->rect(c, bx, by, bw, bh, &WHITE, &frame, 1);
        int row = 0;
        for (int k = 0; k < l->nseries; k++) {
            if (!l->series[k].label || !*l->series[k].label)
                continue;
            double y = by + 4 + 16 * row + 8;
            draw_line(c, bx + 6, y, bx + 26, y, TAB10[k % 10], 1.8);
            c->ops->text(c, bx + 30, y + TICK_SIZE * 0.35, l->series[k].label, TICK_SIZE,
                         ANCHOR_START, 0, 0, BLACK);
            row++;
        }
    }
    draw_axis_labels(c, s, s->ax - TICK_LEN - 3 - s->ytw);
}

static void draw_histogram(canvas *c, const pstate *s)
{
    const lrsa_histogram *h = &s->p->u.histogram;
    draw_axes(c, s);
    double w = (s->bhi - s->blo) / s->bins;
    for (int b = 0; b < s->bins; b++) {
        if (!s->counts[b])
            continue;
        double x0 = map_x(s, s->blo + b * w), x1 = map_x(s, s->blo + (b + 1) * w);
        double y = map_y(s, (double)s->counts[b]);
        c->ops->rect(c, x0, y, x1 - x0, s->ay + s->ah - y, &BAR, &WHITE, 0.5);
    }
    if (h->has_mark) {
        double x = map_x(s, h->mark);
        draw_line(c, x, s->ay, x, s->ay + s->ah, MARK, 2);
        char buf[64];
        const char *label = h->mark_label;
        if (!label) {
            snprintf(buf, sizeof buf, "%.3g", h->mark);
            label = buf;
        }
        int right_half = x > s->ax + s->aw / 2;
        c->ops->text(c, right_half ? x - 5 : x + 5, s->ay + 16, label, TICK_SIZE,
                     right_half ? ANCHOR_END : ANCHOR_START, 0, 0, MARK);
    }
    draw_axis_labels(c, s, s->ax - TICK_LEN - 3 - s->ytw);
}

/* A caption cut (at a UTF-8 boundary, with "...") to fit `maxw`. */
static void fit_caption(measurer *m, const char *s, double maxw, char *out, size_t cap)
{
    snprintf(out, cap, "%s", s);
    if (measure_text(m, out, TICK_SIZE, 0) <= maxw)
        return;
    size_t n = strlen(out);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
            n--;
        if (n + 4 > cap)
            continue;
        memcpy(out + n, "...", 4);
        if (measure_text(m, out, TICK_SIZE, 0) <= maxw)
            return;
    }
    out[0] = '\0';
}

static void draw_images(canvas *c, const pstate *s, measurer *m, lrsa_err *err)
{
    const lrsa_images *g = &s->p->u.images;
    uint8_t *buf = NULL;
    for (int64_t i = 0; i < g->n && !c->status; i++) {
        const lrsa_image *im = &g->images[i];
        double x = s->ax + (double)(i % s->gcols) * (s->cell_w + GRID_GAP);
        double y = s->ay + (double)(i / s->gcols) * (s->cell_h + s->cap_h + GRID_GAP);
        c->ops->rect(c, x, y, s->cell_w, s->cell_h, &CELL_BG, NULL, 0);
        int64_t w = im->width, h = im->height;
        const uint8_t *px = im->data;
        if (w > s->cell_w || h > s->cell_h) {
            double f = fmin((double)s->cell_w / (double)w, (double)s->cell_h / (double)h);
            int64_t nw = (int64_t)fmax(1, fmin(s->cell_w, round((double)w * f)));
            int64_t nh = (int64_t)fmax(1, fmin(s->cell_h, round((double)h * f)));
            uint8_t *nb = realloc(buf, (size_t)(nw * nh * 3));
            if (!nb) {
                c->status = LRSA_FAIL(err, LRSA_ENOMEM, "out of memory scaling image %lld",
                                      (long long)i);
                break;
            }
            buf = nb;
            if ((c->status = lrsa_resize_bilinear_rgb8(im->data, w, h, buf, nw, nh, err)))
                break;
            px = buf;
            w = nw;
            h = nh;
        }
        double ox = x + floor((s->cell_w - (double)w) / 2), oy = y + floor((s->cell_h - (double)h) / 2);
        c->ops->image(c, ox, oy, (double)w, (double)h, px, w, h);
        if (g->captions && g->captions[i] && *g->captions[i]) {
            char cap[512];
            fit_caption(m, g->captions[i], s->cell_w, cap, sizeof cap);
            c->ops->text(c, x + s->cell_w / 2.0, y + s->cell_h + TICK_SIZE + 3, cap, TICK_SIZE,
                         ANCHOR_MIDDLE, 0, 0, BLACK);
        }
    }
    free(buf);
}

static void draw_panel(canvas *c, const pstate *s, measurer *m, lrsa_err *err)
{
    const lrsa_panel *p = s->p;
    if (p->title && *p->title)
        c->ops->text(c, s->cx + s->cw / 2, s->cy + PANEL_TITLE_H - 9, p->title, PANEL_TITLE_SIZE,
                     ANCHOR_MIDDLE, 1, 0, BLACK);
    switch (p->kind) {
    case LRSA_PANEL_HEATMAP: draw_heatmap(c, s, m); break;
    case LRSA_PANEL_LINES: draw_lines(c, s, m, err); break;
    case LRSA_PANEL_HISTOGRAM: draw_histogram(c, s); break;
    case LRSA_PANEL_IMAGES: draw_images(c, s, m, err); break;
    }
}

/* ===== Public =========================================================== */

/* 0 for .png, 1 for .svg, -1 otherwise. */
static int format_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return -1;
    if (strcasecmp(dot, ".png") == 0)
        return 0;
    if (strcasecmp(dot, ".svg") == 0)
        return 1;
    return -1;
}

int lrsa_plot_layout(const lrsa_figure *fig, int panel, int64_t *width, int64_t *height,
                     double area[4], lrsa_err *err)
{
    layout L;
    int rc = layout_build(&L, fig, err);
    if (rc)
        return rc;
    if (panel >= L.n) {
        layout_release(&L);
        return LRSA_FAIL(err, LRSA_EMISUSE, "figure has no panel %d", panel);
    }
    if (width)
        *width = L.width;
    if (height)
        *height = L.height;
    if (panel >= 0 && area) {
        const pstate *s = &L.ps[panel];
        area[0] = s->ax;
        area[1] = s->ay;
        area[2] = s->aw;
        area[3] = s->ah;
    }
    layout_release(&L);
    return LRSA_OK;
}

int lrsa_plot_write(const lrsa_figure *fig, const char *path, lrsa_err *err)
{
    if (!path || !*path)
        return LRSA_FAIL(err, LRSA_EMISUSE, "figure: no output path");
    int svg = format_of(path);
    if (svg < 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': unknown figure format (use .png or .svg)", path);
    layout L;
    canvas c;
    int rc = layout_build(&L, fig, err);
    if (rc)
        return rc;
    if ((rc = canvas_begin(&c, svg, L.width, L.height, err))) {
        layout_release(&L);
        return rc;
    }
    if (fig->title && *fig->title)
        c.ops->text(&c, L.width / 2.0, FIG_TITLE_H - 10, fig->title, FIG_TITLE_SIZE, ANCHOR_MIDDLE,
                    1, 0, BLACK);
    for (int i = 0; i < L.n && !c.status; i++)
        draw_panel(&c, &L.ps[i], &L.m, err);
    rc = canvas_finish(&c, path, err);
    layout_release(&L);
    return rc;
}

int lrsa_plot_image_grid(const char *path, const lrsa_image *images, int64_t n,
                         const char *const *captions, int cols, int cell_w, int cell_h,
                         const char *title, lrsa_err *err)
{
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_IMAGES;
    p.u.images.images = images;
    p.u.images.n = n;
    p.u.images.captions = captions;
    p.u.images.cols = cols;
    p.u.images.cell_w = cell_w;
    p.u.images.cell_h = cell_h;
    lrsa_figure fig;
    memset(&fig, 0, sizeof fig);
    fig.title = title;
    fig.panels = &p;
    fig.npanels = 1;
    return lrsa_plot_write(&fig, path, err);
}
