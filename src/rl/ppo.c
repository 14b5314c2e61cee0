#include "gbfarm/ppo.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/clock.h"
#include "gbfarm/dist.h"
#include "gbfarm/nn.h"
#include "gbfarm/pool.h"
#include "../nn/vector.h" /* NN_VECTOR */

ppo_config ppo_config_default(void)
{
    return (ppo_config){.epochs = 4,
                        .minibatches = 4,
                        .clip_coef = 0.2f,
                        .clip_vloss = 1,
                        .norm_adv = 1,
                        .vf_coef = 0.5f,
                        .ent_coef = 0.01f,
                        .max_grad_norm = 0.5f,
                        .target_kl = 0.0f,
                        .adam_eps = 1e-5f};
}

/* The update's threads: each minibatch is cut into one shard per thread; shard k's forward,
 * loss and backward run on thread k (thread 0 is the caller) with single-threaded BLAS, into
 * its own gradient buffer, and the caller adds the buffers up in shard order. The sum's order
 * is fixed, so an update depends on the thread count but never on scheduling. */
typedef struct ppo_shard {
    policy_work *work;
    float *grads;   /* shard 0: the policy's own */
    float *scratch; /* dlogits, logp [n][A], dvalues [n] */
    double sums[6]; /* pg, v, entropy, approx kl, old approx kl, clipped */
    double sumsq;   /* the summed gradient's squares over this thread's slice of parameters */
} ppo_shard;

/* What the threads run, one pool round each (job_*): a minibatch's shards; then, each over its
 * own slice of the parameters, the shards' gradients added up (in shard order) with their
 * squares, and the clipped Adam step. Elementwise work, so slices give the same numbers as
 * one loop. */
struct ppo_threads {
    int n; /* shards = threads, the caller included */
    pool *pool;
    ppo_shard *shard;
    /* the job in flight */
    ppo *o;
    const ppo_config *c;
    const ppo_batch *mb;
    int B, backward;
    double B_all;   /* the minibatch over every rank: B × ranks (dist.h) */
    float lr, clip; /* job_adam: learning rate, gradient scale (≤ 1) */
};

static void threads_free(ppo *o)
{
    struct ppo_threads *th = o->threads;
    if (!th) return;
    pool_stop(th->pool);
    for (int k = 0; th->shard && k < th->n; k++) {
        if (k > 0) policy_work_free(th->shard[k].work), free(th->shard[k].grads);
        free(th->shard[k].scratch);
    }
    free(th->shard);
    free(th);
    o->threads = NULL;
}

/* Shard k's buffers; shard 0 works in the policy's own gradients and the ppo's work. */
static gb_error *shard_init(ppo *o, ppo_shard *sh, int k, int most)
{
    policy *p = o->pol;
    int A = p->cfg.spec.n_actions;
    sh->scratch = malloc(sizeof(float) * ((size_t)2 * most * A + most));
    if (k == 0) {
        sh->work = o->work, sh->grads = p->grads;
    } else {
        sh->grads = malloc(sizeof(float) * p->n_params);
        GB_TRY(policy_work_create(&sh->work, p, most));
    }
    return sh->scratch && sh->grads ? NULL
                                    : gb_errorf("ppo: out of memory for update thread %d", k);
}

gb_error *ppo_set_threads(ppo *o, int n)
{
    if (n < 1) n = 1;
    if (n > o->mb_size) n = o->mb_size;
    threads_free(o);
    struct ppo_threads *th = calloc(1, sizeof *th);
    if (!th) return gb_errorf("ppo: out of memory for %d update threads", n);
    o->threads = th;
    th->o = o, th->n = n;
    th->shard = calloc((size_t)n, sizeof *th->shard);
    gb_error *err = th->shard ? NULL : gb_errorf("ppo: out of memory for %d update threads", n);
    int most = (o->mb_size + n - 1) / n;
    for (int k = 0; k < n && !err; k++) err = shard_init(o, &th->shard[k], k, most);
    if (!err) err = gb_error_wrap(pool_start(&th->pool, n, true), "ppo: update threads");
    if (err) threads_free(o);
    return err;
}

gb_error *ppo_create(ppo **out, policy *p, int batch, int minibatches, uint64_t seed)
{
    *out = NULL;
    if (minibatches < 1 || batch < minibatches)
        return gb_errorf("ppo: %d minibatches do not fit a batch of %d", minibatches, batch);
    ppo *o = calloc(1, sizeof *o);
    if (!o) return gb_errorf("ppo: out of memory");
    o->pol = p;
    o->batch = batch;
    o->mb_size = batch / minibatches;
    rng_seed(&o->shuffle_rng, seed, 0x7070ULL << 32); /* a stream no env index uses */
    size_t mb = (size_t)o->mb_size;
    size_t obs_bytes = env_obs_bytes(&p->cfg.spec);
    o->perm = malloc(sizeof(int32_t) * (size_t)batch);
    o->mb_obs = malloc(mb * obs_bytes);
    o->mb_actions = malloc(mb * sizeof(int32_t));
    o->mb_f32 = malloc(4 * mb * sizeof(float));
    o->adv = malloc(mb * sizeof(float));
    gb_error *err = NULL;
    if (!o->perm || !o->mb_obs || !o->mb_actions || !o->mb_f32 || !o->adv)
        err = gb_errorf("ppo: out of memory for minibatches of %d", o->mb_size);
    if (!err) err = policy_work_create(&o->work, p, o->mb_size);
    if (!err) err = ppo_set_threads(o, 1);
    if (err) {
        ppo_free(o);
        return err;
    }
    for (int i = 0; i < batch; i++) o->perm[i] = i;
    *out = o;
    return NULL;
}

void ppo_free(ppo *o)
{
    if (!o) return;
    threads_free(o);
    policy_work_free(o->work);
    free(o->perm);
    free(o->mb_obs);
    free(o->mb_actions);
    free(o->mb_f32);
    free(o->adv);
    free(o);
}

static float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Shard k of the minibatch in flight: samples [k·B/n, (k+1)·B/n). Every term is scaled by the
 * whole minibatch's 1/B, so the shards' gradients add up to the minibatch's. */
static void job_shards(void *arg, int k)
{
    struct ppo_threads *th = arg;
    ppo *o = th->o;
    const ppo_config *c = th->c;
    const ppo_batch *mb = th->mb;
    ppo_shard *sh = &th->shard[k];
    const policy *p = o->pol;
    int B = th->B, lo = (int)((int64_t)B * k / th->n), n = (int)((int64_t)B * (k + 1) / th->n) - lo;
    int A = p->cfg.spec.n_actions;
    memset(sh->sums, 0, sizeof sh->sums);
    if (th->backward) memset(sh->grads, 0, sizeof(float) * p->n_params);
    if (n <= 0) return;
    float *logits, *values;
    size_t ob = env_obs_bytes(&p->cfg.spec);
    const uint8_t *obs = (const uint8_t *)mb->obs + (size_t)lo * ob;
    if (mb->rows) { /* this shard's part of the gather, in parallel with the others' */
        uint8_t *to = o->mb_obs + (size_t)lo * ob;
        for (int i = 0; i < n; i++)
            memcpy(to + (size_t)i * ob, (const uint8_t *)mb->obs + (size_t)mb->rows[lo + i] * ob,
                   ob);
        obs = to;
    }
    policy_forward(p, sh->work, obs, n, &logits, &values);
    float *dlogits = sh->scratch, *logp = dlogits + (size_t)n * A, *dvalues = logp + (size_t)n * A;

    double pg = 0.0, vl = 0.0, ent = 0.0, kl = 0.0, old_kl = 0.0, cf = 0.0;
    float eps = c->clip_coef, inv_b = 1.0f / (float)th->B_all;
    for (int i = 0; i < n; i++) {
        int s = lo + i;
        float *lp = logp + (size_t)i * A, *dl = dlogits + (size_t)i * A, adv = o->adv[s];
        policy_log_softmax(lp, logits + (size_t)i * A, A);
        int a = mb->actions[s];
        float h = policy_entropy(lp, A);
        float logratio = lp[a] - mb->logprobs[s], ratio = expf(logratio);
        old_kl += -logratio;
        kl += (ratio - 1.0f) - logratio;
        cf += fabsf(ratio - 1.0f) > eps;
        ent += h;

        /* Clipped surrogate: max(-A·r, -A·clip(r)); the clipped branch has no gradient
         * once r is outside [1-eps, 1+eps]. */
        float pg1 = -adv * ratio, pg2 = -adv * clampf(ratio, 1.0f - eps, 1.0f + eps);
        int inside = ratio > 1.0f - eps && ratio < 1.0f + eps;
        pg += pg1 >= pg2 ? pg1 : pg2;
        float dnewlp = (pg1 >= pg2 || inside) ? -adv * ratio * inv_b : 0.0f;
        for (int j = 0; j < A; j++) {
            float pj = expf(lp[j]);
            /* d logp[a]/dz_j = 1[j=a] - p_j;  d H/dz_j = -p_j (log p_j + H) */
            dl[j] = dnewlp * ((j == a) - pj) + c->ent_coef * inv_b * pj * (lp[j] + h);
        }

        float v = values[i], ret = mb->returns[s], dv;
        float vu = (v - ret) * (v - ret);
        if (c->clip_vloss) {
            float vc = mb->values[s] + clampf(v - mb->values[s], -eps, eps);
            float vcl = (vc - ret) * (vc - ret);
            int vin = v - mb->values[s] > -eps && v - mb->values[s] < eps;
            vl += vu >= vcl ? vu : vcl;
            dv = vu >= vcl ? 2.0f * (v - ret) : (vin ? 2.0f * (vc - ret) : 0.0f);
        } else {
            vl += vu;
            dv = 2.0f * (v - ret);
        }
        dvalues[i] = c->vf_coef * 0.5f * dv * inv_b;
    }
    double sums[6] = {pg, vl, ent, kl, old_kl, cf};
    memcpy(sh->sums, sums, sizeof sums);
    if (th->backward) policy_backward(p, sh->work, sh->grads, dlogits, dvalues, n);
}

/* Parameters [lo, hi) of thread k's slice, split at multiples of 16 floats. */
static void slice_of(size_t n, int k, int threads, size_t *lo, size_t *hi)
{
    *lo = k == 0 ? 0 : (n * (size_t)k / (size_t)threads) & ~(size_t)15;
    *hi = k == threads - 1 ? n : (n * (size_t)(k + 1) / (size_t)threads) & ~(size_t)15;
}

NN_VECTOR static void add_into(float *g, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] += x[i];
}

/* Thread k's slice of the summed gradient: with reduce, the other shards' gradients added
 * into shard 0's (the policy's) first; then the slice's squares. */
static void slice_sumsq(struct ppo_threads *th, int k, bool reduce)
{
    policy *p = th->o->pol;
    size_t lo, hi;
    slice_of(p->n_params, k, th->n, &lo, &hi);
    float *g = p->grads + lo;
    for (int j = 1; reduce && j < th->n; j++) add_into(g, th->shard[j].grads + lo, hi - lo);
    th->shard[k].sumsq = nn_sumsq(g, hi - lo);
}

static void job_reduce(void *arg, int k)
{
    slice_sumsq(arg, k, true);
}
static void job_sumsq(void *arg, int k)
{
    slice_sumsq(arg, k, false);
}

static void job_adam(void *arg, int k)
{
    struct ppo_threads *th = arg;
    policy *p = th->o->pol;
    size_t lo, hi;
    slice_of(p->n_params, k, th->n, &lo, &hi);
    float *g = p->grads + lo;
    if (th->clip < 1.0f)
        for (size_t i = 0; i < hi - lo; i++) g[i] *= th->clip;
    nn_adam_step(p->params + lo, g, p->adam_m + lo, p->adam_v + lo, hi - lo, th->lr, 0.9f, 0.999f,
                 th->c->adam_eps, th->o->adam_t);
}

float ppo_minibatch_loss(ppo *o, const ppo_config *c, const ppo_batch *mb, int B, int backward,
                         ppo_stats *st)
{
    struct ppo_threads *th = o->threads;

    /* Advantages normalised over the whole minibatch (every rank's part of it), with torch's
     * unbiased std. */
    int ranks = dist_size();
    double B_all = (double)B * ranks, mean = 0.0, var = 0.0;
    for (int i = 0; i < B; i++) mean += mb->advantages[i];
    dist_sum_f64(&mean, 1);
    mean /= B_all;
    for (int i = 0; i < B; i++) var += (mb->advantages[i] - mean) * (mb->advantages[i] - mean);
    dist_sum_f64(&var, 1);
    float sd = (float)sqrt(var / (B_all > 1 ? B_all - 1 : 1));
    for (int i = 0; i < B; i++)
        o->adv[i] =
            c->norm_adv ? (float)((mb->advantages[i] - mean) / (sd + 1e-8f)) : mb->advantages[i];

    th->c = c, th->mb = mb, th->B = B, th->B_all = B_all, th->backward = backward;
    pool_round(th->pool, job_shards, th);
    double sums[6] = {0};
    for (int k = 0; k < th->n; k++)
        for (int j = 0; j < 6; j++) sums[j] += th->shard[k].sums[j];
    dist_sum_f64(sums, 6);
    if (backward) pool_round(th->pool, job_reduce, th);
    /* Across ranks: the gradients summed as one buffer, then their squares again. */
    if (backward && ranks > 1) {
        double t0 = gb_now();
        dist_sum_f32(o->pol->grads, o->pol->n_params);
        o->allreduce_seconds += gb_now() - t0;
        o->allreduce_bytes += (int64_t)(sizeof(float) * o->pol->n_params);
        pool_round(th->pool, job_sumsq, th);
    }
    double pg = sums[0] / B_all, vl = 0.5 * sums[1] / B_all, ent = sums[2] / B_all;
    float loss = (float)(pg - c->ent_coef * ent + c->vf_coef * vl);
    if (st) {
        st->loss = loss;
        st->pg_loss = (float)pg, st->v_loss = (float)vl, st->entropy = (float)ent;
        st->approx_kl = (float)(sums[3] / B_all), st->old_approx_kl = (float)(sums[4] / B_all);
        st->clipfrac = (float)(sums[5] / B_all);
    }
    return loss;
}

static float explained_variance(const float *pred, const float *y, size_t n)
{
    double my = 0.0, md = 0.0;
    for (size_t i = 0; i < n; i++) my += y[i], md += y[i] - pred[i];
    my /= (double)n, md /= (double)n;
    double vy = 0.0, vd = 0.0;
    for (size_t i = 0; i < n; i++) {
        vy += (y[i] - my) * (y[i] - my);
        double d = y[i] - pred[i] - md;
        vd += d * d;
    }
    return vy == 0.0 ? NAN : (float)(1.0 - vd / vy);
}

void ppo_update(ppo *o, const rollout_buffer *rb, const ppo_config *c, float lr, ppo_stats *st)
{
    int mb = o->mb_size, n_mb = o->batch / mb;
    float *f = o->mb_f32;
    ppo_batch batch = {rb->obs, NULL, o->mb_actions, f, f + mb, f + 2 * mb, f + 3 * mb};
    ppo_stats sum = {0}, last = {0};
    int done = 0, epoch = 0;
    o->allreduce_seconds = 0.0, o->allreduce_bytes = 0;
    for (; epoch < c->epochs; epoch++) {
        /* A fresh permutation each epoch: the shuffle RNG is then the only state carried
         * between updates, which is what a checkpoint saves. */
        for (int i = 0; i < o->batch; i++) o->perm[i] = i;
        for (int i = o->batch - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)rng_below(&o->shuffle_rng, (uint32_t)i + 1);
            int32_t t = o->perm[i];
            o->perm[i] = o->perm[j], o->perm[j] = t;
        }
        for (int m = 0; m < n_mb; m++) {
            batch.rows = o->perm + (size_t)m * mb;
            for (int k = 0; k < mb; k++) {
                size_t idx = (size_t)o->perm[m * mb + k];
                o->mb_actions[k] = rb->actions[idx];
                f[k] = rb->logprobs[idx];
                f[mb + k] = rb->values[idx];
                f[2 * mb + k] = rb->advantages[idx];
                f[3 * mb + k] = rb->returns[idx];
            }
            ppo_minibatch_loss(o, c, &batch, mb, 1, &last);
            /* The global norm from the slices' squares (in slice order), clipping as
             * torch.nn.utils.clip_grad_norm_, then Adam: both on every thread's slice. */
            double sq = 0.0;
            for (int k = 0; k < o->threads->n; k++) sq += o->threads->shard[k].sumsq;
            last.grad_norm = (float)sqrt(sq);
            o->threads->clip = nn_clip_scale(last.grad_norm, c->max_grad_norm);
            o->threads->lr = lr, o->threads->c = c;
            o->adam_t++;
            pool_round(o->threads->pool, job_adam, o->threads);
            sum.loss += last.loss, sum.pg_loss += last.pg_loss, sum.v_loss += last.v_loss;
            sum.entropy += last.entropy, sum.approx_kl += last.approx_kl;
            sum.old_approx_kl += last.old_approx_kl, sum.clipfrac += last.clipfrac;
            sum.grad_norm += last.grad_norm;
            done++;
        }
        /* CleanRL's early stop: the last minibatch's KL estimate, checked once per epoch. */
        if (c->target_kl > 0.0f && last.approx_kl > c->target_kl) {
            epoch++;
            break;
        }
    }
    if (!st) return;
    float k = done ? 1.0f / (float)done : 0.0f;
    *st = (ppo_stats){sum.loss * k,
                      sum.pg_loss * k,
                      sum.v_loss * k,
                      sum.entropy * k,
                      sum.approx_kl * k,
                      sum.old_approx_kl * k,
                      sum.clipfrac * k,
                      0.0f,
                      sum.grad_norm * k,
                      epoch,
                      done,
                      o->allreduce_seconds,
                      o->allreduce_bytes};
    st->explained_var =
        explained_variance(rb->values, rb->returns, (size_t)rb->n_envs * (size_t)rb->steps);
}
