/* report: lrsa_report_write on a fake study folder (tests/tools/report_fixture.h). Structure: every
 * embedded data:image/png;base64 payload decodes (our own base64 decoder, then image.h) to a
 * nonzero image, the sections are there in order, text from results.json is escaped, nothing
 * external is referenced, no temporary is left. Content: the headline numbers, the red random-ViT
 * warning, the architecture's parameter count, the meaning paragraph's verdicts. Robustness: every
 * key null, an empty object, missing and unreadable files (named with their key), keys of the
 * wrong type (named by path), invalid JSON, a corrupt PNG, a non-square RDM; an existing report
 * survives a failed rebuild. Internals: base64 against RFC 4648's vectors, RDM reordering by
 * source and block averaging. */
#include "harness.h"
#include "../tools/report_check.h"
#include "../tools/report_fixture.h"
#include "../../src/pipeline/report_impl.h"

#include "latentrsa/report.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[900];

/* ===== Helpers ========================================================= */
static const char *dir_for(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", root, name);
    return buf;
}

/* A fresh fixture folder. */
static const char *fresh(const char *name, char *buf, size_t cap)
{
    char cmd[2048];
    dir_for(name, buf, cap);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clear '%s'\n", buf);
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = report_fixture_write(buf, &err);
    CHECK_MSG(rc == 0, "fixture: %s", err.msg);
    return buf;
}

static char *slurp(const char *dir, const char *name)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *data = NULL;
    size_t len = 0;
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_read_file(p, 0, &data, &len, &err))
        return NULL;
    return data;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Find the object named by a path such as "rsa", "lag_sweep[1]", "sides.fmri" ("" = root). */
static cJSON *navigate(cJSON *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, ".")) {
        char *br = strchr(tok, '[');
        int idx = -1;
        if (br) {
            idx = atoi(br + 1);
            *br = '\0';
        }
        j = cJSON_GetObjectItemCaseSensitive(j, tok);
        if (idx >= 0)
            j = cJSON_GetArrayItem(j, idx);
    }
    return j;
}

/* Set results.json's obj_path.key to the JSON text `value` (NULL: delete the key). */
static void patch(const char *dir, const char *obj_path, const char *key, const char *value)
{
    char *text = slurp(dir, "results.json");
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    cJSON *obj = navigate(j, obj_path);
    CHECK_MSG(obj != NULL, "patch: no '%s'", obj_path);
    if (obj) {
        if (value) {
            cJSON *v = cJSON_Parse(value);
            CHECK_MSG(v != NULL, "patch: bad value %s", value);
            if (cJSON_HasObjectItem(obj, key))
                cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
            else
                cJSON_AddItemToObject(obj, key, v);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        }
        char *out = cJSON_Print(j), p[1100];
        snprintf(p, sizeof p, "%s/results.json", dir);
        lrsa_err err;
        lrsa_err_init(&err);
        CHECK(fix_write_text(p, out, &err) == 0);
        free(out);
    }
    cJSON_Delete(j);
    free(text);
}

static void write_results(const char *dir, const char *text)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/results.json", dir);
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK(fix_write_text(p, text, &err) == 0);
}

/* Build the report; on success return its text (caller frees), else NULL with *rc and err set. */
static char *build(const char *dir, int *rc, lrsa_err *err)
{
    lrsa_err_init(err);
    *rc = lrsa_report_write(dir, NULL, err);
    return *rc ? NULL : slurp(dir, "report.html");
}

static int has(const char *html, const char *needle)
{
    return html && strstr(html, needle) != NULL;
}

static int has_ci(const char *html, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = html; p && *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

static const char *const all_sections[] = {
    "headline", "meaning", "dataset", "architecture", "reconstructions", "rdms", "loss", "rsa",
    "baseline", "lags", "truth", "subjects", "alignment", "null", "options", "stages", "versions",
};
#define NSECTIONS ((int)(sizeof all_sections / sizeof all_sections[0]))

/* Position of <section id="ID", or NULL. */
static const char *section(const char *html, const char *id)
{
    char needle[64];
    snprintf(needle, sizeof needle, "<section id=\"%s\"", id);
    return html ? strstr(html, needle) : NULL;
}

/* ===== The full fixture ================================================ */
static void test_full(void)
{
    char dir[1000];
    fresh("full", dir, sizeof dir);
    int rc;
    lrsa_err err;
    char *html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(html != NULL);
    if (!html)
        return;

    /* Every embedded image decodes: recon, RDMs, loss, two nulls, voxel RDM, lags, truth RDM. */
    int bad = 0, good = report_check_images(html, &bad);
    CHECK_INT(good, 8);
    CHECK_INT(bad, 0);
    /* No temporary left: ae compare rdm results.json report.html. */
    CHECK_INT(count_entries(dir), 5);

    /* Sections, all of them, in the documented order. */
    const char *prev = html;
    for (int i = 0; i < NSECTIONS; i++) {
        const char *s = section(html, all_sections[i]);
        CHECK_MSG(s != NULL, "section '%s' missing", all_sections[i]);
        CHECK_MSG(!s || s > prev || i == 0, "section '%s' out of order", all_sections[i]);
        if (s)
            prev = s;
    }
    /* Self-contained: nothing external, no script. */
    CHECK(!has_ci(html, "<script"));
    CHECK(!has_ci(html, "http://"));
    CHECK(!has_ci(html, "https://"));
    CHECK(!has_ci(html, "<link"));
    CHECK(!has_ci(html, "url("));
    CHECK(!has_ci(html, "@import"));
    for (const char *p = strstr(html, "src=\""); p; p = strstr(p + 1, "src=\""))
        CHECK_MSG(strncmp(p + 5, "data:image/png;base64,", 22) == 0, "external src: %.40s", p);
    for (const char *p = strstr(html, "href=\""); p; p = strstr(p + 1, "href=\""))
        CHECK_MSG(p[6] == '#', "external href: %.40s", p);
    CHECK(has(html, "<!DOCTYPE html>"));
    CHECK(has(html, "<meta charset=\"utf-8\">"));
    CHECK(has(html, "</html>\n"));

    /* Escaping: the warning, an option, the command. */
    CHECK(has(html, "random weights &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    CHECK(has(html, "a &lt; b &amp;&amp; c &gt; d"));
    CHECK(has(html, "--note &#39;&lt;b&gt;&amp;amp;&#39;"));
    CHECK(has(html, "2 stimuli had no image"));

    /* Headline: r, p, CI, n, method, the red warning. */
    const char *head = section(html, "headline"), *meaning = section(html, "meaning");
    CHECK(head && meaning);
    if (head && meaning) {
        size_t n = (size_t)(meaning - head);
        char *h = strndup(head, n);
        CHECK(has(h, "0.610"));
        CHECK(has(h, "0.035"));
        CHECK(has(h, "[0.120, 0.880]"));
        CHECK(has(h, "<td class=\"num\">6</td>"));
        CHECK(has(h, "spearman correlation"));
        CHECK(has(h, "class=\"danger\""));
        CHECK(has(h, "RANDOM"));
        CHECK(has(h, "199 permutations, one-sided, plain null"));
        free(h);
    }
    /* Meaning: significant, CI above 0, parametric p invalid, baseline disagreement, synthetic. */
    CHECK(has(html, "these data are evidence that the two representations share"));
    CHECK(has(html, "lies above 0"));
    CHECK(has(html, "<strong>not valid</strong>"));
    CHECK(has(html, "shows a relationship the raw voxels do not"));
    CHECK(has(html, "second-order"));
    CHECK(has(html, "The data are synthetic"));
    CHECK(has(html, "randomly initialised ViT weights"));
    /* Architecture: 3 -> 16 -> 32 at 64^2 and back: 448 + 4640 + 4624 + 435 parameters. */
    CHECK(has(html, "Conv2d 3&rarr;16, kernel 3, stride 2, padding 1; ReLU</td><td>16 &times; 32 &times; 32"));
    CHECK(has(html, "ConvTranspose2d 16&rarr;3"));
    CHECK(has(html, "Sigmoid</td><td>3 &times; 64 &times; 64"));
    CHECK(has(html, "<td class=\"num\">10147</td>"));
    CHECK(has(html, "32 &times; 16 &times; 16 = 8192 values"));
    /* RDM order from the sidecars. */
    CHECK(has(html, "in the order COCO 2, ImageNet 2, Scene 2"));
    /* Tables: lag sweep (a null r is n/a), per subject, alignment, stages, versions. */
    CHECK(has(html, "<tr><th>lag:6</th><td class=\"num\">6</td><td class=\"num\">n/a</td>"));
    CHECK(has(html, "<th><em>r</em> of the voxel RDM vs truth</th>"));
    CHECK(has(html, "<td>[0.000, 0.500]</td><td class=\"num\">0.625</td></tr>"));
    CHECK(has(html, "the voxel RDM&#39;s <em>r</em> against the truth RDM") ||
          has(html, "the voxel RDM's <em>r</em> against the truth RDM"));
    CHECK(has(html, "<tr><th>CSI2</th><td class=\"num\">3</td><td class=\"num\">n/a</td>"));
    CHECK(has(html, "<th>voxel baseline <em>r</em></th>"));
    CHECK(has(html, "<td>n/a</td><td class=\"num\">0.375</td><td class=\"num\">0.25</td></tr>"));
    CHECK(has(html, "<tr><th>per_subject.CSI1</th><td class=\"num\">3</td></tr>"));
    CHECK(has(html, "<td>cached</td><td class=\"num\">n/a</td>"));
    CHECK(has(html, "OpenBLAS 0.3.21 (openmp)"));
    CHECK(has(html, "Null: <strong>plain</strong>"));
    free(html);

    /* Rebuilding gives the same bytes. */
    char *a = slurp(dir, "report.html");
    rc = lrsa_report_write(dir, NULL, &err);
    char *b = slurp(dir, "report.html");
    CHECK(rc == 0 && a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
}

/* ===== Nulls =========================================================== */
static const char *const top_keys[] = {
    "latentrsa_version", "preset", "command", "created", "random_vit", "warnings", "dataset",
    "n_stimuli", "sides", "alignment", "null", "rsa", "rsa_null", "rsa_voxels", "rsa_voxels_null",
    "per_subject", "per_subject_mean_r", "truth", "lag_sweep", "ae", "vit", "options", "stages",
    "versions",
};

static void check_minimal(const char *html, const char *what)
{
    static const char *const always[] = { "headline", "meaning", "dataset", "rsa", "null", "options",
                                          "stages", "versions" };
    static const char *const never[] = { "architecture", "reconstructions", "rdms", "loss", "baseline",
                                         "lags", "truth", "subjects", "alignment" };
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        CHECK_MSG(section(html, always[i]), "%s: section '%s' missing", what, always[i]);
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        CHECK_MSG(!section(html, never[i]), "%s: section '%s' present", what, never[i]);
    CHECK(has(html, "n/a"));
    CHECK(!has(html, "data:image/png"));
    CHECK(!has(html, "class=\"danger\""));
    CHECK(has(html, "No permutation test was run"));
    CHECK(!has(html, "nan") && !has(html, "NaN") && !has(html, "(null)"));
}

static void test_nulls(void)
{
    char dir[1000];
    fresh("nulls", dir, sizeof dir);
    int rc;
    lrsa_err err;
    /* Every key null. */
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    lrsa_strbuf_adds(&sb, "{", NULL);
    for (size_t i = 0; i < sizeof top_keys / sizeof top_keys[0]; i++)
        lrsa_strbuf_addf(&sb, NULL, "%s\"%s\": null", i ? ", " : "", top_keys[i]);
    lrsa_strbuf_adds(&sb, "}", NULL);
    write_results(dir, sb.buf);
    lrsa_strbuf_release(&sb);
    char *html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "all null: %s", err.msg);
    if (html)
        check_minimal(html, "all null");
    free(html);

    /* An empty object: every key missing is read as null. */
    write_results(dir, "{}");
    html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "empty object: %s", err.msg);
    if (html)
        check_minimal(html, "{}");
    free(html);

    /* Nulls inside objects: every field of rsa, ae, dataset, sides.fmri. */
    fresh("nulls", dir, sizeof dir);
    static const char *const rsa_keys[] = { "method", "alternative", "n", "pairs", "r", "p_parametric",
                                            "p_permutation", "permutations", "strata", "ci95",
                                            "bootstrap", "seed" };
    for (size_t i = 0; i < sizeof rsa_keys / sizeof rsa_keys[0]; i++)
        patch(dir, "rsa", rsa_keys[i], "null");
    patch(dir, "ae", "channels", "null");
    patch(dir, "ae", "size", "null");
    patch(dir, "ae", "recon_figure", "null");
    patch(dir, "ae", "loss_figure", "null");
    patch(dir, "ae", "json", "null");
    patch(dir, "sides.fmri", "rdm", "null");
    patch(dir, "dataset", "subjects", "null");
    patch(dir, "", "random_vit", "false");
    patch(dir, "", "warnings", "[]");
    html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "inner nulls: %s", err.msg);
    CHECK(section(html, "architecture") && has(html, "n/a: the study does not record"));
    CHECK(!section(html, "reconstructions") && !section(html, "loss"));
    CHECK(section(html, "rdms"));            /* the image side's RDM alone */
    CHECK(!has(html, "class=\"danger\"") && !has(html, "class=\"warning\""));
    int bad = 0;
    CHECK_INT(report_check_images(html, &bad), 6);
    CHECK_INT(bad, 0);
    free(html);
}

/* ===== Variants of the content ========================================= */
static void test_variants(void)
{
    char dir[1000];
    int rc;
    lrsa_err err;
    /* Loss curves drawn from AE.json when there is no AE.loss.png. */
    fresh("variants", dir, sizeof dir);
    patch(dir, "ae", "loss_figure", "null");
    char *html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    int bad = 0;
    CHECK_INT(report_check_images(html, &bad), 8);
    CHECK(has(html, "alt=\"autoencoder loss curves\""));
    free(html);

    /* Not significant, CI across 0, stratified null, both pathways null. */
    fresh("variants", dir, sizeof dir);
    patch(dir, "rsa", "p_permutation", "0.3");
    patch(dir, "rsa", "ci95", "[-0.1, 0.5]");
    patch(dir, "", "null", "\"stratified by source\"");
    html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(has(html, "these data do not show that the two RDMs are related"));
    CHECK(has(html, "includes 0"));
    CHECK(has(html, "only within each image source"));
    CHECK(has(html, "Neither pathway shows a relationship"));
    CHECK(!has(html, "evidence that the two representations share"));
    free(html);

    /* Baseline finds what the pathway misses. */
    patch(dir, "rsa_voxels", "p_permutation", "0.01");
    html = build(dir, &rc, &err);
    CHECK(has(html, "did not preserve it"));
    free(html);

    /* A null with no finite value: a note, not a failure. */
    fresh("variants", dir, sizeof dir);
    char p[1100];
    snprintf(p, sizeof p, "%s/compare/rsa.null.npy", dir);
    float nan3[3] = { NAN, NAN, NAN };
    int64_t shape[2] = { 3, 1 };
    CHECK(lrsa_npy_write_f32(p, 2, shape, nan3, &err) == 0);
    html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(has(html, "Figure not drawn"));
    CHECK_INT(report_check_images(html, &bad), 7);
    CHECK_INT(count_entries(dir), 5);
    free(html);

    /* An RDM without a sidecar is drawn in file order. */
    fresh("variants", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/rdm/ae.images.labels.tsv", dir);
    CHECK(remove(p) == 0);
    html = build(dir, &rc, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(has(html, "image side: 6 stimuli in file order (no labels sidecar)"));
    free(html);
}

/* ===== Errors ========================================================== */
/* The report fails with `code`, the message names each of the needles, and an earlier
 * report.html is left exactly as it was, with no temporary beside it. */
static void expect_fail(const char *dir, int code, const char *n1, const char *n2, const char *what)
{
    char *before = slurp(dir, "report.html");
    int entries = count_entries(dir);
    lrsa_err err;
    lrsa_err_init(&err);
    int rc = lrsa_report_write(dir, NULL, &err);
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", what, rc, code, err.msg);
    CHECK_MSG(n1 == NULL || strstr(err.msg, n1), "%s: '%s' lacks '%s'", what, err.msg, n1);
    CHECK_MSG(n2 == NULL || strstr(err.msg, n2), "%s: '%s' lacks '%s'", what, err.msg, n2);
    CHECK_MSG(!strchr(err.msg, '\n'), "%s: message has a newline", what);
    char *after = slurp(dir, "report.html");
    CHECK_MSG((!before && !after) || (before && after && strcmp(before, after) == 0),
              "%s: report.html changed", what);
    CHECK_MSG(count_entries(dir) == entries, "%s: files left behind", what);
    free(before);
    free(after);
}

static void test_errors(void)
{
    char dir[1000], p[1100];
    int rc;
    lrsa_err err;
    /* No folder, no results.json. */
    dir_for("no-such-folder", dir, sizeof dir);
    lrsa_err_init(&err);
    rc = lrsa_report_write(dir, NULL, &err);
    CHECK_ERR_FILE(rc, err, LRSA_ENOTFOUND, "no such directory", dir);
    fresh("errors", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/results.json", dir);
    remove(p);
    expect_fail(dir, LRSA_ENOTFOUND, p, "No such file", "no results.json");

    /* A good report first: every failure below must leave it alone. */
    fresh("errors", dir, sizeof dir);
    CHECK(lrsa_report_write(dir, NULL, &err) == 0);

    /* Files named in results.json: missing. */
    static const struct { const char *file, *key; } named[] = {
        { "ae/AE.recon.png", "ae.recon_figure" },
        { "ae/AE.loss.png", "ae.loss_figure" },
        { "rdm/ae.fmri.npy", "sides.fmri.rdm" },
        { "rdm/ae.images.npy", "sides.images.rdm" },
        { "rdm/voxels.fmri.npy", "sides.voxels.rdm" },
        { "rdm/truth.ae.npy", "truth.rdm" },
        { "compare/rsa.null.npy", "rsa_null" },
        { "compare/rsa_voxels.null.npy", "rsa_voxels_null" },
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        char saved[1200];
        snprintf(p, sizeof p, "%s/%s", dir, named[i].file);
        snprintf(saved, sizeof saved, "%s.saved", p);
        CHECK(rename(p, saved) == 0);
        expect_fail(dir, LRSA_ENOTFOUND, named[i].file, named[i].key, named[i].file);
        CHECK(rename(saved, p) == 0);
    }
    /* The loss from AE.json when the JSON is missing. */
    patch(dir, "ae", "loss_figure", "null");
    patch(dir, "ae", "json", "\"ae/nothing.json\"");
    expect_fail(dir, LRSA_ENOTFOUND, "ae/nothing.json", "ae.json", "AE.json missing");
    patch(dir, "ae", "json", "\"results.json\"");
    expect_fail(dir, LRSA_EFORMAT, "not a train-ae report", "results.json", "AE.json of the wrong kind");

    /* A corrupt PNG, a PNG that is a JPEG, a non-square RDM, a sidecar of another length. */
    fresh("errors", dir, sizeof dir);
    CHECK(lrsa_report_write(dir, NULL, &err) == 0);
    snprintf(p, sizeof p, "%s/ae/AE.recon.png", dir);
    FILE *fp = fopen(p, "r+b");
    CHECK(fp && ftruncate(fileno(fp), 60) == 0);
    if (fp)
        fclose(fp);
    expect_fail(dir, LRSA_EFORMAT, "AE.recon.png", "ae.recon_figure", "truncated PNG");
    uint8_t px[3 * 16 * 16] = { 0 };
    CHECK(lrsa_image_write_jpeg(p, px, 16, 16, 90, &err) == 0);
    expect_fail(dir, LRSA_EFORMAT, "is not a PNG", "AE.recon.png", "JPEG as PNG");

    fresh("errors", dir, sizeof dir);
    CHECK(lrsa_report_write(dir, NULL, &err) == 0);
    snprintf(p, sizeof p, "%s/rdm/ae.images.npy", dir);
    float v[6] = { 0 };
    int64_t shape[2] = { 2, 3 };
    CHECK(lrsa_npy_write_f32(p, 2, shape, v, &err) == 0);
    expect_fail(dir, LRSA_EFORMAT, "not a square matrix", "sides.images.rdm", "2 x 3 RDM");
    int64_t sq[2] = { 2, 2 };
    CHECK(lrsa_npy_write_f32(p, 2, sq, v, &err) == 0);
    expect_fail(dir, LRSA_ESHAPE, "ae.images.labels.tsv", "sides.images.rdm", "sidecar rows");

    /* Keys of the wrong type, named by their path. */
    static const struct { const char *obj, *key, *value, *path; } wrong[] = {
        { "", "n_stimuli", "\"six\"", "'n_stimuli' is a string, expected a number" },
        { "", "random_vit", "1", "'random_vit' is a number, expected true or false" },
        { "", "warnings", "\"careful\"", "'warnings' is a string, expected an array" },
        { "", "warnings", "[\"ok\", 3]", "'warnings[1]' is not a string" },
        { "", "dataset", "[]", "'dataset' is an array, expected an object" },
        { "dataset", "runs", "\"8\"", "'dataset.runs' is a string" },
        { "rsa", "r", "\"0.6\"", "'rsa.r' is a string, expected a number or null" },
        { "rsa", "ci95", "[0.1]", "'rsa.ci95' must be [lo, hi]" },
        { "sides.fmri", "rdm", "7", "'sides.fmri.rdm' is a number, expected a string" },
        { "lag_sweep[1]", "r", "\"high\"", "'lag_sweep[1].r' is a string" },
        { "lag_sweep[2]", "ci95", "[1, 2, 3]", "'lag_sweep[2].ci95' must be [lo, hi]" },
        { "per_subject[0]", "rsa", "[]", "'per_subject[0].rsa' is an array" },
        { "ae", "channels", "[16, \"x\"]", "'ae.channels' must be an array" },
        { "", "stages", "{}", "'stages' is an object, expected an array" },
        { "stages[0]", "seconds", "\"fast\"", "'stages[0].seconds' is a string" },
        { "", "options", "\"all\"", "'options' is a string, expected an object" },
        { "truth", "fmri", "0.7", "'truth.fmri' is a number, expected an object" },
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        fresh("errors", dir, sizeof dir);
        CHECK(lrsa_report_write(dir, NULL, &err) == 0);
        patch(dir, wrong[i].obj, wrong[i].key, wrong[i].value);
        snprintf(p, sizeof p, "%s/results.json", dir);
        expect_fail(dir, LRSA_EFORMAT, p, wrong[i].path, wrong[i].path);
    }

    /* Not JSON, not an object. */
    write_results(dir, "{\"rsa\": {\"r\": 0.5,, }");
    expect_fail(dir, LRSA_EFORMAT, "not valid JSON (at byte", "results.json", "invalid JSON");
    write_results(dir, "[1, 2]");
    expect_fail(dir, LRSA_EFORMAT, "expected one JSON object, got an array", "results.json", "array");
    write_results(dir, "");
    expect_fail(dir, LRSA_EFORMAT, "not valid JSON", "results.json", "empty file");

    /* An unwritable folder: EIO naming report.html (skipped as root, who can write anyway). */
    if (geteuid() != 0) {
        fresh("errors", dir, sizeof dir);
        CHECK(chmod(dir, 0555) == 0);
        lrsa_err_init(&err);
        rc = lrsa_report_write(dir, NULL, &err);
        CHECK_MSG(rc != 0, "read-only folder accepted");
        CHECK(strstr(err.msg, dir) != NULL);
        CHECK(chmod(dir, 0755) == 0);
    }
}

/* ===== Internals ======================================================= */
static void test_base64(void)
{
    static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (int i = 0; i < 7; i++) {
        char buf[16] = { 0 };
        size_t n = rep_base64(buf, (const unsigned char *)in[i], strlen(in[i]));
        CHECK_INT(n, strlen(out[i]));
        CHECK_STR(buf, out[i]);
    }
    /* Every byte value round-trips through the checker's decoder. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    char enc[4 * 86 + 1];
    size_t n = rep_base64(enc, all, 256), len = 0;
    CHECK_INT(n, 344);
    unsigned char *dec = b64_decode(enc, n, &len);
    CHECK(dec && len == 256 && memcmp(dec, all, 256) == 0);
    free(dec);
}

static void test_rdm_order(void)
{
    char dir[1000], p[1100];
    fresh("order", dir, sizeof dir);
    rep r;
    memset(&r, 0, sizeof r);
    r.out_dir = dir;
    r.results_path = (char *)"results.json";
    /* Entry (i, j) = 10 i + j: the display order a d c f b e is rows 0 3 2 5 1 4. */
    float d[FIX_N * FIX_N];
    for (int i = 0; i < FIX_N; i++)
        for (int j = 0; j < FIX_N; j++)
            d[i * FIX_N + j] = (float)(10 * i + j);
    snprintf(p, sizeof p, "%s/rdm/ae.fmri.npy", dir);
    int64_t shape[2] = { FIX_N, FIX_N };
    lrsa_err err;
    CHECK(lrsa_npy_write_f32(p, 2, shape, d, &err) == 0);
    rep_rdm out;
    CHECK(rep_rdm_load(&r, p, "k", &out) == 0);
    static const int order[FIX_N] = { 0, 3, 2, 5, 1, 4 };
    int ok = out.m == FIX_N && out.n == FIX_N && out.has_labels;
    for (int i = 0; ok && i < FIX_N; i++)
        for (int j = 0; j < FIX_N; j++)
            ok &= out.data[i * FIX_N + j] == (float)(10 * order[i] + order[j]);
    CHECK_MSG(ok, "rows not in source, stimulus order");
    CHECK_STR(out.order, "COCO 2, ImageNet 2, Scene 2");
    rep_rdm_release(&out);

    /* Above REP_RDM_MAX rows: 2 x 2 block averages, file order without a sidecar. */
    int64_t n = REP_RDM_MAX + 6, m = (n + 1) / 2;
    float *big = malloc((size_t)(n * n) * sizeof *big);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            big[i * n + j] = (float)(i + 1000 * j);
    big[0] = NAN;   /* ignored in its block */
    snprintf(p, sizeof p, "%s/big.npy", dir);
    int64_t bs[2] = { n, n };
    CHECK(lrsa_npy_write_f32(p, 2, bs, big, &err) == 0);
    CHECK(rep_rdm_load(&r, p, "k", &out) == 0);
    CHECK_INT(out.m, m);
    CHECK(!out.has_labels && out.order[0] == '\0');
    if (out.data) {
        /* block (0, 0): (0,1), (1,0), (1,1) = 1000, 1, 1001 -> 667.33 */
        CHECK_NEAR(out.data[0], (1000.0 + 1 + 1001) / 3, 1e-3);
        /* block (5, 7): rows 10, 11, columns 14, 15 */
        CHECK_NEAR(out.data[5 * m + 7], 10.5 + 14500.0, 1e-2);
    }
    rep_rdm_release(&out);
    free(big);
    CHECK(r.rc == 0);
}

int main(void)
{
    snprintf(root, sizeof root, "%s/test_report", harness_tmpdir());
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_mkdir_p(root, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    RUN(test_full);
    RUN(test_nulls);
    RUN(test_variants);
    RUN(test_errors);
    RUN(test_base64);
    RUN(test_rdm_order);
    return harness_done();
}
