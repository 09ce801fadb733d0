/* TSV parsing: CRLF, ragged rows, blank lines, NUL bytes, numbers. */
#include "harness.h"
#include "latentrsa/tsv.h"

static void test_crlf(void)
{
    const char *text = "onset\tImgName\tstim_file\r\n6.02\ta.jpg\ta.jpg\r\n16.0\tb.JPEG\tb.JPEG\r\n\r\n";
    lrsa_tsv *t;
    lrsa_err err;
    lrsa_err_init(&err);
    CHECK_INT(lrsa_tsv_parse(text, strlen(text), "x.tsv", &t, &err), LRSA_OK);
    CHECK_INT(t->ncols, 3);
    CHECK_INT(t->nrows, 2);
    CHECK_STR(lrsa_tsv_cell(t, 1, 2), "b.JPEG"); /* no trailing CR */
    CHECK_INT(lrsa_tsv_col(t, "ImgName"), 1);
    CHECK_INT(lrsa_tsv_col(t, "missing"), -1);
    CHECK_INT(t->lines[1], 3);
    double v;
    CHECK(lrsa_parse_double(lrsa_tsv_cell(t, 0, 0), &v) == 0 && v == 6.02);
    lrsa_tsv_free(t);
}

static void test_no_final_newline(void)
{
    const char *text = "a\tb\n1\t2";
    lrsa_tsv *t;
    CHECK_INT(lrsa_tsv_parse(text, strlen(text), "x.tsv", &t, NULL), LRSA_OK);
    CHECK_INT(t->nrows, 1);
    CHECK_STR(lrsa_tsv_cell(t, 0, 1), "2");
    lrsa_tsv_free(t);
    /* Header only: zero rows. */
    CHECK_INT(lrsa_tsv_parse("a\tb\n", 4, "x.tsv", &t, NULL), LRSA_OK);
    CHECK_INT(t->nrows, 0);
    lrsa_tsv_free(t);
}

static void test_errors(void)
{
    lrsa_tsv *t = NULL;
    lrsa_err err;
    lrsa_err_init(&err);
    const char *ragged = "a\tb\n1\t2\n3\n";
    int rc = lrsa_tsv_parse(ragged, strlen(ragged), "r.tsv", &t, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "'r.tsv' line 3: 1 fields, the header has 2");
    CHECK(t == NULL);
    const char *blank = "a\n1\n\n2\n";
    rc = lrsa_tsv_parse(blank, strlen(blank), "b.tsv", &t, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "line 3: blank line");
    rc = lrsa_tsv_parse("a\0b\n", 4, "n.tsv", &t, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "NUL");
    rc = lrsa_tsv_parse("", 0, "e.tsv", &t, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "empty");
    rc = lrsa_tsv_parse("a\t\tb\n", 5, "h.tsv", &t, &err);
    CHECK_ERR(rc, err, LRSA_EFORMAT, "empty column name");
}

static void test_numbers(void)
{
    double d;
    int64_t i;
    CHECK(lrsa_parse_double("1e3", &d) == 0 && d == 1000.0);
    CHECK(lrsa_parse_double("", &d) == -1);
    CHECK(lrsa_parse_double("1.5x", &d) == -1);
    CHECK(lrsa_parse_double("nan", &d) == -1);
    CHECK(lrsa_parse_double("inf", &d) == -1);
    CHECK(lrsa_parse_int64("-12", &i) == 0 && i == -12);
    CHECK(lrsa_parse_int64("1.0", &i) == -1);
    CHECK(lrsa_parse_int64("99999999999999999999", &i) == -1);
}

int main(void)
{
    RUN(test_crlf);
    RUN(test_no_final_newline);
    RUN(test_errors);
    RUN(test_numbers);
    return harness_done();
}
