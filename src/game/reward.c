/* Binding a spec's variables to one emulator's memory, and the per-step reward and done
 * computed from them. A step reads only the variables some term uses, through pointers
 * resolved once at bind time; the explore term is the only one that hashes.
 *
 * Pointer variables: the pointer's own 4 bytes resolve at bind time; its target moves with the
 * game, so each read loads the pointer and, only when its value differs from the last one seen,
 * asks the resolver again (kept in the binding for that). A target that does not resolve (a NULL
 * pointer, an address outside the core's RAM) reads as 0 until the pointer changes.
 *
 * A variable with a key ("xor") reads the key variable at each of its own reads, so a key
 * that changes or moves is followed like any value. */
#include <stdlib.h>
#include <string.h>

#include "vars.h"

typedef struct pointer_cache {
    const uint8_t *src; /* host address of the pointer's 4 bytes */
    uint32_t value;     /* the pointer value ptr[] was resolved for */
    bool known;         /* value (and ptr[]) are valid */
} pointer_cache;

struct game_binding {
    const game_vars *gv;
    game_resolve_fn resolve; /* kept for pointer variables, whose targets resolve at step time */
    void *ctx;
    const uint8_t **ptr; /* per variable, host address of its first byte (NULL: reads 0) */
    pointer_cache *pc;   /* per variable; used by pointer variables only */
    int64_t *cur, *prev; /* per variable: values at this step and the previous one */
    int *live;           /* variables some reward / done / explore term reads */
    int n_live;
    /* Tuples the explore term has seen this episode: open addressing, linear probing, 64-bit
     * hashes of the tuple, 0 marks an empty slot. Grows (doubling) past 3/4 full. */
    uint64_t *seen;
    size_t seen_cap, seen_count;
};

/* The bytes at p decoded (or counted), before any XOR and mask. */
static int64_t read_raw(const game_var *v, const uint8_t *p)
{
    if (!p) return 0; /* a pointer variable whose target does not resolve */
    if (v->bits) {
        int64_t n = 0;
        for (uint32_t i = 0; i < v->length; i++) n += __builtin_popcount(p[i]);
        return n;
    }
    return game_decode(&v->type, p);
}

/* The host address of a pointer variable's target for pointer value `value`, or NULL. A failed
 * resolve builds an error that is dropped at once: that happens only when the pointer changes. */
static const uint8_t *resolve_target(const game_binding *b, const game_var *v, uint32_t value)
{
    uint64_t address = (uint64_t)value + v->offset;
    if (!value || address + v->length > (uint64_t)UINT32_MAX + 1) return NULL;
    uint8_t *p = NULL;
    gb_error *err = b->resolve(b->ctx, (uint32_t)address, v->length, &p);
    if (err) {
        gb_error_free(err);
        return NULL;
    }
    return p;
}

/* The host address variable i reads now: fixed, or for a pointer variable its target for the
 * pointer's current value (re-resolved only when that value changed). */
static const uint8_t *var_ptr(game_binding *b, int i)
{
    const game_var *v = &b->gv->vars[i];
    if (!v->pointer) return b->ptr[i];
    pointer_cache *c = &b->pc[i];
    const uint8_t *s = c->src;
    uint32_t value =
        (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
    if (!c->known || value != c->value) {
        c->value = value;
        c->known = true;
        b->ptr[i] = resolve_target(b, v, value);
    }
    return b->ptr[i];
}

/* Variable i's value now: decoded, XOR its key's value (read now too; a key has no key of its
 * own, so this recurses once at most), then masked: stable-retro masks the decoded value, not
 * the raw bytes. */
static int64_t var_value(game_binding *b, int i)
{
    const game_var *v = &b->gv->vars[i];
    int64_t x = read_raw(v, var_ptr(b, i));
    if (v->xor_var >= 0) x ^= var_value(b, v->xor_var);
    return (int64_t)((uint64_t)x & v->mask);
}

static void mark_node(const game_done_node *node, bool *used)
{
    for (int i = 0; i < node->n_terms; i++) used[node->terms[i].var] = true;
    for (int i = 0; i < node->n_nodes; i++) mark_node(&node->nodes[i], used);
}

gb_error *game_bind(game_binding **out, const game_spec *spec, game_resolve_fn resolve, void *ctx)
{
    *out = NULL;
    const game_vars *gv = spec->vars;
    int n = gv->n_vars;
    game_binding *b = calloc(1, sizeof *b);
    bool *used = calloc((size_t)n + 1, sizeof *used);
    if (b) {
        b->gv = gv;
        b->resolve = resolve;
        b->ctx = ctx;
        b->ptr = calloc((size_t)n + 1, sizeof *b->ptr);
        b->pc = calloc((size_t)n + 1, sizeof *b->pc);
        b->cur = calloc((size_t)n + 1, sizeof *b->cur);
        b->prev = calloc((size_t)n + 1, sizeof *b->prev);
        b->live = calloc((size_t)n + 1, sizeof *b->live);
        if (gv->n_explore_vars) {
            b->seen_cap = 1024;
            b->seen = calloc(b->seen_cap, sizeof *b->seen);
        }
    }
    if (!b || !used || !b->ptr || !b->pc || !b->cur || !b->prev || !b->live ||
        (gv->n_explore_vars && !b->seen)) {
        free(used);
        game_unbind(b);
        return gb_errorf("%s: binding variables: out of memory", spec->dir);
    }

    for (int i = 0; i < n; i++) {
        const game_var *v = &gv->vars[i];
        uint8_t *p = NULL;
        /* a pointer variable: its pointer's 4 bytes here; the target at each read */
        uint32_t length = v->pointer ? 4 : v->length;
        gb_error *err = resolve(ctx, v->address, length, &p);
        if (!err && !p) err = gb_errorf("the resolver returned no memory");
        if (err) {
            free(used);
            game_unbind(b);
            return gb_error_wrap(err, "%s: info.%s: %s 0x%X (%u byte%s) is not mapped",
                                 gv->info_file, v->name, v->pointer ? "pointer" : "address",
                                 v->address, length, length == 1 ? "" : "s");
        }
        if (v->pointer)
            b->pc[i].src = p;
        else
            b->ptr[i] = p;
    }

    for (int i = 0; i < gv->n_reward_terms; i++) used[gv->reward_terms[i].var] = true;
    for (int i = 0; i < gv->n_explore_vars; i++) used[gv->explore_vars[i]] = true;
    if (gv->explore_unless >= 0) used[gv->explore_unless] = true;
    mark_node(&gv->done, used);
    for (int i = 0; i < n; i++)
        if (used[i]) b->live[b->n_live++] = i;
    free(used);
    game_episode_begin(b);
    *out = b;
    return NULL;
}

void game_unbind(game_binding *b)
{
    if (!b) return;
    free(b->ptr);
    free(b->pc);
    free(b->cur);
    free(b->prev);
    free(b->live);
    free(b->seen);
    free(b);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t tuple_key(const game_binding *b)
{
    const game_vars *gv = b->gv;
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < gv->n_explore_vars; i++)
        h = mix64(h ^ (uint64_t)b->cur[gv->explore_vars[i]]) + (uint64_t)i;
    h = mix64(h);
    return h ? h : 1;
}

static void seen_put(uint64_t *slots, size_t cap, uint64_t key)
{
    size_t i = key & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = key;
}

/* True when key was not in the set (and is now). When the table cannot grow, new tuples are
 * no longer recorded nor rewarded: a bonus lost, never a crash. */
static bool seen_insert(game_binding *b, uint64_t key)
{
    size_t mask = b->seen_cap - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
        if (b->seen[i] == key) return false;
        if (!b->seen[i]) break;
    }
    if ((b->seen_count + 1) * 4 > b->seen_cap * 3) {
        size_t cap = b->seen_cap * 2;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return false;
        for (size_t i = 0; i < b->seen_cap; i++)
            if (b->seen[i]) seen_put(slots, cap, b->seen[i]);
        free(b->seen);
        b->seen = slots;
        b->seen_cap = cap;
    }
    seen_put(b->seen, b->seen_cap, key);
    b->seen_count++;
    return true;
}

static void read_live(game_binding *b)
{
    for (int k = 0; k < b->n_live; k++) b->cur[b->live[k]] = var_value(b, b->live[k]);
}

static bool explore_allowed(const game_binding *b)
{
    return b->gv->explore_unless < 0 || b->cur[b->gv->explore_unless] == 0;
}

void game_episode_begin(game_binding *b)
{
    read_live(b);
    memcpy(b->prev, b->cur, (size_t)b->gv->n_vars * sizeof *b->cur);
    if (b->seen) {
        memset(b->seen, 0, b->seen_cap * sizeof *b->seen);
        b->seen_count = 0;
        if (explore_allowed(b)) seen_insert(b, tuple_key(b)); /* the start earns nothing */
    }
}

static int64_t measure(const game_binding *b, const game_term *t)
{
    int64_t value = 1; /* the time term: value and delta are 1 every step */
    if (t->var >= 0) {
        value = b->cur[t->var];
        if (t->delta) value = (int64_t)((uint64_t)value - (uint64_t)b->prev[t->var]);
    }
    return game_apply_op(t->op, t->reference, value);
}

/* stable-retro's RewardSpec::calculate: a positive measure times reward, a negative one times
 * penalty. */
static float term_reward(const game_binding *b, const game_term *t)
{
    float measured = (float)measure(b, t);
    if (measured > 0) return measured * t->reward;
    if (measured < 0) return measured * t->penalty;
    return 0.0f;
}

static bool node_done(const game_binding *b, const game_done_node *node)
{
    for (int i = 0; i < node->n_terms; i++) {
        bool d = measure(b, &node->terms[i]) > 0;
        if (d && !node->all) return true;
        if (!d && node->all) return false;
    }
    for (int i = 0; i < node->n_nodes; i++) {
        bool d = node_done(b, &node->nodes[i]);
        if (d && !node->all) return true;
        if (!d && node->all) return false;
    }
    return node->all;
}

float game_step(game_binding *b, bool *done)
{
    const game_vars *gv = b->gv;
    read_live(b);
    float reward = gv->has_time ? term_reward(b, &gv->time) : 0.0f;
    for (int i = 0; i < gv->n_reward_terms; i++) reward += term_reward(b, &gv->reward_terms[i]);
    if (b->seen && explore_allowed(b) && seen_insert(b, tuple_key(b))) reward += gv->explore_reward;
    *done = node_done(b, &gv->done);
    for (int k = 0; k < b->n_live; k++) b->prev[b->live[k]] = b->cur[b->live[k]];
    return reward;
}

int64_t game_value(const game_binding *b, int index)
{
    if (index < 0 || index >= b->gv->n_vars) return 0;
    /* a binding is never shared between threads; a pointer variable updates its cache */
    return var_value((game_binding *)b, index);
}

int64_t game_explored(const game_binding *b)
{
    return (int64_t)b->seen_count;
}

/* Layout: n_vars int64 previous values, then the explore table's capacity, count and slots
 * as they are (so probing finds the same slots after a restore). */
gb_error *game_binding_save(const game_binding *b, uint8_t **out, size_t *size)
{
    size_t n = (size_t)b->gv->n_vars, len = n * 8 + 16 + b->seen_cap * 8;
    uint8_t *p = malloc(len);
    if (!p) return gb_errorf("game binding: out of memory for a snapshot");
    uint64_t head[2] = {b->seen_cap, b->seen_count};
    memcpy(p, b->prev, n * 8);
    memcpy(p + n * 8, head, 16);
    if (b->seen_cap) memcpy(p + n * 8 + 16, b->seen, b->seen_cap * 8);
    *out = p;
    *size = len;
    return NULL;
}

gb_error *game_binding_restore(game_binding *b, const uint8_t *data, size_t size)
{
    size_t n = (size_t)b->gv->n_vars;
    uint64_t head[2];
    if (size < n * 8 + 16) return gb_errorf("game binding snapshot: too short (%zu bytes)", size);
    memcpy(head, data + n * 8, 16);
    if ((head[0] & (head[0] - 1)) || (head[0] && !b->seen) || size != n * 8 + 16 + head[0] * 8)
        return gb_errorf("game binding snapshot: does not fit this game's variables");
    if (head[0] != b->seen_cap) {
        uint64_t *seen = malloc(head[0] * 8);
        if (!seen) return gb_errorf("game binding snapshot: out of memory");
        free(b->seen);
        b->seen = seen;
        b->seen_cap = head[0];
    }
    memcpy(b->prev, data, n * 8);
    if (b->seen_cap) memcpy(b->seen, data + n * 8 + 16, b->seen_cap * 8);
    b->seen_count = head[1];
    return NULL;
}
