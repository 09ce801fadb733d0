/*
 * The study: its options, the plan of stages, and its execution (run_study.c, run_plan.c,
 * run_results.c). Private to src/cli; `latentrsa run` and `latentrsa demo` are thin fronts.
 */
#ifndef LATENTRSA_CLI_RUN_STUDY_H
#define LATENTRSA_CLI_RUN_STUDY_H

#include "run.h"
#include "latentrsa/bids.h"

#include <limits.h>

/* ===== Options ========================================================= */
/* Every study option is a string, set (in order of precedence) on the command line, in a
 * --config JSON file, or by the preset. NULL: not set (the stage command's own default). */
typedef struct study_opt {
    const char *name;      /* command-line long name and config key */
    const char *ours;      /* --preset default */
    const char *paper;     /* --preset paper */
    const char *arg;       /* for help */
    const char *help;
} study_opt;

extern const study_opt study_opts[];
extern const int study_nopts;

/* ===== The study ======================================================= */
#define STUDY_MAX_ARGS 64

typedef struct study_stage {
    char name[96];
    char *argv[STUDY_MAX_ARGS];  /* argv[0] = "latentrsa"; NULL-terminated */
    int argc;
    char *stdout_path;           /* relative to OUT (or absolute, e.g. /dev/null), or NULL; owned */
    char *outputs[8];            /* relative to OUT: all must exist for the cache to hold */
    int noutputs;
    uint64_t key;
    int always;                  /* never reused (results.json, the report) */
    char status[8];              /* "ran", "cached" */
    double seconds;
} study_stage;

typedef struct study {
    cli_ctx *cli;
    char self[PATH_MAX];
    const char *values[64];      /* resolved options, indexed as study_opts */
    const char *origin[64];      /* "command line", "config", "preset", NULL */
    char *config_values[64];     /* owned copies of the values read from --config */
    const char *preset;          /* "default" or "paper" */
    char *command;               /* the command line, for the records */
    char *out, *bids, *stimuli;  /* absolute */
    char *vit, *ae, *mask;       /* absolute or NULL */
    int dry_run, allow_missing, force, random_vit;
    lrsa_trials *trials;         /* in-process scan of the main rule (sizes, subjects) */
    char **subjects;             /* distinct subjects, natural order */
    int nsubjects;
    int64_t nstimuli_shown, nruns, nvolumes_all;
    char **stim_paths;           /* the shown stimuli's image files, sorted by stimulus */
    int64_t nstim_paths;
    int64_t nmissing;
    cJSON *cache;                /* run.json "stages": name -> {key, outputs, ...} */
    cJSON *warnings;             /* array of strings */
    study_stage *stages;         /* executed/planned, in order */
    int nstages, capstages;
    uint64_t bids_fp, stimuli_fp, vit_fp;
    fp_stats bids_stats, stimuli_stats;
    double estimate_s;           /* dry-run estimate */
} study;

/* Resolve options from the command line values (cli_vals[i] for study_opts[i], NULL if not
 * given), the preset and the config file. Returns -1 to go on or an exit status. */
int study_resolve(study *s, const char *const *cli_vals, const char *preset, const char *config);
const char *study_get(const study *s, const char *name);
int study_on(const study *s, const char *name);   /* value "on" */

/* Prepare: absolute paths, in-process scan, stimulus files, output folder checks. */
int study_prepare(study *s, const char *bids, const char *stimuli, const char *vit,
                  const char *ae, const char *out);
/* Plan and run (or with dry_run print) every stage, then results.json and the report. */
int study_execute(study *s);
/* ===== Stage machinery (run_study.c) =================================== */
/* A new stage named by fmt; its argv starts with "latentrsa". */
study_stage *study_stage_new(study *s, const char *fmt, ...) LRSA_PRINTF(2, 3);
void stage_arg(study_stage *st, const char *fmt, ...) LRSA_PRINTF(2, 3);
void stage_opt(study_stage *st, const char *flag, const char *value);   /* skipped if NULL */
void stage_output(study_stage *st, const char *fmt, ...) LRSA_PRINTF(2, 3);
void stage_depends(study_stage *st, uint64_t key);   /* mix an input's key or fingerprint in */
uint64_t study_key(const study *s, const char *name);
/* Run a command stage (or reuse it, or print it in a dry run). estimate_s: for the dry run.
 * Returns -1 to go on or an exit status. */
int study_stage_run(study *s, study_stage *st, double estimate_s);
/* An in-process stage. */
int study_stage_do(study *s, study_stage *st, int (*fn)(study *s, study_stage *st, lrsa_err *err));
int study_finish_record(study *s);
void study_warn(study *s, const char *fmt, ...) LRSA_PRINTF(2, 3);

/* The lag sweep's volume rules, and each one's folder under lags/ (lag:5 -> lag-5). */
extern const char *const study_lag_rules[];
extern const int study_nlag_rules;
void study_rule_dir(const char *rule, char *buf, size_t cap);
/* --components for one side (0: fMRI and the voxel baseline, 1: images) into buf, or NULL when
 * the option is not set (reduce to --variance). "K" serves both sides, "K_FMRI,K_IMAGES" each. */
const char *study_components(const study *s, int side, char buf[32]);

/* results.json from the stage outputs (run_results.c). */
int study_write_results(study *s, lrsa_err *err);
/* The one-paragraph headline of OUT/results.json on stdout. */
void study_print_headline(const study *s);
void study_free(study *s);

#endif
