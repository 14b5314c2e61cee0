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
int cli_fail(gb_error *err);
/* The same for a command line gbfarm cannot use (an unknown command or option, a flag's value
 * missing or malformed), returning 2. */
int cli_usage_fail(gb_error *err);

#endif
