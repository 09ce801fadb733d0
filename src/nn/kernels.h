/*
 * Elementwise kernels of the ViT forward pass (internal to src/nn): layernorm, bias + exact-erf
 * GELU, row softmax, and the vectorised erf and exp under them; and the autoencoder's output
 * sigmoid. Each fast kernel has a naive reference beside it (double arithmetic, libm), used by
 * tests/unit/test_vit.c (the sigmoid's by tests/unit/test_ae_layers.c).
 *
 * The fast kernels use AVX2 + FMA when the CPU has them (checked once at run time; the build
 * itself needs no -march flag) and a portable scalar path otherwise. Accuracy, measured by the
 * unit test against double-precision libm:
 *   lrsa_nn_erf: absolute error < 1e-7 everywhere (about 7e-8 at worst, near |x| = 0.9);
 *   lrsa_nn_exp: error < 1.5 ulp on [-87.3, 88.7] (measured 1.0 ulp; relative 8e-8 on
 *                softmax's [-20, 0]); below -87.3 the AVX2 path returns 0 (subnormals
 *                flushed), above 88.7 +inf; NaN stays NaN.
 *   lrsa_nn_sigmoid: 1 / (1 + exp(-x)) with that exp and an exact division: relative error
 *                < 3e-7 where the result is a normal float (measured 1.4e-7 on a sweep of
 *                [-100, 100], tests/unit/test_ae_layers.c); 0 below -88.7 (exp(-x) overflows,
 *                as with expf), 1 above 17; NaN stays NaN.
 * None of them allocate or fail.
 */
#ifndef LRSA_NN_KERNELS_H
#define LRSA_NN_KERNELS_H

#include <stdint.h>

/* 1 when the AVX2 + FMA paths are used. lrsa_nn_force_scalar(1) switches them off (tests). */
int lrsa_nn_simd(void);
void lrsa_nn_force_scalar(int on);

/* out[i] = erf(in[i]), out[i] = exp(in[i]); out may equal in. */
void lrsa_nn_erf(float *out, const float *in, int64_t n);
void lrsa_nn_exp(float *out, const float *in, int64_t n);
/* out[i] = 1 / (1 + exp(-in[i])); out may equal in. The naive one computes in double. */
void lrsa_nn_sigmoid(float *out, const float *in, int64_t n);
void lrsa_nn_sigmoid_naive(float *out, const float *in, int64_t n);

/* x[r, j] = gelu(x[r, j] + bias[j]) for rows r < rows of n columns (leading dimension n), with
 * gelu(v) = v * 0.5 * (1 + erf(v / sqrt 2)), PyTorch's order of operations. bias may be NULL.
 * OpenMP over rows with `threads` threads. */
void lrsa_nn_bias_gelu(float *x, const float *bias, int64_t rows, int64_t n, int threads);
void lrsa_nn_bias_gelu_naive(float *x, const float *bias, int64_t rows, int64_t n);

/* out[r] = layernorm(in[r]) * w + b over rows of C floats: biased variance, PyTorch's
 * y = (x * rstd + (-rstd * mean)) * w + b with rstd = 1 / sqrt(var + eps). Mean and variance
 * accumulate in double. out may equal in. OpenMP over rows. */
void lrsa_nn_layernorm(float *out, const float *in, const float *w, const float *b,
                       int64_t rows, int64_t C, float eps, int threads);
void lrsa_nn_layernorm_naive(float *out, const float *in, const float *w, const float *b,
                             int64_t rows, int64_t C, float eps);

/* Softmax in place along each of `rows` rows of n floats (leading dimension ld): subtract the
 * row maximum, exponentiate, multiply by 1 / sum (the sum in double). Single-threaded: it runs
 * inside the attention's parallel loop. */
void lrsa_nn_softmax_rows(float *x, int64_t rows, int64_t n, int64_t ld);
void lrsa_nn_softmax_rows_naive(float *x, int64_t rows, int64_t n, int64_t ld);

#endif
