/* BIDS walking, events.tsv parsing, the trial table and trials.tsv (see latentrsa/bids.h). */
#include "latentrsa/bids.h"
#include "latentrsa/nifti.h"
#include "latentrsa/tsv.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define DEFAULT_TASK "5000scenes"

/* ===== String pool ===================================================== */
/* Strings of a table live in a few large blocks, freed together. */
typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
} pool_block;

typedef struct pool {
    pool_block *head;
} pool;

static const char *pool_strdup(pool *p, const char *s, lrsa_err *err)
{
    size_t n = strlen(s) + 1;
    if (!p->head || p->head->cap - p->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pool_block *b = lrsa_malloc(sizeof *b + cap, "string pool", err);
        if (!b)
            return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    char *dst = p->head->data + p->head->used;
    memcpy(dst, s, n);
    p->head->used += n;
    return dst;
}

static void pool_free(pool *p)
{
    if (!p)
        return;
    pool_block *b = p->head;
    while (b) {
        pool_block *next = b->next;
        free(b);
        b = next;
    }
    free(p);
}

/* ===== Labels ========================================================== */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!is_digit(*s))
            return 0;
    return 1;
}

/* Compare two digit runs [a, a+na) and [b, b+nb) as numbers. */
static int digits_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    while (na > 1 && *a == '0') {
        a++;
        na--;
    }
    while (nb > 1 && *b == '0') {
        b++;
        nb--;
    }
    if (na != nb)
        return na < nb ? -1 : 1;
    int c = memcmp(a, b, na);
    return c < 0 ? -1 : c > 0;
}

int lrsa_label_cmp(const char *a, const char *b)
{
    const char *pa = a, *pb = b;
    while (*pa && *pb) {
        if (is_digit(*pa) && is_digit(*pb)) {
            size_t na = 0, nb = 0;
            while (is_digit(pa[na]))
                na++;
            while (is_digit(pb[nb]))
                nb++;
            int c = digits_cmp(pa, na, pb, nb);
            if (c)
                return c;
            pa += na;
            pb += nb;
            continue;
        }
        if (*pa != *pb)
            return (unsigned char)*pa < (unsigned char)*pb ? -1 : 1;
        pa++;
        pb++;
    }
    if (*pa || *pb)
        return *pa ? 1 : -1;
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

/* Two labels name the same thing: equal, or the same number with or without leading zeros. */
static int same_label(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    return all_digits(a) && all_digits(b) && digits_cmp(a, strlen(a), b, strlen(b)) == 0;
}

/* ===== Volume rules ==================================================== */
lrsa_volume_rule lrsa_volume_rule_default(void)
{
    lrsa_volume_rule r = { LRSA_VOLUME_LAG, LRSA_VOLUME_LAG_DEFAULT };
    return r;
}

int lrsa_volume_rule_parse(const char *text, lrsa_volume_rule *rule, lrsa_err *err)
{
    if (strcmp(text, "stimoff") == 0) {
        rule->kind = LRSA_VOLUME_STIMOFF;
        rule->lag = 0;
        return LRSA_OK;
    }
    double lag;
    if (strncmp(text, "lag:", 4) == 0 && lrsa_parse_double(text + 4, &lag) == 0) {
        if (lag < 0 || lag > LRSA_VOLUME_LAG_MAX)
            return LRSA_FAIL(err, LRSA_EFORMAT, "volume rule '%s': the lag must lie in [0, %g] seconds",
                             text, LRSA_VOLUME_LAG_MAX);
        rule->kind = LRSA_VOLUME_LAG;
        rule->lag = lag;
        return LRSA_OK;
    }
    return LRSA_FAIL(err, LRSA_EFORMAT,
                     "volume rule '%s' is neither 'lag:SECONDS' (e.g. lag:5) nor 'stimoff'", text);
}

char *lrsa_volume_rule_format(const lrsa_volume_rule *rule, char *buf, size_t cap)
{
    if (rule->kind == LRSA_VOLUME_STIMOFF)
        snprintf(buf, cap, "stimoff");
    else
        snprintf(buf, cap, "lag:%g", rule->lag);
    return buf;
}

int64_t lrsa_volume_rule_apply(const lrsa_volume_rule *rule, double onset, double stim_off,
                               double tr)
{
    double v = rule->kind == LRSA_VOLUME_STIMOFF ? floor(stim_off / tr)
                                                  : floor((onset + rule->lag) / tr + 0.5);
    if (!isfinite(v) || fabs(v) > 9e15)
        return INT64_MIN;
    return (int64_t)v;
}

/* ===== Numbers that read back exactly =================================== */
static void fmt_double(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
}

/* ===== Directory listing =============================================== */
typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static void name_list_release(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted bytewise, without "." and ".." (hidden names dropped too). */
static int list_dir(const char *path, name_list *out, lrsa_err *err)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(path);
    if (!d)
        return LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO,
                         "cannot open directory '%s': %s", path, strerror(errno));
    int rc = LRSA_OK;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 32;
            char **p = lrsa_realloc(out->names, cap * sizeof *p, "directory listing", err);
            if (!p) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            out->names = p;
            out->cap = cap;
        }
        if (!(out->names[out->n] = lrsa_strdup(e->d_name, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        out->n++;
        errno = 0;
    }
    if (errno) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot read directory '%s': %s", path, strerror(errno));
        goto done;
    }
    if (out->n)
        qsort(out->names, out->n, sizeof *out->names, cmp_str);
done:
    closedir(d);
    if (rc)
        name_list_release(out);
    return rc;
}

/* ===== BOLD file names ================================================= */
/* Entities of a BOLD file name; pointers into `buf`. */
typedef struct bold_name {
    char buf[1024];
    const char *sub, *ses, *task, *run;
} bold_name;

/* Length of the `_bold.nii[.gz]` suffix of name, or 0 if it has none. */
static size_t bold_suffix(const char *name)
{
    size_t n = strlen(name);
    static const char *const sfx[] = { "_bold.nii.gz", "_bold.nii" };
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(sfx[i]);
        if (n > k && strcmp(name + n - k, sfx[i]) == 0)
            return k;
    }
    return 0;
}

/* Parse "sub-X[_ses-Y]_task-Z[_run-R][_other-V...]". Returns 0, or -1 if the name is not a
 * BIDS BOLD name (no sub- first, an entity without '-', or too long). */
static int parse_bold_name(const char *name, bold_name *bn)
{
    memset(bn, 0, sizeof *bn);
    size_t k = bold_suffix(name);
    size_t n = strlen(name) - k;
    if (!k || n >= sizeof bn->buf)
        return -1;
    memcpy(bn->buf, name, n);
    bn->buf[n] = '\0';
    char *p = bn->buf;
    int first = 1;
    while (p) {
        char *next = strchr(p, '_');
        if (next)
            *next++ = '\0';
        char *dash = strchr(p, '-');
        if (!dash || dash == p || !dash[1])
            return -1;
        *dash = '\0';
        const char *key = p, *val = dash + 1;
        if (first && strcmp(key, "sub") != 0)
            return -1;
        first = 0;
        if (strcmp(key, "sub") == 0)
            bn->sub = val;
        else if (strcmp(key, "ses") == 0)
            bn->ses = val;
        else if (strcmp(key, "task") == 0)
            bn->task = val;
        else if (strcmp(key, "run") == 0)
            bn->run = val;
        p = next;
    }
    return 0;
}

/* ===== Runs found by the walk ========================================== */
typedef struct run_item {
    char *bold_rel;     /* relative to root */
    char *bold_path;    /* root joined */
    char *events_path;
    char *sub, *ses;
    int64_t run;
} run_item;

typedef struct walk {
    const char *root;
    const char *task;
    const lrsa_ctx *ctx;
    run_item *runs;
    size_t nruns, cap;
    name_list other_tasks;      /* distinct task labels skipped */
    int64_t *other_counts;      /* files skipped per task, parallel to other_tasks */
    int64_t skipped_other_task;
    int64_t skipped_no_run;
} walk;

static void walk_release(walk *w)
{
    for (size_t i = 0; i < w->nruns; i++) {
        run_item *r = &w->runs[i];
        free(r->bold_rel);
        free(r->bold_path);
        free(r->events_path);
        free(r->sub);
        free(r->ses);
    }
    free(w->runs);
    free(w->other_counts);
    name_list_release(&w->other_tasks);
}

static int note_other_task(walk *w, const char *task, lrsa_err *err)
{
    w->skipped_other_task++;
    for (size_t i = 0; i < w->other_tasks.n; i++)
        if (strcmp(w->other_tasks.names[i], task) == 0) {
            w->other_counts[i]++;
            return LRSA_OK;
        }
    name_list *l = &w->other_tasks;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        char **p = lrsa_realloc(l->names, cap * sizeof *p, "task list", err);
        if (!p)
            return LRSA_ENOMEM;
        l->names = p;
        int64_t *c = lrsa_realloc(w->other_counts, cap * sizeof *c, "task list", err);
        if (!c)
            return LRSA_ENOMEM;
        w->other_counts = c;
        l->cap = cap;
    }
    if (!(l->names[l->n] = lrsa_strdup(task, err)))
        return LRSA_ENOMEM;
    w->other_counts[l->n] = 1;
    l->n++;
    return LRSA_OK;
}

/* Look at the files of one directory (rel is its path relative to root). dir_sub is the subject
 * directory's label; dir_ses the session directory's label or NULL. */
static int walk_files(walk *w, const char *rel, const char *dir_sub, const char *dir_ses,
                      lrsa_err *err)
{
    int rc = LRSA_OK;
    name_list names = { 0 };
    char *dir = lrsa_path_join(w->root, rel, err);
    char *path = NULL, *relpath = NULL;
    lrsa_strbuf ev = LRSA_STRBUF_INIT;
    if (!dir)
        return LRSA_ENOMEM;
    if ((rc = list_dir(dir, &names, err)))
        goto done;
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.names[i];
        if (strncmp(name, "sub-", 4) != 0 || !bold_suffix(name))
            continue;
        free(path);
        free(relpath);
        relpath = NULL;
        if (!(path = lrsa_path_join(dir, name, err)) || !(relpath = lrsa_path_join(rel, name, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (!lrsa_is_file(path))
            continue;
        bold_name bn;
        if (parse_bold_name(name, &bn) != 0) {
            lrsa_debug(w->ctx, "skipping '%s': not a BIDS file name", path);
            continue;
        }
        if (!bn.task || strcmp(bn.task, w->task) != 0) {
            lrsa_debug(w->ctx, "skipping '%s': task '%s', not '%s'", path,
                       bn.task ? bn.task : "(none)", w->task);
            if ((rc = note_other_task(w, bn.task ? bn.task : "(none)", err)))
                goto done;
            continue;
        }
        if (!bn.run) {
            lrsa_warn(w->ctx, "skipping '%s': task-%s file without a run- entity", path, w->task);
            w->skipped_no_run++;
            continue;
        }
        if (strcmp(bn.sub, dir_sub) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the file name says sub-%s but it lies in sub-%s",
                           path, bn.sub, dir_sub);
            goto done;
        }
        if (bn.ses && dir_ses && !same_label(bn.ses, dir_ses)) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the file name says ses-%s but it lies in ses-%s",
                           path, bn.ses, dir_ses);
            goto done;
        }
        int64_t run;
        if (!all_digits(bn.run) || strlen(bn.run) > 15 || lrsa_parse_int64(bn.run, &run) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': run label '%s' is not a non-negative integer",
                           path, bn.run);
            goto done;
        }
        /* The events file: the same name with _events.tsv for _bold.nii[.gz]. */
        lrsa_strbuf_reset(&ev);
        size_t stem = strlen(path) - bold_suffix(name);
        if ((rc = lrsa_strbuf_add(&ev, path, stem, err)) ||
            (rc = lrsa_strbuf_adds(&ev, "_events.tsv", err)))
            goto done;
        if (!lrsa_is_file(ev.buf)) {
            rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': missing events file for BOLD run '%s'",
                           ev.buf, path);
            goto done;
        }
        if (w->nruns == w->cap) {
            size_t cap = w->cap ? 2 * w->cap : 64;
            run_item *p = lrsa_realloc(w->runs, cap * sizeof *p, "run list", err);
            if (!p) {
                rc = LRSA_ENOMEM;
                goto done;
            }
            w->runs = p;
            w->cap = cap;
        }
        run_item *r = &w->runs[w->nruns];
        memset(r, 0, sizeof *r);
        w->nruns++;
        const char *ses = bn.ses ? bn.ses : dir_ses ? dir_ses : "n/a";
        r->bold_rel = relpath;
        relpath = NULL;
        r->bold_path = path;
        path = NULL;
        r->run = run;
        if (!(r->events_path = lrsa_strdup(ev.buf, err)) || !(r->sub = lrsa_strdup(bn.sub, err)) ||
            !(r->ses = lrsa_strdup(ses, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
    }
done:
    name_list_release(&names);
    lrsa_strbuf_release(&ev);
    free(dir);
    free(path);
    free(relpath);
    return rc;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0 && s[strlen(p)] != '\0';
}

/* A directory entry `name` of root-relative directory `rel` that is itself a directory. */
static int is_subdir(const walk *w, const char *rel, const char *name, char **out_rel, lrsa_err *err)
{
    *out_rel = rel ? lrsa_path_join(rel, name, err) : lrsa_strdup(name, err);
    if (!*out_rel)
        return -1;
    char *full = lrsa_path_join(w->root, *out_rel, err);
    if (!full) {
        free(*out_rel);
        *out_rel = NULL;
        return -1;
    }
    int d = lrsa_is_dir(full);
    free(full);
    if (!d) {
        free(*out_rel);
        *out_rel = NULL;
    }
    return d;
}

/* One session (or a subject without sessions): its func/ and the directory itself (the paper's
 * flattened layout). */
static int walk_session(walk *w, const char *rel, const char *sub, const char *ses, lrsa_err *err)
{
    char *func = NULL;
    int rc = LRSA_OK;
    int d = is_subdir(w, rel, "func", &func, err);
    if (d < 0)
        return LRSA_ENOMEM;
    if (d && (rc = walk_files(w, func, sub, ses, err)))
        goto done;
    rc = walk_files(w, rel, sub, ses, err);
done:
    free(func);
    return rc;
}

static int walk_subject(walk *w, const char *rel, const char *sub, lrsa_err *err)
{
    name_list names = { 0 };
    char *full = lrsa_path_join(w->root, rel, err);
    char *child = NULL;
    int rc = LRSA_OK, nses = 0;
    if (!full)
        return LRSA_ENOMEM;
    if ((rc = list_dir(full, &names, err)))
        goto done;
    for (size_t i = 0; i < names.n; i++) {
        if (!has_prefix(names.names[i], "ses-"))
            continue;
        free(child);
        int d = is_subdir(w, rel, names.names[i], &child, err);
        if (d < 0) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (!d)
            continue;
        nses++;
        if ((rc = walk_session(w, child, sub, names.names[i] + 4, err)))
            goto done;
    }
    if (nses == 0)
        rc = walk_session(w, rel, sub, NULL, err);
done:
    name_list_release(&names);
    free(full);
    free(child);
    return rc;
}

static int cmp_run(const void *pa, const void *pb)
{
    const run_item *a = pa, *b = pb;
    int c = lrsa_label_cmp(a->sub, b->sub);
    if (!c)
        c = lrsa_label_cmp(a->ses, b->ses);
    if (!c)
        c = (a->run > b->run) - (a->run < b->run);
    if (!c)
        c = strcmp(a->bold_rel, b->bold_rel);
    return c;
}

/* ===== The table ======================================================= */
static lrsa_trials *trials_new(lrsa_err *err)
{
    lrsa_trials *t = lrsa_calloc(1, sizeof *t, "trial table", err);
    if (!t)
        return NULL;
    t->pool = lrsa_calloc(1, sizeof(pool), "string pool", err);
    if (!t->pool) {
        free(t);
        return NULL;
    }
    return t;
}

void lrsa_trials_free(lrsa_trials *t)
{
    if (!t)
        return;
    pool_free(t->pool);
    free(t->rows);
    free(t);
}

/* Append a zeroed row; *cap is the allocated row count. */
static lrsa_trial *trials_push(lrsa_trials *t, int64_t *cap, lrsa_err *err)
{
    if (t->n == *cap) {
        int64_t ncap = *cap ? 2 * *cap : 256;
        lrsa_trial *p = lrsa_realloc(t->rows, (size_t)ncap * sizeof *p, "trial table", err);
        if (!p)
            return NULL;
        t->rows = p;
        *cap = ncap;
    }
    lrsa_trial *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static int cmp_trial(const void *pa, const void *pb)
{
    const lrsa_trial *a = pa, *b = pb;
    int c = lrsa_label_cmp(a->subject, b->subject);
    if (!c)
        c = lrsa_label_cmp(a->session, b->session);
    if (!c)
        c = (a->run > b->run) - (a->run < b->run);
    if (!c)
        c = (a->trial > b->trial) - (a->trial < b->trial);
    return c;
}

typedef struct trial_line {
    int64_t trial, line;
} trial_line;

static int cmp_trial_line(const void *pa, const void *pb)
{
    const trial_line *a = pa, *b = pb;
    if (a->trial != b->trial)
        return (a->trial > b->trial) - (a->trial < b->trial);
    return (a->line > b->line) - (a->line < b->line);
}

static const char *const required_cols[] = { "onset", "ImgName", "ImgType", "StimOff(s)" };

/* Read one run's header and events and append its trials. */
static int scan_run(lrsa_trials *t, int64_t *cap, const run_item *r, const lrsa_scan_opts *opts,
                    const lrsa_ctx *ctx, lrsa_err *err)
{
    int rc = LRSA_OK;
    lrsa_tsv *ev = NULL;
    trial_line *tl = NULL;
    pool *pl = t->pool;
    lrsa_nifti_header hdr;
    char rule[64];
    lrsa_volume_rule_format(&opts->rule, rule, sizeof rule);

    if ((rc = lrsa_nifti_read_header(r->bold_path, &hdr, err)))
        goto done;
    if (!(isfinite(hdr.tr) && hdr.tr > 0)) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the header's TR (pixdim[4]) is %g, not a positive "
                       "number of seconds", r->bold_path, hdr.tr);
        goto done;
    }
    int64_t nt = hdr.dims[3];
    if (nt < 1) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': the header says %lld volumes", r->bold_path,
                       (long long)nt);
        goto done;
    }
    if (opts->verify && (rc = lrsa_nifti_verify(r->bold_path, err)))
        goto done;
    if ((rc = lrsa_tsv_read(r->events_path, &ev, err)))
        goto done;

    int col[4];
    for (int k = 0; k < 4; k++) {
        col[k] = lrsa_tsv_col(ev, required_cols[k]);
        if (col[k] < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line 1: missing required column '%s'",
                           r->events_path, required_cols[k]);
            goto done;
        }
    }
    int c_trial = lrsa_tsv_col(ev, "Trial"), c_run = lrsa_tsv_col(ev, "Run"),
        c_sess = lrsa_tsv_col(ev, "Sess");
    if (ev->nrows == 0)
        lrsa_warn(ctx, "'%s': no trials", r->events_path);

    const char *sub = pool_strdup(pl, r->sub, err);
    const char *ses = sub ? pool_strdup(pl, r->ses, err) : NULL;
    const char *bold = ses ? pool_strdup(pl, r->bold_rel, err) : NULL;
    tl = lrsa_calloc(ev->nrows ? (size_t)ev->nrows : 1, sizeof *tl, "trial list", err);
    if (!bold || !tl) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < ev->nrows; i++) {
        long long line = (long long)ev->lines[i];
        const char *name = r->events_path;
        double onset, off;
        int64_t trial = i + 1;
        const char *s = lrsa_tsv_cell(ev, i, col[0]);
        if (lrsa_parse_double(s, &onset) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: onset '%s' is not a number",
                           name, line, col[0] + 1, s);
            goto done;
        }
        s = lrsa_tsv_cell(ev, i, col[3]);
        if (lrsa_parse_double(s, &off) != 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT,
                           "'%s' line %lld column %d: StimOff(s) '%s' is not a number", name, line,
                           col[3] + 1, s);
            goto done;
        }
        const char *img = lrsa_tsv_cell(ev, i, col[1]), *type = lrsa_tsv_cell(ev, i, col[2]);
        if (!*img || strcmp(img, "n/a") == 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: ImgName is empty or n/a",
                           name, line, col[1] + 1);
            goto done;
        }
        if (!*type) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: ImgType is empty", name,
                           line, col[2] + 1);
            goto done;
        }
        if (c_trial >= 0) {
            s = lrsa_tsv_cell(ev, i, c_trial);
            if (lrsa_parse_int64(s, &trial) != 0 || trial < 1) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT,
                               "'%s' line %lld column %d: Trial '%s' is not a positive integer",
                               name, line, c_trial + 1, s);
                goto done;
            }
        }
        if (c_run >= 0) {
            int64_t v;
            s = lrsa_tsv_cell(ev, i, c_run);
            if (lrsa_parse_int64(s, &v) != 0 || v != r->run) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT,
                               "'%s' line %lld column %d: Run is '%s' but the file name says run %lld",
                               name, line, c_run + 1, s, (long long)r->run);
                goto done;
            }
        }
        if (c_sess >= 0 && all_digits(r->ses)) {
            s = lrsa_tsv_cell(ev, i, c_sess);
            if (all_digits(s) && !same_label(s, r->ses)) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT,
                               "'%s' line %lld column %d: Sess is '%s' but the file name says ses-%s",
                               name, line, c_sess + 1, s, r->ses);
                goto done;
            }
        }
        int64_t vol = lrsa_volume_rule_apply(&opts->rule, onset, off, hdr.tr);
        if (vol < 0 || vol >= nt) {
            char on[40], so[40];
            fmt_double(on, sizeof on, onset);
            fmt_double(so, sizeof so, off);
            rc = LRSA_FAIL(err, LRSA_EFORMAT,
                           "'%s' line %lld: trial %lld (onset %s s, StimOff %s s) falls on volume "
                           "%lld by rule %s with TR %g s, outside the %lld volumes of '%s'",
                           name, line, (long long)trial, on, so,
                           vol == INT64_MIN ? -1LL : (long long)vol, rule, hdr.tr, (long long)nt,
                           r->bold_path);
            goto done;
        }
        tl[i].trial = trial;
        tl[i].line = (int64_t)line;
        lrsa_trial *row = trials_push(t, cap, err);
        if (!row) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        row->subject = sub;
        row->session = ses;
        row->run = r->run;
        row->trial = trial;
        row->onset = onset;
        row->stim_off = off;
        row->tr = hdr.tr;
        row->volume = vol;
        row->bold = bold;
        row->nvolumes = nt;
        if (!(row->stimulus = pool_strdup(pl, img, err)) || !(row->img_type = pool_strdup(pl, type, err))) {
            rc = LRSA_ENOMEM;
            goto done;
        }
    }
    if (ev->nrows > 1) {
        qsort(tl, (size_t)ev->nrows, sizeof *tl, cmp_trial_line);
        for (int64_t i = 1; i < ev->nrows; i++)
            if (tl[i].trial == tl[i - 1].trial) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: trial %lld again (first on "
                               "line %lld)", r->events_path, (long long)tl[i].line, c_trial + 1,
                               (long long)tl[i].trial, (long long)tl[i - 1].line);
                goto done;
            }
    }
done:
    free(tl);
    lrsa_tsv_free(ev);
    return rc;
}

void lrsa_scan_opts_init(lrsa_scan_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->task = DEFAULT_TASK;
    opts->rule = lrsa_volume_rule_default();
}

int lrsa_bids_scan(const char *root, const lrsa_scan_opts *opts_in, const lrsa_ctx *ctx,
                   lrsa_trials **out, lrsa_scan_summary *summary, lrsa_err *err)
{
    int rc = LRSA_OK;
    lrsa_scan_opts opts;
    walk w;
    name_list top = { 0 };
    lrsa_trials *t = NULL;
    char *child = NULL;
    int64_t cap = 0;
    *out = NULL;
    memset(&w, 0, sizeof w);
    if (opts_in)
        opts = *opts_in;
    else
        lrsa_scan_opts_init(&opts);
    if (!opts.task)
        opts.task = DEFAULT_TASK;
    w.root = root;
    w.task = opts.task;
    w.ctx = ctx;

    if (!lrsa_is_dir(root)) {
        rc = LRSA_FAIL(err, LRSA_ENOTFOUND, "'%s': not a directory", root);
        goto done;
    }
    if ((rc = list_dir(root, &top, err)))
        goto done;
    for (size_t i = 0; i < top.n; i++) {
        if (!has_prefix(top.names[i], "sub-"))
            continue;
        free(child);
        int d = is_subdir(&w, NULL, top.names[i], &child, err);
        if (d < 0) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        if (d && (rc = walk_subject(&w, child, top.names[i] + 4, err)))
            goto done;
    }
    for (size_t i = 0; i < w.other_tasks.n; i++)
        lrsa_info(ctx, "skipped %lld BOLD file%s of task '%s' (only task '%s' is scanned)",
                  (long long)w.other_counts[i], w.other_counts[i] == 1 ? "" : "s",
                  w.other_tasks.names[i], opts.task);
    if (w.nruns == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "'%s': no BOLD runs of task '%s' (looked for "
                       "sub-*/[ses-*/][func/]sub-*_task-%s_run-*_bold.nii[.gz])", root, opts.task,
                       opts.task);
        goto done;
    }
    qsort(w.runs, w.nruns, sizeof *w.runs, cmp_run);
    for (size_t i = 1; i < w.nruns; i++) {
        const run_item *a = &w.runs[i - 1], *b = &w.runs[i];
        if (strcmp(a->sub, b->sub) == 0 && strcmp(a->ses, b->ses) == 0 && a->run == b->run) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' and '%s' are both sub-%s ses-%s run %lld",
                           a->bold_path, b->bold_path, a->sub, a->ses, (long long)a->run);
            goto done;
        }
    }
    if (!(t = trials_new(err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    t->have_rule = 1;
    t->rule = opts.rule;
    for (size_t i = 0; i < w.nruns; i++) {
        if ((rc = scan_run(t, &cap, &w.runs[i], &opts, ctx, err)))
            goto done;
        lrsa_progress(ctx, opts.verify ? "scan+verify" : "scan", (int64_t)i + 1, (int64_t)w.nruns);
    }
    if (t->n == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "'%s': %zu BOLD runs of task '%s' but no trials in their "
                       "events files", root, w.nruns, opts.task);
        goto done;
    }
    qsort(t->rows, (size_t)t->n, sizeof *t->rows, cmp_trial);
    if (summary) {
        if ((rc = lrsa_trials_summarize(t, summary, err)))
            goto done;
        summary->runs = (int64_t)w.nruns;
        summary->skipped_other_task = w.skipped_other_task;
        summary->skipped_no_run = w.skipped_no_run;
    }
    *out = t;
    t = NULL;
done:
    lrsa_trials_free(t);
    walk_release(&w);
    name_list_release(&top);
    free(child);
    return rc;
}

/* ===== Summary ========================================================= */
static int cmp_stim_subject(const void *pa, const void *pb)
{
    const lrsa_trial *a = *(const lrsa_trial *const *)pa, *b = *(const lrsa_trial *const *)pb;
    int c = strcmp(a->stimulus, b->stimulus);
    return c ? c : strcmp(a->subject, b->subject);
}

int lrsa_trials_summarize(const lrsa_trials *t, lrsa_scan_summary *s, lrsa_err *err)
{
    memset(s, 0, sizeof *s);
    s->trials = t->n;
    if (t->n == 0)
        return LRSA_OK;
    const lrsa_trial **p = lrsa_malloc((size_t)t->n * sizeof *p, "summary", err);
    if (!p)
        return LRSA_ENOMEM;
    /* Subjects, sessions and runs: sort a copy by (subject, session, run). */
    for (int64_t i = 0; i < t->n; i++)
        p[i] = &t->rows[i];
    lrsa_trial *rows = lrsa_malloc((size_t)t->n * sizeof *rows, "summary", err);
    if (!rows) {
        free(p);
        return LRSA_ENOMEM;
    }
    memcpy(rows, t->rows, (size_t)t->n * sizeof *rows);
    qsort(rows, (size_t)t->n, sizeof *rows, cmp_trial);
    for (int64_t i = 0; i < t->n; i++) {
        const lrsa_trial *a = i ? &rows[i - 1] : NULL, *b = &rows[i];
        int new_sub = !a || strcmp(a->subject, b->subject) != 0;
        int new_ses = new_sub || strcmp(a->session, b->session) != 0;
        int new_run = new_ses || a->run != b->run;
        s->subjects += new_sub;
        s->sessions += new_ses;
        s->runs += new_run;
    }
    free(rows);
    /* Stimuli: group by stimulus, then subject; a stimulus is repeated if some subject saw it twice. */
    qsort(p, (size_t)t->n, sizeof *p, cmp_stim_subject);
    int repeated = 0;
    for (int64_t i = 0; i < t->n; i++) {
        int new_stim = i == 0 || strcmp(p[i - 1]->stimulus, p[i]->stimulus) != 0;
        if (new_stim) {
            s->stimuli++;
            repeated = 0;
        } else if (!repeated && strcmp(p[i - 1]->subject, p[i]->subject) == 0) {
            s->repeated++;
            repeated = 1;
        }
    }
    free(p);
    return LRSA_OK;
}

/* ===== trials.tsv ====================================================== */
const char *const lrsa_trials_columns[LRSA_TRIALS_NCOLS] = {
    "subject", "session", "run", "trial", "stimulus", "img_type", "onset", "stim_off", "tr",
    "volume", "bold",
};

int lrsa_trials_write(FILE *fp, const lrsa_trials *t, const char *name, lrsa_err *err)
{
    for (int c = 0; c < LRSA_TRIALS_NCOLS; c++)
        fprintf(fp, "%s%c", lrsa_trials_columns[c], c + 1 < LRSA_TRIALS_NCOLS ? '\t' : '\n');
    for (int64_t i = 0; i < t->n; i++) {
        const lrsa_trial *r = &t->rows[i];
        const char *strs[5] = { r->subject, r->session, r->stimulus, r->img_type, r->bold };
        static const char *const what[5] = { "subject", "session", "stimulus", "img_type", "bold" };
        for (int k = 0; k < 5; k++) {
            int rc = lrsa_tsv_check_field(strs[k], what[k], err);
            if (rc)
                return lrsa_err_prefix(err, "'%s' row %lld", name, (long long)i + 1);
        }
        char on[40], off[40], tr[40];
        fmt_double(on, sizeof on, r->onset);
        fmt_double(off, sizeof off, r->stim_off);
        fmt_double(tr, sizeof tr, r->tr);
        fprintf(fp, "%s\t%s\t%lld\t%lld\t%s\t%s\t%s\t%s\t%s\t%lld\t%s\n", r->subject, r->session,
                (long long)r->run, (long long)r->trial, r->stimulus, r->img_type, on, off, tr,
                (long long)r->volume, r->bold);
    }
    if (ferror(fp))
        return LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", name, strerror(errno));
    return LRSA_OK;
}

static int cmp_trial_ptr(const void *pa, const void *pb)
{
    return cmp_trial(*(const lrsa_trial *const *)pa, *(const lrsa_trial *const *)pb);
}

int lrsa_trials_read(const char *path, lrsa_trials **out, lrsa_err *err)
{
    int rc = LRSA_OK;
    lrsa_tsv *tsv = NULL;
    lrsa_trials *t = NULL;
    const lrsa_trial **idx = NULL;
    int64_t *lines = NULL;
    int col[LRSA_TRIALS_NCOLS];
    int64_t cap = 0;
    *out = NULL;
    if ((rc = lrsa_tsv_read(path, &tsv, err)))
        goto done;
    for (int c = 0; c < LRSA_TRIALS_NCOLS; c++) {
        col[c] = lrsa_tsv_col(tsv, lrsa_trials_columns[c]);
        if (col[c] < 0) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line 1: missing column '%s' (is this a "
                           "trials.tsv written by 'latentrsa scan'?)", path, lrsa_trials_columns[c]);
            goto done;
        }
    }
    if (tsv->nrows == 0) {
        rc = LRSA_FAIL(err, LRSA_EEMPTY, "'%s': no trials", path);
        goto done;
    }
    if (!(t = trials_new(err)) ||
        !(lines = lrsa_malloc((size_t)tsv->nrows * sizeof *lines, "trial table", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < tsv->nrows; i++) {
        long long line = (long long)tsv->lines[i];
        const char *v[LRSA_TRIALS_NCOLS];
        for (int c = 0; c < LRSA_TRIALS_NCOLS; c++)
            v[c] = lrsa_tsv_cell(tsv, i, col[c]);
        /* Strings: subject session stimulus img_type bold must be non-empty. */
        static const int str_cols[5] = { 0, 1, 4, 5, 10 };
        for (int k = 0; k < 5; k++)
            if (!*v[str_cols[k]]) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: %s is empty", path, line,
                               col[str_cols[k]] + 1, lrsa_trials_columns[str_cols[k]]);
                goto done;
            }
        int64_t ints[3];
        static const int int_cols[3] = { 2, 3, 9 };
        static const int64_t int_min[3] = { 0, 1, 0 };
        for (int k = 0; k < 3; k++) {
            int c = int_cols[k];
            if (lrsa_parse_int64(v[c], &ints[k]) != 0 || ints[k] < int_min[k]) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: %s '%s' is not an "
                               "integer >= %lld", path, line, col[c] + 1, lrsa_trials_columns[c], v[c],
                               (long long)int_min[k]);
                goto done;
            }
        }
        double dbl[3];
        static const int dbl_cols[3] = { 6, 7, 8 };
        for (int k = 0; k < 3; k++) {
            int c = dbl_cols[k];
            if (lrsa_parse_double(v[c], &dbl[k]) != 0 || (c == 8 && !(dbl[k] > 0))) {
                rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld column %d: %s '%s' is not a %s",
                               path, line, col[c] + 1, lrsa_trials_columns[c], v[c],
                               c == 8 ? "positive number" : "number");
                goto done;
            }
        }
        lrsa_trial *r = trials_push(t, &cap, err);
        if (!r) {
            rc = LRSA_ENOMEM;
            goto done;
        }
        const char **dst[5] = { &r->subject, &r->session, &r->stimulus, &r->img_type, &r->bold };
        for (int k = 0; k < 5; k++)
            if (!(*dst[k] = pool_strdup(t->pool, v[str_cols[k]], err))) {
                rc = LRSA_ENOMEM;
                goto done;
            }
        r->run = ints[0];
        r->trial = ints[1];
        r->volume = ints[2];
        r->onset = dbl[0];
        r->stim_off = dbl[1];
        r->tr = dbl[2];
        lines[i] = (int64_t)line;
    }
    /* No trial twice: sort pointers, compare neighbours. */
    if (!(idx = lrsa_malloc((size_t)t->n * sizeof *idx, "trial table", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < t->n; i++)
        idx[i] = &t->rows[i];
    qsort(idx, (size_t)t->n, sizeof *idx, cmp_trial_ptr);
    for (int64_t i = 1; i < t->n; i++)
        if (cmp_trial(idx[i - 1], idx[i]) == 0 && strcmp(idx[i - 1]->subject, idx[i]->subject) == 0 &&
            strcmp(idx[i - 1]->session, idx[i]->session) == 0) {
            int64_t la = lines[idx[i - 1] - t->rows], lb = lines[idx[i] - t->rows];
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld: sub-%s ses-%s run %lld trial %lld "
                           "again (also on line %lld)", path, (long long)(la > lb ? la : lb),
                           idx[i]->subject, idx[i]->session, (long long)idx[i]->run,
                           (long long)idx[i]->trial, (long long)(la > lb ? lb : la));
            goto done;
        }
    *out = t;
    t = NULL;
done:
    free(idx);
    free(lines);
    lrsa_trials_free(t);
    lrsa_tsv_free(tsv);
    return rc;
}

const char *lrsa_img_type_source(const char *img_type)
{
    static const struct { const char *suffix, *name; } map[] = {
        { "coco", "COCO" }, { "imagenet", "ImageNet" }, { "scenes", "Scene" },
    };
    size_t n = img_type ? strlen(img_type) : 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t m = strlen(map[i].suffix);
        if (n >= m && strcasecmp(img_type + n - m, map[i].suffix) == 0)
            return map[i].name;
    }
    return "n/a";
}
