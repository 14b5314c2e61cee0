/* gbfarm bench: the farm with a random policy, for several env counts (the measuring is
 * bench.h's); under mpirun every rank measures and rank 0 prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/args.h"
#include "gbfarm/bench.h"
#include "gbfarm/dist.h"
#include "gbfarm/game_args.h"
#include "gbfarm/viewer.h"

#define MAX_COUNTS 16
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
        if (!strcmp(f, "--envs"))
            err = arg_int_list(f, v, 1, 1024, o->counts, MAX_COUNTS, &o->n_counts), i++;
        else if (!strcmp(f, "--seconds"))
            err = arg_double(f, v, 0.1, 86400, &o->seconds), i++;
        else if (!strcmp(f, "--csv"))
            o->csv = v, i++, err = v ? NULL : gb_errorf("--csv: expected a file name");
        else if (!strcmp(f, "--seed"))
            err = arg_u64(f, v, &o->seed), i++;
        else if (!strcmp(f, "--raw"))
            o->raw = true;
        else if (!strcmp(f, "--per-env"))
            o->per_env = true;
        else if (!strcmp(f, "--visualize"))
            o->visualize = true;
        else
            err = gb_errorf("bench: unknown option '%s' (see gbfarm bench --help)", f);
    }
    return err;
}

static void print_header(const game_setup *s, const bench_options *o, int ranks, FILE *out)
{
    if (ranks > 1) printf("%d ranks (MPI): each runs every count below at the same time\n", ranks);
    printf("game %s, core %s, frame skip %d, %.0f s per count\n", s->game->dir, s->core,
           s->game->frame_skip, o->seconds);
    printf("%5s %11s %10s %9s %11s %11s %11s", "envs", "frames/s", "steps/s", "speed-up",
           "efficiency", "PSS/env MB", "PSS MB");
    if (o->raw) printf(" %13s %9s", "raw frames/s", "farm/raw");
    printf("\n");
    if (out) {
        fprintf(out, "envs,frames_per_s,steps_per_s,speedup,efficiency,pss_per_env_mb,pss_mb");
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
        for (int i = 0; i < n && i < BENCH_MAX_PER_ENV; i++) printf(" %.0f", r->env_sps[i]);
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
        GB_TRY(
            bench_measure(s, a, n, o->seconds, o->raw, o->visualize, o->seed + (uint64_t)rank, &r));
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
