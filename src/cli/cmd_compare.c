/* latentrsa compare: the correlation of two RDMs over their upper triangles (or linear CKA of two
 * embeddings), with the Mantel permutation test and a bootstrap CI over stimuli. */
#include "cli.h"
#include "latentrsa/compare.h"
#include "latentrsa/inference.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const compare_synopsis[] = {
    "latentrsa compare A.npy B.npy [--method pearson|spearman|kendall-tau-a|cosine] "
    "[--permutations P|all] [--bootstrap B] [--strata source] [--alternative greater|two-sided] "
    "[--seed S] [--json] [--null-out NULL.npy]",
    "latentrsa compare X.npy Y.npy --method cka-linear|cka-linear-debiased [--permutations P|all] "
    "[--strata source] [--alternative greater|two-sided] [--seed S] [--json] [--null-out NULL.npy]",
    NULL,
};

static const cli_usage compare_usage = {
    compare_synopsis,
    "Compare two RDMs (N x N .npy) over their upper triangles, or two embedding matrices (N x D)\n"
    "with linear CKA. Rows are joined by the 'stimulus' column of the labels sidecars (B is\n"
    "reordered to A's order). The p-value is a Mantel permutation test: the stimulus labels of A\n"
    "(its rows and columns together) are permuted, p = (1 + #{null >= observed}) / (1 + P);\n"
    "'--permutations all' enumerates every permutation for N <= 8 (exact p). The CI is a\n"
    "percentile bootstrap over stimuli. p_parametric is scipy's pearsonr/spearmanr p, reported only\n"
    "to compare with the paper: it treats the N(N-1)/2 entries as independent, which they are not.\n"
    "Output: a short summary on standard output, or with --json one object whose keys are always\n"
    "present (null where a field does not apply). --null-out writes the null statistics r(pi_k)\n"
    "(signed, in permutation order) as a P x 1 float32 .npy.",
};

/* A matrix with its sidecar (NULL when it has none). */
typedef struct input {
    const char *path;
    lrsa_tensor *t;
    lrsa_labels *labels;
} input;

static void input_release(input *in)
{
    lrsa_tensor_free(in->t);
    lrsa_labels_free(in->labels);
}

static int input_read(input *in, const char *path, int square, lrsa_err *err)
{
    int rc;
    char *lp = NULL;
    memset(in, 0, sizeof *in);
    in->path = path;
    if ((rc = lrsa_npy_read_f32(path, &in->t, err)))
        return rc;
    if (in->t->ndim != 2) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s' is not a matrix (%d axes)", path, in->t->ndim);
        goto done;
    }
    int64_t rows = in->t->shape[0], cols = in->t->shape[1];
    if (square && rows != cols) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s' is not a square RDM (%lld x %lld)", path,
                       (long long)rows, (long long)cols);
        goto done;
    }
    const float *x = in->t->data;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            if (!isfinite(x[i * cols + j])) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' has a non-finite value (%g) at (%lld, %lld)",
                               path, (double)x[i * cols + j], (long long)i, (long long)j);
                goto done;
            }
    if ((rc = lrsa_labels_path(path, &lp, err)))
        goto done;
    if (lrsa_is_file(lp))
        rc = lrsa_labels_read_for(path, rows, &in->labels, err);
done:
    free(lp);
    return rc;
}

/* Rows idx[0..n-1] (and, for an RDM, the same columns) of t, as a new n x n or n x d matrix. */
static lrsa_tensor *take_rows(const lrsa_tensor *t, const int64_t *idx, int64_t n, int square,
                              lrsa_err *err)
{
    int64_t cols = t->shape[1];
    lrsa_tensor *o = lrsa_matrix_new(n, square ? n : cols, err);
    if (!o)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        const float *src = t->data + idx[i] * cols;
        float *dst = o->data + i * (square ? n : cols);
        if (square)
            for (int64_t j = 0; j < n; j++)
                dst[j] = src[idx[j]];
        else
            memcpy(dst, src, (size_t)cols * sizeof *dst);
    }
    return o;
}

/* Join B to A by stimulus (both have sidecars) or check the sizes (neither has). */
static int align_inputs(const cli_ctx *cli, input *a, input *b, int square, lrsa_err *err)
{
    int64_t na = a->t->shape[0], nb = b->t->shape[0];
    if (!a->labels && !b->labels) {
        if (na != nb)
            return LRSA_FAIL(err, LRSA_ESHAPE,
                             "'%s' has %lld stimuli and '%s' has %lld, and neither has a labels "
                             "sidecar to join them by", a->path, (long long)na, b->path, (long long)nb);
        lrsa_warn(&cli->lib, "neither '%s' nor '%s' has a labels sidecar: comparing rows by position",
                  a->path, b->path);
        return LRSA_OK;
    }
    if (!a->labels || !b->labels) {
        const input *miss = a->labels ? b : a, *has = a->labels ? a : b;
        char *lp = NULL;
        lrsa_labels_path(miss->path, &lp, NULL);
        int rc = LRSA_FAIL(err, LRSA_ENOTFOUND,
                           "'%s' has no labels sidecar '%s' but '%s' has one: cannot join by stimulus",
                           miss->path, lp ? lp : "?", has->path);
        free(lp);
        return rc;
    }
    lrsa_label_pairs jp;
    lrsa_err jerr;
    lrsa_err_init(&jerr);
    int rc = lrsa_labels_join(a->labels, b->labels, LRSA_JOIN_INNER, &jp, &jerr);
    if (rc && rc != LRSA_EEMPTY) {
        *err = jerr;
        return rc;
    }
    int64_t common = rc ? 0 : jp.n;
    if (rc || jp.unmatched_a || jp.unmatched_b) {
        if (!rc)
            lrsa_labels_join_release(&jp);
        return LRSA_FAIL(err, LRSA_ESHAPE,
                         "different stimulus sets: '%s' has %lld stimuli, '%s' has %lld, %lld in common",
                         a->path, (long long)na, b->path, (long long)nb, (long long)common);
    }
    /* Reorder both to A's row order (jp.a is A's order already; take it anyway). */
    lrsa_tensor *ta = take_rows(a->t, jp.a, jp.n, square, err);
    lrsa_tensor *tb = ta ? take_rows(b->t, jp.b, jp.n, square, err) : NULL;
    lrsa_labels *la = tb ? lrsa_labels_take(a->labels, jp.a, jp.n, err) : NULL;
    lrsa_labels *lb = la ? lrsa_labels_take(b->labels, jp.b, jp.n, err) : NULL;
    lrsa_labels_join_release(&jp);
    if (!lb) {
        lrsa_tensor_free(ta);
        lrsa_tensor_free(tb);
        lrsa_labels_free(la);
        return err && err->code ? err->code : LRSA_ENOMEM;
    }
    lrsa_tensor_free(a->t);
    lrsa_tensor_free(b->t);
    lrsa_labels_free(a->labels);
    lrsa_labels_free(b->labels);
    a->t = ta;
    b->t = tb;
    a->labels = la;
    b->labels = lb;
    return LRSA_OK;
}

/* Group ids from the source column of A's sidecar (checked against B's where both have one). */
static int strata_from_source(const input *a, const input *b, int32_t *ids, int64_t *ngroups,
                              lrsa_err *err)
{
    int64_t n = a->t->shape[0], ng = 0;
    if (!a->labels)
        return LRSA_FAIL(err, LRSA_ENOTFOUND,
                         "--strata source needs the labels sidecars ('%s' has none)", a->path);
    for (int64_t i = 0; i < n; i++) {
        const char *s = lrsa_labels_get(a->labels, i, LRSA_LBL_SOURCE);
        const char *sb = lrsa_labels_get(b->labels, i, LRSA_LBL_SOURCE);
        if (lrsa_labels_is_na(s) && !lrsa_labels_is_na(sb))
            s = sb;
        if (lrsa_labels_is_na(s))
            return LRSA_FAIL(err, LRSA_EFORMAT, "--strata source: stimulus '%s' has no source in '%s'",
                             lrsa_labels_get(a->labels, i, LRSA_LBL_STIMULUS), a->labels->name);
        if (!lrsa_labels_is_na(sb) && strcmp(s, sb) != 0)
            return LRSA_FAIL(err, LRSA_EFORMAT,
                             "--strata source: stimulus '%s' has source '%s' in '%s' but '%s' in '%s'",
                             lrsa_labels_get(a->labels, i, LRSA_LBL_STIMULUS), s, a->labels->name,
                             sb, b->labels->name);
        int64_t g = 0;
        for (; g < i; g++) {
            const char *t = lrsa_labels_get(a->labels, g, LRSA_LBL_SOURCE);
            if (lrsa_labels_is_na(t))
                t = lrsa_labels_get(b->labels, g, LRSA_LBL_SOURCE);
            if (strcmp(s, t) == 0)
                break;
        }
        ids[i] = g < i ? ids[g] : (int32_t)ng++;
    }
    *ngroups = ng;
    return LRSA_OK;
}

/* LRSA_EFORMAT naming the file when an RDM's upper triangle has no variance (all zero: cosine). */
static int check_variance(const input *in, lrsa_cmp_method method, lrsa_err *err)
{
    int64_t n = in->t->shape[0];
    const float *x = in->t->data;
    float first = x[1];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            float v = x[i * n + j];
            if (method == LRSA_CMP_COSINE ? v != 0.0f : v != first)
                return LRSA_OK;
        }
    if (method == LRSA_CMP_COSINE)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s' is all zero over its upper triangle (cosine is undefined)",
                         in->path);
    return LRSA_FAIL(err, LRSA_EFORMAT,
                     "'%s' is constant (%g) over its upper triangle: zero variance, r is undefined",
                     in->path, (double)first);
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *result_json(const lrsa_infer_opts *o, const lrsa_infer_result *res, int is_cka,
                          const char *strata)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "method", lrsa_cmp_method_name(o->method));
    cJSON_AddStringToObject(j, "alternative", lrsa_alternative_name(o->alternative));
    cJSON_AddNumberToObject(j, "n", (double)res->n);
    cJSON_AddItemToObject(j, "pairs", is_cka ? cJSON_CreateNull() : cJSON_CreateNumber((double)res->pairs));
    cJSON_AddItemToObject(j, "r", num_or_null(res->r));
    cJSON_AddItemToObject(j, "p_parametric", num_or_null(res->p_parametric));
    cJSON_AddItemToObject(j, "p_permutation", num_or_null(res->p_permutation));
    cJSON_AddItemToObject(j, "permutations", res->permutations > 0
                              ? cJSON_CreateNumber((double)res->permutations) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "strata", strata ? cJSON_CreateString(strata) : cJSON_CreateNull());
    if (isfinite(res->ci_lo) && isfinite(res->ci_hi)) {
        double ci[2] = { res->ci_lo, res->ci_hi };
        cJSON_AddItemToObject(j, "ci95", cJSON_CreateDoubleArray(ci, 2));
    } else {
        cJSON_AddItemToObject(j, "ci95", cJSON_CreateNull());
    }
    cJSON_AddItemToObject(j, "bootstrap", res->bootstrap > 0
                              ? cJSON_CreateNumber((double)res->bootstrap) : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    return j;
}

static void print_num(const char *key, double v)
{
    if (isfinite(v))
        printf("%-14s %.6g\n", key, v);
    else
        printf("%-14s null\n", key);
}

static void print_summary(const lrsa_infer_opts *o, const lrsa_infer_result *res, int is_cka,
                          const char *strata)
{
    printf("%-14s %s\n", "method", lrsa_cmp_method_name(o->method));
    printf("%-14s %s\n", "alternative", lrsa_alternative_name(o->alternative));
    printf("%-14s %lld\n", "n", (long long)res->n);
    if (is_cka)
        printf("%-14s null\n", "pairs");
    else
        printf("%-14s %lld\n", "pairs", (long long)res->pairs);
    print_num("r", res->r);
    if (isfinite(res->p_parametric))
        printf("%-14s %.6g (scipy's; not valid for RDM entries, shown to compare with the paper)\n",
               "p_parametric", res->p_parametric);
    else
        printf("%-14s null\n", "p_parametric");
    if (isfinite(res->p_permutation))
        printf("%-14s %.6g (%s)\n", "p_permutation", res->p_permutation,
               o->permutations == LRSA_PERM_EXACT ? "exact" : "Mantel");
    else
        printf("%-14s null\n", "p_permutation");
    if (res->permutations > 0)
        printf("%-14s %lld\n", "permutations", (long long)res->permutations);
    else
        printf("%-14s null\n", "permutations");
    printf("%-14s %s\n", "strata", strata ? strata : "null");
    if (isfinite(res->ci_lo) && isfinite(res->ci_hi))
        printf("%-14s [%.6g, %.6g] (%lld resamples)\n", "ci95", res->ci_lo, res->ci_hi,
               (long long)res->bootstrap);
    else
        printf("%-14s null\n", "ci95");
}

int cmd_compare(int argc, char **argv, cli_ctx *cli)
{
    const char *method_text = "spearman", *alt_text = "greater", *perm_text = NULL;
    const char *strata_text = NULL, *null_path = NULL;
    int64_t boot = INT64_MIN, seed = 0;
    int json = 0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "method", &method_text, "M",
                    "pearson, spearman (default), kendall-tau-a, cosine; cka-linear, "
                    "cka-linear-debiased on embeddings"),
        OPT_STRING_(0, "permutations", &perm_text, "P|all",
                    "Mantel permutations (default 10000; 0: none; all: every one, N <= 8)"),
        OPT_INT_(0, "bootstrap", &boot, "B", "bootstrap resamples for ci95 (default 1000; 0: none)"),
        OPT_STRING_(0, "strata", &strata_text, "source",
                    "permute only within each stimulus source (COCO, ImageNet, Scene)"),
        OPT_STRING_(0, "alternative", &alt_text, "A", "greater (default) or two-sided"),
        OPT_INT_(0, "seed", &seed, "S", "random seed of the permutations and resamples (default 0)"),
        OPT_FLAG_(0, "json", &json, "print one JSON object"),
        OPT_STRING_(0, "null-out", &null_path, "FILE.npy",
                    "write the null statistics r(pi_1..pi_P) as a P x 1 float32 .npy"),
        OPT_END_(),
    };
    char *args[2];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &compare_usage, 2, 2, args, &nargs);
    if (status >= 0)
        return status;

    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_infer_opts o;
    lrsa_infer_opts_init(&o);
    if (lrsa_cmp_method_parse(method_text, &o.method, &err) != LRSA_OK)
        return cli_usage_error(cli, "%s", err.msg);
    if (lrsa_alternative_parse(alt_text, &o.alternative, &err) != LRSA_OK)
        return cli_usage_error(cli, "%s", err.msg);
    int is_cka = o.method == LRSA_CMP_CKA_LINEAR || o.method == LRSA_CMP_CKA_LINEAR_DEBIASED;
    int is_kendall = o.method == LRSA_CMP_KENDALL_TAU_A;
    if (perm_text) {
        if (strcmp(perm_text, "all") == 0) {
            o.permutations = LRSA_PERM_EXACT;
        } else {
            char *end;
            errno = 0;
            long long v = strtoll(perm_text, &end, 10);
            if (!*perm_text || *end || errno || v < 0)
                return cli_usage_error(cli, "--permutations needs a count >= 0 or 'all', got '%s'",
                                       perm_text);
            o.permutations = v;
        }
    }
    if (boot != INT64_MIN && boot < 0)
        return cli_usage_error(cli, "--bootstrap needs a count >= 0, got %lld", (long long)boot);
    if (seed < 0)
        return cli_usage_error(cli, "--seed needs a value >= 0, got %lld", (long long)seed);
    o.seed = (uint64_t)seed;
    if (strata_text && strcmp(strata_text, "source") != 0)
        return cli_usage_error(cli, "--strata takes 'source', got '%s'", strata_text);
    if (is_kendall && o.permutations != 0) {
        if (perm_text)
            lrsa_warn(&cli->lib, "kendall-tau-a has no permutation test (O(M log M) per "
                      "permutation): p_permutation is null");
        o.permutations = 0;
    }
    if (null_path && !*null_path)
        return cli_usage_error(cli, "--null-out needs a file name");
    if (null_path && o.permutations == 0)
        return cli_usage_error(cli, "--null-out needs a permutation test (%s)",
                               is_kendall ? "kendall-tau-a has none" : "--permutations is 0");
    if (boot != INT64_MIN)
        o.bootstrap = boot;
    else if (is_kendall || is_cka)
        o.bootstrap = 0;   /* Kendall: O(M log M) per resample; CKA: no bootstrap */
    if (is_cka && o.bootstrap > 0) {
        lrsa_warn(&cli->lib, "linear CKA has no bootstrap CI (duplicated rows bias it): ci95 is null");
        o.bootstrap = 0;
    }

    input a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int32_t *strata = NULL;
    double *null_vals = NULL;
    float *null_f32 = NULL;
    int64_t ngroups = 0;
    cJSON *j = NULL;
    lrsa_infer_result res;
    int rc;
    if ((rc = input_read(&a, args[0], !is_cka, &err)) || (rc = input_read(&b, args[1], !is_cka, &err)))
        goto done;
    if ((rc = align_inputs(cli, &a, &b, !is_cka, &err)))
        goto done;
    int64_t n = a.t->shape[0];
    if (n < 3) {
        rc = LRSA_FAIL(&err, LRSA_ESHAPE, "'%s' and '%s' share %lld stimuli: at least 3 are needed",
                       a.path, b.path, (long long)n);
        goto done;
    }
    if (o.permutations == LRSA_PERM_EXACT && n > LRSA_PERM_EXACT_MAX_N) {
        rc = cli_usage_error(cli, "--permutations all enumerates N! permutations: N must be at most "
                             "%d, got %lld", LRSA_PERM_EXACT_MAX_N, (long long)n);
        input_release(&a);
        input_release(&b);
        return rc;
    }
    if (!is_cka && ((rc = check_variance(&a, o.method, &err)) || (rc = check_variance(&b, o.method, &err))))
        goto done;
    if (strata_text) {
        strata = lrsa_malloc((size_t)n * sizeof *strata, "strata", &err);
        if (!strata) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if ((rc = strata_from_source(&a, &b, strata, &ngroups, &err)))
            goto done;
        o.strata = strata;
        cli_note(cli, "--strata source: %lld groups", (long long)ngroups);
    }
    if (is_kendall && o.bootstrap > 0 && n * (n - 1) / 2 > 200000)
        lrsa_warn(&cli->lib, "kendall-tau-a bootstrap costs O(M log M) per resample (M = %lld pairs): "
                  "this will take a while", (long long)(n * (n - 1) / 2));
    if (null_path) {
        /* the random test fills P values; the exact one at most n! (n <= 8) */
        int64_t cap = o.permutations;
        if (o.permutations == LRSA_PERM_EXACT)
            for (int64_t f = cap = 1; f <= n; f++)
                cap *= f;
        null_vals = lrsa_malloc((size_t)cap * sizeof *null_vals, "null distribution", &err);
        if (!null_vals) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        o.null_out = null_vals;
    }
    if (is_cka)
        rc = lrsa_cka_infer(a.t->data, n, a.t->shape[1], b.t->data, b.t->shape[1], &o, &res,
                            &cli->lib, &err);
    else
        rc = lrsa_rsa_infer(a.t->data, b.t->data, n, &o, &res, &cli->lib, &err);
    if (rc)
        goto done;
    if (null_path) {   /* before anything is printed: a failed write prints no result */
        int64_t P = res.permutations, shape[2] = { P, 1 };
        null_f32 = lrsa_malloc((size_t)P * sizeof *null_f32, "null distribution", &err);
        if (!null_f32) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t k = 0; k < P; k++)
            null_f32[k] = (float)null_vals[k];
        if ((rc = lrsa_npy_write_f32(null_path, 2, shape, null_f32, &err)))
            goto done;
    }
    if (o.bootstrap > 0 && res.bootstrap_dropped > 0)
        lrsa_warn(&cli->lib, "%lld of %lld bootstrap resamples had an undefined r and were left out",
                  (long long)res.bootstrap_dropped, (long long)o.bootstrap);
    if (json) {
        j = result_json(&o, &res, is_cka, strata_text);
        char *text = j ? cJSON_Print(j) : NULL;
        if (!text) {
            rc = LRSA_FAIL(&err, LRSA_ENOMEM, "out of memory");
            goto done;
        }
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    } else {
        print_summary(&o, &res, is_cka, strata_text);
    }
done:
    cJSON_Delete(j);
    free(strata);
    free(null_vals);
    free(null_f32);
    input_release(&a);
    input_release(&b);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
