/* embed-fmri: the encoder of a trained autoencoder over one image per trial (embed_fmri.h). */
#include "latentrsa/embed_fmri.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <stdlib.h>
#include <string.h>

void lrsa_embed_fmri_opts_init(lrsa_embed_fmri_opts *o)
{
    memset(o, 0, sizeof *o);
    o->pool = LRSA_POOL_NONE;
    o->default_size = 672;
}

static int unknown(const char *v)
{
    return !v || strcmp(v, "unknown") == 0 || v[0] == '(' || strcmp(v, "n/a") == 0;
}

int lrsa_embed_fmri_check_meta(const lrsa_meta *model, const lrsa_meta *expect,
                               const char *model_name, int force, const lrsa_ctx *ctx,
                               lrsa_err *err)
{
    for (int i = 0; expect && i < expect->n; i++) {
        const char *have = lrsa_meta_get(model, expect->key[i]), *want = expect->value[i];
        if (unknown(have) || unknown(want) || strcmp(have, want) == 0)
            continue;
        if (force) {
            lrsa_warn(ctx, "'%s' was trained with %s %s, these images have %s (--force)",
                      model_name, expect->key[i], have, want);
            continue;
        }
        return LRSA_FAIL(err, LRSA_ESHAPE, "'%s' was trained with %s %s, these images have %s "
                         "(--force to embed them anyway)", model_name, expect->key[i], have, want);
    }
    return LRSA_OK;
}

int lrsa_embed_fmri(const lrsa_embed_fmri_opts *o, const lrsa_imageset *set, const lrsa_ctx *ctx,
                    int64_t *rows_out, int64_t *dim_out, lrsa_err *err)
{
    lrsa_ae_config cfg;
    lrsa_meta meta, expect;
    lrsa_ae *ae = NULL;
    float *x = NULL, *z = NULL, *row = NULL;
    int64_t *idx = NULL;
    char *hdr = NULL, *labels_path = NULL;
    uint8_t *rgb = NULL;
    size_t hdr_len;
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    memset(&meta, 0, sizeof meta);
    memset(&expect, 0, sizeof expect);
    int rc;
    if (!set || set->n == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "no image to embed");
    if (set->stem_only)
        return LRSA_FAIL(err, LRSA_EMISUSE, "the images' stimuli are file-name stems: resolve "
                         "them through a trial table first");
    if ((rc = lrsa_labels_check(set->labels, err))) {
        lrsa_err_prefix(err, "labels of '%s'", set->dir);
        return rc;
    }
    if ((rc = lrsa_train_ckpt_config(o->model, o->default_size, &cfg, &meta, err)))
        goto done;
    if ((rc = lrsa_ae_config_check(&cfg, err))) {
        lrsa_err_prefix(err, "'%s'", o->model);
        goto done;
    }
    if (cfg.in_channels != 3 || cfg.height != cfg.width) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': a model of %lld channels at %lldx%lld; "
                       "activation images are 3 x size x size", o->model,
                       (long long)cfg.in_channels, (long long)cfg.height, (long long)cfg.width);
        goto done;
    }
    if (!lrsa_meta_get(&meta, "height"))
        lrsa_warn(ctx, "'%s' has no metadata: assuming %lldx%lld images", o->model,
                  (long long)cfg.height, (long long)cfg.width);
    int64_t S = cfg.height;
    /* what the images are, against what the model was trained on */
    {
        int64_t nw, nh;
        char buf[32];
        if (!(rgb = lrsa_malloc((size_t)(S * S * 3), "image", err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if ((rc = lrsa_train_read_rgb(set->paths[0], S, rgb, &nw, &nh, err)))
            goto done;
        for (int i = 0; o->expect && i < o->expect->n; i++)
            if ((rc = lrsa_meta_set(&expect, o->expect->key[i], o->expect->value[i], err)))
                goto done;
        snprintf(buf, sizeof buf, "%lld", (long long)nw);
        if ((rc = lrsa_meta_set(&expect, "image_width", buf, err)))
            goto done;
        snprintf(buf, sizeof buf, "%lld", (long long)nh);
        if ((rc = lrsa_meta_set(&expect, "image_height", buf, err)))
            goto done;
        if ((rc = lrsa_embed_fmri_check_meta(&meta, &expect, o->model, o->force, ctx, err)))
            goto done;
    }
    if ((rc = lrsa_ae_new(&cfg, &ae, err)) ||
        (rc = lrsa_train_load_params(o->model, ae, NULL, err)))
        goto done;
    int threads = lrsa_threads(ctx);
    size_t budget = o->memory_budget ? o->memory_budget : lrsa_ae_default_memory_budget();
    int64_t mb = lrsa_ae_micro_batch(&cfg, budget, threads);
    if (mb > 64)
        mb = 64;
    if (mb > set->n)
        mb = set->n;
    if (mb < 1) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "not even one %lldx%lld image fits in the memory budget",
                       (long long)S, (long long)S);
        goto done;
    }
    if ((rc = lrsa_ae_alloc(ae, mb, threads, err)))
        goto done;
    int64_t lshape[3];
    lrsa_ae_latent_shape(&cfg, lshape);
    int64_t ldim = lrsa_ae_latent_dim(&cfg), hw = lshape[1] * lshape[2];
    int64_t dim = o->pool == LRSA_POOL_MEAN ? lshape[0] : ldim;
    int64_t idim = lrsa_ae_image_dim(&cfg);
    x = lrsa_malloc((size_t)(mb * idim) * sizeof *x, "image batch", err);
    z = lrsa_malloc((size_t)(mb * ldim) * sizeof *z, "latents", err);
    row = lrsa_malloc((size_t)dim * sizeof *row, "row", err);
    idx = lrsa_malloc((size_t)mb * sizeof *idx, "image batch", err);
    if (!x || !z || !row || !idx) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int64_t shape[2] = { set->n, dim };
    if ((rc = lrsa_npy_format_header(LRSA_NPY_F32, 0, 2, shape, &hdr, &hdr_len, err)) ||
        (rc = lrsa_outfile_open(&of, o->output, err)))
        goto done;
    if (fwrite(hdr, 1, hdr_len, of.fp) != hdr_len) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", o->output);
        goto done;
    }
    for (int64_t a = 0; a < set->n; a += mb) {
        int64_t n = set->n - a < mb ? set->n - a : mb;
        for (int64_t i = 0; i < n; i++)
            idx[i] = a + i;
        if ((rc = lrsa_imageset_load(set, idx, n, S, x, threads, err)) ||
            (rc = lrsa_ae_encode(ae, x, n, z, ctx, err)))
            goto done;
        for (int64_t i = 0; i < n; i++) {
            const float *zi = z + i * ldim;
            const float *out = zi;
            if (o->pool == LRSA_POOL_MEAN) {
                for (int64_t c = 0; c < lshape[0]; c++) {
                    double s = 0;
                    for (int64_t p = 0; p < hw; p++)
                        s += zi[c * hw + p];
                    row[c] = (float)(s / (double)hw);
                }
                out = row;
            }
            if (fwrite(out, sizeof *out, (size_t)dim, of.fp) != (size_t)dim) {
                rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s'", o->output);
                goto done;
            }
        }
        lrsa_progress(ctx, "embed", a + n, set->n);
    }
    if ((rc = lrsa_labels_path(o->output, &labels_path, err)) ||
        (rc = lrsa_outfile_commit(&of, err)))
        goto done;
    if ((rc = lrsa_labels_write(labels_path, set->labels, err))) {
        remove(o->output);   /* no matrix without its sidecar */
        goto done;
    }
    if (rows_out)
        *rows_out = set->n;
    if (dim_out)
        *dim_out = dim;
done:
    lrsa_outfile_abort(&of);
    lrsa_ae_free(ae);
    lrsa_meta_release(&meta);
    lrsa_meta_release(&expect);
    free(x);
    free(z);
    free(row);
    free(idx);
    free(hdr);
    free(labels_path);
    free(rgb);
    return rc;
}
