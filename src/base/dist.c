#include "gbfarm/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef GBFARM_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#endif

static int rank = 0, size = 1;
static char host[256] = "";

bool dist_available(void)
{
#ifdef GBFARM_HAVE_MPI
    return true;
#else
    return false;
#endif
}

const char *dist_host(void)
{
    if (!host[0] && gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "?");
    return host;
}

int dist_rank(void)
{
    return rank;
}

int dist_size(void)
{
    return size;
}

#ifdef GBFARM_HAVE_MPI

static bool started;

/* Open MPI's mpirun, PMI and PMIx launchers (Slurm's srun among them) set one of these. */
static bool under_launcher(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

gb_error *dist_init(int *argc, char ***argv)
{
    if (started || !under_launcher()) return NULL;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return gb_errorf("MPI_Init_thread failed (started by mpirun or srun?)");
    started = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (provided < MPI_THREAD_FUNNELED)
        return gb_errorf("the MPI library gives thread level %d; gbfarm needs FUNNELED (%d)",
                         provided, MPI_THREAD_FUNNELED);
    return NULL;
}

void dist_finalize(void)
{
    if (started) MPI_Finalize();
    started = false;
}

/* MPI counts are ints: large buffers go in chunks. */
#define CHUNK ((size_t)1 << 28)

void dist_sum_f32(float *x, size_t n)
{
    for (size_t at = 0; size > 1 && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, x + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void dist_sum_f64(double *x, size_t n)
{
    for (size_t at = 0; size > 1 && at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, x + at, (int)k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

int64_t dist_max_i64(int64_t v)
{
    if (size > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return v;
}

bool dist_same_u64(uint64_t v)
{
    if (size == 1) return true;
    uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

void dist_bcast(void *buf, size_t bytes, int root)
{
    for (size_t at = 0; size > 1 && at < bytes; at += CHUNK) {
        size_t k = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Bcast((uint8_t *)buf + at, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

void dist_send(const void *data, size_t n, int to)
{
    uint64_t n64 = n;
    MPI_Send(&n64, 1, MPI_UINT64_T, to, 0, MPI_COMM_WORLD);
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        MPI_Send((const uint8_t *)data + at, (int)k, MPI_BYTE, to, 1, MPI_COMM_WORLD);
    }
}

gb_error *dist_recv(uint8_t **out, size_t *n, int from)
{
    uint64_t n64 = 0;
    MPI_Recv(&n64, 1, MPI_UINT64_T, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    uint8_t *buf = malloc(n64 ? (size_t)n64 : 1);
    if (!buf)
        return gb_errorf("rank %d: out of memory for %llu bytes from rank %d", rank,
                         (unsigned long long)n64, from);
    for (size_t at = 0; at < n64; at += CHUNK) {
        size_t k = n64 - at < CHUNK ? n64 - at : CHUNK;
        MPI_Recv(buf + at, (int)k, MPI_BYTE, from, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    *out = buf, *n = (size_t)n64;
    return NULL;
}

void dist_barrier(void)
{
    if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void dist_abort(const char *message)
{
    if (size == 1) return;
    fprintf(stderr, "gbfarm: rank %d (%s): %s\n", rank, dist_host(), message);
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

#else /* one process */

gb_error *dist_init(int *argc, char ***argv)
{
    return NULL;
}

void dist_finalize(void) {}
void dist_sum_f32(float *x, size_t n) {}
void dist_sum_f64(double *x, size_t n) {}
int64_t dist_max_i64(int64_t v)
{
    return v;
}
bool dist_same_u64(uint64_t v)
{
    return true;
}
void dist_bcast(void *buf, size_t bytes, int root) {}
void dist_send(const void *data, size_t n, int to) {}
gb_error *dist_recv(uint8_t **out, size_t *n, int from)
{
    *out = NULL, *n = 0;
    return gb_errorf("dist_recv: a job of one rank has no other rank to receive from");
}
void dist_barrier(void) {}
void dist_abort(const char *message) {}

#endif
