/*
 * The study's stages, in order (run_study.h):
 *   scan -> stimuli list -> [vit-init] -> render -> train-ae (or --ae) -> embed-fmri, embed-voxels,
 *   embed-images -> align (autoencoder and voxel pathways) -> reduce -> rdm -> compare
 *   -> [truth RDM comparisons on synthetic data] -> [lag sweep] -> results.json -> report.
 * Paths are relative to the output folder, where every stage command runs.
 */
#include "run_study.h"
#include "latentrsa/vit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUN(s, st, est)                               \
    do {                                              \
        int status_ = study_stage_run((s), (st), (est)); \
        if (status_ >= 0)                             \
            return status_;                           \
    } while (0)

/* ===== Rough time estimates for --dry-run (2 cores, BENCHMARKS.md) ====== */
static double ae_flops_per_image(const study *s)
{
    double size = atof(study_get(s, "size")), flops = 0, cin = 3;
    const char *c = study_get(s, "channels");
    while (c && *c) {
        double cout = atof(c);
        size /= 2;
        flops += 2 * 9 * cin * cout * size * size;
        cin = cout;
        c = strchr(c, ',');
        c = c ? c + 1 : NULL;
    }
    return 2 * flops; /* encoder + the mirrored decoder */
}

static double vit_seconds_per_image(const study *s)
{
    lrsa_vit_config cfg;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", s->vit ? s->vit : "");
    if (s->vit ? lrsa_vit_config_read(path, &cfg, NULL) : lrsa_vit_config_preset(study_get(s, "random-vit"), &cfg, NULL))
        lrsa_vit_config_preset("base", &cfg, NULL);
    double t = pow((double)(cfg.image_size / cfg.patch_size), 2) + 1, h = (double)cfg.hidden_size;
    double flops = (double)cfg.num_hidden_layers *
                   (2 * t * (4 * h * h + 2 * h * (double)cfg.intermediate_size) + 4 * t * t * h);
    return flops / 120e9;
}

static double render_seconds_per_volume(const study *s)
{
    double size = atof(study_get(s, "size"));
    return strcmp(study_get(s, "canvas"), "nilearn") == 0 ? 0.020 + 0.006 * size * size / (672.0 * 672.0)
                                                          : 0.002 + 0.010 * size * size / (672.0 * 672.0);
}

static double compare_seconds(const study *s, double n)
{
    double m = n * (n - 1) / 2;
    return m * (atof(study_get(s, "permutations")) * 0.8e-9 + atof(study_get(s, "bootstrap")) * 2e-9);
}

/* ===== In-process stages ================================================ */
static int write_stimulus_list(study *s, study_stage *st, lrsa_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->out, st->outputs[0]);
    lrsa_outfile of;
    int rc = lrsa_outfile_open(&of, path, err);
    if (rc)
        return rc;
    fprintf(of.fp, "# the image files of the %lld stimuli shown (latentrsa run)\n", (long long)s->nstim_paths);
    for (int64_t i = 0; i < s->nstim_paths; i++)
        fprintf(of.fp, "%s\n", s->stim_paths[i]);
    return lrsa_outfile_commit(&of, err);
}

static int write_truth(study *s, study_stage *st, lrsa_err *err)
{
    char truth[PATH_MAX], like[PATH_MAX], out[PATH_MAX];
    snprintf(truth, sizeof truth, "%s/truth.json", s->bids);
    snprintf(like, sizeof like, "%s/%s", s->out, st->argv[1]);
    snprintf(out, sizeof out, "%s/%s", s->out, st->outputs[0]);
    return run_truth_rdm(truth, like, out, err);
}

static int write_results(study *s, study_stage *st, lrsa_err *err)
{
    (void)st;
    return study_write_results(s, err);
}

/* ===== Stage builders shared by the main pathway and the lag sweep ====== */
static study_stage *scan_stage(study *s, const char *name, const char *rule, const char *out)
{
    study_stage *st = study_stage_new(s, "%s", name);
    stage_arg(st, "scan");
    stage_arg(st, "%s", s->bids);
    stage_opt(st, "--task", study_get(s, "task"));
    stage_opt(st, "--volume-rule", rule);
    stage_arg(st, "-o");
    stage_arg(st, "%s", out);
    stage_output(st, "%s", out);
    stage_depends(st, s->bids_fp);
    return st;
}

static study_stage *embed_voxels_stage(study *s, const char *name, const char *trials, const char *out,
                                       uint64_t scan_key)
{
    study_stage *st = study_stage_new(s, "%s", name);
    stage_arg(st, "embed-voxels");
    stage_opt(st, "--bids", s->bids);
    stage_opt(st, "--trials", trials);
    stage_opt(st, "--mask", s->mask);
    if (study_on(s, "detrend"))
        stage_arg(st, "--detrend");
    if (study_on(s, "zscore-runs"))
        stage_arg(st, "--zscore-runs");
    stage_arg(st, "-o");
    stage_arg(st, "%s", out);
    stage_output(st, "%s", out);
    stage_depends(st, scan_key);
    stage_depends(st, s->bids_fp);
    if (s->mask)
        stage_depends(st, fp_file(FP_INIT, s->mask, 0));
    return st;
}

/* reduce IN to K components (NULL: to --variance), z-scored, as every side is. */
static study_stage *reduce_stage(study *s, const char *name, const char *in, const char *out, const char *k,
                                 uint64_t in_key)
{
    study_stage *st = study_stage_new(s, "%s", name);
    stage_arg(st, "reduce");
    stage_arg(st, "%s", in);
    stage_arg(st, "--zscore");
    if (k)
        stage_opt(st, "--components", k);
    else
        stage_opt(st, "--variance", study_get(s, "variance"));
    stage_opt(st, "--solver", study_get(s, "solver"));
    stage_opt(st, "--seed", study_get(s, "seed"));
    stage_arg(st, "-o");
    stage_arg(st, "%s", out);
    stage_output(st, "%s", out);
    stage_depends(st, in_key);
    return st;
}

static study_stage *rdm_stage(study *s, const char *name, const char *in, const char *out, uint64_t in_key)
{
    study_stage *st = study_stage_new(s, "%s", name);
    stage_arg(st, "rdm");
    stage_arg(st, "%s", in);
    stage_opt(st, "--metric", study_get(s, "metric"));
    if (study_on(s, "clip-negative"))
        stage_arg(st, "--clip-negative");
    stage_arg(st, "-o");
    stage_arg(st, "%s", out);
    stage_output(st, "%s", out);
    stage_depends(st, in_key);
    return st;
}

/* ===== The reduce -> rdm -> compare chain of one aligned pair ============ */
/* prefix: "ae", "voxels", "ae.CSI1", ...; cmp_out: "compare/rsa" etc. */
static int rsa_chain(study *s, const char *prefix, const char *align_stage, const char *cmp_out,
                     const char *kf, const char *ki, double n)
{
    const char *sides[2] = { "fmri", "images" };
    const char *k[2] = { kf, ki };
    for (int i = 0; i < 2; i++) {
        char name[96], in[128], out[128];
        snprintf(name, sizeof name, "reduce.%s.%s", prefix, sides[i]);
        snprintf(in, sizeof in, "align/%s.%s.npy", prefix, sides[i]);
        snprintf(out, sizeof out, "reduce/%s.%s.npy", prefix, sides[i]);
        study_stage *st = reduce_stage(s, name, in, out, k[i], study_key(s, align_stage));
        stage_output(st, "reduce/%s.%s.json", prefix, sides[i]);
        RUN(s, st, 0.5);

        snprintf(name, sizeof name, "rdm.%s.%s", prefix, sides[i]);
        snprintf(in, sizeof in, "%s", out);
        snprintf(out, sizeof out, "rdm/%s.%s.npy", prefix, sides[i]);
        st = rdm_stage(s, name, in, out, st->key);
        RUN(s, st, 0.2);
    }
    char rdm_f[64], rdm_i[64];
    snprintf(rdm_f, sizeof rdm_f, "rdm.%s.fmri", prefix);
    snprintf(rdm_i, sizeof rdm_i, "rdm.%s.images", prefix);
    study_stage *st = study_stage_new(s, "compare.%s", prefix);
    stage_arg(st, "compare");
    stage_arg(st, "rdm/%s.fmri.npy", prefix);
    stage_arg(st, "rdm/%s.images.npy", prefix);
    stage_opt(st, "--method", study_get(s, "method"));
    stage_opt(st, "--alternative", study_get(s, "alternative"));
    stage_opt(st, "--permutations", study_get(s, "permutations"));
    stage_opt(st, "--bootstrap", study_get(s, "bootstrap"));
    stage_opt(st, "--seed", study_get(s, "seed"));
    if (strcmp(study_get(s, "strata"), "none") != 0)
        stage_opt(st, "--strata", study_get(s, "strata"));
    /* The null distribution for the report's histogram, where there is one. */
    int has_null = strcmp(study_get(s, "permutations"), "0") != 0 &&
                   strcmp(study_get(s, "method"), "kendall-tau-a") != 0;
    if (has_null) {
        stage_arg(st, "--null-out");
        stage_arg(st, "%s.null.npy", cmp_out);
    }
    stage_arg(st, "--json");
    char json[96];
    snprintf(json, sizeof json, "%s.json", cmp_out);
    st->stdout_path = strdup(json);
    stage_output(st, "%s.json", cmp_out);
    if (has_null)
        stage_output(st, "%s.null.npy", cmp_out);
    stage_depends(st, study_key(s, rdm_f));
    stage_depends(st, study_key(s, rdm_i));
    RUN(s, st, compare_seconds(s, n));
    return -1;
}

/* compare A B (no null written) into compare/<name>.json */
static int plain_compare(study *s, const char *name, const char *a, const char *b, uint64_t ka, uint64_t kb,
                         int bootstrap, double n)
{
    study_stage *st = study_stage_new(s, "compare.%s", name);
    stage_arg(st, "compare");
    stage_arg(st, "%s", a);
    stage_arg(st, "%s", b);
    stage_opt(st, "--method", study_get(s, "method"));
    stage_opt(st, "--alternative", study_get(s, "alternative"));
    stage_opt(st, "--permutations", study_get(s, "permutations"));
    stage_opt(st, "--bootstrap", bootstrap ? study_get(s, "bootstrap") : "0");
    stage_opt(st, "--seed", study_get(s, "seed"));
    stage_arg(st, "--json");
    char json[PATH_MAX];
    if (strncmp(name, "lag.", 4) == 0) {
        const char *dot = strchr(name + 4, '.');   /* lag.<rule>[.truth] */
        snprintf(json, sizeof json, "lags/%.*s/%s.json", dot ? (int)(dot - name - 4) : (int)strlen(name + 4),
                 name + 4, dot ? "truth" : "rsa");
    }
    else
        snprintf(json, sizeof json, "compare/%s.json", name);
    st->stdout_path = strdup(json);
    stage_output(st, "%s", json);
    stage_depends(st, ka);
    stage_depends(st, kb);
    RUN(s, st, compare_seconds(s, n));
    return -1;
}

static int lag_sweep(study *s, double n)
{
    for (int r = 0; r < study_nlag_rules; r++) {
        char d[32];
        study_rule_dir(study_lag_rules[r], d, sizeof d);
        char name[64], path[96], trials[96];
        snprintf(name, sizeof name, "lag.%s.scan", d);
        snprintf(trials, sizeof trials, "lags/%s/trials.tsv", d);
        study_stage *st = scan_stage(s, name, study_lag_rules[r], trials);
        RUN(s, st, 0.1 * (double)s->nruns);

        snprintf(name, sizeof name, "lag.%s.embed-voxels", d);
        snprintf(path, sizeof path, "lags/%s/voxels.npy", d);
        st = embed_voxels_stage(s, name, trials, path, st->key);
        RUN(s, st, 0.5 * (double)s->nruns);
        uint64_t k = st->key;

        st = study_stage_new(s, "lag.%s.align", d);
        stage_arg(st, "align");
        stage_arg(st, "lags/%s/voxels.npy", d);
        stage_arg(st, "embed/images.npy");
        stage_opt(st, "--assign", study_get(s, "assign"));
        stage_opt(st, "--seed", study_get(s, "seed"));
        stage_arg(st, "-q");
        stage_arg(st, "-o");
        stage_arg(st, "lags/%s/align", d);
        stage_output(st, "lags/%s/align.fmri.npy", d);
        stage_depends(st, k);
        stage_depends(st, study_key(s, "embed-images"));
        RUN(s, st, 0.2);
        k = st->key;

        char kf[32];
        snprintf(name, sizeof name, "lag.%s.reduce", d);
        snprintf(path, sizeof path, "lags/%s/align.fmri.npy", d);
        char reduced[96];
        snprintf(reduced, sizeof reduced, "lags/%s/reduced.npy", d);
        st = reduce_stage(s, name, path, reduced, study_components(s, 0, kf), k);
        RUN(s, st, 0.5);

        snprintf(name, sizeof name, "lag.%s.rdm", d);
        snprintf(path, sizeof path, "lags/%s/rdm.npy", d);
        st = rdm_stage(s, name, reduced, path, st->key);
        RUN(s, st, 0.2);
        k = st->key;

        snprintf(name, sizeof name, "lag.%s", d);
        const char *rdm = path;
        int status = plain_compare(s, name, rdm, "rdm/voxels.images.npy", k, study_key(s, "rdm.voxels.images"), 0, n);
        if (status >= 0)
            return status;
        /* Synthetic data: the same RDM against the planted truth, which shows the volume rule's
         * effect without the image model in the way. */
        if (study_key(s, "truth.voxels")) {
            snprintf(name, sizeof name, "lag.%s.truth", d);
            status = plain_compare(s, name, rdm, "rdm/truth.voxels.npy", k, study_key(s, "truth.voxels"), 0, n);
            if (status >= 0)
                return status;
        }
    }
    return -1;
}

int study_execute(study *s)
{
    double n_trials = (double)s->trials->n, n_stim = (double)s->nstim_paths;
    int per_subject = strcmp(study_get(s, "assign"), "per-subject") == 0;
    double n_aligned = per_subject ? n_stim / (s->nsubjects ? s->nsubjects : 1) : n_stim;
    if (s->dry_run) {
        printf("study: %s, preset %s\n", s->bids, s->preset);
        printf("data: %d subjects, %lld runs, %lld trials, %lld stimuli shown (%lld image files found), "
               "%lld volumes in all runs\n", s->nsubjects, (long long)s->nruns, (long long)s->trials->n,
               (long long)s->nstimuli_shown, (long long)s->nstim_paths, (long long)s->nvolumes_all);
        printf("stages (run in '%s'):\n", s->out);
    }

    /* ---- scan and the stimuli ---- */
    study_stage *st = scan_stage(s, "scan", study_get(s, "volume-rule"), "trials.tsv");
    RUN(s, st, 0.1 * (double)s->nruns);
    uint64_t scan_key = st->key;

    st = study_stage_new(s, "stimuli");
    stage_output(st, "stimuli.list");
    stage_depends(st, scan_key);
    stage_depends(st, s->stimuli_fp);
    stage_depends(st, (uint64_t)s->allow_missing);
    int status = study_stage_do(s, st, write_stimulus_list);
    if (status >= 0)
        return status;

    /* ---- the ViT ---- */
    uint64_t vit_key = s->vit_fp;
    const char *vit_dir = s->vit;
    if (!s->vit) {
        st = study_stage_new(s, "vit-init");
        stage_arg(st, "vit-init");
        stage_opt(st, "--config", study_get(s, "random-vit"));
        stage_opt(st, "--seed", "1");
        stage_arg(st, "-o");
        stage_arg(st, "vit-random");
        stage_output(st, "vit-random/config.json");
        stage_output(st, "vit-random/model.safetensors");
        RUN(s, st, 5);
        vit_key = st->key;
        vit_dir = "vit-random";
    }

    /* ---- the autoencoder ---- */
    uint64_t ae_key;
    const char *ae_path;
    if (s->ae) {
        ae_key = fp_file(FP_INIT, s->ae, 0);
        ae_path = s->ae;
    } else {
        int all = strcmp(study_get(s, "volumes"), "all") == 0;
        st = study_stage_new(s, "render");
        stage_arg(st, "render");
        stage_arg(st, "%s", s->bids);
        stage_arg(st, "--trials");
        stage_arg(st, "trials.tsv");
        stage_opt(st, "--size", study_get(s, "size"));
        stage_opt(st, "--canvas", study_get(s, "canvas"));
        stage_opt(st, "--threshold", study_get(s, "threshold"));
        stage_opt(st, "--interp", study_get(s, "interp"));
        stage_opt(st, "--volumes", study_get(s, "volumes"));
        stage_arg(st, "-o");
        stage_arg(st, "render");
        stage_output(st, "render/manifest.tsv");
        stage_depends(st, scan_key);
        stage_depends(st, s->bids_fp);
        double nimg = all ? (double)s->nvolumes_all : n_trials;
        RUN(s, st, nimg * render_seconds_per_volume(s));

        st = study_stage_new(s, "train-ae");
        stage_arg(st, "train-ae");
        stage_arg(st, "--images");
        stage_arg(st, "render");
        stage_opt(st, "--size", study_get(s, "size"));
        stage_opt(st, "--channels", study_get(s, "channels"));
        stage_opt(st, "--epochs", study_get(s, "epochs"));
        stage_opt(st, "--batch", study_get(s, "batch"));
        stage_opt(st, "--lr", study_get(s, "lr"));
        stage_opt(st, "--weight-decay", study_get(s, "weight-decay"));
        stage_opt(st, "--patience", study_get(s, "patience"));
        stage_opt(st, "--early-stop", study_get(s, "early-stop"));
        stage_opt(st, "--train-subjects", study_get(s, "train-subjects"));
        stage_opt(st, "--test-subjects", study_get(s, "test-subjects"));
        stage_opt(st, "--memory-budget", study_get(s, "memory-budget"));
        stage_opt(st, "--seed", study_get(s, "seed"));
        stage_arg(st, "-o");
        stage_arg(st, "ae/AE.safetensors");
        stage_output(st, "ae/AE.safetensors");
        stage_output(st, "ae/AE.json");
        stage_depends(st, study_key(s, "render"));
        RUN(s, st, nimg * atof(study_get(s, "epochs")) * 3 * ae_flops_per_image(s) / 50e9);
        ae_key = st->key;
        ae_path = "ae/AE.safetensors";
    }

    /* ---- the three embeddings ---- */
    st = study_stage_new(s, "embed-fmri");
    stage_arg(st, "embed-fmri");
    stage_opt(st, "--model", ae_path);
    stage_opt(st, "--bids", s->bids);
    stage_arg(st, "--trials");
    stage_arg(st, "trials.tsv");
    stage_opt(st, "--pool", study_get(s, "pool"));
    stage_arg(st, "-o");
    stage_arg(st, "embed/fmri.npy");
    stage_output(st, "embed/fmri.npy");
    stage_depends(st, ae_key);
    stage_depends(st, scan_key);
    stage_depends(st, s->bids_fp);
    RUN(s, st, n_trials * (render_seconds_per_volume(s) + ae_flops_per_image(s) / 2 / 40e9));

    st = embed_voxels_stage(s, "embed-voxels", "trials.tsv", "embed/voxels.npy", scan_key);
    RUN(s, st, 0.5 * (double)s->nruns);

    st = study_stage_new(s, "embed-images");
    stage_arg(st, "embed-images");
    stage_opt(st, "--vit", vit_dir);
    stage_arg(st, "--list");
    stage_arg(st, "stimuli.list");
    stage_opt(st, "--output", study_get(s, "vit-output"));
    stage_opt(st, "--layer", study_get(s, "vit-layer"));
    stage_opt(st, "--batch", study_get(s, "vit-batch"));
    stage_opt(st, "--channel-order", study_get(s, "channel-order"));
    stage_arg(st, "-o");
    stage_arg(st, "embed/images.npy");
    stage_output(st, "embed/images.npy");
    stage_depends(st, study_key(s, "stimuli"));
    stage_depends(st, vit_key);
    RUN(s, st, n_stim * vit_seconds_per_image(s));

    /* ---- align, then reduce -> rdm -> compare for each pathway ---- */
    char kbuf[2][32];
    const char *kf = study_components(s, 0, kbuf[0]), *ki = study_components(s, 1, kbuf[1]);
    const char *paths[2] = { "ae", "voxels" };
    const char *embeds[2] = { "embed-fmri", "embed-voxels" };
    for (int p = 0; p < 2; p++) {
        st = study_stage_new(s, "align.%s", paths[p]);
        stage_arg(st, "align");
        stage_arg(st, "embed/%s.npy", p == 0 ? "fmri" : "voxels");
        stage_arg(st, "embed/images.npy");
        stage_opt(st, "--assign", study_get(s, "assign"));
        stage_opt(st, "--seed", study_get(s, "seed"));
        stage_arg(st, "-o");
        stage_arg(st, "align/%s", paths[p]);
        stage_output(st, "align/%s.json", paths[p]);
        stage_depends(st, study_key(s, embeds[p]));
        stage_depends(st, study_key(s, "embed-images"));
        RUN(s, st, 0.5);
        char align_stage[32];
        snprintf(align_stage, sizeof align_stage, "align.%s", paths[p]);
        if (per_subject) {
            for (int k = 0; k < s->nsubjects; k++) {
                char prefix[64], out[96];
                snprintf(prefix, sizeof prefix, "%s.%s", paths[p], s->subjects[k]);
                snprintf(out, sizeof out, "compare/%s.%s", p == 0 ? "rsa" : "rsa_voxels", s->subjects[k]);
                status = rsa_chain(s, prefix, align_stage, out, kf, ki, n_aligned);
                if (status >= 0)
                    return status;
            }
        } else {
            status = rsa_chain(s, paths[p], align_stage, p == 0 ? "compare/rsa" : "compare/rsa_voxels",
                               kf, ki, n_aligned);
            if (status >= 0)
                return status;
        }
    }

    /* ---- synthetic data: each side against the planted truth ---- */
    char truth[PATH_MAX];
    snprintf(truth, sizeof truth, "%s/truth.json", s->bids);
    if (!per_subject && lrsa_is_file(truth)) {
        uint64_t truth_fp = fp_file(FP_INIT, truth, 0);
        for (int p = 0; p < 2; p++) {
            st = study_stage_new(s, "truth.%s", paths[p]);
            stage_arg(st, "rdm/%s.fmri.npy", paths[p]);   /* the RDM whose stimuli and order it takes */
            stage_output(st, "rdm/truth.%s.npy", paths[p]);
            stage_depends(st, truth_fp);
            char rdm_stage[32];
            snprintf(rdm_stage, sizeof rdm_stage, "rdm.%s.fmri", paths[p]);
            stage_depends(st, study_key(s, rdm_stage));
            if ((status = study_stage_do(s, st, write_truth)) >= 0)
                return status;
        }
        if ((status = plain_compare(s, "truth.fmri", "rdm/ae.fmri.npy", "rdm/truth.ae.npy", study_key(s, "rdm.ae.fmri"),
                                    study_key(s, "truth.ae"), 1, n_aligned)) >= 0 ||
            (status = plain_compare(s, "truth.images", "rdm/ae.images.npy", "rdm/truth.ae.npy",
                                    study_key(s, "rdm.ae.images"), study_key(s, "truth.ae"), 1, n_aligned)) >= 0 ||
            (status = plain_compare(s, "truth.voxels", "rdm/voxels.fmri.npy", "rdm/truth.voxels.npy",
                                    study_key(s, "rdm.voxels.fmri"), study_key(s, "truth.voxels"), 1, n_aligned)) >= 0)
            return status;
    }

    /* ---- the lag sweep (voxel baseline) ---- */
    if (study_on(s, "lag-sweep") && !per_subject && (status = lag_sweep(s, n_aligned)) >= 0)
        return status;

    if (s->dry_run) {
        double t = s->estimate_s;
        printf("estimated time: %s%.0f %s (rough: this machine's benchmarks at 2 threads; training assumes all "
               "%s epochs)\n", t < 60 ? "" : "about ", t < 60 ? t : t < 7200 ? t / 60 : t / 3600,
               t < 60 ? "s" : t < 7200 ? "min" : "h", study_get(s, "epochs"));
        return EXIT_OK;
    }

    /* ---- results and the report ---- */
    st = study_stage_new(s, "results");
    stage_output(st, "results.json");
    st->always = 1;   /* it records this run's stages */
    if ((status = study_stage_do(s, st, write_results)) >= 0)
        return status;
    st = study_stage_new(s, "report");
    stage_arg(st, "report");
    stage_arg(st, ".");
    st->stdout_path = strdup("/dev/null");   /* it prints the report's path, which the headline gives */
    stage_output(st, "report.html");
    st->always = 1;
    RUN(s, st, 1);
    return study_finish_record(s) ? EXIT_FAILURE_ : EXIT_OK;
}
