/* The training loop, generic over env.h: a farm of N worker threads, one env each, collects
 * rollouts of T steps into a [env][t] buffer with no locks in the per-step path; the main
 * thread runs the PPO update between rounds while the workers are parked.
 *
 * An env is made by an env_make_fn ON its worker thread (emulator cores must be driven by the
 * thread that created them), and closed on it too. Same seed, env count and BLAS thread count
 * give bit-identical weights: nothing depends on which thread runs first. */
#ifndef GBFARM_TRAIN_H
#define GBFARM_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "gbfarm/archive.h"
#include "gbfarm/env.h"
#include "gbfarm/error.h"
#include "gbfarm/policy.h"
#include "gbfarm/ppo.h"

/* Makes env `index` (0..n_envs-1). `seed` is the env's own seed, distinct from the action
 * streams; an env derives its randomness from (seed, index). */
typedef gb_error *(*env_make_fn)(void *ctx, int index, uint64_t seed, env **out);

typedef struct train_config {
    int n_envs;          /* 8 */
    int64_t total_steps; /* env steps over all envs (10M); rounded down to whole updates */
    int rollout_steps;   /* T per env per update (128) */
    float lr;            /* 2.5e-4 */
    int anneal_lr;       /* 1: linear to 0 over the run */
    int anneal_ent;      /* 1: the entropy bonus too (0) */
    float gamma;         /* 0.99 */
    float gae_lambda;    /* 0.95 */
    ppo_config ppo;      /* epochs, minibatches, clip, vf/ent coefs, grad norm, target KL */
    uint64_t seed;       /* 1 */
    int shared_trunk;    /* -1: the network's default (CNN shared, MLP separate), 0 or 1 */
    int hidden;          /* 0: the network's default (CNN 512 / small CNN 256, MLP 64) */
    int cnn;             /* policy_cnn: POLICY_CNN_SMALL (the default: Game Boy screens are
                          * small and simple) or POLICY_CNN_NATURE */
    int update_threads;  /* threads for the update (minibatch shards); 0: every core */
    int bf16;            /* 1: the convolutions multiply in bf16, summing in floats (nn_set_bf16:
                          * a CPU with AVX512_BF16), in the rollouts and the update alike */
    /* The watchdog: a round in which an env makes no progress (no step, no reset) for this
     * many seconds fails with an error and leaves the farm stuck (train_stuck_env); 0: off. */
    double watchdog_seconds; /* 120 */
    /* The NaN guard: an update whose losses, gradient norm or new parameters are not all
     * finite is undone (weights and Adam's state as before it) and counted; this many in a
     * row stop the run with an error (3). */
    int max_bad_updates;
    /* The start-state archive the envs share (archive.h), or NULL: merged after each rollout
     * (workers parked), kept in checkpoints. One rank only. */
    archive *archive;
} train_config;

train_config train_config_default(void);

typedef struct train_episode {
    int env_index;
    env_episode episode;
} train_episode;

typedef struct train_stats {
    int64_t update, num_updates; /* 1-based update just done, and how many in all */
    int64_t global_step;         /* env steps so far, over all envs */
    int64_t frames;              /* emulated frames so far, over all envs (0 for CartPole) */
    float lr;
    float ent_coef; /* the entropy bonus this update used */
    ppo_stats ppo;
    const train_episode *episodes; /* finished during this rollout, in env order */
    int n_episodes;
    int64_t total_episodes;
    float mean_return_20; /* the last 20 episodes (NAN before the first) */
    double rollout_seconds, update_seconds, elapsed_seconds;
    /* Summed over the env threads, within the rollout: stepping envs, and everything else in
     * the step loop (policy forward passes, sampling, buffer writes, resets). The rest of
     * rollout_seconds x n_envs is GAE and waiting at the barrier for the slowest env. */
    double env_seconds, policy_seconds;
    /* The env threads' CPU time in env steps and resets (their rollout CPU time split as their
     * clock time was): what the envs alone would need, whatever the threads waited for. */
    double env_cpu_seconds;
    double sps;                     /* env steps per second over this iteration */
    bool undone;                    /* this update was not finite and was undone (the NaN guard) */
    int64_t undone_updates;         /* how many so far in the run */
    int archive_cells, archive_new; /* the archive's cells, and those new this rollout */
    int64_t archive_best;           /* its best score */
} train_stats;

typedef struct train_callbacks {
    void *ctx;
    /* On env_index's worker thread as its episode ends: touch only per-env state. */
    void (*on_episode)(void *ctx, int env_index, const env_episode *ep);
    /* On env_index's worker thread after each of its steps (the viewer watches env 0 with
     * it), and once more there as the env closes (step NULL). Optional. */
    void (*on_step)(void *ctx, int env_index, env *e, int action);
    /* On the main thread after each update; an error stops the run. */
    gb_error *(*on_update)(void *ctx, const train_stats *st);
} train_callbacks;

typedef struct train train;

/* Starts the farm and makes the envs (on their threads), the policy and the optimizer. */
gb_error *train_create(train **out, const train_config *cfg, env_make_fn make, void *make_ctx,
                       const train_callbacks *cb);
/* One rollout (workers), GAE (workers, own slices), one PPO update (main). An env whose
 * reward or float observation is not finite fails the rollout with an error naming it. */
gb_error *train_iteration(train *t, train_stats *st);
int train_finished(const train *t);
/* Env steps and emulated frames so far, over all envs (between iterations). */
void train_counts(const train *t, int64_t *steps, int64_t *frames);
/* Closes the envs on their threads and stops the farm; NULL is fine. */
void train_free(train *t);

/* create, iterate until total_steps, optionally save the final checkpoint, free. */
gb_error *train_run(const train_config *cfg, env_make_fn make, void *make_ctx,
                    const train_callbacks *cb, const char *save_path);

/* Under MPI (dist.h) each rank runs its own farm of n_envs envs, seeded apart (rank 0 as a
 * one-rank run); updates sum the gradients of every rank's share of each minibatch, so all
 * ranks keep the same weights, checked by a hash after every update. total_steps and
 * global_step count every rank's steps.
 *
 * Checkpoints: weights, Adam moments and step, counters, every env's action RNG, the shuffle
 * RNG and every env's snapshot (emulator state, observation, episode so far), so a run
 * resumed from one continues exactly as the uninterrupted run would. Saving runs a round on
 * the env threads, so call it between iterations. Every tensor carries a checksum
 * (safetensors.h): train_load refuses a damaged file, before changing anything, and warns
 * about one written without checksums. */
policy *train_policy(train *t);
const train_config *train_get_config(const train *t);
gb_error *train_save(train *t, const char *path);
gb_error *train_load(train *t, const char *path);

/* After the watchdog fired: the env that made no progress, else -1. The stuck thread cannot
 * be joined, so the train is done for: train_save still writes the learner (weights,
 * optimizer, counters, RNGs) without env snapshots, and train_free leaves the farm and
 * everything its threads may touch allocated, for the process to exit. */
int train_stuck_env(const train *t);
/* The same, for a report: which env, how long it made no progress, in which phase ("a
 * rollout", "a snapshot", ...), during which update. False when no env is stuck. */
typedef struct train_stuck {
    int env;
    double seconds;
    const char *phase;
    int64_t update;
} train_stuck;
bool train_stuck_report(const train *t, train_stuck *out);
/* What the last train_load took: 0 nothing (a rank-0 train_load(t, NULL): a fresh start),
 * the job's rank count when everything (learner, RNGs, episodes, env snapshots), -1 the
 * learner alone (a checkpoint of another rank count: every env starts fresh). Under MPI rank
 * 0 calls train_load with each path it tries (a file that fails its checks sends nothing),
 * or with NULL for a fresh start; the other ranks call it once, with NULL, and receive. */
int train_loaded_ranks(const train *t);
/* How many envs the last train_load restored from snapshots: 0 after a checkpoint written
 * without them (a watchdog's), whose envs start fresh episodes. */
int train_restored_envs(const train *t);
/* Episodes env_index has finished since the run began; after train_load, as many as the
 * checkpoint had seen (a resumed run's logs keep those and drop the ones after). */
int64_t train_env_episodes(const train *t, int env_index);

#endif
