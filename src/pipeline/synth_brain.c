/* synth: the brain -- geometry, baseline, planted weights, the HRF, the BOLD data, the truth RDM. */
#include "synth_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HRF_DT 0.005     /* seconds per step of the integrated-HRF table */
#define HRF_LEN 40.0     /* seconds covered; h(40 s) is below 1e-6 of its peak */
#define ROT_X_DEG 6.0    /* the oblique affine: rotation about x, then y */
#define ROT_Y_DEG -4.0

/* SPM's canonical HRF (spm_hrf: p = [6 16 1 1 6 0 32]):
 * h(t) = g(t; 6, 1) - g(t; 16, 1) / 6, g the gamma density with shape a and scale 1. */
static double hrf(double t)
{
    if (t <= 0)
        return 0;
    double lt = log(t);
    return exp(5 * lt - t - lgamma(6.0)) - exp(15 * lt - t - lgamma(16.0)) / 6.0;
}

static int64_t vox_index(const lrsa_synth_geometry *g, int64_t i, int64_t j, int64_t k)
{
    return i + g->dims[0] * (j + g->dims[1] * k);
}

static int make_geometry(lrsa_synth *s)
{
    lrsa_synth_geometry *g = &s->geom;
    double c[3], semi[3];
    for (int a = 0; a < 3; a++) {
        g->dims[a] = s->opts.dims[a];
        c[a] = (g->dims[a] - 1) / 2.0;
        semi[a] = 0.42 * g->dims[a];
        /* The central block: |i - c| < max(1.5, n/6), symmetric about the centre. */
        double h = fmax(1.5, g->dims[a] / 6.0);
        g->block_lo[a] = (int64_t)floor(c[a] - h) + 1;
        g->block_hi[a] = g->dims[a] - 1 - g->block_lo[a];
    }
    g->volumes = (6 + 10 * s->opts.trials + 12) / 2;
    g->nsignal = 1;
    for (int a = 0; a < 3; a++)
        g->nsignal *= g->block_hi[a] - g->block_lo[a] + 1;
    /* Vessels: two point-symmetric pairs (about the centre), off the block along x and y. */
    for (int p = 0; p < 2; p++) {
        int64_t *v = g->vessels[2 * p], *w = g->vessels[2 * p + 1];
        for (int a = 0; a < 3; a++)
            v[a] = (int64_t)floor(c[a]);
        v[p] = (int64_t)floor(c[p] - 0.6 * semi[p]);
        for (int a = 0; a < 3; a++)
            w[a] = g->dims[a] - 1 - v[a];
    }
    /* Affine: R = Rx * Ry (a few degrees each) times 2 mm, centre voxel at the world origin. */
    double ax = ROT_X_DEG * M_PI / 180, ay = ROT_Y_DEG * M_PI / 180;
    double rx[3][3] = { { 1, 0, 0 }, { 0, cos(ax), -sin(ax) }, { 0, sin(ax), cos(ax) } };
    double ry[3][3] = { { cos(ay), 0, sin(ay) }, { 0, 1, 0 }, { -sin(ay), 0, cos(ay) } };
    memset(g->affine, 0, sizeof g->affine);
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            double m = 0;
            for (int k = 0; k < 3; k++)
                m += rx[r][k] * ry[k][q];
            g->affine[r][q] = 2.0 * m;
        }
    for (int r = 0; r < 3; r++) {
        double t = 0;
        for (int q = 0; q < 3; q++)
            t -= g->affine[r][q] * c[q];
        g->affine[r][3] = t;
    }
    g->affine[3][3] = 1;
    return LRSA_OK;
}

static int make_baseline(lrsa_synth *s, lrsa_err *err)
{
    const lrsa_synth_geometry *g = &s->geom;
    int64_t nvox = g->dims[0] * g->dims[1] * g->dims[2];
    s->baseline = lrsa_malloc(sizeof *s->baseline * (size_t)nvox, "synth baseline", err);
    if (!s->baseline)
        return LRSA_ENOMEM;
    double c[3], semi[3];
    for (int a = 0; a < 3; a++) {
        c[a] = (g->dims[a] - 1) / 2.0;
        semi[a] = 0.42 * g->dims[a];
    }
    for (int64_t k = 0; k < g->dims[2]; k++)
        for (int64_t j = 0; j < g->dims[1]; j++)
            for (int64_t i = 0; i < g->dims[0]; i++) {
                double u = (i - c[0]) / semi[0], v = (j - c[1]) / semi[1], w = (k - c[2]) / semi[2];
                double r2 = u * u + v * v + w * w;
                /* Radially symmetric: 540 at the centre to 460 at the edge, mean about 492. */
                s->baseline[vox_index(g, i, j, k)] =
                    (float)(r2 <= 1 ? LRSA_SYNTH_BASELINE * (1.08 - 0.16 * r2) : LRSA_SYNTH_BACKGROUND);
            }
    for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++)
        s->baseline[vox_index(g, g->vessels[p][0], g->vessels[p][1], g->vessels[p][2])] =
            (float)LRSA_SYNTH_VESSEL;
    return LRSA_OK;
}

/* Weight maps: for each latent, a sum of three random low-frequency cosines over the block
 * (smooth, so the pattern survives resampling and rendering), centred and scaled to unit RMS;
 * then all weights are scaled so the RMS of p_v(i) over voxels and the dataset's images is 1. */
static int make_weights(lrsa_synth *s, lrsa_err *err)
{
    const lrsa_synth_geometry *g = &s->geom;
    int64_t ns = g->nsignal;
    s->weights = lrsa_calloc((size_t)ns * LRSA_SYNTH_NLATENT, sizeof *s->weights, "synth weights", err);
    if (!s->weights)
        return LRSA_ENOMEM;
    lrsa_rng rng;
    synth_stream(&rng, s, SYNTH_STREAM_WEIGHTS, 0, 0, 0);
    int64_t bx = g->block_hi[0] - g->block_lo[0] + 1, by = g->block_hi[1] - g->block_lo[1] + 1;
    int64_t bz = g->block_hi[2] - g->block_lo[2] + 1;
    for (int l = 0; l < LRSA_SYNTH_NLATENT; l++) {
        double f[3][3], ph[3];
        for (int q = 0; q < 3; q++) {
            for (int a = 0; a < 3; a++)
                f[q][a] = 3.0 * lrsa_rng_uniform(&rng) - 1.5;
            ph[q] = 2 * M_PI * lrsa_rng_uniform(&rng);
        }
        double sum = 0, sum2 = 0;
        for (int64_t k = 0; k < bz; k++)
            for (int64_t j = 0; j < by; j++)
                for (int64_t i = 0; i < bx; i++) {
                    double u[3] = { bx > 1 ? 2.0 * i / (bx - 1) - 1 : 0, by > 1 ? 2.0 * j / (by - 1) - 1 : 0,
                                    bz > 1 ? 2.0 * k / (bz - 1) - 1 : 0 };
                    double w = 0;
                    for (int q = 0; q < 3; q++)
                        w += cos(M_PI * (f[q][0] * u[0] + f[q][1] * u[1] + f[q][2] * u[2]) + ph[q]);
                    s->weights[(i + bx * (j + by * k)) * LRSA_SYNTH_NLATENT + l] = w;
                    sum += w;
                }
        double mean = sum / ns;
        for (int64_t v = 0; v < ns; v++) {
            double *w = &s->weights[v * LRSA_SYNTH_NLATENT + l];
            *w -= mean;
            sum2 += *w * *w;
        }
        double rms = sqrt(sum2 / ns);
        for (int64_t v = 0; v < ns; v++)
            s->weights[v * LRSA_SYNTH_NLATENT + l] /= rms > 1e-12 ? rms : 1.0;
    }
    double ss = 0;
    for (int64_t i = 0; i < s->nimages; i++)
        for (int64_t v = 0; v < ns; v++) {
            double p = 0;
            for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
                p += s->weights[v * LRSA_SYNTH_NLATENT + l] * s->images[i].latents[l];
            ss += p * p;
        }
    double rms = s->nimages > 0 ? sqrt(ss / ((double)s->nimages * ns)) : 0;
    if (rms > 1e-12)
        for (int64_t v = 0; v < ns * LRSA_SYNTH_NLATENT; v++)
            s->weights[v] /= rms;
    return LRSA_OK;
}

static int make_hrf(lrsa_synth *s, lrsa_err *err)
{
    s->hrf_dt = HRF_DT;
    s->hrf_n = (int64_t)(HRF_LEN / HRF_DT) + 1;
    s->hrf_cum = lrsa_malloc(sizeof *s->hrf_cum * (size_t)s->hrf_n, "hrf table", err);
    if (!s->hrf_cum)
        return LRSA_ENOMEM;
    s->hrf_cum[0] = 0;
    for (int64_t k = 1; k < s->hrf_n; k++) /* trapezoid rule */
        s->hrf_cum[k] = s->hrf_cum[k - 1] + 0.5 * HRF_DT * (hrf((k - 1) * HRF_DT) + hrf(k * HRF_DT));
    s->hrf_norm = 1.0;
    double peak = 0;
    for (int64_t k = 0; k < s->hrf_n; k++) {
        double x = lrsa_synth_hrf_boxcar(s, k * HRF_DT, 1.0);
        peak = x > peak ? x : peak;
    }
    s->hrf_norm = peak;
    return LRSA_OK;
}

int synth_make_brain(lrsa_synth *s, lrsa_err *err)
{
    int rc;
    if ((rc = make_geometry(s)) || (rc = make_baseline(s, err)) || (rc = make_weights(s, err)) ||
        (rc = make_hrf(s, err)))
        return rc;
    return LRSA_OK;
}

/* The integrated HRF from 0 to t, linearly interpolated in the table. */
static double hrf_integral(const lrsa_synth *s, double t)
{
    if (t <= 0)
        return 0;
    double x = t / s->hrf_dt;
    int64_t k = (int64_t)x;
    if (k >= s->hrf_n - 1)
        return s->hrf_cum[s->hrf_n - 1];
    double f = x - k;
    return s->hrf_cum[k] * (1 - f) + s->hrf_cum[k + 1] * f;
}

double lrsa_synth_hrf_boxcar(const lrsa_synth *s, double t, double dur)
{
    return (hrf_integral(s, t) - hrf_integral(s, t - dur)) / s->hrf_norm;
}

double lrsa_synth_baseline(const lrsa_synth *s, int64_t v)
{
    return s->baseline[v];
}

void lrsa_synth_pattern(const lrsa_synth *s, int64_t image, double *out)
{
    const double *z = s->images[image].latents;
    for (int64_t v = 0; v < s->geom.nsignal; v++) {
        double p = 0;
        for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
            p += s->weights[v * LRSA_SYNTH_NLATENT + l] * z[l];
        out[v] = p;
    }
}

int synth_bold(const lrsa_synth *s, const lrsa_synth_trial *trials, int64_t ntrials, int64_t nt,
               lrsa_rng *rng, int16_t **out, lrsa_err *err)
{
    const lrsa_synth_geometry *g = &s->geom;
    int64_t nx = g->dims[0], ny = g->dims[1], nz = g->dims[2], nvox = nx * ny * nz;
    int64_t bx = g->block_hi[0] - g->block_lo[0] + 1, by = g->block_hi[1] - g->block_lo[1] + 1;
    int rc = LRSA_OK;
    double *drive = NULL;
    *out = lrsa_malloc(sizeof **out * (size_t)(nvox * nt), "synth bold data", err);
    drive = lrsa_malloc(sizeof *drive * (size_t)g->nsignal, "synth drive", err);
    if (!*out || !drive) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int64_t vessels[LRSA_SYNTH_NVESSELS];
    for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++)
        vessels[p] = vox_index(g, g->vessels[p][0], g->vessels[p][1], g->vessels[p][2]);
    double sig = s->opts.signal / 100.0, noise = s->opts.noise / 100.0;
    for (int64_t n = 0; n < nt; n++) {
        double t = n * LRSA_SYNTH_TR;
        /* Mix the latents of the trials still responding at t, weighted by their HRF response. */
        double zmix[LRSA_SYNTH_NLATENT] = { 0 };
        for (int64_t q = 0; q < ntrials; q++) {
            double dt = t - trials[q].onset_ms / 1000.0;
            if (dt <= 0 || dt > HRF_LEN + 2)
                continue;
            double x = lrsa_synth_hrf_boxcar(s, dt, (trials[q].stimoff_ms - trials[q].onset_ms) / 1000.0);
            for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
                zmix[l] += x * s->images[trials[q].image].latents[l];
        }
        for (int64_t v = 0; v < g->nsignal; v++) {
            double d = 0;
            for (int l = 0; l < LRSA_SYNTH_NLATENT; l++)
                d += s->weights[v * LRSA_SYNTH_NLATENT + l] * zmix[l];
            drive[v] = d;
        }
        int16_t *vol = *out + n * nvox;
        double vmax = 0;
        for (int64_t k = 0; k < nz; k++)
            for (int64_t j = 0; j < ny; j++)
                for (int64_t i = 0; i < nx; i++) {
                    int64_t v = i + nx * (j + ny * k);
                    double b = s->baseline[v];
                    double e = lrsa_rng_normal(rng); /* drawn for every voxel: stable streams */
                    double y = b;
                    if (i >= g->block_lo[0] && i <= g->block_hi[0] && j >= g->block_lo[1] &&
                        j <= g->block_hi[1] && k >= g->block_lo[2] && k <= g->block_hi[2]) {
                        int64_t vs = (i - g->block_lo[0]) + bx * ((j - g->block_lo[1]) + by * (k - g->block_lo[2]));
                        y += b * sig * drive[vs];
                    }
                    y += b * noise * e;
                    y = nearbyint(y);
                    y = y < 0 ? 0 : y > INT16_MAX ? INT16_MAX : y;
                    vol[v] = (int16_t)y;
                }
        /* Vessels pin the maximum: LRSA_SYNTH_VESSEL, or one above anything else. */
        for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++)
            vol[vessels[p]] = 0;
        for (int64_t v = 0; v < nvox; v++)
            vmax = vol[v] > vmax ? vol[v] : vmax;
        double pin = fmax(LRSA_SYNTH_VESSEL, vmax + 1);
        pin = pin > INT16_MAX ? INT16_MAX : pin;
        for (int p = 0; p < LRSA_SYNTH_NVESSELS; p++)
            vol[vessels[p]] = (int16_t)pin;
    }
done:
    if (rc) {
        free(*out);
        *out = NULL;
    }
    free(drive);
    return rc;
}

int lrsa_synth_run_bold(const lrsa_synth *s, int subject, int session, int run, int16_t **out,
                        lrsa_err *err)
{
    *out = NULL;
    const lrsa_synth_opts *o = &s->opts;
    if (subject < 1 || subject > o->subjects || session < 1 || session > o->sessions || run < 1 ||
        run > o->runs)
        return LRSA_FAIL(err, LRSA_EMISUSE, "no scene run sub %d ses %d run %d in this dataset",
                         subject, session, run);
    int64_t first = (((int64_t)(subject - 1) * o->sessions + (session - 1)) * o->runs + (run - 1)) * o->trials;
    lrsa_rng rng;
    synth_stream(&rng, s, SYNTH_STREAM_NOISE, (uint64_t)subject, (uint64_t)session, (uint64_t)run);
    return synth_bold(s, s->trials + first, o->trials, s->geom.volumes, &rng, out, err);
}

/* Pearson correlations of p_i = W z_i across voxels depend on W only through the centred Gram
 * matrix G = Wc' Wc (L x L), so the RDM costs O(N^2 L^2), not O(N^2 voxels). */
int lrsa_synth_truth_rdm(const lrsa_synth *s, double *out, lrsa_err *err)
{
    enum { L = LRSA_SYNTH_NLATENT };
    int64_t ns = s->geom.nsignal, n = s->nimages;
    double mean[L] = { 0 }, G[L][L] = { { 0 } };
    double *gz = lrsa_malloc(sizeof *gz * (size_t)(n * L), "truth rdm", err);
    double *sd = lrsa_malloc(sizeof *sd * (size_t)(n > 0 ? n : 1), "truth rdm", err);
    int rc = LRSA_OK;
    if (!gz || !sd) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t v = 0; v < ns; v++)
        for (int l = 0; l < L; l++)
            mean[l] += s->weights[v * L + l] / ns;
    for (int64_t v = 0; v < ns; v++)
        for (int a = 0; a < L; a++)
            for (int b = 0; b < L; b++)
                G[a][b] += (s->weights[v * L + a] - mean[a]) * (s->weights[v * L + b] - mean[b]);
    for (int64_t i = 0; i < n; i++) {
        const double *z = s->images[i].latents;
        double q = 0;
        for (int a = 0; a < L; a++) {
            double acc = 0;
            for (int b = 0; b < L; b++)
                acc += G[a][b] * z[b];
            gz[i * L + a] = acc;
            q += z[a] * acc;
        }
        sd[i] = sqrt(q > 0 ? q : 0);
    }
    for (int64_t i = 0; i < n; i++) {
        out[i * n + i] = 0;
        for (int64_t j = i + 1; j < n; j++) {
            double c = 0;
            for (int a = 0; a < L; a++)
                c += s->images[i].latents[a] * gz[j * L + a];
            double r = sd[i] > 1e-12 && sd[j] > 1e-12 ? c / (sd[i] * sd[j]) : 0;
            r = r > 1 ? 1 : r < -1 ? -1 : r;
            out[i * n + j] = out[j * n + i] = 1 - r;
        }
    }
done:
    free(gz);
    free(sd);
    return rc;
}
