/* train-ae and embed-fmri pipeline: image sets (manifest and paper names, the subject split,
 * stems back to ImgName), ToTensor loading, the checkpoint round trip with PyTorch
 * (tests/fixtures/ae_ckpt from tools/gen_ae_checkpoint_fixtures.py), bad checkpoints, exact
 * resume after a simulated crash, and bad input. Tolerances are stated per check; max
 * differences are printed. */
#include "harness.h"
#include "latentrsa/embed_fmri.h"
#include "latentrsa/image.h"
#include "latentrsa/npy.h"
#include "latentrsa/safetensors.h"
#include "latentrsa/train.h"

#include <sys/stat.h>
#include <unistd.h>

static char fix[1024], tmp[1024];

static const char *fixp(const char *name)
{
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fix, name);
    return buf[k];
}

static const char *tmpp(const char *name)
{
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

static lrsa_ae_config small_cfg(void)
{
    lrsa_ae_config c;
    lrsa_ae_config_default(&c);
    c.height = c.width = 32;
    c.depth = 2;
    c.channels[0] = 4;
    c.channels[1] = 8;
    return c;
}

static lrsa_tensor *io_tensor(const char *name)
{
    lrsa_safetensors *st = NULL;
    lrsa_tensor *t = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    if (lrsa_st_open(fixp("torch_io.safetensors"), &st, &err) == 0)
        lrsa_st_get_f32(st, name, &t, &err);
    lrsa_st_close(st);
    if (!t)
        fprintf(stderr, "fixture: %s\n", err.msg);
    return t;
}

/* ---- the fixture images: manifest labels and ToTensor pixels ---- */
static void test_manifest_and_pixels(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_imageset *s = NULL;
    CHECK_INT(lrsa_imageset_read_dir(fixp("images"), NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK_INT(s->n, 4);
    CHECK(s->from_manifest && !s->stem_only);
    CHECK_STR(lrsa_labels_get(s->labels, 3, LRSA_LBL_SUBJECT), "CSI4");
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_STIMULUS), "img0.jpg");
    CHECK_INT(s->volume[2], 2);
    lrsa_tensor *x = io_tensor("x");
    float *buf = malloc(4 * 3 * 32 * 32 * sizeof *buf);
    int64_t idx[4] = { 0, 1, 2, 3 };
    CHECK_INT(lrsa_imageset_load(s, idx, 4, 32, buf, 2, &err), 0);
    if (x) {
        double d = max_abs_diff(buf, x->data, 4 * 3 * 32 * 32);
        fprintf(stderr, "  ToTensor vs PyTorch: max diff %g (tol 0: exact)\n", d);
        CHECK(d == 0);
    }
    /* the split: default train = everything not in test */
    lrsa_imageset *tr = NULL, *te = NULL;
    CHECK_INT(lrsa_imageset_split(s, NULL, "CSI4", &tr, &te, &err), 0);
    if (tr && te) {
        CHECK_INT(tr->n, 3);
        CHECK_INT(te->n, 1);
    }
    lrsa_imageset_free(tr);
    lrsa_imageset_free(te);
    CHECK_INT(lrsa_imageset_split(s, "sub-CSI9", "none", &tr, &te, &err), 0);
    if (tr && te) {
        CHECK_INT(tr->n, 0);
        CHECK_INT(te->n, 0);
    }
    lrsa_imageset_free(tr);
    lrsa_imageset_free(te);
    CHECK_ERR(lrsa_imageset_split(s, "CSI1", "CSI1", &tr, &te, &err), err, LRSA_EMISUSE, "both");
    lrsa_tensor_free(x);
    free(buf);
    lrsa_imageset_free(s);
}

/* ---- PyTorch -> ours: torch_init.safetensors gives PyTorch's reconstruction ---- */
static void check_forward(const char *ckpt, const char *recon_name, const char *latent_name)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae_config cfg;
    lrsa_meta meta;
    memset(&meta, 0, sizeof meta);
    CHECK_INT(lrsa_train_ckpt_config(ckpt, 32, &cfg, &meta, &err), 0);
    CHECK_INT(cfg.depth, 2);
    CHECK_INT(cfg.channels[0], 4);
    CHECK_INT(cfg.channels[1], 8);
    CHECK_INT(cfg.in_channels, 3);
    CHECK_INT(cfg.height, 32);
    lrsa_ae *ae = NULL;
    CHECK_INT(lrsa_ae_new(&cfg, &ae, &err), 0);
    if (!ae)
        return;
    CHECK_INT(lrsa_train_load_params(ckpt, ae, NULL, &err), 0);
    CHECK_INT(lrsa_ae_alloc(ae, 4, 1, &err), 0);
    lrsa_tensor *x = io_tensor("x"), *r = io_tensor(recon_name), *z = io_tensor(latent_name);
    if (x && r && z) {
        double loss;
        CHECK_INT(lrsa_ae_forward(ae, x->data, 4, &loss, NULL, &err), 0);
        double d = max_abs_diff(lrsa_ae_output(ae), r->data, (size_t)lrsa_tensor_numel(r));
        fprintf(stderr, "  %s: reconstruction vs PyTorch max diff %g (tol 1e-5)\n", ckpt, d);
        CHECK(d <= 1e-5);
        float *lat = malloc((size_t)lrsa_tensor_numel(z) * sizeof *lat);
        CHECK_INT(lrsa_ae_encode(ae, x->data, 4, lat, NULL, &err), 0);
        d = max_abs_diff(lat, z->data, (size_t)lrsa_tensor_numel(z));
        fprintf(stderr, "  %s: latent vs PyTorch max diff %g (tol 1e-5)\n", ckpt, d);
        CHECK(d <= 1e-5);
        free(lat);
    }
    lrsa_tensor_free(x);
    lrsa_tensor_free(r);
    lrsa_tensor_free(z);
    lrsa_ae_free(ae);
    lrsa_meta_release(&meta);
}

static void test_torch_to_ours(void)
{
    check_forward(fixp("torch_init.safetensors"), "recon_init", "latent_init");
}

/* ---- ours -> PyTorch: PyTorch's reconstruction with OUR checkpoint loaded strictly ---- */
static void test_ours_to_torch(void)
{
    check_forward(fixp("ours.safetensors"), "recon_ours", "latent_ours");
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_safetensors *st = NULL;
    CHECK_INT(lrsa_st_open(fixp("ours.safetensors"), &st, &err), 0);
    if (!st)
        return;
    /* exactly the state_dict names and nothing else (strict load) */
    static const char *const names[] = { "encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
                                         "encoder.2.bias", "decoder.0.weight", "decoder.0.bias",
                                         "decoder.2.weight", "decoder.2.bias" };
    CHECK_INT(st->ntensors, 8);
    for (int i = 0; i < 8; i++)
        CHECK(lrsa_st_find(st, names[i]) != NULL);
    const lrsa_st_tensor *t = lrsa_st_find(st, "decoder.0.weight");
    CHECK(t && t->shape[0] == 8 && t->shape[1] == 4);   /* ConvTranspose2d: (in, out, 3, 3) */
    CHECK_STR(lrsa_st_meta(st, "channels"), "4,8");
    CHECK_STR(lrsa_st_meta(st, "size"), "32");
    CHECK_STR(lrsa_st_meta(st, "format"), "latentrsa-ae");
    CHECK_STR(lrsa_st_meta(st, "image_source"), "images");
    lrsa_st_close(st);

    /* our save -> load keeps every bit */
    lrsa_ae_config cfg = small_cfg();
    lrsa_ae *a = NULL, *b = NULL;
    lrsa_ae_new(&cfg, &a, &err);
    lrsa_ae_new(&cfg, &b, &err);
    CHECK_INT(lrsa_train_load_params(fixp("ours.safetensors"), a, NULL, &err), 0);
    lrsa_meta m;
    memset(&m, 0, sizeof m);
    lrsa_meta_set(&m, "note", "round trip", &err);
    CHECK_INT(lrsa_train_save_params(tmpp("rt.safetensors"), a, &m, &err), 0);
    CHECK_INT(lrsa_train_load_params(tmpp("rt.safetensors"), b, NULL, &err), 0);
    CHECK(memcmp(a->params, b->params, a->num_params * sizeof(float)) == 0);
    lrsa_meta_release(&m);
    lrsa_ae_free(a);
    lrsa_ae_free(b);
}

/* ---- retraining with the fixture's options reproduces ours.safetensors ---- */
static void train_small(const char *out, int resume, int64_t stop_after, int expect_rc,
                        lrsa_err *err)
{
    lrsa_imageset *s = NULL, *tr = NULL, *te = NULL;
    lrsa_imageset_read_dir(fixp("images"), NULL, &s, err);
    if (!s)
        return;
    lrsa_imageset_split(s, NULL, "CSI4", &tr, &te, err);
    lrsa_train_opts o;
    lrsa_train_opts_init(&o);
    o.cfg = small_cfg();
    o.epochs = 2;
    o.batch = 2;
    o.seed = 3;
    o.output = out;
    o.resume = resume;
    o.stop_after_steps = stop_after;
    lrsa_ctx ctx;
    lrsa_ctx_init(&ctx);
    ctx.threads = 1;
    lrsa_train_result res;
    int rc = lrsa_train_ae(&o, tr, te, &ctx, NULL, &res, err);
    CHECK_MSG(rc == expect_rc, "train rc %d, expected %d (%s)", rc, expect_rc, err->msg);
    if (!rc) {
        CHECK_INT(res.epochs_done, 2);
        CHECK_INT(res.steps, 4);   /* 3 training images, batch 2: 2 steps per epoch */
    }
    lrsa_imageset_free(s);
    lrsa_imageset_free(tr);
    lrsa_imageset_free(te);
}

static void load_params(const char *path, float **out, size_t *n)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_ae_config cfg = small_cfg();
    lrsa_ae *ae = NULL;
    *out = NULL;
    if (lrsa_ae_new(&cfg, &ae, &err))
        return;
    if (lrsa_train_load_params(path, ae, NULL, &err) == 0) {
        *n = ae->num_params;
        *out = malloc(*n * sizeof **out);
        memcpy(*out, ae->params, *n * sizeof **out);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    lrsa_ae_free(ae);
}

static void test_retrain_and_resume(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    train_small(tmpp("full/AE.safetensors"), 0, 0, 0, &err);
    float *full = NULL, *fix_p = NULL, *res = NULL;
    size_t n = 0, n2 = 0;
    load_params(tmpp("full/AE.safetensors"), &full, &n);
    load_params(fixp("ours.safetensors"), &fix_p, &n2);
    if (full && fix_p) {
        double d = max_abs_diff(full, fix_p, n);
        fprintf(stderr, "  retrained vs ours.safetensors: max diff %g (tol 1e-6; 0 when the "
                "engine's float order is unchanged)\n", d);
        CHECK(d <= 1e-6);
    }
    CHECK(lrsa_is_file(tmpp("full/AE.state.safetensors")));
    CHECK(lrsa_is_file(tmpp("full/AE.json")));
    CHECK(lrsa_is_file(tmpp("full/AE.loss.png")));
    CHECK(lrsa_is_file(tmpp("full/AE.recon.png")));

    /* crash in the middle of epoch 2 (after 3 of its 4 steps), then resume */
    train_small(tmpp("crash/AE.safetensors"), 0, 3, LRSA_EIO, &err);
    CHECK(strstr(err.msg, "simulated crash") != NULL);
    lrsa_safetensors *st = NULL;
    if (lrsa_st_open(tmpp("crash/AE.safetensors"), &st, &err) == 0) {
        CHECK_STR(lrsa_st_meta(st, "epochs_done"), "1");   /* the epoch in progress is lost */
        lrsa_st_close(st);
    }
    train_small(tmpp("crash/AE.safetensors"), 1, 0, 0, &err);
    load_params(tmpp("crash/AE.safetensors"), &res, &n2);
    if (full && res) {
        CHECK(memcmp(full, res, n * sizeof *full) == 0);
        fprintf(stderr, "  resumed vs uninterrupted: max diff %g (tol 0: bit-identical)\n",
                max_abs_diff(full, res, n));
    }
    /* resume with other options is refused, naming the option */
    lrsa_imageset *s = NULL, *tr = NULL, *te = NULL;
    lrsa_imageset_read_dir(fixp("images"), NULL, &s, &err);
    lrsa_imageset_split(s, NULL, "CSI4", &tr, &te, &err);
    lrsa_train_opts o;
    lrsa_train_opts_init(&o);
    o.cfg = small_cfg();
    o.epochs = 3;
    o.batch = 1;
    o.seed = 3;
    o.output = tmpp("crash/AE.safetensors");
    o.resume = 1;
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_EFORMAT, "batch was 2");
    /* resume without a state file */
    o.batch = 2;
    o.output = tmpp("nothing/AE.safetensors");
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_ENOTFOUND,
              "no checkpoint to resume");
    /* bad checkpoints for --init: each names the tensor */
    o.resume = 0;
    o.output = tmpp("init/AE.safetensors");
    o.epochs = 1;
    o.dry_run = 1;
    o.init_path = fixp("missing_tensor.safetensors");
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_ENOTFOUND,
              "decoder.2.bias");
    o.init_path = fixp("bad_shape.safetensors");
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_ESHAPE,
              "encoder.2.weight");
    o.init_path = fixp("meta_mismatch.safetensors");
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_ESHAPE, "size 64");
    o.force = 1;
    CHECK_INT(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), 0);
    o.force = 0;
    o.init_path = fixp("torch_init.safetensors");
    lrsa_train_plan plan;
    CHECK_INT(lrsa_train_ae(&o, tr, te, NULL, &plan, NULL, &err), 0);
    CHECK_INT(plan.n_train, 3);
    CHECK_INT(plan.n_test, 1);
    CHECK_INT(plan.steps_per_epoch, 2);
    CHECK(plan.images_per_s > 0);
    CHECK(!lrsa_is_file(tmpp("init/AE.safetensors")));   /* dry run writes nothing */
    /* an empty training set; early stopping on an empty test set; a bad size */
    o.init_path = NULL;
    lrsa_imageset *none = NULL, *none_te = NULL;
    lrsa_imageset_split(s, "CSI9", "CSI4", &none, &none_te, &err);
    lrsa_imageset_free(none_te);
    lrsa_imageset_take(s, NULL, 0, &none_te, &err);
    CHECK_ERR(lrsa_train_ae(&o, none, te, NULL, NULL, NULL, &err), err, LRSA_EEMPTY,
              "no training image");
    o.early_stop = LRSA_EARLY_TEST;
    CHECK_ERR(lrsa_train_ae(&o, tr, none_te, NULL, NULL, NULL, &err), err, LRSA_EEMPTY, "test");
    o.early_stop = LRSA_EARLY_EPOCH_MEAN;
    o.cfg.height = o.cfg.width = 30;
    CHECK_ERR(lrsa_train_ae(&o, tr, te, NULL, NULL, NULL, &err), err, LRSA_EMISUSE, "multiple");
    lrsa_imageset_free(none);
    lrsa_imageset_free(none_te);
    lrsa_imageset_free(s);
    lrsa_imageset_free(tr);
    lrsa_imageset_free(te);
    free(full);
    free(fix_p);
    free(res);
}

/* ---- the paper's folders: subjects from whole path components ---- */
static void write_png(const char *rel)
{
    char path[1400], dir[1400];
    snprintf(path, sizeof path, "%s/paper/%s", tmp, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    lrsa_mkdir_p(dir, NULL);
    uint8_t rgb[8 * 8 * 3];
    for (int i = 0; i < 8 * 8 * 3; i++)
        rgb[i] = (uint8_t)(i * 7);
    lrsa_image_write_png(path, rgb, 8, 8, NULL);
}

static void test_paper_folders(void)
{
    write_png("sub-CSI1/ses-1/run_1/fMRI_sub-CSI1_ses-1_run-1_trial-2_COCO_train2014_000000290357.png");
    write_png("sub-CSI4/ses-1/run_1/fMRI_sub-CSI4_ses-1_run-1_trial-1_beach1.png");
    write_png("xsub-CSI4/fMRI_run-1_trial-3_n01930112_19568.png");
    write_png("sub-CSI40/ses-1/run_2/fMRI_sub-CSI40_ses-1_run-2_trial-1_beach1.png");
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_imageset *s = NULL, *tr = NULL, *te = NULL;
    CHECK_INT(lrsa_imageset_read_dir(tmpp("paper"), NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK_INT(s->n, 4);
    CHECK(s->stem_only);
    /* sorted by path: sub-CSI1, sub-CSI4, sub-CSI40, xsub-CSI4 */
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_SUBJECT), "CSI1");
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_SESSION), "1");
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_RUN), "1");
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_TRIAL), "2");
    CHECK_STR(lrsa_labels_get(s->labels, 0, LRSA_LBL_STIMULUS), "COCO_train2014_000000290357");
    CHECK_STR(lrsa_labels_get(s->labels, 1, LRSA_LBL_SUBJECT), "CSI4");
    CHECK_STR(lrsa_labels_get(s->labels, 2, LRSA_LBL_SUBJECT), "CSI40");
    CHECK_STR(lrsa_labels_get(s->labels, 3, LRSA_LBL_SUBJECT), "n/a");   /* xsub-CSI4 is not */
    CHECK_INT(lrsa_imageset_split(s, NULL, "CSI4", &tr, &te, &err), 0);
    if (tr && te) {
        CHECK_INT(te->n, 1);   /* only the whole component sub-CSI4 */
        CHECK_INT(tr->n, 3);   /* CSI1, CSI40 and the one without a subject: the paper's rule */
    }
    lrsa_imageset_free(tr);
    lrsa_imageset_free(te);

    /* stems back to ImgName through a trial table (ses-1 in the name, 01 in the table) */
    FILE *fp = fopen(tmpp("trials.tsv"), "w");
    fputs("subject\tsession\trun\ttrial\tstimulus\timg_type\tonset\tstim_off\ttr\tvolume\tbold\n"
          "CSI1\t01\t1\t2\tCOCO_train2014_000000290357.jpg\trep_coco\t10\t11\t2\t5\tx.nii.gz\n"
          "CSI4\t01\t1\t1\tbeach1.jpg\trep_scenes\t0\t1\t2\t0\ty.nii.gz\n"
          "CSI40\t01\t2\t1\tbeach2.jpg\trep_scenes\t0\t1\t2\t0\tz.nii.gz\n", fp);
    fclose(fp);
    lrsa_trials *t = NULL;
    CHECK_INT(lrsa_trials_read(tmpp("trials.tsv"), &t, &err), 0);
    lrsa_imageset *two = NULL;
    int64_t idx[2] = { 0, 1 };
    lrsa_imageset_take(s, idx, 2, &two, &err);
    if (t && two) {
        CHECK_INT(lrsa_imageset_resolve(two, t, &err), 0);
        CHECK_STR(lrsa_labels_get(two->labels, 0, LRSA_LBL_STIMULUS),
                  "COCO_train2014_000000290357.jpg");
        CHECK_STR(lrsa_labels_get(two->labels, 0, LRSA_LBL_SOURCE), "COCO");
        CHECK_STR(lrsa_labels_get(two->labels, 1, LRSA_LBL_SOURCE), "Scene");
        CHECK_INT(two->volume[0], 5);
        CHECK(!two->stem_only);
        /* a trial that showed another image is an error, never a guess */
        int64_t i3[1] = { 2 };
        lrsa_imageset *bad = NULL;
        lrsa_imageset_take(s, i3, 1, &bad, &err);
        CHECK_ERR(lrsa_imageset_resolve(bad, t, &err), err, LRSA_EFORMAT, "beach2.jpg");
        lrsa_imageset_free(bad);
        i3[0] = 3;
        lrsa_imageset_take(s, i3, 1, &bad, &err);
        CHECK_ERR(lrsa_imageset_resolve(bad, t, &err), err, LRSA_EFORMAT, "subject");
        lrsa_imageset_free(bad);
    }
    lrsa_imageset_free(two);
    lrsa_trials_free(t);
    lrsa_imageset_free(s);
}

/* ---- bad images, empty folders ---- */
static void test_bad_input(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_mkdir_p(tmpp("bad/sub-CSI1"), NULL);
    FILE *fp = fopen(tmpp("bad/sub-CSI1/broken.png"), "wb");
    fputs("\x89PNG\r\n\x1a\n this is not a png", fp);
    fclose(fp);
    lrsa_imageset *s = NULL;
    CHECK_INT(lrsa_imageset_read_dir(tmpp("bad"), NULL, &s, &err), 0);
    if (s) {
        float buf[3 * 32 * 32];
        int64_t i0 = 0;
        int rc = lrsa_imageset_load(s, &i0, 1, 32, buf, 1, &err);
        CHECK_ERR_FILE(rc, err, LRSA_EFORMAT, "", "broken.png");
    }
    lrsa_imageset_free(s);
    lrsa_mkdir_p(tmpp("empty/sub-CSI1"), NULL);
    CHECK_ERR(lrsa_imageset_read_dir(tmpp("empty"), NULL, &s, &err), err, LRSA_EEMPTY, "no .png");
    CHECK_ERR(lrsa_imageset_read_dir(tmpp("missing"), NULL, &s, &err), err, LRSA_ENOTFOUND,
              "missing");
    /* a manifest path leaving the folder */
    lrsa_mkdir_p(tmpp("evil"), NULL);
    fp = fopen(tmpp("evil/manifest.tsv"), "w");
    fputs("stimulus\tsource\tsubject\tsession\trun\ttrial\tpath\na.jpg\tCOCO\tCSI1\t01\t1\t1\t"
          "../x.png\n", fp);
    fclose(fp);
    CHECK_ERR(lrsa_imageset_read_dir(tmpp("evil"), NULL, &s, &err), err, LRSA_EFORMAT,
              "leaves the folder");
}

/* ---- embed-fmri: flattened and pooled latents of the fixture checkpoint ---- */
static void test_embed(void)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_imageset *s = NULL;
    lrsa_imageset_read_dir(fixp("images"), NULL, &s, &err);
    if (!s)
        return;
    lrsa_embed_fmri_opts o;
    lrsa_embed_fmri_opts_init(&o);
    o.model = fixp("ours.safetensors");
    o.output = tmpp("emb.npy");
    int64_t rows, dim;
    CHECK_INT(lrsa_embed_fmri(&o, s, NULL, &rows, &dim, &err), 0);
    CHECK_INT(rows, 4);
    CHECK_INT(dim, 8 * 8 * 8);
    lrsa_tensor *z = io_tensor("latent_ours"), *e = NULL;
    CHECK_INT(lrsa_npy_read_f32(tmpp("emb.npy"), &e, &err), 0);
    if (z && e) {
        double d = max_abs_diff(e->data, z->data, (size_t)lrsa_tensor_numel(z));
        fprintf(stderr, "  embed-fmri vs PyTorch encoder(x).flatten(1): max diff %g (tol 1e-5)\n", d);
        CHECK(d <= 1e-5);
    }
    CHECK(lrsa_is_file(tmpp("emb.labels.tsv")));
    lrsa_tensor_free(e);
    e = NULL;
    o.pool = LRSA_POOL_MEAN;
    o.output = tmpp("emb_mean.npy");
    CHECK_INT(lrsa_embed_fmri(&o, s, NULL, &rows, &dim, &err), 0);
    CHECK_INT(dim, 8);
    CHECK_INT(lrsa_npy_read_f32(tmpp("emb_mean.npy"), &e, &err), 0);
    if (z && e) {
        double m = 0;
        for (int64_t i = 0; i < 4; i++)
            for (int64_t c = 0; c < 8; c++) {
                double s2 = 0;
                for (int p = 0; p < 64; p++)
                    s2 += z->data[i * 512 + c * 64 + p];
                double d = fabs(s2 / 64 - e->data[i * 8 + c]);
                m = d > m ? d : m;
            }
        fprintf(stderr, "  mean pooling vs the mean of PyTorch's latent: max diff %g (tol 1e-6)\n", m);
        CHECK(m <= 1e-6);
    }
    /* a model trained on other images is refused unless forced */
    lrsa_meta ex;
    memset(&ex, 0, sizeof ex);
    lrsa_meta_set(&ex, "render_canvas", "square", &err);
    lrsa_meta model;
    memset(&model, 0, sizeof model);
    lrsa_meta_set(&model, "render_canvas", "nilearn", &err);
    CHECK_ERR(lrsa_embed_fmri_check_meta(&model, &ex, "AE.safetensors", 0, NULL, &err), err,
              LRSA_ESHAPE, "render_canvas nilearn");
    CHECK_INT(lrsa_embed_fmri_check_meta(&model, &ex, "AE.safetensors", 1, NULL, &err), 0);
    lrsa_meta_set(&model, "render_canvas", "unknown", &err);
    CHECK_INT(lrsa_embed_fmri_check_meta(&model, &ex, "AE.safetensors", 0, NULL, &err), 0);
    /* image size disagreement: ours.safetensors was trained on 32x32 images */
    lrsa_meta_release(&ex);
    o.output = tmpp("emb_bad.npy");
    o.pool = LRSA_POOL_NONE;
    lrsa_mkdir_p(tmpp("big/sub-CSI1"), NULL);
    uint8_t rgb[64 * 64 * 3] = { 0 };
    lrsa_image_write_png(tmpp("big/sub-CSI1/fMRI_sub-CSI1_ses-1_run-1_trial-1_a.png"), rgb, 64, 64,
                         &err);
    lrsa_imageset *big = NULL;
    lrsa_imageset_read_dir(tmpp("big"), NULL, &big, &err);
    if (big) {
        big->stem_only = 0;
        CHECK_ERR(lrsa_embed_fmri(&o, big, NULL, NULL, NULL, &err), err, LRSA_ESHAPE,
                  "image_width 32");
        CHECK(!lrsa_is_file(tmpp("emb_bad.npy")));
    }
    lrsa_imageset_free(big);
    lrsa_meta_release(&model);
    lrsa_tensor_free(z);
    lrsa_tensor_free(e);
    lrsa_imageset_free(s);
}

int main(void)
{
    const char *src = getenv("LRSA_SRC");
    snprintf(fix, sizeof fix, "%s/tests/fixtures/ae_ckpt", src && *src ? src : ".");
    snprintf(tmp, sizeof tmp, "%s/test_train.%d", harness_tmpdir(), (int)getpid());
    lrsa_mkdir_p(tmp, NULL);
    RUN(test_manifest_and_pixels);
    RUN(test_torch_to_ours);
    RUN(test_ours_to_torch);
    RUN(test_retrain_and_resume);
    RUN(test_paper_folders);
    RUN(test_bad_input);
    RUN(test_embed);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (harness_failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return harness_done();
}
