/* RDMs: the fast tiled path and the pair-by-pair reference against scipy's pdist and
 * 1 - np.corrcoef (fixtures from tools/gen_rdm_fixtures.py, scipy 1.13.0 / numpy 1.26.4, float64
 * references on the same float32 inputs), exact symmetry and zero diagonal, thread-count
 * independence, the clip flag, and every bad input.
 *
 * Tolerances (include/latentrsa/rdm.h; D <= 700 here), TOL = 2e-6, c_i = row i minus the column
 * means:
 *   correlation, cosine, 1 - corrcoef   |ours - ref| <= TOL
 *   sqeuclidean                         |ours - ref| <= TOL (|c_i|^2 + |c_j|^2)
 *   euclidean                           |ours - ref| <= TOL sqrt(|c_i|^2 + |c_j|^2)
 *   nearly duplicate rows (dup 0-1, 0-2, 1-2, 3-4), (sq)euclidean: relative 1e-6
 *   the naive reference                 float32 rounding of the double result: relative 2^-23
 * Each comparison prints its largest difference (and the largest difference / tolerance). */
#include "harness.h"
#include "latentrsa/npy.h"
#include "latentrsa/rdm.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define TOL 2e-6

static char fixdir[2048];
static const char *const metrics[] = { "correlation", "cosine", "euclidean", "sqeuclidean" };

static double *load_f64(const char *name, int64_t *rows, int64_t *cols)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_npy_mapping *m = NULL;
    int rc = lrsa_npy_map(path, &m, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return NULL;
    double *v = malloc(sizeof(double) * (size_t)(m->hdr.numel ? m->hdr.numel : 1));
    lrsa_npy_decode_f64(&m->hdr, m->data, v);
    *rows = m->hdr.shape[0];
    *cols = m->hdr.ndim > 1 ? m->hdr.shape[1] : 1;
    lrsa_npy_unmap(m);
    return v;
}

static float *load_f32(const char *name, int64_t *rows, int64_t *cols)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *t = NULL;
    int rc = lrsa_npy_read_f32(path, &t, &err);
    CHECK_MSG(rc == LRSA_OK, "%s", err.msg);
    if (rc)
        return NULL;
    *rows = t->shape[0];
    *cols = t->shape[1];
    float *v = t->data;
    t->owns = 0;
    lrsa_tensor_free(t);
    return v;
}

/* |c_i|^2: rows minus the column means, in double. */
static double *centred_norms(const float *X, int64_t n, int64_t d)
{
    double *mu = calloc((size_t)d, sizeof *mu), *nrm = calloc((size_t)n, sizeof *nrm);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++)
            mu[k] += X[i * d + k] / (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) {
            double c = X[i * d + k] - mu[k];
            nrm[i] += c * c;
        }
    free(mu);
    return nrm;
}

/* Exactly symmetric, exactly zero diagonal, no negative or non-finite entry. */
static void check_shape_rules(const char *what, const float *R, int64_t n)
{
    int64_t asym = 0, diag = 0, neg = 0, nonfinite = 0;
    for (int64_t i = 0; i < n; i++) {
        if (R[i * n + i] != 0.0f)
            diag++;
        for (int64_t j = 0; j < n; j++) {
            if (R[i * n + j] != R[j * n + i])
                asym++;
            if (R[i * n + j] < 0)
                neg++;
            if (!isfinite(R[i * n + j]))
                nonfinite++;
        }
    }
    CHECK_MSG(asym == 0, "%s: %lld asymmetric entries", what, (long long)asym);
    CHECK_MSG(diag == 0, "%s: %lld non-zero diagonal entries", what, (long long)diag);
    CHECK_MSG(neg == 0, "%s: %lld negative entries", what, (long long)neg);
    CHECK_MSG(nonfinite == 0, "%s: %lld non-finite entries", what, (long long)nonfinite);
}

/* Compare R (ours) with ref (double) off the diagonal under the metric's tolerance. */
static void compare(const char *what, int metric, const float *R, const double *ref, const double *nrm,
                    int64_t n, double scale)
{
    double maxdiff = 0, maxratio = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i == j)
                continue;
            double diff = fabs((double)R[i * n + j] - ref[i * n + j]);
            double tol = TOL;
            if (metric == LRSA_RDM_SQEUCLIDEAN)
                tol = TOL * (nrm[i] + nrm[j]);
            else if (metric == LRSA_RDM_EUCLIDEAN)
                tol = TOL * sqrt(nrm[i] + nrm[j]);
            tol *= scale;
            if (diff > maxdiff)
                maxdiff = diff;
            if (tol > 0 && diff / tol > maxratio)
                maxratio = diff / tol;
        }
    fprintf(stderr, "   %-34s max |diff| %.3g (%.3g of the tolerance)\n", what, maxdiff, maxratio);
    CHECK_MSG(maxratio <= 1.0, "%s: max |diff| %.3g is %.3g x the tolerance", what, maxdiff, maxratio);
}

static void test_fixtures(void)
{
    char path[2300], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/manifest.json", fixdir);
    CHECK_INT(lrsa_read_file(path, 0, &text, &len, NULL), LRSA_OK);
    cJSON *manifest = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(manifest != NULL);
    const cJSON *fixtures = cJSON_GetObjectItem(manifest, "fixtures"), *f;
    int nfix = 0;
    cJSON_ArrayForEach(f, fixtures) {
        int64_t n, d, rn, rd;
        snprintf(path, sizeof path, "%s.npy", f->string);
        float *X = load_f32(path, &n, &d);
        if (!X)
            continue;
        nfix++;
        double *nrm = centred_norms(X, n, d);
        float *R = malloc(sizeof(float) * (size_t)(n * n));
        float *Rn = malloc(sizeof(float) * (size_t)(n * n));
        for (int m = 0; m < 4; m++) {
            snprintf(path, sizeof path, "%s.%s.npy", f->string, metrics[m]);
            double *ref = load_f64(path, &rn, &rd);
            if (!ref)
                continue;
            CHECK_INT(rn, n);
            lrsa_err err;
            lrsa_err_init(&err);
            int64_t bad = 7;
            int rc = lrsa_rdm_compute(R, X, n, d, (lrsa_rdm_metric)m, 0, &bad, NULL, &err);
            CHECK_MSG(rc == LRSA_OK, "%s: %s", path, err.msg);
            CHECK_INT(bad, -1);
            rc = lrsa_rdm_compute_naive(Rn, X, n, d, (lrsa_rdm_metric)m, 0, NULL, &err);
            CHECK_MSG(rc == LRSA_OK, "%s: %s", path, err.msg);
            char what[256];
            snprintf(what, sizeof what, "%s %s", f->string, metrics[m]);
            check_shape_rules(what, R, n);
            check_shape_rules(what, Rn, n);
            compare(what, m, R, ref, nrm, n, 1.0);
            snprintf(what, sizeof what, "%s %s (naive)", f->string, metrics[m]);
            /* The naive result is the double result rounded to float32: 2^-23 of its size. */
            double maxrel = 0;
            for (int64_t i = 0; i < n * n; i++) {
                double e = fabs(Rn[i] - ref[i]) / (fabs(ref[i]) + 1e-300);
                if (ref[i] != 0 && e > maxrel)
                    maxrel = e;
                CHECK_MSG(fabs(Rn[i] - ref[i]) <= ldexp(fabs(ref[i]), -23) + 1e-15, "%s [%lld]: %.9g vs %.9g",
                          what, (long long)i, Rn[i], ref[i]);
            }
            fprintf(stderr, "   %-34s max relative diff %.3g\n", what, maxrel);
            if (strcmp(f->string, "dup") == 0 && m >= LRSA_RDM_EUCLIDEAN) {
                /* nearly duplicate pairs: recomputed in double, so relative accuracy */
                static const int pairs[4][2] = { { 0, 1 }, { 0, 2 }, { 1, 2 }, { 3, 4 } };
                for (int p = 0; p < 4; p++) {
                    int64_t i = pairs[p][0], j = pairs[p][1];
                    double r = ref[i * n + j], v = R[i * n + j];
                    fprintf(stderr, "   dup %s (%lld, %lld): %.9g vs scipy %.9g\n", metrics[m],
                            (long long)i, (long long)j, v, r);
                    CHECK_MSG(fabs(v - r) <= 1e-6 * r, "dup %s (%lld, %lld): %.9g vs %.9g", metrics[m],
                              (long long)i, (long long)j, v, r);
                }
                CHECK(R[3 * n + 4] == 0.0f);
            }
            if (m == LRSA_RDM_CORRELATION) {
                /* the paper's formula: 1 - np.corrcoef (off the diagonal) */
                free(ref);
                snprintf(path, sizeof path, "%s.corrcoef.npy", f->string);
                ref = load_f64(path, &rn, &rd);
                if (ref) {
                    snprintf(what, sizeof what, "%s 1 - corrcoef", f->string);
                    compare(what, m, R, ref, nrm, n, 1.0);
                }
                /* --clip-negative changes nothing: our entries are never negative */
                float *Rc = malloc(sizeof(float) * (size_t)(n * n));
                rc = lrsa_rdm_compute(Rc, X, n, d, LRSA_RDM_CORRELATION, LRSA_RDM_CLIP_NEGATIVE, NULL, NULL, &err);
                CHECK_INT(rc, LRSA_OK);
                CHECK(memcmp(Rc, R, sizeof(float) * (size_t)(n * n)) == 0);
                free(Rc);
            }
            free(ref);
        }
        free(X);
        free(nrm);
        free(R);
        free(Rn);
    }
    CHECK_INT(nfix, 6);
    cJSON_Delete(manifest);
}

/* The rsatoolbox example (specs/rsa.md 4.2 a): row 1 = row 0 + 0.01, so r = 1 up to rounding. */
static void test_rsatoolbox_values(void)
{
    int64_t n, d;
    float *X = load_f32("rsatoolbox.npy", &n, &d);
    if (!X)
        return;
    float R[36];
    CHECK_INT(lrsa_rdm_compute(R, X, n, d, LRSA_RDM_CORRELATION, 0, NULL, NULL, NULL), LRSA_OK);
    CHECK_NEAR(R[1], 0.0, 1e-6);
    CHECK_NEAR(R[2], 0.81101776349538623, 1e-5);
    CHECK_NEAR(R[5], 1.9971764649527379, 1e-5);
    CHECK_NEAR(R[4 * 6 + 5], 0.046179033523467972, 1e-5);
    free(X);
}

/* Random matrices with several tiles (the tile edge is 384: 900 = 384 + 384 + 132 rows, 385 = a
 * one-row edge tile, 500 with D = 700): fast vs naive for every metric, and the same bits with
 * 1 and 2 threads. */
static void test_tiles(void)
{
    static const int64_t shapes[3][2] = { { 900, 40 }, { 385, 3 }, { 500, 700 } };
    for (int s = 0; s < 3; s++) {
        int64_t n = shapes[s][0], d = shapes[s][1];
        float *X = malloc(sizeof(float) * (size_t)(n * d));
        float *R1 = malloc(sizeof(float) * (size_t)(n * n)), *R2 = malloc(sizeof(float) * (size_t)(n * n));
        float *Rn = malloc(sizeof(float) * (size_t)(n * n));
        double *ref = malloc(sizeof(double) * (size_t)(n * n));
        lrsa_rng rng;
        lrsa_rng_seed(&rng, 42 + (uint64_t)s);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < d; k++) /* per-row offsets and scales, and a common offset */
                X[i * d + k] = (float)(5.0 + (double)(i % 7) + (1.0 + (double)(i % 3)) * lrsa_rng_normal(&rng));
        double *nrm = centred_norms(X, n, d);
        lrsa_ctx one, two;
        lrsa_ctx_init(&one);
        lrsa_ctx_init(&two);
        one.threads = 1;
        two.threads = 2;
#ifdef _OPENMP
        int omp_max = omp_get_max_threads();
#endif
        for (int m = 0; m < 4; m++) {
            lrsa_err err;
            lrsa_err_init(&err);
            CHECK_INT(lrsa_rdm_compute(R1, X, n, d, (lrsa_rdm_metric)m, 0, NULL, &one, &err), LRSA_OK);
            CHECK_INT(lrsa_rdm_compute(R2, X, n, d, (lrsa_rdm_metric)m, 0, NULL, &two, &err), LRSA_OK);
            CHECK_INT(lrsa_rdm_compute_naive(Rn, X, n, d, (lrsa_rdm_metric)m, 0, NULL, &err), LRSA_OK);
#ifdef _OPENMP
            CHECK_INT(omp_get_max_threads(), omp_max); /* the caller's thread setting is untouched */
#endif
            CHECK_MSG(memcmp(R1, R2, sizeof(float) * (size_t)(n * n)) == 0, "%lld x %lld %s: 1 and 2 threads differ",
                      (long long)n, (long long)d, metrics[m]);
            for (int64_t i = 0; i < n * n; i++)
                ref[i] = Rn[i];
            char what[128];
            snprintf(what, sizeof what, "%lldx%lld %s vs naive", (long long)n, (long long)d, metrics[m]);
            check_shape_rules(what, R2, n);
            /* the naive result carries its own float32 rounding: allow 1.1 x the tolerance */
            compare(what, m, R2, ref, nrm, n, 1.1);
        }
        free(X);
        free(R1);
        free(R2);
        free(Rn);
        free(ref);
        free(nrm);
    }
}

static void test_normalize_rows(void)
{
    enum { N = 5, D = 9 };
    float X[N * D], U[N * D];
    lrsa_rng rng;
    lrsa_rng_seed(&rng, 7);
    for (int i = 0; i < N * D; i++)
        X[i] = (float)(100.0 + lrsa_rng_normal(&rng));
    for (int center = 0; center <= 1; center++) {
        CHECK_INT(lrsa_rdm_normalize_rows(U, X, N, D, center, NULL, NULL, NULL), LRSA_OK);
        for (int i = 0; i < N; i++) {
            double s = 0, ss = 0;
            for (int k = 0; k < D; k++) {
                s += U[i * D + k];
                ss += (double)U[i * D + k] * U[i * D + k];
            }
            if (center)
                CHECK_NEAR(s, 0.0, 1e-6);
            CHECK_NEAR(ss, 1.0, 1e-6);
        }
    }
    /* in place */
    memcpy(U, X, sizeof X);
    float V[N * D];
    CHECK_INT(lrsa_rdm_normalize_rows(V, X, N, D, 1, NULL, NULL, NULL), LRSA_OK);
    CHECK_INT(lrsa_rdm_normalize_rows(U, U, N, D, 1, NULL, NULL, NULL), LRSA_OK);
    CHECK(memcmp(U, V, sizeof U) == 0);
}

static void test_bad_input(void)
{
    enum { N = 4, D = 5 };
    float X[N * D], R[N * N];
    for (int i = 0; i < N * D; i++)
        X[i] = (float)((i * 7) % 11) - 3.0f;
    lrsa_err err;
    int64_t bad;
    for (int m = 0; m < 4; m++) {
        for (int naive = 0; naive <= 1; naive++) {
            float Y[N * D];
            memcpy(Y, X, sizeof X);
#define COMPUTE(Xp, n, d, metric) (naive ? lrsa_rdm_compute_naive(R, (Xp), (n), (d), (metric), 0, &bad, &err) \
                                         : lrsa_rdm_compute(R, (Xp), (n), (d), (metric), 0, &bad, NULL, &err))
            lrsa_err_init(&err);
            Y[2 * D + 3] = NAN;
            int rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_EFORMAT, "row 2 column 3 is NaN");
            CHECK_INT(bad, 2);
            Y[1 * D + 0] = -INFINITY; /* the first bad row wins */
            rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_EFORMAT, "row 1 column 0 is -Inf");
            CHECK_INT(bad, 1);
            memcpy(Y, X, sizeof X);
            Y[3 * D + 4] = INFINITY;
            rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_EFORMAT, "row 3 column 4 is +Inf");
            /* a constant row: only the correlation refuses */
            memcpy(Y, X, sizeof X);
            for (int k = 0; k < D; k++)
                Y[2 * D + k] = 4.5f;
            rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            if (m == LRSA_RDM_CORRELATION) {
                CHECK_ERR(rc, err, LRSA_EFORMAT, "row 2 is constant (zero variance)");
                CHECK_INT(bad, 2);
            } else {
                CHECK_INT(rc, LRSA_OK);
                CHECK_INT(bad, -1);
            }
            /* a NaN in a later row is reported before a constant or zero row */
            Y[3 * D + 1] = NAN;
            rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_EFORMAT, "row 3 column 1 is NaN");
            CHECK_INT(bad, 3);
            Y[3 * D + 1] = 1.0f;
            /* an all-zero row: correlation and cosine refuse */
            for (int k = 0; k < D; k++)
                Y[2 * D + k] = 0.0f;
            rc = COMPUTE(Y, N, D, (lrsa_rdm_metric)m);
            if (m == LRSA_RDM_COSINE) {
                CHECK_ERR(rc, err, LRSA_EFORMAT, "row 2 is all zeros");
                CHECK_INT(bad, 2);
            } else if (m == LRSA_RDM_CORRELATION) {
                CHECK_ERR(rc, err, LRSA_EFORMAT, "row 2 is constant");
            } else {
                CHECK_INT(rc, LRSA_OK);
            }
            rc = COMPUTE(X, 1, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_ESHAPE, "at least 2 rows, got 1");
            rc = COMPUTE(X, N, 0, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_ESHAPE, "at least 1 column, got 0");
            rc = COMPUTE(NULL, N, D, (lrsa_rdm_metric)m);
            CHECK_ERR(rc, err, LRSA_EMISUSE, "NULL");
            rc = COMPUTE(X, N, D, (lrsa_rdm_metric)9);
            CHECK_ERR(rc, err, LRSA_EMISUSE, "unknown metric 9");
            rc = naive ? lrsa_rdm_compute_naive(R, X, N, D, (lrsa_rdm_metric)m, 1 << 5, &bad, &err)
                       : lrsa_rdm_compute(R, X, N, D, (lrsa_rdm_metric)m, 1 << 5, &bad, NULL, &err);
            CHECK_ERR(rc, err, LRSA_EMISUSE, "unknown flags 0x20");
#undef COMPUTE
        }
    }
    /* a single column: correlation is undefined for every row, the others work */
    float one[3] = { 1, 2, 4 }, R3[9];
    CHECK_INT(lrsa_rdm_compute(R3, one, 3, 1, LRSA_RDM_CORRELATION, 0, &bad, NULL, &err), LRSA_EFORMAT);
    CHECK_INT(lrsa_rdm_compute(R3, one, 3, 1, LRSA_RDM_EUCLIDEAN, 0, NULL, NULL, &err), LRSA_OK);
    CHECK(R3[1] == 1.0f && R3[2] == 3.0f && R3[5] == 2.0f && R3[7] == 2.0f);
    CHECK_INT(lrsa_rdm_compute(R3, one, 3, 1, LRSA_RDM_COSINE, 0, NULL, NULL, &err), LRSA_OK);
    CHECK(R3[1] == 0.0f);
}

static void test_metric_names(void)
{
    for (int m = 0; m < 4; m++) {
        lrsa_rdm_metric out;
        CHECK_INT(lrsa_rdm_metric_parse(metrics[m], &out, NULL), LRSA_OK);
        CHECK_INT(out, m);
        CHECK_STR(lrsa_rdm_metric_name(out), metrics[m]);
    }
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_rdm_metric out;
    CHECK_ERR(lrsa_rdm_metric_parse("pearson", &out, &err), err, LRSA_EMISUSE, "unknown metric 'pearson'");
    CHECK_STR(lrsa_rdm_metric_name((lrsa_rdm_metric)17), "unknown");
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/rdm", src && *src ? src : ".");
    RUN(test_fixtures);
    RUN(test_rsatoolbox_values);
    RUN(test_tiles);
    RUN(test_normalize_rows);
    RUN(test_bad_input);
    RUN(test_metric_names);
    return harness_done();
}
