/* Fuzz target: the TSV parser on arbitrary bytes. */
#include "latentrsa/tsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsa_tsv *t = NULL;
    if (lrsa_tsv_parse((const char *)data, size, "fuzz.tsv", &t, NULL) == LRSA_OK) {
        for (int64_t r = 0; r < t->nrows; r++)
            for (int c = 0; c < t->ncols; c++) {
                double v;
                lrsa_parse_double(lrsa_tsv_cell(t, r, c), &v);
            }
        lrsa_tsv_free(t);
    }
    return 0;
}
