/* Resume is exact: a run saved after k updates and continued in a fresh trainer ends with the
 * same weights, bit for bit, as the uninterrupted run — on the emulator (the bundled game,
 * mid-episode: core state, observation stack, explore set) and on CartPole. */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/env_retro.h"
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

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

/* Runs `updates` updates, saving after `stop_at` and continuing in a new trainer when
 * stop_at > 0; returns the final weights (malloc'd). */
static float *train_weights(const train_config *cfg, env_make_fn make, void *ctx, int stop_at,
                            const char *path, size_t *n_params)
{
    train *t;
    REQUIRE_OK(train_create(&t, cfg, make, ctx, NULL));
    if (stop_at > 0) {
        for (int i = 0; i < stop_at; i++) REQUIRE_OK(train_iteration(t, NULL));
        REQUIRE_OK(train_save(t, path));
        train_free(t);
        REQUIRE_OK(train_create(&t, cfg, make, ctx, NULL));
        REQUIRE_OK(train_load(t, path));
    }
    while (!train_finished(t)) REQUIRE_OK(train_iteration(t, NULL));
    policy *p = train_policy(t);
    *n_params = p->n_params;
    float *w = malloc(p->n_params * sizeof *w);
    memcpy(w, p->params, p->n_params * sizeof *w);
    train_free(t);
    return w;
}

static void check_resume(const char *what, const train_config *cfg, env_make_fn make, void *ctx,
                         int stop_at)
{
    char path[] = "/tmp/gbfarm-resume-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    size_t n1, n2;
    float *straight = train_weights(cfg, make, ctx, 0, NULL, &n1);
    float *resumed = train_weights(cfg, make, ctx, stop_at, path, &n2);
    CHECKF(n1 == n2 && !memcmp(straight, resumed, n1 * sizeof *straight),
           "%s: resumed weights differ from the uninterrupted run's", what);
    /* And the comparison can fail: another seed gives other weights. */
    train_config other = *cfg;
    other.seed++;
    float *different = train_weights(&other, make, ctx, 0, NULL, &n2);
    CHECK(memcmp(straight, different, n1 * sizeof *straight) != 0);
    free(straight);
    free(resumed);
    free(different);
    unlink(path);
}

int main(void)
{
    game_ctx g;
    REQUIRE_OK(game_load(&g.game, "states/catch-gb"));
    REQUIRE_OK(core_find(g.game->core, g.core, sizeof g.core));
    train_config cfg = train_config_default();
    cfg.n_envs = 2;
    cfg.rollout_steps = 48; /* episodes end mid-rollout and continue across the save */
    cfg.total_steps = 4 * 2 * 48;
    cfg.hidden = 64;
    cfg.update_threads = 1;
    check_resume("catch-gb", &cfg, make_game, &g, 2);
    game_free(g.game);

    cfg = train_config_default();
    cfg.n_envs = 4;
    cfg.rollout_steps = 64;
    cfg.total_steps = 6 * 4 * 64;
    cfg.update_threads = 1;
    check_resume("cartpole", &cfg, make_cartpole, NULL, 3);
    return check_summary();
}
