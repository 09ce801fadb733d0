/*
 * Elementwise layers of the autoencoder, forward and backward side by side: ReLU, Sigmoid and the
 * MSE loss. n is the element count; in-place use (out == inp, dinp == dout) is allowed.
 * Backward passes use the forward's output, as PyTorch's threshold_backward and sigmoid_backward do.
 */
#include "latentrsa/ae.h"

#include <math.h>

void lrsa_relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void lrsa_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void lrsa_sigmoid_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 1.0f / (1.0f + expf(-inp[i]));
}

void lrsa_sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinp[i] = dout[i] * (1.0f - out[i]) * out[i];
}

double lrsa_mse_forward(const float *pred, const float *target, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    return s;
}

void lrsa_mse_backward(float *dpred, const float *pred, const float *target, size_t n, float scale)
{
    const float k = 2.0f * scale;
    for (size_t i = 0; i < n; i++)
        dpred[i] = k * (pred[i] - target[i]);
}
