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

/* ===== evaluation ====================================================== */
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
                idx = lrsa__mirror_index(idx, n[h]);
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
    return lrsa__view_init_stats(v, w, vol, dims, affine, interp, NULL, err);
}

int lrsa__view_init_stats(lrsa_render_view *v, lrsa_render_work *w, const float *vol,
                          const int64_t dims[3], const double affine[4][4], int interp,
                          const lrsa__vol_stats *st, lrsa_err *err)
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
    int binary;
    if (st) {   /* the clip range: [min(v, 0), max(v, 0)], +0 when v has no value below (above) 0 */
        binary = st->binary;
        v->lo = st->mn < 0 ? st->mn : 0.0f;
        v->hi = st->mx > 0 ? st->mx : 0.0f;
    } else {
        binary = is_binary(vol, n);
        float mn = 0, mx = 0;
        for (int64_t i = 0; i < n; i++) {
            mn = vol[i] < mn ? vol[i] : mn;
            mx = vol[i] > mx ? vol[i] : mx;
        }
        v->lo = mn;
        v->hi = mx;
    }
    v->order = binary ? 0 : interp == LRSA_INTERP_CUBIC ? 3 : 1;
    if (v->order == 3) {
        if (!w)
            return lrsa__prefilter_naive(vol, dims, &v->coef, err);
        size_t sz = lrsa__prefilter_scratch(dims);
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

/* ===== values for the screened view (lrsa__view_prepare in screen.c) ===== */
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
        if (!lrsa__view_maybe(v, f))
            return NAN;
    }
    return lrsa_render_view_value(v, gi, gj, gk);
}

/* Cubic evaluation of a batch of points, one per vector lane: each lane does view_value's
 * operations in view_value's order (the 64 products, each multiplied by the x, y, z weights in
 * turn, and the running sum), so each value is the same bits. Each lane's sum is a chain of 64
 * dependent additions: several vectors of independent chains keep the multipliers busy while
 * each waits. Points come as s[h][q] (input coordinate h of point q); out: the sums before the
 * float32 clip. */
#define CUBIC_BATCH 16

/* The floors of 8 coordinates. */
#define EVAL_CUBIC8_FLOORS                                                                   \
    const int64_t *n = v->in_dims;                                                          \
    double fl[3][8];                                                                        \
    for (int q = 0; q < 8; q++)                                                             \
        for (int h = 0; h < 3; h++)                                                         \
            fl[h][q] = floor(s[h][q]);                                                      \
    const double *c = v->coef;

/* spline_weights(x, 3, w), four lanes per vector, the same operations */
#define EVAL_CUBIC8_WEIGHTS                                                                  \
    lrsa__v4d wv[2][3][4];                                                                  \
    for (int g = 0; g < 2; g++)                                                             \
        for (int h = 0; h < 3; h++) {                                                       \
            const lrsa__v4d one = { 1.0, 1.0, 1.0, 1.0 }, two = { 2.0, 2.0, 2.0, 2.0 };     \
            const lrsa__v4d three = { 3.0, 3.0, 3.0, 3.0 }, four = { 4.0, 4.0, 4.0, 4.0 };  \
            const lrsa__v4d six = { 6.0, 6.0, 6.0, 6.0 };                                   \
            lrsa__v4d x = { s[h][4 * g], s[h][4 * g + 1], s[h][4 * g + 2], s[h][4 * g + 3] }; \
            lrsa__v4d f = { fl[h][4 * g], fl[h][4 * g + 1], fl[h][4 * g + 2], fl[h][4 * g + 3] }; \
            lrsa__v4d y = x - f, z = one - y;                                               \
            lrsa__v4d w1 = ((y * y) * (y - two)) * three, w2 = ((z * z) * (z - two)) * three; \
            w1 = (w1 + four) / six;                                                         \
            w2 = (w2 + four) / six;                                                         \
            lrsa__v4d w0 = ((z * z) * z) / six;                                             \
            wv[g][h][0] = w0;                                                               \
            wv[g][h][1] = w1;                                                               \
            wv[g][h][2] = w2;                                                               \
            wv[g][h][3] = ((one - w0) - w1) - w2;                                           \
        }

/* Each lane's tap offsets per axis, mirrored at the edges (map_coordinate, NI_EXTEND_MIRROR). */
#define EVAL_CUBIC8_OFFSETS                                                                  \
    const int64_t stride[3] = { 1, n[0], n[0] * n[1] };                                     \
    int64_t off[3][4][8]; /* [axis][tap][lane] */                                           \
    for (int q = 0; q < 8; q++)                                                             \
        for (int h = 0; h < 3; h++) {                                                       \
            int64_t start = (int64_t)fl[h][q] - 1;                                          \
            int edge = start < 0 || start + 3 >= n[h];                                      \
            for (int l = 0; l <= 3; l++) {                                                  \
                int64_t idx = start + l;                                                    \
                if (edge)                                                                   \
                    idx = lrsa__mirror_index(idx, n[h]);                                    \
                off[h][l][q] = idx * stride[h];                                             \
            }                                                                               \
        }

/* The 64 products and the running sums, the lanes' coefficients fetched one by one. */
#define EVAL_CUBIC8_SUMS                                                                     \
    lrsa__v4d t0 = { 0.0, 0.0, 0.0, 0.0 }, t1 = { 0.0, 0.0, 0.0, 0.0 };                     \
    for (int a = 0; a < 4; a++)                                                             \
        for (int bb = 0; bb < 4; bb++) {                                                    \
            const double *p[8];                                                             \
            for (int q = 0; q < 8; q++)                                                     \
                p[q] = c + off[0][a][q] + off[1][bb][q];                                    \
            for (int d = 0; d < 4; d++) {                                                   \
                lrsa__v4d c0 = { p[0][off[2][d][0]], p[1][off[2][d][1]], p[2][off[2][d][2]], \
                                 p[3][off[2][d][3]] };                                      \
                lrsa__v4d c1 = { p[4][off[2][d][4]], p[5][off[2][d][5]], p[6][off[2][d][6]], \
                                 p[7][off[2][d][7]] };                                      \
                c0 = c0 * wv[0][0][a];                                                      \
                c1 = c1 * wv[1][0][a];                                                      \
                c0 = c0 * wv[0][1][bb];                                                     \
                c1 = c1 * wv[1][1][bb];                                                     \
                c0 = c0 * wv[0][2][d];                                                      \
                c1 = c1 * wv[1][2][d];                                                      \
                t0 = t0 + c0;                                                               \
                t1 = t1 + c1;                                                               \
            }                                                                               \
        }                                                                                   \
    for (int q = 0; q < 4; q++) {                                                           \
        out[q] = t0[q];                                                                     \
        out[4 + q] = t1[q];                                                                 \
    }

/* 8 points: s[h][0..7]. */
static void eval_cubic8_base(const lrsa_render_view *v, const double *const s[3], double out[8])
{
    EVAL_CUBIC8_FLOORS
    EVAL_CUBIC8_WEIGHTS
    EVAL_CUBIC8_OFFSETS
    EVAL_CUBIC8_SUMS
}

static void eval_cubic_batch_base(const lrsa_render_view *v, const double *const s[3], int ng,
                                  double out[CUBIC_BATCH])
{
    for (int q0 = 0; q0 < 4 * ng; q0 += 8) {
        const double *const s8[3] = { s[0] + q0, s[1] + q0, s[2] + q0 };
        eval_cubic8_base(v, s8, out + q0);
    }
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* lrsa__mirror_index for a window tap (idx in [-1, n + 1]): one reflection, as a rule. */
static inline int64_t mirror_tap(int64_t idx, int64_t n)
{
    int64_t m = idx < 0 ? -idx : idx > n - 1 ? 2 * (n - 1) - idx : idx;
    return m >= 0 && m < n ? m : lrsa__mirror_index(idx, n);
}

/* t[a] = (r0[a], r1[a], r2[a], r3[a]), a = 0 .. 3: four 2-wide loads joined in pairs (x02 =
 * r0's taps 0, 1 and r2's taps 0, 1; and so on), then unpacked. */
__attribute__((target("avx2"), always_inline)) static inline void
transpose4(const double *r0, const double *r1, const double *r2, const double *r3, __m256d t[4])
{
    __m256d x02 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(r0)),
                                       _mm_loadu_pd(r2), 1);
    __m256d x13 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(r1)),
                                       _mm_loadu_pd(r3), 1);
    __m256d y02 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(r0 + 2)),
                                       _mm_loadu_pd(r2 + 2), 1);
    __m256d y13 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(r1 + 2)),
                                       _mm_loadu_pd(r3 + 2), 1);
    t[0] = _mm256_unpacklo_pd(x02, x13);
    t[1] = _mm256_unpackhi_pd(x02, x13);
    t[2] = _mm256_unpacklo_pd(y02, y13);
    t[3] = _mm256_unpackhi_pd(y02, y13);
}

/* The running sums of groups 0 .. NG-1 (NG a constant where it is inlined): four chains at most,
 * in registers. Tap (a, b, d) of group g is the vector at src[g] + a sa[g] + b sb[g] + d sd[g]. */
__attribute__((target("avx2"), always_inline)) static inline void
cubic_sums(int ng, const double *const src[4], const int64_t sa[4], const int64_t sb[4],
           const int64_t sd[4], const __m256d wv[][3][4], double *out)
{
    __m256d t0 = _mm256_setzero_pd(), t1 = t0, t2 = t0, t3 = t0;
#define CUBIC_STEP(g, tg)                                                                     \
    do {                                                                                    \
        __m256d p_ = _mm256_loadu_pd(src[g] + a * sa[g] + bb * sb[g] + d * sd[g]);         \
        p_ = _mm256_mul_pd(p_, wv[g][0][a]);                                                \
        p_ = _mm256_mul_pd(p_, wv[g][1][bb]);                                               \
        p_ = _mm256_mul_pd(p_, wv[g][2][d]);                                                \
        tg = _mm256_add_pd(tg, p_);                                                         \
    } while (0)
    for (int a = 0; a < 4; a++)
        for (int bb = 0; bb < 4; bb++)
#pragma GCC unroll 4
            for (int d = 0; d < 4; d++) {
                CUBIC_STEP(0, t0);
                if (ng > 1)
                    CUBIC_STEP(1, t1);
                if (ng > 2)
                    CUBIC_STEP(2, t2);
                if (ng > 3)
                    CUBIC_STEP(3, t3);
            }
#undef CUBIC_STEP
    _mm256_storeu_pd(out, t0);
    if (ng > 1)
        _mm256_storeu_pd(out + 4, t1);
    if (ng > 2)
        _mm256_storeu_pd(out + 8, t2);
    if (ng > 3)
        _mm256_storeu_pd(out + 12, t3);
}

/* Up to four groups of four lanes (ng groups: points 0 .. 4 ng - 1). Each group reads its taps
 * as vectors over its lanes:
 * - lanes at consecutive x cells of one (y, z) line (a row of a slice along x, as a rule): the
 *   taps of the four lanes are four consecutive coefficients, read in place;
 * - other windows inside the volume: each lane's four x taps of a (b, d) row are contiguous;
 *   transposed (transpose4) into buf;
 * - a window across the edge: each lane's mirrored (b, d) rows, transposed into buf.
 * A 16-point batch keeps the multipliers about as busy as 8 points did the adder before; the
 * gain is in the taps: fewer instructions per tap vector, none for the first kind. */
__attribute__((target("avx2"))) static void eval_cubic_batch_avx2(const lrsa_render_view *v,
                                                                   const double *const s[3],
                                                                   int ng, double out[CUBIC_BATCH])
{
    const int64_t *n = v->in_dims;
    const int64_t n0 = n[0], plane = n[0] * n[1];
    const double *c = v->coef;
    const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
    const __m256d three = _mm256_set1_pd(3.0), four = _mm256_set1_pd(4.0);
    const __m256d six = _mm256_set1_pd(6.0);
    __m256d wv[4][3][4];
    int32_t fl[3][CUBIC_BATCH];
    unsigned edge = 0;   /* bit 4 g + q: lane q of group g has a window across the edge */
    for (int g = 0; g < ng; g++)
        for (int h = 0; h < 3; h++) {
            __m256d x = _mm256_loadu_pd(s[h] + 4 * g), f = _mm256_floor_pd(x);
            /* start = floor - 1 < 0, or start + 3 >= n */
            __m256d top = _mm256_set1_pd((double)(n[h] - 2));
            __m256d e = _mm256_or_pd(_mm256_cmp_pd(f, one, _CMP_LT_OQ),
                                     _mm256_cmp_pd(f, top, _CMP_GE_OQ));
            edge |= (unsigned)_mm256_movemask_pd(e) << 4 * g;
            _mm_storeu_si128((__m128i *)(fl[h] + 4 * g), _mm256_cvttpd_epi32(f));
            __m256d y = _mm256_sub_pd(x, f), z = _mm256_sub_pd(one, y);
            __m256d w1 = _mm256_mul_pd(_mm256_mul_pd(y, y), _mm256_sub_pd(y, two));
            __m256d w2 = _mm256_mul_pd(_mm256_mul_pd(z, z), _mm256_sub_pd(z, two));
            w1 = _mm256_mul_pd(w1, three);
            w2 = _mm256_mul_pd(w2, three);
            w1 = _mm256_div_pd(_mm256_add_pd(w1, four), six);
            w2 = _mm256_div_pd(_mm256_add_pd(w2, four), six);
            __m256d w0 = _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(z, z), z), six);
            wv[g][h][0] = w0;
            wv[g][h][1] = w1;
            wv[g][h][2] = w2;
            wv[g][h][3] = _mm256_sub_pd(_mm256_sub_pd(_mm256_sub_pd(one, w0), w1), w2);
        }
    __m256d buf[4][4][4][4];   /* [group][b][d][a]: tap vectors */
    const double *src[4];
    int64_t sa[4], sb[4], sd[4];
    for (int g = 0; g < ng; g++) {
        const int32_t *fx = fl[0] + 4 * g, *fy = fl[1] + 4 * g, *fz = fl[2] + 4 * g;
        sa[g] = 4, sb[g] = 64, sd[g] = 16;
        src[g] = (const double *)buf[g];
        if (edge >> (4 * g) & 15) {
            /* each lane's mirrored (b, d) rows: in place from x0, or (a window across an x edge)
             * its mirrored x taps copied to xloc */
            int64_t oy[4][4], oz[4][4], x0[4];
            double xloc[4][16][4];
            unsigned xedge = 0;
            for (int q = 0; q < 4; q++) {
                x0[q] = (int64_t)fx[q] - 1;
                for (int l = 0; l < 4; l++) {
                    oy[q][l] = mirror_tap((int64_t)fy[q] - 1 + l, n[1]) * n0;
                    oz[q][l] = mirror_tap((int64_t)fz[q] - 1 + l, n[2]) * plane;
                }
                if (x0[q] >= 0 && x0[q] + 3 < n0)
                    continue;
                xedge |= 1u << q;
                int64_t ox[4];
                for (int l = 0; l < 4; l++)
                    ox[l] = mirror_tap(x0[q] + l, n0);
                for (int bd = 0; bd < 16; bd++) {
                    const double *row = c + oy[q][bd >> 2] + oz[q][bd & 3];
                    for (int a = 0; a < 4; a++)
                        xloc[q][bd][a] = row[ox[a]];
                }
            }
            for (int bb = 0; bb < 4; bb++)
                for (int d = 0; d < 4; d++) {
                    const double *rq[4];
                    for (int q = 0; q < 4; q++)
                        rq[q] = xedge >> q & 1 ? xloc[q][bb * 4 + d]
                                               : c + x0[q] + oy[q][bb] + oz[q][d];
                    transpose4(rq[0], rq[1], rq[2], rq[3], buf[g][bb][d]);
                }
            continue;
        }
        const double *r[4];
        for (int q = 0; q < 4; q++)
            r[q] = c + ((int64_t)fx[q] - 1) + n0 * ((int64_t)fy[q] - 1) +
                   plane * ((int64_t)fz[q] - 1);
        if (fx[1] == fx[0] + 1 && fx[2] == fx[0] + 2 && fx[3] == fx[0] + 3 &&
            fy[1] == fy[0] && fy[2] == fy[0] && fy[3] == fy[0] &&
            fz[1] == fz[0] && fz[2] == fz[0] && fz[3] == fz[0]) {
            src[g] = r[0];
            sa[g] = 1, sb[g] = n0, sd[g] = plane;
            continue;
        }
        for (int bb = 0; bb < 4; bb++)
            for (int d = 0; d < 4; d++) {
                int64_t o = bb * n0 + d * plane;
                transpose4(r[0] + o, r[1] + o, r[2] + o, r[3] + o, buf[g][bb][d]);
            }
    }
    switch (ng) {   /* one instance per number of chains */
    case 1: cubic_sums(1, src, sa, sb, sd, wv, out); break;
    case 2: cubic_sums(2, src, sa, sb, sd, wv, out); break;
    case 3: cubic_sums(3, src, sa, sb, sd, wv, out); break;
    default: cubic_sums(4, src, sa, sb, sd, wv, out); break;
    }
}
#endif

/* Input coordinates s[h][q] of the 4 grid voxels g[3q..3q+2] (as lrsa__view_value_or_nan
 * computes them); bit q of the result: inside the volume and not screened out. */
static unsigned coords4_base(const lrsa_render_view *v, const int64_t *g, double s[3][4])
{
    const int64_t *n = v->in_dims;
    unsigned ok = 0;
    for (int q = 0; q < 4; q++) {
        const int64_t *gp = g + 3 * q;
        int64_t f[3];
        int inside = 1;
        for (int h = 0; h < 3; h++) {
            double t = 0.0;
            t += (double)gp[0] * v->A[h][0];
            t += (double)gp[1] * v->A[h][1];
            t += (double)gp[2] * v->A[h][2];
            t += v->b[h];
            inside &= t >= 0 && t <= (double)(n[h] - 1);
            s[h][q] = t;
            f[h] = inside ? (int64_t)t : 0;   /* t >= 0: truncation is floor */
        }
        ok |= (unsigned)(inside && lrsa__view_maybe(v, f)) << q;
    }
    return ok;
}

#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static unsigned coords4_avx2(const lrsa_render_view *v,
                                                              const int64_t *g, double s[3][4])
{
    const int64_t *n = v->in_dims;
    /* (double)g[i], exactly, for |g[i]| < 2^51 (grid indices are far smaller): the integer
     * added to the bits of 1.5 * 2^52, then 1.5 * 2^52 subtracted */
    const __m256i magic_bits = _mm256_set1_epi64x(0x4338000000000000);
    const __m256d magic = _mm256_set1_pd(6755399441055744.0);
    __m256d r[3];
    for (int k = 0; k < 3; k++) {
        __m256i gi = _mm256_loadu_si256((const __m256i *)(g + 4 * k));
        r[k] = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(gi, magic_bits)), magic);
    }
    __m256d r0 = r[0], r1 = r[1], r2 = r[2];
    /* r0 = x0 y0 z0 x1, r1 = y1 z1 x2 y2, r2 = z2 x3 y3 z3: to one vector per axis */
    __m256d t1 = _mm256_permute2f128_pd(r0, r2, 0x21);   /* z0 x1 z2 x3 */
    __m256d t2 = _mm256_permute2f128_pd(r0, r2, 0x30);   /* x0 y0 y3 z3 */
    __m256d gd[3];
    gd[0] = _mm256_blend_pd(_mm256_blend_pd(t2, t1, 10), r1, 4);
    gd[1] = _mm256_permute_pd(_mm256_blend_pd(t2, r1, 9), 5);
    gd[2] = _mm256_blend_pd(_mm256_blend_pd(t1, r1, 2), t2, 8);
    __m256d in = _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), zero = _mm256_setzero_pd();
    __m128i f[3];
    for (int h = 0; h < 3; h++) {
        __m256d t = _mm256_add_pd(zero, _mm256_mul_pd(gd[0], _mm256_set1_pd(v->A[h][0])));
        t = _mm256_add_pd(t, _mm256_mul_pd(gd[1], _mm256_set1_pd(v->A[h][1])));
        t = _mm256_add_pd(t, _mm256_mul_pd(gd[2], _mm256_set1_pd(v->A[h][2])));
        t = _mm256_add_pd(t, _mm256_set1_pd(v->b[h]));
        in = _mm256_and_pd(in, _mm256_cmp_pd(t, zero, _CMP_GE_OQ));
        in = _mm256_and_pd(in, _mm256_cmp_pd(t, _mm256_set1_pd((double)(n[h] - 1)), _CMP_LE_OQ));
        _mm256_storeu_pd(s[h], t);
        f[h] = _mm256_cvttpd_epi32(t);   /* inside (t >= 0): the floor */
    }
    unsigned inside = (unsigned)_mm256_movemask_pd(in);
    if (!inside)
        return 0;
    const int64_t nw = v->maybe_words;
    if ((uint64_t)(n[1] * n[2]) * (uint64_t)nw < ((uint64_t)1 << 31)) {
        /* the screening bits of the inside lanes by one gather: word (fy + n1 fz) nw + fx / 64 */
        __m128i line = _mm_add_epi32(f[1], _mm_mullo_epi32(f[2], _mm_set1_epi32((int)n[1])));
        __m128i word = _mm_add_epi32(_mm_mullo_epi32(line, _mm_set1_epi32((int)nw)),
                                     _mm_srli_epi32(f[0], 6));
        __m256i w = _mm256_mask_i32gather_epi64(_mm256_setzero_si256(),
                                                (const long long *)v->maybe, word,
                                                _mm256_castpd_si256(in), 8);
        __m256i sh = _mm256_cvtepi32_epi64(_mm_and_si128(f[0], _mm_set1_epi32(63)));
        __m256i bit = _mm256_and_si256(_mm256_srlv_epi64(w, sh), _mm256_set1_epi64x(1));
        /* 1 -> all ones, whose sign bit movemask reads */
        bit = _mm256_sub_epi64(_mm256_setzero_si256(), bit);
        return (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(bit));
    }
    int32_t fl[3][4];
    for (int h = 0; h < 3; h++)
        _mm_storeu_si128((__m128i *)fl[h], f[h]);
    unsigned ok = 0;
    for (int q = 0; q < 4; q++)
        if (inside >> q & 1) {
            int64_t fq[3] = { fl[0][q], fl[1][q], fl[2][q] };
            ok |= (unsigned)lrsa__view_maybe(v, fq) << q;
        }
    return ok;
}
#endif

void lrsa__view_values_or_nan(const lrsa_render_view *v, const int64_t *g, int64_t cnt, float *out)
{
    if (!v->resampled || !v->maybe || v->order != 3) {
        for (int64_t p = 0; p < cnt; p++)
            out[p] = lrsa__view_value_or_nan(v, g[3 * p], g[3 * p + 1], g[3 * p + 2]);
        return;
    }
    unsigned (*coords4)(const lrsa_render_view *, const int64_t *, double[3][4]) = coords4_base;
    void (*eval)(const lrsa_render_view *, const double *const[3], int, double[CUBIC_BATCH]) =
        eval_cubic_batch_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2()) {
        coords4 = coords4_avx2;
        eval = eval_cubic_batch_avx2;
    }
#endif
    /* Chunks of points: first the coordinates and the screening of all, the points to
     * interpolate packed in cc; then those in batches (tails only at the ends of chunks). */
    enum { CHUNK = 256 };
    double cc[3][CHUNK + 8], s4[3][4], val[CUBIC_BATCH];
    int64_t where[CHUNK], gtail[12];
    for (int64_t c0 = 0; c0 < cnt; c0 += CHUNK) {
        int64_t cm = cnt - c0 < CHUNK ? cnt - c0 : CHUNK;
        int pending = 0;
        for (int64_t p0 = c0; p0 < c0 + cm; p0 += 4) {
            const int64_t *gp = g + 3 * p0;
            int m = c0 + cm - p0 < 4 ? (int)(c0 + cm - p0) : 4;
            if (m < 4) {   /* pad the last group with its first voxel */
                for (int q = 0; q < 4; q++)
                    for (int a = 0; a < 3; a++)
                        gtail[3 * q + a] = gp[3 * (q < m ? q : 0) + a];
                gp = gtail;
            }
            unsigned ok = coords4(v, gp, s4);
            if (ok == 15 && m == 4) {   /* the common case, at once */
                for (int h = 0; h < 3; h++)
                    memcpy(cc[h] + pending, s4[h], sizeof s4[h]);
                for (int q = 0; q < 4; q++)
                    where[pending + q] = p0 + q;
                pending += 4;
                continue;
            }
            for (int q = 0; q < m; q++) {
                if (!(ok >> q & 1)) {
                    out[p0 + q] = NAN;   /* outside (cval 0, never visible) or screened out */
                    continue;
                }
                for (int h = 0; h < 3; h++)
                    cc[h][pending] = s4[h][q];
                where[pending++] = p0 + q;
            }
        }
        for (int q = pending; q % 8; q++)   /* pad with the first point */
            for (int h = 0; h < 3; h++)
                cc[h][q] = cc[h][0];
        for (int k = 0; k < pending; k += CUBIC_BATCH) {
            int nb = pending - k < CUBIC_BATCH ? pending - k : CUBIC_BATCH;
            const double *const sk[3] = { cc[0] + k, cc[1] + k, cc[2] + k };
            eval(v, sk, (nb + 3) / 4, val);
            for (int r = 0; r < nb; r++)
                out[where[k + r]] = clip(v, val[r]);
        }
    }
}
