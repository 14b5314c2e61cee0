#include "gbfarm/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gbfarm/clock.h"
#include "gbfarm/dist.h"
#include "gbfarm/farm.h"
#include "gbfarm/nn.h"
#include "gbfarm/rng.h"
#include "gbfarm/safetensors.h"

train_config train_config_default(void)
{
    return (train_config){.n_envs = 8,
                          .total_steps = 10000000,
                          .rollout_steps = 128,
                          .lr = 2.5e-4f,
                          .anneal_lr = 1,
                          .gamma = 0.99f,
                          .gae_lambda = 0.95f,
                          .ppo = ppo_config_default(),
                          .seed = 1,
                          .shared_trunk = -1,
                          .hidden = 0,
                          .cnn = POLICY_CNN_SMALL,
                          .update_threads = 0,
                          .watchdog_seconds = 120,
                          .max_bad_updates = 3};
}

typedef enum train_phase {
    PHASE_CREATE,
    PHASE_ROLLOUT,
    PHASE_SNAPSHOT, /* each env into its worker's snap */
    PHASE_RESTORE,  /* each env from its worker's snap */
    PHASE_CLOSE
} train_phase;

/* Everything one env thread owns. */
typedef struct train_worker {
    env *e;
    void *obs; /* the env's current observation */
    rng rng;   /* action sampling: stream (seed, env index) */
    policy_work *work;
    gb_error *err;
    train_episode *eps; /* finished this rollout */
    int n_eps, cap_eps;
    uint8_t *snap; /* the env's snapshot, between a snapshot or restore round and its use */
    size_t snap_size;
    double env_seconds, policy_seconds; /* this rollout's time in env steps and forward passes */
    double cpu_seconds;                 /* this rollout's CPU time, the thread's own */
} train_worker;

struct train {
    train_config cfg;
    env_make_fn make;
    void *make_ctx;
    train_callbacks cb;
    farm *farm;
    train_phase phase; /* written by main only while the workers are parked */
    train_worker *workers;
    env_spec spec;
    policy *pol;
    ppo *opt;
    rollout_buffer rb;
    int64_t update, num_updates, global_step, total_episodes;
    int64_t *env_episodes; /* [env]: finished in completed rounds, checkpoints included */
    train_episode *eps;    /* gathered for train_stats */
    int cap_eps;
    float last_returns[20]; /* ring of the last 20 episode returns */
    int n_last;
    double t_start;
    int stuck_env; /* the env the watchdog found stuck, or -1: no more rounds then */
    train_phase stuck_phase;
    int restored_envs; /* by the last train_load */
    int loaded_ranks;  /* the same: train_loaded_ranks */
    int rank, ranks;   /* this process in the job (dist.h), and how many */
    /* The NaN guard: weights, Adam's moments and step as they were before the update. */
    float *before;
    int64_t adam_t_before, undone_updates, bad_in_row;
};

static uint64_t env_seed(uint64_t seed)
{
    /* splitmix64: the envs' seed differs from the action streams' (seed, index) */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Rank r's envs and shuffle stream draw from seed ^ rank_mix(r): rank 0's are a one-rank
 * run's. */
static uint64_t rank_mix(int rank)
{
    return (uint64_t)rank * 0xD1B54A32D192ED03ULL;
}

static gb_error *worker_create(train *t, int i, train_worker *w)
{
    GB_TRY(t->make(t->make_ctx, i, env_seed(t->cfg.seed ^ rank_mix(t->rank)), &w->e));
    farm_progress(t->farm, i);
    w->obs = calloc(1, env_obs_bytes(&w->e->spec));
    if (!w->obs) return gb_errorf("train: env %d: out of memory for its observation", i);
    w->e->obs = w->obs;
    rng_seed(&w->rng, t->cfg.seed, (uint64_t)(t->rank * t->cfg.n_envs + i));
    return gb_error_wrap(env_reset(w->e), "env %d: reset", i);
}

static gb_error *record_episode(train *t, int i, train_worker *w)
{
    if (w->n_eps == w->cap_eps) {
        int cap = w->cap_eps ? 2 * w->cap_eps : 16;
        train_episode *p = realloc(w->eps, sizeof *p * (size_t)cap);
        if (!p) return gb_errorf("train: env %d: out of memory for episode records", i);
        w->eps = p, w->cap_eps = cap;
    }
    w->eps[w->n_eps++] = (train_episode){i, w->e->episode};
    if (t->cb.on_episode) t->cb.on_episode(t->cb.ctx, i, &w->e->episode);
    return NULL;
}

/* The float part of an observation (a vector, or the variables after the screens). */
static bool finite_obs(const env_spec *spec, const void *obs)
{
    const float *x = spec->obs_type == ENV_OBS_F32
                         ? obs
                         : (const float *)((const uint8_t *)obs + env_obs_vars_offset(spec));
    int n =
        spec->obs_type == ENV_OBS_F32 ? spec->obs_c * spec->obs_h * spec->obs_w : spec->obs_vars;
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

/* x[0..n) holds no NaN or infinity (all-ones exponents): integer work, so it vectorises. */
static bool all_finite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        bad |= (bits & 0x7F800000u) == 0x7F800000u;
    }
    return !bad;
}

/* One env's rollout of T steps into its own slice [i][0..T), then its GAE. */
static gb_error *worker_rollout(train *t, int i, train_worker *w)
{
    if (!w->work) GB_TRY(policy_work_create(&w->work, t->pol, 1));
    rollout_buffer *rb = &t->rb;
    size_t ob = rb->obs_bytes;
    w->n_eps = 0;
    w->env_seconds = w->policy_seconds = 0;
    double cpu0 = gb_thread_cpu();
    /* The first slot: the observation the last rollout (or the reset) left in w->obs. */
    memcpy(rb->obs + (size_t)i * rb->steps * ob, w->obs, ob);
    policy_work_pin(w->work, t->pol); /* the weights hold still until the update */
    double t0 = gb_now(), t1, t2;
    for (int s = 0; s < rb->steps; s++) {
        size_t k = (size_t)i * rb->steps + s;
        int action;
        uint8_t *obs = rb->obs + k * ob;
        /* The env writes the step's observation straight into the next slot, and the last
         * step's into w->obs, which outlives this buffer: the bootstrap value below and the
         * next rollout's first slot read it. */
        w->e->obs = s + 1 < rb->steps ? obs + ob : w->obs;
        policy_act(t->pol, w->work, obs, &w->rng, &action, &rb->logprobs[k], &rb->values[k]);
        rb->actions[k] = action;
        t1 = gb_now();
        GB_TRY(gb_error_wrap(env_step(w->e, action), "env %d: step", i));
        if (t->cb.on_step) t->cb.on_step(t->cb.ctx, i, w->e, action);
        farm_progress(t->farm, i);
        t2 = gb_now();
        w->policy_seconds += t1 - t0;
        w->env_seconds += t2 - t1;
        t0 = t2;
        if (!isfinite(w->e->reward) || !finite_obs(&w->e->spec, w->e->obs))
            return gb_errorf("env %d: step %d of update %lld gave a reward of %g and %s (a bug in "
                             "the env or its game's rewards)",
                             i, s + 1, (long long)t->update + 1, (double)w->e->reward,
                             finite_obs(&w->e->spec, w->e->obs) ? "a finite observation"
                                                                : "a non-finite observation");
        rb->rewards[k] = w->e->reward;
        rb->ends[k] = w->e->terminated || w->e->truncated;
        /* A truncated episode is worth the value of its final observation, which obs holds
         * until the reset. */
        rb->boot_values[k] =
            w->e->truncated && !w->e->terminated ? policy_value(t->pol, w->work, w->e->obs) : 0.0f;
        if (rb->ends[k]) {
            GB_TRY(record_episode(t, i, w));
            t1 = gb_now(); /* a reset is env time: a state load, no-op frames */
            GB_TRY(gb_error_wrap(env_reset(w->e), "env %d: reset", i));
            farm_progress(t->farm, i);
            t2 = gb_now();
            w->policy_seconds += t1 - t0;
            w->env_seconds += t2 - t1;
            t0 = t2;
        }
    }
    rb->last_values[i] = policy_value(t->pol, w->work, w->obs);
    w->cpu_seconds = gb_thread_cpu() - cpu0;
    policy_work_unpin(w->work);
    ppo_gae(rb, i, t->cfg.gamma, t->cfg.gae_lambda);
    return NULL;
}

static void worker_work(void *ctx, int i)
{
    train *t = ctx;
    train_worker *w = &t->workers[i];
    switch (t->phase) {
    case PHASE_CREATE:
        w->err = worker_create(t, i, w);
        break;
    case PHASE_ROLLOUT:
        if (!w->err) w->err = worker_rollout(t, i, w);
        break;
    case PHASE_SNAPSHOT:
        free(w->snap);
        w->snap = NULL;
        if (!w->err && w->e->ops->snapshot)
            w->err = gb_error_wrap(w->e->ops->snapshot(w->e, &w->snap, &w->snap_size), "env %d", i);
        break;
    case PHASE_RESTORE:
        if (!w->err && w->snap)
            w->err = gb_error_wrap(w->e->ops->restore(w->e, w->snap, w->snap_size), "env %d", i);
        free(w->snap);
        w->snap = NULL;
        break;
    case PHASE_CLOSE:
        if (t->cb.on_step && w->e) t->cb.on_step(t->cb.ctx, i, NULL, -1);
        env_close(w->e);
        w->e = NULL;
        break;
    }
}

/* The first worker error, in env order; the workers are parked. */
static gb_error *take_worker_error(train *t)
{
    for (int i = 0; i < t->cfg.n_envs; i++)
        if (t->workers[i].err) {
            gb_error *e = t->workers[i].err;
            t->workers[i].err = NULL;
            return e;
        }
    return NULL;
}

static const char *phase_name(train_phase p)
{
    static const char *names[] = {"making its env", "a rollout", "a snapshot", "a restore",
                                  "closing its env"};
    return names[p];
}

/* One round of the current phase under the watchdog. */
static gb_error *run_round(train *t)
{
    if (t->stuck_env >= 0)
        return gb_errorf("train: env %d is stuck: no more rounds can run", t->stuck_env);
    int stuck = farm_round_watch(t->farm, t->cfg.watchdog_seconds);
    if (stuck < 0) return NULL;
    t->stuck_env = stuck;
    t->stuck_phase = t->phase;
    return gb_errorf("env %d made no progress for %g s during %s (update %lld); its thread is "
                     "left behind",
                     stuck, t->cfg.watchdog_seconds, phase_name(t->phase),
                     (long long)t->update + 1);
}

bool train_stuck_report(const train *t, train_stuck *out)
{
    if (t->stuck_env < 0) return false;
    *out = (train_stuck){t->stuck_env, t->cfg.watchdog_seconds, phase_name(t->stuck_phase),
                         t->update + 1};
    return true;
}

static gb_error *check_config(const train_config *c)
{
    if (c->n_envs < 1 || c->n_envs > 4096)
        return gb_errorf("train: --envs must be in [1, 4096], got %d", c->n_envs);
    if (c->rollout_steps < 1)
        return gb_errorf("train: --rollout-steps must be >= 1, got %d", c->rollout_steps);
    int64_t batch = (int64_t)c->n_envs * c->rollout_steps, ranks = dist_size();
    if (c->total_steps < batch * ranks)
        return gb_errorf("train: --steps %lld is less than one rollout (%lld ranks × %d envs × "
                         "%d steps)",
                         (long long)c->total_steps, (long long)ranks, c->n_envs, c->rollout_steps);
    if (c->ppo.minibatches < 1 || c->ppo.minibatches > batch)
        return gb_errorf("train: --minibatches must be in [1, %lld], got %d", (long long)batch,
                         c->ppo.minibatches);
    if (c->ppo.epochs < 1) return gb_errorf("train: --epochs must be >= 1, got %d", c->ppo.epochs);
    if (c->max_bad_updates < 1)
        return gb_errorf("train: --max-bad-updates must be >= 1, got %d", c->max_bad_updates);
    if (c->archive && dist_size() > 1)
        return gb_errorf("train: the start-state archive (game.json's \"archive\") runs in one "
                         "process only, not under MPI (%d ranks)",
                         dist_size());
    if (!(c->watchdog_seconds >= 0))
        return gb_errorf("train: --watchdog must be >= 0 seconds, got %g", c->watchdog_seconds);
    if (c->bf16 && !nn_bf16_supported())
        return gb_errorf("train: --precision bf16: this CPU has no AVX512_BF16 (lscpu's flag "
                         "avx512_bf16); use --precision fp32");
    return NULL;
}

gb_error *train_create(train **out, const train_config *cfg, env_make_fn make, void *make_ctx,
                       const train_callbacks *cb)
{
    *out = NULL;
    GB_TRY(check_config(cfg));
    train *t = calloc(1, sizeof *t);
    if (!t) return gb_errorf("train: out of memory");
    t->cfg = *cfg;
    t->stuck_env = -1;
    t->make = make;
    t->make_ctx = make_ctx;
    if (cb) t->cb = *cb;
    t->rank = dist_rank(), t->ranks = dist_size();
    t->num_updates = cfg->total_steps / ((int64_t)t->ranks * cfg->n_envs * cfg->rollout_steps);
    t->workers = calloc((size_t)cfg->n_envs, sizeof *t->workers);
    t->env_episodes = calloc((size_t)cfg->n_envs, sizeof *t->env_episodes);
    if (!t->workers || !t->env_episodes) {
        free(t->workers);
        free(t->env_episodes);
        free(t);
        return gb_errorf("train: out of memory for %d workers", cfg->n_envs);
    }
    nn_set_threads(1);
    nn_set_bf16(cfg->bf16); /* supported: check_config */
    gb_error *err = farm_start(&t->farm, cfg->n_envs, worker_work, t);
    if (err) {
        free(t->workers);
        free(t->env_episodes);
        free(t);
        return err;
    }
    t->phase = PHASE_CREATE;
    err = run_round(t);
    if (!err) err = take_worker_error(t);
    for (int i = 0; !err && i < cfg->n_envs; i++) {
        env_spec a = t->workers[0].e->spec, b = t->workers[i].e->spec;
        if (memcmp(&a, &b, sizeof a))
            err = gb_errorf("train: env %d's observation/action spec differs from env 0's", i);
    }
    if (!err) {
        t->spec = t->workers[0].e->spec;
        policy_config pc = policy_config_default(t->spec);
        if (cfg->shared_trunk >= 0) pc.shared_trunk = cfg->shared_trunk;
        pc.cnn = (policy_cnn)cfg->cnn;
        if (pc.cnn == POLICY_CNN_SMALL && pc.spec.obs_type == ENV_OBS_U8) pc.hidden = 256;
        if (cfg->hidden > 0) pc.hidden = cfg->hidden;
        err = policy_create(&t->pol, &pc, cfg->seed);
    }
    int batch = cfg->n_envs * cfg->rollout_steps;
    if (!err)
        err =
            ppo_create(&t->opt, t->pol, batch, cfg->ppo.minibatches, cfg->seed ^ rank_mix(t->rank));
    if (!err)
        err =
            ppo_set_threads(t->opt, cfg->update_threads > 0 ? cfg->update_threads : nn_cpu_count());
    if (!err)
        err = rollout_create(&t->rb, cfg->n_envs, cfg->rollout_steps, env_obs_bytes(&t->spec));
    if (!err && !(t->before = malloc(sizeof(float) * 3 * t->pol->n_params)))
        err = gb_errorf("train: out of memory for the NaN guard's copy of the weights");
    if (err) {
        train_free(t);
        return err;
    }
    t->t_start = gb_now();
    *out = t;
    return NULL;
}

static gb_error *gather_episodes(train *t)
{
    int n = 0;
    for (int i = 0; i < t->cfg.n_envs; i++) n += t->workers[i].n_eps;
    if (n > t->cap_eps) {
        train_episode *p = realloc(t->eps, sizeof *p * (size_t)n);
        if (!p) return gb_errorf("train: out of memory for %d episode records", n);
        t->eps = p, t->cap_eps = n;
    }
    n = 0;
    for (int i = 0; i < t->cfg.n_envs; i++) {
        t->env_episodes[i] += t->workers[i].n_eps;
        for (int k = 0; k < t->workers[i].n_eps; k++) {
            t->eps[n++] = t->workers[i].eps[k];
            t->last_returns[t->total_episodes % 20] = (float)t->workers[i].eps[k].episode.ret;
            t->total_episodes++;
        }
    }
    return NULL;
}

/* CRC-32 of the weights and of Adam's first moment: one 64-bit value. */
static uint64_t weights_hash(const policy *p)
{
    size_t bytes = sizeof(float) * p->n_params;
    uLong a = crc32(0L, Z_NULL, 0), b = a;
    for (size_t at = 0; at < bytes; at += 1u << 30) {
        uInt k = (uInt)(bytes - at < (1u << 30) ? bytes - at : 1u << 30);
        a = crc32(a, (const Bytef *)p->params + at, k);
        b = crc32(b, (const Bytef *)p->adam_m + at, k);
    }
    return (uint64_t)a << 32 | (uint64_t)b;
}

/* The NaN guard: the learner's state before an update, and after it either kept (all
 * finite) or put back. */
static void guard_save(train *t)
{
    const policy *p = t->pol;
    size_t n = p->n_params;
    memcpy(t->before, p->params, sizeof(float) * n);
    memcpy(t->before + n, p->adam_m, sizeof(float) * n);
    memcpy(t->before + 2 * n, p->adam_v, sizeof(float) * n);
    t->adam_t_before = t->opt->adam_t;
}

static bool guard_check(train *t, const ppo_stats *ps)
{
    policy *p = t->pol;
    size_t n = p->n_params;
    float losses[] = {ps->loss, ps->pg_loss, ps->v_loss, ps->entropy, ps->grad_norm};
    if (all_finite(losses, 5) && all_finite(p->params, n) && all_finite(p->adam_m, n) &&
        all_finite(p->adam_v, n)) {
        t->bad_in_row = 0;
        return true;
    }
    memcpy(p->params, t->before, sizeof(float) * n);
    memcpy(p->adam_m, t->before + n, sizeof(float) * n);
    memcpy(p->adam_v, t->before + 2 * n, sizeof(float) * n);
    t->opt->adam_t = t->adam_t_before;
    t->undone_updates++;
    t->bad_in_row++;
    return false;
}

gb_error *train_iteration(train *t, train_stats *st)
{
    if (train_finished(t))
        return gb_errorf("train: all %lld updates are done", (long long)t->num_updates);
    const train_config *c = &t->cfg;
    double t0 = gb_now();
    float left = 1.0f - (float)t->update / (float)t->num_updates; /* of the run */
    float lr = c->anneal_lr ? left * c->lr : c->lr;
    ppo_config pc = c->ppo;
    if (c->anneal_ent) pc.ent_coef *= left;

    t->phase = PHASE_ROLLOUT;
    policy_pin(t->pol);   /* the weights hold still until the update */
    GB_TRY(run_round(t)); /* after a failed round an env thread may still read the pin */
    policy_unpin(t->pol);
    GB_TRY(take_worker_error(t));
    GB_TRY(gather_episodes(t));
    int archive_new = c->archive ? archive_merge(c->archive) : 0;
    double t1 = gb_now();

    /* The workers are parked: the update's own threads take every core, each minibatch cut
     * into one shard per thread. */
    ppo_stats ps;
    guard_save(t);
    ppo_update(t->opt, &t->rb, &pc, lr, &ps);
    bool undone = !guard_check(t, &ps);
    double t2 = gb_now();
    if (undone && t->bad_in_row >= c->max_bad_updates)
        return gb_errorf("train: update %lld: not finite (loss %g: policy %g, value %g, entropy "
                         "%g; gradient norm %g); %lld updates in a row undone: the learning "
                         "rate may be too high, or a reward too large",
                         (long long)t->update + 1, (double)ps.loss, (double)ps.pg_loss,
                         (double)ps.v_loss, (double)ps.entropy, (double)ps.grad_norm,
                         (long long)t->bad_in_row);

    t->update++;
    t->global_step += (int64_t)t->ranks * c->n_envs * c->rollout_steps;
    /* Every rank must hold the same weights after every update: a hash of them, compared. */
    if (t->ranks > 1 && !dist_same_u64(weights_hash(t->pol)))
        return gb_errorf("train: update %lld: the ranks' weights differ (rank %d's hash %016llx); "
                         "the ranks must run the same gbfarm build on the same kind of CPU",
                         (long long)t->update, t->rank, (unsigned long long)weights_hash(t->pol));
    train_stats s = {.update = t->update,
                     .num_updates = t->num_updates,
                     .global_step = t->global_step,
                     .lr = lr,
                     .ent_coef = pc.ent_coef,
                     .ppo = ps,
                     .episodes = t->eps,
                     .n_episodes = 0,
                     .total_episodes = t->total_episodes,
                     .mean_return_20 = NAN,
                     .rollout_seconds = t1 - t0,
                     .update_seconds = t2 - t1,
                     .elapsed_seconds = t2 - t->t_start,
                     .sps = (double)t->ranks * c->n_envs * c->rollout_steps / (t2 - t0),
                     .undone = undone,
                     .undone_updates = t->undone_updates,
                     .archive_new = archive_new};
    if (c->archive)
        s.archive_cells = archive_cells(c->archive), s.archive_best = archive_best(c->archive);
    for (int i = 0; i < c->n_envs; i++) {
        s.n_episodes += t->workers[i].n_eps;
        s.frames += (int64_t)t->workers[i].e->frames;
        s.env_seconds += t->workers[i].env_seconds;
        s.policy_seconds += t->workers[i].policy_seconds;
        /* the thread's CPU time split as its clock time was */
        const train_worker *w = &t->workers[i];
        double loop = w->env_seconds + w->policy_seconds;
        if (loop > 0) s.env_cpu_seconds += w->cpu_seconds * w->env_seconds / loop;
    }
    int n = t->total_episodes < 20 ? (int)t->total_episodes : 20;
    if (n > 0) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += t->last_returns[i];
        s.mean_return_20 = (float)(sum / n);
    }
    if (st) *st = s;
    if (t->cb.on_update) GB_TRY(t->cb.on_update(t->cb.ctx, &s));
    return NULL;
}

int train_finished(const train *t)
{
    return t->update >= t->num_updates;
}
void train_counts(const train *t, int64_t *steps, int64_t *frames)
{
    *steps = t->global_step;
    *frames = 0;
    for (int i = 0; i < t->cfg.n_envs; i++) *frames += (int64_t)t->workers[i].e->frames;
}

policy *train_policy(train *t)
{
    return t->pol;
}
const train_config *train_get_config(const train *t)
{
    return &t->cfg;
}

int train_stuck_env(const train *t)
{
    return t->stuck_env;
}
int train_restored_envs(const train *t)
{
    return t->restored_envs;
}

int64_t train_env_episodes(const train *t, int env_index)
{
    return t->env_episodes[env_index];
}

void train_free(train *t)
{
    if (!t) return;
    if (t->stuck_env >= 0) return; /* a stuck thread may still use any of it: the process exits */
    if (t->farm) {
        t->phase = PHASE_CLOSE; /* envs close on the threads that made them */
        farm_round(t->farm);
        farm_stop(t->farm);
    }
    for (int i = 0; i < t->cfg.n_envs; i++) {
        train_worker *w = &t->workers[i];
        gb_error_free(w->err);
        policy_work_free(w->work);
        free(w->obs);
        free(w->eps);
        free(w->snap);
    }
    free(t->workers);
    free(t->env_episodes);
    ppo_free(t->opt);
    policy_free(t->pol);
    rollout_free(&t->rb);
    free(t->eps);
    free(t->before);
    free(t);
}

gb_error *train_run(const train_config *cfg, env_make_fn make, void *make_ctx,
                    const train_callbacks *cb, const char *save_path)
{
    train *t;
    GB_TRY(train_create(&t, cfg, make, make_ctx, cb));
    gb_error *err = NULL;
    while (!err && !train_finished(t)) err = train_iteration(t, NULL);
    if (!err && save_path) err = train_save(t, save_path);
    train_free(t);
    return err;
}

/* ---- checkpoints: weights under PyTorch-style names, then the optimizer, counters, RNGs and
 * every env's snapshot, so that a resumed run continues exactly as if never stopped. Under
 * MPI rank 0 writes one file for the job: the learner once, and each rank's own part (RNG
 * streams, episode counts, env snapshots); rank 0's under the names a one-rank run uses,
 * rank r's under "rank.<r>.". ---- */

/* A rank's own part, packed: its envs' action streams and its shuffle stream [n_envs + 1][2],
 * each env's episodes [n_envs], its last 20 returns, and its episodes in all. */
typedef struct part_view {
    uint64_t *rngs;
    int64_t *env_episodes;
    float *last_returns;
    int64_t *episodes;
} part_view;

static size_t part_size(int n_envs)
{
    return 16 * ((size_t)n_envs + 1) + 8 * (size_t)n_envs + 4 * 20 + 8;
}

static part_view part_of(uint8_t *buf, int n_envs)
{
    part_view v;
    v.rngs = (uint64_t *)buf;
    v.env_episodes = (int64_t *)(buf + 16 * ((size_t)n_envs + 1));
    v.last_returns = (float *)(v.env_episodes + n_envs);
    v.episodes = (int64_t *)(v.last_returns + 20);
    return v;
}

static void part_pack(const train *t, uint8_t *buf)
{
    int n_envs = t->cfg.n_envs;
    part_view v = part_of(buf, n_envs);
    for (int i = 0; i < n_envs; i++) {
        rng r; /* after the watchdog, stuck threads own theirs: fresh streams for all */
        if (t->stuck_env >= 0)
            rng_seed(&r, t->cfg.seed + (uint64_t)t->update, (uint64_t)(t->rank * n_envs + i));
        else
            r = t->workers[i].rng;
        v.rngs[2 * i] = r.state, v.rngs[2 * i + 1] = r.inc;
    }
    v.rngs[2 * n_envs] = t->opt->shuffle_rng.state;
    v.rngs[2 * n_envs + 1] = t->opt->shuffle_rng.inc;
    memcpy(v.env_episodes, t->env_episodes, sizeof(int64_t) * (size_t)n_envs);
    memcpy(v.last_returns, t->last_returns, sizeof t->last_returns);
    *v.episodes = t->total_episodes;
}

static void part_unpack(train *t, uint8_t *buf)
{
    int n_envs = t->cfg.n_envs;
    part_view v = part_of(buf, n_envs);
    for (int i = 0; i < n_envs; i++)
        t->workers[i].rng.state = v.rngs[2 * i], t->workers[i].rng.inc = v.rngs[2 * i + 1];
    t->opt->shuffle_rng.state = v.rngs[2 * n_envs];
    t->opt->shuffle_rng.inc = v.rngs[2 * n_envs + 1];
    memcpy(t->env_episodes, v.env_episodes, sizeof(int64_t) * (size_t)n_envs);
    memcpy(t->last_returns, v.last_returns, sizeof t->last_returns);
    t->total_episodes = *v.episodes;
}

typedef struct checkpoint {
    int ranks, n_envs;
    st_tensor *st;
    int n;
    int64_t counters[4], undone[2];
    uint8_t **parts;   /* [rank]: part_size bytes */
    uint8_t **snaps;   /* [rank * n_envs + env], NULL where none */
    size_t *snap_size; /* the same */
    char (*names)[48]; /* [rank][4 + n_envs]: the names of rank r's tensors */
    char (*archive_names)[32];
} checkpoint;

static void checkpoint_free(checkpoint *c)
{
    for (int i = 0; c->parts && i < c->ranks; i++) free(c->parts[i]);
    for (int i = 0; c->snaps && i < c->ranks * c->n_envs; i++) free(c->snaps[i]);
    free(c->parts);
    free(c->snaps);
    free(c->snap_size);
    free(c->st);
    free(c->names);
    free(c->archive_names);
}

static gb_error *checkpoint_alloc(checkpoint *c, const train *t, int ranks)
{
    int n_envs = t->cfg.n_envs, per = 4 + n_envs;
    int archived = t->cfg.archive ? archive_tensor_count(t->cfg.archive) : 0;
    c->ranks = ranks, c->n_envs = n_envs;
    c->st = calloc((size_t)(t->pol->n_tensors + 4 + ranks * per + archived), sizeof *c->st);
    c->archive_names = calloc((size_t)archived + 1, sizeof *c->archive_names);
    c->parts = calloc((size_t)ranks, sizeof *c->parts);
    c->snaps = calloc((size_t)(ranks * n_envs), sizeof *c->snaps);
    c->snap_size = calloc((size_t)(ranks * n_envs), sizeof *c->snap_size);
    c->names = calloc((size_t)(ranks * per), sizeof *c->names);
    bool ok = c->st && c->parts && c->snaps && c->snap_size && c->names && c->archive_names;
    for (int r = 0; ok && r < ranks; r++) ok = (c->parts[r] = calloc(1, part_size(n_envs))) != NULL;
    if (!ok) return gb_errorf("checkpoint: out of memory for %d ranks' parts", ranks);
    for (int r = 0; r < ranks; r++) {
        char(*nm)[48] = c->names + r * per;
        char prefix[24] = "";
        if (r > 0) snprintf(prefix, sizeof prefix, "rank.%d.", r);
        snprintf(nm[0], sizeof nm[0], "%strain.rng", prefix);
        snprintf(nm[1], sizeof nm[1], "%strain.last_returns", prefix);
        snprintf(nm[2], sizeof nm[2], "%strain.env_episodes", prefix);
        snprintf(nm[3], sizeof nm[3], "%strain.episodes", prefix);
        for (int i = 0; i < n_envs; i++)
            snprintf(nm[4 + i], sizeof nm[4 + i], "%senv.%d.snapshot", prefix, i);
    }
    return NULL;
}

/* The learner's tensors: views of the live weights, Adam's moments and the counters. */
static void learner_views(checkpoint *c, const train *t)
{
    const policy *p = t->pol;
    for (int i = 0; i < p->n_tensors; i++) {
        const policy_tensor *pt = &p->tensors[i];
        c->st[c->n] = (st_tensor){pt->name, ST_F32, pt->ndim, {0}, p->params + pt->offset};
        memcpy(c->st[c->n].shape, pt->shape, sizeof pt->shape);
        c->n++;
    }
    c->st[c->n++] = (st_tensor){"optimizer.adam_m", ST_F32, 1, {(int64_t)p->n_params}, p->adam_m};
    c->st[c->n++] = (st_tensor){"optimizer.adam_v", ST_F32, 1, {(int64_t)p->n_params}, p->adam_v};
    /* [3]: rank 0's episodes (where a one-rank checkpoint has always kept them) */
    c->st[c->n++] = (st_tensor){"train.counters", ST_I64, 1, {4}, c->counters};
    /* The NaN guard's counts: updates undone in the run, and in a row (absent from older
     * checkpoints). */
    c->st[c->n++] = (st_tensor){"train.undone", ST_I64, 1, {2}, c->undone};
}

/* Rank r's part as typed tensors over its packed bytes, and its snapshots (when `snaps`). */
static void part_views(checkpoint *c, int r, bool snaps)
{
    int n_envs = c->n_envs;
    char(*nm)[48] = c->names + r * (4 + n_envs);
    part_view v = part_of(c->parts[r], n_envs);
    c->st[c->n++] = (st_tensor){nm[0], ST_U64, 2, {n_envs + 1, 2}, v.rngs};
    c->st[c->n++] = (st_tensor){nm[1], ST_F32, 1, {20}, v.last_returns};
    c->st[c->n++] = (st_tensor){nm[2], ST_I64, 1, {n_envs}, v.env_episodes};
    if (r > 0) c->st[c->n++] = (st_tensor){nm[3], ST_I64, 1, {1}, v.episodes};
    for (int i = 0; snaps && i < n_envs; i++)
        if (c->snaps[r * n_envs + i])
            c->st[c->n++] = (st_tensor){nm[4 + i],
                                        ST_U8,
                                        1,
                                        {(int64_t)c->snap_size[r * n_envs + i]},
                                        c->snaps[r * n_envs + i]};
}

gb_error *train_save(train *t, const char *path)
{
    /* With an env stuck no round runs: the learner alone, without env snapshots. */
    if (t->stuck_env >= 0 && t->ranks > 1)
        return gb_errorf("train: an env is stuck: no checkpoint can gather %d ranks' envs",
                         t->ranks);
    gb_error *err = NULL;
    if (t->stuck_env < 0) {
        t->phase = PHASE_SNAPSHOT;
        err = run_round(t);
        if (!err) err = take_worker_error(t);
    }
    int n_envs = t->cfg.n_envs;
    checkpoint c = {0};
    if (!err) err = checkpoint_alloc(&c, t, t->rank == 0 ? t->ranks : 1);
    if (!err) { /* this rank's part and snapshots (the workers' buffers move in) */
        part_pack(t, c.parts[0]);
        for (int i = 0; i < n_envs; i++) {
            c.snaps[i] = t->workers[i].snap, c.snap_size[i] = t->workers[i].snap_size;
            t->workers[i].snap = NULL;
        }
    }
    if (!err && t->rank > 0) { /* to rank 0, which writes the file */
        dist_send(c.parts[0], part_size(n_envs), 0);
        for (int i = 0; i < n_envs; i++) dist_send(c.snaps[i], c.snaps[i] ? c.snap_size[i] : 0, 0);
        checkpoint_free(&c);
        return NULL;
    }
    for (int r = 1; !err && r < t->ranks; r++) {
        uint8_t *part;
        size_t size;
        err = dist_recv(&part, &size, r);
        if (!err && size != part_size(n_envs))
            err = gb_errorf("train: rank %d sent a part of %zu bytes, not %zu", r, size,
                            part_size(n_envs));
        if (!err) memcpy(c.parts[r], part, size);
        free(part);
        for (int i = 0; !err && i < n_envs; i++) {
            int k = r * n_envs + i;
            err = dist_recv(&c.snaps[k], &c.snap_size[k], r);
            if (!err && c.snap_size[k] == 0) free(c.snaps[k]), c.snaps[k] = NULL;
        }
    }
    if (!err) {
        c.counters[0] = t->global_step, c.counters[1] = t->update, c.counters[2] = t->opt->adam_t;
        c.counters[3] = t->total_episodes;
        c.undone[0] = t->undone_updates, c.undone[1] = t->bad_in_row;
        learner_views(&c, t);
        for (int r = 0; r < c.ranks; r++) part_views(&c, r, true);
        if (t->cfg.archive) { /* the archive's cells, as views */
            archive_tensors(t->cfg.archive, c.st + c.n, c.archive_names);
            c.n += archive_tensor_count(t->cfg.archive);
        }
    }
    char envs[32], seed[32], trunk[8], hidden[16], vars[16], ranks[16], obs[48];
    snprintf(envs, sizeof envs, "%d", n_envs);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->cfg.seed);
    snprintf(trunk, sizeof trunk, "%d", t->pol->cfg.shared_trunk);
    snprintf(hidden, sizeof hidden, "%d", t->pol->cfg.hidden);
    snprintf(vars, sizeof vars, "%d", t->pol->cfg.spec.obs_vars);
    snprintf(ranks, sizeof ranks, "%d", t->ranks);
    const env_spec *os = &t->pol->cfg.spec;
    snprintf(obs, sizeof obs, "%dx%dx%d", os->obs_c, os->obs_h, os->obs_w);
    const char *meta[] = {"format",       "gbfarm-learner",
                          "version",      GBFARM_VERSION,
                          "n_envs",       envs,
                          "seed",         seed,
                          "shared_trunk", trunk,
                          "hidden",       hidden,
                          "cnn",          t->pol->cfg.cnn == POLICY_CNN_SMALL ? "small" : "nature",
                          "obs_vars",     vars,
                          "ranks",        ranks,
                          "obs",          obs};
    if (!err) err = safetensors_write(path, c.st, c.n, meta, 10);
    checkpoint_free(&c);
    return err;
}

/* Rank 0: the file, read and checked whole before anything is sent or changed (but the
 * start-state archive, which a file that fails leaves empty, for the next file to fill). */
static gb_error *read_checkpoint(train *t, safetensors *f, const char *path, checkpoint *c,
                                 bool *same)
{
    const char *r_meta = safetensors_meta(f, "ranks");
    int file_ranks = r_meta ? atoi(r_meta) : 1;
    *same = file_ranks == t->ranks;
    GB_TRY(checkpoint_alloc(c, t, t->ranks));
    learner_views(c, t);
    for (int r = 0; *same && r < t->ranks; r++) part_views(c, r, false);
    /* Copy into the live buffers (the views' data pointers). */
    for (int i = 0; i < c->n; i++) {
        const char *name = c->st[i].name;
        if (!strcmp(name, "train.undone") && !safetensors_has(f, name)) continue; /* older */
        GB_TRY(safetensors_get(f, name, c->st[i].dtype, c->st[i].ndim, c->st[i].shape,
                               (void *)c->st[i].data));
    }
    if (*same) *part_of(c->parts[0], c->n_envs).episodes = c->counters[3];
    if (t->cfg.archive) GB_TRY(archive_load(t->cfg.archive, f, path));
    /* Env snapshots: none in a checkpoint holding only the learner (the watchdog's). */
    for (int r = 0; *same && r < t->ranks; r++)
        for (int i = 0; i < c->n_envs; i++) {
            int k = r * c->n_envs + i;
            const char *name = c->names[r * (4 + c->n_envs) + 4 + i];
            if (safetensors_has(f, name))
                GB_TRY(safetensors_blob(f, name, &c->snaps[k], &c->snap_size[k]));
        }
    return NULL;
}

/* Every rank: the learner's state from rank 0, and (same rank count) its own part. */
static gb_error *share_checkpoint(train *t, checkpoint *c, int32_t header[2])
{
    dist_bcast(header, sizeof(int32_t) * 2, 0);
    if (header[0] == 0) return NULL; /* nothing loaded: a fresh start */
    policy *p = t->pol;
    dist_bcast(p->params, sizeof(float) * p->n_params, 0);
    dist_bcast(p->adam_m, sizeof(float) * p->n_params, 0);
    dist_bcast(p->adam_v, sizeof(float) * p->n_params, 0);
    dist_bcast(c->counters, sizeof c->counters, 0);
    dist_bcast(c->undone, sizeof c->undone, 0);
    if (!header[1]) return NULL;
    int n_envs = t->cfg.n_envs;
    if (t->rank == 0) {
        for (int r = 1; r < t->ranks; r++) {
            dist_send(c->parts[r], part_size(n_envs), r);
            for (int i = 0; i < n_envs; i++) {
                int k = r * n_envs + i;
                dist_send(c->snaps[k], c->snaps[k] ? c->snap_size[k] : 0, r);
            }
        }
        return NULL;
    }
    uint8_t *part;
    size_t size;
    GB_TRY(dist_recv(&part, &size, 0));
    if (size == part_size(n_envs)) memcpy(c->parts[0], part, size);
    free(part);
    if (size != part_size(n_envs)) return gb_errorf("train: rank 0 sent a part of %zu bytes", size);
    for (int i = 0; i < n_envs; i++) {
        GB_TRY(dist_recv(&c->snaps[i], &c->snap_size[i], 0));
        if (c->snap_size[i] == 0) free(c->snaps[i]), c->snaps[i] = NULL;
    }
    return NULL;
}

gb_error *train_load(train *t, const char *path)
{
    checkpoint c = {0};
    gb_error *err = NULL;
    int32_t header[2] = {0, 0}; /* loaded, same rank count */
    if (t->rank == 0 && path) {
        safetensors *f;
        GB_TRY(safetensors_read(&f, path));
        if (!safetensors_checked(f))
            gb_warnf("%s has no checksums (written by an older gbfarm?): loading it unchecked",
                     path);
        bool same;
        err = read_checkpoint(t, f, path, &c, &same);
        safetensors_free(f);
        header[0] = 1, header[1] = same;
    } else if (t->rank > 0) {
        err = checkpoint_alloc(&c, t, 1);
    }
    if (!err) err = share_checkpoint(t, &c, header);
    t->loaded_ranks = 0;
    if (!err && header[0]) {
        t->global_step = c.counters[0], t->update = c.counters[1], t->opt->adam_t = c.counters[2];
        t->undone_updates = c.undone[0], t->bad_in_row = c.undone[1];
        t->loaded_ranks = header[1] ? t->ranks : -1;
        if (header[1]) part_unpack(t, c.parts[0]);
    }
    /* Env snapshots go back on the envs' own threads; without them (the watchdog's
     * checkpoint, or another rank count) the envs keep the fresh episodes they started. */
    t->restored_envs = 0;
    for (int i = 0; !err && header[1] && i < t->cfg.n_envs; i++) {
        train_worker *w = &t->workers[i];
        if (!w->e->ops->restore || !c.snaps[i]) continue;
        w->snap = c.snaps[i], w->snap_size = c.snap_size[i];
        c.snaps[i] = NULL;
        t->restored_envs++;
    }
    if (!err && t->restored_envs > 0) {
        t->phase = PHASE_RESTORE;
        err = run_round(t);
        if (!err) err = take_worker_error(t);
    }
    checkpoint_free(&c);
    return gb_error_wrap(err, "train: loading checkpoint");
}

int train_loaded_ranks(const train *t)
{
    return t->loaded_ranks;
}
