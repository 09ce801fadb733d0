/* latentrsa embed-images: run a Hugging Face ViTModel over a folder (or list) of images and
 * stream one row per image into a float32 .npy, with the labels sidecar.
 *
 * Steps: list the images (recursively, or from a list file; kept when their magic bytes say JPEG
 * or PNG), sort them by stimulus name (the file name, byte order), write the .npy header for all
 * N rows, then per batch: decode + preprocess in parallel (one image per thread, Pillow-exact,
 * imgproc.h), one lrsa_vit_forward for the batch, append its rows. The output goes through an
 * lrsa_outfile, so it appears under its name only when complete; memory is one batch. */
#include "cli.h"
#include "latentrsa/image.h"
#include "latentrsa/imgproc.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"
#include "latentrsa/vit.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define EMBED_MAX_DEPTH 64
#define EMBED_MAX_LIST ((size_t)64 << 20)

static const char *const embed_synopsis[] = {
    "latentrsa embed-images --vit DIR (--images DIR | --list FILE) "
    "[--output last_hidden_state|cls|mean|pooler] [--layer L] [--batch N] "
    "[--channel-order rgb|bgr] -o OUT.npy",
    NULL,
};

static const cli_usage embed_usage = {
    embed_synopsis,
    "Embed every image under DIR (recursively; BOLD5000's Presented_Stimuli/{COCO,ImageNet,Scene}\n"
    "works as it is) or listed in FILE (one path a line) with the ViTModel in the Hugging Face\n"
    "directory --vit (config.json, model.safetensors, optional preprocessor_config.json).\n"
    "Files are recognised by their magic bytes (JPEG or PNG), not their extension. Preprocessing\n"
    "is transformers' ViTImageProcessor (slow PIL path) bit for bit. OUT.npy has one float32 row\n"
    "per image in byte order of the stimulus (the file name), and OUT.labels.tsv says which:\n"
    "stimulus = file name, source = its folder when that is COCO, ImageNet or Scene. Rows are\n"
    "written as they are computed; OUT.npy appears only when complete.",
};

/* ===== Listing ========================================================== */
typedef struct item {
    char *path;           /* as given or found */
    const char *name;     /* the stimulus: the file name inside path */
    const char *source;   /* COCO, ImageNet, Scene or NULL */
} item;

typedef struct item_list {
    item *v;
    int64_t n, cap;
    int64_t skipped;      /* files under a folder that are not images */
} item_list;

static void items_release(item_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The folder's name if it is one of BOLD5000's three sources. */
static const char *source_of(const char *path)
{
    static const char *const sources[] = { "COCO", "ImageNet", "Scene" };
    const char *end = strrchr(path, '/');
    if (!end)
        return NULL;
    const char *start = end;
    while (start > path && start[-1] != '/')
        start--;
    for (size_t i = 0; i < 3; i++)
        if ((size_t)(end - start) == strlen(sources[i]) &&
            memcmp(start, sources[i], (size_t)(end - start)) == 0)
            return sources[i];
    return NULL;
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpe"));
}

/* Sniff a file's first bytes. */
static int sniff_file(const char *path, lrsa_image_format *fmt, lrsa_err *err)
{
    *fmt = LRSA_IMAGE_UNKNOWN;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO, "cannot open '%s': %s",
                         path, strerror(errno));
    uint8_t buf[8];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    *fmt = lrsa_image_sniff(buf, n);
    return LRSA_OK;
}

static int items_add(item_list *l, const char *path, lrsa_err *err)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        item *v = lrsa_realloc(l->v, (size_t)cap * sizeof *v, "image list", err);
        if (!v)
            return LRSA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *p = lrsa_strdup(path, err);
    if (!p)
        return LRSA_ENOMEM;
    l->v[l->n].path = p;
    l->v[l->n].name = base_name(p);
    l->v[l->n].source = source_of(p);
    l->n++;
    return LRSA_OK;
}

/* Add one file: an image by its magic bytes is kept; a file named like an image that is not one
 * is an error (it would silently drop a stimulus); other files are counted and skipped. */
static int add_file(item_list *l, const char *path, int listed, lrsa_err *err)
{
    lrsa_image_format fmt;
    int rc = sniff_file(path, &fmt, err);
    if (rc)
        return rc;
    if (fmt != LRSA_IMAGE_UNKNOWN)
        return items_add(l, path, err);
    if (listed || has_image_ext(base_name(path)))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a jpeg or png file", path);
    l->skipped++;
    return LRSA_OK;
}

static int walk(item_list *l, const char *dir, int depth, lrsa_err *err)
{
    if (depth > EMBED_MAX_DEPTH)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': folders nested over %d deep (a link loop?)",
                         dir, EMBED_MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO,
                         "cannot read folder '%s': %s", dir, strerror(errno));
    int rc = LRSA_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')                  /* ., .., hidden files (.DS_Store, ._x.jpg) */
            continue;
        char *p = lrsa_path_join(dir, e->d_name, err);
        if (!p) {
            rc = LRSA_ENOMEM;
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0)
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot stat '%s': %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = walk(l, p, depth + 1, err);
        else if (S_ISREG(st.st_mode))
            rc = add_file(l, p, 0, err);
        free(p);
    }
    closedir(d);
    return rc;
}

/* One path a line; blank lines and lines starting with '#' are skipped; CRLF is fine; relative
 * paths are relative to the current directory. */
static int read_list(item_list *l, const char *file, lrsa_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = lrsa_read_file(file, EMBED_MAX_LIST, &text, &len, err);
    if (rc)
        return rc;
    int64_t lineno = 0;
    for (char *line = text; !rc && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        if (n && line[0] != '#') {
            if (!lrsa_is_file(line))
                rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s' line %lld: no file '%s'", file,
                               (long long)lineno, line);
            else
                rc = add_file(l, line, 1, err);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return rc;
}

static int cmp_items(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->path, y->path);
}

/* Sort by stimulus; a stimulus twice is an error (rows are joined by it later). */
static int sort_items(item_list *l, lrsa_err *err)
{
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_items);
    for (int64_t i = 1; i < l->n; i++)
        if (strcmp(l->v[i - 1].name, l->v[i].name) == 0)
            return LRSA_FAIL(err, LRSA_ESHAPE, "stimulus '%s' twice: '%s' and '%s'", l->v[i].name,
                             l->v[i - 1].path, l->v[i].path);
    return LRSA_OK;
}

/* ===== Embedding ======================================================== */
typedef struct embed_opts {
    const char *vit_dir, *output;
    lrsa_vit_output what;
    int layer;
    int64_t batch;
    int bgr;
} embed_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Decode and preprocess images [a, a+nb) into pixels, one image per thread. The error of the
 * first failing image (in list order) is reported. */
static int prepare_batch(const item_list *l, int64_t a, int64_t nb, const lrsa_vit_preproc *pp,
                         float *pixels, const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t numel = lrsa_vit_preproc_numel(pp), fail_at = -1;
    unsigned flags = pp->bgr ? LRSA_IMAGE_OPENCV : 0;
    lrsa_err ferr;
    lrsa_err_init(&ferr);
    int threads = lrsa_threads(ctx);
    if (threads > nb)
        threads = (int)nb;
    (void)threads;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t i = 0; i < nb; i++) {
        lrsa_err e;
        lrsa_err_init(&e);
        lrsa_image img;
        int r = lrsa_image_read_ex(l->v[a + i].path, flags, &img, &e);
        if (!r)
            r = lrsa_vit_preprocess(pp, img.data, img.width, img.height, NULL,
                                    pixels + i * numel, &e);
        lrsa_image_release(&img);
        if (r) {
#pragma omp critical(embed_fail)
            if (fail_at < 0 || i < fail_at) {
                fail_at = i;
                ferr = e;
            }
        }
    }
    if (fail_at >= 0) {
        *err = ferr;
        return ferr.code ? ferr.code : LRSA_EFORMAT;
    }
    return LRSA_OK;
}

static void show_progress(const cli_ctx *cli, int64_t done, int64_t total, double t0, int tty)
{
    if (!tty || cli->quiet)
        return;
    double dt = now_s() - t0, rate = dt > 0 ? (double)done / dt : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\rembed-images: %lld/%lld images, %.2f images/s, %.0f s left   %s",
            (long long)done, (long long)total, rate, eta, done >= total ? "\n" : "");
    fflush(stderr);
}

static int embed(cli_ctx *cli, const embed_opts *o, const item_list *l, lrsa_err *err)
{
    lrsa_vit *vit = NULL;
    float *pixels = NULL, *rows = NULL;
    char *header = NULL, *lpath = NULL;
    lrsa_labels *labels = NULL;
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    int rc, committed = 0;
    double t0 = now_s();

    if ((rc = lrsa_vit_load(o->vit_dir, &vit, err)))
        goto done;
    const lrsa_vit_config *cfg = lrsa_vit_get_config(vit);
    if (o->layer > cfg->num_hidden_layers) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "--layer %d: the model in '%s' has %lld blocks", o->layer,
                       o->vit_dir, (long long)cfg->num_hidden_layers);
        goto done;
    }
    if (o->what == LRSA_VIT_POOLER && !lrsa_vit_has_pooler(vit)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': the model has no pooler weights", o->vit_dir);
        goto done;
    }
    lrsa_vit_preproc pp;
    if ((rc = lrsa_vit_preproc_read(o->vit_dir, cfg->image_size, &pp, err)))
        goto done;
    if (pp.height != cfg->image_size || pp.width != cfg->image_size) {
        rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s': preprocessor size %lldx%lld differs from the "
                       "model's image_size %lld", o->vit_dir, (long long)pp.width,
                       (long long)pp.height, (long long)cfg->image_size);
        goto done;
    }
    pp.bgr = o->bgr;
    int64_t dim = lrsa_vit_output_dim(vit, o->what), numel = lrsa_vit_preproc_numel(&pp);
    int64_t batch = o->batch < l->n ? o->batch : l->n;
    pixels = lrsa_malloc((size_t)(batch * numel) * sizeof *pixels, "pixel batch", err);
    rows = pixels ? lrsa_malloc((size_t)(batch * dim) * sizeof *rows, "output batch", err) : NULL;
    if (!rows) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* the labels first: known from the list, and their check should fail before hours of work */
    if (!(labels = lrsa_labels_new(l->n, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < l->n && !rc; i++) {
        rc = lrsa_labels_set(labels, i, LRSA_LBL_STIMULUS, l->v[i].name, err);
        if (!rc)
            rc = lrsa_labels_set(labels, i, LRSA_LBL_SOURCE, l->v[i].source, err);
    }
    if (rc || (rc = lrsa_labels_check(labels, err)) ||
        (rc = lrsa_labels_path(o->output, &lpath, err)))
        goto done;

    int64_t shape[2] = { l->n, dim };
    size_t hlen = 0;
    if ((rc = lrsa_npy_format_header(LRSA_NPY_F32, 0, 2, shape, &header, &hlen, err)) ||
        (rc = lrsa_outfile_open(&of, o->output, err)))
        goto done;
    if (fwrite(header, 1, hlen, of.fp) != hlen) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", o->output, strerror(errno));
        goto done;
    }
    lrsa_debug(&cli->lib, "%lld images, %lld floats each (%s%s), batches of %lld, %s order",
              (long long)l->n, (long long)dim,
              o->what == LRSA_VIT_CLS ? "cls" : o->what == LRSA_VIT_MEAN ? "mean"
              : o->what == LRSA_VIT_POOLER ? "pooler" : "last_hidden_state",
              o->layer ? " after a block" : "", (long long)batch, o->bgr ? "bgr" : "rgb");
    int tty = isatty(STDERR_FILENO);
    double tw = now_s();
    for (int64_t a = 0; a < l->n; a += batch) {
        int64_t nb = l->n - a < batch ? l->n - a : batch;
        if ((rc = prepare_batch(l, a, nb, &pp, pixels, &cli->lib, err)) ||
            (rc = lrsa_vit_forward(vit, pixels, nb, o->what, o->layer, rows, &cli->lib, err)))
            goto done;
        if (fwrite(rows, sizeof *rows, (size_t)(nb * dim), of.fp) != (size_t)(nb * dim)) {
            rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", o->output, strerror(errno));
            goto done;
        }
        show_progress(cli, a + nb, l->n, tw, tty);
    }
    if ((rc = lrsa_outfile_commit(&of, err)))
        goto done;
    committed = 1;
    if ((rc = lrsa_labels_write(lpath, labels, err)))
        goto done;
    double dt = now_s() - t0;
    cli_note(cli, "embedded %lld images (%lld floats each) in %.1f s (%.2f images/s) into '%s' "
             "(labels '%s')", (long long)l->n, (long long)dim, dt, dt > 0 ? (double)l->n / dt : 0.0,
             o->output, lpath);
done:
    if (rc && committed)
        remove(o->output);               /* no matrix without its sidecar */
    lrsa_outfile_abort(&of);
    lrsa_labels_free(labels);
    lrsa_vit_free(vit);
    free(header);
    free(lpath);
    free(pixels);
    free(rows);
    return rc;
}

int cmd_embed_images(int argc, char **argv, cli_ctx *cli)
{
    const char *vit_dir = NULL, *images = NULL, *list = NULL, *output_kind = NULL,
               *order = NULL, *output = NULL;
    int64_t layer = 0, batch = 8;
    const cli_opt opts[] = {
        OPT_STRING_(0, "vit", &vit_dir, "DIR", "Hugging Face ViTModel directory (required)"),
        OPT_STRING_(0, "images", &images, "DIR", "embed every image under DIR, recursively"),
        OPT_STRING_(0, "list", &list, "FILE", "embed the images listed in FILE, one path a line"),
        OPT_STRING_(0, "output", &output_kind, "KIND",
                    "last_hidden_state (default), cls, mean or pooler"),
        OPT_INT_(0, "layer", &layer, "L",
                 "the state after block L (1..layers) instead of the final output"),
        OPT_INT_(0, "batch", &batch, "N", "images per forward pass (default: 8)"),
        OPT_STRING_(0, "channel-order", &order, "ORDER",
                    "rgb (default, as PIL) or bgr (the paper's OpenCV read)"),
        OPT_STRING_('o', "out", &output, "OUT.npy", "write the embeddings here (required)"),
        OPT_END_(),
    };
    char *args[1];
    int nargs;
    int status = cli_parse(cli, argc, argv, opts, &embed_usage, 0, 0, args, &nargs);
    if (status >= 0)
        return status;
    if (!vit_dir || !*vit_dir)
        return cli_usage_error(cli, "missing --vit DIR");
    if (!output || !*output)
        return cli_usage_error(cli, "missing -o OUT.npy");
    if (!images == !list)
        return cli_usage_error(cli, "give one of --images DIR or --list FILE");
    embed_opts o = { vit_dir, output, LRSA_VIT_LAST_HIDDEN_STATE, 0, batch, 0 };
    if (output_kind) {
        if (!strcmp(output_kind, "last_hidden_state"))
            o.what = LRSA_VIT_LAST_HIDDEN_STATE;
        else if (!strcmp(output_kind, "cls"))
            o.what = LRSA_VIT_CLS;
        else if (!strcmp(output_kind, "mean"))
            o.what = LRSA_VIT_MEAN;
        else if (!strcmp(output_kind, "pooler"))
            o.what = LRSA_VIT_POOLER;
        else
            return cli_usage_error(cli, "unknown --output '%s' (last_hidden_state, cls, mean or "
                                   "pooler)", output_kind);
    }
    if (order && strcmp(order, "rgb") != 0 && strcmp(order, "bgr") != 0)
        return cli_usage_error(cli, "unknown --channel-order '%s' (rgb or bgr)", order);
    o.bgr = order && !strcmp(order, "bgr");
    if (layer < 0 || layer > 100000)
        return cli_usage_error(cli, "--layer must be 0 (the final output) or a block 1..L");
    if (layer > 0 && o.what == LRSA_VIT_POOLER)
        return cli_usage_error(cli, "--output pooler is only defined on the final output "
                               "(not with --layer)");
    o.layer = (int)layer;
    if (batch < 1 || batch > 4096)
        return cli_usage_error(cli, "--batch must be in 1..4096");

    lrsa_err err;
    lrsa_err_init(&err);
    item_list l;
    memset(&l, 0, sizeof l);
    int rc;
    if (images) {
        if (!lrsa_is_dir(images)) {
            rc = LRSA_FAIL(&err, LRSA_ENOTFOUND, "no folder '%s'", images);
            goto done;
        }
        rc = walk(&l, images, 0, &err);
    } else {
        rc = read_list(&l, list, &err);
    }
    if (rc)
        goto done;
    if (l.n == 0) {
        rc = LRSA_FAIL(&err, LRSA_EEMPTY, "no jpeg or png images %s '%s'",
                       images ? "under" : "listed in", images ? images : list);
        goto done;
    }
    if (l.skipped)
        lrsa_warn(&cli->lib, "skipped %lld files under '%s' that are not jpeg or png images",
                  (long long)l.skipped, images);
    if ((rc = sort_items(&l, &err)))
        goto done;
    rc = embed(cli, &o, &l, &err);
done:
    items_release(&l);
    return rc ? cli_report(cli, &err) : EXIT_OK;
}
