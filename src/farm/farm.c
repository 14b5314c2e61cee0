#include "gbfarm/farm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
    pthread_mutex_init(&b->mutex, NULL);
    pthread_cond_init(&b->cond, NULL);
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
} worker;

struct farm {
    int n;
    farm_work_fn work;
    void *ctx;
    bool stopping; /* written by main only while the workers are parked */
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
    barrier_wait(&f->start);
    barrier_wait(&f->done);
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
