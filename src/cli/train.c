/* gbfarm train: PPO on a farm of envs. The env is chosen in one place, choose_env(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "game_args.h"
#include "gbfarm/args.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/dist.h"
#include "gbfarm/monitor.h"
#include "gbfarm/nn.h"
#include "gbfarm/progress.h"
#include "gbfarm/rundir.h"
#include "gbfarm/state.h"
#include "gbfarm/tensorboard.h"
#include "gbfarm/viewer.h"
#include "gbfarm/train.h"

static void usage(FILE *to)
{
    train_config d = train_config_default();
    fprintf(to,
            "usage: gbfarm train [options]\n"
            "Defaults below are gbfarm's; a game folder's game.json may set its own (\"train\"),\n"
            "and the options given here override both.\n\n"
            "  --env NAME            cartpole (the built-in CartPole-v1); default: the emulator\n"
            "  --envs N              environments, one thread each (default: one per core, or\n"
            "                        the game's envs-per-core; cartpole: %d)\n"
            "  --steps N             total env steps over all envs (%lld)\n"
            "  --seed N              run seed (%llu)\n"
            "  --rollout-steps T     steps per env per update (%d)\n"
            "  --epochs N            PPO epochs per update (%d)\n"
            "  --minibatches N       minibatches per epoch (%d)\n"
            "  --lr X                Adam learning rate (%g)\n"
            "  --no-anneal           keep the learning rate constant (default: linear to 0)\n"
            "  --gamma X             discount (%g)\n"
            "  --gae-lambda X        GAE lambda (%g)\n"
            "  --clip X              surrogate and value clip range (%g)\n"
            "  --no-clip-vloss       unclipped value loss\n"
            "  --no-norm-adv         no per-minibatch advantage normalisation\n"
            "  --vf-coef X           value loss coefficient (%g)\n"
            "  --ent-coef X          entropy bonus coefficient (%g)\n"
            "  --max-grad-norm X     global gradient-norm clip (%g)\n"
            "  --target-kl X         stop an update's epochs past this approx KL (0 = off)\n"
            "  --adam-eps X          Adam epsilon (%g)\n"
            "  --trunk shared|separate  one trunk for actor and critic, or one each\n"
            "                        (default: shared for screens, separate for vectors)\n"
            "  --hidden N            MLP width / CNN fc width (default: 64 / 512, small CNN 256)\n"
            "  --cnn small|nature    screen network: the 2013 DQN's (default: 16x8x8/4,\n"
            "                        32x4x4/2, fc 256) or the Nature DQN's (three times the work)\n"
            "  --update-threads N    threads for the PPO update (0 = all cores)\n"
            "  --log-interval S      seconds between progress lines when not on a terminal (10)\n"
            "  --run-dir DIR         where the run's files go (default: runs/<game>-<time>-<seed>)\n"
            "  --resume DIR          continue the run in DIR from its latest checkpoint, with\n"
            "                        the settings in its config.json (--steps may extend it);\n"
            "                        a damaged checkpoint (checksums) is named and the next\n"
            "                        newest one (previous, then update_<N>) used instead\n"
            "  --no-fallback         with --resume: stop at a damaged latest checkpoint\n"
            "  --checkpoint-every N  write DIR/latest.safetensors every N updates (10)\n"
            "  --keep-every N        also keep DIR/update_<N>.safetensors every N updates\n"
            "                        (100; 0: never)\n"
            "  --save FILE           also write the final checkpoint to FILE\n"
            "  --max-bad-updates N   an update with a NaN or infinite loss, gradient or weight\n"
            "                        is undone; N in a row stop the run (%d)\n"
            "  --watchdog S          stop, saving the learner, when an env makes no progress\n"
            "                        for S seconds (a hung core; 120, 0 = off)\n"
            "  --visualize           show env 0 in a window while all envs train (space:\n"
            "                        pause the display, +/-: pace from real time to uncapped,\n"
            "                        F12: save env 0's state into the run directory)\n"
            "  --scale N             the window's zoom (3); --speed N: 0 uncapped (default:\n"
            "                        the window samples env 0's frames), 1 real time, 2/4/8\n"
            "                        faster: a pace holds every env to env 0's (real time,\n"
            "                        frame skip 4: 15 steps/s per env)\n",
            d.n_envs, (long long)d.total_steps, (unsigned long long)d.seed, d.rollout_steps,
            d.ppo.epochs, d.ppo.minibatches, d.lr, d.gamma, d.gae_lambda, d.ppo.clip_coef,
            d.ppo.vf_coef, d.ppo.ent_coef, d.ppo.max_grad_norm, d.ppo.adam_eps, d.max_bad_updates);
}

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

typedef struct emulator {
    game_args args;
    game_setup setup;
    env **envs; /* by index, for the watchdog's message */
} emulator;

static gb_error *make_emulator(void *ctx, int index, uint64_t seed, env **out)
{
    emulator *e = ctx;
    env_retro_config cfg = game_setup_env_config(&e->setup, &e->args, index, seed, NULL);
    gb_error *err = env_retro_create(out, &cfg);
    if (!err && e->envs) e->envs[index] = *out;
    return err;
}

/* The one place an env factory is chosen: CartPole, or a game on a libretro core. */
static gb_error *choose_env(const char *name, emulator *emu, env_make_fn *make, void **ctx)
{
    *ctx = NULL;
    if (name && !strcmp(name, "cartpole")) {
        *make = make_cartpole;
        return NULL;
    }
    if (name) return gb_errorf("--env: expected 'cartpole', found '%s'", name);
    GB_TRY(game_setup_open(&emu->setup, &emu->args));
    *make = make_emulator;
    *ctx = emu;
    return NULL;
}

typedef struct run_options {
    const char *env_name, *save, *run_dir, *resume;
    double log_interval;
    int checkpoint_every, keep_every, envs_given, steps_given, no_fallback;
    int visualize, scale, speed;
} run_options;

static gb_error *parse(int argc, char **argv, train_config *c, run_options *o, game_args *game)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        int used = 1;
        gb_error *err = NULL;
        if (game_args_parse(game, argc, argv, &i, &err)) {
            GB_TRY(err);
            continue;
        }
        if (!strcmp(f, "--envs")) o->envs_given = 1;
        if (!strcmp(f, "--steps")) o->steps_given = 1;
        const char **text = !strcmp(f, "--env") ? &o->env_name : !strcmp(f, "--save") ? &o->save
                          : !strcmp(f, "--run-dir") ? &o->run_dir : !strcmp(f, "--resume") ? &o->resume
                          : NULL;
        if (text) {
            if (!v) return gb_errorf("%s: expected a value, found nothing", f);
            *text = v;
        } else if (!strcmp(f, "--checkpoint-every")) {
            GB_TRY(arg_int(f, v, 1, 1 << 30, &o->checkpoint_every));
        } else if (!strcmp(f, "--keep-every")) {
            GB_TRY(arg_int(f, v, 0, 1 << 30, &o->keep_every));
        } else if (!strcmp(f, "--scale")) {
            GB_TRY(arg_int(f, v, 1, 16, &o->scale));
        } else if (!strcmp(f, "--speed")) {
            GB_TRY(arg_int(f, v, 0, 8, &o->speed));
            if (o->speed & (o->speed - 1))
                return gb_errorf("--speed: expected 0, 1, 2, 4 or 8, found %d", o->speed);
        } else if (!strcmp(f, "--cnn")) {
            if (!v || (strcmp(v, "nature") && strcmp(v, "small")))
                return gb_errorf("--cnn: expected 'nature' or 'small', found '%s'", v ? v : "nothing");
            c->cnn = !strcmp(v, "small") ? POLICY_CNN_SMALL : POLICY_CNN_NATURE;
        } else if (!strcmp(f, "--trunk")) {
            if (!v || (strcmp(v, "shared") && strcmp(v, "separate")))
                return gb_errorf("--trunk: expected 'shared' or 'separate', found '%s'",
                                 v ? v : "nothing");
            c->shared_trunk = !strcmp(v, "shared");
        } else if (!strcmp(f, "--envs")) {
            GB_TRY(arg_int(f, v, 1, 4096, &c->n_envs));
        } else if (!strcmp(f, "--steps")) {
            long n;
            GB_TRY(arg_long(f, v, 1, 1L << 50, &n));
            c->total_steps = n;
        } else if (!strcmp(f, "--seed")) {
            GB_TRY(arg_u64(f, v, &c->seed));
        } else if (!strcmp(f, "--rollout-steps")) {
            GB_TRY(arg_int(f, v, 1, 1 << 20, &c->rollout_steps));
        } else if (!strcmp(f, "--epochs")) {
            GB_TRY(arg_int(f, v, 1, 1000, &c->ppo.epochs));
        } else if (!strcmp(f, "--minibatches")) {
            GB_TRY(arg_int(f, v, 1, 1 << 20, &c->ppo.minibatches));
        } else if (!strcmp(f, "--hidden")) {
            GB_TRY(arg_int(f, v, 1, 1 << 16, &c->hidden));
        } else if (!strcmp(f, "--max-bad-updates")) {
            GB_TRY(arg_int(f, v, 1, 1 << 30, &c->max_bad_updates));
        } else if (!strcmp(f, "--watchdog")) {
            GB_TRY(arg_double(f, v, 0.0, 1e9, &c->watchdog_seconds));
        } else if (!strcmp(f, "--update-threads")) {
            GB_TRY(arg_int(f, v, 0, 1024, &c->update_threads));
        } else if (!strcmp(f, "--log-interval")) {
            GB_TRY(arg_double(f, v, 0.0, 1e9, &o->log_interval));
        } else if (!strcmp(f, "--lr")) {
            GB_TRY(arg_double(f, v, 0.0, 1.0, &x));
            c->lr = (float)x;
        } else if (!strcmp(f, "--gamma")) {
            GB_TRY(arg_double(f, v, 0.0, 1.0, &x));
            c->gamma = (float)x;
        } else if (!strcmp(f, "--gae-lambda")) {
            GB_TRY(arg_double(f, v, 0.0, 1.0, &x));
            c->gae_lambda = (float)x;
        } else if (!strcmp(f, "--clip")) {
            GB_TRY(arg_double(f, v, 0.0, 10.0, &x));
            c->ppo.clip_coef = (float)x;
        } else if (!strcmp(f, "--vf-coef")) {
            GB_TRY(arg_double(f, v, 0.0, 1e6, &x));
            c->ppo.vf_coef = (float)x;
        } else if (!strcmp(f, "--ent-coef")) {
            GB_TRY(arg_double(f, v, 0.0, 1e6, &x));
            c->ppo.ent_coef = (float)x;
        } else if (!strcmp(f, "--max-grad-norm")) {
            GB_TRY(arg_double(f, v, 1e-12, 1e12, &x));
            c->ppo.max_grad_norm = (float)x;
        } else if (!strcmp(f, "--target-kl")) {
            GB_TRY(arg_double(f, v, 0.0, 1e6, &x));
            c->ppo.target_kl = (float)x;
        } else if (!strcmp(f, "--adam-eps")) {
            GB_TRY(arg_double(f, v, 1e-30, 1.0, &x));
            c->ppo.adam_eps = (float)x;
        } else {
            used = 0;
            if (!strcmp(f, "--visualize"))
                o->visualize = 1;
            else if (!strcmp(f, "--no-fallback"))
                o->no_fallback = 1;
            else if (!strcmp(f, "--no-anneal"))
                c->anneal_lr = 0;
            else if (!strcmp(f, "--no-clip-vloss"))
                c->ppo.clip_vloss = 0;
            else if (!strcmp(f, "--no-norm-adv"))
                c->ppo.norm_adv = 0;
            else
                return gb_errorf("unknown option '%s' (see gbfarm train --help)", f);
        }
        i += used;
    }
    return NULL;
}

/* ---- the run: directory, config.json, logs, checkpoints ---- */

static volatile sig_atomic_t stop_requested;
static bool watchdog_fired; /* a thread is stuck: exit without the usual teardown */
static bool bad_usage;      /* the command line itself is wrong: exit status 2 */
static void on_stop_signal(int sig) { stop_requested = sig; }

typedef struct run {
    const run_options *o;
    char dir[4096];
    monitor **monitors; /* one per env, each written only by its env's thread */
    gb_error **monitor_errs;
    int n_envs;
    tb_writer *tb;
    progress prog;
    int64_t frames0, steps0;
    int64_t saved_steps; /* in latest.safetensors, -1 before the first */
    int64_t update0;     /* the update this process started from */
    double rollout_s, update_s, env_s, policy_s; /* totals over this process's updates */
    double allreduce_s;                          /* the same: MPI's gradient exchange */
    int64_t allreduce_bytes, minibatches;
    /* --visualize: env 0's window, touched only on env 0's thread (errors read by main
     * between rounds). */
    const game_spec *game;
    viewer *view;
    gb_error *view_err;
    bool view_done;
    int64_t view_steps, view_episodes;
} run;

static void on_episode(void *ctx, int i, const env_episode *ep)
{
    run *r = ctx;
    if (!r->monitor_errs[i]) r->monitor_errs[i] = monitor_episode(r->monitors[i], ep->ret, ep->length);
}

/* Env 0's thread, after each of its steps: the window. Pacing env 0 to real time makes the
 * other envs wait for it at the barrier, and nothing more: they are never stopped mid-rollout. */
static void on_step(void *ctx, int i, env *e, int action)
{
    run *r = ctx;
    if (i != 0 || !r->o->visualize || r->view_done) return;
    if (!e) { /* env 0 closes: so does its window */
        viewer_close(r->view);
        r->view = NULL;
        return;
    }
    const core_frame *f = core_frame_get(env_retro_core(e));
    if (!r->view) {
        char title[256];
        snprintf(title, sizeof title, "gbfarm %s env 0", r->game->name);
        viewer_config vc = {title, (int)f->width, (int)f->height, r->o->scale, 0,
                            r->o->speed, false};
        r->view_err = gb_error_wrap(viewer_open(&r->view, &vc), "--visualize");
        if (r->view_err) {
            r->view_done = true;
            return;
        }
    }
    r->view_steps++;
    char buttons[64];
    game_buttons_name(r->game->actions[action], buttons, sizeof buttons);
    viewer_overlay ov = {r->view_steps, r->view_episodes, e->episode.ret, e->reward, buttons,
                         r->game->frame_skip};
    viewer_events ev;
    viewer_frame(r->view, f, &ov, &ev);
    if (e->terminated || e->truncated) r->view_episodes++;
    if (ev.save_state) {
        core *c = env_retro_core(e);
        size_t size = core_state_size(c);
        uint8_t *buf = malloc(size ? size : 1);
        char path[4200];
        snprintf(path, sizeof path, "%s/env0-step%lld.state", r->dir, (long long)r->view_steps);
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
    if (ev.closed) { /* stop viewing, not training */
        viewer_close(r->view);
        r->view = NULL;
        r->view_done = true;
    }
}

static progress_stats progress_of(const run *r, const train_stats *s, int64_t total)
{
    double secs = s->elapsed_seconds;
    return (progress_stats){s->global_step, total, (double)(s->global_step - r->steps0) / secs,
                            (double)(s->frames - r->frames0) / secs, s->total_episodes,
                            s->mean_return_20, s->ppo.pg_loss, s->ppo.v_loss, s->ppo.entropy, secs};
}

static gb_error *log_update(run *r, const train_stats *s, int64_t total)
{
    if (r->view_err) { /* env 0 could not open its window: say so and stop */
        gb_error *e = r->view_err;
        r->view_err = NULL;
        return e;
    }
    for (int i = 0; i < r->n_envs; i++)
        if (r->monitor_errs[i]) {
            gb_error *e = r->monitor_errs[i];
            r->monitor_errs[i] = NULL;
            return e;
        }
    if (dist_rank() > 0) return NULL; /* rank 0 logs the run */
    double ret = 0, len = 0, explored = 0;
    for (int i = 0; i < s->n_episodes; i++) {
        ret += s->episodes[i].episode.ret;
        len += (double)s->episodes[i].episode.length;
        explored += (double)s->episodes[i].episode.explored;
    }
    int64_t step = s->global_step;
    if (s->undone) {
        progress_clear(&r->prog);
        gb_warnf("update %lld: a loss, the gradient or a weight is not finite: undone (%lld so "
                 "far; --max-bad-updates in a row stop the run)",
                 (long long)s->update, (long long)s->undone_updates);
    }
    const struct {
        const char *tag;
        double value;
    } scalars[] = {
        {"charts/episodic_return", s->n_episodes ? ret / s->n_episodes : NAN},
        {"charts/episodic_length", s->n_episodes ? len / s->n_episodes : NAN},
        {"charts/explored", s->n_episodes && explored > 0 ? explored / s->n_episodes : NAN},
        {"charts/mean_return_20", s->mean_return_20},
        {"charts/learning_rate", s->lr},
        {"charts/SPS", s->sps},
        {"charts/FPS", (double)(s->frames - r->frames0) / s->elapsed_seconds},
        {"losses/value_loss", s->ppo.v_loss},
        {"losses/policy_loss", s->ppo.pg_loss},
        {"losses/entropy", s->ppo.entropy},
        {"losses/approx_kl", s->ppo.approx_kl},
        {"losses/old_approx_kl", s->ppo.old_approx_kl},
        {"losses/clipfrac", s->ppo.clipfrac},
        {"losses/explained_variance", s->ppo.explained_var},
        {"perf/rollout_seconds", s->rollout_seconds},
        {"perf/update_seconds", s->update_seconds},
        {"perf/env_seconds", s->env_seconds},
        {"perf/policy_seconds", s->policy_seconds},
        {"train/undone_updates", (double)s->undone_updates},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (scalars[i].value == scalars[i].value) /* not NaN */
            GB_TRY(tb_scalar(r->tb, scalars[i].tag, step, (float)scalars[i].value));
    GB_TRY(tb_flush(r->tb));
    progress_stats ps = progress_of(r, s, total);
    progress_update(&r->prog, &ps);
    r->rollout_s += s->rollout_seconds, r->update_s += s->update_seconds;
    r->env_s += s->env_seconds, r->policy_s += s->policy_seconds;
    r->allreduce_s += s->ppo.allreduce_seconds, r->allreduce_bytes += s->ppo.allreduce_bytes;
    r->minibatches += s->ppo.minibatches_done;
    return NULL;
}

static gb_error *save_checkpoints(train *t, run *r, int64_t update, bool force)
{
    char path[4200];
    if (force || update % r->o->checkpoint_every == 0) {
        snprintf(path, sizeof path, "%s/latest.safetensors", r->dir);
        if (dist_rank() == 0) GB_TRY(rundir_keep_previous(r->dir));
        GB_TRY(train_save(t, path));
        int64_t frames;
        train_counts(t, &r->saved_steps, &frames);
    }
    if (r->o->keep_every > 0 && update % r->o->keep_every == 0) {
        snprintf(path, sizeof path, "%s/update_%06lld.safetensors", r->dir, (long long)update);
        GB_TRY(train_save(t, path));
    }
    return NULL;
}

/* An error that stops the run, and how to go on from its last checkpoint. */
static gb_error *with_resume_hint(gb_error *err, run *r)
{
    progress_clear(&r->prog);
    gb_error *out = r->saved_steps < 0
                        ? gb_errorf("%s (before the first checkpoint: gbfarm train --resume %s "
                                    "starts the run again)",
                                    gb_error_msg(err), r->dir)
                        : gb_errorf("%s (gbfarm train --resume %s goes on from the last "
                                    "checkpoint, step %lld)",
                                    gb_error_msg(err), r->dir, (long long)r->saved_steps);
    gb_error_free(err);
    return out;
}

/* --resume: the newest checkpoint that loads. A damaged one is named and passed over for the
 * next (previous.safetensors, then the kept update_<N>), unless fallback is off. A run
 * directory without any checkpoint (a run killed before its first) starts afresh. */
static gb_error *load_newest(train *t, const char *dir, bool fallback, bool *fresh)
{
    if (dist_rank() > 0) { /* rank 0 chooses, and sends what it loaded */
        GB_TRY(train_load(t, NULL));
        *fresh = train_loaded_ranks(t) == 0;
        return NULL;
    }
    char **list;
    int n;
    GB_TRY(rundir_checkpoints(dir, &list, &n));
    *fresh = n == 0;
    if (n == 0) {
        printf("%s holds no checkpoint (the run stopped before its first): starting it again\n",
               dir);
        gb_error *err = train_load(t, NULL); /* the other ranks learn it */
        if (err) {
            rundir_free_list(list, n);
            return err;
        }
    }
    gb_error *first = NULL, *out = NULL;
    int at = 0;
    for (; at < n; at++) {
        gb_error *err = train_load(t, list[at]);
        if (!err) break;
        if (!fallback) {
            out = gb_error_wrap(err, "--resume (--no-fallback)");
            break;
        }
        gb_warnf("%s", gb_error_msg(err));
        if (first) gb_error_free(err);
        else first = err;
    }
    if (!out && n > 0 && at == n)
        out = gb_error_wrap(first, "%s: none of its %d checkpoints loads; the newest", dir, n);
    else if (first) {
        printf("resuming from %s, the newest intact checkpoint\n", list[at]);
        gb_error_free(first);
    }
    if (!out && n > 0 && train_loaded_ranks(t) < 0)
        printf("%s was written by a job of another rank count: the learner resumes, every env "
               "starts a fresh episode\n",
               list[at]);
    else if (!out && n > 0 && train_restored_envs(t) == 0)
        printf("%s holds no env snapshots (the watchdog's checkpoint): the envs start fresh "
               "episodes\n", list[at]);
    rundir_free_list(list, n);
    return out;
}

/* The watchdog fired: save the learner (no env snapshots can be taken) and say which env,
 * core and start state hung. */
static gb_error *on_watchdog(train *t, const run *r, const emulator *emu, bool is_emulator,
                             gb_error *err)
{
    int i = train_stuck_env(t);
    char what[4400] = "";
    if (is_emulator) {
        const char *core_name = strrchr(emu->setup.core, '/');
        const char *state = emu->envs ? env_retro_last_state(emu->envs[i]) : NULL;
        snprintf(what, sizeof what, " (core %s, start state %s)",
                 core_name ? core_name + 1 : emu->setup.core,
                 state ? state : "none loaded yet");
    }
    const char *msg = gb_error_msg(err), *rest = strstr(msg, "made no progress");
    int len = rest ? (int)strcspn(rest, ";") : 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/latest.safetensors", r->dir);
    gb_error *save = train_save(t, path);
    gb_error *out =
        save ? gb_errorf("env %d%s %.*s; the learner could not be saved: %s", i, what, len, rest,
                         gb_error_msg(save))
             : gb_errorf("env %d%s %.*s: saved the learner to %s (no env snapshots); gbfarm train "
                         "--resume %s continues with fresh episodes",
                         i, what, len, rest, path, r->dir);
    gb_error_free(save);
    gb_error_free(err);
    watchdog_fired = true;
    return out;
}

/* Every setting in force, and the command line that made them (what --resume replays). */
static json_t *config_json(const train_config *c, const run_options *o, const emulator *emu,
                           bool is_emulator, int argc, char **argv)
{
    json_t *j = json_object(), *args = json_array();
    for (int i = 1; i < argc; i++) json_array_append_new(args, json_string(argv[i]));
    json_object_set_new(j, "gbfarm_version", json_string(GBFARM_VERSION));
    json_object_set_new(j, "argv", args);
    json_object_set_new(j, "env", json_string(is_emulator ? "emulator" : o->env_name));
    if (is_emulator) {
        const game_spec *g = emu->setup.game;
        json_object_set_new(j, "game", json_string(g->dir));
        json_object_set_new(j, "rom", json_string(emu->setup.rom));
        json_object_set_new(j, "rom_sha1", json_string(g->rom_sha1));
        json_object_set_new(j, "core", json_string(emu->setup.core));
        json_t *states = json_array(), *opts = json_object();
        for (int i = 0; i < g->n_states; i++) json_array_append_new(states, json_string(g->states[i]));
        for (int i = 0; i < g->n_core_options; i++)
            json_object_set_new(opts, g->core_options[i].key, json_string(g->core_options[i].value));
        for (int i = 0; i < emu->args.n_options; i++)
            json_object_set_new(opts, emu->args.options[i].key, json_string(emu->args.options[i].value));
        json_object_set_new(j, "states", states);
        json_object_set_new(j, "core_options", opts);
        json_object_set_new(j, "frame_skip", json_integer(g->frame_skip));
        json_object_set_new(j, "press_frames", json_integer(g->press_frames));
        json_object_set_new(j, "max_episode_steps", json_integer(g->max_episode_steps));
        json_object_set_new(j, "noop_max", json_integer(g->noop_max));
        json_object_set_new(j, "obs_stack", json_integer(g->obs_stack));
        json_object_set_new(j, "obs_downsample", json_integer(g->obs_downsample));
        json_object_set_new(j, "obs", json_string(game_obs_name(g->obs)));
        json_t *vars = json_array();
        for (int i = 0; g->obs != GAME_OBS_SCREEN && i < g->n_obs_vars; i++)
            json_array_append_new(vars, json_string(game_var_name(g, g->obs_vars[i].var)));
        json_object_set_new(j, "obs_vars", vars);
    }
    json_object_set_new(j, "ranks", json_integer(dist_size()));
    json_object_set_new(j, "envs", json_integer(c->n_envs));
    json_object_set_new(j, "steps", json_integer(c->total_steps));
    json_object_set_new(j, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(j, "rollout_steps", json_integer(c->rollout_steps));
    json_object_set_new(j, "epochs", json_integer(c->ppo.epochs));
    json_object_set_new(j, "minibatches", json_integer(c->ppo.minibatches));
    /* Floats as their shortest decimal, not the float's every digit. */
    char buf[32];
#define REAL(key, x)                                                                               \
    (snprintf(buf, sizeof buf, "%g", (double)(x)),                                                 \
     json_object_set_new(j, key, json_real(strtod(buf, NULL))))
    REAL("lr", c->lr);
    json_object_set_new(j, "anneal_lr", json_boolean(c->anneal_lr));
    REAL("gamma", c->gamma);
    REAL("gae_lambda", c->gae_lambda);
    REAL("clip", c->ppo.clip_coef);
    json_object_set_new(j, "clip_vloss", json_boolean(c->ppo.clip_vloss));
    json_object_set_new(j, "norm_adv", json_boolean(c->ppo.norm_adv));
    REAL("vf_coef", c->ppo.vf_coef);
    REAL("ent_coef", c->ppo.ent_coef);
    REAL("max_grad_norm", c->ppo.max_grad_norm);
    REAL("target_kl", c->ppo.target_kl);
    REAL("adam_eps", c->ppo.adam_eps);
#undef REAL
    json_object_set_new(j, "trunk", json_string(c->shared_trunk < 0 ? "default" : c->shared_trunk ? "shared" : "separate"));
    json_object_set_new(j, "hidden", json_integer(c->hidden));
    json_object_set_new(j, "cnn", json_string(c->cnn == POLICY_CNN_SMALL ? "small" : "nature"));
    json_object_set_new(j, "update_threads", json_integer(c->update_threads));
    json_object_set_new(j, "watchdog", json_real(c->watchdog_seconds));
    json_object_set_new(j, "max_bad_updates", json_integer(c->max_bad_updates));
    json_object_set_new(j, "checkpoint_every", json_integer(o->checkpoint_every));
    json_object_set_new(j, "keep_every", json_integer(o->keep_every));
    return j;
}

/* --resume DIR: the stored command line, parsed again, gives the run's exact settings. */
/* The run's config.json: read by rank 0 (the run directory may be its alone) and sent to the
 * others. */
static gb_error *shared_config(const char *dir, json_t **out)
{
    *out = NULL;
    char *text = NULL;
    int64_t len = 0;
    if (dist_rank() == 0) {
        json_t *cfg;
        GB_TRY(rundir_check_resume(dir));
        GB_TRY(rundir_read_config(dir, &cfg));
        if (dist_size() == 1) {
            *out = cfg;
            return NULL;
        }
        text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(cfg);
        if (!text) return gb_errorf("%s/config.json: cannot encode it", dir);
        len = (int64_t)strlen(text);
    }
    dist_bcast(&len, sizeof len, 0);
    if (!text && !(text = calloc(1, (size_t)len + 1)))
        return gb_errorf("%s/config.json: out of memory", dir);
    dist_bcast(text, (size_t)len, 0);
    json_error_t je;
    *out = json_loads(text, JSON_PRESERVE_ORDER, &je);
    free(text);
    return *out ? NULL : gb_errorf("%s/config.json from rank 0: %s", dir, je.text);
}

static gb_error *resume_args(const char *dir, int *argc, char ***argv, int *envs, int *threads,
                             int64_t *steps)
{
    json_t *cfg;
    GB_TRY(shared_config(dir, &cfg));
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

/* The trainer's settings: gbfarm's defaults, then the game folder's ("train" in game.json),
 * then the command line's (argv, parsed again over the game's). */
static gb_error *game_defaults(train_config *c, const game_spec *g, int argc, char **argv)
{
    if (g->n_train_args <= 1) return NULL;
    train_config d = train_config_default();
    run_options o = {0};
    game_args ga;
    game_args_init(&ga);
    gb_error *err = parse(g->n_train_args, g->train_args, &d, &o, &ga);
    if (err) err = gb_error_wrap(err, "%s/game.json: train", g->dir);
    if (!err) err = parse(argc, argv, &d, &o, &ga);
    game_args_free(&ga);
    if (!err) *c = d;
    return err;
}

/* --resume --steps N: the run's length from now on, so that a later --resume keeps it. */
static gb_error *extend_config(const char *dir, int64_t steps)
{
    json_t *cfg;
    GB_TRY(rundir_read_config(dir, &cfg));
    json_object_set_new(cfg, "steps", json_integer(steps));
    gb_error *err = rundir_write_config(dir, cfg);
    json_decref(cfg);
    return err;
}

/* With --resume the run's settings come from its config.json: a flag that would change one
 * is refused rather than ignored. */
static gb_error *check_resume_flags(int argc, char **argv)
{
    static const char *allowed[] = {"--resume",    "--steps",        "--visualize", "--scale",
                                    "--speed",     "--log-interval", "--save",      "--no-fallback"};
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2)) continue; /* a flag's value */
        bool ok = false;
        for (size_t k = 0; k < sizeof allowed / sizeof *allowed; k++) ok |= !strcmp(argv[i], allowed[k]);
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

static gb_error *train_main(int argc, char **argv)
{
    run_options o = {.log_interval = 10, .checkpoint_every = 10, .keep_every = 100, .scale = 3, .speed = 0};
    train_config c = train_config_default();
    emulator emu = {0};
    game_args_init(&emu.args);
    gb_error *usage_err = parse(argc, argv, &c, &o, &emu.args);
    bad_usage = usage_err != NULL;
    GB_TRY(usage_err);

    /* Resuming replays the run's own command line; this one may only extend --steps. */
    int run_argc = argc;
    char **run_argv = argv, **stored = NULL;
    const char *resume = o.resume;
    int64_t steps = c.total_steps;
    run_options given = o;
    bool extend = o.steps_given;
    int envs = 0, run_threads = 0;
    int64_t run_steps = 0;
    if (resume) {
        GB_TRY(check_resume_flags(argc, argv));
        game_args_free(&emu.args);
        GB_TRY(resume_args(resume, &run_argc, &stored, &envs, &run_threads, &run_steps));
        run_argv = stored;
        o = (run_options){.log_interval = 10, .checkpoint_every = 10, .keep_every = 100, .scale = 3, .speed = 1};
        c = train_config_default();
        game_args_init(&emu.args);
        gb_error *err = parse(run_argc, run_argv, &c, &o, &emu.args);
        if (err) {
            free_args(run_argc, stored);
            return gb_error_wrap(err, "%s/config.json: argv", resume);
        }
        o.envs_given = 1;
        o.run_dir = resume;
        /* Watching, logging and where to load from are not settings of the run. */
        o.visualize = given.visualize, o.scale = given.scale, o.speed = given.speed;
        o.log_interval = given.log_interval, o.save = given.save;
        o.no_fallback = given.no_fallback;
    }

    env_make_fn make = NULL;
    void *ctx = NULL;
    gb_error *err = choose_env(o.env_name, &emu, &make, &ctx);
    bool is_emulator = ctx == &emu;
    if (!err && is_emulator) err = game_defaults(&c, emu.setup.game, run_argc, run_argv);
    if (resume) { /* what the run had in force, and a longer --steps */
        if (run_steps > 0) c.total_steps = run_steps;
        if (extend) c.total_steps = steps;
        c.n_envs = envs;
        if (run_threads > 0) c.update_threads = run_threads;
    }
    /* One env per core by default (each env thread keeps one core busy), or the game's count
     * per core. */
    if (!err && is_emulator && !o.envs_given) {
        int per = emu.setup.game->train_envs_per_core;
        c.n_envs = (int)sysconf(_SC_NPROCESSORS_ONLN) * (per > 0 ? per : 1);
    }
    /* The count in force goes into config.json: an update's result depends on it. */
    if (!c.update_threads) c.update_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);

    if (!err && o.visualize && !is_emulator)
        err = gb_errorf("--visualize: shows an emulator env; %s has no screen", o.env_name);
    if (!err && o.visualize && !viewer_available())
        err = gb_errorf("--visualize: gbfarm was built without SDL2 (apt-get install libsdl2-dev, "
                        "then rebuild)");
    if (!err && o.visualize) err = gb_error_wrap(viewer_check_display(), "--visualize");
    run r = {.o = &o, .n_envs = c.n_envs, .game = is_emulator ? emu.setup.game : NULL};
    char *default_dir = NULL;
    if (!err && !o.run_dir)
        err = rundir_default_path(&default_dir, "runs",
                                  is_emulator ? emu.setup.game->name : o.env_name, c.seed, time(NULL));
    if (!err) snprintf(r.dir, sizeof r.dir, "%s", o.run_dir ? o.run_dir : default_dir);
    free(default_dir);
    /* Everything is checked and the envs made before the run directory is touched, so a
     * start that fails leaves nothing behind. */
    train *t = NULL;
    train_callbacks cb = {&r, on_episode, on_step, NULL};
    r.monitors = calloc((size_t)c.n_envs, sizeof *r.monitors);
    r.monitor_errs = calloc((size_t)c.n_envs, sizeof *r.monitor_errs);
    if (!err && (!r.monitors || !r.monitor_errs)) err = gb_errorf("train: out of memory");
    if (!err && is_emulator && !(emu.envs = calloc((size_t)c.n_envs, sizeof *emu.envs)))
        err = gb_errorf("train: out of memory");
    if (!err) err = train_create(&t, &c, make, ctx, &cb);
    bool fresh = !resume;
    if (!err && resume) err = load_newest(t, r.dir, !o.no_fallback, &fresh);
    /* Rank 0 owns the run directory: config.json, checkpoints, TensorBoard. Every rank keeps
     * its own envs' monitor files there (its own copy of the directory, on another machine). */
    bool lead = dist_rank() == 0;
    int ranks = dist_size();
    if (!err && lead && resume && extend) err = extend_config(r.dir, c.total_steps);
    if (!err && !lead) err = rundir_make(r.dir);
    if (!err && lead && !resume) {
        bool restart;
        err = rundir_create(r.dir, &restart);
        if (!err && restart)
            printf("%s held a run that stopped before its first checkpoint: starting it again\n",
                   r.dir);
        json_t *cfg = err ? NULL : config_json(&c, &o, &emu, is_emulator, run_argc, run_argv);
        if (cfg) err = rundir_write_config(r.dir, cfg);
        json_decref(cfg);
    }
    for (int i = 0; !err && i < c.n_envs; i++) {
        char id[32], path[4200];
        snprintf(id, sizeof id, "%d", i);
        monitor_mode mode = fresh ? MONITOR_CREATE : MONITOR_APPEND;
        if (ranks == 1) {
            err = monitor_open(&r.monitors[i], r.dir, i, id, mode);
        } else {
            snprintf(path, sizeof path, "%s/monitor_%d_%d.csv", r.dir, dist_rank(), i);
            err = monitor_open_file(&r.monitors[i], path, id, mode);
        }
    }
    if (!err && lead) err = tb_open(&r.tb, r.dir);
    /* The logs go back to the checkpoint: the episodes and updates after it are played again.
     * Monitor files are cut (unless it came from another rank count: they go on); TensorBoard
     * drops the later steps on a restart event. */
    bool restored = resume && train_loaded_ranks(t) == ranks;
    for (int i = 0; !err && restored && i < c.n_envs; i++)
        err = monitor_keep(r.monitors[i], train_env_episodes(t, i));
    if (!err && lead && resume) {
        int64_t done, frames;
        train_counts(t, &done, &frames);
        err = tb_restart(r.tb, done + 1);
    }
    if (!err) train_counts(t, &r.steps0, &r.frames0); /* rates count this process's work */
    r.saved_steps = fresh ? -1 : r.steps0;
    r.update0 = r.steps0 / ((int64_t)ranks * c.n_envs * c.rollout_steps);
    if (!err) {
        signal(SIGINT, on_stop_signal);
        signal(SIGTERM, on_stop_signal);
    }
    if (!err && lead) {
        /* Updates are whole rollouts: say so when --steps is not a multiple of one. */
        int64_t batch = (int64_t)ranks * c.n_envs * c.rollout_steps;
        int64_t whole = c.total_steps / batch * batch;
        char rounded[160] = "", farm[64];
        if (whole != c.total_steps)
            snprintf(rounded, sizeof rounded,
                     " (--steps %lld rounded down to whole rollouts of %lld env steps)",
                     (long long)c.total_steps, (long long)batch);
        if (ranks > 1)
            snprintf(farm, sizeof farm, "%d ranks x %d envs", ranks, c.n_envs);
        else
            snprintf(farm, sizeof farm, "%d envs", c.n_envs);
        printf("run %s: %s, %s, %lld steps%s%s\n", r.dir,
               is_emulator ? emu.setup.game->dir : o.env_name, farm, (long long)whole, rounded,
               !resume ? "" : fresh ? " (started again)" : " (resumed)");
        if (train_finished(t))
            printf("%s is complete (its checkpoint is at step %lld of %lld): nothing to do; "
                   "gbfarm train --resume %s --steps N, with N over %lld, trains on\n",
                   r.dir, (long long)r.steps0, (long long)whole, r.dir, (long long)r.steps0);
        printf("learner: %d update threads, %s\n",
               c.update_threads > 0 ? c.update_threads : nn_cpu_count(), nn_blas_kernels());
        if (o.visualize && o.speed) /* what watching at a pace costs */
            printf("--visualize --speed %d: every env waits for env 0 at %dx real time, at most "
                   "about %.0f steps/s in all (--speed 0, or + in the window: uncapped)\n",
                   o.speed, o.speed, c.n_envs * 59.73 * o.speed / emu.setup.game->frame_skip);
        fflush(stdout);
        progress_init(&r.prog, stdout, o.log_interval);
    }
    train_stats s = {0};
    int64_t stop = 0; /* a signal any rank received */
    while (!err && !train_finished(t) && !stop) {
        err = train_iteration(t, &s);
        if (!err) err = log_update(&r, &s, c.total_steps);
        if (!err) stop = dist_max_i64(stop_requested);
        if (!err) err = save_checkpoints(t, &r, s.update, train_finished(t) || stop);
        if (err && train_stuck_env(t) < 0) err = with_resume_hint(err, &r);
    }
    if (err && t && train_stuck_env(t) >= 0) err = on_watchdog(t, &r, &emu, is_emulator, err);
    if (t && !err && lead) {
        if (stop) {
            progress_clear(&r.prog);
            printf("stopped by signal %d after update %lld: checkpoint %s/latest.safetensors\n",
                   (int)stop, (long long)s.update, r.dir);
        } else if (s.update) {
            progress_stats ps = progress_of(&r, &s, c.total_steps);
            progress_finish(&r.prog, &ps);
            printf("done: checkpoint %s/latest.safetensors\n", r.dir);
        }
        if (ranks > 1 && r.minibatches > 0)
            printf("gradient exchange: %lld allreduces of %.2f MB, %.2f ms each (%.0f%% of the "
                   "update time)\n",
                   (long long)r.minibatches, (double)r.allreduce_bytes / r.minibatches / 1e6,
                   1e3 * r.allreduce_s / r.minibatches, 100 * r.allreduce_s / r.update_s);
        if (ranks > 1 && s.update > r.update0)
            printf("weights identical on %d ranks after each of %lld updates (a hash compared)\n",
                   ranks, (long long)(s.update - r.update0));
        /* Where the time went: wall time split into rollouts and updates, and the env
         * threads' rollout time (n_envs x rollout wall) into env steps, policy work and
         * the rest (GAE, barrier waits). */
        double wall = r.rollout_s + r.update_s, threads = r.rollout_s * c.n_envs;
        if (wall > 0 && threads > 0)
            printf("time: rollouts %.1f s (%.0f%%), updates %.1f s (%.0f%%); env threads: env "
                   "steps %.0f%%, policy %.0f%%, GAE and barrier waits %.0f%%\n",
                   r.rollout_s, 100 * r.rollout_s / wall, r.update_s, 100 * r.update_s / wall,
                   100 * r.env_s / threads, 100 * r.policy_s / threads,
                   100 * (threads - r.env_s - r.policy_s) / threads);
    }
    if (t && !err && o.save) err = train_save(t, o.save);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    train_free(t);
    gb_error_free(r.view_err);
    gb_error *tb_err = tb_close(r.tb);
    if (!err) err = tb_err;
    else gb_error_free(tb_err);
    for (int i = 0; i < c.n_envs && r.monitors; i++) {
        monitor_close(r.monitors[i]);
        gb_error_free(r.monitor_errs[i]);
    }
    free(r.monitors);
    free(r.monitor_errs);
    free(emu.envs);
    game_setup_close(&emu.setup);
    game_args_free(&emu.args);
    free_args(run_argc, stored);
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
    gb_error *err = dist_init(&argc, &argv);
    if (!err) err = train_main(argc, argv);
    /* Under MPI a rank that fails ends the job (the others would wait for it forever): the
     * message names the rank and host, and the last checkpoint stands. */
    if (err && dist_size() > 1) dist_abort(gb_error_msg(err));
    int status = err ? (bad_usage ? cli_usage_fail : cli_fail)(err) : 0;
    if (!watchdog_fired) dist_finalize();
    if (watchdog_fired) { /* a stuck thread may be inside a core: no exit handlers */
        fflush(NULL);
        _exit(status);
    }
    return status;
}
