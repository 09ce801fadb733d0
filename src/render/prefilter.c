/* render: scipy.ndimage.spline_filter(order=3, mode="constant") as scipy 1.13 runs it for
 * affine_transform: the cubic B-spline prefilter, in double, axis by axis (x, y, z), with the
 * mirror initialisation of ni_splines.c. The plain version is the reference; the fast one gives
 * the same bits. */
#include "render_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== scipy's cubic B-spline prefilter (ni_splines.c, mode 'constant' -> mirror init) === */
#define POLE3 (-0.267949192431122706472553658494127633)

static void filter_line(double *c, int64_t n)
{
    const double z = POLE3;
    if (n < 2)
        return;
    double gain = (1.0 - z) * (1.0 - 1.0 / z);
    for (int64_t i = 0; i < n; i++)
        c[i] *= gain;
    /* _init_causal_mirror */
    double zi = z, zn1 = pow(z, (double)(n - 1));
    c[0] = c[0] + zn1 * c[n - 1];
    for (int64_t i = 1; i < n - 1; i++) {
        c[0] += zi * (c[i] + zn1 * c[n - 1 - i]);
        zi *= z;
    }
    c[0] /= 1 - zn1 * zn1;
    for (int64_t i = 1; i < n; i++)
        c[i] += z * c[i - 1];
    /* _init_anticausal_mirror */
    c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1);
    for (int64_t i = n - 2; i >= 0; i--)
        c[i] = z * (c[i + 1] - c[i]);
}

/* The same filter applied to m lines at once, line l of element e at c[e * es + l] (contiguous
 * in l): the recursions run over whole rows or planes, so memory is read in order and the work
 * is element-wise over l, four lines per vector (GCC/clang vector extensions; an AVX2 build of
 * the same code is picked at run time). Per line the arithmetic is exactly filter_line's: the
 * same IEEE operations in the same order, one statement each (no contraction into FMA). The
 * plain version's y and z passes; the fast version works on groups of lines (below). */
#define V4_LD(p) ({ lrsa__v4d v_; memcpy(&v_, (p), sizeof v_); v_; })
#define V4_ST(p, v) do { lrsa__v4d v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
/* OP(i) applies one step to lines [i, i+4) with vectors (V) or to line i alone (S). */
#define FOR_LINES(m, VOP, SOP)                  \
    do {                                        \
        int64_t l_ = 0;                         \
        for (; l_ + 4 <= (m); l_ += 4) { VOP(l_); } \
        for (; l_ < (m); l_++) { SOP(l_); }     \
    } while (0)

#define FILTER_LINES_BODY                                                                   \
    const double z = POLE3;                                                                 \
    if (n < 2)                                                                              \
        return;                                                                             \
    const double gain = (1.0 - z) * (1.0 - 1.0 / z);                                        \
    double zi = z, zn1 = pow(z, (double)(n - 1));                                           \
    double *c0 = c, *cl = c + (n - 1) * es;                                                 \
    FOR_LINES(m, I0_V, I0_S);                                                               \
    /* every later term is at most |zi| * tb (the products round up by < 2^-50) */          \
    const double tb = fabs(gain) * bound * (1.0 + fabs(zn1)) * (1.0 + 0x1p-40);             \
    for (int64_t e = 1; e < n - 1; e++) {                                                   \
        if (e >= 16 && (e & 7) == 0 && fabs(zi) * tb < min_abs(acc, m) * 0x1p-55)          \
            break;   /* no term left can change any sum (see init_done_note) */             \
        const double *ce = c + e * es, *cr = c + (n - 1 - e) * es;                          \
        FOR_LINES(m, I1_V, I1_S);                                                           \
        zi *= z;                                                                            \
    }                                                                                       \
    const double den = 1 - zn1 * zn1;                                                       \
    FOR_LINES(m, I2_V, I2_S);                                                               \
    for (int64_t e = 1; e < n; e++) {                                                       \
        double *ce = c + e * es;                                                            \
        const double *cp = ce - es;                                                         \
        FOR_LINES(m, C_V, C_S);                                                             \
    }                                                                                       \
    const double zz1 = z * z - 1;                                                           \
    {                                                                                       \
        const double *cp = cl - es;                                                         \
        FOR_LINES(m, A0_V, A0_S);                                                           \
    }                                                                                       \
    for (int64_t e = n - 2; e >= 0; e--) {                                                  \
        double *ce = c + e * es;                                                            \
        const double *cn = ce + es;                                                         \
        FOR_LINES(m, A_V, A_S);                                                             \
    }

/* filter_line first multiplies every element by the gain; here each element is multiplied
 * where it is first read (by the initialisation and the causal pass: the same product, so the
 * same bits), which saves a pass over the data. */
/* _init_causal_mirror: acc = c0 + zn1 * cl; acc += zi * (ce + zn1 * cr); c0 = acc / den */
#define I0_V(l) do { lrsa__v4d t_ = (V4_LD(cl + (l)) * gain) * zn1;                          \
                     V4_ST(acc + (l), (V4_LD(c0 + (l)) * gain) + t_); } while (0)
#define I0_S(l) do { double t_ = zn1 * (cl[l] * gain); acc[l] = (c0[l] * gain) + t_; } while (0)
#define I1_V(l) do { lrsa__v4d t_ = (V4_LD(cr + (l)) * gain) * zn1; t_ = (V4_LD(ce + (l)) * gain) + t_; \
                     t_ = t_ * zi; V4_ST(acc + (l), V4_LD(acc + (l)) + t_); } while (0)
#define I1_S(l) do { double t_ = zn1 * (cr[l] * gain); t_ = (ce[l] * gain) + t_; t_ = zi * t_;   \
                     acc[l] += t_; } while (0)
#define I2_V(l) V4_ST(c0 + (l), V4_LD(acc + (l)) / den)
#define I2_S(l) c0[l] = acc[l] / den
/* causal: ce = gain * ce + z * cp */
#define C_V(l) do { lrsa__v4d t_ = V4_LD(cp + (l)) * z;                                      \
                    V4_ST(ce + (l), (V4_LD(ce + (l)) * gain) + t_); } while (0)
#define C_S(l) do { double t_ = z * cp[l]; ce[l] = (ce[l] * gain) + t_; } while (0)
/* _init_anticausal_mirror: cl = (z * cp + cl) * z / (z * z - 1) */
#define A0_V(l) do { lrsa__v4d t_ = V4_LD(cp + (l)) * z; t_ = t_ + V4_LD(cl + (l)); t_ = t_ * z;      \
                     V4_ST(cl + (l), t_ / zz1); } while (0)
#define A0_S(l) do { double t_ = z * cp[l]; t_ = t_ + cl[l]; t_ = t_ * z; cl[l] = t_ / zz1; } while (0)
/* anticausal: ce = z * (cn - ce) */
#define A_V(l) do { lrsa__v4d t_ = V4_LD(cn + (l)) - V4_LD(ce + (l)); V4_ST(ce + (l), t_ * z); } while (0)
#define A_S(l) do { double t_ = cn[l] - ce[l]; ce[l] = z * t_; } while (0)

/* The smallest |a[l]|, l < m. */
static double min_abs(const double *a, int64_t m)
{
    double mn = INFINITY;
    for (int64_t l = 0; l < m; l++)
        mn = fabs(a[l]) < mn ? fabs(a[l]) : mn;
    return mn;
}

/* init_done_note: the sum of _init_causal_mirror adds terms zi * (...) with |zi| = |z|^e
 * shrinking 3.7 times per step. Once a term is below |acc| 2^-55 (less than a quarter of a
 * unit in the last place, even just above a power of two), adding it rounds back to acc
 * exactly, and so does every later, smaller term: the loop can stop there with the same
 * bits. `bound` >= |c| over the lines (INFINITY: never stop early); with it, the terms are at
 * most |zi| |gain| bound (1 + |zn1|). Lines whose sums are 0 keep the loop going. */
static void filter_lines_base(double *c, int64_t n, int64_t es, int64_t m, double *acc,
                              double bound)
{
    FILTER_LINES_BODY
}

#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static void filter_lines_avx2(double *c, int64_t n, int64_t es,
                                                               int64_t m, double *acc,
                                                               double bound)
{
    FILTER_LINES_BODY
}
#endif


static void filter_lines(double *c, int64_t n, int64_t es, int64_t m, double *acc, double bound)
{
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2()) {
        filter_lines_avx2(c, n, es, m, acc, bound);
        return;
    }
#endif
    filter_lines_base(c, n, es, m, acc, bound);
}

/* spline_filter: axis 0 (x), then 1, then 2, in double. The plain version, kept as the
 * reference for lrsa__prefilter (tests check that they agree bit for bit). */
int lrsa__prefilter_naive(const float *vol, const int64_t d[3], double **out, lrsa_err *err)
{
    int64_t n = d[0] * d[1] * d[2], plane = d[0] * d[1];
    double *c = lrsa_malloc((size_t)n * sizeof *c, "spline coefficients", err);
    double *acc = lrsa_malloc((size_t)plane * sizeof *acc, "spline lines", err);
    if (!c || !acc) {
        free(c);
        free(acc);
        return LRSA_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        c[i] = vol[i];
    for (int64_t l = 0; l < d[1] * d[2]; l++)   /* x lines are contiguous */
        filter_line(c + l * d[0], d[0]);
    for (int64_t k = 0; k < d[2]; k++)          /* y: rows of a plane at once */
        filter_lines(c + k * plane, d[1], d[0], d[0], acc, INFINITY);
    filter_lines(c, d[2], plane, plane, acc, INFINITY);   /* z: whole planes at once */
    free(acc);
    *out = c;
    return LRSA_OK;
}

/* ===== The fast filter ====================================================================
 * The work is element-wise over lines, so it runs on groups of lines, 4 * NV of them (NV
 * vectors of 4), line l of element e at c[e * es + l]. A group's vectors stay in registers
 * through each recursion (the initial sums, the previous element), and 24 or 32 lines are
 * enough independent chains to hide the latency of the multiply-add steps while the group's
 * data stays in L1. Per line the IEEE operations and their order are filter_line's (the gain
 * multiply folded in where an element is first read, as in FILTER_LINES_BODY), so the bits are
 * the same. zn1 = pow(z, n - 1); bound >= |c| over the group (init_done_note); pf: NULL or the
 * next group, fetched into the cache while this one runs (z: its columns are 88 KB apart, which
 * the hardware prefetchers do not follow). */
typedef int64_t lrsa__v4i __attribute__((vector_size(32)));
#define V4_ABS(a) ((lrsa__v4d)((lrsa__v4i)(a) & INT64_MAX))   /* sign bits cleared */

#define FILTER_GROUP_BODY(NV)                                                               \
    const double z = POLE3;                                                                 \
    if (n < 2)                                                                              \
        return;                                                                             \
    const double gain = (1.0 - z) * (1.0 - 1.0 / z);                                        \
    double zi = z;                                                                          \
    double *cl = c + (n - 1) * es;                                                          \
    lrsa__v4d acc[NV], cur[NV];                                                             \
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                                  \
        lrsa__v4d t_ = (V4_LD(cl + 4 * v) * gain) * zn1;                                    \
        acc[v] = (V4_LD(c + 4 * v) * gain) + t_;                                            \
    }                                                                                       \
    const double tb = fabs(gain) * bound * (1.0 + fabs(zn1)) * (1.0 + 0x1p-40);             \
    for (int64_t e = 1; e < n - 1; e++) {                                                   \
        if (e >= 16 && (e & 3) == 0) {   /* every lane: fabs(zi) * tb < |acc| 2^-55 */      \
            lrsa__v4i done = V4_ABS(acc[0]) * 0x1p-55 > fabs(zi) * tb;                      \
            _Pragma("GCC unroll 8") for (int v = 1; v < NV; v++)                            \
                done &= V4_ABS(acc[v]) * 0x1p-55 > fabs(zi) * tb;                           \
            if (done[0] & done[1] & done[2] & done[3])                                      \
                break;   /* no term left can change any sum (see init_done_note) */         \
        }                                                                                   \
        const double *ce = c + e * es, *cr = c + (n - 1 - e) * es;                          \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                              \
            lrsa__v4d t_ = (V4_LD(cr + 4 * v) * gain) * zn1;                                \
            t_ = (V4_LD(ce + 4 * v) * gain) + t_;                                           \
            t_ = t_ * zi;                                                                   \
            acc[v] = acc[v] + t_;                                                           \
        }                                                                                   \
        zi *= z;                                                                            \
    }                                                                                       \
    const double den = 1 - zn1 * zn1;                                                       \
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                                  \
        cur[v] = acc[v] / den;                                                              \
        V4_ST(c + 4 * v, cur[v]);                                                           \
    }                                                                                       \
    for (int64_t e = 1; e < n; e++) {   /* causal */                                        \
        double *ce = c + e * es;                                                            \
        if (pf)                                                                             \
            for (int b = 0; b < NV; b += 2)                                                 \
                __builtin_prefetch(pf + e * es + 4 * b);                                    \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                              \
            lrsa__v4d t_ = cur[v] * z;                                                      \
            cur[v] = (V4_LD(ce + 4 * v) * gain) + t_;                                       \
            V4_ST(ce + 4 * v, cur[v]);                                                      \
        }                                                                                   \
    }                                                                                       \
    const double zz1 = z * z - 1;                                                           \
    {   /* _init_anticausal_mirror; cur holds element n - 1 */                              \
        const double *cp = cl - es;                                                         \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                              \
            lrsa__v4d t_ = V4_LD(cp + 4 * v) * z;                                           \
            t_ = t_ + cur[v];                                                               \
            t_ = t_ * z;                                                                    \
            cur[v] = t_ / zz1;                                                              \
            V4_ST(cl + 4 * v, cur[v]);                                                      \
        }                                                                                   \
    }                                                                                       \
    for (int64_t e = n - 2; e >= 0; e--) {   /* anticausal */                               \
        double *ce = c + e * es;                                                            \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                              \
            lrsa__v4d t_ = cur[v] - V4_LD(ce + 4 * v);                                      \
            cur[v] = t_ * z;                                                                \
            V4_ST(ce + 4 * v, cur[v]);                                                      \
        }                                                                                   \
    }

typedef void group_fn(double *c, int64_t n, int64_t es, double zn1, double bound,
                      const double *pf);
#define GROUP_FN(name, NV, ...)                                                             \
    __VA_ARGS__ static void name(double *c, int64_t n, int64_t es, double zn1, double bound, \
                                 const double *pf)                                          \
    {                                                                                       \
        FILTER_GROUP_BODY(NV)                                                               \
    }
GROUP_FN(filter_group4_base, 4)
GROUP_FN(filter_group6_base, 6)
GROUP_FN(filter_group8_base, 8)
#ifdef LRSA_HAVE_AVX2_CLONE
GROUP_FN(filter_group4_avx2, 4, __attribute__((target("avx2"))))
GROUP_FN(filter_group6_avx2, 6, __attribute__((target("avx2"))))
GROUP_FN(filter_group8_avx2, 8, __attribute__((target("avx2"))))
#endif

/* Lines per group: x and y 24 (the x block, 24 x nx doubles, and the y group's 24 columns x ny
 * rows stay in L1 with the data streaming through), z 32; a group of the last r lines of an
 * axis has group_lanes(r) lanes, the lines past r repeating the last one (a copy changes
 * neither the bound nor the early end of the sums). */
#define LINES_XY 24
#define LINES_Z 32
#define LINES_MAX 32
static int64_t group_lanes(int64_t r)
{
    return r <= 16 ? 16 : r <= 24 ? 24 : 32;
}

/* The x pass turns a block of nrows <= lanes rows of nx into the lanes of a group and back:
 * in, t[i * lanes + r] = (double)src[r * nx + i] (rows past nrows repeat the last), returning
 * max |src|, and fetching the same rows of the next plane (next, or NULL) into the cache; out,
 * dst[r * nx + i] = t[i * lanes + r] for r < nrows. */
static double block_in_base(const float *src, int64_t nx, int64_t nrows, int64_t lanes,
                            double *t, const float *next)
{
    double mx = 0;
    for (int64_t r = 0; r < lanes; r++) {
        const float *s = src + (r < nrows ? r : nrows - 1) * nx;
        for (int64_t i = 0; i < nx; i++) {
            t[i * lanes + r] = (double)s[i];
            mx = fabs(t[i * lanes + r]) > mx ? fabs(t[i * lanes + r]) : mx;
        }
    }
    (void)next;
    return mx;
}

static void block_out_base(const double *t, int64_t nx, int64_t nrows, int64_t lanes,
                           double *dst)
{
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < nx; i++)
            dst[r * nx + i] = t[i * lanes + r];
}

#ifdef LRSA_HAVE_AVX2_CLONE
#define TRANSPOSE4_PD(r0, r1, r2, r3)                                                       \
    do {                                                                                    \
        __m256d t0_ = _mm256_unpacklo_pd(r0, r1), t1_ = _mm256_unpackhi_pd(r0, r1);         \
        __m256d t2_ = _mm256_unpacklo_pd(r2, r3), t3_ = _mm256_unpackhi_pd(r2, r3);         \
        r0 = _mm256_permute2f128_pd(t0_, t2_, 0x20);                                        \
        r1 = _mm256_permute2f128_pd(t1_, t3_, 0x20);                                        \
        r2 = _mm256_permute2f128_pd(t0_, t2_, 0x31);                                        \
        r3 = _mm256_permute2f128_pd(t1_, t3_, 0x31);                                        \
    } while (0)

/* The same with 4 x 4 blocks turned in registers (a strided scalar loop costs more than the
 * filter itself). The next plane's rows are fetched a few at a time: a burst would stall on
 * the miss buffers. */
__attribute__((target("avx2"))) static double block_in_avx2(const float *src, int64_t nx,
                                                             int64_t nrows, int64_t lanes,
                                                             double *t, const float *next)
{
    const __m256d sign = _mm256_set1_pd(-0.0);
    __m256d mx = _mm256_setzero_pd();
    const int64_t nx4 = nx & ~(int64_t)3;
    for (int64_t g = 0; g < lanes; g += 4) {
        const float *s[4];
        for (int64_t q = 0; q < 4; q++)
            s[q] = src + (g + q < nrows ? g + q : nrows - 1) * nx;
        if (next && g < nrows) {
            const char *a = (const char *)(next + g * nx);
            const char *b = (const char *)(next + (g + 4 < nrows ? g + 4 : nrows) * nx);
            for (; a < b; a += 64)
                __builtin_prefetch(a);
        }
        for (int64_t i0 = 0; i0 < nx4; i0 += 4) {
            __m256d r0 = _mm256_cvtps_pd(_mm_loadu_ps(s[0] + i0));
            __m256d r1 = _mm256_cvtps_pd(_mm_loadu_ps(s[1] + i0));
            __m256d r2 = _mm256_cvtps_pd(_mm_loadu_ps(s[2] + i0));
            __m256d r3 = _mm256_cvtps_pd(_mm_loadu_ps(s[3] + i0));
            __m256d m01 = _mm256_max_pd(_mm256_andnot_pd(sign, r0), _mm256_andnot_pd(sign, r1));
            __m256d m23 = _mm256_max_pd(_mm256_andnot_pd(sign, r2), _mm256_andnot_pd(sign, r3));
            mx = _mm256_max_pd(mx, _mm256_max_pd(m01, m23));
            TRANSPOSE4_PD(r0, r1, r2, r3);
            double *d = t + i0 * lanes + g;
            _mm256_storeu_pd(d, r0);
            _mm256_storeu_pd(d + lanes, r1);
            _mm256_storeu_pd(d + 2 * lanes, r2);
            _mm256_storeu_pd(d + 3 * lanes, r3);
        }
        for (int64_t i = nx4; i < nx; i++)
            for (int64_t q = 0; q < 4; q++) {
                __m256d x = _mm256_set1_pd((double)s[q][i]);
                mx = _mm256_max_pd(mx, _mm256_andnot_pd(sign, x));
                t[i * lanes + g + q] = (double)s[q][i];
            }
    }
    double m4[4];
    _mm256_storeu_pd(m4, mx);
    return fmax(fmax(m4[0], m4[1]), fmax(m4[2], m4[3]));
}

__attribute__((target("avx2"))) static void block_out_avx2(const double *t, int64_t nx,
                                                            int64_t nrows, int64_t lanes,
                                                            double *dst)
{
    const int64_t nx4 = nx & ~(int64_t)3;
    for (int64_t g = 0; g < nrows; g += 4) {
        double *d = dst + g * nx;
        for (int64_t i0 = 0; i0 < nx4; i0 += 4) {
            const double *s = t + i0 * lanes + g;
            __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + lanes);
            __m256d r2 = _mm256_loadu_pd(s + 2 * lanes), r3 = _mm256_loadu_pd(s + 3 * lanes);
            TRANSPOSE4_PD(r0, r1, r2, r3);
            _mm256_storeu_pd(d + i0, r0);
            if (g + 1 < nrows)
                _mm256_storeu_pd(d + nx + i0, r1);
            if (g + 2 < nrows)
                _mm256_storeu_pd(d + 2 * nx + i0, r2);
            if (g + 3 < nrows)
                _mm256_storeu_pd(d + 3 * nx + i0, r3);
        }
        for (int64_t q = 0; q < 4 && g + q < nrows; q++)
            for (int64_t i = nx4; i < nx; i++)
                d[q * nx + i] = t[i * lanes + g + q];
    }
}
#endif

typedef struct prefilter_kernels {
    group_fn *group[LINES_MAX / 4 + 1];   /* by vectors per group: 4, 6, 8 */
    double (*block_in)(const float *, int64_t, int64_t, int64_t, double *, const float *);
    void (*block_out)(const double *, int64_t, int64_t, int64_t, double *);
} prefilter_kernels;

static void prefilter_kernels_init(prefilter_kernels *k, int allow_avx2)
{
    memset(k, 0, sizeof *k);
    k->group[4] = filter_group4_base;
    k->group[6] = filter_group6_base;
    k->group[8] = filter_group8_base;
    k->block_in = block_in_base;
    k->block_out = block_out_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (allow_avx2 && lrsa__have_avx2()) {
        k->group[4] = filter_group4_avx2;
        k->group[6] = filter_group6_avx2;
        k->group[8] = filter_group8_avx2;
        k->block_in = block_in_avx2;
        k->block_out = block_out_avx2;
    }
#else
    (void)allow_avx2;
#endif
}

/* filter_line on the m lines of c (line l, element e at c[e * es + l]) in place: groups of
 * `lines` lines, the last m % lines copied to t (n * LINES_MAX doubles) and back. fetch: fetch
 * each next group while one runs. */
static void filter_lines_grouped(const prefilter_kernels *k, double *c, int64_t n, int64_t es,
                                 int64_t m, int64_t lines, double bound, double *t, int fetch)
{
    const double zn1 = pow(POLE3, (double)(n - 1));
    int64_t l0 = 0;
    for (; l0 + lines <= m; l0 += lines) {
        const double *pf = fetch && l0 + 2 * lines <= m ? c + l0 + lines : NULL;
        k->group[lines / 4](c + l0, n, es, zn1, bound, pf);
    }
    int64_t r = m - l0, lanes = group_lanes(r);
    if (r == 0)
        return;
    for (int64_t e = 0; e < n; e++)
        for (int64_t l = 0; l < lanes; l++)
            t[e * lanes + l] = c[e * es + l0 + (l < r ? l : r - 1)];
    k->group[lanes / 4](t, n, lanes, zn1, bound, NULL);
    for (int64_t e = 0; e < n; e++)
        memcpy(c + e * es + l0, t + e * lanes, (size_t)r * sizeof *c);
}

/* x then y on one nx x ny plane, from vol (floats) into p (doubles): the x lines LINES_XY
 * rows at a time through t, then the y lines in place. next: the next plane or NULL (fetched
 * into the cache meanwhile). Returns max |vol| over the plane. */
static double prefilter_plane_xy(const prefilter_kernels *k, const float *vol,
                                 const float *next, int64_t nx, int64_t ny, double *p,
                                 double *t)
{
    const double zn1 = pow(POLE3, (double)(nx - 1));
    double mx = 0;
    for (int64_t j0 = 0; j0 < ny; j0 += LINES_XY) {
        int64_t rows = ny - j0 < LINES_XY ? ny - j0 : LINES_XY, lanes = group_lanes(rows);
        double bmx = k->block_in(vol + j0 * nx, nx, rows, lanes, t, next ? next + j0 * nx : NULL);
        k->group[lanes / 4](t, nx, lanes, zn1, bmx, NULL);
        k->block_out(t, nx, rows, lanes, p + j0 * nx);
        mx = bmx > mx ? bmx : mx;
    }
    /* Bound on |c| after x: the filter is the inverse of the B-spline sampling matrix,
     * diagonally dominant by 1/3, so each axis multiplies the largest magnitude by at most 3
     * (4 here, for margin). */
    filter_lines_grouped(k, p, ny, nx, nx, LINES_XY, 4 * mx, t, 0);
    return mx;
}

/* The same filter, cache-friendly: per z plane, x and y in a plane of scratch that stays in
 * L2, then copied to c in one sequential pass (written as it is computed, c's lines would be
 * fetched from memory in a pattern the prefetchers do not follow); then z in groups of columns
 * of the volume. Each line sees exactly filter_line's operations, so the coefficients are the
 * same bits. c: d[0]*d[1]*d[2] doubles; scratch: lrsa__prefilter_scratch(d) doubles. */
size_t lrsa__prefilter_scratch(const int64_t d[3])
{
    int64_t n = d[0] > d[1] ? d[0] : d[1];
    n = n > d[2] ? n : d[2];
    return (size_t)(d[0] * d[1] + n * LINES_MAX);
}

void lrsa__prefilter_isa(const float *vol, const int64_t d[3], double *c, double *scratch,
                         int allow_avx2)
{
    const int64_t nx = d[0], ny = d[1], nz = d[2], plane = nx * ny;
    double *p = scratch, *t = scratch + plane;
    prefilter_kernels k;
    prefilter_kernels_init(&k, allow_avx2);
    double all = 0;
    for (int64_t z = 0; z < nz; z++) {
        const float *next = z + 1 < nz ? vol + (z + 1) * plane : NULL;
        double mx = prefilter_plane_xy(&k, vol + z * plane, next, nx, ny, p, t);
        memcpy(c + z * plane, p, (size_t)plane * sizeof *c);
        all = mx > all ? mx : all;
    }
    filter_lines_grouped(&k, c, nz, plane, plane, LINES_Z, 16 * all, t, 1);
}

void lrsa__prefilter(const float *vol, const int64_t d[3], double *c, double *scratch)
{
    lrsa__prefilter_isa(vol, d, c, scratch, 1);
}
