/* synth: options, the plan (images, schedule), and writing the dataset to disk.
 * The images live in synth_images.c, the brain and its data in synth_brain.c. */
#include "synth_impl.h"
#include "latentrsa/image.h"
#include "latentrsa/nifti.h"
#include "latentrsa/version.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX (((int64_t)1 << 53) - 1)

/* ===== Options ========================================================= */
void lrsa_synth_opts_init(lrsa_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->subjects = 4;
    o->sessions = 1;
    o->runs = 2;
    o->trials = 10;
    o->repeated_images = 2;
    o->dims[0] = 24;
    o->dims[1] = 24;
    o->dims[2] = 16;
    o->signal = 2.0;
    o->noise = 1.0;
    o->seed = 1;
    o->image_size = 64;
}

static int check_range(const char *opt, int64_t v, int64_t lo, int64_t hi, lrsa_err *err)
{
    if (v < lo || v > hi)
        return LRSA_FAIL(err, LRSA_EMISUSE, "%s must be %lld to %lld, got %lld", opt, (long long)lo,
                         (long long)hi, (long long)v);
    return LRSA_OK;
}

int lrsa_synth_opts_check(const lrsa_synth_opts *o, lrsa_err *err)
{
    int rc;
    if ((rc = check_range("--subjects", o->subjects, 1, 9, err)) ||
        (rc = check_range("--sessions", o->sessions, 1, 20, err)) ||
        (rc = check_range("--runs", o->runs, 1, 20, err)) ||
        (rc = check_range("--trials", o->trials, 1, 200, err)) ||
        (rc = check_range("--seed", o->seed, 0, SEED_MAX, err)) ||
        (rc = check_range("--image-size", o->image_size, 16, 1024, err)))
        return rc;
    for (int a = 0; a < 3; a++)
        if (o->dims[a] < 8 || o->dims[a] > 256)
            return LRSA_FAIL(err, LRSA_EMISUSE, "--dims: each dimension must be 8 to 256, got %lldx%lldx%lld",
                             (long long)o->dims[0], (long long)o->dims[1], (long long)o->dims[2]);
    if (!isfinite(o->signal) || o->signal < 0 || o->signal > 1000)
        return LRSA_FAIL(err, LRSA_EMISUSE, "--signal must be 0 to 1000 (percent of baseline), got %g", o->signal);
    if (!isfinite(o->noise) || o->noise < 0 || o->noise > 1000)
        return LRSA_FAIL(err, LRSA_EMISUSE, "--noise must be 0 to 1000 (percent of baseline), got %g", o->noise);
    int64_t per_subject = o->sessions * o->runs * o->trials;
    if (o->repeated_images < 0 || o->repeated_images * 4 > per_subject)
        return LRSA_FAIL(err, LRSA_EMISUSE,
                         "--repeated-images %lld needs %lld trials per subject (4 each), have %lld",
                         (long long)o->repeated_images, (long long)o->repeated_images * 4,
                         (long long)per_subject);
    int64_t nimages = per_subject - 3 * o->repeated_images;
    if (nimages > LRSA_SYNTH_MAX_IMAGES)
        return LRSA_FAIL(err, LRSA_EMISUSE,
                         "%lld unique images per subject, over the limit of %d (fewer sessions, runs or trials)",
                         (long long)nimages, LRSA_SYNTH_MAX_IMAGES);
    int64_t run_voxels = o->dims[0] * o->dims[1] * o->dims[2] * ((6 + 10 * o->trials + 12) / 2);
    if (run_voxels > LRSA_SYNTH_MAX_RUN_VOXELS)
        return LRSA_FAIL(err, LRSA_EMISUSE, "a run of %lldx%lldx%lld voxels and %lld volumes is over the limit of %lld values",
                         (long long)o->dims[0], (long long)o->dims[1], (long long)o->dims[2],
                         (long long)((6 + 10 * o->trials + 12) / 2), (long long)LRSA_SYNTH_MAX_RUN_VOXELS);
    return LRSA_OK;
}

/* ===== The plan ======================================================== */
void lrsa_synth_free(lrsa_synth *s)
{
    if (!s)
        return;
    free(s->images);
    free(s->trials);
    free(s->weights);
    free(s->baseline);
    free(s->hrf_cum);
    free(s);
}

/* Each subject sees every image: the K repeated ones 4 times, the others once, in a random order
 * cut into sessions, runs and trials. One presentation of each repeated image, chosen at random
 * (not always the first), lacks the rep_ prefix, as in BOLD5000 (specs/data.md 1.5). */
static int make_schedule(lrsa_synth *s, lrsa_err *err)
{
    const lrsa_synth_opts *o = &s->opts;
    int64_t per = o->sessions * o->runs * o->trials;
    int rc = LRSA_OK;
    int64_t *order = lrsa_malloc(sizeof *order * (size_t)per, "synth schedule", err);
    int *seen = lrsa_malloc(sizeof *seen * (size_t)s->nimages, "synth schedule", err);
    int *plain = lrsa_malloc(sizeof *plain * (size_t)s->nimages, "synth schedule", err);
    int64_t *pick = lrsa_malloc(sizeof *pick * (size_t)s->nimages, "synth schedule", err);
    if (!order || !seen || !plain || !pick) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* The repeated set: K images chosen at random, the same for every subject. */
    lrsa_rng rng;
    synth_stream(&rng, s, SYNTH_STREAM_REPEATS, 0, 0, 0);
    for (int64_t i = 0; i < s->nimages; i++)
        pick[i] = i;
    for (int64_t i = 0; i < o->repeated_images; i++) {
        int64_t j = i + (int64_t)lrsa_rng_below(&rng, (uint64_t)(s->nimages - i));
        int64_t t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
        s->images[pick[i]].repeated = 1;
    }
    for (int64_t sub = 1; sub <= o->subjects; sub++) {
        int64_t n = 0;
        for (int64_t i = 0; i < s->nimages; i++)
            for (int r = 0; r < (s->images[i].repeated ? 4 : 1); r++)
                order[n++] = i;
        synth_stream(&rng, s, SYNTH_STREAM_ORDER, (uint64_t)sub, 0, 0);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)lrsa_rng_below(&rng, (uint64_t)(i + 1));
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int64_t i = 0; i < s->nimages; i++) {
            seen[i] = 0;
            plain[i] = (int)lrsa_rng_below(&rng, 4);
        }
        lrsa_rng timing;
        synth_stream(&timing, s, SYNTH_STREAM_TIMING, (uint64_t)sub, 0, 0);
        for (int64_t p = 0; p < per; p++) {
            lrsa_synth_trial *t = &s->trials[(sub - 1) * per + p];
            int64_t img = order[p];
            t->subject = (int)sub;
            t->session = (int)(p / (o->runs * o->trials)) + 1;
            t->run = (int)(p / o->trials % o->runs) + 1;
            t->trial = (int)(p % o->trials) + 1;
            t->image = img;
            t->rep_prefix = s->images[img].repeated && seen[img] != plain[img];
            seen[img]++;
            /* BOLD5000's timing: 6 s lead-in, then one trial every 10 s; onsets 20-40 ms late,
             * images shown 967-1002 ms (specs/data.md 1.4). */
            t->onset_ms = 6000 + 10000 * (int64_t)(t->trial - 1) + 20 + (int64_t)lrsa_rng_below(&timing, 21);
            t->stimoff_ms = t->onset_ms + 967 + (int64_t)lrsa_rng_below(&timing, 36);
            /* Responses in about BOLD5000's proportions (like 47%, neutral 41%, dislike 11%,
             * none 0.2%); RT 0.4-1.8 s from onset. */
            double u = lrsa_rng_uniform(&timing);
            t->response = u < 0.002 ? 0 : u < 0.472 ? 1 : u < 0.886 ? 2 : 3;
            t->rt_ms = t->response ? 400 + (int64_t)lrsa_rng_below(&timing, 1401) : 0;
        }
    }
done:
    free(order);
    free(seen);
    free(plain);
    free(pick);
    return rc;
}

int lrsa_synth_new(const lrsa_synth_opts *o, lrsa_synth **out, lrsa_err *err)
{
    *out = NULL;
    int rc = lrsa_synth_opts_check(o, err);
    if (rc)
        return rc;
    lrsa_synth *s = lrsa_calloc(1, sizeof *s, "synth plan", err);
    if (!s)
        return LRSA_ENOMEM;
    s->opts = *o;
    int64_t per = o->sessions * o->runs * o->trials;
    s->nimages = per - 3 * o->repeated_images;
    s->ntrials = per * o->subjects;
    s->images = lrsa_calloc((size_t)s->nimages, sizeof *s->images, "synth images", err);
    s->trials = lrsa_calloc((size_t)s->ntrials, sizeof *s->trials, "synth trials", err);
    if (!s->images || !s->trials) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = synth_make_images(s, err)) || (rc = make_schedule(s, err)) ||
        (rc = synth_make_brain(s, err)))
        goto done;
    *out = s;
    s = NULL;
done:
    lrsa_synth_free(s);
    return rc;
}

const lrsa_synth_opts *lrsa_synth_options(const lrsa_synth *s) { return &s->opts; }
const lrsa_synth_geometry *lrsa_synth_geom(const lrsa_synth *s) { return &s->geom; }
int64_t lrsa_synth_nimages(const lrsa_synth *s) { return s->nimages; }
const lrsa_synth_image *lrsa_synth_image_at(const lrsa_synth *s, int64_t i) { return &s->images[i]; }
int64_t lrsa_synth_ntrials(const lrsa_synth *s) { return s->ntrials; }
const lrsa_synth_trial *lrsa_synth_trial_at(const lrsa_synth *s, int64_t i) { return &s->trials[i]; }

/* ===== Writing ========================================================= */
static int write_text(const char *path, const char *text, size_t len, lrsa_err *err)
{
    lrsa_outfile of;
    int rc = lrsa_outfile_open(&of, path, err);
    if (rc)
        return rc;
    if (len && fwrite(text, 1, len, of.fp) != len) {
        lrsa_outfile_abort(&of);
        return LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path);
    }
    return lrsa_outfile_commit(&of, err);
}

static int write_json(const char *path, const cJSON *j, lrsa_err *err)
{
    char *text = cJSON_PrintUnformatted(j);
    if (!text)
        return LRSA_FAIL(err, LRSA_ENOMEM, "'%s': out of memory printing JSON", path);
    size_t n = strlen(text);
    /* cJSON allocates with room for nothing more: add the newline as a second write. */
    lrsa_outfile of;
    int rc = lrsa_outfile_open(&of, path, err);
    if (rc == LRSA_OK) {
        if (fwrite(text, 1, n, of.fp) != n || fputc('\n', of.fp) == EOF) {
            lrsa_outfile_abort(&of);
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", path);
        } else {
            rc = lrsa_outfile_commit(&of, err);
        }
    }
    cJSON_free(text);
    return rc;
}

/* path = dir + "/" + formatted rest; directories above it are created. */
static int make_path(lrsa_strbuf *sb, const char *dir, lrsa_err *err, const char *fmt, ...)
    LRSA_PRINTF(4, 5);
static int make_path(lrsa_strbuf *sb, const char *dir, lrsa_err *err, const char *fmt, ...)
{
    char rest[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    lrsa_strbuf_reset(sb);
    int rc = lrsa_strbuf_addf(sb, err, "%s/%s", dir, rest);
    if (rc)
        return rc;
    char *slash = strrchr(sb->buf, '/');
    *slash = '\0';
    rc = lrsa_mkdir_p(sb->buf, err);
    *slash = '/';
    return rc;
}

/* Milliseconds as seconds with three decimals, exactly ("6.031"). */
static int add_ms(lrsa_strbuf *sb, int64_t ms, lrsa_err *err)
{
    return lrsa_strbuf_addf(sb, err, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static int write_events(const lrsa_synth *s, const lrsa_synth_trial *t, int64_t n, const char *path,
                        lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int rc = lrsa_strbuf_adds(&sb, "onset\tduration\tSubj\tSess\tRun\tTrial\tImgName\tImgType\t"
                              "StimOn(s)\tStimOff(s)\tResponse\tRT\tstim_file\r\n", err);
    for (int64_t q = 0; q < n && !rc; q++) {
        const lrsa_synth_image *im = &s->images[t[q].image];
        if ((rc = add_ms(&sb, t[q].onset_ms, err)) || (rc = lrsa_strbuf_adds(&sb, "\t", err)) ||
            (rc = add_ms(&sb, t[q].stimoff_ms - t[q].onset_ms, err)) ||
            (rc = lrsa_strbuf_addf(&sb, err, "\t%d\t%d\t%d\t%d\t%s\t%s%s\t", t[q].subject, t[q].session,
                                   t[q].run, t[q].trial, im->name, t[q].rep_prefix ? "rep_" : "",
                                   im->img_type)) ||
            (rc = add_ms(&sb, t[q].onset_ms, err)) || (rc = lrsa_strbuf_adds(&sb, "\t", err)) ||
            (rc = add_ms(&sb, t[q].stimoff_ms, err)) ||
            (rc = lrsa_strbuf_addf(&sb, err, "\t%d\t", t[q].response)) ||
            (rc = add_ms(&sb, t[q].rt_ms, err)) ||
            (rc = lrsa_strbuf_addf(&sb, err, "\t%s\r\n", im->name)))
            break;
    }
    if (!rc)
        rc = write_text(path, sb.buf, sb.len, err);
    lrsa_strbuf_release(&sb);
    return rc;
}

static void nifti_header(const lrsa_synth *s, int64_t nt, lrsa_nifti_header *h)
{
    memset(h, 0, sizeof *h);
    h->nifti_version = 1;
    h->ndim = 4;
    for (int a = 0; a < 3; a++) {
        h->dims[a] = s->geom.dims[a];
        h->pixdim[a] = 2.0;
    }
    h->dims[3] = nt;
    h->pixdim[3] = LRSA_SYNTH_TR;
    h->tr = LRSA_SYNTH_TR;
    h->datatype = 4; /* DT_INT16 */
    h->bytes_per_voxel = 2;
    h->xyzt_units = 2 | 8; /* NIFTI_UNITS_MM | NIFTI_UNITS_SEC */
    memcpy(h->affine, s->geom.affine, sizeof h->affine);
    h->sform_code = 1;
    h->qform_code = 1;
    h->scl_slope = 1.0; /* as dcm2niix writes */
    h->scl_inter = 0.0;
}

static int write_bold_json(const char *path, const char *task, lrsa_err *err)
{
    cJSON *j = cJSON_CreateObject();
    int rc;
    if (!j || !cJSON_AddNumberToObject(j, "RepetitionTime", LRSA_SYNTH_TR) ||
        !cJSON_AddStringToObject(j, "TaskName", task) ||
        !cJSON_AddStringToObject(j, "Manufacturer", "latentrsa synth (synthetic data)"))
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "'%s': out of memory", path);
    else
        rc = write_json(path, j, err);
    cJSON_Delete(j);
    return rc;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static int write_top(const lrsa_synth *s, const char *dir, lrsa_strbuf *path, lrsa_err *err)
{
    int rc;
    cJSON *j = cJSON_CreateObject();
    cJSON *authors = cJSON_AddArrayToObject(j, "Authors");
    cJSON_AddItemToArray(authors, cJSON_CreateString("latentrsa synth"));
    cJSON_AddStringToObject(j, "Name", "latentrsa synth: a synthetic BOLD5000-shaped dataset");
    cJSON_AddStringToObject(j, "BIDSVersion", "1.0.2");
    cJSON_AddStringToObject(j, "License", "CC0");
    cJSON_AddStringToObject(j, "GeneratedBy", "latentrsa " LRSA_VERSION " synth");
    if ((rc = make_path(path, dir, err, "dataset_description.json")) ||
        (rc = write_json(path->buf, j, err)))
        goto done;
    static const char readme[] =
        "Synthetic fMRI dataset in the layout of BOLD5000 (OpenNeuro ds001499), written by\n"
        "`latentrsa synth`. Nothing here was recorded from a person. truth.json holds the planted\n"
        "model; stimuli/ holds the images in the layout of BOLD5000_Stimuli.\n";
    if ((rc = make_path(path, dir, err, "README")) ||
        (rc = write_text(path->buf, readme, sizeof readme - 1, err)) ||
        (rc = make_path(path, dir, err, ".bidsignore")) ||
        (rc = write_text(path->buf, "tmp_dcm2bids/\n", 14, err)))
        goto done;
    /* BOLD5000's four participants first, then made-up ones. */
    static const int ages[] = { 27, 26, 24, 25, 23, 29, 31, 22, 28 };
    static const char sexes[] = "MFFFMFMFM";
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    rc = lrsa_strbuf_adds(&sb, "participant_id\tage\tsex\n", err);
    for (int64_t i = 0; i < s->opts.subjects && !rc; i++)
        rc = lrsa_strbuf_addf(&sb, err, "sub-CSI%lld\t%d\t%c\n", (long long)(i + 1), ages[i], sexes[i]);
    if (!rc && !(rc = make_path(path, dir, err, "participants.tsv")))
        rc = write_text(path->buf, sb.buf, sb.len, err);
    lrsa_strbuf_release(&sb);
done:
    cJSON_Delete(j);
    return rc;
}

static int write_stimuli(const lrsa_synth *s, const char *dir, lrsa_strbuf *path, lrsa_err *err)
{
    int64_t S = s->opts.image_size;
    int rc = LRSA_OK;
    lrsa_strbuf list = LRSA_STRBUF_INIT;
    uint8_t *rgb = lrsa_malloc((size_t)(S * S * 3), "synth image", err);
    if (!rgb)
        return LRSA_ENOMEM;
    for (int64_t i = 0; i < s->nimages && !rc; i++) {
        const lrsa_synth_image *im = &s->images[i];
        lrsa_synth_render_image(s, i, rgb);
        if ((rc = make_path(path, dir, err, "stimuli/Scene_Stimuli/Presented_Stimuli/%s/%s", im->source, im->name)))
            break;
        rc = im->format == LRSA_IMAGE_PNG ? lrsa_image_write_png(path->buf, rgb, S, S, err)
                                          : lrsa_image_write_jpeg(path->buf, rgb, S, S, 92, err);
        if (!rc && im->repeated)
            rc = lrsa_strbuf_addf(&list, err, "%s\n", im->name);
    }
    if (!rc && !(rc = make_path(path, dir, err, "stimuli/Scene_Stimuli/repeated_stimuli_%lld_list.txt",
                                (long long)s->opts.repeated_images)))
        rc = write_text(path->buf, list.buf ? list.buf : "", list.len, err);
    free(rgb);
    lrsa_strbuf_release(&list);
    return rc;
}

/* The localizer: 10 volumes without planted signal, 4 blocks in the localizer schema. */
static int write_localizer(const lrsa_synth *s, const char *dir, int sub, lrsa_strbuf *path,
                           lrsa_err *err)
{
    static const char *conds[] = { "scene", "face", "object", "scrambled" };
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int16_t *data = NULL;
    int rc = lrsa_strbuf_adds(&sb, "onset\tduration\tTR\tTrial\tStimOn\tStimOff\tcond\timage\t"
                              "1back\tResponse\tRT\tAccuracy\r\n", err);
    for (int k = 0; k < 4 && !rc; k++) {
        int on = 2000 + 4000 * k, back = k == 2;
        rc = lrsa_strbuf_addf(&sb, err, "%d.000\t0.800\t%d\t%d\t%d.000\t%d.800\t%s\t%s_%02d.jpg\t%d\t%d\t%s\t1\r\n",
                              on / 1000, on / 2000 + 1, k + 1, on / 1000, on / 1000, conds[k], conds[k],
                              k + 1, back, back, back ? "0.612" : "0");
    }
    if (rc || (rc = make_path(path, dir, err, "sub-CSI%d/ses-01/func/sub-CSI%d_ses-01_task-localizer_events.tsv", sub, sub)) ||
        (rc = write_text(path->buf, sb.buf, sb.len, err)))
        goto done;
    lrsa_rng rng;
    synth_stream(&rng, s, SYNTH_STREAM_LOCALIZER, (uint64_t)sub, 0, 0);
    if ((rc = synth_bold(s, NULL, 0, 10, &rng, &data, err)))
        goto done;
    lrsa_nifti_header h;
    nifti_header(s, 10, &h);
    if ((rc = make_path(path, dir, err, "sub-CSI%d/ses-01/func/sub-CSI%d_ses-01_task-localizer_bold.nii.gz", sub, sub)) ||
        (rc = lrsa_nifti_write(path->buf, &h, data, err)) ||
        (rc = make_path(path, dir, err, "sub-CSI%d/ses-01/func/sub-CSI%d_ses-01_task-localizer_bold.json", sub, sub)))
        goto done;
    rc = write_bold_json(path->buf, "localizer", err);
done:
    free(data);
    lrsa_strbuf_release(&sb);
    return rc;
}

/* dcm2bids leftovers, as in BOLD5000: a stray 2-volume copy named like a real run. */
static int write_stray(const lrsa_synth *s, const char *dir, lrsa_strbuf *path, lrsa_err *err)
{
    int64_t nvox = s->geom.dims[0] * s->geom.dims[1] * s->geom.dims[2];
    int16_t *data = lrsa_malloc(sizeof *data * (size_t)(2 * nvox), "stray volume", err);
    if (!data)
        return LRSA_ENOMEM;
    for (int64_t v = 0; v < 2 * nvox; v++)
        data[v] = (int16_t)lrintf(s->baseline[v % nvox]);
    lrsa_nifti_header h;
    nifti_header(s, 2, &h);
    int rc = make_path(path, dir, err, "sub-CSI1/ses-01/tmp_dcm2bids/sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz");
    if (!rc)
        rc = lrsa_nifti_write(path->buf, &h, data, err);
    free(data);
    return rc;
}

static cJSON *number_array(const double *v, int64_t n, double round_to)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) {
        double x = round_to > 0 ? round(v[i] / round_to) * round_to : v[i];
        cJSON *num = cJSON_CreateNumber(x);
        if (!num) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, num);
    }
    return a;
}

static cJSON *int_array(const int64_t *v, int n)
{
    double d[3];
    for (int i = 0; i < n; i++)
        d[i] = (double)v[i];
    return number_array(d, n, 0);
}

static int write_truth(const lrsa_synth *s, const char *dir, lrsa_strbuf *path, lrsa_err *err)
{
    const lrsa_synth_opts *o = &s->opts;
    const lrsa_synth_geometry *g = &s->geom;
    int rc = LRSA_OK;
    double *rdm = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory building truth.json");
    cJSON_AddStringToObject(j, "generator", "latentrsa " LRSA_VERSION " synth");
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON *opt = cJSON_AddObjectToObject(j, "options");
    cJSON_AddNumberToObject(opt, "subjects", (double)o->subjects);
    cJSON_AddNumberToObject(opt, "sessions", (double)o->sessions);
    cJSON_AddNumberToObject(opt, "runs", (double)o->runs);
    cJSON_AddNumberToObject(opt, "trials", (double)o->trials);
    cJSON_AddNumberToObject(opt, "repeated_images", (double)o->repeated_images);
    cJSON_AddItemToObject(opt, "dims", int_array(o->dims, 3));
    cJSON_AddNumberToObject(opt, "signal", o->signal);
    cJSON_AddNumberToObject(opt, "noise", o->noise);
    cJSON_AddNumberToObject(opt, "seed", (double)o->seed);
    cJSON_AddNumberToObject(opt, "image_size", (double)o->image_size);
    cJSON_AddStringToObject(j, "stimuli_dir", "stimuli/Scene_Stimuli/Presented_Stimuli");
    cJSON *ln = cJSON_AddArrayToObject(j, "latent_names");
    for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
        cJSON_AddItemToArray(ln, cJSON_CreateString(lrsa_synth_latent_names[l]));

    cJSON *imgs = cJSON_AddArrayToObject(j, "images");
    for (int64_t i = 0; i < s->nimages; i++) {
        const lrsa_synth_image *im = &s->images[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(imgs, e);
        cJSON_AddStringToObject(e, "name", im->name);
        cJSON_AddStringToObject(e, "source", im->source);
        cJSON_AddStringToObject(e, "format", lrsa_image_format_name(im->format));
        cJSON_AddBoolToObject(e, "repeated", im->repeated);
        cJSON_AddItemToObject(e, "latents", number_array(im->latents, LRSA_SYNTH_NLATENT, 0));
    }

    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "response",
                            "voxel v, image i: peak change = signal% * baseline_v * sum_l W[v][l] z_i[l], "
                            "W scaled so the RMS of sum_l W[v][l] z_i[l] over signal voxels and images is 1");
    cJSON_AddBoolToObject(model, "planted", o->signal > 0);
    cJSON_AddNumberToObject(model, "baseline", LRSA_SYNTH_BASELINE);
    cJSON_AddNumberToObject(model, "background", LRSA_SYNTH_BACKGROUND);
    cJSON_AddNumberToObject(model, "vessel_value", LRSA_SYNTH_VESSEL);
    cJSON *ves = cJSON_AddArrayToObject(model, "vessels");
    for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++)
        cJSON_AddItemToArray(ves, int_array(g->vessels[p], 3));
    cJSON *blk = cJSON_AddObjectToObject(model, "signal_block");
    cJSON_AddItemToObject(blk, "lo", int_array(g->block_lo, 3));
    cJSON_AddItemToObject(blk, "hi", int_array(g->block_hi, 3));
    cJSON_AddNumberToObject(blk, "voxels", (double)g->nsignal);
    /* Summary of W per latent: mean and RMS over the signal voxels. */
    double wmean[LRSA_SYNTH_NLATENT] = { 0 }, wrms[LRSA_SYNTH_NLATENT] = { 0 };
    for (int64_t v = 0; v < g->nsignal; v++)
        for (int l = 0; l < LRSA_SYNTH_NLATENT; l++) {
            double w = s->weights[v * LRSA_SYNTH_NLATENT + l];
            wmean[l] += w / g->nsignal;
            wrms[l] += w * w / g->nsignal;
        }
    for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
        wrms[l] = sqrt(wrms[l]);
    cJSON *ws = cJSON_AddObjectToObject(model, "weights");
    cJSON_AddItemToObject(ws, "mean", number_array(wmean, LRSA_SYNTH_NLATENT, 1e-9));
    cJSON_AddItemToObject(ws, "rms", number_array(wrms, LRSA_SYNTH_NLATENT, 1e-9));
    cJSON *hr = cJSON_AddObjectToObject(model, "hrf");
    cJSON_AddStringToObject(hr, "kind", "SPM canonical double gamma: gamma(6,1) - gamma(16,1)/6, "
                                        "integrated over [StimOn, StimOff], 1 s boxcar peak = 1");
    cJSON_AddNumberToObject(hr, "tr", LRSA_SYNTH_TR);
    cJSON_AddStringToObject(hr, "sampling", "volume n at t = n * TR");
    cJSON *af = cJSON_AddArrayToObject(model, "affine");
    for (int r = 0; r < 4; r++)
        cJSON_AddItemToArray(af, number_array(g->affine[r], 4, 1e-9));
    cJSON_AddNumberToObject(model, "volumes_per_run", (double)g->volumes);

    cJSON *tr = cJSON_AddArrayToObject(j, "trials");
    for (int64_t q = 0; q < s->ntrials; q++) {
        const lrsa_synth_trial *t = &s->trials[q];
        char buf[32];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(tr, e);
        snprintf(buf, sizeof buf, "CSI%d", t->subject);
        cJSON_AddStringToObject(e, "subject", buf);
        snprintf(buf, sizeof buf, "%02d", t->session);
        cJSON_AddStringToObject(e, "session", buf);
        cJSON_AddNumberToObject(e, "run", t->run);
        cJSON_AddNumberToObject(e, "trial", t->trial);
        cJSON_AddStringToObject(e, "stimulus", s->images[t->image].name);
        cJSON_AddNumberToObject(e, "image_index", (double)t->image);
        cJSON_AddNumberToObject(e, "onset", t->onset_ms / 1000.0);
        cJSON_AddNumberToObject(e, "stim_off", t->stimoff_ms / 1000.0);
        /* lag:5 = floor((onset + 5) / 2 + 0.5); stimoff = floor(StimOff / 2), TR 2 s. */
        cJSON_AddNumberToObject(e, "volume_lag5", (double)((t->onset_ms + 6000) / 2000));
        cJSON_AddNumberToObject(e, "volume_stimoff", (double)(t->stimoff_ms / 2000));
    }

    int64_t n = s->nimages;
    rdm = lrsa_malloc(sizeof *rdm * (size_t)(n * n), "truth rdm", err);
    if (!rdm || (rc = lrsa_synth_truth_rdm(s, rdm, err))) {
        rc = rc ? rc : LRSA_ENOMEM;
        goto done;
    }
    cJSON *rd = cJSON_AddObjectToObject(j, "rdm");
    cJSON_AddStringToObject(rd, "definition",
                            "1 - Pearson correlation, over the signal voxels, of the images' planted "
                            "response patterns sum_l W[v][l] z_i[l] (independent of --signal); rounded to 1e-6");
    cJSON_AddStringToObject(rd, "order", "images, in the order of the images array");
    cJSON *mat = cJSON_AddArrayToObject(rd, "matrix");
    for (int64_t i = 0; i < n; i++)
        cJSON_AddItemToArray(mat, number_array(rdm + i * n, n, 1e-6));
    /* cJSON does not latch allocation failures: check that the big parts are all there. */
    if (cJSON_GetArraySize(imgs) != n || cJSON_GetArraySize(tr) != s->ntrials ||
        cJSON_GetArraySize(mat) != n || (n > 0 && cJSON_GetArraySize(cJSON_GetArrayItem(mat, (int)n - 1)) != n) ||
        !cJSON_GetObjectItem(model, "hrf")) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "out of memory building truth.json");
        goto done;
    }
    if ((rc = make_path(path, dir, err, "truth.json")))
        goto done;
    rc = write_json(path->buf, j, err);
done:
    free(rdm);
    cJSON_Delete(j);
    return rc;
}

int lrsa_synth_write(const lrsa_synth *s, const char *dir, const lrsa_ctx *ctx, lrsa_err *err)
{
    const lrsa_synth_opts *o = &s->opts;
    lrsa_strbuf path = LRSA_STRBUF_INIT;
    int16_t *data = NULL;
    int rc = LRSA_OK;
    if (lrsa_is_file(dir))
        return LRSA_FAIL(err, LRSA_EIO, "'%s' exists and is not a directory", dir);
    if (lrsa_is_dir(dir) && !dir_is_empty(dir) && !o->force)
        return LRSA_FAIL(err, LRSA_EMISUSE, "'%s' exists and is not empty (use --force to write into it)", dir);
    if ((rc = lrsa_mkdir_p(dir, err)) || (rc = write_top(s, dir, &path, err)) ||
        (rc = write_stimuli(s, dir, &path, err)))
        goto done;
    int64_t total = o->subjects * o->sessions * o->runs, done_runs = 0;
    lrsa_nifti_header h;
    nifti_header(s, s->geom.volumes, &h);
    for (int sub = 1; sub <= o->subjects; sub++)
        for (int ses = 1; ses <= o->sessions; ses++)
            for (int run = 1; run <= o->runs; run++) {
                const char *stem = "sub-CSI%d/ses-%02d/func/sub-CSI%d_ses-%02d_task-5000scenes_run-%02d_%s";
                int64_t first = (((int64_t)(sub - 1) * o->sessions + (ses - 1)) * o->runs + (run - 1)) * o->trials;
                if ((rc = make_path(&path, dir, err, stem, sub, ses, sub, ses, run, "events.tsv")) ||
                    (rc = write_events(s, s->trials + first, o->trials, path.buf, err)) ||
                    (rc = lrsa_synth_run_bold(s, sub, ses, run, &data, err)) ||
                    (rc = make_path(&path, dir, err, stem, sub, ses, sub, ses, run, "bold.nii.gz")) ||
                    (rc = lrsa_nifti_write(path.buf, &h, data, err)) ||
                    (rc = make_path(&path, dir, err, stem, sub, ses, sub, ses, run, "bold.json")) ||
                    (rc = write_bold_json(path.buf, "5000scenes", err)))
                    goto done;
                free(data);
                data = NULL;
                lrsa_progress(ctx, "synth", ++done_runs, total);
            }
    /* A localizer run in ses-01 of every subject (the scan must skip it). */
    for (int sub = 1; sub <= o->subjects; sub++)
        if ((rc = write_localizer(s, dir, sub, &path, err)))
            goto done;
    if ((rc = write_stray(s, dir, &path, err)) || (rc = write_truth(s, dir, &path, err)))
        goto done;
    lrsa_debug(ctx, "wrote %lld runs, %lld images and truth.json to '%s'", (long long)total,
              (long long)s->nimages, dir);
done:
    free(data);
    lrsa_strbuf_release(&path);
    return rc;
}
