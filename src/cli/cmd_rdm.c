/* latentrsa rdm: the N x N dissimilarity matrix between the rows of a float32 .npy matrix. */
#include "cli.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"
#include "latentrsa/rdm.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const rdm_synopsis[] = {
    "latentrsa rdm IN.npy [--metric correlation|cosine|euclidean|sqeuclidean] [--clip-negative] -o RDM.npy",
    NULL,
};

static const cli_usage rdm_usage = {
    rdm_synopsis,
    "Write the N x N float32 representational dissimilarity matrix between the N rows of IN.npy\n"
    "(N x D, one row per stimulus, N >= 2): correlation = 1 - Pearson r of two rows (the\n"
    "paper's), cosine = 1 - cosine similarity, euclidean, sqeuclidean. The result is exactly\n"
    "symmetric with a zero diagonal. IN.labels.tsv, if present, is copied to RDM.labels.tsv.\n"
    "NaN or Inf values, a constant row (correlation) or an all-zero row (cosine) are errors.",
};

/* Add the file and, with labels, the stimulus of the offending row to a library message. */
static void name_row(lrsa_err *err, const char *path, const lrsa_labels *labels, int64_t row)
{
    if (labels && row >= 0 && row < labels->n)
        lrsa_err_prefix(err, "'%s': stimulus '%s'", path, lrsa_labels_get(labels, row, LRSA_LBL_STIMULUS));
    else
        lrsa_err_prefix(err, "'%s'", path);
}

int cmd_rdm(int argc, char **argv, cli_ctx *cli)
{
    const char *metric_text = "correlation", *output = NULL;
    int clip = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "metric", &metric_text, "M",
                    "correlation (default), cosine, euclidean or sqeuclidean"),
        OPT_FLAG_(0, "clip-negative", &clip, "set negative entries to 0 (the paper's code; a no-op here)"),
        OPT_STRING_('o', "output", &output, "RDM.npy", "write the RDM here (required)"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &rdm_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o RDM.npy");
    lrsa_rdm_metric metric;
    if (lrsa_rdm_metric_parse(metric_text, &metric, NULL))
        return cli_usage_error(cli, "unknown --metric '%s' (choose correlation, cosine, euclidean or sqeuclidean)",
                               metric_text);

    const char *input = args[0];
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_tensor *X = NULL, *R = NULL;
    lrsa_labels *labels = NULL;
    char *in_labels = NULL, *out_labels = NULL;
    int rc;
    if ((rc = lrsa_npy_read_f32(input, &X, &err)))
        goto done;
    if (X->ndim != 2) {
        rc = LRSA_FAIL(&err, LRSA_ESHAPE, "'%s': expected a 2-d matrix (rows x columns), got %d-d",
                       input, X->ndim);
        goto done;
    }
    int64_t n = X->shape[0], d = X->shape[1];
    if (n < 2 || d < 1) {
        rc = LRSA_FAIL(&err, n < 1 || d < 1 ? LRSA_EEMPTY : LRSA_ESHAPE,
                       "'%s': an rdm needs at least 2 rows and 1 column, got %lld x %lld", input,
                       (long long)n, (long long)d);
        goto done;
    }
    /* The sidecar, if any, must match before any work is done. */
    if ((rc = lrsa_labels_path(input, &in_labels, &err)) || (rc = lrsa_labels_path(output, &out_labels, &err)))
        goto done;
    if (lrsa_is_file(in_labels) && (rc = lrsa_labels_read_for(input, n, &labels, &err)))
        goto done;
    if (!(R = lrsa_matrix_new(n, n, &err))) {
        rc = err.code ? err.code : LRSA_ENOMEM;
        lrsa_err_prefix(&err, "'%s': %lld x %lld rdm", input, (long long)n, (long long)n);
        goto done;
    }
    int64_t bad_row = -1;
    rc = lrsa_rdm_compute(R->data, X->data, n, d, metric, clip ? LRSA_RDM_CLIP_NEGATIVE : 0, &bad_row,
                          &cli->lib, &err);
    if (rc) {
        name_row(&err, input, labels, bad_row);
        goto done;
    }
    int64_t shape[2] = { n, n };
    if ((rc = lrsa_npy_write_f32(output, 2, shape, R->data, &err)))
        goto done;
    if (labels) {
        if ((rc = lrsa_labels_write(out_labels, labels, &err))) {
            remove(output); /* no RDM without its labels */
            goto done;
        }
    } else if (lrsa_is_file(out_labels)) {
        /* A sidecar left from an earlier run would label these rows wrongly. */
        if (remove(out_labels) == 0)
            cli_note(cli, "removed the stale sidecar '%s' ('%s' has none)", out_labels, input);
    }
    cli_note(cli, "wrote the %lld x %lld %s rdm of '%s' to '%s'%s%s%s", (long long)n, (long long)n,
             lrsa_rdm_metric_name(metric), input, output, labels ? " (labels '" : " (no labels)",
             labels ? out_labels : "", labels ? "')" : "");
done:
    lrsa_tensor_free(X);
    lrsa_tensor_free(R);
    lrsa_labels_free(labels);
    free(in_labels);
    free(out_labels);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
