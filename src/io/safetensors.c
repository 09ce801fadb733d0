/* safetensors read (validated), float32 conversion and F32 write. See safetensors.h. */
#include "latentrsa/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ===== dtypes and conversions ================================================================= */

static const struct {
    const char *name;
    int size;
} st_dtypes[] = {
    [LRSA_ST_BOOL] = { "BOOL", 1 },       [LRSA_ST_U8] = { "U8", 1 },
    [LRSA_ST_I8] = { "I8", 1 },           [LRSA_ST_F8_E5M2] = { "F8_E5M2", 1 },
    [LRSA_ST_F8_E4M3] = { "F8_E4M3", 1 }, [LRSA_ST_I16] = { "I16", 2 },
    [LRSA_ST_U16] = { "U16", 2 },         [LRSA_ST_F16] = { "F16", 2 },
    [LRSA_ST_BF16] = { "BF16", 2 },       [LRSA_ST_I32] = { "I32", 4 },
    [LRSA_ST_U32] = { "U32", 4 },         [LRSA_ST_F32] = { "F32", 4 },
    [LRSA_ST_F64] = { "F64", 8 },         [LRSA_ST_I64] = { "I64", 8 },
    [LRSA_ST_U64] = { "U64", 8 },
};
#define ST_NDTYPES ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

const char *lrsa_st_dtype_name(lrsa_st_dtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < ST_NDTYPES ? st_dtypes[dtype].name : "unknown";
}

int lrsa_st_dtype_size(lrsa_st_dtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < ST_NDTYPES ? st_dtypes[dtype].size : 0;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float lrsa_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* infinity or NaN, payload kept */
        return bits_to_float(sign | 0x7f800000u | mant << 13);
    return bits_to_float(sign | (exp + 112) << 23 | mant << 13);
}

float lrsa_bf16_to_float(uint16_t h)
{
    return bits_to_float((uint32_t)h << 16);
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ===== parsing ================================================================================ */

void lrsa_st_close(lrsa_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->ntensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    if (st->base) {
        if (st->mapped)
            munmap(st->base, st->size);
        else
            free(st->base);
    }
    free(st->name);
    free(st);
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d))
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int cmp_offsets(const void *x, const void *y)
{
    const lrsa_st_tensor *a = x, *b = y;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int cmp_str_ptr(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int parse_tensor(const cJSON *item, lrsa_st_tensor *t, const char *name, lrsa_err *err)
{
    const char *tn = item->string;
    if (!cJSON_IsObject(item))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s' is not a JSON object", name, tn);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!dt || !sh || !of)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s' lacks '%s'", name, tn,
                         !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s': dtype is not a string", name, tn);
    int d;
    for (d = 0; d < ST_NDTYPES; d++)
        if (strcmp(dt->valuestring, st_dtypes[d].name) == 0)
            break;
    if (d == ST_NDTYPES)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s': unknown dtype '%s'", name, tn,
                         dt->valuestring);
    t->dtype = (lrsa_st_dtype)d;
    if (!cJSON_IsArray(sh))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s': shape is not a list", name, tn);
    int nd = cJSON_GetArraySize(sh);
    if (nd > LRSA_ST_MAX_DIMS)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': tensor '%s' has %d dimensions (at most %d)",
                         name, tn, nd, LRSA_ST_MAX_DIMS);
    t->ndim = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sh) {
        uint64_t v;
        if (json_uint(e, &v) != 0)
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s': shape holds a bad dimension",
                             name, tn);
        t->shape[t->ndim++] = (int64_t)v;
    }
    t->numel = lrsa_shape_numel(t->ndim, t->shape);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
        json_uint(cJSON_GetArrayItem(of, 0), &t->begin) != 0 ||
        json_uint(cJSON_GetArrayItem(of, 1), &t->end) != 0)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "'%s': tensor '%s': data_offsets must be two non-negative integers", name, tn);
    if (t->begin > t->end)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s': data_offsets [%llu, %llu] end before "
                         "they begin", name, tn, (unsigned long long)t->begin,
                         (unsigned long long)t->end);
    uint64_t size = (uint64_t)st_dtypes[d].size;
    if (t->numel < 0 || (uint64_t)t->numel > UINT64_MAX / size ||
        (uint64_t)t->numel * size != t->end - t->begin)
        return LRSA_FAIL(err, LRSA_EFORMAT,
                         "'%s': tensor '%s': %s shape of %lld elements needs %llu bytes, "
                         "data_offsets [%llu, %llu] hold %llu", name, tn, st_dtypes[d].name,
                         (long long)t->numel,
                         t->numel < 0 ? 0ull : (unsigned long long)((uint64_t)t->numel * size),
                         (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->end - t->begin));
    return LRSA_OK;
}

int lrsa_st_parse(const void *buf, size_t len, const char *name, lrsa_safetensors **out,
                  lrsa_err *err)
{
    const unsigned char *b = buf;
    lrsa_safetensors *st = NULL;
    cJSON *root = NULL;
    const char **names = NULL;
    int rc = LRSA_OK;
    *out = NULL;
    if (len < 8) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': truncated safetensors file (%zu bytes)", name, len);
        goto done;
    }
    uint64_t n = le64(b);
    if (n > LRSA_ST_MAX_HEADER) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header length %llu exceeds the limit of %u bytes",
                       name, (unsigned long long)n, LRSA_ST_MAX_HEADER);
        goto done;
    }
    if (n > len - 8) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT,
                       "'%s': header length %llu runs past the end of the file (%zu bytes)", name,
                       (unsigned long long)n, len);
        goto done;
    }
    const char *json = (const char *)b + 8;
    if (n == 0 || json[0] != '{') {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header does not start with '{'", name);
        goto done;
    }
    if (memchr(json, '\0', (size_t)n) || !valid_utf8((const unsigned char *)json, (size_t)n)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header is not valid UTF-8 text", name);
        goto done;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header is not a valid JSON object", name);
        goto done;
    }
    for (; end && end < json + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': trailing bytes after the JSON header", name);
            goto done;
        }
    st = lrsa_calloc(1, sizeof *st, "a safetensors file", err);
    if (!st || !(st->name = lrsa_strdup(name, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int nitems = cJSON_GetArraySize(root);
    st->tensors = lrsa_calloc((size_t)(nitems ? nitems : 1), sizeof *st->tensors, "tensor list", err);
    names = lrsa_calloc((size_t)(nitems ? nitems : 1), sizeof *names, "tensor names", err);
    if (!st->tensors || !names) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int nnames = 0, seen_meta = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (!item->string) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': malformed header", name);
            goto done;
        }
        names[nnames++] = item->string;
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++)
                continue; /* reported as a duplicate below */
            if (cJSON_IsNull(item))
                continue;
            if (!cJSON_IsObject(item)) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': __metadata__ is not a JSON object", name);
                goto done;
            }
            int nm = cJSON_GetArraySize(item);
            st->meta_keys = lrsa_calloc((size_t)(nm ? nm : 1), sizeof(char *), "metadata", err);
            st->meta_values = lrsa_calloc((size_t)(nm ? nm : 1), sizeof(char *), "metadata", err);
            if (!st->meta_keys || !st->meta_values) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) {
                if (!cJSON_IsString(kv)) {
                    rc = LRSA_FAIL(err, LRSA_EFORMAT,
                                   "'%s': __metadata__ value of '%s' is not a string", name,
                                   kv->string ? kv->string : "");
                    goto done;
                }
                for (int i = 0; i < st->nmeta; i++)
                    if (strcmp(st->meta_keys[i], kv->string) == 0) {
                        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': __metadata__ repeats key '%s'",
                                       name, kv->string);
                        goto done;
                    }
                st->meta_keys[st->nmeta] = lrsa_strdup(kv->string, err);
                st->meta_values[st->nmeta] = lrsa_strdup(kv->valuestring, err);
                st->nmeta++;
                if (!st->meta_keys[st->nmeta - 1] || !st->meta_values[st->nmeta - 1]) {
                    rc = LRSA_ENOMEM;
                    goto done;
                }
            }
            continue;
        }
        lrsa_st_tensor *t = &st->tensors[st->ntensors];
        if (!(t->name = lrsa_strdup(item->string, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        st->ntensors++;
        if ((rc = parse_tensor(item, t, name, err)))
            goto done;
    }
    /* Duplicate keys: cJSON keeps them all; the format (a JSON map) does not allow them. */
    qsort(names, (size_t)nnames, sizeof *names, cmp_str_ptr);
    for (int i = 1; i < nnames; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': header repeats the key '%s'", name, names[i]);
            goto done;
        }
    /* Sorted by offset, the tensors must tile the data area exactly. */
    st->data = b + 8 + n;
    st->data_len = (uint64_t)(len - 8 - n);
    qsort(st->tensors, (size_t)st->ntensors, sizeof *st->tensors, cmp_offsets);
    uint64_t pos = 0;
    for (int i = 0; i < st->ntensors; i++) {
        const lrsa_st_tensor *t = &st->tensors[i];
        if (t->begin != pos) {
            if (t->begin < pos)
                rc = LRSA_FAIL(err, LRSA_EFORMAT,
                               "'%s': tensor '%s' (bytes %llu..%llu) overlaps tensor '%s'", name,
                               t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                               st->tensors[i - 1].name);
            else
                rc = LRSA_FAIL(err, LRSA_EFORMAT,
                               "'%s': gap in the data area before tensor '%s' (bytes %llu..%llu "
                               "are not covered)", name, t->name, (unsigned long long)pos,
                               (unsigned long long)t->begin);
            goto done;
        }
        if (t->end > st->data_len) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT,
                           "'%s': tensor '%s' data_offsets end at %llu, past the data area "
                           "(%llu bytes; truncated file?)", name, t->name,
                           (unsigned long long)t->end, (unsigned long long)st->data_len);
            goto done;
        }
        pos = t->end;
    }
    if (pos != st->data_len) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT,
                       "'%s': the tensors cover %llu of the %llu bytes of the data area", name,
                       (unsigned long long)pos, (unsigned long long)st->data_len);
        goto done;
    }
    *out = st;
    st = NULL;
done:
    free(names);
    cJSON_Delete(root);
    lrsa_st_close(st);
    return rc;
}

int lrsa_st_open(const char *path, lrsa_safetensors **out, lrsa_err *err)
{
    int rc = LRSA_OK;
    int fd = -1;
    void *base = NULL;
    size_t size = 0;
    int mapped = 0;
    *out = NULL;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        rc = LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO, "cannot open '%s': %s",
                       path, strerror(errno));
        goto done;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot read '%s': %s", path,
                       S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
        goto done;
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            base = p;
            size = (size_t)sb.st_size;
            mapped = 1;
        }
    }
    if (!base) {
        char *data;
        if ((rc = lrsa_read_file(path, 0, &data, &size, err)))
            goto done;
        base = data;
    }
    if ((rc = lrsa_st_parse(base, size, path, out, err)))
        goto done;
    (*out)->base = base;
    (*out)->size = size;
    (*out)->mapped = mapped;
    base = NULL;
done:
    if (fd >= 0)
        close(fd);
    if (base) {
        if (mapped)
            munmap(base, size);
        else
            free(base);
    }
    return rc;
}

/* ===== access ================================================================================= */

const lrsa_st_tensor *lrsa_st_find(const lrsa_safetensors *st, const char *name)
{
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *lrsa_st_meta(const lrsa_safetensors *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

const void *lrsa_st_raw(const lrsa_safetensors *st, const lrsa_st_tensor *t)
{
    return st->data + t->begin;
}

static int convert(const lrsa_safetensors *st, const lrsa_st_tensor *t, float *dst, lrsa_err *err)
{
    const unsigned char *p = st->data + t->begin;
    int64_t n = t->numel;
    const uint16_t one = 1;
    int host_le = *(const unsigned char *)&one == 1;
    switch (t->dtype) {
    case LRSA_ST_F32:
        if (host_le) { /* the common case: one copy */
            if (n > 0)
                memcpy(dst, p, (size_t)n * 4);
            return LRSA_OK;
        }
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            dst[i] = bits_to_float(u);
        }
        return LRSA_OK;
    case LRSA_ST_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = lrsa_half_to_float(le16(p + 2 * i));
        return LRSA_OK;
    case LRSA_ST_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = lrsa_bf16_to_float(le16(p + 2 * i));
        return LRSA_OK;
    case LRSA_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = le64(p + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = (float)d;
        }
        return LRSA_OK;
    default:
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                         "'%s': tensor '%s' has dtype %s (F32, F16, BF16 or F64 expected)",
                         st->name, t->name, st_dtypes[t->dtype].name);
    }
}

int lrsa_st_get_f32(const lrsa_safetensors *st, const char *name, lrsa_tensor **out, lrsa_err *err)
{
    lrsa_tensor *t = NULL;
    int rc = LRSA_OK;
    *out = NULL;
    const lrsa_st_tensor *e = lrsa_st_find(st, name);
    if (!e) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no tensor '%s'", st->name, name);
        goto done;
    }
    t = lrsa_calloc(1, sizeof *t, "a tensor", err);
    if (!t) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    t->ndim = e->ndim;
    memcpy(t->shape, e->shape, sizeof e->shape);
    t->owns = 1;
    t->data = lrsa_calloc(e->numel > 0 ? (size_t)e->numel : 1, sizeof(float), "tensor data", err);
    if (!t->data) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = convert(st, e, t->data, err)))
        goto done;
    *out = t;
    t = NULL;
done:
    lrsa_tensor_free(t);
    return rc;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

int lrsa_st_read_into_f32(const lrsa_safetensors *st, const char *name, int ndim,
                          const int64_t *shape, float *dst, lrsa_err *err)
{
    const lrsa_st_tensor *e = lrsa_st_find(st, name);
    if (!e)
        return LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no tensor '%s'", st->name, name);
    int same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = e->shape[d] == shape[d];
    if (!same) {
        char want[160], have[160];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(have, sizeof have, e->ndim, e->shape);
        return LRSA_FAIL(err, LRSA_ESHAPE, "'%s': tensor '%s' has shape %s, expected %s", st->name,
                         name, have, want);
    }
    return convert(st, e, dst, err);
}

/* ===== writing ================================================================================ */

/* JSON string as serde_json writes it: escape '"', '\\' and control characters. */
static int json_str(lrsa_strbuf *sb, const char *s, lrsa_err *err)
{
    int rc = lrsa_strbuf_adds(sb, "\"", err);
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': rc = lrsa_strbuf_adds(sb, "\\\"", err); break;
        case '\\': rc = lrsa_strbuf_adds(sb, "\\\\", err); break;
        case '\n': rc = lrsa_strbuf_adds(sb, "\\n", err); break;
        case '\r': rc = lrsa_strbuf_adds(sb, "\\r", err); break;
        case '\t': rc = lrsa_strbuf_adds(sb, "\\t", err); break;
        case '\b': rc = lrsa_strbuf_adds(sb, "\\b", err); break;
        case '\f': rc = lrsa_strbuf_adds(sb, "\\f", err); break;
        default:
            if (c < 0x20)
                rc = lrsa_strbuf_addf(sb, err, "\\u%04x", c);
            else
                rc = lrsa_strbuf_add(sb, (const char *)&c, 1, err);
        }
    }
    return rc ? rc : lrsa_strbuf_adds(sb, "\"", err);
}

typedef struct order_item {
    const char *key;
    int idx;
} order_item;

static int cmp_order(const void *x, const void *y)
{
    return strcmp(((const order_item *)x)->key, ((const order_item *)y)->key);
}

int lrsa_st_write_f32(const char *path, const lrsa_st_entry *tensors, int ntensors,
                      const char *const *meta_kv, int nmeta, lrsa_err *err)
{
    lrsa_strbuf js = LRSA_STRBUF_INIT;
    lrsa_outfile of;
    order_item *tord = NULL, *mord = NULL;
    int rc = LRSA_OK;
    memset(&of, 0, sizeof of);
    if (ntensors < 0 || nmeta < 0 || (nmeta > 0 && !meta_kv) || (ntensors > 0 && !tensors)) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': bad arguments", path);
        goto done;
    }
    tord = lrsa_calloc((size_t)ntensors + 1, sizeof *tord, "tensor order", err);
    mord = lrsa_calloc((size_t)nmeta + 1, sizeof *mord, "metadata order", err);
    if (!tord || !mord) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int i = 0; i < ntensors; i++) {
        const lrsa_st_entry *e = &tensors[i];
        if (!e->name || !*e->name || strcmp(e->name, "__metadata__") == 0) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': invalid tensor name '%s'", path,
                           e->name ? e->name : "(null)");
            goto done;
        }
        if (e->ndim < 0 || e->ndim > LRSA_ST_MAX_DIMS || lrsa_shape_numel(e->ndim, e->shape) < 0 ||
            (lrsa_shape_numel(e->ndim, e->shape) > 0 && !e->data)) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': tensor '%s' has a bad shape or "
                           "no data", path, e->name);
            goto done;
        }
        tord[i].key = e->name;
        tord[i].idx = i;
    }
    for (int i = 0; i < nmeta; i++) {
        if (!meta_kv[2 * i] || !meta_kv[2 * i + 1]) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': NULL metadata entry", path);
            goto done;
        }
        mord[i].key = meta_kv[2 * i];
        mord[i].idx = i;
    }
    qsort(tord, (size_t)ntensors, sizeof *tord, cmp_order);
    qsort(mord, (size_t)nmeta, sizeof *mord, cmp_order);
    for (int i = 1; i < ntensors; i++)
        if (strcmp(tord[i - 1].key, tord[i].key) == 0) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': tensor name '%s' repeated", path,
                           tord[i].key);
            goto done;
        }
    for (int i = 1; i < nmeta; i++)
        if (strcmp(mord[i - 1].key, mord[i].key) == 0) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': metadata key '%s' repeated", path,
                           mord[i].key);
            goto done;
        }
    /* The header: {"__metadata__":{...},"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},..} */
    if ((rc = lrsa_strbuf_adds(&js, "{", err)))
        goto done;
    if (nmeta > 0) {
        if ((rc = lrsa_strbuf_adds(&js, "\"__metadata__\":{", err)))
            goto done;
        for (int i = 0; i < nmeta; i++) {
            int k = mord[i].idx;
            if ((i && (rc = lrsa_strbuf_adds(&js, ",", err))) ||
                (rc = json_str(&js, meta_kv[2 * k], err)) ||
                (rc = lrsa_strbuf_adds(&js, ":", err)) ||
                (rc = json_str(&js, meta_kv[2 * k + 1], err)))
                goto done;
        }
        if ((rc = lrsa_strbuf_adds(&js, "}", err)))
            goto done;
    }
    uint64_t off = 0;
    for (int i = 0; i < ntensors; i++) {
        const lrsa_st_entry *e = &tensors[tord[i].idx];
        uint64_t bytes = (uint64_t)lrsa_shape_numel(e->ndim, e->shape) * 4u;
        if (((i || nmeta) && (rc = lrsa_strbuf_adds(&js, ",", err))) ||
            (rc = json_str(&js, e->name, err)) ||
            (rc = lrsa_strbuf_adds(&js, ":{\"dtype\":\"F32\",\"shape\":[", err)))
            goto done;
        for (int d = 0; d < e->ndim; d++)
            if ((rc = lrsa_strbuf_addf(&js, err, "%s%lld", d ? "," : "", (long long)e->shape[d])))
                goto done;
        if ((rc = lrsa_strbuf_addf(&js, err, "],\"data_offsets\":[%llu,%llu]}",
                                   (unsigned long long)off, (unsigned long long)(off + bytes))))
            goto done;
        off += bytes;
    }
    if ((rc = lrsa_strbuf_adds(&js, "}", err)))
        goto done;
    while (js.len % 8)
        if ((rc = lrsa_strbuf_adds(&js, " ", err)))
            goto done;
    if (js.len > LRSA_ST_MAX_HEADER) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "cannot write '%s': header of %zu bytes is too large",
                       path, js.len);
        goto done;
    }
    if ((rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    unsigned char n8[8];
    for (int i = 0; i < 8; i++)
        n8[i] = (unsigned char)((uint64_t)js.len >> (8 * i));
    if (fwrite(n8, 1, 8, of.fp) != 8 || fwrite(js.buf, 1, js.len, of.fp) != js.len)
    {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    for (int i = 0; i < ntensors; i++) {
        const lrsa_st_entry *e = &tensors[tord[i].idx];
        int64_t n = lrsa_shape_numel(e->ndim, e->shape);
        unsigned char chunk[4096];
        int64_t k = 0;
        while (k < n) {
            int m = 0;
            for (; m < (int)sizeof chunk / 4 && k < n; m++, k++) {
                uint32_t u;
                memcpy(&u, &e->data[k], 4);
                chunk[4 * m] = (unsigned char)u;
                chunk[4 * m + 1] = (unsigned char)(u >> 8);
                chunk[4 * m + 2] = (unsigned char)(u >> 16);
                chunk[4 * m + 3] = (unsigned char)(u >> 24);
            }
            if (fwrite(chunk, 4, (size_t)m, of.fp) != (size_t)m) {
                rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
                goto done;
            }
        }
    }
    rc = lrsa_outfile_commit(&of, err);
done:
    lrsa_outfile_abort(&of);
    lrsa_strbuf_release(&js);
    free(tord);
    free(mord);
    return rc;
}
