/* What the commands write and print, beyond their errors: info on a bundled game's own ROM
 * uses the game folder's core as plain info does, and says why; files gbfarm writes (the GIF
 * among them) honour the umask as fopen's do; tools/plot-run titles a plot with the run's name,
 * game and env count; --max-episode-steps cuts training and eval episodes, and a run's
 * checkpoints evaluate with its limit unless the command line gives another. Runs the real
 * gbfarm binary. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char tmp[64];

/* Runs a shell command; returns its exit status and its stdout in out. */
static int run_out(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The text after "label" up to the end of its line, in out. */
static void line_of(const char *text, const char *label, char *out, size_t cap)
{
    out[0] = '\0';
    const char *at = strstr(text, label);
    if (!at) return;
    size_t n = strcspn(at, "\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), at);
}

static void info_core(void)
{
    char plain[8192], rom[8192], bare[8192], cmd[1024], a[512], b[512];
    CHECK(run_out(GBFARM_BIN " info 2>&1", plain, sizeof plain) == 0);
    CHECK(run_out(GBFARM_BIN " info --rom states/catch-gb/catch.gb 2>&1", rom, sizeof rom) == 0);
    line_of(plain, "core  ", a, sizeof a);
    line_of(rom, "core  ", b, sizeof b);
    CHECKF(a[0] && !strcmp(a, b), "info: '%s'; info --rom states/catch-gb/catch.gb: '%s'", a, b);
    line_of(rom, "core from", b, sizeof b);
    CHECKF(strstr(b, "states/catch-gb"), "info --rom of the bundled ROM: '%s'", b);

    /* The same ROM outside its folder: the default core, and the output says so. */
    snprintf(cmd, sizeof cmd,
             "cp states/catch-gb/catch.gb %s/catch.gb && %s info --rom %s/catch.gb 2>&1", tmp,
             GBFARM_BIN, tmp);
    CHECK(run_out(cmd, bare, sizeof bare) == 0);
    line_of(bare, "core  ", a, sizeof a);
    line_of(bare, "core from", b, sizeof b);
    CHECKF(strstr(a, "mGBA") && strstr(b, "default"), "a ROM in no game folder: '%s' / '%s'", a, b);
    snprintf(cmd, sizeof cmd, "%s info --rom states/catch-gb/catch.gb --core mgba 2>&1",
             GBFARM_BIN);
    CHECK(run_out(cmd, bare, sizeof bare) == 0);
    line_of(bare, "core  ", a, sizeof a);
    line_of(bare, "core from", b, sizeof b);
    CHECKF(strstr(a, "mGBA") && strstr(b, "--core"), "--core over the game's: '%s' / '%s'", a, b);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0;
}

/* eval --record and state --out under umask 022 and 027: the same mode for both. */
static void file_modes(void)
{
    static const struct {
        const char *umask;
        unsigned mode;
    } cases[] = {{"022", 0644}, {"027", 0640}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048], out[8192], gif[256], state[256];
        snprintf(gif, sizeof gif, "%s/rec%zu.gif", tmp, i);
        snprintf(state, sizeof state, "%s/s%zu.state", tmp, i);
        snprintf(cmd, sizeof cmd,
                 "umask %s && %s eval --random --episodes 1 --record %s 2>&1 && "
                 "%s state --game states/catch-gb --frames 1 --out %s 2>&1",
                 cases[i].umask, GBFARM_BIN, gif, GBFARM_BIN, state);
        int rc = run_out(cmd, out, sizeof out);
        CHECKF(rc == 0, "umask %s: rc %d: %s", cases[i].umask, rc, out);
        CHECKF(mode_of(gif) == cases[i].mode && mode_of(state) == cases[i].mode,
               "umask %s: the GIF is %o, the state %o (expected %o)", cases[i].umask, mode_of(gif),
               mode_of(state), cases[i].mode);
    }
}

/* A made-up run directory of two envs: the title names the run, its game and the env count. */
static void plot_title(void)
{
    char cmd[2048], out[1 << 16];
    if (run_out("command -v gnuplot >/dev/null 2>&1", out, sizeof out) != 0) {
        fprintf(stderr, "plot-run check skipped: gnuplot is not installed\n");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/myrun && cd %s/myrun && "
             "printf '{\\n  \"env\": \"emulator\",\\n  \"game\": \"states/catch-gb\"\\n}\\n' > "
             "config.json && "
             "for i in 0 1; do printf '#{\"t_start\": 1700000000.0, \"env_id\": \"%%s\"}\\nr,l,t\\n"
             "1.5,100,1.0\\n2.5,90,2.0\\n' $i > monitor_$i.csv; done",
             tmp, tmp);
    REQUIRE(system(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "tools/plot-run %s/myrun/ -o %s/plot.svg >/dev/null && cat %s/plot.svg", tmp, tmp,
             tmp);
    CHECK(run_out(cmd, out, sizeof out) == 0);
    CHECKF(strstr(out, "myrun (catch-gb): 2 envs, 4 episodes") && !strstr(out, "myrun (0)"),
           "plot-run's title is not 'myrun (catch-gb): 2 envs, 4 episodes'");
}

/* The mean episode length eval printed ("length 7.0 ± 0.0"), or -1. */
static double eval_length(const char *out)
{
    const char *at = strstr(out, "length ");
    double len = -1;
    if (!at || sscanf(at, "length %lf", &len) != 1) return -1;
    return len;
}

static void episode_limit(void)
{
    char cmd[2048], out[8192], path[256];
    snprintf(cmd, sizeof cmd,
             "%s train --envs 1 --rollout-steps 64 --epochs 1 --update-threads 1 --steps 128 "
             "--max-episode-steps 9 --run-dir %s/short 2>&1",
             GBFARM_BIN, tmp);
    REQUIRE(run_out(cmd, out, sizeof out) == 0);
    snprintf(path, sizeof path, "%s/short/monitor_0.csv", tmp);
    FILE *f = fopen(path, "r");
    int episodes = 0, longer = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) { /* r,l,t rows after the headers */
        double r, l, t;
        if (sscanf(line, "%lf,%lf,%lf", &r, &l, &t) == 3) episodes++, longer += l > 9;
    }
    if (f) fclose(f);
    CHECKF(episodes >= 128 / 9 && longer == 0, "%s: %d episodes, %d longer than 9 steps", path,
           episodes, longer);
    /* The checkpoint evaluates with its run's limit; the command line's own wins. */
    snprintf(cmd, sizeof cmd, "%s eval --checkpoint %s/short/latest.safetensors --episodes 4 2>&1",
             GBFARM_BIN, tmp);
    CHECK(run_out(cmd, out, sizeof out) == 0);
    CHECKF(eval_length(out) > 0 && eval_length(out) <= 9, "%s", out);
    snprintf(cmd, sizeof cmd,
             "%s eval --checkpoint %s/short/latest.safetensors --episodes 4 --max-episode-steps 30 "
             "2>&1",
             GBFARM_BIN, tmp);
    CHECK(run_out(cmd, out, sizeof out) == 0);
    CHECKF(eval_length(out) > 9 && eval_length(out) <= 30, "%s", out);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/gbfarm-outputs-XXXXXX");
    REQUIRE(mkdtemp(tmp));
    info_core();
    file_modes();
    plot_title();
    episode_limit();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return check_summary();
}
