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

/* Which kernels conv.c runs: LRSA__PATH_AUTO (the default) the rule of docs/ae.md, direct kernels
 * for every pass of a layer with at most 32 channels on its high-resolution side and 64 on the
 * other when the CPU has AVX2 and FMA, im2col + sgemm otherwise; LRSA__PATH_GEMM im2col + sgemm
 * everywhere (tests and benches compare the two). Process-wide; set it between calls, not during
 * one. */
enum { LRSA__PATH_AUTO = 0, LRSA__PATH_GEMM = 1 };
void lrsa__conv_set_path(int path);
/* 1 when the layer runs on the direct kernels (all three passes), 0 on im2col + sgemm */
int lrsa__conv_uses_direct(int transposed, int64_t C, int64_t H, int64_t W, int64_t OC);

/* ===== direct kernels (conv_direct.c): AVX2 + FMA, one image, single-threaded ============== */
/* Call them only when lrsa__direct_available(); s2 and wgrad take C <= 32 input channels
 * (LRSA__DIRECT_MAXT taps), as conv.c's rule guarantees; buf is the row-buffer part of
 * lrsa__direct_floats for the layer. Epilogues: LRSA__ACT_* plus the ReLU backward mask (keep
 * out where mx > 0, mx shaped like out). */
enum { LRSA__EPI_NONE = LRSA__ACT_NONE, LRSA__EPI_RELU = LRSA__ACT_RELU,
       LRSA__EPI_SIGMOID = LRSA__ACT_SIGMOID, LRSA__EPI_MASK = 3 };
int lrsa__direct_available(void);
#define LRSA__DIRECT_MAXT 288 /* s2 and wgrad take at most 32 input channels (9 * 32 taps) */
/* Scratch floats for all three kernels on a layer with nhi channels on its high-resolution side,
 * nlo on its low-resolution side and low-resolution width wl (conv: C, OC, OW; convT: OC, C, W):
 * the weight-gradient accumulator, packed weights, row buffers. */
size_t lrsa__direct_floats(int64_t nhi, int64_t nlo, int64_t wl);
/* Its parts, from base: the wgrad accumulator (acc_n floats), packed weights, row buffers. */
void lrsa__direct_parts(float *base, int64_t nhi, int64_t nlo, float **acc, size_t *acc_n,
                        float **wp, float **rb);
/* wp[((oc/4)*C*9 + c*9 + k)*4 + oc%4] = w[oc, c, k] for w (OC, C, 3, 3), zeros past OC:
 * (OC + 3)/4*4 * C * 9 floats */
void lrsa__dconv_pack_s2(float *wp, const float *w, int64_t C, int64_t OC);
/* wp[(oc*C + c)*9 + k] = w[c, oc, k] for w (C, OC, 3, 3) */
void lrsa__dconv_pack_t2(float *wp, const float *w, int64_t C, int64_t OC);
/* out (OC, (H+1)/2, (W+1)/2) = epi(conv(x (C, H, W), wp) + bias); bias may be NULL */
void lrsa__dconv_s2(float *out, const float *x, const float *wp, const float *bias, int epi,
                    const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, float *buf);
/* out (OC, OH, OW) = epi(conv_transpose(x (C, H, W), wp) + bias), cropped to OH <= 2H, OW <= 2W
 * (2H - 1 <= OH) */
void lrsa__dconv_t2(float *out, const float *x, const float *wp, const float *bias, int epi,
                    const float *mx, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t OH,
                    int64_t OW, float *buf);
/* acc[(c*9 + k)*OCp + oc] += sum over pixels of d (OC, (H+1)/2, (W+1)/2) times x (C, H, W) at
 * tap k, OCp = OC rounded up to 16 (acc: 9*C*OCp floats, zeroed by the caller);
 * lrsa__dconv_wgrad_finish adds acc into dw (OC, C, 3, 3). */
void lrsa__dconv_wgrad(float *acc, const float *d, const float *x, int64_t C, int64_t H,
                       int64_t W, int64_t OC, float *buf);
void lrsa__dconv_wgrad_finish(float *dw, const float *acc, int64_t C, int64_t OC);
/* Both on the same x (the transposed convolution's backward: x = dout, out = dx, d = its input):
 * lrsa__dconv_s2(out, x, wp, NULL, epi, mx, ...) and lrsa__dconv_wgrad(acc, d, x, ...) in one
 * pass over the rows of x. */
void lrsa__dconv_s2_wgrad(float *out, const float *wp, int epi, const float *mx, float *acc,
                          const float *d, const float *x, int64_t C, int64_t H, int64_t W,
                          int64_t OC, float *buf);
/* sum of n floats in double (4 or 16 partial sums: the bias gradient) */
double lrsa__sum_f64(const float *x, int64_t n);
#endif
