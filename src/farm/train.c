#include "gbfarm/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
                          .watchdog_seconds = 120};
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
    train_episode *eps; /* gathered for train_stats */
    int cap_eps;
    float last_returns[20]; /* ring of the last 20 episode returns */
    int n_last;
    double t_start;
    int stuck_env;     /* the env the watchdog found stuck, or -1: no more rounds then */
    int restored_envs; /* by the last train_load */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t env_seed(uint64_t seed)
{
    /* splitmix64: the envs' seed differs from the action streams' (seed, index) */
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static gb_error *worker_create(train *t, int i, train_worker *w)
{
    GB_TRY(t->make(t->make_ctx, i, env_seed(t->cfg.seed), &w->e));
    farm_progress(t->farm, i);
    w->obs = calloc(1, env_obs_bytes(&w->e->spec));
    if (!w->obs) return gb_errorf("train: env %d: out of memory for its observation", i);
    w->e->obs = w->obs;
    rng_seed(&w->rng, t->cfg.seed, (uint64_t)i);
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

/* One env's rollout of T steps into its own slice [i][0..T), then its GAE. */
static gb_error *worker_rollout(train *t, int i, train_worker *w)
{
    if (!w->work) GB_TRY(policy_work_create(&w->work, t->pol, 1));
    rollout_buffer *rb = &t->rb;
    size_t ob = rb->obs_bytes;
    w->n_eps = 0;
    w->env_seconds = w->policy_seconds = 0;
    double t0 = now(), t1, t2;
    for (int s = 0; s < rb->steps; s++) {
        size_t k = (size_t)i * rb->steps + s;
        int action;
        memcpy(rb->obs + k * ob, w->obs, ob);
        policy_act(t->pol, w->work, w->obs, &w->rng, &action, &rb->logprobs[k], &rb->values[k]);
        rb->actions[k] = action;
        t1 = now();
        GB_TRY(gb_error_wrap(env_step(w->e, action), "env %d: step", i));
        if (t->cb.on_step) t->cb.on_step(t->cb.ctx, i, w->e, action);
        farm_progress(t->farm, i);
        t2 = now();
        w->policy_seconds += t1 - t0;
        w->env_seconds += t2 - t1;
        t0 = t2;
        rb->rewards[k] = w->e->reward;
        rb->ends[k] = w->e->terminated || w->e->truncated;
        /* A truncated episode is worth the value of its final observation, which obs holds
         * until the reset. */
        rb->boot_values[k] =
            w->e->truncated && !w->e->terminated ? policy_value(t->pol, w->work, w->obs) : 0.0f;
        if (rb->ends[k]) {
            GB_TRY(record_episode(t, i, w));
            GB_TRY(gb_error_wrap(env_reset(w->e), "env %d: reset", i));
            farm_progress(t->farm, i);
        }
    }
    rb->last_values[i] = policy_value(t->pol, w->work, w->obs);
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
    return gb_errorf("env %d made no progress for %g s during %s (update %lld); its thread is "
                     "left behind",
                     stuck, t->cfg.watchdog_seconds, phase_name(t->phase),
                     (long long)t->update + 1);
}

static gb_error *check_config(const train_config *c)
{
    if (c->n_envs < 1 || c->n_envs > 4096)
        return gb_errorf("train: --envs must be in [1, 4096], got %d", c->n_envs);
    if (c->rollout_steps < 1)
        return gb_errorf("train: --rollout-steps must be >= 1, got %d", c->rollout_steps);
    int64_t batch = (int64_t)c->n_envs * c->rollout_steps;
    if (c->total_steps < batch)
        return gb_errorf("train: --steps %lld is less than one rollout (%d envs × %d steps)",
                         (long long)c->total_steps, c->n_envs, c->rollout_steps);
    if (c->ppo.minibatches < 1 || c->ppo.minibatches > batch)
        return gb_errorf("train: --minibatches must be in [1, %lld], got %d", (long long)batch,
                         c->ppo.minibatches);
    if (c->ppo.epochs < 1) return gb_errorf("train: --epochs must be >= 1, got %d", c->ppo.epochs);
    if (!(c->watchdog_seconds >= 0))
        return gb_errorf("train: --watchdog must be >= 0 seconds, got %g", c->watchdog_seconds);
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
    t->num_updates = cfg->total_steps / ((int64_t)cfg->n_envs * cfg->rollout_steps);
    t->workers = calloc((size_t)cfg->n_envs, sizeof *t->workers);
    t->env_episodes = calloc((size_t)cfg->n_envs, sizeof *t->env_episodes);
    if (!t->workers || !t->env_episodes) {
        free(t->workers);
        free(t->env_episodes);
        free(t);
        return gb_errorf("train: out of memory for %d workers", cfg->n_envs);
    }
    nn_set_threads(1);
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
    if (!err) err = ppo_create(&t->opt, t->pol, batch, cfg->ppo.minibatches, cfg->seed);
    if (!err)
        err =
            ppo_set_threads(t->opt, cfg->update_threads > 0 ? cfg->update_threads : nn_cpu_count());
    if (!err)
        err = rollout_create(&t->rb, cfg->n_envs, cfg->rollout_steps, env_obs_bytes(&t->spec));
    if (err) {
        train_free(t);
        return err;
    }
    t->t_start = now();
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

gb_error *train_iteration(train *t, train_stats *st)
{
    if (train_finished(t))
        return gb_errorf("train: all %lld updates are done", (long long)t->num_updates);
    const train_config *c = &t->cfg;
    double t0 = now();
    float frac = c->anneal_lr ? 1.0f - (float)t->update / (float)t->num_updates : 1.0f;
    float lr = frac * c->lr;

    t->phase = PHASE_ROLLOUT;
    GB_TRY(run_round(t));
    GB_TRY(take_worker_error(t));
    GB_TRY(gather_episodes(t));
    double t1 = now();

    /* The workers are parked: the update's own threads take every core, each minibatch cut
     * into one shard per thread. */
    ppo_stats ps;
    ppo_update(t->opt, &t->rb, &c->ppo, lr, &ps);
    double t2 = now();

    t->update++;
    t->global_step += (int64_t)c->n_envs * c->rollout_steps;
    train_stats s = {.update = t->update,
                     .num_updates = t->num_updates,
                     .global_step = t->global_step,
                     .lr = lr,
                     .ppo = ps,
                     .episodes = t->eps,
                     .n_episodes = 0,
                     .total_episodes = t->total_episodes,
                     .mean_return_20 = NAN,
                     .rollout_seconds = t1 - t0,
                     .update_seconds = t2 - t1,
                     .elapsed_seconds = t2 - t->t_start,
                     .sps = (double)c->n_envs * c->rollout_steps / (t2 - t0)};
    for (int i = 0; i < c->n_envs; i++) {
        s.n_episodes += t->workers[i].n_eps;
        s.frames += (int64_t)t->workers[i].e->frames;
        s.env_seconds += t->workers[i].env_seconds;
        s.policy_seconds += t->workers[i].policy_seconds;
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
 * every env's snapshot, so that a resumed run continues exactly as if never stopped ---- */

typedef struct checkpoint {
    st_tensor *st;
    int n;
    int64_t counters[4];
    int64_t *env_episodes;
    uint64_t *rngs;
    char (*names)[32];
} checkpoint;

static void checkpoint_free(checkpoint *c)
{
    free(c->st);
    free(c->rngs);
    free(c->env_episodes);
    free(c->names);
}

/* Views of everything a checkpoint holds; env snapshots are added by the caller. */
static gb_error *checkpoint_views(const train *t, checkpoint *c)
{
    const policy *p = t->pol;
    int n_envs = t->cfg.n_envs;
    c->st = calloc((size_t)(p->n_tensors + 6 + n_envs), sizeof *c->st);
    c->rngs = malloc(sizeof(uint64_t) * 2 * ((size_t)n_envs + 1));
    c->env_episodes = malloc(sizeof(int64_t) * (size_t)n_envs);
    c->names = calloc((size_t)n_envs, sizeof *c->names);
    if (!c->st || !c->rngs || !c->env_episodes || !c->names)
        return gb_errorf("checkpoint: out of memory");
    int n = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        const policy_tensor *pt = &p->tensors[i];
        c->st[n] = (st_tensor){pt->name, ST_F32, pt->ndim, {0}, p->params + pt->offset};
        memcpy(c->st[n].shape, pt->shape, sizeof pt->shape);
        n++;
    }
    c->st[n++] = (st_tensor){"optimizer.adam_m", ST_F32, 1, {(int64_t)p->n_params}, p->adam_m};
    c->st[n++] = (st_tensor){"optimizer.adam_v", ST_F32, 1, {(int64_t)p->n_params}, p->adam_v};
    c->counters[0] = t->global_step, c->counters[1] = t->update, c->counters[2] = t->opt->adam_t;
    c->counters[3] = t->total_episodes;
    c->st[n++] = (st_tensor){"train.counters", ST_I64, 1, {4}, c->counters};
    for (int i = 0; i < n_envs; i++) {
        rng r; /* after the watchdog, stuck threads own theirs: fresh streams for all */
        if (t->stuck_env >= 0)
            rng_seed(&r, t->cfg.seed + (uint64_t)t->update, (uint64_t)i);
        else
            r = t->workers[i].rng;
        c->rngs[2 * i] = r.state;
        c->rngs[2 * i + 1] = r.inc;
    }
    c->rngs[2 * n_envs] = t->opt->shuffle_rng.state;
    c->rngs[2 * n_envs + 1] = t->opt->shuffle_rng.inc;
    c->st[n++] = (st_tensor){"train.rng", ST_U64, 2, {n_envs + 1, 2}, c->rngs};
    c->st[n++] = (st_tensor){"train.last_returns", ST_F32, 1, {20}, t->last_returns};
    /* Each env's episodes so far: a resumed run cuts its monitor file back to them. */
    memcpy(c->env_episodes, t->env_episodes, sizeof(int64_t) * (size_t)n_envs);
    c->st[n++] = (st_tensor){"train.env_episodes", ST_I64, 1, {n_envs}, c->env_episodes};
    for (int i = 0; i < n_envs; i++)
        snprintf(c->names[i], sizeof c->names[i], "env.%d.snapshot", i);
    c->n = n;
    return NULL;
}

gb_error *train_save(train *t, const char *path)
{
    /* With an env stuck no round runs: the learner alone, without env snapshots. */
    gb_error *err = NULL;
    if (t->stuck_env < 0) {
        t->phase = PHASE_SNAPSHOT;
        err = run_round(t);
        if (!err) err = take_worker_error(t);
    }
    checkpoint c = {0};
    if (!err) err = checkpoint_views(t, &c);
    for (int i = 0; !err && i < t->cfg.n_envs; i++)
        if (t->workers[i].snap)
            c.st[c.n++] = (st_tensor){
                c.names[i], ST_U8, 1, {(int64_t)t->workers[i].snap_size}, t->workers[i].snap};
    char envs[32], seed[32], trunk[8], hidden[16], vars[16];
    snprintf(envs, sizeof envs, "%d", t->cfg.n_envs);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->cfg.seed);
    snprintf(trunk, sizeof trunk, "%d", t->pol->cfg.shared_trunk);
    snprintf(hidden, sizeof hidden, "%d", t->pol->cfg.hidden);
    snprintf(vars, sizeof vars, "%d", t->pol->cfg.spec.obs_vars);
    const char *meta[] = {"format",       "gbfarm-learner",
                          "version",      GBFARM_VERSION,
                          "n_envs",       envs,
                          "seed",         seed,
                          "shared_trunk", trunk,
                          "hidden",       hidden,
                          "cnn",          t->pol->cfg.cnn == POLICY_CNN_SMALL ? "small" : "nature",
                          "obs_vars",     vars};
    if (!err) err = safetensors_write(path, c.st, c.n, meta, 8);
    for (int i = 0; i < t->cfg.n_envs; i++) {
        free(t->workers[i].snap);
        t->workers[i].snap = NULL;
    }
    checkpoint_free(&c);
    return err;
}

gb_error *train_load(train *t, const char *path)
{
    safetensors *f;
    GB_TRY(safetensors_read(&f, path));
    checkpoint c = {0};
    gb_error *err = checkpoint_views(t, &c);
    /* Copy into the live buffers (the views' data pointers), counters and RNGs after. */
    for (int i = 0; !err && i < c.n; i++)
        err = safetensors_get(f, c.st[i].name, c.st[i].dtype, c.st[i].ndim, c.st[i].shape,
                              (void *)c.st[i].data);
    if (!err) {
        t->global_step = c.counters[0], t->update = c.counters[1], t->opt->adam_t = c.counters[2];
        t->total_episodes = c.counters[3];
        for (int i = 0; i < t->cfg.n_envs; i++) {
            t->env_episodes[i] = c.env_episodes[i];
            t->workers[i].rng.state = c.rngs[2 * i];
            t->workers[i].rng.inc = c.rngs[2 * i + 1];
        }
        t->opt->shuffle_rng.state = c.rngs[2 * t->cfg.n_envs];
        t->opt->shuffle_rng.inc = c.rngs[2 * t->cfg.n_envs + 1];
    }
    /* Env snapshots go back on the envs' own threads. A checkpoint holding only the learner
     * (the watchdog's) has none: the envs keep the fresh episodes they started with. */
    bool snapshots = safetensors_count(f) > c.n;
    t->restored_envs = 0;
    for (int i = 0; !err && snapshots && i < t->cfg.n_envs; i++) {
        train_worker *w = &t->workers[i];
        if (!w->e->ops->restore) continue;
        err = safetensors_blob(f, c.names[i], &w->snap, &w->snap_size);
        t->restored_envs++;
    }
    if (!err && t->restored_envs > 0) {
        t->phase = PHASE_RESTORE;
        err = run_round(t);
        if (!err) err = take_worker_error(t);
    }
    checkpoint_free(&c);
    safetensors_free(f);
    return gb_error_wrap(err, "train: loading checkpoint");
}
