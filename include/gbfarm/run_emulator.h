/* A game's envs for a training run: the env factory over a game setup, env 0's --visualize
 * window, the watchdog's description of a hung env, and config.json's entries for the game. */
#ifndef GBFARM_RUN_EMULATOR_H
#define GBFARM_RUN_EMULATOR_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "gbfarm/archive.h"
#include "gbfarm/game_args.h"
#include "gbfarm/run.h"
#include "gbfarm/viewer.h"

typedef struct run_emulator {
    game_args args;
    game_setup setup; /* open (game_setup_open) before the run */
    env **envs;       /* [n_envs], by index, for the watchdog's message */
    archive *archive; /* the game's start-state archive (run_emulator_archive), or NULL */
    const char *dir;  /* the run directory: F12 saves env 0's state there */
    int scale, speed; /* the window's */
    /* the window, touched only on env 0's thread (its error read by the main thread
     * between rounds) */
    viewer *view;
    gb_error *view_err;
    bool view_done;
    int64_t view_steps, view_episodes;
} run_emulator;

/* The game's start-state archive for n_envs envs, when its folder has one (else NULL);
 * archive_free it after the run. */
gb_error *run_emulator_archive(run_emulator *emu, int n_envs);
/* An env_make_fn: env `index` of the setup; ctx is the run_emulator. */
gb_error *run_emulator_make(void *ctx, int index, uint64_t seed, env **out);
/* The hooks for run_train: the window on env 0 when `visualize`, the window's errors, the
 * watchdog's description. */
run_hooks run_emulator_hooks(run_emulator *emu, bool visualize);
/* The game, ROM, core, start states, core options and observation in force, into j. */
void run_emulator_json(json_t *j, const run_emulator *emu);

#endif
