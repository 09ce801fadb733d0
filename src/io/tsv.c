/* Tab-separated tables: one pass to count, one pass to split in place. */
#include "latentrsa/tsv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TSV_MAX_COLS 4096
#define TSV_MAX_BYTES ((size_t)256 << 20)

void lrsa_tsv_free(lrsa_tsv *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->header);
    free(t->cells);
    free(t->lines);
    free(t->storage);
    free(t);
}

/* Count the fields of the line starting at p (up to end), CR stripped. */
static int count_fields(const char *p, const char *end)
{
    int n = 1;
    for (; p < end; p++)
        if (*p == '\t')
            n++;
    return n;
}

int lrsa_tsv_parse(const char *text, size_t len, const char *name, lrsa_tsv **out, lrsa_err *err)
{
    *out = NULL;
    if (memchr(text, '\0', len))
        return LRSA_FAIL(err, LRSA_EFORMAT, "'%s': contains a NUL byte; not a text table", name);

    lrsa_tsv *t = lrsa_calloc(1, sizeof *t, "a table", err);
    if (!t)
        return LRSA_ENOMEM;
    int rc = LRSA_OK;
    if (!(t->name = lrsa_strdup(name, err)) || !(t->storage = lrsa_malloc(len + 1, "a table", err))) {
        rc = LRSA_ENOMEM;
        goto done;
    }
    memcpy(t->storage, text, len);
    t->storage[len] = '\0';

    /* Drop trailing blank lines (and a trailing newline) so they don't count as rows. */
    size_t used = len;
    while (used > 0 && (t->storage[used - 1] == '\n' || t->storage[used - 1] == '\r'))
        used--;
    t->storage[used] = '\0';
    if (used == 0) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s': empty table (no header line)", name);
        goto done;
    }

    int64_t nlines = 1;
    for (size_t i = 0; i < used; i++)
        if (t->storage[i] == '\n')
            nlines++;

    /* Header. */
    char *line = t->storage;
    char *eol = strchr(line, '\n');
    char *line_end = eol ? eol : line + strlen(line);
    if (line_end > line && line_end[-1] == '\r')
        line_end--;
    t->ncols = count_fields(line, line_end);
    if (t->ncols > TSV_MAX_COLS) {
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line 1: %d columns (limit %d)", name, t->ncols,
                       TSV_MAX_COLS);
        goto done;
    }
    t->nrows = nlines - 1;
    t->header = lrsa_calloc((size_t)t->ncols, sizeof(char *), "a table header", err);
    t->cells = lrsa_calloc((size_t)(t->nrows ? t->nrows : 1), sizeof(char *) * (size_t)t->ncols,
                           "table cells", err);
    t->lines = lrsa_calloc((size_t)(t->nrows ? t->nrows : 1), sizeof(int64_t), "table lines", err);
    if (!t->header || !t->cells || !t->lines) {
        rc = LRSA_ENOMEM;
        goto done;
    }

    int64_t lineno = 1;
    int64_t row = -1; /* -1 is the header */
    while (line) {
        eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        line_end = line + strlen(line);
        if (line_end > line && line_end[-1] == '\r')
            *--line_end = '\0';
        if (row >= 0 && line_end == line) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld: blank line inside the table", name,
                           (long long)lineno);
            goto done;
        }
        int n = count_fields(line, line_end);
        if (n != t->ncols) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line %lld: %d fields, the header has %d", name,
                           (long long)lineno, n, t->ncols);
            goto done;
        }
        char **dst = row < 0 ? t->header : t->cells + row * t->ncols;
        char *f = line;
        for (int c = 0; c < n; c++) {
            dst[c] = f;
            char *tab = strchr(f, '\t');
            if (tab) {
                *tab = '\0';
                f = tab + 1;
            }
        }
        if (row >= 0)
            t->lines[row] = lineno;
        row++;
        lineno++;
        line = eol ? eol + 1 : NULL;
    }
    for (int c = 0; c < t->ncols; c++)
        if (t->header[c][0] == '\0') {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' line 1 column %d: empty column name", name, c + 1);
            goto done;
        }
done:
    if (rc) {
        lrsa_tsv_free(t);
        return rc;
    }
    *out = t;
    return LRSA_OK;
}

int lrsa_tsv_read(const char *path, lrsa_tsv **out, lrsa_err *err)
{
    char *data;
    size_t len;
    *out = NULL;
    int rc = lrsa_read_file(path, TSV_MAX_BYTES, &data, &len, err);
    if (rc)
        return rc;
    rc = lrsa_tsv_parse(data, len, path, out, err);
    free(data);
    return rc;
}

int lrsa_tsv_col(const lrsa_tsv *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->header[c], name) == 0)
            return c;
    return -1;
}

int lrsa_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int lrsa_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int lrsa_tsv_check_field(const char *s, const char *what, lrsa_err *err)
{
    if (strpbrk(s, "\t\r\n"))
        return LRSA_FAIL(err, LRSA_EFORMAT, "%s '%s' contains a tab or newline", what, s);
    return LRSA_OK;
}
