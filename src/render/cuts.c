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

/* ===== the fast path ====================================================
 * The first labelling runs on the volume as it is stored (x fastest): runs along x, so the
 * whole volume is never reordered. Only the largest component's box is put in C order, because
 * numpy's sums (the mean for the second threshold, the centre of mass) add in that order. */
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

/* Bit t of the result: |row[t]| > thr (float32), for t < cnt <= 64. */
static uint64_t above_bits_base(const float *row, int cnt, float thr)
{
    uint64_t m = 0;
    for (int t = 0; t < cnt; t++)
        m |= (uint64_t)(fabsf(row[t]) > thr) << t;
    return m;
}

#ifdef LRSA_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) static uint64_t above_bits_avx2(const float *row, int cnt, float thr)
{
    const __m256 t8 = _mm256_set1_ps(thr), sign = _mm256_set1_ps(-0.0f);
    uint64_t m = 0;
    int t = 0;
    for (; t + 8 <= cnt; t += 8) {
        __m256 x = _mm256_andnot_ps(sign, _mm256_loadu_ps(row + t));
        m |= (uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(x, t8, _CMP_GT_OQ)) << t;
    }
    for (; t < cnt; t++)
        m |= (uint64_t)(fabsf(row[t]) > thr) << t;
    return m;
}
#endif

/* Runs of |a| > thr along the fastest axis (lines of len contiguous elements, nlines of them):
 * runs in raster order, lines[l] = index of line l's first run (lines[nlines] = total). */
static int find_runs(lrsa_render_work *w, const float *a, int64_t nlines, int64_t len, float thr,
                     int64_t *nruns, lrsa_err *err)
{
    int32_t *lines = lrsa__buf_get(&w->b[LRSA__W_LINES], (size_t)(nlines + 1) * sizeof *lines,
                                   "component runs", err);
    if (!lines)
        return LRSA_ENOMEM;
    uint64_t (*bits)(const float *, int, float) = above_bits_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2())
        bits = above_bits_avx2;
#endif
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
            uint64_t m = bits(row + base, cnt, thr);
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

/* Join run q's set to the set whose root is `root`; the smaller root stays (so every parent is
 * smaller than its child). Returns the root of the union. */
static inline int32_t uf_join(int32_t *parent, int32_t root, int32_t q)
{
    int32_t rq = uf_find(parent, q);
    if (rq == root)
        return root;
    if (rq < root) {
        parent[root] = rq;
        return rq;
    }
    parent[rq] = root;
    return root;
}

/* Union each run of line l with the runs it overlaps in the earlier lines b1 and b2 (-1: none).
 * A run of l is still alone when its turn comes (later lines have not been merged), so its
 * root is kept in a register; the neighbours' runs are walked once, in order. */
static void merge_line(const lrsa__run *runs, const int32_t *lines, int64_t l, int64_t b1,
                       int64_t b2, int32_t *parent)
{
    int32_t q1 = b1 >= 0 ? lines[b1] : 0, e1 = b1 >= 0 ? lines[b1 + 1] : 0;
    int32_t q2 = b2 >= 0 ? lines[b2] : 0, e2 = b2 >= 0 ? lines[b2 + 1] : 0;
    for (int32_t p = lines[l]; p < lines[l + 1]; p++) {
        const int32_t start = runs[p].start, end = runs[p].end;
        int32_t root = p;
        while (q1 < e1 && runs[q1].end <= start)
            q1++;
        for (int32_t q = q1; q < e1 && runs[q].start < end; q++)
            root = uf_join(parent, root, q);
        while (q2 < e2 && runs[q2].end <= start)
            q2++;
        for (int32_t q = q2; q < e2 && runs[q].start < end; q++)
            root = uf_join(parent, root, q);
    }
}

/* scipy.ndimage.label (6-connectivity) on runs, then the largest component. The lines form an
 * nouter x ninner grid (line l = o * ninner + i; its neighbours are lines l - 1 and l - ninner).
 * Ties go to the component whose first voxel comes first in C order: with xdims NULL the runs
 * are along the C-order fastest axis, so raster order is C order and that is the smallest root
 * (runs are numbered in raster order and the smallest index stays the root); with xdims (the
 * volume's x, y, z sizes) the runs are along x of an x-fastest volume (outer z, inner y) and
 * the runs' C-order indices decide. Returns the root in *best, or -1 when there are no runs;
 * parent[] holds the roots. */
static int largest_run_component(lrsa_render_work *w, int64_t nouter, int64_t ninner,
                                 const int64_t *xdims, int64_t nruns, int32_t *best,
                                 int64_t *best_size, lrsa_err *err)
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
    for (int64_t o = 0; o < nouter; o++)
        for (int64_t i = 0; i < ninner; i++) {
            int64_t l = o * ninner + i;
            if (lines[l] != lines[l + 1])
                merge_line(runs, lines, l, i > 0 ? l - 1 : -1, o > 0 ? l - ninner : -1, parent);
        }
    for (int64_t r = 0; r < nruns; r++) {   /* parents are smaller: one step reaches the root */
        parent[r] = parent[parent[r]];
        size[r] = 0;
    }
    for (int64_t r = 0; r < nruns; r++)
        size[parent[r]] += runs[r].end - runs[r].start;
    int64_t ties = 0;
    for (int64_t r = 0; r < nruns; r++)
        if (parent[r] == r && size[r] >= *best_size) {
            ties = size[r] == *best_size ? ties + 1 : 1;
            if (size[r] > *best_size || *best < 0)
                *best = (int32_t)r;
            *best_size = size[r];
        }
    if (ties > 1 && xdims) {   /* the tied component holding the first voxel in C order */
        int64_t first = INT64_MAX;
        for (int64_t l = 0; l < nouter * ninner; l++)
            for (int32_t r = lines[l]; r < lines[l + 1]; r++) {
                if (size[parent[r]] != *best_size)
                    continue;
                int64_t j = l % ninner, k = l / ninner;
                int64_t key = ((int64_t)runs[r].start * xdims[1] + j) * xdims[2] + k;
                if (key < first) {
                    first = key;
                    *best = parent[r];
                }
            }
    }
    return LRSA_OK;
}

/* The bounding box (find_objects) of component `best` of the x runs of an x-fastest volume. */
static void component_box_x(const lrsa_render_work *w, const int64_t n[3], int32_t best, box3 *b)
{
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    const int32_t *lines = w->b[LRSA__W_LINES].p, *parent = w->b[LRSA__W_PARENT].p;
    int64_t lo[3] = { n[0], n[1], n[2] }, hi[3] = { -1, -1, -1 };
    for (int64_t k = 0; k < n[2]; k++)
        for (int64_t j = 0; j < n[1]; j++) {
            int64_t l = k * n[1] + j;
            for (int32_t r = lines[l]; r < lines[l + 1]; r++) {
                if (parent[r] != best)
                    continue;
                lo[0] = runs[r].start < lo[0] ? runs[r].start : lo[0];
                hi[0] = runs[r].end - 1 > hi[0] ? runs[r].end - 1 : hi[0];
                lo[1] = j < lo[1] ? j : lo[1];
                hi[1] = j > hi[1] ? j : hi[1];
                lo[2] = k < lo[2] ? k : lo[2];
                hi[2] = k;
            }
        }
    for (int a = 0; a < 3; a++) {
        b->lo[a] = lo[a];
        b->n[a] = hi[a] - lo[a] + 1;
    }
}

/* Set bits [a, b) of a bit array. */
static void set_bits(uint64_t *bits, int64_t a, int64_t b)
{
    if (a < b && (a >> 6) == ((b - 1) >> 6)) {   /* within one word */
        int s = (int)(a & 63), e = (int)((b - 1) & 63) + 1;
        bits[a >> 6] |= (e == 64 ? ~(uint64_t)0 : ((uint64_t)1 << e) - 1) & (~(uint64_t)0 << s);
        return;
    }
    while (a < b) {
        int64_t q = a >> 6, s = a & 63, e = b - (q << 6) < 64 ? b - (q << 6) : 64;
        uint64_t m = (e == 64 ? ~(uint64_t)0 : ((uint64_t)1 << e) - 1) & (~(uint64_t)0 << s);
        bits[q] |= m;
        a = (q + 1) << 6;
    }
}

/* Bit arrays of the voxels of component `best`: voxel x of line l at bit l * stride + x - x0
 * (stride a multiple of 64 for lines of their own words, or the line length for one packed
 * array); x0 <= every run start of the component. */
static uint64_t *component_bits(lrsa_render_work *w, int64_t nlines, int64_t stride, int64_t x0,
                                int32_t best, lrsa_err *err)
{
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    const int32_t *lines = w->b[LRSA__W_LINES].p, *parent = w->b[LRSA__W_PARENT].p;
    size_t words = (size_t)((nlines * stride + 63) / 64) + 1;
    uint64_t *bits = lrsa__buf_get(&w->b[LRSA__W_KEEP], words * sizeof *bits, "component mask", err);
    if (!bits)
        return NULL;
    memset(bits, 0, words * sizeof *bits);
    for (int64_t l = 0; l < nlines; l++)
        for (int32_t r = lines[l]; r < lines[l + 1]; r++)
            if (parent[r] == best)
                set_bits(bits, l * stride + runs[r].start - x0, l * stride + runs[r].end - x0);
    return bits;
}

/* dst (box b of an x-fastest volume src of dims n, in C order: z fastest) = src where `keep`
 * has the voxel (bit x - b->lo[0] of line j + n[1] * k, lines of wx words), else 0; keep NULL:
 * every voxel. */
static void to_c_order_base(const float *src, const int64_t n[3], const box3 *b,
                            const uint64_t *keep, int64_t wx, float *dst)
{
    const int64_t bx = b->n[0], by = b->n[1], bz = b->n[2];
    for (int64_t j = 0; j < by; j++)                /* in 16 x 16 tiles */
        for (int64_t i0 = 0; i0 < bx; i0 += 16)
            for (int64_t k0 = 0; k0 < bz; k0 += 16) {
                int64_t i1 = i0 + 16 < bx ? i0 + 16 : bx, k1 = k0 + 16 < bz ? k0 + 16 : bz;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t k = k0; k < k1; k++) {
                        int64_t line = (b->lo[1] + j) + n[1] * (b->lo[2] + k), x = b->lo[0] + i;
                        float v = src[x + n[0] * line];
                        if (keep && !(keep[line * wx + (i >> 6)] >> (i & 63) & 1))
                            v = 0.0f;
                        dst[(i * by + j) * bz + k] = v;
                    }
            }
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same with 8 x 8 blocks transposed in registers: 8 z planes are read along x (masked by
 * 8 bits of their lines: byte i0 / 8 of the line's words) and written as 8 z values per (x, y).
 * Eight y at a time: what is read (8 short runs of rows, one per plane) streams, and what is
 * written (the z rows of those (x, y)) stays in cache until it is whole. */
__attribute__((target("avx2"))) static void to_c_order_avx2(const float *src, const int64_t n[3],
                                                             const box3 *b, const uint64_t *keep,
                                                             int64_t wx, float *dst)
{
    const int64_t nx = n[0], ny = n[1], plane = nx * ny;
    const int64_t bx = b->n[0], by = b->n[1], bz = b->n[2], ds = by * bz;   /* ds: next x */
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    for (int64_t j0 = 0; j0 < by; j0 += 8)
        for (int64_t k0 = 0; k0 + 8 <= bz; k0 += 8)
            for (int64_t j = j0; j < j0 + 8 && j < by; j++) {
                const int64_t line0 = (b->lo[1] + j) + ny * (b->lo[2] + k0);   /* line of row 0 */
                const float *s = src + nx * line0 + b->lo[0];
                const uint8_t *kb = keep ? (const uint8_t *)(keep + line0 * wx) : NULL;
                const int64_t kstride = ny * wx * 8;   /* bytes from a line's bits to the next z's */
                int64_t i0 = 0;
                for (; i0 + 8 <= bx; i0 += 8) {
                    __m256 r[8];
                    unsigned any = keep ? 0 : 1;
                    for (int q = 0; q < 8; q++) {
                        r[q] = _mm256_loadu_ps(s + q * plane + i0);
                        if (kb) {
                            unsigned m = kb[q * kstride + i0 / 8];
                            __m256i mq = _mm256_and_si256(_mm256_set1_epi32((int)m), sel);
                            r[q] = _mm256_and_ps(r[q], _mm256_castsi256_ps(_mm256_cmpeq_epi32(mq, sel)));
                            any |= m;
                        }
                    }
                    float *d = dst + (i0 * by + j) * bz + k0;
                    if (!any) {
                        for (int q = 0; q < 8; q++)
                            _mm256_storeu_ps(d + q * ds, _mm256_setzero_ps());
                        continue;
                    }
                    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
                    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
                    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
                    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
                    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
                    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
                    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
                    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
                    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
                    _mm256_storeu_ps(d + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
                    _mm256_storeu_ps(d + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
                    _mm256_storeu_ps(d + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
                    _mm256_storeu_ps(d + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
                    _mm256_storeu_ps(d + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
                    _mm256_storeu_ps(d + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
                    _mm256_storeu_ps(d + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
                }
                for (; i0 < bx; i0++)   /* the last bx % 8 columns */
                    for (int q = 0; q < 8; q++) {
                        int64_t line = line0 + q * ny;
                        float v = src[b->lo[0] + i0 + nx * line];
                        if (keep && !(keep[line * wx + (i0 >> 6)] >> (i0 & 63) & 1))
                            v = 0.0f;
                        dst[(i0 * by + j) * bz + k0 + q] = v;
                    }
            }
    for (int64_t k = bz & ~(int64_t)7; k < bz; k++)   /* the last bz % 8 planes */
        for (int64_t j = 0; j < by; j++) {
            int64_t line = (b->lo[1] + j) + ny * (b->lo[2] + k);
            for (int64_t i = 0; i < bx; i++) {
                float v = src[b->lo[0] + i + nx * line];
                if (keep && !(keep[line * wx + (i >> 6)] >> (i & 63) & 1))
                    v = 0.0f;
                dst[(i * by + j) * bz + k] = v;
            }
        }
}
#endif

static void to_c_order(const float *src, const int64_t n[3], const box3 *b, const uint64_t *keep,
                       int64_t wx, float *dst)
{
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2()) {
        to_c_order_avx2(src, n, b, keep, wx, dst);
        return;
    }
#endif
    to_c_order_base(src, n, b, keep, wx, dst);
}

/* The nonzero elements of a[0 .. n) in order into out (which has 8 elements of slack); how
 * many. */
static int64_t nonzeros_base(const float *a, int64_t n, float *out)
{
    int64_t cnt = 0;
    for (int64_t p = 0; p < n; p++) {
        out[cnt] = a[p];
        cnt += a[p] != 0.0f;
    }
    return cnt;
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* Four at a time: the nonzero lanes moved to the front by a permutation looked up from their
 * mask, then all four stored and the count advanced by the number kept. */
__attribute__((target("avx2"))) static int64_t nonzeros_avx2(const float *a, int64_t n, float *out)
{
    __m128i perm[16];
    for (int m = 0; m < 16; m++) {
        int idx[4] = { 0, 0, 0, 0 }, c = 0;
        for (int l = 0; l < 4; l++)
            if (m >> l & 1)
                idx[c++] = l;
        perm[m] = _mm_setr_epi32(idx[0], idx[1], idx[2], idx[3]);
    }
    int64_t cnt = 0, p = 0;
    for (; p + 4 <= n; p += 4) {
        __m128 v = _mm_loadu_ps(a + p);
        int m = _mm_movemask_ps(_mm_cmpneq_ps(v, _mm_setzero_ps()));
        _mm_storeu_ps(out + cnt, _mm_permutevar_ps(v, perm[m]));
        cnt += __builtin_popcount((unsigned)m);
    }
    for (; p < n; p++) {
        out[cnt] = a[p];
        cnt += a[p] != 0.0f;
    }
    return cnt;
}
#endif

static int64_t nonzeros(const float *a, int64_t n, float *out)
{
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2())
        return nonzeros_avx2(a, n, out);
#endif
    return nonzeros_base(a, n, out);
}

/* center_of_mass(|a| where keep) over a C-order box of dims n in one pass: numpy's float32 sum
 * of |a| and its three float64 sums of |a| * index, with exactly the chunking and pairwise
 * grouping of lrsa__np_sum_f32 / lrsa__np_sum_f64 (the terms are formed on the fly instead of
 * stored). keep (bit p for element p; NULL: all) stands for the array with the other elements
 * set to 0, as scipy's input. A leaf of the pairwise tree keeps 8 partial sums, term t going
 * to sum t % 8; leaves start at multiples of 8. Every term is >= +0, so groups of zeros add
 * exact zeros and are skipped. */
typedef struct com_sums { float s; double m[3]; } com_sums;

static inline int kept(const uint64_t *keep, int64_t p)
{
    return !keep || (keep[p >> 6] >> (p & 63) & 1);
}

/* A leaf one term at a time (the reference, and leaves of fewer than 16 terms). */
static com_sums com_leaf_scalar(const float *a, const uint64_t *keep, int64_t p0, int64_t n,
                                const int64_t dims[3])
{
    com_sums out = { 0, { 0, 0, 0 } };
    float v[PW_LEAF];
    double x[3][PW_LEAF];
    int64_t k = p0 % dims[2], q = p0 / dims[2], j = q % dims[1], i = q / dims[1];
    for (int64_t t = 0; t < n; t++) {
        v[t] = kept(keep, p0 + t) ? fabsf(a[t]) : 0.0f;
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

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same leaf with the 8 partial sums in vectors (the float64 ones in lanes 0-3 and 4-7).
 * The index of a group's first term is stepped along (z by 8, carried into y and x); the
 * lanes' indices are made (as exact doubles) only for groups that add something. The same
 * operations per term, in the same order per partial sum. */
__attribute__((target("avx2"))) static com_sums com_leaf_avx2(const float *a, const uint64_t *keep,
                                                              int64_t p0, int64_t n,
                                                              const int64_t dims[3])
{
    if (n < 16)
        return com_leaf_scalar(a, keep, p0, n, dims);
    const int64_t nz = dims[2], ny = dims[1];
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256d step0 = _mm256_setr_pd(0, 1, 2, 3), step1 = _mm256_setr_pd(4, 5, 6, 7);
    __m256d m[3][2];
    for (int d = 0; d < 3; d++)
        m[d][0] = m[d][1] = _mm256_setzero_pd();
    __m256 r = _mm256_setzero_ps();
    int64_t k = p0 % nz, q0 = p0 / nz, j = q0 % ny, i = q0 / ny;   /* of the group's first term */
    int64_t t, tend = n - (n % 8);
    for (t = 0; t < tend; t += 8) {
        unsigned kb = keep ? (unsigned)(keep[(p0 + t) >> 6] >> ((p0 + t) & 63)) & 0xff : 0xff;
        __m256 v = _mm256_setzero_ps();
        if (kb) {
            v = _mm256_and_ps(_mm256_loadu_ps(a + t), absm);
            if (kb != 0xff) {
                __m256i mq = _mm256_and_si256(_mm256_set1_epi32((int)kb), sel);
                v = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(mq, sel)));
            }
        }
        if (kb && _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_OQ))) {
            __m256d I[2], J[2], K[2];
            if (k + 7 < nz) {   /* the group within one z line */
                I[0] = I[1] = _mm256_set1_pd((double)i);
                J[0] = J[1] = _mm256_set1_pd((double)j);
                K[0] = _mm256_add_pd(_mm256_set1_pd((double)k), step0);
                K[1] = _mm256_add_pd(_mm256_set1_pd((double)k), step1);
            } else {
                double ix[8], jx[8], kx[8];
                for (int c = 0, ci = (int)i, cj = (int)j, ck = (int)k; c < 8; c++) {
                    ix[c] = ci;
                    jx[c] = cj;
                    kx[c] = ck;
                    if (++ck == nz) {
                        ck = 0;
                        if (++cj == ny) {
                            cj = 0;
                            ci++;
                        }
                    }
                }
                for (int h = 0; h < 2; h++) {
                    I[h] = _mm256_loadu_pd(ix + 4 * h);
                    J[h] = _mm256_loadu_pd(jx + 4 * h);
                    K[h] = _mm256_loadu_pd(kx + 4 * h);
                }
            }
            r = _mm256_add_ps(r, v);
            __m256d vd[2] = { _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                              _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)) };
            for (int h = 0; h < 2; h++) {
                m[0][h] = _mm256_add_pd(m[0][h], _mm256_mul_pd(vd[h], I[h]));
                m[1][h] = _mm256_add_pd(m[1][h], _mm256_mul_pd(vd[h], J[h]));
                m[2][h] = _mm256_add_pd(m[2][h], _mm256_mul_pd(vd[h], K[h]));
            }
        }
        for (k += 8; k >= nz;) {   /* the next group: 8 further along z */
            k -= nz;
            if (++j == ny) {
                j = 0;
                i++;
            }
        }
    }
    float rs[8];
    double ms[3][8];
    _mm256_storeu_ps(rs, r);
    for (int d = 0; d < 3; d++) {
        _mm256_storeu_pd(ms[d], m[d][0]);
        _mm256_storeu_pd(ms[d] + 4, m[d][1]);
    }
    com_sums out;
    out.s = ((rs[0] + rs[1]) + (rs[2] + rs[3])) + ((rs[4] + rs[5]) + (rs[6] + rs[7]));
    for (int d = 0; d < 3; d++)
        out.m[d] = ((ms[d][0] + ms[d][1]) + (ms[d][2] + ms[d][3])) +
                   ((ms[d][4] + ms[d][5]) + (ms[d][6] + ms[d][7]));
    for (int64_t p = p0 + t; t < n; t++, p++) {   /* the last n % 8 terms, one at a time */
        float vt = kept(keep, p) ? fabsf(a[t]) : 0.0f;
        out.s += vt;
        out.m[0] += (double)vt * (double)i;
        out.m[1] += (double)vt * (double)j;
        out.m[2] += (double)vt * (double)k;
        if (++k == nz) {
            k = 0;
            if (++j == ny) {
                j = 0;
                i++;
            }
        }
    }
    return out;
}
#endif

typedef com_sums (*com_leaf_fn)(const float *, const uint64_t *, int64_t, int64_t,
                                const int64_t *);

static com_sums com_pairwise(com_leaf_fn leaf, const float *a, const uint64_t *keep, int64_t p0,
                             int64_t n, const int64_t dims[3])
{
    if (n <= PW_LEAF)
        return leaf(a, keep, p0, n, dims);
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    com_sums l = com_pairwise(leaf, a, keep, p0, n2, dims);
    com_sums r = com_pairwise(leaf, a + n2, keep, p0 + n2, n - n2, dims);
    l.s = l.s + r.s;
    for (int d = 0; d < 3; d++)
        l.m[d] = l.m[d] + r.m[d];
    return l;
}

static void center_of_mass_fused(const float *a, const uint64_t *keep, const int64_t n[3],
                                 double com[3])
{
    com_leaf_fn leaf = com_leaf_scalar;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2())
        leaf = com_leaf_avx2;
#endif
    int64_t total = n[0] * n[1] * n[2];
    float s = 0;
    double m[3] = { 0, 0, 0 };
    for (int64_t p = 0; p < total; p += NP_CHUNK) {
        int64_t cnt = total - p < NP_CHUNK ? total - p : NP_CHUNK;
        com_sums c = com_pairwise(leaf, a + p, keep, p, cnt, n);
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
    /* mask = |map| > thr - 2 eps, compared in float32 as numpy does with a Python float */
    float thr1 = (float)(threshold - 2 * DBL_EPSILON);
    int64_t nruns, size1;
    int32_t best;
    int rc;
    if ((rc = find_runs(w, vol, n[1] * n[2], n[0], thr1, &nruns, err)))
        return rc;
    if (nruns == 0) {   /* "all voxels were masked by the thresholding": centre of mass of all */
        float *map = lrsa__buf_get(&w->b[LRSA__W_SUB], (size_t)total * sizeof *map,
                                   "cut coordinates", err);
        if (!map)
            return LRSA_ENOMEM;
        box3 whole = { { 0, 0, 0 }, { n[0], n[1], n[2] } };
        to_c_order(vol, n, &whole, NULL, 0, map);
        center_of_mass_fused(map, NULL, n, com);
        goto transform;
    }
    if ((rc = largest_run_component(w, n[2], n[1], n, nruns, &best, &size1, err)))
        return rc;
    /* the component in its box, in C order (SUB), zero elsewhere */
    box3 b;
    component_box_x(w, n, best, &b);
    int64_t sn = b.n[0] * b.n[1] * b.n[2], wx = (b.n[0] + 63) / 64;
    float *sub = lrsa__buf_get(&w->b[LRSA__W_SUB], (size_t)sn * sizeof *sub, "cut coordinates", err);
    float *vals = lrsa__buf_get(&w->b[LRSA__W_VALS], (size_t)(size1 + 8) * sizeof *vals,
                                "cut coordinates", err);
    uint64_t *keep = component_bits(w, n[1] * n[2], 64 * wx, b.lo[0], best, err);
    if (!sub || !vals || !keep)
        return LRSA_ENOMEM;
    to_c_order(vol, n, &b, keep, wx, sub);
    for (int a = 0; a < 3; a++)
        offset[a] += (double)b.lo[a];
    /* my_map[mask], in C order: with thr1 >= 0 the component's voxels are exactly the nonzero
     * ones of sub (|v| > thr1 >= 0); with thr1 < 0 every voxel is in it */
    int64_t cnt = 0;
    const float *mvals = vals;
    if (thr1 < 0) {
        mvals = sub;
        cnt = sn;
    } else {
        cnt = nonzeros(sub, sn, vals);
    }
    /* second_threshold = |mean(my_map[mask])|: float32 sum, divided in double, back to float32 */
    float thr2 = fabsf((float)((double)lrsa__np_sum_f32(mvals, cnt) / (double)cnt));
    if ((rc = find_runs(w, sub, b.n[0] * b.n[1], b.n[2], thr2, &nruns, err)))
        return rc;
    const lrsa__run *runs = w->b[LRSA__W_RUNS].p;
    int64_t above = 0;
    for (int64_t r = 0; r < nruns; r++)
        above += runs[r].end - runs[r].start;
    keep = NULL;
    if (above > 50) {   /* the second component, as a bit mask over sub */
        int64_t size2;
        if ((rc = largest_run_component(w, b.n[0], b.n[1], NULL, nruns, &best, &size2, err)))
            return rc;
        if (!(keep = component_bits(w, b.n[0] * b.n[1], b.n[2], 0, best, err)))
            return LRSA_ENOMEM;
    }
    center_of_mass_fused(sub, keep, b.n, com);
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
