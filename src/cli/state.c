#include "commands.h"

int cmd_state(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail(gb_errorf("state: not built yet"));
}
