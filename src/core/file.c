/* File helpers: atomic output (temporary + rename), whole-file reads, directories, paths. */
#include "latentrsa/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The temporary: PATH.tmp.PID.N, created with O_EXCL (a name taken by another process or thread
 * is skipped) and mode 0666, so the kernel applies the umask. (mkstemp makes 0600 files; setting
 * the usual mode afterwards needs the umask, which can only be read by changing it for the whole
 * process: a race with other threads creating files.) Returns the descriptor, or -1 with errno
 * set; *nomem when the name could not be built. */
static int create_temporary(lrsa_strbuf *tmp, const char *path, int *nomem, lrsa_err *err)
{
    static unsigned long counter;
    *nomem = 0;
    for (int tries = 0; tries < 1000; tries++) {
        unsigned long n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        lrsa_strbuf_reset(tmp);
        if (lrsa_strbuf_addf(tmp, err, "%s.tmp.%ld.%lu", path, (long)getpid(), n)) {
            *nomem = 1;
            return -1;
        }
        int fd = open(tmp->buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

int lrsa_outfile_open(lrsa_outfile *of, const char *path, lrsa_err *err)
{
    memset(of, 0, sizeof *of);
    lrsa_strbuf tmp = LRSA_STRBUF_INIT;
    /* The temporary lives in the same directory so rename() is atomic. */
    of->path = lrsa_strdup(path, err);
    if (!of->path)
        return LRSA_ENOMEM;
    int nomem, fd = create_temporary(&tmp, path, &nomem, err);
    if (fd < 0) {
        int e = errno;
        lrsa_strbuf_release(&tmp);
        free(of->path);
        of->path = NULL;
        if (nomem)
            return LRSA_ENOMEM;
        return LRSA_FAIL(err, LRSA_EIO, "cannot create '%s': %s", path, strerror(e));
    }
    of->tmp_path = tmp.buf;
    of->fp = fdopen(fd, "wb");
    if (!of->fp) {
        int e = errno;
        close(fd);
        lrsa_outfile_abort(of);
        return LRSA_FAIL(err, LRSA_EIO, "cannot write '%s': %s", path, strerror(e));
    }
    /* stdio's own buffer is st_blksize (4 KB here): a 100 KB PNG took 25 write calls. A 64 KB
     * one of ours makes it two. (glibc ignores the size unless it is given the buffer.) */
    enum { IOBUF = 1 << 16 };
    of->iobuf = malloc(IOBUF);
    if (of->iobuf)
        setvbuf(of->fp, of->iobuf, _IOFBF, IOBUF);
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
    free(of->iobuf);   /* after fclose, which may still flush from it */
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
