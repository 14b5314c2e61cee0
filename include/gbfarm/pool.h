/* A pool of threads that run in rounds: pool_round(p, fn, ctx) runs fn(ctx, i) once on each
 * thread i of n and returns when every call has returned. Between rounds the threads wait on
 * a condition variable, so the caller may freely read what they wrote and write what they
 * will read; a round's fn and ctx are the caller's to choose each time.
 *
 * Index i is the same thread in every round, for the pool's life: what a thread made there
 * stays with it (a libretro core must be driven by the thread that opened it).
 *
 * With caller_is_first the calling thread is thread 0 (it runs fn(ctx, 0) inside pool_round)
 * and n - 1 threads are started: the PPO update, whose rounds come microseconds apart, so its
 * threads (and the caller, for a round's end) poll for 200 µs before they sleep. Otherwise all n
 * are the pool's own and the caller only waits: the farm, whose watchdog watches a round from
 * outside it. */
#ifndef GBFARM_POOL_H
#define GBFARM_POOL_H

#include <stdbool.h>

#include "gbfarm/error.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *ctx, int index);

gb_error *pool_start(pool **out, int n, bool caller_is_first);
void pool_round(pool *p, pool_fn fn, void *ctx);
/* A round in two halves, for a caller that does something while it runs (the farm's
 * watchdog); only in a pool whose threads are all its own. pool_begin releases the threads
 * into fn and returns at once; pool_wait waits up to timeout_s seconds (< 0: for as long as it
 * takes) and returns whether the round has finished. Wait until it has before the next round. */
void pool_begin(pool *p, pool_fn fn, void *ctx);
bool pool_wait(pool *p, double timeout_s);
/* Joins the threads and frees p; NULL is fine. Only after a finished round: a thread that
 * never returns from fn cannot be joined. */
void pool_stop(pool *p);
int pool_size(const pool *p); /* n, the caller included when it is thread 0 */

#endif
