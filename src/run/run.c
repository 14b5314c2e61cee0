#include "gbfarm/run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/dist.h"
#include "gbfarm/monitor.h"
#include "gbfarm/nn.h"
#include "gbfarm/progress.h"
#include "gbfarm/rundir.h"
#include "gbfarm/tensorboard.h"

static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig)
{
    stop_requested = sig;
}

typedef struct run {
    const run_config *rc;
    const train_config *tc;
    const run_hooks *hooks;
    bool lead; /* rank 0: the directory and the log are its */
    int ranks;
    monitor **monitors; /* one per env, each written only by its env's thread */
    gb_error **monitor_errs;
    tb_writer *tb;
    progress prog;
    int64_t frames0, steps0, update0;            /* where this process started */
    int64_t saved_steps;                         /* in latest.safetensors, -1 before the first */
    double rollout_s, update_s, env_s, policy_s; /* totals over this process's updates */
    double env_cpu_s;                            /* the same: the envs' CPU time */
    int64_t env_steps;                           /* the same: this process's env steps */
    double allreduce_s;                          /* the same: MPI's gradient exchange */
    int64_t allreduce_bytes, minibatches;
} run;

static void on_episode(void *ctx, int i, const env_episode *ep)
{
    run *r = ctx;
    if (!r->monitor_errs[i])
        r->monitor_errs[i] = monitor_episode(r->monitors[i], ep->ret, ep->length);
}

/* Set only when the caller has an on_step hook: no call per step otherwise. */
static void on_step(void *ctx, int i, env *e, int action)
{
    run *r = ctx;
    r->hooks->on_step(r->hooks->ctx, i, e, action);
}

/* ---- the directory and the logs ---- */

/* --resume --steps N: the run's length from now on, so that a later --resume keeps it. */
static gb_error *extend_config(const char *dir, int64_t steps)
{
    json_t *cfg;
    GB_TRY(rundir_read_config(dir, &cfg));
    json_object_set_new(cfg, "steps", json_integer(steps));
    gb_error *err = rundir_write_config(dir, cfg);
    json_decref(cfg);
    return err;
}

gb_error *run_read_config(const char *dir, json_t **out)
{
    *out = NULL;
    char *text = NULL;
    int64_t len = 0;
    if (dist_rank() == 0) {
        json_t *cfg;
        GB_TRY(rundir_check_resume(dir));
        GB_TRY(rundir_read_config(dir, &cfg));
        if (dist_size() == 1) {
            *out = cfg;
            return NULL;
        }
        text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(cfg);
        if (!text) return gb_errorf("%s/config.json: cannot encode it", dir);
        len = (int64_t)strlen(text);
    }
    dist_bcast(&len, sizeof len, 0);
    if (!text && !(text = calloc(1, (size_t)len + 1)))
        return gb_errorf("%s/config.json: out of memory", dir);
    dist_bcast(text, (size_t)len, 0);
    json_error_t je;
    *out = json_loads(text, JSON_PRESERVE_ORDER, &je);
    free(text);
    return *out ? NULL : gb_errorf("%s/config.json from rank 0: %s", dir, je.text);
}

/* A new run's directory and config.json (rank 0), or a rank's own copy of it. */
static gb_error *prepare_dir(run *r)
{
    const run_config *rc = r->rc;
    if (!r->lead) return rundir_make(rc->dir);
    if (rc->resume) return rc->extend ? extend_config(rc->dir, r->tc->total_steps) : NULL;
    bool restart;
    GB_TRY(rundir_create(rc->dir, &restart));
    if (restart)
        printf("%s held a run that stopped before its first checkpoint: starting it again\n",
               rc->dir);
    return rundir_write_config(rc->dir, rc->config);
}

/* Monitor files (every rank) and TensorBoard (rank 0); on resume the logs go back to the
 * checkpoint: the episodes and updates after it are played again. Monitor files are cut
 * (unless it came from another rank count: they go on); TensorBoard drops the later steps on
 * a restart event. */
static gb_error *open_logs(run *r, train *t, bool fresh)
{
    const char *dir = r->rc->dir;
    for (int i = 0; i < r->tc->n_envs; i++) {
        char id[32], path[4200];
        snprintf(id, sizeof id, "%d", i);
        monitor_mode mode = fresh ? MONITOR_CREATE : MONITOR_APPEND;
        if (r->ranks == 1) {
            GB_TRY(monitor_open(&r->monitors[i], dir, i, id, mode));
        } else {
            snprintf(path, sizeof path, "%s/monitor_%d_%d.csv", dir, dist_rank(), i);
            GB_TRY(monitor_open_file(&r->monitors[i], path, id, mode));
        }
    }
    if (r->lead) GB_TRY(tb_open(&r->tb, dir));
    if (!r->rc->resume) return NULL;
    for (int i = 0; train_loaded_ranks(t) == r->ranks && i < r->tc->n_envs; i++)
        GB_TRY(monitor_keep(r->monitors[i], train_env_episodes(t, i)));
    int64_t done, frames;
    train_counts(t, &done, &frames);
    return r->lead ? tb_restart(r->tb, done + 1) : NULL;
}

static progress_stats progress_of(const run *r, const train_stats *s)
{
    double secs = s->elapsed_seconds;
    return (progress_stats){s->global_step,
                            r->tc->total_steps,
                            (double)(s->global_step - r->steps0) / secs,
                            (double)(s->frames - r->frames0) / secs,
                            s->total_episodes,
                            s->mean_return_20,
                            s->ppo.pg_loss,
                            s->ppo.v_loss,
                            s->ppo.entropy,
                            secs};
}

static gb_error *log_scalars(run *r, const train_stats *s)
{
    double ret = 0, len = 0, explored = 0;
    for (int i = 0; i < s->n_episodes; i++) {
        ret += s->episodes[i].episode.ret;
        len += (double)s->episodes[i].episode.length;
        explored += (double)s->episodes[i].episode.explored;
    }
    const struct {
        const char *tag;
        double value;
    } scalars[] = {
        {"charts/episodic_return", s->n_episodes ? ret / s->n_episodes : NAN},
        {"charts/episodic_length", s->n_episodes ? len / s->n_episodes : NAN},
        {"charts/explored", s->n_episodes && explored > 0 ? explored / s->n_episodes : NAN},
        {"charts/mean_return_20", s->mean_return_20},
        {"charts/learning_rate", s->lr},
        {"charts/ent_coef", s->ent_coef},
        {"charts/SPS", s->sps},
        {"charts/FPS", (double)(s->frames - r->frames0) / s->elapsed_seconds},
        {"losses/value_loss", s->ppo.v_loss},
        {"losses/policy_loss", s->ppo.pg_loss},
        {"losses/entropy", s->ppo.entropy},
        {"losses/approx_kl", s->ppo.approx_kl},
        {"losses/old_approx_kl", s->ppo.old_approx_kl},
        {"losses/clipfrac", s->ppo.clipfrac},
        {"losses/explained_variance", s->ppo.explained_var},
        {"perf/rollout_seconds", s->rollout_seconds},
        {"perf/update_seconds", s->update_seconds},
        {"perf/env_seconds", s->env_seconds},
        {"perf/policy_seconds", s->policy_seconds},
        {"perf/env_cpu_seconds", s->env_cpu_seconds},
        {"train/undone_updates", (double)s->undone_updates},
        {"archive/cells", r->tc->archive ? s->archive_cells : NAN},
        {"archive/new_cells", r->tc->archive ? s->archive_new : NAN},
        {"archive/best_score", r->tc->archive ? (double)s->archive_best : NAN},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (scalars[i].value == scalars[i].value) /* not NaN */
            GB_TRY(tb_scalar(r->tb, scalars[i].tag, s->global_step, (float)scalars[i].value));
    return tb_flush(r->tb);
}

/* After each update: the hooks' and the monitors' errors, then (rank 0) TensorBoard and the
 * progress line. */
static gb_error *log_update(run *r, const train_stats *s)
{
    if (r->hooks->poll) GB_TRY(r->hooks->poll(r->hooks->ctx));
    for (int i = 0; i < r->tc->n_envs; i++)
        if (r->monitor_errs[i]) {
            gb_error *e = r->monitor_errs[i];
            r->monitor_errs[i] = NULL;
            return e;
        }
    r->rollout_s += s->rollout_seconds, r->update_s += s->update_seconds;
    r->env_s += s->env_seconds, r->policy_s += s->policy_seconds;
    r->env_cpu_s += s->env_cpu_seconds;
    r->env_steps += (int64_t)r->tc->n_envs * r->tc->rollout_steps;
    r->allreduce_s += s->ppo.allreduce_seconds, r->allreduce_bytes += s->ppo.allreduce_bytes;
    r->minibatches += s->ppo.minibatches_done;
    if (!r->lead) return NULL;
    if (s->undone) {
        progress_clear(&r->prog);
        gb_warnf("update %lld: a loss, the gradient or a weight is not finite: undone (%lld so "
                 "far; --max-bad-updates in a row stop the run)",
                 (long long)s->update, (long long)s->undone_updates);
    }
    GB_TRY(log_scalars(r, s));
    progress_stats ps = progress_of(r, s);
    progress_update(&r->prog, &ps);
    return NULL;
}

/* ---- checkpoints ---- */

static gb_error *save_checkpoints(train *t, run *r, int64_t update, bool force)
{
    char path[4200];
    const run_config *rc = r->rc;
    if (force || update % rc->checkpoint_every == 0) {
        snprintf(path, sizeof path, "%s/latest.safetensors", rc->dir);
        if (r->lead) GB_TRY(rundir_keep_previous(rc->dir));
        GB_TRY(train_save(t, path));
        if (r->tc->archive && r->lead) { /* its states, for gbfarm play --state */
            snprintf(path, sizeof path, "%s/archive", rc->dir);
            GB_TRY(archive_write_dir(r->tc->archive, path));
        }
        int64_t frames;
        train_counts(t, &r->saved_steps, &frames);
    }
    if (rc->keep_every > 0 && update % rc->keep_every == 0) {
        snprintf(path, sizeof path, "%s/update_%06lld.safetensors", rc->dir, (long long)update);
        GB_TRY(train_save(t, path));
        if (rc->keep_last > 0 && r->lead) GB_TRY(rundir_prune_kept(rc->dir, rc->keep_last));
    }
    return NULL;
}

/* --resume: the newest checkpoint that loads. A damaged one is named and passed over for the
 * next (previous.safetensors, then the kept update_<N>), unless fallback is off. A run
 * directory without any checkpoint (a run killed before its first) starts afresh. */
static gb_error *load_newest(train *t, const char *dir, bool fallback, bool *fresh)
{
    if (dist_rank() > 0) { /* rank 0 chooses, and sends what it loaded */
        GB_TRY(train_load(t, NULL));
        *fresh = train_loaded_ranks(t) == 0;
        return NULL;
    }
    char **list;
    int n;
    GB_TRY(rundir_checkpoints(dir, &list, &n));
    *fresh = n == 0;
    if (n == 0) {
        printf("%s holds no checkpoint (the run stopped before its first): starting it again\n",
               dir);
        gb_error *err = train_load(t, NULL); /* the other ranks learn it */
        rundir_free_list(list, n);
        return err;
    }
    gb_error *first = NULL, *out = NULL;
    int at = 0;
    for (; at < n; at++) {
        gb_error *err = train_load(t, list[at]);
        if (!err) break;
        if (!fallback) {
            out = gb_error_wrap(err, "--resume (--no-fallback)");
            break;
        }
        gb_warnf("%s", gb_error_msg(err));
        if (first)
            gb_error_free(err);
        else
            first = err;
    }
    if (!out && at == n)
        out = gb_error_wrap(first, "%s: none of its %d checkpoints loads; the newest", dir, n);
    else if (first) {
        printf("resuming from %s, the newest intact checkpoint\n", list[at]);
        gb_error_free(first);
    }
    if (!out && train_loaded_ranks(t) < 0)
        printf("%s was written by a job of another rank count: the learner resumes, every env "
               "starts a fresh episode\n",
               list[at]);
    else if (!out && train_restored_envs(t) == 0)
        printf("%s holds no env snapshots (the watchdog's checkpoint): the envs start fresh "
               "episodes\n",
               list[at]);
    rundir_free_list(list, n);
    return out;
}

/* ---- how a run ends ---- */

/* An error that stops the run, and how to go on from its last checkpoint. */
static gb_error *with_resume_hint(gb_error *err, run *r)
{
    progress_clear(&r->prog);
    const char *dir = r->rc->dir;
    gb_error *out = r->saved_steps < 0
                        ? gb_errorf("%s (before the first checkpoint: gbfarm train --resume %s "
                                    "starts the run again)",
                                    gb_error_msg(err), dir)
                        : gb_errorf("%s (gbfarm train --resume %s goes on from the last "
                                    "checkpoint, step %lld)",
                                    gb_error_msg(err), dir, (long long)r->saved_steps);
    gb_error_free(err);
    return out;
}

/* The watchdog fired: save the learner (no env snapshots can be taken) and say which env
 * hung, where, and for how long. */
static gb_error *on_watchdog(train *t, const run *r, gb_error *err)
{
    train_stuck st;
    train_stuck_report(t, &st);
    char what[4400] = "", path[4200];
    if (r->hooks->describe) r->hooks->describe(r->hooks->ctx, st.env, what, sizeof what);
    snprintf(path, sizeof path, "%s/latest.safetensors", r->rc->dir);
    gb_error *save = train_save(t, path);
    gb_error *out =
        save
            ? gb_errorf("env %d%s made no progress for %g s during %s (update %lld); the "
                        "learner could not be saved: %s",
                        st.env, what, st.seconds, st.phase, (long long)st.update,
                        gb_error_msg(save))
            : gb_errorf("env %d%s made no progress for %g s during %s (update %lld): saved the "
                        "learner to %s (no env snapshots); gbfarm train --resume %s continues "
                        "with fresh episodes",
                        st.env, what, st.seconds, st.phase, (long long)st.update, path, r->rc->dir);
    gb_error_free(save);
    gb_error_free(err);
    return out;
}

/* Where the time went: wall time split into rollouts and updates, the env threads' rollout
 * time (n_envs x rollout wall) into env steps, policy work and the rest (GAE, barrier
 * waits), and under MPI the gradient exchange. */
static void summary(run *r, const train_stats *s, int64_t stop)
{
    const char *dir = r->rc->dir;
    if (stop) {
        progress_clear(&r->prog);
        printf("stopped by signal %d after update %lld: checkpoint %s/latest.safetensors\n",
               (int)stop, (long long)s->update, dir);
    } else if (s->update) {
        progress_stats ps = progress_of(r, s);
        progress_finish(&r->prog, &ps);
        printf("done: checkpoint %s/latest.safetensors\n", dir);
    }
    if (r->ranks > 1 && r->minibatches > 0)
        printf("gradient exchange: %lld allreduces of %.2f MB, %.2f ms each (%.0f%% of the "
               "update time)\n",
               (long long)r->minibatches, (double)r->allreduce_bytes / r->minibatches / 1e6,
               1e3 * r->allreduce_s / r->minibatches, 100 * r->allreduce_s / r->update_s);
    if (r->ranks > 1 && s->update > r->update0)
        printf("weights identical on %d ranks after each of %lld updates (a hash compared)\n",
               r->ranks, (long long)(s->update - r->update0));
    double wall = r->rollout_s + r->update_s, threads = r->rollout_s * r->tc->n_envs;
    if (wall > 0 && threads > 0)
        printf("time: rollouts %.1f s (%.0f%%), updates %.1f s (%.0f%%); env threads: env "
               "steps %.0f%%, policy %.0f%%, GAE and barrier waits %.0f%%\n",
               r->rollout_s, 100 * r->rollout_s / wall, r->update_s, 100 * r->update_s / wall,
               100 * r->env_s / threads, 100 * r->policy_s / threads,
               100 * (threads - r->env_s - r->policy_s) / threads);
    /* What the envs alone would do on this run's own path (the same states, actions and
     * resets, unlike gbfarm bench's random policy): their CPU time spread over the cores
     * they can use. The rest of the wall time is the learner's and the waits'. */
    int cores = r->tc->n_envs < nn_cpu_count() ? r->tc->n_envs : nn_cpu_count();
    if (wall > 0 && r->env_cpu_s > 0)
        printf("speed: %.0f steps/s, %.2f of the envs' alone on this run's path (%.0f steps/s: "
               "their CPU time in steps and resets over %d core%s)\n",
               r->env_steps / wall, r->env_cpu_s / cores / wall,
               r->env_steps * cores / r->env_cpu_s, cores, cores > 1 ? "s" : "");
}

/* ---- the run ---- */

/* The log's first lines: what trains, how many steps (whole rollouts), the learner. */
static void announce(const run *r, train *t, bool fresh)
{
    const run_config *rc = r->rc;
    const train_config *c = r->tc;
    int64_t batch = (int64_t)r->ranks * c->n_envs * c->rollout_steps;
    int64_t whole = c->total_steps / batch * batch;
    char rounded[160] = "", farm[64];
    if (whole != c->total_steps)
        snprintf(rounded, sizeof rounded,
                 " (--steps %lld rounded down to whole rollouts of %lld env steps)",
                 (long long)c->total_steps, (long long)batch);
    if (r->ranks > 1)
        snprintf(farm, sizeof farm, "%d ranks x %d envs", r->ranks, c->n_envs);
    else
        snprintf(farm, sizeof farm, "%d envs", c->n_envs);
    printf("run %s: %s, %s, %lld steps%s%s\n", rc->dir, rc->name, farm, (long long)whole, rounded,
           !rc->resume ? ""
           : fresh     ? " (started again)"
                       : " (resumed)");
    if (train_finished(t))
        printf("%s is complete (its checkpoint is at step %lld of %lld): nothing to do; gbfarm "
               "train --resume %s --steps N, with N over %lld, trains on\n",
               rc->dir, (long long)r->steps0, (long long)whole, rc->dir, (long long)r->steps0);
    printf("learner: %d update threads, %s; convolutions: gbfarm's %s kernels%s\n",
           c->update_threads > 0 ? c->update_threads : nn_cpu_count(), nn_blas_kernels(),
           c->bf16 ? "avx512" : nn_gemm_isa(), c->bf16 ? ", bf16 multiplies (float sums)" : "");
    fflush(stdout);
}

/* Everything is checked and the envs made before the run directory is touched, so a start
 * that fails leaves nothing behind. */
static gb_error *start(run *r, train **t, env_make_fn make, void *make_ctx)
{
    const run_config *rc = r->rc;
    int n_envs = r->tc->n_envs;
    r->monitors = calloc((size_t)n_envs, sizeof *r->monitors);
    r->monitor_errs = calloc((size_t)n_envs, sizeof *r->monitor_errs);
    if (!r->monitors || !r->monitor_errs) return gb_errorf("train: out of memory");
    train_callbacks cb = {r, on_episode, r->hooks->on_step ? on_step : NULL, NULL};
    GB_TRY(train_create(t, r->tc, make, make_ctx, &cb));
    bool fresh = !rc->resume;
    if (rc->resume) GB_TRY(load_newest(*t, rc->dir, !rc->no_fallback, &fresh));
    GB_TRY(prepare_dir(r));
    GB_TRY(open_logs(r, *t, fresh));
    train_counts(*t, &r->steps0, &r->frames0); /* rates count this process's work */
    r->saved_steps = fresh ? -1 : r->steps0;
    r->update0 = r->steps0 / ((int64_t)r->ranks * n_envs * r->tc->rollout_steps);
    if (r->lead) {
        announce(r, *t, fresh);
        progress_init(&r->prog, stdout, rc->log_interval);
    }
    return NULL;
}

static gb_error *train_loop(run *r, train *t, train_stats *s, int64_t *stop)
{
    gb_error *err = NULL;
    while (!err && !train_finished(t) && !*stop) {
        err = train_iteration(t, s);
        if (!err) err = log_update(r, s);
        if (!err) *stop = dist_max_i64(stop_requested); /* a signal any rank received */
        if (!err) err = save_checkpoints(t, r, s->update, train_finished(t) || *stop);
        if (err && train_stuck_env(t) < 0) err = with_resume_hint(err, r);
    }
    return err;
}

gb_error *run_train(const run_config *rc, const train_config *tc, env_make_fn make, void *make_ctx,
                    const run_hooks *hooks, run_result *result)
{
    static const run_hooks none = {0};
    run r = {.rc = rc,
             .tc = tc,
             .hooks = hooks ? hooks : &none,
             .lead = dist_rank() == 0,
             .ranks = dist_size()};
    *result = (run_result){0};
    train *t = NULL;
    gb_error *err = start(&r, &t, make, make_ctx);
    train_stats s = {0};
    int64_t stop = 0;
    if (!err) {
        signal(SIGINT, on_stop_signal);
        signal(SIGTERM, on_stop_signal);
        err = train_loop(&r, t, &s, &stop);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (err && t && train_stuck_env(t) >= 0) {
        err = on_watchdog(t, &r, err);
        result->env_stuck = true;
    }
    if (t && !err && r.lead) summary(&r, &s, stop);
    if (t && !err && rc->save) err = train_save(t, rc->save);
    train_free(t);
    gb_error *tb_err = tb_close(r.tb);
    if (!err)
        err = tb_err;
    else
        gb_error_free(tb_err);
    for (int i = 0; i < tc->n_envs && r.monitors; i++) {
        monitor_close(r.monitors[i]);
        gb_error_free(r.monitor_errs[i]);
    }
    free(r.monitors);
    free(r.monitor_errs);
    return err;
}
