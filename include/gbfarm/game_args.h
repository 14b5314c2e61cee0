/* The options every emulator command shares (--game, --rom, --core, --option, --frame-skip,
 * ...), the game setup they open, and a bare core on a ROM for the commands that need no
 * game folder (info, state). */
#ifndef GBFARM_GAME_ARGS_H
#define GBFARM_GAME_ARGS_H

#include <stdbool.h>

#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/game.h"

#define GAME_ARGS_MAX_OPTIONS 32

typedef struct game_args {
    const char *game_dir, *rom, *core;
    core_option options[GAME_ARGS_MAX_OPTIONS]; /* --option key=value, over the game's own */
    int n_options;
    int frame_skip, press_frames, noop_max, max_episode_steps; /* -1: the game's own */
    const char *obs; /* "screen", "vars", "screen+vars"; NULL: the game's */
    const char *states[GAME_ARGS_MAX_OPTIONS]; /* --state: over the game's start states */
    int n_states;
    char *option_text[GAME_ARGS_MAX_OPTIONS];
} game_args;

typedef struct game_setup {
    game_spec *game;
    char rom[4096];
    char core[4096];
} game_setup;

void game_args_init(game_args *a);
/* If argv[*i] is one of the shared options, consumes it (and its value) and returns true. */
bool game_args_parse(game_args *a, int argc, char **argv, int *i, gb_error **err);
void game_args_free(game_args *a);
extern const char game_args_help[];

/* Loads the game folder, applies overrides, checks the ROM and finds the core. */
gb_error *game_setup_open(game_setup *s, const game_args *a);
void game_setup_close(game_setup *s);
/* Opens the setup's core by itself (no env): the game's core options with the command line's
 * over them (game_core_options). s->game may be NULL, a ROM outside any game folder. */
gb_error *game_setup_core_open(core **out, const game_setup *s, const game_args *a,
                               core_platform platform);
/* An env_retro_config for env index i of this setup. */
env_retro_config game_setup_env_config(const game_setup *s, const game_args *a, int index,
                                       uint64_t seed, const char *log_path);

/* The options these commands take: --game, --rom, --core, --option (the rest of game_args
 * means nothing without an env). rom_core_args_parse is game_args_parse for those alone. */
extern const char rom_core_args_help[];
bool rom_core_args_parse(game_args *a, int argc, char **argv, int *i, gb_error **err);

/* With --game (or neither --game nor --rom): the game's ROM, core and options. With only
 * --rom: a bundled game's own ROM (its folder's game.json names it) opens as with --game
 * (that folder's core and options); any other ROM opens bare, its platform from the header,
 * on --core (default mgba). *setup is filled when a game is used (else its game is NULL);
 * close it with game_setup_close. */
gb_error *rom_core_open(core **out, game_setup *setup, const game_args *a);

#endif
