/* report_tool: the helper tests/cli/t7100-report.sh needs (no Python in `make test`).
 *   report_tool fixture DIR          write the fake study folder of report_fixture.h into DIR
 *   report_tool images REPORT.html   decode every embedded PNG; print how many; exit 1 if any fails
 *                                    or there is none
 *   report_tool not-blank IMAGE.png  exit 0 if the image has more than one colour; print its size,
 *                                    its distinct colours (up to 65536) and the share of pixels
 *                                    that differ from the top-left one
 *   report_tool count IMAGE.png R G B  print how many pixels are exactly that colour */
#include "report_check.h"
#include "report_fixture.h"

#include <stdint.h>

static int cmd_fixture(const char *dir)
{
    lrsa_err err;
    lrsa_err_init(&err);
    if (report_fixture_write(dir, &err)) {
        fprintf(stderr, "report_tool: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_images(const char *path)
{
    lrsa_err err;
    lrsa_err_init(&err);
    char *html = NULL;
    size_t len = 0;
    if (lrsa_read_file(path, 0, &html, &len, &err)) {
        fprintf(stderr, "report_tool: %s\n", err.msg);
        return 1;
    }
    int bad = 0, good = report_check_images(html, &bad);
    free(html);
    printf("%d images decode, %d do not\n", good, bad);
    return good > 0 && bad == 0 ? 0 : 1;
}

static int cmd_not_blank(const char *path)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_image img = { 0 };
    if (lrsa_image_read(path, &img, &err)) {
        fprintf(stderr, "report_tool: %s\n", err.msg);
        return 1;
    }
    int64_t npx = img.width * img.height, differ = 0, ncolours = 0;
    /* Distinct colours, counted in a 24-bit bitmap, reported up to 65536. */
    uint8_t *seen = calloc((size_t)1 << 21, 1);
    if (!seen) {
        lrsa_image_release(&img);
        return 1;
    }
    const uint8_t *p0 = img.data;
    for (int64_t i = 0; i < npx; i++) {
        const uint8_t *p = img.data + 3 * i;
        uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        if (!(seen[c >> 3] & (1u << (c & 7)))) {
            seen[c >> 3] |= (uint8_t)(1u << (c & 7));
            ncolours++;
        }
        differ += memcmp(p, p0, 3) != 0;
    }
    free(seen);
    printf("%lldx%lld, %lld colours, %.2f%% of pixels differ from the top-left one\n",
           (long long)img.width, (long long)img.height, (long long)(ncolours > 65536 ? 65536 : ncolours),
           npx ? 100.0 * (double)differ / (double)npx : 0.0);
    lrsa_image_release(&img);
    return ncolours > 1 ? 0 : 1;
}

static int cmd_count(const char *path, const char *r, const char *g, const char *b)
{
    lrsa_err err;
    lrsa_err_init(&err);
    lrsa_image img = { 0 };
    if (lrsa_image_read(path, &img, &err)) {
        fprintf(stderr, "report_tool: %s\n", err.msg);
        return 1;
    }
    uint8_t c[3] = { (uint8_t)atoi(r), (uint8_t)atoi(g), (uint8_t)atoi(b) };
    int64_t n = 0;
    for (int64_t i = 0; i < img.width * img.height; i++)
        n += memcmp(img.data + 3 * i, c, 3) == 0;
    printf("%lld\n", (long long)n);
    lrsa_image_release(&img);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "fixture") == 0)
        return cmd_fixture(argv[2]);
    if (argc == 3 && strcmp(argv[1], "images") == 0)
        return cmd_images(argv[2]);
    if (argc == 3 && strcmp(argv[1], "not-blank") == 0)
        return cmd_not_blank(argv[2]);
    if (argc == 6 && strcmp(argv[1], "count") == 0)
        return cmd_count(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: report_tool fixture DIR | images REPORT.html | not-blank IMAGE.png | "
                    "count IMAGE.png R G B\n");
    return 2;
}
