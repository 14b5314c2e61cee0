/* A small, fast, seedable RNG (PCG32). Each env owns one stream derived from the run seed
 * and its index, so any env is reproducible on its own and no result depends on threads. */
#ifndef GBFARM_RNG_H
#define GBFARM_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t state;
    uint64_t inc;
} rng;

void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng *r);
uint32_t rng_below(rng *r, uint32_t n); /* uniform in [0, n), unbiased; n > 0 */
float rng_uniform(rng *r);              /* uniform in [0, 1) with 24 random bits */
float rng_normal(rng *r);               /* standard normal (Box-Muller) */

#endif
