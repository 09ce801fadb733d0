/* latentrsa reduce: z-score columns (optional) and project onto the top singular components. */
#include "cli.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"
#include "latentrsa/reduce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reduce_synopsis[] = {
    "latentrsa reduce IN.npy [--zscore] (--components K | --variance F) [--solver topk|lanczos|exact|randomized] [--seed S] -o OUT.npy",
    NULL,
};

static const cli_usage reduce_usage = {
    reduce_synopsis,
    "Project the rows of an N x D float matrix onto its top K right singular vectors, as\n"
    "scikit-learn's TruncatedSVD.fit_transform: OUT.npy is the N x K projection X·Vk. With --zscore\n"
    "the columns are first standardised (population std; a constant column becomes 0); without it\n"
    "the raw matrix is used, uncentred. --variance F keeps the fewest components whose explained-\n"
    "variance ratios sum to at least F (the paper: 0.70). In each right singular vector the entry of\n"
    "largest magnitude is positive. OUT.json (beside OUT.npy) records k, the singular values and the\n"
    "explained-variance ratios; IN.labels.tsv, if present, is copied to OUT.labels.tsv.",
};

/* OUT.npy -> OUT.json (a name without .npy gets .json appended). */
static char *json_path(const char *out)
{
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".npy") == 0)
        n -= 4;
    char *p = malloc(n + 6);
    if (p) {
        memcpy(p, out, n);
        memcpy(p + n, ".json", 6);
    }
    return p;
}

int cmd_reduce(int argc, char **argv, cli_ctx *cli)
{
    int zscore = 0;
    int64_t components = -1, seed = 0;
    double variance = NAN;
    const char *solver = "topk", *output = NULL;
    const cli_opt opts[] = {
        OPT_FLAG_(0, "zscore", &zscore, "z-score the columns first (population std, ddof 0)"),
        OPT_INT_(0, "components", &components, "K", "keep K components"),
        OPT_DOUBLE_(0, "variance", &variance, "F", "keep the fewest components explaining >= F of the variance, 0 < F <= 1"),
        OPT_STRING_(0, "solver", &solver, "NAME", "topk (default, fast), lanczos (accurate), exact, randomized"),
        OPT_INT_(0, "seed", &seed, "S", "seed of the topk start block and the randomized test matrix (default: 0)"),
        OPT_STRING_('o', "output", &output, "OUT.npy", "write the projection here (required)"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &reduce_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o OUT.npy");
    int has_k = components != -1, has_f = !isnan(variance);
    if (has_k == has_f)
        return cli_usage_error(cli, "give exactly one of --components K and --variance F");
    if (has_k && components < 1)
        return cli_usage_error(cli, "--components needs K >= 1, got %lld", (long long)components);
    if (has_f && !(variance > 0 && variance <= 1))
        return cli_usage_error(cli, "--variance needs 0 < F <= 1, got %g", variance);
    if (seed < 0)
        return cli_usage_error(cli, "--seed needs S >= 0, got %lld", (long long)seed);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_svd_opts so;
    lrsa_svd_opts_init(&so);
    if (lrsa_svd_solver_parse(solver, &so.solver, &err))
        return cli_usage_error(cli, "%s", err.msg);
    so.k = has_k ? components : 0;
    so.variance = has_f ? variance : 0;
    so.seed = (uint64_t)seed;

    lrsa_tensor *X = NULL;
    lrsa_labels *labels = NULL;
    lrsa_svd_result res = { 0 };
    char *lpath = NULL, *out_lpath = NULL, *jpath = json_path(output);
    int wrote_npy = 0, wrote_labels = 0;
    int rc;
    if (!jpath) {
        rc = LRSA_FAIL(&err, LRSA_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = lrsa_npy_read_f32(args[0], &X, &err)))
        goto done;
    if (X->ndim != 2) {
        rc = LRSA_FAIL(&err, LRSA_ESHAPE, "'%s': expected a 2-d matrix (rows x features), got %d-d", args[0],
                       X->ndim);
        goto done;
    }
    if ((rc = lrsa_labels_path(args[0], &lpath, &err)))
        goto done;
    if (lrsa_is_file(lpath) && (rc = lrsa_labels_read_for(args[0], X->shape[0], &labels, &err)))
        goto done;
    int64_t m = X->shape[0] < X->shape[1] ? X->shape[0] : X->shape[1];
    if (has_k && components > m) {
        rc = LRSA_FAIL(&err, LRSA_EFORMAT, "'%s': %lld components asked for, but a %lld x %lld matrix has at most %lld",
                       args[0], (long long)components, (long long)X->shape[0], (long long)X->shape[1], (long long)m);
        goto done;
    }
    if ((rc = lrsa_reduce(X, zscore, &so, &res, &cli->lib, &err))) {
        lrsa_err_prefix(&err, "'%s'", args[0]);
        goto done;
    }
    int64_t shape[2] = { res.n, res.k };
    if ((rc = lrsa_npy_write_f32(output, 2, shape, res.proj, &err)))
        goto done;
    wrote_npy = 1;
    if (labels) {
        if ((rc = lrsa_labels_path(output, &out_lpath, &err)) || (rc = lrsa_labels_write(out_lpath, labels, &err)))
            goto done;
        wrote_labels = 1;
    }
    if ((rc = lrsa_reduce_write_json(jpath, &res, &so, zscore, &err)))
        goto done;
    double sum = 0;
    for (int64_t j = 0; j < res.k; j++)
        sum += res.explained_variance_ratio[j];
    cli_note(cli, "wrote %lld x %lld projection (%s, %.4g of the variance) to '%s'", (long long)res.n,
             (long long)res.k, lrsa_svd_solver_name(so.solver), sum, output);
done:
    if (rc) {
        /* no partial output: remove what this run already wrote */
        if (wrote_npy)
            remove(output);
        if (wrote_labels)
            remove(out_lpath);
    }
    lrsa_tensor_free(X);
    lrsa_labels_free(labels);
    lrsa_svd_result_release(&res);
    free(lpath);
    free(out_lpath);
    free(jpath);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
