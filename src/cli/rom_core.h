/* Opening a bare core on a ROM, for the commands that need no game folder (info, state). */
#ifndef GBFARM_CLI_ROM_CORE_H
#define GBFARM_CLI_ROM_CORE_H

#include "game_args.h"
#include "gbfarm/core.h"

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
