/* A tiny test harness: CHECK macros count failures, the process exit status is the verdict.
 * Each test file ends with `return harness_done();`, which prints "N passed, M failed". */
#ifndef LRSA_TEST_HARNESS_H
#define LRSA_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_checks, harness_failures;

#define CHECK(cond) do { \
    harness_checks++; \
    if (!(cond)) { harness_failures++; \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    harness_checks++; \
    if (!(cond)) { harness_failures++; \
        fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    CHECK_MSG(a_ == b_, "%lld != %lld", a_, b_); } while (0)

#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    CHECK_MSG(a_ && b_ && strcmp(a_, b_) == 0, "'%s' != '%s'", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
    CHECK_MSG(fabs(a_ - b_) <= (tol), "%.9g vs %.9g (tol %g)", a_, b_, (double)(tol)); } while (0)

/* Check that rc is an error with this code and that its message mentions `needle`. */
#define CHECK_ERR(rc, err, code, needle) do { \
    CHECK_MSG((rc) == (code), "rc %d, expected %d (%s)", (int)(rc), (int)(code), (err).msg); \
    CHECK_MSG(strstr((err).msg, (needle)) != NULL, "message '%s' lacks '%s'", (err).msg, (needle)); \
} while (0)

/* As CHECK_ERR, and the message must also name `file`. */
#define CHECK_ERR_FILE(rc, err, code, needle, file) do { \
    CHECK_ERR(rc, err, code, needle); \
    CHECK_MSG(strstr((err).msg, (file)) != NULL, "message '%s' does not name '%s'", (err).msg, (file)); \
} while (0)

#define RUN(test) do { fprintf(stderr, "-- %s\n", #test); test(); } while (0)

static inline int harness_done(void)
{
    printf("%d passed, %d failed\n", harness_checks - harness_failures, harness_failures);
    return harness_failures ? 1 : 0;
}

/* A per-test scratch directory under $LRSA_TMP (or /tmp). */
static inline const char *harness_tmpdir(void)
{
    const char *t = getenv("LRSA_TMP");
    return t && *t ? t : "/tmp";
}

#endif
