/*
 * latentrsa core: result codes, errors, logging and progress hooks, allocation,
 * a seeded RNG, an N-d float tensor, a growable string buffer, and atomic file output.
 *
 * Conventions every module follows:
 *  - A fallible function returns int: LRSA_OK (0) or one of the codes below.
 *  - Its last parameter is `lrsa_err *err`. On failure the function fills it (code, a one-line
 *    message that names the file and the problem, and the source line that raised it). On success
 *    it leaves `err` untouched. `err` may be NULL when the caller does not want the text.
 *  - The library never prints, never calls exit() or abort(). Messages go through the optional
 *    log hook in lrsa_ctx; only src/cli/ writes to stdout/stderr.
 *  - Sizes and element counts are int64_t or size_t.
 *  - Whoever allocates frees; every *_free() and *_release() accepts NULL.
 */
#ifndef LATENTRSA_CORE_H
#define LATENTRSA_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LRSA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LRSA_PRINTF(f, a)
#endif

/* ===== Result codes (closed list) ====================================== */
enum lrsa_result {
    LRSA_OK = 0,
    LRSA_ENOMEM = 1,      /* an allocation failed */
    LRSA_EIO = 2,         /* a file could not be opened, read or written */
    LRSA_EFORMAT = 3,     /* input data is corrupt, malformed or violates its format */
    LRSA_EUNSUPPORTED = 4,/* input is valid but uses a feature we do not support */
    LRSA_ESHAPE = 5,      /* shapes, sizes or labels of inputs do not agree */
    LRSA_EMISUSE = 6,     /* the library was called incorrectly (a bug in the caller) */
    LRSA_ENOTFOUND = 7,   /* a required file or item does not exist */
    LRSA_EEMPTY = 8       /* the input holds nothing to work on */
};

/* Short name of a result code ("ok", "out of memory", ...). Never NULL. */
const char *lrsa_result_name(int code);

/* ===== Errors ========================================================== */
#define LRSA_ERR_MSG_MAX 1024
typedef struct lrsa_err {
    int code;                      /* LRSA_OK when nothing failed */
    char msg[LRSA_ERR_MSG_MAX];    /* one line, no trailing newline or full stop */
    const char *src_file;          /* where in our source it was raised */
    int src_line;
} lrsa_err;

void lrsa_err_init(lrsa_err *err);
/* Fill err (if not NULL) and return code. Use through LRSA_FAIL so the source line is kept. */
int lrsa__err_set(lrsa_err *err, int code, const char *src_file, int src_line,
                  const char *fmt, ...) LRSA_PRINTF(5, 6);
#define LRSA_FAIL(err, code, ...) lrsa__err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)
/* Prefix an existing message with "<prefix>: " (e.g. to add a file name); returns err->code. */
int lrsa_err_prefix(lrsa_err *err, const char *fmt, ...) LRSA_PRINTF(2, 3);

/* ===== Context: logging and progress hooks ============================= */
enum lrsa_log_level { LRSA_LOG_ERROR = 0, LRSA_LOG_WARN = 1, LRSA_LOG_INFO = 2, LRSA_LOG_DEBUG = 3 };

typedef void (*lrsa_log_fn)(void *ud, int level, const char *msg);
/* Progress: called with done/total units; total 0 means unknown. label is a short stage name. */
typedef void (*lrsa_progress_fn)(void *ud, const char *label, int64_t done, int64_t total);

typedef struct lrsa_ctx {
    lrsa_log_fn log;               /* NULL: messages are dropped */
    void *log_ud;
    int log_level;                 /* messages above this level are not even formatted */
    lrsa_progress_fn progress;     /* NULL: no progress */
    void *progress_ud;
    int threads;                   /* 0: library default (OpenMP's) */
} lrsa_ctx;

/* Threads to use: ctx->threads if set, else OpenMP's default (omp_get_max_threads()). */
int lrsa_threads(const lrsa_ctx *ctx);
/* A context that logs nothing. */
void lrsa_ctx_init(lrsa_ctx *ctx);
/* Log through ctx (ctx may be NULL). The level is tested before formatting. */
void lrsa_log(const lrsa_ctx *ctx, int level, const char *fmt, ...) LRSA_PRINTF(3, 4);
#define lrsa_warn(ctx, ...) lrsa_log((ctx), LRSA_LOG_WARN, __VA_ARGS__)
#define lrsa_info(ctx, ...) lrsa_log((ctx), LRSA_LOG_INFO, __VA_ARGS__)
#define lrsa_debug(ctx, ...) lrsa_log((ctx), LRSA_LOG_DEBUG, __VA_ARGS__)
void lrsa_progress(const lrsa_ctx *ctx, const char *label, int64_t done, int64_t total);

/* ===== Allocation ====================================================== */
/* malloc/calloc/realloc that fill err with LRSA_ENOMEM (naming `what`) on failure and check
 * n*size for overflow. Free with free(). */
void *lrsa_malloc(size_t size, const char *what, lrsa_err *err);
void *lrsa_calloc(size_t n, size_t size, const char *what, lrsa_err *err);
void *lrsa_realloc(void *p, size_t size, const char *what, lrsa_err *err);
char *lrsa_strdup(const char *s, lrsa_err *err);
/* a*b without overflow: returns 0 and sets *out, or -1 on overflow. */
int lrsa_mul_size(size_t a, size_t b, size_t *out);

/* ===== Random numbers ================================================== */
/* xoshiro256** seeded through splitmix64: the same seed gives the same stream on every platform. */
typedef struct lrsa_rng {
    uint64_t s[4];
    int has_spare;                 /* cached second normal deviate */
    double spare;
} lrsa_rng;

void lrsa_rng_seed(lrsa_rng *rng, uint64_t seed);
uint64_t lrsa_rng_u64(lrsa_rng *rng);
double lrsa_rng_uniform(lrsa_rng *rng);            /* [0, 1), 53 random bits */
uint64_t lrsa_rng_below(lrsa_rng *rng, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
double lrsa_rng_normal(lrsa_rng *rng);             /* standard normal (polar Box-Muller) */

/* ===== Tensors ========================================================= */
#define LRSA_TENSOR_MAX_DIMS 8
/* A dense, C-order (row-major) float32 tensor. `owns` says whether lrsa_tensor_free frees data.
 * A matrix is a tensor with ndim == 2: shape[0] rows, shape[1] columns. */
typedef struct lrsa_tensor {
    float *data;
    int ndim;
    int64_t shape[LRSA_TENSOR_MAX_DIMS];
    int owns;
} lrsa_tensor;

/* Allocate a zeroed tensor. Returns NULL (err filled) on a bad shape or out of memory. */
lrsa_tensor *lrsa_tensor_new(int ndim, const int64_t *shape, lrsa_err *err);
lrsa_tensor *lrsa_matrix_new(int64_t rows, int64_t cols, lrsa_err *err);
/* Wrap caller memory without taking ownership. */
lrsa_tensor *lrsa_tensor_wrap(float *data, int ndim, const int64_t *shape, lrsa_err *err);
void lrsa_tensor_free(lrsa_tensor *t);
int64_t lrsa_tensor_numel(const lrsa_tensor *t);
/* Element count of a shape; -1 if it is negative or overflows int64. */
int64_t lrsa_shape_numel(int ndim, const int64_t *shape);

/* ===== String buffer =================================================== */
/* A growable NUL-terminated string. Initialise with LRSA_STRBUF_INIT or lrsa_strbuf_init.
 * Invariant: buf is never NULL after a successful append; len excludes the NUL. */
typedef struct lrsa_strbuf {
    char *buf;
    size_t len;
    size_t cap;
} lrsa_strbuf;
#define LRSA_STRBUF_INIT { NULL, 0, 0 }
void lrsa_strbuf_init(lrsa_strbuf *sb);
void lrsa_strbuf_release(lrsa_strbuf *sb);
void lrsa_strbuf_reset(lrsa_strbuf *sb);  /* len = 0, keeps the memory */
int lrsa_strbuf_add(lrsa_strbuf *sb, const char *s, size_t n, lrsa_err *err);
int lrsa_strbuf_adds(lrsa_strbuf *sb, const char *s, lrsa_err *err);
int lrsa_strbuf_addf(lrsa_strbuf *sb, lrsa_err *err, const char *fmt, ...) LRSA_PRINTF(3, 4);
/* Detach the string; the caller frees it. Returns "" (allocated) for an empty buffer. */
char *lrsa_strbuf_detach(lrsa_strbuf *sb, lrsa_err *err);

/* ===== CPU features ==================================================== */
/* 1 when the CPU runs AVX2 (and FMA) code; probed once per process; 0 on other architectures.
 * Kernels built with __attribute__((target(...))) are chosen with these at run time. */
int lrsa_cpu_avx2(void);
int lrsa_cpu_avx2_fma(void);

/* ===== Files =========================================================== */
/* Output that appears under its final name only when complete: data is written to a temporary
 * file in the same directory, and lrsa_outfile_commit renames it into place. An aborted or
 * failed outfile removes the temporary, so no half-written file is ever left behind. */
typedef struct lrsa_outfile {
    FILE *fp;
    char *path;                    /* final name */
    char *tmp_path;                /* temporary name beside it */
    char *iobuf;                   /* fp's buffer (NULL: stdio's own) */
} lrsa_outfile;

int lrsa_outfile_open(lrsa_outfile *of, const char *path, lrsa_err *err);
/* Flush, check for write errors, close and rename. On failure the temporary is removed. */
int lrsa_outfile_commit(lrsa_outfile *of, lrsa_err *err);
/* Close and remove the temporary. Safe to call after commit or on a zeroed struct. */
void lrsa_outfile_abort(lrsa_outfile *of);

/* Read a whole file into memory (NUL-terminated for convenience; *len excludes it).
 * max_bytes guards against huge inputs (0: no limit). */
int lrsa_read_file(const char *path, size_t max_bytes, char **data, size_t *len, lrsa_err *err);
/* 1 if path exists and is a regular file / directory. */
int lrsa_is_file(const char *path);
int lrsa_is_dir(const char *path);
/* Create a directory and its parents (like mkdir -p). */
int lrsa_mkdir_p(const char *path, lrsa_err *err);
/* Join two path parts with one '/'; the caller frees the result. NULL on out of memory. */
char *lrsa_path_join(const char *a, const char *b, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
