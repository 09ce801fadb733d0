/*
 * Figures: heatmaps (RDMs), line plots (loss curves), histograms with a marked value (a
 * permutation null and the observed statistic) and image grids (originals above reconstructions,
 * contact sheets), written as PNG or SVG. See docs/figures.md.
 *
 * Model. A figure (lrsa_figure) is a title above a grid of panels; each panel is one of the four
 * kinds below and holds pointers to the caller's data (nothing is copied or freed). The same
 * description renders to both formats, chosen by the output path's extension (".png" or ".svg",
 * case-insensitive; anything else is LRSA_EMISUSE):
 *  - PNG is drawn with cairo on an RGB24 image surface (antialiased lines and text), written
 *    through lrsa_outfile (atomic);
 *  - SVG is written by our own small writer: text is <text> (XML-escaped), lines are <polyline>,
 *    bars and swatches <rect>, rasters (heatmap cells, grid images) embedded PNG <image>s drawn
 *    with pixelated rendering.
 * Text is "DejaVu Sans" (Debian's fonts-dejavu-core) in both; layout measures text with cairo, so
 * both formats share one layout. Sizes are pixels (SVG user units).
 *
 * Heatmap conventions:
 *  - cell (i, j) of a rows x cols matrix is drawn at row i from the top, column j from the left;
 *  - colour = matplotlib's: t = (v - vmin) / (vmax - vmin), LUT index floor(256 t) clipped to
 *    0..255 (values outside [vmin, vmax] take the end colours; vmin == vmax gives index 0);
 *  - vmin/vmax NaN: taken from the finite values (for LRSA_CMAP_RDBU_R symmetric around 0:
 *    +-max|v|);
 *  - NaN cells are drawn in LRSA_PLOT_NAN_* grey (not a colour of either map), and the colorbar
 *    then shows a "NaN" swatch; +-Inf take the end colours and are ignored for automatic limits;
 *    a matrix with no finite value is LRSA_EEMPTY, a zero-size one LRSA_EEMPTY;
 *  - a matrix larger than LRSA_PLOT_MAX_RASTER on a side is averaged over square blocks (NaN
 *    ignored; an all-NaN block stays NaN) before colouring; otherwise each cell is drawn
 *    exactly (nearest-neighbour scaling, so a cell's centre pixel is its LUT colour in the PNG).
 *
 * Errors: LRSA_EMISUSE (NULL or inconsistent arguments, unknown extension), LRSA_EEMPTY (no data
 * to draw), LRSA_EIO naming the output path (nothing is left behind), LRSA_ENOMEM.
 */
#ifndef LATENTRSA_PLOT_H
#define LATENTRSA_PLOT_H

#include "latentrsa/core.h"
#include "latentrsa/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Colormaps ======================================================= */
typedef enum lrsa_cmap {
    LRSA_CMAP_VIRIDIS = 0,   /* sequential: dissimilarities, distances */
    LRSA_CMAP_RDBU_R = 1     /* diverging (blue low, red high): correlations */
} lrsa_cmap;

/* Colour of NaN cells: mid grey, not in viridis or RdBu_r. */
#define LRSA_PLOT_NAN_R 128
#define LRSA_PLOT_NAN_G 128
#define LRSA_PLOT_NAN_B 128

/* Matrices larger than this on a side are block-averaged before drawing. */
#define LRSA_PLOT_MAX_RASTER 2048

/* The 256 RGB entries of a colormap (matplotlib's bytes=True LUT, tools/gen_colormaps.py). */
const uint8_t (*lrsa_cmap_lut(lrsa_cmap cmap))[3];
const char *lrsa_cmap_name(lrsa_cmap cmap);   /* "viridis", "RdBu_r" */
/* LUT index of a normalised value t (matplotlib's rule: floor(256 t), clipped to 0..255). */
int lrsa_cmap_index(double t);
/* Colour of `value` on [vmin, vmax] (NaN: the NaN grey). */
void lrsa_cmap_color(lrsa_cmap cmap, double value, double vmin, double vmax, uint8_t rgb[3]);

/* ===== Figure description ============================================== */
typedef enum lrsa_panel_kind {
    LRSA_PANEL_HEATMAP = 1,
    LRSA_PANEL_LINES = 2,
    LRSA_PANEL_HISTOGRAM = 3,
    LRSA_PANEL_IMAGES = 4
} lrsa_panel_kind;

/* A matrix as colours, with a colorbar on its right. */
typedef struct lrsa_heatmap {
    const float *data;            /* rows x cols, C order */
    int64_t rows, cols;
    lrsa_cmap cmap;
    double vmin, vmax;            /* NaN: automatic (see above) */
    const char *colorbar_label;   /* optional */
} lrsa_heatmap;

/* One curve. x NULL: x = 1, 2, ..., n (epochs). NaN y values break the line. */
typedef struct lrsa_series {
    const char *label;            /* legend text; NULL: not in the legend */
    const double *x;
    const double *y;
    int64_t n;
} lrsa_series;

typedef struct lrsa_lines {
    const lrsa_series *series;
    int nseries;                  /* colours: matplotlib's tab10 cycle */
    int markers;                  /* 1: a dot at each point */
} lrsa_lines;

/* A histogram of `values` (NaN ignored) with an optional marked value (a vertical line). */
typedef struct lrsa_histogram {
    const double *values;
    int64_t n;
    int bins;                     /* 0: 30 */
    int has_mark;
    double mark;                  /* e.g. the observed r; the x range always includes it */
    const char *mark_label;       /* e.g. "observed r = 0.31"; NULL: the value with %.3g */
} lrsa_histogram;

/* Images in a grid, row-major, `cols` per row; each is scaled to fit its cell keeping its aspect
 * (Pillow-exact bilinear, lrsa_resize_bilinear_rgb8; an image that already fits is drawn 1:1),
 * centred, with an optional caption underneath. */
typedef struct lrsa_images {
    const lrsa_image *images;
    int64_t n;
    const char *const *captions;  /* NULL, or n entries (an entry may be NULL) */
    int cols;                     /* 0: all in one row */
    int cell_w, cell_h;           /* image area of a cell in pixels; 0: 128 */
} lrsa_images;

typedef struct lrsa_panel {
    lrsa_panel_kind kind;
    const char *title;            /* optional, above the panel */
    const char *xlabel, *ylabel;  /* optional axis labels (heatmap, lines, histogram) */
    union {
        lrsa_heatmap heatmap;
        lrsa_lines lines;
        lrsa_histogram histogram;
        lrsa_images images;
    } u;
} lrsa_panel;

typedef struct lrsa_figure {
    const char *title;            /* optional, across the top */
    const lrsa_panel *panels;
    int npanels;
    int cols;                     /* panels per row; 0: all in one row */
    int panel_w, panel_h;         /* size of a plot panel; 0: 420 x 360. An image panel takes
                                     the size its cells need (the largest panel sets the grid) */
} lrsa_figure;

/* Render the figure to `path` (.png or .svg). */
int lrsa_plot_write(const lrsa_figure *fig, const char *path, lrsa_err *err);

/* The pixel size of the figure and, if panel >= 0, the rectangle {x, y, w, h} of that panel's
 * data area (heatmap cells, axes box, or a grid's first cell image area) in the output. Computed
 * by the same layout as lrsa_plot_write. */
int lrsa_plot_layout(const lrsa_figure *fig, int panel, int64_t *width, int64_t *height,
                     double area[4], lrsa_err *err);

/* Convenience: one image grid as a PNG or SVG (the render command's contact sheet, the
 * reconstruction figure). captions may be NULL; cols 0: all in one row; cell sizes 0: 128. */
int lrsa_plot_image_grid(const char *path, const lrsa_image *images, int64_t n,
                         const char *const *captions, int cols, int cell_w, int cell_h,
                         const char *title, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
