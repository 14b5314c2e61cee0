/* A training run's life behind one call: its directory (config.json, checkpoints, Monitor
 * files, TensorBoard), resume and the rewind of its logs, the checkpoint cadence, stop
 * signals, the watchdog's report and the closing summary. The CLI turns flags into a
 * run_config and a train_config; run_train does the rest.
 *
 * Under MPI (dist.h) every rank calls run_train: rank 0 owns the directory and the log, each
 * rank writes its own envs' monitor_<rank>_<env>.csv into its copy of the directory. */
#ifndef GBFARM_RUN_H
#define GBFARM_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "gbfarm/env.h"
#include "gbfarm/error.h"
#include "gbfarm/train.h"

typedef struct run_config {
    const char *dir;      /* the run directory */
    const char *name;     /* what trains, for the log's first line (a game folder, "cartpole") */
    bool resume;          /* go on with dir's run from its newest intact checkpoint */
    bool extend;          /* resume with a new total_steps: written back to config.json */
    bool no_fallback;     /* resume: a damaged latest checkpoint is an error */
    int checkpoint_every; /* updates between latest.safetensors (10) */
    int keep_every;       /* updates between kept update_<N>.safetensors (100; 0 never) */
    int keep_last;        /* how many update_<N> stay, the newest (0: all) */
    double log_interval;  /* seconds between progress lines off a terminal (10) */
    const char *save;     /* also write the final checkpoint here, or NULL */
    const json_t *config; /* a new run's config.json */
} run_config;

/* What only the caller knows about its envs; every member optional. */
typedef struct run_hooks {
    void *ctx;
    /* On env_index's thread after each of its steps, and with e NULL as the env closes. */
    void (*on_step)(void *ctx, int env_index, env *e, int action);
    /* On the main thread after each update: an error a hook met stops the run. */
    gb_error *(*poll)(void *ctx);
    /* What the watchdog's message says about a hung env, e.g. " (core X, start state Y)". */
    void (*describe)(void *ctx, int env_index, char *buf, size_t n);
} run_hooks;

typedef struct run_result {
    /* An env hung: its thread cannot be joined, so the process must exit without the usual
     * teardown (no exit handlers). */
    bool env_stuck;
} run_result;

gb_error *run_train(const run_config *rc, const train_config *tc, env_make_fn make, void *make_ctx,
                    const run_hooks *hooks, run_result *result);

/* For --resume: dir's config.json, read by rank 0 and (under MPI) sent to the others. */
gb_error *run_read_config(const char *dir, json_t **out);

#endif
