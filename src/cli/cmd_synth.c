/* latentrsa synth: write a synthetic BOLD5000-shaped BIDS dataset with a planted signal. */
#include "cli.h"
#include "latentrsa/synth.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const synth_synopsis[] = {
    "latentrsa synth -o DIR [--subjects N] [--sessions N] [--runs N] [--trials N]\n"
    "                       [--repeated-images K] [--dims XxYxZ] [--signal PCT] [--noise PCT]\n"
    "                       [--seed S] [--image-size PX] [--force]",
    NULL
};

static const cli_usage synth_usage = {
    synth_synopsis,
    "Write a BIDS dataset in BOLD5000's layout and events.tsv schema (int16 .nii.gz runs, TR 2 s,\n"
    "an oblique affine, a localizer run per subject, a stray tmp_dcm2bids/ file), the stimulus\n"
    "images under DIR/stimuli/Scene_Stimuli/Presented_Stimuli/{COCO,ImageNet,Scene}/, and\n"
    "DIR/truth.json with the planted model, every trial and the truth RDM. Images are drawn from 5\n"
    "latent parameters; signal voxels respond linearly to them through a double-gamma HRF.\n"
    "--signal and --noise are in percent of baseline; --signal 0 writes a null dataset.\n"
    "The same options and seed give the same bytes. DIR must be empty or missing unless --force."
};

/* "24x24x16" -> dims; 0 on success. */
static int parse_dims(const char *s, int64_t dims[3])
{
    const char *p = s;
    for (int a = 0; a < 3; a++) {
        char *end;
        errno = 0;
        if (*p < '0' || *p > '9')
            return -1;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p)
            return -1;
        dims[a] = v > 100000 ? 100000 : v;
        p = end;
        if (a < 2) {
            if (*p != 'x' && *p != 'X')
                return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

int cmd_synth(int argc, char **argv, cli_ctx *cli)
{
    lrsa_synth_opts o;
    lrsa_synth_opts_init(&o);
    const char *out = NULL, *dims = NULL;
    int force = 0;
    o.repeated_images = INT64_MIN; /* not given */
    const cli_opt opts[] = {
        OPT_STRING_('o', "output", &out, "DIR", "write the dataset here (required)"),
        OPT_INT_(0, "subjects", &o.subjects, "N", "subjects sub-CSI1..N, 1 to 9 (default 4)"),
        OPT_INT_(0, "sessions", &o.sessions, "N", "sessions per subject, 1 to 20 (default 1)"),
        OPT_INT_(0, "runs", &o.runs, "N", "scene runs per session, 1 to 20 (default 2)"),
        OPT_INT_(0, "trials", &o.trials, "N", "trials per run, 1 to 200 (default 10; BOLD5000: 37)"),
        OPT_INT_(0, "repeated-images", &o.repeated_images, "K", "images shown 4 times per subject (default 2, fewer if too few trials)"),
        OPT_STRING_(0, "dims", &dims, "XxYxZ", "volume size, 8 to 256 each (default 24x24x16)"),
        OPT_DOUBLE_(0, "signal", &o.signal, "PCT", "RMS planted response, % of baseline (default 2; 0: null)"),
        OPT_DOUBLE_(0, "noise", &o.noise, "PCT", "white noise sd, % of baseline (default 1)"),
        OPT_INT_(0, "seed", &o.seed, "S", "random seed, 0 to 2^53-1 (default 1)"),
        OPT_INT_(0, "image-size", &o.image_size, "PX", "stimulus images are PX x PX, 16 to 1024 (default 64)"),
        OPT_FLAG_(0, "force", &force, "write into a non-empty DIR (same-named files are replaced)"),
        OPT_END_(),
    };
    char *args[1];   /* no positional arguments (cli_parse stores at most max_args) */
    int nargs = 0;
    int rc = cli_parse(cli, argc, argv, opts, &synth_usage, 0, 0, args, &nargs);
    if (rc >= 0)
        return rc;
    if (!out || !*out)
        return cli_usage_error(cli, "missing -o DIR");
    if (dims && parse_dims(dims, o.dims))
        return cli_usage_error(cli, "--dims needs XxYxZ (e.g. 24x24x16), got '%s'", dims);
    o.force = force;
    /* Without --repeated-images, the default 2 shrinks to what the trials can hold (4 each), so
     * tiny datasets (--trials 3) work; an explicit value is checked strictly. */
    if (o.repeated_images == INT64_MIN) {
        o.repeated_images = 2;
        if (o.sessions >= 1 && o.sessions <= 20 && o.runs >= 1 && o.runs <= 20 && o.trials >= 1 &&
            o.trials <= 200 && o.sessions * o.runs * o.trials < 8)
            o.repeated_images = o.sessions * o.runs * o.trials / 4;
    }
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_synth_opts_check(&o, &err))
        return cli_usage_error(cli, "%s", err.msg);
    lrsa_synth *s = NULL;
    if (lrsa_synth_new(&o, &s, &err) || lrsa_synth_write(s, out, &cli->lib, &err)) {
        lrsa_synth_free(s);
        return cli_report(cli, &err);
    }
    cli_note(cli, "wrote %lld subjects x %lld sessions x %lld runs of %lld trials, %lld images, to '%s'",
             (long long)o.subjects, (long long)o.sessions, (long long)o.runs, (long long)o.trials,
             (long long)lrsa_synth_nimages(s), out);
    lrsa_synth_free(s);
    return EXIT_OK;
}
