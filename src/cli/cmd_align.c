/* latentrsa align: pair trial-level brain rows with stimulus-level image rows by stimulus and
 * choose which subject's trials stand for each image. */
#include "cli.h"
#include "latentrsa/align.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const align_synopsis[] = {
    "latentrsa align FMRI.npy IMAGES.npy --assign quarters|per-subject|average [--seed S] -o PREFIX [--json]",
    NULL,
};

static const cli_usage align_usage = {
    align_synopsis,
    "Pair the trial rows of FMRI.npy (stimulus, subject, session, run, trial in its sidecar) with\n"
    "the stimulus rows of IMAGES.npy (subject n/a) by the 'stimulus' label, never by position, and\n"
    "write PREFIX.fmri.npy and PREFIX.images.npy (+ sidecars): the same stimuli in the canonical\n"
    "order (byte-sorted stimulus, then subject), so nothing later depends on the input row order.\n"
    "quarters (the paper): the shared stimuli are split at random (seeded) among the subjects, each\n"
    "only to a subject who saw it, as evenly as possible; the row is that subject's mean over its\n"
    "repeats. per-subject: PREFIX.<SUBJECT>.fmri.npy and .images.npy for each subject. average:\n"
    "each subject's repeats averaged, then the subjects' means. PREFIX.json reports the join\n"
    "(stimuli on both sides, shown without an image row (listed), images never shown, rows that\n"
    "are means); --json prints it on standard output.",
};

int cmd_align(int argc, char **argv, cli_ctx *cli)
{
    const char *assign_text = NULL, *prefix = NULL;
    int64_t seed = 0;
    int json = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "assign", &assign_text, "A",
                    "quarters (the paper), per-subject or average (required)"),
        OPT_INT_(0, "seed", &seed, "S", "seed of the quarters split (default: 0)"),
        OPT_STRING_('o', "output", &prefix, "PREFIX", "write PREFIX.fmri.npy, PREFIX.images.npy, PREFIX.json (required)"),
        OPT_FLAG_(0, "json", &json, "print the join report (PREFIX.json) on standard output"),
        OPT_END_(),
    };
    char *args[2];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &align_usage, 2, 2, args, &nargs);
    if (status >= 0)
        return status;
    if (!prefix || !*prefix)
        return cli_usage_error(cli, "missing -o PREFIX");
    if (!assign_text)
        return cli_usage_error(cli, "missing --assign (quarters, per-subject or average)");
    lrsa_align_opts o = { args[0], args[1], prefix, LRSA_ALIGN_QUARTERS, 0 };
    if (lrsa_align_assign_parse(assign_text, &o.assign, NULL))
        return cli_usage_error(cli, "unknown --assign '%s' (choose quarters, per-subject or average)", assign_text);
    if (seed < 0)
        return cli_usage_error(cli, "--seed needs S >= 0, got %lld", (long long)seed);
    o.seed = (uint64_t)seed;

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_align_result res;
    int rc = lrsa_align_files(&o, &res, &cli->lib, &err);
    if (rc)
        return cli_report(cli, &err);
    const lrsa_align_plan *p = &res.plan;
    if (json) {
        fputs(res.json, stdout);
    } else {
        char how[64];
        if (p->assign == LRSA_ALIGN_QUARTERS)
            snprintf(how, sizeof how, "quarters, seed %llu", (unsigned long long)p->seed);
        else
            snprintf(how, sizeof how, "%s", lrsa_align_assign_name(p->assign));
        cli_note(cli, "%lld stimuli aligned (%s): %lld trials of %lld subject%s used, %lld rows, %lld of them means of repeats",
                 (long long)p->stimuli_both, how, (long long)p->trials_used, (long long)p->nsubjects,
                 p->nsubjects == 1 ? "" : "s", (long long)p->nout, (long long)p->averaged_rows);
        cli_note(cli, "join: %lld stimuli shown, %lld image rows; %lld shown without an image row, %lld image row%s never shown",
                 (long long)p->stimuli_fmri, (long long)p->stimuli_images, (long long)p->only_fmri_count,
                 (long long)p->only_images_count, p->only_images_count == 1 ? "" : "s");
        if (res.noutputs == 2)
            cli_note(cli, "wrote '%s' and '%s' (+ labels) and '%s.json'", res.outputs[0], res.outputs[1], prefix);
        else
            cli_note(cli, "wrote %lld matrices ('%s', ...) (+ labels) and '%s.json'", (long long)res.noutputs,
                     res.outputs[0], prefix);
    }
    lrsa_align_result_release(&res);
    return EXIT_OK;
}
