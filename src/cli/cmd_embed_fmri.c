/* latentrsa embed-fmri: the encoder output of a trained autoencoder per trial. */
#include "cli.h"
#include "latentrsa/embed_fmri.h"
#include "latentrsa/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const embed_fmri_synopsis[] = {
    "latentrsa embed-fmri --model AE.safetensors (--bids DIR [--trials trials.tsv] | --images DIR "
    "[--trials trials.tsv]) [--pool none|mean] -o OUT.npy [--volume-rule lag:SECONDS|stimoff] "
    "[--threshold T] [--canvas nilearn|square] [--interp cubic|linear] [--force]",
    NULL,
};

static const cli_usage embed_fmri_usage = {
    embed_fmri_synopsis,
    "Embed one activation image per trial with the encoder of a trained autoencoder. --bids DIR\n"
    "renders each trial (into OUT.cache/, reused later) with the render options and volume rule\n"
    "recorded in the model (options given here override them, and a disagreement is refused\n"
    "unless --force). --images DIR reads PNGs as train-ae does; the paper's file names carry only\n"
    "the stimulus stem, so give --trials to find each trial's full ImgName. OUT.npy holds one\n"
    "float32 row per image: the encoder output flattened (--pool none, the paper's code: 256x21x21\n"
    "= 112,896 values) or its mean over positions per channel (--pool mean: 256 values).\n"
    "OUT.labels.tsv says which trial each row is.",
};

static char *cache_dir_of(const char *out)
{
    size_t n = strlen(out);
    char *p = malloc(n + 8);
    if (!p)
        return NULL;
    memcpy(p, out, n + 1);
    if (n > 4 && strcmp(p + n - 4, ".npy") == 0)
        p[n - 4] = 0;
    strcat(p, ".cache");
    return p;
}

int cmd_embed_fmri(int argc, char **argv, cli_ctx *cli)
{
    const char *model = NULL, *bids = NULL, *trials_path = NULL, *images = NULL, *output = NULL;
    const char *pool = "none", *rule_text = NULL, *canvas = NULL, *interp = NULL;
    double threshold = NAN;
    int force = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "model", &model, "FILE", "the trained autoencoder (required)"),
        OPT_STRING_(0, "bids", &bids, "DIR", "BIDS dataset: render each trial and embed it"),
        OPT_STRING_(0, "trials", &trials_path, "FILE", "trial table (from 'latentrsa scan')"),
        OPT_STRING_(0, "images", &images, "DIR", "folder of rendered PNGs"),
        OPT_STRING_(0, "pool", &pool, "HOW", "none (flattened, the paper's) or mean (per channel) (default none)"),
        OPT_STRING_('o', "output", &output, "FILE", "OUT.npy (required)"),
        OPT_STRING_(0, "volume-rule", &rule_text, "RULE", "with --bids: lag:SECONDS or stimoff (default: the model's)"),
        OPT_DOUBLE_(0, "threshold", &threshold, "T", "with --bids: render threshold (default: the model's)"),
        OPT_STRING_(0, "canvas", &canvas, "KIND", "with --bids: nilearn or square (default: the model's)"),
        OPT_STRING_(0, "interp", &interp, "KIND", "with --bids: cubic or linear (default: the model's)"),
        OPT_FLAG_(0, "force", &force, "embed even if the model was trained on other images"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &embed_fmri_usage, 0, 0, args, &nargs);
    if (status >= 0)
        return status;
    if (!model || !*model)
        return cli_usage_error(cli, "missing --model AE.safetensors");
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o OUT.npy");
    if (!!bids == !!images)
        return cli_usage_error(cli, "give exactly one of --bids DIR and --images DIR");
    lrsa_embed_fmri_opts eo;
    lrsa_embed_fmri_opts_init(&eo);
    if (strcmp(pool, "none") == 0)
        eo.pool = LRSA_POOL_NONE;
    else if (strcmp(pool, "mean") == 0)
        eo.pool = LRSA_POOL_MEAN;
    else
        return cli_usage_error(cli, "--pool must be none or mean, not '%s'", pool);
    if (images && (rule_text || canvas || interp || !isnan(threshold)))
        return cli_usage_error(cli, "--volume-rule, --threshold, --canvas and --interp go with "
                               "--bids");

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_meta mmeta, expect;
    memset(&mmeta, 0, sizeof mmeta);
    memset(&expect, 0, sizeof expect);
    lrsa_imageset *set = NULL;
    lrsa_trials *trials = NULL;
    char *cache = NULL;
    lrsa_ae_config cfg;
    int rc = lrsa_train_ckpt_config(model, 672, &cfg, &mmeta, &err);
    if (rc)
        goto done;
    if (bids) {
        /* render as the model's training images were, unless told otherwise */
        lrsa_render_cache_opts rco;
        memset(&rco, 0, sizeof rco);
        lrsa_render_opts_init(&rco.render);
        rco.rule = lrsa_volume_rule_default();
        const char *v;
        if (!rule_text && (v = lrsa_meta_get(&mmeta, "volume_rule")) &&
            lrsa_volume_rule_parse(v, &rco.rule, NULL) == LRSA_OK)
            rule_text = v;
        if (rule_text && lrsa_volume_rule_parse(rule_text, &rco.rule, &err)) {
            status = cli_usage_error(cli, "%s", err.msg);
            goto out;
        }
        if (!canvas && (v = lrsa_meta_get(&mmeta, "render_canvas")) &&
            (strcmp(v, "nilearn") == 0 || strcmp(v, "square") == 0))
            canvas = v;
        if (!interp && (v = lrsa_meta_get(&mmeta, "render_interp")) &&
            (strcmp(v, "cubic") == 0 || strcmp(v, "linear") == 0))
            interp = v;
        if (isnan(threshold) && (v = lrsa_meta_get(&mmeta, "render_threshold")))
            threshold = strtod(v, NULL);
        if (!canvas || strcmp(canvas, "nilearn") == 0)
            rco.render.canvas = LRSA_CANVAS_NILEARN;
        else if (strcmp(canvas, "square") == 0)
            rco.render.canvas = LRSA_CANVAS_SQUARE;
        else {
            status = cli_usage_error(cli, "--canvas must be nilearn or square, not '%s'", canvas);
            goto out;
        }
        if (!interp || strcmp(interp, "cubic") == 0)
            rco.render.interp = LRSA_INTERP_CUBIC;
        else if (strcmp(interp, "linear") == 0)
            rco.render.interp = LRSA_INTERP_LINEAR;
        else {
            status = cli_usage_error(cli, "--interp must be cubic or linear, not '%s'", interp);
            goto out;
        }
        if (!isnan(threshold)) {
            if (!(threshold >= 0) || !isfinite(threshold)) {
                status = cli_usage_error(cli, "--threshold must be >= 0");
                goto out;
            }
            rco.render.threshold = threshold;
        }
        rco.render.size = cfg.height;
        rco.bids_dir = bids;
        rco.trials_path = trials_path;
        rco.volumes_all = 0;
        if (!(cache = cache_dir_of(output))) {
            rc = LRSA_FAIL(&err, LRSA_ENOMEM, "out of memory");
            goto done;
        }
        {   /* refuse a disagreement before rendering anything */
            char buf[64];
            lrsa_meta early;
            memset(&early, 0, sizeof early);
            lrsa_volume_rule_format(&rco.rule, buf, sizeof buf);
            rc = lrsa_meta_set(&early, "volume_rule", trials_path ? "(from the table)" : buf, &err);
            snprintf(buf, sizeof buf, "%.17g", rco.render.threshold);
            if (!rc)
                rc = lrsa_meta_set(&early, "render_threshold", buf, &err);
            if (!rc)
                rc = lrsa_meta_set(&early, "render_canvas", rco.render.canvas == LRSA_CANVAS_SQUARE
                                   ? "square" : "nilearn", &err);
            if (!rc)
                rc = lrsa_meta_set(&early, "render_interp", rco.render.interp == LRSA_INTERP_LINEAR
                                   ? "linear" : "cubic", &err);
            if (!rc)
                rc = lrsa_embed_fmri_check_meta(&mmeta, &early, model, force, NULL, &err);
            lrsa_meta_release(&early);
            if (rc)
                goto done;
        }
        if ((rc = lrsa_render_cache(&rco, cache, &cli->lib, &set, NULL, &err)) ||
            (rc = lrsa_render_cache_describe(cache, &expect, &err)))
            goto done;
    } else {
        if ((rc = lrsa_imageset_read_dir(images, &cli->lib, &set, &err)) ||
            (rc = lrsa_render_cache_describe(images, &expect, &err)))
            goto done;
        if (set->stem_only && !trials_path) {
            rc = LRSA_FAIL(&err, LRSA_EFORMAT, "'%s' has no manifest.tsv: its file names give "
                           "only the stimulus stem; give --trials trials.tsv to look up each "
                           "trial's ImgName", images);
            goto done;
        }
        if (trials_path && ((rc = lrsa_trials_read(trials_path, &trials, &err)) ||
                            (rc = lrsa_imageset_resolve(set, trials, &err))))
            goto done;
    }
    /* the size and the volume count are the model's own business, not a disagreement */
    for (int i = 0; i < expect.n; i++)
        if (strcmp(expect.key[i], "render_size") == 0 || strcmp(expect.key[i], "volumes") == 0)
            if ((rc = lrsa_meta_set(&expect, expect.key[i], "unknown", &err)))
                goto done;
    eo.model = model;
    eo.output = output;
    eo.force = force;
    eo.expect = &expect;
    int64_t rows, dim;
    if ((rc = lrsa_embed_fmri(&eo, set, &cli->lib, &rows, &dim, &err)))
        goto done;
    cli_note(cli, "wrote '%s': %lld rows x %lld (%s)", output, (long long)rows, (long long)dim,
             eo.pool == LRSA_POOL_MEAN ? "mean over positions" : "flattened encoder output");
done:
    status = rc ? cli_report(cli, &err) : EXIT_OK;
out:
    lrsa_meta_release(&mmeta);
    lrsa_meta_release(&expect);
    lrsa_imageset_free(set);
    lrsa_trials_free(trials);
    free(cache);
    return status;
}
