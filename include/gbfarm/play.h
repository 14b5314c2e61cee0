/* gbfarm play's two loops, env 0 in the SDL2 viewer: a human at the keyboard (F2 saves a
 * start state into the game folder), or a trained agent. */
#ifndef GBFARM_PLAY_H
#define GBFARM_PLAY_H

#include <stdbool.h>

#include "gbfarm/error.h"
#include "gbfarm/game_args.h"

typedef struct play_options {
    const char *checkpoint;
    int hidden, scale, speed;
    long seed, max_frames;
    bool greedy;
} play_options;

/* One call per frame until the window closes or max_frames; the game's reward terms shown. */
gb_error *play_human(const game_setup *s, const game_args *a, const play_options *o);
/* The checkpoint's agent plays, one call per step. */
gb_error *play_agent(const game_setup *s, const game_args *a, const play_options *o);

#endif
