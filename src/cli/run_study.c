/* The study's options, preparation and stage machinery (run_study.h). The plan is run_plan.c. */
#include "run_study.h"
#include "latentrsa/version.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ===== Options ========================================================= */
/* docs/cli/run.md and docs/paper-preset.md explain each paper value and where it comes from. */
const study_opt study_opts[] = {
    { "task", "5000scenes", "5000scenes", "TASK", "BIDS task label (scan)" },
    { "volume-rule", "lag:5", "stimoff", "RULE", "which volume stands for a trial: lag:SECONDS or stimoff" },
    { "size", "672", "672", "PX", "render and autoencoder input size" },
    { "canvas", "nilearn", "nilearn", "C", "render canvas: nilearn (660x350, resized) or square" },
    { "threshold", "100", "100", "T", "render threshold" },
    { "interp", "cubic", "cubic", "I", "resampling of oblique volumes: cubic or linear" },
    { "volumes", "trials", "all", "V", "the autoencoder trains on trial volumes or all volumes" },
    { "channels", "16,32,64,128,256", "16,32,64,128,256", "LIST", "autoencoder widths" },
    { "epochs", "100", "100", "N", "autoencoder epochs" },
    { "batch", "512", "512", "N", "autoencoder batch" },
    { "lr", "1e-3", "1e-3", "X", "Adam learning rate" },
    { "weight-decay", "1e-5", "1e-5", "X", "Adam weight decay (L2 in the gradient)" },
    { "patience", "10", "10", "N", "early-stopping patience" },
    { "early-stop", "epoch-mean", "last-batch", "R", "early stopping on epoch-mean, last-batch or test loss" },
    { "train-subjects", NULL, NULL, "LIST", "autoencoder training subjects (train-ae's default CSI1,CSI2,CSI3)" },
    { "test-subjects", NULL, NULL, "LIST", "autoencoder test subjects (train-ae's default CSI4)" },
    { "memory-budget", NULL, NULL, "MIB", "train-ae memory budget" },
    { "pool", "none", "none", "P", "fMRI embedding: none (flattened encoder output) or mean" },
    { "vit-output", "last_hidden_state", "last_hidden_state", "O", "ViT output: last_hidden_state, cls, mean, pooler" },
    { "vit-layer", NULL, NULL, "L", "ViT hidden state after block L instead of the final output" },
    { "channel-order", "rgb", "bgr", "C", "rgb, or bgr (the paper's OpenCV read)" },
    { "vit-batch", "8", "8", "N", "images per ViT batch" },
    { "random-vit", "base", "base", "CONFIG", "without --vit: random weights of this config (base, tiny)" },
    { "mask", NULL, NULL, "MASK.nii.gz", "voxel baseline: brain or ROI mask" },
    { "detrend", "on", "on", "on|off", "voxel baseline: run-wise linear detrend" },
    { "zscore-runs", "on", "on", "on|off", "voxel baseline: run-wise z-scoring" },
    { "assign", "quarters", "quarters", "A", "quarters, per-subject or average (align)" },
    { "components", NULL, NULL, "K[,K]", "fixed components (fMRI side, image side) instead of --variance" },
    { "variance", "0.7", "0.7", "F", "keep components up to this fraction of variance" },
    { "solver", "topk", "randomized", "S", "reduce solver: topk, lanczos, exact, randomized" },
    { "metric", "correlation", "correlation", "M", "RDM metric" },
    { "clip-negative", "off", "on", "on|off", "clip negative RDM entries (the paper's np.clip)" },
    { "method", "spearman", "pearson", "M", "RDM comparison: spearman, pearson, kendall-tau-a, cosine" },
    { "alternative", "greater", "two-sided", "A", "greater or two-sided" },
    { "permutations", "10000", "10000", "P", "Mantel permutations" },
    { "bootstrap", "1000", "1000", "B", "bootstrap resamples for the CI" },
    { "strata", "none", "none", "S", "none, or source: permute within stimulus sources" },
    { "seed", "0", "0", "S", "seed of every seeded stage" },
    { "lag-sweep", "on", "on", "on|off", "the voxel baseline's RSA for stimoff, lag:2 .. lag:8" },
};
const int study_nopts = (int)(sizeof study_opts / sizeof study_opts[0]);

static int opt_index(const char *name)
{
    for (int i = 0; i < study_nopts; i++)
        if (strcmp(study_opts[i].name, name) == 0)
            return i;
    return -1;
}

const char *study_get(const study *s, const char *name)
{
    int i = opt_index(name);
    return i < 0 ? NULL : s->values[i];
}

int study_on(const study *s, const char *name)
{
    const char *v = study_get(s, name);
    return v && strcmp(v, "on") == 0;
}

const char *const study_lag_rules[] = { "stimoff", "lag:2", "lag:3", "lag:4", "lag:5", "lag:6", "lag:7", "lag:8" };
const int study_nlag_rules = (int)(sizeof study_lag_rules / sizeof study_lag_rules[0]);

void study_rule_dir(const char *rule, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", rule);
    for (char *c = buf; *c; c++)
        if (*c == ':')
            *c = '-';
}

const char *study_components(const study *s, int side, char buf[32])
{
    const char *k = study_get(s, "components");
    if (!k)
        return NULL;
    char *end;
    long a = strtol(k, &end, 10), b = *end == ',' ? strtol(end + 1, NULL, 10) : a;
    snprintf(buf, 32, "%ld", side ? b : a);
    return buf;
}

static int one_of(const char *v, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(v, choices[i]) == 0)
            return 1;
    return 0;
}

/* The option values the driver itself interprets; the stage commands check the rest. */
static int validate(study *s)
{
    static const char *const onoff[] = { "on", "off", NULL };
    static const char *const assign[] = { "quarters", "per-subject", "average", NULL };
    static const char *const strata[] = { "none", "source", NULL };
    static const char *const volumes[] = { "trials", "all", NULL };
    for (int i = 0; i < study_nopts; i++) {
        const char *v = s->values[i];
        if (!v)
            continue;
        if (strcmp(study_opts[i].arg, "on|off") == 0 && !one_of(v, onoff))
            return cli_usage_error(s->cli, "--%s must be on or off, not '%s'", study_opts[i].name, v);
    }
    const char *a = study_get(s, "assign");
    if (!one_of(a, assign))
        return cli_usage_error(s->cli, "unknown --assign '%s' (choose quarters, per-subject or average)", a);
    if (!one_of(study_get(s, "strata"), strata))
        return cli_usage_error(s->cli, "unknown --strata '%s' (choose none or source)", study_get(s, "strata"));
    if (!one_of(study_get(s, "volumes"), volumes))
        return cli_usage_error(s->cli, "unknown --volumes '%s' (choose trials or all)", study_get(s, "volumes"));
    lrsa_volume_rule rule;
    if (lrsa_volume_rule_parse(study_get(s, "volume-rule"), &rule, NULL))
        return cli_usage_error(s->cli, "bad --volume-rule '%s' (lag:SECONDS or stimoff)", study_get(s, "volume-rule"));
    const char *k = study_get(s, "components");
    if (k) {
        char *end;
        long k1 = strtol(k, &end, 10), k2 = k1;
        if (*end == ',')
            k2 = strtol(end + 1, &end, 10);
        if (*end || k1 < 1 || k2 < 1)
            return cli_usage_error(s->cli, "bad --components '%s' (K, or K_FMRI,K_IMAGES, positive)", k);
    }
    return -1;
}

int study_resolve(study *s, const char *const *cli_vals, const char *preset, const char *config)
{
    if (strcmp(preset, "default") != 0 && strcmp(preset, "paper") != 0)
        return cli_usage_error(s->cli, "unknown --preset '%s' (choose default or paper)", preset);
    s->preset = preset;
    int paper = strcmp(preset, "paper") == 0;
    for (int i = 0; i < study_nopts; i++) {
        s->values[i] = paper ? study_opts[i].paper : study_opts[i].ours;
        s->origin[i] = s->values[i] ? "preset" : NULL;
    }
    if (config) {
        char *text = NULL;
        size_t len;
        lrsa_err err;
        lrsa_err_init(&err);
        if (lrsa_read_file(config, 1 << 20, &text, &len, &err))
            return cli_report(s->cli, &err);
        cJSON *root = cJSON_ParseWithLength(text, len);
        free(text);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            cli_error(s->cli, "'%s': not a JSON object of option names and values", config);
            return EXIT_USAGE;
        }
        for (cJSON *it = root->child; it; it = it->next) {
            int i = opt_index(it->string);
            char buf[64];
            const char *v = NULL;
            if (cJSON_IsString(it))
                v = it->valuestring;
            else if (cJSON_IsBool(it))
                v = cJSON_IsTrue(it) ? "on" : "off";
            else if (cJSON_IsNumber(it)) {
                snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
                v = buf;
            }
            if (i < 0 || !v) {
                cli_error(s->cli, "'%s': %s '%s'", config, i < 0 ? "unknown option" : "not a string, number or boolean: option",
                          it->string);
                cJSON_Delete(root);
                return EXIT_USAGE;
            }
            free(s->config_values[i]);
            s->values[i] = s->config_values[i] = strdup(v);
            s->origin[i] = "config";
        }
        cJSON_Delete(root);
    }
    for (int i = 0; i < study_nopts; i++)
        if (cli_vals[i]) {
            s->values[i] = cli_vals[i];
            s->origin[i] = "command line";
        }
    return validate(s);
}

/* ===== Preparation ===================================================== */
static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return NULL;
    return strdup(buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every image file below dir: name -> path, for finding the shown stimuli. BOLD5000's
 * Presented_Stimuli/{COCO,ImageNet,Scene}/ImgName layout works as it is. */
typedef struct file_index {
    char **names, **paths;
    size_t n, cap;
} file_index;

static void index_dir(file_index *fx, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 16) {
        if (d)
            closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t lp = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(lp);
        if (!path)
            break;
        snprintf(path, lp, "%s/%s", dir, e->d_name);
        struct stat st;
        int ok = stat(path, &st) == 0;
        if (ok && S_ISDIR(st.st_mode)) {
            index_dir(fx, path, depth + 1);
            free(path);
        } else if (ok && S_ISREG(st.st_mode)) {
            if (fx->n == fx->cap) {
                fx->cap = fx->cap ? 2 * fx->cap : 256;
                fx->names = realloc(fx->names, fx->cap * sizeof *fx->names);
                fx->paths = realloc(fx->paths, fx->cap * sizeof *fx->paths);
                if (!fx->names || !fx->paths)
                    abort();
            }
            fx->names[fx->n] = strdup(e->d_name);
            fx->paths[fx->n++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
}

static const char *index_find(const file_index *fx, const char *name)
{
    const char *best = NULL;
    for (size_t i = 0; i < fx->n; i++)   /* the byte-smallest path wins a tie: deterministic */
        if (strcmp(fx->names[i], name) == 0 && (!best || strcmp(fx->paths[i], best) < 0))
            best = fx->paths[i];
    return best;
}

static void index_free(file_index *fx)
{
    for (size_t i = 0; i < fx->n; i++) {
        free(fx->names[i]);
        free(fx->paths[i]);
    }
    free(fx->names);
    free(fx->paths);
}

void study_warn(study *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "latentrsa %s: warning: %s\n", s->cli->cmd, msg);
    cJSON_AddItemToArray(s->warnings, cJSON_CreateString(msg));
}

/* Which stimuli were shown, and where their image files are. */
static int find_stimuli(study *s)
{
    const lrsa_trials *t = s->trials;
    char **names = calloc((size_t)t->n + 1, sizeof *names);
    if (!names)
        return EXIT_FAILURE_;
    int64_t n = 0;
    for (int64_t i = 0; i < t->n; i++)
        names[n++] = (char *)t->rows[i].stimulus;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || strcmp(names[i], names[u - 1]) != 0)
            names[u++] = names[i];
    s->nstimuli_shown = u;
    file_index fx = { 0 };
    index_dir(&fx, s->stimuli, 0);
    s->stim_paths = calloc((size_t)u + 1, sizeof *s->stim_paths);
    char missing[600] = "";
    size_t ml = 0;
    for (int64_t i = 0; i < u; i++) {
        const char *p = index_find(&fx, names[i]);
        if (p) {
            s->stim_paths[s->nstim_paths++] = strdup(p);
        } else {
            if (s->nmissing < 10 && ml < sizeof missing - 100)
                ml += (size_t)snprintf(missing + ml, sizeof missing - ml, "%s'%s'", s->nmissing ? ", " : "", names[i]);
            s->nmissing++;
        }
    }
    index_free(&fx);
    free(names);
    if (s->nmissing && !s->allow_missing) {
        cli_error(s->cli, "'%s': %lld of the %lld stimuli named in events.tsv have no image file: %s%s "
                  "(--allow-missing goes on without them)", s->stimuli, (long long)s->nmissing, (long long)u,
                  missing, s->nmissing > 10 ? ", ..." : "");
        return EXIT_INVALID;
    }
    if (s->nmissing)
        study_warn(s, "%lld of the %lld stimuli named in events.tsv have no image file under '%s' "
                   "(--allow-missing): %s%s; their trials are left out", (long long)s->nmissing, (long long)u,
                   s->stimuli, missing, s->nmissing > 10 ? ", ..." : "");
    if (s->nstim_paths == 0) {
        cli_error(s->cli, "'%s': none of the %lld stimuli named in events.tsv has an image file here", s->stimuli,
                  (long long)u);
        return EXIT_INVALID;
    }
    return -1;
}

/* The output folder: new, empty, or one of ours for the same data (its run.json says so). */
static int check_output(study *s, const char *out)
{
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        cli_error(s->cli, "'%s': exists and is not a folder", out);
        return EXIT_FAILURE_;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.json", out);
    if (lrsa_is_file(path)) {
        char *text = NULL;
        size_t len;
        lrsa_err err;
        lrsa_err_init(&err);
        if (lrsa_read_file(path, 64 << 20, &text, &len, &err))
            return cli_report(s->cli, &err);
        cJSON *root = cJSON_ParseWithLength(text, len);
        free(text);
        const cJSON *study = cJSON_GetObjectItemCaseSensitive(root, "study");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(study, "bids");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(study, "stimuli");
        if (!cJSON_IsString(b) || !cJSON_IsString(m)) {
            cJSON_Delete(root);
            cli_error(s->cli, "'%s': not a latentrsa run record (no study.bids and study.stimuli)", path);
            return EXIT_INVALID;
        }
        if ((strcmp(b->valuestring, s->bids) != 0 || strcmp(m->valuestring, s->stimuli) != 0) && !s->force) {
            cli_error(s->cli, "'%s' holds another study's files (of '%s' and '%s'); choose another -o or use --force",
                      out, b->valuestring, m->valuestring);
            cJSON_Delete(root);
            return EXIT_FAILURE_;
        }
        if (!s->force) {
            cJSON *stages = cJSON_DetachItemFromObjectCaseSensitive(root, "stages");
            if (cJSON_IsObject(stages))
                s->cache = stages;
            else
                cJSON_Delete(stages);
        }
        cJSON_Delete(root);
        return -1;
    }
    DIR *d = opendir(out);
    if (d) {
        struct dirent *e;
        int empty = 1;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                empty = 0;
        closedir(d);
        if (!empty && !s->force) {
            cli_error(s->cli, "'%s' is not empty and holds no run.json: not a latentrsa study folder "
                      "(choose a new or empty folder, or use --force)", out);
            return EXIT_FAILURE_;
        }
    }
    return -1;
}

static int cmp_label(const void *a, const void *b)
{
    return lrsa_label_cmp(*(char *const *)a, *(char *const *)b);
}

int study_prepare(study *s, const char *bids, const char *stimuli, const char *vit, const char *ae,
                  const char *out)
{
    lrsa_err err;
    lrsa_err_init(&err);
    s->warnings = cJSON_CreateArray();
    const char *mask = study_get(s, "mask");
    struct { const char *given, *what; char **dst; int dir; } paths[] = {
        { bids, "--bids folder", &s->bids, 1 }, { stimuli, "--stimuli folder", &s->stimuli, 1 },
        { vit, "--vit folder", &s->vit, 1 }, { ae, "--ae checkpoint", &s->ae, 0 },
        { mask, "--mask file", &s->mask, 0 },
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!paths[i].given)
            continue;
        if (!(*paths[i].dst = absolute(paths[i].given)) ||
            (paths[i].dir ? !lrsa_is_dir(*paths[i].dst) : !lrsa_is_file(*paths[i].dst))) {
            cli_error(s->cli, "'%s': %s (the %s)", paths[i].given,
                      errno == ENOENT || !*paths[i].dst ? "no such file or folder" : paths[i].dir ? "not a folder" : "not a file",
                      paths[i].what);
            return EXIT_INVALID;
        }
    }
    if (s->vit) {
        char marker[PATH_MAX];
        snprintf(marker, sizeof marker, "%s/random_init.json", s->vit);
        s->random_vit = lrsa_is_file(marker);
    } else {
        s->random_vit = 1;
    }
    /* Scan in-process for the sizes, the subjects and the stimuli (the scan stage writes the
     * same table to OUT/trials.tsv). */
    lrsa_scan_opts so;
    lrsa_scan_opts_init(&so);
    so.task = study_get(s, "task");
    lrsa_volume_rule_parse(study_get(s, "volume-rule"), &so.rule, NULL);
    lrsa_scan_summary sum;
    if (lrsa_bids_scan(s->bids, &so, NULL, &s->trials, &sum, &err))
        return cli_report(s->cli, &err);
    s->nruns = sum.runs;
    s->subjects = calloc((size_t)sum.subjects + 1, sizeof *s->subjects);
    const char *prev_bold = NULL;
    for (int64_t i = 0; i < s->trials->n; i++) {
        const lrsa_trial *r = &s->trials->rows[i];
        int seen = 0;
        for (int k = 0; k < s->nsubjects; k++)
            seen |= strcmp(s->subjects[k], r->subject) == 0;
        if (!seen && s->nsubjects < sum.subjects)
            s->subjects[s->nsubjects++] = (char *)r->subject;
        if (!prev_bold || strcmp(prev_bold, r->bold) != 0)
            s->nvolumes_all += r->nvolumes;
        prev_bold = r->bold;
    }
    qsort(s->subjects, (size_t)s->nsubjects, sizeof *s->subjects, cmp_label);
    int status = find_stimuli(s);
    if (status >= 0)
        return status;
    s->out = NULL;
    if ((status = check_output(s, out)) >= 0)
        return status;
    if (!s->dry_run && lrsa_mkdir_p(out, &err))
        return cli_report(s->cli, &err);
    if (!(s->out = absolute(out)))
        s->out = strdup(out);   /* dry run: the folder need not exist */
    if (!s->cache)
        s->cache = cJSON_CreateObject();
    s->bids_fp = fp_tree(FP_INIT, s->bids, "sub-", &s->bids_stats);
    uint64_t h = FP_INIT;
    for (int64_t i = 0; i < s->nstim_paths; i++) {
        h = fp_str(h, s->stim_paths[i]);
        h = fp_file(h, s->stim_paths[i], 0);
        struct stat st;
        if (stat(s->stim_paths[i], &st) == 0) {
            s->stimuli_stats.files++;
            s->stimuli_stats.bytes += (uint64_t)st.st_size;
        }
    }
    s->stimuli_fp = h;
    if (s->vit) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/config.json", s->vit);
        h = fp_file(FP_INIT, p, 1);
        snprintf(p, sizeof p, "%s/model.safetensors", s->vit);
        s->vit_fp = fp_file(h, p, 0);
    }
    return -1;
}

/* ===== Records ========================================================= */
static char *shell_join(char *const *argv)
{
    lrsa_strbuf sb;
    lrsa_strbuf_init(&sb);
    for (int i = 0; argv[i]; i++) {
        const char *a = argv[i];
        int plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,=+@%", *c))
                plain = 0;
        if (i)
            lrsa_strbuf_adds(&sb, " ", NULL);
        if (plain) {
            lrsa_strbuf_adds(&sb, a, NULL);
        } else {
            lrsa_strbuf_adds(&sb, "'", NULL);
            for (const char *c = a; *c; c++)
                lrsa_strbuf_adds(&sb, *c == '\'' ? "'\\''" : (char[]){ *c, 0 }, NULL);
            lrsa_strbuf_adds(&sb, "'", NULL);
        }
    }
    return lrsa_strbuf_detach(&sb, NULL);
}

static int write_run_json(study *s, int finished)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "latentrsa_version", LRSA_VERSION);
    cJSON_AddStringToObject(root, "command", s->command);
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(root, "updated", stamp);
    cJSON_AddBoolToObject(root, "finished", finished);
    cJSON *study = cJSON_AddObjectToObject(root, "study");
    cJSON_AddStringToObject(study, "bids", s->bids);
    cJSON_AddStringToObject(study, "stimuli", s->stimuli);
    cJSON_AddStringToObject(root, "preset", s->preset);
    cJSON *opts = cJSON_AddObjectToObject(root, "options");
    for (int i = 0; i < study_nopts; i++)
        if (s->values[i]) {
            cJSON *o = cJSON_AddObjectToObject(opts, study_opts[i].name);
            cJSON_AddStringToObject(o, "value", s->values[i]);
            cJSON_AddStringToObject(o, "from", s->origin[i]);
        }
    cJSON_AddNumberToObject(root, "threads", s->cli->threads > 0 ? s->cli->threads : lrsa_threads(NULL));
    cJSON *inputs = cJSON_AddObjectToObject(root, "inputs");
    char hex[17];
    fp_hex(s->bids_fp, hex);
    cJSON_AddStringToObject(inputs, "bids_fingerprint", hex);
    fp_hex(s->stimuli_fp, hex);
    cJSON_AddStringToObject(inputs, "stimuli_fingerprint", hex);
    cJSON_AddNumberToObject(inputs, "bids_files", (double)s->bids_stats.files);
    cJSON_AddNumberToObject(inputs, "bids_bytes", (double)s->bids_stats.bytes);
    cJSON_AddNumberToObject(inputs, "stimulus_files", (double)s->stimuli_stats.files);
    cJSON_AddNumberToObject(inputs, "stimulus_bytes", (double)s->stimuli_stats.bytes);
    cJSON_AddItemToObject(root, "stages", cJSON_Duplicate(s->cache, 1));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.json", s->out);
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_outfile of;
    int rc = lrsa_outfile_open(&of, path, &err);
    if (!rc) {
        fputs(text, of.fp);
        fputc('\n', of.fp);
        rc = lrsa_outfile_commit(&of, &err);
    }
    free(text);
    if (rc)
        cli_report(s->cli, &err);
    return rc;
}

/* ===== Stages ========================================================== */
study_stage *study_stage_new(study *s, const char *fmt, ...)
{
    if (s->nstages == s->capstages) {
        s->capstages = s->capstages ? 2 * s->capstages : 64;
        s->stages = realloc(s->stages, (size_t)s->capstages * sizeof *s->stages);
        if (!s->stages)
            abort();
    }
    study_stage *st = &s->stages[s->nstages++];
    memset(st, 0, sizeof *st);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->name, sizeof st->name, fmt, ap);
    va_end(ap);
    st->argv[st->argc++] = strdup("latentrsa");
    st->key = fp_str(FP_INIT, st->name);
    return st;
}

void stage_arg(study_stage *st, const char *fmt, ...)
{
    char buf[PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (st->argc < STUDY_MAX_ARGS - 1)
        st->argv[st->argc++] = strdup(buf);
}

/* "--name value" when value is set. */
void stage_opt(study_stage *st, const char *flag, const char *value)
{
    if (!value)
        return;
    stage_arg(st, "%s", flag);
    stage_arg(st, "%s", value);
}

void stage_output(study_stage *st, const char *fmt, ...)
{
    char buf[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (st->noutputs < 8)
        st->outputs[st->noutputs++] = strdup(buf);
}

void stage_depends(study_stage *st, uint64_t key)
{
    st->key = fp_u64(st->key, key);
}

/* The key of an earlier stage, by name (0 if there is none). */
uint64_t study_key(const study *s, const char *name)
{
    for (int i = 0; i < s->nstages; i++)
        if (strcmp(s->stages[i].name, name) == 0)
            return s->stages[i].key;
    return 0;
}

static int outputs_exist(const study *s, const study_stage *st)
{
    for (int i = 0; i < st->noutputs; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", s->out, st->outputs[i]);
        if (!lrsa_is_file(p))
            return 0;
    }
    return 1;
}

static int cached(const study *s, const study_stage *st)
{
    if (st->always)
        return 0;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->cache, st->name);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
    char hex[17];
    fp_hex(st->key, hex);
    return cJSON_IsString(k) && strcmp(k->valuestring, hex) == 0 && outputs_exist(s, st);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void record(study *s, const study_stage *st, char *command)
{
    cJSON_DeleteItemFromObjectCaseSensitive(s->cache, st->name);
    cJSON *e = cJSON_AddObjectToObject(s->cache, st->name);
    char hex[17];
    fp_hex(st->key, hex);
    cJSON_AddStringToObject(e, "key", hex);
    cJSON_AddStringToObject(e, "command", command);
    cJSON_AddNumberToObject(e, "seconds", st->seconds);
    cJSON *outs = cJSON_AddArrayToObject(e, "outputs");
    for (int i = 0; i < st->noutputs; i++)
        cJSON_AddItemToArray(outs, cJSON_CreateString(st->outputs[i]));
}

/* Make the folders a stage writes into. */
static void make_dirs(const study *s, const study_stage *st)
{
    for (int i = 0; i < st->noutputs; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", s->out, st->outputs[i]);
        char *slash = strrchr(p, '/');
        if (slash) {
            *slash = '\0';
            lrsa_mkdir_p(p, NULL);
        }
    }
}

/* The key covers the command line (not -q or --threads: they change no result). */
static void seal(study_stage *st)
{
    for (int i = 0; i < st->argc; i++)
        st->key = fp_str(st->key, st->argv[i]);
    st->argv[st->argc] = NULL;
}

int study_stage_run(study *s, study_stage *st, double estimate_s)
{
    seal(st);
    char *command = shell_join(st->argv);
    if (s->cli->threads > 0)
        stage_arg(st, "--threads=%d", s->cli->threads);
    if (!s->cli->verbose)
        stage_arg(st, "-q");   /* the stage lines say what runs; -v shows each command's notes */
    st->argv[st->argc] = NULL;
    if (s->dry_run) {
        int hit = s->out && cached(s, st);
        printf("  %-24s %-9s %s\n", st->name, hit ? "cached" : "", command);
        if (!hit)
            s->estimate_s += estimate_s;
        free(command);
        return -1;
    }
    if (cached(s, st)) {
        strcpy(st->status, "cached");
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->cache, st->name), "seconds");
        st->seconds = cJSON_IsNumber(sec) ? sec->valuedouble : 0;
        cli_note(s->cli, "%-24s cached", st->name);
        free(command);
        return -1;
    }
    cli_note(s->cli, "%-24s %s", st->name, command);
    cJSON_DeleteItemFromObjectCaseSensitive(s->cache, st->name);
    if (write_run_json(s, 0)) {
        free(command);
        return EXIT_FAILURE_;
    }
    make_dirs(s, st);
    double t0 = now_s();
    int status = 0;
    if (run_child(s->self, s->out, st->argv, st->stdout_path, &status) != 0) {
        cli_error(s->cli, "cannot start '%s' for stage %s", s->self, st->name);
        free(command);
        return EXIT_FAILURE_;
    }
    st->seconds = now_s() - t0;
    if (status != 0) {
        cli_error(s->cli, "stage %s failed (exit status %d); its command, run in '%s': %s", st->name, status,
                  s->out, command);
        free(command);
        return status == EXIT_USAGE || status == EXIT_INVALID ? status : EXIT_FAILURE_;
    }
    strcpy(st->status, "ran");
    record(s, st, command);
    free(command);
    return write_run_json(s, 0) ? EXIT_FAILURE_ : -1;
}

/* An in-process stage: fn does the work (returns 0 or an lrsa code with err set). */
int study_stage_do(study *s, study_stage *st, int (*fn)(study *s, study_stage *st, lrsa_err *err))
{
    seal(st);
    if (s->dry_run) {
        printf("  %-24s %s\n", st->name, s->out && cached(s, st) ? "cached" : "(in-process)");
        return -1;
    }
    if (cached(s, st)) {
        strcpy(st->status, "cached");
        cli_note(s->cli, "%-24s cached", st->name);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(s->cache, st->name);
    make_dirs(s, st);
    double t0 = now_s();
    lrsa_err err;
    lrsa_err_init(&err);
    if (fn(s, st, &err))
        return cli_report(s->cli, &err);
    st->seconds = now_s() - t0;
    strcpy(st->status, "ran");
    cli_note(s->cli, "%-24s done", st->name);
    char note[128];
    snprintf(note, sizeof note, "(in-process: %s)", st->name);
    record(s, st, note);
    return write_run_json(s, 0) ? EXIT_FAILURE_ : -1;
}

int study_finish_record(study *s)
{
    return write_run_json(s, 1);
}

void study_free(study *s)
{
    lrsa_trials_free(s->trials);
    free(s->subjects);
    for (int64_t i = 0; i < s->nstim_paths; i++)
        free(s->stim_paths[i]);
    free(s->stim_paths);
    for (int i = 0; i < s->nstages; i++) {
        for (int k = 0; k < s->stages[i].argc; k++)
            free(s->stages[i].argv[k]);
        for (int k = 0; k < s->stages[i].noutputs; k++)
            free(s->stages[i].outputs[k]);
        free(s->stages[i].stdout_path);
    }
    for (int i = 0; i < study_nopts; i++)
        free(s->config_values[i]);
    free(s->stages);
    cJSON_Delete(s->cache);
    cJSON_Delete(s->warnings);
    free(s->out);
    free(s->bids);
    free(s->stimuli);
    free(s->vit);
    free(s->ae);
    free(s->mask);
    free(s->command);
}
