#include "gbfarm/clock.h"

double gb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double gb_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct timespec gb_timespec(double seconds)
{
    time_t s = (time_t)seconds;
    long ns = (long)((seconds - (double)s) * 1e9);
    /* a fraction a hair under 1 can round up to 1e9, which the waits reject (EINVAL) */
    return (struct timespec){s, ns > 999999999L ? 999999999L : ns};
}
