/* gbfarm play: a human plays env 0 by keyboard (and saves start states), or a trained agent
 * plays it, in the SDL2 viewer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "gbfarm/game_args.h"
#include "gbfarm/args.h"
#include "gbfarm/clock.h"
#include "gbfarm/policy_load.h"
#include "gbfarm/rng.h"
#include "gbfarm/state.h"
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

typedef struct play_options {
    const char *checkpoint;
    int hidden, scale, speed;
    long seed, max_frames;
    bool greedy;
} play_options;

/* "A+RIGHT" for a button mask; "-" for none. */
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
static gb_error *play_human(const game_setup *s, const game_args *a, const play_options *o)
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
            if (done) printf("episode %lld: return %.2f\n", (long long)ov.episode + 1, ov.episode_return);
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

static int greedy_action(const policy *p, policy_work *w, const void *obs)
{
    float *logits, *values;
    policy_forward(p, w, obs, 1, &logits, &values);
    int best = 0;
    for (int i = 1; i < p->cfg.spec.n_actions; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* The agent plays env 0, one call per step. */
static gb_error *play_agent(const game_setup *s, const game_args *a, const play_options *o)
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
                action = greedy_action(p, w, e->obs);
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
                   e->episode.ret, (long long)e->episode.length, e->truncated ? " (truncated)" : "");
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
