/*
 * safetensors files (Hugging Face's weight format): read with every rule of the format enforced,
 * tensors converted to float32 (from F32, F16, BF16 or F64), and F32 tensors written atomically.
 *
 * Layout: 8 bytes N (uint64 little-endian), N bytes of UTF-8 JSON, then the data area (the rest of
 * the file). The JSON is an object: "__metadata__" (optional, a string -> string map) and, for each
 * tensor, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with offsets
 * relative to the start of the data area. Elements are little-endian, C order.
 *
 * What the reader checks (the rules of the reference Rust implementation, safetensors 0.4.5),
 * each failure an LRSA_EFORMAT error naming the file and the tensor:
 *  - 8 <= file size; N <= LRSA_ST_MAX_HEADER (100 MB) and 8 + N <= file size;
 *  - the header is valid UTF-8, starts with '{', is one JSON object followed only by spaces;
 *  - no duplicate tensor names; __metadata__ is an object of strings (or null);
 *  - dtype is one of BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64;
 *  - shape is a list of integers >= 0 (at most LRSA_ST_MAX_DIMS), data_offsets two integers;
 *  - begin <= end, end - begin == numel * itemsize (the dtype/shape agreement);
 *  - sorted by offset the tensors tile the data area exactly: the first begins at 0, each begins
 *    where the previous ends (no overlaps, no gaps) and the last ends at the end of the file.
 *
 * What the writer writes (float32 only): tensors ordered by name, packed with no gaps from offset
 * 0, compact JSON with "__metadata__" first and its keys sorted, padded with spaces to a multiple
 * of 8 (so the data area, and every F32 tensor in a mapped file, is 4-byte aligned). For zero or
 * one metadata key these are the exact bytes of the safetensors 0.4.5 Python package; with more,
 * the package orders the keys randomly (a Rust HashMap) and ours are sorted, so reproducible.
 */
#ifndef LATENTRSA_SAFETENSORS_H
#define LATENTRSA_SAFETENSORS_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_ST_MAX_HEADER 100000000u   /* bytes, as the reference implementation */
#define LRSA_ST_MAX_DIMS LRSA_TENSOR_MAX_DIMS

typedef enum lrsa_st_dtype {
    LRSA_ST_BOOL = 0, LRSA_ST_U8, LRSA_ST_I8, LRSA_ST_F8_E5M2, LRSA_ST_F8_E4M3,
    LRSA_ST_I16, LRSA_ST_U16, LRSA_ST_F16, LRSA_ST_BF16, LRSA_ST_I32, LRSA_ST_U32,
    LRSA_ST_F32, LRSA_ST_F64, LRSA_ST_I64, LRSA_ST_U64
} lrsa_st_dtype;

/* The format's name of a dtype ("F32", ...) or "unknown"; its size in bytes, or 0. */
const char *lrsa_st_dtype_name(lrsa_st_dtype dtype);
int lrsa_st_dtype_size(lrsa_st_dtype dtype);

/* One tensor's entry in the header. */
typedef struct lrsa_st_tensor {
    char *name;
    lrsa_st_dtype dtype;
    int ndim;
    int64_t shape[LRSA_ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;         /* byte offsets inside the data area */
} lrsa_st_tensor;

/* An open file. Tensors are listed in file (offset) order; metadata in header order. */
typedef struct lrsa_safetensors {
    char *name;                  /* path or name, for messages */
    int ntensors;
    lrsa_st_tensor *tensors;
    int nmeta;
    char **meta_keys, **meta_values;
    const unsigned char *data;   /* the data area */
    uint64_t data_len;
    void *base;                  /* the whole file when we own it (mapped or read); else NULL */
    size_t size;
    int mapped;
} lrsa_safetensors;

/* Validate a whole file held in memory (`len` bytes). The result points into buf for the tensor
 * data: keep buf alive and unchanged until lrsa_st_close. Exposed for the fuzzer and tests. */
int lrsa_st_parse(const void *buf, size_t len, const char *name, lrsa_safetensors **out,
                  lrsa_err *err);
/* Open a file (memory-mapped when possible) and validate it. */
int lrsa_st_open(const char *path, lrsa_safetensors **out, lrsa_err *err);
void lrsa_st_close(lrsa_safetensors *st);   /* NULL is fine */

/* The tensor with this name, or NULL. */
const lrsa_st_tensor *lrsa_st_find(const lrsa_safetensors *st, const char *name);
/* The value of a __metadata__ key, or NULL. */
const char *lrsa_st_meta(const lrsa_safetensors *st, const char *key);
/* The tensor's raw little-endian bytes (end - begin of them). */
const void *lrsa_st_raw(const lrsa_safetensors *st, const lrsa_st_tensor *t);

/* A tensor by name as a new float32 tensor (F32, F16, BF16 and F64 converted; F16 exactly,
 * including subnormals, infinities and NaN). LRSA_ENOTFOUND if no such tensor,
 * LRSA_EUNSUPPORTED for other dtypes. The caller frees *out. */
int lrsa_st_get_f32(const lrsa_safetensors *st, const char *name, lrsa_tensor **out, lrsa_err *err);
/* The same into caller memory: the tensor must have exactly this shape (else LRSA_ESHAPE, naming
 * both shapes); dst holds numel floats. For loading parameters into one preallocated block. */
int lrsa_st_read_into_f32(const lrsa_safetensors *st, const char *name, int ndim,
                          const int64_t *shape, float *dst, lrsa_err *err);

/* One float32 tensor to write. data holds numel(shape) floats in C order. */
typedef struct lrsa_st_entry {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} lrsa_st_entry;

/* Write tensors and metadata (meta_kv holds nmeta key, value pairs: 2*nmeta strings; may be NULL
 * when nmeta is 0) atomically. Names must be unique, non-empty and not "__metadata__"; metadata
 * keys unique. */
int lrsa_st_write_f32(const char *path, const lrsa_st_entry *tensors, int ntensors,
                      const char *const *meta_kv, int nmeta, lrsa_err *err);

/* Exact IEEE half and bfloat16 to float conversion (subnormals, infinities, NaN payloads kept). */
float lrsa_half_to_float(uint16_t h);
float lrsa_bf16_to_float(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
