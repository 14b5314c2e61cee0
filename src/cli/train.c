/* gbfarm train: flags into settings (one table drives the usage text, the parser and
 * config.json), the env chosen in one place (choose_env), --resume's replay of the stored
 * command line, the --visualize window; the run itself is run_train (run.h). */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "gbfarm/archive.h"
#include "gbfarm/args.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/dist.h"
#include "gbfarm/game_args.h"
#include "gbfarm/run.h"
#include "gbfarm/run_emulator.h"
#include "gbfarm/rundir.h"
#include "gbfarm/train.h"
#include "gbfarm/viewer.h"

/* What the command line sets besides the trainer's config. */
typedef struct cli_options {
    const char *env_name, *save, *run_dir, *resume;
    double log_interval;
    int checkpoint_every, keep_every, keep_last, no_fallback;
    int visualize, scale, speed;
    int no_archive;
    int envs_given, steps_given;
} cli_options;

typedef struct settings {
    train_config c;
    cli_options o;
} settings;

static settings settings_default(void)
{
    return (settings){train_config_default(),
                      {.log_interval = 10, .checkpoint_every = 10, .keep_every = 100, .scale = 3}};
}

/* ---- the options: one table for the usage text, the parser and config.json ---- */

#define AT(field) offsetof(settings, field)
/* One entry in a line or two, as the usage text reads. */
/* clang-format off */
static const arg_option options[] = {
    {"--env", "NAME", ARG_TEXT, AT(o.env_name), 0, 0, NULL,
     "cartpole (the built-in CartPole-v1); default: the emulator", {0}, {0}},
    {"--envs", "N", ARG_INT, AT(c.n_envs), 1, 4096, "envs",
     "environments, one thread each (default: one per core, or\nthe game's envs-per-core; "
     "cartpole: %D)", {0}, {0}},
    {"--steps", "N", ARG_I64, AT(c.total_steps), 1, 1125899906842624.0, "steps",
     "total env steps over all envs (%D)", {0}, {0}},
    {"--seed", "N", ARG_U64, AT(c.seed), 0, 0, "seed", "run seed (%D)", {0}, {0}},
    {"--rollout-steps", "T", ARG_INT, AT(c.rollout_steps), 1, 1 << 20, "rollout_steps",
     "steps per env per update (%D)", {0}, {0}},
    {"--epochs", "N", ARG_INT, AT(c.ppo.epochs), 1, 1000, "epochs",
     "PPO epochs per update (%D)", {0}, {0}},
    {"--minibatches", "N", ARG_INT, AT(c.ppo.minibatches), 1, 1 << 20, "minibatches",
     "minibatches per epoch (%D)", {0}, {0}},
    {"--lr", "X", ARG_F32, AT(c.lr), 0, 1, "lr", "Adam learning rate (%D)", {0}, {0}},
    {"--no-anneal", NULL, ARG_OFF, AT(c.anneal_lr), 0, 0, "anneal_lr",
     "keep the learning rate constant (default: linear to 0)", {0}, {0}},
    {"--ent-anneal", NULL, ARG_ON, AT(c.anneal_ent), 0, 0, "anneal_ent",
     "the entropy bonus linear to 0 over the run too", {0}, {0}},
    {"--gamma", "X", ARG_F32, AT(c.gamma), 0, 1, "gamma", "discount (%D)", {0}, {0}},
    {"--gae-lambda", "X", ARG_F32, AT(c.gae_lambda), 0, 1, "gae_lambda", "GAE lambda (%D)",
     {0}, {0}},
    {"--clip", "X", ARG_F32, AT(c.ppo.clip_coef), 0, 10, "clip",
     "surrogate and value clip range (%D)", {0}, {0}},
    {"--no-clip-vloss", NULL, ARG_OFF, AT(c.ppo.clip_vloss), 0, 0, "clip_vloss",
     "unclipped value loss", {0}, {0}},
    {"--no-norm-adv", NULL, ARG_OFF, AT(c.ppo.norm_adv), 0, 0, "norm_adv",
     "no per-minibatch advantage normalisation", {0}, {0}},
    {"--vf-coef", "X", ARG_F32, AT(c.ppo.vf_coef), 0, 1e6, "vf_coef",
     "value loss coefficient (%D)", {0}, {0}},
    {"--ent-coef", "X", ARG_F32, AT(c.ppo.ent_coef), 0, 1e6, "ent_coef",
     "entropy bonus coefficient (%D)", {0}, {0}},
    {"--max-grad-norm", "X", ARG_F32, AT(c.ppo.max_grad_norm), 1e-12, 1e12, "max_grad_norm",
     "global gradient-norm clip (%D)", {0}, {0}},
    {"--target-kl", "X", ARG_F32, AT(c.ppo.target_kl), 0, 1e6, "target_kl",
     "stop an update's epochs past this approx KL (0 = off)", {0}, {0}},
    {"--adam-eps", "X", ARG_F32, AT(c.ppo.adam_eps), 1e-30, 1, "adam_eps", "Adam epsilon (%D)",
     {0}, {0}},
    {"--trunk", "shared|separate", ARG_CHOICE, AT(c.shared_trunk), 0, 0, "trunk",
     "one trunk for actor and critic, or one each\n(default: shared for screens, separate "
     "for vectors)",
     {"shared", "separate"},
     {1, 0}},
    {"--hidden", "N", ARG_INT, AT(c.hidden), 1, 1 << 16, "hidden",
     "MLP width / CNN fc width (default: 64 / 512, small CNN 256)", {0}, {0}},
    {"--cnn", "small|nature", ARG_CHOICE, AT(c.cnn), 0, 0, "cnn",
     "screen network: the 2013 DQN's (default: 16x8x8/4,\n32x4x4/2, fc 256) or the Nature "
     "DQN's (three times the work)",
     {"small", "nature"},
     {POLICY_CNN_SMALL, POLICY_CNN_NATURE}},
    {"--no-archive", NULL, ARG_ON, AT(o.no_archive), 0, 0, "no_archive",
     "start every reset from the game's own states, without\nits start-state archive "
     "(game.json's \"archive\")", {0}, {0}},
    {"--update-threads", "N", ARG_INT, AT(c.update_threads), 0, 1024, "update_threads",
     "threads for the PPO update (0 = all cores)", {0}, {0}},
    {"--precision", "fp32|bf16", ARG_CHOICE, AT(c.bf16), 0, 0, "precision",
     "the convolutions' multiplies (and the rollout's\nlinear layers'): float (default), or "
     "bf16 with float\nsums (CPUs with AVX512_BF16; faster on AMD Zen 4, slower\non some Intel Xeons: bench_learner tells)",
     {"fp32", "bf16"},
     {0, 1}},
    {"--watchdog", "S", ARG_F64, AT(c.watchdog_seconds), 0, 1e9, "watchdog",
     "stop, saving the learner, when an env makes no progress\nfor S seconds (a hung core; "
     "%D, 0 = off)", {0}, {0}},
    {"--max-bad-updates", "N", ARG_INT, AT(c.max_bad_updates), 1, 1 << 30, "max_bad_updates",
     "an update with a NaN or infinite loss, gradient or weight\nis undone; N in a row stop "
     "the run (%D)", {0}, {0}},
    {"--log-interval", "S", ARG_F64, AT(o.log_interval), 0, 1e9, NULL,
     "seconds between progress lines when not on a terminal (%D)", {0}, {0}},
    {"--run-dir", "DIR", ARG_TEXT, AT(o.run_dir), 0, 0, NULL,
     "where the run's files go (default: runs/<game>-<time>-<seed>)", {0}, {0}},
    {"--resume", "DIR", ARG_TEXT, AT(o.resume), 0, 0, NULL,
     "continue the run in DIR from its latest checkpoint, with\nthe settings in its "
     "config.json (--steps may extend it);\na damaged checkpoint (checksums) is named and the "
     "next\nnewest one (previous, then update_<N>) used instead", {0}, {0}},
    {"--no-fallback", NULL, ARG_ON, AT(o.no_fallback), 0, 0, NULL,
     "with --resume: stop at a damaged latest checkpoint", {0}, {0}},
    {"--checkpoint-every", "N", ARG_INT, AT(o.checkpoint_every), 1, 1 << 30, "checkpoint_every",
     "write DIR/latest.safetensors every N updates (%D)", {0}, {0}},
    {"--keep-every", "N", ARG_INT, AT(o.keep_every), 0, 1 << 30, "keep_every",
     "also keep DIR/update_<N>.safetensors every N updates\n(%D; 0: never)", {0}, {0}},
    {"--keep-last", "N", ARG_INT, AT(o.keep_last), 0, 1 << 30, "keep_last",
     "keep only the newest N update_<N>.safetensors (%D; 0: all)", {0}, {0}},
    {"--save", "FILE", ARG_TEXT, AT(o.save), 0, 0, NULL,
     "also write the final checkpoint to FILE", {0}, {0}},
    {"--visualize", NULL, ARG_ON, AT(o.visualize), 0, 0, NULL,
     "show env 0 in a window while all envs train (space:\npause the display, +/-: pace from "
     "real time to uncapped,\nF12: save env 0's state into the run directory)", {0}, {0}},
    {"--scale", "N", ARG_INT, AT(o.scale), 1, 16, NULL, "the window's zoom (%D)", {0}, {0}},
    {"--speed", "N", ARG_INT, AT(o.speed), 0, 8, NULL,
     "0 uncapped (default: the window samples env 0's\nframes), 1 real time, 2/4/8 faster: a "
     "pace holds every\nenv to env 0's (real time, frame skip 4: 15 steps/s per env)", {0}, {0}},
};
/* clang-format on */
#define N_OPTIONS (sizeof options / sizeof options[0])

static void usage(FILE *to)
{
    settings d = settings_default();
    fprintf(to, "usage: gbfarm train [options]\n"
                "Defaults below are gbfarm's; a game folder's game.json may set its own "
                "(\"train\"),\nand the options given here override both.\n\n");
    args_usage(to, options, N_OPTIONS, &d);
}

static gb_error *parse(int argc, char **argv, settings *s, game_args *game)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        gb_error *err = NULL;
        if (game_args_parse(game, argc, argv, &i, &err)) {
            GB_TRY(err);
            continue;
        }
        const arg_option *op = args_find(options, N_OPTIONS, f);
        if (!op) return gb_errorf("unknown option '%s' (see gbfarm train --help)", f);
        GB_TRY(args_set(op, v, s));
        if (op->arg) i++;
        if (!strcmp(f, "--envs")) s->o.envs_given = 1;
        if (!strcmp(f, "--steps")) s->o.steps_given = 1;
        if (!strcmp(f, "--speed") && (s->o.speed & (s->o.speed - 1)))
            return gb_errorf("--speed: expected 0, 1, 2, 4 or 8, found %d", s->o.speed);
    }
    return NULL;
}

/* ---- the envs ---- */

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

/* The one place an env factory is chosen: CartPole, or a game on a libretro core. */
static gb_error *choose_env(const char *name, run_emulator *emu, env_make_fn *make, void **ctx)
{
    *ctx = NULL;
    if (name && !strcmp(name, "cartpole")) {
        *make = make_cartpole;
        return NULL;
    }
    if (name) return gb_errorf("--env: expected 'cartpole', found '%s'", name);
    GB_TRY(game_setup_open(&emu->setup, &emu->args));
    *make = run_emulator_make;
    *ctx = emu;
    return NULL;
}

/* ---- config.json and --resume ---- */

/* Every setting in force, and the command line that made them (what --resume replays). */
static json_t *config_json(const settings *s, const run_emulator *emu, bool is_emulator, int argc,
                           char **argv)
{
    json_t *j = json_object(), *args = json_array();
    for (int i = 1; i < argc; i++) json_array_append_new(args, json_string(argv[i]));
    json_object_set_new(j, "gbfarm_version", json_string(GBFARM_VERSION));
    json_object_set_new(j, "argv", args);
    json_object_set_new(j, "env", json_string(is_emulator ? "emulator" : s->o.env_name));
    if (is_emulator) run_emulator_json(j, emu);
    json_object_set_new(j, "ranks", json_integer(dist_size()));
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const arg_option *op = &options[i];
        char text[64];
        if (!op->key) continue;
        args_value(op, s, text, sizeof text);
        json_t *v = op->kind == ARG_ON || op->kind == ARG_OFF ? json_boolean(!strcmp(text, "true"))
                    : op->kind == ARG_CHOICE || op->kind == ARG_TEXT ? json_string(text)
                    : op->kind == ARG_F32 || op->kind == ARG_F64
                        ? json_real(strtod(text, NULL)) /* the shortest decimal */
                        : json_integer((json_int_t)strtoll(text, NULL, 10));
        json_object_set_new(j, op->key, v);
    }
    return j;
}

/* --resume DIR: the stored command line, parsed again, gives the run's exact settings. */
static gb_error *resume_args(const char *dir, int *argc, char ***argv, int *envs, int *threads,
                             int64_t *steps)
{
    json_t *cfg;
    GB_TRY(run_read_config(dir, &cfg));
    json_t *args = json_object_get(cfg, "argv");
    /* The env and update-thread counts in force, even when they were the machine's core
     * count: a checkpoint holds one snapshot per env, and an update depends on its threads. */
    *envs = (int)json_integer_value(json_object_get(cfg, "envs"));
    *threads = (int)json_integer_value(json_object_get(cfg, "update_threads")); /* 0: absent */
    *steps = json_integer_value(json_object_get(cfg, "steps")); /* extended by --steps */
    if (!json_is_array(args) || *envs < 1) {
        json_decref(cfg);
        return gb_errorf("%s/config.json: argv, envs: expected the run's command line (a list) "
                         "and env count",
                         dir);
    }
    size_t n = json_array_size(args);
    char **v = calloc(n + 2, sizeof *v);
    v[0] = strdup("train");
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(args, i));
        v[i + 1] = strdup(a ? a : "");
    }
    json_decref(cfg);
    *argc = (int)n + 1;
    *argv = v;
    return NULL;
}

/* With --resume the run's settings come from its config.json: a flag that would change one
 * is refused rather than ignored. */
static gb_error *check_resume_flags(int argc, char **argv)
{
    static const char *allowed[] = {"--resume", "--steps",        "--visualize", "--scale",
                                    "--speed",  "--log-interval", "--save",      "--no-fallback"};
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2)) continue; /* a flag's value */
        bool ok = false;
        for (size_t k = 0; k < sizeof allowed / sizeof *allowed; k++)
            ok |= !strcmp(argv[i], allowed[k]);
        if (!ok)
            return gb_errorf("%s: a resumed run keeps the settings in its config.json; with "
                             "--resume only --steps (to extend it), --visualize, --scale, "
                             "--speed, --log-interval, --save and --no-fallback may be given "
                             "(start a new run to change %s)",
                             argv[i], argv[i]);
    }
    return NULL;
}

static void free_args(int argc, char **argv)
{
    for (int i = 0; argv && i < argc; i++) free(argv[i]);
    free(argv);
}

/* The trainer's settings: gbfarm's defaults, then the game folder's ("train" in game.json),
 * then the command line's (argv, parsed again over the game's). */
static gb_error *game_defaults(settings *s, const game_spec *g, int argc, char **argv)
{
    if (g->n_train_args <= 1) return NULL;
    settings d = settings_default();
    game_args ga;
    game_args_init(&ga);
    gb_error *err = parse(g->n_train_args, g->train_args, &d, &ga);
    if (err) err = gb_error_wrap(err, "%s/game.json: train", g->dir);
    if (!err) err = parse(argc, argv, &d, &ga);
    game_args_free(&ga);
    if (!err) s->c = d.c;
    return err;
}

/* ---- the command ---- */

typedef struct command {
    settings s;
    run_emulator emu;
    int argc; /* the run's command line: this one, or the stored one on --resume */
    char **argv, **stored;
    bool bad_usage; /* the command line itself is wrong: exit status 2 */
} command;

/* --resume: the stored command line replaces this one, which may only extend --steps and
 * choose how to watch, log and load. */
static gb_error *replay(command *cmd, int argc, char **argv)
{
    settings given = cmd->s;
    const char *dir = given.o.resume;
    int envs = 0, threads = 0;
    int64_t steps = 0;
    GB_TRY(check_resume_flags(argc, argv));
    GB_TRY(resume_args(dir, &cmd->argc, &cmd->stored, &envs, &threads, &steps));
    cmd->argv = cmd->stored;
    cmd->s = settings_default();
    game_args_free(&cmd->emu.args);
    game_args_init(&cmd->emu.args);
    GB_TRY(gb_error_wrap(parse(cmd->argc, cmd->argv, &cmd->s, &cmd->emu.args),
                         "%s/config.json: argv", dir));
    cli_options *o = &cmd->s.o;
    o->envs_given = 1, o->steps_given = given.o.steps_given;
    o->resume = o->run_dir = dir;
    o->visualize = given.o.visualize, o->scale = given.o.scale, o->speed = given.o.speed;
    o->log_interval = given.o.log_interval, o->save = given.o.save;
    o->no_fallback = given.o.no_fallback;
    /* what the run had in force (the env count even when it was the machine's), and a
     * longer --steps */
    cmd->s.c.n_envs = envs;
    if (threads > 0) cmd->s.c.update_threads = threads;
    cmd->s.c.total_steps = given.o.steps_given ? given.c.total_steps
                           : steps > 0         ? steps
                                               : cmd->s.c.total_steps;
    return NULL;
}

static gb_error *check_visualize(const cli_options *o, bool is_emulator)
{
    if (!o->visualize) return NULL;
    if (!is_emulator)
        return gb_errorf("--visualize: shows an emulator env; %s has no screen", o->env_name);
    if (!viewer_available())
        return gb_errorf("--visualize: gbfarm was built without SDL2 (apt-get install "
                         "libsdl2-dev, then rebuild)");
    return gb_error_wrap(viewer_check_display(), "--visualize");
}

static gb_error *train_main(command *cmd, int argc, char **argv, run_result *result)
{
    settings *s = &cmd->s;
    gb_error *err = parse(argc, argv, s, &cmd->emu.args);
    cmd->bad_usage = err != NULL;
    GB_TRY(err);
    cmd->argc = argc, cmd->argv = argv;
    if (s->o.resume) GB_TRY(replay(cmd, argc, argv));
    run_emulator *emu = &cmd->emu;
    env_make_fn make = NULL;
    void *ctx = NULL;
    GB_TRY(choose_env(s->o.env_name, emu, &make, &ctx));
    bool is_emulator = ctx == emu;
    int64_t steps = s->c.total_steps;
    int envs = s->c.n_envs, threads = s->c.update_threads;
    if (is_emulator) GB_TRY(game_defaults(s, emu->setup.game, cmd->argc, cmd->argv));
    if (s->o.resume) /* the run's own counts, over anything game.json says */
        s->c.total_steps = steps, s->c.n_envs = envs, s->c.update_threads = threads;
    /* One env per core by default (each env thread keeps one core busy), or the game's count
     * per core. */
    if (is_emulator && !s->o.envs_given) {
        int per = emu->setup.game->train_envs_per_core;
        s->c.n_envs = (int)sysconf(_SC_NPROCESSORS_ONLN) * (per > 0 ? per : 1);
    }
    /* The count in force goes into config.json: an update's result depends on it. */
    if (!s->c.update_threads) s->c.update_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    GB_TRY(check_visualize(&s->o, is_emulator));

    char dir[4096], *default_dir = NULL;
    const char *name = is_emulator ? emu->setup.game->name : s->o.env_name;
    if (!s->o.run_dir)
        GB_TRY(rundir_default_path(&default_dir, "runs", name, s->c.seed, time(NULL)));
    snprintf(dir, sizeof dir, "%s", s->o.run_dir ? s->o.run_dir : default_dir);
    free(default_dir);
    if (is_emulator && !(emu->envs = calloc((size_t)s->c.n_envs, sizeof *emu->envs)))
        return gb_errorf("train: out of memory");
    /* The archive works in one process: under MPI the run goes on without it, and says so. */
    bool archived = is_emulator && emu->setup.game->archive.n_key && !s->o.no_archive;
    if (archived && dist_size() > 1 && dist_rank() == 0)
        printf("note: %s/game.json's start-state archive is off under MPI (it works in one "
               "process): every reset starts from the game's own states\n",
               emu->setup.game->dir);
    if (archived && dist_size() == 1) {
        int survive = emu->setup.game->archive.survive; /* at --rollout-steps none joins */
        if (survive >= s->c.rollout_steps)
            return gb_errorf("%s/game.json: archive.survive (%d) must be below --rollout-steps "
                             "(%d), the steps each env plays between the archive's merges",
                             emu->setup.game->dir, survive, s->c.rollout_steps);
        GB_TRY(run_emulator_archive(emu, s->c.n_envs));
    }
    s->c.archive = emu->archive;
    emu->dir = dir, emu->scale = s->o.scale, emu->speed = s->o.speed;
    if (s->o.visualize && s->o.speed && dist_rank() == 0) /* what watching at a pace costs */
        printf("--visualize --speed %d: every env waits for env 0 at %dx real time, at most "
               "about %.0f steps/s in all (--speed 0, or + in the window: uncapped)\n",
               s->o.speed, s->o.speed,
               s->c.n_envs * 59.73 * s->o.speed / emu->setup.game->frame_skip);

    json_t *config = s->o.resume ? NULL : config_json(s, emu, is_emulator, cmd->argc, cmd->argv);
    run_config rc = {dir,
                     is_emulator ? emu->setup.game->dir : s->o.env_name,
                     s->o.resume != NULL,
                     s->o.resume && s->o.steps_given,
                     s->o.no_fallback,
                     s->o.checkpoint_every,
                     s->o.keep_every,
                     s->o.keep_last,
                     s->o.log_interval,
                     s->o.save,
                     config};
    run_hooks none = {0}, hooks = is_emulator ? run_emulator_hooks(emu, s->o.visualize) : none;
    err = run_train(&rc, &s->c, make, ctx, &hooks, result);
    json_decref(config);
    return err;
}

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            printf("\nthe emulator env (default):\n%s", game_args_help);
            return 0;
        }
    /* A write past RLIMIT_FSIZE fails with EFBIG (and is reported) instead of killing the run. */
    signal(SIGXFSZ, SIG_IGN);
    command cmd = {.s = settings_default()};
    game_args_init(&cmd.emu.args);
    run_result result = {0};
    gb_error *err = dist_init(&argc, &argv);
    if (!err) err = train_main(&cmd, argc, argv, &result);
    /* Under MPI a rank that fails ends the job (the others would wait for it forever): the
     * message names the rank and host, and the last checkpoint stands. */
    if (err && dist_size() > 1) dist_abort(gb_error_msg(err));
    int status = err ? (cmd.bad_usage ? cli_usage_fail : cli_fail)(err) : 0;
    if (result.env_stuck) { /* a stuck thread may be inside a core: no exit handlers */
        fflush(NULL);
        _exit(status);
    }
    dist_finalize();
    gb_error_free(cmd.emu.view_err);
    free(cmd.emu.envs);
    archive_free(cmd.emu.archive);
    game_setup_close(&cmd.emu.setup);
    game_args_free(&cmd.emu.args);
    free_args(cmd.argc, cmd.stored);
    return status;
}
