/* gbfarm play: a human plays env 0 by keyboard (and saves start states), or a trained agent
 * plays it, in the SDL2 viewer. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/args.h"
#include "gbfarm/game_args.h"
#include "gbfarm/play.h"
#include "gbfarm/viewer.h"

static const char help[] =
    "usage: gbfarm play [--game DIR] [--checkpoint FILE] [options]\n"
    "Shows env 0 in a window. Without --checkpoint you play: arrows, Z = A, X = B,\n"
    "Enter = Start, Backspace = Select, A/S = L/R (GBA); F2 saves the state into the game\n"
    "folder as a new start state (start-1.state, start-2.state, ...), R resets, Escape quits.\n"
    "With --checkpoint the agent plays. Space pauses, + and - change the pace (real time,\n"
    "2x, 4x, 8x, uncapped).\n\n"
    "  --checkpoint FILE   a checkpoint (.safetensors) from gbfarm train --save\n"
    "  --hidden N          the network's width, if it was trained with --hidden\n"
    "  --greedy            the agent takes its most likely action (default: samples)\n"
    "  --seed N            the agent's and the env's seed (1)\n"
    "  --scale N           window scale (3)\n"
    "  --speed N           1 (real time), 2, 4, 8, or 0 for uncapped (1)\n"
    "  --frames N          stop after N emulated frames (0 = until the window closes)\n";

static gb_error *parse(int argc, char **argv, game_args *a, play_options *o, bool *help_shown)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        gb_error *err = NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("%s%s", help, game_args_help);
            *help_shown = true;
            return NULL;
        }
        if (game_args_parse(a, argc, argv, &i, &err)) {
            GB_TRY(err);
            continue;
        }
        if (!strcmp(f, "--checkpoint")) {
            if (!v) return gb_errorf("--checkpoint: expected a file name, found nothing");
            o->checkpoint = v;
            i++;
        } else if (!strcmp(f, "--hidden")) {
            GB_TRY(arg_int(f, v, 1, 1 << 16, &o->hidden));
            i++;
        } else if (!strcmp(f, "--scale")) {
            GB_TRY(arg_int(f, v, 1, 16, &o->scale));
            i++;
        } else if (!strcmp(f, "--speed")) {
            GB_TRY(arg_int(f, v, 0, 8, &o->speed));
            if (o->speed != 0 && o->speed != 1 && o->speed != 2 && o->speed != 4 && o->speed != 8)
                return gb_errorf("--speed: expected 0, 1, 2, 4 or 8, found %d", o->speed);
            i++;
        } else if (!strcmp(f, "--seed")) {
            GB_TRY(arg_long(f, v, 0, 0x7fffffffL, &o->seed));
            i++;
        } else if (!strcmp(f, "--frames")) {
            GB_TRY(arg_long(f, v, 0, 1000000000L, &o->max_frames));
            i++;
        } else if (!strcmp(f, "--greedy")) {
            o->greedy = true;
        } else {
            return gb_errorf("play: unknown option '%s' (see gbfarm play --help)", f);
        }
    }
    return NULL;
}

int cmd_play(int argc, char **argv)
{
    game_args a;
    game_args_init(&a);
    play_options o = {.scale = 3, .speed = 1, .seed = 1};
    bool help_shown = false;
    gb_error *err = parse(argc, argv, &a, &o, &help_shown);
    if (err) {
        game_args_free(&a);
        return cli_usage_fail(err);
    }
    /* No window to show (or no SDL2): say so before loading anything. */
    if (!help_shown) err = viewer_check_display();
    game_setup s = {0};
    if (!err && !help_shown) {
        err = game_setup_open(&s, &a);
        if (!err) err = o.checkpoint ? play_agent(&s, &a, &o) : play_human(&s, &a, &o);
        game_setup_close(&s);
    }
    game_args_free(&a);
    return err ? cli_fail(err) : 0;
}
