/* The watchdog: an env whose step never returns stops the run after --watchdog seconds with
 * an error naming the env, instead of hanging the farm; the learner is still saved (without
 * env snapshots), a fresh trainer loads it and starts fresh episodes. A slow env that keeps
 * stepping does not trip it. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/train.h"

/* A tiny env: 4 floats of observation, 3 actions, episodes of 10 steps. */
typedef struct test_env {
    env base;
    int index, steps;
    const struct hang_plan *plan;
} test_env;

typedef struct hang_plan {
    int env_index;  /* the env that hangs, or -1 */
    int after;      /* ... at this step */
    useconds_t nap; /* every step of every env sleeps this long */
} hang_plan;

static atomic_int hung; /* how many steps have started hanging */

static void observe(test_env *t)
{
    float *o = t->base.obs;
    for (int k = 0; k < 4; k++) o[k] = (float)((t->steps + k + t->index) % 7) / 7.0f;
}

static gb_error *test_reset(env *e)
{
    test_env *t = (test_env *)e;
    e->episode = (env_episode){0};
    e->terminated = e->truncated = 0;
    observe(t);
    return NULL;
}

static gb_error *test_step(env *e, int action)
{
    test_env *t = (test_env *)e;
    if (t->plan->nap) usleep(t->plan->nap);
    if (t->index == t->plan->env_index && t->steps == t->plan->after) {
        atomic_fetch_add(&hung, 1);
        for (;;) sleep(1); /* a core stuck in an endless loop */
    }
    t->steps++;
    e->reward = action == t->steps % 3 ? 1.0f : 0.0f;
    e->episode.ret += e->reward;
    e->episode.length++;
    e->terminated = e->episode.length == 10;
    observe(t);
    return NULL;
}

static void test_close(env *e)
{
    free(e);
}

static gb_error *test_snapshot(env *e, uint8_t **out, size_t *size)
{
    test_env *t = (test_env *)e;
    *out = malloc(sizeof t->steps);
    memcpy(*out, &t->steps, sizeof t->steps);
    *size = sizeof t->steps;
    return NULL;
}

static gb_error *test_restore(env *e, const uint8_t *data, size_t size)
{
    test_env *t = (test_env *)e;
    if (size != sizeof t->steps) return gb_errorf("test env: snapshot of %zu bytes", size);
    memcpy(&t->steps, data, sizeof t->steps);
    observe(t);
    return NULL;
}

static const env_ops test_ops = {.reset = test_reset,
                                 .step = test_step,
                                 .close = test_close,
                                 .snapshot = test_snapshot,
                                 .restore = test_restore};

static gb_error *make_test_env(void *ctx, int index, uint64_t seed, env **out)
{
    test_env *t = calloc(1, sizeof *t);
    if (!t) return gb_errorf("out of memory");
    t->base.ops = &test_ops;
    t->base.spec = (env_spec){ENV_OBS_F32, 1, 1, 4, 3, 0};
    t->index = index;
    t->plan = ctx;
    *out = &t->base;
    return NULL;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static train_config small_config(double watchdog)
{
    train_config c = train_config_default();
    c.n_envs = 3;
    c.rollout_steps = 16;
    c.total_steps = 3 * 16 * 10;
    c.ppo.minibatches = 2;
    c.ppo.epochs = 2;
    c.update_threads = 1;
    c.watchdog_seconds = watchdog;
    return c;
}

int main(void)
{
    char path[] = "/tmp/gbfarm-watchdog-XXXXXX", path2[64];
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    snprintf(path2, sizeof path2, "%s.full", path);

    /* Slow but alive: every step takes 20 ms, a rollout 0.32 s, the watchdog 0.1 s. */
    hang_plan slow = {-1, 0, 20000};
    train_config c = small_config(0.1);
    c.total_steps = 3 * 16 * 2;
    CHECK_OK(train_run(&c, make_test_env, &slow, NULL, NULL));

    /* Env 1 hangs at its 40th step, in the third update's rollout. */
    hang_plan plan = {1, 40, 0};
    c = small_config(0.5);
    train *t;
    REQUIRE_OK(train_create(&t, &c, make_test_env, &plan, NULL));
    CHECK(train_stuck_env(t) == -1);
    REQUIRE_OK(train_iteration(t, NULL));
    REQUIRE_OK(train_iteration(t, NULL));
    CHECK_OK(train_save(t, path2)); /* a checkpoint with env snapshots, for comparison */
    double t0 = seconds_now();
    gb_error *err = train_iteration(t, NULL);
    double waited = seconds_now() - t0;
    REQUIRE(err);
    const char *msg = gb_error_msg(err);
    CHECKF(strstr(msg, "env 1 made no progress for 0.5 s during a rollout (update 3)"), "%s", msg);
    CHECKF(waited >= 0.5 && waited < 5.0, "the watchdog fired after %.2f s", waited);
    CHECK(atomic_load(&hung) == 1);
    gb_error_free(err);
    CHECK(train_stuck_env(t) == 1);

    /* No more rounds; the learner is saved without env snapshots. */
    err = train_iteration(t, NULL);
    CHECK(err && strstr(gb_error_msg(err), "stuck"));
    gb_error_free(err);
    CHECK_OK(train_save(t, path));
    policy *p = train_policy(t);
    size_t n = p->n_params;
    float *weights = malloc(n * sizeof *weights);
    memcpy(weights, p->params, n * sizeof *weights);
    train_free(t); /* leaves everything the stuck thread may touch */

    /* A fresh trainer takes the learner and starts fresh episodes. */
    hang_plan none = {-1, 0, 0};
    train *t2;
    REQUIRE_OK(train_create(&t2, &c, make_test_env, &none, NULL));
    CHECK_OK(train_load(t2, path));
    CHECK(train_restored_envs(t2) == 0);
    CHECK(train_policy(t2)->n_params == n &&
          !memcmp(train_policy(t2)->params, weights, n * sizeof *weights));
    CHECK_OK(train_iteration(t2, NULL)); /* update 3 again, and on to the end */
    while (!train_finished(t2)) CHECK_OK(train_iteration(t2, NULL));
    train_free(t2);

    /* A full checkpoint still restores every env. */
    REQUIRE_OK(train_create(&t2, &c, make_test_env, &none, NULL));
    CHECK_OK(train_load(t2, path2));
    CHECK(train_restored_envs(t2) == 3);
    train_free(t2);

    /* Off (0) and negative settings. */
    c.watchdog_seconds = -1;
    err = train_create(&t2, &c, make_test_env, &none, NULL);
    CHECK(err && strstr(gb_error_msg(err), "--watchdog"));
    gb_error_free(err);

    free(weights);
    unlink(path);
    unlink(path2);
    return check_summary();
}
