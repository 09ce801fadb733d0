/* RDM comparisons and parametric p-values against scipy 1.13 (tools/gen_compare_fixtures.py,
 * tests/fixtures/compare/expected.json), Kendall tau-a and the ranks against brute force in C,
 * the table of specs/rsa.md 5.4, the helpers for the permutation engine, and every error. */
#include "harness.h"
#include "latentrsa/compare.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <stdint.h>

static cJSON *expected;

static void load_expected(void)
{
    const char *src = getenv("LRSA_SRC");
    char path[2200], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/tests/fixtures/compare/expected.json", src && *src ? src : ".");
    CHECK_INT(lrsa_read_file(path, 0, &text, &n, NULL), LRSA_OK);
    expected = text ? cJSON_Parse(text) : NULL;
    CHECK(expected != NULL);
    free(text);
}

static double *json_doubles(const cJSON *arr, int64_t *m)
{
    int n = cJSON_GetArraySize(arr);
    double *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        v[i] = cJSON_GetArrayItem(arr, i)->valuedouble;
    *m = n;
    return v;
}

/* NaN for null. */
static double json_num(const cJSON *o)
{
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

/* |a - b| relative to |b|, with NaN = NaN, and values below 1e-300 (where scipy's denormals
 * start to lose digits) compared absolutely against 1e-300. */
static double p_diff(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) ? 0.0 : INFINITY;
    if (fabs(b) < 1e-300)
        return fabs(a - b) < 1e-300 ? 0.0 : INFINITY;
    return fabs(a - b) / fabs(b);
}

static void test_names(void)
{
    lrsa_cmp_method m;
    lrsa_alternative a;
    lrsa_err err;
    for (int i = 0; i <= LRSA_CMP_CKA_LINEAR_DEBIASED; i++) {
        CHECK_INT(lrsa_cmp_method_parse(lrsa_cmp_method_name((lrsa_cmp_method)i), &m, NULL), LRSA_OK);
        CHECK_INT(m, i);
    }
    CHECK_STR(lrsa_cmp_method_name(LRSA_CMP_KENDALL_TAU_A), "kendall-tau-a");
    CHECK_STR(lrsa_cmp_method_name((lrsa_cmp_method)42), "unknown");
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_cmp_method_parse("kendall", &m, &err), err, LRSA_EFORMAT, "'kendall'");
    CHECK_ERR(lrsa_cmp_method_parse(NULL, &m, &err), err, LRSA_EMISUSE, "NULL");
    CHECK_INT(lrsa_alternative_parse("greater", &a, NULL), LRSA_OK);
    CHECK_INT(a, LRSA_ALT_GREATER);
    CHECK_INT(lrsa_alternative_parse("two-sided", &a, NULL), LRSA_OK);
    CHECK_INT(a, LRSA_ALT_TWO_SIDED);
    CHECK_STR(lrsa_alternative_name(LRSA_ALT_TWO_SIDED), "two-sided");
    CHECK_STR(lrsa_alternative_name((lrsa_alternative)-1), "unknown");
    CHECK_ERR(lrsa_alternative_parse("less", &a, &err), err, LRSA_EFORMAT, "'less'");
}

static void test_rdm_upper(void)
{
    /* scipy squareform order: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) */
    const float rdm[16] = { 0, 1, 2, 3,  1, 0, 4, 5,  2, 4, 0, 6,  3, 5, 6, 0 };
    double up[6];
    lrsa_rdm_upper(rdm, 4, up);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(up[i], i + 1, 0);
}

/* Every fixture vector pair: ranks exact, statistics within 1e-12, tie counts exact, p-values of
 * scipy's r within 1e-10 relative. */
static void test_fixture_vectors(void)
{
    const cJSON *cases = cJSON_GetObjectItem(expected, "vectors"), *c;
    double max_r = 0, max_tau = 0, max_cos = 0, max_p = 0;
    int ncase = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int64_t m, my, mr;
        double *x = json_doubles(cJSON_GetObjectItem(c, "x"), &m);
        double *y = json_doubles(cJSON_GetObjectItem(c, "y"), &my);
        double *rx = json_doubles(cJSON_GetObjectItem(c, "ranks_x"), &mr);
        double *ry = json_doubles(cJSON_GetObjectItem(c, "ranks_y"), &mr);
        double *ranks = malloc(sizeof *ranks * (size_t)m);
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK_INT(m, my);
        ncase++;

        CHECK_INT(lrsa_rank_average(x, m, ranks, &err), LRSA_OK);
        int same = 1;
        for (int64_t i = 0; i < m; i++)
            same &= ranks[i] == rx[i];
        CHECK_INT(lrsa_rank_average(y, m, ranks, &err), LRSA_OK);
        for (int64_t i = 0; i < m; i++)
            same &= ranks[i] == ry[i];
        CHECK_MSG(same, "%s: ranks differ from scipy.stats.rankdata", name);

        struct { lrsa_cmp_method method; const char *key; double *maxd; } st[] = {
            { LRSA_CMP_PEARSON, "pearson", &max_r }, { LRSA_CMP_SPEARMAN, "spearman", &max_r },
            { LRSA_CMP_KENDALL_TAU_A, "tau_a", &max_tau }, { LRSA_CMP_COSINE, "cosine", &max_cos },
        };
        for (int k = 0; k < 4; k++) {
            double r = NAN, want = json_num(cJSON_GetObjectItem(c, st[k].key));
            int rc = lrsa_compare_vectors(st[k].method, x, y, m, &r, &err);
            CHECK_MSG(rc == LRSA_OK, "%s %s: %s", name, st[k].key, err.msg);
            double d = fabs(r - want);
            if (d > *st[k].maxd)
                *st[k].maxd = d;
            CHECK_MSG(d <= 1e-12, "%s %s: %.17g vs scipy %.17g", name, st[k].key, r, want);
        }

        uint64_t tx, ty, txy, nd;
        double tau;
        const cJSON *cnt = cJSON_GetObjectItem(c, "counts");
        CHECK_INT(lrsa_kendall_tau_a(x, y, m, &tau, &tx, &ty, &txy, &nd, &err), LRSA_OK);
        CHECK_INT(tx, cJSON_GetObjectItem(cnt, "ties_x")->valuedouble);
        CHECK_INT(ty, cJSON_GetObjectItem(cnt, "ties_y")->valuedouble);
        CHECK_INT(txy, cJSON_GetObjectItem(cnt, "ties_xy")->valuedouble);
        CHECK_INT(nd, cJSON_GetObjectItem(cnt, "discordant")->valuedouble);

        const cJSON *p = cJSON_GetObjectItem(c, "p");
        for (int k = 0; k < 2; k++) {
            lrsa_cmp_method meth = k ? LRSA_CMP_SPEARMAN : LRSA_CMP_PEARSON;
            const cJSON *pm = cJSON_GetObjectItem(p, lrsa_cmp_method_name(meth));
            double r = json_num(cJSON_GetObjectItem(c, lrsa_cmp_method_name(meth)));
            for (int a = 0; a < 2; a++) {
                double want = json_num(cJSON_GetObjectItem(pm, lrsa_alternative_name((lrsa_alternative)a)));
                double got = lrsa_p_parametric(meth, r, m, (lrsa_alternative)a);
                double d = p_diff(got, want);
                if (d > max_p)
                    max_p = d;
                CHECK_MSG(d <= 1e-10, "%s %s %s: p %.17g vs scipy %.17g", name,
                          lrsa_cmp_method_name(meth), lrsa_alternative_name((lrsa_alternative)a),
                          got, want);
            }
        }
        free(x);
        free(y);
        free(rx);
        free(ry);
        free(ranks);
    }
    CHECK(ncase >= 10);
    fprintf(stderr, "   %d vector pairs: max |diff| r %.3g, tau-a %.3g, cosine %.3g (tolerance "
            "1e-12); p max rel diff %.3g (tolerance 1e-10)\n", ncase, max_r, max_tau, max_cos, max_p);
}

/* scipy's p for (method, alternative, r, n) on a grid, n = 2 .. 12,497,500. */
static void test_fixture_pvalues(void)
{
    const cJSON *rows = cJSON_GetObjectItem(expected, "pvalues"), *row;
    double maxd = 0;
    int n = 0;
    cJSON_ArrayForEach(row, rows) {
        lrsa_cmp_method meth;
        lrsa_alternative alt;
        CHECK_INT(lrsa_cmp_method_parse(cJSON_GetArrayItem(row, 0)->valuestring, &meth, NULL), LRSA_OK);
        CHECK_INT(lrsa_alternative_parse(cJSON_GetArrayItem(row, 1)->valuestring, &alt, NULL), LRSA_OK);
        double r = cJSON_GetArrayItem(row, 2)->valuedouble;
        int64_t m = (int64_t)cJSON_GetArrayItem(row, 3)->valuedouble;
        double want = json_num(cJSON_GetArrayItem(row, 4));
        double got = lrsa_p_parametric(meth, r, m, alt);
        double d = p_diff(got, want);
        /* Boost's beta sf at x = (r+1)/2 < 1e-8 loses ~1e-9 absolute next to 1 (scipy's
         * beta(0.5, 0.5).sf(1e-20) is exactly 1.0, the true value 1 - 6.4e-11): there, compare
         * absolutely at 1e-8. */
        if (meth == LRSA_CMP_PEARSON && alt == LRSA_ALT_GREATER && r + 1.0 < 2e-8)
            d = fabs(got - want) <= 1e-8 ? 0.0 : d;
        if (d > maxd && isfinite(d))
            maxd = d;
        CHECK_MSG(d <= 1e-10, "%s %s r=%.17g n=%lld: %.17g vs scipy %.17g (rel %.3g)",
                  lrsa_cmp_method_name(meth), lrsa_alternative_name(alt), r, (long long)m, got,
                  want, d);
        n++;
    }
    CHECK(n > 500);
    fprintf(stderr, "   %d p-values: max rel diff %.3g (tolerance 1e-10 where p >= 1e-300, "
            "else 1e-300 absolute)\n", n, maxd);
}

/* specs/rsa.md 5.4: pearsonr's p at n = 12,497,500 (given to 2-3 digits there). */
static void test_spec_table(void)
{
    const int64_t m = 12497500;
    const double r[] = { 0.0005, 0.00055, 0.001, 0.005, 0.01, 0.0105 };
    const double p[] = { 0.0771, 0.0519, 4.07e-4, 6.4e-70, 9.1e-274, 1.3e-301 };
    const double half_digit[] = { 0.00005, 0.00005, 0.005e-4, 0.05e-70, 0.05e-274, 0.05e-301 };
    for (int i = 0; i < 6; i++) {
        double got = lrsa_p_parametric(LRSA_CMP_PEARSON, r[i], m, LRSA_ALT_TWO_SIDED);
        CHECK_MSG(fabs(got - p[i]) <= half_digit[i], "|r| %g: p %.4g, spec %.3g", r[i], got, p[i]);
        CHECK_NEAR(lrsa_p_parametric(LRSA_CMP_PEARSON, -r[i], m, LRSA_ALT_TWO_SIDED), got, 0);
    }
    const double zero[] = { 0.01089, 0.011, 0.05, 0.5, 1.0 };
    for (int i = 0; i < 5; i++)
        CHECK_MSG(lrsa_p_parametric(LRSA_CMP_PEARSON, zero[i], m, LRSA_ALT_TWO_SIDED) == 0.0,
                  "|r| %g: p should underflow to 0 as scipy's", zero[i]);
    /* p < 0.05 from |r| > 0.000554 (spec 0) */
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, 0.000553, m, LRSA_ALT_TWO_SIDED) > 0.05);
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, 0.000555, m, LRSA_ALT_TWO_SIDED) < 0.05);
}

static void test_pvalue_edges(void)
{
    /* r = +-1, m = 2, NaN cases */
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, 1.0, 10, LRSA_ALT_TWO_SIDED) == 0.0);
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, -1.0, 10, LRSA_ALT_GREATER) == 1.0);
    CHECK(lrsa_p_parametric(LRSA_CMP_SPEARMAN, -1.0, 10, LRSA_ALT_GREATER) == 1.0);
    CHECK(lrsa_p_parametric(LRSA_CMP_SPEARMAN, 1.0, 10, LRSA_ALT_GREATER) == 0.0);
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, 0.0, 10, LRSA_ALT_TWO_SIDED) == 1.0);
    CHECK(lrsa_p_parametric(LRSA_CMP_SPEARMAN, 0.0, 12497500, LRSA_ALT_TWO_SIDED) == 1.0);
    CHECK_NEAR(lrsa_p_parametric(LRSA_CMP_PEARSON, 0.0, 10, LRSA_ALT_GREATER), 0.5, 1e-15);
    CHECK(lrsa_p_parametric(LRSA_CMP_PEARSON, -0.3, 2, LRSA_ALT_GREATER) == 1.0);
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_SPEARMAN, 0.3, 2, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_PEARSON, 0.3, 1, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_PEARSON, 1.5, 10, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_PEARSON, NAN, 10, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_KENDALL_TAU_A, 0.3, 10, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_COSINE, 0.3, 10, LRSA_ALT_TWO_SIDED)));
    CHECK(isnan(lrsa_p_parametric(LRSA_CMP_CKA_LINEAR, 0.3, 10, LRSA_ALT_TWO_SIDED)));
    /* one-sided = half the two-sided for r > 0; greater(r) + greater(-r) = 1 */
    double rs[] = { 0.001, 0.2, 0.7 };
    int64_t ms[] = { 5, 1000, 12497500 };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double two = lrsa_p_parametric(LRSA_CMP_PEARSON, rs[i], ms[j], LRSA_ALT_TWO_SIDED);
            double g = lrsa_p_parametric(LRSA_CMP_PEARSON, rs[i], ms[j], LRSA_ALT_GREATER);
            double gm = lrsa_p_parametric(LRSA_CMP_PEARSON, -rs[i], ms[j], LRSA_ALT_GREATER);
            CHECK_NEAR(g, two / 2, 1e-15 * two);
            CHECK_NEAR(g + gm, 1.0, 1e-14);
        }
}

/* I_x(a, b) identities and the Student t tail. */
static void test_betainc(void)
{
    double maxd = 0;
    const double xs[] = { 1e-12, 0.01, 0.3, 0.5, 0.77, 0.999 };
    for (int i = 0; i < 6; i++) {
        double x = xs[i];
        maxd = fmax(maxd, fabs(lrsa_betainc(1, 1, x) - x) / x);
        maxd = fmax(maxd, fabs(lrsa_betainc(3.5, 1, x) - pow(x, 3.5)) / pow(x, 3.5));
        double want = -expm1(2.5 * log1p(-x));
        maxd = fmax(maxd, fabs(lrsa_betainc(1, 2.5, x) - want) / want);
        maxd = fmax(maxd, fabs(lrsa_betainc_upper(1, 2.5, x) - pow(1 - x, 2.5)) / pow(1 - x, 2.5));
        /* I_x(1/2, 1/2) = (2/pi) asin(sqrt x) */
        want = 2 / M_PI * asin(sqrt(x));
        maxd = fmax(maxd, fabs(lrsa_betainc(0.5, 0.5, x) - want) / want);
        maxd = fmax(maxd, fabs(lrsa_betainc(7, 3, x) + lrsa_betainc(3, 7, 1 - x) - 1));
    }
    CHECK_MSG(maxd < 1e-13, "betainc identities: max rel diff %.3g", maxd);
    fprintf(stderr, "   betainc identities: max rel diff %.3g (tolerance 1e-13)\n", maxd);
    CHECK(lrsa_betainc(6248749, 6248749, 0.5) == 0.5);
    /* Near the centre at a = b = 6,248,749 (pearsonr at m = 12,497,500): 50-digit values of
     * (1 - I_w(1/2, a))/2, w = (1 - 2x)^2, from the power series of I_w with
     * Gamma(a + 1/2)/Gamma(a) = sqrt(a) exp(-1/(8a)) (Python decimal; scipy's Boost gives
     * 0.471816827738852 at x = 0.49999, 4.7e-10 off). */
    const double xc[] = { 0.49999999, 0.49999, 0.4999 };
    const double ic[] = { 0.49997179334477116918679519998799305949001202901693,
                          0.47181682795860612847797635556600632803625461778190,
                          0.23977205208186269206116491510528325680201210342630 };
    maxd = 0;
    for (int i = 0; i < 3; i++)
        maxd = fmax(maxd, fabs(lrsa_betainc(6248749, 6248749, xc[i]) - ic[i]) / ic[i]);
    CHECK_MSG(maxd < 1e-12, "large a near the centre: max rel diff %.3g", maxd);
    fprintf(stderr, "   I_x(a, a) at a = 6248749 near x = 1/2: max rel diff %.3g from 50-digit "
            "values (tolerance 1e-12)\n", maxd);
    CHECK(isnan(lrsa_betainc(-1, 2, 0.5)));
    CHECK(isnan(lrsa_betainc(1, 2, 1.5)));
    CHECK(lrsa_betainc(2, 2, 0) == 0 && lrsa_betainc(2, 2, 1) == 1);
    /* t tails: Cauchy (df 1) sf = 1/2 - atan(t)/pi; df 2: sf = (1 - t/sqrt(2 + t^2))/2 */
    const double ts[] = { -30, -1, 0.5, 2, 40, 1e6 };
    maxd = 0;
    for (int i = 0; i < 6; i++) {
        double t = ts[i];
        double c = t > 0 ? atan(1 / t) / M_PI : 0.5 - atan(t) / M_PI;
        maxd = fmax(maxd, fabs(lrsa_t_sf(t, 1) - c) / c);
        double s2 = (1 - t / sqrt(2 + t * t)) / 2;
        if (t > 0)
            s2 = 1 / (sqrt(2 + t * t) * (sqrt(2 + t * t) + t));
        maxd = fmax(maxd, fabs(lrsa_t_sf(t, 2) - s2) / s2);
    }
    CHECK_MSG(maxd < 1e-13, "t sf: max rel diff %.3g", maxd);
    CHECK(lrsa_t_sf(0, 5) == 0.5);
    CHECK(lrsa_t_sf(INFINITY, 5) == 0 && lrsa_t_sf(-INFINITY, 5) == 1);
    CHECK_NEAR(lrsa_t_sf(1e200, 1), 1 / (M_PI * 1e200), 1e-13 / (M_PI * 1e200));
    /* spearmanr's t tail is pearsonr's beta tail */
    double r = 0.01, df = 998, t = r * sqrt(df / ((1 + r) * (1 - r)));
    CHECK_NEAR(2 * lrsa_t_sf(t, df), lrsa_p_parametric(LRSA_CMP_PEARSON, r, 1000, LRSA_ALT_TWO_SIDED),
               1e-13);
}

/* ---- brute-force references ------------------------------------------------------------- */

static uint64_t xs_state = 88172645463325252ull;
static double rnd(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return (double)(xs_state >> 11) * 0x1p-53;
}

static void tau_a_brute(const double *x, const double *y, int64_t m, double *tau, uint64_t *tx,
                        uint64_t *ty, uint64_t *txy, uint64_t *nd)
{
    int64_t c = 0, d = 0;
    *tx = *ty = *txy = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = i + 1; j < m; j++) {
            double a = x[i] - x[j], b = y[i] - y[j];
            *tx += a == 0;
            *ty += b == 0;
            *txy += a == 0 && b == 0;
            if (a * b > 0)
                c++;
            else if (a * b < 0)
                d++;
        }
    *nd = (uint64_t)d;
    *tau = (double)(c - d) / ((double)m * (double)(m - 1) / 2);
}

static void test_kendall_brute(void)
{
    int ncase = 0;
    double maxd = 0;
    const int64_t sizes[] = { 2, 3, 7, 33, 100, 1000, 2500 };
    const int levels[] = { 0, 2, 5, 50 };      /* 0: continuous values */
    for (int s = 0; s < 7; s++)
        for (int l = 0; l < 4; l++)
            for (int sign = -1; sign <= 1; sign += 2) {
                int64_t m = sizes[s];
                double *x = malloc(sizeof *x * (size_t)m), *y = malloc(sizeof *y * (size_t)m);
                for (int64_t i = 0; i < m; i++) {
                    double a = rnd(), b = 0.6 * sign * a + 0.4 * rnd();
                    x[i] = levels[l] ? floor(a * levels[l]) - levels[l] / 2 : a - 0.5;
                    /* continuous x with tied y (the packed and wide sorts mixed) when l = 0 */
                    y[i] = levels[l] ? floor(b * levels[l]) : (sign > 0 ? floor(b * 7) : b);
                }
                x[0] = 1.0;            /* never constant */
                y[m - 1] = -7.0;
                double t1, t2;
                uint64_t a1, b1, c1, d1, a2, b2, c2, d2;
                tau_a_brute(x, y, m, &t1, &a1, &b1, &c1, &d1);
                CHECK_INT(lrsa_kendall_tau_a(x, y, m, &t2, &a2, &b2, &c2, &d2, NULL), LRSA_OK);
                CHECK_INT(a1, a2);
                CHECK_INT(b1, b2);
                CHECK_INT(c1, c2);
                CHECK_INT(d1, d2);
                maxd = fmax(maxd, fabs(t1 - t2));
                CHECK_MSG(fabs(t1 - t2) <= 1e-15, "m %lld levels %d: %.17g vs %.17g",
                          (long long)m, levels[l], t2, t1);
                ncase++;
                free(x);
                free(y);
            }
    fprintf(stderr, "   %d Kendall tau-a cases against O(m^2) counts: counts equal, max |diff| "
            "%.3g (tolerance 1e-15)\n", ncase, maxd);
}

static int cmp_pair(const void *a, const void *b)
{
    const double *p = a, *q = b;
    return (p[0] > q[0]) - (p[0] < q[0]);
}

/* Ranks of 300,000 values with many ties, -0.0/0.0, +-inf, against qsort. */
static void test_rank_qsort(void)
{
    const int64_t m = 300000;
    double *x = malloc(sizeof *x * m), *r = malloc(sizeof *r * m), *pairs = malloc(sizeof *pairs * 2 * m);
    for (int64_t i = 0; i < m; i++)
        x[i] = i % 3 == 0 ? floor(rnd() * 1000) - 500 : (rnd() - 0.5) * 1e6;
    x[5] = 0.0;
    x[6] = -0.0;
    x[7] = INFINITY;
    x[8] = -INFINITY;
    x[9] = 1e-310;                        /* a denormal */
    x[10] = -1e-310;
    CHECK_INT(lrsa_rank_average(x, m, r, NULL), LRSA_OK);
    for (int64_t i = 0; i < m; i++) {
        pairs[2 * i] = x[i];
        pairs[2 * i + 1] = (double)i;
    }
    qsort(pairs, (size_t)m, 2 * sizeof(double), cmp_pair);
    int64_t bad = 0;
    double sum = 0;
    for (int64_t i = 0; i < m;) {
        int64_t j = i + 1;
        while (j < m && pairs[2 * j] == pairs[2 * i])
            j++;
        for (int64_t t = i; t < j; t++)
            bad += r[(int64_t)pairs[2 * t + 1]] != 0.5 * (double)(i + 1 + j);
        i = j;
    }
    for (int64_t i = 0; i < m; i++)
        sum += r[i];
    CHECK_INT(bad, 0);
    CHECK_NEAR(sum, (double)m * (m + 1) / 2, 0);
    CHECK(r[5] == r[6]);                  /* -0.0 ties with 0.0 */
    CHECK(r[8] == 1.0 && r[7] == (double)m);
    /* NaNs rank last, tied */
    x[0] = NAN;
    x[1] = -NAN;
    CHECK_INT(lrsa_rank_average(x, m, r, NULL), LRSA_OK);
    CHECK(r[0] == r[1] && r[0] == m - 0.5);
    free(x);
    free(r);
    free(pairs);
}

/* The permutation engine's helpers: the statistic is the dot product of prepared vectors. */
static void test_prepare(void)
{
    const int64_t m = 5000;
    double *x = malloc(sizeof *x * m), *y = malloc(sizeof *y * m);
    double *px = malloc(sizeof *px * m), *py = malloc(sizeof *py * m);
    for (int64_t i = 0; i < m; i++) {
        x[i] = floor(rnd() * 40) + 3;
        y[i] = 0.1 * x[i] + rnd() * 2;
    }
    lrsa_cmp_method meth[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_COSINE };
    double maxd = 0;
    for (int k = 0; k < 3; k++) {
        double r, dot = 0, nx = 0, sx = 0;
        CHECK_INT(lrsa_compare_vectors(meth[k], x, y, m, &r, NULL), LRSA_OK);
        CHECK_INT(lrsa_compare_prepare(meth[k], x, m, px, NULL), LRSA_OK);
        CHECK_INT(lrsa_compare_prepare(meth[k], y, m, py, NULL), LRSA_OK);
        for (int64_t i = 0; i < m; i++) {
            dot += px[i] * py[i];
            nx += px[i] * px[i];
            sx += px[i];
        }
        maxd = fmax(maxd, fabs(dot - r));
        CHECK_NEAR(nx, 1.0, 1e-13);
        if (meth[k] != LRSA_CMP_COSINE)
            CHECK_NEAR(sx, 0.0, 1e-12);
    }
    CHECK_MSG(maxd <= 1e-13, "prepared dot products differ from r by %.3g", maxd);
    fprintf(stderr, "   prepared dot products = r: max |diff| %.3g (tolerance 1e-13)\n", maxd);
    /* in place */
    memcpy(px, x, sizeof *x * m);
    CHECK_INT(lrsa_standardize_vector(px, m, px, NULL), LRSA_OK);
    CHECK_INT(lrsa_standardize_vector(x, m, py, NULL), LRSA_OK);
    CHECK(memcmp(px, py, sizeof *px * m) == 0);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_compare_prepare(LRSA_CMP_KENDALL_TAU_A, x, m, px, &err), err, LRSA_EMISUSE, "kendall");
    for (int64_t i = 0; i < m; i++)
        x[i] = 2.5;
    CHECK_ERR(lrsa_standardize_vector(x, m, px, &err), err, LRSA_EFORMAT, "no variance");
    CHECK_ERR(lrsa_compare_prepare(LRSA_CMP_SPEARMAN, x, m, px, &err), err, LRSA_EFORMAT, "no variance");
    x[3] = NAN;
    CHECK_ERR(lrsa_standardize_vector(x, m, px, &err), err, LRSA_EFORMAT, "non-finite");
    CHECK_ERR(lrsa_standardize_vector(x, 1, px, &err), err, LRSA_EEMPTY, "at least 2");
    free(x);
    free(y);
    free(px);
    free(py);
}

static void test_errors(void)
{
    double x[6] = { 1, 2, 3, 4, 5, 6 }, c[6] = { 2, 2, 2, 2, 2, 2 }, z[6] = { 0 };
    double r = 42;
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_cmp_method all[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_KENDALL_TAU_A };
    for (int k = 0; k < 3; k++) {
        CHECK_ERR(lrsa_compare_vectors(all[k], x, c, 6, &r, &err), err, LRSA_EFORMAT, "no variance");
        CHECK(strstr(err.msg, "second vector") != NULL);
        CHECK_ERR(lrsa_compare_vectors(all[k], c, x, 6, &r, &err), err, LRSA_EFORMAT, "no variance");
        CHECK(strstr(err.msg, "first vector") != NULL);
        CHECK_ERR(lrsa_compare_vectors(all[k], x, x, 1, &r, &err), err, LRSA_EEMPTY, "at least 2");
        CHECK_ERR(lrsa_compare_vectors(all[k], x, x, 0, &r, &err), err, LRSA_EEMPTY, "at least 2");
    }
    CHECK_INT(lrsa_compare_vectors(LRSA_CMP_COSINE, x, c, 6, &r, NULL), LRSA_OK);
    CHECK_ERR(lrsa_compare_vectors(LRSA_CMP_COSINE, x, z, 6, &r, &err), err, LRSA_EFORMAT, "all zeros");
    lrsa_cmp_method four[] = { LRSA_CMP_PEARSON, LRSA_CMP_SPEARMAN, LRSA_CMP_KENDALL_TAU_A, LRSA_CMP_COSINE };
    double bad[6] = { 1, 2, NAN, 4, 5, 6 }, inf[6] = { 1, 2, 3, 4, 5, -INFINITY };
    for (int k = 0; k < 4; k++) {
        CHECK_ERR(lrsa_compare_vectors(four[k], x, bad, 6, &r, &err), err, LRSA_EFORMAT,
                  "non-finite value at position 2 of the second vector");
        CHECK_ERR(lrsa_compare_vectors(four[k], inf, x, 6, &r, &err), err, LRSA_EFORMAT,
                  "non-finite value at position 5 of the first vector");
    }
    r = 42;
    CHECK_ERR(lrsa_compare_vectors(LRSA_CMP_CKA_LINEAR, x, x, 6, &r, &err), err, LRSA_EMISUSE, "cka-linear");
    CHECK_ERR(lrsa_compare_vectors(LRSA_CMP_PEARSON, NULL, x, 6, &r, &err), err, LRSA_EMISUSE, "NULL");
    CHECK(r == 42);      /* untouched on failure */
    /* huge values whose sum overflows are still finite input */
    double h[4] = { 1.5e308, 1.7e308, 1.6e308, 1.79e308 }, g[4] = { 1, 3, 2, 4 };
    CHECK_INT(lrsa_compare_vectors(LRSA_CMP_PEARSON, h, g, 4, &r, &err), LRSA_OK);
    double want;
    {
        double hs[4], mh = 0, sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < 4; i++) { hs[i] = h[i] / 1e308; mh += hs[i] / 4; }
        for (int i = 0; i < 4; i++) {
            sxy += (hs[i] - mh) * (g[i] - 2.5);
            sxx += (hs[i] - mh) * (hs[i] - mh);
            syy += (g[i] - 2.5) * (g[i] - 2.5);
        }
        want = sxy / sqrt(sxx * syy);
    }
    CHECK_NEAR(r, want, 1e-12);
    /* nearly constant, but not constant: a value (the mean's rounding decides which; scipy warns
     * "nearly constant" and gives a similar one) */
    double nc[5] = { 1, 1, 1, 1, 1 + 2 * DBL_EPSILON };
    CHECK_INT(lrsa_compare_vectors(LRSA_CMP_PEARSON, nc, x, 5, &r, NULL), LRSA_OK);
    CHECK(r > 0.6 && r <= 1);
}

int main(void)
{
    load_expected();
    RUN(test_names);
    RUN(test_rdm_upper);
    if (expected) {
        RUN(test_fixture_vectors);
        RUN(test_fixture_pvalues);
    }
    RUN(test_spec_table);
    RUN(test_pvalue_edges);
    RUN(test_betainc);
    RUN(test_kendall_brute);
    RUN(test_rank_qsort);
    RUN(test_prepare);
    RUN(test_errors);
    cJSON_Delete(expected);
    return harness_done();
}
