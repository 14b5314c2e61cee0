#include "gbfarm/game_args.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gbfarm/args.h"
#include "gbfarm/core.h"

#define DEFAULT_GAME "states/catch-gb"

const char game_args_help[] =
    "  --game DIR          game folder (default: " DEFAULT_GAME ", the bundled game)\n"
    "  --rom FILE          the ROM (default: the game folder's own, for bundled games)\n"
    "  --core NAME|PATH    libretro core: mgba, gambatte, sameboy or a .so path\n"
    "                      (default: the game's; names are searched in ./cores,\n"
    "                      $GBFARM_CORE_PATH and the system libretro directory)\n"
    "  --state FILE        start state (.state) or input script played from power-on,\n"
    "                      over the game's own (repeatable)\n"
    "  --option KEY=VALUE  a core option, over the game's and gbfarm's defaults (repeatable)\n"
    "  --frame-skip N      frames per step (default: the game's)\n"
    "  --press-frames N    frames of a step the buttons are held (default: the game's)\n"
    "  --noop-max N        reset runs 0..N random no-op frames (default: the game's)\n"
    "  --max-episode-steps N\n"
    "                      truncate episodes after N steps, 0 for never (default: the\n"
    "                      game's max_episode_steps)\n"
    "  --obs screen|vars|screen+vars\n"
    "                      observe the screen, the game's observation.vars from RAM,\n"
    "                      or both (default: the game's)\n";

void game_args_init(game_args *a)
{
    memset(a, 0, sizeof *a);
    a->frame_skip = a->press_frames = a->noop_max = a->max_episode_steps = -1;
}

void game_args_free(game_args *a)
{
    for (int i = 0; i < a->n_options; i++) free(a->option_text[i]);
    a->n_options = 0;
}

bool game_args_parse(game_args *a, int argc, char **argv, int *i, gb_error **err)
{
    const char *flag = argv[*i];
    const char **text = NULL;
    int *number = NULL, min = 1, max = 0;
    if (!strcmp(flag, "--game"))
        text = &a->game_dir;
    else if (!strcmp(flag, "--rom"))
        text = &a->rom;
    else if (!strcmp(flag, "--core"))
        text = &a->core;
    else if (!strcmp(flag, "--obs"))
        text = &a->obs;
    else if (!strcmp(flag, "--frame-skip"))
        number = &a->frame_skip, max = 1000;
    else if (!strcmp(flag, "--press-frames"))
        number = &a->press_frames, max = 1000;
    else if (!strcmp(flag, "--noop-max"))
        number = &a->noop_max, min = 0, max = 100000;
    else if (!strcmp(flag, "--max-episode-steps"))
        number = &a->max_episode_steps, min = 0, max = INT32_MAX;
    else if (!strcmp(flag, "--state")) {
        if (a->n_states == GAME_ARGS_MAX_OPTIONS) {
            *err = gb_errorf("--state: at most %d states", GAME_ARGS_MAX_OPTIONS);
            return true;
        }
        text = &a->states[a->n_states++];
    } else if (strcmp(flag, "--option") != 0)
        return false;

    const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    *i += 1;
    *err = NULL;
    if (!value) {
        *err = gb_errorf("%s: expected a value, found nothing", flag);
    } else if (text) {
        *text = value;
    } else if (number) {
        *err = arg_int(flag, value, min, max, number);
    } else {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value)
            *err = gb_errorf("--option: expected KEY=VALUE, found '%s'", value);
        else if (a->n_options == GAME_ARGS_MAX_OPTIONS)
            *err = gb_errorf("--option: at most %d options", GAME_ARGS_MAX_OPTIONS);
        else {
            char *copy = strdup(value);
            copy[eq - value] = '\0';
            a->option_text[a->n_options] = copy;
            a->options[a->n_options++] = (core_option){copy, copy + (eq - value) + 1};
        }
    }
    return true;
}

/* The bundled game is found from the working directory, else from the source tree. */
static const char *default_game(void)
{
    if (access(DEFAULT_GAME "/game.json", R_OK) == 0) return DEFAULT_GAME;
    return GBFARM_SOURCE_DIR "/" DEFAULT_GAME;
}

gb_error *game_setup_open(game_setup *s, const game_args *a)
{
    memset(s, 0, sizeof *s);
    GB_TRY(game_load(&s->game, a->game_dir ? a->game_dir : default_game()));
    game_spec *g = s->game;
    gb_error *err = NULL;
    if (a->frame_skip > 0) {
        g->frame_skip = a->frame_skip;
        if (g->press_frames > g->frame_skip) g->press_frames = g->frame_skip;
    }
    if (a->press_frames > 0) {
        if (a->press_frames > g->frame_skip)
            err = gb_errorf("--press-frames: expected at most the frame skip (%d), found %d",
                            g->frame_skip, a->press_frames);
        g->press_frames = a->press_frames;
    }
    if (a->noop_max >= 0) g->noop_max = a->noop_max;
    if (a->max_episode_steps >= 0) g->max_episode_steps = a->max_episode_steps;
    if (!err && a->obs) {
        game_obs obs;
        err = game_obs_parse(a->obs, &obs);
        if (!err) err = game_obs_check(g, obs);
        if (err) err = gb_error_wrap(err, "--obs %s", a->obs);
        if (!err) g->obs = obs;
    }
    if (!err && a->n_states > 0) {
        char **states = calloc((size_t)a->n_states, sizeof *states);
        for (int i = 0; states && i < a->n_states; i++)
            if (access(a->states[i], R_OK) != 0)
                err = gb_errorf("--state: %s: no such readable file", a->states[i]);
        if (!states) err = gb_errorf("out of memory");
        for (int i = 0; !err && i < a->n_states; i++) states[i] = strdup(a->states[i]);
        if (err) {
            free(states);
        } else {
            for (int i = 0; i < g->n_states; i++) free(g->states[i]);
            free(g->states);
            g->states = states;
            g->n_states = a->n_states;
        }
    }

    if (!err) {
        if (a->rom) {
            snprintf(s->rom, sizeof s->rom, "%s", a->rom);
        } else if (g->rom) {
            snprintf(s->rom, sizeof s->rom, "%s", g->rom);
        } else {
            err = gb_errorf("--rom: game %s needs your ROM file (SHA-1 %s); pass --rom FILE",
                            g->dir, g->rom_sha1[0] ? g->rom_sha1 : "not given");
        }
    }
    if (!err) {
        core_platform p;
        err = core_detect_platform(s->rom, &p);
        if (!err && (p == CORE_PLATFORM_GBA) != (g->platform == CORE_PLATFORM_GBA))
            err = gb_errorf("%s: a %s ROM, but game %s is for %s", s->rom,
                            p == CORE_PLATFORM_GBA ? "Game Boy Advance" : "Game Boy", g->dir,
                            g->platform == CORE_PLATFORM_GBA ? "Game Boy Advance" : "Game Boy");
    }
    if (!err) err = game_check_rom(g, s->rom);
    if (!err) err = core_find(a->core ? a->core : g->core, s->core, sizeof s->core);
    if (err) game_setup_close(s);
    return err;
}

void game_setup_close(game_setup *s)
{
    game_free(s->game);
    s->game = NULL;
}

gb_error *game_setup_core_open(core **out, const game_setup *s, const game_args *a,
                               core_platform platform)
{
    *out = NULL;
    core_option *opts;
    int n;
    GB_TRY(game_core_options(s->game, a->options, a->n_options, &opts, &n));
    core_config cc = {s->core, s->rom, platform, opts, n, NULL};
    gb_error *err = core_open(out, &cc);
    free(opts);
    return err;
}

env_retro_config game_setup_env_config(const game_setup *s, const game_args *a, int index,
                                       uint64_t seed, const char *log_path)
{
    return (env_retro_config){
        .game = s->game,
        .core_path = s->core,
        .rom_path = s->rom,
        .options = a->options,
        .n_options = a->n_options,
        .log_path = log_path,
        .seed = seed,
        .index = index,
    };
}

/* ---- a bare core on a ROM (info, state) ---- */

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
    if (!slash)
        snprintf(dir, n, ".");
    else
        *(slash == dir ? slash + 1 : slash) = '\0';
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
