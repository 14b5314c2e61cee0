#include <stdlib.h>
#include <string.h>

#include "gbfarm/ppo.h"

gb_error *rollout_create(rollout_buffer *rb, int n_envs, int steps, size_t obs_bytes)
{
    memset(rb, 0, sizeof *rb);
    size_t n = (size_t)n_envs * steps;
    rb->n_envs = n_envs;
    rb->steps = steps;
    rb->obs_bytes = obs_bytes;
    rb->obs = malloc(n * obs_bytes);
    rb->actions = calloc(n, sizeof(int32_t));
    rb->ends = calloc(n, 1);
    /* the float arrays share one allocation: 7 × n plus last_values */
    float *f = calloc(7 * n + (size_t)n_envs, sizeof(float));
    if (!rb->obs || !rb->actions || !rb->ends || !f) {
        free(f);
        rollout_free(rb);
        return gb_errorf("rollout: out of memory for %d envs × %d steps of %zu-byte observations",
                         n_envs, steps, obs_bytes);
    }
    rb->logprobs = f, f += n;
    rb->values = f, f += n;
    rb->rewards = f, f += n;
    rb->boot_values = f, f += n;
    rb->advantages = f, f += n;
    rb->returns = f, f += n;
    f += n; /* spare, keeps the layout simple to extend */
    rb->last_values = f;
    return NULL;
}

void rollout_free(rollout_buffer *rb)
{
    free(rb->obs);
    free(rb->actions);
    free(rb->ends);
    free(rb->logprobs);
    memset(rb, 0, sizeof *rb);
}

void ppo_gae(rollout_buffer *rb, int env_index, float gamma, float lambda)
{
    size_t base = (size_t)env_index * rb->steps;
    const float *r = rb->rewards + base, *v = rb->values + base, *boot = rb->boot_values + base;
    const uint8_t *ends = rb->ends + base;
    float *adv = rb->advantages + base, *ret = rb->returns + base;
    float next_value = rb->last_values[env_index], last = 0.0f;
    for (int t = rb->steps - 1; t >= 0; t--) {
        /* An ended episode does not continue into the next slot: a terminated one is worth
         * nothing afterwards, a truncated one is worth the value of its final observation. */
        float nv = ends[t] ? boot[t] : next_value;
        float delta = r[t] + gamma * nv - v[t];
        last = delta + (ends[t] ? 0.0f : gamma * lambda * last);
        adv[t] = last;
        ret[t] = last + v[t];
        next_value = v[t];
    }
}
