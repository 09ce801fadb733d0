/* render: matplotlib's cold_hot lookup table (nilearn 0.10.4 cm.cold_hot, 256 entries). */
#include "latentrsa/render.h"

#include <math.h>

/* matplotlib _cm._hot_data: (x, y0, y1) per channel. */
typedef struct seg { double x, y0, y1; } seg;
static const seg hot_red[] = { { 0., 0.0416, 0.0416 }, { 0.365079, 1.0, 1.0 }, { 1.0, 1.0, 1.0 } };
static const seg hot_green[] = { { 0., 0., 0. }, { 0.365079, 0., 0. }, { 0.746032, 1.0, 1.0 },
                                 { 1.0, 1.0, 1.0 } };
static const seg hot_blue[] = { { 0., 0., 0. }, { 0.746032, 0., 0. }, { 1.0, 1.0, 1.0 } };

/* nilearn _pigtailed_cmap: the reversed (swapped) map squeezed into [0, .5], then the map into
 * [.5, 1]. cold_hot swaps (green, red, blue): red <- blue, green <- green, blue <- red. */
static int pigtail(const seg *cold, int ncold, const seg *hot, int nhot, seg *out)
{
    int n = 0;
    for (int i = ncold - 1; i >= 0; i--)
        out[n++] = (seg){ 0.5 * (1 - cold[i].x), cold[i].y0, cold[i].y1 };
    for (int i = 0; i < nhot; i++)
        out[n++] = (seg){ 0.5 * (1 + hot[i].x), hot[i].y0, hot[i].y1 };
    return n;
}

/* matplotlib colors._create_lookup_table(N, data, gamma=1). */
static void lookup_table(const seg *d, int n, int N, double *lut)
{
    double x[16];
    for (int i = 0; i < n; i++)
        x[i] = d[i].x * (N - 1);
    lut[0] = d[0].y1;
    lut[N - 1] = d[n - 1].y0;
    double step = 1.0 / (N - 1);  /* np.linspace(0, 1, N): arange * step */
    for (int i = 1; i < N - 1; i++) {
        double xi = (N - 1) * (i * step);
        int ind = 0;                  /* np.searchsorted(x, xi), side left */
        while (ind < n && x[ind] < xi)
            ind++;
        double dist = (xi - x[ind - 1]) / (x[ind] - x[ind - 1]);
        lut[i] = dist * (d[ind].y0 - d[ind - 1].y1) + d[ind - 1].y1;
    }
    for (int i = 0; i < N; i++)
        lut[i] = lut[i] < 0 ? 0 : lut[i] > 1 ? 1 : lut[i];
}

void lrsa_render_cold_hot(uint8_t lut[256][3])
{
    seg d[8];
    double f[256];
    const seg *cold[3] = { hot_blue, hot_green, hot_red };
    const int ncold[3] = { 3, 4, 3 };
    const seg *hot[3] = { hot_red, hot_green, hot_blue };
    const int nhot[3] = { 3, 4, 3 };
    for (int c = 0; c < 3; c++) {
        int n = pigtail(cold[c], ncold[c], hot[c], nhot[c], d);
        lookup_table(d, n, 256, f);
        for (int i = 0; i < 256; i++)
            lut[i][c] = (uint8_t)(f[i] * 255);  /* (lut * 255).astype(uint8) truncates */
    }
}
