/*
 * Volume -> activation image, the look of nilearn 0.10.4's
 *     plot_stat_map(img, bg_img=None, threshold=100, annotate=False, draw_cross=False,
 *                   colorbar=False)
 * saved by matplotlib 3.8 at its default 100 dpi (specs/data.md section 2), without Python and
 * hundreds of times faster. No file I/O here: volumes come in as float32 arrays, images go out as
 * RGB8 buffers (layout as lrsa_image in image.h).
 *
 * What is reproduced, in nilearn's order (specs/data.md 2.8):
 *  1. non-finite voxels are set to 0; vmin/vmax are the volume's min/max (symmetric, -m..m, only
 *     when min < 0 < max);
 *  2. the cut coordinates (find_xyz_cut_coords on the original grid: threshold, largest
 *     6-connected component, a second threshold at the component's mean, centre of mass, the
 *     affine), with numpy's float32 pairwise sums so that they come out the same;
 *  3. the world-aligned grid: a pure axis permutation/flip when no column of the affine's 3x3 has
 *     two entries above 0.001 in magnitude (no interpolation), else nilearn's resample_img to
 *     the QR-derived diagonal affine with scipy.ndimage.affine_transform(order=3, mode
 *     'constant', cval 0): the cubic B-spline prefilter along x, y, z with mirror boundary
 *     initialisation, mirror-extended coefficients at the edges, 0 outside [0, n-1], float32
 *     output, then the clip to [min(v, 0), max(v, 0)]. Only what the picture needs is evaluated:
 *     the three displayed slices and the voxels that decide the bounding box of visible values;
 *     a binary (0/1) volume is resampled with nearest neighbour, as nilearn does;
 *  4. visible = |v| > threshold; the axis limits are the bounding box of visible voxels of the
 *     whole world-aligned volume, with nilearn's get_mask_bounds formula (the whole field of view
 *     when nothing is visible);
 *  5. panels left to right coronal (y cut), sagittal (x cut), axial (z cut), each slot as wide as
 *     its bounding-box extent, equal aspect, centred; nearest-neighbour sampling at output pixel
 *     centres over the imshow extent; matplotlib's float32 rescaling chain, Normalize and the
 *     256-entry cold_hot table; masked pixels show the white axes.
 * Parity: cut coordinates match nilearn to rounding; colours to the LUT entry; panel edges to
 * about one pixel (Agg's pixel snapping and 1/256-pixel sampling are modelled, not copied).
 *
 * Canvases: LRSA_CANVAS_NILEARN draws nilearn's 660x350 figure and then (size > 0) resizes it to
 * size x size with Pillow's bilinear filter (imgproc.h), as the paper's torchvision Resize did;
 * size 0 keeps 660x350. LRSA_CANVAS_SQUARE draws the three panels side by side directly on a
 * size x size white square, one scale for all three (mm are square), centred: no stretching.
 *
 * Threads: the functions are reentrant; render many volumes in parallel from the caller, with
 * one lrsa_render_work per thread.
 */
#ifndef LATENTRSA_RENDER_H
#define LATENTRSA_RENDER_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Options ========================================================= */
enum lrsa_render_interp {
    LRSA_INTERP_CUBIC = 0,  /* scipy order-3 B-spline with prefilter: nilearn's "continuous" */
    LRSA_INTERP_LINEAR = 1  /* scipy order 1 (trilinear): faster, slightly different pixels */
};
enum lrsa_render_canvas {
    LRSA_CANVAS_NILEARN = 0, /* 660x350 figure, then resized to size x size (size 0: kept) */
    LRSA_CANVAS_SQUARE = 1   /* panels drawn directly on a size x size square */
};

#define LRSA_RENDER_FIG_W 660
#define LRSA_RENDER_FIG_H 350
#define LRSA_RENDER_MAX_SIZE 8192

typedef struct lrsa_render_opts {
    double threshold;  /* voxels with |v| <= threshold are transparent; >= 0 (default 100) */
    int interp;        /* enum lrsa_render_interp (default cubic) */
    int canvas;        /* enum lrsa_render_canvas (default nilearn) */
    int64_t size;      /* output side in pixels (default 672); 0 only with the nilearn canvas */
} lrsa_render_opts;

/* The paper's look: threshold 100, cubic, nilearn canvas, 672x672. */
void lrsa_render_opts_init(lrsa_render_opts *opts);
/* Check the options (LRSA_EMISUSE naming the bad one) and give the output size. */
int lrsa_render_output_size(const lrsa_render_opts *opts, int64_t *width, int64_t *height,
                            lrsa_err *err);

/* ===== What a render computed (for tests, logs and the manifest) ======== */
typedef struct lrsa_render_info {
    double vmin, vmax;        /* colour range */
    double cut[3];            /* cut coordinates x, y, z in mm (world) */
    int64_t cut_index[3];     /* slice index of the x, y, z cut in the world-aligned grid; -1 if
                               * it fell outside (that panel is left blank, as nilearn does) */
    int resampled;            /* 1 if the affine was oblique and the volume was interpolated */
    int64_t grid_dims[3];     /* world-aligned grid */
    double grid_affine[4][4];
    double bounds[6];         /* axis limits: visible bounding box xmin xmax ymin ymax zmin zmax */
    int64_t visible_box[6];   /* the same in grid indices [lo, hi) per axis; all 0 when empty */
    int empty;                /* 1 when no voxel is above the threshold */
    int64_t nonfinite;        /* NaN/Inf voxels that were set to 0 */
    double panel[3][4];       /* coronal, sagittal, axial: axes box on the figure canvas in
                               * pixels, x0 y0 x1 y1 with y measured from the top */
} lrsa_render_info;

/* ===== Rendering ======================================================= */
/* Render one volume. vol holds dims[0]*dims[1]*dims[2] floats, x fastest (as nifti.h gives
 * them); NaN/Inf are allowed (read as 0). affine maps voxel (i, j, k) to mm. rgb receives
 * width*height*3 bytes (lrsa_render_output_size). info may be NULL.
 * Errors: LRSA_EUNSUPPORTED for an axis shorter than 2 voxels (a 2-D image) or a singular
 * affine; LRSA_EMISUSE for bad options; LRSA_ENOMEM. A volume with nothing above the threshold
 * is not an error: the image is blank white and info->empty is 1. */
int lrsa_render_volume(const float *vol, const int64_t dims[3], const double affine[4][4],
                       const lrsa_render_opts *opts, uint8_t *rgb, lrsa_render_info *info,
                       lrsa_err *err);

/* ===== Reusable scratch ================================================= */
/* A workspace keeps the buffers of one render for the next: render many volumes with one
 * workspace per thread (never share one between threads at the same time) to skip the
 * allocations and page faults of each volume. Results are identical with or without one. */
typedef struct lrsa_render_work lrsa_render_work;
int lrsa_render_work_new(lrsa_render_work **out, lrsa_err *err);
void lrsa_render_work_free(lrsa_render_work *w);   /* NULL is fine */
/* lrsa_render_volume with a workspace (w may be NULL: a temporary one is used). */
int lrsa_render_volume_work(lrsa_render_work *w, const float *vol, const int64_t dims[3],
                            const double affine[4][4], const lrsa_render_opts *opts, uint8_t *rgb,
                            lrsa_render_info *info, lrsa_err *err);

/* ===== The parts, exposed for tests ===================================== */
/* matplotlib's 256-entry cold_hot table as bytes (lut[i][c] = uint8(lut_float * 255)). */
void lrsa_render_cold_hot(uint8_t lut[256][3]);

/* nilearn's find_xyz_cut_coords(img, activation_threshold=threshold) on a finite volume
 * (x fastest); xyz in mm. */
int lrsa_render_cut_coords(const float *vol, const int64_t dims[3], const double affine[4][4],
                           double threshold, double xyz[3], lrsa_err *err);

/* The world-aligned view of a finite volume (nilearn's reorder_img(img, resample=...)).
 * Values are evaluated on demand; the view keeps a pointer to vol, which must outlive it. */
typedef struct lrsa_render_view lrsa_render_view;
int lrsa_render_view_new(const float *vol, const int64_t dims[3], const double affine[4][4],
                         int interp, lrsa_render_view **out, lrsa_err *err);
void lrsa_render_view_free(lrsa_render_view *v);
/* Grid size and affine of the view, and whether it interpolates. */
void lrsa_render_view_grid(const lrsa_render_view *v, int64_t dims[3], double affine[4][4],
                           int *resampled);
/* The value at grid voxel (i, j, k) (float32, clipped as nilearn clips). */
float lrsa_render_view_value(const lrsa_render_view *v, int64_t i, int64_t j, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
