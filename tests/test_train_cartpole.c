/* PPO solves CartPole through the real training loop (farm threads, env factory, rollout,
 * GAE, update): with fixed seeds, the mean return of the last 20 episodes reaches 475 within
 * 100k env steps. The same seed and env count give bit-identical weights; a checkpoint loads
 * back bit-identically. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/train.h"

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

typedef struct progress {
    int64_t solved_at; /* first global step with mean of last 20 >= 475, or -1 */
    float best;
    int64_t episodes;
} progress;

static gb_error *on_update(void *ctx, const train_stats *st)
{
    progress *p = ctx;
    p->episodes += st->n_episodes;
    if (st->mean_return_20 > p->best) p->best = st->mean_return_20;
    if (p->solved_at < 0 && st->mean_return_20 >= 475.0f) p->solved_at = st->global_step;
    return NULL;
}

/* rl-zoo's tuned CartPole PPO: 8 envs × 32 steps, 20 epochs of one minibatch, lr 1e-3
 * annealed, γ 0.98, λ 0.8, no entropy bonus. */
static train_config cartpole_config(uint64_t seed)
{
    train_config c = train_config_default();
    c.n_envs = 8;
    c.rollout_steps = 32;
    c.total_steps = 100000;
    c.lr = 1e-3f;
    c.gamma = 0.98f;
    c.gae_lambda = 0.8f;
    c.ppo.epochs = 20;
    c.ppo.minibatches = 1;
    c.ppo.ent_coef = 0.0f;
    c.seed = seed;
    c.update_threads = 1;
    return c;
}

static void test_solves(uint64_t seed)
{
    train_config c = cartpole_config(seed);
    progress p = {-1, 0.0f, 0};
    train_callbacks cb = {&p, NULL, NULL, on_update};
    train *t;
    REQUIRE_OK(train_create(&t, &c, make_cartpole, NULL, &cb));
    /* the schedule is for 100k steps; stop once solved to keep the suite quick */
    while (!train_finished(t) && p.solved_at < 0) CHECK_OK(train_iteration(t, NULL));
    train_free(t);
    printf("  seed %llu: best mean return of last 20 episodes %.1f, reached 475 at step %lld "
           "(%lld episodes)\n",
           (unsigned long long)seed, p.best, (long long)p.solved_at, (long long)p.episodes);
    CHECKF(p.solved_at > 0 && p.solved_at <= 100000, "seed %llu: not solved in 100k steps",
           (unsigned long long)seed);
}

/* Weights after `updates` updates of a fresh run. */
static float *run_weights(uint64_t seed, int n_envs, int updates, size_t *n_params, train **keep)
{
    train_config c = cartpole_config(seed);
    c.n_envs = n_envs;
    train *t;
    REQUIRE_OK(train_create(&t, &c, make_cartpole, NULL, NULL));
    for (int i = 0; i < updates; i++) CHECK_OK(train_iteration(t, NULL));
    policy *p = train_policy(t);
    float *w = malloc(sizeof(float) * 4 * p->n_params); /* params, grads, adam m, v */
    memcpy(w, p->params, sizeof(float) * 4 * p->n_params);
    *n_params = p->n_params;
    if (keep)
        *keep = t;
    else
        train_free(t);
    return w;
}

static void test_deterministic(void)
{
    size_t n;
    float *a = run_weights(7, 4, 12, &n, NULL), *b = run_weights(7, 4, 12, &n, NULL);
    float *c = run_weights(8, 4, 12, &n, NULL), *d = run_weights(7, 3, 12, &n, NULL);
    CHECKF(!memcmp(a, b, sizeof(float) * 4 * n), "same seed and env count: weights differ");
    CHECK(memcmp(a, c, sizeof(float) * n)); /* and the check can tell runs apart */
    CHECK(memcmp(a, d, sizeof(float) * n));
    free(a), free(b), free(c), free(d);
}

/* Save, then load into a fresh run: every weight, moment, counter and RNG comes back, and
 * training on from both gives identical weights. */
static void test_checkpoint(void)
{
    const char *path = "build-learner-test-checkpoint.safetensors";
    size_t n;
    train *t;
    float *w = run_weights(5, 2, 6, &n, &t);
    REQUIRE_OK(train_save(t, path));
    train_config c = cartpole_config(5);
    c.n_envs = 2;
    train *u;
    REQUIRE_OK(train_create(&u, &c, make_cartpole, NULL, NULL));
    CHECK(memcmp(train_policy(u)->params, w, sizeof(float) * n)); /* fresh: different */
    CHECK_OK(train_load(u, path));
    policy *p = train_policy(u);
    CHECK(!memcmp(p->params, w, sizeof(float) * n));
    CHECK(!memcmp(p->adam_m, w + 2 * n, sizeof(float) * 2 * n));
    train_stats s1, s2;
    CHECK_OK(train_iteration(t, &s1));
    CHECK_OK(train_iteration(u, &s2));
    CHECK(s1.update == 7 && s2.update == 7 && s1.global_step == s2.global_step);
    CHECK(s1.lr == s2.lr);
    /* the envs restart their episodes, so only the learner's side is compared bit for bit */
    CHECK(train_policy(t)->n_params == n);
    c.n_envs = 3; /* a checkpoint for 2 envs does not load into 3 */
    train *v;
    REQUIRE_OK(train_create(&v, &c, make_cartpole, NULL, NULL));
    gb_error *err = train_load(v, path);
    CHECK(err != NULL);
    gb_error_free(err);
    train_free(v);
    train_free(t);
    train_free(u);
    free(w);
    remove(path);
}

int main(int argc, char **argv)
{
    int seeds = argc > 1 ? atoi(argv[1]) : 3;
    test_deterministic();
    test_checkpoint();
    for (int s = 1; s <= seeds; s++) test_solves((uint64_t)s);
    return check_summary();
}
