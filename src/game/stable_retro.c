/* stable-retro integration folders (NAME-GameBoy, NAME-GbColor, NAME-GbAdvance; NAME-Gb is
 * accepted too): data.json holds the variables, scenario.json the reward and done terms,
 * metadata.json the default state, rom.sha the ROM's SHA-1 (one per line when several dumps
 * are accepted). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vars.h"

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

static gb_error *platform_from_name(game_spec *spec, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (ends_with(dir, n, "-GbAdvance"))
        spec->platform = CORE_PLATFORM_GBA;
    else if (ends_with(dir, n, "-GbColor"))
        spec->platform = CORE_PLATFORM_GBC;
    else if (ends_with(dir, n, "-GameBoy") || ends_with(dir, n, "-Gb"))
        spec->platform = CORE_PLATFORM_GB;
    else
        return gb_errorf("%s: expected a stable-retro folder name ending in -GameBoy (or -Gb), "
                         "-GbColor or -GbAdvance (the platform), found '%.*s'",
                         dir, (int)n, dir);
    return NULL;
}

static gb_error *read_rom_sha(game_spec *spec, const char *dir)
{
    char *file = game_join(dir, "rom.sha");
    if (!file) return gb_errorf("%s: out of memory", dir);
    FILE *f = fopen(file, "r");
    if (!f) {
        gb_error *err =
            errno == ENOENT ? NULL : gb_errorf("%s: cannot open: %s", file, strerror(errno));
        free(file);
        return err;
    }
    game_vars *gv = spec->vars;
    char line[256];
    int n = 0;
    gb_error *err = NULL;
    while (!err && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (!*s) continue;
        char key[32];
        snprintf(key, sizeof key, "line %d", n + 1);
        char sha[41];
        err = game_read_sha1(file, key, s, sha);
        if (err) break;
        if (n == 0) {
            memcpy(spec->rom_sha1, sha, 41);
        } else {
            void *p = realloc(gv->rom_sha1_alt, (size_t)n * sizeof *gv->rom_sha1_alt);
            if (!p) {
                err = gb_errorf("%s: out of memory", file);
                break;
            }
            gv->rom_sha1_alt = p;
            memcpy(gv->rom_sha1_alt[gv->n_rom_sha1_alt++], sha, 41);
        }
        n++;
    }
    fclose(f);
    free(file);
    return err;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* metadata.json's default_state, else every *.state in the folder in name order. */
static gb_error *find_states(game_spec *spec, const char *dir)
{
    char *meta = game_join(dir, "metadata.json");
    if (!meta) return gb_errorf("%s: out of memory", dir);
    gb_error *err = NULL;
    if (game_file_exists(meta)) {
        json_t *root = NULL;
        err = game_json_load(&root, meta);
        const json_t *v = root ? json_object_get(root, "default_state") : NULL;
        if (!err && v) {
            if (!json_is_string(v)) {
                err =
                    game_key_error(meta, "default_state", "a state name (file without .state)", v);
            } else {
                char name[512];
                snprintf(name, sizeof name, "%s.state", json_string_value(v));
                spec->states = calloc(1, sizeof *spec->states);
                char *path = game_join(dir, name);
                if (!spec->states || !path) {
                    free(path);
                    err = gb_errorf("%s: out of memory", meta);
                } else {
                    spec->states[spec->n_states++] = path;
                    if (!game_file_exists(path))
                        err = gb_errorf("%s: default_state: expected a state file inside the "
                                        "folder, found no file %s",
                                        meta, path);
                }
            }
        }
        json_decref(root);
    }
    free(meta);
    if (err || spec->n_states) return err;

    DIR *d = opendir(dir);
    if (!d) return gb_errorf("%s: cannot list folder: %s", dir, strerror(errno));
    struct dirent *e;
    int cap = 0;
    while (!err && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 6 || strcmp(e->d_name + n - 6, ".state")) continue;
        if (spec->n_states == cap) {
            cap = cap ? 2 * cap : 8;
            void *p = realloc(spec->states, (size_t)cap * sizeof *spec->states);
            if (!p) {
                err = gb_errorf("%s: out of memory", dir);
                break;
            }
            spec->states = p;
        }
        spec->states[spec->n_states] = game_join(dir, e->d_name);
        if (!spec->states[spec->n_states])
            err = gb_errorf("%s: out of memory", dir);
        else
            spec->n_states++;
    }
    closedir(d);
    if (err) return err;
    if (!spec->n_states)
        return gb_errorf("%s: expected a start state (metadata.json default_state or a *.state "
                         "file), found none",
                         dir);
    qsort(spec->states, (size_t)spec->n_states, sizeof *spec->states, compare_names);
    return NULL;
}

/* stable-retro's defaults for an action set: no-op plus each of the platform's buttons. */
static gb_error *default_actions(game_spec *spec, const char *dir)
{
    static const int gb[] = {
        CORE_BUTTON_A,    CORE_BUTTON_B,    CORE_BUTTON_SELECT, CORE_BUTTON_START, CORE_BUTTON_UP,
        CORE_BUTTON_DOWN, CORE_BUTTON_LEFT, CORE_BUTTON_RIGHT,  CORE_BUTTON_L,     CORE_BUTTON_R};
    int n = spec->platform == CORE_PLATFORM_GBA ? 10 : 8;
    spec->actions = calloc((size_t)n + 1, sizeof *spec->actions);
    if (!spec->actions) return gb_errorf("%s: out of memory", dir);
    spec->actions[spec->n_actions++] = 0;
    for (int i = 0; i < n; i++) spec->actions[spec->n_actions++] = (uint16_t)(1u << gb[i]);
    return NULL;
}

gb_error *game_load_stable_retro(game_spec *spec, const char *dir)
{
    GB_TRY(platform_from_name(spec, dir));
    /* stable-retro's own cores for these folders; their .state files are those cores' bytes */
    spec->core = game_strdup(spec->platform == CORE_PLATFORM_GBA ? "mgba" : "gambatte");
    if (!spec->core) return gb_errorf("%s: out of memory", dir);

    game_vars *gv = spec->vars;
    gv->info_file = game_join(dir, "data.json");
    if (!gv->info_file) return gb_errorf("%s: out of memory", dir);
    json_t *data = NULL;
    GB_TRY(game_json_load(&data, gv->info_file));
    const json_t *info = json_object_get(data, "info");
    gb_error *err = info ? game_parse_info(gv, gv->info_file, info, false)
                         : game_missing_key(gv->info_file, "info", "an object of variables");
    json_decref(data);
    if (err) return err;

    char *file = game_join(dir, "scenario.json");
    if (!file) return gb_errorf("%s: out of memory", dir);
    if (game_file_exists(file)) {
        json_t *scen = NULL;
        err = game_json_load(&scen, file);
        const json_t *reward = scen ? json_object_get(scen, "reward") : NULL;
        const json_t *rewards = scen ? json_object_get(scen, "rewards") : NULL;
        if (!err && !reward && rewards) {
            /* multi-player scenarios: gbfarm trains player 1 */
            if (!json_is_array(rewards) || !json_array_size(rewards))
                err =
                    game_key_error(file, "rewards", "a list of per-player reward objects", rewards);
            else
                reward = json_array_get(rewards, 0);
        }
        if (!err && reward) err = game_parse_reward(gv, file, gv->info_file, reward, false);
        const json_t *done = scen ? json_object_get(scen, "done") : NULL;
        if (!err && done) err = game_parse_done(gv, file, gv->info_file, done, false);
        json_decref(scen);
    }
    free(file);
    if (err) return err;

    GB_TRY(read_rom_sha(spec, dir));
    GB_TRY(find_states(spec, dir));
    return default_actions(spec, dir);
}
