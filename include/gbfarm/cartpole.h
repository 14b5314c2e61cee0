/* CartPole-v1 (Barto, Sutton & Anderson; gym's classic dynamics, Euler, 500-step limit) behind
 * the env interface: observation float[4] = x, ẋ, θ, θ̇; actions 0 = push left, 1 = right;
 * reward 1 per step; terminated when |θ| > 12° or |x| > 2.4, truncated at 500 steps. */
#ifndef GBFARM_CARTPOLE_H
#define GBFARM_CARTPOLE_H

#include <stdint.h>

#include "gbfarm/env.h"

#define CARTPOLE_MAX_STEPS 500

/* The start states are drawn from an RNG seeded with (seed, index). */
gb_error *cartpole_create(env **out, uint64_t seed, int index);

#endif
