#include "gbfarm/farm.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "gbfarm/clock.h"
#include "gbfarm/pool.h"

/* The threads, their rounds and their env-for-life binding are the pool's (pool.h); the farm
 * adds what its watchdog needs to tell a stuck worker from a slow one. */
typedef struct worker {
    /* Written by the worker only, read by the watchdog: relaxed atomics, no lock. */
    _Atomic uint64_t progress;
    _Atomic unsigned finished; /* the last round whose work returned */
    /* The watchdog's own bookkeeping, main thread only. */
    uint64_t seen;
    double seen_at;
} worker;

struct farm {
    int n;
    farm_work_fn work;
    void *ctx;
    unsigned round; /* written by main only while the workers are parked */
    pool *threads;
    worker *workers;
};

/* A worker's share of a round: the farm's work, then the mark the watchdog reads. */
static void worker_round(void *arg, int index)
{
    farm *f = arg;
    f->work(f->ctx, index);
    atomic_store_explicit(&f->workers[index].finished, f->round, memory_order_relaxed);
}

gb_error *farm_start(farm **out, int n_workers, farm_work_fn work, void *ctx)
{
    *out = NULL;
    if (n_workers < 1) return gb_errorf("farm: need at least 1 worker, got %d", n_workers);
    farm *f = calloc(1, sizeof *f);
    worker *ws = calloc((size_t)n_workers, sizeof *ws);
    if (!f || !ws) {
        free(f);
        free(ws);
        return gb_errorf("farm: out of memory for %d workers", n_workers);
    }
    *f = (farm){.n = n_workers, .work = work, .ctx = ctx, .workers = ws};
    gb_error *err = pool_start(&f->threads, n_workers, false);
    if (err) {
        free(ws);
        free(f);
        return gb_error_wrap(err, "farm");
    }
    *out = f;
    return NULL;
}

void farm_round(farm *f)
{
    f->round++;
    pool_round(f->threads, worker_round, f);
}

void farm_progress(farm *f, int index)
{
    worker *w = &f->workers[index];
    uint64_t p = atomic_load_explicit(&w->progress, memory_order_relaxed);
    atomic_store_explicit(&w->progress, p + 1, memory_order_relaxed);
}

/* The first worker, in index order, that has not finished this round and whose progress
 * counter has not moved for timeout_s; -1 when there is none, or while any other unfinished
 * worker may still be moving (so that once main gives up, no worker but stuck ones runs). */
static int find_stuck(farm *f, double timeout_s)
{
    double t = gb_now();
    int stuck = -1;
    bool moving = false;
    for (int i = 0; i < f->n; i++) {
        worker *w = &f->workers[i];
        if (atomic_load_explicit(&w->finished, memory_order_relaxed) == f->round) continue;
        uint64_t p = atomic_load_explicit(&w->progress, memory_order_relaxed);
        if (p != w->seen) w->seen = p, w->seen_at = t;
        if (t - w->seen_at < timeout_s)
            moving = true;
        else if (stuck < 0)
            stuck = i;
    }
    return moving ? -1 : stuck;
}

int farm_round_watch(farm *f, double timeout_s)
{
    if (timeout_s <= 0) {
        farm_round(f);
        return -1;
    }
    f->round++;
    double t0 = gb_now();
    for (int i = 0; i < f->n; i++) {
        f->workers[i].seen = atomic_load_explicit(&f->workers[i].progress, memory_order_relaxed);
        f->workers[i].seen_at = t0;
    }
    pool_begin(f->threads, worker_round, f);
    /* The round's end, waking up now and then to look at the workers' progress. Once main
     * gives up, the round never completes: the pool is left as it is, never to be stopped. */
    double poll = timeout_s / 10 < 0.01 ? 0.01 : timeout_s / 10 > 1 ? 1 : timeout_s / 10;
    while (!pool_wait(f->threads, poll)) {
        int stuck = find_stuck(f, timeout_s);
        if (stuck >= 0) return stuck;
    }
    return -1;
}

void farm_stop(farm *f)
{
    if (!f) return;
    pool_stop(f->threads);
    free(f->workers);
    free(f);
}

int farm_workers(const farm *f)
{
    return f->n;
}
