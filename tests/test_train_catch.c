/* Learning on the emulator: PPO on the bundled Game Boy game (observing its RAM variables)
 * with a fixed seed and a small budget scores at least 3x a random policy, both measured
 * over 20 episodes from the same start states. */
#include <string.h>

#include "check.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/rng.h"
#include "gbfarm/train.h"

typedef struct game_ctx {
    game_spec *game;
    char core[4096];
} game_ctx;

static gb_error *make_game(void *ctx, int index, uint64_t seed, env **out)
{
    game_ctx *g = ctx;
    env_retro_config cfg = {g->game, g->core, g->game->rom, NULL, 0, NULL, seed, index, NULL};
    return env_retro_create(out, &cfg);
}

/* Mean return over episodes of a greedy policy (p) or a uniform random one (p NULL). */
static double mean_return(game_ctx *g, const policy *p, int episodes)
{
    env *e;
    env_retro_config cfg = {g->game, g->core, g->game->rom, NULL, 0, NULL, 99, 0, NULL};
    REQUIRE_OK(env_retro_create(&e, &cfg));
    float obs[16];
    e->obs = obs;
    REQUIRE_OK(env_reset(e));
    policy_work *w = NULL;
    if (p) REQUIRE_OK(policy_work_create(&w, p, 1));
    rng r;
    rng_seed(&r, 5, 5);
    double sum = 0;
    for (int k = 0; k < episodes;) {
        int action = 0;
        if (p) {
            float *logits, *values;
            policy_forward(p, w, obs, 1, &logits, &values);
            for (int i = 1; i < e->spec.n_actions; i++)
                if (logits[i] > logits[action]) action = i;
        } else {
            action = (int)rng_below(&r, (uint32_t)e->spec.n_actions);
        }
        REQUIRE_OK(env_step(e, action));
        if (e->terminated || e->truncated) {
            sum += e->episode.ret;
            k++;
            REQUIRE_OK(env_reset(e));
        }
    }
    policy_work_free(w);
    env_close(e);
    return sum / episodes;
}

int main(void)
{
    game_ctx g;
    REQUIRE_OK(game_load(&g.game, "states/catch-gb"));
    REQUIRE(g.game->n_obs_vars > 0);
    g.game->obs = GAME_OBS_VARS;
    REQUIRE_OK(core_find(g.game->core, g.core, sizeof g.core));

    train_config cfg = train_config_default();
    cfg.n_envs = 2;
    cfg.total_steps = 40960;
    cfg.seed = 3;
    cfg.lr = 1e-3f; /* the variables are scaled to [0, 1]: a cell is 1/9 */
    cfg.update_threads = 1;
    train *t;
    REQUIRE_OK(train_create(&t, &cfg, make_game, &g, NULL));
    train_stats s;
    while (!train_finished(t)) REQUIRE_OK(train_iteration(t, &s));
    double random = mean_return(&g, NULL, 20), trained = mean_return(&g, train_policy(t), 20);
    printf("catch-gb, %lld steps: mean return %.2f trained (greedy) vs %.2f random\n",
           (long long)s.global_step, trained, random);
    CHECKF(trained >= 3 * random && trained >= 2.0, "trained %.2f, random %.2f", trained, random);
    train_free(t);
    game_free(g.game);
    return check_summary();
}
