#include "gbfarm/eval.h"

#include <stdio.h>
#include <stdlib.h>

#include "gbfarm/env_retro.h"
#include "gbfarm/policy_load.h"
#include "gbfarm/rng.h"

/* The env on its first observation, the policy, the recording's first frame, the --var
 * variables and room for the results. */
static gb_error *eval_open(eval_run *r, const eval_options *o, const game_args *a)
{
    env_retro_config cfg = game_setup_env_config(&r->s, a, 0, o->seed, NULL);
    GB_TRY(env_retro_create(&r->e, &cfg));
    env *e = r->e;
    if (o->checkpoint) GB_TRY(policy_load(&r->p, e->spec, o->hidden, o->checkpoint));
    if (r->p) {
        GB_TRY(policy_work_create(&r->w, r->p, 1));
        policy_work_pin(r->w, r->p); /* the weights hold still: the rollout's fast forward */
        policy_pin(r->p);
    }
    if (!(r->obs = malloc(env_obs_bytes(&e->spec)))) return gb_errorf("out of memory");
    e->obs = r->obs;
    GB_TRY(env_reset(e));
    if (o->record) {
        const core_frame *f = env_frame(e);
        GB_TRY(gif_open(&r->gif, o->record, f->width, f->height,
                        (r->s.game->frame_skip * 100 + 30) / 60));
        GB_TRY(gif_frame(r->gif, f));
    }
    for (int i = 0; i < o->n_vars; i++)
        if ((r->var_index[i] = game_var_index(r->s.game, o->vars[i])) < 0)
            return gb_errorf("--var %s: %s/game.json has no such variable in info", o->vars[i],
                             r->s.game->dir);
    size_t per = (size_t)o->episodes;
    r->ret = calloc(per * (2 + EVAL_MAX_VARS), sizeof *r->ret);
    if (!r->ret) return gb_errorf("out of memory");
    r->len = r->ret + per, r->val = r->len + per;
    return NULL;
}

static int choose_action(eval_run *r, const eval_options *o, rng *g)
{
    int action;
    if (!r->p)
        action = (int)rng_below(g, (uint32_t)r->e->spec.n_actions);
    else if (o->greedy)
        action = policy_greedy(r->p, r->w, r->obs);
    else {
        float logprob, value;
        policy_act(r->p, r->w, r->obs, g, &action, &logprob, &value);
    }
    return action;
}

/* Episode k has ended: its results, the end of the recording, and the next reset. */
static gb_error *end_episode(eval_run *r, const eval_options *o, int k)
{
    env *e = r->e;
    size_t per = (size_t)o->episodes;
    r->ret[k] = e->episode.ret;
    r->len[k] = (double)e->episode.length;
    for (int i = 0; i < o->n_vars; i++)
        r->val[i * per + k] = (double)game_value(env_retro_binding(e), r->var_index[i]);
    r->explored += (double)e->episode.explored;
    if (r->gif) {
        gb_error *err = gif_close(r->gif);
        r->gif = NULL;
        GB_TRY(err);
        printf("recorded %s\n", o->record);
    }
    return k + 1 < o->episodes ? env_reset(e) : NULL;
}

static gb_error *run_episodes(eval_run *r, const eval_options *o)
{
    rng g;
    rng_seed(&g, o->seed, 0xE7A1);
    for (int k = 0; k < o->episodes;) {
        GB_TRY(env_step(r->e, choose_action(r, o, &g)));
        if (r->gif && k == 0) GB_TRY(gif_frame(r->gif, env_frame(r->e)));
        if (r->e->terminated || r->e->truncated) GB_TRY(end_episode(r, o, k++));
    }
    return NULL;
}

gb_error *eval_episodes(eval_run *r, const eval_options *o, const game_args *a)
{
    GB_TRY(game_setup_open(&r->s, a));
    GB_TRY(eval_open(r, o, a));
    return run_episodes(r, o);
}

void eval_close(eval_run *r)
{
    gb_error_free(gif_close(r->gif));
    free(r->ret);
    free(r->obs);
    policy_work_free(r->w);
    policy_free(r->p);
    env_close(r->e);
    game_setup_close(&r->s);
}
