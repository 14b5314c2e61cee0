#include "gbfarm/run_emulator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/env_retro.h"
#include "gbfarm/state.h"

gb_error *run_emulator_make(void *ctx, int index, uint64_t seed, env **out)
{
    run_emulator *e = ctx;
    env_retro_config cfg = game_setup_env_config(&e->setup, &e->args, index, seed, NULL);
    cfg.archive = e->archive;
    gb_error *err = env_retro_create(out, &cfg);
    if (!err && e->envs) e->envs[index] = *out;
    return err;
}

gb_error *run_emulator_archive(run_emulator *emu, int n_envs)
{
    const game_spec *g = emu->setup.game;
    const game_archive *ga = &g->archive;
    if (!ga->n_key) return NULL;
    archive_config ac = {.n_key = ga->n_key,
                         .score_name = !ga->n_score ? NULL
                                       : ga->n_score == 1 && ga->score_weight[0] == 1
                                           ? game_var_name(g, ga->score[0])
                                           : "score",
                         .max_cells = ga->max_cells,
                         .p_start = ga->p_start,
                         .select = ga->select == GAME_SELECT_BEST       ? ARCHIVE_BEST
                                   : ga->select == GAME_SELECT_FRONTIER ? ARCHIVE_FRONTIER
                                                                        : ARCHIVE_COUNT,
                         .survive = ga->survive,
                         .patience = ga->patience};
    for (int k = 0; k < ga->n_key; k++) ac.key_names[k] = game_var_name(g, ga->key[k]);
    return archive_create(&emu->archive, &ac, n_envs);
}

/* F12 in the window: env 0's emulator state into the run directory. */
static void save_env0_state(run_emulator *emu, env *e)
{
    core *c = env_retro_core(e);
    size_t size = core_state_size(c);
    uint8_t *buf = malloc(size ? size : 1);
    char path[4200];
    snprintf(path, sizeof path, "%s/env0-step%lld.state", emu->dir, (long long)emu->view_steps);
    gb_error *err = buf ? core_save_state(c, buf, size) : gb_errorf("out of memory");
    if (!err) err = state_write(path, buf, size);
    free(buf);
    if (err) {
        fprintf(stderr, "gbfarm: F12: %s\n", gb_error_msg(err));
        gb_error_free(err);
    } else {
        fprintf(stderr, "saved env 0's state: %s\n", path);
    }
}

/* Env 0's thread, after each of its steps: the window. Pacing env 0 makes the other envs
 * wait for it at the barrier, and nothing more: they are never stopped mid-rollout. */
static void on_step(void *ctx, int i, env *e, int action)
{
    run_emulator *emu = ctx;
    if (i != 0 || emu->view_done) return;
    if (!e) { /* env 0 closes: so does its window */
        viewer_close(emu->view);
        emu->view = NULL;
        return;
    }
    const game_spec *g = emu->setup.game;
    const core_frame *f = env_frame(e);
    if (!emu->view) {
        char title[256];
        snprintf(title, sizeof title, "gbfarm %s env 0", g->name);
        viewer_config vc = {title, (int)f->width, (int)f->height, emu->scale, 0, emu->speed, false};
        emu->view_err = gb_error_wrap(viewer_open(&emu->view, &vc), "--visualize");
        if (emu->view_err) {
            emu->view_done = true;
            return;
        }
    }
    emu->view_steps++;
    char buttons[64];
    game_buttons_name(g->actions[action], buttons, sizeof buttons);
    viewer_overlay ov = {emu->view_steps, emu->view_episodes, e->episode.ret, e->reward,
                         buttons,         g->frame_skip};
    viewer_events ev;
    viewer_frame(emu->view, f, &ov, &ev);
    if (e->terminated || e->truncated) emu->view_episodes++;
    if (ev.save_state) save_env0_state(emu, e);
    if (ev.closed) { /* stop viewing, not training */
        viewer_close(emu->view);
        emu->view = NULL;
        emu->view_done = true;
    }
}

/* Env 0 could not open its window: say so and stop. */
static gb_error *poll_view(void *ctx)
{
    run_emulator *emu = ctx;
    gb_error *e = emu->view_err;
    emu->view_err = NULL;
    return e;
}

/* The watchdog's message: which core and start state the hung env was running. */
static void describe_env(void *ctx, int i, char *buf, size_t n)
{
    const run_emulator *emu = ctx;
    const char *core_name = strrchr(emu->setup.core, '/');
    const char *state = emu->envs && emu->envs[i] ? env_last_state(emu->envs[i]) : NULL;
    snprintf(buf, n, " (core %s, start state %s)", core_name ? core_name + 1 : emu->setup.core,
             state ? state : "none loaded yet");
}

/* The game, ROM, core and observation in force. */
void run_emulator_json(json_t *j, const run_emulator *emu)
{
    const game_spec *g = emu->setup.game;
    json_object_set_new(j, "game", json_string(g->dir));
    json_object_set_new(j, "rom", json_string(emu->setup.rom));
    json_object_set_new(j, "rom_sha1", json_string(g->rom_sha1));
    json_object_set_new(j, "core", json_string(emu->setup.core));
    json_t *states = json_array(), *opts = json_object(), *vars = json_array();
    for (int i = 0; i < g->n_states; i++) json_array_append_new(states, json_string(g->states[i]));
    for (int i = 0; i < g->n_core_options; i++)
        json_object_set_new(opts, g->core_options[i].key, json_string(g->core_options[i].value));
    for (int i = 0; i < emu->args.n_options; i++)
        json_object_set_new(opts, emu->args.options[i].key,
                            json_string(emu->args.options[i].value));
    json_object_set_new(j, "states", states);
    json_object_set_new(j, "core_options", opts);
    json_object_set_new(j, "frame_skip", json_integer(g->frame_skip));
    json_object_set_new(j, "press_frames", json_integer(g->press_frames));
    json_object_set_new(j, "max_episode_steps", json_integer(g->max_episode_steps));
    json_object_set_new(j, "noop_max", json_integer(g->noop_max));
    json_object_set_new(j, "obs_stack", json_integer(g->obs_stack));
    json_object_set_new(j, "obs_downsample", json_integer(g->obs_downsample));
    json_object_set_new(j, "obs", json_string(game_obs_name(g->obs)));
    const game_follow *f = &g->obs_follow;
    if (f->x >= 0)
        json_object_set_new(j, "obs_follow",
                            json_pack("{s:s, s:s, s:i, s:[i, i], s:[i, i]}", "x",
                                      game_var_name(g, f->x), "y", game_var_name(g, f->y), "scale",
                                      f->scale, "offset", f->offset_x, f->offset_y, "size",
                                      f->width, f->height));
    for (int i = 0; g->obs != GAME_OBS_SCREEN && i < g->n_obs_vars; i++)
        json_array_append_new(vars, json_string(game_var_name(g, g->obs_vars[i].var)));
    json_object_set_new(j, "obs_vars", vars);
}

run_hooks run_emulator_hooks(run_emulator *emu, bool visualize)
{
    return (run_hooks){emu, visualize ? on_step : NULL, poll_view, describe_env};
}
