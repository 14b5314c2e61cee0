/* Time for intervals: the monotonic clock, which no date change moves (never for dates: the
 * Monitor and TensorBoard files keep the wall clock). */
#ifndef GBFARM_CLOCK_H
#define GBFARM_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC since some fixed moment. */
double gb_now(void);
/* seconds as a timespec: a duration for nanosleep, or a gb_now() moment for the
 * CLOCK_MONOTONIC waits (clock_nanosleep, a condition variable on that clock). */
struct timespec gb_timespec(double seconds);
/* Seconds of CPU the calling thread has used (CLOCK_THREAD_CPUTIME_ID): a system call, for
 * spans of many steps, not one. */
double gb_thread_cpu(void);

#endif
