/* Checks on a report.html, independent of the report's own code: a base64 decoder (RFC 4648,
 * strict: only the alphabet, padding at the end) and a walk over every embedded
 * data:image/png;base64 image, each decoded with the project's PNG decoder (image.h).
 * Shared by tests/unit/test_report.c and tests/tools/report_tool.c. */
#ifndef LRSA_REPORT_CHECK_H
#define LRSA_REPORT_CHECK_H

#include "latentrsa/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode n base64 characters (n a multiple of 4) into a new buffer; NULL if malformed. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n == 0 || n % 4)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(c)) < 0) {
                free(out);
                return NULL;
            }
        }
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 | (unsigned long)v[2] << 6 | v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    *out_len = o;
    return out;
}

#define REPORT_PNG_PREFIX "data:image/png;base64,"

/* Decode every embedded PNG of `html`. Returns the number that decoded to an image with nonzero
 * size; *bad counts the ones that did not (printed on stderr with their index). */
static int report_check_images(const char *html, int *bad)
{
    int good = 0;
    *bad = 0;
    for (const char *p = strstr(html, REPORT_PNG_PREFIX); p; p = strstr(p, REPORT_PNG_PREFIX)) {
        p += strlen(REPORT_PNG_PREFIX);
        size_t n = strcspn(p, "\"'");
        size_t len = 0;
        unsigned char *png = b64_decode(p, n, &len);
        lrsa_image img = { 0 };
        lrsa_err err;
        lrsa_err_init(&err);
        if (png && lrsa_image_decode(png, len, "embedded", &img, &err) == 0 && img.width > 0 &&
            img.height > 0) {
            good++;
        } else {
            fprintf(stderr, "embedded image %d does not decode (%zu base64 chars): %s\n", good + *bad,
                    n, png ? err.msg : "bad base64");
            (*bad)++;
        }
        lrsa_image_release(&img);
        free(png);
        p += n;
    }
    return good;
}

#endif
