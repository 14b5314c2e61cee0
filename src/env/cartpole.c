#include "gbfarm/cartpole.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/clock.h"
#include "gbfarm/rng.h"

typedef struct cartpole {
    env base; /* first, so an env * is a cartpole * */
    double x, x_dot, theta, theta_dot;
    rng rng;
    double t_start;
} cartpole;

static void write_obs(cartpole *c)
{
    float *o = c->base.obs;
    o[0] = (float)c->x, o[1] = (float)c->x_dot, o[2] = (float)c->theta, o[3] = (float)c->theta_dot;
}

static gb_error *cartpole_reset(env *e)
{
    cartpole *c = (cartpole *)e;
    double *s[4] = {&c->x, &c->x_dot, &c->theta, &c->theta_dot};
    for (int i = 0; i < 4; i++) *s[i] = 0.1 * rng_uniform(&c->rng) - 0.05;
    e->reward = 0.0f;
    e->terminated = e->truncated = 0;
    e->episode = (env_episode){0};
    c->t_start = gb_now();
    write_obs(c);
    return NULL;
}

static gb_error *cartpole_step(env *e, int action)
{
    if (action < 0 || action > 1)
        return gb_errorf("cartpole: action must be 0 or 1, got %d", action);
    cartpole *c = (cartpole *)e;
    /* gym's constants and Euler integration */
    const double g = 9.8, m_cart = 1.0, m_pole = 0.1, total = m_cart + m_pole, half_len = 0.5;
    const double pm_len = m_pole * half_len, force_mag = 10.0, tau = 0.02;
    double force = action == 1 ? force_mag : -force_mag;
    double ct = cos(c->theta), st = sin(c->theta);
    double temp = (force + pm_len * c->theta_dot * c->theta_dot * st) / total;
    double theta_acc = (g * st - ct * temp) / (half_len * (4.0 / 3.0 - m_pole * ct * ct / total));
    double x_acc = temp - pm_len * theta_acc * ct / total;
    c->x += tau * c->x_dot;
    c->x_dot += tau * x_acc;
    c->theta += tau * c->theta_dot;
    c->theta_dot += tau * theta_acc;
    write_obs(c);

    e->reward = 1.0f;
    e->episode.ret += 1.0;
    e->episode.length++;
    e->episode.seconds = gb_now() - c->t_start;
    const double theta_limit = 12.0 * 2.0 * M_PI / 360.0, x_limit = 2.4;
    e->terminated =
        c->x < -x_limit || c->x > x_limit || c->theta < -theta_limit || c->theta > theta_limit;
    e->truncated = !e->terminated && e->episode.length >= CARTPOLE_MAX_STEPS;
    return NULL;
}

static void cartpole_close(env *e)
{
    free(e);
}

/* The physics state, the episode so far and the RNG: enough to continue bit-identically. */
typedef struct cartpole_snapshot {
    double x, x_dot, theta, theta_dot;
    rng rng;
    env_episode episode;
    float reward;
    uint8_t terminated, truncated;
} cartpole_snapshot;

static gb_error *cartpole_snapshot_save(env *e, uint8_t **out, size_t *size)
{
    cartpole *c = (cartpole *)e;
    cartpole_snapshot *s = calloc(1, sizeof *s);
    if (!s) return gb_errorf("cartpole: out of memory for a snapshot");
    *s = (cartpole_snapshot){c->x,       c->x_dot,  c->theta,      c->theta_dot, c->rng,
                             e->episode, e->reward, e->terminated, e->truncated};
    *out = (uint8_t *)s;
    *size = sizeof *s;
    return NULL;
}

static gb_error *cartpole_snapshot_restore(env *e, const uint8_t *data, size_t size)
{
    cartpole *c = (cartpole *)e;
    cartpole_snapshot s;
    if (size != sizeof s)
        return gb_errorf("cartpole: snapshot is %zu bytes, expected %zu", size, sizeof s);
    memcpy(&s, data, sizeof s);
    c->x = s.x, c->x_dot = s.x_dot, c->theta = s.theta, c->theta_dot = s.theta_dot;
    c->rng = s.rng;
    e->episode = s.episode;
    e->reward = s.reward;
    e->terminated = s.terminated, e->truncated = s.truncated;
    c->t_start = gb_now() - s.episode.seconds;
    write_obs(c);
    return NULL;
}

static const env_ops cartpole_ops = {.reset = cartpole_reset,
                                     .step = cartpole_step,
                                     .close = cartpole_close,
                                     .snapshot = cartpole_snapshot_save,
                                     .restore = cartpole_snapshot_restore};

gb_error *cartpole_create(env **out, uint64_t seed, int index)
{
    cartpole *c = calloc(1, sizeof *c);
    if (!c) return gb_errorf("cartpole: out of memory");
    c->base.ops = &cartpole_ops;
    c->base.spec = (env_spec){ENV_OBS_F32, 1, 1, 4, 2, 0};
    rng_seed(&c->rng, seed, (uint64_t)index);
    *out = &c->base;
    return NULL;
}
