/* render: screening of a resampled view and the visible bounding box (specs/data.md 2.8 step 4).
 *
 * An interpolated value is a convex combination of the coefficients in its window (weights
 * >= 0, summing to 1), so it can only exceed thr if one of them does. The screening mask says,
 * per input cell f (the floors of an input coordinate), whether f's window holds such a
 * coefficient; grid voxels in other cells are certainly invisible and never interpolated. The
 * mask is kept as bits, one word row per x line, so that building it (a compare per
 * coefficient, then a dilation by the window along each axis) costs little next to the
 * prefilter. */
#include "render_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== the mask ========================================================= */
/* Bits of |c[i]| > hot, i < len, into w (len bits; the rest of the last word 0). */
static void above_bits_f64_base(const double *c, int64_t len, double hot, uint64_t *w)
{
    memset(w, 0, (size_t)((len + 63) / 64) * sizeof *w);
    for (int64_t i = 0; i < len; i++)
        w[i >> 6] |= (uint64_t)(fabs(c[i]) > hot) << (i & 63);
}

#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static void above_bits_f64_avx2(const double *c, int64_t len,
                                                                 double hot, uint64_t *w)
{
    const __m256d h = _mm256_set1_pd(hot), sign = _mm256_set1_pd(-0.0);
    int64_t i = 0;
    for (; i + 64 <= len; i += 64) {
        uint64_t m = 0;
        for (int q = 0; q < 64; q += 4) {
            __m256d x = _mm256_andnot_pd(sign, _mm256_loadu_pd(c + i + q));
            m |= (uint64_t)(unsigned)_mm256_movemask_pd(_mm256_cmp_pd(x, h, _CMP_GT_OQ)) << q;
        }
        w[i >> 6] = m;
    }
    if (i < len) {   /* the last word: 4 at a time, then one by one */
        uint64_t m = 0;
        int64_t q = i;
        for (; q + 4 <= len; q += 4) {
            __m256d x = _mm256_andnot_pd(sign, _mm256_loadu_pd(c + q));
            m |= (uint64_t)(unsigned)_mm256_movemask_pd(_mm256_cmp_pd(x, h, _CMP_GT_OQ)) << (q - i);
        }
        for (; q < len; q++)
            m |= (uint64_t)(fabs(c[q]) > hot) << (q - i);
        w[i >> 6] = m;
    }
}
#endif

/* The cells f of a line of len cells whose window f + lo .. f + hi crosses an end of the line
 * and whose mirrored window (map_coordinate, NI_EXTEND_MIRROR) holds cells outside the part
 * inside the line (those the shifts below miss): the same for every line, so worked out once.
 * Cubic windows in lines of 4 cells or more: only the last cell (its window mirrors back to
 * len - 3). */
typedef struct edge_cells {
    int count;
    int64_t f[8], src[8][4];
    int nsrc[8];
} edge_cells;

static void edge_cells_init(edge_cells *e, int64_t len, int lo, int hi)
{
    e->count = 0;
    for (int64_t f = 0; f < len && e->count < 8; f++) {
        if (f + lo >= 0 && f + hi <= len - 1) {   /* interior: on to the upper edge */
            f = f > len - hi - 1 ? f : len - hi - 1;
            continue;
        }
        int k = e->count, m = 0;
        for (int d = lo; d <= hi; d++) {
            int64_t g = lrsa__mirror_index(f + d, len);
            int seen = g >= f + lo && g <= f + hi;   /* in the window's part inside the line */
            for (int q = 0; q < m; q++)
                seen |= e->src[k][q] == g;
            if (!seen)
                e->src[k][m++] = g;
        }
        if (m > 0) {
            e->f[k] = f;
            e->nsrc[k] = m;
            e->count++;
        }
    }
}

/* Bit f of out = OR of the bits mirror(f + d) of in, d = lo .. hi, for one line of len bits in
 * nw words (the bits of in past len are 0): shifts, then the edge cells' mirrored taps. Inlined
 * where lo and hi are constants, so that the loop over d unrolls. */
static inline void dilate_bits_x(const uint64_t *in, uint64_t *out, int64_t nw, int64_t len, int lo,
                                 int hi, const edge_cells *e)
{
    for (int64_t q = 0; q < nw; q++) {
        uint64_t acc = 0;
        for (int d = lo; d <= hi; d++) {
            if (d == 0)
                acc |= in[q];
            else if (d > 0)
                acc |= in[q] >> d | (q + 1 < nw ? in[q + 1] << (64 - d) : 0);
            else
                acc |= in[q] << -d | (q > 0 ? in[q - 1] >> (64 + d) : 0);
        }
        out[q] = acc;
    }
    if (len & 63)
        out[nw - 1] &= ((uint64_t)1 << (len & 63)) - 1;
    for (int k = 0; k < e->count; k++) {
        int64_t f = e->f[k];
        uint64_t any = 0;
        for (int d = 0; d < e->nsrc[k]; d++) {
            int64_t g = e->src[k][d];
            any |= in[g >> 6] >> (g & 63) & 1;
        }
        out[f >> 6] |= any << (f & 63);
    }
}

/* out[l] = OR of in[mirror(l + d)] over d = lo .. hi, for len rows of es words each, stored one
 * after the other (one plane's lines for y, whole planes for z). The rows whose window stays
 * inside are one block, done in one pass. Inlined where lo and hi are constants. */
static inline void dilate_rows(const uint64_t *in, uint64_t *out, int64_t len, int64_t es, int lo,
                               int hi)
{
    int64_t first = -lo, last = len - 1 - hi;   /* interior rows */
    for (int64_t l = 0; l < len; l++) {
        if (l >= first && l <= last) {
            l = last;
            continue;
        }
        uint64_t *o = out + l * es;
        memcpy(o, in + lrsa__mirror_index(l + lo, len) * es, (size_t)es * sizeof *o);
        for (int d = lo + 1; d <= hi; d++) {
            const uint64_t *r = in + lrsa__mirror_index(l + d, len) * es;
            for (int64_t q = 0; q < es; q++)
                o[q] |= r[q];
        }
    }
    if (first > last)
        return;
    uint64_t *o = out + first * es;
    const uint64_t *r = in + first * es;
    for (int64_t q = 0; q < (last - first + 1) * es; q++) {
        uint64_t acc = r[q + lo * es];
        for (int d = lo + 1; d <= hi; d++)
            acc |= r[q + d * es];
        o[q] = acc;
    }
}

static void inv3(const double a[3][3], double o[3][3])
{
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                 a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    o[0][0] = (a[1][1] * a[2][2] - a[1][2] * a[2][1]) / det;
    o[0][1] = (a[0][2] * a[2][1] - a[0][1] * a[2][2]) / det;
    o[0][2] = (a[0][1] * a[1][2] - a[0][2] * a[1][1]) / det;
    o[1][0] = (a[1][2] * a[2][0] - a[1][0] * a[2][2]) / det;
    o[1][1] = (a[0][0] * a[2][2] - a[0][2] * a[2][0]) / det;
    o[1][2] = (a[0][2] * a[1][0] - a[0][0] * a[1][2]) / det;
    o[2][0] = (a[1][0] * a[2][1] - a[1][1] * a[2][0]) / det;
    o[2][1] = (a[0][1] * a[2][0] - a[0][0] * a[2][1]) / det;
    o[2][2] = (a[0][0] * a[1][1] - a[0][1] * a[1][0]) / det;
}

int lrsa__view_prepare(lrsa_render_view *v, float thr, lrsa_err *err)
{
    v->thr = thr;
    if (!v->resampled)
        return LRSA_OK;
    const int64_t *n = v->in_dims;
    const int64_t nw = (n[0] + 63) / 64, nlines = n[1] * n[2];
    size_t bytes = (size_t)(nw * nlines) * sizeof(uint64_t);
    uint64_t *a, *b;   /* the mask ends in b */
    if (v->work) {
        a = lrsa__buf_get(&v->work->b[LRSA__W_TMP], bytes, "render screening", err);
        b = lrsa__buf_get(&v->work->b[LRSA__W_MAYBE], bytes, "render screening mask", err);
        if (!a || !b)
            return LRSA_ENOMEM;
    } else {
        free(v->maybe);
        v->maybe = NULL;
        a = lrsa_malloc(bytes, "render screening", err);
        b = lrsa_malloc(bytes, "render screening mask", err);
        if (!a || !b) {
            free(a);
            free(b);
            return LRSA_ENOMEM;
        }
    }
    v->maybe = b;
    v->maybe_words = nw;
    /* |t| <= max|c| * (1 + 1e-13) before the float32 rounding (relative 6e-8): a margin of 1e-6
     * keeps every voxel that could round above thr. */
    double hot = (double)thr * (1.0 - 1e-6);
    if (v->order == 3) {
        void (*bits)(const double *, int64_t, double, uint64_t *) = above_bits_f64_base;
#ifdef LRSA_HAVE_AVX2_CLONE
        if (lrsa__have_avx2())
            bits = above_bits_f64_avx2;
#endif
        for (int64_t l = 0; l < nlines; l++)
            bits(v->coef + l * n[0], n[0], hot, a + l * nw);
    } else {
        memset(a, 0, bytes);
        for (int64_t l = 0; l < nlines; l++)
            for (int64_t i = 0; i < n[0]; i++)
                a[l * nw + (i >> 6)] |= (uint64_t)(fabs((double)v->vol[l * n[0] + i]) > hot) << (i & 63);
    }
    /* the window of cell f: taps f-1 .. f+2 (cubic) or f .. f+1 (linear, nearest), mirrored */
    int dlo = v->order == 3 ? -1 : 0, dhi = v->order == 3 ? 2 : 1;
    edge_cells ex;
    edge_cells_init(&ex, n[0], dlo, dhi);
    if (v->order == 3)
        for (int64_t l = 0; l < nlines; l++)
            dilate_bits_x(a + l * nw, b + l * nw, nw, n[0], -1, 2, &ex);
    else
        for (int64_t l = 0; l < nlines; l++)
            dilate_bits_x(a + l * nw, b + l * nw, nw, n[0], 0, 1, &ex);
    for (int64_t k = 0; k < n[2]; k++) {
        if (v->order == 3)
            dilate_rows(b + k * n[1] * nw, a + k * n[1] * nw, n[1], nw, -1, 2);
        else
            dilate_rows(b + k * n[1] * nw, a + k * n[1] * nw, n[1], nw, 0, 1);
    }
    if (v->order == 3)
        dilate_rows(a, b, n[2], n[1] * nw, -1, 2);
    else
        dilate_rows(a, b, n[2], n[1] * nw, 0, 1);
    if (!v->work)
        free(a);
    /* bounding box of the mask: planes (z), rows (y), and the OR of all rows (x) */
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    uint64_t acc[4], *accp = nw <= 4 ? acc : lrsa_calloc((size_t)nw, sizeof *accp, "render", err);
    if (!accp)
        return LRSA_ENOMEM;
    memset(accp, 0, (size_t)nw * sizeof *accp);
    for (int64_t k = 0; k < n[2]; k++)
        for (int64_t j = 0; j < n[1]; j++) {
            const uint64_t *row = b + (j + n[1] * k) * nw;
            uint64_t any = 0;
            for (int64_t q = 0; q < nw; q++) {
                any |= row[q];
                accp[q] |= row[q];
            }
            if (!any)
                continue;
            lo[1] = j < lo[1] ? j : lo[1];
            hi[1] = j > hi[1] ? j : hi[1];
            lo[2] = k < lo[2] ? k : lo[2];
            hi[2] = k > hi[2] ? k : hi[2];
        }
    for (int64_t q = 0; q < nw; q++)
        if (accp[q]) {
            int64_t first = q * 64 + __builtin_ctzll(accp[q]), last = q * 64 + 63 - __builtin_clzll(accp[q]);
            lo[0] = first < lo[0] ? first : lo[0];
            hi[0] = last;
        }
    if (accp != acc)
        free(accp);
    v->region_empty = hi[0] < 0;
    if (v->region_empty)
        return LRSA_OK;
    /* grid voxels g with A g + b in [lo, hi + 1) per axis: the box of the preimage, 1 voxel wider */
    inv3(v->A, v->Ainv);
    double glo[3] = { INFINITY, INFINITY, INFINITY }, ghi[3] = { -INFINITY, -INFINITY, -INFINITY };
    for (int corner = 0; corner < 8; corner++) {
        double c[3];
        for (int a3 = 0; a3 < 3; a3++)
            c[a3] = ((corner >> a3) & 1 ? (double)hi[a3] + 1 : (double)lo[a3]) - v->b[a3];
        for (int r = 0; r < 3; r++) {
            double g = v->Ainv[r][0] * c[0] + v->Ainv[r][1] * c[1] + v->Ainv[r][2] * c[2];
            glo[r] = g < glo[r] ? g : glo[r];
            ghi[r] = g > ghi[r] ? g : ghi[r];
        }
    }
    for (int a3 = 0; a3 < 3; a3++) {
        double l = floor(glo[a3]) - 1, h = ceil(ghi[a3]) + 1;
        l = l < 0 ? 0 : l;
        h = h > (double)(v->dims[a3] - 1) ? (double)(v->dims[a3] - 1) : h;
        v->region[2 * a3] = (int64_t)l;
        v->region[2 * a3 + 1] = (int64_t)h;
        if (l > h)
            v->region_empty = 1;
    }
    return LRSA_OK;
}

/* ===== rows of grid voxels ============================================== */
/* The voxels g0 + t * (unit step along axis), t in [*lo, *hi] of [0, cnt), whose input coordinates
 * may lie inside the volume (all of them when the view is not screened); the others are NaN. */
static void row_span(const lrsa_render_view *v, const int64_t g0[3], int axis, int64_t cnt,
                     int64_t *lo_out, int64_t *hi_out)
{
    int64_t lo = 0, hi = cnt - 1;   /* the voxels looked at */
    if (v->resampled && v->maybe && cnt > 0) {
        /* Input coordinate h along the row: s0 + t * a (up to rounding). Outside [0, n - 1] the
         * value is NaN; t is kept 2 voxels beyond the estimated interval, far more than the
         * rounding of the exact test in lrsa__view_values_or_nan can move it. */
        double tlo = 0, thi = (double)(cnt - 1);
        for (int h = 0; h < 3 && tlo <= thi; h++) {
            double s0 = v->A[h][0] * (double)g0[0] + v->A[h][1] * (double)g0[1] +
                        v->A[h][2] * (double)g0[2] + v->b[h];
            double a = v->A[h][axis], top = (double)(v->in_dims[h] - 1);
            if (fabs(a) < 1e-9) {
                if (s0 < -1e-6 || s0 > top + 1e-6)
                    tlo = thi + 1;   /* outside along the whole row */
                continue;
            }
            double t1 = -s0 / a, t2 = (top - s0) / a;
            if (t1 > t2) {
                double t = t1;
                t1 = t2;
                t2 = t;
            }
            tlo = t1 > tlo ? t1 : tlo;
            thi = t2 < thi ? t2 : thi;
        }
        if (tlo > thi) {
            lo = cnt;
            hi = cnt - 1;
        } else {
            double l = floor(tlo) - 2, h = ceil(thi) + 2;
            lo = l > 0 ? (int64_t)l : 0;
            hi = h < (double)(cnt - 1) ? (int64_t)h : cnt - 1;
        }
    }
    *lo_out = lo;
    *hi_out = hi;
}

void lrsa__view_row_or_nan(const lrsa_render_view *v, const int64_t g0[3], int axis, int64_t cnt,
                           float *out)
{
    int64_t lo, hi;
    row_span(v, g0, axis, cnt, &lo, &hi);
    for (int64_t t = 0; t < lo && t < cnt; t++)
        out[t] = NAN;
    for (int64_t t = hi + 1 > 0 ? hi + 1 : 0; t < cnt; t++)
        out[t] = NAN;
    int64_t g[3 * 512];   /* a whole row at a time, as a rule: batches stay full */
    for (int64_t t0 = lo; t0 <= hi; t0 += 512) {
        int64_t m = hi + 1 - t0 < 512 ? hi + 1 - t0 : 512;
        for (int64_t q = 0; q < m; q++) {
            g[3 * q] = g0[0];
            g[3 * q + 1] = g0[1];
            g[3 * q + 2] = g0[2];
            g[3 * q + axis] += t0 + q;
        }
        lrsa__view_values_or_nan(v, g, m, out + t0);
    }
}

/* ===== the visible bounding box ========================================= */
/* Is one of the m values visible? */
static int any_visible(const lrsa_render_view *v, const int64_t *g, int64_t m, float *val)
{
    lrsa__view_values_or_nan(v, g, m, val);
    for (int64_t q = 0; q < m; q++)
        if (val[q] == val[q] && lrsa__visible(val[q], v->thr))
            return 1;
    return 0;
}

/* Does the slab of grid voxels with coordinate s along axis a, inside box, hold a visible one?
 * Only the voxels of each row that may lie inside the volume are looked at, those of several
 * rows together (near the volume's edge a row holds a few). */
static int slab_visible(const lrsa_render_view *v, int a, int64_t s, const int64_t box[6])
{
    enum { CHUNK = 128 };
    int b = (a + 1) % 3, c = (a + 2) % 3;
    int64_t g[3 * CHUNK], m = 0;
    float val[CHUNK];
    for (int64_t y = box[2 * c]; y <= box[2 * c + 1]; y++) {
        int64_t g0[3], lo, hi;
        g0[a] = s;
        g0[b] = box[2 * b];
        g0[c] = y;
        row_span(v, g0, b, box[2 * b + 1] + 1 - box[2 * b], &lo, &hi);
        for (int64_t t = lo; t <= hi; t++) {
            g[3 * m] = g0[0];
            g[3 * m + 1] = g0[1];
            g[3 * m + 2] = g0[2];
            g[3 * m + b] += t;
            if (++m == CHUNK) {
                if (any_visible(v, g, m, val))
                    return 1;
                m = 0;
            }
        }
    }
    return m > 0 && any_visible(v, g, m, val);
}

int lrsa__view_visible_box(const lrsa_render_view *v, int64_t box[6])
{
    memset(box, 0, 6 * sizeof *box);
    if (!v->resampled) {
        const int64_t *n = v->in_dims;
        int64_t lo[3] = { INT64_MAX, INT64_MAX, INT64_MAX }, hi[3] = { -1, -1, -1 };
        for (int64_t k = 0; k < n[2]; k++)
            for (int64_t j = 0; j < n[1]; j++) {
                const float *row = v->vol + n[0] * (j + n[1] * k);
                for (int64_t i = 0; i < n[0]; i++) {
                    if (!lrsa__visible(row[i], v->thr))
                        continue;
                    int64_t in[3] = { i, j, k };
                    for (int a = 0; a < 3; a++) {
                        int64_t p = in[v->perm[a]];
                        int64_t g = v->flip[a] ? v->dims[a] - 1 - p : p;
                        lo[a] = g < lo[a] ? g : lo[a];
                        hi[a] = g > hi[a] ? g : hi[a];
                    }
                }
            }
        if (hi[0] < 0)
            return 0;
        for (int a = 0; a < 3; a++) {
            box[2 * a] = lo[a];
            box[2 * a + 1] = hi[a] + 1;
        }
        return 1;
    }
    if (v->region_empty)
        return 0;
    int64_t r[6];
    memcpy(r, v->region, sizeof r);   /* inclusive; shrinks as each side is found */
    for (int a = 0; a < 3; a++) {
        int64_t s, lo = -1, hi = -1;
        for (s = r[2 * a]; s <= r[2 * a + 1]; s++)
            if (slab_visible(v, a, s, r)) {
                lo = s;
                break;
            }
        if (lo < 0)
            return 0;
        for (s = r[2 * a + 1]; s >= lo; s--)
            if (slab_visible(v, a, s, r)) {
                hi = s;
                break;
            }
        r[2 * a] = lo;
        r[2 * a + 1] = hi;
    }
    for (int a = 0; a < 3; a++) {
        box[2 * a] = r[2 * a];
        box[2 * a + 1] = r[2 * a + 1] + 1;
    }
    return 1;
}
