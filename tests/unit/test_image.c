/* JPEG/PNG: write + decode round trips, magic-byte detection, truncated and corrupt files. */
#include "harness.h"
#include "latentrsa/image.h"

#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <unistd.h>

static char tmp_path[4096];

static const char *tmp(const char *name)
{
    snprintf(tmp_path, sizeof tmp_path, "%s/test_image_%s", harness_tmpdir(), name);
    return tmp_path;
}

/* A smooth test pattern (JPEG-friendly) with some colour. */
static uint8_t *pattern(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + 3 * (y * w + x);
            q[0] = (uint8_t)(255 * x / (w - 1));
            q[1] = (uint8_t)(255 * y / (h - 1));
            q[2] = (uint8_t)(128 + 100 * sin(0.2 * x + 0.1 * y));
        }
    return p;
}

static int write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t k = fwrite(buf, 1, n, fp);
    fclose(fp);
    return k == n ? 0 : -1;
}

static void test_png_round_trip(void)
{
    int w = 37, h = 23;
    uint8_t *p = pattern(w, h);
    lrsa_err err;
    lrsa_err_init(&err);
    /* A PNG under a JPEG-like name: the decoder goes by the magic bytes. */
    const char *path = tmp("png_named.jpg");
    CHECK_INT(lrsa_image_write_png(path, p, w, h, &err), LRSA_OK);
    char *data;
    size_t len;
    CHECK_INT(lrsa_read_file(path, 0, &data, &len, &err), LRSA_OK);
    CHECK_INT(lrsa_image_sniff(data, len), LRSA_IMAGE_PNG);
    free(data);
    lrsa_image img;
    CHECK_INT(lrsa_image_read(path, &img, &err), LRSA_OK);
    CHECK_INT(img.width, w);
    CHECK_INT(img.height, h);
    CHECK(img.data && memcmp(img.data, p, (size_t)w * h * 3) == 0);
    lrsa_image_release(&img);
    CHECK(img.data == NULL);
    lrsa_image_release(NULL);
    free(p);
}

static void test_jpeg_round_trip(void)
{
    int w = 64, h = 48;
    uint8_t *p = pattern(w, h);
    lrsa_err err;
    lrsa_err_init(&err);
    const char *path = tmp("jpeg_named.png");
    CHECK_INT(lrsa_image_write_jpeg(path, p, w, h, 95, &err), LRSA_OK);
    lrsa_image img;
    CHECK_INT(lrsa_image_read(path, &img, &err), LRSA_OK);
    CHECK_INT(img.width, w);
    CHECK_INT(img.height, h);
    int maxdiff = 0;
    double sum = 0;
    for (size_t i = 0; img.data && i < (size_t)w * h * 3; i++) {
        int d = abs((int)img.data[i] - (int)p[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
        sum += d;
    }
    double mean = sum / ((double)w * h * 3);
    fprintf(stderr, "jpeg q95 round trip: max diff %d, mean diff %.3f (tol 24, 2.0)\n", maxdiff,
            mean);
    /* Lossy with 4:2:0 chroma: a smooth pattern stays within a few levels on average. */
    CHECK(maxdiff <= 24);
    CHECK(mean <= 2.0);
    lrsa_image_release(&img);
    free(p);
}

static void test_sniff(void)
{
    const uint8_t jpg[] = { 0xff, 0xd8, 0xff, 0xe0 };
    const uint8_t png[] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a };
    CHECK_INT(lrsa_image_sniff(jpg, 4), LRSA_IMAGE_JPEG);
    CHECK_INT(lrsa_image_sniff(jpg, 2), LRSA_IMAGE_UNKNOWN);
    CHECK_INT(lrsa_image_sniff(png, 8), LRSA_IMAGE_PNG);
    CHECK_INT(lrsa_image_sniff(png, 7), LRSA_IMAGE_UNKNOWN);
    CHECK_INT(lrsa_image_sniff("GIF89a", 6), LRSA_IMAGE_UNKNOWN);
    CHECK_INT(lrsa_image_sniff("", 0), LRSA_IMAGE_UNKNOWN);
    CHECK_STR(lrsa_image_format_name(LRSA_IMAGE_JPEG), "jpeg");
    CHECK_STR(lrsa_image_format_name(LRSA_IMAGE_PNG), "png");
    CHECK_STR(lrsa_image_format_name(LRSA_IMAGE_UNKNOWN), "unknown");
}

/* Truncate a good file at several points: every prefix is an error naming the file. */
static void truncations(const char *good, const char *bad_name, const char *needle)
{
    char *data;
    size_t len;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_read_file(good, 0, &data, &len, &err), LRSA_OK);
    const char *bad = tmp(bad_name);
    size_t cuts[] = { 0, 2, 10, 40, len / 2, len - 20 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(write_bytes(bad, data, cuts[i]) == 0);
        lrsa_image img;
        int rc = lrsa_image_read(bad, &img, &err);
        CHECK_MSG(rc == LRSA_EFORMAT, "cut at %zu: rc %d (%s)", cuts[i], rc, err.msg);
        CHECK_MSG(strstr(err.msg, bad) != NULL, "message '%s' lacks the file name", err.msg);
        CHECK(img.data == NULL);
        if (cuts[i] == len / 2)
            CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    }
    free(data);
}

static void test_truncated_and_corrupt(void)
{
    int w = 64, h = 64;
    uint8_t *p = pattern(w, h);
    lrsa_err err;
    lrsa_err_init(&err);
    char good_png[4096], good_jpg[4096];
    snprintf(good_png, sizeof good_png, "%s", tmp("good.png"));
    snprintf(good_jpg, sizeof good_jpg, "%s", tmp("good.jpg"));
    CHECK_INT(lrsa_image_write_png(good_png, p, w, h, &err), LRSA_OK);
    CHECK_INT(lrsa_image_write_jpeg(good_jpg, p, w, h, 90, &err), LRSA_OK);
    truncations(good_png, "cut.png", "truncated");
    truncations(good_jpg, "cut.jpg", "truncated");

    /* Corrupt bytes after the magic. */
    char *data;
    size_t len;
    CHECK_INT(lrsa_read_file(good_png, 0, &data, &len, &err), LRSA_OK);
    for (size_t i = 12; i < 40 && i < len; i++)
        data[i] = (char)0x5a;
    lrsa_image img;
    int rc = lrsa_image_decode(data, len, "corrupt.png", &img, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "'corrupt.png': bad png");
    free(data);
    CHECK_INT(lrsa_read_file(good_jpg, 0, &data, &len, &err), LRSA_OK);
    /* Zero the frame size in the SOF0 marker: libjpeg refuses an empty image. */
    for (size_t i = 2; i + 9 < len; i++)
        if ((uint8_t)data[i] == 0xff && (uint8_t)data[i + 1] == 0xc0) {
            memset(data + i + 5, 0, 4);
            break;
        }
    rc = lrsa_image_decode(data, len, "corrupt.jpg", &img, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "'corrupt.jpg': bad jpeg");
    free(data);

    rc = lrsa_image_decode("hello world", 11, "text.jpg", &img, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "'text.jpg': not a jpeg or png file");
    rc = lrsa_image_read(tmp("does_not_exist.jpg"), &img, &err);
    CHECK_ERR(rc, err, LRSA_ENOTFOUND, "does_not_exist.jpg");

    /* Writers refuse nonsense and leave nothing behind. */
    const char *nothing = tmp("nothing.png");
    unlink(nothing);
    CHECK_INT(lrsa_image_write_png(nothing, p, 0, 4, &err), LRSA_EMISUSE);
    CHECK(!lrsa_is_file(nothing));
    CHECK_INT(lrsa_image_write_jpeg(nothing, p, 4, 4, 0, &err), LRSA_EMISUSE);
    CHECK_INT(lrsa_image_write_png("/nonexistent-dir/x.png", p, 4, 4, &err), LRSA_EIO);
    free(p);
}

/* Gray+alpha PNG (written by libpng's simplified API): gray replicated, alpha dropped. */
static void test_png_gray_alpha(void)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 5;
    pi.height = 3;
    pi.format = PNG_FORMAT_GA;
    uint8_t ga[5 * 3 * 2];
    for (int i = 0; i < 15; i++) {
        ga[2 * i] = (uint8_t)(i * 17);
        ga[2 * i + 1] = (uint8_t)(i * 7); /* alpha: must not darken the result */
    }
    png_alloc_size_t n = 0;
    CHECK(png_image_write_to_memory(&pi, NULL, &n, 0, ga, 0, NULL));
    void *mem = malloc(n);
    CHECK(png_image_write_to_memory(&pi, mem, &n, 0, ga, 0, NULL));
    lrsa_image img;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_image_decode(mem, n, "ga.png", &img, &err), LRSA_OK);
    int ok = img.width == 5 && img.height == 3;
    for (int i = 0; ok && i < 15; i++)
        ok = img.data[3 * i] == i * 17 && img.data[3 * i + 1] == i * 17 && img.data[3 * i + 2] == i * 17;
    CHECK(ok);
    lrsa_image_release(&img);
    free(mem);
}

/* An Adobe CMYK JPEG (as Photoshop writes: inverted) converts as Pillow's cmyk2rgb does. */
static void test_jpeg_cmyk(void)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &mem, &n);
    c.image_width = 16;
    c.image_height = 16;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t row[16 * 4];
    for (int x = 0; x < 16; x++) {
        /* stored (inverted) C,M,Y,K = 255,0,255,255 -> C=0 M=255 Y=0 K=0 -> magenta */
        row[4 * x] = 255; row[4 * x + 1] = 0; row[4 * x + 2] = 255; row[4 * x + 3] = 255;
    }
    while (c.next_scanline < 16) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    lrsa_image img;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_image_decode(mem, n, "cmyk.jpg", &img, &err), LRSA_OK);
    if (img.data) {
        fprintf(stderr, "cmyk pixel: %d %d %d (want 255 0 255, tol 3)\n", img.data[0], img.data[1],
                img.data[2]);
        CHECK(img.data[0] >= 252 && img.data[1] <= 3 && img.data[2] >= 252);
    }
    lrsa_image_release(&img);
    free(mem);
}

int main(void)
{
    RUN(test_sniff);
    RUN(test_png_round_trip);
    RUN(test_jpeg_round_trip);
    RUN(test_truncated_and_corrupt);
    RUN(test_png_gray_alpha);
    RUN(test_jpeg_cmyk);
    return harness_done();
}
