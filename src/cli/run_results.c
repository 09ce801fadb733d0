/* results.json: the study's numbers gathered from its stages' outputs (schema: docs/cli/run.md). */
#include "run_study.h"
#include "latentrsa/npy.h"
#include "latentrsa/version.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_config(void);

/* A JSON file of the study, parsed; NULL when missing or unreadable. */
static cJSON *read_json(const study *s, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->out, rel);
    char *text = NULL;
    size_t len;
    if (!lrsa_is_file(path) || lrsa_read_file(path, 256 << 20, &text, &len, NULL))
        return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    return j;
}

static cJSON *json_or_null(cJSON *j)
{
    return j ? j : cJSON_CreateNull();
}

static void add_path_or_null(cJSON *obj, const char *key, const study *s, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->out, rel);
    if (lrsa_is_file(path))
        cJSON_AddStringToObject(obj, key, rel);
    else
        cJSON_AddNullToObject(obj, key);
}

static double npy_cols(const study *s, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->out, rel);
    lrsa_npy_mapping *m = NULL;
    if (lrsa_npy_map(path, &m, NULL))
        return -1;
    double d = m->hdr.ndim == 2 ? (double)m->hdr.shape[1] : -1;
    lrsa_npy_unmap(m);
    return d;
}

static cJSON *side(const study *s, const char *label, const char *embedding, const char *reduce_prefix)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", label);
    cJSON_AddStringToObject(o, "embedding", embedding);
    double d = npy_cols(s, embedding);
    if (d >= 0)
        cJSON_AddNumberToObject(o, "dims", d);
    else
        cJSON_AddNullToObject(o, "dims");
    char rel[256];
    snprintf(rel, sizeof rel, "reduce/%s.npy", reduce_prefix);
    add_path_or_null(o, "reduced", s, rel);
    snprintf(rel, sizeof rel, "reduce/%s.json", reduce_prefix);
    cJSON *r = read_json(s, rel);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "k");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "explained_variance_ratio_sum");
    cJSON_AddItemToObject(o, "components", cJSON_IsNumber(k) ? cJSON_CreateNumber(k->valuedouble) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "variance", cJSON_IsNumber(v) ? cJSON_CreateNumber(v->valuedouble) : cJSON_CreateNull());
    cJSON_Delete(r);
    snprintf(rel, sizeof rel, "rdm/%s.npy", reduce_prefix);
    add_path_or_null(o, "rdm", s, rel);
    return o;
}

static double number(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static cJSON *lag_sweep(const study *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < study_nlag_rules; i++) {
        char d[32], rel[96];
        study_rule_dir(study_lag_rules[i], d, sizeof d);
        snprintf(rel, sizeof rel, "lags/%s/rsa.json", d);
        cJSON *c = read_json(s, rel);
        if (!c)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "rule", study_lag_rules[i]);
        cJSON_AddNumberToObject(e, "n", number(c, "n"));
        cJSON_AddNumberToObject(e, "r", number(c, "r"));
        double p = number(c, "p_permutation");
        cJSON_AddItemToObject(e, "p_permutation", p == p ? cJSON_CreateNumber(p) : cJSON_CreateNull());
        cJSON *ci = cJSON_DetachItemFromObjectCaseSensitive(c, "ci95");
        cJSON_AddItemToObject(e, "ci95", ci ? ci : cJSON_CreateNull());
        snprintf(rel, sizeof rel, "lags/%s/truth.json", d);
        cJSON *t = read_json(s, rel);
        double rt = number(t, "r");
        cJSON_AddItemToObject(e, "r_truth", t && rt == rt ? cJSON_CreateNumber(rt) : cJSON_CreateNull());
        cJSON_Delete(t);
        cJSON_AddItemToArray(arr, e);
        cJSON_Delete(c);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return cJSON_CreateNull();
    }
    return arr;
}

static cJSON *vit_info(const study *s)
{
    cJSON *o = cJSON_CreateObject();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", s->vit ? s->vit : "");
    if (!s->vit)
        snprintf(dir, sizeof dir, "%s/vit-random", s->out);
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON_AddStringToObject(o, "output", study_get(s, "vit-output"));
    cJSON_AddStringToObject(o, "channel_order", study_get(s, "channel-order"));
    char cfg_path[PATH_MAX + 16];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    char *text = NULL;
    size_t len;
    cJSON *cfg = NULL;
    if (!lrsa_read_file(cfg_path, 1 << 20, &text, &len, NULL))
        cfg = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON_AddNumberToObject(o, "hidden_size", number(cfg, "hidden_size"));
    cJSON_AddNumberToObject(o, "layers", number(cfg, "num_hidden_layers"));
    cJSON_Delete(cfg);
    cJSON_AddBoolToObject(o, "random", s->random_vit);
    return o;
}

static cJSON *ae_info(const study *s)
{
    cJSON *j = read_json(s, "ae/AE.json");
    if (!j && !s->ae)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "checkpoint", s->ae ? s->ae : "ae/AE.safetensors");
    add_path_or_null(o, "json", s, "ae/AE.json");
    add_path_or_null(o, "loss_figure", s, "ae/AE.loss.png");
    add_path_or_null(o, "recon_figure", s, "ae/AE.recon.png");
    cJSON *ch = cJSON_CreateArray();
    for (const char *c = study_get(s, "channels"); c && *c;) {
        cJSON_AddItemToArray(ch, cJSON_CreateNumber(atof(c)));
        c = strchr(c, ',');
        c = c ? c + 1 : NULL;
    }
    cJSON_AddItemToObject(o, "channels", ch);
    cJSON_AddNumberToObject(o, "size", atof(study_get(s, "size")));
    cJSON_AddStringToObject(o, "pool", study_get(s, "pool"));
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "epochs_done");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(j, "best_epoch");
    cJSON_AddItemToObject(o, "epochs_run", cJSON_IsNumber(eps) ? cJSON_CreateNumber(eps->valuedouble) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "best_epoch", cJSON_IsNumber(best) ? cJSON_CreateNumber(best->valuedouble) : cJSON_CreateNull());
    cJSON_Delete(j);
    return o;
}

int study_write_results(study *s, lrsa_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "latentrsa_version", LRSA_VERSION);
    cJSON_AddStringToObject(root, "preset", s->preset);
    cJSON_AddStringToObject(root, "command", s->command);
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(root, "created", stamp);
    cJSON_AddBoolToObject(root, "random_vit", s->random_vit);
    cJSON_AddItemToObject(root, "warnings", cJSON_Duplicate(s->warnings, 1));

    char truth[PATH_MAX];
    snprintf(truth, sizeof truth, "%s/truth.json", s->bids);
    cJSON *ds = cJSON_AddObjectToObject(root, "dataset");
    cJSON_AddStringToObject(ds, "bids", s->bids);
    cJSON_AddStringToObject(ds, "stimuli", s->stimuli);
    cJSON_AddStringToObject(ds, "task", study_get(s, "task"));
    cJSON *subs = cJSON_AddArrayToObject(ds, "subjects");
    for (int i = 0; i < s->nsubjects; i++)
        cJSON_AddItemToArray(subs, cJSON_CreateString(s->subjects[i]));
    cJSON_AddNumberToObject(ds, "runs", (double)s->nruns);
    cJSON_AddNumberToObject(ds, "trials", (double)s->trials->n);
    cJSON_AddNumberToObject(ds, "stimuli_shown", (double)s->nstimuli_shown);
    cJSON_AddStringToObject(ds, "volume_rule", study_get(s, "volume-rule"));
    cJSON_AddBoolToObject(ds, "synthetic", lrsa_is_file(truth));

    int per_subject = strcmp(study_get(s, "assign"), "per-subject") == 0;
    cJSON *align = read_json(s, "align/ae.json");
    cJSON *rsa = per_subject ? NULL : read_json(s, "compare/rsa.json");
    double n = rsa ? number(rsa, "n") : number(align, "rows_out");
    cJSON_AddNumberToObject(root, "n_stimuli", n);

    cJSON *sides = cJSON_AddObjectToObject(root, "sides");
    char fmri_label[160], img_label[160];
    snprintf(fmri_label, sizeof fmri_label, "autoencoder embedding of the rendered trial volumes (pool %s)",
             study_get(s, "pool"));
    snprintf(img_label, sizeof img_label, "ViT %s of the stimulus images%s", study_get(s, "vit-output"),
             s->random_vit ? " (RANDOM weights)" : "");
    cJSON_AddItemToObject(sides, "fmri", side(s, fmri_label, "embed/fmri.npy", "ae.fmri"));
    cJSON_AddItemToObject(sides, "images", side(s, img_label, "embed/images.npy", "ae.images"));
    cJSON_AddItemToObject(sides, "voxels", side(s, "voxel baseline (trial volumes, no model)", "embed/voxels.npy",
                                                "voxels.fmri"));
    cJSON_AddItemToObject(root, "alignment", json_or_null(align));
    cJSON_AddStringToObject(root, "null", strcmp(study_get(s, "strata"), "source") == 0 ? "stratified by source" : "plain");
    cJSON_AddItemToObject(root, "rsa", json_or_null(rsa));
    if (per_subject)
        cJSON_AddNullToObject(root, "rsa_null");
    else
        add_path_or_null(root, "rsa_null", s, "compare/rsa.null.npy");
    cJSON_AddItemToObject(root, "rsa_voxels", json_or_null(per_subject ? NULL : read_json(s, "compare/rsa_voxels.json")));
    if (per_subject)
        cJSON_AddNullToObject(root, "rsa_voxels_null");
    else
        add_path_or_null(root, "rsa_voxels_null", s, "compare/rsa_voxels.null.npy");

    if (per_subject) {
        cJSON *ps = cJSON_AddArrayToObject(root, "per_subject");
        double sum = 0;
        int count = 0;
        for (int i = 0; i < s->nsubjects; i++) {
            char rel[128];
            snprintf(rel, sizeof rel, "compare/rsa.%s.json", s->subjects[i]);
            cJSON *c = read_json(s, rel);
            snprintf(rel, sizeof rel, "compare/rsa_voxels.%s.json", s->subjects[i]);
            cJSON *cv = read_json(s, rel);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "subject", s->subjects[i]);
            cJSON_AddNumberToObject(e, "n", number(c, "n"));
            if (c && number(c, "r") == number(c, "r")) {
                sum += number(c, "r");
                count++;
            }
            cJSON_AddItemToObject(e, "rsa", json_or_null(c));
            cJSON_AddItemToObject(e, "rsa_voxels", json_or_null(cv));
            cJSON_AddItemToArray(ps, e);
        }
        cJSON_AddItemToObject(root, "per_subject_mean_r", count ? cJSON_CreateNumber(sum / count) : cJSON_CreateNull());
    } else {
        cJSON_AddNullToObject(root, "per_subject");
        cJSON_AddNullToObject(root, "per_subject_mean_r");
    }

    cJSON *tf = read_json(s, "compare/truth.fmri.json");
    if (tf) {
        cJSON *t = cJSON_AddObjectToObject(root, "truth");
        cJSON_AddItemToObject(t, "fmri", tf);
        cJSON_AddItemToObject(t, "images", json_or_null(read_json(s, "compare/truth.images.json")));
        cJSON_AddItemToObject(t, "voxels", json_or_null(read_json(s, "compare/truth.voxels.json")));
        cJSON_AddStringToObject(t, "rdm", "rdm/truth.ae.npy");
    } else {
        cJSON_AddNullToObject(root, "truth");
    }
    cJSON_AddItemToObject(root, "lag_sweep", lag_sweep(s));
    cJSON_AddItemToObject(root, "ae", ae_info(s));
    cJSON_AddItemToObject(root, "vit", vit_info(s));

    cJSON *opts = cJSON_AddObjectToObject(root, "options");
    for (int i = 0; i < study_nopts; i++)
        if (s->values[i])
            cJSON_AddStringToObject(opts, study_opts[i].name, s->values[i]);
    cJSON *stages = cJSON_AddArrayToObject(root, "stages");
    for (int i = 0; i < s->nstages; i++) {
        const study_stage *st = &s->stages[i];
        if (!st->status[0])
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", st->name);
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(s->cache, st->name);
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(rec, "command");
        cJSON_AddStringToObject(e, "command", cJSON_IsString(cmd) ? cmd->valuestring : "");
        cJSON_AddStringToObject(e, "status", st->status);
        cJSON_AddNumberToObject(e, "seconds", st->seconds);
        cJSON_AddItemToArray(stages, e);
    }
    cJSON *ver = cJSON_AddObjectToObject(root, "versions");
    cJSON_AddStringToObject(ver, "latentrsa", LRSA_VERSION);
    cJSON_AddStringToObject(ver, "blas", openblas_get_config());

    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/results.json", s->out);
    lrsa_outfile of;
    int rc = lrsa_outfile_open(&of, path, err);
    if (!rc) {
        fputs(text, of.fp);
        fputc('\n', of.fp);
        rc = lrsa_outfile_commit(&of, err);
    }
    free(text);
    return rc;
}

static void print_rsa(const char *what, const cJSON *c)
{
    if (!cJSON_IsObject(c))
        return;
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(c, "ci95");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(c, "method");
    double p = number(c, "p_permutation");
    printf("%-16s r = %.4f (%s, n = %.0f)", what, number(c, "r"), cJSON_IsString(method) ? method->valuestring : "?",
           number(c, "n"));
    if (p == p)
        printf(", permutation p = %.4g (%.0f permutations)", p, number(c, "permutations"));
    if (cJSON_IsArray(ci) && cJSON_GetArraySize(ci) == 2)
        printf(", 95%% CI [%.3f, %.3f]", cJSON_GetArrayItem(ci, 0)->valuedouble, cJSON_GetArrayItem(ci, 1)->valuedouble);
    printf("\n");
}

void study_print_headline(const study *s)
{
    cJSON *r = read_json(s, "results.json");
    if (!r)
        return;
    printf("study: %s (preset %s)\n", s->out, s->preset);
    print_rsa("RSA:", cJSON_GetObjectItemCaseSensitive(r, "rsa"));
    print_rsa("voxel baseline:", cJSON_GetObjectItemCaseSensitive(r, "rsa_voxels"));
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(r, "per_subject");
    for (const cJSON *e = cJSON_IsArray(ps) ? ps->child : NULL; e; e = e->next) {
        const cJSON *subject = cJSON_GetObjectItemCaseSensitive(e, "subject");
        char what[48];
        snprintf(what, sizeof what, "RSA %s:", cJSON_IsString(subject) ? subject->valuestring : "?");
        print_rsa(what, cJSON_GetObjectItemCaseSensitive(e, "rsa"));
    }
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(r, "per_subject_mean_r");
    if (cJSON_IsNumber(mean))
        printf("%-16s r = %.4f\n", "mean over subjects:", mean->valuedouble);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "truth");
    if (cJSON_IsObject(t)) {
        print_rsa("truth vs fMRI:", cJSON_GetObjectItemCaseSensitive(t, "fmri"));
        print_rsa("truth vs images:", cJSON_GetObjectItemCaseSensitive(t, "images"));
        print_rsa("truth vs voxels:", cJSON_GetObjectItemCaseSensitive(t, "voxels"));
    }
    if (s->random_vit)
        printf("WARNING: the image side used RANDOM ViT weights: these numbers check the pipeline; they are not a finding\n");
    printf("report: %s/report.html\n", s->out);
    cJSON_Delete(r);
}
