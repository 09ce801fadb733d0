/*
 * Tab-separated tables (BIDS events.tsv, our labels sidecars, trial tables).
 *
 * Parsing rules: the first line is the header; fields are separated by one TAB; a trailing CR
 * on any line is stripped (BOLD5000's events.tsv files are CRLF); a final line without newline is
 * accepted; blank lines at the end are ignored. Every data row must have exactly as many fields as
 * the header, a blank line in the middle is an error, and a NUL byte is an error. Errors name
 * the file and the 1-based line (and column where it applies).
 * Cells are NUL-terminated strings owned by the table.
 */
#ifndef LATENTRSA_TSV_H
#define LATENTRSA_TSV_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrsa_tsv {
    char *name;        /* file name used in messages */
    int ncols;
    int64_t nrows;     /* data rows, header excluded */
    char **header;     /* ncols names */
    char **cells;      /* nrows * ncols, row-major */
    int64_t *lines;    /* nrows 1-based line numbers in the file */
    char *storage;     /* one block holding every string */
} lrsa_tsv;

/* Parse `len` bytes of text. `name` is used in error messages. Limits: 4096 columns. */
int lrsa_tsv_parse(const char *text, size_t len, const char *name, lrsa_tsv **out, lrsa_err *err);
/* Read and parse a file (at most 256 MiB). */
int lrsa_tsv_read(const char *path, lrsa_tsv **out, lrsa_err *err);
void lrsa_tsv_free(lrsa_tsv *t);

/* Index of the column with this exact header name, or -1. */
int lrsa_tsv_col(const lrsa_tsv *t, const char *name);
static inline const char *lrsa_tsv_cell(const lrsa_tsv *t, int64_t row, int col)
{
    return t->cells[row * t->ncols + col];
}

/* Strict number parsing of a whole cell: no empty string, no trailing garbage, finite values.
 * Return 0 on success, -1 otherwise. */
int lrsa_parse_double(const char *s, double *out);
int lrsa_parse_int64(const char *s, int64_t *out);

/* Write one field, rejecting TAB, CR and LF inside it (they would break the table). */
int lrsa_tsv_check_field(const char *s, const char *what, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
