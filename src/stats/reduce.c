/* The `reduce` step: validate, z-score, truncated SVD; and its JSON summary. */
#include "latentrsa/reduce.h"

#include <math.h>
#include <stdlib.h>

int lrsa_reduce(lrsa_tensor *X, int zscore, const lrsa_svd_opts *opts, lrsa_svd_result *out,
                const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc;
    if (X->ndim != 2)
        return LRSA_FAIL(err, LRSA_ESHAPE, "expected a 2-d matrix (rows x features), got %d-d", X->ndim);
    int64_t n = X->shape[0], d = X->shape[1];
    if (n < 1 || d < 1)
        return LRSA_FAIL(err, LRSA_EEMPTY, "the matrix is empty (%lld x %lld)", (long long)n, (long long)d);
    if ((rc = lrsa_check_finite(X->data, n, d, err)))
        return rc;
    if (zscore) {
        int64_t nconst = 0;
        if ((rc = lrsa_standardize(X->data, n, d, NULL, NULL, &nconst, ctx, err)))
            return rc;
        if (nconst)
            lrsa_info(ctx, "%lld constant column%s set to 0 by z-scoring", (long long)nconst,
                      nconst == 1 ? "" : "s");
    }
    return lrsa_svd_truncated(X->data, n, d, opts, out, ctx, err);
}

static int add_array(lrsa_strbuf *sb, const char *key, const double *v, int64_t k, lrsa_err *err)
{
    int rc = lrsa_strbuf_addf(sb, err, "  \"%s\": [", key);
    for (int64_t j = 0; j < k && !rc; j++)
        rc = lrsa_strbuf_addf(sb, err, "%s%.17g", j ? ", " : "", v[j]);
    if (!rc)
        rc = lrsa_strbuf_adds(sb, "],\n", err);
    return rc;
}

int lrsa_reduce_write_json(const char *path, const lrsa_svd_result *r, const lrsa_svd_opts *opts,
                           int zscore, lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    lrsa_outfile of = { 0 };
    double sum = 0;
    for (int64_t j = 0; j < r->k; j++)
        sum += r->explained_variance_ratio[j];
    int rc = lrsa_strbuf_addf(&sb, err,
                              "{\n  \"k\": %lld,\n  \"n\": %lld,\n  \"d\": %lld,\n  \"solver\": \"%s\",\n"
                              "  \"seed\": %llu,\n  \"zscore\": %s,\n",
                              (long long)r->k, (long long)r->n, (long long)r->d,
                              lrsa_svd_solver_name(opts->solver), (unsigned long long)opts->seed,
                              zscore ? "true" : "false");
    if (!rc && opts->k > 0)
        rc = lrsa_strbuf_addf(&sb, err, "  \"components_requested\": %lld,\n  \"variance_target\": null,\n",
                              (long long)opts->k);
    else if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "  \"components_requested\": null,\n  \"variance_target\": %.17g,\n",
                              opts->variance);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "  \"capped\": %s,\n  \"total_variance\": %.17g,\n",
                              r->capped ? "true" : "false", r->total_variance);
    if (!rc)
        rc = add_array(&sb, "singular_values", r->singular_values, r->k, err);
    if (!rc)
        rc = add_array(&sb, "explained_variance", r->explained_variance, r->k, err);
    if (!rc)
        rc = add_array(&sb, "explained_variance_ratio", r->explained_variance_ratio, r->k, err);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "  \"explained_variance_ratio_sum\": %.17g,\n", sum);
    if (!rc && (opts->solver == LRSA_SVD_TOPK || opts->solver == LRSA_SVD_LANCZOS))
        rc = lrsa_strbuf_addf(&sb, err, "  \"iterations\": %d,\n  \"converged\": %s,\n  \"max_residual\": %.6g\n}\n",
                              r->iterations, r->converged ? "true" : "false", r->max_residual);
    else if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "  \"iterations\": %d,\n  \"converged\": true,\n  \"max_residual\": null\n}\n",
                              r->iterations);
    if (rc)
        goto done;
    if ((rc = lrsa_outfile_open(&of, path, err)))
        goto done;
    if (fwrite(sb.buf, 1, sb.len, of.fp) != sb.len) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path);
        goto done;
    }
    rc = lrsa_outfile_commit(&of, err);
done:
    if (rc)
        lrsa_outfile_abort(&of);
    lrsa_strbuf_release(&sb);
    return rc;
}
