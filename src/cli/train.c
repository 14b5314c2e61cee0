/* gbfarm train: PPO on a farm of envs. The env is chosen in one place, choose_env(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "commands.h"
#include "game_args.h"
#include "gbfarm/args.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/train.h"

static void usage(FILE *to)
{
    train_config d = train_config_default();
    fprintf(to,
            "usage: gbfarm train [options]\n\n"
            "  --env NAME            cartpole (the built-in CartPole-v1); default: the emulator\n"
            "  --envs N              environments, one thread each (%d)\n"
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
            "  --hidden N            MLP width / CNN fc width (default: 64 / 512)\n"
            "  --blas-threads N      BLAS threads during the update (0 = all cores)\n"
            "  --progress N          print a progress line every N updates (10)\n"
            "  --save FILE           write the final checkpoint (.safetensors)\n",
            d.n_envs, (long long)d.total_steps, (unsigned long long)d.seed, d.rollout_steps,
            d.ppo.epochs, d.ppo.minibatches, d.lr, d.gamma, d.gae_lambda, d.ppo.clip_coef,
            d.ppo.vf_coef, d.ppo.ent_coef, d.ppo.max_grad_norm, d.ppo.adam_eps);
}

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

typedef struct emulator {
    game_args args;
    game_setup setup;
} emulator;

static gb_error *make_emulator(void *ctx, int index, uint64_t seed, env **out)
{
    emulator *e = ctx;
    env_retro_config cfg = game_setup_env_config(&e->setup, &e->args, index, seed, NULL);
    return env_retro_create(out, &cfg);
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

typedef struct progress {
    int every;
} progress;

static gb_error *on_update(void *ctx, const train_stats *s)
{
    progress *p = ctx;
    if (s->update % p->every && s->update != s->num_updates) return NULL;
    printf("update %lld/%lld  steps %lld  %.0f steps/s  episodes %lld  mean return (last 20) "
           "%.1f  pg %.4f  v %.4f  ent %.3f  kl %.4f  clip %.3f  lr %.2e\n",
           (long long)s->update, (long long)s->num_updates, (long long)s->global_step,
           (double)s->global_step / s->elapsed_seconds, (long long)s->total_episodes,
           s->mean_return_20, s->ppo.pg_loss, s->ppo.v_loss, s->ppo.entropy, s->ppo.approx_kl,
           s->ppo.clipfrac, s->lr);
    fflush(stdout);
    return NULL;
}

static gb_error *parse(int argc, char **argv, train_config *c, const char **env_name,
                       const char **save, int *every, game_args *game, int *envs_given)
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
        if (!strcmp(f, "--envs")) *envs_given = 1;
        if (!strcmp(f, "--env")) {
            if (!v) return gb_errorf("--env: expected a name, found nothing");
            *env_name = v;
        } else if (!strcmp(f, "--save")) {
            if (!v) return gb_errorf("--save: expected a file name, found nothing");
            *save = v;
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
        } else if (!strcmp(f, "--blas-threads")) {
            GB_TRY(arg_int(f, v, 0, 1024, &c->blas_threads));
        } else if (!strcmp(f, "--progress")) {
            GB_TRY(arg_int(f, v, 1, 1 << 30, every));
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
            if (!strcmp(f, "--no-anneal"))
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

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            printf("\nthe emulator env (default):\n%s", game_args_help);
            return 0;
        }
    train_config c = train_config_default();
    const char *env_name = NULL, *save = NULL;
    progress p = {10};
    emulator emu = {0};
    game_args_init(&emu.args);
    int envs_given = 0;
    gb_error *err = parse(argc, argv, &c, &env_name, &save, &p.every, &emu.args, &envs_given);
    env_make_fn make;
    void *ctx = NULL;
    if (!err) err = choose_env(env_name, &emu, &make, &ctx);
    /* One env per core by default: each env thread keeps one core busy. */
    if (!err && ctx == &emu && !envs_given) c.n_envs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    train_callbacks cb = {&p, NULL, on_update};
    if (!err) err = train_run(&c, make, ctx, &cb, save);
    game_setup_close(&emu.setup);
    game_args_free(&emu.args);
    if (err) return cli_fail(err);
    if (save) printf("saved %s\n", save);
    return 0;
}
