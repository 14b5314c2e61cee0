/* Games and cores from tests: a fixture holding a game folder's env on a core (spec, core path,
 * env, observation buffer) and its variables, catch-gb's greedy player; a game's core on the
 * user's ROM in its start state, input scripts played on it, its variables through a binding and
 * a fixed action sequence's reward through a fresh env; FNV-1a hashes of RAM and the picture over
 * seeded button presses. */
#ifndef GBFARM_TESTS_GAME_HELPERS_H
#define GBFARM_TESTS_GAME_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/game.h"
#include "gbfarm/rng.h"
#include "gbfarm/script.h"

typedef struct fixture {
    game_spec *game;
    char core[4096];
    env *env;
    uint8_t *obs;
} fixture;

/* Loads the game folder; state, when not NULL, replaces its start states (one). */
static inline void fixture_load(fixture *f, const char *dir, const char *state)
{
    memset(f, 0, sizeof *f);
    REQUIRE_OK(game_load(&f->game, dir));
    if (state) {
        free(f->game->states[0]);
        f->game->states[0] = strdup(state);
        f->game->n_states = 1;
    }
}

/* The loaded game's env on core_name (the folder's core when NULL), with its own observation
 * buffer, reset. */
static inline void fixture_start(fixture *f, const char *core_name, uint64_t seed, int index)
{
    REQUIRE_OK(core_find(core_name ? core_name : f->game->core, f->core, sizeof f->core));
    env_retro_config cfg = {f->game, f->core, f->game->rom, NULL, 0, NULL, seed, index, NULL};
    REQUIRE_OK(env_retro_create(&f->env, &cfg));
    f->obs = malloc(env_obs_bytes(&f->env->spec));
    f->env->obs = f->obs;
    REQUIRE_OK(env_reset(f->env));
}

/* Closes the env and frees its observation buffer; the game stays loaded. */
static inline void fixture_stop(fixture *f)
{
    env_close(f->env);
    free(f->obs);
}

/* fixture_load, then fixture_start. */
static inline void fixture_open(fixture *f, const char *dir, const char *core_name,
                                const char *state, uint64_t seed, int index)
{
    fixture_load(f, dir, state);
    fixture_start(f, core_name, seed, index);
}

/* fixture_stop, then frees the game. */
static inline void fixture_close(fixture *f)
{
    fixture_stop(f);
    game_free(f->game);
}

/* A game variable's value through a binding; the variable must exist. */
static inline int64_t fixture_value(const game_spec *spec, const game_binding *b, const char *name)
{
    int i = game_var_index(spec, name);
    REQUIRE(i >= 0);
    return game_value(b, i);
}

/* A game variable's value in the fixture's env. */
static inline int64_t fixture_var(const fixture *f, const char *name)
{
    return fixture_value(f->game, env_retro_binding(f->env), name);
}

/* catch-gb's actions. */
enum { CATCH_NOOP, CATCH_UP, CATCH_DOWN, CATCH_LEFT, CATCH_RIGHT };

/* catch-gb's greedy player: a step toward the coin, preferring the axis with the larger gap. */
static inline int fixture_catch_greedy(const fixture *f)
{
    int64_t dx = fixture_var(f, "coin_x") - fixture_var(f, "player_x"),
            dy = fixture_var(f, "coin_y") - fixture_var(f, "player_y");
    if (llabs(dx) >= llabs(dy) && dx) return dx > 0 ? CATCH_RIGHT : CATCH_LEFT;
    if (dy) return dy > 0 ? CATCH_DOWN : CATCH_UP;
    return CATCH_NOOP;
}

/* The game's core `name` (a name or a path) on rom, with the spec's platform and core options;
 * NULL, with a line on stderr, when it is not installed. */
static inline core *fixture_core(const game_spec *spec, const char *rom, const char *name)
{
    char path[4096];
    gb_error *err = core_find(name, path, sizeof path);
    if (err) {
        fprintf(stderr, "core %s not found: %s\n", name, gb_error_msg(err));
        gb_error_free(err);
        return NULL;
    }
    core_config cfg = {.core_path = path,
                       .rom_path = rom,
                       .platform = spec->platform,
                       .options = spec->core_options,
                       .n_options = spec->n_core_options};
    core *c = NULL;
    REQUIRE_OK(core_open(&c, &cfg));
    return c;
}

/* Puts the core where the game's first start state is: plays its script or loads its state. */
static inline void fixture_start_state(core *c, const game_spec *spec)
{
    uint8_t *st = NULL;
    size_t size = 0;
    REQUIRE_OK(env_retro_start_state(c, spec->states[0], &st, &size));
    free(st);
}

/* Plays an input script (script.h's text) on the core. */
static inline void fixture_play(core *c, const char *text)
{
    script sc;
    REQUIRE_OK(script_parse(&sc, text, "test script"));
    script_play(&sc, c);
    script_free(&sc);
}

/* "<button> 4 / - 16" n times: a button pressed through text boxes and menus. */
static inline void fixture_mash(core *c, const char *button, int n)
{
    char line[64];
    snprintf(line, sizeof line, "%s 4\n- 16\n", button);
    for (int i = 0; i < n; i++) fixture_play(c, line);
}

/* GB work RAM, 0xC000-0xDFFF, copied out (two 4 KB banks). */
static inline void fixture_gb_wram(core *c, uint8_t out[0x2000])
{
    uint8_t *lo, *hi;
    REQUIRE_OK(core_resolve(c, 0xC000, 0x1000, &lo));
    REQUIRE_OK(core_resolve(c, 0xD000, 0x1000, &hi));
    memcpy(out, lo, 0x1000);
    memcpy(out + 0x1000, hi, 0x1000);
}

/* Total reward of n actions through a fresh env of the game on core_name (seed, index 0), none
 * of them ending the episode; the tiles explored and, where x and y are not NULL, the "x" and
 * "y" variables at the end. */
static inline double fixture_env_reward(const game_spec *spec, const char *rom,
                                        const char *core_name, uint64_t seed, const int *actions,
                                        int n, int64_t *explored, int64_t *x, int64_t *y)
{
    char path[4096];
    REQUIRE_OK(core_find(core_name, path, sizeof path));
    env_retro_config cfg = {.game = spec, .core_path = path, .rom_path = rom, .seed = seed};
    env *e = NULL;
    REQUIRE_OK(env_retro_create(&e, &cfg));
    e->obs = malloc(env_obs_bytes(&e->spec));
    REQUIRE_OK(env_reset(e));
    double total = 0;
    for (int i = 0; i < n; i++) {
        REQUIRE_OK(env_step(e, actions[i]));
        total += e->reward;
        CHECK(!e->terminated);
    }
    const game_binding *b = env_retro_binding(e);
    *explored = game_explored(b);
    if (x) *x = fixture_value(spec, b, "x");
    if (y) *y = fixture_value(spec, b, "y");
    free(e->obs);
    env_close(e);
    return total;
}

/* FNV-1a of n bytes, continuing from h. */
static inline uint64_t fixture_fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Hash of len bytes of RAM from `from`, resolved in 4 KB pieces (cores map GB WRAM as two 4 KB
 * banks); 0 if a piece does not resolve. */
static inline uint64_t fixture_ram_hash(core *c, uint32_t from, uint32_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (uint32_t a = from; a < from + len; a += 0x1000) {
        uint8_t *p;
        gb_error *err = core_resolve(c, a, 0x1000, &p);
        if (err) {
            gb_error_free(err);
            return 0;
        }
        h = fixture_fnv(h, p, 0x1000);
    }
    return h;
}

/* Hash of the core's last frame, row by row (4 bytes a pixel in XRGB8888, else 2). */
static inline uint64_t fixture_frame_hash(core *c)
{
    const core_frame *f = core_frame_get(c);
    uint64_t h = 14695981039346656037ull;
    for (unsigned y = 0; f->data && y < f->height; y++)
        h = fixture_fnv(h, f->data + y * f->pitch,
                        f->width * (f->format == CORE_PIXEL_XRGB8888 ? 4 : 2));
    return h;
}

/* Runs frames with d-pad buttons from a seeded sequence (a new one every 8 frames), hashing
 * RAM (fixture_ram_hash's from and len) and the picture after each frame into one running
 * hash. */
static inline uint64_t fixture_run_hash(core *c, uint32_t from, uint32_t len, uint64_t seed,
                                        int frames)
{
    rng r;
    rng_seed(&r, seed, 7);
    uint64_t h = 1;
    for (int i = 0; i < frames; i++) {
        if (i % 8 == 0) core_set_buttons(c, (uint16_t)(1u << (4 + rng_below(&r, 4))));
        core_run(c, true);
        h = h * 31 + fixture_ram_hash(c, from, len);
        h = h * 31 + fixture_frame_hash(c);
    }
    return h;
}

#endif
