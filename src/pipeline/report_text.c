/* The report's plain-language reading of the result, generated from the numbers: what was
 * compared, whether the permutation test and the CI support a relationship, what RSA does and
 * does not say, why the parametric p is not used, and what the voxel baseline adds. The wording
 * is deliberately plain and hedged: a significant r is "evidence of shared structure", never
 * "the brain represents images like the network"; a non-significant one is "not shown", never
 * "absent". */
#include "report_impl.h"

#include <math.h>
#include <string.h>

#define ALPHA 0.05

/* 1 significant, 0 not, -1 no test. */
static int verdict(const rep_cmp *c)
{
    if (!c->present || !isfinite(c->p_permutation))
        return -1;
    return c->p_permutation < ALPHA;
}

static void para_open(rep *r)
{
    h_raw(r, "<p>");
}

static void para_close(rep *r)
{
    h_raw(r, "</p>\n");
}

void rep_meaning(rep *r, const cJSON *root, const rep_cmp *m, const rep_cmp *v)
{
    const cJSON *sides = rj_obj(r, root, "", "sides");
    const char *fmri = rj_str(r, rj_obj(r, sides, "sides", "fmri"), "sides.fmri", "label");
    const char *images = rj_str(r, rj_obj(r, sides, "sides", "images"), "sides.images", "label");
    int random_vit = rj_bool(r, root, "", "random_vit");
    int synthetic = rj_bool(r, rj_obj(r, root, "", "dataset"), "dataset", "synthetic");
    const char *null_kind = rj_str(r, root, "", "null");
    const cJSON *lags = rj_arr(r, root, "", "lag_sweep");
    double subj_mean = rj_num(r, root, "", "per_subject_mean_r");
    if (r->rc)
        return;

    if (random_vit == 1) {
        para_open(r);
        h_raw(r, "<strong>The image side used randomly initialised ViT weights, so nothing on this page "
                 "is a finding about the brain and a trained network: the numbers only show that the "
                 "pipeline runs end to end.</strong> Give <code>--vit DIR</code> with a trained "
                 "checkpoint for a real result.");
        para_close(r);
    }

    /* What was compared. */
    para_open(r);
    h_raw(r, "This study asks whether two representations arrange the same stimuli the same way. One is ");
    h_text(r, fmri ? fmri : "the fMRI side");
    h_raw(r, "; the other is ");
    h_text(r, images ? images : "the image side");
    h_raw(r, ". For each, a representational dissimilarity matrix (RDM) holds how different every pair of "
             "stimuli is, and the result <em>r</em> is the ");
    h_text(r, m->method ? m->method : "n/a");
    h_raw(r, " correlation between the two RDMs");
    if (isfinite(m->pairs) && isfinite(m->n))
        h_rawf(r, " over their %.0f stimulus pairs (%.0f stimuli)", m->pairs, m->n);
    h_raw(r, ": ");
    if (isfinite(m->r))
        h_rawf(r, "<em>r</em> = %.3f.", m->r);
    else
        h_raw(r, "<em>r</em> is not available (n/a).");
    para_close(r);

    /* The verdict: the permutation test, then the interval. */
    para_open(r);
    int sig = verdict(m);
    int one_sided = m->alternative && strcmp(m->alternative, "greater") == 0;
    if (sig < 0) {
        h_raw(r, "No permutation test was run, so this <em>r</em> has no valid p-value and should not be "
                 "read as evidence either way.");
    } else {
        h_raw(r, "The Mantel permutation test (");
        if (isfinite(m->permutations))
            h_rawf(r, "%.0f random permutations", m->permutations);
        else
            h_raw(r, "random permutations");
        h_raw(r, " of the stimulus labels");
        if (null_kind && strcmp(null_kind, "stratified by source") == 0)
            h_raw(r, ", only within each image source");
        h_raw(r, one_sided ? "; one-sided: only a positive relationship counts" : "");
        h_rawf(r, ") gives <em>p</em> = %.3g. ", m->p_permutation);
        if (sig)
            h_raw(r, "An <em>r</em> this large would be unlikely (<em>p</em> &lt; 0.05) if the two RDMs "
                     "were unrelated, so these data are evidence that the two representations share "
                     "part of their pairwise structure.");
        else
            h_raw(r, "This is not below 0.05: these data do not show that the two RDMs are related. That "
                     "is not evidence that they are unrelated: a weak relationship, too few stimuli, or "
                     "a pathway that loses information would give the same result.");
        if (sig && isfinite(m->r) && fabs(m->r) < 0.1)
            h_rawf(r, " Note that <em>r</em> = %.3f is close to 0: the agreement is unlikely to be "
                      "chance, but it is weak.", m->r);
    }
    if (isfinite(m->ci_lo) && isfinite(m->ci_hi)) {
        h_rawf(r, " The 95%% bootstrap interval over stimuli, [%.3f, %.3f], ", m->ci_lo, m->ci_hi);
        if (m->ci_lo > 0)
            h_raw(r, "lies above 0.");
        else if (m->ci_hi < 0)
            h_raw(r, "lies below 0: the RDMs tend to disagree.");
        else
            h_raw(r, "includes 0: the data are compatible with no relationship.");
        h_raw(r, " (The interval and the permutation test answer different questions and can disagree "
                 "near the threshold; the test is the one that controls false positives.)");
    } else {
        h_raw(r, " No bootstrap interval was computed.");
    }
    para_close(r);

    /* What RSA does and does not say. */
    para_open(r);
    h_raw(r, "RSA measures <em>second-order</em> similarity: whether pairs of stimuli that one "
             "representation treats as alike are also alike in the other. It does not say that the two "
             "use the same features, that one can be mapped or decoded into the other, or that either "
             "causes the other. Structure both sides share for simple reasons, such as the image source "
             "(COCO, ImageNet, Scene) or low-level image statistics, also produces it. ");
    if (null_kind && strcmp(null_kind, "stratified by source") == 0)
        h_raw(r, "Here the null was stratified by source: labels were shuffled only within each source, "
                 "so differences between the sources alone cannot explain a significant result.");
    else if (null_kind)
        h_raw(r, "Here the null was plain (labels shuffled across all stimuli): if the sources differ "
                 "systematically on both sides, that alone can make <em>r</em> significant. The "
                 "stratified null (<code>--strata source</code>) controls for it.");
    para_close(r);

    if (isfinite(m->p_parametric)) {
        para_open(r);
        h_rawf(r, "The parametric p over the RDM entries (<em>p</em> = %.3g, the statistic the paper "
                  "reported) is <strong>not valid</strong>: it treats the stimulus pairs as independent "
                  "observations, but pairs that share a stimulus are not, so it is far too small. It is "
                  "shown only for comparison with the paper; use the permutation p.",
               m->p_parametric);
        para_close(r);
    }

    /* The voxel baseline. */
    if (v->present) {
        para_open(r);
        h_raw(r, "The voxel baseline repeats the comparison with the RDM of the trial volumes themselves "
                 "(no rendering, no autoencoder): ");
        h_raw(r, "<em>r</em> = ");
        h_num(r, v->r, "%.3f");
        h_raw(r, ", <em>p</em> = ");
        h_p(r, v->p_permutation);
        h_raw(r, ". ");
        int vs = verdict(v);
        if (sig == 1 && vs == 1)
            h_raw(r, "Both pathways show a relationship.");
        else if (sig == 0 && vs == 1)
            h_raw(r, "The information is present in the BOLD data, but the rendering and autoencoder "
                     "pathway did not preserve it.");
        else if (sig == 1 && vs == 0)
            h_raw(r, "The autoencoder pathway shows a relationship the raw voxels do not; interpret it "
                     "with care, since rendering and the autoencoder can add structure of their own "
                     "(for example from the images' layout or intensity).");
        else if (sig == 0 && vs == 0)
            h_raw(r, "Neither pathway shows a relationship, so the negative result is not only the "
                     "autoencoder's doing.");
        else
            h_raw(r, "Without a permutation test on both, the two cannot be compared.");
        para_close(r);
    }

    if (synthetic == 1 || isfinite(subj_mean) || lags) {
        para_open(r);
        if (synthetic == 1)
            h_raw(r, "The data are synthetic (<code>latentrsa synth</code>) with a planted signal; the "
                     "truth correlations below show whether each side recovered it. ");
        if (isfinite(subj_mean))
            h_rawf(r, "Per subject, the mean <em>r</em> is %.3f (each subject's own test is in the "
                      "table below). ", subj_mean);
        if (lags)
            h_raw(r, "The lag sweep is a diagnostic of the volume rule: choosing the rule after looking at "
                     "its <em>r</em> and reporting the best one would overstate the evidence.");
        para_close(r);
    }
}
