/*
 * Adam with PyTorch's semantics (torch.optim.Adam, single-tensor CPU path, torch 2.x):
 *   g = grad + weight_decay * p                  (L2 in the gradient: Adam, not AdamW)
 *   m = m + (1 - beta1) * (g - m)                (exp_avg.lerp_(grad, 1 - beta1))
 *   v = beta2 * v + (1 - beta2) * g * g
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
#include "latentrsa/ae.h"

#include <math.h>

void lrsa_adam_opts_default(lrsa_adam_opts *opt)
{
    opt->lr = 1e-3f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->weight_decay = 1e-5f;
}

void lrsa_adam_update(float *params, const float *grads, float *m, float *v, size_t n,
                      const lrsa_adam_opts *opt, int64_t step)
{
    /* PyTorch computes the bias corrections in double (Python floats) */
    const double bc1 = 1.0 - pow((double)opt->beta1, (double)step);
    const double bc2 = 1.0 - pow((double)opt->beta2, (double)step);
    const float step_size = (float)((double)opt->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float b1 = opt->beta1, b2 = opt->beta2, wd = opt->weight_decay, eps = opt->eps;
    const float w1 = 1.0f - b1, w2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float p = params[i];
        float g = wd != 0.0f ? grads[i] + wd * p : grads[i];
        float mi = m[i] + w1 * (g - m[i]);
        float vi = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - step_size * (mi / denom);
    }
}
