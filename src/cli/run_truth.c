/* The planted truth RDM of a `latentrsa synth` dataset, on the stimuli of a study's RDM (run.h). */
#include "run.h"
#include "latentrsa/labels.h"
#include "latentrsa/npy.h"

#include <stdlib.h>
#include <string.h>

int run_truth_rdm(const char *truth_json, const char *like, const char *out, lrsa_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    lrsa_labels *labels = NULL;
    lrsa_npy_mapping *map = NULL;
    int64_t *index = NULL;
    float *rdm = NULL;
    char *out_labels = NULL;
    int rc;
    if ((rc = lrsa_read_file(truth_json, (size_t)1 << 30, &text, &len, err)))
        goto done;
    root = cJSON_ParseWithLength(text, len);
    cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    cJSON *matrix = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "rdm"), "matrix");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(matrix) || cJSON_GetArraySize(images) != cJSON_GetArraySize(matrix)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': not a latentrsa synth truth file (no images and rdm.matrix)",
                       truth_json);
        goto done;
    }
    if ((rc = lrsa_npy_map(like, &map, err)))
        goto done;
    int64_t n = map->hdr.shape[0];
    if ((rc = lrsa_labels_read_for(like, n, &labels, err)))
        goto done;
    int nimages = cJSON_GetArraySize(images);
    index = lrsa_calloc((size_t)n, sizeof *index, "truth index", err);
    rdm = index ? lrsa_calloc((size_t)(n * n), sizeof *rdm, "truth rdm", err) : NULL;
    if (!rdm) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *stim = lrsa_labels_get(labels, i, LRSA_LBL_STIMULUS);
        index[i] = -1;
        for (int k = 0; k < nimages; k++) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(images, k), "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, stim) == 0) {
                index[i] = k;
                break;
            }
        }
        if (index[i] < 0) {
            rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': stimulus '%s' of '%s' is not one of its images",
                           truth_json, stim, like);
            goto done;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        const cJSON *row = cJSON_GetArrayItem(matrix, (int)index[i]);
        for (int64_t j = 0; j < n; j++) {
            const cJSON *v = cJSON_GetArrayItem(row, (int)index[j]);
            if (!cJSON_IsNumber(v)) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': rdm.matrix is not a square matrix of numbers", truth_json);
                goto done;
            }
            rdm[i * n + j] = (float)v->valuedouble;
        }
    }
    int64_t shape[2] = { n, n };
    if ((rc = lrsa_labels_path(out, &out_labels, err)) || (rc = lrsa_npy_write_f32(out, 2, shape, rdm, err)))
        goto done;
    if ((rc = lrsa_labels_write(out_labels, labels, err)))
        remove(out);
done:
    free(text);
    cJSON_Delete(root);
    lrsa_labels_free(labels);
    lrsa_npy_unmap(map);
    free(index);
    free(rdm);
    free(out_labels);
    return rc;
}
