/*
 * The study driver behind `latentrsa run` and `latentrsa demo` (private to src/cli).
 *
 * A study is a list of stages; each stage is one latentrsa command run as a child process of
 * this binary with the output folder as its working directory (so every recorded command is
 * one a user can paste there), or a small step done in-process (the stimulus list, the truth
 * RDM, results.json). Each stage has a key: a hash of its command line, the keys of the stages
 * it reads from and fingerprints of the outside files it reads (run_fingerprint.c). run.json
 * keeps the key of every finished stage; a stage whose key and outputs are already there is
 * reused, so a re-run after a change redoes only what changed.
 */
#ifndef LATENTRSA_CLI_RUN_H
#define LATENTRSA_CLI_RUN_H

#include "cli.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* ===== Fingerprints (run_fingerprint.c) ================================ */
/* 64-bit FNV-1a, chained: start from FP_INIT. Not cryptographic: it detects changes. */
#define FP_INIT 0xcbf29ce484222325ULL
uint64_t fp_bytes(uint64_t h, const void *p, size_t n);
uint64_t fp_str(uint64_t h, const char *s);   /* the string and its terminating NUL */
uint64_t fp_u64(uint64_t h, uint64_t v);
/* A file's size and modification time (content = 0), or its bytes (content = 1). A missing
 * file hashes as such (it is not an error: the stage that reads it reports that). */
uint64_t fp_file(uint64_t h, const char *path, int content);
/* Every regular file below dir (names sorted at each level; hidden entries skipped): relative
 * path, size and modification time. top_prefix, if not NULL, keeps only top-level entries whose
 * name starts with it (e.g. "sub-" for a BIDS folder). stats (may be NULL) counts the files and
 * their bytes. */
typedef struct fp_stats {
    uint64_t files, bytes;
} fp_stats;
uint64_t fp_tree(uint64_t h, const char *dir, const char *top_prefix, fp_stats *stats);
/* "%016llx" into buf[17]. */
void fp_hex(uint64_t h, char buf[17]);

/* ===== Child processes (run_exec.c) ==================================== */
/* The path of this executable (/proc/self/exe); 0 or -1. */
int run_self_path(char *buf, size_t cap);
/* Run argv (argv[0] is ignored: the child is this executable) in directory cwd, its standard
 * output sent to stdout_path (relative to cwd: written to a temporary name and renamed on
 * success; absolute, e.g. /dev/null: opened as it is) or inherited when NULL. *exit_status is the child's exit status (128 + signal when
 * killed). Returns 0 when the child ran (whatever its status), -1 if it could not start. */
int run_child(const char *self, const char *cwd, char *const argv[], const char *stdout_path,
              int *exit_status);

/* ===== Synthetic truth (run_truth.c) =================================== */
/* With BIDS/truth.json (a `latentrsa synth` dataset): write the truth RDM restricted to, and
 * ordered as, the rows of the RDM `like` (its labels sidecar names the stimuli), with that
 * sidecar, to `out`. LRSA_ENOTFOUND when a stimulus of `like` is not in truth.json. */
int run_truth_rdm(const char *truth_json, const char *like, const char *out, lrsa_err *err);

#endif
