/* Fuzz target: the NIfTI pre-validator (lrsa_nifti_check_header) on arbitrary bytes, taken as
 * the start of an uncompressed single file whose size is the input's size. When a header
 * passes, the derived sizes must be consistent with what was checked. */
#include "latentrsa/nifti.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsa_nifti_header h;
    for (int known = 0; known < 2; known++) {
        int64_t file_size = known ? (int64_t)size : -1;
        if (lrsa_nifti_check_header(data, size, file_size, "fuzz.nii", &h, NULL) != LRSA_OK)
            continue;
        if (h.ndim < 1 || h.ndim > 4 || h.bytes_per_voxel < 1 || h.vox_offset < 0)
            abort();
        int64_t nvox = 1;
        for (int i = 0; i < 4; i++) {
            if (h.dims[i] < 1 || h.dims[i] > LRSA_NIFTI_MAX_DIM)
                abort();
            if (i < 3)
                nvox *= h.dims[i];
        }
        if (nvox > LRSA_NIFTI_MAX_VOXELS)
            abort();
        if (known && h.vox_offset + nvox * h.dims[3] * h.bytes_per_voxel > (int64_t)size)
            abort();
        (void)lrsa_nifti_datatype_name(h.datatype);
    }
    return 0;
}
