/* gbfarm bench: the farm with a random policy, for several env counts.
 *
 * Each env count runs in a forked child, so that its memory figures start from a clean
 * process and no env count inherits another's heap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "game_args.h"
#include "gbfarm/args.h"
#include "gbfarm/clock.h"
#include "gbfarm/core.h"
#include "gbfarm/dist.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/farm.h"
#include "gbfarm/rng.h"
#include "gbfarm/viewer.h"

#define MAX_COUNTS 16
#define MAX_PER_ENV 64 /* envs whose own steps/s are reported */

typedef struct bench_result {
    double seconds, frames, steps, episodes;
    double raw_seconds, raw_frames;
    double rss_base_mb, rss_envs_mb; /* before any env, after all envs are created */
    double env_sps[MAX_PER_ENV];      /* each env's own steps/s */
    char error[512];
} bench_result;

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
    bool visualize;          /* env 0 in the viewer, uncapped */
    worker_slot *slots;
} bench_ctx;

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
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
    viewer_overlay o = {(int64_t)w->steps, (int64_t)w->episodes, w->env->episode.ret,
                        w->env->reward, "", g->frame_skip};
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
    case PHASE_RUN: run_envs(b, w, index); return;
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

/* Runs in the child: one env count, results into *r. */
static void bench_one(const game_setup *s, const game_args *a, int n, double seconds, bool raw,
                      bool visualize, uint64_t seed, bench_result *r)
{
    memset(r, 0, sizeof *r);
    r->rss_base_mb = rss_mb();
    bench_ctx b = {s, a, seed, seconds, 0, PHASE_CREATE, visualize,
                   calloc((size_t)n, sizeof(worker_slot))};
    farm *f = NULL;
    gb_error *err = b.slots ? farm_start(&f, n, bench_work, &b) : gb_errorf("out of memory");
    if (!err) {
        farm_round(f);
        r->rss_envs_mb = rss_mb();
        b.phase = PHASE_RUN;
        farm_round(f);
        for (int i = 0; i < n; i++) {
            if (!err && b.slots[i].err) err = gb_error_wrap(b.slots[i].err, "env %d", i);
            else gb_error_free(b.slots[i].err);
            b.slots[i].err = NULL;
            r->frames += (double)b.slots[i].frames;
            r->steps += (double)b.slots[i].steps;
            r->episodes += (double)b.slots[i].episodes;
            if (b.slots[i].seconds > r->seconds) r->seconds = b.slots[i].seconds;
            if (i < MAX_PER_ENV && b.slots[i].seconds > 0)
                r->env_sps[i] = (double)b.slots[i].steps / b.slots[i].seconds;
        }
        b.phase = PHASE_CLOSE;
        farm_round(f);
        if (raw && !err) {
            b.phase = PHASE_RAW;
            b.episode_frames = (uint64_t)(r->frames / (r->episodes > 0 ? r->episodes : 1));
            farm_round(f);
            for (int i = 0; i < n; i++) {
                if (!err && b.slots[i].err) err = gb_error_wrap(b.slots[i].err, "raw core %d", i);
                else gb_error_free(b.slots[i].err);
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

static gb_error *bench_fork(const game_setup *s, const game_args *a, int n, double seconds,
                            bool raw, bool visualize, uint64_t seed, bench_result *r)
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

static const char help[] =
    "usage: gbfarm bench [options]\n"
    "Runs N environments (one thread each) with a uniform random policy for each env count\n"
    "and prints frames/s, steps/s, speed-up over the first count, efficiency and memory.\n\n"
    "  --envs LIST         env counts, e.g. 1,2,4 (default: 1,2)\n"
    "  --seconds S         measuring time per env count (default: 10)\n"
    "  --raw               also time the bare core (retro_run in a loop, no env work)\n"
    "  --csv FILE          also write the table as CSV\n"
    "  --seed N            seed of the random policy (default: 1)\n"
    "  --per-env           also print each env's own steps/s\n"
    "  --visualize         show env 0 in a window, uncapped (with --per-env: what watching\n"
    "                      costs the other envs)\n";

typedef struct bench_options {
    int counts[MAX_COUNTS], n_counts;
    double seconds;
    bool raw, per_env, visualize, help;
    const char *csv;
    uint64_t seed;
} bench_options;

/* Stops at the first error, or at --help (o->help). */
static gb_error *parse_options(int argc, char **argv, bench_options *o, game_args *a)
{
    gb_error *err = NULL;
    for (int i = 1; i < argc && !err; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            o->help = true;
            return NULL;
        }
        if (game_args_parse(a, argc, argv, &i, &err)) continue;
        if (!strcmp(f, "--envs")) err = arg_int_list(f, v, 1, 1024, o->counts, MAX_COUNTS, &o->n_counts), i++;
        else if (!strcmp(f, "--seconds")) err = arg_double(f, v, 0.1, 86400, &o->seconds), i++;
        else if (!strcmp(f, "--csv")) o->csv = v, i++, err = v ? NULL : gb_errorf("--csv: expected a file name");
        else if (!strcmp(f, "--seed")) err = arg_u64(f, v, &o->seed), i++;
        else if (!strcmp(f, "--raw")) o->raw = true;
        else if (!strcmp(f, "--per-env")) o->per_env = true;
        else if (!strcmp(f, "--visualize")) o->visualize = true;
        else err = gb_errorf("bench: unknown option '%s' (see gbfarm bench --help)", f);
    }
    return err;
}

static void print_header(const game_setup *s, const bench_options *o, int ranks, FILE *out)
{
    if (ranks > 1) printf("%d ranks (MPI): each runs every count below at the same time\n", ranks);
    printf("game %s, core %s, frame skip %d, %.0f s per count\n", s->game->dir, s->core,
           s->game->frame_skip, o->seconds);
    printf("%5s %11s %10s %9s %11s %11s %11s", "envs", "frames/s", "steps/s", "speed-up",
           "efficiency", "RSS/env MB", "RSS MB");
    if (o->raw) printf(" %13s %9s", "raw frames/s", "farm/raw");
    printf("\n");
    if (out) {
        fprintf(out, "envs,frames_per_s,steps_per_s,speedup,efficiency,rss_per_env_mb,rss_mb");
        fprintf(out, o->raw ? ",raw_frames_per_s,farm_over_raw\n" : "\n");
    }
}

/* One env count's figures, against the first count's steps/s per env. */
typedef struct bench_figures {
    double fps, sps, speedup, eff, rss_env, raw_fps;
} bench_figures;

static bench_figures figures_of(const bench_result *r, int n, double base_steps, bool raw)
{
    bench_figures x = {r->frames / r->seconds, r->steps / r->seconds, 0, 0, 0, 0};
    x.speedup = x.sps / base_steps, x.eff = x.speedup / n;
    x.rss_env = (r->rss_envs_mb - r->rss_base_mb) / n;
    x.raw_fps = raw ? r->raw_frames / r->raw_seconds : 0;
    return x;
}

/* Under MPI: every rank's steps/s, and the job's (every rank calls this). */
static gb_error *print_rank_steps(double sps, int rank, int ranks)
{
    double *per = calloc((size_t)ranks, sizeof *per), total = 0;
    if (!per) return gb_errorf("bench: out of memory");
    per[rank] = sps;
    dist_sum_f64(per, (size_t)ranks);
    printf("      steps/s per rank:");
    for (int q = 0; q < ranks; q++) printf(" %.0f", per[q]), total += per[q];
    printf("; all %d ranks: %.0f steps/s\n", ranks, total);
    free(per);
    return NULL;
}

/* One env count's line, then (options permitting) its per-rank and per-env lines and its CSV
 * row. */
static gb_error *report_count(const bench_options *o, int n, const bench_result *r,
                              const bench_figures *x, int rank, int ranks, FILE *out)
{
    printf("%5d %11.0f %10.0f %9.2f %11.2f %11.1f %11.1f", n, x->fps, x->sps, x->speedup, x->eff,
           x->rss_env, r->rss_envs_mb);
    if (o->raw) printf(" %13.0f %9.3f", x->raw_fps, x->fps / x->raw_fps);
    printf("\n");
    if (ranks > 1) GB_TRY(print_rank_steps(x->sps, rank, ranks));
    if (o->per_env) {
        printf("      steps/s per env:");
        for (int i = 0; i < n && i < MAX_PER_ENV; i++) printf(" %.0f", r->env_sps[i]);
        printf("\n");
    }
    fflush(stdout);
    if (out) {
        fprintf(out, "%d,%.1f,%.1f,%.4f,%.4f,%.2f,%.2f", n, x->fps, x->sps, x->speedup, x->eff,
                x->rss_env, r->rss_envs_mb);
        if (o->raw) fprintf(out, ",%.1f,%.4f", x->raw_fps, x->fps / x->raw_fps);
        fprintf(out, "\n");
    }
    return NULL;
}

/* Each env count in turn, every rank together. */
static gb_error *run_counts(const game_setup *s, const game_args *a, const bench_options *o,
                            int rank, int ranks, FILE *out)
{
    double base_steps = 0;
    for (int k = 0; k < o->n_counts; k++) {
        int n = o->counts[k];
        bench_result r;
        dist_barrier();
        GB_TRY(bench_fork(s, a, n, o->seconds, o->raw, o->visualize, o->seed + (uint64_t)rank, &r));
        if (k == 0) base_steps = r.steps / r.seconds / o->counts[0];
        bench_figures x = figures_of(&r, n, base_steps, o->raw);
        GB_TRY(report_count(o, n, &r, &x, rank, ranks, out));
    }
    return NULL;
}

int cmd_bench(int argc, char **argv)
{
    game_args a;
    game_args_init(&a);
    bench_options o = {.counts = {1, 2}, .n_counts = 2, .seconds = 10, .seed = 1};
    gb_error *err = parse_options(argc, argv, &o, &a);
    if (!err && o.help) {
        printf("%s%s", help, game_args_help);
        game_args_free(&a);
        return 0;
    }
    if (err) {
        game_args_free(&a);
        return cli_usage_fail(err);
    }
    if (o.visualize) err = gb_error_wrap(viewer_check_display(), "--visualize");
    /* Under mpirun every rank runs the same counts at the same time; rank 0 prints. */
    if (!err) err = dist_init(&argc, &argv);
    int rank = dist_rank(), ranks = dist_size();
    game_setup s;
    if (!err) err = game_setup_open(&s, &a);
    if (err) {
        game_args_free(&a);
        if (ranks > 1) dist_abort(gb_error_msg(err));
        return cli_fail(err);
    }
    FILE *out = NULL;
    if (rank > 0) o.csv = NULL;
    if (o.csv && !(out = fopen(o.csv, "w")))
        err = gb_errorf("%s: cannot write CSV: %s", o.csv, strerror(errno));
    /* Other ranks print nothing but errors. */
    if (rank > 0 && !freopen("/dev/null", "w", stdout))
        err = gb_errorf("bench: rank %d cannot silence its output", rank);

    print_header(&s, &o, ranks, out);
    if (!err) err = run_counts(&s, &a, &o, rank, ranks, out);
    if (out && fclose(out) != 0 && !err) err = gb_errorf("%s: cannot write CSV", o.csv);
    game_setup_close(&s);
    game_args_free(&a);
    if (err && ranks > 1) dist_abort(gb_error_msg(err));
    dist_finalize();
    return err ? cli_fail(err) : 0;
}
