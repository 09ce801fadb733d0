/* A small fake study output folder, what `latentrsa run -o DIR` writes, shrunk to 6 stimuli:
 * results.json (every key of the schema, random_vit true, a warning full of HTML specials), the
 * four RDMs with their sidecars, two permutation nulls, AE.recon.png, AE.loss.png and AE.json.
 * Shared by tests/unit/test_report.c and tests/tools/report_tool.c (the CLI test's helper).
 *
 * The sidecars list the stimuli in canonical (byte-sorted) order with sources
 *   a.jpg COCO, b.jpg Scene, c.JPEG ImageNet, d.jpg COCO, e.jpg Scene, f.jpg ImageNet,
 * so the report's display order (source, then stimulus) is a d c f b e:
 * "COCO 2, ImageNet 2, Scene 2". */
#ifndef LRSA_REPORT_FIXTURE_H
#define LRSA_REPORT_FIXTURE_H

#include "latentrsa/core.h"
#include "latentrsa/image.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_N 6
#define FIX_NULL_P 199

static const char *const fix_stimuli[FIX_N] = { "a.jpg", "b.jpg", "c.JPEG", "d.jpg", "e.jpg", "f.jpg" };
static const char *const fix_sources[FIX_N] = { "COCO", "Scene", "ImageNet", "COCO", "Scene", "ImageNet" };

/* The results.json of the fixture (paths relative to the folder). */
static const char fix_results_json[] =
    "{\n"
    "  \"latentrsa_version\": \"0.1.0\",\n"
    "  \"preset\": \"default\",\n"
    "  \"command\": \"latentrsa run --bids data --stimuli stim -o out --note '<b>&amp;'\",\n"
    "  \"created\": \"2026-11-27T18:00:00Z\",\n"
    "  \"random_vit\": true,\n"
    "  \"warnings\": [\"the image side used random weights <script>alert(1)</script> & \\\"quotes\\\"\",\n"
    "                \"2 stimuli had no image\"],\n"
    "  \"dataset\": { \"bids\": \"/data/bids\", \"stimuli\": \"/data/stim\", \"task\": \"5000scenes\",\n"
    "               \"subjects\": [\"CSI1\", \"CSI2\"], \"runs\": 8, \"trials\": 80, \"stimuli_shown\": 62,\n"
    "               \"volume_rule\": \"lag:5\", \"synthetic\": true },\n"
    "  \"n_stimuli\": 6,\n"
    "  \"sides\": {\n"
    "    \"fmri\": { \"label\": \"autoencoder embedding of the rendered trial volumes\",\n"
    "              \"embedding\": \"embed/fmri.npy\", \"dims\": 8192, \"reduced\": \"reduce/ae.fmri.npy\",\n"
    "              \"components\": 4, \"variance\": 0.7, \"rdm\": \"rdm/ae.fmri.npy\" },\n"
    "    \"images\": { \"label\": \"ViT last_hidden_state of the stimulus images\",\n"
    "              \"embedding\": \"embed/images.npy\", \"dims\": 6304, \"reduced\": \"reduce/ae.images.npy\",\n"
    "              \"components\": 3, \"variance\": 0.71, \"rdm\": \"rdm/ae.images.npy\" },\n"
    "    \"voxels\": { \"label\": \"voxel baseline (trial volumes, no model)\",\n"
    "              \"embedding\": \"embed/voxels.npy\", \"dims\": 4096, \"reduced\": \"reduce/voxels.fmri.npy\",\n"
    "              \"components\": 4, \"variance\": 0.72, \"rdm\": \"rdm/voxels.fmri.npy\" }\n"
    "  },\n"
    "  \"alignment\": { \"stimuli_both\": 6, \"only_fmri\": [\"x.jpg\"], \"only_images\": [],\n"
    "                 \"averaged_rows\": 2, \"assign\": \"quarters\", \"per_subject\": { \"CSI1\": 3, \"CSI2\": 3 } },\n"
    "  \"null\": \"plain\",\n"
    "  \"rsa\": { \"method\": \"spearman\", \"alternative\": \"greater\", \"n\": 6, \"pairs\": 15, \"r\": 0.61,\n"
    "           \"p_parametric\": 0.008, \"p_permutation\": 0.035, \"permutations\": 199, \"strata\": null,\n"
    "           \"ci95\": [0.12, 0.88], \"bootstrap\": 1000, \"seed\": 1 },\n"
    "  \"rsa_null\": \"compare/rsa.null.npy\",\n"
    "  \"rsa_voxels\": { \"method\": \"spearman\", \"alternative\": \"greater\", \"n\": 6, \"pairs\": 15,\n"
    "           \"r\": 0.42, \"p_parametric\": 0.06, \"p_permutation\": 0.09, \"permutations\": 199,\n"
    "           \"strata\": null, \"ci95\": [-0.1, 0.8], \"bootstrap\": 1000, \"seed\": 1 },\n"
    "  \"rsa_voxels_null\": \"compare/rsa_voxels.null.npy\",\n"
    "  \"per_subject\": [ { \"subject\": \"CSI1\", \"n\": 3, \"rsa\": { \"method\": \"spearman\", \"r\": 0.5,\n"
    "                      \"p_permutation\": 0.5, \"ci95\": null },\n"
    "                      \"rsa_voxels\": { \"method\": \"spearman\", \"r\": 0.375, \"p_permutation\": 0.25 } },\n"
    "                   { \"subject\": \"CSI2\", \"n\": 3, \"rsa\": null, \"rsa_voxels\": null } ],\n"
    "  \"per_subject_mean_r\": 0.5,\n"
    "  \"truth\": { \"fmri\": { \"method\": \"spearman\", \"r\": 0.7, \"p_permutation\": 0.01 },\n"
    "             \"images\": { \"method\": \"spearman\", \"r\": 0.9, \"p_permutation\": 0.005 },\n"
    "             \"voxels\": null, \"rdm\": \"rdm/truth.ae.npy\" },\n"
    "  \"lag_sweep\": [ { \"rule\": \"stimoff\", \"n\": 6, \"r\": 0.01, \"p_permutation\": 0.4, \"ci95\": null,\n"
    "                   \"r_truth\": 0.05 },\n"
    "                 { \"rule\": \"lag:4\", \"n\": 6, \"r\": 0.3, \"p_permutation\": 0.1, \"ci95\": [0.0, 0.5],\n"
    "                   \"r_truth\": 0.625 },\n"
    "                 { \"rule\": \"lag:2\", \"n\": 6, \"r\": 0.1, \"p_permutation\": 0.3, \"ci95\": [-0.2, 0.4],\n"
    "                   \"r_truth\": 0.2 },\n"
    "                 { \"rule\": \"lag:6\", \"n\": 6, \"r\": null, \"p_permutation\": null, \"ci95\": null,\n"
    "                   \"r_truth\": null } ],\n"
    "  \"ae\": { \"checkpoint\": \"ae/AE.safetensors\", \"json\": \"ae/AE.json\",\n"
    "          \"loss_figure\": \"ae/AE.loss.png\", \"recon_figure\": \"ae/AE.recon.png\",\n"
    "          \"channels\": [16, 32], \"size\": 64, \"pool\": \"none\", \"epochs_run\": 2, \"best_epoch\": 2 },\n"
    "  \"vit\": { \"dir\": \"/tmp/vit\", \"output\": \"last_hidden_state\", \"channel_order\": \"rgb\",\n"
    "           \"hidden_size\": 32, \"layers\": 2, \"random\": true },\n"
    "  \"options\": { \"seed\": \"1\", \"permutations\": \"199\", \"note\": \"a < b && c > d\" },\n"
    "  \"stages\": [ { \"name\": \"scan\", \"command\": \"latentrsa scan data -o out/trials.tsv\",\n"
    "                \"status\": \"ran\", \"seconds\": 0.12 },\n"
    "              { \"name\": \"render\", \"command\": \"latentrsa render data -o out/render\",\n"
    "                \"status\": \"cached\", \"seconds\": null } ],\n"
    "  \"versions\": { \"latentrsa\": \"0.1.0\", \"blas\": \"OpenBLAS 0.3.21 (openmp)\" }\n"
    "}\n";

static const char fix_ae_json[] =
    "{ \"generator\": \"latentrsa 0.1.0 train-ae\", \"epochs\": [\n"
    "  { \"epoch\": 1, \"train_loss\": 0.05, \"last_batch_loss\": 0.049, \"test_loss\": 0.051, \"seconds\": 1 },\n"
    "  { \"epoch\": 2, \"train_loss\": 0.03, \"last_batch_loss\": 0.029, \"test_loss\": 0.032, \"seconds\": 1 },\n"
    "  { \"epoch\": 3, \"train_loss\": 0.02, \"last_batch_loss\": 0.021, \"test_loss\": null, \"seconds\": 1 } ],\n"
    "  \"best_epoch\": 2, \"stopped_early\": false, \"finished\": true }\n";

static int fix_write_text(const char *path, const char *text, lrsa_err *err)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return LRSA_FAIL(err, LRSA_EIO, "cannot create '%s'", path);
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, fp) != n;
    bad |= fclose(fp) != 0;
    return bad ? LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path) : LRSA_OK;
}

/* An N x N RDM (symmetric, zero diagonal) with the fixture's sidecar. `salt` varies the values. */
static int fix_write_rdm(const char *path, int salt, lrsa_err *err)
{
    float d[FIX_N * FIX_N];
    for (int i = 0; i < FIX_N; i++)
        for (int j = 0; j < FIX_N; j++)
            d[i * FIX_N + j] = i == j ? 0.0f
                                      : (float)(0.2 * abs(i - j) + 0.1 * ((i + j + salt) % 3) +
                                                (strcmp(fix_sources[i], fix_sources[j]) ? 0.5 : 0.0));
    int64_t shape[2] = { FIX_N, FIX_N };
    int rc = lrsa_npy_write_f32(path, 2, shape, d, err);
    if (rc)
        return rc;
    lrsa_labels *l = lrsa_labels_new(FIX_N, err);
    char *lp = NULL;
    if (!l)
        return LRSA_ENOMEM;
    for (int i = 0; i < FIX_N && !rc; i++) {
        rc = lrsa_labels_set(l, i, LRSA_LBL_STIMULUS, fix_stimuli[i], err);
        if (!rc)
            rc = lrsa_labels_set(l, i, LRSA_LBL_SOURCE, fix_sources[i], err);
        if (!rc)
            rc = lrsa_labels_set(l, i, LRSA_LBL_SUBJECT, i % 2 ? "CSI2" : "CSI1", err);
    }
    if (!rc)
        rc = lrsa_labels_path(path, &lp, err);
    if (!rc)
        rc = lrsa_labels_write(lp, l, err);
    free(lp);
    lrsa_labels_free(l);
    return rc;
}

/* A P x 1 null: values spread around `centre`. */
static int fix_write_null(const char *path, double centre, lrsa_err *err)
{
    float v[FIX_NULL_P];
    for (int i = 0; i < FIX_NULL_P; i++)
        v[i] = (float)(centre + 0.25 * sin(1.7 * i) * cos(0.37 * i));
    int64_t shape[2] = { FIX_NULL_P, 1 };
    return lrsa_npy_write_f32(path, 2, shape, v, err);
}

/* A w x h colour gradient PNG. */
static int fix_write_png(const char *path, int w, int h, lrsa_err *err)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + 3 * (y * w + x);
            p[0] = (uint8_t)(255 * x / (w - 1));
            p[1] = (uint8_t)(255 * y / (h - 1));
            p[2] = 128;
        }
    int rc = lrsa_image_write_png(path, px, w, h, err);
    free(px);
    return rc;
}

/* Write the whole fixture into dir (created if needed). */
static int report_fixture_write(const char *dir, lrsa_err *err)
{
    static const char *const subdirs[] = { "rdm", "compare", "ae" };
    char p[4096];
    int rc;
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, subdirs[i]);
        if ((rc = lrsa_mkdir_p(p, err)))
            return rc;
    }
    static const char *const rdms[] = { "rdm/ae.fmri.npy", "rdm/ae.images.npy", "rdm/voxels.fmri.npy",
                                        "rdm/truth.ae.npy" };
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, rdms[i]);
        if ((rc = fix_write_rdm(p, i, err)))
            return rc;
    }
    snprintf(p, sizeof p, "%s/compare/rsa.null.npy", dir);
    if ((rc = fix_write_null(p, 0.0, err)))
        return rc;
    snprintf(p, sizeof p, "%s/compare/rsa_voxels.null.npy", dir);
    if ((rc = fix_write_null(p, 0.05, err)))
        return rc;
    snprintf(p, sizeof p, "%s/ae/AE.recon.png", dir);
    if ((rc = fix_write_png(p, 64, 32, err)))
        return rc;
    snprintf(p, sizeof p, "%s/ae/AE.loss.png", dir);
    if ((rc = fix_write_png(p, 48, 30, err)))
        return rc;
    snprintf(p, sizeof p, "%s/ae/AE.json", dir);
    if ((rc = fix_write_text(p, fix_ae_json, err)))
        return rc;
    snprintf(p, sizeof p, "%s/results.json", dir);
    return fix_write_text(p, fix_results_json, err);
}

#endif
