/* Data-parallel training over MPI, as a user runs it: mpirun -np 2 --oversubscribe gbfarm
 * train. CartPole and the bundled Catch train on 2 ranks; the ranks' weights stay identical
 * (gbfarm compares a hash of them after every update and says so); a second identical job
 * ends with bit-identical weights; kill -9 of one rank ends the whole job, and --resume then
 * reaches the uninterrupted job's weights; a checkpoint of 2 ranks resumes in one process
 * (the learner, with fresh episodes, saying so). Skipped without an MPI build or mpirun. */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "run_helpers.h"

#define CARTPOLE                                                                                   \
    "train --env cartpole --envs 2 --rollout-steps 128 --epochs 8 --seed 4 --update-threads 1 "    \
    "--checkpoint-every 2 --log-interval 100"
#define CATCH                                                                                      \
    "train --obs vars --envs 1 --rollout-steps 128 --epochs 4 --seed 2 --update-threads 1 "        \
    "--steps 8192 --log-interval 100"

#ifdef GBFARM_HAVE_MPI
static char tmp[64] = "/tmp/gbfarm-mpi-XXXXXX";

/* mpirun -np 2 gbfarm <args>, in the background. */
static pid_t mpi_spawn(const char *args, const char *log)
{
    char line[2048];
    snprintf(line, sizeof line, "exec mpirun -np 2 --oversubscribe %s %s >>%s 2>&1", GBFARM_BIN,
             args, log);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int mpi_run(const char *args, const char *log)
{
    return gbfarm_wait(mpi_spawn(args, log));
}

/* The gbfarm processes mpirun started (its children), by pid. */
static int ranks_of(pid_t mpirun, pid_t *out, int cap)
{
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < cap;) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        char *close_paren = strrchr(buf, ')');
        int ppid = 0;
        if (!close_paren || sscanf(close_paren + 2, "%*c %d", &ppid) != 1 || ppid != mpirun)
            continue;
        if (strstr(buf, "(gbfarm)")) out[n++] = (pid_t)atoi(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

static void test_cartpole(void)
{
    char args[1024], log[300], a[300], b[300];
    snprintf(log, sizeof log, "%s/cartpole.log", tmp);
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, CARTPOLE " --steps 40960 --run-dir %s/cartpole%d", tmp, k);
        CHECKF(mpi_run(args, log) == 0, "2-rank CartPole failed (see %s)", log);
    }
    CHECK(log_has(log, "run ") && log_has(log, "2 ranks x 2 envs, 40960 steps"));
    CHECK(log_has(log, "weights identical on 2 ranks after each of 80 updates"));
    snprintf(a, sizeof a, "%s/cartpole0/latest.safetensors", tmp);
    snprintf(b, sizeof b, "%s/cartpole1/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "two identical 2-rank jobs ended with other weights");
    /* Each rank's envs log their own episodes; rank 0 alone writes the run's files. */
    snprintf(a, sizeof a, "%s/cartpole0/monitor_1_1.csv", tmp);
    snprintf(b, sizeof b, "%s/cartpole0/config.json", tmp);
    CHECK(access(a, R_OK) == 0 && access(b, R_OK) == 0);
    snprintf(a, sizeof a, "%s/cartpole0/monitor_0.csv", tmp);
    CHECK(access(a, F_OK) != 0);

    /* kill -9 of one rank: the job ends (mpirun names the rank); --resume on 2 ranks goes on
     * to the uninterrupted job's weights. */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/killed", tmp);
    snprintf(log, sizeof log, "%s/killed.log", tmp);
    snprintf(args, sizeof args, CARTPOLE " --steps 40960 --run-dir %s", dir);
    pid_t job = mpi_spawn(args, log);
    snprintf(a, sizeof a, "%s/update_000100.safetensors", dir);
    snprintf(b, sizeof b, "%s/latest.safetensors", dir);
    for (int i = 0; i < 20000 && access(b, F_OK) != 0; i++) usleep(1000);
    pid_t ranks[4];
    int n = ranks_of(job, ranks, 4);
    CHECKF(n == 2, "found %d rank processes under mpirun", n);
    if (n == 2) kill(ranks[1], SIGKILL);
    int status = exited_within(job, 60);
    CHECKF(status != 0 && status != -1, "the job went on after a rank was killed (status %d)",
           status);
    if (status == -1) kill(job, SIGKILL), gbfarm_wait(job);
    CHECK(checkpoint_loads(b));
    snprintf(args, sizeof args, "train --resume %s", dir);
    CHECKF(mpi_run(args, log) == 0, "the resumed job failed (see %s)", log);
    snprintf(a, sizeof a, "%s/cartpole0/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "a killed and resumed 2-rank job ended with other weights");

    /* Another rank count: one process takes the learner and starts fresh episodes. */
    snprintf(args, sizeof args, "train --resume %s --steps 49152", dir);
    CHECK(gbfarm_run(args, log) == 0);
    CHECK(log_has(log, "another rank count: the learner resumes"));
}

static void test_catch(void)
{
    char args[1024], log[300], a[300], b[300];
    snprintf(log, sizeof log, "%s/catch.log", tmp);
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, CATCH " --run-dir %s/catch%d", tmp, k);
        CHECKF(mpi_run(args, log) == 0, "2-rank Catch failed (see %s)", log);
    }
    CHECK(log_has(log, "weights identical on 2 ranks after each of 32 updates"));
    snprintf(a, sizeof a, "%s/catch0/latest.safetensors", tmp);
    snprintf(b, sizeof b, "%s/catch1/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "two identical 2-rank Catch jobs ended with other weights");
    /* Both ranks played: each rank's env finished episodes. */
    for (int r = 0; r < 2; r++) {
        snprintf(a, sizeof a, "%s/catch0/monitor_%d_0.csv", tmp, r);
        struct stat st;
        CHECKF(stat(a, &st) == 0 && st.st_size > 100, "%s holds no episodes", a);
    }
}

/* A game folder with a start-state archive (which works in one process): the 2-rank job
 * goes on without it and says so. */
static void test_archive_off(void)
{
    char dir[128], args[1024], log[300];
    snprintf(log, sizeof log, "%s/archive.log", tmp);
    snprintf(dir, sizeof dir, "%s/archived", tmp);
    catch_with_archive(dir, "{ \"key\": [\"score\"], \"score\": \"score\" }");
    snprintf(args, sizeof args,
             "train --game %s/archived --obs vars --envs 1 --rollout-steps 64 --epochs 1 "
             "--update-threads 1 --steps 256 --log-interval 100 --run-dir %s/archived-run",
             tmp, tmp);
    CHECKF(mpi_run(args, log) == 0, "2-rank Catch with an archive failed (see %s)", log);
    CHECK(log_has(log, "start-state archive is off under MPI"));
}

int main(void)
{
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("skipped: no mpirun (apt-get install openmpi-bin)\n");
        return 77;
    }
    /* Open MPI refuses root unless told; CI runs as root. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    REQUIRE(mkdtemp(tmp));
    test_cartpole();
    test_catch();
    test_archive_off();
    if (check_failed == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
    }
    return check_summary();
}
#else
int main(void)
{
    printf("skipped: built without MPI (cmake -DGBFARM_MPI=ON)\n");
    return 77;
}
#endif
