/* Run directories: the default RUN_ID, mkdir -p, refusals that name the path and the reason
 * (a file in the way, no write permission, a directory that already holds a run), and
 * config.json written atomically and read back equal. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/rundir.h"

static char dir[] = "/tmp/gbfarm-test-rundir-XXXXXX";

static void expect_error(gb_error *err, const char *a, const char *b)
{
    const char *msg = err ? gb_error_msg(err) : "(no error)";
    CHECKF(err && strstr(msg, a) && (!b || strstr(msg, b)), "expected '%s' and '%s' in: %s", a,
           b ? b : "", msg);
    gb_error_free(err);
}

static void test_default_path(void)
{
    struct tm tm = {.tm_year = 2024 - 1900,
                    .tm_mon = 2,
                    .tm_mday = 7,
                    .tm_hour = 9,
                    .tm_min = 5,
                    .tm_sec = 3,
                    .tm_isdst = -1};
    time_t when = mktime(&tm);
    char *path;
    REQUIRE_OK(rundir_default_path(&path, "runs", "tetris", 42, when));
    CHECKF(strcmp(path, "runs/tetris-20240307-090503-42") == 0, "%s", path);
    free(path);
    REQUIRE_OK(rundir_default_path(&path, "/tmp/r", "my game/v2", 18446744073709551615u, when));
    CHECKF(strcmp(path, "/tmp/r/my_game_v2-20240307-090503-18446744073709551615") == 0, "%s", path);
    free(path);
}

static bool restart;

/* Writes a new file, as checkpoints are written (a new inode renamed into place). */
static void touch(const char *in, const char *name, const char *text)
{
    char path[800], tmp[820];
    snprintf(path, sizeof path, "%s/%s", in, name);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *fp = fopen(tmp, "w");
    REQUIRE(fp);
    fputs(text, fp);
    fclose(fp);
    REQUIRE(rename(tmp, path) == 0);
}

static void test_create(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/runs/a/b", dir);
    CHECK_OK(rundir_create(path, &restart));
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_OK(rundir_create(path, &restart)); /* exists but holds no run yet: fine */
    char probe[700];
    snprintf(probe, sizeof probe, "%s/config.json.probe", path);
    CHECK(access(probe, F_OK) != 0);

    /* A file where a directory must go. */
    char file[600], under[700];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *fp = fopen(file, "w");
    REQUIRE(fp);
    fclose(fp);
    snprintf(under, sizeof under, "%s/run1", file);
    expect_error(rundir_create(under, &restart), file, "a file of that name exists");
    expect_error(rundir_create(file, &restart), file, "a file of that name exists");

    /* No write permission (root ignores permissions: checked only as another user). */
    if (geteuid() != 0) {
        char locked[600], inside[700];
        snprintf(locked, sizeof locked, "%s/locked", dir);
        REQUIRE(mkdir(locked, 0500) == 0);
        snprintf(inside, sizeof inside, "%s/run", locked);
        expect_error(rundir_create(inside, &restart), inside, "Permission denied");
        expect_error(rundir_create(locked, &restart), locked, "not writable");
        chmod(locked, 0700);
    }
    /* A read-only file system stops root too. */
    if (access("/proc/self", F_OK) == 0)
        expect_error(rundir_create("/proc/self/gbfarm-run", &restart), "/proc/self/gbfarm-run",
                     NULL);
}

static void test_config(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/runs/cfg", dir);
    REQUIRE_OK(rundir_create(path, &restart));
    expect_error(rundir_check_resume(path), "config.json", "No such file");
    json_t *cfg = json_pack("{s:s, s:I, s:f, s:b, s:{s:i, s:f}, s:[i,i]}", "game", "tetris", "seed",
                            (json_int_t)1, "lr", 0.00025, "anneal_lr", 1, "ppo", "epochs", 4,
                            "clip", 0.1, "total_steps", 10000000, 8);
    REQUIRE(cfg);
    CHECK_OK(rundir_write_config(path, cfg));
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s/config.json.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    json_t *back = NULL;
    CHECK_OK(rundir_read_config(path, &back));
    CHECK(back && json_equal(cfg, back));
    /* Keys keep the caller's order, so the file reads like the command line. */
    char cfg_path[700];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
    FILE *fp = fopen(cfg_path, "r");
    char text[1024] = "";
    if (fp) {
        size_t n = fread(text, 1, sizeof text - 1, fp);
        text[n] = '\0';
        fclose(fp);
    }
    char *g = strstr(text, "\"game\""), *s = strstr(text, "\"seed\""), *l = strstr(text, "\"lr\"");
    CHECKF(g && s && l && g < s && s < l, "%s", text);
    json_decref(back);

    /* Overwrite: the new one replaces the old one whole. */
    json_object_set_new(cfg, "seed", json_integer(2));
    CHECK_OK(rundir_write_config(path, cfg));
    CHECK_OK(rundir_read_config(path, &back));
    CHECK(back && json_integer_value(json_object_get(back, "seed")) == 2);
    json_decref(back);
    json_decref(cfg);

    /* A config.json and no checkpoint: a run that stopped before its first checkpoint (or
     * failed to start). Starting there again is fine, and says so. */
    CHECK_OK(rundir_create(path, &restart));
    CHECK(restart);
    /* With a checkpoint it holds a run: a fresh start there is refused, a resume is fine. */
    touch(path, "update_000010.safetensors", "x");
    expect_error(rundir_create(path, &restart), "already holds a run", "--resume");
    CHECK_OK(rundir_check_resume(path));
    expect_error(rundir_check_resume("/nonexistent-gbfarm-run"), "/nonexistent-gbfarm-run",
                 "No such file");

    /* Broken files are named with their line. */
    fp = fopen(cfg_path, "w");
    REQUIRE(fp);
    fputs("{\n  \"game\": \"tetris\",\n  oops\n}\n", fp);
    fclose(fp);
    expect_error(rundir_read_config(path, &back), "config.json:3:", "not valid JSON");
    CHECK(back == NULL);
    fp = fopen(cfg_path, "w");
    REQUIRE(fp);
    fputs("[1, 2]\n", fp);
    fclose(fp);
    expect_error(rundir_read_config(path, &back), "config.json", "expected a JSON object");
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none", dir);
    expect_error(rundir_read_config(missing, &back), "none/config.json", NULL);

    /* Writing into a directory that is gone names the temporary file. */
    json_t *empty = json_object();
    expect_error(rundir_write_config(missing, empty), "none/config.json.tmp", "No such file");
    json_decref(empty);
}

/* Checkpoints newest first; latest is kept as previous before it is replaced. */
static void test_checkpoints(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/runs/ckpt", dir);
    REQUIRE_OK(rundir_create(path, &restart));
    char **list;
    int n;
    CHECK_OK(rundir_checkpoints(path, &list, &n));
    CHECK(n == 0);
    rundir_free_list(list, n);
    CHECK_OK(rundir_keep_previous(path)); /* no latest yet: nothing to keep */
    const char *names[] = {"update_000100.safetensors",
                           "update_000020.safetensors",
                           "latest.safetensors",
                           "update_001000.safetensors",
                           "notes.txt",
                           "update_x.safetensors",
                           "latest.safetensors.tmp"};
    for (int i = 0; i < 7; i++) touch(path, names[i], names[i]);
    CHECK_OK(rundir_keep_previous(path));
    touch(path, "latest.safetensors", "new");
    CHECK_OK(rundir_checkpoints(path, &list, &n));
    const char *want[] = {"latest.safetensors", "previous.safetensors", "update_001000.safetensors",
                          "update_000100.safetensors", "update_000020.safetensors"};
    CHECKF(n == 5, "%d checkpoints listed", n);
    for (int i = 0; i < n && i < 5; i++)
        CHECKF(strstr(list[i], want[i]) && strstr(list[i], path) == list[i], "%d: %s", i, list[i]);
    rundir_free_list(list, n);
    /* previous holds what latest held */
    char prev[700], text[64] = "";
    snprintf(prev, sizeof prev, "%s/previous.safetensors", path);
    FILE *fp = fopen(prev, "r");
    if (fp) {
        text[fread(text, 1, sizeof text - 1, fp)] = '\0';
        fclose(fp);
    }
    CHECKF(!strcmp(text, "latest.safetensors"), "previous holds '%s'", text);

    /* --keep-last 2: the two highest update_<N> stay, with latest and previous. */
    CHECK_OK(rundir_prune_kept(path, 2));
    CHECK_OK(rundir_checkpoints(path, &list, &n));
    CHECKF(n == 4 && strstr(list[2], "update_001000") && strstr(list[3], "update_000100"),
           "%d checkpoints after the prune", n);
    rundir_free_list(list, n);
    char other[700];
    snprintf(other, sizeof other, "%s/notes.txt", path);
    CHECK(access(other, F_OK) == 0); /* not a checkpoint: left alone */
}

int main(void)
{
    REQUIRE(mkdtemp(dir));
    test_default_path();
    test_create();
    test_config();
    test_checkpoints();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
