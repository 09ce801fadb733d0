/* render: one volume to one picture (the recipe of specs/data.md 2.8). */
#include "render_impl.h"
#include "layout.h"
#include "latentrsa/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lrsa_render_opts_init(lrsa_render_opts *opts)
{
    opts->threshold = 100.0;
    opts->interp = LRSA_INTERP_CUBIC;
    opts->canvas = LRSA_CANVAS_NILEARN;
    opts->size = 672;
}

int lrsa_render_output_size(const lrsa_render_opts *o, int64_t *width, int64_t *height,
                            lrsa_err *err)
{
    if (!(o->threshold >= 0) || !isfinite(o->threshold))
        return LRSA_FAIL(err, LRSA_EMISUSE, "render threshold must be a finite number >= 0");
    if (o->interp != LRSA_INTERP_CUBIC && o->interp != LRSA_INTERP_LINEAR)
        return LRSA_FAIL(err, LRSA_EMISUSE, "unknown render interpolation %d", o->interp);
    if (o->canvas == LRSA_CANVAS_NILEARN) {
        if (o->size < 0 || o->size > LRSA_RENDER_MAX_SIZE)
            return LRSA_FAIL(err, LRSA_EMISUSE, "render size must be 0 to %d", LRSA_RENDER_MAX_SIZE);
        *width = o->size ? o->size : LRSA_RENDER_FIG_W;
        *height = o->size ? o->size : LRSA_RENDER_FIG_H;
    } else if (o->canvas == LRSA_CANVAS_SQUARE) {
        if (o->size < 8 || o->size > LRSA_RENDER_MAX_SIZE)
            return LRSA_FAIL(err, LRSA_EMISUSE, "square render size must be 8 to %d",
                             LRSA_RENDER_MAX_SIZE);
        *width = *height = o->size;
    } else {
        return LRSA_FAIL(err, LRSA_EMISUSE, "unknown render canvas %d", o->canvas);
    }
    return LRSA_OK;
}

void *lrsa__buf_get(lrsa__buf *b, size_t bytes, const char *what, lrsa_err *err)
{
    if (bytes <= b->cap && b->p)
        return b->p;
    size_t cap = bytes + bytes / 8 + 64;
    void *p = lrsa_malloc(cap, what, err);
    if (!p)
        return NULL;
    free(b->p);
    b->p = p;
    b->cap = cap;
    return p;
}

int lrsa_render_work_new(lrsa_render_work **out, lrsa_err *err)
{
    *out = lrsa_calloc(1, sizeof **out, "render workspace", err);
    return *out ? LRSA_OK : LRSA_ENOMEM;
}

void lrsa_render_work_free(lrsa_render_work *w)
{
    if (!w)
        return;
    for (int i = 0; i < LRSA__W_N; i++)
        free(w->b[i].p);
    free(w);
}

/* The volume with NaN/Inf read as 0: their count; its min, max and binary-ness; with fin not
 * NULL, the volume itself (so a volume that is all finite is used as it is, not copied); in
 * above (n bits and 16 spare bytes, zeroed: bit p is byte p / 8, bit p % 8), |x| > thr, the
 * first mask of the cut coordinates (lrsa__cut_coords_above), made here so that the volume is
 * read once for both. The min (max) is the first one met in memory order, as a scalar
 * `x < mn ? x : mn` scan keeps it: that only matters for the sign of a zero, which the vector
 * version settles at the end. */
typedef struct scan_acc {
    float mn, mx;
    int64_t bad;
    int seen0, seen1, other;
} scan_acc;

/* Voxels [p, n) one at a time into a (the whole scan, or the vector scan's tail). */
static void scan_scalar(const float *vol, int64_t p, int64_t n, float *fin, float thr,
                        uint8_t *above, scan_acc *a)
{
    for (; p < n; p++) {
        float x = vol[p];
        if (!isfinite(x)) {
            x = 0;
            a->bad++;
        }
        if (fin)
            fin[p] = x;
        above[p >> 3] |= (uint8_t)((fabsf(x) > thr) << (p & 7));
        a->mn = x < a->mn ? x : a->mn;
        a->mx = x > a->mx ? x : a->mx;
        a->seen0 |= x == 0.0f;
        a->seen1 |= x == 1.0f;
        a->other |= x != 0.0f && x != 1.0f;
    }
}

static int64_t finite_copy_base(const float *vol, int64_t n, float *fin, lrsa__vol_stats *st,
                                float thr, uint8_t *above)
{
    scan_acc a = { INFINITY, -INFINITY, 0, 0, 0, 0 };
    memset(above, 0, (size_t)(n / 8 + 16));
    scan_scalar(vol, 0, n, fin, thr, above, &a);
    st->mn = a.mn;
    st->mx = a.mx;
    st->binary = a.seen0 && a.seen1 && !a.other;
    return a.bad;
}

#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static int64_t finite_copy_avx2(const float *vol, int64_t n,
                                                                float *fin, lrsa__vol_stats *st,
                                                                float thr, uint8_t *above)
{
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 inf = _mm256_set1_ps(INFINITY), zero = _mm256_setzero_ps();
    const __m256 one = _mm256_set1_ps(1.0f), thr8 = _mm256_set1_ps(thr);
    __m256 mn = inf, mx = _mm256_set1_ps(-INFINITY), seen0 = zero, seen1 = zero;
    __m256 zero_or_one = _mm256_castsi256_ps(_mm256_set1_epi32(-1));   /* so far, per lane */
    __m256i finite = _mm256_setzero_si256();   /* finite values per lane */
    int64_t p = 0;
    memset(above + n / 8, 0, 16);
    for (; p + 8 <= n; p += 8) {
        __m256 x = _mm256_loadu_ps(vol + p), ax = _mm256_and_ps(x, absm);
        __m256 ok = _mm256_cmp_ps(ax, inf, _CMP_LT_OQ);   /* NaN: false */
        finite = _mm256_sub_epi32(finite, _mm256_castps_si256(ok));   /* ok: -1 */
        x = _mm256_and_ps(x, ok);
        /* |x| of the finite value (NaN/Inf read as 0) */
        above[p >> 3] = (uint8_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(ax, ok), thr8,
                                                                  _CMP_GT_OQ));
        if (fin)
            _mm256_storeu_ps(fin + p, x);
        mn = _mm256_min_ps(mn, x);
        mx = _mm256_max_ps(mx, x);
        __m256 z = _mm256_cmp_ps(x, zero, _CMP_EQ_OQ), o = _mm256_cmp_ps(x, one, _CMP_EQ_OQ);
        seen0 = _mm256_or_ps(seen0, z);
        seen1 = _mm256_or_ps(seen1, o);
        zero_or_one = _mm256_and_ps(zero_or_one, _mm256_or_ps(z, o));
    }
    int32_t fl[8];
    _mm256_storeu_si256((__m256i *)fl, finite);
    scan_acc a = { INFINITY, -INFINITY, p, _mm256_movemask_ps(seen0) != 0,
                   _mm256_movemask_ps(seen1) != 0, _mm256_movemask_ps(zero_or_one) != 0xff };
    for (int q = 0; q < 8; q++)
        a.bad -= fl[q];
    float l[8], h[8];
    _mm256_storeu_ps(l, mn);
    _mm256_storeu_ps(h, mx);
    for (int q = 0; q < 8; q++) {
        a.mn = l[q] < a.mn ? l[q] : a.mn;
        a.mx = h[q] > a.mx ? h[q] : a.mx;
    }
    scan_scalar(vol, p, n, fin, thr, above, &a);
    float fmn = a.mn, fmx = a.mx;
    if (fmn == 0.0f || fmx == 0.0f) {   /* a zero: the first one met decides its sign */
        int64_t q = 0;
        while (isfinite(vol[q]) && vol[q] != 0.0f)
            q++;
        float first = isfinite(vol[q]) ? vol[q] : 0.0f;
        fmn = fmn == 0.0f ? first : fmn;
        fmx = fmx == 0.0f ? first : fmx;
    }
    st->mn = fmn;
    st->mx = fmx;
    st->binary = a.seen0 && a.seen1 && !a.other;
    return a.bad;
}
#endif

int lrsa_render_volume(const float *vol, const int64_t dims[3], const double affine[4][4],
                       const lrsa_render_opts *opts, uint8_t *rgb, lrsa_render_info *info,
                       lrsa_err *err)
{
    return lrsa_render_volume_work(NULL, vol, dims, affine, opts, rgb, info, err);
}

/* The three panels in display order: coronal (y cut), sagittal (x cut), axial (z cut). For each:
 * the cut axis, the horizontal and vertical grid axes. */
static const int panel_cut[3] = { 1, 0, 2 };
static const int panel_h[3] = { 0, 1, 0 };
static const int panel_v[3] = { 2, 2, 1 };

int lrsa_render_volume_work(lrsa_render_work *work, const float *vol, const int64_t dims[3],
                            const double affine[4][4], const lrsa_render_opts *opts, uint8_t *rgb,
                            lrsa_render_info *info, lrsa_err *err)
{
    int64_t ow, oh;
    int rc = lrsa_render_output_size(opts, &ow, &oh, err);
    if (rc)
        return rc;
    for (int a = 0; a < 3; a++)
        if (dims[a] < 2)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                             "a 3-D volume is needed: axis %d has %lld voxel(s)", a,
                             (long long)dims[a]);
    lrsa_render_work *own = NULL;
    if (!work) {
        if ((rc = lrsa_render_work_new(&own, err)))
            return rc;
        work = own;
    }
    lrsa_render_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    const float *fin = vol;
    float *slice = NULL;
    int16_t *cidx = NULL;
    uint8_t *canvas = NULL;
    lrsa_render_view view, *v = &view;
    memset(v, 0, sizeof *v);
    int64_t n = dims[0] * dims[1] * dims[2];
    /* 1. NaN/Inf read as 0 (a copy only when there are some); vmin/vmax; the cut coordinates'
     * first mask */
    lrsa__vol_stats st;
    int64_t (*scan)(const float *, int64_t, float *, lrsa__vol_stats *, float, uint8_t *) =
        finite_copy_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2())
        scan = finite_copy_avx2;
#endif
    float thr1 = lrsa__cut_mask_threshold(opts->threshold);
    uint8_t *above = lrsa__buf_get(&work->b[LRSA__W_ABOVE], (size_t)(n / 8 + 16), "render volume",
                                   err);
    if (!above) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((info->nonfinite = scan(vol, n, NULL, &st, thr1, above))) {
        float *copy = lrsa__buf_get(&work->b[LRSA__W_FIN], (size_t)n * sizeof *copy,
                                    "render volume", err);
        if (!copy) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        scan(vol, n, copy, &st, thr1, above);
        fin = copy;
    }
    float mn = st.mn, mx = st.mx;
    if (mn < 0 && mx > 0) {
        info->vmax = fmax(-(double)mn, (double)mx);
        info->vmin = -info->vmax;
    } else {
        info->vmin = mn;
        info->vmax = mx;
    }
    /* 2. cut coordinates on the original grid */
    if ((rc = lrsa__cut_coords_above(work, fin, above, dims, affine, opts->threshold, info->cut,
                                     err)))
        goto done;
    /* 3. world-aligned view; 4. visible bounding box */
    if ((rc = lrsa__view_init_stats(v, work, fin, dims, affine, opts->interp, &st, err)))
        goto done;
    float thrf = (float)opts->threshold;
    if ((rc = lrsa__view_prepare(v, thrf, err)))
        goto done;
    lrsa_render_view_grid(v, info->grid_dims, info->grid_affine, &info->resampled);
    const int64_t *g = info->grid_dims;
    double dlo[3], dhi[3];   /* get_bounds: corner voxel centres */
    for (int a = 0; a < 3; a++) {
        dlo[a] = info->grid_affine[a][3];
        dhi[a] = info->grid_affine[a][a] * (double)(g[a] - 1) + info->grid_affine[a][3];
    }
    info->empty = !lrsa__view_visible_box(v, info->visible_box);
    for (int a = 0; a < 3; a++) {
        if (info->empty) {
            info->bounds[2 * a] = dlo[a];
            info->bounds[2 * a + 1] = dhi[a];
        } else {   /* get_mask_bounds, quirk included */
            double span = dhi[a] - dlo[a];
            info->bounds[2 * a] = dlo[a] + (double)info->visible_box[2 * a] * span / (double)g[a];
            info->bounds[2 * a + 1] = dlo[a] + (double)info->visible_box[2 * a + 1] * span / (double)g[a];
        }
    }
    /* 5. slice indices: int(np.round(inv(A_r) @ coords)), numpy's negative indices wrap */
    double inv[4][4];
    if (lrsa__inv4(info->grid_affine, inv)) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine is singular");
        goto done;
    }
    for (int a = 0; a < 3; a++) {
        double c[3] = { 0, 0, 0 }, t[3];
        c[a] = info->cut[a];
        lrsa__apply4(inv, c, t);
        double r = nearbyint(t[a]);
        int64_t idx = -1;
        if (isfinite(r) && r >= -(double)g[a] && r < (double)g[a])
            idx = r < 0 ? (int64_t)r + g[a] : (int64_t)r;
        info->cut_index[a] = idx;
    }
    /* 6. layout */
    double w[3], h[3], lim[3][4], ext[3][4];
    for (int p = 0; p < 3; p++) {
        int ha = panel_h[p], va = panel_v[p];
        if (info->cut_index[panel_cut[p]] < 0) {   /* nilearn: no image, default object bounds */
            lim[p][0] = -0.01, lim[p][1] = 0.01, lim[p][2] = -0.01, lim[p][3] = 0.01;
        } else {
            lim[p][0] = info->bounds[2 * ha];
            lim[p][1] = info->bounds[2 * ha + 1];
            lim[p][2] = info->bounds[2 * va];
            lim[p][3] = info->bounds[2 * va + 1];
        }
        ext[p][0] = dlo[ha], ext[p][1] = dhi[ha], ext[p][2] = dlo[va], ext[p][3] = dhi[va];
        w[p] = lim[p][1] - lim[p][0];
        h[p] = lim[p][3] - lim[p][2];
    }
    lrsa__panel_box box[3];
    int64_t cw, ch;
    if (opts->canvas == LRSA_CANVAS_NILEARN) {
        cw = LRSA_RENDER_FIG_W;
        ch = LRSA_RENDER_FIG_H;
        lrsa__layout_nilearn(w, h, (double)cw, (double)ch, box);
    } else {
        cw = ch = opts->size;
        lrsa__layout_square(w, h, (double)cw, box);
    }
    for (int p = 0; p < 3; p++) {
        info->panel[p][0] = box[p].X0;
        info->panel[p][1] = (double)ch - box[p].Y1;
        info->panel[p][2] = box[p].X1;
        info->panel[p][3] = (double)ch - box[p].Y0;
    }
    if (opts->canvas == LRSA_CANVAS_NILEARN && opts->size) {
        canvas = lrsa__buf_get(&work->b[LRSA__W_CANVAS], (size_t)(cw * ch * 3), "render canvas", err);
        if (!canvas) {
            rc = LRSA_ENOMEM;
            goto done;
        }
    } else {
        canvas = rgb;
    }
    memset(canvas, 255, (size_t)(cw * ch * 3));
    /* 7. slices, colours, drawing */
    uint8_t lut[256][3];
    lrsa_render_cold_hot(lut);
    lrsa__colour_params cp = { info->vmin, info->vmax, opts->threshold };
    for (int p = 0; p < 3; p++) {
        int ca = panel_cut[p], ha = panel_h[p], va = panel_v[p];
        if (info->cut_index[ca] < 0)
            continue;
        int64_t cols = g[ha], rows = g[va];
        slice = lrsa__buf_get(&work->b[LRSA__W_SLICE], (size_t)(rows * cols) * sizeof *slice,
                              "render slice", err);
        cidx = lrsa__buf_get(&work->b[LRSA__W_CIDX], (size_t)(rows * cols) * sizeof *cidx,
                             "render slice", err);
        if (!slice || !cidx) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        /* Only voxels inside the visible box can be drawn (the others are masked, and so do not
         * count for the slice's colour range either): the rest of the slice is NaN. */
        const int64_t *vb = info->visible_box;
        for (int64_t r = 0; r < rows; r++) {
            float *srow = slice + r * cols;
            int64_t vi = rows - 1 - r;   /* np.rot90: the top row is the last index */
            int64_t c0 = vb[2 * ha], c1 = vb[2 * ha + 1];
            if (info->empty || vi < vb[2 * va] || vi >= vb[2 * va + 1] ||
                info->cut_index[ca] < vb[2 * ca] || info->cut_index[ca] >= vb[2 * ca + 1])
                c0 = c1 = 0;
            for (int64_t c = 0; c < c0; c++)
                srow[c] = NAN;
            for (int64_t c = c1; c < cols; c++)
                srow[c] = NAN;
            if (c1 > c0) {
                int64_t g0[3];
                g0[ca] = info->cut_index[ca];
                g0[ha] = c0;
                g0[va] = vi;
                lrsa__view_row_or_nan(v, g0, ha, c1 - c0, srow + c0);
            }
        }
        lrsa__colour_indices(slice, rows * cols, &cp, cidx);
        lrsa__draw_panel(canvas, cw, ch, &box[p], lim[p], ext[p], cidx, rows, cols, lut);
    }
    if (canvas != rgb)
        rc = lrsa_resize_bilinear_rgb8(canvas, cw, ch, rgb, ow, oh, err);
done:
    lrsa__view_release(v);
    lrsa_render_work_free(own);
    return rc;
}
