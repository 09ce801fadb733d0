/* File helpers: atomic output (temporary + rename), whole-file reads, directories, paths. */
#include "latentrsa/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lrsa_outfile_open(lrsa_outfile *of, const char *path, lrsa_err *err)
{
    memset(of, 0, sizeof *of);
    lrsa_strbuf tmp = LRSA_STRBUF_INIT;
    /* The temporary lives in the same directory so rename() is atomic; mkstemp makes it unique. */
    if (lrsa_strbuf_addf(&tmp, err, "%s.tmp.XXXXXX", path))
        return LRSA_ENOMEM;
    of->path = lrsa_strdup(path, err);
    if (!of->path) {
        lrsa_strbuf_release(&tmp);
        return LRSA_ENOMEM;
    }
    int fd = mkstemp(tmp.buf);
    if (fd < 0) {
        int e = errno;
        lrsa_strbuf_release(&tmp);
        free(of->path);
        of->path = NULL;
        return LRSA_FAIL(err, LRSA_EIO, "cannot create '%s': %s", path, strerror(e));
    }
    /* mkstemp creates 0600; give the file the usual permissions (subject to umask). */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    of->tmp_path = tmp.buf;
    of->fp = fdopen(fd, "wb");
    if (!of->fp) {
        int e = errno;
        close(fd);
        lrsa_outfile_abort(of);
        return LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    return LRSA_OK;
}

int lrsa_outfile_commit(lrsa_outfile *of, lrsa_err *err)
{
    int rc = LRSA_OK;
    if (!of->fp)
        return LRSA_FAIL(err, LRSA_EMISUSE, "outfile is not open");
    int bad = fflush(of->fp) != 0 || ferror(of->fp);
    int e = errno;
    if (fclose(of->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    of->fp = NULL;
    if (bad) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", of->path, strerror(e));
        goto done;
    }
    if (rename(of->tmp_path, of->path) != 0) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot rename to '%s': %s", of->path, strerror(errno));
        goto done;
    }
    free(of->tmp_path);
    of->tmp_path = NULL;
done:
    lrsa_outfile_abort(of);
    return rc;
}

void lrsa_outfile_abort(lrsa_outfile *of)
{
    if (!of)
        return;
    if (of->fp)
        fclose(of->fp);
    if (of->tmp_path)
        unlink(of->tmp_path);
    free(of->tmp_path);
    free(of->path);
    memset(of, 0, sizeof *of);
}

int lrsa_read_file(const char *path, size_t max_bytes, char **data, size_t *len, lrsa_err *err)
{
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return LRSA_FAIL(err, errno == ENOENT ? LRSA_ENOTFOUND : LRSA_EIO, "cannot open '%s': %s",
                         path, strerror(errno));
    int rc = LRSA_OK;
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (max_bytes && sb.len + n > max_bytes) {
            rc = LRSA_FAIL(err, LRSA_EFORMAT, "'%s' is larger than %zu bytes", path, max_bytes);
            goto done;
        }
        if ((rc = lrsa_strbuf_add(&sb, chunk, n, err)))
            goto done;
    }
    if (ferror(fp)) {
        rc = LRSA_FAIL(err, LRSA_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    *len = sb.len;
    *data = lrsa_strbuf_detach(&sb, err);
    if (!*data)
        rc = LRSA_ENOMEM;
done:
    fclose(fp);
    lrsa_strbuf_release(&sb);
    return rc;
}

int lrsa_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int lrsa_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lrsa_mkdir_p(const char *path, lrsa_err *err)
{
    char *p = lrsa_strdup(path, err);
    if (!p)
        return LRSA_ENOMEM;
    int rc = LRSA_OK;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = LRSA_FAIL(err, LRSA_EIO, "cannot create directory '%s': %s", p, strerror(errno));
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (rc == LRSA_OK && !lrsa_is_dir(path))
        rc = LRSA_FAIL(err, LRSA_EIO, "'%s' exists and is not a directory", path);
    free(p);
    return rc;
}

char *lrsa_path_join(const char *a, const char *b, lrsa_err *err)
{
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    if (lrsa_strbuf_add(&sb, a, la, err) ||
        (la && a[la - 1] != '/' && lrsa_strbuf_adds(&sb, "/", err)) ||
        lrsa_strbuf_adds(&sb, b, err)) {
        lrsa_strbuf_release(&sb);
        return NULL;
    }
    return sb.buf;
}
