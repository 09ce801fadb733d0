/* render: panel geometry (nilearn's OrthoSlicer locator and matplotlib's equal-aspect axes) and
 * the drawing of one panel (matplotlib 3.8 imshow, interpolation "nearest", through Agg). */
#include "render_impl.h"
#include "layout.h"

#include <math.h>
#include <string.h>

void lrsa__layout_nilearn(const double w[3], const double h[3], double W, double H,
                          lrsa__panel_box box[3])
{
    /* OrthoSlicer._locator: slot widths proportional to the panels' x extents; full height.
     * Axes.apply_aspect (adjustable 'box', anchor 'C'): Bbox.shrunk_to_aspect + anchored. */
    double total = w[0] + w[1] + w[2];
    double fig_aspect = (H / 100.0) / (W / 100.0);
    double left = 0.0;
    for (int p = 0; p < 3; p++) {
        double cw = w[p] / total * 1.0, ch = 1.0;
        double ratio = fmax(fabs(h[p]), 1e-30) / fmax(fabs(w[p]), 1e-30);
        double Hs = cw * ratio / fig_aspect, Ws;
        if (Hs <= ch) {
            Ws = cw;
        } else {
            Ws = ch * fig_aspect / ratio;
            Hs = ch;
        }
        double x0 = left + ((left + 0.5 * (cw - Ws)) - left);
        double y0 = 0.0 + ((0.0 + 0.5 * (ch - Hs)) - 0.0);
        box[p].X0 = x0 * W;
        box[p].X1 = (x0 + Ws) * W;
        box[p].Y0 = y0 * H;
        box[p].Y1 = (y0 + Hs) * H;
        left += cw;
    }
}

void lrsa__layout_square(const double w[3], const double h[3], double S, lrsa__panel_box box[3])
{
    double total = w[0] + w[1] + w[2], hmax = fmax(h[0], fmax(h[1], h[2]));
    double s = fmin(S / total, S / hmax);
    double x = (S - total * s) / 2;
    for (int p = 0; p < 3; p++) {
        box[p].X0 = x;
        box[p].X1 = x + w[p] * s;
        box[p].Y0 = (S - h[p] * s) / 2;
        box[p].Y1 = box[p].Y0 + h[p] * s;
        x += w[p] * s;
    }
}

/* _make_image's float32 round trip of one value: scaled to [0.1, 0.9] by the slice's min and
 * range (d = (max - min) / 0.8; no scaling when max == min) and back, one rounding per step. */
static float mpl_rescale(float v, float a_min, float d, int scale)
{
    const float off = (float)0.1;
    float t = v - a_min;
    if (scale)
        t = t / d;
    t = t + off;
    t = t - off;
    if (scale)
        t = t * d;
    return t + a_min;
}

/* One colour index per slice cell (-1: masked), with matplotlib's float32 chain:
 * _make_image scales the data to [0.1, 0.9] by the slice's own min/max and back, then Normalize
 * with the rescaled vmin/vmax, then Colormap: floor(256 t), 256 -> 255, clamp. */
static void colour_indices_base(const float *s, int64_t n, const lrsa__colour_params *cp,
                                int16_t *idx)
{
    float thrf = (float)cp->threshold;
    float a_min = INFINITY, a_max = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        float v = s[p];
        int masked = !(v == v) || !(fabsf(v) > thrf) ||
                     (cp->vmin >= -cp->threshold && v < (float)cp->vmin) ||
                     (cp->vmax <= cp->threshold && v > (float)cp->vmax);
        idx[p] = masked ? -1 : 0;
        if (!masked) {
            a_min = v < a_min ? v : a_min;
            a_max = v > a_max ? v : a_max;
        }
    }
    if (a_min > a_max)
        return;   /* everything masked */
    float d = (float)(((double)a_max - (double)a_min) / 0.8);
    int scale = a_min != a_max;
    /* vrange goes through the same steps */
    float vr[2] = { mpl_rescale((float)cp->vmin, a_min, d, scale),
                    mpl_rescale((float)cp->vmax, a_min, d, scale) };
    float span = vr[1] - vr[0];
    for (int64_t p = 0; p < n; p++) {
        if (idx[p] < 0)
            continue;
        float t = mpl_rescale(s[p], a_min, d, scale);
        float r = vr[0] == vr[1] ? 0.0f : (t - vr[0]) / span;
        float xa = r * 256.0f;
        int i;
        if (xa == 256.0f)
            i = 255;
        else if (xa < 0)
            i = 0;          /* under: the first colour */
        else if (xa >= 256.0f)
            i = 255;        /* over: the last colour */
        else
            i = (int)xa;
        idx[p] = (int16_t)i;
    }
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same, eight cells per vector: each lane the scalar sequence of float operations. The
 * unmasked values are not zero (|v| > threshold >= 0), so their min and max do not depend on
 * the order they are met in. */
__attribute__((target("avx2"))) static void colour_indices_avx2(const float *s, int64_t n,
                                                                const lrsa__colour_params *cp,
                                                                int16_t *idx)
{
    float thrf = (float)cp->threshold, vminf = (float)cp->vmin, vmaxf = (float)cp->vmax;
    int cut_low = cp->vmin >= -cp->threshold, cut_high = cp->vmax <= cp->threshold;
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 thr = _mm256_set1_ps(thrf), lo = _mm256_set1_ps(vminf), hi = _mm256_set1_ps(vmaxf);
    const __m256 low_on = _mm256_castsi256_ps(_mm256_set1_epi32(cut_low ? -1 : 0));
    const __m256 high_on = _mm256_castsi256_ps(_mm256_set1_epi32(cut_high ? -1 : 0));
#define COLOUR_KEEP(x)                                                                        \
    _mm256_andnot_ps(                                                                       \
        _mm256_or_ps(_mm256_and_ps(low_on, _mm256_cmp_ps(x, lo, _CMP_LT_OQ)),               \
                     _mm256_and_ps(high_on, _mm256_cmp_ps(x, hi, _CMP_GT_OQ))),             \
        _mm256_cmp_ps(_mm256_and_ps(x, absm), thr, _CMP_GT_OQ))   /* NaN: not kept */
    __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY);
    int64_t p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 x = _mm256_loadu_ps(s + p), keep = COLOUR_KEEP(x);
        mn = _mm256_min_ps(mn, _mm256_blendv_ps(_mm256_set1_ps(INFINITY), x, keep));
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), x, keep));
    }
    float l[8], h[8], a_min = INFINITY, a_max = -INFINITY;
    _mm256_storeu_ps(l, mn);
    _mm256_storeu_ps(h, mx);
    for (int q = 0; q < 8; q++) {
        a_min = l[q] < a_min ? l[q] : a_min;
        a_max = h[q] > a_max ? h[q] : a_max;
    }
    for (int64_t q = p; q < n; q++) {
        float v = s[q];
        int masked = !(v == v) || !(fabsf(v) > thrf) || (cut_low && v < vminf) ||
                     (cut_high && v > vmaxf);
        if (!masked) {
            a_min = v < a_min ? v : a_min;
            a_max = v > a_max ? v : a_max;
        }
    }
    if (a_min > a_max) {   /* everything masked */
        for (int64_t q = 0; q < n; q++)
            idx[q] = -1;
        return;
    }
    const float off = (float)0.1;
    float d = (float)(((double)a_max - (double)a_min) / 0.8);
    int scale = a_min != a_max;
    float vr[2] = { mpl_rescale(vminf, a_min, d, scale), mpl_rescale(vmaxf, a_min, d, scale) };
    float span = vr[1] - vr[0];
    int flat = vr[0] == vr[1];
    const __m256 amin = _mm256_set1_ps(a_min), dv = _mm256_set1_ps(d), offv = _mm256_set1_ps(off);
    const __m256 vr0 = _mm256_set1_ps(vr[0]), spanv = _mm256_set1_ps(span);
    const __m256 c256 = _mm256_set1_ps(256.0f), zero = _mm256_setzero_ps();
    for (p = 0; p + 8 <= n; p += 8) {
        __m256 x = _mm256_loadu_ps(s + p), keep = COLOUR_KEEP(x);
        __m256 t = _mm256_sub_ps(x, amin);
        if (scale)
            t = _mm256_div_ps(t, dv);
        t = _mm256_add_ps(t, offv);
        t = _mm256_sub_ps(t, offv);
        if (scale)
            t = _mm256_mul_ps(t, dv);
        t = _mm256_add_ps(t, amin);
        __m256 r = flat ? zero : _mm256_div_ps(_mm256_sub_ps(t, vr0), spanv);
        __m256 xa = _mm256_mul_ps(r, c256);
        /* 256 and over: 255; under 0: 0; otherwise truncated */
        __m256i i = _mm256_cvttps_epi32(_mm256_max_ps(xa, zero));
        i = _mm256_blendv_epi8(i, _mm256_set1_epi32(255),
                               _mm256_castps_si256(_mm256_cmp_ps(xa, c256, _CMP_GE_OQ)));
        i = _mm256_blendv_epi8(_mm256_set1_epi32(-1), i, _mm256_castps_si256(keep));
        __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        _mm_storeu_si128((__m128i *)(idx + p), packed);
    }
#undef COLOUR_KEEP
    for (; p < n; p++) {
        float v = s[p];
        int masked = !(v == v) || !(fabsf(v) > thrf) || (cut_low && v < vminf) ||
                     (cut_high && v > vmaxf);
        if (masked) {
            idx[p] = -1;
            continue;
        }
        float t = mpl_rescale(v, a_min, d, scale);
        float r = flat ? 0.0f : (t - vr[0]) / span;
        float xa = r * 256.0f;
        idx[p] = (int16_t)(xa >= 256.0f ? 255 : xa < 0 ? 0 : (int)xa);
    }
}
#endif

void lrsa__colour_indices(const float *s, int64_t n, const lrsa__colour_params *cp, int16_t *idx)
{
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2()) {
        colour_indices_avx2(s, n, cp, idx);
        return;
    }
#endif
    colour_indices_base(s, n, cp, idx);
}

static int64_t agg_iround(double v)
{
    return (int64_t)(v < 0.0 ? v - 0.5 : v + 0.5);
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Agg's dda2_line_interpolator: cnt positions from x1 towards x2 in integers, the remainder
 * spread evenly (the rounding Agg's nearest-neighbour spans use). */
typedef struct dda2 { int64_t cnt, lft, rem, mod, xs; } dda2;

static void dda2_init(dda2 *d, int64_t x1, int64_t x2, int64_t cnt)
{
    d->cnt = cnt;
    d->lft = (x2 - x1) / cnt;
    d->rem = (x2 - x1) % cnt;
    d->mod = d->rem;
    d->xs = x1;
    if (d->mod <= 0) {
        d->mod += cnt;
        d->rem += cnt;
        d->lft--;
    }
    d->mod -= cnt;
}

/* The current position, then a step. */
static int64_t dda2_next(dda2 *d)
{
    int64_t x = d->xs;
    d->mod += d->rem;
    d->xs += d->lft;
    if (d->mod > 0) {
        d->mod -= d->cnt;
        d->xs++;
    }
    return x;
}

/* imshow(extent=ext, origin="upper", interpolation="nearest") in axes box b with limits lim,
 * drawn by Agg: the image is resampled to the pixel size of (axes box intersected with the
 * extent), rounded up, sampled at pixel centres, pasted at the rounded position and clipped to
 * the rounded axes box (inclusive). Canvas rows are counted from the top, display y from the bottom. */
void lrsa__draw_panel(uint8_t *rgb, int64_t W, int64_t H, const lrsa__panel_box *b,
                      const double lim[4], const double ext[4], const int16_t *idx, int64_t rows,
                      int64_t cols, const uint8_t lut[256][3])
{
    double sx = (b->X1 - b->X0) / (lim[1] - lim[0]), sy = (b->Y1 - b->Y0) / (lim[3] - lim[2]);
    double ex0 = b->X0 + (ext[0] - lim[0]) * sx, ex1 = b->X0 + (ext[1] - lim[0]) * sx;
    double ey0 = b->Y0 + (ext[2] - lim[2]) * sy, ey1 = b->Y0 + (ext[3] - lim[2]) * sy;
    double cx0 = fmax(b->X0, fmin(ex0, ex1)), cx1 = fmin(b->X1, fmax(ex0, ex1));
    double cy0 = fmax(b->Y0, fmin(ey0, ey1)), cy1 = fmin(b->Y1, fmax(ey0, ey1));
    if (!(cx1 > cx0) || !(cy1 > cy0))
        return;
    double wb = cx1 - cx0, hb = cy1 - cy0;
    int64_t ow, oh;
    if (fmod(wb, 1.0) != 0 || fmod(hb, 1.0) != 0) {
        ow = (int64_t)ceil(wb);
        oh = (int64_t)ceil(hb);
    } else {
        ow = (int64_t)wb;
        oh = (int64_t)hb;
    }
    /* the Agg wrapper rounds the position (mpl_round: half away from zero), then truncates */
    double lx = (double)(int64_t)(cx0 + 0.5), by = (double)(int64_t)(cy0 + 0.5);
    int64_t left = (int64_t)lx, top = (int64_t)((double)H - (by + (double)oh));
    int64_t clx0 = clampi((int64_t)floor(b->X0 + 0.5), 0, W - 1);
    int64_t clx1 = clampi((int64_t)floor(b->X1 + 0.5), 0, W - 1);
    int64_t cly0 = clampi((int64_t)floor((double)H - b->Y1 + 0.5), 0, H - 1);
    int64_t cly1 = clampi((int64_t)floor((double)H - b->Y0 + 0.5), 0, H - 1);
    double cell_w = (ext[1] - ext[0]) / (double)cols, cell_h = (ext[3] - ext[2]) / (double)rows;
    /* Agg's span_interpolator_linear + span_image_filter_nn: the source position of each output
     * pixel centre in 1/256 pixels, rounded at both ends of the row and interpolated in
     * integers (dda2_line_interpolator) in between; the cell is position >> 8. */
    double col0 = (lim[0] + (cx0 + 0.5 * wb / (double)ow - b->X0) / sx - ext[0]) / cell_w;
    double col1 = (lim[0] + (cx0 + ((double)ow + 0.5) * wb / (double)ow - b->X0) / sx - ext[0]) / cell_w;
    int64_t x1 = agg_iround(col0 * 256.0), x2 = agg_iround(col1 * 256.0);
    /* dda2_line_interpolator(x1, x2, ow): the same cells for every row, so worked out once, as
     * runs of canvas columns showing one cell (up to 1024 runs; more go pixel by pixel). */
    enum { MAX_RUNS = 1024 };
    int32_t run_cell[MAX_RUNS], run_col[MAX_RUNS], run_len[MAX_RUNS];
    int nruns = 0, too_many = 0;
    {
        dda2 d;
        dda2_init(&d, x1, x2, ow);
        for (int64_t u = 0; u < ow; u++) {
            int64_t col = left + u, cx = dda2_next(&d) >> 8;
            if (col < clx0 || col > clx1 || cx < 0 || cx >= cols)
                continue;
            int r = nruns - 1;
            if (nruns > 0 && run_cell[r] == cx && run_col[r] + run_len[r] == col) {
                run_len[r]++;
            } else if (nruns < MAX_RUNS) {
                run_cell[nruns] = (int32_t)cx;
                run_col[nruns] = (int32_t)col;
                run_len[nruns++] = 1;
            } else {
                too_many = 1;
            }
        }
    }
    /* The canvas columns a row can write. A canvas row is nearly always one of several that show
     * the same slice row ry: when its columns held the same pixels as the previous row's before
     * that one was drawn (kept in before[]), it gets the same writes and is a copy of it. */
    int64_t s0 = left > clx0 ? left : clx0, s1 = left + ow - 1 < clx1 ? left + ow - 1 : clx1;
    size_t seg = s1 >= s0 ? (size_t)(3 * (s1 - s0 + 1)) : 0;
    uint8_t before[4096];
    const uint8_t *prev = NULL;   /* the previous row drawn, when before[] holds its old pixels */
    int64_t prev_ry = -1;
    for (int64_t v = 0; v < oh; v++) {
        int64_t row = top + (oh - 1 - v);
        if (row < cly0 || row > cly1)
            continue;
        double y = cy0 + ((double)v + 0.5) * hb / (double)oh;
        double z = lim[2] + (y - b->Y0) / sy;
        int64_t ry = agg_iround(((double)rows - (z - ext[2]) / cell_h) * 256.0) >> 8;
        if (ry < 0 || ry >= rows)
            continue;
        const int16_t *irow = idx + ry * cols;
        uint8_t *out = rgb + 3 * (row * W);
        if (seg > 0 && prev && ry == prev_ry && memcmp(out + 3 * s0, before, seg) == 0) {
            memcpy(out + 3 * s0, prev + 3 * s0, seg);
            continue;
        }
        prev = NULL;
        if (seg > 0 && seg <= sizeof before) {
            memcpy(before, out + 3 * s0, seg);
            prev = out;
            prev_ry = ry;
        }
        if (!too_many) {
            for (int r = 0; r < nruns; r++) {
                int16_t ci = irow[run_cell[r]];
                if (ci < 0)
                    continue;
                uint8_t *px = out + 3 * (int64_t)run_col[r];
                for (int k = 0; k < run_len[r]; k++)
                    memcpy(px + 3 * k, lut[ci], 3);
            }
            continue;
        }
        dda2 d;
        dda2_init(&d, x1, x2, ow);
        for (int64_t u = 0; u < ow; u++) {
            int64_t col = left + u, cx = dda2_next(&d) >> 8;
            if (col < clx0 || col > clx1 || cx < 0 || cx >= cols)
                continue;
            int16_t ci = irow[cx];
            if (ci >= 0)
                memcpy(out + 3 * col, lut[ci], 3);
        }
    }
}
