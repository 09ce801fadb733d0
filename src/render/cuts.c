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

int lrsa_render_cut_coords(const float *vol, const int64_t dims[3], const double affine[4][4],
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
