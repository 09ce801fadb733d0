/* The report's typed access to results.json: a missing key or JSON null is "absent" (NaN, NULL,
 * -1), a value of another type latches an error naming results.json and the key's path. */
#include "report_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rj_path(char *buf, size_t cap, const char *where, const char *key)
{
    if (where && *where)
        snprintf(buf, cap, "%s.%s", where, key);
    else
        snprintf(buf, cap, "%s", key);
    return buf;
}

const char *rj_index(char *buf, size_t cap, const char *where, int i)
{
    snprintf(buf, cap, "%s[%d]", where && *where ? where : "", i);
    return buf;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "an unknown value";
}

/* The member, or NULL when absent or null; a value failing `ok` latches the error. */
static const cJSON *member(rep *r, const cJSON *obj, const char *where, const char *key,
                           cJSON_bool (*ok)(const cJSON *), const char *expected)
{
    if (!obj || r->rc)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!ok(v)) {
        char path[256];
        rep_fail(r, LRSA_EFORMAT, "'%s': '%s' is %s, expected %s or null", r->results_path,
                 rj_path(path, sizeof path, where, key), type_name(v), expected);
        return NULL;
    }
    return v;
}

double rj_num(rep *r, const cJSON *obj, const char *where, const char *key)
{
    const cJSON *v = member(r, obj, where, key, cJSON_IsNumber, "a number");
    return v ? v->valuedouble : NAN;
}

const char *rj_str(rep *r, const cJSON *obj, const char *where, const char *key)
{
    const cJSON *v = member(r, obj, where, key, cJSON_IsString, "a string");
    return v ? v->valuestring : NULL;
}

int rj_bool(rep *r, const cJSON *obj, const char *where, const char *key)
{
    const cJSON *v = member(r, obj, where, key, cJSON_IsBool, "true or false");
    return v ? cJSON_IsTrue(v) : -1;
}

const cJSON *rj_obj(rep *r, const cJSON *obj, const char *where, const char *key)
{
    return member(r, obj, where, key, cJSON_IsObject, "an object");
}

const cJSON *rj_arr(rep *r, const cJSON *obj, const char *where, const char *key)
{
    return member(r, obj, where, key, cJSON_IsArray, "an array");
}

char *rj_file(rep *r, const char *rel)
{
    if (r->rc || !rel)
        return NULL;
    lrsa_err e;
    lrsa_err_init(&e);
    char *p = rel[0] == '/' ? lrsa_strdup(rel, &e) : lrsa_path_join(r->out_dir, rel, &e);
    if (!p)
        rep_fail_err(r, &e, "'%s'", r->results_path);
    return p;
}

void rj_cmp(rep *r, const cJSON *obj, const char *where, const char *key, rep_cmp *out)
{
    char path[256];
    const cJSON *c = rj_obj(r, obj, where, key);
    rj_cmp_at(r, c, rj_path(path, sizeof path, where, key), out);
}

void rj_cmp_at(rep *r, const cJSON *c, const char *path, rep_cmp *out)
{
    out->present = c != NULL;
    out->method = rj_str(r, c, path, "method");
    out->alternative = rj_str(r, c, path, "alternative");
    out->strata = rj_str(r, c, path, "strata");
    out->n = rj_num(r, c, path, "n");
    out->pairs = rj_num(r, c, path, "pairs");
    out->r = rj_num(r, c, path, "r");
    out->p_parametric = rj_num(r, c, path, "p_parametric");
    out->p_permutation = rj_num(r, c, path, "p_permutation");
    out->permutations = rj_num(r, c, path, "permutations");
    out->bootstrap = rj_num(r, c, path, "bootstrap");
    out->seed = rj_num(r, c, path, "seed");
    out->ci_lo = out->ci_hi = NAN;
    const cJSON *ci = rj_arr(r, c, path, "ci95");
    if (ci) {
        const cJSON *lo = cJSON_GetArrayItem(ci, 0), *hi = cJSON_GetArrayItem(ci, 1);
        if (cJSON_GetArraySize(ci) != 2 || !cJSON_IsNumber(lo) || !cJSON_IsNumber(hi)) {
            char p2[300];
            rep_fail(r, LRSA_EFORMAT, "'%s': '%s' must be [lo, hi] (two numbers) or null",
                     r->results_path, rj_path(p2, sizeof p2, path, "ci95"));
        } else {
            out->ci_lo = lo->valuedouble;
            out->ci_hi = hi->valuedouble;
        }
    }
}
