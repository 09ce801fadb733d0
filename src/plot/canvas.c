/* The two drawing backends behind plot_impl.h: cairo (PNG) and a small SVG writer. */
#include "plot_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== Text clean-up shared by both backends ============================ */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
          : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 2 && s[0] < 0xc2)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A copy of s that is valid UTF-8 without control characters ('?' and ' ' replace them). */
static char *clean_text(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int k = utf8_len(p);
        if (k == 0) {
            *o++ = '?';
            p++;
        } else if (k == 1 && *p < 0x20) {
            *o++ = ' ';
            p++;
        } else {
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
        }
    }
    *o = '\0';
    return out;
}

/* ===== Measuring ======================================================== */

int measurer_init(measurer *m, lrsa_err *err)
{
    m->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    m->cr = cairo_create(m->surface);
    if (cairo_status(m->cr) != CAIRO_STATUS_SUCCESS) {
        measurer_release(m);
        return LRSA_FAIL(err, LRSA_ENOMEM, "cannot create a cairo context for text");
    }
    return LRSA_OK;
}

void measurer_release(measurer *m)
{
    if (m->cr)
        cairo_destroy(m->cr);
    if (m->surface)
        cairo_surface_destroy(m->surface);
    m->cr = NULL;
    m->surface = NULL;
}

static void set_font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double measure_text(measurer *m, const char *s, double size, int bold)
{
    char *t = clean_text(s);
    if (!t)
        return size * 0.6 * (double)strlen(s);
    cairo_text_extents_t ext;
    set_font(m->cr, size, bold);
    cairo_text_extents(m->cr, t, &ext);
    free(t);
    return ext.x_advance;
}

/* ===== cairo backend ==================================================== */

static void cr_color(cairo_t *cr, prgb c)
{
    cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

static void cr_rect(canvas *c, double x, double y, double w, double h, const prgb *fill,
                    const prgb *stroke, double lw)
{
    if (c->status)
        return;
    cairo_rectangle(c->cr, x, y, w, h);
    if (fill) {
        cr_color(c->cr, *fill);
        if (stroke)
            cairo_fill_preserve(c->cr);
        else
            cairo_fill(c->cr);
    }
    if (stroke) {
        cr_color(c->cr, *stroke);
        cairo_set_line_width(c->cr, lw);
        cairo_stroke(c->cr);
    }
}

static void cr_polyline(canvas *c, const double *xy, int64_t n, prgb color, double lw, int dashed)
{
    if (c->status || n < 2)
        return;
    cairo_move_to(c->cr, xy[0], xy[1]);
    for (int64_t i = 1; i < n; i++)
        cairo_line_to(c->cr, xy[2 * i], xy[2 * i + 1]);
    cr_color(c->cr, color);
    cairo_set_line_width(c->cr, lw);
    cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_ROUND);
    if (dashed) {
        double d[2] = { 4 * lw, 2 * lw };
        cairo_set_dash(c->cr, d, 2, 0);
    }
    cairo_stroke(c->cr);
    cairo_set_dash(c->cr, NULL, 0, 0);
}

static void cr_dot(canvas *c, double x, double y, double r, prgb fill)
{
    if (c->status)
        return;
    cairo_new_sub_path(c->cr);
    cairo_arc(c->cr, x, y, r, 0, 2 * M_PI);
    cr_color(c->cr, fill);
    cairo_fill(c->cr);
}

static void cr_text(canvas *c, double x, double y, const char *s, double size, int anchor,
                    int bold, int rotated, prgb color)
{
    if (c->status || !s || !*s)
        return;
    char *t = clean_text(s);
    if (!t) {
        c->status = LRSA_FAIL(c->err, LRSA_ENOMEM, "out of memory drawing text");
        return;
    }
    cairo_text_extents_t ext;
    set_font(c->cr, size, bold);
    cairo_text_extents(c->cr, t, &ext);
    cairo_save(c->cr);
    cairo_translate(c->cr, x, y);
    if (rotated)
        cairo_rotate(c->cr, -M_PI / 2);
    cairo_move_to(c->cr, -ext.x_advance * anchor / 2.0, 0);
    cr_color(c->cr, color);
    cairo_show_text(c->cr, t);
    cairo_restore(c->cr);
    free(t);
}

/* An RGB24 cairo surface holding a copy of rgb (NULL on failure). */
static cairo_surface_t *rgb_surface(const uint8_t *rgb, int64_t w, int64_t h)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    cairo_surface_flush(s);
    unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int64_t y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(void *)(d + (size_t)y * (size_t)stride);
        const uint8_t *p = rgb + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++)
            row[x] = 0xff000000u | (uint32_t)p[3 * x] << 16 | (uint32_t)p[3 * x + 1] << 8 |
                     p[3 * x + 2];
    }
    cairo_surface_mark_dirty(s);
    return s;
}

static void cr_image(canvas *c, double x, double y, double w, double h, const uint8_t *rgb,
                     int64_t iw, int64_t ih)
{
    if (c->status)
        return;
    cairo_surface_t *s = rgb_surface(rgb, iw, ih);
    if (!s) {
        c->status = LRSA_FAIL(c->err, LRSA_ENOMEM, "out of memory drawing a %lldx%lld raster",
                              (long long)iw, (long long)ih);
        return;
    }
    cairo_save(c->cr);
    cairo_rectangle(c->cr, x, y, w, h);
    cairo_clip(c->cr);
    cairo_translate(c->cr, x, y);
    cairo_scale(c->cr, w / (double)iw, h / (double)ih);
    cairo_set_source_surface(c->cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(c->cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(c->cr), CAIRO_EXTEND_PAD);
    cairo_paint(c->cr);
    cairo_restore(c->cr);
    cairo_surface_destroy(s);
}

static const canvas_ops cairo_ops = { cr_rect, cr_polyline, cr_dot, cr_text, cr_image };

/* ===== SVG backend ====================================================== */

/* Append a coordinate with at most 2 decimals and no trailing zeros. */
static void svg_num(lrsa_strbuf *sb, double v, lrsa_err *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f", fabs(v) < 0.005 ? 0.0 : v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
    lrsa_strbuf_adds(sb, buf, err);
}

static void svg_color(lrsa_strbuf *sb, prgb c, lrsa_err *err)
{
    lrsa_strbuf_addf(sb, err, "#%02x%02x%02x", c.r, c.g, c.b);
}

static void svg_escape(lrsa_strbuf *sb, const char *s, lrsa_err *err)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': lrsa_strbuf_adds(sb, "&amp;", err); break;
        case '<': lrsa_strbuf_adds(sb, "&lt;", err); break;
        case '>': lrsa_strbuf_adds(sb, "&gt;", err); break;
        case '"': lrsa_strbuf_adds(sb, "&quot;", err); break;
        case '\'': lrsa_strbuf_adds(sb, "&apos;", err); break;
        default: lrsa_strbuf_add(sb, s, 1, err); break;
        }
    }
}

/* The strbuf calls report ENOMEM through err; check once per element. */
static void svg_check(canvas *c)
{
    if (c->err && c->err->code == LRSA_ENOMEM && !c->status)
        c->status = LRSA_ENOMEM;
}

static void svg_rect(canvas *c, double x, double y, double w, double h, const prgb *fill,
                     const prgb *stroke, double lw)
{
    if (c->status)
        return;
    lrsa_strbuf *sb = &c->svg;
    lrsa_strbuf_adds(sb, "<rect x=\"", c->err);
    svg_num(sb, x, c->err);
    lrsa_strbuf_adds(sb, "\" y=\"", c->err);
    svg_num(sb, y, c->err);
    lrsa_strbuf_adds(sb, "\" width=\"", c->err);
    svg_num(sb, w, c->err);
    lrsa_strbuf_adds(sb, "\" height=\"", c->err);
    svg_num(sb, h, c->err);
    lrsa_strbuf_adds(sb, "\" fill=\"", c->err);
    if (fill)
        svg_color(sb, *fill, c->err);
    else
        lrsa_strbuf_adds(sb, "none", c->err);
    if (stroke) {
        lrsa_strbuf_adds(sb, "\" stroke=\"", c->err);
        svg_color(sb, *stroke, c->err);
        lrsa_strbuf_adds(sb, "\" stroke-width=\"", c->err);
        svg_num(sb, lw, c->err);
    }
    lrsa_strbuf_adds(sb, "\"/>\n", c->err);
    svg_check(c);
}

static void svg_polyline(canvas *c, const double *xy, int64_t n, prgb color, double lw, int dashed)
{
    if (c->status || n < 2)
        return;
    lrsa_strbuf *sb = &c->svg;
    lrsa_strbuf_adds(sb, "<polyline fill=\"none\" stroke=\"", c->err);
    svg_color(sb, color, c->err);
    lrsa_strbuf_adds(sb, "\" stroke-width=\"", c->err);
    svg_num(sb, lw, c->err);
    lrsa_strbuf_adds(sb, "\" stroke-linejoin=\"round\"", c->err);
    if (dashed) {
        lrsa_strbuf_adds(sb, " stroke-dasharray=\"", c->err);
        svg_num(sb, 4 * lw, c->err);
        lrsa_strbuf_adds(sb, " ", c->err);
        svg_num(sb, 2 * lw, c->err);
        lrsa_strbuf_adds(sb, "\"", c->err);
    }
    lrsa_strbuf_adds(sb, " points=\"", c->err);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            lrsa_strbuf_adds(sb, " ", c->err);
        svg_num(sb, xy[2 * i], c->err);
        lrsa_strbuf_adds(sb, ",", c->err);
        svg_num(sb, xy[2 * i + 1], c->err);
    }
    lrsa_strbuf_adds(sb, "\"/>\n", c->err);
    svg_check(c);
}

static void svg_dot(canvas *c, double x, double y, double r, prgb fill)
{
    if (c->status)
        return;
    lrsa_strbuf *sb = &c->svg;
    lrsa_strbuf_adds(sb, "<circle cx=\"", c->err);
    svg_num(sb, x, c->err);
    lrsa_strbuf_adds(sb, "\" cy=\"", c->err);
    svg_num(sb, y, c->err);
    lrsa_strbuf_adds(sb, "\" r=\"", c->err);
    svg_num(sb, r, c->err);
    lrsa_strbuf_adds(sb, "\" fill=\"", c->err);
    svg_color(sb, fill, c->err);
    lrsa_strbuf_adds(sb, "\"/>\n", c->err);
    svg_check(c);
}

static void svg_text(canvas *c, double x, double y, const char *s, double size, int anchor,
                     int bold, int rotated, prgb color)
{
    static const char *anchors[3] = { "start", "middle", "end" };
    if (c->status || !s || !*s)
        return;
    char *t = clean_text(s);
    if (!t) {
        c->status = LRSA_FAIL(c->err, LRSA_ENOMEM, "out of memory drawing text");
        return;
    }
    lrsa_strbuf *sb = &c->svg;
    lrsa_strbuf_adds(sb, "<text x=\"", c->err);
    svg_num(sb, x, c->err);
    lrsa_strbuf_adds(sb, "\" y=\"", c->err);
    svg_num(sb, y, c->err);
    lrsa_strbuf_adds(sb, "\" font-size=\"", c->err);
    svg_num(sb, size, c->err);
    lrsa_strbuf_addf(sb, c->err, "\" text-anchor=\"%s\"", anchors[anchor]);
    if (bold)
        lrsa_strbuf_adds(sb, " font-weight=\"bold\"", c->err);
    if (color.r || color.g || color.b) {
        lrsa_strbuf_adds(sb, " fill=\"", c->err);
        svg_color(sb, color, c->err);
        lrsa_strbuf_adds(sb, "\"", c->err);
    }
    if (rotated) {
        lrsa_strbuf_adds(sb, " transform=\"rotate(-90 ", c->err);
        svg_num(sb, x, c->err);
        lrsa_strbuf_adds(sb, " ", c->err);
        svg_num(sb, y, c->err);
        lrsa_strbuf_adds(sb, ")\"", c->err);
    }
    lrsa_strbuf_adds(sb, ">", c->err);
    svg_escape(sb, t, c->err);
    lrsa_strbuf_adds(sb, "</text>\n", c->err);
    free(t);
    svg_check(c);
}

static void base64(lrsa_strbuf *sb, const unsigned char *p, size_t n, lrsa_err *err)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        q[0] = tab[v >> 18 & 63];
        q[1] = tab[v >> 12 & 63];
        q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        lrsa_strbuf_add(sb, q, 4, err);
    }
}

static void svg_image(canvas *c, double x, double y, double w, double h, const uint8_t *rgb,
                      int64_t iw, int64_t ih)
{
    if (c->status)
        return;
    lrsa_strbuf png = LRSA_STRBUF_INIT;
    if ((c->status = plot_png_encode(rgb, iw, ih, &png, c->err)))
        return;
    lrsa_strbuf *sb = &c->svg;
    lrsa_strbuf_adds(sb, "<image x=\"", c->err);
    svg_num(sb, x, c->err);
    lrsa_strbuf_adds(sb, "\" y=\"", c->err);
    svg_num(sb, y, c->err);
    lrsa_strbuf_adds(sb, "\" width=\"", c->err);
    svg_num(sb, w, c->err);
    lrsa_strbuf_adds(sb, "\" height=\"", c->err);
    svg_num(sb, h, c->err);
    lrsa_strbuf_adds(sb, "\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\""
                         " xlink:href=\"data:image/png;base64,", c->err);
    base64(sb, (const unsigned char *)png.buf, png.len, c->err);
    lrsa_strbuf_adds(sb, "\"/>\n", c->err);
    lrsa_strbuf_release(&png);
    svg_check(c);
}

static const canvas_ops svg_ops = { svg_rect, svg_polyline, svg_dot, svg_text, svg_image };

/* ===== Life cycle ======================================================= */

static cairo_status_t png_to_strbuf(void *closure, const unsigned char *data, unsigned int len)
{
    lrsa_strbuf *sb = closure;
    return lrsa_strbuf_add(sb, (const char *)data, len, NULL) ? CAIRO_STATUS_NO_MEMORY
                                                                : CAIRO_STATUS_SUCCESS;
}

static cairo_status_t png_to_file(void *closure, const unsigned char *data, unsigned int len)
{
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                         : CAIRO_STATUS_WRITE_ERROR;
}

int plot_png_encode(const uint8_t *rgb, int64_t w, int64_t h, lrsa_strbuf *sb, lrsa_err *err)
{
    cairo_surface_t *s = rgb_surface(rgb, w, h);
    if (!s)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory encoding a %lldx%lld png", (long long)w,
                         (long long)h);
    cairo_status_t st = cairo_surface_write_to_png_stream(s, png_to_strbuf, sb);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return LRSA_FAIL(err, LRSA_ENOMEM, "cannot encode a png: %s", cairo_status_to_string(st));
    return LRSA_OK;
}

int canvas_begin(canvas *c, int svg, int64_t width, int64_t height, lrsa_err *err)
{
    memset(c, 0, sizeof *c);
    c->err = err;
    c->width = width;
    c->height = height;
    if (width < 1 || height < 1 || width > LRSA_IMAGE_MAX_DIM || height > LRSA_IMAGE_MAX_DIM)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "figure of %lldx%lld pixels is over the limit",
                         (long long)width, (long long)height);
    prgb white = { 255, 255, 255 };
    if (svg) {
        c->ops = &svg_ops;
        if (lrsa_strbuf_addf(&c->svg, err,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                             "xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" "
                             "width=\"%lld\" height=\"%lld\" viewBox=\"0 0 %lld %lld\" "
                             "font-family=\"%s\">\n",
                             (long long)width, (long long)height, (long long)width,
                             (long long)height, PLOT_FONT))
            return LRSA_ENOMEM;
    } else {
        c->ops = &cairo_ops;
        c->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)width, (int)height);
        c->cr = cairo_create(c->surface);
        if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
            canvas_release(c);
            return LRSA_FAIL(err, LRSA_ENOMEM, "cannot create a %lldx%lld cairo surface",
                             (long long)width, (long long)height);
        }
    }
    c->ops->rect(c, 0, 0, (double)width, (double)height, &white, NULL, 0);
    return c->status;
}

void canvas_release(canvas *c)
{
    if (c->cr)
        cairo_destroy(c->cr);
    if (c->surface)
        cairo_surface_destroy(c->surface);
    lrsa_strbuf_release(&c->svg);
    c->cr = NULL;
    c->surface = NULL;
}

int canvas_finish(canvas *c, const char *path, lrsa_err *err)
{
    lrsa_outfile of = { 0 };
    int rc = c->status;
    if (rc)
        goto done;
    if (c->cr) {
        cairo_status_t st = cairo_status(c->cr);
        if (st != CAIRO_STATUS_SUCCESS) {
            rc = LRSA_FAIL(err, LRSA_EIO, "'%s': drawing failed: %s", path,
                           cairo_status_to_string(st));
            goto done;
        }
        cairo_surface_flush(c->surface);
    } else if ((rc = lrsa_strbuf_adds(&c->svg, "</svg>\n", err))) {
        goto done;
    }
    if ((rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    if (c->cr) {
        cairo_status_t st = cairo_surface_write_to_png_stream(c->surface, png_to_file, of.fp);
        if (st != CAIRO_STATUS_SUCCESS) {
            rc = LRSA_FAIL(err, LRSA_EIO, "'%s': cannot write png: %s", path,
                           cairo_status_to_string(st));
            goto done;
        }
    } else if (fwrite(c->svg.buf, 1, c->svg.len, of.fp) != c->svg.len) {
        rc = LRSA_FAIL(err, LRSA_EIO, "'%s': write failed", path);
        goto done;
    }
    rc = lrsa_outfile_commit(&of, err);
done:
    if (rc)
        lrsa_outfile_abort(&of);
    canvas_release(c);
    return rc;
}
