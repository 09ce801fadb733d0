/* Dense float32 tensors with explicit ownership. */
#include "latentrsa/core.h"

#include <stdlib.h>
#include <string.h>

int64_t lrsa_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

static lrsa_tensor *tensor_header(int ndim, const int64_t *shape, lrsa_err *err)
{
    if (ndim < 0 || ndim > LRSA_TENSOR_MAX_DIMS) {
        LRSA_FAIL(err, LRSA_EMISUSE, "tensor rank %d outside 0..%d", ndim, LRSA_TENSOR_MAX_DIMS);
        return NULL;
    }
    if (lrsa_shape_numel(ndim, shape) < 0) {
        LRSA_FAIL(err, LRSA_ESHAPE, "tensor shape is negative or too large");
        return NULL;
    }
    lrsa_tensor *t = lrsa_calloc(1, sizeof *t, "a tensor", err);
    if (!t)
        return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return t;
}

lrsa_tensor *lrsa_tensor_new(int ndim, const int64_t *shape, lrsa_err *err)
{
    lrsa_tensor *t = tensor_header(ndim, shape, err);
    if (!t)
        return NULL;
    t->data = lrsa_calloc((size_t)lrsa_tensor_numel(t), sizeof(float), "tensor data", err);
    if (!t->data) {
        free(t);
        return NULL;
    }
    t->owns = 1;
    return t;
}

lrsa_tensor *lrsa_matrix_new(int64_t rows, int64_t cols, lrsa_err *err)
{
    int64_t shape[2] = { rows, cols };
    return lrsa_tensor_new(2, shape, err);
}

lrsa_tensor *lrsa_tensor_wrap(float *data, int ndim, const int64_t *shape, lrsa_err *err)
{
    lrsa_tensor *t = tensor_header(ndim, shape, err);
    if (t)
        t->data = data;
    return t;
}

void lrsa_tensor_free(lrsa_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        free(t->data);
    free(t);
}

int64_t lrsa_tensor_numel(const lrsa_tensor *t)
{
    return lrsa_shape_numel(t->ndim, t->shape);
}
