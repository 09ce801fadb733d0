/* Inference: the Mantel permutation test against an independent brute force (exact enumeration
 * with its own permutation generator and its own naive statistics), random and stratified
 * permutations recomputed from lrsa_perm_draw, thread-count independence, the bootstrap CI
 * against materialised resamples, calibration over 1,000 seeds (null rejection rate within
 * binomial bounds of 5 %, stratified too; planted structure rejects), bootstrap coverage, the CKA
 * permutation test, the null distribution (null_out), and bad input.
 * Tolerances: statistics agree to 1e-12 (double sums of at most a few thousand terms); counts
 * and p-values of the permutation tests are compared exactly. */
#include "harness.h"
#include "latentrsa/compare.h"
#include "latentrsa/inference.h"

#include <stdint.h>

/* ===== Naive references (no library code) ==================================================== */

/* Symmetric RDM of n random points in d dimensions (Euclidean), from rng. */
static void make_rdm(float *R, int n, int d, const double *pts)
{
    for (int i = 0; i < n; i++) {
        R[i * n + i] = 0.0f;
        for (int j = i + 1; j < n; j++) {
            double s = 0.0;
            for (int c = 0; c < d; c++) {
                double t = pts[i * d + c] - pts[j * d + c];
                s += t * t;
            }
            R[i * n + j] = R[j * n + i] = (float)sqrt(s);
        }
    }
}

static void random_points(lrsa_rng *rng, double *pts, int n, int d)
{
    for (int k = 0; k < n * d; k++)
        pts[k] = lrsa_rng_normal(rng);
}

/* O(m^2) average ranks. */
static void naive_ranks(const double *x, int m, double *r)
{
    for (int k = 0; k < m; k++) {
        double less = 0, eq = 0;
        for (int l = 0; l < m; l++) {
            less += x[l] < x[k];
            eq += x[l] == x[k];
        }
        r[k] = less + (eq + 1) / 2;
    }
}

static double naive_pearson(const double *x, const double *y, int m, int centre)
{
    double mx = 0, my = 0;
    if (centre) {
        for (int k = 0; k < m; k++) {
            mx += x[k];
            my += y[k];
        }
        mx /= m;
        my /= m;
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (int k = 0; k < m; k++) {
        sxy += (x[k] - mx) * (y[k] - my);
        sxx += (x[k] - mx) * (x[k] - mx);
        syy += (y[k] - my) * (y[k] - my);
    }
    return sxy / sqrt(sxx * syy);
}

static double naive_tau_a(const double *x, const double *y, int m)
{
    double s = 0;
    for (int p = 0; p < m; p++)
        for (int q = p + 1; q < m; q++) {
            double a = x[p] - x[q], b = y[p] - y[q];
            s += (double)(((a > 0) - (a < 0)) * ((b > 0) - (b < 0)));
        }
    return s / (0.5 * m * (m - 1.0));
}

/* The statistic on explicit vectors. */
static double naive_stat(lrsa_cmp_method method, const double *x, const double *y, int m)
{
    if (method == LRSA_CMP_SPEARMAN) {
        double *rx = malloc(sizeof *rx * (size_t)m), *ry = malloc(sizeof *ry * (size_t)m);
        naive_ranks(x, m, rx);
        naive_ranks(y, m, ry);
        double r = naive_pearson(rx, ry, m, 1);
        free(rx);
        free(ry);
        return r;
    }
    if (method == LRSA_CMP_KENDALL_TAU_A)
        return naive_tau_a(x, y, m);
    return naive_pearson(x, y, m, method == LRSA_CMP_PEARSON);
}

/* r between the upper triangles of A[p, p] and B. */
static double naive_perm_stat(lrsa_cmp_method method, const float *A, const float *B, int n,
                              const int32_t *p)
{
    int m = n * (n - 1) / 2, k = 0;
    double *x = malloc(sizeof *x * (size_t)m), *y = malloc(sizeof *y * (size_t)m);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, k++) {
            x[k] = A[p[i] * n + p[j]];
            y[k] = B[i * n + j];
        }
    double r = naive_stat(method, x, y, m);
    free(x);
    free(y);
    return r;
}

/* Heap's algorithm (a different order than the library's lexicographic enumeration). */
typedef struct enum_state {
    lrsa_cmp_method method;
    lrsa_alternative alt;
    const float *A, *B;
    const int32_t *strata;
    int n;
    double r_obs;
    long total, exceed;
} enum_state;

static void visit(enum_state *s, const int32_t *p)
{
    if (s->strata)
        for (int i = 0; i < s->n; i++)
            if (s->strata[p[i]] != s->strata[i])
                return;
    double r = naive_perm_stat(s->method, s->A, s->B, s->n, p);
    s->total++;
    if (s->alt == LRSA_ALT_TWO_SIDED ? fabs(r) >= fabs(s->r_obs) - 1e-10 : r >= s->r_obs - 1e-10)
        s->exceed++;
}

static void heap_enum(enum_state *s, int32_t *p, int k)
{
    if (k == 1) {
        visit(s, p);
        return;
    }
    for (int i = 0; i < k - 1; i++) {
        heap_enum(s, p, k - 1);
        int j = k % 2 == 0 ? i : 0;
        int32_t t = p[j];
        p[j] = p[k - 1];
        p[k - 1] = t;
    }
    heap_enum(s, p, k - 1);
}

static lrsa_infer_opts opts_of(lrsa_cmp_method method, lrsa_alternative alt, int64_t P, int64_t B,
                               uint64_t seed, const int32_t *strata)
{
    lrsa_infer_opts o;
    lrsa_infer_opts_init(&o);
    o.method = method;
    o.alternative = alt;
    o.permutations = P;
    o.bootstrap = B;
    o.seed = seed;
    o.strata = strata;
    return o;
}

/* ===== Tests ================================================================================ */

static void test_defaults(void)
{
    lrsa_infer_opts o;
    lrsa_infer_opts_init(&o);
    CHECK_INT(o.method, LRSA_CMP_SPEARMAN);
    CHECK_INT(o.alternative, LRSA_ALT_GREATER);
    CHECK_INT(o.permutations, 10000);
    CHECK_INT(o.bootstrap, 1000);
    double v[4] = { 4, 1, 3, 2 };
    CHECK_NEAR(lrsa_percentile(v, 4, 2.5), 1.075, 1e-15);    /* numpy.percentile([1,2,3,4], 2.5) */
    CHECK_NEAR(lrsa_percentile(v, 4, 97.5), 3.925, 1e-15);
    CHECK_NEAR(lrsa_percentile(v, 4, 50), 2.5, 1e-15);
    CHECK(isnan(lrsa_percentile(v, 0, 50)));
}

/* Exact p (all n!) equals the brute force, for each method and alternative, with and without
 * strata, with one RDM correlated with the other (small p) and one not. */
static void test_exact(void)
{
    const lrsa_cmp_method methods[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_COSINE };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 11);
    for (int v = 0; v < 8; v++) {
        int n = 4 + v % 4, integer = v >= 4;
        double pa[7 * 3], pb[7 * 3];
        float A[49], B[49];
        random_points(&rng, pa, n, 3);
        for (int k = 0; k < n * 3; k++)
            pb[k] = (n % 2 ? pa[k] : 0.0) + 0.7 * lrsa_rng_normal(&rng);
        make_rdm(A, n, 3, pa);
        make_rdm(B, n, 3, pb);
        /* Integer-valued RDMs (model RDMs): many permutations tie with r_obs exactly. */
        for (int k = 0; integer && k < n * n; k++) {
            A[k] = (float)rint(2.0 * A[k]);
            B[k] = (float)rint(2.0 * B[k]);
        }
        int32_t strata[7] = { 0, 1, 0, 1, 2, 1, 2 };
        for (int mi = 0; mi < 3; mi++)
            for (int alt = 0; alt < 2; alt++)
                for (int st = 0; st < 2; st++) {
                    lrsa_infer_opts o = opts_of(methods[mi], (lrsa_alternative)alt, LRSA_PERM_EXACT,
                                                0, 1, st ? strata : NULL);
                    lrsa_infer_result res;
                    lrsa_err err;
                    lrsa_err_init(&err);
                    CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, NULL, &err), LRSA_OK);
                    int32_t id[7] = { 0, 1, 2, 3, 4, 5, 6 };
                    enum_state s = { methods[mi], (lrsa_alternative)alt, A, B, st ? strata : NULL, n,
                                     0, 0, 0 };
                    s.r_obs = naive_perm_stat(methods[mi], A, B, n, id);
                    CHECK_NEAR(res.r, s.r_obs, 1e-12);
                    heap_enum(&s, id, n);
                    CHECK_INT(res.permutations, s.total);
                    CHECK_INT(res.exceed, s.exceed);
                    CHECK_MSG(res.p_permutation == (double)s.exceed / (double)s.total,
                              "n %d integer %d method %d alt %d strata %d: p %.17g vs %ld/%ld", n,
                              integer, mi, alt, st,
                              res.p_permutation, s.exceed, s.total);
                    CHECK(isnan(res.ci_lo) && isnan(res.ci_hi));
                    CHECK_INT(res.strata, st ? (n >= 5 ? 3 : 2) : 0);
                }
    }
    /* An RDM with an automorphism (every pair the same except one stimulus): many permutations
     * tie with the observed r exactly, and all of them must count. n = 5: swapping any two of
     * stimuli 1..4 leaves A unchanged, so at least 4! of the 5! permutations tie. */
    float A[25], B[25];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            A[i * 5 + j] = i == j ? 0.0f : (i == 0 || j == 0) ? 2.0f : 1.0f;
            B[i * 5 + j] = i == j ? 0.0f : (float)(1 + ((i + j) % 3)) + (i == 0 || j == 0 ? 3.0f : 0.0f);
        }
    lrsa_infer_opts o = opts_of(LRSA_CMP_PEARSON, LRSA_ALT_GREATER, LRSA_PERM_EXACT, 0, 1, NULL);
    lrsa_infer_result res;
    CHECK_INT(lrsa_rsa_infer(A, B, 5, &o, &res, NULL, NULL), LRSA_OK);
    int32_t id[5] = { 0, 1, 2, 3, 4 };
    enum_state s = { LRSA_CMP_PEARSON, LRSA_ALT_GREATER, A, B, NULL, 5, 0, 0, 0 };
    s.r_obs = naive_perm_stat(LRSA_CMP_PEARSON, A, B, 5, id);
    heap_enum(&s, id, 5);
    CHECK_INT(res.exceed, s.exceed);
    CHECK(res.exceed >= 24);
    fprintf(stderr, "automorphism: %lld of 120 permutations reach r = %.6f\n",
            (long long)res.exceed, res.r);
}

/* The random test recomputed by brute force from lrsa_perm_draw: the same count, exactly; the
 * same p for 1 and 2 threads; stratified draws keep every position in its group. */
static void test_random(void)
{
    const int n = 11, P = 150;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 5);
    double pa[11 * 4], pb[11 * 4];
    float A[121], B[121];
    random_points(&rng, pa, n, 4);
    for (int k = 0; k < n * 4; k++)
        pb[k] = 0.4 * pa[k] + lrsa_rng_normal(&rng);
    make_rdm(A, n, 4, pa);
    make_rdm(B, n, 4, pb);
    int32_t strata[11] = { 2, 2, 0, 1, 0, 2, 1, 1, 0, 2, 2 };
    const lrsa_cmp_method methods[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_COSINE };
    for (int mi = 0; mi < 3; mi++)
        for (int st = 0; st < 2; st++)
            for (int alt = 0; alt < 2; alt++) {
                const int32_t *sp = st ? strata : NULL;
                lrsa_infer_opts o = opts_of(methods[mi], (lrsa_alternative)alt, P, 0, 42, sp);
                lrsa_infer_result r1, r2;
                lrsa_ctx c1, c2;
                lrsa_ctx_init(&c1);
                lrsa_ctx_init(&c2);
                c1.threads = 1;
                c2.threads = 2;
                CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r1, &c1, NULL), LRSA_OK);
                CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r2, &c2, NULL), LRSA_OK);
                CHECK_MSG(r1.p_permutation == r2.p_permutation, "threads: %.17g vs %.17g",
                          r1.p_permutation, r2.p_permutation);
                int32_t id[11], p[11];
                for (int i = 0; i < n; i++)
                    id[i] = i;
                double r_obs = naive_perm_stat(methods[mi], A, B, n, id);
                long exceed = 0;
                int kept = 1;
                for (int k = 0; k < P; k++) {
                    CHECK_INT(lrsa_perm_draw(42, k, n, sp, p, NULL), LRSA_OK);
                    for (int i = 0; i < n && sp; i++)
                        kept &= sp[p[i]] == sp[i];
                    double r = naive_perm_stat(methods[mi], A, B, n, p);
                    exceed += alt ? fabs(r) >= fabs(r_obs) - 1e-10 : r >= r_obs - 1e-10;
                }
                CHECK(kept);
                CHECK_INT(r1.permutations, P);
                CHECK_INT(r1.exceed, exceed);
                CHECK(r1.p_permutation == (1.0 + (double)exceed) / (1.0 + P));
            }
    /* Draws are permutations, different streams differ, the same (seed, k) repeats. */
    int32_t p1[11], p2[11], p3[11];
    lrsa_perm_draw(7, 3, n, NULL, p1, NULL);
    lrsa_perm_draw(7, 3, n, NULL, p2, NULL);
    lrsa_perm_draw(7, 4, n, NULL, p3, NULL);
    int seen[11] = { 0 }, same = 1, differ = 0;
    for (int i = 0; i < n; i++) {
        seen[p1[i]]++;
        same &= p1[i] == p2[i];
        differ |= p1[i] != p3[i];
    }
    for (int i = 0; i < n; i++)
        CHECK_INT(seen[i], 1);
    CHECK(same);
    CHECK(differ);
}

/* Every permutation of 4 is drawn equally often: 24,000 draws, 1,000 expected each, a bound of
 * 5 sd (sd = sqrt(1000 * 23/24) = 31). Stratified (groups {0,2}, {1,3}): 4 outcomes. */
static void test_uniform(void)
{
    int count[256] = { 0 };
    for (int k = 0; k < 24000; k++) {
        int32_t p[4];
        lrsa_perm_draw(99, k, 4, NULL, p, NULL);
        count[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
    }
    int distinct = 0, worst = 0;
    for (int c = 0; c < 256; c++)
        if (count[c]) {
            distinct++;
            worst = abs(count[c] - 1000) > worst ? abs(count[c] - 1000) : worst;
        }
    CHECK_INT(distinct, 24);
    CHECK_MSG(worst <= 155, "max |count - 1000| = %d", worst);
    int32_t strata[4] = { 0, 1, 0, 1 };
    memset(count, 0, sizeof count);
    for (int k = 0; k < 4000; k++) {
        int32_t p[4];
        lrsa_perm_draw(99, k, 4, strata, p, NULL);
        count[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
    }
    distinct = 0;
    worst = 0;
    for (int c = 0; c < 256; c++)
        if (count[c]) {
            distinct++;
            worst = abs(count[c] - 1000) > worst ? abs(count[c] - 1000) : worst;
        }
    CHECK_INT(distinct, 4);
    CHECK_MSG(worst <= 137, "stratified: max |count - 1000| = %d", worst);
}

/* The bootstrap CI equals the one computed from materialised resamples (lrsa_boot_draw, pairs of
 * different stimuli, naive statistic, re-ranked for Spearman), for every RDM method, with ties. */
static void test_bootstrap_exact(void)
{
    const int n = 9, Bn = 60;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 3);
    double pa[9 * 2], pb[9 * 2];
    float A[81], B[81];
    random_points(&rng, pa, n, 2);
    for (int k = 0; k < n * 2; k++)
        pb[k] = pa[k] + 0.8 * lrsa_rng_normal(&rng);
    make_rdm(A, n, 2, pa);
    make_rdm(B, n, 2, pb);
    /* Ties: round B to one decimal. */
    for (int k = 0; k < n * n; k++)
        B[k] = (float)(round(B[k] * 10.0) / 10.0);
    const lrsa_cmp_method methods[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_COSINE,
                                        LRSA_CMP_KENDALL_TAU_A };
    for (int mi = 0; mi < 4; mi++) {
        lrsa_infer_opts o = opts_of(methods[mi], LRSA_ALT_GREATER, 0, Bn, 17, NULL);
        lrsa_infer_result res;
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, NULL, &err), LRSA_OK);
        double rb[60];
        int kept = 0;
        for (int b = 0; b < Bn; b++) {
            int64_t idx[9];
            lrsa_boot_draw(17, b, n, idx);
            double x[36], y[36];
            int m = 0;
            for (int k = 0; k < n; k++)
                for (int l = k + 1; l < n; l++)
                    if (idx[k] != idx[l]) {
                        x[m] = A[idx[k] * n + idx[l]];
                        y[m] = B[idx[k] * n + idx[l]];
                        m++;
                    }
            double r = m >= 2 ? naive_stat(methods[mi], x, y, m) : NAN;
            if (isfinite(r))
                rb[kept++] = r;
        }
        double lo = lrsa_percentile(rb, kept, 2.5), hi = lrsa_percentile(rb, kept, 97.5);
        CHECK_INT(res.bootstrap, kept);
        CHECK_INT(res.bootstrap_dropped, Bn - kept);
        CHECK_MSG(fabs(res.ci_lo - lo) <= 1e-12 && fabs(res.ci_hi - hi) <= 1e-12,
                  "method %d: [%.15g, %.15g] vs [%.15g, %.15g]", mi, res.ci_lo, res.ci_hi, lo, hi);
        CHECK(isnan(res.p_permutation));
        CHECK_INT(res.permutations, 0);
        /* Thread-count independence of the CI. */
        lrsa_ctx c1;
        lrsa_ctx_init(&c1);
        c1.threads = 1;
        lrsa_infer_result r1;
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r1, &c1, NULL), LRSA_OK);
        CHECK(r1.ci_lo == res.ci_lo && r1.ci_hi == res.ci_hi);
    }
}

/* Stimuli from three sources; source shifts every stimulus's embedding (so it alone makes both
 * RDMs alike), plus independent noise per RDM, or (planted) shared noise. */
static void make_pair(lrsa_rng *rng, int n, const int32_t *src, int source_effect, int shared,
                      float *A, float *B)
{
    double pa[20 * 3], pb[20 * 3], centre[3][3];
    for (int g = 0; g < 3; g++)
        for (int c = 0; c < 3; c++)
            centre[g][c] = source_effect ? 3.0 * lrsa_rng_normal(rng) : 0.0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double s = lrsa_rng_normal(rng);
            pa[i * 3 + c] = centre[src[i]][c] + s;
            pb[i * 3 + c] = centre[src[i]][c] + (shared ? s + 0.5 * lrsa_rng_normal(rng)
                                                        : lrsa_rng_normal(rng));
        }
    make_rdm(A, n, 3, pa);
    make_rdm(B, n, 3, pb);
}

/* Calibration: 1,000 seeds, n = 15, 199 permutations. Under the null (independent RDMs) the
 * rejection rate at 0.05 must lie within 50 +- 4 sd (sd = sqrt(1000 * .05 * .95) = 6.9): [23, 77].
 * With strata and a source effect shared by both RDMs, the stratified test stays calibrated
 * while the plain one (the wrong null for "beyond source") rejects far more often. With planted
 * shared structure both reject almost always. */
static void test_calibration(void)
{
    enum { n = 15, seeds = 1000, P = 199 };
    int32_t src[n];
    for (int i = 0; i < n; i++)
        src[i] = i % 3;
    const char *names[] = { "pearson null", "spearman null two-sided", "stratified null",
                            "plain test, source effect", "planted (spearman)",
                            "planted (stratified)" };
    int rejections[6] = { 0 };
    lrsa_ctx ctx;
    lrsa_ctx_init(&ctx);
    ctx.threads = 1;
    for (int s = 0; s < seeds; s++) {
        lrsa_rng rng;
        lrsa_rng_seed(&rng, 1000 + (uint64_t)s);
        float A[n * n], B[n * n];
        lrsa_infer_result res;
        lrsa_infer_opts o;
        make_pair(&rng, n, src, 0, 0, A, B);
        o = opts_of(LRSA_CMP_PEARSON, LRSA_ALT_GREATER, P, 0, (uint64_t)s, NULL);
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
        rejections[0] += res.p_permutation <= 0.05;
        o = opts_of(LRSA_CMP_SPEARMAN, LRSA_ALT_TWO_SIDED, P, 0, (uint64_t)s, NULL);
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
        rejections[1] += res.p_permutation <= 0.05;
        make_pair(&rng, n, src, 1, 0, A, B);
        o = opts_of(LRSA_CMP_SPEARMAN, LRSA_ALT_GREATER, P, 0, (uint64_t)s, src);
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
        rejections[2] += res.p_permutation <= 0.05;
        o.strata = NULL;
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
        rejections[3] += res.p_permutation <= 0.05;
        if (s < 200) {   /* power needs fewer seeds */
            make_pair(&rng, n, src, 0, 1, A, B);
            o = opts_of(LRSA_CMP_SPEARMAN, LRSA_ALT_GREATER, P, 0, (uint64_t)s, NULL);
            CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
            rejections[4] += res.p_permutation <= 0.05;
            make_pair(&rng, n, src, 1, 1, A, B);
            o.strata = src;
            CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, &ctx, NULL), LRSA_OK);
            rejections[5] += res.p_permutation <= 0.05;
        }
    }
    for (int k = 0; k < 6; k++)
        fprintf(stderr, "calibration: %-28s %4d of %d rejected at 0.05\n", names[k], rejections[k],
                k >= 4 ? 200 : seeds);
    for (int k = 0; k < 3; k++)
        CHECK_MSG(rejections[k] >= 23 && rejections[k] <= 77, "%s: %d of 1000", names[k], rejections[k]);
    CHECK_MSG(rejections[3] >= 200, "plain test under a source effect: %d of 1000", rejections[3]);
    CHECK_MSG(rejections[4] >= 190, "planted: %d of 200", rejections[4]);
    CHECK_MSG(rejections[5] >= 150, "planted, stratified: %d of 200", rejections[5]);
}

/* Coverage: a population of 400 stimuli whose true r is the Pearson r over all its pairs;
 * 300 samples of 25 stimuli, each with a 200-resample CI. The percentile bootstrap over stimuli
 * should cover the truth at about 95 %; we accept [85 %, 99.5 %] (300 trials: sd 1.3 %, and the
 * percentile method at n = 25 is known to undercover a little). */
static void test_coverage(void)
{
    enum { NP = 400, n = 25, trials = 300 };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 2024);
    double *pa = malloc(sizeof *pa * NP * 3), *pb = malloc(sizeof *pb * NP * 3);
    for (int k = 0; k < NP * 3; k++) {
        pa[k] = lrsa_rng_normal(&rng);
        pb[k] = pa[k] + 1.2 * lrsa_rng_normal(&rng);
    }
    /* True r: over all population pairs (Pearson of Euclidean distances). */
    int64_t M = (int64_t)NP * (NP - 1) / 2, k = 0;
    double *x = malloc(sizeof *x * (size_t)M), *y = malloc(sizeof *y * (size_t)M);
    for (int i = 0; i < NP; i++)
        for (int j = i + 1; j < NP; j++, k++) {
            double sa = 0, sb = 0;
            for (int c = 0; c < 3; c++) {
                sa += (pa[i * 3 + c] - pa[j * 3 + c]) * (pa[i * 3 + c] - pa[j * 3 + c]);
                sb += (pb[i * 3 + c] - pb[j * 3 + c]) * (pb[i * 3 + c] - pb[j * 3 + c]);
            }
            x[k] = (float)sqrt(sa);
            y[k] = (float)sqrt(sb);
        }
    double truth = naive_pearson(x, y, (int)M, 1);
    int covered = 0;
    double width = 0;
    for (int t = 0; t < trials; t++) {
        int idx[n];
        double sa[n * 3], sb[n * 3];
        for (int i = 0; i < n; i++) {
            int dup;
            do {   /* distinct stimuli */
                idx[i] = (int)lrsa_rng_below(&rng, NP);
                dup = 0;
                for (int l = 0; l < i; l++)
                    dup |= idx[l] == idx[i];
            } while (dup);
            for (int c = 0; c < 3; c++) {
                sa[i * 3 + c] = pa[idx[i] * 3 + c];
                sb[i * 3 + c] = pb[idx[i] * 3 + c];
            }
        }
        float A[n * n], B[n * n];
        make_rdm(A, n, 3, sa);
        make_rdm(B, n, 3, sb);
        lrsa_infer_opts o = opts_of(LRSA_CMP_PEARSON, LRSA_ALT_GREATER, 0, 200, (uint64_t)t, NULL);
        lrsa_infer_result res;
        CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &res, NULL, NULL), LRSA_OK);
        covered += res.ci_lo <= truth && truth <= res.ci_hi;
        width += res.ci_hi - res.ci_lo;
    }
    fprintf(stderr, "coverage: true r %.4f, covered %d of %d (%.1f %%), mean width %.3f\n", truth,
            covered, trials, 100.0 * covered / trials, width / trials);
    CHECK_MSG(covered >= 255 && covered <= 298, "covered %d of %d", covered, trials);
    free(pa);
    free(pb);
    free(x);
    free(y);
}

/* Naive linear CKA in double (centred columns; debiased: Song et al.'s U-statistic). */
static double naive_cka(const float *X, const float *Y, int n, int d, const int32_t *p, int debiased)
{
    double *xc = malloc(sizeof *xc * (size_t)(n * d)), *yc = malloc(sizeof *yc * (size_t)(n * d));
    for (int c = 0; c < d; c++) {
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) {
            mx += X[p[i] * d + c];
            my += Y[i * d + c];
        }
        for (int i = 0; i < n; i++) {
            xc[i * d + c] = X[p[i] * d + c] - mx / n;
            yc[i * d + c] = Y[i * d + c] - my / n;
        }
    }
    double *K = malloc(sizeof *K * (size_t)(n * n)), *L = malloc(sizeof *L * (size_t)(n * n));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double a = 0, b = 0;
            for (int c = 0; c < d; c++) {
                a += xc[i * d + c] * xc[j * d + c];
                b += yc[i * d + c] * yc[j * d + c];
            }
            K[i * n + j] = a;
            L[i * n + j] = b;
        }
    double h[3];
    const double *P[3][2] = { { K, L }, { K, K }, { L, L } };
    for (int t = 0; t < 3; t++) {
        const double *U = P[t][0], *V = P[t][1];
        double tr = 0, su = 0, sv = 0, rr = 0;
        for (int i = 0; i < n; i++) {
            double ru = 0, rv = 0;
            for (int j = 0; j < n; j++) {
                if (debiased && i == j)
                    continue;
                tr += U[i * n + j] * V[i * n + j];
                ru += U[i * n + j];
                rv += V[i * n + j];
            }
            su += ru;
            sv += rv;
            rr += ru * rv;
        }
        h[t] = debiased ? tr + su * sv / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * rr : tr;
    }
    free(xc);
    free(yc);
    free(K);
    free(L);
    return h[0] / sqrt(h[1] * h[2]);
}

typedef struct cka_enum {
    const float *X, *Y;
    int n, d, debiased;
    double r_obs;
    long total, exceed;
} cka_enum;

static void cka_heap(cka_enum *s, int32_t *p, int k)
{
    if (k == 1) {
        s->total++;
        s->exceed += naive_cka(s->X, s->Y, s->n, s->d, p, s->debiased) >= s->r_obs - 1e-10;
        return;
    }
    for (int i = 0; i < k - 1; i++) {
        cka_heap(s, p, k - 1);
        int j = k % 2 == 0 ? i : 0;
        int32_t t = p[j];
        p[j] = p[k - 1];
        p[k - 1] = t;
    }
    cka_heap(s, p, k - 1);
}

static void test_cka(void)
{
    enum { n = 7, d = 3 };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 8);
    float X[n * d], Y[n * d];
    for (int k = 0; k < n * d; k++) {
        X[k] = (float)lrsa_rng_normal(&rng);
        Y[k] = (float)(X[k] + 0.8 * lrsa_rng_normal(&rng));
    }
    for (int deb = 0; deb < 2; deb++) {
        lrsa_infer_opts o = opts_of(deb ? LRSA_CMP_CKA_LINEAR_DEBIASED : LRSA_CMP_CKA_LINEAR,
                                    LRSA_ALT_GREATER, LRSA_PERM_EXACT, 0, 0, NULL);
        lrsa_infer_result res;
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK_INT(lrsa_cka_infer(X, n, d, Y, d, &o, &res, NULL, &err), LRSA_OK);
        int32_t id[n] = { 0, 1, 2, 3, 4, 5, 6 };
        cka_enum s = { X, Y, n, d, deb, 0, 0, 0 };
        s.r_obs = naive_cka(X, Y, n, d, id, deb);
        CHECK_NEAR(res.r, s.r_obs, 1e-6);   /* the reported r: compare.h, in double (float inputs) */
        cka_heap(&s, id, n);
        CHECK_INT(res.permutations, 5040);
        /* The engine works on float32 Gram matrices: counts may differ only through values within
         * float rounding of r_obs, which these data do not have. */
        CHECK_INT(res.exceed, s.exceed);
        fprintf(stderr, "cka%s: r %.6f, exact p %ld/5040\n", deb ? " (debiased)" : "", res.r, s.exceed);
        /* Random permutations: recomputed from lrsa_perm_draw. */
        o.permutations = 99;
        o.seed = 4;
        CHECK_INT(lrsa_cka_infer(X, n, d, Y, d, &o, &res, NULL, NULL), LRSA_OK);
        long exceed = 0;
        for (int k = 0; k < 99; k++) {
            int32_t p[n];
            lrsa_perm_draw(4, k, n, NULL, p, NULL);
            exceed += naive_cka(X, Y, n, d, p, deb) >= s.r_obs - 1e-10;
        }
        CHECK_INT(res.exceed, exceed);
    }
}

/* exceeds() as the header defines it, for counting a null distribution. */
static int null_exceeds(double r, double r_obs, lrsa_alternative alt)
{
    return alt == LRSA_ALT_TWO_SIDED ? fabs(r) >= fabs(r_obs) - LRSA_PERM_TIE_TOL
                                     : r >= r_obs - LRSA_PERM_TIE_TOL;
}

/* o.null_out: the P null values, in permutation order. Counting them against r_obs gives the
 * test's exceed exactly; value k is r(pi_k) of lrsa_perm_draw(seed, k) (signed for two-sided);
 * the same bits for 1 and 2 threads; the exact test fills n! values, the identity first; CKA too;
 * NULL leaves the result unchanged. */
static void test_null_out(void)
{
    enum { n = 10, P = 203 };
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 21);
    double pa[n * 3], pb[n * 3];
    float A[n * n], B[n * n];
    random_points(&rng, pa, n, 3);
    for (int k = 0; k < n * 3; k++)
        pb[k] = 0.5 * pa[k] + lrsa_rng_normal(&rng);
    make_rdm(A, n, 3, pa);
    make_rdm(B, n, 3, pb);
    int32_t strata[n] = { 0, 1, 0, 1, 2, 2, 0, 1, 2, 0 };
    const lrsa_cmp_method methods[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_COSINE };
    double *v1 = malloc(sizeof *v1 * (P + 1)), *v2 = malloc(sizeof *v2 * (P + 1));
    for (int mi = 0; mi < 3; mi++)
        for (int alt = 0; alt < 2; alt++)
            for (int st = 0; st < 2; st++) {
                const int32_t *sp = st ? strata : NULL;
                lrsa_infer_opts o = opts_of(methods[mi], (lrsa_alternative)alt, P, 0, 9, sp);
                lrsa_infer_result r0, r1, r2;
                lrsa_ctx c1, c2;
                lrsa_ctx_init(&c1);
                lrsa_ctx_init(&c2);
                c1.threads = 1;
                c2.threads = 2;
                CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r0, &c2, NULL), LRSA_OK);
                v1[P] = v2[P] = 12345.0;   /* a guard: nothing beyond P is written */
                o.null_out = v1;
                CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r1, &c1, NULL), LRSA_OK);
                o.null_out = v2;
                CHECK_INT(lrsa_rsa_infer(A, B, n, &o, &r2, &c2, NULL), LRSA_OK);
                CHECK(v1[P] == 12345.0 && v2[P] == 12345.0);
                CHECK(memcmp(v1, v2, sizeof *v1 * P) == 0);
                CHECK(r0.exceed == r1.exceed && r0.p_permutation == r1.p_permutation);
                long exceed = 0, near_tie = 0, off = 0, negative = 0;
                for (int k = 0; k < P; k++) {
                    exceed += null_exceeds(v1[k], r1.r, (lrsa_alternative)alt);
                    near_tie += fabs(fabs(v1[k]) - fabs(r1.r)) < 1e-6;
                    negative += v1[k] < 0;
                    int32_t p[n];
                    lrsa_perm_draw(9, k, n, sp, p, NULL);
                    off += fabs(v1[k] - naive_perm_stat(methods[mi], A, B, n, p)) > 1e-6;
                }
                CHECK_INT(near_tie, 0);   /* so counting against the reported r is exact */
                CHECK_INT(exceed, r1.exceed);
                CHECK_INT(off, 0);
                if (methods[mi] != LRSA_CMP_COSINE)
                    CHECK(negative > 0);   /* two-sided keeps the sign too */
            }
    /* exact: n! values (here 5! = 120), lexicographic, the identity first */
    {
        float A5[25], B5[25];
        double p5[15], q5[15], v[120];
        random_points(&rng, p5, 5, 3);
        random_points(&rng, q5, 5, 3);
        make_rdm(A5, 5, 3, p5);
        make_rdm(B5, 5, 3, q5);
        lrsa_infer_opts o = opts_of(LRSA_CMP_PEARSON, LRSA_ALT_TWO_SIDED, LRSA_PERM_EXACT, 0, 0, NULL);
        o.null_out = v;
        lrsa_infer_result res;
        CHECK_INT(lrsa_rsa_infer(A5, B5, 5, &o, &res, NULL, NULL), LRSA_OK);
        CHECK_INT(res.permutations, 120);
        CHECK_NEAR(v[0], res.r, 1e-6);
        long exceed = 0;
        for (int k = 0; k < 120; k++)
            exceed += null_exceeds(v[k], v[0], LRSA_ALT_TWO_SIDED);
        CHECK_INT(exceed, res.exceed);
        int32_t last[5] = { 4, 3, 2, 1, 0 };   /* the last permutation in lexicographic order */
        CHECK_NEAR(v[119], naive_perm_stat(LRSA_CMP_PEARSON, A5, B5, 5, last), 1e-6);
        int32_t st5[5] = { 0, 0, 1, 1, 1 };    /* strata: 2! 3! = 12 values */
        o.strata = st5;
        CHECK_INT(lrsa_rsa_infer(A5, B5, 5, &o, &res, NULL, NULL), LRSA_OK);
        CHECK_INT(res.permutations, 12);
        exceed = 0;
        for (int k = 0; k < 12; k++)
            exceed += null_exceeds(v[k], v[0], LRSA_ALT_TWO_SIDED);
        CHECK_INT(exceed, res.exceed);
    }
    /* CKA: the same contract */
    {
        enum { d = 4 };
        float X[n * d], Y[n * d];
        for (int k = 0; k < n * d; k++) {
            X[k] = (float)lrsa_rng_normal(&rng);
            Y[k] = (float)(X[k] + lrsa_rng_normal(&rng));
        }
        for (int deb = 0; deb < 2; deb++) {
            lrsa_infer_opts o = opts_of(deb ? LRSA_CMP_CKA_LINEAR_DEBIASED : LRSA_CMP_CKA_LINEAR,
                                        LRSA_ALT_GREATER, P, 0, 3, NULL);
            lrsa_infer_result res;
            lrsa_ctx c2;
            lrsa_ctx_init(&c2);
            c2.threads = 2;
            o.null_out = v1;
            CHECK_INT(lrsa_cka_infer(X, n, d, Y, d, &o, &res, &c2, NULL), LRSA_OK);
            long exceed = 0, off = 0;
            for (int k = 0; k < P; k++) {
                exceed += null_exceeds(v1[k], res.r, LRSA_ALT_GREATER);
                int32_t p[n];
                lrsa_perm_draw(3, k, n, NULL, p, NULL);
                off += fabs(v1[k] - naive_cka(X, Y, n, d, p, deb)) > 1e-5;
            }
            CHECK_INT(exceed, res.exceed);
            CHECK_INT(off, 0);
        }
    }
    free(v1);
    free(v2);
}

static void test_errors(void)
{
    float A[16] = { 0, 1, 2, 3, 1, 0, 4, 5, 2, 4, 0, 6, 3, 5, 6, 0 };
    float C[16] = { 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0 };
    float Z[16] = { 0 };
    lrsa_infer_opts o = opts_of(LRSA_CMP_PEARSON, LRSA_ALT_GREATER, 99, 10, 0, NULL);
    lrsa_infer_result res;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_rsa_infer(A, A, 2, &o, &res, NULL, &err), err, LRSA_ESHAPE, "at least 3");
    o.permutations = -5;
    CHECK_ERR(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), err, LRSA_EMISUSE, "negative permutation");
    o.permutations = 10;
    o.bootstrap = -1;
    CHECK_ERR(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), err, LRSA_EMISUSE, "negative bootstrap");
    o.bootstrap = 0;
    float big[81] = { 0 };
    o.permutations = LRSA_PERM_EXACT;
    CHECK_ERR(lrsa_rsa_infer(big, big, 9, &o, &res, NULL, &err), err, LRSA_ESHAPE, "at most 8");
    o.permutations = 10;
    CHECK(lrsa_rsa_infer(C, A, 4, &o, &res, NULL, &err) == LRSA_EFORMAT);
    CHECK(strstr(err.msg, "variance") != NULL);
    o.method = LRSA_CMP_COSINE;
    CHECK(lrsa_rsa_infer(A, Z, 4, &o, &res, NULL, &err) == LRSA_EFORMAT);
    float N[16];
    memcpy(N, A, sizeof N);
    N[6] = NAN;
    o.method = LRSA_CMP_PEARSON;
    CHECK_ERR(lrsa_rsa_infer(N, A, 4, &o, &res, NULL, &err), err, LRSA_EFORMAT, "non-finite");
    o.method = LRSA_CMP_KENDALL_TAU_A;
    CHECK_ERR(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), err, LRSA_EMISUSE, "no permutation test");
    o.permutations = 0;
    CHECK_INT(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), LRSA_OK);
    CHECK_NEAR(res.r, 1.0, 1e-15);
    CHECK(isnan(res.p_permutation) && isnan(res.ci_lo));
    int32_t bad[4] = { 0, 1, 7, 0 };
    o.method = LRSA_CMP_PEARSON;
    o.permutations = 10;
    o.strata = bad;
    CHECK_ERR(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), err, LRSA_ESHAPE, "stratum");
    o.strata = NULL;
    o.method = LRSA_CMP_CKA_LINEAR;
    CHECK_ERR(lrsa_rsa_infer(A, A, 4, &o, &res, NULL, &err), err, LRSA_EMISUSE, "does not compare RDMs");
    o.bootstrap = 5;
    CHECK_ERR(lrsa_cka_infer(A, 4, 4, A, 4, &o, &res, NULL, &err), err, LRSA_EMISUSE, "bootstrap");
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_exact);
    RUN(test_random);
    RUN(test_uniform);
    RUN(test_bootstrap_exact);
    RUN(test_calibration);
    RUN(test_coverage);
    RUN(test_cka);
    RUN(test_null_out);
    RUN(test_errors);
    return harness_done();
}
