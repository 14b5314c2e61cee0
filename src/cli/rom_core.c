#include "rom_core.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char rom_core_args_help[] =
    "  --game DIR          game folder (default: states/catch-gb, the bundled game): its ROM,\n"
    "                      core and core options\n"
    "  --rom FILE          the ROM (default: the game folder's own); a game folder's own ROM\n"
    "                      (states/catch-gb/catch.gb) brings that folder's core and options\n"
    "  --core NAME|PATH    libretro core: mgba, gambatte, sameboy or a .so path (default: the\n"
    "                      game's; mgba for a ROM outside a game folder)\n"
    "  --option KEY=VALUE  a core option, over the game's and gbfarm's defaults (repeatable)\n";

bool rom_core_args_parse(game_args *a, int argc, char **argv, int *i, gb_error **err)
{
    static const char *const flags[] = {"--game", "--rom", "--core", "--option"};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(argv[*i], flags[k])) return game_args_parse(a, argc, argv, i, err);
    return false;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The game folder rom belongs to: the folder it lies in, when its game.json names this very
 * file as the game's ROM (a bundled game). */
static bool rom_home(const char *rom, char *dir, size_t n)
{
    snprintf(dir, n, "%s", rom);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, n, ".");
    else *(slash == dir ? slash + 1 : slash) = '\0';
    game_spec *g = NULL;
    gb_error *err = game_load(&g, dir);
    bool home = !err && g->rom && same_file(g->rom, rom);
    gb_error_free(err);
    game_free(g);
    return home;
}

gb_error *rom_core_open(core **out, game_setup *s, const game_args *a)
{
    *out = NULL;
    memset(s, 0, sizeof *s);
    core_platform platform;
    char home[4096];
    game_args with_home = *a;
    if (!a->game_dir && a->rom && rom_home(a->rom, home, sizeof home)) with_home.game_dir = home;
    if (with_home.game_dir || !a->rom) {
        GB_TRY(game_setup_open(s, &with_home));
        platform = s->game->platform;
    } else {
        snprintf(s->rom, sizeof s->rom, "%s", a->rom);
        GB_TRY(core_detect_platform(a->rom, &platform));
        GB_TRY(core_find(a->core ? a->core : "mgba", s->core, sizeof s->core));
    }
    gb_error *err = game_setup_core_open(out, s, a, platform);
    if (err) game_setup_close(s);
    return err;
}
