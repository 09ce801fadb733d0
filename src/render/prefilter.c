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
 * same IEEE operations in the same order, one statement each (no contraction into FMA). */
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

/* Plane transposes for the x pass: t[i][j] = (double)src[j][i] (in) and dst[j][i] = t[i][j]
 * (out), nx x ny planes. Plain versions in 16 x 16 tiles; AVX2 ones with 4 x 4 blocks turned
 * in registers (a strided scalar loop costs more than the filter itself). */
static double plane_in_base(const float *src, int64_t nx, int64_t ny, double *t)
{
    float mx = 0;
    for (int64_t j0 = 0; j0 < ny; j0 += 16) {
        int64_t j1 = j0 + 16 < ny ? j0 + 16 : ny;
        for (int64_t i = 0; i < nx; i++)
            for (int64_t j = j0; j < j1; j++) {
                float x = src[j * nx + i];
                mx = fabsf(x) > mx ? fabsf(x) : mx;
                t[i * ny + j] = (double)x;
            }
    }
    return mx;
}

static void plane_out_base(const double *t, int64_t nx, int64_t ny, double *dst)
{
    for (int64_t i0 = 0; i0 < nx; i0 += 16) {
        int64_t i1 = i0 + 16 < nx ? i0 + 16 : nx;
        for (int64_t j = 0; j < ny; j++)
            for (int64_t i = i0; i < i1; i++)
                dst[j * nx + i] = t[i * ny + j];
    }
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

__attribute__((target("avx2"))) static double plane_in_avx2(const float *src, int64_t nx,
                                                             int64_t ny, double *t)
{
    const __m256d sign = _mm256_set1_pd(-0.0);
    __m256d mx = _mm256_setzero_pd();
    int64_t j0 = 0;
    for (; j0 + 4 <= ny; j0 += 4) {
        const float *s = src + j0 * nx;
        int64_t i0 = 0;
        for (; i0 + 4 <= nx; i0 += 4) {
            __m256d r0 = _mm256_cvtps_pd(_mm_loadu_ps(s + i0));
            __m256d r1 = _mm256_cvtps_pd(_mm_loadu_ps(s + nx + i0));
            __m256d r2 = _mm256_cvtps_pd(_mm_loadu_ps(s + 2 * nx + i0));
            __m256d r3 = _mm256_cvtps_pd(_mm_loadu_ps(s + 3 * nx + i0));
            __m256d m01 = _mm256_max_pd(_mm256_andnot_pd(sign, r0), _mm256_andnot_pd(sign, r1));
            __m256d m23 = _mm256_max_pd(_mm256_andnot_pd(sign, r2), _mm256_andnot_pd(sign, r3));
            mx = _mm256_max_pd(mx, _mm256_max_pd(m01, m23));
            TRANSPOSE4_PD(r0, r1, r2, r3);
            double *d = t + i0 * ny + j0;
            _mm256_storeu_pd(d, r0);
            _mm256_storeu_pd(d + ny, r1);
            _mm256_storeu_pd(d + 2 * ny, r2);
            _mm256_storeu_pd(d + 3 * ny, r3);
        }
        for (; i0 < nx; i0++)
            for (int64_t j = j0; j < j0 + 4; j++)
                t[i0 * ny + j] = (double)src[j * nx + i0];
    }
    for (; j0 < ny; j0++)
        for (int64_t i = 0; i < nx; i++)
            t[i * ny + j0] = (double)src[j0 * nx + i];
    double m4[4];
    _mm256_storeu_pd(m4, mx);
    double m = fmax(fmax(m4[0], m4[1]), fmax(m4[2], m4[3]));
    const int64_t nx4 = nx & ~(int64_t)3, ny4 = ny & ~(int64_t)3;   /* what the blocks saw */
    for (int64_t j = 0; j < ny; j++)
        for (int64_t i = j < ny4 ? nx4 : 0; i < nx; i++)
            m = fabs((double)src[j * nx + i]) > m ? fabs((double)src[j * nx + i]) : m;
    return m;
}

__attribute__((target("avx2"))) static void plane_out_avx2(const double *t, int64_t nx,
                                                            int64_t ny, double *dst)
{
    int64_t i0 = 0;
    for (; i0 + 4 <= nx; i0 += 4) {
        const double *s = t + i0 * ny;
        int64_t j0 = 0;
        for (; j0 + 4 <= ny; j0 += 4) {
            __m256d r0 = _mm256_loadu_pd(s + j0), r1 = _mm256_loadu_pd(s + ny + j0);
            __m256d r2 = _mm256_loadu_pd(s + 2 * ny + j0), r3 = _mm256_loadu_pd(s + 3 * ny + j0);
            TRANSPOSE4_PD(r0, r1, r2, r3);
            double *d = dst + j0 * nx + i0;
            _mm256_storeu_pd(d, r0);
            _mm256_storeu_pd(d + nx, r1);
            _mm256_storeu_pd(d + 2 * nx, r2);
            _mm256_storeu_pd(d + 3 * nx, r3);
        }
        for (; j0 < ny; j0++)
            for (int64_t i = i0; i < i0 + 4; i++)
                dst[j0 * nx + i] = t[i * ny + j0];
    }
    for (; i0 < nx; i0++)
        for (int64_t j = 0; j < ny; j++)
            dst[j * nx + i0] = t[i0 * ny + j];
}
#endif

/* The same filter, cache-friendly: per z plane, the plane is transposed so that the x lines of
 * all its rows are filtered at once (element-wise over the rows, no recursion latency), put
 * back, and filtered along y; then z in blocks of columns small enough to stay in cache. Each
 * line sees exactly filter_line's operations, so the coefficients are the same bits.
 * c: d[0]*d[1]*d[2] doubles; scratch: 2 * d[0]*d[1] + PREFILTER_BLOCK doubles. */
#define PREFILTER_BLOCK 256
size_t lrsa__prefilter_scratch(const int64_t d[3])
{
    return (size_t)(d[0] * d[1]) * 2 + PREFILTER_BLOCK;
}

void lrsa__prefilter(const float *vol, const int64_t d[3], double *c, double *scratch)
{
    const int64_t nx = d[0], ny = d[1], nz = d[2], plane = nx * ny;
    double *t = scratch, *acc = scratch + plane;
    double (*plane_in)(const float *, int64_t, int64_t, double *) = plane_in_base;
    void (*plane_out)(const double *, int64_t, int64_t, double *) = plane_out_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2()) {
        plane_in = plane_in_avx2;
        plane_out = plane_out_avx2;
    }
#endif
    /* Bounds on |c| for the early end of the initial sums (init_done_note): the filter is the
     * inverse of the B-spline sampling matrix, diagonally dominant by 1/3, so each axis
     * multiplies the largest magnitude by at most 3 (4 here, for margin). */
    double all = 0;
    for (int64_t k = 0; k < nz; k++) {
        double *dst = c + k * plane;
        double mx = plane_in(vol + k * plane, nx, ny, t);   /* t[i][j] = vol[k][j][i] */
        all = mx > all ? mx : all;
        filter_lines(t, nx, ny, ny, acc, mx);               /* x: the ny lines of the plane */
        plane_out(t, nx, ny, dst);                          /* back: dst[j][i] = t[i][j] */
        filter_lines(dst, ny, nx, nx, acc, 4 * mx);         /* y: the nx lines of the plane */
    }
    for (int64_t l0 = 0; l0 < plane; l0 += PREFILTER_BLOCK) {   /* z: blocks of columns */
        int64_t m = plane - l0 < PREFILTER_BLOCK ? plane - l0 : PREFILTER_BLOCK;
        filter_lines(c + l0, nz, plane, m, acc, 16 * all);
    }
}
