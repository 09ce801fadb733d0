/* Linear CKA, biased and debiased: numpy values (tools/gen_compare_fixtures.py), the Gram and
 * feature-space forms against each other, invariances (orthogonal transforms, isotropic scaling,
 * column offsets), CKA(X, X) = 1, symmetry, and the errors. */
#include "harness.h"
#include "latentrsa/compare.h"

#include <cjson/cJSON.h>
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

static float *json_floats(const cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    float *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        v[i] = (float)cJSON_GetArrayItem(arr, i)->valuedouble;
    return v;
}

static double cka(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy, int deb)
{
    double v = NAN;
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_cka_linear(X, n, dx, Y, dy, deb, &v, NULL, &err);
    CHECK_MSG(rc == LRSA_OK, "cka: %s", err.msg);
    return v;
}

/* Both estimators against numpy (float64 on the same float32 values): 1e-10 relative to 1. */
static void test_fixtures(void)
{
    const cJSON *cases = cJSON_GetObjectItem(expected, "cka"), *c;
    double maxd = 0;
    int ncase = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int64_t n = (int64_t)cJSON_GetObjectItem(c, "n")->valuedouble;
        int64_t dx = (int64_t)cJSON_GetObjectItem(c, "dx")->valuedouble;
        int64_t dy = (int64_t)cJSON_GetObjectItem(c, "dy")->valuedouble;
        float *X = json_floats(cJSON_GetObjectItem(c, "X"));
        float *Y = json_floats(cJSON_GetObjectItem(c, "Y"));
        double b = cka(X, n, dx, Y, dy, 0);
        double want = cJSON_GetObjectItem(c, "biased")->valuedouble;
        CHECK_MSG(fabs(b - want) <= 1e-10, "%s biased: %.17g vs numpy %.17g", name, b, want);
        maxd = fmax(maxd, fabs(b - want));
        const cJSON *dj = cJSON_GetObjectItem(c, "debiased");
        if (cJSON_IsNumber(dj)) {
            double d = cka(X, n, dx, Y, dy, 1);
            CHECK_MSG(fabs(d - dj->valuedouble) <= 1e-10, "%s debiased: %.17g vs numpy %.17g",
                      name, d, dj->valuedouble);
            maxd = fmax(maxd, fabs(d - dj->valuedouble));
        }
        ncase++;
        free(X);
        free(Y);
    }
    CHECK(ncase >= 5);
    fprintf(stderr, "   %d CKA fixtures: max |diff| %.3g (tolerance 1e-10)\n", ncase, maxd);
}

static uint64_t xs_state = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return (double)(xs_state >> 11) * 0x1p-53;
}

static double gauss(void)
{
    double u = rnd() + 1e-300, v = rnd();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static float *random_matrix(int64_t n, int64_t d)
{
    float *A = malloc(sizeof *A * (size_t)(n * d));
    for (int64_t i = 0; i < n * d; i++)
        A[i] = (float)gauss();
    return A;
}

/* B = s A Q + offset per column, Q a random orthogonal d x d (a product of Givens rotations),
 * computed in double then rounded to float. */
static float *orthogonal_image(const float *A, int64_t n, int64_t d, double s)
{
    double *Q = calloc((size_t)(d * d), sizeof *Q);
    for (int64_t i = 0; i < d; i++)
        Q[i * d + i] = 1;
    for (int k = 0; k < 4 * (int)d; k++) {
        int64_t p = (int64_t)(rnd() * (double)d), q = (int64_t)(rnd() * (double)d);
        if (p == q)
            continue;
        double th = 2 * M_PI * rnd(), c = cos(th), sn = sin(th);
        for (int64_t i = 0; i < d; i++) {      /* Q <- Q G (columns p, q) */
            double a = Q[i * d + p], b = Q[i * d + q];
            Q[i * d + p] = c * a - sn * b;
            Q[i * d + q] = sn * a + c * b;
        }
    }
    float *B = malloc(sizeof *B * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double acc = 0;
            for (int64_t k = 0; k < d; k++)
                acc += (double)A[i * d + k] * Q[k * d + j];
            B[i * d + j] = (float)(s * (acc + 2.0 * (double)j));
        }
    free(Q);
    return B;
}

/* Invariances hold to float32 rounding of the transformed inputs: tolerance 1e-6. */
static void test_invariances(void)
{
    const int64_t n = 60, dx = 8, dy = 5;
    float *X = random_matrix(n, dx), *Y = random_matrix(n, dy);
    for (int64_t i = 0; i < n; i++)                 /* make Y depend on X */
        for (int64_t j = 0; j < dy; j++)
            Y[i * dy + j] += 0.8f * X[i * dx + j];
    double maxd = 0;
    for (int deb = 0; deb <= 1; deb++) {
        double base = cka(X, n, dx, Y, dy, deb);
        float *XQ = orthogonal_image(X, n, dx, 3.7);
        float *YQ = orthogonal_image(Y, n, dy, 0.01);
        double t1 = cka(XQ, n, dx, Y, dy, deb), t2 = cka(XQ, n, dx, YQ, dy, deb);
        double same = cka(X, n, dx, X, dx, deb), same_q = cka(X, n, dx, XQ, dx, deb);
        double sym = cka(Y, n, dy, X, dx, deb);
        maxd = fmax(maxd, fmax(fabs(t1 - base), fabs(t2 - base)));
        maxd = fmax(maxd, fmax(fabs(same - 1), fabs(same_q - 1)));
        CHECK_NEAR(t1, base, 1e-6);
        CHECK_NEAR(t2, base, 1e-6);
        CHECK_NEAR(same, 1.0, 1e-12);
        CHECK_NEAR(same_q, 1.0, 1e-6);
        CHECK_NEAR(sym, base, 1e-13);
        CHECK(base > 0.3 && base < 1);
        free(XQ);
        free(YQ);
    }
    fprintf(stderr, "   orthogonal/scaling/offset invariance and CKA(X, X) = 1: max |diff| %.3g "
            "(tolerance 1e-6: float32 inputs)\n", maxd);
    free(X);
    free(Y);
}

/* Padding X with constant columns changes neither K nor the value but flips the form used
 * (feature-space for n >= dx + dy, Gram below): both forms agree. */
static void test_forms_agree(void)
{
    const int64_t n = 40, dx = 6, dy = 7, pad = 40;
    float *X = random_matrix(n, dx), *Y = random_matrix(n, dy);
    float *P = malloc(sizeof *P * (size_t)(n * (dx + pad)));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < dx; j++)
            P[i * (dx + pad) + j] = X[i * dx + j] + 0.3f * Y[i * dy + j];
        for (int64_t j = dx; j < dx + pad; j++)
            P[i * (dx + pad) + j] = (float)(j * 1.5);
        for (int64_t j = 0; j < dx; j++)
            X[i * dx + j] = P[i * (dx + pad) + j];
    }
    double maxd = 0;
    for (int deb = 0; deb <= 1; deb++) {
        double feat = cka(X, n, dx, Y, dy, deb);            /* 40 >= 13: feature form */
        double gram = cka(P, n, dx + pad, Y, dy, deb);      /* 40 < 53: Gram form */
        maxd = fmax(maxd, fabs(feat - gram));
        CHECK_NEAR(feat, gram, 1e-12);
    }
    fprintf(stderr, "   Gram and feature-space forms: max |diff| %.3g (tolerance 1e-12)\n", maxd);
    free(X);
    free(Y);
    free(P);
}

/* Unrelated wide data: biased CKA is inflated, debiased stays near 0 (specs/align.md 2.5). */
static void test_wide_bias(void)
{
    const int64_t n = 100, dx = 2000, dy = 1500;
    float *X = random_matrix(n, dx), *Y = random_matrix(n, dy);
    double b = cka(X, n, dx, Y, dy, 0), d = cka(X, n, dx, Y, dy, 1);
    fprintf(stderr, "   independent 100 x 2000 vs 100 x 1500: biased %.3f, debiased %.4f\n", b, d);
    CHECK(b > 0.8);
    CHECK(fabs(d) < 0.02);
    free(X);
    free(Y);
}

static void test_errors(void)
{
    float X[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13 }, C[12] = { 0 }, Y[12];
    for (int i = 0; i < 12; i++) {
        Y[i] = (float)((i * 7) % 5);
        C[i] = (float)(i % 3);                      /* 4 x 3: every column constant */
    }
    double v = 42;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_ERR(lrsa_cka_linear(X, 3, 3, Y, 3, 1, &v, NULL, &err), err, LRSA_EEMPTY, "at least 4");
    CHECK_ERR(lrsa_cka_linear(X, 1, 3, Y, 3, 0, &v, NULL, &err), err, LRSA_EEMPTY, "at least 2");
    CHECK_ERR(lrsa_cka_linear(C, 4, 3, Y, 3, 0, &v, NULL, &err), err, LRSA_EFORMAT, "no variance");
    CHECK(strstr(err.msg, "X") != NULL);
    CHECK_ERR(lrsa_cka_linear(X, 4, 3, C, 3, 1, &v, NULL, &err), err, LRSA_EFORMAT, "no variance");
    CHECK(strstr(err.msg, "Y") != NULL);
    CHECK_ERR(lrsa_cka_linear(NULL, 4, 3, Y, 3, 0, &v, NULL, &err), err, LRSA_EMISUSE, "NULL");
    CHECK_ERR(lrsa_cka_linear(X, 4, 0, Y, 3, 0, &v, NULL, &err), err, LRSA_EMISUSE, "matrices");
    X[5] = NAN;
    CHECK_ERR(lrsa_cka_linear(X, 4, 3, Y, 3, 0, &v, NULL, &err), err, LRSA_EFORMAT,
              "non-finite value in X at row 1, column 2");
    X[5] = 6;
    Y[11] = INFINITY;
    CHECK_ERR(lrsa_cka_linear(X, 4, 3, Y, 3, 0, &v, NULL, &err), err, LRSA_EFORMAT,
              "non-finite value in Y at row 3, column 2");
    CHECK(v == 42);
    /* n = 4 debiased works; one column each works */
    Y[11] = 1;
    CHECK_INT(lrsa_cka_linear(X, 4, 3, Y, 3, 1, &v, NULL, &err), LRSA_OK);
    CHECK(isfinite(v));
    CHECK_INT(lrsa_cka_linear(X, 12, 1, Y, 1, 0, &v, NULL, &err), LRSA_OK);
}

int main(void)
{
    load_expected();
    if (expected)
        RUN(test_fixtures);
    RUN(test_invariances);
    RUN(test_forms_agree);
    RUN(test_wide_bias);
    RUN(test_errors);
    cJSON_Delete(expected);
    return harness_done();
}
