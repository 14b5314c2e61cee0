#include "commands.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail(gb_errorf("train: not built yet"));
}
