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

/* RGB8 interleaved (HWC) -> float32 planar CHW, rescaled and normalised per channel exactly as
 * transformers' slow image processor does in numpy (specs/vit.md section 1.3):
 *     dst[c*h*w + y*w + x] = ((float)((double)src[3*(y*w + x) + c] * rescale) - mean[c]) / std[c]
 * with the subtraction and division in float32. ViT-B/16 in21k: rescale = 1.0/255.0,
 * mean = std = {0.5f, 0.5f, 0.5f}. For plain [0,1] floats pass mean 0 and std 1.
 * dst holds 3*w*h floats. Errors: LRSA_EMISUSE (NULL argument, empty image, a zero std). */
int lrsa_rgb8_to_chw_f32(const uint8_t *src, int64_t w, int64_t h, double rescale,
                         const float mean[3], const float std[3], float *dst, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
