/* Fingerprints of files and folders for the study driver's stage keys (run.h). */
#include "run.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FNV_PRIME 0x100000001b3ULL

uint64_t fp_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t fp_str(uint64_t h, const char *s)
{
    return fp_bytes(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

uint64_t fp_u64(uint64_t h, uint64_t v)
{
    return fp_bytes(h, &v, sizeof v);
}

static uint64_t fp_stat(uint64_t h, const struct stat *st)
{
    h = fp_u64(h, (uint64_t)st->st_size);
    h = fp_u64(h, (uint64_t)st->st_mtim.tv_sec);
    return fp_u64(h, (uint64_t)st->st_mtim.tv_nsec);
}

uint64_t fp_file(uint64_t h, const char *path, int content)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fp_str(h, "(missing)");
    if (!content)
        return fp_stat(h, &st);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return fp_str(h, "(unreadable)");
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        h = fp_bytes(h, buf, n);
    fclose(fp);
    return h;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t walk(uint64_t h, const char *dir, const char *rel, const char *top_prefix, fp_stats *stats)
{
    DIR *d = opendir(dir);
    if (!d)
        return fp_str(h, "(no folder)");
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (top_prefix && strncmp(e->d_name, top_prefix, strlen(top_prefix)) != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        size_t lp = strlen(dir) + strlen(names[i]) + 2, lr = strlen(rel) + strlen(names[i]) + 2;
        char *path = malloc(lp), *sub = malloc(lr);
        if (path && sub) {
            snprintf(path, lp, "%s/%s", dir, names[i]);
            snprintf(sub, lr, "%s%s%s", rel, *rel ? "/" : "", names[i]);
            struct stat st;
            if (stat(path, &st) == 0) {
                if (S_ISDIR(st.st_mode)) {
                    h = walk(h, path, sub, NULL, stats);
                } else if (S_ISREG(st.st_mode)) {
                    h = fp_str(h, sub);
                    h = fp_stat(h, &st);
                    if (stats) {
                        stats->files++;
                        stats->bytes += (uint64_t)st.st_size;
                    }
                }
            }
        }
        free(path);
        free(sub);
        free(names[i]);
    }
    free(names);
    return h;
}

uint64_t fp_tree(uint64_t h, const char *dir, const char *top_prefix, fp_stats *stats)
{
    return walk(h, dir, "", top_prefix, stats);
}

void fp_hex(uint64_t h, char buf[17])
{
    snprintf(buf, 17, "%016llx", (unsigned long long)h);
}
