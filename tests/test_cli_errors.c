/* Bad input on the command line: each case exits non-zero with one line on stderr that
 * names the file, key or flag at fault. Runs the real gbfarm binary: a few single cases, then
 * a matrix of every command (train, eval, bench, info, state, play) against every bad input
 * (ROMs, cores, states, game folders, unwritable outputs) and every numeric flag each
 * command's --help lists (non-numeric, below and above its range), then a checkpoint write
 * that hits the file size limit (RLIMIT_FSIZE) and leaves the previous checkpoint loadable. */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/safetensors.h"

static char tmp[64];
static int cases;

/* Runs gbfarm with the arguments (a shell-quoted string), returns its exit status and the
 * text it wrote on stderr. */
static int run(const char *args, char *err, size_t cap)
{
    char cmd[4096], errfile[128];
    snprintf(errfile, sizeof errfile, "%s/stderr", tmp);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s </dev/null", GBFARM_BIN, args, errfile);
    int status = system(cmd);
    FILE *f = fopen(errfile, "r");
    size_t n = f ? fread(err, 1, cap - 1, f) : 0;
    err[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The command must fail with exactly one line containing every fragment given. */
static void expect(const char *args, ...)
{
    char err[8192];
    int status = run(args, err, sizeof err);
    cases++;
    size_t len = strlen(err);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += err[i] == '\n';
    CHECKF(status != 0 && status < 128, "gbfarm %s: exit status %d", args, status);
    CHECKF(lines == 1 && err[len - 1] == '\n', "gbfarm %s: %d lines on stderr:\n%s", args, lines,
           err);
    va_list ap;
    va_start(ap, args);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        CHECKF(strstr(err, frag) != NULL, "gbfarm %s: '%s' not in: %s", args, frag, err);
    va_end(ap);
}

/* The same, with exactly this exit status: 2 for a command line gbfarm cannot use, 1 for a
 * command that failed while it ran. */
static void expect_status(int want, const char *args, const char *frag)
{
    char err[8192];
    int status = run(args, err, sizeof err);
    cases++;
    size_t len = strlen(err);
    CHECKF(status == want && len && strchr(err, '\n') == err + len - 1 && strstr(err, frag),
           "gbfarm %s: exit status %d (expected %d), '%s' in one line: %s", args, status, want,
           frag, err);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(data, 1, n, f) == n);
    fclose(f);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* ---- the matrix: command x bad input ---- */

typedef struct command {
    const char *name;
    const char *base;       /* args that make a good run, bar the bad input (%s: tmp, %d: case) */
    const char *state_flag; /* how the command takes a state file, or NULL: it reads none */
    bool binds;             /* reads RAM variables (an address outside memory fails) */
} command;

static const command commands[] = {
    {"train", "train --envs 1 --steps 256 --rollout-steps 128 --run-dir %s/run%d", "--state", true},
    {"eval", "eval --random --episodes 1", "--state", true},
    {"bench", "bench --envs 1 --seconds 0.1", "--state", true},
    {"info", "info", NULL, false},
    {"state", "state --print --out %s/out%d.state", "--load", true},
    {"play", "play --frames 1", "--state", true},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static int matrix_cases;

/* cmd's base args, then the bad input; {STATE} in it becomes the command's state flag. */
static void expect_cmd(const command *cmd, const char *bad, const char *frag1, const char *frag2)
{
    char args[4096], base[512], flag_bad[2048];
    snprintf(base, sizeof base, cmd->base, tmp, cases);
    const char *at = strstr(bad, "{STATE}");
    if (at) {
        if (!cmd->state_flag) return;
        snprintf(flag_bad, sizeof flag_bad, "%.*s%s%s", (int)(at - bad), bad, cmd->state_flag,
                 at + 7);
        bad = flag_bad;
    }
    snprintf(args, sizeof args, "%s %s", base, bad);
    matrix_cases++;
    expect(args, frag1, frag2, NULL);
}

static void matrix(void)
{
    static uint8_t buf[1 << 20];
    char path[300], bad[1024];
    size_t n;
    setenv("SDL_VIDEODRIVER", "dummy", 1); /* play must fail before it opens a window */

    /* The inputs: a ROM of the right header but other bytes, truncated and corrupt states,
     * a game folder with a variable no Gambatte memory covers. */
    char other_rom[256], truncated[256], corrupt[256], hram[256];
    snprintf(other_rom, sizeof other_rom, "%s/m-other.gb", tmp);
    n = read_file("states/catch-gb/catch.gb", buf, sizeof buf);
    buf[0x7000] ^= 0xFF;
    write_file(other_rom, buf, n);
    n = read_file("states/catch-gb/start.state", buf, sizeof buf);
    snprintf(truncated, sizeof truncated, "%s/m-truncated.state", tmp);
    write_file(truncated, buf, n / 2);
    for (size_t i = n / 3; i < n / 3 + 32; i++) buf[i] ^= 0x5A;
    snprintf(corrupt, sizeof corrupt, "%s/m-corrupt.state", tmp);
    write_file(corrupt, buf, n);
    snprintf(hram, sizeof hram, "%s/hram", tmp); /* made by main */

    for (int c = 0; c < N_COMMANDS; c++) {
        const command *cmd = &commands[c];
        /* ROMs: missing, a directory, another dump, not a ROM, the other platform's. */
        expect_cmd(cmd, "--rom /nonexistent/x.gb", "/nonexistent/x.gb", NULL);
        snprintf(bad, sizeof bad, "--rom %s", tmp);
        expect_cmd(cmd, bad, tmp, NULL);
        snprintf(bad, sizeof bad, "--game states/catch-gb --rom %s", other_rom);
        expect_cmd(cmd, bad, other_rom, "cca97487eab");
        expect_cmd(cmd, "--rom README.md", "README.md", NULL);
        expect_cmd(cmd, "--game states/catch-gb --rom states/catch-gba/catch.gba", "catch.gba",
                   "Game Boy Advance");
        /* Cores: unknown name, missing file, a library that is no core, not a library. */
        expect_cmd(cmd, "--core nosuchcore", "nosuchcore", NULL);
        expect_cmd(cmd, "--core /nonexistent/x_libretro.so", "/nonexistent/x_libretro.so", NULL);
        expect_cmd(cmd, "--core /lib/x86_64-linux-gnu/libz.so.1", "libz.so.1", NULL);
        expect_cmd(cmd, "--core README.md", "README.md", NULL);
        /* States: another core's, truncated, corrupt, missing. */
        expect_cmd(cmd, "--core mgba {STATE} states/catch-gb/start.state", "start.state",
                   "another core");
        snprintf(bad, sizeof bad, "{STATE} %s", truncated);
        expect_cmd(cmd, bad, truncated, NULL);
        snprintf(bad, sizeof bad, "{STATE} %s", corrupt);
        expect_cmd(cmd, bad, corrupt, NULL);
        expect_cmd(cmd, "{STATE} /nonexistent/s.state", "/nonexistent/s.state", NULL);
        /* Game folders: missing, every bad fixture (syntax, missing key, wrong type, unknown
         * type string, unknown button, bad address, ...), a variable outside memory. */
        expect_cmd(cmd, "--game /nonexistent/game", "/nonexistent/game", NULL);
        DIR *d = opendir("tests/data/games/bad");
        REQUIRE(d);
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "tests/data/games/bad/%s", e->d_name);
            snprintf(bad, sizeof bad, "--game %s --rom states/catch-gb/catch.gb", path);
            expect_cmd(cmd, bad, path, NULL);
        }
        closedir(d);
        if (cmd->binds) {
            snprintf(bad, sizeof bad, "--game %s --rom states/catch-gb/catch.gb --core gambatte",
                     hram);
            expect_cmd(cmd, bad, "hram_byte", "0xFF80");
        }
    }
    /* Outputs that cannot be written. */
    expect("train --envs 1 --steps 256 --rollout-steps 128 --run-dir /proc/gbfarm-run",
           "/proc/gbfarm-run", NULL);
    expect("train --envs 1 --steps 256 --rollout-steps 128 --run-dir README.md/run", "README.md",
           NULL);
    expect("bench --envs 1 --seconds 0.1 --csv /proc/gbfarm.csv", "/proc/gbfarm.csv", NULL);
    expect("state --out /proc/gbfarm.state", "/proc/gbfarm.state", NULL);
    expect("eval --random --episodes 1 --record /proc/gbfarm.gif", "/proc/gbfarm.gif", NULL);
    matrix_cases += 5;
}

/* Every numeric flag in every command's --help: not a number, below and above its range. */
static void numeric_flags(void)
{
    static const char *values[] = {"abc", "-1", "99999999999999999999", ""};
    int flags = 0;
    for (int c = 0; c < N_COMMANDS; c++) {
        char cmd[512], line[512], base[512];
        snprintf(cmd, sizeof cmd, "%s %s --help", GBFARM_BIN, commands[c].name);
        FILE *p = popen(cmd, "r");
        REQUIRE(p);
        while (fgets(line, sizeof line, p)) {
            char flag[64], value[32];
            /* "  --flag N ...", also "...; --speed N: ..." in the middle of a line */
            for (char *at = strstr(line, "--"); at; at = strstr(at + 2, "--")) {
                if (sscanf(at, "%63s %31s", flag, value) != 2) continue;
                size_t vl = strlen(value);
                if (vl && value[vl - 1] == ':') value[--vl] = '\0';
                if (strcmp(value, "N") && strcmp(value, "X") && strcmp(value, "S") &&
                    strcmp(value, "T") && strcmp(value, "LIST"))
                    continue;
                flags++;
                snprintf(base, sizeof base, commands[c].base, tmp, cases);
                for (int k = 0; k < 4; k++) {
                    char args[1024];
                    snprintf(args, sizeof args, "%s %s %s", base, flag, values[k]);
                    matrix_cases++;
                    expect(args, flag, NULL);
                }
            }
        }
        pclose(p);
    }
    CHECKF(flags >= 45, "only %d numeric flags found in the commands' --help", flags); /* 48 */
    printf("%d numeric flags\n", flags);
}

/* Exit statuses: 2 when the command line is wrong (unknown command or option, a flag's value
 * missing or malformed), 1 when the command fails while it runs. */
static void exit_statuses(void)
{
    static const char *const names[] = {"train", "eval", "bench", "info", "state", "play"};
    char args[256];
    expect_status(2, "frobnicate", "frobnicate");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(args, sizeof args, "%s --bogus", names[i]);
        expect_status(2, args, "--bogus");
    }
    expect_status(2, "train --lr abc", "--lr");
    expect_status(2, "train --envs", "--envs");
    expect_status(2, "bench --envs 1,x", "--envs");
    expect_status(2, "eval --episodes 0", "--episodes");
    expect_status(2, "eval", "--random");
    expect_status(2, "play --speed 3", "--speed");
    expect_status(2, "state --rom states/catch-gb/catch.gb", "--out");
    expect_status(1, "info --rom /nonexistent/x.gb", "/nonexistent/x.gb");
    expect_status(1, "bench --rom README.md --seconds 0.1", "README.md");
    expect_status(1, "eval --random --episodes 1 --record /proc/gbfarm.gif", "/proc/gbfarm.gif");
}

/* info and state take --game, --rom, --core and --option: their --help lists no other shared
 * option, and they refuse the ones that mean nothing to them rather than ignore them. */
static void rom_core_flags(void)
{
    static const char *const ignored[] = {"--state",    "--frame-skip", "--press-frames",
                                          "--noop-max", "--obs",        "--max-episode-steps"};
    static const char *const commands_[] = {"info", "state"};
    char cmd[512], help[8192], args[512];
    for (size_t c = 0; c < 2; c++) {
        snprintf(cmd, sizeof cmd, "%s %s --help", GBFARM_BIN, commands_[c]);
        FILE *p = popen(cmd, "r");
        REQUIRE(p);
        size_t n = fread(help, 1, sizeof help - 1, p);
        help[n] = '\0';
        pclose(p);
        CHECKF(strstr(help, "--rom") && strstr(help, "--core") && strstr(help, "--option"),
               "%s --help: %s", commands_[c], help);
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
            CHECKF(!strstr(help, ignored[i]), "%s --help lists %s, which it ignores", commands_[c],
                   ignored[i]);
            snprintf(args, sizeof args, "%s %s 1 --out %s/x.state", commands_[c], ignored[i], tmp);
            expect_status(2, args, ignored[i]);
        }
    }
}

/* state --print needs a game folder: a ROM outside one fails before the state is written. */
static void state_print_without_game(void)
{
    static uint8_t buf[1 << 20];
    char rom[256], out[256], args[1024];
    snprintf(rom, sizeof rom, "%s/bare.gb", tmp);
    snprintf(out, sizeof out, "%s/print.state", tmp);
    write_file(rom, buf, read_file("states/catch-gb/catch.gb", buf, sizeof buf));
    snprintf(args, sizeof args, "state --rom %s --core gambatte --print --out %s", rom, out);
    expect_status(1, args, "--print");
    CHECKF(access(out, F_OK) != 0, "state --print without a game folder wrote %s", out);
}

/* A variable outside every RAM region: one line that names the address once. */
static void unmapped_message(const char *game_dir)
{
    char args[1024], err[8192];
    snprintf(args, sizeof args,
             "bench --game %s --rom states/catch-gb/catch.gb --core gambatte --seconds 0.1",
             game_dir);
    CHECK(run(args, err, sizeof err) == 1);
    const char *first = strstr(err, "0xFF80");
    CHECKF(first && !strstr(first + 1, "0xFF80") && !strstr(err, "1 bytes") &&
               strstr(err, "not in any RAM region of core"),
           "the unmapped address, once: %s", err);
}

/* A checkpoint write past the file size limit (a full disk, as far as gbfarm can tell): an
 * error naming the file, exit 1, and the previous latest.safetensors still loads. */
static void file_size_limit(void)
{
    char args[2048], path[256];
    snprintf(args, sizeof args,
             "train --obs vars --envs 1 --steps 256 --rollout-steps 128 --checkpoint-every 1 "
             "--hidden 512 --run-dir %s/fsize",
             tmp);
    char err[8192];
    REQUIRE(run(args, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/fsize/latest.safetensors", tmp);
    struct stat before;
    REQUIRE(stat(path, &before) == 0);
    /* 1 MB: room for the logs and the core's private copy, not for the checkpoint (6 MB). */
    REQUIRE(before.st_size > 1024 * 1024);
    snprintf(args, sizeof args, "--steps 512 --resume %s/fsize", tmp);
    char cmd[4096], errfile[128];
    snprintf(errfile, sizeof errfile, "%s/stderr", tmp);
    snprintf(cmd, sizeof cmd, "ulimit -f 2048; exec %s train %s >/dev/null 2>%s </dev/null",
             GBFARM_BIN, args, errfile);
    int status = system(cmd);
    FILE *f = fopen(errfile, "r");
    size_t n = f ? fread(err, 1, sizeof err - 1, f) : 0;
    err[n] = '\0';
    if (f) fclose(f);
    matrix_cases++;
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 1, "RLIMIT_FSIZE: status %d: %s", status,
           err);
    CHECKF(strstr(err, "latest.safetensors") && strstr(err, "File too large"), "RLIMIT_FSIZE: %s",
           err);
    safetensors *st;
    CHECK_OK(safetensors_read(&st, path));
    safetensors_free(st);
    struct stat after;
    CHECK(stat(path, &after) == 0 && after.st_size == before.st_size &&
          after.st_mtime == before.st_mtime);
    snprintf(path, sizeof path, "%s/fsize/latest.safetensors.tmp", tmp);
    CHECK(access(path, F_OK) != 0);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/gbfarm-cli-XXXXXX");
    REQUIRE(mkdtemp(tmp));
    char args[2048], path[256], path2[512];
    static uint8_t buf[1 << 20];

    /* Commands and flags. */
    expect("frobnicate", "frobnicate", NULL);
    expect("bench --bogus", "--bogus", NULL);
    expect("bench --envs 0", "--envs", NULL);
    expect("bench --envs 1,x", "--envs", "'x'", NULL);
    expect("bench --seconds -3", "--seconds", NULL);
    expect("bench --seconds", "--seconds", NULL);
    expect("bench --frame-skip 0", "--frame-skip", NULL);
    expect("bench --press-frames 9", "--press-frames", NULL);
    expect("bench --noop-max -1", "--noop-max", NULL);
    expect("eval --random --max-episode-steps -1", "--max-episode-steps", NULL);
    expect("train --max-episode-steps x", "--max-episode-steps", "'x'", NULL);
    expect("bench --option nokey", "--option", "nokey", NULL);
    expect("train --envs 0", "--envs", NULL);
    expect("train --lr abc", "--lr", "abc", NULL);
    expect("train --steps -5", "--steps", NULL);
    expect("train --env pong", "--env", "pong", NULL);
    expect("state --rom states/catch-gb/catch.gb --core gambatte", "--out", NULL);

    /* ROMs. */
    expect("bench --rom /nonexistent/x.gb", "/nonexistent/x.gb", NULL);
    expect("info --rom /nonexistent/x.gb", "/nonexistent/x.gb", NULL);
    expect("bench --rom README.md", "README.md", "not a Game Boy", NULL);
    expect("bench --rom states/catch-gba/catch.gba", "catch.gba", "Game Boy Advance", NULL);
    size_t n = read_file("states/catch-gb/catch.gb", buf, sizeof buf);
    buf[0x7000] ^= 0xFF; /* a different dump: same header, different bytes */
    snprintf(path, sizeof path, "%s/other.gb", tmp);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "bench --rom %s", path);
    expect(args, path, "cca97487eab", NULL);

    /* Cores. */
    expect("bench --core nosuchcore", "nosuchcore", NULL);
    expect("bench --core /nonexistent/x_libretro.so", "/nonexistent/x_libretro.so", NULL);
    expect("bench --core /lib/x86_64-linux-gnu/libz.so.1 --seconds 0.1", "libz.so.1",
           "not a libretro core", NULL);
    expect("info --rom states/catch-gb/catch.gb --core README.md", "README.md", NULL);

    /* States: another core's, truncated, corrupt, missing. */
    expect("bench --core mgba --seconds 0.1", "start.state", "another core", NULL);
    n = read_file("states/catch-gb/start.state", buf, sizeof buf);
    snprintf(path, sizeof path, "%s/truncated.state", tmp);
    write_file(path, buf, n / 2);
    snprintf(args, sizeof args, "bench --state %s --seconds 0.1", path);
    expect(args, path, "truncated", NULL);
    for (size_t i = n / 3; i < n / 3 + 32; i++) buf[i] ^= 0x5A;
    snprintf(path, sizeof path, "%s/corrupt.state", tmp);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "bench --state %s --seconds 0.1", path);
    expect(args, path, NULL);
    expect("bench --state /nonexistent/s.state", "--state", "/nonexistent/s.state", NULL);

    /* Input scripts. */
    snprintf(path, sizeof path, "%s/bad.txt", tmp);
    write_file(path, "- 10\nJUMP 4\n", 12);
    snprintf(path2, sizeof path2, "%s/out.state", tmp);
    snprintf(args, sizeof args,
             "state --rom states/catch-gb/catch.gb --core gambatte --script %s --out %s", path,
             path2);
    expect(args, "bad.txt:2", "JUMP", NULL);
    expect("state --rom states/catch-gb/catch.gb --core gambatte --out /nonexistent/dir/x.state",
           "/nonexistent/dir/x.state", NULL);

    /* Game folders: every bad fixture names its file. */
    expect("bench --game /nonexistent/game", "/nonexistent/game", NULL);
    DIR *d = opendir("tests/data/games/bad");
    REQUIRE(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(
            args, sizeof args,
            "bench --game tests/data/games/bad/%s --rom states/catch-gb/catch.gb --seconds 0.1",
            e->d_name);
        char dir[300];
        snprintf(dir, sizeof dir, "tests/data/games/bad/%s", e->d_name);
        expect(args, dir, NULL);
    }
    closedir(d);

    /* A variable no RAM region covers: Gambatte maps no HRAM. */
    snprintf(path, sizeof path, "%s/hram", tmp);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path2, sizeof path2, "%s/start.state", path);
    n = read_file("states/catch-gb/start.state", buf, sizeof buf);
    write_file(path2, buf, n);
    static const char json[] =
        "{\"platform\": \"gb\", \"states\": [\"start.state\"], \"actions\": [[], [\"A\"]],\n"
        " \"info\": {\"hram_byte\": {\"address\": \"0xFF80\", \"type\": \"|u1\"}},\n"
        " \"reward\": {\"variables\": {\"hram_byte\": {\"reward\": 1}}}}\n";
    snprintf(path2, sizeof path2, "%s/game.json", path);
    write_file(path2, json, sizeof json - 1);
    snprintf(args, sizeof args,
             "bench --game %s --rom states/catch-gb/catch.gb --core gambatte --seconds 0.1", path);
    expect(args, "hram_byte", "0xFF80", NULL);

    unmapped_message(path);
    exit_statuses();
    rom_core_flags();
    state_print_without_game();
    matrix();
    numeric_flags();
    file_size_limit();

    /* Good input still works, so the cases above fail for their own reason. */
    char err[8192];
    snprintf(args, sizeof args,
             "bench --game %s --rom states/catch-gb/catch.gb --core mgba --seconds 0.2", path);
    int status = run("bench --envs 1 --seconds 0.2", err, sizeof err);
    CHECKF(status == 0, "a good bench run failed: %s", err);
    status = run(args, err, sizeof err); /* mGBA maps HRAM, but start.state is Gambatte's */
    CHECK(status != 0 && strstr(err, "another core"));

    printf("%d bad-input cases, %d of them the command x input matrix over %d commands\n", cases,
           matrix_cases, N_COMMANDS);
    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    return check_summary();
}
