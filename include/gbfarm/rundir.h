/* A run's directory, runs/<RUN_ID>/: config.json (every setting in force), checkpoints and
 * logs. config.json is written atomically (temporary file, fsync, rename), so a kill leaves
 * either the old file or the new one, never half of one. */
#ifndef GBFARM_RUNDIR_H
#define GBFARM_RUNDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "gbfarm/error.h"

/* "<runs_root>/<game>-<YYYYmmdd-HHMMSS>-<seed>" in local time, heap-allocated into *out.
 * Characters of game outside [A-Za-z0-9._-] become '_'. */
gb_error *rundir_default_path(char **out, const char *runs_root, const char *game, uint64_t seed,
                              time_t when);

/* Makes dir and any missing parents (mkdir -p) and checks it is a writable directory. A
 * directory that already holds a checkpoint is refused (it is another run: --resume it or
 * pick a new directory); one that holds only a config.json is a run that stopped before its
 * first checkpoint, and is taken again (*restart set). Errors name the path and the
 * system's reason. */
gb_error *rundir_create(const char *dir, bool *restart);
/* mkdir -p and the writable check alone (an MPI rank other than 0, for its own logs). */
gb_error *rundir_make(const char *dir);
/* For --resume: dir must exist and hold a config.json. */
gb_error *rundir_check_resume(const char *dir);

/* The checkpoints in dir, newest first: latest.safetensors, previous.safetensors, then
 * update_<N>.safetensors from the highest N down. *out: n malloc'd paths
 * (rundir_free_list). */
gb_error *rundir_checkpoints(const char *dir, char ***out, int *n);
void rundir_free_list(char **list, int n);
/* Before a new latest.safetensors is written: the current one becomes
 * previous.safetensors, atomically, so that a damaged latest has an intact fallback. */
gb_error *rundir_keep_previous(const char *dir);
/* Removes all but the newest keep update_<N>.safetensors (latest and previous stay). */
gb_error *rundir_prune_kept(const char *dir, int keep);

/* Writes <dir>/config.json from config (2-space indented, keys in the caller's order). */
gb_error *rundir_write_config(const char *dir, const json_t *config);
/* Reads <dir>/config.json into a new reference (*out; json_decref it). */
gb_error *rundir_read_config(const char *dir, json_t **out);

#endif
