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
 *    replicated into R, G, B; CMYK/YCCK is converted as Pillow does: its JPEG plugin inverts
 *    every 4-component file ("CMYK;I", whatever the markers say), then cmyk2rgb gives
 *    R = (255-K) - MULDIV255(C, 255-K) on the inverted values; EXIF orientation is NOT applied
 *    (PIL does not either); progressive and arithmetic-coded files decode as baseline ones;
 *  - PNG: palettes expanded, gray replicated, 16-bit RGB(A) and grey+alpha reduced to the high
 *    byte, 16-bit grey (Pillow's mode I;16) clipped to 0..255 as convert('RGB') does, alpha dropped
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

/* Decoding flags. */
enum lrsa_image_flags {
    /* Decode as OpenCV 4's cv2.imread(path, IMREAD_COLOR) does, apart from its BGR order (the
     * pixels stay R, G, B): a JPEG's EXIF orientation (APP1, IFD0 tag 0x0112) is applied, and
     * CMYK/YCCK JPEGs use OpenCV's icvCvt_CMYK2BGR_8u_C4C3R, R = k - ((255-c)*k >> 8) on
     * libjpeg's raw values. Grey and PNG decoding are the same as without the flag (OpenCV also
     * replicates grey, drops alpha and keeps the high byte of 16-bit samples). */
    LRSA_IMAGE_OPENCV = 1u << 0
};
/* lrsa_image_decode / lrsa_image_read with flags (0 gives the Pillow behaviour above). */
int lrsa_image_decode_ex(const void *buf, size_t len, const char *name, unsigned flags,
                         lrsa_image *out, lrsa_err *err);
int lrsa_image_read_ex(const char *path, unsigned flags, lrsa_image *out, lrsa_err *err);

/* The EXIF orientation (1..8) of a JPEG held in buf; 1 when there is none, the file is not a
 * JPEG, or the EXIF block is malformed. Never fails. */
int lrsa_image_exif_orientation(const void *buf, size_t len);
/* Transform img in place as EXIF orientation `orientation` asks (2 mirror, 3 rotate 180,
 * 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise; 1 does
 * nothing), which is what Pillow's ImageOps.exif_transpose and OpenCV's imread do. Errors:
 * LRSA_EMISUSE (no pixels, orientation outside 1..8), LRSA_ENOMEM (img unchanged). */
int lrsa_image_orient(lrsa_image *img, int orientation, lrsa_err *err);
/* Free the pixels and zero the struct; NULL and zeroed structs are fine. */
void lrsa_image_release(lrsa_image *img);

/* Write RGB8 pixels (layout above) as an 8-bit RGB PNG, non-interlaced, default compression
 * (lrsa_png_opts_init). */
int lrsa_image_write_png(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                         lrsa_err *err);

/* PNG encoder settings. They change the file's size and the time to write it, never its pixels:
 * every setting decodes to the same image. */
enum lrsa_png_filter {
    LRSA_PNG_FILTER_ADAPTIVE = 0, /* libpng's default: per row, the best of the five filters */
    LRSA_PNG_FILTER_NONE = 1,
    LRSA_PNG_FILTER_SUB = 2,
    LRSA_PNG_FILTER_UP = 3,
    LRSA_PNG_FILTER_AVG = 4,
    LRSA_PNG_FILTER_PAETH = 5
};
enum lrsa_png_strategy {
    LRSA_PNG_STRATEGY_DEFAULT = 0, /* zlib Z_DEFAULT_STRATEGY (libpng's choice for filtered rows) */
    LRSA_PNG_STRATEGY_RLE = 1,     /* zlib Z_RLE: matches at distance 1 only; fast, good on flat
                                    * areas and UP-filtered rows that repeat the one above */
    LRSA_PNG_STRATEGY_FILTERED = 2 /* zlib Z_FILTERED */
};
typedef struct lrsa_png_opts {
    int level;    /* zlib level 0..9, or -1 for zlib's default (6) */
    int filter;   /* enum lrsa_png_filter */
    int strategy; /* enum lrsa_png_strategy */
} lrsa_png_opts;
/* What lrsa_image_write_png uses: level -1, adaptive filter, default strategy. */
void lrsa_png_opts_init(lrsa_png_opts *opts);
/* The renders' fast setting: level 1, UP filter, Z_RLE. On 672x672 activation renders it writes
 * about 6 times faster than the default for about 10% more bytes (docs/cli/render.md). */
void lrsa_png_opts_fast(lrsa_png_opts *opts);
/* lrsa_image_write_png with encoder settings (NULL: lrsa_png_opts_init). LRSA_EMISUSE for a
 * level, filter or strategy out of range. */
int lrsa_image_write_png_ex(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                            const lrsa_png_opts *opts, lrsa_err *err);
/* Write RGB8 pixels as a baseline JPEG (YCbCr 4:2:0, JFIF) at quality 1..100. */
int lrsa_image_write_jpeg(const char *path, const uint8_t *rgb, int64_t width, int64_t height,
                          int quality, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
