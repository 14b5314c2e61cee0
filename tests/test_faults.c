/* The fault-injection matrix, in the spirit of SQLite's crash and I/O-error tests: a CartPole
 * run (as a user runs it, through the gbfarm binary) is killed, starved of disk, denied its
 * directory, has its checkpoint damaged; the learner is fed NaN and overflowing rewards.
 * Every case must end in one of
 *   - resumed (or retried) to the uninterrupted run's exact weights,
 *   - fell back to an intact checkpoint and said so (then the same exact weights),
 *   - a one-line error and a non-zero exit (and, for the run, a resume to the same weights),
 * never a silent NaN, a crash, a hang, or a checkpoint that no longer loads. The table of
 * cases x outcomes is printed at the end (docs/checkpoints.md shows it). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/train.h"
#include "run_helpers.h"

/* No annealing: the weights after update N do not depend on the run's length, so a run
 * extended after a fallback still ends with the reference's weights. */
#define ARGS                                                                                       \
    "train --env cartpole --envs 2 --steps 20480 --rollout-steps 128 --epochs 8 --seed 3 "         \
    "--no-anneal --checkpoint-every 2 --keep-every 8 --log-interval 100"
#define LONGER "30720"

enum { RESUMED, FELL_BACK, ERROR_EXIT, FAILED, N_OUTCOMES };
static const char *outcome_names[] = {"resumed, same weights", "fell back, said so",
                                      "one-line error, exit 1", "FAILED"};

typedef struct fault_case {
    const char *name;
    int count[N_OUTCOMES];
    const char *note;
} fault_case;

static char tmp[64] = "/tmp/gbfarm-faults-XXXXXX";
static char reference[256], reference_long[256];
static unsigned seed;

static void file_path(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int exists(const char *dir, const char *name)
{
    char p[512];
    file_path(p, sizeof p, dir, name);
    return access(p, F_OK) == 0;
}

/* The log's last line, and whether the log holds a line with `text`. */
static void last_line(const char *log, char *out, size_t n)
{
    FILE *fp = fopen(log, "r");
    out[0] = '\0';
    char line[4096];
    while (fp && fgets(line, sizeof line, fp))
        if (line[0] != '\n') snprintf(out, n, "%s", line);
    if (fp) fclose(fp);
    out[strcspn(out, "\n")] = '\0';
}

/* A failed run's output ends with exactly one error line, "gbfarm: ...", and nothing after. */
static bool one_line_error(int status, const char *log)
{
    char last[4096];
    last_line(log, last, sizeof last);
    bool ok = status == 1 && !strncmp(last, "gbfarm: ", 8) && strncmp(last, "gbfarm: warning", 15);
    if (!ok) fprintf(stderr, "exit %d, last line of %s: %s\n", status, log, last);
    return ok;
}

/* Goes on with a stopped run as a user would: --resume when it has a config.json, else the
 * same command again; then checks the weights against the uninterrupted run's. */
static int go_on(const char *dir, const char *log)
{
    char args[1024];
    if (exists(dir, "config.json"))
        snprintf(args, sizeof args, "train --resume %s", dir);
    else
        snprintf(args, sizeof args, ARGS " --run-dir %s", dir);
    int status = gbfarm_run(args, log);
    char latest[512];
    file_path(latest, sizeof latest, dir, "latest.safetensors");
    if (status != 0) {
        fprintf(stderr, "%s: going on after the fault exited %d (see %s)\n", dir, status, log);
        return FAILED;
    }
    return same_weights(reference, latest) ? RESUMED : FAILED;
}

/* Polls for a checkpoint's temporary file, up to 3 s: a kill then lands inside a write. */
static bool wait_for_write(const char *dir, pid_t pid)
{
    char a[512], b[512];
    file_path(a, sizeof a, dir, "latest.safetensors.tmp");
    file_path(b, sizeof b, dir, "previous.safetensors.tmp");
    for (long i = 0; i < 3000000; i++) {
        if (access(a, F_OK) == 0 || access(b, F_OK) == 0) return true;
        if (i % 256 == 0 && waitpid(pid, NULL, WNOHANG) != 0) return false;
        if (i % 64 == 0) sched_yield();
    }
    return false;
}

static void kill_cases(fault_case *c, int n)
{
    int mid_write = 0, before_first = 0;
    for (int k = 0; k < n; k++) {
        char dir[256], log[300], args[1024];
        snprintf(dir, sizeof dir, "%s/kill%d", tmp, k);
        snprintf(log, sizeof log, "%s.log", dir);
        snprintf(args, sizeof args, ARGS " --run-dir %s", dir);
        pid_t pid = gbfarm_spawn(args, log, 0);
        if (k % 4 == 0) /* at once: before the first checkpoint, even before the run dir */
            usleep((useconds_t)(rand() % 40) * 1000);
        else if (k % 4 == 1) /* anywhere in the run */
            usleep((useconds_t)(rand() % 900) * 1000);
        else /* inside a checkpoint's write */
            wait_for_write(dir, pid);
        kill(pid, SIGKILL);
        gbfarm_wait(pid);
        mid_write +=
            exists(dir, "latest.safetensors.tmp") || exists(dir, "previous.safetensors.tmp");
        before_first += !exists(dir, "latest.safetensors");
        /* Whatever the moment, the newest checkpoint on disk loads. */
        char latest[512];
        file_path(latest, sizeof latest, dir, "latest.safetensors");
        bool intact = !exists(dir, "latest.safetensors") || checkpoint_loads(latest);
        int out = go_on(dir, log);
        c->count[intact ? out : FAILED]++;
    }
    static char note[160];
    snprintf(note, sizeof note, "%d before the first checkpoint, %d inside a checkpoint write",
             before_first, mid_write);
    c->note = note;
}

/* A copy of the finished reference run, its latest checkpoint damaged by `damage`, resumed
 * with a longer --steps: it must name the damage, fall back, and end with the weights of the
 * reference run extended the same way. */
static void damage_cases(fault_case *c, int n, bool truncate_it)
{
    char src[256];
    snprintf(src, sizeof src, "%s/reference", tmp);
    for (int k = 0; k < n; k++) {
        char dir[256], log[300], cmd[1024], latest[512];
        snprintf(dir, sizeof dir, "%s/%s%d", tmp, truncate_it ? "cut" : "flip", k);
        snprintf(log, sizeof log, "%s.log", dir);
        snprintf(cmd, sizeof cmd, "cp -a %s %s", src, dir);
        REQUIRE(system(cmd) == 0);
        file_path(latest, sizeof latest, dir, "latest.safetensors");
        struct stat st;
        REQUIRE(stat(latest, &st) == 0);
        long size = (long)st.st_size, at = rand() % size;
        if (truncate_it) {
            REQUIRE(truncate(latest, at) == 0);
        } else { /* 1 to 64 bytes from `at` get values they did not have */
            FILE *fp = fopen(latest, "r+b");
            REQUIRE(fp);
            int len = 1 + rand() % 64;
            for (int i = 0; i < len && at + i < size; i++) {
                fseek(fp, at + i, SEEK_SET);
                int old = fgetc(fp);
                fseek(fp, at + i, SEEK_SET);
                fputc((old + 1 + rand() % 255) & 0xFF, fp);
            }
            fclose(fp);
        }
        snprintf(cmd, sizeof cmd, "train --resume %s --steps " LONGER, dir);
        int status = gbfarm_run(cmd, log);
        bool said = log_has(log, "latest.safetensors") && log_has(log, "resuming from");
        if (status == 0 && said && same_weights(reference_long, latest))
            c->count[FELL_BACK]++;
        else if (status != 0 && one_line_error(status, log))
            c->count[ERROR_EXIT]++;
        else {
            fprintf(stderr, "%s (byte %ld): exit %d, fallback %s\n", dir, at, status,
                    said ? "said" : "not said");
            c->count[FAILED]++;
        }
    }
}

/* The disk fills up: a 200 KiB tmpfs holds one checkpoint and not a second. Needs root (and
 * a kernel that lets this process mount); skipped otherwise. */
static void enospc_case(fault_case *c)
{
    char mnt[256], dir[300], log[300], args[1024], cmd[600];
    snprintf(mnt, sizeof mnt, "%s/full", tmp);
    snprintf(dir, sizeof dir, "%s/run", mnt);
    snprintf(log, sizeof log, "%s/full.log", tmp);
    REQUIRE(mkdir(mnt, 0755) == 0);
    if (mount("gbfarm-faults", mnt, "tmpfs", 0, "size=200k") != 0) {
        static char note[128];
        snprintf(note, sizeof note, "skipped: cannot mount a tmpfs here (%s)", strerror(errno));
        c->note = note;
        return;
    }
    snprintf(args, sizeof args, ARGS " --run-dir %s", dir);
    int status = gbfarm_run(args, log);
    bool ok = one_line_error(status, log) && log_has(log, "No space left on device");
    char latest[512];
    file_path(latest, sizeof latest, dir, "latest.safetensors");
    ok = ok && checkpoint_loads(latest) && !exists(dir, "latest.safetensors.tmp");
    /* Room again: the run goes on from the checkpoint that fitted. */
    if (ok && mount("gbfarm-faults", mnt, "tmpfs", MS_REMOUNT, "size=8m") == 0) {
        c->count[go_on(dir, log) == RESUMED ? ERROR_EXIT : FAILED]++;
        c->note = "then resumed with room: same weights";
    } else {
        c->count[FAILED]++;
    }
    snprintf(cmd, sizeof cmd, "cp -a %s %s/full-run 2>/dev/null", dir, tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not keep %s\n", dir);
    umount(mnt);
}

/* RLIMIT_FSIZE below a checkpoint's size: the first write fails (EFBIG, not SIGXFSZ). */
static void fsize_case(fault_case *c)
{
    char dir[256], log[300], args[1024];
    snprintf(dir, sizeof dir, "%s/fsize", tmp);
    snprintf(log, sizeof log, "%s.log", dir);
    snprintf(args, sizeof args, ARGS " --run-dir %s", dir);
    int status = gbfarm_wait(gbfarm_spawn(args, log, 100000));
    bool ok = one_line_error(status, log) && log_has(log, "File too large");
    c->count[ok && go_on(dir, log) == RESUMED ? ERROR_EXIT : FAILED]++;
    c->note = "then resumed without the limit: same weights";
}

/* The run directory goes away mid-run (a file takes its name: root ignores permissions). */
static void unwritable_case(fault_case *c)
{
    char dir[256], away[300], log[300], args[1024];
    snprintf(dir, sizeof dir, "%s/gone", tmp);
    snprintf(away, sizeof away, "%s.away", dir);
    snprintf(log, sizeof log, "%s.log", dir);
    snprintf(args, sizeof args, ARGS " --run-dir %s", dir);
    pid_t pid = gbfarm_spawn(args, log, 0);
    char latest[512];
    file_path(latest, sizeof latest, dir, "latest.safetensors");
    for (int i = 0; i < 5000 && access(latest, F_OK) != 0; i++) usleep(1000);
    REQUIRE(rename(dir, away) == 0);
    FILE *fp = fopen(dir, "w");
    REQUIRE(fp);
    fclose(fp);
    int status = gbfarm_wait(pid);
    bool ok = one_line_error(status, log);
    REQUIRE(unlink(dir) == 0 && rename(away, dir) == 0);
    c->count[ok && go_on(dir, log) == RESUMED ? ERROR_EXIT : FAILED]++;
    c->note = "then resumed with the directory back: same weights";
}

/* ---- the learner fed bad numbers: CartPole with env 0 poisoned from its 300th step ---- */

enum { NAN_REWARD, NAN_OBS, HUGE_ONCE, HUGE_ALWAYS };
static int poison_mode;
static env *victim;
static int64_t victim_steps;
static env_ops poisoned_ops;
static gb_error *(*clean_step)(env *e, int action);

static gb_error *poisoned_step(env *e, int action)
{
    GB_TRY(clean_step(e, action));
    if (e != victim || ++victim_steps < 300) return NULL;
    if (poison_mode == NAN_REWARD && victim_steps == 300) e->reward = NAN;
    if (poison_mode == NAN_OBS && victim_steps == 300) ((float *)e->obs)[2] = NAN;
    if (poison_mode == HUGE_ONCE && victim_steps == 300) e->reward = 3e38f;
    if (poison_mode == HUGE_ALWAYS) e->reward = 3e38f;
    return NULL;
}

static gb_error *make_poisoned(void *ctx, int index, uint64_t s, env **out)
{
    GB_TRY(cartpole_create(out, s, index));
    poisoned_ops = *(*out)->ops;
    clean_step = poisoned_ops.step;
    poisoned_ops.step = poisoned_step;
    (*out)->ops = &poisoned_ops;
    if (index == 0) victim = *out, victim_steps = 0;
    return NULL;
}

/* Trains to the end or the first error; counts undone updates; checks the weights finite. */
static gb_error *poisoned_run(int mode, int64_t *undone, bool *finite)
{
    poison_mode = mode;
    train_config cfg = train_config_default();
    cfg.n_envs = 2, cfg.total_steps = 4096, cfg.rollout_steps = 128, cfg.seed = 5;
    cfg.update_threads = 1;
    train *t;
    GB_TRY(train_create(&t, &cfg, make_poisoned, NULL, NULL));
    gb_error *err = NULL;
    train_stats s = {0};
    while (!err && !train_finished(t)) err = train_iteration(t, &s);
    *undone = s.undone_updates;
    policy *p = train_policy(t);
    *finite = true;
    for (size_t i = 0; i < p->n_params; i++) *finite &= isfinite(p->params[i]) != 0;
    train_free(t);
    return err;
}

static void nan_cases(fault_case *c)
{
    int64_t undone;
    bool finite;
    static const struct {
        int mode;
        const char *expect;
    } errs[] = {{NAN_REWARD, "reward of nan and a finite observation"},
                {NAN_OBS, "a non-finite observation"},
                {HUGE_ALWAYS, "3 updates in a row undone"}};
    for (int k = 0; k < 3; k++) {
        gb_error *err = poisoned_run(errs[k].mode, &undone, &finite);
        bool ok = err && strstr(gb_error_msg(err), errs[k].expect) &&
                  !strchr(gb_error_msg(err), '\n') && finite;
        if (!ok)
            fprintf(stderr, "poison %d: %s\n", errs[k].mode, err ? gb_error_msg(err) : "no error");
        c[k].count[ok ? ERROR_EXIT : FAILED]++;
        gb_error_free(err);
    }
    /* One overflowing rollout: that update is undone, the run goes on to the end. */
    gb_error *err = poisoned_run(HUGE_ONCE, &undone, &finite);
    bool ok = !err && undone == 1 && finite;
    if (!ok)
        fprintf(stderr, "overflow once: %s, %lld undone\n", err ? gb_error_msg(err) : "no error",
                (long long)undone);
    c[3].count[ok ? RESUMED : FAILED]++;
    gb_error_free(err);
}

int main(void)
{
    REQUIRE(mkdtemp(tmp));
    seed = (unsigned)time(NULL);
    srand(seed);
    printf("seed %u, in %s\n", seed, tmp);

    /* The uninterrupted run, and the same extended to " LONGER " steps. */
    char args[1024], log[300], cmd[600];
    snprintf(log, sizeof log, "%s/reference.log", tmp);
    snprintf(args, sizeof args, ARGS " --run-dir %s/reference", tmp);
    REQUIRE(gbfarm_run(args, log) == 0);
    snprintf(reference, sizeof reference, "%s/reference/latest.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "cp -a %s/reference %s/longer", tmp, tmp);
    REQUIRE(system(cmd) == 0);
    snprintf(args, sizeof args, "train --resume %s/longer --steps " LONGER, tmp);
    REQUIRE(gbfarm_run(args, log) == 0);
    snprintf(reference_long, sizeof reference_long, "%s/longer/latest.safetensors", tmp);

    fault_case cases[] = {
        {"kill -9 at a random moment", {0}, NULL},
        {"bytes of latest.safetensors changed", {0}, NULL},
        {"latest.safetensors truncated", {0}, NULL},
        {"disk full (ENOSPC, 200 KiB tmpfs)", {0}, NULL},
        {"RLIMIT_FSIZE below a checkpoint", {0}, NULL},
        {"run directory gone mid-run", {0}, NULL},
        {"NaN reward", {0}, "env and step named"},
        {"NaN observation", {0}, "env and step named"},
        {"rewards overflow every update", {0}, "3 undone, then the loss terms named"},
        {"rewards overflow once", {0}, "the update undone and counted; trains on"},
    };
    kill_cases(&cases[0], 20);
    damage_cases(&cases[1], 20, false);
    damage_cases(&cases[2], 20, true);
    if (geteuid() == 0)
        enospc_case(&cases[3]);
    else
        cases[3].note = "skipped: mounting a tmpfs needs root";
    fsize_case(&cases[4]);
    unwritable_case(&cases[5]);
    nan_cases(&cases[6]);

    printf("\n| case | runs | %s | %s | %s | %s | |\n|---|---|---|---|---|---|---|\n",
           outcome_names[0], outcome_names[1], outcome_names[2], outcome_names[3]);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fault_case *c = &cases[i];
        int runs = 0;
        for (int k = 0; k < N_OUTCOMES; k++) runs += c->count[k];
        printf("| %s | %d | %d | %d | %d | %d | %s |\n", c->name, runs, c->count[RESUMED],
               c->count[FELL_BACK], c->count[ERROR_EXIT], c->count[FAILED], c->note ? c->note : "");
        CHECKF(c->count[FAILED] == 0, "%s: %d failed (seed %u)", c->name, c->count[FAILED], seed);
        CHECKF(runs > 0 || (c->note && !strncmp(c->note, "skipped", 7)), "%s: not run", c->name);
    }
    if (check_failed == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    return check_summary();
}
