/* latentrsa embed-voxels: the trial-by-voxel matrix straight from the BOLD data (the baseline). */
#include "cli.h"
#include "latentrsa/bids.h"
#include "latentrsa/embed_voxels.h"

#include <stdlib.h>
#include <string.h>

static const char *const embed_voxels_synopsis[] = {
    "latentrsa embed-voxels --bids DIR [--trials trials.tsv | --volume-rule lag:SECONDS|stimoff] "
    "[--mask MASK.nii.gz] [--detrend] [--zscore-runs] -o OUT.npy",
    NULL,
};

static const cli_usage embed_voxels_usage = {
    embed_voxels_synopsis,
    "The trial-by-voxel matrix straight from the BOLD runs, with no rendering and no model: the\n"
    "control pathway that tells 'no shared information' from 'rendering and the autoencoder lost\n"
    "it'. Row r is trial r's volume (the table's 'volume' column with --trials; else a scan of DIR\n"
    "with --volume-rule, default lag:5), in the table's order; the columns are the voxels in C\n"
    "order over (x, y, z) (numpy's get_fdata()[..., t].ravel(), extract's layout), or those where\n"
    "--mask is non-zero. --detrend removes each voxel's least-squares line over all the volumes\n"
    "of its run; --zscore-runs then z-scores each voxel over its run (population sd; a constant\n"
    "voxel becomes 0). Each run is read once; runs are read in parallel, one per thread. Writes\n"
    "OUT.npy (float32, trials x voxels), OUT.labels.tsv and OUT.json. Memory: the output plus one\n"
    "run per thread; full-brain BOLD5000 is about 16 GB per subject, so use --mask at that size.",
};

int cmd_embed_voxels(int argc, char **argv, cli_ctx *cli)
{
    const char *bids = NULL, *trials_path = NULL, *rule_text = NULL, *mask = NULL, *output = NULL;
    int detrend = 0, zscore = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "bids", &bids, "DIR", "the BIDS dataset (required)"),
        OPT_STRING_(0, "trials", &trials_path, "FILE", "trial table from 'latentrsa scan' (default: scan DIR)"),
        OPT_STRING_(0, "volume-rule", &rule_text, "RULE", "when scanning: lag:SECONDS or stimoff (default lag:5)"),
        OPT_STRING_(0, "mask", &mask, "FILE", "keep the voxels where this NIfTI image is non-zero"),
        OPT_FLAG_(0, "detrend", &detrend, "remove each voxel's linear trend over its run"),
        OPT_FLAG_(0, "zscore-runs", &zscore, "z-score each voxel over its run (after --detrend)"),
        OPT_STRING_('o', "output", &output, "OUT.npy", "write the matrix here (required)"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &embed_voxels_usage, 0, 0, args, &nargs);
    if (status >= 0)
        return status;
    if (!bids || !*bids)
        return cli_usage_error(cli, "missing --bids DIR");
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o OUT.npy");
    if (trials_path && rule_text)
        return cli_usage_error(cli, "--volume-rule goes with a scan: with --trials the table's "
                               "volumes are used");
    if (mask && !*mask)
        return cli_usage_error(cli, "--mask needs a file name");
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_scan_opts so;
    lrsa_scan_opts_init(&so);
    if (rule_text && lrsa_volume_rule_parse(rule_text, &so.rule, &err) != LRSA_OK)
        return cli_usage_error(cli, "%s", err.msg);

    lrsa_trials *t = NULL;
    lrsa_voxel_matrix info;
    int rc;
    if (!lrsa_is_dir(bids)) {
        rc = LRSA_FAIL(&err, LRSA_ENOTFOUND, "'%s' is not a directory", bids);
        goto done;
    }
    if (trials_path)
        rc = lrsa_trials_read(trials_path, &t, &err);
    else
        rc = lrsa_bids_scan(bids, &so, &cli->lib, &t, NULL, &err);
    if (rc)
        goto done;
    lrsa_embed_voxels_opts eo;
    lrsa_embed_voxels_opts_init(&eo);
    eo.root = bids;
    eo.mask = mask;
    eo.detrend = detrend;
    eo.zscore_runs = zscore;
    eo.output = output;
    eo.trials_name = trials_path;
    if ((rc = lrsa_embed_voxels(&eo, t, &cli->lib, &info, &err)))
        goto done;
    if (info.nonfinite > 0)
        lrsa_warn(&cli->lib, "'%s' holds %lld NaN or Inf values (from the BOLD data): a mask "
                  "that leaves those voxels out avoids them", output, (long long)info.nonfinite);
    cli_note(cli, "wrote '%s': %lld trials x %lld voxels from %lld runs (%s%s%s)", output,
             (long long)info.rows, (long long)info.voxels, (long long)info.runs,
             mask ? "masked" : "all voxels", detrend ? ", detrended" : "",
             zscore ? ", z-scored per run" : "");
done:
    lrsa_trials_free(t);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
