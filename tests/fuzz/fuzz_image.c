/* Fuzz target: the JPEG/PNG decoder (format sniffed from the bytes) on arbitrary input. */
#include "latentrsa/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsa_image img = { 0 };
    if (lrsa_image_decode(data, size, "fuzz.img", &img, NULL) == LRSA_OK)
        lrsa_image_release(&img);
    return 0;
}
