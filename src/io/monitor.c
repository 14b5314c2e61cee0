#include "gbfarm/monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

struct monitor {
    FILE *fp;
    double t_start;
    char path[];
};

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int monitor_path(char *buf, size_t n, const char *run_dir, int env_index)
{
    return snprintf(buf, n, "%s/monitor_%d.csv", run_dir, env_index);
}

/* Parses the '#{...}' line: t_start (number) and env_id (string, optional as in SB3). */
static gb_error *parse_header(const char *path, const char *line, double *t_start, char **env_id)
{
    if (line[0] != '#')
        return gb_errorf("%s:1: expected a '#{\"t_start\": ..., \"env_id\": ...}' line, found "
                         "'%.40s' (not a Monitor CSV file)",
                         path, line);
    json_error_t jerr;
    json_t *root = json_loads(line + 1, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!root) return gb_errorf("%s:1: the header is not JSON: %s", path, jerr.text);
    gb_error *err = NULL;
    json_t *t = json_object_get(root, "t_start");
    json_t *id = json_object_get(root, "env_id");
    if (!json_is_object(root) || !json_is_number(t))
        err = gb_errorf("%s:1: expected a JSON object with a number \"t_start\", found '%.60s'",
                        path, line + 1);
    else if (id && !json_is_string(id))
        err = gb_errorf("%s:1: expected \"env_id\" to be a string", path);
    if (!err) {
        *t_start = json_number_value(t);
        *env_id = strdup(id ? json_string_value(id) : "");
        if (!*env_id) err = gb_errorf("%s: out of memory", path);
    }
    json_decref(root);
    return err;
}

static gb_error *check_columns(const char *path, const char *line)
{
    if (strncmp(line, "r,l,t", 5) != 0 || (line[5] != '\0' && line[5] != ','))
        return gb_errorf("%s:2: expected the column header 'r,l,t', found '%.40s'", path, line);
    return NULL;
}

static void chomp(char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
}

static gb_error *write_header(monitor *m, const char *env_id)
{
    /* jansson escapes the id; the layout (spaces after ':') is SB3's. */
    json_t *s = json_string(env_id); /* NULL for invalid UTF-8 */
    char *id = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    if (!id) return gb_errorf("%s: env_id \"%s\" is not valid UTF-8", m->path, env_id);
    int w = fprintf(m->fp, "#{\"t_start\": %.6f, \"env_id\": %s}\nr,l,t\n", m->t_start, id);
    free(id);
    if (w < 0 || fflush(m->fp) != 0)
        return gb_errorf("%s: write failed: %s (is the disk full?)", m->path, strerror(errno));
    return NULL;
}

/* Cuts a torn last line (no '\n', from a kill mid-write) so appends start on a fresh line. */
static gb_error *drop_torn_line(FILE *fp, const char *path)
{
    if (fseeko(fp, 0, SEEK_END) != 0)
        return gb_errorf("%s: cannot seek: %s", path, strerror(errno));
    off_t end = ftello(fp), pos = end;
    char buf[4096];
    while (pos > 0) {
        size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
        pos -= (off_t)chunk;
        if (fseeko(fp, pos, SEEK_SET) != 0 || fread(buf, 1, chunk, fp) != chunk)
            return gb_errorf("%s: cannot read: %s", path, strerror(errno));
        for (size_t i = chunk; i-- > 0;) {
            if (buf[i] != '\n') continue;
            off_t keep = pos + (off_t)i + 1;
            if (keep != end && ftruncate(fileno(fp), keep) != 0)
                return gb_errorf("%s: cannot truncate a torn last line: %s", path, strerror(errno));
            return NULL;
        }
    }
    return gb_errorf("%s: no complete line (not a Monitor CSV file)", path);
}

/* Reads the existing file's header for MONITOR_APPEND; *exists = 0 when there is none. */
static gb_error *resume_file(monitor *m, const char *env_id, int *exists)
{
    FILE *fp = fopen(m->path, "r+");
    if (!fp) {
        if (errno == ENOENT) {
            *exists = 0;
            return NULL;
        }
        return gb_errorf("%s: cannot open to append: %s", m->path, strerror(errno));
    }
    *exists = 1;
    char *line = NULL, *file_id = NULL;
    size_t cap = 0;
    gb_error *err = NULL;
    if (getline(&line, &cap, fp) < 0)
        err = gb_errorf("%s: empty (not a Monitor CSV file)", m->path);
    if (!err) {
        chomp(line);
        err = parse_header(m->path, line, &m->t_start, &file_id);
    }
    if (!err && getline(&line, &cap, fp) < 0)
        err = gb_errorf("%s:2: expected the column header 'r,l,t', found the end of the file",
                        m->path);
    if (!err) {
        chomp(line);
        err = check_columns(m->path, line);
    }
    if (!err && strcmp(file_id, env_id) != 0)
        err = gb_errorf("%s: holds episodes of env_id \"%s\", not \"%s\" (is this the right run "
                        "directory?)",
                        m->path, file_id, env_id);
    if (!err) err = drop_torn_line(fp, m->path);
    free(line);
    free(file_id);
    fclose(fp);
    return err;
}

gb_error *monitor_open(monitor **out, const char *run_dir, int env_index, const char *env_id,
                       monitor_mode mode)
{
    *out = NULL;
    int len = monitor_path(NULL, 0, run_dir, env_index);
    char *path = malloc((size_t)len + 1);
    if (!path) return gb_errorf("%s: out of memory", run_dir);
    monitor_path(path, (size_t)len + 1, run_dir, env_index);
    gb_error *err = monitor_open_file(out, path, env_id, mode);
    free(path);
    return err;
}

gb_error *monitor_open_file(monitor **out, const char *path, const char *env_id, monitor_mode mode)
{
    *out = NULL;
    size_t len = strlen(path);
    monitor *m = calloc(1, sizeof *m + len + 1);
    if (!m) return gb_errorf("%s: out of memory", path);
    memcpy(m->path, path, len + 1);
    m->t_start = unix_now();

    int exists = 0;
    gb_error *err = mode == MONITOR_APPEND ? resume_file(m, env_id, &exists) : NULL;
    if (!err) {
        m->fp = fopen(m->path, exists ? "a" : "w");
        if (!m->fp)
            err = gb_errorf("%s: cannot %s: %s (is the run directory writable?)", m->path,
                            exists ? "open to append" : "create", strerror(errno));
    }
    if (!err && !exists) err = write_header(m, env_id);
    if (err) {
        monitor_close(m);
        return err;
    }
    *out = m;
    return NULL;
}

gb_error *monitor_keep(monitor *m, int64_t episodes)
{
    if (fflush(m->fp) != 0)
        return gb_errorf("%s: write failed: %s (is the disk full?)", m->path, strerror(errno));
    FILE *fp = fopen(m->path, "r");
    if (!fp) return gb_errorf("%s: cannot read: %s", m->path, strerror(errno));
    /* The offset just past the header's two lines and the first `episodes` lines. */
    int64_t lines = 0, want = 2 + episodes;
    off_t at = 0;
    for (int ch; lines < want && (ch = getc(fp)) != EOF;) {
        at++;
        if (ch == '\n') lines++;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) return gb_errorf("%s: cannot read: %s", m->path, strerror(errno));
    if (lines == want && (ftruncate(fileno(m->fp), at) != 0 || fseeko(m->fp, 0, SEEK_END) != 0))
        return gb_errorf("%s: cannot cut back to %lld episodes: %s", m->path, (long long)episodes,
                         strerror(errno));
    return NULL;
}

gb_error *monitor_episode_at(monitor *m, double ret, int64_t length, double t)
{
    if (fprintf(m->fp, "%.6f,%" PRId64 ",%.6f\n", ret, length, t) < 0 || fflush(m->fp) != 0)
        return gb_errorf("%s: write failed: %s (is the disk full?)", m->path, strerror(errno));
    return NULL;
}

gb_error *monitor_episode(monitor *m, double ret, int64_t length)
{
    return monitor_episode_at(m, ret, length, unix_now() - m->t_start);
}

double monitor_t_start(const monitor *m)
{
    return m->t_start;
}
const char *monitor_file(const monitor *m)
{
    return m->path;
}

void monitor_close(monitor *m)
{
    if (!m) return;
    if (m->fp) fclose(m->fp);
    free(m);
}

/* One "r,l,t[,...]" line; 0 when it does not parse. */
static int parse_row(const char *s, double *r, int64_t *l, double *t)
{
    char *end;
    errno = 0;
    *r = strtod(s, &end);
    if (end == s || *end != ',') return 0;
    s = end + 1;
    long long ll = strtoll(s, &end, 10);
    if (end == s || *end != ',' || errno == ERANGE || ll < 0) return 0;
    *l = ll;
    s = end + 1;
    *t = strtod(s, &end);
    return end != s && (*end == '\0' || *end == ',');
}

static gb_error *log_push(monitor_log *log, size_t *cap, double r, int64_t l, double t)
{
    if ((size_t)log->n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        double *nr = realloc(log->r, c * sizeof *nr);
        if (nr) log->r = nr;
        int64_t *nl = realloc(log->l, c * sizeof *nl);
        if (nl) log->l = nl;
        double *nt = realloc(log->t, c * sizeof *nt);
        if (nt) log->t = nt;
        if (!nr || !nl || !nt) return gb_errorf("out of memory");
        *cap = c;
    }
    log->r[log->n] = r;
    log->l[log->n] = l;
    log->t[log->n] = t;
    log->n++;
    return NULL;
}

gb_error *monitor_read(const char *path, monitor_log *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "r");
    if (!fp) return gb_errorf("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t linecap = 0, cap = 0;
    gb_error *err = NULL;
    int64_t lineno = 0;
    ssize_t got;
    while (!err && (got = getline(&line, &linecap, fp)) >= 0) {
        lineno++;
        chomp(line);
        if (lineno == 1) {
            err = parse_header(path, line, &out->t_start, &out->env_id);
        } else if (lineno == 2) {
            err = check_columns(path, line);
        } else {
            double r, t;
            int64_t l;
            if (!parse_row(line, &r, &l, &t))
                err = gb_errorf("%s:%" PRId64 ": expected 'return,length,seconds' (a number, a "
                                "count, a number), found '%.60s'",
                                path, lineno, line);
            else
                err = gb_error_wrap(log_push(out, &cap, r, l, t), "%s", path);
        }
    }
    if (!err && ferror(fp)) err = gb_errorf("%s: read failed: %s", path, strerror(errno));
    if (!err && lineno < 2)
        err =
            gb_errorf("%s: expected a '#{...}' line and an 'r,l,t' line, found %" PRId64 " line(s)",
                      path, lineno);
    free(line);
    fclose(fp);
    if (err) monitor_log_free(out);
    return err;
}

void monitor_log_free(monitor_log *log)
{
    free(log->env_id);
    free(log->r);
    free(log->l);
    free(log->t);
    memset(log, 0, sizeof *log);
}
