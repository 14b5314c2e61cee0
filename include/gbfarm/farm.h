/* The farm: N worker threads, one per environment, released in rounds by the main thread.
 *
 *   farm_round(f): releases every worker into work(ctx, index) and returns once all have
 *   finished (a round of a pool.h pool). Between rounds the workers are parked, so the main
 *   thread may freely read what they wrote and write what they will read (e.g. new weights).
 *   Worker i is the same thread for the farm's life: the env it makes there stays on it. */
#ifndef GBFARM_FARM_H
#define GBFARM_FARM_H

#include "gbfarm/error.h"

typedef struct farm farm;
typedef void (*farm_work_fn)(void *ctx, int index);

gb_error *farm_start(farm **out, int n_workers, farm_work_fn work, void *ctx);
void farm_round(farm *f);
/* The watchdog. A worker calls farm_progress(f, index) as it gets on (a relaxed atomic store:
 * nothing in the hot path waits), and farm_round_watch runs a round like farm_round but stops
 * waiting when every worker that has not finished has made no progress for timeout_s seconds.
 * It returns the first such worker's index, or -1 when the round completed (timeout_s <= 0:
 * no watch). Workers that finish are parked as usual; none but the stuck ones still run.
 * After a timeout the farm is stuck for good: a stuck thread cannot be joined, so run no more
 * rounds and do not farm_stop it; save what the main thread owns and exit. */
void farm_progress(farm *f, int index);
int farm_round_watch(farm *f, double timeout_s);
void farm_stop(farm *f); /* joins the workers and frees f; NULL is fine */
int farm_workers(const farm *f);

#endif
