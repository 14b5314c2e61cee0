#include "gbfarm/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/clock.h"

typedef struct pool_thread {
    pool *p;
    int index;
    pthread_t thread;
} pool_thread;

struct pool {
    int n;     /* threads in a round, the caller included when it is thread 0 */
    int first; /* the index of the pool's first own thread: 1 when the caller is thread 0 */
    int started;
    pool_thread *threads; /* [n]; the caller's entry unused */
    pthread_mutex_t mu;
    pthread_cond_t go, done; /* done on CLOCK_MONOTONIC, for pool_wait's deadline */
    /* Under mu: a round is a new generation; pending counts its calls still running. Atomic
     * so that a spinning thread may poll them without mu; it then takes mu to read them. */
    atomic_uint gen;
    atomic_int pending;
    bool quit;
    pool_fn fn;
    void *ctx;
};

/* The update's rounds follow each other within microseconds (a minibatch's shards, the
 * gradients' sum, Adam), where waking a sleeping thread takes tens of them, more on a virtual
 * machine whose idle CPU must be woken too. Its threads poll for this long first. */
#define SPIN_SECONDS 200e-6

/* Polls for up to SPIN_SECONDS while the pool's generation is gen (a thread waiting for the
 * next round), or while calls are pending (the caller waiting for the round's end). */
static void spin(const pool *p, unsigned gen, bool for_round)
{
    double until = gb_now() + SPIN_SECONDS;
    for (int i = 1;; i++) {
        if (for_round ? atomic_load_explicit(&p->gen, memory_order_relaxed) != gen
                      : atomic_load_explicit(&p->pending, memory_order_relaxed) == 0)
            return;
        sched_yield(); /* where other threads want this CPU (a shared machine), they get it */
        if (i % 16 == 0 && gb_now() > until) return;
    }
}

/* Whether threads poll before they sleep: in the update's pool, whose caller is thread 0. */
static bool spins(const pool *p)
{
    return p->first == 1;
}

static void *thread_main(void *arg)
{
    pool_thread *t = arg;
    pool *p = t->p;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (spins(p) && p->gen == seen && !p->quit) {
            pthread_mutex_unlock(&p->mu);
            spin(p, seen, true);
            pthread_mutex_lock(&p->mu);
        }
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, t->index);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_free(pool *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

gb_error *pool_start(pool **out, int n, bool caller_is_first)
{
    *out = NULL;
    if (n < 1) return gb_errorf("need at least 1 thread, got %d", n);
    pool *p = calloc(1, sizeof *p);
    pool_thread *ts = calloc((size_t)n, sizeof *ts);
    if (!p || !ts) {
        free(p);
        free(ts);
        return gb_errorf("out of memory for %d threads", n);
    }
    p->n = n;
    p->first = p->started = caller_is_first ? 1 : 0;
    p->threads = ts;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* gb_now's clock */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, &attr);
    pthread_condattr_destroy(&attr);
    for (int i = p->first; i < n; i++) {
        ts[i] = (pool_thread){.p = p, .index = i};
        int rc = pthread_create(&ts[i].thread, NULL, thread_main, &ts[i]);
        if (rc != 0) {
            pool_stop(p); /* the threads that did start */
            return gb_errorf("cannot start thread %d of %d: %s", i + 1, n, strerror(rc));
        }
        p->started++;
    }
    *out = p;
    return NULL;
}

void pool_begin(pool *p, pool_fn fn, void *ctx)
{
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->ctx = ctx;
    p->pending = p->n - p->first;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
}

bool pool_wait(pool *p, double timeout_s)
{
    if (spins(p) && timeout_s < 0) spin(p, 0, false);
    struct timespec until = gb_timespec(timeout_s < 0 ? 0 : gb_now() + timeout_s);
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0 && rc != ETIMEDOUT)
        rc = timeout_s < 0 ? pthread_cond_wait(&p->done, &p->mu)
                           : pthread_cond_timedwait(&p->done, &p->mu, &until);
    bool finished = p->pending == 0;
    pthread_mutex_unlock(&p->mu);
    return finished;
}

void pool_round(pool *p, pool_fn fn, void *ctx)
{
    if (p->n == p->first) { /* the caller alone: no thread to wake */
        fn(ctx, 0);
        return;
    }
    pool_begin(p, fn, ctx);
    if (p->first == 1) fn(ctx, 0);
    pool_wait(p, -1);
}

void pool_stop(pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = p->first; i < p->started; i++) pthread_join(p->threads[i].thread, NULL);
    pool_free(p);
}

int pool_size(const pool *p)
{
    return p->n;
}
