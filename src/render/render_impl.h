/* render: internals shared by the files of src/render (not a public header). */
#ifndef LATENTRSA_RENDER_IMPL_H
#define LATENTRSA_RENDER_IMPL_H

#include "latentrsa/render.h"

#include <float.h>

/* numpy's sum of a contiguous array: chunks of 8192 (the ufunc buffer), each summed pairwise
 * (blocks of 128 with 8 accumulators), the chunks added in order to 0. */
float lrsa__np_sum_f32(const float *a, int64_t n);
double lrsa__np_sum_f64(const double *a, int64_t n);

/* ===== CPU dispatch ====================================================== */
/* Hot loops are written once (GCC/clang vector extensions, or a macro body) and built twice:
 * plainly and for AVX2, picked at run time. */
typedef double lrsa__v4d __attribute__((vector_size(32)));
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define LRSA_HAVE_AVX2_CLONE 1
#include <immintrin.h>
/* 1 when the CPU has AVX2 (core's probe, once per process). */
static inline int lrsa__have_avx2(void)
{
    return lrsa_cpu_avx2();
}
#endif

/* ===== Reusable scratch (per-thread workspaces) ========================= */
typedef struct lrsa__buf { void *p; size_t cap; } lrsa__buf;
/* At least `bytes` bytes (contents not kept when it grows); NULL with LRSA_ENOMEM set. */
void *lrsa__buf_get(lrsa__buf *b, size_t bytes, const char *what, lrsa_err *err);

enum {
    LRSA__W_FIN,     /* the volume with NaN/Inf as 0, when it has some (float) */
    LRSA__W_MASK,    /* bit masks of lines (uint64) */
    LRSA__W_RUNS,    /* run bounds of a mask: run r is [b[2r], b[2r + 1]) (int32) */
    LRSA__W_LINES,   /* first run of each line (int32) */
    LRSA__W_PARENT,  /* union-find parents (int32) */
    LRSA__W_SIZE,    /* component sizes (int32) */
    LRSA__W_SUB,     /* the component's box in C order (float) */
    LRSA__W_KEEP,    /* a component's voxels (bits, uint64) */
    LRSA__W_VALS,    /* masked values (float) */
    LRSA__W_ABOVE,   /* the volume's voxels above the cut threshold (bits, bytes) */
    LRSA__W_COEF,    /* spline coefficients (double) */
    LRSA__W_ACC,     /* prefilter scratch: a plane and line groups (double) */
    LRSA__W_MAYBE,   /* screening mask (bits, uint64) */
    LRSA__W_TMP,     /* screening scratch (bits, uint64) */
    LRSA__W_CANVAS,  /* 660x350 figure (uint8) */
    LRSA__W_SLICE,   /* one slice (float) */
    LRSA__W_CIDX,    /* its colour indices (int16) */
    LRSA__W_N
};
struct lrsa_render_work {
    lrsa__buf b[LRSA__W_N];
};

/* find_xyz_cut_coords with a workspace (the fast path) and the plain voxel-by-voxel version
 * kept as the reference for tests; both give identical results. lrsa__cut_coords_above takes
 * the mask |vol| > lrsa__cut_mask_threshold(threshold) as made by the finite scan (bit p: byte
 * p / 8, bit p % 8; 16 spare bytes), or NULL to make it. */
int lrsa__cut_coords_work(lrsa_render_work *w, const float *vol, const int64_t dims[3],
                          const double affine[4][4], double threshold, double xyz[3], lrsa_err *err);
int lrsa__cut_coords_above(lrsa_render_work *w, const float *vol, const uint8_t *above,
                           const int64_t dims[3], const double affine[4][4], double threshold,
                           double xyz[3], lrsa_err *err);
int lrsa__cut_coords_naive(const float *vol, const int64_t dims[3], const double affine[4][4],
                           double threshold, double xyz[3], lrsa_err *err);
/* The first mask's threshold: |map| > thr - 2 eps, compared in float32 as numpy does with a
 * Python float. */
static inline float lrsa__cut_mask_threshold(double threshold)
{
    return (float)(threshold - 2 * DBL_EPSILON);
}

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
    uint64_t *maybe;           /* bit i of x line j + n1 * k, lines of maybe_words words;
                                * NULL before prepare or when not resampled */
    int64_t maybe_words;
    float thr;                 /* the threshold maybe was built for */
    double Ainv[3][3];         /* inverse of A */
    int64_t region[6];         /* grid box [lo, hi] (inclusive) that can hold visible voxels */
    int region_empty;
    lrsa_render_work *work;    /* coef and maybe belong to it when not NULL */
};

/* What one pass over the finite volume learns, so that the view need not look again. */
typedef struct lrsa__vol_stats {
    float mn, mx;   /* min and max */
    int binary;     /* only 0 and 1, both present (nilearn then resamples nearest) */
} lrsa__vol_stats;

/* Set up a view in place; with a workspace, coef/maybe live in it and the prefilter is the
 * fast one. st: the volume's stats if known (NULL: computed). Release with lrsa__view_release
 * (also after a failure). */
int lrsa__view_init(lrsa_render_view *v, lrsa_render_work *w, const float *vol,
                    const int64_t dims[3], const double affine[4][4], int interp, lrsa_err *err);
int lrsa__view_init_stats(lrsa_render_view *v, lrsa_render_work *w, const float *vol,
                          const int64_t dims[3], const double affine[4][4], int interp,
                          const lrsa__vol_stats *st, lrsa_err *err);
void lrsa__view_release(lrsa_render_view *v);
/* scipy's spline_filter(order 3) (prefilter.c): the plain version (allocates *out) and the fast
 * one (c holds d[0]*d[1]*d[2] doubles, scratch lrsa__prefilter_scratch(d) doubles); identical
 * bits. lrsa__prefilter_isa(..., 0) runs the fast one without the AVX2 kernels (for tests). */
int lrsa__prefilter_naive(const float *vol, const int64_t d[3], double **out, lrsa_err *err);
size_t lrsa__prefilter_scratch(const int64_t d[3]);
void lrsa__prefilter(const float *vol, const int64_t d[3], double *c, double *scratch);
void lrsa__prefilter_isa(const float *vol, const int64_t d[3], double *c, double *scratch,
                         int allow_avx2);

/* ni_interpolation.c map_coordinate, NI_EXTEND_MIRROR, for the spline window at the edges. */
static inline int64_t lrsa__mirror_index(int64_t in, int64_t len)
{
    if (len <= 1)
        return 0;
    int64_t sz2 = 2 * len - 2;
    if (in < 0) {
        in = sz2 * (-in / sz2) + in;
        return in <= 1 - len ? in + sz2 : -in;
    }
    if (in > len - 1) {
        in -= sz2 * (in / sz2);
        if (in >= len)
            in = sz2 - in;
    }
    return in;
}

/* Visible: |v| > thr in float32, as numpy's masked_inside(data, -thr, thr) leaves unmasked. */
static inline int lrsa__visible(float v, float thr)
{
    return v > thr || v < -thr;
}
/* Build the screening mask for threshold thr (float32) (screen.c). */
int lrsa__view_prepare(lrsa_render_view *v, float thr, lrsa_err *err);
/* The screening bit of input cell f (the floors of an input coordinate). */
static inline int lrsa__view_maybe(const lrsa_render_view *v, const int64_t f[3])
{
    const uint64_t *line = v->maybe + (f[1] + v->in_dims[1] * f[2]) * v->maybe_words;
    return (int)(line[f[0] >> 6] >> (f[0] & 63) & 1);
}
/* Grid box [lo, hi) per axis of the visible voxels (box[2a], box[2a+1]); returns 1 if there is
 * any, 0 if none (box zeroed). Needs lrsa__view_prepare. */
int lrsa__view_visible_box(const lrsa_render_view *v, int64_t box[6]);
/* Value at a grid voxel, or NaN when it is certainly invisible (skips the interpolation). */
float lrsa__view_value_or_nan(const lrsa_render_view *v, int64_t i, int64_t j, int64_t k);
/* The same for cnt voxels g[3p..3p+2] at once (cubic: eight evaluations at a time); the same bits. */
void lrsa__view_values_or_nan(const lrsa_render_view *v, const int64_t *g, int64_t cnt, float *out);
/* The same for the cnt voxels g0 + t * (unit step along axis), t = 0 .. cnt - 1, looking only at
 * those whose input coordinate may lie inside the volume (the others are NaN). */
void lrsa__view_row_or_nan(const lrsa_render_view *v, const int64_t g0[3], int axis, int64_t cnt,
                           float *out);

#endif
