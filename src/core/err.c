/* Result codes and the error struct. */
#include "latentrsa/core.h"

#include <stdio.h>
#include <string.h>

const char *lrsa_result_name(int code)
{
    switch (code) {
    case LRSA_OK: return "ok";
    case LRSA_ENOMEM: return "out of memory";
    case LRSA_EIO: return "i/o error";
    case LRSA_EFORMAT: return "invalid input data";
    case LRSA_EUNSUPPORTED: return "unsupported input";
    case LRSA_ESHAPE: return "shape or label mismatch";
    case LRSA_EMISUSE: return "library misuse";
    case LRSA_ENOTFOUND: return "not found";
    case LRSA_EEMPTY: return "empty input";
    default: return "unknown error";
    }
}

void lrsa_err_init(lrsa_err *err)
{
    if (!err)
        return;
    err->code = LRSA_OK;
    err->msg[0] = '\0';
    err->src_file = NULL;
    err->src_line = 0;
}

int lrsa__err_set(lrsa_err *err, int code, const char *src_file, int src_line, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->src_file = src_file;
    err->src_line = src_line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Messages are one line: fold any newline a caller or library slipped in. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

int lrsa_err_prefix(lrsa_err *err, const char *fmt, ...)
{
    if (!err)
        return LRSA_OK;
    char prefix[LRSA_ERR_MSG_MAX];
    char old[LRSA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Build "<prefix>: <old>" piecewise; a message longer than the buffer is cut. */
    size_t np = strlen(prefix);
    if (np > sizeof err->msg - 3)
        np = sizeof err->msg - 3;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3;
    size_t no = strnlen(old, room);
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = '\0';
    return err->code;
}
