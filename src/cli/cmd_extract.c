/* latentrsa extract: write one volume of a NIfTI file as a float32 .npy. */
#include "cli.h"
#include "latentrsa/nifti.h"
#include "latentrsa/npy.h"

#include <stdlib.h>

static const char *const extract_synopsis[] = {
    "latentrsa extract FILE [--volume T] -o OUT.npy",
    NULL,
};

static const cli_usage extract_usage = {
    extract_synopsis,
    "Read volume T (0-based; default 0) of a NIfTI-1 or NIfTI-2 file (.nii, .nii.gz, .hdr/.img)\n"
    "and write it as a float32 .npy of shape (nx, ny, nz) in C order, scl_slope and scl_inter\n"
    "applied, so that numpy.load(OUT)[i, j, k] equals nibabel's img.get_fdata()[i, j, k, T] to\n"
    "float32 precision. NaN and Inf voxels are kept. The output appears only when complete.",
};

int cmd_extract(int argc, char **argv, cli_ctx *cli)
{
    int64_t volume = 0;
    const char *output = NULL;
    const cli_opt opts[] = {
        OPT_INT_(0, "volume", &volume, "T", "the volume to extract, counted from 0 (default: 0)"),
        OPT_STRING_('o', "output", &output, "OUT.npy", "write the volume here (required)"),
        OPT_END_(),
    };
    char *args[2];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &extract_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o OUT.npy");

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_nifti_header h;
    float *vol = NULL, *c_order = NULL;
    int rc = lrsa_nifti_read_volume(args[0], volume, &h, &vol, &err);
    if (rc)
        goto done;
    /* NIfTI stores x fastest; numpy's C order wants z fastest: out[(i * ny + j) * nz + k]. */
    int64_t nx = h.dims[0], ny = h.dims[1], nz = h.dims[2];
    c_order = lrsa_malloc((size_t)(nx * ny * nz) * sizeof *c_order, "volume", &err);
    if (!c_order) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t k = 0; k < nz; k++)
        for (int64_t j = 0; j < ny; j++)
            for (int64_t i = 0; i < nx; i++)
                c_order[(i * ny + j) * nz + k] = vol[i + nx * (j + ny * k)];
    int64_t shape[3] = { nx, ny, nz };
    if ((rc = lrsa_npy_write_f32(output, 3, shape, c_order, &err)))
        goto done;
    cli_note(cli, "wrote volume %lld of %lld (%lld x %lld x %lld, float32) to '%s'", (long long)volume,
             (long long)h.dims[3], (long long)nx, (long long)ny, (long long)nz, output);
done:
    free(vol);
    free(c_order);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
