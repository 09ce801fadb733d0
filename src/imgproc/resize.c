/* Pillow-exact BILINEAR resize of 8-bit RGB (Image.resize(size, Image.BILINEAR), Pillow 10.3).
 *
 * Follows Pillow's src/libImaging/Resample.c step by step (ideas, not code):
 *  - coefficients per output position in double (precompute_coeffs): triangle filter with support
 *    1 * max(scale, 1), taps truncated at the image edges and renormalised to sum 1;
 *  - converted to 22-bit fixed point (normalize_coeffs_8bpc), accumulated in int32 from a 1 << 21
 *    rounding bias, shifted down and clamped to 0..255;
 *  - horizontal pass first, over only the rows the vertical pass reads, into an 8-bit
 *    intermediate (so the result is rounded twice, as Pillow's); a pass is skipped when its axis
 *    keeps its size; same size on both axes is a plain copy.
 * Drawn images (renders, figures) repeat rows. A row equal to the one before it resizes to the
 * same row, so the horizontal pass copies it; an output row whose weighted taps all read copies
 * of one row is that row (its fixed-point weights sum to 1 within far less than what could move
 * an 8-bit value; checked per row), so the vertical pass copies it. The bytes are the same. */
#include "latentrsa/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

/* The fixed-point taps of one axis: output i reads `count[i]` inputs from `first[i]` with
 * weights k[i * ksize .. + count[i]). */
typedef struct axis_coeffs {
    int ksize;
    int *first;
    int *count;
    int32_t *k;
} axis_coeffs;

static void axis_release(axis_coeffs *a)
{
    free(a->first);
    free(a->count);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static double tri_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* precompute_coeffs + normalize_coeffs_8bpc for the full box [0, in_size). */
static int axis_build(axis_coeffs *a, int in_size, int out_size, lrsa_err *err)
{
    memset(a, 0, sizeof *a);
    double *w = NULL;
    int rc = LRSA_OK;
    /* Pillow computes (in1 - in0) in float; exact for sizes below 2^24 (ours are below 2^15). */
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    size_t nk;
    if (lrsa_mul_size((size_t)out_size, (size_t)a->ksize, &nk))
        return LRSA_FAIL(err, LRSA_ENOMEM, "resize coefficients overflow (%d taps x %d)", a->ksize,
                         out_size);
    w = lrsa_malloc((size_t)a->ksize * sizeof *w, "resize weights", err);
    a->k = lrsa_calloc(nk, sizeof *a->k, "resize coefficients", err);
    a->first = lrsa_malloc((size_t)out_size * sizeof *a->first, "resize bounds", err);
    a->count = lrsa_malloc((size_t)out_size * sizeof *a->count, "resize bounds", err);
    if (!w || !a->k || !a->first || !a->count) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); /* truncation toward zero, as Pillow */
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = tri_filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = a->k + (size_t)xx * a->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        a->first[xx] = xmin;
        a->count[xx] = xmax;
    }
done:
    free(w);
    if (rc)
        axis_release(a);
    return rc;
}

static inline uint8_t clip8(int32_t acc)
{
    int32_t v = acc >> PRECISION_BITS; /* arithmetic shift, as Pillow's lookup index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Rows [row0, row0 + nrows) of src (width sw) -> nrows rows of dst (width dw). */
static void pass_horizontal(const uint8_t *src, int64_t sw, int64_t row0, int64_t nrows,
                            uint8_t *dst, int64_t dw, const axis_coeffs *a)
{
    for (int64_t y = 0; y < nrows; y++) {
        const uint8_t *in = src + (size_t)(row0 + y) * (size_t)sw * 3;
        uint8_t *out = dst + (size_t)y * (size_t)dw * 3;
        if (y > 0 && memcmp(in, in - (size_t)sw * 3, (size_t)sw * 3) == 0) {
            memcpy(out, out - (size_t)dw * 3, (size_t)dw * 3);
            continue;
        }
        for (int64_t xx = 0; xx < dw; xx++) {
            const int32_t *k = a->k + (size_t)xx * a->ksize;
            const uint8_t *p = in + (size_t)a->first[xx] * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < a->count[xx]; x++) {
                s0 += p[3 * x + 0] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            out[3 * xx + 0] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }
}

/* One output row of the vertical pass over VCHUNK bytes: `taps` input rows `stride` apart,
 * accumulated tap by tap (the integer sums are exact, so the order does not change Pillow's
 * values). The fixed length lets the compiler vectorise every loop at -O2. */
#define VCHUNK 64
static void vert_chunk(const uint8_t *in, size_t stride, const int32_t *k, int taps, uint8_t *out)
{
    int32_t acc[VCHUNK];
    for (int i = 0; i < VCHUNK; i++)
        acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < taps; y++) {
        const uint8_t *r = in + (size_t)y * stride;
        int32_t ky = k[y];
        for (int i = 0; i < VCHUNK; i++)
            acc[i] += r[i] * ky;
    }
    for (int i = 0; i < VCHUNK; i++)
        out[i] = clip8(acc[i]);
}

/* The same for the last len < VCHUNK bytes of a row. */
static void vert_tail(const uint8_t *in, size_t stride, const int32_t *k, int taps, uint8_t *out,
                      size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int32_t s = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < taps; y++)
            s += in[(size_t)y * stride + i] * k[y];
        out[i] = clip8(s);
    }
}

/* src rows are indexed from `row0` (the first row the pass reads); each row is w*3 bytes.
 * same[r]: the first row of the run of equal rows that holds src row r (NULL: not known). */
static void pass_vertical(const uint8_t *src, int64_t w, int64_t row0, uint8_t *dst, int64_t dh,
                          const axis_coeffs *a, const int32_t *same)
{
    size_t n = (size_t)w * 3;
    for (int64_t yy = 0; yy < dh; yy++) {
        const int32_t *k = a->k + (size_t)yy * a->ksize;
        const uint8_t *in = src + (size_t)(a->first[yy] - row0) * n;
        uint8_t *out = dst + (size_t)yy * n;
        if (same) {   /* the weighted taps all on copies of one row: (2^21 + p * K) >> 22 == p */
            int32_t rep = -1, ok = 1;
            int64_t ksum = 0;
            for (int y = 0; y < a->count[yy] && ok; y++) {
                if (!k[y])
                    continue;
                int32_t r = same[a->first[yy] - row0 + y];
                ok = rep < 0 || r == rep;
                rep = r;
                ksum += k[y];
            }
            int64_t e = ksum - ((int64_t)1 << PRECISION_BITS);
            if (ok && rep >= 0 && e * 255 < ((int64_t)1 << (PRECISION_BITS - 1)) &&
                -e * 255 <= ((int64_t)1 << (PRECISION_BITS - 1))) {
                memcpy(out, src + (size_t)rep * n, n);
                continue;
            }
        }
        size_t i = 0;
        for (; i + VCHUNK <= n; i += VCHUNK)
            vert_chunk(in + i, n, k, a->count[yy], out + i);
        vert_tail(in + i, n, k, a->count[yy], out + i, n - i);
    }
}

int lrsa_resize_bilinear_rgb8(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                              int64_t dw, int64_t dh, lrsa_err *err)
{
    axis_coeffs ax = { 0 }, ay = { 0 };
    uint8_t *tmp = NULL;
    int32_t *same = NULL;
    int rc = LRSA_OK;

    if (!src || !dst)
        return LRSA_FAIL(err, LRSA_EMISUSE, "resize: NULL image buffer");
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "resize: empty image (%lldx%lld to %lldx%lld)",
                         (long long)sw, (long long)sh, (long long)dw, (long long)dh);
    if (sw > LRSA_RESIZE_MAX_DIM || sh > LRSA_RESIZE_MAX_DIM || dw > LRSA_RESIZE_MAX_DIM ||
        dh > LRSA_RESIZE_MAX_DIM)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                         "resize: %lldx%lld to %lldx%lld is over the %d pixel side limit",
                         (long long)sw, (long long)sh, (long long)dw, (long long)dh,
                         LRSA_RESIZE_MAX_DIM);

    int need_h = dw != sw, need_v = dh != sh;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)sw * (size_t)sh * 3);
        return LRSA_OK;
    }

    if ((rc = axis_build(&ay, (int)sh, (int)dh, err)))
        goto done;
    /* Rows the vertical pass reads: [ybox_first, ybox_last). */
    int64_t ybox_first = ay.first[0];
    int64_t ybox_last = ay.first[dh - 1] + ay.count[dh - 1];

    const uint8_t *vin = src; /* the vertical pass's input */
    int64_t vin_row0 = 0, vin_w = sw;
    if (need_h) {
        if ((rc = axis_build(&ax, (int)sw, (int)dw, err)))
            goto done;
        if (!need_v) {
            pass_horizontal(src, sw, 0, sh, dst, dw, &ax);
            goto done;
        }
        tmp = lrsa_malloc((size_t)(ybox_last - ybox_first) * (size_t)dw * 3, "resize buffer", err);
        if (!tmp) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        pass_horizontal(src, sw, ybox_first, ybox_last - ybox_first, tmp, dw, &ax);
        vin = tmp;
        vin_row0 = ybox_first;
        vin_w = dw;
    }
    /* runs of equal rows in what the vertical pass reads (a row compare costs a few taps) */
    int64_t r0 = ybox_first - vin_row0, r1 = ybox_last - vin_row0;   /* rows of vin */
    same = malloc((size_t)r1 * sizeof *same);   /* without it, no shortcut */
    if (same) {
        size_t n = (size_t)vin_w * 3;
        for (int64_t r = r0; r < r1; r++)
            same[r] = r > r0 && memcmp(vin + (size_t)r * n, vin + (size_t)(r - 1) * n, n) == 0
                          ? same[r - 1]
                          : (int32_t)r;
    }
    pass_vertical(vin, vin_w, vin_row0, dst, dh, &ay, same);
done:
    axis_release(&ax);
    axis_release(&ay);
    free(tmp);
    free(same);
    return rc;
}

int lrsa_rgb8_to_chw_f32(const uint8_t *src, int64_t w, int64_t h, double rescale,
                         const float mean[3], const float std[3], float *dst, lrsa_err *err)
{
    if (!src || !dst || !mean || !std)
        return LRSA_FAIL(err, LRSA_EMISUSE, "rgb8 to chw: NULL argument");
    if (w < 1 || h < 1)
        return LRSA_FAIL(err, LRSA_EMISUSE, "rgb8 to chw: empty image (%lldx%lld)", (long long)w,
                         (long long)h);
    for (int c = 0; c < 3; c++)
        if (!(std[c] != 0.0f))
            return LRSA_FAIL(err, LRSA_EMISUSE, "rgb8 to chw: std[%d] is zero", c);
    size_t plane = (size_t)w * (size_t)h;
    for (int c = 0; c < 3; c++) {
        /* A 256-entry table per channel: the same arithmetic as numpy's, value by value. */
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = ((float)((double)v * rescale) - mean[c]) / std[c];
        float *out = dst + c * plane;
        const uint8_t *in = src + c;
        for (size_t i = 0; i < plane; i++)
            out[i] = lut[in[3 * i]];
    }
    return LRSA_OK;
}
