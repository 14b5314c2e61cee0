/* PPO as "The 37 Implementation Details of PPO" (CleanRL) describes it: a rollout buffer laid
 * out [env][t], GAE(λ) per env with truncation bootstrapping, and an update of epochs ×
 * shuffled minibatches with per-minibatch advantage normalisation, clipped surrogate, clipped
 * value loss, entropy bonus, global gradient-norm clipping, Adam (eps 1e-5) and an optional
 * approximate-KL early stop. */
#ifndef GBFARM_PPO_H
#define GBFARM_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"
#include "gbfarm/policy.h"
#include "gbfarm/rng.h"

/* Every array is [env][t] (index env * steps + t), so each env thread writes its own slice. */
typedef struct rollout_buffer {
    int n_envs, steps;
    size_t obs_bytes; /* one observation */
    uint8_t *obs;     /* the observation the action was chosen on */
    int32_t *actions;
    float *logprobs, *values, *rewards;
    uint8_t *ends;      /* the episode ended after this step (terminated or truncated) */
    float *boot_values; /* truncated: value of the final observation; otherwise 0 */
    float *last_values; /* [env]: value of the observation after the last step */
    float *advantages, *returns;
} rollout_buffer;

gb_error *rollout_create(rollout_buffer *rb, int n_envs, int steps, size_t obs_bytes);
void rollout_free(rollout_buffer *rb);

/* GAE(λ) over one env's slice: fills advantages and returns (= advantages + values). */
void ppo_gae(rollout_buffer *rb, int env_index, float gamma, float lambda);

typedef struct ppo_config {
    int epochs;          /* 4 */
    int minibatches;     /* 4 */
    float clip_coef;     /* 0.2 (CleanRL Atari: 0.1) */
    int clip_vloss;      /* 1 */
    int norm_adv;        /* 1 */
    float vf_coef;       /* 0.5 */
    float ent_coef;      /* 0.01 */
    float max_grad_norm; /* 0.5 */
    float target_kl;     /* 0 = no early stop */
    float adam_eps;      /* 1e-5 */
} ppo_config;

ppo_config ppo_config_default(void);

typedef struct ppo_stats {
    float loss, pg_loss, v_loss, entropy, approx_kl, old_approx_kl, clipfrac;
    float explained_var, grad_norm;
    int epochs_done, minibatches_done;
    /* Under MPI: the gradient exchange (one allreduce of every gradient per minibatch). */
    double allreduce_seconds;
    int64_t allreduce_bytes;
} ppo_stats;

/* A minibatch: its observations contiguous in obs, or, with rows, sample s's at row rows[s] of
 * obs (the rollout's), copied out by the update thread that reads it; the rest contiguous. */
typedef struct ppo_batch {
    const void *obs;
    const int32_t *rows;
    const int32_t *actions;
    const float *logprobs, *values, *advantages, *returns;
} ppo_batch;

typedef struct ppo {
    policy *pol;
    policy_work *work;
    int batch, mb_size;
    long adam_t; /* Adam steps taken */
    rng shuffle_rng;
    int32_t *perm; /* [batch] */
    uint8_t *mb_obs;
    int32_t *mb_actions;
    float *mb_f32;               /* logprobs, values, advantages, returns: 4 × mb_size */
    float *adv;                  /* the minibatch's normalised advantages */
    struct ppo_threads *threads; /* the update's threads and shards (ppo_set_threads) */
    double allreduce_seconds;    /* this update's gradient exchange (ppo_stats) */
    int64_t allreduce_bytes;
} ppo;

/* batch = n_envs * steps; the shuffle stream is derived from seed. */
gb_error *ppo_create(ppo **out, policy *p, int batch, int minibatches, uint64_t seed);
void ppo_free(ppo *o);
/* Threads for the update (1 after create): each minibatch is split into n shards computed in
 * parallel with single-threaded BLAS. Results depend on n, not on scheduling. */
gb_error *ppo_set_threads(ppo *o, int n);

/* The PPO loss of one minibatch at the current parameters; with backward, grads are zeroed
 * and set to its gradient. The loss is pg - ent_coef · entropy + vf_coef · v_loss. */
float ppo_minibatch_loss(ppo *o, const ppo_config *c, const ppo_batch *mb, int B, int backward,
                         ppo_stats *st);

/* One PPO update over the whole rollout at learning rate lr. */
void ppo_update(ppo *o, const rollout_buffer *rb, const ppo_config *c, float lr, ppo_stats *st);

#endif
