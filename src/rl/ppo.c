#include "gbfarm/ppo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/nn.h"

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
    size_t mb = (size_t)o->mb_size, A = (size_t)p->cfg.spec.n_actions;
    size_t obs_bytes = env_obs_bytes(&p->cfg.spec);
    o->perm = malloc(sizeof(int32_t) * (size_t)batch);
    o->mb_obs = malloc(mb * obs_bytes);
    o->mb_actions = malloc(mb * sizeof(int32_t));
    o->mb_f32 = malloc(4 * mb * sizeof(float));
    o->scratch = malloc((2 * mb * A + 2 * mb) * sizeof(float));
    gb_error *err = NULL;
    if (!o->perm || !o->mb_obs || !o->mb_actions || !o->mb_f32 || !o->scratch)
        err = gb_errorf("ppo: out of memory for minibatches of %d", o->mb_size);
    if (!err) err = policy_work_create(&o->work, p, o->mb_size);
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
    policy_work_free(o->work);
    free(o->perm);
    free(o->mb_obs);
    free(o->mb_actions);
    free(o->mb_f32);
    free(o->scratch);
    free(o);
}

static float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

float ppo_minibatch_loss(ppo *o, const ppo_config *c, const ppo_batch *mb, int B, int backward,
                         ppo_stats *st)
{
    policy *p = o->pol;
    int A = p->cfg.spec.n_actions;
    float *logits, *values;
    policy_forward(p, o->work, mb->obs, B, &logits, &values);
    float *dlogits = o->scratch, *logp = dlogits + (size_t)B * A, *dvalues = logp + (size_t)B * A;
    float *adv = dvalues + B;

    /* Advantages normalised per minibatch, with torch's unbiased std. */
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < B; i++) mean += mb->advantages[i];
    mean /= B;
    for (int i = 0; i < B; i++) var += (mb->advantages[i] - mean) * (mb->advantages[i] - mean);
    float sd = (float)sqrt(var / (B > 1 ? B - 1 : 1));
    for (int i = 0; i < B; i++)
        adv[i] =
            c->norm_adv ? (float)((mb->advantages[i] - mean) / (sd + 1e-8f)) : mb->advantages[i];

    double pg = 0.0, vl = 0.0, ent = 0.0, kl = 0.0, old_kl = 0.0, cf = 0.0;
    float eps = c->clip_coef, inv_b = 1.0f / (float)B;
    for (int i = 0; i < B; i++) {
        float *lp = logp + (size_t)i * A, *dl = dlogits + (size_t)i * A;
        policy_log_softmax(lp, logits + (size_t)i * A, A);
        int a = mb->actions[i];
        float h = policy_entropy(lp, A);
        float logratio = lp[a] - mb->logprobs[i], ratio = expf(logratio);
        old_kl += -logratio;
        kl += (ratio - 1.0f) - logratio;
        cf += fabsf(ratio - 1.0f) > eps;
        ent += h;

        /* Clipped surrogate: max(-A·r, -A·clip(r)); the clipped branch has no gradient
         * once r is outside [1-eps, 1+eps]. */
        float pg1 = -adv[i] * ratio, pg2 = -adv[i] * clampf(ratio, 1.0f - eps, 1.0f + eps);
        int inside = ratio > 1.0f - eps && ratio < 1.0f + eps;
        pg += pg1 >= pg2 ? pg1 : pg2;
        float dnewlp = (pg1 >= pg2 || inside) ? -adv[i] * ratio * inv_b : 0.0f;
        for (int j = 0; j < A; j++) {
            float pj = expf(lp[j]);
            /* d logp[a]/dz_j = 1[j=a] - p_j;  d H/dz_j = -p_j (log p_j + H) */
            dl[j] = dnewlp * ((j == a) - pj) + c->ent_coef * inv_b * pj * (lp[j] + h);
        }

        float v = values[i], ret = mb->returns[i], dv;
        float vu = (v - ret) * (v - ret);
        if (c->clip_vloss) {
            float vc = mb->values[i] + clampf(v - mb->values[i], -eps, eps);
            float vcl = (vc - ret) * (vc - ret);
            int vin = v - mb->values[i] > -eps && v - mb->values[i] < eps;
            vl += vu >= vcl ? vu : vcl;
            dv = vu >= vcl ? 2.0f * (v - ret) : (vin ? 2.0f * (vc - ret) : 0.0f);
        } else {
            vl += vu;
            dv = 2.0f * (v - ret);
        }
        dvalues[i] = c->vf_coef * 0.5f * dv * inv_b;
    }
    pg /= B, vl = 0.5 * vl / B, ent /= B;
    float loss = (float)(pg - c->ent_coef * ent + c->vf_coef * vl);
    if (st) {
        st->loss = loss;
        st->pg_loss = (float)pg, st->v_loss = (float)vl, st->entropy = (float)ent;
        st->approx_kl = (float)(kl / B), st->old_approx_kl = (float)(old_kl / B);
        st->clipfrac = (float)(cf / B);
    }
    if (backward) {
        memset(p->grads, 0, sizeof(float) * p->n_params);
        policy_backward(p, o->work, dlogits, dvalues, B);
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
    policy *p = o->pol;
    int mb = o->mb_size, n_mb = o->batch / mb;
    size_t ob = rb->obs_bytes;
    float *f = o->mb_f32;
    ppo_batch batch = {o->mb_obs, o->mb_actions, f, f + mb, f + 2 * mb, f + 3 * mb};
    ppo_stats sum = {0}, last = {0};
    int done = 0, epoch = 0;
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
            for (int k = 0; k < mb; k++) {
                size_t idx = (size_t)o->perm[m * mb + k];
                memcpy(o->mb_obs + (size_t)k * ob, rb->obs + idx * ob, ob);
                o->mb_actions[k] = rb->actions[idx];
                f[k] = rb->logprobs[idx];
                f[mb + k] = rb->values[idx];
                f[2 * mb + k] = rb->advantages[idx];
                f[3 * mb + k] = rb->returns[idx];
            }
            ppo_minibatch_loss(o, c, &batch, mb, 1, &last);
            last.grad_norm = nn_clip_grad_norm(p->grads, p->n_params, c->max_grad_norm);
            o->adam_t++;
            nn_adam_step(p->params, p->grads, p->adam_m, p->adam_v, p->n_params, lr, 0.9f, 0.999f,
                         c->adam_eps, o->adam_t);
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
                      done};
    st->explained_var =
        explained_variance(rb->values, rb->returns, (size_t)rb->n_envs * (size_t)rb->steps);
}
