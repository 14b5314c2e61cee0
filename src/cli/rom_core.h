/* Opening a bare core on a ROM, for the commands that need no game folder (info, state). */
#ifndef GBFARM_CLI_ROM_CORE_H
#define GBFARM_CLI_ROM_CORE_H

#include "game_args.h"
#include "gbfarm/core.h"

/* With --game (or neither --game nor --rom): the game's ROM, core and options; with only
 * --rom: its platform from the header and --core (default mgba). *setup is filled when a game
 * is used (else its game is NULL); close it with game_setup_close. */
gb_error *rom_core_open(core **out, game_setup *setup, const game_args *a);

#endif
