/*
 * NIfTI-1/-2 reading and writing. The only file that includes nifticlib (libnifti2).
 *
 * Reading goes in two steps. First our own pre-validator (check_header) parses the 348- or
 * 540-byte header with explicit byte offsets (either byte order), checks dims, datatype,
 * vox_offset, the extension chain and the file size, and fills an lrsa_nifti_header. Only a file
 * that passes is handed to nifticlib, which reads the voxels (nifti_image_read_bricks: many
 * volumes in one forward pass); its return values are checked and turned into lrsa_err.
 *
 * Writing does not use nifticlib's writer (it returns void and cannot report a failed write):
 * nifticlib builds the 348-byte header (nifti_convert_nim2n1hdr, qform from
 * nifti_dmat44_to_quatern) and we write header + 4 extender bytes + voxels through zlib or stdio
 * to a temporary name with the same extension, then rename it into place.
 *
 * nifticlib's only mutable global is its option block; we only ever set its debug level to 0
 * (silent) before each call, which is idempotent and the same value from every thread.
 */
#include "latentrsa/nifti.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nifti2_io.h>

/* ===== Datatypes ======================================================= */
typedef struct dtype_info {
    int code;
    const char *name;   /* nibabel's name */
    int nbyper;
    int readable;       /* 1: we convert it to float */
} dtype_info;

static const dtype_info dtypes[] = {
    { 1, "binary", 0, 0 },
    { 2, "uint8", 1, 1 },
    { 4, "int16", 2, 1 },
    { 8, "int32", 4, 1 },
    { 16, "float32", 4, 1 },
    { 32, "complex64", 8, 0 },
    { 64, "float64", 8, 1 },
    { 128, "RGB", 3, 0 },
    { 256, "int8", 1, 1 },
    { 512, "uint16", 2, 1 },
    { 768, "uint32", 4, 1 },
    { 1024, "int64", 8, 1 },
    { 1280, "uint64", 8, 1 },
#if LDBL_MANT_DIG == 64
    { 1536, "float128", 16, 1 },   /* x87 80-bit extended in 16 bytes, as numpy's float128 */
#else
    { 1536, "float128", 16, 0 },
#endif
    { 1792, "complex128", 16, 0 },
    { 2048, "complex256", 32, 0 },
    { 2304, "RGBA", 4, 0 },
};

static const dtype_info *find_dtype(int code)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].code == code)
            return &dtypes[i];
    return NULL;
}

const char *lrsa_nifti_datatype_name(int datatype)
{
    const dtype_info *d = find_dtype(datatype);
    return d ? d->name : "unknown";
}

/* zlib's gzerror() text starts with the path; drop it, our messages name the file already. */
static const char *gz_msg(gzFile gz, const char *path)
{
    int zerr;
    const char *msg = gzerror(gz, &zerr);
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2;
    return msg;
}

static void quiet_nifti(void)
{
    nifti_set_debug_level(0);
}

/* ===== Byte-level header parsing ======================================= */
/* Reads fields at byte offsets: little-endian when swap == 0, big-endian when swap == 1,
 * whatever the host's order. */
typedef struct rd {
    const unsigned char *p;
    int swap;
} rd;

static uint64_t rd_bytes(const rd *r, size_t off, int n)
{
    uint64_t v = 0;
    if (r->swap) {
        for (int i = 0; i < n; i++)
            v = (v << 8) | r->p[off + (size_t)i];
    } else {
        for (int i = n - 1; i >= 0; i--)
            v = (v << 8) | r->p[off + (size_t)i];
    }
    return v;
}

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static int16_t rd_i16(const rd *r, size_t off) { return (int16_t)(uint16_t)rd_bytes(r, off, 2); }
static int32_t rd_i32(const rd *r, size_t off) { return (int32_t)(uint32_t)rd_bytes(r, off, 4); }
static int64_t rd_i64(const rd *r, size_t off) { return (int64_t)rd_bytes(r, off, 8); }
static double rd_f32(const rd *r, size_t off)
{
    uint32_t u = (uint32_t)rd_bytes(r, off, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double rd_f64(const rd *r, size_t off)
{
    uint64_t u = rd_bytes(r, off, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Geometry fields in a version-neutral form, as read from the header. */
typedef struct raw_geom {
    double pixdim[8];
    double quatern[3], qoffset[3];
    double srow[3][4];
} raw_geom;

static void affine_from_geom(lrsa_nifti_header *hdr, const raw_geom *g)
{
    memset(hdr->affine, 0, sizeof hdr->affine);
    hdr->affine[3][3] = 1.0;
    if (hdr->sform_code > 0) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                hdr->affine[r][c] = g->srow[r][c];
    } else if (hdr->qform_code > 0) {
        double qfac = g->pixdim[0] < 0 ? -1.0 : 1.0;
        nifti_dmat44 m = nifti_quatern_to_dmat44(g->quatern[0], g->quatern[1], g->quatern[2],
                                                g->qoffset[0], g->qoffset[1], g->qoffset[2],
                                                g->pixdim[1], g->pixdim[2], g->pixdim[3], qfac);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                hdr->affine[r][c] = m.m[r][c];
    } else {
        for (int a = 0; a < 3; a++)
            hdr->affine[a][a] = g->pixdim[a + 1];
    }
}

static double tr_seconds(double dt, int xyzt_units)
{
    switch (xyzt_units & 0x38) {
    case NIFTI_UNITS_MSEC: return dt / 1000.0;
    case NIFTI_UNITS_USEC: return dt / 1e6;
    default: return dt;
    }
}

int lrsa_nifti_check_header(const void *buf, size_t len, int64_t file_size, const char *name,
                            lrsa_nifti_header *hdr, lrsa_err *err)
{
    const unsigned char *p = buf;
    int rc = LRSA_OK;
    memset(hdr, 0, sizeof *hdr);
    if (!name)
        name = "(memory)";
    if (len < 4) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': file too short for a NIfTI header (%zu bytes)", name, len);
        goto done;
    }
    /* Byte order from sizeof_hdr: 348 (NIfTI-1) or 540 (NIfTI-2) little- or big-endian. */
    rd r = { p, 0 };
    int file_le = -1, version = 0;
    uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint32_t be = (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
    if (le == 348 || le == 540) {
        file_le = 1;
        version = le == 348 ? 1 : 2;
    } else if (be == 348 || be == 540) {
        file_le = 0;
        version = be == 348 ? 1 : 2;
    } else {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a NIfTI file (sizeof_hdr is %u, not 348 or 540)",
                       name, (unsigned)le);
        goto done;
    }
    /* rd_bytes reads little-endian when swap == 0 (it assembles bytes explicitly). */
    r.swap = !file_le;
    hdr->swapped = file_le != host_is_le();
    size_t hsize = version == 1 ? 348 : 540;
    if (len < hsize) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': file too short for a NIfTI-%d header (%zu of %zu bytes)",
                       name, version, len, hsize);
        goto done;
    }
    hdr->nifti_version = version;

    int64_t dim[8];
    raw_geom g;
    memset(&g, 0, sizeof g);
    int single = 0;
    double vox_offset;
    if (version == 1) {
        const char *magic = (const char *)p + 344;
        if (memcmp(magic, "n+1\0", 4) == 0)
            single = 1;
        else if (memcmp(magic, "ni1\0", 4) == 0)
            single = 0;
        else {
            rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': no NIfTI-1 magic (an ANALYZE 7.5 header?); "
                           "only NIfTI-1 and NIfTI-2 are supported", name);
            goto done;
        }
        for (int i = 0; i < 8; i++)
            dim[i] = rd_i16(&r, 40 + 2 * (size_t)i);
        hdr->datatype = rd_i16(&r, 70);
        hdr->bytes_per_voxel = rd_i16(&r, 72); /* bitpix for now */
        for (int i = 0; i < 8; i++)
            g.pixdim[i] = rd_f32(&r, 76 + 4 * (size_t)i);
        vox_offset = rd_f32(&r, 108);
        hdr->scl_slope = rd_f32(&r, 112);
        hdr->scl_inter = rd_f32(&r, 116);
        hdr->xyzt_units = p[123];
        hdr->qform_code = rd_i16(&r, 252);
        hdr->sform_code = rd_i16(&r, 254);
        for (int i = 0; i < 3; i++) {
            g.quatern[i] = rd_f32(&r, 256 + 4 * (size_t)i);
            g.qoffset[i] = rd_f32(&r, 268 + 4 * (size_t)i);
        }
        for (int row = 0; row < 3; row++)
            for (int c = 0; c < 4; c++)
                g.srow[row][c] = rd_f32(&r, 280 + 16 * (size_t)row + 4 * (size_t)c);
    } else {
        static const unsigned char tail[4] = { '\r', '\n', 032, '\n' };
        const char *magic = (const char *)p + 4;
        if (memcmp(magic, "n+2\0", 4) == 0)
            single = 1;
        else if (memcmp(magic, "ni2\0", 4) == 0)
            single = 0;
        else {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad NIfTI-2 magic", name);
            goto done;
        }
        if (memcmp(p + 8, tail, 4) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad NIfTI-2 magic (damaged by a text-mode transfer?)", name);
            goto done;
        }
        hdr->datatype = rd_i16(&r, 12);
        hdr->bytes_per_voxel = rd_i16(&r, 14);
        for (int i = 0; i < 8; i++)
            dim[i] = rd_i64(&r, 16 + 8 * (size_t)i);
        for (int i = 0; i < 8; i++)
            g.pixdim[i] = rd_f64(&r, 104 + 8 * (size_t)i);
        int64_t vo = rd_i64(&r, 168);
        vox_offset = (double)vo;
        if (vo < 0 || vo > ((int64_t)1 << 52)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad vox_offset %lld", name, (long long)vo);
            goto done;
        }
        hdr->scl_slope = rd_f64(&r, 176);
        hdr->scl_inter = rd_f64(&r, 184);
        hdr->qform_code = rd_i32(&r, 344);
        hdr->sform_code = rd_i32(&r, 348);
        for (int i = 0; i < 3; i++) {
            g.quatern[i] = rd_f64(&r, 352 + 8 * (size_t)i);
            g.qoffset[i] = rd_f64(&r, 376 + 8 * (size_t)i);
        }
        for (int row = 0; row < 3; row++)
            for (int c = 0; c < 4; c++)
                g.srow[row][c] = rd_f64(&r, 400 + 32 * (size_t)row + 8 * (size_t)c);
        hdr->xyzt_units = rd_i32(&r, 500);
    }

    /* Dimensions. */
    if (dim[0] < 1 || dim[0] > 7) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': dim[0] = %lld, must be 1 to 7", name, (long long)dim[0]);
        goto done;
    }
    for (int i = 1; i <= dim[0]; i++) {
        if (dim[i] < 1) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': dim[%d] = %lld is not positive", name, i, (long long)dim[i]);
            goto done;
        }
        if (dim[i] > LRSA_NIFTI_MAX_DIM) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': dim[%d] = %lld exceeds the limit of %d", name, i,
                           (long long)dim[i], LRSA_NIFTI_MAX_DIM);
            goto done;
        }
    }
    if (dim[0] > 4) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': %lld-D image (dims %lld %lld %lld %lld %lld%s); only 1-D to 4-D "
                       "images are supported (CIFTI files are like this)", name, (long long)dim[0],
                       (long long)dim[1], (long long)dim[2], (long long)dim[3], (long long)dim[4],
                       (long long)dim[5], dim[0] > 5 ? " ..." : "");
        goto done;
    }
    hdr->ndim = (int)dim[0];
    for (int i = 0; i < 4; i++)
        hdr->dims[i] = i + 1 <= dim[0] ? dim[i + 1] : 1;
    int64_t nvol = hdr->dims[0] * hdr->dims[1] * hdr->dims[2]; /* each <= 2^16: no overflow */
    if (nvol > LRSA_NIFTI_MAX_VOXELS) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': %lld x %lld x %lld voxels per volume exceeds the limit of %lld",
                       name, (long long)hdr->dims[0], (long long)hdr->dims[1], (long long)hdr->dims[2],
                       (long long)LRSA_NIFTI_MAX_VOXELS);
        goto done;
    }

    /* Datatype. */
    const dtype_info *dt = find_dtype(hdr->datatype);
    if (!dt) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': unknown datatype %d", name, hdr->datatype);
        goto done;
    }
    if (!dt->readable) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': datatype %s (%d) is not supported; only real scalar "
                       "types are", name, dt->name, dt->code);
        goto done;
    }
    if (hdr->bytes_per_voxel != 8 * dt->nbyper) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bitpix %d does not match datatype %s (%d bits)", name,
                       hdr->bytes_per_voxel, dt->name, 8 * dt->nbyper);
        goto done;
    }
    hdr->bytes_per_voxel = dt->nbyper;
    int64_t nbytes = nvol * hdr->dims[3];
    if (nbytes > INT64_MAX / 16 / dt->nbyper) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': image size overflows", name);
        goto done;
    }
    nbytes *= dt->nbyper;

    /* vox_offset: an integral, finite byte offset past the header (and the 4 extender bytes). */
    if (!isfinite(vox_offset) || vox_offset < 0 || vox_offset != floor(vox_offset) || vox_offset > 1e15) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad vox_offset %g", name, vox_offset);
        goto done;
    }
    hdr->vox_offset = (int64_t)vox_offset;
    if (single && hdr->vox_offset < (int64_t)hsize + 4) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': vox_offset %lld lies inside the %zu-byte header", name,
                       (long long)hdr->vox_offset, hsize + 4);
        goto done;
    }

    /* Extension chain (single files: between the header and vox_offset). */
    if (single && len >= hsize + 4 && p[hsize] != 0) {
        int64_t pos = (int64_t)hsize + 4;
        int64_t end = hdr->vox_offset;
        while (pos + 8 <= end) {
            if ((size_t)(pos + 8) > len)
                break; /* beyond what we were given: cannot check further */
            int32_t esize = rd_i32(&r, (size_t)pos);
            if (esize <= 0 || esize % 16 != 0) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad extension size %d at byte %lld (must be a positive "
                               "multiple of 16)", name, (int)esize, (long long)pos);
                goto done;
            }
            if (pos + esize > end) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': extension at byte %lld (%d bytes) runs past vox_offset %lld",
                               name, (long long)pos, (int)esize, (long long)end);
                goto done;
            }
            pos += esize;
        }
    }

    /* Scaling (nibabel: a zero or non-finite slope means none; a valid slope needs a finite inter). */
    if (!isfinite(hdr->scl_slope))
        hdr->scl_slope = 0;
    if (hdr->scl_slope != 0 && !isfinite(hdr->scl_inter)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': valid scl_slope %g but invalid scl_inter %g", name,
                       hdr->scl_slope, hdr->scl_inter);
        goto done;
    }

    /* File size. */
    if (file_size >= 0) {
        int64_t need = hdr->vox_offset + nbytes;
        if (file_size < need) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': file is truncated: %lld bytes, the header needs %lld",
                           name, (long long)file_size, (long long)need);
            goto done;
        }
    }

    for (int i = 0; i < 4; i++)
        hdr->pixdim[i] = g.pixdim[i + 1];
    hdr->tr = tr_seconds(hdr->pixdim[3], hdr->xyzt_units);
    affine_from_geom(hdr, &g);
done:
    return rc;
}

/* ===== Files =========================================================== */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Where a file's pieces are. */
typedef struct nifti_files {
    char *img;          /* the file holding the voxels (== header file for .nii); NULL if missing */
    int64_t img_size;   /* uncompressed size if known, else -1 */
    int pair;           /* header/image pair */
} nifti_files;

static int64_t plain_size(const char *path, int *is_gz)
{
    *is_gz = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    unsigned char m[2] = { 0, 0 };
    size_t n = fread(m, 1, 2, fp);
    fclose(fp);
    if (n == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        *is_gz = 1;
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_size;
}

/* Read up to `max` uncompressed bytes from the start of path (gz or plain). */
static int read_head(const char *path, size_t max, unsigned char **out, size_t *len, lrsa_err *err)
{
    *out = NULL;
    *len = 0;
    int rc = LRSA_OK;
    unsigned char *buf = NULL;
    gzFile gz = NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        rc = LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO, "cannot open '%s': %s", path,
                       strerror(errno));
        goto done;
    }
    fclose(probe);
    gz = gzopen(path, "rb");
    if (!gz) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot open '%s': %s", path, strerror(errno));
        goto done;
    }
    buf = lrsa_malloc(max ? max : 1, "nifti header", err);
    if (!buf) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    size_t got = 0;
    while (got < max) {
        unsigned want = (unsigned)((max - got) > (1u << 30) ? (1u << 30) : (max - got));
        int n = gzread(gz, buf + got, want);
        if (n < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': corrupt or truncated gzip data: %s", path, gz_msg(gz, path));
            goto done;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *out = buf;
    *len = got;
    buf = NULL;
done:
    if (gz)
        gzclose(gz);
    free(buf);
    return rc;
}

/* Find the image file of a pair: x.hdr -> x.img or x.img.gz. */
static char *find_img(const char *path, lrsa_err *err)
{
    size_t n = strlen(path);
    size_t stem;
    if (ends_with(path, ".hdr") || ends_with(path, ".HDR"))
        stem = n - 4;
    else if (ends_with(path, ".hdr.gz"))
        stem = n - 7;
    else
        return NULL;
    char *s = lrsa_malloc(stem + 8, "file name", err);
    if (!s)
        return NULL;
    static const char *exts[] = { ".img", ".img.gz", ".IMG" };
    for (size_t i = 0; i < 3; i++) {
        memcpy(s, path, stem);
        strcpy(s + stem, exts[i]);
        if (lrsa_is_file(s))
            return s;
    }
    free(s);
    return NULL;
}

#define HEAD_MAX ((size_t)4 << 20)

/* The pre-validator on a file: header bytes and the size of the voxel file. */
static int check_file(const char *path, lrsa_nifti_header *hdr, nifti_files *files, lrsa_err *err)
{
    int rc = LRSA_OK;
    unsigned char *buf = NULL;
    size_t len = 0;
    memset(files, 0, sizeof *files);
    files->img_size = -1;
    if (!lrsa_is_file(path)) {
        if (lrsa_is_dir(path))
            rc = LRSA_FAIL(err, LRSA_EIO, "'%s' is a directory", path);
        else
            rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "cannot open '%s': %s", path, strerror(ENOENT));
        goto done;
    }
    /* First the fixed header, to learn vox_offset; then up to vox_offset for the extensions. */
    if ((rc = read_head(path, 544, &buf, &len, err)))
        goto done;
    lrsa_nifti_header tmp;
    if ((rc = lrsa_nifti_check_header(buf, len, -1, path, &tmp, err)))
        goto done;
    int single = (tmp.nifti_version == 1 && memcmp(buf + 344, "n+1", 3) == 0) ||
                 (tmp.nifti_version == 2 && memcmp(buf + 4, "n+2", 3) == 0);
    if (single && tmp.vox_offset > (int64_t)len && buf[tmp.nifti_version == 1 ? 348 : 540] != 0) {
        free(buf);
        buf = NULL;
        size_t want = tmp.vox_offset > (int64_t)HEAD_MAX ? HEAD_MAX : (size_t)tmp.vox_offset;
        if ((rc = read_head(path, want, &buf, &len, err)))
            goto done;
    }
    int is_gz = 0;
    if (single) {
        files->img = lrsa_strdup(path, err);
        if (!files->img) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        files->img_size = plain_size(path, &is_gz);
    } else {
        files->pair = 1;
        if (!ends_with(path, ".hdr") && !ends_with(path, ".hdr.gz") && !ends_with(path, ".HDR")) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the magic marks a header of a .hdr/.img pair, but the name "
                           "does not end in .hdr", path);
            goto done;
        }
        lrsa_err e2;
        lrsa_err_init(&e2);
        files->img = find_img(path, &e2);
        if (!files->img && e2.code) {
            rc = e2.code;
            if (err)
                *err = e2;
            goto done;
        }
        if (files->img)
            files->img_size = plain_size(files->img, &is_gz);
    }
    if ((rc = lrsa_nifti_check_header(buf, len, files->img_size, path, hdr, err)))
        goto done;
    hdr->header_only = files->img == NULL;
done:
    free(buf);
    if (rc) {
        free(files->img);
        files->img = NULL;
    }
    return rc;
}

int lrsa_nifti_read_header(const char *path, lrsa_nifti_header *hdr, lrsa_err *err)
{
    nifti_files files;
    lrsa_nifti_header h;
    int rc = check_file(path, &h, &files, err);
    if (rc)
        return rc;
    if (!h.header_only) {
        /* Let nifticlib read it too, so that a file we accept here is one it can read later. */
        quiet_nifti();
        nifti_image *nim = nifti_image_read(path, 0);
        if (!nim) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': nifticlib cannot read the header", path);
            goto done;
        }
        nifti_image_free(nim);
    }
    *hdr = h;
done:
    free(files.img);
    return rc;
}

/* ===== Bricks ========================================================== */
struct lrsa_nifti_bricks {
    lrsa_nifti_header hdr;
    char *path;
    int64_t n;
    int64_t bsize;      /* bytes per volume */
    void **bricks;      /* n volumes in the stored type, native byte order */
};

/* Brick positions sorted by volume, stable (insertion sort: n is a run's trial count, tens;
 * qsort has no context argument and the library keeps no globals). */
static void order_volumes(int64_t n, const int64_t *volumes, int64_t *order)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 && volumes[order[j - 1]] > volumes[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* Read exactly n bytes through znzlib (chunks: znzread's count is a size_t, zlib's an unsigned). */
static int read_raw(znzFile fp, void *buf, int64_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t want = n > (1 << 30) ? ((size_t)1 << 30) : (size_t)n;
        size_t got = znzread(p, 1, want, fp);
        if (got != want)
            return -1;
        p += got;
        n -= (int64_t)got;
    }
    return 0;
}

static void swap_bytes(void *buf, int64_t n, int size)
{
    unsigned char *p = buf;
    for (int64_t i = 0; i < n; i++, p += size)
        for (int a = 0, z = size - 1; a < z; a++, z--) {
            unsigned char t = p[a];
            p[a] = p[z];
            p[z] = t;
        }
}

/* Read the volumes in one forward pass over one stream, as nifti_image_read_bricks does. We do
 * not call it: its failures print to stderr whatever the debug level, and its nifti_read_buffer
 * replaces NaN and Inf by 0, where nibabel (our reference) keeps them. So the raw bytes come
 * through nifticlib's znzlib stream and we swap them ourselves. */
static int read_bricks_pass(lrsa_nifti_bricks *b, const int64_t *volumes, lrsa_err *err)
{
    int rc = LRSA_OK;
    int64_t *order = NULL;
    znzFile fp = NULL;
    nifti_image *nim = NULL;
    const char *path = b->path;
    quiet_nifti();
    nim = nifti_image_read(path, 0);
    if (!nim) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': nifticlib cannot read the header", path);
        goto done;
    }
    if (nim->nx != b->hdr.dims[0] || nim->ny != b->hdr.dims[1] || nim->nz != b->hdr.dims[2] ||
        (b->hdr.ndim >= 4 && nim->nt != b->hdr.dims[3]) || nim->datatype != b->hdr.datatype ||
        nim->nbyper != b->hdr.bytes_per_voxel || nim->iname_offset != b->hdr.vox_offset || !nim->iname) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': nifticlib and our header check disagree on the image layout "
                       "(%lld x %lld x %lld x %lld %s at %lld, ours %lld x %lld x %lld x %lld %s at %lld)", path,
                       (long long)nim->nx, (long long)nim->ny, (long long)nim->nz, (long long)nim->nt,
                       lrsa_nifti_datatype_name(nim->datatype), (long long)nim->iname_offset,
                       (long long)b->hdr.dims[0], (long long)b->hdr.dims[1], (long long)b->hdr.dims[2],
                       (long long)b->hdr.dims[3], lrsa_nifti_datatype_name(b->hdr.datatype),
                       (long long)b->hdr.vox_offset);
        goto done;
    }
    order = lrsa_malloc((size_t)b->n * sizeof *order, "brick order", err);
    if (!order) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    order_volumes(b->n, volumes, order);
    fp = znzopen(nim->iname, "rb", nifti_is_gzfile(nim->iname));
    if (znz_isnull(fp)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot open '%s': %s", nim->iname, strerror(errno));
        goto done;
    }
    int64_t pos = -1, prev = -1;
    for (int64_t c = 0; c < b->n; c++) {
        int64_t idx = order[c], vol = volumes[idx];
        b->bricks[idx] = lrsa_malloc((size_t)b->bsize, "nifti volume", err);
        if (!b->bricks[idx]) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (c > 0 && vol == prev) {
            memcpy(b->bricks[idx], b->bricks[order[c - 1]], (size_t)b->bsize);
            continue;
        }
        int64_t want = b->hdr.vox_offset + vol * b->bsize;
        if (want != pos && znzseek(fp, (znz_off_t)want, SEEK_SET) < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': cannot seek to volume %lld (truncated or corrupt file?)",
                           nim->iname, (long long)vol);
            goto done;
        }
        if (read_raw(fp, b->bricks[idx], b->bsize) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': cannot read volume %lld of %lld (truncated or corrupt file?)",
                           nim->iname, (long long)vol, (long long)b->hdr.dims[3]);
            goto done;
        }
        if (b->hdr.swapped)
            swap_bytes(b->bricks[idx], b->bsize / b->hdr.bytes_per_voxel, b->hdr.bytes_per_voxel);
        pos = want + b->bsize;
        prev = vol;
    }
done:
    if (!znz_isnull(fp))
        znzclose(fp);
    if (nim)
        nifti_image_free(nim);
    free(order);
    return rc;
}

int lrsa_nifti_read_bricks(const char *path, int64_t n, const int64_t *volumes,
                           lrsa_nifti_bricks **out, lrsa_err *err)
{
    int rc = LRSA_OK;
    nifti_files files = { 0 };
    lrsa_nifti_bricks *b = NULL;
    *out = NULL;
    if (n < 1 || !volumes) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': no volumes asked for", path);
        goto done;
    }
    b = lrsa_calloc(1, sizeof *b, "nifti bricks", err);
    if (!b) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = check_file(path, &b->hdr, &files, err)))
        goto done;
    if (b->hdr.header_only) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no image file (.img) beside the header, so it has no voxel data",
                       path);
        goto done;
    }
    int64_t nt = b->hdr.dims[3];
    for (int64_t i = 0; i < n; i++) {
        if (volumes[i] < 0 || volumes[i] >= nt) {
            rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s': volume %lld is out of range: the file has %lld volume%s (0 to %lld)",
                           path, (long long)volumes[i], (long long)nt, nt == 1 ? "" : "s", (long long)(nt - 1));
            goto done;
        }
    }
    b->path = lrsa_strdup(path, err);
    b->bricks = lrsa_calloc((size_t)n, sizeof *b->bricks, "nifti bricks", err);
    if (!b->path || !b->bricks) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    b->n = n;
    b->bsize = b->hdr.dims[0] * b->hdr.dims[1] * b->hdr.dims[2] * b->hdr.bytes_per_voxel;
    if ((rc = read_bricks_pass(b, volumes, err)))
        goto done;
    *out = b;
    b = NULL;
done:
    free(files.img);
    lrsa_nifti_bricks_free(b);
    return rc;
}

const lrsa_nifti_header *lrsa_nifti_bricks_header(const lrsa_nifti_bricks *b)
{
    return &b->hdr;
}

void lrsa_nifti_bricks_free(lrsa_nifti_bricks *b)
{
    if (!b)
        return;
    if (b->bricks)
        for (int64_t i = 0; i < b->n; i++)
            free(b->bricks[i]);
    free(b->bricks);
    free(b->path);
    free(b);
}

#define CONVERT(T)                                                                                 \
    do {                                                                                           \
        const T *s = (const T *)src;                                                              \
        if (scale)                                                                                 \
            for (int64_t v = 0; v < nvox; v++)                                                     \
                out[v] = (float)((double)s[v] * slope + inter);                                    \
        else                                                                                       \
            for (int64_t v = 0; v < nvox; v++)                                                     \
                out[v] = (float)s[v];                                                              \
    } while (0)

int lrsa_nifti_bricks_volume(const lrsa_nifti_bricks *b, int64_t i, float *out, size_t capacity,
                             lrsa_err *err)
{
    if (!b || i < 0 || i >= b->n)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': brick %lld out of range (%lld read)", b ? b->path : "?",
                         (long long)i, b ? (long long)b->n : 0LL);
    int64_t nvox = b->hdr.dims[0] * b->hdr.dims[1] * b->hdr.dims[2];
    if ((int64_t)capacity < nvox)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s': output buffer holds %zu floats, a volume has %lld", b->path,
                         capacity, (long long)nvox);
    const void *src = b->bricks[i];
    int scale = b->hdr.scl_slope != 0;
    double slope = b->hdr.scl_slope, inter = b->hdr.scl_inter;
    switch (b->hdr.datatype) {
    case DT_UINT8: CONVERT(uint8_t); break;
    case DT_INT8: CONVERT(int8_t); break;
    case DT_INT16: CONVERT(int16_t); break;
    case DT_UINT16: CONVERT(uint16_t); break;
    case DT_INT32: CONVERT(int32_t); break;
    case DT_UINT32: CONVERT(uint32_t); break;
    case DT_INT64: CONVERT(int64_t); break;
    case DT_UINT64: CONVERT(uint64_t); break;
    case DT_FLOAT32: CONVERT(float); break;
    case DT_FLOAT64: CONVERT(double); break;
#if LDBL_MANT_DIG == 64
    case DT_FLOAT128: {
        const long double *s = (const long double *)src;
        for (int64_t v = 0; v < nvox; v++)
            out[v] = scale ? (float)((double)s[v] * slope + inter) : (float)s[v];
        break;
    }
#endif
    default:
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': datatype %s is not supported", b->path,
                         lrsa_nifti_datatype_name(b->hdr.datatype));
    }
    return LRSA_OK;
}

int lrsa_nifti_read_volume(const char *path, int64_t t, lrsa_nifti_header *hdr, float **out,
                           lrsa_err *err)
{
    lrsa_nifti_bricks *b = NULL;
    float *vol = NULL;
    *out = NULL;
    int rc = lrsa_nifti_read_bricks(path, 1, &t, &b, err);
    if (rc)
        goto done;
    int64_t nvox = b->hdr.dims[0] * b->hdr.dims[1] * b->hdr.dims[2];
    vol = lrsa_malloc((size_t)nvox * sizeof(float), "nifti volume", err);
    if (!vol) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = lrsa_nifti_bricks_volume(b, 0, vol, (size_t)nvox, err)))
        goto done;
    if (hdr)
        *hdr = b->hdr;
    *out = vol;
    vol = NULL;
done:
    free(vol);
    lrsa_nifti_bricks_free(b);
    return rc;
}

/* ===== Verify ========================================================== */
/* Decompress (or read) a whole file; returns its uncompressed size in *size. */
static int read_through(const char *path, int64_t *size, lrsa_err *err)
{
    int rc = LRSA_OK;
    unsigned char *chunk = NULL;
    gzFile gz = gzopen(path, "rb");
    *size = 0;
    if (!gz) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot open '%s': %s", path, strerror(errno));
        goto done;
    }
    chunk = lrsa_malloc(1 << 20, "read buffer", err);
    if (!chunk) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (;;) {
        int n = gzread(gz, chunk, 1 << 20);
        if (n < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': corrupt or truncated gzip data after %lld bytes: %s", path,
                           (long long)*size, gz_msg(gz, path));
            goto done;
        }
        if (n == 0)
            break;
        *size += n;
    }
    int zerr = Z_OK;
    gzerror(gz, &zerr);
    if (zerr != Z_OK) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': corrupt or truncated gzip data: %s", path, gz_msg(gz, path));
        goto done;
    }
done:
    if (gz) {
        int crc = gzclose(gz);
        if (rc == LRSA_OK && crc != Z_OK)
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': corrupt or truncated gzip data (%s)", path,
                           crc == Z_BUF_ERROR ? "unexpected end of file" : "bad data");
    }
    free(chunk);
    return rc;
}

int lrsa_nifti_verify(const char *path, lrsa_err *err)
{
    lrsa_nifti_header h;
    nifti_files files;
    int rc = check_file(path, &h, &files, err);
    if (rc)
        return rc;
    if (h.header_only) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no image file (.img) beside the header", path);
        goto done;
    }
    int64_t size;
    if ((rc = read_through(files.img, &size, err)))
        goto done;
    int64_t need = h.dims[0] * h.dims[1] * h.dims[2] * h.dims[3] * h.bytes_per_voxel + h.vox_offset;
    if (size < need) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': file is truncated: %lld bytes of data, the header needs %lld",
                       files.img, (long long)size, (long long)need);
        goto done;
    }
done:
    free(files.img);
    return rc;
}

/* ===== Write =========================================================== */
static int write_all(FILE *fp, gzFile gz, const void *data, int64_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        unsigned chunk = n > (1 << 30) ? (1u << 30) : (unsigned)n;
        if (gz) {
            int w = gzwrite(gz, p, chunk);
            if (w <= 0)
                return -1;
            chunk = (unsigned)w;
        } else if (fwrite(p, 1, chunk, fp) != chunk) {
            return -1;
        }
        p += chunk;
        n -= chunk;
    }
    return 0;
}

int lrsa_nifti_write(const char *path, const lrsa_nifti_header *hdr, const void *data,
                     lrsa_err *err)
{
    int rc = LRSA_OK;
    nifti_image *nim = NULL;
    char *tmp = NULL;
    FILE *fp = NULL;
    gzFile gz = NULL;
    int fd = -1;
    int gzip = ends_with(path, ".nii.gz");
    if (!gzip && !ends_with(path, ".nii")) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': a NIfTI file name must end in .nii or .nii.gz", path);
        goto done;
    }
    if (!hdr || !data) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': no header or data to write", path);
        goto done;
    }
    if (hdr->ndim < 1 || hdr->ndim > 4) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': ndim %d, must be 1 to 4", path, hdr->ndim);
        goto done;
    }
    int64_t nvox = 1;
    for (int i = 0; i < 4; i++) {
        int64_t d = i < hdr->ndim ? hdr->dims[i] : 1;
        if (d < 1 || d > INT16_MAX) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': dim %d = %lld does not fit a NIfTI-1 header", path, i + 1,
                           (long long)d);
            goto done;
        }
        nvox *= d;
    }
    int nbyper = 0, swapsize = 0;
    if (!nifti_is_valid_datatype(hdr->datatype)) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': unknown datatype %d", path, hdr->datatype);
        goto done;
    }
    nifti_datatype_sizes(hdr->datatype, &nbyper, &swapsize);
    if (nbyper <= 0) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': cannot write datatype %d", path, hdr->datatype);
        goto done;
    }

    /* Build the header through nifticlib. */
    quiet_nifti();
    int64_t dims[8] = { hdr->ndim, 1, 1, 1, 1, 1, 1, 1 };
    for (int i = 0; i < hdr->ndim; i++)
        dims[i + 1] = hdr->dims[i];
    nim = nifti_make_new_nim(dims, hdr->datatype, 0);
    if (!nim) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "'%s': cannot build a NIfTI header", path);
        goto done;
    }
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    int degenerate = 1;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            m.m[r][c] = hdr->affine[r][c];
            if (r < 3 && c < 3 && hdr->affine[r][c] != 0)
                degenerate = 0;
        }
    if (degenerate) {
        memset(&m, 0, sizeof m);
        for (int a = 0; a < 3; a++)
            m.m[a][a] = hdr->pixdim[a] > 0 ? hdr->pixdim[a] : 1.0;
    }
    m.m[3][0] = m.m[3][1] = m.m[3][2] = 0;
    m.m[3][3] = 1;
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
    nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    nim->quatern_b = qb;
    nim->quatern_c = qc;
    nim->quatern_d = qd;
    nim->qoffset_x = qx;
    nim->qoffset_y = qy;
    nim->qoffset_z = qz;
    nim->qfac = qfac;
    nim->dx = nim->pixdim[1] = dx;
    nim->dy = nim->pixdim[2] = dy;
    nim->dz = nim->pixdim[3] = dz;
    nim->dt = nim->pixdim[4] = hdr->pixdim[3] != 0 ? hdr->pixdim[3] : (hdr->tr > 0 ? hdr->tr : 1.0);
    nim->qform_code = hdr->qform_code > 0 ? hdr->qform_code : NIFTI_XFORM_SCANNER_ANAT;
    nim->sform_code = hdr->sform_code > 0 ? hdr->sform_code : NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    int units = hdr->xyzt_units ? hdr->xyzt_units : (NIFTI_UNITS_MM | NIFTI_UNITS_SEC);
    nim->xyz_units = XYZT_TO_SPACE(units);
    nim->time_units = XYZT_TO_TIME(units);
    nim->scl_slope = isfinite(hdr->scl_slope) ? hdr->scl_slope : 0;
    nim->scl_inter = isfinite(hdr->scl_inter) ? hdr->scl_inter : 0;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->iname_offset = 352;
    snprintf(nim->descrip, sizeof nim->descrip, "latentrsa");
    nifti_1_header nh;
    memset(&nh, 0, sizeof nh);
    if (nifti_convert_nim2n1hdr(nim, &nh) != 0) {
        rc = LRSA_FAIL(err, LRSA_EMISUSE, "'%s': cannot build a NIfTI-1 header", path);
        goto done;
    }
    nh.vox_offset = 352;
    for (int i = hdr->ndim + 1; i < 8; i++)
        nh.dim[i] = 1; /* unused dims are 1, as nibabel writes them */
    memcpy(nh.magic, "n+1\0", 4);

    /* Temporary beside the target, same extension. */
    const char *ext = gzip ? ".nii.gz" : ".nii";
    size_t stem = strlen(path) - strlen(ext);
    tmp = lrsa_malloc(stem + 16 + strlen(ext), "file name", err);
    if (!tmp) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    memcpy(tmp, path, stem);
    strcpy(tmp + stem, ".tmpXXXXXX");
    strcat(tmp, ext);
    fd = mkstemps(tmp, (int)strlen(ext));
    if (fd < 0) {
        free(tmp);
        tmp = NULL;
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot create '%s': %s", path, strerror(errno));
        goto done;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        /* not fatal: the file keeps mkstemp's 0600 */
    }
    if (gzip) {
        gz = gzdopen(fd, "wb6");
        if (!gz) {
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
            goto done;
        }
    } else {
        fp = fdopen(fd, "wb");
        if (!fp) {
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
            goto done;
        }
    }
    fd = -1;
    static const unsigned char extender[4] = { 0, 0, 0, 0 };
    if (write_all(fp, gz, &nh, 348) || write_all(fp, gz, extender, 4) ||
        write_all(fp, gz, data, nvox * nbyper)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    int bad;
    if (gz) {
        bad = gzclose(gz) != Z_OK;
        gz = NULL;
    } else {
        bad = fflush(fp) != 0 || ferror(fp);
        bad |= fclose(fp) != 0;
        fp = NULL;
    }
    if (bad) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot rename to '%s': %s", path, strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
done:
    if (gz)
        gzclose(gz);
    if (fp)
        fclose(fp);
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (nim)
        nifti_image_free(nim);
    return rc;
}
