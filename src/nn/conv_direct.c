/*
 * Direct 3x3, stride-2, padding-1 convolution kernels (AVX2 + FMA), one image per call, one
 * thread: the alternative to im2col + sgemm for the thin layers (docs/ae.md, "Kernels"). conv.c
 * chooses between the two per layer and keeps the naive references.
 *
 * Three primitives cover the forward and backward of both layer kinds (the transposed
 * convolution is the data gradient of the convolution with the same weight memory):
 *
 *   s2     out (OC, OH, OW) = sum_{c,ki,kj} w[oc, c, ki, kj] x[c, 2oh-1+ki, 2ow-1+kj]
 *          conv forward; convT backward's dx (x := dout, w := the convT weight as is)
 *   t2     out (OC, OH, OW) += w[c, oc, ki, kj] x[c, ih, iw] at (2ih-1+ki, 2iw-1+kj)
 *          convT forward; conv backward's dx (x := dout, w := the conv weight as is)
 *   wgrad  dw[oc, c, ki, kj] = sum_{oh,ow} d[oc, oh, ow] x[c, 2oh-1+ki, 2ow-1+kj]
 *          conv dW (d := dout); convT dW (d := the layer input, x := dout)
 *
 * s2 and wgrad walk the output rows; each input row is split once into three aligned rows,
 * x[2j - 1], x[2j], x[2j + 1] for j = 0.., the left padding included (split_row, a ring of 4
 * input rows per channel), so that every tap (ki, kj) of an output row is a contiguous,
 * aligned load. s2 vectorises over 8 output columns: register block 4 output channels x 3 vectors
 * (12 accumulators, 3 loads + 4 broadcasts per 12 FMAs), taps in chunks of 16 input channels so
 * that a block's input stays in L1. wgrad is a GEMM over the pixels of a row, vectorised over
 * output channels: the output-gradient row transposed (8 x 8 blocks) times the tap rows,
 * register block 6 taps x 16 channels (2 loads + 6 broadcasts per 12 FMAs), accumulated in
 * acc[tap][channel] across rows and images. t2 vectorises over 8 input columns and computes the
 * four output phases (row parity x column parity: 1, 2, 2 and 4 of the 9 taps) of one output
 * channel x 3 vectors (12 accumulators, 12 loads + 9 broadcasts per 27 FMAs) from a row, its
 * successor and both shifted by one column (rolling buffers), interleaving the column phases
 * on the way out. No im2col or col2im pass anywhere.
 *
 * Epilogues are fused: bias, then ReLU (max with 0: exactly lrsa_relu_forward), or the ReLU
 * backward mask (keep where mx > 0: exactly lrsa_relu_backward), or the Sigmoid by calling
 * lrsa_nn_sigmoid (kernels.h) on each finished row, as the im2col path does. Outputs above 2 MB
 * per image (the 336 x 336 and 672 x 672 layers; a batch of them is far larger than the caches)
 * are written with non-temporal stores, which skip the read for ownership: 5-20 % faster on
 * those passes, measured.
 */
#include "conv_internal.h"

#include "kernels.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LRSA_DIRECT 1
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE inline __attribute__((always_inline))
#endif
#define S2_P 3    /* s2 column block: vectors */
#define S2_TC 144 /* s2 tap chunk: 16 input channels */

static int64_t nvec(int64_t n) { return (n + 7) / 8; }

int lrsa__direct_available(void)
{
#ifdef LRSA_DIRECT
    return lrsa_nn_simd();
#else
    return 0;
#endif
}

/* Sizes of the parts of lrsa__direct_floats: weight-gradient accumulator acc[9*nhi][OCp] (the
 * wgrad's output channels are the low-resolution side), packed weights, row buffers. */
static int64_t acc_floats(int64_t nhi, int64_t nlo) { return 9 * nhi * ((nlo + 15) / 16 * 16); }
static int64_t wp_floats(int64_t nhi, int64_t nlo) { return 9 * (nhi + 3) * (nlo + 3); }

size_t lrsa__direct_floats(int64_t nhi, int64_t nlo, int64_t wl)
{
    /* row buffers: s2 / wgrad nhi channels x 4 rows x 3 parts of L + 8, then wgrad's transposed
     * output row (wl x OCp); t2 nlo channels x 2 rows x (row, shifted row) of L + 8; 16 floats of
     * slack for 32-byte alignment */
    int64_t L = nvec(wl) * 8;
    int64_t rb_s2 = nhi * 4 * 3 * (L + 8) + wl * ((nlo + 15) / 16 * 16), rb_t2 = nlo * 4 * (L + 8);
    return (size_t)(acc_floats(nhi, nlo) + wp_floats(nhi, nlo) + (rb_s2 > rb_t2 ? rb_s2 : rb_t2) +
                    16);
}

void lrsa__direct_parts(float *base, int64_t nhi, int64_t nlo, float **acc, size_t *acc_n,
                        float **wp, float **rb)
{
    *acc = base;
    *acc_n = (size_t)acc_floats(nhi, nlo);
    *wp = base + acc_floats(nhi, nlo);
    *rb = *wp + wp_floats(nhi, nlo);
}

void lrsa__dconv_pack_s2(float *wp, const float *w, int64_t C, int64_t OC)
{
    const int64_t T = C * 9, nob = (OC + 3) / 4;
    for (int64_t ob = 0; ob < nob; ob++)
        for (int64_t t = 0; t < T; t++)
            for (int o = 0; o < 4; o++) {
                int64_t oc = 4 * ob + o;
                wp[(ob * T + t) * 4 + o] = oc < OC ? w[oc * T + t] : 0.0f;
            }
}

void lrsa__dconv_pack_t2(float *wp, const float *w, int64_t C, int64_t OC)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t oc = 0; oc < OC; oc++)
            memcpy(wp + (oc * C + c) * 9, w + (c * OC + oc) * 9, 9 * sizeof *wp);
}

void lrsa__dconv_wgrad_finish(float *dw, const float *acc, int64_t C, int64_t OC)
{
    const int64_t T = C * 9, OCp = (OC + 15) / 16 * 16;
    for (int64_t oc = 0; oc < OC; oc++)
        for (int64_t t = 0; t < T; t++)
            dw[oc * T + t] += acc[t * OCp + oc];
}

#ifdef LRSA_DIRECT
static AVX2 double sum_f64_avx2(const float *x, int64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(),
            s3 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
        s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)));
        s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12)));
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
    double t[4];
    _mm256_storeu_pd(t, s);
    double r = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++)
        r += x[i];
    return r;
}
#endif

double lrsa__sum_f64(const float *x, int64_t n)
{
#ifdef LRSA_DIRECT
    if (lrsa__direct_available())
        return sum_f64_avx2(x, n);
#endif
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++)
            s[k] += x[i + k];
    for (; i < n; i++)
        s[0] += x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

#ifdef LRSA_DIRECT

/* lanes [0, n) on (n clamped to 0..8) */
static AVX2 INLINE __m256i lane_mask(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static AVX2 INLINE __m256 load_n(const float *p, int64_t n)
{
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
}

static AVX2 INLINE void store_n(float *p, __m256 v, int64_t n)
{
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else if (n > 0)
        _mm256_maskstore_ps(p, lane_mask(n), v);
}

/* store_n, bypassing the caches (no read for ownership) when nt and p is 16-byte aligned: for
 * outputs too large to be read back from cache (the caller ends with _mm_sfence) */
static AVX2 INLINE void store_out(float *p, __m256 v, int64_t n, int nt)
{
    if (nt && n >= 8 && ((uintptr_t)p & 15) == 0) {
        _mm_stream_ps(p, _mm256_castps256_ps128(v));
        _mm_stream_ps(p + 4, _mm256_extractf128_ps(v, 1));
    } else {
        store_n(p, v, n);
    }
}

/* bias is added by the caller; act: ReLU, or the ReLU backward mask from m (n valid lanes) */
static AVX2 INLINE __m256 epilogue(__m256 r, int epi, const float *m, int64_t n)
{
    if (epi == LRSA__EPI_RELU)
        r = _mm256_max_ps(r, _mm256_setzero_ps()); /* NaN and -0 give +0, as x > 0 ? x : 0 */
    else if (epi == LRSA__EPI_MASK)
        r = _mm256_and_ps(r, _mm256_cmp_ps(load_n(m, n), _mm256_setzero_ps(), _CMP_GT_OQ));
    return r;
}

/* One input row split by column parity, for output columns [0, L): qa[j] = xr[2j - 1] (qa[0] = 0,
 * the padding), qe[j] = xr[2j], qb[j] = xr[2j + 1]; zeros past the row. Three parts of L + 8, so
 * that every tap is an aligned load. */
static AVX2 void split_row(float *qa, const float *xr, int64_t W, int64_t L)
{
    float *qe = qa + L + 8, *qb = qe + L + 8;
    int64_t j = 0;
    qa[0] = 0.0f;
    for (; 2 * j + 16 <= W; j += 8) {
        __m256 a = _mm256_loadu_ps(xr + 2 * j), b = _mm256_loadu_ps(xr + 2 * j + 8);
        __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
        e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
        o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
        _mm256_storeu_ps(qe + j, e);
        _mm256_storeu_ps(qa + j + 1, o);
        _mm256_storeu_ps(qb + j, o);
    }
    for (; j < L; j++) {
        float o = 2 * j + 1 < W ? xr[2 * j + 1] : 0.0f;
        qe[j] = 2 * j < W ? xr[2 * j] : 0.0f;
        qa[j + 1] = o;
        qb[j] = o;
    }
}

/* 32-byte aligned (the scratch reserves 16 floats of slack) */
static float *align32(float *p)
{
    return (float *)(((uintptr_t)p + 31) & ~(uintptr_t)31);
}

/* ----- s2 ---------------------------------------------------------------------------------- */

/* Output channels [4*ob, 4*ob + 4) (weights padded with zeros past OC), P vectors from column
 * 8*v0 of one output row, taps [t0, t1) (tap t reads rb + off[t]): starting from zero (first) or
 * from the partial sums in orow, ending with the epilogue (last) or storing the partial sums. */
static AVX2 INLINE void s2_tile(const int P, float *orow, const float *mrow, const float *rb,
                                const int32_t *off, int64_t T, int64_t t0, int64_t t1, int first,
                                int last, const float *wp, const float *bias, int epi, int nt,
                                int64_t OC, int64_t OHW, int64_t OW, int64_t ob, int64_t v0)
{
    __m256 acc[4][S2_P];
#pragma GCC unroll 4
    for (int o = 0; o < 4; o++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            int64_t oc = 4 * ob + o, j = (v0 + p) * 8;
            acc[o][p] = first || oc >= OC ? _mm256_setzero_ps()
                                          : load_n(orow + oc * OHW + j, OW - j);
        }
    const float *w = wp + (ob * T + t0) * 4;
    const float *src = rb + v0 * 8;
    for (int64_t t = t0; t < t1; t++, w += 4) {
        const float *q = src + off[t];
        __m256 xv[S2_P];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            xv[p] = _mm256_loadu_ps(q + 8 * p);
#pragma GCC unroll 4
        for (int o = 0; o < 4; o++) {
            __m256 wb = _mm256_broadcast_ss(w + o);
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
                acc[o][p] = _mm256_fmadd_ps(wb, xv[p], acc[o][p]);
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < 4; o++) {
        int64_t oc = 4 * ob + o;
        if (oc >= OC)
            break;
        __m256 b = bias && last ? _mm256_broadcast_ss(bias + oc) : _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            int64_t j = (v0 + p) * 8, n = OW - j;
            __m256 r = acc[o][p];
            if (last)
                r = epilogue(_mm256_add_ps(r, b), epi, mrow ? mrow + oc * OHW + j : NULL, n);
            store_out(orow + oc * OHW + j, r, n, nt && last);
        }
    }
}

/* One output row: column blocks of S2_P vectors, taps in chunks of S2_TC (16 input channels: the
 * block's input, 16 * 9 taps x S2_P vectors, stays in L1 across the output-channel blocks). */
static AVX2 void s2_row(float *orow, const float *mrow, const float *rb, const int32_t *off,
                        int64_t T, const float *wp, const float *bias, int epi, int nt, int64_t OC,
                        int64_t OHW, int64_t OW, int64_t nv)
{
    const int64_t nob = (OC + 3) / 4;
    for (int64_t v0 = 0; v0 < nv; v0 += S2_P)
        for (int64_t t0 = 0; t0 < T; t0 += S2_TC) {
            int64_t t1 = t0 + S2_TC < T ? t0 + S2_TC : T;
            int first = t0 == 0, last = t1 == T;
            for (int64_t ob = 0; ob < nob; ob++) {
                if (v0 + S2_P <= nv)
                    s2_tile(S2_P, orow, mrow, rb, off, T, t0, t1, first, last, wp, bias, epi, nt,
                            OC, OHW, OW, ob, v0);
                else if (v0 + 2 == nv) /* 8 accumulators rather than 2 x 4 */
                    s2_tile(2, orow, mrow, rb, off, T, t0, t1, first, last, wp, bias, epi, nt,
                            OC, OHW, OW, ob, v0);
                else
                    s2_tile(1, orow, mrow, rb, off, T, t0, t1, first, last, wp, bias, epi, nt,
                            OC, OHW, OW, ob, v0);
            }
        }
}

/* ----- t2 ---------------------------------------------------------------------------------- */

/* Output channel oc, input columns [8*v0, 8*(v0 + P)) of input row pair (i, i + 1): output rows
 * 2i (ki = 1 from row i) and 2i + 1 (ki = 2 from row i, ki = 0 from row i + 1); output columns
 * 2j (kj = 1 from column j) and 2j + 1 (kj = 2 from j, kj = 0 from j + 1). */
static AVX2 INLINE void t2_tile(const int P, float *orow, const float *mrow, const float *rb,
                                int64_t dr, const float *wp, const float *bias, int epi, int nt,
                                int64_t C, int64_t RS, int64_t OHW, int64_t OW, int two_rows,
                                int64_t oc, int64_t v0)
{
    __m256 a00[3], a01[3], a10[3], a11[3];
#pragma GCC unroll 3
    for (int p = 0; p < P; p++)
        a00[p] = a01[p] = a10[p] = a11[p] = _mm256_setzero_ps();
    const float *w = wp + oc * C * 9;
    const float *r0 = rb + v0 * 8;
#define T2_FMA(ACC, K)                                                                            \
    do {                                                                                          \
        __m256 wb = _mm256_broadcast_ss(w + (K));                                                 \
        _Pragma("GCC unroll 4") for (int p = 0; p < P; p++) ACC[p] =                              \
            _mm256_fmadd_ps(wb, xv[p], ACC[p]);                                                   \
    } while (0)
#define T2_LOAD(SRC)                                                                              \
    _Pragma("GCC unroll 4") for (int p = 0; p < P; p++) xv[p] = _mm256_loadu_ps((SRC) + 8 * p)
    for (int64_t c = 0; c < C; c++, w += 9, r0 += 4 * RS) {
        const float *r1 = r0 + dr;
        __m256 xv[3];
        T2_LOAD(r0); /* x[i, j]: (1,1) (1,2) (2,1) (2,2) */
        T2_FMA(a00, 4);
        T2_FMA(a01, 5);
        T2_FMA(a10, 7);
        T2_FMA(a11, 8);
        T2_LOAD(r0 + RS); /* x[i, j + 1]: (1,0) (2,0) */
        T2_FMA(a01, 3);
        T2_FMA(a11, 6);
        T2_LOAD(r1); /* x[i + 1, j]: (0,1) (0,2) */
        T2_FMA(a10, 1);
        T2_FMA(a11, 2);
        T2_LOAD(r1 + RS); /* x[i + 1, j + 1]: (0,0) */
        T2_FMA(a11, 0);
    }
#undef T2_FMA
#undef T2_LOAD
    __m256 b = bias ? _mm256_broadcast_ss(bias + oc) : _mm256_setzero_ps();
    float *o0 = orow + oc * OHW, *o1 = o0 + OW;
    const float *m0 = mrow ? mrow + oc * OHW : NULL, *m1 = m0 ? m0 + OW : NULL;
#pragma GCC unroll 3
    for (int p = 0; p < P; p++) {
        int64_t j = 16 * (v0 + p), n = OW - j;
        if (n <= 0)
            break;
        /* interleave the column phases: [e0 o0 e1 o1 ... e3 o3], [e4 o4 ... e7 o7] */
        __m256 e = _mm256_add_ps(a00[p], b), o = _mm256_add_ps(a01[p], b);
        __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
        __m256 v1 = _mm256_permute2f128_ps(lo, hi, 0x20), v2 = _mm256_permute2f128_ps(lo, hi, 0x31);
        store_out(o0 + j, epilogue(v1, epi, m0 ? m0 + j : NULL, n), n, nt);
        store_out(o0 + j + 8, epilogue(v2, epi, m0 ? m0 + j + 8 : NULL, n - 8), n - 8, nt);
        if (!two_rows)
            continue;
        e = _mm256_add_ps(a10[p], b);
        o = _mm256_add_ps(a11[p], b);
        lo = _mm256_unpacklo_ps(e, o);
        hi = _mm256_unpackhi_ps(e, o);
        v1 = _mm256_permute2f128_ps(lo, hi, 0x20);
        v2 = _mm256_permute2f128_ps(lo, hi, 0x31);
        store_out(o1 + j, epilogue(v1, epi, m1 ? m1 + j : NULL, n), n, nt);
        store_out(o1 + j + 8, epilogue(v2, epi, m1 ? m1 + j + 8 : NULL, n - 8), n - 8, nt);
    }
}

/* Input row ih of every channel into its slot: the row, then the row shifted left by one column,
 * each RS floats, zero padded (ih = H: the padding row). */
static AVX2 void t2_fill(float *rb, int slot, const float *x, int64_t C, int64_t H, int64_t W,
                         int64_t ih, int64_t RS)
{
    for (int64_t c = 0; c < C; c++) {
        float *d = rb + (2 * c + slot) * 2 * RS, *ds = d + RS;
        int64_t n = ih < H ? W : 0;
        if (n) {
            const float *xr = x + (c * H + ih) * W;
            memcpy(d, xr, (size_t)n * sizeof *d);
            memcpy(ds, xr + 1, (size_t)(n - 1) * sizeof *d);
        }
        memset(d + n, 0, (size_t)(RS - n) * sizeof *d);
        memset(ds + (n ? n - 1 : 0), 0, (size_t)(RS - (n ? n - 1 : 0)) * sizeof *d);
    }
}

AVX2 void lrsa__dconv_t2(float *out, const float *x, const float *wp, const float *bias, int epi,
                         const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t OH,
                         int64_t OW, float *buf)
{
    const int64_t nv = nvec(W), RS = nv * 8 + 8, OHW = OH * OW;
    const int act = epi == LRSA__EPI_SIGMOID ? LRSA__EPI_NONE : epi;
    /* outputs above 2 MB bypass the caches (sigmoid rows are read back at once: not those) */
    const int nt = epi != LRSA__EPI_SIGMOID && OC * OHW > ((int64_t)1 << 19);
    /* per channel two slots of (row, row shifted by one) holding rows i and i + 1 in turn */
    buf = align32(buf);
    t2_fill(buf, 0, x, C, H, W, 0, RS);
    for (int64_t i = 0; i < H && 2 * i < OH; i++) {
        int s0 = (int)(i & 1);
        t2_fill(buf, 1 - s0, x, C, H, W, i + 1, RS);
        const float *rb = buf + s0 * 2 * RS;
        const int64_t dr = (1 - 2 * s0) * 2 * RS; /* row i + 1 from row i */
        float *orow = out + 2 * i * OW;
        const float *mrow = mx ? mx + 2 * i * OW : NULL;
        int two = 2 * i + 1 < OH;
        for (int64_t v0 = 0; v0 < nv; v0 += 3) {
            int P = nv - v0 >= 3 ? 3 : (int)(nv - v0);
            for (int64_t oc = 0; oc < OC; oc++) {
                if (P == 3)
                    t2_tile(3, orow, mrow, rb, dr, wp, bias, act, nt, C, RS, OHW, OW, two, oc,
                            v0);
                else if (P == 2)
                    t2_tile(2, orow, mrow, rb, dr, wp, bias, act, nt, C, RS, OHW, OW, two, oc,
                            v0);
                else
                    t2_tile(1, orow, mrow, rb, dr, wp, bias, act, nt, C, RS, OHW, OW, two, oc,
                            v0);
            }
        }
        if (epi == LRSA__EPI_SIGMOID)
            for (int64_t oc = 0; oc < OC; oc++)
                lrsa_nn_sigmoid(orow + oc * OHW, orow + oc * OHW, (two ? 2 : 1) * OW);
    }
    if (nt)
        _mm_sfence();
}

/* ----- wgrad ------------------------------------------------------------------------------- */

/* The weight gradient as a GEMM over pixels, vectorised over output channels: for one output row,
 * dT[ow][oc] (d transposed, OCp = OC rounded up to 16, zero padded) times the tap rows
 * X[t][ow] = rb + off[t] (split_rows), into acc[t][oc]. Register block: TB taps x 16 output
 * channels (2 vectors): per pixel 2 loads + TB broadcasts for 2 TB FMAs. */
static AVX2 INLINE void wg_tile(const int TB, float *acc, const float *dT, const float *rb,
                                const int32_t *off, int64_t OW, int64_t OCp, int64_t t0,
                                int64_t ob)
{
    __m256 a0[6], a1[6];
    const float *xs[6];
#pragma GCC unroll 6
    for (int k = 0; k < TB; k++) {
        a0[k] = a1[k] = _mm256_setzero_ps();
        xs[k] = rb + off[t0 + k];
    }
    const float *dp = dT + ob * 16;
    for (int64_t ow = 0; ow < OW; ow++, dp += OCp) {
        __m256 d0 = _mm256_load_ps(dp), d1 = _mm256_load_ps(dp + 8);
#pragma GCC unroll 6
        for (int k = 0; k < TB; k++) {
            __m256 xb = _mm256_broadcast_ss(xs[k] + ow);
            a0[k] = _mm256_fmadd_ps(xb, d0, a0[k]);
            a1[k] = _mm256_fmadd_ps(xb, d1, a1[k]);
        }
    }
#pragma GCC unroll 6
    for (int k = 0; k < TB; k++) {
        float *p = acc + (t0 + k) * OCp + ob * 16;
        _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), a0[k]));
        _mm256_storeu_ps(p + 8, _mm256_add_ps(_mm256_loadu_ps(p + 8), a1[k]));
    }
}

/* dT[ow*OCp + oc] = drow[oc*OHW + ow] for oc < OC (8 x 8 blocks through registers) */
static AVX2 void transpose_row(float *dT, const float *drow, int64_t OC, int64_t OHW, int64_t OW,
                               int64_t OCp)
{
    int64_t oc = 0;
    for (; oc + 8 <= OC; oc += 8) {
        const float *s = drow + oc * OHW;
        int64_t ow = 0;
        for (; ow + 8 <= OW; ow += 8) {
            __m256 r0 = _mm256_loadu_ps(s + ow), r1 = _mm256_loadu_ps(s + OHW + ow),
                   r2 = _mm256_loadu_ps(s + 2 * OHW + ow), r3 = _mm256_loadu_ps(s + 3 * OHW + ow),
                   r4 = _mm256_loadu_ps(s + 4 * OHW + ow), r5 = _mm256_loadu_ps(s + 5 * OHW + ow),
                   r6 = _mm256_loadu_ps(s + 6 * OHW + ow), r7 = _mm256_loadu_ps(s + 7 * OHW + ow);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                   t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                   t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                   t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                   u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                   u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *o = dT + ow * OCp + oc;
            _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(o + OCp, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(o + 2 * OCp, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(o + 3 * OCp, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(o + 4 * OCp, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(o + 5 * OCp, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(o + 6 * OCp, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(o + 7 * OCp, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; ow < OW; ow++)
            for (int k = 0; k < 8; k++)
                dT[ow * OCp + oc + k] = s[k * OHW + ow];
    }
    for (; oc < OC; oc++)
        for (int64_t ow = 0; ow < OW; ow++)
            dT[ow * OCp + oc] = drow[oc * OHW + ow];
}

/* ----- the row driver of s2 and wgrad --------------------------------------------------------- */

/* Output rows of the stride-2 convolution of x (C, H, W), each with its 3 input rows split by
 * split_row into a ring of 4 slots per channel (input row ih in slot (ih + 1) & 3, so each row
 * is split once): s2 into out when out is not NULL, wgrad into acc with d when acc is not NULL
 * (the transposed convolution's backward runs both on the same rows of dout). */
static AVX2 void s2_wg_rows(float *out, const float *wp, const float *bias, int epi,
                            const float *mx, float *acc, const float *d, const float *x, int64_t C,
                            int64_t H, int64_t W, int64_t OC, float *buf)
{
    const int64_t OH = (H + 1) / 2, OW = (W + 1) / 2, OHW = OH * OW, nv = nvec(OW), L = nv * 8;
    const int64_t S = 3 * (L + 8), T = C * 9, OCp = (OC + 15) / 16 * 16;
    const int act = epi == LRSA__EPI_SIGMOID ? LRSA__EPI_NONE : epi;
    /* outputs above 2 MB bypass the caches (sigmoid rows are read back at once: not those) */
    const int nt = out && epi != LRSA__EPI_SIGMOID && OC * OHW > ((int64_t)1 << 19);
    /* tap t = (c*3 + ki)*3 + kj of output row oh reads slot (2*oh + ki) & 3, part kj */
    int32_t off[2][LRSA__DIRECT_MAXT];
    for (int par = 0; par < 2; par++)
        for (int64_t t = 0; t < T; t++) {
            int64_t c = t / 9, ki = t / 3 % 3, kj = t % 3;
            off[par][t] = (int32_t)((c * 4 + ((2 * par + ki) & 3)) * S + kj * (L + 8));
        }
    float *rb = align32(buf), *dT = rb + 4 * C * S; /* S is a multiple of 8 */
    if (acc)
        memset(dT, 0, (size_t)(OW * OCp) * sizeof *dT);
    for (int64_t oh = 0; oh < OH; oh++) {
        for (int ki = oh ? 1 : 0; ki < 3; ki++) {
            int64_t ih = 2 * oh - 1 + ki;
            for (int64_t c = 0; c < C; c++) {
                float *qa = rb + (c * 4 + ((ih + 1) & 3)) * S;
                if (ih < 0 || ih >= H)
                    memset(qa, 0, (size_t)S * sizeof *qa);
                else
                    split_row(qa, x + (c * H + ih) * W, W, L);
            }
        }
        const int32_t *o = off[oh & 1];
        if (out) {
            float *orow = out + oh * OW;
            s2_row(orow, mx ? mx + oh * OW : NULL, rb, o, T, wp, bias, act, nt, OC, OHW, OW, nv);
            if (epi == LRSA__EPI_SIGMOID)
                for (int64_t oc = 0; oc < OC; oc++)
                    lrsa_nn_sigmoid(orow + oc * OHW, orow + oc * OHW, OW);
        }
        if (acc) {
            transpose_row(dT, d + oh * OW, OC, OHW, OW, OCp);
            int64_t t0 = 0;
            for (; t0 + 6 <= T; t0 += 6)
                for (int64_t ob = 0; ob < OCp / 16; ob++)
                    wg_tile(6, acc, dT, rb, o, OW, OCp, t0, ob);
            for (; t0 < T; t0 += 3)
                for (int64_t ob = 0; ob < OCp / 16; ob++)
                    wg_tile(3, acc, dT, rb, o, OW, OCp, t0, ob);
        }
    }
    if (nt)
        _mm_sfence();
}

AVX2 void lrsa__dconv_s2(float *out, const float *x, const float *wp, const float *bias, int epi,
                         const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, float *buf)
{
    s2_wg_rows(out, wp, bias, epi, mx, NULL, NULL, x, C, H, W, OC, buf);
}

AVX2 void lrsa__dconv_wgrad(float *acc, const float *d, const float *x, int64_t C, int64_t H,
                            int64_t W, int64_t OC, float *buf)
{
    s2_wg_rows(NULL, NULL, NULL, LRSA__EPI_NONE, NULL, acc, d, x, C, H, W, OC, buf);
}

AVX2 void lrsa__dconv_s2_wgrad(float *out, const float *wp, int epi, const float *mx, float *acc,
                               const float *d, const float *x, int64_t C, int64_t H, int64_t W,
                               int64_t OC, float *buf)
{
    s2_wg_rows(out, wp, NULL, epi, mx, acc, d, x, C, H, W, OC, buf);
}

#else /* no AVX2 path: never called (lrsa__direct_available() is 0) */

void lrsa__dconv_s2(float *out, const float *x, const float *wp, const float *bias, int epi,
                    const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, float *buf)
{
    (void)out, (void)x, (void)wp, (void)bias, (void)epi, (void)mx, (void)C, (void)H, (void)W,
        (void)OC, (void)buf;
}
void lrsa__dconv_t2(float *out, const float *x, const float *wp, const float *bias, int epi,
                    const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t OH,
                    int64_t OW, float *buf)
{
    (void)out, (void)x, (void)wp, (void)bias, (void)epi, (void)mx, (void)C, (void)H, (void)W,
        (void)OC, (void)OH, (void)OW, (void)buf;
}
void lrsa__dconv_wgrad(float *acc, const float *d, const float *x, int64_t C, int64_t H,
                       int64_t W, int64_t OC, float *buf)
{
    (void)acc, (void)d, (void)x, (void)C, (void)H, (void)W, (void)OC, (void)buf;
}
void lrsa__dconv_s2_wgrad(float *out, const float *wp, int epi, const float *mx, float *acc,
                          const float *d, const float *x, int64_t C, int64_t H, int64_t W,
                          int64_t OC, float *buf)
{
    (void)out, (void)wp, (void)epi, (void)mx, (void)acc, (void)d, (void)x, (void)C, (void)H,
        (void)W, (void)OC, (void)buf;
}
#endif
