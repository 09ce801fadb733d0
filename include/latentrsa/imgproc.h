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

/* Pillow's Image.resize((dw, dh), Image.BILINEAR) on an RGB image (reducing_gap None), bit-exact:
 * a separable triangle filter whose support widens with the downscale factor, fixed-point
 * coefficients and rounding as Pillow's Resample.c. dst holds dw*dh*3 bytes. */
int lrsa_resize_bilinear_rgb8(const uint8_t *src, int64_t sw, int64_t sh, uint8_t *dst,
                              int64_t dw, int64_t dh, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
