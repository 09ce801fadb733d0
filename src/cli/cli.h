/*
 * The command-line layer: the only code that sees argv, prints to stdout/stderr, or picks an
 * exit status. Each command is `int cmd_<name>(int argc, char **argv, cli_ctx *cli)` in
 * src/cli/cmd_<name>.c, listed once in the table in main.c.
 *
 * Exit statuses (docs/exit-codes.md): 0 ok, 1 failure, 2 usage error, 3 invalid input data.
 */
#ifndef LATENTRSA_CLI_H
#define LATENTRSA_CLI_H

#include "latentrsa/core.h"

enum { EXIT_OK = 0, EXIT_FAILURE_ = 1, EXIT_USAGE = 2, EXIT_INVALID = 3 };

typedef struct cli_ctx {
    const char *cmd;      /* command name, for messages */
    lrsa_ctx lib;         /* logging/progress hooks handed to the library */
    int quiet, verbose;
    int threads;
} cli_ctx;

/* ===== Options ========================================================= */
typedef enum { OPT_FLAG, OPT_INT, OPT_DOUBLE, OPT_STRING, OPT_END } cli_opt_type;

typedef struct cli_opt {
    cli_opt_type type;
    char short_name;      /* 0 if none */
    const char *long_name;/* without the dashes */
    void *value;          /* int*, int64_t* (OPT_INT), double*, const char** */
    const char *argname;  /* shown in help, e.g. "N" */
    const char *help;
} cli_opt;

#define OPT_FLAG_(s, l, v, h) { OPT_FLAG, (s), (l), (v), NULL, (h) }
#define OPT_INT_(s, l, v, a, h) { OPT_INT, (s), (l), (v), (a), (h) }
#define OPT_DOUBLE_(s, l, v, a, h) { OPT_DOUBLE, (s), (l), (v), (a), (h) }
#define OPT_STRING_(s, l, v, a, h) { OPT_STRING, (s), (l), (v), (a), (h) }
#define OPT_END_() { OPT_END, 0, NULL, NULL, NULL, NULL }

/* A command's help: synopsis lines and a one-paragraph description. */
typedef struct cli_usage {
    const char *const *synopsis; /* NULL-terminated, each "latentrsa cmd ..." */
    const char *description;
} cli_usage;

/* Parse argv[1..] (argv[0] is the command name). Options may come before or after positional
 * arguments; "--" ends options. The common options (-h, --threads, -q, -v) are always accepted.
 * OPT_INT values are int64_t. Positional arguments are gathered into args (pointers into argv),
 * *nargs of them; the count must lie in [min_args, max_args] (max -1: no limit). args must hold
 * max_args pointers (argc when max_args is -1).
 * Returns -1 to go on, or an exit status to return now (0 after -h, 2 on a usage error, with
 * the message printed). */
int cli_parse(cli_ctx *cli, int argc, char **argv, const cli_opt *opts, const cli_usage *usage,
              int min_args, int max_args, char **args, int *nargs);
void cli_print_help(FILE *fp, const char *cmd, const cli_opt *opts, const cli_usage *usage);

/* ===== Messages ======================================================== */
/* "latentrsa <cmd>: error: <msg>" on stderr. Returns the exit status for the error's code. */
int cli_report(const cli_ctx *cli, const lrsa_err *err);
int cli_exit_status(int code);
void cli_error(const cli_ctx *cli, const char *fmt, ...) LRSA_PRINTF(2, 3);
void cli_note(const cli_ctx *cli, const char *fmt, ...) LRSA_PRINTF(2, 3); /* unless -q */
/* Usage error: prints the message and a hint to run -h; returns EXIT_USAGE. */
int cli_usage_error(const cli_ctx *cli, const char *fmt, ...) LRSA_PRINTF(2, 3);

/* ===== Commands ======================================================== */
int cmd_scan(int argc, char **argv, cli_ctx *cli);
int cmd_inspect(int argc, char **argv, cli_ctx *cli);
int cmd_extract(int argc, char **argv, cli_ctx *cli);
int cmd_synth(int argc, char **argv, cli_ctx *cli);
int cmd_reduce(int argc, char **argv, cli_ctx *cli);
int cmd_rdm(int argc, char **argv, cli_ctx *cli);
int cmd_compare(int argc, char **argv, cli_ctx *cli);
int cmd_render(int argc, char **argv, cli_ctx *cli);
int cmd_train_ae(int argc, char **argv, cli_ctx *cli);
int cmd_embed_fmri(int argc, char **argv, cli_ctx *cli);
int cmd_vit_init(int argc, char **argv, cli_ctx *cli);
int cmd_embed_images(int argc, char **argv, cli_ctx *cli);
int cmd_embed_voxels(int argc, char **argv, cli_ctx *cli);
int cmd_align(int argc, char **argv, cli_ctx *cli);
int cmd_run(int argc, char **argv, cli_ctx *cli);
int cmd_demo(int argc, char **argv, cli_ctx *cli);
int cmd_report(int argc, char **argv, cli_ctx *cli);

#endif
