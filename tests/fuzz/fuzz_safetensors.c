/* Fuzz target: the safetensors validator on arbitrary bytes, then every accepted tensor converted
 * to float32 and looked up by name and metadata key. */
#include "latentrsa/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsa_safetensors *st = NULL;
    if (lrsa_st_parse(data, size, "fuzz.safetensors", &st, NULL) != LRSA_OK)
        return 0;
    for (int i = 0; i < st->ntensors; i++) {
        const lrsa_st_tensor *t = &st->tensors[i];
        /* Accepted tensors lie inside the data area. */
        if (t->begin > t->end || t->end > st->data_len || lrsa_st_find(st, t->name) == NULL)
            abort();
        lrsa_tensor *f = NULL;
        if (t->numel <= (1 << 20) && lrsa_st_get_f32(st, t->name, &f, NULL) == LRSA_OK)
            lrsa_tensor_free(f);
    }
    for (int i = 0; i < st->nmeta; i++)
        if (lrsa_st_meta(st, st->meta_keys[i]) == NULL)
            abort();
    lrsa_st_close(st);
    return 0;
}
