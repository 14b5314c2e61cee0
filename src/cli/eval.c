/* gbfarm eval: run episodes with a trained agent (or a random one) and report the returns. */
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/args.h"
#include "gbfarm/eval.h"
#include "gbfarm/game_args.h"
#include "gbfarm/rundir.h"

static const char help[] =
    "usage: gbfarm eval (--checkpoint FILE | --random) [options]\n"
    "Runs episodes on one env and prints the mean and standard deviation of the episode return\n"
    "and length. A checkpoint inside a run directory brings that run's game, ROM, core and\n"
    "settings (from its config.json); the options below override them.\n\n"
    "  --checkpoint FILE   a .safetensors checkpoint written by gbfarm train\n"
    "  --random            a uniform random policy instead (the baseline)\n"
    "  --episodes N        episodes to run (default: 20)\n"
    "  --greedy            take the most likely action (default: sample from the policy)\n"
    "  --seed N            seed of the env and the action sampling (default: 1)\n"
    "  --hidden N          the network's width, when the checkpoint's run is not at hand\n"
    "  --record FILE.gif   record env 0's first episode as an animated GIF\n"
    "  --var NAME          also report an info variable's value at each episode's end, e.g.\n"
    "                      --var score: coins, beside a return that includes shaping\n"
    "                      (repeatable, up to 8)\n";

/* Mean and standard deviation of x[0..n). */
static void mean_std(const double *x, int n, double *mean, double *std)
{
    double m = 0, v = 0;
    for (int k = 0; k < n; k++) m += x[k];
    m /= n;
    for (int k = 0; k < n; k++) v += (x[k] - m) * (x[k] - m);
    *mean = m, *std = sqrt(v / n);
}

/* The game options of the checkpoint's run (its config.json's argv), so that a checkpoint
 * evaluates on the game it was trained on. */
static gb_error *run_game_args(const char *checkpoint, game_args *a, json_t **keep, int *hidden)
{
    char *copy = strdup(checkpoint);
    const char *dir = dirname(copy);
    json_t *cfg = NULL;
    gb_error *err = rundir_read_config(dir, &cfg);
    free(copy);
    if (err) { /* not in a run directory: the command line says it all */
        gb_error_free(err);
        return NULL;
    }
    json_t *args = json_object_get(cfg, "argv");
    size_t n = json_array_size(args);
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (char *)json_string_value(json_array_get(args, i));
    for (int i = 0; !err && i < (int)n; i++) {
        if (!v[i]) continue;
        if (!game_args_parse(a, (int)n, v, &i, &err)) continue;
    }
    json_t *h = json_object_get(cfg, "hidden");
    if (json_is_integer(h) && *hidden == 0) *hidden = (int)json_integer_value(h);
    free(v);
    *keep = cfg; /* game_args points into its strings */
    return gb_error_wrap(err, "%s/config.json", dir);
}

static void print_results(const eval_run *r, const eval_options *o)
{
    double mr, sr, ml, sl;
    mean_std(r->ret, o->episodes, &mr, &sr);
    mean_std(r->len, o->episodes, &ml, &sl);
    printf("%s policy%s on %s (%s): %d episodes\n", r->p ? "trained" : "random",
           r->p ? (o->greedy ? " (greedy)" : " (sampled)") : "", r->s.game->dir, r->s.core,
           o->episodes);
    printf("return %.3f ± %.3f   length %.1f ± %.1f", mr, sr, ml, sl);
    if (r->explored > 0) printf("   explored %.1f places per episode", r->explored / o->episodes);
    for (int i = 0; i < o->n_vars; i++) {
        mean_std(r->val + i * (size_t)o->episodes, o->episodes, &mr, &sr);
        printf("   %s %.2f ± %.2f", o->vars[i], mr, sr);
    }
    printf("\n");
}

static gb_error *evaluate(const eval_options *o, game_args *a)
{
    eval_run r = {0};
    gb_error *err = eval_episodes(&r, o, a);
    if (!err) err = gif_close(r.gif), r.gif = NULL;
    if (!err) print_results(&r, o);
    eval_close(&r);
    return err;
}

int cmd_eval(int argc, char **argv)
{
    eval_options o = {.episodes = 20, .seed = 1};
    game_args cli, a;
    game_args_init(&cli);
    gb_error *err = NULL;
    for (int i = 1; i < argc && !err; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("%s%s", help, game_args_help);
            game_args_free(&cli);
            return 0;
        }
        if (game_args_parse(&cli, argc, argv, &i, &err)) continue;
        if (!strcmp(f, "--checkpoint") || !strcmp(f, "--record")) {
            if (!v) err = gb_errorf("%s: expected a file name, found nothing", f);
            *(!strcmp(f, "--checkpoint") ? &o.checkpoint : &o.record) = v;
            i++;
        } else if (!strcmp(f, "--episodes")) {
            err = arg_int(f, v, 1, 1000000, &o.episodes), i++;
        } else if (!strcmp(f, "--hidden")) {
            err = arg_int(f, v, 1, 1 << 16, &o.hidden), i++;
        } else if (!strcmp(f, "--seed")) {
            err = arg_u64(f, v, &o.seed), i++;
        } else if (!strcmp(f, "--var")) {
            if (!v)
                err = gb_errorf("--var: expected an info variable's name, found nothing");
            else if (o.n_vars == EVAL_MAX_VARS)
                err = gb_errorf("--var: at most %d variables", EVAL_MAX_VARS);
            else
                o.vars[o.n_vars++] = v;
            i++;
        } else if (!strcmp(f, "--greedy")) {
            o.greedy = 1;
        } else if (!strcmp(f, "--random")) {
            o.random = 1;
        } else {
            err = gb_errorf("eval: unknown option '%s' (see gbfarm eval --help)", f);
        }
    }
    if (!err && !o.checkpoint == !o.random)
        err = gb_errorf("eval: give either --checkpoint FILE or --random");
    if (err) {
        game_args_free(&cli);
        return cli_usage_fail(err);
    }
    /* The run's own game options first, then the command line's over them. */
    json_t *run_cfg = NULL;
    game_args_init(&a);
    if (!err && o.checkpoint) err = run_game_args(o.checkpoint, &a, &run_cfg, &o.hidden);
    int own_options = a.n_options;
    if (!err) {
        if (cli.game_dir) a.game_dir = cli.game_dir;
        if (cli.rom) a.rom = cli.rom;
        if (cli.core) a.core = cli.core;
        if (cli.obs) a.obs = cli.obs;
        if (cli.frame_skip > 0) a.frame_skip = cli.frame_skip;
        if (cli.press_frames > 0) a.press_frames = cli.press_frames;
        if (cli.noop_max >= 0) a.noop_max = cli.noop_max;
        if (cli.max_episode_steps >= 0) a.max_episode_steps = cli.max_episode_steps;
        if (cli.n_states) {
            memcpy(a.states, cli.states, sizeof a.states);
            a.n_states = cli.n_states;
        }
        for (int i = 0; i < cli.n_options && a.n_options < GAME_ARGS_MAX_OPTIONS; i++)
            a.options[a.n_options++] = cli.options[i];
        err = evaluate(&o, &a);
    }
    /* cli's option strings were shared into a: each list frees its own. */
    a.n_options = own_options;
    game_args_free(&a);
    game_args_free(&cli);
    json_decref(run_cfg);
    return err ? cli_fail(err) : 0;
}
