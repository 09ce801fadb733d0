/* latentrsa: the command table and what every command shares (messages, exit statuses). */
#include "cli.h"
#include "latentrsa/version.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* From OpenBLAS (cblas.h would pull in the whole BLAS API for two calls). */
extern int openblas_get_parallel(void);
extern char *openblas_get_config(void);

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv, cli_ctx *cli);
    const char *summary;
} command;

static const command commands[] = {
    { "scan", cmd_scan, "find the trials of a BIDS/BOLD5000 dataset and write the trial table" },
    { "inspect", cmd_inspect, "print a NIfTI file's header as JSON" },
    { "extract", cmd_extract, "write one volume of a NIfTI file as a float32 .npy" },
    { "synth", cmd_synth, "write a synthetic BOLD5000-shaped BIDS dataset with a planted signal" },
    { "render", cmd_render, "render trial volumes as the paper's activation images (nilearn 0.10.4 look)" },
    { "train-ae", cmd_train_ae, "train the paper's convolutional autoencoder on rendered volumes" },
    { "embed-fmri", cmd_embed_fmri, "embed trial volumes with a trained autoencoder's encoder" },
    { "vit-init", cmd_vit_init, "write a ViT model directory with seeded random weights (tests, demo)" },
    { "embed-images", cmd_embed_images, "embed stimulus images with a ViT checkpoint" },
    { "reduce", cmd_reduce, "z-score columns and project onto the top singular components" },
    { "rdm", cmd_rdm, "the dissimilarity matrix between the rows of a matrix" },
    { "compare", cmd_compare, "compare two RDMs (or embeddings) with permutation and bootstrap inference" },
    { "embed-voxels", cmd_embed_voxels, "the trial-by-voxel matrix straight from the BOLD data (the baseline)" },
    { "align", cmd_align, "pair brain rows with image rows by stimulus and assign images to subjects" },
    { "run", cmd_run, "run the whole study: scan, render, autoencoder, ViT, align, reduce, RDMs, RSA, report" },
    { "demo", cmd_demo, "synthesise a small dataset with a planted signal and run the study on it" },
    { "report", cmd_report, "rebuild a study's report.html from its output folder" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ===== Messages ======================================================== */
int cli_exit_status(int code)
{
    switch (code) {
    case LRSA_OK: return EXIT_OK;
    case LRSA_EFORMAT:
    case LRSA_EUNSUPPORTED:
    case LRSA_ESHAPE:
    case LRSA_ENOTFOUND:
    case LRSA_EEMPTY: return EXIT_INVALID;
    default: return EXIT_FAILURE_;
    }
}

int cli_report(const cli_ctx *cli, const lrsa_err *err)
{
    fprintf(stderr, "latentrsa %s: error: %s\n", cli->cmd, err->msg[0] ? err->msg : lrsa_result_name(err->code));
    return cli_exit_status(err->code);
}

static void vmessage(const cli_ctx *cli, const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "latentrsa %s: %s", cli->cmd, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const cli_ctx *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cli, "error: ", fmt, ap);
    va_end(ap);
}

void cli_note(const cli_ctx *cli, const char *fmt, ...)
{
    if (cli->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vmessage(cli, "", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const cli_ctx *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cli, "error: ", fmt, ap);
    va_end(ap);
    fprintf(stderr, "run 'latentrsa %s -h' for usage\n", cli->cmd);
    return EXIT_USAGE;
}

/* ===== Hooks handed to the library ===================================== */
static void log_to_stderr(void *ud, int level, const char *msg)
{
    const cli_ctx *cli = ud;
    const char *kind = level == LRSA_LOG_ERROR ? "error: " : level == LRSA_LOG_WARN ? "warning: " : "";
    fprintf(stderr, "latentrsa %s: %s%s\n", cli->cmd, kind, msg);
}

/* A one-line progress display, only when stderr is a terminal. */
static void progress_to_tty(void *ud, const char *label, int64_t done, int64_t total)
{
    (void)ud;
    if (total > 0)
        fprintf(stderr, "\r%s: %lld/%lld (%d%%)%s", label, (long long)done, (long long)total,
                (int)(100 * done / total), done >= total ? "\n" : "");
    else
        fprintf(stderr, "\r%s: %lld", label, (long long)done);
    fflush(stderr);
}

/* ===== Top level ======================================================= */
static void print_version(void)
{
    printf("latentrsa %s\n", LRSA_VERSION);
    int par = openblas_get_parallel();
    const char *mode = par == 0 ? "sequential" : par == 1 ? "pthreads" : par == 2 ? "openmp" : "unknown";
    printf("blas: %s (threading: %s)\n", openblas_get_config(), mode);
    if (par == 1)
        printf("warning: the pthreads build of OpenBLAS is loaded; it competes with OpenMP for cores "
               "(install libopenblas0-openmp)\n");
}

static void print_main_help(FILE *fp)
{
    fprintf(fp, "usage: latentrsa <command> [options]\n"
                "       latentrsa <command> -h     help for one command\n"
                "       latentrsa --version\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\nexit status: 0 ok, 1 failure, 2 usage error, 3 invalid input data\n");
}

/* stdout carries data: a failed write (full disk, closed pipe) must fail the command. */
static int check_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "latentrsa: error: cannot write to standard output\n");
        return status ? status : EXIT_FAILURE_;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        print_main_help(stdout);
        return check_stdout(EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        print_version();
        return check_stdout(EXIT_OK);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        cli_ctx cli;
        memset(&cli, 0, sizeof cli);
        cli.cmd = commands[i].name;
        lrsa_ctx_init(&cli.lib);
        cli.lib.log = log_to_stderr;
        cli.lib.log_ud = &cli;
        cli.lib.log_level = LRSA_LOG_INFO;
        if (isatty(STDERR_FILENO)) {
            cli.lib.progress = progress_to_tty;
            cli.lib.progress_ud = &cli;
        }
        int status = commands[i].fn(argc - 1, argv + 1, &cli);
        return check_stdout(status);
    }
    fprintf(stderr, "latentrsa: error: unknown command '%s'\n", name);
    print_main_help(stderr);
    return EXIT_USAGE;
}
