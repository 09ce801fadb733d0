/* Fuzz target: the .npy header parser, then decoding the data it accepts (both orders, every
 * dtype) into float32 and float64. */
#include "latentrsa/npy.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsa_npy_header h;
    if (lrsa_npy_parse_header(data, size, -1, "fuzz.npy", &h, NULL) != LRSA_OK)
        return 0;
    /* Accepted headers promise data_offset + data_bytes == size: decoding stays inside. */
    if (h.data_offset + h.data_bytes != size)
        abort();
    if (h.numel > (1 << 20))
        return 0;
    float *f = malloc((size_t)(h.numel + 1) * sizeof *f);
    double *d = malloc((size_t)(h.numel + 1) * sizeof *d);
    if (f && d) {
        lrsa_npy_decode_f32(&h, data + h.data_offset, f);
        lrsa_npy_decode_f64(&h, data + h.data_offset, d);
    }
    free(f);
    free(d);
    return 0;
}
