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
#include <zlib.h>

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

/* Pillow's JPEG plugin reads every 4-component JPEG with rawmode "CMYK;I": it inverts all four
 * channels whatever the markers say ("assume adobe conventions", JpegImagePlugin.py), then
 * convert('RGB') applies cmyk2rgb (libImaging/Convert.c):
 *     nk = 255 - K;  R = nk - MULDIV255(C, nk)  (likewise G from M, B from Y)
 * with MULDIV255(a, b) = ((a*b + 128) + ((a*b + 128) >> 8)) >> 8 and C, M, Y, K the inverted
 * values. Here `in` holds libjpeg's raw output, so with c = raw C etc.: nk = k (raw), C = 255-c. */
static void cmyk_to_rgb_pil(uint8_t *out, const uint8_t *in, int64_t n)
{
    for (int64_t x = 0; x < n; x++) {
        int nk = in[4 * x + 3], t;
        for (int ch = 0; ch < 3; ch++) {
            t = (255 - in[4 * x + ch]) * nk + 128;
            out[3 * x + ch] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

/* OpenCV's icvCvt_CMYK2BGR_8u_C4C3R (imgcodecs/src/utils.cpp) on libjpeg's raw output, written
 * here in RGB order: R = k - ((255 - c) * k >> 8), likewise G from m, B from y. */
static void cmyk_to_rgb_cv(uint8_t *out, const uint8_t *in, int64_t n)
{
    for (int64_t x = 0; x < n; x++) {
        int k = in[4 * x + 3];
        for (int ch = 0; ch < 3; ch++)
            out[3 * x + ch] = (uint8_t)(k - (((255 - in[4 * x + ch]) * k) >> 8));
    }
}

static int decode_jpeg(jpeg_dec *d, const uint8_t *buf, size_t len, const char *name,
                       unsigned flags, lrsa_image *out, lrsa_err *err)
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
        if (cmyk && (flags & LRSA_IMAGE_OPENCV))
            cmyk_to_rgb_cv(out->data + y * w * 3, d->row, w);
        else if (cmyk)
            cmyk_to_rgb_pil(out->data + y * w * 3, d->row, w);
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
    uint8_t *gray16;           /* 16-bit grey samples, converted the Pillow way */
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

static int decode_png(png_state *s, const char *name, unsigned flags, lrsa_image *out,
                      lrsa_err *err)
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
    /* Pillow opens 16-bit grey as mode I;16, and convert('RGB') clips it to 0..255 (Convert.c
     * I16_RGB) rather than keeping the high byte; OpenCV keeps the high byte. */
    int gray16 = ctype == PNG_COLOR_TYPE_GRAY && depth == 16 && !(flags & LRSA_IMAGE_OPENCV);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    if (depth == 16 && !gray16)
        png_set_strip_16(s->png);
    if ((ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) && !gray16)
        png_set_gray_to_rgb(s->png);
    /* Alpha is dropped, not composited (PIL's convert('RGB')). png_set_palette_to_rgb turns a
     * palette's tRNS into an alpha channel, so that one is stripped too; grey and RGB tRNS are
     * never expanded. */
    if ((ctype & PNG_COLOR_MASK_ALPHA) ||
        (ctype == PNG_COLOR_TYPE_PALETTE && png_get_valid(s->png, s->info, PNG_INFO_tRNS)))
        png_set_strip_alpha(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != (size_t)w * (gray16 ? 2 : 3)) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': png did not convert to 8-bit rgb", name);
        goto done;
    }
    out->data = lrsa_malloc((size_t)w * h * 3, "png pixels", err);
    if (gray16 && out->data)
        s->gray16 = lrsa_malloc((size_t)w * h * 2, "png samples", err);
    s->rows = out->data && (!gray16 || s->gray16) ? lrsa_malloc(sizeof *s->rows * h, "png rows", err)
                                                  : NULL;
    if (!s->rows) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        s->rows[y] = gray16 ? s->gray16 + (size_t)y * w * 2 : out->data + (size_t)y * w * 3;
    out->width = w;
    out->height = h;
    png_read_image(s->png, s->rows);
    if (gray16) {
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned v = (unsigned)s->gray16[2 * i] << 8 | s->gray16[2 * i + 1];   /* big-endian */
            uint8_t g = (uint8_t)(v > 255 ? 255 : v);
            out->data[3 * i] = out->data[3 * i + 1] = out->data[3 * i + 2] = g;
        }
    }
    /* The trailing chunks (IEND) are not required, as in PIL. */
done:
    png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    free(s->rows);
    free(s->gray16);
    s->rows = NULL;
    s->gray16 = NULL;
    return rc;
}

/* ===== EXIF orientation (the OpenCV path) =============================== */
static unsigned rd16(const uint8_t *p, int be)
{
    return be ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Tag 0x0112 of IFD0 in a TIFF block (the body of an "Exif\0\0" APP1 segment); 1 if absent. */
static int tiff_orientation(const uint8_t *t, size_t n)
{
    if (n < 8)
        return 1;
    int be;
    if (t[0] == 'I' && t[1] == 'I')
        be = 0;
    else if (t[0] == 'M' && t[1] == 'M')
        be = 1;
    else
        return 1;
    if (rd16(t + 2, be) != 42)
        return 1;
    uint32_t ifd = rd32(t + 4, be);
    if (ifd > n - 2)
        return 1;
    unsigned count = rd16(t + ifd, be);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            return 1;
        if (rd16(t + e, be) == 0x0112 && rd16(t + e + 2, be) == 3) {   /* SHORT */
            unsigned v = rd16(t + e + 8, be);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

int lrsa_image_exif_orientation(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    if (lrsa_image_sniff(buf, len) != LRSA_IMAGE_JPEG)
        return 1;
    size_t pos = 2;
    /* Walk the markers before the first scan; the EXIF block is an APP1 segment. */
    while (pos + 4 <= len) {
        if (b[pos] != 0xff)
            return 1;
        int marker = b[pos + 1];
        if (marker == 0xff) {          /* fill byte */
            pos++;
            continue;
        }
        if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {
            pos += 2;
            continue;
        }
        if (marker == 0xda || marker == 0xd9)
            return 1;
        size_t seglen = rd16(b + pos + 2, 1);
        if (seglen < 2 || pos + 2 + seglen > len)
            return 1;
        const uint8_t *body = b + pos + 4;
        size_t blen = seglen - 2;
        if (marker == 0xe1 && blen >= 6 && memcmp(body, "Exif\0\0", 6) == 0)
            return tiff_orientation(body + 6, blen - 6);
        pos += 2 + seglen;
    }
    return 1;
}

int lrsa_image_orient(lrsa_image *img, int orientation, lrsa_err *err)
{
    if (!img || !img->data || orientation < 1 || orientation > 8)
        return LRSA_FAIL(err, LRSA_EMISUSE, "bad image or exif orientation %d", orientation);
    if (orientation == 1)
        return LRSA_OK;
    int64_t w = img->width, h = img->height;
    int swap = orientation >= 5;
    int64_t ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = lrsa_malloc((size_t)(w * h * 3), "oriented pixels", err);
    if (!dst)
        return LRSA_ENOMEM;
    for (int64_t y = 0; y < oh; y++) {
        for (int64_t x = 0; x < ow; x++) {
            int64_t sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;            /* mirror left-right */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;    /* rotate 180 */
            case 4: sx = x; sy = h - 1 - y; break;            /* mirror top-bottom */
            case 5: sx = y; sy = x; break;                    /* transpose */
            case 6: sx = y; sy = h - 1 - x; break;            /* rotate 90 clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;    /* transverse */
            default: sx = w - 1 - y; sy = x; break;           /* 8: rotate 90 anticlockwise */
            }
            memcpy(dst + 3 * (y * ow + x), img->data + 3 * (sy * w + sx), 3);
        }
    }
    free(img->data);
    img->data = dst;
    img->width = ow;
    img->height = oh;
    return LRSA_OK;
}

/* ===== Decoding entry points =========================================== */
int lrsa_image_decode(const void *buf, size_t len, const char *name, lrsa_image *out,
                      lrsa_err *err)
{
    return lrsa_image_decode_ex(buf, len, name, 0, out, err);
}

int lrsa_image_decode_ex(const void *buf, size_t len, const char *name, unsigned flags,
                         lrsa_image *out, lrsa_err *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    lrsa_image_format fmt = lrsa_image_sniff(buf, len);
    if (fmt == LRSA_IMAGE_JPEG) {
        jpeg_dec d;
        memset(&d, 0, sizeof d);
        rc = decode_jpeg(&d, buf, len, name, flags, out, err);
        if (!rc && (flags & LRSA_IMAGE_OPENCV))
            rc = lrsa_image_orient(out, lrsa_image_exif_orientation(buf, len), err);
    } else if (fmt == LRSA_IMAGE_PNG) {
        png_state s;
        memset(&s, 0, sizeof s);
        s.buf = buf;
        s.len = len;
        rc = decode_png(&s, name, flags, out, err);
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
    return lrsa_image_read_ex(path, 0, out, err);
}

int lrsa_image_read_ex(const char *path, unsigned flags, lrsa_image *out, lrsa_err *err)
{
    char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = lrsa_read_file(path, IMAGE_MAX_FILE, &data, &len, err);
    if (rc)
        goto done;
    rc = lrsa_image_decode_ex(data, len, path, flags, out, err);
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
                      const lrsa_png_opts *o, lrsa_err *err)
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
    if (o->level >= 0)
        png_set_compression_level(s->png, o->level);
    if (o->filter != LRSA_PNG_FILTER_ADAPTIVE) {
        static const int filters[] = { 0, PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP,
                                       PNG_FILTER_AVG, PNG_FILTER_PAETH };
        png_set_filter(s->png, PNG_FILTER_TYPE_BASE, filters[o->filter]);
    }
    if (o->strategy == LRSA_PNG_STRATEGY_RLE)
        png_set_compression_strategy(s->png, Z_RLE);
    else if (o->strategy == LRSA_PNG_STRATEGY_FILTERED)
        png_set_compression_strategy(s->png, Z_FILTERED);
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

void lrsa_png_opts_init(lrsa_png_opts *opts)
{
    opts->level = -1;
    opts->filter = LRSA_PNG_FILTER_ADAPTIVE;
    opts->strategy = LRSA_PNG_STRATEGY_DEFAULT;
}

void lrsa_png_opts_fast(lrsa_png_opts *opts)
{
    opts->level = 1;
    opts->filter = LRSA_PNG_FILTER_UP;
    opts->strategy = LRSA_PNG_STRATEGY_RLE;
}

int lrsa_image_write_png_ex(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                            const lrsa_png_opts *opts, lrsa_err *err)
{
    lrsa_png_opts def;
    if (!opts) {
        lrsa_png_opts_init(&def);
        opts = &def;
    }
    if (opts->level < -1 || opts->level > 9)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': png level must be -1 to 9, not %d", path,
                         opts->level);
    if (opts->filter < LRSA_PNG_FILTER_ADAPTIVE || opts->filter > LRSA_PNG_FILTER_PAETH)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': unknown png filter %d", path,
                         opts->filter);
    if (opts->strategy < LRSA_PNG_STRATEGY_DEFAULT || opts->strategy > LRSA_PNG_STRATEGY_FILTERED)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': unknown png strategy %d", path,
                         opts->strategy);
    int rc = check_write(path, rgb, width, height, err);
    if (rc)
        return rc;
    png_enc s;
    memset(&s, 0, sizeof s);
    return encode_png(&s, path, rgb, width, height, opts, err);
}

int lrsa_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                         lrsa_err *err)
{
    return lrsa_image_write_png_ex(path, rgb, width, height, NULL, err);
}
