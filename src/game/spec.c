/* Loading a game folder: gbfarm's game.json, or (without one) a stable-retro folder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vars.h"

/* Game Boy pads have A B SELECT START and the d-pad; the Advance adds L and R. */
static bool platform_has(core_platform p, int bit)
{
    if (bit == CORE_BUTTON_X || bit == CORE_BUTTON_Y) return false;
    if (bit == CORE_BUTTON_L || bit == CORE_BUTTON_R) return p == CORE_PLATFORM_GBA;
    return true;
}

static gb_error *read_string(const char *file, const char *key, const json_t *v, char **out)
{
    if (!json_is_string(v)) return game_key_error(file, key, "a string", v);
    *out = game_strdup(json_string_value(v));
    return *out ? NULL : gb_errorf("%s: out of memory", file);
}

static gb_error *read_actions(game_spec *spec, const char *file, const json_t *actions)
{
    const char *expected = "a non-empty list of button lists, such as [[], [\"A\"], [\"UP\"]]";
    gb_error *err;
    spec->actions =
        game_alloc_list(file, "actions", actions, expected, sizeof *spec->actions, &err);
    if (!spec->actions) return err;
    for (size_t i = 0; i < json_array_size(actions); i++) {
        char key[64];
        snprintf(key, sizeof key, "actions[%zu]", i);
        const json_t *combo = json_array_get(actions, i);
        if (!json_is_array(combo))
            return game_key_error(file, key, "a list of buttons ([] for no-op)", combo);
        uint16_t mask = 0;
        for (size_t j = 0; j < json_array_size(combo); j++) {
            snprintf(key, sizeof key, "actions[%zu][%zu]", i, j);
            const json_t *b = json_array_get(combo, j);
            const char *s = json_is_string(b) ? json_string_value(b) : "";
            int bit = game_button_bit(s, strlen(s), false);
            if (bit < 0 || !platform_has(spec->platform, bit))
                return game_key_error(file, key,
                                      spec->platform == CORE_PLATFORM_GBA
                                          ? "a gba button: A B SELECT START UP DOWN LEFT RIGHT L R"
                                          : "a gb/gbc button: A B SELECT START UP DOWN LEFT RIGHT",
                                      b);
            mask |= (uint16_t)(1u << bit);
        }
        spec->actions[spec->n_actions++] = mask;
    }
    return NULL;
}

gb_error *game_obs_parse(const char *name, game_obs *out)
{
    static const char *const names[] = {"screen", "vars", "screen+vars"};
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (game_obs)i;
            return NULL;
        }
    return gb_errorf("expected \"screen\", \"vars\" or \"screen+vars\", found %s%s%s",
                     name ? "\"" : "", name ? name : "none", name ? "\"" : "");
}

const char *game_obs_name(game_obs obs)
{
    return obs == GAME_OBS_VARS ? "vars" : obs == GAME_OBS_SCREEN_VARS ? "screen+vars" : "screen";
}

gb_error *game_obs_check(const game_spec *spec, game_obs obs)
{
    if (obs == GAME_OBS_SCREEN) return NULL;
    if (spec->n_obs_vars == 0)
        return gb_errorf("%s/game.json: observation %s: the folder lists no observation.vars",
                         spec->dir, game_obs_name(obs));
    for (int i = 0; obs == GAME_OBS_SCREEN_VARS && i < spec->n_obs_vars; i++)
        if (!spec->obs_vars[i].scaled)
            return gb_errorf("%s/game.json: observation.vars[%d] (%s): observed beside the screen, "
                             "a variable needs its \"range\": [lo, hi]",
                             spec->dir, i, game_var_name(spec, spec->obs_vars[i].var));
    return NULL;
}

/* observation.vars: info variables, each a name or {"name": ..., "range": [lo, hi]}. */
static gb_error *read_obs_vars(game_spec *spec, const char *file, const json_t *vars)
{
    if (!vars) return NULL;
    gb_error *err;
    spec->obs_vars =
        game_alloc_list(file, "observation.vars", vars, "a non-empty list of variable names",
                        sizeof *spec->obs_vars, &err);
    if (!spec->obs_vars) return err;
    for (size_t i = 0; i < json_array_size(vars); i++) {
        char key[64];
        snprintf(key, sizeof key, "observation.vars[%zu]", i);
        const json_t *x = json_array_get(vars, i), *name = x, *range = NULL;
        game_obs_var *o = &spec->obs_vars[spec->n_obs_vars];
        if (json_is_object(x)) {
            const char *k;
            json_t *y;
            json_object_foreach((json_t *)x, k, y)
            {
                if (strcmp(k, "name") && strcmp(k, "range") && k[0] != '_')
                    return gb_errorf("%s: %s.%s: unknown key (expected name, range)", file, key, k);
            }
            name = json_object_get(x, "name"), range = json_object_get(x, "range");
        }
        o->var = json_is_string(name) ? game_var_index(spec, json_string_value(name)) : -1;
        if (o->var < 0)
            return game_key_error(file, key,
                                  "the name of a variable in info, or {\"name\": ..., \"range\": "
                                  "[lo, hi]}",
                                  x);
        if (range) {
            const json_t *lo = json_array_get(range, 0), *hi = json_array_get(range, 1);
            if (json_array_size(range) != 2 || !json_is_number(lo) || !json_is_number(hi) ||
                json_number_value(lo) >= json_number_value(hi))
                return game_key_error(file, key, "a \"range\" [lo, hi] of two numbers, lo < hi",
                                      range);
            o->scaled = true, o->lo = json_number_value(lo), o->hi = json_number_value(hi);
        }
        spec->n_obs_vars++;
    }
    return NULL;
}

static gb_error *read_states(game_spec *spec, const char *file, const json_t *states)
{
    gb_error *err;
    spec->states = game_alloc_list(file, "states", states, "a non-empty list of .state files",
                                   sizeof *spec->states, &err);
    if (!spec->states) return err;
    for (size_t i = 0; i < json_array_size(states); i++) {
        char key[48];
        const char *name;
        GB_TRY(game_list_string(file, "states", states, i, "a .state file name", key, sizeof key,
                                &name));
        char *path = game_join(spec->dir, name);
        if (!path) return gb_errorf("%s: out of memory", file);
        spec->states[spec->n_states++] = path;
        if (!game_file_exists(path))
            return gb_errorf("%s: %s: expected a state file inside the folder, found no file %s",
                             file, key, path);
    }
    return NULL;
}

static gb_error *read_int_key(const char *file, const json_t *obj, const char *name,
                              const char *key, int64_t min, int64_t max, int *out)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) return NULL;
    int64_t x;
    GB_TRY(game_read_int(file, key, v, min, max, &x));
    *out = (int)x;
    return NULL;
}

/* train: the trainer's defaults for this game, as gbfarm train's flags without "--"; kept as
 * an argument list that gbfarm train parses before the command line. */
static gb_error *read_train(game_spec *spec, const char *file, const json_t *train)
{
    static const char *const numbers[] = {
        "envs-per-core", "rollout-steps", "epochs", "minibatches", "lr",
        "gamma",         "gae-lambda",    "clip",   "vf-coef",     "ent-coef",
        "max-grad-norm", "hidden",        NULL};
    if (!json_is_object(train))
        return game_key_error(file, "train", "an object of gbfarm train settings", train);
    spec->train_args = calloc(2 * json_object_size(train) + 1, sizeof *spec->train_args);
    if (!spec->train_args) return gb_errorf("%s: out of memory", file);
    spec->train_args[spec->n_train_args++] = game_strdup("game.json");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)train, key, v)
    {
        if (key[0] == '_') continue;
        char flag[64], value[64] = "", what[80];
        snprintf(flag, sizeof flag, "--%s", key);
        snprintf(what, sizeof what, "train.%s", key);
        bool number = false;
        for (int i = 0; numbers[i]; i++) number |= !strcmp(key, numbers[i]);
        if (!strcmp(key, "envs-per-core")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 64)
                return game_key_error(file, what, "an integer, 1-64", v);
            spec->train_envs_per_core = (int)json_integer_value(v);
            continue;
        } else if (number) {
            if (!json_is_number(v)) return game_key_error(file, what, "a number", v);
            snprintf(value, sizeof value, "%.17g", json_number_value(v));
        } else if (!strcmp(key, "cnn")) {
            if (!json_is_string(v)) return game_key_error(file, what, "\"small\" or \"nature\"", v);
            snprintf(value, sizeof value, "%s", json_string_value(v));
        } else if (!strcmp(key, "no-anneal") || !strcmp(key, "ent-anneal")) {
            if (!json_is_true(v)) return game_key_error(file, what, "true", v);
        } else {
            return gb_errorf("%s: %s: unknown key (expected one of: envs-per-core, rollout-steps, "
                             "epochs, minibatches, lr, gamma, gae-lambda, clip, vf-coef, ent-coef, "
                             "max-grad-norm, hidden, cnn, no-anneal, ent-anneal)",
                             file, what);
        }
        if (!(spec->train_args[spec->n_train_args++] = game_strdup(flag)))
            return gb_errorf("%s: out of memory", file);
        if (value[0] && !(spec->train_args[spec->n_train_args++] = game_strdup(value)))
            return gb_errorf("%s: out of memory", file);
    }
    return NULL;
}

static gb_error *check_top_keys(const char *file, json_t *root)
{
    static const char *const allowed[] = {
        "name",   "platform", "rom",        "rom_sha1",          "core",     "core_options",
        "states", "actions",  "frame_skip", "press_frames",      "noop_max", "observation",
        "info",   "reward",   "done",       "max_episode_steps", "train",    "archive",
        NULL};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool ok = key[0] == '_';
        for (int i = 0; !ok && allowed[i]; i++) ok = !strcmp(key, allowed[i]);
        if (!ok)
            return gb_errorf("%s: %s: unknown key (expected name, platform, rom, rom_sha1, core, "
                             "core_options, states, actions, frame_skip, press_frames, "
                             "max_episode_steps, noop_max, observation, info, reward, done, "
                             "train, archive)",
                             file, key);
    }
    return NULL;
}

static gb_error *read_platform(game_spec *spec, const char *file, const json_t *v)
{
    if (!v) return game_missing_key(file, "platform", "\"gb\", \"gbc\" or \"gba\"");
    const char *p = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(p, "gb"))
        spec->platform = CORE_PLATFORM_GB;
    else if (!strcmp(p, "gbc"))
        spec->platform = CORE_PLATFORM_GBC;
    else if (!strcmp(p, "gba"))
        spec->platform = CORE_PLATFORM_GBA;
    else
        return game_key_error(file, "platform", "\"gb\", \"gbc\" or \"gba\"", v);
    return NULL;
}

/* rom (resolved against the folder), rom_sha1 and core: each optional. */
static gb_error *read_rom_core(game_spec *spec, const char *file, json_t *root)
{
    json_t *v;
    if ((v = json_object_get(root, "rom"))) {
        if (!json_is_string(v)) return game_key_error(file, "rom", "a ROM file name", v);
        spec->rom = game_join(spec->dir, json_string_value(v));
        if (!spec->rom) return gb_errorf("%s: out of memory", file);
    }
    if ((v = json_object_get(root, "rom_sha1"))) {
        if (!json_is_string(v))
            return game_key_error(file, "rom_sha1", "a SHA-1: 40 hex digits", v);
        GB_TRY(game_read_sha1(file, "rom_sha1", json_string_value(v), spec->rom_sha1));
    }
    if ((v = json_object_get(root, "core"))) GB_TRY(read_string(file, "core", v, &spec->core));
    return NULL;
}

static gb_error *read_core_options(game_spec *spec, const char *file, json_t *v)
{
    if (!json_is_object(v))
        return game_key_error(file, "core_options", "an object of string options", v);
    spec->core_options = calloc(json_object_size(v) + 1, sizeof *spec->core_options);
    if (!spec->core_options) return gb_errorf("%s: out of memory", file);
    const char *name;
    json_t *value;
    json_object_foreach(v, name, value)
    {
        char k[300];
        snprintf(k, sizeof k, "core_options.%s", name);
        core_option *o = &spec->core_options[spec->n_core_options];
        GB_TRY(read_string(file, k, value, &o->value));
        o->key = game_strdup(name);
        spec->n_core_options++;
        if (!o->key) return gb_errorf("%s: out of memory", file);
    }
    return NULL;
}

/* frame_skip, press_frames (at most frame_skip; frame_skip when not given),
 * max_episode_steps and noop_max. */
static gb_error *read_step_timing(game_spec *spec, const char *file, json_t *root)
{
    GB_TRY(read_int_key(file, root, "frame_skip", "frame_skip", 1, 1000, &spec->frame_skip));
    spec->press_frames = spec->frame_skip;
    GB_TRY(read_int_key(file, root, "press_frames", "press_frames", 1, 1000, &spec->press_frames));
    if (spec->press_frames > spec->frame_skip)
        return gb_errorf("%s: press_frames: expected at most frame_skip (%d), found %d", file,
                         spec->frame_skip, spec->press_frames);
    GB_TRY(read_int_key(file, root, "max_episode_steps", "max_episode_steps", 0, INT32_MAX,
                        &spec->max_episode_steps));
    return read_int_key(file, root, "noop_max", "noop_max", 0, 100000, &spec->noop_max);
}

/* An error for the first key of object v (prefix.key) that keys (NULL-ended) does not list;
 * keys starting with '_' are comments. */
static gb_error *known_keys(const char *file, const char *prefix, const json_t *v,
                            const char *const *keys)
{
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        bool ok = k[0] == '_';
        for (int i = 0; !ok && keys[i]; i++) ok = !strcmp(k, keys[i]);
        if (ok) continue;
        char list[256] = "";
        for (size_t i = 0, n = 0; keys[i] && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", keys[i]);
        return gb_errorf("%s: %s.%s: unknown key (expected one of: %s)", file, prefix, k, list);
    }
    return NULL;
}

/* observation's type, stack and downsample; its vars wait for info (read_obs_vars). */
static gb_error *read_observation(game_spec *spec, const char *file, json_t *v)
{
    if (!json_is_object(v))
        return game_key_error(file, "observation", "an object {stack, downsample}", v);
    static const char *const keys[] = {"type", "stack", "downsample", "vars", "follow", NULL};
    GB_TRY(known_keys(file, "observation", v, keys));
    json_t *x;
    if ((x = json_object_get(v, "type"))) {
        gb_error *bad = game_obs_parse(json_string_value(x), &spec->obs);
        gb_error_free(bad);
        if (bad)
            return game_key_error(file, "observation.type",
                                  "\"screen\", \"vars\" or \"screen+vars\"", x);
    }
    GB_TRY(read_int_key(file, v, "stack", "observation.stack", 1, 64, &spec->obs_stack));
    GB_TRY(
        read_int_key(file, v, "downsample", "observation.downsample", 1, 4, &spec->obs_downsample));
    if (spec->obs_downsample == 3)
        return game_key_error(file, "observation.downsample", "1, 2 or 4",
                              json_object_get(v, "downsample"));
    return NULL;
}

/* info, reward and done, then the observed variables, which name info's. */
static gb_error *read_vars(game_spec *spec, const char *file, json_t *root)
{
    json_t *v;
    game_vars *gv = spec->vars;
    gv->info_file = game_strdup(file);
    if (!gv->info_file) return gb_errorf("%s: out of memory", file);
    if ((v = json_object_get(root, "info"))) GB_TRY(game_parse_info(gv, file, v, true));
    if ((v = json_object_get(root, "reward"))) GB_TRY(game_parse_reward(gv, file, file, v, true));
    if ((v = json_object_get(root, "done"))) GB_TRY(game_parse_done(gv, file, file, v, true));
    return read_obs_vars(spec, file, json_object_get(json_object_get(root, "observation"), "vars"));
}

/* A variable of info named at key, as its index. */
static gb_error *read_var_name(const game_spec *spec, const char *file, const char *key,
                               const json_t *v, int *out)
{
    *out = json_is_string(v) ? game_var_index(spec, json_string_value(v)) : -1;
    return *out >= 0 ? NULL : game_key_error(file, key, "the name of a variable in info", v);
}

/* A pair of integers [a, b] in [min, max] at key, if there. */
static gb_error *read_int_pair(const char *file, const json_t *obj, const char *name,
                               const char *key, int min, int max, int *a, int *b)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) return NULL;
    char what[64];
    snprintf(what, sizeof what, "a pair of integers [a, b], each %d to %d", min, max);
    if (!json_is_array(v) || json_array_size(v) != 2) return game_key_error(file, key, what, v);
    int *out[2] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < min || json_integer_value(x) > max)
            return game_key_error(file, key, what, v);
        *out[i] = (int)json_integer_value(x);
    }
    return NULL;
}

/* observation.follow: {"x": var, "y": var, "scale": n, "offset": [x, y], "size": [w, h]}. */
static gb_error *read_follow(game_spec *spec, const char *file, const json_t *v)
{
    static const char *const keys[] = {"x", "y", "scale", "offset", "size", NULL};
    static const char expected[] = "an object {x, y, scale, offset, size}";
    if (!json_is_object(v)) return game_key_error(file, "observation.follow", expected, v);
    GB_TRY(known_keys(file, "observation.follow", v, keys));
    game_follow *f = &spec->obs_follow;
    static const char *const need[] = {"x", "y", "size"};
    for (int i = 0; i < 3; i++)
        if (!json_object_get(v, need[i])) {
            char key[40];
            snprintf(key, sizeof key, "observation.follow.%s", need[i]);
            return game_missing_key(file, key,
                                    i < 2 ? "the name of a variable in info"
                                          : "the window's [width, height] in pixels");
        }
    GB_TRY(read_var_name(spec, file, "observation.follow.x", json_object_get(v, "x"), &f->x));
    GB_TRY(read_var_name(spec, file, "observation.follow.y", json_object_get(v, "y"), &f->y));
    f->scale = 1;
    GB_TRY(read_int_key(file, v, "scale", "observation.follow.scale", 1, 256, &f->scale));
    GB_TRY(read_int_pair(file, v, "offset", "observation.follow.offset", -1024, 1024, &f->offset_x,
                         &f->offset_y));
    GB_TRY(
        read_int_pair(file, v, "size", "observation.follow.size", 8, 1024, &f->width, &f->height));
    int d = spec->obs_downsample;
    if (f->width % d || f->height % d)
        return gb_errorf(
            "%s: observation.follow.size: expected multiples of observation.downsample "
            "(%d), found [%d, %d]",
            file, d, f->width, f->height);
    return NULL;
}

/* archive.score: a variable's name, or {var: weight, ...}, the sum of the values times the
 * integer weights. */
static gb_error *read_score(game_spec *spec, const char *file, const json_t *v, game_archive *a)
{
    static const char what[] = "a variable's name, or an object of 1 to 4 variables and their "
                               "integer weights";
    if (json_is_string(v)) {
        a->n_score = 1, a->score_weight[0] = 1;
        return read_var_name(spec, file, "archive.score", v, &a->score[0]);
    }
    if (!json_is_object(v) || json_object_size(v) < 1 ||
        json_object_size(v) > GAME_ARCHIVE_MAX_SCORE)
        return game_key_error(file, "archive.score", what, v);
    const char *name;
    json_t *w;
    json_object_foreach((json_t *)v, name, w)
    {
        char item[96];
        snprintf(item, sizeof item, "archive.score.%s", name);
        int i = a->n_score++;
        if ((a->score[i] = game_var_index(spec, name)) < 0)
            return gb_errorf("%s: %s: expected a variable in info, found unknown variable '%s'",
                             file, item, name);
        GB_TRY(game_read_int(file, item, w, -1000000, 1000000, &a->score_weight[i]));
    }
    return NULL;
}

/* archive: {"key": [vars], "score": var or {var: weight}, "max_cells": n, "p_start": p,
 * "select": rule, "survive": steps, "patience": draws}. */
static gb_error *read_archive(game_spec *spec, const char *file, const json_t *v)
{
    static const char *const keys[] = {"key",    "score",   "max_cells", "p_start",
                                       "select", "survive", "patience",  NULL};
    if (!json_is_object(v))
        return game_key_error(file, "archive",
                              "an object {key, score, max_cells, p_start, select, survive, "
                              "patience}",
                              v);
    GB_TRY(known_keys(file, "archive", v, keys));
    json_t *x;
    game_archive *a = &spec->archive;
    const json_t *key = json_object_get(v, "key");
    if (!key) return game_missing_key(file, "archive.key", "a list of 1 to 8 variable names");
    if (!json_is_array(key) || json_array_size(key) < 1 ||
        json_array_size(key) > GAME_ARCHIVE_MAX_KEY)
        return game_key_error(file, "archive.key", "a list of 1 to 8 variable names", key);
    for (size_t i = 0; i < json_array_size(key); i++) {
        char item[40];
        snprintf(item, sizeof item, "archive.key[%zu]", i);
        GB_TRY(read_var_name(spec, file, item, json_array_get(key, i), &a->key[i]));
    }
    a->n_score = 0, a->max_cells = 1024, a->p_start = 0.5, a->select = GAME_SELECT_COUNT;
    a->survive = a->patience = 0;
    if ((x = json_object_get(v, "score"))) GB_TRY(read_score(spec, file, x, a));
    GB_TRY(read_int_key(file, v, "max_cells", "archive.max_cells", 1, 1 << 20, &a->max_cells));
    GB_TRY(read_int_key(file, v, "survive", "archive.survive", 0, 1 << 20, &a->survive));
    GB_TRY(read_int_key(file, v, "patience", "archive.patience", 0, 1 << 20, &a->patience));
    if ((x = json_object_get(v, "p_start"))) {
        GB_TRY(game_read_number(file, "archive.p_start", x, &a->p_start));
        if (!(a->p_start >= 0 && a->p_start <= 1))
            return game_key_error(file, "archive.p_start", "a probability, 0 to 1", x);
    }
    if ((x = json_object_get(v, "select"))) {
        static const char *const rules[] = {"count", "best", "frontier"}; /* game_select */
        const char *rule = json_string_value(x);
        int n = (int)(sizeof rules / sizeof rules[0]), i = 0;
        while (rule && i < n && strcmp(rule, rules[i])) i++;
        if (!rule || i == n)
            return game_key_error(file, "archive.select", "\"count\", \"best\" or \"frontier\"", x);
        a->select = (game_select)i;
    }
    a->n_key = (int)json_array_size(key);
    return NULL;
}

static gb_error *load_game_json(game_spec *spec, const char *file, json_t *root)
{
    json_t *v;
    GB_TRY(check_top_keys(file, root));
    if ((v = json_object_get(root, "name"))) GB_TRY(read_string(file, "name", v, &spec->name));
    GB_TRY(read_platform(spec, file, json_object_get(root, "platform")));
    GB_TRY(read_rom_core(spec, file, root));
    if ((v = json_object_get(root, "core_options"))) GB_TRY(read_core_options(spec, file, v));

    if (!(v = json_object_get(root, "states")))
        return game_missing_key(file, "states", "a non-empty list of .state files");
    GB_TRY(read_states(spec, file, v));
    if (!(v = json_object_get(root, "actions")))
        return game_missing_key(file, "actions", "a non-empty list of button lists");
    GB_TRY(read_actions(spec, file, v));

    GB_TRY(read_step_timing(spec, file, root));
    if ((v = json_object_get(root, "observation"))) GB_TRY(read_observation(spec, file, v));
    if ((v = json_object_get(root, "train"))) GB_TRY(read_train(spec, file, v));
    GB_TRY(read_vars(spec, file, root));
    if ((v = json_object_get(json_object_get(root, "observation"), "follow")))
        GB_TRY(read_follow(spec, file, v));
    if ((v = json_object_get(root, "archive"))) GB_TRY(read_archive(spec, file, v));
    return game_obs_check(spec, spec->obs);
}

/* The folder's last path component, without trailing slashes. */
static char *base_name(const char *dir)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/') start--;
    char *s = malloc(end - start + 1);
    if (!s) return NULL;
    memcpy(s, dir + start, end - start);
    s[end - start] = '\0';
    return s;
}

static gb_error *load(game_spec *spec, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return gb_errorf("%s: cannot open game folder: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return gb_errorf("%s: expected a game folder (game.json or stable-retro data.json), found "
                         "a file",
                         dir);
    spec->dir = game_strdup(dir);
    spec->vars = calloc(1, sizeof *spec->vars);
    if (!spec->dir || !spec->vars) return gb_errorf("%s: out of memory", dir);
    spec->vars->explore_unless = -1;
    spec->frame_skip = 4;
    spec->press_frames = 4; /* = frame_skip; stable-retro folders set neither */
    spec->obs_stack = 4;
    spec->obs_downsample = 2;
    spec->obs_follow.x = -1;

    char *file = game_join(dir, "game.json");
    if (!file) return gb_errorf("%s: out of memory", dir);
    gb_error *err;
    if (game_file_exists(file)) {
        json_t *root = NULL;
        err = game_json_load(&root, file);
        if (!err) err = load_game_json(spec, file, root);
        json_decref(root);
    } else {
        char *data = game_join(dir, "data.json");
        bool retro = data && game_file_exists(data);
        free(data);
        err = retro ? game_load_stable_retro(spec, dir)
                    : gb_errorf("%s: expected game.json (gbfarm) or data.json (stable-retro) in "
                                "the folder, found neither",
                                dir);
    }
    free(file);
    if (err) return err;
    if (!spec->name && !(spec->name = base_name(dir))) return gb_errorf("%s: out of memory", dir);
    if (!spec->core && !(spec->core = game_strdup("mgba")))
        return gb_errorf("%s: out of memory", dir);
    return NULL;
}

gb_error *game_load(game_spec **out, const char *dir)
{
    *out = NULL;
    game_spec *spec = calloc(1, sizeof *spec);
    if (!spec) return gb_errorf("%s: out of memory", dir);
    gb_error *err = load(spec, dir);
    if (err) {
        game_free(spec);
        return err;
    }
    *out = spec;
    return NULL;
}

gb_error *game_core_options(const game_spec *spec, const core_option *over, int n_over,
                            core_option **out, int *n)
{
    int own = spec ? spec->n_core_options : 0;
    *n = own + n_over;
    *out = malloc(sizeof **out * (size_t)(*n ? *n : 1));
    if (!*out) return gb_errorf("out of memory for %d core options", *n);
    for (int i = 0; i < own; i++) (*out)[i] = spec->core_options[i];
    for (int i = 0; i < n_over; i++) (*out)[own + i] = over[i];
    return NULL;
}

void game_free(game_spec *spec)
{
    if (!spec) return;
    free(spec->dir);
    free(spec->name);
    free(spec->rom);
    free(spec->core);
    for (int i = 0; i < spec->n_core_options; i++) {
        free(spec->core_options[i].key);
        free(spec->core_options[i].value);
    }
    free(spec->core_options);
    free(spec->obs_vars);
    for (int i = 0; i < spec->n_train_args; i++) free(spec->train_args[i]);
    free(spec->train_args);
    for (int i = 0; i < spec->n_states; i++) free(spec->states[i]);
    free(spec->states);
    free(spec->actions);
    game_vars_free(spec->vars);
    free(spec);
}

int game_var_count(const game_spec *spec)
{
    return spec->vars ? spec->vars->n_vars : 0;
}

const char *game_var_name(const game_spec *spec, int index)
{
    if (index < 0 || index >= game_var_count(spec)) return NULL;
    return spec->vars->vars[index].name;
}

int game_var_index(const game_spec *spec, const char *name)
{
    for (int i = 0; i < game_var_count(spec); i++)
        if (!strcmp(spec->vars->vars[i].name, name)) return i;
    return -1;
}
