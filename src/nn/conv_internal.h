/* Internal to src/nn: the fast convolution kernels with a fused epilogue, used by the model
 * (ae.c). The public lrsa_conv2d_* / lrsa_convt2d_* (ae.h) are these with LRSA__ACT_NONE / mask 0. */
#ifndef LRSA_NN_CONV_INTERNAL_H
#define LRSA_NN_CONV_INTERNAL_H

#include "latentrsa/ae.h"

enum { LRSA__ACT_NONE = 0, LRSA__ACT_RELU = 1, LRSA__ACT_SIGMOID = 2 };

/* forward, then out = act(out) row tile by row tile while it is still in cache */
void lrsa__conv2d_forward_act(float *out, const float *inp, const float *weight,
                              const float *bias, int act, int64_t B, int64_t C, int64_t H,
                              int64_t W, int64_t OC, float *scratch, int threads);
void lrsa__convt2d_forward_act(float *out, const float *inp, const float *weight,
                               const float *bias, int act, int64_t B, int64_t C, int64_t H,
                               int64_t W, int64_t OC, float *scratch, int threads);
/* backward; with mask != 0, dinp is also multiplied by (inp > 0): the backward of the ReLU that
 * produced inp (inp is that ReLU's output) */
void lrsa__conv2d_backward_mask(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int mask, int64_t B,
                                int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                int threads);
void lrsa__convt2d_backward_mask(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int mask, int64_t B,
                                 int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                 int threads);
#endif
