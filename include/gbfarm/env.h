/* The environment interface shared by the emulator env and CartPole.
 *
 * An env writes its current observation into `obs` (a slice of a buffer the caller owns,
 * env_obs_bytes(&spec) long), and the results of its last step into the plain fields.
 * step() never resets by itself: when terminated or truncated is set, `obs` holds the final
 * observation (the trainer bootstraps a truncated episode from its value), `episode` holds
 * the finished episode's totals, and the caller calls reset().
 *
 * The owner may point `obs` somewhere else before any call (the trainer points it at the next
 * slot of its rollout buffer, so that the env writes each observation straight into it): the
 * env writes the whole observation there, and a step reads what it needs of the previous one
 * (older stacked screens) where it wrote it, so that memory must still hold it, unchanged. */
#ifndef GBFARM_ENV_H
#define GBFARM_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

/* A picture, as core.h defines it (pixels, size, pitch, format). env.h names the type alone:
 * the interface drags no emulator API into the envs that draw nothing (CartPole) or into the
 * trainer, and whoever reads the pixels (viewer.h, gif.h) includes core.h already. */
typedef struct core_frame core_frame;

typedef enum env_obs_type {
    ENV_OBS_U8,  /* screens: uint8 [c][h][w], c = stacked frames */
    ENV_OBS_F32, /* vectors: float [c*h*w] (c = h = 1) */
} env_obs_type;

typedef struct env_spec {
    env_obs_type obs_type;
    int obs_c, obs_h, obs_w;
    int n_actions;
    int obs_vars; /* ENV_OBS_U8 only: floats after the screens (env_obs_vars_offset) */
} env_spec;

typedef struct env_episode {
    double ret;       /* sum of rewards */
    int64_t length;   /* steps */
    double seconds;   /* wall-clock time since the episode's reset */
    int64_t explored; /* distinct places visited (a game's explore term), else 0 */
} env_episode;

typedef struct env env;

typedef struct env_ops {
    gb_error *(*reset)(env *e);
    gb_error *(*step)(env *e, int action);
    void (*close)(env *e); /* frees everything the env owns, including e itself */
    /* Everything needed to continue exactly where the env is (emulator state, observation,
     * the episode so far, RNG), as one malloc'd blob; restore() takes it back into an env
     * made with the same settings. Both optional: NULL means a resumed run starts anew. */
    gb_error *(*snapshot)(env *e, uint8_t **out, size_t *size);
    gb_error *(*restore)(env *e, const uint8_t *data, size_t size);
    /* For viewers, recordings and reports; each optional (NULL: the env has none). */
    const core_frame *(*frame)(env *e); /* the picture of the last step or reset */
    const char *(*core_path)(env *e);   /* the emulator core it runs (a .so path) */
    const char *(*last_state)(env *e);  /* the start state the last reset loaded, or NULL;
                                         * safe from any thread (a watchdog's message) */
} env_ops;

struct env {
    const env_ops *ops;
    env_spec spec;
    void *obs; /* set by the owner before reset(): where the next observation is written */

    float reward; /* of the last step */
    uint8_t terminated, truncated;
    env_episode episode; /* the running episode; final totals when it has just ended */
    uint64_t frames;     /* emulated frames since creation (0 for non-emulator envs) */
};

/* An observation: uint8 screens [c][h][w], then (obs_vars > 0) float vars from the next
 * multiple of 4 bytes on; or float [c*h*w]. */
static inline size_t env_obs_vars_offset(const env_spec *s)
{
    return ((size_t)s->obs_c * (size_t)s->obs_h * (size_t)s->obs_w + 3) & ~(size_t)3;
}

static inline size_t env_obs_bytes(const env_spec *s)
{
    size_t n = (size_t)s->obs_c * (size_t)s->obs_h * (size_t)s->obs_w;
    if (s->obs_type == ENV_OBS_F32) return n * sizeof(float);
    return s->obs_vars ? env_obs_vars_offset(s) + (size_t)s->obs_vars * sizeof(float) : n;
}

static inline gb_error *env_reset(env *e)
{
    return e->ops->reset(e);
}
static inline gb_error *env_step(env *e, int action)
{
    return e->ops->step(e, action);
}
static inline void env_close(env *e)
{
    if (e) e->ops->close(e);
}
/* The optional ops, NULL where the env has none. */
static inline const core_frame *env_frame(env *e)
{
    return e->ops->frame ? e->ops->frame(e) : NULL;
}
static inline const char *env_core_path(env *e)
{
    return e->ops->core_path ? e->ops->core_path(e) : NULL;
}
static inline const char *env_last_state(env *e)
{
    return e->ops->last_state ? e->ops->last_state(e) : NULL;
}

#endif
