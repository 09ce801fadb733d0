/* render: panel layout and drawing (private to src/render). */
#ifndef LATENTRSA_RENDER_LAYOUT_H
#define LATENTRSA_RENDER_LAYOUT_H

#include <stdint.h>

/* An axes box in display pixels: x to the right, y up from the bottom of the canvas. */
typedef struct lrsa__panel_box { double X0, Y0, X1, Y1; } lrsa__panel_box;

typedef struct lrsa__colour_params {
    double vmin, vmax;   /* Normalize range */
    double threshold;    /* |v| <= threshold is masked */
} lrsa__colour_params;

/* w[p], h[p]: the x and y extents (mm) of panel p's axis limits. */
void lrsa__layout_nilearn(const double w[3], const double h[3], double W, double H,
                          lrsa__panel_box box[3]);
void lrsa__layout_square(const double w[3], const double h[3], double S, lrsa__panel_box box[3]);
void lrsa__colour_indices(const float *s, int64_t n, const lrsa__colour_params *cp, int16_t *idx);
/* lim, ext: xmin xmax ymin ymax in data units (axis limits; imshow extent). idx: rows x cols,
 * row 0 at the top. */
void lrsa__draw_panel(uint8_t *rgb, int64_t W, int64_t H, const lrsa__panel_box *b,
                      const double lim[4], const double ext[4], const int16_t *idx, int64_t rows,
                      int64_t cols, const uint8_t lut[256][3]);

#endif
