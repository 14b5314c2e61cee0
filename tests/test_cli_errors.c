/* Bad input on the command line: each case exits non-zero with one line on stderr that
 * names the file, key or flag at fault. Runs the real gbfarm binary. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

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
    CHECKF(lines == 1 && err[len - 1] == '\n', "gbfarm %s: %d lines on stderr:\n%s", args, lines, err);
    va_list ap;
    va_start(ap, args);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        CHECKF(strstr(err, frag) != NULL, "gbfarm %s: '%s' not in: %s", args, frag, err);
    va_end(ap);
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
    snprintf(args, sizeof args, "state --rom states/catch-gb/catch.gb --core gambatte --script %s --out %s", path, path2);
    expect(args, "bad.txt:2", "JUMP", NULL);
    expect("state --rom states/catch-gb/catch.gb --core gambatte --out /nonexistent/dir/x.state",
           "/nonexistent/dir/x.state", NULL);

    /* Game folders: every bad fixture names its file. */
    expect("bench --game /nonexistent/game", "/nonexistent/game", NULL);
    DIR *d = opendir("tests/data/games/bad");
    REQUIRE(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(args, sizeof args,
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
    snprintf(args, sizeof args, "bench --game %s --rom states/catch-gb/catch.gb --core gambatte --seconds 0.1", path);
    expect(args, "hram_byte", "0xFF80", NULL);

    /* Good input still works, so the cases above fail for their own reason. */
    char err[8192];
    snprintf(args, sizeof args, "bench --game %s --rom states/catch-gb/catch.gb --core mgba --seconds 0.2", path);
    int status = run("bench --envs 1 --seconds 0.2", err, sizeof err);
    CHECKF(status == 0, "a good bench run failed: %s", err);
    status = run(args, err, sizeof err); /* mGBA maps HRAM, but start.state is Gambatte's */
    CHECK(status != 0 && strstr(err, "another core"));

    printf("%d bad-input cases\n", cases);
    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    return check_summary();
}
