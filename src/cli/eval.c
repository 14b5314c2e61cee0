/* gbfarm eval: run episodes with a trained agent (or a random one) and report the returns. */
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/game_args.h"
#include "gbfarm/args.h"
#include "gbfarm/gif.h"
#include "gbfarm/policy_load.h"
#include "gbfarm/rng.h"
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

enum { MAX_VARS = 8 };

typedef struct eval_options {
    const char *checkpoint, *record;
    int episodes, greedy, random, hidden;
    uint64_t seed;
    const char *vars[MAX_VARS];
    int n_vars;
} eval_options;

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

static int greedy_action(const policy *p, policy_work *w, const void *obs, int n)
{
    float *logits, *values;
    policy_forward(p, w, obs, 1, &logits, &values);
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* What an evaluation holds while it runs. */
typedef struct eval_run {
    game_setup s;
    env *e;
    policy *p; /* NULL: the random policy */
    policy_work *w;
    gif_recorder *gif; /* until the first episode ends */
    uint8_t *obs;
    int var_index[MAX_VARS];
    double *ret, *len, *val; /* [episodes] each, and val [n_vars][episodes] */
    double explored;
} eval_run;

/* The env on its first observation, the policy, the recording's first frame, the --var
 * variables and room for the results. */
static gb_error *eval_open(eval_run *r, const eval_options *o, const game_args *a)
{
    env_retro_config cfg = game_setup_env_config(&r->s, a, 0, o->seed, NULL);
    GB_TRY(env_retro_create(&r->e, &cfg));
    env *e = r->e;
    if (o->checkpoint) GB_TRY(policy_load(&r->p, e->spec, o->hidden, o->checkpoint));
    if (r->p) GB_TRY(policy_work_create(&r->w, r->p, 1));
    if (!(r->obs = malloc(env_obs_bytes(&e->spec)))) return gb_errorf("out of memory");
    e->obs = r->obs;
    GB_TRY(env_reset(e));
    if (o->record) {
        const core_frame *f = env_frame(e);
        GB_TRY(gif_open(&r->gif, o->record, f->width, f->height,
                        (r->s.game->frame_skip * 100 + 30) / 60));
        GB_TRY(gif_frame(r->gif, f));
    }
    for (int i = 0; i < o->n_vars; i++)
        if ((r->var_index[i] = game_var_index(r->s.game, o->vars[i])) < 0)
            return gb_errorf("--var %s: %s/game.json has no such variable in info", o->vars[i],
                             r->s.game->dir);
    size_t per = (size_t)o->episodes;
    r->ret = calloc(per * (2 + MAX_VARS), sizeof *r->ret);
    if (!r->ret) return gb_errorf("out of memory");
    r->len = r->ret + per, r->val = r->len + per;
    return NULL;
}

static int choose_action(eval_run *r, const eval_options *o, rng *g)
{
    int action;
    if (!r->p) action = (int)rng_below(g, (uint32_t)r->e->spec.n_actions);
    else if (o->greedy) action = greedy_action(r->p, r->w, r->obs, r->e->spec.n_actions);
    else {
        float logprob, value;
        policy_act(r->p, r->w, r->obs, g, &action, &logprob, &value);
    }
    return action;
}

/* Episode k has ended: its results, the end of the recording, and the next reset. */
static gb_error *end_episode(eval_run *r, const eval_options *o, int k)
{
    env *e = r->e;
    size_t per = (size_t)o->episodes;
    r->ret[k] = e->episode.ret;
    r->len[k] = (double)e->episode.length;
    for (int i = 0; i < o->n_vars; i++)
        r->val[i * per + k] = (double)game_value(env_retro_binding(e), r->var_index[i]);
    r->explored += (double)e->episode.explored;
    if (r->gif) {
        gb_error *err = gif_close(r->gif);
        r->gif = NULL;
        GB_TRY(err);
        printf("recorded %s\n", o->record);
    }
    return k + 1 < o->episodes ? env_reset(e) : NULL;
}

static gb_error *run_episodes(eval_run *r, const eval_options *o)
{
    rng g;
    rng_seed(&g, o->seed, 0xE7A1);
    for (int k = 0; k < o->episodes;) {
        GB_TRY(env_step(r->e, choose_action(r, o, &g)));
        if (r->gif && k == 0) GB_TRY(gif_frame(r->gif, env_frame(r->e)));
        if (r->e->terminated || r->e->truncated) GB_TRY(end_episode(r, o, k++));
    }
    return NULL;
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
    GB_TRY(game_setup_open(&r.s, a));
    gb_error *err = eval_open(&r, o, a);
    if (!err) err = run_episodes(&r, o);
    if (!err) print_results(&r, o);
    gb_error *gerr = gif_close(r.gif);
    if (!err) err = gerr;
    else gb_error_free(gerr);
    free(r.ret);
    free(r.obs);
    policy_work_free(r.w);
    policy_free(r.p);
    env_close(r.e);
    game_setup_close(&r.s);
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
            else if (o.n_vars == MAX_VARS)
                err = gb_errorf("--var: at most %d variables", MAX_VARS);
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
