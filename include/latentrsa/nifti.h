/*
 * NIfTI-1 and NIfTI-2 images (.nii, .nii.gz, .hdr/.img), read and written through Debian's
 * nifticlib (libnifti2). src/io/nifti.c is the only file that includes nifticlib.
 *
 * Before nifticlib sees a file, our own pre-validator checks the 348/540-byte header and the
 * extension chain (dims, datatype, vox_offset, sizes that overflow, a file shorter than the header
 * says). Every failure becomes an lrsa_err naming the file; nifticlib's own stderr output is
 * silenced.
 *
 * Values follow nibabel's get_fdata(): scl_slope/scl_inter applied when the slope is non-zero
 * and finite; the affine is the sform if sform_code > 0, else the qform if qform_code > 0, else
 * diag(dx, dy, dz) with zero offset (nibabel would centre it; this never happens in BOLD5000).
 * Complex, RGB and more-than-4-D images (e.g. CIFTI) are rejected with LRSA_EUNSUPPORTED.
 * NaN and Inf voxels are kept, as nibabel keeps them (nifticlib's own reader would zero them).
 */
#ifndef LATENTRSA_NIFTI_H
#define LATENTRSA_NIFTI_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refuse before allocating: no axis above this, and no volume above LRSA_NIFTI_MAX_VOXELS. */
#define LRSA_NIFTI_MAX_DIM 65536
#define LRSA_NIFTI_MAX_VOXELS ((int64_t)1 << 31)

typedef struct lrsa_nifti_header {
    int nifti_version;       /* 1 or 2 */
    int ndim;                /* dim[0]: 1..4 accepted */
    int64_t dims[4];         /* nx, ny, nz, nt; missing axes are 1 */
    int datatype;            /* NIfTI DT_* code, e.g. 4 = int16 */
    int bytes_per_voxel;
    double pixdim[4];        /* dx, dy, dz, dt as stored */
    double tr;               /* seconds: pixdim[4] with xyzt_units applied (ms -> s, us -> s) */
    int xyzt_units;
    double affine[4][4];     /* row-major: world = affine * [i j k 1] */
    int sform_code, qform_code;
    double scl_slope, scl_inter; /* as stored (a non-finite slope reads as 0) */
    int64_t vox_offset;
    int swapped;             /* 1 if the file's byte order differs from ours */
    int header_only;         /* 1 for a .hdr whose .img is missing */
} lrsa_nifti_header;

/* nibabel's dtype name for a NIfTI datatype code ("int16", "float32", ...); "unknown" if none. */
const char *lrsa_nifti_datatype_name(int datatype);

/* Validate a header held in memory: `buf` holds the first `len` bytes of an uncompressed file
 * (the header and, for single files, any extension chain). `file_size` is the full uncompressed
 * size of the file that holds the voxels, or -1 if unknown. Fills hdr. This is the pre-validator,
 * exposed for the fuzzer and tests. `name` is used in messages. */
int lrsa_nifti_check_header(const void *buf, size_t len, int64_t file_size, const char *name,
                            lrsa_nifti_header *hdr, lrsa_err *err);

/* Read only the header of a file (any supported form): the pre-validator on the file's first
 * bytes (decompressed for .gz; up to vox_offset, at most 4 MiB, for the extension chain) and the
 * size of the voxel file where known without decompressing, then nifticlib's header reader.
 * A .hdr whose .img (or .img.gz) is missing gives header_only = 1. Missing file: LRSA_ENOTFOUND. */
int lrsa_nifti_read_header(const char *path, lrsa_nifti_header *hdr, lrsa_err *err);

/* Some volumes of one file, read in one forward pass and kept in the stored type; converted to
 * float one volume at a time by lrsa_nifti_bricks_volume. */
typedef struct lrsa_nifti_bricks lrsa_nifti_bricks;

/* Read volumes[0..n) (0-based, any order, duplicates allowed) of path in one forward pass over
 * one stream (a .nii.gz is decompressed once, up to the last volume asked for). A volume out of
 * range is LRSA_ESHAPE naming the file and its volume count; a .hdr without .img LRSA_ENOTFOUND;
 * a file that ends early (truncated .nii.gz) LRSA_EFORMAT naming the file and the volume. */
int lrsa_nifti_read_bricks(const char *path, int64_t n, const int64_t *volumes,
                           lrsa_nifti_bricks **out, lrsa_err *err);
const lrsa_nifti_header *lrsa_nifti_bricks_header(const lrsa_nifti_bricks *b);
/* Write brick i (index into the volumes list) as float32, scaling applied, into out, which holds
 * `capacity` floats (at least nx*ny*nz). Voxel (i,j,k) lands at out[i + nx*(j + ny*k)]. */
int lrsa_nifti_bricks_volume(const lrsa_nifti_bricks *b, int64_t i, float *out, size_t capacity,
                             lrsa_err *err);
void lrsa_nifti_bricks_free(lrsa_nifti_bricks *b);

/* Read one volume t of a file as float32 (a convenience over read_bricks for one volume).
 * *out is allocated (nx*ny*nz floats); the caller frees it. */
int lrsa_nifti_read_volume(const char *path, int64_t t, lrsa_nifti_header *hdr, float **out,
                           lrsa_err *err);

/* Decompress a whole file, checking the gzip CRC and that it holds every voxel its header says.
 * Finds truncated or corrupt .nii.gz files up front (LRSA_EFORMAT with zlib's reason). */
int lrsa_nifti_verify(const char *path, lrsa_err *err);

/* Write a NIfTI-1 file (.nii or .nii.gz by extension), native byte order, vox_offset 352, no
 * extensions. From hdr: ndim (1..4), dims (each 1..32767), datatype (any code nifticlib knows,
 * written as given), pixdim[3] (the TR; hdr->tr if pixdim[3] is 0), xyzt_units (0 means mm + s),
 * scl_slope/scl_inter, and the affine, stored as the sform and as the qform (through
 * nifti_dmat44_to_quatern; exact for rotations + voxel sizes, approximate for shears), codes
 * from hdr or 1 (scanner) if 0. pixdim[0..2] are written as the affine's column lengths (what
 * the qform needs, as nibabel's set_qform does); an affine whose 3x3 part is all zero is
 * replaced by diag(pixdim[0..2]). Other hdr fields are ignored.
 * data is in hdr->datatype, x fastest. Written to a temporary name with the same extension in
 * the same directory and renamed into place: no half-written file ever appears at path. */
int lrsa_nifti_write(const char *path, const lrsa_nifti_header *hdr, const void *data,
                     lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
