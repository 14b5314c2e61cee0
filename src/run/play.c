#include "gbfarm/play.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gbfarm/clock.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/policy_load.h"
#include "gbfarm/rng.h"
#include "gbfarm/state.h"
#include "gbfarm/viewer.h"

/* Saves the core's state as DIR/start-N.state with the first N not taken, and prints it. */
static gb_error *save_start_state(core *c, const char *dir)
{
    char path[4096];
    int fd = -1;
    for (int n = 1; fd < 0 && n < 10000; n++) {
        snprintf(path, sizeof path, "%s/start-%d.state", dir, n);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644); /* reserves the name */
        if (fd < 0 && errno != EEXIST)
            return gb_errorf("%s: cannot create: %s", path, strerror(errno));
    }
    if (fd < 0) return gb_errorf("%s: start-1.state .. start-9999.state all exist", dir);
    close(fd);
    size_t size = core_state_size(c);
    uint8_t *buf = malloc(size ? size : 1);
    gb_error *err = buf ? core_save_state(c, buf, size) : gb_errorf("out of memory");
    if (!err) err = state_write(path, buf, size);
    free(buf);
    if (err) {
        unlink(path);
        return err;
    }
    printf("saved %s (add \"%s\" to game.json's \"states\" to train from it)\n", path,
           strrchr(path, '/') + 1);
    fflush(stdout);
    return NULL;
}

static void sleep_seconds(double s)
{
    struct timespec ts = gb_timespec(s);
    nanosleep(&ts, NULL);
}

static viewer_config window_config(const game_setup *s, const core_info *info,
                                   const play_options *o, bool keyboard)
{
    static char title[160];
    int w, h;
    env_retro_screen(s->game->platform, &w, &h);
    snprintf(title, sizeof title, "gbfarm %s: %s", s->game->name,
             keyboard ? "you play" : "agent plays");
    return (viewer_config){title, w, h, o->scale, info->fps, o->speed, keyboard};
}

/* A human at the keyboard, one call per frame; the game's reward terms are shown as they go. */
gb_error *play_human(const game_setup *s, const game_args *a, const play_options *o)
{
    core *c;
    GB_TRY(game_setup_core_open(&c, s, a, s->game->platform));
    uint8_t *start = NULL;
    size_t start_size = 0;
    game_binding *b = NULL;
    viewer *v = NULL;
    core_info info;
    core_get_info(c, &info);
    gb_error *err = env_retro_start_state(c, s->game->states[0], &start, &start_size);
    if (!err) err = core_load_state(c, start, start_size, s->game->states[0]);
    if (!err) err = game_bind(&b, s->game, core_resolve, c);
    viewer_config vc = window_config(s, &info, o, true);
    if (!err) err = viewer_open(&v, &vc);

    viewer_overlay ov = {.frames = 1};
    viewer_events ev = {0};
    char action[64];
    long frame = 0;
    while (!err && !ev.closed && (o->max_frames == 0 || frame < o->max_frames)) {
        bool paused = ev.paused, done = false;
        if (!paused) {
            core_set_buttons(c, ev.buttons);
            core_run(c, true);
            ov.last_reward = game_step(b, &done);
            ov.episode_return += ov.last_reward;
            ov.step = ++frame;
            game_buttons_name(ev.buttons, action, sizeof action);
            ov.action = action;
        }
        viewer_frame(v, paused ? NULL : core_frame_get(c), &ov, &ev);
        if (paused) sleep_seconds(1.0 / 60);
        if (ev.save_state) err = save_start_state(c, s->game->dir);
        if (!err && (done || ev.reset)) {
            if (done)
                printf("episode %lld: return %.2f\n", (long long)ov.episode + 1, ov.episode_return);
            ov.episode += done, ov.episode_return = 0;
            err = core_load_state(c, start, start_size, s->game->states[0]);
            game_episode_begin(b);
        }
    }
    viewer_close(v);
    game_unbind(b);
    free(start);
    core_close(c);
    return err;
}

/* The agent plays env 0, one call per step. */
gb_error *play_agent(const game_setup *s, const game_args *a, const play_options *o)
{
    env_retro_config ec = game_setup_env_config(s, a, 0, (uint64_t)o->seed, NULL);
    env *e;
    GB_TRY(env_retro_create(&e, &ec));
    policy *p = NULL;
    policy_work *w = NULL;
    viewer *v = NULL;
    void *obs = malloc(env_obs_bytes(&e->spec));
    gb_error *err = obs ? NULL : gb_errorf("out of memory");
    if (!err) err = policy_load(&p, e->spec, o->hidden, o->checkpoint);
    if (!err) err = policy_work_create(&w, p, 1);
    if (!err) policy_work_pin(w, p); /* the weights hold still: the rollout's fast forward */
    if (!err) policy_pin(p);
    core_info info;
    core_get_info(env_retro_core(e), &info);
    viewer_config vc = window_config(s, &info, o, false);
    if (!err) err = viewer_open(&v, &vc);
    e->obs = obs;
    if (!err) err = env_reset(e);

    rng r;
    rng_seed(&r, (uint64_t)o->seed, 0);
    viewer_overlay ov = {.frames = s->game->frame_skip};
    viewer_events ev = {0};
    char action_name[64];
    long frames = 0;
    while (!err && !ev.closed && (o->max_frames == 0 || frames < o->max_frames)) {
        bool paused = ev.paused;
        if (!paused) {
            int action;
            if (o->greedy) {
                action = policy_greedy(p, w, e->obs);
            } else {
                float logprob, value;
                policy_act(p, w, e->obs, &r, &action, &logprob, &value);
            }
            err = env_step(e, action);
            if (err) break;
            frames += s->game->frame_skip;
            ov.step++;
            ov.last_reward = e->reward;
            ov.episode_return = e->episode.ret;
            game_buttons_name(s->game->actions[action], action_name, sizeof action_name);
            ov.action = action_name;
        }
        viewer_frame(v, paused ? NULL : env_frame(e), &ov, &ev);
        if (paused) sleep_seconds(1.0 / 60);
        if (ev.save_state) err = save_start_state(env_retro_core(e), s->game->dir);
        bool ended = !paused && (e->terminated || e->truncated);
        if (!err && ended) {
            printf("episode %lld: return %.2f, %lld steps%s\n", (long long)ov.episode + 1,
                   e->episode.ret, (long long)e->episode.length,
                   e->truncated ? " (truncated)" : "");
            fflush(stdout);
            ov.episode++;
        }
        if (!err && (ended || ev.reset)) err = env_reset(e);
    }
    viewer_close(v);
    policy_work_free(w);
    policy_free(p);
    env_close(e);
    free(obs);
    return err;
}
