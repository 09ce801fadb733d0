/* ViT models: configurations (presets, config.json), loading a Hugging Face directory, seeded
 * random initialisation as transformers does it, and saving. The forward pass is vit_forward.c. */
#include "vit_impl.h"

#include "latentrsa/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== configurations ========================================================================== */

static void config_defaults(lrsa_vit_config *cfg)
{
    cfg->image_size = 224;
    cfg->patch_size = 16;
    cfg->num_channels = 3;
    cfg->hidden_size = 768;
    cfg->num_hidden_layers = 12;
    cfg->num_attention_heads = 12;
    cfg->intermediate_size = 3072;
    cfg->layer_norm_eps = 1e-12;
    cfg->qkv_bias = 1;
}

int lrsa_vit_config_preset(const char *name, lrsa_vit_config *cfg, lrsa_err *err)
{
    config_defaults(cfg);
    if (name && strcmp(name, "base") == 0)
        return LRSA_OK;
    if (name && strcmp(name, "tiny") == 0) {
        cfg->hidden_size = 192;
        cfg->num_attention_heads = 3;
        cfg->intermediate_size = 768;
        return LRSA_OK;
    }
    return LRSA_FAIL(err, LRSA_ENOTFOUND, "unknown ViT preset '%s' (known: base, tiny)",
                     name ? name : "(null)");
}

int lrsa_vit_config_check(const lrsa_vit_config *cfg, lrsa_err *err)
{
    static const struct { const char *name; size_t off; int64_t max; } f[] = {
        { "image_size", offsetof(lrsa_vit_config, image_size), 8192 },
        { "patch_size", offsetof(lrsa_vit_config, patch_size), 8192 },
        { "num_channels", offsetof(lrsa_vit_config, num_channels), 64 },
        { "hidden_size", offsetof(lrsa_vit_config, hidden_size), 65536 },
        { "num_hidden_layers", offsetof(lrsa_vit_config, num_hidden_layers), 1024 },
        { "num_attention_heads", offsetof(lrsa_vit_config, num_attention_heads), 65536 },
        { "intermediate_size", offsetof(lrsa_vit_config, intermediate_size), 1 << 20 },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        int64_t v = *(const int64_t *)((const char *)cfg + f[i].off);
        if (v < 1 || v > f[i].max)
            return LRSA_FAIL(err, LRSA_EFORMAT, "ViT config: %s %lld is out of range [1, %lld]",
                             f[i].name, (long long)v, (long long)f[i].max);
    }
    if (cfg->image_size % cfg->patch_size)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "ViT config: image_size %lld is not a multiple of "
                         "patch_size %lld", (long long)cfg->image_size, (long long)cfg->patch_size);
    if (cfg->hidden_size % cfg->num_attention_heads)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "ViT config: hidden_size %lld is not a multiple of "
                         "num_attention_heads %lld", (long long)cfg->hidden_size,
                         (long long)cfg->num_attention_heads);
    int64_t g = cfg->image_size / cfg->patch_size;
    if (g * g > (1 << 20))
        return LRSA_FAIL(err, LRSA_EFORMAT, "ViT config: %lld patches are too many",
                         (long long)(g * g));
    if (!(cfg->layer_norm_eps >= 0.0) || !isfinite(cfg->layer_norm_eps))
        return LRSA_FAIL(err, LRSA_EFORMAT, "ViT config: layer_norm_eps %g is not a finite number "
                         ">= 0", cfg->layer_norm_eps);
    if (lrsa_vit_config_params(cfg) < 0 || lrsa_vit_config_params(cfg) > ((int64_t)1 << 34))
        return LRSA_FAIL(err, LRSA_EFORMAT, "ViT config: too many parameters");
    return LRSA_OK;
}

/* Parameter count without the range checks (double arithmetic guards against overflow). */
int64_t lrsa_vit_config_params(const lrsa_vit_config *c)
{
    if (c->patch_size < 1 || c->image_size < 1 || c->hidden_size < 1 || c->intermediate_size < 1 ||
        c->num_channels < 1 || c->num_hidden_layers < 1)
        return -1;
    double g = (double)(c->image_size / c->patch_size), C = (double)c->hidden_size;
    double I = (double)c->intermediate_size, L = (double)c->num_hidden_layers;
    double K = (double)c->num_channels * (double)c->patch_size * (double)c->patch_size;
    double n = C * K + C + C + (1 + g * g) * C;                 /* patch w, b, cls, pos */
    n += L * (4 * C + 4 * C * C + 4 * C + 2 * C * I + I + C);  /* lns, qkv+o, biases, mlp */
    n += 2 * C + C * C + C;                                    /* final ln, pooler */
    return n > 9e15 ? -1 : (int64_t)n;
}

/* cfg field from a JSON integer (or [n, n] for the two sizes) */
static int json_int_field(const cJSON *root, const char *key, int pair_ok, int64_t *out,
                          const char *path, lrsa_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j))
        return LRSA_OK;
    if (pair_ok && cJSON_IsArray(j)) {
        const cJSON *a = cJSON_GetArrayItem(j, 0), *b = cJSON_GetArrayItem(j, 1);
        if (cJSON_GetArraySize(j) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': %s is not an integer or a pair", path, key);
        if (a->valuedouble != b->valuedouble)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': %s [%g, %g] is not square (not "
                             "supported)", path, key, a->valuedouble, b->valuedouble);
        j = a;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) ||
        fabs(j->valuedouble) > 1e15)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': %s is not an integer", path, key);
    *out = (int64_t)j->valuedouble;
    return LRSA_OK;
}

static int json_str_field(const cJSON *root, const char *key, const char *want, const char *path,
                          lrsa_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j))
        return LRSA_OK;
    if (!cJSON_IsString(j))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': %s is not a string", path, key);
    if (strcmp(j->valuestring, want) != 0)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': %s '%s' is not supported (only '%s')", path,
                         key, j->valuestring, want);
    return LRSA_OK;
}

int lrsa_vit_config_read(const char *path, lrsa_vit_config *cfg, lrsa_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    int rc = lrsa_read_file(path, 16u << 20, &text, &len, err);
    if (rc)
        goto done;
    config_defaults(cfg);
    root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a JSON object", path);
        goto done;
    }
    if ((rc = json_str_field(root, "model_type", "vit", path, err)) ||
        (rc = json_str_field(root, "hidden_act", "gelu", path, err)) ||
        (rc = json_str_field(root, "pooler_act", "tanh", path, err)) ||
        (rc = json_int_field(root, "image_size", 1, &cfg->image_size, path, err)) ||
        (rc = json_int_field(root, "patch_size", 1, &cfg->patch_size, path, err)) ||
        (rc = json_int_field(root, "num_channels", 0, &cfg->num_channels, path, err)) ||
        (rc = json_int_field(root, "hidden_size", 0, &cfg->hidden_size, path, err)) ||
        (rc = json_int_field(root, "num_hidden_layers", 0, &cfg->num_hidden_layers, path, err)) ||
        (rc = json_int_field(root, "num_attention_heads", 0, &cfg->num_attention_heads, path, err)) ||
        (rc = json_int_field(root, "intermediate_size", 0, &cfg->intermediate_size, path, err)))
        goto done;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsNumber(j)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': layer_norm_eps is not a number", path);
            goto done;
        }
        cfg->layer_norm_eps = j->valuedouble;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "qkv_bias");
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsBool(j)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': qkv_bias is not true or false", path);
            goto done;
        }
        cfg->qkv_bias = cJSON_IsTrue(j);
    }
    int64_t pooler = cfg->hidden_size;
    if ((rc = json_int_field(root, "pooler_output_size", 0, &pooler, path, err)))
        goto done;
    if (pooler != cfg->hidden_size) {
        rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': pooler_output_size %lld other than "
                       "hidden_size %lld is not supported", path, (long long)pooler,
                       (long long)cfg->hidden_size);
        goto done;
    }
    if ((rc = lrsa_vit_config_check(cfg, err)))
        lrsa_err_prefix(err, "'%s'", path);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* ===== the parameter block ===================================================================== */

int lrsa__vit_alloc(const lrsa_vit_config *cfg, int with_pooler, lrsa_vit **out, lrsa_err *err)
{
    *out = NULL;
    int rc = lrsa_vit_config_check(cfg, err);
    if (rc)
        return rc;
    lrsa_vit *v = lrsa_calloc(1, sizeof *v, "vit model", err);
    if (!v)
        return LRSA_ENOMEM;
    v->cfg = *cfg;
    int64_t g = cfg->image_size / cfg->patch_size;
    v->P = g * g;
    v->T = 1 + v->P;
    v->C = cfg->hidden_size;
    v->H = cfg->num_attention_heads;
    v->D = v->C / v->H;
    v->F = cfg->intermediate_size;
    v->K = cfg->num_channels * cfg->patch_size * cfg->patch_size;
    v->L = cfg->num_hidden_layers;
    v->has_pooler = with_pooler;
    v->nparams = (size_t)lrsa_vit_config_params(cfg);
    v->layers = lrsa_calloc((size_t)v->L, sizeof *v->layers, "vit layers", err);
    v->params = v->layers ? lrsa_calloc(v->nparams, sizeof(float), "vit weights", err) : NULL;
    if (!v->params) {
        lrsa_vit_free(v);
        return LRSA_ENOMEM;
    }
    size_t C = (size_t)v->C, FF = (size_t)v->F;
    float *p = v->params;
#define TAKE(field, n) do { (field) = p; p += (n); } while (0)
    TAKE(v->patch_w, C * (size_t)v->K);
    TAKE(v->patch_b, C);
    TAKE(v->cls, C);
    TAKE(v->pos, (size_t)v->T * C);
    for (int64_t l = 0; l < v->L; l++) {
        vit_layer *ly = &v->layers[l];
        TAKE(ly->ln1_w, C);
        TAKE(ly->ln1_b, C);
        TAKE(ly->qkv_w, 3 * C * C);
        TAKE(ly->qkv_b, 3 * C);
        TAKE(ly->o_w, C * C);
        TAKE(ly->o_b, C);
        TAKE(ly->ln2_w, C);
        TAKE(ly->ln2_b, C);
        TAKE(ly->fc1_w, FF * C);
        TAKE(ly->fc1_b, FF);
        TAKE(ly->fc2_w, C * FF);
        TAKE(ly->fc2_b, C);
    }
    TAKE(v->lnf_w, C);
    TAKE(v->lnf_b, C);
    TAKE(v->pool_w, C * C);
    TAKE(v->pool_b, C);
#undef TAKE
    *out = v;
    return LRSA_OK;
}

void lrsa_vit_free(lrsa_vit *vit)
{
    if (!vit)
        return;
    free(vit->params);
    free(vit->layers);
    free(vit->scratch);
    free(vit);
}

const lrsa_vit_config *lrsa_vit_get_config(const lrsa_vit *vit)
{
    return &vit->cfg;
}

int lrsa_vit_has_pooler(const lrsa_vit *vit)
{
    return vit->has_pooler;
}

/* ===== the tensor list (Hugging Face names, HF module order) =================================== */

enum { INIT_NORMAL, INIT_ZERO, INIT_ONE };

typedef struct vit_tensor {
    char name[96];
    int ndim;
    int64_t shape[4];
    float *data;
    int init;
} vit_tensor;

static void add(vit_tensor *t, int *n, int init, float *data, int ndim, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3, const char *fmt, long long layer)
{
    vit_tensor *e = &t[(*n)++];
    snprintf(e->name, sizeof e->name, fmt, layer);
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->shape[2] = d2;
    e->shape[3] = d3;
    e->data = data;
    e->init = init;
}

/* Fill t (room for 8 + 16 L entries) with the model's tensors; returns the count. */
static int tensor_list(const lrsa_vit *v, vit_tensor *t)
{
    int n = 0;
    int64_t C = v->C, FF = v->F, ch = v->cfg.num_channels, p = v->cfg.patch_size;
    add(t, &n, INIT_NORMAL, v->cls, 3, 1, 1, C, 0, "embeddings.cls_token", 0);
    add(t, &n, INIT_NORMAL, v->pos, 3, 1, v->T, C, 0, "embeddings.position_embeddings", 0);
    add(t, &n, INIT_NORMAL, v->patch_w, 4, C, ch, p, p, "embeddings.patch_embeddings.projection.weight", 0);
    add(t, &n, INIT_ZERO, v->patch_b, 1, C, 0, 0, 0, "embeddings.patch_embeddings.projection.bias", 0);
    static const char *const qkv[3] = { "query", "key", "value" };
    for (int64_t l = 0; l < v->L; l++) {
        const vit_layer *ly = &v->layers[l];
        char fmt[96];
        for (int k = 0; k < 3; k++) {
            snprintf(fmt, sizeof fmt, "encoder.layer.%%lld.attention.attention.%s.weight", qkv[k]);
            add(t, &n, INIT_NORMAL, ly->qkv_w + (size_t)k * (size_t)(C * C), 2, C, C, 0, 0, fmt, l);
            if (v->cfg.qkv_bias) {
                snprintf(fmt, sizeof fmt, "encoder.layer.%%lld.attention.attention.%s.bias", qkv[k]);
                add(t, &n, INIT_ZERO, ly->qkv_b + (size_t)k * (size_t)C, 1, C, 0, 0, 0, fmt, l);
            }
        }
        add(t, &n, INIT_NORMAL, ly->o_w, 2, C, C, 0, 0, "encoder.layer.%lld.attention.output.dense.weight", l);
        add(t, &n, INIT_ZERO, ly->o_b, 1, C, 0, 0, 0, "encoder.layer.%lld.attention.output.dense.bias", l);
        add(t, &n, INIT_NORMAL, ly->fc1_w, 2, FF, C, 0, 0, "encoder.layer.%lld.intermediate.dense.weight", l);
        add(t, &n, INIT_ZERO, ly->fc1_b, 1, FF, 0, 0, 0, "encoder.layer.%lld.intermediate.dense.bias", l);
        add(t, &n, INIT_NORMAL, ly->fc2_w, 2, C, FF, 0, 0, "encoder.layer.%lld.output.dense.weight", l);
        add(t, &n, INIT_ZERO, ly->fc2_b, 1, C, 0, 0, 0, "encoder.layer.%lld.output.dense.bias", l);
        add(t, &n, INIT_ONE, ly->ln1_w, 1, C, 0, 0, 0, "encoder.layer.%lld.layernorm_before.weight", l);
        add(t, &n, INIT_ZERO, ly->ln1_b, 1, C, 0, 0, 0, "encoder.layer.%lld.layernorm_before.bias", l);
        add(t, &n, INIT_ONE, ly->ln2_w, 1, C, 0, 0, 0, "encoder.layer.%lld.layernorm_after.weight", l);
        add(t, &n, INIT_ZERO, ly->ln2_b, 1, C, 0, 0, 0, "encoder.layer.%lld.layernorm_after.bias", l);
    }
    add(t, &n, INIT_ONE, v->lnf_w, 1, C, 0, 0, 0, "layernorm.weight", 0);
    add(t, &n, INIT_ZERO, v->lnf_b, 1, C, 0, 0, 0, "layernorm.bias", 0);
    if (v->has_pooler) {
        add(t, &n, INIT_NORMAL, v->pool_w, 2, C, C, 0, 0, "pooler.dense.weight", 0);
        add(t, &n, INIT_ZERO, v->pool_b, 1, C, 0, 0, 0, "pooler.dense.bias", 0);
    }
    return n;
}

static int64_t numel(const vit_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* ===== loading ================================================================================= */

int lrsa_vit_load(const char *dir, lrsa_vit **out, lrsa_err *err)
{
    char *cfg_path = NULL, *st_path = NULL;
    lrsa_safetensors *st = NULL;
    lrsa_vit *v = NULL;
    vit_tensor *list = NULL;
    lrsa_vit_config cfg;
    int rc;
    *out = NULL;
    cfg_path = lrsa_path_join(dir, "config.json", err);
    st_path = cfg_path ? lrsa_path_join(dir, "model.safetensors", err) : NULL;
    if (!st_path) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (!lrsa_is_dir(dir)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no such model directory", dir);
        goto done;
    }
    if (!lrsa_is_file(cfg_path)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no such file", cfg_path);
        goto done;
    }
    if (!lrsa_is_file(st_path)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no such file (only model.safetensors "
                       "checkpoints are read)", st_path);
        goto done;
    }
    if ((rc = lrsa_vit_config_read(cfg_path, &cfg, err)) || (rc = lrsa_st_open(st_path, &st, err)))
        goto done;
    const char *prefix = lrsa_st_find(st, "vit.embeddings.cls_token") ? "vit." : "";
    char name[128];
    snprintf(name, sizeof name, "%spooler.dense.weight", prefix);
    int pooler = lrsa_st_find(st, name) != NULL;
    if ((rc = lrsa__vit_alloc(&cfg, pooler, &v, err)))
        goto done;
    list = lrsa_calloc(8 + 16 * (size_t)v->L, sizeof *list, "vit tensor list", err);
    if (!list) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int n = tensor_list(v, list);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, list[i].name);
        if ((rc = lrsa_st_read_into_f32(st, name, list[i].ndim, list[i].shape, list[i].data, err)))
            goto done;
    }
    *out = v;
    v = NULL;
done:
    free(list);
    lrsa_vit_free(v);
    lrsa_st_close(st);
    free(cfg_path);
    free(st_path);
    return rc;
}

/* ===== random initialisation =================================================================== */

int lrsa_vit_new_random(const lrsa_vit_config *cfg, uint64_t seed, lrsa_vit **out, lrsa_err *err)
{
    lrsa_vit *v = NULL;
    int rc = lrsa__vit_alloc(cfg, 1, &v, err);
    if (rc)
        return rc;
    vit_tensor *list = lrsa_calloc(8 + 16 * (size_t)v->L, sizeof *list, "vit tensor list", err);
    if (!list) {
        lrsa_vit_free(v);
        return LRSA_ENOMEM;
    }
    int n = tensor_list(v, list);
    lrsa_rng rng;
    lrsa_rng_seed(&rng, seed);
    const double sd = 0.02; /* ViTConfig.initializer_range */
    for (int i = 0; i < n; i++) {
        int64_t m = numel(&list[i]);
        float *d = list[i].data;
        if (list[i].init == INIT_ONE)
            for (int64_t k = 0; k < m; k++)
                d[k] = 1.0f;
        else if (list[i].init == INIT_NORMAL)
            for (int64_t k = 0; k < m; k++) {
                double x;
                do /* torch.nn.init.trunc_normal_(mean 0, std sd, a -2, b 2) */
                    x = sd * lrsa_rng_normal(&rng);
                while (x < -2.0 || x > 2.0);
                d[k] = (float)x;
            }
        /* INIT_ZERO: the block is zeroed */
    }
    free(list);
    *out = v;
    return LRSA_OK;
}

/* ===== saving ================================================================================== */

/* The shortest %g that reads back as the same double. */
static void shortest_double(char *buf, size_t cap, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static int write_config(const lrsa_vit *v, const char *path, lrsa_err *err)
{
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    int rc = lrsa_outfile_open(&of, path, err);
    if (rc)
        return rc;
    const lrsa_vit_config *c = &v->cfg;
    char eps[40];
    shortest_double(eps, sizeof eps, c->layer_norm_eps);
    fprintf(of.fp,
            "{\n"
            "  \"architectures\": [\n    \"ViTModel\"\n  ],\n"
            "  \"attention_probs_dropout_prob\": 0.0,\n"
            "  \"encoder_stride\": %lld,\n"
            "  \"hidden_act\": \"gelu\",\n"
            "  \"hidden_dropout_prob\": 0.0,\n"
            "  \"hidden_size\": %lld,\n"
            "  \"image_size\": %lld,\n"
            "  \"initializer_range\": 0.02,\n"
            "  \"intermediate_size\": %lld,\n"
            "  \"layer_norm_eps\": %s,\n"
            "  \"model_type\": \"vit\",\n"
            "  \"num_attention_heads\": %lld,\n"
            "  \"num_channels\": %lld,\n"
            "  \"num_hidden_layers\": %lld,\n"
            "  \"patch_size\": %lld,\n"
            "  \"qkv_bias\": %s,\n"
            "  \"torch_dtype\": \"float32\"\n"
            "}\n",
            (long long)c->patch_size, (long long)c->hidden_size, (long long)c->image_size,
            (long long)c->intermediate_size, eps, (long long)c->num_attention_heads,
            (long long)c->num_channels, (long long)c->num_hidden_layers, (long long)c->patch_size,
            c->qkv_bias ? "true" : "false");
    return lrsa_outfile_commit(&of, err);
}

int lrsa_vit_save(const lrsa_vit *v, const char *dir, lrsa_err *err)
{
    char *cfg_path = NULL, *st_path = NULL;
    vit_tensor *list = NULL;
    lrsa_st_entry *ent = NULL;
    int rc;
    if ((rc = lrsa_mkdir_p(dir, err)))
        goto done;
    cfg_path = lrsa_path_join(dir, "config.json", err);
    st_path = cfg_path ? lrsa_path_join(dir, "model.safetensors", err) : NULL;
    list = lrsa_calloc(8 + 16 * (size_t)v->L, sizeof *list, "vit tensor list", err);
    ent = list ? lrsa_calloc(8 + 16 * (size_t)v->L, sizeof *ent, "vit tensor list", err) : NULL;
    if (!st_path || !ent) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int n = tensor_list(v, list);
    for (int i = 0; i < n; i++) {
        ent[i].name = list[i].name;
        ent[i].ndim = list[i].ndim;
        ent[i].shape = list[i].shape;
        ent[i].data = list[i].data;
    }
    static const char *const meta[2] = { "format", "pt" };
    if ((rc = lrsa_st_write_f32(st_path, ent, n, meta, 1, err)))
        goto done;
    rc = write_config(v, cfg_path, err);
done:
    free(ent);
    free(list);
    free(cfg_path);
    free(st_path);
    return rc;
}

int lrsa_vit_init_random(const lrsa_vit_config *cfg, uint64_t seed, const char *dir, lrsa_err *err)
{
    lrsa_vit *v = NULL;
    int rc = lrsa_vit_new_random(cfg, seed, &v, err);
    if (!rc)
        rc = lrsa_vit_save(v, dir, err);
    lrsa_vit_free(v);
    /* A marker that travels with the folder, so that whoever embeds with these weights (e.g.
     * `latentrsa run`) can say loudly that they are random. */
    char *marker = rc ? NULL : lrsa_path_join(dir, "random_init.json", err);
    lrsa_outfile of;
    if (marker && !(rc = lrsa_outfile_open(&of, marker, err))) {
        fprintf(of.fp, "{\"generator\": \"latentrsa vit-init\", \"seed\": %llu, \"note\": \"random weights "
                "(transformers' initialisation), not a trained model\"}\n", (unsigned long long)seed);
        rc = lrsa_outfile_commit(&of, err);
    } else if (!rc) {
        rc = LRSA_ENOMEM;
    }
    free(marker);
    return rc;
}
