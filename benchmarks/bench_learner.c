/* Learner benchmark: the machine's peak sgemm, CartPole PPO to 100k steps, and one PPO update
 * of the Nature CNN on 2048 stacked 4×80×72 uint8 screens (4 epochs × 4 minibatches), on 1
 * and 2 BLAS threads, with the GFLOP/s it achieves against the peak.
 *   bench_learner [--skip-cartpole] [--only small|nature]      results: benchmarks/learner.md */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/cartpole.h"
#include "gbfarm/clock.h"
#include "gbfarm/nn.h"
#include "gbfarm/ppo.h"
#include "gbfarm/train.h"

static double peak_sgemm(int threads)
{
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 1000);
    nn_set_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = gb_now();
        nn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = gb_now() - t0;
        if (r > 0 && dt < best) best = dt; /* the first run warms up */
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

static gb_error *make_cartpole(void *ctx, int index, uint64_t seed, env **out)
{
    return cartpole_create(out, seed, index);
}

static void bench_cartpole(void)
{
    train_config c = train_config_default(); /* the tuned config of tests/test_train_cartpole */
    c.n_envs = 8, c.rollout_steps = 32, c.total_steps = 100000, c.lr = 1e-3f;
    c.gamma = 0.98f, c.gae_lambda = 0.8f, c.ppo.epochs = 20, c.ppo.minibatches = 1;
    c.ppo.ent_coef = 0.0f, c.seed = 1, c.update_threads = 1;
    train *t;
    gb_error *err = train_create(&t, &c, make_cartpole, NULL, NULL);
    if (err) {
        fprintf(stderr, "%s\n", gb_error_msg(err));
        exit(1);
    }
    double t0 = gb_now(), roll = 0.0, upd = 0.0;
    train_stats s;
    while (!train_finished(t)) {
        train_iteration(t, &s);
        roll += s.rollout_seconds, upd += s.update_seconds;
    }
    double dt = gb_now() - t0;
    printf("cartpole: %lld steps (8 envs × 32, 20 epochs) in %.2f s = %.0f steps/s "
           "(rollouts %.2f s, updates %.2f s), mean return of last 20: %.1f\n",
           (long long)s.global_step, dt, (double)s.global_step / dt, roll, upd, s.mean_return_20);
    train_free(t);
}

/* Forward FLOPs of one sample, and backward (dW everywhere, dX past the first layer). */
static void cnn_flops(const policy *p, double *fwd, double *bwd)
{
    *fwd = *bwd = 0.0;
    for (int i = 0; i < p->trunk[0].n; i++) {
        const policy_layer *l = &p->trunk[0].layers[i];
        double f = l->kind == POLICY_CONV
                       ? 2.0 * l->out_c * l->in_c * l->k * l->k * l->out_h * l->out_w
                       : 2.0 * l->in_c * l->out_c;
        *fwd += f;
        *bwd += i == 0 ? f : 2.0 * f;
    }
    double heads = 2.0 * p->pi_head.in_c * (p->pi_head.out_c + 1);
    *fwd += heads, *bwd += 2.0 * heads;
}

typedef struct cnn_case {
    const char *name;
    policy_cnn cnn;
    int hidden, stack, actions, envs, T, epochs, minibatches;
} cnn_case;

static double time_passes(const policy *p, policy_work *w, const uint8_t *obs, int B, int reps,
                          int backward, float *grads, const float *dl, const float *dv)
{
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = gb_now();
        policy_forward(p, w, obs, B, NULL, NULL);
        if (backward) policy_backward(p, w, grads, dl, dv, B);
        double dt = gb_now() - t0;
        if (r > 0 && dt < best) best = dt; /* the first pass warms up */
    }
    return best;
}

/* " = N% of peak" and the line's end; nothing but the end where no peak was measured
 * (--only). */
static void print_share(double gflops, double peak, int name_peak)
{
    if (peak <= 0.0) {
        printf("\n");
        return;
    }
    printf(" = %3.0f%% of peak", 100.0 * gflops / peak);
    if (name_peak) printf(" (%.1f GFLOP/s)", peak);
    printf("\n");
}

/* One PPO update at a case's settings on 1 and 2 threads, its forward and backward passes
 * apart on one thread (a minibatch as one shard), and the rollout's batch-1 forward. */
static void bench_cnn(const cnn_case *k, double peak1, double peak2)
{
    env_spec spec = {ENV_OBS_U8, k->stack, 72, 80, k->actions, 0};
    policy_config pc = policy_config_default(spec);
    pc.cnn = k->cnn, pc.hidden = k->hidden;
    policy *p;
    ppo *o;
    rollout_buffer rb;
    const int batch = k->envs * k->T, mb = batch / k->minibatches;
    policy_work *w;
    if (policy_create(&p, &pc, 1) || ppo_create(&o, p, batch, k->minibatches, 1) ||
        rollout_create(&rb, k->envs, k->T, env_obs_bytes(&spec)) || policy_work_create(&w, p, mb)) {
        fprintf(stderr, "bench: setup failed\n");
        exit(1);
    }
    rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < (size_t)batch * rb.obs_bytes; i++) rb.obs[i] = (uint8_t)rng_u32(&r);
    for (int i = 0; i < batch; i++) {
        rb.actions[i] = (int32_t)rng_below(&r, (uint32_t)k->actions);
        rb.logprobs[i] = -logf((float)k->actions) + 0.1f * rng_normal(&r);
        rb.values[i] = rng_normal(&r);
        rb.advantages[i] = rng_normal(&r);
        rb.returns[i] = rb.values[i] + rb.advantages[i];
    }
    double fwd, bwd;
    cnn_flops(p, &fwd, &bwd);
    ppo_config c = ppo_config_default();
    c.epochs = k->epochs, c.minibatches = k->minibatches;
    double flop = (fwd + bwd) * batch * c.epochs;
    printf("\n%s%s: %s CNN, fc %d, %d×80×72 screens, %d actions, %zu parameters; %d envs × %d "
           "steps, %d epochs × %d minibatches of %d; %.2f MFLOP forward + %.2f backward a "
           "sample, %.1f GFLOP an update\n",
           k->name, nn_bf16() ? " (bf16 multiplies)" : "",
           k->cnn == POLICY_CNN_SMALL ? "small" : "Nature", k->hidden, k->stack, k->actions,
           p->n_params, k->envs, k->T, c.epochs, c.minibatches, mb, fwd / 1e6, bwd / 1e6,
           flop / 1e9);
    nn_set_threads(1); /* the update's threads each run single-threaded BLAS */

    float *dl = malloc(sizeof(float) * mb * k->actions), *dv = malloc(sizeof(float) * mb);
    for (int i = 0; i < mb * k->actions; i++) dl[i] = 1e-3f * rng_normal(&r);
    for (int i = 0; i < mb; i++) dv[i] = 1e-3f * rng_normal(&r);
    int reps = mb >= 256 ? 3 : 20;
    double tf = time_passes(p, w, rb.obs, mb, reps, 0, NULL, NULL, NULL);
    double tfb = time_passes(p, w, rb.obs, mb, reps, 1, p->grads, dl, dv), tb = tfb - tf;
    printf("  forward,  batch %3d, 1 thread: %7.3f ms = %6.1f GFLOP/s", mb, 1e3 * tf,
           fwd * mb / tf / 1e9);
    print_share(fwd * mb / tf / 1e9, peak1, 0);
    printf("  backward, batch %3d, 1 thread: %7.3f ms = %6.1f GFLOP/s", mb, 1e3 * tb,
           bwd * mb / tb / 1e9);
    print_share(bwd * mb / tb / 1e9, peak1, 0);
    policy_work *w1; /* a batch-1 work, pinned, as a rollout's env thread has */
    if (policy_work_create(&w1, p, 1)) exit(1);
    policy_work_pin(w1, p);
    policy_pin(p);
    double t1 = time_passes(p, w1, rb.obs, 1, 200, 0, NULL, NULL, NULL);
    policy_unpin(p);
    policy_work_free(w1);
    printf("  forward,  batch   1, 1 thread: %7.3f ms (the rollout's, per env step)\n", 1e3 * t1);
    for (int threads = 1; threads <= 2; threads++) {
        if (ppo_set_threads(o, threads)) exit(1);
        ppo_stats st;
        ppo_update(o, &rb, &c, 2.5e-4f, &st); /* warm-up */
        double dt = 1e30, peak = threads == 1 ? peak1 : peak2;
        for (int rep = 0; rep < 3; rep++) { /* the best of three: this machine's noise is ±10% */
            double t0 = gb_now();
            ppo_update(o, &rb, &c, 2.5e-4f, &st);
            if (gb_now() - t0 < dt) dt = gb_now() - t0;
        }
        printf("  update, %d thread%s: %.3f s = %.3f ms a sample, %6.1f GFLOP/s", threads,
               threads > 1 ? "s" : " ", dt, 1e3 * dt / batch, flop / dt / 1e9);
        print_share(flop / dt / 1e9, peak, 1);
    }
    free(dl), free(dv);
    policy_work_free(w);
    rollout_free(&rb);
    ppo_free(o);
    policy_free(p);
}

int main(int argc, char **argv)
{
    int skip_cartpole = 0, only = -1; /* --only small|nature: one update, e.g. under perf */
    int precisions = 3;               /* bit 0: float multiplies, bit 1: bf16 */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--skip-cartpole"))
            skip_cartpole = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = !strcmp(argv[++i], "small") ? POLICY_CNN_SMALL : POLICY_CNN_NATURE;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            precisions = !strcmp(argv[++i], "bf16") ? 2 : 1;
        else {
            fprintf(stderr, "usage: bench_learner [--skip-cartpole] [--only small|nature] "
                            "[--precision fp32|bf16]\n");
            return 2;
        }
    }
    if (!nn_bf16_supported()) precisions &= 1;
    printf("cores: %d; BLAS: %s; convolutions: gbfarm's %s kernels\n", nn_cpu_count(),
           nn_blas_kernels(), nn_gemm_isa());
    /* With --only (a profile of one update), the peak is not measured. */
    double p1 = only < 0 ? peak_sgemm(1) : 0.0, p2 = only < 0 ? peak_sgemm(2) : 0.0;
    if (only < 0)
        printf("peak sgemm (2048³): 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n", p1, p2);
    if (!skip_cartpole && only < 0) bench_cartpole();
    /* Pokémon Red as its users train it (Nature CNN, fc 512, 3 stacked screens, batch 512, one
     * epoch), the Nature CNN at PPO's Atari defaults, and what gbfarm train runs by default on
     * screens (the small CNN, 2 envs × 128 steps, 4 epochs × 4 minibatches of 64), and Catch
     * as its folder trains it (the small CNN, 8 envs × 128 steps, 2 epochs × 4 minibatches of
     * 256; its six observed variables left out). */
    static const cnn_case cases[] = {
        {"pokemon-red", POLICY_CNN_NATURE, 512, 3, 6, 2, 2048, 1, 8},
        {"nature, defaults", POLICY_CNN_NATURE, 512, 4, 8, 16, 128, 4, 4},
        {"small, defaults", POLICY_CNN_SMALL, 256, 4, 5, 2, 128, 4, 4},
        {"catch-gb", POLICY_CNN_SMALL, 256, 4, 5, 8, 128, 2, 4},
    };
    /* Each case with float multiplies, then bf16 ones where the CPU has them (the share is
     * of the float peak: bf16 can pass 100%). */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int bf16 = 0; bf16 <= 1; bf16++)
            if ((only < 0 || (int)cases[i].cnn == only) && precisions & (1 << bf16)) {
                nn_set_bf16(bf16);
                bench_cnn(&cases[i], p1, p2);
            }
    return 0;
}
