#include "gbfarm/bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gbfarm/clock.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/farm.h"
#include "gbfarm/rng.h"
#include "gbfarm/viewer.h"
typedef enum { PHASE_CREATE, PHASE_RUN, PHASE_RAW, PHASE_CLOSE } bench_phase;

typedef struct worker_slot {
    env *env;
    uint8_t *obs;
    rng rng;
    uint64_t steps, frames, episodes;
    double seconds;
    gb_error *err;
    char pad[64]; /* keep slots on their own cache lines */
} worker_slot;

typedef struct bench_ctx {
    const game_setup *setup;
    const game_args *args;
    uint64_t seed;
    double seconds;
    uint64_t episode_frames; /* the farm's mean frames per episode, for the raw run */
    bench_phase phase;
    bool visualize; /* env 0 in the viewer, uncapped */
    worker_slot *slots;
} bench_ctx;

/* The proportional set size, MB: a page that n mappings share counts 1/n in each, so the ROM
 * copy that every mGBA env maps, and the libraries, count once and not once per env as in the
 * resident set size. The resident set size where the kernel has no smaps_rollup (before 4.14). */
static double memory_mb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb >= 0) return (double)kb / 1024.0;
    f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* Env 0 shown in the viewer, uncapped: the cost of watching falls on env 0 alone. */
static void show(viewer **v, worker_slot *w, const game_spec *g)
{
    const core_frame *f = env_frame(w->env);
    if (!*v) {
        viewer_config vc = {"gbfarm bench env 0", (int)f->width, (int)f->height, 2, 0, 0, false};
        w->err = viewer_open(v, &vc);
        if (w->err) return;
    }
    viewer_overlay o = {
        (int64_t)w->steps, (int64_t)w->episodes, w->env->episode.ret, w->env->reward, "",
        g->frame_skip};
    viewer_events ev;
    viewer_frame(*v, f, &o, &ev);
}

static void run_envs(bench_ctx *b, worker_slot *w, int index)
{
    int n_actions = w->env->spec.n_actions;
    viewer *v = NULL;
    bool visualize = b->visualize && index == 0;
    uint64_t frames0 = w->env->frames;
    double start = gb_now(), end = start + b->seconds, t = start;
    while (t < end) {
        for (int k = 0; k < 16 && !w->err; k++) {
            w->err = env_step(w->env, (int)rng_below(&w->rng, (uint32_t)n_actions));
            w->steps++;
            if (!w->err && visualize) show(&v, w, b->setup->game);
            if (!w->err && (w->env->terminated || w->env->truncated)) {
                w->episodes++;
                w->err = env_reset(w->env);
            }
        }
        if (w->err) break;
        t = gb_now();
    }
    viewer_close(v);
    w->seconds = t - start;
    w->frames = w->env->frames - frames0;
}

/* The core alone, doing the farm's emulation and nothing else: the same random button
 * presses (press_frames of every frame_skip frames) and a start-state load as often as the
 * farm's episodes ended, but no observation, reward or policy. */
static void run_raw(bench_ctx *b, worker_slot *w)
{
    const game_spec *g = b->setup->game;
    core *c = NULL;
    uint8_t *state = NULL;
    size_t size = 0;
    w->err = game_setup_core_open(&c, b->setup, b->args, g->platform);
    if (!w->err) w->err = env_retro_start_state(c, g->states[0], &state, &size);
    uint64_t frames = 0, next_reset = 0;
    double start = gb_now(), end = start + b->seconds, t = start;
    while (!w->err && t < end) {
        for (int k = 0; k < 16 && !w->err; k++) {
            if (frames >= next_reset) {
                w->err = core_load_state(c, state, size, g->states[0]);
                next_reset = frames + b->episode_frames;
            }
            uint16_t buttons = g->actions[rng_below(&w->rng, (uint32_t)g->n_actions)];
            for (int f = 0; f < g->frame_skip; f++) {
                core_set_buttons(c, f < g->press_frames ? buttons : 0);
                core_run(c, false);
            }
            frames += (uint64_t)g->frame_skip;
        }
        t = gb_now();
    }
    w->seconds = t - start;
    w->frames = frames;
    free(state);
    core_close(c);
}

static void bench_work(void *ctx, int index)
{
    bench_ctx *b = ctx;
    worker_slot *w = &b->slots[index];
    if (w->err) return;
    switch (b->phase) {
    case PHASE_CREATE: {
        env_retro_config cfg = game_setup_env_config(b->setup, b->args, index, b->seed, NULL);
        w->err = env_retro_create(&w->env, &cfg);
        if (w->err) return;
        w->obs = malloc(env_obs_bytes(&w->env->spec));
        w->env->obs = w->obs;
        rng_seed(&w->rng, b->seed, (uint64_t)index);
        w->err = w->obs ? env_reset(w->env) : gb_errorf("out of memory");
        return;
    }
    case PHASE_RUN:
        run_envs(b, w, index);
        return;
    case PHASE_RAW:
        w->steps = w->frames = 0;
        run_raw(b, w);
        return;
    case PHASE_CLOSE:
        env_close(w->env);
        free(w->obs);
        return;
    }
}

/* The first error of the round's workers, naming the worker; the others are dropped. */
static gb_error *slot_error(bench_ctx *b, int n, const char *what)
{
    gb_error *err = NULL;
    for (int i = 0; i < n; i++) {
        if (!err && b->slots[i].err)
            err = gb_error_wrap(b->slots[i].err, "%s %d", what, i);
        else
            gb_error_free(b->slots[i].err);
        b->slots[i].err = NULL;
    }
    return err;
}

/* Runs in the child: one env count, results into *r. */
static void bench_one(const game_setup *s, const game_args *a, int n, double seconds, bool raw,
                      bool visualize, uint64_t seed, bench_result *r)
{
    memset(r, 0, sizeof *r);
    r->rss_base_mb = memory_mb();
    bench_ctx b = {
        s, a, seed, seconds, 0, PHASE_CREATE, visualize, calloc((size_t)n, sizeof(worker_slot))};
    farm *f = NULL;
    gb_error *err = b.slots ? farm_start(&f, n, bench_work, &b) : gb_errorf("out of memory");
    if (!err) {
        farm_round(f);
        r->rss_envs_mb = memory_mb();
        b.phase = PHASE_RUN;
        farm_round(f);
        err = slot_error(&b, n, "env");
        for (int i = 0; i < n; i++) {
            r->frames += (double)b.slots[i].frames;
            r->steps += (double)b.slots[i].steps;
            r->episodes += (double)b.slots[i].episodes;
            if (b.slots[i].seconds > r->seconds) r->seconds = b.slots[i].seconds;
            if (i < BENCH_MAX_PER_ENV && b.slots[i].seconds > 0)
                r->env_sps[i] = (double)b.slots[i].steps / b.slots[i].seconds;
        }
        b.phase = PHASE_CLOSE;
        farm_round(f);
        if (raw && !err) {
            b.phase = PHASE_RAW;
            b.episode_frames = (uint64_t)(r->frames / (r->episodes > 0 ? r->episodes : 1));
            farm_round(f);
            err = slot_error(&b, n, "raw core");
            for (int i = 0; i < n; i++) {
                r->raw_frames += (double)b.slots[i].frames;
                if (b.slots[i].seconds > r->raw_seconds) r->raw_seconds = b.slots[i].seconds;
            }
        }
        farm_stop(f);
    }
    if (err) snprintf(r->error, sizeof r->error, "%s", gb_error_msg(err));
    gb_error_free(err);
    free(b.slots);
}

gb_error *bench_measure(const game_setup *s, const game_args *a, int n, double seconds, bool raw,
                        bool visualize, uint64_t seed, bench_result *r)
{
    int fds[2];
    if (pipe(fds) != 0) return gb_errorf("bench: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return gb_errorf("bench: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        bench_one(s, a, n, seconds, raw, visualize, seed, r);
        ssize_t w = write(fds[1], r, sizeof *r);
        _exit(w == (ssize_t)sizeof *r ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], r, sizeof *r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof *r)
        return gb_errorf("bench: the run with %d envs died (%s %d)", n,
                         WIFSIGNALED(status) ? "signal" : "exit status",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    if (r->error[0]) return gb_errorf("bench with %d envs: %s", n, r->error);
    return NULL;
}
