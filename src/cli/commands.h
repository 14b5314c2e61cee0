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

/* Prints "gbfarm: <message>" on stderr, frees err, returns 1. */
#include "gbfarm/error.h"
int cli_fail(gb_error *err);

#endif
