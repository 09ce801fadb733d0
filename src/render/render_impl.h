/* render: internals shared by the files of src/render (not a public header). */
#ifndef LATENTRSA_RENDER_IMPL_H
#define LATENTRSA_RENDER_IMPL_H

#include "latentrsa/render.h"

/* numpy's sum of a contiguous array: chunks of 8192 (the ufunc buffer), each summed pairwise
 * (blocks of 128 with 8 accumulators), the chunks added in order to 0. */
float lrsa__np_sum_f32(const float *a, int64_t n);
double lrsa__np_sum_f64(const double *a, int64_t n);

/* 4x4 helpers. */
int lrsa__inv4(const double a[4][4], double out[4][4]);
void lrsa__apply4(const double a[4][4], const double in[3], double out[3]);

struct lrsa_render_view {
    const float *vol;          /* the finite input volume, x fastest */
    int64_t in_dims[3];
    int64_t dims[3];           /* world-aligned grid */
    double affine[4][4];       /* its affine (diagonal) */
    int resampled;             /* 0: permutation/flip, 1: interpolated */
    int order;                 /* scipy spline order: 0, 1 or 3 */
    /* permutation/flip: grid axis a reads input axis perm[a], reversed if flip[a] */
    int perm[3], flip[3];
    /* interpolation: input coordinate = A * grid index + b (scipy's matrix and offset) */
    double A[3][3], b[3];
    double *coef;              /* order 3: spline coefficients (x fastest); NULL otherwise */
    float lo, hi;              /* nilearn's clip: [min(v, 0), max(v, 0)] */
    /* lrsa__view_prepare: may a voxel whose input coordinate has floor f be visible? */
    uint8_t *maybe;            /* input-sized; NULL before prepare or when not resampled */
    float thr;                 /* the threshold maybe was built for */
    double Ainv[3][3];         /* inverse of A */
    int64_t region[6];         /* grid box [lo, hi] (inclusive) that can hold visible voxels */
    int region_empty;
};

/* Visible: |v| > thr in float32, as numpy's masked_inside(data, -thr, thr) leaves unmasked. */
static inline int lrsa__visible(float v, float thr)
{
    return v > thr || v < -thr;
}
/* Build the screening mask for threshold thr (float32). */
int lrsa__view_prepare(lrsa_render_view *v, float thr, lrsa_err *err);
/* Grid box [lo, hi) per axis of the visible voxels (box[2a], box[2a+1]); returns 1 if there is
 * any, 0 if none (box zeroed). Needs lrsa__view_prepare. */
int lrsa__view_visible_box(const lrsa_render_view *v, int64_t box[6]);
/* Value at a grid voxel, or NaN when it is certainly invisible (skips the interpolation). */
float lrsa__view_value_or_nan(const lrsa_render_view *v, int64_t i, int64_t j, int64_t k);

#endif
