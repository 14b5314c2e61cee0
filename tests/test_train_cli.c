/* gbfarm train as a user runs it, on the bundled game: the run directory's files parse
 * (config.json, Monitor CSVs, TensorBoard events), SIGTERM checkpoints and exits 0, and a
 * run killed with SIGKILL at a random moment and resumed ends with the same weights as an
 * uninterrupted run. */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/monitor.h"
#include "gbfarm/safetensors.h"
#include "gbfarm/tensorboard.h"

#define TRAIN_ARGS "--obs vars --envs 2 --steps 6144 --rollout-steps 128 --seed 7 --checkpoint-every 2 --log-interval 100"

static char tmp[64];

static pid_t start(const char *run_dir, const char *extra)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s train " TRAIN_ARGS " %s %s >>%s/log 2>&1", GBFARM_BIN, extra,
             run_dir, tmp);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int finish(pid_t pid)
{
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_sync(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >>%s/log 2>&1", GBFARM_BIN, args, tmp);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The policy's weights in a checkpoint, concatenated in file order of a fixed name list. */
static int same_weights(const char *a, const char *b)
{
    safetensors *fa = NULL, *fb = NULL;
    gb_error *ea = safetensors_read(&fa, a), *eb = safetensors_read(&fb, b);
    int same = !ea && !eb;
    if (same) {
        /* Every tensor byte for byte, except the env snapshots (they hold wall-clock
         * episode times). */
        FILE *f1 = fopen(a, "rb"), *f2 = fopen(b, "rb");
        static uint8_t b1[1 << 22], b2[1 << 22];
        size_t n1 = fread(b1, 1, sizeof b1, f1), n2 = fread(b2, 1, sizeof b2, f2);
        fclose(f1);
        fclose(f2);
        uint64_t h1, h2;
        memcpy(&h1, b1, 8);
        memcpy(&h2, b2, 8);
        json_t *j = json_loadb((const char *)b1 + 8, h1, 0, NULL);
        same = j && h1 == h2 && n1 == n2;
        const char *key;
        json_t *t;
        json_object_foreach(j, key, t)
        {
            if (!same || !strcmp(key, "__metadata__") || !strncmp(key, "env.", 4)) continue;
            json_t *off = json_object_get(t, "data_offsets");
            size_t s = 8 + h1 + (size_t)json_integer_value(json_array_get(off, 0));
            size_t e = 8 + h1 + (size_t)json_integer_value(json_array_get(off, 1));
            if (e > n1 || memcmp(b1 + s, b2 + s, e - s)) {
                fprintf(stderr, "tensor %s differs\n", key);
                same = 0;
            }
        }
        json_decref(j);
    }
    gb_error_free(ea);
    gb_error_free(eb);
    safetensors_free(fa);
    safetensors_free(fb);
    return same;
}

static void check_run_files(const char *dir)
{
    char path[512];
    json_t *cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    cfg = json_load_file(path, 0, NULL);
    CHECK(cfg && json_integer_value(json_object_get(cfg, "envs")) == 2 &&
          json_integer_value(json_object_get(cfg, "seed")) == 7 &&
          json_is_number(json_object_get(cfg, "lr")) && json_is_string(json_object_get(cfg, "core")) &&
          json_integer_value(json_object_get(cfg, "frame_skip")) == 4);
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
        int ret = 0, loss = 0, sps = 0;
        int64_t last = 0;
        for (size_t k = 0; k < ev.n; k++) {
            ret += !strcmp(ev.scalars[k].tag, "charts/episodic_return");
            loss += !strcmp(ev.scalars[k].tag, "losses/value_loss");
            sps += !strcmp(ev.scalars[k].tag, "charts/SPS");
            if (ev.scalars[k].step > last) last = ev.scalars[k].step;
        }
        CHECKF(ret > 0 && loss >= 10 && sps >= 10, "tags: %d returns, %d losses, %d SPS", ret, loss, sps);
        CHECK(last == 6144);
        tb_events_free(&ev);
        found++;
    }
    closedir(d);
    CHECK(found >= 1);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/gbfarm-train-cli-XXXXXX");
    REQUIRE(mkdtemp(tmp));
    char straight[128], killed[128], args[512], a[256], b[256];
    snprintf(straight, sizeof straight, "--run-dir %s/straight", tmp);
    snprintf(killed, sizeof killed, "--run-dir %s/killed", tmp);

    /* The uninterrupted run, and its files. */
    CHECK(finish(start(straight, "")) == 0);
    snprintf(a, sizeof a, "%s/straight", tmp);
    check_run_files(a);

    /* SIGKILL at a random moment after the first checkpoint, then --resume (again, until
     * the run completes: a kill may land before any checkpoint of the resumed run). */
    srand((unsigned)time(NULL));
    pid_t pid = start(killed, "");
    snprintf(b, sizeof b, "%s/killed/latest.safetensors", tmp);
    for (int i = 0; i < 3000 && access(b, R_OK) != 0; i++) usleep(2000);
    usleep((useconds_t)(rand() % 1500) * 1000);
    kill(pid, SIGKILL);
    finish(pid);
    CHECKF(access(b, R_OK) == 0, "no checkpoint after the kill");
    snprintf(args, sizeof args, "train --resume %s/killed", tmp);
    CHECK(run_sync(args) == 0);
    snprintf(a, sizeof a, "%s/straight/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "a killed and resumed run ended with other weights");

    /* SIGTERM: finish the update, write the checkpoint, exit 0. */
    char term[128];
    snprintf(term, sizeof term, "--run-dir %s/term", tmp);
    pid = start(term, "");
    snprintf(b, sizeof b, "%s/term/latest.safetensors", tmp);
    for (int i = 0; i < 3000 && access(b, R_OK) != 0; i++) usleep(2000);
    kill(pid, SIGTERM);
    CHECK(finish(pid) == 0);
    safetensors *f;
    CHECK_OK(safetensors_read(&f, b));
    safetensors_free(f);

    /* A resume of a directory that is not a run says so. */
    snprintf(args, sizeof args, "train --resume %s/nothing-here", tmp);
    CHECK(run_sync(args) == 1);

    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    return check_summary();
}
