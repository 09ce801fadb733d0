/* transformers' ViTImageProcessor (4.x, slow PIL path) in C: resize, rescale, normalise.
 *
 * Sources (transformers 4.44.2): models/vit/image_processing_vit.py (preprocess: resize ->
 * rescale -> normalize, no crop), image_transforms.py (resize goes through PIL with
 * reducing_gap None on uint8; rescale is `image * scale` on a uint8 array, so numpy computes it
 * in float64 before `.astype(float32)`; normalize builds mean and std as float32 and computes
 * `(image - mean) / std` in float32). See /work/shared/specs/vit.md section 1. */
#include "latentrsa/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define PREPROC_MAX_JSON ((size_t)1 << 20)

void lrsa_vit_preproc_init(lrsa_vit_preproc *p, int64_t image_size)
{
    memset(p, 0, sizeof *p);
    p->height = p->width = image_size;
    p->do_rescale = 1;
    p->rescale_factor = 1.0 / 255.0;
    p->do_normalize = 1;
    for (int c = 0; c < 3; c++) {
        p->mean[c] = 0.5f;
        p->std[c] = 0.5f;
    }
}

int64_t lrsa_vit_preproc_numel(const lrsa_vit_preproc *p)
{
    return 3 * p->height * p->width;
}

/* ===== preprocessor_config.json ======================================== */
static int json_bool(const cJSON *root, const char *key, int *out, const char *path, lrsa_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return LRSA_OK;
    if (!cJSON_IsBool(v))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"%s\" is not true or false", path, key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return LRSA_OK;
}

static int json_size(const cJSON *v, const char *key, int64_t *out, const char *path,
                     lrsa_err *err)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > LRSA_RESIZE_MAX_DIM)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"%s\" is not a size in 1..%d", path, key,
                         LRSA_RESIZE_MAX_DIM);
    *out = (int64_t)v->valuedouble;
    return LRSA_OK;
}

/* image_mean / image_std: one number or three. Converted to float as numpy does
 * (np.array(mean, dtype=float32)). */
static int json_triple(const cJSON *root, const char *key, float out[3], const char *path,
                       lrsa_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return LRSA_OK;
    if (cJSON_IsNumber(v)) {
        out[0] = out[1] = out[2] = (float)v->valuedouble;
        return LRSA_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"%s\" is not a number or a list of 3", path,
                         key);
    for (int c = 0; c < 3; c++) {
        const cJSON *e = cJSON_GetArrayItem(v, c);
        if (!cJSON_IsNumber(e))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"%s\" holds a non-number", path, key);
        out[c] = (float)e->valuedouble;
    }
    return LRSA_OK;
}

static int parse_config(const cJSON *root, const char *path, lrsa_vit_preproc *p, lrsa_err *err)
{
    int rc, flag;
    if (!cJSON_IsObject(root))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a JSON object", path);
    const char *type_keys[2] = { "image_processor_type", "feature_extractor_type" };
    for (int i = 0; i < 2; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, type_keys[i]);
        if (t && cJSON_IsString(t) && strcmp(t->valuestring, "ViTImageProcessor") != 0 &&
            strcmp(t->valuestring, "ViTFeatureExtractor") != 0)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                             "'%s': %s \"%s\" is not supported (only ViTImageProcessor)", path,
                             type_keys[i], t->valuestring);
    }
    flag = 1;
    if ((rc = json_bool(root, "do_resize", &flag, path, err)))
        return rc;
    if (!flag)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': \"do_resize\": false is not supported",
                         path);
    flag = 0;
    if ((rc = json_bool(root, "do_center_crop", &flag, path, err)))
        return rc;
    if (flag)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': \"do_center_crop\" is not supported", path);
    const cJSON *resample = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (resample && !cJSON_IsNull(resample) &&
        (!cJSON_IsNumber(resample) || resample->valuedouble != 2.0))
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                         "'%s': \"resample\" other than 2 (PIL BILINEAR) is not supported", path);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    if (size && cJSON_IsNumber(size)) {
        if ((rc = json_size(size, "size", &p->height, path, err)))
            return rc;
        p->width = p->height;
    } else if (size && cJSON_IsObject(size)) {
        const cJSON *hh = cJSON_GetObjectItemCaseSensitive(size, "height");
        const cJSON *ww = cJSON_GetObjectItemCaseSensitive(size, "width");
        if (!hh || !ww)
            return LRSA_FAIL(err, LRSA_EUNSUPPORTED,
                             "'%s': \"size\" without height and width (e.g. shortest_edge) is "
                             "not supported", path);
        if ((rc = json_size(hh, "size.height", &p->height, path, err)) ||
            (rc = json_size(ww, "size.width", &p->width, path, err)))
            return rc;
    } else if (size && !cJSON_IsNull(size)) {
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"size\" is neither a number nor an object",
                         path);
    }
    if ((rc = json_bool(root, "do_rescale", &p->do_rescale, path, err)) ||
        (rc = json_bool(root, "do_normalize", &p->do_normalize, path, err)))
        return rc;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (rf && !cJSON_IsNull(rf)) {
        if (!cJSON_IsNumber(rf) || !isfinite(rf->valuedouble))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"rescale_factor\" is not a number", path);
        p->rescale_factor = rf->valuedouble;
    }
    if ((rc = json_triple(root, "image_mean", p->mean, path, err)) ||
        (rc = json_triple(root, "image_std", p->std, path, err)))
        return rc;
    for (int c = 0; c < 3; c++)
        if (p->do_normalize && (p->std[c] == 0.0f || !isfinite(p->std[c]) || !isfinite(p->mean[c])))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': \"image_std\" is zero or not finite", path);
    return LRSA_OK;
}

int lrsa_vit_preproc_read(const char *dir, int64_t image_size, lrsa_vit_preproc *p,
                          lrsa_err *err)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    int rc = LRSA_OK;
    lrsa_vit_preproc_init(p, image_size);
    if (!dir)
        return LRSA_FAIL(err, LRSA_EMISUSE, "no model directory");
    if (!(path = lrsa_path_join(dir, "preprocessor_config.json", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (!lrsa_is_file(path))
        goto done;                                     /* the class defaults apply */
    if ((rc = lrsa_read_file(path, PREPROC_MAX_JSON, &text, &len, err)))
        goto done;
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not valid JSON", path);
        goto done;
    }
    rc = parse_config(root, path, p, err);
done:
    if (rc)
        lrsa_vit_preproc_init(p, image_size);
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

/* ===== The pixels ======================================================= */
int lrsa_vit_preprocess(const lrsa_vit_preproc *p, const uint8_t *rgb, int64_t w, int64_t h,
                        uint8_t *resized, float *dst, lrsa_err *err)
{
    uint8_t *own = NULL;
    int rc = LRSA_OK;
    if (!p || !rgb || !dst)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit preprocessing: NULL argument");
    if (p->height < 1 || p->width < 1 || p->height > LRSA_RESIZE_MAX_DIM ||
        p->width > LRSA_RESIZE_MAX_DIM)
        return LRSA_FAIL(err, LRSA_EMISUSE, "vit preprocessing: bad size %lldx%lld",
                         (long long)p->width, (long long)p->height);
    size_t n = (size_t)(p->height * p->width);
    if (!resized) {
        if (!(own = lrsa_malloc(3 * n, "resized image", err)))
            return LRSA_ENOMEM;
        resized = own;
    }
    if ((rc = lrsa_resize_bilinear_rgb8(rgb, w, h, resized, p->width, p->height, err)))
        goto done;
    if (p->bgr) {
        for (size_t i = 0; i < n; i++) {
            uint8_t t = resized[3 * i];
            resized[3 * i] = resized[3 * i + 2];
            resized[3 * i + 2] = t;
        }
    }
    static const float zero[3] = { 0.0f, 0.0f, 0.0f }, one[3] = { 1.0f, 1.0f, 1.0f };
    /* Without rescale, normalize casts uint8 to float32: the same as a rescale by 1.0. */
    rc = lrsa_rgb8_to_chw_f32(resized, p->width, p->height, p->do_rescale ? p->rescale_factor : 1.0,
                              p->do_normalize ? p->mean : zero, p->do_normalize ? p->std : one,
                              dst, err);
done:
    free(own);
    return rc;
}
