/* Episodes on one env with a trained policy (sampled or greedy) or a uniform random one:
 * each episode's return and length, info variables' values at its end, and a GIF of the
 * first episode (gbfarm eval). */
#ifndef GBFARM_EVAL_H
#define GBFARM_EVAL_H

#include "gbfarm/env.h"
#include "gbfarm/error.h"
#include "gbfarm/game_args.h"
#include "gbfarm/gif.h"
#include "gbfarm/policy.h"

enum { EVAL_MAX_VARS = 8 };

typedef struct eval_options {
    const char *checkpoint, *record; /* NULL checkpoint: the random policy */
    int episodes, greedy, random, hidden;
    uint64_t seed;
    const char *vars[EVAL_MAX_VARS]; /* info variables to report */
    int n_vars;
} eval_options;

/* What an evaluation holds while it runs, and its results. */
typedef struct eval_run {
    game_setup s;
    env *e;
    policy *p; /* NULL: the random policy */
    policy_work *w;
    gif_recorder *gif; /* until the first episode ends */
    uint8_t *obs;
    int var_index[EVAL_MAX_VARS];
    double *ret, *len, *val; /* [episodes] each, and val [n_vars][episodes] */
    double explored;
} eval_run;

/* Opens the setup's game (into r->s) and runs o->episodes episodes; r keeps the results for
 * the caller, then eval_close. */
gb_error *eval_episodes(eval_run *r, const eval_options *o, const game_args *a);
void eval_close(eval_run *r);

#endif
