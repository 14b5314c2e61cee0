/* gbfarm state: make a start state without a display. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/args.h"
#include "gbfarm/script.h"
#include "gbfarm/state.h"
#include "gbfarm/game_args.h"

static const char help[] =
    "usage: gbfarm state --out FILE [--rom FILE --core NAME | --game DIR] [options]\n"
    "Boots the ROM (or loads --load), plays the input script, runs --frames more frames with\n"
    "no button held, and saves the state (gzip'd, the stable-retro format) to FILE.\n\n"
    "  --out FILE          the state to write\n"
    "  --load STATE        start from this state instead of power-on\n"
    "  --script FILE       input script: 'BUTTONS FRAMES' per line, e.g. 'RIGHT 16', '- 60'\n"
    "  --frames N          frames with no input after the script (default: 0)\n"
    "  --print             print every game variable's value at the end (needs a game:\n"
    "                      --game, or a game folder's own ROM)\n";

/* What the command line asks for. */
typedef struct state_job {
    const char *out, *load, *script_path;
    long frames;
    bool print;
} state_job;

static gb_error *make_state(void *ctx, core *c, const game_setup *s)
{
    const state_job *j = ctx;
    /* Before anything is written: --print reads the game's variables. */
    if (j->print && !s->game)
        return gb_errorf("--print: needs a game folder (--game DIR, or a game folder's own ROM); "
                         "%s is in none, so nothing was written",
                         s->rom);
    if (j->load) {
        uint8_t *buf;
        size_t size;
        GB_TRY(state_read(j->load, &buf, &size));
        gb_error *err = core_load_state(c, buf, size, j->load);
        free(buf);
        GB_TRY(err);
    }
    script sc = {0};
    if (j->script_path) GB_TRY(script_load(&sc, j->script_path));
    script_play(&sc, c);
    for (long k = 0; k < j->frames; k++) core_run(c, false);
    size_t size = core_state_size(c);
    uint8_t *buf = malloc(size ? size : 1);
    gb_error *err = buf ? core_save_state(c, buf, size) : gb_errorf("out of memory");
    if (!err) err = state_write(j->out, buf, size);
    free(buf);
    if (!err)
        printf("wrote %s (%zu bytes of state, after %llu scripted + %ld frames)\n", j->out, size,
               (unsigned long long)sc.total_frames, j->frames);
    script_free(&sc);
    if (!err && j->print) {
        game_binding *b;
        GB_TRY(game_bind(&b, s->game, core_resolve, c));
        for (int i = 0; i < game_var_count(s->game); i++)
            printf("%s=%lld\n", game_var_name(s->game, i), (long long)game_value(b, i));
        game_unbind(b);
    }
    return err;
}

int cmd_state(int argc, char **argv)
{
    game_args a;
    game_args_init(&a);
    state_job j = {0};
    gb_error *err = NULL;
    for (int i = 1; i < argc && !err; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("%s%s", help, rom_core_args_help);
            return 0;
        }
        if (rom_core_args_parse(&a, argc, argv, &i, &err)) continue;
        const char **text = !strcmp(f, "--out")      ? &j.out
                            : !strcmp(f, "--load")   ? &j.load
                            : !strcmp(f, "--script") ? &j.script_path
                                                     : NULL;
        if (text) {
            if (!v) err = gb_errorf("%s: expected a file name, found nothing", f);
            *text = v;
            i++;
        } else if (!strcmp(f, "--frames")) {
            err = arg_long(f, v, 0, 100000000, &j.frames);
            i++;
        } else if (!strcmp(f, "--print")) {
            j.print = true;
        } else {
            err = gb_errorf("state: unknown option '%s' (see gbfarm state --help)", f);
        }
    }
    if (!err && !j.out) err = gb_errorf("state: --out FILE is required");
    return cli_rom_core_run(&a, err, make_state, &j);
}
