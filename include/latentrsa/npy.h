/*
 * NumPy .npy files: read (any byte order, C or Fortran order, float/int/bool dtypes), memory-map
 * without copying, and write (atomically, through lrsa_outfile).
 *
 * Format (numpy/lib/format.py): the magic "\x93NUMPY", a major and minor version byte (1.0, 2.0
 * or 3.0), the header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0), then that many bytes of
 * a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the raw elements.
 *
 * What we accept (anything else is an error naming the file):
 *  - versions 1.0, 2.0 and 3.0; header length at most LRSA_NPY_MAX_HEADER and inside the file;
 *  - exactly the keys 'descr', 'fortran_order', 'shape' (any order, each once), single or double
 *    quotes, trailing spaces and one '\n' after the dict;
 *  - descr one of b1 (bool), i1 i2 i4 i8, u1 u2 u4 u8, f2 f4 f8, with byte order '<', '>', '|'
 *    or '=' ('|' only for one-byte types). Object ('|O'), structured, string, complex and
 *    datetime dtypes give LRSA_EUNSUPPORTED;
 *  - at most LRSA_NPY_MAX_DIMS axes, each >= 0; 0-d arrays (shape ()) hold one element;
 *  - the data must be exactly numel * itemsize bytes: a shorter (truncated) or longer file is
 *    rejected. Because of this check, absurd shapes are rejected before anything is allocated.
 *
 * What we write: version 1.0 (2.0 only if the header would not fit in 65535 bytes), the dict
 * keys in numpy's order and spacing (including numpy >= 1.24's padding for in-place growth of
 * the first axis), the header padded so that the data starts at a multiple of 64 bytes: the same
 * bytes np.save of numpy 1.26 writes. Data is little-endian ('<') on little-endian machines.
 *
 * Errors: LRSA_ENOTFOUND/LRSA_EIO (cannot open/read/write), LRSA_EFORMAT (malformed header,
 * truncated file), LRSA_EUNSUPPORTED (valid .npy we do not handle, e.g. more than 8 axes),
 * LRSA_EMISUSE (bad arguments to a writer), LRSA_ENOMEM.
 */
#ifndef LATENTRSA_NPY_H
#define LATENTRSA_NPY_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRSA_NPY_MAX_DIMS LRSA_TENSOR_MAX_DIMS
#define LRSA_NPY_MAX_HEADER (1u << 20)      /* bytes of header dict we are willing to parse */

/* Element types. The byte order is kept separately (lrsa_npy_header.big_endian). */
typedef enum lrsa_npy_dtype {
    LRSA_NPY_BOOL = 0,   /* b1: one byte, 0 or non-zero */
    LRSA_NPY_I8, LRSA_NPY_I16, LRSA_NPY_I32, LRSA_NPY_I64,
    LRSA_NPY_U8, LRSA_NPY_U16, LRSA_NPY_U32, LRSA_NPY_U64,
    LRSA_NPY_F16, LRSA_NPY_F32, LRSA_NPY_F64
} lrsa_npy_dtype;

/* Bytes per element of a dtype (1, 2, 4 or 8); 0 for an invalid value. */
int lrsa_npy_dtype_size(lrsa_npy_dtype dtype);
/* numpy's name of a dtype ("float32", "uint8", "bool", ...); "unknown" for an invalid value. */
const char *lrsa_npy_dtype_name(lrsa_npy_dtype dtype);

/* A parsed header. */
typedef struct lrsa_npy_header {
    int version_major, version_minor;
    lrsa_npy_dtype dtype;
    int itemsize;                       /* lrsa_npy_dtype_size(dtype) */
    int big_endian;                     /* 1 if the elements are stored big-endian */
    int fortran_order;                  /* 1 if stored column-major */
    int ndim;                           /* 0..LRSA_NPY_MAX_DIMS */
    int64_t shape[LRSA_NPY_MAX_DIMS];
    int64_t numel;                      /* product of shape (1 for a 0-d array) */
    size_t data_offset;                 /* bytes from the start of the file to the first element */
    size_t data_bytes;                  /* numel * itemsize */
} lrsa_npy_header;

/* Parse and validate the header of a .npy held in memory. `buf` holds the first `len` bytes of
 * the file (at least the whole header); `file_size` is the size of the whole file, or -1 if
 * `len` is the whole file. Checks magic, version, header length, the dict and that the data is
 * exactly file_size - data_offset bytes. `name` is used in messages. Exposed for the fuzzer. */
int lrsa_npy_parse_header(const void *buf, size_t len, int64_t file_size, const char *name,
                          lrsa_npy_header *hdr, lrsa_err *err);

/* ---- Reading --------------------------------------------------------------------------------- */

/* Read any supported .npy and convert it to a C-order float32 tensor (values converted as C casts
 * do: int64 beyond 2^24 loses precision, float64 rounds to nearest). The caller frees *out with
 * lrsa_tensor_free. On failure *out is NULL. */
int lrsa_npy_read_f32(const char *path, lrsa_tensor **out, lrsa_err *err);

/* A read-only view of a .npy file, memory-mapped (or read into memory when the file cannot be
 * mapped, e.g. a pipe). `data` points to the first element as stored: in the file's byte order
 * and memory order, hdr.data_bytes bytes. It is aligned to hdr.itemsize whenever data_offset is
 * (always true for files numpy writes, whose data starts at a multiple of 16 or 64). */
typedef struct lrsa_npy_mapping {
    lrsa_npy_header hdr;
    const void *data;
    char *path;                         /* copy of the path, for messages */
    void *base;                         /* the mapping (or buffer) of the whole file */
    size_t size;                        /* its length */
    int mapped;                         /* 1: munmap on release, 0: free */
} lrsa_npy_mapping;

int lrsa_npy_map(const char *path, lrsa_npy_mapping **out, lrsa_err *err);
void lrsa_npy_unmap(lrsa_npy_mapping *m);   /* NULL is fine */

/* Convert `hdr.numel` stored elements at `data` (laid out as hdr says) into `out`, a C-order
 * float32 buffer of hdr.numel elements. Never fails for a valid header. */
void lrsa_npy_decode_f32(const lrsa_npy_header *hdr, const void *data, float *out);
/* The same into float64 (exact for every int up to 2^53 and every f2/f4/f8 value). */
void lrsa_npy_decode_f64(const lrsa_npy_header *hdr, const void *data, double *out);

/* ---- Writing --------------------------------------------------------------------------------- */

/* Write a C-order float32 array as '<f4' (see the top of this file), atomically: on failure no
 * file is left at `path`. ndim 0..LRSA_NPY_MAX_DIMS; shape entries >= 0. */
int lrsa_npy_write_f32(const char *path, int ndim, const int64_t *shape, const float *data,
                       lrsa_err *err);

/* Generic writer: `data` holds numel elements of `dtype` in this machine's byte order, laid out
 * in C order (fortran_order 0) or Fortran order (fortran_order 1); the header says so. */
int lrsa_npy_write(const char *path, lrsa_npy_dtype dtype, int fortran_order, int ndim,
                   const int64_t *shape, const void *data, lrsa_err *err);

/* Format the complete header (magic .. final '\n') numpy would write for this array into *out
 * (the caller frees it) and its length into *len. For writers that stream the data themselves:
 * write this, then exactly numel * itemsize bytes in this machine's byte order. */
int lrsa_npy_format_header(lrsa_npy_dtype dtype, int fortran_order, int ndim, const int64_t *shape,
                           char **out, size_t *len, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
