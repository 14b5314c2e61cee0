/* The emulator env: a libretro core, a game spec and its start states behind env.h.
 *
 * A step holds the action's buttons for press_frames of frame_skip frames, then releases
 * them; only the step's last frame is captured and turned into the observation (grayscale,
 * downsampled, stacked over obs_stack steps). Reward and done come from RAM. */
#ifndef GBFARM_ENV_RETRO_H
#define GBFARM_ENV_RETRO_H

#include "gbfarm/archive.h"
#include "gbfarm/core.h"
#include "gbfarm/env.h"
#include "gbfarm/game.h"

typedef struct env_retro_config {
    const game_spec *game;
    const char *core_path; /* resolved (core_find) */
    const char *rom_path;
    const core_option *options; /* core options over the game's own */
    int n_options;
    const char *log_path; /* the core's log; NULL drops it */
    uint64_t seed;
    int index; /* env index: the RNG stream for start states and no-op frames */
    /* The start-state archive the envs share (the game's "archive"), or NULL: resets draw
     * from it, steps that reach a new cell offer their state to it (archive.h). */
    archive *archive;
} env_retro_config;

gb_error *env_retro_create(env **out, const env_retro_config *cfg);

/* The env's core, for tools that look inside (core info, saving a state, tests); its picture
 * is env_frame(e), its path env_core_path(e), for any env. */
core *env_retro_core(env *e);
const game_binding *env_retro_binding(env *e);

/* Makes a start state's bytes: reads a .state file (and loads it, to check it fits the
 * core), or plays any other file as an input script from power-on and saves the result. */
gb_error *env_retro_start_state(core *c, const char *path, uint8_t **out, size_t *size);

/* The screen size a platform's games have, and the observation it gives. */
void env_retro_screen(core_platform p, int *width, int *height);
env_spec env_retro_spec(const game_spec *game);

/* Converts one frame to 8-bit gray, averaging factor x factor blocks, into out
 * [height/factor][width/factor]. */
void env_frame_to_gray(const core_frame *f, int factor, uint8_t *out);

#endif
