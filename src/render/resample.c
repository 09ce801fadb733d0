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
 * in l): the recursions run over whole rows or planes, so memory is read in order and the loops
 * vectorise. Per line the arithmetic is exactly filter_line's. */
static void filter_lines(double *c, int64_t n, int64_t es, int64_t m, double *acc)
{
    const double z = POLE3;
    if (n < 2)
        return;
    double gain = (1.0 - z) * (1.0 - 1.0 / z);
    for (int64_t e = 0; e < n; e++)
        for (int64_t l = 0; l < m; l++)
            c[e * es + l] *= gain;
    double zi = z, zn1 = pow(z, (double)(n - 1));
    double *c0 = c, *cl = c + (n - 1) * es;
    for (int64_t l = 0; l < m; l++)
        acc[l] = c0[l] + zn1 * cl[l];
    for (int64_t e = 1; e < n - 1; e++) {
        const double *ce = c + e * es, *cr = c + (n - 1 - e) * es;
        for (int64_t l = 0; l < m; l++)
            acc[l] += zi * (ce[l] + zn1 * cr[l]);
        zi *= z;
    }
    double den = 1 - zn1 * zn1;
    for (int64_t l = 0; l < m; l++)
        c0[l] = acc[l] / den;
    for (int64_t e = 1; e < n; e++) {
        double *ce = c + e * es;
        const double *cp = ce - es;
        for (int64_t l = 0; l < m; l++)
            ce[l] += z * cp[l];
    }
    const double *cp = cl - es;
    for (int64_t l = 0; l < m; l++)
        cl[l] = (z * cp[l] + cl[l]) * z / (z * z - 1);
    for (int64_t e = n - 2; e >= 0; e--) {
        double *ce = c + e * es;
        const double *cn = ce + es;
        for (int64_t l = 0; l < m; l++)
            ce[l] = z * (cn[l] - ce[l]);
    }
}

/* spline_filter: axis 0 (x), then 1, then 2, in double. */
static int prefilter(const float *vol, const int64_t d[3], double **out, lrsa_err *err)
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

int lrsa_render_view_new(const float *vol, const int64_t dims[3], const double affine[4][4],
                         int interp, lrsa_render_view **out, lrsa_err *err)
{
    *out = NULL;
    if (interp != LRSA_INTERP_CUBIC && interp != LRSA_INTERP_LINEAR)
        return LRSA_FAIL(err, LRSA_EMISUSE, "unknown interpolation %d", interp);
    for (int a = 0; a < 3; a++)
        if (dims[a] < 2)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                             "a 3-D volume is needed: axis %d has %lld voxel(s)", a,
                             (long long)dims[a]);
    lrsa_render_view *v = lrsa_calloc(1, sizeof *v, "render view", err);
    if (!v)
        return LRSA_ENOMEM;
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
    if (!oblique) {
        rc = setup_reorder(v, affine, err);
        goto done;
    }
    v->resampled = 1;
    if ((rc = setup_resample(v, affine, err)))
        goto done;
    v->order = is_binary(vol, n) ? 0 : interp == LRSA_INTERP_CUBIC ? 3 : 1;
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        mn = vol[i] < mn ? vol[i] : mn;
        mx = vol[i] > mx ? vol[i] : mx;
    }
    v->lo = mn;
    v->hi = mx;
    if (v->order == 3)
        rc = prefilter(vol, dims, &v->coef, err);
done:
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
    free(v->coef);
    free(v->maybe);
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
            for (int64_t f = 0; f < len; f++) {
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
    free(v->maybe);
    v->maybe = lrsa_malloc((size_t)total, "render screening mask", err);
    uint8_t *tmp = lrsa_malloc((size_t)total, "render screening", err);
    if (!v->maybe || !tmp) {
        free(tmp);
        return LRSA_ENOMEM;
    }
    /* |t| <= max|c| * (1 + 1e-13) before the float32 rounding (relative 6e-8): a margin of 1e-6
     * keeps every voxel that could round above thr. */
    double hot = (double)thr * (1.0 - 1e-6);
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    for (int64_t idx = 0; idx < total; idx++) {
        double c = v->order == 3 ? v->coef[idx] : (double)v->vol[idx];
        v->maybe[idx] = fabs(c) > hot;
    }
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

/* Does the slab of grid voxels with coordinate s along axis a, inside box, hold a visible one? */
static int slab_visible(const lrsa_render_view *v, int a, int64_t s, const int64_t box[6])
{
    int b = (a + 1) % 3, c = (a + 2) % 3;
    int64_t g[3];
    g[a] = s;
    for (int64_t y = box[2 * c]; y <= box[2 * c + 1]; y++)
        for (int64_t x = box[2 * b]; x <= box[2 * b + 1]; x++) {
            g[b] = x;
            g[c] = y;
            float val = lrsa__view_value_or_nan(v, g[0], g[1], g[2]);
            if (val == val && lrsa__visible(val, v->thr))
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
