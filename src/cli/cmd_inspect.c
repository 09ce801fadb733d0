/* latentrsa inspect: print a NIfTI file's header as JSON. */
#include "cli.h"
#include "latentrsa/nifti.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static const char *const inspect_synopsis[] = {
    "latentrsa inspect FILE",
    NULL,
};

static const cli_usage inspect_usage = {
    inspect_synopsis,
    "Check a NIfTI-1 or NIfTI-2 file (.nii, .nii.gz, or .hdr with its .img) and print its\n"
    "header as one JSON object on standard output: dims [nx, ny, nz, nt] (nt is 1 for 3-D\n"
    "images), datatype (numpy's name, e.g. int16), pixdim [dx, dy, dz, dt] as stored, tr in\n"
    "seconds (pixdim[4] with the xyzt_units time unit applied), affine (4 rows of 4: the sform\n"
    "if sform_code > 0, else the qform if qform_code > 0, else diag(dx, dy, dz)), scl_slope and\n"
    "scl_inter as stored, and nifti_version (1 or 2). Only the header is read; a .hdr without\n"
    "its .img is fine. Non-finite numbers print as null.",
};

static cJSON *number_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *x = cJSON_CreateNumber(v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* The header as the JSON object inspect prints (NULL when out of memory). */
static cJSON *header_json(const lrsa_nifti_header *h)
{
    cJSON *o = cJSON_CreateObject();
    double dims[4], aff[4];
    for (int i = 0; i < 4; i++)
        dims[i] = (double)h->dims[i];
    cJSON *affine = cJSON_CreateArray();
    int ok = o && affine;
    ok = ok && cJSON_AddItemToObject(o, "dims", number_array(dims, 4));
    ok = ok && cJSON_AddStringToObject(o, "datatype", lrsa_nifti_datatype_name(h->datatype));
    ok = ok && cJSON_AddItemToObject(o, "pixdim", number_array(h->pixdim, 4));
    ok = ok && cJSON_AddNumberToObject(o, "tr", h->tr);
    for (int r = 0; ok && r < 4; r++) {
        for (int c = 0; c < 4; c++)
            aff[c] = h->affine[r][c];
        ok = cJSON_AddItemToArray(affine, number_array(aff, 4));
    }
    ok = ok && cJSON_AddItemToObject(o, "affine", affine);
    if (ok)
        affine = NULL;
    ok = ok && cJSON_AddNumberToObject(o, "scl_slope", h->scl_slope);
    ok = ok && cJSON_AddNumberToObject(o, "scl_inter", h->scl_inter);
    ok = ok && cJSON_AddNumberToObject(o, "nifti_version", h->nifti_version);
    cJSON_Delete(affine);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int cmd_inspect(int argc, char **argv, cli_ctx *cli)
{
    const cli_opt opts[] = {
        OPT_END_(),
    };
    char *args[2];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &inspect_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_nifti_header h;
    int rc = lrsa_nifti_read_header(args[0], &h, &err);
    if (rc)
        return cli_report(cli, &err);
    cJSON *o = header_json(&h);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        cli_error(cli, "out of memory");
        return EXIT_FAILURE_;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return EXIT_OK;
}
