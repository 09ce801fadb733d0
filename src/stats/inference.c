/* Valid inference for RDM comparisons: the Mantel permutation engine (random, stratified and
 * exact), the stimulus bootstrap, and the CKA permutation test. The contract and the maths are
 * at the top of include/latentrsa/inference.h. */
#include "latentrsa/inference.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PERM_BATCH 8             /* permutations per pass over A's rows */
#define TAG_PERM 0x7065726d75746521ULL
#define TAG_BOOT 0x626f6f7473747261ULL

/* ===== RNG streams ========================================================================== */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seed of item k of the stream (seed, tag): independent of threads and of every other item. */
static uint64_t stream_seed(uint64_t seed, uint64_t tag, int64_t k)
{
    return mix64(mix64(seed ^ tag) + 0x9e3779b97f4a7c15ULL * ((uint64_t)k + 1));
}

void lrsa_infer_opts_init(lrsa_infer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = LRSA_CMP_SPEARMAN;
    o->alternative = LRSA_ALT_GREATER;
    o->permutations = 10000;
    o->bootstrap = 1000;
    o->seed = 0;
    o->strata = NULL;
    o->null_out = NULL;
}

/* ===== Permutation plans (strata) =========================================================== */

/* Positions grouped by stratum: group g holds members[start[g] .. start[g+1]-1], increasing. */
typedef struct perm_plan {
    int64_t n, ngroups;
    int32_t *members;
    int64_t *start;              /* ngroups + 1 */
} perm_plan;

static void plan_release(perm_plan *p)
{
    free(p->members);
    free(p->start);
    memset(p, 0, sizeof *p);
}

static int plan_init(perm_plan *p, int64_t n, const int32_t *strata, lrsa_err *err)
{
    int64_t *count = NULL, *first = NULL;
    int rc = LRSA_OK;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->members = lrsa_malloc((size_t)n * sizeof *p->members, "permutation plan", err);
    p->start = lrsa_malloc((size_t)(n + 1) * sizeof *p->start, "permutation plan", err);
    count = lrsa_calloc((size_t)n, sizeof *count, "permutation plan", err);
    first = lrsa_malloc((size_t)n * sizeof *first, "permutation plan", err);
    if (!p->members || !p->start || !count || !first) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if (!strata) {
        p->ngroups = 1;
        p->start[0] = 0;
        p->start[1] = n;
        for (int64_t i = 0; i < n; i++)
            p->members[i] = (int32_t)i;
        goto done;
    }
    /* Groups numbered in order of first appearance. */
    for (int64_t g = 0; g < n; g++)
        first[g] = -1;
    int64_t ng = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t s = strata[i];
        if (s < 0 || s >= n) {
            rc = LRSA_FAIL(err, LRSA_ESHAPE, "stratum id %d of position %lld is outside [0, %lld)",
                           (int)s, (long long)i, (long long)n);
            goto done;
        }
        if (first[s] < 0)
            first[s] = ng++;
        count[first[s]]++;
    }
    p->ngroups = ng;
    p->start[0] = 0;
    for (int64_t g = 0; g < ng; g++)
        p->start[g + 1] = p->start[g] + count[g];
    memset(count, 0, (size_t)n * sizeof *count);
    for (int64_t i = 0; i < n; i++) {
        int64_t g = first[strata[i]];
        p->members[p->start[g] + count[g]++] = (int32_t)i;
    }
done:
    free(count);
    free(first);
    if (rc)
        plan_release(p);
    return rc;
}

/* perm[i] = the row placed at position i: Fisher-Yates inside each group. */
static void plan_draw(const perm_plan *p, uint64_t seed, int64_t k, int32_t *perm)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, stream_seed(seed, TAG_PERM, k));
    for (int64_t g = 0; g < p->ngroups; g++) {
        const int32_t *mem = p->members + p->start[g];
        int64_t s = p->start[g + 1] - p->start[g];
        for (int64_t t = 0; t < s; t++)
            perm[mem[t]] = mem[t];
        for (int64_t t = s - 1; t > 0; t--) {
            int64_t u = (int64_t)lrsa_rng_below(&rng, (uint64_t)t + 1);
            int32_t tmp = perm[mem[t]];
            perm[mem[t]] = perm[mem[u]];
            perm[mem[u]] = tmp;
        }
    }
}

int lrsa_perm_draw(uint64_t seed, int64_t k, int64_t n, const int32_t *strata, int32_t *perm,
                   lrsa_err *err)
{
    perm_plan p;
    int rc = plan_init(&p, n, strata, err);
    if (rc)
        return rc;
    plan_draw(&p, seed, k, perm);
    plan_release(&p);
    return LRSA_OK;
}

void lrsa_boot_draw(uint64_t seed, int64_t b, int64_t n, int64_t *idx)
{
    lrsa_rng rng;
    lrsa_rng_seed(&rng, stream_seed(seed, TAG_BOOT, b));
    for (int64_t i = 0; i < n; i++)
        idx[i] = (int64_t)lrsa_rng_below(&rng, (uint64_t)n);
}

/* ===== The engine =========================================================================== */

/* value(pi) = sum_{i<j} X[pi(i), pi(j)] y_ij + sum_i u[pi(i)] v[i]   (u, v optional)
 * r(pi)     = alpha * value(pi) + beta
 * X: n x n float32, symmetric; y: the packed upper triangle (row-major, m floats). */
typedef struct engine {
    int64_t n;
    const float *X;
    const float *y;
    const double *u, *v;
    double alpha, beta;
    int64_t *rowoff;             /* rowoff[i]: index in y of (i, 0) if it existed: y[rowoff[i] + j] */
} engine;

static int engine_init(engine *e, int64_t n, lrsa_err *err)
{
    e->n = n;
    e->rowoff = lrsa_malloc((size_t)n * sizeof *e->rowoff, "permutation engine", err);
    if (!e->rowoff)
        return LRSA_ENOMEM;
    /* Row i starts at i*n - i*(i+1)/2 (pair (i, i+1)), so y[rowoff[i] + j] is pair (i, j). */
    for (int64_t i = 0; i < n; i++)
        e->rowoff[i] = i * n - i * (i + 1) / 2 - (i + 1);
    return LRSA_OK;
}

/* sum_t x[p[t]] * y[t], t < len, in double. The order is fixed: eight lanes (lane l sums the
 * terms t = l mod 8 of the first len - len % 8), combined pairwise, then the tail. Products of two
 * floats are exact in double, so the AVX2 kernel (FMA) and the portable one give the same bits. */
static double dot_gather_portable(const float *restrict x, const int32_t *restrict p,
                                  const float *restrict y, int64_t len)
{
    double l[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int64_t t = 0;
    for (; t + 8 <= len; t += 8)
        for (int q = 0; q < 8; q++)
            l[q] += (double)x[p[t + q]] * (double)y[t + q];
    double tail = 0.0;
    for (; t < len; t++)
        tail += (double)x[p[t]] * (double)y[t];
    return (((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))) + tail;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_KERNEL 1
__attribute__((target("avx2,fma")))
static double dot_gather_avx2(const float *restrict x, const int32_t *restrict p,
                              const float *restrict y, int64_t len)
{
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();   /* lanes 0-3, 4-7 */
    int64_t t = 0;
    for (; t + 8 <= len; t += 8) {
        __m256i idx = _mm256_loadu_si256((const __m256i *)(p + t));
        __m256 xv = _mm256_i32gather_ps(x, idx, 4);
        __m256 yv = _mm256_loadu_ps(y + t);
        lo = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xv)),
                             _mm256_cvtps_pd(_mm256_castps256_ps128(yv)), lo);
        hi = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)),
                             _mm256_cvtps_pd(_mm256_extractf128_ps(yv, 1)), hi);
    }
    double tail = 0.0;
    for (; t < len; t++)
        tail += (double)x[p[t]] * (double)y[t];
    /* (l0 + l4), (l1 + l5), (l2 + l6), (l3 + l7), combined as the portable kernel does */
    double s[4];
    _mm256_storeu_pd(s, _mm256_add_pd(lo, hi));
    return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}
#endif

typedef double (*dot_gather_fn)(const float *, const int32_t *, const float *, int64_t);

static dot_gather_fn pick_dot_gather(void)
{
#ifdef HAVE_AVX2_KERNEL
    if (lrsa_cpu_avx2_fma())
        return dot_gather_avx2;
#endif
    return dot_gather_portable;
}

/* r(pi_b) for nb permutations: perm[b] and their inverses inv[b] (n each). Visits A's rows in
 * storage order: row a is position i = inv(a), whose pairs (i, j > i) read X[a, pi(j)] against
 * the packed row i of y. Per permutation the row sums are added in order a = 0..n-1. */
static void engine_batch(const engine *e, int nb, int32_t *const *perm, int32_t *const *inv,
                         double *r)
{
    int64_t n = e->n;
    dot_gather_fn dot_gather = pick_dot_gather();
    double acc[PERM_BATCH];
    for (int b = 0; b < nb; b++)
        acc[b] = 0.0;
    for (int64_t a = 0; a < n; a++) {
        const float *xa = e->X + a * n;
        for (int b = 0; b < nb; b++) {
            int64_t i = inv[b][a];
            double s = 0.0;
            if (i + 1 < n)
                s = dot_gather(xa, perm[b] + i + 1, e->y + e->rowoff[i] + i + 1, n - 1 - i);
            if (e->u)
                s += e->u[a] * e->v[i];
            acc[b] += s;
        }
    }
    for (int b = 0; b < nb; b++)
        r[b] = e->alpha * acc[b] + e->beta;
}

static double engine_one(const engine *e, int32_t *perm, int32_t *inv)
{
    double r;
    for (int64_t i = 0; i < e->n; i++)
        inv[perm[i]] = (int32_t)i;
    engine_batch(e, 1, &perm, &inv, &r);
    return r;
}

static int exceeds(double r, double r_obs, lrsa_alternative alt)
{
    if (alt == LRSA_ALT_TWO_SIDED)
        return fabs(r) >= fabs(r_obs) - LRSA_PERM_TIE_TOL;
    return r >= r_obs - LRSA_PERM_TIE_TOL;
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(int32_t *a, int64_t n)
{
    int64_t i = n - 2;
    while (i >= 0 && a[i] >= a[i + 1])
        i--;
    if (i < 0)
        return 0;
    int64_t j = n - 1;
    while (a[j] <= a[i])
        j--;
    int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
    for (int64_t l = i + 1, h = n - 1; l < h; l++, h--) {
        t = a[l];
        a[l] = a[h];
        a[h] = t;
    }
    return 1;
}

/* Run the test: res->permutations, exceed, p_permutation. */
static int engine_test(const engine *e, const lrsa_infer_opts *o, lrsa_infer_result *res,
                       const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t n = e->n;
    int32_t *work = NULL;
    perm_plan plan;
    int rc = plan_init(&plan, n, o->strata, err);
    if (rc)
        return rc;
    res->strata = o->strata ? plan.ngroups : 0;
    int threads = lrsa_threads(ctx);
    if (threads < 1)
        threads = 1;
    work = lrsa_malloc((size_t)threads * 2 * PERM_BATCH * (size_t)n * sizeof *work,
                       "permutation buffers", err);
    if (!work) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    /* The observed statistic through the same code path as the null values. */
    int32_t *id = work, *idinv = work + n;
    for (int64_t i = 0; i < n; i++)
        id[i] = (int32_t)i;
    double r_obs = engine_one(e, id, idinv);
    if (o->permutations == LRSA_PERM_EXACT) {
        int64_t total = 0, exceed = 0;
        int32_t *p = work, *q = work + n;
        for (int64_t i = 0; i < n; i++)
            p[i] = (int32_t)i;
        do {
            int ok = 1;
            if (o->strata)
                for (int64_t i = 0; i < n && ok; i++)
                    ok = o->strata[p[i]] == o->strata[i];
            if (!ok)
                continue;
            double r = engine_one(e, p, q);
            if (o->null_out)
                o->null_out[total] = r;
            total++;
            if (exceeds(r, r_obs, o->alternative))
                exceed++;
        } while (next_perm(p, n));
        res->permutations = total;
        res->exceed = exceed;
        res->p_permutation = (double)exceed / (double)total;
        goto done;
    }
    int64_t P = o->permutations;
    int64_t nbatch = (P + PERM_BATCH - 1) / PERM_BATCH;
    int64_t exceed = 0, done_batches = 0;
#pragma omp parallel num_threads(threads) reduction(+ : exceed)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int32_t *perm[PERM_BATCH], *inv[PERM_BATCH];
        for (int b = 0; b < PERM_BATCH; b++) {
            perm[b] = work + ((size_t)tid * 2 * PERM_BATCH + (size_t)b) * (size_t)n;
            inv[b] = perm[b] + (size_t)PERM_BATCH * (size_t)n;
        }
        double r[PERM_BATCH];
#pragma omp for schedule(dynamic, 1)
        for (int64_t bt = 0; bt < nbatch; bt++) {
            int64_t k0 = bt * PERM_BATCH;
            int nb = (int)(P - k0 < PERM_BATCH ? P - k0 : PERM_BATCH);
            for (int b = 0; b < nb; b++) {
                plan_draw(&plan, o->seed, k0 + b, perm[b]);
                for (int64_t i = 0; i < n; i++)
                    inv[b][perm[b][i]] = (int32_t)i;
            }
            engine_batch(e, nb, perm, inv, r);
            for (int b = 0; b < nb; b++) {
                exceed += exceeds(r[b], r_obs, o->alternative);
                if (o->null_out)
                    o->null_out[k0 + b] = r[b];
            }
            int64_t d;
#pragma omp atomic capture
            d = ++done_batches;
            if (tid == 0)
                lrsa_progress(ctx, "permutations", d * PERM_BATCH < P ? d * PERM_BATCH : P, P);
        }
    }
    res->permutations = P;
    res->exceed = exceed;
    res->p_permutation = (double)(1 + exceed) / (double)(1 + P);
done:
    free(work);
    plan_release(&plan);
    return rc;
}

/* ===== Sorting and ranks ==================================================================== */

/* order[0..m-1] = the indices of v sorted by value (stable; LSD radix sort on the float bits, so
 * O(m)). v holds no NaN. m < 2^32. */
static int argsort_f32(const float *v, int64_t m, uint32_t *order, lrsa_err *err)
{
    uint64_t *a = lrsa_malloc((size_t)(m ? m : 1) * sizeof *a, "sort", err);
    uint64_t *b = lrsa_malloc((size_t)(m ? m : 1) * sizeof *b, "sort", err);
    int rc = LRSA_OK;
    if (!a || !b) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t k = 0; k < m; k++) {
        uint32_t u;
        memcpy(&u, &v[k], sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
        a[k] = ((uint64_t)u << 32) | (uint64_t)k;
    }
    /* Three passes of 11, 11 and 10 bits over the key (bits 32..63). */
    static const int shift[3] = { 32, 43, 54 };
    for (int pass = 0; pass < 3; pass++) {
        int64_t cnt[2048] = { 0 };
        int sh = shift[pass];
        for (int64_t k = 0; k < m; k++)
            cnt[(a[k] >> sh) & 2047]++;
        int64_t sum = 0;
        for (int d = 0; d < 2048; d++) {
            int64_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (int64_t k = 0; k < m; k++)
            b[cnt[(a[k] >> sh) & 2047]++] = a[k];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (int64_t k = 0; k < m; k++)
        order[k] = (uint32_t)a[k];
done:
    free(a);
    free(b);
    return rc;
}

/* x <- its average-tie ranks minus their mean (m+1)/2, in place; *scale /= their norm. */
static int centred_ranks(double *x, int64_t m, double *scale, lrsa_err *err)
{
    double *r = lrsa_malloc((size_t)m * sizeof *r, "ranks", err);
    if (!r)
        return LRSA_ENOMEM;
    int rc = lrsa_rank_average(x, m, r, err);
    if (rc) {
        free(r);
        return rc;
    }
    double mid = 0.5 * ((double)m + 1.0), s = 0.0;
    for (int64_t k = 0; k < m; k++) {
        x[k] = r[k] - mid;
        s += x[k] * x[k];
    }
    free(r);
    if (!(s > 0.0))
        return LRSA_FAIL(err, LRSA_EFORMAT, "an RDM is constant over its upper triangle (no variance)");
    *scale /= sqrt(s);
    return LRSA_OK;
}

/* Pearson: x <- x - rint(mean) (as float, exact for integers), *alpha /= |x - mean|,
 * *beta *= sum of the shifted x (start beta at 1). Cosine: x unchanged, *alpha /= |x|. */
static int shifted_values(lrsa_cmp_method method, double *x, int64_t m, double *alpha,
                          double *beta, const char *which, lrsa_err *err)
{
    double mean = 0.0;
    for (int64_t k = 0; k < m; k++)
        mean += x[k];
    mean /= (double)m;
    double c = method == LRSA_CMP_PEARSON ? rint(mean) : 0.0, sum = 0.0, ss = 0.0;
    for (int64_t k = 0; k < m; k++) {
        x[k] = (double)(float)(x[k] - c);
        sum += x[k];
    }
    double mu = method == LRSA_CMP_PEARSON ? sum / (double)m : 0.0;
    for (int64_t k = 0; k < m; k++)
        ss += (x[k] - mu) * (x[k] - mu);
    if (!(ss > 0.0))
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s is %s over its upper triangle", which,
                         method == LRSA_CMP_COSINE ? "all zero" : "constant (no variance)");
    *alpha /= sqrt(ss);
    *beta *= sum;
    return LRSA_OK;
}

/* ===== Inputs =============================================================================== */

static int upper_checked(const float *A, int64_t n, double *out, const char *which, lrsa_err *err)
{
    /* Rows in parallel: row i starts at i(2n - i - 1)/2 in the packed order. The first
     * non-finite value in row-major order is the one reported. */
    int64_t bad = INT64_MAX;
#pragma omp parallel for schedule(dynamic, 32) reduction(min : bad)
    for (int64_t i = 0; i < n; i++) {
        const float *row = A + i * n;
        double *dst = out + i * (2 * n - i - 1) / 2;
        int finite = 1;
        for (int64_t j = i + 1; j < n; j++) {
            float x = row[j];
            finite &= isfinite(x) != 0;
            dst[j - i - 1] = x;
        }
        for (int64_t j = i + 1; !finite && j < n; j++)
            if (!isfinite(row[j])) {
                if (i * n + j < bad)
                    bad = i * n + j;
                break;
            }
    }
    if (bad != INT64_MAX)
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s has a non-finite value at (%lld, %lld)", which,
                         (long long)(bad / n), (long long)(bad % n));
    return LRSA_OK;
}

/* ===== Bootstrap ============================================================================ */

/* Spearman's resamples re-rank in O(m): the pairs are laid out once in the sorted order of each
 * side (stimulus pair (a, b) packed as a << 16 | b, the value, and for the y order the position
 * of the same pair in the x order), so a resample reads both layouts sequentially and gathers
 * only the x ranks of the pairs present. */
typedef struct boot_data {
    int64_t n, m;
    lrsa_cmp_method method;
    const float *xu, *yu;        /* packed upper triangles */
    uint32_t *x_ab, *y_ab;       /* spearman: pairs in x order / in y order */
    float *x_v, *y_v;            /* their values */
    uint32_t *y_posx;            /* position in the x order of the pair at each y position */
} boot_data;

static void boot_data_release(boot_data *d)
{
    free(d->x_ab);
    free(d->y_ab);
    free(d->x_v);
    free(d->y_v);
    free(d->y_posx);
}

static int boot_data_sort(boot_data *d, lrsa_err *err)
{
    size_t m = (size_t)d->m;
    uint32_t *ox = lrsa_malloc(m * sizeof *ox, "sort order", err);
    uint32_t *oy = lrsa_malloc(m * sizeof *oy, "sort order", err);
    uint32_t *tmp = lrsa_malloc(m * sizeof *tmp, "sort order", err);
    d->x_ab = lrsa_malloc(m * sizeof *d->x_ab, "bootstrap layout", err);
    d->y_ab = lrsa_malloc(m * sizeof *d->y_ab, "bootstrap layout", err);
    d->x_v = lrsa_malloc(m * sizeof *d->x_v, "bootstrap layout", err);
    d->y_v = lrsa_malloc(m * sizeof *d->y_v, "bootstrap layout", err);
    d->y_posx = lrsa_malloc(m * sizeof *d->y_posx, "bootstrap layout", err);
    int rc = LRSA_OK;
    if (!ox || !oy || !tmp || !d->x_ab || !d->y_ab || !d->x_v || !d->y_v || !d->y_posx) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = argsort_f32(d->xu, d->m, ox, err)) || (rc = argsort_f32(d->yu, d->m, oy, err)))
        goto done;
    /* tmp[k] = the pair of packed index k */
    int64_t k = 0;
    for (int64_t a = 0; a < d->n; a++)
        for (int64_t b = a + 1; b < d->n; b++)
            tmp[k++] = (uint32_t)(a << 16 | b);
    for (size_t t = 0; t < m; t++) {
        d->x_ab[t] = tmp[ox[t]];
        d->x_v[t] = d->xu[ox[t]];
        d->y_ab[t] = tmp[oy[t]];
        d->y_v[t] = d->yu[oy[t]];
    }
    /* tmp[k] = position of packed index k in the x order */
    for (size_t t = 0; t < m; t++)
        tmp[ox[t]] = (uint32_t)t;
    for (size_t t = 0; t < m; t++)
        d->y_posx[t] = tmp[oy[t]];
done:
    free(ox);
    free(oy);
    free(tmp);
    return rc;
}

typedef struct boot_buf {
    int64_t *idx;                /* n */
    double *c;                   /* n copy counts */
    int64_t *ci;                 /* the same as integers (spearman) */
    int32_t *rx2;                /* m: 2 (rank - mean rank) of x, in x order (spearman) */
    double *xb, *yb;             /* materialised resample (kendall) */
} boot_buf;

static void boot_buf_release(boot_buf *b)
{
    free(b->idx);
    free(b->c);
    free(b->ci);
    free(b->rx2);
    free(b->xb);
    free(b->yb);
}

static int boot_buf_init(boot_buf *b, const boot_data *d, lrsa_err *err)
{
    memset(b, 0, sizeof *b);
    size_t n = (size_t)d->n, m = (size_t)d->m;
    b->idx = lrsa_malloc(n * sizeof *b->idx, "bootstrap", err);
    b->c = lrsa_malloc(n * sizeof *b->c, "bootstrap", err);
    if (!b->idx || !b->c)
        return LRSA_ENOMEM;
    if (d->method == LRSA_CMP_SPEARMAN) {
        b->ci = lrsa_malloc(n * sizeof *b->ci, "bootstrap", err);
        b->rx2 = lrsa_malloc(m * sizeof *b->rx2, "bootstrap ranks", err);
        if (!b->ci || !b->rx2)
            return LRSA_ENOMEM;
    }
    if (d->method == LRSA_CMP_KENDALL_TAU_A) {
        b->xb = lrsa_malloc(m * sizeof *b->xb, "bootstrap resample", err);
        b->yb = lrsa_malloc(m * sizeof *b->yb, "bootstrap resample", err);
        if (!b->xb || !b->yb)
            return LRSA_ENOMEM;
    }
    return LRSA_OK;
}

/* Spearman of a resample: pair (a, b) has weight w = c_a c_b; a group of equal values with total
 * weight W_g starting after cum weight gets the average rank cum + (W_g + 1) / 2 (rankdata on the
 * materialised vector). Ranks are kept doubled and centred (2 rank - (W + 1), integers), exact. */
static double boot_spearman(const boot_data *d, boot_buf *b, int64_t W)
{
    int64_t m = d->m;
    const int64_t *c = b->ci;
    int32_t *rx2 = b->rx2;
    const float *v = d->x_v;
    const uint32_t *ab = d->x_ab;
    int64_t cum = 0, t = 0;
    while (t < m) {
        int64_t e = t, wg = 0;
        do {
            wg += c[ab[e] >> 16] * c[ab[e] & 0xffff];
            e++;
        } while (e < m && v[e] == v[t]);
        int32_t r2 = (int32_t)(2 * cum + wg - W);
        for (int64_t s = t; s < e; s++)
            rx2[s] = r2;
        cum += wg;
        t = e;
    }
    v = d->y_v;
    ab = d->y_ab;
    const uint32_t *posx = d->y_posx;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    cum = 0;
    t = 0;
    while (t < m) {
        int64_t e = t, wg = 0;
        do {
            wg += c[ab[e] >> 16] * c[ab[e] & 0xffff];
            e++;
        } while (e < m && v[e] == v[t]);
        double ry = (double)(2 * cum + wg - W);
        for (int64_t s = t; s < e; s++) {
            int64_t w = c[ab[s] >> 16] * c[ab[s] & 0xffff];
            if (w) {
                double rx = (double)rx2[posx[s]], wd = (double)w;
                sxy += wd * rx * ry;
                sxx += wd * rx * rx;
                syy += wd * ry * ry;
            }
        }
        cum += wg;
        t = e;
    }
    if (!(sxx > 0.0) || !(syy > 0.0))
        return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

/* r of bootstrap resample number bi; NAN when undefined. */
static double boot_one(const boot_data *d, boot_buf *b, uint64_t seed, int64_t bi)
{
    int64_t n = d->n;
    lrsa_boot_draw(seed, bi, n, b->idx);
    for (int64_t a = 0; a < n; a++)
        b->c[a] = 0.0;
    for (int64_t a = 0; a < n; a++)
        b->c[b->idx[a]] += 1.0;
    double sc2 = 0.0;
    for (int64_t a = 0; a < n; a++)
        sc2 += b->c[a] * b->c[a];
    double W = 0.5 * ((double)n * (double)n - sc2);    /* pairs of positions with different stimuli */
    if (W < 2.0)
        return NAN;
    const float *xu = d->xu, *yu = d->yu;
    const double *c = b->c;
    if (d->method == LRSA_CMP_SPEARMAN) {
        for (int64_t a = 0; a < n; a++)
            b->ci[a] = (int64_t)c[a];
        return boot_spearman(d, b, (int64_t)W);
    }
    if (d->method == LRSA_CMP_KENDALL_TAU_A) {
        int64_t k = 0, t = 0;
        for (int64_t a = 0; a < n; a++)
            for (int64_t j = a + 1; j < n; j++, k++) {
                int64_t w = (int64_t)(c[a] * c[j]);
                for (int64_t s = 0; s < w; s++) {
                    b->xb[t] = xu[k];
                    b->yb[t] = yu[k];
                    t++;
                }
            }
        double r;
        lrsa_err e2;
        lrsa_err_init(&e2);
        if (lrsa_compare_vectors(LRSA_CMP_KENDALL_TAU_A, b->xb, b->yb, t, &r, &e2) != LRSA_OK)
            return NAN;
        return r;
    }
    /* Pearson (two passes: weighted means, then centred sums) and cosine (one pass). */
    double mx = 0.0, my = 0.0;
    if (d->method == LRSA_CMP_PEARSON) {
        double sx = 0.0, sy = 0.0;
        for (int64_t a = 0; a < n; a++) {
            if (c[a] == 0.0)
                continue;
            const float *xr = xu + (a * n - a * (a + 1) / 2), *yr = yu + (a * n - a * (a + 1) / 2);
            const double *cr = c + a + 1;
            double rx = 0.0, ry = 0.0;
            for (int64_t t = 0; t < n - 1 - a; t++) {
                rx += cr[t] * xr[t];
                ry += cr[t] * yr[t];
            }
            sx += c[a] * rx;
            sy += c[a] * ry;
        }
        mx = sx / W;
        my = sy / W;
    }
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (int64_t a = 0; a < n; a++) {
        if (c[a] == 0.0)
            continue;
        const float *xr = xu + (a * n - a * (a + 1) / 2), *yr = yu + (a * n - a * (a + 1) / 2);
        const double *cr = c + a + 1;
        double rxy = 0.0, rxx = 0.0, ryy = 0.0;
        for (int64_t t = 0; t < n - 1 - a; t++) {
            double dx = xr[t] - mx, dy = yr[t] - my;
            rxy += cr[t] * dx * dy;
            rxx += cr[t] * dx * dx;
            ryy += cr[t] * dy * dy;
        }
        sxy += c[a] * rxy;
        sxx += c[a] * rxx;
        syy += c[a] * ryy;
    }
    if (!(sxx > 0.0) || !(syy > 0.0))
        return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double lrsa_percentile(double *v, int64_t k, double q)
{
    if (k <= 0)
        return NAN;
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    double pos = q / 100.0 * (double)(k - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= k - 1)
        return v[k - 1];
    if (lo < 0)
        return v[0];
    double f = pos - (double)lo;
    return v[lo] + f * (v[lo + 1] - v[lo]);
}

static int bootstrap_ci(const boot_data *d, const lrsa_infer_opts *o, lrsa_infer_result *res,
                        const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t B = o->bootstrap;
    int threads = lrsa_threads(ctx);
    if (threads < 1)
        threads = 1;
    double *rb = lrsa_malloc((size_t)B * sizeof *rb, "bootstrap", err);
    boot_buf *bufs = lrsa_calloc((size_t)threads, sizeof *bufs, "bootstrap", err);
    int rc = LRSA_OK;
    if (!rb || !bufs) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int t = 0; t < threads; t++)
        if ((rc = boot_buf_init(&bufs[t], d, err)))
            goto done;
    int64_t done_count = 0;
#pragma omp parallel num_threads(threads)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
#pragma omp for schedule(dynamic, 1)
        for (int64_t bi = 0; bi < B; bi++) {
            rb[bi] = boot_one(d, &bufs[tid], o->seed, bi);
            int64_t dc;
#pragma omp atomic capture
            dc = ++done_count;
            if (tid == 0)
                lrsa_progress(ctx, "bootstrap", dc, B);
        }
    }
    int64_t kept = 0;
    for (int64_t bi = 0; bi < B; bi++)
        if (isfinite(rb[bi]))
            rb[kept++] = rb[bi];
    res->bootstrap = kept;
    res->bootstrap_dropped = B - kept;
    double *copy = rb;
    res->ci_lo = lrsa_percentile(copy, kept, 2.5);
    res->ci_hi = lrsa_percentile(copy, kept, 97.5);
done:
    if (bufs)
        for (int t = 0; t < threads; t++)
            boot_buf_release(&bufs[t]);
    free(bufs);
    free(rb);
    return rc;
}

/* ===== Entry points ========================================================================= */

static void result_init(lrsa_infer_result *res, int64_t n)
{
    memset(res, 0, sizeof *res);
    res->n = n;
    res->pairs = n * (n - 1) / 2;
    res->r = NAN;
    res->p_parametric = NAN;
    res->p_permutation = NAN;
    res->ci_lo = NAN;
    res->ci_hi = NAN;
}

static int check_opts(int64_t n, const lrsa_infer_opts *o, lrsa_err *err)
{
    if (n < 3)
        return LRSA_FAIL(err, LRSA_ESHAPE, "%lld stimuli: at least 3 are needed", (long long)n);
    if (n > 65535)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "%lld stimuli: at most 65535 are supported",
                         (long long)n);
    if (o->permutations < 0 && o->permutations != LRSA_PERM_EXACT)
        return LRSA_FAIL(err, LRSA_EMISUSE, "negative permutation count %lld",
                         (long long)o->permutations);
    if (o->bootstrap < 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "negative bootstrap count %lld", (long long)o->bootstrap);
    if (o->permutations == LRSA_PERM_EXACT && n > LRSA_PERM_EXACT_MAX_N)
        return LRSA_FAIL(err, LRSA_ESHAPE,
                         "exact permutation test needs at most %d stimuli, got %lld (%d! is the limit)",
                         LRSA_PERM_EXACT_MAX_N, (long long)n, LRSA_PERM_EXACT_MAX_N);
    return LRSA_OK;
}

/* Fill X (n x n, symmetric, zero diagonal) from a packed upper triangle. */
static void fill_full(float *X, int64_t n, const double *v)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        X[i * n + i] = 0.0f;
        for (int64_t j = i + 1; j < n; j++, k++) {
            float x = (float)v[k];
            X[i * n + j] = x;
            X[j * n + i] = x;
        }
    }
}

int lrsa_rsa_infer(const float *A, const float *B, int64_t n, const lrsa_infer_opts *o,
                   lrsa_infer_result *res, const lrsa_ctx *ctx, lrsa_err *err)
{
    float *xu = NULL, *yu = NULL, *X = NULL, *yhat = NULL;
    double *xd = NULL, *yd = NULL;
    boot_data bd;
    memset(&bd, 0, sizeof bd);
    engine e;
    memset(&e, 0, sizeof e);
    int rc;
    result_init(res, n);
    if ((rc = check_opts(n, o, err)))
        return rc;
    lrsa_cmp_method method = o->method;
    if (method != LRSA_CMP_PEARSON && method != LRSA_CMP_SPEARMAN && method != LRSA_CMP_COSINE &&
        method != LRSA_CMP_KENDALL_TAU_A)
        return LRSA_FAIL(err, LRSA_EMISUSE, "method '%s' does not compare RDMs",
                         lrsa_cmp_method_name(method));
    if (method == LRSA_CMP_KENDALL_TAU_A && o->permutations != 0)
        return LRSA_FAIL(err, LRSA_EMISUSE,
                         "kendall-tau-a has no permutation test (O(m log m) per permutation)");
    int64_t m = n * (n - 1) / 2;
    size_t mz = (size_t)m;
    xd = lrsa_malloc(mz * sizeof *xd, "upper triangle", err);
    yd = lrsa_malloc(mz * sizeof *yd, "upper triangle", err);
    if (o->bootstrap > 0) {
        xu = lrsa_malloc(mz * sizeof *xu, "upper triangle", err);
        yu = lrsa_malloc(mz * sizeof *yu, "upper triangle", err);
    }
    if (!xd || !yd || (o->bootstrap > 0 && (!xu || !yu))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = upper_checked(A, n, xd, "the first RDM", err)) ||
        (rc = upper_checked(B, n, yd, "the second RDM", err)))
        goto done;
    for (int64_t k = 0; xu && k < m; k++) {   /* float values, exact: the bootstrap's input */
        xu[k] = (float)xd[k];
        yu[k] = (float)yd[k];
    }
    if ((rc = lrsa_compare_vectors(method, xd, yd, m, &res->r, err)))
        goto done;
    res->p_parametric = lrsa_p_parametric(method, res->r, m, o->alternative);
    if (o->permutations != 0) {
        /* Both sides prepared once (compare.h): r = sum_k x'_k y'_k, and a relabelling of A's
         * stimuli permutes x' as a matrix. */
        /* Values that tie exactly must tie in floating point too (integer or categorical model
         * RDMs at small n, where the exact test is used): so no per-value scaling. Spearman
         * stores centred ranks (half-integers), Pearson the values minus an integer offset near
         * their mean (exact for integer data, and within a factor 2 of it), cosine the values;
         * the products of two floats are exact in double. r = alpha * sum + beta. */
        double alpha = 1.0, beta = method == LRSA_CMP_PEARSON ? 1.0 : 0.0;
        if (method == LRSA_CMP_SPEARMAN) {
            if ((rc = centred_ranks(xd, m, &alpha, err)) || (rc = centred_ranks(yd, m, &alpha, err)))
                goto done;
        } else if ((rc = shifted_values(method, xd, m, &alpha, &beta, "the first RDM", err)) ||
                   (rc = shifted_values(method, yd, m, &alpha, &beta, "the second RDM", err))) {
            goto done;
        }
        if (method == LRSA_CMP_PEARSON)
            beta *= -alpha / (double)m;   /* - (sum x')(sum y') / m, scaled */
        size_t nn;
        if (lrsa_mul_size((size_t)n, (size_t)n, &nn)) {
            rc = LRSA_FAIL(err, LRSA_ENOMEM, "%lld x %lld matrix is too large", (long long)n,
                           (long long)n);
            goto done;
        }
        X = lrsa_malloc(nn * sizeof *X, "permuted RDM", err);
        yhat = lrsa_malloc(mz * sizeof *yhat, "fixed RDM", err);
        if (!X || !yhat || (rc = engine_init(&e, n, err))) {
            rc = rc ? rc : LRSA_ENOMEM;
            goto done;
        }
        fill_full(X, n, xd);
        for (int64_t k = 0; k < m; k++)
            yhat[k] = (float)yd[k];
        e.X = X;
        e.y = yhat;
        e.alpha = alpha;
        e.beta = beta;
        free(xd);
        free(yd);
        xd = yd = NULL;
        if ((rc = engine_test(&e, o, res, ctx, err)))
            goto done;
        free(X);
        free(yhat);
        X = yhat = NULL;
    }
    if (o->bootstrap > 0) {
        bd.n = n;
        bd.m = m;
        bd.method = method;
        bd.xu = xu;
        bd.yu = yu;
        if (method == LRSA_CMP_SPEARMAN && (rc = boot_data_sort(&bd, err)))
            goto done;
        if ((rc = bootstrap_ci(&bd, o, res, ctx, err)))
            goto done;
    }
done:
    free(e.rowoff);
    free(xu);
    free(yu);
    free(xd);
    free(yd);
    free(X);
    free(yhat);
    boot_data_release(&bd);
    return rc;
}

/* Column-centred copy of X (n x d) in float32 (means in double). */
static float *centre_columns(const float *X, int64_t n, int64_t d, const char *which, lrsa_err *err)
{
    size_t nd;
    if (lrsa_mul_size((size_t)n, (size_t)d, &nd)) {
        LRSA_FAIL(err, LRSA_ENOMEM, "%s is too large", which);
        return NULL;
    }
    float *Xc = lrsa_malloc(nd * sizeof *Xc, "centred embedding", err);
    double *mean = lrsa_calloc((size_t)d, sizeof *mean, "column means", err);
    if (!Xc || !mean) {
        free(Xc);
        free(mean);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            float x = X[i * d + c];
            if (!isfinite(x)) {
                LRSA_FAIL(err, LRSA_EFORMAT, "%s has a non-finite value at (%lld, %lld)", which,
                          (long long)i, (long long)c);
                free(Xc);
                free(mean);
                return NULL;
            }
            mean[c] += x;
        }
    for (int64_t c = 0; c < d; c++)
        mean[c] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++)
            Xc[i * d + c] = (float)((double)X[i * d + c] - mean[c]);
    free(mean);
    return Xc;
}

/* K = Xc Xc^T (n x n), exactly symmetric, scaled to unit Frobenius norm. */
static float *gram_unit(const float *Xc, int64_t n, int64_t d, const char *which, lrsa_err *err)
{
    float *K = lrsa_malloc((size_t)n * (size_t)n * sizeof *K, "Gram matrix", err);
    if (!K)
        return NULL;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)d, 1.0f, Xc, (int)d,
                Xc, (int)d, 0.0f, K, (int)n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = i + 1; j < n; j++) {
            K[j * n + i] = K[i * n + j];
            s += 2.0 * (double)K[i * n + j] * K[i * n + j];
        }
        s += (double)K[i * n + i] * K[i * n + i];
    }
    if (!(s > 0.0)) {
        LRSA_FAIL(err, LRSA_EFORMAT, "%s has no variance (every row is the same)", which);
        free(K);
        return NULL;
    }
    float inv = (float)(1.0 / sqrt(s));
    for (int64_t k = 0; k < n * n; k++)
        K[k] *= inv;
    return K;
}

/* Unbiased HSIC (Song et al. 2012) of K and L with the diagonal ignored: rK, rL row sums of the
 * off-diagonal parts, sK, sL their totals. */
static double hsic_unbiased(const float *K, const float *L, const double *rK, const double *rL,
                            double sK, double sL, int64_t n)
{
    double tr = 0.0, rr = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < n; j++)
            if (j != i)
                s += (double)K[i * n + j] * L[i * n + j];
        tr += s;
        rr += rK[i] * rL[i];
    }
    double nn = (double)n;
    return (tr + sK * sL / ((nn - 1) * (nn - 2)) - 2.0 / (nn - 2) * rr) / (nn * (nn - 3));
}

int lrsa_cka_infer(const float *X, int64_t n, int64_t dx, const float *Y, int64_t dy,
                   const lrsa_infer_opts *o, lrsa_infer_result *res, const lrsa_ctx *ctx,
                   lrsa_err *err)
{
    float *Xc = NULL, *Yc = NULL, *K = NULL, *L = NULL, *yhat = NULL;
    double *u = NULL, *v = NULL, *rK = NULL, *rL = NULL;
    engine e;
    memset(&e, 0, sizeof e);
    int rc;
    result_init(res, n);
    if ((rc = check_opts(n, o, err)))
        return rc;
    int debiased = o->method == LRSA_CMP_CKA_LINEAR_DEBIASED;
    if (o->method != LRSA_CMP_CKA_LINEAR && !debiased)
        return LRSA_FAIL(err, LRSA_EMISUSE, "method '%s' is not linear CKA",
                         lrsa_cmp_method_name(o->method));
    if (o->bootstrap != 0)
        return LRSA_FAIL(err, LRSA_EMISUSE, "linear CKA has no bootstrap CI");
    if (debiased && n < 4)
        return LRSA_FAIL(err, LRSA_ESHAPE, "debiased CKA needs at least 4 stimuli, got %lld",
                         (long long)n);
    if (dx < 1 || dy < 1)
        return LRSA_FAIL(err, LRSA_ESHAPE, "an embedding has no columns");
    if ((rc = lrsa_cka_linear(X, n, dx, Y, dy, debiased, &res->r, ctx, err)))
        return rc;
    if (o->permutations == 0)
        return LRSA_OK;
    int64_t m = n * (n - 1) / 2;
    if (!(Xc = centre_columns(X, n, dx, "the first embedding", err)) ||
        !(Yc = centre_columns(Y, n, dy, "the second embedding", err)) ||
        !(K = gram_unit(Xc, n, dx, "the first embedding", err)) ||
        !(L = gram_unit(Yc, n, dy, "the second embedding", err))) {
        rc = err ? err->code : LRSA_ENOMEM;
        rc = rc ? rc : LRSA_ENOMEM;
        goto done;
    }
    free(Xc);
    free(Yc);
    Xc = Yc = NULL;
    yhat = lrsa_malloc((size_t)m * sizeof *yhat, "CKA", err);
    u = lrsa_malloc((size_t)n * sizeof *u, "CKA", err);
    v = lrsa_malloc((size_t)n * sizeof *v, "CKA", err);
    rK = lrsa_calloc((size_t)n, sizeof *rK, "CKA", err);
    rL = lrsa_calloc((size_t)n, sizeof *rL, "CKA", err);
    if (!yhat || !u || !v || !rK || !rL || (rc = engine_init(&e, n, err))) {
        rc = rc ? rc : LRSA_ENOMEM;
        goto done;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++)
            yhat[k++] = L[i * n + j];
    e.X = K;
    e.y = yhat;
    e.u = u;
    e.v = v;
    if (!debiased) {
        /* <K_pi, L> = 2 value, value = sum_{i<j} K[pi i, pi j] L_ij + sum_i K[pi i, pi i] L_ii / 2 */
        for (int64_t i = 0; i < n; i++) {
            u[i] = K[i * n + i];
            v[i] = 0.5 * L[i * n + i];
        }
        e.alpha = 2.0;
        e.beta = 0.0;
    } else {
        double sK = 0.0, sL = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < n; j++)
                if (j != i) {
                    rK[i] += K[i * n + j];
                    rL[i] += L[i * n + j];
                }
            sK += rK[i];
            sL += rL[i];
        }
        double hKK = hsic_unbiased(K, K, rK, rK, sK, sK, n);
        double hLL = hsic_unbiased(L, L, rL, rL, sL, sL, n);
        if (!(hKK > 0.0) || !(hLL > 0.0)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT,
                           "debiased CKA is undefined here (an unbiased HSIC of an embedding with "
                           "itself is not positive)");
            goto done;
        }
        double nn = (double)n, D = sqrt(hKK * hLL);
        for (int64_t i = 0; i < n; i++) {
            u[i] = rK[i];
            v[i] = -rL[i] / (nn - 2);
        }
        e.alpha = 2.0 / (nn * (nn - 3) * D);
        e.beta = sK * sL / ((nn - 1) * (nn - 2) * nn * (nn - 3) * D);
    }
    rc = engine_test(&e, o, res, ctx, err);
done:
    free(e.rowoff);
    free(Xc);
    free(Yc);
    free(K);
    free(L);
    free(yhat);
    free(u);
    free(v);
    free(rK);
    free(rL);
    return rc;
}
