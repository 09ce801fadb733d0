/* lrsa_report_write: OUT/results.json (and the files it names) to OUT/report.html, one section
 * after another in the order report.h lists, then one atomic write. */
#include "report_impl.h"

#include "latentrsa/version.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESULTS_FILE "results.json"
#define RESULTS_MAX ((size_t)64 << 20)

/* ===== Errors ========================================================== */
int rep_fail(rep *r, int code, const char *fmt, ...)
{
    if (r->rc)
        return r->rc;
    char msg[LRSA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->rc = LRSA_FAIL(&r->err, code ? code : LRSA_EMISUSE, "%s", msg);
    return r->rc;
}

int rep_fail_err(rep *r, const lrsa_err *e, const char *fmt, ...)
{
    if (r->rc)
        return r->rc;
    char prefix[LRSA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    r->err = *e;
    if (!r->err.code)
        r->err.code = LRSA_ENOMEM;   /* a failed allocation that left no message */
    if (!r->err.msg[0])
        snprintf(r->err.msg, sizeof r->err.msg, "%s", lrsa_result_name(r->err.code));
    lrsa_err_prefix(&r->err, "%s", prefix);
    r->rc = r->err.code;
    return r->rc;
}

/* ===== The page frame ================================================== */
static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;"
    "max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.8rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc;"
    "padding-bottom:.2rem}h3{margin-top:1.4rem}"
    "table{border-collapse:collapse;margin:.8rem 0}th,td{border:1px solid #999;padding:.25rem .6rem;"
    "text-align:left;vertical-align:top}th{background:#f2f2f2}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em;overflow-wrap:break-word}"
    "img{max-width:100%;height:auto;border:1px solid #ddd;display:block;margin:.6rem 0}"
    "figcaption,.meta,.note{color:#555;font-size:.92em}"
    ".headline{border:2px solid #333;padding:.6rem 1.2rem;margin-top:1.2rem}"
    ".headline h2{margin-top:.4rem;border:0}.big{font-size:1.6rem;font-weight:bold}"
    ".danger{border:3px solid #c00;background:#fde8e8;color:#900;font-weight:bold;padding:.6rem 1rem;"
    "margin:.8rem 0}.warning{border:2px solid #d98200;background:#fff4e0;padding:.4rem 1rem;"
    "margin:.8rem 0}.warning ul{margin:.2rem 0}"
    "nav ol{columns:2;font-size:.95em}";

typedef struct present {
    int ae, recon, loss, rdms, baseline, lags, truth, subjects, alignment;
} present;

static void page_head(rep *r, const cJSON *root, const present *p)
{
    h_raw(r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>latentrsa study report</title>\n<style>");
    h_raw(r, CSS);
    h_raw(r, "</style>\n</head>\n<body>\n<header>\n<h1>latentrsa study report</h1>\n<p class=\"meta\">");
    h_raw(r, "created ");
    h_text(r, rj_str(r, root, "", "created"));
    h_raw(r, " &middot; preset ");
    h_text(r, rj_str(r, root, "", "preset"));
    h_raw(r, " &middot; latentrsa ");
    h_text(r, rj_str(r, root, "", "latentrsa_version"));
    h_raw(r, "</p>\n<p class=\"meta\">command: <code>");
    h_text(r, rj_str(r, root, "", "command"));
    h_raw(r, "</code></p>\n</header>\n");

    /* Contents: internal links only. */
    static const struct { const char *id, *title; int off; } toc[] = {
        { "headline", "Result", -1 },
        { "meaning", "What it means", -1 },
        { "dataset", "Dataset", -1 },
        { "architecture", "Autoencoder", offsetof(present, ae) },
        { "reconstructions", "Reconstructions", offsetof(present, recon) },
        { "rdms", "RDMs", offsetof(present, rdms) },
        { "loss", "Loss curves", offsetof(present, loss) },
        { "rsa", "RSA and its null", -1 },
        { "baseline", "Voxel baseline", offsetof(present, baseline) },
        { "lags", "Lag sweep", offsetof(present, lags) },
        { "truth", "Truth (synthetic data)", offsetof(present, truth) },
        { "subjects", "Per subject", offsetof(present, subjects) },
        { "alignment", "Alignment", offsetof(present, alignment) },
        { "null", "The permutation null", -1 },
        { "options", "Options", -1 },
        { "stages", "Stages", -1 },
        { "versions", "Versions", -1 },
    };
    h_raw(r, "<nav><ol>\n");
    for (size_t i = 0; i < sizeof toc / sizeof toc[0]; i++) {
        if (toc[i].off >= 0 && !*(const int *)((const char *)p + toc[i].off))
            continue;
        h_rawf(r, "<li><a href=\"#%s\">%s</a></li>\n", toc[i].id, toc[i].title);
    }
    h_raw(r, "</ol></nav>\n");
}

static void section_open(rep *r, const char *id, const char *title)
{
    h_rawf(r, "<section id=\"%s\">\n<h2>", id);
    h_text(r, title);
    h_raw(r, "</h2>\n");
}

static void section_close(rep *r)
{
    h_raw(r, "</section>\n");
}

/* A table of an object's members, or "n/a". */
static void json_table(rep *r, const cJSON *obj)
{
    if (!obj || cJSON_GetArraySize(obj) == 0) {
        h_raw(r, "<p>n/a</p>\n");
        return;
    }
    h_raw(r, "<table>\n");
    h_rows_json(r, obj, "");
    h_raw(r, "</table>\n");
}

/* ===== Headline ======================================================== */
static void null_words(rep *r, const rep_cmp *c, const char *null_kind)
{
    if (isfinite(c->permutations))
        h_rawf(r, "%.0f permutations", c->permutations);
    else
        h_raw(r, "no permutation test");
    if (c->alternative) {
        h_raw(r, ", ");
        h_text(r, strcmp(c->alternative, "greater") == 0 ? "one-sided" : c->alternative);
    }
    if (null_kind) {
        h_raw(r, ", ");
        h_text(r, null_kind);
        h_raw(r, " null");
    }
}

static void sec_headline(rep *r, const cJSON *root, const rep_cmp *m)
{
    h_raw(r, "<section id=\"headline\" class=\"headline\">\n<h2>Result</h2>\n");
    if (rj_bool(r, root, "", "random_vit") == 1)
        h_raw(r, "<div class=\"danger\" role=\"alert\">WARNING: the image side used a ViT with RANDOM "
                 "weights (no trained checkpoint was given). These numbers are a pipeline check, "
                 "not a finding.</div>\n");
    const cJSON *warnings = rj_arr(r, root, "", "warnings");
    if (warnings && cJSON_GetArraySize(warnings) > 0) {
        h_raw(r, "<div class=\"warning\"><strong>Warnings</strong><ul>\n");
        int i = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, warnings) {
            if (!cJSON_IsString(w)) {
                char path[64];
                rep_fail(r, LRSA_EFORMAT, "'%s': '%s' is not a string", r->results_path,
                         rj_index(path, sizeof path, "warnings", i));
                break;
            }
            h_raw(r, "<li>");
            h_text(r, w->valuestring);
            h_raw(r, "</li>\n");
            i++;
        }
        h_raw(r, "</ul></div>\n");
    }
    double n = rj_num(r, root, "", "n_stimuli");
    if (!isfinite(n))
        n = m->n;
    const char *null_kind = rj_str(r, root, "", "null");
    h_raw(r, "<table>\n<tr><th>RSA <em>r</em></th><td class=\"big\">");
    h_num(r, m->r, "%.3f");
    h_raw(r, "</td></tr>\n<tr><th>permutation <em>p</em></th><td><span class=\"big\">");
    h_p(r, m->p_permutation);
    h_raw(r, "</span> (");
    null_words(r, m, null_kind);
    h_raw(r, ")</td></tr>\n<tr><th>95% CI</th><td>");
    h_ci(r, m->ci_lo, m->ci_hi);
    if (isfinite(m->bootstrap))
        h_rawf(r, " (%.0f bootstrap resamples over stimuli)", m->bootstrap);
    h_raw(r, "</td></tr>\n");
    h_row_num(r, "stimuli", n, "%.0f");
    h_raw(r, "<tr><th>method</th><td>");
    h_text(r, m->method);
    h_raw(r, " correlation of the two RDMs' upper triangles");
    if (isfinite(m->pairs))
        h_rawf(r, " (%.0f pairs)", m->pairs);
    h_raw(r, "</td></tr>\n</table>\n</section>\n");
}

/* ===== Dataset ========================================================= */
static void side_row(rep *r, const cJSON *sides, const char *name, const char *title)
{
    char where[64];
    snprintf(where, sizeof where, "sides.%s", name);
    const cJSON *s = rj_obj(r, sides, "sides", name);
    if (!s)
        return;
    h_raw(r, "<tr><th>");
    h_text(r, title);
    h_raw(r, "</th><td>");
    h_text(r, rj_str(r, s, where, "label"));
    h_raw(r, "</td><td><code>");
    h_text(r, rj_str(r, s, where, "embedding"));
    h_raw(r, "</code></td><td class=\"num\">");
    h_num(r, rj_num(r, s, where, "dims"), "%.0f");
    h_raw(r, "</td><td class=\"num\">");
    h_num(r, rj_num(r, s, where, "components"), "%.0f");
    h_raw(r, "</td><td class=\"num\">");
    double var = rj_num(r, s, where, "variance");
    h_num(r, 100 * var, "%.1f%%");
    h_raw(r, "</td><td><code>");
    h_text(r, rj_str(r, s, where, "rdm"));
    h_raw(r, "</code></td></tr>\n");
}

static void sec_dataset(rep *r, const cJSON *root)
{
    section_open(r, "dataset", "Dataset");
    const cJSON *d = rj_obj(r, root, "", "dataset");
    int synthetic = rj_bool(r, d, "dataset", "synthetic");
    h_raw(r, "<table>\n");
    h_row_text(r, "BIDS folder", rj_str(r, d, "dataset", "bids"));
    h_row_text(r, "stimulus folder", rj_str(r, d, "dataset", "stimuli"));
    h_row_text(r, "task", rj_str(r, d, "dataset", "task"));
    h_raw(r, "<tr><th>subjects</th><td>");
    h_json(r, rj_arr(r, d, "dataset", "subjects"));
    h_raw(r, "</td></tr>\n");
    h_row_num(r, "runs", rj_num(r, d, "dataset", "runs"), "%.0f");
    h_row_num(r, "trials", rj_num(r, d, "dataset", "trials"), "%.0f");
    h_row_num(r, "stimuli shown", rj_num(r, d, "dataset", "stimuli_shown"), "%.0f");
    h_row_num(r, "stimuli in the comparison (aligned)", rj_num(r, root, "", "n_stimuli"), "%.0f");
    h_row_text(r, "volume rule", rj_str(r, d, "dataset", "volume_rule"));
    h_row_text(r, "synthetic data", synthetic < 0 ? NULL : synthetic ? "yes (latentrsa synth)" : "no");
    h_row_text(r, "preset", rj_str(r, root, "", "preset"));
    h_raw(r, "</table>\n");

    const cJSON *sides = rj_obj(r, root, "", "sides");
    if (sides) {
        h_raw(r, "<h3>The sides compared</h3>\n<table>\n<tr><th>side</th><th>what</th><th>embedding</th>"
                 "<th>dimensions</th><th>components kept</th><th>variance kept</th><th>RDM</th></tr>\n");
        side_row(r, sides, "fmri", "fMRI");
        side_row(r, sides, "images", "images");
        side_row(r, sides, "voxels", "voxel baseline");
        h_raw(r, "</table>\n");
    }
    const cJSON *vit = rj_obj(r, root, "", "vit");
    if (vit) {
        h_raw(r, "<h3>Image model (ViT)</h3>\n");
        json_table(r, vit);
    }
    section_close(r);
}

/* ===== The autoencoder: architecture, reconstructions, loss ============ */
static void sec_architecture(rep *r, const cJSON *ae, const cJSON *root)
{
    section_open(r, "architecture", "Autoencoder architecture (the paper's Figure 1)");
    const cJSON *ch = rj_arr(r, ae, "ae", "channels");
    double size = rj_num(r, ae, "ae", "size");
    int64_t c[16];
    int depth = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, ch) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 65536 || depth == 16) {
            rep_fail(r, LRSA_EFORMAT, "'%s': 'ae.channels' must be an array of up to 16 channel counts",
                     r->results_path);
            break;
        }
        c[depth++] = (int64_t)x->valuedouble;
    }
    if (r->rc)
        return;
    if (depth == 0 || !(size >= 1 && size <= 1e6)) {
        h_raw(r, "<p>n/a: the study does not record the autoencoder's widths and input size.</p>\n");
    } else {
        int64_t h[17];
        h[0] = (int64_t)size;
        for (int l = 0; l < depth; l++)
            h[l + 1] = (h[l] + 2 - 3) / 2 + 1;   /* Conv2d k3 s2 p1 */
        int64_t total = 0, cin = 3;
        h_raw(r, "<table>\n<tr><th>layer</th><th>operation</th><th>output (C &times; H &times; W)</th>"
                 "<th>parameters</th></tr>\n");
        h_rawf(r, "<tr><td>input</td><td>rendered activation image (RGB)</td><td>3 &times; %lld &times; "
                  "%lld</td><td></td></tr>\n", (long long)h[0], (long long)h[0]);
        for (int l = 0; l < depth; l++) {
            int64_t p = cin * c[l] * 9 + c[l];
            total += p;
            h_rawf(r, "<tr><td>encoder.%d</td><td>Conv2d %lld&rarr;%lld, kernel 3, stride 2, padding 1; "
                      "ReLU</td><td>%lld &times; %lld &times; %lld</td><td class=\"num\">%lld</td></tr>\n",
                   2 * l, (long long)cin, (long long)c[l], (long long)c[l], (long long)h[l + 1],
                   (long long)h[l + 1], (long long)p);
            cin = c[l];
        }
        int64_t hd = h[depth];
        for (int l = depth - 1; l >= 0; l--) {
            int64_t cout = l > 0 ? c[l - 1] : 3, p = cin * cout * 9 + cout;
            total += p;
            hd *= 2;   /* ConvTranspose2d k3 s2 p1 op1 */
            h_rawf(r, "<tr><td>decoder.%d</td><td>ConvTranspose2d %lld&rarr;%lld, kernel 3, stride 2, "
                      "padding 1, output padding 1; %s</td><td>%lld &times; %lld &times; %lld</td>"
                      "<td class=\"num\">%lld</td></tr>\n",
                   2 * (depth - 1 - l), (long long)cin, (long long)cout, l > 0 ? "ReLU" : "Sigmoid",
                   (long long)cout, (long long)hd, (long long)hd, (long long)p);
            cin = cout;
        }
        h_rawf(r, "<tr><th colspan=\"3\">total</th><td class=\"num\">%lld</td></tr>\n</table>\n",
               (long long)total);
        h_rawf(r, "<p>The latent (the encoder's output) is %lld &times; %lld &times; %lld = %lld values per "
                  "image. Training loss: per-pixel mean squared error.</p>\n",
               (long long)c[depth - 1], (long long)h[depth], (long long)h[depth],
               (long long)(c[depth - 1] * h[depth] * h[depth]));
    }
    h_raw(r, "<table>\n");
    h_row_text(r, "pooling of the latent", rj_str(r, ae, "ae", "pool"));
    const cJSON *fmri = rj_obj(r, rj_obj(r, root, "", "sides"), "sides", "fmri");
    h_row_num(r, "embedding dimensions", rj_num(r, fmri, "sides.fmri", "dims"), "%.0f");
    h_row_num(r, "epochs run", rj_num(r, ae, "ae", "epochs_run"), "%.0f");
    h_row_num(r, "best epoch", rj_num(r, ae, "ae", "best_epoch"), "%.0f");
    h_row_text(r, "checkpoint", rj_str(r, ae, "ae", "checkpoint"));
    h_row_text(r, "training report", rj_str(r, ae, "ae", "json"));
    h_raw(r, "</table>\n");
    section_close(r);
}

static void sec_reconstructions(rep *r, const cJSON *ae)
{
    const char *rel = rj_str(r, ae, "ae", "recon_figure");
    char *path = rj_file(r, rel);
    if (!path)
        return;
    section_open(r, "reconstructions", "Originals and reconstructions (the paper's Figure 2)");
    h_raw(r, "<figure>");
    h_png_file(r, path, "ae.recon_figure", "original activation images above their reconstructions");
    h_raw(r, "<figcaption>Test images (top row) and the autoencoder's reconstructions (bottom row); "
             "training images when there was no test set. File: <code>");
    h_text(r, rel);
    h_raw(r, "</code></figcaption></figure>\n");
    section_close(r);
    free(path);
}

static void sec_loss(rep *r, const cJSON *ae)
{
    const char *fig = rj_str(r, ae, "ae", "loss_figure");
    const char *json = rj_str(r, ae, "ae", "json");
    if (!fig && !json)
        return;
    section_open(r, "loss", "Loss curves");
    char *path = rj_file(r, fig ? fig : json);
    h_raw(r, "<figure>");
    if (path && fig)
        h_png_file(r, path, "ae.loss_figure", "autoencoder loss curves");
    else if (path)
        rep_fig_loss_json(r, path, "ae.json");
    h_raw(r, "<figcaption>Per-pixel mean squared error of the autoencoder by epoch. File: <code>");
    h_text(r, fig ? fig : json);
    h_raw(r, "</code></figcaption></figure>\n");
    section_close(r);
    free(path);
}

/* ===== RDMs ============================================================ */
/* Load the RDM named at sides.<name>.rdm (nothing when absent). */
static void side_rdm(rep *r, const cJSON *root, const char *name, rep_rdm *out)
{
    char where[64], key[80];
    memset(out, 0, sizeof *out);
    snprintf(where, sizeof where, "sides.%s", name);
    const cJSON *s = rj_obj(r, rj_obj(r, root, "", "sides"), "sides", name);
    char *path = rj_file(r, rj_str(r, s, where, "rdm"));
    if (path)
        rep_rdm_load(r, path, rj_path(key, sizeof key, where, "rdm"), out);
    free(path);
}

static void rdm_caption(rep *r, const char *title, const rep_rdm *d)
{
    if (!d->data)
        return;
    h_raw(r, "<br>");
    h_text(r, title);
    h_rawf(r, ": %lld stimuli", (long long)d->n);
    if (d->order[0]) {
        h_raw(r, ", in the order ");
        h_text(r, d->order);
    } else {
        h_raw(r, " in file order (no labels sidecar)");
    }
    if (d->m < d->n)
        h_rawf(r, "; drawn as %lld &times; %lld block averages", (long long)d->m, (long long)d->m);
}

static void sec_rdms(rep *r, const cJSON *root)
{
    rep_rdm f, i;
    side_rdm(r, root, "fmri", &f);
    side_rdm(r, root, "images", &i);
    if (f.data || i.data) {
        section_open(r, "rdms", "RDMs (the paper's Figure 3)");
        const rep_rdm *rdms[2] = { &f, &i };
        const char *titles[2] = { "fMRI side", "image side" };
        h_raw(r, "<figure>");
        rep_fig_rdms(r, rdms, titles, 2, "the fMRI-side and image-side RDMs side by side");
        h_raw(r, "<figcaption>Dissimilarity of every pair of stimuli (viridis: dark = alike), rows and "
                 "columns ordered by stimulus source, then by stimulus name.");
        rdm_caption(r, titles[0], &f);
        rdm_caption(r, titles[1], &i);
        h_raw(r, "</figcaption></figure>\n");
        section_close(r);
    }
    rep_rdm_release(&f);
    rep_rdm_release(&i);
}

/* ===== RSA ============================================================= */
static void cmp_table(rep *r, const rep_cmp *c)
{
    if (!c->present) {
        h_raw(r, "<p>n/a: no comparison was recorded.</p>\n");
        return;
    }
    h_raw(r, "<table>\n");
    h_row_text(r, "method", c->method);
    h_row_text(r, "alternative", c->alternative);
    h_row_num(r, "stimuli (n)", c->n, "%.0f");
    h_row_num(r, "stimulus pairs", c->pairs, "%.0f");
    h_row_num(r, "r", c->r, "%.4f");
    h_row_num(r, "p (permutation)", c->p_permutation, "%.4g");
    h_row_num(r, "permutations", c->permutations, "%.0f");
    h_row_text(r, "permutation strata", c->strata ? c->strata : "none (plain)");
    h_raw(r, "<tr><th>95% CI (bootstrap)</th><td>");
    h_ci(r, c->ci_lo, c->ci_hi);
    h_raw(r, "</td></tr>\n");
    h_row_num(r, "bootstrap resamples", c->bootstrap, "%.0f");
    h_row_num(r, "seed", c->seed, "%.0f");
    h_raw(r, "<tr><th>p (parametric; <strong>not valid for RDMs</strong>)</th><td class=\"num\">");
    h_num(r, c->p_parametric, "%.3g");
    h_raw(r, "</td></tr>\n</table>\n");
}

static void null_figure(rep *r, const cJSON *root, const char *key, double observed, const char *title)
{
    char *path = rj_file(r, rj_str(r, root, "", key));
    if (!path)
        return;
    h_raw(r, "<figure>");
    rep_fig_null(r, path, key, observed, title);
    h_raw(r, "<figcaption>The distribution of <em>r</em> when the stimulus labels of one RDM are "
             "permuted (the Mantel test's null), and the observed <em>r</em> (the marked line). The "
             "permutation p is the share of the null at or beyond the observed value, counting the "
             "observed arrangement itself: (1 + #{null &ge; r}) / (1 + P).</figcaption></figure>\n");
    free(path);
}

static void sec_rsa(rep *r, const cJSON *root, const rep_cmp *m)
{
    section_open(r, "rsa", "RSA result and the permutation null");
    cmp_table(r, m);
    null_figure(r, root, "rsa_null", m->r, "permutation null of r");
    section_close(r);
}

/* A row's first five cells (name, n, r, p, CI), the row left open for more cells. */
static void cmp_cells(rep *r, const char *name, const rep_cmp *c)
{
    h_raw(r, "<tr><th>");
    h_text(r, name);
    h_raw(r, "</th><td class=\"num\">");
    h_num(r, c->n, "%.0f");
    h_raw(r, "</td><td class=\"num\">");
    h_num(r, c->r, "%.3f");
    h_raw(r, "</td><td class=\"num\">");
    h_p(r, c->p_permutation);
    h_raw(r, "</td><td>");
    h_ci(r, c->ci_lo, c->ci_hi);
    h_raw(r, "</td>");
}

static void cmp_row(rep *r, const char *name, const rep_cmp *c)
{
    cmp_cells(r, name, c);
    h_raw(r, "</tr>\n");
}

/* 1 if some element of the array `arr` has a non-null member `key`. */
static int any_member(const cJSON *arr, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
        if (v && !cJSON_IsNull(v))
            return 1;
    }
    return 0;
}

static const char CMP_HEAD[] = "<tr><th></th><th>n</th><th><em>r</em></th><th>permutation <em>p</em></th>"
                               "<th>95% CI</th></tr>\n";

static void sec_baseline(rep *r, const cJSON *root, const rep_cmp *m, const rep_cmp *v)
{
    section_open(r, "baseline", "Voxel baseline");
    h_raw(r, "<p>The same comparison with the brain side taken straight from the trial volumes (no "
             "rendering, no autoencoder). If the baseline finds a relationship the main pathway misses, "
             "the pathway lost information; if neither finds one, the data hold none that RSA can "
             "see.</p>\n<table>\n");
    h_raw(r, CMP_HEAD);
    cmp_row(r, "autoencoder pathway", m);
    cmp_row(r, "voxel baseline", v);
    h_raw(r, "</table>\n");
    null_figure(r, root, "rsa_voxels_null", v->r, "permutation null of r (voxel baseline)");
    rep_rdm d;
    side_rdm(r, root, "voxels", &d);
    if (d.data) {
        const rep_rdm *rdms[1] = { &d };
        const char *titles[1] = { "voxel baseline" };
        h_raw(r, "<figure>");
        rep_fig_rdms(r, rdms, titles, 1, "the voxel-baseline RDM");
        h_raw(r, "<figcaption>The voxel-baseline RDM, ordered as above.");
        rdm_caption(r, titles[0], &d);
        h_raw(r, "</figcaption></figure>\n");
    }
    rep_rdm_release(&d);
    section_close(r);
}

static void sec_lags(rep *r, const cJSON *sweep)
{
    section_open(r, "lags", "Lag sweep: which volume of each trial");
    h_raw(r, "<p>The voxel-baseline RSA for each volume rule: <code>stimoff</code> (the paper's) takes "
             "the volume at the stimulus offset, <code>lag:K</code> the volume K TRs after the onset. "
             "The BOLD response peaks some 4 to 6 seconds after a stimulus, so an early volume holds "
             "little of it.</p>\n<table>\n<tr><th>rule</th><th>n</th><th><em>r</em></th>"
             "<th>permutation <em>p</em></th><th>95% CI</th>");
    int truth = any_member(sweep, "r_truth"), i = 0;
    h_raw(r, truth ? "<th><em>r</em> of the voxel RDM vs truth</th></tr>\n" : "</tr>\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, sweep) {
        char where[64];
        rj_index(where, sizeof where, "lag_sweep", i++);
        if (!cJSON_IsObject(e)) {
            rep_fail(r, LRSA_EFORMAT, "'%s': '%s' is not an object", r->results_path, where);
            break;
        }
        rep_cmp c;
        rj_cmp_at(r, e, where, &c);   /* n, r, p_permutation, ci95 as in a compare object */
        cmp_cells(r, rj_str(r, e, where, "rule"), &c);
        if (truth) {
            h_raw(r, "<td class=\"num\">");
            h_num(r, rj_num(r, e, where, "r_truth"), "%.3f");
            h_raw(r, "</td>");
        }
        h_raw(r, "</tr>\n");
    }
    h_raw(r, "</table>\n");
    rep_fig_lags(r, sweep);
    section_close(r);
}

static void sec_truth(rep *r, const cJSON *truth)
{
    section_open(r, "truth", "Truth correlations (synthetic data)");
    h_raw(r, "<p>Each side's RDM against the RDM of the planted signal, on the same aligned stimuli: a "
             "failed detection can be traced to the side that lost the signal.</p>\n<table>\n");
    h_raw(r, CMP_HEAD);
    static const char *const keys[] = { "fmri", "images", "voxels" };
    static const char *const names[] = { "fMRI side vs truth", "image side vs truth", "voxel baseline vs truth" };
    for (int i = 0; i < 3; i++) {
        rep_cmp c;
        rj_cmp(r, truth, "truth", keys[i], &c);
        if (c.present)
            cmp_row(r, names[i], &c);
    }
    h_raw(r, "</table>\n");
    char *path = rj_file(r, rj_str(r, truth, "truth", "rdm"));
    if (path) {
        rep_rdm d;
        if (rep_rdm_load(r, path, "truth.rdm", &d) == 0) {
            const rep_rdm *rdms[1] = { &d };
            const char *titles[1] = { "truth" };
            h_raw(r, "<figure>");
            rep_fig_rdms(r, rdms, titles, 1, "the truth RDM");
            h_raw(r, "<figcaption>The planted signal's RDM.");
            rdm_caption(r, titles[0], &d);
            h_raw(r, "</figcaption></figure>\n");
        }
        rep_rdm_release(&d);
    }
    free(path);
    section_close(r);
}

static void sec_subjects(rep *r, const cJSON *root, const cJSON *subjects)
{
    section_open(r, "subjects", "Per subject");
    int voxels = any_member(subjects, "rsa_voxels"), i = 0;
    h_raw(r, "<table>\n<tr><th>subject</th><th>n</th><th><em>r</em></th><th>permutation <em>p</em></th>"
             "<th>95% CI</th>");
    h_raw(r, voxels ? "<th>voxel baseline <em>r</em></th><th>its <em>p</em></th></tr>\n" : "</tr>\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, subjects) {
        char where[64];
        rj_index(where, sizeof where, "per_subject", i++);
        if (!cJSON_IsObject(e)) {
            rep_fail(r, LRSA_EFORMAT, "'%s': '%s' is not an object", r->results_path, where);
            break;
        }
        rep_cmp c;
        rj_cmp(r, e, where, "rsa", &c);
        double n = rj_num(r, e, where, "n");
        if (isfinite(n))
            c.n = n;
        cmp_cells(r, rj_str(r, e, where, "subject"), &c);
        if (voxels) {
            rep_cmp v;
            rj_cmp(r, e, where, "rsa_voxels", &v);
            h_raw(r, "<td class=\"num\">");
            h_num(r, v.r, "%.3f");
            h_raw(r, "</td><td class=\"num\">");
            h_p(r, v.p_permutation);
            h_raw(r, "</td>");
        }
        h_raw(r, "</tr>\n");
    }
    h_raw(r, "<tr><th>mean</th><td></td><td class=\"num\">");
    h_num(r, rj_num(r, root, "", "per_subject_mean_r"), "%.3f");
    h_raw(r, voxels ? "</td><td></td><td></td><td></td><td></td></tr>\n</table>\n"
                    : "</td><td></td><td></td></tr>\n</table>\n");
    section_close(r);
}

static void sec_alignment(rep *r, const cJSON *align)
{
    section_open(r, "alignment", "Alignment of the two sides");
    h_raw(r, "<p>Brain rows and image rows are joined by stimulus name (never by position); these are "
             "the counts <code>align</code> reported.</p>\n");
    json_table(r, align);
    section_close(r);
}

static void sec_null(rep *r, const cJSON *root, const rep_cmp *m)
{
    section_open(r, "null", "The permutation null used");
    const char *kind = rj_str(r, root, "", "null");
    h_raw(r, "<p>Null: <strong>");
    h_text(r, kind);
    h_raw(r, "</strong>. ");
    if (kind && strcmp(kind, "stratified by source") == 0)
        h_raw(r, "Stimulus labels were permuted only within each image source (COCO, ImageNet, Scene), "
                 "so the test asks whether the RDMs agree beyond what the sources' differences "
                 "explain.");
    else if (kind && strcmp(kind, "plain") == 0)
        h_raw(r, "Stimulus labels were permuted across all stimuli. When the sources differ on both "
                 "sides, this null can be rejected for that reason alone; the stratified null "
                 "(<code>--strata source</code>) is the stricter test.");
    h_raw(r, " Permutations: ");
    h_num(r, m->permutations, "%.0f");
    h_raw(r, "; seed: ");
    h_num(r, m->seed, "%.0f");
    h_raw(r, ".</p>\n");
    section_close(r);
}

static void sec_options(rep *r, const cJSON *root)
{
    section_open(r, "options", "Options");
    h_raw(r, "<p>Every resolved option of the study.</p>\n");
    json_table(r, rj_obj(r, root, "", "options"));
    section_close(r);
}

static void sec_stages(rep *r, const cJSON *root)
{
    section_open(r, "stages", "Stages");
    const cJSON *stages = rj_arr(r, root, "", "stages");
    if (!stages || cJSON_GetArraySize(stages) == 0) {
        h_raw(r, "<p>n/a</p>\n");
        section_close(r);
        return;
    }
    h_raw(r, "<table>\n<tr><th>stage</th><th>status</th><th>seconds</th><th>command</th></tr>\n");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, stages) {
        char where[64];
        rj_index(where, sizeof where, "stages", i++);
        if (!cJSON_IsObject(e)) {
            rep_fail(r, LRSA_EFORMAT, "'%s': '%s' is not an object", r->results_path, where);
            break;
        }
        h_raw(r, "<tr><td>");
        h_text(r, rj_str(r, e, where, "name"));
        h_raw(r, "</td><td>");
        h_text(r, rj_str(r, e, where, "status"));
        h_raw(r, "</td><td class=\"num\">");
        h_num(r, rj_num(r, e, where, "seconds"), "%.2f");
        h_raw(r, "</td><td><code>");
        h_text(r, rj_str(r, e, where, "command"));
        h_raw(r, "</code></td></tr>\n");
    }
    h_raw(r, "</table>\n");
    section_close(r);
}

static void sec_versions(rep *r, const cJSON *root)
{
    section_open(r, "versions", "Versions");
    h_raw(r, "<table>\n");
    h_row_text(r, "latentrsa (the study)", rj_str(r, root, "", "latentrsa_version"));
    h_row_text(r, "latentrsa (this report)", LRSA_VERSION);
    h_row_text(r, "created", rj_str(r, root, "", "created"));
    const cJSON *v = rj_obj(r, root, "", "versions");
    if (v)
        h_rows_json(r, v, "");
    h_raw(r, "</table>\n");
    section_close(r);
}

/* ===== Top level ======================================================= */
static void build(rep *r, const cJSON *root)
{
    rep_cmp m, v;
    rj_cmp(r, root, "", "rsa", &m);
    rj_cmp(r, root, "", "rsa_voxels", &v);
    const cJSON *ae = rj_obj(r, root, "", "ae");
    const cJSON *sides = rj_obj(r, root, "", "sides");
    const cJSON *lags = rj_arr(r, root, "", "lag_sweep");
    const cJSON *truth = rj_obj(r, root, "", "truth");
    const cJSON *subjects = rj_arr(r, root, "", "per_subject");
    const cJSON *align = rj_obj(r, root, "", "alignment");
    if (r->rc)
        return;
    present p = { 0 };
    p.ae = ae != NULL;
    p.recon = ae && rj_str(r, ae, "ae", "recon_figure");
    p.loss = ae && (rj_str(r, ae, "ae", "loss_figure") || rj_str(r, ae, "ae", "json"));
    p.rdms = rj_str(r, rj_obj(r, sides, "sides", "fmri"), "sides.fmri", "rdm") ||
             rj_str(r, rj_obj(r, sides, "sides", "images"), "sides.images", "rdm");
    p.baseline = v.present;
    p.lags = lags && cJSON_GetArraySize(lags) > 0;
    p.truth = truth != NULL;
    p.subjects = subjects && cJSON_GetArraySize(subjects) > 0;
    p.alignment = align != NULL;

    page_head(r, root, &p);
    sec_headline(r, root, &m);
    section_open(r, "meaning", "What this result means, and what it does not");
    rep_meaning(r, root, &m, &v);
    section_close(r);
    sec_dataset(r, root);
    if (p.ae)
        sec_architecture(r, ae, root);
    if (p.recon)
        sec_reconstructions(r, ae);
    if (p.rdms)
        sec_rdms(r, root);
    if (p.loss)
        sec_loss(r, ae);
    sec_rsa(r, root, &m);
    if (p.baseline)
        sec_baseline(r, root, &m, &v);
    if (p.lags)
        sec_lags(r, lags);
    if (p.truth)
        sec_truth(r, truth);
    if (p.subjects)
        sec_subjects(r, root, subjects);
    if (p.alignment)
        sec_alignment(r, align);
    sec_null(r, root, &m);
    sec_options(r, root);
    sec_stages(r, root);
    sec_versions(r, root);
    h_raw(r, "<footer><p class=\"meta\">Written by <code>latentrsa report</code> from "
             "<code>results.json</code>; run <code>latentrsa report OUT</code> to rebuild it. The page "
             "is self-contained: every figure is embedded.</p></footer>\n</body>\n</html>\n");
}

int lrsa_report_write(const char *out_dir, const lrsa_ctx *ctx, lrsa_err *err)
{
    if (!out_dir || !*out_dir)
        return LRSA_FAIL(err, LRSA_EMISUSE, "report: no output folder");
    rep r;
    memset(&r, 0, sizeof r);
    r.out_dir = out_dir;
    r.ctx = ctx;
    lrsa_err_init(&r.err);
    lrsa_strbuf_init(&r.html);
    char *text = NULL, *html_path = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    lrsa_err e;
    lrsa_err_init(&e);
    lrsa_outfile of;
    memset(&of, 0, sizeof of);

    if (!(r.results_path = lrsa_path_join(out_dir, RESULTS_FILE, &e)) ||
        !(html_path = lrsa_path_join(out_dir, LRSA_REPORT_FILE, &e))) {
        rep_fail_err(&r, &e, "report");
        goto done;
    }
    if (!lrsa_is_dir(out_dir)) {
        rep_fail(&r, LRSA_ENOTFOUND, "'%s' is not a study output folder (no such directory)", out_dir);
        goto done;
    }
    if (lrsa_read_file(r.results_path, RESULTS_MAX, &text, &len, &e)) {
        rep_fail_err(&r, &e, "no study results in '%s'", out_dir);
        goto done;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        long at = end && end >= text && end <= text + len ? (long)(end - text) : -1;
        rep_fail(&r, LRSA_EFORMAT, "'%s': not valid JSON (at byte %ld)", r.results_path, at);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rep_fail(&r, LRSA_EFORMAT, "'%s': expected one JSON object, got %s", r.results_path,
                 cJSON_IsArray(root) ? "an array" : "a scalar");
        goto done;
    }
    build(&r, root);
    if (r.rc)
        goto done;
    if (lrsa_outfile_open(&of, html_path, &e) ||
        (fwrite(r.html.buf, 1, r.html.len, of.fp) != r.html.len &&
         LRSA_FAIL(&e, LRSA_EIO, "cannot write '%s'", html_path)) ||
        lrsa_outfile_commit(&of, &e)) {
        lrsa_outfile_abort(&of);
        rep_fail(&r, e.code, "%s", e.msg);
        goto done;
    }
    lrsa_info(ctx, "wrote '%s' (%zu bytes)", html_path, r.html.len);
done:
    if (r.rc && err)
        *err = r.err;
    cJSON_Delete(root);
    free(text);
    free(html_path);
    free(r.results_path);
    lrsa_strbuf_release(&r.html);
    return r.rc;
}
