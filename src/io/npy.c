/* NumPy .npy read (copying and memory-mapped), header parsing and atomic writing. See npy.h. */
#include "latentrsa/npy.h"
#include "latentrsa/safetensors.h" /* lrsa_half_to_float */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64           /* numpy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21   /* numpy's GROWTH_AXIS_MAX_DIGITS */

/* ===== dtypes ================================================================================= */

static const struct {
    char kind;      /* numpy kind letter: b i u f */
    int size;
    const char *name;
} dtype_info[] = {
    [LRSA_NPY_BOOL] = { 'b', 1, "bool" },
    [LRSA_NPY_I8] = { 'i', 1, "int8" },     [LRSA_NPY_I16] = { 'i', 2, "int16" },
    [LRSA_NPY_I32] = { 'i', 4, "int32" },   [LRSA_NPY_I64] = { 'i', 8, "int64" },
    [LRSA_NPY_U8] = { 'u', 1, "uint8" },    [LRSA_NPY_U16] = { 'u', 2, "uint16" },
    [LRSA_NPY_U32] = { 'u', 4, "uint32" },  [LRSA_NPY_U64] = { 'u', 8, "uint64" },
    [LRSA_NPY_F16] = { 'f', 2, "float16" }, [LRSA_NPY_F32] = { 'f', 4, "float32" },
    [LRSA_NPY_F64] = { 'f', 8, "float64" },
};
#define NDTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

static int dtype_valid(lrsa_npy_dtype d)
{
    return (int)d >= 0 && (int)d < NDTYPES;
}

int lrsa_npy_dtype_size(lrsa_npy_dtype dtype)
{
    return dtype_valid(dtype) ? dtype_info[dtype].size : 0;
}

const char *lrsa_npy_dtype_name(lrsa_npy_dtype dtype)
{
    return dtype_valid(dtype) ? dtype_info[dtype].name : "unknown";
}

static int host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* ===== header parsing ========================================================================= */

/* A cursor over the header dict text. */
typedef struct hcur {
    const char *p, *end;
} hcur;

static void skip_ws(hcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(hcur *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "..."), no escapes (numpy never writes any). Copies into buf. */
static int parse_str(hcur *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n' || n + 1 >= cap)
            return -1;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

/* A non-negative decimal integer (an optional Python 2 'L' suffix is accepted). */
static int parse_dim(hcur *c, int64_t *out)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return -1;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
        c->p++;
    *out = v;
    return 0;
}

static int parse_descr(const char *s, lrsa_npy_header *hdr, const char *name, lrsa_err *err)
{
    char order = s[0];
    if (strcmp(s, "|O") == 0 || strcmp(s, "O") == 0)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                         "'%s': object arrays ('%s') are not supported (they need pickle)", name, s);
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': unsupported dtype '%s'", name, s);
    char kind = s[1];
    int size = 0;
    if (s[1] && s[2] >= '1' && s[2] <= '9' && s[3] == '\0')
        size = s[2] - '0';
    for (int d = 0; d < NDTYPES; d++) {
        if (dtype_info[d].kind == kind && dtype_info[d].size == size) {
            if (order == '|' && size != 1)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': dtype '%s' needs a byte order", name, s);
            hdr->dtype = (lrsa_npy_dtype)d;
            hdr->itemsize = size;
            hdr->big_endian = size > 1 && (order == '>' || (order == '=' && host_big_endian()));
            return LRSA_OK;
        }
    }
    return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                     "'%s': unsupported dtype '%s' (supported: bool, int8..int64, uint8..uint64, "
                     "float16, float32, float64)", name, s);
}

static int parse_dict(const char *text, size_t n, const char *name, lrsa_npy_header *hdr,
                      lrsa_err *err)
{
    hcur c = { text, text + n };
    int have_descr = 0, have_order = 0, have_shape = 0;
    char key[32], val[64];
    int rc;
    if (!accept(&c, '{'))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header is not a dict", name);
    for (;;) {
        if (accept(&c, '}'))
            break;
        if (parse_str(&c, key, sizeof key) != 0)
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed header dict key", name);
        if (!accept(&c, ':'))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed header: ':' expected after '%s'",
                             name, key);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header repeats 'descr'", name);
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                                 "'%s': structured dtypes are not supported", name);
            if (parse_str(&c, val, sizeof val) != 0)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed 'descr' in header", name);
            if ((rc = parse_descr(val, hdr, name, err)))
                return rc;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order++)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header repeats 'fortran_order'", name);
            skip_ws(&c);
            if ((size_t)(c.end - c.p) >= 4 && memcmp(c.p, "True", 4) == 0) {
                hdr->fortran_order = 1;
                c.p += 4;
            } else if ((size_t)(c.end - c.p) >= 5 && memcmp(c.p, "False", 5) == 0) {
                hdr->fortran_order = 0;
                c.p += 5;
            } else {
                return LRSA_FAIL(err, LRSA_EFORMAT,
                                 "'%s': 'fortran_order' in header must be True or False", name);
            }
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header repeats 'shape'", name);
            if (!accept(&c, '('))
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': 'shape' in header is not a tuple", name);
            hdr->ndim = 0;
            int comma = 0;
            for (;;) {
                if (accept(&c, ')'))
                    break;
                if (hdr->ndim >= LRSA_NPY_MAX_DIMS)
                    return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': more than %d dimensions", name,
                                     LRSA_NPY_MAX_DIMS);
                if (parse_dim(&c, &hdr->shape[hdr->ndim]) != 0)
                    return LRSA_FAIL(err, LRSA_EFORMAT,
                                     "'%s': 'shape' in header holds a bad dimension", name);
                hdr->ndim++;
                comma = accept(&c, ',');
                if (comma)
                    continue;
                if (accept(&c, ')'))
                    break;
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed 'shape' in header", name);
            }
            /* A 1-tuple is written "(n,)": "(n)" is just an int in Python, not a shape. */
            if (hdr->ndim == 1 && !comma)
                return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': 'shape' in header is not a tuple", name);
        } else {
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': unexpected key '%s' in header", name, key);
        }
        if (accept(&c, ','))
            continue;
        if (accept(&c, '}'))
            break;
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed header dict", name);
    }
    if (!have_descr || !have_order || !have_shape)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header lacks '%s'", name,
                         !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    skip_ws(&c);
    if (c.p != c.end)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': unexpected bytes after the header dict", name);
    return LRSA_OK;
}

int lrsa_npy_parse_header(const void *buf, size_t len, int64_t file_size, const char *name,
                          lrsa_npy_header *hdr, lrsa_err *err)
{
    const unsigned char *b = buf;
    memset(hdr, 0, sizeof *hdr);
    if (file_size < 0)
        file_size = (int64_t)len;
    if ((int64_t)len > file_size)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': buffer longer than the file", name);
    size_t nmagic = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    if (memcmp(b, NPY_MAGIC, nmagic) != 0)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a .npy file (bad magic)", name);
    if (len < NPY_MAGIC_LEN + 2)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': truncated .npy file (%zu bytes)", name, len);
    hdr->version_major = b[6];
    hdr->version_minor = b[7];
    if (hdr->version_major < 1 || hdr->version_major > 3 || hdr->version_minor != 0)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': unsupported .npy version %d.%d", name,
                         hdr->version_major, hdr->version_minor);
    size_t lenfield = hdr->version_major == 1 ? 2 : 4;
    if (len < 8 + lenfield)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': truncated .npy header", name);
    uint64_t hlen = b[8] | (uint64_t)b[9] << 8;
    if (lenfield == 4)
        hlen |= (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
    if (hlen > LRSA_NPY_MAX_HEADER)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header length %llu exceeds the limit of %u bytes",
                         name, (unsigned long long)hlen, LRSA_NPY_MAX_HEADER);
    size_t off = 8 + lenfield + (size_t)hlen;
    if ((int64_t)off > file_size)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "'%s': header length %llu runs past the end of the file (%lld bytes)",
                         name, (unsigned long long)hlen, (long long)file_size);
    if (off > len)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': buffer does not hold the whole header", name);
    const char *text = (const char *)b + 8 + lenfield;
    if (memchr(text, '\0', (size_t)hlen))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': NUL byte in the header", name);
    int rc = parse_dict(text, (size_t)hlen, name, hdr, err);
    if (rc)
        return rc;
    hdr->numel = lrsa_shape_numel(hdr->ndim, hdr->shape);
    uint64_t avail = (uint64_t)(file_size - (int64_t)off);
    if (hdr->numel < 0 || (uint64_t)hdr->numel > UINT64_MAX / (uint64_t)hdr->itemsize ||
        (uint64_t)hdr->numel * (uint64_t)hdr->itemsize > (uint64_t)SIZE_MAX)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': shape is too large", name);
    uint64_t need = (uint64_t)hdr->numel * (uint64_t)hdr->itemsize;
    if (need > avail)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "'%s': truncated file: the shape needs %llu data bytes, %llu present", name,
                         (unsigned long long)need, (unsigned long long)avail);
    if (need < avail)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "'%s': %llu bytes of trailing data after the array (shape needs %llu)", name,
                         (unsigned long long)(avail - need), (unsigned long long)need);
    hdr->data_offset = off;
    hdr->data_bytes = (size_t)need;
    return LRSA_OK;
}

/* ===== decoding =============================================================================== */

static void load_bytes(const unsigned char *p, int n, int swap, unsigned char *out)
{
    if (swap)
        for (int i = 0; i < n; i++)
            out[i] = p[n - 1 - i];
    else
        memcpy(out, p, (size_t)n);
}

/* One stored element as double (exact for all but int64/uint64 beyond 2^53). */
static double load_elem(const unsigned char *p, lrsa_npy_dtype dt, int swap)
{
    unsigned char b[8];
    load_bytes(p, dtype_info[dt].size, swap, b);
    switch (dt) {
    case LRSA_NPY_BOOL: return b[0] != 0;
    case LRSA_NPY_I8: { int8_t v; memcpy(&v, b, 1); return v; }
    case LRSA_NPY_I16: { int16_t v; memcpy(&v, b, 2); return v; }
    case LRSA_NPY_I32: { int32_t v; memcpy(&v, b, 4); return v; }
    case LRSA_NPY_I64: { int64_t v; memcpy(&v, b, 8); return (double)v; }
    case LRSA_NPY_U8: return b[0];
    case LRSA_NPY_U16: { uint16_t v; memcpy(&v, b, 2); return v; }
    case LRSA_NPY_U32: { uint32_t v; memcpy(&v, b, 4); return v; }
    case LRSA_NPY_U64: { uint64_t v; memcpy(&v, b, 8); return (double)v; }
    case LRSA_NPY_F16: { uint16_t v; memcpy(&v, b, 2); return lrsa_half_to_float(v); }
    case LRSA_NPY_F32: { float v; memcpy(&v, b, 4); return v; }
    case LRSA_NPY_F64: { double v; memcpy(&v, b, 8); return v; }
    }
    return 0;
}

/* Element i of the C-order output sits at storage index src_index(i): identity for C order; for
 * Fortran order we walk the C-order multi-index and keep the Fortran offset alongside. */
#define DECODE_BODY(T)                                                                          \
    do {                                                                                        \
        const unsigned char *src = data;                                                        \
        int sz = hdr->itemsize, swap = hdr->big_endian != host_big_endian();                    \
        int64_t n = hdr->numel;                                                                 \
        if (n <= 0)                                                                             \
            return;                                                                             \
        if (!hdr->fortran_order || hdr->ndim < 2) {                                             \
            for (int64_t i = 0; i < n; i++)                                                     \
                out[i] = (T)load_elem(src + (size_t)i * (size_t)sz, hdr->dtype, swap);          \
            return;                                                                             \
        }                                                                                       \
        int nd = hdr->ndim;                                                                     \
        int64_t idx[LRSA_NPY_MAX_DIMS] = { 0 }, fstride[LRSA_NPY_MAX_DIMS];                     \
        fstride[0] = 1;                                                                         \
        for (int d = 1; d < nd; d++)                                                            \
            fstride[d] = fstride[d - 1] * hdr->shape[d - 1];                                    \
        int64_t foff = 0;                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                       \
            out[i] = (T)load_elem(src + (size_t)foff * (size_t)sz, hdr->dtype, swap);           \
            for (int d = nd - 1; d >= 0; d--) {                                                 \
                idx[d]++;                                                                       \
                foff += fstride[d];                                                             \
                if (idx[d] < hdr->shape[d])                                                     \
                    break;                                                                      \
                foff -= fstride[d] * idx[d];                                                    \
                idx[d] = 0;                                                                     \
            }                                                                                   \
        }                                                                                       \
    } while (0)

void lrsa_npy_decode_f32(const lrsa_npy_header *hdr, const void *data, float *out)
{
    /* The common case, little-endian float32 in C order on a little-endian machine: one copy. */
    if (hdr->dtype == LRSA_NPY_F32 && hdr->big_endian == host_big_endian() &&
        (!hdr->fortran_order || hdr->ndim < 2)) {
        if (hdr->data_bytes)
            memcpy(out, data, hdr->data_bytes);
        return;
    }
    if (hdr->dtype == LRSA_NPY_F64 && hdr->big_endian == host_big_endian() &&
        (!hdr->fortran_order || hdr->ndim < 2)) {
        const unsigned char *src = data;
        for (int64_t i = 0; i < hdr->numel; i++) {
            double v;
            memcpy(&v, src + 8 * (size_t)i, sizeof v);
            out[i] = (float)v;
        }
        return;
    }
    DECODE_BODY(float);
}

void lrsa_npy_decode_f64(const lrsa_npy_header *hdr, const void *data, double *out)
{
    if (hdr->dtype == LRSA_NPY_F64 && hdr->big_endian == host_big_endian() &&
        (!hdr->fortran_order || hdr->ndim < 2)) {
        if (hdr->data_bytes)
            memcpy(out, data, hdr->data_bytes);
        return;
    }
    DECODE_BODY(double);
}

/* ===== mapping and reading ==================================================================== */

void lrsa_npy_unmap(lrsa_npy_mapping *m)
{
    if (!m)
        return;
    if (m->base) {
        if (m->mapped)
            munmap(m->base, m->size);
        else
            free(m->base);
    }
    free(m->path);
    free(m);
}

int lrsa_npy_map(const char *path, lrsa_npy_mapping **out, lrsa_err *err)
{
    int rc = LRSA_OK;
    int fd = -1;
    lrsa_npy_mapping *m = NULL;
    *out = NULL;
    m = lrsa_calloc(1, sizeof *m, "a .npy map", err);
    if (!m)
        return LRSA_ENOMEM;
    if (!(m->path = lrsa_strdup(path, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        rc = LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO, "cannot open '%s': %s",
                       path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot read '%s': is a directory", path);
        goto done;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            m->base = p;
            m->size = (size_t)st.st_size;
            m->mapped = 1;
        }
    }
    if (!m->base) {
        /* Empty files, pipes and file systems without mmap: read it all. */
        char *buf;
        size_t n;
        if ((rc = lrsa_read_file(path, 0, &buf, &n, err)))
            goto done;
        m->base = buf;
        m->size = n;
    }
    if ((rc = lrsa_npy_parse_header(m->base, m->size, (int64_t)m->size, path, &m->hdr, err)))
        goto done;
    m->data = (const unsigned char *)m->base + m->hdr.data_offset;
    *out = m;
    m = NULL;
done:
    if (fd >= 0)
        close(fd);
    lrsa_npy_unmap(m);
    return rc;
}

int lrsa_npy_read_f32(const char *path, lrsa_tensor **out, lrsa_err *err)
{
    lrsa_npy_mapping *m = NULL;
    lrsa_tensor *t = NULL;
    *out = NULL;
    int rc = lrsa_npy_map(path, &m, err);
    if (rc)
        goto done;
    /* The tensor is at least one float, so 0-d and empty arrays get a valid pointer. */
    t = lrsa_calloc(1, sizeof *t, "a tensor", err);
    if (!t) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    t->ndim = m->hdr.ndim;
    for (int d = 0; d < t->ndim; d++)
        t->shape[d] = m->hdr.shape[d];
    t->owns = 1;
    t->data = lrsa_calloc(m->hdr.numel > 0 ? (size_t)m->hdr.numel : 1, sizeof(float),
                          "tensor data", err);
    if (!t->data) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "'%s': out of memory for %lld elements", path,
                       (long long)m->hdr.numel);
        goto done;
    }
    lrsa_npy_decode_f32(&m->hdr, m->data, t->data);
    *out = t;
    t = NULL;
done:
    lrsa_tensor_free(t);
    lrsa_npy_unmap(m);
    return rc;
}

/* ===== writing ================================================================================ */

int lrsa_npy_format_header(lrsa_npy_dtype dtype, int fortran_order, int ndim, const int64_t *shape,
                           char **out, size_t *len, lrsa_err *err)
{
    lrsa_strbuf dict = LRSA_STRBUF_INIT, file = LRSA_STRBUF_INIT;
    int rc = LRSA_OK;
    *out = NULL;
    *len = 0;
    if (!dtype_valid(dtype)) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "npy: invalid dtype %d", (int)dtype);
        goto done;
    }
    if (ndim < 0 || ndim > LRSA_NPY_MAX_DIMS || lrsa_shape_numel(ndim, shape) < 0) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "npy: invalid shape (rank %d)", ndim);
        goto done;
    }
    int size = dtype_info[dtype].size;
    char order = size == 1 ? '|' : host_big_endian() ? '>' : '<';
    /* Keys sorted as numpy does: descr, fortran_order, shape. */
    if ((rc = lrsa_strbuf_addf(&dict, err, "{'descr': '%c%c%d', 'fortran_order': %s, 'shape': (",
                               order, dtype_info[dtype].kind, size,
                               fortran_order ? "True" : "False")))
        goto done;
    for (int d = 0; d < ndim; d++)
        if ((rc = lrsa_strbuf_addf(&dict, err, "%s%lld", d ? ", " : "", (long long)shape[d])))
            goto done;
    if ((rc = lrsa_strbuf_adds(&dict, ndim == 1 ? ",), }" : "), }", err)))
        goto done;
    if (ndim > 0) {
        char digits[32];
        int nd = snprintf(digits, sizeof digits, "%lld",
                          (long long)shape[fortran_order ? ndim - 1 : 0]);
        for (int i = nd; i < NPY_GROWTH_DIGITS; i++)
            if ((rc = lrsa_strbuf_adds(&dict, " ", err)))
                goto done;
    }
    size_t hlen = dict.len + 1; /* + '\n' */
    int major = 1;
    size_t prefix = NPY_MAGIC_LEN + 2 + 2;
    size_t pad = NPY_ALIGN - (prefix + hlen) % NPY_ALIGN;
    if (hlen + pad > 65535) {
        major = 2;
        prefix = NPY_MAGIC_LEN + 2 + 4;
        pad = NPY_ALIGN - (prefix + hlen) % NPY_ALIGN;
    }
    uint32_t total = (uint32_t)(hlen + pad);
    unsigned char pre[12] = { 0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0,
                              (unsigned char)(total & 0xff), (unsigned char)(total >> 8 & 0xff),
                              (unsigned char)(total >> 16 & 0xff), (unsigned char)(total >> 24) };
    if ((rc = lrsa_strbuf_add(&file, (const char *)pre, prefix, err)) ||
        (rc = lrsa_strbuf_add(&file, dict.buf, dict.len, err)))
        goto done;
    for (size_t i = 0; i < pad; i++)
        if ((rc = lrsa_strbuf_adds(&file, " ", err)))
            goto done;
    if ((rc = lrsa_strbuf_adds(&file, "\n", err)))
        goto done;
    *len = file.len;
    *out = file.buf;
    file.buf = NULL;
done:
    lrsa_strbuf_release(&dict);
    lrsa_strbuf_release(&file);
    return rc;
}

int lrsa_npy_write(const char *path, lrsa_npy_dtype dtype, int fortran_order, int ndim,
                   const int64_t *shape, const void *data, lrsa_err *err)
{
    lrsa_outfile of;
    char *head = NULL;
    size_t hlen;
    int rc;
    memset(&of, 0, sizeof of);
    if ((rc = lrsa_npy_format_header(dtype, fortran_order, ndim, shape, &head, &hlen, err))) {
        lrsa_err_prefix(err, "cannot write '%s'", path);
        goto done;
    }
    size_t bytes;
    if (lrsa_mul_size((size_t)lrsa_shape_numel(ndim, shape), (size_t)dtype_info[dtype].size,
                      &bytes) != 0) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': array too large", path);
        goto done;
    }
    if (bytes && !data) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': no data", path);
        goto done;
    }
    if ((rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    if (fwrite(head, 1, hlen, of.fp) != hlen || (bytes && fwrite(data, 1, bytes, of.fp) != bytes)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    rc = lrsa_outfile_commit(&of, err);
done:
    lrsa_outfile_abort(&of);
    free(head);
    return rc;
}

int lrsa_npy_write_f32(const char *path, int ndim, const int64_t *shape, const float *data,
                       lrsa_err *err)
{
    return lrsa_npy_write(path, LRSA_NPY_F32, 0, ndim, shape, data, err);
}
