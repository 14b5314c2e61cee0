/* The env-only farm benchmark (gbfarm bench): N envs, one thread each, stepping with a
 * uniform random policy for a fixed time, optionally the bare core alone (retro_run in a
 * loop) after it. Each measurement runs in a forked child, so that its memory figures start
 * from a clean process and no env count inherits another's heap. */
#ifndef GBFARM_BENCH_H
#define GBFARM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "gbfarm/error.h"
#include "gbfarm/game_args.h"

#define BENCH_MAX_PER_ENV 64 /* envs whose own steps/s are reported */

typedef struct bench_result {
    double seconds, frames, steps, episodes;
    double raw_seconds, raw_frames;
    double rss_base_mb, rss_envs_mb;   /* memory (PSS) before any env, after all envs are made */
    double env_sps[BENCH_MAX_PER_ENV]; /* each env's own steps/s */
    char error[512];
} bench_result;

/* n envs of the setup for `seconds`; raw: then the bare cores; visualize: env 0 in a window,
 * uncapped. */
gb_error *bench_measure(const game_setup *s, const game_args *a, int n, double seconds, bool raw,
                        bool visualize, uint64_t seed, bench_result *out);

#endif
