/* The report's HTML output: raw and escaped text, numbers or "n/a", key/value table rows, any
 * JSON value as text, and PNGs embedded as base64 data URIs (files the study wrote, and figures
 * drawn with plot.h through a temporary file in OUT). Every call is a no-op once an error is
 * latched (report_impl.h). */
#include "report_impl.h"

#include "latentrsa/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ===== Text ============================================================ */
static void add(rep *r, const char *s, size_t n)
{
    lrsa_err e;
    lrsa_err_init(&e);
    if (!r->rc && lrsa_strbuf_add(&r->html, s, n, &e))
        rep_fail_err(r, &e, "'%s'", LRSA_REPORT_FILE);
}

void h_raw(rep *r, const char *s)
{
    add(r, s, strlen(s));
}

/* Format into a heap string (NULL on failure, latched). */
static char *vformat(rep *r, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    lrsa_err e;
    lrsa_err_init(&e);
    char *s = n < 0 ? NULL : lrsa_malloc((size_t)n + 1, "report text", &e);
    if (!s) {
        rep_fail_err(r, &e, "'%s'", LRSA_REPORT_FILE);
        return NULL;
    }
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void h_rawf(rep *r, const char *fmt, ...)
{
    if (r->rc)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(r, fmt, ap);
    va_end(ap);
    if (s)
        h_raw(r, s);
    free(s);
}

void h_text(rep *r, const char *s)
{
    if (!s)
        s = "n/a";
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        case '\0': add(r, run, (size_t)(p - run)); return;
        default: continue;
        }
        add(r, run, (size_t)(p - run));
        h_raw(r, ent);
        run = p + 1;
    }
}

void h_textf(rep *r, const char *fmt, ...)
{
    if (r->rc)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(r, fmt, ap);
    va_end(ap);
    if (s)
        h_text(r, s);
    free(s);
}

void h_num(rep *r, double v, const char *fmt)
{
    if (isfinite(v))
        h_rawf(r, fmt, v);
    else
        h_raw(r, isnan(v) ? "n/a" : v > 0 ? "inf" : "-inf");
}

void h_ci(rep *r, double lo, double hi)
{
    if (isfinite(lo) && isfinite(hi))
        h_rawf(r, "[%.3f, %.3f]", lo, hi);
    else
        h_raw(r, "n/a");
}

void h_p(rep *r, double p)
{
    h_num(r, p, "%.3g");
}

/* ===== JSON values as text ============================================= */
#define MAX_LIST 50

void h_json(rep *r, const cJSON *v)
{
    if (!v || cJSON_IsNull(v)) {
        h_raw(r, "n/a");
    } else if (cJSON_IsString(v)) {
        h_text(r, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        h_num(r, v->valuedouble, "%.6g");
    } else if (cJSON_IsBool(v)) {
        h_raw(r, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), i = 0;
        if (n == 0)
            h_raw(r, "(none)");
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (i == MAX_LIST) {
                h_rawf(r, ", &hellip; (%d in all)", n);
                break;
            }
            if (i++)
                h_raw(r, ", ");
            h_json(r, x);
        }
    } else if (cJSON_IsObject(v)) {
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (i++)
                h_raw(r, "; ");
            h_text(r, x->string);
            h_raw(r, ": ");
            h_json(r, x);
        }
        if (i == 0)
            h_raw(r, "(empty)");
    } else {
        h_raw(r, "n/a");
    }
}

void h_row_text(rep *r, const char *key, const char *value)
{
    h_raw(r, "<tr><th>");
    h_text(r, key);
    h_raw(r, "</th><td>");
    h_text(r, value);
    h_raw(r, "</td></tr>\n");
}

void h_row_num(rep *r, const char *key, double v, const char *fmt)
{
    h_raw(r, "<tr><th>");
    h_text(r, key);
    h_raw(r, "</th><td class=\"num\">");
    h_num(r, v, fmt);
    h_raw(r, "</td></tr>\n");
}

void h_rows_json(rep *r, const cJSON *obj, const char *prefix)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, obj) {
        char key[512];
        if (prefix && *prefix)
            snprintf(key, sizeof key, "%s.%s", prefix, x->string ? x->string : "");
        else
            snprintf(key, sizeof key, "%s", x->string ? x->string : "");
        if (cJSON_IsObject(x) && cJSON_GetArraySize(x) > 0) {
            h_rows_json(r, x, key);
            continue;
        }
        h_raw(r, "<tr><th>");
        h_text(r, key);
        h_raw(r, cJSON_IsNumber(x) ? "</th><td class=\"num\">" : "</th><td>");
        h_json(r, x);
        h_raw(r, "</td></tr>\n");
    }
}

/* ===== Embedded PNGs =================================================== */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rep_base64(char *dst, const unsigned char *src, size_t n)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[o++] = B64[v >> 18];
        dst[o++] = B64[(v >> 12) & 63];
        dst[o++] = B64[(v >> 6) & 63];
        dst[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        dst[o++] = B64[v >> 18];
        dst[o++] = B64[(v >> 12) & 63];
        dst[o++] = '=';
        dst[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        dst[o++] = B64[v >> 18];
        dst[o++] = B64[(v >> 12) & 63];
        dst[o++] = B64[(v >> 6) & 63];
        dst[o++] = '=';
    }
    return o;
}

void h_png(rep *r, const unsigned char *buf, size_t len, const char *name, const char *alt)
{
    if (r->rc)
        return;
    lrsa_err e;
    lrsa_err_init(&e);
    lrsa_image img = { 0 };
    if (lrsa_image_sniff(buf, len) != LRSA_IMAGE_PNG) {
        rep_fail(r, LRSA_EFORMAT, "'%s' is not a PNG", name);
        return;
    }
    /* Decoding checks the whole file (a truncated PNG would show as a broken image) and gives
     * the size for the <img> tag. */
    if (lrsa_image_decode(buf, len, name, &img, &e)) {
        rep_fail(r, e.code, "%s", e.msg);
        return;
    }
    size_t b64len = 4 * ((len + 2) / 3);
    char *b64 = lrsa_malloc(b64len + 1, "base64 figure", &e);
    if (!b64) {
        rep_fail_err(r, &e, "'%s'", name);
        lrsa_image_release(&img);
        return;
    }
    rep_base64(b64, buf, len);
    h_rawf(r, "<img width=\"%lld\" height=\"%lld\" alt=\"", (long long)img.width, (long long)img.height);
    h_text(r, alt);
    h_raw(r, "\" src=\"data:image/png;base64,");
    add(r, b64, b64len);
    h_raw(r, "\">");
    free(b64);
    lrsa_image_release(&img);
}

void h_png_file(rep *r, const char *path, const char *key, const char *alt)
{
    if (r->rc)
        return;
    lrsa_err e;
    lrsa_err_init(&e);
    char *buf = NULL;
    size_t len = 0;
    if (lrsa_read_file(path, (size_t)256 << 20, &buf, &len, &e)) {
        rep_fail_err(r, &e, "'%s', key '%s'", r->results_path, key);
        return;
    }
    h_png(r, (const unsigned char *)buf, len, path, alt);
    if (r->rc)
        lrsa_err_prefix(&r->err, "'%s', key '%s'", r->results_path, key);
    free(buf);
}

int h_figure(rep *r, const lrsa_figure *fig, const char *alt)
{
    if (r->rc)
        return 0;
    lrsa_err e;
    lrsa_err_init(&e);
    char name[96];
    snprintf(name, sizeof name, ".report-figure-%ld-%d.png", (long)getpid(), r->nfig++);
    char *path = lrsa_path_join(r->out_dir, name, &e);
    if (!path) {
        rep_fail_err(r, &e, "'%s'", r->out_dir);
        return 0;
    }
    int rc = lrsa_plot_write(fig, path, &e), ok = 0;
    if (rc == LRSA_EEMPTY) {
        /* Data with no finite value: the page says so instead of failing the whole report. */
        lrsa_warn(r->ctx, "figure '%s' not drawn: %s", alt, e.msg);
        h_raw(r, "<p class=\"note\">Figure not drawn: ");
        h_text(r, e.msg);
        h_raw(r, ".</p>\n");
    } else if (rc) {
        rep_fail_err(r, &e, "figure '%s'", alt);
    } else {
        char *buf = NULL;
        size_t len = 0;
        if (lrsa_read_file(path, 0, &buf, &len, &e)) {
            rep_fail_err(r, &e, "figure '%s'", alt);
        } else {
            h_png(r, (const unsigned char *)buf, len, path, alt);
            ok = !r->rc;
        }
        free(buf);
        remove(path);
    }
    free(path);
    return ok;
}
