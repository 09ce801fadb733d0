/* train-ae: image sets, the render cache, checkpoints and the training loop (train.h). */
#include "latentrsa/train.h"
#include "latentrsa/image.h"
#include "latentrsa/imgproc.h"
#include "latentrsa/nifti.h"
#include "latentrsa/plot.h"
#include "latentrsa/render_jobs.h"
#include "latentrsa/safetensors.h"
#include "latentrsa/tsv.h"
#include "latentrsa/version.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define WALK_MAX_DEPTH 32
#define SHUFFLE_GOLDEN 0x9E3779B97F4A7C15ull

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ===== Metadata ============================================================================== */
int lrsa_meta_set(lrsa_meta *m, const char *key, const char *value, lrsa_err *err)
{
    int i;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key) == 0)
            break;
    if (i == m->n && m->n == LRSA_TRAIN_MAX_META)
        return LRSA_FAIL(err, LRSA_EMISUSE, "too many metadata keys (at '%s')", key);
    char *v = lrsa_strdup(value ? value : "n/a", err);
    if (!v)
        return LRSA_ENOMEM;
    if (i == m->n) {
        char *k = lrsa_strdup(key, err);
        if (!k) {
            free(v);
            return LRSA_ENOMEM;
        }
        m->key[m->n++] = k;
    } else {
        free(m->value[i]);
    }
    m->value[i] = v;
    return LRSA_OK;
}

const char *lrsa_meta_get(const lrsa_meta *m, const char *key)
{
    for (int i = 0; m && i < m->n; i++)
        if (strcmp(m->key[i], key) == 0)
            return m->value[i];
    return NULL;
}

void lrsa_meta_release(lrsa_meta *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        free(m->key[i]);
        free(m->value[i]);
    }
    memset(m, 0, sizeof *m);
}

static int meta_setf(lrsa_meta *m, lrsa_err *err, const char *key, const char *fmt, ...)
    LRSA_PRINTF(4, 5);
static int meta_setf(lrsa_meta *m, lrsa_err *err, const char *key, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return lrsa_meta_set(m, key, buf, err);
}

static int meta_copy(lrsa_meta *dst, const lrsa_meta *src, lrsa_err *err)
{
    for (int i = 0; src && i < src->n; i++) {
        int rc = lrsa_meta_set(dst, src->key[i], src->value[i], err);
        if (rc)
            return rc;
    }
    return LRSA_OK;
}

/* ===== Image sets ============================================================================ */
void lrsa_imageset_free(lrsa_imageset *s)
{
    if (!s)
        return;
    for (int64_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->volume);
    lrsa_labels_free(s->labels);
    free(s->dir);
    free(s);
}

static lrsa_imageset *imageset_new(int64_t n, const char *dir, lrsa_err *err)
{
    lrsa_imageset *s = lrsa_calloc(1, sizeof *s, "image set", err);
    if (!s)
        return NULL;
    s->n = n;
    s->paths = lrsa_calloc(n > 0 ? (size_t)n : 1, sizeof *s->paths, "image list", err);
    s->volume = lrsa_malloc((n > 0 ? (size_t)n : 1) * sizeof *s->volume, "image list", err);
    s->labels = lrsa_labels_new(n, err);
    s->dir = lrsa_strdup(dir ? dir : "", err);
    if (!s->paths || !s->volume || !s->labels || !s->dir) {
        lrsa_imageset_free(s);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        s->volume[i] = -1;
    return s;
}

int lrsa_imageset_take(const lrsa_imageset *s, const int64_t *idx, int64_t n, lrsa_imageset **out,
                       lrsa_err *err)
{
    *out = NULL;
    lrsa_imageset *t = imageset_new(0, s->dir, err);
    if (!t)
        return LRSA_ENOMEM;
    lrsa_labels_free(t->labels);
    free(t->paths);
    free(t->volume);
    t->paths = NULL;
    t->volume = NULL;
    t->labels = lrsa_labels_take(s->labels, idx, n, err);
    t->paths = lrsa_calloc(n > 0 ? (size_t)n : 1, sizeof *t->paths, "image list", err);
    t->volume = lrsa_malloc((n > 0 ? (size_t)n : 1) * sizeof *t->volume, "image list", err);
    if (!t->labels || !t->paths || !t->volume) {
        lrsa_imageset_free(t);
        return LRSA_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(t->paths[i] = lrsa_strdup(s->paths[idx[i]], err))) {
            lrsa_imageset_free(t);
            return LRSA_ENOMEM;
        }
        t->n = i + 1;
        t->volume[i] = s->volume[idx[i]];
    }
    t->n = n;
    t->stem_only = s->stem_only;
    t->from_manifest = s->from_manifest;
    *out = t;
    return LRSA_OK;
}

/* A manifest path must stay inside the folder. */
static int safe_relative(const char *p)
{
    if (!*p || p[0] == '/' || strchr(p, '\\'))
        return 0;
    for (const char *c = p; (c = strstr(c, "..")) != NULL; c += 2) {
        int start = c == p || c[-1] == '/';
        int end = c[2] == 0 || c[2] == '/';
        if (start && end)
            return 0;
    }
    return 1;
}

static int read_manifest(const char *dir, const char *mpath, lrsa_imageset **out, lrsa_err *err)
{
    static const char *const need[] = { "stimulus", "source", "subject", "session", "run", "trial",
                                        "path" };
    lrsa_tsv *t = NULL;
    lrsa_imageset *s = NULL;
    int col[7], vcol;
    int rc = lrsa_tsv_read(mpath, &t, err);
    if (rc)
        goto done;
    for (int c = 0; c < 7; c++)
        if ((col[c] = lrsa_tsv_col(t, need[c])) < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': no column '%s'", mpath, need[c]);
            goto done;
        }
    vcol = lrsa_tsv_col(t, "volume");
    if (!(s = imageset_new(t->nrows, dir, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    s->from_manifest = 1;
    for (int64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < LRSA_LBL_NCOLS && !rc; c++)
            rc = lrsa_labels_set(s->labels, r, c, lrsa_tsv_cell(t, r, col[c]), err);
        if (rc)
            goto done;
        const char *p = lrsa_tsv_cell(t, r, col[6]);
        if (!safe_relative(p)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld: path '%s' leaves the folder", mpath,
                           (long long)t->lines[r], p);
            goto done;
        }
        if (!(s->paths[r] = lrsa_path_join(dir, p, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (vcol >= 0) {
            int64_t v;
            const char *cell = lrsa_tsv_cell(t, r, vcol);
            if (!lrsa_labels_is_na(cell) && (lrsa_parse_int64(cell, &v) || v < 0)) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld: bad volume '%s'", mpath,
                               (long long)t->lines[r], cell);
                goto done;
            }
            if (!lrsa_labels_is_na(cell))
                s->volume[r] = v;
        }
    }
    /* not lrsa_labels_check: a volume of no trial has no stimulus, which training accepts and
     * the embeddings' sidecar refuses (lrsa_embed_fmri checks) */
    *out = s;
    s = NULL;
done:
    lrsa_imageset_free(s);
    lrsa_tsv_free(t);
    return rc;
}

/* ---- folders without a manifest (the paper's renders) ---- */
typedef struct path_list {
    char **v;
    int64_t n, cap;
} path_list;

static int path_push(path_list *l, char *p, lrsa_err *err)
{
    if (l->n == l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 256;
        char **nv = lrsa_realloc(l->v, (size_t)nc * sizeof *nv, "file list", err);
        if (!nv) {
            free(p);
            return LRSA_ENOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = p;
    return LRSA_OK;
}

static int ends_with_png(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int walk_pngs(const char *dir, int depth, path_list *l, lrsa_err *err)
{
    if (depth > WALK_MAX_DEPTH)
        return LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': folders nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d)
        return LRSA_FAIL(err, LRSA_EIO, "cannot read folder '%s': %s", dir, strerror(errno));
    int rc = LRSA_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = lrsa_path_join(dir, e->d_name, err);
        if (!p) {
            rc = LRSA_ENOMEM;
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = walk_pngs(p, depth + 1, l, err);
            free(p);
        } else if (S_ISREG(st.st_mode) && ends_with_png(e->d_name)) {
            rc = path_push(l, p, err);
        } else {
            free(p);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "sub-<label>" with a non-empty alphanumeric label: the label, else NULL. */
static int entity_label(const char *s, size_t len, const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    if (len <= pl || strncmp(s, prefix, pl) != 0 || len - pl >= cap)
        return 0;
    for (size_t i = pl; i < len; i++)
        if (!isalnum((unsigned char)s[i]))
            return 0;
    memcpy(out, s + pl, len - pl);
    out[len - pl] = 0;
    return 1;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Labels of one paper-style file: rel is the path below the folder. */
static int paper_labels(lrsa_labels *lab, int64_t row, const char *rel, lrsa_err *err)
{
    char subject[128] = "", session[128] = "", run[128] = "", trial[128] = "", tmp[128];
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    /* directories: whole components only */
    for (const char *c = rel; c < base;) {
        const char *slash = strchr(c, '/');
        size_t len = (size_t)(slash - c);
        if (entity_label(c, len, "sub-", tmp, sizeof tmp))
            strcpy(subject, tmp);
        else if (entity_label(c, len, "ses-", tmp, sizeof tmp))
            strcpy(session, tmp);
        c = slash + 1;
    }
    /* the file name: underscore-delimited tokens, up to ".png" */
    size_t blen = strlen(base) - 4;
    const char *stim = NULL;
    size_t stim_len = 0;
    const char *tok = base;
    while (tok < base + blen) {
        const char *us = memchr(tok, '_', (size_t)(base + blen - tok));
        size_t len = us ? (size_t)(us - tok) : (size_t)(base + blen - tok);
        const char *next = us ? us + 1 : base + blen;
        if (!subject[0] && entity_label(tok, len, "sub-", tmp, sizeof tmp))
            strcpy(subject, tmp);
        else if (entity_label(tok, len, "ses-", tmp, sizeof tmp))
            strcpy(session, tmp);
        else if (entity_label(tok, len, "run-", tmp, sizeof tmp) && all_digits(tmp))
            snprintf(run, sizeof run, "%s", tmp);
        else if (entity_label(tok, len, "trial-", tmp, sizeof tmp) && all_digits(tmp)) {
            snprintf(trial, sizeof trial, "%s", tmp);
            stim = next;
            stim_len = (size_t)(base + blen - next);
            break;
        } else if (len == 5 && strncmp(tok, "trial", 5) == 0 && us) {
            /* the older "..._run_1_trial_10_<stem>" names */
            const char *us2 = memchr(next, '_', (size_t)(base + blen - next));
            size_t l2 = us2 ? (size_t)(us2 - next) : (size_t)(base + blen - next);
            if (l2 > 0 && l2 < sizeof trial) {
                memcpy(trial, next, l2);
                trial[l2] = 0;
                if (all_digits(trial)) {
                    stim = us2 ? us2 + 1 : base + blen;
                    stim_len = (size_t)(base + blen - stim);
                    break;
                }
                trial[0] = 0;
            }
        } else if (len == 3 && strncmp(tok, "run", 3) == 0 && us) {
            const char *us2 = memchr(next, '_', (size_t)(base + blen - next));
            size_t l2 = us2 ? (size_t)(us2 - next) : (size_t)(base + blen - next);
            if (l2 > 0 && l2 < sizeof run) {
                memcpy(run, next, l2);
                run[l2] = 0;
                if (!all_digits(run))
                    run[0] = 0;
            }
        }
        tok = next;
    }
    if (!stim || stim_len == 0) {   /* no trial entity: the whole name is the stimulus */
        stim = base;
        stim_len = blen;
    }
    char *sv = lrsa_malloc(stim_len + 1, "label", err);
    if (!sv)
        return LRSA_ENOMEM;
    memcpy(sv, stim, stim_len);
    sv[stim_len] = 0;
    for (char *c = sv; *c; c++)   /* keep the cell valid */
        if (*c == '\t' || *c == '\r' || *c == '\n')
            *c = ' ';
    int rc = lrsa_labels_set(lab, row, LRSA_LBL_STIMULUS, sv, err);
    free(sv);
    if (!rc && subject[0])
        rc = lrsa_labels_set(lab, row, LRSA_LBL_SUBJECT, subject, err);
    if (!rc && session[0])
        rc = lrsa_labels_set(lab, row, LRSA_LBL_SESSION, session, err);
    if (!rc && run[0])
        rc = lrsa_labels_set(lab, row, LRSA_LBL_RUN, run, err);
    if (!rc && trial[0])
        rc = lrsa_labels_set(lab, row, LRSA_LBL_TRIAL, trial, err);
    return rc;
}

int lrsa_imageset_read_dir(const char *dir, const lrsa_ctx *ctx, lrsa_imageset **out,
                           lrsa_err *err)
{
    *out = NULL;
    if (!lrsa_is_dir(dir))
        return LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s' is not a folder", dir);
    char *mpath = lrsa_path_join(dir, "manifest.tsv", err);
    if (!mpath)
        return LRSA_ENOMEM;
    path_list l = { NULL, 0, 0 };
    lrsa_imageset *s = NULL;
    int rc;
    if (lrsa_is_file(mpath)) {
        rc = read_manifest(dir, mpath, &s, err);
        if (!rc && s->n == 0)
            rc = LRSA_FAIL(err, LRSA_EEMPTY, "'%s' lists no image", mpath);
        goto done;
    }
    if ((rc = walk_pngs(dir, 0, &l, err)))
        goto done;
    if (l.n == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "no .png image under '%s'", dir);
        goto done;
    }
    qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
    if (!(s = imageset_new(l.n, dir, err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    s->stem_only = 1;
    size_t dlen = strlen(dir);
    for (int64_t i = 0; i < l.n; i++) {
        const char *rel = l.v[i] + dlen;
        while (*rel == '/')
            rel++;
        if ((rc = paper_labels(s->labels, i, rel, err)))
            goto done;
        s->paths[i] = l.v[i];
        l.v[i] = NULL;
    }
    lrsa_info(ctx, "'%s': %lld images without a manifest: subjects from sub-<label> path "
              "components", dir, (long long)s->n);
done:
    for (int64_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    free(mpath);
    if (rc) {
        lrsa_imageset_free(s);
        return rc;
    }
    *out = s;
    return LRSA_OK;
}

/* ---- the subject split ---- */
typedef struct subject_list {
    int n;
    char **v;
} subject_list;

static void subjects_release(subject_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->n = 0;
    l->v = NULL;
}

static int subjects_parse(const char *text, subject_list *l, lrsa_err *err)
{
    l->n = 0;
    l->v = NULL;
    if (!text || !*text || strcmp(text, "none") == 0)
        return LRSA_OK;
    size_t len = strlen(text);
    l->v = lrsa_calloc(len + 1, sizeof *l->v, "subject list", err);
    if (!l->v)
        return LRSA_ENOMEM;
    const char *c = text;
    while (1) {
        const char *comma = strchr(c, ',');
        size_t n = comma ? (size_t)(comma - c) : strlen(c);
        while (n && isspace((unsigned char)*c)) {
            c++;
            n--;
        }
        while (n && isspace((unsigned char)c[n - 1]))
            n--;
        if (n >= 4 && strncmp(c, "sub-", 4) == 0) {
            c += 4;
            n -= 4;
        }
        if (n == 0) {
            subjects_release(l);
            return LRSA_FAIL(err, LRSA_EMISUSE, "empty subject in the list '%s'", text);
        }
        if (!(l->v[l->n] = lrsa_malloc(n + 1, "subject", err))) {
            subjects_release(l);
            return LRSA_ENOMEM;
        }
        memcpy(l->v[l->n], c, n);
        l->v[l->n++][n] = 0;
        if (!comma)
            break;
        c = comma + 1;
    }
    return LRSA_OK;
}

static int subjects_has(const subject_list *l, const char *s)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

int lrsa_imageset_split(const lrsa_imageset *s, const char *train_subjects,
                        const char *test_subjects, lrsa_imageset **train, lrsa_imageset **test,
                        lrsa_err *err)
{
    subject_list tr, te;
    int64_t *a = NULL, *b = NULL, na = 0, nb = 0;
    *train = *test = NULL;
    int rc = subjects_parse(train_subjects, &tr, err);
    if (rc)
        return rc;
    if ((rc = subjects_parse(test_subjects, &te, err)))
        goto done;
    for (int i = 0; i < tr.n; i++)
        if (subjects_has(&te, tr.v[i])) {
            rc = LRSA_FAIL(err, LRSA_EMISUSE, "subject '%s' is in both the training and the test "
                           "set", tr.v[i]);
            goto done;
        }
    a = lrsa_malloc((size_t)(s->n + 1) * sizeof *a, "split", err);
    b = lrsa_malloc((size_t)(s->n + 1) * sizeof *b, "split", err);
    if (!a || !b) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < s->n; i++) {
        const char *sub = lrsa_labels_get(s->labels, i, LRSA_LBL_SUBJECT);
        int na_sub = lrsa_labels_is_na(sub);
        if (!na_sub && subjects_has(&te, sub))
            b[nb++] = i;
        else if (tr.n == 0 || (!na_sub && subjects_has(&tr, sub)))
            a[na++] = i;
    }
    if ((rc = lrsa_imageset_take(s, a, na, train, err)))
        goto done;
    if ((rc = lrsa_imageset_take(s, b, nb, test, err))) {
        lrsa_imageset_free(*train);
        *train = NULL;
    }
done:
    free(a);
    free(b);
    subjects_release(&tr);
    subjects_release(&te);
    return rc;
}

/* ---- stems back to ImgName ---- */

/* Session labels agree: equal, or the same number with or without leading zeros. */
static int same_session(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    if (all_digits(a) && all_digits(b)) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        return strcmp(a, b) == 0;
    }
    return 0;
}

static int stem_matches(const char *img_name, const char *stem)
{
    const char *dot = strchr(img_name, '.');
    size_t n = dot ? (size_t)(dot - img_name) : strlen(img_name);
    return strlen(stem) == n && strncmp(img_name, stem, n) == 0;
}

int lrsa_imageset_resolve(lrsa_imageset *s, const lrsa_trials *t, lrsa_err *err)
{
    if (!s->stem_only)
        return LRSA_OK;
    for (int64_t i = 0; i < s->n; i++) {
        const char *sub = lrsa_labels_get(s->labels, i, LRSA_LBL_SUBJECT);
        const char *ses = lrsa_labels_get(s->labels, i, LRSA_LBL_SESSION);
        const char *run = lrsa_labels_get(s->labels, i, LRSA_LBL_RUN);
        const char *trial = lrsa_labels_get(s->labels, i, LRSA_LBL_TRIAL);
        const char *stem = lrsa_labels_get(s->labels, i, LRSA_LBL_STIMULUS);
        int64_t r, tr;
        if (lrsa_labels_is_na(sub) || lrsa_parse_int64(run, &r) || lrsa_parse_int64(trial, &tr))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the file name does not say its subject, "
                             "run and trial, so its stimulus cannot be looked up", s->paths[i]);
        const lrsa_trial *hit = NULL;
        for (int64_t k = 0; k < t->n && !hit; k++) {
            const lrsa_trial *row = &t->rows[k];
            if (row->run == r && row->trial == tr && strcmp(row->subject, sub) == 0 &&
                (lrsa_labels_is_na(ses) || same_session(row->session, ses)))
                hit = row;
        }
        if (!hit)
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': no trial sub-%s ses-%s run %lld trial %lld "
                             "in the trial table", s->paths[i], sub, ses, (long long)r,
                             (long long)tr);
        if (!stem_matches(hit->stimulus, stem))
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the trial table says this trial showed "
                             "'%s', not '%s'", s->paths[i], hit->stimulus, stem);
        int rc = lrsa_labels_set(s->labels, i, LRSA_LBL_STIMULUS, hit->stimulus, err);
        if (!rc)
            rc = lrsa_labels_set(s->labels, i, LRSA_LBL_SOURCE, lrsa_img_type_source(hit->img_type), err);
        if (!rc && lrsa_labels_is_na(ses))
            rc = lrsa_labels_set(s->labels, i, LRSA_LBL_SESSION, hit->session, err);
        if (rc)
            return rc;
        s->volume[i] = hit->volume;
    }
    s->stem_only = 0;
    return LRSA_OK;
}

/* ===== Pixels ================================================================================ */
int lrsa_train_read_rgb(const char *path, int64_t size, uint8_t *rgb, int64_t *native_w,
                        int64_t *native_h, lrsa_err *err)
{
    lrsa_image img;
    int rc = lrsa_image_read(path, &img, err);
    if (rc)
        return rc;
    if (native_w)
        *native_w = img.width;
    if (native_h)
        *native_h = img.height;
    if (img.width == size && img.height == size)
        memcpy(rgb, img.data, (size_t)(size * size * 3));
    else
        rc = lrsa_resize_bilinear_rgb8(img.data, img.width, img.height, rgb, size, size, err);
    lrsa_image_release(&img);
    if (rc)
        lrsa_err_prefix(err, "'%s'", path);
    return rc;
}

/* torchvision's ToTensor: HWC uint8 -> CHW float32, x / 255 in float32. */
static void to_tensor(const uint8_t *rgb, int64_t size, float *out)
{
    int64_t hw = size * size;
    for (int64_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++)
            out[c * hw + p] = (float)rgb[3 * p + c] / 255.0f;
}

int lrsa_imageset_load(const lrsa_imageset *s, const int64_t *idx, int64_t n, int64_t size,
                       float *out, int threads, lrsa_err *err)
{
    int64_t fail_at = -1;
    lrsa_err ferr;
    lrsa_err_init(&ferr);
    size_t pix = (size_t)(size * size * 3);
    if (threads < 1)
        threads = 1;
    if (threads > n)
        threads = (int)(n > 0 ? n : 1);
#pragma omp parallel num_threads(threads)
    {
        uint8_t *rgb = malloc(pix);
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) {
            lrsa_err e;
            lrsa_err_init(&e);
            int r = rgb ? lrsa_train_read_rgb(s->paths[idx[i]], size, rgb, NULL, NULL, &e)
                        : LRSA_FAIL(&e, LRSA_ENOMEM, "out of memory decoding '%s'",
                                    s->paths[idx[i]]);
            if (!r)
                to_tensor(rgb, size, out + (size_t)i * 3 * (size_t)(size * size));
            else {
#pragma omp critical(lrsa_train_load_fail)
                if (fail_at < 0 || i < fail_at) {
                    fail_at = i;
                    ferr = e;
                }
            }
        }
        free(rgb);
    }
    if (fail_at >= 0) {
        if (err)
            *err = ferr;
        return ferr.code;
    }
    return LRSA_OK;
}

/* ===== The render cache ====================================================================== */
static const char *canvas_name(int c) { return c == LRSA_CANVAS_SQUARE ? "square" : "nilearn"; }
static const char *interp_name(int i) { return i == LRSA_INTERP_LINEAR ? "linear" : "cubic"; }

int lrsa_render_cache_key(const lrsa_render_cache_opts *o, char **out, lrsa_err *err)
{
    char rule[64];
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    lrsa_volume_rule_format(&o->rule, rule, sizeof rule);
    int rc = lrsa_strbuf_addf(&sb, err,
                              "format=latentrsa-render-cache 1\nbids=%s\ntrials=%s\nvolume_rule=%s\n"
                              "volumes=%s\nthreshold=%.17g\ncanvas=%s\ninterp=%s\nsize=%lld\n",
                              o->bids_dir, o->trials_path ? o->trials_path : "(scan)",
                              o->trials_path ? "(from the table)" : rule,
                              o->volumes_all ? "all" : "trials", o->render.threshold,
                              canvas_name(o->render.canvas), interp_name(o->render.interp),
                              (long long)o->render.size);
    if (rc) {
        lrsa_strbuf_release(&sb);
        return rc;
    }
    *out = lrsa_strbuf_detach(&sb, err);
    return *out ? LRSA_OK : LRSA_ENOMEM;
}

static int write_text_file(const char *path, const char *text, lrsa_err *err)
{
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    int rc = lrsa_outfile_open(&of, path, err);
    if (!rc) {
        fputs(text, of.fp);
        rc = lrsa_outfile_commit(&of, err);
    }
    lrsa_outfile_abort(&of);
    return rc;
}

/* Render jobs[a..b] (one run) whose image is missing. */
static int cache_render_run(const lrsa_render_cache_opts *o, const char *dir, lrsa_render_job *jobs,
                            int64_t a, int64_t b, int64_t w, int64_t h, int threads,
                            int64_t *rendered, int64_t *empty, lrsa_err *err)
{
    int64_t n = 0, *todo = lrsa_malloc((size_t)(b - a + 1) * sizeof *todo, "render list", err);
    int64_t *vols = lrsa_malloc((size_t)(b - a + 1) * sizeof *vols, "render list", err);
    char *bold = lrsa_path_join(o->bids_dir, jobs[a].run->bold, err);
    lrsa_nifti_bricks *bricks = NULL;
    int rc = LRSA_OK;
    if (!todo || !vols || !bold) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = a; i <= b; i++) {
        char *p = lrsa_path_join(dir, jobs[i].path, err);
        if (!p) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (!lrsa_is_file(p)) {
            char *slash = strrchr(p, '/');
            *slash = 0;
            rc = lrsa_mkdir_p(p, err);
            todo[n] = i;
            vols[n++] = jobs[i].volume;
        }
        free(p);
        if (rc)
            goto done;
    }
    if (n == 0)
        goto done;
    if ((rc = lrsa_nifti_read_bricks(bold, n, vols, &bricks, err)))
        goto done;
    const lrsa_nifti_header *hdr = lrsa_nifti_bricks_header(bricks);
    int64_t nvox = hdr->dims[0] * hdr->dims[1] * hdr->dims[2], fail_at = -1, nempty = 0;
    lrsa_err ferr;
    lrsa_err_init(&ferr);
    size_t pixels = (size_t)(w * h * 3);
#pragma omp parallel num_threads(threads)
    {
        float *vol = malloc((size_t)nvox * sizeof *vol);
        uint8_t *rgb = malloc(pixels);
#pragma omp for schedule(dynamic, 1) reduction(+ : nempty)
        for (int64_t i = 0; i < n; i++) {
            lrsa_err e;
            lrsa_err_init(&e);
            lrsa_render_info info;
            const lrsa_render_job *j = &jobs[todo[i]];
            int r = !vol || !rgb ? LRSA_FAIL(&e, LRSA_ENOMEM, "out of memory for a render") : 0;
            if (!r)
                r = lrsa_nifti_bricks_volume(bricks, i, vol, (size_t)nvox, &e);
            if (!r) {
                r = lrsa_render_volume(vol, hdr->dims, (const double(*)[4])hdr->affine, &o->render,
                                       rgb, &info, &e);
                if (r)
                    lrsa_err_prefix(&e, "'%s' volume %lld", bold, (long long)j->volume);
                else
                    nempty += info.empty;
            }
            if (!r) {
                char *p = lrsa_path_join(dir, j->path, &e);
                r = p ? lrsa_image_write_png(p, rgb, w, h, &e) : LRSA_ENOMEM;
                free(p);
            }
            if (r) {
#pragma omp critical(lrsa_cache_fail)
                if (fail_at < 0 || i < fail_at) {
                    fail_at = i;
                    ferr = e;
                }
            }
        }
        free(vol);
        free(rgb);
    }
    *empty += nempty;
    if (fail_at >= 0) {
        if (err)
            *err = ferr;
        rc = ferr.code;
    } else {
        *rendered += n;
    }
done:
    lrsa_nifti_bricks_free(bricks);
    free(todo);
    free(vols);
    free(bold);
    return rc;
}

int lrsa_render_cache(const lrsa_render_cache_opts *o, const char *cache_dir,
                      const lrsa_ctx *ctx, lrsa_imageset **out, lrsa_trials **trials_out,
                      lrsa_err *err)
{
    lrsa_trials *t = NULL;
    lrsa_render_job *jobs = NULL;
    int64_t njobs = 0, rendered = 0, empty = 0, w, h;
    char *key = NULL, *old_key = NULL, *key_path = NULL, *man_path = NULL;
    size_t old_len;
    int rc;
    *out = NULL;
    if (trials_out)
        *trials_out = NULL;
    if ((rc = lrsa_render_output_size(&o->render, &w, &h, err)))
        return rc;
    if (!lrsa_is_dir(o->bids_dir))
        return LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s' is not a directory", o->bids_dir);
    if (o->trials_path) {
        rc = lrsa_trials_read(o->trials_path, &t, err);
    } else {
        lrsa_scan_opts so;
        lrsa_scan_opts_init(&so);
        so.rule = o->rule;
        rc = lrsa_bids_scan(o->bids_dir, &so, ctx, &t, NULL, err);
    }
    if (rc)
        goto done;
    if ((rc = lrsa_render_jobs_plan(t, o->volumes_all, o->bids_dir, &jobs, &njobs, err)))
        goto done;
    if ((rc = lrsa_render_cache_key(o, &key, err)) || (rc = lrsa_mkdir_p(cache_dir, err)))
        goto done;
    key_path = lrsa_path_join(cache_dir, "render.key", err);
    man_path = lrsa_path_join(cache_dir, "manifest.tsv", err);
    if (!key_path || !man_path) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    int same = lrsa_is_file(key_path) && lrsa_read_file(key_path, 1 << 20, &old_key, &old_len,
                                                         NULL) == LRSA_OK &&
               strcmp(old_key, key) == 0;
    if (!same) {   /* images already there may be other renders: remove them first */
        unlink(man_path);
        unlink(key_path);
        for (int64_t i = 0; i < njobs; i++) {
            char *p = lrsa_path_join(cache_dir, jobs[i].path, err);
            if (!p) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            unlink(p);
            free(p);
        }
        if ((rc = write_text_file(key_path, key, err)))
            goto done;
    }
    int threads = lrsa_threads(ctx);
    for (int64_t a = 0; a < njobs;) {
        int64_t b = a;
        while (b + 1 < njobs && strcmp(jobs[b + 1].run->bold, jobs[a].run->bold) == 0)
            b++;
        if ((rc = cache_render_run(o, cache_dir, jobs, a, b, w, h, threads, &rendered, &empty, err)))
            goto done;
        lrsa_progress(ctx, "render", b + 1, njobs);
        a = b + 1;
    }
    if ((rc = lrsa_render_manifest_write(man_path, jobs, njobs, err)))
        goto done;
    if (empty)
        lrsa_warn(ctx, "%lld of %lld volumes have nothing above the threshold %g: their images "
                  "are blank", (long long)empty, (long long)rendered, o->render.threshold);
    {
        double bytes = 0;
        for (int64_t i = 0; i < njobs; i++) {
            char *p = lrsa_path_join(cache_dir, jobs[i].path, err);
            struct stat sst;
            if (p && stat(p, &sst) == 0)
                bytes += (double)sst.st_size;
            free(p);
        }
        lrsa_info(ctx, "render cache '%s': %lld images (%lld rendered now, %lld reused), PNG, "
                  "%.1f kB per image on average (%.0f kB raw)", cache_dir, (long long)njobs,
                  (long long)rendered, (long long)(njobs - rendered),
                  njobs ? bytes / (double)njobs / 1000.0 : 0.0, (double)(w * h * 3) / 1000.0);
    }
    if ((rc = lrsa_imageset_read_dir(cache_dir, ctx, out, err)))
        goto done;
    if (trials_out) {
        *trials_out = t;
        t = NULL;
    }
done:
    lrsa_render_jobs_free(jobs, njobs);
    lrsa_trials_free(t);
    free(key);
    free(old_key);
    free(key_path);
    free(man_path);
    return rc;
}

/* ===== Checkpoints =========================================================================== */
static int save_tensors(const char *path, const lrsa_ae *ae, int with_adam, const lrsa_meta *m,
                        lrsa_err *err)
{
    int np = ae->nparam_tensors, nt = with_adam ? 3 * np : np, rc;
    lrsa_st_entry *e = lrsa_calloc((size_t)nt, sizeof *e, "checkpoint", err);
    char (*names)[48] = lrsa_calloc((size_t)nt, sizeof *names, "checkpoint", err);
    const char **kv = lrsa_calloc((size_t)(2 * (m ? m->n : 0) + 1), sizeof *kv, "checkpoint", err);
    if (!e || !names || !kv) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int i = 0; i < np; i++) {
        const lrsa_ae_param *p = &ae->param[i];
        for (int k = 0; k < (with_adam ? 3 : 1); k++) {
            lrsa_st_entry *x = &e[k * np + i];
            snprintf(names[k * np + i], sizeof names[0], "%s%s",
                     k == 0 ? "" : k == 1 ? "adam.m." : "adam.v.", p->name);
            x->name = names[k * np + i];
            x->ndim = p->ndim;
            x->shape = p->shape;
            x->data = (k == 0 ? ae->params : k == 1 ? ae->m : ae->v) + p->offset;
        }
    }
    for (int i = 0; m && i < m->n; i++) {
        kv[2 * i] = m->key[i];
        kv[2 * i + 1] = m->value[i];
    }
    rc = lrsa_st_write_f32(path, e, nt, kv, m ? m->n : 0, err);
done:
    free(e);
    free(names);
    free(kv);
    return rc;
}

int lrsa_train_save_params(const char *path, const lrsa_ae *ae, const lrsa_meta *m, lrsa_err *err)
{
    return save_tensors(path, ae, 0, m, err);
}

static int meta_from_st(const lrsa_safetensors *st, lrsa_meta *meta, lrsa_err *err)
{
    for (int i = 0; meta && i < st->nmeta; i++) {
        int rc = lrsa_meta_set(meta, st->meta_keys[i], st->meta_values[i], err);
        if (rc)
            return rc;
    }
    return LRSA_OK;
}

int lrsa_train_ckpt_config(const char *path, int64_t default_size, lrsa_ae_config *cfg,
                           lrsa_meta *meta, lrsa_err *err)
{
    lrsa_safetensors *st = NULL;
    int rc = lrsa_st_open(path, &st, err);
    if (rc)
        return rc;
    memset(cfg, 0, sizeof *cfg);
    int depth = 0;
    for (int l = 0; l <= LRSA_AE_MAX_DEPTH; l++) {
        char name[32];
        snprintf(name, sizeof name, "encoder.%d.weight", 2 * l);
        const lrsa_st_tensor *t = lrsa_st_find(st, name);
        if (!t)
            break;
        if (l == LRSA_AE_MAX_DEPTH) {
            rc = LRSA_FAIL(err, LRSA_EUNSUPPORTED, "'%s': more than %d encoder layers", path,
                           LRSA_AE_MAX_DEPTH);
            goto done;
        }
        if (t->ndim != 4 || t->shape[2] != 3 || t->shape[3] != 3 ||
            (l == 0 ? t->shape[1] < 1 : t->shape[1] != cfg->channels[l - 1])) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': tensor '%s' is not a 3x3 convolution weight "
                           "following the previous layer", path, name);
            goto done;
        }
        if (l == 0)
            cfg->in_channels = t->shape[1];
        cfg->channels[l] = t->shape[0];
        depth++;
    }
    if (depth == 0) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': no tensor 'encoder.0.weight' (not an "
                       "autoencoder checkpoint)", path);
        goto done;
    }
    cfg->depth = depth;
    cfg->height = cfg->width = default_size;
    const char *hs = lrsa_st_meta(st, "height"), *ws = lrsa_st_meta(st, "width");
    int64_t hv, wv;
    if (hs && ws && !lrsa_parse_int64(hs, &hv) && !lrsa_parse_int64(ws, &wv)) {
        cfg->height = hv;
        cfg->width = wv;
    }
    rc = meta_from_st(st, meta, err);
done:
    lrsa_st_close(st);
    return rc;
}

/* Read every parameter tensor named `prefix<name>` into dst (same layout as params). */
static int read_param_block(const lrsa_safetensors *st, const lrsa_ae *ae, const char *prefix,
                            float *dst, lrsa_err *err)
{
    for (int i = 0; i < ae->nparam_tensors; i++) {
        const lrsa_ae_param *p = &ae->param[i];
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        int rc = lrsa_st_read_into_f32(st, name, p->ndim, p->shape, dst + p->offset, err);
        if (rc)
            return rc;
    }
    return LRSA_OK;
}

/* Every tensor of the file must be one we read (PyTorch's strict load). */
static int check_no_extra(const lrsa_safetensors *st, const lrsa_ae *ae, int with_adam,
                          lrsa_err *err)
{
    for (int t = 0; t < st->ntensors; t++) {
        const char *name = st->tensors[t].name;
        if (with_adam && strncmp(name, "adam.m.", 7) == 0)
            name += 7;
        else if (with_adam && strncmp(name, "adam.v.", 7) == 0)
            name += 7;
        if (lrsa_ae_find_param(ae, name) < 0)
            return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': unexpected tensor '%s' (not a parameter of "
                             "this network)", st->name, st->tensors[t].name);
    }
    return LRSA_OK;
}

int lrsa_train_load_params(const char *path, lrsa_ae *ae, lrsa_meta *meta, lrsa_err *err)
{
    lrsa_safetensors *st = NULL;
    float *tmp = NULL;
    int rc = lrsa_st_open(path, &st, err);
    if (rc)
        return rc;
    if (!(tmp = lrsa_malloc(ae->num_params * sizeof *tmp, "parameters", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = read_param_block(st, ae, "", tmp, err)) || (rc = check_no_extra(st, ae, 0, err)))
        goto done;
    for (size_t i = 0; i < ae->num_params; i++)
        if (!isfinite(tmp[i])) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': a parameter is not finite", path);
            goto done;
        }
    memcpy(ae->params, tmp, ae->num_params * sizeof *tmp);
    rc = meta_from_st(st, meta, err);
done:
    free(tmp);
    lrsa_st_close(st);
    return rc;
}

/* The config as metadata values. */
static void channels_text(const lrsa_ae_config *cfg, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int l = 0; l < cfg->depth && len < cap; l++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", l ? "," : "",
                                (long long)cfg->channels[l]);
}

static int meta_config(lrsa_meta *m, const lrsa_ae_config *cfg, lrsa_err *err)
{
    char ch[256];
    channels_text(cfg, ch, sizeof ch);
    int rc = meta_setf(m, err, "in_channels", "%lld", (long long)cfg->in_channels);
    if (!rc)
        rc = meta_setf(m, err, "height", "%lld", (long long)cfg->height);
    if (!rc)
        rc = meta_setf(m, err, "width", "%lld", (long long)cfg->width);
    if (!rc)
        rc = meta_setf(m, err, "size", "%lld", (long long)cfg->height);
    if (!rc)
        rc = lrsa_meta_set(m, "channels", ch, err);
    return rc;
}

/* A checkpoint's metadata against the options: LRSA_ESHAPE naming the first key that differs
 * (a key the file lacks is not a disagreement). */
static int check_meta_config(const char *path, const lrsa_meta *have, const lrsa_ae_config *cfg,
                             lrsa_err *err)
{
    lrsa_meta want;
    memset(&want, 0, sizeof want);
    int rc = meta_config(&want, cfg, err);
    for (int i = 0; !rc && i < want.n; i++) {
        const char *v = lrsa_meta_get(have, want.key[i]);
        if (v && strcmp(v, want.value[i]) != 0)
            rc = LRSA_FAIL(err, LRSA_ESHAPE, "'%s': its metadata says %s %s, the options say %s "
                           "(--force to use it anyway)", path, want.key[i], v, want.value[i]);
    }
    lrsa_meta_release(&want);
    return rc;
}

/* ===== Options =============================================================================== */
void lrsa_train_opts_init(lrsa_train_opts *o)
{
    memset(o, 0, sizeof *o);
    lrsa_ae_config_default(&o->cfg);
    o->epochs = 100;
    o->batch = 512;
    lrsa_adam_opts_default(&o->adam);
    o->patience = 10;
    o->early_stop = LRSA_EARLY_EPOCH_MEAN;
    o->seed = 0;
    o->shuffle = 1;
    o->recon_images = 8;
}

static const char *const early_names[] = { "epoch-mean", "last-batch", "test" };

int lrsa_early_stop_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, early_names[i]) == 0)
            return i;
    return -1;
}

const char *lrsa_early_stop_name(int e)
{
    return e >= 0 && e < 3 ? early_names[e] : NULL;
}

int lrsa_train_companion(const char *output, const char *suffix, char **path, lrsa_err *err)
{
    size_t n = strlen(output);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (n > el && strcmp(output + n - el, ext) == 0)
        n -= el;
    *path = lrsa_malloc(n + strlen(suffix) + 1, "path", err);
    if (!*path)
        return LRSA_ENOMEM;
    memcpy(*path, output, n);
    strcpy(*path + n, suffix);
    return LRSA_OK;
}

/* ===== History and the state file ============================================================ */
typedef struct history {
    int64_t n, cap;
    double *train, *last, *test, *secs;
} history;

static void history_release(history *h)
{
    free(h->train);
    free(h->last);
    free(h->test);
    free(h->secs);
    memset(h, 0, sizeof *h);
}

static int history_push(history *h, double train, double last, double test, double secs,
                        lrsa_err *err)
{
    if (h->n == h->cap) {
        int64_t nc = h->cap ? 2 * h->cap : 64;
        double **arr[4] = { &h->train, &h->last, &h->test, &h->secs };
        for (int k = 0; k < 4; k++) {
            double *nv = lrsa_realloc(*arr[k], (size_t)nc * sizeof *nv, "loss history", err);
            if (!nv)
                return LRSA_ENOMEM;
            *arr[k] = nv;
        }
        h->cap = nc;
    }
    h->train[h->n] = train;
    h->last[h->n] = last;
    h->test[h->n] = test;
    h->secs[h->n] = secs;
    h->n++;
    return LRSA_OK;
}

static int list_text(const double *v, int64_t n, lrsa_strbuf *sb, lrsa_err *err)
{
    lrsa_strbuf_reset(sb);
    int rc = lrsa_strbuf_adds(sb, "", err);
    for (int64_t i = 0; !rc && i < n; i++)
        rc = lrsa_strbuf_addf(sb, err, "%s%.17g", i ? "," : "", v[i]);
    return rc;
}

/* Parse n comma-separated numbers ("nan" allowed). */
static int list_parse(const char *s, double *out, int64_t n)
{
    if (!s)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        char *end;
        out[i] = strtod(s, &end);
        if (end == s || (*end != ',' && *end != 0) || (*end == 0 && i + 1 < n))
            return -1;
        s = *end ? end + 1 : end;
    }
    return *s == 0 ? 0 : -1;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= '\n';
    h *= 0x100000001b3ull;
    return h;
}

static uint64_t set_hash(const lrsa_imageset *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; s && i < s->n; i++)
        h = fnv1a(h, s->paths[i]);
    return h;
}

/* What must not change between a run and its resume. */
static int fingerprint(lrsa_meta *m, const lrsa_train_opts *o, const lrsa_imageset *train,
                       const lrsa_imageset *test, lrsa_err *err)
{
    lrsa_meta f;
    memset(&f, 0, sizeof f);
    int rc = meta_config(&f, &o->cfg, err);
    if (!rc)
        rc = meta_setf(&f, err, "batch", "%lld", (long long)o->batch);
    if (!rc)
        rc = meta_setf(&f, err, "lr", "%.9g", (double)o->adam.lr);
    if (!rc)
        rc = meta_setf(&f, err, "weight_decay", "%.9g", (double)o->adam.weight_decay);
    if (!rc)
        rc = meta_setf(&f, err, "seed", "%llu", (unsigned long long)o->seed);
    if (!rc)
        rc = meta_setf(&f, err, "shuffle", "%d", o->shuffle);
    if (!rc)
        rc = lrsa_meta_set(&f, "early_stop", lrsa_early_stop_name(o->early_stop), err);
    if (!rc)
        rc = meta_setf(&f, err, "train_images", "%lld", (long long)train->n);
    if (!rc)
        rc = meta_setf(&f, err, "train_hash", "%016llx", (unsigned long long)set_hash(train));
    if (!rc)
        rc = meta_setf(&f, err, "test_images", "%lld", (long long)(test ? test->n : 0));
    if (!rc)
        rc = meta_setf(&f, err, "test_hash", "%016llx", (unsigned long long)set_hash(test));
    for (int i = 0; !rc && i < f.n; i++) {
        char key[80];
        snprintf(key, sizeof key, "fp.%s", f.key[i]);
        rc = lrsa_meta_set(m, key, f.value[i], err);
    }
    lrsa_meta_release(&f);
    return rc;
}

typedef struct train_state {
    int64_t step, epochs_done, best_epoch, bad_epochs;
    double best;
    int stopped;
    history h;
} train_state;

static int save_state(const char *path, const lrsa_ae *ae, const train_state *s,
                      const lrsa_train_opts *o, const lrsa_imageset *train,
                      const lrsa_imageset *test, lrsa_err *err)
{
    lrsa_meta m;
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    memset(&m, 0, sizeof m);
    int rc = lrsa_meta_set(&m, "format", "latentrsa-ae-state", err);
    if (!rc)
        rc = lrsa_meta_set(&m, "format_version", "1", err);
    if (!rc)
        rc = meta_setf(&m, err, "step", "%lld", (long long)s->step);
    if (!rc)
        rc = meta_setf(&m, err, "epochs_done", "%lld", (long long)s->epochs_done);
    if (!rc)
        rc = meta_setf(&m, err, "best_epoch", "%lld", (long long)s->best_epoch);
    if (!rc)
        rc = meta_setf(&m, err, "bad_epochs", "%lld", (long long)s->bad_epochs);
    if (!rc)
        rc = meta_setf(&m, err, "best_value", "%.17g", s->best);
    if (!rc)
        rc = meta_setf(&m, err, "stopped", "%d", s->stopped);
    const double *lists[4] = { s->h.train, s->h.last, s->h.test, s->h.secs };
    const char *names[4] = { "hist.train", "hist.last_batch", "hist.test", "hist.seconds" };
    for (int k = 0; k < 4 && !rc; k++)
        if (!(rc = list_text(lists[k], s->h.n, &sb, err)))
            rc = lrsa_meta_set(&m, names[k], sb.buf, err);
    if (!rc)
        rc = fingerprint(&m, o, train, test, err);
    if (!rc)
        rc = save_tensors(path, ae, 1, &m, err);
    lrsa_strbuf_release(&sb);
    lrsa_meta_release(&m);
    return rc;
}

static int meta_int(const lrsa_safetensors *st, const char *key, int64_t *out, lrsa_err *err)
{
    const char *v = lrsa_st_meta(st, key);
    if (!v || lrsa_parse_int64(v, out) || *out < 0)
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad or missing metadata '%s'", st->name, key);
    return LRSA_OK;
}

static int load_state(const char *path, lrsa_ae *ae, train_state *s, const lrsa_train_opts *o,
                      const lrsa_imageset *train, const lrsa_imageset *test, lrsa_err *err)
{
    lrsa_safetensors *st = NULL;
    lrsa_meta fp;
    float *tmp = NULL;
    memset(&fp, 0, sizeof fp);
    if (!lrsa_is_file(path))
        return LRSA_FAIL(err, LRSA_ENOTFOUND, "no checkpoint to resume from: '%s' does not exist",
                         path);
    int rc = lrsa_st_open(path, &st, err);
    if (rc)
        return rc;
    const char *fmt = lrsa_st_meta(st, "format");
    if (!fmt || strcmp(fmt, "latentrsa-ae-state") != 0) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' is not a latentrsa training state", path);
        goto done;
    }
    if ((rc = fingerprint(&fp, o, train, test, err)))
        goto done;
    for (int i = 0; i < fp.n; i++) {
        const char *v = lrsa_st_meta(st, fp.key[i]);
        if (!v || strcmp(v, fp.value[i]) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "cannot resume from '%s': %s was %s, now %s%s", path,
                           fp.key[i] + 3, v ? v : "(missing)", fp.value[i],
                           strstr(fp.key[i], "hash") ? " (the image list changed)" : "");
            goto done;
        }
    }
    int64_t stopped;
    if ((rc = meta_int(st, "step", &s->step, err)) ||
        (rc = meta_int(st, "epochs_done", &s->epochs_done, err)) ||
        (rc = meta_int(st, "best_epoch", &s->best_epoch, err)) ||
        (rc = meta_int(st, "bad_epochs", &s->bad_epochs, err)) ||
        (rc = meta_int(st, "stopped", &stopped, err)))
        goto done;
    s->stopped = stopped != 0;
    const char *bv = lrsa_st_meta(st, "best_value");
    char *end;
    s->best = bv ? strtod(bv, &end) : NAN;
    history_release(&s->h);
    for (int64_t i = 0; i < s->epochs_done; i++)
        if ((rc = history_push(&s->h, 0, 0, 0, 0, err)))
            goto done;
    {
        double *lists[4] = { s->h.train, s->h.last, s->h.test, s->h.secs };
        const char *names[4] = { "hist.train", "hist.last_batch", "hist.test", "hist.seconds" };
        for (int k = 0; k < 4; k++)
            if (s->epochs_done > 0 && list_parse(lrsa_st_meta(st, names[k]), lists[k],
                                                 s->epochs_done)) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': bad metadata '%s'", path, names[k]);
                goto done;
            }
    }
    size_t np = ae->num_params;
    if (!(tmp = lrsa_malloc(3 * np * sizeof *tmp, "training state", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    if ((rc = read_param_block(st, ae, "", tmp, err)) ||
        (rc = read_param_block(st, ae, "adam.m.", tmp + np, err)) ||
        (rc = read_param_block(st, ae, "adam.v.", tmp + 2 * np, err)) ||
        (rc = check_no_extra(st, ae, 1, err)))
        goto done;
    memcpy(ae->params, tmp, np * sizeof *tmp);
    memcpy(ae->m, tmp + np, np * sizeof *tmp);
    memcpy(ae->v, tmp + 2 * np, np * sizeof *tmp);
done:
    free(tmp);
    lrsa_meta_release(&fp);
    lrsa_st_close(st);
    return rc;
}

/* ===== Reports: AE.json and the figures ====================================================== */
static void json_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static int write_json(const char *path, const lrsa_train_opts *o, const lrsa_train_plan *plan,
                      const train_state *s, int finished, lrsa_err *err)
{
    cJSON *j = cJSON_CreateObject(), *opt, *eps, *data;
    char ch[256];
    int rc = LRSA_OK;
    if (!j)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory writing '%s'", path);
    cJSON_AddStringToObject(j, "generator", "latentrsa " LRSA_VERSION " train-ae");
    if (o->command_line)
        cJSON_AddStringToObject(j, "command", o->command_line);
    opt = cJSON_AddObjectToObject(j, "options");
    channels_text(&o->cfg, ch, sizeof ch);
    cJSON_AddNumberToObject(opt, "size", (double)o->cfg.height);
    cJSON_AddStringToObject(opt, "channels", ch);
    cJSON_AddNumberToObject(opt, "epochs", (double)o->epochs);
    cJSON_AddNumberToObject(opt, "batch", (double)o->batch);
    char num[64];
    snprintf(num, sizeof num, "%.7g", (double)o->adam.lr);   /* the float, as typed */
    cJSON_AddNumberToObject(opt, "lr", strtod(num, NULL));
    snprintf(num, sizeof num, "%.7g", (double)o->adam.weight_decay);
    cJSON_AddNumberToObject(opt, "weight_decay", strtod(num, NULL));
    cJSON_AddNumberToObject(opt, "patience", (double)o->patience);
    cJSON_AddStringToObject(opt, "early_stop", lrsa_early_stop_name(o->early_stop));
    cJSON_AddNumberToObject(opt, "seed", (double)o->seed);
    cJSON_AddBoolToObject(opt, "shuffle", o->shuffle);
    if (o->init_path)
        cJSON_AddStringToObject(opt, "init", o->init_path);
    else
        cJSON_AddNullToObject(opt, "init");
    data = cJSON_AddObjectToObject(j, "data");
    for (int i = 0; o->meta && i < o->meta->n; i++)
        cJSON_AddStringToObject(data, o->meta->key[i], o->meta->value[i]);
    cJSON_AddNumberToObject(j, "train_images", (double)plan->n_train);
    cJSON_AddNumberToObject(j, "test_images", (double)plan->n_test);
    cJSON_AddNumberToObject(j, "steps_per_epoch", (double)plan->steps_per_epoch);
    cJSON_AddNumberToObject(j, "micro_batch", (double)plan->micro_batch);
    cJSON_AddNumberToObject(j, "threads", plan->threads);
    json_num(j, "measured_images_per_second", plan->images_per_s);
    cJSON_AddStringToObject(j, "loss",
        "per-pixel MSE: train_loss is the mean over the epoch's images of the per-pixel MSE "
        "(batches weighted by their size), last_batch_loss that of the epoch's last batch, "
        "test_loss the per-pixel MSE over all test images after the epoch. The paper's printed "
        "test loss summed each batch's mean MSE and divided by the number of images (about "
        "MSE / 512 with its batches of 512): not a per-pixel MSE");
    eps = cJSON_AddArrayToObject(j, "epochs");
    for (int64_t e = 0; e < s->h.n; e++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "epoch", (double)(e + 1));
        json_num(x, "train_loss", s->h.train[e]);
        json_num(x, "last_batch_loss", s->h.last[e]);
        json_num(x, "test_loss", s->h.test[e]);
        json_num(x, "seconds", s->h.secs[e]);
        cJSON_AddItemToArray(eps, x);
    }
    cJSON_AddNumberToObject(j, "epochs_done", (double)s->epochs_done);
    if (s->best_epoch > 0)
        cJSON_AddNumberToObject(j, "best_epoch", (double)s->best_epoch);
    else
        cJSON_AddNullToObject(j, "best_epoch");
    json_num(j, "best_value", s->best);
    cJSON_AddBoolToObject(j, "stopped_early", s->stopped);
    cJSON_AddBoolToObject(j, "finished", finished);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return LRSA_FAIL(err, LRSA_ENOMEM, "out of memory writing '%s'", path);
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    rc = lrsa_strbuf_adds(&sb, text, err);
    if (!rc)
        rc = lrsa_strbuf_adds(&sb, "\n", err);
    if (!rc)
        rc = write_text_file(path, sb.buf, err);
    lrsa_strbuf_release(&sb);
    free(text);
    return rc;
}

static int write_loss_figure(const char *path, const train_state *s, int have_test, lrsa_err *err)
{
    if (s->h.n == 0)
        return LRSA_OK;
    lrsa_series series[3] = {
        { "train (epoch mean)", NULL, s->h.train, s->h.n },
        { "train (last batch)", NULL, s->h.last, s->h.n },
        { "test", NULL, s->h.test, s->h.n },
    };
    lrsa_panel p;
    memset(&p, 0, sizeof p);
    p.kind = LRSA_PANEL_LINES;
    p.title = "reconstruction loss";
    p.xlabel = "epoch";
    p.ylabel = "per-pixel MSE";
    p.u.lines.series = series;
    p.u.lines.nseries = have_test ? 3 : 2;
    p.u.lines.markers = s->h.n <= 30;
    lrsa_figure fig;
    memset(&fig, 0, sizeof fig);
    fig.title = "latentrsa train-ae";
    fig.panels = &p;
    fig.npanels = 1;
    return lrsa_plot_write(&fig, path, err);
}

/* Test originals above their reconstructions (the paper's Figure 2). */
static int write_recon_figure(const char *path, lrsa_ae *ae, const lrsa_imageset *set,
                              int64_t k, const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t S = ae->cfg.height, dim = lrsa_ae_image_dim(&ae->cfg), hw = S * S;
    float *x = NULL;
    lrsa_image *img = NULL;
    char **cap = NULL;
    int64_t *idx = NULL;
    int rc = LRSA_OK;
    if (k > set->n)
        k = set->n;
    if (k <= 0)
        return LRSA_OK;
    x = lrsa_malloc((size_t)(k * dim) * sizeof *x, "reconstruction figure", err);
    img = lrsa_calloc((size_t)(2 * k), sizeof *img, "reconstruction figure", err);
    cap = lrsa_calloc((size_t)(2 * k), sizeof *cap, "reconstruction figure", err);
    idx = lrsa_malloc((size_t)k * sizeof *idx, "reconstruction figure", err);
    if (!x || !img || !cap || !idx) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < k; i++)
        idx[i] = i;
    if ((rc = lrsa_imageset_load(set, idx, k, S, x, lrsa_threads(ctx), err)))
        goto done;
    for (int64_t i = 0; i < 2 * k; i++) {
        img[i].width = img[i].height = S;
        if (!(img[i].data = lrsa_malloc((size_t)(3 * hw), "reconstruction figure", err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
    }
    for (int64_t a = 0; a < k; a += ae->max_batch) {
        int64_t n = k - a < ae->max_batch ? k - a : ae->max_batch;
        if ((rc = lrsa_ae_forward(ae, x + a * dim, n, NULL, ctx, err)))
            goto done;
        const float *y = lrsa_ae_output(ae);
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + (a + i) * dim, *yi = y + i * dim;
            uint8_t *o = img[a + i].data, *r = img[k + a + i].data;
            double se = 0;
            for (int64_t p = 0; p < hw; p++)
                for (int c = 0; c < 3; c++) {
                    float v = yi[c * hw + p], u = xi[c * hw + p];
                    se += ((double)v - u) * ((double)v - u);
                    o[3 * p + c] = (uint8_t)lrintf(u * 255.0f);
                    /* ToPILImage: mul(255).byte(), a truncation */
                    float t = v * 255.0f;
                    r[3 * p + c] = (uint8_t)(t <= 0 ? 0 : t >= 255 ? 255 : (int)t);
                }
            char buf[160];
            const char *stim = lrsa_labels_get(set->labels, a + i, LRSA_LBL_STIMULUS);
            const char *sub = lrsa_labels_get(set->labels, a + i, LRSA_LBL_SUBJECT);
            snprintf(buf, sizeof buf, "%s %.24s", sub, stim);
            cap[a + i] = lrsa_strdup(buf, err);
            snprintf(buf, sizeof buf, "MSE %.4g", se / (double)dim);
            cap[k + a + i] = lrsa_strdup(buf, err);
            if (!cap[a + i] || !cap[k + a + i]) {
                rc = LRSA_ENOMEM;
                goto done;
            }
        }
    }
    int cell = S < 192 ? (int)(S < 96 ? 96 : S) : 192;
    rc = lrsa_plot_image_grid(path, img, 2 * k, (const char *const *)cap, (int)k, cell, cell,
                              "originals (top) and reconstructions (bottom)", err);
done:
    for (int64_t i = 0; img && cap && i < 2 * k; i++) {
        free(img[i].data);
        free(cap[i]);
    }
    free(img);
    free(cap);
    free(idx);
    free(x);
    return rc;
}

/* "3.2 s", "4.5 min", "2.1 h", "3.4 days" */
static const char *duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s))
        snprintf(buf, cap, "unknown");
    else if (s < 120)
        snprintf(buf, cap, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "%.1f min", s / 60);
    else if (s < 172800)
        snprintf(buf, cap, "%.1f h", s / 3600);
    else
        snprintf(buf, cap, "%.1f days", s / 86400);
    return buf;
}

/* ===== Training ============================================================================== */
static void epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, int shuffle)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    if (!shuffle)
        return;
    lrsa_rng rng;
    lrsa_rng_seed(&rng, seed + SHUFFLE_GOLDEN * (uint64_t)(epoch + 1));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)lrsa_rng_below(&rng, (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Per-pixel MSE over a whole set, forward only, in micro-batches. */
static int eval_set(lrsa_ae *ae, const lrsa_imageset *set, float *x, int64_t *idx, double *loss,
                    const lrsa_ctx *ctx, lrsa_err *err)
{
    int64_t S = ae->cfg.height, dim = lrsa_ae_image_dim(&ae->cfg);
    double sum = 0;
    for (int64_t a = 0; a < set->n; a += ae->max_batch) {
        int64_t n = set->n - a < ae->max_batch ? set->n - a : ae->max_batch;
        for (int64_t i = 0; i < n; i++)
            idx[i] = a + i;
        int rc = lrsa_imageset_load(set, idx, n, S, x, lrsa_threads(ctx), err);
        double l;
        if (!rc)
            rc = lrsa_ae_eval_loss(ae, x, n, &l, ctx, err);
        if (rc)
            return rc;
        sum += l * (double)n;
        (void)dim;
    }
    *loss = set->n ? sum / (double)set->n : NAN;
    return LRSA_OK;
}

/* Forward + backward images/s on k training images, after one warm-up pass. */
static int measure_speed(lrsa_ae *ae, const lrsa_imageset *train, float *x, int64_t *idx,
                         int64_t k, double *ips, const lrsa_ctx *ctx, lrsa_err *err)
{
    for (int64_t i = 0; i < k; i++)
        idx[i] = i;
    int rc = lrsa_imageset_load(train, idx, k, ae->cfg.height, x, lrsa_threads(ctx), err);
    if (rc)
        return rc;
    /* one warm-up pass, then timed passes (up to 0.5 s or 31 of them); the median pass sets the
     * rate, so that a pass slowed by another process on a shared machine does not */
    double times[32], total = 0;
    int npass = 0;
    for (int pass = 0; pass < 32; pass++) {
        double t0 = now_seconds();
        if ((rc = lrsa_ae_forward(ae, x, k, NULL, ctx, err)) ||
            (rc = lrsa_ae_backward(ae, k, ctx, err)))
            return rc;
        double dt = now_seconds() - t0;
        if (pass == 0)
            continue;
        times[npass++] = dt;
        total += dt;
        if (total > 0.5 && npass >= 3)
            break;
    }
    for (int i = 1; i < npass; i++)   /* insertion sort */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1];
            times[j - 1] = t;
        }
    lrsa_ae_zero_grad(ae);
    double med = times[npass / 2];
    *ips = med > 0 ? (double)k / med : INFINITY;
    return LRSA_OK;
}

static int build_meta(lrsa_meta *m, const lrsa_train_opts *o, const train_state *s, lrsa_err *err)
{
    int rc = lrsa_meta_set(m, "format", "latentrsa-ae", err);
    if (!rc)
        rc = lrsa_meta_set(m, "format_version", "1", err);
    if (!rc)
        rc = lrsa_meta_set(m, "latentrsa_version", LRSA_VERSION, err);
    if (!rc)
        rc = meta_copy(m, o->meta, err);
    if (!rc)
        rc = meta_config(m, &o->cfg, err);
    if (!rc)
        rc = meta_setf(m, err, "epochs_done", "%lld", (long long)s->epochs_done);
    if (!rc)
        rc = meta_setf(m, err, "best_epoch", "%lld", (long long)s->best_epoch);
    if (!rc)
        rc = meta_setf(m, err, "seed", "%llu", (unsigned long long)o->seed);
    if (!rc)
        rc = lrsa_meta_set(m, "early_stop", lrsa_early_stop_name(o->early_stop), err);
    return rc;
}

/* The checkpoint of a completed epoch: state first, then the model, then the report. */
static int write_checkpoint(const lrsa_train_opts *o, lrsa_ae *ae, const train_state *s,
                            const lrsa_train_plan *plan, const char *state_path,
                            const char *json_path, const char *loss_path,
                            const lrsa_imageset *train, const lrsa_imageset *test, int finished,
                            lrsa_err *err)
{
    lrsa_meta m;
    memset(&m, 0, sizeof m);
    int rc = save_state(state_path, ae, s, o, train, test, err);
    if (!rc)
        rc = build_meta(&m, o, s, err);
    if (!rc)
        rc = lrsa_train_save_params(o->output, ae, &m, err);
    if (!rc)
        rc = write_json(json_path, o, plan, s, finished, err);
    if (!rc)
        rc = write_loss_figure(loss_path, s, test && test->n > 0, err);
    lrsa_meta_release(&m);
    return rc;
}

int lrsa_train_ae(const lrsa_train_opts *o, const lrsa_imageset *train, const lrsa_imageset *test,
                  const lrsa_ctx *ctx, lrsa_train_plan *plan_out, lrsa_train_result *result,
                  lrsa_err *err)
{
    lrsa_ae *ae = NULL;
    float *x = NULL;
    int64_t *order = NULL, *idx = NULL;
    char *state_path = NULL, *json_path = NULL, *loss_path = NULL, *recon_path = NULL;
    train_state s;
    lrsa_train_plan plan;
    lrsa_meta init_meta;
    char b1[32], b2[32];
    int rc;
    memset(&s, 0, sizeof s);
    memset(&plan, 0, sizeof plan);
    memset(&init_meta, 0, sizeof init_meta);
    s.best = NAN;
    if (result) {
        memset(result, 0, sizeof *result);
        result->last_train_loss = result->last_test_loss = NAN;
    }
    int64_t n_test = test ? test->n : 0;
    if (!o->output || !*o->output)
        return LRSA_FAIL(err, LRSA_EMISUSE, "no output path");
    if (o->epochs < 0 || o->batch < 1 || o->patience < 0 || !(o->adam.lr > 0) ||
        !(o->adam.weight_decay >= 0) || lrsa_early_stop_name(o->early_stop) == NULL)
        return LRSA_FAIL(err, LRSA_EMISUSE, "bad training options (epochs %lld, batch %lld, "
                         "patience %lld, lr %g, weight decay %g)", (long long)o->epochs,
                         (long long)o->batch, (long long)o->patience, (double)o->adam.lr,
                         (double)o->adam.weight_decay);
    if ((rc = lrsa_ae_config_check(&o->cfg, err)))
        return rc;
    if (o->cfg.height != o->cfg.width || o->cfg.in_channels != 3)
        return LRSA_FAIL(err, LRSA_EMISUSE, "training images are 3 x size x size");
    if (!train || train->n == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "no training image (no image of the training "
                         "subjects)");
    if (o->early_stop == LRSA_EARLY_TEST && n_test == 0)
        return LRSA_FAIL(err, LRSA_EEMPTY, "--early-stop test needs test images, and the test "
                         "set is empty");
    if ((rc = lrsa_train_companion(o->output, ".state.safetensors", &state_path, err)) ||
        (rc = lrsa_train_companion(o->output, ".json", &json_path, err)) ||
        (rc = lrsa_train_companion(o->output, ".loss.png", &loss_path, err)) ||
        (rc = lrsa_train_companion(o->output, ".recon.png", &recon_path, err)))
        goto done;

    /* the model: fresh, from --init, or from the state file */
    if ((rc = lrsa_ae_new(&o->cfg, &ae, err)))
        goto done;
    if (o->resume) {
        if ((rc = load_state(state_path, ae, &s, o, train, test, err)))
            goto done;
    } else if (o->init_path) {
        lrsa_safetensors *ist = NULL;
        if ((rc = lrsa_st_open(o->init_path, &ist, err)))
            goto done;
        rc = meta_from_st(ist, &init_meta, err);
        lrsa_st_close(ist);
        if (rc)
            goto done;
        if (!o->force && (rc = check_meta_config(o->init_path, &init_meta, &o->cfg, err)))
            goto done;
        if ((rc = lrsa_train_load_params(o->init_path, ae, NULL, err)))
            goto done;
    } else {
        lrsa_rng rng;
        lrsa_rng_seed(&rng, o->seed);
        lrsa_ae_init_pytorch(ae, &rng);
    }

    /* the plan: memory, micro-batch, measured speed */
    int threads = lrsa_threads(ctx);
    size_t budget = o->memory_budget ? o->memory_budget : lrsa_ae_default_memory_budget();
    int64_t dim = lrsa_ae_image_dim(&o->cfg);
    int64_t mb = lrsa_ae_micro_batch(&o->cfg, budget, threads);
    if (mb > o->batch)
        mb = o->batch;
    int64_t biggest = train->n > n_test ? train->n : n_test;
    if (mb > biggest)
        mb = biggest;
    while (mb > 1 && lrsa_ae_memory_bytes(&o->cfg, mb, threads) + (size_t)(mb * dim * 4) > budget)
        mb--;
    if (mb < 1) {
        rc = LRSA_FAIL(err, LRSA_ENOMEM, "not even one %lldx%lld image fits in the memory budget "
                       "of %zu MiB", (long long)o->cfg.height, (long long)o->cfg.width,
                       budget >> 20);
        goto done;
    }
    if ((rc = lrsa_ae_alloc(ae, mb, threads, err)))
        goto done;
    x = lrsa_malloc((size_t)(mb * dim) * sizeof *x, "image batch", err);
    order = lrsa_malloc((size_t)train->n * sizeof *order, "epoch order", err);
    idx = lrsa_malloc((size_t)mb * sizeof *idx, "image batch", err);
    if (!x || !order || !idx) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    plan.n_train = train->n;
    plan.n_test = n_test;
    plan.steps_per_epoch = (train->n + o->batch - 1) / o->batch;
    plan.micro_batch = mb;
    plan.threads = threads;
    plan.memory_bytes = lrsa_ae_memory_bytes(&o->cfg, mb, threads) + (size_t)(mb * dim * 4);
    plan.first_epoch = s.epochs_done;
    int64_t k = mb < 2 * (int64_t)threads ? mb : 2 * (int64_t)threads;
    if (k > train->n)
        k = train->n;
    if ((rc = measure_speed(ae, train, x, idx, k, &plan.images_per_s, ctx, err)))
        goto done;
    /* a forward pass costs about a third of forward + backward */
    plan.epoch_seconds = ((double)train->n + (double)n_test / 3.0) / plan.images_per_s;
    int64_t left = s.stopped ? 0 : o->epochs - s.epochs_done;
    if (left < 0)
        left = 0;
    plan.total_seconds = (double)left * plan.epoch_seconds;
    lrsa_info(ctx, "plan: %lld training and %lld test images of 3x%lldx%lld; batch %lld: %lld "
              "step%s per epoch, micro-batch %lld, %d threads, %.1f MiB",
              (long long)train->n, (long long)n_test, (long long)o->cfg.height,
              (long long)o->cfg.width, (long long)o->batch, (long long)plan.steps_per_epoch,
              plan.steps_per_epoch == 1 ? "" : "s", (long long)mb, threads, (double)plan.memory_bytes / 1048576.0);
    lrsa_info(ctx, "plan: measured %.3g images/s (forward + backward, after a warm-up): about %s "
              "per epoch, %s for %lld epoch%s%s", plan.images_per_s,
              duration(plan.epoch_seconds, b1, sizeof b1), duration(plan.total_seconds, b2,
              sizeof b2), (long long)left, left == 1 ? "" : "s",
              s.epochs_done ? " (resuming)" : "");
    if (plan.total_seconds > 6 * 3600.0)
        lrsa_warn(ctx, "this is a long run: about %s on %d threads (the paper's full BOLD5000 "
                  "training takes days on 2 cores); a smaller --size, fewer --epochs or fewer "
                  "images shorten it, and --resume continues after an interruption",
                  duration(plan.total_seconds, b1, sizeof b1), threads);
    if (plan_out)
        *plan_out = plan;
    if (o->dry_run)
        goto done;
    {   /* the output's folder */
        char *dir = lrsa_strdup(o->output, err), *slash = dir ? strrchr(dir, '/') : NULL;
        if (!dir)
            rc = LRSA_ENOMEM;
        else if (slash && slash != dir) {
            *slash = 0;
            rc = lrsa_mkdir_p(dir, err);
        }
        free(dir);
        if (rc)
            goto done;
    }
    if (o->resume)
        lrsa_info(ctx, "resuming after epoch %lld (step %lld)", (long long)s.epochs_done,
                  (long long)s.step);

    /* epochs */
    int64_t steps_here = 0;
    int have_test = n_test > 0;
    if (s.epochs_done == 0 && o->epochs == 0 &&
        (rc = write_checkpoint(o, ae, &s, &plan, state_path, json_path, loss_path, train, test,
                               0, err)))
        goto done;
    for (int64_t e = s.epochs_done; e < o->epochs && !s.stopped; e++) {
        double t0 = now_seconds(), sum = 0, last = NAN;
        epoch_order(order, train->n, o->seed, e, o->shuffle);
        for (int64_t st = 0; st < plan.steps_per_epoch; st++) {
            int64_t b0 = st * o->batch;
            int64_t nb = train->n - b0 < o->batch ? train->n - b0 : o->batch;
            double lb = 0;
            lrsa_ae_zero_grad(ae);
            for (int64_t m0 = 0; m0 < nb; m0 += mb) {
                int64_t kk = nb - m0 < mb ? nb - m0 : mb;
                double l;
                if ((rc = lrsa_imageset_load(train, order + b0 + m0, kk, o->cfg.height, x, threads,
                                             err)) ||
                    (rc = lrsa_ae_forward(ae, x, kk, &l, ctx, err)) ||
                    (rc = lrsa_ae_backward(ae, nb, ctx, err)))
                    goto done;
                lb += l * (double)kk;
            }
            if ((rc = lrsa_ae_adam_step(ae, &o->adam, s.step + 1, ctx, err)))
                goto done;
            s.step++;
            lb /= (double)nb;
            sum += lb * (double)nb;
            last = lb;
            steps_here++;
            if (ctx && ctx->progress) {
                char label[128];
                double el = now_seconds() - t0;
                snprintf(label, sizeof label, "epoch %lld/%lld loss %.5g, %.3g img/s",
                         (long long)(e + 1), (long long)o->epochs, sum / (double)(b0 + nb),
                         el > 0 ? (double)(b0 + nb) / el : 0.0);
                lrsa_progress(ctx, label, st + 1, plan.steps_per_epoch);
            }
            if (o->stop_after_steps > 0 && steps_here >= o->stop_after_steps) {
                rc = LRSA_FAIL(err, LRSA_EIO, "stopped after %lld optimiser steps, in epoch %lld "
                               "(a simulated crash: LRSA_TRAIN_STOP_AFTER_STEPS)",
                               (long long)steps_here, (long long)(e + 1));
                goto done;
            }
        }
        double train_loss = sum / (double)train->n, test_loss = NAN;
        if (have_test && (rc = eval_set(ae, test, x, idx, &test_loss, ctx, err)))
            goto done;
        double secs = now_seconds() - t0;
        double value = o->early_stop == LRSA_EARLY_TEST ? test_loss
                       : o->early_stop == LRSA_EARLY_LAST_BATCH ? last : train_loss;
        int better = isfinite(value) && (!isfinite(s.best) || value < s.best);
        if (better) {
            s.best = value;
            s.best_epoch = e + 1;
            s.bad_epochs = 0;
        } else {
            s.bad_epochs++;
        }
        if ((rc = history_push(&s.h, train_loss, last, test_loss, secs, err)))
            goto done;
        s.epochs_done = e + 1;
        if (o->patience > 0 && s.bad_epochs >= o->patience && e + 1 < o->epochs)
            s.stopped = 1;
        if ((rc = write_checkpoint(o, ae, &s, &plan, state_path, json_path, loss_path, train, test,
                                   0, err)))
            goto done;
        char tl[48] = "n/a";
        if (have_test)
            snprintf(tl, sizeof tl, "%.6g", test_loss);
        lrsa_info(ctx, "epoch %lld/%lld: train %.6g (last batch %.6g), test %s, %s, %.3g img/s%s",
                  (long long)(e + 1), (long long)o->epochs, train_loss, last, tl,
                  duration(secs, b1, sizeof b1), (double)train->n / (secs > 0 ? secs : 1e-9),
                  better ? " (best)" : "");
        if (s.stopped)
            lrsa_info(ctx, "early stopping: no improvement of the %s loss for %lld epochs "
                      "(best: epoch %lld)", lrsa_early_stop_name(o->early_stop),
                      (long long)s.bad_epochs, (long long)s.best_epoch);
    }
    /* final report and figures */
    if ((rc = write_json(json_path, o, &plan, &s, 1, err)))
        goto done;
    if (s.epochs_done > 0 && (rc = write_loss_figure(loss_path, &s, have_test, err)))
        goto done;
    if ((rc = write_recon_figure(recon_path, ae, have_test ? test : train, o->recon_images, ctx,
                                 err)))
        goto done;
    if (result) {
        result->epochs_done = s.epochs_done;
        result->best_epoch = s.best_epoch;
        result->stopped_early = s.stopped;
        result->steps = s.step;
        if (s.h.n) {
            result->last_train_loss = s.h.train[s.h.n - 1];
            result->last_test_loss = s.h.test[s.h.n - 1];
        }
    }
done:
    lrsa_ae_free(ae);
    free(x);
    free(order);
    free(idx);
    free(state_path);
    free(json_path);
    free(loss_path);
    free(recon_path);
    history_release(&s.h);
    lrsa_meta_release(&init_meta);
    return rc;
}

/* ===== Describing where images came from ===================================================== */
int lrsa_render_cache_describe(const char *dir, lrsa_meta *m, lrsa_err *err)
{
    static const char *const keys[][2] = {
        { "volume_rule", "volume_rule" }, { "volumes", "volumes" },
        { "threshold", "render_threshold" }, { "canvas", "render_canvas" },
        { "interp", "render_interp" }, { "size", "render_size" },
    };
    char *path = lrsa_path_join(dir, "render.key", err), *text = NULL;
    size_t len;
    int rc = path ? LRSA_OK : LRSA_ENOMEM;
    int have = !rc && lrsa_is_file(path) &&
               lrsa_read_file(path, 1 << 20, &text, &len, NULL) == LRSA_OK;
    for (size_t k = 0; !rc && k < sizeof keys / sizeof keys[0]; k++) {
        char value[256] = "unknown";
        size_t kl = strlen(keys[k][0]);
        for (const char *line = have ? text : NULL; line && *line;) {
            const char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) : strlen(line);
            if (ll > kl && strncmp(line, keys[k][0], kl) == 0 && line[kl] == '=' &&
                ll - kl - 1 < sizeof value) {
                memcpy(value, line + kl + 1, ll - kl - 1);
                value[ll - kl - 1] = 0;
            }
            line = nl ? nl + 1 : NULL;
        }
        rc = lrsa_meta_set(m, keys[k][1], value, err);
    }
    free(text);
    free(path);
    return rc;
}
