/* Table-driven option parsing and help for every command. */
#include "cli.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt common_opts[] = {
    OPT_INT_(0, "threads", NULL, "N", "number of threads (default: all cores)"),
    OPT_FLAG_('q', "quiet", NULL, "print only errors"),
    OPT_FLAG_('v', "verbose", NULL, "print more detail"),
    OPT_FLAG_('h', "help", NULL, "show this help"),
    OPT_END_(),
};

static const cli_opt *find_long(const cli_opt *opts, const char *name, size_t n)
{
    for (const cli_opt *o = opts; o->type != OPT_END; o++)
        if (strlen(o->long_name) == n && strncmp(o->long_name, name, n) == 0)
            return o;
    return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, char c)
{
    for (const cli_opt *o = opts; o->type != OPT_END; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

static void print_opts(FILE *fp, const cli_opt *opts)
{
    for (const cli_opt *o = opts; o->type != OPT_END; o++) {
        char left[96];
        int n = 0;
        if (o->short_name)
            n = snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->long_name);
        else
            n = snprintf(left, sizeof left, "    --%s", o->long_name);
        if (o->argname && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->argname);
        fprintf(fp, "  %-28s %s\n", left, o->help);
    }
}

void cli_print_help(FILE *fp, const char *cmd, const cli_opt *opts, const cli_usage *usage)
{
    (void)cmd;
    for (int i = 0; usage->synopsis[i]; i++)
        fprintf(fp, "%s %s\n", i == 0 ? "usage:" : "   or:", usage->synopsis[i]);
    if (usage->description)
        fprintf(fp, "\n%s\n", usage->description);
    fprintf(fp, "\noptions:\n");
    print_opts(fp, opts);
    print_opts(fp, common_opts);
}

/* Store the value of option o; returns 0 or an exit status. */
static int set_value(cli_ctx *cli, const cli_opt *o, const char *shown, const char *val)
{
    switch (o->type) {
    case OPT_FLAG:
        *(int *)o->value = 1;
        return 0;
    case OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (!*val || *end || errno)
            return cli_usage_error(cli, "option '%s' needs an integer, got '%s'", shown, val);
        *(int64_t *)o->value = v;
        return 0;
    }
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (!*val || *end || errno)
            return cli_usage_error(cli, "option '%s' needs a number, got '%s'", shown, val);
        *(double *)o->value = v;
        return 0;
    }
    case OPT_STRING:
        *(const char **)o->value = val;
        return 0;
    default:
        return 0;
    }
}

int cli_parse(cli_ctx *cli, int argc, char **argv, const cli_opt *opts, const cli_usage *usage,
              int min_args, int max_args, char **args, int *nargs)
{
    *nargs = 0;
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            /* args holds max_args pointers (argc when max_args is -1): never store past it. */
            if (max_args >= 0 && *nargs >= max_args)
                return cli_usage_error(cli, "unexpected argument '%s'", a);
            args[(*nargs)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        const cli_opt *o;
        const char *inline_val = NULL;
        char shown[128];
        int is_common = 0;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            inline_val = eq ? eq + 1 : NULL;
            o = find_long(opts, name, n);
            if (!o && (o = find_long(common_opts, name, n)))
                is_common = 1;
            snprintf(shown, sizeof shown, "--%.*s", (int)n, name);
        } else {
            if (a[2] != '\0')
                return cli_usage_error(cli, "unknown option '%s'", a);
            o = find_short(opts, a[1]);
            if (!o && (o = find_short(common_opts, a[1])))
                is_common = 1;
            snprintf(shown, sizeof shown, "-%c", a[1]);
        }
        if (!o)
            return cli_usage_error(cli, "unknown option '%s'", shown);
        const char *val = NULL;
        if (o->type != OPT_FLAG) {
            if (inline_val)
                val = inline_val;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return cli_usage_error(cli, "option '%s' needs a value", shown);
        } else if (inline_val) {
            return cli_usage_error(cli, "option '%s' takes no value", shown);
        }
        if (is_common) {
            if (strcmp(o->long_name, "help") == 0) {
                cli_print_help(stdout, cli->cmd, opts, usage);
                return EXIT_OK;
            }
            if (strcmp(o->long_name, "quiet") == 0) {
                cli->quiet = 1;
            } else if (strcmp(o->long_name, "verbose") == 0) {
                cli->verbose = 1;
            } else if (strcmp(o->long_name, "threads") == 0) {
                char *end;
                long v = strtol(val, &end, 10);
                if (!*val || *end || v < 1 || v > 4096)
                    return cli_usage_error(cli, "option '--threads' needs a count from 1 to 4096, got '%s'", val);
                cli->threads = (int)v;
            }
            continue;
        }
        int rc = set_value(cli, o, shown, val);
        if (rc)
            return rc;
    }
    if (cli->quiet)
        cli->lib.log_level = LRSA_LOG_ERROR;
    else if (cli->verbose)
        cli->lib.log_level = LRSA_LOG_DEBUG;
    cli->lib.threads = cli->threads;
    /* One thread pool for our OpenMP loops and OpenBLAS (its OpenMP build follows this too). */
    if (cli->threads > 0)
        omp_set_num_threads(cli->threads);
    if (*nargs < min_args)
        return cli_usage_error(cli, "missing argument");
    return -1;
}
