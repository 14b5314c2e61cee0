/* gbfarm train as a user runs it, on the bundled game: the run directory's files parse
 * (config.json, Monitor CSVs, TensorBoard events); SIGTERM and SIGINT finish the update,
 * checkpoint and exit 0; a run killed with SIGKILL five times at random moments (some while
 * the checkpoint's temporary file is being written), each time checked for a loadable
 * latest.safetensors and resumed, ends with the same weights as an uninterrupted run. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "run_helpers.h"
#include "gbfarm/monitor.h"
#include "gbfarm/safetensors.h"
#include "gbfarm/tensorboard.h"

#define TRAIN_ARGS                                                                                 \
    "--obs vars --envs 2 --steps 6144 --rollout-steps 128 --epochs 20 --seed 7 "                   \
    "--checkpoint-every 2 "                                                                        \
    "--log-interval 100"

static char tmp[64], log_path[128];

/* gbfarm train TRAIN_ARGS, in the background. */
static pid_t start(const char *run_dir, const char *extra)
{
    char args[1024];
    snprintf(args, sizeof args, "train " TRAIN_ARGS " %s %s", extra, run_dir);
    return gbfarm_spawn(args, log_path, 0);
}

/* gbfarm train --resume DIR, in the background. */
static pid_t start_resume(const char *dir)
{
    char args[1024];
    snprintf(args, sizeof args, "train --resume %s", dir);
    return gbfarm_spawn(args, log_path, 0);
}

static void check_run_files(const char *dir)
{
    char path[512];
    json_t *cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    cfg = json_load_file(path, 0, NULL);
    CHECK(cfg && json_integer_value(json_object_get(cfg, "envs")) == 2 &&
          json_integer_value(json_object_get(cfg, "seed")) == 7 &&
          json_is_number(json_object_get(cfg, "lr")) &&
          json_is_string(json_object_get(cfg, "core")) &&
          json_integer_value(json_object_get(cfg, "frame_skip")) == 4 &&
          json_integer_value(json_object_get(cfg, "update_threads")) >= 1);
    /* The bundled game's own trainer defaults (game.json "train": lr, gamma) under the command
     * line's flags (--epochs 20 over the game's 2, which also keeps the run long enough for
     * the kills below), and --obs over the game's observation. */
    CHECK(cfg && fabs(json_number_value(json_object_get(cfg, "lr")) - 0.001) < 1e-9 &&
          fabs(json_number_value(json_object_get(cfg, "gamma")) - 0.95) < 1e-9 &&
          json_integer_value(json_object_get(cfg, "epochs")) == 20 &&
          json_integer_value(json_object_get(cfg, "rollout_steps")) == 128 &&
          !strcmp(json_string_value(json_object_get(cfg, "obs")), "vars") &&
          json_array_size(json_object_get(cfg, "obs_vars")) == 6);
    json_decref(cfg);

    for (int i = 0; i < 2; i++) {
        monitor_log log;
        monitor_path(path, sizeof path, dir, i);
        CHECK_OK(monitor_read(path, &log));
        CHECKF(log.n >= 5, "monitor %d: %lld episodes", i, (long long)log.n);
        int64_t steps = 0;
        for (int64_t k = 0; k < log.n; k++) steps += log.l[k];
        CHECK(steps <= 6144 / 2 && steps > 0);
        for (int64_t k = 1; k < log.n; k++) CHECK(log.t[k] >= log.t[k - 1]);
        monitor_log_free(&log);
    }

    DIR *d = opendir(dir);
    REQUIRE(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "events.out.tfevents.", 20)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        tb_events ev;
        CHECK_OK(tb_read(path, &ev));
        CHECK(ev.file_version && !strcmp(ev.file_version, "brain.Event:2"));
        int ret = 0, loss = 0, sps = 0, cpu = 0;
        int64_t last = 0;
        double cpu_s = 0, rollout_s = 0; /* the envs' CPU time in steps, within the rollouts' */
        for (size_t k = 0; k < ev.n; k++) {
            ret += !strcmp(ev.scalars[k].tag, "charts/episodic_return");
            loss += !strcmp(ev.scalars[k].tag, "losses/value_loss");
            sps += !strcmp(ev.scalars[k].tag, "charts/SPS");
            if (!strcmp(ev.scalars[k].tag, "perf/env_cpu_seconds"))
                cpu++, cpu_s += ev.scalars[k].value;
            if (!strcmp(ev.scalars[k].tag, "perf/rollout_seconds"))
                rollout_s += ev.scalars[k].value;
            if (ev.scalars[k].step > last) last = ev.scalars[k].step;
        }
        CHECKF(ret > 0 && loss >= 10 && sps >= 10 && cpu >= 10,
               "tags: %d returns, %d losses, %d SPS, %d env CPU", ret, loss, sps, cpu);
        CHECKF(cpu_s > 0 && cpu_s <= 2 * rollout_s, "env CPU %g s in rollouts of %g s × 2 envs",
               cpu_s, rollout_s);
        CHECK(last == 6144);
        tb_events_free(&ev);
        found++;
    }
    closedir(d);
    CHECK(found >= 1);
}

/* A run's monitor files and TensorBoard logs as a user reads them: monitor episodes (r, l)
 * per env, and the value losses by step after TensorBoard's purge (event files in name
 * order; a restart event at step S drops the earlier files' events at S and after). */
/* How many update_<N>.safetensors dir holds. */
static int kept_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += !strncmp(e->d_name, "update_", 7);
    closedir(d);
    return n;
}

static bool has_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int same_logs(const char *a, const char *b)
{
    char path[512];
    int same = 1;
    for (int i = 0; i < 2; i++) {
        monitor_log la, lb;
        monitor_path(path, sizeof path, a, i);
        CHECK_OK(monitor_read(path, &la));
        monitor_path(path, sizeof path, b, i);
        CHECK_OK(monitor_read(path, &lb));
        int ok = la.n == lb.n;
        for (int64_t k = 0; ok && k < la.n; k++) ok = la.r[k] == lb.r[k] && la.l[k] == lb.l[k];
        CHECKF(ok, "monitor %d: %lld episodes uninterrupted, %lld resumed, or others", i,
               (long long)la.n, (long long)lb.n);
        same &= ok;
        monitor_log_free(&la), monitor_log_free(&lb);
    }
    float loss[2][64];
    int64_t last[2];
    for (int run = 0; run < 2; run++) {
        const char *dir = run ? b : a;
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort), restarts = 0;
        REQUIRE(n >= 0);
        for (int k = 0; k < 64; k++) loss[run][k] = NAN;
        last[run] = 0;
        for (int f = 0; f < n; f++) {
            if (!strncmp(names[f]->d_name, "events.out.tfevents.", 20)) {
                snprintf(path, sizeof path, "%s/%s", dir, names[f]->d_name);
                tb_events ev;
                CHECK_OK(tb_read(path, &ev));
                for (size_t r = 0; r < ev.n_restarts; r++, restarts++)
                    for (int64_t k = (ev.restarts[r] + 255) / 256; k < 64; k++) loss[run][k] = NAN;
                for (size_t k = 0; k < ev.n; k++)
                    if (!strcmp(ev.scalars[k].tag, "losses/value_loss")) {
                        int64_t u = ev.scalars[k].step / 256; /* 2 envs x 128 steps an update */
                        if (u < 64) loss[run][u] = ev.scalars[k].value;
                        if (ev.scalars[k].step > last[run]) last[run] = ev.scalars[k].step;
                    }
                tb_events_free(&ev);
            }
            free(names[f]);
        }
        free(names);
        if (run) CHECKF(restarts >= 3, "%d restart events after the kills", restarts);
    }
    int ok = last[0] == last[1];
    for (int k = 1; ok && k <= last[0] / 256; k++) ok = loss[0][k] == loss[1][k];
    CHECKF(ok, "TensorBoard's value losses differ after the resumes");
    return same && ok;
}

/* --ent-anneal: TensorBoard's charts/ent_coef falls linearly from --ent-coef toward 0 (one
 * step short of it, like the learning rate), config.json records the switch, and --resume
 * keeps it. */
static void test_ent_anneal(void)
{
    char args[512], dir[300], path[600];
    snprintf(dir, sizeof dir, "%s/ent", tmp);
    snprintf(args, sizeof args,
             "train --obs vars --envs 2 --steps 1024 --rollout-steps 128 --epochs 1 --seed 3 "
             "--ent-coef 0.02 --ent-anneal --log-interval 100 --run-dir %s",
             dir);
    REQUIRE(gbfarm_run(args, log_path) == 0);
    snprintf(args, sizeof args, "train --resume %s --steps 1536", dir);
    CHECK(gbfarm_run(args, log_path) == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    CHECK(cfg && json_is_true(json_object_get(cfg, "anneal_ent")));
    json_decref(cfg);
    /* 4 updates of 256 steps, then 2 more once extended to 6: the coefficient of update u
     * (from 0) is 0.02 (1 - u / n), with n the run's length when it ran */
    const double want[7] = {0, 0.02, 0.015, 0.01, 0.005, 0.02 * (1 - 4.0 / 6), 0.02 / 6};
    double got[7] = {0};
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    REQUIRE(n >= 0);
    for (int f = 0; f < n; f++) {
        if (!strncmp(names[f]->d_name, "events.out.tfevents.", 20)) {
            snprintf(path, sizeof path, "%s/%s", dir, names[f]->d_name);
            tb_events ev;
            CHECK_OK(tb_read(path, &ev));
            for (size_t k = 0; k < ev.n; k++)
                if (!strcmp(ev.scalars[k].tag, "charts/ent_coef") &&
                    ev.scalars[k].step % 256 == 0 && ev.scalars[k].step / 256 <= 6)
                    got[ev.scalars[k].step / 256] = ev.scalars[k].value;
            tb_events_free(&ev);
        }
        free(names[f]);
    }
    free(names);
    for (int u = 1; u <= 6; u++)
        CHECKF(fabs(got[u] - want[u]) < 1e-6, "update %d: ent_coef %g, expected %g", u, got[u],
               want[u]);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/gbfarm-train-cli-XXXXXX");
    REQUIRE(mkdtemp(tmp));
    snprintf(log_path, sizeof log_path, "%s/log", tmp);
    char straight[128], killed[128], args[512], a[256], b[256];
    snprintf(straight, sizeof straight, "--run-dir %s/straight", tmp);
    snprintf(killed, sizeof killed, "--run-dir %s/killed", tmp);

    /* The uninterrupted run, and its files: of the update_<N> kept every 4 of its 24
     * updates, --keep-last 2 leaves the newest two. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(gbfarm_wait(start(straight, "--keep-every 4 --keep-last 2")) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double run_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    snprintf(a, sizeof a, "%s/straight", tmp);
    check_run_files(a);
    CHECKF(kept_count(a) == 2 && has_file(a, "update_000020.safetensors") &&
               has_file(a, "update_000024.safetensors"),
           "%d update_<N> kept", kept_count(a));

    /* SIGKILL five times: at a random moment, or as soon as the checkpoint's temporary file
     * appears (mid-write); after each, the last checkpoint loads and --resume goes on. The
     * random moments fall within a sixth of the uninterrupted run's time, so that five kills
     * land before the end on a machine of any speed. */
    int kill_ms = (int)(run_s * 1000 / 6) + 1;
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    char dir[128], tmpfile[300];
    snprintf(dir, sizeof dir, "%s/killed", tmp);
    snprintf(b, sizeof b, "%s/latest.safetensors", dir);
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp", b);
    pid_t pid = start(killed, "");
    for (int i = 0; i < 5000 && access(b, R_OK) != 0; i++) usleep(2000);
    int kills = 0, mid_write = 0, finished = 0;
    for (int k = 0; k < 5 && !finished; k++) {
        if (k % 2 == 1) { /* poll for the temporary file, up to 2 s */
            for (int i = 0; i < 400000 && access(tmpfile, F_OK) != 0; i++)
                if (i % 64 == 0) sched_yield();
            mid_write += access(tmpfile, F_OK) == 0;
        } else {
            usleep((useconds_t)(rand() % kill_ms) * 1000);
        }
        kill(pid, SIGKILL);
        int status = gbfarm_wait(pid);
        finished = status == 0; /* it got to the end first */
        kills += !finished;
        CHECKF(checkpoint_loads(b), "kill %d (seed %u): latest.safetensors does not load", k + 1,
               seed);
        if (!finished) pid = start_resume(dir);
        /* give the resumed run time to load (and write its restart event) and train a little */
        if (!finished && exited_within(pid, fmin(0.3, fmax(0.1, run_s / 12))) == 0) finished = 1;
    }
    if (!finished) CHECK(gbfarm_wait(pid) == 0);
    printf("SIGKILL %d times (%d while the checkpoint was being written; seed %u, random kills "
           "within %d ms of a %.2f s run), resumed each time\n",
           kills, mid_write, seed, kill_ms, run_s);
    CHECK(kills >= 3);
    snprintf(a, sizeof a, "%s/straight/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "a killed and resumed run ended with other weights");
    /* ... and the comparison sees four updates' difference */
    snprintf(a, sizeof a, "%s/straight/update_000020.safetensors", tmp);
    CHECKF(!same_weights(a, b), "update 20 and the end read as the same weights");
    snprintf(a, sizeof a, "%s/straight", tmp);
    CHECK(same_logs(a, dir));

    /* SIGTERM and SIGINT: finish the update, write the checkpoint, exit 0; it resumes. */
    const int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        char term[128];
        snprintf(term, sizeof term, "--run-dir %s/sig%d", tmp, sigs[k]);
        pid = start(term, "");
        snprintf(b, sizeof b, "%s/sig%d/latest.safetensors", tmp, sigs[k]);
        for (int i = 0; i < 5000 && access(b, R_OK) != 0; i++) usleep(2000);
        struct stat first;
        CHECK(stat(b, &first) == 0);
        usleep(100000);
        kill(pid, sigs[k]);
        CHECKF(gbfarm_wait(pid) == 0, "signal %d: not a clean exit", sigs[k]);
        CHECK(checkpoint_loads(b));
        snprintf(args, sizeof args, "%s/sig%d/latest.safetensors.tmp", tmp, sigs[k]);
        CHECK(access(args, F_OK) != 0);
    }
    snprintf(args, sizeof args, "train --steps 7168 --resume %s/sig%d", tmp, SIGINT);
    CHECK(gbfarm_run(args, log_path) == 0);

    /* A resume of a directory that is not a run says so. */
    snprintf(args, sizeof args, "train --resume %s/nothing-here", tmp);
    CHECK(gbfarm_run(args, log_path) == 1);

    /* A flag that would change a resumed run's settings is refused, naming it; --steps
     * extends the run and sticks (a later plain --resume keeps the new length); a finished
     * run says how to go on. */
    char out[256];
    snprintf(out, sizeof out, "%s/resume.log", tmp);
    snprintf(args, sizeof args, "train --resume %s/straight --envs 4", tmp);
    CHECK(gbfarm_run(args, out) == 1 && log_has(out, "--envs: a resumed run keeps the settings"));
    snprintf(args, sizeof args, "train --resume %s/straight --lr 0.1 --steps 9000", tmp);
    CHECK(gbfarm_run(args, out) == 1 && log_has(out, "--lr: a resumed run keeps"));
    snprintf(args, sizeof args, "train --resume %s/straight", tmp);
    CHECK(gbfarm_run(args, out) == 0 &&
          log_has(out, "is complete (its checkpoint is at step 6144 of 6144)"));
    snprintf(args, sizeof args, "train --resume %s/straight --steps 7000 --log-interval 5", tmp);
    CHECK(gbfarm_run(args, out) == 0 &&
          log_has(out, "--steps 7000 rounded down to whole rollouts"));
    CHECK(log_has(out, "done: checkpoint"));
    snprintf(args, sizeof args, "train --resume %s/straight", tmp);
    CHECK(gbfarm_run(args, out) == 0 && log_has(out, "step 6912 of 6912"));

    test_ent_anneal();

    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    return check_summary();
}
