/* latentrsa run: the whole study in one command (docs/cli/run.md). The work is in run_*.c. */
#include "run_study.h"

#include <stdlib.h>
#include <string.h>

static const char *const run_synopsis[] = {
    "latentrsa run --bids DIR --stimuli DIR [--vit DIR] [--ae AE.safetensors] -o OUT [--preset paper|default] "
    "[--config FILE.json] [--dry-run] [--allow-missing] [--force] [any study option]",
    NULL,
};

static const cli_usage run_usage = {
    run_synopsis,
    "Run the study: scan -> render -> train-ae (or --ae) -> embed-fmri, embed-voxels -> embed-images\n"
    "-> align -> reduce -> rdm -> compare -> report. Each stage is one latentrsa command run in OUT\n"
    "(OUT/run.json records each command) and is reused when its inputs and options are unchanged.\n"
    "Without --vit the image side uses random ViT weights (vit-init) and every output says so.\n"
    "--preset paper is the paper's study (docs/paper-preset.md); options given here or in --config\n"
    "(a JSON object of the same names) override the preset. --dry-run prints the stages, data sizes\n"
    "and an estimated time, and stops. See docs/cli/run.md.",
};

/* Shared with `latentrsa demo`: parse and run a study. fixed holds options the caller forces
 * before the command line is read (name, value pairs; NULL-terminated), or NULL. */
int run_study_main(int argc, char **argv, cli_ctx *cli, const char *const *fixed);

int run_study_main(int argc, char **argv, cli_ctx *cli, const char *const *fixed)
{
    const char *bids = NULL, *stimuli = NULL, *vit = NULL, *ae = NULL, *out = NULL;
    const char *preset = "default", *config = NULL;
    int dry_run = 0, allow_missing = 0, force = 0;
    const char *vals[64] = { 0 };
    cli_opt opts[96];
    int n = 0;
    opts[n++] = (cli_opt)OPT_STRING_(0, "bids", &bids, "DIR", "the BIDS dataset (BOLD5000 layout) (required)");
    opts[n++] = (cli_opt)OPT_STRING_(0, "stimuli", &stimuli, "DIR", "folder holding the stimulus images, searched recursively (required)");
    opts[n++] = (cli_opt)OPT_STRING_(0, "vit", &vit, "DIR", "Hugging Face ViT directory (default: random weights)");
    opts[n++] = (cli_opt)OPT_STRING_(0, "ae", &ae, "FILE", "a trained autoencoder: skip render and train-ae");
    opts[n++] = (cli_opt)OPT_STRING_('o', "output", &out, "OUT", "the study folder (required)");
    opts[n++] = (cli_opt)OPT_STRING_(0, "preset", &preset, "P", "default (ours) or paper");
    opts[n++] = (cli_opt)OPT_STRING_(0, "config", &config, "FILE.json", "option values as a JSON object");
    opts[n++] = (cli_opt)OPT_FLAG_(0, "dry-run", &dry_run, "print the stages, sizes and time; write nothing");
    opts[n++] = (cli_opt)OPT_FLAG_(0, "allow-missing", &allow_missing, "go on when some shown stimuli have no image file");
    opts[n++] = (cli_opt)OPT_FLAG_(0, "force", &force, "use an output folder that holds other files; ignore its cache");
    for (int i = 0; i < study_nopts; i++)
        opts[n++] = (cli_opt)OPT_STRING_(0, study_opts[i].name, &vals[i], study_opts[i].arg, study_opts[i].help);
    opts[n] = (cli_opt)OPT_END_();

    /* Options the caller fixed come first, so the command line still wins. */
    for (int k = 0; fixed && fixed[k]; k += 2)
        for (int i = 0; i < study_nopts; i++)
            if (strcmp(study_opts[i].name, fixed[k]) == 0)
                vals[i] = fixed[k + 1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &run_usage, 0, 0, NULL, &nargs);
    if (status >= 0)
        return status;
    if (!bids || !stimuli || !out)
        return cli_usage_error(cli, "missing %s", !bids ? "--bids DIR" : !stimuli ? "--stimuli DIR" : "-o OUT");

    study s;
    memset(&s, 0, sizeof s);
    s.cli = cli;
    s.dry_run = dry_run;
    s.allow_missing = allow_missing;
    s.force = force;
    if (run_self_path(s.self, sizeof s.self) != 0) {
        cli_error(cli, "cannot find this executable (/proc/self/exe)");
        return EXIT_FAILURE_;
    }
    lrsa_strbuf cmd;
    lrsa_strbuf_init(&cmd);
    lrsa_strbuf_adds(&cmd, "latentrsa", NULL);
    for (int i = 0; i < argc; i++) {
        lrsa_strbuf_adds(&cmd, " ", NULL);
        lrsa_strbuf_adds(&cmd, i == 0 ? cli->cmd : argv[i], NULL);
    }
    s.command = lrsa_strbuf_detach(&cmd, NULL);

    if ((status = study_resolve(&s, vals, preset, config)) < 0 &&
        (status = study_prepare(&s, bids, stimuli, vit, ae, out)) < 0) {
        if (s.random_vit)
            study_warn(&s, "%s", "no --vit: the image side uses RANDOM ViT weights (vit-init); the numbers are a "
                       "pipeline check, not a finding");
        status = study_execute(&s);
        if (status == EXIT_OK && !dry_run && !cli->quiet)
            study_print_headline(&s);
    }
    study_free(&s);
    return status;
}

int cmd_run(int argc, char **argv, cli_ctx *cli)
{
    return run_study_main(argc, argv, cli, NULL);
}
