/* Comparing two RDM vectors: the upper triangle, average-tie ranks, Pearson, Spearman, Kendall
 * tau-a and cosine, and the method/alternative names (include/latentrsa/compare.h).
 *
 * m = number of values (RDM upper-triangle entries), up to 12.5M at N = 5000 stimuli.
 * Sorting is a stable LSD radix sort over the doubles' order-preserving bit patterns: values that
 * come from float32 RDMs have 29 zero mantissa bits, and digits that are the same for every value
 * are skipped, so a typical rank costs 4 passes over the data instead of ~24 comparison levels. */
#include "latentrsa/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif

/* ===== Names ============================================================ */

static const char *const method_names[] = {
    "pearson", "spearman", "kendall-tau-a", "cosine", "cka-linear", "cka-linear-debiased"
};
static const char *const alt_names[] = { "greater", "two-sided" };

int lrsa_cmp_method_parse(const char *text, lrsa_cmp_method *out, lrsa_err *err)
{
    if (!text || !out)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_cmp_method_parse: NULL argument");
    for (int i = 0; i < (int)(sizeof method_names / sizeof *method_names); i++) {
        if (strcmp(text, method_names[i]) == 0) {
            *out = (lrsa_cmp_method)i;
            return LRSA_OK;
        }
    }
    return LRSA_FAIL(err, LRSA_EFORMAT, "unknown comparison method '%s' (expected pearson, "
                     "spearman, kendall-tau-a, cosine, cka-linear or cka-linear-debiased)", text);
}

const char *lrsa_cmp_method_name(lrsa_cmp_method m)
{
    if ((int)m < 0 || (int)m >= (int)(sizeof method_names / sizeof *method_names))
        return "unknown";
    return method_names[m];
}

int lrsa_alternative_parse(const char *text, lrsa_alternative *out, lrsa_err *err)
{
    if (!text || !out)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_alternative_parse: NULL argument");
    for (int i = 0; i < (int)(sizeof alt_names / sizeof *alt_names); i++) {
        if (strcmp(text, alt_names[i]) == 0) {
            *out = (lrsa_alternative)i;
            return LRSA_OK;
        }
    }
    return LRSA_FAIL(err, LRSA_EFORMAT,
                     "unknown alternative '%s' (expected greater or two-sided)", text);
}

const char *lrsa_alternative_name(lrsa_alternative a)
{
    if ((int)a < 0 || (int)a >= (int)(sizeof alt_names / sizeof *alt_names))
        return "unknown";
    return alt_names[a];
}

/* ===== Upper triangle =================================================== */

void lrsa_rdm_upper(const float *rdm, int64_t n, double *out)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = rdm + i * n;
        for (int64_t j = i + 1; j < n; j++)
            out[k++] = (double)row[j];
    }
}

/* ===== Large scratch buffers ========================================== */

/* malloc for the 50-100 MB scratch arrays, 2 MiB aligned and marked for transparent huge pages
 * where Linux offers them (THP "madvise" mode): the radix passes scatter to 2048 places at once,
 * which thrashes the TLB with 4 KiB pages (~20% of a rank at m = 12.5M). Free with free(). */
static void *big_alloc(size_t bytes, const char *what, lrsa_err *err)
{
#if defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        size_t rounded = (bytes + huge - 1) / huge * huge;
        void *p = aligned_alloc(huge, rounded);
        if (p) {
            madvise(p, rounded, MADV_HUGEPAGE);
            return p;
        }
    }
#endif
    return lrsa_malloc(bytes ? bytes : 1, what, err);
}

/* ===== Radix sort ======================================================= */

#ifndef RADIX_BITS
#define RADIX_BITS 11
#endif
#define RADIX_SIZE (1 << RADIX_BITS)
#define RADIX_MASK (RADIX_SIZE - 1)
#define RADIX_MAX_M ((int64_t)UINT32_MAX)

/* An unsigned key with the order of the double: flip all bits of negatives, the sign bit of
 * positives. -0.0 maps to +0.0's key, every NaN to one key above +inf. */
static inline uint64_t key64(double v)
{
    uint64_t u;
    if (v == 0.0)
        return UINT64_C(0x8000000000000000);
    if (v != v)
        return UINT64_C(0xfff8000000000000);
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | UINT64_C(0x8000000000000000));
}

/* The same for a float (the caller has checked that the double is exactly this float). */
static inline uint32_t key32(float f)
{
    uint32_t u;
    if (f == 0.0f)
        return UINT32_C(0x80000000);
    memcpy(&u, &f, sizeof u);
    return (u >> 31) ? ~u : (u | UINT32_C(0x80000000));
}

/* Items (indices 0..m-1) in the stable order of their values. Two layouts:
 *  packed (every value is exactly a float, as RDM entries from float32 are): p[t] = key32 << 32 |
 *    item, sorted on the upper 32 bits: 3 passes of 8 bytes per item;
 *  wide (any double): p[t] = key64, i[t] = item: up to 6 passes of 12 bytes per item.
 * Passes whose digit is the same for every key are skipped. */
typedef struct sorter {
    int packed;
    int key_lo;            /* packed: the lowest bit of the key (32; 0 for a 64-bit composite) */
    int64_t m;
    uint64_t *p, *p2;
    uint32_t *i, *i2;      /* wide layout only */
} sorter;

static inline uint32_t sorter_item(const sorter *s, int64_t t)
{
    return s->packed ? (uint32_t)s->p[t] : s->i[t];
}

/* Whether sorted positions a and b hold equal values. */
static inline int sorter_same(const sorter *s, int64_t a, int64_t b)
{
    return s->packed ? (s->p[a] >> 32) == (s->p[b] >> 32) : s->p[a] == s->p[b];
}

static void sorter_free(sorter *s)
{
    free(s->p);
    free(s->p2);
    free(s->i);
    free(s->i2);
    memset(s, 0, sizeof *s);
}

/* One LSD pass on digit `shift` if it varies: keys from ps, items from is (wide), into pd/id.
 * Returns 1 if it moved the data. */
static int radix_pass(const uint64_t *ps, uint64_t *pd, const uint32_t *is, uint32_t *id,
                      int64_t m, uint32_t *h, int shift)
{
    if (h[(ps[0] >> shift) & RADIX_MASK] == (uint32_t)m)
        return 0;
    uint32_t sum = 0;
    for (int b = 0; b < RADIX_SIZE; b++) {
        uint32_t c = h[b];
        h[b] = sum;
        sum += c;
    }
    if (is) {
        for (int64_t t = 0; t < m; t++) {
            uint64_t k = ps[t];
            uint32_t pos = h[(k >> shift) & RADIX_MASK]++;
            pd[pos] = k;
            id[pos] = is[t];
        }
    } else {
        for (int64_t t = 0; t < m; t++) {
            uint64_t k = ps[t];
            pd[h[(k >> shift) & RADIX_MASK]++] = k;
        }
    }
    return 1;
}

static void radix_sort(sorter *s)
{
    enum { MAX_DIGITS = (64 + RADIX_BITS - 1) / RADIX_BITS };
    int shift[MAX_DIGITS], nd = 0;
    for (int b = s->packed ? s->key_lo : 0; b < 64; b += RADIX_BITS)
        shift[nd++] = b;
    uint32_t hist[MAX_DIGITS][RADIX_SIZE];      /* 48 KiB */
    int64_t m = s->m;
    memset(hist, 0, sizeof hist);
    for (int64_t t = 0; t < m; t++) {
        uint64_t k = s->p[t];
        for (int d = 0; d < nd; d++)
            hist[d][(k >> shift[d]) & RADIX_MASK]++;
    }
    for (int d = 0; d < nd; d++) {
        if (radix_pass(s->p, s->p2, s->packed ? NULL : s->i, s->packed ? NULL : s->i2, m,
                       hist[d], shift[d])) {
            uint64_t *tp = s->p; s->p = s->p2; s->p2 = tp;
            uint32_t *ti = s->i; s->i = s->i2; s->i2 = ti;
        }
    }
}

/* Sort the items by v[item], stably: from the identity order, or (keep_order) from the order the
 * sorter holds now, so that sorting by y and then by x gives (x, y) order. */
static int sorter_sort(sorter *s, const double *v, int64_t m, int keep_order, lrsa_err *err)
{
    if (m > RADIX_MAX_M)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                         "cannot sort %lld values (at most 4294967295)", (long long)m);
    size_t n = m > 0 ? (size_t)m : 1;
    int packed = 1;
    for (int64_t t = 0; t < m && packed; t++)
        packed = (double)(float)v[t] == v[t];
    if (!s->p) {
        s->p = big_alloc(n * sizeof *s->p, "sort keys", err);
        s->p2 = s->p ? big_alloc(n * sizeof *s->p2, "sort keys", err) : NULL;
        if (!s->p2)
            return LRSA_ENOMEM;
        s->m = m;
    }
    if (!packed && !s->i) {
        s->i = big_alloc(n * sizeof *s->i, "sort indices", err);
        s->i2 = s->i ? big_alloc(n * sizeof *s->i2, "sort indices", err) : NULL;
        if (!s->i2)
            return LRSA_ENOMEM;
    }
    /* Each position is read before it is written, so the layouts can be switched in place. */
    for (int64_t t = 0; t < m; t++) {
        uint32_t item = keep_order ? sorter_item(s, t) : (uint32_t)t;
        if (packed) {
            s->p[t] = (uint64_t)key32((float)v[item]) << 32 | item;
        } else {
            s->p[t] = key64(v[item]);
            s->i[t] = item;
        }
    }
    s->packed = packed;
    s->key_lo = 32;
    radix_sort(s);
    return LRSA_OK;
}

/* Whether every value is exactly a float. */
static int all_float(const double *v, int64_t m)
{
    for (int64_t t = 0; t < m; t++)
        if ((double)(float)v[t] != v[t])
            return 0;
    return 1;
}

/* ===== Ranks ============================================================ */

int lrsa_rank_average(const double *x, int64_t m, double *ranks, lrsa_err *err)
{
    sorter s = { 0 };
    int rc;
    if (m <= 0)
        return LRSA_OK;
    if ((rc = sorter_sort(&s, x, m, 0, err)))
        goto done;
    /* Positions i..j-1 (0-based) hold one value: ranks i+1..j, average (i + 1 + j) / 2. */
    for (int64_t i = 0; i < m;) {
        int64_t j = i + 1;
        while (j < m && sorter_same(&s, j, i))
            j++;
        double r = 0.5 * (double)(i + 1 + j);
        for (int64_t t = i; t < j; t++)
            ranks[sorter_item(&s, t)] = r;
        i = j;
    }
done:
    sorter_free(&s);
    return rc;
}

/* ===== Sums, checks ===================================================== */

/* Sum in double by blocks (4 accumulators within a block of 4096, blocks added in order), so the
 * rounding error grows with the number of blocks, not of terms. */
static double sum_blocked(const double *x, int64_t m)
{
    double total = 0.0;
    for (int64_t b = 0; b < m; b += 4096) {
        int64_t e = b + 4096 < m ? b + 4096 : m;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t i = b;
        for (; i + 4 <= e; i += 4) {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        for (; i < e; i++)
            s0 += x[i];
        total += (s0 + s1) + (s2 + s3);
    }
    return total;
}

static const char *vec_name(int which)
{
    return which == 0 ? "first vector" : "second vector";
}

/* Mean of x; fails on a non-finite value (found when the sum is not finite). */
static int checked_mean(const double *x, int64_t m, int which, double *mean, lrsa_err *err)
{
    double s = sum_blocked(x, m);
    if (!isfinite(s)) {
        for (int64_t i = 0; i < m; i++)
            if (!isfinite(x[i]))
                return LRSA_FAIL(err, LRSA_EFORMAT, "non-finite value at position %lld of the %s",
                                 (long long)i, vec_name(which));
        /* All finite, the sum overflowed: scale down. */
        double s2 = 0.0;
        for (int64_t b = 0; b < m; b += 4096) {
            int64_t e = b + 4096 < m ? b + 4096 : m;
            double t = 0.0;
            for (int64_t i = b; i < e; i++)
                t += x[i] * 0x1p-64;
            s2 += t;
        }
        *mean = s2 / (double)m * 0x1p64;
        return LRSA_OK;
    }
    *mean = s / (double)m;
    return LRSA_OK;
}

static int check_finite(const double *x, int64_t m, int which, lrsa_err *err)
{
    double mean;
    return checked_mean(x, m, which, &mean, err);
}

static int is_constant(const double *x, int64_t m)
{
    double x0 = x[0];
    for (int64_t i = 1; i < m; i++)
        if (x[i] != x0)
            return 0;
    return 1;
}

static int fail_constant(int which, int64_t m, lrsa_err *err)
{
    return LRSA_FAIL(err, LRSA_EFORMAT, "the %s has no variance (all %lld values are equal)",
                     vec_name(which), (long long)m);
}

static int check_m(int64_t m, lrsa_err *err)
{
    if (m < 2)
        return LRSA_FAIL(err, LRSA_EEMPTY, "need at least 2 values to compare, got %lld",
                         (long long)m);
    return LRSA_OK;
}

static double clip1(double r)
{
    return r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
}

/* Sum of (x - mx)(y - my) (or squares when y == x), scaled by sx * sy, in blocks. */
static double centred_dot(const double *x, double mx, double sx, const double *y, double my,
                          double sy, int64_t m)
{
    double total = 0.0;
    for (int64_t b = 0; b < m; b += 4096) {
        int64_t e = b + 4096 < m ? b + 4096 : m;
        double s0 = 0, s1 = 0;
        int64_t i = b;
        for (; i + 2 <= e; i += 2) {
            s0 += ((x[i] - mx) * sx) * ((y[i] - my) * sy);
            s1 += ((x[i + 1] - mx) * sx) * ((y[i + 1] - my) * sy);
        }
        for (; i < e; i++)
            s0 += ((x[i] - mx) * sx) * ((y[i] - my) * sy);
        total += s0 + s1;
    }
    return total;
}

/* Scale factor 1 / max|x - mx| (a power of two, so that scaling is exact), for inputs whose
 * squares would overflow or underflow. */
static double scale_of(const double *x, double mx, int64_t m)
{
    double amax = 0.0;
    for (int64_t i = 0; i < m; i++) {
        double a = fabs(x[i] - mx);
        if (a > amax)
            amax = a;
    }
    if (amax == 0.0 || !isfinite(amax))
        return 1.0;
    int e;
    frexp(amax, &e);
    return ldexp(1.0, -e);
}

/* Centred sum of squares, safe against overflow/underflow: returns ss * scale^2 and sets *scale. */
static double safe_ss(const double *x, double mx, int64_t m, double *scale)
{
    double ss = centred_dot(x, mx, 1.0, x, mx, 1.0, m);
    *scale = 1.0;
    if (!(ss > 1e-250 && ss < 1e250)) {
        *scale = scale_of(x, mx, m);
        ss = centred_dot(x, mx, *scale, x, mx, *scale, m);
    }
    return ss;
}

/* Pearson r of two finite, non-constant vectors. */
static int pearson(const double *x, const double *y, int64_t m, double *r, lrsa_err *err)
{
    double mx, my, sx, sy;
    int rc;
    if ((rc = checked_mean(x, m, 0, &mx, err)) || (rc = checked_mean(y, m, 1, &my, err)))
        return rc;
    if (is_constant(x, m))
        return fail_constant(0, m, err);
    if (is_constant(y, m))
        return fail_constant(1, m, err);
    double sxx = safe_ss(x, mx, m, &sx);
    double syy = safe_ss(y, my, m, &sy);
    if (!(sxx > 0.0))
        return fail_constant(0, m, err);
    if (!(syy > 0.0))
        return fail_constant(1, m, err);
    double sxy = centred_dot(x, mx, sx, y, my, sy, m);
    *r = clip1(sxy / (sqrt(sxx) * sqrt(syy)));
    return LRSA_OK;
}

int lrsa_standardize_vector(const double *x, int64_t m, double *out, lrsa_err *err)
{
    double mx, sx;
    int rc;
    if ((rc = check_m(m, err)) || (rc = checked_mean(x, m, 0, &mx, err)))
        return rc;
    if (is_constant(x, m))
        return LRSA_FAIL(err, LRSA_EFORMAT, "the vector has no variance (all %lld values are "
                         "equal)", (long long)m);
    double ss = safe_ss(x, mx, m, &sx);
    if (!(ss > 0.0))
        return LRSA_FAIL(err, LRSA_EFORMAT, "the vector has no variance");
    double f = 1.0 / sqrt(ss);
    for (int64_t i = 0; i < m; i++)
        out[i] = ((x[i] - mx) * sx) * f;
    return LRSA_OK;
}

/* ===== Cosine =========================================================== */

static double scaled_dot(const double *x, double sx, const double *y, double sy, int64_t m)
{
    return centred_dot(x, 0.0, sx, y, 0.0, sy, m);
}

static int cosine(const double *x, const double *y, int64_t m, double *r, lrsa_err *err)
{
    int rc;
    double sx, sy;
    if ((rc = check_finite(x, m, 0, err)) || (rc = check_finite(y, m, 1, err)))
        return rc;
    double sxx = safe_ss(x, 0.0, m, &sx);
    double syy = safe_ss(y, 0.0, m, &sy);
    if (!(sxx > 0.0))
        return LRSA_FAIL(err, LRSA_EFORMAT, "the first vector is all zeros");
    if (!(syy > 0.0))
        return LRSA_FAIL(err, LRSA_EFORMAT, "the second vector is all zeros");
    *r = clip1(scaled_dot(x, sx, y, sy, m) / (sqrt(sxx) * sqrt(syy)));
    return LRSA_OK;
}

/* ===== Spearman ========================================================= */

static int spearman(const double *x, const double *y, int64_t m, double *r, lrsa_err *err)
{
    int rc;
    double *rx = NULL, *ry = NULL;
    if ((rc = check_finite(x, m, 0, err)) || (rc = check_finite(y, m, 1, err)))
        return rc;
    if (is_constant(x, m))
        return fail_constant(0, m, err);
    if (is_constant(y, m))
        return fail_constant(1, m, err);
    rx = big_alloc((size_t)m * sizeof *rx, "ranks", err);
    ry = rx ? big_alloc((size_t)m * sizeof *ry, "ranks", err) : NULL;
    if (!ry) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int rcx = LRSA_OK, rcy = LRSA_OK;
    lrsa_err ex, ey;
    lrsa_err_init(&ex);
    lrsa_err_init(&ey);
#ifdef _OPENMP
    int nt = lrsa_threads(NULL) >= 2 && m >= 100000 ? 2 : 1;
#pragma omp parallel sections num_threads(nt)
    {
#pragma omp section
        rcx = lrsa_rank_average(x, m, rx, &ex);
#pragma omp section
        rcy = lrsa_rank_average(y, m, ry, &ey);
    }
#else
    rcx = lrsa_rank_average(x, m, rx, &ex);
    rcy = lrsa_rank_average(y, m, ry, &ey);
#endif
    if (rcx || rcy) {
        lrsa_err *e = rcx ? &ex : &ey;
        rc = LRSA_FAIL(err, e->code, "%s", e->msg);
        goto done;
    }
    rc = pearson(rx, ry, m, r, err);
done:
    free(rx);
    free(ry);
    return rc;
}

/* ===== Kendall tau-a ==================================================== */

#define INSERTION_RUN 32

/* Sort a[0..m) ascending (merge sort; tmp has m entries) and return the number of strict
 * inversions, pairs i < j with a[i] > a[j]. */
static uint64_t count_inversions(uint32_t *a, uint32_t *tmp, int64_t m)
{
    uint64_t inv = 0;
    for (int64_t b = 0; b < m; b += INSERTION_RUN) {
        int64_t e = b + INSERTION_RUN < m ? b + INSERTION_RUN : m;
        for (int64_t i = b + 1; i < e; i++) {
            uint32_t v = a[i];
            int64_t j = i;
            while (j > b && a[j - 1] > v) {
                a[j] = a[j - 1];
                j--;
            }
            inv += (uint64_t)(i - j);
            a[j] = v;
        }
    }
    uint32_t *src = a, *dst = tmp;
    for (int64_t w = INSERTION_RUN; w < m; w *= 2) {
        for (int64_t lo = 0; lo < m; lo += 2 * w) {
            int64_t mid = lo + w < m ? lo + w : m;
            int64_t hi = lo + 2 * w < m ? lo + 2 * w : m;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* branch-free: the comparison is unpredictable */
                uint32_t a = src[i], b = src[j];
                int64_t take_b = b < a;
                dst[k++] = take_b ? b : a;
                inv += (uint64_t)(take_b * (mid - i));
                j += take_b;
                i += 1 - take_b;
            }
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src; src = dst; dst = t;
    }
    if (src != a)
        memcpy(a, src, (size_t)m * sizeof *a);
    return inv;
}

/* Pairs among groups of g equal values: g(g-1)/2. */
static uint64_t pairs_of(int64_t g)
{
    return (uint64_t)g * (uint64_t)(g - 1) / 2;
}

int lrsa_kendall_tau_a(const double *x, const double *y, int64_t m, double *tau,
                       uint64_t *ties_x, uint64_t *ties_y, uint64_t *ties_xy,
                       uint64_t *discordant, lrsa_err *err)
{
    sorter s = { 0 };
    uint32_t *dy = NULL, *seq = NULL;
    int rc;
    if ((rc = check_m(m, err)) || (rc = check_finite(x, m, 0, err)) ||
        (rc = check_finite(y, m, 1, err)))
        return rc;
    if (is_constant(x, m))
        return fail_constant(0, m, err);
    if (is_constant(y, m))
        return fail_constant(1, m, err);
    dy = big_alloc((size_t)m * sizeof *dy, "kendall ranks", err);
    seq = dy ? big_alloc((size_t)m * sizeof *seq, "kendall ranks", err) : NULL;
    if (!seq) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* 1. Order by y; dense ranks of y and the pairs tied in y. */
    if ((rc = sorter_sort(&s, y, m, 0, err)))
        goto done;
    uint64_t n2 = 0;
    uint32_t rank = 0;
    for (int64_t i = 0; i < m; rank++) {
        int64_t j = i + 1;
        while (j < m && sorter_same(&s, j, i))
            j++;
        for (int64_t t = i; t < j; t++)
            dy[sorter_item(&s, t)] = rank;
        n2 += pairs_of(j - i);
        i = j;
    }
    /* 2. The y ranks in (x, y) order, and the pairs tied in x and in both. */
    uint64_t n1 = 0, n3 = 0;
    if (s.packed && all_float(x, m)) {
        /* One 64-bit key (x's float key, y's dense rank): no gathers; the rank's unused upper
         * bits are skipped by the radix passes. */
        for (int64_t i = 0; i < m; i++)
            s.p[i] = (uint64_t)key32((float)x[i]) << 32 | dy[i];
        s.key_lo = 0;
        radix_sort(&s);
        for (int64_t i = 0; i < m;) {
            int64_t j = i + 1;
            while (j < m && (s.p[j] >> 32) == (s.p[i] >> 32))
                j++;
            n1 += pairs_of(j - i);
            for (int64_t a = i; a < j;) {
                int64_t b = a + 1;
                while (b < j && s.p[b] == s.p[a])
                    b++;
                n3 += pairs_of(b - a);
                a = b;
            }
            i = j;
        }
        for (int64_t t = 0; t < m; t++)
            seq[t] = (uint32_t)s.p[t];
    } else {
        /* Stable sort of the y order by x: the items are then in (x, y) order. */
        if ((rc = sorter_sort(&s, x, m, 1, err)))
            goto done;
        for (int64_t t = 0; t < m; t++)
            seq[t] = dy[sorter_item(&s, t)];
        for (int64_t i = 0; i < m;) {
            int64_t j = i + 1;
            while (j < m && sorter_same(&s, j, i))
                j++;
            n1 += pairs_of(j - i);
            for (int64_t a = i; a < j;) {
                int64_t b = a + 1;
                while (b < j && seq[b] == seq[a])
                    b++;
                n3 += pairs_of(b - a);
                a = b;
            }
            i = j;
        }
    }
    sorter_free(&s);
    /* 4. Discordant pairs = strict inversions of y in (x, y) order: a pair with x_i < x_j and
     * y_i > y_j (ties in x are in ascending y, so they add none). dy is the merge scratch. */
    uint64_t nd = count_inversions(seq, dy, m);
    uint64_t n0 = pairs_of(m);
    uint64_t both = (n0 - n1) + n3 - n2;    /* pairs tied in neither: C + D */
    uint64_t nc = both - nd;
    *tau = clip1(((double)nc - (double)nd) / (double)n0);
    if (ties_x)
        *ties_x = n1;
    if (ties_y)
        *ties_y = n2;
    if (ties_xy)
        *ties_xy = n3;
    if (discordant)
        *discordant = nd;
done:
    free(dy);
    free(seq);
    sorter_free(&s);
    return rc;
}

/* ===== Dispatch ========================================================= */

int lrsa_compare_vectors(lrsa_cmp_method method, const double *x, const double *y, int64_t m,
                         double *r, lrsa_err *err)
{
    int rc;
    if (!x || !y || !r)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_compare_vectors: NULL argument");
    if ((rc = check_m(m, err)))
        return rc;
    switch (method) {
    case LRSA_CMP_PEARSON:
        return pearson(x, y, m, r, err);
    case LRSA_CMP_SPEARMAN:
        return spearman(x, y, m, r, err);
    case LRSA_CMP_KENDALL_TAU_A:
        return lrsa_kendall_tau_a(x, y, m, r, NULL, NULL, NULL, NULL, err);
    case LRSA_CMP_COSINE:
        return cosine(x, y, m, r, err);
    default:
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_compare_vectors: method '%s' does not compare "
                         "RDM vectors", lrsa_cmp_method_name(method));
    }
}

int lrsa_compare_prepare(lrsa_cmp_method method, const double *x, int64_t m, double *out,
                         lrsa_err *err)
{
    int rc;
    if (!x || !out)
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_compare_prepare: NULL argument");
    if ((rc = check_m(m, err)))
        return rc;
    switch (method) {
    case LRSA_CMP_PEARSON:
        return lrsa_standardize_vector(x, m, out, err);
    case LRSA_CMP_SPEARMAN: {
        double *rk;
        if ((rc = check_finite(x, m, 0, err)))
            return rc;
        if (is_constant(x, m))
            return LRSA_FAIL(err, LRSA_EFORMAT, "the vector has no variance (all %lld values "
                             "are equal)", (long long)m);
        rk = big_alloc((size_t)m * sizeof *rk, "ranks", err);
        if (!rk)
            return LRSA_ENOMEM;
        if (!(rc = lrsa_rank_average(x, m, rk, err)))
            rc = lrsa_standardize_vector(rk, m, out, err);
        free(rk);
        return rc;
    }
    case LRSA_CMP_COSINE: {
        double sx;
        if ((rc = check_finite(x, m, 0, err)))
            return rc;
        double ss = safe_ss(x, 0.0, m, &sx);
        if (!(ss > 0.0))
            return LRSA_FAIL(err, LRSA_EFORMAT, "the vector is all zeros");
        double f = 1.0 / sqrt(ss);
        for (int64_t i = 0; i < m; i++)
            out[i] = (x[i] * sx) * f;
        return LRSA_OK;
    }
    default:
        return LRSA_FAIL(err, LRSA_EMISUSE, "lrsa_compare_prepare: method '%s' is not a dot "
                         "product of prepared vectors", lrsa_cmp_method_name(method));
    }
}
