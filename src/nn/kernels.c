/* Elementwise kernels of the ViT forward pass: vectorised erf and exp, bias + GELU, layernorm,
 * softmax, each with a naive reference. See kernels.h.
 *
 * erf (AVX2): |z| < 0.9: erf(z) = z * (c0 + s * R(s)), s = z^2, with c0 = 2/sqrt(pi) split into
 * float hi + lo so that the leading term is rounded once (R: degree 5, fitted by Lawson's
 * iteration for relative error 3e-10). 0.9 <= |z| < 4: erf(z) = 1 - exp(-z^2) * Q(1/z), with
 * Q(u) ~ erfcx(1/u) a degree 9 polynomial in u - 0.68 (relative error 3.6e-8). |z| >= 4:
 * 1 (erfc(4) = 1.5e-8). Odd: the sign of z is copied. Measured maximum absolute error 7e-8.
 *
 * exp (AVX2): x = n ln2 + r with n = round(x / ln2) and Cody-Waite ln2 = C1 + C2 (C1 has 11
 * significant bits, so n * C1 is exact), |r| <= ln2 / 2; exp(r) = 1 + r + r^2 * q(r) with q
 * degree 5 (relative error 5e-11), evaluated by Horner with FMA; times 2^n via the exponent
 * bits. The coefficients were fitted with numpy (Lawson's iteration on Chebyshev nodes).
 *
 * The scalar path uses libm's erff and expf (glibc: < 1 ulp). */
#include "kernels.h"
#include "latentrsa/core.h"

#include <math.h>
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LRSA_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* ===== dispatch ================================================================================ */

static int force_scalar;

int lrsa_nn_simd(void)
{
    if (force_scalar)
        return 0;
#ifdef LRSA_HAVE_AVX2_PATH
    return lrsa_cpu_avx2_fma();
#else
    return 0;
#endif
}

void lrsa_nn_force_scalar(int on)
{
    force_scalar = on;
}

/* ===== erf and exp ============================================================================= */

#define ERF_R0 0.9f
#define ERF_C0HI 1.128379225730896f        /* 2 / sqrt(pi) rounded to float */
#define ERF_C0LO -5.8635382771399236e-08f  /* 2 / sqrt(pi) - ERF_C0HI */
static const float erf_r[6] = { /* erf(z) / z = c0 + s * (r0 + r1 s + ... + r5 s^5) */
    -0.37612634897232056f, 0.11283715069293976f, -0.02686050906777382f,
    0.005203858949244022f, -0.0008175639668479562f, 8.513104694429785e-05f
};
#define ERF_UMID 0.6805555555555556f
static const float erf_q[10] = { /* erfc(z) exp(z^2) = sum q_k (1/z - ERF_UMID)^k */
    0.32666659355163574f, 0.3635481595993042f, -0.16474059224128723f, 0.047625500708818436f,
    0.012028682045638561f, -0.03383486345410347f, 0.0352422259747982f, -0.025949642062187195f,
    0.00033118200371973217f, 0.017640087753534317f
};

#define EXP_HI 88.72283935546875f          /* above: +inf */
#define EXP_LO -87.33654022216797f         /* below: 0 (the smallest normal is exp(-87.34)) */
#define EXP_LOG2E 1.44269504088896341f
#define EXP_C1 0.693359375f
#define EXP_C2 -2.12194440e-4f
static const float exp_q[6] = { /* exp(r) = 1 + r + r^2 (q0 + q1 r + ... + q5 r^5) */
    0.5f, 0.1666666567325592f, 0.04166629537940025f, 0.008333496749401093f,
    0.0013944648671895266f, 0.00019790352962445468f
};

#ifdef LRSA_HAVE_AVX2_PATH
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(EXP_HI), lo = _mm256_set1_ps(EXP_LO);
    __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi); /* NaN -> lo; fixed below */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(EXP_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_C1), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_C2), r);
    __m256 q = _mm256_set1_ps(exp_q[5]);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(exp_q[4]));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(exp_q[3]));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(exp_q[2]));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(exp_q[1]));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(exp_q[0]));
    __m256 p = _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    /* 2^n: n in [-126, 128]; split 2^n = 2^(n/2) 2^(n - n/2) so n = 128 does not overflow */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    p = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    p = _mm256_andnot_ps(under, p);
    p = _mm256_blendv_ps(p, _mm256_set1_ps(INFINITY), over);
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(p, x, nan);
}

AVX2 static inline __m256 erf8(__m256 x)
{
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 sign = _mm256_and_ps(x, signbit);
    __m256 z = _mm256_andnot_ps(signbit, x);
    __m256 s = _mm256_mul_ps(z, z);
    __m256 small = _mm256_cmp_ps(z, _mm256_set1_ps(ERF_R0), _CMP_LT_OQ);
    __m256 big = _mm256_cmp_ps(z, _mm256_set1_ps(4.0f), _CMP_GE_OQ);
    __m256 res;
    /* |z| < 0.9 */
    __m256 t = _mm256_set1_ps(erf_r[5]);
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(erf_r[4]));
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(erf_r[3]));
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(erf_r[2]));
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(erf_r[1]));
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(erf_r[0]));
    t = _mm256_fmadd_ps(t, s, _mm256_set1_ps(ERF_C0LO));
    __m256 p1 = _mm256_fmadd_ps(z, _mm256_set1_ps(ERF_C0HI), _mm256_mul_ps(z, t));
    int m_small = _mm256_movemask_ps(small);
    if (m_small == 0xff) {
        res = p1;
    } else {
        /* 0.9 <= |z| < 4 */
        __m256 zc = _mm256_max_ps(z, _mm256_set1_ps(ERF_R0));
        __m256 u = _mm256_sub_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), zc), _mm256_set1_ps(ERF_UMID));
        __m256 q = _mm256_set1_ps(erf_q[9]);
        for (int k = 8; k >= 0; k--)
            q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(erf_q[k]));
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(zc, zc)));
        __m256 p2 = _mm256_fnmadd_ps(e, q, _mm256_set1_ps(1.0f));
        p2 = _mm256_blendv_ps(p2, _mm256_set1_ps(1.0f), big);
        res = _mm256_blendv_ps(p2, p1, small);
    }
    res = _mm256_or_ps(res, sign);
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(res, x, nan);
}

AVX2 static void erf_avx2(float *out, const float *in, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, erf8(_mm256_loadu_ps(in + i)));
    if (i < n) {
        float buf[8] = { 0 };
        for (int64_t k = i; k < n; k++)
            buf[k - i] = in[k];
        _mm256_storeu_ps(buf, erf8(_mm256_loadu_ps(buf)));
        for (int64_t k = i; k < n; k++)
            out[k] = buf[k - i];
    }
}

AVX2 static void exp_avx2(float *out, const float *in, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, exp8(_mm256_loadu_ps(in + i)));
    if (i < n) {
        float buf[8] = { 0 };
        for (int64_t k = i; k < n; k++)
            buf[k - i] = in[k];
        _mm256_storeu_ps(buf, exp8(_mm256_loadu_ps(buf)));
        for (int64_t k = i; k < n; k++)
            out[k] = buf[k - i];
    }
}

/* out = 1 / (1 + exp(-in)) */
AVX2 static void sigmoid_avx2(float *out, const float *in, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(in + i)));
        _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    if (i < n) {
        float buf[8] = { 0 };
        for (int64_t k = i; k < n; k++)
            buf[k - i] = in[k];
        __m256 e = exp8(_mm256_sub_ps(zero, _mm256_loadu_ps(buf)));
        _mm256_storeu_ps(buf, _mm256_div_ps(one, _mm256_add_ps(one, e)));
        for (int64_t k = i; k < n; k++)
            out[k] = buf[k - i];
    }
}

/* one row: x = gelu(x + b) */
AVX2 static void bias_gelu_row_avx2(float *x, const float *bias, int64_t n)
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 alpha = _mm256_set1_ps((float)M_SQRT1_2);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        if (bias)
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        __m256 e = erf8(_mm256_mul_ps(v, alpha));
        _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_mul_ps(v, half), _mm256_add_ps(one, e)));
    }
    for (; j < n; j++) {
        float v = x[j] + (bias ? bias[j] : 0.0f);
        x[j] = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
    }
}

/* one row of n floats: softmax in place */
AVX2 static void softmax_row_avx2(float *x, int64_t n)
{
    int64_t j = 0;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= n; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
    float mx[8];
    _mm256_storeu_ps(mx, vmax);
    float m = mx[0];
    for (int k = 1; k < 8; k++)
        m = mx[k] > m ? mx[k] : m;
    for (; j < n; j++)
        m = x[j] > m ? x[j] : m;
    __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
        _mm256_storeu_ps(x + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float part[8];
    _mm256_storeu_ps(part, acc);
    double sum = 0.0;
    for (int k = 0; k < 8; k++)
        sum += part[k];
    if (j < n) {
        float buf[8] = { 0 };
        int64_t rest = n - j;
        for (int64_t k = 0; k < rest; k++)
            buf[k] = x[j + k] - m;
        _mm256_storeu_ps(buf, exp8(_mm256_loadu_ps(buf)));
        for (int64_t k = 0; k < rest; k++) {
            x[j + k] = buf[k];
            sum += buf[k];
        }
    }
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (j = 0; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), inv));
    float invs = (float)(1.0 / sum);
    for (; j < n; j++)
        x[j] *= invs;
}
#endif /* LRSA_HAVE_AVX2_PATH */

void lrsa_nn_erf(float *out, const float *in, int64_t n)
{
#ifdef LRSA_HAVE_AVX2_PATH
    if (lrsa_nn_simd()) {
        erf_avx2(out, in, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        out[i] = erff(in[i]);
}

void lrsa_nn_exp(float *out, const float *in, int64_t n)
{
#ifdef LRSA_HAVE_AVX2_PATH
    if (lrsa_nn_simd()) {
        exp_avx2(out, in, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        out[i] = expf(in[i]);
}

void lrsa_nn_sigmoid(float *out, const float *in, int64_t n)
{
#ifdef LRSA_HAVE_AVX2_PATH
    if (lrsa_nn_simd()) {
        sigmoid_avx2(out, in, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        out[i] = 1.0f / (1.0f + expf(-in[i]));
}

void lrsa_nn_sigmoid_naive(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)(1.0 / (1.0 + exp(-(double)in[i])));
}

/* ===== bias + GELU ============================================================================= */

static void bias_gelu_row_scalar(float *x, const float *bias, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        float v = x[j] + (bias ? bias[j] : 0.0f);
        x[j] = v * 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
    }
}

void lrsa_nn_bias_gelu(float *x, const float *bias, int64_t rows, int64_t n, int threads)
{
    int simd = lrsa_nn_simd();
    (void)simd;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + (size_t)r * (size_t)n;
#ifdef LRSA_HAVE_AVX2_PATH
        if (simd) {
            bias_gelu_row_avx2(row, bias, n);
            continue;
        }
#endif
        bias_gelu_row_scalar(row, bias, n);
    }
}

void lrsa_nn_bias_gelu_naive(float *x, const float *bias, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) {
            double v = (double)x[r * n + j] + (bias ? (double)bias[j] : 0.0);
            x[r * n + j] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
        }
}

/* ===== layernorm =============================================================================== */

static void layernorm_row(float *out, const float *in, const float *w, const float *b, int64_t C,
                          float eps)
{
    double s = 0.0;
    for (int64_t j = 0; j < C; j++)
        s += in[j];
    double mean = s / (double)C;
    double ss = 0.0;
    for (int64_t j = 0; j < C; j++) {
        double d = (double)in[j] - mean;
        ss += d * d;
    }
    float rstd = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
    float shift = -rstd * (float)mean;
    for (int64_t j = 0; j < C; j++)
        out[j] = (in[j] * rstd + shift) * w[j] + b[j];
}

void lrsa_nn_layernorm(float *out, const float *in, const float *w, const float *b,
                       int64_t rows, int64_t C, float eps, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (int64_t r = 0; r < rows; r++)
        layernorm_row(out + (size_t)r * (size_t)C, in + (size_t)r * (size_t)C, w, b, C, eps);
}

void lrsa_nn_layernorm_naive(float *out, const float *in, const float *w, const float *b,
                             int64_t rows, int64_t C, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = in + r * C;
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < C; j++)
            mean += x[j];
        mean /= (double)C;
        for (int64_t j = 0; j < C; j++)
            var += ((double)x[j] - mean) * ((double)x[j] - mean);
        var /= (double)C;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int64_t j = 0; j < C; j++)
            out[r * C + j] = (float)(((double)x[j] - mean) * rstd * (double)w[j] + (double)b[j]);
    }
}

/* ===== softmax ================================================================================= */

static void softmax_row_scalar(float *x, int64_t n)
{
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++)
        x[j] *= inv;
}

void lrsa_nn_softmax_rows(float *x, int64_t rows, int64_t n, int64_t ld)
{
#ifdef LRSA_HAVE_AVX2_PATH
    if (lrsa_nn_simd()) {
        for (int64_t r = 0; r < rows; r++)
            softmax_row_avx2(x + (size_t)r * (size_t)ld, n);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++)
        softmax_row_scalar(x + (size_t)r * (size_t)ld, n);
}

void lrsa_nn_softmax_rows_naive(float *x, int64_t rows, int64_t n, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        double m = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < n; j++)
            m = row[j] > m ? row[j] : m;
        for (int64_t j = 0; j < n; j++)
            sum += exp((double)row[j] - m);
        for (int64_t j = 0; j < n; j++)
            row[j] = (float)(exp((double)row[j] - m) / sum);
    }
}
