/* Loading a trained policy alone, for playing and evaluation: the weights of a checkpoint
 * written by train_save (PyTorch-style names), without the optimizer or the farm. */
#ifndef GBFARM_POLICY_LOAD_H
#define GBFARM_POLICY_LOAD_H

#include "gbfarm/env.h"
#include "gbfarm/error.h"
#include "gbfarm/policy.h"

/* Builds the default network for spec (the trunk sharing the checkpoint's metadata records;
 * hidden > 0 overrides the default width) and copies the checkpoint's weights into it. A
 * checkpoint of another shape fails with the tensor, both shapes and a hint. */
gb_error *policy_load(policy **out, env_spec spec, int hidden, const char *path);

#endif
