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
 * Both labellings work on bit masks of lines (first the volume's x lines, then the box's z
 * lines): W = ceil(len / 64) words a line, bits past the line's end clear. The first labelling
 * runs on the volume as it is stored (x fastest), so the whole volume is never reordered. Only
 * the largest component's box is put in C order, because numpy's sums (the mean for the second
 * threshold, the centre of mass) add in that order. */
#define NP_CHUNK 8192   /* numpy's ufunc buffer: lrsa__np_sum_* chunking */
#define PW_LEAF 128     /* numpy's pairwise block */

static inline int64_t line_words(int64_t len)
{
    return (len + 63) / 64;
}

/* The line masks of nlines lines of len voxels, word w of line l being WORD(l, w, cnt) (cnt: its
 * number of voxels), and lines[l], the number of runs before line l (lines[nlines]: all of
 * them, returned). */
#define LINE_MASKS_BODY(WORD)                                                                     \
    const int64_t W = line_words(len);                                                            \
    int64_t nr = 0;                                                                               \
    for (int64_t l = 0; l < nlines; l++) {                                                        \
        uint64_t *m = masks + l * W, carry = 0;                                                   \
        lines[l] = (int32_t)nr;                                                                   \
        for (int64_t w = 0; w < W; w++) {                                                         \
            int cnt = len - 64 * w < 64 ? (int)(len - 64 * w) : 64;                               \
            uint64_t x = WORD(l, w, cnt);                                                         \
            m[w] = x;                                                                             \
            nr += __builtin_popcountll(x & ~(x << 1 | carry));   /* run starts */                 \
            carry = x >> 63;                                                                      \
        }                                                                                         \
    }                                                                                             \
    lines[nlines] = (int32_t)nr;                                                                  \
    return nr;

/* The masks of |a| > thr, a holding the lines' floats one after the other. ABOVE_BITS(row,
 * cnt, before, thr): bit t for |row[t]| > thr, t < cnt, with `before` elements of the line
 * before row. */
#define FLOAT_WORD(l, w, cnt) ABOVE_BITS(a + (l) * len + 64 * (w), cnt, 64 * (w), thr)

static inline uint64_t above_bits_base(const float *row, int cnt, int64_t before, float thr)
{
    (void)before;
    uint64_t m = 0;
    for (int t = 0; t < cnt; t++)
        m |= (uint64_t)(fabsf(row[t]) > thr) << t;
    return m;
}

static int64_t line_masks_base(const float *a, int64_t nlines, int64_t len, float thr,
                               uint64_t *masks, int32_t *lines)
{
#define ABOVE_BITS above_bits_base
    LINE_MASKS_BODY(FLOAT_WORD)
#undef ABOVE_BITS
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same 8 at a time; the last cnt % 8 from a vector that ends with the word (and starts in
 * the line: the line has 8 elements or more), or one at a time. */
__attribute__((target("avx2"))) static inline uint64_t above_bits_avx2(const float *row, int cnt,
                                                                       int64_t before, float thr)
{
    const __m256 t8 = _mm256_set1_ps(thr), sign = _mm256_set1_ps(-0.0f);
    uint64_t m = 0;
    int t = 0;
    for (; t + 8 <= cnt; t += 8) {
        __m256 x = _mm256_andnot_ps(sign, _mm256_loadu_ps(row + t));
        m |= (uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(x, t8, _CMP_GT_OQ)) << t;
    }
    if (t == cnt)
        return m;
    if (cnt + before >= 8) {
        __m256 x = _mm256_andnot_ps(sign, _mm256_loadu_ps(row + cnt - 8));
        unsigned last8 = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, t8, _CMP_GT_OQ));
        return m | (uint64_t)(last8 >> (8 - (cnt - t))) << t;
    }
    for (; t < cnt; t++)
        m |= (uint64_t)(fabsf(row[t]) > thr) << t;
    return m;
}

__attribute__((target("avx2"))) static int64_t line_masks_avx2(const float *a, int64_t nlines,
                                                               int64_t len, float thr,
                                                               uint64_t *masks, int32_t *lines)
{
#define ABOVE_BITS above_bits_avx2
    LINE_MASKS_BODY(FLOAT_WORD)
#undef ABOVE_BITS
}
#endif

/* The masks from a bit array of the whole volume (bit p: byte p / 8, bit p % 8; lines one
 * after the other; 16 spare bytes), as the finite scan makes it. */
static inline uint64_t flat_word(const uint8_t *bytes, int64_t pos, int cnt)
{
    uint64_t x;
    memcpy(&x, bytes + (pos >> 3), sizeof x);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    int s = (int)(pos & 7);   /* the next byte's low bits fill the top (none when s = 0) */
    x = x >> s | ((uint64_t)bytes[(pos >> 3) + 8] << 1) << (63 - s);
    return cnt < 64 ? x & (((uint64_t)1 << cnt) - 1) : x;
}

#define FLAT_WORD(l, w, cnt) flat_word(above, (l) * len + 64 * (w), cnt)

static int64_t line_masks_flat_base(const uint8_t *above, int64_t nlines, int64_t len,
                                    uint64_t *masks, int32_t *lines)
{
    LINE_MASKS_BODY(FLAT_WORD)
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same with the POPCNT instruction (every AVX2 CPU has it) */
__attribute__((target("avx2"))) static int64_t line_masks_flat_avx2(const uint8_t *above,
                                                                    int64_t nlines, int64_t len,
                                                                    uint64_t *masks,
                                                                    int32_t *lines)
{
    LINE_MASKS_BODY(FLAT_WORD)
}
#endif

/* The runs of the line masks in raster order as bounds: run r is bits [b[2r], b[2r + 1]) of
 * the masks array (line l starts at bit 64 * W * l). A run starts and ends where a bit differs
 * from the one before it, so the changes of a line, in order, are its runs' starts and ends
 * alternately. */
static void run_bounds(const uint64_t *masks, int64_t nlines, int64_t len, int32_t *b)
{
    const int64_t W = line_words(len);
    for (int64_t l = 0; l < nlines; l++) {
        const uint64_t *m = masks + l * W;
        uint64_t carry = 0;
        for (int64_t w = 0; w < W; w++) {
            uint64_t prev = m[w] << 1 | carry;
            carry = m[w] >> 63;
            for (uint64_t ch = m[w] ^ prev; ch; ch &= ch - 1)
                *b++ = (int32_t)(64 * (l * W + w) + __builtin_ctzll(ch));
        }
        if (carry)   /* a run up to the end of the line (len a multiple of 64) */
            *b++ = (int32_t)(64 * (l * W + W));
    }
}

/* Runs of |a| > thr along the fastest axis (lines of len contiguous floats, nlines of them),
 * or of the bit array `above` (flat_word's) when not NULL: the line masks (LRSA__W_MASK, and
 * a zero line after them), lines[l] = index of line l's first run (LRSA__W_LINES) and the run
 * bounds (LRSA__W_RUNS). */
static int find_runs(lrsa_render_work *w, const float *a, const uint8_t *above, int64_t nlines,
                     int64_t len, float thr, int64_t *nruns, lrsa_err *err)
{
    const int64_t W = line_words(len);
    uint64_t *masks = lrsa__buf_get(&w->b[LRSA__W_MASK], (size_t)((nlines + 1) * W) * sizeof *masks,
                                    "component masks", err);
    int32_t *lines = lrsa__buf_get(&w->b[LRSA__W_LINES], (size_t)(nlines + 1) * sizeof *lines,
                                   "component runs", err);
    if (!masks || !lines)
        return LRSA_ENOMEM;
    memset(masks + nlines * W, 0, (size_t)W * sizeof *masks);   /* a zero line after the last */
    int vec = 0;
#ifdef LRSA_HAVE_AVX2_CLONE
    vec = lrsa__have_avx2();
    if (vec)
        *nruns = above ? line_masks_flat_avx2(above, nlines, len, masks, lines)
                       : line_masks_avx2(a, nlines, len, thr, masks, lines);
#endif
    if (!vec)
        *nruns = above ? line_masks_flat_base(above, nlines, len, masks, lines)
                       : line_masks_base(a, nlines, len, thr, masks, lines);
    int32_t *bounds = lrsa__buf_get(&w->b[LRSA__W_RUNS], (size_t)(2 * *nruns + 2) * sizeof *bounds,
                                    "component runs", err);
    if (!bounds)
        return LRSA_ENOMEM;
    run_bounds(masks, nlines, len, bounds);
    return LRSA_OK;
}

/* uf_find for the fast path: a root or a child of one (the common cases) without a branch
 * taken differently. */
static inline int32_t uf_root(int32_t *parent, int32_t x)
{
    int32_t p = parent[x], g = parent[p];
    while (p != g) {   /* two steps or more from the root: path halving */
        parent[x] = g;
        x = g;
        p = parent[x];
        g = parent[p];
    }
    return p;
}

/* Merge the sets of a and b; the smaller root stays (every parent is smaller than its child). */
static inline void uf_unite(int32_t *parent, int32_t a, int32_t b)
{
    a = uf_root(parent, a);
    b = uf_root(parent, b);
    int32_t lo = a < b ? a : b, hi = a < b ? b : a;
    parent[hi] = lo;
}

/* Union the runs of a line (mask x, W words, first run rx) with the runs of an earlier line
 * that they overlap (mask y, first run ry; an absent line is all zero). Two runs overlap in
 * one run of x & y, met once at its first voxel; a run's index there is the number of run
 * starts up to that voxel. A run of x met again keeps its root from the union before, in a
 * register (only these unions change parents meanwhile); a run met for the first time is
 * looked up, or with fresh (no union has touched x's runs yet) is its own root. */
static inline __attribute__((always_inline)) void merge_line(const uint64_t *x, const uint64_t *y,
                                                             int64_t W, int32_t rx, int32_t ry,
                                                             int fresh, int32_t *parent)
{
    uint64_t cx = 0, cy = 0, ca = 0;   /* the last bit of the word before */
    int32_t last = -1, root = -1;      /* the last run of x met, and its root */
    rx--;
    ry--;
    for (int64_t w = 0; w < W; w++) {
        uint64_t a = x[w] & y[w];
        uint64_t sx = x[w] & ~(x[w] << 1 | cx), sy = y[w] & ~(y[w] << 1 | cy);
        uint64_t sa = a & ~(a << 1 | ca);
        cx = x[w] >> 63;
        cy = y[w] >> 63;
        ca = a >> 63;
        for (; sa; sa &= sa - 1) {
            uint64_t upto = sa ^ (sa - 1);   /* bits up to the first voxel of this overlap */
            int32_t p = rx + __builtin_popcountll(sx & upto);
            int32_t q = uf_root(parent, ry + __builtin_popcountll(sy & upto));
            if (fresh) {
                root = p == last ? root : p;
            } else if (p != last) {
                root = uf_root(parent, p);
            }
            last = p;
            int32_t lo = q < root ? q : root, hi = q < root ? root : q;
            parent[hi] = lo;
            root = lo;
        }
        rx += __builtin_popcountll(sx);
        ry += __builtin_popcountll(sy);
    }
}

/* Union every run with the runs it touches in the lines before it: the lines form an
 * nouter x ninner grid, line l = o * ninner + i touching lines l - 1 and l - ninner. */
#define MERGE_LINES_BODY                                                                          \
    for (int64_t o = 0, l = 0; o < nouter; o++)                                                   \
        for (int64_t i = 0; i < ninner; i++, l++) {                                               \
            if (lines[l] == lines[l + 1])                                                         \
                continue;                                                                         \
            const int with1 = i > 0 && lines[l - 1] != lines[l];                                  \
            if (with1)                                                                            \
                merge_line(masks + l * W, masks + (l - 1) * W, W, lines[l], lines[l - 1], 1,      \
                           parent);                                                               \
            if (o > 0 && lines[l - ninner] != lines[l - ninner + 1]) {                            \
                const uint64_t *y = masks + (l - ninner) * W;                                     \
                if (with1)                                                                        \
                    merge_line(masks + l * W, y, W, lines[l], lines[l - ninner], 0, parent);      \
                else                                                                              \
                    merge_line(masks + l * W, y, W, lines[l], lines[l - ninner], 1, parent);      \
            }                                                                                     \
        }

static void merge_lines_base(const uint64_t *masks, const int32_t *lines, int64_t nouter,
                             int64_t ninner, int64_t W, int32_t *parent)
{
    MERGE_LINES_BODY
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same with the POPCNT instruction (every AVX2 CPU has it) */
__attribute__((target("avx2"))) static void merge_lines_avx2(const uint64_t *masks,
                                                             const int32_t *lines, int64_t nouter,
                                                             int64_t ninner, int64_t nw,
                                                             int32_t *parent)
{
    if (nw == 1) {   /* lines of one word (box z lines up to 64 long): the loops over words go */
        const int64_t W = 1;
        MERGE_LINES_BODY
    } else {
        const int64_t W = nw;
        MERGE_LINES_BODY
    }
}
#endif

/* scipy.ndimage.label (6-connectivity) on the runs of find_runs (lines of len voxels), then the
 * largest component. The lines form an nouter x ninner grid (line l = o * ninner + i; its
 * neighbours are lines l - 1 and l - ninner). Ties go to the component whose first voxel comes
 * first in C order: with xdims NULL the runs are along the C-order fastest axis, so raster
 * order is C order and that is the smallest root (runs are numbered in raster order and the
 * smallest index stays the root); with xdims (the volume's x, y, z sizes) the runs are along x
 * of an x-fastest volume (outer z, inner y) and the runs' C-order indices decide. Returns the
 * root in *best, or -1 when there are no runs; parent[] holds the roots. */
static int largest_run_component(lrsa_render_work *w, int64_t nouter, int64_t ninner, int64_t len,
                                 const int64_t *xdims, int64_t nruns, int32_t *best,
                                 int64_t *best_size, lrsa_err *err)
{
    *best = -1;
    *best_size = 0;
    if (nruns == 0)
        return LRSA_OK;
    const int32_t *bounds = w->b[LRSA__W_RUNS].p, *lines = w->b[LRSA__W_LINES].p;
    const uint64_t *masks = w->b[LRSA__W_MASK].p;
    int32_t *parent = lrsa__buf_get(&w->b[LRSA__W_PARENT], (size_t)nruns * sizeof *parent,
                                    "component labels", err);
    int32_t *size = lrsa__buf_get(&w->b[LRSA__W_SIZE], (size_t)nruns * sizeof *size,
                                  "component sizes", err);   /* < 2^31 voxels: see the caller */
    if (!parent || !size)
        return LRSA_ENOMEM;
    for (int64_t r = 0; r < nruns; r++)
        parent[r] = (int32_t)r;
    void (*merge_lines)(const uint64_t *, const int32_t *, int64_t, int64_t, int64_t, int32_t *) =
        merge_lines_base;
#ifdef LRSA_HAVE_AVX2_CLONE
    if (lrsa__have_avx2())
        merge_lines = merge_lines_avx2;
#endif
    const int64_t W = line_words(len);
    merge_lines(masks, lines, nouter, ninner, W, parent);
    for (int64_t r = 0; r < nruns; r++) {   /* parents are smaller: one step reaches the root */
        int32_t root = parent[parent[r]];
        parent[r] = root;
        size[r] = 0;
        size[root] += bounds[2 * r + 1] - bounds[2 * r];
    }
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
                int64_t j = l % ninner, k = l / ninner, x = bounds[2 * r] - 64 * W * l;
                int64_t key = (x * xdims[1] + j) * xdims[2] + k;
                if (key < first) {
                    first = key;
                    *best = parent[r];
                }
            }
    }
    return LRSA_OK;
}

/* Clear bits [s, e) of a bit array. */
static inline void clear_bits(uint64_t *m, int64_t s, int64_t e)
{
    if (((s ^ (e - 1)) >> 6) == 0) {   /* within one word (most runs) */
        m[s >> 6] &= ~((~(uint64_t)0 >> (64 - (e - s))) << (s & 63));
        return;
    }
    for (int64_t q = s >> 6; q << 6 < e; q++) {
        int64_t a = s - (q << 6) > 0 ? s - (q << 6) : 0, z = e - (q << 6) < 64 ? e - (q << 6) : 64;
        m[q] &= ~((z == 64 ? ~(uint64_t)0 : ((uint64_t)1 << z) - 1) & (~(uint64_t)0 << a));
    }
}

/* Leave only component `best` in the line masks (lines of len voxels in an nouter x ninner
 * grid, as largest_run_component's); with b, its bounding box (find_objects) in (run axis,
 * inner, outer) order, from the masks that are left. */
static void keep_component(lrsa_render_work *w, int64_t nouter, int64_t ninner, int64_t len,
                           int64_t nruns, int32_t best, box3 *b)
{
    const int32_t *bounds = w->b[LRSA__W_RUNS].p, *parent = w->b[LRSA__W_PARENT].p;
    uint64_t *masks = w->b[LRSA__W_MASK].p;
    for (int64_t r = 0; r < nruns; r++)
        if (parent[r] != best)
            clear_bits(masks, bounds[2 * r], bounds[2 * r + 1]);
    if (!b)
        return;
    const int64_t W = line_words(len);
    int64_t lo[3] = { len, ninner, nouter }, hi[3] = { -1, -1, -1 };
    for (int64_t o = 0, l = 0; o < nouter; o++)
        for (int64_t i = 0; i < ninner; i++, l++) {
            const uint64_t *m = masks + l * W;
            int64_t first = -1, last = -1;
            for (int64_t q = 0; q < W; q++)
                if (m[q]) {
                    if (first < 0)
                        first = 64 * q + __builtin_ctzll(m[q]);
                    last = 64 * q + 63 - __builtin_clzll(m[q]);
                }
            if (first < 0)
                continue;
            lo[0] = first < lo[0] ? first : lo[0];
            hi[0] = last > hi[0] ? last : hi[0];
            lo[1] = i < lo[1] ? i : lo[1];
            hi[1] = i > hi[1] ? i : hi[1];
            lo[2] = o < lo[2] ? o : lo[2];
            hi[2] = o;
        }
    for (int a = 0; a < 3; a++) {
        b->lo[a] = lo[a];
        b->n[a] = hi[a] - lo[a] + 1;
    }
}

/* The line masks (lines of len bits) packed into one bit array: bit l * len + t for bit t of
 * line l (the centre of mass's keep mask, bit p for element p of the C-order box). */
static uint64_t *pack_masks(lrsa_render_work *w, int64_t nlines, int64_t len, lrsa_err *err)
{
    const uint64_t *masks = w->b[LRSA__W_MASK].p;
    const int64_t W = line_words(len);
    size_t words = (size_t)((nlines * len + 63) / 64) + 1;
    uint64_t *bits = lrsa__buf_get(&w->b[LRSA__W_KEEP], words * sizeof *bits, "component mask",
                                   err);
    if (!bits)
        return NULL;
    memset(bits, 0, words * sizeof *bits);
    for (int64_t l = 0; l < nlines; l++)
        for (int64_t q = 0; q < W; q++) {
            uint64_t x = masks[l * W + q];
            int64_t at = l * len + 64 * q, s = at & 63;
            bits[at >> 6] |= x << s;
            if (s)
                bits[(at >> 6) + 1] |= x >> (64 - s);
        }
    return bits;
}

/* dst (box b of an x-fastest volume src of dims n, in C order: z fastest) = src where `keep`
 * has the voxel (bit x of line y + n[1] * z, lines of wx words), else 0; keep NULL: every
 * voxel. */
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
                        if (keep && !(keep[line * wx + (x >> 6)] >> (x & 63) & 1))
                            v = 0.0f;
                        dst[(i * by + j) * bz + k] = v;
                    }
            }
}

#ifdef LRSA_HAVE_AVX2_CLONE
/* One element of the AVX2 transpose's edges, as to_c_order_base. */
static inline float keep_value(const float *src, const int64_t n[3], const box3 *b,
                               const uint64_t *keep, int64_t wx, int64_t i, int64_t j, int64_t k)
{
    int64_t line = (b->lo[1] + j) + n[1] * (b->lo[2] + k), x = b->lo[0] + i;
    if (keep && !(keep[line * wx + (x >> 6)] >> (x & 63) & 1))
        return 0.0f;
    return src[x + n[0] * line];
}

/* The same with 8 x 8 blocks transposed in registers: 8 z planes are read along x (masked by
 * the 8 bits of their lines from bit x on) and written as 8 z values per (x, y). Eight y at a
 * time: what is read (8 short runs of rows, one per plane) streams, and what is written (the z
 * rows of those (x, y)) stays in cache until it is whole. A box side that is not a multiple of
 * 8 ends with a block overlapping the one before (it writes the same values again). */
__attribute__((target("avx2"))) static void to_c_order_avx2(const float *src, const int64_t n[3],
                                                             const box3 *b, const uint64_t *keep,
                                                             int64_t wx, float *dst)
{
    const int64_t nx = n[0], ny = n[1], plane = nx * ny;
    const int64_t bx = b->n[0], by = b->n[1], bz = b->n[2], ds = by * bz;   /* ds: next x */
    if (bx < 8 || bz < 8) {
        for (int64_t i = 0; i < bx; i++)
            for (int64_t j = 0; j < by; j++)
                for (int64_t k = 0; k < bz; k++)
                    dst[(i * by + j) * bz + k] = keep_value(src, n, b, keep, wx, i, j, k);
        return;
    }
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const int shift = (int)(b->lo[0] & 7);   /* bit of voxel lo[0] in its mask byte */
    for (int64_t j0 = 0; j0 < by; j0 += 8)
        for (int64_t kk = 0; kk < bz; kk += 8) {
            const int64_t k0 = kk + 8 <= bz ? kk : bz - 8;
            for (int64_t j = j0; j < j0 + 8 && j < by; j++) {
                const int64_t line0 = (b->lo[1] + j) + ny * (b->lo[2] + k0);   /* line of row 0 */
                const float *s = src + nx * line0 + b->lo[0];
                /* the mask bytes of row 0 from voxel lo[0] on; rows q are q * ny lines further */
                const uint8_t *kb =
                    keep ? (const uint8_t *)(keep + line0 * wx) + b->lo[0] / 8 : NULL;
                const int64_t kstride = ny * wx * 8;
                for (int64_t ii = 0; ii < bx; ii += 8) {
                    const int64_t i0 = ii + 8 <= bx ? ii : bx - 8;
                    const int64_t off = shift + i0;   /* bit of voxel lo[0] + i0 from kb */
                    const float *sq = s + i0;
                    unsigned any = 0;
                    /* row q: 8 x of plane q, masked by the 16 bits from the byte of voxel
                     * lo[0] + i0 (a zero line follows the masks); named, not an array, so that
                     * the rows stay in registers */
#define ROW(q)                                                                                    \
    __m256 r##q = _mm256_loadu_ps(sq + q * plane);                                                \
    if (kb) {                                                                                     \
        uint16_t two;                                                                             \
        memcpy(&two, kb + q * kstride + (off >> 3), sizeof two);                                  \
        unsigned m = (unsigned)(two >> (off & 7)) & 0xff;                                         \
        __m256i mq = _mm256_and_si256(_mm256_set1_epi32((int)m), sel);                            \
        r##q = _mm256_and_ps(r##q, _mm256_castsi256_ps(_mm256_cmpeq_epi32(mq, sel)));             \
        any |= m;                                                                                 \
    }
                    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
                    float *d = dst + (i0 * by + j) * bz + k0;
                    if (kb && !any) {
                        for (int q = 0; q < 8; q++)
                            _mm256_storeu_ps(d + q * ds, _mm256_setzero_ps());
                        continue;
                    }
                    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
                    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
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
/* Eight at a time: the nonzero lanes moved to the front by a permutation looked up from their
 * mask, then all eight stored and the count advanced by the number kept. */
__attribute__((target("avx2"))) static int64_t nonzeros_avx2(const float *a, int64_t n, float *out)
{
    uint32_t perm[256][8];
    for (int m = 0; m < 256; m++) {
        int c = 0;
        for (int l = 0; l < 8; l++)
            if (m >> l & 1)
                perm[m][c++] = (uint32_t)l;
        while (c < 8)
            perm[m][c++] = 0;
    }
    int64_t cnt = 0, p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256 v = _mm256_loadu_ps(a + p);
        int m = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ));
        __m256i idx = _mm256_loadu_si256((const __m256i *)perm[m]);
        _mm256_storeu_ps(out + cnt, _mm256_permutevar8x32_ps(v, idx));
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

/* Where the next leaf starts: element p of the box is (i, j, k). */
typedef struct com_cursor { int64_t p, i, j, k; } com_cursor;

#ifdef LRSA_HAVE_AVX2_CLONE
/* The same leaf with the 8 partial sums in vectors (the float64 ones in lanes 0-3 and 4-7).
 * The index of a group's first term is stepped along (z by 8, carried into y and x) from the
 * cursor (where the previous leaf ended, or worked out); the lanes' indices are made (as exact
 * doubles) only for groups that add something. The same operations per term, in the same
 * order per partial sum. Needs n >= 16 and dims[2] >= 8 (a group then spans at most two z
 * lines). */
__attribute__((target("avx2"))) static com_sums com_leaf_avx2(const float *a, const uint64_t *keep,
                                                              int64_t p0, int64_t n,
                                                              const int64_t dims[3],
                                                              com_cursor *at)
{
    const int64_t nz = dims[2], ny = dims[1];
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256d step0 = _mm256_setr_pd(0, 1, 2, 3), step1 = _mm256_setr_pd(4, 5, 6, 7);
    const __m256d nzv = _mm256_set1_pd((double)nz), nyv = _mm256_set1_pd((double)ny);
    const __m256d one = _mm256_set1_pd(1.0);
    /* partial sums of the moments along x, y, z: lanes 0-3 (a) and 4-7 (b); named, so that
     * they stay in registers */
    __m256d mxa = _mm256_setzero_pd(), mxb = mxa, mya = mxa, myb = mxa, mza = mxa, mzb = mxa;
    __m256 r = _mm256_setzero_ps();
    int64_t i, j, k;   /* of the group's first term */
    if (at->p == p0) {
        i = at->i, j = at->j, k = at->k;
    } else {
        int64_t q0 = p0 / nz;
        k = p0 % nz, j = q0 % ny, i = q0 / ny;
    }
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
            __m256d Ka = _mm256_add_pd(_mm256_set1_pd((double)k), step0);
            __m256d Kb = _mm256_add_pd(_mm256_set1_pd((double)k), step1);
            __m256d Ia = _mm256_set1_pd((double)i), Ib = Ia;
            __m256d Ja = _mm256_set1_pd((double)j), Jb = Ja;
            if (k + 7 >= nz) {   /* the group runs into the next z line: wrap those lanes */
#define COM_WRAP(I, J, K)                                                                         \
    do {                                                                                          \
        __m256d wz = _mm256_cmp_pd(K, nzv, _CMP_GE_OQ);                                           \
        K = _mm256_sub_pd(K, _mm256_and_pd(wz, nzv));                                             \
        J = _mm256_add_pd(J, _mm256_and_pd(wz, one));                                             \
        __m256d wy = _mm256_cmp_pd(J, nyv, _CMP_GE_OQ);                                           \
        J = _mm256_sub_pd(J, _mm256_and_pd(wy, nyv));                                             \
        I = _mm256_add_pd(I, _mm256_and_pd(wy, one));                                             \
    } while (0)
                COM_WRAP(Ia, Ja, Ka);
                COM_WRAP(Ib, Jb, Kb);
#undef COM_WRAP
            }
            r = _mm256_add_ps(r, v);
            __m256d va = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
            __m256d vb = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
            mxa = _mm256_add_pd(mxa, _mm256_mul_pd(va, Ia));
            mxb = _mm256_add_pd(mxb, _mm256_mul_pd(vb, Ib));
            mya = _mm256_add_pd(mya, _mm256_mul_pd(va, Ja));
            myb = _mm256_add_pd(myb, _mm256_mul_pd(vb, Jb));
            mza = _mm256_add_pd(mza, _mm256_mul_pd(va, Ka));
            mzb = _mm256_add_pd(mzb, _mm256_mul_pd(vb, Kb));
        }
        k += 8;   /* the next group: 8 further along z */
        if (k >= nz) {
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
    _mm256_storeu_pd(ms[0], mxa);
    _mm256_storeu_pd(ms[0] + 4, mxb);
    _mm256_storeu_pd(ms[1], mya);
    _mm256_storeu_pd(ms[1] + 4, myb);
    _mm256_storeu_pd(ms[2], mza);
    _mm256_storeu_pd(ms[2] + 4, mzb);
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
    at->p = p0 + n, at->i = i, at->j = j, at->k = k;
    return out;
}
#endif

/* Any of bits [p0, p0 + n) set? */
static int any_bits(const uint64_t *bits, int64_t p0, int64_t n)
{
    int64_t q0 = p0 >> 6, q1 = (p0 + n - 1) >> 6;
    uint64_t first = bits[q0] & (~(uint64_t)0 << (p0 & 63));
    if (q0 == q1)
        return (first & (~(uint64_t)0 >> (63 - ((p0 + n - 1) & 63)))) != 0;
    uint64_t any = first;
    for (int64_t q = q0 + 1; q < q1; q++)
        any |= bits[q];
    return (any | (bits[q1] & (~(uint64_t)0 >> (63 - ((p0 + n - 1) & 63))))) != 0;
}

/* numpy's pairwise sum over elements [p0, p0 + n) of the box. A leaf with no element kept
 * adds up to +0 (every term is +0) and is not looked at. */
static com_sums com_pairwise(int vec, const float *a, const uint64_t *keep, int64_t p0, int64_t n,
                             const int64_t dims[3], com_cursor *at)
{
    if (n <= PW_LEAF) {
        if (keep && !any_bits(keep, p0, n)) {
            com_sums zero = { 0, { 0, 0, 0 } };
            return zero;
        }
#ifdef LRSA_HAVE_AVX2_CLONE
        if (vec && n >= 16 && dims[2] >= 8)
            return com_leaf_avx2(a, keep, p0, n, dims, at);
#endif
        return com_leaf_scalar(a, keep, p0, n, dims);
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    com_sums l = com_pairwise(vec, a, keep, p0, n2, dims, at);
    com_sums r = com_pairwise(vec, a + n2, keep, p0 + n2, n - n2, dims, at);
    l.s = l.s + r.s;
    for (int d = 0; d < 3; d++)
        l.m[d] = l.m[d] + r.m[d];
    return l;
}

static void center_of_mass_fused(const float *a, const uint64_t *keep, const int64_t n[3],
                                 double com[3])
{
    int vec = 0;
#ifdef LRSA_HAVE_AVX2_CLONE
    vec = lrsa__have_avx2();
#endif
    int64_t total = n[0] * n[1] * n[2];
    float s = 0;
    double m[3] = { 0, 0, 0 };
    com_cursor at = { -1, 0, 0, 0 };
    for (int64_t p = 0; p < total; p += NP_CHUNK) {
        int64_t cnt = total - p < NP_CHUNK ? total - p : NP_CHUNK;
        com_sums c = com_pairwise(vec, a + p, keep, p, cnt, n, &at);
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
    return lrsa__cut_coords_above(w, vol, NULL, dims, affine, threshold, xyz, err);
}

int lrsa__cut_coords_above(lrsa_render_work *w, const float *vol, const uint8_t *above,
                           const int64_t dims[3], const double affine[4][4], double threshold,
                           double xyz[3], lrsa_err *err)
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
    /* run bounds are int32 bit positions in the line masks: a volume too big for them takes the
     * plain path */
    if (64 * line_words(n[0]) * (n[1] * n[2] + 1) > INT32_MAX ||
        64 * line_words(n[2]) * (n[0] * n[1] + 1) > INT32_MAX)
        return lrsa__cut_coords_naive(vol, dims, affine, threshold, xyz, err);
    double offset[3] = { 0, 0, 0 }, com[3];
    float thr1 = lrsa__cut_mask_threshold(threshold);
    int64_t nruns, size1;
    int32_t best;
    int rc;
    if ((rc = find_runs(w, vol, above, n[1] * n[2], n[0], thr1, &nruns, err)))
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
    if ((rc = largest_run_component(w, n[2], n[1], n[0], n, nruns, &best, &size1, err)))
        return rc;
    /* the component (its line masks) and its box; the box in C order (SUB), zero elsewhere */
    box3 b;
    keep_component(w, n[2], n[1], n[0], nruns, best, &b);
    int64_t sn = b.n[0] * b.n[1] * b.n[2];
    float *sub = lrsa__buf_get(&w->b[LRSA__W_SUB], (size_t)sn * sizeof *sub, "cut coordinates", err);
    float *vals = lrsa__buf_get(&w->b[LRSA__W_VALS], (size_t)(size1 + 8) * sizeof *vals,
                                "cut coordinates", err);
    if (!sub || !vals)
        return LRSA_ENOMEM;
    to_c_order(vol, n, &b, w->b[LRSA__W_MASK].p, line_words(n[0]), sub);
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
    if ((rc = find_runs(w, sub, NULL, b.n[0] * b.n[1], b.n[2], thr2, &nruns, err)))
        return rc;
    const int32_t *bounds = w->b[LRSA__W_RUNS].p;
    int64_t above2 = 0;
    for (int64_t r = 0; r < nruns; r++)
        above2 += bounds[2 * r + 1] - bounds[2 * r];
    const uint64_t *keep = NULL;
    if (above2 > 50) {   /* the second component, as a bit mask over sub */
        int64_t size2;
        if ((rc = largest_run_component(w, b.n[0], b.n[1], b.n[2], NULL, nruns, &best, &size2,
                                        err)))
            return rc;
        keep_component(w, b.n[0], b.n[1], b.n[2], nruns, best, NULL);
        if (!(keep = pack_masks(w, b.n[0] * b.n[1], b.n[2], err)))
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
