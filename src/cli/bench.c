#include "commands.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail(gb_errorf("bench: not built yet"));
}
