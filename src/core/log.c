/* Logging and progress hooks: the library's only way to talk, routed by the caller. */
#include "latentrsa/core.h"

#include <stdio.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void lrsa_ctx_init(lrsa_ctx *ctx)
{
    ctx->log = NULL;
    ctx->log_ud = NULL;
    ctx->log_level = LRSA_LOG_WARN;
    ctx->progress = NULL;
    ctx->progress_ud = NULL;
    ctx->threads = 0;
}

void lrsa_log(const lrsa_ctx *ctx, int level, const char *fmt, ...)
{
    /* Test the level before formatting, so disabled logging costs a comparison. */
    if (!ctx || !ctx->log || level > ctx->log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_ud, level, msg);
}

void lrsa_progress(const lrsa_ctx *ctx, const char *label, int64_t done, int64_t total)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx->progress_ud, label, done, total);
}

int lrsa_threads(const lrsa_ctx *ctx)
{
    if (ctx && ctx->threads > 0)
        return ctx->threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
