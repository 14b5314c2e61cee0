/* GAE by hand (termination vs truncation), the categorical helpers, and the full PPO loss's
 * gradient w.r.t. every parameter against central finite differences.
 *
 * Tolerance (float32): the loss is a mean of O(1) terms; with step h = 1e-3 the difference
 * noise is ~1e-4, so for the MLPs each entry must agree within 1e-3 + 2e-2·|g| and each
 * tensor's relative L2 error must be below 5e-2; for the CNN 5e-3 + 2e-2·|g| and 6e-2 (see
 * main). A wrong backward is off by O(1): flipping the entropy gradient's sign or the clipped
 * value branch's gradient fails this test. Old log-probs and values are
 * offset from the current ones so that both branches of every clip are exercised, with no
 * sample near a clip boundary. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "gbfarm/nn.h"
#include "gbfarm/ppo.h"

static void test_gae(void)
{
    rollout_buffer rb;
    REQUIRE_OK(rollout_create(&rb, 2, 4, 1));
    float g = 0.9f, l = 0.8f;
    /* env 1: steps 0..3, the episode is truncated after t=1 and terminated after t=3 */
    float r[4] = {1, 2, 3, 4}, v[4] = {0.5f, 1.5f, -1.0f, 2.0f};
    for (int t = 0; t < 4; t++) rb.rewards[4 + t] = r[t], rb.values[4 + t] = v[t];
    rb.ends[4 + 1] = 1, rb.boot_values[4 + 1] = 10.0f;
    rb.ends[4 + 3] = 1;
    rb.last_values[1] = 100.0f; /* ignored: the last step terminated */
    ppo_gae(&rb, 1, g, l);
    double d3 = 4 - 2.0, d2 = 3 + g * 2.0 - (-1.0), d1 = 2 + g * 10.0 - 1.5, d0 = 1 + g * 1.5 - 0.5;
    double a3 = d3, a2 = d2 + g * l * a3, a1 = d1, a0 = d0 + g * l * a1;
    double want[4] = {a0, a1, a2, a3};
    for (int t = 0; t < 4; t++) {
        CHECKF(fabs(rb.advantages[4 + t] - want[t]) < 1e-5, "adv[%d] %g vs %g", t,
               rb.advantages[4 + t], want[t]);
        CHECK(fabs(rb.returns[4 + t] - (want[t] + v[t])) < 1e-5);
    }
    /* env 0: no ends, γ = λ = 1: the return is the reward-to-go plus the last value */
    for (int t = 0; t < 4; t++) rb.rewards[t] = 1.0f, rb.values[t] = 0.0f;
    rb.last_values[0] = 5.0f;
    ppo_gae(&rb, 0, 1.0f, 1.0f);
    for (int t = 0; t < 4; t++) CHECK(fabsf(rb.returns[t] - (float)(4 - t + 5)) < 1e-5f);
    CHECK(rb.advantages[4] == (float)want[0]); /* env 1 untouched by env 0's GAE */
    rollout_free(&rb);
}

static void test_categorical(void)
{
    float logits[4] = {0.0f, 1.0f, 2.0f, -1.0f}, logp[4];
    policy_log_softmax(logp, logits, 4);
    double s = 0.0;
    for (int i = 0; i < 4; i++) s += exp(logp[i]);
    CHECK(fabs(s - 1.0) < 1e-6);
    float u[5] = {0}, ulp[5];
    policy_log_softmax(ulp, u, 5);
    CHECK(fabsf(policy_entropy(ulp, 5) - logf(5.0f)) < 1e-6f);
    rng r;
    rng_seed(&r, 7, 0);
    int count[4] = {0}, n = 200000;
    for (int i = 0; i < n; i++) count[policy_sample(logp, 4, &r)]++;
    for (int i = 0; i < 4; i++)
        CHECKF(fabs(count[i] / (double)n - exp(logp[i])) < 0.005, "action %d: %g vs %g", i,
               count[i] / (double)n, exp(logp[i]));
}

/* ---- the PPO loss gradient ---- */
static void grad_check_ppo(const char *what, env_spec spec, int shared, int hidden, int B,
                           int max_per_tensor, double abs_tol, double tensor_tol, float ent_coef,
                           float vf_coef)
{
    policy_config pc = policy_config_default(spec);
    pc.shared_trunk = shared;
    pc.hidden = hidden;
    policy *p;
    ppo *o;
    REQUIRE_OK(policy_create(&p, &pc, 42));
    REQUIRE_OK(ppo_create(&o, p, B, 1, 1));
    /* larger heads than the init's 0.01 gain so the policy term is not negligible */
    rng r;
    rng_seed(&r, 3, 0);
    for (size_t i = 0; i < p->n_params; i++) p->params[i] += 0.05f * rng_normal(&r);

    size_t ob = env_obs_bytes(&spec);
    uint8_t *obs = malloc((size_t)B * ob);
    int32_t *act = malloc(sizeof(int32_t) * B);
    float *f = malloc(sizeof(float) * 4 * B);
    for (size_t i = 0; i < (size_t)B * ob; i++) obs[i] = (uint8_t)rng_u32(&r);
    if (spec.obs_type == ENV_OBS_F32)
        for (size_t i = 0; i < (size_t)B * ob / 4; i++) ((float *)obs)[i] = rng_normal(&r);
    for (int i = 0; i < B && spec.obs_vars; i++) /* variables beside the screens, in [0, 1] */
        for (int k = 0; k < spec.obs_vars; k++)
            ((float *)(obs + i * ob + env_obs_vars_offset(&spec)))[k] = rng_uniform(&r);
    float *logits, *values;
    policy_work *w;
    REQUIRE_OK(policy_work_create(&w, p, B));
    policy_forward(p, w, obs, B, &logits, &values);
    static const float lp_off[4] = {0.05f, -0.05f, 0.5f, -0.5f},
                       v_off[4] = {0.05f, -1.0f, 1.0f, -0.05f};
    for (int i = 0; i < B; i++) {
        float lp[64];
        policy_log_softmax(lp, logits + (size_t)i * spec.n_actions, spec.n_actions);
        act[i] = (int32_t)rng_below(&r, (uint32_t)spec.n_actions);
        f[i] = lp[act[i]] - lp_off[i % 4]; /* ratio e^0.05 inside, e^0.5 outside the clip */
        f[B + i] =
            values[i] - v_off[(i * 3 + i / 4) % 4]; /* value moved inside / outside its clip */
        f[2 * B + i] = rng_normal(&r);              /* advantages */
        f[3 * B + i] = values[i] + rng_normal(&r);  /* returns */
    }
    ppo_batch mb = {obs, NULL, act, f, f + B, f + 2 * B, f + 3 * B};
    ppo_config c = ppo_config_default();
    c.ent_coef = ent_coef, c.vf_coef = vf_coef;
    ppo_stats st;
    ppo_minibatch_loss(o, &c, &mb, B, 1, &st);
    CHECK(st.clipfrac > 0.3f && st.clipfrac < 0.7f); /* both branches present */
    float *grad = malloc(sizeof(float) * p->n_params);
    memcpy(grad, p->grads, sizeof(float) * p->n_params);

    /* The same minibatch cut into 3 shards on 3 threads: the same loss and gradient up to
     * float summation order, and bit-identical from one call to the next. */
    REQUIRE_OK(ppo_set_threads(o, 3));
    ppo_stats st3;
    ppo_minibatch_loss(o, &c, &mb, B, 1, &st3);
    float *grad3 = malloc(sizeof(float) * p->n_params);
    memcpy(grad3, p->grads, sizeof(float) * p->n_params);
    ppo_minibatch_loss(o, &c, &mb, B, 1, NULL);
    CHECKF(!memcmp(grad3, p->grads, sizeof(float) * p->n_params),
           "%s: 3 update threads are not deterministic", what);
    float gmax = 0.0f, dmax = 0.0f;
    for (size_t i = 0; i < p->n_params; i++)
        gmax = fmaxf(gmax, fabsf(grad[i])), dmax = fmaxf(dmax, fabsf(grad3[i] - grad[i]));
    CHECKF(dmax <= 1e-5f * gmax && gmax > 0.0f, "%s: 3 shards' gradient differs by %g of %g", what,
           dmax, gmax);
    CHECKF(fabsf(st3.loss - st.loss) <= 1e-5f * fabsf(st.loss) + 1e-7f &&
               st3.clipfrac == st.clipfrac,
           "%s: 3 shards' loss %g vs %g", what, st3.loss, st.loss);
    free(grad3);
    REQUIRE_OK(ppo_set_threads(o, 1));

    const float h = 1e-3f;
    int bad_tensors = 0;
    size_t checked = 0;
    double worst_rel = 0.0;
    for (int t = 0; t < p->n_tensors; t++) {
        const policy_tensor *pt = &p->tensors[t];
        size_t n = pt->count, step = n > (size_t)max_per_tensor ? n / max_per_tensor + 1 : 1;
        double e2 = 0.0, r2 = 0.0;
        int bad = 0;
        for (size_t k = rng_below(&r, (uint32_t)step); k < n; k += step) {
            float *x = p->params + pt->offset + k, keep = *x;
            *x = keep + h;
            double lp = ppo_minibatch_loss(o, &c, &mb, B, 0, NULL);
            *x = keep - h;
            double lm = ppo_minibatch_loss(o, &c, &mb, B, 0, NULL);
            *x = keep;
            double num = (lp - lm) / (2.0 * h), a = grad[pt->offset + k], d = fabs(num - a);
            e2 += d * d, r2 += num * num;
            if (d > abs_tol + 2e-2 * fabs(num)) bad++;
            checked++;
        }
        double rel = sqrt(e2) / (sqrt(r2) + 1e-9);
        if (rel > worst_rel) worst_rel = rel;
        if (bad || rel > tensor_tol) {
            bad_tensors++;
            fprintf(stderr, "%s: %s: %d entries off, relative error %.3e\n", what, pt->name, bad,
                    rel);
        }
    }
    printf("  %s: %zu of %zu parameters checked in %d tensors, worst tensor relative L2 error "
           "%.2e\n",
           what, checked, p->n_params, p->n_tensors, worst_rel);
    CHECKF(bad_tensors == 0, "%s: %d tensors with wrong gradients", what, bad_tensors);
    free(grad), free(obs), free(act), free(f);
    policy_work_free(w);
    ppo_free(o);
    policy_free(p);
}

/* With bf16 multiplies (--precision bf16) the minibatch's gradient is the float one's up to
 * bf16's rounding, tensor by tensor, and bit-identical from one call to the next and on 1
 * or 3 update threads run twice. The forward's rounding (logits and value 0.3-0.9% off)
 * moves the first layers' gradients of this random minibatch by 5-7% (relative L2: the
 * samples' terms cancel); the backward's alone by 0.4%. A wrong layout is off by O(1). */
static void test_bf16_gradient(void)
{
    env_spec spec = {ENV_OBS_U8, 2, 36, 40, 4, 0};
    policy_config pc = policy_config_default(spec);
    pc.cnn = POLICY_CNN_NATURE, pc.hidden = 32;
    enum { B = 24 };
    policy *p;
    ppo *o;
    REQUIRE_OK(policy_create(&p, &pc, 7));
    REQUIRE_OK(ppo_create(&o, p, B, 1, 1));
    rng r;
    rng_seed(&r, 5, 0);
    for (size_t i = 0; i < p->n_params; i++) p->params[i] += 0.05f * rng_normal(&r);
    size_t ob = env_obs_bytes(&spec);
    uint8_t *obs = malloc(B * ob);
    int32_t act[B];
    float f[4 * B];
    for (size_t i = 0; i < B * ob; i++) obs[i] = (uint8_t)rng_u32(&r);
    for (int i = 0; i < B; i++) {
        act[i] = (int32_t)rng_below(&r, 4);
        f[i] = -1.4f + 0.1f * rng_normal(&r), f[B + i] = rng_normal(&r);
        f[2 * B + i] = rng_normal(&r), f[3 * B + i] = rng_normal(&r);
    }
    ppo_batch mb = {obs, NULL, act, f, f + B, f + 2 * B, f + 3 * B};
    ppo_config c = ppo_config_default();
    /* No clipping: a sample at a clip's edge would switch in or out with the forward's last
     * bits and move a tensor's gradient by a whole sample's share. */
    c.clip_coef = 100.0f, c.clip_vloss = 0;
    float *g[3];
    for (int m = 0; m < 3; m++) { /* float, bf16, bf16 again */
        CHECK(nn_set_bf16(m > 0) == 0);
        ppo_minibatch_loss(o, &c, &mb, B, 1, NULL);
        g[m] = malloc(sizeof(float) * p->n_params);
        memcpy(g[m], p->grads, sizeof(float) * p->n_params);
    }
    CHECK(!memcmp(g[1], g[2], sizeof(float) * p->n_params));
    REQUIRE_OK(ppo_set_threads(o, 3));
    ppo_minibatch_loss(o, &c, &mb, B, 1, NULL);
    memcpy(g[2], p->grads, sizeof(float) * p->n_params);
    ppo_minibatch_loss(o, &c, &mb, B, 1, NULL);
    CHECK(!memcmp(g[2], p->grads, sizeof(float) * p->n_params));
    double worst = 0.0;
    for (int t = 0; t < p->n_tensors; t++) {
        const policy_tensor *pt = &p->tensors[t];
        double e2 = 0.0, r2 = 0.0;
        for (size_t k = pt->offset; k < pt->offset + pt->count; k++) {
            double d = (double)g[1][k] - g[0][k];
            e2 += d * d, r2 += (double)g[0][k] * g[0][k];
        }
        double rel = sqrt(e2) / (sqrt(r2) + 1e-30);
        if (rel > worst) worst = rel;
        CHECKF(rel < 0.15, "bf16 gradient of %s: relative L2 error %.3e", pt->name, rel);
    }
    printf("  bf16 against float gradient: worst tensor relative L2 error %.2e\n", worst);

    /* The rollout's forward: a pinned batch-1 work multiplies its convolutions and its trunk's
     * linear layer in bf16; within bf16's rounding of the float forward's logits and values. */
    policy_work *w16, *w32;
    REQUIRE_OK(policy_work_create(&w16, p, 1));
    policy_work_pin(w16, p);
    CHECK(nn_set_bf16(0) == 0);
    REQUIRE_OK(policy_work_create(&w32, p, 1));
    float dl = 0.0f, ml = 0.0f, dv = 0.0f, mv = 0.0f;
    for (int i = 0; i < B; i++) {
        float *l16, *v16, *l32, *v32, keep[5];
        CHECK(nn_set_bf16(1) == 0);
        policy_forward(p, w16, obs + i * ob, 1, &l16, &v16);
        memcpy(keep, l16, sizeof(float) * 4), keep[4] = *v16;
        CHECK(nn_set_bf16(0) == 0);
        policy_forward(p, w32, obs + i * ob, 1, &l32, &v32);
        for (int a = 0; a < 4; a++)
            dl = fmaxf(dl, fabsf(keep[a] - l32[a])), ml = fmaxf(ml, fabsf(l32[a]));
        dv = fmaxf(dv, fabsf(keep[4] - *v32)), mv = fmaxf(mv, fabsf(*v32));
    }
    CHECKF(dl < 0.03f * ml && dv < 0.03f * mv && dl > 0.0f,
           "rollout forward in bf16: logits off by %g of %g, values %g of %g", dl, ml, dv, mv);
    printf("  rollout forward in bf16 against float: logits %.2e, values %.2e of their largest\n",
           dl / ml, dv / mv);
    policy_work_free(w16), policy_work_free(w32);
    CHECK(nn_set_bf16(0) == 0);
    for (int m = 0; m < 3; m++) free(g[m]);
    free(obs);
    ppo_free(o);
    policy_free(p);
}

/* Whether two sets of logits agree to float rounding (a pinned work sums its linear layer in
 * another order than the plain forward). */
static bool logits_close(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1.0f + fabsf(b[i]))) return false;
    return true;
}

/* A pinned work (a rollout's) gives the plain forward's logits to float rounding (bit for bit
 * with the convolutions' taps pinned alone), keeps the weights of its pin when the parameters
 * change, and takes the new ones at the next pin. */
static void test_pinned(void)
{
    env_spec spec = {ENV_OBS_U8, 2, 36, 40, 4, 0};
    policy_config pc = policy_config_default(spec);
    pc.cnn = POLICY_CNN_NATURE, pc.hidden = 32;
    policy *p;
    policy_work *plain, *pinned;
    REQUIRE_OK(policy_create(&p, &pc, 7));
    REQUIRE_OK(policy_work_create(&plain, p, 1));
    REQUIRE_OK(policy_work_create(&pinned, p, 1));
    size_t ob = env_obs_bytes(&spec);
    uint8_t *obs = malloc(ob);
    for (size_t i = 0; i < ob; i++) obs[i] = (uint8_t)(i * 29 + 3);
    float a[4], *l;
    policy_forward(p, plain, obs, 1, &l, NULL);
    memcpy(a, l, sizeof a);
    policy_work_pin(pinned, p);
    policy_pin(p);
    policy_forward(p, pinned, obs, 1, &l, NULL);
    CHECKF(logits_close(a, l, 4), "pinned logits %g %g, plain %g %g", l[0], l[1], a[0], a[1]);
    for (size_t i = 0; i < p->n_params; i++) p->params[i] *= 1.5f;
    policy_forward(p, pinned, obs, 1, &l, NULL);
    CHECKF(memcmp(a, l, sizeof a) != 0, "the heads' new weights changed nothing");
    float b[4];
    policy_forward(p, plain, obs, 1, &l, NULL);
    memcpy(b, l, sizeof b);
    CHECKF(!logits_close(a, b, 4), "new weights changed nothing");
    policy_forward(p, pinned, obs, 1, &l, NULL);
    CHECKF(!logits_close(b, l, 4), "a pinned work took weights changed after its pin");
    policy_work_pin(pinned, p);
    policy_pin(p);
    policy_forward(p, pinned, obs, 1, &l, NULL);
    CHECKF(logits_close(b, l, 4), "a new pin did not take the new weights");
    policy_unpin(p);
    policy_forward(p, pinned, obs, 1, &l, NULL); /* the convolutions' taps pinned alone */
    CHECK(memcmp(b, l, sizeof b) == 0);
    policy_pin(p);
    policy_work_unpin(pinned);
    policy_forward(p, pinned, obs, 1, &l, NULL);
    CHECK(memcmp(b, l, sizeof b) == 0);
    free(obs);
    policy_work_free(plain), policy_work_free(pinned);
    policy_free(p);
}

int main(void)
{
    nn_set_threads(1);
    test_gae();
    test_categorical();
    test_pinned();
    if (nn_bf16_supported())
        test_bf16_gradient();
    else
        printf("bf16 gradient: skipped (this CPU has no AVX512_BF16)\n");
    /* MLP, separate actor and critic (CartPole's net): every parameter */
    /* Each term gets a check where it dominates: the surrogate alone, the entropy bonus with a
     * large coefficient, and the default mix (clipped value loss included). */
    env_spec vec = {ENV_OBS_F32, 1, 1, 4, 3, 0};
    grad_check_ppo("mlp separate, pg only", vec, 0, 16, 16, 1 << 30, 1e-3, 5e-2, 0.0f, 0.0f);
    grad_check_ppo("mlp separate, entropy", vec, 0, 16, 16, 1 << 30, 1e-3, 5e-2, 1.0f, 0.0f);
    grad_check_ppo("mlp separate", vec, 0, 16, 16, 1 << 30, 1e-3, 5e-2, 0.01f, 0.5f);
    grad_check_ppo("mlp shared", (env_spec){ENV_OBS_F32, 1, 1, 6, 5, 0}, 1, 12, 16, 1 << 30, 1e-3,
                   5e-2, 0.1f, 0.5f);
    /* Nature CNN, shared trunk, on a small screen: up to 150 entries of every tensor. Four
     * ReLU layers in float32 scatter the first layer's differences by ~2e-3 (forward noise
     * and kinks), so entries get 5e-3 and tensors 6e-2; a wrong backward is still O(1). */
    grad_check_ppo("cnn shared", (env_spec){ENV_OBS_U8, 2, 36, 40, 4, 0}, 1, 32, 4, 150, 5e-3, 6e-2,
                   0.1f, 0.5f);
    /* The same with 6 variables beside the screens (Catch's), whose embedding joins the CNN's
     * features. A screen of 2×36×39 bytes makes the variables' offset a rounded-up one. */
    grad_check_ppo("cnn + vars shared", (env_spec){ENV_OBS_U8, 2, 36, 39, 4, 6}, 1, 32, 4, 150,
                   5e-3, 6e-2, 0.1f, 0.5f);
    return check_summary();
}
