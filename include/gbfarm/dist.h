/* Data-parallel training across processes (ranks): MPI when gbfarm is built with
 * -DGBFARM_MPI=ON and started by a launcher (mpirun, srun), else one process, for which
 * every call here is a no-op or the identity.
 *
 * Only the main thread of a rank calls these (MPI_THREAD_FUNNELED). Every collective is
 * called by all ranks in the same order; a rank that fails ends the whole job (dist_abort),
 * so that no other rank waits in a collective forever. */
#ifndef GBFARM_DIST_H
#define GBFARM_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

/* Starts MPI when a launcher started this process (its environment says so); otherwise, or
 * in a build without MPI, a job of one rank. Idempotent. */
gb_error *dist_init(int *argc, char ***argv);
void dist_finalize(void);
/* Whether this build can run under MPI at all. */
bool dist_available(void);

int dist_rank(void);
int dist_size(void);
const char *dist_host(void); /* this rank's host name */

/* In place: the element-wise sum over all ranks, identical on every rank. */
void dist_sum_f32(float *x, size_t n);
void dist_sum_f64(double *x, size_t n);
/* The largest of every rank's value (e.g. "any rank asked to stop"). */
int64_t dist_max_i64(int64_t v);
/* Whether every rank passed the same value. */
bool dist_same_u64(uint64_t v);
/* root's bytes to every rank. */
void dist_bcast(void *buf, size_t bytes, int root);
/* A blob from one rank to another: the size, then the bytes; dist_recv mallocs *out. */
void dist_send(const void *data, size_t size, int to);
gb_error *dist_recv(uint8_t **out, size_t *size, int from);
void dist_barrier(void);

/* Prints "gbfarm: rank R (host): message" and ends every rank of the job. With one rank,
 * returns (the caller exits as usual). */
void dist_abort(const char *message);

#endif
