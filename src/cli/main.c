#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/nn.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int blas; /* runs a policy: load the BLAS first, so that a missing one is a plain error */
} commands[] = {
    {"train", cmd_train, "train a PPO agent on a game (default: the bundled Game Boy game)", 1},
    {"eval", cmd_eval, "run episodes with a trained (or random) agent and report the returns", 1},
    {"bench", cmd_bench, "measure frames/s and steps/s for several env counts", 0},
    {"info", cmd_info, "describe a core and a ROM: platform, geometry, memory map, state size", 1},
    {"state", cmd_state, "make a start state: boot a ROM or load a state, run, save", 0},
    {"play", cmd_play, "watch an agent play in a window, or play by keyboard and save start states",
     1},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: gbfarm <command> [options]   (gbfarm <command> --help for its options)\n\n"
                "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-7s %s\n", commands[i].name, commands[i].summary);
}

int cli_fail(gb_error *err)
{
    fprintf(stderr, "gbfarm: %s\n", gb_error_msg(err));
    gb_error_free(err);
    return 1;
}

int cli_usage_fail(gb_error *err)
{
    cli_fail(err);
    return 2;
}

int cli_rom_core_run(game_args *a, gb_error *usage_err, cli_core_fn run, void *ctx)
{
    if (usage_err) {
        game_args_free(a);
        return cli_usage_fail(usage_err);
    }
    core *c = NULL;
    game_setup s = {0};
    gb_error *err = rom_core_open(&c, &s, a);
    if (!err) err = run(ctx, c, &s);
    core_close(c);
    game_setup_close(&s);
    game_args_free(a);
    return err ? cli_fail(err) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gbfarm %s\n", GBFARM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        gb_error *err = commands[i].blas ? nn_blas_init() : NULL;
        return err ? cli_fail(err) : commands[i].run(argc - 1, argv + 1);
    }
    fprintf(
        stderr,
        "gbfarm: unknown command '%s' (expected one of: train, play, eval, bench, info, state)\n",
        argv[1]);
    return 2;
}
