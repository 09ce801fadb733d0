/* latentrsa demo: a small synthetic BOLD5000-shaped dataset with a planted signal, and the study
 * run on it with the default preset at a size that takes minutes on 2 cores (docs/cli/demo.md). */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_study_main(int argc, char **argv, cli_ctx *cli, const char *const *fixed);

static const char *const demo_synopsis[] = {
    "latentrsa demo [-o OUT] [--signal PCT] [--seed S] [--vit-config base|tiny]",
    NULL,
};

static const cli_usage demo_usage = {
    demo_synopsis,
    "Synthesise a BOLD5000-shaped dataset (4 subjects, 2 runs of 23 trials each, 24x24x16 voxels,\n"
    "a planted signal) in OUT/data, then run the study on it with --preset default at demo size\n"
    "(64x64 square renders, a two-layer autoencoder for 3 epochs, random ViT weights, 999\n"
    "permutations) into OUT/study, and print the headline and where the report is. Default OUT:\n"
    "latentrsa-demo. A second run reuses what is there.",
};

/* The demo's study options: small and quick, every other choice the default preset's. */
static const char *const demo_options[] = {
    "size", "64", "canvas", "square", "channels", "16,32", "epochs", "3", "batch", "32",
    "permutations", "999", "bootstrap", "999", NULL,
};

int cmd_demo(int argc, char **argv, cli_ctx *cli)
{
    const char *out = "latentrsa-demo", *signal = "2", *seed = "1", *vit_config = "base";
    const cli_opt opts[] = {
        OPT_STRING_('o', "output", &out, "OUT", "the demo folder (default latentrsa-demo)"),
        OPT_STRING_(0, "signal", &signal, "PCT", "planted signal in percent of baseline (default 2; 0: none)"),
        OPT_STRING_(0, "seed", &seed, "S", "seed of the synthetic data (default 1)"),
        OPT_STRING_(0, "vit-config", &vit_config, "C", "random ViT weights of this config (default base)"),
        OPT_END_(),
    };
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &demo_usage, 0, 0, NULL, &nargs);
    if (status >= 0)
        return status;
    char self[4096];
    if (run_self_path(self, sizeof self) != 0) {
        cli_error(cli, "cannot find this executable (/proc/self/exe)");
        return EXIT_FAILURE_;
    }
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_mkdir_p(out, &err))
        return cli_report(cli, &err);
    char data[4096], truth[4200], study[4096], stimuli[4200];
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(truth, sizeof truth, "%s/truth.json", data);
    snprintf(study, sizeof study, "%s/study", out);
    snprintf(stimuli, sizeof stimuli, "%s/stimuli", data);

    /* The data: made once; a second demo reuses it (and the study's cache). Options changed on
     * the command line make a fresh copy. */
    char stamp_path[4200], stamp[256];
    snprintf(stamp_path, sizeof stamp_path, "%s/demo-data.txt", out);
    snprintf(stamp, sizeof stamp, "signal %s seed %s\n", signal, seed);
    char *old = NULL;
    size_t len = 0;
    int same = lrsa_is_file(truth) && !lrsa_read_file(stamp_path, 4096, &old, &len, NULL) && strcmp(old, stamp) == 0;
    free(old);
    if (!same) {
        cli_note(cli, "synthesising the dataset in '%s' (signal %s%%, seed %s)", data, signal, seed);
        char *sargv[] = { "latentrsa", "synth", "-o", data, "--force", "--subjects", "4", "--sessions", "1",
                          "--runs", "2", "--trials", "23", "--signal", (char *)signal, "--seed", (char *)seed,
                          "--image-size", "64", "-q", NULL };
        int st = 0;
        if (run_child(self, ".", sargv, NULL, &st) != 0 || st != 0) {
            cli_error(cli, "synth failed (exit status %d)", st);
            return st ? st : EXIT_FAILURE_;
        }
        FILE *fp = fopen(stamp_path, "w");
        if (fp) {
            fputs(stamp, fp);
            fclose(fp);
        }
    }
    char *rargv[16];
    int n = 0;
    rargv[n++] = "run";
    rargv[n++] = "--bids";
    rargv[n++] = data;
    rargv[n++] = "--stimuli";
    rargv[n++] = stimuli;
    rargv[n++] = "-o";
    rargv[n++] = study;
    rargv[n++] = "--random-vit";
    rargv[n++] = (char *)vit_config;
    if (cli->threads > 0) {
        static char threads[32];
        snprintf(threads, sizeof threads, "--threads=%d", cli->threads);
        rargv[n++] = threads;
    }
    if (cli->quiet)
        rargv[n++] = "-q";
    rargv[n] = NULL;
    return run_study_main(n, rargv, cli, demo_options);
}
