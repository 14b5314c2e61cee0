#include "gbfarm/policy.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gbfarm/nn.h"

policy_config policy_config_default(env_spec spec)
{
    policy_config c = {.spec = spec, .mlp_layers = 2};
    if (spec.obs_type == ENV_OBS_U8) {
        c.shared_trunk = 1;
        c.hidden = 512;
        c.act = POLICY_ACT_RELU;
    } else {
        c.shared_trunk = 0;
        c.hidden = 64;
        c.act = POLICY_ACT_TANH;
    }
    return c;
}

static size_t layer_in(const policy_layer *l)
{
    return (size_t)l->in_c * l->in_h * l->in_w;
}
static size_t layer_out(const policy_layer *l)
{
    return (size_t)l->out_c * l->out_h * l->out_w;
}

/* Appends the weight and bias views of l to the tensor table; returns the number of floats. */
static gb_error *add_tensors(policy *p, policy_layer *l, const char *prefix)
{
    if (p->n_tensors + 2 > POLICY_MAX_TENSORS) return gb_errorf("policy: too many tensors");
    policy_tensor *w = &p->tensors[p->n_tensors++], *b = &p->tensors[p->n_tensors++];
    snprintf(w->name, sizeof w->name, "%s.weight", prefix);
    snprintf(b->name, sizeof b->name, "%s.bias", prefix);
    if (l->kind == POLICY_CONV) {
        w->ndim = 4;
        w->shape[0] = l->out_c, w->shape[1] = l->in_c, w->shape[2] = l->k, w->shape[3] = l->k;
        w->count = (size_t)l->out_c * l->in_c * l->k * l->k;
    } else {
        w->ndim = 2;
        w->shape[0] = l->out_c, w->shape[1] = (int64_t)layer_in(l);
        w->count = (size_t)l->out_c * layer_in(l);
    }
    b->ndim = 1;
    b->shape[0] = l->out_c;
    b->count = (size_t)l->out_c;
    w->offset = l->w_off = p->n_params;
    p->n_params += w->count;
    b->offset = l->b_off = p->n_params;
    p->n_params += b->count;
    return NULL;
}

static gb_error *build_trunk(policy *p, policy_trunk *t, const char *name)
{
    const policy_config *c = &p->cfg;
    const env_spec *s = &c->spec;
    t->n = 0;
    char prefix[24];
    if (s->obs_type == ENV_OBS_U8) {
        /* Nature DQN: 32×8×8/4, 64×4×4/2, 64×3×3/1, fc hidden; or the 2013 DQN's first two
         * layers, 16×8×8/4, 32×4×4/2; ReLU throughout. */
        static const int nature_oc[3] = {32, 64, 64}, small_oc[2] = {16, 32};
        static const int k[3] = {8, 4, 3}, st[3] = {4, 2, 1};
        const int *oc = c->cnn == POLICY_CNN_SMALL ? small_oc : nature_oc;
        int n_conv = c->cnn == POLICY_CNN_SMALL ? 2 : 3;
        int ch = s->obs_c, h = s->obs_h, w = s->obs_w;
        for (int i = 0; i < n_conv; i++) {
            int oh = (h - k[i]) / st[i] + 1, ow = (w - k[i]) / st[i] + 1;
            if (h < k[i] || w < k[i] || oh < 1 || ow < 1)
                return gb_errorf("policy: screen %dx%d is too small for the CNN "
                                 "(layer %d needs at least %dx%d)",
                                 s->obs_w, s->obs_h, i + 1, k[i], k[i]);
            t->layers[t->n++] = (policy_layer){
                POLICY_CONV, POLICY_ACT_RELU, ch, h, w, oc[i], oh, ow, k[i], st[i], 0, 0};
            ch = oc[i], h = oh, w = ow;
        }
        t->layers[t->n++] = (policy_layer){
            POLICY_LINEAR, POLICY_ACT_RELU, ch * h * w, 1, 1, c->hidden, 1, 1, 0, 0, 0, 0};
    } else {
        int in = s->obs_c * s->obs_h * s->obs_w;
        if (c->mlp_layers < 1 || c->mlp_layers > POLICY_MAX_LAYERS)
            return gb_errorf("policy: mlp_layers must be in [1, %d], got %d", POLICY_MAX_LAYERS,
                             c->mlp_layers);
        for (int i = 0; i < c->mlp_layers; i++) {
            t->layers[t->n++] =
                (policy_layer){POLICY_LINEAR, c->act, in, 1, 1, c->hidden, 1, 1, 0, 0, 0, 0};
            in = c->hidden;
        }
    }
    for (int i = 0; i < t->n; i++) {
        snprintf(prefix, sizeof prefix, "%s.%d", name, i);
        GB_TRY(add_tensors(p, &t->layers[i], prefix));
    }
    return NULL;
}

static void init_layer(policy *p, const policy_layer *l, float gain, rng *r)
{
    int cols = l->kind == POLICY_CONV ? l->in_c * l->k * l->k : (int)layer_in(l);
    nn_orthogonal_init(p->params + l->w_off, l->out_c, cols, gain, r);
    memset(p->params + l->b_off, 0, sizeof(float) * (size_t)l->out_c);
}

/* The variables' embedding: small beside the CNN's 256-512 features, wide enough for a few
 * coordinates and flags. */
enum { VARS_EMBED = 64 };

gb_error *policy_create(policy **out, const policy_config *cfg, uint64_t seed)
{
    *out = NULL;
    const env_spec *s = &cfg->spec;
    if (s->n_actions < 1 || s->obs_c < 1 || s->obs_h < 1 || s->obs_w < 1 || cfg->hidden < 1)
        return gb_errorf("policy: bad spec (obs %dx%dx%d, %d actions, hidden %d)", s->obs_c,
                         s->obs_h, s->obs_w, s->n_actions, cfg->hidden);
    policy *p = calloc(1, sizeof *p);
    if (!p) return gb_errorf("policy: out of memory");
    p->cfg = *cfg;
    p->in_floats = (size_t)s->obs_c * s->obs_h * s->obs_w;
    p->n_trunks = cfg->shared_trunk ? 1 : 2;
    gb_error *err = build_trunk(p, &p->trunk[0], cfg->shared_trunk ? "trunk" : "actor");
    if (!err && !cfg->shared_trunk) err = build_trunk(p, &p->trunk[1], "critic");
    if (err) {
        free(p);
        return err;
    }
    int feat = p->trunk[0].layers[p->trunk[0].n - 1].out_c;
    if (s->obs_type == ENV_OBS_U8 && s->obs_vars > 0) {
        if (p->n_trunks != 1) {
            free(p);
            return gb_errorf(
                "policy: screens with variables need one shared trunk (--trunk shared)");
        }
        p->vars = (policy_layer){
            POLICY_LINEAR, POLICY_ACT_RELU, s->obs_vars, 1, 1, VARS_EMBED, 1, 1, 0, 0, 0, 0};
        feat += VARS_EMBED;
        if ((err = add_tensors(p, &p->vars, "vars.0"))) {
            free(p);
            return err;
        }
    }
    p->pi_head =
        (policy_layer){POLICY_LINEAR, POLICY_ACT_NONE, feat, 1, 1, s->n_actions, 1, 1, 0, 0, 0, 0};
    p->v_head = (policy_layer){POLICY_LINEAR, POLICY_ACT_NONE, feat, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    GB_TRY(add_tensors(p, &p->pi_head, "actor_head"));
    GB_TRY(add_tensors(p, &p->v_head, "critic_head"));

    /* One allocation, four mirrors: params | grads | adam_m | adam_v, then the trunks' linear
     * weights transposed (policy_pin). */
    size_t fct = 0;
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++)
            if (p->trunk[t].layers[i].kind != POLICY_CONV)
                fct += (size_t)p->trunk[t].layers[i].out_c * layer_in(&p->trunk[t].layers[i]);
    p->params = calloc(4 * p->n_params + fct, sizeof(float));
    if (!p->params) {
        size_t n = p->n_params;
        free(p);
        return gb_errorf("policy: out of memory for %zu parameters", n);
    }
    p->grads = p->params + p->n_params;
    p->adam_m = p->grads + p->n_params;
    p->adam_v = p->adam_m + p->n_params;
    float *m = p->adam_v + p->n_params;
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind != POLICY_CONV) p->fct[t][i] = m, m += (size_t)l->out_c * layer_in(l);
        }

    rng r;
    rng_seed(&r, seed, 0x706f6c696379ULL); /* "policy": a stream no env index uses */
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++)
            init_layer(p, &p->trunk[t].layers[i], sqrtf(2.0f), &r);
    if (p->vars.out_c) init_layer(p, &p->vars, sqrtf(2.0f), &r);
    init_layer(p, &p->pi_head, 0.01f, &r);
    init_layer(p, &p->v_head, 1.0f, &r);
    *out = p;
    return NULL;
}

void policy_free(policy *p)
{
    if (!p) return;
    free(p->params);
    free(p);
}

struct policy_work {
    int max_batch;
    float *input;                      /* [B][in_floats] */
    float *acts[2][POLICY_MAX_LAYERS]; /* post-activation output of each trunk layer */
    float *keep[2];                    /* each trunk's first conv input, after space-to-depth */
    float *vars_in, *vars_out, *feat;  /* with variables: [B][obs_vars], embedding, heads' input */
    float *logits, *values, *gbuf[3], *col; /* gbuf: backward ping-pong + head sum */
    float *taps[2][POLICY_MAX_LAYERS];      /* each conv's weights by tap, while pinned */
    /* With bf16 multiplies, a batch-1 work's trunk linear layers in bf16 while pinned (rows
     * rounded up to pairs), and its input row: half the bytes a rollout step streams. */
    uint16_t *fc[2][POLICY_MAX_LAYERS], *xb;
    bool pinned;
    float *mem;
};

/* The work memory in 2 MB pages where the kernel gives them: a convolution reads dozens of
 * rows of its chunk at once, each a page apart, more than the TLB holds in 4 KB pages. */
static void *huge_alloc(size_t bytes)
{
    enum { HUGE = 2 << 20 };
    if (bytes < HUGE) return malloc(bytes);
    void *p = NULL;
    if (posix_memalign(&p, HUGE, (bytes + HUGE - 1) / HUGE * HUGE)) return NULL;
    madvise(p, (bytes + HUGE - 1) / HUGE * HUGE, MADV_HUGEPAGE);
    return p;
}

/* A screen's bytes go straight into the first convolution, which scales them: no float copy
 * of the input, and the backward reads the convolution's kept input instead (all trunks
 * start alike). */
static bool bytes_to_conv(const policy *p)
{
    bool yes = p->cfg.spec.obs_type == ENV_OBS_U8;
    for (int t = 0; t < p->n_trunks; t++) yes &= p->trunk[t].layers[0].kind == POLICY_CONV;
    return yes;
}

/* Only the first convolution keeps its input after space-to-depth, in place of the float
 * copy of the screens it no longer needs; the later ones build it again in the backward
 * pass (keeping theirs would cost a third more work memory for 2% of an update). */
static size_t keep_floats(const policy *p, int t, int max_batch)
{
    const policy_layer *l = &p->trunk[t].layers[0];
    if (!bytes_to_conv(p)) return 0;
    return nn_conv2d_keep_floats(l->in_c, l->in_h, l->in_w, l->out_c, l->k, l->s, max_batch);
}

/* A row of n bf16 numbers rounded up to pairs: how many pairs. */
static size_t pairs_of(size_t n)
{
    return (n + 1) / 2;
}

gb_error *policy_work_create(policy_work **out, const policy *p, int max_batch)
{
    *out = NULL;
    policy_work *w = calloc(1, sizeof *w);
    if (!w) return gb_errorf("policy: out of memory for scratch");
    size_t B = (size_t)max_batch, total = bytes_to_conv(p) ? 0 : B * p->in_floats;
    size_t widest = 1, col = 1, taps = 0;
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            total += B * layer_out(l);
            if (layer_out(l) > widest) widest = layer_out(l);
            if (l->kind == POLICY_CONV) {
                size_t c = nn_conv2d_scratch_floats(l->in_c, l->in_h, l->in_w, l->out_c, l->k, l->s,
                                                    max_batch);
                if (c > col) col = c;
                taps += nn_conv2d_tap_floats(l->in_c, l->out_c, l->k, l->s);
            }
        }
    size_t nv = (size_t)p->vars.in_c;
    if ((size_t)p->pi_head.in_c > widest) widest = (size_t)p->pi_head.in_c;
    for (int t = 0; t < p->n_trunks; t++) total += keep_floats(p, t, max_batch);
    if (nv) total += B * nv + B * VARS_EMBED + B * (size_t)p->pi_head.in_c;
    /* bf16 linear weights and input (pairs: a float's room each) */
    size_t fc = 0, fc_in = 0;
    bool fc_b16 = nn_bf16() && max_batch == 1;
    for (int t = 0; fc_b16 && t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind == POLICY_CONV) continue;
            fc += (size_t)l->out_c * pairs_of(layer_in(l));
            if (pairs_of(layer_in(l)) > fc_in) fc_in = pairs_of(layer_in(l));
        }
    total += B * (size_t)p->cfg.spec.n_actions + B + 3 * B * widest + col + taps + fc + fc_in;
    w->mem = huge_alloc(total * sizeof(float));
    if (!w->mem) {
        free(w);
        return gb_errorf("policy: out of memory for scratch of batch %d", max_batch);
    }
    float *m = w->mem;
    w->max_batch = max_batch;
    if (!bytes_to_conv(p)) w->input = m, m += B * p->in_floats;
    for (int t = 0; t < p->n_trunks; t++) {
        for (int i = 0; i < p->trunk[t].n; i++)
            w->acts[t][i] = m, m += B * layer_out(&p->trunk[t].layers[i]);
        if (keep_floats(p, t, max_batch)) w->keep[t] = m, m += keep_floats(p, t, max_batch);
    }
    if (nv) {
        w->vars_in = m, m += B * nv;
        w->vars_out = m, m += B * VARS_EMBED;
        w->feat = m, m += B * (size_t)p->pi_head.in_c;
    }
    w->logits = m, m += B * (size_t)p->cfg.spec.n_actions;
    w->values = m, m += B;
    for (int i = 0; i < 3; i++) w->gbuf[i] = m, m += B * widest;
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind != POLICY_CONV) continue;
            w->taps[t][i] = m, m += nn_conv2d_tap_floats(l->in_c, l->out_c, l->k, l->s);
        }
    for (int t = 0; fc_b16 && t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind == POLICY_CONV) continue;
            w->fc[t][i] = (uint16_t *)m, m += (size_t)l->out_c * pairs_of(layer_in(l));
        }
    if (fc_b16) w->xb = (uint16_t *)m, m += fc_in;
    w->col = m;
    *out = w;
    return NULL;
}

void policy_work_pin(policy_work *w, const policy *p)
{
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind == POLICY_CONV)
                nn_conv2d_taps(w->taps[t][i], p->params + l->w_off, l->in_c, l->out_c, l->k, l->s);
            else if (w->fc[t][i])
                nn_bf16_rows(w->fc[t][i], p->params + l->w_off, (size_t)l->out_c, layer_in(l));
        }
    w->pinned = true;
}

void policy_work_unpin(policy_work *w)
{
    w->pinned = false;
}

void policy_pin(policy *p)
{
    p->pinned = !nn_bf16(); /* with bf16 multiplies the works keep their own, in bf16 */
    if (!p->pinned) return;
    for (int t = 0; t < p->n_trunks; t++)
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            if (l->kind != POLICY_CONV)
                nn_transpose(p->fct[t][i], (size_t)l->out_c, p->params + l->w_off, layer_in(l),
                             l->out_c, (int)layer_in(l));
        }
}

void policy_unpin(policy *p)
{
    p->pinned = false;
}

void policy_work_free(policy_work *w)
{
    if (!w) return;
    free(w->mem);
    free(w);
}

static void activate(const policy_layer *l, float *out, int B)
{
    size_t n = (size_t)B * layer_out(l);
    if (l->act == POLICY_ACT_RELU) nn_relu_forward(out, out, n);
    if (l->act == POLICY_ACT_TANH) nn_tanh_forward(out, out, n);
}

/* taps: a conv's pinned weights; fc, fct: a linear layer's, in bf16 or transposed (batch 1),
 * or NULL. */
static void layer_forward(const policy *p, policy_work *w, const policy_layer *l, float *out,
                          const float *in, int B, const float *taps, const uint16_t *fc,
                          const float *fct)
{
    const float *wt = p->params + l->w_off, *b = p->params + l->b_off;
    if (fct) {
        memcpy(out, b, sizeof(float) * (size_t)l->out_c);
        nn_gemv_t_sparse((int)layer_in(l), l->out_c, fct, in, out);
    } else if (fc) {
        size_t n = layer_in(l), pairs = pairs_of(n);
        nn_bf16_rows(w->xb, in, 1, n);
        memcpy(out, b, sizeof(float) * (size_t)l->out_c);
        nn_gemv_bf16(l->out_c, (int)pairs, fc, 2 * pairs, w->xb, out);
    } else if (l->kind == POLICY_CONV)
        nn_conv2d_forward(out, w->col, NULL, in, wt, taps, b, B, l->in_c, l->in_h, l->in_w,
                          l->out_c, l->k, l->s);
    else
        nn_linear_forward(out, in, wt, b, B, (int)layer_in(l), l->out_c);
    activate(l, out, B);
}

/* dout is the gradient w.r.t. l's (post-activation) output; it is overwritten on the way. */
static void layer_backward(const policy *p, policy_work *w, float *grads, const policy_layer *l,
                           const float *keep, float *din, float *dout, const float *in,
                           const float *out, int B)
{
    size_t n = (size_t)B * layer_out(l);
    if (l->act == POLICY_ACT_RELU) nn_relu_backward(dout, dout, out, n);
    if (l->act == POLICY_ACT_TANH) nn_tanh_backward(dout, dout, out, n);
    const float *wt = p->params + l->w_off;
    float *dw = grads + l->w_off, *db = grads + l->b_off;
    if (l->kind == POLICY_CONV)
        nn_conv2d_backward(din, dw, db, w->col, dout, keep, in, wt, B, l->in_c, l->in_h, l->in_w,
                           l->out_c, l->k, l->s);
    else
        nn_linear_backward(din, dw, db, dout, in, wt, B, (int)layer_in(l), l->out_c);
}

static const float *trunk_out(const policy *p, const policy_work *w, int t)
{
    return w->acts[t][p->trunk[t].n - 1];
}

/* What head t reads: the trunk's output, or the trunk's output joined with the variables'
 * embedding (one shared trunk). */
static const float *head_in(const policy *p, const policy_work *w, int t)
{
    return p->vars.out_c ? w->feat : trunk_out(p, w, t);
}

void policy_forward(const policy *p, policy_work *w, const void *obs, int B, float **logits,
                    float **values)
{
    const env_spec *s = &p->cfg.spec;
    size_t n = p->in_floats, nv = (size_t)p->vars.in_c;
    bool u8_conv = bytes_to_conv(p);
    size_t stride = nv ? env_obs_bytes(s) : n;
    if (s->obs_type == ENV_OBS_U8) {
        for (int b = 0; b < B; b++) {
            const uint8_t *o = (const uint8_t *)obs + b * stride;
            if (!u8_conv)
                for (size_t i = 0; i < n; i++) w->input[b * n + i] = (float)o[i] * (1.0f / 255.0f);
            if (nv) memcpy(w->vars_in + b * nv, o + env_obs_vars_offset(s), nv * sizeof(float));
        }
    } else {
        memcpy(w->input, obs, (size_t)B * n * sizeof(float));
    }
    for (int t = 0; t < p->n_trunks; t++) {
        const float *x = w->input;
        for (int i = 0; i < p->trunk[t].n; i++) {
            const policy_layer *l = &p->trunk[t].layers[i];
            const float *taps = w->pinned ? w->taps[t][i] : NULL;
            if (i == 0 && u8_conv) {
                nn_conv2d_forward_u8(w->acts[t][0], w->col, w->keep[t], obs, stride, 1.0f / 255.0f,
                                     p->params + l->w_off, taps, p->params + l->b_off, B, l->in_c,
                                     l->in_h, l->in_w, l->out_c, l->k, l->s);
                activate(l, w->acts[t][0], B);
            } else {
                bool one = w->pinned && B == 1;
                layer_forward(p, w, l, w->acts[t][i], x, B, taps, one ? w->fc[t][i] : NULL,
                              one && p->pinned ? p->fct[t][i] : NULL);
            }
            x = w->acts[t][i];
        }
    }
    if (nv) {
        layer_forward(p, w, &p->vars, w->vars_out, w->vars_in, B, NULL, NULL, NULL);
        size_t F = (size_t)p->pi_head.in_c, T = F - VARS_EMBED;
        for (int b = 0; b < B; b++) {
            memcpy(w->feat + b * F, trunk_out(p, w, 0) + b * T, T * sizeof(float));
            memcpy(w->feat + b * F + T, w->vars_out + b * (size_t)VARS_EMBED,
                   VARS_EMBED * sizeof(float));
        }
    }
    layer_forward(p, w, &p->pi_head, w->logits, head_in(p, w, 0), B, NULL, NULL, NULL);
    layer_forward(p, w, &p->v_head, w->values, head_in(p, w, p->n_trunks - 1), B, NULL, NULL, NULL);
    if (logits) *logits = w->logits;
    if (values) *values = w->values;
}

void policy_backward(const policy *p, policy_work *w, float *grads, const float *dlogits,
                     const float *dvalues, int B)
{
    /* The heads have no activation, so their output gradients are used read-only. */
    float *g[2] = {w->gbuf[0], w->gbuf[1]};
    if (p->n_trunks == 1) {
        size_t F = (size_t)p->pi_head.in_c, n = (size_t)B * F;
        nn_linear_backward(g[0], grads + p->pi_head.w_off, grads + p->pi_head.b_off, dlogits,
                           head_in(p, w, 0), p->params + p->pi_head.w_off, B, p->pi_head.in_c,
                           p->pi_head.out_c);
        nn_linear_backward(w->gbuf[2], grads + p->v_head.w_off, grads + p->v_head.b_off, dvalues,
                           head_in(p, w, 0), p->params + p->v_head.w_off, B, p->v_head.in_c, 1);
        for (size_t i = 0; i < n; i++) g[0][i] += w->gbuf[2][i];
        if (p->vars.out_c) {
            /* Split the joined gradient: the embedding's part into gbuf[2], the trunk's part
             * packed to [B][T] at the front of g[0] (rows only move down: memmove is safe). */
            size_t T = F - VARS_EMBED;
            for (int b = 0; b < B; b++) {
                memcpy(w->gbuf[2] + b * (size_t)VARS_EMBED, g[0] + b * F + T,
                       VARS_EMBED * sizeof(float));
                memmove(g[0] + b * T, g[0] + b * F, T * sizeof(float));
            }
            layer_backward(p, w, grads, &p->vars, NULL, NULL, w->gbuf[2], w->vars_in, w->vars_out,
                           B);
        }
    }
    for (int t = 0; t < p->n_trunks; t++) {
        if (p->n_trunks == 2) {
            const policy_layer *h = t == 0 ? &p->pi_head : &p->v_head;
            nn_linear_backward(g[0], grads + h->w_off, grads + h->b_off, t == 0 ? dlogits : dvalues,
                               trunk_out(p, w, t), p->params + h->w_off, B, h->in_c, h->out_c);
        }
        float *dout = g[0], *din = g[1];
        for (int i = p->trunk[t].n - 1; i >= 0; i--) {
            const float *in = i > 0 ? w->acts[t][i - 1] : w->input;
            layer_backward(p, w, grads, &p->trunk[t].layers[i], i == 0 ? w->keep[t] : NULL,
                           i > 0 ? din : NULL, dout, in, w->acts[t][i], B);
            float *tmp = dout;
            dout = din, din = tmp;
        }
    }
}

void policy_log_softmax(float *logp, const float *logits, int n)
{
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    for (int i = 0; i < n; i++) logp[i] = logits[i] - lse;
}

float policy_entropy(const float *logp, int n)
{
    float h = 0.0f;
    for (int i = 0; i < n; i++) h -= expf(logp[i]) * logp[i];
    return h;
}

int policy_sample(const float *logp, int n, rng *r)
{
    float u = rng_uniform(r), acc = 0.0f;
    for (int i = 0; i < n - 1; i++) {
        acc += expf(logp[i]);
        if (u < acc) return i;
    }
    return n - 1;
}

int policy_greedy(const policy *p, policy_work *w, const void *obs)
{
    float *logits, *values;
    policy_forward(p, w, obs, 1, &logits, &values);
    int best = 0;
    for (int i = 1; i < p->cfg.spec.n_actions; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void policy_act(const policy *p, policy_work *w, const void *obs, rng *r, int *action,
                float *logprob, float *value)
{
    float *logits, *values, logp[256];
    int n = p->cfg.spec.n_actions;
    policy_forward(p, w, obs, 1, &logits, &values);
    float *lp = n <= 256 ? logp : logits; /* in place when the stack array is too small */
    policy_log_softmax(lp, logits, n);
    *action = policy_sample(lp, n, r);
    *logprob = lp[*action];
    *value = values[0];
}

float policy_value(const policy *p, policy_work *w, const void *obs)
{
    float *values;
    policy_forward(p, w, obs, 1, NULL, &values);
    return values[0];
}
