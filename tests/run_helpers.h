/* Running the gbfarm binary from tests: in the background or to the end, with its output
 * appended to a log, and comparing the checkpoints two runs end with; what a game folder's
 * game.json sets, and a copy of the bundled game with a start-state archive. */
#ifndef GBFARM_TESTS_RUN_HELPERS_H
#define GBFARM_TESTS_RUN_HELPERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/safetensors.h"

/* `gbfarm <args>` in the background, stdout and stderr appended to log; file_limit > 0 sets
 * RLIMIT_FSIZE (bytes) for it. */
static inline pid_t gbfarm_spawn(const char *args, const char *log, long file_limit)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s %s >>%s 2>&1", GBFARM_BIN, args, log);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (file_limit > 0) {
            struct rlimit rl = {(rlim_t)file_limit, (rlim_t)file_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Its exit status, or 128 + the signal that ended it. */
static inline int gbfarm_wait(pid_t pid)
{
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline int gbfarm_run(const char *args, const char *log)
{
    return gbfarm_wait(gbfarm_spawn(args, log, 0));
}

/* A copy of the bundled Catch folder at dir, with `"archive": <json>` (JSON text without
 * slashes) in its game.json. */
static inline void catch_with_archive(const char *dir, const char *json)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cp -r states/catch-gb %s && sed -i 's/^  \"train\": /  \"archive\": %s,\\n  "
             "\"train\": /' %s/game.json && grep -q '\"archive\"' %s/game.json",
             dir, json, dir, dir);
    REQUIRE(system(cmd) == 0);
}

/* Whether the file holds a line with text. */
static inline bool log_has(const char *log, const char *text)
{
    FILE *fp = fopen(log, "r");
    char line[4096];
    bool found = false;
    while (!found && fp && fgets(line, sizeof line, fp)) found = strstr(line, text) != NULL;
    if (fp) fclose(fp);
    return found;
}

/* Waits up to `seconds` for pid to exit; its status, or -1 while it runs on. */
static inline int exited_within(pid_t pid, double seconds)
{
    for (int i = 0; i < (int)(seconds * 1000); i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(1000);
    }
    return -1;
}

static inline int checkpoint_loads(const char *path)
{
    safetensors *f = NULL;
    gb_error *err = safetensors_read(&f, path);
    if (err) fprintf(stderr, "%s\n", gb_error_msg(err));
    gb_error_free(err);
    safetensors_free(f);
    return err == NULL;
}

/* A checkpoint file's bytes and its header (NULL if unreadable). */
static inline json_t *checkpoint_bytes(const char *path, uint8_t *buf, size_t cap, size_t *n,
                                       size_t *data)
{
    FILE *f = fopen(path, "rb");
    *n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    uint64_t h = 0;
    if (*n >= 8) memcpy(&h, buf, 8);
    *data = 8 + (size_t)h;
    return *n >= *data ? json_loadb((const char *)buf + 8, (size_t)h, 0, NULL) : NULL;
}

/* Two checkpoints hold the same tensors, by name, byte for byte, except the env snapshots
 * (they hold wall-clock episode times), the archive's compressed states and the metadata (their
 * checksums). An archived Gambatte state of a ROM-only cartridge holds two fields its mapper
 * never writes (rambmod, rombank: whatever memory the core's save struct had, zero in a fresh
 * heap, other bytes under ThreadSanitizer's allocator); set to any value, the state plays the
 * same frames and RAM (checked over 4,069 frames). So the compressed sizes, and with them the
 * files' lengths, may differ; the archive's keys, scores, counts and raw sizes are compared. */
static inline int same_weights(const char *a, const char *b)
{
    if (!checkpoint_loads(a) || !checkpoint_loads(b)) return 0;
    static uint8_t b1[1 << 24], b2[1 << 24];
    size_t n1, n2, d1, d2;
    json_t *j1 = checkpoint_bytes(a, b1, sizeof b1, &n1, &d1);
    json_t *j2 = checkpoint_bytes(b, b2, sizeof b2, &n2, &d2);
    int same = j1 && j2 && json_object_size(j1) == json_object_size(j2);
    const char *key;
    json_t *t1;
    json_object_foreach(j1, key, t1)
    {
        if (!same || !strcmp(key, "__metadata__") || strstr(key, ".snapshot") ||
            !strncmp(key, "archive.zstate.", 15))
            continue;
        json_t *t2 = json_object_get(j2, key), *o1 = json_object_get(t1, "data_offsets"),
               *o2 = json_object_get(t2, "data_offsets");
        size_t s1 = d1 + (size_t)json_integer_value(json_array_get(o1, 0)),
               e1 = d1 + (size_t)json_integer_value(json_array_get(o1, 1)),
               s2 = d2 + (size_t)json_integer_value(json_array_get(o2, 0)),
               e2 = d2 + (size_t)json_integer_value(json_array_get(o2, 1));
        if (!t2 || !json_equal(json_object_get(t1, "dtype"), json_object_get(t2, "dtype")) ||
            !json_equal(json_object_get(t1, "shape"), json_object_get(t2, "shape")) || e1 > n1 ||
            e2 > n2 || e1 - s1 != e2 - s2 || memcmp(b1 + s1, b2 + s2, e1 - s1)) {
            fprintf(stderr, "%s and %s: tensor %s differs\n", a, b, key);
            same = 0;
        }
    }
    json_decref(j1);
    json_decref(j2);
    return same;
}

/* <folder>/game.json's reward.explore.reward (what a new place pays), or -1. */
static inline double explore_reward(const char *folder)
{
    char path[512];
    snprintf(path, sizeof path, "%s/game.json", folder);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *v = json_object_get(json_object_get(json_object_get(j, "reward"), "explore"), "reward");
    double r = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(j);
    return r;
}

#endif
