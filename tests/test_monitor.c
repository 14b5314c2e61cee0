/* Monitor CSV: the SB3 layout byte for byte, append on resume (one header, same t_start, a
 * torn last line dropped), read-back errors naming file and line, and one file per env
 * written from many threads at once. Also the progress line's text and its rate limit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/monitor.h"
#include "gbfarm/progress.h"

static char dir[] = "/tmp/gbfarm-test-monitor-XXXXXX";

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, fp) != (size_t)n) s[0] = '\0';
    fclose(fp);
    return s;
}

static void write_text(const char *path, const char *text, const char *mode)
{
    FILE *fp = fopen(path, mode);
    REQUIRE(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_write_and_read(void)
{
    monitor *m;
    REQUIRE_OK(monitor_open(&m, dir, 0, "tetris", MONITOR_CREATE));
    char path[512];
    monitor_path(path, sizeof path, dir, 0);
    CHECK(strcmp(monitor_file(m), path) == 0);
    double t_start = monitor_t_start(m);
    CHECK_OK(monitor_episode_at(m, 12.5, 873, 41.203117));
    CHECK_OK(monitor_episode_at(m, -3, 10, 42.5));
    /* Flushed per line: visible before close, as after a kill. */
    char *text = slurp(path);
    char expect[256];
    snprintf(expect, sizeof expect,
             "#{\"t_start\": %.6f, \"env_id\": \"tetris\"}\nr,l,t\n"
             "12.500000,873,41.203117\n-3.000000,10,42.500000\n",
             t_start);
    CHECKF(text && strcmp(text, expect) == 0, "got:\n%s\nexpected:\n%s", text, expect);
    free(text);
    CHECK_OK(monitor_episode(m, 1, 1)); /* wall-clock t: small and non-negative */
    monitor_close(m);

    monitor_log log;
    REQUIRE_OK(monitor_read(path, &log));
    CHECK(log.n == 3);
    CHECK(strcmp(log.env_id, "tetris") == 0);
    CHECK(fabs(log.t_start - t_start) < 1e-6);
    CHECK(log.r[0] == 12.5 && log.l[0] == 873 && fabs(log.t[0] - 41.203117) < 1e-9);
    CHECK(log.r[1] == -3 && log.l[1] == 10 && log.t[1] == 42.5);
    CHECK(log.t[2] >= 0 && log.t[2] < 60);
    monitor_log_free(&log);
}

static void test_append(void)
{
    monitor *m;
    REQUIRE_OK(monitor_open(&m, dir, 1, "catch \"v1\"", MONITOR_CREATE));
    double t_start = monitor_t_start(m);
    CHECK_OK(monitor_episode_at(m, 1, 100, 1.0));
    monitor_close(m);
    char path[512];
    monitor_path(path, sizeof path, dir, 1);
    write_text(path, "2.000000,20", "a"); /* a kill in the middle of a line */

    REQUIRE_OK(monitor_open(&m, dir, 1, "catch \"v1\"", MONITOR_APPEND));
    CHECK(monitor_t_start(m) == t_start || fabs(monitor_t_start(m) - t_start) < 1e-6);
    CHECK_OK(monitor_episode_at(m, 3, 300, 3.0));
    monitor_close(m);

    monitor_log log;
    REQUIRE_OK(monitor_read(path, &log));
    CHECKF(log.n == 2, "n = %lld", (long long)log.n);
    CHECK(strcmp(log.env_id, "catch \"v1\"") == 0);
    if (log.n == 2) CHECK(log.r[0] == 1 && log.l[1] == 300 && log.t[1] == 3.0);
    monitor_log_free(&log);
    char *text = slurp(path);
    int headers = 0;
    for (char *c = text; (c = strstr(c, "r,l,t")); c++) headers++;
    CHECK(headers == 1);
    free(text);

    /* Append to a missing file: a fresh one with its header. */
    REQUIRE_OK(monitor_open(&m, dir, 2, "x", MONITOR_APPEND));
    CHECK_OK(monitor_episode_at(m, 0.5, 5, 0.25));
    monitor_close(m);
    monitor_path(path, sizeof path, dir, 2);
    REQUIRE_OK(monitor_read(path, &log));
    CHECK(log.n == 1 && log.l[0] == 5);
    monitor_log_free(&log);

    /* A resume from a checkpoint that had seen 2 of 4 episodes keeps those 2 and appends;
     * asked to keep more than the file has, it keeps them all. */
    REQUIRE_OK(monitor_open(&m, dir, 3, "k", MONITOR_CREATE));
    for (int k = 1; k <= 4; k++) CHECK_OK(monitor_episode_at(m, k, 10 * k, k));
    CHECK_OK(monitor_keep(m, 2));
    CHECK_OK(monitor_episode_at(m, 9, 90, 9.0));
    CHECK_OK(monitor_keep(m, 7));
    monitor_close(m);
    monitor_path(path, sizeof path, dir, 3);
    REQUIRE_OK(monitor_read(path, &log));
    CHECKF(log.n == 3 && log.r[0] == 1 && log.r[1] == 2 && log.r[2] == 9 && log.l[2] == 90,
           "kept %lld episodes", (long long)log.n);
    monitor_log_free(&log);

    /* Resuming with another game's id is a wrong run directory. */
    gb_error *err = monitor_open(&m, dir, 2, "y", MONITOR_APPEND);
    CHECK(err && strstr(gb_error_msg(err), "monitor_2.csv") && strstr(gb_error_msg(err), "\"y\""));
    gb_error_free(err);
}

/* Each case: file text, then what the error must mention. */
static void test_read_errors(void)
{
    static const char *cases[][3] = {
        {"r,l,t\n1,2,3\n", ":1:", "t_start"},
        {"#{\"t_start\": 5}\nr,l\n", ":2:", "r,l,t"},
        {"#{\"t_start\": 5, \"env_id\": \"a\"}\nr,l,t\n1,2,3\n4,x,6\n", ":4:", "4,x,6"},
        {"#{\"t_start\": 5}\nr,l,t\n1,2\n", ":3:", "return,length,seconds"},
        {"#{\"t_start\": \"soon\"}\nr,l,t\n", ":1:", "t_start"},
        {"#{\"t_start\": 5}\n", "", "found 1 line"},
        {"#{not json\nr,l,t\n", ":1:", "not JSON"},
    };
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i][0], "w");
        monitor_log log;
        gb_error *err = monitor_read(path, &log);
        const char *msg = err ? gb_error_msg(err) : "(no error)";
        CHECKF(err && strstr(msg, "bad.csv") && strstr(msg, cases[i][1]) &&
                   strstr(msg, cases[i][2]),
               "case %zu: %s", i, msg);
        CHECK(log.n == 0 && log.r == NULL);
        gb_error_free(err);
    }
    /* SB3 files may carry info columns after r,l,t. */
    write_text(path, "#{\"t_start\": 5, \"env_id\": \"a\"}\nr,l,t,is_success\n1.5,2,3.25,1\n", "w");
    monitor_log log;
    CHECK_OK(monitor_read(path, &log));
    CHECK(log.n == 1 && log.r[0] == 1.5 && log.l[0] == 2 && log.t[0] == 3.25);
    monitor_log_free(&log);
    gb_error *err = monitor_read("/nonexistent/monitor_0.csv", &log);
    CHECK(err && strstr(gb_error_msg(err), "/nonexistent/monitor_0.csv"));
    gb_error_free(err);
}

enum { N_THREADS = 8, N_EPISODES = 500 };

static void *worker(void *arg)
{
    int index = (int)(intptr_t)arg;
    monitor *m;
    gb_error *err = monitor_open(&m, dir, 100 + index, "farm", MONITOR_CREATE);
    for (int i = 0; !err && i < N_EPISODES; i++) err = monitor_episode(m, index * 1000 + i, i + 1);
    monitor_close(m);
    return err;
}

static void test_threads(void)
{
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < N_THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        CHECK_OK((gb_error *)ret);
    }
    for (int i = 0; i < N_THREADS; i++) {
        char path[512];
        monitor_path(path, sizeof path, dir, 100 + i);
        monitor_log log;
        CHECK_OK(monitor_read(path, &log));
        int ok = log.n == N_EPISODES;
        for (int64_t k = 0; ok && k < log.n; k++)
            ok = log.r[k] == i * 1000 + k && log.l[k] == k + 1 &&
                 (k == 0 || log.t[k] >= log.t[k - 1]);
        CHECKF(ok, "env %d: %lld episodes or a wrong row", i, (long long)log.n);
        monitor_log_free(&log);
    }
}

static void test_progress(void)
{
    progress_stats s = {.steps = 2500000,
                        .total_steps = 10000000,
                        .steps_per_sec = 5000,
                        .frames_per_sec = 20000,
                        .episodes = 42,
                        .mean_return = 12.345,
                        .pg_loss = -0.0123,
                        .v_loss = 0.5,
                        .entropy = 1.2,
                        .elapsed_seconds = 500};
    char line[512];
    progress_format(line, sizeof line, &s, 0);
    CHECKF(strstr(line, "step 2500000/10000000 (25.0%)") && strstr(line, "5000 steps/s") &&
               strstr(line, "20000 frames/s") && strstr(line, "42 episodes") &&
               strstr(line, "mean return 12.345") && strstr(line, "pg_loss -0.0123") &&
               strstr(line, "elapsed 0:08:20") && strstr(line, "ETA 0:25:00"),
           "%s", line);
    progress_format(line, sizeof line, &s, 1);
    CHECKF(strstr(line, "2.50M/10.00M") && strstr(line, "25.0%") && strstr(line, "ETA 0:25:00"),
           "%s", line);
    s.mean_return = NAN, s.pg_loss = s.v_loss = s.entropy = NAN, s.frames_per_sec = 0;
    s.steps_per_sec = 0;
    progress_format(line, sizeof line, &s, 0);
    CHECKF(!strstr(line, "mean return") && !strstr(line, "frames/s") && !strstr(line, "loss") &&
               strstr(line, "ETA --:--:--"),
           "%s", line);
    char small[16];
    int n = progress_format(small, sizeof small, &s, 0);
    CHECK(n > 15 && strlen(small) == 15);

    /* Not a terminal: a plain line per interval; interval 0 prints every update. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    progress p;
    progress_init(&p, mem, 0);
    CHECK(!p.tty);
    progress_update(&p, &s);
    progress_update(&p, &s);
    progress_finish(&p, &s);
    fflush(mem);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    CHECK(lines == 3 && !strchr(buf, '\r'));
    fclose(mem);
    free(buf);

    /* A terminal: redrawn in place, at most 4 times a second. */
    mem = open_memstream(&buf, &len);
    progress_init(&p, mem, 10);
    p.tty = 1;
    progress_update(&p, &s);
    progress_update(&p, &s); /* too soon: skipped */
    progress_clear(&p);
    progress_finish(&p, &s);
    fflush(mem);
    int draws = 0;
    for (char *c = buf; (c = strstr(c, "\033[K")); c++) draws++;
    CHECKF(draws == 3 && buf[0] == '\r' && buf[len - 1] == '\n', "%d draws: %s", draws, buf);
    fclose(mem);
    free(buf);
}

/* The terminal line fits the terminal, most useful fields first: at 80 columns the ETA and the
 * elapsed time still show (a line cut at the width lost both). */
static void test_progress_width(void)
{
    progress_stats s = {.steps = 1024000,
                        .total_steps = 1200000,
                        .steps_per_sec = 2468,
                        .frames_per_sec = 10127,
                        .episodes = 1330,
                        .mean_return = 12.345,
                        .pg_loss = -0.0123,
                        .v_loss = 0.5,
                        .entropy = 1.2,
                        .elapsed_seconds = 415};
    char line[512];
    int n = progress_format_fit(line, sizeof line, &s, 79);
    CHECKF(n <= 79 && (size_t)n == strlen(line) && strstr(line, "1.02M/1.20M 85.3%") &&
               strstr(line, "ETA 0:01:11") && strstr(line, "elapsed 0:06:55") &&
               strstr(line, "2468 sps") && strstr(line, "ret 12.35"),
           "79 columns: %d: %s", n, line);
    n = progress_format_fit(line, sizeof line, &s, 39);
    CHECKF(n <= 39 && strstr(line, "1.02M/1.20M 85.3%") && strstr(line, "ETA 0:01:11"),
           "39 columns: %d: %s", n, line);
    n = progress_format_fit(line, sizeof line, &s, 10);
    CHECKF(n == 10 && strlen(line) == 10, "10 columns: %d: %s", n, line);
    n = progress_format_fit(line, sizeof line, &s, 200);
    CHECKF(strstr(line, "pg -0.012 vf 0.500 ent 1.20") && strstr(line, "10.1k fps"), "200: %s",
           line);

    /* show() on a terminal of 80 columns ($COLUMNS where the stream has no window size). */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    progress p;
    progress_init(&p, mem, 10);
    p.tty = 1;
    setenv("COLUMNS", "80", 1);
    progress_finish(&p, &s);
    unsetenv("COLUMNS");
    fflush(mem);
    const char *end = strstr(buf, "\033[K");
    CHECKF(buf[0] == '\r' && end && end - buf - 1 <= 79 && strstr(buf, "ETA 0:01:11") &&
               strstr(buf, "elapsed 0:06:55"),
           "80 columns: %s", buf);
    fclose(mem);
    free(buf);
}

int main(void)
{
    REQUIRE(mkdtemp(dir));
    test_write_and_read();
    test_append();
    test_read_errors();
    test_threads();
    test_progress();
    test_progress_width();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
