/* The training loop over a uint8 screen env (the emulator's kind of observation): the CNN runs
 * on every env thread at once (single-threaded sgemm), truncated episodes bootstrap, and two
 * runs with the same seed give bit-identical weights. The env is a toy: the screen is dark or
 * bright, and the action matching it earns 1. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbfarm/rng.h"
#include "gbfarm/train.h"

typedef struct toy {
    env base;
    rng r;
    int bright;
} toy;

static void draw(toy *t)
{
    memset(t->base.obs, t->bright ? 200 : 20, env_obs_bytes(&t->base.spec));
}

static gb_error *toy_reset(env *e)
{
    toy *t = (toy *)e;
    t->bright = (int)rng_below(&t->r, 2);
    e->episode = (env_episode){0};
    e->terminated = e->truncated = 0;
    draw(t);
    return NULL;
}

static gb_error *toy_step(env *e, int action)
{
    toy *t = (toy *)e;
    e->reward = action == t->bright ? 1.0f : 0.0f;
    e->episode.ret += e->reward;
    e->episode.length++;
    e->truncated = e->episode.length >= 10; /* no terminal state: every episode truncates */
    t->bright = (int)rng_below(&t->r, 2);
    draw(t);
    return NULL;
}

static void toy_close(env *e)
{
    free(e);
}
static const env_ops toy_ops = {.reset = toy_reset, .step = toy_step, .close = toy_close};

static gb_error *make_toy(void *ctx, int index, uint64_t seed, env **out)
{
    toy *t = calloc(1, sizeof *t);
    if (!t) return gb_errorf("toy: out of memory");
    t->base.ops = &toy_ops;
    t->base.spec = (env_spec){ENV_OBS_U8, 2, 36, 36, 2, 0};
    rng_seed(&t->r, seed, (uint64_t)index);
    *out = &t->base;
    return NULL;
}

static float *run(uint64_t seed, int updates, float *last_mean, size_t *n)
{
    train_config c = train_config_default();
    c.n_envs = 2, c.rollout_steps = 16, c.total_steps = 2 * 16 * updates;
    c.cnn = POLICY_CNN_NATURE; /* the toy screens are tuned for it; catch-gb runs the small one */
    c.hidden = 32, c.seed = seed, c.ppo.epochs = 2, c.ppo.minibatches = 2, c.lr = 2.5e-3f,
    c.ppo.ent_coef = 0.0f;
    c.update_threads = 2;
    train *t;
    REQUIRE_OK(train_create(&t, &c, make_toy, NULL, NULL));
    train_stats s = {0};
    while (!train_finished(t)) CHECK_OK(train_iteration(t, &s));
    *last_mean = s.mean_return_20;
    policy *p = train_policy(t);
    CHECK(p->cfg.shared_trunk == 1 && p->trunk[0].layers[0].kind == POLICY_CONV);
    *n = p->n_params;
    float *w = malloc(sizeof(float) * p->n_params);
    memcpy(w, p->params, sizeof(float) * p->n_params);
    train_free(t);
    return w;
}

int main(void)
{
    size_t n;
    float m1, m2;
    float *a = run(3, 100, &m1, &n), *b = run(3, 100, &m2, &n);
    CHECKF(!memcmp(a, b, sizeof(float) * n), "same seed: CNN weights differ");
    printf("  toy screens: mean return of last 20 episodes after 3200 steps: %.1f (random: 5)\n",
           m1);
    CHECKF(m1 >= 8.0f, "the CNN did not learn to match the screen: %.1f", m1);
    free(a), free(b);
    return check_summary();
}
