/*
 * Still images: JPEG (Debian's libjpeg-turbo) and PNG (libpng), 8-bit RGB in memory.
 * src/io/image.c is the only file that includes jpeglib.h or png.h.
 *
 * Buffer layout: an lrsa_image holds width*height*3 bytes, rows top to bottom, pixels left to
 * right, channels R, G, B (interleaved, no padding): pixel (x, y) channel c is at
 * data[3 * (y * width + x) + c].
 *
 * Decoding follows what PIL's Image.open(path).convert('RGB') gives where that is cheap to match:
 *  - the format is found from the file's magic bytes, never its extension (BOLD5000 has .jpg,
 *    .jpeg and .JPEG names, and a file may lie about its type);
 *  - JPEG: libjpeg-turbo defaults (JDCT_ISLOW, fancy upsampling), RGB output; grayscale is
 *    replicated into R, G, B; CMYK/YCCK is converted as Pillow does (Adobe files are inverted,
 *    then R = (255-K) - C*(255-K)/255); EXIF orientation is NOT applied (PIL does not either);
 *  - PNG: palettes expanded, gray replicated, 16-bit reduced to the high byte, alpha dropped
 *    (not composited), interlacing undone; gamma and colour chunks are ignored.
 * Limits: at most LRSA_IMAGE_MAX_DIM pixels per side and LRSA_IMAGE_MAX_PIXELS in all, checked
 * before the pixel buffer is allocated.
 *
 * Errors name the file: LRSA_EFORMAT for a truncated or corrupt file or one that is neither JPEG
 * nor PNG, LRSA_EIO / LRSA_ENOTFOUND for files that cannot be read, LRSA_EUNSUPPORTED for images
 * over the limits.
 *
 * Writers produce the file atomically (temporary + rename through lrsa_outfile): an error leaves
 * no file behind.
 */
#ifndef LATENTRSA_IMAGE_H
#define LATENTRSA_IMAGE_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_IMAGE_MAX_DIM 32768
#define LRSA_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef enum lrsa_image_format {
    LRSA_IMAGE_UNKNOWN = 0,
    LRSA_IMAGE_JPEG = 1,   /* starts FF D8 FF */
    LRSA_IMAGE_PNG = 2     /* starts 89 'P' 'N' 'G' 0D 0A 1A 0A */
} lrsa_image_format;

/* An 8-bit RGB image owned by the struct; release with lrsa_image_release. */
typedef struct lrsa_image {
    int64_t width, height;
    uint8_t *data;         /* width * height * 3 bytes, layout above */
} lrsa_image;

/* The format of a file from its first bytes (len may be short; too short is UNKNOWN). */
lrsa_image_format lrsa_image_sniff(const void *buf, size_t len);
/* "jpeg", "png" or "unknown". */
const char *lrsa_image_format_name(lrsa_image_format fmt);

/* Decode `len` bytes of JPEG or PNG. `name` is used in messages. On success *out owns new
 * pixels; on failure *out is zeroed. */
int lrsa_image_decode(const void *buf, size_t len, const char *name, lrsa_image *out,
                      lrsa_err *err);
/* Read and decode a file (at most 256 MiB). */
int lrsa_image_read(const char *path, lrsa_image *out, lrsa_err *err);
/* Free the pixels and zero the struct; NULL and zeroed structs are fine. */
void lrsa_image_release(lrsa_image *img);

/* Write RGB8 pixels (layout above) as an 8-bit RGB PNG, non-interlaced, default compression. */
int lrsa_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                         lrsa_err *err);
/* Write RGB8 pixels as a baseline JPEG (YCbCr 4:2:0, JFIF) at quality 1..100. */
int lrsa_image_write_jpeg(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                          int quality, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
