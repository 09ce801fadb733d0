/* JPEG and PNG to and from 8-bit RGB: the only user of libjpeg-turbo and libpng.
 *
 * Both libraries report errors by longjmp. Each function that calls setjmp keeps every value it
 * needs after a jump in a state struct owned by its caller (reached through an unmodified pointer),
 * so nothing depends on non-volatile locals changed after setjmp. */
#include "latentrsa/image.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#define IMAGE_MAX_FILE ((size_t)256 << 20)

static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a };

lrsa_image_format lrsa_image_sniff(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return LRSA_IMAGE_JPEG;
    if (len >= 8 && memcmp(b, png_magic, 8) == 0)
        return LRSA_IMAGE_PNG;
    return LRSA_IMAGE_UNKNOWN;
}

const char *lrsa_image_format_name(lrsa_image_format fmt)
{
    switch (fmt) {
    case LRSA_IMAGE_JPEG: return "jpeg";
    case LRSA_IMAGE_PNG: return "png";
    default: return "unknown";
    }
}

void lrsa_image_release(lrsa_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Refuse absurd sizes before allocating. */
static int check_size(int64_t w, int64_t h, const char *name, lrsa_err *err)
{
    if (w < 1 || h < 1)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': image has no pixels (%lldx%lld)", name,
                         (long long)w, (long long)h);
    if (w > LRSA_IMAGE_MAX_DIM || h > LRSA_IMAGE_MAX_DIM || w * h > LRSA_IMAGE_MAX_PIXELS)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': image of %lldx%lld pixels is over the limit",
                         name, (long long)w, (long long)h);
    return LRSA_OK;
}

/* Library messages start with a capital; ours do not. */
static void lower_first(char *s)
{
    if (s[0] && isupper((unsigned char)s[0]) && !(s[1] && isupper((unsigned char)s[1])))
        s[0] = (char)tolower((unsigned char)s[0]);
}

/* ===== JPEG ============================================================ */
typedef struct jpeg_errmgr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_errmgr;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_errmgr *e = (jpeg_errmgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are ignored except a premature end of data: libjpeg would pad the image with grey,
 * where PIL refuses a truncated file. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_errmgr *e = (jpeg_errmgr *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "truncated file (premature end of data)");
        longjmp(e->jb, 1);
    }
}

typedef struct jpeg_dec {
    struct jpeg_decompress_struct cinfo;
    jpeg_errmgr jerr;
    uint8_t *row;              /* one CMYK row when converting */
} jpeg_dec;

/* Pillow's cmyk2rgb (libImaging/Convert.c), after Adobe inversion if the file has the marker. */
static void cmyk_to_rgb(uint8_t *out, const uint8_t *in, int64_t n, int inverted)
{
    for (int64_t x = 0; x < n; x++) {
        int c = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
        if (inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        int nk = 255 - k, t;
        /* MULDIV255(a, b) = ((a*b + 128) + ((a*b + 128) >> 8)) >> 8 */
        t = c * nk + 128; out[3 * x] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        t = m * nk + 128; out[3 * x + 1] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        t = y * nk + 128; out[3 * x + 2] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
    }
}

static int decode_jpeg(jpeg_dec *d, const uint8_t *buf, size_t len, const char *name,
                       lrsa_image *out, lrsa_err *err)
{
    int rc = LRSA_OK;
    d->cinfo.err = jpeg_std_error(&d->jerr.pub);
    d->jerr.pub.error_exit = jpeg_on_error;
    d->jerr.pub.emit_message = jpeg_on_message;
    if (setjmp(d->jerr.jb)) {
        lower_first(d->jerr.msg);
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad jpeg: %s", name, d->jerr.msg);
        goto done;
    }
    jpeg_create_decompress(&d->cinfo);
    jpeg_mem_src(&d->cinfo, buf, (unsigned long)len);
    jpeg_read_header(&d->cinfo, TRUE);
    int cmyk = d->cinfo.jpeg_color_space == JCS_CMYK || d->cinfo.jpeg_color_space == JCS_YCCK;
    d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&d->cinfo);
    int64_t w = d->cinfo.output_width, h = d->cinfo.output_height;
    if ((rc = check_size(w, h, name, err)))
        goto done;
    if (d->cinfo.output_components != (cmyk ? 4 : 3)) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': jpeg with %d output components", name,
                       d->cinfo.output_components);
        goto done;
    }
    out->data = lrsa_malloc((size_t)(w * h * 3), "jpeg pixels", err);
    if (cmyk && out->data)
        d->row = lrsa_malloc((size_t)(w * 4), "jpeg row", err);
    if (!out->data || (cmyk && !d->row)) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    out->width = w;
    out->height = h;
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        int64_t y = d->cinfo.output_scanline;
        JSAMPROW row = cmyk ? d->row : out->data + y * w * 3;
        if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad jpeg: no data at row %lld", name,
                           (long long)y);
            goto done;
        }
        if (cmyk)
            cmyk_to_rgb(out->data + y * w * 3, d->row, w, d->cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d->cinfo);
done:
    jpeg_destroy_decompress(&d->cinfo);
    free(d->row);
    d->row = NULL;
    return rc;
}

/* ===== PNG ============================================================= */
typedef struct png_state {
    png_structp png;
    png_infop info;
    const uint8_t *buf;
    size_t len, pos;
    png_bytep *rows;
    char msg[256];
} png_state;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep data, png_size_t n)
{
    png_state *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "truncated file (premature end of data)");
    memcpy(data, s->buf + s->pos, n);
    s->pos += n;
}

static int decode_png(png_state *s, const char *name, lrsa_image *out, lrsa_err *err)
{
    int rc = LRSA_OK;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_on_error, png_on_warning);
    if (!s->png)
        return LRSA_FAIL(err, LRSA_ENOMEM, "'%s': cannot start the png decoder", name);
    s->info = png_create_info_struct(s->png);
    if (!s->info) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "'%s': cannot start the png decoder", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        lower_first(s->msg);
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad png: %s", name, s->msg);
        goto done;
    }
    png_set_user_limits(s->png, LRSA_IMAGE_MAX_DIM, LRSA_IMAGE_MAX_DIM);
    png_set_read_fn(s->png, s, png_read_mem);
    png_read_info(s->png, s->info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(s->png, s->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if ((rc = check_size(w, h, name, err)))
        goto done;
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    if (depth == 16)
        png_set_strip_16(s->png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(s->png);
    if (ctype & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(s->png);
    /* tRNS is not expanded (png_set_tRNS_to_alpha is never called), so no alpha appears. */
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != (size_t)w * 3) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': png did not convert to 8-bit rgb", name);
        goto done;
    }
    out->data = lrsa_malloc((size_t)w * h * 3, "png pixels", err);
    s->rows = out->data ? lrsa_malloc(sizeof *s->rows * h, "png rows", err) : NULL;
    if (!s->rows) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        s->rows[y] = out->data + (size_t)y * w * 3;
    out->width = w;
    out->height = h;
    png_read_image(s->png, s->rows);
    /* The trailing chunks (IEND) are not required, as in PIL. */
done:
    png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    free(s->rows);
    s->rows = NULL;
    return rc;
}

/* ===== Decoding entry points =========================================== */
int lrsa_image_decode(const void *buf, size_t len, const char *name, lrsa_image *out,
                      lrsa_err *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    lrsa_image_format fmt = lrsa_image_sniff(buf, len);
    if (fmt == LRSA_IMAGE_JPEG) {
        jpeg_dec d;
        memset(&d, 0, sizeof d);
        rc = decode_jpeg(&d, buf, len, name, out, err);
    } else if (fmt == LRSA_IMAGE_PNG) {
        png_state s;
        memset(&s, 0, sizeof s);
        s.buf = buf;
        s.len = len;
        rc = decode_png(&s, name, out, err);
    } else {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': %s", name,
                       len == 0 ? "empty file, not an image" : "not a jpeg or png file");
    }
    if (rc)
        lrsa_image_release(out);
    return rc;
}

int lrsa_image_read(const char *path, lrsa_image *out, lrsa_err *err)
{
    char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = lrsa_read_file(path, IMAGE_MAX_FILE, &data, &len, err);
    if (rc)
        goto done;
    rc = lrsa_image_decode(data, len, path, out, err);
done:
    free(data);
    return rc;
}

/* ===== Writers ========================================================= */
static int check_write(const char *path, const uint8_t *rgb, int64_t w, int64_t h, lrsa_err *err)
{
    if (!rgb)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': no pixels to write", path);
    if (w < 1 || h < 1 || w > LRSA_IMAGE_MAX_DIM || h > LRSA_IMAGE_MAX_DIM ||
        w * h > LRSA_IMAGE_MAX_PIXELS)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': cannot write an image of %lldx%lld pixels",
                         path, (long long)w, (long long)h);
    return LRSA_OK;
}

typedef struct jpeg_enc {
    struct jpeg_compress_struct cinfo;
    jpeg_errmgr jerr;
    lrsa_outfile of;
} jpeg_enc;

static int encode_jpeg(jpeg_enc *e, const char *path, const uint8_t *rgb, int64_t w, int64_t h,
                       int quality, lrsa_err *err)
{
    int rc = LRSA_OK;
    e->cinfo.err = jpeg_std_error(&e->jerr.pub);
    e->jerr.pub.error_exit = jpeg_on_error;
    if (setjmp(e->jerr.jb)) {
        lower_first(e->jerr.msg);
        rc = LRSA_FAIL(err, LRSA_EIO, "'%s': cannot write jpeg: %s", path, e->jerr.msg);
        goto done;
    }
    jpeg_create_compress(&e->cinfo);
    if ((rc = lrsa_outfile_open(&e->of, path, err)))
        goto done;
    jpeg_stdio_dest(&e->cinfo, e->of.fp);
    e->cinfo.image_width = (JDIMENSION)w;
    e->cinfo.image_height = (JDIMENSION)h;
    e->cinfo.input_components = 3;
    e->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)e->cinfo.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    rc = lrsa_outfile_commit(&e->of, err);
done:
    jpeg_destroy_compress(&e->cinfo);
    lrsa_outfile_abort(&e->of);
    return rc;
}

int lrsa_image_write_jpeg(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                          int quality, lrsa_err *err)
{
    int rc = check_write(path, rgb, width, height, err);
    if (rc)
        return rc;
    if (width > 65500 || height > 65500 || quality < 1 || quality > 100)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': bad jpeg size or quality %d", path, quality);
    jpeg_enc e;
    memset(&e, 0, sizeof e);
    return encode_jpeg(&e, path, rgb, width, height, quality, err);
}

typedef struct png_enc {
    png_structp png;
    png_infop info;
    lrsa_outfile of;
    char msg[256];
} png_enc;

static void png_enc_on_error(png_structp png, png_const_charp msg)
{
    png_enc *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static int encode_png(png_enc *s, const char *path, const uint8_t *rgb, int64_t w, int64_t h,
                      lrsa_err *err)
{
    int rc = LRSA_OK;
    if ((rc = lrsa_outfile_open(&s->of, path, err)))
        return rc;
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, png_enc_on_error, png_on_warning);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    if (!s->info) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "'%s': cannot start the png encoder", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        lower_first(s->msg);
        rc = LRSA_FAIL(err, LRSA_EIO, "'%s': cannot write png: %s", path, s->msg);
        goto done;
    }
    png_init_io(s->png, s->of.fp);
    png_set_IHDR(s->png, s->info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s->png, s->info);
    for (int64_t y = 0; y < h; y++)
        png_write_row(s->png, (png_const_bytep)(rgb + (size_t)y * (size_t)w * 3));
    png_write_end(s->png, NULL);
    rc = lrsa_outfile_commit(&s->of, err);
done:
    if (s->png)
        png_destroy_write_struct(&s->png, s->info ? &s->info : NULL);
    lrsa_outfile_abort(&s->of);
    return rc;
}

int lrsa_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                         lrsa_err *err)
{
    int rc = check_write(path, rgb, width, height, err);
    if (rc)
        return rc;
    png_enc s;
    memset(&s, 0, sizeof s);
    return encode_png(&s, path, rgb, width, height, err);
}
