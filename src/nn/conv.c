/*
 * 3x3, stride 2, padding 1 convolutions: Conv2d and ConvTranspose2d (output_padding 1), forward
 * and backward side by side, a naive reference beside each fast kernel.
 *
 * Glossary: B images, C input channels, H x W input size, OC output channels, OH x OW output size,
 * K = 3 (kernel), HW = H*W, OHW = OH*OW. Tensors are NCHW, C order.
 *   conv2d:         OH = (H - 1)/2 + 1, weight (OC, C, 3, 3)
 *   conv-transpose: OH = 2H,            weight (C, OC, 3, 3)
 *
 * Fast kernels are im2col/col2im + sgemm, per image:
 *   conv2d forward      col[C*9, OHW] = im2col(x);  out = W[OC, C*9] . col + bias
 *   conv2d backward     col = im2col(x);  dW += dout . col^T;  dcol = W^T . dout;  dx = col2im(dcol)
 *   convT forward       col[OC*9, HW] = W^T[OC*9, C] . x;  out = col2im(col) + bias
 *   convT backward      dcol = im2col(dout);  dW += x . dcol^T;  dx = W[C, OC*9] . dcol
 * (a transposed convolution is the data-gradient of the convolution with the same weight, so one
 * im2col/col2im pair serves both.) Images are spread over OpenMP threads; each thread has its own
 * col buffer and weight-gradient accumulator in `scratch`, summed into dweight in thread order.
 * sgemm calls inside the parallel region run single-threaded (OpenBLAS's OpenMP build).
 *
 * Layers with at most 32 channels on their high-resolution side and 64 on the other (the paper's
 * network: enc0-2 and dec2-4) run on the direct kernels of conv_direct.c instead, when the
 * CPU has AVX2 and FMA: no im2col or col2im pass, the stride-2 structure used directly. Same
 * threading, same per-thread accumulators. docs/ae.md has the per-layer measurements behind the
 * rule (direct_allowed); lrsa__conv_set_path(LRSA__PATH_GEMM) forces im2col + sgemm.
 */
#include "latentrsa/ae.h"

#include "conv_internal.h"
#include "kernels.h"

#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define KS 3

static int64_t conv_out(int64_t n) { return (n - 1) / 2 + 1; }

/* ===== im2col / col2im for the stride-2, pad-1, 3x3 geometry ======================== */
/* For output rows oh0 <= oh < oh1 only (a tile; n = (oh1 - oh0) * OW columns):
 * col[(c*9 + ki*3 + kj), (oh - oh0)*OW + ow] = x[c, 2*oh - 1 + ki, 2*ow - 1 + kj] (0 outside).
 * x is (C, H, W), OH x OW the convolution's output size. */
static void im2col(float *col, const float *x, int64_t C, int64_t H, int64_t W, int64_t OW,
                   int64_t oh0, int64_t oh1)
{
    const int64_t n = (oh1 - oh0) * OW;
    for (int64_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        for (int ki = 0; ki < KS; ki++) {
            for (int kj = 0; kj < KS; kj++) {
                float *row = col + ((c * KS + ki) * KS + kj) * n;
                /* ow range with 0 <= 2*ow - 1 + kj < W */
                int64_t ow_lo = kj == 0 ? 1 : 0;
                /* exclusive: 2*ow - 1 + kj <= W - 1 */
                int64_t ow_hi = W >= kj ? (W - kj) / 2 + 1 : 0;
                if (ow_hi > OW)
                    ow_hi = OW;
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    int64_t ih = 2 * oh - 1 + ki;
                    float *r = row + (oh - oh0) * OW;
                    if (ih < 0 || ih >= H) {
                        memset(r, 0, (size_t)OW * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + ih * W - 1 + kj;
                    for (int64_t ow = 0; ow < ow_lo; ow++)
                        r[ow] = 0.0f;
                    for (int64_t ow = ow_lo; ow < ow_hi; ow++)
                        r[ow] = xr[2 * ow];
                    for (int64_t ow = ow_hi; ow < OW; ow++)
                        r[ow] = 0.0f;
                }
            }
        }
    }
}

/* The adjoint of im2col on the same tile: x[c, ih, iw] += the col entries copied from it. */
static void col2im(float *x, const float *col, int64_t C, int64_t H, int64_t W, int64_t OW,
                   int64_t oh0, int64_t oh1)
{
    const int64_t n = (oh1 - oh0) * OW;
    for (int64_t c = 0; c < C; c++) {
        float *xc = x + c * H * W;
        for (int ki = 0; ki < KS; ki++) {
            for (int kj = 0; kj < KS; kj++) {
                const float *row = col + ((c * KS + ki) * KS + kj) * n;
                int64_t ow_lo = kj == 0 ? 1 : 0;
                int64_t ow_hi = W >= kj ? (W - kj) / 2 + 1 : 0;
                if (ow_hi > OW)
                    ow_hi = OW;
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    int64_t ih = 2 * oh - 1 + ki;
                    if (ih < 0 || ih >= H)
                        continue;
                    const float *r = row + (oh - oh0) * OW;
                    float *xr = xc + ih * W - 1 + kj;
                    for (int64_t ow = ow_lo; ow < ow_hi; ow++)
                        xr[2 * ow] += r[ow];
                }
            }
        }
    }
}

/* Rows per tile of an im2col buffer with krows rows and OW columns per output row: about 128K
 * floats (512 KB, so the tile stays in L2 between im2col and sgemm), at least 512 columns so
 * that sgemm's N stays efficient. */
static int64_t tile_rows(int64_t krows, int64_t OH, int64_t OW)
{
    int64_t px = ((int64_t)1 << 17) / krows;
    if (px < 512)
        px = 512;
    int64_t r = (px + OW - 1) / OW;
    return r < 1 ? 1 : r > OH ? OH : r;
}

/* Apply bias and activation to rows [r0, r1) of every channel of a (OC, OH, OW) image. */
static void finish_rows(float *o, const float *bias, int act, int64_t OC, int64_t OHW, int64_t OW,
                        int64_t r0, int64_t r1)
{
    for (int64_t oc = 0; oc < OC; oc++) {
        float *r = o + oc * OHW + r0 * OW;
        size_t n = (size_t)((r1 - r0) * OW);
        float bv = bias ? bias[oc] : 0.0f;
        if (bv != 0.0f)
            for (size_t i = 0; i < n; i++)
                r[i] += bv;
        if (act == LRSA__ACT_RELU)
            lrsa_relu_forward(r, r, n);
        else if (act == LRSA__ACT_SIGMOID)
            lrsa_nn_sigmoid(r, r, (int64_t)n);
    }
}

/* dinp rows [r0, r1) of every channel: keep the gradient where the input (a ReLU output) is > 0. */
static void mask_rows(float *dx, const float *x, int64_t C, int64_t HW, int64_t W, int64_t r0,
                      int64_t r1)
{
    for (int64_t c = 0; c < C; c++)
        lrsa_relu_backward(dx + c * HW + r0 * W, dx + c * HW + r0 * W, x + c * HW + r0 * W,
                           (size_t)((r1 - r0) * W));
}

/* ===== kernel choice ================================================================ */

static int conv_path = LRSA__PATH_AUTO;

void lrsa__conv_set_path(int path) { conv_path = path; }

/* Channels on the high- and low-resolution sides and the low-resolution width of a layer. */
static void sides(int transposed, int64_t C, int64_t W, int64_t OC, int64_t *nhi, int64_t *nlo,
                  int64_t *wl)
{
    *nhi = transposed ? OC : C;
    *nlo = transposed ? C : OC;
    *wl = transposed ? W : conv_out(W);
}

/* Layers that run the direct kernels (their scratch holds the direct buffers): the thin ones, 3 to
 * 32 channels on the high-resolution side. At 64 (enc3, dec1) and above, sgemm measured as fast
 * or faster on 2 threads (docs/ae.md). s2 and wgrad keep a tap table of 9 * nhi entries. */
static int direct_allowed(int transposed, int64_t C, int64_t W, int64_t OC)
{
    int64_t nhi, nlo, wl;
    sides(transposed, C, W, OC, &nhi, &nlo, &wl);
    return nhi <= 32 && nlo <= 64;
}

int lrsa__conv_uses_direct(int transposed, int64_t C, int64_t H, int64_t W, int64_t OC)
{
    (void)H;
    int avail = lrsa__direct_available(); /* also probes the CPU outside parallel regions */
    return conv_path != LRSA__PATH_GEMM && direct_allowed(transposed, C, W, OC) && avail;
}

size_t lrsa_conv_scratch_floats(int64_t C, int64_t H, int64_t W, int64_t OC, int transposed)
{
    /* col buffer + dweight accumulator + dbias accumulator [+ direct kernels' buffers] */
    size_t col = transposed ? (size_t)(OC * KS * KS) * (size_t)(H * W)
                            : (size_t)(C * KS * KS) * (size_t)(conv_out(H) * conv_out(W));
    size_t dir = 0;
    if (direct_allowed(transposed, C, W, OC)) {
        int64_t nhi, nlo, wl;
        sides(transposed, C, W, OC, &nhi, &nlo, &wl);
        dir = lrsa__direct_floats(nhi, nlo, wl);
    }
    return col + (size_t)(OC * C * KS * KS) + (size_t)OC + dir;
}

static int team_size(int threads, int64_t B)
{
    if (threads < 1)
        threads = 1;
    if ((int64_t)threads > B)
        threads = (int)B;
    return threads;
}

/* Sum the per-thread accumulators (each `stride` floats apart, starting at acc0) into dst. */
static void reduce_acc(float *dst, const float *acc0, size_t stride, size_t n, int nt)
{
    for (size_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (int t = 0; t < nt; t++)
            s += acc0[(size_t)t * stride + i];
        dst[i] += s;
    }
}

/* The direct kernels' area at the end of thread tid's slice of scratch (lrsa__direct_floats):
 * weight-gradient accumulator, packed weights, row buffers. */
static void direct_parts(float *scratch, int tid, int transposed, int64_t C, int64_t H, int64_t W,
                         int64_t OC, float **acc, size_t *acc_n, float **wp, float **rb)
{
    int64_t nhi, nlo, wl;
    sides(transposed, C, W, OC, &nhi, &nlo, &wl);
    size_t per = lrsa_conv_scratch_floats(C, H, W, OC, transposed);
    lrsa__direct_parts(scratch + (size_t)tid * per + per - lrsa__direct_floats(nhi, nlo, wl), nhi,
                       nlo, acc, acc_n, wp, rb);
}

/* ===== the direct kernels over a batch ============================================== */
/* OpenMP over the images as in the im2col path; each thread packs the weights into its own
 * scratch, and the weight and bias gradients go to the same per-thread accumulators (reduced
 * in thread order by the caller's reduce_acc). conv_direct.c has the kernels. */

static void conv2d_forward_direct(float *out, const float *inp, const float *weight,
                                  const float *bias, int act, int64_t B, int64_t C, int64_t H,
                                  int64_t W, int64_t OC, float *scratch, int nt)
{
    const int64_t OHW = conv_out(H) * conv_out(W);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *acc, *wp, *rb;
        size_t acc_n;
        direct_parts(scratch, tid, 0, C, H, W, OC, &acc, &acc_n, &wp, &rb);
        lrsa__dconv_pack_s2(wp, weight, C, OC);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++)
            lrsa__dconv_s2(out + b * OC * OHW, inp + b * C * H * W, wp, bias, act, NULL, C, H, W,
                           OC, rb);
    }
}

/* dW by wgrad; dx is the transposed convolution of dout with the same weight (t2), masked */
static void conv2d_backward_direct(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, int mask, int64_t B,
                                   int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                   int nt)
{
    const int64_t OH = conv_out(H), OW = conv_out(W), OHW = OH * OW;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 0);
    const size_t colsz = (size_t)(C * KS * KS * OHW), wn = (size_t)(OC * C * KS * KS);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *dw = scratch + (size_t)tid * per + colsz, *db = dw + wn;
        float *acc, *wp, *rb;
        size_t acc_n;
        direct_parts(scratch, tid, 0, C, H, W, OC, &acc, &acc_n, &wp, &rb);
        memset(dw, 0, (wn + (size_t)OC) * sizeof *dw);
        memset(acc, 0, acc_n * sizeof *acc);
        if (dinp)
            lrsa__dconv_pack_t2(wp, weight, OC, C);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            const float *d = dout + b * OC * OHW, *x = inp + b * C * H * W;
            for (int64_t oc = 0; oc < OC; oc++)
                db[oc] += (float)lrsa__sum_f64(d + oc * OHW, OHW);
            lrsa__dconv_wgrad(acc, d, x, C, H, W, OC, rb);
            if (dinp)
                lrsa__dconv_t2(dinp + b * C * H * W, d, wp, NULL,
                               mask ? LRSA__EPI_MASK : LRSA__EPI_NONE, x, OC, OH, OW, C, H, W, rb);
        }
        lrsa__dconv_wgrad_finish(dw, acc, C, OC);
    }
    reduce_acc(dweight, scratch + colsz, per, wn, nt);
    if (dbias)
        reduce_acc(dbias, scratch + colsz + wn, per, (size_t)OC, nt);
}

static void convt2d_forward_direct(float *out, const float *inp, const float *weight,
                                   const float *bias, int act, int64_t B, int64_t C, int64_t H,
                                   int64_t W, int64_t OC, float *scratch, int nt)
{
    const int64_t OH = 2 * H, OW = 2 * W;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *acc, *wp, *rb;
        size_t acc_n;
        direct_parts(scratch, tid, 1, C, H, W, OC, &acc, &acc_n, &wp, &rb);
        lrsa__dconv_pack_t2(wp, weight, C, OC);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++)
            lrsa__dconv_t2(out + b * OC * OH * OW, inp + b * C * H * W, wp, bias, act, NULL, C, H,
                           W, OC, OH, OW, rb);
    }
}

/* dx is the convolution of dout with the same weight (s2), masked; dW[c, oc, k] = sum x[c, ih, iw]
 * dout[oc, 2ih-1+ki, 2iw-1+kj] is the convolution's weight gradient with x as its output
 * gradient and dout as its input; both in one pass over the rows of dout. */
static void convt2d_backward_direct(float *dinp, float *dweight, float *dbias, const float *dout,
                                    const float *inp, const float *weight, int mask, int64_t B,
                                    int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                    int nt)
{
    const int64_t OH = 2 * H, OW = 2 * W, HW = H * W, OHW = OH * OW;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 1);
    const size_t colsz = (size_t)(OC * KS * KS * HW), wn = (size_t)(C * OC * KS * KS);
    const int epi = mask ? LRSA__EPI_MASK : LRSA__EPI_NONE;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *dw = scratch + (size_t)tid * per + colsz, *db = dw + wn;
        float *acc, *wp, *rb;
        size_t acc_n;
        direct_parts(scratch, tid, 1, C, H, W, OC, &acc, &acc_n, &wp, &rb);
        memset(dw, 0, (wn + (size_t)OC) * sizeof *dw);
        memset(acc, 0, acc_n * sizeof *acc);
        if (dinp)
            lrsa__dconv_pack_s2(wp, weight, OC, C);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            const float *d = dout + b * OC * OHW, *x = inp + b * C * HW;
            for (int64_t oc = 0; oc < OC; oc++)
                db[oc] += (float)lrsa__sum_f64(d + oc * OHW, OHW);
            if (dinp)
                lrsa__dconv_s2_wgrad(dinp + b * C * HW, wp, epi, x, acc, x, d, OC, OH, OW, C, rb);
            else
                lrsa__dconv_wgrad(acc, x, d, OC, OH, OW, C, rb);
        }
        lrsa__dconv_wgrad_finish(dw, acc, OC, C); /* (C, OC) of the convolution = (OC, C) here */
    }
    reduce_acc(dweight, scratch + colsz, per, wn, nt);
    if (dbias)
        reduce_acc(dbias, scratch + colsz + wn, per, (size_t)OC, nt);
}

/* ===== conv2d ======================================================================= */

void lrsa_conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias,
                               int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC)
{
    // inp is (B,C,H,W), weight is (OC,C,3,3), bias is (OC), out is (B,OC,OH,OW)
    const int64_t OH = conv_out(H), OW = conv_out(W);
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = bias ? bias[oc] : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int ki = 0; ki < KS; ki++) {
                            int64_t ih = 2 * oh - 1 + ki;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int kj = 0; kj < KS; kj++) {
                                int64_t iw = 2 * ow - 1 + kj;
                                if (iw < 0 || iw >= W)
                                    continue;
                                s += (double)weight[((oc * C + c) * KS + ki) * KS + kj] *
                                     inp[((b * C + c) * H + ih) * W + iw];
                            }
                        }
                    out[((b * OC + oc) * OH + oh) * OW + ow] = (float)s;
                }
}

void lrsa_conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight,
                                int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC)
{
    const int64_t OH = conv_out(H), OW = conv_out(W);
    if (dinp)
        memset(dinp, 0, (size_t)(B * C * H * W) * sizeof *dinp);
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    float d = dout[((b * OC + oc) * OH + oh) * OW + ow];
                    if (dbias)
                        dbias[oc] += d;
                    for (int64_t c = 0; c < C; c++)
                        for (int ki = 0; ki < KS; ki++) {
                            int64_t ih = 2 * oh - 1 + ki;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int kj = 0; kj < KS; kj++) {
                                int64_t iw = 2 * ow - 1 + kj;
                                if (iw < 0 || iw >= W)
                                    continue;
                                int64_t wi = ((oc * C + c) * KS + ki) * KS + kj;
                                int64_t xi = ((b * C + c) * H + ih) * W + iw;
                                dweight[wi] += inp[xi] * d;
                                if (dinp)
                                    dinp[xi] += weight[wi] * d;
                            }
                        }
                }
}

void lrsa__conv2d_forward_act(float *out, const float *inp, const float *weight,
                              const float *bias, int act, int64_t B, int64_t C, int64_t H,
                              int64_t W, int64_t OC, float *scratch, int threads)
{
    const int64_t OH = conv_out(H), OW = conv_out(W), OHW = OH * OW, CK = C * KS * KS;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 0);
    const int64_t tr = tile_rows(CK, OH, OW);
    const int nt = team_size(threads, B);
    if (lrsa__conv_uses_direct(0, C, H, W, OC)) {
        conv2d_forward_direct(out, inp, weight, bias, act, B, C, H, W, OC, scratch, nt);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < B; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *col = scratch + (size_t)tid * per;
        float *o = out + b * OC * OHW;
        const float *x = inp + b * C * H * W;
        for (int64_t oh0 = 0; oh0 < OH; oh0 += tr) {
            int64_t oh1 = oh0 + tr < OH ? oh0 + tr : OH, n = (oh1 - oh0) * OW;
            im2col(col, x, C, H, W, OW, oh0, oh1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OC, (int)n, (int)CK, 1.0f,
                        weight, (int)CK, col, (int)n, 0.0f, o + oh0 * OW, (int)OHW);
            finish_rows(o, bias, act, OC, OHW, OW, oh0, oh1);
        }
    }
}

void lrsa_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                         int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                         float *scratch, int threads)
{
    lrsa__conv2d_forward_act(out, inp, weight, bias, LRSA__ACT_NONE, B, C, H, W, OC, scratch,
                             threads);
}

void lrsa__conv2d_backward_mask(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int mask, int64_t B,
                                int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                int threads)
{
    const int64_t OH = conv_out(H), OW = conv_out(W), OHW = OH * OW, CK = C * KS * KS;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 0);
    const size_t colsz = (size_t)(CK * OHW), wn = (size_t)(OC * CK);
    const int64_t tr = tile_rows(CK, OH, OW);
    const int nt = team_size(threads, B);
    if (lrsa__conv_uses_direct(0, C, H, W, OC)) {
        conv2d_backward_direct(dinp, dweight, dbias, dout, inp, weight, mask, B, C, H, W, OC,
                               scratch, nt);
        return;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *col = scratch + (size_t)tid * per;
        float *dw = col + colsz, *db = dw + wn;
        memset(dw, 0, (wn + (size_t)OC) * sizeof *dw);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            const float *d = dout + b * OC * OHW;
            const float *x = inp + b * C * H * W;
            float *dx = dinp ? dinp + b * C * H * W : NULL;
            for (int64_t oc = 0; oc < OC; oc++)
                db[oc] += (float)lrsa__sum_f64(d + oc * OHW, OHW);
            if (dx)
                memset(dx, 0, (size_t)(C * H * W) * sizeof *dx);
            int64_t done = 0; /* dinp rows below this are final */
            for (int64_t oh0 = 0; oh0 < OH; oh0 += tr) {
                int64_t oh1 = oh0 + tr < OH ? oh0 + tr : OH, n = (oh1 - oh0) * OW;
                im2col(col, x, C, H, W, OW, oh0, oh1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OC, (int)CK, (int)n, 1.0f,
                            d + oh0 * OW, (int)OHW, col, (int)n, 1.0f, dw, (int)CK);
                if (!dx)
                    continue;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CK, (int)n, (int)OC, 1.0f,
                            weight, (int)CK, d + oh0 * OW, (int)OHW, 0.0f, col, (int)n);
                col2im(dx, col, C, H, W, OW, oh0, oh1);
                /* the next tile writes input rows from 2*oh1 - 1 on */
                int64_t fin = oh1 == OH ? H : 2 * oh1 - 1;
                if (mask && fin > done) {
                    mask_rows(dx, x, C, H * W, W, done, fin);
                    done = fin;
                }
            }
        }
    }
    reduce_acc(dweight, scratch + colsz, per, wn, nt);
    if (dbias)
        reduce_acc(dbias, scratch + colsz + wn, per, (size_t)OC, nt);
}

void lrsa_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight,
                          int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                          float *scratch, int threads)
{
    lrsa__conv2d_backward_mask(dinp, dweight, dbias, dout, inp, weight, 0, B, C, H, W, OC, scratch,
                               threads);
}

/* ===== conv-transpose 2d ============================================================ */

void lrsa_convt2d_forward_naive(float *out, const float *inp, const float *weight,
                                const float *bias, int64_t B, int64_t C, int64_t H, int64_t W,
                                int64_t OC)
{
    // inp is (B,C,H,W), weight is (C,OC,3,3), bias is (OC), out is (B,OC,2H,2W)
    const int64_t OH = 2 * H, OW = 2 * W;
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    /* oh = 2*ih - 1 + ki */
                    double s = bias ? bias[oc] : 0.0;
                    for (int ki = 0; ki < KS; ki++) {
                        int64_t t = oh + 1 - ki;
                        if (t < 0 || t % 2 || t / 2 >= H)
                            continue;
                        int64_t ih = t / 2;
                        for (int kj = 0; kj < KS; kj++) {
                            int64_t u = ow + 1 - kj;
                            if (u < 0 || u % 2 || u / 2 >= W)
                                continue;
                            int64_t iw = u / 2;
                            for (int64_t c = 0; c < C; c++)
                                s += (double)inp[((b * C + c) * H + ih) * W + iw] *
                                     weight[((c * OC + oc) * KS + ki) * KS + kj];
                        }
                    }
                    out[((b * OC + oc) * OH + oh) * OW + ow] = (float)s;
                }
}

void lrsa_convt2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight,
                                 int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC)
{
    const int64_t OH = 2 * H, OW = 2 * W;
    if (dinp)
        memset(dinp, 0, (size_t)(B * C * H * W) * sizeof *dinp);
    for (int64_t b = 0; b < B; b++) {
        if (dbias)
            for (int64_t oc = 0; oc < OC; oc++)
                for (int64_t i = 0; i < OH * OW; i++)
                    dbias[oc] += dout[(b * OC + oc) * OH * OW + i];
        for (int64_t c = 0; c < C; c++)
            for (int64_t ih = 0; ih < H; ih++)
                for (int64_t iw = 0; iw < W; iw++) {
                    int64_t xi = ((b * C + c) * H + ih) * W + iw;
                    for (int64_t oc = 0; oc < OC; oc++)
                        for (int ki = 0; ki < KS; ki++) {
                            int64_t oh = 2 * ih - 1 + ki;
                            if (oh < 0 || oh >= OH)
                                continue;
                            for (int kj = 0; kj < KS; kj++) {
                                int64_t ow = 2 * iw - 1 + kj;
                                if (ow < 0 || ow >= OW)
                                    continue;
                                int64_t wi = ((c * OC + oc) * KS + ki) * KS + kj;
                                float d = dout[((b * OC + oc) * OH + oh) * OW + ow];
                                dweight[wi] += inp[xi] * d;
                                if (dinp)
                                    dinp[xi] += weight[wi] * d;
                            }
                        }
                }
    }
}

void lrsa__convt2d_forward_act(float *out, const float *inp, const float *weight,
                               const float *bias, int act, int64_t B, int64_t C, int64_t H,
                               int64_t W, int64_t OC, float *scratch, int threads)
{
    const int64_t OH = 2 * H, OW = 2 * W, HW = H * W, OK = OC * KS * KS, OHW = OH * OW;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 1);
    const int64_t tr = tile_rows(OK, H, W);
    const int nt = team_size(threads, B);
    if (lrsa__conv_uses_direct(1, C, H, W, OC)) {
        convt2d_forward_direct(out, inp, weight, bias, act, B, C, H, W, OC, scratch, nt);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < B; b++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *col = scratch + (size_t)tid * per;
        float *o = out + b * OC * OHW;
        const float *x = inp + b * C * HW;
        memset(o, 0, (size_t)(OC * OHW) * sizeof *o);
        int64_t done = 0; /* output rows below this are final */
        /* the output (OC, OH, OW) is the "input" of the matching convolution, whose output is
         * this layer's input H x W: tile over its rows ih */
        for (int64_t ih0 = 0; ih0 < H; ih0 += tr) {
            int64_t ih1 = ih0 + tr < H ? ih0 + tr : H, n = (ih1 - ih0) * W;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)OK, (int)n, (int)C, 1.0f,
                        weight, (int)OK, x + ih0 * W, (int)HW, 0.0f, col, (int)n);
            col2im(o, col, OC, OH, OW, W, ih0, ih1);
            int64_t fin = ih1 == H ? OH : 2 * ih1 - 1;
            finish_rows(o, bias, act, OC, OHW, OW, done, fin);
            done = fin;
        }
    }
}

void lrsa_convt2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                          int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                          float *scratch, int threads)
{
    lrsa__convt2d_forward_act(out, inp, weight, bias, LRSA__ACT_NONE, B, C, H, W, OC, scratch,
                              threads);
}

void lrsa__convt2d_backward_mask(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int mask, int64_t B,
                                 int64_t C, int64_t H, int64_t W, int64_t OC, float *scratch,
                                 int threads)
{
    const int64_t OH = 2 * H, OW = 2 * W, HW = H * W, OK = OC * KS * KS, OHW = OH * OW;
    const size_t per = lrsa_conv_scratch_floats(C, H, W, OC, 1);
    const size_t colsz = (size_t)(OK * HW), wn = (size_t)(C * OK);
    const int64_t tr = tile_rows(OK, H, W);
    const int nt = team_size(threads, B);
    if (lrsa__conv_uses_direct(1, C, H, W, OC)) {
        convt2d_backward_direct(dinp, dweight, dbias, dout, inp, weight, mask, B, C, H, W, OC,
                                scratch, nt);
        return;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *col = scratch + (size_t)tid * per;
        float *dw = col + colsz, *db = dw + wn;
        memset(dw, 0, (wn + (size_t)OC) * sizeof *dw);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            const float *d = dout + b * OC * OHW;
            const float *x = inp + b * C * HW;
            float *dx = dinp ? dinp + b * C * HW : NULL;
            for (int64_t oc = 0; oc < OC; oc++)
                db[oc] += (float)lrsa__sum_f64(d + oc * OHW, OHW);
            for (int64_t ih0 = 0; ih0 < H; ih0 += tr) {
                int64_t ih1 = ih0 + tr < H ? ih0 + tr : H, n = (ih1 - ih0) * W;
                im2col(col, d, OC, OH, OW, W, ih0, ih1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)C, (int)OK, (int)n, 1.0f,
                            x + ih0 * W, (int)HW, col, (int)n, 1.0f, dw, (int)OK);
                if (!dx)
                    continue;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)C, (int)n, (int)OK,
                            1.0f, weight, (int)OK, col, (int)n, 0.0f, dx + ih0 * W, (int)HW);
                if (mask)
                    mask_rows(dx, x, C, HW, W, ih0, ih1);
            }
        }
    }
    reduce_acc(dweight, scratch + colsz, per, wn, nt);
    if (dbias)
        reduce_acc(dbias, scratch + colsz + wn, per, (size_t)OC, nt);
}

void lrsa_convt2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight,
                           int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC,
                           float *scratch, int threads)
{
    lrsa__convt2d_backward_mask(dinp, dweight, dbias, dout, inp, weight, 0, B, C, H, W, OC, scratch,
                                threads);
}
