/* Growable strings. */
#include "latentrsa/core.h"

#include <stdlib.h>
#include <string.h>

void lrsa_strbuf_init(lrsa_strbuf *sb)
{
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void lrsa_strbuf_release(lrsa_strbuf *sb)
{
    if (!sb)
        return;
    free(sb->buf);
    lrsa_strbuf_init(sb);
}

void lrsa_strbuf_reset(lrsa_strbuf *sb)
{
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

static int grow(lrsa_strbuf *sb, size_t extra, lrsa_err *err)
{
    if (sb->len + extra + 1 <= sb->cap)
        return LRSA_OK;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return LRSA_FAIL(err, LRSA_ENOMEM, "string too long");
        cap *= 2;
    }
    char *p = lrsa_realloc(sb->buf, cap, "a string buffer", err);
    if (!p)
        return LRSA_ENOMEM;
    sb->buf = p;
    sb->cap = cap;
    return LRSA_OK;
}

int lrsa_strbuf_add(lrsa_strbuf *sb, const char *s, size_t n, lrsa_err *err)
{
    if (grow(sb, n, err))
        return LRSA_ENOMEM;
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return LRSA_OK;
}

int lrsa_strbuf_adds(lrsa_strbuf *sb, const char *s, lrsa_err *err)
{
    return lrsa_strbuf_add(sb, s, strlen(s), err);
}

int lrsa_strbuf_addf(lrsa_strbuf *sb, lrsa_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "bad format string");
    if (grow(sb, (size_t)n, err))
        return LRSA_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return LRSA_OK;
}

char *lrsa_strbuf_detach(lrsa_strbuf *sb, lrsa_err *err)
{
    if (!sb->buf && grow(sb, 0, err))
        return NULL;
    if (sb->len == 0)
        sb->buf[0] = '\0';
    char *s = sb->buf;
    lrsa_strbuf_init(sb);
    return s;
}
