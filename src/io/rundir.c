#include "gbfarm/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

gb_error *rundir_default_path(char **out, const char *runs_root, const char *game, uint64_t seed,
                              time_t when)
{
    *out = NULL;
    struct tm tm;
    char stamp[32] = "00000000-000000";
    if (localtime_r(&when, &tm)) strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    size_t n = strlen(runs_root) + strlen(game) + 64;
    char *path = malloc(n);
    if (!path) return gb_errorf("out of memory");
    int at = snprintf(path, n, "%s/", runs_root);
    for (const char *c = game; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '.' || *c == '_' || *c == '-';
        path[at++] = ok ? *c : '_';
    }
    snprintf(path + at, n - (size_t)at, "-%s-%" PRIu64, stamp, seed);
    *out = path;
    return NULL;
}

static gb_error *config_path(char **out, const char *dir, const char *suffix)
{
    size_t n = strlen(dir) + strlen("/config.json") + strlen(suffix) + 1;
    *out = malloc(n);
    if (!*out) return gb_errorf("%s: out of memory", dir);
    snprintf(*out, n, "%s/config.json%s", dir, suffix);
    return NULL;
}

/* mkdir -p, naming the component that failed. */
static gb_error *make_dirs(const char *dir)
{
    char *path = strdup(dir);
    if (!path) return gb_errorf("%s: out of memory", dir);
    gb_error *err = NULL;
    for (char *c = path + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        struct stat st;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            err = gb_errorf("%s: cannot create the run directory: %s", path, strerror(errno));
        else if (stat(path, &st) != 0)
            err = gb_errorf("%s: cannot create the run directory: %s", path, strerror(errno));
        else if (!S_ISDIR(st.st_mode))
            err =
                gb_errorf("%s: cannot create the run directory: a file of that name exists", path);
        *c = saved;
        if (err || saved == '\0') break;
    }
    free(path);
    return err;
}

/* access(W_OK) is not enough (root passes it on read-only mounts): create and remove a file. */
static gb_error *check_writable(const char *dir)
{
    char *probe;
    GB_TRY(config_path(&probe, dir, ".probe"));
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    gb_error *err = NULL;
    if (fd < 0)
        err = gb_errorf("%s: the run directory is not writable: %s", dir, strerror(errno));
    else
        close(fd), unlink(probe);
    free(probe);
    return err;
}

gb_error *rundir_make(const char *dir)
{
    GB_TRY(make_dirs(dir));
    return check_writable(dir);
}

gb_error *rundir_create(const char *dir, bool *restart)
{
    *restart = false;
    GB_TRY(make_dirs(dir));
    char **ckpts;
    int n;
    GB_TRY(rundir_checkpoints(dir, &ckpts, &n));
    gb_error *err = NULL;
    if (n > 0)
        err = gb_errorf("%s: already holds a run (resume it with --resume %s, or choose another "
                        "directory)",
                        ckpts[0], dir);
    rundir_free_list(ckpts, n);
    char *cfg;
    if (!err) err = config_path(&cfg, dir, "");
    if (!err) {
        *restart = access(cfg, F_OK) == 0;
        free(cfg);
    }
    return err ? err : check_writable(dir);
}

/* update_<N>.safetensors: N, else -1. */
static long long kept_update(const char *name)
{
    char *end;
    if (strncmp(name, "update_", 7) || name[7] < '0' || name[7] > '9') return -1;
    long long n = strtoll(name + 7, &end, 10);
    return strcmp(end, ".safetensors") ? -1 : n;
}

/* Newest first: latest (a rank above every update), previous, then update_<N> by N. */
static long long age_rank(const char *path)
{
    const char *name = strrchr(path, '/') + 1;
    return !strcmp(name, "latest.safetensors")     ? LLONG_MAX
           : !strcmp(name, "previous.safetensors") ? LLONG_MAX - 1
                                                   : kept_update(name);
}

static int newest_first(const void *a, const void *b)
{
    long long x = age_rank(*(char *const *)a), y = age_rank(*(char *const *)b);
    return (x < y) - (x > y);
}

gb_error *rundir_checkpoints(const char *dir, char ***out, int *n_out)
{
    *out = NULL, *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return gb_errorf("%s: cannot list the run directory: %s", dir, strerror(errno));
    char **list = NULL;
    int n = 0, cap = 0;
    gb_error *err = NULL;
    for (struct dirent *e; !err && (e = readdir(d));) {
        bool latest = !strcmp(e->d_name, "latest.safetensors");
        bool previous = !strcmp(e->d_name, "previous.safetensors");
        if (!latest && !previous && kept_update(e->d_name) < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **p = realloc(list, sizeof *p * (size_t)cap);
            if (!p) {
                err = gb_errorf("%s: out of memory", dir);
                break;
            }
            list = p;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            err = gb_errorf("%s: out of memory", dir);
            break;
        }
        snprintf(path, len, "%s/%s", dir, e->d_name);
        list[n++] = path;
    }
    closedir(d);
    if (err) {
        rundir_free_list(list, n);
        return err;
    }
    if (n > 1) qsort(list, (size_t)n, sizeof *list, newest_first);
    *out = list, *n_out = n;
    return NULL;
}

void rundir_free_list(char **list, int n)
{
    for (int i = 0; list && i < n; i++) free(list[i]);
    free(list);
}

gb_error *rundir_keep_previous(const char *dir)
{
    size_t len = strlen(dir) + 40;
    char *latest = malloc(len), *prev = malloc(len), *tmp = malloc(len);
    gb_error *err = latest && prev && tmp ? NULL : gb_errorf("%s: out of memory", dir);
    if (!err) {
        snprintf(latest, len, "%s/latest.safetensors", dir);
        snprintf(prev, len, "%s/previous.safetensors", dir);
        snprintf(tmp, len, "%s/previous.safetensors.tmp", dir);
        unlink(tmp);
    }
    /* A hard link, renamed over the old one: latest stays in place all along. Where links
     * are not allowed, a rename (a kill in between leaves previous alone, which resumes). */
    if (!err && access(latest, F_OK) == 0) {
        if (link(latest, tmp) == 0 ? rename(tmp, prev) != 0 : rename(latest, prev) != 0)
            err = gb_errorf("%s: cannot keep the last checkpoint as %s: %s", latest, prev,
                            strerror(errno));
        unlink(tmp);
    }
    free(latest);
    free(prev);
    free(tmp);
    return err;
}

gb_error *rundir_prune_kept(const char *dir, int keep)
{
    char **list;
    int n, kept = 0;
    gb_error *err = NULL;
    GB_TRY(rundir_checkpoints(dir, &list, &n));
    for (int i = 0; i < n && !err; i++) {
        if (kept_update(strrchr(list[i], '/') + 1) < 0 || ++kept <= keep) continue;
        if (unlink(list[i]) != 0 && errno != ENOENT)
            err = gb_errorf("%s: cannot remove an old kept checkpoint (--keep-last %d): %s",
                            list[i], keep, strerror(errno));
    }
    rundir_free_list(list, n);
    return err;
}

gb_error *rundir_check_resume(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return gb_errorf("%s: cannot resume: %s (expected a run directory made by gbfarm train)",
                         dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return gb_errorf("%s: cannot resume: not a directory", dir);
    char *cfg;
    GB_TRY(config_path(&cfg, dir, ""));
    gb_error *err = NULL;
    if (access(cfg, R_OK) != 0)
        err = gb_errorf("%s: cannot resume: %s (a run directory holds the config.json of its "
                        "run)",
                        cfg, strerror(errno));
    free(cfg);
    return err ? err : check_writable(dir);
}

gb_error *rundir_write_config(const char *dir, const json_t *config)
{
    char *text = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) return gb_errorf("%s/config.json: the configuration cannot be encoded as JSON", dir);
    char *path = NULL;
    atomic_file f;
    gb_error *err = config_path(&path, dir, "");
    if (!err) err = atomic_file_open(&f, path, "is the run directory writable?");
    if (!err) {
        atomic_file_write(&f, text, strlen(text));
        atomic_file_write(&f, "\n", 1);
        err = atomic_file_commit(&f);
    }
    free(text);
    free(path);
    return err;
}

gb_error *rundir_read_config(const char *dir, json_t **out)
{
    *out = NULL;
    char *path;
    GB_TRY(config_path(&path, dir, ""));
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    gb_error *err = NULL;
    if (!root && jerr.line < 1)
        err = gb_errorf("%s: %s", path, jerr.text); /* could not open it */
    else if (!root)
        err = gb_errorf("%s:%d: not valid JSON: %s", path, jerr.line, jerr.text);
    else if (!json_is_object(root))
        err = gb_errorf("%s: expected a JSON object of settings, found a JSON %s", path,
                        json_is_array(root) ? "array" : "value");
    free(path);
    if (err) {
        json_decref(root);
        return err;
    }
    *out = root;
    return NULL;
}
