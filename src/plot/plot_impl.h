/* Private to src/plot: the drawing surface that figure.c draws on, with two backends (cairo for
 * PNG, our own SVG writer). Coordinates are pixels from the top-left corner; text positions are
 * baselines. Errors are sticky: the first failure is kept in `status`/`err` and later calls do
 * nothing, so drawing code need not check every call. */
#ifndef LRSA_PLOT_IMPL_H
#define LRSA_PLOT_IMPL_H

#include "latentrsa/plot.h"

#include <cairo.h>

#define PLOT_FONT "DejaVu Sans"

typedef struct prgb {
    uint8_t r, g, b;
} prgb;

enum { ANCHOR_START = 0, ANCHOR_MIDDLE = 1, ANCHOR_END = 2 };

typedef struct canvas canvas;
typedef struct canvas_ops {
    /* fill and/or stroke (either may be NULL) an axis-aligned rectangle */
    void (*rect)(canvas *c, double x, double y, double w, double h, const prgb *fill,
                 const prgb *stroke, double lw);
    /* an open polyline through n points xy[2i], xy[2i+1] */
    void (*polyline)(canvas *c, const double *xy, int64_t n, prgb color, double lw, int dashed);
    void (*dot)(canvas *c, double x, double y, double r, prgb fill);
    /* text with its baseline at y; rotated: reads bottom to top, (x, y) then the anchor along it */
    void (*text)(canvas *c, double x, double y, const char *s, double size, int anchor, int bold,
                 int rotated, prgb color);
    /* an RGB8 raster of iw x ih pixels scaled (nearest neighbour) onto the rectangle */
    void (*image)(canvas *c, double x, double y, double w, double h, const uint8_t *rgb,
                  int64_t iw, int64_t ih);
} canvas_ops;

struct canvas {
    const canvas_ops *ops;
    int status;                   /* LRSA_OK until something fails */
    lrsa_err *err;
    int64_t width, height;
    cairo_surface_t *surface;     /* cairo backend */
    cairo_t *cr;
    lrsa_strbuf svg;              /* svg backend */
};

/* Text measurement shared by both backends (cairo's toy font API on a scratch surface). */
typedef struct measurer {
    cairo_surface_t *surface;
    cairo_t *cr;
} measurer;
int measurer_init(measurer *m, lrsa_err *err);
void measurer_release(measurer *m);
double measure_text(measurer *m, const char *s, double size, int bold);

/* Start a canvas of the given size (white background); format: 0 PNG, 1 SVG. */
int canvas_begin(canvas *c, int svg, int64_t width, int64_t height, lrsa_err *err);
/* Write the finished canvas to path atomically and release it (also on failure). */
int canvas_finish(canvas *c, const char *path, lrsa_err *err);
/* Release without writing. */
void canvas_release(canvas *c);

/* Encode RGB8 as PNG bytes in memory (appended to sb). */
int plot_png_encode(const uint8_t *rgb, int64_t w, int64_t h, lrsa_strbuf *sb, lrsa_err *err);

#endif
