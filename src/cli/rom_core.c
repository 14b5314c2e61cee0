#include "rom_core.h"

#include <stdio.h>
#include <string.h>

gb_error *rom_core_open(core **out, game_setup *s, const game_args *a)
{
    *out = NULL;
    memset(s, 0, sizeof *s);
    game_option opts[64];
    int n = 0;
    game_platform platform;
    if (a->game_dir || !a->rom) {
        GB_TRY(game_setup_open(s, a));
        platform = s->game->platform;
        for (int i = 0; i < s->game->n_core_options && n < 64; i++) opts[n++] = s->game->core_options[i];
    } else {
        snprintf(s->rom, sizeof s->rom, "%s", a->rom);
        GB_TRY(core_detect_platform(a->rom, &platform));
        GB_TRY(core_find(a->core ? a->core : "mgba", s->core, sizeof s->core));
    }
    for (int i = 0; i < a->n_options && n < 64; i++) opts[n++] = a->options[i];
    core_config cc = {s->core, s->rom, platform, opts, n, NULL};
    gb_error *err = core_open(out, &cc);
    if (err) game_setup_close(s);
    return err;
}
