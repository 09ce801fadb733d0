/* Private to src/pipeline/synth*.c: the planned dataset and the pieces each file provides. */
#ifndef LATENTRSA_SYNTH_IMPL_H
#define LATENTRSA_SYNTH_IMPL_H

#include "latentrsa/synth.h"

struct lrsa_synth {
    lrsa_synth_opts opts;
    lrsa_synth_geometry geom;
    int64_t nimages;
    lrsa_synth_image *images;
    int64_t ntrials;
    lrsa_synth_trial *trials;
    double *weights;       /* nsignal x LRSA_SYNTH_NLATENT: p_v(i) = sum_l weights[v][l] z_i[l] */
    float *baseline;       /* nx*ny*nz */
    double *hrf_cum;       /* integral of the HRF from 0 to k*hrf_dt, k = 0 .. hrf_n-1 */
    int64_t hrf_n;
    double hrf_dt;
    double hrf_norm;       /* peak of the 1 s boxcar response before normalisation */
};

/* Random stream tags: every use of randomness has its own stream derived from the seed. */
enum {
    SYNTH_STREAM_IMAGES = 1,    /* latents and names */
    SYNTH_STREAM_REPEATS = 2,   /* which images are repeated */
    SYNTH_STREAM_ORDER = 3,     /* a subject's presentation order (a = subject) */
    SYNTH_STREAM_WEIGHTS = 4,   /* the planted weight maps */
    SYNTH_STREAM_NOISE = 5,     /* a scene run's noise (a, b, c = subject, session, run) */
    SYNTH_STREAM_LOCALIZER = 6, /* a localizer run's noise (a = subject) */
    SYNTH_STREAM_TIMING = 7     /* a subject's jitter, responses and RTs (a = subject) */
};

static inline uint64_t synth_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline void synth_stream(lrsa_rng *rng, const lrsa_synth *s, uint64_t tag, uint64_t a,
                                uint64_t b, uint64_t c)
{
    uint64_t h = synth_mix((uint64_t)s->opts.seed);
    h = synth_mix(h ^ tag);
    h = synth_mix(h ^ a);
    h = synth_mix(h ^ (b << 20));
    h = synth_mix(h ^ (c << 40));
    lrsa_rng_seed(rng, h);
}

/* synth_images.c: latents, names and formats of the images. */
int synth_make_images(lrsa_synth *s, lrsa_err *err);
/* synth_brain.c: geometry, baseline, weights and HRF table. */
int synth_make_brain(lrsa_synth *s, lrsa_err *err);
/* synth_brain.c: nt volumes of the brain with the given trials planted, noise from stream rng. */
int synth_bold(const lrsa_synth *s, const lrsa_synth_trial *trials, int64_t ntrials, int64_t nt,
               lrsa_rng *rng, int16_t **out, lrsa_err *err);

#endif
