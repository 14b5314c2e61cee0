/* The farm: N worker threads, one per environment, released in rounds by the main thread.
 *
 *   farm_round(f): releases every worker into work(ctx, index) and returns once all have
 *   finished — two barrier waits. Between rounds the workers are parked, so the main thread
 *   may freely read what they wrote and write what they will read (e.g. new weights). */
#ifndef GBFARM_FARM_H
#define GBFARM_FARM_H

#include "gbfarm/error.h"

typedef struct farm farm;
typedef void (*farm_work_fn)(void *ctx, int index);

gb_error *farm_start(farm **out, int n_workers, farm_work_fn work, void *ctx);
void farm_round(farm *f);
void farm_stop(farm *f); /* joins the workers and frees f; NULL is fine */
int farm_workers(const farm *f);

#endif
