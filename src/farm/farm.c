#include "gbfarm/farm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A counting barrier on a mutex and a condition variable. Unlike pthread_barrier_t its count
 * can shrink, which lets a farm whose thread creation failed half-way still shut down. */
typedef struct barrier {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int count, waiting;
    unsigned generation;
} barrier;

static void barrier_init(barrier *b, int count)
{
    pthread_condattr_t attr; /* a monotonic clock for the watchdog's timed waits */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mutex, NULL);
    pthread_cond_init(&b->cond, &attr);
    pthread_condattr_destroy(&attr);
    b->count = count;
    b->waiting = 0;
    b->generation = 0;
}

static void barrier_wait(barrier *b)
{
    pthread_mutex_lock(&b->mutex);
    unsigned gen = b->generation;
    if (++b->waiting == b->count) {
        b->waiting = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cond);
    } else {
        while (gen == b->generation) pthread_cond_wait(&b->cond, &b->mutex);
    }
    pthread_mutex_unlock(&b->mutex);
}

static void barrier_destroy(barrier *b)
{
    pthread_mutex_destroy(&b->mutex);
    pthread_cond_destroy(&b->cond);
}

typedef struct worker {
    farm *f;
    int index;
    pthread_t thread;
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
    bool stopping;  /* written by main only while the workers are parked */
    unsigned round; /* likewise */
    barrier start, done;
    worker *workers;
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    farm *f = w->f;
    for (;;) {
        barrier_wait(&f->start);
        if (f->stopping) return NULL;
        f->work(f->ctx, w->index);
        atomic_store_explicit(&w->finished, f->round, memory_order_relaxed);
        barrier_wait(&f->done);
    }
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
    f->n = n_workers;
    f->work = work;
    f->ctx = ctx;
    f->workers = ws;
    barrier_init(&f->start, n_workers + 1);
    barrier_init(&f->done, n_workers + 1);
    for (int i = 0; i < n_workers; i++) {
        ws[i].f = f;
        ws[i].index = i;
        int rc = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
        if (rc != 0) {
            pthread_mutex_lock(&f->start.mutex);
            f->start.count = i + 1; /* the workers that started, plus main */
            pthread_mutex_unlock(&f->start.mutex);
            f->n = i;
            farm_stop(f);
            return gb_errorf("farm: cannot start thread %d of %d: %s", i + 1, n_workers,
                             strerror(rc));
        }
    }
    *out = f;
    return NULL;
}

void farm_round(farm *f)
{
    f->round++;
    barrier_wait(&f->start);
    barrier_wait(&f->done);
}

void farm_progress(farm *f, int index)
{
    worker *w = &f->workers[index];
    uint64_t p = atomic_load_explicit(&w->progress, memory_order_relaxed);
    atomic_store_explicit(&w->progress, p + 1, memory_order_relaxed);
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The first worker, in index order, that has not finished this round and whose progress
 * counter has not moved for timeout_s; -1 when there is none, or while any other unfinished
 * worker may still be moving (so that once main gives up, no worker but stuck ones runs). */
static int find_stuck(farm *f, double timeout_s)
{
    double t = monotonic_now();
    int stuck = -1;
    bool moving = false;
    for (int i = 0; i < f->n; i++) {
        worker *w = &f->workers[i];
        if (atomic_load_explicit(&w->finished, memory_order_relaxed) == f->round) continue;
        uint64_t p = atomic_load_explicit(&w->progress, memory_order_relaxed);
        if (p != w->seen) w->seen = p, w->seen_at = t;
        if (t - w->seen_at < timeout_s) moving = true;
        else if (stuck < 0) stuck = i;
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
    double t0 = monotonic_now();
    for (int i = 0; i < f->n; i++) {
        f->workers[i].seen = atomic_load_explicit(&f->workers[i].progress, memory_order_relaxed);
        f->workers[i].seen_at = t0;
    }
    barrier_wait(&f->start);

    /* barrier_wait(&f->done), waking up now and then to look at the workers' progress. */
    double poll = timeout_s / 10 < 0.01 ? 0.01 : timeout_s / 10 > 1 ? 1 : timeout_s / 10;
    barrier *b = &f->done;
    int stuck = -1;
    pthread_mutex_lock(&b->mutex);
    unsigned gen = b->generation;
    if (++b->waiting == b->count) {
        b->waiting = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cond);
    } else {
        while (gen == b->generation) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            long ns = until.tv_nsec + (long)(poll * 1e9);
            until.tv_sec += ns / 1000000000L;
            until.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&b->cond, &b->mutex, &until);
            if (gen == b->generation && (stuck = find_stuck(f, timeout_s)) >= 0) {
                b->waiting--; /* main leaves; the round never completes */
                break;
            }
        }
    }
    pthread_mutex_unlock(&b->mutex);
    return stuck;
}

void farm_stop(farm *f)
{
    if (!f) return;
    f->stopping = true;
    barrier_wait(&f->start);
    for (int i = 0; i < f->n; i++) pthread_join(f->workers[i].thread, NULL);
    barrier_destroy(&f->start);
    barrier_destroy(&f->done);
    free(f->workers);
    free(f);
}

int farm_workers(const farm *f) { return f->n; }
