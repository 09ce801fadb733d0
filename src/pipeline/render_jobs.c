/* The images of a render set, their names and the manifest (render_jobs.h). */
#include "latentrsa/render_jobs.h"
#include "latentrsa/nifti.h"

#include <stdlib.h>
#include <string.h>

static int has_session(const char *s)
{
    return s && *s && strcmp(s, "n/a") != 0;
}

/* A relative path that stays inside its folder: no leading '/', no '\', no ".." component. */
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

static char *job_path(const lrsa_render_job *j, int all, lrsa_err *err)
{
    const lrsa_trial *r = j->run;
    lrsa_strbuf sb = LRSA_STRBUF_INIT;
    int rc = lrsa_strbuf_addf(&sb, err, "sub-%s/", r->subject);
    if (!rc && has_session(r->session))
        rc = lrsa_strbuf_addf(&sb, err, "ses-%s/", r->session);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "run_%lld/fMRI_sub-%s", (long long)r->run, r->subject);
    if (!rc && has_session(r->session))
        rc = lrsa_strbuf_addf(&sb, err, "_ses-%s", r->session);
    if (!rc)
        rc = lrsa_strbuf_addf(&sb, err, "_run-%lld", (long long)r->run);
    if (!rc && all) {
        rc = lrsa_strbuf_addf(&sb, err, "_timestep-%lld.png", (long long)(j->volume + 1));
    } else if (!rc) {
        const char *stim = j->row->stimulus, *dot = strchr(stim, '.');
        int len = dot ? (int)(dot - stim) : (int)strlen(stim);
        rc = lrsa_strbuf_addf(&sb, err, "_trial-%lld_%.*s.png", (long long)j->row->trial, len,
                              stim);
    }
    if (!rc && !safe_relative(sb.buf))
        rc = LRSA_FAIL(err, LRSA_EFORMAT, "unsafe image name '%s' (from the trial table)", sb.buf);
    if (rc) {
        lrsa_strbuf_release(&sb);
        return NULL;
    }
    return lrsa_strbuf_detach(&sb, err);
}

void lrsa_render_jobs_free(lrsa_render_job *jobs, int64_t njobs)
{
    for (int64_t i = 0; jobs && i < njobs; i++)
        free(jobs[i].path);
    free(jobs);
}

int lrsa_render_jobs_plan(const lrsa_trials *t, int all, const char *root, lrsa_render_job **out,
                          int64_t *njobs, lrsa_err *err)
{
    int64_t cap = 0, n = 0;
    lrsa_render_job *jobs = NULL;
    int rc = LRSA_OK;
    for (int64_t r = 0; r < t->n; r++) {
        const lrsa_trial *row = &t->rows[r];
        int64_t first = r, last = r, nvol = 1;
        if (all) {   /* one block per run: rows first..last share the BOLD file */
            while (last + 1 < t->n && strcmp(t->rows[last + 1].bold, row->bold) == 0)
                last++;
            nvol = row->nvolumes;
            if (nvol <= 0) {   /* a table read from trials.tsv: ask the header */
                char *p = lrsa_path_join(root, row->bold, err);
                lrsa_nifti_header h;
                rc = p ? lrsa_nifti_read_header(p, &h, err) : LRSA_ENOMEM;
                free(p);
                if (rc)
                    goto fail;
                nvol = h.dims[3];
            }
        }
        if (n + nvol > cap) {
            int64_t nc = (n + nvol) * 2;
            lrsa_render_job *nj = lrsa_realloc(jobs, (size_t)nc * sizeof *nj, "render jobs", err);
            if (!nj) {
                rc = LRSA_ENOMEM;
                goto fail;
            }
            jobs = nj;
            cap = nc;
        }
        for (int64_t v = 0; v < nvol; v++) {
            lrsa_render_job *j = &jobs[n];
            memset(j, 0, sizeof *j);
            j->run = row;
            j->volume = all ? v : row->volume;
            j->row = all ? NULL : row;
            for (int64_t q = first; all && q <= last; q++)   /* a trial whose volume this is */
                if (t->rows[q].volume == v) {
                    j->row = &t->rows[q];
                    break;
                }
            n++;
            if (!(j->path = job_path(j, all, err))) {
                rc = err && err->code ? err->code : LRSA_ENOMEM;
                goto fail;
            }
        }
        r = last;
    }
    *out = jobs;
    *njobs = n;
    return LRSA_OK;
fail:
    lrsa_render_jobs_free(jobs, n);
    return rc;
}

int lrsa_render_manifest_write(const char *path, const lrsa_render_job *jobs, int64_t njobs,
                               lrsa_err *err)
{
    lrsa_outfile of;
    memset(&of, 0, sizeof of);
    int rc = lrsa_outfile_open(&of, path, err);
    if (!rc) {
        fputs("stimulus\tsource\tsubject\tsession\trun\ttrial\tvolume\tpath\n", of.fp);
        for (int64_t i = 0; i < njobs; i++) {
            const lrsa_render_job *j = &jobs[i];
            char trial[32] = "n/a";
            if (j->row)
                snprintf(trial, sizeof trial, "%lld", (long long)j->row->trial);
            fprintf(of.fp, "%s\t%s\t%s\t%s\t%lld\t%s\t%lld\t%s\n",
                    j->row ? j->row->stimulus : "n/a",
                    j->row ? lrsa_img_type_source(j->row->img_type) : "n/a", j->run->subject,
                    has_session(j->run->session) ? j->run->session : "n/a", (long long)j->run->run,
                    trial, (long long)j->volume, j->path);
        }
        rc = lrsa_outfile_commit(&of, err);
    }
    lrsa_outfile_abort(&of);
    return rc;
}
