/* The ViT model's internal layout, shared by vit_load.c and vit_forward.c.
 *
 * Dimensions: B images, P = (S / p)^2 patches, T = 1 + P tokens, C = hidden, H heads of D = C / H,
 * F = intermediate, K = channels * p * p (one patch flattened as c * p*p + ky * p + kx).
 *
 * Parameters live in one float block, each Linear weight kept as PyTorch stores it, [out, in]
 * row-major, so y = x W^T + b is cblas_sgemm(NoTrans, Trans) and the block is also what
 * lrsa_vit_save writes (the tensors are views into it). The query, key and value weights of a
 * layer are stacked into one [3C, C] matrix (rows: q, then k, then v) so that the QKV projection
 * is one GEMM; their biases into one [3C] vector. */
#ifndef LRSA_NN_VIT_IMPL_H
#define LRSA_NN_VIT_IMPL_H

#include "latentrsa/vit.h"

typedef struct vit_layer {
    float *ln1_w, *ln1_b;  /* [C] layernorm_before */
    float *qkv_w, *qkv_b;  /* [3C, C], [3C] attention.attention.{query,key,value} */
    float *o_w, *o_b;      /* [C, C], [C] attention.output.dense */
    float *ln2_w, *ln2_b;  /* [C] layernorm_after */
    float *fc1_w, *fc1_b;  /* [F, C], [F] intermediate.dense */
    float *fc2_w, *fc2_b;  /* [C, F], [C] output.dense */
} vit_layer;

struct lrsa_vit {
    lrsa_vit_config cfg;
    int64_t P, T, C, H, D, F, K, L; /* F: intermediate (MLP) size */
    float *params;             /* the one block */
    size_t nparams;
    float *patch_w, *patch_b;  /* [C, K] (the conv weight [C, ch, p, p] viewed), [C] */
    float *cls;                /* [C] */
    float *pos;                /* [T, C] */
    vit_layer *layers;         /* L of them */
    float *lnf_w, *lnf_b;      /* [C] final layernorm */
    float *pool_w, *pool_b;    /* [C, C], [C]; present only if has_pooler */
    int has_pooler;
    /* scratch for lrsa_vit_forward, grown on demand */
    float *scratch;
    size_t scratch_cap;        /* floats */
};

/* Allocate a model for cfg (checked) with every parameter zero; pooler included when
 * with_pooler. */
int lrsa__vit_alloc(const lrsa_vit_config *cfg, int with_pooler, lrsa_vit **out, lrsa_err *err);

#endif
