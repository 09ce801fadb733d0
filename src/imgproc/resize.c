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
 * resize_reference() is that, plainly. The fast path gives the same bytes (tests/unit/
 * test_imgproc.c compares the two, plain C and AVX2, on awkward shapes) with these shortcuts for
 * drawn images (renders, figures), which repeat rows and have long runs of one colour:
 *  - the weighted sums are exact integers (every product and partial sum of non-negative terms
 *    below 2^31), so they may be formed in any order, zero-weight taps left out and the weights
 *    of taps that read the same bytes added together;
 *  - when every tap of an output reads the same value p, the output is (2^21 + p * K) >> 22 with
 *    K the sum of its weights, which is p whenever K is within 2^21 / 255 of 2^22 (checked per
 *    axis: `sums_exact`). Hence: a row equal to the one before resizes to the same row (the
 *    horizontal pass resamples each distinct row once); an output row whose taps all read one row
 *    is that row; a 32-byte (plain C: 64-byte) piece of an output row whose tap rows agree there
 *    is that piece; an output pixel whose taps lie in one run of equal pixels is that pixel.
 * The AVX2 kernels compute the same integers as the scalar code: 32-bit multiplies (vpmulld) in
 * the vertical pass, 16-bit multiply-adds of split weights (pmaddwd, h_block_avx2) in the
 * horizontal one. */
#include "latentrsa/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define RESIZE_AVX2 1
#define AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
#endif

#define PRECISION_BITS (32 - 8 - 2)
#define ROUND_BIAS (1 << (PRECISION_BITS - 1))

/* The shortest run of equal pixels the horizontal pass looks for, in bytes of the row that equal
 * the byte one pixel before (3 per pixel): shorter runs save less than finding them costs. */
#define RUN_MIN_BYTES 18

/* The fixed-point taps of one axis: output i reads `count[i]` inputs from `first[i]` with
 * weights k[i * kstride .. + count[i]) (zero up to kstride). first[i] and first[i] + count[i]
 * never decrease with i. */
typedef struct axis_coeffs {
    int out_size;
    int ksize;      /* the most taps an output reads */
    int kstride;    /* ksize rounded up to 4 */
    int *first;
    int *count;
    int32_t *k;
    int sums_exact; /* every output's weights K satisfy -2^21 <= p (K - 2^22) < 2^21, p <= 255 */
    /* Horizontal axis only, [in_size + 1] each: out_lo[s] is the first output whose taps start at
     * s or later, out_hi[e] the number of outputs whose taps end at e or before; so the outputs
     * [out_lo[s], out_hi[e]) read only inputs in [s, e). */
    int *out_lo;
    int *out_hi;
    /* AVX2 horizontal kernel only: outputs [0, simd_end) may load 16 bytes at each 4-tap block;
     * kpair[((4 b + v) out_size + i) 8 + j], j < 8: output i's weights for taps 4b..4b+3 as
     * int16 for pmaddwd, k = hi 2^15 + lo: v = 0: lo of taps (0, 1), v = 1: hi of (0, 1),
     * v = 2, 3: the same for taps (2, 3); each pair repeated 4 times (r, g, b, unused). */
    int simd_end;
    int16_t *kpair;
} axis_coeffs;

static void axis_release(axis_coeffs *a)
{
    free(a->first);
    free(a->count);
    free(a->k);
    free(a->out_lo);
    free(a->out_hi);
    free(a->kpair);
    memset(a, 0, sizeof *a);
}

static double tri_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

enum { AXIS_RUNS = 1, AXIS_PAIRS = 2 };

/* precompute_coeffs + normalize_coeffs_8bpc for the full box [0, in_size); with AXIS_RUNS also
 * the tables of the horizontal shortcuts, with AXIS_PAIRS those of the AVX2 horizontal kernel. */
static int axis_build(axis_coeffs *a, int in_size, int out_size, int flags, lrsa_err *err)
{
    int runs = flags & AXIS_RUNS, pairs = flags & AXIS_PAIRS;
    memset(a, 0, sizeof *a);
    double *w = NULL;
    int rc = LRSA_OK;
    /* Pillow computes (in1 - in0) in float; exact for sizes below 2^24 (ours are below 2^15). */
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->kstride = (a->ksize + 3) & ~3;
    a->out_size = out_size;
    size_t nk;
    if (lrsa_mul_size((size_t)out_size, (size_t)a->kstride, &nk))
        return LRSA_FAIL(err, LRSA_ENOMEM, "resize coefficients overflow (%d taps x %d)", a->ksize,
                         out_size);
    w = lrsa_malloc((size_t)a->ksize * sizeof *w, "resize weights", err);
    a->k = lrsa_calloc(nk, sizeof *a->k, "resize coefficients", err);
    a->first = lrsa_malloc((size_t)out_size * sizeof *a->first, "resize bounds", err);
    a->count = lrsa_malloc((size_t)out_size * sizeof *a->count, "resize bounds", err);
    if (runs) {
        a->out_lo = lrsa_malloc((size_t)(in_size + 1) * sizeof *a->out_lo, "resize runs", err);
        a->out_hi = lrsa_malloc((size_t)(in_size + 1) * sizeof *a->out_hi, "resize runs", err);
    }
    if (pairs && !(a->kpair = lrsa_malloc(nk * 8 * sizeof *a->kpair, "resize pairs", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (!w || !a->k || !a->first || !a->count || (runs && (!a->out_lo || !a->out_hi))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    a->sums_exact = 1;
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
        int32_t *k = a->k + (size_t)xx * a->kstride;
        int64_t ksum = 0;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
            ksum += k[x];
            if (k[x] < 0)   /* the triangle is never negative; the shortcuts assume it */
                a->sums_exact = 0;
        }
        int64_t e = ksum - ((int64_t)1 << PRECISION_BITS);
        if (!(e * 255 < ROUND_BIAS && -e * 255 <= ROUND_BIAS))
            a->sums_exact = 0;
        a->first[xx] = xmin;
        a->count[xx] = xmax;
    }
    if (runs) {
        for (int s = 0, xx = 0; s <= in_size; s++) {
            while (xx < out_size && a->first[xx] < s)
                xx++;
            a->out_lo[s] = xx;
        }
        for (int e = 0, xx = 0; e <= in_size; e++) {
            while (xx < out_size && a->first[xx] + a->count[xx] <= e)
                xx++;
            a->out_hi[e] = xx;
        }
    }
    if (pairs) {
        /* The AVX2 kernel reads 16 bytes from pixel first + t for t = 0, 4, .. < ksize. */
        int64_t last_block = (int64_t)((a->ksize - 1) / 4) * 4;
        while (a->simd_end < out_size &&
               3 * ((int64_t)a->first[a->simd_end] + last_block) + 16 <= 3 * (int64_t)in_size)
            a->simd_end++;
        size_t vstride = (size_t)out_size * 8;
        for (int xx = 0; xx < out_size; xx++)
            for (int t = 0; t < a->kstride; t++) {
                int32_t k = a->k[(size_t)xx * a->kstride + t], lo = k & 0x7fff;
                int16_t *kp = a->kpair + (size_t)(t / 4 * 4 + t % 4 / 2 * 2) * vstride +
                              (size_t)xx * 8 + t % 2;
                for (int c = 0; c < 4; c++) {
                    kp[2 * c] = (int16_t)lo;
                    kp[vstride + 2 * c] = (int16_t)((k - lo) / 32768); /* hi: exact */
                }
            }
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

/* One output pixel of the horizontal pass. */
static inline void h_pixel(const uint8_t *in, uint8_t *out, int64_t xx, const axis_coeffs *a)
{
    const int32_t *k = a->k + (size_t)xx * a->kstride;
    const uint8_t *p = in + (size_t)a->first[xx] * 3;
    int32_t s0 = ROUND_BIAS, s1 = s0, s2 = s0;
    for (int x = 0; x < a->count[xx]; x++) {
        s0 += p[3 * x + 0] * k[x];
        s1 += p[3 * x + 1] * k[x];
        s2 += p[3 * x + 2] * k[x];
    }
    out[3 * xx + 0] = clip8(s0);
    out[3 * xx + 1] = clip8(s1);
    out[3 * xx + 2] = clip8(s2);
}

/* ===== the reference: Pillow's two passes, plainly ========================================== */

/* Rows [row0, row0 + nrows) of src (width sw) -> nrows rows of dst (width dw). */
static void ref_horizontal(const uint8_t *src, int64_t sw, int64_t row0, int64_t nrows,
                           uint8_t *dst, int64_t dw, const axis_coeffs *a)
{
    for (int64_t y = 0; y < nrows; y++)
        for (int64_t xx = 0; xx < dw; xx++)
            h_pixel(src + (size_t)(row0 + y) * (size_t)sw * 3, dst + (size_t)y * (size_t)dw * 3, xx,
                    a);
}

/* src rows are indexed from `row0`; each row is w*3 bytes. */
static void ref_vertical(const uint8_t *src, int64_t w, int64_t row0, uint8_t *dst, int64_t dh,
                         const axis_coeffs *a)
{
    size_t n = (size_t)w * 3;
    for (int64_t yy = 0; yy < dh; yy++) {
        const int32_t *k = a->k + (size_t)yy * a->kstride;
        const uint8_t *in = src + (size_t)(a->first[yy] - row0) * n;
        for (size_t i = 0; i < n; i++) {
            int32_t s = ROUND_BIAS;
            for (int y = 0; y < a->count[yy]; y++)
                s += in[(size_t)y * n + i] * k[y];
            dst[(size_t)yy * n + i] = clip8(s);
        }
    }
}

static int resize_reference(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst, int64_t dw,
                            int64_t dh, lrsa_err *err)
{
    axis_coeffs ax = { 0 }, ay = { 0 };
    uint8_t *tmp = NULL;
    int rc = LRSA_OK;
    int need_h = dw != sw, need_v = dh != sh;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)sw * (size_t)sh * 3);
        return LRSA_OK;
    }
    if (need_h && (rc = axis_build(&ax, (int)sw, (int)dw, 0, err)))
        goto done;
    if (!need_v) {
        ref_horizontal(src, sw, 0, sh, dst, dw, &ax);
        goto done;
    }
    if ((rc = axis_build(&ay, (int)sh, (int)dh, 0, err)))
        goto done;
    int64_t ybox_first = ay.first[0], ybox_last = ay.first[dh - 1] + ay.count[dh - 1];
    if (!need_h) {
        ref_vertical(src, sw, 0, dst, dh, &ay);
        goto done;
    }
    tmp = lrsa_malloc((size_t)(ybox_last - ybox_first) * (size_t)dw * 3, "resize buffer", err);
    if (!tmp) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    ref_horizontal(src, sw, ybox_first, ybox_last - ybox_first, tmp, dw, &ax);
    ref_vertical(tmp, dw, ybox_first, dst, dh, &ay);
done:
    axis_release(&ax);
    axis_release(&ay);
    free(tmp);
    return rc;
}

/* ===== the fast path: kernels, plain and AVX2 =============================================== */

/* Bit i of bits (i in [3, n)): row[i] == row[i - 3], i.e. byte i equals the byte one pixel
 * before; the other bits of the (n + 63) / 64 words are 0. */
static void eq_bits_plain(const uint8_t *row, size_t n, uint64_t *bits)
{
    for (size_t j = 0; j * 64 < n; j++) {
        uint64_t w = 0;
        size_t i0 = j * 64, i1 = n - i0 < 64 ? n : i0 + 64, i = i0 < 3 ? 3 : i0;
        while (i < i1) { /* 8 bytes at a time where they all match (runs), else one */
            uint64_t x, y;
            if (i + 8 <= i1 && (memcpy(&x, row + i, 8), memcpy(&y, row + i - 3, 8), x == y)) {
                w |= (uint64_t)0xff << (i - i0);
                i += 8;
            } else {
                w |= (uint64_t)(row[i] == row[i - 3]) << (i - i0);
                i++;
            }
        }
        bits[j] = w;
    }
}

/* Horizontal outputs [x0, x1) of one row. */
static void h_span_plain(const uint8_t *in, uint8_t *out, int64_t x0, int64_t x1,
                         const axis_coeffs *a)
{
    for (int64_t xx = x0; xx < x1; xx++)
        h_pixel(in, out, xx, a);
}

/* One output row of the vertical pass over VCHUNK bytes from `off`: `taps` input rows with
 * weights k. The fixed length lets the compiler vectorise every loop at -O2. */
#define VCHUNK 64
static void v_chunk_plain(const uint8_t *const *rows, const int32_t *k, int taps, size_t off,
                          uint8_t *out)
{
    int32_t acc[VCHUNK];
    for (int i = 0; i < VCHUNK; i++)
        acc[i] = ROUND_BIAS;
    for (int y = 0; y < taps; y++) {
        const uint8_t *r = rows[y] + off;
        int32_t ky = k[y];
        for (int i = 0; i < VCHUNK; i++)
            acc[i] += r[i] * ky;
    }
    for (int i = 0; i < VCHUNK; i++)
        out[off + i] = clip8(acc[i]);
}

/* The same, bytes [off, n) one at a time. */
static void v_tail(const uint8_t *const *rows, const int32_t *k, int taps, size_t off, size_t n,
                   uint8_t *out)
{
    for (size_t i = off; i < n; i++) {
        int32_t s = ROUND_BIAS;
        for (int y = 0; y < taps; y++)
            s += rows[y][i] * k[y];
        out[i] = clip8(s);
    }
}

/* One output row (n bytes) from `taps` distinct input rows; with copy_equal, a piece where all
 * the rows agree is copied. */
static void v_row_plain(const uint8_t *const *rows, const int32_t *k, int taps, size_t n,
                        uint8_t *out, int copy_equal)
{
    size_t i = 0;
    for (; i + VCHUNK <= n; i += VCHUNK) {
        if (copy_equal) {
            int y = 1;
            while (y < taps && memcmp(rows[0] + i, rows[y] + i, VCHUNK) == 0)
                y++;
            if (y == taps) {
                memcpy(out + i, rows[0] + i, VCHUNK);
                continue;
            }
        }
        v_chunk_plain(rows, k, taps, i, out);
    }
    v_tail(rows, k, taps, i, n, out);
}

#ifdef RESIZE_AVX2
AVX2 static void eq_bits_avx2(const uint8_t *row, size_t n, uint64_t *bits)
{
    if (n < 35) {
        eq_bits_plain(row, n, bits);
        return;
    }
    /* 32 bytes from `at` (at >= 3, at + 32 <= n): bit j for byte at + j; a byte covered twice
     * gets the same bit twice */
#define EQ32(at)                                                                        \
    ((uint64_t)(uint32_t)_mm256_movemask_epi8(                                          \
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(row + (at))),            \
                          _mm256_loadu_si256((const __m256i *)(row + (at) - 3)))))
    memset(bits, 0, (n + 63) / 64 * sizeof *bits);
    bits[0] = EQ32(3) << 3;
    size_t b = 32;
    for (; b + 32 <= n; b += 32)
        bits[b >> 6] |= EQ32(b) << (b & 63);
    if (b < n) { /* the last 32 bytes */
        size_t at = n - 32, sh = at & 63;
        uint64_t m = EQ32(at);
        bits[at >> 6] |= m << sh;
        if (sh > 32)
            bits[(at >> 6) + 1] |= m >> (64 - sh);
    }
#undef EQ32
}

/* The sums of outputs p (lane 0) and p + 1 (lane 1) over taps [4 b, 4 b + 4), as 4 int32 per
 * lane: r, g, b, unused. One 16-byte load of each output's pixels; a byte shuffle makes 16-bit
 * (tap 0, tap 1) and (tap 2, tap 3) pairs per channel, and pmaddwd multiplies them by the weights
 * split as k = hi * 2^15 + lo (both fit int16): sum p k = sum p lo + 2^15 sum p hi, every
 * partial sum exact in int32. */
AVX2 static inline __attribute__((always_inline)) void
h_block_avx2(const uint8_t *in, const axis_coeffs *a, int64_t p, int b, __m256i *lo, __m256i *hi)
{
    const __m256i taps01 = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1,
                                            -1, 0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1,
                                            -1, -1);
    const __m256i taps23 = _mm256_setr_epi8(6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1,
                                            -1, -1, 6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1,
                                            -1, -1, -1);
    const size_t vs = (size_t)a->out_size * 8; /* int16 from one weight vector to the next */
    const int16_t *w = a->kpair + (size_t)b * 4 * vs + 8 * (size_t)p;
    __m256i v = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(in + 3 * (size_t)a->first[p] +
                                                                 12 * b))),
        _mm_loadu_si128((const __m128i *)(in + 3 * (size_t)a->first[p + 1] + 12 * b)), 1);
    __m256i v01 = _mm256_shuffle_epi8(v, taps01), v23 = _mm256_shuffle_epi8(v, taps23);
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(v01, _mm256_loadu_si256((const __m256i *)w)));
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(v01,
                                                  _mm256_loadu_si256((const __m256i *)(w + vs))));
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(v23, _mm256_loadu_si256(
                                                           (const __m256i *)(w + 2 * vs))));
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(v23, _mm256_loadu_si256(
                                                           (const __m256i *)(w + 3 * vs))));
}

/* Horizontal outputs [x0, x1): four at a time while the loads stay inside the row and two more
 * outputs of the span follow (the 16-byte store runs 4 bytes into them), the rest by h_pixel. */
AVX2 static void h_span_avx2(const uint8_t *in, uint8_t *out, int64_t x0, int64_t x1,
                             const axis_coeffs *a)
{
    /* after packs/packus: [x r g b 0 x+2 r g b 0 ..] [x+1 .. x+3 ..] -> x, x+1, x+2, x+3 */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0);
    const __m128i squeeze = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    const __m256i bias = _mm256_set1_epi32(ROUND_BIAS);
    const int nblocks = a->kstride / 4;
    int64_t xx = x0, end = x1 - 5 < a->simd_end - 3 ? x1 - 5 : a->simd_end - 3;
    for (; xx < end; xx += 4) {
        __m256i lo0 = bias, hi0 = _mm256_setzero_si256(), lo1 = bias, hi1 = hi0;
        h_block_avx2(in, a, xx, 0, &lo0, &hi0);
        h_block_avx2(in, a, xx + 2, 0, &lo1, &hi1);
        for (int b = 1; b < nblocks; b++) {
            h_block_avx2(in, a, xx, b, &lo0, &hi0);
            h_block_avx2(in, a, xx + 2, b, &lo1, &hi1);
        }
        __m256i s0 = _mm256_add_epi32(lo0, _mm256_slli_epi32(hi0, 15));
        __m256i s1 = _mm256_add_epi32(lo1, _mm256_slli_epi32(hi1, 15));
        /* packs then packus: clamp to 0..255 as clip8 */
        __m256i px = _mm256_packs_epi32(_mm256_srai_epi32(s0, PRECISION_BITS),
                                        _mm256_srai_epi32(s1, PRECISION_BITS));
        px = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(px, px), order);
        _mm_storeu_si128((__m128i *)(out + 3 * xx),
                         _mm_shuffle_epi8(_mm256_castsi256_si128(px), squeeze));
    }
    for (; xx < x1; xx++)
        h_pixel(in, out, xx, a);
}

AVX2 static void v_row_avx2(const uint8_t *const *rows, const int32_t *k, int taps, size_t n,
                            uint8_t *out, int copy_equal)
{
    const __m256i bias = _mm256_set1_epi32(ROUND_BIAS);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if (copy_equal) {
            __m256i r0 = _mm256_loadu_si256((const __m256i *)(rows[0] + i));
            __m256i eq = _mm256_set1_epi8(-1);
            for (int y = 1; y < taps; y++)
                eq = _mm256_and_si256(
                    eq, _mm256_cmpeq_epi8(r0, _mm256_loadu_si256((const __m256i *)(rows[y] + i))));
            if (_mm256_movemask_epi8(eq) == -1) {
                _mm256_storeu_si256((__m256i *)(out + i), r0);
                continue;
            }
        }
        __m256i s0 = bias, s1 = bias, s2 = bias, s3 = bias;
        for (int y = 0; y < taps; y++) {
            const uint8_t *r = rows[y] + i;
            __m256i ky = _mm256_set1_epi32(k[y]);
            s0 = _mm256_add_epi32(s0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(
                                          _mm_loadl_epi64((const __m128i *)(r + 0))), ky));
            s1 = _mm256_add_epi32(s1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(
                                          _mm_loadl_epi64((const __m128i *)(r + 8))), ky));
            s2 = _mm256_add_epi32(s2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(
                                          _mm_loadl_epi64((const __m128i *)(r + 16))), ky));
            s3 = _mm256_add_epi32(s3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(
                                          _mm_loadl_epi64((const __m128i *)(r + 24))), ky));
        }
        s0 = _mm256_srai_epi32(s0, PRECISION_BITS);
        s1 = _mm256_srai_epi32(s1, PRECISION_BITS);
        s2 = _mm256_srai_epi32(s2, PRECISION_BITS);
        s3 = _mm256_srai_epi32(s3, PRECISION_BITS);
        /* packs/packus interleave the 128-bit lanes; the permute puts the 4-byte groups back */
        __m256i px = _mm256_packus_epi16(_mm256_packs_epi32(s0, s1), _mm256_packs_epi32(s2, s3));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_permutevar8x32_epi32(px, order));
    }
    v_tail(rows, k, taps, i, n, out);
}

#endif

typedef struct resize_kernels {
    void (*eq_bits)(const uint8_t *row, size_t n, uint64_t *bits);
    void (*h_span)(const uint8_t *in, uint8_t *out, int64_t x0, int64_t x1, const axis_coeffs *a);
    void (*v_row)(const uint8_t *const *rows, const int32_t *k, int taps, size_t n, uint8_t *out,
                  int copy_equal);
    int pairs; /* h_span reads axis_coeffs.kpair */
} resize_kernels;

static const resize_kernels kernels_plain = { eq_bits_plain, h_span_plain, v_row_plain, 0 };
#ifdef RESIZE_AVX2
static const resize_kernels kernels_avx2 = { eq_bits_avx2, h_span_avx2, v_row_avx2, 1 };
#endif

/* ===== the fast path: driver ================================================================ */

static size_t next_bit(const uint64_t *bits, size_t nwords, size_t from, int set)
{
    size_t j = from >> 6;
    if (j >= nwords)
        return nwords * 64;
    uint64_t x = (set ? bits[j] : ~bits[j]) & (~0ull << (from & 63));
    while (!x) {
        if (++j == nwords)
            return nwords * 64;
        x = set ? bits[j] : ~bits[j];
    }
    return j * 64 + (size_t)__builtin_ctzll(x);
}

/* Keep bit i only where bits i .. i + len - 1 are all set (len >= 2), in place. */
static void keep_runs(uint64_t *bits, size_t nwords, int len)
{
    int have = 1;
    while (have < len) {
        int sh = 2 * have <= len ? have : len - have;
        for (size_t j = 0; j < nwords; j++) /* word j + 1 still unchanged */
            bits[j] &= bits[j] >> sh | (j + 1 < nwords ? bits[j + 1] << (64 - sh) : 0);
        have += sh;
    }
}

/* Write `count` copies of the pixel px. */
static void fill_pixel(uint8_t *out, const uint8_t *px, int64_t count)
{
    size_t done = 3, total = (size_t)count * 3;
    memcpy(out, px, 3);
    while (done < total) { /* doubling copies of whole pixels */
        size_t c = done < total - done ? done : total - done;
        memcpy(out + done, out, c);
        done += c;
    }
}

/* One row of the horizontal pass (sw pixels -> dw pixels): runs of at least
 * RUN_MIN_BYTES equal bytes one pixel apart are runs of equal pixels; the outputs that read only
 * one such run are that pixel, the others are computed. bits: scratch of (3 sw + 63) / 64 words. */
static void h_row(const resize_kernels *kr, const uint8_t *in, int64_t sw, uint8_t *out,
                  int64_t dw, const axis_coeffs *a, uint64_t *bits)
{
    int64_t pos = 0;
    size_t n = (size_t)sw * 3, nwords = (n + 63) / 64;
    if (a->sums_exact && n >= RUN_MIN_BYTES) {
        kr->eq_bits(in, n, bits);
        keep_runs(bits, nwords, RUN_MIN_BYTES);
        size_t i = next_bit(bits, nwords, 0, 1);
        while (i < n) {
            size_t j = next_bit(bits, nwords, i, 0);
            /* bytes [i, j + RUN_MIN_BYTES - 1) each equal the byte 3 before: pixels [s, e) */
            int64_t s = (int64_t)(i + 2) / 3 - 1, e = (int64_t)(j + RUN_MIN_BYTES - 1) / 3;
            int64_t lo = a->out_lo[s], hi = a->out_hi[e];
            if (lo < pos)
                lo = pos;
            if (hi > lo) {
                kr->h_span(in, out, pos, lo, a);
                fill_pixel(out + 3 * lo, in + 3 * s, hi - lo);
                pos = hi;
            }
            i = next_bit(bits, nwords, j, 1);
        }
    }
    kr->h_span(in, out, pos, dw, a);
}

static int resize_fast(const resize_kernels *kr, const uint8_t *src, int64_t sw, int64_t sh,
                       uint8_t *dst, int64_t dw, int64_t dh, lrsa_err *err)
{
    axis_coeffs ax = { 0 }, ay = { 0 };
    uint8_t *tmp = NULL;
    const uint8_t **rows = NULL; /* the vertical pass's input rows (copies share a pointer) */
    const uint8_t **tr = NULL;   /* one output row's distinct input rows ... */
    int32_t *tk = NULL;          /* ... and their weights */
    uint64_t *bits = NULL;
    int rc = LRSA_OK;
    size_t sn = (size_t)sw * 3, dn = (size_t)dw * 3;
    int need_h = dw != sw, need_v = dh != sh;

    if (!need_h && !need_v) {
        memcpy(dst, src, sn * (size_t)sh);
        return LRSA_OK;
    }
    int64_t y0 = 0, y1 = sh; /* rows the vertical pass reads */
    if (need_v) {
        if ((rc = axis_build(&ay, (int)sh, (int)dh, 0, err)))
            goto done;
        y0 = ay.first[0];
        y1 = ay.first[dh - 1] + ay.count[dh - 1];
    }
    rows = lrsa_malloc((size_t)(y1 - y0) * sizeof *rows, "resize rows", err);
    if (!rows) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (need_h) {
        if ((rc = axis_build(&ax, (int)sw, (int)dw, AXIS_RUNS | (kr->pairs ? AXIS_PAIRS : 0), err)))
            goto done;
        bits = lrsa_malloc((sn + 63) / 64 * sizeof *bits, "resize runs", err);
        if (need_v)
            tmp = lrsa_malloc((size_t)(y1 - y0) * dn, "resize buffer", err);
        if (!bits || (need_v && !tmp)) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        uint8_t *next = need_v ? tmp : dst; /* where the next distinct row goes */
        for (int64_t y = y0; y < y1; y++) {
            const uint8_t *in = src + (size_t)y * sn;
            if (y > y0 && memcmp(in, in - sn, sn) == 0) {
                rows[y - y0] = rows[y - y0 - 1];
                if (!need_v)
                    memcpy(dst + (size_t)y * dn, rows[y - y0], dn);
                continue;
            }
            uint8_t *out = need_v ? next : dst + (size_t)y * dn;
            h_row(kr, in, sw, out, dw, &ax, bits);
            rows[y - y0] = out;
            next += dn;
        }
        if (!need_v)
            goto done;
    } else {
        for (int64_t y = y0; y < y1; y++) {
            const uint8_t *in = src + (size_t)y * sn;
            rows[y - y0] = y > y0 && memcmp(in, in - sn, sn) == 0 ? rows[y - y0 - 1] : in;
        }
    }

    tr = lrsa_malloc((size_t)ay.ksize * sizeof *tr, "resize taps", err);
    tk = lrsa_malloc((size_t)ay.ksize * sizeof *tk, "resize taps", err);
    if (!tr || !tk) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t yy = 0; yy < dh; yy++) {
        const int32_t *k = ay.k + (size_t)yy * ay.kstride;
        const uint8_t *const *in = rows + (ay.first[yy] - y0);
        int taps = 0; /* distinct rows with their weights added */
        for (int y = 0; y < ay.count[yy]; y++) {
            if (!k[y])
                continue;
            int t = 0;
            while (t < taps && tr[t] != in[y])
                t++;
            if (t == taps) {
                tr[taps] = in[y];
                tk[taps++] = 0;
            }
            tk[t] += k[y];
        }
        uint8_t *out = dst + (size_t)yy * dn;
        if (taps == 1 && ay.sums_exact)
            memcpy(out, tr[0], dn);
        else
            kr->v_row(tr, tk, taps, dn, out, ay.sums_exact && taps > 1);
    }
done:
    axis_release(&ax);
    axis_release(&ay);
    free(tmp);
    free(rows);
    free(tr);
    free(tk);
    free(bits);
    return rc;
}

int lrsa__resize_bilinear_rgb8_impl(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                                    int64_t dw, int64_t dh, int impl, lrsa_err *err)
{
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
    switch (impl) {
    case LRSA__RESIZE_REFERENCE:
        return resize_reference(src, sw, sh, dst, dw, dh, err);
    case LRSA__RESIZE_PLAIN:
        return resize_fast(&kernels_plain, src, sw, sh, dst, dw, dh, err);
    case LRSA__RESIZE_AVX2:
#ifdef RESIZE_AVX2
        if (lrsa_cpu_avx2())
            return resize_fast(&kernels_avx2, src, sw, sh, dst, dw, dh, err);
#endif
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "resize: no AVX2 on this CPU or build");
    default:
#ifdef RESIZE_AVX2
        if (lrsa_cpu_avx2())
            return resize_fast(&kernels_avx2, src, sw, sh, dst, dw, dh, err);
#endif
        return resize_fast(&kernels_plain, src, sw, sh, dst, dw, dh, err);
    }
}

int lrsa_resize_bilinear_rgb8(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                              int64_t dw, int64_t dh, lrsa_err *err)
{
    return lrsa__resize_bilinear_rgb8_impl(src, sw, sh, dst, dw, dh, LRSA__RESIZE_AUTO, err);
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
