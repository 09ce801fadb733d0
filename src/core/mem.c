/* Allocation helpers that report failure through lrsa_err and guard size arithmetic. */
#include "latentrsa/core.h"

#include <stdlib.h>
#include <string.h>

int lrsa_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

void *lrsa_malloc(size_t size, const char *what, lrsa_err *err)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        LRSA_FAIL(err, LRSA_ENOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return p;
}

void *lrsa_calloc(size_t n, size_t size, const char *what, lrsa_err *err)
{
    size_t total;
    if (lrsa_mul_size(n, size, &total) != 0) {
        LRSA_FAIL(err, LRSA_ENOMEM, "size of %s overflows (%zu x %zu bytes)", what, n, size);
        return NULL;
    }
    void *p = calloc(total ? n : 1, total ? size : 1);
    if (!p)
        LRSA_FAIL(err, LRSA_ENOMEM, "out of memory allocating %zu bytes for %s", total, what);
    return p;
}

void *lrsa_realloc(void *p, size_t size, const char *what, lrsa_err *err)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        LRSA_FAIL(err, LRSA_ENOMEM, "out of memory allocating %zu bytes for %s", size, what);
    return q;
}

char *lrsa_strdup(const char *s, lrsa_err *err)
{
    size_t n = strlen(s) + 1;
    char *d = lrsa_malloc(n, "a string", err);
    if (d)
        memcpy(d, s, n);
    return d;
}
