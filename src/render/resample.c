/* render: the world-aligned view of a volume, as nilearn 0.10.4's reorder_img(img,
 * resample="continuous") gives it: an axis permutation/flip, or resample_img to a diagonal
 * affine through scipy.ndimage.affine_transform (scipy 1.13 semantics, evaluated lazily). */
#include "render_impl.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== numpy's sums ==================================================== */
#define NP_BUFSIZE 8192
#define PW_BLOCKSIZE 128

#define DEFINE_PAIRWISE(name, T)                                                        \
    static T name(const T *a, int64_t n)                                                \
    {                                                                                   \
        if (n < 8) {                                                                    \
            T res = 0;                                                                  \
            for (int64_t i = 0; i < n; i++)                                             \
                res += a[i];                                                            \
            return res;                                                                 \
        } else if (n <= PW_BLOCKSIZE) {                                                 \
            T r[8], res;                                                                \
            int64_t i;                                                                  \
            for (int j = 0; j < 8; j++)                                                 \
                r[j] = a[j];                                                            \
            for (i = 8; i < n - (n % 8); i += 8)                                        \
                for (int j = 0; j < 8; j++)                                             \
                    r[j] += a[i + j];                                                   \
            res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));    \
            for (; i < n; i++)                                                          \
                res += a[i];                                                            \
            return res;                                                                 \
        } else {                                                                        \
            int64_t n2 = n / 2;                                                         \
            n2 -= n2 % 8;                                                               \
            T left = name(a, n2);                                                       \
            T right = name(a + n2, n - n2);                                             \
            return left + right;                                                        \
        }                                                                               \
    }
DEFINE_PAIRWISE(pairwise_f32, float)
DEFINE_PAIRWISE(pairwise_f64, double)

float lrsa__np_sum_f32(const float *a, int64_t n)
{
    float s = 0;
    for (int64_t i = 0; i < n; i += NP_BUFSIZE)
        s += pairwise_f32(a + i, n - i < NP_BUFSIZE ? n - i : NP_BUFSIZE);
    return s;
}

double lrsa__np_sum_f64(const double *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i += NP_BUFSIZE)
        s += pairwise_f64(a + i, n - i < NP_BUFSIZE ? n - i : NP_BUFSIZE);
    return s;
}

/* ===== 4x4 algebra ===================================================== */
/* Inverse through LAPACK's getrf + getri (scipy.linalg.inv). Returns 0, or -1 if singular. */
int lrsa__inv4(const double a[4][4], double out[4][4])
{
    double m[16];
    lapack_int ipiv[4];
    memcpy(m, a, sizeof m);
    if (LAPACKE_dgetrf(LAPACK_ROW_MAJOR, 4, 4, m, 4, ipiv) != 0)
        return -1;
    if (LAPACKE_dgetri(LAPACK_ROW_MAJOR, 4, m, 4, ipiv) != 0)
        return -1;
    for (int i = 0; i < 16; i++)
        if (!isfinite(m[i]))
            return -1;
    memcpy(out, m, sizeof m);
    return 0;
}

/* nilearn's coord_transform: affine @ [x y z 1]. */
void lrsa__apply4(const double a[4][4], const double in[3], double out[3])
{
    for (int r = 0; r < 3; r++)
        out[r] = a[r][0] * in[0] + a[r][1] * in[1] + a[r][2] * in[2] + a[r][3];
}

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
typedef double lrsa__v4d __attribute__((vector_size(32)));
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
    for (int64_t e = 0; e < n; e++) {                                                       \
        double *ce = c + e * es;                                                            \
        FOR_LINES(m, G_V, G_S);                                                             \
    }                                                                                       \
    double zi = z, zn1 = pow(z, (double)(n - 1));                                           \
    double *c0 = c, *cl = c + (n - 1) * es;                                                 \
    FOR_LINES(m, I0_V, I0_S);                                                               \
    for (int64_t e = 1; e < n - 1; e++) {                                                   \
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

/* gain */
#define G_V(l) V4_ST(ce + (l), V4_LD(ce + (l)) * gain)
#define G_S(l) ce[l] *= gain
/* _init_causal_mirror: acc = c0 + zn1 * cl; acc += zi * (ce + zn1 * cr); c0 = acc / den */
#define I0_V(l) do { lrsa__v4d t_ = V4_LD(cl + (l)) * zn1; V4_ST(acc + (l), V4_LD(c0 + (l)) + t_); } while (0)
#define I0_S(l) do { double t_ = zn1 * cl[l]; acc[l] = c0[l] + t_; } while (0)
#define I1_V(l) do { lrsa__v4d t_ = V4_LD(cr + (l)) * zn1; t_ = V4_LD(ce + (l)) + t_; t_ = t_ * zi;   \
                     V4_ST(acc + (l), V4_LD(acc + (l)) + t_); } while (0)
#define I1_S(l) do { double t_ = zn1 * cr[l]; t_ = ce[l] + t_; t_ = zi * t_; acc[l] += t_; } while (0)
#define I2_V(l) V4_ST(c0 + (l), V4_LD(acc + (l)) / den)
#define I2_S(l) c0[l] = acc[l] / den
/* causal: ce += z * cp */
#define C_V(l) do { lrsa__v4d t_ = V4_LD(cp + (l)) * z; V4_ST(ce + (l), V4_LD(ce + (l)) + t_); } while (0)
#define C_S(l) do { double t_ = z * cp[l]; ce[l] += t_; } while (0)
/* _init_anticausal_mirror: cl = (z * cp + cl) * z / (z * z - 1) */
#define A0_V(l) do { lrsa__v4d t_ = V4_LD(cp + (l)) * z; t_ = t_ + V4_LD(cl + (l)); t_ = t_ * z;      \
                     V4_ST(cl + (l), t_ / zz1); } while (0)
#define A0_S(l) do { double t_ = z * cp[l]; t_ = t_ + cl[l]; t_ = t_ * z; cl[l] = t_ / zz1; } while (0)
/* anticausal: ce = z * (cn - ce) */
#define A_V(l) do { lrsa__v4d t_ = V4_LD(cn + (l)) - V4_LD(ce + (l)); V4_ST(ce + (l), t_ * z); } while (0)
#define A_S(l) do { double t_ = cn[l] - ce[l]; ce[l] = z * t_; } while (0)

static void filter_lines_base(double *c, int64_t n, int64_t es, int64_t m, double *acc)
{
    FILTER_LINES_BODY
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define LRSA_HAVE_AVX2_CLONE 1
__attribute__((target("avx2"))) static void filter_lines_avx2(double *c, int64_t n, int64_t es,
                                                               int64_t m, double *acc)
{
    FILTER_LINES_BODY
}
#endif

#ifdef LRSA_HAVE_AVX2_CLONE
static int have_avx2(void)
{
    static int have = -1;   /* -1 unknown; set once, the same value by every thread */
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return h;
}
#endif

static void filter_lines(double *c, int64_t n, int64_t es, int64_t m, double *acc)
{
#ifdef LRSA_HAVE_AVX2_CLONE
    if (have_avx2()) {
        filter_lines_avx2(c, n, es, m, acc);
        return;
    }
#endif
    filter_lines_base(c, n, es, m, acc);
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
        filter_lines(c + k * plane, d[1], d[0], d[0], acc);
    filter_lines(c, d[2], plane, plane, acc);   /* z: whole planes at once */
    free(acc);
    *out = c;
    return LRSA_OK;
}

/* The same filter, cache-friendly: per z plane, the plane is transposed so that the x lines of
 * all its rows are filtered at once (element-wise over the rows, no recursion latency), put
 * back, and filtered along y; then z in blocks of columns small enough to stay in cache. Each
 * line sees exactly filter_line's operations, so the coefficients are the same bits.
 * c: d[0]*d[1]*d[2] doubles; scratch: 2 * d[0]*d[1] + PREFILTER_BLOCK doubles. */
#define PREFILTER_BLOCK 256
void lrsa__prefilter(const float *vol, const int64_t d[3], double *c, double *scratch)
{
    const int64_t nx = d[0], ny = d[1], nz = d[2], plane = nx * ny;
    double *t = scratch, *acc = scratch + plane;
    for (int64_t k = 0; k < nz; k++) {
        const float *src = vol + k * plane;
        double *dst = c + k * plane;
        for (int64_t j0 = 0; j0 < ny; j0 += 16) {       /* t[i][j] = vol[k][j][i] */
            int64_t j1 = j0 + 16 < ny ? j0 + 16 : ny;
            for (int64_t i = 0; i < nx; i++)
                for (int64_t j = j0; j < j1; j++)
                    t[i * ny + j] = (double)src[j * nx + i];
        }
        filter_lines(t, nx, ny, ny, acc);               /* x: the ny lines of the plane */
        for (int64_t i0 = 0; i0 < nx; i0 += 16) {       /* back: dst[j][i] = t[i][j] */
            int64_t i1 = i0 + 16 < nx ? i0 + 16 : nx;
            for (int64_t j = 0; j < ny; j++)
                for (int64_t i = i0; i < i1; i++)
                    dst[j * nx + i] = t[i * ny + j];
        }
        filter_lines(dst, ny, nx, nx, acc);             /* y: the nx lines of the plane */
    }
    for (int64_t l0 = 0; l0 < plane; l0 += PREFILTER_BLOCK) {   /* z: blocks of columns */
        int64_t m = plane - l0 < PREFILTER_BLOCK ? plane - l0 : PREFILTER_BLOCK;
        filter_lines(c + l0, nz, plane, m, acc);
    }
}

/* ===== evaluation ====================================================== */
/* ni_interpolation.c map_coordinate, NI_EXTEND_MIRROR, for the spline window at the edges. */
static int64_t mirror_index(int64_t in, int64_t len)
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

/* get_spline_interpolation_weights(x, order, w) for orders 1 and 3. */
static void spline_weights(double x, int order, double *w)
{
    x -= floor(x);
    if (order == 1) {
        w[0] = 1.0 - x;
    } else {
        double y = x, z = 1.0 - x;
        w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
        w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
        w[0] = z * z * z / 6.0;
    }
    w[order] = 1.0;
    for (int i = 0; i < order; i++)
        w[order] -= w[i];
}

static float clip(const lrsa_render_view *v, double t)
{
    float f = (float)t;
    return f < v->lo ? v->lo : f > v->hi ? v->hi : f;
}

float lrsa_render_view_value(const lrsa_render_view *v, int64_t gi, int64_t gj, int64_t gk)
{
    const int64_t *n = v->in_dims;
    if (!v->resampled) {
        int64_t g[3] = { gi, gj, gk }, in[3];
        for (int a = 0; a < 3; a++) {
            int64_t len = n[v->perm[a]];
            in[v->perm[a]] = v->flip[a] ? len - 1 - g[a] : g[a];
        }
        return v->vol[in[0] + n[0] * (in[1] + n[1] * in[2])];
    }
    /* NI_GeometricTransform with a matrix: icoor = sum(coord * matrix) + shift */
    double cc[3];
    for (int h = 0; h < 3; h++) {
        double s = 0.0;
        s += (double)gi * v->A[h][0];
        s += (double)gj * v->A[h][1];
        s += (double)gk * v->A[h][2];
        s += v->b[h];
        if (!(s >= 0) || s > (double)(n[h] - 1))   /* mode 'constant': cval outside */
            return clip(v, 0.0);
        cc[h] = s;
    }
    const int order = v->order;
    if (order == 0) {
        int64_t idx[3];
        for (int h = 0; h < 3; h++)
            idx[h] = (int64_t)floor(cc[h] + 0.5);
        return clip(v, v->vol[idx[0] + n[0] * (idx[1] + n[1] * idx[2])]);
    }
    double w[3][4];
    int64_t off[3][4];
    const int64_t stride[3] = { 1, n[0], n[0] * n[1] };
    for (int h = 0; h < 3; h++) {
        int64_t start = (int64_t)floor(cc[h]) - order / 2;
        for (int l = 0; l <= order; l++) {
            int64_t idx = start + l;
            if (start < 0 || start + order >= n[h])
                idx = mirror_index(idx, n[h]);
            off[h][l] = idx * stride[h];
        }
        spline_weights(cc[h], order, w[h]);
    }
    double t = 0.0;
    if (order == 3) {
        const double *c = v->coef;
        for (int a = 0; a < 4; a++)
            for (int bb = 0; bb < 4; bb++) {
                int64_t o = off[0][a] + off[1][bb];
                for (int d = 0; d < 4; d++) {
                    double coeff = c[o + off[2][d]];
                    coeff *= w[0][a];
                    coeff *= w[1][bb];
                    coeff *= w[2][d];
                    t += coeff;
                }
            }
    } else {
        const float *c = v->vol;
        for (int a = 0; a < 2; a++)
            for (int bb = 0; bb < 2; bb++) {
                int64_t o = off[0][a] + off[1][bb];
                for (int d = 0; d < 2; d++) {
                    double coeff = c[o + off[2][d]];
                    coeff *= w[0][a];
                    coeff *= w[1][bb];
                    coeff *= w[2][d];
                    t += coeff;
                }
            }
    }
    return clip(v, t);
}

/* ===== the view ======================================================== */
static int is_binary(const float *vol, int64_t n)
{
    int seen0 = 0, seen1 = 0;
    for (int64_t i = 0; i < n; i++) {
        if (vol[i] == 0.0f)
            seen0 = 1;
        else if (vol[i] == 1.0f)
            seen1 = 1;
        else
            return 0;
    }
    return seen0 && seen1;
}

/* reorder_img without resampling: columns permuted and flipped to RAS. */
static int setup_reorder(lrsa_render_view *v, const double affine[4][4], lrsa_err *err)
{
    int axis_of[3];  /* axis_numbers: the row holding each column's largest entry */
    for (int c = 0; c < 3; c++) {
        int best = 0;
        for (int r = 1; r < 3; r++)
            if (fabs(affine[r][c]) > fabs(affine[best][c]))
                best = r;
        axis_of[c] = best;
    }
    int used[3] = { 0, 0, 0 };
    for (int c = 0; c < 3; c++) {
        if (used[axis_of[c]])
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine maps two voxel axes to one world axis");
        used[axis_of[c]] = 1;
        v->perm[axis_of[c]] = c;
    }
    memset(v->affine, 0, sizeof v->affine);
    for (int r = 0; r < 3; r++) {
        int c = v->perm[r];
        double pix = affine[r][c], b = affine[r][3];
        v->dims[r] = v->in_dims[c];
        v->flip[r] = pix < 0;
        if (pix < 0) {
            b = b + pix * (double)(v->dims[r] - 1);
            pix = -pix;
        }
        if (pix == 0)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine is singular");
        v->affine[r][r] = pix;
        v->affine[r][3] = b;
    }
    v->affine[3][3] = 1;
    return LRSA_OK;
}

/* reorder_img -> resample_img(img, target_affine=diag(...)) for an oblique affine. */
static int setup_resample(lrsa_render_view *v, const double affine[4][4], lrsa_err *err)
{
    /* Q, R = np.linalg.qr(affine[:3, :3]); target = diag(|diag(R)|[argmax(|Q|, axis=1)]) */
    double qr[9], tau[3];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            qr[r * 3 + c] = affine[r][c];
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, 3, 3, qr, 3, tau) != 0)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine could not be factorised");
    double rdiag[3];
    for (int i = 0; i < 3; i++)
        rdiag[i] = fabs(qr[i * 3 + i]);
    if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, 3, 3, 3, qr, 3, tau) != 0)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine could not be factorised");
    double d[3];
    for (int r = 0; r < 3; r++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            if (fabs(qr[r * 3 + c]) > fabs(qr[r * 3 + best]))
                best = c;
        d[r] = rdiag[best];
        if (!(d[r] > 0))
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine is singular");
    }
    /* transform = inv(target) @ affine; bounds of the 8 corner voxel centres in it */
    double lo[3], hi[3];
    for (int r = 0; r < 3; r++) {
        lo[r] = INFINITY;
        hi[r] = -INFINITY;
    }
    for (int corner = 0; corner < 8; corner++) {
        double p[3] = { (corner & 1) ? (double)(v->in_dims[0] - 1) : 0.0,
                        (corner & 2) ? (double)(v->in_dims[1] - 1) : 0.0,
                        (corner & 4) ? (double)(v->in_dims[2] - 1) : 0.0 };
        for (int r = 0; r < 3; r++) {
            double inv = 1.0 / d[r];
            double t = (affine[r][0] * inv) * p[0] + (affine[r][1] * inv) * p[1] +
                       (affine[r][2] * inv) * p[2] + (affine[r][3] * inv);
            lo[r] = t < lo[r] ? t : lo[r];
            hi[r] = t > hi[r] ? t : hi[r];
        }
    }
    double target[4][4];
    memset(target, 0, sizeof target);
    for (int r = 0; r < 3; r++) {
        target[r][r] = d[r];
        target[r][3] = d[r] * lo[r];
        double ext = hi[r] - lo[r];
        v->dims[r] = (int64_t)ceil(ext) + 1;
        if (v->dims[r] > 4 * 65536)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the resampled grid would be too large");
    }
    target[3][3] = 1;
    memcpy(v->affine, target, sizeof target);
    /* transform_affine = scipy.linalg.inv(affine) @ target */
    double inv[4][4];
    if (lrsa__inv4(affine, inv))
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "the affine is singular");
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            v->A[r][c] = inv[r][c] * target[c][c];
        v->b[r] = inv[r][0] * target[0][3] + inv[r][1] * target[1][3] + inv[r][2] * target[2][3] +
                  inv[r][3];
    }
    return LRSA_OK;
}

int lrsa__view_init(lrsa_render_view *v, lrsa_render_work *w, const float *vol,
                    const int64_t dims[3], const double affine[4][4], int interp, lrsa_err *err)
{
    memset(v, 0, sizeof *v);
    v->work = w;
    if (interp != LRSA_INTERP_CUBIC && interp != LRSA_INTERP_LINEAR)
        return LRSA_FAIL(err, LRSA_EMISUSE, "unknown interpolation %d", interp);
    for (int a = 0; a < 3; a++)
        if (dims[a] < 2)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                             "a 3-D volume is needed: axis %d has %lld voxel(s)", a,
                             (long long)dims[a]);
    int rc = LRSA_OK;
    v->vol = vol;
    memcpy(v->in_dims, dims, sizeof v->in_dims);
    int64_t n = dims[0] * dims[1] * dims[2];
    int oblique = 0;
    for (int c = 0; c < 3; c++) {
        int big = 0;
        for (int r = 0; r < 3; r++)
            big += fabs(affine[r][c]) > 0.001;
        if (big != 1)
            oblique = 1;
    }
    if (!oblique)
        return setup_reorder(v, affine, err);
    v->resampled = 1;
    if ((rc = setup_resample(v, affine, err)))
        return rc;
    v->order = is_binary(vol, n) ? 0 : interp == LRSA_INTERP_CUBIC ? 3 : 1;
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        mn = vol[i] < mn ? vol[i] : mn;
        mx = vol[i] > mx ? vol[i] : mx;
    }
    v->lo = mn;
    v->hi = mx;
    if (v->order == 3) {
        if (!w)
            return lrsa__prefilter_naive(vol, dims, &v->coef, err);
        size_t sz = (size_t)(dims[0] * dims[1]) * 2 + PREFILTER_BLOCK;
        v->coef = lrsa__buf_get(&w->b[LRSA__W_COEF], (size_t)n * sizeof *v->coef,
                                "spline coefficients", err);
        double *scratch = lrsa__buf_get(&w->b[LRSA__W_ACC], sz * sizeof *scratch, "spline lines", err);
        if (!v->coef || !scratch)
            return LRSA_ENOMEM;
        lrsa__prefilter(vol, dims, v->coef, scratch);
    }
    return LRSA_OK;
}

void lrsa__view_release(lrsa_render_view *v)
{
    if (!v->work) {
        free(v->coef);
        free(v->maybe);
    }
    v->coef = NULL;
    v->maybe = NULL;
}

int lrsa_render_view_new(const float *vol, const int64_t dims[3], const double affine[4][4],
                         int interp, lrsa_render_view **out, lrsa_err *err)
{
    *out = NULL;
    lrsa_render_view *v = lrsa_calloc(1, sizeof *v, "render view", err);
    if (!v)
        return LRSA_ENOMEM;
    int rc = lrsa__view_init(v, NULL, vol, dims, affine, interp, err);
    if (rc) {
        lrsa_render_view_free(v);
        return rc;
    }
    *out = v;
    return LRSA_OK;
}

void lrsa_render_view_free(lrsa_render_view *v)
{
    if (!v)
        return;
    lrsa__view_release(v);
    free(v);
}

void lrsa_render_view_grid(const lrsa_render_view *v, int64_t dims[3], double affine[4][4],
                           int *resampled)
{
    if (dims)
        memcpy(dims, v->dims, sizeof v->dims);
    if (affine)
        memcpy(affine, v->affine, sizeof v->affine);
    if (resampled)
        *resampled = v->resampled;
}

/* ===== screening and the visible bounding box =========================== */
/* The interpolated value is a convex combination of the coefficients in its window (weights
 * >= 0, summing to 1), so it can only exceed thr if one of them does. maybe[f] says whether the
 * window of a coordinate with floor f (per axis) holds such a coefficient. */
static void or_rows(uint8_t *restrict t, const uint8_t *restrict src, int64_t n)
{
    int64_t l = 0;
    for (; l + 8 <= n; l += 8) {   /* eight bytes at a time */
        uint64_t a, b;
        memcpy(&a, t + l, 8);
        memcpy(&b, src + l, 8);
        a |= b;
        memcpy(t + l, &a, 8);
    }
    for (; l < n; l++)
        t[l] |= src[l];
}

static void dilate_axis(uint8_t *m, uint8_t *tmp, const int64_t n[3], int axis, int lo, int hi)
{
    int64_t len = n[axis];
    if (axis == 0) {   /* contiguous lines: a sliding OR, mirrored at both ends */
        for (int64_t line = 0; line < n[1] * n[2]; line++) {
            uint8_t *base = m + line * len;
            int64_t f0 = -lo, f1 = f0;   /* [f0, f1): the interior, eight bytes at a time */
            for (; f1 + 8 + hi <= len; f1 += 8) {
                uint64_t any = 0, word;
                for (int d = lo; d <= hi; d++) {
                    memcpy(&word, base + f1 + d, 8);
                    any |= word;
                }
                memcpy(tmp + f1, &any, 8);
            }
            for (int64_t f = 0; f < len; f++) {
                if (f == f0 && f1 > f0)
                    f = f1;
                if (f >= len)
                    break;
                uint8_t any = 0;
                if (f + lo >= 0 && f + hi < len) {
                    for (int d = lo; d <= hi; d++)
                        any |= base[f + d];
                } else {
                    for (int d = lo; d <= hi; d++)
                        any |= base[mirror_index(f + d, len)];
                }
                tmp[f] = any;
            }
            memcpy(base, tmp, (size_t)len);
        }
        return;
    }
    /* element e of a line lies at e * es; the lines of a block are contiguous */
    int64_t es = axis == 1 ? n[0] : n[0] * n[1];
    int64_t blocks = n[0] * n[1] * n[2] / (len * es);
    for (int64_t bk = 0; bk < blocks; bk++) {
        uint8_t *base = m + bk * len * es;
        for (int64_t f = 0; f < len; f++) {
            uint8_t *t = tmp + f * es;
            memset(t, 0, (size_t)es);
            for (int d = lo; d <= hi; d++)
                or_rows(t, base + mirror_index(f + d, len) * es, es);
        }
        memcpy(base, tmp, (size_t)(len * es));
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
    int64_t total = n[0] * n[1] * n[2];
    uint8_t *tmp;
    if (v->work) {
        v->maybe = lrsa__buf_get(&v->work->b[LRSA__W_MAYBE], (size_t)total, "render screening mask", err);
        tmp = lrsa__buf_get(&v->work->b[LRSA__W_TMP], (size_t)total, "render screening", err);
        if (!v->maybe || !tmp)
            return LRSA_ENOMEM;
    } else {
        free(v->maybe);
        v->maybe = lrsa_malloc((size_t)total, "render screening mask", err);
        tmp = lrsa_malloc((size_t)total, "render screening", err);
        if (!v->maybe || !tmp) {
            free(tmp);
            return LRSA_ENOMEM;
        }
    }
    /* |t| <= max|c| * (1 + 1e-13) before the float32 rounding (relative 6e-8): a margin of 1e-6
     * keeps every voxel that could round above thr. */
    double hot = (double)thr * (1.0 - 1e-6);
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    if (v->order == 3)
        for (int64_t idx = 0; idx < total; idx++)
            v->maybe[idx] = fabs(v->coef[idx]) > hot;
    else
        for (int64_t idx = 0; idx < total; idx++)
            v->maybe[idx] = fabs((double)v->vol[idx]) > hot;
    int dlo = v->order == 3 ? -1 : 0, dhi = v->order == 3 ? 2 : 1;
    for (int a = 0; a < 3; a++)
        dilate_axis(v->maybe, tmp, n, a, dlo, dhi);
    /* bounding box of maybe: planes (z), rows (y), and the OR of all rows (x) */
    uint8_t *acc = tmp;   /* reuse: n[0] bytes */
    memset(acc, 0, (size_t)n[0]);
    for (int64_t k = 0; k < n[2]; k++)
        for (int64_t j = 0; j < n[1]; j++) {
            const uint8_t *row = v->maybe + n[0] * (j + n[1] * k);
            if (!memchr(row, 1, (size_t)n[0]))
                continue;
            or_rows(acc, row, n[0]);
            lo[1] = j < lo[1] ? j : lo[1];
            hi[1] = j > hi[1] ? j : hi[1];
            lo[2] = k < lo[2] ? k : lo[2];
            hi[2] = k > hi[2] ? k : hi[2];
        }
    for (int64_t i = 0; i < n[0]; i++)
        if (acc[i]) {
            lo[0] = i < lo[0] ? i : lo[0];
            hi[0] = i;
        }
    if (!v->work)
        free(tmp);
    v->region_empty = hi[0] < 0;
    if (v->region_empty)
        return LRSA_OK;
    /* grid voxels g with A g + b in [lo, hi + 1) per axis: the box of the preimage, 1 voxel wider */
    inv3(v->A, v->Ainv);
    double glo[3] = { INFINITY, INFINITY, INFINITY }, ghi[3] = { -INFINITY, -INFINITY, -INFINITY };
    for (int corner = 0; corner < 8; corner++) {
        double c[3];
        for (int a = 0; a < 3; a++)
            c[a] = ((corner >> a) & 1 ? (double)hi[a] + 1 : (double)lo[a]) - v->b[a];
        for (int r = 0; r < 3; r++) {
            double g = v->Ainv[r][0] * c[0] + v->Ainv[r][1] * c[1] + v->Ainv[r][2] * c[2];
            glo[r] = g < glo[r] ? g : glo[r];
            ghi[r] = g > ghi[r] ? g : ghi[r];
        }
    }
    for (int a = 0; a < 3; a++) {
        double l = floor(glo[a]) - 1, h = ceil(ghi[a]) + 1;
        l = l < 0 ? 0 : l;
        h = h > (double)(v->dims[a] - 1) ? (double)(v->dims[a] - 1) : h;
        v->region[2 * a] = (int64_t)l;
        v->region[2 * a + 1] = (int64_t)h;
        if (l > h)
            v->region_empty = 1;
    }
    return LRSA_OK;
}

float lrsa__view_value_or_nan(const lrsa_render_view *v, int64_t gi, int64_t gj, int64_t gk)
{
    if (v->resampled && v->maybe) {
        const int64_t *n = v->in_dims;
        int64_t f[3];
        for (int h = 0; h < 3; h++) {
            double s = 0.0;
            s += (double)gi * v->A[h][0];
            s += (double)gj * v->A[h][1];
            s += (double)gk * v->A[h][2];
            s += v->b[h];
            if (!(s >= 0) || s > (double)(n[h] - 1))
                return NAN;   /* cval 0, never visible for thr >= 0 */
            f[h] = (int64_t)floor(s);
        }
        if (!v->maybe[f[0] + n[0] * (f[1] + n[1] * f[2])])
            return NAN;
    }
    return lrsa_render_view_value(v, gi, gj, gk);
}

/* Cubic evaluation of 4 voxels at once, one per vector lane: each lane does view_value's
 * operations in view_value's order (the 64 products and the running sum), so each value is the
 * same bits; the four independent sums hide the latency of the chain of additions. */
#define EVAL_CUBIC4_BODY                                                                     \
    const int64_t *n = v->in_dims;                                                          \
    const int64_t stride[3] = { 1, n[0], n[0] * n[1] };                                     \
    int64_t off[3][4][4]; /* [axis][tap][lane] */                                           \
    double w[4][3][4];                                                                      \
    for (int q = 0; q < 4; q++)                                                             \
        for (int h = 0; h < 3; h++) {                                                       \
            int64_t start = (int64_t)floor(cc[q][h]) - 1;                                   \
            for (int l = 0; l <= 3; l++) {                                                  \
                int64_t idx = start + l;                                                    \
                if (start < 0 || start + 3 >= n[h])                                         \
                    idx = mirror_index(idx, n[h]);                                          \
                off[h][l][q] = idx * stride[h];                                             \
            }                                                                               \
            spline_weights(cc[q][h], 3, w[q][h]);                                           \
        }                                                                                   \
    lrsa__v4d wv[3][4];                                                                     \
    for (int h = 0; h < 3; h++)                                                             \
        for (int l = 0; l < 4; l++)                                                         \
            wv[h][l] = (lrsa__v4d){ w[0][h][l], w[1][h][l], w[2][h][l], w[3][h][l] };       \
    const double *c = v->coef;                                                              \
    lrsa__v4d t = { 0.0, 0.0, 0.0, 0.0 };                                                   \
    for (int a = 0; a < 4; a++)                                                             \
        for (int bb = 0; bb < 4; bb++) {                                                    \
            const double *p0 = c + off[0][a][0] + off[1][bb][0];                            \
            const double *p1 = c + off[0][a][1] + off[1][bb][1];                            \
            const double *p2 = c + off[0][a][2] + off[1][bb][2];                            \
            const double *p3 = c + off[0][a][3] + off[1][bb][3];                            \
            for (int d = 0; d < 4; d++) {                                                   \
                lrsa__v4d coeff = { p0[off[2][d][0]], p1[off[2][d][1]], p2[off[2][d][2]],   \
                                    p3[off[2][d][3]] };                                     \
                coeff = coeff * wv[0][a];                                                   \
                coeff = coeff * wv[1][bb];                                                  \
                coeff = coeff * wv[2][d];                                                   \
                t = t + coeff;                                                              \
            }                                                                               \
        }                                                                                   \
    for (int q = 0; q < 4; q++)                                                             \
        out[q] = t[q];

/* Cubic evaluation of 4 voxels at once, one per vector lane: each lane does view_value's
 * operations in view_value's order (the 64 products, each multiplied by the x, y, z weights in
 * turn, and the running sum), so each value is the same bits; the four independent sums hide
 * the latency of the chain of additions. out: the sums before the float32 clip. */
static void eval_cubic4_base(const lrsa_render_view *v, const double cc[4][3], double out[4])
{
    EVAL_CUBIC4_BODY
}
#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static void eval_cubic4_avx2(const lrsa_render_view *v,
                                                              const double cc[4][3], double out[4])
{
    EVAL_CUBIC4_BODY
}
#endif

static void eval_cubic4(const lrsa_render_view *v, const double cc[4][3], float out[4])
{
    double t[4];
#ifdef LRSA_HAVE_AVX2_CLONE
    if (have_avx2())
        eval_cubic4_avx2(v, cc, t);
    else
#endif
        eval_cubic4_base(v, cc, t);
    for (int q = 0; q < 4; q++)
        out[q] = clip(v, t[q]);
}

void lrsa__view_values_or_nan(const lrsa_render_view *v, const int64_t *g, int64_t cnt, float *out)
{
    if (!v->resampled || !v->maybe || v->order != 3) {
        for (int64_t p = 0; p < cnt; p++)
            out[p] = lrsa__view_value_or_nan(v, g[3 * p], g[3 * p + 1], g[3 * p + 2]);
        return;
    }
    const int64_t *n = v->in_dims;
    double cc[4][3];
    float val[4];
    int64_t where[4];
    int pending = 0;
    for (int64_t p = 0; p < cnt; p++) {
        const int64_t *gp = g + 3 * p;
        int64_t f[3];
        int inside = 1;
        for (int h = 0; h < 3 && inside; h++) {   /* as lrsa__view_value_or_nan */
            double s = 0.0;
            s += (double)gp[0] * v->A[h][0];
            s += (double)gp[1] * v->A[h][1];
            s += (double)gp[2] * v->A[h][2];
            s += v->b[h];
            if (!(s >= 0) || s > (double)(n[h] - 1))
                inside = 0;
            cc[pending][h] = s;
            f[h] = (int64_t)floor(s);
        }
        if (!inside || !v->maybe[f[0] + n[0] * (f[1] + n[1] * f[2])]) {
            out[p] = NAN;
            continue;
        }
        where[pending++] = p;
        if (pending == 4) {
            eval_cubic4(v, (const double(*)[3])cc, val);
            for (int q = 0; q < 4; q++)
                out[where[q]] = val[q];
            pending = 0;
        }
    }
    if (pending) {
        for (int q = pending; q < 4; q++)   /* pad with the first voxel */
            for (int h = 0; h < 3; h++)
                cc[q][h] = cc[0][h];
        eval_cubic4(v, (const double(*)[3])cc, val);
        for (int q = 0; q < pending; q++)
            out[where[q]] = val[q];
    }
}

/* Does the slab of grid voxels with coordinate s along axis a, inside box, hold a visible one? */
static int slab_visible(const lrsa_render_view *v, int a, int64_t s, const int64_t box[6])
{
    int b = (a + 1) % 3, c = (a + 2) % 3;
    int64_t g[3 * 64];
    float val[64];
    for (int64_t y = box[2 * c]; y <= box[2 * c + 1]; y++)
        for (int64_t x0 = box[2 * b]; x0 <= box[2 * b + 1]; x0 += 64) {
            int64_t cnt = box[2 * b + 1] + 1 - x0 < 64 ? box[2 * b + 1] + 1 - x0 : 64;
            for (int64_t q = 0; q < cnt; q++) {
                g[3 * q + a] = s;
                g[3 * q + b] = x0 + q;
                g[3 * q + c] = y;
            }
            lrsa__view_values_or_nan(v, g, cnt, val);
            for (int64_t q = 0; q < cnt; q++)
                if (val[q] == val[q] && lrsa__visible(val[q], v->thr))
                    return 1;
        }
    return 0;
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
