/* synth: the stimulus images -- latents, BOLD5000-like names, and drawing. */
#include "synth_impl.h"
#include "latentrsa/image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const lrsa_synth_latent_names[LRSA_SYNTH_NLATENT] = {
    "object_x", "object_y", "grating_orientation", "grating_frequency", "hue"
};

/* Scene categories in BOLD5000's mixed style; the starred ones have no number on first use
 * (as BOLD5000's HorseRaceTrack.jpg or dining_car.jpg). */
static const struct {
    const char *name;
    int bare_first;
} scene_cats[] = {
    { "beach", 0 }, { "kitchen", 0 }, { "ATM", 0 }, { "HorseRaceTrack", 1 }, { "dining_car", 1 },
    { "elevatorOutside", 0 }, { "bedroom", 0 }, { "forest", 0 }, { "highway", 0 },
    { "mountain", 0 }, { "library", 0 }, { "bridge", 0 },
};
#define NSCENE_CATS (sizeof scene_cats / sizeof scene_cats[0])

static int name_taken(const lrsa_synth *s, int64_t n, const char *name)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(s->images[i].name, name) == 0)
            return 1;
    return 0;
}

int synth_make_images(lrsa_synth *s, lrsa_err *err)
{
    lrsa_rng rng;
    synth_stream(&rng, s, SYNTH_STREAM_IMAGES, 0, 0, 0);
    int64_t nscene = 0, first_scene = -1;
    for (int64_t i = 0; i < s->nimages; i++) {
        lrsa_synth_image *im = &s->images[i];
        for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
            im->latents[l] = round((2.0 * lrsa_rng_uniform(&rng) - 1.0) * 1e6) / 1e6;
        im->format = LRSA_IMAGE_JPEG;
        /* Sources cycle COCO, ImageNet, Scene, COCO, ImageNet: about BOLD5000's 2:2:1, and any
         * three images cover all three folders. */
        switch (i % 5) {
        case 0:
        case 3:
            im->source = "COCO";
            im->img_type = "coco";
            do
                snprintf(im->name, sizeof im->name, "COCO_train2014_%012llu.jpg",
                         (unsigned long long)(1 + lrsa_rng_below(&rng, 581928)));
            while (name_taken(s, i, im->name));
            break;
        case 1:
        case 4:
            im->source = "ImageNet";
            im->img_type = "imagenet";
            do
                snprintf(im->name, sizeof im->name, "n%08llu_%llu.JPEG",
                         (unsigned long long)(1440000 + lrsa_rng_below(&rng, 3600000)),
                         (unsigned long long)(1 + lrsa_rng_below(&rng, 50000)));
            while (name_taken(s, i, im->name));
            break;
        default: {
            im->source = "Scene";
            im->img_type = "scenes";
            int64_t c = nscene % (int64_t)NSCENE_CATS, r = nscene / (int64_t)NSCENE_CATS;
            /* About one Scene name in five ends in .jpeg (BOLD5000: 15 of 1000). */
            const char *ext = nscene % 5 == 3 ? "jpeg" : "jpg";
            if (r == 0 && scene_cats[c].bare_first)
                snprintf(im->name, sizeof im->name, "%s.%s", scene_cats[c].name, ext);
            else
                snprintf(im->name, sizeof im->name, "%s%lld.%s", scene_cats[c].name,
                         (long long)(r + 1), ext);
            if (first_scene < 0)
                first_scene = i;
            nscene++;
            break;
        }
        }
    }
    /* One real PNG under a .jpg name, so readers must go by the magic bytes: the first Scene
     * image, or the last image when there is no Scene image. */
    if (s->nimages > 0)
        s->images[first_scene >= 0 ? first_scene : s->nimages - 1].format = LRSA_IMAGE_PNG;
    (void)err;
    return LRSA_OK;
}

/* HSV (s, v in [0,1], h in [0,1)) to RGB in [0,1]. */
static void hsv_rgb(double h, double sat, double val, double rgb[3])
{
    double h6 = fmod(h, 1.0) * 6.0;
    int sector = (int)floor(h6);
    double f = h6 - sector;
    double p = val * (1 - sat), q = val * (1 - sat * f), t = val * (1 - sat * (1 - f));
    double r, g, b;
    switch (sector % 6) {
    case 0: r = val; g = t; b = p; break;
    case 1: r = q; g = val; b = p; break;
    case 2: r = p; g = val; b = t; break;
    case 3: r = p; g = q; b = val; break;
    case 4: r = t; g = p; b = val; break;
    default: r = val; g = p; b = q; break;
    }
    rgb[0] = r;
    rgb[1] = g;
    rgb[2] = b;
}

static uint8_t to_byte(double v)
{
    v = v * 255.0 + 0.5;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* The picture: a sinusoidal grating (orientation 0..162 degrees, 2..8 cycles per image width)
 * tinted by the hue, under a disc of that hue (radius 0.18 of the side) whose centre moves over
 * the middle 60% of the image. Latent l in [-1, 1] maps linearly (frequency log-linearly). */
void lrsa_synth_render_image(const lrsa_synth *s, int64_t i, uint8_t *rgb)
{
    const double *z = s->images[i].latents;
    int64_t S = s->opts.image_size;
    double cx = S * (0.5 + 0.3 * z[0]), cy = S * (0.5 + 0.3 * z[1]);
    double theta = (z[2] + 1.0) / 2.0 * 0.9 * M_PI;
    double cycles = 2.0 * pow(2.0, z[3] + 1.0);
    double hue = (z[4] + 1.0) / 2.0 * 0.75;
    double radius = 0.18 * S;
    double obj[3], tint[3];
    hsv_rgb(hue, 0.9, 0.95, obj);
    hsv_rgb(hue, 0.35, 1.0, tint);
    double ct = cos(theta), st = sin(theta);
    for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++) {
            double px = x + 0.5, py = y + 0.5;
            double g = 0.5 + 0.35 * sin(2.0 * M_PI * cycles * (px * ct + py * st) / (double)S);
            /* Anti-aliased disc edge: coverage ramps over one pixel. */
            double d = sqrt((px - cx) * (px - cx) + (py - cy) * (py - cy));
            double a = radius + 0.5 - d;
            a = a < 0 ? 0 : a > 1 ? 1 : a;
            uint8_t *o = rgb + 3 * (y * S + x);
            for (int c = 0; c < 3; c++)
                o[c] = to_byte((1 - a) * g * tint[c] + a * obj[c]);
        }
}
