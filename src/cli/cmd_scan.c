/* latentrsa scan: find the trials of a BIDS/BOLD5000 dataset and write the trial table. */
#include "cli.h"
#include "latentrsa/bids.h"

#include <string.h>

static const char *const scan_synopsis[] = {
    "latentrsa scan BIDS_DIR [--task TASK] [--volume-rule lag:SECONDS|stimoff] [--verify] [-o FILE]",
    NULL,
};

static const cli_usage scan_usage = {
    scan_synopsis,
    "Find sub-*/ses-*/func/sub-*_ses-*_task-TASK_run-*_bold.nii.gz (or the flattened\n"
    "sub-*/ses-*/*_bold.nii.gz) with their _events.tsv, read each BOLD header for TR and\n"
    "volumes, and write one row per trial (subject session run trial stimulus img_type onset\n"
    "stim_off tr volume bold), ordered by subject, session, run and trial. The table goes to\n"
    "standard output unless -o is given; a summary goes to standard error.\n"
    "Volume rules: lag:S picks floor((onset + S) / TR + 0.5) (default lag:5, near the\n"
    "haemodynamic peak); stimoff is the paper's floor(StimOff / TR), which on BOLD5000 picks\n"
    "a volume acquired 0-2 s after the image appeared, before the BOLD response rises.",
};

int cmd_scan(int argc, char **argv, cli_ctx *cli)
{
    const char *task = "5000scenes", *rule_text = "lag:5", *output = NULL;
    int verify = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "task", &task, "TASK", "task label without 'task-' (default: 5000scenes)"),
        OPT_STRING_(0, "volume-rule", &rule_text, "RULE",
                    "lag:SECONDS or stimoff (the paper's rule); default: lag:5"),
        OPT_FLAG_(0, "verify", &verify, "decompress every run completely to find truncated files"),
        OPT_STRING_('o', "output", &output, "FILE", "write the table here (default: standard output)"),
        OPT_END_(),
    };
    char *args[4];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &scan_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_scan_opts so;
    lrsa_scan_opts_init(&so);
    if (lrsa_volume_rule_parse(rule_text, &so.rule, &err) != LRSA_OK)
        return cli_usage_error(cli, "%s", err.msg);
    if (!*task || strpbrk(task, "_-/"))
        return cli_usage_error(cli, "task label '%s' must be non-empty without '_', '-' or '/'", task);
    so.task = task;
    so.verify = verify;

    lrsa_trials *t = NULL;
    lrsa_scan_summary sum;
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    int rc = lrsa_bids_scan(args[0], &so, &cli->lib, &t, &sum, &err);
    if (rc)
        goto done;
    if (output) {
        if ((rc = lrsa_outfile_open(&of, output, &err)) ||
            (rc = lrsa_trials_write(of.fp, t, output, &err)) ||
            (rc = lrsa_outfile_commit(&of, &err)))
            goto done;
    } else if ((rc = lrsa_trials_write(stdout, t, "standard output", &err))) {
        goto done;
    }
    char rule[64];
    lrsa_volume_rule_format(&so.rule, rule, sizeof rule);
    cli_note(cli, "%lld subjects, %lld sessions, %lld runs, %lld trials, %lld unique stimuli, "
             "%lld repeated stimuli (shown more than once to a subject); volume rule %s",
             (long long)sum.subjects, (long long)sum.sessions, (long long)sum.runs,
             (long long)sum.trials, (long long)sum.stimuli, (long long)sum.repeated, rule);
done:
    lrsa_outfile_abort(&of);
    lrsa_trials_free(t);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
