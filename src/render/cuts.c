/* render: nilearn 0.10.4's find_xyz_cut_coords(img, activation_threshold=thr), on the original
 * grid, with numpy's float32 sums so the result is the same to rounding. Arrays here are in
 * numpy's C order over (x, y, z): index (i * ny + j) * nz + k, z fastest. */
#include "render_impl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct box3 { int64_t lo[3], n[3]; } box3;

/* Union-find root with path halving. */
static int32_t uf_find(int32_t *parent, int32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Merge two sets; the smaller label stays the root. */
static int32_t uf_union(int32_t *parent, int32_t a, int32_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a == b)
        return a;
    if (a < b) {
        parent[b] = a;
        return a;
    }
    parent[a] = b;
    return b;
}

/* scipy.ndimage.label (6-connectivity), then keep the largest component; ties go to the
 * component labelled first, i.e. whose first voxel comes first in C order. Two-pass union-find
 * in C order: provisional labels are handed out in raster order and a set's root is its
 * smallest label, so root order is scipy's label order. mask (dims n) is modified in place.
 * Returns the component size, or -1 when out of memory. */
static int64_t largest_component(uint8_t *mask, const int64_t n[3], lrsa_err *err)
{
    const int64_t total = n[0] * n[1] * n[2], sj = n[2], si = n[1] * n[2];
    int32_t *lab = lrsa_malloc((size_t)total * sizeof *lab, "component labels", err);
    int32_t *parent = NULL;
    int64_t *count = NULL, best_size = -1;
    int64_t cap = 1024, nl = 0;
    parent = lrsa_malloc((size_t)cap * sizeof *parent, "component labels", err);
    if (!lab || !parent)
        goto done;
    parent[0] = 0;   /* label 0: background */
    for (int64_t i = 0, p = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t k = 0; k < n[2]; k++, p++) {
                if (!mask[p]) {
                    lab[p] = 0;
                    continue;
                }
                int32_t l = 0;
                if (k > 0 && lab[p - 1])
                    l = lab[p - 1];
                if (j > 0 && lab[p - sj])
                    l = l ? uf_union(parent, l, lab[p - sj]) : lab[p - sj];
                if (i > 0 && lab[p - si])
                    l = l ? uf_union(parent, l, lab[p - si]) : lab[p - si];
                if (!l) {
                    if (nl + 2 > cap) {
                        int64_t nc = cap * 2;
                        int32_t *np = lrsa_realloc(parent, (size_t)nc * sizeof *np, "component labels", err);
                        if (!np)
                            goto done;
                        parent = np;
                        cap = nc;
                    }
                    l = (int32_t)++nl;
                    parent[l] = l;
                }
                lab[p] = l;
            }
    count = lrsa_calloc((size_t)nl + 1, sizeof *count, "component sizes", err);
    if (!count)
        goto done;
    for (int64_t l = 1; l <= nl; l++)
        parent[l] = uf_find(parent, (int32_t)l);
    for (int64_t p = 0; p < total; p++)
        count[parent[lab[p]]] += lab[p] != 0;
    int32_t best = 0;
    for (int64_t l = 1; l <= nl; l++)
        if (parent[l] == l && count[l] > best_size) {
            best_size = count[l];
            best = (int32_t)l;
        }
    for (int64_t p = 0; p < total; p++)
        mask[p] = lab[p] && parent[lab[p]] == best;
    if (best_size < 0)
        best_size = 0;
done:
    free(count);
    free(parent);
    free(lab);
    return count ? best_size : -1;
}

/* find_objects: the bounding box of the true voxels. */
static void mask_box(const uint8_t *mask, const int64_t n[3], box3 *b)
{
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    for (int64_t i = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t k = 0; k < n[2]; k++)
                if (mask[(i * n[1] + j) * n[2] + k]) {
                    int64_t p[3] = { i, j, k };
                    for (int a = 0; a < 3; a++) {
                        lo[a] = p[a] < lo[a] ? p[a] : lo[a];
                        hi[a] = p[a] > hi[a] ? p[a] : hi[a];
                    }
                }
    for (int a = 0; a < 3; a++) {
        b->lo[a] = lo[a];
        b->n[a] = hi[a] - lo[a] + 1;
    }
}

/* Copy the box of a C-order array (dims n) into a new compact C-order array. */
static void crop(const void *src, const int64_t n[3], const box3 *b, void *dst, size_t elem)
{
    const char *s = src;
    char *d = dst;
    for (int64_t i = 0; i < b->n[0]; i++)
        for (int64_t j = 0; j < b->n[1]; j++) {
            const char *row = s + (((b->lo[0] + i) * n[1] + (b->lo[1] + j)) * n[2] + b->lo[2]) * elem;
            memcpy(d, row, (size_t)b->n[2] * elem);
            d += (size_t)b->n[2] * elem;
        }
}

/* scipy.ndimage.center_of_mass(|map|): float32 normaliser, float64 moments. */
static int center_of_mass(const float *map, const int64_t n[3], double com[3], lrsa_err *err)
{
    int64_t total = n[0] * n[1] * n[2];
    float *a = lrsa_malloc((size_t)total * sizeof *a, "centre of mass", err);
    double *m = lrsa_malloc((size_t)total * sizeof *m, "centre of mass", err);
    if (!a || !m) {
        free(a);
        free(m);
        return LRSA_ENOMEM;
    }
    for (int64_t p = 0; p < total; p++)
        a[p] = fabsf(map[p]);
    float norm = lrsa__np_sum_f32(a, total);
    for (int d = 0; d < 3; d++) {
        for (int64_t i = 0, p = 0; i < n[0]; i++)
            for (int64_t j = 0; j < n[1]; j++)
                for (int64_t k = 0; k < n[2]; k++, p++) {
                    int64_t idx = d == 0 ? i : d == 1 ? j : k;
                    m[p] = (double)a[p] * (double)idx;
                }
        com[d] = lrsa__np_sum_f64(m, total) / (double)norm;
    }
    free(a);
    free(m);
    return LRSA_OK;
}

int lrsa__cut_coords_naive(const float *vol, const int64_t dims[3], const double affine[4][4],
                           double threshold, double xyz[3], lrsa_err *err)
{
    int64_t total = dims[0] * dims[1] * dims[2];
    int allzero = 1;
    for (int64_t p = 0; p < total && allzero; p++)
        allzero = vol[p] == 0.0f;
    if (allzero) {   /* DEFAULT_CUT_COORDS (0, 0, 0) through the affine */
        const double zero[3] = { 0, 0, 0 };
        lrsa__apply4(affine, zero, xyz);
        return LRSA_OK;
    }
    int rc = LRSA_OK;
    float *map = NULL, *sub = NULL;
    uint8_t *mask = NULL, *submask = NULL;
    double offset[3] = { 0, 0, 0 }, com[3];
    int64_t n[3] = { dims[0], dims[1], dims[2] };
    map = lrsa_malloc((size_t)total * sizeof *map, "cut coordinates", err);
    mask = lrsa_malloc((size_t)total, "cut coordinates", err);
    if (!map || !mask) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t j = 0; j < n[1]; j++)                /* to C order, in 16 x 16 tiles */
        for (int64_t i0 = 0; i0 < n[0]; i0 += 16)
            for (int64_t k0 = 0; k0 < n[2]; k0 += 16) {
                int64_t i1 = i0 + 16 < n[0] ? i0 + 16 : n[0], k1 = k0 + 16 < n[2] ? k0 + 16 : n[2];
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t k = k0; k < k1; k++)
                        map[(i * n[1] + j) * n[2] + k] = vol[i + n[0] * (j + n[1] * k)];
            }
    /* mask = |map| > thr - 2 eps, compared in float32 as numpy does with a Python float */
    float thr1 = (float)(threshold - 2 * DBL_EPSILON);
    int any = 0;
    for (int64_t p = 0; p < total; p++) {
        mask[p] = fabsf(map[p]) > thr1;
        any |= mask[p];
    }
    if (!any) {   /* "all voxels were masked by the thresholding": centre of mass of everything */
        if ((rc = center_of_mass(map, n, com, err)))
            goto done;
        goto transform;
    }
    if (largest_component(mask, n, err) < 0) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    box3 b;
    mask_box(mask, n, &b);
    int64_t sn = b.n[0] * b.n[1] * b.n[2];
    sub = lrsa_malloc((size_t)sn * sizeof *sub, "cut coordinates", err);
    submask = lrsa_malloc((size_t)sn, "cut coordinates", err);
    if (!sub || !submask) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    crop(map, n, &b, sub, sizeof *sub);
    crop(mask, n, &b, submask, 1);
    for (int a = 0; a < 3; a++)
        offset[a] += (double)b.lo[a];
    int64_t cnt = 0;
    for (int64_t p = 0; p < sn; p++) {
        sub[p] = sub[p] * (float)submask[p];
        if (submask[p])
            map[cnt++] = sub[p];   /* my_map[mask], reusing map as scratch */
    }
    /* second_threshold = |mean(my_map[mask])|: float32 sum, divided in double, back to float32 */
    float thr2 = fabsf((float)((double)lrsa__np_sum_f32(map, cnt) / (double)cnt));
    int64_t above = 0;
    for (int64_t p = 0; p < sn; p++) {
        submask[p] = fabsf(sub[p]) > thr2;
        above += submask[p];
    }
    if (above > 50) {
        if (largest_component(submask, b.n, err) < 0) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        for (int64_t p = 0; p < sn; p++)
            sub[p] = sub[p] * (float)submask[p];
    }
    if ((rc = center_of_mass(sub, b.n, com, err)))
        goto done;
transform:
    for (int a = 0; a < 3; a++)
        com[a] += offset[a];
    lrsa__apply4(affine, com, xyz);
done:
    free(map);
    free(mask);
    free(sub);
    free(submask);
    return rc;
}

/* ===== the fast path ==================================================== */
#define NP_CHUNK 8192   /* numpy's ufunc buffer: lrsa__np_sum_* chunking */
#define PW_LEAF 128     /* numpy's pairwise block */

/* Append run [k0, k) to the workspace's run list, growing it. */
static int push_run(lrsa_render_work *w, lrsa__run **runs, int64_t *cap, int64_t *nr, int64_t k0,
                    int64_t k, lrsa_err *err)
{
    if (*nr == *cap) {
        int64_t nc = *cap < 1024 ? 1024 : 2 * *cap;
        lrsa__run *nrun = lrsa_realloc(*runs, (size_t)nc * sizeof *nrun, "component runs", err);
        if (!nrun)
            return LRSA_ENOMEM;
        w->b[LRSA__W_RUNS].p = *runs = nrun;
        w->b[LRSA__W_RUNS].cap = (size_t)nc * sizeof *nrun;
        *cap = nc;
    }
    (*runs)[*nr].start = (int32_t)k0;
    (*runs)[*nr].end = (int32_t)k;
    (*nr)++;
    return LRSA_OK;
}

/* Runs of |a| > thr along the fastest axis of a C-order box (lines of len elements, nlines of
 * them): runs in raster order, lines[l] = index of line l's first run (lines[nlines] = total). */
static int find_runs(lrsa_render_work *w, const float *a, int64_t nlines, int64_t len, float thr,
                     int64_t *nruns, lrsa_err *err)
{
    int32_t *lines = lrsa__buf_get(&w->b[LRSA__W_LINES], (size_t)(nlines + 1) * sizeof *lines,
                                   "component runs", err);
    if (!lines)
        return LRSA_ENOMEM;
    int64_t cap = (int64_t)(w->b[LRSA__W_RUNS].cap / sizeof(lrsa__run)), nr = 0;
    lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    for (int64_t l = 0; l < nlines; l++) {
        lines[l] = (int32_t)nr;
        const float *row = a + l * len;
        /* 64 voxels at a time: a bit mask, then its run starts and ends by bit scanning */
        int64_t open = -1;   /* start of the run in progress */
        uint64_t carry = 0;  /* the mask bit of the voxel before this word */
        for (int64_t base = 0; base < len; base += 64) {
            int cnt = len - base < 64 ? (int)(len - base) : 64;
            uint64_t m = 0;
            for (int t = 0; t < cnt; t++)
                m |= (uint64_t)(fabsf(row[base + t]) > thr) << t;
            uint64_t prev = (m << 1) | carry;
            uint64_t st = m & ~prev, en = ~m & prev;
            en &= cnt < 64 ? ((uint64_t)2 << cnt) - 1 : ~(uint64_t)0;   /* bit cnt: the end */
            carry = cnt == 64 ? m >> 63 : 0;
            for (uint64_t ev = st | en; ev; ev &= ev - 1) {
                int t = __builtin_ctzll(ev);
                if (st >> t & 1) {
                    open = base + t;
                    continue;
                }
                int64_t k0 = open, k = base + t;
                open = -1;
                if (push_run(w, &runs, &cap, &nr, k0, k, err))
                    return LRSA_ENOMEM;
            }
        }
        if (open >= 0 && push_run(w, &runs, &cap, &nr, open, len, err))
            return LRSA_ENOMEM;   /* a run up to the end of the line */
    }
    lines[nlines] = (int32_t)nr;
    *nruns = nr;
    return LRSA_OK;
}

/* Union the runs of line a with the overlapping runs of line b (an earlier line). */
static void merge_lines(const lrsa__run *runs, const int32_t *lines, int64_t a, int64_t b,
                        int32_t *parent)
{
    int32_t p = lines[a], pe = lines[a + 1], q = lines[b], qe = lines[b + 1];
    while (p < pe && q < qe) {
        if (runs[q].end <= runs[p].start) {
            q++;
        } else if (runs[p].end <= runs[q].start) {
            p++;
        } else {
            uf_union(parent, p, q);
            if (runs[p].end < runs[q].end)
                p++;
            else
                q++;
        }
    }
}

/* scipy.ndimage.label (6-connectivity) on the runs of a box (dims n, C order), then the largest
 * component (ties: the one whose first voxel comes first in C order, i.e. the smallest root,
 * since runs are numbered in raster order and the smallest index stays the root). Returns the
 * root in *best, or -1 when there are no runs; parent[] holds the roots. */
static int largest_run_component(lrsa_render_work *w, const int64_t n[3], int64_t nruns,
                                 int32_t *best, int64_t *best_size, lrsa_err *err)
{
    *best = -1;
    *best_size = 0;
    if (nruns == 0)
        return LRSA_OK;
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    const int32_t *lines = w->b[LRSA__W_LINES].p;
    int32_t *parent = lrsa__buf_get(&w->b[LRSA__W_PARENT], (size_t)nruns * sizeof *parent,
                                    "component labels", err);
    int64_t *size = lrsa__buf_get(&w->b[LRSA__W_SIZE], (size_t)nruns * sizeof *size,
                                  "component sizes", err);
    if (!parent || !size)
        return LRSA_ENOMEM;
    for (int64_t r = 0; r < nruns; r++)
        parent[r] = (int32_t)r;
    for (int64_t i = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++) {
            int64_t l = i * n[1] + j;
            if (lines[l] == lines[l + 1])
                continue;
            if (j > 0)
                merge_lines(runs, lines, l, l - 1, parent);
            if (i > 0)
                merge_lines(runs, lines, l, l - n[1], parent);
        }
    for (int64_t r = 0; r < nruns; r++) {
        parent[r] = uf_find(parent, (int32_t)r);
        size[r] = 0;
    }
    for (int64_t r = 0; r < nruns; r++)
        size[parent[r]] += runs[r].end - runs[r].start;
    for (int64_t r = 0; r < nruns; r++)
        if (parent[r] == r && size[r] > *best_size) {
            *best_size = size[r];
            *best = (int32_t)r;
        }
    return LRSA_OK;
}

/* The bounding box (find_objects) of component `best` of the runs of a box with dims n. */
static void component_box(const lrsa_render_work *w, const int64_t n[3], int32_t best, box3 *b)
{
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    const int32_t *lines = w->b[LRSA__W_LINES].p, *parent = w->b[LRSA__W_PARENT].p;
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    for (int64_t i = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++) {
            int64_t l = i * n[1] + j;
            for (int32_t r = lines[l]; r < lines[l + 1]; r++) {
                if (parent[r] != best)
                    continue;
                lo[0] = i < lo[0] ? i : lo[0];
                hi[0] = i;
                lo[1] = j < lo[1] ? j : lo[1];
                hi[1] = j > hi[1] ? j : hi[1];
                lo[2] = runs[r].start < lo[2] ? runs[r].start : lo[2];
                hi[2] = runs[r].end - 1 > hi[2] ? runs[r].end - 1 : hi[2];
            }
        }
    for (int a = 0; a < 3; a++) {
        b->lo[a] = lo[a];
        b->n[a] = hi[a] - lo[a] + 1;
    }
}

/* dst (box b of src's grid n, C order) = src where component `best` is, else 0; the component's
 * values in C order go to vals (if not NULL). Returns how many. */
static int64_t extract_component(const lrsa_render_work *w, const float *src, const int64_t n[3],
                                 int32_t best, const box3 *b, float *dst, float *vals)
{
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    const int32_t *lines = w->b[LRSA__W_LINES].p, *parent = w->b[LRSA__W_PARENT].p;
    int64_t cnt = 0;
    memset(dst, 0, (size_t)(b->n[0] * b->n[1] * b->n[2]) * sizeof *dst);
    for (int64_t i = b->lo[0]; i < b->lo[0] + b->n[0]; i++)
        for (int64_t j = b->lo[1]; j < b->lo[1] + b->n[1]; j++) {
            int64_t l = i * n[1] + j;
            const float *srow = src + l * n[2];
            float *drow = dst + ((i - b->lo[0]) * b->n[1] + (j - b->lo[1])) * b->n[2] - b->lo[2];
            for (int32_t r = lines[l]; r < lines[l + 1]; r++) {
                if (parent[r] != best)
                    continue;
                size_t len = (size_t)(runs[r].end - runs[r].start);
                memcpy(drow + runs[r].start, srow + runs[r].start, len * sizeof *drow);
                if (vals) {
                    memcpy(vals + cnt, srow + runs[r].start, len * sizeof *vals);
                    cnt += (int64_t)len;
                }
            }
        }
    return cnt;
}

/* center_of_mass(|a|) over a C-order box of dims n in one pass: numpy's float32 sum of |a| and
 * its three float64 sums of |a| * index, with exactly the chunking and pairwise grouping of
 * lrsa__np_sum_f32 / lrsa__np_sum_f64 (the terms are formed on the fly instead of stored).
 * Blocks of zeros add exact zeros and are skipped. */
typedef struct com_sums { float s; double m[3]; } com_sums;

static com_sums com_leaf(const float *a, int64_t p0, int64_t n, const int64_t dims[3])
{
    com_sums out = { 0, { 0, 0, 0 } };
    float v[PW_LEAF];
    double x[3][PW_LEAF];
    int nz = 1;
    for (int64_t t = 0; t < n; t++) {
        v[t] = fabsf(a[t]);
        nz &= v[t] == 0.0f;
    }
    if (nz)
        return out;   /* +0 everywhere, as the sums of +0 give */
    int64_t k = p0 % dims[2], q = p0 / dims[2], j = q % dims[1], i = q / dims[1];
    for (int64_t t = 0; t < n; t++) {
        x[0][t] = (double)v[t] * (double)i;
        x[1][t] = (double)v[t] * (double)j;
        x[2][t] = (double)v[t] * (double)k;
        if (++k == dims[2]) {
            k = 0;
            if (++j == dims[1]) {
                j = 0;
                i++;
            }
        }
    }
    if (n < 8) {
        for (int64_t t = 0; t < n; t++) {
            out.s += v[t];
            for (int d = 0; d < 3; d++)
                out.m[d] += x[d][t];
        }
        return out;
    }
    float r[8];
    double rd[3][8];
    int64_t t;
    for (int c = 0; c < 8; c++) {
        r[c] = v[c];
        for (int d = 0; d < 3; d++)
            rd[d][c] = x[d][c];
    }
    for (t = 8; t < n - (n % 8); t += 8)
        for (int c = 0; c < 8; c++) {
            r[c] += v[t + c];
            for (int d = 0; d < 3; d++)
                rd[d][c] += x[d][t + c];
        }
    out.s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (int d = 0; d < 3; d++)
        out.m[d] = ((rd[d][0] + rd[d][1]) + (rd[d][2] + rd[d][3])) +
                   ((rd[d][4] + rd[d][5]) + (rd[d][6] + rd[d][7]));
    for (; t < n; t++) {
        out.s += v[t];
        for (int d = 0; d < 3; d++)
            out.m[d] += x[d][t];
    }
    return out;
}

static com_sums com_pairwise(const float *a, int64_t p0, int64_t n, const int64_t dims[3])
{
    if (n <= PW_LEAF)
        return com_leaf(a, p0, n, dims);
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    com_sums l = com_pairwise(a, p0, n2, dims), r = com_pairwise(a + n2, p0 + n2, n - n2, dims);
    l.s = l.s + r.s;
    for (int d = 0; d < 3; d++)
        l.m[d] = l.m[d] + r.m[d];
    return l;
}

static void center_of_mass_fused(const float *a, const int64_t n[3], double com[3])
{
    int64_t total = n[0] * n[1] * n[2];
    float s = 0;
    double m[3] = { 0, 0, 0 };
    for (int64_t p = 0; p < total; p += NP_CHUNK) {
        com_sums c = com_pairwise(a + p, p, total - p < NP_CHUNK ? total - p : NP_CHUNK, n);
        s += c.s;
        for (int d = 0; d < 3; d++)
            m[d] += c.m[d];
    }
    for (int d = 0; d < 3; d++)
        com[d] = m[d] / (double)s;
}

int lrsa__cut_coords_work(lrsa_render_work *w, const float *vol, const int64_t dims[3],
                          const double affine[4][4], double threshold, double xyz[3], lrsa_err *err)
{
    int64_t total = dims[0] * dims[1] * dims[2];
    int64_t first = 0;
    while (first < total && vol[first] == 0.0f)
        first++;
    if (first == total) {   /* DEFAULT_CUT_COORDS (0, 0, 0) through the affine */
        const double zero[3] = { 0, 0, 0 };
        lrsa__apply4(affine, zero, xyz);
        return LRSA_OK;
    }
    const int64_t n[3] = { dims[0], dims[1], dims[2] };
    double offset[3] = { 0, 0, 0 }, com[3];
    float *map = lrsa__buf_get(&w->b[LRSA__W_MAP], (size_t)total * sizeof *map, "cut coordinates", err);
    if (!map)
        return LRSA_ENOMEM;
    for (int64_t j = 0; j < n[1]; j++)                /* to C order, in 16 x 16 tiles */
        for (int64_t i0 = 0; i0 < n[0]; i0 += 16)
            for (int64_t k0 = 0; k0 < n[2]; k0 += 16) {
                int64_t i1 = i0 + 16 < n[0] ? i0 + 16 : n[0], k1 = k0 + 16 < n[2] ? k0 + 16 : n[2];
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t k = k0; k < k1; k++)
                        map[(i * n[1] + j) * n[2] + k] = vol[i + n[0] * (j + n[1] * k)];
            }
    /* mask = |map| > thr - 2 eps, compared in float32 as numpy does with a Python float */
    float thr1 = (float)(threshold - 2 * DBL_EPSILON);
    int64_t nruns, size1;
    int32_t best;
    int rc;
    if ((rc = find_runs(w, map, n[0] * n[1], n[2], thr1, &nruns, err)))
        return rc;
    if (nruns == 0) {   /* "all voxels were masked by the thresholding": centre of mass of all */
        center_of_mass_fused(map, n, com);
        goto transform;
    }
    if ((rc = largest_run_component(w, n, nruns, &best, &size1, err)))
        return rc;
    box3 b;
    component_box(w, n, best, &b);
    int64_t sn = b.n[0] * b.n[1] * b.n[2];
    float *sub = lrsa__buf_get(&w->b[LRSA__W_SUB], (size_t)sn * sizeof *sub, "cut coordinates", err);
    float *vals = lrsa__buf_get(&w->b[LRSA__W_VALS], (size_t)size1 * sizeof *vals,
                                "cut coordinates", err);
    if (!sub || !vals)
        return LRSA_ENOMEM;
    int64_t cnt = extract_component(w, map, n, best, &b, sub, vals);
    for (int a = 0; a < 3; a++)
        offset[a] += (double)b.lo[a];
    /* second_threshold = |mean(my_map[mask])|: float32 sum, divided in double, back to float32 */
    float thr2 = fabsf((float)((double)lrsa__np_sum_f32(vals, cnt) / (double)cnt));
    if ((rc = find_runs(w, sub, b.n[0] * b.n[1], b.n[2], thr2, &nruns, err)))
        return rc;
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    int64_t above = 0;
    for (int64_t r = 0; r < nruns; r++)
        above += runs[r].end - runs[r].start;
    const float *final = sub;
    if (above > 50) {
        int64_t size2;
        if ((rc = largest_run_component(w, b.n, nruns, &best, &size2, err)))
            return rc;
        float *sub2 = lrsa__buf_get(&w->b[LRSA__W_SUB2], (size_t)sn * sizeof *sub2,
                                    "cut coordinates", err);
        if (!sub2)
            return LRSA_ENOMEM;
        box3 whole = { { 0, 0, 0 }, { b.n[0], b.n[1], b.n[2] } };
        extract_component(w, sub, b.n, best, &whole, sub2, NULL);
        final = sub2;
    }
    center_of_mass_fused(final, b.n, com);
transform:
    for (int a = 0; a < 3; a++)
        com[a] += offset[a];
    lrsa__apply4(affine, com, xyz);
    return LRSA_OK;
}

int lrsa_render_cut_coords(const float *vol, const int64_t dims[3], const double affine[4][4],
                           double threshold, double xyz[3], lrsa_err *err)
{
    lrsa_render_work *w = NULL;
    int rc = lrsa_render_work_new(&w, err);
    if (!rc)
        rc = lrsa__cut_coords_work(w, vol, dims, affine, threshold, xyz, err);
    lrsa_render_work_free(w);
    return rc;
}
