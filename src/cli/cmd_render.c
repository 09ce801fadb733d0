/* latentrsa render: BOLD volumes -> activation images (nilearn 0.10.4 plot_stat_map look). */
#include "cli.h"
#include "latentrsa/bids.h"
#include "latentrsa/image.h"
#include "latentrsa/nifti.h"
#include "latentrsa/plot.h"
#include "latentrsa/render.h"
#include "latentrsa/render_jobs.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const render_synopsis[] = {
    "latentrsa render BIDS_DIR [--trials trials.tsv] -o DIR [--size 672] [--threshold 100] "
    "[--canvas nilearn|square] [--interp cubic|linear] [--volumes trials|all] "
    "[--volume-rule lag:SECONDS|stimoff] [--limit N]",
    NULL,
};

static const cli_usage render_usage = {
    render_synopsis,
    "Render BOLD volumes as nilearn 0.10.4's plot_stat_map(img, bg_img=None, threshold=100,\n"
    "annotate=False, draw_cross=False, colorbar=False) draws them: coronal, sagittal and axial\n"
    "slices through the automatic cut coordinates, the cold_hot colour map over the volume's\n"
    "min..max, white below the threshold. Oblique volumes are resampled as nilearn does (scipy's\n"
    "cubic B-spline; --interp linear is faster and slightly different). --canvas nilearn draws\n"
    "the 660x350 figure and resizes it to SIZE x SIZE with Pillow's bilinear filter (the paper's\n"
    "torchvision Resize; --size 0 keeps 660x350); --canvas square draws the three panels side by\n"
    "side on a SIZE x SIZE square without stretching. Each trial of the table (from --trials, or\n"
    "a scan of BIDS_DIR with --volume-rule, default lag:5) is rendered, or with --volumes all\n"
    "every volume of every run; each run is read in one pass and volumes render in parallel.\n"
    "Writes DIR/sub-S/ses-E/run_R/fMRI_sub-S_ses-E_run-R_trial-T_STEM.png (STEM: ImgName up to\n"
    "its first dot; ..._timestep-(t+1).png with --volumes all), DIR/manifest.tsv (stimulus\n"
    "source subject session run trial volume path) and DIR/contact.png (the first renders).",
};

#define CONTACT_MAX 16

int cmd_render(int argc, char **argv, cli_ctx *cli)
{
    const char *trials_path = NULL, *output = NULL, *canvas = "nilearn", *interp = "cubic";
    const char *volumes = "trials", *rule_text = "lag:5";
    int64_t size = 672, limit = -1;
    double threshold = 100.0;
    const cli_opt opts[] = {
        OPT_STRING_(0, "trials", &trials_path, "FILE", "trial table from 'latentrsa scan' (default: scan BIDS_DIR)"),
        OPT_STRING_('o', "output", &output, "DIR", "write the images here (required)"),
        OPT_INT_(0, "size", &size, "N", "output side in pixels (default 672; 0 with nilearn: 660x350)"),
        OPT_DOUBLE_(0, "threshold", &threshold, "T", "|v| <= T is transparent (default 100)"),
        OPT_STRING_(0, "canvas", &canvas, "KIND", "nilearn (660x350, then resized) or square (default nilearn)"),
        OPT_STRING_(0, "interp", &interp, "KIND", "oblique resampling: cubic (nilearn's) or linear (default cubic)"),
        OPT_STRING_(0, "volumes", &volumes, "WHICH", "trials (one per trial) or all (every volume) (default trials)"),
        OPT_STRING_(0, "volume-rule", &rule_text, "RULE", "when scanning: lag:SECONDS or stimoff (default lag:5)"),
        OPT_INT_(0, "limit", &limit, "N", "render only the first N images"),
        OPT_END_(),
    };
    char *args[2];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &render_usage, 1, 1, args, &nargs);
    if (status >= 0)
        return status;
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o DIR");
    lrsa_render_opts ro;
    lrsa_render_opts_init(&ro);
    if (strcmp(canvas, "nilearn") == 0)
        ro.canvas = LRSA_CANVAS_NILEARN;
    else if (strcmp(canvas, "square") == 0)
        ro.canvas = LRSA_CANVAS_SQUARE;
    else
        return cli_usage_error(cli, "--canvas must be nilearn or square, not '%s'", canvas);
    if (strcmp(interp, "cubic") == 0)
        ro.interp = LRSA_INTERP_CUBIC;
    else if (strcmp(interp, "linear") == 0)
        ro.interp = LRSA_INTERP_LINEAR;
    else
        return cli_usage_error(cli, "--interp must be cubic or linear, not '%s'", interp);
    int all;
    if (strcmp(volumes, "trials") == 0)
        all = 0;
    else if (strcmp(volumes, "all") == 0)
        all = 1;
    else
        return cli_usage_error(cli, "--volumes must be trials or all, not '%s'", volumes);
    if (limit == 0 || limit < -1)
        return cli_usage_error(cli, "--limit must be a positive number");
    ro.threshold = threshold;
    ro.size = size;
    int64_t ow, oh;
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_render_output_size(&ro, &ow, &oh, &err))
        return cli_usage_error(cli, "%s", err.msg);
    lrsa_scan_opts so;
    lrsa_scan_opts_init(&so);
    if (lrsa_volume_rule_parse(rule_text, &so.rule, &err) != LRSA_OK)
        return cli_usage_error(cli, "%s", err.msg);

    const char *root = args[0];
    lrsa_trials *t = NULL;
    lrsa_render_job *jobs = NULL;
    int64_t njobs = 0, empty = 0, nonfinite = 0, contact_n = 0;
    lrsa_image contact[CONTACT_MAX];
    memset(contact, 0, sizeof contact);
    char *contact_cap[CONTACT_MAX];
    memset(contact_cap, 0, sizeof contact_cap);
    int rc;
    if (!lrsa_is_dir(root)) {
        rc = LRSA_FAIL(&err, LRSA_ENOTFOUND, "'%s' is not a directory", root);
        goto done;
    }
    if (trials_path)
        rc = lrsa_trials_read(trials_path, &t, &err);
    else
        rc = lrsa_bids_scan(root, &so, &cli->lib, &t, NULL, &err);
    if (rc)
        goto done;
    if ((rc = lrsa_render_jobs_plan(t, all, root, &jobs, &njobs, &err)))
        goto done;
    if (limit > 0 && limit < njobs) {
        for (int64_t i = limit; i < njobs; i++)
            free(jobs[i].path);
        njobs = limit;
    }
    if ((rc = lrsa_mkdir_p(output, &err)))
        goto done;
    /* one run at a time: read its volumes in one pass, render them in parallel */
    int threads = lrsa_threads(&cli->lib);
    size_t pixels = (size_t)(ow * oh * 3);
    for (int64_t a = 0; a < njobs && !rc;) {
        int64_t b = a;
        while (b + 1 < njobs && strcmp(jobs[b + 1].run->bold, jobs[a].run->bold) == 0)
            b++;
        int64_t n = b - a + 1;
        int64_t *vols = lrsa_malloc((size_t)n * sizeof *vols, "volume list", &err);
        char *bold = lrsa_path_join(root, jobs[a].run->bold, &err);
        lrsa_nifti_bricks *bricks = NULL;
        if (!vols || !bold) {
            rc = LRSA_ENOMEM;
        } else {
            for (int64_t i = 0; i < n; i++)
                vols[i] = jobs[a + i].volume;
            rc = lrsa_nifti_read_bricks(bold, n, vols, &bricks, &err);
        }
        const lrsa_nifti_header *h = bricks ? lrsa_nifti_bricks_header(bricks) : NULL;
        /* folders first (serially) */
        for (int64_t i = 0; i < n && !rc; i++) {
            char *p = lrsa_path_join(output, jobs[a + i].path, &err);
            char *slash = p ? strrchr(p, '/') : NULL;
            if (!p)
                rc = LRSA_ENOMEM;
            else if (slash) {
                *slash = 0;
                rc = lrsa_mkdir_p(p, &err);
            }
            free(p);
        }
        int64_t fail_at = -1;
        lrsa_err ferr;
        lrsa_err_init(&ferr);
        if (!rc) {
            int64_t nvox = h->dims[0] * h->dims[1] * h->dims[2];
#pragma omp parallel num_threads(threads)
            {
                float *vol = malloc((size_t)nvox * sizeof *vol);
                uint8_t *rgb = malloc(pixels);
                lrsa_render_work *work = NULL;
                lrsa_render_work_new(&work, NULL);   /* NULL: renders fall back to their own */
                lrsa_png_opts po;
                lrsa_png_opts_fast(&po);
#pragma omp for schedule(dynamic, 1) reduction(+ : empty, nonfinite)
                for (int64_t i = 0; i < n; i++) {
                    lrsa_err e;
                    lrsa_err_init(&e);
                    lrsa_render_info info;
                    int r = !vol || !rgb ? LRSA_FAIL(&e, LRSA_ENOMEM, "out of memory for a render") : LRSA_OK;
                    char *p = NULL;
                    if (!r)
                        r = lrsa_nifti_bricks_volume(bricks, i, vol, (size_t)nvox, &e);
                    if (!r) {
                        r = lrsa_render_volume_work(work, vol, h->dims, (const double(*)[4])h->affine,
                                                    &ro, rgb, &info, &e);
                        if (r)
                            lrsa_err_prefix(&e, "'%s' volume %lld", bold, (long long)jobs[a + i].volume);
                    }
                    if (!r) {
                        empty += info.empty;
                        nonfinite += info.nonfinite > 0;
                        p = lrsa_path_join(output, jobs[a + i].path, &e);
                        r = p ? lrsa_image_write_png_ex(p, rgb, ow, oh, &po, &e) : LRSA_ENOMEM;
                    }
                    free(p);
                    if (!r && a + i < CONTACT_MAX) {
                        contact[a + i].data = malloc(pixels);
                        if (contact[a + i].data) {
                            memcpy(contact[a + i].data, rgb, pixels);
                            contact[a + i].width = ow;
                            contact[a + i].height = oh;
                        }
                    }
                    if (r) {
#pragma omp critical(render_fail)
                        if (fail_at < 0 || i < fail_at) {
                            fail_at = i;
                            ferr = e;
                        }
                    }
                }
                free(vol);
                free(rgb);
                lrsa_render_work_free(work);
            }
            if (fail_at >= 0) {
                err = ferr;
                rc = err.code;
            }
        }
        lrsa_nifti_bricks_free(bricks);
        free(vols);
        free(bold);
        if (!rc)
            lrsa_progress(&cli->lib, "render", b + 1, njobs);
        a = b + 1;
    }
    if (rc)
        goto done;
    char *manifest = lrsa_path_join(output, "manifest.tsv", &err);
    rc = manifest ? lrsa_render_manifest_write(manifest, jobs, njobs, &err) : LRSA_ENOMEM;
    free(manifest);
    if (rc)
        goto done;
    /* contact sheet: the first renders, captioned subject/session/run/trial or timestep */
    contact_n = njobs < CONTACT_MAX ? njobs : CONTACT_MAX;
    for (int64_t i = 0; i < contact_n; i++) {
        char buf[160];
        const lrsa_render_job *j = &jobs[i];
        if (j->row && !all)
            snprintf(buf, sizeof buf, "%s %s r%lld t%lld", j->run->subject, j->run->session,
                     (long long)j->run->run, (long long)j->row->trial);
        else
            snprintf(buf, sizeof buf, "%s %s r%lld v%lld", j->run->subject, j->run->session,
                     (long long)j->run->run, (long long)j->volume + 1);
        contact_cap[i] = strdup(buf);
    }
    {
        char *cpath = lrsa_path_join(output, "contact.png", &err);
        rc = cpath ? lrsa_plot_image_grid(cpath, contact, contact_n,
                                           (const char *const *)contact_cap, 4,
                                           ro.canvas == LRSA_CANVAS_SQUARE ? 168 : 224,
                                           ro.canvas == LRSA_CANVAS_SQUARE ? 168 : 224,
                                           "latentrsa render: first images", &err)
                   : LRSA_ENOMEM;
        free(cpath);
        if (rc)
            goto done;
    }
    if (empty)
        lrsa_warn(&cli->lib, "%lld of %lld volumes have nothing above the threshold %g: their "
                  "images are blank", (long long)empty, (long long)njobs, threshold);
    if (nonfinite)
        lrsa_warn(&cli->lib, "%lld volumes hold NaN or Inf voxels, drawn as 0 (as nilearn does)",
                  (long long)nonfinite);
    cli_note(cli, "rendered %lld images (%lld x %lld, %s canvas, %s resampling) into '%s'",
             (long long)njobs, (long long)ow, (long long)oh, canvas, interp, output);
done:
    for (int i = 0; i < CONTACT_MAX; i++) {
        free(contact[i].data);
        free(contact_cap[i]);
    }
    lrsa_render_jobs_free(jobs, njobs);
    lrsa_trials_free(t);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
