/*
 * Image processing shared by the renderer and the networks (below both in the layering):
 * Pillow-exact resampling, so that a render resized to 672x672 and a stimulus resized to 224x224
 * match what torchvision's Resize on a PIL image and transformers' ViTImageProcessor produce.
 * Pixels are 8-bit RGB, interleaved, rows top to bottom, no padding (as lrsa_image in image.h).
 */
#ifndef LATENTRSA_IMGPROC_H
#define LATENTRSA_IMGPROC_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest side, in pixels, that the resize accepts (in or out); as LRSA_IMAGE_MAX_DIM. */
#define LRSA_RESIZE_MAX_DIM 32768

/* Pillow's Image.resize((dw, dh), Image.BILINEAR) on an RGB image (reducing_gap None), bit-exact:
 * a separable triangle filter whose support widens with the downscale factor, fixed-point
 * coefficients and rounding as Pillow's Resample.c. dst holds dw*dh*3 bytes and must not overlap
 * src. Verified byte for byte against Pillow 10.3.0 (tests/unit/test_imgproc.c).
 * Details that matter for exactness: the horizontal pass runs first into an 8-bit intermediate
 * (two roundings), a pass is skipped when its axis keeps its size, and the same size on both axes
 * is a copy. Single-threaded (callers parallelise over images).
 * Errors: LRSA_EMISUSE for NULL buffers or a side < 1, LRSA_EUNSUPPORTED for a side over
 * LRSA_RESIZE_MAX_DIM, LRSA_ENOMEM. */
int lrsa_resize_bilinear_rgb8(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                              int64_t dw, int64_t dh, lrsa_err *err);

/* Internal, for tests and benchmarks: the resize through one implementation. All give the same
 * bytes. REFERENCE: Pillow's two passes transcribed plainly; PLAIN: the fast path (each distinct
 * row resampled once, runs of one colour and rows or pieces of rows read from one source copied)
 * in portable C; AVX2: the fast path with AVX2 kernels (LRSA_EUNSUPPORTED where the CPU or the
 * build has none); AUTO: what lrsa_resize_bilinear_rgb8 runs (AVX2 where the CPU has it). */
enum { LRSA__RESIZE_AUTO, LRSA__RESIZE_REFERENCE, LRSA__RESIZE_PLAIN, LRSA__RESIZE_AVX2 };
int lrsa__resize_bilinear_rgb8_impl(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                                    int64_t dw, int64_t dh, int impl, lrsa_err *err);

/* RGB8 interleaved (HWC) -> float32 planar CHW, rescaled and normalised per channel exactly as
 * transformers' slow image processor does in numpy (specs/vit.md section 1.3):
 *     dst[c*h*w + y*w + x] = ((float)((double)src[3*(y*w + x) + c] * rescale) - mean[c]) / std[c]
 * with the subtraction and division in float32. ViT-B/16 in21k: rescale = 1.0/255.0,
 * mean = std = {0.5f, 0.5f, 0.5f}. For plain [0,1] floats pass mean 0 and std 1.
 * dst holds 3*w*h floats. Errors: LRSA_EMISUSE (NULL argument, empty image, a zero std). */
int lrsa_rgb8_to_chw_f32(const uint8_t *src, int64_t w, int64_t h, double rescale,
                         const float mean[3], const float std[3], float *dst, lrsa_err *err);

/* ===== ViT preprocessing (src/imgproc/vit_preprocess.c) =====================================
 * transformers' ViTImageProcessor, slow PIL path (transformers 4.x, use_fast=False), on an image
 * already decoded to RGB8 as PIL's convert('RGB') gives it (image.h):
 *     resize to height x width with PIL BILINEAR (lrsa_resize_bilinear_rgb8, reducing_gap None)
 *  -> rescale: (float)((double)u8 * rescale_factor)              [numpy: uint8 * float -> f64]
 *  -> normalise: (x - mean[c]) / std[c] in float32                [image_transforms.normalize]
 *  -> channels first.
 * The result equals processor(images=img)["pixel_values"][0] bit for bit (tests/unit/
 * test_preprocess.c against transformers 4.44.2 + Pillow 10.3.0).
 * With bgr set, channels 0 and 2 are swapped after the resize (the same as before it: Pillow
 * resizes each band alike), reproducing code that read images with OpenCV (BGR) and handed the
 * array to the processor as if it were RGB. */
typedef struct lrsa_vit_preproc {
    int64_t height, width;     /* size after resizing ("size" of the config) */
    int do_rescale;            /* 1: multiply by rescale_factor (in double, then to float) */
    double rescale_factor;     /* 1/255 */
    int do_normalize;          /* 1: (x - mean) / std in float32 */
    float mean[3], std[3];     /* image_mean, image_std: 0.5 each for ViT */
    int bgr;                   /* 1: swap channels 0 and 2 (the paper's OpenCV path) */
} lrsa_vit_preproc;

/* ViTImageProcessor's defaults at size image_size x image_size: rescale 1/255, mean = std = 0.5,
 * RGB. */
void lrsa_vit_preproc_init(lrsa_vit_preproc *p, int64_t image_size);

/* Read dir/preprocessor_config.json if it exists (else keep the defaults of
 * lrsa_vit_preproc_init(p, image_size)). Honoured keys: size (an int, or {"height","width"}),
 * do_rescale, rescale_factor, do_normalize, image_mean, image_std (3 numbers or one).
 * Refused with LRSA_EUNSUPPORTED naming the key: do_resize false, resample other than 2
 * (BILINEAR), size as shortest_edge/longest_edge, do_center_crop true, an image_processor_type or
 * feature_extractor_type other than ViT's. LRSA_EFORMAT for malformed JSON or a wrong type. */
int lrsa_vit_preproc_read(const char *dir, int64_t image_size, lrsa_vit_preproc *p,
                          lrsa_err *err);

/* Floats one image takes: 3 * height * width. */
int64_t lrsa_vit_preproc_numel(const lrsa_vit_preproc *p);

/* Preprocess one RGB8 image of w x h (layout of image.h) into dst (3*height*width floats, CHW).
 * resized is caller scratch of 3*height*width bytes (NULL: allocated and freed inside); on
 * success it holds the resized RGB8 image (after the bgr swap), for inspection.
 * Thread-safe: callers run one image per thread. Errors: LRSA_EMISUSE (NULL pixels or dst, a side
 * < 1, zero std), LRSA_EUNSUPPORTED (sides over LRSA_RESIZE_MAX_DIM), LRSA_ENOMEM. */
int lrsa_vit_preprocess(const lrsa_vit_preproc *p, const uint8_t *rgb, int64_t w, int64_t h,
                        uint8_t *resized, float *dst, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
