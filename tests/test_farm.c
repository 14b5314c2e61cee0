/* The farm: every worker runs exactly once per round, on its own thread, in parallel, and
 * what the main thread writes between rounds is what the workers see (no data race: this
 * test runs under ThreadSanitizer in CI). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gbfarm/farm.h"

#define WORKERS 4
#define ROUNDS  200

typedef struct ctx {
    int round_value;           /* written by main between rounds */
    int seen[WORKERS];         /* each worker's copy of round_value */
    int calls[WORKERS];        /* each worker's call count */
    pthread_t thread[WORKERS]; /* the thread each worker ran on */
    volatile int arrived;      /* for the parallelism check */
    pthread_mutex_t lock;
    int max_concurrent, running;
} ctx;

static void work(void *arg, int index)
{
    ctx *c = arg;
    c->seen[index] = c->round_value;
    c->calls[index]++;
    c->thread[index] = pthread_self();
}

/* Each worker waits until all are inside work() at once: only possible if they run
 * concurrently. A timeout keeps a serial farm from hanging the test. */
static void work_together(void *arg, int index)
{
    ctx *c = arg;
    pthread_mutex_lock(&c->lock);
    c->running++;
    if (c->running > c->max_concurrent) c->max_concurrent = c->running;
    pthread_mutex_unlock(&c->lock);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        int all = c->max_concurrent == WORKERS;
        pthread_mutex_unlock(&c->lock);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (all || t.tv_sec - start.tv_sec > 5) break;
    }
    pthread_mutex_lock(&c->lock);
    c->running--;
    pthread_mutex_unlock(&c->lock);
    (void)index;
}

int main(void)
{
    ctx c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    farm *f;
    REQUIRE_OK(farm_start(&f, WORKERS, work, &c));
    CHECK(farm_workers(f) == WORKERS);
    int consistent = 1;
    for (int r = 0; r < ROUNDS; r++) {
        c.round_value = r * 7 + 1;
        farm_round(f);
        for (int i = 0; i < WORKERS; i++)
            if (c.seen[i] != r * 7 + 1 || c.calls[i] != r + 1) consistent = 0;
    }
    CHECK(consistent);
    int distinct = 1;
    for (int i = 0; i < WORKERS; i++)
        for (int j = i + 1; j < WORKERS; j++)
            if (pthread_equal(c.thread[i], c.thread[j])) distinct = 0;
    CHECK(distinct);
    farm_stop(f);

    REQUIRE_OK(farm_start(&f, WORKERS, work_together, &c));
    farm_round(f);
    farm_stop(f);
    CHECKF(c.max_concurrent == WORKERS, "only %d of %d workers ran at once", c.max_concurrent,
           WORKERS);

    gb_error *err = farm_start(&f, 0, work, &c);
    CHECK(err != NULL && f == NULL);
    gb_error_free(err);
    farm_stop(NULL);
    pthread_mutex_destroy(&c.lock);
    return check_summary();
}
