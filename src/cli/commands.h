/* One file per command; each returns the process exit status. */
#ifndef GBFARM_CLI_COMMANDS_H
#define GBFARM_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_play(int argc, char **argv);

#include <stdbool.h>

/* Prints "gbfarm: <message>" on stderr, frees err, returns 1: the exit status of a command
 * that failed while it ran (a file, ROM, core, state, game folder, display). */
#include "gbfarm/error.h"
#include "gbfarm/game_args.h"
int cli_fail(gb_error *err);
/* The same for a command line gbfarm cannot use (an unknown command or option, a flag's value
 * missing or malformed), returning 2. */
int cli_usage_fail(gb_error *err);

/* The end of the commands on a bare core (info, state): a command line error (usage_err,
 * exit 2), else run(ctx, c, s) on rom_core_open's core (exit 1 when either fails); everything,
 * a included, closed and freed after. */
typedef gb_error *(*cli_core_fn)(void *ctx, core *c, const game_setup *s);
int cli_rom_core_run(game_args *a, gb_error *usage_err, cli_core_fn run, void *ctx);

#endif
