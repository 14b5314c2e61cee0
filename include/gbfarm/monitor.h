/* Per-env episode logs in the Stable-Baselines3 Monitor CSV format, one file per env:
 *
 *   #{"t_start": 1712345678.123456, "env_id": "tetris"}
 *   r,l,t
 *   12.500000,873,41.203117
 *
 * r is the episode's return, l its length in steps, t the seconds from t_start to its end.
 * A monitor belongs to one env's worker thread: no shared state, no locks. Every line is
 * flushed as it is written, so a kill loses at most the episode being written. */
#ifndef GBFARM_MONITOR_H
#define GBFARM_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

typedef enum monitor_mode {
    MONITOR_CREATE, /* a new file; an existing one is replaced */
    MONITOR_APPEND, /* --resume: keep the file's header and t_start, add episodes after its
                       last whole line (a torn last line from a kill is dropped); a missing
                       file is created as with MONITOR_CREATE */
} monitor_mode;

typedef struct monitor monitor;

/* "<run_dir>/monitor_<env_index>.csv"; returns the length snprintf would write. */
int monitor_path(char *buf, size_t n, const char *run_dir, int env_index);

/* Opens run_dir's monitor file for env_index. env_id goes into the header (a game name). */
gb_error *monitor_open(monitor **out, const char *run_dir, int env_index, const char *env_id,
                       monitor_mode mode);
/* The same at any path (a rank's "monitor_<rank>_<env>.csv" under MPI). */
gb_error *monitor_open_file(monitor **out, const char *path, const char *env_id, monitor_mode mode);
/* Logs one finished episode, t = now - t_start, and flushes the line. */
gb_error *monitor_episode(monitor *m, double ret, int64_t length);
/* The same with the time given (seconds since t_start): for tests and replays. */
gb_error *monitor_episode_at(monitor *m, double ret, int64_t length, double t);
/* Keeps the first `episodes` episode lines and drops the rest: a run resumed from a
 * checkpoint writes the episodes after it again. A file with fewer is left as it is. */
gb_error *monitor_keep(monitor *m, int64_t episodes);
double monitor_t_start(const monitor *m);
const char *monitor_file(const monitor *m);
/* Closes the file; NULL is fine. */
void monitor_close(monitor *m);

/* A monitor file read back. */
typedef struct monitor_log {
    double t_start;
    char *env_id;
    int64_t n;  /* episodes */
    double *r;  /* [n] returns */
    int64_t *l; /* [n] lengths */
    double *t;  /* [n] seconds since t_start */
} monitor_log;

/* Parses a monitor file; errors name the file and line. Extra columns after r,l,t (SB3's
 * info keywords) are ignored. On error *out is left empty. */
gb_error *monitor_read(const char *path, monitor_log *out);
void monitor_log_free(monitor_log *log);

#endif
