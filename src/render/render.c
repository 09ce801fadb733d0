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
    float *fin = NULL, *slice = NULL;
    int16_t *cidx = NULL;
    uint8_t *canvas = NULL;
    lrsa_render_view view, *v = &view;
    memset(v, 0, sizeof *v);
    int64_t n = dims[0] * dims[1] * dims[2];
    fin = lrsa__buf_get(&work->b[LRSA__W_FIN], (size_t)n * sizeof *fin, "render volume", err);
    if (!fin) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* 1. finite copy; vmin/vmax */
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        float x = vol[p];
        if (!isfinite(x)) {
            x = 0;
            info->nonfinite++;
        }
        fin[p] = x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    if (mn < 0 && mx > 0) {
        info->vmax = fmax(-(double)mn, (double)mx);
        info->vmin = -info->vmax;
    } else {
        info->vmin = mn;
        info->vmax = mx;
    }
    /* 2. cut coordinates on the original grid */
    if ((rc = lrsa__cut_coords_work(work, fin, dims, affine, opts->threshold, info->cut, err)))
        goto done;
    /* 3. world-aligned view; 4. visible bounding box */
    if ((rc = lrsa__view_init(v, work, fin, dims, affine, opts->interp, err)))
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
        int64_t q[3 * 64];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c0 = 0; c0 < cols; c0 += 64) {
                int64_t cnt = cols - c0 < 64 ? cols - c0 : 64;
                for (int64_t u = 0; u < cnt; u++) {
                    q[3 * u + ca] = info->cut_index[ca];
                    q[3 * u + ha] = c0 + u;
                    q[3 * u + va] = rows - 1 - r;   /* np.rot90: the top row is the last index */
                }
                lrsa__view_values_or_nan(v, q, cnt, slice + r * cols + c0);
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
