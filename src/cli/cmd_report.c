/* latentrsa report: rebuild a study's OUT/report.html from OUT/results.json. */
#include "cli.h"
#include "latentrsa/report.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const report_synopsis[] = {
    "latentrsa report OUT",
    NULL,
};

static const cli_usage report_usage = {
    report_synopsis,
    "Rebuild OUT/report.html from the output folder of 'latentrsa run': OUT/results.json and the\n"
    "files it names (RDMs, permutation nulls, the autoencoder's figures). The report is one\n"
    "self-contained HTML file (figures embedded, no external links): the headline result, a\n"
    "plain-language reading of it, the dataset, the autoencoder, the RDMs, the RSA with its\n"
    "permutation null, the voxel baseline, the lag sweep, and every option, stage and version.\n"
    "Prints the report's path on standard output.",
};

int cmd_report(int argc, char **argv, cli_ctx *cli)
{
    const cli_opt opts[] = { OPT_END_() };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &report_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;
    if (!*args[0])
        return cli_usage_error(cli, "empty output folder name");

    lrsa_err err;
    lrsa_err_init(&err);
    char *path = NULL;
    int rc = lrsa_report_write(args[0], &cli->lib, &err);
    if (!rc && !(path = lrsa_path_join(args[0], LRSA_REPORT_FILE, &err)))
        rc = err.code ? err.code : LRSA_ENOMEM;
    if (rc)
        return cli_report(cli, &err);
    printf("%s\n", path);
    free(path);
    return EXIT_OK;
}
