/* The actor-critic network: a trunk (Nature CNN over uint8 screen stacks, or an MLP over float
 * vectors), shared by both heads or one per head, a categorical policy head and a value head.
 * A screen observation with variables beside it (spec.obs_vars) adds a one-layer MLP embedding
 * of the variables ("vars.0"), joined to the CNN's features before the heads.
 *
 * Parameters live in one allocation (params); grads, adam_m and adam_v mirror its layout, so
 * the optimizer is one loop and a checkpoint is one write. `tensors` names each view with
 * PyTorch-style names and shapes for safetensors. Forward/backward run on a policy_work, the
 * caller's scratch, so many threads may run forward passes on one policy at once (the
 * weights are read-only then); backward accumulates into grads. */
#ifndef GBFARM_POLICY_H
#define GBFARM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/env.h"
#include "gbfarm/error.h"
#include "gbfarm/rng.h"

typedef enum policy_activation {
    POLICY_ACT_NONE,
    POLICY_ACT_RELU,
    POLICY_ACT_TANH
} policy_activation;

typedef enum policy_cnn {
    POLICY_CNN_NATURE, /* Mnih et al. 2015: 32x8x8/4, 64x4x4/2, 64x3x3/1, fc 512 */
    POLICY_CNN_SMALL,  /* Mnih et al. 2013: 16x8x8/4, 32x4x4/2, fc 256 — a third of the work */
} policy_cnn;

typedef struct policy_config {
    env_spec spec;         /* ENV_OBS_U8 → CNN, ENV_OBS_F32 → MLP */
    int shared_trunk;      /* 1: one trunk feeds both heads (CleanRL Atari); 0: actor and critic */
    int hidden;            /* MLP width (64) or the CNN's fully-connected width (512) */
    int mlp_layers;        /* hidden layers of the MLP (2) */
    policy_activation act; /* MLP activation (tanh); the CNN uses ReLU */
    policy_cnn cnn;        /* the screen trunk */
} policy_config;

/* CleanRL's choices: CNN shared, 512, ReLU; MLP separate, 2 × 64, tanh. */
policy_config policy_config_default(env_spec spec);

typedef enum policy_layer_kind { POLICY_LINEAR, POLICY_CONV } policy_layer_kind;

typedef struct policy_layer {
    policy_layer_kind kind;
    policy_activation act;
    int in_c, in_h, in_w;    /* linear: in_c = input width, in_h = in_w = 1 */
    int out_c, out_h, out_w; /* linear: out_c = output width */
    int k, s;                /* conv kernel and stride */
    size_t w_off, b_off;     /* offsets into params (and grads, adam_m, adam_v) */
} policy_layer;

#define POLICY_MAX_LAYERS  6
#define POLICY_MAX_TENSORS 32

typedef struct policy_trunk {
    policy_layer layers[POLICY_MAX_LAYERS];
    int n;
} policy_trunk;

typedef struct policy_tensor {
    char name[32];
    int ndim;
    int64_t shape[4];
    size_t offset, count; /* in floats */
} policy_tensor;

typedef struct policy {
    policy_config cfg;
    int n_trunks; /* 1 (shared) or 2: trunk[0] feeds the policy head, trunk[n-1] the value */
    policy_trunk trunk[2];
    policy_layer pi_head, v_head;
    policy_layer vars; /* the variables' embedding (vars.out_c = 0: none), whose output the
                        * heads read after the trunk's */
    size_t in_floats;  /* one observation's screens (or vector) as floats */
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    policy_tensor tensors[POLICY_MAX_TENSORS];
    int n_tensors;
    /* While pinned (policy_pin), with float multiplies: the trunks' linear layers transposed
     * ([in][out]), which a pinned batch-1 work multiplies reading only the rows of the inputs
     * that are not 0 (ReLU leaves 67–93% of the fc's inputs 0 in trained policies). One copy
     * for all the works. */
    float *fct[2][POLICY_MAX_LAYERS];
    bool pinned;
} policy;

/* Orthogonal init with gains √2 (hidden), 0.01 (policy head), 1 (value head); zero biases. */
gb_error *policy_create(policy **out, const policy_config *cfg, uint64_t seed);
void policy_free(policy *p);

typedef struct policy_work policy_work;
gb_error *policy_work_create(policy_work **out, const policy *p, int max_batch);
void policy_work_free(policy_work *w);
/* From pin to unpin, forwards on w multiply by p's convolution weights as they were at the
 * pin, arranged for the kernels once instead of at every call: for a stretch of forwards
 * whose weights do not change (a rollout's). */
void policy_work_pin(policy_work *w, const policy *p);
void policy_work_unpin(policy_work *w);
/* From pin to unpin, the pinned works of p also multiply its trunks' linear layers as they
 * were at the pin, transposed once for all of them. One thread pins while none runs a forward
 * (the trainer before a rollout, eval and play once), and unpins before the weights change. */
void policy_pin(policy *p);
void policy_unpin(policy *p);

/* obs: B observations back to back, env_obs_bytes(&spec) apart (uint8 scaled by 1/255 inside,
 * or float).
 * Writes logits [B][n_actions] and values [B]; both point into w, valid until the next call. */
void policy_forward(const policy *p, policy_work *w, const void *obs, int B, float **logits,
                    float **values);
/* After policy_forward on the same w and B: grads += d(loss)/d(params); grads is laid out as
 * params (p->grads, or a thread's own buffer). */
void policy_backward(const policy *p, policy_work *w, float *grads, const float *dlogits,
                     const float *dvalues, int B);

/* One observation: samples an action from r; returns its log-probability and the value. */
void policy_act(const policy *p, policy_work *w, const void *obs, rng *r, int *action,
                float *logprob, float *value);
float policy_value(const policy *p, policy_work *w, const void *obs);
/* One observation: the most likely action (the first of equals). */
int policy_greedy(const policy *p, policy_work *w, const void *obs);

/* Categorical distribution helpers over n logits. */
void policy_log_softmax(float *logp, const float *logits, int n);
float policy_entropy(const float *logp, int n);
int policy_sample(const float *logp, int n, rng *r);

#endif
