/* latentrsa train-ae: train the paper's convolutional autoencoder on activation images. */
#include "cli.h"
#include "latentrsa/image.h"
#include "latentrsa/train.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const train_synopsis[] = {
    "latentrsa train-ae (--bids DIR [--trials trials.tsv] [--volumes trials|all] | --images DIR) "
    "-o AE.safetensors [--size 672] [--epochs 100] [--batch 512] [--lr 1e-3] "
    "[--weight-decay 1e-5] [--patience 10] [--early-stop epoch-mean|last-batch|test] "
    "[--train-subjects CSI1,CSI2,CSI3] [--test-subjects CSI4] [--channels 16,32,64,128,256] "
    "[--init FILE] [--no-shuffle] [--seed S] [--resume] [--dry-run] [--preset paper] "
    "[--volume-rule lag:SECONDS|stimoff] [--threshold 100] [--canvas nilearn|square] "
    "[--interp cubic|linear] [--memory-budget MIB] [--force]",
    NULL,
};

static const cli_usage train_usage = {
    train_synopsis,
    "Train the paper's convolutional autoencoder (Conv2d stride 2 + ReLU down through --channels,\n"
    "ConvTranspose2d back, Sigmoid; MSE loss; Adam) on activation images. --images DIR reads PNGs:\n"
    "ours (labels from DIR/manifest.tsv) or the paper's renders (subject from a whole sub-<label>\n"
    "path component). --bids DIR renders the trials (or, with --volumes all, every volume) into\n"
    "a PNG cache beside the output (AE.cache/, reused by later runs). Images are resized to\n"
    "--size if needed and scaled to [0,1] as torchvision's ToTensor. Subjects in --test-subjects\n"
    "(default CSI4, 'none' for no test set) are held out; the others train. Before training the\n"
    "plan is printed (images, steps per epoch, measured images/s, estimated time; --dry-run stops\n"
    "there). After every epoch AE.safetensors (PyTorch state_dict names), AE.state.safetensors\n"
    "(Adam state, for --resume), AE.json (losses as per-pixel MSE) and AE.loss.png are written\n"
    "atomically; at the end AE.recon.png shows test originals above their reconstructions.\n"
    "--preset paper: --volumes all --volume-rule stimoff --early-stop last-batch.",
};

/* "16,32,64" -> cfg channels and depth; -1 on a bad list. */
static int parse_channels(const char *s, lrsa_ae_config *cfg)
{
    int depth = 0;
    while (*s) {
        char *end;
        if (!isdigit((unsigned char)*s) || depth == LRSA_AE_MAX_DEPTH)
            return -1;
        long long v = strtoll(s, &end, 10);
        if (v < 1 || v > 65536 || (*end != ',' && *end != 0))
            return -1;
        cfg->channels[depth++] = v;
        s = *end ? end + 1 : end;
        if (*end == ',' && !*s)
            return -1;
    }
    if (depth == 0)
        return -1;
    cfg->depth = depth;
    return 0;
}

static char *join_args(int argc, char **argv)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int rc = lrsa_strbuf_adds(&sb, "latentrsa", NULL);
    for (int i = 0; !rc && i < argc; i++)
        rc = lrsa_strbuf_addf(&sb, NULL, " %s", argv[i]);
    if (rc) {
        lrsa_strbuf_release(&sb);
        return NULL;
    }
    return lrsa_strbuf_detach(&sb, NULL);
}

int cmd_train_ae(int argc, char **argv, cli_ctx *cli)
{
    const char *bids = NULL, *trials_path = NULL, *volumes = NULL, *images = NULL, *output = NULL;
    const char *early = NULL, *train_subjects = NULL, *test_subjects = "CSI4";
    const char *channels = "16,32,64,128,256", *init = NULL, *preset = NULL, *rule_text = NULL;
    const char *canvas = "nilearn", *interp = "cubic";
    int64_t size = 672, epochs = 100, batch = 512, patience = 10, seed = 0, budget_mib = 0;
    double lr = 1e-3, wd = 1e-5, threshold = 100.0;
    int no_shuffle = 0, resume = 0, dry_run = 0, force = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "bids", &bids, "DIR", "BIDS dataset to render and train on"),
        OPT_STRING_(0, "trials", &trials_path, "FILE", "trial table from 'latentrsa scan' (with --bids)"),
        OPT_STRING_(0, "volumes", &volumes, "WHICH", "trials (one image per trial) or all (every volume) (default trials)"),
        OPT_STRING_(0, "images", &images, "DIR", "folder of PNG activation images"),
        OPT_STRING_('o', "output", &output, "FILE", "the model, AE.safetensors (required)"),
        OPT_INT_(0, "size", &size, "N", "image side in pixels (default 672)"),
        OPT_INT_(0, "epochs", &epochs, "N", "epochs (default 100)"),
        OPT_INT_(0, "batch", &batch, "N", "images per optimiser step (default 512)"),
        OPT_DOUBLE_(0, "lr", &lr, "X", "Adam learning rate (default 1e-3)"),
        OPT_DOUBLE_(0, "weight-decay", &wd, "X", "Adam L2 weight decay (default 1e-5)"),
        OPT_INT_(0, "patience", &patience, "N", "stop after N epochs without improvement; 0 never (default 10)"),
        OPT_STRING_(0, "early-stop", &early, "WHAT", "epoch-mean, last-batch or test (default epoch-mean)"),
        OPT_STRING_(0, "train-subjects", &train_subjects, "LIST", "subjects to train on (default: all not in --test-subjects)"),
        OPT_STRING_(0, "test-subjects", &test_subjects, "LIST", "held-out subjects, or none (default CSI4)"),
        OPT_STRING_(0, "channels", &channels, "LIST", "encoder widths (default 16,32,64,128,256)"),
        OPT_STRING_(0, "init", &init, "FILE", "start from these weights (safetensors, PyTorch names)"),
        OPT_FLAG_(0, "no-shuffle", &no_shuffle, "keep the image order (default: shuffled per epoch)"),
        OPT_INT_(0, "seed", &seed, "S", "seed for initialisation and shuffling (default 0)"),
        OPT_FLAG_(0, "resume", &resume, "continue from AE.state.safetensors"),
        OPT_FLAG_(0, "dry-run", &dry_run, "print the plan and stop"),
        OPT_STRING_(0, "preset", &preset, "NAME", "paper: the paper's choices"),
        OPT_STRING_(0, "volume-rule", &rule_text, "RULE", "with --bids, when scanning: lag:SECONDS or stimoff (default lag:5)"),
        OPT_DOUBLE_(0, "threshold", &threshold, "T", "with --bids: render threshold (default 100)"),
        OPT_STRING_(0, "canvas", &canvas, "KIND", "with --bids: nilearn or square (default nilearn)"),
        OPT_STRING_(0, "interp", &interp, "KIND", "with --bids: cubic or linear (default cubic)"),
        OPT_INT_(0, "memory-budget", &budget_mib, "MIB", "memory for the model and activations (default: half of free memory)"),
        OPT_FLAG_(0, "force", &force, "use an --init file whose metadata disagrees with the options"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &train_usage, 0, 0, args, &nargs);
    if (status >= 0)
        return status;
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o AE.safetensors");
    if (!!bids == !!images)
        return cli_usage_error(cli, "give exactly one of --bids DIR and --images DIR");
    if (preset && strcmp(preset, "paper") != 0)
        return cli_usage_error(cli, "--preset must be paper, not '%s'", preset);
    int paper = preset != NULL;
    if (!volumes)
        volumes = paper ? "all" : "trials";
    if (!rule_text)
        rule_text = paper ? "stimoff" : "lag:5";
    if (!early)
        early = paper ? "last-batch" : "epoch-mean";
    if (images && (strcmp(volumes, "trials") != 0 || trials_path) && !paper)
        return cli_usage_error(cli, "--volumes and --trials go with --bids");
    int all;
    if (strcmp(volumes, "trials") == 0)
        all = 0;
    else if (strcmp(volumes, "all") == 0)
        all = 1;
    else
        return cli_usage_error(cli, "--volumes must be trials or all, not '%s'", volumes);

    lrsa_train_opts o;
    lrsa_train_opts_init(&o);
    o.cfg.height = o.cfg.width = size;
    if (parse_channels(channels, &o.cfg))
        return cli_usage_error(cli, "--channels must be 1 to %d comma-separated widths, not '%s'",
                               LRSA_AE_MAX_DEPTH, channels);
    lrsa_err err;
    lrsa_err_init(&err);
    if (size < 1 || lrsa_ae_config_check(&o.cfg, &err))
        return cli_usage_error(cli, "--size %lld does not fit %d layers: it must be a multiple of "
                               "2^%d = %lld", (long long)size, o.cfg.depth, o.cfg.depth,
                               (long long)1 << o.cfg.depth);
    if (epochs < 0 || batch < 1 || patience < 0 || !(lr > 0) || !isfinite(lr) || !(wd >= 0) ||
        !isfinite(wd) || seed < 0 || budget_mib < 0)
        return cli_usage_error(cli, "--epochs, --patience, --weight-decay must be >= 0, --batch "
                               ">= 1, --lr > 0, --seed >= 0");
    if ((o.early_stop = lrsa_early_stop_parse(early)) < 0)
        return cli_usage_error(cli, "--early-stop must be epoch-mean, last-batch or test, not '%s'",
                               early);
    lrsa_render_cache_opts rco;
    memset(&rco, 0, sizeof rco);
    lrsa_render_opts_init(&rco.render);
    if (strcmp(canvas, "nilearn") == 0)
        rco.render.canvas = LRSA_CANVAS_NILEARN;
    else if (strcmp(canvas, "square") == 0)
        rco.render.canvas = LRSA_CANVAS_SQUARE;
    else
        return cli_usage_error(cli, "--canvas must be nilearn or square, not '%s'", canvas);
    if (strcmp(interp, "cubic") == 0)
        rco.render.interp = LRSA_INTERP_CUBIC;
    else if (strcmp(interp, "linear") == 0)
        rco.render.interp = LRSA_INTERP_LINEAR;
    else
        return cli_usage_error(cli, "--interp must be cubic or linear, not '%s'", interp);
    if (!(threshold >= 0) || !isfinite(threshold))
        return cli_usage_error(cli, "--threshold must be >= 0");
    rco.render.threshold = threshold;
    rco.render.size = size;
    if (lrsa_volume_rule_parse(rule_text, &rco.rule, &err))
        return cli_usage_error(cli, "%s", err.msg);
    rco.bids_dir = bids;
    rco.trials_path = trials_path;
    rco.volumes_all = all;

    o.epochs = epochs;
    o.batch = batch;
    o.adam.lr = (float)lr;
    o.adam.weight_decay = (float)wd;
    o.patience = patience;
    o.seed = (uint64_t)seed;
    o.shuffle = !no_shuffle;
    o.output = output;
    o.init_path = init;
    o.resume = resume;
    o.force = force;
    o.dry_run = dry_run;
    o.memory_budget = (size_t)budget_mib << 20;
    const char *stop = getenv("LRSA_TRAIN_STOP_AFTER_STEPS");
    if (stop && *stop)
        o.stop_after_steps = atoll(stop);

    lrsa_imageset *set = NULL, *train = NULL, *test = NULL;
    lrsa_trials *trials = NULL;
    lrsa_meta meta;
    memset(&meta, 0, sizeof meta);
    char *cache = NULL, *cmdline = join_args(argc, argv);
    o.command_line = cmdline;
    int rc;
    if (bids) {
        if ((rc = lrsa_train_companion(output, ".cache", &cache, &err)))
            goto done;
        rc = lrsa_render_cache(&rco, cache, &cli->lib, &set, NULL, &err);
    } else {
        rc = lrsa_imageset_read_dir(images, &cli->lib, &set, &err);
        if (!rc && trials_path) {
            if (!(rc = lrsa_trials_read(trials_path, &trials, &err)))
                rc = lrsa_imageset_resolve(set, trials, &err);
        }
    }
    if (rc)
        goto done;
    if ((rc = lrsa_imageset_split(set, train_subjects, test_subjects, &train, &test, &err))) {
        if (rc == LRSA_EMISUSE) {
            status = cli_usage_error(cli, "%s", err.msg);
            goto out;
        }
        goto done;
    }
    if (train->n == 0) {
        rc = LRSA_FAIL(&err, LRSA_EEMPTY, "no training image: none of the %lld images in '%s' "
                       "belongs to the training subjects (%s)", (long long)set->n,
                       bids ? cache : images,
                       train_subjects ? train_subjects : "all but the test subjects");
        goto done;
    }
    if (test->n == 0 && test_subjects && *test_subjects && strcmp(test_subjects, "none") != 0)
        lrsa_warn(&cli->lib, "no image of the test subjects (%s): no test loss", test_subjects);
    /* where the images came from, for the checkpoint's metadata */
    {
        int64_t nw = 0, nh = 0;
        uint8_t *rgb = malloc((size_t)(size * size * 3));
        if (!rgb) {
            rc = LRSA_FAIL(&err, LRSA_ENOMEM, "out of memory");
            goto done;
        }
        rc = lrsa_train_read_rgb(train->paths[0], size, rgb, &nw, &nh, &err);
        free(rgb);
        if (rc)
            goto done;
        char buf[64];
        if ((rc = lrsa_meta_set(&meta, "image_source", bids ? "bids" : "images", &err)) ||
            (rc = lrsa_render_cache_describe(bids ? cache : images, &meta, &err)))
            goto done;
        snprintf(buf, sizeof buf, "%lld", (long long)nw);
        if ((rc = lrsa_meta_set(&meta, "image_width", buf, &err)))
            goto done;
        snprintf(buf, sizeof buf, "%lld", (long long)nh);
        if ((rc = lrsa_meta_set(&meta, "image_height", buf, &err)) ||
            (rc = lrsa_meta_set(&meta, "train_subjects",
                                train_subjects ? train_subjects : "all but the test subjects",
                                &err)) ||
            (rc = lrsa_meta_set(&meta, "test_subjects",
                                test_subjects && *test_subjects ? test_subjects : "none", &err)))
            goto done;
    }
    o.meta = &meta;
    lrsa_train_plan plan;
    lrsa_train_result res;
    if ((rc = lrsa_train_ae(&o, train, test, &cli->lib, &plan, &res, &err)))
        goto done;
    if (dry_run)
        cli_note(cli, "dry run: nothing written%s", bids ? " (the render cache is kept)" : "");
    else
        cli_note(cli, "wrote '%s': %lld epochs%s, best epoch %lld", output,
                 (long long)res.epochs_done, res.stopped_early ? " (stopped early)" : "",
                 (long long)res.best_epoch);
done:
    status = rc ? cli_report(cli, &err) : EXIT_OK;
out:
    lrsa_meta_release(&meta);
    lrsa_imageset_free(set);
    lrsa_imageset_free(train);
    lrsa_imageset_free(test);
    lrsa_trials_free(trials);
    free(cache);
    free(cmdline);
    return status;
}
